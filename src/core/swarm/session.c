/* Session: settings, torrents, incoming peers before their handshake, the
 * event queue and the tick. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "core/swarm/swarm.h"
#include "core/util/mem.h"

static void settings_defaults(pf_session_settings *s)
{
    memset(s, 0, sizeof *s);
    s->size = sizeof *s;
    s->rng_seed = 0x9e3779b97f4a7c15ULL;
    s->listen_port = 6881;
    s->max_peers = 50;
    s->max_connections = 200;
    s->max_half_open = 32;
    s->handshake_timeout_s = 20;
    s->max_send_buffer = 4u << 20;
    s->upload_slots = 8;
    s->upload_enabled = 1;
    s->cache_pieces = 16;
    s->max_partials = 32;
    s->max_queue_out = 512;
    s->max_queue_in = 1024;
    s->request_timeout_s = 20;
    s->max_write_backlog = 16u << 20;
    s->stream.urgent_s = 4.0;
    s->stream.startup_s = 4.0;
    s->stream.prefetch_s = 60.0;
    s->stream.critical_s = 1.0;
    s->stream.default_bitrate = 500000.0;
    s->log_level = PF_LOG_INFO;
}

void pf_session_settings_init(pf_session_settings *s, size_t size)
{
    if (!s || size < sizeof s->size) return;
    pf_session_settings d;
    settings_defaults(&d);
    d.size = size < sizeof d ? size : sizeof d;
    memset(s, 0, size);
    memcpy(s, &d, d.size);
}

void pf__rate_tick(pf_rate *r, double dt_s)
{
    if (dt_s <= 0) return;
    double inst = (double)r->pending / dt_s;
    /* ~2 s time constant at 1 tick/s; reacts within a few ticks. */
    r->bps = r->bps * 0.5 + inst * 0.5;
    if (r->bps < 1) r->bps = 0;
    r->pending = 0;
}

void pf__log(pf_session *s, pf_log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pf__logv(&s->log, lvl, fmt, ap);
    va_end(ap);
}

int pf_session_new(const pf_session_settings *set, pf_session **out)
{
    if (set && set->size < offsetof(pf_session_settings, mem) + sizeof set->mem) return PF_ERR_INVAL;
    /* What the caller's struct holds; the defaults past it. */
    pf_session_settings full;
    settings_defaults(&full);
    if (set) memcpy(&full, set, set->size < sizeof full ? set->size : sizeof full);
    full.size = sizeof full;
    pf_session *s = pf__calloc(full.mem, 1, sizeof *s);
    if (!s) return PF_ERR_NOMEM;
    s->mem = full.mem;
    s->set = full;
    if (s->set.upload_slots == 0) s->set.upload_slots = 1;
    s->local_share = 0.5;
    s->up_budget = PF_UPLOAD_UNLIMITED;
    if (s->set.max_queue_out < 4) s->set.max_queue_out = 4;
    if (s->set.max_queue_in < 4) s->set.max_queue_in = 4;
    if (s->set.max_write_backlog < (1u << 20)) s->set.max_write_backlog = 1u << 20;
    /* Zero means "default" for the limits added after the first release. */
    if (!s->set.max_connections) s->set.max_connections = 200;
    if (!s->set.max_half_open) s->set.max_half_open = 32;
    if (!s->set.handshake_timeout_s) s->set.handshake_timeout_s = 20;
    if (!s->set.max_send_buffer) s->set.max_send_buffer = 4u << 20;
    /* Under a memory limit, what one peer may have queued (references to
     * cached pieces it keeps alive) is bounded by it too. */
    if (s->set.memory_limit && s->set.max_send_buffer > s->set.memory_limit / 8)
        s->set.max_send_buffer = (uint32_t)(s->set.memory_limit / 8);
    if (s->set.max_send_buffer < 2 * PF_BLOCK_SIZE) s->set.max_send_buffer = 2 * PF_BLOCK_SIZE;
    s->rng = s->set.rng_seed ? s->set.rng_seed : 0x9e3779b97f4a7c15ULL;
    static const uint8_t zero[20];
    if (memcmp(s->set.peer_id, zero, 20) != 0) {
        memcpy(s->peer_id, s->set.peer_id, 20);
    } else {
        /* Azureus-style id: -PF0100- then 12 random alphanumerics. */
        static const char alnum[] =
            "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        memcpy(s->peer_id, "-PF0100-", 8);
        for (int i = 8; i < 20; i++)
            s->peer_id[i] = (uint8_t)alnum[pf_rand_next(&s->rng) % 62];
    }
    s->key = (uint32_t)pf_rand_next(&s->rng);
    s->next_id = 1;
    pf__logger_init(&s->log, s->set.log, s->set.log_ud, s->set.log_level);
    if (!s->set.transports) s->set.transports = PF_TRANSPORTS_TCP;
    if (pf__utp_init(s) != 0) {
        pf__free(s->mem, s);
        return PF_ERR_NOMEM;
    }
    *out = s;
    return 0;
}

