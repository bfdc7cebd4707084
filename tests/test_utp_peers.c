/* uTP as a peer's transport (core/swarm/utp_link.c): peers that reach each
 * other only through the session's datagrams (the harness's virtual UDP
 * network carries them), the connection policy when both transports are
 * on, and a stream played from a uTP peer beside a CDN.  Fake clock. */
#include "engine_harness.h"
#include "test.h"

#include "core/swarm/swarm.h" /* white-box: each peer's transport */
#include "core/utp/utp_int.h"   /* white-box: a connection's id */

#define SEC PF_NS_PER_SEC
#define MS PF_NS_PER_MS

static hn_node *node(hn_net *n, uint32_t transports, int prefer_utp)
{
    pf_session_settings set;
    pf_session_settings_default(&set);
    set.transports = transports;
    set.prefer_utp = prefer_utp;
    return hn_add_node(n, &set);
}

static uint32_t peers_by(const pf_torrent *t, int transport)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < t->npeers; i++)
        k += t->peers[i]->transport == transport && t->peers[i]->state == PF_PS_ACTIVE;
    return k;
}

TEST(utp_peers_trade_a_torrent)
{
    hn_content c;
    CHECK_EQ(hn_content_make(&c, 3 * 1024 * 1024 + 333, 65536, 61, NULL), 0);
    hn_net *n = hn_new(61);
    hn_node *a = node(n, PF_TRANSPORTS_UTP, 0), *b = node(n, PF_TRANSPORTS_UTP, 0);
    CHECK(a && b);
    hn_tor *seed = hn_add_torrent(a, &c, HN_FULL, NULL);
    hn_tor *leech = hn_add_torrent(b, &c, HN_EMPTY, NULL);
    CHECK(seed && leech);
    hn_settle(n);
    hn_add_peer(leech, a);
    hn_tor *all[] = {leech, NULL};
    int ok = hn_run_until(n, hn_pred_all_complete, all, 60 * SEC);
    CHECK(ok);
    CHECK_MEM(leech->data, c.data, c.size);
    CHECK(b->dgrams_out > 0 && a->dgrams_out > 0);
    CHECK_EQ(n->nlinks, 0); /* not one TCP connection */
    pf_torrent_stats st;
    pf_torrent_get_stats(leech->t, &st);
    CHECK_EQ(st.downloaded, c.size);
    CHECK_EQ(st.hash_failures, 0);
    CHECK_EQ(n->anomalies, 0);
    hn_free(n);
    hn_content_free(&c);
}

TEST(utp_both_transports_keep_one_connection)
{
    hn_content c;
    CHECK_EQ(hn_content_make(&c, 1024 * 1024, 65536, 62, NULL), 0);
    hn_net *n = hn_new(62);
    uint32_t both = PF_TRANSPORTS_TCP | PF_TRANSPORTS_UTP;
    hn_node *a = node(n, both, 1), *b = node(n, both, 1);
    pf_session_set_rate_limits(b->s, 0, 100 * 1000); /* ten seconds: time to look */
    hn_tor *seed = hn_add_torrent(a, &c, HN_FULL, NULL);
    hn_tor *leech = hn_add_torrent(b, &c, HN_EMPTY, NULL);
    CHECK(seed && leech);
    hn_settle(n);
    pf_torrent_add_peer(leech->t, &(pf_endpoint){.addr = a->addr, .transport = PF_TRANSPORT_ANY}, n->now);
    for (int i = 0; i < 8; i++) hn_step(n);
    /* Dialled both ways at once; one connection stays, and it is uTP. */
    CHECK_EQ(peers_by(leech->t, PF_TRANSPORT_UTP), 1);
    CHECK_EQ(peers_by(leech->t, PF_TRANSPORT_TCP), 0);
    hn_tor *all[] = {leech, NULL};
    CHECK(hn_run_until(n, hn_pred_all_complete, all, 60 * SEC));
    CHECK_MEM(leech->data, c.data, c.size);
    CHECK_EQ(n->anomalies, 0);
    hn_free(n);
    hn_content_free(&c);
}

