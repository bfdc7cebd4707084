#include "core/codec/bencode.h"
#include "core/codec/http_parse.h"
#include "core/tracker/tracker.h"
#include "core/codec/tracker_proto.h"
#include "test.h"

#define S (UINT64_C(1000000000))

static pf_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    pf_addr x;
    memset(&x, 0, sizeof x);
    x.family = 4;
    x.ip[0] = a, x.ip[1] = b, x.ip[2] = c, x.ip[3] = d;
    return x;
}

static pf_addr v6_last(uint8_t last)
{
    pf_addr x;
    memset(&x, 0, sizeof x);
    x.family = 6;
    x.ip[0] = 0x20, x.ip[1] = 0x01, x.ip[15] = last;
    return x;
}

static void hash_of(uint8_t h[20], int n)
{
    memset(h, 0, 20);
    h[0] = (uint8_t)n; /* includes NUL bytes on purpose */
    h[19] = 0xff;
}

/* Announces and parses the reply; returns the HTTP status. */
static int announce(pf_tracker *t, const pf_addr *remote, uint64_t now, int ih, int pid,
                    uint16_t port, uint64_t left, const char *extra, pf_announce_resp *resp)
{
    uint8_t h[20], p[20];
    hash_of(h, ih);
    memset(p, 'p', 20);
    p[0] = (uint8_t)pid;
    p[1] = (uint8_t)(pid >> 8);
    pf_buf q, body;
    pf_buf_init(&q);
    pf_buf_init(&body);
    pf_buf_append_str(&q, "info_hash=");
    pf_http_pct_encode(&q, h, 20);
    pf_buf_append_str(&q, "&peer_id=");
    pf_http_pct_encode(&q, p, 20);
    pf_buf_appendf(&q, "&port=%u&left=%llu%s", port, (unsigned long long)left, extra ? extra : "");
    pf_buf_nul(&q);
    int st = pf_tracker_handle_http(t, "/announce", (char *)q.data, remote, now, &body);
    if (resp && pf_announce_resp_parse(body.data, body.len, NULL, resp) != 0) st = -1;
    pf_buf_free(&q);
    pf_buf_free(&body);
    return st;
}

static pf_tracker *mk(size_t max_torrents, size_t max_peers)
{
    pf_tracker_config c;
    pf_tracker_config_default(&c);
    c.interval_s = 100;
    c.seed = 42;
    if (max_torrents) c.max_torrents = max_torrents;
    if (max_peers) c.max_peers_per_torrent = max_peers;
    return pf_tracker_new(&c);
}

TEST(test_two_peers_see_each_other)
{
    pf_tracker *t = mk(0, 0);
    pf_addr a = v4(10, 0, 0, 1), b = v4(10, 0, 0, 2);
    pf_announce_resp r;
    CHECK_EQ(announce(t, &a, 1 * S, 1, 1, 1000, 5, "&event=started", &r), 200);
    CHECK_STR(r.failure, "");
    CHECK_EQ(r.num_peers, 0);
    CHECK_EQ(r.interval, 100);
    CHECK_EQ(r.incomplete, 1);
    pf_announce_resp_clear(&r);
    CHECK_EQ(announce(t, &b, 2 * S, 1, 2, 2000, 0, NULL, &r), 200);
    CHECK_EQ(r.num_peers, 1);
    CHECK_EQ(r.peers[0].port, 1000);
    CHECK_MEM(r.peers[0].ip, "\x0a\x00\x00\x01", 4);
    CHECK_EQ(r.complete, 1);
    CHECK_EQ(r.incomplete, 1);
    pf_announce_resp_clear(&r);
    CHECK_EQ(announce(t, &a, 3 * S, 1, 1, 1000, 5, NULL, &r), 200);
    CHECK_EQ(r.num_peers, 1);
    CHECK_EQ(r.peers[0].port, 2000);
    pf_announce_resp_clear(&r);
    pf_tracker_stats st;
    pf_tracker_stats_get(t, &st);
    CHECK_EQ(st.torrents, 1);
    CHECK_EQ(st.peers, 2);
    CHECK_EQ(st.seeders, 1);
    CHECK_EQ(st.leechers, 1);
    pf_tracker_free(t);
}

