/* A viewer: what its session asks for (events and jobs), the tracker
 * that answers its announces (the real core), and the player. */
#include <stdlib.h>
#include <string.h>

#include "core/codec/http_parse.h"
#include "core/tracker/alto.h"
#include "core/tracker/tracker.h"
#include "core/util/buf.h"
#include "sim/sim_internal.h"

#define SIM_READ_MAX (1024 * 1024)

static void push(sim *w, uint64_t t, uint32_t type, uint32_t a, void *p)
{
    if (sim_queue_push(&w->q, t, type, a, p)) sim_fail(w, "out of memory (event queue)");
}

/* ---- the tracker: the real core ------------------------------------------------- */
/* The tracker is the core `peerflow tracker` runs (core/tracker), fed
 * the bytes of the engine's GET as net/tracker_server.c feeds it, from
 * the viewer's virtual address, at virtual time.  One per run, made at
 * the first announce and freed once no viewer can announce again. */
#define SIM_TRACKER_SALT 0x747261636b6572ULL /* "tracker": its seed is the scenario's salted */

/* The ISPs' network map, as an operator would hand it to the tracker
 * (--alto-network-map): PID "ispK" holds ISP K's /12 (sim_node_addr).
 * No cost map: 0 within a PID, 1 between. */
static int tracker_alto(sim *w)
{
    char text[128 + PF_SIM_MAX_ISPS * 48];
    int n = snprintf(text, sizeof text, "{\"meta\": {\"vtag\": {\"resource-id\": \"sim\", \"tag\": \"1\"}}, "
                                        "\"network-map\": {");
    for (uint32_t k = 0; k < w->sc.nisp && n > 0 && (size_t)n < sizeof text; k++)
        n += snprintf(text + n, sizeof text - (size_t)n, "%s\"isp%u\": {\"ipv4\": [\"10.%u.0.0/12\"]}",
                      k ? ", " : "", k + 1, k << 4);
    if (n > 0 && (size_t)n < sizeof text) n += snprintf(text + n, sizeof text - (size_t)n, "}}");
    if (n <= 0 || (size_t)n >= sizeof text) return -1;
    char why[256];
    pf_alto_map *m = NULL;
    if (pf_alto_load(text, (size_t)n, NULL, 0, &m, why, sizeof why) != 0) return -1;
    w->trk_alto = m;
    pf_tracker_set_alto(w->trk, m);
    return 0;
}

static int tracker_make(sim *w)
{
    pf_tracker_config tc;
    pf_tracker_config_default(&tc);
    tc.interval_s = w->sc.tracker_interval_s; /* min interval: half of it, as the server's default */
    tc.numwant_default = tc.numwant_max = w->sc.numwant;
    size_t room = (size_t)w->n + 1; /* every viewer, distinct addresses: nobody evicted or refused */
    if (tc.max_peers_per_torrent < room) tc.max_peers_per_torrent = room;
    if (tc.max_peers_total < room) tc.max_peers_total = room;
    if (tc.max_torrents < w->sc.titles) tc.max_torrents = w->sc.titles;
    tc.ip_rate_per_min = PF_TRACKER_UNLIMITED; /* one announcer per address, no flood */
    tc.max_qoe_series = tc.max_qoe_streams = 1; /* QoE reports are off */
    uint64_t s = w->sc.seed ^ SIM_TRACKER_SALT;
    tc.seed = sim_rand(&s);
    if (!(w->trk = pf_tracker_new(&tc))) return -1;
    w->trk_expire_at = pf_tracker_expire_period_ns(w->trk);
    if (w->sc.nisp && !w->sc.locality_none && tracker_alto(w)) return -1;
    return 0;
}

void sim_tracker_free(sim *w)
{
    pf_tracker_free(w->trk);
    pf_alto_free(w->trk_alto);
    w->trk = NULL;
    w->trk_alto = NULL;
}

