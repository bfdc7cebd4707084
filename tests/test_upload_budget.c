/* The engine's upload budget and off switch (session.h:
 * pf_session_set_upload_budget, pf_session_set_upload), under the fake
 * clock of tests/engine_harness.h: blocks are charged when queued, the
 * budget is never exceeded, what was queued and not taken is taken back
 * (and refunded) when uploads go off, and a transfer stops within a
 * second of the switch. */
#include "engine_harness.h"
#include "test.h"

#include "core/swarm/swarm.h" /* white-box: a peer's queues */

#define SEC PF_NS_PER_SEC
#define BLK 16384u

/* Message counts of what the engine sent a raw peer (its handshake first),
 * consumed from r->out. */
typedef struct counts {
    uint32_t piece, reject, choke, unchoke;
    uint64_t piece_bytes;
} counts;

static int raw_count(hn_raw *r, int *hs_seen, counts *c)
{
    pf_buf *o = &r->out;
    if (!*hs_seen) {
        if (pf_buf_unread(o) < PF_HANDSHAKE_LEN) return 0;
        pf_buf_consume(o, PF_HANDSHAKE_LEN);
        *hs_seen = 1;
    }
    for (;;) {
        pf_msg m;
        long k = pf_msg_parse(pf_buf_head(o), pf_buf_unread(o), PF_MAX_MSG_LEN, &m);
        if (k < 0) return -1;
        if (k == 0) return 0;
        if (m.type == PF_MSG_PIECE) c->piece++, c->piece_bytes += m.payload_len;
        if (m.type == PF_MSG_REJECT) c->reject++;
        if (m.type == PF_MSG_CHOKE) c->choke++;
        if (m.type == PF_MSG_UNCHOKE) c->unchoke++;
        pf_buf_consume(o, (size_t)k);
    }
}

static long raw_request(hn_raw *r, uint32_t piece, uint32_t begin)
{
    pf_buf b;
    pf_buf_init(&b);
    pf_msg_write_req(&b, PF_MSG_REQUEST, piece, begin, BLK);
    long rc = hn_raw_send(r, pf_buf_head(&b), pf_buf_unread(&b));
    pf_buf_free(&b);
    return rc;
}

/* A seeder of c on a fresh net, and a raw BEP 6 leecher it has unchoked
 * whose first block of every piece was served (so every piece is in the
 * read cache and later requests are queued synchronously). */
typedef struct rig {
    hn_content c;
    hn_net *n;
    hn_node *sn;
    hn_tor *seed;
    hn_raw *r;
    int hs;
    counts got;
} rig;

static int rig_open(rig *g, int fast)
{
    memset(g, 0, sizeof *g);
    if (hn_content_make(&g->c, 4 * 65536, 65536, 5, NULL) != 0) return -1;
    g->n = hn_new(5);
    g->sn = hn_add_node(g->n, NULL);
    g->seed = hn_add_torrent(g->sn, &g->c, HN_FULL, NULL);
    if (!g->seed) return -1;
    hn_settle(g->n);
    g->r = hn_raw_open(g->sn);
    if (!g->r || g->r->closed) return -1;
    uint8_t hs[PF_HANDSHAKE_LEN];
    hn_raw_handshake(hs, g->c.info_hash, "-XX0000-budgettest00", fast);
    pf_buf b;
    pf_buf_init(&b);
    pf_buf_append(&b, hs, sizeof hs);
    if (fast) pf_msg_write_simple(&b, PF_MSG_HAVE_NONE);
    pf_msg_write_simple(&b, PF_MSG_INTERESTED);
    long rc = hn_raw_send(g->r, pf_buf_head(&b), pf_buf_unread(&b));
    pf_buf_free(&b);
    if (rc < 0) return -1;
    for (int i = 0; i < 20 && g->r->end.p->am_choking; i++) hn_step(g->n);
    if (g->r->end.p->am_choking) return -1;
    for (uint32_t p = 0; p < 4; p++)
        if (raw_request(g->r, p, 0) < 0) return -1;
    hn_settle(g->n);
    if (raw_count(g->r, &g->hs, &g->got) != 0 || g->got.piece != 4) return -1;
    return 0;
}

