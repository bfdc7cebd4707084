/* Tracker announces (BEP 3/12/23/7, BEP 15): which tracker, when, with
 * what event.  An HTTP tracker's fetch is a PF_JOB_HTTP done by the
 * caller; a UDP tracker's requests and replies are datagrams through the
 * session (datagram.c), its name resolved by a PF_JOB_RESOLVE. */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/swarm/swarm.h"
#include "core/util/mem.h"
#include "core/codec/tracker_proto.h"
#include "core/codec/udp_tracker.h"
#include "core/util/redact.h"

enum { EV_NONE = 0, EV_STARTED = 1, EV_COMPLETED = 2, EV_STOPPED = 3 };

int pf_torrent_add_tracker(pf_torrent *t, const char *url, int tier)
{
    int udp = url && strncmp(url, "udp://", 6) == 0;
    if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0 && !udp))
        return PF_ERR_UNSUPPORTED;
    for (uint32_t i = 0; i < t->ntrackers; i++)
        if (strcmp(t->trackers[i].url, url) == 0) return PF_ERR_EXISTS;
    if (t->ntrackers >= 64) return PF_ERR_LIMIT;
    pf__tracker *n = pf__realloc(t->s->mem, t->trackers, (t->ntrackers + 1) * sizeof *n);
    if (!n) return PF_ERR_NOMEM;
    t->trackers = n;
    pf__tracker *tr = &t->trackers[t->ntrackers];
    memset(tr, 0, sizeof *tr);
    tr->url = pf__strdup(t->s->mem, url);
    if (!tr->url) return PF_ERR_NOMEM;
    tr->tier = tier;
    tr->udp = udp;
    /* Keep tiers in order (stable insertion). */
    uint32_t i = t->ntrackers++;
    while (i > 0 && t->trackers[i - 1].tier > tier) {
        pf__tracker tmp = t->trackers[i - 1];
        t->trackers[i - 1] = t->trackers[i];
        t->trackers[i] = tmp;
        i--;
    }
    return 0;
}

void pf_torrent_clear_trackers(pf_torrent *t)
{
    for (uint32_t i = 0; i < t->ntrackers; i++) {
        if (t->trackers[i].busy) return; /* a job still names it; keep all */
    }
    for (uint32_t i = 0; i < t->ntrackers; i++) pf__free(t->s->mem, t->trackers[i].url);
    pf__free(t->s->mem, t->trackers);
    t->trackers = NULL;
    t->ntrackers = 0;
    t->cur_tracker = 0;
}

static uint64_t left_bytes(const pf_torrent *t)
{
    if (!t->has_meta) return 16384; /* unknown yet; non-zero means leecher */
    return t->mi->total_length - t->have_bytes;
}

static void announce_req(const pf_torrent *t, const pf__tracker *tr, int event, pf_announce_req *r)
{
    memset(r, 0, sizeof *r);
    memcpy(r->info_hash, t->info_hash, 20);
    memcpy(r->peer_id, t->s->peer_id, 20);
    r->port = t->s->set.listen_port;
    r->uploaded = t->uploaded;
    r->downloaded = t->downloaded;
    r->left = left_bytes(t);
    r->event = event;
    r->numwant = event == EV_STOPPED ? 0 : 80;
    r->key = t->s->key;
    r->trackerid = tr->trackerid[0] ? tr->trackerid : NULL;
    r->token = t->tracker_token;
}

/* A tracker URL as logs show it: a token in it never is. */
#define URL_LOG_MAX 256
static const char *log_url(const char *url, char buf[URL_LOG_MAX])
{
    return pf_redact_url(url, strlen(url), buf, URL_LOG_MAX);
}

int pf_torrent_set_tracker_token(pf_torrent *t, const char *token)
{
    char *dup = NULL;
    if (token && token[0] && !(dup = pf__strdup(t->s->mem, token))) return PF_ERR_NOMEM;
    pf__free(t->s->mem, t->tracker_token);
    t->tracker_token = dup;
    return 0;
}

static void udp_start(pf_torrent *t, uint32_t idx, int event, uint64_t now);
static void udp_timeouts(pf_torrent *t, uint64_t now);

