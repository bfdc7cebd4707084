/* A small, bounded, strict XML reader for DASH MPDs (internal to
 * core/media): elements, attributes and the first run of text of each
 * element into a read-only tree.  Entities: the five named ones and
 * numeric character references; comments, processing instructions and
 * CDATA sections are skipped; a DOCTYPE is refused (no entity
 * definitions, no external anything).  Nesting is bounded by
 * PF_MF_MAX_DEPTH, elements by XML_MAX_NODES, attributes per element by
 * XML_MAX_ATTRS.  Iterative: the open elements are the tree's parent
 * links, never the C stack. */
#include "core/media/xml.h"

#include <stdio.h>
#include <string.h>

#include "core/media/manifest.h"
#include "core/util/mem.h"

#define XML_MAX_NODES 1000000u
#define XML_MAX_ATTRS 64u

typedef struct xml_parser {
    pf_xml *x;
    const char *s;
    size_t n, i;
    int32_t cur; /* the open element, -1 outside the root */
    size_t depth;
    char *err;
    size_t errlen;
} xml_parser;

size_t pf__xml_line(pf_xml *x, size_t off)
{
    if (off < x->line_off) { /* behind the last answer: count again from the start */
        x->line_off = 0;
        x->line_no = 1;
    }
    for (size_t i = x->line_off; i < off && i < x->n; i++)
        if (x->text[i] == '\n') x->line_no++;
    x->line_off = off < x->n ? off : x->n;
    return x->line_no;
}

static int xml_fail(xml_parser *p, int rc, const char *what)
{
    pf__mf_errf(p->err, p->errlen, "line %zu: %s", pf__xml_line(p->x, p->i), what);
    return rc;
}

static int is_name_start(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || c >= 0x80;
}

