/* A BEP 15 load generator for bench/tracker.sh: many simulated peers
 * announcing to one UDP tracker over loopback, as fast as it answers.
 *
 *   udp_tracker_load --port P [options]
 *   udp_tracker_load --print-hashes T       the T info-hashes, hex, one a line
 *
 * Each simulated peer p announces torrent p % T from its own port number
 * (and, with --sources, its own 127.x.y.z address): a connect, then an
 * announce with the connection id it got (with --reuse N, N announces per
 * connection id, as clients do within its minute).  --window transactions
 * are kept in flight; a reply starts the next step, a request unanswered
 * for 250 ms is counted lost and its slot moves on.  Datagrams go out and
 * come in by sendmmsg/recvmmsg, 64 at a time, so the generator costs the
 * machine as little as it can.
 *
 * After --warmup seconds (every peer announced once: the swarms are full)
 * it counts for --seconds: announce replies, connect replies, errors,
 * lost requests, and with --pid the tracker's CPU time (utime + stime
 * from /proc/PID/stat, every thread), its own CPU time (getrusage) and the
 * whole machine's busy CPU time (/proc/stat), so what others used in the
 * meantime shows.  One line of key=value goes to stdout.
 *
 * Options: --host ADDR (127.0.0.1), --peers N (100000), --torrents T
 * (1000), --numwant N (50), --window W (512), --reuse N (1), --sources
 * (one source address per peer, 127.0.0.0/8, through IP_PKTINFO),
 * --seconds S (10), --warmup S (2), --pid PID. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define LOST_NS 250000000ull

typedef struct slot {
    uint32_t peer;
    uint32_t gen;
    int phase; /* 0: connect sent, 1: announce sent */
    int left;  /* announces left on this connection id */
    uint64_t cid;
    uint64_t sent;
} slot;

typedef struct opts {
    const char *host;
    unsigned port, peers, torrents, numwant, window, reuse, sources;
    double seconds, warmup;
    long pid;
} opts;

typedef struct counts {
    uint64_t announces, connects, errors, lost, other;
} counts;

typedef struct gen {
    opts o;
    int fd;
    struct sockaddr_in to;
    slot *slots;
    uint32_t next_peer;
    uint8_t (*ih)[20];
    counts c;
    /* the batch being filled */
    uint8_t out[BATCH][100];
    size_t outlen[BATCH];
    uint32_t outpeer[BATCH];
    int nout;
} gen;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void hash_of(uint8_t h[20], unsigned i)
{
    for (int k = 0; k < 3; k++) {
        uint64_t v = mix64(0x5eed0000ull + i * 3ull + (uint64_t)k);
        memcpy(h + 8 * k, &v, k < 2 ? 8 : 4);
    }
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static void wr64(uint8_t *p, uint64_t v)
{
    wr32(p, (uint32_t)(v >> 32));
    wr32(p + 4, (uint32_t)v);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) << 32 | rd32(p + 4); }

/* Peer p's source address (with --sources) in 127.0.0.0/8, never .0 or .255. */
static uint32_t peer_src(uint32_t p)
{
    uint32_t k = p % (250u * 250u * 250u);
    return 127u << 24 | (1 + k / 62500) << 16 | (1 + k / 250 % 250) << 8 | (1 + k % 250);
}