static void send_announce(pf_torrent *t, uint32_t idx, int event, uint64_t now)
{
    pf__tracker *tr = &t->trackers[idx];
    if (tr->udp) {
        udp_start(t, idx, event, now);
        return;
    }
    pf_announce_req r;
    announce_req(t, tr, event, &r);
    pf_buf url;
    pf_buf_init_mem(&url, t->s->mem);
    if (pf_announce_url(&url, tr->url, &r) != 0) {
        pf_buf_free(&url);
        return;
    }
    pf_job *j = pf__job_new(t, PF_JOB_HTTP);
    if (!j) {
        pf_buf_free(&url);
        return;
    }
    j->url = (char *)url.data; /* NUL-terminated by pf_announce_url */
    j->tag = idx | ((uint32_t)event << 16);
    if (!t->first_announce) t->first_announce = now ? now : 1;
    if (pf__torrent_emit_job(t, j) != 0) {
        pf__free(t->s->mem, j->url);
        pf__free(t->s->mem, j);
        return;
    }
    tr->busy = 1;
    tr->next_announce = now + 60 * PF_NS_PER_SEC; /* until we hear back */
}

void pf__announce_event(pf_torrent *t, int event, uint64_t now)
{
    if (t->ntrackers == 0) return;
    uint32_t idx = t->cur_tracker < t->ntrackers ? t->cur_tracker : 0;
    if (event == EV_STARTED) {
        /* Announce at the next tick. */
        for (uint32_t i = 0; i < t->ntrackers; i++) t->trackers[i].next_announce = now;
        return;
    }
    if (event == EV_COMPLETED) {
        if (!t->trackers[idx].started_sent || t->trackers[idx].completed_sent) return;
        if (t->trackers[idx].busy) {
            t->trackers[idx].next_announce = now; /* after the pending one */
            return;
        }
        t->trackers[idx].completed_sent = 1;
        send_announce(t, idx, EV_COMPLETED, now);
        return;
    }
    if (event == EV_STOPPED && t->trackers[idx].started_sent)
        send_announce(t, idx, EV_STOPPED, now);
}

void pf__announce_tick(pf_torrent *t, uint64_t now)
{
    udp_timeouts(t, now);
    if (t->ntrackers == 0 || t->stopped || t->state == PF_TS_CHECKING) return;
    if (t->cur_tracker >= t->ntrackers) t->cur_tracker = 0;
    pf__tracker *tr = &t->trackers[t->cur_tracker];
    if (tr->busy || now < tr->next_announce) return;
    int event = EV_NONE;
    if (!tr->started_sent)
        event = EV_STARTED;
    else if (t->state == PF_TS_SEEDING && t->completed_here && !tr->completed_sent) {
        event = EV_COMPLETED;
        tr->completed_sent = 1;
    }
    send_announce(t, t->cur_tracker, event, now);
}

/* An announce to tracker idx failed (why): BEP 12, on to the next one. */
static void announce_failed(pf_torrent *t, uint32_t idx, const char *why, uint64_t now)
{
    pf__tracker *tr = &t->trackers[idx];
    tr->fails++;
    uint32_t shift = tr->fails < 5 ? tr->fails : 5;
    tr->next_announce = now + (5ULL << shift) * PF_NS_PER_SEC;
    char lb[URL_LOG_MAX];
    pf__log(t->s, PF_LOG_WARN, "announce to %s failed: %s", log_url(tr->url, lb), why);
    t->cur_tracker = (idx + 1) % t->ntrackers;
    if (t->cur_tracker != idx) {
        pf__tracker *nx = &t->trackers[t->cur_tracker];
        if (nx->next_announce > now) nx->next_announce = now;
        nx->started_sent = 0;
    }
}

