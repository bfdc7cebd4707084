#include "core/codec/tracker_proto.h"
#include "peerflow/peerflow.h"
#include "test.h"

static pf_announce_req sample_req(void)
{
    pf_announce_req r;
    memset(&r, 0, sizeof r);
    for (int i = 0; i < 20; i++) {
        r.info_hash[i] = (uint8_t)(i * 13);
        r.peer_id[i] = (uint8_t)('A' + i);
    }
    r.port = 6881;
    r.uploaded = 1;
    r.downloaded = 2;
    r.left = 3;
    r.event = PF_ANNOUNCE_STARTED;
    r.numwant = 50;
    r.key = 0xdeadbeef;
    return r;
}

TEST(test_announce_url)
{
    pf_announce_req r = sample_req();
    pf_buf b;
    pf_buf_init(&b);
    CHECK_EQ(pf_announce_url(&b, "http://t.example/announce", &r), 0);
    CHECK_STR((char *)b.data,
              "http://t.example/announce?info_hash=%00%0D%1A%274AN%5Bhu%82%8F%9C%A9%B6%C3%D0"
              "%DD%EA%F7&peer_id=ABCDEFGHIJKLMNOPQRST&port=6881&uploaded=1&downloaded=2&left=3"
              "&compact=1&numwant=50&key=deadbeef&event=started");
    pf_buf_reset(&b);
    r.event = PF_ANNOUNCE_NONE;
    r.trackerid = "a b";
    CHECK_EQ(pf_announce_url(&b, "http://t/ann?passkey=x#frag", &r), 0);
    CHECK(strstr((char *)b.data, "http://t/ann?passkey=x&info_hash=") == (char *)b.data);
    CHECK(strstr((char *)b.data, "&trackerid=a%20b"));
    CHECK(!strstr((char *)b.data, "event="));
    CHECK(!strchr((char *)b.data, '#'));
    pf_buf_reset(&b);
    CHECK_EQ(pf_announce_url(&b, "http://t/ann?", &r), 0);
    CHECK(strstr((char *)b.data, "http://t/ann?info_hash=") == (char *)b.data);
    r.event = 7;
    CHECK_EQ(pf_announce_url(&b, "http://t/a", &r), PF_ERR_INVAL);
    pf_buf_free(&b);
}

#define BODY(s) (const uint8_t *)(s), sizeof(s) - 1

TEST(test_resp_compact)
{
    pf_announce_resp r;
    static const char body[] = "d8:completei5e10:incompletei7e8:intervali1800e"
                               "12:min intervali900e5:peers12:\x01\x02\x03\x04\x1a\xe1"
                               "\x05\x06\x07\x08\x00\x00"
                               "6:peers618:\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01\x1a\xe2"
                               "10:tracker id3:abce";
    CHECK_EQ(pf_announce_resp_parse(BODY(body), NULL, &r), 0);
    CHECK_EQ(r.interval, 1800);
    CHECK_EQ(r.min_interval, 900);
    CHECK_EQ(r.complete, 5);
    CHECK_EQ(r.incomplete, 7);
    CHECK_STR(r.trackerid, "abc");
    CHECK_EQ(r.num_peers, 2); /* port 0 skipped */
    CHECK_EQ(r.peers[0].family, 4);
    CHECK_MEM(r.peers[0].ip, "\x01\x02\x03\x04", 4);
    CHECK_EQ(r.peers[0].port, 6881);
    CHECK_EQ(r.peers[1].family, 6);
    CHECK_EQ(r.peers[1].ip[0], 0x20);
    CHECK_EQ(r.peers[1].ip[15], 1);
    CHECK_EQ(r.peers[1].port, 6882);
    pf_announce_resp_clear(&r);
    CHECK(r.peers == NULL);
}

