/* One torrent: its pieces, peers, candidates, read cache, checking,
 * completion and the choker. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/swarm/swarm.h"
#include "core/util/mem.h"
#include "core/util/sha1.h"

#define PF__MAX_CANDIDATES 1000 /* < 65535: cand_index holds uint16 */
#define PF__CHECK_PARALLEL 4
#define PF__DIALS_PER_TICK 8

pf_torrent *pf__torrent_new(pf_session *s, const uint8_t info_hash[20])
{
    pf_torrent *t = pf__calloc(s->mem, 1, sizeof *t);
    if (!t) return NULL;
    t->s = s;
    t->id = s->next_id++;
    memcpy(t->info_hash, info_hash, 20);
    t->state = PF_TS_METADATA;
    return t;
}

void pf__torrent_free(pf_torrent *t)
{
    for (uint32_t i = 0; i < t->npeers; i++) pf__peer_free(t->peers[i]);
    pf__free(t->s->mem, t->peers);
    pf__free(t->s->mem, t->cands);
    pf__free(t->s->mem, t->cand_index);
    for (uint32_t i = 0; i < t->ntrackers; i++) pf__free(t->s->mem, t->trackers[i].url);
    pf__free(t->s->mem, t->trackers);
    for (uint32_t i = 0; i < t->ncache; i++) pf__cache_slot_clear(&t->cache[i]);
    pf__free(t->s->mem, t->cache);
    if (t->has_meta) pf_picker_free(&t->picker);
    pf_bitfield_free(&t->have);
    pf_bitfield_free(&t->rotten);
    pf__free(t->s->mem, t->suspects);
    if (t->mi) pf_metainfo_free(t->mi);
    pf__free(t->s->mem, t->meta);
    pf__free(t->s->mem, t->meta_got);
    pf__free(t->s->mem, t->magnet_name);
    pf__free(t->s->mem, t->tracker_token);
    pf__torrent_tls_free(t);
    pf__ws_free_all(t);
    pf__sources_free(t);
    pf__streams_free(t);
    pf__control_free(t);
    pf__free(t->s->mem, t);
}

const pf_metainfo *pf_torrent_metainfo(const pf_torrent *t) { return t->has_meta ? t->mi : NULL; }
const uint8_t *pf_torrent_info_hash(const pf_torrent *t) { return t->info_hash; }
int pf_torrent_state(const pf_torrent *t) { return t->state; }
void pf_torrent_set_ud(pf_torrent *t, void *ud) { t->ud = ud; }
void *pf_torrent_ud(const pf_torrent *t) { return t->ud; }

/* The piece buffers the torrent may hold (settings.memory_limit): pieces
 * in progress, the read cache, the write backlog.  Returns the number of
 * cache slots. */
static uint32_t size_buffers(pf_torrent *t, uint64_t plen)
{
    const pf_session_settings *set = &t->s->set;
    uint32_t partials = set->max_partials, hard = 0;
    uint32_t ncache = set->cache_pieces ? set->cache_pieces : 1;
    uint64_t backlog = set->max_write_backlog;
    if (set->memory_limit && plen) {
        uint64_t lim = set->memory_limit;
        uint64_t h = lim / 2 / plen, c = lim / 4 / plen, b = lim / 4;
        hard = h < 2 ? 2 : h > 4096 ? 4096 : (uint32_t)h;
        if (partials > hard) partials = hard;
        if (c < 1) c = 1;
        if (ncache > c) ncache = (uint32_t)c;
        if (b < 2 * plen) b = 2 * plen;
        if (backlog > b) backlog = b;
    }
    t->picker.max_partials = partials;
    t->picker.hard_max_partials = hard;
    t->max_backlog = backlog;
    return ncache;
}

int pf__torrent_set_metadata(pf_torrent *t, pf_metainfo *mi, uint64_t now)
{
    if (memcmp(mi->info_hash, t->info_hash, 20) != 0) return PF_ERR_HASH;
    int rc = pf__torrent_tls_init(t, mi); /* an SSL torrent: never in clear */
    if (rc) return rc;
    rc = pf_bitfield_init_mem(&t->have, mi->num_pieces, t->s->mem);
    if (rc) return rc;
    rc = pf_picker_init(&t->picker, t->s->mem, mi->num_pieces, mi->piece_length, mi->total_length, &t->have);
    if (rc) {
        pf_bitfield_free(&t->have);
        return rc;
    }
    t->picker.elide = t->s->set.payload.elide;
    /* BEP 47 pad files at the tail of a piece: zeros nobody is asked for. */
    for (size_t f = 0; f < mi->num_files && rc == 0; f++) {
        const pf_file_entry *e = &mi->files[f];
        if (!e->pad || e->length == 0) continue;
        uint64_t plen = mi->piece_length, end = e->offset + e->length;
        for (uint64_t p = e->offset / plen; p * plen < end && rc == 0; p++) {
            uint64_t ps = p * plen, pe = ps + plen < mi->total_length ? ps + plen : mi->total_length;
            if (end >= pe) rc = pf_picker_set_pad(&t->picker, (uint32_t)p, (uint32_t)((e->offset > ps ? e->offset : ps) - ps));
        }
    }
    if (rc) {
        pf_picker_free(&t->picker);
        pf_bitfield_free(&t->have);
        return rc;
    }
    uint32_t ncache = size_buffers(t, mi->piece_length);
    t->cache = pf__calloc(t->s->mem, ncache, sizeof *t->cache);
    if (!t->cache) {
        pf_picker_free(&t->picker);
        pf_bitfield_free(&t->have);
        return PF_ERR_NOMEM;
    }
    t->ncache = ncache;
    t->mi = mi;
    t->has_meta = 1;
    for (size_t i = 0; i < mi->num_webseeds; i++) pf__ws_add(t, mi->webseeds[i], 1.0);
    for (uint32_t i = t->npeers; i-- > 0;) {
        pf_peer *p = t->peers[i];
        if (pf__peer_apply_metadata(p) != 0) pf__peer_close(p, "bad bitfield");
    }
    /* PEX heard while we could not know whether PEX is allowed (BEP 27). */
    if (mi->private_flag) {
        if (t->nheld_pex)
            pf__log(t->s, PF_LOG_INFO, "private torrent: %u peers from PEX not dialled", t->nheld_pex);
    } else {
        for (uint32_t i = 0; i < t->nheld_pex; i++) pf__torrent_add_addr(t, &t->held_pex[i], now);
    }
    t->nheld_pex = 0;
    return 0;
}

/* Making room (peer turnover, as libtorrent does when its connections are
 * full): a newcomer may displace the least useful peer.  Never one that
 * moved payload either way in the last PF__USEFUL_NS, has requests in
 * flight either way, or is still connecting or handshaking; first one the
 * choker tried and that asked for nothing while unchoked (oldest first),
 * then, once PF__GRACE_NS old, one that never moved a byte and has
 * nothing we want, then one that has, then one that moved payload before
 * (longest ago first).  Among peers that never moved a byte the newest
 * goes first: the ones that waited longest are next for an upload slot.
 * 500 squatters that handshake and say they are interested held all of
 * a seed's connections, and a real leecher could not get in. */
#define PF__USEFUL_NS (60 * PF_NS_PER_SEC)
#define PF__GRACE_NS (10 * PF_NS_PER_SEC)
static int useless_tier(const pf_peer *p, uint64_t now, uint64_t *order)
{
    if (p->state != PF_PS_ACTIVE || p->nreqs || p->inq_len || p->sp_bytes || p->net_inflight) return -1;
    uint64_t moved = p->last_block > p->last_upload ? p->last_block : p->last_upload;
    if (moved && now < moved + PF__USEFUL_NS) return -1;
    if (p->idle_since) {
        *order = p->idle_since;
        return 0;
    }
    if (now < p->connected_at + PF__GRACE_NS) return -1;
    if (!moved) {
        *order = UINT64_MAX - p->connected_at; /* newest first */
        return p->interesting ? 2 : 1;
    }
    *order = moved;
    return 3;
}

