/* peerflow tracker: a tracker over HTTP (/announce, /scrape) and UDP (BEP
 * 15) on one port number, on the CLI's own libuv loop, through the public
 * API (include/peerflow/tracker.h). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "cli/cli.h"
#include "peerflow/tracker.h"

typedef struct tracker_app {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    pf_tracker_server *ts;
    pf_tracker_settings set;
    const char *proxies[PF_TRACKER_MAX_TRUSTED];
    const char *metrics_allow[PF_TRACKER_MAX_TRUSTED];
    int verbose;
    int stopping;
} tracker_app;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: peerflow tracker [-l PORT] [--bind ADDR] [--interval SECONDS]\n"
            "                        [--max-torrents N] [--max-peers N] [--max-peers-total N]\n"
            "                        [--rate-limit N] [--rate-burst N] [--max-conns N]\n"
            "                        [--trusted-proxy CIDR]... [--proxy-header NAME]\n"
            "                        [--auth-keys FILE] [--metrics-allow CIDR]...\n"
            "                        [--policy FILE] [--alto-network-map FILE\n"
            "                        [--alto-cost-map FILE]]\n"
            "                        [--no-udp] [-v]\n"
            "  -l, --port PORT         listen port, TCP (HTTP) and UDP (BEP 15) (default\n"
            "                          6969; 0 = any port free for both)\n"
            "      --bind ADDR         IPv4 or IPv6 address (default :: or 0.0.0.0)\n"
            "      --interval SECS     announce interval (default 1800)\n"
            "      --max-torrents N    refuse new torrents beyond N (default 100000)\n"
            "      --max-peers N       peers kept per torrent; a new one replaces the\n"
            "                          least recently seen (default 10000)\n"
            "      --max-peers-total N refuse new peers beyond N in all (default 2000000)\n"
            "      --rate-limit N      announces+scrapes per minute from one IPv4 address\n"
            "                          or IPv6 /64, sustained, HTTP and UDP together\n"
            "                          (default 600; 0 = no limit); beyond it: a bencoded\n"
            "                          failure with \"retry in\", or a BEP 15 error\n"
            "      --rate-burst N      requests a rested address may send at once\n"
            "                          (default 300)\n"
            "      --max-conns N       open HTTP connections (default 1024)\n"
            "      --trusted-proxy CIDR  a reverse proxy or load balancer in front of the\n"
            "                          tracker (an address or a network; repeatable, up\n"
            "                          to %d): its forwarded header names the client,\n"
            "                          and a client in it may name another address with\n"
            "                          ip=.  Without it, peers are listed at the address\n"
            "                          they connect from, and ip= is ignored\n"
            "      --proxy-header NAME the header those proxies set: X-Forwarded-For\n"
            "                          (default) or Forwarded (RFC 7239)\n"
            "                          (over UDP a peer is always the datagram's source)\n"
            "      --auth-keys FILE    subscribers only: every announce must carry a\n"
            "                          token= signed by a key in FILE for its torrent\n"
            "                          (see `peerflow token`); FILE is read again when it\n"
            "                          changes (key rotation); UDP announces are refused\n"
            "      --metrics-allow CIDR  who may GET /metrics (Prometheus text format:\n"
            "                          swarms, peers, announces, refusals by reason);\n"
            "                          repeatable; default this host only\n"
            "      --policy FILE       the operator's switches: P2P off or an upload cap\n"
            "                          per title, per PID or for all (`title <hex> p2p\n"
            "                          off`, `pid isp-a upload-cap 512K`, `all p2p off`);\n"
            "                          read again when it changes; viewers obey at their\n"
            "                          next announce\n"
            "      --alto-network-map FILE  the operator's ALTO (RFC 7285) network map\n"
            "                          (JSON): each announce's peers come from the\n"
            "                          announcer's PID (ISP) first, then by cost (P4P);\n"
            "                          PIDs label the QoE metrics; read again on change\n"
            "      --alto-cost-map FILE  its cost map (ranks the other PIDs)\n"
            "      --no-udp            HTTP only (no BEP 15)\n"
            "  -v, --verbose           log every request to stderr\n",
            PF_TRACKER_MAX_TRUSTED);
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

static void log_cb(void *ud, pf_log_level level, const char *msg)
{
    tracker_app *app = ud;
    if (level <= PF_LOG_WARN || app->verbose) fprintf(stderr, "peerflow tracker: %s\n", msg);
}

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
    {"trusted-proxy", required_argument, NULL, 'x'},
    {"proxy-header", required_argument, NULL, 'H'},
    {"no-udp", no_argument, NULL, 'U'},
    {"auth-keys", required_argument, NULL, 'K'},
    {"metrics-allow", required_argument, NULL, 'M'},
    {"policy", required_argument, NULL, 'Q'},
    {"alto-network-map", required_argument, NULL, 'N'},
    {"alto-cost-map", required_argument, NULL, 'A'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* One option into app->set; 0, or -1 for a bad value. */
