/* The tracker core's BEP 15 front (pf_tracker_handle_udp): connection ids
 * (stateless, bound to the address, rotating), announces over IPv4 and
 * IPv6 (6- and 18-byte peers), scrapes, errors, the swarms, limits, rate
 * limit and trusted-proxy rules it shares with HTTP, and datagrams that
 * are not well-formed.  Fake clock; requests made by the client codec. */
#include "core/codec/http_parse.h"
#include "core/codec/udp_tracker.h"
#include "core/tracker/connid.h"
#include "core/tracker/tracker.h"
#include "test.h"

#define S (UINT64_C(1000000000))
#define T0 (1000 * S)

static pf_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
    pf_addr x;
    memset(&x, 0, sizeof x);
    x.family = 4;
    x.ip[0] = a, x.ip[1] = b, x.ip[2] = c, x.ip[3] = d;
    x.port = port;
    return x;
}

static pf_addr v6(uint16_t last, uint16_t port)
{
    pf_addr x;
    memset(&x, 0, sizeof x);
    x.family = 6;
    x.ip[0] = 0x20, x.ip[1] = 0x01, x.ip[2] = 0x0d, x.ip[3] = 0xb8;
    x.ip[14] = (uint8_t)(last >> 8), x.ip[15] = (uint8_t)last;
    x.ip[6] = x.ip[14], x.ip[7] = x.ip[15]; /* a /64 of its own */
    x.port = port;
    return x;
}

static pf_tracker *mk(uint64_t seed)
{
    pf_tracker_config c;
    pf_tracker_config_default(&c);
    c.interval_s = 120;
    c.seed = seed;
    return pf_tracker_new(&c);
}

static uint8_t out[PF_TRACKER_UDP_REPLY_MAX];

/* The reply to one datagram, parsed for a tracker of from's family;
 * returns its length (0: none). */
static size_t send_dg(pf_tracker *t, const pf_addr *from, const uint8_t *d, size_t n, uint64_t now,
                      pf_udpt_reply *r)
{
    size_t len = pf_tracker_handle_udp(t, from, d, n, now, out, sizeof out);
    memset(r, 0, sizeof *r);
    if (len && pf_udpt_parse(out, len, from->family == 6 ? 6 : 4, r) != 0) r->action = -1;
    return len;
}

static uint64_t connect_id(pf_tracker *t, const pf_addr *from, uint64_t now)
{
    uint8_t req[PF_UDPT_CONNECT_LEN];
    pf_udpt_reply r;
    pf_udpt_connect_req(req, 0x1234);
    if (send_dg(t, from, req, sizeof req, now, &r) != 16 || r.action != PF_UDPT_CONNECT ||
        r.tid != 0x1234)
        return 0;
    return r.conn_id;
}

static void hash_of(uint8_t h[20], int n)
{
    memset(h, 0xee, 20);
    h[0] = (uint8_t)n;
    h[1] = (uint8_t)(n >> 8);
}

static void req_of(pf_announce_req *q, int ih, int pid, uint16_t port, uint64_t left, int event)
{
    memset(q, 0, sizeof *q);
    hash_of(q->info_hash, ih);
    memset(q->peer_id, 'p', 20);
    q->peer_id[0] = (uint8_t)pid;
    q->peer_id[1] = (uint8_t)(pid >> 8);
    q->port = port;
    q->left = left;
    q->event = event;
    q->numwant = UINT32_MAX; /* -1: the tracker's default */
}

/* connect + announce from `from`; the reply parsed into r; its length. */
static size_t announce(pf_tracker *t, const pf_addr *from, uint64_t now, const pf_announce_req *q,
                       pf_udpt_reply *r)
{
    uint64_t id = connect_id(t, from, now);
    uint8_t req[PF_UDPT_ANNOUNCE_LEN];
    pf_udpt_announce_req(req, id, 77, q);
    return send_dg(t, from, req, sizeof req, now, r);
}

/* An HTTP announce of torrent n (hash_of) from `from` at T0: its status,
 * the reply in *body. */
