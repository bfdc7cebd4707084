/* Sources (core/sched/source.h): the scheduler decides by deadline, cost
 * and rate, never by kind.
 *  1. A third kind of source, defined in this file alone (a fake "ISP
 *     cache" that holds every piece and is handed blocks like a CDN), is
 *     used by the scheduler by its cost and rate: cheaper than the web
 *     seed, it brings what the CDN would have; too slow for the
 *     deadlines, it is passed over for the web seed.
 *  2. A web seed whose bytes fail their hash is blamed like a peer: it
 *     backs off and is then dropped, an honest peer beside it is never
 *     banned, the player gets the right bytes from the peer, and a read
 *     that waits counts as a stall.
 * Fake clock and in-memory sessions (tests/engine_harness.h). */
#include "engine_harness.h"
#include "test.h"

#include "core/swarm/swarm.h" /* white-box: sources and web seeds */

#define SEC PF_NS_PER_SEC
#define MS PF_NS_PER_MS
#define BR 200000.0 /* media bitrate: 1.6 Mbit/s */
#define PLEN 65536u
#define CDN_URL "http://cdn.test/v/content.bin"

/* ---- a fake kind of source: an "ISP cache" -------------------------------- */
typedef struct fake_src {
    pf_source src;          /* first: the source */
    const uint8_t *data;    /* the content */
    uint64_t rate_bps;      /* what it delivers per second */
    uint64_t latency_ns;
    int reported_rate;      /* 1: tell the scheduler its rate from the
                               start; else from its first delivery on */
    /* Blocks handed to it, served in order: [next, nblk). */
    pf_block_ref blk[4096];
    uint32_t nblk, next;
    uint64_t started; /* when the queue last went from empty to busy */
    uint64_t sent;    /* bytes served since then */
    uint64_t fetches, bytes, misbehaved;
} fake_src;

static int fk_available(const pf_source *s, uint64_t now)
{
    (void)s, (void)now;
    return 1;
}
static int fk_ready(const pf_source *s, uint64_t now)
{
    (void)now;
    const fake_src *f = (const fake_src *)s;
    return f->nblk - f->next < 1024 && f->nblk < 4096 - 256;
}
static int fk_fetch(pf_source *s, const pf_block_ref *b, uint32_t n, uint64_t now)
{
    fake_src *f = (fake_src *)s;
    if (f->nblk + n > 4096) {
        for (uint32_t i = 0; i < n; i++) pf_picker_unclaim(&s->t->picker, b[i].piece, b[i].begin);
        return PF_ERR_EAGAIN;
    }
    if (f->next == f->nblk) {
        f->nblk = f->next = 0;
        f->started = now;
        f->sent = 0;
    }
    memcpy(f->blk + f->nblk, b, n * sizeof *b);
    f->nblk += n;
    f->fetches++;
    return 0;
}
static void fk_give_back(fake_src *f)
{
    for (uint32_t i = f->next; i < f->nblk; i++) pf_picker_unclaim(&f->src.t->picker, f->blk[i].piece, f->blk[i].begin);
    f->nblk = f->next = 0;
}
/* Its run would bring piece later than deadline_s: it gives the rest back
 * (and, like a real source, now knows its rate). */
static uint32_t fk_cancel_late(pf_source *s, uint32_t piece, double d, double h, int trial, uint64_t now)
{
    (void)h, (void)trial;
    fake_src *f = (fake_src *)s;
    uint64_t before = 0;
    int found = 0;
    for (uint32_t i = f->next; i < f->nblk; i++) {
        before += f->blk[i].length;
        if (f->blk[i].piece == piece) found = 1;
    }
    if (!found) return 0;
    double at = (double)before / (double)f->rate_bps;
    f->reported_rate = 1; /* it has been at it a while: measured */
    if (now < f->started + f->latency_ns) at += (double)(f->started + f->latency_ns - now) / 1e9;
    if (at <= d) return 0;
    uint32_t n = f->nblk - f->next;
    fk_give_back(f);
    f->reported_rate = 1;
    return n;
}
static void fk_cancel_all(pf_source *s, uint64_t now)
{
    (void)now;
    fk_give_back((fake_src *)s);
}
static uint32_t fk_inflight(const pf_source *s) { return ((const fake_src *)s)->nblk > ((const fake_src *)s)->next; }
static double fk_rate(const pf_source *s, uint64_t now, uint64_t *lat)
{
    (void)now;
    const fake_src *f = (const fake_src *)s;
    if (lat) *lat = f->reported_rate ? f->latency_ns : 0;
    return f->reported_rate ? (double)f->rate_bps : 0;
}
static void fk_misbehaved(pf_source *s, const char *why, uint64_t now)
{
    (void)why, (void)now;
    ((fake_src *)s)->misbehaved++;
}
static void fk_name(const pf_source *s, char *out, size_t n)
{
    (void)s;
    snprintf(out, n, "cache:fake");
}
static const pf_source_ops fake_ops = {
    .kind = "fakecache",
    .has = NULL,
    .available = fk_available,
    .ready = fk_ready,
    .fetch = fk_fetch,
    .cancel_late = fk_cancel_late,
    .cancel_all = fk_cancel_all,
    .inflight = fk_inflight,
    .rate = fk_rate,
    .misbehaved = fk_misbehaved,
    .name = fk_name,
};

