/* peerflow info: describe a .torrent file or a magnet link. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli/cli.h"
#include "core/codec/magnet.h"
#include "core/codec/tracker_proto.h"
#include "net/http_client.h"
#include "core/codec/metainfo.h"
#include "core/util/sha1.h"
#include "peerflow/peerflow.h"

#define INFO_MAX_FILE (16u << 20)

static void info_usage(FILE *f)
{
    fputs("usage: peerflow info [--scrape] TORRENT|MAGNET\n"
          "Print name, info-hash, size, pieces, files, trackers, web seeds.\n"
          "  -s, --scrape  also ask each HTTP tracker for seeders/leechers\n"
          "  -h, --help    this help\n",
          f);
}

/* "1.5 MiB (1572864 bytes)" */
static void info_size(char *out, size_t n, uint64_t v)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    if (v < 1024) {
        snprintf(out, n, "%" PRIu64 " B (%" PRIu64 " bytes)", v, v);
        return;
    }
    double d = (double)v;
    int u = 0;
    while (d >= 1024.0 && u < 5) {
        d /= 1024.0;
        u++;
    }
    snprintf(out, n, "%.1f %s (%" PRIu64 " bytes)", d, units[u], v);
}

static int info_read_file(const char *path, pf_buf *b)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    uint8_t tmp[65536];
    size_t n;
    errno = 0;
    int rc = 0;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) {
        if (b->len + n > INFO_MAX_FILE) {
            errno = EFBIG;
            rc = -1;
            break;
        }
        if (pf_buf_append(b, tmp, n) != 0) {
            errno = ENOMEM;
            rc = -1;
            break;
        }
    }
    if (!rc && ferror(f)) {
        if (!errno) errno = EIO;
        rc = -1;
    }
    fclose(f);
    return rc;
}

static int info_magnet(const char *uri)
{
    pf_magnet *m = NULL;
    int rc = pf_magnet_parse(uri, NULL, &m);
    if (rc) {
        fprintf(stderr, "peerflow info: bad magnet link: %s\n", pf_strerror(rc));
        return 1;
    }
    char hex[41];
    pf_hex_encode(m->info_hash, 20, hex);
    printf("name:         %s\n", m->name ? m->name : "(unknown)");
    printf("info hash:    %s\n", hex);
    printf("total size:   unknown (magnet link; metadata not fetched)\n");
    printf("trackers:     %zu\n", m->num_trackers);
    for (size_t i = 0; i < m->num_trackers; i++)
        printf("  tier %zu: %s\n", i, m->trackers[i]);
    printf("web seeds:    %zu\n", m->num_webseeds);
    for (size_t i = 0; i < m->num_webseeds; i++) printf("  %s\n", m->webseeds[i]);
    if (m->num_peers) {
        printf("peers:        %zu\n", m->num_peers);
        for (size_t i = 0; i < m->num_peers; i++) printf("  %s\n", m->peers[i]);
    }
    pf_magnet_free(m);
    return 0;
}

typedef struct scrape_ctx {
    const uint8_t *hash;
    const char *url;
    int done;
} scrape_ctx;

