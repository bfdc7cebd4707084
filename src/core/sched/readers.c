/* Readers of files (a player's HTTP request each): their positions, the
 * media clock, stalls and the rest of the QoE.  Their reads are the
 * playheads the deadline scheduler (sched.c) works for.
 *
 * QoE follows a media clock per reader: it starts with the first byte and
 * runs in real time; a read that waits for data the clock has already
 * reached is a stall (a reader racing ahead of real time, like
 * `ffmpeg -f null`, is not stalling). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/swarm/swarm.h"
#include "core/util/mem.h"

#define PF__PLAYABLE_S 10.0

pf__stream *pf__stream_find(pf_torrent *t, uint32_t id)
{
    for (uint32_t i = 0; i < t->nstreams; i++)
        if (t->streams[i].id == id) return &t->streams[i];
    return NULL;
}

static pf__stream *stream_find(pf_torrent *t, uint32_t id)
{
    pf__stream *st = pf__stream_find(t, id);
    return st && !st->cursor ? st : NULL; /* cursors are nobody's readers */
}

pf__stream *pf__stream_new(pf_torrent *t, uint64_t now)
{
    if (t->nstreams >= 64) return NULL;
    if (t->nstreams == t->cap_streams) {
        uint32_t cap = t->cap_streams ? t->cap_streams * 2 : 4;
        pf__stream *n = pf__realloc(t->s->mem, t->streams, cap * sizeof *n);
        if (!n) return NULL;
        t->streams = n;
        t->cap_streams = cap;
    }
    pf__stream *st = &t->streams[t->nstreams++];
    memset(st, 0, sizeof *st);
    st->id = t->s->next_id++;
    st->opened = now;
    st->startup_end = UINT64_MAX; /* prefix start; set by the scheduler */
    st->startup_at = now;
    return st;
}

void pf__stream_remove(pf_torrent *t, pf__stream *st) { *st = t->streams[--t->nstreams]; }

const pf_stream_settings *pf__sset(const pf_torrent *t) { return &t->s->set.stream; }

double pf__bitrate(const pf_torrent *t, uint32_t file)
{
    const pf__fileqoe *q = t->qoe ? &t->qoe[file] : NULL;
    if (q && q->bitrate > 0) return q->bitrate;
    return pf__sset(t)->default_bitrate > 0 ? pf__sset(t)->default_bitrate : 500000.0;
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    if (a < b) return 0;
    for (size_t i = 0; i < b; i++) {
        char c = s[a - b + i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != suf[i]) return 0;
    }
    return 1;
}

void pf__fetch_object_type(const pf_torrent *t, uint32_t file, char ot[3])
{
    ot[0] = ot[1] = ot[2] = 0;
    if (file >= t->mi->num_files || !t->mi->files[file].path) return;
    const pf__timeline *tl = t->tl;
    if (tl && tl->file_track[file]) {
        /* A segment: its track's kind ("v" alone when the title has audio
         * tracks of its own, else video muxed with its audio). */
        char kind = tl->tracks[tl->file_track[file] - 1].kind;
        int audio = 0;
        for (uint32_t i = 0; i < tl->ntracks; i++) audio |= tl->tracks[i].kind == 'a';
        const char *k = kind == 'a' ? "a" : kind == 't' ? "tt" : audio ? "v" : "av";
        memcpy(ot, k, strlen(k));
        return;
    }
    const char *p = t->mi->files[file].path;
    const char *base = strrchr(p, '/');
    base = base ? base + 1 : p;
    const char *k = "o";
    if (ends_with(p, ".m3u8") || ends_with(p, ".m3u") || ends_with(p, ".mpd"))
        k = "m";
    else if (strstr(base, "init") && (ends_with(p, ".mp4") || ends_with(p, ".m4s") || ends_with(p, ".m4v")))
        k = "i";
    else if (ends_with(p, ".m4a") || ends_with(p, ".aac") || ends_with(p, ".mp3") || ends_with(p, ".opus"))
        k = "a";
    else if (ends_with(p, ".ts") || ends_with(p, ".m4s") || ends_with(p, ".mp4") || ends_with(p, ".m4v") ||
             ends_with(p, ".mkv") || ends_with(p, ".webm") || ends_with(p, ".mov"))
        k = "av";
    else if (ends_with(p, ".vtt") || ends_with(p, ".ttml"))
        k = "tt";
    memcpy(ot, k, strlen(k));
}

