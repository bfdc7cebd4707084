/* The extension protocol behind the parsers: BEP 10 handshakes, BEP 9
 * ut_metadata (src/core/metadata.c: fetching an info dict for a magnet,
 * serving ours), BEP 11 ut_pex and peerflow's pf_cdn notices, as a
 * session handles them.  fuzz_wire
 * covers the payload parsers; fuzz_session reaches this code only after
 * the fuzzer rebuilt a handshake.  Here the harness does the handshake and
 * the input is a list of operations, so the fuzzer spends its time on the
 * extension messages.
 *
 * One session, one torrent whose info dict spans three ut_metadata pieces
 * (300 files with long names; built once), up to two raw peers.
 *
 * Input layout:
 *   byte 0  flags: bit 0 magnet (we fetch the info dict), else we have the
 *           torrent and serve it; bit 1 the harness sends an extension
 *           handshake (ut_metadata 3, ut_pex 4, the true metadata_size)
 *           for each new peer; bit 2 tiny clock steps
 *   then operations: op byte, length byte, body (clipped to the input)
 *     op % 8 == 0  extended message: id body[0], payload body[1..] (our
 *                  ids: 1 ut_metadata, 2 ut_pex, 3 pf_cdn)
 *               1  ut_metadata DATA for piece body[0] with the true slice
 *                  of the info dict (body[1] odd: one byte flipped,
 *                  body[2] odd: wrong total_size), id body[3] (0: 1)
 *               2  ut_metadata message from fields: type body[0], piece
 *                  body[1..2], total_size body[3..6] (signed), data after
 *               3  ut_pex message from body: added v4 / added6 / dropped
 *                  entries taken from the bytes, flags
 *               4  extension handshake from fields: ut_metadata body[0],
 *                  ut_pex body[1], metadata_size chosen by body[2]
 *               5  raw bytes to the peer's connection
 *               6  clock: body[0] steps
 *               7  open a second peer (or switch back to the first)
 *
 * Invariants: no harness anomaly; every message the engine sends parses,
 * every ut_metadata DATA it sends is the true slice of its info dict;
 * metadata it accepts has the right info-hash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/engine_harness.h"
#include "fuzz_util.h"

#define FX_FILES 300
#define FX_PIECE 16384u

typedef struct fx_static {
    hn_content c;
    pf_metainfo *mi; /* parsed once: info_raw, info_len */
} fx_static;

static const fx_static *fx_content(void)
{
    static fx_static s;
    static int ready;
    if (!ready) {
        static char names[FX_FILES][128];
        const char *paths[FX_FILES];
        uint64_t sizes[FX_FILES];
        for (int i = 0; i < FX_FILES; i++) {
            snprintf(names[i], sizeof names[i],
                     "season-%02d/episode-%03d-a-rather-long-file-name-so-that-the-info-"
                     "dictionary-spans-several-pieces.mkv",
                     i / 30, i);
            paths[i] = names[i];
            sizes[i] = 100 + (uint64_t)i;
        }
        if (hn_content_make_multi(&s.c, "show", paths, sizes, FX_FILES, FX_PIECE, 0xbeef, NULL) != 0)
            abort();
        if (pf_metainfo_parse(s.c.torrent.data, s.c.torrent.len, NULL, &s.mi) != 0) abort();
        if (s.mi->info_len <= 2 * PF_UTM_PIECE) abort(); /* want >= 3 pieces */
        ready = 1;
    }
    return &s;
}

typedef struct fx_peer {
    hn_raw *r;
    uint8_t their_utm; /* the engine's ut_metadata id, from its handshake */
} fx_peer;

