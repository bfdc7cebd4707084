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
#include "cli/progress.h"
#include "peerflow/metainfo.h"
#include "peerflow/peerflow.h"

static void info_usage(FILE *f)
{
    fputs("usage: peerflow info [--scrape] TORRENT|MAGNET\n"
          "Print name, info-hash, size, pieces, files, trackers, web seeds.\n"
          "  -s, --scrape  also ask each HTTP (BEP 48) or UDP (BEP 15) tracker for\n"
          "                seeders/leechers\n"
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

static int info_magnet(const char *uri)
{
    pf_magnet *m = NULL;
    int rc = pf_magnet_parse(uri, NULL, &m);
    if (rc) {
        fprintf(stderr, "peerflow info: bad magnet link: %s\n", pf_strerror(rc));
        return 1;
    }
    char hex[41];
    const char *name = pf_magnet_name(m);
    printf("name:         %s\n", name ? pf_cli_esc(name) : "(unknown)");
    printf("info hash:    %s\n", pf_magnet_info_hash_hex(m, hex));
    printf("total size:   unknown (magnet link; metadata not fetched)\n");
    printf("trackers:     %zu\n", pf_magnet_num_trackers(m));
    for (size_t i = 0; i < pf_magnet_num_trackers(m); i++)
        printf("  tier %zu: %s\n", i, pf_cli_esc(pf_magnet_tracker(m, i)));
    printf("web seeds:    %zu\n", pf_magnet_num_webseeds(m));
    for (size_t i = 0; i < pf_magnet_num_webseeds(m); i++) printf("  %s\n", pf_cli_esc(pf_magnet_webseed(m, i)));
    if (pf_magnet_num_peers(m)) {
        printf("peers:        %zu\n", pf_magnet_num_peers(m));
        for (size_t i = 0; i < pf_magnet_num_peers(m); i++) printf("  %s\n", pf_cli_esc(pf_magnet_peer(m, i)));
    }
    pf_magnet_free(m);
    return 0;
}

/* Scrape of every tracker: BEP 48 over HTTP, BEP 15 over UDP. */
static void info_scrape(const pf_metainfo *mi)
{
    printf("scrape:\n");
    for (size_t i = 0; i < pf_metainfo_num_trackers(mi); i++) {
        const char *url = pf_cli_esc(pf_metainfo_tracker_url(mi, i));
        pf_scrape_counts n;
        int rc = pf_metainfo_scrape(mi, i, 10000, &n);
        if (rc == 0)
            printf("  %s: %lld seeders, %lld leechers, %lld downloads\n", url, (long long)n.seeders,
                   (long long)n.leechers, (long long)n.downloads);
        else if (rc == PF_ERR_UNSUPPORTED)
            printf("  %s: no scrape URL (BEP 48 needs an .../announce URL; UDP and HTTP only)\n",
                   url);
        else if (rc == PF_ERR_NOTFOUND)
            printf("  %s: torrent unknown to the tracker\n", url);
        else if (rc == PF_ERR_PARSE)
            printf("  %s: malformed scrape reply (or URL)\n", url);
        else
            printf("  %s: scrape failed (%s)\n", url,
                   rc == PF_ERR_TRACKER && n.http_status && n.http_status != 200 ? "HTTP error"
                                                                                 : pf_strerror(rc));
    }
}

static int info_torrent(const char *path, int scrape)
{
    pf_metainfo *mi = NULL;
    int rc = pf_metainfo_load(path, &mi);
    if (rc == PF_ERR_NOTFOUND || rc == PF_ERR_IO) {
        fprintf(stderr, "peerflow info: %s: %s\n", pf_cli_esc(path),
                rc == PF_ERR_NOTFOUND ? "No such file or directory" : "cannot read it");
        return 1;
    }
    if (rc) {
        fprintf(stderr, "peerflow info: %s: not a valid torrent: %s\n", pf_cli_esc(path),
                pf_strerror(rc));
        return 1;
    }
    char hex[41], sz[64];
    printf("name:         %s\n", pf_cli_esc(pf_metainfo_name(mi)));
    printf("info hash:    %s\n", pf_metainfo_info_hash_hex(mi, hex));
    info_size(sz, sizeof sz, pf_metainfo_total_length(mi));
    printf("total size:   %s\n", sz);
    info_size(sz, sizeof sz, pf_metainfo_piece_length(mi));
    printf("piece length: %s\n", sz);
    printf("pieces:       %" PRIu32 "\n", pf_metainfo_num_pieces(mi));
    printf("private:      %s\n", pf_metainfo_is_private(mi) ? "yes" : "no");
    if (pf_metainfo_comment(mi)) printf("comment:      %s\n", pf_cli_esc(pf_metainfo_comment(mi)));
    if (pf_metainfo_created_by(mi))
        printf("created by:   %s\n", pf_cli_esc(pf_metainfo_created_by(mi)));
    if (pf_metainfo_creation_date(mi)) {
        time_t t = (time_t)pf_metainfo_creation_date(mi);
        struct tm tm;
        char when[64];
        if (gmtime_r(&t, &tm) && strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm))
            printf("created:      %s\n", when);
    }
    int multi = pf_metainfo_is_multi_file(mi);
    printf("files:        %zu%s\n", pf_metainfo_num_files(mi), multi ? "" : " (single file)");
    for (size_t i = 0; i < pf_metainfo_num_files(mi); i++) {
        info_size(sz, sizeof sz, pf_metainfo_file_length(mi, i));
        printf("  %s%s%s  %s%s\n", multi ? pf_cli_esc(pf_metainfo_name(mi)) : "", multi ? "/" : "",
               pf_cli_esc(pf_metainfo_file_path(mi, i)), sz, pf_metainfo_file_is_pad(mi, i) ? "  [pad]" : "");
    }
    printf("trackers:     %zu\n", pf_metainfo_num_trackers(mi));
    for (size_t i = 0; i < pf_metainfo_num_trackers(mi); i++)
        printf("  tier %d: %s\n", pf_metainfo_tracker_tier(mi, i),
               pf_cli_esc(pf_metainfo_tracker_url(mi, i)));
    printf("web seeds:    %zu\n", pf_metainfo_num_webseeds(mi));
    for (size_t i = 0; i < pf_metainfo_num_webseeds(mi); i++)
        printf("  %s\n", pf_cli_esc(pf_metainfo_webseed(mi, i)));
    /* Its dn and tr are percent-encoded; escaped all the same. */
    int need = pf_metainfo_magnet(mi, NULL, 0);
    char *mag = need > 0 ? malloc((size_t)need + 1) : NULL;
    char *esc = need > 0 ? malloc(4 * (size_t)need + 1) : NULL;
    if (mag && esc && pf_metainfo_magnet(mi, mag, (size_t)need + 1) == need)
        printf("magnet:       %s\n", pf_escape_text(mag, esc, 4 * (size_t)need + 1));
    free(mag);
    free(esc);
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
        fprintf(stderr, "peerflow info: unknown option '%s'\n", pf_cli_esc(argv[optind - 1]));
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
