/* CMSD (CTA-5006) reader on a small RFC 8941 (Structured Field Values)
 * parser: Lists, Dictionaries, Inner Lists, Parameters and every bare
 * item type are parsed (so that valid fields are never refused); only
 * the keys cmsd.h names are kept.  See cmsd.h. */
#include "core/media/cmsd.h"

#include <string.h>

#include "peerflow/peerflow.h"

typedef struct sfp {
    const char *p, *end;
} sfp;

enum { SF_INT = 1, SF_DEC, SF_STR, SF_TOK, SF_BYTES, SF_BOOL, SF_INNER };

typedef struct sf_item {
    int type;
    int64_t i; /* SF_INT, SF_BOOL */
} sf_item;

/* The keys one member (or the dictionary) said; -1: not said. */
typedef struct acc {
    int64_t etp, mb, rd, rtt, du, br, d;
} acc;

static void acc_init(acc *a) { a->etp = a->mb = a->rd = a->rtt = a->du = a->br = a->d = -1; }

static void acc_merge(acc *dst, const acc *src)
{
    if (src->etp >= 0) dst->etp = src->etp;
    if (src->mb >= 0) dst->mb = src->mb;
    if (src->rd >= 0) dst->rd = src->rd;
    if (src->rtt >= 0) dst->rtt = src->rtt;
    if (src->du >= 0) dst->du = src->du;
    if (src->br >= 0) dst->br = src->br;
    if (src->d >= 0) dst->d = src->d;
}

/* A key=value pair: integers >= 0 and booleans of the keys we read are
 * kept; anything else is ignored. */
static void acc_set(acc *a, const char *key, const sf_item *it)
{
    if (it->type == SF_BOOL) {
        if (strcmp(key, "du") == 0) a->du = it->i;
        return;
    }
    if (it->type != SF_INT || it->i < 0) return;
    int64_t *slot = strcmp(key, "etp") == 0 ? &a->etp
                    : strcmp(key, "mb") == 0 ? &a->mb
                    : strcmp(key, "rd") == 0 ? &a->rd
                    : strcmp(key, "rtt") == 0 ? &a->rtt
                    : strcmp(key, "br") == 0 ? &a->br
                    : strcmp(key, "d") == 0 ? &a->d
                                            : NULL;
    if (slot) *slot = it->i;
}

