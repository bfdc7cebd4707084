/* The media timeline of a packaged title (HLS, DASH): its renditions as
 * tracks of segments, and one presentation clock across their files.
 *
 * A player of such a title asks for one segment after another, each a
 * short HTTP request; seen as unrelated reads, every segment restarted the
 * start-up and the deadline windows stopped at the end of each file (a
 * 40 s watch of a three-rendition torrent: 25.7 % from the CDN instead of
 * 1.9 % for one file).  Here the segment readers only move a *cursor*,
 * one per kind of track (video, audio, text): a pf__stream that outlives
 * the requests, whose offsets are torrent offsets and whose windows run
 * from where the player read last to the end of its rendition (a
 * rendition's segments follow each other in the torrent: `peerflow
 * create` lays a title out so).  The clock starts with the first byte of
 * the first segment and runs in real time, paused while the player's
 * buffer is dry (a segment read waits at a time the clock reached) and
 * held where the player stopped reading (a paused player, or the end).
 *
 * A request is, by its presentation time T against the clock's P:
 *   - a continuation: T from P - 2 s to the end of the segment after
 *     the cursor's (what follows what the player has, or a re-request of
 *     what it has buffered), on the same track or another of its kind (a rendition switch: the cursor moves to the new track at
 *     once and the old track's window is given up);
 *   - a seek: anything else: the cursor starts over there, with a new
 *     start-up, and the clock waits for its first byte. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/swarm/swarm.h"
#include "core/util/mem.h"

#define PF__TL_BEHIND_S 2.0
/* A wait shorter than this is not counted as a stall of the timeline: a
 * demuxer that plays from part of a segment (ffmpeg's, mpv's) often
 * reaches the segment it is still reading, and a piece or two later it
 * has it, a millisecond on; mpv showed no buffering while the engine
 * counted 6 stalls of 0.009 s in all.  A player that shows one notices
 * a quarter of a second. */
#define PF__TL_STALL_MIN_NS (250 * PF_NS_PER_MS)
/* A cursor nobody has read through for this long is dropped (its
 * windows with it): the player stopped. */
#define PF__TL_IDLE_NS (120 * PF_NS_PER_SEC)

static uint8_t group_of(char kind) { return kind == 'a' ? 1 : kind == 't' ? 2 : 0; }

void pf__tl_free(pf_torrent *t)
{
    pf__timeline *tl = t->tl;
    if (!tl) return;
    for (uint32_t i = 0; i < tl->ntracks; i++) pf__free(t->s->mem, tl->tracks[i].seg);
    pf__free(t->s->mem, tl->tracks);
    pf__free(t->s->mem, tl->file_track);
    pf__free(t->s->mem, tl->file_seg);
    pf__free(t->s->mem, tl->file_init);
    pf__free(t->s->mem, tl);
    t->tl = NULL;
}

double pf__tl_time_of(const pf__mtrack *tr, uint64_t abs)
{
    if (!tr->nseg) return 0;
    if (abs <= tr->seg[0].abs) return tr->seg[0].t0;
    /* The last segment starting at or before abs. */
    uint32_t lo = 0, hi = tr->nseg;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (tr->seg[mid].abs <= abs) lo = mid;
        else hi = mid;
    }
    const pf__mseg *s = &tr->seg[lo];
    if (abs >= s->end) return s->t0 + s->dur;
    return s->t0 + s->dur * (double)(abs - s->abs) / (double)(s->end - s->abs);
}

uint64_t pf__tl_offset_at(const pf__mtrack *tr, double ts)
{
    if (!tr->nseg) return 0;
    if (ts <= tr->seg[0].t0) return tr->seg[0].abs;
    uint32_t lo = 0, hi = tr->nseg;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (tr->seg[mid].t0 <= ts) lo = mid;
        else hi = mid;
    }
    const pf__mseg *s = &tr->seg[lo];
    if (ts >= s->t0 + s->dur) return s->end;
    return s->abs + (uint64_t)((double)(s->end - s->abs) * (ts - s->t0) / s->dur);
}