static int http_announce(pf_tracker *t, int n, const char *peer_id, uint16_t port, uint64_t left,
                         const pf_addr *from, pf_buf *body)
{
    uint8_t h[20];
    hash_of(h, n);
    pf_buf qs;
    pf_buf_init(&qs);
    pf_buf_append_str(&qs, "info_hash=");
    pf_http_pct_encode(&qs, h, 20);
    pf_buf_appendf(&qs, "&peer_id=%s&port=%u&left=%llu", peer_id, port, (unsigned long long)left);
    pf_buf_nul(&qs);
    int st = pf_tracker_handle_http(t, "/announce", (char *)qs.data, from, T0, body);
    pf_buf_free(&qs);
    return st;
}

TEST(udp_two_peers_see_each_other)
{
    pf_tracker *t = mk(1);
    pf_addr a = v4(10, 0, 0, 1, 40000), b = v4(10, 0, 0, 2, 40001);
    pf_announce_req q;
    pf_udpt_reply r;
    req_of(&q, 1, 1, 6881, 0, PF_ANNOUNCE_STARTED);
    CHECK_EQ(announce(t, &a, T0, &q, &r), 20);
    CHECK_EQ(r.action, PF_UDPT_ANNOUNCE);
    CHECK_EQ(r.tid, 77);
    CHECK_EQ(r.interval, 120);
    CHECK_EQ(r.seeders, 1);
    CHECK_EQ(r.leechers, 0);
    CHECK_EQ(r.npeers, 0); /* never the announcer itself */
    req_of(&q, 1, 2, 7000, 100, PF_ANNOUNCE_STARTED);
    CHECK_EQ(announce(t, &b, T0 + S, &q, &r), 26);
    CHECK_EQ(r.seeders, 1);
    CHECK_EQ(r.leechers, 1);
    CHECK_EQ(r.npeers, 1);
    pf_addr p;
    pf_udpt_peer(&r, 0, &p);
    /* the datagram's source address, the announced port */
    CHECK_MEM(p.ip, "\x0a\x00\x00\x01", 4);
    CHECK_EQ(p.port, 6881);
    /* completed: the leecher is a seeder now, and counted */
    req_of(&q, 1, 2, 7000, 0, PF_ANNOUNCE_COMPLETED);
    CHECK_EQ(announce(t, &b, T0 + 2 * S, &q, &r), 26);
    CHECK_EQ(r.seeders, 2);
    /* stopped: gone, and no peers in that reply */
    req_of(&q, 1, 2, 7000, 0, PF_ANNOUNCE_STOPPED);
    CHECK_EQ(announce(t, &b, T0 + 3 * S, &q, &r), 20);
    CHECK_EQ(r.seeders, 1);
    pf_tracker_stats st;
    pf_tracker_stats_get(t, &st);
    CHECK_EQ(st.peers, 1);
    CHECK_EQ(st.completed, 1);
    CHECK_EQ(st.announces, 4);
    CHECK_EQ(st.udp_connects, 4);
    CHECK_EQ(st.udp_datagrams, 8);
    CHECK_EQ(st.udp_errors, 0);
    pf_tracker_free(t);
}

