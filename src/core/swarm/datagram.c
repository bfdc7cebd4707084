/* The session's datagrams: one UDP socket, owned by the caller, carries
 * every protocol that runs over UDP (BEP 29 uTP, BEP 15 trackers).  Out:
 * a bounded queue the caller drains (pf_session_take_datagram) when
 * PF_EV_DATAGRAMS says it is not empty.  In: each datagram goes to the
 * protocol that claims it; the rest is dropped and counted. */
#include <string.h>

#include "core/swarm/swarm.h"
#include "core/util/mem.h"

typedef struct pf__dgram {
    pf_addr to;
    uint16_t len;
    uint8_t data[PF_MAX_DATAGRAM];
} pf__dgram;

int pf__session_send_datagram(pf_session *s, const pf_addr *to, const uint8_t *data, size_t n)
{
    if (n == 0 || n > PF_MAX_DATAGRAM) return PF_ERR_INVAL;
    if (!s->dgrams) {
        s->dgrams = pf__calloc(s->mem, PF__DGRAM_QUEUE, sizeof *s->dgrams);
        if (!s->dgrams) return PF_ERR_NOMEM;
        s->dg_cap = PF__DGRAM_QUEUE;
    }
    if (s->dg_len == s->dg_cap) {
        s->dg_dropped_out++;
        return PF_ERR_LIMIT;
    }
    pf__dgram *d = &s->dgrams[(s->dg_head + s->dg_len) % s->dg_cap];
    d->to = *to;
    d->len = (uint16_t)n;
    memcpy(d->data, data, n);
    if (s->dg_len++ == 0) {
        pf_event ev = {.type = PF_EV_DATAGRAMS};
        pf__emit(s, &ev);
    }
    return 0;
}

long pf_session_take_datagram(pf_session *s, pf_addr *to, uint8_t *buf, size_t cap)
{
    if (!s->dg_len) return 0;
    pf__dgram *d = &s->dgrams[s->dg_head];
    if (cap < d->len) return PF_ERR_RANGE;
    memcpy(buf, d->data, d->len);
    *to = d->to;
    long n = d->len;
    s->dg_head = (s->dg_head + 1) % s->dg_cap;
    s->dg_len--;
    /* uTP data held back for a full queue goes out once it is half empty */
    if (s->dg_blocked && s->dg_len <= s->dg_cap / 2) pf__utp_flush(s, s->now);
    return n;
}

void pf_session_flush_datagrams(pf_session *s, uint64_t now)
{
    if (now > s->now) s->now = now;
    pf__utp_flush(s, s->now);
}

int pf_session_recv_datagram(pf_session *s, const pf_addr *from, const uint8_t *data, size_t n, uint64_t now)
{
    s->dg_received++;
    if (!data || n == 0 || n > 65535) {
        s->dg_dropped_in++;
        return PF_ERR_PARSE;
    }
    /* BEP 15 tracker replies (matched by address and transaction id);
     * uTP (BEP 29) will claim its own here. */
    if (now > s->now) s->now = now;
    if (pf__announce_udp_in(s, from, data, n, now)) return 0;
    if (pf__utp_datagram(s, from, data, n, now)) return 0;
    s->dg_dropped_in++;
    return PF_ERR_UNSUPPORTED;
}

void pf_session_datagram_stats(const pf_session *s, pf_datagram_stats *out)
{
    memset(out, 0, sizeof *out);
    out->received = s->dg_received;
    out->dropped_in = s->dg_dropped_in;
    out->dropped_out = s->dg_dropped_out;
    if (s->utp) {
        pf_utp_ctx_stats us;
        pf_utp_ctx_stats_get(s->utp, &us);
        out->utp_invalid = us.invalid;
    }
}

void pf__datagrams_free(pf_session *s)
{
    pf__free(s->mem, s->dgrams);
    s->dgrams = NULL;
    s->dg_len = s->dg_cap = s->dg_head = 0;
}