TEST(test_dict_model_and_peers6)
{
    pf_tracker *t = mk(0, 0);
    pf_addr a = v4(10, 0, 0, 1), b = v6_last(2), c = v4(10, 0, 0, 3);
    pf_announce_resp r;
    CHECK_EQ(announce(t, &a, S, 1, 1, 1000, 5, NULL, NULL), 200);
    CHECK_EQ(announce(t, &b, S, 1, 2, 2000, 5, NULL, NULL), 200);
    /* compact: v4 in peers, v6 in peers6 */
    CHECK_EQ(announce(t, &c, S, 1, 3, 3000, 5, NULL, &r), 200);
    CHECK_EQ(r.num_peers, 2);
    CHECK_EQ(r.peers[0].family, 4);
    CHECK_EQ(r.peers[1].family, 6);
    CHECK_EQ(r.peers[1].ip[15], 2);
    pf_announce_resp_clear(&r);
    /* dictionary model, with peer ids */
    uint8_t h[20], p[20];
    hash_of(h, 1);
    memset(p, 'z', 20);
    pf_buf q, body;
    pf_buf_init(&q);
    pf_buf_init(&body);
    pf_buf_append_str(&q, "info_hash=");
    pf_http_pct_encode(&q, h, 20);
    pf_buf_append_str(&q, "&peer_id=zzzzzzzzzzzzzzzzzzzz&port=4000&compact=0");
    pf_buf_nul(&q);
    CHECK_EQ(pf_tracker_handle_http(t, "/announce", (char *)q.data, &c, S, &body), 200);
    CHECK(memmem(body.data, body.len, "7:peer id20:", 12) != NULL);
    CHECK(memmem(body.data, body.len, "2:ip8:10.0.0.1", 14) != NULL);
    CHECK(memmem(body.data, body.len, "2:ip7:2001::2", 13) != NULL);
    CHECK(memmem(body.data, body.len, "peers6", 6) == NULL);
    CHECK_EQ(pf_announce_resp_parse(body.data, body.len, NULL, &r), 0);
    CHECK_EQ(r.num_peers, 3); /* a, b and c's other port */
    pf_announce_resp_clear(&r);
    pf_buf_reset(&body);
    pf_buf_append_str(&q, "&no_peer_id=1");
    q.data[q.len] = 0;
    CHECK_EQ(pf_tracker_handle_http(t, "/announce", (char *)q.data, &c, S, &body), 200);
    CHECK(memmem(body.data, body.len, "peer id", 7) == NULL);
    pf_buf_free(&q);
    pf_buf_free(&body);
    (void)p;
    pf_tracker_free(t);
}

TEST(test_stopped_completed_expiry)
{
    pf_tracker *t = mk(0, 0);
    pf_addr a = v4(10, 0, 0, 1), b = v4(10, 0, 0, 2);
    pf_announce_resp r;
    CHECK_EQ(announce(t, &a, 0, 1, 1, 1000, 5, NULL, NULL), 200);
    CHECK_EQ(announce(t, &b, 0, 1, 2, 2000, 5, NULL, NULL), 200);
    CHECK_EQ(announce(t, &a, S, 1, 1, 1000, 0, "&event=completed", &r), 200);
    CHECK_EQ(r.complete, 1);
    CHECK_EQ(r.incomplete, 1);
    pf_announce_resp_clear(&r);
    /* A repeated completed from a seed is not counted twice. */
    CHECK_EQ(announce(t, &a, S, 1, 1, 1000, 0, "&event=completed", NULL), 200);
    CHECK_EQ(announce(t, &b, S, 1, 2, 2000, 5, "&event=stopped", &r), 200);
    CHECK_EQ(r.num_peers, 0);
    CHECK_EQ(r.incomplete, 0);
    pf_announce_resp_clear(&r);
    pf_tracker_stats st;
    pf_tracker_stats_get(t, &st);
    CHECK_EQ(st.peers, 1);
    CHECK_EQ(st.completed, 2);
    /* scrape shows downloaded = 1 */
    pf_buf body;
    pf_buf_init(&body);
    CHECK_EQ(pf_tracker_handle_http(t, "/scrape", "", &a, S, &body), 200);
    pf_scrape_entry e[2];
    size_t n;
    CHECK_EQ(pf_scrape_resp_parse(body.data, body.len, e, 2, &n), 0);
    CHECK_EQ(n, 1);
    CHECK_EQ(e[0].downloaded, 1);
    CHECK_EQ(e[0].complete, 1);
    pf_buf_free(&body);
    /* a last seen at 1 s and never seen re-announcing without an event:
     * ttl = 2 * max(interval 100, client floor 300) = 600 s */
    CHECK_EQ(pf_tracker_expire(t, 601 * S), 0);
    CHECK_EQ(pf_tracker_expire(t, 602 * S), 1);
    pf_tracker_stats_get(t, &st);
    CHECK_EQ(st.peers, 0);
    CHECK_EQ(st.torrents, 0);
    CHECK_EQ(st.expired, 1);
    CHECK(pf_tracker_expire_period_ns(t) == 25 * S);
    pf_tracker_free(t);
}

