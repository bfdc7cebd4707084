/* The CLI is the application that embeds the client: it owns the libuv
 * loop and decides what a signal means (the library installs no signal
 * handler).  One cli_loop per command. */
#ifndef PF_CLI_LOOP_H
#define PF_CLI_LOOP_H

#include <uv.h>

#include "peerflow/client.h"

typedef struct cli_loop {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    pf_client *c;  /* stopped by SIGINT/SIGTERM */
    int signals;   /* received so far */
    int watching;
} cli_loop;

/* uv_loop_init; 0 or -1. */
int cli_loop_init(cli_loop *l);
/* SIGINT/SIGTERM stop c (pf_client_stop, which writes resume records and
 * says goodbye to trackers); a second signal ends the process at once
 * with the signal's default action.  The watchers do not keep the loop
 * running. */
void cli_loop_watch(cli_loop *l, pf_client *c);
/* After pf_client_free: closes every handle left on the loop, runs it
 * until they are gone and closes it. */
void cli_loop_close(cli_loop *l);

#endif
