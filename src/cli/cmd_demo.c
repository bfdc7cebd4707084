/* peerflow demo: a streaming swarm on loopback.  It encodes a test video
 * with ffmpeg, serves it from a real nginx origin (the CDN, a BEP 19 web
 * seed), starts `peerflow tracker`, one `peerflow seed` and N viewers, each
 * a `peerflow play` (this same binary) watched by `ffmpeg -re` as a player
 * that reads at the video's native rate.  It shows every node's QoE and
 * where its bytes came from (CDN or peers) live, then prints a summary and
 * checks every viewer's cached copy against the source byte for byte.
 * Uploads are capped (a viewer at the video's bitrate, the seeder at twice
 * it) as home uplinks would be; loopback would otherwise hand every viewer
 * the whole file before its player asked for the first second.
 *
 * Every child runs in its own process group (so a Ctrl-C reaches only us
 * and we stop them in order) with PR_SET_PDEATHSIG (so none outlives us if
 * we are killed); all are stopped and reaped on every exit path, and the
 * work directory is removed unless --keep or a failure (its logs). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "cli/cli.h"
#include "cli/progress.h"
#include "peerflow/metainfo.h"

#define DEMO_MAX_VIEWERS 8
#define DEMO_STAGGER_S 2.0 /* between viewers' starts */
#define DEMO_PIECE_LEN (128u * 1024)
#define DEMO_STATS_MAX (64 * 1024)

typedef struct proc {
    pid_t pid;  /* 0 = not started */
    int exited; /* reaped */
    int status; /* waitpid status once exited */
    int stopped; /* we asked it to stop */
} proc;

/* What the demo shows of a --stats file. */
typedef struct node_stats {
    unsigned long long up, cdn, peer, total, have_bytes;
    int complete;
    int active;                  /* a reader is playing the file */
    double ttfb, ttp;            /* -1 = not measured */
    double stall_s, buffer_s;
    unsigned stalls;
} node_stats;

typedef struct viewer {
    proc play, player;
    char dir[512], stats[512], out[512], log[512], plog[512];
    char url[512];
    double started, player_started, player_ended;
    node_stats st;
    int copy_ok;
} viewer;

typedef struct demo {
    char dir[256];
    char self[4096], nginx[4096], ffmpeg[4096];
    char www[512], video[512], torrent[512], ngx_dir[512], ngx_log[512];
    proc encoder, ngx, tracker, seeder;
    viewer v[DEMO_MAX_VIEWERS];
    int nviewers, duration, keep, tty;
    int ngx_port;
    uint64_t size;
    uint64_t up_rate;                  /* each viewer's upload cap, bytes/s; 0 = none */
    int up_rate_set;                   /* --upload-rate given */
    char seed_rate[24], view_rate[24]; /* the caps as arguments ("0" = none) */
    unsigned long long ngx_bytes;      /* body bytes nginx logged as sent */
    node_stats seed;
    double t0;
    int drawn; /* lines of the live view on screen (TTY) */
    int cols;  /* the terminal's width, 0 = unknown */
} demo;

static volatile sig_atomic_t g_stop;
static void on_sig(int s) { g_stop = s; }

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL); /* a signal cuts it short: fine */
}

/* --- programs and processes ------------------------------------------------ */

/* name with a slash: that file; otherwise the first executable in $PATH. */
static int find_exe(const char *name, char *out, size_t len)
{
    if (strchr(name, '/')) {
        if (access(name, X_OK) != 0) return -1;
        return snprintf(out, len, "%s", name) < (int)len ? 0 : -1;
    }
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *end = strchr(path, ':');
        size_t n = end ? (size_t)(end - path) : strlen(path);
        if (n > 0 && snprintf(out, len, "%.*s/%s", (int)n, path, name) < (int)len &&
            access(out, X_OK) == 0)
            return 0;
        path += n + (end ? 1 : 0);
    }
    return -1;
}

/* Starts file argv... in its own process group with stdin from /dev/null,
 * stdout to out and stderr to err (the same file when equal). */
static int proc_start(proc *p, const char *file, char *const argv[], const char *out,
                      const char *err)
{
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(127); /* we died before the prctl */
        signal(SIGPIPE, SIG_DFL);
        int in = open("/dev/null", O_RDONLY);
        int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe = strcmp(out, err) == 0 ? fo : open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || fo < 0 || fe < 0) _exit(127);
        dup2(in, 0);
        dup2(fo, 1);
        dup2(fe, 2);
        if (in > 2) close(in);
        if (fo > 2) close(fo);
        if (fe > 2 && fe != fo) close(fe);
        execv(file, argv);
        _exit(127);
    }
    setpgid(pid, pid); /* also here: no window where kill(-pid) misses */
    p->pid = pid;
    p->exited = 0;
    p->status = 0;
    p->stopped = 0;
    return 0;
}

static int proc_running(const proc *p) { return p->pid > 0 && !p->exited; }

/* Reaps p if it has exited; returns 1 when it is (now or before) gone. */
static int proc_poll(proc *p)
{
    if (p->pid <= 0) return 0;
    if (p->exited) return 1;
    int st;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid || (r < 0 && errno == ECHILD)) {
        p->exited = 1;
        p->status = r == p->pid ? st : 0;
        return 1;
    }
    return 0;
}

static int proc_ok(const proc *p)
{
    return p->exited && WIFEXITED(p->status) && WEXITSTATUS(p->status) == 0;
}

