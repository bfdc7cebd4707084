/* A peer address, IPv4 or IPv6, as plain bytes (no socket headers). */
#ifndef PF_CORE_ADDR_H
#define PF_CORE_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct pf_addr {
    uint8_t family; /* 4 or 6; 0 = unset */
    uint8_t ip[16]; /* IPv4 in the first 4 bytes */
    uint16_t port;  /* host order */
} pf_addr;

static inline int pf_addr_eq(const pf_addr *a, const pf_addr *b)
{
    return a->family == b->family && a->port == b->port &&
           memcmp(a->ip, b->ip, a->family == 4 ? 4 : 16) == 0;
}

/* A network: the first `bits` bits of ip (IPv4 in the first 4 bytes). */
typedef struct pf_net {
    uint8_t family; /* 4 or 6 */
    uint8_t bits;   /* prefix length: 0-32 or 0-128 */
    uint8_t ip[16];
} pf_net;

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
