/* The session's seams: real timers (pf_session_next_timeout), endpoints
 * with a transport, and datagrams in and out.  Fake clock, in-memory
 * sessions (tests/engine_harness.h). */
#include "engine_harness.h"
#include "test.h"

#include "core/swarm/swarm.h" /* white-box: the datagram queue */

#define SEC PF_NS_PER_SEC
#define MS PF_NS_PER_MS

/* Runs node nd's session alone on its own timer for `span` of fake time:
 * each wake-up at pf_session_next_timeout, nothing else happening.
 * Returns the number of wake-ups; *min_gap the shortest gap. */
static uint32_t count_wakeups(hn_net *n, hn_node *nd, uint64_t span, uint64_t *min_gap)
{
    uint64_t end = n->now + span;
    uint32_t wakes = 0;
    *min_gap = UINT64_MAX;
    while (1) {
        uint64_t next = pf_session_next_timeout(nd->s, n->now);
        if (next <= n->now) return UINT32_MAX; /* must move on */
        if (next > end) break;
        if (next - n->now < *min_gap) *min_gap = next - n->now;
        n->now = next;
        pf_session_tick(nd->s, n->now);
        hn_settle(n);
        wakes++;
    }
    n->now = end;
    return wakes;
}

TEST(session_idle_seed_wakes_at_most_once_a_second)
{
    hn_content c;
    CHECK_EQ(hn_content_make(&c, 300000, 32768, 41, NULL), 0);
    hn_net *n = hn_new(41);
    hn_node *sn = hn_add_node(n, NULL);
    hn_tor *seed = hn_add_torrent(sn, &c, HN_FULL, NULL);
    CHECK(seed != NULL);
    hn_settle(n);
    CHECK_EQ(pf_torrent_state(seed->t), PF_TS_SEEDING);
    /* Alone: no peer, no tracker. */
    uint64_t gap;
    uint32_t alone = count_wakeups(n, sn, 60 * SEC, &gap);
    /* With an idle peer connected (handshake, then nothing). */
    hn_raw *r = hn_raw_open(sn);
    CHECK(r && !r->closed);
    uint8_t hs[PF_HANDSHAKE_LEN];
    hn_raw_handshake(hs, c.info_hash, "-XX0001-idlepeer0001", 1);
    CHECK(hn_raw_send(r, hs, sizeof hs) > 0);
    hn_settle(n);
    uint64_t gap2;
    uint32_t with_peer = count_wakeups(n, sn, 60 * SEC, &gap2);
    if (getenv("HN_VERBOSE"))
        fprintf(stderr, "idle seed: %u wake-ups in 60 s alone (min gap %.3f s), %u with an idle peer (%.3f s)\n",
                alone, (double)gap / 1e9, with_peer, (double)gap2 / 1e9);
    CHECK(alone <= 12);     /* every 5 s */
    CHECK(with_peer <= 60); /* at most once a second */
    CHECK(with_peer >= 30); /* but it still runs its timers */
    CHECK(gap2 >= 900 * MS);
    hn_free(n);
    hn_content_free(&c);
}

TEST(session_busy_ticks_four_times_a_second)
{
    hn_content c;
    CHECK_EQ(hn_content_make(&c, 2000000, 32768, 42, NULL), 0);
    hn_net *n = hn_new(42);
    hn_node *a = hn_add_node(n, NULL), *b = hn_add_node(n, NULL);
    a->up_bps = 100 * 1000;
    hn_tor *seed = hn_add_torrent(a, &c, HN_FULL, NULL);
    hn_tor *leech = hn_add_torrent(b, &c, HN_EMPTY, NULL);
    CHECK(seed && leech);
    hn_settle(n);
    hn_add_peer(leech, a);
    hn_settle(n);
    for (int i = 0; i < 8; i++) hn_step(n);
    CHECK(!leech->complete);
    /* Blocks are asked of the seeder: both want the quarter-second tick. */
    CHECK(pf_session_next_timeout(b->s, n->now) <= n->now + 250 * MS);
    CHECK(pf_session_next_timeout(a->s, n->now) <= n->now + 250 * MS);
    hn_free(n);
    hn_content_free(&c);
}