static void proc_describe(const proc *p, char *out, size_t len)
{
    if (!p->pid)
        snprintf(out, len, "not started");
    else if (!p->exited)
        snprintf(out, len, "running");
    else if (p->stopped && !proc_ok(p))
        snprintf(out, len, "stopped");
    else if (WIFEXITED(p->status))
        snprintf(out, len, "exit %d", WEXITSTATUS(p->status));
    else if (WIFSIGNALED(p->status))
        snprintf(out, len, "signal %d", WTERMSIG(p->status));
    else
        snprintf(out, len, "status %d", p->status);
}

/* SIGTERM to every running group, then SIGKILL after grace seconds; reaps all. */
static void procs_stop(proc **ps, int n, double grace)
{
    for (int i = 0; i < n; i++) {
        if (!proc_running(ps[i])) continue;
        kill(-ps[i]->pid, SIGTERM);
        ps[i]->stopped = 1;
    }
    double end = mono() + grace;
    for (;;) {
        int alive = 0;
        for (int i = 0; i < n; i++)
            if (proc_running(ps[i]) && !proc_poll(ps[i])) alive = 1;
        if (!alive || mono() >= end) break;
        nap(0.02);
    }
    for (int i = 0; i < n; i++) {
        if (!proc_running(ps[i])) continue;
        kill(-ps[i]->pid, SIGKILL);
        int st;
        while (waitpid(ps[i]->pid, &st, 0) < 0 && errno == EINTR) {
        }
        ps[i]->exited = 1;
        ps[i]->status = st;
    }
}

static void stop_all(demo *d)
{
    proc *ps[2 * DEMO_MAX_VIEWERS + 4];
    int n = 0;
    for (int i = 0; i < d->nviewers; i++) ps[n++] = &d->v[i].player;
    for (int i = 0; i < d->nviewers; i++) ps[n++] = &d->v[i].play;
    ps[n++] = &d->seeder;
    ps[n++] = &d->tracker;
    ps[n++] = &d->ngx;
    ps[n++] = &d->encoder;
    procs_stop(ps, n, 3.0);
}

/* Waits for p to exit (up to timeout s, or a signal); 1 if it exited. */
static int proc_wait(proc *p, double timeout)
{
    double end = mono() + timeout;
    while (!proc_poll(p)) {
        if (g_stop || mono() >= end) return 0;
        nap(0.05);
    }
    return 1;
}

/* --- files ---------------------------------------------------------------- */

static size_t read_small(const char *path, char *buf, size_t len)
{
    buf[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, len - 1, f);
    fclose(f);
    buf[n] = 0;
    return n;
}

/* Waits until `log` has a line "listening on port N"; returns N or -1. */
static int wait_port(const char *log, const proc *p, double timeout)
{
    char buf[4096];
    double end = mono() + timeout;
    while (mono() < end && !g_stop && !p->exited) {
        read_small(log, buf, sizeof buf);
        const char *s = strstr(buf, "listening on port ");
        if (s) {
            long port = strtol(s + 18, NULL, 10);
            return port > 0 && port < 65536 ? (int)port : -1;
        }
        nap(0.05);
    }
    return -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return (flag == FTW_DP ? rmdir(path) : unlink(path)) == 0 || errno == ENOENT ? 0 : -1;
}

static int same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    static char ba[1 << 16], bb[1 << 16];
    while (same) {
        size_t na = fread(ba, 1, sizeof ba, fa), nb = fread(bb, 1, sizeof bb, fb);
        if (na != nb || memcmp(ba, bb, na) != 0) same = 0;
        if (na == 0 || na != nb) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

static unsigned long long json_u64(const char *doc, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = doc ? strstr(doc, k) : NULL;
    return p ? strtoull(p + strlen(k), NULL, 10) : 0;
}

/* A number, or dflt when absent or null. */
static double json_f(const char *doc, const char *key, double dflt)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = doc ? strstr(doc, k) : NULL;
    if (!p) return dflt;
    p += strlen(k);
    char *end;
    double v = strtod(p, &end);
    return end == p ? dflt : v;
}

/* A --stats file of `peerflow play` (the /stats.json document) or `seed`. */
static void read_node(const char *path, node_stats *s)
{
    static char buf[DEMO_STATS_MAX];
    memset(s, 0, sizeof *s);
    s->ttfb = s->ttp = -1;
    if (read_small(path, buf, sizeof buf) == 0) return;
    s->up = json_u64(buf, "uploaded");
    s->cdn = json_u64(buf, "cdn_downloaded");
    s->peer = json_u64(buf, "peer_downloaded");
    s->total = json_u64(buf, "total_length");
    s->have_bytes = json_u64(buf, "have_bytes");
    s->complete = strstr(buf, "\"complete\":true") != NULL;
    const char *files = strstr(buf, "\"files\":[{");
    if (files) { /* one file in the demo's torrent: the first entry */
        s->active = strstr(files, "\"active\":true") != NULL &&
                    strstr(files, "\"active\":true") < strstr(files, "\"bytes_served\":");
        s->ttfb = json_f(files, "ttfb_s", -1);
        s->ttp = json_f(files, "time_to_playable_s", -1);
        s->stalls = (unsigned)json_u64(files, "stalls");
        s->stall_s = json_f(files, "stall_s", 0);
        s->buffer_s = json_f(files, "buffer_s", 0);
    }
}

/* Body bytes nginx sent, from our access log format ("$body_bytes_sent ..."). */
static unsigned long long nginx_sent(const char *log)
{
    FILE *f = fopen(log, "r");
    if (!f) return 0;
    unsigned long long sum = 0;
    char line[1024];
    while (fgets(line, sizeof line, f)) sum += strtoull(line, NULL, 10);
    fclose(f);
    return sum;
}

/* --- setting up --------------------------------------------------------------- */