static int flush(gen *g)
{
    struct mmsghdr m[BATCH];
    struct iovec iov[BATCH];
    char ctl[BATCH][CMSG_SPACE(sizeof(struct in_pktinfo))];
    memset(m, 0, sizeof m);
    for (int i = 0; i < g->nout; i++) {
        iov[i].iov_base = g->out[i];
        iov[i].iov_len = g->outlen[i];
        m[i].msg_hdr.msg_name = &g->to;
        m[i].msg_hdr.msg_namelen = sizeof g->to;
        m[i].msg_hdr.msg_iov = &iov[i];
        m[i].msg_hdr.msg_iovlen = 1;
        if (g->o.sources) {
            memset(ctl[i], 0, sizeof ctl[i]);
            m[i].msg_hdr.msg_control = ctl[i];
            m[i].msg_hdr.msg_controllen = sizeof ctl[i];
            struct cmsghdr *c = CMSG_FIRSTHDR(&m[i].msg_hdr);
            c->cmsg_level = IPPROTO_IP;
            c->cmsg_type = IP_PKTINFO;
            c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
            struct in_pktinfo pi;
            memset(&pi, 0, sizeof pi);
            pi.ipi_spec_dst.s_addr = htonl(peer_src(g->outpeer[i]));
            memcpy(CMSG_DATA(c), &pi, sizeof pi);
        }
    }
    int done = 0;
    while (done < g->nout) {
        int r = sendmmsg(g->fd, m + done, (unsigned)(g->nout - done), 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break; /* full: those are lost, the time-out restarts them */
        done += r;
    }
    g->nout = 0;
    return done;
}

static void queue(gen *g, const uint8_t *d, size_t n, uint32_t peer)
{
    memcpy(g->out[g->nout], d, n);
    g->outlen[g->nout] = n;
    g->outpeer[g->nout] = peer;
    if (++g->nout == BATCH) flush(g);
}

/* The request of slot i's current step, tid = i | gen << 20. */
static void send_step(gen *g, uint32_t i, uint64_t now)
{
    slot *s = &g->slots[i];
    uint8_t b[98];
    uint32_t tid = i | (s->gen << 20);
    s->sent = now;
    if (s->phase == 0) {
        wr64(b, 0x41727101980ull);
        wr32(b + 8, 0);
        wr32(b + 12, tid);
        queue(g, b, 16, s->peer);
        return;
    }
    uint32_t p = s->peer;
    wr64(b, s->cid);
    wr32(b + 8, 1);
    wr32(b + 12, tid);
    memcpy(b + 16, g->ih[p % g->o.torrents], 20);
    memset(b + 36, 0, 20);
    memcpy(b + 36, "-LG0001-", 8);
    wr32(b + 44, p);
    wr64(b + 56, 0);
    wr64(b + 64, p % 4 == 0 ? 0 : 1000000); /* a quarter are seeds */
    wr64(b + 72, 0);
    wr32(b + 80, 0);
    wr32(b + 84, 0);
    wr32(b + 88, p);
    wr32(b + 92, g->o.numwant);
    uint32_t port = 1024 + (g->o.sources ? p % 60000 : p % 64000);
    b[96] = (uint8_t)(port >> 8), b[97] = (uint8_t)port;
    queue(g, b, 98, p);
}

/* Slot i moves to a new peer (a connect). */
static void next_peer(gen *g, uint32_t i, uint64_t now)
{
    slot *s = &g->slots[i];
    s->peer = g->next_peer++ % g->o.peers;
    s->gen = (s->gen + 1) & 0xfff;
    s->phase = 0;
    send_step(g, i, now);
}

static void on_reply(gen *g, const uint8_t *d, size_t n, uint64_t now, int counting)
{
    if (n < 8) return;
    uint32_t action = rd32(d), tid = rd32(d + 4), i = tid & 0xfffff;
    if (i >= g->o.window || g->slots[i].gen != tid >> 20) return; /* a late one */
    slot *s = &g->slots[i];
    if (action == 0 && n >= 16 && s->phase == 0) {
        if (counting) g->c.connects++;
        s->cid = rd64(d + 8);
        s->phase = 1;
        s->left = (int)g->o.reuse;
        s->gen = (s->gen + 1) & 0xfff;
        send_step(g, i, now);
    } else if (action == 1 && s->phase == 1) {
        if (counting) g->c.announces++;
        if (--s->left > 0) {
            s->peer = g->next_peer++ % g->o.peers;
            if (g->o.sources) { /* another address needs its own id */
                next_peer(g, i, now);
                return;
            }
            s->gen = (s->gen + 1) & 0xfff;
            send_step(g, i, now);
        } else {
            next_peer(g, i, now);
        }
    } else {
        if (counting && action == 3) g->c.errors++;
        else if (counting) g->c.other++;
        next_peer(g, i, now);
    }
}

static int cpu_ticks(long pid, uint64_t *out)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    /* after ") ": state(3) ... utime is field 14, stime 15 */
    unsigned long long ut = 0, st = 0;
    int field = 2;
    for (char *q = p + 1; *q; q++) {
        if (*q != ' ') continue;
        field++;
        if (field == 14) ut = strtoull(q + 1, NULL, 10);
        if (field == 15) {
            st = strtoull(q + 1, NULL, 10);
            break;
        }
    }
    *out = ut + st;
    return 0;
}