TEST(udp_ipv6_peers_are_18_bytes)
{
    pf_tracker *t = mk(2);
    pf_announce_req q;
    pf_udpt_reply r;
    /* a v4 peer and two v6 peers in one swarm */
    pf_addr a4 = v4(10, 0, 0, 1, 1), a6 = v6(1, 1), b6 = v6(2, 1);
    req_of(&q, 1, 1, 1111, 0, 0);
    CHECK(announce(t, &a4, T0, &q, &r) > 0);
    req_of(&q, 1, 2, 2222, 0, 0);
    CHECK(announce(t, &a6, T0, &q, &r) > 0);
    req_of(&q, 1, 3, 3333, 5, 0);
    CHECK_EQ(announce(t, &b6, T0, &q, &r), 20 + 18);
    CHECK_EQ(r.action, PF_UDPT_ANNOUNCE);
    CHECK_EQ(r.npeers, 1); /* the v6 one only: an IPv6 tracker sends 18-byte peers */
    CHECK_EQ(r.seeders, 2);
    CHECK_EQ(r.leechers, 1);
    pf_addr p;
    pf_udpt_peer(&r, 0, &p);
    CHECK_EQ(p.family, 6);
    CHECK_EQ(p.ip[15], 1);
    CHECK_EQ(p.port, 2222);
    /* and an IPv4 announcer gets the IPv4 peer only */
    pf_addr c4 = v4(10, 0, 0, 3, 1);
    req_of(&q, 1, 4, 4444, 5, 0);
    CHECK_EQ(announce(t, &c4, T0, &q, &r), 20 + 6);
    pf_udpt_peer(&r, 0, &p);
    CHECK_EQ(p.family, 4);
    CHECK_EQ(p.port, 1111);
    /* a v4-mapped source (a dual-stack socket) is that IPv4 address */
    pf_addr m;
    memset(&m, 0, sizeof m);
    m.family = 6;
    m.ip[10] = m.ip[11] = 0xff;
    m.ip[12] = 10, m.ip[15] = 1;
    m.port = 9;
    req_of(&q, 1, 1, 1111, 0, 0); /* a4 again, through the mapped address */
    CHECK_EQ(announce(t, &m, T0, &q, &r), 20 + 6);
    pf_tracker_stats st;
    pf_tracker_stats_get(t, &st);
    CHECK_EQ(st.peers, 4);
    pf_tracker_free(t);
}

TEST(udp_connection_ids)
{
    pf_tracker *t = mk(3);
    pf_addr a = v4(10, 0, 0, 1, 5000), b = v4(10, 0, 0, 2, 5000);
    uint64_t id = connect_id(t, &a, T0);
    CHECK(id != 0);
    /* stateless: the same address gets the same id within the minute
     * (another port too), another address another one */
    pf_addr a2 = a;
    a2.port = 5001;
    CHECK(connect_id(t, &a2, T0 + S) == id);
    CHECK(connect_id(t, &b, T0) != id);
    pf_announce_req q;
    req_of(&q, 1, 1, 6881, 0, 0);
    uint8_t req[PF_UDPT_ANNOUNCE_LEN];
    pf_udpt_reply r;
    /* another address's id is refused with an error */
    pf_udpt_announce_req(req, id, 5, &q);
    CHECK(send_dg(t, &b, req, sizeof req, T0, &r) > 8);
    CHECK_EQ(r.action, PF_UDPT_ERROR);
    CHECK_EQ(r.tid, 5);
    CHECK(strstr(r.error, "connection id") != NULL);
    /* accepted for two minutes after it was handed out at the latest
     * moment of its minute... */
    uint64_t late = (T0 / (60 * S) + 1) * 60 * S - 1; /* the last ns of a slot */
    uint64_t id_late = connect_id(t, &a, late);
    pf_udpt_announce_req(req, id_late, 6, &q);
    CHECK_EQ(send_dg(t, &a, req, sizeof req, late + 120 * S, &r), 20);
    CHECK_EQ(r.action, PF_UDPT_ANNOUNCE);
    /* ...and refused once three minutes have passed */
    CHECK(send_dg(t, &a, req, sizeof req, late + 181 * S, &r) > 8);
    CHECK_EQ(r.action, PF_UDPT_ERROR);
    /* the secret rotates: the id of the same address changes */
    CHECK(connect_id(t, &a, late + 181 * S) != id_late);
    /* a tracker with another secret (a restart) refuses the old id */
    pf_tracker *t2 = mk(4);
    pf_udpt_announce_req(req, id, 7, &q);
    CHECK(send_dg(t2, &a, req, sizeof req, T0, &r) > 8);
    CHECK_EQ(r.action, PF_UDPT_ERROR);
    pf_tracker_stats st;
    pf_tracker_stats_get(t2, &st);
    CHECK_EQ(st.udp_bad_connid, 1);
    CHECK_EQ(st.peers, 0);
    pf_tracker_stats_get(t, &st);
    CHECK_EQ(st.udp_bad_connid, 2);
    CHECK_EQ(st.announces, 1);
    pf_tracker_free(t2);
    /* from the config's secret, not the seed, when one is given */
    pf_tracker_config c;
    pf_tracker_config_default(&c);
    c.seed = 3;
    memset(c.udp_secret, 0x5a, 16);
    t2 = pf_tracker_new(&c);
    CHECK(connect_id(t2, &a, T0) != id);
    pf_tracker_free(t2);
    pf_tracker_free(t);
}