/* A viewer leaves.  Abruptly, as the application is closed: no "stopped"
 * announce (the engine sends one only when a torrent is removed), so the
 * tracker keeps listing it until it expires (pf_tracker_expire: twice
 * the gap it left between announces, at least twice the interval; 600 s,
 * twice client_floor_s, before its second announce).  The tracker is
 * freed with the last viewer. */
void sim_tracker_remove(sim *w, uint32_t node)
{
    (void)node;
    w->trk_gone++;
    if (w->trk && (w->trk_gone >= w->n || (w->now >= w->end_at && w->present <= 1))) sim_tracker_free(w);
}

/* The server's expiry timer, every pf_tracker_expire_period_ns, run at
 * its last tick before now (between ticks only announces look at the
 * swarms). */
static void tracker_expire(sim *w)
{
    uint64_t period = pf_tracker_expire_period_ns(w->trk);
    if (w->now < w->trk_expire_at) return;
    uint64_t tick = w->trk_expire_at + (w->now - w->trk_expire_at) / period * period;
    pf_tracker_expire(w->trk, tick);
    w->trk_expire_at = tick + period;
}

int sim_tracker_ask(sim *w, uint32_t node, const char *url, pf_buf *body)
{
    if (!w->trk && tracker_make(w)) {
        sim_fail(w, "out of memory (tracker)");
        return 500;
    }
    tracker_expire(w);
    const char *target = strstr(url, "://");
    target = target ? strchr(target + 3, '/') : NULL;
    if (!target) return 400;
    pf_buf req;
    pf_buf_init(&req);
    int status = 400;
    if (pf_buf_append(&req, "GET ", 4) || pf_buf_append(&req, target, strlen(target)) ||
        pf_buf_append_str(&req, " HTTP/1.1\r\nHost: tracker.sim\r\n\r\n")) {
        status = 500;
    } else {
        pf_http_request hr;
        pf_addr from;
        memset(&from, 0, sizeof from);
        from.family = 4;
        sim_node_addr(w, node, from.ip);
        from.port = (uint16_t)(40000 + node % 20000); /* its ephemeral port: ignored */
        if (pf_http_request_parse(req.data, req.len, 0, &hr) > 0 && hr.method == PF_HTTP_GET)
            status = pf_tracker_handle_request(w->trk, &hr, &from, w->now, body);
    }
    pf_buf_free(&req);
    return status;
}

/* The tracker's answer reaches the viewer (an HTTP announce). */
static void http_unlink(sim *w, sim_http *h)
{
    sim_node *nd = &w->nodes[h->node];
    if (h->prev)
        h->prev->next = h->next;
    else if (nd->https == h)
        nd->https = h->next;
    if (h->next) h->next->prev = h->prev;
    h->next = h->prev = NULL;
}

/* The viewer leaves: its announces on their way are reported ended (the
 * engine frees a job only when it is reported done); their answers find
 * nobody. */
void sim_http_drop_node(sim *w, uint32_t node)
{
    sim_node *nd = &w->nodes[node];
    while (nd->https) {
        sim_http *h = nd->https;
        http_unlink(w, h);
        pf_job *j = h->j;
        h->j = NULL;
        j->io = NULL;
        j->result = PF_ERR_SHUTDOWN;
        pf_torrent_job_done(nd->t, j, w->now);
    }
}

void sim_http_answer(sim *w, uint32_t node, void *http)
{
    sim_http *h = http;
    pf_job *j = h->j;
    if (j) http_unlink(w, h);
    free(h);
    sim_node *nd = &w->nodes[node];
    if (!j || !nd->alive) return;
    w->announces++;
    j->io = NULL;
    pf_buf body;
    pf_buf_init(&body);
    int status = sim_tracker_ask(w, node, j->url ? j->url : "", &body);
    j->result = 0;
    j->status = status;
    j->body = body.data;
    j->body_len = body.len;
    pf_torrent_job_done(nd->t, j, w->now); /* the body is borrowed for the call */
    pf_buf_free(&body);
    sim_touch(w, node);
}

