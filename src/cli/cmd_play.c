/* peerflow play: stream a torrent to a local player through the media
 * server (net/media_server.c), fetching from the swarm and the CDN. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "cli/cli.h"
#include "cli/cli_loop.h"
#include "cli/progress.h"
#include "peerflow/client.h"
#include "peerflow/media_server.h"

#define MAX_ARGS 64

typedef struct play {
    pf_client *c;
    pf_client_torrent *t;
    pf_media_server *ms;
    const char *bind;
    long http_port;
    const char *player; /* command, NULL = none */
    const char *stats_path;
    int exit_when_done;
    int tty, verbose;
    double log_t0; /* -vv log clock origin */
    int announced; /* URLs printed (the file list is known) */
    uint32_t main_file;
    uv_process_t proc;
    int player_running;
    int exit_code;
    int done_ticks; /* consecutive ticks with everything served */
    uint64_t ticks;
} play;

/* PF_TRACE=FILE: every debug line goes, stamped, into a ring in memory
 * (the last PF__TRACE_LINES), written to FILE at exit; stderr gets what
 * -v asks for.  Writing -vv to stderr as it happens changes when the
 * engine's ticks run; a line into memory costs a formatting only. */
#define PF__TRACE_LINES 8192
#define PF__TRACE_LEN 232
typedef struct trace_line {
    double t;
    pf_log_level lvl;
    char msg[PF__TRACE_LEN];
} trace_line;
static trace_line *g_trace;
static uint32_t g_trace_n;
static double g_trace_t0;
static int g_trace_stderr_level;

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void trace_add(pf_log_level lvl, const char *msg)
{
    trace_line *l = &g_trace[g_trace_n++ % PF__TRACE_LINES];
    l->t = mono_s() - g_trace_t0;
    l->lvl = lvl;
    snprintf(l->msg, sizeof l->msg, "%s", msg);
}

static void trace_dump(const char *path)
{
    if (!g_trace) return;
    FILE *f = fopen(path, "w");
    if (f) {
        static const char *names[] = {"error", "warn", "info", "debug"};
        uint32_t n = g_trace_n < PF__TRACE_LINES ? g_trace_n : PF__TRACE_LINES;
        for (uint32_t i = g_trace_n - n; i != g_trace_n; i++) {
            const trace_line *l = &g_trace[i % PF__TRACE_LINES];
            fprintf(f, "[%8.3f] %s: %s\n", l->t, names[l->lvl], l->msg);
        }
        fclose(f);
    }
    free(g_trace);
    g_trace = NULL;
}

static void log_cb(void *ud, pf_log_level lvl, const char *msg)
{
    play *p = ud;
    static const char *names[] = {"error", "warn", "info", "debug"};
    if (g_trace) {
        trace_add(lvl, msg);
        if ((int)lvl > g_trace_stderr_level) return;
    }
    if (p->tty) pf_progress_clear();
    if (p->verbose > 1) {
        /* -vv: seconds since start, to read a stream's start-up from the log */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
        if (p->log_t0 == 0) p->log_t0 = now;
        fprintf(stderr, "[%8.3f] peerflow play: %s: %s\n", now - p->log_t0, names[lvl], msg);
        return;
    }
    fprintf(stderr, "peerflow play: %s: %s\n", names[lvl], msg);
}

/* --- fetching a .torrent by URL -------------------------------------------- */

/* GETs and parses the .torrent at url; returns 0 and *out. */
static int fetch_torrent(const char *url, pf_metainfo **out)
{
    long status = 0;
    int rc = pf_metainfo_fetch(url, 60000, out, &status);
    if (rc == 0) return 0;
    if (rc == PF_ERR_TRACKER)
        fprintf(stderr, "peerflow play: cannot fetch %s: HTTP status %ld\n", pf_cli_esc(url), status);
    else if (rc == PF_ERR_PARSE || rc == PF_ERR_LIMIT || rc == PF_ERR_UNSAFE_PATH)
        fprintf(stderr, "peerflow play: %s: not a valid .torrent file or magnet link\n",
                pf_cli_esc(url));
    else
        fprintf(stderr, "peerflow play: cannot fetch %s: %s\n", pf_cli_esc(url), pf_strerror(rc));
    return 1;
}

/* --- cache directory ---------------------------------------------------------- */

