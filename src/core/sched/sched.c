/* The deadline scheduler: which source brings which block.
 *
 * Every reader of a file defines a playhead.  Each tick (and whenever a
 * reader blocks) the scheduler looks only at the pieces ahead of each
 * playhead -- never at every piece times every peer:
 *   - [playhead, +prefetch_s of media) is a picker window: peers are given
 *     these pieces first, in deadline order, each only the pieces due after
 *     it could bring them (peer.c, min_due_s); everything else stays
 *     rarest-first.
 *   - [playhead, +urgent_s) is guarded by the CDN (web seeds).  A missing
 *     block there is fetched from the CDN when (a) it is in the start-up
 *     prefix of a new reader (start or seek), (b) the swarm is late with it
 *     (at its rate, in deadline order, or it is due within critical_s) --
 *     the CDN then takes only the blocks the peers would bring after the
 *     deadline -- or (c) no connected peer has it.  (a) and (c) go out as
 *     one ranged GET per run of consecutive pieces.
 *   - While a start-up prefix comes from the CDN, peers get no requests
 *     (the prefix has the downlink to itself), at most startup_s; except
 *     that while the container probe's prefix comes, a few peers are
 *     tried on the rest of the prefix (peer.c, trial_fill) and keep what
 *     they would deliver before the CDN could.
 * Bytes from peers are free, CDN bytes cost money: the CDN never fetches a
 * block a peer is delivering in time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/swarm/swarm.h"
#include "core/util/mem.h"

#define PF__PROBE_PREFIX_BYTES (512 * 1024)
/* Buffer ahead of the media clock past which pieces no peer has wait
 * until due (when a swarm is there). */
#define PF__AHEAD_S 15.0
/* How long a stream waits for the tracker before pieces no known peer has
 * count as nobody's (the urgent zone never waits). */
#define PF__TRACKER_WAIT_S 3.0
/* After a start-up, peers are asked again but their rate is unknown for a
 * tick or so: meanwhile only a piece due within critical_s is "late". */
#define PF__MEASURE_S 1.0
/* How much of a start-up prefix past the probe's is tried on peers. */
#define PF__TRIAL_BYTES (768 * 1024)
/* The CDN's first GET of a start-up with peers to try: a head of the
 * prefix that measures the CDN (stream.c, the start-up deadline). */
#define PF__CDN_HEAD (64 * 1024)


/* Bytes of a piece not yet received. */
static uint64_t missing_bytes(const pf_torrent *t, uint32_t piece)
{
    uint64_t size = pf_metainfo_piece_size(t->mi, piece);
    const pf_partial *pp = pf_picker_partial(&t->picker, piece);
    if (!pp) return size;
    uint64_t got = (uint64_t)pp->received * PF_BLOCK_SIZE;
    return got >= size ? 0 : size - got;
}

/* What the free sources able to send us blocks can deliver per second
 * (those holding piece, unless piece < 0): each one's rate to plan by (a
 * peer's: its rate while it had our requests, not what it sent lately).
 * A viewer just behind the front one is sent little because little exists
 * yet, not because its peers are slow: by what they sent, the second
 * viewer of the upload-rich lab found its swarm "late" at 9 KB/s and had
 * the CDN bring 2.7 MB the first one held. */
static double swarm_rate(const pf_torrent *t, int64_t piece, uint64_t now) { return pf__free_rate(t, piece, now); }

/* When (ns, absolute) the CDN alone would have a start-up phase's bytes
 * up to file offset end (pf__stream's su_* fields). */
static double su_deadline(const pf__stream *st, uint64_t end)
{
    return (double)st->su_at + (double)(end > st->su_off ? end - st->su_off : 0) / st->su_rate * 1e9;
}

/* Free sources that could be tried on a start-up from piece p on: able
 * to send us blocks, not snubbed, holding p. */
static int trial_peers(const pf_torrent *t, uint32_t p, uint64_t now)
{
    uint32_t it;
    PF_SRC_FOREACH((pf_torrent *)t, q, it)
    if (pf__src_free(q) && !q->snubbed && q->ops->available(q, now) && pf__src_has(q, p)) return 1;
    return 0;
}

/* Some free source (a peer) is connected and talking to us. */
static int swarm_active(const pf_torrent *t)
{
    uint32_t it;
    PF_SRC_FOREACH((pf_torrent *)t, q, it)
    if (pf__src_free(q) && q->ops->present && q->ops->present(q)) return 1;
    return 0;
}

/* A swarm is there, or was PF__SWARM_GONE_S ago: the last viewer left
 * alone keeps the pace it had (below, PF__AHEAD_S) for a while, rather
 * than have the CDN fill its player's buffer at once.  The upload-rich
 * lab's last viewer, alone for its last second, had the CDN bring 12 MB
 * in it, 4 of them never read. */
#define PF__SWARM_GONE_S 15.0
static int swarm_lately(const pf_torrent *t, uint64_t now)
{
    return t->swarm_seen && now < t->swarm_seen + (uint64_t)(PF__SWARM_GONE_S * 1e9);
}

/* The swarm is not known yet: the first announce has not come back (for
 * at most PF__TRACKER_WAIT_S) or came back under a second ago (the peers
 * it named are being dialled), or peers are still connecting or connected
 * for under a second.  "No peer has it" means little then: a viewer that
 * joined an upload-rich swarm had the CDN bring 4 pieces beyond its
 * urgent zone in the 0.2 s before the tracker answered, as its player
 * read ahead. */
static int peers_settling(const pf_torrent *t, uint64_t now)
{
    if (t->ntrackers && t->first_announce) {
        if (!t->tracker_answered && now < t->first_announce + (uint64_t)(PF__TRACKER_WAIT_S * 1e9))
            return 1;
        if (t->tracker_answered && now < t->tracker_answered + PF_NS_PER_SEC) return 1;
    }
    uint32_t it;
    PF_SRC_FOREACH((pf_torrent *)t, q, it)
    if (q->ops->settling && q->ops->settling(q, now)) return 1;
    return 0;
}

/* Some connected peer holds one of the `behind` pieces before p (the
 * length of a CDN run for a no-peer piece: urgent_s of media). */
static int peer_ahead(const pf_torrent *t, uint32_t p, uint32_t behind)
{
    for (uint32_t k = 1; k <= behind && k <= p; k++)
        if (t->picker.avail[p - k] > 0) return 1;
    return 0;
}

/* pf_cdn notices (peer.c): viewers tell each other which pieces nobody
 * had they just asked the CDN for.  Players at the same point of the file
 * reach the urgent zone's edge within a tick of each other, so "whichever
 * gets there first fetches it" was both of them: the upload-rich lab's
 * second viewer, 0.3 s behind the first, had the CDN bring 2-11 MB of the
 * first's 41.  1: a peer told us a moment ago it asked for p (its HAVE
 * follows); 2: one that asked for the pieces just before p, at our point
 * of the file, and whose peer id sorts before ours, so it leads there and
 * will ask for p too.  (Peers' pieces alone do not tell who is at our
 * point: in an upload-rich swarm every viewer holds everything up to the
 * front, and the lowest id among them was often seconds behind.)  Whoever
 * sends a notice, it costs us at most half the urgent zone's wait; those
 * at the front choke each other (neither has what the other lacks), so
 * choking says nothing here. */