void pf__streams_free(pf_torrent *t)
{
    pf__tl_free(t);
    pf__free(t->s->mem, t->streams);
    pf__free(t->s->mem, t->qoe);
    t->streams = NULL;
    t->qoe = NULL;
    t->nstreams = t->cap_streams = 0;
}

/* A reader starts at offset of file (a first read, or one elsewhere than
 * where the last reader stopped).  Until a position has had 10 s of media
 * verified ahead of it, a read at another position (a player that read
 * the header at 0 and seeks to where it plays) starts the measurement
 * over there; a read inside the 10 s being measured (a player re-reading
 * the start) keeps it.  Once measured, the value stays. */
static void position_start(pf_torrent *t, uint32_t file, uint64_t offset, uint64_t now)
{
    pf__fileqoe *q = &t->qoe[file];
    if (q->playable_at) return;
    uint64_t span = (uint64_t)(PF__PLAYABLE_S * pf__bitrate(t, file));
    if (q->play_start && offset >= q->playable_from && offset - q->playable_from < span) return;
    q->play_start = now;
    q->playable_from = offset;
}

int pf_torrent_stream_open(pf_torrent *t, uint32_t file, uint64_t offset, uint64_t now, uint32_t *id)
{
    if (!t->has_meta) return PF_ERR_INVAL;
    if (file >= t->mi->num_files) return PF_ERR_NOTFOUND;
    if (offset > t->mi->files[file].length) return PF_ERR_RANGE;
    if (!t->qoe) {
        t->qoe = pf__calloc(t->s->mem, t->mi->num_files, sizeof *t->qoe);
        if (!t->qoe) return PF_ERR_NOMEM;
    }
    if (t->nstreams >= 64) return PF_ERR_LIMIT;
    pf__stream *st = pf__stream_new(t, now);
    if (!st) return PF_ERR_NOMEM;
    t->await_reader = 0;
    st->file = file;
    st->start_off = st->pos = offset;
    pf__fileqoe *q = &t->qoe[file];
    if (q->first_read == 0) {
        q->first_read = now;
        position_start(t, file, offset, now);
    } else if (offset != q->last_end) {
        if (offset != 0) q->seeks++;
        position_start(t, file, offset, now);
    }
    q->active++;
    *id = st->id;
    if (t->tl) {
        int rc = pf__tl_open(t, st->id, now); /* may move t->streams */
        if (rc < 0) {
            pf_torrent_stream_close(t, *id, now);
            return rc;
        }
    }
    pf__sched_update(t, now);
    return 0;
}

void pf_torrent_set_await_reader(pf_torrent *t, int on) { t->await_reader = on != 0; }

void pf_torrent_stream_close(pf_torrent *t, uint32_t id, uint64_t now)
{
    pf__stream *st = stream_find(t, id);
    if (!st) return;
    pf__fileqoe *q = &t->qoe[st->file];
    if (st->waiting && st->wait_is_stall) q->stall_ns += now - st->wait_since;
    q->last_end = st->pos;
    if (q->active) q->active--;
    if (st->waiting && st->wait_is_stall && st->mtrack) pf__tl_wait_over(t, now - st->wait_since, now);
    pf__stream_remove(t, st);
    pf__sched_update(t, now);
}

/* Verified bytes from torrent offset abs (at most max). */
uint64_t pf__verified_run(const pf_torrent *t, uint64_t abs, uint64_t max)
{
    uint64_t plen = t->mi->piece_length, got = 0;
    while (got < max && abs + got < t->mi->total_length) {
        uint32_t piece = (uint32_t)((abs + got) / plen);
        if (!pf_bitfield_get(&t->have, piece)) break;
        uint64_t piece_end = (uint64_t)(piece + 1) * plen;
        got = piece_end - abs;
    }
    return got < max ? got : max;
}

double pf__media_clock(const pf__stream *st, uint64_t now)
{
    if (!st->started) return 0;
    return (double)(now - st->clock_start - st->stall_ns) / 1e9;
}

