/* Control of a torrent (include/peerflow/session.h): pause and resume,
 * file priorities, removal.  The state lives in one struct hung off the
 * torrent (t->ctl), made on first use.
 *
 * Pause uses the gates the engine already has: t->stopped keeps the
 * torrent from dialling (dial_more), accepting (the handshake), and
 * announcing (pf__announce_tick), and a stopped torrent asks no costly
 * source (a web seed) for anything (source.c); a pause also cancels their
 * fetches in flight.  File
 * priorities become the picker's per-piece priorities (picker.prio: 0 =
 * not wanted), which the picker and the peers' interest already honour. */
#include <string.h>

#include "core/swarm/swarm.h"
#include "core/util/mem.h"

enum { EV_STARTED = 1, EV_STOPPED = 3 }; /* pf__announce_event's events */

struct pf__control {
    int paused;
    int stopped_before; /* t->stopped was set before the pause */
    int removing;
    uint8_t *file_prio; /* per file, NULL: all 1 */
    uint32_t nfiles;
    uint32_t skipped;   /* files at priority 0 */
};

static pf__control *ctl_get(pf_torrent *t)
{
    if (!t->ctl) t->ctl = pf__calloc(t->s->mem, 1, sizeof *t->ctl);
    return t->ctl;
}

void pf__control_free(pf_torrent *t)
{
    pf__control *c = t->ctl;
    if (!c) return;
    pf__free(t->s->mem, c->file_prio);
    pf__free(t->s->mem, c);
    t->ctl = NULL;
}

/* Costly sources (web seeds): their fetches in flight are cancelled (each
 * job comes back through pf_torrent_job_done and its blocks go back to
 * the picker); a stopped torrent asks them for nothing more (source.c). */
static void costly_cancel_all(pf_torrent *t, uint64_t now)
{
    uint32_t it;
    PF_SRC_FOREACH(t, q, it)
    if (!pf__src_free(q)) q->ops->cancel_all(q, now);
}

static void close_peers(pf_torrent *t, const char *why)
{
    while (t->npeers > 0) pf__peer_close(t->peers[t->npeers - 1], why);
}

/* Pause ----------------------------------------------------------------------- */
int pf_torrent_set_paused(pf_torrent *t, int paused, uint64_t now)
{
    pf__control *c = ctl_get(t);
    if (!c) return PF_ERR_NOMEM;
    if (c->removing) return PF_ERR_SHUTDOWN;
    paused = paused != 0;
    if (paused == c->paused) return 0;
    if (paused) {
        c->paused = 1;
        c->stopped_before = t->stopped;
        if (!t->stopped) pf__announce_event(t, EV_STOPPED, now);
        t->stopped = 1;
        /* The next start is a "started" again, at once. */
        for (uint32_t i = 0; i < t->ntrackers; i++) {
            t->trackers[i].started_sent = 0;
            t->trackers[i].next_announce = now;
        }
        close_peers(t, "paused");
        costly_cancel_all(t, now);
        pf__log(t->s, PF_LOG_INFO, "paused");
        return 0;
    }
    c->paused = 0;
    if (c->stopped_before) return 0; /* stopped for good meanwhile */
    t->stopped = 0;
    for (uint32_t i = 0; i < t->ncands; i++) {
        t->cands[i].next_try = 0;
        if (t->cands[i].fails < 8) t->cands[i].fails = 0;
    }
    if (t->state != PF_TS_CHECKING) pf__announce_event(t, EV_STARTED, now);
    pf__log(t->s, PF_LOG_INFO, "resumed");
    return 0;
}

int pf_torrent_paused(const pf_torrent *t) { return t->ctl ? t->ctl->paused : 0; }

/* The operator's switch ---------------------------------------------------------
 * Off: every peer is closed and none is dialled or accepted (the gates of
 * dial_more and the handshake), so the scheduler's only sources left are
 * the web seeds: the CDN serves what the player needs, on its deadlines.
 * Announces go on (the tracker gives no peers meanwhile), so the next
 * reply that says nothing switches P2P back on, and the known peers are
 * dialled again. */