TEST(test_bounds)
{
    pf_tracker *t = mk(2, 3);
    pf_announce_resp r;
    pf_addr a = v4(10, 0, 0, 1);
    CHECK_EQ(announce(t, &a, S, 1, 1, 1, 5, NULL, NULL), 200);
    CHECK_EQ(announce(t, &a, S, 2, 1, 1, 5, NULL, NULL), 200);
    CHECK_EQ(announce(t, &a, S, 3, 1, 1, 5, NULL, &r), 200);
    CHECK(strstr(r.failure, "too many torrents") != NULL);
    pf_announce_resp_clear(&r);
    /* peers per torrent: the oldest goes */
    for (int i = 0; i < 5; i++) {
        pf_addr x = v4(10, 1, 0, (uint8_t)i);
        CHECK_EQ(announce(t, &x, (uint64_t)(10 + i) * S, 1, 100 + i, 7000, 5, NULL, &r), 200);
        CHECK_STR(r.failure, "");
        pf_announce_resp_clear(&r);
    }
    pf_tracker_stats st;
    pf_tracker_stats_get(t, &st);
    CHECK_EQ(st.peers, 4); /* 3 in torrent 1 + 1 in torrent 2 */
    pf_addr y = v4(10, 9, 9, 9);
    CHECK_EQ(announce(t, &y, 20 * S, 1, 999, 7000, 5, "&numwant=10", &r), 200);
    CHECK_EQ(r.num_peers, 2); /* 10.1.0.3, 10.1.0.4 (after evicting .2) */
    for (size_t i = 0; i < r.num_peers; i++) CHECK(r.peers[i].ip[3] >= 3);
    pf_announce_resp_clear(&r);
    pf_tracker_free(t);
}

TEST(test_numwant_and_randomness)
{
    pf_tracker *t = mk(0, 0);
    for (int i = 0; i < 300; i++) {
        pf_addr x = v4(10, 2, (uint8_t)(i >> 8), (uint8_t)i);
        CHECK_EQ(announce(t, &x, S, 1, i, 6881, 5, NULL, NULL), 200);
    }
    pf_addr me = v4(10, 3, 0, 0);
    pf_announce_resp r;
    CHECK_EQ(announce(t, &me, S, 1, 5000, 1, 5, NULL, &r), 200);
    CHECK_EQ(r.num_peers, 50); /* default */
    pf_announce_resp_clear(&r);
    CHECK_EQ(announce(t, &me, S, 1, 5000, 1, 5, "&numwant=1000", &r), 200);
    CHECK_EQ(r.num_peers, 200); /* max */
    int low = 0; /* selection must not be a fixed prefix */
    for (size_t i = 0; i < r.num_peers; i++) low += r.peers[i].ip[2] == 0 && r.peers[i].ip[3] < 200;
    CHECK(low < 200);
    for (size_t i = 0; i < r.num_peers; i++) CHECK(r.peers[i].ip[1] == 2); /* never me */
    pf_announce_resp_clear(&r);
    CHECK_EQ(announce(t, &me, S, 1, 5000, 1, 5, "&numwant=0", &r), 200);
    CHECK_EQ(r.num_peers, 0);
    pf_announce_resp_clear(&r);
    pf_tracker_free(t);
}

/* ip= is a claim: from 127.0.0.1 (issue 19: a reverse proxy's address)
 * it is ignored unless the operator trusts that address. */
