/* Fuzz target for src/core/wire.c: the input is a peer's byte stream
 * (optionally starting with a handshake), parsed message by message (and
 * each PIECE's header alone, as payload elision parses it); every
 * extended payload also goes through the BEP 10/9/11 parsers.  Checks that
 * consumed lengths and payload pointers stay inside the input and that
 * re-encoding a parsed message reproduces its bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec/wire.h"
#include "peerflow/peerflow.h"

#define FUZZ_ASSERT(c)       \
    do {                     \
        if (!(c)) abort();   \
    } while (0)

static int in_range(const uint8_t *p, size_t n, const uint8_t *lo, size_t len)
{
    if (n == 0) return 1;
    return p >= lo && p <= lo + len && n <= (size_t)(lo + len - p);
}

static void check_ext(const uint8_t *body, size_t len)
{
    pf_ext_handshake h;
    if (pf_ext_handshake_parse(body, len, &h) == 0) {
        FUZZ_ASSERT(memchr(h.client, 0, sizeof h.client) != NULL);
        pf_buf b;
        pf_buf_init(&b);
        pf_ext_handshake h2;
        FUZZ_ASSERT(pf_ext_handshake_write(&b, &h) == 0);
        FUZZ_ASSERT(pf_ext_handshake_parse(b.data, b.len, &h2) == 0);
        FUZZ_ASSERT(h2.pf_cdn == h.pf_cdn && h2.ut_metadata == h.ut_metadata && h2.ut_pex == h.ut_pex &&
                    h2.metadata_size == h.metadata_size &&
                    h2.listen_port == h.listen_port && h2.reqq == h.reqq &&
                    h2.upload_only == h.upload_only &&
                    strcmp(h2.client, h.client) == 0);
        pf_buf_free(&b);
    }

    pf_cdn_notice cn;
    if (pf_cdn_notice_parse(body, len, &cn) == 0) {
        FUZZ_ASSERT(len == 8 && cn.count >= 1 && cn.count <= 65536 && cn.first <= UINT32_MAX - cn.count);
        uint8_t enc[8];
        FUZZ_ASSERT(pf_cdn_notice_encode(enc, cn.first, cn.count) == 0);
        FUZZ_ASSERT(memcmp(enc, body, 8) == 0);
    }

    pf_utm_msg u;
    if (pf_utm_parse(body, len, &u) == 0) {
        FUZZ_ASSERT(in_range(u.data, u.data_len, body, len));
        FUZZ_ASSERT(u.data_len <= PF_UTM_PIECE);
        if (u.msg_type == PF_UTM_DATA) FUZZ_ASSERT(u.total_size >= 0);
    }

    pf_addr added[64], dropped[64];
    uint8_t flags[64];
    size_t na = 0, nd = 0;
    if (pf_pex_parse_full(body, len, added, flags, 64, &na, dropped, 64, &nd) == 0) {
        FUZZ_ASSERT(na <= 64 && nd <= 64);
        pf_buf b;
        pf_buf_init(&b);
        FUZZ_ASSERT(pf_pex_write_flags(&b, added, flags, na, dropped, nd) == 0);
        pf_addr a2[64], d2[64];
        uint8_t f2[64];
        size_t na2 = 0, nd2 = 0;
        FUZZ_ASSERT(pf_pex_parse_full(b.data, b.len, a2, f2, 64, &na2, d2, 64, &nd2) == 0);
        FUZZ_ASSERT(na2 == na && nd2 == nd);
        pf_buf_free(&b);
    }
    int n = pf_pex_parse(body, len, added, 8);
    FUZZ_ASSERT(n == PF_ERR_PARSE || n == PF_ERR_NOMEM || (n >= 0 && n <= 8));
}

/* Re-encodes a parsed message and compares with the wire bytes. */
static void check_reencode(const pf_msg *m, const uint8_t *raw, size_t rlen)
{
    pf_buf b;
    pf_buf_init(&b);
    int rc = 1;
    switch (m->type) {
    case PF_MSG_KEEPALIVE:
    case PF_MSG_CHOKE:
    case PF_MSG_UNCHOKE:
    case PF_MSG_INTERESTED:
    case PF_MSG_NOT_INTERESTED:
    case PF_MSG_HAVE_ALL:
    case PF_MSG_HAVE_NONE:
        rc = pf_msg_write_simple(&b, (pf_msg_type)m->type);
        break;
    case PF_MSG_HAVE: rc = pf_msg_write_have(&b, m->index); break;
    case PF_MSG_ALLOWED_FAST: rc = pf_msg_write_allowed_fast(&b, m->index); break;
    case PF_MSG_BITFIELD: rc = pf_msg_write_bitfield(&b, m->payload, m->payload_len); break;
    case PF_MSG_REQUEST:
    case PF_MSG_CANCEL:
    case PF_MSG_REJECT:
        rc = pf_msg_write_req(&b, (pf_msg_type)m->type, m->index, m->begin, m->length);
        break;
    case PF_MSG_PIECE:
        rc = pf_msg_write_piece_header(&b, m->index, m->begin, m->length);
        if (rc == 0) rc = pf_buf_append(&b, m->payload, m->payload_len);
        break;
    case PF_MSG_EXTENDED:
        rc = pf_msg_write_extended(&b, m->ext_id, m->payload, m->payload_len);
        break;
    default: break;
    }
    if (rc == 0) FUZZ_ASSERT(b.len == rlen && memcmp(b.data, raw, rlen) == 0);
    pf_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    pf_handshake hs;
    int r = pf_handshake_parse(data, size, &hs);
    FUZZ_ASSERT(r == 0 || r == PF_HANDSHAKE_LEN || r == PF_ERR_PROTO);
    if (r == PF_HANDSHAKE_LEN) {
        uint8_t out[PF_HANDSHAKE_LEN];
        pf_handshake_write(out, &hs);
        FUZZ_ASSERT(memcmp(out, data, PF_HANDSHAKE_LEN) == 0);
        off = PF_HANDSHAKE_LEN;
    }
    /* The early 48-byte parse (incoming connections) agrees with it. */
    pf_handshake hp;
    memset(&hp, 0, sizeof hp);
    int rp = pf_handshake_parse_prefix(data, size, &hp);
    FUZZ_ASSERT(rp == 0 || rp == 48 || rp == PF_ERR_PROTO);
    if (r == PF_HANDSHAKE_LEN)
        FUZZ_ASSERT(rp == 48 && memcmp(hp.reserved, hs.reserved, 8) == 0 &&
                    memcmp(hp.info_hash, hs.info_hash, 20) == 0);

    /* The first byte picks a small or the default message limit so both
     * the LIMIT path and large messages are reachable. */
    size_t max_len = (size > 0 && (data[0] & 1)) ? 64 : PF_MAX_MSG_LEN;
    for (;;) {
        pf_msg m;
        const uint8_t *p = data + off;
        size_t left = size - off;
        /* Payload elision's header parser agrees with the whole-message
         * one on every PIECE message, and takes nothing else. */
        pf_msg h;
        long hn = pf_msg_parse_piece_header(p, left, max_len, &h);
        FUZZ_ASSERT(hn == 0 || hn == PF_PIECE_HDR_LEN || hn == PF_ERR_NOTFOUND || hn == PF_ERR_LIMIT ||
                    hn == PF_ERR_PROTO);
        if (hn == PF_PIECE_HDR_LEN) FUZZ_ASSERT(left >= PF_PIECE_HDR_LEN && h.type == PF_MSG_PIECE && !h.payload);
        long n = pf_msg_parse(p, left, max_len, &m);
        if (n > 0 && m.type == PF_MSG_PIECE)
            FUZZ_ASSERT(hn == PF_PIECE_HDR_LEN && h.index == m.index && h.begin == m.begin &&
                        h.payload_len == m.payload_len);
        if (n > 0 && m.type != PF_MSG_PIECE) FUZZ_ASSERT(hn == PF_ERR_NOTFOUND);
        if (n == 0 || n == PF_ERR_LIMIT || n == PF_ERR_PROTO) break;
        FUZZ_ASSERT(n >= 4 && (size_t)n <= left && (size_t)n - 4 <= max_len);
        FUZZ_ASSERT(in_range(m.payload, m.payload_len, p, (size_t)n));
        check_reencode(&m, p, (size_t)n);
        if (m.type == PF_MSG_EXTENDED) check_ext(m.payload, m.payload_len);
        off += (size_t)n;
    }

    /* The raw tail as an extension body as well. */
    check_ext(data + off, size - off);

    if (size >= 24) {
        pf_addr a;
        memset(&a, 0, sizeof a);
        a.family = 4;
        memcpy(a.ip, data + 20, 4);
        uint32_t np = ((uint32_t)data[0] << 8 | data[1]) + 1, out[10];
        size_t k = pf_allowed_fast_set(data, &a, np, 10, out);
        FUZZ_ASSERT(k == (np < 10 ? np : 10));
        for (size_t i = 0; i < k; i++) FUZZ_ASSERT(out[i] < np);
    }
    return 0;
}
