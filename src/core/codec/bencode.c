/* Strict bencode (BEP 3) parser and encoder.
 *
 * Parsing is iterative and runs in two passes over the input.  Pass one
 * validates everything (syntax, canonical form, key order, limits) and
 * records the number of children of every container in pre-order.  Pass
 * two allocates one arena of exactly the counted size and fills it: when a
 * container is opened its children get a contiguous block reserved right
 * away, so no pointer into the arena ever moves. */
#include "core/codec/bencode.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/mem.h"
#include "peerflow/peerflow.h"

#define PF_BEN_DEFAULT_DEPTH 32
#define PF_BEN_DEFAULT_NODES 1000000
#define PF_BEN_DEFAULT_LEN (64u << 20)

struct pf_ben_doc {
    const pf_mem *mem;
    pf_ben *nodes; /* nodes[0] is the root */
    size_t num_nodes;
};

typedef struct ben_frame {
    pf_ben *node;         /* pass two only */
    size_t start;         /* offset of the 'l' / 'd' */
    size_t n;             /* items so far (dict: keys + values) */
    size_t count_idx;     /* index into the counts array */
    const uint8_t *key;   /* previous dict key, for the order check */
    size_t key_len;
    int is_dict;
} ben_frame;

typedef struct ben_parser {
    const uint8_t *buf;
    size_t len; /* effective length (capped by max_len) */
    int capped; /* input was longer than max_len */
    size_t max_depth, max_nodes;
    ben_frame *stack;
    size_t stack_cap; /* frames allocated (<= max_depth) */
    size_t *counts; /* children per container, in pre-order */
    size_t num_counts, cap_counts;
    pf_ben *arena; /* pass two */
    size_t next;   /* next free arena slot */
    const pf_mem *mem;
} ben_parser;

static int ben_truncated(const ben_parser *p)
{
    return p->capped ? PF_ERR_LIMIT : PF_ERR_PARSE;
}

/* "i<int>e" at buf[*pos]; canonical only. */
static int ben_scan_int(const ben_parser *p, size_t *pos, int64_t *out)
{
    size_t i = *pos + 1;
    int neg = 0;
    if (i < p->len && p->buf[i] == '-') {
        neg = 1;
        i++;
    }
    size_t first = i;
    uint64_t mag = 0;
    const uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    while (i < p->len && p->buf[i] >= '0' && p->buf[i] <= '9') {
        unsigned d = (unsigned)(p->buf[i] - '0');
        if (mag > (lim - d) / 10) return PF_ERR_PARSE; /* overflow */
        mag = mag * 10 + d;
        i++;
    }
    if (i >= p->len) return ben_truncated(p);
    if (p->buf[i] != 'e' || i == first) return PF_ERR_PARSE;
    if (p->buf[first] == '0' && (i - first > 1 || neg)) return PF_ERR_PARSE;
    if (neg)
        *out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
    else
        *out = (int64_t)mag;
    *pos = i + 1;
    return 0;
}

/* "<len>:<bytes>" at buf[*pos]; canonical length only. */
static int ben_scan_str(const ben_parser *p, size_t *pos, const uint8_t **s,
                        size_t *slen)
{
    size_t i = *pos, first = i, v = 0;
    while (i < p->len && p->buf[i] >= '0' && p->buf[i] <= '9') {
        size_t d = (size_t)(p->buf[i] - '0');
        if (d > p->len || v > (p->len - d) / 10)
            return ben_truncated(p); /* cannot fit */
        v = v * 10 + d;
        i++;
    }
    if (i >= p->len) return ben_truncated(p);
    if (p->buf[i] != ':' || i == first) return PF_ERR_PARSE;
    if (p->buf[first] == '0' && i - first > 1) return PF_ERR_PARSE;
    i++;
    if (v > p->len - i) return ben_truncated(p);
    *s = p->buf + i;
    *slen = v;
    *pos = i + v;
    return 0;
}

