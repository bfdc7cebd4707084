/* The tracker's BEP 15 front (pf_tracker_handle_udp in tracker.h): one
 * datagram in, at most one reply out, on the swarms of tracker.c. */
#include "core/codec/udp_tracker.h"
#include "core/tracker/tracker.h"

#include <string.h>

/* Peers that fit one datagram on a 1,500-byte MTU without fragments:
 * (1500 - IP header - 8 UDP - 20 BEP 15) / entry. */
#define UDP_PEERS_V4 ((1500 - 20 - 8 - PF_UDPT_ANNOUNCE_HEAD) / 6) /* 242 */
#define UDP_PEERS_V6 ((1500 - 40 - 8 - PF_UDPT_ANNOUNCE_HEAD) / 18) /* 79 */

static size_t reply_error(pf_tracker *t, uint8_t *out, size_t cap, uint32_t tid, const char *msg)
{
    pf__tracker_counters(t)->udp_errors++;
    return pf_udpt_error_reply(out, cap, tid, msg);
}

static int event_of(uint32_t code)
{
    switch (code) {
    case PF_UDPT_EV_COMPLETED: return PF_TRACKER_EV_COMPLETED;
    case PF_UDPT_EV_STARTED: return PF_TRACKER_EV_STARTED;
    case PF_UDPT_EV_STOPPED: return PF_TRACKER_EV_STOPPED;
    default: return PF_TRACKER_EV_NONE; /* as HTTP treats an unknown event */
    }
}

static size_t udp_announce(pf_tracker *t, const pf_udpt_request *rq, const pf_addr *from,
                           uint64_t now, uint8_t *out, size_t cap)
{
    pf_tracker_stats *st = pf__tracker_counters(t);
    const pf_tracker_config *cfg = pf__tracker_config(t);
    st->announces++;
    if (rq->port == 0) {
        st->refused++;
        pf__tracker_refused(t, "invalid port");
        return reply_error(t, out, cap, rq->tid, "invalid port");
    }
    if (pf__tracker_needs_token(t)) { /* a BEP 15 announce has no room for one */
        static const char why[] = "missing token (announce over HTTP)";
        st->refused++;
        st->auth_refused++;
        pf__tracker_refused(t, why);
        return reply_error(t, out, cap, rq->tid, why);
    }
    pf__announce a;
    memset(&a, 0, sizeof a);
    a.info_hash = rq->info_hash;
    a.peer_id = rq->peer_id;
    a.addr = *from; /* the ip field is never believed: see tracker.h */
    a.addr.port = rq->port;
    a.left = rq->left;
    a.event = event_of(rq->event);
    pf__swarm_view v;
    const char *why = NULL;
    int rc = pf__tracker_announce(t, &a, now, &v, &why);
    if (rc) {
        st->refused++;
        pf__tracker_refused(t, rc == PF_ERR_LIMIT && why ? why : "internal error");
        return reply_error(t, out, cap, rq->tid, rc == PF_ERR_LIMIT && why ? why : "internal error");
    }
    uint32_t seeders, completed, leechers;
    pf__swarm_counts(&v, &seeders, &completed, &leechers);
    pf_udpt_announce_reply_head(out, rq->tid, cfg->interval_s, leechers, seeders);
    size_t each = from->family == 6 ? 18 : 6;
    size_t want = rq->numwant < 0 ? cfg->numwant_default : (uint32_t)rq->numwant;
    if (want > cfg->numwant_max) want = cfg->numwant_max;
    if (want > (from->family == 6 ? UDP_PEERS_V6 : UDP_PEERS_V4))
        want = from->family == 6 ? UDP_PEERS_V6 : UDP_PEERS_V4;
    if (want > (cap - PF_UDPT_ANNOUNCE_HEAD) / each) want = (cap - PF_UDPT_ANNOUNCE_HEAD) / each;
    pf_policy_verdict pv; /* BEP 15 cannot say why: P2P off is no peers */
    pf__tracker_verdict(t, rq->info_hash, &a.addr, &pv);
    if (a.event == PF_TRACKER_EV_STOPPED || pv.p2p_off) want = 0;
    return PF_UDPT_ANNOUNCE_HEAD +
           pf__tracker_compact_peers(t, &v, from->family, want, out + PF_UDPT_ANNOUNCE_HEAD);
}

static size_t udp_scrape(pf_tracker *t, const pf_udpt_request *rq, uint8_t *out, size_t cap)
{
    pf__tracker_counters(t)->scrapes++;
    size_t n = rq->nhashes, max = pf__tracker_config(t)->max_scrape;
    if (n > max) n = max;
    if (n > (cap - PF_UDPT_SCRAPE_HEAD) / 12) n = (cap - PF_UDPT_SCRAPE_HEAD) / 12;
    pf_udpt_scrape_reply_head(out, rq->tid);
    for (size_t i = 0; i < n; i++) {
        pf__swarm_view v;
        uint32_t seeders, completed, leechers;
        pf__tracker_scrape_one(t, rq->hashes + 20 * i, &v);
        pf__swarm_counts(&v, &seeders, &completed, &leechers);
        pf_udpt_scrape_reply_entry(out + PF_UDPT_SCRAPE_HEAD + 12 * i, seeders, completed, leechers);
    }
    return PF_UDPT_SCRAPE_HEAD + 12 * n;
}

static void log_rate_limited(pf_tracker *t, const pf_addr *from, uint64_t now)
{
    pf_tracker_stats *st = pf__tracker_counters(t);
    if (st->rate_limited % 1000 != 1) return;
    pf_logger *log = pf__tracker_logger(t);
    char who[80];
    pf__tracker_ip_text(from, who, sizeof who);
    log->now = now;
    pf__logf(log, PF_LOG_WARN, "rate limit: refusing UDP requests from %s (%llu refused so far)",
             who, (unsigned long long)st->rate_limited);
}

size_t pf_tracker_handle_udp(pf_tracker *t, const pf_addr *from_raw, const uint8_t *data, size_t n,
                             uint64_t now_ns, uint8_t *out, size_t cap)
{
    pf_tracker_stats *st = pf__tracker_counters(t);
    st->udp_datagrams++;
    pf_addr from = pf__tracker_addr_norm(from_raw);
    pf_udpt_request rq;
    if ((from.family != 4 && from.family != 6) || cap < PF_UDPT_ANNOUNCE_HEAD ||
        pf_udpt_parse_request(data, n, &rq) != 0) {
        st->udp_malformed++;
        return 0;
    }
    pf__connid *ids = pf__tracker_connid(t);
    if (rq.action == PF_UDPT_CONNECT) {
        st->udp_connects++;
        pf_udpt_connect_reply(out, rq.tid, pf__connid_make(ids, &from, now_ns));
        return PF_UDPT_CONNECT_LEN;
    }
    if (!pf__connid_check(ids, &from, rq.conn_id, now_ns)) {
        st->udp_bad_connid++;
        return reply_error(t, out, cap, rq.tid, "connection id expired");
    }
    if (pf__tracker_rate_check(t, &from, now_ns)) {
        log_rate_limited(t, &from, now_ns);
        return reply_error(t, out, cap, rq.tid, "rate limit exceeded");
    }
    if (rq.action == PF_UDPT_ANNOUNCE) return udp_announce(t, &rq, &from, now_ns, out, cap);
    return udp_scrape(t, &rq, out, cap);
}
