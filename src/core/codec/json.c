/* A bounded, strict JSON (RFC 8259) reader (core/codec/json.h).
 *
 * Two passes over the input, one code path: pass one checks everything
 * and counts (the children of every container, in pre-order; the nodes;
 * the decoded string bytes), pass two allocates one block of exactly that
 * size and fills it, a container's children in one contiguous run reserved
 * when it opens, so that nothing moves and no pointer needs fixing.  Only
 * the duplicate-key check waits for pass two, which has the decoded keys. */
#include "core/codec/json.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/mem.h"

#define MAX_LEN_CAP (1u << 31) /* string lengths and counts fit uint32_t */
#define SMALL_OBJECT 8         /* members compared pairwise below this */

struct pf_json {
    uint8_t kind; /* pf_json_kind */
    uint8_t huge; /* a number past a double's range */
    uint32_t n;   /* string: bytes; array: elements; object: members */
    union {
        double num;
        const char *s;
        const pf_json *kids; /* array: n; object: 2n (key, value) */
    } v;
};

struct pf_json_doc {
    const pf_mem *mem;
    size_t nnodes;
    pf_json nodes[]; /* nodes[0] is the root; the strings follow */
};

typedef struct jframe {
    pf_json *node;    /* pass two */
    size_t i;         /* children done (object: members) */
    size_t count_idx; /* pass one: its entry in counts */
    size_t start;     /* offset of its '[' or '{' */
    int obj;
} jframe;

typedef struct jkey {
    const char *s;
    uint32_t n;
} jkey;

typedef struct jparser {
    const char *s;
    size_t n, pos;
    int fill; /* pass two */
    size_t max_depth, max_nodes;
    jframe *stack;
    size_t depth, stack_cap;
    uint32_t *counts; /* children per container, pre-order */
    size_t ncounts, cap_counts, ci;
    size_t nodes;     /* counted so far */
    size_t str_bytes; /* decoded string bytes + their NULs */
    pf_json *arena;   /* pass two */
    size_t next;
    char *text; /* pass two: where the next string goes */
    jkey *keys; /* duplicate check scratch */
    size_t cap_keys;
    const pf_mem *mem;
    size_t err_pos;
    int err_has_pos;
    char err[160];
} jparser;

static int fail(jparser *p, size_t pos, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(jparser *p, size_t pos, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof p->err, fmt, ap);
    va_end(ap);
    p->err_pos = pos;
    p->err_has_pos = 1;
    return rc;
}

int pf__json_quote(const char *s, size_t n, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t w = 0, max = 40;
    if (cap == 0) return 0;
    for (size_t i = 0; i < n && w + 8 < cap; i++) {
        if (i == max) {
            memcpy(out + w, "...", 3);
            w += 3;
            break;
        }
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[w++] = '\\';
            out[w++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            out[w++] = '\\';
            out[w++] = 'x';
            out[w++] = hex[c >> 4];
            out[w++] = hex[c & 15];
        } else {
            out[w++] = (char)c;
        }
    }
    out[w] = 0;
    return (int)w;
}