/* CPU seconds: this process's, and the machine's busy time (all cores). */
static double self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double machine_busy(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return 0;
    unsigned long long v[8] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 5) return 0;
    unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]; /* not idle, iowait */
    return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

static int parse_args(int argc, char **argv, opts *o)
{
    o->host = "127.0.0.1";
    o->peers = 100000, o->torrents = 1000, o->numwant = 50, o->window = 512, o->reuse = 1;
    o->seconds = 10, o->warmup = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--sources") == 0) {
            o->sources = 1;
            continue;
        }
        if (!v) return -1;
        i++;
        if (strcmp(a, "--host") == 0) o->host = v;
        else if (strcmp(a, "--port") == 0) o->port = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--peers") == 0) o->peers = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--torrents") == 0) o->torrents = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--numwant") == 0) o->numwant = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--window") == 0) o->window = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--reuse") == 0) o->reuse = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--seconds") == 0) o->seconds = strtod(v, NULL);
        else if (strcmp(a, "--warmup") == 0) o->warmup = strtod(v, NULL);
        else if (strcmp(a, "--pid") == 0) o->pid = strtol(v, NULL, 10);
        else if (strcmp(a, "--print-hashes") == 0) o->torrents = (unsigned)strtoul(v, NULL, 10), o->port = 0;
        else return -1;
    }
    if (o->window == 0 || o->window > (1u << 20) || o->peers == 0 || o->torrents == 0 || o->reuse == 0)
        return -1;
    return 0;
}