#define PF__NOTICE_NS (3 * PF_NS_PER_SEC)
static int cdn_noticed(const pf_torrent *t, uint32_t p, uint32_t behind, uint64_t now)
{
    uint32_t it;
    PF_SRC_FOREACH((pf_torrent *)t, q, it)
    {
        if (!q->notice_at || now > q->notice_at + PF__NOTICE_NS || !q->ops->present || !q->ops->present(q))
            continue;
        if (p >= q->notice_first && p < q->notice_end) return 1;
        if (q->notice_end <= p && q->notice_end + behind >= p && q->order_key &&
            memcmp(q->order_key, t->s->peer_id, 20) < 0)
            return 2;
    }
    return 0;
}

static void send_cdn_notices(pf_torrent *t, uint32_t first, uint32_t end)
{
    if (end <= first) return;
    uint32_t it;
    PF_SRC_FOREACH(t, q, it)
    if (q->ops->notify_fetch) q->ops->notify_fetch(q, first, end - first);
}

/* Why the CDN should take a missing piece of the urgent zone, or 0.
 * eta_s: when the swarm, at its current rate and fetching in deadline
 * order, would have delivered this piece and everything due before it. */
static int cdn_reason(const pf_torrent *t, uint32_t piece, double due_s, double eta_s, int startup,
                      int measuring)
{
    const pf_stream_settings *ss = pf__sset(t);
    if (startup) return 1;                                  /* (a) */
    if (t->picker.avail[piece] == 0) return 3;              /* (c) */
    if (due_s <= ss->critical_s) return 2;                  /* (b) due now */
    if (measuring) return 0;                                /* rate unknown yet */
    if (eta_s > due_s - ss->critical_s) return 2;           /* (b) swarm too slow */
    return 0;
}

static uint32_t piece_blocks(const pf_torrent *t, uint32_t piece)
{
    return (uint32_t)((pf_metainfo_piece_size(t->mi, piece) + PF_BLOCK_SIZE - 1) / PF_BLOCK_SIZE);
}

/* Offset in the piece of the first block pf_picker_claim would take. */
static uint64_t first_claimable(const pf_torrent *t, uint32_t piece, int steal)
{
    const pf_partial *pp = pf_picker_partial(&t->picker, piece);
    if (!pp) return 0;
    for (uint32_t b = 0; b < pp->nblocks; b++)
        if ((pp->state[b] == 0 || (steal && pp->state[b] == 1)) && !pp->claimed[b]) return (uint64_t)b * PF_BLOCK_SIZE;
    return pf_metainfo_piece_size(t->mi, piece);
}

/* Hands claimed blocks (due in due_s) to the costly source that brings
 * them in time at the least cost (source.c); 0, or < 0 when none could
 * take them (they went back to the picker). */
static int costly_fetch(pf_torrent *t, const pf_block_ref *b, uint32_t n, double due_s, uint64_t now)
{
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < n; i++) bytes += b[i].length;
    pf_source *s = pf__costly_pick(t, bytes, due_s, now);
    if (!s) {
        for (uint32_t i = 0; i < n; i++) pf_picker_unclaim(&t->picker, b[i].piece, b[i].begin);
        return PF_ERR_EAGAIN;
    }
    return s->ops->fetch(s, b, n, now);
}

/* Tiers, during a start-up: pieces of the prefix a costly source is
 * fetching too slowly go to a quicker one (pf__costly_reroute). */
/* 1 if a costly source is fetching a block of pieces [p0, the piece of
 * end) (their claimed blocks). */
static int costly_in_range(const pf_torrent *t, uint32_t p0, uint64_t end)
{
    if (!pf__costly_inflight(t)) return 0;
    uint64_t plen = t->mi->piece_length;
    uint32_t pe = end ? (uint32_t)((end - 1) / plen) : 0;
    for (uint32_t p = p0; p <= pe && p < t->mi->num_pieces; p++) {
        const pf_partial *pp = pf_picker_partial(&t->picker, p);
        if (!pp) continue;
        for (uint32_t b = 0; b < pp->nblocks; b++)
            if (pp->claimed[b]) return 1;
    }
    return 0;
}

static void reroute_startup(pf_torrent *t, uint32_t p0, uint64_t start_end, uint64_t play, double br, uint64_t now)
{
    uint64_t plen = t->mi->piece_length;
    for (uint32_t p = p0; (uint64_t)p * plen < start_end && p < t->mi->num_pieces; p++) {
        const pf_partial *pp = pf_picker_partial(&t->picker, p);
        if (!pp) continue;
        int claimed = 0;
        for (uint32_t b = 0; b < pp->nblocks && !claimed; b++) claimed = pp->claimed[b];
        if (!claimed) continue;
        uint64_t pstart = (uint64_t)p * plen;
        pf__costly_reroute(t, p, pstart > play ? (double)(pstart - play) / br : 0, now);
    }
}

/* Free sources take blocks from the picker at their own pace (in reverse
 * order when asked: the order the peers were filled in before). */
static void pull_free(pf_torrent *t, uint64_t now, int reverse)
{
    uint32_t n = t->npeers + t->nsources;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = reverse ? n - 1 - k : k;
        pf_source *q = i < t->npeers ? &t->peers[i]->src : t->sources[i - t->npeers];
        if (pf__src_free(q) && q->ops->pull) q->ops->pull(q, now);
    }
}

/* One pass of the scheduler over a torrent's readers: what it builds up
 * as it goes. */
typedef struct sched_pass {
    pf_torrent *t;
    uint64_t now;
    const pf_stream_settings *ss;
    uint64_t plen;
    pf_picker_window win[PF_PICKER_MAX_WINDOWS];
    uint32_t nwin;
    int cdn;    /* a costly source can take a fetch now */
    int usable; /* a costly source is there, not backing off */
    int hold;   /* a start-up holds the free sources back */
    uint32_t hold_by; /* the reader whose start-up it is */
    uint32_t trial_start, trial_end; /* pieces on trial with free sources */
    uint64_t trial_until;
    pf_block_ref claim[256]; /* blocks claimed for the next costly fetch */
    uint32_t nclaim;
    double claim_due; /* when the first of them is due */
    const struct reader_view *cur; /* the reader whose urgent zone is scanned */
} sched_pass;