double pf__tl_seg_start(const pf__mtrack *tr, uint64_t abs)
{
    if (!tr->nseg || abs < tr->seg[0].abs) return tr->nseg ? tr->seg[0].t0 : 0;
    uint32_t lo = 0, hi = tr->nseg;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (tr->seg[mid].abs <= abs) lo = mid;
        else hi = mid;
    }
    /* Between segments (another track's bytes): the next one's start. */
    if (abs >= tr->seg[lo].end && lo + 1 < tr->nseg) return tr->seg[lo + 1].t0;
    return tr->seg[lo].t0;
}

uint64_t pf__tl_seg_end(const pf__mtrack *tr, uint64_t abs)
{
    for (uint32_t lo = 0, hi = tr->nseg; lo < hi;) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (abs < tr->seg[mid].abs) hi = mid;
        else if (abs >= tr->seg[mid].end) lo = mid + 1;
        else return tr->seg[mid].end;
    }
    return abs;
}

double pf__tl_now(const pf__timeline *tl, uint64_t now)
{
    if (!tl->running) return -1;
    if (tl->paused || now < tl->at) return tl->t_at;
    return tl->t_at + (double)(now - tl->at) / 1e9;
}

/* The segment of track tr holding torrent offset abs (its index), or -1. */
static int64_t seg_at(const pf__mtrack *tr, uint64_t abs)
{
    for (uint32_t lo = 0, hi = tr->nseg; lo < hi;) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (abs < tr->seg[mid].abs) hi = mid;
        else if (abs >= tr->seg[mid].end) lo = mid + 1;
        else return mid;
    }
    return -1;
}

/* 1 if torrent bytes [a, b) are all BEP 47 padding. */
static int only_pad(const pf_metainfo *mi, uint64_t a, uint64_t b)
{
    for (size_t f = pf_metainfo_file_at(mi, a); a < b; f++) {
        if (f >= mi->num_files || !mi->files[f].pad) return 0;
        a = mi->files[f].offset + mi->files[f].length;
    }
    return 1;
}

/* Checks and copies one track; 0, or PF_ERR_INVAL / PF_ERR_NOMEM. */
static int track_copy(pf_torrent *t, const pf_media_track *in, pf__mtrack *out)
{
    const pf_metainfo *mi = t->mi;
    if (!in->nseg || in->nseg > UINT32_MAX / 2 || !in->seg) return PF_ERR_INVAL;
    out->seg = pf__calloc(t->s->mem, in->nseg, sizeof *out->seg);
    if (!out->seg) return PF_ERR_NOMEM;
    out->nseg = (uint32_t)in->nseg;
    out->kind = in->kind;
    out->group = group_of(in->kind);
    out->bandwidth = in->bandwidth;
    out->contiguous = 1;
    double bytes = 0, dur = 0;
    for (size_t k = 0; k < in->nseg; k++) {
        const pf_media_segment *s = &in->seg[k];
        if (s->file >= mi->num_files || !(s->duration_s > 0) || !isfinite(s->duration_s) ||
            !isfinite(s->start_s))
            return PF_ERR_INVAL;
        const pf_file_entry *fe = &mi->files[s->file];
        uint64_t len = s->length ? s->length : fe->length - (s->offset < fe->length ? s->offset : fe->length);
        if (s->offset > fe->length || len > fe->length - s->offset || len == 0) return PF_ERR_INVAL;
        pf__mseg *m = &out->seg[k];
        m->file = s->file;
        m->abs = fe->offset + s->offset;
        m->end = m->abs + len;
        m->t0 = s->start_s;
        m->dur = s->duration_s;
        if (k && (m->abs < out->seg[k - 1].end || m->t0 < out->seg[k - 1].t0)) out->contiguous = 0;
        /* Pad files between (peerflow create starts each file at a piece
         * boundary) do not break a rendition's run: its window goes on
         * into the next segment (without this, a padded title's prefetch
         * stopped at every segment's end and the CDN brought each segment
         * the player asked for: bench/stream_hls, CDN share 0.07 -> 0.75). */
        if (k && m->abs != out->seg[k - 1].end && !only_pad(mi, out->seg[k - 1].end, m->abs)) out->contiguous = 0;
        bytes += (double)len;
        dur += s->duration_s;
        if (s->duration_s > out->maxdur) out->maxdur = s->duration_s;
    }
    /* Lookups by offset need the segments in torrent order. */
    for (uint32_t k = 1; k < out->nseg; k++)
        if (out->seg[k].abs < out->seg[k - 1].end) return PF_ERR_INVAL;
    out->abs = out->seg[0].abs;
    out->end = out->seg[out->nseg - 1].end;
    out->br = bytes / dur;
    return 0;
}