static void http_request(sim *w, sim_node *nd, pf_job *j)
{
    if (j->buf) { /* a POST (QoE report; off in the simulator): taken */
        j->result = 0;
        j->status = 200;
        j->body = NULL;
        j->body_len = 0;
        pf_torrent_job_done(nd->t, j, w->now);
        return;
    }
    sim_http *h = malloc(sizeof *h);
    if (!h) {
        j->result = PF_ERR_NOMEM;
        pf_torrent_job_done(nd->t, j, w->now);
        sim_fail(w, "out of memory (announce)");
        return;
    }
    h->j = j;
    h->node = nd->idx;
    h->prev = NULL;
    h->next = nd->https;
    if (nd->https) nd->https->prev = h;
    nd->https = h;
    j->io = h;
    uint64_t rtt = 2 * (w->sc.cls[nd->cls].latency_ns + w->sc.tracker_latency_ns);
    push(w, w->now + rtt, EV_HTTP, nd->idx, h);
}

/* ---- jobs --------------------------------------------------------------------------- */
static void job_run(sim *w, sim_node *nd, pf_job *j)
{
    int in_range = j->offset <= w->size && j->len <= w->size - j->offset;
    switch (j->type) {
    case PF_JOB_READ: /* the title is a function of the offset: read it */
        if (in_range && !j->buf) {
            /* payload elided: nothing to read */
        } else if (in_range) {
            sim_content_fill(w, j->offset, j->buf, j->len);
            j->verified = 1; /* the true bytes, whose SHA-1s the torrent holds */
        }
        j->result = in_range ? 0 : PF_ERR_IO;
        break;
    case PF_JOB_WRITE: /* nothing is stored; unverified data is compared */
        j->result = !in_range ? PF_ERR_IO
                    : !j->buf  ? 0 /* payload elided: the verify hook vouched for it */
                    : !j->verified && !sim_content_equal(w, j->offset, j->buf, j->len) ? PF_ERR_HASH
                                                                                        : 0;
        break;
    case PF_JOB_HASH: /* storage starts empty */
        j->result = PF_ERR_HASH;
        break;
    case PF_JOB_DISCARD:
        j->result = 0;
        break;
    case PF_JOB_HTTP:
        http_request(w, nd, j);
        return;
    case PF_JOB_WEBSEED:
        sim_cdn_request(w, nd->idx, j);
        return;
    default: /* PF_JOB_RESOLVE: no names in the simulator */
        j->result = PF_ERR_NOTFOUND;
        break;
    }
    pf_torrent_job_done(nd->t, j, w->now);
}

static void job_cancel(sim *w, sim_node *nd, pf_job *j)
{
    if (j->type == PF_JOB_WEBSEED) {
        sim_cdn_cancel(w, j);
        return;
    }
    if (j->type == PF_JOB_HTTP && j->io) {
        sim_http *h = j->io;
        http_unlink(w, h);
        h->j = NULL; /* its answer finds nobody */
        j->io = NULL;
        j->result = PF_ERR_SHUTDOWN;
        pf_torrent_job_done(nd->t, j, w->now);
    }
}

/* ---- events ---------------------------------------------------------------------------- */
static void node_event(sim *w, sim_node *nd, pf_event *ev)
{
    sim_end *e = ev->peer ? pf_peer_ud(ev->peer) : NULL;
    switch (ev->type) {
    case PF_EV_CONNECT:
        sim_dial(w, nd->idx, ev->peer, &ev->ep);
        break;
    case PF_EV_CLOSE:
        if (e && e->p == ev->peer)
            sim_end_close(w, e, 1);
        else if (!e)
            pf_peer_closed(ev->peer, w->now);
        break;
    case PF_EV_WRITE:
        if (e && e->p == ev->peer) sim_end_take(w, e);
        break;
    case PF_EV_JOB:
        job_run(w, nd, ev->job);
        break;
    case PF_EV_JOB_CANCEL:
        job_cancel(w, nd, ev->job);
        break;
    case PF_EV_STREAM_READY:
        if (nd->pl.open && (uint32_t)ev->err == nd->pl.id) nd->player_wake = 1;
        break;
    case PF_EV_LOG_ERROR:
        nd->log_errors++;
        break;
    case PF_EV_DATAGRAMS: { /* no UDP in the simulator (TCP peers, HTTP tracker) */
        uint8_t dg[PF_MAX_DATAGRAM];
        pf_addr to;
        while (pf_session_take_datagram(nd->s, &to, dg, sizeof dg) > 0) w->datagrams_dropped++;
        break;
    }
    default: /* METADATA, CHECKED, COMPLETE: nothing to do */
        break;
    }
}