static void scrape_done(void *ud, int err, long status, const uint8_t *body, size_t len)
{
    scrape_ctx *x = ud;
    x->done = 1;
    pf_scrape_entry e[4];
    size_t n = 0;
    if (err || status != 200) {
        printf("  %s: scrape failed (%s)\n", x->url, err ? pf_strerror(err) : "HTTP error");
        return;
    }
    if (pf_scrape_resp_parse(body, len, e, 4, &n) != 0) {
        printf("  %s: malformed scrape reply\n", x->url);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (memcmp(e[i].info_hash, x->hash, 20) == 0) {
            printf("  %s: %lld seeders, %lld leechers, %lld downloads\n", x->url,
                   (long long)e[i].complete, (long long)e[i].incomplete, (long long)e[i].downloaded);
            return;
        }
    printf("  %s: torrent unknown to the tracker\n", x->url);
}

/* BEP 48 scrape of every HTTP tracker, through libcurl on a private loop. */
static void info_scrape(const pf_metainfo *mi)
{
    uv_loop_t loop;
    pf_http_client *hc = NULL;
    if (uv_loop_init(&loop) != 0) return;
    if (pf_http_client_new(&hc, &loop) != 0) {
        uv_loop_close(&loop);
        return;
    }
    printf("scrape:\n");
    for (size_t i = 0; i < mi->num_trackers; i++) {
        pf_buf url;
        pf_buf_init(&url);
        const uint8_t(*h)[20] = (const uint8_t(*)[20])mi->info_hash;
        if (pf_scrape_url(&url, mi->trackers[i].url, h, 1) != 0 || pf_buf_nul(&url) != 0) {
            printf("  %s: no scrape URL (BEP 48 needs an .../announce URL)\n", mi->trackers[i].url);
            pf_buf_free(&url);
            continue;
        }
        scrape_ctx x = {mi->info_hash, mi->trackers[i].url, 0};
        pf_http_opts o;
        memset(&o, 0, sizeof o);
        o.url = (const char *)url.data;
        o.timeout_ms = 10000;
        o.connect_timeout_ms = 5000;
        if (pf_http_get(hc, &o, NULL, scrape_done, &x, NULL) == 0)
            while (!x.done && uv_run(&loop, UV_RUN_ONCE)) {
            }
        pf_buf_free(&url);
    }
    pf_http_client_free(hc);
    while (uv_run(&loop, UV_RUN_NOWAIT)) {
    }
    uv_loop_close(&loop);
}

static int info_torrent(const char *path, int scrape)
{
    pf_buf b;
    pf_buf_init(&b);
    if (info_read_file(path, &b) != 0) {
        fprintf(stderr, "peerflow info: %s: %s\n", path, strerror(errno));
        pf_buf_free(&b);
        return 1;
    }
    pf_metainfo *mi = NULL;
    int rc = pf_metainfo_parse(b.data, b.len, NULL, &mi);
    pf_buf_free(&b);
    if (rc) {
        fprintf(stderr, "peerflow info: %s: not a valid torrent: %s\n", path, pf_strerror(rc));
        return 1;
    }
    char hex[41], sz[64];
    pf_hex_encode(mi->info_hash, 20, hex);
    printf("name:         %s\n", mi->name);
    printf("info hash:    %s\n", hex);
    info_size(sz, sizeof sz, mi->total_length);
    printf("total size:   %s\n", sz);
    info_size(sz, sizeof sz, mi->piece_length);
    printf("piece length: %s\n", sz);
    printf("pieces:       %" PRIu32 "\n", mi->num_pieces);
    printf("private:      %s\n", mi->private_flag ? "yes" : "no");
    if (mi->comment) printf("comment:      %s\n", mi->comment);
    if (mi->created_by) printf("created by:   %s\n", mi->created_by);
    if (mi->creation_date) {
        time_t t = (time_t)mi->creation_date;
        struct tm tm;
        char when[64];
        if (gmtime_r(&t, &tm) && strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm))
            printf("created:      %s\n", when);
    }
    printf("files:        %zu%s\n", mi->num_files, mi->multi_file ? "" : " (single file)");
    for (size_t i = 0; i < mi->num_files; i++) {
        const pf_file_entry *f = &mi->files[i];
        info_size(sz, sizeof sz, f->length);
        printf("  %s%s%s  %s%s\n", mi->multi_file ? mi->name : "", mi->multi_file ? "/" : "",
               f->path, sz, f->pad ? "  [pad]" : "");
    }
    printf("trackers:     %zu\n", mi->num_trackers);
    for (size_t i = 0; i < mi->num_trackers; i++)
        printf("  tier %d: %s\n", mi->trackers[i].tier, mi->trackers[i].url);
    printf("web seeds:    %zu\n", mi->num_webseeds);
    for (size_t i = 0; i < mi->num_webseeds; i++) printf("  %s\n", mi->webseeds[i]);

    const char **tr = calloc(mi->num_trackers + 1, sizeof *tr);
    pf_buf mag;
    pf_buf_init(&mag);
    if (tr) {
        for (size_t i = 0; i < mi->num_trackers; i++) tr[i] = mi->trackers[i].url;
        if (pf_magnet_build(&mag, mi->info_hash, mi->name, tr, mi->num_trackers) == 0)
            printf("magnet:       %s\n", (const char *)mag.data);
    }
    free(tr);
    pf_buf_free(&mag);
    if (scrape) info_scrape(mi);
    pf_metainfo_free(mi);
    return 0;
}

int pf_cmd_info(int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
                                             {"scrape", no_argument, NULL, 's'},
                                             {NULL, 0, NULL, 0}};
    int c, scrape = 0;
    optind = 0; /* glibc: full reset, argv[0] is the subcommand */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "hs", longopts, NULL)) != -1) {
        if (c == 's') {
            scrape = 1;
            continue;
        }
        if (c == 'h') {
            info_usage(stdout);
            return 0;
        }
        fprintf(stderr, "peerflow info: unknown option '%s'\n", argv[optind - 1]);
        info_usage(stderr);
        return 2;
    }
    if (optind != argc - 1) {
        fprintf(stderr, "peerflow info: %s\n",
                optind >= argc ? "missing TORRENT or MAGNET" : "too many arguments");
        info_usage(stderr);
        return 2;
    }
    const char *arg = argv[optind];
    if (strncasecmp(arg, "magnet:", 7) == 0) return info_magnet(arg);
    return info_torrent(arg, scrape);
}
