/* The operator's kill switch and upload caps (core/tracker/policy.h).
 * Rules are merged per scope and key (P2P off wins, the smallest cap
 * wins) and kept sorted, so an announce costs two binary searches. */
#include "core/tracker/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peerflow/peerflow.h"

typedef struct rule {
    uint8_t scope;
    uint8_t p2p_off;
    uint8_t klen;
    char key[PF_POLICY_PID_MAX + 1]; /* title: 20 raw bytes; pid: the name */
    uint64_t cap;
} rule;

struct pf_tracker_policy {
    rule *r;
    size_t n;
};

static int cmp_rule(const void *a, const void *b)
{
    const rule *x = a, *y = b;
    if (x->scope != y->scope) return x->scope < y->scope ? -1 : 1;
    if (x->klen != y->klen) return x->klen < y->klen ? -1 : 1;
    return memcmp(x->key, y->key, x->klen);
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* The next word of line [*i, n): its start and length (0 at the end). */
static size_t word(const char *s, size_t n, size_t *i, const char **w)
{
    while (*i < n && is_space(s[*i])) (*i)++;
    *w = s + *i;
    size_t st = *i;
    while (*i < n && !is_space(s[*i])) (*i)++;
    return *i - st;
}

static int eq(const char *w, size_t n, const char *lit) { return strlen(lit) == n && memcmp(w, lit, n) == 0; }

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int pid_ok(const char *w, size_t n)
{
    if (n == 0 || n > PF_POLICY_PID_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = w[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == ':' || c == '@' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

/* "512K", "1M", "65536": bytes per second; 0 or -1. */
static int rate_parse(const char *w, size_t n, uint64_t *out)
{
    uint64_t v = 0, mul = 1;
    size_t digits = n;
    if (n > 1) {
        char u = w[n - 1];
        if (u == 'K' || u == 'k') mul = 1024;
        else if (u == 'M' || u == 'm') mul = 1024 * 1024;
        else if (u == 'G' || u == 'g') mul = 1024ull * 1024 * 1024;
        if (mul > 1) digits--;
    }
    if (digits == 0 || digits > 12) return -1;
    for (size_t i = 0; i < digits; i++) {
        if (w[i] < '0' || w[i] > '9') return -1;
        v = v * 10 + (uint64_t)(w[i] - '0');
    }
    if (v > UINT64_MAX / mul) return -1; /* 999999999999G does not fit */
    v *= mul;
    if (v < 1024) return -1;
    *out = v;
    return 0;
}

/* One non-empty line into *r; NULL or what is wrong. */
static const char *line_parse(const char *s, size_t n, rule *r)
{
    memset(r, 0, sizeof *r);
    size_t i = 0;
    const char *w;
    size_t wl = word(s, n, &i, &w);
    if (eq(w, wl, "all")) {
        r->scope = PF_POLICY_ALL;
    } else if (eq(w, wl, "title")) {
        r->scope = PF_POLICY_TITLE;
        wl = word(s, n, &i, &w);
        if (wl != 40) return "a title is its info-hash: 40 hex digits";
        for (size_t k = 0; k < 20; k++) {
            int hi = hexval(w[2 * k]), lo = hexval(w[2 * k + 1]);
            if (hi < 0 || lo < 0) return "a title is its info-hash: 40 hex digits";
            r->key[k] = (char)(hi << 4 | lo);
        }
        r->klen = 20;
    } else if (eq(w, wl, "pid")) {
        r->scope = PF_POLICY_PID;
        wl = word(s, n, &i, &w);
        if (!pid_ok(w, wl)) return "a PID name is 1-64 of A-Z a-z 0-9 - : @ _ .";
        memcpy(r->key, w, wl);
        r->klen = (uint8_t)wl;
    } else {
        return "expected all, title or pid";
    }
    wl = word(s, n, &i, &w);
    if (eq(w, wl, "p2p")) {
        wl = word(s, n, &i, &w);
        if (eq(w, wl, "off")) r->p2p_off = 1;
        else if (!eq(w, wl, "on")) return "expected p2p off or p2p on";
    } else if (eq(w, wl, "upload-cap")) {
        wl = word(s, n, &i, &w);
        if (rate_parse(w, wl, &r->cap) != 0) return "upload-cap takes a rate of at least 1K (bytes/s, K/M/G)";
    } else {
        return "expected p2p off, p2p on or upload-cap RATE";
    }
    wl = word(s, n, &i, &w);
    if (wl) return "unexpected words at the end";
    return NULL;
}

int pf_tracker_policy_parse(const char *text, size_t len, pf_tracker_policy **out, char *why, size_t whylen)
{
    *out = NULL;
    if (whylen) why[0] = 0;
    if (len > PF_POLICY_MAX_BYTES) {
        snprintf(why, whylen, "policy file larger than %u bytes", PF_POLICY_MAX_BYTES);
        return PF_ERR_LIMIT;
    }
    pf_tracker_policy *p = calloc(1, sizeof *p);
    if (!p) return PF_ERR_NOMEM;
    size_t cap = 0, lineno = 0;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - text) : len;
        const char *s = text + i;
        size_t n = end - i;
        i = end + 1;
        lineno++;
        const char *hash = memchr(s, '#', n);
        if (hash) n = (size_t)(hash - s);
        size_t k = 0;
        while (k < n && is_space(s[k])) k++;
        if (k == n) continue;
        rule r;
        const char *bad = memchr(s, 0, n) ? "a NUL byte" : line_parse(s, n, &r);
        if (bad) {
            snprintf(why, whylen, "line %zu: %s", lineno, bad);
            pf_tracker_policy_free(p);
            return PF_ERR_PARSE;
        }
        if (p->n == PF_POLICY_MAX_RULES) {
            snprintf(why, whylen, "line %zu: more than %d rules", lineno, PF_POLICY_MAX_RULES);
            pf_tracker_policy_free(p);
            return PF_ERR_LIMIT;
        }
        if (p->n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            rule *nr = realloc(p->r, nc * sizeof *nr);
            if (!nr) {
                pf_tracker_policy_free(p);
                return PF_ERR_NOMEM;
            }
            p->r = nr;
            cap = nc;
        }
        p->r[p->n++] = r;
    }
    if (p->n) qsort(p->r, p->n, sizeof *p->r, cmp_rule);
    /* Merge duplicates: off wins, the smallest cap wins. */
    size_t m = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (m && cmp_rule(&p->r[m - 1], &p->r[i]) == 0) {
            rule *d = &p->r[m - 1];
            d->p2p_off |= p->r[i].p2p_off;
            if (p->r[i].cap && (!d->cap || p->r[i].cap < d->cap)) d->cap = p->r[i].cap;
        } else {
            p->r[m++] = p->r[i];
        }
    }
    p->n = m;
    *out = p;
    return 0;
}

void pf_tracker_policy_free(pf_tracker_policy *p)
{
    if (!p) return;
    free(p->r);
    free(p);
}

size_t pf_tracker_policy_count(const pf_tracker_policy *p) { return p ? p->n : 0; }

static void apply(const pf_tracker_policy *p, const rule *key, pf_policy_verdict *out)
{
    const rule *r = p->n ? bsearch(key, p->r, p->n, sizeof *p->r, cmp_rule) : NULL;
    if (!r) return;
    if (r->p2p_off) out->p2p_off = 1;
    if (r->cap && (!out->upload_cap || r->cap < out->upload_cap)) out->upload_cap = r->cap;
}

void pf_tracker_policy_eval(const pf_tracker_policy *p, const uint8_t info_hash[20], const char *pid,
                            pf_policy_verdict *out)
{
    memset(out, 0, sizeof *out);
    if (!p) return;
    rule k;
    memset(&k, 0, sizeof k);
    k.scope = PF_POLICY_ALL;
    apply(p, &k, out);
    k.scope = PF_POLICY_TITLE;
    k.klen = 20;
    memcpy(k.key, info_hash, 20);
    apply(p, &k, out);
    size_t pl = pid ? strlen(pid) : 0;
    if (pl && pl <= PF_POLICY_PID_MAX) {
        memset(&k, 0, sizeof k);
        k.scope = PF_POLICY_PID;
        k.klen = (uint8_t)pl;
        memcpy(k.key, pid, pl);
        apply(p, &k, out);
    }
}

static int labels(pf_buf *out, const rule *r)
{
    static const char *const scope[] = {"all", "title", "pid"};
    char key[PF_POLICY_PID_MAX + 1];
    if (r->scope == PF_POLICY_TITLE) {
        for (int i = 0; i < 20; i++) snprintf(key + 2 * i, 3, "%02x", (uint8_t)r->key[i]);
    } else {
        memcpy(key, r->key, r->klen); /* PID names need no escaping */
        key[r->klen] = 0;
    }
    return pf_buf_appendf(out, "{scope=\"%s\",key=\"%s\"}", scope[r->scope], key);
}

int pf_tracker_policy_metrics(const pf_tracker_policy *p, pf_buf *out)
{
    size_t n = p ? p->n : 0;
    int rc = pf_buf_appendf(out, "# HELP peerflow_tracker_p2p_off The operator switched P2P off here "
                                 "(scope all, title or pid).\n# TYPE peerflow_tracker_p2p_off gauge\n");
    for (size_t i = 0; !rc && i < n; i++) {
        if (!p->r[i].p2p_off) continue;
        rc = pf_buf_appendf(out, "peerflow_tracker_p2p_off");
        if (!rc) rc = labels(out, &p->r[i]);
        if (!rc) rc = pf_buf_appendf(out, " 1\n");
    }
    if (!rc)
        rc = pf_buf_appendf(out, "# HELP peerflow_tracker_upload_cap_bytes The operator's cap on "
                                 "viewers' uploads, bytes per second.\n"
                                 "# TYPE peerflow_tracker_upload_cap_bytes gauge\n");
    for (size_t i = 0; !rc && i < n; i++) {
        if (!p->r[i].cap) continue;
        rc = pf_buf_appendf(out, "peerflow_tracker_upload_cap_bytes");
        if (!rc) rc = labels(out, &p->r[i]);
        if (!rc) rc = pf_buf_appendf(out, " %llu\n", (unsigned long long)p->r[i].cap);
    }
    return rc;
}
