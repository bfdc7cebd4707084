/* BEP 15 UDP trackers: the codec, and the client over the session's
 * datagrams against a fake tracker written here (the harness hands it the
 * datagrams sent to its address; it answers through
 * pf_session_recv_datagram).  Fake clock. */
#include "engine_harness.h"
#include "test.h"

#include "core/codec/udp_tracker.h"
#include "core/swarm/swarm.h" /* white-box: a tracker's state */

#define SEC PF_NS_PER_SEC

/* ---- the codec ------------------------------------------------------------- */
/* The announce both sides of the codec are checked with: info-hash 0xaa..,
 * peer id 0xbb.., 1 down, 4 GiB left, 3 up, port 6881. */
static void sample_req(pf_announce_req *r, int event, uint32_t key, uint32_t numwant)
{
    memset(r, 0, sizeof *r);
    memset(r->info_hash, 0xaa, 20);
    memset(r->peer_id, 0xbb, 20);
    r->downloaded = 1;
    r->left = 0x100000000ULL;
    r->uploaded = 3;
    r->event = event;
    r->key = key;
    r->numwant = numwant;
    r->port = 6881;
}

TEST(udpt_requests_layout)
{
    uint8_t b[PF_UDPT_ANNOUNCE_LEN];
    pf_udpt_connect_req(b, 0xdeadbeef);
    static const uint8_t want[16] = {0, 0, 0x04, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef};
    CHECK_MEM(b, want, 16);
    pf_announce_req r;
    sample_req(&r, PF_ANNOUNCE_STARTED, 0x01020304, 80);
    pf_udpt_announce_req(b, 0x1122334455667788ULL, 7, &r);
    CHECK_EQ(b[0], 0x11);
    CHECK_EQ(b[7], 0x88);
    CHECK_EQ(pf_rd_be32(b + 8), PF_UDPT_ANNOUNCE);
    CHECK_EQ(pf_rd_be32(b + 12), 7);
    CHECK_EQ(b[16], 0xaa);
    CHECK_EQ(b[36], 0xbb);
    CHECK_EQ(b[63], 1);                  /* downloaded */
    CHECK_EQ(b[67], 1);                  /* left: 2^32 */
    CHECK_EQ(b[79], 3);                  /* uploaded */
    CHECK_EQ(pf_rd_be32(b + 80), 2);     /* started is 2 in BEP 15 */
    CHECK_EQ(pf_rd_be32(b + 88), 0x01020304);
    CHECK_EQ(pf_rd_be32(b + 92), 80);
    CHECK_EQ(pf_rd_be16(b + 96), 6881);
    r.event = PF_ANNOUNCE_COMPLETED;
    pf_udpt_announce_req(b, 1, 1, &r);
    CHECK_EQ(pf_rd_be32(b + 80), 1);
    r.event = PF_ANNOUNCE_STOPPED;
    pf_udpt_announce_req(b, 1, 1, &r);
    CHECK_EQ(pf_rd_be32(b + 80), 3);
}

