/* peerflow create: hash a file or folder into a .torrent. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/progress.h"
#include "peerflow/metainfo.h"
#include "peerflow/peerflow.h"

#define CREATE_MAX_URLS 64

static void create_usage(FILE *f)
{
    fputs("usage: peerflow create [-o OUT] [-t TRACKER]... [-w WEBSEED]... [-p PIECE_LEN]\n"
          "                       [--private] [-c COMMENT] [-v] PATH\n"
          "Hash a file or folder into OUT (default: PATH's name + .torrent).\n"
          "  -o, --output OUT       where to write the .torrent\n"
          "  -t, --tracker URL      announce URL (repeatable; each its own tier)\n"
          "  -w, --webseed URL      web seed, BEP 19 url-list (repeatable)\n"
          "  -p, --piece-length N   piece size, power of two 16K..64M; K/M suffixes\n"
          "                         (default: chosen by total size)\n"
          "      --private          set the private flag (BEP 27)\n"
          "      --ssl-ca CA.pem    an SSL torrent (libtorrent's): peers talk TLS 1.3\n"
          "                         and need a certificate CA.pem signed for this\n"
          "                         torrent's name (peerflow cert issue); implies --private\n"
          "      --no-title         hash a folder holding a packaged title (an HLS master\n"
          "                         playlist or a DASH MPD at its top) as plain files:\n"
          "                         by default the manifests are checked and the files\n"
          "                         ordered rendition by rendition (docs/CLI.md)\n"
          "      --no-align         a packaged title's files back to back, without the\n"
          "                         BEP 47 pad files that start each at a piece boundary\n"
          "  -c, --comment TEXT     comment\n"
          "  -v, --verbose          show progress even when stderr is not a TTY\n"
          "  -h, --help             this help\n",
          f);
}

/* "262144", "256K", "256k", "4M", "4MiB"; 0 on error. */
static uint32_t create_parse_size(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-') return 0;
    if (*end == 'k' || *end == 'K') {
        v <<= 10;
        end++;
    } else if (*end == 'm' || *end == 'M') {
        v <<= 20;
        end++;
    }
    if (*end && strcmp(end, "iB") != 0 && strcmp(end, "B") != 0) return 0;
    if (v == 0 || v > (64u << 20)) return 0;
    return (uint32_t)v;
}

typedef struct create_progress {
    int last_pct;
    int tty; /* redraw one line; otherwise a plain line every 10% */
} create_progress;

static void create_on_progress(void *ud, uint64_t done, uint64_t total)
{
    create_progress *p = ud;
    int pct = total ? (int)(done * 100 / total) : 100;
    if (pct == p->last_pct || (!p->tty && pct / 10 == p->last_pct / 10)) return;
    p->last_pct = pct;
    if (p->tty)
        fprintf(stderr, "\rhashing %3d%%%s", pct, pct == 100 ? "\n" : "");
    else
        fprintf(stderr, "hashing %d%%\n", pct);
    fflush(stderr);
}

/* A packaged title's summary (tracks, bitrates, segments, durations). */
static void create_on_title(void *ud, const char *text)
{
    (void)ud;
    char line[1024];
    while (*text) { /* line by line: paths came from the manifests */
        size_t l = strcspn(text, "\n");
        snprintf(line, sizeof line, "%.*s", (int)(l < sizeof line ? l : sizeof line - 1), text);
        printf("%s\n", pf_cli_esc(line));
        text += l + (text[l] == '\n');
    }
    fflush(stdout);
}

static int create_write(const char *path, const uint8_t *data, size_t len)
{
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.part", path) >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    FILE *f = fopen(tmp, "wb");
    if (!f) return -1;
    int ok = fwrite(data, 1, len, f) == len;
    if (fclose(f) != 0) ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e ? e : EIO;
        return -1;
    }
    return 0;
}

/* PATH's name + ".torrent", in the current folder. */
static int create_default_out(const char *path, char *out, size_t outlen)
{
    char real[PATH_MAX];
    if (!realpath(path, real)) {
        fprintf(stderr, "peerflow create: %s: %s\n", pf_cli_esc(path), strerror(errno));
        return -1;
    }
    const char *base = strrchr(real, '/');
    base = base && base[1] ? base + 1 : real;
    if ((size_t)snprintf(out, outlen, "%s.torrent", base) >= outlen) {
        fprintf(stderr, "peerflow create: output name too long\n");
        return -1;
    }
    return 0;
}