/* Drops the cursors (their windows go at the next pass). */
static void cursors_drop(pf_torrent *t)
{
    for (uint32_t i = t->nstreams; i-- > 0;)
        if (t->streams[i].cursor) pf__stream_remove(t, &t->streams[i]);
}

/* 1 if two timelines list the same tracks of the same segments. */
static int tracks_same(const pf__timeline *a, const pf__timeline *b, size_t nfiles)
{
    if (a->ntracks != b->ntracks) return 0;
    if (memcmp(a->file_init, b->file_init, nfiles * sizeof *a->file_init)) return 0;
    for (uint32_t i = 0; i < a->ntracks; i++) {
        const pf__mtrack *x = &a->tracks[i], *y = &b->tracks[i];
        if (x->nseg != y->nseg || x->kind != y->kind || x->bandwidth != y->bandwidth) return 0;
        for (uint32_t k = 0; k < x->nseg; k++)
            if (x->seg[k].file != y->seg[k].file || x->seg[k].abs != y->seg[k].abs || x->seg[k].end != y->seg[k].end ||
                x->seg[k].t0 != y->seg[k].t0 || x->seg[k].dur != y->seg[k].dur)
                return 0;
    }
    return 1;
}

int pf_torrent_set_media(pf_torrent *t, const pf_media_track *tracks, size_t n, uint64_t now)
{
    if (!t->has_meta || !n || !tracks) return PF_ERR_INVAL;
    if (n > PF_MEDIA_MAX_TRACKS) return PF_ERR_LIMIT;
    const pf_metainfo *mi = t->mi;
    pf__timeline *tl = pf__calloc(t->s->mem, 1, sizeof *tl);
    if (!tl) return PF_ERR_NOMEM;
    tl->tracks = pf__calloc(t->s->mem, n, sizeof *tl->tracks);
    tl->file_track = pf__calloc(t->s->mem, mi->num_files, sizeof *tl->file_track);
    tl->file_seg = pf__calloc(t->s->mem, mi->num_files, sizeof *tl->file_seg);
    tl->file_init = pf__calloc(t->s->mem, mi->num_files, sizeof *tl->file_init);
    if (!t->qoe) t->qoe = pf__calloc(t->s->mem, mi->num_files, sizeof *t->qoe);
    int rc = tl->tracks && tl->file_track && tl->file_seg && tl->file_init && t->qoe ? 0 : PF_ERR_NOMEM;
    for (size_t i = 0; i < n && rc == 0; i++, tl->ntracks++) rc = track_copy(t, &tracks[i], &tl->tracks[i]);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const pf_media_segment *in = tracks[i].init;
        if (!in) continue;
        if (in->file >= mi->num_files) {
            rc = PF_ERR_INVAL;
            break;
        }
        uint32_t *fi = &tl->file_init[in->file];
        *fi = *fi ? UINT32_MAX : (uint32_t)i + 1; /* shared by several: no track's */
    }
    pf__timeline *old = t->tl;
    t->tl = tl;
    if (rc != 0) {
        pf__tl_free(t);
        t->tl = old;
        return rc;
    }
    /* The same title again (a second load, the MPD after the
     * playlists): the presentation in progress goes on as it is. */
    if (old && tracks_same(old, tl, mi->num_files)) {
        pf__tl_free(t);
        t->tl = old;
        return 0;
    }
    t->tl = old;
    pf__tl_free(t);
    cursors_drop(t);
    t->tl = tl;
    /* Each segment file: its track, and its bitrate from its own duration
     * (no probe, no guess); then fetched only when read or in a window. */
    uint32_t nfiles = 0;
    uint32_t *files = pf__calloc(t->s->mem, mi->num_files ? mi->num_files : 1, sizeof *files);
    if (!files) return PF_ERR_NOMEM;
    for (uint32_t i = 0; i < tl->ntracks; i++) {
        const pf__mtrack *tr = &tl->tracks[i];
        for (uint32_t k = 0; k < tr->nseg; k++) {
            uint32_t f = tr->seg[k].file;
            if (tl->file_track[f]) continue;
            tl->file_track[f] = i + 1;
            tl->file_seg[f] = k;
            files[nfiles++] = f;
            t->qoe[f].bitrate = (double)mi->files[f].length / tr->seg[k].dur;
            if (tr->seg[k].end - tr->seg[k].abs < mi->files[f].length) t->qoe[f].bitrate = tr->br;
            t->qoe[f].bitrate_src = 3;
        }
    }
    rc = pf__files_set_prio(t, files, nfiles, 0, now);
    pf__free(t->s->mem, files);
    /* Readers already open on segments become the timeline's. */
    for (uint32_t i = 0; i < t->nstreams; i++) t->streams[i].mtrack = 0;
    for (uint32_t i = 0; i < t->nstreams && rc == 0; i++)
        if (!t->streams[i].cursor && tl->file_track[t->streams[i].file]) rc = pf__tl_open(t, t->streams[i].id, now);
    return rc;
}