static int encode_video(demo *d)
{
    char dur[16], log[512];
    snprintf(dur, sizeof dur, "%d", d->duration);
    snprintf(log, sizeof log, "%s/encode.log", d->dir);
    char *argv[] = {d->ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                    "-t", dur, "-c:v", "libx264", "-preset", "ultrafast",
                    "-b:v", "2M", "-maxrate", "2M", "-bufsize", "2M", "-g", "50",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k",
                    "-movflags", "+faststart", "-f", "mp4", d->video, NULL};
    if (proc_start(&d->encoder, d->ffmpeg, argv, log, log) != 0) return -1;
    if (!proc_wait(&d->encoder, 60 + 2.0 * d->duration)) return -1;
    struct stat st;
    if (!proc_ok(&d->encoder) || stat(d->video, &st) != 0 || st.st_size == 0) {
        char buf[512];
        read_small(log, buf, sizeof buf);
        fprintf(stderr, "peerflow demo: ffmpeg could not encode the video: %s\n",
                buf[0] ? pf_cli_esc(buf) : "(no message)");
        return -1;
    }
    d->size = (uint64_t)st.st_size;
    return 0;
}

/* A TCP port free on 127.0.0.1 right now (racy: nginx's start is retried). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &al) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int port_accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static int write_nginx_conf(demo *d, const char *path, int port)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    /* A root master hands requests to workers of another user, who could
     * not read our 0700 work directory: keep ours. */
    if (geteuid() == 0) {
        struct passwd *pw = getpwuid(geteuid());
        struct group *gr = getgrgid(getegid());
        if (pw && gr) fprintf(f, "user %s %s;\n", pw->pw_name, gr->gr_name);
    }
    const char *t = d->ngx_dir;
    fprintf(f,
            "daemon off;\n"
            "master_process on;\n"
            "worker_processes 1;\n"
            "pid %s/nginx.pid;\n"
            "error_log %s/error.log warn;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            "    types { video/mp4 mp4; }\n"
            "    default_type application/octet-stream;\n"
            "    log_format pf '$body_bytes_sent $status \"$request\" \"$http_range\"';\n"
            "    access_log %s pf;\n"
            "    client_body_temp_path %s/tmp/body;\n"
            "    proxy_temp_path %s/tmp/proxy;\n"
            "    fastcgi_temp_path %s/tmp/fastcgi;\n"
            "    uwsgi_temp_path %s/tmp/uwsgi;\n"
            "    scgi_temp_path %s/tmp/scgi;\n"
            "    sendfile on;\n"
            "    keepalive_timeout 65;\n"
            "    keepalive_requests 10000;\n"
            "    server {\n"
            "        listen 127.0.0.1:%d;\n"
            "        server_name localhost;\n"
            "        root %s;\n"
            "    }\n"
            "}\n",
            t, t, d->ngx_log, t, t, t, t, t, port, d->www);
    return fclose(f);
}

static int start_nginx(demo *d)
{
    char conf[600], tmp[600], err[600], buf[1024];
    snprintf(d->ngx_dir, sizeof d->ngx_dir, "%s/nginx", d->dir);
    snprintf(tmp, sizeof tmp, "%s/tmp", d->ngx_dir);
    snprintf(conf, sizeof conf, "%s/nginx.conf", d->ngx_dir);
    snprintf(err, sizeof err, "%s/error.log", d->ngx_dir);
    snprintf(d->ngx_log, sizeof d->ngx_log, "%s/access.log", d->ngx_dir);
    char prefix[600];
    snprintf(prefix, sizeof prefix, "%s/", d->ngx_dir);
    if (mkdir(d->ngx_dir, 0755) != 0 || mkdir(tmp, 0755) != 0) return -1;
    for (int attempt = 0; attempt < 5 && !g_stop; attempt++) {
        int port = free_port();
        if (port <= 0 || write_nginx_conf(d, conf, port) != 0) return -1;
        char *argv[] = {d->nginx, "-p", prefix, "-e", err, "-c", conf, NULL};
        if (proc_start(&d->ngx, d->nginx, argv, err, err) != 0) return -1;
        double end = mono() + 5;
        while (mono() < end && !g_stop && !proc_poll(&d->ngx)) {
            if (port_accepts(port)) {
                d->ngx_port = port;
                return 0;
            }
            nap(0.05);
        }
        proc *ps[] = {&d->ngx};
        procs_stop(ps, 1, 2.0);
    }
    read_small(err, buf, sizeof buf);
    fprintf(stderr, "peerflow demo: nginx would not start: %s\n",
            buf[0] ? pf_cli_esc(buf) : "(no message)");
    return -1;
}

static int start_tracker(demo *d, char *url, size_t len)
{
    char log[512];
    snprintf(log, sizeof log, "%s/tracker.log", d->dir);
    char *argv[] = {d->self, "tracker", "-l", "0", "--bind", "127.0.0.1", NULL};
    if (proc_start(&d->tracker, d->self, argv, log, log) != 0) return -1;
    int port = wait_port(log, &d->tracker, 10);
    if (port < 0) {
        fprintf(stderr, "peerflow demo: the tracker did not start (see %s)\n", pf_cli_esc(log));
        return -1;
    }
    snprintf(url, len, "http://127.0.0.1:%d/announce", port);
    return 0;
}

