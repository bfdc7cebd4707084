/* The libuv client as an application embeds it: on the application's
 * loop, with no signal handler installed and no process-wide setting
 * changed, work posted from other threads (pf_client_post), a stop that
 * leaves nothing of the client active on the loop, settings from a program
 * built against an older (shorter) pf_client_settings. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "core/util/buf.h"
#include "net/create.h"
#include "peerflow/client.h"
#include "test.h"

#define NPOSTS 2000

typedef struct app {
    uv_loop_t loop;
    uv_timer_t own;      /* the application's own handle */
    pf_client *c;
    pthread_t loop_thread;
    int wrong_thread;    /* a post or event ran off the loop thread */
    int next;            /* posts run so far, in order */
    int out_of_order;
    int stopped;         /* PF_CLIENT_STOPPED seen */
    int own_fired;
} app;

typedef struct post_arg {
    app *a;
    int i;
} post_arg;

static post_arg g_args[NPOSTS];

static void on_event(void *ud, pf_client *c, int ev, pf_client_torrent *t, int err)
{
    (void)c;
    (void)t;
    (void)err;
    app *a = ud;
    if (!pthread_equal(pthread_self(), a->loop_thread)) a->wrong_thread = 1;
    if (ev == PF_CLIENT_STOPPED) {
        a->stopped = 1;
        /* The application ends its own handles; the loop must then end. */
        uv_timer_stop(&a->own);
    }
}

static void count_post(pf_client *c, void *ud)
{
    post_arg *p = ud;
    if (c != p->a->c || !pthread_equal(pthread_self(), p->a->loop_thread)) p->a->wrong_thread = 1;
    if (p->i != p->a->next) p->a->out_of_order = 1;
    p->a->next++;
}

static void stop_post(pf_client *c, void *ud)
{
    (void)ud;
    pf_client_stop(c);
}

static void *poster(void *arg)
{
    app *a = arg;
    for (int i = 0; i < NPOSTS; i++) {
        g_args[i].a = a;
        g_args[i].i = i;
        while (pf_client_post(a->c, count_post, &g_args[i]) != 0) usleep(100);
        if (i % 100 == 0) usleep(200); /* interleave with the loop */
    }
    pf_client_post(a->c, stop_post, NULL);
    return NULL;
}

static void own_tick(uv_timer_t *t)
{
    app *a = t->data;
    a->own_fired++;
}

static int same_action(int sig, const struct sigaction *before)
{
    struct sigaction now;
    sigaction(sig, NULL, &now);
    /* The disposition; libcurl's cleanup restores it with SA_RESTORER
     * added to the flags, which changes nothing. */
    return now.sa_handler == before->sa_handler;
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "test_client: the loop did not end (a client handle stayed active)\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(3);
}

TEST(app_loop_posts_and_stop)
{
    struct sigaction pipe0, int0, term0;
    sigaction(SIGPIPE, NULL, &pipe0);
    sigaction(SIGINT, NULL, &int0);
    sigaction(SIGTERM, NULL, &term0);

    static app a;
    memset(&a, 0, sizeof a);
    CHECK(uv_loop_init(&a.loop) == 0);
    a.loop_thread = pthread_self();
    uv_timer_init(&a.loop, &a.own);
    a.own.data = &a;
    uv_timer_start(&a.own, own_tick, 0, 1);

    pf_client_settings s;
    pf_client_settings_default(&s);
    CHECK(s.size == sizeof s);
    s.loop = &a.loop;
    s.bind_addr = "127.0.0.1";
    s.on_event = on_event;
    s.event_ud = &a;
    CHECK_EQ(pf_client_new(&s, &a.c), 0);
    CHECK(pf_client_loop(a.c) == &a.loop);
    CHECK(pf_client_listen_port(a.c) > 0);
    /* Nothing process-wide changed. */
    CHECK(same_action(SIGPIPE, &pipe0));
    CHECK(same_action(SIGINT, &int0));
    CHECK(same_action(SIGTERM, &term0));

    pthread_t th;
    CHECK(pthread_create(&th, NULL, poster, &a) == 0);
    signal(SIGALRM, on_alarm);
    alarm(30);
    /* The application runs its own loop; it ends once the client stopped
     * and the application stopped its timer. */
    uv_run(&a.loop, UV_RUN_DEFAULT);
    alarm(0);
    pthread_join(th, NULL);
    CHECK(a.stopped);
    CHECK_EQ(a.next, NPOSTS);
    CHECK(!a.out_of_order);
    CHECK(!a.wrong_thread);
    CHECK(a.own_fired > 0);
    pf_client_free(a.c);
    /* The application's handle is still the application's. */
    CHECK(!uv_is_closing((uv_handle_t *)&a.own));
    uv_timer_start(&a.own, own_tick, 1, 0);
    int before = a.own_fired;
    uv_run(&a.loop, UV_RUN_DEFAULT);
    CHECK_EQ(a.own_fired, before + 1);
    uv_close((uv_handle_t *)&a.own, NULL);
    uv_run(&a.loop, UV_RUN_DEFAULT);
    CHECK_EQ(uv_loop_close(&a.loop), 0); /* no handle of the client left */
    CHECK(same_action(SIGPIPE, &pipe0));
}

