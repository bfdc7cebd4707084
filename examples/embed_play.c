/* embed_play: peerflow embedded in an application that owns its libuv loop.
 *
 *   embed_play [--peer HOST:PORT]... [--webseed URL]... SOURCE DIR OUT
 *
 * SOURCE is a .torrent file or a magnet link; the torrent's data goes into
 * DIR.  The application "plays" the first file: it reads it from start to
 * end through a pf_stream (the engine fetches what the reader needs first,
 * and every byte it hands over is verified) and writes what it read to
 * OUT.  A second thread waits until the file has been read and the
 * torrent is complete, then asks the client to stop with pf_client_post,
 * the one call allowed from another thread.  SIGINT/SIGTERM are the
 * application's: here they stop the client too.  Exit status 0 once the
 * whole file was read and every piece verified; 1 otherwise.
 *
 * Build against an installed peerflow:
 *   cc -std=c11 -o embed_play embed_play.c $(pkg-config --cflags --libs peerflow) -pthread
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include <peerflow/client.h>
#include <peerflow/peerflow.h>

#define READ_CHUNK (256 * 1024)
#define MAX_ARGS 16

typedef struct app {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    pf_client *client;
    pf_client_torrent *t;
    pf_stream *stream;
    FILE *out;
    uint32_t file;
    uint64_t size, read;
    int reading, played, complete, failed, stopped;
    /* The stopper thread waits for `done` (or for `quit` at exit). */
    pthread_t stopper;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, quit;
} app;

static void log_line(void *ud, pf_log_level level, const char *msg)
{
    (void)ud;
    /* msg has its control bytes escaped already. */
    fprintf(stderr, "embed_play: %s: %s\n", level == PF_LOG_ERROR ? "error" : "warn", msg);
}

/* ---- the other thread ----------------------------------------------------- */
static void stop_on_loop(pf_client *c, void *ud)
{
    (void)ud;
    fprintf(stderr, "embed_play: stop posted from another thread\n");
    pf_client_stop(c);
}

static void *stopper_main(void *arg)
{
    app *a = arg;
    pthread_mutex_lock(&a->mu);
    while (!a->done && !a->quit) pthread_cond_wait(&a->cv, &a->mu);
    int post = a->done && !a->quit;
    pthread_mutex_unlock(&a->mu);
    if (post && pf_client_post(a->client, stop_on_loop, NULL) != 0)
        fprintf(stderr, "embed_play: pf_client_post failed\n");
    return NULL;
}

