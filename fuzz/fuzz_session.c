/* Whole-session fuzz target: one pf_session with one small torrent (three
 * pieces, generated) accepts a connection and receives the input as the
 * remote peer's bytes, in chunks whose sizes come from the input; events
 * are drained and jobs run synchronously against memory storage
 * (tests/engine_harness.h), tracker requests are answered with the input's
 * tail, and a fake clock is ticked so timeouts, choking and announces run.
 *
 * Input layout:
 *   byte 0  flags: bit 0 we seed (storage full, checked), else we leech
 *                  (empty); bit 1 torrent added by magnet (no metadata);
 *                  bit 2 tiny chunks; bit 3 tick often; bit 4 payload
 *                  elision (pf_payload_hooks: PIECE payloads counted, some
 *                  chunks given as pf_peer_recv_payload counts; bit 5
 *                  the verify hook fails every other piece)
 *   byte 1  chunking / clock PRNG seed
 *   byte 2  length L of the tail used as every HTTP (tracker) reply body
 *   [3, size - L)   bytes from the peer
 *   [size - L, size) the HTTP body
 *
 * Build with -DFUZZ_SESSION_MKCORPUS for a main() that writes the seed
 * corpus into the directory given as argv[1]; with a second directory it
 * also writes the torrent and its content there (content.torrent,
 * content.bin), so real clients can be captured talking about it
 * (fuzz/capture/peer_capture.py). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/engine_harness.h"

#define FS_PIECE 16384u
#define FS_SIZE (2 * FS_PIECE + 5000u)
#define FS_TRACKER "http://tracker.fuzz/announce"

typedef struct fs_ctx {
    const uint8_t *http;
    size_t http_len;
} fs_ctx;

static const hn_content *fs_content(void)
{
    /* Built once: SHA-1 and bencoding per input would dominate. */
    static hn_content c;
    static int ready;
    if (!ready) {
        if (hn_content_make(&c, FS_SIZE, FS_PIECE, 0xf00d, FS_TRACKER) != 0) abort();
        ready = 1;
    }
    return &c;
}

static int fs_http(void *ud, hn_node *nd, const char *url, long *status, uint8_t **body,
                   size_t *body_len)
{
    (void)nd;
    (void)url;
    fs_ctx *x = ud;
    if (x->http_len == 0) return PF_ERR_NET;
    *status = 200;
    *body = malloc(x->http_len);
    if (!*body) return PF_ERR_NOMEM;
    memcpy(*body, x->http, x->http_len);
    *body_len = x->http_len;
    return 0;
}

/* Payload elision's verdict: every other piece fails. */
static int fs_verify(void *ud, const pf_torrent *t, uint32_t piece)
{
    (void)t;
    (void)piece;
    return (*(int *)ud)++ % 2 == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) return 0;
    const hn_content *c = fs_content();
    uint8_t flags = data[0];
    size_t tail = data[2];
    if (tail > size - 3) tail = size - 3;
    fs_ctx x = {.http = data + size - tail, .http_len = tail};
    const uint8_t *in = data + 3;
    size_t in_len = size - 3 - tail;

    hn_net *n = hn_new(0x5eed + data[1]);
    if (!n) return 0;
    n->log = 0;
    uint64_t rng = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)data[1] << 8 | flags);
    pf_session_settings set;
    pf_session_settings_default(&set);
    set.request_timeout_s = 5;
    set.max_queue_in = 64;
    int verdicts = 0;
    if (flags & 16) {
        set.payload.elide = 1;
        set.payload.verify = (flags & 32) ? fs_verify : NULL;
        set.payload.ud = &verdicts;
    }
    hn_node *nd = hn_add_node(n, &set);
    if (!nd) {
        hn_free(n);
        return 0;
    }
    nd->http = fs_http;
    nd->http_ud = &x;
    hn_tor *t;
    if (flags & 2)
        t = hn_add_magnet(nd, c->info_hash);
    else
        t = hn_add_torrent(nd, c, (flags & 1) ? HN_FULL : HN_EMPTY, NULL);
    if (!t) abort();
    if (flags & 2) pf_torrent_add_tracker(t->t, FS_TRACKER, 0);
    hn_settle(n);

    hn_raw *r = hn_raw_open(nd);
    size_t off = 0;
    while (r && !r->closed && off < in_len) {
        uint64_t v = hn__rand(&rng);
        size_t k = (flags & 4) ? 1 + (size_t)(v % 7) : 1 + (size_t)(v % 1500);
        if ((v >> 32) % 5 == 0) k = 1 + (size_t)((v >> 16) % 70000);
        if (k > in_len - off) k = in_len - off;
        if ((flags & 16) && (v >> 48) % 3 == 0 && r->end.p) { /* a count, not bytes */
            long rc = pf_peer_recv_payload(r->end.p, k, n->now);
            if (rc < 0) {
                r->err = rc;
                hn__raw_close(r);
            } else if ((size_t)rc != k) {
                abort();
            }
        } else {
            hn_raw_send(r, in + off, k);
        }
        off += k;
        hn_settle(n);
        if ((flags & 8) || (v >> 40) % 4 == 0) hn_step(n);
        /* The engine's output for the peer is not read back. */
        pf_buf_reset(&r->out);
    }
    /* Let timers fire: keepalives, request timeouts, inactivity, the
     * choker and re-announces. */
    n->step_ns = 7 * PF_NS_PER_SEC;
    for (int i = 0; i < 40; i++) hn_step(n);
    if (n->anomalies) abort();