/* Lexing --------------------------------------------------------------------- */
static void ws(jparser *p)
{
    while (p->pos < p->n) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* The length of the valid UTF-8 sequence at s[0, n) (RFC 3629), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t len;
    if (c < 0x80) return 1;
    if (c < 0xC2) return 0;
    if (c < 0xE0) {
        len = 2;
    } else if (c < 0xF0) {
        len = 3;
        if (c == 0xE0) lo = 0xA0; /* overlong */
        if (c == 0xED) hi = 0x9F; /* surrogates */
    } else if (c < 0xF5) {
        len = 4;
        if (c == 0xF0) lo = 0x90; /* overlong */
        if (c == 0xF4) hi = 0x8F; /* past U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

static long hex4(const char *s, size_t avail)
{
    long v = 0;
    if (avail < 4) return -1;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

static size_t utf8_put(char *w, unsigned long cp)
{
    if (cp < 0x80) {
        w[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        w[0] = (char)(0xC0 | (cp >> 6));
        w[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        w[0] = (char)(0xE0 | (cp >> 12));
        w[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        w[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    w[0] = (char)(0xF0 | (cp >> 18));
    w[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    w[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    w[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A \u escape at s[i] ('\\'), a surrogate pair taking two; the code point
 * into *cp and the escape's length, or a negative pf_err. */
static int unicode_escape(jparser *p, size_t i, unsigned long *cp)
{
    long hi = hex4(p->s + i + 2, p->n - i - 2);
    if (hi < 0) return fail(p, i, PF_ERR_PARSE, "bad \\u escape (4 hex digits)");
    if (hi >= 0xDC00 && hi <= 0xDFFF)
        return fail(p, i, PF_ERR_PARSE, "lone surrogate \\u%04lX (a low surrogate with no high one before it)", hi);
    if (hi < 0xD800 || hi > 0xDBFF) {
        *cp = (unsigned long)hi;
        return 6;
    }
    long lo = p->n - i >= 12 && p->s[i + 6] == '\\' && p->s[i + 7] == 'u' ? hex4(p->s + i + 8, p->n - i - 8) : -1;
    if (lo < 0xDC00 || lo > 0xDFFF)
        return fail(p, i, PF_ERR_PARSE, "lone surrogate \\u%04lX (a high surrogate not followed by a low one)", hi);
    *cp = 0x10000 + (((unsigned long)hi - 0xD800) << 10) + ((unsigned long)lo - 0xDC00);
    return 12;
}

/* The string at s[pos] ('"'), into slot (pass two). */
static int string(jparser *p, pf_json *slot)
{
    const unsigned char *s = (const unsigned char *)p->s;
    size_t i = p->pos + 1, len = 0;
    char *w = p->fill ? p->text : NULL;
    for (;;) {
        if (i >= p->n) return fail(p, p->pos, PF_ERR_PARSE, "unterminated string");
        unsigned char c = s[i];
        if (c == '"') break;
        if (c < 0x20) return fail(p, i, PF_ERR_PARSE, "control character 0x%02x in a string (must be escaped)", c);
        if (c == '\\') {
            char e = i + 1 < p->n ? (char)s[i + 1] : 0;
            const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t", *k = e ? strchr(from, e) : NULL;
            if (k) {
                if (w) w[len] = to[k - from];
                len++;
                i += 2;
                continue;
            }
            if (e != 'u') {
                if (i + 1 >= p->n) return fail(p, p->pos, PF_ERR_PARSE, "unterminated string");
                return fail(p, i, PF_ERR_PARSE, "bad escape '\\%c'", e >= 0x20 && e < 0x7f ? e : '?');
            }
            unsigned long cp = 0;
            int el = unicode_escape(p, i, &cp);
            if (el < 0) return el;
            char tmp[4];
            size_t ul = utf8_put(w ? w + len : tmp, cp);
            len += ul;
            i += (size_t)el;
            continue;
        }
        size_t k = utf8_seq(s + i, p->n - i);
        if (k == 0) return fail(p, i, PF_ERR_PARSE, "invalid UTF-8 in a string");
        if (w) memcpy(w + len, s + i, k);
        len += k;
        i += k;
    }
    p->pos = i + 1;
    if (w) {
        w[len] = 0;
        slot->kind = PF_JSON_STRING;
        slot->n = (uint32_t)len;
        slot->v.s = w;
        p->text += len + 1;
    } else {
        p->str_bytes += len + 1;
    }
    return 0;
}

/* strtod in whatever numeric locale the program set: the lexeme's '.'
 * becomes the locale's decimal point. */
static double to_double(const char *lex, size_t n, int *huge)
{
    char buf[PF_JSON_NUM_MAX + 8];
    const char *dp = localeconv()->decimal_point;
    size_t dpl = dp ? strlen(dp) : 0, w = 0;
    for (size_t i = 0; i < n; i++) {
        if (lex[i] == '.' && dpl >= 1 && dpl <= 4) {
            memcpy(buf + w, dp, dpl);
            w += dpl;
        } else {
            buf[w++] = lex[i];
        }
    }
    buf[w] = 0;
    double v = strtod(buf, NULL);
    *huge = isinf(v) ? 1 : 0;
    return v;
}

static int number(jparser *p, pf_json *slot)
{
    const char *s = p->s;
    size_t start = p->pos, i = start, n = p->n;
    if (s[i] == '-') i++;
    if (i >= n || !is_digit(s[i])) return fail(p, i, PF_ERR_PARSE, "bad number (a digit expected)");
    if (s[i] == '0') {
        i++;
        if (i < n && is_digit(s[i])) return fail(p, start, PF_ERR_PARSE, "bad number (leading zero)");
    } else {
        while (i < n && is_digit(s[i])) i++;
    }
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || !is_digit(s[i])) return fail(p, i, PF_ERR_PARSE, "bad number (a digit expected after '.')");
        while (i < n && is_digit(s[i])) i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= n || !is_digit(s[i])) return fail(p, i, PF_ERR_PARSE, "bad number (a digit expected in the exponent)");
        while (i < n && is_digit(s[i])) i++;
    }
    if (i - start > PF_JSON_NUM_MAX)
        return fail(p, start, PF_ERR_LIMIT, "number longer than %d characters", PF_JSON_NUM_MAX);
    p->pos = i;
    if (slot) {
        int huge;
        slot->kind = PF_JSON_NUMBER;
        slot->v.num = to_double(s + start, i - start, &huge);
        slot->huge = (uint8_t)huge;
    }
    return 0;
}