static void switch_record(pf__timeline *tl, uint8_t g, double ts, uint32_t track)
{
    if (tl->nsw[g] == 8) {
        memmove(&tl->sw[g][0], &tl->sw[g][1], 7 * sizeof tl->sw[g][0]);
        tl->nsw[g]--;
    }
    /* A switch back over what was already counted replaces what follows. */
    while (tl->nsw[g] && tl->sw[g][tl->nsw[g] - 1].t >= ts) tl->nsw[g]--;
    tl->sw[g][tl->nsw[g]].t = ts;
    tl->sw[g][tl->nsw[g]].track = track;
    tl->nsw[g]++;
}

/* The player holds what it plays again: the clock runs on; a stall of
 * more than PF__TL_STALL_MIN_NS is counted. */
static void dry_end(pf__timeline *tl, uint64_t now)
{
    uint64_t d = now - tl->dry_since;
    if (d >= PF__TL_STALL_MIN_NS) {
        tl->stalls++;
        tl->stall_ns += d;
    }
    tl->dry = 0;
    if (tl->paused) {
        tl->paused = 0;
        tl->at = now;
    }
}

/* Starts the cursor over at torrent offset abs of its track: a new
 * start-up, the clock stopped until its first byte. */
static void cursor_restart(pf__timeline *tl, pf__stream *c, uint64_t abs, int stop_clock)
{
    c->start_off = c->pos = abs;
    c->startup_done = 0;
    c->startup_end = UINT64_MAX;
    c->su_phase = c->su_head = 0;
    c->started = 0;
    c->stall_ns = 0;
    if (stop_clock) {
        tl->running = 0;
        tl->paused = 0;
    }
}

/* The cursor moves from its track to track tr (a rendition switch): what
 * the old window raised goes back to its files' priority. */
static void cursor_switch(pf_torrent *t, pf__stream *c, uint32_t tr, uint64_t now)
{
    pf__timeline *tl = t->tl;
    const pf__mtrack *old = &tl->tracks[c->mtrack - 1];
    uint64_t plen = t->mi->piece_length;
    if (c->pos < old->end)
        pf__prio_restore(t, (uint32_t)(c->pos / plen), (uint32_t)((old->end - 1) / plen) + 1, now);
    c->mtrack = tr + 1;
    tl->switches++;
    /* Free sources' requests for pieces nobody wants now go back. */
    for (uint32_t k = 0; k < t->picker.npartials; k++) {
        uint32_t piece = t->picker.partials[k].piece;
        if (t->picker.prio[piece]) continue;
        uint32_t it;
        PF_SRC_FOREACH(t, q, it)
        if (pf__src_free(q) && q->ops->inflight(q)) q->ops->cancel_late(q, piece, 0, 0, 0, now);
    }
}

/* Where segment reader `st` sits: its track, segment, torrent offset and
 * presentation time.  0 if it is on no segment. */
static int reader_place(const pf_torrent *t, const pf__stream *st, uint64_t off, uint32_t *tr, uint64_t *abs,
                        double *ts)
{
    const pf__timeline *tl = t->tl;
    uint32_t k = tl->file_track[st->file];
    if (!k) return 0;
    *tr = k - 1;
    *abs = t->mi->files[st->file].offset + off;
    const pf__mtrack *m = &tl->tracks[*tr];
    if (seg_at(m, *abs) < 0) return 0;
    *ts = pf__tl_time_of(m, *abs);
    return 1;
}