TEST(udpt_replies)
{
    pf_udpt_reply r;
    uint8_t c[16] = {0, 0, 0, 0, 0, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8};
    CHECK_EQ(pf_udpt_parse(c, 16, 4, &r), 0);
    CHECK_EQ(r.action, PF_UDPT_CONNECT);
    CHECK_EQ(r.tid, 9);
    CHECK(r.conn_id == 0x0102030405060708ULL);
    CHECK_EQ(pf_udpt_parse(c, 15, 4, &r), PF_ERR_PARSE);
    uint8_t a[20 + 12] = {0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0x07, 0x08, 0, 0, 0, 2, 0, 0, 0, 1,
                          10, 0, 0, 1, 0x1a, 0xe1, 10, 0, 0, 2, 0, 0};
    CHECK_EQ(pf_udpt_parse(a, sizeof a, 4, &r), 0);
    CHECK_EQ(r.action, PF_UDPT_ANNOUNCE);
    CHECK_EQ(r.interval, 1800);
    CHECK_EQ(r.leechers, 2);
    CHECK_EQ(r.seeders, 1);
    CHECK_EQ(r.npeers, 2);
    pf_addr p;
    pf_udpt_peer(&r, 0, &p);
    CHECK_EQ(p.family, 4);
    CHECK_EQ(p.ip[0], 10);
    CHECK_EQ(p.ip[3], 1);
    CHECK_EQ(p.port, 6881);
    pf_udpt_peer(&r, 1, &p);
    CHECK_EQ(p.port, 0); /* the caller skips it */
    CHECK_EQ(pf_udpt_parse(a, sizeof a - 1, 4, &r), PF_ERR_PARSE); /* not whole peers */
    /* An IPv6 tracker's peers are 18 bytes: 12 is not a whole one. */
    CHECK_EQ(pf_udpt_parse(a, sizeof a, 6, &r), PF_ERR_PARSE);
    uint8_t e[8 + 5] = {0, 0, 0, 3, 0, 0, 0, 4, 'n', 'o', 0, 'p', 'e'};
    CHECK_EQ(pf_udpt_parse(e, sizeof e, 4, &r), 0);
    CHECK_EQ(r.action, PF_UDPT_ERROR);
    CHECK_STR(r.error, "no?pe");
    uint8_t bad[8] = {0, 0, 0, 9, 0, 0, 0, 0};
    CHECK_EQ(pf_udpt_parse(bad, 8, 4, &r), PF_ERR_PARSE);
    CHECK_EQ(pf_udpt_parse(bad, 3, 4, &r), PF_ERR_PARSE);
    CHECK_EQ(pf_udpt_parse(NULL, 0, 4, &r), PF_ERR_PARSE);
}

