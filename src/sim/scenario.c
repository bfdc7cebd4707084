/* Scenario files of `peerflow sim`: one statement a line, `#` comments
 * (docs/SIM.md "Scenario files").  Every value is checked; an error names
 * the file and the line. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

#define SC_MAX_WORDS 16
#define SC_MAX_LINE 512
#define SC_MAX_FILE (1024 * 1024)

typedef struct sc_ctx {
    const char *fname;
    unsigned line;
    char *err;
    size_t errlen;
    unsigned link_line; /* first `link` line, for the shares check */
    int links_seen;
    unsigned watch_line; /* first `watch T P%` line, for the shares check */
    unsigned isp_line;   /* first `isp` line, for the shares check */
    unsigned locality_line;
    unsigned at_line;      /* first `arrival at` line, for the count check */
    unsigned viewers_line; /* the `viewers` line, likewise */
} sc_ctx;

void pf_sim_scenario_default(pf_sim_scenario *sc)
{
    memset(sc, 0, sizeof *sc);
    snprintf(sc->name, sizeof sc->name, "%s", "unnamed");
    sc->seed = 1;
    sc->viewers = 30;
    sc->arrival = PF_SIM_ARRIVAL_UNIFORM;
    sc->arrival_s = 60;
    sc->watch_s = 120;
    sc->bitrate = 2500000;
    sc->duration_s = 180;
    sc->piece_len = 262144;
    sc->ncls = 1;
    sc->cls[0].share = 1.0;
    sc->cls[0].up_Bps = 2000000 / 8;
    sc->cls[0].down_Bps = 8000000 / 8;
    sc->cls[0].latency_ns = 10 * 1000000ULL;
    sc->cdn_Bps = 200000000 / 8;
    sc->cdn_latency_ns = 5 * 1000000ULL;
    sc->tracker_latency_ns = 5 * 1000000ULL;
    sc->tracker_interval_s = 10;
    sc->numwant = 50;
    sc->startup_s = 4;
    sc->rebuffer_s = 2;
    sc->buffer_s = 30;
    sc->titles = 1;
    sc->zipf_s = 1.0;
}

static int sc_fail(sc_ctx *c, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->line)
        snprintf(c->err, c->errlen, "%s:%u: %s", c->fname, c->line, msg);
    else /* a check of the whole scenario */
        snprintf(c->err, c->errlen, "%s: %s", c->fname, msg);
    return -1;
}

/* A number with an optional suffix from `units` (each a name and a
 * multiplier); the plain number is multiplied by `plain`. */
typedef struct sc_unit {
    const char *name;
    double mul;
} sc_unit;

static int sc_number(const char *s, const sc_unit *units, double plain, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v) || v < 0) return -1;
    if (*end == 0) {
        *out = v * plain;
        return 0;
    }
    for (const sc_unit *u = units; u && u->name; u++)
        if (strcmp(end, u->name) == 0) {
            *out = v * u->mul;
            return 0;
        }
    return -1;
}

