/* Pause/resume, file priorities and removal of a torrent
 * (include/peerflow/session.h), on the in-memory harness with a fake clock
 * (tests/engine_harness.h): real engine sessions trading real bytes. */
#include "engine_harness.h"
#include "test.h"


#define SEC PF_NS_PER_SEC
#define MS PF_NS_PER_MS
#define TRACKER "http://tracker.test/announce"

static void run_for(hn_net *n, uint64_t ns)
{
    uint64_t end = n->now + ns;
    while (n->now < end) hn_step(n);
}

static int pred_have_third(hn_net *n, void *ud)
{
    (void)n;
    hn_tor *t = ud;
    pf_torrent_stats st;
    pf_torrent_get_stats(t->t, &st);
    return st.have >= st.pieces / 3;
}

static int pred_wanted_done(hn_net *n, void *ud)
{
    (void)n;
    hn_tor *t = ud;
    return pf_torrent_wanted_left(t->t) == 0;
}

static uint32_t open_links(hn_net *n, const hn_node *a)
{
    uint32_t k = 0;
    for (size_t i = 0; i < n->nlinks; i++)
        if (!n->links[i]->closed && (n->links[i]->end[0].node == a || n->links[i]->end[1].node == a))
            k++;
    return k;
}

/* Paused: no peer, no byte, no dial, no incoming peer, a "stopped"
 * announce; resumed: "started", the download completes byte-exact. */
TEST(control_pause_resume)
{
    hn_content c;
    CHECK_EQ(hn_content_make(&c, 64 * 16384, 16384, 3, TRACKER), 0);
    hn_net *n = hn_new(3);
    hn_node *a = hn_add_node(n, NULL), *b = hn_add_node(n, NULL);
    hn_use_tracker(a);
    hn_use_tracker(b);
    a->up_bps = 100 * 1024; /* 1 MiB takes ~10 s: time to pause midway */
    hn_tor *seed = hn_add_torrent(a, &c, HN_FULL, NULL);
    hn_tor *leech = hn_add_torrent(b, &c, HN_EMPTY, NULL);
    CHECK(seed && leech);
    CHECK(hn_run_until(n, pred_have_third, leech, 30 * SEC));
    CHECK_EQ(pf_torrent_paused(leech->t), 0);
    uint32_t announces = n->tracker_announces;
    size_t trk_before = n->ntrk;

    CHECK_EQ(pf_torrent_set_paused(leech->t, 1, n->now), 0);
    CHECK_EQ(pf_torrent_set_paused(leech->t, 1, n->now), 0); /* idempotent */
    CHECK_EQ(pf_torrent_paused(leech->t), 1);
    hn_settle(n);
    pf_torrent_stats st0, st1, ss0, ss1;
    pf_torrent_get_stats(leech->t, &st0);
    pf_torrent_get_stats(seed->t, &ss0);
    CHECK_EQ(st0.peers, 0);
    CHECK_EQ(open_links(n, b), 0);
    /* One announce, "stopped": the tracker forgot the leecher. */
    CHECK_EQ(n->tracker_announces, announces + 1);
    CHECK_EQ(n->ntrk, trk_before - 1);
    uint32_t dialed = b->dialed, accepted_a = a->accepted;
    /* The seeder dials the paused leecher: refused at the handshake. */
    hn_add_peer(seed, b);
    run_for(n, 20 * SEC);
    pf_torrent_get_stats(leech->t, &st1);
    pf_torrent_get_stats(seed->t, &ss1);
    CHECK_EQ(st1.have, st0.have);
    CHECK_EQ(st1.downloaded, st0.downloaded);
    CHECK_EQ(ss1.uploaded, ss0.uploaded);
    CHECK_EQ(st1.peers, 0);
    CHECK_EQ(b->dialed, dialed);          /* no dial while paused */
    CHECK_EQ(a->accepted, accepted_a);
    CHECK(b->accepted >= 1);              /* the seeder's dial came in... */
    CHECK_EQ(open_links(n, b), 0);        /* ...and was closed */
    CHECK_EQ(n->tracker_announces, announces + 1); /* silent while paused */
    CHECK(st1.have < st1.pieces);

    CHECK_EQ(pf_torrent_set_paused(leech->t, 0, n->now), 0);
    CHECK_EQ(pf_torrent_paused(leech->t), 0);
    hn_tor *all[] = {leech, NULL};
    CHECK(hn_run_until(n, hn_pred_all_complete, all, 60 * SEC));
    CHECK_MEM(leech->data, c.data, c.size);
    CHECK(n->tracker_announces > announces + 1); /* "started" again */
    pf_torrent_get_stats(leech->t, &st1);
    CHECK_EQ(st1.wasted, 0);
    CHECK_EQ(n->anomalies, 0);
    hn_free(n);
    hn_content_free(&c);
}