/* Structure ------------------------------------------------------------------ */
static int count_node(jparser *p)
{
    if (p->fill) return 0;
    if (++p->nodes > p->max_nodes) return fail(p, p->pos, PF_ERR_LIMIT, "more than %zu values and keys", p->max_nodes);
    return 0;
}

static int push(jparser *p, pf_json *slot, int obj)
{
    if (p->depth == p->max_depth) return fail(p, p->pos, PF_ERR_LIMIT, "nested deeper than %zu", p->max_depth);
    if (p->depth == p->stack_cap) {
        size_t cap = p->stack_cap ? p->stack_cap * 2 : 16;
        if (cap > p->max_depth) cap = p->max_depth;
        jframe *st = pf__realloc(p->mem, p->stack, cap * sizeof *st);
        if (!st) return PF_ERR_NOMEM;
        p->stack = st;
        p->stack_cap = cap;
    }
    jframe *f = &p->stack[p->depth++];
    memset(f, 0, sizeof *f);
    f->obj = obj;
    f->start = p->pos;
    f->node = slot;
    if (p->fill) {
        uint32_t count = p->counts[p->ci++];
        slot->kind = obj ? PF_JSON_OBJECT : PF_JSON_ARRAY;
        slot->n = count;
        slot->v.kids = p->arena + p->next;
        p->next += obj ? 2 * (size_t)count : count;
    } else {
        if (p->ncounts == p->cap_counts) {
            size_t cap = p->cap_counts ? p->cap_counts * 2 : 64;
            uint32_t *c = pf__realloc(p->mem, p->counts, cap * sizeof *c);
            if (!c) return PF_ERR_NOMEM;
            p->counts = c;
            p->cap_counts = cap;
        }
        f->count_idx = p->ncounts++;
    }
    p->pos++;
    return 0;
}