/* The server's side of the codec, against the client's requests. */
TEST(udpt_server_codec)
{
    pf_udpt_request q;
    uint8_t b[16 + 20 * (PF_UDPT_SCRAPE_MAX + 2)];
    pf_udpt_connect_req(b, 0xabcd);
    CHECK_EQ(pf_udpt_parse_request(b, 16, &q), 0);
    CHECK_EQ(q.action, PF_UDPT_CONNECT);
    CHECK_EQ(q.tid, 0xabcd);
    b[0] ^= 1; /* not the protocol id */
    CHECK_EQ(pf_udpt_parse_request(b, 16, &q), PF_ERR_PARSE);
    CHECK_EQ(pf_udpt_parse_request(b, 15, &q), PF_ERR_PARSE);
    CHECK_EQ(pf_udpt_parse_request(NULL, 0, &q), PF_ERR_PARSE);
    pf_announce_req r;
    sample_req(&r, PF_ANNOUNCE_STOPPED, 9, UINT32_MAX);
    pf_udpt_announce_req(b, 0x0102030405060708ULL, 11, &r);
    CHECK_EQ(pf_udpt_parse_request(b, PF_UDPT_ANNOUNCE_LEN, &q), 0);
    CHECK_EQ(q.action, PF_UDPT_ANNOUNCE);
    CHECK(q.conn_id == 0x0102030405060708ULL);
    CHECK_EQ(q.tid, 11);
    CHECK_EQ(q.info_hash[0], 0xaa);
    CHECK_EQ(q.peer_id[19], 0xbb);
    CHECK(q.downloaded == 1 && q.left == 0x100000000ULL && q.uploaded == 3);
    CHECK_EQ(q.event, PF_UDPT_EV_STOPPED);
    CHECK_EQ(q.key, 9);
    CHECK_EQ(q.numwant, -1);
    CHECK_EQ(q.port, 6881);
    CHECK_EQ(pf_udpt_parse_request(b, PF_UDPT_ANNOUNCE_LEN - 1, &q), PF_ERR_PARSE);
    /* scrape: the client's request, the server's reply, the client's parse */
    uint8_t ih[PF_UDPT_SCRAPE_MAX + 2][20];
    for (int i = 0; i < PF_UDPT_SCRAPE_MAX + 2; i++) memset(ih[i], i, 20);
    CHECK_EQ(pf_udpt_scrape_req(b, sizeof b, 5, 6, (const uint8_t(*)[20])ih, 0), 0);
    CHECK_EQ(pf_udpt_scrape_req(b, sizeof b, 5, 6, (const uint8_t(*)[20])ih, PF_UDPT_SCRAPE_MAX + 1), 0);
    CHECK_EQ(pf_udpt_scrape_req(b, 16 + 20 * 2 - 1, 5, 6, (const uint8_t(*)[20])ih, 2), 0);
    CHECK_EQ(pf_udpt_scrape_req(b, sizeof b, 5, 6, (const uint8_t(*)[20])ih, 2), 56);
    CHECK_EQ(pf_udpt_parse_request(b, 56, &q), 0);
    CHECK_EQ(q.action, PF_UDPT_SCRAPE);
    CHECK_EQ(q.nhashes, 2);
    CHECK_EQ(q.hashes[20], 1);
    CHECK_EQ(pf_udpt_parse_request(b, 55, &q), 0); /* a partial trailing hash: left out */
    CHECK_EQ(q.nhashes, 1);
    CHECK_EQ(pf_udpt_parse_request(b, 35, &q), PF_ERR_PARSE);
    for (int i = 2; i < PF_UDPT_SCRAPE_MAX + 2; i++) memcpy(b + 16 + 20 * i, ih[i], 20);
    CHECK_EQ(pf_udpt_parse_request(b, sizeof b, &q), 0);
    CHECK_EQ(q.nhashes, PF_UDPT_SCRAPE_MAX);
    uint8_t rep[8 + 24];
    pf_udpt_scrape_reply_head(rep, 6);
    pf_udpt_scrape_reply_entry(rep + 8, 1, 2, 3);
    pf_udpt_scrape_reply_entry(rep + 20, 4, 5, 6);
    pf_udpt_reply rr;
    CHECK_EQ(pf_udpt_parse(rep, sizeof rep, 4, &rr), 0);
    CHECK_EQ(rr.action, PF_UDPT_SCRAPE);
    CHECK_EQ(rr.tid, 6);
    CHECK_EQ(rr.nscrape, 2);
    uint32_t se, co, le;
    pf_udpt_scrape_entry(&rr, 1, &se, &co, &le);
    CHECK(se == 4 && co == 5 && le == 6);
    pf_udpt_scrape_entry(&rr, 2, &se, &co, &le);
    CHECK(se == 0 && co == 0 && le == 0);
    CHECK_EQ(pf_udpt_parse(rep, sizeof rep - 1, 4, &rr), PF_ERR_PARSE); /* not whole entries */
    /* the other replies */
    pf_udpt_connect_reply(rep, 7, 0x1122334455667788ULL);
    CHECK_EQ(pf_udpt_parse(rep, 16, 4, &rr), 0);
    CHECK(rr.action == PF_UDPT_CONNECT && rr.tid == 7 && rr.conn_id == 0x1122334455667788ULL);
    pf_udpt_announce_reply_head(rep, 8, 1800, 3, 2);
    CHECK_EQ(pf_udpt_parse(rep, 20, 6, &rr), 0);
    CHECK(rr.action == PF_UDPT_ANNOUNCE && rr.tid == 8 && rr.interval == 1800);
    CHECK(rr.leechers == 3 && rr.seeders == 2 && rr.npeers == 0);
    CHECK_EQ(pf_udpt_error_reply(rep, 7, 9, "x"), 0);
    CHECK_EQ(pf_udpt_error_reply(rep, 12, 9, "too long for it"), 12);
    CHECK_EQ(pf_udpt_parse(rep, 12, 4, &rr), 0);
    CHECK_STR(rr.error, "too ");
}

/* ---- a fake BEP 15 tracker ----------------------------------------------- */
#define TRACKER "udp://tracker.test:6969/announce"
typedef struct fake_udpt {
    hn_net *n;
    pf_addr addr;
    int mute;           /* never answer */
    int mute_announces; /* answer connects only */
    int error;          /* answer every announce with an error */
    uint64_t sent_at[64]; /* when requests came (connects and announces) */
    int sent_connect[64];
    size_t nsent;
    uint64_t conn_id;
    uint32_t connects, announces, events[4];
    struct {
        hn_node *from;
        uint8_t data[PF_MAX_DATAGRAM];
        size_t len;
    } q[64];
    size_t nq;
    pf_addr peers[16]; /* who announced (address, announced port) */
    size_t npeers;
} fake_udpt;

