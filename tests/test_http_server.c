/* Real sockets on 127.0.0.1: the server runs on its own uv loop in a
 * thread; the test thread is a plain blocking-socket client. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "net/http_server.h"
#include "test.h"

#define STREAM_CHUNK 65536
#define STREAM_CHUNKS 32
/* Short limits so the hostile-client tests run in seconds. */
#define HEADER_TIMEOUT_MS 400
#define IDLE_TIMEOUT_MS 700
#define SEND_TIMEOUT_MS 500
#define MAX_CONNS 6

typedef struct stream_job {
    pf_http_res *res;
    uv_timer_t timer;
    int sent;
    int chunked;
    int paused;
    int forever; /* never ends: only the client going away stops it */
} stream_job;

static uv_loop_t loop;
static uv_async_t stop_async;
static pf_http_server *srv;
static _Atomic int server_port;
static _Atomic int closes_seen;
static _Atomic int drains_seen;
static pthread_t thr;

static void job_closed(uv_handle_t *h) { free(h->data); }

static void stream_tick(uv_timer_t *t);

static void job_finish(stream_job *j)
{
    uv_timer_stop(&j->timer);
    uv_close((uv_handle_t *)&j->timer, job_closed);
}

static void on_res_close(pf_http_res *res, void *ud)
{
    closes_seen++;
    job_finish(ud);
}

static void on_drain(pf_http_res *res, void *ud)
{
    stream_job *j = ud;
    drains_seen++;
    if (j->paused) {
        j->paused = 0;
        uv_timer_start(&j->timer, stream_tick, 0, 0);
    }
}

static void stream_tick(uv_timer_t *t)
{
    stream_job *j = t->data;
    static uint8_t chunk[STREAM_CHUNK];
    while (j->forever || j->sent < STREAM_CHUNKS) {
        if (pf_http_res_queued(j->res) > 4 * STREAM_CHUNK) { /* backpressure */
            j->paused = 1;
            return;
        }
        memset(chunk, 'a' + j->sent % 26, sizeof chunk);
        if (pf_http_res_write(j->res, chunk, sizeof chunk) != 0) return;
        j->sent++;
        if (j->sent % 8 == 0) { /* continue later, like a piece arriving */
            uv_timer_start(&j->timer, stream_tick, 5, 0);
            return;
        }
    }
    pf_http_res_end(j->res);
    job_finish(j);
}

static void on_request(pf_http_res *res, const pf_http_request *req, const uint8_t *body,
                       size_t blen, void *ud)
{
    if (pf_http_str_ieq(req->path, "/hello")) {
        pf_http_res_send(res, 200, "text/plain", "hello", 5);
    } else if (pf_http_str_ieq(req->path, "/echo")) {
        pf_http_res_send(res, 200, "application/octet-stream", body, blen);
    } else if (pf_http_str_ieq(req->path, "/stream") || pf_http_str_ieq(req->path, "/chunked") ||
               pf_http_str_ieq(req->path, "/forever")) {
        stream_job *j = calloc(1, sizeof *j);
        j->res = res;
        j->chunked = pf_http_str_ieq(req->path, "/chunked");
        j->forever = pf_http_str_ieq(req->path, "/forever");
        uv_timer_init(&loop, &j->timer);
        j->timer.data = j;
        pf_http_res_set_close(res, on_res_close, j);
        pf_http_res_set_drain(res, STREAM_CHUNK, on_drain, j);
        pf_http_resp_head h;
        pf_http_resp_head_init(&h, 200);
        h.content_type = "application/octet-stream";
        h.content_length = j->chunked ? -1 : (int64_t)STREAM_CHUNK * STREAM_CHUNKS;
        if (pf_http_str_ieq(req->path, "/forever")) h.content_length = INT64_C(1) << 40;
        pf_http_res_start(res, &h);
        if (pf_http_res_is_head(res)) {
            pf_http_res_end(res);
            job_finish(j);
            return;
        }
        uv_timer_start(&j->timer, stream_tick, 1, 0);
    } else {
        pf_http_res_send(res, 404, "text/plain", "nope", 4);
    }
}