#ifdef FUZZ_SESSION_DEBUG
    {
        pf_torrent_stats st;
        pf_torrent_get_stats(t->t, &st);
        fprintf(stderr, "flags %x: raw err %ld closed %d meta %d complete %d have %u down %llu up %llu hashfail %u http %u\n",
                flags, r ? r->err : 0, r ? r->closed : -1, t->got_metadata, t->complete, st.have,
                (unsigned long long)st.downloaded, (unsigned long long)st.uploaded, st.hash_failures,
                nd->http_jobs);
    }
#endif
    /* Storage must only ever hold verified data. */
    if (t->data && t->size == c->size) {
        const pf_metainfo *mi = pf_torrent_metainfo(t->t);
        if (mi) {
            pf_torrent_stats st;
            pf_torrent_get_stats(t->t, &st);
            for (uint32_t i = 0; i < mi->num_pieces; i++) {
                uint64_t o = (uint64_t)i * FS_PIECE;
                uint64_t l = c->size - o < FS_PIECE ? c->size - o : FS_PIECE;
                int same = memcmp(t->data + o, c->data + o, (size_t)l) == 0;
                int zero = 1;
                for (uint64_t b = 0; b < l && zero; b++) zero = t->data[o + b] == 0;
                if (!same && !zero) abort();
            }
            if (st.have > mi->num_pieces) abort();
        }
    }
    hn_free(n);
    return 0;
}

#ifdef FUZZ_SESSION_MKCORPUS
#include <stdio.h>

static void put_file(const char *dir, const char *name, uint8_t flags, uint8_t seed,
                     const pf_buf *stream, const uint8_t *http, size_t http_len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    uint8_t h[3] = {flags, seed, (uint8_t)http_len};
    fwrite(h, 1, 3, f);
    fwrite(stream->data, 1, stream->len, f);
    if (http_len) fwrite(http, 1, http_len, f);
    fclose(f);
}

static void hs(pf_buf *b, int fast_ext)
{
    uint8_t raw[PF_HANDSHAKE_LEN];
    hn_raw_handshake(raw, fs_content()->info_hash, "-FZ0001-fuzzfuzzfuzz", fast_ext);
    pf_buf_append(b, raw, sizeof raw);
}

static void ext_hs(pf_buf *b, int64_t meta_size)
{
    pf_ext_handshake e;
    memset(&e, 0, sizeof e);
    e.ut_metadata = 3;
    e.ut_pex = 4;
    e.metadata_size = meta_size;
    e.listen_port = 6881;
    e.reqq = 250;
    strcpy(e.client, "fuzz");
    pf_buf body;
    pf_buf_init(&body);
    pf_ext_handshake_write(&body, &e);
    pf_msg_write_extended(b, 0, body.data, body.len);
    pf_buf_free(&body);
}