static int make_torrent(demo *d, const char *tracker)
{
    char webseed[128];
    snprintf(webseed, sizeof webseed, "http://127.0.0.1:%d/video.mp4", d->ngx_port);
    const char *trs[] = {tracker}, *wss[] = {webseed};
    pf_create_opts co;
    pf_create_opts_default(&co);
    co.path = d->video;
    co.piece_length = DEMO_PIECE_LEN;
    co.trackers = trs;
    co.num_trackers = 1;
    co.webseeds = wss;
    co.num_webseeds = 1;
    co.created_by = "peerflow demo";
    uint8_t *tb = NULL;
    size_t tlen = 0;
    char err[256] = "";
    int rc = pf_metainfo_create(&co, &tb, &tlen, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "peerflow demo: cannot create the torrent: %s\n", pf_cli_esc(err));
    } else {
        FILE *f = fopen(d->torrent, "wb");
        rc = !f || fwrite(tb, 1, tlen, f) != tlen;
        if (f && fclose(f) != 0) rc = 1;
        if (rc) fprintf(stderr, "peerflow demo: cannot write %s\n", pf_cli_esc(d->torrent));
    }
    pf_free(tb);
    return rc ? -1 : 0;
}

static int start_seeder(demo *d)
{
    char log[512], stats[512];
    snprintf(log, sizeof log, "%s/seed.log", d->dir);
    snprintf(stats, sizeof stats, "%s/seed.json", d->dir);
    /* It serves the origin's own copy (www/video.mp4). */
    char *argv[] = {d->self, "seed", "-d", d->www, "-l", "0", "--bind", "127.0.0.1",
                    "--stats", stats, "--upload-rate", d->seed_rate, d->torrent, NULL};
    if (proc_start(&d->seeder, d->self, argv, log, log) != 0) return -1;
    if (wait_port(log, &d->seeder, 20) < 0) {
        fprintf(stderr, "peerflow demo: the seeder did not start (see %s)\n", pf_cli_esc(log));
        return -1;
    }
    return 0;
}

static int start_viewer(demo *d, int i)
{
    viewer *v = &d->v[i];
    if (mkdir(v->dir, 0755) != 0) return -1;
    char *argv[] = {d->self, "play", "-d", v->dir, "--http-port", "0", "--stats", v->stats,
                    "--upload-rate", d->view_rate, d->torrent, NULL};
    if (proc_start(&v->play, d->self, argv, v->out, v->log) != 0) return -1;
    v->started = mono();
    return 0;
}

/* Once the viewer has printed its URL: the player. */
static int start_player(demo *d, int i)
{
    viewer *v = &d->v[i];
    char buf[4096];
    read_small(v->out, buf, sizeof buf);
    for (char *line = buf; *line;) {
        char *nl = strchr(line, '\n');
        if (!nl) break; /* only whole lines */
        *nl = 0;
        if (strstr(line, "/files/0/") && strlen(line) < sizeof v->url) {
            snprintf(v->url, sizeof v->url, "%s", line);
            break;
        }
        line = nl + 1;
    }
    if (!v->url[0]) return 0;
    char *argv[] = {d->ffmpeg, "-nostdin", "-v", "error", "-re", "-i", v->url, "-f", "null", "-",
                    NULL};
    if (proc_start(&v->player, d->ffmpeg, argv, v->plog, v->plog) != 0) return -1;
    v->player_started = mono();
    if (!d->tty && i == 0) {
        char base[512];
        snprintf(base, sizeof base, "%s", v->url);
        char *s = strstr(base, "/files/");
        if (s) *s = 0;
        fprintf(stderr, "peerflow demo: open in a player: %s (or %s/playlist.m3u)\n",
                pf_cli_esc(v->url), pf_cli_esc(base));
    }
    return 0;
}

/* --- the live view ------------------------------------------------------------- */

static double pct(unsigned long long a, unsigned long long b)
{
    return b ? 100.0 * (double)a / (double)b : 0;
}

/* A time that is -1 until measured. */
static void fmt_secs(double s, char *out, size_t len)
{
    if (s >= 0)
        snprintf(out, len, "%.2fs", s);
    else
        snprintf(out, len, "-");
}

static void fmt_startup(const node_stats *s, char *out, size_t len)
{
    char a[16], b[16];
    fmt_secs(s->ttfb, a, sizeof a);
    fmt_secs(s->ttp, b, sizeof b);
    snprintf(out, len, "%s/%s", a, b);
}

/* Bytes in at most 6 columns ("880K", "15.6M"; binary units) for the tables. */
static void fmt_short(unsigned long long n, char *out, size_t len)
{
    if (n < 1024)
        snprintf(out, len, "%lluB", n);
    else if (n < 1024 * 1024)
        snprintf(out, len, "%.0fK", (double)n / 1024);
    else if (n < 1024ull * 1024 * 1024)
        snprintf(out, len, "%.1fM", (double)n / (1024 * 1024));
    else
        snprintf(out, len, "%.2fG", (double)n / (1024.0 * 1024 * 1024));
}

static void fmt_player(const demo *d, const viewer *v, char *out, size_t len)
{
    double start_at = d->t0 + DEMO_STAGGER_S * (double)(v - d->v);
    if (!v->play.pid)
        snprintf(out, len, "wait %.0fs", start_at - mono() + 0.5);
    else if (v->play.exited && !v->player.exited)
        snprintf(out, len, "play died");
    else if (!v->player.pid)
        snprintf(out, len, "starting");
    else if (!v->player.exited)
        snprintf(out, len, "play %.0fs", mono() - v->player_started);
    else if (proc_ok(&v->player))
        snprintf(out, len, "done %.0fs", v->player_ended - v->player_started);
    else
        snprintf(out, len, "FAILED");
}

static void totals(const demo *d, unsigned long long *cdn, unsigned long long *peer,
                   unsigned long long *up)
{
    *cdn = *peer = *up = 0;
    for (int i = 0; i < d->nviewers; i++) {
        *cdn += d->v[i].st.cdn;
        *peer += d->v[i].st.peer;
        *up += d->v[i].st.up;
    }
}

