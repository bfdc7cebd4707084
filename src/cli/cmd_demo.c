/* peerflow demo: a self-contained swarm on loopback.  It generates a file,
 * starts `peerflow tracker`, one `peerflow seed` and N `peerflow get`
 * processes (this same binary), shows their live progress from their
 * --stats files, and checks every copy against the source. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/progress.h"
#include "core/buf.h"
#include "net/create.h"

#define DEMO_MAX_PEERS 16

typedef struct demo {
    char dir[256];
    char self[4096];
    pid_t tracker, seeder, getters[DEMO_MAX_PEERS];
    int npeers;
    int keep;
    int tty;
} demo;

static volatile sig_atomic_t g_stop;
static void on_sig(int s) { (void)s; g_stop = 1; }

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Deterministic pseudo-random content (xorshift), written in 1 MiB chunks. */
static int gen_file(const char *path, uint64_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    uint64_t s = 0x243f6a8885a308d3ULL;
    static uint64_t chunk[1 << 17];
    for (uint64_t done = 0; done < size;) {
        for (size_t i = 0; i < sizeof chunk / 8; i++) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            chunk[i] = s;
        }
        size_t n = size - done < sizeof chunk ? (size_t)(size - done) : sizeof chunk;
        if (fwrite(chunk, 1, n, f) != n) {
            fclose(f);
            return -1;
        }
        done += n;
    }
    return fclose(f);
}

/* Starts `self argv...` with stderr to logfile; returns its pid. */
static pid_t spawn(demo *d, const char *log, char *const argv[])
{
    pid_t pid = fork();
    if (pid != 0) return pid;
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    execv(d->self, argv);
    _exit(127);
}

/* Waits until `log` contains "listening on port N"; returns N or -1. */
static int wait_port(const char *log, double timeout)
{
    double end = mono() + timeout;
    while (mono() < end && !g_stop) {
        FILE *f = fopen(log, "r");
        if (f) {
            char line[256];
            int port = -1;
            while (fgets(line, sizeof line, f))
                if (sscanf(line, "listening on port %d", &port) == 1) break;
            fclose(f);
            if (port > 0) return port;
        }
        usleep(50 * 1000);
    }
    return -1;
}

typedef struct stats {
    unsigned long long up, down;
    unsigned have, pieces, peers;
    double down_rate, up_rate;
    int complete;
} stats;

static int read_stats(const char *path, stats *s)
{
    memset(s, 0, sizeof *s);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p;
    if ((p = strstr(buf, "\"uploaded\":"))) s->up = strtoull(p + 11, NULL, 10);
    if ((p = strstr(buf, "\"downloaded\":"))) s->down = strtoull(p + 13, NULL, 10);
    if ((p = strstr(buf, "\"have\":"))) s->have = (unsigned)strtoul(p + 7, NULL, 10);
    if ((p = strstr(buf, "\"pieces\":"))) s->pieces = (unsigned)strtoul(p + 9, NULL, 10);
    if ((p = strstr(buf, "\"peers\":"))) s->peers = (unsigned)strtoul(p + 8, NULL, 10);
    if ((p = strstr(buf, "\"down_rate\":"))) s->down_rate = strtod(p + 12, NULL);
    if ((p = strstr(buf, "\"up_rate\":"))) s->up_rate = strtod(p + 10, NULL);
    s->complete = strstr(buf, "\"complete\":true") != NULL;
    return 0;
}

