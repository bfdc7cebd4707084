/* peerflow demo: placeholder until the loopback swarm demo lands. */
#include <stdio.h>

#include "cli/cli.h"

int pf_cmd_demo(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "peerflow demo: not implemented yet\n");
    return 1;
}