/* Delivers what its rate allows by now, block by block, in order. */
static void fk_pump(fake_src *f, uint64_t now)
{
    if (f->next == f->nblk || now < f->started + f->latency_ns) return;
    double el = (double)(now - f->started - f->latency_ns) / 1e9;
    uint64_t allowed = (uint64_t)(el * (double)f->rate_bps);
    pf_torrent *t = f->src.t;
    while (f->next < f->nblk && f->sent + f->blk[f->next].length <= allowed) {
        const pf_block_ref *b = &f->blk[f->next++];
        uint64_t off = (uint64_t)b->piece * t->mi->piece_length + b->begin;
        pf__torrent_block_in(t, &f->src, b->piece, b->begin, f->data + off, b->length, now);
        f->sent += b->length;
        f->bytes += b->length;
        f->reported_rate = 1; /* measured now */
    }
    if (f->next == f->nblk) f->nblk = f->next = 0;
}

/* A viewer with the CDN (cost 1) and a fake cache of `cost`; plays 20 s
 * of media to the end.  Returns the player's state in *pl. */
typedef struct tier_run {
    hn_content c;
    hn_net *n;
    hn_node *vn;
    hn_tor *v;
    fake_src fk;
    hn_player pl;
} tier_run;

static int tier_setup(tier_run *x, double cost, uint64_t rate_bps, int reported)
{
    memset(x, 0, sizeof *x);
    if (hn_content_make(&x->c, 4000003, PLEN, 301, NULL) != 0) return -1; /* 20 s */
    x->n = hn_new(301);
    x->vn = hn_add_node(x->n, NULL);
    x->vn->cdn.mode = HN_CDN_OK;
    x->vn->cdn.latency_ns = 50 * MS;
    x->vn->cdn.rate_bps = 4 * 1000 * 1000;
    x->v = hn_add_torrent(x->vn, &x->c, HN_EMPTY, NULL);
    if (!x->v || pf_torrent_add_webseed(x->v->t, CDN_URL, 1.0) != 0) return -1;
    if (hn_cdn_add_file(x->n, CDN_URL, x->c.data, x->c.size, 0) != 0) return -1;
    x->fk.src.ops = &fake_ops;
    x->fk.src.cost = cost;
    x->fk.data = x->c.data;
    x->fk.rate_bps = rate_bps;
    x->fk.latency_ns = 20 * MS;
    x->fk.reported_rate = reported;
    if (pf__torrent_add_source(x->v->t, &x->fk.src) != 0) return -1;
    hn_settle(x->n);
    return hn_player_open(&x->pl, x->v, 0, 0, BR, x->c.data);
}

static int tier_play(tier_run *x, uint64_t max_ns)
{
    uint64_t end = x->n->now + max_ns;
    hn_player_step(&x->pl);
    while (!x->pl.done && x->n->now < end) {
        hn_step(x->n);
        fk_pump(&x->fk, x->n->now);
        hn_settle(x->n);
        hn_player_step(&x->pl);
    }
    return x->pl.done;
}

static void tier_free(tier_run *x)
{
    if (x->pl.open) hn_player_close(&x->pl);
    fk_give_back(&x->fk);
    pf__torrent_remove_source(x->v->t, &x->fk.src);
    hn_free(x->n);
    hn_content_free(&x->c);
}

