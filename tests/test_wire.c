/* Tests for src/core/wire.c. */
#include "core/codec/wire.h"

#include "core/codec/bencode.h"
#include "peerflow/peerflow.h"
#include "test.h"

static pf_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
    pf_addr x;
    memset(&x, 0, sizeof x);
    x.family = 4;
    x.ip[0] = a;
    x.ip[1] = b;
    x.ip[2] = c;
    x.ip[3] = d;
    x.port = port;
    return x;
}

static pf_addr v6(uint8_t last, uint16_t port)
{
    pf_addr x;
    memset(&x, 0, sizeof x);
    x.family = 6;
    x.ip[0] = 0x20;
    x.ip[1] = 0x01;
    x.ip[15] = last;
    x.port = port;
    return x;
}

TEST(test_handshake)
{
    pf_handshake hs, got;
    memset(&hs, 0, sizeof hs);
    hs.reserved[5] = 0x10;
    hs.reserved[7] = 0x04;
    memset(hs.info_hash, 0xab, 20);
    memcpy(hs.peer_id, "-PF0001-abcdefghijkl", 20);
    uint8_t raw[PF_HANDSHAKE_LEN];
    pf_handshake_write(raw, &hs);
    CHECK_EQ(raw[0], 19);
    CHECK_MEM(raw + 1, "BitTorrent protocol", 19);
    CHECK(PF_RESERVED_EXTENSION(raw + 20));
    CHECK(PF_RESERVED_FAST(raw + 20));

    memset(&got, 0, sizeof got);
    CHECK_EQ(pf_handshake_parse(raw, 67, &got), 0);
    CHECK_EQ(pf_handshake_parse(raw, 0, &got), 0);
    CHECK_EQ(pf_handshake_parse(raw, 68, &got), 68);
    CHECK_MEM(&got, &hs, sizeof hs);

    pf_handshake pre;
    memset(&pre, 0x55, sizeof pre);
    CHECK_EQ(pf_handshake_parse_prefix(raw, 47, &pre), 0);
    CHECK_EQ(pf_handshake_parse_prefix(raw, 48, &pre), 48);
    CHECK_MEM(pre.info_hash, hs.info_hash, 20);
    CHECK_MEM(pre.reserved, hs.reserved, 8);
    CHECK_EQ(pre.peer_id[0], 0x55); /* untouched */

    raw[3] = 'X';
    CHECK_EQ(pf_handshake_parse(raw, 68, &got), PF_ERR_PROTO);
    CHECK_EQ(pf_handshake_parse(raw, 5, &got), PF_ERR_PROTO); /* early */
    CHECK_EQ(pf_handshake_parse_prefix(raw, 48, &got), PF_ERR_PROTO);
    raw[3] = 't';
    raw[0] = 18;
    CHECK_EQ(pf_handshake_parse(raw, 1, &got), PF_ERR_PROTO);
}