static void refresh(demo *d)
{
    char path[600];
    snprintf(path, sizeof path, "%s/seed.json", d->dir);
    read_node(path, &d->seed);
    for (int i = 0; i < d->nviewers; i++)
        if (d->v[i].play.pid) read_node(d->v[i].stats, &d->v[i].st);
    d->ngx_bytes = nginx_sent(d->ngx_log);
}

/* One line of the live view, replacing the old one and cut to the
 * terminal's width (a wrapped line would break the redraw). */
static void view_line(demo *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void view_line(demo *d, const char *fmt, ...)
{
    char raw[512], line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    if (n < 0) raw[0] = 0;
    /* A viewer's URL and the like come from other processes' output. */
    pf_escape_text(raw, line, sizeof line);
    size_t len = strlen(line);
    if (d->cols > 1 && len > (size_t)d->cols - 1) len = (size_t)d->cols - 1;
    fputs("\033[K", stderr);
    fwrite(line, 1, len, stderr);
    fputc('\n', stderr);
    d->drawn++;
}

/* A message between redraws: the view so far stays above it. */
static void note(demo *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(demo *d, const char *fmt, ...)
{
    char raw[2048];
    va_list ap;
    va_start(ap, fmt);
    if (vsnprintf(raw, sizeof raw, fmt, ap) < 0) raw[0] = 0;
    va_end(ap);
    /* Notes quote logs, paths and URLs: escaped as a whole. */
    fprintf(stderr, "peerflow demo: %s\n", pf_cli_esc(raw));
    d->drawn = 0;
}

/* Fits 80 columns. */
#define ROW " %-8s %-9s %4s %-12s %5s %-8s %6s %6s %4s %6s"

static void draw_table(demo *d)
{
    char a[32], b[32], c[32], e[32], have[16], start[40], pl[40];
    struct winsize ws;
    d->cols = ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 0;
    if (d->drawn) fprintf(stderr, "\033[%dA\r", d->drawn);
    d->drawn = 0;
    const viewer *v1 = &d->v[0];
    if (v1->url[0]) {
        char base[512];
        snprintf(base, sizeof base, "%s", v1->url);
        char *s = strstr(base, "/files/");
        if (s) *s = 0;
        view_line(d, " open in a player: %s", v1->url);
        view_line(d, "         playlist: %s/playlist.m3u", base);
    } else {
        view_line(d, " open in a player: (viewer 1's URL, once it starts)");
        view_line(d, " ");
    }
    view_line(d, " t = %.0f s of about %.0f s", mono() - d->t0,
              d->duration + DEMO_STAGGER_S * (d->nviewers - 1));
    view_line(d, ROW, "node", "player", "have", "ttfb/10s-buf", "buf", "stalls", "CDN", "P2P",
              "CDN%", "upload");
    fmt_short(d->ngx_bytes, a, sizeof a);
    view_line(d, ROW, "origin", "nginx", "100%", "", "", "", "", "", "", a);
    fmt_short(d->seed.up, a, sizeof a);
    view_line(d, ROW, "seeder", "", "100%", "", "", "", "", "", "", a);
    for (int i = 0; i < d->nviewers; i++) {
        viewer *v = &d->v[i];
        node_stats *s = &v->st;
        char name[16], stalls[24], buf_s[16];
        snprintf(name, sizeof name, "viewer %d", i + 1);
        fmt_player(d, v, pl, sizeof pl);
        if (!v->play.pid) {
            view_line(d, ROW, name, pl, "", "", "", "", "", "", "", "");
            continue;
        }
        fmt_startup(s, start, sizeof start);
        fmt_short(s->cdn, a, sizeof a);
        fmt_short(s->peer, b, sizeof b);
        fmt_short(s->up, c, sizeof c);
        snprintf(have, sizeof have, "%.0f%%", pct(s->have_bytes, s->total));
        snprintf(stalls, sizeof stalls, "%u/%.1fs", s->stalls, s->stall_s);
        if (s->active)
            snprintf(buf_s, sizeof buf_s, "%.1fs", s->buffer_s > 0 ? s->buffer_s : 0.0);
        else
            snprintf(buf_s, sizeof buf_s, "-");
        snprintf(e, sizeof e, "%.0f%%", pct(s->cdn, s->cdn + s->peer));
        view_line(d, ROW, name, pl, have, start, buf_s, stalls, a, b, e, c);
    }
    unsigned long long cdn, peer, up;
    totals(d, &cdn, &peer, &up);
    pf_fmt_bytes((double)cdn, a, sizeof a);
    pf_fmt_bytes((double)d->size * d->nviewers, b, sizeof b);
    view_line(d, " ");
    view_line(d, " CDN sent %s; a CDN-only service would have sent %s (%.0f%%).", a, b,
              pct(cdn, d->size * (uint64_t)d->nviewers));
    pf_fmt_bytes((double)peer, a, sizeof a);
    view_line(d, " The swarm carried %s: %.0f%% of the viewers' bytes.", a, pct(peer, cdn + peer));
    fputs("\033[J", stderr);
    fflush(stderr);
}

/* Without a TTY: one plain line. */
static void draw_line(demo *d)
{
    char a[32], b[32];
    fprintf(stderr, "peerflow demo: t=%.0fs", mono() - d->t0);
    for (int i = 0; i < d->nviewers; i++) {
        viewer *v = &d->v[i];
        char pl[40];
        fmt_player(d, v, pl, sizeof pl);
        if (!v->play.pid) {
            fprintf(stderr, " | v%d %s", i + 1, pl);
            continue;
        }
        char buf_s[16] = "-";
        if (v->st.active)
            snprintf(buf_s, sizeof buf_s, "%.1fs", v->st.buffer_s > 0 ? v->st.buffer_s : 0.0);
        fprintf(stderr, " | v%d %s %.0f%% buf %s stalls %u CDN %.0f%%", i + 1, pl,
                pct(v->st.have_bytes, v->st.total), buf_s, v->st.stalls,
                pct(v->st.cdn, v->st.cdn + v->st.peer));
    }
    unsigned long long cdn, peer, up;
    totals(d, &cdn, &peer, &up);
    pf_fmt_bytes((double)cdn, a, sizeof a);
    pf_fmt_bytes((double)d->size * d->nviewers, b, sizeof b);
    fprintf(stderr, " | CDN %s of %s CDN-only, swarm %.0f%%\n", a, b, pct(peer, cdn + peer));
    fflush(stderr);
}

/* --- the summary ---------------------------------------------------------------- */

#define SUM_ROW " %-8s %-8s %-7s %6s %7s %-8s %6s %6s %4s %6s\n"

static void summary(demo *d, int verified)
{
    char a[32], b[32], c[32], st[48], ttfb[16], ready[16], stalls[24], share[8];
    pf_fmt_bytes((double)d->size, a, sizeof a);
    printf("\npeerflow demo: summary: %d viewer%s of a %d s video (%s)\n", d->nviewers,
           d->nviewers == 1 ? "" : "s", d->duration, a);
    printf(SUM_ROW, "node", "player", "copy", "ttfb", "10s-buf", "stalls", "CDN", "P2P", "CDN%",
           "upload");
    for (int i = 0; i < d->nviewers; i++) {
        viewer *v = &d->v[i];
        node_stats *s = &v->st;
        char name[16];
        snprintf(name, sizeof name, "viewer %d", i + 1);
        proc_describe(&v->player, st, sizeof st);
        fmt_secs(s->ttfb, ttfb, sizeof ttfb);
        fmt_secs(s->ttp, ready, sizeof ready);
        snprintf(stalls, sizeof stalls, "%u/%.1fs", s->stalls, s->stall_s);
        snprintf(share, sizeof share, "%.0f%%", pct(s->cdn, s->cdn + s->peer));
        fmt_short(s->cdn, a, sizeof a);
        fmt_short(s->peer, b, sizeof b);
        fmt_short(s->up, c, sizeof c);
        printf(SUM_ROW, name, st, !verified ? "-" : v->copy_ok ? "matches" : "DIFFERS", ttfb, ready,
               stalls, a, b, share, c);
    }
    unsigned long long cdn, peer, up;
    totals(d, &cdn, &peer, &up);
    pf_fmt_bytes((double)cdn, a, sizeof a);
    pf_fmt_bytes((double)d->size * d->nviewers, b, sizeof b);
    pf_fmt_bytes((double)d->ngx_bytes, c, sizeof c);
    printf(" CDN:   %s (nginx's log: %s); CDN-only would have been %s: %.0f%%\n", a, c, b,
           pct(cdn, d->size * (uint64_t)d->nviewers));
    pf_fmt_bytes((double)peer, a, sizeof a);
    pf_fmt_bytes((double)d->seed.up, b, sizeof b);
    pf_fmt_bytes((double)up, c, sizeof c);
    printf(" swarm: %s, %.0f%% of the viewers' bytes (seeder %s, viewers %s)\n", a,
           pct(peer, cdn + peer), b, c);
    fflush(stdout);
}

/* --- running it -------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: peerflow demo [--viewers N] [--duration S] [--upload-rate R] [--keep]\n\n"
            "Streams a test video on 127.0.0.1: ffmpeg encodes an S-second clip\n"
            "(default 60), nginx serves it as the CDN (a web seed), and a tracker, one\n"
            "seeder and N viewers (default 3, at most %d) run as separate processes.\n"
            "Each viewer is `peerflow play`, watched by `ffmpeg -re` as a player,\n"
            "started %.0f s apart.  Shows each node's start-up time, buffer, stalls and\n"
            "CDN vs P2P bytes live, then a summary, and checks every viewer's copy\n"
            "byte for byte.  Exits 0 when every player succeeded and every copy matches.\n"
            "Needs nginx (/usr/sbin/nginx) and ffmpeg: bash scripts/install-deps.sh.\n\n"
            "options:\n"
            "  -n, --viewers N    viewers (1..%d, default 3)\n"
            "  -t, --duration S   video length in seconds (10..600, default 60)\n"
            "  -u, --upload-rate R  cap each viewer's upload at R bytes/s (K/M/G suffixes;\n"
            "                     the seeder's at 2R; 0 = no cap; default: the video's\n"
            "                     bitrate, a home uplink rather than loopback's)\n"
            "  -k, --keep         keep the work directory (logs, stats, copies)\n"
            "  -h, --help         this help\n",
            DEMO_MAX_VIEWERS, DEMO_STAGGER_S, DEMO_MAX_VIEWERS);
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* The viewers' life: start them in turn, their players once their URLs are
 * out, until every player has exited.  0, or -1 on a failure or a signal. */
static int run(demo *d)
{
    double last_line = 0;
    int failed = 0;
    d->t0 = mono();
    for (;;) {
        double now = mono();
        int players_left = 0;
        for (int i = 0; i < d->nviewers && !failed; i++) {
            viewer *v = &d->v[i];
            if (!v->play.pid) {
                if (now >= d->t0 + DEMO_STAGGER_S * i && start_viewer(d, i) != 0) {
                    note(d, "cannot start viewer %d", i + 1);
                    failed = 1;
                }
                players_left = 1;
                continue;
            }
            if (proc_poll(&v->play) && !v->player.exited) {
                note(d, "viewer %d's peerflow play exited early (see %s)", i + 1, v->log);
                failed = 1;
                break;
            }
            if (!v->player.pid) {
                players_left = 1;
                if (start_player(d, i) != 0) {
                    note(d, "cannot start ffmpeg for viewer %d", i + 1);
                    failed = 1;
                } else if (!v->player.pid && now - v->started > 30) {
                    note(d, "viewer %d printed no URL in 30 s (see %s)", i + 1, v->log);
                    failed = 1;
                }
                continue;
            }
            if (!v->player.exited) {
                if (proc_poll(&v->player)) {
                    v->player_ended = mono();
                } else if (now - v->player_started > d->duration + 60.0) {
                    note(d, "viewer %d's player is %.0f s late; stopping", i + 1,
                         now - v->player_started - d->duration);
                    failed = 1;
                } else {
                    players_left = 1;
                }
            }
        }
        refresh(d);
        if (d->tty) {
            draw_table(d);
        } else if (now - last_line >= 5 || !players_left || failed || g_stop) {
            draw_line(d);
            last_line = now;
        }
        if (failed || g_stop) return -1;
        if (!players_left) return 0;
        nap(0.25);
    }
}

/* Phase 1: the command line.  Returns -1 to go on, else the exit code. */
static int demo_parse(demo *d, int argc, char **argv)
{
    long viewers = 3, duration = 60;
    static const struct option opts[] = {
        {"viewers", 1, 0, 'n'}, {"duration", 1, 0, 't'}, {"upload-rate", 1, 0, 'u'},
        {"keep", 0, 0, 'k'},    {"help", 0, 0, 'h'},     {0, 0, 0, 0}};
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "n:t:u:kh", opts, NULL)) != -1) {
        if (ch == 'n') {
            if (parse_int(optarg, 1, DEMO_MAX_VIEWERS, &viewers) != 0) {
                fprintf(stderr, "peerflow demo: --viewers takes 1..%d\n", DEMO_MAX_VIEWERS);
                return 2;
            }
        } else if (ch == 't') {
            if (parse_int(optarg, 10, 600, &duration) != 0) {
                fprintf(stderr, "peerflow demo: --duration takes 10..600 (seconds)\n");
                return 2;
            }
        } else if (ch == 'u') {
            if (pf_parse_size(optarg, &d->up_rate) != 0) {
                fprintf(stderr, "peerflow demo: bad --upload-rate '%s' (bytes/s, K/M/G suffixes)\n",
                        pf_cli_esc(optarg));
                return 2;
            }
            d->up_rate_set = 1;
        } else if (ch == 'k') {
            d->keep = 1;
        } else if (ch == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "peerflow demo: unexpected argument '%s'\n", pf_cli_esc(argv[optind]));
        usage(stderr);
        return 2;
    }
    d->nviewers = (int)viewers;
    d->duration = (int)duration;
    const char *term = getenv("TERM");
    d->tty = isatty(2) && !(term && strcmp(term, "dumb") == 0);
    return -1;
}