TEST(sources_third_kind_cheaper_takes_the_costly_bytes)
{
    tier_run x;
    CHECK_EQ(tier_setup(&x, 0.2, 4 * 1000 * 1000, 0), 0);
    CHECK(tier_play(&x, 60 * SEC));
    CHECK_EQ(x.pl.mismatches, 0);
    CHECK_EQ(x.pl.bytes_read, x.c.size);
    CHECK_EQ(x.pl.stalls, 0);
    /* The cache is cheaper and keeps up: every costly byte came from it. */
    CHECK(x.fk.bytes >= x.c.size * 9 / 10);
    CHECK_EQ(x.vn->cdn.bytes, 0);
    pf_torrent_stats st;
    pf_torrent_get_stats(x.v->t, &st);
    CHECK_EQ(st.cdn_downloaded, x.c.size); /* paid bytes, whoever's */
    /* The per-source list names it by its kind. */
    pf_source_stats src[4];
    size_t ns = pf_torrent_sources(x.v->t, src, 4);
    int seen = 0;
    for (size_t i = 0; i < ns; i++)
        if (strcmp(src[i].kind, "fakecache") == 0) {
            seen = 1;
            CHECK(src[i].cost > 0.19 && src[i].cost < 0.21);
            CHECK(src[i].downloaded == x.fk.bytes);
        }
    CHECK(seen);
    tier_free(&x);
}

TEST(sources_third_kind_dearer_is_left_alone)
{
    tier_run x;
    CHECK_EQ(tier_setup(&x, 5.0, 4 * 1000 * 1000, 0), 0);
    CHECK(tier_play(&x, 60 * SEC));
    CHECK_EQ(x.pl.mismatches, 0);
    CHECK_EQ(x.pl.stalls, 0);
    CHECK_EQ(x.fk.fetches, 0); /* the web seed is cheaper, and in time */
    CHECK(x.vn->cdn.bytes >= x.c.size);
    tier_free(&x);
}

TEST(sources_cheap_but_slow_leaves_deadlines_to_the_dear)
{
    tier_run x;
    /* A quarter of the bitrate: it cannot keep up with the stream. */
    CHECK_EQ(tier_setup(&x, 0.2, (uint64_t)(BR / 4), 0), 0);
    CHECK(tier_play(&x, 60 * SEC));
    CHECK_EQ(x.pl.mismatches, 0);
    CHECK_EQ(x.pl.stalls, 0); /* the dear CDN made every deadline */
    CHECK(x.vn->cdn.bytes > x.c.size / 2);
    tier_free(&x);
}

/* ---- a web seed that lies ------------------------------------------------ */
TEST(sources_lying_webseed_backs_off_and_the_peer_is_kept)
{
    hn_content c;
    CHECK_EQ(hn_content_make(&c, 4000003, PLEN, 302, NULL), 0);
    uint8_t *bad = malloc(c.size);
    CHECK(bad != NULL);
    memcpy(bad, c.data, c.size);
    for (uint64_t i = 1000; i < c.size; i += 4096) bad[i] ^= 0x5a; /* flipped bits everywhere */
    hn_net *n = hn_new(302);
    hn_node *sn = hn_add_node(n, NULL), *vn = hn_add_node(n, NULL);
    sn->up_bps = 170 * 1000; /* under the bitrate: the CDN is asked again and again */
    vn->cdn.mode = HN_CDN_OK;
    vn->cdn.latency_ns = 30 * MS;
    vn->cdn.rate_bps = 4 * 1000 * 1000;
    hn_tor *seed = hn_add_torrent(sn, &c, HN_FULL, NULL);
    hn_tor *v = hn_add_torrent(vn, &c, HN_EMPTY, NULL);
    CHECK(seed && v);
    CHECK_EQ(pf_torrent_add_webseed(v->t, CDN_URL, 1.0), 0);
    CHECK_EQ(hn_cdn_add_file(n, CDN_URL, bad, c.size, 0), 0);
    hn_settle(n);
    hn_add_peer(v, sn);
    hn_settle(n);
    hn_player pl;
    memset(&pl, 0, sizeof pl);
    CHECK_EQ(hn_player_open(&pl, v, 0, 0, BR, c.data), 0);
    uint64_t end = n->now + 90 * SEC;
    while (!pl.done && n->now < end) {
        hn_step(n);
        hn_player_step(&pl);
    }
    CHECK(pl.done);
    CHECK_EQ(pl.mismatches, 0); /* nothing unverified reached the player */
    /* The honest peer was never banned, and brought the film. */
    pf_torrent_stats st;
    pf_torrent_get_stats(v->t, &st);
    CHECK_EQ(v->t->nbanned, 0);
    CHECK(st.peer_downloaded >= c.size - 8 * (uint64_t)PLEN);
    /* The web seed backed off, then was dropped: a handful of requests,
     * not thousands, and little waste. */
    CHECK(vn->cdn.requests <= 24);
    CHECK(v->t->ws[0]->disabled);
    CHECK(st.wasted <= 40 * (uint64_t)PLEN);
    hn_player_close(&pl);
    hn_free(n);
    free(bad);
    hn_content_free(&c);
}

