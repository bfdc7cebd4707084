/* The operator's kill switch and upload caps (core/tracker/policy.c): the
 * file's rules and refusals, the verdict per title / PID / all, the
 * tracker's reply (no peers and a "peerflow" dict, HTTP and UDP), the
 * client's reading of it (core/codec/tracker_proto.c) and /metrics. */
#include "core/codec/tracker_proto.h"
#include "core/codec/udp_tracker.h"
#include "core/tracker/policy.h"
#include "core/tracker/tracker.h"
#include "test.h"
#include "tracker_announce.h"

#define IH_HEX "3031323334353637383930313233343536373839" /* "01234567890123456789" */
static const uint8_t IH[20] = "01234567890123456789";
static const uint8_t OTHER[20] = "abcdefghijabcdefghij";

static pf_tracker_policy *parse(const char *text, char *why, size_t n)
{
    pf_tracker_policy *p = NULL;
    int rc = pf_tracker_policy_parse(text, strlen(text), &p, why, n);
    return rc == 0 ? p : NULL;
}

static const char *refusal(const char *text)
{
    static char why[160];
    pf_tracker_policy *p = parse(text, why, sizeof why);
    if (p) {
        pf_tracker_policy_free(p);
        return "(accepted)";
    }
    return why;
}

TEST(policy_rules)
{
    char why[160];
    pf_tracker_policy *p = parse("# the operator's switches\n"
                                 "\n"
                                 "title " IH_HEX " p2p off   # a title with a bad encode\n"
                                 "pid isp-a upload-cap 512K\n"
                                 "pid isp-a upload-cap 256k\n"
                                 "pid isp-b p2p on\r\n"
                                 "pid isp-c upload-cap 2M\n",
                                 why, sizeof why);
    CHECK(p != NULL);
    CHECK_EQ(pf_tracker_policy_count(p), 4u); /* isp-a's two lines merged */
    pf_policy_verdict v;
    pf_tracker_policy_eval(p, IH, NULL, &v);
    CHECK_EQ(v.p2p_off, 1);
    CHECK_EQ(v.upload_cap, 0u);
    pf_tracker_policy_eval(p, OTHER, NULL, &v);
    CHECK_EQ(v.p2p_off, 0);
    pf_tracker_policy_eval(p, OTHER, "isp-a", &v);
    CHECK_EQ(v.p2p_off, 0);
    CHECK_EQ(v.upload_cap, 256u * 1024); /* the smaller of the two */
    pf_tracker_policy_eval(p, OTHER, "isp-b", &v);
    CHECK_EQ(v.p2p_off, 0);
    CHECK_EQ(v.upload_cap, 0u);
    pf_tracker_policy_eval(p, IH, "isp-c", &v);
    CHECK_EQ(v.p2p_off, 1);
    CHECK_EQ(v.upload_cap, 2u * 1024 * 1024);
    pf_tracker_policy_eval(NULL, IH, "isp-c", &v); /* no policy */
    CHECK_EQ(v.p2p_off, 0);
    pf_buf m;
    pf_buf_init(&m);
    CHECK_EQ(pf_tracker_policy_metrics(p, &m), 0);
    CHECK_EQ(pf_buf_nul(&m), 0);
    CHECK(strstr((char *)m.data, "\npeerflow_tracker_p2p_off{scope=\"title\",key=\"" IH_HEX "\"} 1\n"));
    CHECK(strstr((char *)m.data, "\npeerflow_tracker_upload_cap_bytes{scope=\"pid\",key=\"isp-a\"} 262144\n"));
    CHECK(strstr((char *)m.data, "isp-b") == NULL); /* "p2p on": nothing in force */
    pf_buf_free(&m);
    pf_tracker_policy_free(p);

    p = parse("all p2p off\n", why, sizeof why);
    CHECK(p != NULL);
    pf_tracker_policy_eval(p, OTHER, "anywhere", &v);
    CHECK_EQ(v.p2p_off, 1);
    pf_tracker_policy_free(p);
    p = parse("", why, sizeof why);
    CHECK(p != NULL);
    CHECK_EQ(pf_tracker_policy_count(p), 0u);
    pf_tracker_policy_free(p);
}

TEST(policy_refusals)
{
    CHECK_STR(refusal("everyone p2p off\n"), "line 1: expected all, title or pid");
    CHECK_STR(refusal("\ntitle abc p2p off\n"), "line 2: a title is its info-hash: 40 hex digits");
    CHECK_STR(refusal("title " IH_HEX "x p2p off\n"), "line 1: a title is its info-hash: 40 hex digits");
    CHECK_STR(refusal("title 303132333435363738393031323334353637383g p2p off\n"),
              "line 1: a title is its info-hash: 40 hex digits");
    CHECK_STR(refusal("pid isp\"a p2p off\n"), "line 1: a PID name is 1-64 of A-Z a-z 0-9 - : @ _ .");
    CHECK_STR(refusal("pid p2p off\n"), "line 1: expected p2p off, p2p on or upload-cap RATE");
    CHECK_STR(refusal("all p2p maybe\n"), "line 1: expected p2p off or p2p on");
    CHECK_STR(refusal("all upload-cap 100\n"), "line 1: upload-cap takes a rate of at least 1K (bytes/s, K/M/G)");
    CHECK_STR(refusal("all upload-cap 1T\n"), "line 1: upload-cap takes a rate of at least 1K (bytes/s, K/M/G)");
    CHECK_STR(refusal("all upload-cap K\n"), "line 1: upload-cap takes a rate of at least 1K (bytes/s, K/M/G)");
    CHECK_STR(refusal("all upload-cap 99999999999999M\n"),
              "line 1: upload-cap takes a rate of at least 1K (bytes/s, K/M/G)");
    CHECK_STR(refusal("all upload-cap 999999999999G\n"),
              "line 1: upload-cap takes a rate of at least 1K (bytes/s, K/M/G)"); /* 2^64 and more */
    CHECK_STR(refusal("all p2p off now\n"), "line 1: unexpected words at the end");
    char big[PF_POLICY_MAX_RULES * 24 + 64], *w = big;
    for (int i = 0; i <= PF_POLICY_MAX_RULES; i++) w += sprintf(w, "pid p%d p2p off\n", i);
    CHECK(strstr(refusal(big), "more than 4096 rules") != NULL);
    static const char nul[] = "all p2p off\npid a\0 p2p off\n";
    pf_tracker_policy *p = NULL;
    char why[160];
    CHECK_EQ(pf_tracker_policy_parse(nul, sizeof nul - 1, &p, why, sizeof why), PF_ERR_PARSE);
    CHECK_STR(why, "line 2: a NUL byte");
    CHECK(p == NULL);
}

