/* The libuv client as an application embeds it: on the application's
 * loop, with no signal handler installed and no process-wide setting
 * changed, work posted from other threads (pf_client_post), a stop that
 * leaves nothing of the client active on the loop, settings from a program
 * built against an older (shorter) pf_client_settings. */
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

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

TEST_MAIN(app_loop_posts_and_stop, own_loop_run_until_stop, post_bound, settings_older_size)