TEST(udp_connid_rotation)
{
    /* the generator behind the ids: secrets kept for three slots, every
     * one dropped after a long silence, a clock going back harmless */
    uint8_t seed[16] = {1, 2, 3};
    pf__connid c;
    pf__connid_init(&c, seed, 0);
    pf_addr a = v4(192, 0, 2, 1, 0);
    uint64_t slot = PF_CONNID_SLOT_S * S;
    uint64_t id0 = pf__connid_make(&c, &a, 10 * S);
    CHECK(pf__connid_check(&c, &a, id0, 10 * S));
    CHECK(pf__connid_check(&c, &a, id0, 2 * slot + 10 * S));
    CHECK(!pf__connid_check(&c, &a, id0, 3 * slot));
    uint64_t id3 = pf__connid_make(&c, &a, 3 * slot);
    CHECK(id3 != id0);
    CHECK(pf__connid_check(&c, &a, id3, S)); /* back in time: still the same secrets */
    CHECK(!pf__connid_check(&c, &a, id3, 100 * slot));
    CHECK(!pf__connid_check(&c, &a, id3 ^ 1, 3 * slot));
    /* SipHash-2-4: the reference vector (key 00..0f, message 00..07) */
    uint64_t k[2] = {UINT64_C(0x0706050403020100), UINT64_C(0x0f0e0d0c0b0a0908)};
    uint64_t w = UINT64_C(0x0706050403020100);
    CHECK(pf__siphash24(k, &w, 1) == UINT64_C(0x93f5f5799a932462));
}

TEST(udp_ip_field_ignored_even_from_trusted)
{
    pf_tracker_config c;
    pf_tracker_config_default(&c);
    c.seed = 5;
    pf_net nets[1];
    CHECK_EQ(pf__cidr_parse("10.0.0.0/8", 10, &nets[0]), 0);
    c.trusted_proxies = nets;
    c.num_trusted_proxies = 1;
    pf_tracker *t = pf_tracker_new(&c);
    pf_addr a = v4(10, 0, 0, 1, 1), b = v4(192, 0, 2, 9, 1);
    pf_announce_req q;
    pf_udpt_reply r;
    req_of(&q, 1, 1, 6881, 0, 0);
    uint64_t id = connect_id(t, &a, T0);
    uint8_t req[PF_UDPT_ANNOUNCE_LEN];
    pf_udpt_announce_req(req, id, 1, &q);
    pf_wr_be32(req + 84, 0x01020304); /* ip: 1.2.3.4 */
    CHECK_EQ(send_dg(t, &a, req, sizeof req, T0, &r), 20);
    req_of(&q, 1, 2, 6882, 5, 0);
    CHECK_EQ(announce(t, &b, T0, &q, &r), 26);
    pf_addr p;
    pf_udpt_peer(&r, 0, &p);
    CHECK_MEM(p.ip, "\x0a\x00\x00\x01", 4); /* where it came from, not 1.2.3.4 */
    pf_tracker_free(t);
}