static void wake_stopper(app *a, int quit)
{
    pthread_mutex_lock(&a->mu);
    if (quit)
        a->quit = 1;
    else
        a->done = 1;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

static void check_done(app *a)
{
    if (a->played && a->complete) wake_stopper(a, 0);
}

/* ---- playing ---------------------------------------------------------------- */
static void read_next(app *a);

static void on_read(void *ud, int err, const uint8_t *data, size_t n)
{
    app *a = ud;
    a->reading = 0;
    if (err != 0) {
        fprintf(stderr, "embed_play: read at %llu failed: %s\n", (unsigned long long)a->read,
                pf_strerror(err));
        a->failed = 1;
        pf_client_stop(a->client);
        return;
    }
    if (fwrite(data, 1, n, a->out) != n) {
        fprintf(stderr, "embed_play: cannot write the output\n");
        a->failed = 1;
        pf_client_stop(a->client);
        return;
    }
    a->read += n;
    read_next(a);
}

static void read_next(app *a)
{
    if (a->read >= a->size) {
        pf_stream_close(a->stream);
        a->stream = NULL;
        a->played = 1;
        fprintf(stderr, "embed_play: played %llu bytes\n", (unsigned long long)a->read);
        check_done(a);
        return;
    }
    int rc = pf_stream_read(a->stream, a->read, READ_CHUNK, on_read, a);
    if (rc != 0) {
        fprintf(stderr, "embed_play: pf_stream_read: %s\n", pf_strerror(rc));
        a->failed = 1;
        pf_client_stop(a->client);
        return;
    }
    a->reading = 1;
}

/* Once the file list is known (at once for a .torrent, after the metadata
 * for a magnet): open a reader of the first file. */
static void start_playing(app *a)
{
    if (a->stream || a->played || pf_client_torrent_num_files(a->t) == 0) return;
    a->file = 0;
    a->size = pf_client_torrent_file_size(a->t, a->file);
    char name[256];
    pf_escape_text(pf_client_torrent_file_path(a->t, a->file), name, sizeof name);
    fprintf(stderr, "embed_play: playing %s (%llu bytes)\n", name, (unsigned long long)a->size);
    int rc = pf_stream_open(a->t, a->file, 0, &a->stream);
    if (rc != 0) {
        fprintf(stderr, "embed_play: pf_stream_open: %s\n", pf_strerror(rc));
        a->failed = 1;
        pf_client_stop(a->client);
        return;
    }
    read_next(a);
}

/* ---- the client's events and the application's signals ---------------------------- */
static void on_event(void *ud, pf_client *c, int event, pf_client_torrent *t, int err)
{
    (void)c;
    (void)t;
    app *a = ud;
    pf_torrent_stats st;
    switch (event) {
    case PF_CLIENT_METADATA: /* a magnet's file list is known */
        start_playing(a);
        break;
    case PF_CLIENT_CHECKED: /* what was on disk is verified */
        pf_client_torrent_stats(t, &st);
        if (st.pieces > 0 && st.have == st.pieces) a->complete = 1; /* nothing to fetch */
        start_playing(a);
        check_done(a);
        break;
    case PF_CLIENT_COMPLETE:
        a->complete = 1;
        check_done(a);
        break;
    case PF_CLIENT_ERROR:
        fprintf(stderr, "embed_play: torrent error: %s\n", pf_strerror(err));
        a->failed = 1;
        pf_client_stop(a->client);
        break;
    case PF_CLIENT_STOPPED:
        /* Our own handles go too: then the loop has nothing left and
         * uv_run returns. */
        a->stopped = 1;
        if (a->stream) {
            pf_stream_close(a->stream);
            a->stream = NULL;
        }
        uv_close((uv_handle_t *)&a->sigint, NULL);
        uv_close((uv_handle_t *)&a->sigterm, NULL);
        break;
    }
}

static void on_signal(uv_signal_t *h, int sig)
{
    app *a = h->data;
    fprintf(stderr, "embed_play: signal %d: stopping\n", sig);
    pf_client_stop(a->client);
}

static int usage(void)
{
    fprintf(stderr, "usage: embed_play [--peer HOST:PORT]... [--webseed URL]... SOURCE DIR OUT\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *peers[MAX_ARGS], *webseeds[MAX_ARGS];
    int npeers = 0, nwebseeds = 0, i = 1;
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (strcmp(argv[i], "--peer") == 0 && npeers < MAX_ARGS)
            peers[npeers++] = argv[i + 1];
        else if (strcmp(argv[i], "--webseed") == 0 && nwebseeds < MAX_ARGS)
            webseeds[nwebseeds++] = argv[i + 1];
        else
            return usage();
    }
    if (argc - i != 3) return usage();
    const char *src = argv[i], *dir = argv[i + 1], *out = argv[i + 2];

    /* As with any libuv program, a peer that goes away must not kill us. */
    signal(SIGPIPE, SIG_IGN);
    fprintf(stderr, "embed_play: peerflow %s (built against %s)\n", pf_version(), PF_VERSION_STRING);

    static app a;
    memset(&a, 0, sizeof a);
    pthread_mutex_init(&a.mu, NULL);
    pthread_cond_init(&a.cv, NULL);
    a.out = fopen(out, "wb");
    if (!a.out) {
        perror(out);
        return 1;
    }
    if (uv_loop_init(&a.loop) != 0) return 1;

    pf_client_settings s;
    pf_client_settings_default(&s);
    s.loop = &a.loop; /* the application's loop */
    s.bind_addr = "127.0.0.1";
    s.log = log_line;
    s.log_level = PF_LOG_WARN;
    s.on_event = on_event;
    s.event_ud = &a;
    int rc = pf_client_new(&s, &a.client);
    if (rc != 0) {
        fprintf(stderr, "embed_play: pf_client_new: %s\n", pf_strerror(rc));
        return 1;
    }
    uv_signal_init(&a.loop, &a.sigint);
    uv_signal_init(&a.loop, &a.sigterm);
    a.sigint.data = a.sigterm.data = &a;
    uv_signal_start(&a.sigint, on_signal, SIGINT);
    uv_signal_start(&a.sigterm, on_signal, SIGTERM);
    pthread_create(&a.stopper, NULL, stopper_main, &a);

    rc = pf_client_add(a.client, src, dir, 0, &a.t);
    if (rc != 0) {
        fprintf(stderr, "embed_play: cannot add %s: %s\n", src, pf_strerror(rc));
        a.failed = 1;
        pf_client_stop(a.client);
    } else {
        for (int k = 0; k < npeers; k++)
            if (pf_client_torrent_add_peer(a.t, peers[k]) != 0)
                fprintf(stderr, "embed_play: bad peer %s\n", peers[k]);
        for (int k = 0; k < nwebseeds; k++)
            if (pf_client_torrent_add_webseed(a.t, webseeds[k], 1.0) != 0)
                fprintf(stderr, "embed_play: bad web seed %s\n", webseeds[k]);
        start_playing(&a); /* a .torrent whose check is already over */
    }

    uv_run(&a.loop, UV_RUN_DEFAULT); /* until the client stopped */

    pf_torrent_stats st;
    memset(&st, 0, sizeof st);
    if (a.t) pf_client_torrent_stats(a.t, &st);
    wake_stopper(&a, 1);
    pthread_join(a.stopper, NULL);
    pf_client_free(a.client);
    uv_run(&a.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&a.loop) != 0) {
        fprintf(stderr, "embed_play: handles left on the loop\n");
        a.failed = 1;
    }
    if (fclose(a.out) != 0) a.failed = 1;
    int ok = !a.failed && a.played && a.complete && st.pieces > 0 && st.have == st.pieces;
    fprintf(stderr, "embed_play: %s: read %llu of %llu bytes, %u of %u pieces verified\n",
            ok ? "done" : "incomplete", (unsigned long long)a.read, (unsigned long long)a.size,
            st.have, st.pieces);
    return ok ? 0 : 1;
}
