/* BEP 9: fetching the info dict from peers (magnet links) and serving
 * ours to them. */
#include <stdlib.h>
#include <string.h>

#include "core/swarm/swarm.h"
#include "core/util/mem.h"

#define PF__META_MAX (16u * 1024u * 1024u)
#define PF__META_TIMEOUT (10 * PF_NS_PER_SEC)

static void send_utm(pf_peer *p, int type, uint32_t piece, int64_t total, const uint8_t *data,
                     size_t len)
{
    if (!p->exth.ut_metadata) return;
    pf_buf body;
    pf_buf_init_mem(&body, p->s->mem);
    if (pf_utm_write(&body, type, piece, total, data, len) == 0)
        pf_msg_write_extended(&p->out, p->exth.ut_metadata, body.data, body.len);
    pf_buf_free(&body);
    pf__peer_mark_write(p);
}

/* Next metadata piece nobody is fetching, or -1. */
static int64_t meta_next_piece(pf_torrent *t)
{
    for (uint32_t k = 0; k < t->meta_pieces; k++) {
        if (t->meta_got[k]) continue;
        int taken = 0;
        for (uint32_t i = 0; i < t->npeers && !taken; i++) taken = t->peers[i]->meta_req == k;
        if (!taken) return k;
    }
    return -1;
}

static void meta_request(pf_peer *p, uint64_t now)
{
    pf_torrent *t = p->t;
    if (t->has_meta || !t->meta || p->meta_req >= 0 || !p->exth.ut_metadata) return;
    if ((uint64_t)p->exth.metadata_size != t->meta_size) return;
    int64_t k = meta_next_piece(t);
    if (k < 0) return;
    p->meta_req = k;
    p->meta_req_time = now;
    send_utm(p, PF_UTM_REQUEST, (uint32_t)k, -1, NULL, 0);
}

void pf__meta_on_ext_handshake(pf_peer *p, uint64_t now)
{
    pf_torrent *t = p->t;
    if (t->has_meta || !p->exth.ut_metadata) return;
    int64_t size = p->exth.metadata_size;
    if (size <= 0 || size > PF__META_MAX) return;
    if (!t->meta) {
        t->meta = pf__malloc(t->s->mem, (size_t)size);
        t->meta_pieces = (uint32_t)((size + PF_UTM_PIECE - 1) / PF_UTM_PIECE);
        t->meta_got = pf__calloc(t->s->mem, t->meta_pieces, 1);
        if (!t->meta || !t->meta_got) {
            pf__free(t->s->mem, t->meta);
            pf__free(t->s->mem, t->meta_got);
            t->meta = t->meta_got = NULL;
            return;
        }
        t->meta_size = (size_t)size;
        t->meta_have = 0;
    }
    meta_request(p, now);
}

/* Drops the partly fetched info dict; pf__meta_tick sizes a new one. */
static void meta_reset(pf_torrent *t)
{
    pf__free(t->s->mem, t->meta);
    pf__free(t->s->mem, t->meta_got);
    t->meta = t->meta_got = NULL;
    t->meta_size = 0;
    t->meta_pieces = t->meta_have = 0;
    for (uint32_t i = 0; i < t->npeers; i++) t->peers[i]->meta_req = -1;
}

static void meta_complete(pf_torrent *t, uint64_t now)
{
    pf_metainfo *mi = NULL;
    int rc = pf_metainfo_from_info(t->meta, t->meta_size, t->info_hash, t->s->mem, &mi);
    if (rc != 0) {
        /* Someone sent garbage, or a wrong size; start over (the hash
         * protects us). */
        pf__log(t->s, PF_LOG_WARN, "fetched metadata is invalid: %s", pf_strerror(rc));
        meta_reset(t);
        return;
    }
    rc = pf__torrent_set_metadata(t, mi, now);
    if (rc != 0) {
        pf_metainfo_free(mi);
        return;
    }
    pf__free(t->s->mem, t->meta);
    pf__free(t->s->mem, t->meta_got);
    t->meta = t->meta_got = NULL;
    t->state = PF_TS_CHECKING;
    pf_event ev = {.type = PF_EV_METADATA, .torrent = t};
    pf__emit(t->s, &ev);
}