/* Tracker idx answered an announce of `event` (resp: interval, peers). */
static void announce_ok(pf_torrent *t, uint32_t idx, int event, const pf_announce_resp *resp, uint64_t now)
{
    pf__tracker *tr = &t->trackers[idx];
    tr->fails = 0;
    if (event == EV_STARTED || !tr->started_sent) tr->started_sent = 1;
    if (resp->trackerid[0]) memcpy(tr->trackerid, resp->trackerid, sizeof tr->trackerid);
    uint32_t interval = resp->interval ? resp->interval : 1800;
    if (interval < 15) interval = 15;
    if (interval > 3600) interval = 3600;
    tr->interval_s = interval;
    /* A leecher that learned of nobody asks again sooner (bounded by the
     * tracker's min interval) so a swarm that starts at once finds itself. */
    uint32_t next = interval;
    if (t->state != PF_TS_SEEDING && resp->num_peers == 0 && t->npeers == 0) {
        uint32_t soon = resp->min_interval > 10 ? resp->min_interval : 10;
        if (soon < next) next = soon;
    }
    tr->next_announce = now + (uint64_t)next * PF_NS_PER_SEC;
    tr->takes_qoe = resp->takes_qoe;
    pf__torrent_operator(t, resp->p2p_off, resp->upload_cap, now);
    if (resp->has_local_nets) pf__session_set_tracker_nets(t->s, resp->local_nets, resp->nlocal_nets);
    for (size_t i = 0; i < resp->num_peers; i++) pf__torrent_add_addr(t, &resp->peers[i], now);
    char lb[URL_LOG_MAX];
    pf__log(t->s, PF_LOG_INFO, "announce to %s: %zu peers, interval %u s", log_url(tr->url, lb), resp->num_peers,
            interval);
    if (t->state == PF_TS_SEEDING && t->completed_here && !tr->completed_sent && event != EV_COMPLETED) {
        tr->completed_sent = 1;
        send_announce(t, idx, EV_COMPLETED, now);
    }
}

void pf__announce_done(pf_torrent *t, pf_job *j, uint64_t now)
{
    uint32_t idx = j->tag & 0xffff;
    int event = (int)(j->tag >> 16);
    if (idx >= t->ntrackers) return;
    pf__tracker *tr = &t->trackers[idx];
    tr->busy = 0;
    if (event == EV_STOPPED) return;
    if (!t->tracker_answered) t->tracker_answered = now ? now : 1;
    pf_announce_resp resp;
    memset(&resp, 0, sizeof resp);
    int prc = j->result == 0 && j->status == 200
                  ? pf_announce_resp_parse(j->body, j->body_len, t->s->mem, &resp)
                  : PF_ERR_TRACKER;
    if (j->result != 0 || j->status != 200 || prc != 0 || resp.failure[0]) {
        char why[300];
        if (j->result != 0)
            snprintf(why, sizeof why, "%s", pf_strerror(j->result)); /* e.g. reply too large */
        else if (j->status != 200)
            snprintf(why, sizeof why, "HTTP status %ld", (long)j->status);
        else if (prc != 0)
            snprintf(why, sizeof why, "unreadable reply (%s)", pf_strerror(prc));
        else
            snprintf(why, sizeof why, "tracker says: %s", resp.failure);
        announce_failed(t, idx, why, now);
        pf_announce_resp_clear(&resp);
        return;
    }
    announce_ok(t, idx, event, &resp, now);
    pf_announce_resp_clear(&resp);
}

/* ---- BEP 15: UDP trackers ------------------------------------------------- */
/* Retries.  BEP 15: a request not answered within 15 * 2^n s is sent
 * again, n from 0 up to 8 (3840 s).  When the UDP tracker is the
 * torrent's only one we follow it: there is nothing to fail over to, and
 * a tracker that is down or drowning in requests gets fewer and fewer
 * of ours (15 s, 30 s, 1 min ... 64 min: nine tries over 2 h 8 min; then
 * the announce has failed, and the normal back-off starts the schedule
 * again).  With other trackers a request is given up after two tries (15
 * s, then 30 s) and the next tracker is asked (BEP 12): a dead tracker
 * must not keep the swarm from its peers for two hours. */
#define PF__UDPT_TIMEOUT_S 15
#define PF__UDPT_TRIES 2       /* with other trackers to fail over to */
#define PF__UDPT_TRIES_ALONE 9 /* the only tracker: n = 0..8 */
#define PF__UDPT_CONN_NS (60 * PF_NS_PER_SEC) /* a connection id's life */

static uint32_t udp_max_tries(const pf_torrent *t)
{
    return t->ntrackers == 1 ? PF__UDPT_TRIES_ALONE : PF__UDPT_TRIES;
}