TEST(test_msg_roundtrip)
{
    pf_buf b;
    pf_buf_init(&b);
    static const uint8_t bits[3] = {0xff, 0x0f, 0x80};
    static const uint8_t ext[5] = {'d', 'e', 'x', 'y', 'z'};
    CHECK_EQ(pf_msg_write_simple(&b, PF_MSG_KEEPALIVE), 0);
    CHECK_EQ(pf_msg_write_simple(&b, PF_MSG_CHOKE), 0);
    CHECK_EQ(pf_msg_write_simple(&b, PF_MSG_UNCHOKE), 0);
    CHECK_EQ(pf_msg_write_simple(&b, PF_MSG_INTERESTED), 0);
    CHECK_EQ(pf_msg_write_simple(&b, PF_MSG_NOT_INTERESTED), 0);
    CHECK_EQ(pf_msg_write_simple(&b, PF_MSG_HAVE_ALL), 0);
    CHECK_EQ(pf_msg_write_simple(&b, PF_MSG_HAVE_NONE), 0);
    CHECK_EQ(pf_msg_write_simple(&b, PF_MSG_HAVE), PF_ERR_INVAL);
    CHECK_EQ(pf_msg_write_have(&b, 0x01020304), 0);
    CHECK_EQ(pf_msg_write_bitfield(&b, bits, 3), 0);
    CHECK_EQ(pf_msg_write_req(&b, PF_MSG_REQUEST, 7, 16384, 16384), 0);
    CHECK_EQ(pf_msg_write_req(&b, PF_MSG_CANCEL, 8, 0, 100), 0);
    CHECK_EQ(pf_msg_write_req(&b, PF_MSG_REJECT, 9, 32768, 5), 0);
    CHECK_EQ(pf_msg_write_req(&b, PF_MSG_HAVE, 9, 32768, 5), PF_ERR_INVAL);
    CHECK_EQ(pf_msg_write_piece_header(&b, 3, 16384, 4), 0);
    CHECK_EQ(pf_buf_append(&b, "ABCD", 4), 0);
    CHECK_EQ(pf_msg_write_allowed_fast(&b, 42), 0);
    CHECK_EQ(pf_msg_write_extended(&b, 3, ext, sizeof ext), 0);
    CHECK_EQ(pf_msg_write_extended(&b, 0, NULL, 0), 0);
    /* PORT and SUGGEST have no encoder; add them by hand. */
    static const uint8_t port[7] = {0, 0, 0, 3, 9, 0x1a, 0xe1};
    static const uint8_t sug[9] = {0, 0, 0, 5, 13, 0, 0, 0, 77};
    static const uint8_t unk[7] = {0, 0, 0, 3, 99, 'h', 'i'};
    CHECK_EQ(pf_buf_append(&b, port, sizeof port), 0);
    CHECK_EQ(pf_buf_append(&b, sug, sizeof sug), 0);
    CHECK_EQ(pf_buf_append(&b, unk, sizeof unk), 0);

    static const int want[] = {
        PF_MSG_KEEPALIVE, PF_MSG_CHOKE, PF_MSG_UNCHOKE, PF_MSG_INTERESTED,
        PF_MSG_NOT_INTERESTED, PF_MSG_HAVE_ALL, PF_MSG_HAVE_NONE, PF_MSG_HAVE,
        PF_MSG_BITFIELD, PF_MSG_REQUEST, PF_MSG_CANCEL, PF_MSG_REJECT,
        PF_MSG_PIECE, PF_MSG_ALLOWED_FAST, PF_MSG_EXTENDED, PF_MSG_EXTENDED,
        PF_MSG_PORT, PF_MSG_SUGGEST, 99};
    size_t off = 0, i = 0;
    pf_msg m;
    while (off < b.len) {
        /* Every strict prefix is reported incomplete. */
        long r = pf_msg_parse(b.data + off, b.len - off, PF_MAX_MSG_LEN, &m);
        CHECK(r > 0);
        for (long cut = 0; cut < r; cut++) {
            pf_msg tmp;
            CHECK_EQ(pf_msg_parse(b.data + off, (size_t)cut, PF_MAX_MSG_LEN, &tmp), 0);
        }
        CHECK(i < sizeof want / sizeof want[0]);
        CHECK_EQ(m.type, want[i]);
        switch (i) {
        case 7: CHECK_EQ(m.index, 0x01020304); break;
        case 8:
            CHECK_EQ(m.payload_len, 3);
            CHECK_MEM(m.payload, bits, 3);
            break;
        case 9:
            CHECK_EQ(m.index, 7);
            CHECK_EQ(m.begin, 16384);
            CHECK_EQ(m.length, 16384);
            break;
        case 11:
            CHECK_EQ(m.index, 9);
            CHECK_EQ(m.begin, 32768);
            CHECK_EQ(m.length, 5);
            break;
        case 12:
            CHECK_EQ(m.index, 3);
            CHECK_EQ(m.begin, 16384);
            CHECK_EQ(m.length, 4);
            CHECK_EQ(m.payload_len, 4);
            CHECK_MEM(m.payload, "ABCD", 4);
            break;
        case 13: CHECK_EQ(m.index, 42); break;
        case 14:
            CHECK_EQ(m.ext_id, 3);
            CHECK_EQ(m.payload_len, 5);
            CHECK_MEM(m.payload, ext, 5);
            break;
        case 15:
            CHECK_EQ(m.ext_id, 0);
            CHECK_EQ(m.payload_len, 0);
            break;
        case 16: CHECK_EQ(m.port, 6881); break;
        case 17: CHECK_EQ(m.index, 77); break;
        case 18:
            CHECK_EQ(m.payload_len, 2);
            CHECK_MEM(m.payload, "hi", 2);
            break;
        default: break;
        }
        off += (size_t)r;
        i++;
    }
    CHECK_EQ(i, sizeof want / sizeof want[0]);
    pf_buf_free(&b);
}