static void pieces(pf_buf *b, const hn_content *c)
{
    for (uint32_t i = 0; i < c->num_pieces; i++) {
        uint64_t o = (uint64_t)i * c->piece_len;
        uint32_t l = (uint32_t)hn_content_piece_size(c, i);
        for (uint32_t k = 0; k < l; k += PF_BLOCK_SIZE) {
            uint32_t bl = l - k < PF_BLOCK_SIZE ? l - k : PF_BLOCK_SIZE;
            pf_msg_write_piece_header(b, i, k, bl);
            pf_buf_append(b, c->data + o + k, bl);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) return 2;
    const char *dir = argv[1];
    const hn_content *c = fs_content();
    if (argc >= 3) {
        char path[4096];
        snprintf(path, sizeof path, "%s/content.torrent", argv[2]);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(c->torrent.data, 1, c->torrent.len, f) != c->torrent.len) return 1;
        fclose(f);
        snprintf(path, sizeof path, "%s/content.bin", argv[2]);
        f = fopen(path, "wb");
        if (!f || fwrite(c->data, 1, c->size, f) != c->size) return 1;
        fclose(f);
    }
    pf_metainfo *mi = NULL;
    if (pf_metainfo_parse(c->torrent.data, c->torrent.len, NULL, &mi) != 0) return 1;
    pf_buf b;

    /* 1. We seed; the peer is a leecher asking for everything, plus the
     * info dict, then changes its mind. */
    pf_buf_init(&b);
    hs(&b, 1);
    ext_hs(&b, -1);
    pf_msg_write_simple(&b, PF_MSG_HAVE_NONE);
    pf_msg_write_simple(&b, PF_MSG_INTERESTED);
    for (uint32_t i = 0; i < c->num_pieces; i++)
        for (uint32_t k = 0; k < hn_content_piece_size(c, i); k += PF_BLOCK_SIZE) {
            uint32_t l = (uint32_t)hn_content_piece_size(c, i) - k;
            pf_msg_write_req(&b, PF_MSG_REQUEST, i, k, l < PF_BLOCK_SIZE ? l : PF_BLOCK_SIZE);
        }
    pf_buf u;
    pf_buf_init(&u);
    pf_utm_write(&u, PF_UTM_REQUEST, 0, -1, NULL, 0);
    pf_msg_write_extended(&b, 1, u.data, u.len);
    pf_msg_write_req(&b, PF_MSG_CANCEL, 2, 0, 5000);
    pf_msg_write_have(&b, 1);
    pf_msg_write_simple(&b, PF_MSG_KEEPALIVE);
    pf_msg_write_simple(&b, PF_MSG_NOT_INTERESTED);
    put_file(dir, "seed_serves_leecher", 1, 1, &b, NULL, 0);
    put_file(dir, "seed_serves_leecher_tiny", 1 | 4 | 8, 2, &b, NULL, 0);
    pf_buf_free(&b);

    /* 2. We leech; the peer seeds and sends every block. */
    pf_buf_init(&b);
    hs(&b, 1);
    ext_hs(&b, (int64_t)mi->info_len);
    pf_msg_write_simple(&b, PF_MSG_HAVE_ALL);
    pf_msg_write_simple(&b, PF_MSG_UNCHOKE);
    pieces(&b, c);
    put_file(dir, "leech_from_seed", 0, 3, &b, NULL, 0);
    pf_buf_free(&b);

    /* 3. Magnet: metadata over ut_metadata (our id 1), then the data. */
    pf_buf_init(&b);
    hs(&b, 1);
    ext_hs(&b, (int64_t)mi->info_len);
    pf_buf_reset(&u);
    pf_utm_write(&u, PF_UTM_DATA, 0, (int64_t)mi->info_len, mi->info_raw, mi->info_len);
    pf_msg_write_extended(&b, 1, u.data, u.len);
    pf_msg_write_simple(&b, PF_MSG_HAVE_ALL);
    pf_msg_write_simple(&b, PF_MSG_UNCHOKE);
    pieces(&b, c);
    put_file(dir, "magnet_metadata_then_data", 2, 4, &b, NULL, 0);
    pf_buf_free(&b);

    /* 4. No fast extension: a plain bitfield, haves, a reject that is a
     * protocol error without BEP 6. */
    pf_buf_init(&b);
    hs(&b, 0);
    uint8_t bf = 0xa0; /* pieces 0 and 2 */
    pf_msg_write_bitfield(&b, &bf, 1);
    pf_msg_write_have(&b, 1);
    pf_msg_write_simple(&b, PF_MSG_UNCHOKE);
    pf_msg_write_simple(&b, PF_MSG_CHOKE);
    pf_msg_write_req(&b, PF_MSG_REJECT, 0, 0, PF_BLOCK_SIZE);
    put_file(dir, "plain_bitfield", 0, 5, &b, NULL, 0);
    pf_buf_free(&b);

    /* 5. A tracker reply with peers (dials get refused) and a PEX message. */
    pf_buf_init(&b);
    hs(&b, 1);
    ext_hs(&b, (int64_t)mi->info_len);
    pf_addr pa[2];
    memset(pa, 0, sizeof pa);
    pa[0].family = 4;
    pa[0].ip[0] = 1;
    pa[0].ip[3] = 2;
    pa[0].port = 6881;
    pa[1] = pa[0];
    pa[1].port = 6882;
    pf_buf_reset(&u);
    pf_pex_write(&u, pa, 2, NULL, 0);
    pf_msg_write_extended(&b, 2, u.data, u.len);
    const char trk[] = "d8:intervali30e5:peers12:\x01\x02\x03\x04\x1a\xe1\x05\x06\x07\x08\x1a\xe2" "e";
    put_file(dir, "tracker_and_pex", 1 | 8, 6, &b, (const uint8_t *)trk, sizeof trk - 1);
    pf_buf_free(&b);

    /* 6. Abuse: an oversized length prefix after a good handshake. */
    pf_buf_init(&b);
    hs(&b, 1);
    const uint8_t huge[] = {0xff, 0xff, 0xff, 0xf0, 7, 0, 0, 0};
    pf_buf_append(&b, huge, sizeof huge);
    put_file(dir, "oversized_prefix", 1, 7, &b, NULL, 0);
    pf_buf_free(&b);

    /* 7. Wrong data for piece 0: a hash failure. */
    pf_buf_init(&b);
    hs(&b, 1);
    pf_msg_write_simple(&b, PF_MSG_HAVE_ALL);
    pf_msg_write_simple(&b, PF_MSG_UNCHOKE);
    uint8_t junk[PF_BLOCK_SIZE];
    memset(junk, 0x42, sizeof junk);
    pf_msg_write_piece_header(&b, 0, 0, PF_BLOCK_SIZE);
    pf_buf_append(&b, junk, sizeof junk);
    put_file(dir, "bad_piece", 0, 8, &b, NULL, 0);
    pf_buf_free(&b);

    pf_buf_free(&u);
    pf_metainfo_free(mi);
    return 0;
}
#endif
