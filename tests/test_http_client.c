/* Tests for src/net/http_client.c against real local servers: nginx
 * (Range, keep-alive, redirects, rate limiting) and python3 -m
 * http.server (ignores Range: exercises the 200 fallback).  Servers run
 * on 127.0.0.1 with free ports in a temp dir and are killed at exit. */
#include "net/http_client.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "peerflow/peerflow.h"
#include "test.h"

#define FILE_LEN 100000
#define BIG_LEN (9u << 20)

static char g_dir[256];
static int g_nginx_port, g_py_port;
static pid_t g_nginx_pid, g_py_pid, g_huge_pid;
static uint8_t g_file[FILE_LEN];
static uv_loop_t *g_loop; /* stopped by callbacks so run_until wakes */

/* ---- fixture ------------------------------------------------------------ */

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &l) != 0)
        abort();
    close(s);
    return ntohs(a.sin_port);
}

static int wait_accepting(int port, pid_t pid)
{
    for (int i = 0; i < 200; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
        close(s);
        if (ok) return 0;
        if (waitpid(pid, NULL, WNOHANG) == pid) return -1;
        usleep(25000);
    }
    return -1;
}

static void write_file(const char *rel, const uint8_t *p, size_t n, size_t sparse_len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/www/%s", g_dir, rel);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(p, 1, n, f) != n) abort();
    fclose(f);
    if (sparse_len && truncate(path, (off_t)sparse_len) != 0) abort();
}

static void rm_rf(const char *p)
{
    struct stat st;
    if (lstat(p, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(p);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char c[1024];
            snprintf(c, sizeof c, "%s/%s", p, e->d_name);
            rm_rf(c);
        }
        if (d) closedir(d);
        rmdir(p);
    } else {
        unlink(p);
    }
}

static void stop_servers(void)
{
    pid_t pids[3] = {g_nginx_pid, g_py_pid, g_huge_pid};
    for (int i = 0; i < 3; i++) {
        if (pids[i] <= 0) continue;
        kill(pids[i], SIGTERM);
        waitpid(pids[i], NULL, 0);
    }
    g_nginx_pid = g_py_pid = g_huge_pid = 0;
    if (g_dir[0]) rm_rf(g_dir);
    g_dir[0] = 0;
}