void pf__torrent_operator(pf_torrent *t, int p2p_off, uint64_t upload_cap, uint64_t now)
{
    p2p_off = p2p_off != 0;
    if (p2p_off != t->p2p_off) {
        t->p2p_off = p2p_off;
        if (p2p_off) {
            close_peers(t, "P2P switched off by the operator");
            pf__log(t->s, PF_LOG_WARN, "the operator switched P2P off for this title: CDN only");
        } else {
            for (uint32_t i = 0; i < t->ncands; i++) {
                t->cands[i].next_try = 0;
                if (t->cands[i].fails < 8) t->cands[i].fails = 0;
            }
            pf__log(t->s, PF_LOG_WARN, "the operator switched P2P back on");
        }
    }
    if (upload_cap != t->op_upload_cap) {
        t->op_upload_cap = upload_cap;
        pf__session_caps_changed(t->s);
        if (upload_cap)
            pf__log(t->s, PF_LOG_INFO, "the operator caps uploads at %llu B/s", (unsigned long long)upload_cap);
        else
            pf__log(t->s, PF_LOG_INFO, "the operator's upload cap is lifted");
    }
    (void)now;
}

/* File priorities ------------------------------------------------------------- */
static int file_prio(const pf__control *c, size_t f)
{
    return c && c->file_prio && f < c->nfiles ? c->file_prio[f] : 1;
}

/* The highest priority of the (non-pad) files piece overlaps. */
static uint8_t piece_prio(const pf_torrent *t, uint32_t piece)
{
    const pf_metainfo *mi = t->mi;
    uint64_t start = (uint64_t)piece * mi->piece_length;
    uint64_t end = start + pf_metainfo_piece_size(mi, piece);
    int best = 0;
    for (size_t f = pf_metainfo_file_at(mi, start); f < mi->num_files && mi->files[f].offset < end; f++) {
        const pf_file_entry *e = &mi->files[f];
        if (e->pad || e->length == 0 || e->offset + e->length <= start) continue;
        int p = file_prio(t->ctl, f);
        if (p > best) best = p;
    }
    return (uint8_t)best;
}

/* Peers' interest after the wanted pieces changed; then new requests. */
static void reinterest(pf_torrent *t, uint64_t now)
{
    for (uint32_t i = 0; i < t->npeers; i++) {
        pf_peer *p = t->peers[i];
        if (!p->have.bits) continue;
        uint32_t n = 0;
        for (uint32_t k = 0; k < t->have.nbits; k++)
            if ((p->is_seed || pf_bitfield_get(&p->have, k)) && !pf_bitfield_get(&t->have, k) &&
                t->picker.prio[k])
                n++;
        p->interesting = n;
        pf__peer_update_interest(p);
    }
    for (uint32_t i = t->npeers; i-- > 0;)
        if (i < t->npeers) pf__peer_fill_requests(t->peers[i], now);
}

/* Sets one file's priority and its pieces', without telling the peers. */
static int set_file_prio(pf_torrent *t, uint32_t file, int prio)
{
    if (!t->has_meta) return PF_ERR_INVAL;
    const pf_metainfo *mi = t->mi;
    if (file >= mi->num_files) return PF_ERR_NOTFOUND;
    if (prio < 0 || prio > PF_FILE_PRIO_MAX) return PF_ERR_INVAL;
    pf__control *c = ctl_get(t);
    if (!c) return PF_ERR_NOMEM;
    if (!c->file_prio) {
        c->file_prio = pf__malloc(t->s->mem, mi->num_files);
        if (!c->file_prio) return PF_ERR_NOMEM;
        memset(c->file_prio, 1, mi->num_files);
        c->nfiles = (uint32_t)mi->num_files;
    }
    int old = c->file_prio[file];
    if (old == prio) return 1;
    c->file_prio[file] = (uint8_t)prio;
    if (old == 0) c->skipped--;
    if (prio == 0) c->skipped++;
    const pf_file_entry *e = &mi->files[file];
    if (e->length > 0 && !e->pad) {
        uint32_t first = (uint32_t)(e->offset / mi->piece_length);
        uint32_t last = (uint32_t)((e->offset + e->length - 1) / mi->piece_length);
        for (uint32_t p = first; p <= last; p++)
            t->picker.prio[p] = p == first || p == last ? piece_prio(t, p) : (uint8_t)prio;
    }
    return 0;
}