static void *stopper(void *arg)
{
    usleep(50000);
    pf_client_post(arg, stop_post, NULL);
    return NULL;
}

/* No loop given: the client makes one, pf_client_run drives it. */
TEST(own_loop_run_until_stop)
{
    pf_client_settings s;
    pf_client_settings_default(&s);
    s.listen = 0;
    pf_client *c = NULL;
    CHECK_EQ(pf_client_new(&s, &c), 0);
    CHECK(pf_client_loop(c) != NULL);
    CHECK_EQ(pf_client_listen_port(c), 0);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, stopper, c) == 0);
    signal(SIGALRM, on_alarm);
    alarm(30);
    CHECK_EQ(pf_client_run(c), 0);
    alarm(0);
    pthread_join(th, NULL);
    pf_client_free(c);
}

static void noop_post(pf_client *c, void *ud)
{
    (void)c;
    (*(int *)ud)++;
}

/* The queue of posts is bounded; what was queued runs. */
TEST(post_bound)
{
    uv_loop_t loop;
    CHECK(uv_loop_init(&loop) == 0);
    pf_client_settings s;
    pf_client_settings_default(&s);
    s.loop = &loop;
    s.listen = 0;
    pf_client *c = NULL;
    CHECK_EQ(pf_client_new(&s, &c), 0);
    int ran = 0;
    for (int i = 0; i < 65536; i++) CHECK_EQ(pf_client_post(c, noop_post, &ran), 0);
    CHECK_EQ(pf_client_post(c, noop_post, &ran), PF_ERR_LIMIT);
    CHECK_EQ(pf_client_post(c, NULL, &ran), PF_ERR_INVAL);
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK_EQ(ran, 65536);
    CHECK_EQ(pf_client_post(c, noop_post, &ran), 0);
    pf_client_free(c); /* the one left is dropped */
    CHECK_EQ(ran, 65536);
    CHECK_EQ(uv_loop_close(&loop), 0);
}

/* A program built against an older, shorter pf_client_settings: the
 * library reads `size` bytes and takes the defaults for the rest (here
 * garbage that must not be read: log is 0xff..., listen_port 65535). */
TEST(settings_older_size)
{
    union {
        pf_client_settings s;
        unsigned char raw[sizeof(pf_client_settings)];
    } u;
    memset(u.raw, 0xff, sizeof u.raw);
    size_t old = offsetof(pf_client_settings, bind_addr) + sizeof u.s.bind_addr;
    pf_client_settings_init(&u.s, old);
    CHECK(u.s.size == old);
    CHECK(u.raw[old] == 0xff); /* the defaults function kept to its size */
    u.s.bind_addr = "127.0.0.1";
    pf_client *c = NULL;
    CHECK_EQ(pf_client_new(&u.s, &c), 0);
    int port = pf_client_listen_port(c);
    CHECK(port > 0 && port != 65535); /* listen (default 1) on any port */
    pf_client_free(c);

    pf_client_settings z;
    memset(&z, 0, sizeof z); /* never filled: size 0 */
    CHECK_EQ(pf_client_new(&z, &c), PF_ERR_INVAL);
}

