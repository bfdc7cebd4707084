/* The CLI's loop and signals (see cli_loop.h). */
#include "cli/cli_loop.h"

#include <signal.h>
#include <string.h>

int cli_loop_init(cli_loop *l)
{
    memset(l, 0, sizeof *l);
    return uv_loop_init(&l->loop) == 0 ? 0 : -1;
}

static void on_signal(uv_signal_t *h, int sig)
{
    cli_loop *l = h->data;
    if (++l->signals > 1 || !l->c) {
        /* Asked twice: no more waiting for announces or the disk. */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    pf_client_stop(l->c);
}

void cli_loop_watch(cli_loop *l, pf_client *c)
{
    l->c = c;
    if (l->watching) return;
    uv_signal_init(&l->loop, &l->sigint);
    uv_signal_init(&l->loop, &l->sigterm);
    l->sigint.data = l->sigterm.data = l;
    uv_signal_start(&l->sigint, on_signal, SIGINT);
    uv_signal_start(&l->sigterm, on_signal, SIGTERM);
    uv_unref((uv_handle_t *)&l->sigint);
    uv_unref((uv_handle_t *)&l->sigterm);
    l->watching = 1;
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

void cli_loop_close(cli_loop *l)
{
    l->c = NULL;
    uv_walk(&l->loop, close_walk, NULL);
    while (uv_run(&l->loop, UV_RUN_DEFAULT) != 0) {
    }
    uv_loop_close(&l->loop);
}