void pf_session_free(pf_session *s)
{
    if (!s) return;
    pf__utp_reap(s);
    /* The uTP context goes before the peers, none of them named by it. */
    for (uint32_t i = 0; i < s->npending; i++) pf__utp_detach(s->pending[i]);
    for (uint32_t i = 0; i < s->ntorrents; i++)
        for (uint32_t k = 0; k < s->torrents[i]->npeers; k++) pf__utp_detach(s->torrents[i]->peers[k]);
    pf__utp_free(s);
    /* Peers already closing were on no list above: their connections'
     * closed callbacks (PF_ERR_SHUTDOWN) just put them on the dead list. */
    while (s->utp_dead) {
        pf_peer *p = s->utp_dead;
        s->utp_dead = p->utp_dead_next;
        pf__peer_free(p);
    }
    for (uint32_t i = 0; i < s->npending; i++) pf__peer_free(s->pending[i]);
    pf__free(s->mem, s->pending);
    for (uint32_t i = 0; i < s->ntorrents; i++) pf__torrent_free(s->torrents[i]);
    pf__free(s->mem, s->torrents);
    /* Jobs still queued as events belong to us now. */
    for (size_t k = 0; k < s->q.len; k++) {
        pf_event *ev = &s->q.ev[(s->q.head + k) % s->q.cap];
        if (ev->type == PF_EV_JOB && ev->job) {
            if (ev->job->type == PF_JOB_WRITE) pf__free(s->mem, ev->job->buf); /* others: not owned */
            pf__free(s->mem, ev->job->url);
            pf__free(s->mem, ev->job);
        }
    }
    pf__free(s->mem, s->q.ev);
    pf__session_tls_free(s);
    pf__datagrams_free(s);
    pf__free(s->mem, s);
}

const uint8_t *pf_session_peer_id(const pf_session *s) { return s->peer_id; }

int pf__emit(pf_session *s, const pf_event *ev)
{
    pf__event_q *q = &s->q;
    if (q->len == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        pf_event *n = pf__malloc(s->mem, cap * sizeof *n);
        if (!n) return PF_ERR_NOMEM;
        for (size_t k = 0; k < q->len; k++) n[k] = q->ev[(q->head + k) % q->cap];
        pf__free(s->mem, q->ev);
        q->ev = n;
        q->cap = cap;
        q->head = 0;
    }
    q->ev[(q->head + q->len) % q->cap] = *ev;
    q->len++;
    return 0;
}

int pf_session_next_event(pf_session *s, pf_event *ev)
{
    pf__event_q *q = &s->q;
    while (q->len > 0) {
        *ev = q->ev[q->head];
        q->head = (q->head + 1) % q->cap;
        q->len--;
        if (ev->type == 0) continue; /* its peer is gone */
        if (ev->type == PF_EV_WRITE) {
            /* Coalesced: the flag is cleared when the event is delivered. */
            ev->peer->write_queued = 0;
            if (!pf__peer_has_output(ev->peer)) continue;
        }
        return 1;
    }
    return 0;
}

pf_torrent *pf__session_find(pf_session *s, const uint8_t info_hash[20])
{
    for (uint32_t i = 0; i < s->ntorrents; i++)
        if (memcmp(s->torrents[i]->info_hash, info_hash, 20) == 0) return s->torrents[i];
    return NULL;
}