/* Phase 2: this binary, nginx and ffmpeg.  0, or -1 (said why). */
static int demo_find_programs(demo *d)
{
    ssize_t sl = readlink("/proc/self/exe", d->self, sizeof d->self - 1);
    if (sl <= 0) {
        fprintf(stderr, "peerflow demo: cannot find own executable\n");
        return -1;
    }
    d->self[sl] = 0;
    int missing = 0;
    if (find_exe("/usr/sbin/nginx", d->nginx, sizeof d->nginx) != 0 &&
        find_exe("nginx", d->nginx, sizeof d->nginx) != 0) {
        fprintf(stderr, "peerflow demo: nginx not found (/usr/sbin/nginx or in PATH); it is the "
                        "demo's CDN origin\n");
        missing = 1;
    }
    if (find_exe("ffmpeg", d->ffmpeg, sizeof d->ffmpeg) != 0) {
        fprintf(stderr, "peerflow demo: ffmpeg not found in PATH; it makes the video and plays "
                        "it\n");
        missing = 1;
    }
    if (missing) {
        fprintf(stderr, "peerflow demo: install what is missing with: bash scripts/install-deps.sh "
                        "(Debian packages nginx-light and ffmpeg)\n");
        return -1;
    }
    return 0;
}

/* Phase 3: signals (a Ctrl-C reaches only us; we stop the children in
 * order) and the work directory with its paths.  0 or -1. */
