#include "core/codec/http_parse.h"
#include "peerflow/peerflow.h"
#include "test.h"

static int parse(const char *s, pf_http_request *r)
{
    return pf_http_request_parse((const uint8_t *)s, strlen(s), 0, r);
}

TEST(test_basic_get)
{
    const char *s = "GET /announce?info_hash=%00%01&port=1 HTTP/1.1\r\n"
                    "Host: example.com:80\r\nRange:  bytes=0-9 \r\nX-Empty:\r\n\r\nBODY";
    pf_http_request r;
    int rc = parse(s, &r);
    CHECK_EQ(rc, (int)(strstr(s, "BODY") - s));
    CHECK_EQ(r.method, PF_HTTP_GET);
    CHECK_EQ(r.version_minor, 1);
    CHECK(pf_http_str_ieq(r.path, "/announce"));
    CHECK(r.has_query);
    CHECK(pf_http_str_ieq(r.query, "info_hash=%00%01&port=1"));
    CHECK(pf_http_str_ieq(r.host, "example.com:80"));
    const pf_http_str *range = pf_http_header_get(&r, "range");
    CHECK(range && pf_http_str_ieq(*range, "bytes=0-9"));
    const pf_http_str *e = pf_http_header_get(&r, "X-EMPTY");
    CHECK(e && e->len == 0);
    CHECK(r.keep_alive);
    CHECK(!r.has_content_length);
    CHECK(pf_http_header_get(&r, "Missing") == NULL);
}

TEST(test_incremental)
{
    const char *s = "HEAD /x HTTP/1.0\nConnection: Keep-Alive\n\n";
    size_t n = strlen(s);
    pf_http_request r;
    for (size_t i = 0; i < n; i++)
        CHECK_EQ(pf_http_request_parse((const uint8_t *)s, i, 0, &r), 0);
    CHECK_EQ(pf_http_request_parse((const uint8_t *)s, n, 0, &r), (int)n);
    CHECK_EQ(r.method, PF_HTTP_HEAD);
    CHECK_EQ(r.version_minor, 0);
    CHECK(r.keep_alive);
    CHECK(!r.has_query);
}

TEST(test_keep_alive_rules)
{
    pf_http_request r;
    CHECK(parse("GET / HTTP/1.0\r\n\r\n", &r) > 0);
    CHECK(!r.keep_alive);
    CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n", &r) > 0);
    CHECK(!r.keep_alive);
    CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", &r) > 0);
    CHECK(r.keep_alive);
}

TEST(test_malformed)
{
    pf_http_request r;
    CHECK_EQ(parse("GET / HTTP/1.1\r\n\r\n", &r), PF_ERR_PARSE); /* no Host */
    CHECK_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", &r), PF_ERR_PARSE);
    CHECK_EQ(parse("GET  / HTTP/1.1\r\n", &r), PF_ERR_PARSE);
    CHECK_EQ(parse("GET / HTTP/1.1 \r\n", &r), PF_ERR_PARSE);
    CHECK_EQ(parse("G(T / HTTP/1.1\r\n", &r), PF_ERR_PARSE);
    CHECK_EQ(parse("GET / HTTP/2.0\r\n", &r), PF_ERR_UNSUPPORTED);
    CHECK_EQ(r.version_minor, -1);
    CHECK_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", &r), PF_ERR_PARSE);
    CHECK_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", &r), PF_ERR_PARSE);
    CHECK_EQ(parse("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", &r), PF_ERR_PARSE);
    CHECK_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
                   "Content-Length: 2\r\n\r\n", &r), PF_ERR_PARSE);
    CHECK_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", &r),
             PF_ERR_PARSE);
    CHECK_EQ(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", &r),
             PF_ERR_UNSUPPORTED);
    CHECK_EQ(parse("GET x HTTP/1.1\r\n", &r), PF_ERR_PARSE);
    CHECK_EQ(parse("GET * HTTP/1.1\r\n", &r), PF_ERR_PARSE);
    /* Early rejection: control bytes before the line ends. */
    CHECK_EQ(parse("GET /\x01", &r), PF_ERR_PARSE);
}