TEST(test_ip_param_and_mapped)
{
    pf_tracker *t = mk(0, 0);
    pf_addr lo = v4(127, 0, 0, 1), ext = v4(8, 8, 8, 8);
    pf_announce_resp r;
    CHECK_EQ(announce(t, &lo, S, 1, 1, 1000, 5, "&ip=1.2.3.4", NULL), 200);
    CHECK_EQ(announce(t, &ext, S, 1, 2, 1000, 5, "&ip=192.0.2.8", &r), 200);
    CHECK_EQ(r.num_peers, 1);
    CHECK_MEM(r.peers[0].ip, "\x7f\x00\x00\x01", 4); /* not 1.2.3.4 */
    pf_announce_resp_clear(&r);
    /* a v4-mapped remote counts as IPv4; its ip= is ignored too */
    pf_addr mapped;
    memset(&mapped, 0, sizeof mapped);
    mapped.family = 6;
    mapped.ip[10] = mapped.ip[11] = 0xff;
    mapped.ip[12] = 9;
    CHECK_EQ(announce(t, &mapped, S, 1, 3, 1000, 5, "&ip=192.0.2.9", &r), 200);
    CHECK_EQ(r.num_peers, 2);
    int saw8 = 0, saw_claim = 0;
    for (size_t i = 0; i < r.num_peers; i++) {
        CHECK_EQ(r.peers[i].family, 4);
        saw8 |= r.peers[i].ip[0] == 8;
        saw_claim |= r.peers[i].ip[0] == 192 || r.peers[i].ip[0] == 1;
    }
    CHECK(saw8);
    CHECK(!saw_claim);
    pf_announce_resp_clear(&r);
    pf_tracker_free(t);

    /* The operator trusts 127.0.0.0/8 (a gateway announcing for others):
     * its ip= is believed, IPv6 too; 8.8.8.8's still is not. */
    pf_tracker_config c;
    pf_tracker_config_default(&c);
    c.interval_s = 100;
    c.seed = 42;
    pf_net lonet = {.family = 4, .bits = 8, .ip = {127}};
    c.trusted_proxies = &lonet;
    c.num_trusted_proxies = 1;
    t = pf_tracker_new(&c);
    CHECK(t != NULL);
    CHECK_EQ(announce(t, &lo, S, 1, 1, 1000, 5, "&ip=192.0.2.7", NULL), 200);
    CHECK_EQ(announce(t, &ext, S, 1, 2, 1000, 5, "&ip=192.0.2.8", &r), 200);
    CHECK_EQ(r.num_peers, 1);
    CHECK_MEM(r.peers[0].ip, "\xc0\x00\x02\x07", 4); /* honoured from a trusted address */
    pf_announce_resp_clear(&r);
    CHECK_EQ(announce(t, &lo, S, 1, 4, 1000, 5, "&ip=%3A%3A1", &r), 200);
    CHECK_EQ(r.num_peers, 2);
    pf_announce_resp_clear(&r);
    pf_tracker_stats st;
    pf_tracker_stats_get(t, &st);
    CHECK_EQ(st.peers, 3);
    pf_tracker_free(t);
}

/* One GET as a client behind proxies sends it: raw text parsed by the
 * real parser, then handed to pf_tracker_handle_request. */
static int announce_req(pf_tracker *t, const pf_addr *remote, const char *headers, int pid,
                        const char *extra, pf_announce_resp *resp)
{
    uint8_t h[20], p[20];
    hash_of(h, 9);
    memset(p, 'q', 20);
    p[0] = (uint8_t)pid;
    pf_buf raw, body;
    pf_buf_init(&raw);
    pf_buf_init(&body);
    pf_buf_append_str(&raw, "GET /announce?info_hash=");
    pf_http_pct_encode(&raw, h, 20);
    pf_buf_append_str(&raw, "&peer_id=");
    pf_http_pct_encode(&raw, p, 20);
    pf_buf_appendf(&raw, "&port=7000&left=5%s HTTP/1.1\r\nHost: t\r\n%s\r\n", extra ? extra : "",
                   headers ? headers : "");
    pf_http_request req;
    int st = -1;
    if (pf_http_request_parse(raw.data, raw.len, 0, &req) > 0)
        st = pf_tracker_handle_request(t, &req, remote, S, &body);
    if (resp && pf_announce_resp_parse(body.data, body.len, NULL, resp) != 0) st = -1;
    pf_buf_free(&raw);
    pf_buf_free(&body);
    return st;
}

/* Has the swarm of announce_req a peer at a.b.c.d:7000? */
static int swarm_has(pf_tracker *t, uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    pf_announce_resp r;
    pf_addr probe = v4(203, 0, 113, 250);
    if (announce_req(t, &probe, NULL, 250, "&numwant=200", &r) != 200) return -1;
    int found = 0;
    for (size_t i = 0; i < r.num_peers; i++)
        found |= r.peers[i].family == 4 && r.peers[i].ip[0] == a && r.peers[i].ip[1] == b &&
                 r.peers[i].ip[2] == c && r.peers[i].ip[3] == d && r.peers[i].port == 7000;
    pf_announce_resp_clear(&r);
    return found;
}

/* Behind nginx at 127.0.0.1 (trusted): the client is the address the
 * proxy appended, whatever the client wrote itself; its ip= is ignored.
 * From an untrusted address the headers mean nothing. */