static void rig_close(rig *g)
{
    if (g->n) hn_free(g->n);
    hn_content_free(&g->c);
}

/* Blocks count against the budget when they are queued, before the
 * caller took a byte of them; what is left below a block stops uploads
 * (the next tick chokes), and raising it unchokes at once. */
TEST(budget_charges_queued_blocks)
{
    rig g;
    CHECK_EQ(rig_open(&g, 1), 0);
    pf_session *s = g.sn->s;
    pf_peer *p = g.r->end.p;
    CHECK_EQ(pf_session_upload_budget(s), PF_UPLOAD_UNLIMITED);
    uint64_t up0 = pf_session_uploaded(s);
    CHECK_EQ(up0, 4 * BLK);
    pf_session_set_upload_budget(s, 3 * BLK + 100);
    /* Five requests arrive; three blocks fit. */
    for (uint32_t k = 1; k <= 3; k++) CHECK(raw_request(g.r, 0, k * BLK) > 0);
    for (uint32_t k = 1; k <= 2; k++) CHECK(raw_request(g.r, 1, k * BLK) > 0);
    CHECK_EQ(p->nsp, 3);          /* queued, not taken by the caller yet */
    CHECK_EQ(p->inq_len, 2);      /* waiting for budget */
    CHECK_EQ(pf_session_upload_budget(s), 100);
    CHECK_EQ(pf_session_uploaded(s), up0); /* nothing written yet */
    hn_settle(g.n);
    CHECK_EQ(raw_count(g.r, &g.hs, &g.got), 0);
    CHECK_EQ(g.got.piece, 4 + 3);
    CHECK_EQ(pf_session_uploaded(s), up0 + 3 * BLK);
    CHECK_EQ(pf_session_upload_budget(s), 100);
    /* Less than a block left: the tick chokes it, its two requests are
     * rejected (BEP 6). */
    hn_step(g.n);
    CHECK_EQ(p->am_choking, 1);
    CHECK_EQ(p->inq_len, 0);
    CHECK_EQ(raw_count(g.r, &g.hs, &g.got), 0);
    CHECK_EQ(g.got.reject, 2);
    CHECK(g.got.choke >= 1);
    /* More budget: unchoked inside the call, not at the next tick. */
    uint32_t unchokes = g.got.unchoke;
    pf_session_set_upload_budget(s, pf_session_upload_budget(s) + 2 * BLK);
    CHECK_EQ(p->am_choking, 0);
    CHECK(raw_request(g.r, 1, BLK) > 0);
    CHECK(raw_request(g.r, 1, 2 * BLK) > 0);
    CHECK(raw_request(g.r, 1, 3 * BLK) > 0); /* over: waits */
    hn_settle(g.n);
    CHECK_EQ(raw_count(g.r, &g.hs, &g.got), 0);
    CHECK_EQ(g.got.unchoke, unchokes + 1);
    CHECK_EQ(g.got.piece, 4 + 5);
    CHECK_EQ(pf_session_upload_budget(s), 100);
    CHECK_EQ(pf_session_uploaded(s), up0 + 5 * BLK);
    CHECK_EQ(g.n->anomalies, 0);
    rig_close(&g);
}

/* Off takes back what the caller has not taken: no PIECE leaves after
 * the switch, each block is rejected and refunded, the peer is choked;
 * a request while off is rejected; on unchokes at once. */
