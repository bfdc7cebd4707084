/* peerflow sim: run a scenario in the simulator (src/sim, docs/SIM.md). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "sim/sim.h"

static void sim_usage(FILE *f)
{
    fputs("usage: peerflow sim [--seed N] [--viewers N] [--out DIR] [--quiet] SCENARIO\n"
          "Run SCENARIO (docs/SIM.md) in the simulator: many viewers, each the real\n"
          "engine, on a virtual clock, with virtual links, CDN and tracker.  Prints a\n"
          "summary; the same scenario and seed give the same output, byte for byte.\n"
          "  -s, --seed N   the scenario's seed instead of its own\n"
          "  -n, --viewers N  the scenario's audience at another size\n"
          "  -o, --out DIR  write summary.json, summary.txt, viewers.csv (deterministic)\n"
          "                 and perf.json (wall time, events/s, peak RSS) into DIR\n"
          "  -q, --quiet    no progress lines on stderr\n"
          "  -h, --help     this help\n",
          f);
}

static FILE *out_open(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) fprintf(stderr, "peerflow sim: cannot write %s: %s\n", path, strerror(errno));
    return f;
}

static int sim_write(const pf_sim_result *r, const char *dir)
{
    static const char *names[] = {"summary.json", "summary.txt", "viewers.csv", "perf.json"};
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "peerflow sim: cannot make %s: %s\n", dir, strerror(errno));
        return 1;
    }
    for (int i = 0; i < 4; i++) {
        FILE *f = out_open(dir, names[i]);
        if (!f) return 1;
        if (i == 0) pf_sim_result_json(r, f);
        if (i == 1) pf_sim_result_text(r, f);
        if (i == 2) pf_sim_result_viewers_csv(r, f);
        if (i == 3) pf_sim_result_perf_json(r, f);
        if (fclose(f) != 0) {
            fprintf(stderr, "peerflow sim: cannot write %s/%s\n", dir, names[i]);
            return 1;
        }
    }
    return 0;
}

/* A decimal number (at most max, 0: any); 0 or -1. */
static int sim_number(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end || errno || s[0] == '-' || (max && v > max)) return -1;
    *out = v;
    return 0;
}

int pf_cmd_sim(int argc, char **argv)
{
    static const struct option opts[] = {{"seed", 1, 0, 's'}, {"viewers", 1, 0, 'n'}, {"out", 1, 0, 'o'}, {"quiet", 0, 0, 'q'},
                                         {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *out = NULL, *seed = NULL, *viewers = NULL;
    int quiet = 0, ch;
    while ((ch = getopt_long(argc, argv, "s:n:o:qh", opts, NULL)) != -1) {
        switch (ch) {
        case 's': seed = optarg; break;
        case 'n': viewers = optarg; break;
        case 'o': out = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': sim_usage(stdout); return 0;
        default: sim_usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        sim_usage(stderr);
        return 2;
    }
    pf_sim_scenario sc;
    char err[512];
    pf_sim_scenario_default(&sc);
    if (pf_sim_scenario_load(argv[optind], &sc, err, sizeof err)) {
        fprintf(stderr, "peerflow sim: %s\n", err);
        return 2;
    }
    unsigned long long v;
    if (seed) {
        if (sim_number(seed, 0, &v)) {
            fprintf(stderr, "peerflow sim: bad --seed '%s'\n", seed);
            return 2;
        }
        sc.seed = v;
    }
    if (viewers) {
        if (sim_number(viewers, 10000000, &v) || v == 0) {
            fprintf(stderr, "peerflow sim: bad --viewers '%s' (1 to 10000000)\n", viewers);
            return 2;
        }
        sc.viewers = (uint32_t)v;
    }
    pf_sim_result *r = NULL;
    if (pf_sim_run(&sc, NULL, quiet ? NULL : stderr, &r, err, sizeof err)) {
        fprintf(stderr, "peerflow sim: %s\n", err);
        return 1;
    }
    pf_sim_result_text(r, stdout);
    int rc = 0;
    if (out)
        rc = sim_write(r, out);
    else if (!quiet)
        pf_sim_result_perf_json(r, stderr);
    pf_sim_result_free(r);
    return rc;
}
