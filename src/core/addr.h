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

/* "1.2.3.4:6881" or "[::1]:6881" into out (at least 64 bytes). */
void pf_addr_format(const pf_addr *a, char *out, size_t outlen);
/* Parses "1.2.3.4:6881", "[::1]:6881"; returns 0 or PF_ERR_PARSE. */
int pf_addr_parse(const char *s, pf_addr *out);

#endif