TEST(test_content_length_and_forms)
{
    pf_http_request r;
    CHECK(parse("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                "content-length: 5\r\n\r\n", &r) > 0);
    CHECK(r.has_content_length);
    CHECK_EQ(r.content_length, 5);
    CHECK_EQ(r.method, PF_HTTP_POST);
    CHECK(parse("GET http://h:1/a/b?x=1 HTTP/1.1\r\nHost: h:1\r\n\r\n", &r) > 0);
    CHECK(pf_http_str_ieq(r.path, "/a/b"));
    CHECK(pf_http_str_ieq(r.query, "x=1"));
    CHECK(parse("GET http://h?q HTTP/1.1\r\nHost: h\r\n\r\n", &r) > 0);
    CHECK(pf_http_str_ieq(r.path, "/"));
    CHECK(pf_http_str_ieq(r.query, "q"));
    CHECK(parse("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", &r) > 0);
    CHECK(parse("BREW /pot HTTP/1.1\r\nHost: h\r\n\r\n", &r) > 0);
    CHECK_EQ(r.method, PF_HTTP_OTHER);
    CHECK(pf_http_str_ieq(r.method_str, "brew"));
}

TEST(test_limits)
{
    pf_http_request r;
    char big[PF_HTTP_MAX_HEAD + 100];
    memset(big, 'a', sizeof big);
    memcpy(big, "GET /", 5);
    CHECK_EQ(pf_http_request_parse((const uint8_t *)big, sizeof big, 0, &r), PF_ERR_LIMIT);
    CHECK_EQ(pf_http_request_parse((const uint8_t *)big, 100, 0, &r), 0);
    CHECK_EQ(pf_http_request_parse((const uint8_t *)big, 100, 50, &r), PF_ERR_LIMIT);
    pf_buf b;
    pf_buf_init(&b);
    pf_buf_append_str(&b, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < PF_HTTP_MAX_HEADERS; i++) pf_buf_appendf(&b, "X-%d: y\r\n", i);
    pf_buf_append_str(&b, "\r\n");
    CHECK_EQ(pf_http_request_parse(b.data, b.len, 0, &r), PF_ERR_LIMIT);
    pf_buf_free(&b);
}

TEST(test_pct_decode)
{
    uint8_t out[32];
    size_t n;
    CHECK_EQ(pf_http_pct_decode("%00%ff%41b+c", 12, 1, out, sizeof out, &n), 0);
    CHECK_EQ(n, 6);
    CHECK_MEM(out, "\x00\xff\x41" "b c", 6);
    CHECK_EQ(pf_http_pct_decode("a+b", 3, 0, out, sizeof out, &n), 0);
    CHECK_MEM(out, "a+b", 3);
    CHECK_EQ(pf_http_pct_decode("%4", 2, 1, out, sizeof out, &n), PF_ERR_PARSE);
    CHECK_EQ(pf_http_pct_decode("%zz", 3, 1, out, sizeof out, &n), PF_ERR_PARSE);
    CHECK_EQ(pf_http_pct_decode("abc", 3, 1, out, 2, &n), PF_ERR_LIMIT);
    pf_buf b;
    pf_buf_init(&b);
    uint8_t bin[4] = {0, 'a', '~', 0xfe};
    CHECK_EQ(pf_http_pct_encode(&b, bin, 4), 0);
    CHECK_EQ(b.len, 8);
    CHECK_MEM(b.data, "%00a~%FE", 8);
    pf_buf_free(&b);
}

TEST(test_query)
{
    const char *q = "a=1&&b&info%5fhash=%12%00%34&a=2&c=x%2By+z";
    uint8_t out[32];
    size_t n;
    CHECK_EQ(pf_http_query_get(q, strlen(q), "a", out, sizeof out, &n), 0);
    CHECK_EQ(n, 1);
    CHECK_EQ(out[0], '1');
    CHECK_EQ(pf_http_query_get(q, strlen(q), "b", out, sizeof out, &n), 0);
    CHECK_EQ(n, 0);
    CHECK_EQ(pf_http_query_get(q, strlen(q), "info_hash", out, sizeof out, &n), 0);
    CHECK_EQ(n, 3);
    CHECK_MEM(out, "\x12\x00\x34", 3);
    CHECK_EQ(pf_http_query_get(q, strlen(q), "c", out, sizeof out, &n), 0);
    CHECK_EQ(n, 5);
    CHECK_MEM(out, "x+y z", 5);
    CHECK_EQ(pf_http_query_get(q, strlen(q), "zz", out, sizeof out, &n), PF_ERR_NOTFOUND);
    pf_http_query_iter it;
    pf_http_str k, v;
    int count = 0;
    pf_http_query_init(&it, q, strlen(q));
    while (pf_http_query_next(&it, &k, &v)) count++;
    CHECK_EQ(count, 5);
}

TEST(test_range)
{
    pf_http_range r;
#define R(s, total) pf_http_range_parse(s, strlen(s), total, &r)
    CHECK_EQ(R("bytes=0-9", 100), 0);
    CHECK_EQ(r.start, 0);
    CHECK_EQ(r.end, 9);
    CHECK_EQ(R("bytes=90-", 100), 0);
    CHECK_EQ(r.start, 90);
    CHECK_EQ(r.end, 99);
    CHECK_EQ(R("bytes=90-1000", 100), 0);
    CHECK_EQ(r.end, 99);
    CHECK_EQ(R("bytes=-10", 100), 0);
    CHECK_EQ(r.start, 90);
    CHECK_EQ(r.end, 99);
    CHECK_EQ(R("bytes=-1000", 100), 0);
    CHECK_EQ(r.start, 0);
    CHECK_EQ(R("Bytes = 5-5 ", 100), 0);
    CHECK_EQ(r.start, 5);
    CHECK_EQ(r.end, 5);
    CHECK_EQ(R("bytes=5-5,", 100), 0);
    CHECK_EQ(R("bytes=99999999999999999999999-", 100), PF_ERR_RANGE);
    CHECK_EQ(R("bytes=0-99999999999999999999999", 100), 0);
    CHECK_EQ(r.end, 99);
    CHECK_EQ(R("bytes=100-", 100), PF_ERR_RANGE);
    CHECK_EQ(R("bytes=-0", 100), PF_ERR_RANGE);
    CHECK_EQ(R("bytes=0-", 0), PF_ERR_RANGE);
    CHECK_EQ(R("bytes=-5", 0), PF_ERR_RANGE);
    CHECK_EQ(R("bytes=5-4", 100), PF_ERR_UNSUPPORTED);
    CHECK_EQ(R("bytes=0-1,5-6", 100), PF_ERR_UNSUPPORTED);
    CHECK_EQ(R("items=0-1", 100), PF_ERR_UNSUPPORTED);
    CHECK_EQ(R("bytes=", 100), PF_ERR_UNSUPPORTED);
    CHECK_EQ(R("bytes=a-b", 100), PF_ERR_UNSUPPORTED);
    CHECK_EQ(R("bytes=-", 100), PF_ERR_UNSUPPORTED);
    CHECK_EQ(R("bytes=1", 100), PF_ERR_UNSUPPORTED);
#undef R
}

/* Hostile Range values: each is a clear decision, never a bogus 206. */
TEST(test_range_hostile)
{
    pf_http_range r;
#define R(s, total) pf_http_range_parse(s, strlen(s), total, &r)
    /* 2^64 - 1 and beyond as a first position: past the end, 416. */
    CHECK_EQ(R("bytes=18446744073709551615-", 1000), PF_ERR_RANGE);
    CHECK_EQ(R("bytes=18446744073709551616-", 1000), PF_ERR_RANGE);
    CHECK_EQ(R("bytes=18446744073709551615-18446744073709551615", 1000), PF_ERR_RANGE);
    /* valid huge-huge (first <= last, both past the end of a small file) */
    CHECK_EQ(R("bytes=99999999999999999999-99999999999999999999", 1000), PF_ERR_RANGE);
    CHECK_EQ(R("bytes=99999999999999999998-99999999999999999999", 1000), PF_ERR_RANGE);
    /* invalid huge-huge (last < first although both saturate): ignored,
     * like every other last < first (this was 416 before) */
    CHECK_EQ(R("bytes=99999999999999999999-99999999999999999998", 1000), PF_ERR_UNSUPPORTED);
    CHECK_EQ(R("bytes=100000000000000000000-99999999999999999999", 1000), PF_ERR_UNSUPPORTED);
    CHECK_EQ(R("bytes=0000000000000000000000005-4", 1000), PF_ERR_UNSUPPORTED);
    CHECK_EQ(R("bytes=0000000000000000000000005-00000000000000000000000000006", 1000), 0);
    CHECK_EQ(r.start, 5);
    CHECK_EQ(r.end, 6);
    /* huge suffix: the whole file */
    CHECK_EQ(R("bytes=-99999999999999999999999", 1000), 0);
    CHECK_EQ(r.start, 0);
    CHECK_EQ(r.end, 999);
    /* a file of 2^64 - 1 bytes still works at its very end */
    CHECK_EQ(R("bytes=18446744073709551614-", UINT64_MAX), 0);
    CHECK_EQ(r.start, UINT64_MAX - 1);
    CHECK_EQ(r.end, UINT64_MAX - 1);
    /* negative numbers and junk: bad syntax, ignored */
    CHECK_EQ(R("bytes=-5-9", 1000), PF_ERR_UNSUPPORTED);
    CHECK_EQ(R("bytes=--1", 1000), PF_ERR_UNSUPPORTED);
    CHECK_EQ(R("bytes=-1-", 1000), PF_ERR_UNSUPPORTED);
    CHECK_EQ(R("bytes=+5-9", 1000), PF_ERR_UNSUPPORTED);
    CHECK_EQ(R("bytes=5 -9", 1000), PF_ERR_UNSUPPORTED);
    CHECK_EQ(R("bytes=0x10-", 1000), PF_ERR_UNSUPPORTED);
    CHECK_EQ(R("bytes=1e3-", 1000), PF_ERR_UNSUPPORTED);
    /* several ranges (also overlapping / many): ignored */
    CHECK_EQ(R("bytes=0-0,0-0,0-0,0-0,0-0,0-0", 1000), PF_ERR_UNSUPPORTED);
    CHECK_EQ(R("bytes=0-,-1", 1000), PF_ERR_UNSUPPORTED);
    /* NUL inside the value (the parser never lets one through, but the
     * function is length-based) */
    CHECK_EQ(pf_http_range_parse("bytes=0-\0009", 10, 1000, &r), PF_ERR_UNSUPPORTED);
#undef R
}

/* Oversized and NUL-carrying heads. */
TEST(test_hostile_heads)
{
    pf_http_request r;
    /* a request line of 9 KiB: PF_ERR_LIMIT flagged as a too-long target */
    pf_buf b;
    pf_buf_init(&b);
    pf_buf_append_str(&b, "GET /");
    for (int i = 0; i < 9 * 1024; i++) pf_buf_append_u8(&b, 'a');
    CHECK_EQ(pf_http_request_parse(b.data, b.len, 0, &r), PF_ERR_LIMIT);
    CHECK_EQ(r.target_too_long, 1);
    /* complete line, then 9 KiB of one header: a 431, not a 414 */
    pf_buf_reset(&b);
    pf_buf_append_str(&b, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
    for (int i = 0; i < 9 * 1024; i++) pf_buf_append_u8(&b, 'a');
    CHECK_EQ(pf_http_request_parse(b.data, b.len, 0, &r), PF_ERR_LIMIT);
    CHECK_EQ(r.target_too_long, 0);
    /* exactly at the limit still parses; one more byte does not */
    pf_buf_reset(&b);
    pf_buf_append_str(&b, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
    size_t fill = PF_HTTP_MAX_HEAD - b.len - 4;
    for (size_t i = 0; i < fill; i++) pf_buf_append_u8(&b, 'a');
    pf_buf_append_str(&b, "\r\n\r\n");
    CHECK_EQ(b.len, PF_HTTP_MAX_HEAD);
    CHECK_EQ(pf_http_request_parse(b.data, b.len, 0, &r), (int)PF_HTTP_MAX_HEAD);
    b.len -= 4;
    pf_buf_append_str(&b, "a\r\n\r\n");
    CHECK_EQ(pf_http_request_parse(b.data, b.len, 0, &r), PF_ERR_LIMIT);
    pf_buf_free(&b);
    /* NUL bytes: in the target, a header name or a value */
    static const char nul_target[] = "GET /files/0/a\0b HTTP/1.1\r\nHost: a\r\n\r\n";
    static const char nul_value[] = "GET / HTTP/1.1\r\nHost: a\0\r\n\r\n";
    static const char nul_name[] = "GET / HTTP/1.1\r\nHo\0st: a\r\n\r\n";
    static const char nul_early[] = "GET /\0";
    CHECK_EQ(pf_http_request_parse((const uint8_t *)nul_target, sizeof nul_target - 1, 0, &r),
             PF_ERR_PARSE);
    CHECK_EQ(pf_http_request_parse((const uint8_t *)nul_value, sizeof nul_value - 1, 0, &r),
             PF_ERR_PARSE);
    CHECK_EQ(pf_http_request_parse((const uint8_t *)nul_name, sizeof nul_name - 1, 0, &r),
             PF_ERR_PARSE);
    /* rejected as soon as it arrives, before the line is complete */
    CHECK_EQ(pf_http_request_parse((const uint8_t *)nul_early, sizeof nul_early - 1, 0, &r),
             PF_ERR_PARSE);
    /* %00 and dot segments are the router's business: the parser keeps the
     * path encoded */
    CHECK(parse("GET /files/0/%2e%2e/%00 HTTP/1.1\r\nHost: a\r\n\r\n", &r) > 0);
    CHECK(pf_http_str_ieq(r.path, "/files/0/%2e%2e/%00"));
    /* absolute-form: the path part only */
    CHECK(parse("GET http://127.0.0.1:1/../../etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n", &r) > 0);
    CHECK(pf_http_str_ieq(r.path, "/../../etc/passwd"));
    /* a relative target is malformed */
    CHECK_EQ(parse("GET ../etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n", &r), PF_ERR_PARSE);
    CHECK_EQ(parse("GET C:\\x HTTP/1.1\r\nHost: a\r\n\r\n", &r), PF_ERR_PARSE);
}

TEST(test_resp_head)
{
    pf_buf b;
    pf_buf_init(&b);
    pf_http_resp_head h;
    pf_http_resp_head_init(&h, 206);
    h.content_type = "video/mp4";
    h.content_length = 10;
    h.has_range = 1;
    h.range.start = 0;
    h.range.end = 9;
    h.range_total = 100;
    h.accept_ranges = 1;
    h.date = 784111777; /* RFC example */
    CHECK_EQ(pf_http_resp_head_build(&b, &h), 0);
    pf_buf_nul(&b);
    CHECK_STR((char *)b.data, "HTTP/1.1 206 Partial Content\r\n"
                              "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                              "Content-Type: video/mp4\r\n"
                              "Content-Length: 10\r\n"
                              "Accept-Ranges: bytes\r\n"
                              "Content-Range: bytes 0-9/100\r\n"
                              "Connection: keep-alive\r\n\r\n");
    pf_buf_reset(&b);
    pf_http_resp_head_init(&h, 416);
    h.range_unsatisfied = 1;
    h.range_total = 5;
    h.keep_alive = 0;
    h.extra = "X-A: 1\r\n";
    CHECK_EQ(pf_http_resp_head_build(&b, &h), 0);
    pf_buf_nul(&b);
    CHECK_STR((char *)b.data, "HTTP/1.1 416 Range Not Satisfiable\r\n"
                              "Content-Range: bytes */5\r\n"
                              "Connection: close\r\nX-A: 1\r\n\r\n");
    pf_buf_reset(&b);
    h.content_type = "text/plain\r\nX-Evil: 1";
    CHECK_EQ(pf_http_resp_head_build(&b, &h), PF_ERR_INVAL);
    CHECK_EQ(b.len, 0);
    h.content_type = NULL;
    h.extra = "X-A: 1";
    CHECK_EQ(pf_http_resp_head_build(&b, &h), PF_ERR_INVAL);
    char d[40];
    pf_http_date_format(0, d, sizeof d);
    CHECK_STR(d, "Thu, 01 Jan 1970 00:00:00 GMT");
    pf_http_date_format(951782400, d, sizeof d); /* leap day 2000 */
    CHECK_STR(d, "Tue, 29 Feb 2000 00:00:00 GMT");
    pf_buf_free(&b);
}

TEST_MAIN(test_basic_get, test_incremental, test_keep_alive_rules, test_malformed,
          test_content_length_and_forms, test_limits, test_pct_decode, test_query, test_range,
          test_resp_head, test_range_hostile, test_hostile_heads)