static void on_stop(uv_async_t *a)
{
    pf_http_server_stop(srv, NULL, NULL);
    uv_close((uv_handle_t *)a, NULL);
}

static void *loop_main(void *arg)
{
    uv_run(&loop, UV_RUN_DEFAULT);
    return NULL;
}

/* Set before a restart: changes the config further. */
static void (*cfg_hook)(pf_http_server_config *c);

static int start_server_with(uint32_t send_timeout_ms, uint32_t stall_evict_ms)
{
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop);
    uv_async_init(&loop, &stop_async, on_stop);
    pf_http_server_config c;
    pf_http_server_config_default(&c);
    c.bind = "127.0.0.1";
    c.port = 0;
    c.on_request = on_request;
    c.max_body = 1024;
    c.header_timeout_ms = HEADER_TIMEOUT_MS;
    c.idle_timeout_ms = IDLE_TIMEOUT_MS;
    c.send_timeout_ms = send_timeout_ms;
    c.stall_evict_ms = stall_evict_ms;
    c.max_conns = MAX_CONNS;
    if (cfg_hook) cfg_hook(&c);
    if (pf_http_server_start(&loop, &c, &srv) != 0) return -1;
    server_port = pf_http_server_port(srv);
    return pthread_create(&thr, NULL, loop_main, NULL);
}

static int start_server(void) { return start_server_with(SEND_TIMEOUT_MS, 0); }

static void stop_server(void)
{
    uv_async_send(&stop_async);
    pthread_join(thr, NULL);
    uv_loop_close(&loop);
}

/* From 127.0.0.1 unless src names another local address (127.0.0.2). */
static int dial_from(const char *src, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (src) {
        struct sockaddr_in la;
        memset(&la, 0, sizeof la);
        la.sin_family = AF_INET;
        inet_pton(AF_INET, src, &la.sin_addr);
        if (bind(fd, (struct sockaddr *)&la, sizeof la) != 0) {
            close(fd);
            return -1;
        }
    }
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)server_port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int dial_rcvbuf(int rcvbuf) { return dial_from(NULL, rcvbuf); }
static int dial(void) { return dial_rcvbuf(0); }