static int mkdir_p(const char *path)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) return -1;
    for (char *s = tmp + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
        *s = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    struct stat st;
    return stat(tmp, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

static int default_cache_dir(char *out, size_t len)
{
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (xdg && xdg[0] == '/') return snprintf(out, len, "%s/peerflow", xdg) < (int)len ? 0 : -1;
    if (home && home[0]) return snprintf(out, len, "%s/.cache/peerflow", home) < (int)len ? 0 : -1;
    return -1;
}

/* --- the player ------------------------------------------------------------------ */

static const char *player_command(const char *name)
{
    if (strcmp(name, "mpv") == 0) return "mpv --force-window=immediate";
    if (strcmp(name, "vlc") == 0) return "vlc --play-and-exit";
    if (strcmp(name, "ffplay") == 0) return "ffplay -autoexit";
    return name; /* a command line of the user's */
}

static void player_closed(uv_handle_t *h) { (void)h; }

static void player_exit(uv_process_t *proc, int64_t status, int sig)
{
    play *p = proc->data;
    p->player_running = 0;
    uv_close((uv_handle_t *)proc, player_closed);
    if (p->tty) pf_progress_clear();
    if (status == 127) {
        fprintf(stderr, "peerflow play: player not found: %s\n", pf_cli_esc(p->player));
        p->exit_code = 1;
    } else if (p->verbose) {
        fprintf(stderr, "peerflow play: player exited (status %lld, signal %d)\n", (long long)status,
                sig);
    }
    pf_client_stop(p->c);
}

static int player_start(play *p, const char *url)
{
    char cmd[4096];
    /* The URL goes in as "$1": no quoting of ours can be broken by it. */
    if (snprintf(cmd, sizeof cmd, "%s \"$1\"", player_command(p->player)) >= (int)sizeof cmd) {
        fprintf(stderr, "peerflow play: player command too long\n");
        return -1;
    }
    char *args[] = {"sh", "-c", cmd, "peerflow-player", (char *)url, NULL};
    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_INHERIT_FD;
    stdio[0].data.fd = 0;
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = 2; /* keep our stdout for the URLs */
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    uv_process_options_t o;
    memset(&o, 0, sizeof o);
    o.file = "/bin/sh";
    o.args = args;
    o.exit_cb = player_exit;
    o.stdio = stdio;
    o.stdio_count = 3;
    p->proc.data = p;
    int rc = uv_spawn(pf_client_loop(p->c), &p->proc, &o);
    if (rc != 0) {
        fprintf(stderr, "peerflow play: cannot start the player: %s\n", uv_strerror(rc));
        uv_close((uv_handle_t *)&p->proc, player_closed);
        return -1;
    }
    p->player_running = 1;
    return 0;
}

/* --- output ---------------------------------------------------------------------- */

/* Once the file list is known: the URLs on stdout, then the player. */
static void announce(play *p)
{
    uint32_t n = pf_client_torrent_num_files(p->t);
    if (p->announced || n == 0 || !p->ms) return; /* events can come from pf_client_add */
    p->announced = 1;
    int have_main = 0;
    if (p->tty) pf_progress_clear();
    for (uint32_t i = 0; i < n; i++) {
        const char *path = pf_client_torrent_file_path(p->t, i);
        if (!path || strncmp(path, ".pad/", 5) == 0) continue;
        if (!have_main || (!pf_media_is_media(pf_client_torrent_file_path(p->t, p->main_file)) &&
                           pf_media_is_media(path))) {
            p->main_file = i;
            have_main = 1;
        }
        pf_buf b;
        pf_buf_init(&b);
        if (pf_media_server_file_url(p->ms, i, &b) == 0)
            printf("%s\n", pf_cli_esc((const char *)b.data));
        pf_buf_free(&b);
    }
    printf("%s/playlist.m3u\n", pf_cli_esc(pf_media_server_base_url(p->ms)));
    /* A packaged title: its manifests, for players that switch renditions
     * (the player is given the HLS one). */
    int title = 0;
    for (int hls = 1; hls >= 0; hls--) {
        pf_buf b;
        pf_buf_init(&b);
        if (pf_media_server_title_url(p->ms, hls, &b) == 0) {
            printf("%s\n", pf_cli_esc((const char *)b.data));
            if (p->player && !title && player_start(p, (const char *)b.data) != 0) {
                p->exit_code = 1;
                pf_client_stop(p->c);
            }
            title = 1;
        }
        pf_buf_free(&b);
    }
    fflush(stdout);
    if (p->player && have_main && !title) {
        pf_buf b;
        pf_buf_init(&b);
        if (pf_media_server_file_url(p->ms, p->main_file, &b) == 0 &&
            player_start(p, (const char *)b.data) != 0) {
            p->exit_code = 1;
            pf_client_stop(p->c);
        }
        pf_buf_free(&b);
    }
}

static int write_stats(play *p)
{
    if (!p->stats_path || !p->t) return 0;
    pf_buf b;
    pf_buf_init(&b);
    char tmp[4096];
    int ok = pf_media_stats_collect(p->t, &b) == 0 &&
             snprintf(tmp, sizeof tmp, "%s.tmp", p->stats_path) < (int)sizeof tmp;
    if (ok) {
        FILE *f = fopen(tmp, "w");
        ok = f && fwrite(b.data, 1, b.len, f) == b.len;
        if (f && fclose(f) != 0) ok = 0;
        ok = ok && rename(tmp, p->stats_path) == 0;
    }
    pf_buf_free(&b);
    return ok ? 0 : -1;
}

/* The file whose QoE the status line shows: an active one, else the main. */
static uint32_t shown_file(play *p, pf_qoe *q)
{
    uint32_t n = pf_client_torrent_num_files(p->t);
    for (uint32_t i = 0; i < n && i < 4096; i++)
        if (pf_client_torrent_qoe(p->t, i, q) == 0 && q->active) return i;
    if (pf_client_torrent_qoe(p->t, p->main_file, q) != 0) {
        memset(q, 0, sizeof *q);
        q->ttfb_s = q->time_to_playable_s = -1;
    }
    return p->main_file;
}

static void draw_status(play *p)
{
    pf_torrent_stats st;
    pf_client_torrent_stats(p->t, &st);
    pf_qoe q;
    uint32_t f = shown_file(p, &q);
    char cdn[32], peer[32], down[32], up[32], start[32] = "-";
    pf_fmt_bytes((double)st.cdn_downloaded, cdn, sizeof cdn);
    pf_fmt_bytes((double)st.peer_downloaded, peer, sizeof peer);
    pf_fmt_bytes(st.down_rate, down, sizeof down);
    pf_fmt_bytes(st.up_rate, up, sizeof up);
    if (q.time_to_playable_s >= 0)
        snprintf(start, sizeof start, "%.2fs", q.time_to_playable_s);
    else if (q.ttfb_s >= 0)
        snprintf(start, sizeof start, "ttfb %.2fs", q.ttfb_s);
    char extra[160];
    pf_cli_upload_brief(p->c, extra, sizeof extra);
    uint64_t tot = st.cdn_downloaded + st.peer_downloaded;
    double share = tot ? 100.0 * (double)st.cdn_downloaded / (double)tot : 0;
    double pct = st.total_length ? 100.0 * (double)st.have_bytes / (double)st.total_length : 0;
    fprintf(stderr,
            "%s%s file %u %s | start %s | buffer %.1fs | stalls %u (%.1fs) | CDN %s (%.0f%%) "
            "P2P %s | peers %u | down %s/s up %s/s | %.1f%%%s%s",
            p->tty ? "\r\033[K" : "", p->announced ? "" : "[metadata] ", (unsigned)f,
            q.active ? "playing" : "idle", start, q.buffer_s > 0 ? q.buffer_s : 0.0, q.stalls,
            q.stall_s, cdn, share, peer, st.peers, down, up, pct, extra, p->tty ? "" : "\n");
    fflush(stderr);
}

static void on_event(void *ud, pf_client *c, int event, pf_client_torrent *t, int err)
{
    play *p = ud;
    switch (event) {
    case PF_CLIENT_TICK:
        p->ticks++;
        write_stats(p);
        if (p->tty || (p->verbose && p->ticks % 5 == 0)) draw_status(p);
        if (p->exit_when_done && p->ms && pf_media_server_all_served(p->ms) &&
            pf_media_server_busy(p->ms) == 0) {
            /* One more tick lets the last bytes leave the socket. */
            if (++p->done_ticks >= 2) pf_client_stop(c);
        } else {
            p->done_ticks = 0;
        }
        break;
    case PF_CLIENT_METADATA:
        if (p->verbose || p->tty) {
            if (p->tty) pf_progress_clear();
            fprintf(stderr, "peerflow play: got metadata for %s\n",
                    pf_cli_esc(pf_client_torrent_name(t)));
        }
        announce(p);
        break;
    case PF_CLIENT_CHECKED:
        if (p->verbose) {
            pf_torrent_stats st;
            pf_client_torrent_stats(t, &st);
            fprintf(stderr, "peerflow play: %u of %u pieces already in the cache\n", st.have,
                    st.pieces);
        }
        announce(p);
        break;
    case PF_CLIENT_COMPLETE:
        if (p->verbose) {
            if (p->tty) pf_progress_clear();
            fprintf(stderr, "peerflow play: download complete: %s\n",
                    pf_cli_esc(pf_client_torrent_name(t)));
        }
        break;
    case PF_CLIENT_ERROR:
        if (p->tty) pf_progress_clear();
        fprintf(stderr, "peerflow play: %s\n", pf_strerror(err));
        p->exit_code = 1;
        pf_client_stop(c);
        break;
    case PF_CLIENT_STOPPED:
        write_stats(p);
        /* Its connections end with the client's (the loop then closes
         * whatever is left: cli_loop_close). */
        pf_media_server_stop(p->ms);
        p->ms = NULL;
        if (p->player_running) uv_process_kill(&p->proc, SIGTERM);
        break;
    }
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: peerflow play [options] TORRENT|MAGNET|URL\n\n"
            "Stream a torrent through a local HTTP server for a media player, fetching\n"
            "from peers and from web seeds (CDN) as playback needs.  URL is an http(s)\n"
            "address of a .torrent file.  Prints one URL per file and the playlist's URL\n"
            "on stdout, then runs until SIGINT/SIGTERM (or until the player exits).\n\n"
            "options:\n"
            "  -d, --dir DIR          cache directory (default $XDG_CACHE_HOME/peerflow\n"
            "                         or ~/.cache/peerflow)\n"
            "      --http-port PORT   media server port (default 0 = any free port)\n"
            "      --bind ADDR        media server address (default 127.0.0.1)\n"
            "      --http-header-timeout S  a request not complete S seconds after its\n"
            "                         first byte gets 408 (default 10; 0 = none)\n"
            "      --http-idle-timeout S    close idle keep-alive connections (default 30)\n"
            "      --http-send-timeout S    close a client that reads nothing of its\n"
            "                         response for S seconds (default 0 = never: a\n"
            "                         paused player keeps its connection)\n"
            "      --http-max-conns N media server connections (default 64)\n"
            "  -l, --port PORT        peer listen port (default 0 = any)\n"
            "      --peer HOST:PORT   dial this peer (repeatable)\n"
            "      --tracker URL      add a tracker (repeatable)\n"
            "      --no-tracker       ignore the torrent's trackers\n"
            PF_CLI_TOKEN_HELP PF_CLI_TLS_HELP
            "      --webseed URL      add a web seed / CDN URL (repeatable)\n"
 PF_CLI_TRANSPORT_HELP PF_CLI_CMCD_HELP
            "      --memory-limit SIZE  piece buffers the engine may hold (pieces in\n"
            "                         progress, read cache, write backlog), e.g. 16M\n"
            "                         for a TV; default: no limit\n"
            "      --webseed-cost C   relative cost per byte of the --webseed before it\n"
            "                         (default 1; e.g. 0.2 for an ISP cache: the\n"
            "                         cheapest that keeps up brings the CDN bytes)\n"
            "      --no-upload        never upload to peers (POST /control turns uploads\n"
            "                         off and on while it runs)\n"
            "      --upload-rate R    cap uploads at R bytes/s (K/M/G suffixes)\n"
 PF_CLI_UPLOAD_HELP PF_CLI_TAG_KEY_HELP
            "      --local-net CIDR   a network of this viewer's ISP (repeatable): its\n"
            "                         peers are served first, bytes with others counted\n"
            "      --local-share F    share of upload slots where they come first\n"
            "                         (0-1, default 0.5; 1 = most locality, more CDN)\n"
            "      --download-rate R  cap downloads from peers at R bytes/s\n"
            "      --cache-size SIZE  keep at most SIZE bytes of the torrent on disk\n"
            "      --player P         start mpv, vlc, ffplay or the command P on the first\n"
            "                         audio/video file; peerflow exits when it does\n"
            "      --player-dir DIR   serve DIR's web player files (html, js, css, map)\n"
            "                         at /player/<name>, same origin as the title\n"
            "      --pace             send an adaptive title's segments no faster than this\n"
            "                         viewer's network has shown it brings, even when held\n"
            "                         (default: as fast as they are there)\n"
            "      --stats FILE       write /stats.json's document every second and at exit\n"
            "      --qoe-report S     send the stream's QoE summary to the tracker every S\n"
            "                         seconds and at the end (default 60; 0 = never)\n"
            "      --exit-when-done   exit once every file has been served completely\n"
            "  -v, --verbose          log progress and protocol events\n"
            "  -h, --help             this help\n\n"
            "routes: /files/<i>/<name> (Range), /stream/<i>, /playlist.m3u, /stats.json,\n"
            "        /metrics (Prometheus), /player/<name> (--player-dir), /; POST /control {\"upload\":\"off\"|\"on\"},\n"
            "        {\"metered\":true|false} (from this machine, application/json)\n");
}

/* What the command line asks for, besides what `play` keeps. */
typedef struct play_opts {
    const char *src, *dir;
    const char *player_dir; /* --player-dir: served at /player/<name> */
    int pace;               /* --pace */
    const char *peers[MAX_ARGS], *trackers[MAX_ARGS], *webseeds[MAX_ARGS], *nets[MAX_ARGS];
    int npeers, ntrackers, nwebseeds, nnets, no_tracker, no_upload;
    double ws_cost[MAX_ARGS]; /* each --webseed's --webseed-cost (1) */
    long port;
    uint64_t up_rate, down_rate, cache_size, memory_limit;
    pf_client_settings net; /* --transport, --utp-target, --cmcd (their fields only) */
    pf_cli_upload up;       /* --upload-budget, --upload-off-when, ... */
    char token[PF_TOKEN_MAX + 1]; /* --tracker-token; "" none */
    pf_cli_tls tls;               /* --ssl-cert, --ssl-key, --ssl-crl */
    pf_cli_tag_key tag_key;       /* --tag-key, --no-tag-key */
    double local_share; /* < 0: default */
    pf_media_server_limits lim;
    char dirbuf[4096];
} play_opts;

enum {
    O_HTTPPORT = 256, O_BIND, O_PEER, O_TRACKER, O_NOTRACK, O_WEBSEED, O_NOUP, O_UPRATE,
    O_DOWNRATE, O_CACHE, O_PLAYER, O_PLAYERDIR, O_PACE, O_STATS, O_EXITDONE, O_HDRTO, O_IDLETO, O_SENDTO,
    O_MAXCONNS, O_LOCALNET, O_LOCALSHARE, O_WSCOST, O_MEMLIMIT, O_TRANSPORT, O_UTPTARGET, O_QOE,
    O_CMCD
};

/* --http-*-timeout S and --http-max-conns N into the media server's limits. */
static int play_http_limit(play_opts *o, int ch, const char *arg)
{
    char *end;
    double v = strtod(arg, &end);
    if (!*arg || *end || !(v >= 0) || v > 86400 ||
        (ch == O_MAXCONNS && (v < 1 || v > 100000 || v != (double)(long)v))) {
        fprintf(stderr, "peerflow play: bad value '%s' for --%s\n", pf_cli_esc(arg),
                ch == O_MAXCONNS ? "http-max-conns" : "http-*-timeout");
        return 2;
    }
    /* seconds; 0 = no timeout; sub-millisecond values round up */
    uint32_t ms = v == 0 ? UINT32_MAX : (uint32_t)(v * 1000 + 0.999);
    if (ch == O_HDRTO) o->lim.header_timeout_ms = ms;
    else if (ch == O_IDLETO) o->lim.idle_timeout_ms = ms;
    else if (ch == O_SENDTO) o->lim.send_timeout_ms = ms;
    else o->lim.max_conns = (size_t)v;
    return -1;
}

/* A repeatable option (--peer, --tracker, --webseed, --local-net). */
static int play_list_option(play_opts *o, int ch, const char *arg)
{
    const char **list = ch == O_PEER ? o->peers : ch == O_TRACKER ? o->trackers : ch == O_WEBSEED ? o->webseeds : o->nets;
    int *n = ch == O_PEER ? &o->npeers : ch == O_TRACKER ? &o->ntrackers : ch == O_WEBSEED ? &o->nwebseeds : &o->nnets;
    if (*n == MAX_ARGS) {
        fprintf(stderr, "peerflow play: too many --%s options (max %d)\n",
                ch == O_PEER      ? "peer"
                : ch == O_TRACKER ? "tracker"
                : ch == O_WEBSEED ? "webseed"
                                  : "local-net",
                MAX_ARGS);
        return 2;
    }
    if (ch == O_WEBSEED) o->ws_cost[*n] = 1.0;
    list[(*n)++] = arg;
    return -1;
}

/* One option; returns -1 to go on, else the exit code. */
static int play_option(play *p, play_opts *o, int ch, const char *arg)
{
    char *end;
    switch (ch) {
    case 'd': o->dir = arg; return -1;
    case O_BIND: p->bind = arg; return -1;
    case O_NOTRACK: o->no_tracker = 1; return -1;
    case O_NOUP: o->no_upload = 1; return -1;
    case O_TRANSPORT: return pf_cli_transport("play", arg, &o->net) ? 2 : -1;
    case O_UTPTARGET: return pf_cli_utp_target("play", arg, &o->net) ? 2 : -1;
    case O_CMCD: return pf_cli_cmcd("play", arg, &o->net) ? 2 : -1;
    case O_QOE: {
        end = NULL;
        double sec = strtod(arg, &end);
        if (!*arg || *end || !(sec == 0 || (sec >= 0.1 && sec <= 86400))) {
            fprintf(stderr, "peerflow play: --qoe-report takes seconds, 0.1 to 86400, or 0\n");
            return 2;
        }
        o->net.qoe_report_ms = sec == 0 ? PF_QOE_REPORT_OFF : (uint32_t)(sec * 1000);
        return -1;
    }
    case O_STATS: p->stats_path = arg; return -1;
    case O_PLAYERDIR: o->player_dir = arg; return -1;
    case O_PACE: o->pace = 1; return -1;
    case O_EXITDONE: p->exit_when_done = 1; return -1;
    case 'v': p->verbose++; return -1;
    case PF_CLI_O_BUDGET:
    case PF_CLI_O_BUDGET_FILE:
    case PF_CLI_O_OFF_WHEN:
    case PF_CLI_O_METERED_FILE:
    case PF_CLI_O_SHARE:
        return pf_cli_upload_option("play", ch, arg, &o->up) ? 2 : -1;
    case PF_CLI_O_SSL_CERT:
    case PF_CLI_O_SSL_KEY:
    case PF_CLI_O_SSL_CRL:
        return pf_cli_tls_option("play", ch, arg, &o->tls) ? 2 : -1;
    case PF_CLI_O_TOKEN:
        return pf_cli_tracker_token("play", arg, o->token, sizeof o->token) ? 2 : -1;
    case PF_CLI_O_TAG_KEY:
    case PF_CLI_O_NO_TAG_KEY:
        return pf_cli_tag_key_option("play", ch, arg, &o->tag_key) ? 2 : -1;
    case 'l':
    case O_HTTPPORT: {
        long v = strtol(arg, &end, 10);
        if (!*arg || *end || v < 0 || v > 65535) {
            fprintf(stderr, "peerflow play: bad port '%s'\n", pf_cli_esc(arg));
            return 2;
        }
        *(ch == 'l' ? &o->port : &p->http_port) = v;
        return -1;
    }
    case O_HDRTO:
    case O_IDLETO:
    case O_SENDTO:
    case O_MAXCONNS:
        return play_http_limit(o, ch, arg);
    case O_PEER:
    case O_TRACKER:
    case O_WEBSEED:
    case O_LOCALNET:
        return play_list_option(o, ch, arg);
    case O_WSCOST: {
        double v = strtod(arg, &end);
        if (!o->nwebseeds || !*arg || *end || !(v > 0) || v > 1e6) {
            fprintf(stderr, "peerflow play: --webseed-cost takes a positive number and follows a --webseed\n");
            return 2;
        }
        o->ws_cost[o->nwebseeds - 1] = v;
        return -1;
    }
    case O_LOCALSHARE: {
        double v = strtod(arg, &end);
        if (!*arg || *end || !(v >= 0 && v <= 1)) {
            fprintf(stderr, "peerflow play: bad --local-share '%s' (0 to 1)\n", pf_cli_esc(arg));
            return 2;
        }
        o->local_share = v;
        return -1;
    }
    case O_UPRATE:
    case O_DOWNRATE:
    case O_MEMLIMIT:
    case O_CACHE: {
        uint64_t v;
        if (pf_parse_size(arg, &v) != 0) {
            fprintf(stderr, "peerflow play: bad %s '%s' (bytes, K/M/G suffixes)\n",
                    ch == O_CACHE ? "size" : "rate", pf_cli_esc(arg));
            return 2;
        }
        *(ch == O_UPRATE ? &o->up_rate : ch == O_DOWNRATE ? &o->down_rate : ch == O_MEMLIMIT ? &o->memory_limit : &o->cache_size) = v;
        return -1;
    }
    case O_PLAYER:
        if (!*arg) {
            fprintf(stderr, "peerflow play: empty --player\n");
            return 2;
        }
        p->player = arg;
        return -1;
    case 'h':
        usage(stdout);
        return 0;
    }
    usage(stderr);
    return 2;
}

/* Phase 1: the command line and the cache directory.  Returns -1 to go
 * on, else the exit code. */
static int play_parse(play *p, play_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", 1, 0, 'd'},           {"http-port", 1, 0, O_HTTPPORT},
        {"bind", 1, 0, O_BIND},       {"port", 1, 0, 'l'},
        {"peer", 1, 0, O_PEER},       {"tracker", 1, 0, O_TRACKER},
        {"no-tracker", 0, 0, O_NOTRACK}, {"webseed", 1, 0, O_WEBSEED},
        {"webseed-cost", 1, 0, O_WSCOST}, {"memory-limit", 1, 0, O_MEMLIMIT},
        {"transport", 1, 0, O_TRANSPORT}, {"utp-target", 1, 0, O_UTPTARGET}, {"qoe-report", 1, 0, O_QOE},
        {"cmcd", 1, 0, O_CMCD},
        {"no-upload", 0, 0, O_NOUP},  {"upload-rate", 1, 0, O_UPRATE},
        {"download-rate", 1, 0, O_DOWNRATE}, {"cache-size", 1, 0, O_CACHE},
        {"player", 1, 0, O_PLAYER},   {"player-dir", 1, 0, O_PLAYERDIR},
        {"stats", 1, 0, O_STATS},     {"pace", 0, 0, O_PACE},
        {"exit-when-done", 0, 0, O_EXITDONE}, {"verbose", 0, 0, 'v'},
        {"http-header-timeout", 1, 0, O_HDRTO}, {"http-idle-timeout", 1, 0, O_IDLETO},
        {"http-send-timeout", 1, 0, O_SENDTO}, {"http-max-conns", 1, 0, O_MAXCONNS},
        {"local-net", 1, 0, O_LOCALNET}, {"local-share", 1, 0, O_LOCALSHARE},
        PF_CLI_UPLOAD_LONGOPTS,       PF_CLI_TOKEN_LONGOPT, PF_CLI_TLS_LONGOPTS,
        PF_CLI_TAG_KEY_LONGOPTS,      {"help", 0, 0, 'h'},          {0, 0, 0, 0}};
    o->local_share = -1;
    pf_media_server_limits_default(&o->lim);
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "d:l:vh", opts, NULL)) != -1) {
        int rc = play_option(p, o, ch, optarg);
        if (rc >= 0) return rc;
    }
    if (optind != argc - 1) {
        fprintf(stderr, "peerflow play: expected one TORRENT, MAGNET or URL\n");
        usage(stderr);
        return 2;
    }
    o->src = argv[optind];
    struct stat pst;
    if (o->player_dir && (stat(o->player_dir, &pst) != 0 || !S_ISDIR(pst.st_mode))) {
        fprintf(stderr, "peerflow play: --player-dir %s: not a directory\n", pf_cli_esc(o->player_dir));
        return 2;
    }
    if (!o->dir) {
        if (default_cache_dir(o->dirbuf, sizeof o->dirbuf) != 0) {
            fprintf(stderr, "peerflow play: no cache directory: set HOME or use --dir\n");
            return 2;
        }
        o->dir = o->dirbuf;
    }
    if (mkdir_p(o->dir) != 0) {
        fprintf(stderr, "peerflow play: cannot create %s: %s\n", pf_cli_esc(o->dir), strerror(errno));
        return 1;
    }
    return -1;
}