/* A paused viewer's web seed: transfers in flight are cancelled, none
 * start while paused, the CDN is used again after the resume. */
TEST(control_pause_cdn)
{
    hn_content c;
    CHECK_EQ(hn_content_make(&c, 2000000, 65536, 5, NULL), 0);
    hn_net *n = hn_new(5);
    hn_node *vn = hn_add_node(n, NULL);
    vn->cdn.mode = HN_CDN_OK;
    vn->cdn.latency_ns = 400 * MS;
    vn->cdn.rate_bps = 200 * 1000;
    hn_tor *v = hn_add_torrent(vn, &c, HN_EMPTY, NULL);
    CHECK(v != NULL);
    CHECK_EQ(pf_torrent_add_webseed(v->t, "http://cdn.test/content.bin", 1.0), 0);
    CHECK_EQ(hn_cdn_add_file(n, "http://cdn.test/content.bin", c.data, c.size, 0), 0);
    hn_settle(n);
    hn_player pl;
    memset(&pl, 0, sizeof pl);
    CHECK_EQ(hn_player_open(&pl, v, 0, 0, 100000, c.data), 0);
    for (int i = 0; i < 4; i++) {
        hn_step(n);
        hn_player_step(&pl);
    }
    CHECK(vn->cdn.requests > 0);
    CHECK(vn->cdn.njobs > 0); /* a GET in flight */
    uint32_t cancels = vn->cdn.cancels;
    CHECK_EQ(pf_torrent_set_paused(v->t, 1, n->now), 0);
    hn_settle(n);
    CHECK(vn->cdn.cancels > cancels);
    CHECK_EQ(vn->cdn.njobs, 0);
    uint32_t reqs = vn->cdn.requests;
    uint64_t read = pl.bytes_read;
    for (int i = 0; i < 40; i++) { /* 10 s */
        hn_step(n);
        hn_player_step(&pl);
    }
    CHECK_EQ(vn->cdn.requests, reqs);
    CHECK(pl.bytes_read - read <= 2 * 65536); /* at most what was verified */
    CHECK_EQ(pf_torrent_set_paused(v->t, 0, n->now), 0);
    for (int i = 0; i < 200 && !pl.done; i++) {
        hn_step(n);
        hn_player_step(&pl);
    }
    CHECK(vn->cdn.requests > reqs);
    CHECK(pl.done);
    CHECK_EQ(pl.mismatches, 0);
    hn_player_close(&pl);
    CHECK_EQ(n->anomalies, 0);
    hn_free(n);
    hn_content_free(&c);
}

/* Skipped files are not fetched (only the pieces they share with wanted
 * ones); the wanted ones complete byte-exact; un-skipping fetches the
 * rest.  Errors for bad arguments and before the metadata. */