int pf_cmd_create(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"tracker", required_argument, NULL, 't'},
        {"webseed", required_argument, NULL, 'w'},
        {"piece-length", required_argument, NULL, 'p'},
        {"private", no_argument, NULL, 'P'},
        {"ssl-ca", required_argument, NULL, 'S'},
        {"comment", required_argument, NULL, 'c'},
        {"no-title", no_argument, NULL, 'T'},
        {"no-align", no_argument, NULL, 'A'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *out_path = NULL, *comment = NULL, *ssl_ca = NULL;
    const char *trackers[CREATE_MAX_URLS], *webseeds[CREATE_MAX_URLS];
    size_t ntr = 0, nws = 0;
    uint32_t piece_length = 0;
    int private_flag = 0, verbose = 0, no_title = 0, no_align = 0, c;
    optind = 0; /* glibc: full reset, argv[0] is the subcommand */
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:t:w:p:c:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            out_path = optarg;
            break;
        case 't':
        case 'w':
            if ((c == 't' ? ntr : nws) >= CREATE_MAX_URLS) {
                fprintf(stderr, "peerflow create: at most %d %s\n", CREATE_MAX_URLS,
                        c == 't' ? "trackers" : "web seeds");
                return 2;
            }
            if (!*optarg) {
                fprintf(stderr, "peerflow create: empty URL\n");
                return 2;
            }
            if (c == 't')
                trackers[ntr++] = optarg;
            else
                webseeds[nws++] = optarg;
            break;
        case 'p':
            piece_length = create_parse_size(optarg);
            if (!piece_length || (piece_length & (piece_length - 1)) ||
                piece_length < (16u << 10)) {
                fprintf(stderr,
                        "peerflow create: bad piece length '%s' (power of two, 16K..64M)\n",
                        pf_cli_esc(optarg));
                return 2;
            }
            break;
        case 'P':
            private_flag = 1;
            break;
        case 'S':
            ssl_ca = optarg;
            private_flag = 1;
            break;
        case 'c':
            comment = optarg;
            break;
        case 'T':
            no_title = 1;
            break;
        case 'A':
            no_align = 1;
            break;
        case 'v':
            verbose = 1;
            break;
        case 'h':
            create_usage(stdout);
            return 0;
        case ':':
            fprintf(stderr, "peerflow create: option '%s' needs a value\n", pf_cli_esc(argv[optind - 1]));
            create_usage(stderr);
            return 2;
        default:
            fprintf(stderr, "peerflow create: unknown option '%s'\n", pf_cli_esc(argv[optind - 1]));
            create_usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "peerflow create: %s\n",
                optind >= argc ? "missing PATH" : "too many arguments");
        create_usage(stderr);
        return 2;
    }
    const char *path = argv[optind];
    char default_out[PATH_MAX];
    if (!out_path) {
        if (create_default_out(path, default_out, sizeof default_out) != 0) return 1;
        out_path = default_out;
    }

    create_progress prog = {.last_pct = -10, .tty = isatty(STDERR_FILENO)};
    int show = verbose || prog.tty;
    pf_create_opts o;
    pf_create_opts_default(&o);
    o.path = path;
    o.piece_length = piece_length;
    o.trackers = trackers;
    o.num_trackers = ntr;
    o.webseeds = webseeds;
    o.num_webseeds = nws;
    o.private_flag = private_flag;
    o.comment = comment;
    o.no_title = no_title;
    o.no_align = no_align;
    o.title_summary = create_on_title;
    char *ssl_pem = NULL;
    if (ssl_ca) {
        if (pf_cli_read_text("create", "--ssl-ca", ssl_ca, 64u << 10, &ssl_pem) != 0) return 1;
        if (!strstr(ssl_pem, "-----BEGIN CERTIFICATE-----")) {
            fprintf(stderr, "peerflow create: --ssl-ca %s: no PEM certificate in it\n", pf_cli_esc(ssl_ca));
            free(ssl_pem);
            return 1;
        }
        o.ssl_cert = ssl_pem;
    }
    o.created_by = "peerflow/" PF_VERSION_STRING;
    o.creation_date = (int64_t)time(NULL);
    o.progress = show ? create_on_progress : NULL;
    o.progress_ud = &prog;
    uint8_t *out = NULL;
    size_t out_len = 0;
    char err[512];
    int rc = pf_metainfo_create(&o, &out, &out_len, err, sizeof err);
    free(ssl_pem);
    if (rc) {
        if (prog.tty && prog.last_pct >= 0 && prog.last_pct < 100) fputc('\n', stderr);
        fprintf(stderr, "peerflow create: %s\n", err[0] ? pf_cli_esc(err) : pf_strerror(rc));
        return rc == PF_ERR_INVAL && !err[0] ? 2 : 1;
    }
    if (create_write(out_path, out, out_len) != 0) {
        fprintf(stderr, "peerflow create: %s: %s\n", pf_cli_esc(out_path), strerror(errno));
        pf_free(out);
        return 1;
    }
    pf_metainfo *mi = NULL;
    if (pf_metainfo_parse(out, out_len, NULL, &mi) == 0) {
        char hex[41];
        printf("%s\ninfo hash: %s\n", pf_cli_esc(out_path), pf_metainfo_info_hash_hex(mi, hex));
        pf_metainfo_free(mi);
    }
    pf_free(out);
    return 0;
}