TEST(utp_peer_without_utp_is_reached_by_tcp)
{
    /* The seed speaks TCP only: the leecher's uTP dial finds nobody, its
     * TCP dial carries the torrent, and uTP is not tried again. */
    hn_content c;
    CHECK_EQ(hn_content_make(&c, 1024 * 1024, 65536, 63, NULL), 0);
    hn_net *n = hn_new(63);
    hn_node *a = node(n, PF_TRANSPORTS_TCP, 0), *b = node(n, PF_TRANSPORTS_TCP | PF_TRANSPORTS_UTP, 1);
    hn_tor *seed = hn_add_torrent(a, &c, HN_FULL, NULL);
    hn_tor *leech = hn_add_torrent(b, &c, HN_EMPTY, NULL);
    CHECK(seed && leech);
    hn_settle(n);
    pf_torrent_add_peer(leech->t, &(pf_endpoint){.addr = a->addr, .transport = PF_TRANSPORT_ANY}, n->now);
    hn_tor *all[] = {leech, NULL};
    CHECK(hn_run_until(n, hn_pred_all_complete, all, 60 * SEC));
    CHECK_MEM(leech->data, c.data, c.size);
    CHECK_EQ(peers_by(leech->t, PF_TRANSPORT_UTP), 0);
    CHECK_EQ(n->anomalies, 0);
    hn_free(n);
    hn_content_free(&c);
}

TEST(utp_peer_streams_beside_a_cdn)
{
    hn_content c;
    CHECK_EQ(hn_content_make(&c, 4000003, 65536, 64, NULL), 0);
    hn_net *n = hn_new(64);
    hn_node *a = node(n, PF_TRANSPORTS_UTP, 0), *v = node(n, PF_TRANSPORTS_UTP, 0);
    a->up_bps = 1000 * 1000;
    v->cdn.mode = HN_CDN_OK;
    v->cdn.latency_ns = 30 * MS;
    v->cdn.rate_bps = 4 * 1000 * 1000;
    hn_tor *seed = hn_add_torrent(a, &c, HN_FULL, NULL);
    hn_tor *view = hn_add_torrent(v, &c, HN_EMPTY, NULL);
    CHECK(seed && view);
    CHECK_EQ(pf_torrent_add_webseed(view->t, "http://cdn.test/v/content.bin", 1.0), 0);
    CHECK_EQ(hn_cdn_add_file(n, "http://cdn.test/v/content.bin", c.data, c.size, 0), 0);
    hn_settle(n);
    hn_add_peer(view, a);
    hn_player pl;
    memset(&pl, 0, sizeof pl);
    CHECK_EQ(hn_player_open(&pl, view, 0, 0, 200000.0, c.data), 0);
    uint64_t end = n->now + 60 * SEC;
    while (!pl.done && n->now < end) {
        hn_step(n);
        hn_player_step(&pl);
    }
    CHECK(pl.done);
    CHECK_EQ(pl.mismatches, 0);
    CHECK_EQ(pl.stalls, 0);
    pf_torrent_stats st;
    pf_torrent_get_stats(view->t, &st);
    /* The uTP peer carried most of it; the CDN the start-up and little else. */
    CHECK(st.peer_downloaded > c.size / 2);
    hn_player_close(&pl);
    CHECK_EQ(n->anomalies, 0);
    hn_free(n);
    hn_content_free(&c);
}

/* Counters since the last snapshot. */
static pf_datagram_stats dg_delta(const pf_session *s, const pf_datagram_stats *before)
{
    pf_datagram_stats now;
    pf_session_datagram_stats(s, &now);
    now.received -= before->received;
    now.dropped_in -= before->dropped_in;
    now.dropped_out -= before->dropped_out;
    now.utp_invalid -= before->utp_invalid;
    return now;
}

/* Garbage and truncated uTP packets from the peer's own address, in the
 * middle of a transfer over uTP: dropped and counted (the public
 * counters), and the connection goes on to the end. */
