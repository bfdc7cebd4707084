/* The public tracker server (include/peerflow/tracker.h) on a loop the
 * test owns: settings and their errors, a real announce over loopback
 * from a client thread, stats, and a stop that frees everything (ASan). */
#include <arpa/inet.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

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

TEST_MAIN(test_settings, test_serve_and_stop)