static int fu_resolve(void *ud, const char *hostport, pf_addr *out)
{
    fake_udpt *f = ud;
    if (strcmp(hostport, "tracker.test:6969") != 0) return -1;
    *out = f->addr;
    return 0;
}

static void fu_sink(void *ud, hn_node *from, const pf_addr *to, const uint8_t *data, size_t len)
{
    fake_udpt *f = ud;
    if (!pf_addr_eq(to, &f->addr) || f->nq >= 64 || len > PF_MAX_DATAGRAM) return;
    if (f->nsent < 64) {
        f->sent_connect[f->nsent] = len == 16;
        f->sent_at[f->nsent++] = f->n->now;
    }
    f->q[f->nq].from = from;
    memcpy(f->q[f->nq].data, data, len);
    f->q[f->nq].len = len;
    f->nq++;
}

/* Answers what came, as a tracker would. */
static void fu_serve(fake_udpt *f)
{
    for (size_t k = 0; k < f->nq; k++) {
        const uint8_t *d = f->q[k].data;
        size_t len = f->q[k].len;
        hn_node *from = f->q[k].from;
        if (f->mute || len < 16) continue;
        uint8_t out[20 + 6 * 16];
        size_t n = 0;
        uint32_t tid = pf_rd_be32(d + 12);
        if (len == 16 && pf_rd_be32(d + 8) == PF_UDPT_CONNECT) {
            f->connects++;
            pf_wr_be32(out, PF_UDPT_CONNECT);
            pf_wr_be32(out + 4, tid);
            for (int i = 0; i < 8; i++) out[8 + i] = (uint8_t)(f->conn_id >> (56 - 8 * i));
            n = 16;
        } else if (len >= 98 && pf_rd_be32(d + 8) == PF_UDPT_ANNOUNCE && !f->mute_announces) {
            uint64_t cid = 0;
            for (int i = 0; i < 8; i++) cid = cid << 8 | d[i];
            if (cid != f->conn_id) continue; /* a tracker ignores a bad id */
            f->announces++;
            uint32_t ev = pf_rd_be32(d + 80);
            if (ev < 4) f->events[ev]++;
            if (f->error) {
                pf_wr_be32(out, PF_UDPT_ERROR);
                pf_wr_be32(out + 4, tid);
                memcpy(out + 8, "banned", 6);
                n = 14;
            } else {
                pf_addr me = from->addr;
                me.port = pf_rd_be16(d + 96);
                int known = 0;
                for (size_t i = 0; i < f->npeers; i++) known |= pf_addr_eq(&f->peers[i], &me);
                if (!known && f->npeers < 16) f->peers[f->npeers++] = me;
                pf_wr_be32(out, PF_UDPT_ANNOUNCE);
                pf_wr_be32(out + 4, tid);
                pf_wr_be32(out + 8, 60);
                pf_wr_be32(out + 12, 1);
                pf_wr_be32(out + 16, 1);
                n = 20;
                for (size_t i = 0; i < f->npeers; i++) {
                    if (pf_addr_eq(&f->peers[i], &me)) continue;
                    memcpy(out + n, f->peers[i].ip, 4);
                    pf_wr_be16(out + n + 4, f->peers[i].port);
                    n += 6;
                }
            }
        }
        if (n) pf_session_recv_datagram(from->s, &f->addr, out, n, f->n->now);
    }
    f->nq = 0;
}

static void fu_init(fake_udpt *f, hn_net *n)
{
    memset(f, 0, sizeof *f);
    f->n = n;
    f->addr.family = 4;
    f->addr.ip[0] = 10;
    f->addr.ip[1] = 99;
    f->addr.ip[3] = 1;
    f->addr.port = 6969;
    f->conn_id = 0x5151515151515151ULL;
    n->udp_sink = fu_sink;
    n->udp_sink_ud = f;
    n->resolve = fu_resolve;
    n->resolve_ud = f;
}

static void run(hn_net *n, fake_udpt *f, uint64_t ns)
{
    uint64_t end = n->now + ns;
    while (n->now < end) {
        hn_step(n);
        fu_serve(f);
        hn_settle(n);
    }
}