/* Phase 2: the client on our loop, with the viewer's settings.  Returns -1
 * to go on, else the exit code. */
static int play_client(play *p, play_opts *o, cli_loop *lp)
{
    pf_client_settings cs;
    pf_client_settings_default(&cs);
    int rc = pf_cli_upload_settings("play", &o->up, &cs);
    if (rc) return rc;
    pf_cli_tag_key_settings(&o->tag_key, &cs);
    cs.loop = &lp->loop;
    cs.listen_port = (uint16_t)o->port;
    cs.upload_enabled = !o->no_upload;
    cs.memory_limit = o->memory_limit;
    if (o->net.transports) { /* --transport given; else the client's default */
        cs.transports = o->net.transports;
        cs.prefer_utp = o->net.prefer_utp;
    }
    cs.utp_target_delay_us = o->net.utp_target_delay_us;
    cs.qoe_report_ms = o->net.qoe_report_ms;
    cs.cmcd = o->net.cmcd;
    cs.log = log_cb;
    cs.log_ud = p;
    cs.log_level = p->verbose > 1 ? PF_LOG_DEBUG : p->verbose ? PF_LOG_INFO : PF_LOG_WARN;
    const char *trace_path = getenv("PF_TRACE");
    if (trace_path && *trace_path) {
        g_trace = calloc(PF__TRACE_LINES, sizeof *g_trace);
        if (g_trace) {
            g_trace_t0 = mono_s();
            g_trace_stderr_level = (int)cs.log_level;
            cs.log_level = PF_LOG_DEBUG;
        }
    }
    cs.on_event = on_event;
    cs.event_ud = p;
    rc = pf_client_new(&cs, &p->c);
    if (rc == PF_ERR_IO && cs.upload_budget) {
        fprintf(stderr, "peerflow play: cannot write the upload budget file %s\n",
                pf_cli_esc(cs.upload_budget_file));
        p->c = NULL;
        return 1;
    }
    if (rc != 0) {
        fprintf(stderr, "peerflow play: cannot listen on peer port %ld: %s\n", o->port, pf_strerror(rc));
        p->c = NULL;
        return 1;
    }
    cli_loop_watch(lp, p->c);
    if (p->verbose) fprintf(stderr, "peerflow play: peers on port %d\n", pf_client_listen_port(p->c));
    if (o->up_rate || o->down_rate) pf_client_set_rate_limits(p->c, o->up_rate, o->down_rate);
    if (o->local_share >= 0) pf_client_set_local_share(p->c, o->local_share);
    for (int i = 0; i < o->nnets; i++)
        if (pf_client_add_local_net(p->c, o->nets[i]) != 0) {
            fprintf(stderr, "peerflow play: bad --local-net '%s' (a network: 10.1.0.0/16, 2001:db8::/32)\n",
                    pf_cli_esc(o->nets[i]));
            return 2;
        }
    return -1;
}