/* One value at pos into slot: a scalar whole, or a container opened (1). */
static int value(jparser *p, pf_json *slot)
{
    ws(p);
    if (p->pos >= p->n) return fail(p, p->pos, PF_ERR_PARSE, "unexpected end of input (a value expected)");
    int rc = count_node(p);
    if (rc) return rc;
    char c = p->s[p->pos];
    static const struct {
        const char *word;
        pf_json_kind kind;
    } words[] = {{"true", PF_JSON_TRUE}, {"false", PF_JSON_FALSE}, {"null", PF_JSON_NULL}};
    switch (c) {
    case '{':
    case '[':
        rc = push(p, slot, c == '{');
        return rc ? rc : 1;
    case '"':
        return string(p, slot);
    case 't':
    case 'f':
    case 'n':
        for (size_t k = 0; k < 3; k++) {
            size_t wl = strlen(words[k].word);
            if (words[k].word[0] != c) continue;
            if (p->n - p->pos < wl || memcmp(p->s + p->pos, words[k].word, wl) != 0) break;
            p->pos += wl;
            if (slot) slot->kind = (uint8_t)words[k].kind;
            return 0;
        }
        break;
    default:
        if (c == '-' || is_digit(c)) return number(p, slot);
    }
    if (c >= 0x20 && c < 0x7f) return fail(p, p->pos, PF_ERR_PARSE, "unexpected '%c' (a value expected)", c);
    return fail(p, p->pos, PF_ERR_PARSE, "unexpected byte 0x%02x (a value expected)", (unsigned char)c);
}

/* A member's key and ':' in object frame f; *slot becomes its value's. */
static int member_key(jparser *p, jframe *f, pf_json **slot)
{
    ws(p);
    if (p->pos >= p->n || p->s[p->pos] != '"') {
        if (p->pos >= p->n) return fail(p, p->pos, PF_ERR_PARSE, "unexpected end of input (a string key expected)");
        return fail(p, p->pos, PF_ERR_PARSE, "a string key expected");
    }
    int rc = count_node(p);
    pf_json *kids = p->fill ? (pf_json *)f->node->v.kids + 2 * f->i : NULL;
    if (!rc) rc = string(p, kids);
    if (rc) return rc;
    ws(p);
    if (p->pos >= p->n || p->s[p->pos] != ':') return fail(p, p->pos, PF_ERR_PARSE, "':' expected after an object key");
    p->pos++;
    *slot = kids ? kids + 1 : NULL;
    return 0;
}