TEST(test_msg_errors)
{
    pf_msg m;
    /* Length over the limit is rejected before the body arrives. */
    static const uint8_t big[4] = {0, 0x20, 0, 0};
    CHECK_EQ(pf_msg_parse(big, 4, PF_MAX_MSG_LEN, &m), PF_ERR_LIMIT);
    static const uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
    CHECK_EQ(pf_msg_parse(huge, 4, (size_t)-1, &m), 0); /* incomplete */
    CHECK_EQ(pf_msg_parse(huge, 4, PF_MAX_MSG_LEN, &m), PF_ERR_LIMIT);
    /* Wrong fixed sizes. */
    static const uint8_t choke2[6] = {0, 0, 0, 2, 0, 0};
    CHECK_EQ(pf_msg_parse(choke2, 6, PF_MAX_MSG_LEN, &m), PF_ERR_PROTO);
    static const uint8_t have3[8] = {0, 0, 0, 4, 4, 0, 0, 0};
    CHECK_EQ(pf_msg_parse(have3, 8, PF_MAX_MSG_LEN, &m), PF_ERR_PROTO);
    static const uint8_t req[13] = {0, 0, 0, 9, 6, 0, 0, 0, 0, 0, 0, 0, 0};
    CHECK_EQ(pf_msg_parse(req, 13, PF_MAX_MSG_LEN, &m), PF_ERR_PROTO);
    static const uint8_t piece[12] = {0, 0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0};
    CHECK_EQ(pf_msg_parse(piece, 12, PF_MAX_MSG_LEN, &m), PF_ERR_PROTO);
    static const uint8_t piece0[13] = {0, 0, 0, 9, 7, 0, 0, 0, 1, 0, 0, 0, 2};
    CHECK_EQ(pf_msg_parse(piece0, 13, PF_MAX_MSG_LEN, &m), 13);
    CHECK_EQ(m.payload_len, 0);
    static const uint8_t port[6] = {0, 0, 0, 2, 9, 1};
    CHECK_EQ(pf_msg_parse(port, 6, PF_MAX_MSG_LEN, &m), PF_ERR_PROTO);
    static const uint8_t ext[5] = {0, 0, 0, 1, 20};
    CHECK_EQ(pf_msg_parse(ext, 5, PF_MAX_MSG_LEN, &m), PF_ERR_PROTO);
    static const uint8_t af[9] = {0, 0, 0, 5, 17, 0, 0, 0, 1};
    CHECK_EQ(pf_msg_parse(af, 9, 4, &m), PF_ERR_LIMIT);
    CHECK_EQ(pf_msg_parse(af, 9, 5, &m), 9);
}

TEST(test_allowed_fast_vector)
{
    uint8_t ih[20];
    memset(ih, 0xaa, sizeof ih);
    pf_addr a = v4(80, 4, 4, 200, 6881);
    uint32_t out[16];
    static const uint32_t want[9] = {1059, 431, 808, 1217, 287, 376, 1188, 353, 508};
    CHECK_EQ(pf_allowed_fast_set(ih, &a, 1313, 7, out), 7);
    CHECK_MEM(out, want, 7 * sizeof(uint32_t));
    CHECK_EQ(pf_allowed_fast_set(ih, &a, 1313, 9, out), 9);
    CHECK_MEM(out, want, 9 * sizeof(uint32_t));
    /* Only the /24 matters. */
    a.ip[3] = 1;
    CHECK_EQ(pf_allowed_fast_set(ih, &a, 1313, 9, out), 9);
    CHECK_MEM(out, want, 9 * sizeof(uint32_t));
    /* k is capped by num_pieces, all distinct. */
    CHECK_EQ(pf_allowed_fast_set(ih, &a, 5, 10, out), 5);
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++) CHECK(out[i] != out[j]);
    CHECK_EQ(pf_allowed_fast_set(ih, &a, 0, 10, out), 0);
    pf_addr b6 = v6(1, 1);
    CHECK_EQ(pf_allowed_fast_set(ih, &b6, 1313, 7, out), 0);
}