static const sc_unit RATE_UNITS[] = {{"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {NULL, 0}};
static const sc_unit TIME_UNITS[] = {{"ms", 1e-3}, {"s", 1}, {"m", 60}, {"h", 3600}, {NULL, 0}};
static const sc_unit SIZE_UNITS[] = {{"k", 1024}, {"K", 1024}, {"M", 1048576}, {"G", 1073741824.0}, {NULL, 0}};

/* bits/s (k, M, G decimal) into bytes/s. */
static int sc_rate(sc_ctx *c, const char *what, const char *s, uint64_t *out)
{
    double v = 0;
    if (sc_number(s, RATE_UNITS, 1, &v) || v < 8 || v > 1e13)
        return sc_fail(c, "%s: bad rate '%s' (bits/s, e.g. 2500000, 800k, 20M, 1G; at least 8)", what, s);
    *out = (uint64_t)(v / 8);
    return 0;
}

/* seconds (ms, s, m, h; plain = seconds). */
static int sc_time(sc_ctx *c, const char *what, const char *s, double max, double *out)
{
    double v = 0;
    if (sc_number(s, TIME_UNITS, 1, &v) || v > max)
        return sc_fail(c, "%s: bad time '%s' (e.g. 600, 20ms, 10m; at most %.0f s)", what, s, max);
    *out = v;
    return 0;
}

static int sc_count(sc_ctx *c, const char *what, const char *s, double lo, double hi, double *out)
{
    double v = 0;
    if (sc_number(s, NULL, 1, &v) || v != floor(v) || v < lo || v > hi)
        return sc_fail(c, "%s: bad count '%s' (a whole number from %.0f to %.0f)", what, s, lo, hi);
    *out = v;
    return 0;
}

/* key value pairs after the keyword: calls fn for each. */
typedef int (*sc_kv_fn)(sc_ctx *c, pf_sim_scenario *sc, void *ud, const char *key, const char *val);

static int sc_pairs(sc_ctx *c, pf_sim_scenario *sc, char **w, int n, sc_kv_fn fn, void *ud)
{
    if (n < 3 || (n - 1) % 2) return sc_fail(c, "%s: expects KEY VALUE pairs", w[0]);
    for (int i = 1; i + 1 < n; i += 2)
        if (fn(c, sc, ud, w[i], w[i + 1])) return -1;
    return 0;
}

static int kv_title(sc_ctx *c, pf_sim_scenario *sc, void *ud, const char *k, const char *v)
{
    (void)ud;
    double x = 0;
    if (strcmp(k, "bitrate") == 0) {
        uint64_t bps;
        if (sc_rate(c, "title bitrate", v, &bps)) return -1;
        sc->bitrate = (double)bps * 8;
        return 0;
    }
    if (strcmp(k, "duration") == 0) {
        if (sc_time(c, "title duration", v, 86400, &x)) return -1;
        if (x < 1) return sc_fail(c, "title duration: at least 1 s");
        sc->duration_s = x;
        return 0;
    }
    if (strcmp(k, "piece") == 0) {
        if (sc_number(v, SIZE_UNITS, 1, &x) || x < 16384 || x > 16777216 ||
            ((uint64_t)x & ((uint64_t)x - 1)) || x != floor(x))
            return sc_fail(c, "title piece: bad size '%s' (a power of two from 16k to 16M)", v);
        sc->piece_len = (uint32_t)x;
        return 0;
    }
    return sc_fail(c, "title: unknown key '%s' (bitrate, duration, piece)", k);
}

static int kv_link(sc_ctx *c, pf_sim_scenario *sc, void *ud, const char *k, const char *v)
{
    pf_sim_link_class *lc = ud;
    double x = 0;
    if (strcmp(k, "up") == 0) return sc_rate(c, "link up", v, &lc->up_Bps);
    if (strcmp(k, "down") == 0) return sc_rate(c, "link down", v, &lc->down_Bps);
    if (strcmp(k, "latency") == 0) {
        if (sc_time(c, "link latency", v, 10, &x)) return -1;
        lc->latency_ns = (uint64_t)(x * 1e9);
        return 0;
    }
    (void)sc;
    return sc_fail(c, "link: unknown key '%s' (up, down, latency)", k);
}

static int kv_cdn(sc_ctx *c, pf_sim_scenario *sc, void *ud, const char *k, const char *v)
{
    (void)ud;
    double x = 0;
    if (strcmp(k, "capacity") == 0) return sc_rate(c, "cdn capacity", v, &sc->cdn_Bps);
    if (strcmp(k, "latency") == 0) {
        if (sc_time(c, "cdn latency", v, 10, &x)) return -1;
        sc->cdn_latency_ns = (uint64_t)(x * 1e9);
        return 0;
    }
    return sc_fail(c, "cdn: unknown key '%s' (capacity, latency)", k);
}

static int kv_tracker(sc_ctx *c, pf_sim_scenario *sc, void *ud, const char *k, const char *v)
{
    (void)ud;
    double x = 0;
    if (strcmp(k, "latency") == 0) {
        if (sc_time(c, "tracker latency", v, 10, &x)) return -1;
        sc->tracker_latency_ns = (uint64_t)(x * 1e9);
        return 0;
    }
    if (strcmp(k, "interval") == 0) {
        if (sc_time(c, "tracker interval", v, 3600, &x)) return -1;
        if (x < 1) return sc_fail(c, "tracker interval: at least 1 s");
        sc->tracker_interval_s = (uint32_t)x;
        return 0;
    }
    if (strcmp(k, "numwant") == 0) {
        if (sc_count(c, "tracker numwant", v, 1, 200, &x)) return -1;
        sc->numwant = (uint32_t)x;
        return 0;
    }
    return sc_fail(c, "tracker: unknown key '%s' (latency, interval, numwant)", k);
}

static int kv_player(sc_ctx *c, pf_sim_scenario *sc, void *ud, const char *k, const char *v)
{
    (void)ud;
    if (strcmp(k, "probe") == 0) {
        double x = 0;
        if (sc_number(v, SIZE_UNITS, 1, &x) || x > 1e12 || x != floor(x))
            return sc_fail(c, "player probe: bad size '%s' (bytes, e.g. 100k; 0: the bitrate is known at open)", v);
        sc->player_probe = (uint64_t)x;
        return 0;
    }
    double *dst = strcmp(k, "startup") == 0    ? &sc->startup_s
                  : strcmp(k, "rebuffer") == 0 ? &sc->rebuffer_s
                  : strcmp(k, "buffer") == 0   ? &sc->buffer_s
                  : strcmp(k, "delay") == 0    ? &sc->player_delay_s
                                               : NULL;
    if (!dst) return sc_fail(c, "player: unknown key '%s' (startup, rebuffer, buffer, delay, probe)", k);
    char what[32];
    snprintf(what, sizeof what, "player %s", k);
    return sc_time(c, what, v, 600, dst);
}

static int kv_engine(sc_ctx *c, pf_sim_scenario *sc, void *ud, const char *k, const char *v)
{
    (void)ud;
    double x = 0;
    if (strcmp(k, "max_peers") == 0) {
        if (sc_count(c, "engine max_peers", v, 1, 1000, &x)) return -1;
        sc->max_peers = (uint32_t)x;
        return 0;
    }
    if (strcmp(k, "upload_slots") == 0) {
        if (sc_count(c, "engine upload_slots", v, 1, 100, &x)) return -1;
        sc->upload_slots = (uint32_t)x;
        return 0;
    }
    if (strcmp(k, "memory_limit") == 0) {
        if (sc_number(v, SIZE_UNITS, 1, &x) || x < 65536 || x > 1e12 || x != floor(x))
            return sc_fail(c, "engine memory_limit: bad size '%s' (bytes, e.g. 16M; at least 64k)", v);
        sc->memory_limit = (uint64_t)x;
        return 0;
    }
    return sc_fail(c, "engine: unknown key '%s' (max_peers, upload_slots, memory_limit)", k);
}

/* link [SHARE%] up RATE down RATE [latency TIME] */
static int sc_link(sc_ctx *c, pf_sim_scenario *sc, char **w, int n)
{
    if (!c->links_seen) {
        sc->ncls = 0;
        c->links_seen = 1;
        c->link_line = c->line;
    }
    if (sc->ncls >= PF_SIM_MAX_CLASSES) return sc_fail(c, "link: at most %d link lines", PF_SIM_MAX_CLASSES);
    pf_sim_link_class lc = {1.0, 0, 0, 10 * 1000000ULL};
    size_t l0 = strlen(w[1]);
    if (l0 > 1 && w[1][l0 - 1] == '%') {
        char num[32];
        double x = 0;
        snprintf(num, sizeof num, "%.*s", (int)(l0 - 1), w[1]);
        if (sc_number(num, NULL, 1, &x) || x <= 0 || x > 100)
            return sc_fail(c, "link: bad share '%s' (a percentage, e.g. 70%%)", w[1]);
        lc.share = x / 100;
        w++;
        n--;
    }
    if (sc_pairs(c, sc, w, n, kv_link, &lc)) return -1;
    if (!lc.up_Bps || !lc.down_Bps) return sc_fail(c, "link: both 'up' and 'down' are needed");
    sc->cls[sc->ncls++] = lc;
    return 0;
}

/* arrival curve TIME=RATE...: points from time 0, times increasing, the
 * rate relative (viewers per second at the curve's scale: only its shape
 * counts, `viewers` says how many arrive). */
static int sc_curve(sc_ctx *c, pf_sim_scenario *sc, char **w, int n)
{
    if (n < 4) return sc_fail(c, "arrival curve: expects at least two points TIME=RATE (e.g. 0=1 30m=10 60m=2)");
    if (n - 2 > PF_SIM_MAX_CURVE) return sc_fail(c, "arrival curve: at most %d points", PF_SIM_MAX_CURVE);
    double area = 0;
    for (int i = 2; i < n; i++) {
        char tbuf[32];
        const char *eq = strchr(w[i], '=');
        double t = 0, r = 0;
        if (!eq || eq == w[i] || (size_t)(eq - w[i]) >= sizeof tbuf)
            return sc_fail(c, "arrival curve: bad point '%s' (TIME=RATE, e.g. 30m=10)", w[i]);
        snprintf(tbuf, sizeof tbuf, "%.*s", (int)(eq - w[i]), w[i]);
        if (sc_time(c, "arrival curve", tbuf, 86400, &t)) return -1;
        if (sc_number(eq + 1, NULL, 1, &r) || r > 1e9)
            return sc_fail(c, "arrival curve: bad rate '%s' in '%s' (a number, 0 or more)", eq + 1, w[i]);
        uint32_t k = (uint32_t)(i - 2);
        if (k == 0 && t != 0) return sc_fail(c, "arrival curve: the first point is at time 0, not '%s'", tbuf);
        if (k > 0 && t <= sc->curve_t[k - 1])
            return sc_fail(c, "arrival curve: the times must increase ('%s' after %.6g s)", tbuf, sc->curve_t[k - 1]);
        if (k > 0) area += (r + sc->curve_rate[k - 1]) / 2 * (t - sc->curve_t[k - 1]);
        sc->curve_t[k] = t;
        sc->curve_rate[k] = r;
    }
    if (!(area > 0)) return sc_fail(c, "arrival curve: the rate is 0 everywhere");
    sc->ncurve = (uint32_t)(n - 2);
    sc->arrival = PF_SIM_ARRIVAL_CURVE;
    sc->arrival_s = sc->curve_t[sc->ncurve - 1];
    return 0;
}

/* A percentage "P%" into 0-1; -1 if it is not one (0 excluded). */
static double sc_share(const char *s)
{
    size_t l = strlen(s);
    char num[32];
    double x = 0;
    if (l < 2 || l > 20 || s[l - 1] != '%') return -1;
    snprintf(num, sizeof num, "%.*s", (int)(l - 1), s);
    if (sc_number(num, NULL, 1, &x) || x <= 0 || x > 100) return -1;
    return x / 100;
}

/* isp SHARE% [local_share X] */
static int sc_isp(sc_ctx *c, pf_sim_scenario *sc, char **w, int n)
{
    if (n != 2 && n != 4) return sc_fail(c, "isp: expects SHARE%% [local_share X] (e.g. 'isp 60%%')");
    double share = sc_share(w[1]);
    if (share < 0) return sc_fail(c, "isp: bad share '%s' (a percentage, e.g. 60%%)", w[1]);
    if (sc->nisp >= PF_SIM_MAX_ISPS) return sc_fail(c, "isp: at most %d isp lines", PF_SIM_MAX_ISPS);
    pf_sim_isp isp = {share, -1};
    if (n == 4) {
        double x = 0;
        if (strcmp(w[2], "local_share") != 0) return sc_fail(c, "isp: unknown key '%s' (local_share)", w[2]);
        if (sc_number(w[3], NULL, 1, &x) || x > 1)
            return sc_fail(c, "isp local_share: bad value '%s' (from 0 to 1)", w[3]);
        isp.local_share = x;
    }
    if (!sc->nisp) c->isp_line = c->line;
    sc->isp[sc->nisp++] = isp;
    return 0;
}

/* arrival at TIME...: the arrival times themselves (a lab run's plan,
 * tools/sim/vslab.py); several lines add to the list. */
static int sc_at(sc_ctx *c, pf_sim_scenario *sc, char **w, int n)
{
    if (n < 3) return sc_fail(c, "arrival at: expects one or more times (e.g. 'arrival at 0 1.5 7.25')");
    if (sc->arrival != PF_SIM_ARRIVAL_AT) sc->nat = 0; /* an earlier `arrival` of another kind */
    for (int i = 2; i < n; i++) {
        double t = 0;
        if (sc->nat >= PF_SIM_MAX_AT) return sc_fail(c, "arrival at: at most %d times", PF_SIM_MAX_AT);
        if (sc_time(c, "arrival at", w[i], 86400, &t)) return -1;
        sc->at_s[sc->nat++] = t;
    }
    if (!c->at_line) c->at_line = c->line;
    sc->arrival = PF_SIM_ARRIVAL_AT;
    sc->arrival_s = 0;
    for (uint32_t i = 0; i < sc->nat; i++)
        if (sc->at_s[i] > sc->arrival_s) sc->arrival_s = sc->at_s[i];
    return 0;
}

static int sc_arrival(sc_ctx *c, pf_sim_scenario *sc, char **w, int n)
{
    double x = 0;
    if (n >= 2 && strcmp(w[1], "curve") == 0) return sc_curve(c, sc, w, n);
    if (n >= 2 && strcmp(w[1], "at") == 0) return sc_at(c, sc, w, n);
    if (n == 2 && strcmp(w[1], "burst") == 0) {
        sc->arrival = PF_SIM_ARRIVAL_UNIFORM;
        sc->arrival_s = 0;
        return 0;
    }
    if (n != 3 || (strcmp(w[1], "uniform") && strcmp(w[1], "fixed")))
        return sc_fail(c, "arrival: expects 'uniform SECONDS', 'fixed SECONDS', 'burst', 'curve TIME=RATE...' or 'at TIME...'");
    if (sc_time(c, "arrival", w[2], 86400, &x)) return -1;
    sc->arrival = strcmp(w[1], "fixed") == 0 ? PF_SIM_ARRIVAL_FIXED : PF_SIM_ARRIVAL_UNIFORM;
    sc->arrival_s = x;
    return 0;
}

/* watch TIME [SHARE%]: without a share, how long everyone not in a share
 * stays; with one, that share of the audience leaves after TIME (churn). */
static int sc_watch(sc_ctx *c, pf_sim_scenario *sc, char **w, int n)
{
    double x = 0, share = 0;
    if (n != 2 && n != 3) return sc_fail(c, "watch: expects TIME [SHARE%%] (e.g. 'watch 120', 'watch 60 30%%')");
    if (sc_time(c, "watch", w[1], 86400, &x)) return -1;
    if (x < 1) return sc_fail(c, "watch: at least 1 s");
    if (n == 2) {
        sc->watch_s = x;
        return 0;
    }
    share = sc_share(w[2]);
    if (share < 0) return sc_fail(c, "watch: bad share '%s' (a percentage, e.g. 30%%)", w[2]);
    if (sc->nwatch >= PF_SIM_MAX_WATCH) return sc_fail(c, "watch: at most %d lines with a share", PF_SIM_MAX_WATCH);
    if (!sc->nwatch) c->watch_line = c->line;
    sc->watch[sc->nwatch].share = share;
    sc->watch[sc->nwatch].s = x;
    sc->nwatch++;
    return 0;
}

static int sc_single(sc_ctx *c, pf_sim_scenario *sc, char **w, int n)
{
    double x = 0;
    if (n != 2) return sc_fail(c, "%s: expects one value", w[0]);
    if (strcmp(w[0], "name") == 0) {
        if (strlen(w[1]) >= sizeof sc->name) return sc_fail(c, "name: at most %zu characters", sizeof sc->name - 1);
        for (const char *p = w[1]; *p; p++)
            if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
                return sc_fail(c, "name: only letters, digits, '.', '_' and '-'");
        snprintf(sc->name, sizeof sc->name, "%s", w[1]);
        return 0;
    }
    if (strcmp(w[0], "seed") == 0) {
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(w[1], &end, 10);
        if (end == w[1] || *end || errno || w[1][0] == '-') return sc_fail(c, "seed: bad number '%s'", w[1]);
        sc->seed = v;
        return 0;
    }
    if (strcmp(w[0], "viewers") == 0) {
        if (sc_count(c, "viewers", w[1], 1, 10000000, &x)) return -1;
        sc->viewers = (uint32_t)x;
        c->viewers_line = c->line;
        return 0;
    }
    if (strcmp(w[0], "end") == 0) {
        if (sc_time(c, "end", w[1], 7 * 86400, &x)) return -1;
        sc->end_s = x;
        return 0;
    }
    return sc_fail(c, "unknown keyword '%s'", w[0]);
}

static int sc_statement(sc_ctx *c, pf_sim_scenario *sc, char **w, int n)
{
    if (strcmp(w[0], "title") == 0) return sc_pairs(c, sc, w, n, kv_title, NULL);
    if (strcmp(w[0], "link") == 0) {
        if (n < 2) return sc_fail(c, "link: expects [SHARE%%] up RATE down RATE [latency TIME]");
        return sc_link(c, sc, w, n);
    }
    if (strcmp(w[0], "cdn") == 0) return sc_pairs(c, sc, w, n, kv_cdn, NULL);
    if (strcmp(w[0], "tracker") == 0) return sc_pairs(c, sc, w, n, kv_tracker, NULL);
    if (strcmp(w[0], "player") == 0) return sc_pairs(c, sc, w, n, kv_player, NULL);
    if (strcmp(w[0], "engine") == 0) return sc_pairs(c, sc, w, n, kv_engine, NULL);
    if (strcmp(w[0], "arrival") == 0) return sc_arrival(c, sc, w, n);
    if (strcmp(w[0], "watch") == 0) return sc_watch(c, sc, w, n);
    if (strcmp(w[0], "isp") == 0) return sc_isp(c, sc, w, n);
    if (strcmp(w[0], "catalogue") == 0) {
        double x = 0, z = 1.0;
        if ((n != 2 && n != 4) || (n == 4 && strcmp(w[2], "zipf") != 0))
            return sc_fail(c, "catalogue: expects TITLES [zipf S] (e.g. 'catalogue 1000 zipf 1')");
        if (sc_count(c, "catalogue", w[1], 1, 100000, &x)) return -1;
        if (n == 4 && (sc_number(w[3], NULL, 1, &z) || z > 5))
            return sc_fail(c, "catalogue zipf: bad exponent '%s' (from 0, uniform, to 5)", w[3]);
        sc->titles = (uint32_t)x;
        sc->zipf_s = z;
        return 0;
    }
    if (strcmp(w[0], "locality") == 0) {
        if (n != 2 || (strcmp(w[1], "map") && strcmp(w[1], "none")))
            return sc_fail(c, "locality: expects 'map' or 'none'");
        sc->locality_none = strcmp(w[1], "none") == 0;
        if (!c->locality_line) c->locality_line = c->line;
        return 0;
    }
    if (strcmp(w[0], "departed") == 0) {
        if (n != 2 || (strcmp(w[1], "refuse") && strcmp(w[1], "silent")))
            return sc_fail(c, "departed: expects 'refuse' or 'silent'");
        sc->departed_silent = strcmp(w[1], "silent") == 0;
        return 0;
    }
    if (strcmp(w[0], "payload") == 0) {
        if (n != 2 || (strcmp(w[1], "elided") && strcmp(w[1], "real")))
            return sc_fail(c, "payload: expects 'elided' or 'real'");
        sc->payload_real = strcmp(w[1], "real") == 0;
        return 0;
    }
    return sc_single(c, sc, w, n);
}

/* Whole-scenario checks, after the last line. */
static int sc_finish(sc_ctx *c, pf_sim_scenario *sc)
{
    double sum = 0;
    for (uint32_t i = 0; i < sc->ncls; i++) sum += sc->cls[i].share;
    if (c->links_seen && sc->ncls > 1 && fabs(sum - 1.0) > 1e-6) {
        c->line = c->link_line;
        return sc_fail(c, "link: the shares of the %u link lines add up to %.4g%%, not 100%%", sc->ncls,
                       sum * 100);
    }
    if (sc->ncls == 1) sc->cls[0].share = 1.0;
    double wsum = 0;
    for (uint32_t i = 0; i < sc->nwatch; i++) wsum += sc->watch[i].share;
    if (wsum > 1.0 + 1e-6) {
        c->line = c->watch_line;
        return sc_fail(c, "watch: the shares of the %u watch lines add up to %.4g%%, more than 100%%", sc->nwatch,
                       wsum * 100);
    }
    double isum = 0;
    for (uint32_t i = 0; i < sc->nisp; i++) isum += sc->isp[i].share;
    if (sc->nisp && fabs(isum - 1.0) > 1e-6) {
        c->line = c->isp_line;
        return sc_fail(c, "isp: the shares of the %u isp lines add up to %.4g%%, not 100%%", sc->nisp, isum * 100);
    }
    if (sc->arrival == PF_SIM_ARRIVAL_AT) { /* the times are the audience */
        if (c->viewers_line && sc->viewers != sc->nat) {
            c->line = c->viewers_line;
            return sc_fail(c, "viewers: %u, but 'arrival at' gives %u times", sc->viewers, sc->nat);
        }
        sc->viewers = sc->nat;
    }
    if (c->locality_line && !sc->nisp) {
        c->line = c->locality_line;
        return sc_fail(c, "locality: no isp lines (the map is the ISPs')");
    }
    if (sc->rebuffer_s > sc->buffer_s || sc->startup_s > sc->buffer_s) {
        c->line = 0;
        return sc_fail(c, "player: startup and rebuffer must not exceed buffer (%.3g s)", sc->buffer_s);
    }
    uint64_t size = (uint64_t)(sc->bitrate / 8 * sc->duration_s);
    if (size < sc->piece_len) {
        c->line = 0;
        return sc_fail(c, "title: %llu bytes, less than one piece", (unsigned long long)size);
    }
    if (size > (1ULL << 36)) {
        c->line = 0;
        return sc_fail(c, "title: %llu bytes, more than 64 GiB", (unsigned long long)size);
    }
    return 0;
}

int pf_sim_scenario_parse(const char *text, size_t len, const char *fname, pf_sim_scenario *sc,
                          char *err, size_t errlen)
{
    sc_ctx c = {fname ? fname : "scenario", 0, err, errlen, 0, 0, 0, 0, 0, 0, 0};
    size_t pos = 0;
    while (pos < len) {
        size_t e = pos;
        while (e < len && text[e] != '\n') e++;
        c.line++;
        if (e - pos >= SC_MAX_LINE) return sc_fail(&c, "line longer than %d bytes", SC_MAX_LINE - 1);
        char buf[SC_MAX_LINE];
        memcpy(buf, text + pos, e - pos);
        buf[e - pos] = 0;
        pos = e + 1;
        char *hash = strchr(buf, '#');
        if (hash) *hash = 0;
        for (char *p = buf; *p; p++)
            if ((unsigned char)*p < 0x20 && *p != '\t' && *p != '\r')
                return sc_fail(&c, "control character in the line");
        char *w[SC_MAX_WORDS];
        int n = 0;
        char *save = NULL;
        for (char *tok = strtok_r(buf, " \t\r", &save); tok; tok = strtok_r(NULL, " \t\r", &save)) {
            if (n == SC_MAX_WORDS) return sc_fail(&c, "more than %d words", SC_MAX_WORDS);
            w[n++] = tok;
        }
        if (n && sc_statement(&c, sc, w, n)) return -1;
    }
    return sc_finish(&c, sc);
}

int pf_sim_scenario_load(const char *path, pf_sim_scenario *sc, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char *buf = malloc(SC_MAX_FILE + 1);
    if (!buf) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    size_t n = fread(buf, 1, SC_MAX_FILE + 1, f);
    int rerr = ferror(f);
    fclose(f);
    int rc = -1;
    if (rerr)
        snprintf(err, errlen, "%s: read error", path);
    else if (n > SC_MAX_FILE)
        snprintf(err, errlen, "%s: larger than 1 MiB", path);
    else
        rc = pf_sim_scenario_parse(buf, n, path, sc, err, errlen);
    free(buf);
    return rc;
}