TEST(test_forwarded_clients)
{
    pf_tracker_config c;
    pf_tracker_config_default(&c);
    c.seed = 1;
    pf_net nets[2] = {{.family = 4, .bits = 32, .ip = {127, 0, 0, 1}},
                      {.family = 4, .bits = 24, .ip = {10, 9, 9}}};
    c.trusted_proxies = nets;
    c.num_trusted_proxies = 2;
    pf_tracker *t = pf_tracker_new(&c);
    CHECK(t != NULL);
    pf_addr proxy = v4(127, 0, 0, 1), other = v4(198, 51, 100, 7);
    CHECK_EQ(announce_req(t, &proxy, "X-Forwarded-For: 198.51.100.1\r\n", 1, "&ip=1.2.3.4", NULL), 200);
    CHECK_EQ(swarm_has(t, 198, 51, 100, 1), 1);
    CHECK_EQ(swarm_has(t, 1, 2, 3, 4), 0);
    /* a forged left part: nginx appends the real one */
    CHECK_EQ(announce_req(t, &proxy, "X-Forwarded-For: 6.6.6.6, 198.51.100.2\r\n", 2, NULL, NULL), 200);
    CHECK_EQ(swarm_has(t, 198, 51, 100, 2), 1);
    CHECK_EQ(swarm_has(t, 6, 6, 6, 6), 0);
    /* two trusted hops, two header lines */
    CHECK_EQ(announce_req(t, &proxy,
                          "X-Forwarded-For: 6.6.6.7, 198.51.100.3\r\nX-Forwarded-For: 10.9.9.1\r\n", 3,
                          NULL, NULL),
             200);
    CHECK_EQ(swarm_has(t, 198, 51, 100, 3), 1);
    /* not a trusted proxy: its header is the client's word */
    CHECK_EQ(announce_req(t, &other, "X-Forwarded-For: 6.6.6.8\r\n", 4, "&ip=6.6.6.9", NULL), 200);
    CHECK_EQ(swarm_has(t, 198, 51, 100, 7), 1);
    CHECK_EQ(swarm_has(t, 6, 6, 6, 8), 0);
    CHECK_EQ(swarm_has(t, 6, 6, 6, 9), 0);
    /* Forwarded is not the header configured: ignored (the proxy would
     * pass a client's own Forwarded through), the socket's address used */
    CHECK_EQ(announce_req(t, &proxy, "Forwarded: for=6.6.6.10\r\n", 5, NULL, NULL), 200);
    CHECK_EQ(swarm_has(t, 6, 6, 6, 10), 0);
    CHECK_EQ(swarm_has(t, 127, 0, 0, 1), 1);
    /* the rate limit counts the client, not the proxy: 300 announces from
     * 300 clients behind it all pass */
    int limited = 0;
    for (int i = 0; i < 400; i++) {
        char hdr[64];
        snprintf(hdr, sizeof hdr, "X-Forwarded-For: 100.64.%d.%d\r\n", i / 200, i % 200);
        pf_announce_resp r;
        CHECK_EQ(announce_req(t, &proxy, hdr, 10 + i % 200, NULL, &r), 200);
        limited += r.failure[0] != 0;
        pf_announce_resp_clear(&r);
    }
    CHECK_EQ(limited, 0);
    pf_tracker_free(t);
}

/* Peers re-announce at their own pace: with interval 5, peerflow waits
 * 15 s (its floor) and libtorrent 300 s (min_announce_interval); issue 19
 * saw peers forgotten after 10 s.  Expiry follows the gap each peer shows
 * (and the clients' floor before it has shown one). */
TEST(test_expiry_follows_clients)
{
    pf_tracker_config c;
    pf_tracker_config_default(&c);
    c.interval_s = 5;
    c.seed = 3;
    pf_tracker *t = pf_tracker_new(&c);
    CHECK(t != NULL);
    pf_addr pf = v4(10, 1, 0, 1), lt = v4(10, 1, 0, 2), gone = v4(10, 1, 0, 3);
    /* started at 1 s; peerflow-like: every 15 s from then on */
    CHECK_EQ(announce(t, &pf, 1 * S, 1, 1, 6881, 5, "&event=started", NULL), 200);
    CHECK_EQ(announce(t, &lt, 1 * S, 1, 2, 6882, 5, "&event=started", NULL), 200);
    CHECK_EQ(announce(t, &gone, 1 * S, 1, 3, 6883, 5, "&event=started", NULL), 200);
    /* 12 s: twice the interval has passed, nobody is gone */
    CHECK_EQ(pf_tracker_expire(t, 12 * S), 0);
    CHECK_EQ(announce(t, &pf, 16 * S, 1, 1, 6881, 5, NULL, NULL), 200);
    CHECK_EQ(announce(t, &pf, 31 * S, 1, 1, 6881, 5, NULL, NULL), 200);
    CHECK_EQ(pf_tracker_expire(t, 45 * S), 0);
    /* libtorrent comes back after 300 s */
    CHECK_EQ(announce(t, &lt, 301 * S, 1, 2, 6882, 5, NULL, NULL), 200);
    CHECK_EQ(announce(t, &pf, 301 * S, 1, 1, 6881, 5, NULL, NULL), 200);
    pf_tracker_stats st;
    pf_tracker_stats_get(t, &st);
    CHECK_EQ(st.peers, 3);
    /* the one that never came back: 2 * 300 s after its only announce */
    CHECK_EQ(pf_tracker_expire(t, 601 * S), 0);
    CHECK_EQ(pf_tracker_expire(t, 602 * S), 1);
    /* peerflow's gap is its longest: 270 s (16 -> 31 -> 301): kept until
     * 301 + 540 s; libtorrent's 300 s: until 301 + 600 s */
    CHECK_EQ(pf_tracker_expire(t, 841 * S), 0);
    CHECK_EQ(pf_tracker_expire(t, 842 * S), 1);
    CHECK_EQ(pf_tracker_expire(t, 901 * S), 0);
    CHECK_EQ(pf_tracker_expire(t, 902 * S), 1);
    /* a peer that keeps its 15 s pace is dropped after 30 s of silence */
    CHECK_EQ(announce(t, &pf, 1000 * S, 2, 1, 6881, 5, "&event=started", NULL), 200);
    CHECK_EQ(announce(t, &pf, 1015 * S, 2, 1, 6881, 5, NULL, NULL), 200);
    CHECK_EQ(pf_tracker_expire(t, 1045 * S), 0);
    CHECK_EQ(pf_tracker_expire(t, 1046 * S), 1);
    pf_tracker_free(t);
}