static int demo_prepare(demo *d)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sig;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    const char *base = getenv("TMPDIR");
    snprintf(d->dir, sizeof d->dir, "%s/peerflow-demo-XXXXXX",
             base && base[0] == '/' && strlen(base) < 150 ? base : "/tmp");
    if (!mkdtemp(d->dir)) {
        fprintf(stderr, "peerflow demo: mkdtemp: %s\n", strerror(errno));
        return -1;
    }
    snprintf(d->www, sizeof d->www, "%s/www", d->dir);
    snprintf(d->video, sizeof d->video, "%s/video.mp4", d->www);
    snprintf(d->torrent, sizeof d->torrent, "%s/video.torrent", d->dir);
    for (int i = 0; i < d->nviewers; i++) {
        viewer *v = &d->v[i];
        snprintf(v->dir, sizeof v->dir, "%s/viewer%d", d->dir, i + 1);
        snprintf(v->stats, sizeof v->stats, "%s/viewer%d.json", d->dir, i + 1);
        snprintf(v->out, sizeof v->out, "%s/viewer%d.urls", d->dir, i + 1);
        snprintf(v->log, sizeof v->log, "%s/viewer%d.log", d->dir, i + 1);
        snprintf(v->plog, sizeof v->plog, "%s/player%d.log", d->dir, i + 1);
    }
    return 0;
}

/* Phase 4: the video, the CDN, the tracker, the torrent, the seeder.  0,
 * or -1 (said why). */