TEST(session_timer_due_soon_wins)
{
    /* A dial due in 100 ms is woken for then, not at the next second. */
    hn_content c;
    CHECK_EQ(hn_content_make(&c, 300000, 32768, 43, NULL), 0);
    hn_net *n = hn_new(43);
    hn_node *a = hn_add_node(n, NULL);
    hn_tor *ht = hn_add_torrent(a, &c, HN_EMPTY, NULL);
    CHECK(ht != NULL);
    hn_settle(n);
    pf_session_tick(a->s, n->now);
    pf_endpoint ep = {.addr = {.family = 4, .ip = {10, 9, 9, 9}, .port = 7000}, .transport = PF_TRANSPORT_TCP};
    pf_torrent_add_peer(ht->t, &ep, n->now); /* dialled at once */
    /* The dial goes out with the endpoint's transport. */
    pf_event ev;
    int dialled = 0;
    while (pf_session_next_event(a->s, &ev))
        if (ev.type == PF_EV_CONNECT) {
            dialled = 1;
            CHECK_EQ(ev.ep.transport, PF_TRANSPORT_TCP);
            CHECK(pf_addr_eq(&ev.ep.addr, &ep.addr));
            pf_peer_closed(ev.peer, n->now); /* refused */
        }
    CHECK(dialled);
    CHECK(ht->t->ncands == 1);
    CHECK_EQ(ht->t->cands[0].transport, PF_TRANSPORT_TCP);
    CHECK_EQ(ht->t->cands[0].connected, 0);
    ht->t->cands[0].next_try = n->now + 100 * MS;
    uint64_t next = pf_session_next_timeout(a->s, n->now);
    CHECK(next <= n->now + 100 * MS);
    CHECK(next >= n->now + 1 * MS);
    hn_free(n);
    hn_content_free(&c);
}

TEST(session_datagrams_in_and_out)
{
    hn_net *n = hn_new(44);
    hn_node *a = hn_add_node(n, NULL), *b = hn_add_node(n, NULL);
    hn_settle(n);
    /* Out: queued, announced once by PF_EV_DATAGRAMS, taken in order. */
    const uint8_t d1[] = "one", d2[] = "second datagram";
    CHECK_EQ(pf__session_send_datagram(a->s, &b->addr, d1, sizeof d1), 0);
    CHECK_EQ(pf__session_send_datagram(a->s, &b->addr, d2, sizeof d2), 0);
    pf_event ev;
    int got = 0;
    while (pf_session_next_event(a->s, &ev)) got += ev.type == PF_EV_DATAGRAMS;
    CHECK_EQ(got, 1);
    uint8_t small[4], buf[PF_MAX_DATAGRAM];
    pf_addr to;
    CHECK_EQ(pf_session_take_datagram(a->s, &to, small, 3), PF_ERR_RANGE); /* stays queued */
    CHECK_EQ(pf_session_take_datagram(a->s, &to, buf, sizeof buf), (long)sizeof d1);
    CHECK(pf_addr_eq(&to, &b->addr));
    CHECK_MEM(buf, d1, sizeof d1);
    CHECK_EQ(pf_session_take_datagram(a->s, &to, buf, sizeof buf), (long)sizeof d2);
    CHECK_EQ(pf_session_take_datagram(a->s, &to, buf, sizeof buf), 0);
    /* Bounded: a full queue drops, as a congested socket would. */
    for (int i = 0; i < PF__DGRAM_QUEUE; i++) CHECK_EQ(pf__session_send_datagram(a->s, &b->addr, d1, 3), 0);
    CHECK_EQ(pf__session_send_datagram(a->s, &b->addr, d1, 3), PF_ERR_LIMIT);
    uint8_t big[PF_MAX_DATAGRAM + 1];
    memset(big, 0, sizeof big);
    CHECK_EQ(pf__session_send_datagram(a->s, &b->addr, big, sizeof big), PF_ERR_INVAL);
    /* Through the harness's virtual UDP: the queue drains to b, where
     * nothing claims them yet (counted, not fatal). */
    hn_settle(n);
    CHECK_EQ(a->dgrams_out, PF__DGRAM_QUEUE);
    /* In: garbage never hurts. */
    CHECK_EQ(pf_session_recv_datagram(b->s, &a->addr, NULL, 0, n->now), PF_ERR_PARSE);
    CHECK_EQ(pf_session_recv_datagram(b->s, &a->addr, big, 20, n->now), PF_ERR_UNSUPPORTED);
    /* ...and all of it is counted, in public. */
    pf_datagram_stats ds;
    pf_session_datagram_stats(a->s, &ds);
    CHECK(ds.received == 0 && ds.dropped_in == 0 && ds.utp_invalid == 0);
    CHECK_EQ(ds.dropped_out, 1);
    pf_session_datagram_stats(b->s, &ds);
    CHECK_EQ(ds.received, PF__DGRAM_QUEUE + 2);
    CHECK_EQ(ds.dropped_in, PF__DGRAM_QUEUE + 2);
    CHECK(ds.dropped_out == 0 && ds.utp_invalid == 0);
    CHECK_EQ(n->anomalies, 0);
    hn_free(n);
}