/* An HTTP announce of ih from 10.0.0.<n> (n == 1: a seed). */
static int announce(pf_tracker *t, const uint8_t ih[20], int n, pf_announce_resp *r)
{
    return tracker_announce(t, ih, 0, n, n == 1 ? "&left=0" : "&left=100", r);
}

TEST(policy_tracker_obeyed)
{
    pf_tracker_config cfg;
    pf_tracker_config_default(&cfg);
    cfg.seed = 7;
    pf_tracker *t = pf_tracker_new(&cfg);
    pf_announce_resp r;
    for (int i = 1; i <= 3; i++) {
        CHECK_EQ(announce(t, IH, i, &r), 0);
        pf_announce_resp_clear(&r);
    }
    CHECK_EQ(announce(t, IH, 4, &r), 0);
    CHECK_EQ(r.num_peers, 3u);
    CHECK_EQ(r.p2p_off, 0);
    CHECK_EQ(r.upload_cap, 0u);
    CHECK_EQ(r.takes_qoe, 1); /* a peerflow tracker says it takes QoE reports */
    pf_announce_resp_clear(&r);

    char why[160];
    pf_tracker_policy *p = parse("title " IH_HEX " p2p off\n", why, sizeof why);
    pf_tracker_set_policy(t, p);
    CHECK_EQ(announce(t, IH, 4, &r), 0);
    CHECK_EQ(r.num_peers, 0u); /* no peers, and told why */
    CHECK_EQ(r.p2p_off, 1);
    CHECK_EQ(r.incomplete, 3);
    pf_announce_resp_clear(&r);
    CHECK_EQ(announce(t, OTHER, 4, &r), 0); /* another title: untouched */
    CHECK_EQ(r.p2p_off, 0);
    pf_announce_resp_clear(&r);
    /* BEP 15: no peers either. */
    pf_addr from;
    memset(&from, 0, sizeof from);
    from.family = 4;
    from.ip[0] = 10;
    from.ip[3] = 9;
    from.port = 9999;
    uint8_t req[98], out[PF_TRACKER_UDP_REPLY_MAX];
    pf_udpt_connect_req(req, 1);
    size_t n = pf_tracker_handle_udp(t, &from, req, 16, 1, out, sizeof out);
    CHECK_EQ(n, 16u);
    uint64_t cid = 0;
    for (int i = 8; i < 16; i++) cid = cid << 8 | out[i];
    pf_announce_req r15;
    memset(&r15, 0, sizeof r15);
    memcpy(r15.info_hash, IH, 20);
    memcpy(r15.peer_id, "-XX0001-udpudpudpudp", 20);
    r15.left = 100;
    r15.numwant = 50;
    r15.port = 7000;
    pf_udpt_announce_req(req, cid, 2, &r15);
    n = pf_tracker_handle_udp(t, &from, req, 98, 1, out, sizeof out);
    CHECK_EQ(n, (size_t)PF_UDPT_ANNOUNCE_HEAD); /* a reply with no peer */

    pf_tracker_policy_free(p);
    p = parse("all upload-cap 1M\n", why, sizeof why);
    pf_tracker_set_policy(t, p);
    CHECK_EQ(announce(t, IH, 4, &r), 0);
    CHECK_EQ(r.p2p_off, 0);
    CHECK_EQ(r.upload_cap, 1024u * 1024);
    CHECK(r.num_peers > 0u);
    pf_announce_resp_clear(&r);
    pf_buf m;
    pf_buf_init(&m);
    CHECK_EQ(pf_tracker_metrics(t, &m), 0);
    CHECK_EQ(pf_buf_nul(&m), 0);
    CHECK(strstr((char *)m.data, "\npeerflow_tracker_upload_cap_bytes{scope=\"all\",key=\"\"} 1048576\n"));
    pf_buf_free(&m);
    pf_tracker_set_policy(t, NULL);
    pf_tracker_policy_free(p);
    CHECK_EQ(announce(t, IH, 4, &r), 0);
    CHECK_EQ(r.upload_cap, 0u);
    pf_announce_resp_clear(&r);
    pf_tracker_free(t);
}

TEST_MAIN(policy_rules, policy_refusals, policy_tracker_obeyed)