static int session_add(pf_session *s, pf_torrent *t)
{
    if (s->ntorrents == s->cap_torrents) {
        uint32_t cap = s->cap_torrents ? s->cap_torrents * 2 : 4;
        pf_torrent **n = pf__realloc(s->mem, s->torrents, cap * sizeof *n);
        if (!n) return PF_ERR_NOMEM;
        s->torrents = n;
        s->cap_torrents = cap;
    }
    s->torrents[s->ntorrents++] = t;
    return 0;
}

int pf_session_add_torrent(pf_session *s, pf_metainfo *mi, pf_torrent **out)
{
    if (pf__session_find(s, mi->info_hash)) return PF_ERR_EXISTS;
    pf_torrent *t = pf__torrent_new(s, mi->info_hash);
    if (!t) return PF_ERR_NOMEM;
    int rc = pf__torrent_set_metadata(t, mi, 0);
    if (rc == 0) rc = session_add(s, t);
    if (rc) {
        t->mi = NULL; /* the caller keeps mi on failure */
        pf__torrent_free(t);
        return rc;
    }
    for (size_t i = 0; i < mi->num_trackers; i++)
        pf_torrent_add_tracker(t, mi->trackers[i].url, mi->trackers[i].tier);
    t->state = PF_TS_CHECKING;
    *out = t;
    return 0;
}

int pf_session_add_magnet(pf_session *s, const pf_magnet *m, uint64_t now, pf_torrent **out)
{
    if (pf__session_find(s, m->info_hash)) return PF_ERR_EXISTS;
    pf_torrent *t = pf__torrent_new(s, m->info_hash);
    if (!t) return PF_ERR_NOMEM;
    if (session_add(s, t)) {
        pf__torrent_free(t);
        return PF_ERR_NOMEM;
    }
    t->state = PF_TS_METADATA;
    if (m->name) t->magnet_name = pf__strdup(s->mem, m->name);
    for (size_t i = 0; i < m->num_trackers; i++) pf_torrent_add_tracker(t, m->trackers[i], (int)i);
    /* ws= (BEP 19 web seeds): used once the info dict is known. */
    for (size_t i = 0; i < m->num_webseeds; i++) pf_torrent_add_webseed(t, m->webseeds[i], 1.0);
    for (size_t i = 0; i < m->num_peers; i++) {
        pf_addr a;
        if (pf_addr_parse(m->peers[i], &a) == 0) pf__torrent_add_addr(t, &a, now);
    }
    *out = t;
    return 0;
}

/* All connections are taken: the least useful peer of any torrent makes
 * room for a newcomer from `from`, if one may (pf__torrent_least_useful)
 * and that host does not hold PF__ROOM_HOST_MAX connections already. */
static int make_room(pf_session *s, const pf_addr *from, uint64_t now)
{
    uint32_t mine = 0;
    for (uint32_t i = 0; i < s->npending; i++) mine += pf_addr_same_host(&s->pending[i]->addr, from);
    for (uint32_t i = 0; i < s->ntorrents; i++) mine += pf__torrent_host_conns(s->torrents[i], from);
    if (mine >= PF__ROOM_HOST_MAX) return 0;
    pf_peer *victim = NULL;
    uint64_t best = 0;
    for (uint32_t i = 0; i < s->ntorrents; i++) {
        uint64_t rank = 0;
        pf_peer *p = pf__torrent_least_useful(s->torrents[i], now, &rank);
        if (p && (!victim || rank < best)) victim = p, best = rank;
    }
    if (!victim) return 0;
    pf__peer_close(victim, "idle, making room for a new peer");
    return 1;
}