/* One reader, as this pass sees it (torrent byte offsets). */
typedef struct reader_view {
    pf__stream *st;
    const pf_file_entry *fe;
    uint64_t base;      /* torrent offset of the reader's offsets (its file's; 0 for a cursor) */
    double br;          /* media bytes per second */
    uint64_t fend;      /* end of its file */
    uint64_t rd;        /* where it reads next */
    uint64_t play;      /* where playback is now (the media clock) */
    uint64_t start_end; /* end of its start-up prefix */
    uint32_t p0;        /* the piece it reads next */
    int head;           /* the costly source brings only a head of the prefix */
    /* A media timeline's cursor: its track, and the presentation clock
     * (-1: not running). */
    const pf__mtrack *tr;
    double clock;
    /* End of the segment(s) the player has asked for and not had yet:
     * what lies before is due now; and the presentation time where they
     * start (-1: none). */
    uint64_t blk_end;
    double blk_t;
    int yield; /* another track's waited-for segment comes first (phase_yield) */
} reader_view;

/* Seconds until the byte at torrent offset off is due by the media clock. */
static double clock_due(const reader_view *v, uint64_t off)
{
    return off > v->play ? (double)(off - v->play) / v->br : 0;
}

/* ...or now, if the player is waiting for it. */
static double view_due(const reader_view *v, uint64_t off)
{
    return off < v->blk_end ? 0 : clock_due(v, off);
}

/* The urgent-zone scan of one reader: its bounds and what it knows. */
typedef struct urgent_scan {
    uint32_t pu;          /* last piece scanned */
    uint32_t pm;          /* last piece due within urgent_s (media-urgent) */
    int any_media_urgent;
    uint32_t ps;          /* last piece of the start-up prefix */
    double rate;          /* what the free sources deliver per second */
    int settling;         /* the swarm is not known yet */
    uint32_t behind;      /* pieces a costly run for a no-peer piece spans */
    int measuring;        /* free sources just let go: rate unmeasured */
    int probing;          /* the container probe's prefix is still coming */
    uint64_t queued;      /* bytes the free sources must deliver first */
    uint32_t nf_first, nf_end; /* pieces nobody had, asked of the CDN */
} urgent_scan;

/* Phase 0 for a media timeline's cursor (timeline.c): its window runs to
 * the end of its rendition (or of its segment, if the rendition's segments
 * are not laid out one after the other), at the rendition's bitrate, and
 * playback is where the presentation clock is.  A player that stopped
 * reading past its buffer (paused, or at the end) holds the clock there:
 * nothing becomes urgent while nobody plays. */
static int cursor_view_init(sched_pass *sp, pf__stream *st, reader_view *v)
{
    pf_torrent *t = sp->t;
    const pf__mtrack *tr = &t->tl->tracks[st->mtrack - 1];
    v->fe = &t->mi->files[st->file];
    v->base = 0;
    v->br = tr->br;
    v->rd = st->pos;
    if (v->rd < tr->abs || v->rd >= tr->end) return 0;
    v->fend = tr->end;
    if (!tr->contiguous) {
        /* Only the segment it is in (or the next one: what lies between
         * is another track's). */
        for (uint32_t k = 0; k < tr->nseg; k++)
            if (tr->seg[k].end > v->rd) {
                if (v->rd < tr->seg[k].abs) v->rd = tr->seg[k].abs;
                v->fend = tr->seg[k].end;
                break;
            }
    }
    v->play = v->rd;
    v->tr = tr;
    v->clock = -1;
    double p = pf__tl_now(t->tl, sp->now);
    if (st->started && p >= 0) {
        if (pf__tl_offset_at(tr, p) > v->rd && !pf__tl_group_reading(t, st)) {
            pf__tl_hold(t, pf__tl_time_of(tr, v->rd), sp->now);
            p = pf__tl_time_of(tr, v->rd);
        }
        v->clock = p;
        /* A player plays a segment only once it holds all of it: every
         * byte of a segment is due when the segment starts.  The linear
         * deadlines meet that if playback is taken to be a segment ahead
         * of the clock (the first bytes of a segment are then due a
         * segment early: deadlines exactly at the segment's start let a
         * player run dry while a 1.6x seed kept only a few segments
         * ahead, dash.js's BUFFER_EMPTY in it_browser_dash). */
        uint64_t at = pf__tl_offset_at(tr, p + tr->maxdur);
        v->play = at < v->rd ? at : v->rd;
    }
    /* A segment the player has asked for is one it waits for, whatever
     * the clock says: an ABR player times each download and takes that
     * for the network's capacity.  Paced to its media deadline (the
     * player asks with a full buffer, 30 s before the segment plays), a
     * segment took 5 s on a 20 Mbit/s link and every viewer of the lab's
     * abr scenario stepped down to the lowest rendition. */
    for (uint32_t i = 0; i < t->nstreams; i++) {
        const pf__stream *r = &t->streams[i];
        if (r->cursor || r->mtrack != st->mtrack) continue;
        uint64_t abs = t->mi->files[r->file].offset + r->pos;
        uint64_t e = pf__tl_seg_end(tr, abs);
        if (e > abs && e > v->blk_end) v->blk_end = e;
    }
    if (v->blk_end > v->fend) v->blk_end = v->fend;
    v->blk_t = v->blk_end > v->rd ? pf__tl_time_of(tr, v->rd) : -1;
    v->p0 = (uint32_t)(v->rd / sp->plen);
    return 1;
}

/* Phase 0: the reader's positions.  0 if there is nothing to schedule. */
static int reader_view_init(sched_pass *sp, pf__stream *st, reader_view *v)
{
    pf_torrent *t = sp->t;
    memset(v, 0, sizeof *v);
    v->st = st;
    /* A segment reader only moves its timeline's cursor, which is
     * scheduled for it... */
    if (st->cursor) return cursor_view_init(sp, st, v);
    /* ...a reader of another track (a demuxer reading every variant, a
     * player probing one) is scheduled as a reader of its file. */
    if (st->mtrack && pf__tl_on_cursor(t, st)) return 0;
    v->fe = &t->mi->files[st->file];
    if (v->fe->length == 0) return 0;
    v->base = v->fe->offset;
    v->br = pf__bitrate(t, st->file);
    v->fend = v->fe->offset + v->fe->length;
    /* Where the player reads next, and where playback is now: players
     * read ahead of what they show, so deadlines follow the media clock,
     * not the read position. */
    v->rd = v->fe->offset + st->pos;
    if (v->rd >= v->fend) return 0;
    v->play = v->fe->offset + st->start_off + (uint64_t)(pf__media_clock(st, sp->now) * v->br);
    if (!st->started || v->play > v->rd) v->play = st->started ? v->play : v->rd;
    v->p0 = (uint32_t)(v->rd / sp->plen);
    return 1;
}