int pf_torrent_set_file_priority(pf_torrent *t, uint32_t file, int prio, uint64_t now)
{
    int rc = set_file_prio(t, file, prio);
    if (rc < 0) return rc;
    if (rc == 0) reinterest(t, now);
    return 0;
}

int pf__files_set_prio(pf_torrent *t, const uint32_t *files, size_t n, int prio, uint64_t now)
{
    int changed = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = set_file_prio(t, files[i], prio);
        if (rc < 0) return rc;
        changed |= rc == 0;
    }
    if (changed) reinterest(t, now);
    return 0;
}

void pf__prio_restore(pf_torrent *t, uint32_t first, uint32_t end, uint64_t now)
{
    int changed = 0;
    for (uint32_t p = first; p < end && p < t->mi->num_pieces; p++) {
        if (pf_bitfield_get(&t->have, p)) continue;
        uint8_t pr = piece_prio(t, p);
        changed |= pr != t->picker.prio[p];
        t->picker.prio[p] = pr;
    }
    if (changed) reinterest(t, now);
}

int pf_torrent_file_priority(const pf_torrent *t, uint32_t file)
{
    if (!t->has_meta) return PF_ERR_INVAL;
    if (file >= t->mi->num_files) return PF_ERR_NOTFOUND;
    return file_prio(t->ctl, file);
}

uint32_t pf_torrent_wanted_left(const pf_torrent *t)
{
    if (!t->has_meta) return UINT32_MAX;
    if (!t->ctl || t->ctl->skipped == 0) return t->have.nbits - t->have.count;
    const pf_metainfo *mi = t->mi;
    uint32_t left = 0;
    int64_t counted = -1; /* pieces up to this one are counted */
    for (size_t f = 0; f < mi->num_files; f++) {
        const pf_file_entry *e = &mi->files[f];
        if (e->pad || e->length == 0 || file_prio(t->ctl, f) == 0) continue;
        int64_t first = (int64_t)(e->offset / mi->piece_length);
        int64_t last = (int64_t)((e->offset + e->length - 1) / mi->piece_length);
        for (int64_t p = first > counted ? first : counted + 1; p <= last; p++)
            if (!pf_bitfield_get(&t->have, (uint32_t)p)) left++;
        if (last > counted) counted = last;
    }
    return left;
}

/* Removal --------------------------------------------------------------------- */
void pf_torrent_remove(pf_torrent *t, uint64_t now)
{
    pf__control *c = ctl_get(t);
    if (c) {
        if (c->removing) return;
        c->removing = 1;
    }
    t->stopped = t->closing = 1;
    t->state = PF_TS_STOPPED; /* a check in progress stops too */
    t->cache_limit = 0;       /* no more evictions (discard jobs) */
    close_peers(t, "torrent removed");
    costly_cancel_all(t, now);
    pf__log(t->s, PF_LOG_INFO, "removing: %u peers and jobs to wait for", pf_torrent_pending(t));
}

uint32_t pf_torrent_pending(const pf_torrent *t) { return t->npeers + t->jobs_inflight; }

int pf_session_free_torrent(pf_session *s, pf_torrent *t)
{
    uint32_t i = 0;
    while (i < s->ntorrents && s->torrents[i] != t) i++;
    if (i == s->ntorrents) return PF_ERR_NOTFOUND;
    if (pf_torrent_pending(t) != 0) return PF_ERR_EAGAIN;
    memmove(&s->torrents[i], &s->torrents[i + 1], (s->ntorrents - i - 1) * sizeof *s->torrents);
    s->ntorrents--;
    /* Queued events that name it: a closing peer's still goes out. */
    pf__event_q *q = &s->q;
    for (size_t k = 0; k < q->len; k++) {
        pf_event *ev = &q->ev[(q->head + k) % q->cap];
        if (ev->torrent != t) continue;
        if (ev->peer)
            ev->torrent = NULL;
        else
            ev->type = 0;
    }
    pf__torrent_free(t);
    return 0;
}