TEST(test_bad_requests_and_scrape)
{
    pf_tracker *t = mk(0, 0);
    pf_addr a = v4(10, 0, 0, 1);
    pf_buf body;
    pf_buf_init(&body);
    const char *bad[] = {
        "", "info_hash=abc&peer_id=01234567890123456789&port=1",
        "info_hash=0123456789012345678%&peer_id=01234567890123456789&port=1",
        "info_hash=01234567890123456789&peer_id=0123&port=1",
        "info_hash=01234567890123456789&peer_id=01234567890123456789&port=0",
        "info_hash=01234567890123456789&peer_id=01234567890123456789&port=70000",
        "info_hash=01234567890123456789&peer_id=01234567890123456789",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pf_buf_reset(&body);
        CHECK_EQ(pf_tracker_handle_http(t, "/announce", bad[i], &a, S, &body), 200);
        CHECK(body.len > 18 && memcmp(body.data, "d14:failure reason", 18) == 0);
    }
    pf_buf_reset(&body);
    CHECK_EQ(pf_tracker_handle_http(t, "/nope", "", &a, S, &body), 404);
    CHECK_EQ(body.len, 0);
    CHECK_EQ(pf_tracker_handle_http(t, "/announce", NULL, &a, S, &body), 200);
    pf_buf_reset(&body);
    CHECK_EQ(announce(t, &a, S, 1, 1, 1000, 5, NULL, NULL), 200);
    CHECK_EQ(announce(t, &a, S, 2, 1, 1000, 0, NULL, NULL), 200);
    /* scrape two hashes (one unknown, one repeated), reversed order */
    uint8_t h1[20], h2[20], h9[20];
    hash_of(h1, 1);
    hash_of(h2, 2);
    hash_of(h9, 9);
    pf_buf q;
    pf_buf_init(&q);
    const uint8_t *hs[] = {h9, h2, h1, h2};
    for (int i = 0; i < 4; i++) {
        pf_buf_append_str(&q, i ? "&info_hash=" : "info_hash=");
        pf_http_pct_encode(&q, hs[i], 20);
    }
    pf_buf_nul(&q);
    CHECK_EQ(pf_tracker_handle_http(t, "/scrape", (char *)q.data, &a, S, &body), 200);
    pf_scrape_entry e[8];
    size_t n;
    CHECK_EQ(pf_scrape_resp_parse(body.data, body.len, e, 8, &n), 0);
    CHECK_EQ(n, 3);
    CHECK_MEM(e[0].info_hash, h1, 20);
    CHECK_EQ(e[0].incomplete, 1);
    CHECK_EQ(e[1].complete, 1);
    CHECK_EQ(e[2].complete, 0);
    pf_buf_reset(&body);
    CHECK_EQ(pf_tracker_handle_http(t, "/scrape", "info_hash=short", &a, S, &body), 200);
    CHECK(memmem(body.data, body.len, "failure reason", 14) != NULL);
    pf_buf_free(&q);
    pf_buf_free(&body);
    pf_tracker_free(t);
}