/* ---- pause, resume, file priorities, removal over loopback ------------- */

#define CT_SIZE (3u << 20)

typedef struct ctl_app {
    uv_loop_t loop;
    uv_timer_t watch;
    pf_client *seed, *leech;
    pf_client_torrent *st, *lt;
    char dir[128], torrent[160];
    int phase, completes, removed;
    uint32_t have_at_pause;
    uint64_t down_at_pause;
    int pause_ticks;
    int failed;
    int peers_while_paused;
    int state_while_paused;
} ctl_app;

static int write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static void ctl_event(void *ud, pf_client *c, int ev, pf_client_torrent *t, int err)
{
    (void)err;
    ctl_app *a = ud;
    if (c != a->leech) return;
    if (ev == PF_CLIENT_COMPLETE) a->completes++;
    if (ev == PF_CLIENT_REMOVED && t == a->lt) a->removed++;
}

/* Drives the scenario from a 50 ms timer of the application. */
static void ctl_watch(uv_timer_t *h)
{
    ctl_app *a = h->data;
    pf_torrent_stats st;
    switch (a->phase) {
    case 0: /* downloading: pause a third of the way */
        pf_client_torrent_stats(a->lt, &st);
        if (st.have < st.pieces / 3) return;
        if (pf_client_torrent_pause(a->lt) != 0) a->failed = 1;
        a->have_at_pause = st.have;
        a->phase = 1;
        return;
    case 1: /* paused for 1.5 s: nothing moves */
        pf_client_torrent_stats(a->lt, &st);
        a->peers_while_paused += st.peers > 0;
        a->state_while_paused = st.state;
        if (!pf_client_torrent_paused(a->lt)) a->failed = 1;
        if (!a->down_at_pause) a->down_at_pause = st.downloaded;
        if (st.downloaded > a->down_at_pause) a->failed = 2;
        if (++a->pause_ticks < 30) return;
        if (pf_client_torrent_resume(a->lt) != 0) a->failed = 3;
        a->phase = 2;
        return;
    case 2: /* resumed: until complete, then removed */
        if (a->completes == 0) return;
        if (pf_client_torrent_remove(a->lt) != 0) a->failed = 4;
        /* Never reaped inside the call: lt is still valid here. */
        if (a->removed) a->failed = 6;
        if (pf_client_torrent_remove(a->lt) != PF_ERR_SHUTDOWN) a->failed = 5;
        a->phase = 3;
        return;
    case 3:
        if (!a->removed) return;
        pf_client_stop(a->seed);
        pf_client_stop(a->leech);
        uv_timer_stop(h);
        a->phase = 4;
        return;
    }
}

