/* Trusted proxies: CIDR networks and the client's address from
 * X-Forwarded-For / Forwarded (see proxy.h). */
#include "core/tracker/proxy.h"

#include <arpa/inet.h>
#include <string.h>

#include "peerflow/peerflow.h"

#define TEXT_MAX 64 /* longest address text we take: INET6_ADDRSTRLEN + "/128" */

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static int is_space(char c) { return c == ' ' || c == '\t'; }

static void trim(const char **s, size_t *n)
{
    while (*n && is_space(**s)) (*s)++, (*n)--;
    while (*n && is_space((*s)[*n - 1])) (*n)--;
}

/* An IPv4 or IPv6 literal (no brackets, no port) into ip; 4, 6 or 0. */
static int ip_parse(const char *s, size_t n, uint8_t ip[16])
{
    char text[TEXT_MAX];
    if (n == 0 || n >= sizeof text) return 0;
    memcpy(text, s, n);
    text[n] = 0;
    memset(ip, 0, 16);
    if (memchr(text, ':', n)) return inet_pton(AF_INET6, text, ip) == 1 ? 6 : 0;
    return inet_pton(AF_INET, text, ip) == 1 ? 4 : 0;
}

int pf__cidr_parse(const char *s, size_t n, pf_net *out)
{
    const char *slash = s ? memchr(s, '/', n) : NULL;
    size_t alen = slash ? (size_t)(slash - s) : n;
    pf_net net;
    memset(&net, 0, sizeof net);
    if (!s) return PF_ERR_PARSE;
    int fam = ip_parse(s, alen, net.ip);
    if (!fam) return PF_ERR_PARSE;
    unsigned width = fam == 4 ? 32 : 128, bits = width;
    if (slash) {
        const char *d = slash + 1;
        size_t dn = n - alen - 1;
        if (dn == 0 || dn > 3) return PF_ERR_PARSE;
        bits = 0;
        for (size_t i = 0; i < dn; i++) {
            if (d[i] < '0' || d[i] > '9') return PF_ERR_PARSE;
            bits = bits * 10 + (unsigned)(d[i] - '0');
        }
        if (bits > width) return PF_ERR_PARSE;
    }
    net.family = (uint8_t)fam;
    net.bits = (uint8_t)bits;
    /* ::ffff:a.b.c.d/N names IPv4 addresses, which is how sockets report
     * them here. */
    if (fam == 6 && bits >= 96 && memcmp(net.ip, v4mapped, 12) == 0) {
        memmove(net.ip, net.ip + 12, 4);
        memset(net.ip + 4, 0, 12);
        net.family = 4;
        net.bits = (uint8_t)(bits - 96);
    }
    *out = net;
    return 0;
}

/* A port after an address: digits (at most 5) or an obfuscated token
 * ("_abc", RFC 7239 section 6.3). */
static int port_ok(const char *s, size_t n)
{
    if (n == 0 || n > 16) return 0;
    if (s[0] == '_') {
        for (size_t i = 1; i < n; i++) {
            char c = s[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-'))
                return 0;
        }
        return 1;
    }
    if (n > 5) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

int pf__fwd_hop_parse(const char *s, size_t n, pf_addr *out)
{
    if (!s) return PF_ERR_PARSE;
    trim(&s, &n);
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s++;
        n -= 2;
    }
    pf_addr a;
    memset(&a, 0, sizeof a);
    int fam = 0;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close) return PF_ERR_PARSE;
        size_t rest = n - (size_t)(close - s) - 1;
        if (rest && (close[1] != ':' || !port_ok(close + 2, rest - 1))) return PF_ERR_PARSE;
        fam = ip_parse(s + 1, (size_t)(close - s) - 1, a.ip);
        if (fam != 6) return PF_ERR_PARSE;
    } else {
        const char *c1 = memchr(s, ':', n);
        const char *c2 = c1 ? memchr(c1 + 1, ':', n - (size_t)(c1 - s) - 1) : NULL;
        if (c1 && !c2) { /* a.b.c.d:port */
            if (!port_ok(c1 + 1, n - (size_t)(c1 - s) - 1)) return PF_ERR_PARSE;
            fam = ip_parse(s, (size_t)(c1 - s), a.ip);
            if (fam != 4) return PF_ERR_PARSE;
        } else {
            fam = ip_parse(s, n, a.ip); /* a.b.c.d or a bare IPv6 */
        }
    }
    if (!fam) return PF_ERR_PARSE;
    a.family = (uint8_t)fam;
    if (fam == 6 && memcmp(a.ip, v4mapped, 12) == 0) {
        memmove(a.ip, a.ip + 12, 4);
        memset(a.ip + 4, 0, 12);
        a.family = 4;
    }
    *out = a;
    return 0;
}