TEST(test_ext_handshake)
{
    pf_ext_handshake h, g;
    memset(&h, 0, sizeof h);
    h.pf_cdn = 3;
    h.ut_metadata = 1;
    h.ut_pex = 2;
    h.metadata_size = 1234;
    h.listen_port = 6881;
    h.reqq = 250;
    h.upload_only = 1;
    snprintf(h.client, sizeof h.client, "peerflow/0.1");
    pf_buf b;
    pf_buf_init(&b);
    CHECK_EQ(pf_ext_handshake_write(&b, &h), 0);
    static const char want[] =
        "d1:md6:pf_cdni3e11:ut_metadatai1e6:ut_pexi2ee13:metadata_sizei1234e1:pi6881e"
        "4:reqqi250e11:upload_onlyi1e1:v12:peerflow/0.1e";
    CHECK_EQ(b.len, sizeof want - 1);
    CHECK_MEM(b.data, want, b.len);
    CHECK_EQ(pf_ext_handshake_parse(b.data, b.len, &g), 0);
    CHECK_EQ(g.pf_cdn, 3);
    CHECK_EQ(g.ut_metadata, 1);
    CHECK_EQ(g.ut_pex, 2);
    CHECK_EQ(g.metadata_size, 1234);
    CHECK_EQ(g.listen_port, 6881);
    CHECK_EQ(g.reqq, 250);
    CHECK_EQ(g.upload_only, 1);
    CHECK_STR(g.client, "peerflow/0.1");

    /* Minimal: empty m, absent fields. */
    memset(&h, 0, sizeof h);
    h.metadata_size = -1;
    pf_buf_reset(&b);
    CHECK_EQ(pf_ext_handshake_write(&b, &h), 0);
    CHECK_EQ(b.len, 7);
    CHECK_MEM(b.data, "d1:mdee", 7);
    CHECK_EQ(pf_ext_handshake_parse(b.data, b.len, &g), 0);
    CHECK_EQ(g.metadata_size, -1);
    CHECK_EQ(g.ut_metadata, 0);
    CHECK_EQ(g.client[0], 0);

    /* Out-of-range values are ignored, unknown keys skipped, long client
     * names truncated and control bytes masked. */
    static const char odd[] =
        "d1:ei0e1:md11:lt_donthavei7e11:ut_metadatai300e6:ut_pexi-1ee"
        "13:metadata_sizei-5e1:pi70000e4:reqqi99999999999e"
        "1:v80:\x01xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxe";
    CHECK_EQ(pf_ext_handshake_parse((const uint8_t *)odd, sizeof odd - 1, &g), 0);
    CHECK_EQ(g.ut_metadata, 0);
    CHECK_EQ(g.ut_pex, 0);
    CHECK_EQ(g.metadata_size, -1);
    CHECK_EQ(g.listen_port, 0);
    CHECK_EQ(g.reqq, 99999999999LL > UINT32_MAX ? UINT32_MAX : 0);
    CHECK_EQ(strlen(g.client), sizeof g.client - 1);
    CHECK_EQ(g.client[0], '?');

    CHECK_EQ(pf_ext_handshake_parse((const uint8_t *)"le", 2, &g), PF_ERR_PARSE);
    CHECK_EQ(pf_ext_handshake_parse((const uint8_t *)"d1:m", 4, &g), PF_ERR_PARSE);
    CHECK_EQ(pf_ext_handshake_parse((const uint8_t *)"", 0, &g), PF_ERR_PARSE);
    pf_buf_free(&b);
}