static void draw(demo *d, int first, double t0, uint64_t size)
{
    char path[512], a[32], b[32], c[32];
    stats st;
    if (d->tty && !first) fprintf(stderr, "\033[%dA", d->npeers + 3);
    fprintf(stderr, "%s  t=%5.1fs   node        progress     down/s       up/s   uploaded  peers\n",
            d->tty ? "\033[K" : "", mono() - t0);
    for (int i = -1; i < d->npeers; i++) {
        if (i < 0)
            snprintf(path, sizeof path, "%s/seed.json", d->dir);
        else
            snprintf(path, sizeof path, "%s/get%d.json", d->dir, i);
        read_stats(path, &st);
        double pct = st.pieces ? 100.0 * st.have / st.pieces : 0;
        pf_fmt_bytes(st.down_rate, a, sizeof a);
        pf_fmt_bytes(st.up_rate, b, sizeof b);
        pf_fmt_bytes((double)st.up, c, sizeof c);
        char name[16];
        if (i < 0)
            snprintf(name, sizeof name, "seeder");
        else
            snprintf(name, sizeof name, "viewer %d", i + 1);
        fprintf(stderr, "%s  %-10s %6.1f%% %s %11s %10s %10s %6u\n", d->tty ? "\033[K" : "", name,
                pct, st.complete ? "done" : "    ", a, b, c, st.peers);
    }
    (void)size;
    fprintf(stderr, "%s\n", d->tty ? "\033[K" : "");
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

static void stop_all(demo *d)
{
    pid_t all[DEMO_MAX_PEERS + 2];
    int n = 0;
    for (int i = 0; i < d->npeers; i++) all[n++] = d->getters[i];
    all[n++] = d->seeder;
    all[n++] = d->tracker;
    for (int i = 0; i < n; i++)
        if (all[i] > 0) kill(all[i], SIGTERM);
    for (int i = 0; i < n; i++)
        if (all[i] > 0) waitpid(all[i], NULL, 0);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: peerflow demo [--viewers N] [--size MIB] [--keep]\n\n"
               "Runs a tracker, a seeder and N downloaders (default 4) of a generated\n"
               "file (default 64 MiB) on 127.0.0.1, shows live progress and checks\n"
               "every copy byte for byte. --keep leaves the work directory.\n");
}

