/* uTP (BEP 29) with LEDBAT: two contexts joined by a simulated network,
 * all on a fake clock.  Each direction is a link with a one-way delay, an
 * optional bottleneck (a rate and a drop-tail queue measured in time, so
 * the delay grows as it fills), random loss and reordering from a seeded
 * PRNG; a simple AIMD "TCP-like" sender can share the bottleneck.  The
 * two nodes' clocks differ (node 1's microsecond clock wraps during the
 * tests). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utp/utp.h"
#include "test.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define T0 SEC /* the simulation starts at 1 s */

/* ---- PRNG ---------------------------------------------------------------- */
static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double unit(uint64_t *s) { return (double)(rnd(s) >> 11) / 9007199254740992.0; }

/* The byte at offset i of the stream node `dir` sends. */
static uint8_t pattern(int dir, uint64_t i)
{
    uint64_t z = (i / 7) ^ ((uint64_t)dir << 48);
    z *= 0x9e3779b97f4a7c15ull;
    return (uint8_t)((z >> 56) + i);
}

/* ---- the network ---------------------------------------------------------- */
typedef struct link {
    uint64_t delay;    /* one way, ns */
    double rate;       /* bottleneck bits/s; 0: none */
    uint64_t queue;    /* the bottleneck's buffer, ns of its rate (drop-tail); 0: unbounded */
    double loss;       /* random loss */
    double reorder;    /* a packet held back by up to reorder_ns */
    uint64_t reorder_ns;
    uint64_t busy;     /* the bottleneck is busy until then */
    uint64_t sent, lost, overflow;
    /* queueing delay seen by uTP packets, from measure_from on */
    uint64_t measure_from;
    double qsum;
    uint64_t qn;
} link;

enum { EV_UTP, EV_TCP_DATA, EV_TCP_ACK, EV_TCP_LOSS };

typedef struct ev {
    uint64_t at, seq;
    int type, dst;
    pf_addr from;
    uint16_t len;
    uint8_t *data;
} ev;

typedef struct sim sim;

typedef struct node {
    sim *s;
    int id;
    pf_addr addr;
    pf_utp_ctx *x;
    uint64_t off; /* this node's clock minus the simulation's */
    double skew;  /* ... and how much faster it runs (1e-4: 100 ppm) */
    pf_utp_conn *c;
    int seen, closed, connected, accepted, eof;
    int err;
    int refuse;            /* close inside accept */
    uint64_t to_send, written; /* the stream this node sends */
    int shut_when_written; /* pf_utp_shutdown after the last byte */
    int close_when_done;   /* pf_utp_close once `expect` bytes came */
    uint64_t expect, received, done_at;
    int bad;
    uint64_t write_calls, sent_pkts;
    uint64_t send_after_eof; /* starts sending this much once the peer's FIN is read */
    pf_utp_stats last; /* the connection's stats when it closed */
    uint64_t closed_at;
    /* the user's datagram queue: can_send says no at qlimit (0: never);
     * drained, and pf_utp_flush called, at each step of the simulation */
    uint32_t qlimit, queued, queued_max;
    uint64_t flushes;
} node;

typedef struct tcp { /* AIMD: slow start, +1/cwnd per ACK, halving on loss */
    int on;
    uint64_t start, stop;
    double cwnd, ssthresh;
    uint32_t inflight;
    uint64_t last_cut, delivered, next;
} tcp;

struct sim {
    uint64_t now, rng, evseq;
    node n[4]; /* nodes 2 and 3, when used, are a second pair on the same links */
    link l[2]; /* l[i]: from node i (and i + 2) */
    ev *q;
    size_t nq, capq;
    tcp t;
    uint64_t to_nowhere;
    int cut; /* the network is gone */
    uint64_t ping_from, ping_every, ping_at;
    double ping_sum;
    uint64_t ping_n;
    float pings[8192]; /* the first samples, for percentiles */
};

/* The node's clock at simulation time t. */
static uint64_t clk_at(const node *n, uint64_t t)
{
    return n->off + T0 + (t - T0) + (uint64_t)((double)(t - T0) * n->skew);
}
static uint64_t clk(const node *n) { return clk_at(n, n->s->now); }

static int ev_lt(const ev *a, const ev *b) { return a->at < b->at || (a->at == b->at && a->seq < b->seq); }

