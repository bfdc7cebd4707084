/* uTP as a peer's transport (BEP 29, core/utp): the session owns one
 * pf_utp_ctx on its datagrams, and a peer whose transport is uTP never
 * reaches the caller as a stream.  Its bytes in come from the context's
 * read callback into pf_peer_recv; its output goes from pf_peer_take_output
 * into pf_utp_write (what the send buffer does not take waits in
 * p->utp_out until the writable callback); its close is pf_utp_close; its
 * end is the closed callback.  A peer is freed only from the session's
 * own entry points (pf__utp_reap), never inside a uTP callback, since the
 * engine may still be using it further up the stack.
 *
 * Connection policy (pf_session_settings.transports): a candidate of no
 * stated transport is dialled by every enabled one at once; the first to
 * finish its handshake wins and the other is closed as a duplicate, except
 * that with prefer_utp a uTP connection replaces a TCP one (libtorrent's
 * rule: uTP yields to the household's own traffic). */
#include <string.h>

#include "core/swarm/swarm.h"
#include "core/util/mem.h"

#define PEER_OF_UD(c) ((pf_peer *)pf_utp_ud(c))

static void link_send(void *ud, const pf_addr *to, const uint8_t *pkt, size_t n)
{
    pf_session *s = ud;
    pf__session_send_datagram(s, to, pkt, n);
}

/* A window's burst is paced by the datagram queue (the caller drains it
 * into its socket) instead of being dropped at its end; a few slots stay
 * free for ACKs and tracker packets. */
static int link_can_send(void *ud)
{
    pf_session *s = ud;
    uint32_t cap = s->dg_cap ? s->dg_cap : PF__DGRAM_QUEUE;
    if (s->dg_len + 8 < cap) return 1;
    s->dg_blocked = 1;
    return 0;
}

static void link_accept(void *ud, pf_utp_conn *c)
{
    pf_session *s = ud;
    pf_endpoint ep = {.addr = *pf_utp_peer(c), .transport = PF_TRANSPORT_UTP};
    pf_peer *p = pf_session_accept(s, &ep, s->now);
    if (!p) {
        pf_utp_close(c, s->now); /* refused: a RESET goes back */
        return;
    }
    p->utp = c;
    pf_utp_set_ud(c, p);
}

static void link_connected(void *ud, pf_utp_conn *c)
{
    pf_session *s = ud;
    pf_peer *p = PEER_OF_UD(c);
    if (p) pf_peer_connected(p, s->now);
}

static void link_read(void *ud, pf_utp_conn *c, const uint8_t *data, size_t n)
{
    pf_session *s = ud;
    pf_peer *p = PEER_OF_UD(c);
    if (!p || p->state == PF_PS_CLOSING) return;
    if (n == 0) { /* the peer's FIN */
        pf__peer_close(p, "closed by the peer");
        return;
    }
    long rc = pf_peer_recv(p, data, n, s->now);
    if (rc < 0 && p->state != PF_PS_CLOSING) pf__peer_close(p, pf_strerror((int)rc));
}

static void link_writable(void *ud, pf_utp_conn *c)
{
    (void)ud;
    pf_peer *p = PEER_OF_UD(c);
    if (p) pf__utp_flush_peer(p);
}

static void link_closed(void *ud, pf_utp_conn *c, int err)
{
    pf_session *s = ud;
    pf_peer *p = PEER_OF_UD(c);
    (void)err;
    if (!p) return;
    pf_utp_set_ud(c, NULL);
    p->utp = NULL;
    /* Freed at the end of the session's entry point, not under the
     * engine's feet: the dead list is bounded by the connections. */
    p->utp_dead_next = s->utp_dead;
    s->utp_dead = p;
}

static const pf_utp_callbacks link_cb = {
    .send = link_send,
    .can_send = link_can_send,
    .accept = link_accept,
    .connected = link_connected,
    .read = link_read,
    .writable = link_writable,
    .closed = link_closed,
};