pf_peer *pf__torrent_least_useful(pf_torrent *t, uint64_t now, uint64_t *rank)
{
    pf_peer *best = NULL;
    int best_tier = 0;
    uint64_t best_order = 0;
    for (uint32_t i = 0; i < t->npeers; i++) {
        uint64_t order = 0;
        int tier = useless_tier(t->peers[i], now, &order);
        if (tier < 0) continue;
        if (!best || tier < best_tier || (tier == best_tier && order < best_order)) {
            best = t->peers[i];
            best_tier = tier;
            best_order = order;
        }
    }
    /* Tiers are few and orders are times (ns): the tier in the top bits. */
    if (best && rank) *rank = ((uint64_t)best_tier << 62) | (best_order >> 2);
    return best;
}

uint32_t pf__torrent_host_conns(const pf_torrent *t, const pf_addr *a)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->npeers; i++) n += pf_addr_same_host(&t->peers[i]->addr, a);
    return n;
}

int pf__torrent_attach_peer(pf_torrent *t, pf_peer *p, uint64_t now)
{
    if (t->npeers >= t->s->set.max_peers + 8) {
        pf_peer *v = NULL;
        if (pf__torrent_host_conns(t, &p->addr) < PF__ROOM_HOST_MAX) v = pf__torrent_least_useful(t, now, NULL);
        if (!v) return PF_ERR_LIMIT;
        pf__peer_close(v, "idle, making room for a new peer");
    }
    if (t->npeers == t->cap_peers) {
        uint32_t cap = t->cap_peers ? t->cap_peers * 2 : 16;
        pf_peer **n = pf__realloc(t->s->mem, t->peers, cap * sizeof *n);
        if (!n) return PF_ERR_NOMEM;
        t->peers = n;
        t->cap_peers = cap;
    }
    p->t = t;
    p->src.t = t;
    p->slot = t->npeers;
    t->peers[t->npeers++] = p;
    if (t->has_meta && pf__peer_apply_metadata(p) != 0) {
        t->npeers--;
        return PF_ERR_NOMEM;
    }
    return 0;
}

/* The candidate list is searched by address on every address a tracker
 * or PEX gives (up to PF__MAX_CANDIDATES of them): an index of 2 slots a
 * candidate (4 bytes beside its 40) replaces a linear scan.  Candidates
 * are only ever appended, their addresses never change.  The hash covers
 * what pf__endpoint_eq compares. */
static uint32_t cand_hash(const pf_addr *a)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    h = (h ^ a->family) * 16777619u;
    h = (h ^ (a->port & 0xff)) * 16777619u;
    h = (h ^ (uint32_t)(a->port >> 8)) * 16777619u;
    for (size_t i = 0; i < (a->family == 4 ? 4u : 16u); i++) h = (h ^ a->ip[i]) * 16777619u;
    return h;
}

static void cand_index_put(pf_torrent *t, uint32_t i)
{
    uint32_t mask = 2 * t->cap_cands - 1, k = cand_hash(&t->cands[i].addr) & mask;
    while (t->cand_index[k]) k = (k + 1) & mask;
    t->cand_index[k] = (uint16_t)(i + 1);
}

/* (Re)builds the index for cap_cands candidates; without memory, none. */
static void cand_index_build(pf_torrent *t)
{
    pf__free(t->s->mem, t->cand_index);
    t->cand_index = pf__calloc(t->s->mem, 2 * t->cap_cands, sizeof *t->cand_index);
    if (!t->cand_index) return;
    for (uint32_t i = 0; i < t->ncands; i++) cand_index_put(t, i);
}

static pf__candidate *cand_find(pf_torrent *t, const pf_addr *a)
{
    if (t->cand_index) {
        uint32_t mask = 2 * t->cap_cands - 1;
        for (uint32_t k = cand_hash(a) & mask; t->cand_index[k]; k = (k + 1) & mask) {
            pf__candidate *c = &t->cands[t->cand_index[k] - 1];
            if (pf__endpoint_eq(&c->addr, a)) return c;
        }
        return NULL;
    }
    for (uint32_t i = 0; i < t->ncands; i++)
        if (pf__endpoint_eq(&t->cands[i].addr, a)) return &t->cands[i];
    return NULL;
}

/* A dial that failed (refused, timed out, closed before its handshake) is
 * tried again after PF__DIAL_RETRY_NS, doubling with each failure in a row
 * up to PF__DIAL_RETRY_MAX_NS, candidate by candidate; after
 * PF__DIAL_GIVE_UP failures in a row it is not dialled again.  A seeder
 * still starting refuses the first dial: at 10 s for the first retry a
 * viewer took the whole film from the CDN meanwhile. */
#define PF__DIAL_RETRY_NS (250 * PF_NS_PER_MS)
#define PF__DIAL_RETRY_MAX_NS (60 * PF_NS_PER_SEC)

static uint64_t dial_backoff(uint32_t fails)
{
    uint32_t shift = fails > 1 ? fails - 1 : 0;
    if (shift > 20) shift = 20;
    uint64_t d = PF__DIAL_RETRY_NS << shift;
    return d < PF__DIAL_RETRY_MAX_NS ? d : PF__DIAL_RETRY_MAX_NS;
}

void pf__torrent_detach_peer(pf_torrent *t, pf_peer *p, uint64_t now)
{
    if (p->slot >= t->npeers || t->peers[p->slot] != p) return;
    pf__blame_peer_left(t, p);
    pf__peer_drop_requests(p);
    if (t->has_meta && p->have.bits) pf_picker_remove_bitfield(&t->picker, &p->have);
    if (p->src.downloaded || p->src.uploaded) {
        struct pf__departed *d = NULL;
        for (uint32_t k = 0; k < t->ndeparted && !d; k++)
            if (pf_addr_eq(&t->departed[k].addr, &p->addr)) d = &t->departed[k];
        if (!d && t->ndeparted < sizeof t->departed / sizeof t->departed[0]) {
            d = &t->departed[t->ndeparted++];
            memset(d, 0, sizeof *d);
            d->addr = p->addr;
            snprintf(d->client, sizeof d->client, "%s", p->exth.client);
        }
        if (d) {
            d->down += p->src.downloaded;
            d->up += p->src.uploaded;
        } else {
            t->departed_down += p->src.downloaded;
            t->departed_up += p->src.uploaded;
        }
    }
    if (p->outgoing) {
        pf__candidate *c = cand_find(t, &p->addr);
        if (c && c->connected > 1) {
            /* One of its connections went; another is still there (or
             * still dialling).  A uTP dial that never got its handshake
             * says the peer has no uTP: not tried again. */
            c->connected--;
            if (p->transport == PF_TRANSPORT_UTP && !p->got_handshake && !p->dup) c->no_utp = 1;
        } else if (c) {
            c->connected = 0;
            if (p->is_seed) c->seed = 1;
            if (p->dup) {
                /* Ourselves, or a peer already connected the other way. */
                if (p->dup == 2) c->fails = PF__DIAL_GIVE_UP;
                c->next_try = now + 60 * PF_NS_PER_SEC;
            } else if (!p->got_handshake) {
                if (c->fails < PF__DIAL_GIVE_UP) c->fails++;
                c->next_try = now + dial_backoff(c->fails);
            } else {
                c->fails = 0;
                c->next_try = now + 30 * PF_NS_PER_SEC;
            }
        }
    }
    if (t->optimistic_id == p->id) t->optimistic_id = 0;
    uint32_t last = t->npeers - 1;
    if (p->slot != last) {
        t->peers[p->slot] = t->peers[last];
        t->peers[p->slot]->slot = p->slot;
    }
    t->npeers--;
}