static void q_push(sim *s, ev e)
{
    if (s->nq == s->capq) {
        s->capq = s->capq ? s->capq * 2 : 1024;
        s->q = realloc(s->q, s->capq * sizeof *s->q);
        if (!s->q) abort();
    }
    e.seq = s->evseq++;
    size_t i = s->nq++;
    while (i > 0 && ev_lt(&e, &s->q[(i - 1) / 2])) {
        s->q[i] = s->q[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->q[i] = e;
}

static ev q_pop(sim *s)
{
    ev top = s->q[0], last = s->q[--s->nq];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        const ev *best = &last;
        if (l < s->nq && ev_lt(&s->q[l], best)) {
            m = l;
            best = &s->q[l];
        }
        if (l + 1 < s->nq && ev_lt(&s->q[l + 1], best)) m = l + 1;
        if (m == i) break;
        s->q[i] = s->q[m];
        i = m;
    }
    if (s->nq) s->q[i] = last;
    return top;
}

/* Through link l: lost, dropped at a full queue, or delivered later. */
static int link_send(sim *s, link *l, ev *e, size_t bytes, int is_utp)
{
    l->sent++;
    if (l->loss > 0 && unit(&s->rng) < l->loss) {
        l->lost++;
        return 0;
    }
    uint64_t t = s->now;
    if (l->rate > 0) {
        uint64_t start = l->busy > s->now ? l->busy : s->now;
        if (l->queue && start - s->now > l->queue) {
            l->overflow++;
            return 0;
        }
        if (is_utp && s->now >= l->measure_from && l->measure_from) {
            l->qsum += (double)(start - s->now);
            l->qn++;
        }
        l->busy = start + (uint64_t)((double)(bytes + 28) * 8e9 / l->rate);
        t = l->busy;
    }
    t += l->delay;
    if (l->reorder > 0 && unit(&s->rng) < l->reorder) t += (uint64_t)(unit(&s->rng) * (double)l->reorder_ns);
    e->at = t;
    q_push(s, *e);
    return 1;
}

/* ---- the application on each node -------------------------------------- */
static void pump(node *n)
{
    uint8_t buf[16384];
    while (n->c && n->written < n->to_send) {
        uint64_t left = n->to_send - n->written;
        size_t k = left < sizeof buf ? (size_t)left : sizeof buf;
        for (size_t i = 0; i < k; i++) buf[i] = pattern(n->id, n->written + i);
        n->write_calls++;
        long r = pf_utp_write(n->c, buf, k, clk(n));
        if (r <= 0) return;
        n->written += (uint64_t)r;
        if ((size_t)r < k) return;
    }
    if (n->c && n->shut_when_written && n->written == n->to_send) {
        n->shut_when_written = 0;
        pf_utp_shutdown(n->c, clk(n));
    }
}

static void cb_send(void *ud, const pf_addr *to, const uint8_t *pkt, size_t n)
{
    node *me = ud;
    sim *s = me->s;
    int dst = -1;
    for (int i = 0; i < 4; i++)
        if (s->n[i].addr.family == to->family && s->n[i].addr.port == to->port &&
            memcmp(s->n[i].addr.ip, to->ip, 16) == 0 && s->n[i].x)
            dst = i;
    me->sent_pkts++;
    if (++me->queued > me->queued_max) me->queued_max = me->queued;
    if (dst < 0 || s->cut) {
        s->to_nowhere++;
        return;
    }
    ev e = {.type = EV_UTP, .dst = dst, .from = me->addr, .len = (uint16_t)n};
    e.data = malloc(n);
    if (!e.data) abort();
    memcpy(e.data, pkt, n);
    if (!link_send(s, &s->l[me->id & 1], &e, n, 1)) free(e.data);
}

static int cb_can_send(void *ud)
{
    node *n = ud;
    return !n->qlimit || n->queued < n->qlimit;
}

static void cb_accept(void *ud, pf_utp_conn *c)
{
    node *n = ud;
    n->accepted++;
    n->seen++;
    if (n->refuse) {
        pf_utp_close(c, clk(n));
        return;
    }
    if (!n->c) {
        n->c = c;
        pump(n);
    }
}

static void cb_connected(void *ud, pf_utp_conn *c)
{
    node *n = ud;
    n->connected++;
    if (c == n->c) pump(n);
}

static void cb_read(void *ud, pf_utp_conn *c, const uint8_t *d, size_t len)
{
    node *n = ud;
    if (c != n->c) return;
    if (!d) {
        n->eof++;
        if (n->send_after_eof) {
            n->to_send = n->send_after_eof;
            n->shut_when_written = 1;
            pump(n);
        }
        return;
    }
    for (size_t i = 0; i < len; i++)
        if (d[i] != pattern(n->id ^ 1, n->received + i)) {
            n->bad++;
            break;
        }
    n->received += len;
    if (n->expect && n->received >= n->expect && !n->done_at) {
        n->done_at = n->s->now;
        if (n->close_when_done) pf_utp_close(c, clk(n));
    }
}

static void cb_writable(void *ud, pf_utp_conn *c)
{
    node *n = ud;
    if (c == n->c) pump(n);
}

static void cb_closed(void *ud, pf_utp_conn *c, int err)
{
    node *n = ud;
    n->closed++;
    if (c == n->c) {
        n->closed_at = n->s->now;
        pf_utp_stats_get(c, &n->last);
        n->err = err;
        n->c = NULL;
    }
}

static const pf_utp_callbacks cbs = {cb_send, cb_accept, cb_connected, cb_read, cb_writable, cb_closed, cb_can_send};

/* ---- the simulation ------------------------------------------------------- */
static void node_init(sim *s, int i, const pf_utp_settings *set, uint64_t seed, const pf_mem *mem)
{
    node *n = &s->n[i];
    n->s = s;
    n->id = i;
    n->addr.family = 4;
    n->addr.ip[0] = 10;
    n->addr.ip[3] = (uint8_t)(i + 1);
    n->addr.port = 6881;
    /* odd nodes' microsecond clocks wrap 2^32 about 1.5 s in */
    n->off = (i & 1) ? 4293467296ull * 1000ull : 0;
    pf_utp_settings st;
    if (set)
        st = *set;
    else
        pf_utp_settings_default(&st);
    st.seed = seed * 31 + (uint64_t)i + 1;
    n->x = pf_utp_ctx_new(mem, &st, &cbs, n);
    if (!n->x && !mem) abort();
}

static void sim_init_mem(sim *s, const pf_utp_settings *set0, const pf_utp_settings *set1, uint64_t seed,
                         const pf_mem *mem)
{
    memset(s, 0, sizeof *s);
    s->now = T0;
    s->rng = seed;
    node_init(s, 0, set0, seed, mem);
    node_init(s, 1, set1, seed, mem);
}

static void sim_init(sim *s, const pf_utp_settings *set0, const pf_utp_settings *set1, uint64_t seed)
{
    sim_init_mem(s, set0, set1, seed, NULL);
}

static void sim_free(sim *s)
{
    for (int i = 0; i < 4; i++) pf_utp_ctx_free(s->n[i].x);
    while (s->nq) free(q_pop(s).data);
    free(s->q);
}

static void tcp_pump(sim *s)
{
    tcp *t = &s->t;
    while (t->on && s->now >= t->start && s->now < t->stop && t->inflight < (uint32_t)t->cwnd) {
        ev e = {.type = EV_TCP_DATA, .dst = 1};
        t->inflight++;
        if (!link_send(s, &s->l[0], &e, 1500, 0)) { /* the sender hears of it a RTT later */
            ev l = {.type = EV_TCP_LOSS, .dst = 0, .at = s->now + 2 * s->l[0].delay + s->l[0].queue};
            q_push(s, l);
        }
    }
}

static void tcp_event(sim *s, const ev *e)
{
    tcp *t = &s->t;
    if (e->type == EV_TCP_DATA) {
        t->delivered += 1500 - 40;
        ev a = {.type = EV_TCP_ACK, .dst = 0};
        link_send(s, &s->l[1], &a, 40, 0);
        return;
    }
    t->inflight--;
    if (e->type == EV_TCP_ACK) {
        t->cwnd += t->cwnd < t->ssthresh ? 1 : 1 / t->cwnd;
    } else if (s->now > t->last_cut + 2 * s->l[0].delay + s->l[0].queue / 2) {
        t->cwnd = t->cwnd / 2 < 2 ? 2 : t->cwnd / 2;
        t->ssthresh = t->cwnd;
        t->last_cut = s->now;
    }
    tcp_pump(s);
}

static uint64_t node_deadline(const node *n, uint64_t now)
{
    if (!n->x) return UINT64_MAX;
    uint64_t d = pf_utp_next_timeout(n->x, clk_at(n, now));
    if (d == UINT64_MAX) return UINT64_MAX;
    uint64_t t = T0 + (uint64_t)((double)(d - n->off - T0) / (1 + n->skew));
    while (clk_at(n, t) < d) t++;
    return t < now ? now : t;
}

/* Runs until `until` or until stop(s) holds. */
static void sim_run(sim *s, uint64_t until, int (*stop)(sim *))
{
    while (s->now < until) {
        if (stop && stop(s)) return;
        uint64_t next = s->nq ? s->q[0].at : UINT64_MAX;
        for (int i = 0; i < 4; i++) {
            uint64_t d = node_deadline(&s->n[i], s->now);
            if (d < next) next = d;
        }
        if (s->t.on && s->t.start > s->now && s->t.start < next) next = s->t.start;
        if (s->ping_every && s->ping_at < next) next = s->ping_at;
        if (next > until) {
            s->now = until;
            break;
        }
        if (next > s->now) s->now = next;
        while (s->nq && s->q[0].at <= s->now) {
            ev e = q_pop(s);
            if (e.type == EV_UTP) {
                node *n = &s->n[e.dst];
                if (n->x) pf_utp_recv(n->x, &e.from, e.data, e.len, clk(n));
                free(e.data);
            } else {
                tcp_event(s, &e);
            }
        }
        for (int i = 0; i < 4; i++) {
            node *n = &s->n[i];
            if (n->x && node_deadline(n, s->now) <= s->now) pf_utp_tick(n->x, clk(n));
            if (n->x && n->qlimit && n->queued) { /* the user drains its queue */
                n->queued = 0;
                n->flushes++;
                pf_utp_flush(n->x, clk(n));
            }
        }
        if (s->ping_every && s->ping_at <= s->now) {
            if (s->now >= s->ping_from) {
                link *l = &s->l[0];
                double q = (double)(l->busy > s->now ? l->busy - s->now : 0);
                s->ping_sum += q;
                if (s->ping_n < sizeof s->pings / sizeof s->pings[0]) s->pings[s->ping_n] = (float)(q / 1e6);
                s->ping_n++;
            }
            s->ping_at = s->now + s->ping_every;
        }
        tcp_pump(s);
    }
}

static void link_set(link *l, uint64_t delay, double rate, uint64_t queue, double loss)
{
    memset(l, 0, sizeof *l);
    l->delay = delay;
    l->rate = rate;
    l->queue = queue;
    l->loss = loss;
}

/* Node p connects to node p + 1; each sends `a` and `b` bytes. */
static void start_pair(sim *s, int p, uint64_t a, uint64_t b)
{
    s->n[p].to_send = a;
    s->n[p + 1].to_send = b;
    s->n[p].expect = b;
    s->n[p + 1].expect = a;
    s->n[p].c = pf_utp_connect(s->n[p].x, &s->n[p + 1].addr, clk(&s->n[p]));
    pump(&s->n[p]);
}

static void start_transfer(sim *s, uint64_t a, uint64_t b) { start_pair(s, 0, a, b); }

static int both_done(sim *s)
{
    return s->n[0].received >= s->n[0].expect && s->n[1].received >= s->n[1].expect;
}

static int both_closed(sim *s) { return s->n[0].closed && s->n[1].closed; }

/* Both directions byte-exact, then a clean close on both sides. */
static void check_transfer(sim *s, uint64_t a, uint64_t b, uint64_t limit, const char *what)
{
    start_transfer(s, a, b);
    s->n[0].shut_when_written = s->n[1].shut_when_written = 1;
    sim_run(s, s->now + limit, both_closed);
    printf("  %s: %.1f s simulated, A->B %llu/%llu B->A %llu/%llu, closed %d/%d err %d/%d\n", what,
           (double)(s->now - T0) / 1e9, (unsigned long long)s->n[1].received, (unsigned long long)a,
           (unsigned long long)s->n[0].received, (unsigned long long)b, s->n[0].closed, s->n[1].closed, s->n[0].err,
           s->n[1].err);
    for (int i = 0; i < 2; i++) {
        const pf_utp_stats *t = &s->n[i].last;
        printf("    node %d: pkts out %llu in %llu, retransmits %llu (fast %llu), timeouts %llu, loss events %llu, "
               "dup in %llu, spurious %llu, reorder %u, rtt %u us, rto %u us, cwnd %u\n",
               i, (unsigned long long)t->packets_out, (unsigned long long)t->packets_in,
               (unsigned long long)t->retransmits, (unsigned long long)t->fast_retransmits,
               (unsigned long long)t->timeouts, (unsigned long long)t->loss_events,
               (unsigned long long)t->dup_packets_in, (unsigned long long)t->spurious, t->reorder, t->rtt_us,
               t->rto_us, t->cwnd);
    }
}

/* ---- tests ------------------------------------------------------------------- */
static void handshake(int family)
{
    sim s;
    sim_init(&s, NULL, NULL, 1);
    if (family == 6)
        for (int i = 0; i < 2; i++) {
            pf_addr a = {.family = 6, .ip = {0x20, 0x01, 0x0d, 0xb8, [15] = (uint8_t)(i + 1)}, .port = 51413};
            s.n[i].addr = a;
        }
    link_set(&s.l[0], 10 * MS, 0, 0, 0);
    link_set(&s.l[1], 10 * MS, 0, 0, 0);
    start_transfer(&s, 100, 200);
    CHECK(s.n[0].c != NULL);
    s.n[0].shut_when_written = s.n[1].shut_when_written = 1;
    sim_run(&s, T0 + 10 * SEC, both_closed);
    CHECK_EQ(s.n[0].connected, 1);
    CHECK_EQ(s.n[1].accepted, 1);
    CHECK_EQ(s.n[1].received, 100);
    CHECK_EQ(s.n[0].received, 200);
    CHECK_EQ(s.n[0].bad + s.n[1].bad, 0);
    CHECK_EQ(s.n[0].eof, 1);
    CHECK_EQ(s.n[1].eof, 1);
    CHECK_EQ(s.n[0].closed, 1);
    CHECK_EQ(s.n[1].closed, 1);
    CHECK_EQ(s.n[0].err, 0);
    CHECK_EQ(s.n[1].err, 0);
    CHECK(s.now < T0 + SEC); /* a few round trips */
    pf_utp_ctx_stats cs;
    pf_utp_ctx_stats_get(s.n[1].x, &cs);
    CHECK_EQ(cs.conns, 0);
    CHECK_EQ(cs.accepted, 1);
    CHECK_EQ(cs.invalid, 0);
    CHECK_EQ(pf_utp_next_timeout(s.n[0].x, s.now), UINT64_MAX);
    sim_free(&s);
}

TEST(utp_handshake_and_close) { handshake(4); }
TEST(utp_handshake_ipv6) { handshake(6); }

TEST(utp_transfer_clean)
{
    sim s;
    sim_init(&s, NULL, NULL, 2);
    link_set(&s.l[0], 10 * MS, 50e6, 100 * MS, 0);
    link_set(&s.l[1], 10 * MS, 50e6, 100 * MS, 0);
    check_transfer(&s, 10000000, 10000000, 60 * SEC, "clean 50 Mbit/s both ways");
    CHECK_EQ(s.n[1].received, 10000000);
    CHECK_EQ(s.n[0].received, 10000000);
    CHECK_EQ(s.n[0].bad + s.n[1].bad, 0);
    CHECK_EQ(s.n[0].closed + s.n[1].closed, 2);
    CHECK_EQ(s.n[0].err + s.n[1].err, 0);
    sim_free(&s);
}

static void lossy(double loss, uint64_t seed)
{
    sim s;
    sim_init(&s, NULL, NULL, seed);
    link_set(&s.l[0], 10 * MS, 20e6, 100 * MS, loss);
    link_set(&s.l[1], 10 * MS, 20e6, 100 * MS, loss);
    char what[64];
    snprintf(what, sizeof what, "%.0f%% loss both ways", loss * 100);
    check_transfer(&s, 10000000, 10000000, 600 * SEC, what);
    CHECK_EQ(s.n[1].received, 10000000);
    CHECK_EQ(s.n[0].received, 10000000);
    CHECK_EQ(s.n[0].bad + s.n[1].bad, 0);
    CHECK_EQ(s.n[0].closed + s.n[1].closed, 2);
    CHECK_EQ(s.n[0].err + s.n[1].err, 0);
    sim_free(&s);
}

TEST(utp_transfer_loss_1) { lossy(0.01, 3); }
TEST(utp_transfer_loss_5) { lossy(0.05, 4); }

TEST(utp_transfer_reorder)
{
    sim s;
    sim_init(&s, NULL, NULL, 5);
    link_set(&s.l[0], 10 * MS, 0, 0, 0);
    link_set(&s.l[1], 10 * MS, 0, 0, 0);
    for (int i = 0; i < 2; i++) {
        s.l[i].reorder = 0.1;
        s.l[i].reorder_ns = 8 * MS;
        s.l[i].rate = 50e6;
        s.l[i].queue = 100 * MS;
    }
    check_transfer(&s, 10000000, 10000000, 120 * SEC, "10% reordered by up to 8 ms");
    CHECK_EQ(s.n[1].received, 10000000);
    CHECK_EQ(s.n[0].received, 10000000);
    CHECK_EQ(s.n[0].bad + s.n[1].bad, 0);
    CHECK_EQ(s.n[0].err + s.n[1].err, 0);
    sim_free(&s);
}


static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* Percentile p (0..100) of the ping samples, ms. */
static double ping_pct(sim *s, double p)
{
    size_t n = s->ping_n < 8192 ? (size_t)s->ping_n : 8192;
    if (!n) return 0;
    qsort(s->pings, n, sizeof s->pings[0], cmp_float);
    size_t i = (size_t)(p / 100 * (double)(n - 1));
    return s->pings[i];
}

/* One-way bulk transfer from node 0 over a clean path: goodput. */
static double goodput(double rate, uint64_t delay, uint64_t queue, uint64_t bytes, const pf_utp_settings *set)
{
    sim s;
    sim_init(&s, set, set, 11);
    link_set(&s.l[0], delay, rate, queue, 0);
    link_set(&s.l[1], delay, rate, queue, 0);
    start_transfer(&s, bytes, 0);
    uint64_t t0 = s.now;
    sim_run(&s, s.now + 120 * SEC, both_done);
    double secs = (double)(s.n[1].done_at - t0) / 1e9;
    double mbps = (double)s.n[1].received * 8 / secs / 1e6;
    pf_utp_stats st;
    pf_utp_stats_get(s.n[0].c, &st);
    printf("  %.0f Mbit/s, %.0f ms RTT, %.0f ms buffer: %llu bytes in %.2f s = %.1f Mbit/s (%.0f%% of the link; "
           "payload/wire %.3f), retransmits %llu, loss events %llu, slowdowns %llu, cwnd %u, rtt %u us, bad %d\n",
           rate / 1e6, 2.0 * (double)delay / 1e6, (double)queue / 1e6, (unsigned long long)s.n[1].received, secs, mbps,
           100 * mbps * 1e6 / rate, 1380.0 / 1428.0, (unsigned long long)st.retransmits,
           (unsigned long long)st.loss_events, (unsigned long long)st.slowdowns, st.cwnd, st.rtt_us, s.n[1].bad);
    int ok = s.n[1].received == bytes && !s.n[1].bad;
    sim_free(&s);
    return ok ? mbps * 1e6 / rate : 0;
}

TEST(utp_throughput)
{
    /* the link carries 1428-byte frames (1400 + UDP/IP) for 1380 bytes
     * of payload: 96.6% is the most a 1400-byte mtu can get */
    CHECK(goodput(100e6, 10 * MS, 100 * MS, 40000000, NULL) > 0.85);
    CHECK(goodput(100e6, 10 * MS, 25 * MS, 40000000, NULL) > 0.80);
    CHECK(goodput(10e6, 25 * MS, 500 * MS, 10000000, NULL) > 0.85);
}

/* LEDBAT on a bottleneck with a deep buffer: node 0 uploads for `secs`;
 * returns the mean queueing delay (ms) a ping every 100 ms sees over the
 * second half, and the link's utilisation by uTP. */
static double g_skew; /* node 1's clock runs this much faster (ledbat_run) */

static void ledbat_run(double rate, uint64_t queue, uint32_t target_us, int tcp_from, int tcp_to, int secs,
                       double *qd_ms, double *util, double *tcp_share, double *after)
{
    pf_utp_settings set;
    pf_utp_settings_default(&set);
    set.target_delay_us = target_us;
    sim s;
    sim_init(&s, &set, &set, 21);
    s.n[1].skew = g_skew;
    link_set(&s.l[0], 20 * MS, rate, queue, 0);
    link_set(&s.l[1], 20 * MS, 0, 0, 0);
    s.ping_every = 100 * MS;
    uint64_t t0 = s.now;
    start_transfer(&s, (uint64_t)1 << 40, 0);
    s.n[1].expect = 0;
    if (tcp_to > tcp_from) {
        s.t.on = 1;
        s.t.start = t0 + (uint64_t)tcp_from * SEC;
        s.t.stop = t0 + (uint64_t)tcp_to * SEC;
        s.t.cwnd = 2;
        s.t.ssthresh = 1e9;
    }
    /* measure over the second half of the uTP-alone part, or of TCP's */
    int m0 = tcp_to > tcp_from ? tcp_from + (tcp_to - tcp_from) / 2 : secs / 2;
    int m1 = tcp_to > tcp_from ? tcp_to : secs;
    sim_run(&s, t0 + (uint64_t)m0 * SEC, NULL);
    s.ping_from = s.now;
    uint64_t u0 = s.n[1].received, c0 = s.t.delivered;
    sim_run(&s, t0 + (uint64_t)m1 * SEC, NULL);
    uint64_t u1 = s.n[1].received, c1 = s.t.delivered;
    double span = (double)(m1 - m0), cap = rate / 8 * span;
    *qd_ms = s.ping_n ? s.ping_sum / (double)s.ping_n / 1e6 : 0;
    *util = (double)(u1 - u0) / cap;
    *tcp_share = (double)(c1 - c0) / cap;
    *after = 0;
    if (tcp_to > tcp_from && secs > tcp_to) { /* uTP takes the link back */
        sim_run(&s, t0 + (uint64_t)(secs - 5) * SEC, NULL);
        uint64_t a0 = s.n[1].received;
        sim_run(&s, t0 + (uint64_t)secs * SEC, NULL);
        *after = (double)(s.n[1].received - a0) / (rate / 8 * 5);
    }
    pf_utp_stats st;
    pf_utp_stats_get(s.n[0].c, &st);
    if (g_skew != 0) printf("  receiver's clock %+.0f ppm, %d s:", g_skew * 1e6, secs);
    printf("  %.0f Mbit/s, %.0f ms buffer, target %u ms%s: queueing delay mean %.1f ms (p10 %.0f, p50 %.0f, p90 %.0f), "
           "uTP %.0f%%, TCP %.0f%% of the link (%d-%d s); cwnd %u, our_delay %u us, loss events %llu, slowdowns %llu, "
           "overflows %llu\n",
           rate / 1e6, (double)queue / 1e6, target_us / 1000, tcp_to > tcp_from ? " + AIMD flow" : "", *qd_ms,
           ping_pct(&s, 10), ping_pct(&s, 50), ping_pct(&s, 90), 100 * *util, 100 * *tcp_share, m0, m1, st.cwnd,
           st.our_delay_us, (unsigned long long)st.loss_events,
           (unsigned long long)st.slowdowns, (unsigned long long)s.l[0].overflow);
    if (*after > 0) printf("    after the AIMD flow stopped: uTP %.0f%% of the link\n", 100 * *after);
    sim_free(&s);
}

TEST(utp_ledbat_target)
{
    double qd, util, share, after;
    ledbat_run(10e6, 500 * MS, 100000, 0, 0, 60, &qd, &util, &share, &after);
    CHECK(qd > 50 && qd < 120);
    CHECK(util > 0.85);
    ledbat_run(10e6, 500 * MS, 60000, 0, 0, 60, &qd, &util, &share, &after);
    CHECK(qd > 30 && qd < 75);
    CHECK(util > 0.85);
    ledbat_run(2e6, 500 * MS, 100000, 0, 0, 60, &qd, &util, &share, &after);
    CHECK(qd > 50 && qd < 120);
    CHECK(util > 0.85);
}

TEST(utp_ledbat_yields)
{
    double qd, util, share, after;
    ledbat_run(10e6, 500 * MS, 100000, 20, 80, 110, &qd, &util, &share, &after);
    CHECK(share > 0.8);
    CHECK(after > 0.8);
    ledbat_run(2e6, 500 * MS, 100000, 20, 80, 110, &qd, &util, &share, &after);
    CHECK(share > 0.8);
    CHECK(after > 0.8);
}

/* ---- lifetimes, limits, hostile input ----------------------------------- */
TEST(utp_half_close)
{
    sim s;
    sim_init(&s, NULL, NULL, 31);
    link_set(&s.l[0], 15 * MS, 10e6, 200 * MS, 0);
    link_set(&s.l[1], 15 * MS, 10e6, 200 * MS, 0);
    start_transfer(&s, 300000, 0);
    s.n[0].shut_when_written = 1;   /* A: FIN after its data, then reads on */
    s.n[1].send_after_eof = 200000; /* B answers once it has read A's FIN */
    s.n[0].expect = 200000;
    sim_run(&s, s.now + 60 * SEC, both_closed);
    CHECK_EQ(s.n[1].received, 300000);
    CHECK_EQ(s.n[0].received, 200000);
    CHECK_EQ(s.n[0].bad + s.n[1].bad, 0);
    CHECK_EQ(s.n[0].eof, 1);
    CHECK_EQ(s.n[1].eof, 1);
    CHECK_EQ(s.n[0].closed, 1);
    CHECK_EQ(s.n[1].closed, 1);
    CHECK_EQ(s.n[0].err, 0);
    CHECK_EQ(s.n[1].err, 0);
    sim_free(&s);
}

TEST(utp_close_linger)
{
    /* A closes; B reads the EOF but never closes: A is done linger_ms
     * after its FIN is acked.  B writes after close: refused. */
    sim s;
    sim_init(&s, NULL, NULL, 32);
    link_set(&s.l[0], 10 * MS, 0, 0, 0);
    link_set(&s.l[1], 10 * MS, 0, 0, 0);
    start_transfer(&s, 5000, 0);
    sim_run(&s, s.now + SEC, NULL);
    CHECK_EQ(s.n[1].received, 5000);
    uint64_t t = s.now;
    pf_utp_close(s.n[0].c, s.now);
    CHECK(pf_utp_write(s.n[0].c, (const uint8_t *)"x", 1, s.now) == PF_ERR_CLOSED);
    sim_run(&s, s.now + 10 * SEC, both_closed);
    CHECK_EQ(s.n[1].eof, 1);
    CHECK_EQ(s.n[0].closed, 1);
    CHECK_EQ(s.n[0].err, 0);
    printf("  closed %.3f s after pf_utp_close\n", (double)(s.n[0].closed_at - t) / 1e9);
    CHECK(s.n[0].closed_at - t >= 3 * SEC && s.n[0].closed_at - t < 4 * SEC);
    CHECK_EQ(s.n[1].closed, 0); /* B keeps its half-open connection */
    sim_free(&s);
    CHECK_EQ(s.n[1].closed, 1); /* ... until its context goes: PF_ERR_SHUTDOWN */
    CHECK_EQ(s.n[1].err, PF_ERR_SHUTDOWN);
}

TEST(utp_peer_vanishes)
{
    pf_utp_settings set;
    pf_utp_settings_default(&set);
    set.idle_timeout_ms = 60000;
    sim s;
    sim_init(&s, &set, &set, 33);
    link_set(&s.l[0], 20 * MS, 10e6, 100 * MS, 0);
    link_set(&s.l[1], 20 * MS, 10e6, 100 * MS, 0);
    start_transfer(&s, 1 << 30, 0);
    sim_run(&s, s.now + 5 * SEC, NULL);
    CHECK(s.n[1].received > 1000000);
    s.cut = 1;
    uint64_t t = s.now;
    sim_run(&s, s.now + 120 * SEC, both_closed);
    CHECK_EQ(s.n[0].closed, 1);
    CHECK_EQ(s.n[0].err, PF_ERR_TIMEOUT); /* the sender: timeout_ms (20 s) of silence */
    CHECK_EQ(s.n[1].closed, 1);
    CHECK_EQ(s.n[1].err, PF_ERR_TIMEOUT); /* the receiver: idle_timeout_ms (60 s) */
    CHECK(s.n[0].last.timeouts >= 3);
    printf("  peer gone at %.1f s: sender timed out after %.1f s (%llu RTOs), receiver after %.1f s\n",
           (double)(t - T0) / 1e9, (double)(s.n[0].closed_at - t) / 1e9, (unsigned long long)s.n[0].last.timeouts,
           (double)(s.n[1].closed_at - t) / 1e9);
    CHECK(s.n[0].closed_at - t > 19 * SEC && s.n[0].closed_at - t < 21 * SEC);
    CHECK(s.n[1].closed_at - t > 59 * SEC && s.n[1].closed_at - t < 61 * SEC);
    sim_free(&s);
}

TEST(utp_connect_timeout)
{
    sim s;
    sim_init(&s, NULL, NULL, 34);
    link_set(&s.l[0], 10 * MS, 0, 0, 0);
    link_set(&s.l[1], 10 * MS, 0, 0, 0);
    pf_addr nowhere = s.n[1].addr;
    nowhere.ip[3] = 99;
    s.n[0].c = pf_utp_connect(s.n[0].x, &nowhere, s.now);
    CHECK(s.n[0].c != NULL);
    uint64_t t = s.now;
    sim_run(&s, s.now + 60 * SEC, both_closed);
    sim_run(&s, s.now + 60 * SEC, NULL);
    CHECK_EQ(s.n[0].closed, 1);
    CHECK_EQ(s.n[0].err, PF_ERR_TIMEOUT);
    CHECK_EQ(s.n[0].connected, 0);
    CHECK_EQ(s.to_nowhere, 4); /* the SYN at 0, 1, 3 and 7 s: RFC 6298 back-off */
    (void)t;
    sim_free(&s);
}

TEST(utp_reset)
{
    /* B loses its state (a restart): A's next packet gets a RESET */
    sim s;
    sim_init(&s, NULL, NULL, 35);
    link_set(&s.l[0], 10 * MS, 0, 0, 0);
    link_set(&s.l[1], 10 * MS, 0, 0, 0);
    start_transfer(&s, 1000, 0);
    sim_run(&s, s.now + SEC, NULL);
    CHECK_EQ(s.n[1].received, 1000);
    pf_utp_ctx_free(s.n[1].x);
    CHECK_EQ(s.n[1].closed, 1);
    CHECK_EQ(s.n[1].err, PF_ERR_SHUTDOWN);
    s.n[1].x = pf_utp_ctx_new(NULL, NULL, &cbs, &s.n[1]);
    s.n[1].c = NULL;
    s.n[1].closed = 0;
    CHECK_EQ(pf_utp_write(s.n[0].c, (const uint8_t *)"hello", 5, s.now + s.n[0].off), 5);
    sim_run(&s, s.now + 5 * SEC, NULL);
    CHECK_EQ(s.n[0].closed, 1);
    CHECK_EQ(s.n[0].err, PF_ERR_CLOSED);
    pf_utp_ctx_stats cs;
    pf_utp_ctx_stats_get(s.n[1].x, &cs);
    CHECK_EQ(cs.conns, 0); /* no state for a stranger's packets */
    CHECK(cs.resets_sent >= 1);
    pf_utp_ctx_stats_get(s.n[0].x, &cs);
    CHECK_EQ(cs.resets_in, 1);
    sim_free(&s);
}

TEST(utp_refused)
{
    sim s;
    sim_init(&s, NULL, NULL, 36);
    link_set(&s.l[0], 10 * MS, 0, 0, 0);
    link_set(&s.l[1], 10 * MS, 0, 0, 0);
    s.n[1].refuse = 1;
    start_transfer(&s, 1000, 0);
    sim_run(&s, s.now + 5 * SEC, NULL);
    CHECK_EQ(s.n[1].accepted, 1);
    CHECK_EQ(s.n[1].closed, 1); /* the closed callback follows a refusal too */
    CHECK_EQ(s.n[0].connected, 0);
    CHECK_EQ(s.n[0].closed, 1);
    CHECK_EQ(s.n[0].err, PF_ERR_CLOSED);
    CHECK(s.now < T0 + 5 * SEC + 1);
    sim_free(&s);
}

TEST(utp_max_conns)
{
    pf_utp_settings a, b;
    pf_utp_settings_default(&a);
    pf_utp_settings_default(&b);
    a.max_conns = 12;
    b.max_conns = 4;
    sim s;
    sim_init(&s, &a, &b, 37);
    link_set(&s.l[0], 10 * MS, 0, 0, 0);
    link_set(&s.l[1], 10 * MS, 0, 0, 0);
    int opened = 0;
    for (int i = 0; i < 20; i++)
        if (pf_utp_connect(s.n[0].x, &s.n[1].addr, s.now)) opened++;
    CHECK_EQ(opened, 12); /* our own limit */
    sim_run(&s, s.now + 5 * SEC, NULL);
    CHECK_EQ(s.n[1].accepted, 4);
    CHECK_EQ(s.n[0].connected, 4);
    CHECK_EQ(s.n[0].closed, 8); /* refused with a RESET */
    pf_utp_ctx_stats cs;
    pf_utp_ctx_stats_get(s.n[1].x, &cs);
    CHECK_EQ(cs.conns, 4);
    CHECK_EQ(cs.refused, 8);
    sim_free(&s);
    CHECK_EQ(s.n[0].closed, 12);
    CHECK_EQ(s.n[1].closed, 4);
}

static size_t mkpkt(uint8_t *b, int type, uint16_t id, uint16_t seq, uint16_t ack)
{
    memset(b, 0, 20);
    b[0] = (uint8_t)(type << 4 | 1);
    b[2] = (uint8_t)(id >> 8);
    b[3] = (uint8_t)id;
    b[4] = 1; /* timestamp */
    b[15] = 0x10;
    b[16] = (uint8_t)(seq >> 8);
    b[17] = (uint8_t)seq;
    b[18] = (uint8_t)(ack >> 8);
    b[19] = (uint8_t)ack;
    return 20;
}

TEST(utp_syn_flood)
{
    pf_utp_settings b;
    pf_utp_settings_default(&b);
    b.max_conns = 16;
    sim s;
    sim_init(&s, NULL, &b, 38);
    link_set(&s.l[0], 10 * MS, 0, 0, 0);
    link_set(&s.l[1], 10 * MS, 0, 0, 0);
    uint64_t r = 1;
    uint8_t pkt[64];
    s.n[1].to_send = 100000; /* the application speaks first on what it accepts */
    for (int i = 0; i < 5000; i++) {
        pf_addr from = {.family = 4, .ip = {192, 0, 2, (uint8_t)rnd(&r)}, .port = (uint16_t)rnd(&r)};
        size_t n = mkpkt(pkt, 4, (uint16_t)rnd(&r), (uint16_t)rnd(&r), 0);
        CHECK_EQ(pf_utp_recv(s.n[1].x, &from, pkt, n, s.now + s.n[1].off), 1);
        pf_utp_ctx_stats cs;
        pf_utp_ctx_stats_get(s.n[1].x, &cs);
        CHECK(cs.conns <= 16);
    }
    CHECK_EQ(s.n[1].accepted, 16);
    CHECK(s.n[1].written > 0);
    sim_run(&s, s.now + 11 * SEC, NULL); /* unconfirmed: connect_timeout_ms */
    /* to the spoofed addresses: 16 STATEs and rate-limited RESETs, no data */
    printf("  5000 spoofed SYNs: %llu packets sent back\n", (unsigned long long)s.to_nowhere);
    CHECK(s.to_nowhere <= 16 + 100);
    CHECK_EQ(s.n[1].closed, 16);
    CHECK_EQ(s.n[1].err, PF_ERR_TIMEOUT);
    pf_utp_ctx_stats cs;
    pf_utp_ctx_stats_get(s.n[1].x, &cs);
    CHECK_EQ(cs.conns, 0);
    CHECK(cs.resets_sent <= 100); /* rate-limited answers to the rest */
    /* and a real peer gets in again */
    s.n[1].c = NULL;
    s.n[1].written = 0;
    start_transfer(&s, 1000, 1000);
    sim_run(&s, s.now + 5 * SEC, both_done);
    CHECK_EQ(s.n[1].received, 1000);
    CHECK_EQ(s.n[0].received, 1000);
    sim_free(&s);
}

TEST(utp_hostile_input)
{
    sim s;
    sim_init(&s, NULL, NULL, 39);
    pf_utp_ctx *x = s.n[1].x;
    uint64_t now = s.now + s.n[1].off;
    pf_addr from = {.family = 4, .ip = {192, 0, 2, 1}, .port = 1};
    uint8_t b[64];
    /* not uTP: left to the other protocols */
    CHECK_EQ(pf_utp_recv(x, &from, b, 0, now), 0);
    memset(b, 0, sizeof b); /* a BEP 15 reply starts with a zero byte */
    CHECK_EQ(pf_utp_recv(x, &from, b, 20, now), 0);
    CHECK_EQ(pf_utp_recv(x, &from, (const uint8_t *)"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe", 56, now), 0);
    mkpkt(b, 2, 7, 1, 1);
    CHECK_EQ(pf_utp_recv(x, &from, b, 19, now), 0); /* short */
    b[0] = 0x22; /* version 2 */
    CHECK_EQ(pf_utp_recv(x, &from, b, 20, now), 0);
    b[0] = 0x51; /* type 5 */
    CHECK_EQ(pf_utp_recv(x, &from, b, 20, now), 0);
    /* uTP, but a broken extension chain */
    mkpkt(b, 2, 7, 1, 1);
    b[1] = 1;
    b[20] = 0;
    b[21] = 40;
    CHECK_EQ(pf_utp_recv(x, &from, b, 30, now), 1);
    pf_utp_ctx_stats cs;
    pf_utp_ctx_stats_get(x, &cs);
    CHECK_EQ(cs.invalid, 1);
    CHECK_EQ(cs.resets_sent, 0);
    /* a stranger's STATE, DATA, FIN: a RESET each, no state */
    for (int t = 0; t < 3; t++) {
        size_t n = mkpkt(b, t, 7, 1, 1);
        CHECK_EQ(pf_utp_recv(x, &from, b, n, now), 1);
    }
    /* a RESET for nothing: not answered */
    mkpkt(b, 3, 7, 1, 1);
    CHECK_EQ(pf_utp_recv(x, &from, b, 20, now), 1);
    pf_utp_ctx_stats_get(x, &cs);
    CHECK_EQ(cs.conns, 0);
    CHECK_EQ(cs.resets_sent, 3);
    CHECK_EQ(s.to_nowhere, 3);
    /* a flood of them: RESETs at rst_per_sec at most */
    for (int i = 0; i < 1000; i++) {
        size_t n = mkpkt(b, 0, (uint16_t)i, 1, 1);
        pf_utp_recv(x, &from, b, n, now);
    }
    pf_utp_ctx_stats_get(x, &cs);
    CHECK(cs.resets_sent <= 100);
    CHECK_EQ(pf_utp_next_timeout(x, now), UINT64_MAX);
    sim_free(&s);
}

TEST(utp_spoofed_packets)
{
    /* an established connection; an off-path party who knows the ids but
     * not the sequence numbers cannot inject data or reset it */
    sim s;
    sim_init(&s, NULL, NULL, 40);
    link_set(&s.l[0], 10 * MS, 0, 0, 0);
    link_set(&s.l[1], 10 * MS, 0, 0, 0);
    start_transfer(&s, 1000, 0);
    sim_run(&s, s.now + SEC, NULL);
    CHECK_EQ(s.n[1].received, 1000);
    pf_utp_stats st;
    pf_utp_stats_get(s.n[1].c, &st);
    uint8_t b[200];
    pf_utp_ctx *x = s.n[1].x;
    uint64_t now = s.now + s.n[1].off;
    /* B's receive id: A's send id.  Guess ack numbers far from B's. */
    pf_utp_ctx_stats cs0, cs1;
    pf_utp_ctx_stats_get(x, &cs0);
    uint16_t id = 0;
    for (int i = 0; i < 65536; i++) { /* find the id: only the right one is not answered with a RESET */
        size_t n = mkpkt(b, 2, (uint16_t)i, 0, 0);
        pf_utp_ctx_stats a0, a1;
        pf_utp_ctx_stats_get(x, &a0);
        pf_utp_recv(x, &s.n[0].addr, b, n, now + (uint64_t)i * 20 * MS);
        pf_utp_ctx_stats_get(x, &a1);
        if (a1.resets_sent == a0.resets_sent && a1.invalid > a0.invalid) {
            id = (uint16_t)i;
            break;
        }
    }
    (void)id;
    for (int i = 0; i < 8; i++) {
        size_t n = mkpkt(b, 0, id, (uint16_t)(st.ack_nr + 1), (uint16_t)(st.seq_nr + 1000 + i));
        memset(b + n, 'X', 100);
        pf_utp_recv(x, &s.n[0].addr, b, n + 100, now);
        n = mkpkt(b, 3, id, 0, (uint16_t)(st.seq_nr + 5000));
        pf_utp_recv(x, &s.n[0].addr, b, n, now);
    }
    pf_utp_ctx_stats_get(x, &cs1);
    CHECK(cs1.invalid >= cs0.invalid + 16);
    CHECK_EQ(s.n[1].received, 1000); /* nothing injected */
    CHECK_EQ(s.n[1].closed, 0);      /* not reset */
    sim_free(&s);
}

TEST(utp_nagle_and_acks)
{
    sim s;
    sim_init(&s, NULL, NULL, 41);
    link_set(&s.l[0], 10 * MS, 10e6, 100 * MS, 0);
    link_set(&s.l[1], 10 * MS, 10e6, 100 * MS, 0);
    start_transfer(&s, 0, 0);
    sim_run(&s, s.now + SEC, NULL);
    CHECK_EQ(s.n[0].connected, 1);
    uint64_t p0 = s.n[0].sent_pkts;
    /* 2000 writes of 10 bytes, as fast as the application makes them */
    for (int i = 0; i < 2000; i++) {
        uint8_t m[10];
        for (int k = 0; k < 10; k++) m[k] = pattern(0, (uint64_t)i * 10 + (uint64_t)k);
        CHECK_EQ(pf_utp_write(s.n[0].c, m, 10, s.now), 10);
    }
    s.n[1].expect = 20000;
    sim_run(&s, s.now + 5 * SEC, both_done);
    CHECK_EQ(s.n[1].received, 20000);
    CHECK_EQ(s.n[1].bad, 0);
    uint64_t pkts = s.n[0].sent_pkts - p0;
    printf("  2000 writes of 10 bytes: %llu packets\n", (unsigned long long)pkts);
    CHECK(pkts <= 20); /* one small packet, then full ones */
    /* delayed ACKs: a bulk transfer one way is acked about every 2 packets */
    uint64_t a0 = s.n[0].sent_pkts, b0 = s.n[1].sent_pkts;
    s.n[0].to_send = 20000 + 3000000;
    s.n[0].written = 20000;
    s.n[1].expect = 20000 + 3000000;
    pump(&s.n[0]);
    sim_run(&s, s.now + 30 * SEC, both_done);
    CHECK_EQ(s.n[1].received, 3020000);
    double ratio = (double)(s.n[1].sent_pkts - b0) / (double)(s.n[0].sent_pkts - a0);
    printf("  bulk: %llu data packets, %llu ACKs (%.2f per packet)\n", (unsigned long long)(s.n[0].sent_pkts - a0),
           (unsigned long long)(s.n[1].sent_pkts - b0), ratio);
    CHECK(ratio > 0.4 && ratio < 0.6);
    sim_free(&s);
}

/* A user whose datagram queue is short (can_send): a window's burst waits
 * in uTP for pf_utp_flush instead of being sent into a full queue and
 * lost, so a transfer on a lossless path sees no loss at all. */
TEST(utp_can_send_paces_bursts)
{
    sim s;
    sim_init(&s, NULL, NULL, 43);
    link_set(&s.l[0], 5 * MS, 0, 0, 0); /* no bottleneck: the window opens wide */
    link_set(&s.l[1], 5 * MS, 0, 0, 0);
    s.n[0].qlimit = 16;
    check_transfer(&s, 8000000, 0, 60 * SEC, "a 16-datagram queue");
    CHECK_EQ(s.n[1].received, 8000000);
    CHECK_EQ(s.n[1].bad, 0);
    printf("  most datagrams queued at once: %u (limit 16), %llu flushes; loss events %llu, retransmits %llu\n",
           s.n[0].queued_max, (unsigned long long)s.n[0].flushes, (unsigned long long)s.n[0].last.loss_events,
           (unsigned long long)s.n[0].last.retransmits);
    /* data stops at the limit; an ACK or a FIN may still go past it */
    CHECK(s.n[0].queued_max <= 16 + 4);
    CHECK(s.n[0].flushes > 0);
    CHECK_EQ(s.n[0].last.loss_events, 0);
    CHECK_EQ(s.n[0].last.retransmits, 0);
    sim_free(&s);
}

/* notsent_lowat holds what the user has written and uTP has not yet put
 * in a packet to the setting, as TCP_NOTSENT_LOWAT: on a 1 Mbit/s uplink
 * with a deep buffer the bytes written ahead of the wire (which the user
 * can no longer cancel) stay within the setting plus LEDBAT's window,
 * where without it the whole 1 MiB send buffer fills (8 s of data); the
 * transfer takes no longer. */
static uint64_t g_backlog_max;
static int sample_backlog(sim *s)
{
    uint64_t b = s->n[0].written - s->n[1].received;
    if (b > g_backlog_max) g_backlog_max = b;
    return both_closed(s);
}

TEST(utp_notsent_lowat_bounds_backlog)
{
    double took[2] = {0, 0};
    for (int low = 0; low < 2; low++) {
        pf_utp_settings set;
        pf_utp_settings_default(&set);
        set.notsent_lowat = low ? 16384 : 0;
        sim s;
        sim_init(&s, &set, NULL, 47);
        link_set(&s.l[0], 10 * MS, 1e6, 500 * MS, 0);
        link_set(&s.l[1], 10 * MS, 1e6, 500 * MS, 0);
        g_backlog_max = 0;
        start_transfer(&s, 1000000, 0);
        s.n[0].shut_when_written = s.n[1].shut_when_written = 1;
        sim_run(&s, s.now + 60 * SEC, sample_backlog);
        CHECK_EQ(s.n[1].received, 1000000);
        CHECK_EQ(s.n[1].bad, 0);
        took[low] = (double)(s.n[1].done_at - T0) / 1e9;
        printf("  notsent_lowat %u: written ahead of the receiver at most %llu bytes, 1 MB in %.2f s\n",
               set.notsent_lowat, (unsigned long long)g_backlog_max, took[low]);
        if (low)
            CHECK(g_backlog_max <= 16384 + 48 * 1024);
        else
            CHECK(g_backlog_max >= 512 * 1024);
        sim_free(&s);
    }
    CHECK(took[1] <= took[0] * 1.05);
}

TEST(utp_keepalive)
{
    sim s;
    sim_init(&s, NULL, NULL, 42);
    link_set(&s.l[0], 10 * MS, 0, 0, 0);
    link_set(&s.l[1], 10 * MS, 0, 0, 0);
    start_transfer(&s, 10, 10);
    sim_run(&s, s.now + SEC, NULL);
    uint64_t a0 = s.n[0].sent_pkts;
    sim_run(&s, s.now + 300 * SEC, NULL);
    uint64_t k = s.n[0].sent_pkts - a0;
    CHECK(k >= 9 && k <= 11); /* one every 29 s */
    CHECK_EQ(s.n[0].closed + s.n[1].closed, 0);
    CHECK(s.n[0].c && s.n[1].c);
    sim_free(&s);
}

TEST(utp_settings)
{
    pf_utp_settings set;
    pf_utp_settings_default(&set);
    CHECK_EQ(set.target_delay_us, 100000);
    pf_utp_ctx *x = pf_utp_ctx_new(NULL, &set, &cbs, NULL);
    CHECK(x != NULL);
    pf_utp_ctx_free(x);
    pf_utp_settings bad = set;
    bad.mtu = 100;
    CHECK(pf_utp_ctx_new(NULL, &bad, &cbs, NULL) == NULL);
    bad = set;
    bad.target_delay_us = 0;
    CHECK(pf_utp_ctx_new(NULL, &bad, &cbs, NULL) == NULL);
    bad = set;
    bad.max_conns = 0;
    CHECK(pf_utp_ctx_new(NULL, &bad, &cbs, NULL) == NULL);
    pf_utp_callbacks nocb = cbs;
    nocb.closed = NULL;
    CHECK(pf_utp_ctx_new(NULL, &set, &nocb, NULL) == NULL);
    pf_utp_ctx_free(NULL);
}

/* An allocator that counts, and fails its k-th allocation. */
typedef struct cmem {
    long live, n, fail_at;
} cmem;
static void *cm_malloc(size_t n, void *ud)
{
    cmem *m = ud;
    if (++m->n == m->fail_at) return NULL;
    void *p = malloc(n);
    if (p) m->live++;
    return p;
}
static void *cm_calloc(size_t k, size_t n, void *ud)
{
    cmem *m = ud;
    if (++m->n == m->fail_at) return NULL;
    void *p = calloc(k, n);
    if (p) m->live++;
    return p;
}
static void *cm_realloc(void *p, size_t n, void *ud)
{
    cmem *m = ud;
    if (++m->n == m->fail_at) return NULL;
    void *q = realloc(p, n);
    if (q && !p) m->live++;
    return q;
}
static void cm_free(void *p, void *ud)
{
    cmem *m = ud;
    if (p) m->live--;
    free(p);
}

TEST(utp_alloc_failures)
{
    long total = 0;
    for (long k = 0;; k++) {
        cmem cm = {.fail_at = k};
        pf_mem mem = {cm_malloc, cm_calloc, cm_realloc, cm_free, &cm};
        sim s;
        sim_init_mem(&s, NULL, NULL, 43, &mem);
        link_set(&s.l[0], 10 * MS, 0, 0, 0.05);
        link_set(&s.l[1], 10 * MS, 0, 0, 0.05);
        s.l[0].reorder = s.l[1].reorder = 0.2;
        s.l[0].reorder_ns = s.l[1].reorder_ns = 5 * MS;
        if (s.n[0].x && s.n[1].x) {
            start_transfer(&s, 200000, 100000);
            s.n[0].shut_when_written = s.n[1].shut_when_written = 1;
            sim_run(&s, s.now + 120 * SEC, both_closed);
            if (k == 0) {
                CHECK_EQ(s.n[1].received, 200000);
                CHECK_EQ(s.n[0].received, 100000);
            }
        }
        int seen0 = s.n[0].c || s.n[0].closed || s.n[0].connected;
        sim_free(&s);
        CHECK_EQ(cm.live, 0); /* everything freed */
        CHECK(!seen0 || s.n[0].closed == 1);
        CHECK(s.n[1].closed == s.n[1].accepted);
        if (k == 0) total = cm.n;
        if (k >= total) break;
    }
    printf("  %ld allocations, each failed in turn\n", total);
}

TEST(utp_ledbat_clock_drift)
{
    /* the peer's clock runs 100 ppm fast (slow): its timestamps drift by
     * 6 ms a minute, which the one-way delays carry */
    double qd, util, share, after;
    for (int sign = -1; sign <= 1; sign += 2) {
        g_skew = sign * 1e-4;
        ledbat_run(2e6, 500 * MS, 100000, 0, 0, 600, &qd, &util, &share, &after);
        CHECK(qd > 70 && qd < 110);
        CHECK(util > 0.85);
    }
    g_skew = 0;
}

TEST(utp_ledbat_latecomer)
{
    /* a second uTP flow joins a bottleneck the first one keeps at its
     * target: without slowdowns it would take that queue for its base
     * and push the delay to twice the target, and starve the first */
    pf_utp_settings set;
    pf_utp_settings_default(&set);
    for (int sd = 1; sd >= 0; sd--) {
        set.slowdown = (uint8_t)sd;
        sim s;
        sim_init(&s, &set, &set, 51);
        node_init(&s, 2, &set, 51, NULL);
        node_init(&s, 3, &set, 51, NULL);
        link_set(&s.l[0], 20 * MS, 4e6, 1000 * MS, 0);
        link_set(&s.l[1], 20 * MS, 0, 0, 0);
        s.ping_every = 100 * MS;
        uint64_t t0 = s.now;
        start_pair(&s, 0, (uint64_t)1 << 40, 0);
        s.n[1].expect = 0;
        sim_run(&s, t0 + 60 * SEC, NULL);
        start_pair(&s, 2, (uint64_t)1 << 40, 0);
        s.n[3].expect = 0;
        sim_run(&s, t0 + 120 * SEC, NULL);
        s.ping_from = s.now;
        uint64_t a0 = s.n[1].received, b0 = s.n[3].received;
        sim_run(&s, t0 + 180 * SEC, NULL);
        double cap = 4e6 / 8 * 60, a = (double)(s.n[1].received - a0) / cap, b = (double)(s.n[3].received - b0) / cap;
        double qd = s.ping_sum / (double)s.ping_n / 1e6;
        printf("  slowdowns %s: latecomer joined at 60 s; 120-180 s: queueing delay %.1f ms, first %.0f%%, "
               "latecomer %.0f%% of the link\n", sd ? "on" : "off", qd, 100 * a, 100 * b);
        if (sd) {
            CHECK(qd < 130);
            CHECK(a + b > 0.85);
            CHECK(a > 0.2 && b > 0.2);
        }
        sim_free(&s);
    }
}

TEST(utp_idle_restart)
{
    /* a large window left from a bulk transfer is not spent as one burst
     * after an idle spell: it halves per RTO of idleness (RFC 7661) */
    sim s;
    sim_init(&s, NULL, NULL, 44);
    link_set(&s.l[0], 20 * MS, 10e6, 500 * MS, 0);
    link_set(&s.l[1], 20 * MS, 0, 0, 0);
    start_transfer(&s, 5000000, 0);
    sim_run(&s, s.now + 60 * SEC, both_done);
    pf_utp_stats st;
    pf_utp_stats_get(s.n[0].c, &st);
    uint32_t before = st.cwnd;
    sim_run(&s, s.now + 3 * SEC, NULL); /* idle */
    s.n[0].to_send += 2000000;
    s.n[1].expect += 2000000;
    pump(&s.n[0]);
    pf_utp_stats_get(s.n[0].c, &st);
    printf("  cwnd %u before 3 s idle, %u after; in flight at once: %u bytes\n", before, st.cwnd, st.flight);
    CHECK(before > 20 * 1380);
    CHECK(st.flight <= before / 16);
    sim_run(&s, s.now + 60 * SEC, both_done);
    CHECK_EQ(s.n[1].received, 7000000);
    CHECK_EQ(s.n[1].bad, 0);
    sim_free(&s);
}

TEST_MAIN(utp_handshake_and_close, utp_handshake_ipv6, utp_transfer_clean, utp_transfer_loss_1, utp_transfer_loss_5, utp_transfer_reorder, utp_throughput, utp_ledbat_target, utp_ledbat_yields, utp_ledbat_clock_drift, utp_ledbat_latecomer, utp_half_close, utp_close_linger,
          utp_peer_vanishes, utp_connect_timeout, utp_reset, utp_refused, utp_max_conns, utp_syn_flood,
          utp_hostile_input, utp_spoofed_packets, utp_nagle_and_acks, utp_can_send_paces_bursts, utp_notsent_lowat_bounds_backlog, utp_idle_restart, utp_keepalive, utp_settings,
          utp_alloc_failures)
