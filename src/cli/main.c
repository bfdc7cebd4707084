/* peerflow: command-line entry point. */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "peerflow/peerflow.h"

static void usage(FILE *f)
{
    fprintf(f,
            "peerflow %s: BitTorrent-compatible hybrid CDN + P2P delivery\n\n"
            "usage: peerflow <command> [options]\n\n"
            "commands:\n"
            "  create   make a .torrent from a file or folder\n"
            "  info     show what a .torrent or magnet link describes\n"
            "  seed     serve a torrent's data to peers\n"
            "  get      download a torrent or magnet link\n"
            "  play     stream a torrent: local HTTP server for players, CDN fallback\n"
            "  tracker  run an HTTP tracker\n"
            "  token    subscriber tokens for a private tracker (keygen, sign)\n"
            "  cert     certificates for TLS swarms, as libtorrent's SSL torrents\n"
            "  demo     run a self-contained swarm on loopback\n"
            "  lab      emulated viewers on shaped links vs the CDN bound (root)\n"
            "  sim      many viewers, each the real engine, on a virtual clock\n\n"
            "Run 'peerflow <command> --help' for its options.\n",
            PF_VERSION_STRING);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    /* Piece buffers (up to 16 MiB) come and go all the time: keep them in
     * the heap instead of paying mmap/munmap and page faults per piece. */
    mallopt(M_MMAP_THRESHOLD, 64 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 128 * 1024 * 1024);
    /* As every libuv program: a write to a peer that has gone away must
     * fail with EPIPE on that connection, not end the process.  This is
     * the application's decision; the library changes no signal. */
    signal(SIGPIPE, SIG_IGN);
    const char *cmd = argv[1];
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {{"create", pf_cmd_create}, {"info", pf_cmd_info},       {"seed", pf_cmd_seed},
                {"get", pf_cmd_get},       {"tracker", pf_cmd_tracker}, {"demo", pf_cmd_demo},
                {"play", pf_cmd_play},     {"lab", pf_cmd_lab},         {"token", pf_cmd_token},
                {"cert", pf_cmd_cert},     {"sim", pf_cmd_sim}};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(cmd, cmds[i].name) == 0) return cmds[i].fn(argc - 1, argv + 1);
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("peerflow %s\n", PF_VERSION_STRING);
        return 0;
    }
    fprintf(stderr, "peerflow: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
