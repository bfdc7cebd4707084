/* Payload elision (pf_payload_hooks, docs/SIM.md): sessions that move
 * PIECE payloads, web seed bodies and disk data as counts and take each
 * piece's verdict from a hook.  In-memory sessions under a fake clock
 * (tests/engine_harness.h): the harness moves the engines' flattened
 * output, where an elided payload is zeros (counted, not looked at). */
#include "engine_harness.h"
#include "test.h"

#include "core/codec/wire.h"
#include "core/swarm/swarm.h" /* white-box: partial pieces hold no buffer */

#define SEC PF_NS_PER_SEC
#define TRACKER "http://tracker.test/announce"
#define CDN_URL "http://cdn.test/content.bin"

typedef struct verdicts {
    uint32_t bad_piece;  /* answered 0 the first time it is asked */
    uint32_t calls[64];  /* per piece */
    uint32_t partial_bufs; /* partial pieces seen with a buffer */
    pf_torrent *t;
} verdicts;

static int verify(void *ud, const pf_torrent *t, uint32_t piece)
{
    verdicts *v = ud;
    if (piece < 64) v->calls[piece]++;
    for (uint32_t i = 0; i < t->picker.npartials; i++)
        if (t->picker.partials[i].buf) v->partial_bufs++;
    return !(piece == v->bad_piece && v->calls[piece] == 1);
}

static void elide_settings(pf_session_settings *s, verdicts *v)
{
    pf_session_settings_default(s);
    s->payload.elide = 1;
    s->payload.verify = v ? verify : NULL;
    s->payload.ud = v;
}

/* Elided sessions: the leecher completes from two seeds without a byte
 * of payload; the piece its hook fails once is fetched again and counted
 * as a hash failure, its sender blamed (a sole sender is banned at once,
 * as after a failed SHA-1); the rest verify at the first try. */
TEST(elide_two_sessions_refetch_bad_piece)
{
    hn_content c;
    CHECK_EQ(hn_content_make(&c, 12 * 32768 + 1000, 32768, 1701, TRACKER), 0);
    hn_net *n = hn_new(1701);
    verdicts v = {.bad_piece = 5};
    pf_session_settings ss, ls;
    elide_settings(&ss, NULL);
    elide_settings(&ls, &v);
    hn_node *sn = hn_add_node(n, &ss), *sn2 = hn_add_node(n, &ss), *ln = hn_add_node(n, &ls);
    CHECK(sn && sn2 && ln);
    hn_tor *seed = hn_add_torrent(sn, &c, HN_FULL, NULL);
    hn_tor *seed2 = hn_add_torrent(sn2, &c, HN_FULL, NULL);
    hn_tor *leech = hn_add_torrent(ln, &c, HN_EMPTY, NULL);
    CHECK(seed && seed2 && leech);
    hn_settle(n);
    hn_add_peer(leech, sn);
    hn_add_peer(leech, sn2);
    hn_tor *all[] = {leech, NULL};
    int done = hn_run_until(n, hn_pred_all_complete, all, 120 * SEC);
    pf_torrent_stats st;
    if (!done) {
        pf_torrent_get_stats(leech->t, &st);
        fprintf(stderr, "leech have %u down %llu wasted %llu hf %u; seed state %d reads %u\n", st.have,
                (unsigned long long)st.downloaded, (unsigned long long)st.wasted, st.hash_failures,
                pf_torrent_state(seed->t), seed->reads);
    }
    CHECK(done);
    pf_torrent_get_stats(leech->t, &st);
    CHECK_EQ(st.have, c.num_pieces);
    CHECK_EQ(st.hash_failures, 1);
    CHECK_EQ(v.calls[5], 2);
    for (uint32_t i = 0; i < c.num_pieces; i++)
        if (i != 5) CHECK_EQ(v.calls[i], 1);
    CHECK_EQ(v.partial_bufs, 0);
    CHECK(st.downloaded >= c.size + 32768); /* piece 5 twice */
    /* Nothing was written: the storage holds no byte (WRITE had no buffer). */
    CHECK_EQ(leech->writes, c.num_pieces);
    int zero = 1;
    for (uint64_t i = 0; i < c.size && zero; i++) zero = leech->data[i] == 0;
    CHECK(zero);
    /* ...and the seeds served from READs without buffers. */
    CHECK(seed->reads + seed2->reads > 0);
    /* Blamed: banned (its blocks alone) or on parole (shared). */
    const pf_torrent *lt = leech->t;
    CHECK(lt->nbanned > 0 || lt->nstrikes > 0 || (lt->npeers > 0 && lt->peers[0]->src.parole) ||
          (lt->npeers > 1 && lt->peers[1]->src.parole));
    /* There are no bytes to read back. */
    uint8_t b[16];
    CHECK_EQ(pf_torrent_read(leech->t, 0, b, sizeof b, n->now), PF_ERR_UNSUPPORTED);
    CHECK_EQ(n->anomalies, 0);
    hn_free(n);
    hn_content_free(&c);
}