TEST(udpt_swarm_finds_itself)
{
    hn_content c;
    CHECK_EQ(hn_content_make(&c, 200000, 32768, 51, TRACKER), 0);
    hn_net *n = hn_new(51);
    fake_udpt f;
    fu_init(&f, n);
    hn_node *a = hn_add_node(n, NULL), *b = hn_add_node(n, NULL);
    hn_tor *seed = hn_add_torrent(a, &c, HN_FULL, NULL);
    hn_tor *leech = hn_add_torrent(b, &c, HN_EMPTY, NULL);
    CHECK(seed && leech);
    run(n, &f, 20 * SEC);
    CHECK(leech->complete);
    CHECK_MEM(leech->data, c.data, c.size);
    CHECK(f.connects >= 2);
    CHECK(f.announces >= 2);
    CHECK(f.events[2] >= 2); /* both said "started" */
    CHECK_EQ(f.events[1], 1); /* the leecher said "completed" once it was */
    CHECK_EQ(n->anomalies, 0);
    hn_free(n);
    hn_content_free(&c);
}

/* One node leeching a torrent whose only tracker is the fake one (its
 * switches set after lone_start, before the first run). */
typedef struct lone {
    hn_content c;
    hn_net *n;
    fake_udpt f;
    hn_node *a;
    hn_tor *ht;
} lone;

static int lone_start(lone *l, uint32_t seed, uint64_t step_ns)
{
    memset(l, 0, sizeof *l);
    if (hn_content_make(&l->c, 200000, 32768, seed, TRACKER) != 0) return -1;
    l->n = hn_new(seed);
    if (step_ns) l->n->step_ns = step_ns;
    fu_init(&l->f, l->n);
    l->a = hn_add_node(l->n, NULL);
    l->ht = hn_add_torrent(l->a, &l->c, HN_EMPTY, NULL);
    return l->ht ? 0 : -1;
}

static void lone_free(lone *l)
{
    hn_free(l->n);
    hn_content_free(&l->c);
}

/* With another tracker to ask, a silent UDP tracker is given up after two
 * tries, 15 s then 30 s, and the next one is asked (BEP 12). */
TEST(udpt_silent_tracker_is_given_up)
{
    lone l;
    CHECK_EQ(lone_start(&l, 52, 0), 0);
    hn_net *n = l.n;
    fake_udpt *f = &l.f;
    f->mute = 1;
    hn_tor *ht = l.ht;
    CHECK_EQ(pf_torrent_add_tracker(ht->t, "udp://elsewhere.test:6969/announce", 1), 0);
    run(n, f, 10 * SEC);
    pf__tracker *tr = &ht->t->trackers[0];
    CHECK(tr->udp && tr->busy);
    CHECK_EQ(tr->fails, 0);
    CHECK_EQ(f->nsent, 1);
    uint64_t t0 = f->sent_at[0];
    run(n, f, t0 + 45 * SEC + 100 * PF_NS_PER_MS - n->now); /* 15 s, then 30 s, then given up */
    CHECK_EQ(tr->fails, 1);
    CHECK(f->nsent >= 2);
    CHECK_EQ(f->sent_at[1] - t0, 15 * SEC);
    CHECK(f->nsent == 2 || f->sent_at[2] - t0 >= 45 * SEC); /* asked again only in a new announce */
    CHECK_EQ(ht->t->trackers[1].fails, 1); /* the next one was asked (its name is unknown) */
    /* It woke for the retries, not every quarter second for nothing: the
     * session's next timer is the tracker's deadline or a second. */
    CHECK_EQ(n->anomalies, 0);
    lone_free(&l);
}

/* Request times from a fake tracker's log: 1 if they are t0 + 15 s *
 * (2^k - 1) for k = 0..8 (BEP 15's schedule), within a step. */
static int bep15_schedule(const uint64_t *at, size_t n, uint64_t step)
{
    if (n != 9) return 0;
    for (size_t k = 1; k < n; k++) {
        uint64_t want = ((uint64_t)15 << (k - 1)) * SEC, gap = at[k] - at[k - 1];
        if (gap < want || gap > want + step) {
            fprintf(stderr, "request %zu came %llu ms after the one before, not %llu\n", k,
                    (unsigned long long)(gap / PF_NS_PER_MS), (unsigned long long)(want / PF_NS_PER_MS));
            return 0;
        }
    }
    return 1;
}