int pf__meta_on_message(pf_peer *p, const uint8_t *body, size_t len, uint64_t now)
{
    pf_torrent *t = p->t;
    pf_utm_msg m;
    if (pf_utm_parse(body, len, &m) != 0) return 0; /* ignore malformed */
    switch (m.msg_type) {
    case PF_UTM_REQUEST:
        if (t->has_meta) {
            size_t off = (size_t)m.piece * PF_UTM_PIECE;
            if (off < t->mi->info_len) {
                size_t n = t->mi->info_len - off;
                if (n > PF_UTM_PIECE) n = PF_UTM_PIECE;
                send_utm(p, PF_UTM_DATA, m.piece, (int64_t)t->mi->info_len, t->mi->info_raw + off, n);
                break;
            }
        }
        send_utm(p, PF_UTM_REJECT, m.piece, -1, NULL, 0);
        break;
    case PF_UTM_DATA: {
        if (t->has_meta || !t->meta || (int64_t)m.piece != p->meta_req) break;
        p->meta_req = -1;
        size_t off = (size_t)m.piece * PF_UTM_PIECE;
        size_t want = t->meta_size - off < PF_UTM_PIECE ? t->meta_size - off : PF_UTM_PIECE;
        if (m.piece >= t->meta_pieces || m.data_len != want) break;
        if (!t->meta_got[m.piece]) {
            memcpy(t->meta + off, m.data, want);
            t->meta_got[m.piece] = 1;
            t->meta_have++;
        }
        if (t->meta_have == t->meta_pieces)
            meta_complete(t, now);
        else
            meta_request(p, now);
        break;
    }
    case PF_UTM_REJECT:
        if ((int64_t)m.piece == p->meta_req) {
            p->meta_req = -1;
            p->meta_req_time = now; /* back off from this peer for a while */
        }
        break;
    }
    return 0;
}

/* How many active peers claim `size` for the info dict. */
static uint32_t meta_votes(const pf_torrent *t, int64_t size)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->npeers; i++) {
        const pf_peer *p = t->peers[i];
        if (p->state == PF_PS_ACTIVE && p->exth.ut_metadata && p->exth.metadata_size == size) n++;
    }
    return n;
}

/* The info dict's size is what one peer's extension handshake claims, and
 * a peer may lie.  Keep the size most active peers claim (on a tie the one
 * we have, else the first from a random start):
 * a lone liar can then not keep a magnet from its metadata. */
static void meta_pick_size(pf_torrent *t, uint64_t now)
{
    if (!t->npeers) return;
    pf_peer *best = NULL;
    uint32_t best_n = 0;
    uint32_t start = (uint32_t)(pf_rand_next(&t->s->rng) % t->npeers);
    for (uint32_t k = 0; k < t->npeers; k++) {
        pf_peer *p = t->peers[(start + k) % t->npeers];
        int64_t size = p->exth.metadata_size;
        if (p->state != PF_PS_ACTIVE || !p->exth.ut_metadata || size <= 0 || size > PF__META_MAX)
            continue;
        uint32_t n = meta_votes(t, size);
        if (n > best_n) best = p, best_n = n;
    }
    if (!best) return;
    if (t->meta && (int64_t)t->meta_size != best->exth.metadata_size &&
        best_n > meta_votes(t, (int64_t)t->meta_size))
        meta_reset(t);
    if (!t->meta) pf__meta_on_ext_handshake(best, now);
}

void pf__meta_tick(pf_torrent *t, uint64_t now)
{
    meta_pick_size(t, now);
    for (uint32_t i = 0; i < t->npeers; i++) {
        pf_peer *p = t->peers[i];
        if (p->meta_req >= 0 && now > p->meta_req_time + PF__META_TIMEOUT) {
            p->meta_req = -1;
            /* Nobody else claims this size: it was probably a lie. */
            if (t->meta && meta_votes(t, (int64_t)t->meta_size) <= 1) {
                meta_reset(t);
                meta_pick_size(t, now);
                return;
            }
        }
        if (p->meta_req < 0 && p->state == PF_PS_ACTIVE && now > p->meta_req_time + PF__META_TIMEOUT / 2)
            meta_request(p, now);
        else if (p->meta_req < 0 && p->state == PF_PS_ACTIVE && p->meta_req_time == 0)
            meta_request(p, now);
    }
}