static pid_t spawn(char *const argv[])
{
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* Starts both servers once; 0 on success. */
static int servers(void)
{
    static int state; /* 0 = not tried, 1 = up, -1 = failed */
    if (state) return state > 0 ? 0 : -1;
    state = -1;
    snprintf(g_dir, sizeof g_dir, "/tmp/pf_http_XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    atexit(stop_servers);
    char p[512];
    snprintf(p, sizeof p, "%s/www", g_dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/tmp", g_dir);
    mkdir(p, 0755);
    for (size_t i = 0; i < FILE_LEN; i++) g_file[i] = (uint8_t)(i * 2654435761u >> 13);
    write_file("file.bin", g_file, FILE_LEN, 0);
    write_file("big.bin", NULL, 0, BIG_LEN);
    write_file("empty.bin", NULL, 0, 0);

    g_nginx_port = free_port();
    snprintf(p, sizeof p, "%s/nginx.conf", g_dir);
    FILE *f = fopen(p, "w");
    if (!f) return -1;
    fprintf(f,
            "daemon off;\nmaster_process off;\nworker_processes 1;\n"
            "pid %s/nginx.pid;\nerror_log %s/error.log;\n"
            "events { worker_connections 256; }\n"
            "http {\n access_log off;\n"
            " client_body_temp_path %s/tmp; proxy_temp_path %s/tmp;\n"
            " fastcgi_temp_path %s/tmp; uwsgi_temp_path %s/tmp; scgi_temp_path %s/tmp;\n"
            " keepalive_requests 10000;\n"
            " server {\n  listen 127.0.0.1:%d;\n  root %s/www;\n"
            "  location = /redir { return 302 /file.bin; }\n"
            "  location /slow/ { alias %s/www/; limit_rate 4k; }\n"
            "  location /echo/ { alias %s/www/; add_header X-Got \"$http_cmcd_request|$http_x_two\" always;\n"
            "    add_header CMSD-Dynamic '\"cdn-a\";etp=12000' always; }\n"
            "  location = /redir-echo { return 302 /echo/file.bin; }\n"
            " }\n}\n",
            g_dir, g_dir, g_dir, g_dir, g_dir, g_dir, g_dir, g_nginx_port, g_dir, g_dir, g_dir);
    fclose(f);
    char conf[512], prefix[512];
    snprintf(conf, sizeof conf, "%s/nginx.conf", g_dir);
    snprintf(prefix, sizeof prefix, "%s/", g_dir);
    char errlog[512];
    snprintf(errlog, sizeof errlog, "%s/error.log", g_dir);
    char *nargv[] = {"/usr/sbin/nginx", "-p", prefix, "-e", errlog, "-c", conf, NULL};
    g_nginx_pid = spawn(nargv);
    if (g_nginx_pid <= 0 || wait_accepting(g_nginx_port, g_nginx_pid) != 0) {
        fprintf(stderr, "nginx did not start\n");
        return -1;
    }

    g_py_port = free_port();
    char port[16], www[512];
    snprintf(port, sizeof port, "%d", g_py_port);
    snprintf(www, sizeof www, "%s/www", g_dir);
    char *pargv[] = {"/usr/bin/python3", "-m", "http.server", port, "--bind",
                     "127.0.0.1", "--directory", www, NULL};
    g_py_pid = spawn(pargv);
    if (g_py_pid <= 0 || wait_accepting(g_py_port, g_py_pid) != 0) {
        fprintf(stderr, "python http.server did not start\n");
        return -1;
    }
    state = 1;
    return 0;
}

/* ---- loop helpers ------------------------------------------------------- */

typedef struct result {
    int done;
    int err;
    long status;
    uint8_t *data; /* streamed or collected body */
    size_t len;
    int data_calls;
    int abort_after; /* on_data: abort with this value after first call */
    pf_http_client *cancel_c; /* on_data: cancel req on first call */
    pf_http_req *req;
    pf_http_client *free_c; /* on_data: free this client */
} result;

static int on_data(void *ud, const uint8_t *p, size_t n)
{
    result *r = ud;
    r->data_calls++;
    uint8_t *d = realloc(r->data, r->len + n);
    if (!d) abort();
    r->data = d;
    memcpy(r->data + r->len, p, n);
    r->len += n;
    if (r->cancel_c) {
        pf_http_cancel(r->cancel_c, r->req);
        r->done = -1; /* marks "cancelled" for the waiter */
        uv_stop(g_loop);
    }
    if (r->free_c) {
        pf_http_client_free(r->free_c);
        r->done = -1;
        uv_stop(g_loop);
    }
    return r->abort_after;
}

static void on_done(void *ud, int err, long status, const uint8_t *body, size_t len)
{
    result *r = ud;
    if (r->done > 0) abort(); /* twice */
    r->done = 1;
    uv_stop(g_loop);
    r->err = err;
    r->status = status;
    if (body) {
        r->data = malloc(len ? len : 1);
        memcpy(r->data, body, len);
        r->len = len;
    }
}

static void reset(result *r)
{
    free(r->data);
    memset(r, 0, sizeof *r);
}

static void on_watchdog(uv_timer_t *t) { *(int *)t->data = 1; }

/* Runs the loop until *flag != 0 or ms pass; returns 0 if flag got set. */
static int run_until(uv_loop_t *loop, const int *flag, uint64_t ms)
{
    uv_timer_t wd;
    int expired = 0;
    uv_timer_init(loop, &wd);
    wd.data = &expired;
    uv_timer_start(&wd, on_watchdog, ms, 0);
    g_loop = loop;
    while (!*flag && !expired) uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&wd, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return *flag ? 0 : -1;
}

static void url(char *out, size_t n, int port, const char *path)
{
    snprintf(out, n, "http://127.0.0.1:%d%s", port, path);
}

/* Frees the client and checks that every handle closes. */
static int finish_loop(uv_loop_t *loop, pf_http_client *c)
{
    pf_http_client_free(c);
    for (int i = 0; i < 100 && uv_run(loop, UV_RUN_NOWAIT); i++) {
    }
    return uv_loop_close(loop);
}

/* ---- tests -------------------------------------------------------------- */

TEST(test_whole_file)
{
    CHECK_EQ(servers(), 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    pf_http_client *c;
    CHECK_EQ(pf_http_client_new(&c, &loop), 0);
    char u[256];
    url(u, sizeof u, g_nginx_port, "/file.bin");
    pf_http_opts o = {.url = u, .timeout_ms = 10000};
    result a, b, e;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    memset(&e, 0, sizeof e);
    CHECK_EQ(pf_http_get(c, &o, NULL, on_done, &a, NULL), 0);   /* collect */
    CHECK_EQ(pf_http_get(c, &o, on_data, on_done, &b, NULL), 0); /* stream */
    char ue[256];
    url(ue, sizeof ue, g_nginx_port, "/empty.bin");
    pf_http_opts oe = {.url = ue};
    CHECK_EQ(pf_http_get(c, &oe, NULL, on_done, &e, NULL), 0);
    CHECK_EQ(run_until(&loop, &a.done, 10000), 0);
    CHECK_EQ(run_until(&loop, &b.done, 10000), 0);
    CHECK_EQ(run_until(&loop, &e.done, 10000), 0);
    CHECK_EQ(a.err, 0);
    CHECK_EQ(a.status, 200);
    CHECK_EQ(a.len, FILE_LEN);
    CHECK_MEM(a.data, g_file, FILE_LEN);
    CHECK_EQ(b.err, 0);
    CHECK_EQ(b.status, 200);
    CHECK_EQ(b.len, FILE_LEN);
    CHECK_MEM(b.data, g_file, FILE_LEN);
    CHECK_EQ(e.err, 0);
    CHECK_EQ(e.status, 200);
    CHECK_EQ(e.len, 0);
    CHECK(e.data != NULL);
    reset(&a);
    reset(&b);
    reset(&e);
    CHECK_EQ(finish_loop(&loop, c), 0);
}

TEST(test_range_and_status)
{
    CHECK_EQ(servers(), 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    pf_http_client *c;
    CHECK_EQ(pf_http_client_new(&c, &loop), 0);
    char u[256];
    url(u, sizeof u, g_nginx_port, "/file.bin");
    result r;
    memset(&r, 0, sizeof r);

    /* 206 streamed and collected. */
    pf_http_opts o = {.url = u, .range_start = 1000, .range_len = 5000};
    CHECK_EQ(pf_http_get(c, &o, on_data, on_done, &r, NULL), 0);
    CHECK_EQ(run_until(&loop, &r.done, 10000), 0);
    CHECK_EQ(r.err, 0);
    CHECK_EQ(r.status, 206);
    CHECK_EQ(r.len, 5000);
    CHECK_MEM(r.data, g_file + 1000, 5000);
    reset(&r);
    o.range_start = FILE_LEN - 1;
    o.range_len = 1;
    CHECK_EQ(pf_http_get(c, &o, NULL, on_done, &r, NULL), 0);
    CHECK_EQ(run_until(&loop, &r.done, 10000), 0);
    CHECK_EQ(r.err, 0);
    CHECK_EQ(r.status, 206);
    CHECK_EQ(r.len, 1);
    CHECK_EQ(r.data[0], g_file[FILE_LEN - 1]);
    reset(&r);

    /* Unsatisfiable range. */
    o.range_start = FILE_LEN + 10;
    o.range_len = 10;
    CHECK_EQ(pf_http_get(c, &o, on_data, on_done, &r, NULL), 0);
    CHECK_EQ(run_until(&loop, &r.done, 10000), 0);
    CHECK_EQ(r.err, PF_ERR_RANGE);
    CHECK_EQ(r.status, 416);
    CHECK_EQ(r.data_calls, 0);
    reset(&r);

    /* 404: streaming gets no body, collecting does. */
    char u404[256];
    url(u404, sizeof u404, g_nginx_port, "/nope");
    pf_http_opts o4 = {.url = u404};
    CHECK_EQ(pf_http_get(c, &o4, on_data, on_done, &r, NULL), 0);
    CHECK_EQ(run_until(&loop, &r.done, 10000), 0);
    CHECK_EQ(r.err, 0);
    CHECK_EQ(r.status, 404);
    CHECK_EQ(r.data_calls, 0);
    reset(&r);
    CHECK_EQ(pf_http_get(c, &o4, NULL, on_done, &r, NULL), 0);
    CHECK_EQ(run_until(&loop, &r.done, 10000), 0);
    CHECK_EQ(r.status, 404);
    CHECK(r.len > 0);
    reset(&r);

    /* Redirects: not followed by default, followed with follow = 1. */
    char ur[256];
    url(ur, sizeof ur, g_nginx_port, "/redir");
    pf_http_opts orr = {.url = ur};
    CHECK_EQ(pf_http_get(c, &orr, on_data, on_done, &r, NULL), 0);
    CHECK_EQ(run_until(&loop, &r.done, 10000), 0);
    CHECK_EQ(r.status, 302);
    CHECK_EQ(r.data_calls, 0);
    reset(&r);
    orr.follow = 1;
    orr.range_start = 10;
    orr.range_len = 20;
    CHECK_EQ(pf_http_get(c, &orr, on_data, on_done, &r, NULL), 0);
    CHECK_EQ(run_until(&loop, &r.done, 10000), 0);
    CHECK_EQ(r.err, 0);
    CHECK_EQ(r.status, 206);
    CHECK_EQ(r.len, 20);
    CHECK_MEM(r.data, g_file + 10, 20);
    reset(&r);

    /* Non-http schemes are refused. */
    pf_http_opts of = {.url = "file:///etc/passwd"};
    CHECK_EQ(pf_http_get(c, &of, NULL, on_done, &r, NULL), 0);
    CHECK_EQ(run_until(&loop, &r.done, 10000), 0);
    CHECK_EQ(r.err, PF_ERR_NET);
    CHECK_EQ(r.len, 0);
    reset(&r);
    CHECK_EQ(pf_http_get(c, NULL, NULL, on_done, &r, NULL), PF_ERR_INVAL);
    CHECK_EQ(pf_http_get(c, &o, NULL, NULL, &r, NULL), PF_ERR_INVAL);
    CHECK_EQ(finish_loop(&loop, c), 0);
}

/* python3 -m http.server ignores Range: a 200 at start 0 is cut to the
 * range, elsewhere it is an error. */
TEST(test_range_fallback_200)
{
    CHECK_EQ(servers(), 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    pf_http_client *c;
    CHECK_EQ(pf_http_client_new(&c, &loop), 0);
    char u[256];
    url(u, sizeof u, g_py_port, "/file.bin");
    result r;
    memset(&r, 0, sizeof r);
    pf_http_opts o = {.url = u, .range_start = 0, .range_len = 3000};
    CHECK_EQ(pf_http_get(c, &o, on_data, on_done, &r, NULL), 0);
    CHECK_EQ(run_until(&loop, &r.done, 10000), 0);
    CHECK_EQ(r.err, 0);
    CHECK_EQ(r.status, 200);
    CHECK_EQ(r.len, 3000);
    CHECK_MEM(r.data, g_file, 3000);
    reset(&r);
    o.range_start = 5;
    CHECK_EQ(pf_http_get(c, &o, on_data, on_done, &r, NULL), 0);
    CHECK_EQ(run_until(&loop, &r.done, 10000), 0);
    CHECK_EQ(r.err, PF_ERR_RANGE);
    CHECK_EQ(r.status, 200);
    CHECK_EQ(r.data_calls, 0);
    reset(&r);
    CHECK_EQ(finish_loop(&loop, c), 0);
}

TEST(test_refused_and_timeout)
{
    CHECK_EQ(servers(), 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    pf_http_client *c;
    CHECK_EQ(pf_http_client_new(&c, &loop), 0);
    char u[256];
    url(u, sizeof u, free_port(), "/x"); /* nothing listens there */
    result r;
    memset(&r, 0, sizeof r);
    pf_http_opts o = {.url = u, .connect_timeout_ms = 3000};
    uint64_t t0 = uv_hrtime();
    CHECK_EQ(pf_http_get(c, &o, on_data, on_done, &r, NULL), 0);
    CHECK_EQ(run_until(&loop, &r.done, 5000), 0);
    CHECK(uv_hrtime() - t0 < 2000000000ull);
    CHECK_EQ(r.err, PF_ERR_NET);
    CHECK_EQ(r.status, 0);
    reset(&r);

    /* 100 kB at 4 KiB/s cannot finish in 400 ms.  (A bigger file would be
     * refused from its Content-Length, over the 1 MiB collect bound.) */
    char us[256];
    url(us, sizeof us, g_nginx_port, "/slow/file.bin");
    pf_http_opts os = {.url = us, .timeout_ms = 400};
    CHECK_EQ(pf_http_get(c, &os, NULL, on_done, &r, NULL), 0);
    CHECK_EQ(run_until(&loop, &r.done, 5000), 0);
    CHECK_EQ(r.err, PF_ERR_TIMEOUT);
    CHECK_EQ(r.status, 200);
    CHECK(r.data == NULL);
    reset(&r);

    /* Collected bodies are bounded. */
    char ub[256];
    url(ub, sizeof ub, g_nginx_port, "/big.bin");
    pf_http_opts ob = {.url = ub};
    CHECK_EQ(pf_http_get(c, &ob, NULL, on_done, &r, NULL), 0);
    CHECK_EQ(run_until(&loop, &r.done, 10000), 0);
    CHECK_EQ(r.err, PF_ERR_LIMIT);
    reset(&r);
    CHECK_EQ(finish_loop(&loop, c), 0);
}

TEST(test_cancel_and_abort)
{
    CHECK_EQ(servers(), 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    pf_http_client *c;
    CHECK_EQ(pf_http_client_new(&c, &loop), 0);
    char us[256];
    url(us, sizeof us, g_nginx_port, "/slow/big.bin");
    pf_http_opts os = {.url = us};

    /* Cancel right away: nothing is ever called. */
    result a;
    memset(&a, 0, sizeof a);
    pf_http_req *req = NULL;
    CHECK_EQ(pf_http_get(c, &os, on_data, on_done, &a, &req), 0);
    CHECK(req != NULL);
    pf_http_cancel(c, req);

    /* Cancel from inside on_data. */
    result b;
    memset(&b, 0, sizeof b);
    b.cancel_c = c;
    CHECK_EQ(pf_http_get(c, &os, on_data, on_done, &b, &b.req), 0);
    CHECK_EQ(run_until(&loop, &b.done, 5000), 0);
    CHECK_EQ(b.done, -1);
    CHECK_EQ(b.data_calls, 1);

    /* Abort by on_data's return value. */
    result d;
    memset(&d, 0, sizeof d);
    d.abort_after = -42;
    CHECK_EQ(pf_http_get(c, &os, on_data, on_done, &d, NULL), 0);
    CHECK_EQ(run_until(&loop, &d.done, 5000), 0);
    CHECK_EQ(d.err, -42);
    CHECK_EQ(d.data_calls, 1);

    /* Give any stray callbacks a chance to fire. */
    int never = 0;
    run_until(&loop, &never, 300);
    CHECK_EQ(a.done, 0);
    CHECK_EQ(a.data_calls, 0);
    CHECK_EQ(b.done, -1);
    CHECK_EQ(b.data_calls, 1);
    reset(&a);
    reset(&b);
    reset(&d);

    /* Free with transfers in flight: no callbacks, all handles close. */
    result e[3];
    memset(e, 0, sizeof e);
    for (int i = 0; i < 3; i++) CHECK_EQ(pf_http_get(c, &os, on_data, on_done, &e[i], NULL), 0);
    run_until(&loop, &never, 200);
    CHECK_EQ(finish_loop(&loop, c), 0);
    for (int i = 0; i < 3; i++) CHECK(e[i].done == 0);
    for (int i = 0; i < 3; i++) reset(&e[i]);

    /* Free from inside on_data. */
    uv_loop_init(&loop);
    CHECK_EQ(pf_http_client_new(&c, &loop), 0);
    result f, g;
    memset(&f, 0, sizeof f);
    memset(&g, 0, sizeof g);
    f.free_c = c;
    CHECK_EQ(pf_http_get(c, &os, on_data, on_done, &g, NULL), 0);
    CHECK_EQ(pf_http_get(c, &os, on_data, on_done, &f, NULL), 0);
    CHECK_EQ(run_until(&loop, &f.done, 5000), 0);
    for (int i = 0; i < 100 && uv_run(&loop, UV_RUN_NOWAIT); i++) {
    }
    CHECK_EQ(uv_loop_close(&loop), 0);
    CHECK(g.done <= 0);
    reset(&f);
    reset(&g);
}

/* Many concurrent range requests over kept-alive connections. */
#define N_CONC 64
TEST(test_concurrent)
{
    CHECK_EQ(servers(), 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    pf_http_client *c;
    CHECK_EQ(pf_http_client_new(&c, &loop), 0);
    char u[256];
    url(u, sizeof u, g_nginx_port, "/file.bin");
    static result r[N_CONC];
    memset(r, 0, sizeof r);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N_CONC; i++) {
            pf_http_opts o = {.url = u, .range_start = (uint64_t)i * 1500,
                              .range_len = 1500 + (uint64_t)round, .timeout_ms = 10000};
            CHECK_EQ(pf_http_get(c, &o, i & 1 ? on_data : NULL, on_done, &r[i], NULL), 0);
        }
        for (int i = 0; i < N_CONC; i++) {
            CHECK_EQ(run_until(&loop, &r[i].done, 10000), 0);
            CHECK_EQ(r[i].err, 0);
            CHECK_EQ(r[i].status, 206);
            CHECK_EQ(r[i].len, 1500 + round);
            CHECK_MEM(r[i].data, g_file + i * 1500, 1500 + round);
            reset(&r[i]);
        }
    }
    CHECK_EQ(finish_loop(&loop, c), 0);
}

/* ---- response-size bound (tracker replies) ------------------------------ */

/* A python3 http.server that sends big bodies: with a Content-Length
 * (/len/N: N bytes), without one (/close/N: HTTP/1.0, close-delimited;
 * /endless: until the client goes away) and chunked (/chunked/N).  It
 * counts what it managed to send in <dir>/sent.<path-sans-slashes>. */
static const char huge_server_py[] =
    "import http.server, sys, os\n"
    "d = sys.argv[2]\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def log_message(self, *a): pass\n"
    "    def do_GET(self):\n"
    "        parts = self.path.strip('/').split('/')\n"
    "        kind = parts[0]; n = int(parts[1]) if len(parts) > 1 else 1 << 62\n"
    "        chunk = b'x' * 65536; sent = 0\n"
    "        if kind == 'close': self.protocol_version = 'HTTP/1.0'\n"
    "        else: self.protocol_version = 'HTTP/1.1'\n"
    "        self.send_response(200)\n"
    "        if kind == 'len': self.send_header('Content-Length', str(n))\n"
    "        if kind == 'chunked': self.send_header('Transfer-Encoding', 'chunked')\n"
    "        self.send_header('Connection', 'close')  # it closes after each reply\n"
    "        self.end_headers()\n"
    "        try:\n"
    "            while sent < n:\n"
    "                b = chunk[:min(len(chunk), n - sent)]\n"
    "                if kind == 'chunked': self.wfile.write(b'%x\\r\\n' % len(b) + b + b'\\r\\n')\n"
    "                else: self.wfile.write(b)\n"
    "                sent += len(b)\n"
    "            if kind == 'chunked': self.wfile.write(b'0\\r\\n\\r\\n')\n"
    "        except OSError: pass\n"
    "        self.close_connection = True\n"
    "        open(os.path.join(d, 'sent.' + kind), 'w').write(str(sent))\n"
    "http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n";

static long long sent_of(const char *kind)
{
    char p[512];
    snprintf(p, sizeof p, "%s/sent.%s", g_dir, kind);
    for (int i = 0; i < 40; i++) { /* the server writes it when it gives up */
        FILE *f = fopen(p, "r");
        if (f) {
            long long v = -1;
            if (fscanf(f, "%lld", &v) != 1) v = -1;
            fclose(f);
            unlink(p);
            if (v >= 0) return v;
        }
        usleep(50000);
    }
    return -1;
}

TEST(test_reply_size_bound)
{
    CHECK_EQ(servers(), 0);
    int port = free_port();
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    char *argv[] = {"/usr/bin/python3", "-c", (char *)huge_server_py, ps, g_dir, NULL};
    pid_t pid = g_huge_pid = spawn(argv);
    CHECK(pid > 0);
    if (wait_accepting(port, pid) != 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        CHECK(!"python huge-body server did not start");
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    pf_http_client *c;
    CHECK_EQ(pf_http_client_new(&c, &loop), 0);
    char u[256];
    result r;
    memset(&r, 0, sizeof r);
    struct {
        const char *path, *kind;
        size_t max_body;
        int want_err;
        size_t want_len;
    } cases[] = {
        /* the default bound is 1 MiB: exactly that passes, one more byte not */
        {"/len/1048576", NULL, 0, 0, 1048576},
        {"/len/1048577", "len", 0, PF_ERR_LIMIT, 0},
        /* a declared 10 GiB is refused from its header */
        {"/len/10737418240", "len", 0, PF_ERR_LIMIT, 0},
        /* no Content-Length: cut when the bytes reach the bound */
        {"/close/5000000", "close", 0, PF_ERR_LIMIT, 0},
        {"/endless", "endless", 0, PF_ERR_LIMIT, 0},
        {"/chunked/3000000", "chunked", 0, PF_ERR_LIMIT, 0},
        {"/chunked/1000", NULL, 0, 0, 1000},
        /* callers may ask for more (a .torrent), up to PF_HTTP_MAX_BODY */
        {"/len/3000000", NULL, 4u << 20, 0, 3000000},
        {"/close/3000000", NULL, 4u << 20, 0, 3000000},
        {"/endless", "endless", (size_t)1 << 40, PF_ERR_LIMIT, 0}, /* capped at 8 MiB */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        url(u, sizeof u, port, cases[i].path);
        pf_http_opts o = {.url = u, .timeout_ms = 20000, .max_body = cases[i].max_body};
        uint64_t t0 = uv_hrtime();
        CHECK_EQ(pf_http_get(c, &o, NULL, on_done, &r, NULL), 0);
        CHECK_EQ(run_until(&loop, &r.done, 20000), 0);
        double secs = (double)(uv_hrtime() - t0) / 1e9;
        if (r.err != cases[i].want_err)
            fprintf(stderr, "%s: err %d (%s)\n", cases[i].path, r.err, pf_strerror(r.err));
        CHECK_EQ(r.err, cases[i].want_err);
        CHECK_EQ(r.len, cases[i].want_len);
        if (cases[i].want_err) CHECK(r.data == NULL);
        else CHECK_EQ(r.status, 200);
        CHECK(secs < 10);
        reset(&r);
        if (cases[i].kind) {
            /* the server did not get to send the whole thing: we hung up
             * (or, -1, it is still blocked writing to a socket we stopped
             * reading) */
            long long sent = sent_of(cases[i].kind);
            fprintf(stderr, "  %s: refused after %.2f s, the server sent %lld bytes\n",
                    cases[i].path, secs, sent);
            CHECK(sent < (long long)(PF_HTTP_MAX_BODY + (16u << 20)));
        }
    }
    /* Streaming (web seeds) is not bounded by max_body: the caller counts. */
    url(u, sizeof u, port, "/len/3000000");
    pf_http_opts os = {.url = u, .timeout_ms = 20000};
    CHECK_EQ(pf_http_get(c, &os, on_data, on_done, &r, NULL), 0);
    CHECK_EQ(run_until(&loop, &r.done, 20000), 0);
    CHECK_EQ(r.err, 0);
    CHECK_EQ(r.len, 3000000);
    reset(&r);
    CHECK_EQ(finish_loop(&loop, c), 0);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    g_huge_pid = 0;
}

/* Extra request headers go out; the final response's headers come back
 * once, before the first body byte (after a redirect: only the last
 * response's); an error status gets them too, before on_done. */
typedef struct hdr_result {
    result r;
    int calls;
    int data_before; /* body calls before the headers came */
    char h[PF_HTTP_MAX_HEADERS + 1];
} hdr_result;

static void on_headers(void *ud, const char *h, size_t n)
{
    hdr_result *x = ud;
    x->calls++;
    x->data_before = x->r.data_calls;
    memcpy(x->h, h, n);
    x->h[n] = 0;
}

static int hdr_data(void *ud, const uint8_t *p, size_t n) { return on_data(&((hdr_result *)ud)->r, p, n); }
static void hdr_done(void *ud, int err, long status, const uint8_t *body, size_t len)
{
    on_done(&((hdr_result *)ud)->r, err, status, body, len);
}

TEST(test_request_and_response_headers)
{
    CHECK_EQ(servers(), 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    pf_http_client *c;
    CHECK_EQ(pf_http_client_new(&c, &loop), 0);
    static const char *paths[] = {"/echo/file.bin", "/redir-echo", "/echo/none.bin"};
    for (int i = 0; i < 3; i++) {
        char u[256];
        url(u, sizeof u, g_nginx_port, paths[i]);
        pf_http_opts o = {.url = u, .timeout_ms = 10000, .range_start = 100, .range_len = 1000, .follow = 1,
                          .headers = "CMCD-Request: bl=2100,dl=0,su\r\n\r\nX-Two: 2\n", .on_headers = on_headers};
        static hdr_result x;
        memset(&x, 0, sizeof x);
        CHECK_EQ(pf_http_get(c, &o, hdr_data, hdr_done, &x, NULL), 0);
        CHECK_EQ(run_until(&loop, &x.r.done, 10000), 0);
        CHECK_EQ(x.calls, 1);
        CHECK_EQ(x.data_before, 0);
        CHECK(strstr(x.h, "CMSD-Dynamic: \"cdn-a\";etp=12000\r\n") != NULL);
        CHECK(strstr(x.h, "302") == NULL && strstr(x.h, "Location") == NULL);
        if (i < 2) {
            CHECK_EQ(x.r.err, 0);
            CHECK_EQ(x.r.status, 206);
            CHECK(strncmp(x.h, "HTTP/1.1 206", 12) == 0);
            CHECK(strstr(x.h, "X-Got: bl=2100,dl=0,su|2\r\n") != NULL);
            CHECK_EQ(x.r.len, 1000);
            CHECK_MEM(x.r.data, g_file + 100, 1000);
        } else {
            CHECK_EQ(x.r.status, 404);
            CHECK_EQ(x.r.len, 0);
        }
        reset(&x.r);
    }
    /* Without on_headers nothing is collected; a header line too long is
     * refused. */
    char u[256], big[1100];
    url(u, sizeof u, g_nginx_port, "/file.bin");
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    memcpy(big, "X-A: ", 5);
    pf_http_opts o = {.url = u, .headers = big};
    result r;
    memset(&r, 0, sizeof r);
    CHECK_EQ(pf_http_get(c, &o, NULL, on_done, &r, NULL), PF_ERR_INVAL);
    CHECK_EQ(finish_loop(&loop, c), 0);
}

TEST_MAIN(test_whole_file, test_request_and_response_headers, test_range_and_status, test_range_fallback_200,
          test_refused_and_timeout, test_cancel_and_abort, test_concurrent,
          test_reply_size_bound)