TEST(udp_not_well_formed_gets_no_reply)
{
    pf_tracker *t = mk(6);
    pf_addr a = v4(10, 0, 0, 1, 1);
    pf_udpt_reply r;
    uint8_t d[200];
    memset(d, 0, sizeof d);
    CHECK_EQ(send_dg(t, &a, d, 0, T0, &r), 0);
    CHECK_EQ(send_dg(t, &a, d, 15, T0, &r), 0);
    CHECK_EQ(send_dg(t, &a, d, 16, T0, &r), 0); /* a connect without the protocol id */
    pf_udpt_connect_req(d, 1);
    CHECK_EQ(send_dg(t, &a, d, 16, T0, &r), 16);
    CHECK_EQ(send_dg(t, &a, d, 15, T0, &r), 0);
    uint64_t id = connect_id(t, &a, T0);
    pf_announce_req q;
    req_of(&q, 1, 1, 6881, 0, 0);
    pf_udpt_announce_req(d, id, 9, &q);
    CHECK_EQ(send_dg(t, &a, d, 97, T0, &r), 0); /* a short announce */
    CHECK_EQ(send_dg(t, &a, d, 120, T0, &r), 20); /* BEP 41 options after it: fine */
    pf_wr_be32(d + 8, 7);                         /* an unknown action */
    CHECK_EQ(send_dg(t, &a, d, 98, T0, &r), 0);
    pf_wr_be32(d + 8, PF_UDPT_SCRAPE); /* a scrape without a whole hash */
    CHECK_EQ(send_dg(t, &a, d, 16 + 19, T0, &r), 0);
    /* no address family (a caller's bug) */
    pf_addr none;
    memset(&none, 0, sizeof none);
    pf_udpt_connect_req(d, 1);
    CHECK_EQ(send_dg(t, &none, d, 16, T0, &r), 0);
    /* port 0: an error reply, nothing stored */
    req_of(&q, 1, 1, 0, 0, 0);
    CHECK(announce(t, &a, T0, &q, &r) > 8);
    CHECK_EQ(r.action, PF_UDPT_ERROR);
    CHECK(strstr(r.error, "port") != NULL);
    pf_tracker_stats st;
    pf_tracker_stats_get(t, &st);
    CHECK_EQ(st.udp_malformed, 8);
    CHECK_EQ(st.udp_errors, 1);
    CHECK_EQ(st.peers, 1);
    /* arbitrary bytes, never a crash; replies never exceed the buffer */
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 20000; i++) {
        size_t n = (size_t)(x % sizeof d);
        for (size_t k = 0; k < n; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            d[k] = (uint8_t)x;
        }
        if (i % 3 == 0 && n >= 16) { /* a valid id and action now and then */
            pf_wr_be32(d + 8, (uint32_t)(x % 4));
            uint64_t cid = connect_id(t, &a, T0);
            for (int k = 0; k < 8; k++) d[k] = (uint8_t)(cid >> (56 - 8 * k));
        }
        size_t len = pf_tracker_handle_udp(t, &a, d, n, T0, out, sizeof out);
        CHECK(len <= sizeof out);
    }
    pf_tracker_free(t);
}

TEST(udp_scrape_shares_http_swarms)
{
    pf_tracker *t = mk(7);
    pf_addr a = v4(10, 0, 0, 1, 1), b = v6(7, 1);
    pf_announce_req q;
    pf_udpt_reply r;
    req_of(&q, 1, 1, 6881, 0, 0);
    CHECK(announce(t, &a, T0, &q, &r) > 0);
    req_of(&q, 1, 2, 6882, 9, 0);
    CHECK(announce(t, &b, T0, &q, &r) > 0);
    /* an HTTP announce of the same torrent joins the same swarm */
    pf_buf body;
    pf_buf_init(&body);
    pf_addr c = v4(10, 0, 0, 3, 0);
    CHECK_EQ(http_announce(t, 1, "hhhhhhhhhhhhhhhhhhhh", 7777, 3, &c, &body), 200);
    pf_announce_resp hr;
    CHECK_EQ(pf_announce_resp_parse(body.data, body.len, NULL, &hr), 0);
    CHECK_EQ(hr.num_peers, 2); /* the two UDP peers */
    pf_announce_resp_clear(&hr);
    /* scrape three hashes, one unknown, in the order asked */
    uint8_t ihs[3][20];
    hash_of(ihs[0], 2);
    hash_of(ihs[1], 1);
    hash_of(ihs[2], 1);
    uint8_t req[16 + 20 * PF_UDPT_SCRAPE_MAX + 40];
    uint64_t id = connect_id(t, &a, T0);
    size_t n = pf_udpt_scrape_req(req, sizeof req, id, 3, (const uint8_t(*)[20])ihs, 3);
    CHECK_EQ(n, 76);
    CHECK_EQ(send_dg(t, &a, req, n, T0, &r), 8 + 36);
    CHECK_EQ(r.action, PF_UDPT_SCRAPE);
    CHECK_EQ(r.nscrape, 3);
    uint32_t se, co, le;
    pf_udpt_scrape_entry(&r, 0, &se, &co, &le);
    CHECK(se == 0 && co == 0 && le == 0);
    pf_udpt_scrape_entry(&r, 1, &se, &co, &le);
    CHECK(se == 1 && co == 0 && le == 2);
    pf_udpt_scrape_entry(&r, 2, &se, &co, &le);
    CHECK(se == 1 && le == 2);
    /* more than 74 hashes: the first 74 are answered */
    memset(req + 16, 0x11, 20 * PF_UDPT_SCRAPE_MAX + 40);
    CHECK_EQ(send_dg(t, &a, req, sizeof req, T0, &r), 8 + 12 * PF_UDPT_SCRAPE_MAX);
    pf_tracker_stats st;
    pf_tracker_stats_get(t, &st);
    CHECK_EQ(st.scrapes, 2);
    CHECK_EQ(st.peers, 3);
    pf_buf_free(&body);
    pf_tracker_free(t);
}

