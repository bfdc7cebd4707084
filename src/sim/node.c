/* A viewer: what its session asks for (events and jobs), the announce
 * responder that stands in for a tracker, and the player. */
#include <stdlib.h>
#include <string.h>

#include "sim/sim_internal.h"

#define SIM_READ_MAX (1024 * 1024)

static void push(sim *w, uint64_t t, uint32_t type, uint32_t a, void *p)
{
    if (sim_queue_push(&w->q, t, type, a, p)) sim_fail(w, "out of memory (event queue)");
}

/* ---- the announce responder ---------------------------------------------------- */
/* The value of query parameter key in url (not decoded), or NULL. */
static const char *qparam(const char *url, const char *key, size_t *len)
{
    size_t kl = strlen(key);
    const char *q = strchr(url, '?');
    while (q) {
        q++;
        if (strncmp(q, key, kl) == 0 && q[kl] == '=') {
            const char *v = q + kl + 1;
            const char *e = strchr(v, '&');
            *len = e ? (size_t)(e - v) : strlen(v);
            return v;
        }
        q = strchr(q, '&');
    }
    return NULL;
}

void sim_tracker_remove(sim *w, uint32_t node)
{
    sim_node *nd = &w->nodes[node];
    if (nd->trk_pos < 0) return;
    uint32_t *sw = w->swarm + w->tbase[nd->title];
    uint32_t last = sw[--w->tn[nd->title]];
    sw[nd->trk_pos] = last;
    w->nodes[last].trk_pos = nd->trk_pos;
    nd->trk_pos = -1;
}

/* Up to want viewers of the swarm other than node, chosen at random. */
static size_t tracker_pick(sim *w, uint32_t node, size_t want, uint32_t *out)
{
    uint32_t t = w->nodes[node].title, nsw = w->tn[t];
    const uint32_t *sw = w->swarm + w->tbase[t];
    size_t others = nsw - (w->nodes[node].trk_pos >= 0 ? 1 : 0);
    size_t n = 0;
    if (others <= want) {
        for (uint32_t i = 0; i < nsw; i++)
            if (sw[i] != node) out[n++] = sw[i];
        return n;
    }
    while (n < want) {
        uint32_t v = sw[sim_rand(&w->rng) % nsw];
        int dup = v == node;
        for (size_t k = 0; k < n && !dup; k++) dup = out[k] == v;
        if (!dup) out[n++] = v;
    }
    return n;
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
    size_t len = 0;
    const char *ev = qparam(j->url ? j->url : "", "event", &len);
    int stopped = ev && len == 7 && memcmp(ev, "stopped", 7) == 0;
    size_t want = w->sc.numwant;
    const char *nw = qparam(j->url ? j->url : "", "numwant", &len);
    if (nw && len > 0 && len < 6) {
        size_t v = 0;
        for (size_t i = 0; i < len && nw[i] >= '0' && nw[i] <= '9'; i++) v = v * 10 + (size_t)(nw[i] - '0');
        if (v < want) want = v;
    }
    if (stopped) {
        sim_tracker_remove(w, node);
        want = 0;
    } else if (nd->trk_pos < 0) {
        nd->trk_pos = w->tn[nd->title];
        w->swarm[w->tbase[nd->title] + w->tn[nd->title]++] = node;
    }
    uint32_t picked[200];
    size_t np = tracker_pick(w, node, want < 200 ? want : 200, picked);
    char head[128];
    int hl = snprintf(head, sizeof head, "d8:intervali%ue12:min intervali%ue5:peers%zu:",
                      w->sc.tracker_interval_s, w->sc.tracker_interval_s, 6 * np);
    uint8_t body[128 + 6 * 200 + 1];
    memcpy(body, head, (size_t)hl);
    size_t bl = (size_t)hl;
    for (size_t i = 0; i < np; i++) {
        uint8_t *p = body + bl;
        sim_node_addr(w, picked[i], p);
        p[4] = (uint8_t)(SIM_PORT >> 8);
        p[5] = (uint8_t)(SIM_PORT & 0xff);
        bl += 6;
    }
    body[bl++] = 'e';
    j->result = 0;
    j->status = 200;
    j->body = body;
    j->body_len = bl;
    pf_torrent_job_done(nd->t, j, w->now);
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
