/* The public tracker server (include/peerflow/tracker.h) on a loop the
 * test owns: settings and their errors, a real announce over loopback
 * from a client thread, BEP 15 over UDP on the same port (IPv4 and IPv6),
 * stats, and a stop that frees everything (ASan). */
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/codec/http_parse.h"
#include "core/util/buf.h"
#include "peerflow/metainfo.h"
#include "peerflow/tracker.h"
#include "test.h"

static uv_loop_t loop;

static void log_sink(void *ud, pf_log_level level, const char *msg)
{
    (void)level;
    char *last = ud;
    snprintf(last, 256, "%s", msg);
}

TEST(test_settings)
{
    pf_tracker_settings s;
    pf_tracker_settings_default(&s);
    CHECK_EQ(s.size, sizeof s);
    CHECK(s.bind == NULL && s.port == 0 && s.interval_s == 0 && s.num_trusted_proxies == 0);
    /* an older, shorter struct: only its bytes are written */
    unsigned char buf[sizeof s + 8];
    memset(buf, 0xab, sizeof buf);
    pf_tracker_settings_init((pf_tracker_settings *)buf, offsetof(pf_tracker_settings, interval_s));
    CHECK_EQ(buf[offsetof(pf_tracker_settings, interval_s)], 0xab);

    uv_loop_init(&loop);
    pf_tracker_server *ts = NULL;
    CHECK_EQ(pf_tracker_server_start(NULL, &s, &ts), PF_ERR_INVAL);
    CHECK_EQ(pf_tracker_server_start(&loop, NULL, &ts), PF_ERR_INVAL);
    char last[256] = "";
    const char *bad[] = {"127.0.0.1", "10.0.0.0/33"};
    s.bind = "127.0.0.1";
    s.trusted_proxies = bad;
    s.num_trusted_proxies = 2;
    s.log = log_sink;
    s.log_ud = last;
    CHECK_EQ(pf_tracker_server_start(&loop, &s, &ts), PF_ERR_PARSE);
    CHECK(strstr(last, "10.0.0.0/33") != NULL); /* named */
    CHECK(ts == NULL);
    s.num_trusted_proxies = PF_TRACKER_MAX_TRUSTED + 1;
    CHECK_EQ(pf_tracker_server_start(&loop, &s, &ts), PF_ERR_LIMIT);
    s.num_trusted_proxies = 0;
    s.bind = "not an address";
    CHECK_EQ(pf_tracker_server_start(&loop, &s, &ts), PF_ERR_INVAL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ(uv_loop_close(&loop), 0);
}

typedef struct client_job {
    uint16_t port;
    const char *req;
    char reply[4096];
    size_t n;
    int done;
} client_job;

/* One request from 127.0.0.1, the reply read to the end. */
static void *client_main(void *arg)
{
    client_job *j = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(j->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        size_t len = strlen(j->req);
        if (send(fd, j->req, len, MSG_NOSIGNAL) == (ssize_t)len) {
            ssize_t r;
            while (j->n < sizeof j->reply - 1 &&
                   (r = recv(fd, j->reply + j->n, sizeof j->reply - 1 - j->n, 0)) > 0)
                j->n += (size_t)r;
        }
    }
    close(fd);
    __atomic_store_n(&j->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static int stopped;
static void on_stopped(void *ud) { *(int *)ud = 1; }

TEST(test_serve_and_stop)
{
    uv_loop_init(&loop);
    pf_tracker_settings s;
    pf_tracker_settings_default(&s);
    s.bind = "127.0.0.1";
    s.interval_s = 60;
    pf_tracker_server *ts = NULL;
    CHECK_EQ(pf_tracker_server_start(&loop, &s, &ts), 0);
    CHECK(pf_tracker_server_port(ts) != 0);
    /* a seed claims 1.2.3.4 (ip=) and 5.6.7.8 (X-Forwarded-For); then a
     * leecher asks: the seed is listed where it really is */
    static const char *const reqs[] = {
        "GET /announce?info_hash=aaaaaaaaaaaaaaaaaaaa&peer_id=bbbbbbbbbbbbbbbbbbbb&port=7&left=0"
        "&ip=1.2.3.4 HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 5.6.7.8\r\nConnection: close\r\n\r\n",
        "GET /announce?info_hash=aaaaaaaaaaaaaaaaaaaa&peer_id=cccccccccccccccccccc&port=8&left=5"
        "&compact=0 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"};
    client_job j;
    for (int k = 0; k < 2; k++) {
        memset(&j, 0, sizeof j);
        j.port = pf_tracker_server_port(ts);
        j.req = reqs[k];
        pthread_t thr;
        CHECK_EQ(pthread_create(&thr, NULL, client_main, &j), 0);
        while (!__atomic_load_n(&j.done, __ATOMIC_SEQ_CST)) uv_run(&loop, UV_RUN_NOWAIT);
        pthread_join(thr, NULL);
        j.reply[j.n] = 0;
        CHECK(strncmp(j.reply, "HTTP/1.1 200", 12) == 0);
        CHECK(strstr(j.reply, "8:intervali60e") != NULL);
    }
    CHECK(strstr(j.reply, "2:ip9:127.0.0.1") != NULL);
    CHECK(strstr(j.reply, "1.2.3.4") == NULL && strstr(j.reply, "5.6.7.8") == NULL);
    pf_tracker_server_stats st;
    pf_tracker_server_stats_get(ts, &st);
    CHECK_EQ(st.torrents, 1);
    CHECK_EQ(st.seeders, 1);
    CHECK_EQ(st.leechers, 1);
    CHECK_EQ(st.announces, 2);
    CHECK_EQ(st.accepted, 2);
    stopped = 0;
    pf_tracker_server_stop(ts, on_stopped, &stopped);
    pf_tracker_server_stop(ts, on_stopped, &stopped); /* twice: a no-op */
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ(stopped, 1);
    CHECK_EQ(uv_loop_close(&loop), 0); /* nothing left on the loop */
    pf_tracker_server_stop(NULL, NULL, NULL);
}

/* ---- UDP ------------------------------------------------------------- */

typedef struct udp_job {
    uint16_t port;
    int family;
    int ok;         /* every step answered as expected */
    uint64_t cid;
    size_t npeers;
    uint8_t peer[18];
    int done;
} udp_job;

/* One request, its reply (n bytes, 0 on time-out). */
static size_t udp_ask(int fd, const struct sockaddr *to, socklen_t tolen, const uint8_t *req,
                      size_t n, uint8_t *rep, size_t cap)
{
    if (sendto(fd, req, n, 0, to, tolen) != (ssize_t)n) return 0;
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1) return 0;
    ssize_t r = recv(fd, rep, cap, 0);
    return r > 0 ? (size_t)r : 0;
}

/* connect, announce (a leecher on port 7000 + family), scrape. */
static void *udp_client(void *arg)
{
    udp_job *j = arg;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    if (j->family == 6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(j->port);
        s6->sin6_addr = in6addr_loopback;
        len = sizeof *s6;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(j->port);
        s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *s4;
    }
    int fd = socket(ss.ss_family, SOCK_DGRAM, 0);
    uint8_t q[128], r[1500];
    memset(q, 0, sizeof q);
    /* connect */
    q[2] = 0x04, q[3] = 0x17, q[4] = 0x27, q[5] = 0x10, q[6] = 0x19, q[7] = 0x80;
    q[15] = 1; /* tid 1 */
    size_t n = udp_ask(fd, (struct sockaddr *)&ss, len, q, 16, r, sizeof r);
    int ok = n == 16 && r[3] == 0 && r[7] == 1;
    memcpy(q, r + 8, 8);
    j->cid = 0;
    for (int i = 0; i < 8; i++) j->cid = j->cid << 8 | r[8 + i];
    /* announce: action 1, tid 2, the info-hash "aaa...", port 7000 + family */
    memset(q + 8, 0, 90);
    q[11] = 1, q[15] = 2;
    memset(q + 16, 'a', 20);
    memset(q + 36, 'u', 20);
    q[36] = (uint8_t)j->family;
    q[71] = 5;                                       /* left */
    q[92] = q[93] = q[94] = q[95] = 0xff;            /* numwant -1 */
    q[96] = (uint8_t)((7000 + j->family) >> 8), q[97] = (uint8_t)(7000 + j->family);
    n = udp_ask(fd, (struct sockaddr *)&ss, len, q, 98, r, sizeof r);
    size_t each = j->family == 6 ? 18 : 6;
    ok = ok && n >= 20 && (n - 20) % each == 0 && r[3] == 1 && r[7] == 2;
    j->npeers = n >= 20 ? (n - 20) / each : 0;
    if (j->npeers) memcpy(j->peer, r + 20, each);
    /* scrape of the same hash: seeders 1 (the HTTP seed), leechers >= 1 */
    q[11] = 2, q[15] = 3;
    n = udp_ask(fd, (struct sockaddr *)&ss, len, q, 36, r, sizeof r);
    ok = ok && n == 20 && r[3] == 2 && r[7] == 3 && r[11] == 1 && r[19] >= 1;
    /* junk: no reply */
    n = sendto(fd, "junk", 4, 0, (struct sockaddr *)&ss, len) == 4 ? 1 : 0;
    close(fd);
    j->ok = ok && n == 1;
    __atomic_store_n(&j->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void run_udp_client(udp_job *j)
{
    pthread_t thr;
    if (pthread_create(&thr, NULL, udp_client, j) != 0) return;
    while (!__atomic_load_n(&j->done, __ATOMIC_SEQ_CST)) uv_run(&loop, UV_RUN_NOWAIT);
    pthread_join(thr, NULL);
}

static int has_ipv6_loopback(void)
{
    int fd = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 s6;
    memset(&s6, 0, sizeof s6);
    s6.sin6_family = AF_INET6;
    s6.sin6_addr = in6addr_loopback;
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&s6, sizeof s6) == 0;
    if (fd >= 0) close(fd);
    return ok;
}

TEST(test_udp_same_port)
{
    uv_loop_init(&loop);
    pf_tracker_settings s;
    pf_tracker_settings_default(&s);
    s.interval_s = 60; /* bind: NULL, "::", so IPv4 and IPv6 both */
    pf_tracker_server *ts = NULL;
    CHECK_EQ(pf_tracker_server_start(&loop, &s, &ts), 0);
    CHECK_EQ(pf_tracker_server_udp(ts), 1);
    uint16_t port = pf_tracker_server_port(ts);
    /* a seed announces over HTTP: the UDP clients see it */
    client_job h;
    memset(&h, 0, sizeof h);
    h.port = port;
    h.req = "GET /announce?info_hash=aaaaaaaaaaaaaaaaaaaa&peer_id=bbbbbbbbbbbbbbbbbbbb&port=7"
            "&left=0 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    pthread_t thr;
    CHECK_EQ(pthread_create(&thr, NULL, client_main, &h), 0);
    while (!__atomic_load_n(&h.done, __ATOMIC_SEQ_CST)) uv_run(&loop, UV_RUN_NOWAIT);
    pthread_join(thr, NULL);
    CHECK(strncmp(h.reply, "HTTP/1.1 200", 12) == 0);
    udp_job j4;
    memset(&j4, 0, sizeof j4);
    j4.port = port;
    j4.family = 4;
    run_udp_client(&j4);
    CHECK(j4.ok);
    CHECK_EQ(j4.npeers, 1); /* the HTTP seed, 6 bytes: 127.0.0.1:7 */
    CHECK_MEM(j4.peer, "\x7f\x00\x00\x01\x00\x07", 6);
    int v6 = has_ipv6_loopback();
    udp_job j6;
    memset(&j6, 0, sizeof j6);
    if (v6) {
        j6.port = port;
        j6.family = 6;
        run_udp_client(&j6);
        CHECK(j6.ok);
        CHECK_EQ(j6.npeers, 0); /* only IPv6 peers for an IPv6 client: none yet */
    } else {
        fprintf(stderr, "no IPv6 loopback: the IPv6 half skipped\n");
    }
    pf_tracker_server_stats st;
    pf_tracker_server_stats_get(ts, &st);
    CHECK_EQ(st.announces, (uint64_t)(2 + v6));
    CHECK_EQ(st.scrapes, (uint64_t)(1 + v6));
    CHECK_EQ(st.peers, (size_t)(2 + v6));
    pf_tracker_udp_stats us;
    pf_tracker_server_udp_stats_get(ts, &us);
    /* the junk datagrams may still be in flight: wait for them */
    for (int i = 0; i < 200 && us.malformed < (uint64_t)(1 + v6); i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(1000);
        pf_tracker_server_udp_stats_get(ts, &us);
    }
    CHECK_EQ(us.datagrams, (uint64_t)(4 * (1 + v6)));
    CHECK_EQ(us.connects, (uint64_t)(1 + v6));
    CHECK_EQ(us.malformed, (uint64_t)(1 + v6));
    CHECK_EQ(us.sent, (uint64_t)(3 * (1 + v6)));
    CHECK_EQ(us.bad_connid, 0);
    stopped = 0;
    pf_tracker_server_stop(ts, on_stopped, &stopped);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ(stopped, 1);
    CHECK_EQ(uv_loop_close(&loop), 0); /* the UDP handle closed too */
}

TEST(test_udp_port_taken_and_off)
{
    uv_loop_init(&loop);
    /* a UDP port someone else holds: the tracker does not start */
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    CHECK_EQ(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    pf_tracker_settings s;
    pf_tracker_settings_default(&s);
    s.bind = "127.0.0.1";
    s.port = ntohs(sa.sin_port);
    char last[256] = "";
    s.log = log_sink;
    s.log_ud = last;
    pf_tracker_server *ts = NULL;
    CHECK_EQ(pf_tracker_server_start(&loop, &s, &ts), PF_ERR_NET);
    CHECK(strstr(last, "UDP") != NULL);
    CHECK(ts == NULL);
    /* HTTP only: that port is free for TCP, and no UDP is bound */
    s.no_udp = 1;
    CHECK_EQ(pf_tracker_server_start(&loop, &s, &ts), 0);
    CHECK_EQ(pf_tracker_server_udp(ts), 0);
    CHECK_EQ(pf_tracker_server_port(ts), ntohs(sa.sin_port));
    pf_tracker_udp_stats us;
    pf_tracker_server_udp_stats_get(ts, &us);
    CHECK_EQ(us.datagrams, 0);
    pf_tracker_server_stop(ts, NULL, NULL);
    close(fd);
    /* an older caller's struct without no_udp: UDP on (its zero) */
    pf_tracker_settings_init(&s, offsetof(pf_tracker_settings, no_udp));
    s.bind = "127.0.0.1";
    CHECK_EQ(pf_tracker_server_start(&loop, &s, &ts), 0);
    CHECK_EQ(pf_tracker_server_udp(ts), 1);
    pf_tracker_server_stop(ts, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ(uv_loop_close(&loop), 0);
}

/* ---- pf_metainfo_scrape over udp:// ------------------------------------- */

typedef struct scrape_job {
    pf_metainfo *mi;
    long timeout_ms;
    int rc;
    pf_scrape_counts c;
    int done;
} scrape_job;

static void *scrape_main(void *arg)
{
    scrape_job *j = arg;
    j->rc = pf_metainfo_scrape(j->mi, 0, j->timeout_ms, &j->c);
    __atomic_store_n(&j->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* A one-file torrent whose only tracker is url. */
static pf_metainfo *torrent_for(const char *url)
{
    pf_buf b;
    pf_buf_init(&b);
    pf_buf_appendf(&b, "d8:announce%zu:%s4:infod6:lengthi1e4:name1:a12:piece lengthi16384e"
                       "6:pieces20:aaaaaaaaaaaaaaaaaaaaee",
                   strlen(url), url);
    pf_metainfo *mi = NULL;
    if (pf_metainfo_parse(b.data, b.len, NULL, &mi) != 0) mi = NULL;
    pf_buf_free(&b);
    return mi;
}

/* Runs the scrape on a thread while the loop (and the tracker on it) runs;
 * *serve, if not NULL, is called on the main thread meanwhile. */
static void run_scrape(scrape_job *j, void (*serve)(void *), void *ud)
{
    pthread_t thr;
    if (pthread_create(&thr, NULL, scrape_main, j) != 0) return;
    while (!__atomic_load_n(&j->done, __ATOMIC_SEQ_CST)) {
        uv_run(&loop, UV_RUN_NOWAIT);
        if (serve) serve(ud);
        usleep(500);
    }
    pthread_join(thr, NULL);
}

/* A fake tracker that answers a connect with a BEP 15 error. */
static void fake_error(void *ud)
{
    int fd = *(int *)ud;
    uint8_t d[64];
    struct sockaddr_storage from;
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(fd, d, sizeof d, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
    if (n < 16) return;
    uint8_t r[8 + 6] = {0, 0, 0, 3};
    memcpy(r + 4, d + 12, 4);
    memcpy(r + 8, "banned", 6);
    (void)sendto(fd, r, sizeof r, 0, (struct sockaddr *)&from, fl);
}

TEST(test_udp_scrape_client)
{
    uv_loop_init(&loop);
    pf_tracker_settings s;
    pf_tracker_settings_default(&s);
    pf_tracker_server *ts = NULL;
    CHECK_EQ(pf_tracker_server_start(&loop, &s, &ts), 0);
    uint16_t port = pf_tracker_server_port(ts);
    char url[96];
    snprintf(url, sizeof url, "udp://127.0.0.1:%u/announce", (unsigned)port);
    pf_metainfo *mi = torrent_for(url);
    CHECK(mi != NULL);
    /* a seed and a leecher of that torrent announce over HTTP */
    pf_buf req;
    pf_buf_init(&req);
    for (int k = 0; k < 2; k++) {
        pf_buf_reset(&req);
        pf_buf_append_str(&req, "GET /announce?info_hash=");
        pf_http_pct_encode(&req, pf_metainfo_info_hash(mi), 20);
        pf_buf_appendf(&req, "&peer_id=%020d&port=%d&left=%d HTTP/1.1\r\nHost: t\r\n"
                             "Connection: close\r\n\r\n", k, 100 + k, k);
        pf_buf_nul(&req);
        client_job h;
        memset(&h, 0, sizeof h);
        h.port = port;
        h.req = (const char *)req.data;
        pthread_t thr;
        CHECK_EQ(pthread_create(&thr, NULL, client_main, &h), 0);
        while (!__atomic_load_n(&h.done, __ATOMIC_SEQ_CST)) uv_run(&loop, UV_RUN_NOWAIT);
        pthread_join(thr, NULL);
    }
    pf_buf_free(&req);
    scrape_job j;
    memset(&j, 0, sizeof j);
    j.mi = mi;
    run_scrape(&j, NULL, NULL);
    CHECK_EQ(j.rc, 0);
    CHECK(j.c.seeders == 1 && j.c.leechers == 1 && j.c.downloads == 0);
    CHECK_EQ(j.c.http_status, 0);
    pf_metainfo_free(mi);
    if (has_ipv6_loopback()) { /* the same over IPv6 */
        snprintf(url, sizeof url, "udp://[::1]:%u/announce", (unsigned)port);
        memset(&j, 0, sizeof j);
        j.mi = mi = torrent_for(url);
        run_scrape(&j, NULL, NULL);
        CHECK_EQ(j.rc, 0);
        CHECK(j.c.seeders == 1 && j.c.leechers == 1);
        pf_metainfo_free(mi);
    }
    pf_tracker_udp_stats us;
    pf_tracker_server_udp_stats_get(ts, &us);
    CHECK(us.connects >= 1);
    pf_tracker_server_stop(ts, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);

    /* nobody there (refused), nobody answering (time-out), an error reply,
     * a URL without a port */
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    CHECK_EQ(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    snprintf(url, sizeof url, "udp://127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
    memset(&j, 0, sizeof j);
    j.mi = mi = torrent_for(url);
    j.timeout_ms = 300;
    run_scrape(&j, NULL, NULL);
    CHECK_EQ(j.rc, PF_ERR_TIMEOUT);
    memset(&j, 0, sizeof j);
    j.mi = mi;
    run_scrape(&j, fake_error, &fd);
    CHECK_EQ(j.rc, PF_ERR_TRACKER);
    CHECK(j.c.seeders == -1);
    pf_metainfo_free(mi);
    close(fd); /* now nobody listens there */
    memset(&j, 0, sizeof j);
    j.mi = mi = torrent_for(url);
    j.timeout_ms = 3000;
    run_scrape(&j, NULL, NULL);
    CHECK_EQ(j.rc, PF_ERR_NET);
    pf_metainfo_free(mi);
    memset(&j, 0, sizeof j);
    j.mi = mi = torrent_for("udp://127.0.0.1/announce");
    run_scrape(&j, NULL, NULL);
    CHECK_EQ(j.rc, PF_ERR_PARSE);
    pf_metainfo_free(mi);
    CHECK_EQ(uv_loop_close(&loop), 0);
}

TEST_MAIN(test_settings, test_serve_and_stop, test_udp_same_port, test_udp_port_taken_and_off,
          test_udp_scrape_client)