int pf__nets_contain(const pf_net *nets, size_t n, const pf_addr *a)
{
    for (size_t i = 0; i < n; i++)
        if (pf_net_contains(&nets[i], a)) return 1;
    return 0;
}

/* The last PF_FWD_MAX_HOPS hops of the header(s), oldest first. */
typedef struct hops {
    pf_addr a[PF_FWD_MAX_HOPS];
    uint8_t ok[PF_FWD_MAX_HOPS];
    size_t n, first; /* a ring: n used, first = index of the oldest */
    int dropped;     /* hops older than the ring holds were seen */
} hops;

static void hops_push(hops *h, const pf_addr *a, int ok)
{
    size_t i;
    if (h->n < PF_FWD_MAX_HOPS) {
        i = (h->first + h->n++) % PF_FWD_MAX_HOPS;
    } else {
        i = h->first;
        h->first = (h->first + 1) % PF_FWD_MAX_HOPS;
        h->dropped = 1;
    }
    if (ok) h->a[i] = *a;
    else memset(&h->a[i], 0, sizeof h->a[i]);
    h->ok[i] = (uint8_t)ok;
}

/* The address of one Forwarded element ("for=...;proto=..."): 1 and *a,
 * or 0 when it has no readable for= (obfuscated, "unknown", none). */
static int forwarded_for(const char *s, size_t n, pf_addr *a)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        int q = 0;
        while (j < n && (q || s[j] != ';')) {
            if (s[j] == '"' && (j == i || s[j - 1] != '\\')) q = !q;
            j++;
        }
        const char *p = s + i;
        size_t pn = j - i;
        trim(&p, &pn);
        if (pn > 4 && (p[0] | 0x20) == 'f' && (p[1] | 0x20) == 'o' && (p[2] | 0x20) == 'r' &&
            p[3] == '=')
            return pf__fwd_hop_parse(p + 4, pn - 4, a) == 0;
        i = j + 1;
    }
    return 0;
}

/* Splits one header value at commas outside quoted strings. */
static void hops_from_value(hops *h, pf_fwd_header which, const char *v, size_t n)
{
    size_t i = 0;
    if (!v) return;
    while (i <= n) {
        size_t j = i;
        int q = 0;
        while (j < n && (q || v[j] != ',')) {
            if (v[j] == '"' && (j == i || v[j - 1] != '\\')) q = !q;
            j++;
        }
        const char *e = v + i;
        size_t en = j - i;
        trim(&e, &en);
        if (en > 0) { /* empty list elements are allowed and skipped */
            pf_addr a;
            int ok = which == PF_FWD_FORWARDED ? forwarded_for(e, en, &a)
                                               : pf__fwd_hop_parse(e, en, &a) == 0;
            hops_push(h, &a, ok);
        }
        i = j + 1;
    }
}

static pf_addr addr_norm(const pf_addr *a)
{
    pf_addr r;
    memset(&r, 0, sizeof r);
    if (a->family == 6 && memcmp(a->ip, v4mapped, 12) == 0) {
        r.family = 4;
        memcpy(r.ip, a->ip + 12, 4);
    } else if (a->family == 4 || a->family == 6) {
        r.family = a->family;
        memcpy(r.ip, a->ip, a->family == 4 ? 4 : 16);
    }
    return r;
}

int pf__fwd_client(const pf_net *nets, size_t nnets, pf_fwd_header which,
                   const pf_http_request *req, const pf_addr *remote, pf_addr *client)
{
    pf_addr cur = addr_norm(remote);
    *client = cur;
    if (!nnets || !pf__nets_contain(nets, nnets, &cur)) return 0;
    const char *name = which == PF_FWD_FORWARDED ? "Forwarded" : "X-Forwarded-For";
    hops h;
    memset(&h, 0, sizeof h);
    /* Several lines of one header are one list, in order (RFC 9110 5.3). */
    for (size_t i = 0; req && i < req->num_headers; i++)
        if (pf_http_str_ieq(req->headers[i].name, name))
            hops_from_value(&h, which, req->headers[i].value.p, req->headers[i].value.len);
    for (size_t k = h.n; k-- > 0;) {
        size_t i = (h.first + k) % PF_FWD_MAX_HOPS;
        if (!h.ok[i]) return 0; /* unreadable: cur (trusted) vouches for nobody */
        *client = cur = h.a[i];
        if (!pf__nets_contain(nets, nnets, &cur)) return 0;
    }
    /* Every hop was a trusted proxy: the client is one of them, unless
     * older hops were dropped (then who it is, is not known). */
    return !h.dropped;
}