/* The player asks for track tr's init segment: it is switching to tr.
 * The cursor of its kind moves there now, at the same presentation time,
 * rather than at the first segment (the old rendition's window went on
 * fetching, and the new one's init and first segment waited behind it:
 * 2.3 s for an 800-byte init in the lab's abr scenario, then a stall). */
static void init_open(pf_torrent *t, uint32_t tr, uint64_t now)
{
    pf__timeline *tl = t->tl;
    const pf__mtrack *m = &tl->tracks[tr];
    uint8_t g = m->group;
    pf__stream *c = tl->cursor[g] ? pf__stream_find(t, tl->cursor[g]) : NULL;
    tl->active_at[g] = now;
    if (!c || c->mtrack == tr + 1 || tl->tracks[c->mtrack - 1].group != g) return;
    double ts = pf__tl_time_of(&tl->tracks[c->mtrack - 1], c->pos);
    cursor_switch(t, c, tr, now);
    switch_record(tl, g, ts, tr);
    c->pos = pf__tl_offset_at(m, ts);
    int64_t k = seg_at(m, c->pos < m->end ? c->pos : m->end - 1);
    if (k >= 0) c->file = m->seg[k].file;
}

int pf__tl_open(pf_torrent *t, uint32_t reader_id, uint64_t now)
{
    pf__timeline *tl = t->tl;
    pf__stream *st = pf__stream_find(t, reader_id);
    uint32_t tr;
    uint64_t abs;
    double ts;
    if (!tl || !st) return 0;
    uint32_t ik = tl->file_init[st->file];
    if (ik && ik != UINT32_MAX) {
        init_open(t, ik - 1, now);
        return 0; /* read as a file of its own */
    }
    if (!reader_place(t, st, st->pos, &tr, &abs, &ts)) return 0;
    st->mtrack = tr + 1;
    st->startup_done = 1;
    uint8_t g = tl->tracks[tr].group;
    if (!tl->first_req) tl->first_req = now ? now : 1;
    tl->active_at[g] = now;
    pf__stream *c = tl->cursor[g] ? pf__stream_find(t, tl->cursor[g]) : NULL;
    if (!c) {
        c = pf__stream_new(t, now); /* may move t->streams: st is stale */
        if (!c) return PF_ERR_NOMEM;
        c->cursor = 1;
        c->mtrack = tr + 1;
        tl->cursor[g] = c->id;
        /* The first of its kind: a start-up of its own, on the clock
         * another kind may already have set going. */
        cursor_restart(tl, c, abs, 0);
        /* Joining a presentation already playing (the audio asked for
         * after the first video segment): no start-up of its own, which
         * would hold the peers back for everyone (a loopback seed sat idle
         * for 3 s while a second video segment waited). */
        if (tl->running) {
            c->startup_done = 1;
            c->started = 1;
            c->clock_start = now;
        }
        switch_record(tl, g, ts, tr);
    } else {
        /* A continuation asks for what follows what the player has
         * (the cursor), or re-asks for something between the clock and
         * there; anything else is a jump. */
        double p = pf__tl_now(tl, now);
        const pf__mtrack *cm = &tl->tracks[c->mtrack - 1];
        double upto = pf__tl_time_of(cm, c->pos);
        double from = p >= 0 ? p : upto;
        int cont = ts >= from - PF__TL_BEHIND_S && ts <= upto + cm->maxdur + PF__TL_BEHIND_S;
        if (c->mtrack != tr + 1) {
            cursor_switch(t, c, tr, now);
            switch_record(tl, g, ts, tr);
        }
        if (cont) {
            c->pos = abs;
        } else {
            tl->seeks++;
            if (tl->dry) dry_end(tl, now); /* a stall up to the seek */
            tl->held_t[g] = pf__tl_seg_start(&tl->tracks[tr], abs); /* the player dropped its buffer */
            cursor_restart(tl, c, abs, 1);
            switch_record(tl, g, ts, tr);
        }
    }
    int64_t k = seg_at(&tl->tracks[tr], abs);
    if (k >= 0) c->file = tl->tracks[tr].seg[k].file;
    return 0;
}