/* Strict key order: memcmp on the common prefix, then shorter first. */
static int ben_key_cmp(const uint8_t *a, size_t alen, const uint8_t *b,
                       size_t blen)
{
    size_t m = alen < blen ? alen : blen;
    int c = m ? memcmp(a, b, m) : 0;
    if (c) return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static int ben_push_count(ben_parser *p, size_t *idx)
{
    if (p->num_counts == p->cap_counts) {
        size_t cap = p->cap_counts ? p->cap_counts * 2 : 16;
        size_t *c = pf__realloc(p->mem, p->counts, cap * sizeof *c);
        if (!c) return PF_ERR_NOMEM;
        p->counts = c;
        p->cap_counts = cap;
    }
    *idx = p->num_counts;
    p->counts[p->num_counts++] = 0;
    return 0;
}

/* One pass over the input; fill = 0 validates and counts, fill = 1 builds
 * the arena.  Returns the end offset of the value in *end. */
static int ben_pass(ben_parser *p, int fill, size_t *end, size_t *nodes_out)
{
    size_t pos = 0, sp = 0, nodes = 0, ci = 0;
    int rc;
    for (;;) {
        if (pos >= p->len) return ben_truncated(p);
        uint8_t c = p->buf[pos];
        ben_frame *top = sp ? &p->stack[sp - 1] : NULL;
        int want_key = top && top->is_dict && (top->n % 2) == 0;
        if (top && c == 'e') {
            if (!want_key && top->is_dict) return PF_ERR_PARSE;
            pos++;
            if (fill) {
                top->node->raw_len = pos - top->start;
            } else {
                p->counts[top->count_idx] = top->n;
            }
            sp--;
            if (sp == 0) break;
            p->stack[sp - 1].n++;
            continue;
        }
        if (want_key && (c < '0' || c > '9')) return PF_ERR_PARSE;
        if (++nodes > p->max_nodes) return PF_ERR_LIMIT;
        pf_ben *node = NULL;
        if (fill) {
            node = top ? &top->node->v.c.items[top->n] : &p->arena[0];
            node->raw = p->buf + pos;
        }
        size_t start = pos;
        if (c == 'i') {
            int64_t v;
            if ((rc = ben_scan_int(p, &pos, &v)) != 0) return rc;
            if (fill) {
                node->type = PF_BEN_INT;
                node->v.i = v;
            }
        } else if (c >= '0' && c <= '9') {
            const uint8_t *s;
            size_t slen;
            if ((rc = ben_scan_str(p, &pos, &s, &slen)) != 0) return rc;
            if (want_key) {
                if (top->key && ben_key_cmp(top->key, top->key_len, s, slen) >= 0)
                    return PF_ERR_PARSE;
                top->key = s;
                top->key_len = slen;
            }
            if (fill) {
                node->type = PF_BEN_STR;
                node->v.s.p = s;
                node->v.s.len = slen;
            }
        } else if (c == 'l' || c == 'd') {
            if (sp >= p->max_depth) return PF_ERR_LIMIT;
            if (sp >= p->stack_cap) return PF_ERR_PARSE; /* cannot close */
            ben_frame *f = &p->stack[sp++];
            memset(f, 0, sizeof *f);
            f->start = pos;
            f->is_dict = c == 'd';
            if (fill) {
                size_t n = p->counts[ci++];
                node->type = f->is_dict ? PF_BEN_DICT : PF_BEN_LIST;
                node->v.c.items = n ? &p->arena[p->next] : NULL;
                node->v.c.n = f->is_dict ? n / 2 : n;
                p->next += n;
                f->node = node;
            } else if ((rc = ben_push_count(p, &f->count_idx)) != 0) {
                return rc;
            }
            pos++;
            continue;
        } else {
            return PF_ERR_PARSE;
        }
        if (fill) node->raw_len = pos - start;
        if (!top) break;
        top->n++;
    }
    *end = pos;
    *nodes_out = nodes;
    return 0;
}

int pf_bencode_parse(const uint8_t *buf, size_t len, int allow_trailing,
                     const pf_ben_limits *limits, pf_ben_doc **out,
                     size_t *consumed)
{
    if (!out) return PF_ERR_INVAL;
    *out = NULL;
    if (!buf && len) return PF_ERR_INVAL;
    ben_parser p;
    memset(&p, 0, sizeof p);
    size_t max_len = PF_BEN_DEFAULT_LEN;
    p.max_depth = PF_BEN_DEFAULT_DEPTH;
    p.max_nodes = PF_BEN_DEFAULT_NODES;
    if (limits) {
        if (limits->max_depth) p.max_depth = limits->max_depth;
        if (limits->max_nodes) p.max_nodes = limits->max_nodes;
        if (limits->max_len) max_len = limits->max_len;
        p.mem = limits->mem;
    }
    if (len > max_len) {
        if (!allow_trailing) return PF_ERR_LIMIT;
        len = max_len;
        p.capped = 1;
    }
    p.buf = buf;
    p.len = len;
    /* A container needs at least two bytes, so depth is bounded by len/2. */
    size_t depth = p.max_depth < len / 2 + 1 ? p.max_depth : len / 2 + 1;
    p.stack = pf__malloc(p.mem, depth * sizeof *p.stack);
    if (!p.stack) return PF_ERR_NOMEM;
    p.stack_cap = depth;

    size_t end = 0, nodes = 0;
    int rc = ben_pass(&p, 0, &end, &nodes);
    if (rc == 0 && !allow_trailing && end != len) rc = PF_ERR_PARSE;
    pf_ben_doc *doc = NULL;
    if (rc == 0) {
        doc = pf__calloc(p.mem, 1, sizeof *doc);
        p.arena = pf__calloc(p.mem, nodes, sizeof *p.arena);
        if (!doc || !p.arena) rc = PF_ERR_NOMEM;
    }
    if (rc == 0) {
        p.next = 1;
        size_t end2 = 0, nodes2 = 0;
        rc = ben_pass(&p, 1, &end2, &nodes2);
        if (rc == 0 && (end2 != end || nodes2 != nodes || p.next != nodes))
            rc = PF_ERR_PARSE; /* cannot happen: both passes agree */
    }
    pf__free(p.mem, p.stack);
    pf__free(p.mem, p.counts);
    if (rc != 0) {
        pf__free(p.mem, p.arena);
        pf__free(p.mem, doc);
        return rc;
    }
    doc->mem = p.mem;
    doc->nodes = p.arena;
    doc->num_nodes = nodes;
    *out = doc;
    if (consumed) *consumed = end;
    return 0;
}

const pf_ben *pf_ben_doc_root(const pf_ben_doc *doc)
{
    return doc ? &doc->nodes[0] : NULL;
}

void pf_ben_doc_free(pf_ben_doc *doc)
{
    if (!doc) return;
    pf__free(doc->mem, doc->nodes);
    pf__free(doc->mem, doc);
}

const pf_ben *pf_ben_dict_get(const pf_ben *dict, const char *key)
{
    if (!dict || dict->type != PF_BEN_DICT || !key) return NULL;
    size_t klen = strlen(key), lo = 0, hi = dict->v.c.n;
    /* Keys are strictly sorted (the parser enforces it). */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const pf_ben *k = &dict->v.c.items[2 * mid];
        int c = ben_key_cmp(k->v.s.p, k->v.s.len, (const uint8_t *)key, klen);
        if (c == 0) return &dict->v.c.items[2 * mid + 1];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const pf_ben *pf_ben_dict_get_type(const pf_ben *dict, const char *key,
                                   pf_ben_type type)
{
    const pf_ben *v = pf_ben_dict_get(dict, key);
    return v && v->type == type ? v : NULL;
}

int pf_ben_str_eq(const pf_ben *s, const char *lit)
{
    if (!s || s->type != PF_BEN_STR || !lit) return 0;
    size_t n = strlen(lit);
    return s->v.s.len == n && (n == 0 || memcmp(s->v.s.p, lit, n) == 0);
}

char *pf_ben_strdup(const pf_ben *s, const pf_mem *mem)
{
    if (!s || s->type != PF_BEN_STR) return NULL;
    if (s->v.s.len && memchr(s->v.s.p, 0, s->v.s.len)) return NULL;
    char *r = pf__malloc(mem, s->v.s.len + 1);
    if (!r) return NULL;
    if (s->v.s.len) memcpy(r, s->v.s.p, s->v.s.len);
    r[s->v.s.len] = 0;
    return r;
}

int pf_benc_int(pf_buf *b, int64_t v)
{
    char t[32];
    int n = snprintf(t, sizeof t, "i%" PRId64 "e", v);
    return pf_buf_append(b, t, (size_t)n);
}

int pf_benc_str(pf_buf *b, const void *p, size_t n)
{
    char t[32];
    int k = snprintf(t, sizeof t, "%zu:", n);
    int rc = pf_buf_reserve(b, (size_t)k + n);
    if (rc) return rc;
    pf_buf_append(b, t, (size_t)k);
    return pf_buf_append(b, p, n);
}

int pf_benc_cstr(pf_buf *b, const char *s) { return pf_benc_str(b, s, strlen(s)); }

int pf_benc_list_begin(pf_buf *b) { return pf_buf_append_u8(b, 'l'); }

int pf_benc_dict_begin(pf_buf *b) { return pf_buf_append_u8(b, 'd'); }

int pf_benc_end(pf_buf *b) { return pf_buf_append_u8(b, 'e'); }