static void check_playable(pf_torrent *t, uint32_t file, uint64_t now)
{
    pf__fileqoe *q = &t->qoe[file];
    if (q->playable_at || q->first_read == 0) return;
    const pf_file_entry *fe = &t->mi->files[file];
    uint64_t want = (uint64_t)(PF__PLAYABLE_S * pf__bitrate(t, file));
    if (want > fe->length - q->playable_from) want = fe->length - q->playable_from;
    if (pf__verified_run(t, fe->offset + q->playable_from, want) >= want) q->playable_at = now;
}

/* A read that began waiting ahead of the media clock becomes a stall when
 * the clock reaches the data it waits for: the player's buffer runs dry
 * then, whatever held the data up (a CDN sending garbage once left a
 * player without a byte for a minute while the QoE said 0 stalls). */
static void wait_update(pf_torrent *t, pf__stream *st, uint64_t now)
{
    if (st->mtrack && st->waiting && !st->wait_is_stall && !st->cursor) {
        if (pf__tl_wait_is_stall(t, st, st->wait_off, now)) {
            st->wait_is_stall = 1;
            st->wait_since = now;
            t->qoe[st->file].stalls++;
        }
        return;
    }
    if (!st->waiting || st->wait_is_stall || !st->started) return;
    double media_t = (double)(st->wait_off - st->start_off) / pf__bitrate(t, st->file);
    if (media_t > pf__media_clock(st, now) + 0.05) return;
    uint64_t at = st->clock_start + st->stall_ns + (uint64_t)(media_t * 1e9);
    st->wait_is_stall = 1;
    st->wait_since = at > st->wait_since && at <= now ? at : now;
    t->qoe[st->file].stalls++;
}

void pf__streams_tick(pf_torrent *t, uint64_t now)
{
    for (uint32_t i = 0; i < t->nstreams; i++) wait_update(t, &t->streams[i], now);
    if (t->tl) pf__tl_tick(t, now);
}

long pf_torrent_stream_avail(pf_torrent *t, uint32_t id, uint64_t offset, size_t max, uint64_t now)
{
    pf__stream *st = stream_find(t, id);
    if (!st) return PF_ERR_NOTFOUND;
    const pf_file_entry *fe = &t->mi->files[st->file];
    if (offset >= fe->length) return PF_ERR_RANGE;
    if (max > fe->length - offset) max = (size_t)(fe->length - offset);
    if (offset != st->pos && !st->mtrack) {
        /* The reader jumped: a new playhead, with its own start-up. */
        position_start(t, st->file, offset, now);
        st->pos = offset;
        st->startup_done = 0;
        st->startup_end = UINT64_MAX;
        st->startup_at = now;
        st->su_phase = 0;
        st->su_head = 0;
    }
    uint64_t n = pf__verified_run(t, fe->offset + offset, max);
    pf__fileqoe *q = &t->qoe[st->file];
    if (n > 0) {
        if (st->waiting) {
            if (st->wait_is_stall) {
                uint64_t d = now - st->wait_since;
                st->stall_ns += d;
                q->stall_ns += d;
                if (st->mtrack) pf__tl_wait_over(t, d, now);
            }
            st->waiting = 0;
        }
        return (long)n;
    }
    if (!st->waiting) {
        st->waiting = 1;
        st->wait_off = offset;
        st->wait_since = now;
        /* Behind the media clock means the player has run dry. */
        if (st->mtrack) {
            st->wait_is_stall = pf__tl_wait_is_stall(t, st, offset, now);
        } else {
            double media_t = (double)(offset - st->start_off) / pf__bitrate(t, st->file);
            st->wait_is_stall = st->started && media_t <= pf__media_clock(st, now) + 0.05;
        }
        if (st->wait_is_stall) q->stalls++;
    }
    pf__sched_update(t, now);
    return 0;
}