pf_peer *pf_session_accept(pf_session *s, const pf_endpoint *remote, uint64_t now)
{
    if (s->npending >= s->set.max_half_open) return NULL;
    if (pf__session_connections(s) >= s->set.max_connections && !make_room(s, &remote->addr, now)) return NULL;
    pf_peer *p = pf__peer_new(s, NULL, &remote->addr, 0, now);
    if (!p) return NULL;
    p->transport = remote->transport;
    if (s->npending == s->cap_pending) {
        uint32_t cap = s->cap_pending ? s->cap_pending * 2 : 16;
        pf_peer **n = pf__realloc(s->mem, s->pending, cap * sizeof *n);
        if (!n) {
            pf__peer_free(p);
            return NULL;
        }
        s->pending = n;
        s->cap_pending = cap;
    }
    p->slot = s->npending;
    s->pending[s->npending++] = p;
    p->state = PF_PS_HANDSHAKE;
    return p;
}

uint32_t pf__session_connections(const pf_session *s)
{
    uint32_t n = s->npending;
    for (uint32_t i = 0; i < s->ntorrents; i++) n += s->torrents[i]->npeers;
    return n;
}

void pf__pending_remove(pf_session *s, pf_peer *p)
{
    for (uint32_t i = 0; i < s->npending; i++) {
        if (s->pending[i] == p) {
            s->pending[i] = s->pending[--s->npending];
            return;
        }
    }
}

void pf_session_tick(pf_session *s, uint64_t now)
{
    s->log.now = now;
    if (now > s->now) s->now = now;
    if (s->utp) pf_utp_tick(s->utp, now);
    pf__utp_reap(s);
    double dt = s->last_tick ? (double)(now - s->last_tick) / 1e9 : 1.0;
    if (s->last_tick && now < s->last_tick + 200 * PF_NS_PER_MS) {
        /* Rates need a sane interval; too-early ticks only do timers. */
        dt = 0;
    } else {
        s->last_tick = now;
    }
    /* Incoming connections that never sent a handshake. */
    for (uint32_t i = s->npending; i-- > 0;) {
        pf_peer *p = s->pending[i];
        if (now > p->connected_at + (uint64_t)s->set.handshake_timeout_s * PF_NS_PER_SEC)
            pf__peer_close(p, "handshake timeout");
    }
    if (dt > 0) {
        /* Refill the rate-cap buckets; at most one second of burst. */
        if (s->up_limit) {
            s->up_tokens += (double)s->up_limit * dt;
            if (s->up_tokens > (double)s->up_limit) s->up_tokens = (double)s->up_limit;
        }
        if (s->down_limit) {
            s->down_tokens += (double)s->down_limit * dt;
            if (s->down_tokens > (double)s->down_limit) s->down_tokens = (double)s->down_limit;
        }
    }
    for (uint32_t i = 0; i < s->ntorrents; i++) pf__torrent_tick(s->torrents[i], now, dt);
}

/* A cap set anew starts with a full bucket; a cap changed keeps what its
 * bucket holds (at most the new cap): a caller that adjusts the cap every
 * second (an upload share of the measured uplink) must not refill it each
 * time. */
static double bucket_after(uint64_t old_limit, double tokens, uint64_t limit)
{
    if (!limit) return 0;
    if (!old_limit || tokens > (double)limit) return (double)limit;
    return tokens;
}

/* The operator's smallest upload cap over the torrents (0: none). */
static uint64_t operator_cap(const pf_session *s)
{
    uint64_t cap = 0;
    for (uint32_t i = 0; i < s->ntorrents; i++) {
        uint64_t c = s->torrents[i]->op_upload_cap;
        if (c && (!cap || c < cap)) cap = c;
    }
    return cap;
}

void pf_session_set_rate_limits(pf_session *s, uint64_t up_bps, uint64_t down_bps)
{
    uint64_t old_up = s->up_limit, old_down = s->down_limit;
    uint64_t op = operator_cap(s);
    s->up_user = up_bps;
    if (op && (!up_bps || op < up_bps)) up_bps = op;
    s->up_limit = up_bps;
    s->down_limit = down_bps;
    /* A block must fit in a full bucket. */
    if (s->up_limit && s->up_limit < PF_BLOCK_SIZE) s->up_limit = PF_BLOCK_SIZE;
    if (s->down_limit && s->down_limit < PF_BLOCK_SIZE) s->down_limit = PF_BLOCK_SIZE;
    s->up_tokens = bucket_after(old_up, s->up_tokens, s->up_limit);
    s->down_tokens = bucket_after(old_down, s->down_tokens, s->down_limit);
}