TEST(sources_lying_webseed_alone_is_not_hammered)
{
    /* No peer at all: every piece from the CDN fails.  It used to be asked
     * again at once, 24,033 requests in 12 s; now it backs off, is
     * dropped, and the reader's wait is a stall. */
    hn_content c;
    CHECK_EQ(hn_content_make(&c, 4000003, PLEN, 304, NULL), 0);
    uint8_t *bad = malloc(c.size);
    CHECK(bad != NULL);
    for (uint64_t i = 0; i < c.size; i++) bad[i] = c.data[(i + 3) % c.size]; /* shifted by 3 bytes */
    hn_net *n = hn_new(304);
    hn_node *vn = hn_add_node(n, NULL);
    vn->cdn.mode = HN_CDN_OK;
    vn->cdn.latency_ns = 30 * MS;
    vn->cdn.rate_bps = 4 * 1000 * 1000;
    hn_tor *v = hn_add_torrent(vn, &c, HN_EMPTY, NULL);
    CHECK(v != NULL);
    CHECK_EQ(pf_torrent_add_webseed(v->t, CDN_URL, 1.0), 0);
    CHECK_EQ(hn_cdn_add_file(n, CDN_URL, bad, c.size, 0), 0);
    hn_settle(n);
    hn_player pl;
    memset(&pl, 0, sizeof pl);
    CHECK_EQ(hn_player_open(&pl, v, 0, 0, BR, c.data), 0);
    uint64_t end = n->now + 60 * SEC;
    while (n->now < end) {
        hn_step(n);
        hn_player_step(&pl);
    }
    CHECK_EQ(pl.bytes_read, 0);
    CHECK(vn->cdn.requests <= 16);
    CHECK(v->t->ws[0]->disabled);
    pf_torrent_stats st;
    pf_torrent_get_stats(v->t, &st);
    CHECK(st.wasted <= 40 * (uint64_t)PLEN);
    hn_player_close(&pl);
    hn_free(n);
    free(bad);
    hn_content_free(&c);
}

TEST(sources_wait_counts_as_stall_whatever_the_cause)
{
    /* A CDN that never answers and no peer: the player's reads wait past
     * the media clock, and that is a stall in the QoE (it once said 0). */
    hn_content c;
    CHECK_EQ(hn_content_make(&c, 4000003, PLEN, 303, NULL), 0);
    hn_net *n = hn_new(303);
    hn_node *vn = hn_add_node(n, NULL);
    vn->cdn.mode = HN_CDN_OK;
    vn->cdn.latency_ns = 30 * MS;
    vn->cdn.rate_bps = 4 * 1000 * 1000;
    hn_tor *v = hn_add_torrent(vn, &c, HN_EMPTY, NULL);
    CHECK(v != NULL);
    CHECK_EQ(pf_torrent_add_webseed(v->t, CDN_URL, 1.0), 0);
    CHECK_EQ(hn_cdn_add_file(n, CDN_URL, c.data, c.size, 0), 0);
    hn_settle(n);
    hn_player pl;
    memset(&pl, 0, sizeof pl);
    CHECK_EQ(hn_player_open(&pl, v, 0, 0, BR, c.data), 0);
    /* Play 3 s, then the CDN hangs for 10 s. */
    uint64_t t1 = n->now + 3 * SEC;
    while (n->now < t1) {
        hn_step(n);
        hn_player_step(&pl);
    }
    vn->cdn.mode = HN_CDN_HANG;
    uint64_t t2 = n->now + 10 * SEC;
    while (n->now < t2) {
        hn_step(n);
        hn_player_step(&pl);
    }
    pf_qoe q;
    CHECK_EQ(pf_torrent_qoe(v->t, 0, n->now, &q), 0);
    CHECK(q.stalls >= 1);
    CHECK(q.stall_s >= 3.0);
    hn_player_close(&pl);
    hn_free(n);
    hn_content_free(&c);
}

TEST_MAIN(sources_third_kind_cheaper_takes_the_costly_bytes, sources_third_kind_dearer_is_left_alone,
          sources_cheap_but_slow_leaves_deadlines_to_the_dear, sources_lying_webseed_backs_off_and_the_peer_is_kept,
          sources_lying_webseed_alone_is_not_hammered,
          sources_wait_counts_as_stall_whatever_the_cause)
