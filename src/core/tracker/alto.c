/* ALTO (RFC 7285) network map and cost map (core/tracker/alto.h). */
#include "core/tracker/alto.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec/json.h"
#include "core/tracker/proxy.h"
#include "core/util/addr.h"
#include "core/util/buf.h"
#include "core/util/mem.h"

#define TAG_MAX 64    /* RFC 7285 section 10.3 */
#define METRIC_MAX 32 /* section 10.6 */
#define Q 160         /* a quoted string in a message */

/* An address as a 128-bit number: IPv4 in lo's low 32 bits. */
typedef struct key128 {
    uint64_t hi, lo;
} key128;

/* Disjoint ranges, sorted: start[i] up to start[i + 1] - 1 (the last up to
 * the family's last address) is PID pid[i] (-1: none). */
typedef struct ranges {
    key128 *start;
    int32_t *pid;
    size_t n;
} ranges;

typedef struct centry {
    uint32_t dst;
    double cost;
} centry;

struct pf_alto_map {
    size_t npids, nprefixes;
    char (*names)[PF_ALTO_PID_NAME_MAX + 1];
    ranges fam[2]; /* IPv4, IPv6 */
    char resource_id[PF_ALTO_PID_NAME_MAX + 1], tag[TAG_MAX + 1];
    int has_cost;
    char metric[METRIC_MAX + 1], mode[16];
    uint32_t *row; /* npids + 1: PID i's entries are cost[row[i], row[i + 1]) */
    centry *cost;
    pf_net *nets;      /* the prefixes as listed, by PID: PID i's are */
    uint32_t *net_row; /* nets[net_row[i], net_row[i + 1]) */
};

/* A prefix as listed, while loading. */
typedef struct item {
    key128 start, end;
    uint8_t bits;
    int32_t pid;
    const char *text;
    size_t tlen;
    pf_net net;
} item;

typedef struct name_ref {
    const char *name;
    uint32_t pid;
} name_ref;

typedef struct loader {
    pf_alto_map *m;
    char *why;
    size_t whylen;
    item *items[2];
    size_t nitems[2];
    name_ref *by_name; /* sorted by name */
} loader;