static int is_name_char(unsigned char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Room for k more bytes in the string pool. */
static int pool_room(xml_parser *p, size_t k)
{
    pf_xml *x = p->x;
    return x->pool_len + k <= x->pool_cap ? 0 : PF_ERR_LIMIT;
}

/* Appends a UTF-8 encoding of cp. */
static void put_utf8(pf_xml *x, uint32_t cp)
{
    char *o = x->pool + x->pool_len;
    if (cp < 0x80) {
        o[0] = (char)cp;
        x->pool_len += 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        x->pool_len += 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        x->pool_len += 3;
    } else {
        o[0] = (char)(0xF0 | (cp >> 18));
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[3] = (char)(0x80 | (cp & 0x3F));
        x->pool_len += 4;
    }
}

/* "&...;" at s[0, n): the character it stands for into the pool; *used
 * bytes of s. */
static int decode_entity(xml_parser *p, const char *s, size_t n, size_t *used)
{
    static const struct { const char *name; char c; } named[] = {
        {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
    const char *semi = memchr(s, ';', n < 12 ? n : 12);
    if (!semi) return xml_fail(p, PF_ERR_PARSE, "'&' without an entity");
    size_t l = (size_t)(semi - s) - 1; /* between '&' and ';' */
    *used = l + 2;
    if (pool_room(p, 4)) return xml_fail(p, PF_ERR_LIMIT, "text too large");
    if (l >= 2 && s[1] == '#') {
        uint32_t cp = 0;
        int hex = s[2] == 'x';
        size_t k = hex ? 3 : 2;
        if (k >= l + 1) return xml_fail(p, PF_ERR_PARSE, "empty character reference");
        for (; k < l + 1; k++) {
            char c = s[k];
            int v = c >= '0' && c <= '9' ? c - '0'
                    : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (v < 0 || cp > 0x10FFFF) return xml_fail(p, PF_ERR_PARSE, "bad character reference");
            cp = cp * (hex ? 16u : 10u) + (uint32_t)v;
        }
        if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return xml_fail(p, PF_ERR_PARSE, "character reference out of range");
        put_utf8(p->x, cp);
        return 0;
    }
    for (size_t i = 0; i < sizeof named / sizeof *named; i++) {
        if (strlen(named[i].name) == l && memcmp(s + 1, named[i].name, l) == 0) {
            p->x->pool[p->x->pool_len++] = named[i].c;
            return 0;
        }
    }
    return xml_fail(p, PF_ERR_PARSE, "unknown entity");
}

/* s[0, n) decoded into the pool, NUL-terminated; its offset in *off.
 * in_attr: '<' is not allowed. */
static int decode_text(xml_parser *p, const char *s, size_t n, int in_attr, uint32_t *off)
{
    pf_xml *x = p->x;
    if (pool_room(p, n + 1)) return xml_fail(p, PF_ERR_LIMIT, "text too large");
    *off = (uint32_t)x->pool_len;
    for (size_t i = 0; i < n;) {
        if (s[i] == '&') {
            size_t used = 0;
            int rc = decode_entity(p, s + i, n - i, &used);
            if (rc) return rc;
            i += used;
            continue;
        }
        if (s[i] == 0) return xml_fail(p, PF_ERR_PARSE, "NUL byte");
        if (in_attr && s[i] == '<') return xml_fail(p, PF_ERR_PARSE, "'<' in an attribute value");
        x->pool[x->pool_len++] = s[i++];
    }
    x->pool[x->pool_len++] = 0;
    return 0;
}

static int read_name(xml_parser *p, uint32_t *off)
{
    size_t st = p->i;
    if (p->i >= p->n || !is_name_start((unsigned char)p->s[p->i])) return xml_fail(p, PF_ERR_PARSE, "expected a name");
    while (p->i < p->n && is_name_char((unsigned char)p->s[p->i])) p->i++;
    return decode_text(p, p->s + st, p->i - st, 1, off);
}

static void skip_space(xml_parser *p)
{
    while (p->i < p->n && is_space(p->s[p->i])) p->i++;
}

/* Skips to just past `end`; PF_ERR_PARSE if it never comes. */
static int skip_past(xml_parser *p, const char *end, const char *what)
{
    size_t l = strlen(end);
    for (size_t j = p->i; j + l <= p->n; j++) {
        if (memcmp(p->s + j, end, l) == 0) {
            p->i = j + l;
            return 0;
        }
    }
    return xml_fail(p, PF_ERR_PARSE, what);
}

static int add_attr(xml_parser *p, pf_xml_node *e, const pf_mem *mem)
{
    pf_xml *x = p->x;
    uint32_t name, val;
    int rc = read_name(p, &name);
    if (rc) return rc;
    skip_space(p);
    if (p->i >= p->n || p->s[p->i] != '=') return xml_fail(p, PF_ERR_PARSE, "attribute without '='");
    p->i++;
    skip_space(p);
    char q = p->i < p->n ? p->s[p->i] : 0;
    if (q != '"' && q != '\'') return xml_fail(p, PF_ERR_PARSE, "attribute value not quoted");
    const char *v = p->s + p->i + 1, *endq = memchr(v, q, p->n - p->i - 1);
    if (!endq) return xml_fail(p, PF_ERR_PARSE, "unterminated attribute value");
    if ((rc = decode_text(p, v, (size_t)(endq - v), 1, &val)) != 0) return rc;
    p->i = (size_t)(endq - p->s) + 1;
    for (uint32_t k = 0; k < e->nattr; k++)
        if (strcmp(x->pool + x->attrs[e->attr0 + k].name, x->pool + name) == 0)
            return xml_fail(p, PF_ERR_PARSE, "attribute given twice");
    if (e->nattr >= XML_MAX_ATTRS) return xml_fail(p, PF_ERR_LIMIT, "too many attributes");
    if (x->nattrs == x->cap_attrs) {
        size_t nc = x->cap_attrs ? x->cap_attrs * 2 : 64;
        pf_xml_attr *a = pf__realloc(mem, x->attrs, nc * sizeof *a);
        if (!a) return PF_ERR_NOMEM;
        x->attrs = a;
        x->cap_attrs = nc;
    }
    x->attrs[x->nattrs].name = name;
    x->attrs[x->nattrs].val = val;
    x->nattrs++;
    e->nattr++;
    return 0;
}

static int new_node(xml_parser *p, const pf_mem *mem, int32_t *out)
{
    pf_xml *x = p->x;
    if (x->nnodes >= XML_MAX_NODES) return xml_fail(p, PF_ERR_LIMIT, "too many elements");
    if (x->nnodes == x->cap_nodes) {
        size_t nc = x->cap_nodes ? x->cap_nodes * 2 : 64;
        pf_xml_node *nn = pf__realloc(mem, x->nodes, nc * sizeof *nn);
        if (!nn) return PF_ERR_NOMEM;
        x->nodes = nn;
        x->cap_nodes = nc;
    }
    pf_xml_node *e = &x->nodes[x->nnodes];
    memset(e, 0, sizeof *e);
    e->parent = p->cur;
    e->first_child = e->last_child = e->next = -1;
    e->text = UINT32_MAX;
    e->offset = p->i;
    *out = (int32_t)x->nnodes++;
    return 0;
}

/* "<Name attr='v' ...>" or ".../>", with p->i just past '<'. */
static int start_tag(xml_parser *p, const pf_mem *mem)
{
    pf_xml *x = p->x;
    if (p->cur < 0 && x->nnodes > 0) return xml_fail(p, PF_ERR_PARSE, "a second root element");
    if (p->depth >= PF_MF_MAX_DEPTH) return xml_fail(p, PF_ERR_LIMIT, "elements nested too deep");
    int32_t id;
    p->i--; /* the element's offset is its '<' */
    int rc = new_node(p, mem, &id);
    p->i++;
    if (rc) return rc;
    pf_xml_node *e = &x->nodes[id];
    e->attr0 = (uint32_t)x->nattrs;
    if ((rc = read_name(p, &e->name)) != 0) return rc;
    for (;;) {
        size_t before = p->i;
        skip_space(p);
        if (p->i >= p->n) return xml_fail(p, PF_ERR_PARSE, "unterminated start tag");
        if (p->s[p->i] == '>' || (p->s[p->i] == '/' && p->i + 1 < p->n && p->s[p->i + 1] == '>')) break;
        if (p->i == before) return xml_fail(p, PF_ERR_PARSE, "expected space between attributes");
        if ((rc = add_attr(p, &x->nodes[id], mem)) != 0) return rc;
    }
    e = &x->nodes[id];
    if (p->cur >= 0) { /* link under the parent */
        pf_xml_node *par = &x->nodes[p->cur];
        if (par->last_child >= 0) x->nodes[par->last_child].next = id;
        else par->first_child = id;
        par->last_child = id;
    }
    if (p->s[p->i] == '/') {
        p->i += 2; /* empty element */
        return 0;
    }
    p->i++;
    p->cur = id;
    p->depth++;
    return 0;
}

static int end_tag(xml_parser *p)
{
    pf_xml *x = p->x;
    size_t st = p->i;
    while (p->i < p->n && is_name_char((unsigned char)p->s[p->i])) p->i++;
    size_t l = p->i - st;
    skip_space(p);
    if (p->i >= p->n || p->s[p->i] != '>') return xml_fail(p, PF_ERR_PARSE, "malformed end tag");
    if (p->cur < 0) return xml_fail(p, PF_ERR_PARSE, "end tag without a start tag");
    const char *name = x->pool + x->nodes[p->cur].name;
    if (strlen(name) != l || memcmp(name, p->s + st, l) != 0)
        return xml_fail(p, PF_ERR_PARSE, "end tag does not match the open element");
    p->i++;
    p->cur = x->nodes[p->cur].parent;
    p->depth--;
    return 0;
}

/* Text up to the next '<': kept as the open element's text if it has none yet. */
static int text_run(xml_parser *p)
{
    const char *s = p->s + p->i, *lt = memchr(s, '<', p->n - p->i);
    size_t l = lt ? (size_t)(lt - s) : p->n - p->i;
    size_t a = 0, b = l;
    while (a < b && is_space(s[a])) a++;
    while (b > a && is_space(s[b - 1])) b--;
    if (a < b) {
        if (p->cur < 0) return xml_fail(p, PF_ERR_PARSE, "text outside the root element");
        pf_xml_node *e = &p->x->nodes[p->cur];
        if (e->text == UINT32_MAX) {
            uint32_t off;
            p->i += a;
            int rc = decode_text(p, s + a, b - a, 0, &off);
            if (rc) return rc;
            p->x->nodes[p->cur].text = off;
        }
    }
    p->i = (size_t)(s - p->s) + l;
    return 0;
}

/* One markup construct starting at '<'. */
static int markup(xml_parser *p, const pf_mem *mem)
{
    const char *s = p->s + p->i;
    size_t left = p->n - p->i;
    if (left >= 2 && s[1] == '?') {
        p->i += 2;
        return skip_past(p, "?>", "unterminated processing instruction");
    }
    if (left >= 4 && memcmp(s, "<!--", 4) == 0) {
        p->i += 4;
        return skip_past(p, "-->", "unterminated comment");
    }
    if (left >= 9 && memcmp(s, "<![CDATA[", 9) == 0) {
        if (p->cur < 0) return xml_fail(p, PF_ERR_PARSE, "CDATA outside the root element");
        p->i += 9;
        return skip_past(p, "]]>", "unterminated CDATA section");
    }
    if (left >= 2 && s[1] == '!') return xml_fail(p, PF_ERR_PARSE, "DOCTYPE or declaration not allowed");
    if (left >= 2 && s[1] == '/') {
        p->i += 2;
        return end_tag(p);
    }
    p->i++;
    return start_tag(p, mem);
}

void pf__xml_free(const pf_mem *mem, pf_xml *x)
{
    if (!x) return;
    pf__free(mem, x->nodes);
    pf__free(mem, x->attrs);
    pf__free(mem, x->pool);
    pf__free(mem, x);
}

int pf__xml_parse(const pf_mem *mem, const uint8_t *text, size_t n, pf_xml **out, char *err, size_t errlen)
{
    *out = NULL;
    if (n > PF_MF_MAX_TEXT) {
        pf__mf_errf(err, errlen, "MPD larger than %u bytes", PF_MF_MAX_TEXT);
        return PF_ERR_LIMIT;
    }
    pf_xml *x = pf__calloc(mem, 1, sizeof *x);
    if (!x) return PF_ERR_NOMEM;
    x->text = (const char *)text;
    x->n = n;
    x->line_no = 1;
    x->pool_cap = n + 64; /* decoding never grows a string: names, values and text fit */
    x->pool = pf__malloc(mem, x->pool_cap);
    if (!x->pool) {
        pf__xml_free(mem, x);
        return PF_ERR_NOMEM;
    }
    xml_parser p = {.x = x, .s = (const char *)text, .n = n, .cur = -1, .err = err, .errlen = errlen};
    if (n >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) p.i = 3;
    int rc = 0;
    while (!rc && p.i < p.n) rc = p.s[p.i] == '<' ? markup(&p, mem) : text_run(&p);
    if (!rc && p.cur >= 0) rc = xml_fail(&p, PF_ERR_PARSE, "unclosed element at the end");
    if (!rc && x->nnodes == 0) rc = xml_fail(&p, PF_ERR_PARSE, "no root element");
    if (rc == PF_ERR_NOMEM) pf__mf_errf(err, errlen, "out of memory");
    if (rc) {
        pf__xml_free(mem, x);
        return rc;
    }
    *out = x;
    return 0;
}

const char *pf__xml_local(const pf_xml *x, int32_t node)
{
    const char *name = x->pool + x->nodes[node].name, *c = strrchr(name, ':');
    return c ? c + 1 : name;
}

const char *pf__xml_attr(const pf_xml *x, int32_t node, const char *name)
{
    if (node < 0) return NULL;
    const pf_xml_node *e = &x->nodes[node];
    for (uint32_t k = 0; k < e->nattr; k++)
        if (strcmp(x->pool + x->attrs[e->attr0 + k].name, name) == 0) return x->pool + x->attrs[e->attr0 + k].val;
    return NULL;
}

const char *pf__xml_text(const pf_xml *x, int32_t node)
{
    return node < 0 || x->nodes[node].text == UINT32_MAX ? NULL : x->pool + x->nodes[node].text;
}

int32_t pf__xml_child(const pf_xml *x, int32_t node, const char *local, int32_t after)
{
    if (node < 0) return -1;
    int32_t c = after >= 0 ? x->nodes[after].next : x->nodes[node].first_child;
    for (; c >= 0; c = x->nodes[c].next)
        if (strcmp(pf__xml_local(x, c), local) == 0) return c;
    return -1;
}