/* Phase 3: the torrent (a file, a magnet, or a .torrent by URL) with its
 * trackers, web seeds and peers.  Returns -1 to go on, else the exit code. */
static int play_torrent(play *p, play_opts *o, uv_loop_t *loop)
{
    pf_metainfo *fetched = NULL; /* a .torrent given by URL */
    if (strncmp(o->src, "http://", 7) == 0 || strncmp(o->src, "https://", 8) == 0) {
        if (fetch_torrent(o->src, &fetched) != 0) return 1;
    }
    int rc = fetched ? pf_client_add_metainfo(p->c, fetched, o->dir, 0, &p->t)
                     : pf_client_add(p->c, o->src, o->dir, 0, &p->t);
    if (rc != 0) {
        pf_metainfo_free(fetched); /* the client owns it only on success */
        fprintf(stderr, "peerflow play: %s: %s\n", pf_cli_esc(o->src),
                rc == PF_ERR_NOTFOUND ? "file not found"
                : rc == PF_ERR_PARSE  ? "not a valid .torrent file or magnet link"
                                      : pf_strerror(rc));
        return 1;
    }
    if (o->no_tracker) pf_client_torrent_clear_trackers(p->t);
    for (int i = 0; i < o->ntrackers; i++) pf_client_torrent_add_tracker(p->t, o->trackers[i]);
    if (o->token[0] && pf_client_torrent_set_tracker_token(p->t, o->token) != 0) return 1;
    if (pf_cli_tls_apply("play", &o->tls, p->t, loop) != 0) return 1;
    pf_cli_tls_warn("play", &o->tls, p->t);
    for (int i = 0; i < o->nwebseeds; i++)
        if (pf_client_torrent_add_webseed(p->t, o->webseeds[i], o->ws_cost[i]) != 0) {
            fprintf(stderr, "peerflow play: bad web seed URL '%s'\n", pf_cli_esc(o->webseeds[i]));
            return 2;
        }
    for (int i = 0; i < o->npeers; i++)
        if (pf_client_torrent_add_peer(p->t, o->peers[i]) != 0) {
            fprintf(stderr, "peerflow play: bad peer address '%s'\n", pf_cli_esc(o->peers[i]));
            return 2;
        }
    if (o->cache_size) pf_client_torrent_set_cache_limit(p->t, o->cache_size);
    pf_client_torrent_await_reader(p->t);
    return -1;
}