/* Checks everything the engine sent to a raw peer since the last call. */
static void check_output(fx_peer *fp, int *hs_seen)
{
    const fx_static *st = fx_content();
    pf_buf *o = &fp->r->out;
    size_t off = 0;
    if (!*hs_seen) {
        if (o->len < PF_HANDSHAKE_LEN) return;
        pf_handshake hs;
        FZ_CHECK(pf_handshake_parse(o->data, o->len, &hs) == PF_HANDSHAKE_LEN);
        FZ_CHECK(memcmp(hs.info_hash, st->c.info_hash, 20) == 0);
        off = PF_HANDSHAKE_LEN;
        *hs_seen = 1;
    }
    for (;;) {
        pf_msg m;
        long n = pf_msg_parse(o->data + off, o->len - off, PF_MAX_MSG_LEN, &m);
        FZ_CHECK(n >= 0);
        if (n == 0) break;
#ifdef FUZZ_EXTENSION_DEBUG
        if (m.type == PF_MSG_EXTENDED)
            fprintf(stderr, "  to peer %p: ext %u %.*s\n", (void *)fp, m.ext_id,
                    (int)(m.payload_len < 60 ? m.payload_len : 60), (const char *)m.payload);
#endif
        if (m.type == PF_MSG_EXTENDED && m.ext_id == 0) {
            pf_ext_handshake h;
            FZ_CHECK(pf_ext_handshake_parse(m.payload, m.payload_len, &h) == 0);
            fp->their_utm = h.ut_metadata;
        } else if (m.type == PF_MSG_EXTENDED && m.ext_id == 3) {
            /* Our raw peers advertise ut_metadata as 3 (see ext_hs). */
            pf_utm_msg u;
            if (pf_utm_parse(m.payload, m.payload_len, &u) == 0 && u.msg_type == PF_UTM_DATA) {
                size_t at = (size_t)u.piece * PF_UTM_PIECE;
                FZ_CHECK(at < st->mi->info_len);
                size_t want = st->mi->info_len - at;
                if (want > PF_UTM_PIECE) want = PF_UTM_PIECE;
                FZ_CHECK(u.total_size == (int64_t)st->mi->info_len);
                FZ_CHECK(u.data_len == want && memcmp(u.data, st->mi->info_raw + at, want) == 0);
            }
        }
        off += (size_t)n;
    }
    /* Keep an incomplete tail for the next call. */
    if (off) {
        memmove(o->data, o->data + off, o->len - off);
        o->len -= off;
    }
}

static void ext_hs(pf_buf *b, uint8_t utm, uint8_t pex, int64_t size)
{
    pf_ext_handshake e;
    memset(&e, 0, sizeof e);
    e.ut_metadata = utm;
    e.ut_pex = pex;
    e.metadata_size = size;
    e.listen_port = 6881;
    e.reqq = 250;
    memcpy(e.client, "fuzz", 5);
    pf_buf body;
    pf_buf_init(&body);
    pf_ext_handshake_write(&body, &e);
    pf_msg_write_extended(b, 0, body.data, body.len);
    pf_buf_free(&body);
}

static hn_raw *open_peer(hn_net *n, hn_node *nd, int k, int send_ext)
{
    const fx_static *st = fx_content();
    hn_raw *r = hn_raw_open(nd);
    if (!r || r->closed) return r;
    uint8_t hs[PF_HANDSHAKE_LEN];
    char id[21];
    snprintf(id, sizeof id, "-FX0001-extension%03d", k);
    hn_raw_handshake(hs, st->c.info_hash, id, 1);
    pf_buf b;
    pf_buf_init(&b);
    pf_buf_append(&b, hs, sizeof hs);
    if (send_ext) ext_hs(&b, 3, 4, (int64_t)st->mi->info_len);
    hn_raw_send(r, b.data, b.len);
    pf_buf_free(&b);
    hn_settle(n);
    return r;
}

