/* Viewers' QoE reports at the tracker (core/tracker/qoe.c and
 * pf_tracker_handle_qoe): the body and its refusals, totals added once
 * (a retried report costs nothing), the bounds on what a report may add,
 * the start-up histogram, ended streams, the series and stream limits,
 * subscriber tokens, and the /metrics text. */
#include "core/codec/http_parse.h"
#include "core/tracker/auth.h"
#include "core/tracker/qoe.h"
#include "core/tracker/tracker.h"
#include "test.h"

#define IH_Q "%30%31%32%33%34%35%36%37%38%39%30%31%32%33%34%35%36%37%38%39" /* "01234567890123456789" */
#define IH_HEX "3031323334353637383930313233343536373839"
#define SEC 1000000000ull
static const uint8_t IH[20] = "01234567890123456789";

static const char *parse(const char *body, pf_qoe_report *r) { return pf__qoe_parse(body, strlen(body), r); }

TEST(qoe_parse)
{
    pf_qoe_report r;
    CHECK(parse("info_hash=" IH_Q "&stream=00ff&play_ms=60000&startup_ms=420&stalls=1&stall_ms=900"
                "&cdn_bytes=100&peer_bytes=900&upload_bytes=50&budget_left=0&final=1&token=pf1.a%2Eb",
                &r) == NULL);
    CHECK(memcmp(r.info_hash, IH, 20) == 0);
    CHECK_STR(r.stream, "00ff");
    CHECK_EQ(r.play_ms, 60000u);
    CHECK_EQ(r.has_startup, 1);
    CHECK_EQ(r.startup_ms, 420u);
    CHECK_EQ(r.stalls, 1u);
    CHECK_EQ(r.peer_bytes, 900u);
    CHECK_EQ(r.has_budget, 1);
    CHECK_EQ(r.final, 1);
    CHECK_STR(r.token, "pf1.a.b");
    CHECK(parse("info_hash=" IH_Q "&stream=1&play_ms=0", &r) == NULL); /* the least */
    CHECK_EQ(r.has_startup, 0);
    CHECK_EQ(r.token_len, 0u);
    CHECK_STR(parse("stream=1&play_ms=0", &r), "invalid info_hash");
    CHECK_STR(parse("info_hash=%30&stream=1&play_ms=0", &r), "invalid info_hash");
    CHECK_STR(parse("info_hash=" IH_Q "&play_ms=0", &r), "invalid stream");
    CHECK_STR(parse("info_hash=" IH_Q "&stream=XYZ&play_ms=0", &r), "invalid stream");
    CHECK_STR(parse("info_hash=" IH_Q "&stream=000000000000000000000000000000000&play_ms=0", &r), "invalid stream");
    CHECK_STR(parse("info_hash=" IH_Q "&stream=1", &r), "invalid play_ms");
    CHECK_STR(parse("info_hash=" IH_Q "&stream=1&play_ms=-1", &r), "invalid play_ms");
    CHECK_STR(parse("info_hash=" IH_Q "&stream=1&play_ms=99999999999999999999", &r), "invalid play_ms");
    CHECK_STR(parse("info_hash=" IH_Q "&stream=1&play_ms=1&final=2", &r), "invalid final");
    CHECK_STR(parse("info_hash=" IH_Q "&stream=1&play_ms=1&cdn_bytes=1e9", &r), "invalid cdn_bytes");
    CHECK_STR(parse("info_hash=" IH_Q "&stream=1&play_ms=1&startup_ms=", &r), "invalid startup_ms");
    char big[PF_QOE_BODY_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK_STR(parse(big, &r), "report too large");
}

static int add(pf_qoe_store *q, const char *body, const char *pid, uint64_t now)
{
    pf_qoe_report r;
    if (parse(body, &r)) return -100;
    return pf__qoe_add(q, &r, pid, now);
}

static char *metrics(pf_qoe_store *q, pf_buf *m)
{
    pf_buf_init(m);
    if (pf__qoe_metrics(q, m) || pf_buf_nul(m)) return NULL;
    return (char *)m->data;
}

#define HAS(text, line) CHECK(strstr(text, "\n" line "\n") != NULL)
#define L "{title=\"" IH_HEX "\",pid=\"isp-a\""

TEST(qoe_totals_once)
{
    pf_qoe_store *q = pf__qoe_new(0, 0, 1);
    CHECK(q != NULL);
    const char *r1 = "info_hash=" IH_Q "&stream=a1&play_ms=60000&startup_ms=700&cdn_bytes=1000&peer_bytes=3000"
                     "&upload_bytes=10";
    CHECK_EQ(add(q, r1, "isp-a", 61 * SEC), 0);
    CHECK_EQ(add(q, r1, "isp-a", 62 * SEC), 0); /* a retry: adds nothing */
    CHECK_EQ(add(q, "info_hash=" IH_Q "&stream=a1&play_ms=120000&startup_ms=700&cdn_bytes=1500&peer_bytes=9000"
                    "&stalls=2&stall_ms=1500&upload_bytes=20&final=1",
                 "isp-a", 121 * SEC),
             0);
    /* A second stream, from another ISP; then one slow to start. */
    CHECK_EQ(add(q, "info_hash=" IH_Q "&stream=b2&play_ms=30000&startup_ms=3000", "isp-b", 40 * SEC), 0);
    CHECK_EQ(add(q, "info_hash=" IH_Q "&stream=c3&play_ms=1000&startup_ms=20000", "isp-a", 40 * SEC), 0);
    pf_buf m;
    char *t = metrics(q, &m);
    CHECK(t != NULL);
    HAS(t, "peerflow_tracker_qoe_reports_total" L "} 4");
    HAS(t, "peerflow_tracker_qoe_streams_total" L "} 1");
    HAS(t, "peerflow_tracker_qoe_play_seconds_total" L "} 121.000");
    HAS(t, "peerflow_tracker_qoe_stalls_total" L "} 2");
    HAS(t, "peerflow_tracker_qoe_stall_seconds_total" L "} 1.500");
    HAS(t, "peerflow_tracker_qoe_bytes_total" L ",source=\"cdn\"} 1500");
    HAS(t, "peerflow_tracker_qoe_bytes_total" L ",source=\"peer\"} 9000");
    HAS(t, "peerflow_tracker_qoe_upload_bytes_total" L "} 20");
    /* One start-up per stream: 0.7 s and 20 s. */
    HAS(t, "peerflow_tracker_qoe_startup_seconds_bucket" L ",le=\"0.5\"} 0");
    HAS(t, "peerflow_tracker_qoe_startup_seconds_bucket" L ",le=\"1\"} 1");
    HAS(t, "peerflow_tracker_qoe_startup_seconds_bucket" L ",le=\"16\"} 1");
    HAS(t, "peerflow_tracker_qoe_startup_seconds_bucket" L ",le=\"+Inf\"} 2");
    HAS(t, "peerflow_tracker_qoe_startup_seconds_count" L "} 2");
    HAS(t, "peerflow_tracker_qoe_startup_seconds_sum" L "} 20.700");
    HAS(t, "peerflow_tracker_qoe_startup_seconds_bucket{title=\"" IH_HEX "\",pid=\"isp-b\",le=\"4\"} 1");
    pf_buf_free(&m);
    pf_qoe_counts c;
    pf__qoe_counts(q, &c);
    CHECK_EQ(c.reports, 5u);
    CHECK_EQ(c.streams_live, 3u);
    CHECK_EQ(c.series, 2u);
    /* Ended and silent streams are forgotten; the totals stay. */
    pf__qoe_expire(q, 121 * SEC);
    pf__qoe_counts(q, &c);
    CHECK_EQ(c.streams_live, 2u);
    pf__qoe_expire(q, (121 + PF_QOE_STREAM_TTL_S) * SEC);
    pf__qoe_counts(q, &c);
    CHECK_EQ(c.streams_live, 0u);
    t = metrics(q, &m);
    HAS(t, "peerflow_tracker_qoe_play_seconds_total" L "} 121.000");
    pf_buf_free(&m);
    pf__qoe_free(q);
}

TEST(qoe_bounds)
{
    pf_qoe_store *q = pf__qoe_new(2, 3, 1);
    /* A first report adds at most 10 minutes of play; the next, the time
     * since plus a minute; totals never go down. */
    CHECK_EQ(add(q, "info_hash=" IH_Q "&stream=1&play_ms=99999999&stalls=5000", "isp-a", 10 * SEC), 0);
    CHECK_EQ(add(q, "info_hash=" IH_Q "&stream=1&play_ms=999999999", "isp-a", 70 * SEC), 0);
    CHECK_EQ(add(q, "info_hash=" IH_Q "&stream=1&play_ms=5", "isp-a", 80 * SEC), 0);
    pf_buf m;
    char *t = metrics(q, &m);
    HAS(t, "peerflow_tracker_qoe_play_seconds_total" L "} 720.000"); /* 600 + 60 + 60 */
    HAS(t, "peerflow_tracker_qoe_stalls_total" L "} 1000");
    pf_buf_free(&m);
    /* Two series, then "other". */
    CHECK_EQ(add(q, "info_hash=" IH_Q "&stream=2&play_ms=1000", "isp-b", 80 * SEC), 0);
    CHECK_EQ(add(q, "info_hash=" IH_Q "&stream=3&play_ms=1000", "isp-c", 80 * SEC), 0);
    t = metrics(q, &m);
    HAS(t, "peerflow_tracker_qoe_play_seconds_total{title=\"other\",pid=\"other\"} 1.000");
    CHECK(strstr(t, "isp-c") == NULL);
    pf_buf_free(&m);
    /* Three live streams: a fourth waits (503) until one goes. */
    CHECK_EQ(add(q, "info_hash=" IH_Q "&stream=4&play_ms=1000", "isp-a", 80 * SEC), PF_ERR_LIMIT);
    CHECK_EQ(add(q, "info_hash=" IH_Q "&stream=3&play_ms=2000&final=1", "isp-c", 81 * SEC), 0);
    pf__qoe_expire(q, 82 * SEC);
    CHECK_EQ(add(q, "info_hash=" IH_Q "&stream=4&play_ms=1000", "isp-a", 83 * SEC), 0);
    pf_qoe_counts c;
    pf__qoe_counts(q, &c);
    CHECK_EQ(c.dropped_full, 1u);
    /* Many streams: the table grows and every one is still found. */
    pf__qoe_free(q);
    q = pf__qoe_new(0, 5000, 2);
    char body[160];
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 5000; i++) {
            snprintf(body, sizeof body, "info_hash=%s&stream=%x&play_ms=1000", IH_Q, i);
            CHECK_EQ(add(q, body, NULL, 10 * SEC), 0);
        }
    t = metrics(q, &m);
    HAS(t, "peerflow_tracker_qoe_play_seconds_total{title=\"" IH_HEX "\",pid=\"unknown\"} 5000.000");
    pf_buf_free(&m);
    pf__qoe_free(q);
}