TEST(test_many_torrents_rehash)
{
    pf_tracker *t = mk(0, 0);
    pf_addr a = v4(10, 0, 0, 1);
    for (int i = 0; i < 1000; i++) {
        a.ip[2] = (uint8_t)(i >> 8); /* 1000 sources: under the rate limit */
        a.ip[3] = (uint8_t)i;
        uint8_t h[20];
        memset(h, 0, 20);
        h[5] = (uint8_t)i;
        h[6] = (uint8_t)(i >> 8);
        pf_buf q, body;
        pf_buf_init(&q);
        pf_buf_init(&body);
        pf_buf_append_str(&q, "info_hash=");
        pf_http_pct_encode(&q, h, 20);
        pf_buf_append_str(&q, "&peer_id=01234567890123456789&port=5");
        pf_buf_nul(&q);
        CHECK_EQ(pf_tracker_handle_http(t, "/announce", (char *)q.data, &a, S, &body), 200);
        pf_buf_free(&q);
        pf_buf_free(&body);
    }
    pf_tracker_stats st;
    pf_tracker_stats_get(t, &st);
    CHECK_EQ(st.torrents, 1000);
    pf_buf body;
    pf_buf_init(&body);
    CHECK_EQ(pf_tracker_handle_http(t, "/scrape", NULL, &a, S, &body), 200);
    pf_scrape_entry *e = calloc(1000, sizeof *e);
    size_t n;
    CHECK_EQ(pf_scrape_resp_parse(body.data, body.len, e, 1000, &n), 0);
    CHECK_EQ(n, 256); /* max_scrape */
    free(e);
    pf_buf_free(&body);
    CHECK_EQ(pf_tracker_expire(t, 1000 * S), 1000);
    pf_tracker_free(t);
}

/* The body of an announce (or scrape) as raw bencode, for failure checks. */
static int raw_req(pf_tracker *t, const char *path, const pf_addr *remote, uint64_t now, int ih,
                   pf_buf *body)
{
    uint8_t h[20];
    hash_of(h, ih);
    pf_buf q;
    pf_buf_init(&q);
    pf_buf_append_str(&q, "info_hash=");
    pf_http_pct_encode(&q, h, 20);
    pf_buf_append_str(&q, "&peer_id=01234567890123456789&port=5&left=1");
    pf_buf_nul(&q);
    pf_buf_reset(body);
    int st = pf_tracker_handle_http(t, path, (char *)q.data, remote, now, body);
    pf_buf_free(&q);
    pf_buf_nul(body);
    return st;
}

static int limited(const pf_buf *b)
{
    return b->len && strstr((const char *)b->data, "14:failure reason19:rate limit exceeded") &&
           strstr((const char *)b->data, "8:retry ini");
}

TEST(test_rate_limit_defaults)
{
    pf_tracker_config c;
    pf_tracker_config_default(&c);
    CHECK_EQ(c.ip_rate_per_min, 600);
    CHECK_EQ(c.ip_burst, 300);
    CHECK_EQ(c.max_rate_sources, 65536);
    pf_tracker *t = mk(0, 0);
    pf_buf body;
    pf_buf_init(&body);
    pf_addr a = v4(192, 0, 2, 1), b = v4(192, 0, 2, 2);
    /* a flood at one instant: the burst passes, then refusals */
    int ok = 0, refused = 0;
    for (int i = 0; i < 1000; i++) {
        CHECK_EQ(raw_req(t, i & 1 ? "/scrape" : "/announce", &a, 100 * S, i, &body), 200);
        if (limited(&body)) refused++;
        else ok++;
    }
    CHECK_EQ(ok, 300);
    CHECK_EQ(refused, 700);
    pf_tracker_stats st;
    pf_tracker_stats_get(t, &st);
    CHECK_EQ(st.rate_limited, 700);
    CHECK_EQ(st.torrents, 128); /* 150 announces of 128 hashes (hash_of wraps); the
                                   refused ones left nothing behind */
    CHECK_EQ(st.refused, 0);
    /* another source is not affected */
    CHECK_EQ(raw_req(t, "/announce", &b, 100 * S, 1, &body), 200);
    CHECK(!limited(&body));
    /* a 404 is not limited (and costs nothing) */
    CHECK_EQ(raw_req(t, "/other", &a, 100 * S, 1, &body), 404);
    /* 10 per second come back: 100 ms later one more passes, not two */
    CHECK_EQ(raw_req(t, "/announce", &a, 100 * S + S / 10, 1, &body), 200);
    CHECK(!limited(&body));
    CHECK_EQ(raw_req(t, "/announce", &a, 100 * S + S / 10, 1, &body), 200);
    CHECK(limited(&body));
    /* the announce that got through still works normally */
    pf_announce_resp r;
    CHECK_EQ(announce(t, &a, 200 * S, 1, 1, 1000, 5, NULL, &r), 200);
    CHECK_STR(r.failure, "");
    pf_announce_resp_clear(&r);
    pf_buf_free(&body);
    pf_tracker_free(t);
}