/* A torrent's only tracker, silent: BEP 15's retransmissions, 15 * 2^n s
 * for n = 0..8 (nine requests over 2 h 8 min), then the announce has
 * failed and the normal back-off starts over. */
TEST(udpt_sole_tracker_backs_off_as_bep15_says)
{
    lone l;
    CHECK_EQ(lone_start(&l, 54, SEC), 0); /* two hours of fake time, by the second */
    hn_net *n = l.n;
    fake_udpt *f = &l.f;
    f->mute = 1;
    hn_tor *ht = l.ht;
    run(n, f, 2 * SEC);
    CHECK_EQ(f->nsent, 1);
    uint64_t t0 = f->sent_at[0];
    pf__tracker *tr = &ht->t->trackers[0];
    run(n, f, t0 + 7665 * SEC - 2 * SEC - n->now); /* 15 * (2^9 - 1) s */
    CHECK(tr->busy);
    CHECK_EQ(tr->fails, 0);
    CHECK_EQ(f->nsent, 9);
    for (size_t k = 0; k < f->nsent; k++) CHECK(f->sent_connect[k]); /* no answer: connects all */
    CHECK(bep15_schedule(f->sent_at, f->nsent, SEC));
    run(n, f, 4 * SEC);
    CHECK_EQ(tr->fails, 1);
    CHECK_EQ(f->nsent, 9);
    run(n, f, 12 * SEC); /* the back-off (10 s), then a new schedule */
    CHECK_EQ(f->nsent, 10);
    CHECK(tr->busy);
    CHECK_EQ(n->anomalies, 0);
    lone_free(&l);
}

/* The only tracker answers connects and never an announce: the schedule
 * still grows (connection ids expire after a minute and are asked for
 * again: that does not start it over), and ends. */
TEST(udpt_sole_tracker_backs_off_across_connection_ids)
{
    lone l;
    CHECK_EQ(lone_start(&l, 55, SEC), 0);
    hn_net *n = l.n;
    fake_udpt *f = &l.f;
    f->mute_announces = 1;
    hn_tor *ht = l.ht;
    run(n, f, 2 * SEC);
    CHECK(f->nsent >= 2 && f->sent_connect[0] && !f->sent_connect[1]);
    uint64_t t0 = f->sent_at[0];
    pf__tracker *tr = &ht->t->trackers[0];
    run(n, f, t0 + 7665 * SEC + 2 * SEC - n->now);
    CHECK_EQ(tr->fails, 1);
    /* The announces, at 15 * 2^n s; a connect answered at once before
     * each one whose connection id had expired. */
    uint64_t ann[64];
    size_t na = 0;
    for (size_t k = 0; k < f->nsent && na < 64; k++)
        if (!f->sent_connect[k]) ann[na++] = f->sent_at[k];
    CHECK(bep15_schedule(ann, na, SEC));
    CHECK_EQ(f->connects, f->nsent - na);
    CHECK(f->connects >= 6 && f->connects <= 8);
    CHECK_EQ(f->announces, 0);
    CHECK_EQ(n->anomalies, 0);
    lone_free(&l);
}

TEST(udpt_error_reply_moves_on)
{
    lone l;
    CHECK_EQ(lone_start(&l, 53, 0), 0);
    hn_net *n = l.n;
    fake_udpt *f = &l.f;
    f->error = 1;
    hn_tor *ht = l.ht;
    run(n, f, 5 * SEC);
    pf__tracker *tr = &ht->t->trackers[0];
    CHECK(f->announces >= 1);
    CHECK(tr->fails >= 1);
    CHECK(!tr->busy);
    /* A datagram from elsewhere, or with another transaction id, is not a
     * reply: dropped. */
    uint8_t junk[16] = {0};
    CHECK_EQ(pf_session_recv_datagram(l.a->s, &f->addr, junk, sizeof junk, n->now), PF_ERR_UNSUPPORTED);
    lone_free(&l);
}

TEST_MAIN(udpt_requests_layout, udpt_replies, udpt_server_codec, udpt_swarm_finds_itself, udpt_silent_tracker_is_given_up,
          udpt_sole_tracker_backs_off_as_bep15_says, udpt_sole_tracker_backs_off_across_connection_ids,
          udpt_error_reply_moves_on)