static int at(const sfp *s, char c) { return s->p < s->end && *s->p == c; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_lcalpha(char c) { return c >= 'a' && c <= 'z'; }
static void skip_sp(sfp *s)
{
    while (at(s, ' ')) s->p++;
}
static void skip_ows(sfp *s)
{
    while (at(s, ' ') || at(s, '\t')) s->p++;
}

/* RFC 8941 4.2.4: at most 15 integer digits, or 12.3 for a decimal. */
static int sf_number(sfp *s, sf_item *it)
{
    int neg = 0;
    if (at(s, '-')) {
        neg = 1;
        s->p++;
    }
    if (!(s->p < s->end && is_digit(*s->p))) return PF_ERR_PARSE;
    int64_t v = 0;
    int n = 0, frac = -1;
    for (; s->p < s->end; s->p++) {
        char c = *s->p;
        if (is_digit(c)) {
            if (frac < 0) v = v * 10 + (c - '0');
            else frac++;
            n++;
        } else if (c == '.' && frac < 0) {
            if (n > 12) return PF_ERR_PARSE;
            frac = 0;
        } else {
            break;
        }
        if ((frac < 0 && n > 15) || frac > 3) return PF_ERR_PARSE;
    }
    if (frac == 0) return PF_ERR_PARSE; /* "1." */
    it->type = frac < 0 ? SF_INT : SF_DEC;
    it->i = neg ? -v : v;
    return 0;
}

static int sf_string(sfp *s)
{
    s->p++; /* '"' */
    while (s->p < s->end) {
        unsigned char c = (unsigned char)*s->p++;
        if (c == '"') return 0;
        if (c == '\\') {
            if (!(at(s, '"') || at(s, '\\'))) return PF_ERR_PARSE;
            s->p++;
        } else if (c < 0x20 || c > 0x7e) {
            return PF_ERR_PARSE;
        }
    }
    return PF_ERR_PARSE; /* unterminated */
}

static int is_tchar(char c)
{
    return is_alpha(c) || is_digit(c) || (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int sf_bare(sfp *s, sf_item *it)
{
    if (s->p >= s->end) return PF_ERR_PARSE;
    char c = *s->p;
    it->i = 0;
    if (c == '-' || is_digit(c)) return sf_number(s, it);
    if (c == '"') {
        it->type = SF_STR;
        return sf_string(s);
    }
    if (c == '*' || is_alpha(c)) {
        it->type = SF_TOK;
        for (s->p++; s->p < s->end && (is_tchar(*s->p) || *s->p == ':' || *s->p == '/');) s->p++;
        return 0;
    }
    if (c == ':') {
        it->type = SF_BYTES;
        for (s->p++; s->p < s->end && *s->p != ':'; s->p++)
            if (!(is_alpha(*s->p) || is_digit(*s->p) || *s->p == '+' || *s->p == '/' || *s->p == '='))
                return PF_ERR_PARSE;
        if (!at(s, ':')) return PF_ERR_PARSE;
        s->p++;
        return 0;
    }
    if (c == '?') {
        s->p++;
        if (!(at(s, '0') || at(s, '1'))) return PF_ERR_PARSE;
        it->type = SF_BOOL;
        it->i = *s->p++ == '1';
        return 0;
    }
    return PF_ERR_PARSE;
}

/* A key; the ones longer than our buffer are read whole and kept as ""
 * (none of ours is that long). */
static int sf_key(sfp *s, char *key, size_t cap)
{
    if (!(at(s, '*') || (s->p < s->end && is_lcalpha(*s->p)))) return PF_ERR_PARSE;
    size_t n = 0;
    for (; s->p < s->end; s->p++) {
        char c = *s->p;
        if (!(is_lcalpha(c) || is_digit(c) || c == '_' || c == '-' || c == '.' || c == '*')) break;
        if (n + 1 < cap) key[n] = c;
        n++;
    }
    key[n < cap ? n : 0] = 0;
    return 0;
}

/* *( ";" *SP key [ "=" bare-item ] ), into a (may be NULL). */
static int sf_params(sfp *s, acc *a)
{
    while (at(s, ';')) {
        s->p++;
        skip_sp(s);
        char key[8];
        if (sf_key(s, key, sizeof key)) return PF_ERR_PARSE;
        sf_item it = {SF_BOOL, 1};
        if (at(s, '=')) {
            s->p++;
            if (sf_bare(s, &it)) return PF_ERR_PARSE;
        }
        if (a) acc_set(a, key, &it);
    }
    return 0;
}

/* An item with its parameters, or an inner list "( item* )" with its. */
static int sf_member(sfp *s, sf_item *it, acc *params)
{
    if (!at(s, '(')) return sf_bare(s, it) ? PF_ERR_PARSE : sf_params(s, params);
    s->p++;
    it->type = SF_INNER;
    for (;;) {
        skip_sp(s);
        if (at(s, ')')) {
            s->p++;
            return sf_params(s, params);
        }
        sf_item in;
        if (sf_bare(s, &in) || sf_params(s, NULL)) return PF_ERR_PARSE;
        if (!(at(s, ' ') || at(s, ')'))) return PF_ERR_PARSE;
    }
}

/* After a member: OWS, then the end, or "," OWS and another member. */
static int sf_next(sfp *s, int *more)
{
    skip_ows(s);
    *more = 0;
    if (s->p >= s->end) return 0;
    if (!at(s, ',')) return PF_ERR_PARSE;
    s->p++;
    skip_ows(s);
    if (s->p >= s->end) return PF_ERR_PARSE; /* trailing comma */
    *more = 1;
    return 0;
}

static void trim(sfp *s)
{
    while (s->p < s->end && s->p[0] == ' ') s->p++;
    while (s->end > s->p && s->end[-1] == ' ') s->end--;
}

static void acc_to_cmsd(const acc *a, pf__cmsd *c)
{
    if (a->etp >= 0) c->etp = a->etp;
    if (a->mb >= 0) c->mb = a->mb;
    if (a->rd >= 0) c->rd = a->rd;
    if (a->rtt >= 0) c->rtt = a->rtt;
    if (a->du >= 0) c->du = (int)a->du;
    if (a->br >= 0) c->br = a->br;
    if (a->d >= 0) c->d = a->d;
}

void pf__cmsd_init(pf__cmsd *c)
{
    memset(c, 0, sizeof *c);
    c->etp = c->mb = c->rd = c->rtt = c->br = c->d = -1;
}

int pf__cmsd_parse_dynamic(const char *v, size_t n, pf__cmsd *c)
{
    sfp s = {v, v + n};
    trim(&s);
    acc all;
    acc_init(&all);
    int more = s.p < s.end;
    while (more) {
        acc one;
        acc_init(&one);
        sf_item it;
        if (sf_member(&s, &it, &one) || sf_next(&s, &more)) return PF_ERR_PARSE;
        acc_merge(&all, &one); /* the rightmost that says a key wins */
    }
    all.br = all.d = -1; /* Static keys */
    acc_to_cmsd(&all, c);
    return 0;
}

int pf__cmsd_parse_static(const char *v, size_t n, pf__cmsd *c)
{
    sfp s = {v, v + n};
    trim(&s);
    acc all;
    acc_init(&all);
    int more = s.p < s.end;
    while (more) {
        char key[8];
        sf_item it = {SF_BOOL, 1};
        if (sf_key(&s, key, sizeof key)) return PF_ERR_PARSE;
        if (at(&s, '=')) {
            s.p++;
            if (sf_member(&s, &it, NULL)) return PF_ERR_PARSE;
        } else if (sf_params(&s, NULL)) {
            return PF_ERR_PARSE;
        }
        if (strcmp(key, "br") == 0 || strcmp(key, "d") == 0) acc_set(&all, key, &it);
        if (sf_next(&s, &more)) return PF_ERR_PARSE;
    }
    acc_to_cmsd(&all, c);
    return 0;
}

static int name_is(const char *p, size_t n, const char *name)
{
    size_t k = strlen(name);
    if (n != k) return 0;
    for (size_t i = 0; i < k; i++) {
        char ch = p[i];
        if (ch >= 'A' && ch <= 'Z') ch = (char)(ch - 'A' + 'a');
        if (ch != name[i]) return 0;
    }
    return 1;
}

int pf__cmsd_parse_headers(const char *h, size_t n, pf__cmsd *c)
{
    int found = 0;
    const char *p = h, *end = h + n;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        const char *le = line_end;
        if (le > p && le[-1] == '\r') le--;
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (colon) {
            const char *vs = colon + 1, *ve = le;
            while (vs < ve && (*vs == ' ' || *vs == '\t')) vs++;
            while (ve > vs && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            size_t nl = (size_t)(colon - p);
            if (name_is(p, nl, "cmsd-dynamic"))
                found += pf__cmsd_parse_dynamic(vs, (size_t)(ve - vs), c) == 0;
            else if (name_is(p, nl, "cmsd-static"))
                found += pf__cmsd_parse_static(vs, (size_t)(ve - vs), c) == 0;
        }
        p = eol ? eol + 1 : end;
    }
    return found;
}
