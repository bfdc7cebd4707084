/* Subcommands of the peerflow CLI; each returns the process exit code. */
#ifndef PF_CLI_H
#define PF_CLI_H

int pf_cmd_create(int argc, char **argv);
int pf_cmd_info(int argc, char **argv);
int pf_cmd_seed(int argc, char **argv);
int pf_cmd_get(int argc, char **argv);
int pf_cmd_tracker(int argc, char **argv);
int pf_cmd_demo(int argc, char **argv);
int pf_cmd_play(int argc, char **argv);
int pf_cmd_lab(int argc, char **argv);

/* Options shared by get, seed and play (options.c).  Each returns 0, or
 * prints why to stderr (prefixed by cmd) and returns 2. */
#include <stdint.h>
#include "peerflow/client.h"
/* --transport tcp|utp|both into settings.transports (and prefer_utp). */
int pf_cli_transport(const char *cmd, const char *arg, pf_client_settings *cs);
/* --utp-target MS: LEDBAT's target queueing delay in milliseconds. */
int pf_cli_utp_target(const char *cmd, const char *arg, pf_client_settings *cs);
#define PF_CLI_TRANSPORT_HELP                                                           \
    "      --transport T    peers over tcp (default), utp (BEP 29, with LEDBAT:\n"     \
    "                       uploads yield to this household's own traffic) or both\n" \
    "      --utp-target MS  LEDBAT's target queueing delay (default 100)\n"

#endif
