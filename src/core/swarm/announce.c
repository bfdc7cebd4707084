/* Tracker announces (BEP 3/12/23/7): which tracker, when, with what event.
 * The HTTP fetch itself is a PF_JOB_HTTP done by the caller. */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/swarm/swarm.h"
#include "core/util/mem.h"
#include "core/codec/tracker_proto.h"

enum { EV_NONE = 0, EV_STARTED = 1, EV_COMPLETED = 2, EV_STOPPED = 3 };

int pf_torrent_add_tracker(pf_torrent *t, const char *url, int tier)
{
    if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
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

static void send_announce(pf_torrent *t, uint32_t idx, int event, uint64_t now)
{
    pf__tracker *tr = &t->trackers[idx];
    pf_announce_req r;
    memset(&r, 0, sizeof r);
    memcpy(r.info_hash, t->info_hash, 20);
    memcpy(r.peer_id, t->s->peer_id, 20);
    r.port = t->s->set.listen_port;
    r.uploaded = t->uploaded;
    r.downloaded = t->downloaded;
    r.left = left_bytes(t);
    r.event = event;
    r.numwant = event == EV_STOPPED ? 0 : 80;
    r.key = t->s->key;
    r.trackerid = tr->trackerid[0] ? tr->trackerid : NULL;
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
        tr->fails++;
        uint32_t shift = tr->fails < 5 ? tr->fails : 5;
        tr->next_announce = now + (5ULL << shift) * PF_NS_PER_SEC;
        char why[300];
        if (j->result != 0)
            snprintf(why, sizeof why, "%s", pf_strerror(j->result)); /* e.g. reply too large */
        else if (j->status != 200)
            snprintf(why, sizeof why, "HTTP status %ld", (long)j->status);
        else if (prc != 0)
            snprintf(why, sizeof why, "unreadable reply (%s)", pf_strerror(prc));
        else
            snprintf(why, sizeof why, "tracker says: %s", resp.failure);
        pf__log(t->s, PF_LOG_WARN, "announce to %s failed: %s", tr->url, why);
        /* BEP 12: move on to the next tracker. */
        t->cur_tracker = (idx + 1) % t->ntrackers;
        if (t->cur_tracker != idx) {
            pf__tracker *nx = &t->trackers[t->cur_tracker];
            if (nx->next_announce > now) nx->next_announce = now;
            nx->started_sent = 0;
        }
        pf_announce_resp_clear(&resp);
        return;
    }
    tr->fails = 0;
    if (event == EV_STARTED || !tr->started_sent) tr->started_sent = 1;
    if (resp.trackerid[0]) memcpy(tr->trackerid, resp.trackerid, sizeof tr->trackerid);
    uint32_t interval = resp.interval ? resp.interval : 1800;
    if (interval < 15) interval = 15;
    if (interval > 3600) interval = 3600;
    tr->interval_s = interval;
    /* A leecher that learned of nobody asks again sooner (bounded by the
     * tracker's min interval) so a swarm that starts at once finds itself. */
    uint32_t next = interval;
    if (t->state != PF_TS_SEEDING && resp.num_peers == 0 && t->npeers == 0) {
        uint32_t soon = resp.min_interval > 10 ? resp.min_interval : 10;
        if (soon < next) next = soon;
    }
    tr->next_announce = now + (uint64_t)next * PF_NS_PER_SEC;
    for (size_t i = 0; i < resp.num_peers; i++) pf__torrent_add_addr(t, &resp.peers[i], now);
    pf__log(t->s, PF_LOG_INFO, "announce to %s: %zu peers, interval %u s", tr->url, resp.num_peers,
            interval);
    pf_announce_resp_clear(&resp);
    if (t->state == PF_TS_SEEDING && t->completed_here && !tr->completed_sent &&
        event != EV_COMPLETED) {
        tr->completed_sent = 1;
        send_announce(t, idx, EV_COMPLETED, now);
    }
}