void pf__tl_served(pf_torrent *t, const pf__stream *st, uint64_t off, size_t n, uint64_t now)
{
    pf__timeline *tl = t->tl;
    uint32_t tr;
    uint64_t abs;
    double ts;
    if (!tl || !n || !reader_place(t, st, off, &tr, &abs, &ts)) return;
    const pf__mtrack *m = &tl->tracks[tr];
    tl->active_at[m->group] = now;
    int64_t sk = seg_at(m, abs);
    /* What the player holds, of whichever rendition. */
    if (sk >= 0 && abs + n >= m->seg[sk].end) {
        const pf__mseg *s = &m->seg[sk];
        if (s->t0 + s->dur > tl->held_t[m->group]) tl->held_t[m->group] = s->t0 + s->dur;
        /* A whole segment where the clock stopped: the stall is over. */
        if (tl->dry && tl->dry_group == m->group && s->t0 <= tl->t_at + 0.05 && s->t0 + s->dur > tl->t_at)
            dry_end(tl, now);
    }
    pf__stream *c = tl->cursor[m->group] ? pf__stream_find(t, tl->cursor[m->group]) : NULL;
    if (!c || c->mtrack != tr + 1) return;
    if (!tl->first_byte) tl->first_byte = now ? now : 1;
    /* A player starts playing once it holds a whole segment: the clock
     * starts then, at the start of where the cursor started. */
    if (!tl->running && sk >= 0 && abs + n >= m->seg[sk].end) {
        tl->running = 1;
        tl->paused = 0;
        tl->t_at = pf__tl_time_of(m, c->start_off);
        tl->at = now;
        tl->acc_t = tl->t_at;
    }
    if (!c->started && tl->running) {
        c->started = 1;
        c->clock_start = now;
    }
    uint64_t end = abs + n;
    if (end > c->pos) {
        c->pos = end;
        int64_t k = seg_at(m, end < m->end ? end : m->end - 1);
        if (k >= 0) c->file = m->seg[k].file;
    }
}

int pf__tl_wait_is_stall(pf_torrent *t, const pf__stream *st, uint64_t off, uint64_t now)
{
    pf__timeline *tl = t->tl;
    uint32_t tr;
    uint64_t abs;
    double ts;
    if (!tl || !tl->running || !reader_place(t, st, off, &tr, &abs, &ts)) return 0;
    /* Only the track played can run dry (not a variant being probed). */
    if (!pf__tl_on_cursor(t, st)) return 0;
    /* A player plays a segment once it has all of it: its buffer is dry
     * when the clock reaches the start of the segment it waits for. */
    const pf__mtrack *m = &tl->tracks[tr];
    ts = m->seg[seg_at(m, abs)].t0;
    double p = pf__tl_now(tl, now);
    if (ts > p + 0.05) return 0;
    /* ...and only if it has nothing at that time: a segment before what
     * it holds is a probe of another variant (ffmpeg's HLS demuxer reads
     * the first segment of each: mpv showed no buffering while the engine
     * counted 4-7 stalls) or a re-request. */
    if (ts + 0.05 < tl->held_t[m->group]) return 0;
    if (!tl->dry) {
        tl->dry = 1;
        tl->dry_group = m->group;
        tl->dry_since = now;
        tl->t_at = p;
        tl->at = now;
        tl->paused = 1;
    }
    return 1;
}

void pf__tl_wait_over(pf_torrent *t, uint64_t stalled_ns, uint64_t now)
{
    pf__timeline *tl = t->tl;
    if (!tl) return;
    /* A read that waited got bytes: the stall goes on until the player
     * holds a whole segment at the clock (pf__tl_served), however many
     * waits its readers go through meanwhile (hls.js showed 3 stalls
     * where the engine, counting each wait, counted 16). */
    (void)stalled_ns;
    (void)now;
}

void pf__tl_hold(pf_torrent *t, double ts, uint64_t now)
{
    pf__timeline *tl = t->tl;
    if (!tl || !tl->running) return;
    tl->t_at = ts;
    tl->at = now;
}

int pf__tl_on_cursor(pf_torrent *t, const pf__stream *st)
{
    pf__timeline *tl = t->tl;
    if (!tl || !st->mtrack) return 0;
    uint32_t id = tl->cursor[tl->tracks[st->mtrack - 1].group];
    const pf__stream *c = id ? pf__stream_find(t, id) : NULL;
    return c && c->mtrack == st->mtrack;
}