void pf__session_caps_changed(pf_session *s) { pf_session_set_rate_limits(s, s->up_user, s->down_limit); }

/* Uploads may go again: peers waiting for a slot get one now, not at the
 * next tick, and requests still queued (a budget raised in time) are
 * served. */
static void uploads_resumed(pf_session *s)
{
    for (uint32_t i = 0; i < s->ntorrents; i++) {
        pf_torrent *t = s->torrents[i];
        if (!t->has_meta) continue;
        pf__torrent_choke(t, s->now);
        for (uint32_t k = 0; k < t->npeers; k++)
            if (t->peers[k]->inq_len) pf__peer_serve(t->peers[k], s->now);
    }
}

/* Uploads stop now: what the caller has not taken is taken back, every
 * peer is choked (its queued requests rejected or, without BEP 6, dropped
 * by the choke itself). */
static void uploads_stopped(pf_session *s)
{
    for (uint32_t i = 0; i < s->ntorrents; i++) {
        pf_torrent *t = s->torrents[i];
        for (uint32_t k = 0; k < t->npeers; k++) {
            pf_peer *p = t->peers[k];
            if (p->state != PF_PS_ACTIVE) continue;
            pf__peer_withdraw_pieces(p);
            pf__peer_set_choke(p, 1);
            pf__peer_mark_write(p);
        }
    }
}

void pf_session_set_upload(pf_session *s, int enabled)
{
    int was_on = s->set.upload_enabled, was = pf__upload_allowed(s);
    s->set.upload_enabled = enabled != 0;
    if (was_on && !enabled) uploads_stopped(s); /* also with the budget spent: what is queued goes back */
    else if (!was && pf__upload_allowed(s)) uploads_resumed(s);
}

void pf_session_set_upload_budget(pf_session *s, uint64_t bytes)
{
    int was = pf__upload_allowed(s);
    s->up_budget = bytes;
    if (!was && pf__upload_allowed(s)) uploads_resumed(s);
}

uint64_t pf_session_upload_budget(const pf_session *s) { return s->up_budget; }
uint64_t pf_session_uploaded(const pf_session *s) { return s->uploaded; }

static void rejudge_peers(pf_session *s);

int pf_session_add_local_net(pf_session *s, const pf_net *net)
{
    if ((net->family != 4 || net->bits > 32) && (net->family != 6 || net->bits > 128)) return PF_ERR_INVAL;
    if (s->nlocal_nets >= PF__MAX_LOCAL_NETS) return PF_ERR_RANGE;
    s->local_nets[s->nlocal_nets++] = *net;
    rejudge_peers(s); /* peers already connected are judged again */
    return 0;
}

void pf_session_set_local_share(pf_session *s, double share)
{
    s->local_share = share < 0 ? 0 : share > 1 ? 1 : share;
}

int pf__session_is_local(const pf_session *s, const pf_addr *a)
{
    for (uint32_t i = 0; i < s->nlocal_nets; i++)
        if (pf_net_contains(&s->local_nets[i], a)) return 1;
    for (uint32_t i = 0; i < s->ntracker_nets; i++)
        if (pf_net_contains(&s->tracker_nets[i], a)) return 1;
    return 0;
}

static void rejudge_peers(pf_session *s)
{
    for (uint32_t i = 0; i < s->ntorrents; i++)
        for (uint32_t k = 0; k < s->torrents[i]->npeers; k++) {
            pf_peer *p = s->torrents[i]->peers[k];
            p->local = pf__session_is_local(s, &p->addr);
        }
}

void pf__session_set_tracker_nets(pf_session *s, const pf_net *nets, uint32_t n)
{
    if (n > PF__MAX_LOCAL_NETS) n = PF__MAX_LOCAL_NETS;
    if (n == s->ntracker_nets && memcmp(nets, s->tracker_nets, n * sizeof *nets) == 0) return;
    memcpy(s->tracker_nets, nets, n * sizeof *nets);
    s->ntracker_nets = n;
    pf__log(s, PF_LOG_INFO, "the tracker says this viewer's ISP has %u network(s): its peers are served first", n);
    rejudge_peers(s);
}