TEST(udp_numwant_and_datagram_size)
{
    pf_tracker *t = mk(8);
    pf_announce_req q;
    pf_udpt_reply r;
    /* 300 v4 and 300 v6 peers, through HTTP for speed */
    for (int i = 0; i < 600; i++) {
        char id[21];
        snprintf(id, sizeof id, "%020d", i);
        pf_buf body;
        pf_buf_init(&body);
        pf_addr x = i < 300 ? v4(10, 1, (uint8_t)(i >> 8), (uint8_t)i, 0) : v6((uint16_t)i, 0);
        CHECK_EQ(http_announce(t, 1, id, (uint16_t)(1000 + i), 5, &x, &body), 200);
        pf_buf_free(&body);
    }
    pf_addr a = v4(10, 9, 0, 1, 1), b = v6(9999, 1);
    req_of(&q, 1, 5000, 5000, 5, 0);
    CHECK_EQ(announce(t, &a, T0, &q, &r), 20 + 6 * 50); /* -1: the default, 50 */
    q.numwant = 1000;
    CHECK_EQ(announce(t, &a, T0, &q, &r), 20 + 6 * 200); /* numwant_max */
    int low = 0, dup = 0;
    for (size_t i = 0; i < r.npeers; i++) {
        pf_addr p, o;
        pf_udpt_peer(&r, i, &p);
        low += p.ip[2] == 0 && p.ip[3] < 200;
        CHECK(p.ip[1] == 1); /* never the announcer */
        for (size_t k = 0; k < i; k++) {
            pf_udpt_peer(&r, k, &o);
            dup += pf_addr_eq(&p, &o);
        }
    }
    CHECK(low < 200); /* not a fixed prefix */
    CHECK_EQ(dup, 0);
    q.numwant = 0;
    CHECK_EQ(announce(t, &a, T0, &q, &r), 20);
    q.numwant = 1000;
    req_of(&q, 1, 5001, 5001, 5, 0);
    q.numwant = 1000;
    CHECK_EQ(announce(t, &b, T0, &q, &r), 20 + 18 * 79); /* one unfragmented datagram */
    CHECK(20 + 18 * 79 + 40 + 8 <= 1500);
    /* a smaller buffer gets fewer peers, never an overflow */
    uint8_t small[64];
    uint64_t id = connect_id(t, &a, T0);
    uint8_t req[PF_UDPT_ANNOUNCE_LEN];
    pf_udpt_announce_req(req, id, 1, &q);
    CHECK_EQ(pf_tracker_handle_udp(t, &a, req, sizeof req, T0, small, sizeof small), 20 + 6 * 7);
    pf_tracker_free(t);
}

/* Peers are handed out fairly: over many announces each peer of a 301-peer
 * swarm comes about numwant / 300 of the time, never twice in a reply. */