TEST(upload_off_takes_back_queued_pieces)
{
    rig g;
    CHECK_EQ(rig_open(&g, 1), 0);
    pf_session *s = g.sn->s;
    pf_peer *p = g.r->end.p;
    pf_session_set_upload_budget(s, 10 * BLK);
    uint64_t up0 = pf_session_uploaded(s);
    for (uint32_t k = 1; k <= 3; k++) CHECK(raw_request(g.r, 2, k * BLK) > 0);
    CHECK(raw_request(g.r, 3, BLK) > 0);
    CHECK_EQ(p->nsp, 4);
    CHECK_EQ(pf_session_upload_budget(s), 6 * BLK);
    pf_session_set_upload(s, 0);
    CHECK_EQ(p->nsp, 0);
    CHECK_EQ(p->sp_bytes, 0);
    CHECK_EQ(p->am_choking, 1);
    CHECK_EQ(pf_session_upload_budget(s), 10 * BLK); /* refunded */
    hn_settle(g.n);
    CHECK_EQ(raw_count(g.r, &g.hs, &g.got), 0);
    CHECK_EQ(g.got.piece, 4); /* the warm-up's only */
    CHECK_EQ(g.got.reject, 4);
    CHECK_EQ(g.got.choke, 1);
    CHECK_EQ(pf_session_uploaded(s), up0);
    /* While off: rejected, and ticks keep it choked. */
    CHECK(raw_request(g.r, 2, BLK) > 0);
    for (int i = 0; i < 8; i++) hn_step(g.n);
    CHECK_EQ(raw_count(g.r, &g.hs, &g.got), 0);
    CHECK_EQ(g.got.reject, 5);
    CHECK_EQ(g.got.piece, 4);
    CHECK_EQ(p->am_choking, 1);
    /* On: unchoked inside the call. */
    pf_session_set_upload(s, 1);
    CHECK_EQ(p->am_choking, 0);
    CHECK(raw_request(g.r, 2, BLK) > 0);
    hn_settle(g.n);
    CHECK_EQ(raw_count(g.r, &g.hs, &g.got), 0);
    CHECK_EQ(g.got.piece, 5);
    CHECK_EQ(pf_session_upload_budget(s), 9 * BLK);
    CHECK_EQ(g.n->anomalies, 0);
    rig_close(&g);
}

/* A peer without BEP 6: the withdrawn blocks are dropped by the CHOKE that
 * follows them (BEP 3), no REJECT. */
TEST(upload_off_plain_peer_choke_only)
{
    rig g;
    CHECK_EQ(rig_open(&g, 0), 0);
    pf_session *s = g.sn->s;
    pf_peer *p = g.r->end.p;
    CHECK(raw_request(g.r, 2, BLK) > 0);
    CHECK(raw_request(g.r, 2, 2 * BLK) > 0);
    CHECK_EQ(p->nsp, 2);
    pf_session_set_upload(s, 0);
    hn_settle(g.n);
    CHECK_EQ(raw_count(g.r, &g.hs, &g.got), 0);
    CHECK_EQ(g.got.piece, 4);
    CHECK_EQ(g.got.reject, 0);
    CHECK_EQ(g.got.choke, 1);
    rig_close(&g);
}

/* A seeder with a budget and three leechers pulling in random chunks: the
 * seeder's uploads never pass the budget at any step, it spends it to the
 * last whole block, the accounting is exact (uploaded == budget - left
 * once the queues drained), and then nobody is unchoked. */
TEST(budget_never_exceeded_in_a_swarm)
{
    hn_content c;
    CHECK_EQ(hn_content_make(&c, 2 * 1024 * 1024 - 333, 65536, 9, NULL), 0);
    hn_net *n = hn_new(9);
    n->chunk_max = 3000;
    hn_node *sn = hn_add_node(n, NULL);
    sn->up_bps = 1024 * 1024;
    hn_tor *seed = hn_add_torrent(sn, &c, HN_FULL, NULL);
    hn_tor *lt[3];
    for (int i = 0; i < 3; i++) {
        hn_node *ln = hn_add_node(n, NULL);
        ln->up_bps = 512 * 1024;
        lt[i] = hn_add_torrent(ln, &c, HN_EMPTY, NULL);
        CHECK(lt[i] != NULL);
    }
    CHECK(seed != NULL);
    hn_settle(n);
    const uint64_t budget = 300000; /* 18 blocks and 5088 bytes */
    pf_session_set_upload_budget(sn->s, budget);
    for (int i = 0; i < 3; i++) hn_add_peer(lt[i], sn);
    uint64_t steps = 0;
    for (uint64_t end = n->now + 20 * SEC; n->now < end; steps++) {
        hn_step(n);
        uint64_t left = pf_session_upload_budget(sn->s), up = pf_session_uploaded(sn->s);
        CHECK(left <= budget);
        CHECK(up <= budget - left); /* written <= charged */
        pf_torrent_stats st;
        pf_torrent_get_stats(seed->t, &st);
        CHECK(st.uploaded <= budget);
    }
    uint64_t left = pf_session_upload_budget(sn->s);
    CHECK_EQ(pf_session_uploaded(sn->s), budget - left);
    CHECK(left < BLK);
    CHECK_EQ(left, budget % BLK);
    uint64_t got = 0;
    for (int i = 0; i < 3; i++) {
        pf_torrent_stats st;
        pf_torrent_get_stats(lt[i]->t, &st);
        got += st.peer_downloaded;
        CHECK(!lt[i]->complete);
    }
    for (uint32_t i = 0; i < seed->t->npeers; i++) CHECK_EQ(seed->t->peers[i]->am_choking, 1);
    CHECK(got >= budget - left); /* the leechers passed blocks on too */
    CHECK_EQ(n->anomalies, 0);
    hn_free(n);
    hn_content_free(&c);
}