TEST(control_file_priorities)
{
    static const char *const paths[] = {"a.bin", "b.bin", "c.bin", "d.bin"};
    /* Odd sizes: files share pieces at both ends. */
    static const uint64_t sizes[] = {100000, 300001, 70000, 250003};
    hn_content c;
    CHECK_EQ(hn_content_make_multi(&c, "set", paths, sizes, 4, 16384, 7, NULL), 0);
    hn_net *n = hn_new(7);
    hn_node *a = hn_add_node(n, NULL), *b = hn_add_node(n, NULL);
    hn_tor *seed = hn_add_torrent(a, &c, HN_FULL, NULL);
    hn_tor *leech = hn_add_torrent(b, &c, HN_EMPTY, NULL);
    CHECK(seed && leech);
    hn_settle(n);
    CHECK_EQ(pf_torrent_set_file_priority(leech->t, 4, 0, n->now), PF_ERR_NOTFOUND);
    CHECK_EQ(pf_torrent_set_file_priority(leech->t, 0, 8, n->now), PF_ERR_INVAL);
    CHECK_EQ(pf_torrent_set_file_priority(leech->t, 0, -1, n->now), PF_ERR_INVAL);
    CHECK_EQ(pf_torrent_file_priority(leech->t, 1), 1);
    CHECK_EQ(pf_torrent_file_priority(leech->t, 9), PF_ERR_NOTFOUND);
    CHECK_EQ(pf_torrent_wanted_left(leech->t), c.num_pieces);
    CHECK_EQ(pf_torrent_set_file_priority(leech->t, 1, 0, n->now), 0);
    CHECK_EQ(pf_torrent_set_file_priority(leech->t, 3, 0, n->now), 0);
    CHECK_EQ(pf_torrent_set_file_priority(leech->t, 2, 5, n->now), 0);
    CHECK_EQ(pf_torrent_file_priority(leech->t, 1), 0);
    CHECK_EQ(pf_torrent_file_priority(leech->t, 2), 5);
    uint32_t plen = c.piece_len;
    /* Wanted pieces: those of a.bin and c.bin. */
    uint64_t off_c = sizes[0] + sizes[1];
    uint32_t want = (uint32_t)((sizes[0] - 1) / plen + 1) +
                    (uint32_t)((off_c + sizes[2] - 1) / plen - off_c / plen + 1);
    CHECK_EQ(pf_torrent_wanted_left(leech->t), want);
    hn_add_peer(leech, a);
    CHECK(hn_run_until(n, pred_wanted_done, leech, 60 * SEC));
    run_for(n, 5 * SEC); /* nothing more comes */
    pf_torrent_stats st;
    pf_torrent_get_stats(leech->t, &st);
    CHECK_EQ(st.have, want);
    CHECK_EQ(leech->complete, 0); /* not every piece: no COMPLETE */
    CHECK_MEM(leech->data, c.data, sizes[0]);
    CHECK_MEM(leech->data + off_c, c.data + off_c, sizes[2]);
    /* A piece wholly inside b.bin was never fetched. */
    uint32_t inside_b = (uint32_t)(sizes[0] / plen) + 2;
    CHECK(!pf_torrent_have_piece(leech->t, inside_b));
    CHECK(st.downloaded <= (uint64_t)want * plen);
    CHECK(st.downloaded < c.size / 2);
    /* Not interested in a seed that has only what we skip. */
    hn_link *l = hn_find_link(n, a, b, 1);
    CHECK(l != NULL);
    /* b.bin wanted again: it comes, and the torrent completes when d.bin
     * is wanted too. */
    CHECK_EQ(pf_torrent_set_file_priority(leech->t, 1, 1, n->now), 0);
    CHECK(pf_torrent_wanted_left(leech->t) > 0);
    CHECK(hn_run_until(n, pred_wanted_done, leech, 60 * SEC));
    CHECK_MEM(leech->data + sizes[0], c.data + sizes[0], sizes[1]);
    CHECK_EQ(leech->complete, 0);
    CHECK_EQ(pf_torrent_set_file_priority(leech->t, 3, 1, n->now), 0);
    hn_tor *all[] = {leech, NULL};
    CHECK(hn_run_until(n, hn_pred_all_complete, all, 60 * SEC));
    CHECK_MEM(leech->data, c.data, c.size);
    pf_torrent_get_stats(leech->t, &st);
    CHECK_EQ(st.wasted, 0);
    CHECK_EQ(n->anomalies, 0);

    /* Before the metadata: nothing to set yet. */
    hn_node *m = hn_add_node(n, NULL);
    hn_tor *mt = hn_add_magnet(m, c.info_hash);
    CHECK(mt != NULL);
    CHECK_EQ(pf_torrent_set_file_priority(mt->t, 0, 0, n->now), PF_ERR_INVAL);
    CHECK_EQ(pf_torrent_file_priority(mt->t, 0), PF_ERR_INVAL);
    CHECK_EQ(pf_torrent_wanted_left(mt->t), UINT32_MAX);
    hn_free(n);
    hn_content_free(&c);
}

/* Removed while a tracker announce (answered late), peer transfers and a
 * check are in flight: freed only once everything came back, events that
 * named it dropped, the session and the other torrent carry on. */