TEST(udp_peer_selection_is_fair)
{
    pf_tracker *t = mk(10);
    static uint32_t seen[301];
    memset(seen, 0, sizeof seen);
    pf_announce_req q;
    pf_udpt_reply r;
    pf_addr me = v4(10, 9, 9, 9, 1);
    for (int i = 0; i < 301; i++) {
        pf_addr x = v4(10, 1, (uint8_t)(i >> 8), (uint8_t)i, 1);
        req_of(&q, 1, i, (uint16_t)(1000 + i), 5, 0);
        CHECK(announce(t, &x, T0, &q, &r) > 0);
    }
    req_of(&q, 1, 999, 999, 5, 0);
    q.numwant = 50;
    for (int k = 0; k < 3000; k++) { /* 5 a second: under the rate limit */
        CHECK_EQ(announce(t, &me, T0 + (uint64_t)k * S / 5, &q, &r), 20 + 6 * 50);
        uint8_t once[301];
        memset(once, 0, sizeof once);
        for (size_t i = 0; i < r.npeers; i++) {
            pf_addr p;
            pf_udpt_peer(&r, i, &p);
            int idx = p.port - 1000;
            CHECK(idx >= 0 && idx < 301);
            CHECK(!once[idx]);
            once[idx] = 1;
            seen[idx]++;
        }
    }
    /* 3000 x 50 / 301 = 498 each on average */
    for (int i = 0; i < 301; i++) CHECK(seen[i] > 350 && seen[i] < 650);
    pf_tracker_free(t);
}

TEST(udp_limits_and_rate_limit)
{
    pf_tracker_config c;
    pf_tracker_config_default(&c);
    c.seed = 9;
    c.max_torrents = 1;
    c.ip_rate_per_min = 60;
    c.ip_burst = 4;
    pf_tracker *t = pf_tracker_new(&c);
    pf_addr a = v4(10, 0, 0, 1, 1), b = v4(10, 0, 0, 2, 1);
    pf_announce_req q;
    pf_udpt_reply r;
    req_of(&q, 1, 1, 6881, 0, 0);
    CHECK_EQ(announce(t, &a, T0, &q, &r), 20);
    req_of(&q, 2, 1, 6881, 0, 0); /* a second torrent: the tracker is full */
    CHECK(announce(t, &a, T0, &q, &r) > 8);
    CHECK_EQ(r.action, PF_UDPT_ERROR);
    CHECK_STR(r.error, "tracker full: too many torrents");
    /* the burst of 4 is spent (2 announces above, 2 more now); connects
     * are not limited (spoofable, and they cost nothing) */
    req_of(&q, 1, 1, 6881, 0, 0);
    CHECK_EQ(announce(t, &a, T0, &q, &r), 20);
    CHECK_EQ(announce(t, &a, T0, &q, &r), 20);
    CHECK(announce(t, &a, T0, &q, &r) > 8);
    CHECK_EQ(r.action, PF_UDPT_ERROR);
    CHECK_STR(r.error, "rate limit exceeded");
    CHECK(connect_id(t, &a, T0) != 0);
    /* another source is not affected; a second later one more passes */
    CHECK_EQ(announce(t, &b, T0, &q, &r), 26);
    CHECK_EQ(announce(t, &a, T0 + S, &q, &r), 26);
    /* HTTP and UDP draw on the same bucket */
    pf_buf body;
    pf_buf_init(&body);
    CHECK_EQ(pf_tracker_handle_http(t, "/scrape", "", &a, T0 + S, &body), 200);
    CHECK(memmem(body.data, body.len, "rate limit exceeded", 19) != NULL);
    pf_buf_free(&body);
    pf_tracker_stats st;
    pf_tracker_stats_get(t, &st);
    CHECK_EQ(st.rate_limited, 2);
    CHECK_EQ(st.refused, 1);
    pf_tracker_free(t);
}

TEST_MAIN(udp_two_peers_see_each_other, udp_ipv6_peers_are_18_bytes, udp_connection_ids,
          udp_connid_rotation, udp_ip_field_ignored_even_from_trusted,
          udp_not_well_formed_gets_no_reply, udp_scrape_shares_http_swarms,
          udp_numwant_and_datagram_size, udp_peer_selection_is_fair, udp_limits_and_rate_limit)
