/* A viewer's QoE reports to its tracker (core/tracker/qoe.h for the
 * format): once a torrent has been read from (a stream), a report of the
 * stream's totals so far every qoe_report_ms and a last one, marked
 * final, when the torrent stops.  Reports go to the current HTTP
 * tracker, if its last announce reply said it takes them ("qoe": 1 in
 * its "peerflow" dict; a public tracker gets none), at its "qoe" URL (its announce URL with "announce" replaced, BEP 48's
 * rule) as a PF_JOB_HTTP with a POST body.  One at a time: a report that
 * fails is not resent (the next one carries the totals). */
#include <stdio.h>
#include <string.h>

#include "core/codec/http_parse.h"
#include "core/codec/tracker_proto.h"
#include "core/swarm/swarm.h"
#include "core/util/mem.h"

#define PF__QOE_DEFAULT_MS 60000u

/* The file played most (its QoE is the stream's), or -1. */
static long played_file(const pf_torrent *t, uint64_t now, pf_qoe *out)
{
    if (!t->has_meta || !t->qoe) return -1;
    long best = -1;
    uint64_t most = 0;
    for (uint32_t f = 0; f < t->mi->num_files; f++) {
        pf_qoe q;
        if (pf_torrent_qoe(t, f, now, &q) != 0) continue;
        if (best < 0 || q.bytes_served > most) {
            best = f;
            most = q.bytes_served;
            *out = q;
        }
    }
    return best;
}

static int num(pf_buf *b, const char *key, uint64_t v)
{
    return pf_buf_appendf(b, "&%s=%llu", key, (unsigned long long)v);
}

/* The report's body; 0 or an error. */
static int report_body(pf_torrent *t, const pf_qoe *q, int final, uint64_t now, pf_buf *b)
{
    int rc = pf_buf_append_str(b, "info_hash=");
    if (!rc) rc = pf_http_pct_encode(b, t->info_hash, 20);
    if (!rc) rc = pf_buf_appendf(b, "&stream=%s", t->qoe_stream);
    if (!rc && t->tracker_token) {
        rc = pf_buf_append_str(b, "&token=");
        if (!rc) rc = pf_http_pct_encode(b, t->tracker_token, strlen(t->tracker_token));
    }
    /* Media time played: what the player was handed at the media's rate,
     * no more than the wall time since the stream began. */
    double br = q->bitrate_bps / 8;
    uint64_t wall_ms = now > t->qoe_began ? (now - t->qoe_began) / 1000000 : 0;
    uint64_t play_ms = br > 0 ? (uint64_t)((double)q->bytes_served / br * 1000) : wall_ms;
    if (play_ms > wall_ms) play_ms = wall_ms;
    pf_torrent_stats st;
    pf_torrent_get_stats(t, &st);
    if (!rc) rc = num(b, "play_ms", play_ms);
    if (!rc && q->time_to_playable_s >= 0) rc = num(b, "startup_ms", (uint64_t)(q->time_to_playable_s * 1000));
    if (!rc) rc = num(b, "stalls", q->stalls);
    if (!rc) rc = num(b, "stall_ms", (uint64_t)(q->stall_s * 1000));
    if (!rc) rc = num(b, "cdn_bytes", st.cdn_downloaded);
    if (!rc) rc = num(b, "peer_bytes", st.peer_downloaded);
    if (!rc) rc = num(b, "upload_bytes", st.uploaded);
    if (!rc && t->s->up_budget != PF_UPLOAD_UNLIMITED) rc = num(b, "budget_left", t->s->up_budget);
    if (!rc && final) rc = pf_buf_append_str(b, "&final=1");
    return rc;
}

static void send_report(pf_torrent *t, int final, uint64_t now)
{
    if (t->ntrackers == 0) return;
    pf_qoe q;
    if (played_file(t, now, &q) < 0) return;
    uint32_t idx = t->cur_tracker < t->ntrackers ? t->cur_tracker : 0;
    /* Only to a tracker that said it takes them (a peerflow tracker's
     * "qoe": 1); BEP 15 has no room for one. */
    if (t->trackers[idx].udp || !t->trackers[idx].takes_qoe) return;
    pf_buf url, body;
    pf_buf_init_mem(&url, t->s->mem);
    pf_buf_init_mem(&body, t->s->mem);
    pf_job *j = NULL;
    /* info_hash in the query too: a balancer that routes by it (nginx's
     * hash $arg_info_hash) sends the report to the instance that owns
     * the swarm, where the stream's earlier totals are. */
    int rc = pf_tracker_qoe_url(&url, t->trackers[idx].url);
    if (!rc) {
        rc = pf_buf_append_str(&url, memchr(url.data, '?', url.len) ? "&info_hash=" : "?info_hash=");
        if (!rc) rc = pf_http_pct_encode(&url, t->info_hash, 20);
        if (!rc) rc = pf_buf_nul(&url);
    }
    if (!rc && report_body(t, &q, final, now, &body) == 0 &&
        body.len <= UINT32_MAX && (j = pf__job_new(t, PF_JOB_HTTP)) != NULL) {
        j->url = (char *)url.data;
        j->buf = body.data;
        j->len = (uint32_t)body.len;
        j->tag = PF__QOE_JOB_TAG;
        if (pf__torrent_emit_job(t, j) == 0) {
            t->qoe_inflight = 1;
            return;
        }
        pf__free(t->s->mem, j);
    }
    pf_buf_free(&url);
    pf_buf_free(&body);
}

void pf__qoe_report_tick(pf_torrent *t, uint64_t now)
{
    uint32_t period = t->s->set.qoe_report_ms ? t->s->set.qoe_report_ms : PF__QOE_DEFAULT_MS;
    if (period == PF_QOE_REPORT_OFF || t->stopped || t->qoe_final) return;
    if (!t->qoe_stream[0]) {
        pf_qoe q;
        if (played_file(t, now, &q) < 0) return;
        /* A stream began: its id, random, and its first report a period on. */
        uint64_t r = pf_rand_next(&t->s->rng);
        snprintf(t->qoe_stream, sizeof t->qoe_stream, "%016llx", (unsigned long long)r);
        t->qoe_began = now;
        t->qoe_next = now + (uint64_t)period * 1000000;
        return;
    }
    if (now < t->qoe_next || t->qoe_inflight) return;
    t->qoe_next = now + (uint64_t)period * 1000000;
    send_report(t, 0, now);
}

void pf__qoe_report_final(pf_torrent *t, uint64_t now)
{
    uint32_t period = t->s->set.qoe_report_ms;
    if (period == PF_QOE_REPORT_OFF || !t->qoe_stream[0] || t->qoe_final) return;
    t->qoe_final = 1;
    send_report(t, 1, now); /* even with one in flight: this one ends it */
}

void pf__qoe_report_done(pf_torrent *t, pf_job *j, uint64_t now)
{
    (void)now;
    t->qoe_inflight = 0;
    if (j->result != 0 || (j->status != 204 && j->status != 200))
        pf__log(t->s, PF_LOG_DEBUG, "QoE report not taken: %s, HTTP %ld",
                j->result ? pf_strerror(j->result) : "ok", (long)j->status);
}