static void dial_more(pf_torrent *t, uint64_t now);

void pf__torrent_add_addr(pf_torrent *t, const pf_addr *a, uint64_t now)
{
    pf_endpoint ep = {.addr = *a, .transport = PF_TRANSPORT_ANY};
    pf_torrent_add_peer(t, &ep, now);
}

void pf_torrent_add_peer(pf_torrent *t, const pf_endpoint *ep, uint64_t now)
{
    const pf_addr *a = &ep->addr;
    if (a->port == 0 || (a->family != 4 && a->family != 6)) return;
    if (cand_find(t, a)) return;
    if (t->ncands >= PF__MAX_CANDIDATES) return;
    if (t->ncands == t->cap_cands) {
        uint32_t cap = t->cap_cands ? t->cap_cands * 2 : 32;
        pf__candidate *n = pf__realloc(t->s->mem, t->cands, cap * sizeof *n);
        if (!n) return;
        t->cands = n;
        t->cap_cands = cap;
        cand_index_build(t);
    }
    pf__candidate *c = &t->cands[t->ncands++];
    memset(c, 0, sizeof *c);
    c->addr = *a;
    c->transport = ep->transport;
    if (t->cand_index) cand_index_put(t, t->ncands - 1);
    /* Dial now rather than at the next tick: a player is waiting. */
    dial_more(t, now);
}

/* Jobs ---------------------------------------------------------------------- */
pf_job *pf__job_new(pf_torrent *t, int type)
{
    pf_job *j = pf__calloc(t->s->mem, 1, sizeof *j);
    if (!j) return NULL;
    j->type = type;
    j->torrent = t;
    return j;
}

int pf__torrent_emit_job(pf_torrent *t, pf_job *j)
{
    pf_event ev = {.type = PF_EV_JOB, .torrent = t, .job = j};
    int rc = pf__emit(t->s, &ev);
    if (rc == 0) t->jobs_inflight++;
    return rc;
}

static void job_free(const pf_mem *m, pf_job *j)
{
    pf__free(m, j->buf);
    pf__free(m, j->url);
    pf__free(m, j);
}

/* Read cache ---------------------------------------------------------------- */
pf__pbuf *pf__pbuf_new(const pf_mem *m, uint8_t *data)
{
    pf__pbuf *b = pf__malloc(m, sizeof *b);
    if (!b) return NULL;
    b->mem = m;
    b->data = data;
    b->refs = 1;
    return b;
}

void pf__pbuf_unref(pf__pbuf *b)
{
    if (b && --b->refs == 0) {
        pf__free(b->mem, b->data);
        pf__free(b->mem, b);
    }
}

void pf__cache_slot_clear(pf__cache_slot *c)
{
    pf__pbuf_unref(c->pb);
    c->pb = NULL;
}

pf__pbuf *pf__cache_get(pf_torrent *t, uint32_t piece, int start_load)
{
    pf__cache_slot *victim = NULL;
    for (uint32_t i = 0; i < t->ncache; i++) {
        pf__cache_slot *c = &t->cache[i];
        if (c->pb && c->piece == piece) {
            if (c->loading) return NULL;
            c->used = ++t->cache_clock;
            c->used_at = t->s->last_tick;
            return c->pb;
        }
        if (!c->loading && (!victim || !c->pb || (victim->pb && c->used < victim->used)))
            victim = c;
    }
    if (!start_load || !victim || t->closing || !pf_bitfield_get(&t->have, piece)) return NULL;
    uint32_t size = pf_metainfo_piece_size(t->mi, piece);
    pf_job *j = pf__job_new(t, PF_JOB_READ);
    /* Elided payload: the slot holds a buffer of no bytes (the splices of
     * served blocks still count references to it). */
    int elide = t->s->set.payload.elide;
    uint8_t *buf = elide ? NULL : pf__malloc(t->s->mem, size);
    pf__pbuf *pb = buf || elide ? pf__pbuf_new(t->s->mem, buf) : NULL;
    if (!j || !pb) {
        pf__free(t->s->mem, j);
        if (pb)
            pf__pbuf_unref(pb); /* frees buf too */
        else
            pf__free(t->s->mem, buf);
        return NULL;
    }
    pf__cache_slot_clear(victim);
    victim->pb = pb;
    victim->piece = piece;
    victim->loading = 1;
    victim->used = ++t->cache_clock;
    victim->used_at = t->s->last_tick;
    j->piece = piece;
    j->offset = (uint64_t)piece * t->mi->piece_length;
    j->len = size;
    j->buf = buf; /* shared with the slot; the slot owns it */
    memcpy(j->expect, t->mi->piece_hashes + 20 * (size_t)piece, 20); /* verify on read */
    j->tag = (uint32_t)(victim - t->cache);
    if (pf__torrent_emit_job(t, j) != 0) {
        victim->loading = 0;
        pf__cache_slot_clear(victim);
        pf__free(t->s->mem, j);
    }
    return NULL;
}

/* A verified piece we just wrote is the one other peers want next. */
static void cache_insert(pf_torrent *t, uint32_t piece, uint8_t *buf)
{
    pf__cache_slot *victim = NULL;
    for (uint32_t i = 0; i < t->ncache; i++) {
        pf__cache_slot *c = &t->cache[i];
        if (c->loading) continue;
        if (!victim || !c->pb || (victim->pb && c->used < victim->used)) victim = c;
    }
    pf__pbuf *pb = victim ? pf__pbuf_new(t->s->mem, buf) : NULL; /* buf NULL: elided */
    if (!pb) {
        pf__free(t->s->mem, buf);
        return;
    }
    pf__cache_slot_clear(victim);
    victim->pb = pb;
    victim->piece = piece;
    victim->used = ++t->cache_clock;
    victim->used_at = t->s->last_tick;
}

static int piece_hash_ok(const pf_torrent *t, uint32_t piece, const uint8_t *data)
{
    uint8_t d[20];
    return pf_sha1(data, pf_metainfo_piece_size(t->mi, piece), d) == 0 &&
           memcmp(d, t->mi->piece_hashes + 20 * (size_t)piece, 20) == 0;
}

/* A read finished: readers waiting on it (pf_torrent_read) ask again. */
static void wake_readers(pf_torrent *t)
{
    for (uint32_t i = 0; i < t->nstreams; i++) {
        if (t->streams[i].cursor) continue;
        pf_event ev = {.type = PF_EV_STREAM_READY, .torrent = t, .err = (int)t->streams[i].id};
        pf__emit(t->s, &ev);
    }
}

void pf__piece_wanted(pf_torrent *t, uint32_t piece)
{
    for (uint32_t i = 0; i < t->npeers; i++) {
        pf_peer *p = t->peers[i];
        if (p->state != PF_PS_ACTIVE || !p->have.bits) continue;
        if (!p->is_seed && !pf_bitfield_get(&p->have, piece)) continue;
        p->interesting++;
        pf__peer_update_interest(p);
    }
}

void pf__torrent_piece_lost(pf_torrent *t, uint32_t piece, uint64_t now)
{
    if (!t->has_meta || !pf_bitfield_get(&t->have, piece)) return;
    if (!t->rotten.bits) pf_bitfield_init_mem(&t->rotten, t->mi->num_pieces, t->s->mem);
    if (t->rotten.bits) pf_bitfield_set(&t->rotten, piece);
    pf_bitfield_clear(&t->have, piece);
    t->have_bytes -= pf_metainfo_piece_size(t->mi, piece);
    t->hash_failures++;
    for (uint32_t i = 0; i < t->ncache; i++)
        if (t->cache[i].pb && !t->cache[i].loading && t->cache[i].piece == piece) pf__cache_slot_clear(&t->cache[i]);
    if (t->state == PF_TS_SEEDING) {
        t->state = PF_TS_DOWNLOADING;
        t->complete_fired = 0; /* PF_EV_COMPLETE again once repaired */
        /* Seeds are worth dialling again. */
        for (uint32_t i = 0; i < t->ncands; i++)
            if (t->cands[i].seed && t->cands[i].next_try > now) t->cands[i].next_try = now;
    }
    for (uint32_t i = t->npeers; i-- > 0;) {
        pf_peer *p = t->peers[i];
        if (p->state != PF_PS_ACTIVE) continue;
        pf__peer_reject_piece(p, piece);
        if (p->have.bits && (p->is_seed || pf_bitfield_get(&p->have, piece)) && t->picker.prio[piece])
            p->interesting++;
        pf__peer_update_interest(p);
        pf__peer_fill_requests(p, now);
    }
    if (t->nstreams) pf__sched_update(t, now);
}