static uint32_t rd32(const uint8_t *p, size_t n)
{
    uint32_t v = 0;
    for (size_t i = 0; i < 4; i++) v = v << 8 | (i < n ? p[i] : 0);
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const fx_static *st = fx_content();
    uint8_t flags = data[0];
    hn_net *n = hn_new(0xe87);
    if (!n) return 0;
    n->log = 0;
    pf_session_settings set;
    pf_session_settings_default(&set);
    hn_node *nd = hn_add_node(n, &set);
    if (!nd) {
        hn_free(n);
        return 0;
    }
    hn_tor *t = (flags & 1) ? hn_add_magnet(nd, st->c.info_hash)
                            : hn_add_torrent(nd, &st->c, HN_FULL, NULL);
    if (!t) abort();
    hn_settle(n);
    n->step_ns = (flags & 4) ? 50 * PF_NS_PER_MS : 3 * PF_NS_PER_SEC;

    fx_peer peers[2];
    int hs_seen[2] = {0, 0};
    memset(peers, 0, sizeof peers);
    peers[0].r = open_peer(n, nd, 0, flags & 2);
    int cur = 0, npeers = 1;
    pf_buf b;
    pf_buf_init(&b);

    size_t off = 1;
    while (off < size) {
        uint8_t op = data[off++];
        size_t len = off < size ? data[off++] : 0;
        if (len > size - off) len = size - off;
        const uint8_t *body = data + off;
        off += len;
        hn_raw *r = peers[cur].r;
        pf_buf_reset(&b);
        switch (op % 8) {
        case 0:
            if (len) pf_msg_write_extended(&b, body[0], body + 1, len - 1);
            break;
        case 1: {
            uint32_t k = len ? body[0] : 0;
            size_t at = (size_t)k * PF_UTM_PIECE;
            const uint8_t *src = at < st->mi->info_len ? st->mi->info_raw + at : NULL;
            size_t dl = src ? st->mi->info_len - at : 0;
            if (dl > PF_UTM_PIECE) dl = PF_UTM_PIECE;
            uint8_t chunk[PF_UTM_PIECE];
            if (dl) memcpy(chunk, src, dl);
            if (dl && len > 1 && (body[1] & 1)) chunk[body[1] % dl] ^= 0x5a;
            int64_t total = (int64_t)st->mi->info_len + ((len > 2 && (body[2] & 1)) ? 1 : 0);
            pf_buf u;
            pf_buf_init(&u);
            pf_utm_write(&u, PF_UTM_DATA, k, total, chunk, dl);
            pf_msg_write_extended(&b, len > 3 && body[3] ? body[3] : 1, u.data, u.len);
            pf_buf_free(&u);
            break;
        }
        case 2: {
            int type = len ? body[0] % 4 : 0;
            uint32_t piece = len > 2 ? (uint32_t)body[1] << 8 | body[2] : 0;
            int64_t total = len > 6 ? (int32_t)rd32(body + 3, 4) : -1;
            pf_buf u;
            pf_buf_init(&u);
            pf_utm_write(&u, type, piece, type == PF_UTM_DATA ? total : -1,
                         len > 7 ? body + 7 : NULL, len > 7 ? len - 7 : 0);
            pf_msg_write_extended(&b, 1, u.data, u.len);
            pf_buf_free(&u);
            break;
        }
        case 3: {
            pf_addr add[40], drop[8];
            uint8_t fl[40];
            size_t na = 0, nd_ = 0;
            for (size_t i = 0; i + 7 <= len && na < 40; i += 7) {
                pf_addr *a = &add[na];
                memset(a, 0, sizeof *a);
                a->family = (body[i] & 1) ? 6 : 4;
                memcpy(a->ip + (a->family == 6 ? 12 : 0), body + i + 1, 4);
                if (a->family == 6) a->ip[0] = 0x20;
                a->port = (uint16_t)(body[i + 5] << 8 | body[i + 6]);
                fl[na] = body[i] >> 1;
                if ((body[i] & 0xe0) == 0xe0 && nd_ < 8) drop[nd_++] = *a;
                else na++;
            }
            pf_buf u;
            pf_buf_init(&u);
            pf_pex_write_flags(&u, add, fl, na, drop, nd_);
            pf_msg_write_extended(&b, 2, u.data, u.len);
            pf_buf_free(&u);
            break;
        }
        case 4: {
            static const int64_t sizes[] = {0, -1, 1, 16 * 1024 * 1024, 16 * 1024 * 1024 + 1,
                                            INT64_MAX};
            int64_t ms = (int64_t)st->mi->info_len;
            if (len > 2 && body[2] < 2 * 6) {
                ms = body[2] < 6 ? sizes[body[2]] : ms + (body[2] & 1 ? 1 : -1);
            }
            ext_hs(&b, len ? body[0] : 3, len > 1 ? body[1] : 4, ms);
            break;
        }
        case 5:
            pf_buf_append(&b, body, len);
            break;
        case 6: {
            int steps = len ? body[0] % 32 : 1;
            for (int i = 0; i < steps; i++) hn_step(n);
            break;
        }
        case 7:
            if (npeers < 2) {
                peers[1].r = open_peer(n, nd, 1, flags & 2);
                npeers = 2;
            }
            cur ^= 1;
            break;
        }
        if (b.len && r && !r->closed) {
            hn_raw_send(r, b.data, b.len);
            hn_settle(n);
        }
        for (int i = 0; i < npeers; i++)
            if (peers[i].r) check_output(&peers[i], &hs_seen[i]);
    }
    /* Time-outs: metadata requests, keepalives, inactivity. */
    n->step_ns = 7 * PF_NS_PER_SEC;
    for (int i = 0; i < 20; i++) {
        hn_step(n);
        for (int k = 0; k < npeers; k++)
            if (peers[k].r) check_output(&peers[k], &hs_seen[k]);
    }
#ifdef FUZZ_EXTENSION_DEBUG
    fprintf(stderr, "flags %x: metadata %d, peer 0 %s (err %ld), outgoing utm id %u\n", flags,
            t->got_metadata, peers[0].r && peers[0].r->closed ? "closed" : "open",
            peers[0].r ? peers[0].r->err : 0, peers[0].their_utm);
#endif
    FZ_CHECK(n->anomalies == 0);
    const pf_metainfo *mi = pf_torrent_metainfo(t->t);
    if (mi) FZ_CHECK(memcmp(mi->info_hash, st->c.info_hash, 20) == 0);
    if (flags & 1) FZ_CHECK(t->got_metadata <= 1);
    pf_buf_free(&b);
    hn_free(n);
    return 0;
}