TEST(session_endpoint_of_a_peer)
{
    hn_content c;
    CHECK_EQ(hn_content_make(&c, 300000, 32768, 45, NULL), 0);
    hn_net *n = hn_new(45);
    hn_node *a = hn_add_node(n, NULL);
    hn_tor *ht = hn_add_torrent(a, &c, HN_FULL, NULL);
    CHECK(ht != NULL);
    hn_settle(n);
    hn_raw *r = hn_raw_open(a);
    CHECK(r && r->end.p);
    pf_endpoint ep;
    pf_peer_endpoint(r->end.p, &ep);
    CHECK_EQ(ep.transport, PF_TRANSPORT_TCP);
    CHECK(pf_addr_eq(&ep.addr, pf_peer_addr(r->end.p)));
    hn_free(n);
    hn_content_free(&c);
}

/* Piece buffers the viewer holds: pieces in progress, cached pieces and
 * verified pieces waiting for the disk. */
static uint64_t buffers_held(const pf_torrent *t)
{
    uint64_t n = (uint64_t)t->picker.npartials * t->mi->piece_length + t->write_backlog;
    for (uint32_t i = 0; i < t->ncache; i++)
        if (t->cache[i].pb) n += t->mi->piece_length;
    return n;
}

TEST(session_memory_limit_bounds_piece_buffers)
{
    /* 128 KiB pieces, a 1 MiB limit: 4 pieces in progress, 2 cached, 256
     * KiB of write backlog at most; the stream still plays every byte. */
    hn_content c;
    CHECK_EQ(hn_content_make(&c, 6 * 1024 * 1024, 131072, 46, NULL), 0);
    hn_net *n = hn_new(46);
    hn_node *sn = hn_add_node(n, NULL);
    pf_session_settings set;
    pf_session_settings_default(&set);
    set.memory_limit = 1024 * 1024;
    hn_node *vn = hn_add_node(n, &set);
    sn->up_bps = 2 * 1000 * 1000;
    vn->cdn.mode = HN_CDN_OK;
    vn->cdn.latency_ns = 30 * MS;
    vn->cdn.rate_bps = 2 * 1000 * 1000;
    hn_tor *seed = hn_add_torrent(sn, &c, HN_FULL, NULL);
    hn_tor *v = hn_add_torrent(vn, &c, HN_EMPTY, NULL);
    CHECK(seed && v);
    CHECK_EQ(v->t->picker.hard_max_partials, 4);
    CHECK_EQ(v->t->ncache, 2);
    CHECK_EQ(pf_torrent_add_webseed(v->t, "http://cdn.test/v/content.bin", 1.0), 0);
    CHECK_EQ(hn_cdn_add_file(n, "http://cdn.test/v/content.bin", c.data, c.size, 0), 0);
    hn_settle(n);
    hn_add_peer(v, sn);
    hn_player pl;
    memset(&pl, 0, sizeof pl);
    CHECK_EQ(hn_player_open(&pl, v, 0, 0, 400000.0, c.data), 0);
    uint64_t peak = 0, end = n->now + 60 * SEC;
    while (!pl.done && n->now < end) {
        hn_step(n);
        hn_player_step(&pl);
        uint64_t h = buffers_held(v->t);
        if (h > peak) peak = h;
    }
    if (getenv("HN_VERBOSE")) fprintf(stderr, "memory limit 1 MiB: peak piece buffers %llu B\n", (unsigned long long)peak);
    CHECK(pl.done);
    CHECK_EQ(pl.mismatches, 0);
    CHECK(peak <= 1024 * 1024);
    /* Idle: the cache lets its pieces go after 30 s. */
    hn_player_close(&pl);
    for (int i = 0; i < 140; i++) hn_step(n);
    uint32_t cached = 0;
    for (uint32_t i = 0; i < v->t->ncache; i++) cached += v->t->cache[i].pb != NULL;
    CHECK_EQ(cached, 0);
    hn_free(n);
    hn_content_free(&c);
}