TEST(client_pause_resume_remove)
{
    /* The library leaves SIGPIPE alone (app_loop_posts_and_stop checks
     * it); as its header asks of an application, the tests that move
     * bytes between peers ignore it (a peer closed mid-write killed this
     * test once under load). */
    signal(SIGPIPE, SIG_IGN);
    static ctl_app a;
    memset(&a, 0, sizeof a);
    snprintf(a.dir, sizeof a.dir, "/tmp/pf-test-client-XXXXXX");
    CHECK(mkdtemp(a.dir) != NULL);
    char seed_dir[160], leech_dir[160], src[200], copy[200];
    snprintf(seed_dir, sizeof seed_dir, "%s/seed", a.dir);
    snprintf(leech_dir, sizeof leech_dir, "%s/leech", a.dir);
    CHECK(mkdir(seed_dir, 0755) == 0 && mkdir(leech_dir, 0755) == 0);
    snprintf(src, sizeof src, "%s/movie.bin", seed_dir);
    snprintf(copy, sizeof copy, "%s/movie.bin", leech_dir);
    snprintf(a.torrent, sizeof a.torrent, "%s/movie.torrent", a.dir);
    uint8_t *data = malloc(CT_SIZE);
    CHECK(data != NULL);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < CT_SIZE; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        data[i] = (uint8_t)x;
    }
    CHECK(write_bytes(src, data, CT_SIZE) == 0);
    pf_create_opts o;
    memset(&o, 0, sizeof o);
    o.path = src;
    o.piece_length = 64 * 1024;
    pf_buf tb;
    pf_buf_init(&tb);
    char err[256];
    CHECK(pf_torrent_create(&o, &tb, err, sizeof err) == 0);
    CHECK(write_bytes(a.torrent, tb.data, tb.len) == 0);
    pf_buf_free(&tb);

    CHECK(uv_loop_init(&a.loop) == 0);
    pf_client_settings s;
    pf_client_settings_default(&s);
    s.loop = &a.loop;
    s.bind_addr = "127.0.0.1";
    s.on_event = ctl_event;
    s.event_ud = &a;
    CHECK_EQ(pf_client_new(&s, &a.seed), 0);
    CHECK_EQ(pf_client_new(&s, &a.leech), 0);
    pf_client_set_rate_limits(a.seed, 1u << 20, 0); /* ~3 s for the file */
    CHECK_EQ(pf_client_add(a.seed, a.torrent, seed_dir, 1, &a.st), 0);
    CHECK_EQ(pf_client_add(a.leech, a.torrent, leech_dir, 0, &a.lt), 0);
    char hp[64];
    snprintf(hp, sizeof hp, "127.0.0.1:%d", pf_client_listen_port(a.seed));
    CHECK_EQ(pf_client_torrent_add_peer(a.lt, hp), 0);
    CHECK_EQ(pf_client_torrent_file_priority(a.lt, 0), 1);
    CHECK_EQ(pf_client_torrent_set_file_priority(a.lt, 1, 0), PF_ERR_NOTFOUND);
    uv_timer_init(&a.loop, &a.watch);
    a.watch.data = &a;
    uv_timer_start(&a.watch, ctl_watch, 50, 50);
    signal(SIGALRM, on_alarm);
    alarm(60);
    uv_run(&a.loop, UV_RUN_DEFAULT);
    alarm(0);
    CHECK_EQ(a.failed, 0);
    CHECK_EQ(a.phase, 4);
    CHECK_EQ(a.peers_while_paused, 0);
    CHECK_EQ(a.state_while_paused, PF_TS_STOPPED);
    CHECK_EQ(a.completes, 1);
    CHECK_EQ(a.removed, 1);
    pf_client_free(a.seed);
    pf_client_free(a.leech);

    /* The removed torrent left a resume record: added again, it is
     * complete at once. */
    CHECK_EQ(pf_client_new(&s, &a.leech), 0);
    CHECK_EQ(pf_client_add(a.leech, a.torrent, leech_dir, 0, &a.lt), 0);
    pf_torrent_stats st;
    pf_client_torrent_stats(a.lt, &st);
    CHECK_EQ(st.have, st.pieces);
    pf_client_free(a.leech);
    uv_close((uv_handle_t *)&a.watch, NULL);
    uv_run(&a.loop, UV_RUN_DEFAULT);
    CHECK_EQ(uv_loop_close(&a.loop), 0);

    FILE *f = fopen(copy, "rb");
    CHECK(f != NULL);
    uint8_t *got = malloc(CT_SIZE + 1);
    size_t n = got ? fread(got, 1, CT_SIZE + 1, f) : 0;
    fclose(f);
    CHECK_EQ(n, CT_SIZE);
    CHECK_MEM(got, data, CT_SIZE);
    free(got);
    free(data);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", a.dir);
    CHECK(system(cmd) == 0);
}

typedef struct prio_app {
    pf_client *seed, *leech;
    int completes;
} prio_app;

static void prio_event(void *ud, pf_client *c, int ev, pf_client_torrent *t, int err)
{
    (void)t;
    (void)err;
    prio_app *a = ud;
    if (c == a->leech && ev == PF_CLIENT_COMPLETE) {
        a->completes++;
        pf_client_stop(a->seed);
        pf_client_stop(a->leech);
    }
}