/* Phase 1: [read position, +prefetch_s of media) is a picker window. */
static void phase_window(sched_pass *sp, const reader_view *v)
{
    pf_torrent *t = sp->t;
    uint64_t pref_end = v->rd + (uint64_t)(sp->ss->prefetch_s * v->br);
    /* A cache smaller than the window: prefetch what fits, keeping a
     * quarter for what the reader has just passed. */
    if (t->cache_limit && pref_end > v->rd + t->cache_limit / 4 * 3) pref_end = v->rd + t->cache_limit / 4 * 3;
    if (pref_end > v->fend) pref_end = v->fend;
    if (pref_end <= v->rd) pref_end = v->rd + 1;
    if (sp->nwin >= PF_PICKER_MAX_WINDOWS) return;
    pf_picker_window *w = &sp->win[sp->nwin++];
    w->start = v->p0;
    w->end = (uint32_t)((pref_end - 1) / sp->plen) + 1;
    w->due0_s = v->tr ? clock_due(v, (uint64_t)v->p0 * sp->plen)
                      : ((double)v->p0 * (double)sp->plen - (double)v->play) / v->br;
    w->piece_s = (double)sp->plen / v->br;
    /* Pieces evicted by the cache limit, or of files fetched only when
     * read (a title's segments), are wanted here: peers holding them
     * become interesting. */
    for (uint32_t k = w->start; k < w->end; k++)
        if (!t->picker.prio[k]) {
            t->picker.prio[k] = 1;
            if (!pf_bitfield_get(&t->have, k)) pf__piece_wanted(t, k);
        }
}

/* Phase 2a: the start-up prefix (after an open or a seek): the first
 * startup_s of media from where the reader started, fixed then, done once
 * all verified; while it comes from a costly source, free sources wait. */
static void phase_startup_prefix(sched_pass *sp, reader_view *v)
{
    pf_torrent *t = sp->t;
    pf__stream *st = v->st;
    const pf_stream_settings *ss = sp->ss;
    /* startup_end holds where the prefix starts; its length follows the
     * bitrate, which the container probe may only now have revealed. */
    if (st->startup_end == UINT64_MAX) st->startup_end = st->pos;
    uint64_t start_len = (uint64_t)(ss->startup_s * v->br) + 1;
    /* Until the container tells the bitrate, fetch just enough for its
     * header (a faststart MP4's index, an MKV's Info): the guess may be
     * far off, and the real prefix follows within a round trip. */
    if (t->qoe[st->file].bitrate_src == 0 && start_len > PF__PROBE_PREFIX_BYTES) start_len = PF__PROBE_PREFIX_BYTES;
    v->start_end = v->base + st->startup_end + start_len;
    if (v->start_end > v->fend) v->start_end = v->fend;
    /* Not done while only the probe prefix is known: peers that already
     * held the first piece ended the start-up there, and the real prefix
     * never came from the CDN (upload-rich lab: 1.9-4.1 s start-ups for
     * viewers that joined a swarm that had piece 0). */
    if (!st->startup_done && t->qoe[st->file].bitrate_src != 0 &&
        (v->rd >= v->start_end || pf__verified_run(t, v->rd, v->start_end - v->rd) >= v->start_end - v->rd))
        st->startup_done = 1;
    /* While the CDN brings a start-up prefix, peers wait: their blocks
     * would share the viewer's downlink with the prefix and delay the
     * start (the CDN alone is the fastest start there is).  At most
     * startup_s, in case the CDN is slow rather than failing. */
    if (!st->startup_done && sp->usable && sp->now < st->startup_at + (uint64_t)(ss->startup_s * 1e9)) {
        sp->hold = 1;
        sp->hold_by = st->id;
    }
}

/* Phase 2b: during a start-up, free sources are tried on the prefix
 * (peer.c, trial_fill): while the container is probed, on the probe's
 * prefix past the CDN's head (or past the probe's prefix when the CDN
 * took all of it) and PF__TRIAL_BYTES more; then on the whole prefix.
 * Each keeps what it delivers by the start-up deadline. */
static void phase_startup_trial(sched_pass *sp, reader_view *v)
{
    pf_torrent *t = sp->t;
    pf__stream *st = v->st;
    uint64_t plen = sp->plen, now = sp->now;
    int probe_phase = t->qoe[st->file].bitrate_src == 0;
    /* With peers to try and no start-up GET yet, the CDN brings only a
     * head of the prefix, PF__CDN_HEAD: peers try the rest meanwhile, and
     * its GET measures the CDN for the start-up deadline (below).
     * (Upload-rich lab: the probe's 512 KiB from the CDN were 15 of the
     * 72 MB the CDN served, 29 viewers' worth, with peers there that could
     * bring them.) */
    /* Not for a packaged title's cursor: its first segment's GET runs
     * beside the audio's (a player asks for both), so a head GET measured
     * the CDN at half the link, the start-up deadlines came late and slow
     * peers on trial kept blocks the CDN would have brought sooner (the
     * lab's abr scenario: a late 3 Mbit/s viewer's first segment in 3.06 s,
     * CDN-only's 1.6). */
    if (!st->startup_done && !st->su_head && st->su_phase == 0 && sp->cdn && !pf__costly_inflight(t) &&
        !st->cursor && trial_peers(t, v->p0, now)) {
        v->head = 1;
        st->su_head = 1;
    }
    if (st->startup_done || sp->trial_end != sp->trial_start) return;
    uint64_t a = st->su_head || !probe_phase ? v->rd : v->base + st->startup_end + PF__PROBE_PREFIX_BYTES;
    uint64_t b = probe_phase ? v->base + st->startup_end + PF__PROBE_PREFIX_BYTES + PF__TRIAL_BYTES
                             : v->start_end;
    if (b > v->fend) b = v->fend;
    if (a < b && v->rd <= a) {
        sp->trial_start = (uint32_t)(a / plen);
        if (a % plen && !st->su_head && probe_phase) sp->trial_start++;
        sp->trial_end = (uint32_t)((b - 1) / plen) + 1;
        if (sp->trial_end < sp->trial_start) sp->trial_end = sp->trial_start;
    }
    /* Peers on trial take what they can before the CDN claims the rest
     * (below): claimed first, blocks still unasked at the phase's start (a
     * few milliseconds in) all went to the CDN, a third of the probe's
     * prefix. */
    sp->trial_until = now + PF_NS_PER_SEC / 10;
    if (st->su_phase && st->su_rate > 0) {
        double at = su_deadline(st, (uint64_t)sp->trial_end * plen);
        if (at > (double)sp->trial_until) sp->trial_until = (uint64_t)at;
    }
    if (t->startup_hold && sp->trial_end > sp->trial_start && sp->cdn) {
        t->trial_start = sp->trial_start;
        t->trial_end = sp->trial_end;
        t->trial_until = sp->trial_until;
        pull_free(t, now, 0);
    }
}

/* Phase 3a: the urgent zone's bounds and what the scan needs to know.  0
 * if there is nothing to scan. */
