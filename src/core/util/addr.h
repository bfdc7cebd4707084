/* Helpers for pf_addr, pf_net and pf_endpoint (include/peerflow/peerflow.h). */
#ifndef PF_CORE_ADDR_H
#define PF_CORE_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "peerflow/peerflow.h"


/* The address bytes of a and b (same family) are equal.  Fixed-size
 * compares the compiler inlines: a memcmp of a size known only at run
 * time is a libc call, and the candidate list's scan makes one per entry
 * (13% of the simulator's time at 10,000 viewers). */
static inline int pf__ip_eq(const pf_addr *a, const pf_addr *b)
{
    if (a->family == 4) {
        uint32_t x, y;
        memcpy(&x, a->ip, 4);
        memcpy(&y, b->ip, 4);
        return x == y;
    }
    return memcmp(a->ip, b->ip, 16) == 0;
}

static inline int pf_addr_eq(const pf_addr *a, const pf_addr *b)
{
    return a->family == b->family && a->port == b->port && pf__ip_eq(a, b);
}

/* Same host (ports aside). */
static inline int pf_addr_same_host(const pf_addr *a, const pf_addr *b)
{
    return a->family == b->family && pf__ip_eq(a, b);
}

/* Same peer: endpoints name one peer when address and port agree, over
 * whichever transport (a peer reachable by TCP and uTP is one peer). */
static inline int pf_endpoint_same_peer(const pf_endpoint *a, const pf_endpoint *b)
{
    return pf_addr_eq(&a->addr, &b->addr);
}

static inline const char *pf_transport_name(int t)
{
    return t == PF_TRANSPORT_TCP ? "tcp" : t == PF_TRANSPORT_UTP ? "utp" : t == PF_TRANSPORT_WEBRTC ? "webrtc" : "any";
}


static inline int pf_net_contains(const pf_net *n, const pf_addr *a)
{
    if (n->family != a->family) return 0;
    uint32_t full = n->bits / 8u, rest = n->bits % 8u;
    if (memcmp(n->ip, a->ip, full) != 0) return 0;
    if (rest == 0) return 1;
    uint8_t mask = (uint8_t)(0xFFu << (8u - rest));
    return (n->ip[full] & mask) == (a->ip[full] & mask);
}

/* "1.2.3.4:6881" or "[::1]:6881" into out (at least 64 bytes). */
void pf_addr_format(const pf_addr *a, char *out, size_t outlen);
/* Parses "1.2.3.4:6881", "[::1]:6881"; returns 0 or PF_ERR_PARSE. */
int pf_addr_parse(const char *s, pf_addr *out);

#endif