static int key_cmp(const void *a, const void *b)
{
    const jkey *x = a, *y = b;
    int c = memcmp(x->s, y->s, x->n < y->n ? x->n : y->n);
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* Pass two: no key twice in the object f. */
static int unique_keys(jparser *p, const jframe *f)
{
    const pf_json *kids = f->node->v.kids;
    size_t m = f->node->n;
    const jkey *dup = NULL;
    jkey pair[2];
    if (m <= SMALL_OBJECT) {
        for (size_t a = 0; a < m && !dup; a++)
            for (size_t b = a + 1; b < m && !dup; b++)
                if (kids[2 * a].n == kids[2 * b].n && memcmp(kids[2 * a].v.s, kids[2 * b].v.s, kids[2 * a].n) == 0) {
                    pair[0].s = kids[2 * a].v.s;
                    pair[0].n = kids[2 * a].n;
                    dup = pair;
                }
    } else {
        if (m > p->cap_keys) {
            jkey *k = pf__realloc(p->mem, p->keys, m * sizeof *k);
            if (!k) return PF_ERR_NOMEM;
            p->keys = k;
            p->cap_keys = m;
        }
        for (size_t a = 0; a < m; a++) {
            p->keys[a].s = kids[2 * a].v.s;
            p->keys[a].n = kids[2 * a].n;
        }
        qsort(p->keys, m, sizeof *p->keys, key_cmp);
        for (size_t a = 1; a < m && !dup; a++)
            if (key_cmp(&p->keys[a - 1], &p->keys[a]) == 0) dup = &p->keys[a];
    }
    if (!dup) return 0;
    char q[200];
    pf__json_quote(dup->s, dup->n, q, sizeof q);
    return fail(p, f->start, PF_ERR_PARSE, "duplicate key \"%s\" in the object starting here", q);
}

static int close_frame(jparser *p)
{
    jframe *f = &p->stack[p->depth - 1];
    if (p->fill) {
        if (f->obj && f->i > 1) {
            int rc = unique_keys(p, f);
            if (rc) return rc;
        }
    } else {
        p->counts[f->count_idx] = (uint32_t)f->i;
    }
    p->depth--;
    return 0;
}

/* After a value: ',' and closing brackets, until the next value's slot
 * (0) or the end of the text (1). */
static int after_value(jparser *p, pf_json **slot)
{
    for (;;) {
        ws(p);
        if (p->depth == 0) {
            if (p->pos != p->n) return fail(p, p->pos, PF_ERR_PARSE, "trailing characters after the JSON text");
            return 1;
        }
        jframe *f = &p->stack[p->depth - 1];
        char close = f->obj ? '}' : ']';
        if (p->pos >= p->n)
            return fail(p, p->pos, PF_ERR_PARSE, "unexpected end of input (',' or '%c' expected)", close);
        char c = p->s[p->pos];
        if (c == close) {
            p->pos++;
            f->i++;
            int rc = close_frame(p);
            if (rc) return rc;
            continue;
        }
        if (c != ',') {
            if (f->obj) return fail(p, p->pos, PF_ERR_PARSE, "',' or '}' expected after an object member");
            return fail(p, p->pos, PF_ERR_PARSE, "',' or ']' expected after an array element");
        }
        p->pos++;
        f->i++;
        if (f->obj) return member_key(p, f, slot);
        *slot = p->fill ? (pf_json *)f->node->v.kids + f->i : NULL;
        return 0;
    }
}

static int run(jparser *p)
{
    p->pos = 0;
    p->depth = 0;
    pf_json *slot = p->fill ? &p->arena[p->next++] : NULL;
    for (;;) {
        int rc = value(p, slot);
        if (rc < 0) return rc;
        if (rc == 1) { /* a container opened */
            jframe *f = &p->stack[p->depth - 1];
            ws(p);
            if (p->pos < p->n && p->s[p->pos] == (f->obj ? '}' : ']')) {
                p->pos++;
                rc = close_frame(p);
            } else if (f->obj) {
                rc = member_key(p, f, &slot);
                if (rc) return rc;
                continue;
            } else {
                slot = p->fill ? (pf_json *)f->node->v.kids : NULL;
                continue;
            }
            if (rc) return rc;
        }
        rc = after_value(p, &slot);
        if (rc < 0) return rc;
        if (rc == 1) return 0;
    }
}

static void explain(const jparser *p, int rc, char *why, size_t whylen)
{
    if (!why || !whylen) return;
    if (rc == PF_ERR_NOMEM) {
        snprintf(why, whylen, "out of memory");
        return;
    }
    if (!p->err_has_pos) {
        snprintf(why, whylen, "%s", p->err);
        return;
    }
    size_t line = 1, col = 1;
    for (size_t i = 0; i < p->err_pos && i < p->n; i++) {
        if (p->s[i] == '\n') line++, col = 1;
        else col++;
    }
    snprintf(why, whylen, "line %zu, column %zu: %s", line, col, p->err);
}

int pf_json_parse(const char *s, size_t n, const pf_json_limits *lim, pf_json_doc **out, char *why, size_t whylen)
{
    jparser p;
    memset(&p, 0, sizeof p);
    *out = NULL;
    if (why && whylen) why[0] = 0;
    size_t max_len = lim && lim->max_len ? lim->max_len : PF_JSON_DEFAULT_LEN;
    if (max_len > MAX_LEN_CAP) max_len = MAX_LEN_CAP;
    p.max_depth = lim && lim->max_depth ? lim->max_depth : PF_JSON_DEFAULT_DEPTH;
    p.max_nodes = lim && lim->max_nodes ? lim->max_nodes : PF_JSON_DEFAULT_NODES;
    p.mem = lim ? lim->mem : NULL;
    p.s = s;
    p.n = n;
    if (!s && n) return PF_ERR_INVAL;
    if (n > max_len) {
        if (why && whylen) snprintf(why, whylen, "input of %zu bytes is over the limit of %zu", n, max_len);
        return PF_ERR_LIMIT;
    }
    int rc = run(&p);
    pf_json_doc *doc = NULL;
    if (!rc) {
        doc = pf__malloc(p.mem, sizeof *doc + p.nodes * sizeof(pf_json) + p.str_bytes);
        if (!doc) rc = PF_ERR_NOMEM;
    }
    if (!rc) {
        memset(doc->nodes, 0, p.nodes * sizeof(pf_json));
        doc->mem = p.mem;
        doc->nnodes = p.nodes;
        p.fill = 1;
        p.arena = doc->nodes;
        p.text = (char *)(doc->nodes + p.nodes);
        rc = run(&p);
    }
    pf__free(p.mem, p.stack);
    pf__free(p.mem, p.counts);
    pf__free(p.mem, p.keys);
    if (rc) {
        pf__free(p.mem, doc);
        explain(&p, rc, why, whylen);
        return rc;
    }
    *out = doc;
    return 0;
}

void pf_json_free(pf_json_doc *doc)
{
    if (doc) pf__free(doc->mem, doc);
}

/* Access ---------------------------------------------------------------------- */
const pf_json *pf_json_root(const pf_json_doc *doc) { return doc ? &doc->nodes[0] : NULL; }

pf_json_kind pf_json_type(const pf_json *v) { return v ? (pf_json_kind)v->kind : PF_JSON_NONE; }

const char *pf_json_kind_name(pf_json_kind k)
{
    static const char *const names[] = {"nothing", "null",     "false",    "true",
                                        "a number", "a string", "an array", "an object"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "nothing";
}

size_t pf_json_len(const pf_json *v)
{
    return v && (v->kind == PF_JSON_ARRAY || v->kind == PF_JSON_OBJECT) ? v->n : 0;
}

const pf_json *pf_json_at(const pf_json *arr, size_t i)
{
    return arr && arr->kind == PF_JSON_ARRAY && i < arr->n ? &arr->v.kids[i] : NULL;
}

const char *pf_json_key(const pf_json *obj, size_t i, size_t *len)
{
    if (!obj || obj->kind != PF_JSON_OBJECT || i >= obj->n) {
        if (len) *len = 0;
        return NULL;
    }
    return pf_json_str(&obj->v.kids[2 * i], len);
}

const pf_json *pf_json_member(const pf_json *obj, size_t i)
{
    return obj && obj->kind == PF_JSON_OBJECT && i < obj->n ? &obj->v.kids[2 * i + 1] : NULL;
}

const pf_json *pf_json_get(const pf_json *obj, const char *key)
{
    if (!obj || obj->kind != PF_JSON_OBJECT || !key) return NULL;
    size_t kl = strlen(key);
    for (size_t i = 0; i < obj->n; i++) {
        const pf_json *k = &obj->v.kids[2 * i];
        if (k->n == kl && memcmp(k->v.s, key, kl) == 0) return k + 1;
    }
    return NULL;
}

const char *pf_json_str(const pf_json *v, size_t *len)
{
    if (!v || v->kind != PF_JSON_STRING) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = v->n;
    return v->v.s;
}

int pf_json_num(const pf_json *v, double *out)
{
    if (!v || v->kind != PF_JSON_NUMBER) return PF_ERR_INVAL;
    *out = v->v.num;
    return v->huge ? PF_ERR_RANGE : 0;
}
