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

/* What the connected peers not choking us can deliver per second (those
 * holding piece, unless piece < 0): each one's rate while it had our
 * requests (peer.c), not what it sent lately.  A viewer just behind the
 * front one is sent little because little exists yet, not because its
 * peers are slow: by what they sent, the second viewer of the upload-rich
 * lab found its swarm "late" at 9 KB/s and had the CDN bring 2.7 MB the
 * first one held. */
static double swarm_rate(const pf_torrent *t, int64_t piece, uint64_t now)
{
    double r = 0;
    for (uint32_t i = 0; i < t->npeers; i++) {
        const pf_peer *p = t->peers[i];
        if (p->state != PF_PS_ACTIVE || p->peer_choking) continue;
        if (piece >= 0 && !pf_bitfield_get(&p->have, (uint32_t)piece)) continue;
        r += pf__peer_plan_rate(p, now);
    }
    return r;
}

/* When (ns, absolute) the CDN alone would have a start-up phase's bytes
 * up to file offset end (pf__stream's su_* fields). */
static double su_deadline(const pf__stream *st, uint64_t end)
{
    return (double)st->su_at + (double)(end > st->su_off ? end - st->su_off : 0) / st->su_rate * 1e9;
}

/* Peers that could be tried on a start-up from piece p on: talking to
 * us, not choking us, not snubbed, holding p. */
static int trial_peers(const pf_torrent *t, uint32_t p)
{
    for (uint32_t i = 0; i < t->npeers; i++) {
        const pf_peer *q = t->peers[i];
        if (q->state == PF_PS_ACTIVE && !q->peer_choking && !q->snubbed && pf_bitfield_get(&q->have, p)) return 1;
    }
    return 0;
}

/* Some peer is connected and talking to us. */
static int swarm_active(const pf_torrent *t)
{
    for (uint32_t i = 0; i < t->npeers; i++)
        if (t->peers[i]->state == PF_PS_ACTIVE) return 1;
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
    for (uint32_t i = 0; i < t->npeers; i++) {
        const pf_peer *p = t->peers[i];
        /* A dial counts for a second too (connected_at: when it was
         * dialled, then when it connected).  One that hangs (a stale
         * tracker entry whose port another program holds) held the pieces
         * nobody had back from the CDN until its 15-20 s time-out: 10 s of
         * media took 6 s, one piece a second by the media clock (issue
         * 19, item 16; test stream_hung_dial_no_wait). */
        if ((p->state == PF_PS_CONNECTING || p->state == PF_PS_HANDSHAKE) &&
            now < p->connected_at + PF_NS_PER_SEC)
            return 1;
        if (p->state == PF_PS_ACTIVE && now < p->connected_at + PF_NS_PER_SEC) return 1;
    }
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
    for (uint32_t i = 0; i < t->npeers; i++) {
        const pf_peer *q = t->peers[i];
        if (!q->cdn_at || now > q->cdn_at + PF__NOTICE_NS || q->state != PF_PS_ACTIVE) continue;
        if (p >= q->cdn_first && p < q->cdn_end) return 1;
        if (q->cdn_end <= p && q->cdn_end + behind >= p && memcmp(q->peer_id, t->s->peer_id, 20) < 0) return 2;
    }
    return 0;
}