/* peerflow's pf_cdn notice: 8 bytes, first and count, count 1..65536. */
TEST(test_cdn_notice)
{
    uint8_t b[8];
    pf_cdn_notice c;
    CHECK_EQ(pf_cdn_notice_encode(b, 0x01020304u, 5), 0);
    CHECK_MEM(b, "\x01\x02\x03\x04\x00\x00\x00\x05", 8);
    CHECK_EQ(pf_cdn_notice_parse(b, 8, &c), 0);
    CHECK_EQ(c.first, 0x01020304u);
    CHECK_EQ(c.count, 5);
    CHECK_EQ(pf_cdn_notice_parse(b, 7, &c), PF_ERR_PARSE);
    CHECK_EQ(pf_cdn_notice_parse(NULL, 0, &c), PF_ERR_PARSE);
    static const uint8_t zero[8] = {0, 0, 0, 7, 0, 0, 0, 0};
    CHECK_EQ(pf_cdn_notice_parse(zero, 8, &c), PF_ERR_PARSE); /* no pieces */
    static const uint8_t big[8] = {0, 0, 0, 0, 0, 1, 0, 1};
    CHECK_EQ(pf_cdn_notice_parse(big, 8, &c), PF_ERR_PARSE); /* 65537 */
    static const uint8_t wrap[8] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1};
    CHECK_EQ(pf_cdn_notice_parse(wrap, 8, &c), PF_ERR_PARSE);
    CHECK_EQ(pf_cdn_notice_encode(b, 0, 0), PF_ERR_INVAL);
    CHECK_EQ(pf_cdn_notice_encode(b, UINT32_MAX, 1), PF_ERR_INVAL);
}

TEST(test_utm)
{
    pf_buf b;
    pf_buf_init(&b);
    pf_utm_msg u;
    CHECK_EQ(pf_utm_write(&b, PF_UTM_REQUEST, 3, -1, NULL, 0), 0);
    CHECK_EQ(b.len, strlen("d8:msg_typei0e5:piecei3ee"));
    CHECK_MEM(b.data, "d8:msg_typei0e5:piecei3ee", b.len);
    CHECK_EQ(pf_utm_parse(b.data, b.len, &u), 0);
    CHECK_EQ(u.msg_type, PF_UTM_REQUEST);
    CHECK_EQ(u.piece, 3);
    CHECK_EQ(u.total_size, -1);
    CHECK_EQ(u.data_len, 0);

    uint8_t data[PF_UTM_PIECE + 1];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 7);
    pf_buf_reset(&b);
    CHECK_EQ(pf_utm_write(&b, PF_UTM_DATA, 1, 31235, data, 100), 0);
    static const char hdr[] = "d8:msg_typei1e5:piecei1e10:total_sizei31235ee";
    CHECK_MEM(b.data, hdr, sizeof hdr - 1);
    CHECK_EQ(b.len, sizeof hdr - 1 + 100);
    CHECK_EQ(pf_utm_parse(b.data, b.len, &u), 0);
    CHECK_EQ(u.msg_type, PF_UTM_DATA);
    CHECK_EQ(u.piece, 1);
    CHECK_EQ(u.total_size, 31235);
    CHECK_EQ(u.data_len, 100);
    CHECK(u.data == b.data + sizeof hdr - 1);
    CHECK_MEM(u.data, data, 100);

    /* Data over one metadata piece is rejected. */
    pf_buf_reset(&b);
    CHECK_EQ(pf_utm_write(&b, PF_UTM_DATA, 0, 99999, data, sizeof data), 0);
    CHECK_EQ(pf_utm_parse(b.data, b.len, &u), PF_ERR_PARSE);

    pf_buf_reset(&b);
    CHECK_EQ(pf_utm_write(&b, PF_UTM_REJECT, 9, -1, NULL, 0), 0);
    CHECK_EQ(pf_utm_parse(b.data, b.len, &u), 0);
    CHECK_EQ(u.msg_type, PF_UTM_REJECT);
    CHECK_EQ(u.piece, 9);

    /* DATA without total_size, missing piece, negative piece. */
    static const char *bad[] = {"d8:msg_typei1e5:piecei0ee", "d8:msg_typei0ee",
                                "d8:msg_typei0e5:piecei-1ee", "i1e", "d"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ(pf_utm_parse((const uint8_t *)bad[i], strlen(bad[i]), &u), PF_ERR_PARSE);
    pf_buf_free(&b);
}