static int urgent_scan_init(sched_pass *sp, const reader_view *v, urgent_scan *u)
{
    pf_torrent *t = sp->t;
    const pf__stream *st = v->st;
    const pf_stream_settings *ss = sp->ss;
    uint64_t now = sp->now, plen = sp->plen;
    memset(u, 0, sizeof *u);
    /* The urgent zone: from the read position, pieces due (by the media
     * clock) within urgent_s. */
    uint64_t urg_end = v->play + (uint64_t)(ss->urgent_s * v->br);
    if (!st->startup_done && urg_end < v->start_end) urg_end = v->start_end;
    if (urg_end < v->blk_end) urg_end = v->blk_end;
    if (urg_end > v->fend) urg_end = v->fend;
    /* Pieces no connected peer has are the CDN's whatever the media clock
     * says: nobody else will bring them, and a reader is asking (a
     * CDN-only stream must not be paced to real time). */
    uint64_t nopeer_end = v->rd + (uint64_t)(ss->urgent_s * v->br);
    /* ...except far ahead of the media clock when peers are there: a media
     * server filling a player's socket buffers reads tens of seconds
     * ahead, and the front viewer of the upload-rich lab had the CDN bring
     * the whole file in its first 4 s (its last minute watched by nobody)
     * while the viewers behind could have brought it to each other.  Past
     * PF__AHEAD_S of buffer, such pieces wait until they are due (the
     * urgent zone still covers them). */
    if (st->started && v->rd > v->play + (uint64_t)(PF__AHEAD_S * v->br) && swarm_lately(t, now))
        nopeer_end = v->rd;
    if (nopeer_end > v->fend) nopeer_end = v->fend;
    uint64_t scan_end = urg_end > nopeer_end ? urg_end : nopeer_end;
    if (scan_end <= v->rd) return 0;
    u->pu = (uint32_t)((scan_end - 1) / plen);
    u->pm = urg_end > v->rd ? (uint32_t)((urg_end - 1) / plen) : 0;
    u->any_media_urgent = urg_end > v->rd;
    u->ps = (uint32_t)((v->start_end - 1) / plen);
    u->rate = swarm_rate(t, -1, now);
    u->settling = peers_settling(t, now);
    u->behind = (uint32_t)(ss->urgent_s * v->br / (double)plen) + 2;
    /* Peers were held for the start-up and have just been asked: an
     * unmeasured swarm (rate 0) is not a slow one.  Upload-rich lab: every
     * viewer had the CDN bring the 4 s after its prefix too, which
     * 40 Mbit/s peers deliver in a tenth of a second. */
    u->measuring = t->hold_released && now < t->hold_released + (uint64_t)(PF__MEASURE_S * 1e9);
    /* Until the container probe has read its prefix the bitrate is the
     * default guess (4 Mbit/s), and "urgent" or "no peer has it" past the
     * prefix means 2 MB instead of a 2.5 Mbit/s stream's 1.25: such pieces
     * wait the round trip until the probe answers. */
    u->probing = t->qoe[st->file].bitrate_src == 0 && v->rd < v->base + st->startup_end + PF__PROBE_PREFIX_BYTES;
    return 1;
}

/* Phase 3b: the start-up deadlines: when the CDN alone would have each
 * piece of the prefix (the probe's, while probing), in order at the rate
 * of its last GET, from when the phase began (fixed then).  Blocks peers
 * on trial deliver by then stay theirs (phase 3d).  Recomputed each tick
 * from what was still missing and not yet asked of peers, one deadline for
 * the prefix shrank as the CDN took blocks, until every block was late
 * (upload-rich lab: the CDN took the prefix's last piece in four GETs
 * while 40 Mbit/s peers delivered it 10 ms later). */
static void phase_startup_deadlines(sched_pass *sp, const reader_view *v, const urgent_scan *u)
{
    pf__stream *st = v->st;
    if (st->startup_done || v->head) return;
    int phase = u->probing ? 1 : 2;
    if (st->su_phase == phase) return;
    /* The CDN: its best GET rate from the first byte on, after a time to
     * first byte; a head GET's overall rate, round trip included, put
     * deadlines 2-3x too late (upload-rich lab: median start-up 0.15 ->
     * 0.18 s). */
    uint64_t ttfb = 0;
    double r = pf__costly_rate(sp->t, sp->now, &ttfb);
    st->su_at = sp->now + ttfb;
    st->su_off = v->rd;
    st->su_rate = r;
    st->su_phase = phase;
}

/* Why a costly source should bring missing piece p of the urgent zone (1
 * start-up, 2 the swarm is late, 3 no free source has it), or 0.  *eta_s:
 * when the free sources would have delivered it. */
static int piece_verdict(sched_pass *sp, const reader_view *v, urgent_scan *u, uint32_t p, double due,
                         double *eta_s)
{
    pf_torrent *t = sp->t;
    const pf__stream *st = v->st;
    const pf_stream_settings *ss = sp->ss;
    int startup = !st->startup_done && p <= u->ps;
    u->queued += missing_bytes(t, p);
    double eta = u->rate > 1 ? (double)u->queued / u->rate : 1e9;
    if (u->rate > 1 && !startup && t->picker.avail[p] > 0) {
        /* ...and no sooner than those holding it could send it. */
        double rp = swarm_rate(t, p, sp->now);
        double e = rp > 1 ? (double)missing_bytes(t, p) / rp : 1e9;
        if (e > eta) eta = e;
    }
    *eta_s = eta;
    int why = cdn_reason(t, p, due, eta, startup, u->measuring);
    if (u->probing && !startup) why = 0;
    int media_urgent = u->any_media_urgent && p <= u->pm;
    if (why == 2 && !media_urgent) why = 0; /* not due yet */
    /* Before the start-up is done peers are held (or the swarm is
     * unknown): what is late is part of the start-up, in the same ranged
     * GET.  Until the container's bitrate is known the prefix is only the
     * probe, and the rest of the urgent zone went out as one GET per
     * piece, sharing the link: 4 s of media took 1.8-2.4 s instead of 1.4
     * at 8 Mbit/s. */
    if (why == 2 && !st->startup_done) why = 1;
    if (why == 3 && !media_urgent && u->settling) why = 0; /* a peer may have it */
    /* A peer holds a piece shortly before it: a viewer streaming the same
     * part of the file.  Then such pieces wait for the urgent zone:
     * whichever of us reaches them first fetches them from the CDN, the
     * others take them from that one.  Two front-runners 0.3 s apart each
     * had the CDN bring all their players read ahead (upload-rich lab:
     * 22 + 9 MB for a 24 MB bound). */
    if (why == 3 && !media_urgent && peer_ahead(t, p, u->behind)) why = 0;
    /* In the urgent zone, such a piece another viewer fetches (or will,
     * leading at our point) is left to it for half of the zone; we ask the
     * CDN ourselves only if its HAVE has not come by then. */
    if (why == 3 && media_urgent && st->startup_done && due > ss->urgent_s / 2 && cdn_noticed(t, p, u->behind, sp->now))
        why = 0;
    if (why) u->queued -= missing_bytes(t, p); /* the CDN brings it, not the swarm */
    return why;
}