static void send_cdn_notices(pf_torrent *t, uint32_t first, uint32_t end)
{
    if (end <= first) return;
    for (uint32_t i = 0; i < t->npeers; i++) pf__peer_send_cdn_notice(t->peers[i], first, end - first);
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
static uint64_t first_claimable(const pf_torrent *t, uint32_t piece)
{
    const pf_partial *pp = pf_picker_partial(&t->picker, piece);
    if (!pp) return 0;
    for (uint32_t b = 0; b < pp->nblocks; b++)
        if (pp->state[b] == 0 && !pp->cdn[b]) return (uint64_t)b * PF_BLOCK_SIZE;
    return pf_metainfo_piece_size(t->mi, piece);
}

void pf__sched_update(pf_torrent *t, uint64_t now)
{
    if (!t->has_meta || t->state != PF_TS_DOWNLOADING) {
        if (t->has_meta) pf_picker_set_windows(&t->picker, NULL, 0);
        t->startup_hold = 0;
        return;
    }
    const pf_stream_settings *ss = pf__sset(t);
    const pf_metainfo *mi = t->mi;
    uint64_t plen = mi->piece_length;
    pf_picker_window win[PF_PICKER_MAX_WINDOWS];
    uint32_t nwin = 0;
    t->picker.now = now;
    if (swarm_active(t)) t->swarm_seen = now ? now : 1;
    int cdn = pf__ws_capacity(t, now);
    pf_block_ref claim[256];
    uint32_t nclaim = 0;
    int hold = 0, usable = pf__ws_usable(t, now);
    uint32_t trial_start = 0, trial_end = 0;
    uint64_t trial_until = 0;
    for (uint32_t i = 0; i < t->nstreams; i++) {
        pf__stream *st = &t->streams[i];
        const pf_file_entry *fe = &mi->files[st->file];
        if (fe->length == 0) continue;
        double br = pf__bitrate(t, st->file);
        uint64_t fend = fe->offset + fe->length;
        /* Where the player reads next, and where playback is now: players
         * read ahead of what they show, so deadlines follow the media
         * clock, not the read position. */
        uint64_t rd = fe->offset + st->pos;
        if (rd >= fend) continue;
        uint64_t play = fe->offset + st->start_off + (uint64_t)(pf__media_clock(st, now) * br);
        if (!st->started || play > rd) play = st->started ? play : rd;
        uint64_t pref_end = rd + (uint64_t)(ss->prefetch_s * br);
        /* A cache smaller than the window: prefetch what fits, keeping a
         * quarter for what the reader has just passed. */
        if (t->cache_limit && pref_end > rd + t->cache_limit / 4 * 3)
            pref_end = rd + t->cache_limit / 4 * 3;
        if (pref_end > fend) pref_end = fend;
        if (pref_end <= rd) pref_end = rd + 1;
        uint32_t p0 = (uint32_t)(rd / plen);
        if (nwin < PF_PICKER_MAX_WINDOWS) {
            win[nwin].start = p0;
            win[nwin].end = (uint32_t)((pref_end - 1) / plen) + 1;
            win[nwin].due0_s = ((double)p0 * (double)plen - (double)play) / br;
            win[nwin].piece_s = (double)plen / br;
            /* Pieces evicted by the cache limit are wanted again here. */
            for (uint32_t k = win[nwin].start; k < win[nwin].end; k++)
                if (!t->picker.prio[k]) t->picker.prio[k] = 1;
            nwin++;
        }
        /* Start-up (and after a seek): the first startup_s of media from
         * where the reader started, fixed then, done once all verified. */
        /* startup_end holds where the prefix starts; its length follows the
         * bitrate, which the container probe may only now have revealed. */
        if (st->startup_end == UINT64_MAX) st->startup_end = st->pos;
        uint64_t start_len = (uint64_t)(ss->startup_s * br) + 1;
        /* Until the container tells the bitrate, fetch just enough for its
         * header (a faststart MP4's index, an MKV's Info): the guess may be
         * far off, and the real prefix follows within a round trip. */
        if (t->qoe[st->file].bitrate_src == 0 && start_len > PF__PROBE_PREFIX_BYTES)
            start_len = PF__PROBE_PREFIX_BYTES;
        uint64_t start_end = fe->offset + st->startup_end + start_len;
        if (start_end > fend) start_end = fend;
        /* Not done while only the probe prefix is known: peers that already
         * held the first piece ended the start-up there, and the real
         * prefix never came from the CDN (upload-rich lab: 1.9-4.1 s
         * start-ups for viewers that joined a swarm that had piece 0). */
        if (!st->startup_done && t->qoe[st->file].bitrate_src != 0 &&
            (rd >= start_end || pf__verified_run(t, rd, start_end - rd) >= start_end - rd))
            st->startup_done = 1;
        /* While the CDN brings a start-up prefix, peers wait: their blocks
         * would share the viewer's downlink with the prefix and delay the
         * start (the CDN alone is the fastest start there is).  At most
         * startup_s, in case the CDN is slow rather than failing. */
        if (!st->startup_done && usable && now < st->startup_at + (uint64_t)(ss->startup_s * 1e9)) hold = 1;
        /* During a start-up, peers are tried on the prefix (peer.c,
         * trial_fill): while the container is probed, on the probe's
         * prefix past the CDN's head (or past the probe's prefix when the
         * CDN took all of it) and PF__TRIAL_BYTES more; then on the whole
         * prefix.  Each keeps what it delivers by the start-up deadline. */
        int probe_phase = t->qoe[st->file].bitrate_src == 0;
        /* With peers to try and no start-up GET yet, the CDN brings only a
         * head of the prefix, PF__CDN_HEAD: peers try the rest meanwhile,
         * and its GET measures the CDN for the start-up deadline (below).
         * (Upload-rich lab: the probe's 512 KiB from the CDN were 15 of
         * the 72 MB the CDN served, 29 viewers' worth, with peers there
         * that could bring them.) */
        int head = 0;
        if (!st->startup_done && !st->su_head && st->su_phase == 0 && cdn && !pf__ws_inflight(t) &&
            trial_peers(t, p0)) {
            head = 1;
            st->su_head = 1;
        }
        if (!st->startup_done && trial_end == trial_start) {
            uint64_t a = st->su_head || !probe_phase ? rd : fe->offset + st->startup_end + PF__PROBE_PREFIX_BYTES;
            uint64_t b = probe_phase ? fe->offset + st->startup_end + PF__PROBE_PREFIX_BYTES + PF__TRIAL_BYTES
                                     : start_end;
            if (b > fend) b = fend;
            if (a < b && rd <= a) {
                trial_start = (uint32_t)(a / plen);
                if (a % plen && !st->su_head && probe_phase) trial_start++;
                trial_end = (uint32_t)((b - 1) / plen) + 1;
                if (trial_end < trial_start) trial_end = trial_start;
            }
            /* Peers on trial take what they can before the CDN claims
             * the rest (below): claimed first, blocks still unasked at
             * the phase's start (a few milliseconds in) all went to the
             * CDN, a third of the probe's prefix. */
            trial_until = now + PF_NS_PER_SEC / 10;
            if (st->su_phase && st->su_rate > 0) {
                double at = su_deadline(st, (uint64_t)trial_end * plen);
                if (at > (double)trial_until) trial_until = (uint64_t)at;
            }
            if (t->startup_hold && trial_end > trial_start && cdn) {
                t->trial_start = trial_start;
                t->trial_end = trial_end;
                t->trial_until = trial_until;
                for (uint32_t k = 0; k < t->npeers; k++) pf__peer_fill_requests(t->peers[k], now);
            }
        }
        if (!cdn) continue;
        /* A start-up's GETs go one after the other: side by side they
         * share the link and the prefix comes later (the probe's GET, the
         * rest of the prefix and the next piece at once: flash-crowd
         * start-up 1.41 -> 1.79 s at 8 Mbit/s). */
        if (!st->startup_done && pf__ws_inflight(t)) continue;
        /* The urgent zone: from the read position, pieces due (by the media
         * clock) within urgent_s. */
        uint64_t urg_end = play + (uint64_t)(ss->urgent_s * br);
        if (!st->startup_done && urg_end < start_end) urg_end = start_end;
        if (urg_end > fend) urg_end = fend;
        /* Pieces no connected peer has are the CDN's whatever the media
         * clock says: nobody else will bring them, and a reader is asking
         * (a CDN-only stream must not be paced to real time). */
        uint64_t nopeer_end = rd + (uint64_t)(ss->urgent_s * br);
        /* ...except far ahead of the media clock when peers are there: a
         * media server filling a player's socket buffers reads tens of
         * seconds ahead, and the front viewer of the upload-rich lab had
         * the CDN bring the whole file in its first 4 s (its last minute
         * watched by nobody) while the viewers behind could have brought
         * it to each other.  Past PF__AHEAD_S of buffer, such pieces wait
         * until they are due (the urgent zone still covers them). */
        if (st->started && rd > play + (uint64_t)(PF__AHEAD_S * br) && swarm_lately(t, now)) nopeer_end = rd;
        if (nopeer_end > fend) nopeer_end = fend;
        uint64_t scan_end = urg_end > nopeer_end ? urg_end : nopeer_end;
        if (scan_end <= rd) continue;
        uint32_t pu = (uint32_t)((scan_end - 1) / plen);
        uint32_t pm = urg_end > rd ? (uint32_t)((urg_end - 1) / plen) : 0; /* last media-urgent */
        int any_media_urgent = urg_end > rd;
        uint32_t ps = (uint32_t)((start_end - 1) / plen);
        double rate = swarm_rate(t, -1, now);
        int settling = peers_settling(t, now);
        uint32_t behind = (uint32_t)(ss->urgent_s * br / (double)plen) + 2;
        /* Peers were held for the start-up and have just been asked: an
         * unmeasured swarm (rate 0) is not a slow one.  Upload-rich lab:
         * every viewer had the CDN bring the 4 s after its prefix too,
         * which 40 Mbit/s peers deliver in a tenth of a second. */
        int measuring = t->hold_released && now < t->hold_released + (uint64_t)(PF__MEASURE_S * 1e9);
        /* Until the container probe has read its prefix the bitrate is the
         * default guess (4 Mbit/s), and "urgent" or "no peer has it" past
         * the prefix means 2 MB instead of a 2.5 Mbit/s stream's 1.25: such
         * pieces wait the round trip until the probe answers. */
        int probing = t->qoe[st->file].bitrate_src == 0 &&
                      rd < fe->offset + st->startup_end + PF__PROBE_PREFIX_BYTES;
        /* The start-up deadlines: when the CDN alone would have each piece
         * of the prefix (the probe's, while probing), in order at the rate
         * of its last GET, from when the phase began (fixed then).  Blocks
         * peers on trial deliver by then stay theirs (below).  Recomputed
         * each tick from what was still missing and not yet asked of
         * peers, one deadline for the prefix shrank as the CDN took
         * blocks, until every block was late (upload-rich lab: the CDN
         * took the prefix's last piece in four GETs while 40 Mbit/s peers
         * delivered it 10 ms later). */
        if (!st->startup_done && !head) {
            int phase = probing ? 1 : 2;
            if (st->su_phase != phase) {
                /* The CDN: its best GET rate from the first byte on, after
                 * a time to first byte; a head GET's overall rate, round
                 * trip included, put deadlines 2-3x too late (upload-rich
                 * lab: median start-up 0.15 -> 0.18 s). */
                uint64_t ttfb = 0;
                double r = pf__ws_rate(t, &ttfb);
                st->su_at = now + ttfb;
                st->su_off = rd;
                st->su_rate = r;
                st->su_phase = phase;
            }
        }
        uint64_t queued = 0; /* bytes the swarm must deliver before piece p */
        uint32_t nf_first = 0, nf_end = 0; /* pieces nobody had asked of the CDN */
        for (uint32_t p = p0; p <= pu && p < mi->num_pieces; p++) {
            if (pf_bitfield_get(&t->have, p) || pf_picker_is_pending(&t->picker, p)) continue;
            uint64_t pstart = (uint64_t)p * plen;
            double due = pstart > play ? (double)(pstart - play) / br : 0;
            int startup = !st->startup_done && p <= ps;
            const pf_partial *pp = pf_picker_partial(&t->picker, p);
            int cdn_busy = 0; /* the CDN already covers its missing blocks */
            if (pp) {
                cdn_busy = 1;
                for (uint32_t b = 0; b < pp->nblocks && cdn_busy; b++)
                    cdn_busy = pp->state[b] == 2 || pp->cdn[b];
            }
            if (cdn_busy) continue;
            queued += missing_bytes(t, p);
            double eta = rate > 1 ? (double)queued / rate : 1e9;
            if (rate > 1 && !startup && t->picker.avail[p] > 0) {
                /* ...and no sooner than those holding it could send it. */
                double rp = swarm_rate(t, p, now);
                double e = rp > 1 ? (double)missing_bytes(t, p) / rp : 1e9;
                if (e > eta) eta = e;
            }
            int why = cdn_reason(t, p, due, eta, startup, measuring);
            if (probing && !startup) why = 0;
            int media_urgent = any_media_urgent && p <= pm;
            if (why == 2 && !media_urgent) why = 0; /* not due yet */
            /* Before the start-up is done peers are held (or the swarm is
             * unknown): what is late is part of the start-up, in the same
             * ranged GET.  Until the container's bitrate is known the
             * prefix is only the probe, and the rest of the urgent zone
             * went out as one GET per piece, sharing the link: 4 s of
             * media took 1.8-2.4 s instead of 1.4 at 8 Mbit/s. */
            if (why == 2 && !st->startup_done) why = 1;
            if (why == 3 && !media_urgent && settling) why = 0; /* a peer may have it */
            /* A peer holds a piece shortly before it: a viewer streaming
             * the same part of the file.  Then such pieces wait for the
             * urgent zone: whichever of us reaches them first fetches them
             * from the CDN, the others take them from that one.  Two
             * front-runners 0.3 s apart each had the CDN bring all their
             * players read ahead (upload-rich lab: 22 + 9 MB for a 24 MB
             * bound). */
            if (why == 3 && !media_urgent && peer_ahead(t, p, behind)) why = 0;
            /* In the urgent zone, such a piece another viewer fetches
             * (or will, leading at our point) is left to it for half of
             * the zone; we ask the CDN ourselves only if its HAVE has not
             * come by then. */
            if (why == 3 && media_urgent && st->startup_done && due > ss->urgent_s / 2 &&
                cdn_noticed(t, p, behind, now))
                why = 0;
            if (!why) continue;
            queued -= missing_bytes(t, p); /* the CDN brings it, not the swarm */
            pf__log(t->s, PF_LOG_DEBUG, "cdn: piece %u (%s) due %.2fs eta %.2fs swarm %.0f B/s%s", p,
                    why == 1 ? "start-up" : why == 3 ? "no peer has it" : "swarm late", due, eta, rate,
                    settling ? ", swarm settling" : "");
            /* Consecutive pieces go out as one ranged GET: the bytes then
             * arrive in playback order at the link's full rate.  Parallel
             * requests share the link, so the first piece (and the first
             * byte served) came only when all of them did: 0.76 s instead
             * of 0.26 s for 4 pieces of 256 KiB at 8 Mbit/s.  (Start-up
             * and pieces no peer has: both bounded by a few seconds of
             * media.) */
            if (nclaim > 0 && (why == 2 || nclaim + piece_blocks(t, p) > 256 ||
                               (uint64_t)claim[nclaim - 1].piece * plen + claim[nclaim - 1].begin +
                                       claim[nclaim - 1].length != pstart + first_claimable(t, p))) {
                if (pf__ws_fetch(t, claim, nclaim, now) != 0) {
                    nclaim = 0;
                    cdn = 0;
                    break;
                }
                nclaim = 0;
                cdn = pf__ws_capacity(t, now);
                if (!cdn) break;
            }
            double cdn_eta = 0; /* start-up: when the CDN alone would have p */
            if (why == 1 && st->su_phase && st->su_rate > 0) {
                double at = (su_deadline(st, pstart + pf_metainfo_piece_size(mi, p)) - (double)now) / 1e9;
                /* Once the reader has (or is about to have) its first
                 * byte, the media clock runs: no later than due either. */
                if ((st->started || pf_bitfield_get(&t->have, p0)) && at > due - ss->critical_s / 4)
                    at = due - ss->critical_s / 4;
                cdn_eta = at > 0 ? at : 0;
            }
            if (why != 3) {
                /* Start-up: the CDN takes every block peers on trial would
                 * not bring before it could (cdn_eta).
                 * Swarm late: take from the peers only the blocks they would
                 * bring after due - critical_s (their queue order and rate);
                 * the rest is left to them, and comes back here if they do
                 * not deliver (at the latest once due within critical_s,
                 * where every block is late but those on their way).
                 * Racing them for blocks on their way made most of what
                 * slow uplinks sent waste. */
                for (uint32_t k = 0; k < t->npeers; k++)
                    if (t->peers[k]->nreqs)
                        pf__peer_cancel_late(t->peers[k], p, why == 1 ? cdn_eta : due - ss->critical_s,
                                             why == 1 ? cdn_eta : due - ss->critical_s / 4, why == 1, now);
            }
            if (head) {
                nclaim += pf_picker_claim(&t->picker, p, claim + nclaim, PF__CDN_HEAD / PF_BLOCK_SIZE);
                break;
            }
            nclaim += pf_picker_claim(&t->picker, p, claim + nclaim, 256 - nclaim);
            if (why == 3) {
                if (nf_end != p) {
                    send_cdn_notices(t, nf_first, nf_end);
                    nf_first = p;
                }
                nf_end = p + 1;
            }
            /* A piece the swarm is late with goes alone: the CDN races the
             * peers for it, and a failing CDN must not take a run of
             * pieces away from them. */
            if (why == 2 && nclaim > 0) {
                int rc = pf__ws_fetch(t, claim, nclaim, now);
                nclaim = 0;
                cdn = rc == 0 ? pf__ws_capacity(t, now) : 0;
                if (!cdn) break;
            }
        }
        if (nclaim > 0 && pf__ws_fetch(t, claim, nclaim, now) != 0) cdn = 0;
        send_cdn_notices(t, nf_first, nf_end);
        nclaim = 0;
    }
    pf_picker_set_windows(&t->picker, win, nwin);
    pf__ws_cancel_useless(t, now);
    t->trial_start = trial_start;
    t->trial_end = hold ? trial_end : trial_start;
    t->trial_until = trial_until;
    if (t->startup_hold && !hold) {
        t->startup_hold = 0;
        t->hold_released = now;
        for (uint32_t i = t->npeers; i-- > 0;) pf__peer_fill_requests(t->peers[i], now);
    } else if (!t->startup_hold && hold) {
        /* A start-up begins: what peers were asked for before (rarest-first
         * before the player came, or the old window before a seek) would
         * fill the downlink ahead of the prefix.  Upload-rich lab: viewers
         * that joined a busy swarm got their 512 KiB prefix from the CDN
         * in 2.9 s instead of 0.05 s, behind 26 peers' queued blocks. */
        for (uint32_t i = 0; i < t->npeers; i++) pf__peer_cancel_all(t->peers[i]);
    }
    t->startup_hold = hold;
    if (hold && t->trial_end > t->trial_start)
        for (uint32_t i = 0; i < t->npeers; i++) pf__peer_fill_requests(t->peers[i], now);
}

size_t pf_torrent_sources(const pf_torrent *t, pf_source_stats *out, size_t max)
{
    size_t n = 0;
    for (uint32_t i = 0; i < t->nws && n < max; i++, n++) {
        memset(&out[n], 0, sizeof out[n]);
        snprintf(out[n].name, sizeof out[n].name, "cdn:%s", t->ws[i].url);
        out[n].is_cdn = 1;
        out[n].downloaded = t->ws[i].downloaded;
        out[n].down_rate = t->ws[i].down.bps;
    }
    for (uint32_t i = 0; i < t->npeers && n < max; i++) {
        const pf_peer *p = t->peers[i];
        if (p->state != PF_PS_ACTIVE) continue;
        char a[64];
        pf_addr_format(&p->addr, a, sizeof a);
        memset(&out[n], 0, sizeof out[n]);
        snprintf(out[n].name, sizeof out[n].name, "peer:%s %s", a, p->exth.client);
        out[n].downloaded = p->downloaded;
        out[n].uploaded = p->uploaded;
        out[n].down_rate = p->down.bps;
        n++;
    }
    for (uint32_t i = 0; i < t->ndeparted && n < max; i++, n++) {
        const struct pf__departed *d = &t->departed[i];
        char a[64];
        pf_addr_format(&d->addr, a, sizeof a);
        memset(&out[n], 0, sizeof out[n]);
        snprintf(out[n].name, sizeof out[n].name, "peer:%s %s (left)", a, d->client);
        out[n].downloaded = d->down;
        out[n].uploaded = d->up;
    }
    if (n < max && (t->departed_down || t->departed_up)) {
        memset(&out[n], 0, sizeof out[n]);
        snprintf(out[n].name, sizeof out[n].name, "peer:(departed)");
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
        pf_job *j = pf__job_new(t, PF_JOB_DISCARD);
        if (j) {
            j->piece = piece;
            j->offset = (uint64_t)piece * mi->piece_length;
            j->len = pf_metainfo_piece_size(mi, piece);
            if (pf__torrent_emit_job(t, j) != 0) free(j);
        }
    }
    (void)now;
}
