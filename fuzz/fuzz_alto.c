/* Fuzz the ALTO map loader and its lookups (core/tracker/alto.c).
 * Input: a network map, then optionally a NUL byte and a cost map (JSON
 * holds no raw NUL, so the split is unambiguous).
 * Invariants: a refusal leaves no map and says why; a loaded map has
 * 1-4096 PIDs with names of RFC 7285's alphabet, keeps exactly the
 * distinct prefixes listed (and none of them in two PIDs), and answers
 * pf_alto_pid at the first and last address of listed prefixes and just
 * outside them (and at their v4-mapped IPv6 forms) exactly as a linear
 * scan of all listed prefixes for the longest one containing the address;
 * pf_alto_cost gives every cost-map entry as listed, +inf for pairs not
 * listed, 0/1 without a cost map. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec/json.h"
#include "core/tracker/alto.h"
#include "core/tracker/proxy.h"
#include "core/util/addr.h"
#include "fuzz_util.h"
#include "peerflow/peerflow.h"

typedef struct ref {
    pf_net net;
    int pid;
} ref;

static ref refs[PF_ALTO_MAX_PREFIXES];
static size_t nrefs;

static const pf_json *root_of(pf_json_doc **doc, const char *s, size_t n)
{
    pf_json_limits lim = {.max_depth = PF_ALTO_MAX_DEPTH, .max_nodes = PF_ALTO_MAX_JSON_NODES,
                          .max_len = PF_ALTO_MAX_FILE, .mem = NULL};
    if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) s += 3, n -= 3;
    if (pf_json_parse(s, n, &lim, doc, NULL, 0) != 0) abort(); /* the loader took it */
    return pf_json_root(*doc);
}

/* The longest listed prefix containing a: its PID, or -1. */
static int scan(const pf_addr *addr)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    pf_addr a = *addr;
    if (a.family == 6 && memcmp(a.ip, mapped, 12) == 0) { /* an IPv4 address */
        memmove(a.ip, a.ip + 12, 4);
        memset(a.ip + 4, 0, 12);
        a.family = 4;
    }
    int best = -1, pid = -1;
    for (size_t i = 0; i < nrefs; i++)
        if (pf_net_contains(&refs[i].net, &a) && refs[i].net.bits > best) best = refs[i].net.bits, pid = refs[i].pid;
    return pid;
}

static int net_cmp(const void *pa, const void *pb)
{
    const ref *a = pa, *b = pb;
    if (a->net.family != b->net.family) return a->net.family - b->net.family;
    if (a->net.bits != b->net.bits) return a->net.bits - b->net.bits;
    int c = memcmp(a->net.ip, b->net.ip, 16);
    return c ? c : a->pid - b->pid;
}

static void check_at(const pf_alto_map *m, const pf_addr *a)
{
    int want = scan(a), got = pf_alto_pid(m, a);
    if (got != want) {
        char s[80];
        pf_addr_format(a, s, sizeof s);
        fprintf(stderr, "%s: PID %d, a scan says %d\n", s, got, want);
        abort();
    }
    if (a->family == 4) { /* the same address, v4-mapped */
        pf_addr b;
        memset(&b, 0, sizeof b);
        b.family = 6;
        b.ip[10] = b.ip[11] = 0xff;
        memcpy(b.ip + 12, a->ip, 4);
        if (pf_alto_pid(m, &b) != want) abort();
    }
}

/* a +/- 1 within its family; 0 when it wraps. */
static int step(pf_addr *a, int up)
{
    for (int i = (a->family == 4 ? 4 : 16) - 1; i >= 0; i--) {
        if (up ? a->ip[i]++ != 0xff : a->ip[i]-- != 0) return 1;
    }
    return 0;
}

static void probe(const pf_alto_map *m, const pf_net *n)
{
    pf_addr first, last;
    memset(&first, 0, sizeof first);
    first.family = n->family;
    memcpy(first.ip, n->ip, 16);
    last = first;
    for (unsigned b = n->bits; b < (n->family == 4 ? 32u : 128u); b++) last.ip[b / 8] |= (uint8_t)(0x80 >> (b % 8));
    check_at(m, &first);
    check_at(m, &last);
    if (step(&first, 0)) check_at(m, &first);
    if (step(&last, 1)) check_at(m, &last);
}

static int pid_index(const pf_alto_map *m, const char *name, size_t n)
{
    for (size_t i = 0; i < pf_alto_npids(m); i++) {
        const char *p = pf_alto_pid_name(m, (int)i);
        if (strlen(p) == n && memcmp(p, name, n) == 0) return (int)i;
    }
    abort();
}