/* Handles everything the session asked for since it was last called,
 * wakes its player if a stream became readable, and schedules its next
 * tick. */
void sim_node_drain(sim *w, uint32_t node)
{
    sim_node *nd = &w->nodes[node];
    nd->dirty = 0;
    pf_event ev;
    while (nd->alive && !w->failed && pf_session_next_event(nd->s, &ev)) node_event(w, nd, &ev);
    if (!nd->alive) return;
    if (nd->player_wake) {
        nd->player_wake = 0;
        sim_player_step(w, nd);
    }
    uint64_t t = pf_session_next_timeout(nd->s, w->now);
    if (t != nd->timer_at) {
        nd->timer_at = t;
        push(w, t, EV_TIMER, node, NULL);
    }
}

/* ---- the player ------------------------------------------------------------------------ */
/* As tools/lab/player.py: plays once startup_s of media are buffered,
 * stalls when the buffer runs dry and plays again once rebuffer_s are
 * buffered; reads at most buffer_s ahead. */
void sim_player_open(sim *w, sim_node *nd)
{
    sim_player *pl = &nd->pl;
    memset(pl, 0, sizeof *pl);
    pl->Bps = w->sc.bitrate / 8;
    pl->flen = w->size;
    if (!w->sc.player_probe) { /* else once the header is read (player_read) */
        pf_torrent_set_bitrate(nd->t, 0, pl->Bps);
        pl->told = 1;
    }
    if (pf_torrent_stream_open(nd->t, 0, 0, w->now, &pl->id) != 0) {
        pl->state = PL_ENDED; /* counted as never started */
        return;
    }
    pl->open = 1;
    pl->state = PL_STARTUP;
    pl->opened_at = pl->last_at = w->now;
    sim_player_step(w, nd);
    sim_touch(w, nd->idx);
}

/* A viewer arrived: its player opens the stream now, or `player delay`
 * later (the lab's player process starts after its client's). */
void sim_player_arrive(sim *w, sim_node *nd)
{
    if (w->sc.player_delay_s <= 0) {
        sim_player_open(w, nd);
        return;
    }
    memset(&nd->pl, 0, sizeof nd->pl);
    nd->pl.to_open = 1;
    nd->pl.wake_at = w->now + (uint64_t)(w->sc.player_delay_s * 1e9 + 0.5);
    push(w, nd->pl.wake_at, EV_PLAYER, nd->idx, NULL);
}

/* The demand of the fluid bound: bytes read now, and bytes nobody read
 * before (64 KiB slots, as the lab counts them). */
static void note_read(sim *w, uint32_t title, uint64_t off, uint64_t n)
{
    uint8_t *slots = w->slots + (size_t)title * (w->nslots / 8 + 1); /* each title its own */
    uint64_t bin = w->now / 1000000000ULL;
    if (bin >= w->nbins) bin = w->nbins - 1;
    w->demand[bin] += (double)n;
    uint64_t fresh = 0; /* bytes of the slots nobody read before (the last one is short) */
    for (uint64_t s = off / SIM_SLOT; s <= (off + n - 1) / SIM_SLOT && s < w->nslots; s++)
        if (!(slots[s >> 3] & (1u << (s & 7)))) {
            slots[s >> 3] |= (uint8_t)(1u << (s & 7));
            fresh += w->size - s * SIM_SLOT < SIM_SLOT ? w->size - s * SIM_SLOT : SIM_SLOT;
        }
    if (fresh) w->novel[bin] += (double)(fresh < n + SIM_SLOT ? fresh : n + SIM_SLOT);
}