static int take_option(tracker_app *app, int c, const char *arg)
{
    pf_tracker_settings *s = &app->set;
    unsigned long v;
    switch (c) {
    case 'K':
        s->auth_keys_path = arg;
        return 0;
    case 'Q':
        s->policy_path = arg;
        return 0;
    case 'N':
        s->alto_network_map_path = arg;
        return 0;
    case 'A':
        s->alto_cost_map_path = arg;
        return 0;
    case 'M': /* checked by pf_tracker_server_start */
        if (s->num_metrics_allow == PF_TRACKER_MAX_TRUSTED) return -1;
        app->metrics_allow[s->num_metrics_allow++] = arg;
        return 0;
    case 'l':
        if (parse_ulong(arg, 65535, &v)) return -1;
        s->port = (uint16_t)v;
        return 0;
    case 'b':
        s->bind = arg;
        return 0;
    case 'i':
        if (parse_ulong(arg, 86400, &v) || v == 0) return -1;
        s->interval_s = (uint32_t)v;
        return 0;
    case 'm':
        if (parse_ulong(arg, 100000000, &v) || v == 0) return -1;
        s->max_torrents = v;
        return 0;
    case 'P':
        if (parse_ulong(arg, 100000000, &v) || v == 0) return -1;
        s->max_peers_per_torrent = v;
        return 0;
    case 'T':
        if (parse_ulong(arg, 1000000000, &v) || v == 0) return -1;
        s->max_peers_total = v;
        return 0;
    case 'r':
        if (parse_ulong(arg, 60000000, &v)) return -1;
        s->rate_per_min = v == 0 ? PF_TRACKER_NO_LIMIT : (uint32_t)v;
        return 0;
    case 'B':
        if (parse_ulong(arg, 1000000, &v) || v == 0) return -1;
        s->rate_burst = (uint32_t)v;
        return 0;
    case 'C':
        if (parse_ulong(arg, 1000000, &v) || v == 0) return -1;
        s->max_conns = v;
        return 0;
    case 'x': /* checked by pf_tracker_server_start, which names a bad one */
        if (s->num_trusted_proxies == PF_TRACKER_MAX_TRUSTED) return -1;
        app->proxies[s->num_trusted_proxies++] = arg;
        return 0;
    case 'U':
        s->no_udp = 1;
        return 0;
    case 'H':
        if (strcasecmp(arg, "X-Forwarded-For") == 0)
            s->forwarded_header = PF_TRACKER_X_FORWARDED_FOR;
        else if (strcasecmp(arg, "Forwarded") == 0)
            s->forwarded_header = PF_TRACKER_FORWARDED;
        else
            return -1;
        return 0;
    }
    return -1;
}