int pf_cmd_demo(int argc, char **argv)
{
    demo d;
    memset(&d, 0, sizeof d);
    long viewers = 4, mib = 64;
    static const struct option opts[] = {{"viewers", 1, 0, 'n'}, {"size", 1, 0, 's'},
                                         {"keep", 0, 0, 'k'},    {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "n:s:kh", opts, NULL)) != -1) {
        if (ch == 'n') viewers = strtol(optarg, NULL, 10);
        else if (ch == 's') mib = strtol(optarg, NULL, 10);
        else if (ch == 'k') d.keep = 1;
        else if (ch == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (viewers < 1 || viewers > DEMO_MAX_PEERS || mib < 1 || mib > 4096) {
        fprintf(stderr, "peerflow demo: --viewers 1..%d, --size 1..4096\n", DEMO_MAX_PEERS);
        return 2;
    }
    d.npeers = (int)viewers;
    d.tty = isatty(2);
    ssize_t sl = readlink("/proc/self/exe", d.self, sizeof d.self - 1);
    if (sl <= 0) {
        fprintf(stderr, "peerflow demo: cannot find own executable\n");
        return 1;
    }
    d.self[sl] = 0;
    snprintf(d.dir, sizeof d.dir, "/tmp/peerflow-demo-XXXXXX");
    if (!mkdtemp(d.dir)) {
        fprintf(stderr, "peerflow demo: mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    signal(SIGINT, on_sig);
    signal(SIGTERM, on_sig);
    char path[512], log[512], tor[512], seeddir[512], url[128], port_s[16];
    uint64_t size = (uint64_t)mib << 20;
    int rc = 1;
    fprintf(stderr, "peerflow demo: working in %s\n", d.dir);
    snprintf(seeddir, sizeof seeddir, "%s/seed", d.dir);
    mkdir(seeddir, 0755);
    snprintf(path, sizeof path, "%s/demo.bin", seeddir);
    if (gen_file(path, size) != 0) {
        fprintf(stderr, "peerflow demo: cannot write %s\n", path);
        goto out;
    }
    /* Tracker. */
    snprintf(log, sizeof log, "%s/tracker.log", d.dir);
    char *targv[] = {d.self, "tracker", "-l", "0", "--bind", "127.0.0.1", NULL};
    d.tracker = spawn(&d, log, targv);
    int tport = wait_port(log, 10);
    if (tport < 0) {
        fprintf(stderr, "peerflow demo: tracker did not start (see %s)\n", log);
        goto out;
    }
    snprintf(url, sizeof url, "http://127.0.0.1:%d/announce", tport);
    fprintf(stderr, "peerflow demo: tracker at %s\n", url);
    /* Torrent. */
    const char *trs[] = {url};
    pf_create_opts co;
    memset(&co, 0, sizeof co);
    co.path = path;
    co.trackers = trs;
    co.num_trackers = 1;
    co.created_by = "peerflow demo";
    pf_buf tb;
    pf_buf_init(&tb);
    char err[256] = "";
    if (pf_torrent_create(&co, &tb, err, sizeof err) != 0) {
        fprintf(stderr, "peerflow demo: create: %s\n", err);
        pf_buf_free(&tb);
        goto out;
    }
    snprintf(tor, sizeof tor, "%s/demo.torrent", d.dir);
    FILE *tf = fopen(tor, "wb");
    if (!tf || fwrite(tb.data, 1, tb.len, tf) != tb.len) {
        if (tf) fclose(tf);
        pf_buf_free(&tb);
        goto out;
    }
    fclose(tf);
    pf_buf_free(&tb);
    /* Seeder, then viewers. */
    snprintf(log, sizeof log, "%s/seed.log", d.dir);
    snprintf(path, sizeof path, "%s/seed.json", d.dir);
    char *sargv[] = {d.self, "seed", "-d", seeddir, "-l", "0", "--bind", "127.0.0.1",
                     "--stats", path, tor, NULL};
    d.seeder = spawn(&d, log, sargv);
    if (wait_port(log, 10) < 0) goto out;
    double t0 = mono();
    for (int i = 0; i < d.npeers; i++) {
        char gdir[512], gstats[512];
        snprintf(gdir, sizeof gdir, "%s/viewer%d", d.dir, i + 1);
        mkdir(gdir, 0755);
        snprintf(gstats, sizeof gstats, "%s/get%d.json", d.dir, i);
        snprintf(log, sizeof log, "%s/get%d.log", d.dir, i);
        snprintf(port_s, sizeof port_s, "0");
        char *gargv[] = {d.self, "get",   "-d",      gdir,   "-l", port_s, "--bind", "127.0.0.1",
                         "--seed", "--stats", gstats, tor,    NULL};
        d.getters[i] = spawn(&d, log, gargv);
    }
    /* Live view until every viewer has the whole file. */
    int first = 1, all_done = 0;
    double deadline = t0 + 300;
    while (!g_stop && mono() < deadline) {
        draw(&d, first, t0, size);
        first = 0;
        all_done = 1;
        for (int i = 0; i < d.npeers; i++) {
            stats st;
            snprintf(path, sizeof path, "%s/get%d.json", d.dir, i);
            if (read_stats(path, &st) != 0 || !st.complete) all_done = 0;
        }
        if (all_done) break;
        usleep(d.tty ? 250 * 1000 : 1000 * 1000);
    }
    draw(&d, first, t0, size);
    if (!all_done) {
        fprintf(stderr, "peerflow demo: %s before every viewer finished\n",
                g_stop ? "interrupted" : "timed out");
        goto out;
    }
    /* Check every copy and report where the bytes came from. */
    stats seed;
    snprintf(path, sizeof path, "%s/seed.json", d.dir);
    read_stats(path, &seed);
    unsigned long long peer_up = 0;
    rc = 0;
    for (int i = 0; i < d.npeers; i++) {
        char a[512], b[512];
        stats st;
        snprintf(a, sizeof a, "%s/demo.bin", seeddir);
        snprintf(b, sizeof b, "%s/viewer%d/demo.bin", d.dir, i + 1);
        snprintf(path, sizeof path, "%s/get%d.json", d.dir, i);
        read_stats(path, &st);
        peer_up += st.up;
        if (!same_file(a, b)) {
            fprintf(stderr, "peerflow demo: viewer %d's copy differs from the source!\n", i + 1);
            rc = 1;
        }
    }
    char a[32], b[32], c[32];
    pf_fmt_bytes((double)size * d.npeers, a, sizeof a);
    pf_fmt_bytes((double)seed.up, b, sizeof b);
    pf_fmt_bytes((double)peer_up, c, sizeof c);
    fprintf(stderr,
            "peerflow demo: %d viewers got %s in %.1f s; the seeder sent %s, viewers sent each "
            "other %s; every copy %s the source.\n",
            d.npeers, a, mono() - t0, b, c, rc == 0 ? "matches" : "does NOT match");
out:
    stop_all(&d);
    if (!d.keep) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", d.dir);
        if (system(cmd) != 0) fprintf(stderr, "peerflow demo: could not remove %s\n", d.dir);
    } else {
        fprintf(stderr, "peerflow demo: kept %s\n", d.dir);
    }
    return rc;
}
