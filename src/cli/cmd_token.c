/* peerflow token: the operator's side of subscriber tokens
 * (include/peerflow/token.h): make a signing key, sign a token. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/progress.h"
#include "peerflow/metainfo.h"
#include "peerflow/token.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: peerflow token keygen --kid KID --out KEY.pem\n"
            "       peerflow token sign --key KEY.pem --kid KID --sub SUBSCRIBER\n"
            "                           (--torrent FILE | --info-hash HEX) [--ttl SECONDS]\n\n"
            "keygen  writes a new Ed25519 private key to KEY.pem (mode 0600, never\n"
            "        overwritten) and prints its line for the tracker's --auth-keys file\n"
            "sign    prints a token for SUBSCRIBER and that torrent, valid for --ttl\n"
            "        seconds (default 86400); the viewer passes it with --tracker-token\n");
}

static int keygen(const char *kid, const char *out)
{
    char pem[512], pub[PF_TOKEN_PUBKEY_LEN + 1];
    if (!kid || !out) {
        usage(stderr);
        return 2;
    }
    if (pf_token_keygen(pem, sizeof pem, pub) != 0) {
        fprintf(stderr, "peerflow token: cannot make a key\n");
        return 1;
    }
    int fd = open(out, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        fprintf(stderr, "peerflow token: %s: %s\n", pf_cli_esc(out), strerror(errno));
        return 1;
    }
    size_t n = strlen(pem);
    int ok = write(fd, pem, n) == (ssize_t)n;
    ok = close(fd) == 0 && ok;
    memset(pem, 0, sizeof pem);
    if (!ok) {
        fprintf(stderr, "peerflow token: %s: write failed\n", pf_cli_esc(out));
        return 1;
    }
    printf("%s ed25519 %s\n", kid, pub);
    return 0;
}

static int read_key(const char *path, char *pem, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "peerflow token: %s: %s\n", pf_cli_esc(path), strerror(errno));
        return -1;
    }
    size_t n = fread(pem, 1, cap - 1, f);
    fclose(f);
    pem[n] = 0;
    return 0;
}

static int hex20(const char *s, uint8_t out[20])
{
    if (strlen(s) != 40) return -1;
    for (int i = 0; i < 20; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

static int sign(const char *key, const char *kid, const char *sub, const char *torrent, const char *ih_hex,
                unsigned long ttl)
{
    uint8_t ih[20];
    if (!key || !kid || !sub || (!torrent == !ih_hex)) {
        usage(stderr);
        return 2;
    }
    if (ih_hex && hex20(ih_hex, ih) != 0) {
        fprintf(stderr, "peerflow token: bad --info-hash (40 hex digits)\n");
        return 2;
    }
    if (torrent) {
        pf_metainfo *mi = NULL;
        int rc = pf_metainfo_load(torrent, &mi);
        if (rc) {
            fprintf(stderr, "peerflow token: %s: %s\n", pf_cli_esc(torrent), pf_strerror(rc));
            return 1;
        }
        memcpy(ih, pf_metainfo_info_hash(mi), 20);
        pf_metainfo_free(mi);
    }
    char pem[4096], tok[PF_TOKEN_MAX + 1];
    if (read_key(key, pem, sizeof pem) != 0) return 1;
    int rc = pf_token_sign(pem, kid, sub, ih, (uint64_t)time(NULL) + ttl, tok, sizeof tok);
    memset(pem, 0, sizeof pem);
    if (rc) {
        fprintf(stderr, "peerflow token: cannot sign: %s\n",
                rc == PF_ERR_INVAL ? "not an Ed25519 private key, or a bad --kid or --sub" : pf_strerror(rc));
        return rc == PF_ERR_INVAL ? 2 : 1;
    }
    printf("%s\n", tok);
    return 0;
}

int pf_cmd_token(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    static const struct option opts[] = {{"kid", 1, 0, 'k'},     {"out", 1, 0, 'o'},  {"key", 1, 0, 'K'},
                                         {"sub", 1, 0, 's'},     {"torrent", 1, 0, 't'},
                                         {"info-hash", 1, 0, 'i'}, {"ttl", 1, 0, 'T'}, {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *kid = NULL, *out = NULL, *key = NULL, *sub = NULL, *torrent = NULL, *ih = NULL;
    unsigned long ttl = 86400;
    char *end;
    optind = 2;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'k': kid = optarg; break;
        case 'o': out = optarg; break;
        case 'K': key = optarg; break;
        case 's': sub = optarg; break;
        case 't': torrent = optarg; break;
        case 'i': ih = optarg; break;
        case 'T':
            ttl = strtoul(optarg, &end, 10);
            if (!*optarg || *end || *optarg == '-' || ttl == 0 || ttl > 10UL * 365 * 86400) {
                fprintf(stderr, "peerflow token: bad --ttl '%s'\n", pf_cli_esc(optarg));
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "keygen") == 0) return keygen(kid, out);
    if (strcmp(argv[1], "sign") == 0) return sign(key, kid, sub, torrent, ih, ttl);
    fprintf(stderr, "peerflow token: unknown action '%s'\n", pf_cli_esc(argv[1]));
    usage(stderr);
    return 2;
}