static int demo_start_origin(demo *d)
{
    char tracker[128], sz[32];
    fprintf(stderr, "peerflow demo: working in %s\n", pf_cli_esc(d->dir));
    fprintf(stderr, "peerflow demo: ffmpeg encodes a %d s 640x360 H.264/AAC test video...\n",
            d->duration);
    if (mkdir(d->www, 0755) != 0 || encode_video(d) != 0) return -1;
    /* Loopback is a fast uplink; a viewer's home uplink is not.  Cap each
     * viewer's upload at the video's bitrate and the seeder's at twice it, so
     * the swarm cannot hand out the whole file in the first second and the
     * CDN has the start-ups and the urgent pieces to cover. */
    if (!d->up_rate_set) d->up_rate = d->size / (uint64_t)d->duration;
    snprintf(d->view_rate, sizeof d->view_rate, "%llu", (unsigned long long)d->up_rate);
    snprintf(d->seed_rate, sizeof d->seed_rate, "%llu", (unsigned long long)d->up_rate * 2);
    if (start_nginx(d) != 0) return -1;
    if (start_tracker(d, tracker, sizeof tracker) != 0) return -1;
    if (make_torrent(d, tracker) != 0 || start_seeder(d) != 0) return -1;
    pf_fmt_bytes((double)d->size, sz, sizeof sz);
    fprintf(stderr, "peerflow demo: CDN (nginx): http://127.0.0.1:%d/video.mp4 (%s)\n",
            d->ngx_port, sz);
    fprintf(stderr, "peerflow demo: tracker %s, one seeder\n", tracker);
    char cap[40] = "none", scap[40] = "none", r[32];
    if (d->up_rate) {
        pf_fmt_bytes((double)d->up_rate, r, sizeof r);
        snprintf(cap, sizeof cap, "%s/s", r);
        pf_fmt_bytes((double)d->up_rate * 2, r, sizeof r);
        snprintf(scap, sizeof scap, "%s/s", r);
    }
    fprintf(stderr, "peerflow demo: upload caps: each viewer %s, the seeder %s\n", cap, scap);
    fprintf(stderr,
            "peerflow demo: %d viewer%s %.0f s apart, each peerflow play + ffmpeg -re as the "
            "player\npeerflow demo: Ctrl-C stops\n\n",
            d->nviewers, d->nviewers == 1 ? "" : "s", DEMO_STAGGER_S);
    return 0;
}

/* Phase 6: every player has read the whole file; the viewers stop (their
 * last stats are written at exit) and every copy is compared with the
 * source.  Returns the exit code. */
static int demo_verify(demo *d)
{
    /* Every piece has been fetched; give the last ones a moment to reach
     * the disk. */
    for (double end = mono() + 10; mono() < end && !g_stop;) {
        int all = 1;
        for (int i = 0; i < d->nviewers; i++) {
            read_node(d->v[i].stats, &d->v[i].st);
            if (!d->v[i].st.complete) all = 0;
        }
        if (all) break;
        nap(0.1);
    }
    proc *ps[DEMO_MAX_VIEWERS];
    for (int i = 0; i < d->nviewers; i++) ps[i] = &d->v[i].play;
    procs_stop(ps, d->nviewers, 5.0);
    refresh(d);
    if (d->tty) draw_table(d);
    int rc = 0;
    for (int i = 0; i < d->nviewers; i++) {
        viewer *v = &d->v[i];
        char copy[600];
        snprintf(copy, sizeof copy, "%s/video.mp4", v->dir);
        v->copy_ok = same_file(d->video, copy);
        if (!proc_ok(&v->player)) {
            char buf[512], st[48];
            read_small(v->plog, buf, sizeof buf);
            proc_describe(&v->player, st, sizeof st);
            buf[strcspn(buf, "\n")] = 0;
            note(d, "viewer %d's player failed (%s): %s", i + 1, st, buf[0] ? buf : "no message");
            rc = 1;
        }
        if (!v->copy_ok) {
            note(d, "viewer %d's copy differs from the source!", i + 1);
            rc = 1;
        }
    }
    return rc;
}

/* Phase 7: everything stopped and reaped, the summary, the work directory
 * removed (kept with --keep or after a failure). */
static void demo_finish(demo *d, int rc, int ran, int verified)
{
    if (g_stop && !ran) note(d, "interrupted");
    stop_all(d); /* the viewers write their last stats as they exit */
    if (ran) {
        refresh(d);
        summary(d, verified);
        if (rc == 0)
            printf("peerflow demo: PASS: every player played to the end, every copy matches\n");
        else
            printf("peerflow demo: FAIL%s\n", g_stop ? " (interrupted)" : "");
        fflush(stdout);
    }
    if (rc != 0 && !g_stop) d->keep = 1; /* its logs tell what went wrong */
    if (!d->keep) {
        if (nftw(d->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
            fprintf(stderr, "peerflow demo: could not remove %s\n", pf_cli_esc(d->dir));
    } else {
        fprintf(stderr, "peerflow demo: kept %s\n", pf_cli_esc(d->dir));
    }
}

int pf_cmd_demo(int argc, char **argv)
{
    static demo d; /* large; one demo per process */
    memset(&d, 0, sizeof d);
    int rc = demo_parse(&d, argc, argv);
    if (rc >= 0) return rc;
    if (demo_find_programs(&d) != 0 || demo_prepare(&d) != 0) return 1;
    int ran = 0, verified = 0;
    rc = 1;
    if (demo_start_origin(&d) == 0) {
        ran = 1;
        if (run(&d) != 0) { /* phase 5: the viewers and their players */
            if (g_stop) note(&d, "interrupted");
        } else {
            rc = demo_verify(&d);
            verified = 1;
        }
    }
    demo_finish(&d, rc, ran, verified);
    return rc;
}