long pf_torrent_read(pf_torrent *t, uint64_t off, uint8_t *dst, size_t max, uint64_t now)
{
    if (!t->has_meta) return PF_ERR_INVAL;
    if (off >= t->mi->total_length) return PF_ERR_RANGE;
    if (max == 0) return 0;
    uint32_t piece = (uint32_t)(off / t->mi->piece_length);
    if (!pf_bitfield_get(&t->have, piece)) return PF_ERR_NOTFOUND;
    if (t->s->set.payload.elide) return PF_ERR_UNSUPPORTED; /* no bytes */
    pf__pbuf *pb = pf__cache_get(t, piece, 1); /* or a verifying READ starts */
    (void)now;
    if (!pb) return 0;
    uint64_t start = (uint64_t)piece * t->mi->piece_length;
    uint64_t in = off - start, n = pf_metainfo_piece_size(t->mi, piece) - in;
    if (n > max) n = max;
    memcpy(dst, pb->data + in, (size_t)n);
    return (long)n;
}

static void serve_all(pf_torrent *t, uint64_t now)
{
    for (uint32_t i = t->npeers; i-- > 0;)
        if (t->peers[i]->inq_len) pf__peer_serve(t->peers[i], now);
}

/* Pieces in, verified, out ------------------------------------------------------ */
void pf__torrent_block_in(pf_torrent *t, pf_source *src, uint32_t piece, uint32_t begin,
                          const uint8_t *data, uint32_t len, uint64_t now)
{
    t->picker.now = now;
    pf__rate_add(&src->down, len);
    t->recv_total += len;
    int r = pf_picker_block_in(&t->picker, piece, begin, data, len);
    if (r < 0) {
        t->wasted += len;
        src->wasted += len;
        pf__log(t->s, PF_LOG_DEBUG, "waste: block %u+%u from a %s (%s)", piece, begin, src->ops->kind,
                pf_bitfield_get(&t->have, piece) ? "piece verified"
                : pf_picker_is_pending(&t->picker, piece) ? "piece being verified"
                                                          : "block already in");
        return;
    }
    {
        pf_partial *sp = (pf_partial *)pf_picker_partial(&t->picker, piece);
        if (sp) sp->src[begin / PF_BLOCK_SIZE] = src->id;
    }
    src->downloaded += len;
    if (pf__src_free(src)) {
        t->free_downloaded += len;
    } else {
        t->paid_downloaded += len;
        t->paid_cost += (double)len * src->cost;
    }
    t->downloaded += len;
    pf__rate_add(&t->down, len);
    /* Endgame duplicates of this block are now useless. */
    uint32_t it;
    PF_SRC_FOREACH(t, o, it)
    if (o != src && o->ops->cancel_block && o->ops->inflight(o)) o->ops->cancel_block(o, piece, begin);
    /* Hash while the block is still in cache: the blocks of a piece mostly
     * arrive in order, so the digest is ready when the last one lands.
     * Elided payload: no bytes to hash; the caller's hook gives the
     * verdict once the piece is complete. */
    pf_partial *pp = (pf_partial *)pf_picker_partial(&t->picker, piece);
    int verified = 0;
    if (pp && t->picker.elide) {
        const pf_payload_hooks *h = &t->s->set.payload;
        if (r == 1) verified = !h->verify || h->verify(h->ud, t, piece) ? 1 : -1;
    } else if (pp) {
        if (!pp->sha) pp->sha = pf_sha1_new(t->s->mem);
        while (pp->sha && pp->hashed < pp->size && pp->state[pp->hashed / PF_BLOCK_SIZE] == 2) {
            uint32_t n = pp->size - pp->hashed < PF_BLOCK_SIZE ? pp->size - pp->hashed : PF_BLOCK_SIZE;
            pf_sha1_update(pp->sha, pp->buf + pp->hashed, n);
            pp->hashed += n;
        }
        if (r == 1 && pp->sha && pp->hashed == pp->size) {
            uint8_t d[20];
            pf_sha1_final(pp->sha, d);
            verified = memcmp(d, t->mi->piece_hashes + 20 * (size_t)piece, 20) == 0 ? 1 : -1;
        }
    }
    if (r == 1 && verified < 0) {
        pf__blame_failed(t, pp, now);
        uint8_t *buf = pf_picker_take_piece(&t->picker, piece);
        pf__free(t->s->mem, buf);
        pf_picker_piece_failed(&t->picker, piece);
        t->hash_failures++;
        t->wasted += pf_metainfo_piece_size(t->mi, piece);
        pf__log(t->s, PF_LOG_WARN, "piece %u failed its hash check", piece);
        return;
    }
    if (r == 1) {
        if (verified > 0) pf__blame_verified(t, pp, now);
        uint8_t *buf = pf_picker_take_piece(&t->picker, piece);
        pf_job *j = pf__job_new(t, PF_JOB_WRITE);
        if (!j) {
            pf__free(t->s->mem, buf);
            pf_picker_piece_failed(&t->picker, piece);
            return;
        }
        j->piece = piece;
        j->offset = (uint64_t)piece * t->mi->piece_length;
        j->len = pf_metainfo_piece_size(t->mi, piece);
        j->buf = buf;
        memcpy(j->expect, t->mi->piece_hashes + 20 * (size_t)piece, 20);
        j->verified = verified > 0;
        if (pf__torrent_emit_job(t, j) != 0) {
            job_free(t->s->mem, j);
            pf_picker_piece_failed(&t->picker, piece);
        } else {
            t->write_backlog += j->len;
        }
    }
    (void)now;
}

static void became_complete(pf_torrent *t, uint64_t now)
{
    if (t->complete_fired) return;
    t->complete_fired = 1;
    if (!t->started_complete) t->completed_here = 1; /* not a repair */
    t->state = PF_TS_SEEDING;
    pf_event ev = {.type = PF_EV_COMPLETE, .torrent = t};
    pf__emit(t->s, &ev);
    pf__announce_event(t, 2, now);
    /* Seeds have nothing to trade with seeds. */
    for (uint32_t i = t->npeers; i-- > 0;) {
        pf_peer *p = t->peers[i];
        pf__peer_update_interest(p);
        if (p->is_seed) pf__peer_close(p, "both seeding");
    }
}

static void piece_verified(pf_torrent *t, uint32_t piece, uint64_t now)
{
    if (pf_bitfield_get(&t->have, piece)) return;
    pf_bitfield_set(&t->have, piece);
    t->have_bytes += pf_metainfo_piece_size(t->mi, piece);
    for (uint32_t i = 0; i < t->npeers; i++) {
        pf_peer *p = t->peers[i];
        /* It was counted only if wanted (prio): a piece of a file fetched
         * only when read, verified after its window moved on, was not. */
        if (p->have.bits && (p->is_seed || pf_bitfield_get(&p->have, piece)) && p->interesting &&
            t->picker.prio[piece])
            p->interesting--;
        pf__peer_send_have(p, piece);
        pf__peer_update_interest(p);
    }
    if (t->nstreams) pf__stream_piece_done(t, piece, now);
    if (t->cache_limit) pf__cache_limit_enforce(t, now);
}