/* A transfer at 1 MiB/s stops within a second of the switch: the last
 * PIECE byte reaches the leecher less than 1 s after pf_session_set_upload
 * (what the caller had taken drains; nothing new is queued), and
 * resumes once switched on again. */
TEST(upload_off_stops_a_transfer_within_a_second)
{
    hn_content c;
    CHECK_EQ(hn_content_make(&c, 8 * 1024 * 1024, 262144, 13, NULL), 0);
    hn_net *n = hn_new(13);
    n->step_ns = 20 * PF_NS_PER_MS;
    hn_node *sn = hn_add_node(n, NULL), *ln = hn_add_node(n, NULL);
    sn->up_bps = 1024 * 1024;
    hn_tor *seed = hn_add_torrent(sn, &c, HN_FULL, NULL);
    hn_tor *leech = hn_add_torrent(ln, &c, HN_EMPTY, NULL);
    CHECK(seed && leech);
    hn_settle(n);
    const uint64_t B = 1ull << 40; /* a budget that never runs out: it counts what is queued */
    pf_session_set_upload_budget(sn->s, B);
    hn_add_peer(leech, sn);
    for (uint64_t end = n->now + 3 * SEC; n->now < end;) hn_step(n);
    pf_torrent_stats st;
    pf_torrent_get_stats(leech->t, &st);
    CHECK(st.downloaded > 1024 * 1024); /* flowing */
    uint64_t t_off = n->now, last_growth = n->now, before = st.downloaded;
    pf_session_set_upload(sn->s, 0);
    /* Nothing more is queued from the switch on, before any tick (a
     * quarter second of the link, as between two of the client's ticks):
     * the bytes the leecher still gets are the ones the caller had taken. */
    uint64_t queued = B - pf_session_upload_budget(sn->s);
    sn->budget = sn->up_bps / 4;
    hn_settle(n);
    CHECK(B - pf_session_upload_budget(sn->s) <= queued);
    for (uint64_t end = n->now + 5 * SEC; n->now < end;) {
        hn_step(n);
        pf_torrent_get_stats(leech->t, &st);
        if (st.downloaded != before) last_growth = n->now, before = st.downloaded;
    }
    double stop_s = (double)(last_growth - t_off) / 1e9;
    if (getenv("HN_VERBOSE")) fprintf(stderr, "last block arrived %.3f s after off\n", stop_s);
    CHECK(stop_s < 1.0);
    CHECK(!leech->complete);
    pf_session_set_upload(sn->s, 1);
    hn_tor *all[] = {leech, NULL};
    CHECK(hn_run_until(n, hn_pred_all_complete, all, 30 * SEC));
    CHECK_MEM(leech->data, c.data, c.size);
    CHECK_EQ(n->anomalies, 0);
    hn_free(n);
    hn_content_free(&c);
}

TEST_MAIN(budget_charges_queued_blocks, upload_off_takes_back_queued_pieces,
          upload_off_plain_peer_choke_only, budget_never_exceeded_in_a_swarm,
          upload_off_stops_a_transfer_within_a_second)