TEST(test_resp_dict)
{
    pf_announce_resp r;
    static const char body[] =
        "d8:intervali60e5:peersl"
        "d2:ip7:1.2.3.47:peer id20:AAAAAAAAAAAAAAAAAAAA4:porti80ee"
        "d2:ip3:::14:porti81ee"
        "d2:ip11:example.com4:porti82ee"
        "d2:ip7:1.2.3.44:porti0ee"
        "i5e"
        "ee";
    CHECK_EQ(pf_announce_resp_parse(BODY(body), NULL, &r), 0);
    CHECK_EQ(r.interval, 60);
    CHECK_EQ(r.complete, -1);
    CHECK_EQ(r.num_peers, 2);
    CHECK_EQ(r.peers[0].port, 80);
    CHECK_EQ(r.peers[1].family, 6);
    CHECK_EQ(r.peers[1].port, 81);
    pf_announce_resp_clear(&r);
}

TEST(test_resp_failure_and_errors)
{
    pf_announce_resp r;
    CHECK_EQ(pf_announce_resp_parse(BODY("d14:failure reason9:not founde"), NULL, &r), 0);
    CHECK_STR(r.failure, "not found");
    pf_announce_resp_clear(&r);
    CHECK_EQ(pf_announce_resp_parse(BODY("d5:peers0:15:warning message2:hie"), NULL, &r), 0);
    CHECK_STR(r.warning, "hi");
    CHECK_EQ(r.num_peers, 0);
    pf_announce_resp_clear(&r);
    CHECK_EQ(pf_announce_resp_parse(BODY("le"), NULL, &r), PF_ERR_PARSE);
    CHECK_EQ(pf_announce_resp_parse(BODY("<html>"), NULL, &r), PF_ERR_PARSE);
    CHECK_EQ(pf_announce_resp_parse(BODY("d5:peersi3ee"), NULL, &r), PF_ERR_PARSE);
    CHECK_EQ(pf_announce_resp_parse(NULL, 0, NULL, &r), PF_ERR_PARSE);
    pf_announce_resp_clear(&r);
}

TEST(test_resp_peer_bound)
{
    size_t n = PF_ANNOUNCE_MAX_PEERS + 100;
    pf_buf b;
    pf_buf_init(&b);
    pf_buf_appendf(&b, "d5:peers%zu:", n * 6);
    for (size_t i = 0; i < n; i++) {
        uint8_t rec[6] = {10, 0, (uint8_t)(i >> 8), (uint8_t)i, 0x1a, 0xe1};
        pf_buf_append(&b, rec, 6);
    }
    pf_buf_append_str(&b, "e");
    pf_announce_resp r;
    CHECK_EQ(pf_announce_resp_parse(b.data, b.len, NULL, &r), 0);
    CHECK_EQ(r.num_peers, PF_ANNOUNCE_MAX_PEERS);
    pf_announce_resp_clear(&r);
    pf_buf_free(&b);
}

TEST(test_scrape_url)
{
    uint8_t h[2][20];
    memset(h[0], 0xab, 20);
    memset(h[1], 0x00, 20);
    pf_buf b;
    pf_buf_init(&b);
    CHECK_EQ(pf_scrape_url(&b, "http://t:80/x/announce.php?pk=1", (const uint8_t(*)[20])h, 2), 0);
    CHECK(strstr((char *)b.data, "http://t:80/x/scrape.php?pk=1&info_hash=%AB%AB") == (char *)b.data);
    CHECK(strstr((char *)b.data, "&info_hash=%00%00"));
    pf_buf_reset(&b);
    CHECK_EQ(pf_scrape_url(&b, "http://t/announce", NULL, 0), 0);
    CHECK_STR((char *)b.data, "http://t/scrape");
    pf_buf_reset(&b);
    CHECK_EQ(pf_scrape_url(&b, "http://t/announce", (const uint8_t(*)[20])h, 1), 0);
    CHECK(strstr((char *)b.data, "http://t/scrape?info_hash=%AB") == (char *)b.data);
    CHECK_EQ(pf_scrape_url(&b, "http://t/a/ann", NULL, 0), PF_ERR_UNSUPPORTED);
    CHECK_EQ(pf_scrape_url(&b, "http://t", NULL, 0), PF_ERR_UNSUPPORTED);
    CHECK_EQ(pf_scrape_url(&b, "http://t/announce/x", NULL, 0), PF_ERR_UNSUPPORTED);
    CHECK_EQ(pf_scrape_url(&b, "nourl", NULL, 0), PF_ERR_INVAL);
    pf_buf_free(&b);
}