TEST(control_remove_in_flight)
{
    hn_content c, c2;
    CHECK_EQ(hn_content_make(&c, 48 * 16384, 16384, 9, TRACKER), 0);
    CHECK_EQ(hn_content_make(&c2, 8 * 16384, 16384, 10, NULL), 0);
    hn_net *n = hn_new(9);
    hn_node *a = hn_add_node(n, NULL), *b = hn_add_node(n, NULL);
    hn_use_tracker(a);
    hn_use_tracker(b);
    a->up_bps = 100 * 1024;
    hn_tor *seed = hn_add_torrent(a, &c, HN_FULL, NULL);
    hn_tor *leech = hn_add_torrent(b, &c, HN_EMPTY, NULL);
    hn_tor *seed2 = hn_add_torrent(a, &c2, HN_FULL, NULL);
    hn_tor *other = hn_add_torrent(b, &c2, HN_EMPTY, NULL);
    CHECK(seed && leech && seed2 && other);
    CHECK(hn_run_until(n, pred_have_third, leech, 30 * SEC));
    pf_torrent *t = leech->t;
    /* The "stopped" announce will be answered 2 s late. */
    b->http_delay_ns = 2 * SEC;
    pf_torrent_stop(t, n->now);
    pf_torrent_remove(t, n->now);
    pf_torrent_remove(t, n->now); /* idempotent */
    CHECK(pf_torrent_pending(t) > 0);
    CHECK_EQ(pf_session_free_torrent(b->s, t), PF_ERR_EAGAIN);
    hn_settle(n);
    CHECK_EQ(b->nhttp_late, 1);
    CHECK(pf_torrent_pending(t) >= 1); /* the announce */
    CHECK_EQ(pf_session_free_torrent(b->s, t), PF_ERR_EAGAIN);
    uint32_t dialed = b->dialed;
    /* The late answer comes with the steps; then it can go. */
    int freed = 0;
    for (int i = 0; i < 20 && !freed; i++) {
        hn_step(n);
        if (pf_torrent_pending(t) == 0) freed = pf_session_free_torrent(b->s, t) == 0;
    }
    CHECK(freed);
    leech->t = NULL; /* the harness must not touch it any more */
    b->http_delay_ns = 0;
    CHECK_EQ(b->dialed, dialed);
    /* The other torrent on the same session completes, and nothing named
     * the freed one (the harness would report an anomaly, ASan a use
     * after free). */
    hn_add_peer(other, a);
    hn_tor *all[] = {other, NULL};
    CHECK(hn_run_until(n, hn_pred_all_complete, all, 30 * SEC));
    CHECK_MEM(other->data, c2.data, c2.size);
    CHECK_EQ(pf_session_free_torrent(b->s, t), PF_ERR_NOTFOUND);
    CHECK_EQ(pf_torrent_set_paused(other->t, 1, n->now), 0);
    CHECK_EQ(n->anomalies, 0);

    /* Removed in the middle of its check: the check stops, the torrent
     * goes once its hash jobs are back. */
    hn_node *d = hn_add_node(n, NULL);
    hn_tor *chk = hn_add_torrent(d, &c, HN_FULL, NULL); /* check started */
    CHECK(chk != NULL);
    CHECK(pf_torrent_pending(chk->t) > 0);
    pf_torrent_remove(chk->t, n->now);
    hn_settle(n);
    CHECK_EQ(pf_torrent_pending(chk->t), 0);
    CHECK(chk->hashes < c.num_pieces); /* stopped early */
    CHECK_EQ(chk->checked, 0);
    CHECK_EQ(pf_session_free_torrent(d->s, chk->t), 0);
    chk->t = NULL;
    run_for(n, 2 * SEC);
    CHECK_EQ(n->anomalies, 0);

    /* Freed the moment nothing is pending, with its peers' PF_EV_CLOSE
     * still queued: those come out with ev.torrent NULL, nothing else
     * names it. */
    hn_node *e = hn_add_node(n, NULL), *f = hn_add_node(n, NULL);
    e->up_bps = 50 * 1024;
    hn_tor *es = hn_add_torrent(e, &c, HN_FULL, NULL);
    hn_tor *fl = hn_add_torrent(f, &c, HN_EMPTY, NULL);
    CHECK(es && fl);
    hn_add_peer(fl, e);
    CHECK(hn_run_until(n, pred_have_third, fl, 30 * SEC));
    pf_torrent *et = es->t;
    pf_torrent_stats est;
    pf_torrent_get_stats(et, &est);
    CHECK(est.peers >= 1);
    pf_torrent_remove(et, n->now);
    CHECK_EQ(pf_torrent_pending(et), 0);
    CHECK_EQ(pf_session_free_torrent(e->s, et), 0);
    es->t = NULL;
    pf_event ev;
    uint32_t closes = 0, naming = 0;
    while (pf_session_next_event(e->s, &ev)) {
        if (ev.torrent == et) naming++;
        if (ev.type == PF_EV_CLOSE && !ev.torrent) closes++;
        hn__handle(e, &ev);
    }
    CHECK_EQ(naming, 0);
    CHECK(closes >= 1);
    run_for(n, 2 * SEC);
    CHECK_EQ(n->anomalies, 0);
    hn_free(n);
    hn_content_free(&c);
    hn_content_free(&c2);
}

TEST_MAIN(control_pause_resume, control_pause_cdn, control_file_priorities, control_remove_in_flight)
