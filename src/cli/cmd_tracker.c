/* peerflow tracker: an HTTP tracker (/announce, /scrape) on libuv. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cli/cli.h"
#include "core/tracker/tracker.h"
#include "net/http_server.h"

typedef struct tracker_app {
    uv_loop_t loop;
    uv_timer_t expire_timer;
    uv_signal_t sigint, sigterm;
    pf_http_server *srv;
    pf_tracker *tracker;
    int verbose;
    int stopping;
} tracker_app;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: peerflow tracker [-l PORT] [--bind ADDR] [--interval SECONDS]\n"
            "                        [--max-torrents N] [--max-peers N] [--max-peers-total N]\n"
            "                        [--rate-limit N] [--rate-burst N] [--max-conns N] [-v]\n"
            "  -l, --port PORT         listen port (default 6969; 0 = any free port)\n"
            "      --bind ADDR         IPv4 or IPv6 address (default :: or 0.0.0.0)\n"
            "      --interval SECS     announce interval (default 1800)\n"
            "      --max-torrents N    refuse new torrents beyond N (default 100000)\n"
            "      --max-peers N       peers kept per torrent; a new one replaces the\n"
            "                          least recently seen (default 10000)\n"
            "      --max-peers-total N refuse new peers beyond N in all (default 2000000)\n"
            "      --rate-limit N      announces+scrapes per minute from one IPv4 address\n"
            "                          or IPv6 /64, sustained (default 600; 0 = no limit);\n"
            "                          beyond it: a bencoded failure with \"retry in\"\n"
            "      --rate-burst N      requests a rested address may send at once\n"
            "                          (default 300)\n"
            "      --max-conns N       open HTTP connections (default 1024)\n"
            "  -v, --verbose           log every request to stderr\n");
}

static int parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    if (!s || !*s || *s == '-' || *s == '+') return -1;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v > max) return -1;
    *out = v;
    return 0;
}

static uint64_t now_ns(void) { return uv_hrtime(); }

static void log_cb(void *ud, pf_log_level level, const char *msg)
{
    tracker_app *app = ud;
    if (level <= PF_LOG_WARN || app->verbose) fprintf(stderr, "peerflow tracker: %s\n", msg);
}

static void on_request(pf_http_res *res, const pf_http_request *req, const uint8_t *body,
                       size_t body_len, void *ud)
{
    tracker_app *app = ud;
    if (app->verbose)
        fprintf(stderr, "peerflow tracker: %.*s %.*s\n", (int)req->method_str.len,
                req->method_str.p, (int)req->target.len, req->target.p);
    if (req->method != PF_HTTP_GET && req->method != PF_HTTP_HEAD) {
        static const char msg[] = "method not allowed\n";
        pf_http_res_send(res, 405, "text/plain", msg, sizeof msg - 1);
        return;
    }
    char *path = strndup(req->path.p, req->path.len);
    char *query = strndup(req->query.p ? req->query.p : "", req->query.len);
    pf_buf out;
    pf_buf_init(&out);
    int status = 500;
    if (path && query)
        status = pf_tracker_handle_http(app->tracker, path, query, pf_http_res_remote(res),
                                        now_ns(), &out);
    if (status == 200) {
        pf_http_res_send(res, 200, "text/plain", out.data, out.len);
    } else {
        const char *msg = status == 404 ? "not found\n" : "internal error\n";
        pf_http_res_send(res, status, "text/plain", msg, strlen(msg));
    }
    pf_buf_free(&out);
    free(path);
    free(query);
}

static void on_expire(uv_timer_t *t)
{
    tracker_app *app = t->data;
    size_t n = pf_tracker_expire(app->tracker, now_ns());
    if (app->verbose && n) fprintf(stderr, "peerflow tracker: expired %zu peers\n", n);
}

static void on_closed(uv_handle_t *h) { (void)h; }

static void on_signal(uv_signal_t *sig, int signum)
{
    tracker_app *app = sig->data;
    if (app->stopping) return;
    app->stopping = 1;
    if (app->verbose) fprintf(stderr, "peerflow tracker: signal %d, stopping\n", signum);
    pf_http_server_stop(app->srv, NULL, NULL);
    uv_close((uv_handle_t *)&app->expire_timer, on_closed);
    uv_close((uv_handle_t *)&app->sigint, on_closed);
    uv_close((uv_handle_t *)&app->sigterm, on_closed);
}

int pf_cmd_tracker(int argc, char **argv)
{
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'l'},
        {"bind", required_argument, NULL, 'b'},
        {"interval", required_argument, NULL, 'i'},
        {"max-torrents", required_argument, NULL, 'm'},
        {"max-peers", required_argument, NULL, 'P'},
        {"max-peers-total", required_argument, NULL, 'T'},
        {"rate-limit", required_argument, NULL, 'r'},
        {"rate-burst", required_argument, NULL, 'B'},
        {"max-conns", required_argument, NULL, 'C'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    unsigned long port = 6969, interval = 1800, max_torrents = 100000, v;
    pf_tracker_config tc;
    pf_tracker_config_default(&tc);
    unsigned long max_conns = PF_HTTP_MAX_CONNS;
    const char *bind = NULL;
    tracker_app app;
    memset(&app, 0, sizeof app);
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+l:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (parse_ulong(optarg, 65535, &port)) goto bad_value;
            break;
        case 'b':
            bind = optarg;
            break;
        case 'i':
            if (parse_ulong(optarg, 86400, &v) || v == 0) goto bad_value;
            interval = v;
            break;
        case 'm':
            if (parse_ulong(optarg, 100000000, &v) || v == 0) goto bad_value;
            max_torrents = v;
            break;
        case 'P':
            if (parse_ulong(optarg, 100000000, &v) || v == 0) goto bad_value;
            tc.max_peers_per_torrent = v;
            break;
        case 'T':
            if (parse_ulong(optarg, 1000000000, &v) || v == 0) goto bad_value;
            tc.max_peers_total = v;
            break;
        case 'r':
            if (parse_ulong(optarg, 60000000, &v)) goto bad_value;
            tc.ip_rate_per_min = v == 0 ? PF_TRACKER_UNLIMITED : (uint32_t)v;
            break;
        case 'B':
            if (parse_ulong(optarg, 1000000, &v) || v == 0) goto bad_value;
            tc.ip_burst = (uint32_t)v;
            break;
        case 'C':
            if (parse_ulong(optarg, 1000000, &v) || v == 0) goto bad_value;
            max_conns = v;
            break;
        case 'v':
            app.verbose = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            fprintf(stderr, "peerflow tracker: unknown or incomplete option '%s'\n",
                    argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "peerflow tracker: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    tc.interval_s = (uint32_t)interval;
    tc.min_interval_s = 0;
    tc.max_torrents = max_torrents;
    tc.seed = uv_hrtime() ^ ((uint64_t)uv_os_getpid() << 32);
    tc.log = log_cb;
    tc.log_ud = &app;
    tc.log_level = app.verbose ? PF_LOG_DEBUG : PF_LOG_WARN;
    app.tracker = pf_tracker_new(&tc);
    if (!app.tracker) {
        fprintf(stderr, "peerflow tracker: out of memory\n");
        return 1;
    }
    if (uv_loop_init(&app.loop) != 0) {
        pf_tracker_free(app.tracker);
        fprintf(stderr, "peerflow tracker: cannot create event loop\n");
        return 1;
    }
    pf_http_server_config sc;
    pf_http_server_config_default(&sc);
    sc.port = (uint16_t)port;
    sc.on_request = on_request;
    sc.ud = &app;
    sc.log = log_cb;
    sc.log_ud = &app;
    sc.log_level = app.verbose ? PF_LOG_DEBUG : PF_LOG_WARN;
    sc.max_body = 0; /* GET only */
    sc.max_conns = max_conns;
    sc.bind = bind ? bind : "::";
    int rc = pf_http_server_start(&app.loop, &sc, &app.srv);
    if (rc == PF_ERR_NET && !bind) { /* no IPv6 on this host */
        sc.bind = "0.0.0.0";
        rc = pf_http_server_start(&app.loop, &sc, &app.srv);
    }
    if (rc != 0) {
        fprintf(stderr, "peerflow tracker: cannot listen on %s port %lu: %s\n", sc.bind, port,
                pf_strerror(rc));
        uv_run(&app.loop, UV_RUN_DEFAULT); /* let the failed listener close */
        uv_loop_close(&app.loop);
        pf_tracker_free(app.tracker);
        return rc == PF_ERR_INVAL ? 2 : 1;
    }
    fprintf(stderr, "listening on port %u\n", (unsigned)pf_http_server_port(app.srv));
    fflush(stderr);

    uint64_t period_ms = pf_tracker_expire_period_ns(app.tracker) / 1000000;
    uv_timer_init(&app.loop, &app.expire_timer);
    app.expire_timer.data = &app;
    uv_timer_start(&app.expire_timer, on_expire, period_ms, period_ms);
    signal(SIGPIPE, SIG_IGN); /* a client vanishing mid-write is not fatal */
    uv_signal_init(&app.loop, &app.sigint);
    uv_signal_init(&app.loop, &app.sigterm);
    app.sigint.data = app.sigterm.data = &app;
    uv_signal_start(&app.sigint, on_signal, SIGINT);
    uv_signal_start(&app.sigterm, on_signal, SIGTERM);

    uv_run(&app.loop, UV_RUN_DEFAULT);
    if (app.verbose) {
        pf_tracker_stats st;
        pf_tracker_stats_get(app.tracker, &st);
        fprintf(stderr,
                "peerflow tracker: %zu torrents, %zu peers, %llu announces, %llu scrapes, "
                "%llu rate-limited\n",
                st.torrents, st.peers, (unsigned long long)st.announces,
                (unsigned long long)st.scrapes, (unsigned long long)st.rate_limited);
    }
    uv_loop_close(&app.loop);
    pf_tracker_free(app.tracker);
    return 0;

bad_value:
    fprintf(stderr, "peerflow tracker: invalid value '%s' for option\n", optarg);
    usage(stderr);
    return 2;
}