static void check_finished(pf_torrent *t, uint64_t now)
{
    t->state = pf_bitfield_full(&t->have) ? PF_TS_SEEDING : PF_TS_DOWNLOADING;
    if (t->state == PF_TS_SEEDING) t->complete_fired = t->started_complete = 1;
    pf_event ev = {.type = PF_EV_CHECKED, .torrent = t};
    pf__emit(t->s, &ev);
    for (uint32_t i = t->npeers; i-- > 0;) {
        pf_peer *p = t->peers[i];
        if (p->state != PF_PS_ACTIVE) continue;
        if (t->have.count > 0 && p->sent_bitfield)
            for (uint32_t k = 0; k < t->have.nbits; k++)
                if (pf_bitfield_get(&t->have, k)) pf__peer_send_have(p, k);
        if (t->have.count > 0) {
            p->interesting = 0;
            for (uint32_t k = 0; k < t->have.nbits; k++)
                if ((p->is_seed || pf_bitfield_get(&p->have, k)) && !pf_bitfield_get(&t->have, k))
                    p->interesting++;
        }
        pf__peer_update_interest(p);
        pf__peer_fill_requests(p, now);
    }
    pf__announce_event(t, 1, now);
    dial_more(t, now);
}

static void check_more(pf_torrent *t, uint64_t now)
{
    while (t->check_inflight < PF__CHECK_PARALLEL && t->check_next < t->mi->num_pieces) {
        uint32_t piece = t->check_next++;
        pf_job *j = pf__job_new(t, PF_JOB_HASH);
        if (!j) break;
        j->piece = piece;
        j->offset = (uint64_t)piece * t->mi->piece_length;
        j->len = pf_metainfo_piece_size(t->mi, piece);
        memcpy(j->expect, t->mi->piece_hashes + 20 * (size_t)piece, 20);
        if (pf__torrent_emit_job(t, j) != 0) {
            pf__free(t->s->mem, j);
            t->check_next--;
            break;
        }
        t->check_inflight++;
    }
    if (t->check_inflight == 0 && t->check_next >= t->mi->num_pieces) check_finished(t, now);
}

void pf_torrent_check(pf_torrent *t, uint64_t now)
{
    if (!t->has_meta) return;
    t->state = PF_TS_CHECKING;
    t->check_next = 0;
    check_more(t, now);
}

const uint8_t *pf_torrent_have(const pf_torrent *t, uint32_t *npieces)
{
    if (npieces) *npieces = t->has_meta ? t->have.nbits : 0;
    return t->has_meta ? t->have.bits : NULL;
}

int pf_torrent_have_piece(const pf_torrent *t, uint32_t piece)
{
    return t->has_meta && pf_bitfield_get(&t->have, piece);
}

int pf_torrent_resume(pf_torrent *t, const uint8_t *have, uint32_t npieces, uint64_t now)
{
    if (!t->has_meta || !have || npieces != t->mi->num_pieces) return PF_ERR_INVAL;
    for (uint32_t i = 0; i < npieces; i++)
        if (have[i >> 3] & (0x80u >> (i & 7))) piece_verified(t, i, now);
    t->check_next = t->mi->num_pieces;
    check_finished(t, now);
    return 0;
}

void pf_torrent_skip_check(pf_torrent *t, uint64_t now)
{
    if (!t->has_meta) return;
    t->check_next = t->mi->num_pieces;
    check_finished(t, now);
}

void pf_torrent_job_done(pf_torrent *t, pf_job *j, uint64_t now)
{
    if (t->jobs_inflight) t->jobs_inflight--;
    /* A cancel still queued for this job must not outlive it. */
    pf__event_q *q = &t->s->q;
    for (size_t k = 0; k < q->len; k++) {
        pf_event *ev = &q->ev[(q->head + k) % q->cap];
        if (ev->type == PF_EV_JOB_CANCEL && ev->job == j) ev->type = 0;
    }
    switch (j->type) {
    case PF_JOB_READ: {
        pf__cache_slot *c = j->tag < t->ncache ? &t->cache[j->tag] : NULL;
        j->buf = NULL; /* owned by the slot */
        int rotten = 0;
        if (c && c->loading && c->piece == j->piece) {
            c->loading = 0;
            /* Verify on read: nothing from the disk reaches a peer or a
             * reader unchecked (a resume record vouches for the data as it
             * was written, not as it is now).  SHA-1 runs at about
             * 1.9 GB/s: half a millisecond per MiB piece, which the caller
             * may spend off the loop, beside the read (j->verified). */
            if (j->result == PF_ERR_HASH ||
                (j->result == 0 && !j->verified && c->pb->data && !piece_hash_ok(t, j->piece, c->pb->data))) {
                j->result = PF_ERR_HASH;
                rotten = 1;
            }
            if (j->result != 0) pf__cache_slot_clear(c);
        }
        if (rotten) {
            pf__log(t->s, PF_LOG_WARN, "piece %u failed its hash check when read from disk: fetching it again",
                    j->piece);
            pf__torrent_piece_lost(t, j->piece, now);
        } else if (j->result != 0) {
            /* The requests waiting for this piece are refused, never left
             * to ask for the same read again at once: in a stop, every
             * read fails at once and that loop never ended (it_swarm hung
             * in CI).  Bytes the disk cannot give back are bytes we do not
             * have: they are fetched again. */
            int stopping = j->result == PF_ERR_SHUTDOWN || t->closing;
            if (!stopping)
                pf__log(t->s, PF_LOG_ERROR, "read of piece %u failed: %s: fetching it again", j->piece,
                        pf_strerror(j->result));
            if (!stopping && pf_bitfield_get(&t->have, j->piece)) {
                pf__torrent_piece_lost(t, j->piece, now);
            } else {
                for (uint32_t i = t->npeers; i-- > 0;) pf__peer_reject_piece(t->peers[i], j->piece);
            }
        }
        serve_all(t, now);
        wake_readers(t);
        break;
    }
    case PF_JOB_WRITE:
        t->write_backlog = t->write_backlog > j->len ? t->write_backlog - j->len : 0;
        if (j->result == 0) {
            pf_picker_piece_done(&t->picker, j->piece);
            if (!pf_bitfield_get(&t->have, j->piece)) { /* downloaded: fresh */
                t->fresh[t->fresh_next].piece = j->piece;
                t->fresh[t->fresh_next].at = now ? now : 1;
                t->fresh_next = (t->fresh_next + 1) % (uint32_t)(sizeof t->fresh / sizeof t->fresh[0]);
            }
            piece_verified(t, j->piece, now);
            cache_insert(t, j->piece, j->buf);
            j->buf = NULL;
            if (pf_bitfield_full(&t->have)) became_complete(t, now);
        } else {
            pf_picker_piece_failed(&t->picker, j->piece);
            if (j->result == PF_ERR_HASH) {
                t->hash_failures++;
                t->wasted += j->len;
                pf__log(t->s, PF_LOG_WARN, "piece %u failed its hash check", j->piece);
            } else if (j->result == PF_ERR_IO && pf_bitfield_get(&t->rotten, j->piece)) {
                /* A rotten piece's new copy cannot be written (a seed's
                 * files are read-only): do without it rather than stop. */
                t->picker.prio[j->piece] = 0;
                pf__log(t->s, PF_LOG_WARN, "piece %u cannot be repaired on disk (%s): no longer served", j->piece,
                        pf_strerror(j->result));
            } else {
                pf_event ev = {.type = PF_EV_LOG_ERROR, .torrent = t, .err = j->result};
                pf__emit(t->s, &ev);
            }
        }
        for (uint32_t i = t->npeers; i-- > 0;) pf__peer_fill_requests(t->peers[i], now);
        break;
    case PF_JOB_HASH:
        if (t->check_inflight) t->check_inflight--;
        if (j->result == 0) piece_verified(t, j->piece, now);
        if (t->state == PF_TS_CHECKING) check_more(t, now);
        break;
    case PF_JOB_HTTP:
        if (j->tag == PF__QOE_JOB_TAG) pf__qoe_report_done(t, j, now);
        else pf__announce_done(t, j, now);
        break;
    case PF_JOB_DISCARD:
        break;
    case PF_JOB_RESOLVE:
        pf__announce_resolved(t, j, now);
        break;
    case PF_JOB_WEBSEED:
        pf__ws_job_done(t, j, now);
        if (t->nstreams) pf__sched_update(t, now);
        pf__peak_mark(t, now);
        break;
    }
    job_free(t->s->mem, j);
}