static int refuse(loader *L, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(loader *L, int rc, const char *fmt, ...)
{
    if (L->why && L->whylen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(L->why, L->whylen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* s[0, n) quoted for a message, into a caller's buffer of Q bytes. */
static const char *quote(char *buf, const char *s, size_t n)
{
    pf__json_quote(s ? s : "", s ? n : 0, buf, Q);
    return buf;
}

/* RFC 7285 section 10.1 (PID names) and 10.2 (resource ids): 1-max of
 * alphanumerics, '-', ':', '@', '_', '.'. */
static int name_ok(const char *s, size_t n, size_t max)
{
    if (!s || n == 0 || n > max) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == ':' ||
              c == '@' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

/* Section 10.3: 1-64 printable ASCII characters (U+0021-U+007E). */
static int tag_ok(const char *s, size_t n)
{
    if (!s || n == 0 || n > TAG_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e) return 0;
    return 1;
}

/* Keys --------------------------------------------------------------------- */
static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | p[i];
    return v;
}

static int key_cmp(key128 a, key128 b)
{
    if (a.hi != b.hi) return a.hi < b.hi ? -1 : 1;
    return a.lo < b.lo ? -1 : a.lo > b.lo;
}

/* The host part of a prefix of `bits` in a family `width` bits wide. */
static key128 host_mask(unsigned bits, unsigned width)
{
    unsigned h = width - bits;
    key128 k = {0, 0};
    if (h >= 64) {
        k.lo = UINT64_MAX;
        k.hi = h == 128 ? UINT64_MAX : h == 64 ? 0 : (UINT64_C(1) << (h - 64)) - 1;
    } else if (h > 0) {
        k.lo = (UINT64_C(1) << h) - 1;
    }
    return k;
}

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* An address's family slot (0: IPv4, 1: IPv6) and key; -1 if unset. */
static int addr_key(const pf_addr *a, key128 *k)
{
    if (a->family == 4 || (a->family == 6 && memcmp(a->ip, v4mapped, 12) == 0)) {
        k->hi = 0;
        k->lo = pf_rd_be32(a->family == 4 ? a->ip : a->ip + 12);
        return 0;
    }
    if (a->family != 6) return -1;
    k->hi = be64(a->ip);
    k->lo = be64(a->ip + 8);
    return 1;
}

/* The range table ------------------------------------------------------------ */
static int item_cmp(const void *pa, const void *pb)
{
    const item *a = pa, *b = pb;
    int c = key_cmp(a->start, b->start);
    if (c) return c;
    if (a->bits != b->bits) return a->bits < b->bits ? -1 : 1;
    return (a->pid > b->pid) - (a->pid < b->pid);
}

static void emit(ranges *r, key128 k, int32_t pid)
{
    if (r->n && key_cmp(r->start[r->n - 1], k) == 0) {
        r->pid[r->n - 1] = pid;
        return;
    }
    if (r->n && r->pid[r->n - 1] == pid) return;
    r->start[r->n] = k;
    r->pid[r->n++] = pid;
}

/* Closes the innermost open prefix: from its end + 1 on, the one around
 * it (or none) holds the addresses. */
static void pop(ranges *r, const item **stack, size_t *depth, key128 last)
{
    const item *t = stack[--*depth];
    if (key_cmp(t->end, last) == 0) return;
    key128 next = t->end;
    if (++next.lo == 0) next.hi++;
    emit(r, next, *depth ? stack[*depth - 1]->pid : -1);
}

/* Sorts a family's prefixes, refuses one in two PIDs, and sweeps them into
 * ranges (see alto.h). */
static int build_ranges(loader *L, item *it, size_t n, unsigned width, ranges *r)
{
    const pf_alto_map *m = L->m;
    qsort(it, n, sizeof *it, item_cmp);
    r->start = pf__malloc(NULL, (2 * n + 1) * sizeof *r->start);
    r->pid = pf__malloc(NULL, (2 * n + 1) * sizeof *r->pid);
    if (!r->start || !r->pid) return refuse(L, PF_ERR_NOMEM, "out of memory");
    const item *stack[130];
    size_t depth = 0;
    key128 last = host_mask(0, width);
    for (size_t i = 0; i < n; i++) {
        const item *p = &it[i];
        if (i && key_cmp(p->start, it[i - 1].start) == 0 && p->bits == it[i - 1].bits) {
            if (p->pid == it[i - 1].pid) continue; /* listed twice in one PID */
            char q[Q]; /* PID names are plain (name_ok) */
            return refuse(L, PF_ERR_PARSE, "network-map: prefix \"%s\" is in PID \"%s\" and in PID \"%s\"",
                          quote(q, p->text, p->tlen), m->names[it[i - 1].pid], m->names[p->pid]);
        }
        L->m->nprefixes++;
        while (depth && key_cmp(stack[depth - 1]->end, p->start) < 0) pop(r, stack, &depth, last);
        emit(r, p->start, p->pid);
        stack[depth++] = p;
    }
    while (depth) pop(r, stack, &depth, last);
    return 0;
}

/* The network map ---------------------------------------------------------------- */
static int parse_json(loader *L, const char *what, const char *s, size_t n, pf_json_doc **doc)
{
    pf_json_limits lim = {.max_depth = PF_ALTO_MAX_DEPTH, .max_nodes = PF_ALTO_MAX_JSON_NODES,
                          .max_len = PF_ALTO_MAX_FILE, .mem = NULL};
    char jwhy[200];
    if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) s += 3, n -= 3; /* a byte order mark an editor added */
    int rc = pf_json_parse(s, n, &lim, doc, jwhy, sizeof jwhy);
    if (rc) return refuse(L, rc, "%s: %s", what, jwhy);
    if (pf_json_type(pf_json_root(*doc)) != PF_JSON_OBJECT)
        return refuse(L, PF_ERR_PARSE, "%s: not a JSON object but %s", what,
                      pf_json_kind_name(pf_json_type(pf_json_root(*doc))));
    return 0;
}

/* A vtag object ({"resource-id", "tag"}) into rid and tag. */
static int read_vtag(loader *L, const char *where, const pf_json *v, char *rid, char *tag)
{
    if (pf_json_type(v) != PF_JSON_OBJECT)
        return refuse(L, PF_ERR_PARSE, "%s: an object expected, not %s", where, pf_json_kind_name(pf_json_type(v)));
    size_t rl, tl;
    const char *r = pf_json_str(pf_json_get(v, "resource-id"), &rl), *t = pf_json_str(pf_json_get(v, "tag"), &tl);
    char q[Q];
    if (!r) return refuse(L, PF_ERR_PARSE, "%s: no \"resource-id\" string", where);
    if (!name_ok(r, rl, PF_ALTO_PID_NAME_MAX))
        return refuse(L, PF_ERR_PARSE, "%s: bad \"resource-id\" \"%s\" (1-64 of A-Z a-z 0-9 - : @ _ .)", where,
                      quote(q, r, rl));
    if (!t) return refuse(L, PF_ERR_PARSE, "%s: no \"tag\" string", where);
    if (!tag_ok(t, tl))
        return refuse(L, PF_ERR_PARSE, "%s: bad \"tag\" \"%s\" (1-64 printable ASCII characters, no space)", where,
                      quote(q, t, tl));
    memcpy(rid, r, rl + 1);
    memcpy(tag, t, tl + 1);
    return 0;
}

/* Which list an address type names: 0 "ipv4", 1 "ipv6", -1 another. */
static int addr_type(const char *k, size_t n)
{
    if (n == 4 && memcmp(k, "ipv4", 4) == 0) return 0;
    if (n == 4 && memcmp(k, "ipv6", 4) == 0) return 1;
    return -1;
}

/* Names the PIDs and counts their prefixes, checking the shape. */
static int scan_pids(loader *L, const pf_json *nm, size_t *total)
{
    pf_alto_map *m = L->m;
    char qa[Q], qb[Q];
    for (size_t i = 0; i < m->npids; i++) {
        size_t nl;
        const char *name = pf_json_key(nm, i, &nl);
        const pf_json *pid = pf_json_member(nm, i);
        if (!name_ok(name, nl, PF_ALTO_PID_NAME_MAX))
            return refuse(L, PF_ERR_PARSE, "network-map: bad PID name \"%s\" (1-64 of A-Z a-z 0-9 - : @ _ .)",
                          quote(qa, name, nl));
        memcpy(m->names[i], name, nl + 1);
        if (pf_json_type(pid) != PF_JSON_OBJECT)
            return refuse(L, PF_ERR_PARSE, "network-map: PID \"%s\": an object expected, not %s", name,
                          pf_json_kind_name(pf_json_type(pid)));
        for (size_t j = 0; j < pf_json_len(pid); j++) {
            size_t tl;
            const char *type = pf_json_key(pid, j, &tl);
            const pf_json *list = pf_json_member(pid, j);
            int fam = addr_type(type, tl);
            if (fam < 0)
                return refuse(L, PF_ERR_PARSE, "network-map: PID \"%s\": unknown address type \"%s\" (ipv4, ipv6)",
                              name, quote(qb, type, tl));
            if (pf_json_type(list) != PF_JSON_ARRAY)
                return refuse(L, PF_ERR_PARSE, "network-map: PID \"%s\": \"%s\": an array expected, not %s", name, type,
                              pf_json_kind_name(pf_json_type(list)));
            *total += pf_json_len(list);
        }
    }
    if (*total > PF_ALTO_MAX_PREFIXES)
        return refuse(L, PF_ERR_LIMIT, "network-map: %zu prefixes, over the limit of %d", *total,
                      PF_ALTO_MAX_PREFIXES);
    return 0;
}

/* One listed prefix, list[j] of PID pid's list `type` (fam 0/1). */
static int add_prefix(loader *L, size_t pid, const char *type, int fam, const pf_json *list, size_t j)
{
    const char *name = L->m->names[pid];
    size_t sl;
    const char *s = pf_json_str(pf_json_at(list, j), &sl);
    char q[Q];
    if (!s)
        return refuse(L, PF_ERR_PARSE, "network-map: PID \"%s\": \"%s\"[%zu]: a string expected, not %s", name, type,
                      j, pf_json_kind_name(pf_json_type(pf_json_at(list, j))));
    pf_net net;
    /* Hex digits, '.', ':' and '/' only: no NUL to end the text early
     * (pf__cidr_parse reads the address as a C string). */
    if (strspn(s, "0123456789abcdefABCDEF.:/") != sl || pf__cidr_parse(s, sl, &net) != 0)
        return refuse(L, PF_ERR_PARSE, "network-map: PID \"%s\": \"%s\"[%zu]: bad prefix \"%s\"", name, type, j,
                      quote(q, s, sl));
    /* "ipv6" may hold v4-mapped prefixes (which parse as IPv4); an IPv4
     * literal is IPv4 whatever the list. */
    int v6_text = memchr(s, ':', sl) != NULL;
    if ((fam == 0 && v6_text) || (fam == 1 && !v6_text))
        return refuse(L, PF_ERR_PARSE, "network-map: PID \"%s\": \"%s\"[%zu]: \"%s\" is not an %s prefix", name, type,
                      j, quote(q, s, sl), fam == 0 ? "IPv4" : "IPv6");
    int f = net.family == 4 ? 0 : 1;
    unsigned width = f == 0 ? 32 : 128;
    item *it = &L->items[f][L->nitems[f]++];
    it->start.hi = f == 0 ? 0 : be64(net.ip);
    it->start.lo = f == 0 ? (uint64_t)pf_rd_be32(net.ip) : be64(net.ip + 8);
    key128 hm = host_mask(net.bits, width);
    if ((it->start.hi & hm.hi) || (it->start.lo & hm.lo))
        return refuse(L, PF_ERR_PARSE,
                      "network-map: PID \"%s\": \"%s\"[%zu]: \"%s\" has bits set past its prefix length", name, type,
                      j, quote(q, s, sl));
    it->end.hi = it->start.hi | hm.hi;
    it->end.lo = it->start.lo | hm.lo;
    it->bits = net.bits;
    it->pid = (int32_t)pid;
    it->text = s;
    it->tlen = sl;
    it->net = net;
    return 0;
}

/* The prefixes by PID, for pf_alto_pid_nets (a counting sort). */
static int keep_nets(loader *L)
{
    pf_alto_map *m = L->m;
    size_t total = L->nitems[0] + L->nitems[1];
    m->nets = pf__malloc(NULL, (total ? total : 1) * sizeof *m->nets);
    m->net_row = pf__calloc(NULL, m->npids + 1, sizeof *m->net_row);
    if (!m->nets || !m->net_row) return refuse(L, PF_ERR_NOMEM, "out of memory");
    for (int f = 0; f < 2; f++)
        for (size_t i = 0; i < L->nitems[f]; i++) m->net_row[L->items[f][i].pid + 1]++;
    for (size_t i = 0; i < m->npids; i++) m->net_row[i + 1] += m->net_row[i];
    uint32_t *fill = pf__malloc(NULL, (m->npids ? m->npids : 1) * sizeof *fill);
    if (!fill) return refuse(L, PF_ERR_NOMEM, "out of memory");
    memcpy(fill, m->net_row, m->npids * sizeof *fill);
    for (int f = 0; f < 2; f++)
        for (size_t i = 0; i < L->nitems[f]; i++) m->nets[fill[L->items[f][i].pid]++] = L->items[f][i].net;
    pf__free(NULL, fill);
    return 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(((const name_ref *)a)->name, ((const name_ref *)b)->name);
}

static int load_netmap(loader *L, const pf_json *root)
{
    pf_alto_map *m = L->m;
    int rc = read_vtag(L, "network map: meta: \"vtag\"", pf_json_get(pf_json_get(root, "meta"), "vtag"),
                       m->resource_id, m->tag);
    if (rc) return rc;
    const pf_json *nm = pf_json_get(root, "network-map");
    if (pf_json_type(nm) != PF_JSON_OBJECT)
        return refuse(L, PF_ERR_PARSE, "network map: \"network-map\": an object expected, not %s",
                      pf_json_kind_name(pf_json_type(nm)));
    m->npids = pf_json_len(nm);
    if (m->npids == 0) return refuse(L, PF_ERR_PARSE, "network-map: no PIDs");
    if (m->npids > PF_ALTO_MAX_PIDS)
        return refuse(L, PF_ERR_LIMIT, "network-map: %zu PIDs, over the limit of %d", m->npids, PF_ALTO_MAX_PIDS);
    m->names = pf__calloc(NULL, m->npids, sizeof *m->names);
    L->by_name = pf__malloc(NULL, m->npids * sizeof *L->by_name);
    if (!m->names || !L->by_name) return refuse(L, PF_ERR_NOMEM, "out of memory");
    size_t total = 0;
    rc = scan_pids(L, nm, &total);
    if (rc) return rc;
    for (int f = 0; f < 2; f++) { /* room for all in either family */
        L->items[f] = pf__malloc(NULL, (total ? total : 1) * sizeof(item));
        if (!L->items[f]) return refuse(L, PF_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < m->npids; i++) {
        const pf_json *pid = pf_json_member(nm, i);
        for (size_t j = 0; j < pf_json_len(pid); j++) {
            size_t tl;
            const char *type = pf_json_key(pid, j, &tl);
            const pf_json *list = pf_json_member(pid, j);
            for (size_t k = 0; k < pf_json_len(list); k++) {
                rc = add_prefix(L, i, type, addr_type(type, tl), list, k);
                if (rc) return rc;
            }
        }
        L->by_name[i].name = m->names[i];
        L->by_name[i].pid = (uint32_t)i;
    }
    qsort(L->by_name, m->npids, sizeof *L->by_name, name_cmp);
    rc = keep_nets(L);
    if (!rc) rc = build_ranges(L, L->items[0], L->nitems[0], 32, &m->fam[0]);
    if (!rc) rc = build_ranges(L, L->items[1], L->nitems[1], 128, &m->fam[1]);
    return rc;
}

/* The cost map ------------------------------------------------------------------- */
static int pid_by_name(const loader *L, const char *s, size_t n)
{
    size_t lo = 0, hi = L->m->npids;
    if (memchr(s, 0, n)) return -1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *k = L->by_name[mid].name;
        int c = strncmp(k, s, n);
        if (c == 0 && k[n] != 0) c = 1;
        if (c == 0) return (int)L->by_name[mid].pid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

static int centry_cmp(const void *a, const void *b)
{
    const centry *x = a, *y = b;
    return (x->dst > y->dst) - (x->dst < y->dst);
}

static int cost_meta(loader *L, const pf_json *meta)
{
    pf_alto_map *m = L->m;
    const pf_json *deps = pf_json_get(meta, "dependent-vtags");
    char rid[PF_ALTO_PID_NAME_MAX + 1], tag[TAG_MAX + 1], qa[Q], qb[Q];
    if (pf_json_type(deps) != PF_JSON_ARRAY || pf_json_len(deps) != 1)
        return refuse(L, PF_ERR_PARSE, "cost map: meta: \"dependent-vtags\": an array of one vtag expected");
    int rc = read_vtag(L, "cost map: meta: \"dependent-vtags\"[0]", pf_json_at(deps, 0), rid, tag);
    if (rc) return rc;
    if (strcmp(rid, m->resource_id) != 0 || strcmp(tag, m->tag) != 0)
        return refuse(L, PF_ERR_PARSE,
                      "cost map: made for network map \"%s\" tag \"%s\", not for the one loaded (\"%s\" tag \"%s\")",
                      rid, quote(qa, tag, strlen(tag)), m->resource_id, quote(qb, m->tag, strlen(m->tag)));
    const pf_json *ct = pf_json_get(meta, "cost-type");
    size_t ml, kl;
    const char *mode = pf_json_str(pf_json_get(ct, "cost-mode"), &ml);
    const char *metric = pf_json_str(pf_json_get(ct, "cost-metric"), &kl);
    if (!mode || (strcmp(mode, "numerical") != 0 && strcmp(mode, "ordinal") != 0) || ml != strlen(mode))
        return refuse(L, PF_ERR_PARSE,
                      "cost map: meta: \"cost-type\": \"cost-mode\" must be \"numerical\" or \"ordinal\"");
    if (!metric || !name_ok(metric, kl, METRIC_MAX))
        return refuse(L, PF_ERR_PARSE,
                      "cost map: meta: \"cost-type\": \"cost-metric\" must be 1-32 of A-Z a-z 0-9 - : @ _ .");
    memcpy(m->mode, mode, ml + 1);
    memcpy(m->metric, metric, kl + 1);
    return 0;
}

static int load_costmap(loader *L, const pf_json *root)
{
    pf_alto_map *m = L->m;
    int rc = cost_meta(L, pf_json_get(root, "meta"));
    if (rc) return rc;
    const pf_json *cm = pf_json_get(root, "cost-map");
    char qa[Q], qb[Q];
    if (pf_json_type(cm) != PF_JSON_OBJECT)
        return refuse(L, PF_ERR_PARSE, "cost map: \"cost-map\": an object expected, not %s",
                      pf_json_kind_name(pf_json_type(cm)));
    size_t total = 0;
    m->row = pf__calloc(NULL, m->npids + 1, sizeof *m->row);
    if (!m->row) return refuse(L, PF_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < pf_json_len(cm); i++) {
        size_t sl;
        const char *src = pf_json_key(cm, i, &sl);
        const pf_json *r = pf_json_member(cm, i);
        int s = pid_by_name(L, src, sl);
        if (s < 0)
            return refuse(L, PF_ERR_PARSE, "cost-map: \"%s\": not a PID of the network map", quote(qa, src, sl));
        if (pf_json_type(r) != PF_JSON_OBJECT)
            return refuse(L, PF_ERR_PARSE, "cost-map: \"%s\": an object expected, not %s", src,
                          pf_json_kind_name(pf_json_type(r)));
        m->row[s + 1] = (uint32_t)pf_json_len(r);
        total += pf_json_len(r);
    }
    for (size_t i = 0; i < m->npids; i++) m->row[i + 1] += m->row[i];
    m->cost = pf__malloc(NULL, (total ? total : 1) * sizeof *m->cost);
    if (!m->cost) return refuse(L, PF_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < pf_json_len(cm); i++) {
        size_t sl;
        const char *src = pf_json_key(cm, i, &sl);
        const pf_json *r = pf_json_member(cm, i);
        int s = pid_by_name(L, src, sl);
        centry *e = m->cost + m->row[s];
        for (size_t j = 0; j < pf_json_len(r); j++) {
            size_t dl;
            const char *dst = pf_json_key(r, j, &dl);
            int d = pid_by_name(L, dst, dl);
            double v;
            if (d < 0)
                return refuse(L, PF_ERR_PARSE, "cost-map: \"%s\": \"%s\": not a PID of the network map", src,
                              quote(qb, dst, dl));
            int nrc = pf_json_num(pf_json_member(r, j), &v);
            if (nrc == PF_ERR_INVAL)
                return refuse(L, PF_ERR_PARSE, "cost-map: \"%s\": \"%s\": a number expected, not %s", src, dst,
                              pf_json_kind_name(pf_json_type(pf_json_member(r, j))));
            if (nrc)
                return refuse(L, PF_ERR_PARSE, "cost-map: \"%s\": \"%s\": cost out of range", src, dst);
            e[j].dst = (uint32_t)d;
            e[j].cost = v;
        }
        qsort(e, pf_json_len(r), sizeof *e, centry_cmp);
    }
    m->has_cost = 1;
    return 0;
}

/* Loading ---------------------------------------------------------------------- */
int pf_alto_load(const char *netmap, size_t n1, const char *costmap, size_t n2, pf_alto_map **out, char *why,
                 size_t whylen)
{
    loader L;
    memset(&L, 0, sizeof L);
    L.why = why;
    L.whylen = whylen;
    *out = NULL;
    if (why && whylen) why[0] = 0;
    if (!netmap) return refuse(&L, PF_ERR_INVAL, "no network map");
    L.m = pf__calloc(NULL, 1, sizeof *L.m);
    if (!L.m) return refuse(&L, PF_ERR_NOMEM, "out of memory");
    pf_json_doc *nd = NULL, *cd = NULL;
    int rc = parse_json(&L, "network map", netmap, n1, &nd);
    if (!rc) rc = load_netmap(&L, pf_json_root(nd));
    if (!rc && costmap) rc = parse_json(&L, "cost map", costmap, n2, &cd);
    if (!rc && costmap) rc = load_costmap(&L, pf_json_root(cd));
    pf_json_free(nd);
    pf_json_free(cd);
    for (int f = 0; f < 2; f++) pf__free(NULL, L.items[f]);
    pf__free(NULL, L.by_name);
    if (rc) {
        pf_alto_free(L.m);
        return rc;
    }
    *out = L.m;
    return 0;
}

void pf_alto_free(pf_alto_map *m)
{
    if (!m) return;
    for (int f = 0; f < 2; f++) {
        pf__free(NULL, m->fam[f].start);
        pf__free(NULL, m->fam[f].pid);
    }
    pf__free(NULL, m->names);
    pf__free(NULL, m->nets);
    pf__free(NULL, m->net_row);
    pf__free(NULL, m->row);
    pf__free(NULL, m->cost);
    pf__free(NULL, m);
}

/* Lookups ---------------------------------------------------------------------- */
int pf_alto_pid(const pf_alto_map *m, const pf_addr *a)
{
    key128 k;
    int f = m && a ? addr_key(a, &k) : -1;
    if (f < 0) return -1;
    const ranges *r = &m->fam[f];
    size_t lo = 0, hi = r->n; /* the last start <= k is at lo - 1 */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (key_cmp(r->start[mid], k) <= 0) lo = mid + 1;
        else hi = mid;
    }
    return lo ? r->pid[lo - 1] : -1;
}

size_t pf_alto_npids(const pf_alto_map *m) { return m ? m->npids : 0; }

const char *pf_alto_pid_name(const pf_alto_map *m, int i)
{
    return m && i >= 0 && (size_t)i < m->npids ? m->names[i] : NULL;
}

double pf_alto_cost(const pf_alto_map *m, int from, int to)
{
    if (!m || from < 0 || to < 0 || (size_t)from >= m->npids || (size_t)to >= m->npids) return INFINITY;
    if (!m->has_cost) return from == to ? 0 : 1;
    size_t lo = m->row[from], hi = m->row[from + 1];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->cost[mid].dst == (uint32_t)to) return m->cost[mid].cost;
        if (m->cost[mid].dst < (uint32_t)to) lo = mid + 1;
        else hi = mid;
    }
    return INFINITY;
}

const char *pf_alto_resource_id(const pf_alto_map *m) { return m ? m->resource_id : NULL; }
const char *pf_alto_tag(const pf_alto_map *m) { return m ? m->tag : NULL; }
const char *pf_alto_cost_metric(const pf_alto_map *m) { return m && m->has_cost ? m->metric : NULL; }
const char *pf_alto_cost_mode(const pf_alto_map *m) { return m && m->has_cost ? m->mode : NULL; }
size_t pf_alto_nprefixes(const pf_alto_map *m) { return m ? m->nprefixes : 0; }

size_t pf_alto_pid_nets(const pf_alto_map *m, int pid, pf_net *out, size_t max)
{
    if (!m || pid < 0 || (size_t)pid >= m->npids) return 0;
    size_t n = m->net_row[pid + 1] - m->net_row[pid];
    for (size_t i = 0; i < n && i < max; i++) out[i] = m->nets[m->net_row[pid] + i];
    return n;
}