int pf__tl_group_reading(const pf_torrent *t, const pf__stream *cursor)
{
    const pf__timeline *tl = t->tl;
    uint8_t g = tl->tracks[cursor->mtrack - 1].group;
    for (uint32_t i = 0; i < t->nstreams; i++) {
        const pf__stream *s = &t->streams[i];
        if (!s->cursor && s->mtrack && tl->tracks[s->mtrack - 1].group == g) return 1;
    }
    return 0;
}

/* The track being played at presentation time ts in group g. */
static int64_t played_track(const pf__timeline *tl, uint8_t g, double ts)
{
    int64_t k = -1;
    for (uint32_t i = 0; i < tl->nsw[g]; i++)
        if (tl->sw[g][i].t <= ts + 1e-6 || k < 0) k = tl->sw[g][i].track;
    return k;
}

void pf__tl_tick(pf_torrent *t, uint64_t now)
{
    pf__timeline *tl = t->tl;
    /* Time played, credited to the track the player had asked for there. */
    double p = pf__tl_now(tl, now);
    if (p > tl->acc_t) {
        uint8_t g = tl->cursor[0] ? 0 : tl->cursor[1] ? 1 : 2;
        int64_t k = played_track(tl, g, tl->acc_t);
        if (k >= 0) tl->tracks[k].played_s += p - tl->acc_t;
        tl->acc_t = p;
    }
    for (uint8_t g = 0; g < PF__TL_GROUPS; g++) {
        pf__stream *c = tl->cursor[g] ? pf__stream_find(t, tl->cursor[g]) : NULL;
        if (!c) continue;
        if (!pf__tl_group_reading(t, c) && now > tl->active_at[g] + PF__TL_IDLE_NS) {
            pf__stream_remove(t, c);
            tl->cursor[g] = 0;
        }
    }
    /* A stall with nobody left reading that kind (the player stopped, or
     * gave the request up) is over. */
    if (tl->dry) {
        pf__stream *c = tl->cursor[tl->dry_group] ? pf__stream_find(t, tl->cursor[tl->dry_group]) : NULL;
        if (!c || !pf__tl_group_reading(t, c)) dry_end(tl, now);
    }
    int any = 0;
    for (uint8_t g = 0; g < PF__TL_GROUPS; g++) any |= tl->cursor[g] != 0;
    if (!any) tl->running = 0;
}

int pf_torrent_media_qoe(const pf_torrent *t, uint64_t now, pf_media_qoe *q)
{
    memset(q, 0, sizeof *q);
    const pf__timeline *tl = t->tl;
    if (!tl) return PF_ERR_NOTFOUND;
    q->ntracks = tl->ntracks;
    q->switches = tl->switches;
    q->seeks = tl->seeks;
    q->stalls = tl->stalls;
    uint64_t stall = tl->stall_ns;
    if (tl->dry && now - tl->dry_since >= PF__TL_STALL_MIN_NS) {
        stall += now - tl->dry_since;
        q->stalls++; /* one going on */
    }
    q->stall_s = (double)stall / 1e9;
    q->startup_s = tl->first_byte ? (double)(tl->first_byte - tl->first_req) / 1e9 : -1;
    q->position_s = pf__tl_now(tl, now);
    uint8_t g = tl->cursor[0] ? 0 : tl->cursor[1] ? 1 : tl->nsw[0] ? 0 : 1;
    q->track = q->position_s >= 0 ? (int32_t)played_track(tl, g, q->position_s) : -1;
    double w = 0;
    for (uint32_t i = 0; i < tl->ntracks && i < PF_MEDIA_MAX_TRACKS; i++) {
        q->bandwidth[i] = tl->tracks[i].bandwidth;
        q->track_played_s[i] = tl->tracks[i].played_s;
        if (tl->tracks[i].group != g) continue;
        q->played_s += tl->tracks[i].played_s;
        w += tl->tracks[i].played_s * (double)tl->tracks[i].bandwidth;
    }
    q->mean_bitrate_bps = q->played_s > 0 ? w / q->played_s : 0;
    return 0;
}