/* A folder of two files, the second skipped: PF_CLIENT_COMPLETE comes
 * once the first is there, and the second is (mostly) not fetched. */
TEST(client_file_priority_complete)
{
    char dir[64] = "/tmp/pf-test-prio-XXXXXX", seed[128], leech[128], tor[128], p[200];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(seed, sizeof seed, "%s/seed", dir);
    snprintf(leech, sizeof leech, "%s/leech", dir);
    snprintf(tor, sizeof tor, "%s/set.torrent", dir);
    CHECK(mkdir(seed, 0755) == 0 && mkdir(leech, 0755) == 0);
    snprintf(p, sizeof p, "%s/set", seed);
    CHECK(mkdir(p, 0755) == 0);
    size_t sizes[2] = {1000003, 2000000};
    for (int i = 0; i < 2; i++) {
        uint8_t *d = malloc(sizes[i]);
        CHECK(d != NULL);
        for (size_t k = 0; k < sizes[i]; k++) d[k] = (uint8_t)(k * 131 + (size_t)i * 7 + (k >> 9));
        snprintf(p, sizeof p, "%s/set/%c.bin", seed, 'a' + i);
        int w = write_bytes(p, d, sizes[i]);
        free(d);
        CHECK(w == 0);
    }
    pf_create_opts o;
    memset(&o, 0, sizeof o);
    snprintf(p, sizeof p, "%s/set", seed);
    o.path = p;
    o.piece_length = 64 * 1024;
    pf_buf tb;
    pf_buf_init(&tb);
    char err[256];
    CHECK(pf_torrent_create(&o, &tb, err, sizeof err) == 0);
    CHECK(write_bytes(tor, tb.data, tb.len) == 0);
    pf_buf_free(&tb);

    uv_loop_t loop;
    CHECK(uv_loop_init(&loop) == 0);
    static prio_app a;
    memset(&a, 0, sizeof a);
    pf_client_settings s;
    pf_client_settings_default(&s);
    s.loop = &loop;
    s.bind_addr = "127.0.0.1";
    s.on_event = prio_event;
    s.event_ud = &a;
    pf_client_torrent *st = NULL, *lt = NULL;
    CHECK_EQ(pf_client_new(&s, &a.seed), 0);
    CHECK_EQ(pf_client_new(&s, &a.leech), 0);
    CHECK_EQ(pf_client_add(a.seed, tor, seed, 1, &st), 0);
    CHECK_EQ(pf_client_add(a.leech, tor, leech, 0, &lt), 0);
    CHECK_EQ(pf_client_torrent_num_files(lt), 2);
    CHECK_EQ(pf_client_torrent_set_file_priority(lt, 1, 0), 0);
    CHECK_EQ(pf_client_torrent_file_priority(lt, 1), 0);
    char hp[64];
    snprintf(hp, sizeof hp, "127.0.0.1:%d", pf_client_listen_port(a.seed));
    CHECK_EQ(pf_client_torrent_add_peer(lt, hp), 0);
    signal(SIGALRM, on_alarm);
    alarm(60);
    uv_run(&loop, UV_RUN_DEFAULT);
    alarm(0);
    CHECK_EQ(a.completes, 1);
    pf_torrent_stats ls;
    pf_client_torrent_stats(lt, &ls);
    CHECK(ls.have < ls.pieces);
    CHECK(ls.downloaded >= sizes[0]);
    CHECK(ls.downloaded <= sizes[0] + 64 * 1024);
    pf_client_free(a.seed);
    pf_client_free(a.leech);
    CHECK_EQ(uv_loop_close(&loop), 0);
    snprintf(p, sizeof p, "cmp -s '%s/set/a.bin' '%s/set/a.bin'", seed, leech);
    CHECK(system(p) == 0);
    snprintf(p, sizeof p, "rm -rf '%s'", dir);
    CHECK(system(p) == 0);
}

TEST_MAIN(app_loop_posts_and_stop, own_loop_run_until_stop, post_bound, settings_older_size,
          client_pause_resume_remove, client_file_priority_complete)