/* A hook that fails every piece: the only sender is banned, nothing
 * completes. */
static int verify_never(void *ud, const pf_torrent *t, uint32_t piece)
{
    (void)t;
    (void)piece;
    (*(uint32_t *)ud)++;
    return 0;
}

TEST(elide_verify_zero_never_completes_and_blames)
{
    hn_content c;
    CHECK_EQ(hn_content_make(&c, 4 * 32768, 32768, 1702, TRACKER), 0);
    hn_net *n = hn_new(1702);
    uint32_t calls = 0;
    pf_session_settings ss, ls;
    elide_settings(&ss, NULL);
    elide_settings(&ls, NULL);
    ls.payload.verify = verify_never;
    ls.payload.ud = &calls;
    hn_node *sn = hn_add_node(n, &ss), *ln = hn_add_node(n, &ls);
    hn_tor *seed = hn_add_torrent(sn, &c, HN_FULL, NULL);
    hn_tor *leech = hn_add_torrent(ln, &c, HN_EMPTY, NULL);
    CHECK(seed && leech);
    hn_settle(n);
    hn_add_peer(leech, sn);
    hn_tor *all[] = {leech, NULL};
    CHECK(!hn_run_until(n, hn_pred_all_complete, all, 60 * SEC));
    pf_torrent_stats st;
    pf_torrent_get_stats(leech->t, &st);
    CHECK_EQ(st.have, 0);
    CHECK(calls >= 1);
    CHECK_EQ(st.hash_failures, calls);
    /* The only sender spoiled piece after piece: it is gone (banned). */
    CHECK(pf__torrent_is_banned(leech->t, &sn->addr));
    hn_free(n);
    hn_content_free(&c);
}

/* The count call: refused by a session without elision, and checked
 * against the PIECE payload that is due. */