void pf_torrent_stream_served(pf_torrent *t, uint32_t id, uint64_t offset, size_t n, uint64_t now)
{
    pf__stream *st = stream_find(t, id);
    if (!st) return;
    pf__fileqoe *q = &t->qoe[st->file];
    if (!st->started) {
        st->started = 1;
        st->clock_start = now;
    }
    if (q->first_byte == 0) q->first_byte = now;
    st->pos = offset + n;
    q->served += n;
    q->playhead = st->pos;
    q->last_end = st->pos;
    /* No container duration: the long-run read rate stands in for the
     * bitrate (bounded: a reader racing ahead says little). */
    if (q->bitrate_src != 1 && q->first_byte && now > q->first_byte + 2 * PF_NS_PER_SEC) {
        double r = (double)q->served / ((double)(now - q->first_byte) / 1e9);
        if (r < 64e3) r = 64e3;
        if (r > 4e6) r = 4e6;
        q->bitrate = r;
        q->bitrate_src = 2;
    }
    check_playable(t, st->file, now);
    if (st->mtrack) pf__tl_served(t, st, offset, n, now);
}

void pf_torrent_set_bitrate(pf_torrent *t, uint32_t file, double bps)
{
    if (!t->has_meta || file >= t->mi->num_files || bps <= 0) return;
    if (!t->qoe) {
        t->qoe = pf__calloc(t->s->mem, t->mi->num_files, sizeof *t->qoe);
        if (!t->qoe) return;
    }
    t->qoe[file].bitrate = bps;
    t->qoe[file].bitrate_src = 1;
}

int pf_torrent_qoe(const pf_torrent *t, uint32_t file, uint64_t now, pf_qoe *out)
{
    memset(out, 0, sizeof *out);
    if (!t->qoe || !t->has_meta || file >= t->mi->num_files || t->qoe[file].first_read == 0)
        return PF_ERR_NOTFOUND;
    const pf__fileqoe *q = &t->qoe[file];
    out->active = q->active > 0;
    out->ttfb_s = q->first_byte ? (double)(q->first_byte - q->first_read) / 1e9 : -1;
    out->time_to_playable_s = q->playable_at ? (double)(q->playable_at - q->play_start) / 1e9 : -1;
    out->stalls = q->stalls;
    uint64_t stall = q->stall_ns;
    for (uint32_t i = 0; i < t->nstreams; i++) {
        const pf__stream *st = &t->streams[i];
        if (st->file == file && !st->cursor && st->waiting && st->wait_is_stall) stall += now - st->wait_since;
    }
    out->stall_s = (double)stall / 1e9;
    out->seeks = q->seeks;
    out->bitrate_bps = 8 * pf__bitrate(t, file); /* bits, as the name says */
    out->bitrate_from_container = q->bitrate_src == 1;
    out->playhead = q->playhead;
    /* Buffer: media verified ahead of what is being played now (the media
     * clock of the most recent reader), not of what was last read. */
    const pf_file_entry *fe = &t->mi->files[file];
    double br = pf__bitrate(t, file);
    uint64_t play = q->playhead;
    const pf__stream *last = NULL;
    for (uint32_t i = 0; i < t->nstreams; i++)
        if (t->streams[i].file == file && t->streams[i].started && !t->streams[i].cursor &&
            (!last || t->streams[i].clock_start > last->clock_start))
            last = &t->streams[i];
    if (last) {
        uint64_t p = last->start_off + (uint64_t)(pf__media_clock(last, now) * br);
        play = p < fe->length ? p : fe->length;
    }
    uint64_t ahead = play < fe->length ? pf__verified_run(t, fe->offset + play, fe->length - play) : 0;
    out->buffer_s = (double)ahead / br;
    out->bytes_served = q->served;
    return 0;
}

/* A piece was verified: wake readers waiting on it. */
void pf__stream_piece_done(pf_torrent *t, uint32_t piece, uint64_t now)
{
    uint64_t plen = t->mi->piece_length;
    for (uint32_t i = 0; i < t->nstreams; i++) {
        pf__stream *st = &t->streams[i];
        if (st->cursor) continue;
        if (t->qoe) check_playable(t, st->file, now);
        if (!st->waiting) continue;
        uint64_t abs = t->mi->files[st->file].offset + st->wait_off;
        if (abs / plen == piece) {
            pf_event ev = {.type = PF_EV_STREAM_READY, .torrent = t, .err = (int)st->id};
            pf__emit(t->s, &ev);
        }
    }
}