static int post(pf_tracker *t, const char *ctype, const char *body, const char **why)
{
    char raw[4096];
    int n = snprintf(raw, sizeof raw, "POST /qoe HTTP/1.1\r\nHost: t\r\n%s%s%sContent-Length: %zu\r\n\r\n",
                     ctype ? "Content-Type: " : "", ctype ? ctype : "", ctype ? "\r\n" : "", strlen(body));
    pf_http_request req;
    if (pf_http_request_parse((const uint8_t *)raw, (size_t)n, 0, &req) <= 0) return -1;
    pf_addr from;
    memset(&from, 0, sizeof from);
    from.family = 4;
    from.ip[0] = 10;
    from.ip[3] = 1;
    return pf_tracker_handle_qoe(t, &req, &from, (const uint8_t *)body, strlen(body), 5 * SEC, why);
}

TEST(qoe_tracker_endpoint)
{
    pf_tracker *t = pf_tracker_new(NULL);
    const char *why;
    const char *form = "application/x-www-form-urlencoded";
    CHECK_EQ(post(t, form, "info_hash=" IH_Q "&stream=1&play_ms=1000", &why), 204);
    CHECK_EQ(post(t, "application/x-www-form-urlencoded; charset=utf-8", "info_hash=" IH_Q "&stream=1&play_ms=2000",
                  &why),
             204);
    CHECK_EQ(post(t, "text/plain", "info_hash=" IH_Q "&stream=1&play_ms=1000", &why), 415);
    CHECK_EQ(post(t, NULL, "info_hash=" IH_Q "&stream=1&play_ms=1000", &why), 415);
    CHECK_EQ(post(t, form, "stream=1&play_ms=1000", &why), 400);
    CHECK_STR(why, "invalid info_hash");
    /* Subscribers only: a token for that title. */
    char pem[512], pub[PF_TOKEN_PUBKEY_LEN + 1], line[128], tok[PF_TOKEN_MAX + 1], body[PF_TOKEN_MAX + 200];
    CHECK_EQ(pf_token_keygen(pem, sizeof pem, pub), 0);
    snprintf(line, sizeof line, "k ed25519 %s\n", pub);
    pf_auth_keys *k = NULL;
    char kwhy[128];
    CHECK_EQ(pf_auth_keys_parse(line, strlen(line), &k, kwhy, sizeof kwhy), 0);
    pf_tracker_set_auth(t, k);
    pf_tracker_set_unix_time(t, 1800000000);
    CHECK_EQ(post(t, form, "info_hash=" IH_Q "&stream=2&play_ms=1000", &why), 403);
    CHECK_STR(why, "missing token");
    CHECK_EQ(pf_token_sign(pem, "k", "alice", (const uint8_t *)"abcdefghijabcdefghij", 1800000060, tok, sizeof tok),
             0);
    snprintf(body, sizeof body, "info_hash=%s&stream=2&play_ms=1000&token=%s", IH_Q, tok);
    CHECK_EQ(post(t, form, body, &why), 403);
    CHECK_STR(why, "token is for another torrent");
    CHECK_EQ(pf_token_sign(pem, "k", "alice", IH, 1800000060, tok, sizeof tok), 0);
    snprintf(body, sizeof body, "info_hash=%s&stream=2&play_ms=1000&token=%s", IH_Q, tok);
    CHECK_EQ(post(t, form, body, &why), 204);
    pf_buf m;
    pf_buf_init(&m);
    CHECK_EQ(pf_tracker_metrics(t, &m), 0);
    CHECK_EQ(pf_buf_nul(&m), 0);
    const char *x = (const char *)m.data;
    HAS(x, "peerflow_tracker_qoe_reports_total{title=\"" IH_HEX "\",pid=\"unknown\"} 3");
    HAS(x, "peerflow_tracker_qoe_play_seconds_total{title=\"" IH_HEX "\",pid=\"unknown\"} 3.000");
    HAS(x, "peerflow_tracker_qoe_reports_refused_total 5");
    HAS(x, "peerflow_tracker_qoe_streams_live 2");
    CHECK(strstr(x, tok) == NULL); /* never a token */
    pf_buf_free(&m);
    pf_tracker_free(t);
    pf_auth_keys_free(k);
}

TEST_MAIN(qoe_parse, qoe_totals_once, qoe_bounds, qoe_tracker_endpoint)