static int open_socket(gen *g)
{
    g->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    int buf = 8 << 20, one = 1;
    (void)setsockopt(g->fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    (void)setsockopt(g->fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    struct sockaddr_in me;
    memset(&me, 0, sizeof me);
    me.sin_family = AF_INET;
    /* --sources: any address, so replies to every 127.x.y.z come here */
    me.sin_addr.s_addr = htonl(g->o.sources ? INADDR_ANY : INADDR_LOOPBACK);
    if (g->o.sources) (void)setsockopt(g->fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof one);
    memset(&g->to, 0, sizeof g->to);
    g->to.sin_family = AF_INET;
    g->to.sin_port = htons((uint16_t)g->o.port);
    if (inet_pton(AF_INET, g->o.host, &g->to.sin_addr) != 1) return -1;
    return bind(g->fd, (struct sockaddr *)&me, sizeof me);
}

/* Reads what came (up to BATCH per call); returns the count. */
static int drain(gen *g, uint64_t now, int counting)
{
    static uint8_t in[BATCH][1500];
    struct mmsghdr m[BATCH];
    struct iovec iov[BATCH];
    memset(m, 0, sizeof m);
    for (int i = 0; i < BATCH; i++) {
        iov[i].iov_base = in[i];
        iov[i].iov_len = sizeof in[i];
        m[i].msg_hdr.msg_iov = &iov[i];
        m[i].msg_hdr.msg_iovlen = 1;
    }
    int r = recvmmsg(g->fd, m, BATCH, MSG_DONTWAIT, NULL);
    for (int i = 0; i < r; i++) on_reply(g, in[i], m[i].msg_len, now, counting);
    return r > 0 ? r : 0;
}

static void expire_lost(gen *g, uint64_t now, int counting)
{
    for (uint32_t i = 0; i < g->o.window; i++)
        if (now - g->slots[i].sent > LOST_NS) {
            if (counting) g->c.lost++;
            next_peer(g, i, now);
        }
}

int main(int argc, char **argv)
{
    gen g;
    memset(&g, 0, sizeof g);
    if (parse_args(argc, argv, &g.o) != 0) {
        fprintf(stderr, "usage: udp_tracker_load --port P [--host A] [--peers N] [--torrents T]\n"
                        "  [--numwant N] [--window W] [--reuse N] [--sources] [--seconds S]\n"
                        "  [--warmup S] [--pid PID] | --print-hashes T\n");
        return 2;
    }
    g.ih = calloc(g.o.torrents, 20);
    g.slots = calloc(g.o.window, sizeof *g.slots);
    if (!g.ih || !g.slots) return 1;
    for (unsigned i = 0; i < g.o.torrents; i++) hash_of(g.ih[i], i);
    if (g.o.port == 0) {
        for (unsigned i = 0; i < g.o.torrents; i++) {
            for (int k = 0; k < 20; k++) printf("%02x", g.ih[i][k]);
            printf("\n");
        }
        return 0;
    }
    if (open_socket(&g) != 0) {
        perror("udp_tracker_load: socket");
        return 1;
    }
    uint64_t t0 = now_ns(), warm_end = t0 + (uint64_t)(g.o.warmup * 1e9);
    uint64_t end = warm_end + (uint64_t)(g.o.seconds * 1e9), last_scan = t0, cpu0 = 0, cpu1 = 0;
    double self0 = 0, busy0 = 0;
    for (uint32_t i = 0; i < g.o.window; i++) next_peer(&g, i, t0);
    flush(&g);
    int counting = 0;
    uint64_t now = t0;
    while (now < end) {
        struct pollfd p = {g.fd, POLLIN, 0};
        if (poll(&p, 1, 20) < 0 && errno != EINTR) break;
        now = now_ns();
        if (!counting && now >= warm_end) {
            counting = 1;
            if (g.o.pid && cpu_ticks(g.o.pid, &cpu0) != 0) g.o.pid = 0;
            self0 = self_cpu();
            busy0 = machine_busy();
            warm_end = now;
        }
        while (drain(&g, now, counting) == BATCH) flush(&g);
        if (now - last_scan > LOST_NS / 2) {
            expire_lost(&g, now, counting);
            last_scan = now;
        }
        flush(&g);
    }
    double secs = (double)(now - warm_end) / 1e9;
    if (g.o.pid && cpu_ticks(g.o.pid, &cpu1) != 0) g.o.pid = 0;
    double cpu = g.o.pid ? (double)(cpu1 - cpu0) / (double)sysconf(_SC_CLK_TCK) : 0;
    double mine = self_cpu() - self0, busy = machine_busy() - busy0;
    double others = busy - cpu - mine;
    printf("announces=%llu connects=%llu errors=%llu other=%llu lost=%llu seconds=%.3f "
           "rate=%.0f tracker_cpu=%.2f per_cpu_second=%.0f gen_cpu=%.2f machine_busy=%.2f "
           "others_cpu=%.2f cores=%ld\n",
           (unsigned long long)g.c.announces, (unsigned long long)g.c.connects,
           (unsigned long long)g.c.errors, (unsigned long long)g.c.other,
           (unsigned long long)g.c.lost, secs, (double)g.c.announces / secs, cpu,
           cpu > 0 ? (double)g.c.announces / cpu : 0, mine, busy, others > 0 ? others : 0,
           sysconf(_SC_NPROCESSORS_ONLN));
    free(g.ih);
    free(g.slots);
    close(g.fd);
    return 0;
}