/* What the costly source is told of the fetch it is handed (CMCD). */
static void fetch_hint_set(sched_pass *sp)
{
    pf__fetch_hint *h = &sp->t->fetch_hint;
    const reader_view *v = sp->cur;
    memset(h, 0, sizeof *h);
    h->due_s = sp->claim_due;
    h->buffer_s = h->bitrate = -1;
    if (!v) return;
    h->bitrate = v->br;
    h->buffer_s = v->rd > v->play ? (double)(v->rd - v->play) / v->br : 0;
    h->startup = !v->st->startup_done;
    h->starved = v->st->waiting && v->st->wait_is_stall;
    pf__fetch_object_type(sp->t, v->st->file, h->ot);
}

/* Hands the claimed blocks to a costly source.  0, or < 0: none could
 * take them (sp->cdn is then 0). */
static int flush_claim(sched_pass *sp)
{
    if (!sp->nclaim) return 0;
    fetch_hint_set(sp);
    int rc = costly_fetch(sp->t, sp->claim, sp->nclaim, sp->claim_due, sp->now);
    sp->nclaim = 0;
    sp->cdn = rc == 0 ? pf__costly_ready(sp->t, sp->now) : 0;
    return rc;
}

/* Phase 3d: the costly source takes piece p (reason why).  Start-up: every
 * block peers on trial would not bring before the CDN alone could
 * (cdn_eta).  Swarm late: only the blocks the peers would bring after
 * due - critical_s (their queue order and rate); the rest is left to them,
 * and comes back here if they do not deliver (at the latest once due
 * within critical_s, where every block is late but those on their way).
 * Racing them for blocks on their way made most of what slow uplinks sent
 * waste.  Returns 0 to go on, 1 to end this reader's scan. */
static int take_piece(sched_pass *sp, const reader_view *v, urgent_scan *u, uint32_t p, double due, int why)
{
    pf_torrent *t = sp->t;
    const pf__stream *st = v->st;
    const pf_stream_settings *ss = sp->ss;
    uint64_t now = sp->now, plen = sp->plen, pstart = (uint64_t)p * plen;
    /* Consecutive pieces go out as one ranged GET: the bytes then arrive in
     * playback order at the link's full rate.  Parallel requests share the
     * link, so the first piece (and the first byte served) came only when
     * all of them did: 0.76 s instead of 0.26 s for 4 pieces of 256 KiB at
     * 8 Mbit/s.  (Start-up and pieces no peer has: both bounded by a few
     * seconds of media.) */
    /* A piece the swarm is late with goes alone (below), unless the player
     * waits for it: then, like a start-up, the segment's pieces go as one
     * ranged GET, as a CDN-only player asks for it.  One GET per piece
     * side by side shared the link (the lab's abr scenario: a 256 KiB
     * piece in 1.75 s on a 5 Mbit/s link beside its neighbours' GETs). */
    int alone = why == 2 && pstart >= v->blk_end;
    /* ...and the blocks of it already asked of slow peers come in the same
     * GET (the first copy in is kept): left out, they split the range into
     * one GET per piece. */
    int steal = why == 2 && !alone;
    if (sp->nclaim > 0) {
        const pf_block_ref *last = &sp->claim[sp->nclaim - 1];
        if (alone || sp->nclaim + piece_blocks(t, p) > 256 ||
            (uint64_t)last->piece * plen + last->begin + last->length != pstart + first_claimable(t, p, steal)) {
            if (flush_claim(sp) != 0 || !sp->cdn) return 1;
        }
    }
    double cdn_eta = 0; /* start-up: when the CDN alone would have p */
    if (why == 1 && st->su_phase && st->su_rate > 0) {
        double at = (su_deadline(st, pstart + pf_metainfo_piece_size(t->mi, p)) - (double)now) / 1e9;
        /* Once the reader has (or is about to have) its first byte, the
         * media clock runs: no later than due either. */
        if ((st->started || pf_bitfield_get(&t->have, v->p0)) && at > due - ss->critical_s / 4)
            at = due - ss->critical_s / 4;
        cdn_eta = at > 0 ? at : 0;
    }
    if (why != 3) {
        uint32_t it;
        PF_SRC_FOREACH(t, q, it)
        if (pf__src_free(q) && q->ops->inflight(q))
            q->ops->cancel_late(q, p, why == 1 ? cdn_eta : due - ss->critical_s,
                                why == 1 ? cdn_eta : due - ss->critical_s / 4, why == 1, now);
    }
    if (sp->nclaim == 0) sp->claim_due = due;
    if (v->head) {
        sp->nclaim += pf_picker_claim(&t->picker, p, sp->claim + sp->nclaim, PF__CDN_HEAD / PF_BLOCK_SIZE);
        return 1;
    }
    sp->nclaim += steal ? pf_picker_claim_steal(&t->picker, p, sp->claim + sp->nclaim, 256 - sp->nclaim)
                        : pf_picker_claim(&t->picker, p, sp->claim + sp->nclaim, 256 - sp->nclaim);
    if (why == 3) {
        if (u->nf_end != p) {
            send_cdn_notices(t, u->nf_first, u->nf_end);
            u->nf_first = p;
        }
        u->nf_end = p + 1;
    }
    /* A piece the swarm is late with goes alone: the CDN races the peers
     * for it, and a failing CDN must not take a run of pieces away from
     * them. */
    if (alone && sp->nclaim > 0 && (flush_claim(sp) != 0 || !sp->cdn)) return 1;
    return 0;
}

/* Phase 3: the urgent zone of one reader.  A missing block there goes to a
 * costly source when (a) it is in the start-up prefix, (b) the free
 * sources would deliver it too late, or (c) none of them has it. */