static int send_str(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

typedef struct resp {
    int status;
    char head[4096];
    pf_buf body;
} resp;

/* Reads one response; body by Content-Length, chunked, or to EOF. */
static int read_resp(int fd, resp *r, int is_head)
{
    static uint8_t pending[1 << 16];
    static size_t npend;
    static int pend_fd = -1;
    if (pend_fd != fd) npend = 0, pend_fd = fd;
    memset(r->head, 0, sizeof r->head);
    pf_buf_init(&r->body);
    pf_buf in;
    pf_buf_init(&in);
    pf_buf_append(&in, pending, npend);
    npend = 0;
    uint8_t tmp[65536];
    size_t hend = 0;
    int eof = 0;
    for (;;) {
        pf_buf_nul(&in);
        char *e = in.len ? strstr((char *)in.data, "\r\n\r\n") : NULL;
        if (e) {
            hend = (size_t)(e - (char *)in.data) + 4;
            break;
        }
        ssize_t n = recv(fd, tmp, sizeof tmp, 0);
        if (n <= 0) {
            pf_buf_free(&in);
            return -1;
        }
        pf_buf_append(&in, tmp, (size_t)n);
    }
    memcpy(r->head, in.data, hend < sizeof r->head - 1 ? hend : sizeof r->head - 1);
    r->status = (int)strtol((char *)in.data + 9, NULL, 10);
    pf_buf_consume(&in, hend);
    long long clen = -1;
    char *cl = strcasestr(r->head, "\r\nContent-Length: ");
    if (cl) clen = strtoll(cl + 18, NULL, 10);
    int chunked = strcasestr(r->head, "Transfer-Encoding: chunked") != NULL;
    for (;;) {
        size_t have = pf_buf_unread(&in);
        if (is_head || r->status == 204 || r->status == 304) break;
        if (chunked) {
            /* decode complete chunks from the front */
            pf_buf_nul(&in);
            const char *p = (const char *)pf_buf_head(&in);
            const char *crlf = have ? strstr(p, "\r\n") : NULL;
            if (crlf) {
                size_t sz = strtoul(p, NULL, 16);
                size_t need = (size_t)(crlf - p) + 2 + sz + 2;
                if (have >= need) {
                    pf_buf_append(&r->body, crlf + 2, sz);
                    pf_buf_consume(&in, need);
                    if (sz == 0) break;
                    continue;
                }
            }
        } else if (clen >= 0 && have >= (size_t)clen) {
            pf_buf_append(&r->body, pf_buf_head(&in), (size_t)clen);
            pf_buf_consume(&in, (size_t)clen);
            break;
        }
        if (eof) break;
        ssize_t n = recv(fd, tmp, sizeof tmp, 0);
        if (n < 0) {
            pf_buf_free(&in);
            return -1;
        }
        if (n == 0) {
            eof = 1;
            if (clen < 0 && !chunked) {
                pf_buf_append(&r->body, pf_buf_head(&in), pf_buf_unread(&in));
                pf_buf_consume(&in, pf_buf_unread(&in));
                break;
            }
            pf_buf_free(&in);
            return -1;
        }
        pf_buf_append(&in, tmp, (size_t)n);
    }
    npend = pf_buf_unread(&in) < sizeof pending ? pf_buf_unread(&in) : 0;
    memcpy(pending, pf_buf_head(&in), npend);
    pf_buf_free(&in);
    return 0;
}

static int wait_closed(int fd)
{
    char b[256];
    for (;;) {
        ssize_t n = recv(fd, b, sizeof b, 0);
        if (n == 0) return 1;
        if (n < 0) return errno == ECONNRESET;
    }
}

TEST(test_keep_alive_two_requests_and_head)
{
    int fd = dial();
    CHECK(fd >= 0);
    resp r;
    CHECK_EQ(send_str(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    CHECK_EQ(read_resp(fd, &r, 0), 0);
    CHECK_EQ(r.status, 200);
    CHECK(strstr(r.head, "Connection: keep-alive"));
    CHECK_EQ(r.body.len, 5);
    CHECK_MEM(r.body.data, "hello", 5);
    pf_buf_free(&r.body);
    /* second request on the same connection, plus a pipelined HEAD */
    CHECK_EQ(send_str(fd, "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n"
                          "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    CHECK_EQ(read_resp(fd, &r, 0), 0);
    CHECK_EQ(r.status, 404);
    pf_buf_free(&r.body);
    CHECK_EQ(read_resp(fd, &r, 1), 0);
    CHECK_EQ(r.status, 200);
    CHECK(strstr(r.head, "Content-Length: 5\r\n"));
    pf_buf_free(&r.body);
    /* POST body echoed; then Connection: close is honoured */
    CHECK_EQ(send_str(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                          "Connection: close\r\n\r\nabc"), 0);
    CHECK_EQ(read_resp(fd, &r, 0), 0);
    CHECK_EQ(r.status, 200);
    CHECK(strstr(r.head, "Connection: close"));
    CHECK_MEM(r.body.data, "abc", 3);
    pf_buf_free(&r.body);
    CHECK(wait_closed(fd));
    close(fd);
}

TEST(test_streamed_response)
{
    int fd = dial();
    CHECK(fd >= 0);
    resp r;
    CHECK_EQ(send_str(fd, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    CHECK_EQ(read_resp(fd, &r, 0), 0);
    CHECK_EQ(r.status, 200);
    CHECK_EQ(r.body.len, (size_t)STREAM_CHUNK * STREAM_CHUNKS);
    CHECK_EQ(r.body.data[0], 'a');
    CHECK_EQ(r.body.data[r.body.len - 1], 'a' + (STREAM_CHUNKS - 1) % 26);
    pf_buf_free(&r.body);
    /* chunked on the same connection */
    CHECK_EQ(send_str(fd, "GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    CHECK_EQ(read_resp(fd, &r, 0), 0);
    CHECK(strstr(r.head, "Transfer-Encoding: chunked"));
    CHECK_EQ(r.body.len, (size_t)STREAM_CHUNK * STREAM_CHUNKS);
    pf_buf_free(&r.body);
    /* HTTP/1.0 without length: close-delimited */
    CHECK_EQ(send_str(fd, "GET /chunked HTTP/1.0\r\n\r\n"), 0);
    CHECK_EQ(read_resp(fd, &r, 0), 0);
    CHECK(!strstr(r.head, "chunked"));
    CHECK(strstr(r.head, "Connection: close"));
    CHECK_EQ(r.body.len, (size_t)STREAM_CHUNK * STREAM_CHUNKS);
    pf_buf_free(&r.body);
    close(fd);
    /* HEAD of a streamed resource: headers only, connection reusable */
    fd = dial();
    CHECK(fd >= 0);
    CHECK_EQ(send_str(fd, "HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    CHECK_EQ(read_resp(fd, &r, 1), 0);
    CHECK(strstr(r.head, "Content-Length: 2097152\r\n"));
    pf_buf_free(&r.body);
    CHECK_EQ(send_str(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    CHECK_EQ(read_resp(fd, &r, 0), 0);
    CHECK_EQ(r.status, 200);
    pf_buf_free(&r.body);
    close(fd);
    CHECK(drains_seen > 0);
}

TEST(test_client_disconnect_fires_close)
{
    int before = closes_seen;
    int fd = dial();
    CHECK(fd >= 0);
    CHECK_EQ(send_str(fd, "GET /forever HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    char b[4096];
    CHECK(recv(fd, b, sizeof b, 0) > 0);
    close(fd);
    for (int i = 0; i < 500 && closes_seen == before; i++) usleep(10000);
    CHECK_EQ(closes_seen, before + 1);
}

TEST(test_oversized_and_bad_requests)
{
    int fd = dial();
    CHECK(fd >= 0);
    pf_buf big;
    pf_buf_init(&big);
    pf_buf_append_str(&big, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
    for (int i = 0; i < 10000; i++) pf_buf_append_u8(&big, 'a');
    pf_buf_append_str(&big, "\r\n\r\n");
    pf_buf_nul(&big);
    send_str(fd, (char *)big.data); /* may fail part-way once we are rejected */
    pf_buf_free(&big);
    resp r;
    CHECK_EQ(read_resp(fd, &r, 0), 0);
    CHECK_EQ(r.status, 431);
    CHECK(strstr(r.head, "Connection: close"));
    pf_buf_free(&r.body);
    CHECK(wait_closed(fd));
    close(fd);

    const char *bad[] = {"GET / HTTP/1.1\r\n\r\n", "GARBAGE\r\n\r\n",
                         "GET / HTTP/3.0\r\nHost: x\r\n\r\n",
                         "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"};
    int want[] = {400, 400, 505, 413};
    for (int i = 0; i < 4; i++) {
        fd = dial();
        CHECK(fd >= 0);
        CHECK_EQ(send_str(fd, bad[i]), 0);
        CHECK_EQ(read_resp(fd, &r, 0), 0);
        CHECK_EQ(r.status, want[i]);
        pf_buf_free(&r.body);
        CHECK(wait_closed(fd));
        close(fd);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Seconds until the server closes fd (EOF or reset), reading and
 * dropping what comes; -1 if it is still open after limit_s. */
static double time_to_close(int fd, double limit_s)
{
    struct timeval tv = {0, 100000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    double t0 = now_s();
    char b[4096];
    while (now_s() - t0 < limit_s) {
        ssize_t n = recv(fd, b, sizeof b, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET)) return now_s() - t0;
    }
    return -1;
}

/* One byte of headers every 50 ms: 408 about HEADER_TIMEOUT_MS after the
 * first byte, then closed; meanwhile another client is served normally. */
TEST(test_header_timeout)
{
    int sl = dial();
    CHECK(sl >= 0);
    const char *trickle = "GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    double t0 = now_s(), answered = -1;
    int served = 0;
    for (const char *p = trickle; *p && now_s() - t0 < 3; p++) {
        char c;
        if (recv(sl, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 1) {
            answered = now_s() - t0;
            break;
        }
        if (send(sl, p, 1, MSG_NOSIGNAL) != 1) break;
        if (p == trickle + 3) { /* someone else, meanwhile */
            int fd = dial();
            resp r;
            if (fd >= 0 && send_str(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n") == 0 &&
                read_resp(fd, &r, 0) == 0) {
                served = r.status == 200 && r.body.len == 5;
                pf_buf_free(&r.body);
            }
            if (fd >= 0) close(fd);
        }
        usleep(50000);
    }
    CHECK(served);
    resp r;
    CHECK_EQ(read_resp(sl, &r, 0), 0);
    CHECK_EQ(r.status, 408);
    CHECK(strstr(r.head, "Connection: close"));
    pf_buf_free(&r.body);
    CHECK(time_to_close(sl, 3) >= 0);
    close(sl);
    fprintf(stderr, "  408 after %.2f s\n", answered);
    CHECK(answered >= HEADER_TIMEOUT_MS / 1000.0 - 0.02 && answered < HEADER_TIMEOUT_MS / 1000.0 + 0.5);
    /* A whole head that arrives slowly but in time is fine. */
    int fd = dial();
    CHECK(fd >= 0);
    CHECK_EQ(send_str(fd, "GET /hello HTTP/1.1\r\n"), 0);
    usleep(HEADER_TIMEOUT_MS * 500);
    CHECK_EQ(send_str(fd, "Host: x\r\n\r\n"), 0);
    CHECK_EQ(read_resp(fd, &r, 0), 0);
    CHECK_EQ(r.status, 200);
    pf_buf_free(&r.body);
    close(fd);
}

/* Nothing sent at all, or nothing after a response: closed silently after
 * IDLE_TIMEOUT_MS. */
TEST(test_idle_timeout)
{
    int fd = dial();
    CHECK(fd >= 0);
    double t = time_to_close(fd, 3);
    close(fd);
    fprintf(stderr, "  silent connection closed after %.2f s\n", t);
    CHECK(t >= IDLE_TIMEOUT_MS / 1000.0 - 0.05 && t < IDLE_TIMEOUT_MS / 1000.0 + 0.5);
    fd = dial();
    CHECK(fd >= 0);
    resp r;
    CHECK_EQ(send_str(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    CHECK_EQ(read_resp(fd, &r, 0), 0);
    CHECK_EQ(r.status, 200);
    pf_buf_free(&r.body);
    t = time_to_close(fd, 3);
    close(fd);
    CHECK(t >= IDLE_TIMEOUT_MS / 1000.0 - 0.05 && t < IDLE_TIMEOUT_MS / 1000.0 + 0.5);
}

/* A client that asks for an endless body and never reads: once the
 * queue stops moving for SEND_TIMEOUT_MS the connection is closed and
 * the handler's close callback runs. */
TEST(test_send_timeout)
{
    int before = closes_seen;
    int fd = dial_rcvbuf(4096);
    CHECK(fd >= 0);
    CHECK_EQ(send_str(fd, "GET /forever HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    double t0 = now_s();
    while (closes_seen == before && now_s() - t0 < 5) usleep(10000);
    double t = now_s() - t0;
    CHECK_EQ(closes_seen, before + 1);
    fprintf(stderr, "  non-reader closed after %.2f s\n", t);
    CHECK(t >= SEND_TIMEOUT_MS / 1000.0 - 0.05 && t < 4);
    /* what it can still read ends (EOF or reset), short of the body */
    CHECK(time_to_close(fd, 5) >= 0);
    close(fd);
    /* a slow reader that keeps reading (64 KiB per 20 ms, longer than the
     * send timeout in all) is never cut */
    fd = dial();
    CHECK(fd >= 0);
    CHECK_EQ(send_str(fd, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    size_t got = 0;
    char b[65536];
    while (got < (size_t)STREAM_CHUNK * STREAM_CHUNKS + 100) {
        ssize_t n = recv(fd, b, sizeof b, 0);
        if (n <= 0) break;
        got += (size_t)n;
        usleep(20000);
        if (got > (size_t)STREAM_CHUNK * STREAM_CHUNKS) break;
    }
    CHECK(got > (size_t)STREAM_CHUNK * STREAM_CHUNKS); /* head + whole body */
    close(fd);
}

/* MAX_CONNS idle connections: a new client is served and the oldest idle
 * one is closed for it.  MAX_CONNS responses in progress that cannot be
 * evicted: a new connection waits, unanswered, and is served as soon as
 * one of them ends. */
TEST(test_conn_cap)
{
    int idle[MAX_CONNS];
    for (int i = 0; i < MAX_CONNS; i++) {
        idle[i] = dial();
        CHECK(idle[i] >= 0);
        usleep(10000);
    }
    /* Idle ones go first, oldest first (then leftovers of earlier tests
     * that linger): after a few new clients, idle[0] is gone. */
    int fd;
    resp r;
    for (int k = 0; k < 3; k++) {
        fd = dial();
        CHECK(fd >= 0);
        CHECK_EQ(send_str(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
        CHECK_EQ(read_resp(fd, &r, 0), 0);
        CHECK_EQ(r.status, 200);
        pf_buf_free(&r.body);
        close(fd);
    }
    CHECK(time_to_close(idle[0], 0.3) >= 0); /* the oldest went */
    CHECK(time_to_close(idle[MAX_CONNS - 1], 0.1) < 0); /* the newest stays */
    for (int i = 0; i < MAX_CONNS; i++) close(idle[i]);
    usleep(100000);

    int busy[MAX_CONNS];
    for (int i = 0; i < MAX_CONNS; i++) {
        busy[i] = dial_rcvbuf(4096);
        CHECK(busy[i] >= 0);
        CHECK_EQ(send_str(busy[i], "GET /forever HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    }
    usleep(100000);
    fd = dial();
    CHECK(fd >= 0);
    CHECK_EQ(send_str(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    CHECK_EQ(poll(&pfd, 1, 250), 0); /* waits: no answer, not closed */
    pf_http_server_stats st;
    pf_http_server_stats_get(srv, &st);
    CHECK_EQ(st.waiting, 1);
    CHECK(st.waited >= 1);
    close(busy[0]); /* one ends: the waiting one is served */
    double t0 = now_s();
    CHECK_EQ(read_resp(fd, &r, 0), 0);
    CHECK_EQ(r.status, 200);
    CHECK(now_s() - t0 < 1.0);
    pf_buf_free(&r.body);
    close(fd);
    for (int i = 1; i < MAX_CONNS; i++) close(busy[i]);
    usleep(200000);
}

/* A paused player: with no send timeout its connection stays open for
 * as long as it likes, until the cap is reached; then, once it has read
 * nothing for stall_evict_ms, it is the stream that makes room. */
/* 1 if the server closed or reset fd, looking without reading a byte
 * (reading would be progress for the server). */
static int peer_gone(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLRDHUP};
    return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static void test_paused_reader(void)
{
    stop_server();
    if (start_server_with(UINT32_MAX, 600) != 0) {
        fprintf(stderr, "cannot restart server\n");
        pf_test_failures++;
        return;
    }
    int busy[MAX_CONNS];
    for (int i = 0; i < MAX_CONNS; i++) {
        busy[i] = dial_rcvbuf(4096);
        CHECK(busy[i] >= 0);
        CHECK_EQ(send_str(busy[i], "GET /forever HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
        usleep(20000);
    }
    /* Well past the (default) send timeout of other servers: still open. */
    usleep(1500000);
    for (int i = 0; i < MAX_CONNS; i++) CHECK(!peer_gone(busy[i]));
    /* A new client at the cap: served, and the stream stalled longest
     * (the first) closed for it; the others stay. */
    int fd = dial();
    CHECK(fd >= 0);
    resp r;
    CHECK_EQ(send_str(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    CHECK_EQ(read_resp(fd, &r, 0), 0);
    CHECK_EQ(r.status, 200);
    pf_buf_free(&r.body);
    close(fd);
    for (int i = 1; i < MAX_CONNS; i++) CHECK(!peer_gone(busy[i]));
    /* (reading: its FIN waits behind the body bytes it never read) */
    CHECK(time_to_close(busy[0], 3) >= 0);
    for (int i = 0; i < MAX_CONNS; i++) close(busy[i]);
    usleep(200000);
}

static int restart(void (*hook)(pf_http_server_config *c))
{
    stop_server();
    cfg_hook = hook;
    int rc = start_server_with(UINT32_MAX, 0);
    cfg_hook = NULL;
    if (rc != 0) {
        fprintf(stderr, "cannot restart server\n");
        pf_test_failures++;
    }
    return rc;
}

/* Reads about n bytes of a response (head included), then stops. */
static void take(int fd, size_t n)
{
    char b[65536];
    while (n > 0) {
        ssize_t r = recv(fd, b, n < sizeof b ? n : sizeof b, 0);
        if (r <= 0) return;
        n -= (size_t)r;
    }
}

static void hook_stalled_cap(pf_http_server_config *c)
{
    c->max_stalled_per_addr = 2;
    c->stalled_ms = 300;
}

/* A client holds streams open without reading: beyond 2 per address,
 * those that took the fewest bytes are closed (a paused player that
 * took 2 MiB stays); a client that reads is not touched. */
static void test_stalled_cap(void)
{
    if (restart(hook_stalled_cap) != 0) return;
    static const char fe[] = "GET /forever HTTP/1.1\r\nHost: x\r\n\r\n";
    int big = dial_rcvbuf(4096);
    CHECK(big >= 0);
    CHECK_EQ(send_str(big, fe), 0);
    take(big, 2 << 20); /* a player that filled its buffer, then paused */
    int nr[3];
    for (int i = 0; i < 3; i++) {
        nr[i] = dial_rcvbuf(4096);
        CHECK(nr[i] >= 0);
        CHECK_EQ(send_str(nr[i], fe), 0);
        usleep(50000);
    }
    /* a client that reads all along */
    int rd = dial();
    CHECK(rd >= 0);
    CHECK_EQ(send_str(rd, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    resp r;
    usleep(1200000);
    pf_http_server_stats st;
    pf_http_server_stats_get(srv, &st);
    CHECK_EQ(st.stalled_closed, 2);
    CHECK_EQ(read_resp(rd, &r, 0), 0);
    CHECK_EQ(r.status, 200);
    CHECK_EQ(r.body.len, (size_t)STREAM_CHUNK * STREAM_CHUNKS);
    pf_buf_free(&r.body);
    close(rd);
    int closed = 0;
    for (int i = 0; i < 3; i++) closed += time_to_close(nr[i], 1.0) >= 0;
    CHECK_EQ(closed, 2);
    CHECK(time_to_close(big, 0.5) < 0); /* still streaming */
    close(big);
    for (int i = 0; i < 3; i++) close(nr[i]);
    usleep(200000);
}

static void hook_addr_cap(pf_http_server_config *c) { c->max_conns_per_addr = 2; }

/* Two connections from 127.0.0.1 at most: a third one from it replaces
 * one of its own that waits for a request, or is closed at once when both
 * stream; another address is not affected. */
static void test_addr_cap(void)
{
    if (restart(hook_addr_cap) != 0) return;
    int idle[2];
    for (int i = 0; i < 2; i++) CHECK((idle[i] = dial()) >= 0);
    usleep(400000); /* no longer just arrived */
    int fd = dial();
    CHECK(fd >= 0);
    CHECK_EQ(send_str(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    resp r;
    CHECK_EQ(read_resp(fd, &r, 0), 0);
    CHECK_EQ(r.status, 200);
    pf_buf_free(&r.body);
    close(fd);
    CHECK(time_to_close(idle[0], 0.5) >= 0); /* its oldest went */
    for (int i = 0; i < 2; i++) close(idle[i]);
    usleep(100000);

    static const char fe[] = "GET /forever HTTP/1.1\r\nHost: x\r\n\r\n";
    int busy[2];
    for (int i = 0; i < 2; i++) {
        busy[i] = dial_rcvbuf(4096);
        CHECK(busy[i] >= 0);
        CHECK_EQ(send_str(busy[i], fe), 0);
    }
    usleep(100000);
    fd = dial();
    CHECK(fd >= 0);
    send_str(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(time_to_close(fd, 1) >= 0); /* refused */
    close(fd);
    int other = dial_from("127.0.0.2", 0);
    CHECK(other >= 0);
    CHECK_EQ(send_str(other, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    CHECK_EQ(read_resp(other, &r, 0), 0);
    CHECK_EQ(r.status, 200);
    pf_buf_free(&r.body);
    close(other);
    pf_http_server_stats st;
    pf_http_server_stats_get(srv, &st);
    CHECK_EQ(st.refused, 1);
    for (int i = 0; i < 2; i++) close(busy[i]);
    usleep(200000);
}

static void hook_evict_order(pf_http_server_config *c)
{
    c->max_conns = 3;
    c->stall_evict_ms = 200;
    c->stalled_ms = 1500;
}

/* At the cap, a stream that stopped reading a moment ago (a flood's)
 * goes before one stalled for long that took much (a paused player). */
static void test_evict_order(void)
{
    if (restart(hook_evict_order) != 0) return;
    static const char fe[] = "GET /forever HTTP/1.1\r\nHost: x\r\n\r\n";
    int paused = dial_rcvbuf(4096);
    CHECK(paused >= 0);
    CHECK_EQ(send_str(paused, fe), 0);
    take(paused, 1 << 20);
    usleep(1700000); /* stalled for longer than stalled_ms */
    int fl[2];
    for (int i = 0; i < 2; i++) {
        fl[i] = dial_rcvbuf(4096);
        CHECK(fl[i] >= 0);
        CHECK_EQ(send_str(fl[i], fe), 0);
        usleep(50000);
    }
    usleep(300000);
    int fd = dial();
    CHECK(fd >= 0);
    CHECK_EQ(send_str(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    resp r;
    CHECK_EQ(read_resp(fd, &r, 0), 0);
    CHECK_EQ(r.status, 200);
    pf_buf_free(&r.body);
    close(fd);
    CHECK(time_to_close(fl[0], 1.0) >= 0); /* unread the longest of the two */
    CHECK(time_to_close(paused, 0.3) < 0);
    CHECK(time_to_close(fl[1], 0.3) < 0);
    for (int i = 0; i < 2; i++) close(fl[i]);
    close(paused);
    usleep(200000);
}

static void all(void);
TEST_MAIN(all)


static void all(void)
{
    if (start_server() != 0) {
        fprintf(stderr, "cannot start server\n");
        pf_test_failures++;
        return;
    }
    struct {
        const char *name;
        void (*fn)(void);
    } t[] = {{"keep_alive", test_keep_alive_two_requests_and_head},
             {"stream", test_streamed_response},
             {"disconnect", test_client_disconnect_fires_close},
             {"oversized", test_oversized_and_bad_requests},
             {"header_timeout", test_header_timeout},
             {"idle_timeout", test_idle_timeout},
             {"send_timeout", test_send_timeout},
             {"conn_cap", test_conn_cap},
             {"paused_reader", test_paused_reader},
             {"stalled_cap", test_stalled_cap},
             {"addr_cap", test_addr_cap},
             {"evict_order", test_evict_order}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int before = pf_test_failures;
        t[i].fn();
        fprintf(stderr, "%s %s\n", pf_test_failures == before ? "ok" : "FAIL", t[i].name);
    }
    stop_server();
}
