/* When the session next needs pf_session_tick: its real next deadline
 * (ngtcp2's get_expiry), so that an idle session sleeps and a busy one
 * keeps its pipelines and the stream scheduler fresh.
 *   - a quarter second while anything is under way: a stream being
 *     scheduled, blocks asked of or for a peer, bytes waiting to be
 *     written, a costly fetch, a check, a magnet's metadata, a rate cap's
 *     buckets to refill (the cadence every measured number was made at);
 *   - a second while peers are connected and idle (rates decay, choke
 *     rounds, keep-alives, time-outs: none needs better than a second);
 *   - otherwise the earliest of its explicit timers (announces, dials of
 *     candidates, UDP tracker requests to retry), and at most a few
 *     seconds.
 * Explicit timers due sooner always win, to the millisecond. */
#include "core/swarm/swarm.h"

#define PF__BUSY_NS (250 * PF_NS_PER_MS)
#define PF__IDLE_NS (1000 * PF_NS_PER_MS)
#define PF__QUIET_NS (5000 * PF_NS_PER_MS)

static int peer_busy(const pf_peer *p)
{
    return p->nreqs || p->inq_len || p->net_inflight || pf_buf_unread(&p->out) || p->state == PF_PS_CONNECTING ||
           p->meta_req >= 0;
}

static int torrent_busy(const pf_torrent *t)
{
    if (t->stopped) return 0;
    if (t->state == PF_TS_CHECKING || t->state == PF_TS_METADATA) return 1;
    if (t->nstreams && t->state == PF_TS_DOWNLOADING) return 1;
    if (t->startup_hold || t->jobs_inflight) return 1;
    uint32_t it;
    PF_SRC_FOREACH((pf_torrent *)t, q, it)
    if (q->ops->inflight(q)) return 1;
    for (uint32_t i = 0; i < t->npeers; i++)
        if (peer_busy(t->peers[i])) return 1;
    return 0;
}

/* The earliest explicit timer of t after `after` (UINT64_MAX: none). */
static uint64_t torrent_timer(const pf_torrent *t, uint64_t after)
{
    uint64_t next = UINT64_MAX;
    if (t->stopped) return next;
    for (uint32_t i = 0; i < t->ntrackers; i++) {
        const pf__tracker *tr = &t->trackers[i];
        if (!tr->busy && tr->next_announce > after && tr->next_announce < next) next = tr->next_announce;
        if (!tr->busy && tr->next_announce <= after) next = after; /* due now */
        if (tr->busy && tr->udp && tr->udp_deadline < next) next = tr->udp_deadline > after ? tr->udp_deadline : after;
    }
    if (t->qoe_stream[0] && !t->qoe_final && !t->qoe_inflight) /* the next QoE report */
        next = t->qoe_next > after ? (t->qoe_next < next ? t->qoe_next : next) : after;
    if (t->npeers < t->s->set.max_peers)
        for (uint32_t i = 0; i < t->ncands; i++) {
            const pf__candidate *c = &t->cands[i];
            /* Those dial_more passes over are no reason to wake: a given-up
             * candidate, or a seed while we seed, once due, asked for a
             * tick every millisecond for as long as we had room for peers. */
            if (c->connected || c->fails >= PF__DIAL_GIVE_UP || (c->seed && t->state == PF_TS_SEEDING)) continue;
            uint64_t at = c->next_try > after ? c->next_try : after;
            if (at < next) next = at;
        }
    return next;
}

uint64_t pf_session_next_timeout(const pf_session *s, uint64_t now)
{
    uint64_t base = s->last_tick && s->last_tick <= now ? s->last_tick : now;
    int busy = 0, connected = s->npending > 0;
    uint64_t timer = UINT64_MAX;
    for (uint32_t i = 0; i < s->ntorrents; i++) {
        const pf_torrent *t = s->torrents[i];
        if (torrent_busy(t)) busy = 1;
        if (t->npeers) connected = 1;
        uint64_t tt = torrent_timer(t, now);
        if (tt < timer) timer = tt;
    }
    uint64_t next = base + (busy ? PF__BUSY_NS : connected ? PF__IDLE_NS : PF__QUIET_NS);
    if (timer < next) next = timer;
    if (s->utp) {
        uint64_t u = pf_utp_next_timeout(s->utp, now);
        if (u < next) next = u;
    }
    if (next < now + PF_NS_PER_MS) next = now + PF_NS_PER_MS;
    return next;
}