/* "udp://host:port/..." into "host:port" (at most n bytes); 0 or -1. */
static int udp_hostport(const char *url, char *out, size_t n)
{
    const char *h = url + 6, *e = h;
    if (*h == '[') {
        e = strchr(h, ']');
        if (!e) return -1;
        e++;
    }
    while (*e && *e != '/' && *e != '?' && *e != '#') e++;
    size_t len = (size_t)(e - h);
    if (len == 0 || len >= n || !memchr(h, ':', len)) return -1;
    memcpy(out, h, len);
    out[len] = 0;
    return 0;
}

static void udp_fail(pf_torrent *t, uint32_t idx, const char *why, uint64_t now)
{
    pf__tracker *tr = &t->trackers[idx];
    tr->busy = 0;
    tr->udp_state = PF__UDPT_IDLE;
    if (tr->udp_event == EV_STOPPED) return;
    if (!t->tracker_answered) t->tracker_answered = now ? now : 1;
    announce_failed(t, idx, why, now);
}

/* Sends the next request of tracker idx: an announce while its connection
 * id is fresh, a connect first otherwise. */
static void udp_send(pf_torrent *t, uint32_t idx, uint64_t now)
{
    pf__tracker *tr = &t->trackers[idx];
    uint8_t b[PF_UDPT_ANNOUNCE_LEN];
    size_t n;
    tr->udp_tid = (uint32_t)pf_rand_next(&t->s->rng);
    if (tr->udp_conn_at && now < tr->udp_conn_at + PF__UDPT_CONN_NS) {
        pf_announce_req r;
        announce_req(t, tr, tr->udp_event, &r);
        pf_udpt_announce_req(b, tr->udp_conn_id, tr->udp_tid, &r);
        n = PF_UDPT_ANNOUNCE_LEN;
        tr->udp_state = PF__UDPT_ANNOUNCING;
    } else {
        pf_udpt_connect_req(b, tr->udp_tid);
        n = PF_UDPT_CONNECT_LEN;
        tr->udp_state = PF__UDPT_CONNECTING;
    }
    uint32_t n_exp = tr->udp_tries < PF__UDPT_TRIES_ALONE - 1 ? tr->udp_tries : PF__UDPT_TRIES_ALONE - 1;
    tr->udp_deadline = now + ((uint64_t)PF__UDPT_TIMEOUT_S << n_exp) * PF_NS_PER_SEC;
    tr->udp_tries++;
    pf__session_send_datagram(t->s, &tr->udp_addr, b, n); /* a full queue: the retry covers it */
}

static void udp_start(pf_torrent *t, uint32_t idx, int event, uint64_t now)
{
    pf__tracker *tr = &t->trackers[idx];
    if (!t->first_announce) t->first_announce = now ? now : 1;
    tr->busy = 1;
    tr->udp_event = event;
    tr->udp_tries = 0;
    tr->next_announce = now + 120 * PF_NS_PER_SEC; /* until it answers or fails */
    if (tr->udp_addr.family) {
        udp_send(t, idx, now);
        return;
    }
    char hp[300];
    pf_job *j = udp_hostport(tr->url, hp, sizeof hp) == 0 ? pf__job_new(t, PF_JOB_RESOLVE) : NULL;
    if (j) j->url = pf__strdup(t->s->mem, hp);
    if (!j || !j->url || pf__torrent_emit_job(t, j) != 0) {
        if (j) pf__free(t->s->mem, j->url);
        pf__free(t->s->mem, j);
        udp_fail(t, idx, "cannot resolve its name", now);
        return;
    }
    j->tag = idx;
    tr->udp_state = PF__UDPT_RESOLVING;
    tr->udp_deadline = now + 30 * PF_NS_PER_SEC;
}

void pf__announce_resolved(pf_torrent *t, pf_job *j, uint64_t now)
{
    uint32_t idx = j->tag;
    if (idx >= t->ntrackers) return;
    pf__tracker *tr = &t->trackers[idx];
    if (!tr->udp || tr->udp_state != PF__UDPT_RESOLVING) return;
    /* IPv4 first when the name has both: BEP 15 over IPv4 is what every
     * tracker speaks. */
    const pf_addr *a = NULL;
    for (uint32_t i = 0; i < j->naddrs && i < 4; i++)
        if (j->addrs[i].family == 4 || j->addrs[i].family == 6)
            if (!a || (a->family == 6 && j->addrs[i].family == 4)) a = &j->addrs[i];
    if (j->result != 0 || !a || !a->port) {
        udp_fail(t, idx, j->result ? pf_strerror(j->result) : "its name has no address", now);
        return;
    }
    tr->udp_addr = *a;
    udp_send(t, idx, now);
}

