/* Allocation failure, in turn: every allocation the core makes goes
 * through the session's (or the codec call's) pf_mem.  This test counts
 * them in a clean run of the codecs and of a short two-peer session, then
 * reruns the same work once per allocation, failing that one: nothing may
 * crash, and everything allocated must be freed again (the allocator
 * counts live blocks; ASan+UBSan in CI catch the rest). */
#include "engine_harness.h"
#include "test.h"

#include "core/codec/bencode.h"
#include "core/codec/magnet.h"
#include "core/codec/metainfo.h"
#include "core/codec/tracker_proto.h"

typedef struct failing {
    long count;   /* allocations so far */
    long fail_at; /* this one fails (0: none) */
    long live;    /* blocks allocated and not freed */
    long failed;  /* how many were failed */
} failing;

static int should_fail(failing *f)
{
    f->count++;
    if (f->fail_at && f->count == f->fail_at) {
        f->failed++;
        return 1;
    }
    return 0;
}
static void *f_malloc(size_t n, void *ud)
{
    failing *f = ud;
    if (should_fail(f)) return NULL;
    void *p = malloc(n);
    if (p) f->live++;
    return p;
}
static void *f_calloc(size_t n, size_t sz, void *ud)
{
    failing *f = ud;
    if (should_fail(f)) return NULL;
    void *p = calloc(n, sz);
    if (p) f->live++;
    return p;
}
static void *f_realloc(void *ptr, size_t n, void *ud)
{
    failing *f = ud;
    if (should_fail(f)) return NULL;
    void *p = realloc(ptr, n);
    if (p && !ptr) f->live++;
    return p;
}
static void f_free(void *ptr, void *ud)
{
    failing *f = ud;
    if (ptr) f->live--;
    free(ptr);
}

#define MAGNET                                                                                   \
    "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn=Big+Buck%20Bunny"          \
    "&tr=http://t1/announce&tr=http://t2/announce&ws=http://cdn/x&x.pe=10.0.0.1:6881"
#define ANNOUNCE "d8:intervali60e5:peers12:\x0a\x00\x00\x01\x1a\xe1" "\x0a\x00\x00\x02\x1a\xe1" "e"

/* The codecs: parse a .torrent, an info dict, a magnet, a tracker reply. */
static void run_codecs(const pf_mem *m, const hn_content *c)
{
    pf_metainfo *mi = NULL;
    if (pf_metainfo_parse(c->torrent.data, c->torrent.len, m, &mi) == 0) {
        pf_metainfo *mi2 = NULL;
        if (pf_metainfo_from_info(mi->info_raw, mi->info_len, mi->info_hash, m, &mi2) == 0)
            pf_metainfo_free(mi2);
        pf_metainfo_free(mi);
    }
    pf_magnet *mg = NULL;
    if (pf_magnet_parse(MAGNET, m, &mg) == 0) pf_magnet_free(mg);
    pf_announce_resp r;
    if (pf_announce_resp_parse((const uint8_t *)ANNOUNCE, sizeof ANNOUNCE - 1, m, &r) == 0)
        pf_announce_resp_clear(&r);
    pf_ben_limits lim = {.mem = m};
    pf_ben_doc *d = NULL;
    if (pf_bencode_parse(c->torrent.data, c->torrent.len, 0, &lim, &d, NULL) == 0) pf_ben_doc_free(d);
}

/* A seeder, a leecher and a viewer streaming from both the seeder and a
 * CDN (web seed), all with the failing allocator: the swarm engine, the
 * picker, the scheduler and the web seed code.  Returns 1 if the leecher
 * completed and the viewer played everything, with the right bytes. */
#define CDN_URL "http://cdn.test/v/content.bin"
static int run_session(const pf_mem *m, const hn_content *c)
{
    hn_net *n = hn_new(3);
    pf_session_settings set;
    pf_session_settings_default(&set);
    set.mem = m;
    hn_node *a = hn_add_node(n, &set), *b = hn_add_node(n, &set), *v = hn_add_node(n, &set);
    int ok = 0;
    if (a && b && v) {
        v->cdn.mode = HN_CDN_OK;
        v->cdn.latency_ns = 50 * PF_NS_PER_MS;
        v->cdn.rate_bps = 400 * 1000;
        hn_tor *seed = hn_add_torrent(a, c, HN_FULL, NULL);
        hn_tor *leech = hn_add_torrent(b, c, HN_EMPTY, NULL);
        hn_tor *view = hn_add_torrent(v, c, HN_EMPTY, NULL);
        if (seed && leech && view && pf_torrent_add_webseed(view->t, CDN_URL, 1.0) == 0 &&
            hn_cdn_add_file(n, CDN_URL, c->data, c->size, 0) == 0) {
            hn_settle(n);
            hn_add_peer(leech, a);
            hn_add_peer(view, a);
            hn_player pl;
            memset(&pl, 0, sizeof pl);
            int playing = hn_player_open(&pl, view, 0, 0, 20000.0, c->data) == 0;
            hn_tor *all[] = {leech, NULL};
            uint64_t end = n->now + 30 * PF_NS_PER_SEC;
            while (n->now < end && !(hn_pred_all_complete(n, all) && (!playing || pl.done))) {
                hn_step(n);
                if (playing) hn_player_step(&pl);
            }
            ok = leech->complete && memcmp(leech->data, c->data, c->size) == 0 && playing && pl.done &&
                 pl.mismatches == 0;
            if (playing && pl.open) hn_player_close(&pl);
        }
    }
    hn_free(n);
    return ok;
}

TEST(alloc_fail_each_in_turn)
{
    hn_content c;
    CHECK_EQ(hn_content_make(&c, 6 * 16384 + 100, 16384, 5, "http://tracker.test/announce"), 0);
    failing f = {0};
    pf_mem m = {f_malloc, f_calloc, f_realloc, f_free, &f};
    run_codecs(&m, &c);
    long codec_allocs = f.count;
    CHECK(run_session(&m, &c));
    long total = f.count;
    CHECK_EQ(f.live, 0);
    CHECK(codec_allocs > 10);
    CHECK(total > codec_allocs + 50);
    fprintf(stderr, "alloc: %ld in the codecs, %ld in all; failing each in turn\n", codec_allocs, total);
    for (long k = 1; k <= total; k++) {
        failing g = {.fail_at = k};
        pf_mem gm = {f_malloc, f_calloc, f_realloc, f_free, &g};
        run_codecs(&gm, &c);
        run_session(&gm, &c);
        if (g.live != 0) fprintf(stderr, "allocation %ld failed: %ld blocks leaked\n", k, g.live);
        CHECK_EQ(g.live, 0);
        CHECK_EQ(g.failed, 1);
    }
    hn_content_free(&c);
}

TEST_MAIN(alloc_fail_each_in_turn)