static void phase_urgent(sched_pass *sp, reader_view *v)
{
    pf_torrent *t = sp->t;
    pf__stream *st = v->st;
    const pf_stream_settings *ss = sp->ss;
    uint64_t now = sp->now, plen = sp->plen;
    if (!sp->cdn) return;
    /* A start-up's GETs go one after the other: side by side they share
     * the link and the prefix comes later (the probe's GET, the rest of
     * the prefix and the next piece at once: flash-crowd start-up 1.41 ->
     * 1.79 s at 8 Mbit/s).  Its own GETs: another reader's (a title's
     * audio beside its video) go side by side, as a player asks for both
     * at once; behind the video's, the first audio segment came 3 s after
     * it was asked for on a 3 Mbit/s link and start-up took 3.07 s
     * against the CDN-only player's 1.70 (the lab's abr scenario). */
    if (!st->startup_done && costly_in_range(t, v->p0, v->start_end > v->rd ? v->start_end : v->rd + 1)) {
        reroute_startup(t, v->p0, v->start_end, v->play, v->br, now);
        return;
    }
    urgent_scan u;
    if (!urgent_scan_init(sp, v, &u)) return;
    sp->cur = v;
    phase_startup_deadlines(sp, v, &u);
    int blocked_missing = 0; /* bytes the player waits for are still to come */
    for (uint32_t p = v->p0; p <= u.pu && p < t->mi->num_pieces; p++) {
        if (pf_bitfield_get(&t->have, p) || pf_picker_is_pending(&t->picker, p)) continue;
        uint64_t pstart = (uint64_t)p * plen;
        double due = view_due(v, pstart);
        /* While the segment the player waits for is still coming, the CDN
         * fetches nothing past it that is not due soon: GETs side by side
         * share the link, and the player times its segment.  The lab's abr
         * scenario: a 1.17 MB segment took 3.6 s on a 5 Mbit/s link beside
         * GETs of the next segment and the audio, the player read 2.6
         * Mbit/s and stepped down. */
        if (pstart < v->blk_end) blocked_missing = 1;
        else if (blocked_missing && due > ss->critical_s) break;
        if (v->yield && clock_due(v, pstart) > ss->critical_s) break;
        const pf_partial *pp = pf_picker_partial(&t->picker, p);
        int cdn_busy = 0; /* the CDN already covers its missing blocks */
        if (pp) {
            cdn_busy = 1;
            for (uint32_t b = 0; b < pp->nblocks && cdn_busy; b++) cdn_busy = pp->state[b] == 2 || pp->claimed[b];
        }
        if (cdn_busy) {
            /* Tiers: a slow or stalled costly fetch of an urgent piece gives
             * way to a quicker costly source. */
            if (u.any_media_urgent && p <= u.pm) pf__costly_reroute(t, p, due, now);
            continue;
        }
        double eta = 0;
        int why = piece_verdict(sp, v, &u, p, due, &eta);
        if (!why) continue;
        pf__log(t->s, PF_LOG_DEBUG, "cdn: piece %u (%s) due %.2fs eta %.2fs swarm %.0f B/s%s", p,
                why == 1 ? "start-up" : why == 3 ? "no peer has it" : "swarm late", due, eta, u.rate,
                u.settling ? ", swarm settling" : "");
        if (take_piece(sp, v, &u, p, due, why)) break;
    }
    if (sp->nclaim > 0) flush_claim(sp);
    send_cdn_notices(t, u.nf_first, u.nf_end);
    sp->nclaim = 0;
    sp->cur = NULL;
    st->blk_missing = blocked_missing;
}

/* Phase 3-: a player waiting for segments of two tracks (a title's video
 * and audio) gets them in presentation order: the later waits while the
 * earlier is still coming, more than PF__YIELD_S after it: meanwhile the
 * CDN brings of it only what its clock makes due within critical_s, and
 * its own waited-for bytes keep their rank once the other's are in
 * (turning them into clock deadlines instead sent them as one GET per
 * piece beside a stuck one: a 65 KB audio GET took 4.7 s in run 21).  hls.js-like
 * players fetch audio up to their buffer target while the first video
 * segment comes; the CDN fetched four more audio segments (4-20 s) beside
 * the first video segment (0 s), which took 2.46 s instead of 1.55 (the
 * lab's abr scenario, a 3 Mbit/s viewer's start-up). */
#define PF__YIELD_S 1.0
static void phase_yield(sched_pass *sp, reader_view *v)
{
    pf_torrent *t = sp->t;
    pf__stream *st = v->st;
    st->blk_t = v->blk_t;
    st->blk_missing = v->blk_t >= 0; /* phase_urgent's scan tells, if it runs */
    if (!v->tr || v->blk_t < 0) return;
    for (uint32_t i = 0; i < t->nstreams; i++) {
        const pf__stream *o = &t->streams[i];
        if (o == st || !o->cursor || !o->blk_missing || o->blk_t < 0) continue;
        if (v->blk_t > o->blk_t + PF__YIELD_S) {
            v->yield = 1; /* this pass: the CDN brings only what the clock makes due */
            return;
        }
    }
}

/* Phase 3e: while the CDN brings a segment the player waits for, the peers
 * wait too, as for a start-up: their blocks would share the viewer's
 * downlink with it, and TCP splits a link evenly between connections, so
 * ten peers sending prefetch left the CDN's GET a tenth of it.  The lab's
 * abr scenario: a 3 Mbit/s viewer that joined a busy swarm got its
 * 462 KB segments in 4.7 s (0.78 Mbit/s) and stalled, where the CDN alone
 * brings them in 1.5 s. */
static void phase_blocked_hold(sched_pass *sp, const reader_view *v)
{
    if (!v->tr || sp->hold || v->yield || v->blk_end <= v->rd) return;
    if (!costly_in_range(sp->t, v->p0, v->blk_end)) return;
    sp->hold = 1;
    sp->hold_by = v->st->id;
}

/* Phase 4: the pass's verdicts take effect: the picker's windows, costly
 * fetches no reader needs any more, the trial, the start-up hold. */
static void phase_apply(sched_pass *sp)
{
    pf_torrent *t = sp->t;
    uint64_t now = sp->now;
    pf_picker_set_windows(&t->picker, sp->win, sp->nwin);
    uint32_t it;
    PF_SRC_FOREACH(t, q, it)
    if (q->ops->prune) q->ops->prune(q, now);
    t->trial_start = sp->trial_start;
    t->trial_end = sp->hold ? sp->trial_end : sp->trial_start;
    t->trial_until = sp->trial_until;
    if (t->startup_hold != sp->hold)
        pf__log(t->s, PF_LOG_DEBUG, "start-up: peers %s (reader %u)", sp->hold ? "held" : "let go", sp->hold_by);
    if (t->startup_hold && !sp->hold) {
        t->startup_hold = 0;
        t->hold_released = now;
        pull_free(t, now, 1);
    } else if (!t->startup_hold && sp->hold) {
        /* A start-up begins: what peers were asked for before (rarest-first
         * before the player came, or the old window before a seek) would
         * fill the downlink ahead of the prefix.  Upload-rich lab: viewers
         * that joined a busy swarm got their 512 KiB prefix from the CDN in
         * 2.9 s instead of 0.05 s, behind 26 peers' queued blocks. */
        PF_SRC_FOREACH(t, q, it)
        if (pf__src_free(q)) q->ops->cancel_all(q, now);
    }
    t->startup_hold = sp->hold;
    if (sp->hold && t->trial_end > t->trial_start) pull_free(t, now, 0);
}

void pf__sched_update(pf_torrent *t, uint64_t now)
{
    pf__streams_tick(t, now);
    if (!t->has_meta || t->state != PF_TS_DOWNLOADING) {
        if (t->has_meta) pf_picker_set_windows(&t->picker, NULL, 0);
        t->startup_hold = 0;
        return;
    }
    sched_pass sp;
    memset(&sp, 0, sizeof sp);
    sp.t = t;
    sp.now = now;
    sp.ss = pf__sset(t);
    sp.plen = t->mi->piece_length;
    t->picker.now = now;
    if (swarm_active(t)) t->swarm_seen = now ? now : 1;
    sp.cdn = pf__costly_ready(t, now);
    sp.usable = pf__costly_available(t, now);
    for (uint32_t i = 0; i < t->nstreams; i++) {
        reader_view v;
        if (!reader_view_init(&sp, &t->streams[i], &v)) continue;
        phase_window(&sp, &v);
        phase_startup_prefix(&sp, &v);
        phase_startup_trial(&sp, &v);
        phase_yield(&sp, &v);
        phase_urgent(&sp, &v);
        phase_blocked_hold(&sp, &v);
    }
    phase_apply(&sp);
    pf__peak_mark(t, now); /* GETs may have started */
}