TEST(test_rate_limit_normal_clients_pass)
{
    /* One address with 200 torrents, announcing each every interval (and a
     * scrape per torrent now and then) for a day, never hits the limit;
     * nor does a NAT of 50 such clients at 50 torrents each. */
    pf_tracker_config c;
    pf_tracker_config_default(&c);
    c.interval_s = 1800;
    c.seed = 3;
    pf_tracker *t = pf_tracker_new(&c);
    pf_buf body;
    pf_buf_init(&body);
    pf_addr a = v4(198, 51, 100, 7);
    for (uint64_t round = 0; round < 48; round++) {
        for (int i = 0; i < 200; i++) {
            uint64_t now = 1 * S + round * 1800 * S + (uint64_t)i * (S / 20);
            CHECK_EQ(raw_req(t, round % 8 == 0 ? "/scrape" : "/announce", &a, now, i, &body), 200);
            CHECK(!limited(&body));
        }
    }
    pf_addr nat = v4(198, 51, 100, 8);
    for (uint64_t round = 0; round < 4; round++)
        for (int i = 0; i < 2500; i++) {
            /* 2500 announces spread over the 1800 s interval */
            uint64_t now = 100000 * S + round * 1800 * S + (uint64_t)i * (1800 * S / 2500);
            CHECK_EQ(raw_req(t, "/announce", &nat, now, i, &body), 200);
            CHECK(!limited(&body));
        }
    pf_tracker_stats st;
    pf_tracker_stats_get(t, &st);
    CHECK_EQ(st.rate_limited, 0);
    pf_buf_free(&body);
    pf_tracker_free(t);
}

TEST(test_rate_limit_config_and_table_bound)
{
    pf_tracker_config c;
    pf_tracker_config_default(&c);
    c.seed = 9;
    c.ip_rate_per_min = 60; /* 1/s */
    c.ip_burst = 2;
    c.max_rate_sources = 64;
    pf_tracker *t = pf_tracker_new(&c);
    pf_buf body;
    pf_buf_init(&body);
    pf_addr a = v4(203, 0, 113, 1);
    CHECK_EQ(raw_req(t, "/announce", &a, S, 1, &body), 200);
    CHECK(!limited(&body));
    CHECK_EQ(raw_req(t, "/announce", &a, S, 1, &body), 200);
    CHECK(!limited(&body));
    CHECK_EQ(raw_req(t, "/announce", &a, S, 1, &body), 200);
    CHECK(limited(&body));
    CHECK(strstr((char *)body.data, "8:retry ini1e")); /* a minute, rounded up */
    CHECK_EQ(raw_req(t, "/announce", &a, 2 * S, 1, &body), 200);
    CHECK(!limited(&body));
    /* IPv6: one bucket per /64, whatever the interface identifier */
    pf_addr x = v6_last(1), y = v6_last(2), z = v6_last(1);
    z.ip[7] = 1; /* another /64 */
    CHECK_EQ(raw_req(t, "/announce", &x, S, 1, &body), 200);
    CHECK_EQ(raw_req(t, "/announce", &y, S, 1, &body), 200);
    CHECK(!limited(&body));
    CHECK_EQ(raw_req(t, "/announce", &y, S, 1, &body), 200);
    CHECK(limited(&body));
    CHECK_EQ(raw_req(t, "/announce", &z, S, 1, &body), 200);
    CHECK(!limited(&body));
    /* 10,000 sources (a spoofing-free flood from many addresses): the
     * table stays at 64 entries */
    for (int i = 0; i < 10000; i++) {
        pf_addr s = v4(10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i);
        CHECK_EQ(raw_req(t, "/scrape", &s, 3 * S, 1, &body), 200);
        CHECK(!limited(&body)); /* each is new: a full bucket */
    }
    pf_tracker_stats st;
    pf_tracker_stats_get(t, &st);
    CHECK_EQ(st.rate_sources, 64);
    pf_buf_free(&body);
    pf_tracker_free(t);

    /* unlimited */
    pf_tracker_config_default(&c);
    c.ip_rate_per_min = PF_TRACKER_UNLIMITED;
    t = pf_tracker_new(&c);
    pf_buf_init(&body);
    for (int i = 0; i < 5000; i++) {
        CHECK_EQ(raw_req(t, "/announce", &a, S, i & 7, &body), 200);
        CHECK(!limited(&body));
    }
    pf_tracker_stats_get(t, &st);
    CHECK_EQ(st.rate_sources, 0);
    pf_buf_free(&body);
    pf_tracker_free(t);
}

TEST_MAIN(test_two_peers_see_each_other, test_dict_model_and_peers6,
          test_stopped_completed_expiry, test_bounds, test_numwant_and_randomness,
          test_ip_param_and_mapped, test_forwarded_clients, test_expiry_follows_clients,
          test_bad_requests_and_scrape, test_many_torrents_rehash,
          test_rate_limit_defaults, test_rate_limit_normal_clients_pass,
          test_rate_limit_config_and_table_bound)