/* Retries, or gives up on, UDP requests that were not answered in time. */
static void udp_timeouts(pf_torrent *t, uint64_t now)
{
    for (uint32_t i = 0; i < t->ntrackers; i++) {
        pf__tracker *tr = &t->trackers[i];
        if (!tr->udp || !tr->busy || now < tr->udp_deadline) continue;
        if (tr->udp_state == PF__UDPT_RESOLVING || tr->udp_tries >= udp_max_tries(t) || tr->udp_event == EV_STOPPED) {
            udp_fail(t, i, "no answer", now);
            continue;
        }
        char lb[URL_LOG_MAX];
        pf__log(t->s, PF_LOG_DEBUG, "no answer from %s: asking again, then waiting %u s", log_url(tr->url, lb),
                PF__UDPT_TIMEOUT_S << tr->udp_tries);
        udp_send(t, i, now);
    }
}

/* Tracker idx's reply (r, parsed) to the request in flight. */
static void udp_reply(pf_torrent *t, uint32_t idx, const pf_udpt_reply *r, uint64_t now)
{
    pf__tracker *tr = &t->trackers[idx];
    if (r->action == PF_UDPT_ERROR) {
        char why[160];
        snprintf(why, sizeof why, "tracker says: %s", r->error);
        tr->udp_conn_at = 0; /* perhaps an expired connection id */
        udp_fail(t, idx, why, now);
        return;
    }
    if (r->action == PF_UDPT_CONNECT && tr->udp_state == PF__UDPT_CONNECTING) {
        tr->udp_conn_id = r->conn_id;
        tr->udp_conn_at = now ? now : 1;
        /* The announce follows.  The only tracker: it goes on with the
         * connect's wait (the answered connect does not count), so one
         * that answers connects and never announces still backs off
         * across connection ids.  With others: two tries of its own. */
        tr->udp_tries = t->ntrackers == 1 && tr->udp_tries ? tr->udp_tries - 1 : 0;
        udp_send(t, idx, now);
        return;
    }
    if (r->action != PF_UDPT_ANNOUNCE || tr->udp_state != PF__UDPT_ANNOUNCING) return;
    int event = tr->udp_event;
    tr->busy = 0;
    tr->udp_state = PF__UDPT_IDLE;
    if (event == EV_STOPPED) return;
    if (!t->tracker_answered) t->tracker_answered = now ? now : 1;
    pf_announce_resp resp;
    memset(&resp, 0, sizeof resp);
    resp.complete = r->seeders;
    resp.incomplete = r->leechers;
    resp.interval = r->interval;
    pf_addr peers[PF_ANNOUNCE_MAX_PEERS > 256 ? 256 : PF_ANNOUNCE_MAX_PEERS];
    for (size_t i = 0; i < r->npeers && resp.num_peers < sizeof peers / sizeof peers[0]; i++) {
        pf_udpt_peer(r, i, &peers[resp.num_peers]);
        if (peers[resp.num_peers].port) resp.num_peers++;
    }
    resp.peers = peers;
    announce_ok(t, idx, event, &resp, now);
}

int pf__announce_udp_in(pf_session *s, const pf_addr *from, const uint8_t *data, size_t n, uint64_t now)
{
    pf_udpt_reply r;
    if (pf_udpt_parse(data, n, from->family, &r) != 0) return 0;
    for (uint32_t k = 0; k < s->ntorrents; k++) {
        pf_torrent *t = s->torrents[k];
        for (uint32_t i = 0; i < t->ntrackers; i++) {
            pf__tracker *tr = &t->trackers[i];
            if (!tr->udp || !tr->busy || tr->udp_tid != r.tid || !pf_addr_eq(&tr->udp_addr, from)) continue;
            if (tr->udp_state != PF__UDPT_CONNECTING && tr->udp_state != PF__UDPT_ANNOUNCING) continue;
            udp_reply(t, i, &r, now);
            return 1;
        }
    }
    return 0;
}