TEST(test_scrape_resp)
{
    static const char body[] =
        "d5:filesd20:AAAAAAAAAAAAAAAAAAAAd8:completei1e10:downloadedi2e10:incompletei3ee"
        "20:BBBBBBBBBBBBBBBBBBBBd8:completei4ee"
        "3:bad" "d8:completei9eeee";
    pf_scrape_entry e[4];
    size_t n;
    CHECK_EQ(pf_scrape_resp_parse(BODY(body), e, 4, &n), 0);
    CHECK_EQ(n, 2);
    CHECK_MEM(e[0].info_hash, "AAAAAAAAAAAAAAAAAAAA", 20);
    CHECK_EQ(e[0].complete, 1);
    CHECK_EQ(e[0].downloaded, 2);
    CHECK_EQ(e[0].incomplete, 3);
    CHECK_EQ(e[1].complete, 4);
    CHECK_EQ(e[1].incomplete, -1);
    CHECK_EQ(pf_scrape_resp_parse(BODY(body), e, 1, &n), 0);
    CHECK_EQ(n, 1);
    CHECK_EQ(pf_scrape_resp_parse(BODY("d14:failure reason1:xe"), e, 4, &n), PF_ERR_TRACKER);
    CHECK_EQ(pf_scrape_resp_parse(BODY("de"), e, 4, &n), PF_ERR_PARSE);
}

/* A peerflow tracker's "peerflow" dict; without it, a tracker takes no
 * QoE report, P2P is on and nothing is capped.  The QoE URL follows BEP
 * 48's rule, as the scrape URL does. */
TEST(test_resp_peerflow_dict)
{
    static const char with[] = "d8:intervali60e8:peerflowd10:local netsl11:10.1.0.0/163:bad13:2001:db8::/32e"
                               "3:p2pi0e3:qoei1e10:upload capi4096ee5:peers0:e";
    pf_announce_resp r;
    CHECK_EQ(pf_announce_resp_parse((const uint8_t *)with, sizeof with - 1, NULL, &r), 0);
    CHECK_EQ(r.p2p_off, 1);
    CHECK_EQ(r.takes_qoe, 1);
    CHECK_EQ(r.upload_cap, 4096u);
    CHECK_EQ(r.has_local_nets, 1);
    CHECK_EQ(r.nlocal_nets, 2u); /* "bad" skipped */
    CHECK_EQ(r.local_nets[0].bits, 16);
    CHECK_EQ(r.local_nets[1].family, 6);
    pf_announce_resp_clear(&r);
    static const char without[] = "d8:intervali60e5:peers0:e";
    CHECK_EQ(pf_announce_resp_parse((const uint8_t *)without, sizeof without - 1, NULL, &r), 0);
    CHECK_EQ(r.p2p_off, 0);
    CHECK_EQ(r.takes_qoe, 0);
    CHECK_EQ(r.upload_cap, 0u);
    CHECK_EQ(r.has_local_nets, 0);
    pf_announce_resp_clear(&r);
    pf_buf b;
    pf_buf_init(&b);
    CHECK_EQ(pf_tracker_qoe_url(&b, "http://t.example/x/announce.php?passkey=1"), 0);
    CHECK_STR((char *)b.data, "http://t.example/x/qoe.php?passkey=1");
    b.len = 0;
    CHECK_EQ(pf_tracker_qoe_url(&b, "http://t.example/track"), PF_ERR_UNSUPPORTED);
    pf_buf_free(&b);
}

TEST_MAIN(test_announce_url, test_resp_compact, test_resp_dict, test_resp_failure_and_errors,
          test_resp_peer_bound, test_scrape_url, test_scrape_resp, test_resp_peerflow_dict)