static void player_read(sim *w, sim_node *nd)
{
    sim_player *pl = &nd->pl;
    pl->waiting = 0;
    while (pl->read_pos < pl->flen && (double)pl->read_pos < pl->play_pos + w->sc.buffer_s * pl->Bps) {
        double room = pl->play_pos + w->sc.buffer_s * pl->Bps - (double)pl->read_pos;
        size_t max = room < SIM_READ_MAX ? (size_t)room + 1 : SIM_READ_MAX;
        long a = pf_torrent_stream_avail(nd->t, pl->id, pl->read_pos, max, w->now);
        if (a <= 0) {
            pl->waiting = a == 0;
            if (a < 0) pl->state = PL_ENDED;
            break;
        }
        if (!pl->told && pl->read_pos + (uint64_t)a >= w->sc.player_probe) {
            /* The container probe has the header (the CLI's media server
             * feeds it before stream_served): the bitrate is known. */
            pf_torrent_set_bitrate(nd->t, 0, pl->Bps);
            pl->told = 1;
        }
        pf_torrent_stream_served(nd->t, pl->id, pl->read_pos, (size_t)a, w->now);
        note_read(w, nd->title, pl->read_pos, (uint64_t)a);
        pl->read_pos += (uint64_t)a;
    }
    sim_touch(w, nd->idx);
}

static void player_schedule(sim *w, sim_node *nd)
{
    sim_player *pl = &nd->pl;
    uint64_t wake;
    if (pl->state == PL_PLAYING) {
        double buffered = (double)pl->read_pos - pl->play_pos;
        wake = w->now + (uint64_t)(buffered / pl->Bps * 1e9) + 1;
        double half = w->sc.buffer_s * pl->Bps / 2;
        if (!pl->waiting && pl->read_pos < pl->flen) {
            double extra = buffered > half ? buffered - half : 0;
            uint64_t refill = w->now + (uint64_t)(extra / pl->Bps * 1e9);
            if (refill < wake) wake = refill;
        }
    } else if (pl->state == PL_ENDED) {
        return;
    } else {
        wake = w->now + 1000000000ULL; /* STREAM_READY comes first, as a rule */
    }
    if (wake < w->now + 1000000ULL) wake = w->now + 1000000ULL;
    if (wake != pl->wake_at) {
        pl->wake_at = wake;
        push(w, wake, EV_PLAYER, nd->idx, NULL);
    }
}

void sim_player_step(sim *w, sim_node *nd)
{
    sim_player *pl = &nd->pl;
    if (!pl->open || pl->state == PL_ENDED) return;
    double dt = (double)(w->now - pl->last_at) / 1e9;
    pl->last_at = w->now;
    if (pl->state == PL_PLAYING) {
        pl->play_pos += dt * pl->Bps;
        if (pl->play_pos + 1 >= (double)pl->read_pos) {
            pl->play_pos = (double)pl->read_pos;
            if (pl->read_pos >= pl->flen) {
                pl->state = PL_ENDED;
                pf_torrent_stream_close(nd->t, pl->id, w->now);
                pl->open = 0;
                sim_touch(w, nd->idx);
                return;
            }
            pl->state = PL_STALLED;
            pl->stalls++;
            pl->stall_since = w->now;
        }
    }
    player_read(w, nd);
    if (pl->state == PL_STARTUP || pl->state == PL_STALLED) {
        double need = (pl->state == PL_STARTUP ? w->sc.startup_s : w->sc.rebuffer_s) * pl->Bps;
        if ((double)pl->read_pos - pl->play_pos >= need || pl->read_pos >= pl->flen) {
            if (pl->state == PL_STARTUP) {
                pl->started = 1;
                pl->started_at = w->now;
            } else {
                pl->stall_s += (double)(w->now - pl->stall_since) / 1e9;
            }
            pl->state = PL_PLAYING;
        }
    }
    player_schedule(w, nd);
}