/* Phase 4: the local media server; the URLs once the files are known.
 * Returns -1 to go on, else the exit code. */
static int play_serve(play *p, const play_opts *o)
{
    int rc = pf_media_server_start(&p->ms, pf_client_loop(p->c), p->t, p->bind,
                                   (uint16_t)p->http_port);
    if (rc != 0) {
        fprintf(stderr, "peerflow play: cannot serve HTTP on %s port %ld: %s\n",
                p->bind ? pf_cli_esc(p->bind) : "127.0.0.1", p->http_port, pf_strerror(rc));
        p->ms = NULL;
        return rc == PF_ERR_INVAL ? 2 : 1;
    }
    pf_media_server_set_limits(p->ms, &o->lim);
    pf_media_server_set_pacing(p->ms, o->pace ? PF_MEDIA_PACE_AUTO : PF_MEDIA_PACE_OFF);
    rc = o->player_dir ? pf_media_server_set_player_dir(p->ms, o->player_dir) : 0;
    if (rc != 0) { /* play_parse checked it is a directory */
        fprintf(stderr, "peerflow play: --player-dir %s: %s\n", pf_cli_esc(o->player_dir),
                pf_strerror(rc));
        pf_media_server_stop(p->ms); /* as play_run's end does */
        p->ms = NULL;
        return 1;
    }
    fprintf(stderr, "peerflow play: serving %s on %s/\n", pf_cli_esc(pf_client_torrent_name(p->t)),
            pf_media_server_base_url(p->ms));
    if (pf_client_torrent_num_files(p->t) == 0)
        fprintf(stderr, "peerflow play: waiting for the torrent's metadata from peers\n");
    announce(p);
    return -1;
}

