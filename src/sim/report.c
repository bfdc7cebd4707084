/* The summary of a run: CDN bytes against the fluid bound, offload,
 * start-up, stalls, uploads, the engines' heap, the simulator's work.
 * Everything here but pf_sim_result_perf_json depends only on the
 * scenario and its seed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_result.h"

typedef struct rep {
    uint32_t arrived, started;
    double su_p50, su_p90, su_max; /* start-up, s; -1 without any */
    uint32_t stalls, stalled;
    double stall_s;
    uint64_t cdn_sent;   /* body bytes the CDN delivered */
    uint64_t cdn_bytes;  /* of those, accepted by the engines */
    uint64_t peer_bytes, uploaded, wasted, remote_bytes;
    uint32_t hash_failures, log_errors;
    double offload;
    double demand, novel, upload_cap, bound, bound_total, ratio;
    double up_mean, up_p50, up_max, up_use;
    uint64_t heap_node_max;
    double heap_node_mean, heap_per_viewer;
} rep;

static void rep_catalogue(const sim *w, FILE *f);

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* As tools/lab/report.py: the median averages the middle two; p90 is the
 * ceil(0.9 n)-th smallest. */
static double median(const double *s, size_t n)
{
    if (!n) return -1;
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static double pct(const double *s, size_t n, double q)
{
    if (!n) return -1;
    size_t k = (size_t)ceil(q * (double)n);
    return s[k ? k - 1 : 0];
}

/* The fluid bound, per one-second bin (tools/lab/report.py): demand the
 * peers' upload capacity cannot carry, and at least the bytes nobody read
 * before. */
static void rep_bound(const sim *w, rep *r)
{
    double *up = calloc(w->nbins, sizeof *up);
    if (!up) {
        r->bound = r->bound_total = -1;
        return;
    }
    for (uint32_t i = 0; i < w->n; i++) {
        const sim_node *nd = &w->nodes[i];
        if (!nd->left) continue;
        double a = (double)nd->arrive_at / 1e9, d = (double)nd->depart_at / 1e9;
        double Bps = (double)w->sc.cls[nd->cls].up_Bps;
        for (uint64_t b = (uint64_t)a; b < w->nbins && (double)b < d; b++) {
            double lo = a > (double)b ? a : (double)b, hi = d < (double)(b + 1) ? d : (double)(b + 1);
            if (hi > lo) up[b] += Bps * (hi - lo);
        }
    }
    for (uint32_t b = 0; b < w->nbins; b++) {
        double x = w->demand[b] - up[b];
        if (x < w->novel[b]) x = w->novel[b];
        if (x < 0) x = 0;
        r->bound += x;
        r->demand += w->demand[b];
        r->novel += w->novel[b];
        r->upload_cap += up[b];
    }
    r->bound_total = r->demand - r->upload_cap > r->novel ? r->demand - r->upload_cap : r->novel;
    free(up);
}

static void rep_viewers(const sim *w, rep *r, double *su, double *upl)
{
    size_t nsu = 0, nup = 0;
    double up_time = 0;
    for (uint32_t i = 0; i < w->n; i++) {
        const sim_node *nd = &w->nodes[i];
        if (!nd->left) continue;
        r->arrived++;
        if (nd->pl.started) su[nsu++] = (double)(nd->pl.started_at - nd->pl.opened_at) / 1e9;
        r->stalls += nd->pl.stalls;
        r->stalled += nd->pl.stalls ? 1 : 0;
        r->stall_s += nd->pl.stall_s;
        r->cdn_bytes += nd->cdn_bytes;
        r->peer_bytes += nd->peer_bytes;
        r->uploaded += nd->uploaded;
        r->wasted += nd->wasted;
        r->remote_bytes += nd->remote_bytes;
        r->hash_failures += nd->hash_failures;
        r->log_errors += nd->log_errors;
        upl[nup++] = (double)nd->uploaded;
        up_time += (double)w->sc.cls[nd->cls].up_Bps * (double)(nd->depart_at - nd->arrive_at) / 1e9;
        if (nd->heap_peak > r->heap_node_max) r->heap_node_max = nd->heap_peak;
        r->heap_node_mean += (double)nd->heap_peak;
    }
    r->started = (uint32_t)nsu;
    qsort(su, nsu, sizeof *su, cmp_d);
    qsort(upl, nup, sizeof *upl, cmp_d);
    r->su_p50 = median(su, nsu);
    r->su_p90 = pct(su, nsu, 0.9);
    r->su_max = nsu ? su[nsu - 1] : -1;
    r->up_mean = nup ? (double)r->uploaded / (double)nup : 0;
    r->up_p50 = nup ? median(upl, nup) : 0;
    r->up_max = nup ? upl[nup - 1] : 0;
    r->up_use = up_time > 0 ? (double)r->uploaded / up_time : 0;
    if (r->arrived) r->heap_node_mean /= r->arrived;
}

static void rep_make(const sim *w, rep *r)
{
    memset(r, 0, sizeof *r);
    double *su = calloc(w->n ? w->n : 1, sizeof *su), *upl = calloc(w->n ? w->n : 1, sizeof *upl);
    if (su && upl) rep_viewers(w, r, su, upl);
    free(su);
    free(upl);
    r->cdn_sent = w->cdn_bytes;
    uint64_t tot = r->cdn_sent + r->peer_bytes;
    r->offload = tot ? (double)r->peer_bytes / (double)tot : 0;
    rep_bound(w, r);
    r->ratio = r->bound > 0 ? (double)r->cdn_sent / r->bound : 0;
    r->heap_per_viewer = w->heap_peak_present ? (double)w->heap_peak / w->heap_peak_present : 0;
}

void pf_sim_result_json(const pf_sim_result *res, FILE *f)
{
    const sim *w = &res->w;
    const pf_sim_scenario *sc = &w->sc;
    rep r;
    rep_make(w, &r);
    fprintf(f, "{\n  \"scenario\": \"%s\",\n  \"seed\": %llu,\n", sc->name, (unsigned long long)sc->seed);
    fprintf(f, "  \"viewers\": %u,\n  \"viewers_arrived\": %u,\n  \"peak_present\": %u,\n", w->n, r.arrived,
            w->peak_present);
    fprintf(f, "  \"title_bytes\": %llu,\n  \"simulated_s\": %.3f,\n", (unsigned long long)w->size,
            (double)w->end_at / 1e9);
    fprintf(f, "  \"cdn_bytes\": %llu,\n  \"cdn_bytes_accepted\": %llu,\n  \"peer_bytes\": %llu,\n",
            (unsigned long long)r.cdn_sent, (unsigned long long)r.cdn_bytes, (unsigned long long)r.peer_bytes);
    fprintf(f, "  \"offload\": %.4f,\n", r.offload);
    fprintf(f, "  \"fluid_bound_bytes\": %.0f,\n  \"fluid_bound_total_bytes\": %.0f,\n  \"cdn_over_bound\": %.4f,\n",
            r.bound, r.bound_total, r.ratio);
    fprintf(f, "  \"demand_bytes\": %.0f,\n  \"novel_bytes\": %.0f,\n  \"upload_capacity_bytes\": %.0f,\n",
            r.demand, r.novel, r.upload_cap);
    fprintf(f, "  \"started\": %u,\n  \"not_started\": %u,\n", r.started, r.arrived - r.started);
    fprintf(f, "  \"startup_p50_s\": %.3f,\n  \"startup_p90_s\": %.3f,\n  \"startup_max_s\": %.3f,\n", r.su_p50,
            r.su_p90, r.su_max);
    fprintf(f, "  \"stalls\": %u,\n  \"stalled_viewers\": %u,\n  \"stall_s\": %.3f,\n", r.stalls, r.stalled,
            r.stall_s);
    fprintf(f, "  \"upload_per_viewer_mean_bytes\": %.0f,\n  \"upload_per_viewer_p50_bytes\": %.0f,\n", r.up_mean,
            r.up_p50);
    fprintf(f, "  \"upload_per_viewer_max_bytes\": %.0f,\n  \"upload_use_of_capacity\": %.4f,\n", r.up_max,
            r.up_use);
    fprintf(f, "  \"wasted_bytes\": %llu,\n  \"hash_failures\": %u,\n  \"engine_errors\": %u,\n",
            (unsigned long long)r.wasted, r.hash_failures, r.log_errors);
    fprintf(f, "  \"engine_heap_peak_bytes\": %llu,\n  \"engine_heap_peak_viewers\": %u,\n",
            (unsigned long long)w->heap_peak, w->heap_peak_present);
    fprintf(f, "  \"engine_heap_per_viewer_bytes\": %.0f,\n  \"engine_heap_node_peak_mean_bytes\": %.0f,\n",
            r.heap_per_viewer, r.heap_node_mean);
    fprintf(f, "  \"engine_heap_node_peak_max_bytes\": %llu,\n", (unsigned long long)r.heap_node_max);
    fprintf(f, "  \"engine_heap_at_peak_by_size\": [");
    for (unsigned b = 0, first = 1; b < SIM_HEAP_BUCKETS; b++) {
        if (!w->heap_count_peak[b]) continue;
        fprintf(f, "%s\n    {\"from\": %llu, \"allocations\": %llu, \"bytes\": %llu}", first ? "" : ",",
                1ULL << b, (unsigned long long)w->heap_count_peak[b], (unsigned long long)w->heap_by_size_peak[b]);
        first = 0;
    }
    fprintf(f, "\n  ],\n");
    fprintf(f, "  \"events\": %llu,\n  \"stale_events\": %llu,\n  \"dials\": %llu,\n  \"dials_refused\": %llu,\n",
            (unsigned long long)w->events, (unsigned long long)w->stale_events, (unsigned long long)w->dials,
            (unsigned long long)w->refused);
    fprintf(f, "  \"dials_refused_by_engine\": %llu,\n  \"dials_not_a_listening_port\": %llu,\n",
            (unsigned long long)w->refused_accept, (unsigned long long)w->dials_other_port);
    fprintf(f, "  \"dials_to_self\": %llu,\n  \"dials_unanswered\": %llu,\n", (unsigned long long)w->dials_self,
            (unsigned long long)w->dials_unanswered);
    fprintf(f, "  \"announces\": %llu,\n  \"cdn_requests\": %llu,\n  \"cdn_cancels\": %llu,\n",
            (unsigned long long)w->announces, (unsigned long long)w->cdn_requests,
            (unsigned long long)w->cdn_cancels);
    if (sc->titles > 1) rep_catalogue(w, f);
    if (sc->nisp) {
        fprintf(f, "  \"isps\": %u,\n  \"locality\": \"%s\",\n", sc->nisp, sc->locality_none ? "none" : "map");
        fprintf(f, "  \"inter_isp_link_bytes\": %llu,\n  \"inter_isp_link_share\": %.4f,\n",
                (unsigned long long)w->inter_isp_link_bytes,
                w->link_bytes ? (double)w->inter_isp_link_bytes / (double)w->link_bytes : 0);
        if (!sc->locality_none)
            fprintf(f, "  \"inter_isp_peer_bytes\": %llu,\n  \"inter_isp_peer_share\": %.4f,\n",
                    (unsigned long long)r.remote_bytes,
                    r.peer_bytes ? (double)r.remote_bytes / (double)r.peer_bytes : 0);
    }
    fprintf(f, "  \"peer_link_bytes\": %llu\n}\n", (unsigned long long)w->link_bytes);
}

/* A catalogue's titles grouped by their audience (viewers who came):
 * how many titles, viewers, CDN and peer bytes in each group. */
#define CAT_GROUPS 7
static const uint32_t CAT_FROM[CAT_GROUPS] = {1, 2, 4, 11, 31, 101, 301};

static void rep_catalogue(const sim *w, FILE *f)
{
    uint32_t *aud = calloc(w->sc.titles, sizeof *aud);
    double g[CAT_GROUPS][4] = {{0}}; /* titles, viewers, cdn, peers */
    if (!aud) return;
    uint32_t watched = 0;
    for (uint32_t i = 0; i < w->n; i++)
        if (w->nodes[i].left) watched += aud[w->nodes[i].title]++ == 0;
    for (uint32_t i = 0; i < w->n; i++) {
        const sim_node *nd = &w->nodes[i];
        if (!nd->left) continue;
        int k = CAT_GROUPS - 1;
        while (k > 0 && aud[nd->title] < CAT_FROM[k]) k--;
        g[k][1] += 1;
        g[k][2] += (double)nd->cdn_bytes;
        g[k][3] += (double)nd->peer_bytes;
    }
    for (uint32_t t = 0; t < w->sc.titles; t++) {
        int k = CAT_GROUPS - 1;
        if (!aud[t]) continue;
        while (k > 0 && aud[t] < CAT_FROM[k]) k--;
        g[k][0] += 1;
    }
    fprintf(f, "  \"titles\": %u,\n  \"zipf_s\": %.3f,\n  \"titles_watched\": %u,\n", w->sc.titles, w->sc.zipf_s,
            watched);
    fprintf(f, "  \"by_title_audience\": [");
    for (int k = 0, first = 1; k < CAT_GROUPS; k++) {
        if (!g[k][0]) continue;
        double tot = g[k][2] + g[k][3];
        fprintf(f, "%s\n    {\"viewers_from\": %u, \"titles\": %.0f, \"viewers\": %.0f, \"cdn_bytes\": %.0f, "
                   "\"peer_bytes\": %.0f, \"offload\": %.4f}",
                first ? "" : ",", CAT_FROM[k], g[k][0], g[k][1], g[k][2], g[k][3], tot > 0 ? g[k][3] / tot : 0);
        first = 0;
    }
    fprintf(f, "\n  ],\n");
    free(aud);
}

static void mb_row(FILE *f, const char *what, double bytes)
{
    fprintf(f, "  %-34s %12.1f MB\n", what, bytes / 1e6);
}

void pf_sim_result_text(const pf_sim_result *res, FILE *f)
{
    const sim *w = &res->w;
    rep r;
    rep_make(w, &r);
    fprintf(f, "scenario %s, seed %llu: %u viewers (%u at most at once), %.0f s simulated\n", w->sc.name,
            (unsigned long long)w->sc.seed, r.arrived, w->peak_present, (double)w->end_at / 1e9);
    if (w->sc.titles > 1) fprintf(f, "  a catalogue of %u titles, Zipf s=%.3g\n", w->sc.titles, w->sc.zipf_s);
    mb_row(f, "CDN", (double)r.cdn_sent);
    mb_row(f, "fluid bound (per second)", r.bound);
    fprintf(f, "  %-34s %12.2f x\n", "CDN / bound", r.ratio);
    mb_row(f, "peers", (double)r.peer_bytes);
    fprintf(f, "  %-34s %12.1f %%\n", "offload (peers / all)", 100 * r.offload);
    if (w->sc.nisp) {
        mb_row(f, "inter-ISP (peer links)", (double)w->inter_isp_link_bytes);
        fprintf(f, "  %-34s %12.1f %%\n", "inter-ISP of peer links",
                w->link_bytes ? 100.0 * (double)w->inter_isp_link_bytes / (double)w->link_bytes : 0);
    }
    fprintf(f, "  %-34s %12.3f s\n", "start-up p50", r.su_p50);
    fprintf(f, "  %-34s %12.3f s\n", "start-up p90", r.su_p90);
    fprintf(f, "  %-34s %12u\n", "not started", r.arrived - r.started);
    fprintf(f, "  %-34s %7u (%u viewers)\n", "stalls", r.stalls, r.stalled);
    fprintf(f, "  %-34s %12.1f s\n", "stall time, total", r.stall_s);
    mb_row(f, "upload per viewer, mean", r.up_mean);
    fprintf(f, "  %-34s %12.1f %%\n", "upload used of capacity", 100 * r.up_use);
    fprintf(f, "  %-34s %12.1f KiB\n", "engine heap per viewer (at peak)", r.heap_per_viewer / 1024);
    fprintf(f, "  %-34s %12llu\n", "events", (unsigned long long)w->events);
}

void pf_sim_result_viewers_csv(const pf_sim_result *res, FILE *f)
{
    const sim *w = &res->w;
    fprintf(f, "viewer,class,arrive_s,depart_s,startup_s,stalls,stall_s,cdn_bytes,peer_bytes,uploaded,"
               "heap_peak%s%s\n", w->sc.nisp ? ",isp" : "", w->sc.titles > 1 ? ",title" : "");
    for (uint32_t i = 0; i < w->n; i++) {
        const sim_node *nd = &w->nodes[i];
        if (!nd->left) continue;
        double su = nd->pl.started ? (double)(nd->pl.started_at - nd->pl.opened_at) / 1e9 : -1;
        fprintf(f, "%u,%u,%.3f,%.3f,%.3f,%u,%.3f,%llu,%llu,%llu,%llu", i, nd->cls,
                (double)nd->arrive_at / 1e9, (double)nd->depart_at / 1e9, su, nd->pl.stalls, nd->pl.stall_s,
                (unsigned long long)nd->cdn_bytes, (unsigned long long)nd->peer_bytes,
                (unsigned long long)nd->uploaded, (unsigned long long)nd->heap_peak);
        if (w->sc.nisp) fprintf(f, ",%u", nd->isp);
        if (w->sc.titles > 1) fprintf(f, ",%u", nd->title);
        fputc('\n', f);
    }
}

void pf_sim_result_perf_json(const pf_sim_result *res, FILE *f)
{
    const sim *w = &res->w;
    double run = res->wall_s - res->setup_s;
    fprintf(f, "{\"scenario\": \"%s\", \"viewers\": %u, \"wall_s\": %.3f, \"setup_s\": %.3f, "
               "\"events\": %llu, \"events_per_s\": %.0f, \"peak_rss_kb\": %llu, "
               "\"peak_rss_per_viewer_kb\": %.1f, \"queue_peak_events\": %zu, \"queue_kb\": %zu, "
               "\"chunk_peak_kb\": %llu",
            w->sc.name, w->n, res->wall_s, res->setup_s, (unsigned long long)w->events,
            run > 0 ? (double)w->events / run : 0, (unsigned long long)res->maxrss_kb,
            w->peak_present ? (double)res->maxrss_kb / w->peak_present : 0, w->q.peak,
            w->q.cap * sizeof(sim_ev) / 1024, (unsigned long long)(w->chunk_bytes_peak / 1024));
    static const char *const names[SIM_EV_TYPES] = {"",         "arrive",   "depart",      "timer",
                                                    "player",   "up_done",  "cdn_done",    "down_arrive",
                                                    "deliver",  "dial",     "dial_ack",    "http",
                                                    "cdn_start", "cdn_finish"};
    fprintf(f, ", \"events_by_type\": {");
    for (int k = 1; k < SIM_EV_TYPES; k++)
        fprintf(f, "%s\"%s\": %llu", k > 1 ? ", " : "", names[k], (unsigned long long)w->events_by_type[k]);
    fprintf(f, "}, \"stale_events\": %llu}\n", (unsigned long long)w->stale_events);
}
