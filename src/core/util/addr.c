/* Peer address formatting and parsing (pure; no sockets). */
#include "core/util/addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>

#include "peerflow/peerflow.h"

void pf_addr_format(const pf_addr *a, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN];
    if (outlen == 0) return;
    if (a->family == 4 && inet_ntop(AF_INET, a->ip, ip, sizeof ip)) {
        snprintf(out, outlen, "%s:%u", ip, (unsigned)a->port);
    } else if (a->family == 6 && inet_ntop(AF_INET6, a->ip, ip, sizeof ip)) {
        snprintf(out, outlen, "[%s]:%u", ip, (unsigned)a->port);
    } else {
        snprintf(out, outlen, "?");
    }
}

/* Decimal port 0..65535, digits only, no sign, at most 5 digits. */
static int parse_port(const char *s, uint16_t *out)
{
    uint32_t v = 0;
    size_t n = 0;
    for (; s[n]; n++) {
        if (s[n] < '0' || s[n] > '9' || n >= 5) return PF_ERR_PARSE;
        v = v * 10 + (uint32_t)(s[n] - '0');
    }
    if (n == 0 || v > 65535) return PF_ERR_PARSE;
    *out = (uint16_t)v;
    return 0;
}

int pf_addr_parse(const char *s, pf_addr *out)
{
    char host[INET6_ADDRSTRLEN + 1];
    pf_addr a;
    memset(&a, 0, sizeof a);
    if (!s || !out) return PF_ERR_PARSE;
    const char *port;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':') return PF_ERR_PARSE;
        size_t n = (size_t)(end - s - 1);
        if (n == 0 || n >= sizeof host) return PF_ERR_PARSE;
        memcpy(host, s + 1, n);
        host[n] = 0;
        if (inet_pton(AF_INET6, host, a.ip) != 1) return PF_ERR_PARSE;
        a.family = 6;
        port = end + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon) return PF_ERR_PARSE;
        size_t n = (size_t)(colon - s);
        if (n == 0 || n >= sizeof host) return PF_ERR_PARSE;
        memcpy(host, s, n);
        host[n] = 0;
        if (inet_pton(AF_INET, host, a.ip) != 1) return PF_ERR_PARSE;
        a.family = 4;
        port = colon + 1;
    }
    if (parse_port(port, &a.port) != 0) return PF_ERR_PARSE;
    *out = a;
    return 0;
}