/* Choking --------------------------------------------------------------------- */
static double choke_key(const pf_torrent *t, const pf_peer *p)
{
    /* Tit-for-tat while downloading; when seeding, those we upload to
     * fastest (they spread pieces quickest). */
    return t->state == PF_TS_SEEDING ? p->up.bps : p->src.down.bps;
}

/* Locality (P4P): peers of our own ISP have precedence for this many of
 * the regular slots (pf_session_set_local_share); the rest go by choke_key
 * to anyone.  All of them made the CDN bring each ISP its own first copy
 * (isp-split lab: inter-ISP bytes -33% but CDN +10%, peer bytes -12%). */
static uint32_t local_quota(const pf_session *s, uint32_t regular)
{
    return (uint32_t)((double)regular * s->local_share + 0.5);
}

/* Upload slots go to peers that use them.  One unchoked that has not
 * asked for a block PF__UNCHOKE_TRIAL_NS later (any client asks at once:
 * it said it was interested) while others wait for a slot is choked
 * again and marked (idle_choked_at): for PF__IDLE_RETRY_NS it gets no
 * slot, then only after those that never had one; its REQUEST clears the
 * mark.  Free slots go to the peer waiting longest: never unchoked first,
 * in the order they came.  With nobody waiting nothing changes: a viewer
 * waiting for its player keeps its slot.  500 squatters that said they
 * were interested and never asked held a seed's 8 slots for good. */
#define PF__UNCHOKE_TRIAL_NS (2 * PF_NS_PER_SEC)
#define PF__IDLE_RETRY_NS (10 * PF_NS_PER_SEC)
static int slot_idle(const pf_peer *p, uint64_t now)
{
    return p->idle_choked_at && now < p->idle_choked_at + PF__IDLE_RETRY_NS;
}

static int waits_for_slot(const pf_peer *p, uint64_t now)
{
    return p->am_choking && p->peer_interested && p->state == PF_PS_ACTIVE && !slot_idle(p, now);
}

/* a is before b in the line for a free slot. */
static int ahead(const pf_peer *a, const pf_peer *b)
{
    if (!a->idle_choked_at != !b->idle_choked_at) return !a->idle_choked_at;
    if (a->unchoked_at != b->unchoked_at) return a->unchoked_at < b->unchoked_at;
    return a->connected_at < b->connected_at;
}

/* It has asked for something since it was last unchoked. */
static int uses_slot(const pf_peer *p)
{
    return !p->am_choking && (p->last_request >= p->unchoked_at || p->inq_len || p->sp_bytes);
}

static void trial_chokes(pf_torrent *t, uint64_t now)
{
    int waiting = 0;
    for (uint32_t i = 0; i < t->npeers && !waiting; i++) waiting = waits_for_slot(t->peers[i], now);
    if (!waiting) return;
    for (uint32_t i = 0; i < t->npeers; i++) {
        pf_peer *p = t->peers[i];
        if (p->am_choking || p->state != PF_PS_ACTIVE || uses_slot(p)) continue;
        if (p->peer_interested && now < p->unchoked_at + PF__UNCHOKE_TRIAL_NS) continue;
        pf__peer_set_choke(p, 1);
        if (p->peer_interested) {
            p->idle_choked_at = now ? now : 1;
            if (!p->idle_since) p->idle_since = p->idle_choked_at;
        }
        if (t->optimistic_id == p->id) t->optimistic_id = 0;
    }
}

/* Need slots: beyond the regular ones, up to PF__NEED_SLOTS peers that
 * lack a piece we verified in the last PF__FRESH_NS that none of our other
 * peers has.  Such a peer streams right behind us, and only we or the CDN
 * can bring it that piece now; tit-for-tat never picks it (it has nothing
 * we lack) and the regular slots are full of peers further behind, who
 * have other sources.  Upload-rich lab: the second viewer, a fraction of
 * a second behind the first, was choked by it and had the CDN bring 4-11
 * MB of what the first had just fetched. */
#define PF__NEED_SLOTS 2
#define PF__FRESH_NS (10 * PF_NS_PER_SEC)
static int needs_us(const pf_torrent *t, const pf_peer *p, uint64_t now)
{
    if (!p->peer_interested || p->state != PF_PS_ACTIVE || p->is_seed || !p->have.bits ||
        p->have.nbits != t->have.nbits)
        return 0;
    uint32_t lacks_fresh = 0, only_ours = 0;
    for (uint32_t k = 0; k < sizeof t->fresh / sizeof t->fresh[0]; k++) {
        const struct pf__fresh *f = &t->fresh[k];
        if (!f->at || now > f->at + PF__FRESH_NS || pf_bitfield_get(&p->have, f->piece)) continue;
        lacks_fresh++;
        only_ours += t->picker.avail[f->piece] == 0;
    }
    if (!only_ours) return 0;
    /* ...and it has the rest of what we have, give or take two pieces:
     * it is at our point of the file.  Peers further behind lack older
     * pieces too, which others hold, and the regular slots serve them. */
    uint32_t lacks = 0;
    size_t nb = pf_bitfield_bytes(t->have.nbits);
    for (size_t i = 0; i < nb; i++) lacks += (uint32_t)__builtin_popcount(t->have.bits[i] & (uint8_t)~p->have.bits[i]);
    return lacks <= lacks_fresh + 2;
}

/* Unchokes needy peers (needs_us) while fewer than slots + PF__NEED_SLOTS
 * are unchoked. */
static void fill_need_slots(pf_torrent *t, uint32_t slots, uint64_t now)
{
    uint32_t unchoked = 0;
    for (uint32_t i = 0; i < t->npeers; i++) unchoked += !t->peers[i]->am_choking;
    for (uint32_t i = 0; i < t->npeers && unchoked < slots + PF__NEED_SLOTS; i++) {
        pf_peer *p = t->peers[i];
        if (!p->am_choking || slot_idle(p, now) || !needs_us(t, p, now)) continue;
        pf__peer_set_choke(p, 0);
        p->unchoked_at = now;
        unchoked++;
    }
}

/* a ranks above b for a regular slot: by choke_key, then one using its
 * slot, then the one that has waited longest. */
static int ranks_above(const pf_torrent *t, const pf_peer *a, const pf_peer *b)
{
    double ka = choke_key(t, a), kb = choke_key(t, b);
    if (ka != kb) return ka > kb;
    if (uses_slot(a) != uses_slot(b)) return uses_slot(a);
    return ahead(a, b);
}

/* Inserts p into best[0..*n) kept sorted by ranks_above, at most cap long. */
static void rank_insert(const pf_torrent *t, pf_peer **best, uint32_t *n, uint32_t cap, pf_peer *p)
{
    uint32_t pos = *n;
    while (pos > 0 && ranks_above(t, p, best[pos - 1])) pos--;
    if (pos >= cap) return;
    if (*n < cap) (*n)++;
    memmove(&best[pos + 1], &best[pos], (*n - 1 - pos) * sizeof *best);
    best[pos] = p;
}