TEST(elide_recv_payload_errors)
{
    hn_content c;
    CHECK_EQ(hn_content_make(&c, 4 * 32768, 32768, 1703, TRACKER), 0);
    hn_net *n = hn_new(1703);
    pf_session_settings es;
    elide_settings(&es, NULL);
    hn_node *plain = hn_add_node(n, NULL), *el = hn_add_node(n, &es);
    hn_tor *pt = hn_add_torrent(plain, &c, HN_EMPTY, NULL);
    hn_tor *et = hn_add_torrent(el, &c, HN_EMPTY, NULL);
    CHECK(pt && et);
    hn_settle(n);
    uint8_t hs[PF_HANDSHAKE_LEN];
    hn_raw_handshake(hs, c.info_hash, "-XX0001-abcdefghijkl", 1);

    /* Not elided: every count is refused, whatever the state. */
    hn_raw *r = hn_raw_open(plain);
    CHECK(r && r->end.p);
    CHECK_EQ(pf_peer_recv_payload(r->end.p, 100, n->now), PF_ERR_UNSUPPORTED);
    CHECK_EQ(hn_raw_send(r, hs, sizeof hs), (long)sizeof hs);
    hn_settle(n);
    CHECK_EQ(pf_peer_recv_payload(r->end.p, 100, n->now), PF_ERR_UNSUPPORTED);
    /* A web seed body as a count is refused too. */
    pf_job fake;
    memset(&fake, 0, sizeof fake);
    fake.type = PF_JOB_WEBSEED;
    CHECK(pf_torrent_job_data(pt->t, &fake, NULL, 10, n->now) < 0);

    /* Elided: a count only where a PIECE payload is due, at most what is
     * left of it. */
    hn_raw *e = hn_raw_open(el);
    CHECK(e && e->end.p);
    CHECK_EQ(hn_raw_send(e, hs, sizeof hs), (long)sizeof hs);
    hn_settle(n);
    CHECK_EQ(pf_peer_recv_payload(e->end.p, 1, n->now), PF_ERR_PROTO); /* nothing due */
    pf_buf m;
    pf_buf_init(&m);
    CHECK_EQ(pf_msg_write_piece_header(&m, 0, 0, PF_BLOCK_SIZE), 0);
    CHECK_EQ(hn_raw_send(e, m.data, 7), 7); /* a header in two reads */
    CHECK_EQ(hn_raw_send(e, m.data + 7, m.len - 7), (long)(m.len - 7));
    CHECK_EQ(pf_peer_recv_payload(e->end.p, 10000, n->now), 10000);
    uint8_t zeros[100];
    memset(zeros, 0, sizeof zeros);
    CHECK_EQ(hn_raw_send(e, zeros, sizeof zeros), (long)sizeof zeros); /* payload as bytes: counted */
    CHECK_EQ(pf_peer_recv_payload(e->end.p, PF_BLOCK_SIZE - 10100, n->now), (long)(PF_BLOCK_SIZE - 10100));
    /* Never asked for: waste, not a piece. */
    pf_torrent_stats st;
    pf_torrent_get_stats(et->t, &st);
    CHECK_EQ(st.wasted, PF_BLOCK_SIZE);
    CHECK_EQ(st.downloaded, 0);
    /* More than the payload that is due: a protocol error. */
    CHECK_EQ(hn_raw_send(e, m.data, m.len), (long)m.len);
    CHECK_EQ(pf_peer_recv_payload(e->end.p, PF_BLOCK_SIZE + 1, n->now), PF_ERR_PROTO);
    pf_buf_free(&m);
    hn_free(n);
    hn_content_free(&c);
}

/* A stream from the CDN alone: its bodies go in as counts. */
TEST(elide_webseed_counts)
{
    hn_content c;
    CHECK_EQ(hn_content_make(&c, 8 * 32768, 32768, 1704, TRACKER), 0);
    hn_net *n = hn_new(1704);
    verdicts v = {.bad_piece = 99};
    pf_session_settings s;
    elide_settings(&s, &v);
    hn_node *vn = hn_add_node(n, &s);
    vn->cdn.mode = HN_CDN_OK;
    vn->cdn.latency_ns = 20 * PF_NS_PER_MS;
    vn->cdn.rate_bps = 400 * 1000;
    hn_tor *view = hn_add_torrent(vn, &c, HN_EMPTY, NULL);
    CHECK(view != NULL);
    CHECK_EQ(pf_torrent_add_webseed(view->t, CDN_URL, 1.0), 0);
    CHECK_EQ(hn_cdn_add_file(n, CDN_URL, c.data, c.size, 0), 0);
    hn_settle(n);
    uint32_t id;
    pf_torrent_set_bitrate(view->t, 0, 20000.0);
    CHECK_EQ(pf_torrent_stream_open(view->t, 0, 0, n->now, &id), 0);
    uint64_t pos = 0, end = n->now + 60 * SEC;
    while (n->now < end && pos < c.size) {
        hn_step(n);
        long a;
        while ((a = pf_torrent_stream_avail(view->t, id, pos, 1 << 20, n->now)) > 0) {
            pf_torrent_stream_served(view->t, id, pos, (size_t)a, n->now);
            pos += (uint64_t)a;
        }
    }
    CHECK_EQ(pos, c.size);
    pf_torrent_stats st;
    pf_torrent_get_stats(view->t, &st);
    CHECK_EQ(st.have, c.num_pieces);
    CHECK_EQ(st.hash_failures, 0);
    CHECK_EQ(v.partial_bufs, 0);
    for (uint32_t i = 0; i < c.num_pieces; i++) CHECK_EQ(v.calls[i], 1);
    pf_torrent_stream_close(view->t, id, n->now);
    CHECK_EQ(n->anomalies, 0);
    hn_free(n);
    hn_content_free(&c);
}

TEST_MAIN(elide_two_sessions_refetch_bad_piece, elide_verify_zero_never_completes_and_blames,
          elide_recv_payload_errors, elide_webseed_counts)