TEST(test_pex)
{
    pf_addr added[4] = {v4(1, 2, 3, 4, 6881), v6(9, 51413), v4(10, 0, 0, 1, 1),
                        v4(5, 6, 7, 8, 80)};
    uint8_t flags[4] = {PF_PEX_SEED, PF_PEX_UTP, 0, PF_PEX_CONNECTABLE};
    pf_addr dropped[2] = {v6(2, 2), v4(9, 9, 9, 9, 9)};
    pf_buf b;
    pf_buf_init(&b);
    CHECK_EQ(pf_pex_write_flags(&b, added, flags, 4, dropped, 2), 0);
    /* Canonical: the strict parser accepts it. */
    pf_ben_doc *doc = NULL;
    CHECK_EQ(pf_bencode_parse(b.data, b.len, 0, NULL, &doc, NULL), 0);
    pf_ben_doc_free(doc);

    pf_addr a[8], d[8];
    uint8_t f[8];
    size_t na = 99, nd = 99;
    CHECK_EQ(pf_pex_parse_full(b.data, b.len, a, f, 8, &na, d, 8, &nd), 0);
    CHECK_EQ(na, 4);
    CHECK_EQ(nd, 2);
    CHECK(pf_addr_eq(&a[0], &added[0]));
    CHECK(pf_addr_eq(&a[1], &added[2]));
    CHECK(pf_addr_eq(&a[2], &added[3]));
    CHECK(pf_addr_eq(&a[3], &added[1]));
    CHECK_EQ(f[0], PF_PEX_SEED);
    CHECK_EQ(f[1], 0);
    CHECK_EQ(f[2], PF_PEX_CONNECTABLE);
    CHECK_EQ(f[3], PF_PEX_UTP);
    CHECK(pf_addr_eq(&d[0], &dropped[1]));
    CHECK(pf_addr_eq(&d[1], &dropped[0]));

    CHECK_EQ(pf_pex_parse(b.data, b.len, a, 8), 4);
    CHECK_EQ(pf_pex_parse(b.data, b.len, a, 2), 2);
    CHECK(pf_addr_eq(&a[1], &added[2]));
    CHECK_EQ(pf_pex_parse(b.data, b.len, NULL, 0), 0);

    /* Plain writer: empty and flagless. */
    pf_buf_reset(&b);
    CHECK_EQ(pf_pex_write(&b, NULL, 0, NULL, 0), 0);
    static const char empty[] = "d5:added0:7:added.f0:6:added60:8:added6.f0:"
                                "7:dropped0:8:dropped60:e";
    CHECK_EQ(b.len, sizeof empty - 1);
    CHECK_MEM(b.data, empty, b.len);

    /* Partial trailing entry ignored, port 0 skipped, garbage rejected. */
    static const char odd[] = "d5:added13:\x01\x02\x03\x04\x00\x00"
                              "\x05\x06\x07\x08\x00\x50X" "e";
    CHECK_EQ(pf_pex_parse((const uint8_t *)odd, sizeof odd - 1, a, 8), 1);
    CHECK_EQ(a[0].port, 80);
    CHECK_EQ(a[0].ip[0], 5);
    CHECK_EQ(pf_pex_parse((const uint8_t *)"i5e", 3, a, 8), PF_ERR_PARSE);
    CHECK_EQ(pf_pex_parse((const uint8_t *)"de", 2, a, 8), 0);
    pf_buf_free(&b);
}

/* Rollback after appends must not clobber data queued before them. */
TEST(test_append_keeps_queue)
{
    pf_buf b;
    pf_buf_init(&b);
    CHECK_EQ(pf_msg_write_have(&b, 1), 0);
    pf_buf_consume(&b, 2);
    pf_ext_handshake h;
    memset(&h, 0, sizeof h);
    h.metadata_size = -1;
    CHECK_EQ(pf_ext_handshake_write(&b, &h), 0);
    CHECK_EQ(pf_buf_unread(&b), 7 + 7);
    CHECK_MEM(pf_buf_head(&b) + 7, "d1:mdee", 7);
    pf_buf_free(&b);
}

TEST_MAIN(test_handshake, test_msg_roundtrip, test_msg_errors,
          test_allowed_fast_vector, test_ext_handshake, test_cdn_notice, test_utm, test_pex,
          test_append_keeps_queue)