/* The command line into app; 0 to run, else the exit code (0 for --help). */
static int parse_args(tracker_app *app, int argc, char **argv, int *exit_code)
{
    pf_tracker_settings_default(&app->set);
    app->set.port = 6969;
    app->set.trusted_proxies = app->proxies;
    app->set.metrics_allow = app->metrics_allow;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+l:vh", opts, NULL)) != -1) {
        if (c == 'v') {
            app->verbose = 1;
        } else if (c == 'h') {
            usage(stdout);
            *exit_code = 0;
            return -1;
        } else if (c == '?' || c == ':') {
            fprintf(stderr, "peerflow tracker: unknown or incomplete option '%s'\n", argv[optind - 1]);
            usage(stderr);
            *exit_code = 2;
            return -1;
        } else if (take_option(app, c, optarg) != 0) {
            fprintf(stderr, "peerflow tracker: invalid value '%s' for option\n", optarg);
            usage(stderr);
            *exit_code = 2;
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "peerflow tracker: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        *exit_code = 2;
        return -1;
    }
    app->set.log = log_cb;
    app->set.log_ud = app;
    app->set.log_level = app->verbose ? PF_LOG_DEBUG : PF_LOG_WARN;
    return 0;
}

static void on_closed(uv_handle_t *h) { (void)h; }

static void print_totals(const tracker_app *app)
{
    pf_tracker_server_stats st;
    pf_tracker_udp_stats us;
    pf_tracker_server_stats_get(app->ts, &st);
    pf_tracker_server_udp_stats_get(app->ts, &us);
    fprintf(stderr,
            "peerflow tracker: %zu torrents, %zu peers, %llu announces, %llu scrapes, "
            "%llu rate-limited, %llu expired\n",
            st.torrents, st.peers, (unsigned long long)st.announces,
            (unsigned long long)st.scrapes, (unsigned long long)st.rate_limited,
            (unsigned long long)st.expired);
    if (pf_tracker_server_udp(app->ts))
        fprintf(stderr,
                "peerflow tracker: UDP: %llu datagrams, %llu connects, %llu bad connection ids, "
                "%llu malformed, %llu errors, %llu replies sent, %llu not sent\n",
                (unsigned long long)us.datagrams, (unsigned long long)us.connects,
                (unsigned long long)us.bad_connid, (unsigned long long)us.malformed,
                (unsigned long long)us.errors, (unsigned long long)us.sent,
                (unsigned long long)us.send_failed);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    tracker_app *app = sig->data;
    if (app->stopping) return;
    app->stopping = 1;
    if (app->verbose) {
        fprintf(stderr, "peerflow tracker: signal %d, stopping\n", signum);
        print_totals(app);
    }
    pf_tracker_server_stop(app->ts, NULL, NULL);
    uv_close((uv_handle_t *)&app->sigint, on_closed);
    uv_close((uv_handle_t *)&app->sigterm, on_closed);
}

int pf_cmd_tracker(int argc, char **argv)
{
    tracker_app app;
    memset(&app, 0, sizeof app);
    int code = 0;
    if (parse_args(&app, argc, argv, &code) != 0) return code;
    if (uv_loop_init(&app.loop) != 0) {
        fprintf(stderr, "peerflow tracker: cannot create event loop\n");
        return 1;
    }
    int rc = pf_tracker_server_start(&app.loop, &app.set, &app.ts);
    if (rc != 0) {
        /* the reason was logged (log_cb) */
        fprintf(stderr, "peerflow tracker: cannot start: %s\n", pf_strerror(rc));
        uv_run(&app.loop, UV_RUN_DEFAULT); /* let a failed listener close */
        uv_loop_close(&app.loop);
        return rc == PF_ERR_INVAL || rc == PF_ERR_PARSE || rc == PF_ERR_LIMIT ? 2 : 1;
    }
    fprintf(stderr, "listening on port %u (%s%s)\n", (unsigned)pf_tracker_server_port(app.ts),
            pf_tracker_server_udp(app.ts) ? "HTTP and UDP" : "HTTP",
            app.set.auth_keys_path ? ", subscribers only" : "");
    fflush(stderr);
    signal(SIGPIPE, SIG_IGN); /* the application's choice: a client vanishing mid-write */
    uv_signal_init(&app.loop, &app.sigint);
    uv_signal_init(&app.loop, &app.sigterm);
    app.sigint.data = app.sigterm.data = &app;
    uv_signal_start(&app.sigint, on_signal, SIGINT);
    uv_signal_start(&app.sigterm, on_signal, SIGTERM);
    uv_run(&app.loop, UV_RUN_DEFAULT);
    uv_loop_close(&app.loop);
    return 0;
}