int pf__utp_init(pf_session *s)
{
    if (!(s->set.transports & PF_TRANSPORTS_UTP)) return 0;
    pf_utp_settings us;
    pf_utp_settings_default(&us);
    if (s->set.utp_target_delay_us) us.target_delay_us = s->set.utp_target_delay_us;
    /* As the client's TCP_NOTSENT_LOWAT: a block in uTP's send buffer can no
     * longer be cancelled, and on a 1 Mbit/s uplink its 1 MiB is 8 s of
     * data that arrives after the CDN raced it.  The peer keeps the rest. */
    us.notsent_lowat = 16u << 10;
    us.seed = pf_rand_next(&s->rng);
    us.log = s->set.log;
    us.log_ud = s->set.log_ud;
    us.log_level = s->set.log_level;
    s->utp = pf_utp_ctx_new(s->mem, &us, &link_cb, s);
    return s->utp ? 0 : PF_ERR_NOMEM;
}

void pf__utp_free(pf_session *s)
{
    if (!s->utp) return;
    pf_utp_ctx_free(s->utp);
    s->utp = NULL;
}

int pf__utp_dial(pf_peer *p, uint64_t now)
{
    pf_session *s = p->s;
    if (!s->utp) return PF_ERR_UNSUPPORTED;
    pf_utp_conn *c = pf_utp_connect(s->utp, &p->addr, now);
    if (!c) return PF_ERR_LIMIT;
    p->utp = c;
    pf_utp_set_ud(c, p);
    return 0;
}

void pf__utp_flush_peer(pf_peer *p)
{
    pf_session *s = p->s;
    /* Re-entered from pf_peer_sent (which may serve more): the loop below
     * takes whatever was queued meanwhile. */
    if (!p->utp || p->utp_flushing) return;
    p->utp_flushing = 1;
    /* Until the peer has nothing queued or the connection's send buffer
     * is full (its writable callback brings us back).  Whatever the peer
     * queued while the buffer was full is taken here too, not only what
     * a call made during this flush queued: the output of a serve that
     * ran while we were waiting would otherwise wait forever. */
    for (;;) {
        if (pf_buf_unread(&p->utp_out) == 0) {
            pf_buf_free(&p->utp_out);
            p->write_queued = 0;
            if (pf_peer_take_output(p, &p->utp_out) == 0) break;
        }
        while (p->utp && pf_buf_unread(&p->utp_out) > 0) {
            long n = pf_utp_write(p->utp, pf_buf_head(&p->utp_out), pf_buf_unread(&p->utp_out), s->now);
            if (n <= 0) break; /* full: the writable callback comes back */
            pf_buf_consume(&p->utp_out, (size_t)n);
            pf_peer_sent(p, (size_t)n, s->now); /* may queue more */
        }
        if (!p->utp || pf_buf_unread(&p->utp_out) > 0) break;
    }
    p->utp_flushing = 0;
}

void pf__utp_detach(pf_peer *p)
{
    if (p->utp) pf_utp_set_ud(p->utp, NULL);
    p->utp = NULL;
}

void pf__utp_close_peer(pf_peer *p)
{
    if (p->utp) pf_utp_close(p->utp, p->s->now);
}

void pf__utp_reap(pf_session *s)
{
    while (s->utp_dead) {
        pf_peer *p = s->utp_dead;
        s->utp_dead = p->utp_dead_next;
        pf_peer_closed(p, s->now);
    }
}

int pf__utp_datagram(pf_session *s, const pf_addr *from, const uint8_t *data, size_t n, uint64_t now)
{
    if (!s->utp) return 0;
    /* ACKs wait for the end of the caller's batch (pf_session_flush_datagrams):
     * one per batch instead of one per packet. */
    int taken = pf_utp_recv(s->utp, from, data, n, now);
    pf__utp_reap(s);
    return taken;
}

void pf__utp_flush(pf_session *s, uint64_t now)
{
    if (!s->utp) return;
    s->dg_blocked = 0;
    pf_utp_flush(s->utp, now);
    pf__utp_reap(s);
}