/* Phase 5: run until stopped (a signal, the player's exit, --exit-when-done). */
static int play_run(play *p)
{
    pf_client_run(p->c);
    if (p->ms) { /* the loop ended without PF_CLIENT_STOPPED */
        pf_media_server_stop(p->ms);
        p->ms = NULL;
    }
    write_stats(p);
    if (p->tty) pf_progress_clear();
    if (p->verbose) {
        pf_torrent_stats st;
        pf_client_torrent_stats(p->t, &st);
        fprintf(stderr, "peerflow play: downloaded %llu bytes (CDN %llu, peers %llu), uploaded %llu\n",
                (unsigned long long)st.downloaded, (unsigned long long)st.cdn_downloaded,
                (unsigned long long)st.peer_downloaded, (unsigned long long)st.uploaded);
    }
    return p->exit_code;
}

int pf_cmd_play(int argc, char **argv)
{
    static play p;
    static play_opts o;
    memset(&p, 0, sizeof p);
    memset(&o, 0, sizeof o);
    p.tty = isatty(2);
    int rc = play_parse(&p, &o, argc, argv);
    if (rc >= 0) return rc;
    cli_loop lp;
    if (cli_loop_init(&lp) != 0) {
        fprintf(stderr, "peerflow play: cannot create an event loop\n");
        return 1;
    }
    rc = play_client(&p, &o, &lp);
    if (rc < 0) rc = play_torrent(&p, &o, &lp.loop);
    if (rc < 0) rc = play_serve(&p, &o);
    if (rc < 0) rc = play_run(&p);
    pf_client_free(p.c);
    cli_loop_close(&lp);
    const char *trace_path = getenv("PF_TRACE");
    if (trace_path && *trace_path) trace_dump(trace_path);
    return rc;
}