TEST(utp_bad_datagrams_are_dropped_and_counted)
{
    hn_content c;
    CHECK_EQ(hn_content_make(&c, 2 * 1024 * 1024, 65536, 65, NULL), 0);
    hn_net *n = hn_new(65);
    hn_node *a = node(n, PF_TRANSPORTS_UTP, 0), *b = node(n, PF_TRANSPORTS_UTP, 0);
    pf_session_set_rate_limits(a->s, 256 * 1024, 0); /* 8 s for it all */
    hn_tor *seed = hn_add_torrent(a, &c, HN_FULL, NULL);
    hn_tor *leech = hn_add_torrent(b, &c, HN_EMPTY, NULL);
    CHECK(seed && leech);
    hn_settle(n);
    hn_add_peer(leech, a);
    pf_torrent_stats st;
    for (int i = 0; i < 40 * 4; i++) {
        hn_step(n);
        pf_torrent_get_stats(leech->t, &st);
        if (st.downloaded >= c.size / 4) break;
    }
    CHECK(st.downloaded >= c.size / 4 && st.downloaded < c.size);
    CHECK_EQ(leech->t->npeers, 1);
    pf_peer *p = leech->t->peers[0];
    CHECK(p->transport == PF_TRANSPORT_UTP && p->utp);
    uint16_t id = p->utp->recv_id;
    pf_datagram_stats d0;
    pf_session_datagram_stats(b->s, &d0);
    CHECK(d0.received > 0);
    CHECK_EQ(d0.utp_invalid, 0);

    /* Not uTP at all: claimed by nobody. */
    uint8_t junk[64];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)(i * 37 + 11);
    junk[0] = 0x00; /* version 0 */
    CHECK_EQ(pf_session_recv_datagram(b->s, &a->addr, junk, sizeof junk, n->now), PF_ERR_UNSUPPORTED);
    CHECK_EQ(pf_session_recv_datagram(b->s, &a->addr, NULL, 0, n->now), PF_ERR_PARSE);
    /* A uTP header cut short (under 20 bytes) is no uTP packet either. */
    uint8_t pkt[40];
    pf__utp_put_hdr(pkt, PF__UTP_DATA, id, 1, 0, 1 << 20, 1, 1);
    CHECK_EQ(pf_session_recv_datagram(b->s, &a->addr, pkt, 12, n->now), PF_ERR_UNSUPPORTED);
    /* The connection's id, then a SACK extension longer than what is
     * left; then an extension header cut in two: invalid uTP. */
    pkt[1] = PF__UTP_EXT_SACK;
    pkt[20] = 0;
    pkt[21] = 8;
    CHECK_EQ(pf_session_recv_datagram(b->s, &a->addr, pkt, 26, n->now), 0);
    CHECK_EQ(pf_session_recv_datagram(b->s, &a->addr, pkt, 21, n->now), 0);
    pf_datagram_stats d = dg_delta(b->s, &d0);
    CHECK_EQ(d.received, 5);
    CHECK_EQ(d.dropped_in, 3);
    CHECK_EQ(d.utp_invalid, 2);
    CHECK_EQ(d.dropped_out, 0);

    /* The transfer goes on to the end over the same connection. */
    hn_tor *all[] = {leech, NULL};
    CHECK(hn_run_until(n, hn_pred_all_complete, all, 60 * SEC));
    CHECK_MEM(leech->data, c.data, c.size);
    pf_utp_ctx_stats us;
    pf_utp_ctx_stats_get(a->s->utp, &us);
    CHECK_EQ(us.accepted, 1); /* no second connection was needed */
    pf_utp_ctx_stats_get(b->s->utp, &us);
    CHECK_EQ(us.resets_in, 0);
    CHECK_EQ(n->nlinks, 0);
    CHECK_EQ(n->anomalies, 0);
    hn_free(n);
    hn_content_free(&c);
}

TEST_MAIN(utp_peers_trade_a_torrent, utp_both_transports_keep_one_connection, utp_peer_without_utp_is_reached_by_tcp,
          utp_peer_streams_beside_a_cdn, utp_bad_datagrams_are_dropped_and_counted)
