/* Options shared by get, seed and play. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "peerflow/session.h"

int pf_cli_transport(const char *cmd, const char *arg, pf_client_settings *cs)
{
    if (strcmp(arg, "tcp") == 0) {
        cs->transports = PF_TRANSPORTS_TCP;
    } else if (strcmp(arg, "utp") == 0) {
        cs->transports = PF_TRANSPORTS_UTP;
    } else if (strcmp(arg, "both") == 0) {
        cs->transports = PF_TRANSPORTS_TCP | PF_TRANSPORTS_UTP;
        cs->prefer_utp = 1;
    } else {
        fprintf(stderr, "peerflow %s: --transport takes tcp, utp or both\n", cmd);
        return 2;
    }
    return 0;
}

int pf_cli_utp_target(const char *cmd, const char *arg, pf_client_settings *cs)
{
    char *end = NULL;
    double ms = strtod(arg, &end);
    if (!*arg || !end || *end || !(ms >= 5 && ms <= 1000)) {
        fprintf(stderr, "peerflow %s: --utp-target takes milliseconds, 5 to 1000\n", cmd);
        return 2;
    }
    cs->utp_target_delay_us = (uint32_t)(ms * 1000);
    return 0;
}