/* Settings grow without breaking callers: a caller built against an older,
 * shorter pf_session_settings gets the defaults for the fields it does not
 * know, and the defaults function writes only its own size. */
TEST(session_settings_older_size)
{
    union {
        pf_session_settings s;
        unsigned char raw[sizeof(pf_session_settings)];
    } u;
    memset(u.raw, 0xff, sizeof u.raw);
    size_t old = offsetof(pf_session_settings, mem) + sizeof u.s.mem;
    pf_session_settings_init(&u.s, old);
    CHECK(u.s.size == old);
    CHECK(u.raw[old] == 0xff); /* kept to its size */
    u.s.max_peers = 7;
    pf_session *s = NULL;
    CHECK_EQ(pf_session_new(&u.s, &s), 0);
    CHECK_EQ(s->set.max_peers, 7);
    CHECK_EQ(s->set.transports, PF_TRANSPORTS_TCP); /* past the caller's size: defaults, */
    CHECK_EQ(s->set.memory_limit, 0);  /* not the 0xff bytes after it */
    CHECK_EQ(s->set.qoe_report_ms, 0);
    pf_session_free(s);

    pf_session_settings z;
    memset(&z, 0, sizeof z); /* never filled: size 0 */
    CHECK_EQ(pf_session_new(&z, &s), PF_ERR_INVAL);
    CHECK_EQ(pf_session_new(NULL, &s), 0); /* NULL: every default */
    CHECK_EQ(s->set.max_peers, 50);
    pf_session_free(s);
}

/* A candidate the dialler has given up on (PF__DIAL_GIVE_UP refusals in a
 * row) is no reason to wake: once due it asked for a tick every
 * millisecond for as long as the torrent had room for peers (found by the
 * simulator: 40 % of its ticks at target-100k's 100 viewers). */
TEST(session_given_up_candidate_does_not_wake)
{
    hn_content c;
    CHECK_EQ(hn_content_make(&c, 300000, 32768, 45, NULL), 0);
    hn_net *n = hn_new(45);
    hn_node *a = hn_add_node(n, NULL);
    hn_tor *seed = hn_add_torrent(a, &c, HN_FULL, NULL);
    CHECK(seed != NULL);
    hn_settle(n);
    CHECK_EQ(pf_torrent_state(seed->t), PF_TS_SEEDING);
    pf_endpoint ep = {.addr = {.family = 4, .ip = {10, 9, 9, 8}, .port = 7001}, .transport = PF_TRANSPORT_TCP};
    pf_torrent_add_peer(seed->t, &ep, n->now);
    /* Every dial refused, until the dialler gives up. */
    for (int round = 0; round < 10000 && seed->t->ncands == 1 && seed->t->cands[0].fails < PF__DIAL_GIVE_UP; round++) {
        pf_event ev;
        while (pf_session_next_event(a->s, &ev))
            if (ev.type == PF_EV_CONNECT) pf_peer_closed(ev.peer, n->now);
        uint64_t next = pf_session_next_timeout(a->s, n->now);
        n->now = next > n->now ? next : n->now + MS;
        pf_session_tick(a->s, n->now);
    }
    CHECK_EQ(seed->t->ncands, 1);
    CHECK(seed->t->cands[0].fails >= PF__DIAL_GIVE_UP);
    { /* drain what the last tick queued */
        pf_event ev;
        while (pf_session_next_event(a->s, &ev))
            if (ev.type == PF_EV_CONNECT) pf_peer_closed(ev.peer, n->now);
    }
    uint64_t gap;
    uint32_t wakes = count_wakeups(n, a, 60 * SEC, &gap);
    if (getenv("HN_VERBOSE")) fprintf(stderr, "seed with a given-up candidate: %u wake-ups in 60 s\n", wakes);
    CHECK(wakes <= 12); /* as alone: every 5 s */
    hn_free(n);
    hn_content_free(&c);
}

TEST_MAIN(session_memory_limit_bounds_piece_buffers, session_given_up_candidate_does_not_wake, session_idle_seed_wakes_at_most_once_a_second, session_busy_ticks_four_times_a_second,
          session_timer_due_soon_wins, session_datagrams_in_and_out, session_endpoint_of_a_peer,
          session_settings_older_size)