void pf__torrent_choke(pf_torrent *t, uint64_t now)
{
    if (!t->has_meta) return;
    pf_session *s = t->s;
    uint32_t slots = s->set.upload_slots;
    /* Under an upload cap, no more peers than get ~32 KB/s each: a 1 Mbit/s
     * uplink split eight ways took 16 s per 256 KiB piece, too slow for any
     * piece due within the prefetch window to arrive before the CDN had to
     * fetch it. */
    if (s->up_limit) {
        uint64_t by_rate = s->up_limit / (32 * 1024);
        if (by_rate < 2) by_rate = 2;
        if (by_rate < slots) slots = (uint32_t)by_rate;
    }
    if (!pf__upload_allowed(s)) { /* switched off, or the budget is spent */
        for (uint32_t i = 0; i < t->npeers; i++) pf__peer_set_choke(t->peers[i], 1);
        return;
    }
    uint32_t regular = slots > 1 ? slots - 1 : 1; /* one is the optimistic */
    trial_chokes(t, now);
    int full_round = now >= t->next_choke;
    if (!full_round) {
        /* Between rounds only hand out free slots, to the peers waiting
         * longest. */
        uint32_t unchoked = 0;
        for (uint32_t i = 0; i < t->npeers; i++)
            if (!t->peers[i]->am_choking) unchoked++;
        for (int pass = 0; pass < 2; pass++) /* our ISP's peers first */
            while (unchoked < slots) {
                pf_peer *next = NULL;
                for (uint32_t i = 0; i < t->npeers; i++) {
                    pf_peer *p = t->peers[i];
                    if (p->local == (pass == 0) && waits_for_slot(p, now) && (!next || ahead(p, next))) next = p;
                }
                if (!next) break;
                pf__peer_set_choke(next, 0);
                next->unchoked_at = now;
                unchoked++;
            }
        /* A peer of our ISP still waiting, while our ISP has less than its
         * quota, takes the slot of one of another ISP (not the optimistic
         * one) at once, not at the next round, if that one asks for
         * nothing right now: choking a peer in the middle of its requests
         * sends them to its CDN. */
        uint32_t locals = 0;
        for (uint32_t i = 0; i < t->npeers; i++)
            locals += t->peers[i]->local && !t->peers[i]->am_choking && t->peers[i]->id != t->optimistic_id;
        for (uint32_t i = 0; i < t->npeers && locals < local_quota(s, regular); i++) {
            pf_peer *p = t->peers[i];
            if (!p->local || !waits_for_slot(p, now)) continue;
            pf_peer *out = NULL;
            for (uint32_t k = 0; k < t->npeers; k++) {
                pf_peer *q = t->peers[k];
                if (!q->local && !q->am_choking && q->id != t->optimistic_id && q->inq_len == 0 &&
                    q->sp_bytes == 0 && (!out || choke_key(t, q) < choke_key(t, out)))
                    out = q;
            }
            if (!out) break;
            pf__peer_set_choke(out, 1);
            pf__peer_set_choke(p, 0);
            p->unchoked_at = now;
            locals++;
        }
        fill_need_slots(t, slots, now);
        return;
    }
    t->next_choke = now + 10 * PF_NS_PER_SEC;
    /* Rotate the optimistic unchoke every 30 s. */
    if (now >= t->next_optimistic || t->optimistic_id == 0) {
        t->next_optimistic = now + 30 * PF_NS_PER_SEC;
        /* A random one of those waiting, of those never unchoked if any
         * (a newcomer's first chance). */
        uint32_t n = 0, fresh = 0;
        for (uint32_t i = 0; i < t->npeers; i++) {
            pf_peer *p = t->peers[i];
            if (!waits_for_slot(p, now)) continue;
            n++;
            fresh += p->unchoked_at == 0;
        }
        t->optimistic_id = 0;
        if (n > 0) {
            uint32_t pick = (uint32_t)(pf_rand_next(&s->rng) % (fresh ? fresh : n));
            for (uint32_t i = 0; i < t->npeers; i++) {
                pf_peer *p = t->peers[i];
                if (waits_for_slot(p, now) && (!fresh || p->unchoked_at == 0) && pick-- == 0) {
                    t->optimistic_id = p->id;
                    break;
                }
            }
        }
    }
    /* Rank interested peers: selection of the best (slots - 1), our ISP's
     * first for its quota. */
    pf_peer *best[64];
    uint32_t nbest = 0, nlocal = 0;
    if (regular > 64) regular = 64;
    for (int pass = 0; pass < 2; pass++) {
        uint32_t cap = pass == 0 ? local_quota(s, regular) : regular;
        pf_peer *rank[64];
        uint32_t nrank = 0;
        for (uint32_t i = 0; i < t->npeers; i++) {
            pf_peer *p = t->peers[i];
            if (!p->peer_interested || p->state != PF_PS_ACTIVE || p->id == t->optimistic_id) continue;
            if (p->am_choking && slot_idle(p, now)) continue;
            if (pass == 0 && !p->local) continue;
            int taken = 0;
            for (uint32_t k = 0; k < nlocal && !taken; k++) taken = best[k] == p;
            if (!taken) rank_insert(t, rank, &nrank, cap - nbest, p);
        }
        memcpy(&best[nbest], rank, nrank * sizeof *rank);
        nbest += nrank;
        if (pass == 0) nlocal = nbest;
    }
    uint32_t need = 0;
    for (uint32_t i = 0; i < t->npeers; i++) {
        pf_peer *p = t->peers[i];
        int keep = p->id == t->optimistic_id;
        for (uint32_t k = 0; k < nbest && !keep; k++) keep = best[k] == p;
        /* A need slot is kept while the need lasts. */
        if (!keep && need < PF__NEED_SLOTS && !p->am_choking && needs_us(t, p, now)) {
            keep = 1;
            need++;
        }
        if (keep && p->am_choking) p->unchoked_at = now;
        pf__peer_set_choke(p, !keep);
    }
    fill_need_slots(t, slots, now);
}

/* Tick ------------------------------------------------------------------------- */
/* Dials c by every transport the settings enable that it may take (its
 * own, or any): uTP inside the session, TCP through the caller.  Returns
 * the connections started, or < 0 when none could be made (memory). */
static int dial_candidate(pf_torrent *t, pf__candidate *c, uint64_t now)
{
    uint32_t tr = t->s->set.transports;
    int utp = (tr & PF_TRANSPORTS_UTP) && !c->no_utp &&
              (c->transport == PF_TRANSPORT_ANY || c->transport == PF_TRANSPORT_UTP);
    int tcp = (tr & PF_TRANSPORTS_TCP) && (c->transport == PF_TRANSPORT_ANY || c->transport == PF_TRANSPORT_TCP);
    if (!tcp && !utp && (tr & PF_TRANSPORTS_TCP)) tcp = 1; /* a transport we lack: TCP */
    int n = 0;
    if (utp) {
        pf_peer *p = pf__peer_new(t->s, t, &c->addr, 1, now);
        if (!p) return -1;
        p->transport = PF_TRANSPORT_UTP;
        if (pf__tls_dial(p) == 0 && pf__utp_dial(p, now) == 0) {
            c->connected++;
            n++;
        } else {
            p->outgoing = 0; /* not a failed dial of c's: it never went */
            pf__torrent_detach_peer(t, p, now);
            pf__peer_free(p);
        }
    }
    if (tcp) {
        pf_peer *p = pf__peer_new(t->s, t, &c->addr, 1, now);
        if (!p) return n ? n : -1;
        p->transport = PF_TRANSPORT_TCP;
        if (pf__tls_dial(p) != 0) {
            p->outgoing = 0;
            pf__torrent_detach_peer(t, p, now);
            pf__peer_free(p);
            return n ? n : -1;
        }
        c->connected++;
        pf_event ev = {.type = PF_EV_CONNECT, .torrent = t, .peer = p, .ep = {c->addr, PF_TRANSPORT_TCP}};
        pf__emit(t->s, &ev);
        n++;
    }
    return n;
}