size_t pf_torrent_sources(const pf_torrent *t, pf_source_stats *out, size_t max)
{
    size_t n = 0;
    uint32_t it;
    /* The costly ones first (the CDNs a viewer most wants to see). */
    for (int pass = 0; pass < 2; pass++) {
        PF_SRC_FOREACH((pf_torrent *)t, q, it)
        {
            if (n >= max) break;
            if (pf__src_free(q) != pass) continue;
            if (q->ops->present && !q->ops->present(q)) continue;
            memset(&out[n], 0, sizeof out[n]);
            q->ops->name(q, out[n].name, sizeof out[n].name);
            snprintf(out[n].kind, sizeof out[n].kind, "%s", q->ops->kind);
            out[n].cost = q->cost;
            out[n].downloaded = q->downloaded;
            out[n].uploaded = q->uploaded;
            out[n].down_rate = q->down.bps;
            out[n].cmsd_etp_kbps = q->cmsd_etp_kbps;
            out[n].cmsd_mb_kbps = q->cmsd_mb_kbps;
            n++;
        }
    }
    for (uint32_t i = 0; i < t->ndeparted && n < max; i++, n++) {
        const struct pf__departed *d = &t->departed[i];
        char a[64];
        pf_addr_format(&d->addr, a, sizeof a);
        memset(&out[n], 0, sizeof out[n]);
        char client[96];
        snprintf(out[n].name, sizeof out[n].name, "peer:%s %s (left)", a,
                 pf_escape_text(d->client, client, sizeof client));
        snprintf(out[n].kind, sizeof out[n].kind, "peer");
        out[n].downloaded = d->down;
        out[n].uploaded = d->up;
    }
    if (n < max && (t->departed_down || t->departed_up)) {
        memset(&out[n], 0, sizeof out[n]);
        snprintf(out[n].name, sizeof out[n].name, "peer:(departed)");
        snprintf(out[n].kind, sizeof out[n].kind, "peer");
        out[n].downloaded = t->departed_down;
        out[n].uploaded = t->departed_up;
        n++;
    }
    return n;
}

/* Cache limit -------------------------------------------------------------- */
void pf_torrent_set_cache_limit(pf_torrent *t, uint64_t bytes)
{
    t->cache_limit = bytes;
    if (!bytes && t->has_meta) t->picker.window_only = 0;
}

static int in_any_window(const pf_torrent *t, uint32_t piece)
{
    for (uint32_t w = 0; w < t->picker.nwin; w++)
        if (piece >= t->picker.win[w].start && piece < t->picker.win[w].end) return 1;
    return 0;
}

/* Evicts verified pieces outside every reader's window, the most available
 * in the swarm first (the least useful to keep), then the furthest behind
 * the earliest playhead; and stops starting new pieces when the cache is
 * full.  O(pieces), and only while over the limit. */
void pf__cache_limit_enforce(pf_torrent *t, uint64_t now)
{
    if (!t->cache_limit || !t->has_meta) return;
    const pf_metainfo *mi = t->mi;
    uint64_t in_progress = (uint64_t)t->picker.npartials * mi->piece_length;
    /* Room the readers' windows still need comes first: speculative
     * (rarest-first) pieces only fill what is left, or they would be
     * evicted as soon as they are verified. */
    uint64_t window_missing = 0, window_len = 0;
    for (uint32_t w = 0; w < t->picker.nwin; w++)
        for (uint32_t i = t->picker.win[w].start; i < t->picker.win[w].end && i < mi->num_pieces; i++) {
            window_len += pf_metainfo_piece_size(mi, i);
            if (!pf_bitfield_get(&t->have, i) && !pf_picker_partial(&t->picker, i))
                window_missing += pf_metainfo_piece_size(mi, i);
        }
    /* ...and a window's worth of headroom: the windows slide on, and a
     * speculative piece that fills the room they slide into is evicted
     * ahead of the reader and fetched again. */
    t->picker.window_only = t->have_bytes + in_progress + window_missing + window_len >= t->cache_limit;
    uint32_t head = mi->num_pieces;
    for (uint32_t w = 0; w < t->picker.nwin; w++)
        if (t->picker.win[w].start < head) head = t->picker.win[w].start;
    while (t->have_bytes > t->cache_limit) {
        int64_t best = -1;
        uint32_t best_av = 0, best_dist = 0;
        for (uint32_t i = 0; i < mi->num_pieces; i++) {
            if (!pf_bitfield_get(&t->have, i) || in_any_window(t, i)) continue;
            uint32_t av = t->picker.avail[i];
            /* Behind the earliest playhead first (furthest behind first),
             * then the furthest ahead. */
            uint32_t dist = i < head ? head - i + mi->num_pieces : mi->num_pieces - (i - head);
            if (best < 0 || av > best_av || (av == best_av && dist > best_dist)) {
                best = i;
                best_av = av;
                best_dist = dist;
            }
        }
        if (best < 0) break; /* everything kept is in a window */
        uint32_t piece = (uint32_t)best;
        pf__log(t->s, PF_LOG_DEBUG, "cache limit: evict piece %u (head %u, %u windows [%u,%u), window_only %d)",
                piece, head, t->picker.nwin, t->picker.nwin ? t->picker.win[0].start : 0,
                t->picker.nwin ? t->picker.win[0].end : 0, t->picker.window_only);
        pf_bitfield_clear(&t->have, piece);
        t->have_bytes -= pf_metainfo_piece_size(mi, piece);
        t->picker.prio[piece] = 0; /* not wanted again unless a reader needs it */
        t->evicted++;
        for (uint32_t k = 0; k < t->ncache; k++)
            if (t->cache[k].pb && !t->cache[k].loading && t->cache[k].piece == piece)
                pf__cache_slot_clear(&t->cache[k]);
        /* Requests queued for it can no longer be served: say so (a peer
         * waiting on them stalled its whole queue). */
        for (uint32_t k = 0; k < t->npeers; k++) pf__peer_reject_piece(t->peers[k], piece);
        pf_job *j = pf__job_new(t, PF_JOB_DISCARD);
        if (j) {
            j->piece = piece;
            j->offset = (uint64_t)piece * mi->piece_length;
            j->len = pf_metainfo_piece_size(mi, piece);
            if (pf__torrent_emit_job(t, j) != 0) pf__free(t->s->mem, j);
        }
    }
    (void)now;
}