static void check_costs(const pf_alto_map *m, const char *cost, size_t n2)
{
    size_t np = pf_alto_npids(m);
    if (!cost) {
        for (size_t i = 0; i < np && i < 8; i++)
            for (size_t j = 0; j < np && j < 8; j++)
                if (pf_alto_cost(m, (int)i, (int)j) != (i == j ? 0 : 1)) abort();
        return;
    }
    pf_json_doc *d = NULL;
    const pf_json *cm = pf_json_get(root_of(&d, cost, n2), "cost-map");
    size_t listed = 0;
    for (size_t i = 0; i < pf_json_len(cm); i++) {
        size_t sl, dl;
        const char *src = pf_json_key(cm, i, &sl);
        const pf_json *row = pf_json_member(cm, i);
        int s = pid_index(m, src, sl);
        for (size_t j = 0; j < pf_json_len(row); j++) {
            const char *dst = pf_json_key(row, j, &dl);
            double v;
            if (pf_json_num(pf_json_member(row, j), &v) != 0) abort();
            if (pf_alto_cost(m, s, pid_index(m, dst, dl)) != v) abort();
            listed++;
        }
    }
    size_t inf = 0;
    for (size_t i = 0; i < np && np <= 64; i++)
        for (size_t j = 0; j < np; j++) inf += isinf(pf_alto_cost(m, (int)i, (int)j)) ? 1 : 0;
    if (np <= 64 && inf != np * np - listed) abort();
    if (!isinf(pf_alto_cost(m, -1, 0)) || !isinf(pf_alto_cost(m, 0, (int)np))) abort();
    pf_json_free(d);
}

static void check_map(const pf_alto_map *m, const char *net, size_t n1, const char *cost, size_t n2)
{
    size_t np = pf_alto_npids(m);
    if (np == 0 || np > PF_ALTO_MAX_PIDS || pf_alto_pid_name(m, (int)np) != NULL) abort();
    for (size_t i = 0; i < np; i++) {
        const char *p = pf_alto_pid_name(m, (int)i);
        size_t l = strlen(p);
        if (l == 0 || l > PF_ALTO_PID_NAME_MAX || strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                            "0123456789-:@_.") != l)
            abort();
    }
    pf_json_doc *d = NULL;
    const pf_json *nm = pf_json_get(root_of(&d, net, n1), "network-map");
    nrefs = 0;
    for (size_t i = 0; i < pf_json_len(nm); i++) {
        const pf_json *pid = pf_json_member(nm, i);
        for (size_t j = 0; j < pf_json_len(pid); j++) {
            const pf_json *list = pf_json_member(pid, j);
            for (size_t k = 0; k < pf_json_len(list); k++) {
                size_t sl;
                const char *s = pf_json_str(pf_json_at(list, k), &sl);
                if (!s || nrefs == PF_ALTO_MAX_PREFIXES || pf__cidr_parse(s, sl, &refs[nrefs].net) != 0) abort();
                refs[nrefs++].pid = (int)i;
            }
        }
    }
    pf_json_free(d);
    /* Distinct prefixes, none in two PIDs. */
    qsort(refs, nrefs, sizeof *refs, net_cmp);
    size_t distinct = 0, w = 0;
    for (size_t i = 0; i < nrefs; i++) {
        if (i && refs[i].net.family == refs[i - 1].net.family && refs[i].net.bits == refs[i - 1].net.bits &&
            memcmp(refs[i].net.ip, refs[i - 1].net.ip, 16) == 0) {
            if (refs[i].pid != refs[i - 1].pid) abort();
            continue;
        }
        distinct++;
        refs[w++] = refs[i];
    }
    nrefs = w;
    if (pf_alto_nprefixes(m) != distinct) abort();
    /* Lookups against a scan (fewer probes on a large map). */
    size_t every = nrefs / 64 + 1;
    for (size_t i = 0; i < nrefs; i += every) probe(m, &refs[i].net);
    check_costs(m, cost, n2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const uint8_t *rest;
    size_t n2, n1 = fz_split_nul(data, size, &rest, &n2);
    const char *cost = (const char *)rest;
    pf_alto_map *m = (pf_alto_map *)1;
    char why[300];
    int rc = pf_alto_load(s, n1, cost, n2, &m, why, sizeof why);
    if (rc) {
        if (m != NULL || why[0] == 0 || (rc != PF_ERR_PARSE && rc != PF_ERR_LIMIT)) abort();
        return 0;
    }
    check_map(m, s, n1, cost, n2);
    pf_alto_free(m);
    return 0;
}