static void dial_more(pf_torrent *t, uint64_t now)
{
    if (t->stopped || t->p2p_off || t->state == PF_TS_CHECKING) return;
    if (pf__torrent_tls_blocked(t)) return; /* an SSL torrent without our certificate */
    uint32_t dials = 0;
    for (uint32_t i = 0; i < t->ncands && dials < PF__DIALS_PER_TICK; i++) {
        if (t->npeers >= t->s->set.max_peers) return;
        if (pf__session_connections(t->s) >= t->s->set.max_connections) return;
        pf__candidate *c = &t->cands[i];
        if (c->connected || c->next_try > now || c->fails >= PF__DIAL_GIVE_UP) continue;
        if (c->seed && t->state == PF_TS_SEEDING) continue;
        if (pf__torrent_is_banned(t, &c->addr)) {
            c->fails = 255;
            continue;
        }
        /* Already connected to this endpoint by an incoming connection
         * (known by the listen port of its extension handshake)? */
        int dup = 0;
        for (uint32_t k = 0; k < t->npeers && !dup; k++) {
            pf_addr ep = pf__peer_endpoint(t->peers[k]);
            dup = pf__endpoint_eq(&ep, &c->addr) || pf__endpoint_eq(&t->peers[k]->addr, &c->addr);
        }
        if (dup) {
            c->next_try = now + 60 * PF_NS_PER_SEC;
            continue;
        }
        if (dial_candidate(t, c, now) < 0) return;
        dials++;
    }
}

/* Cached pieces nobody asked for in PF__CACHE_IDLE_NS are let go (a TV
 * that streamed a film keeps none of it in memory afterwards); one still
 * being sent (a splice holds a reference) stays. */
#define PF__CACHE_IDLE_NS (30 * PF_NS_PER_SEC)
static void cache_release_idle(pf_torrent *t, uint64_t now)
{
    for (uint32_t i = 0; i < t->ncache; i++) {
        pf__cache_slot *c = &t->cache[i];
        if (c->pb && !c->loading && c->pb->refs == 1 && now > c->used_at + PF__CACHE_IDLE_NS)
            pf__cache_slot_clear(c);
    }
}

/* What this viewer's link can bring: the download rate while a costly
 * source (the CDN) is fetching, the best second of such time lately.  The
 * CDN is fast, so while one of its GETs runs the link is the bottleneck
 * and everything that arrives (from the CDN and peers, waste included) is
 * what the link carries: the rate a CDN-only player would time.  The
 * plain rate over wall-clock windows reads far lower: the engine fetches
 * in bursts of what is due (a 475 KB segment in 0.8 s at 5 Mbit/s, then
 * nothing), and pacing at it kept the lab's 5 Mbit/s viewers at the
 * lowest rendition for the whole title.  The busy time is taken at the
 * events that start and end costly fetches (pf__peak_mark), not at ticks:
 * a tick is a quarter second, a GET of a piece a few tens of ms.  Without
 * any CDN time (peers only), the best wall-clock second stands in.  The
 * memory is long (a 2 min half-life): a link does not change often, and
 * a short one sank to what the lowest rendition needs.  The busy time
 * includes each GET's time to first byte, so it reads under the link when
 * GETs are short (the lab's 5 Mbit/s viewers: about 4.0).  A GET's own
 * rate from its first byte on was tried as well and dropped: bytes that
 * waited in socket buffers while the transfer was held back arrive in a
 * burst (516 MB/s from a 400 KB/s nginx in it_hls_pace). */
static void peak_account(pf_torrent *t, uint64_t now)
{
    if (!t->busy_on || now <= t->busy_since) return;
    t->busy_ns += now - t->busy_since;
    t->busy_bytes += t->recv_total - t->busy_recv0;
    t->busy_since = now;
    t->busy_recv0 = t->recv_total;
    if (t->busy_ns < PF_NS_PER_SEC) return;
    double r = (double)t->busy_bytes / ((double)t->busy_ns / 1e9);
    if (r > t->down_peak) t->down_peak = r;
    t->busy_ns = 0;
    t->busy_bytes = 0;
}

void pf__peak_mark(pf_torrent *t, uint64_t now)
{
    int busy = pf__costly_inflight(t) > 0;
    if (busy == t->busy_on) return;
    if (!busy) peak_account(t, now);
    t->busy_on = busy;
    t->busy_since = now;
    t->busy_recv0 = t->recv_total;
}

static void peak_tick(pf_torrent *t, uint64_t now, double dt)
{
    double decay = exp2(-dt / 120.0);
    t->down_peak *= decay;
    t->peak_wall *= decay;
    t->peak_bytes += t->down.pending;
    t->peak_dt += dt;
    if (t->peak_dt >= 1.0) {
        double r = (double)t->peak_bytes / t->peak_dt;
        if (r > t->peak_wall) t->peak_wall = r;
        t->peak_bytes = 0;
        t->peak_dt = 0;
    }
    peak_account(t, now);
    pf__peak_mark(t, now);
}

void pf__torrent_tick(pf_torrent *t, uint64_t now, double dt)
{
    if (dt > 0) {
        peak_tick(t, now, dt);
        pf__rate_tick(&t->down, dt);
        pf__rate_tick(&t->up, dt);
        pf__sources_tick(t, dt);
    }
    if (t->has_meta && (t->nstreams || t->picker.nwin)) pf__sched_update(t, now);
    if (t->cache_limit) pf__cache_limit_enforce(t, now);
    cache_release_idle(t, now);
    for (uint32_t i = t->npeers; i-- > 0;) {
        if (i >= t->npeers) continue;
        pf__peer_tick(t->peers[i], now, dt);
    }
    if (t->has_meta) pf__torrent_choke(t, now);
    if (!t->has_meta) pf__meta_tick(t, now);
    pf__announce_tick(t, now);
    pf__qoe_report_tick(t, now);
    dial_more(t, now);
}

void pf_torrent_get_stats(const pf_torrent *t, pf_torrent_stats *st)
{
    memset(st, 0, sizeof *st);
    st->state = t->state;
    if (t->has_meta) {
        st->pieces = t->mi->num_pieces;
        st->have = t->have.count;
        st->total_length = t->mi->total_length;
        st->have_bytes = t->have_bytes;
    }
    st->uploaded = t->uploaded;
    st->downloaded = t->downloaded;
    st->wasted = t->wasted;
    st->hash_failures = t->hash_failures;
    pf__sources_cmsd(t, st);
    for (uint32_t i = 0; i < t->npeers; i++) {
        const pf_peer *p = t->peers[i];
        if (p->state != PF_PS_ACTIVE) continue;
        st->peers++;
        if (p->is_seed) st->seeds++;
        if (!p->am_choking) st->unchoked++;
    }
    st->down_rate = t->down.bps;
    st->down_peak_rate = t->down_peak > 0 ? t->down_peak : t->peak_wall;
    st->up_rate = t->up.bps;
    st->cdn_downloaded = t->paid_downloaded;
    st->peer_downloaded = t->free_downloaded;
    st->remote_downloaded = t->remote_down;
    st->remote_uploaded = t->remote_up;
    st->p2p_off = t->p2p_off;
    st->operator_upload_cap = t->op_upload_cap;
    st->webseeds = t->nws;
    st->ssl = t->tls != NULL;
    for (uint32_t i = 0; i < t->npeers; i++) st->tls_peers += t->peers[i]->tls && t->peers[i]->state == PF_PS_ACTIVE;
    for (int r = 1; r < PF_TLS_NREFUSALS; r++) st->tls_refused += t->tls_refused[r];
}

void pf_torrent_stop(pf_torrent *t, uint64_t now)
{
    t->closing = 1;
    if (t->stopped) return;
    pf__qoe_report_final(t, now);
    pf__announce_event(t, 3, now);
    t->stopped = 1;
    t->state = PF_TS_STOPPED;
}
