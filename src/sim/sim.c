/* A run of the simulator: the title and its .torrent, the viewers'
 * arrivals and departures, the event loop on the virtual clock. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "peerflow/metainfo.h"
#include "sim/sim_internal.h"
#include "sim/sim_result.h"

void sim_fail(sim *w, const char *what)
{
    if (!w->failed && w->progress) fprintf(w->progress, "sim: %s\n", what);
    w->failed = 1;
}

/* ---- each session's allocator: counts what its engine holds ------------------- */
#define MEM_HDR 16 /* the size, keeping malloc's 16-byte alignment */

static unsigned size_bucket(uint64_t n)
{
    unsigned b = 0;
    while (n > 1 && b < SIM_HEAP_BUCKETS - 1) {
        n >>= 1;
        b++;
    }
    return b;
}

/* One allocation of n bytes comes (dir 1) or goes (dir -1). */
static void mem_count(sim *w, uint64_t n, int dir)
{
    unsigned b = size_bucket(n);
    w->heap_by_size[b] = (uint64_t)((int64_t)w->heap_by_size[b] + dir * (int64_t)n);
    w->heap_count[b] = (uint64_t)((int64_t)w->heap_count[b] + dir);
}

static void mem_add(sim_mem *m, int64_t d)
{
    m->live = (uint64_t)((int64_t)m->live + d);
    if (m->live > m->peak) m->peak = m->live;
    sim *w = m->sim;
    w->heap_live = (uint64_t)((int64_t)w->heap_live + d);
    if (w->heap_live > w->heap_peak) {
        w->heap_peak = w->heap_live;
        w->heap_peak_present = w->present;
        memcpy(w->heap_by_size_peak, w->heap_by_size, sizeof w->heap_by_size);
        memcpy(w->heap_count_peak, w->heap_count, sizeof w->heap_count);
    }
}

static void *mem_malloc(size_t n, void *ud)
{
    if (n > SIZE_MAX - MEM_HDR) return NULL;
    uint64_t *h = malloc(n + MEM_HDR);
    if (!h) return NULL;
    h[0] = n;
    mem_count(((sim_mem *)ud)->sim, n, 1);
    mem_add(ud, (int64_t)n);
    return (uint8_t *)h + MEM_HDR;
}

static void *mem_calloc(size_t nmemb, size_t size, void *ud)
{
    if (size && nmemb > (SIZE_MAX - MEM_HDR) / size) return NULL;
    size_t n = nmemb * size;
    uint64_t *h = calloc(1, n + MEM_HDR);
    if (!h) return NULL;
    h[0] = n;
    mem_count(((sim_mem *)ud)->sim, n, 1);
    mem_add(ud, (int64_t)n);
    return (uint8_t *)h + MEM_HDR;
}

static void mem_free(void *p, void *ud)
{
    if (!p) return;
    uint64_t *h = (uint64_t *)((uint8_t *)p - MEM_HDR);
    mem_count(((sim_mem *)ud)->sim, h[0], -1);
    mem_add(ud, -(int64_t)h[0]);
    free(h);
}

static void *mem_realloc(void *p, size_t n, void *ud)
{
    if (!p) return mem_malloc(n, ud);
    if (n > SIZE_MAX - MEM_HDR) return NULL;
    uint64_t *h = (uint64_t *)((uint8_t *)p - MEM_HDR);
    uint64_t old = h[0];
    uint64_t *nh = realloc(h, n + MEM_HDR);
    if (!nh) return NULL;
    nh[0] = n;
    mem_count(((sim_mem *)ud)->sim, old, -1);
    mem_count(((sim_mem *)ud)->sim, n, 1);
    mem_add(ud, (int64_t)n - (int64_t)old);
    return (uint8_t *)nh + MEM_HDR;
}

/* ---- the title ------------------------------------------------------------------- */
/* Writes the title's bytes once to a private directory, makes its
 * .torrent there through the public pf_metainfo_create (the same SHA-1s a
 * real publisher would compute) and removes the file again. */
static int title_make(sim *w, const char *tmpdir, char *err, size_t errlen)
{
    const char *base = tmpdir ? tmpdir : getenv("TMPDIR");
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/pf-sim-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) {
        snprintf(err, errlen, "cannot make a directory in %s: %s", base ? base : "/tmp", strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/title.bin", dir);
    FILE *f = fopen(path, "wb");
    uint8_t *buf = malloc(1 << 20);
    int rc = -1;
    if (!f || !buf) {
        snprintf(err, errlen, "cannot write %s", path);
        goto out;
    }
    for (uint64_t off = 0; off < w->size; off += 1 << 20) {
        size_t n = w->size - off < (1 << 20) ? (size_t)(w->size - off) : (1 << 20);
        sim_content_fill(w, off, buf, n);
        if (fwrite(buf, 1, n, f) != n) {
            snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
            goto out;
        }
    }
    if (fclose(f) != 0) {
        f = NULL;
        snprintf(err, errlen, "cannot write %s", path);
        goto out;
    }
    f = NULL;
    const char *trackers[1] = {SIM_TRACKER_URL}, *webseeds[1] = {SIM_CDN_URL};
    pf_create_opts o;
    pf_create_opts_default(&o);
    o.path = path;
    o.piece_length = w->sc.piece_len;
    o.trackers = trackers;
    o.num_trackers = 1;
    o.webseeds = webseeds;
    o.num_webseeds = 1;
    char cerr[256] = "";
    int crc = pf_metainfo_create(&o, &w->torrent, &w->torrent_len, cerr, sizeof cerr);
    /* Parsed once: every viewer's session holds a reference to it
     * (read-only), not a copy of its piece hashes and info dict. */
    if (!crc) crc = pf_metainfo_parse(w->torrent, w->torrent_len, NULL, &w->mi);
    if (crc)
        snprintf(err, errlen, "cannot make the title's .torrent: %s (%s)", pf_strerror(crc), cerr);
    else
        rc = 0;
out:
    if (f) fclose(f);
    free(buf);
    unlink(path);
    rmdir(dir);
    return rc;
}

/* A catalogue's titles 1..: the same bytes (and piece hashes) as title 0
 * under another name ("t" and 8 digits for "title.bin"), so each has its
 * own info-hash, swarm and fluid bound, without hashing a title again. */
static int titles_make(sim *w, char *err, size_t errlen)
{
    static const char key[] = "4:name9:title.bin";
    uint8_t *at = memmem(w->torrent, w->torrent_len, key, sizeof key - 1);
    uint8_t *copy = malloc(w->torrent_len);
    w->tmi = calloc(w->sc.titles, sizeof *w->tmi);
    int rc = -1;
    if (!at || !copy || !w->tmi) {
        snprintf(err, errlen, at ? "out of memory (titles)" : "cannot name the catalogue's titles");
        goto out;
    }
    w->tmi[0] = w->mi;
    memcpy(copy, w->torrent, w->torrent_len);
    for (uint32_t t = 1; t < w->sc.titles; t++) {
        char name[16];
        snprintf(name, sizeof name, "t%08u", t);
        memcpy(copy + (at - w->torrent) + 8, name, 9);
        int crc = pf_metainfo_parse(copy, w->torrent_len, NULL, &w->tmi[t]);
        if (crc) {
            snprintf(err, errlen, "cannot make title %u: %s", t, pf_strerror(crc));
            goto out;
        }
    }
    rc = 0;
out:
    free(copy);
    return rc;
}

/* ---- viewers ------------------------------------------------------------------------- */
static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The time at which a share f (0-1) of the arrivals of a curve have come:
 * the inverse of the rate's integral, piecewise linear between points. */
static double curve_time(const pf_sim_scenario *sc, double f)
{
    double total = 0;
    for (uint32_t k = 1; k < sc->ncurve; k++)
        total += (sc->curve_rate[k] + sc->curve_rate[k - 1]) / 2 * (sc->curve_t[k] - sc->curve_t[k - 1]);
    double a = f * total;
    for (uint32_t k = 1; k < sc->ncurve; k++) {
        double L = sc->curve_t[k] - sc->curve_t[k - 1], r0 = sc->curve_rate[k - 1], r1 = sc->curve_rate[k];
        double seg = (r0 + r1) / 2 * L;
        if (a < seg || k == sc->ncurve - 1) {
            /* r0 x + (r1 - r0) / (2L) x^2 = a, solved without cancellation */
            double kk = (r1 - r0) / L, disc = r0 * r0 + 2 * kk * (a < seg ? a : seg);
            double x = disc > 0 && r0 + sqrt(disc) > 0 ? 2 * (a < seg ? a : seg) / (r0 + sqrt(disc)) : 0;
            if (x > L) x = L;
            return sc->curve_t[k - 1] + x;
        }
        a -= seg;
    }
    return 0;
}

/* A uniform draw in [0, 1). */
static double unit_rand(sim *w)
{
    return (double)(sim_rand(&w->rng) >> 11) / 9007199254740992.0;
}

/* Which of n shares (doubles `stride` bytes apart from *first, adding up
 * to at most 1) a draw u falls in, or n if beyond them all. */
static uint32_t share_pick(double u, const double *first, size_t stride, uint32_t n)
{
    double acc = 0;
    for (uint32_t k = 0; k < n; k++) {
        acc += *(const double *)(const void *)((const char *)first + k * stride);
        if (u < acc) return k;
    }
    return n;
}

/* Arrival times (sorted: viewer i is the i-th to arrive) and link classes. */
static int viewers_plan(sim *w)
{
    const pf_sim_scenario *sc = &w->sc;
    uint64_t *at = malloc(sizeof *at * w->n);
    if (!at) return -1;
    for (uint32_t i = 0; i < w->n; i++) {
        if (sc->arrival == PF_SIM_ARRIVAL_AT) { /* no draw: the times are given */
            at[i] = (uint64_t)(sc->at_s[i] * 1e9 + 0.5);
            continue;
        }
        double f = sc->arrival == PF_SIM_ARRIVAL_FIXED ? (double)i / w->n
                                                       : unit_rand(w);
        at[i] = sc->arrival == PF_SIM_ARRIVAL_CURVE ? (uint64_t)(curve_time(sc, f) * 1e9)
                                                    : (uint64_t)(f * sc->arrival_s * 1e9);
    }
    qsort(at, w->n, sizeof *at, cmp_u64);
    for (uint32_t i = 0; i < w->n; i++) {
        sim_node *nd = &w->nodes[i];
        nd->idx = i;
        nd->arrive_at = at[i];
        nd->depart_at = at[i] + (uint64_t)(sc->watch_s * 1e9);
        uint32_t c = share_pick(unit_rand(w), &sc->cls[0].share, sizeof sc->cls[0], sc->ncls);
        nd->cls = (uint8_t)(c < sc->ncls ? c : sc->ncls - 1);
        nd->up.Bps = sc->cls[nd->cls].up_Bps;
        if (sc->nwatch) { /* churn: drawn only then, so other runs keep their draws */
            uint32_t k = share_pick(unit_rand(w), &sc->watch[0].share, sizeof sc->watch[0], sc->nwatch);
            nd->depart_at = at[i] + (uint64_t)((k < sc->nwatch ? sc->watch[k].s : sc->watch_s) * 1e9);
        }
        if (sc->titles > 1) { /* likewise: Zipf popularity */
            double u = unit_rand(w) * w->zipf_cum[sc->titles - 1];
            uint32_t lo = 0, hi = sc->titles - 1; /* the first title whose cumulative weight is above u */
            while (lo < hi) {
                uint32_t mid = lo + (hi - lo) / 2;
                if (u < w->zipf_cum[mid])
                    hi = mid;
                else
                    lo = mid + 1;
            }
            nd->title = lo;
        }
        if (sc->nisp) { /* drawn here, before the nodes are set up */
            uint32_t k = share_pick(unit_rand(w), &sc->isp[0].share, sizeof sc->isp[0], sc->nisp);
            nd->isp = (uint8_t)(k < sc->nisp ? k : sc->nisp - 1);
            nd->isp_idx = w->isp_n[nd->isp]++;
        }
        nd->mem.mem.malloc = mem_malloc;
        nd->mem.mem.calloc = mem_calloc;
        nd->mem.mem.realloc = mem_realloc;
        nd->mem.mem.free = mem_free;
        nd->mem.mem.ud = &nd->mem;
        nd->mem.sim = w;
    }
    free(at);
    return 0;
}

static void viewer_arrive(sim *w, uint32_t i)
{
    sim_node *nd = &w->nodes[i];
    pf_session_settings st;
    pf_session_settings_default(&st);
    uint64_t s = w->sc.seed ^ ((uint64_t)(i + 1) << 20);
    st.rng_seed = sim_rand(&s) | 1;
    st.listen_port = SIM_PORT;
    st.qoe_report_ms = PF_QOE_REPORT_OFF;
    st.mem = &nd->mem.mem;
    if (w->sc.max_peers) st.max_peers = w->sc.max_peers;
    if (w->sc.upload_slots) st.upload_slots = w->sc.upload_slots;
    st.memory_limit = w->sc.memory_limit;
    if (!w->sc.payload_real) {
        /* Pieces carry no bytes; every piece is true (verify NULL): the
         * simulator has no liars yet. */
        st.payload.elide = 1;
    }
    pf_metainfo *mi = NULL;
    if (pf_session_new(&st, &nd->s) != 0 ||
        !(mi = pf_metainfo_ref(w->tmi ? w->tmi[nd->title] : w->mi)) ||
        pf_session_add_torrent(nd->s, mi, &nd->t) != 0) {
        pf_metainfo_free(mi);
        pf_session_free(nd->s);
        nd->s = NULL;
        sim_fail(w, "cannot start a viewer's session");
        return;
    }
    nd->alive = 1;
    w->present++;
    if (w->present > w->peak_present) w->peak_present = w->present;
    if (w->sc.nisp && !w->sc.locality_none) {
        /* the ISP's network map: its /12 (sim_node_addr) */
        pf_net net;
        memset(&net, 0, sizeof net);
        net.family = 4;
        net.bits = 12;
        net.ip[0] = 10;
        net.ip[1] = (uint8_t)(nd->isp << 4);
        if (pf_session_add_local_net(nd->s, &net) != 0) sim_fail(w, "cannot set a viewer's local network");
        if (w->sc.isp[nd->isp].local_share >= 0) pf_session_set_local_share(nd->s, w->sc.isp[nd->isp].local_share);
    }
    pf_torrent_skip_check(nd->t, w->now);
    sim_player_arrive(w, nd);
    sim_touch(w, i);
}

/* The viewer closes the application: its connections drop (the others
 * see a FIN), its GETs stop, the tracker forgets it, its session goes. */
static void viewer_depart(sim *w, uint32_t i)
{
    sim_node *nd = &w->nodes[i];
    if (!nd->alive) return;
    pf_torrent_stats ts;
    pf_torrent_get_stats(nd->t, &ts);
    nd->cdn_bytes = ts.cdn_downloaded;
    nd->peer_bytes = ts.peer_downloaded;
    nd->uploaded = ts.uploaded;
    nd->wasted = ts.wasted;
    nd->remote_bytes = ts.remote_downloaded;
    nd->hash_failures = ts.hash_failures;
    sim_player *pl = &nd->pl;
    if (pl->state == PL_STALLED) pl->stall_s += (double)(w->now - pl->stall_since) / 1e9;
    while (nd->ends) sim_end_close(w, nd->ends, 0);
    sim_cdn_drop_node(w, i);
    sim_http_drop_node(w, i);
    sim_tracker_remove(w, i);
    pf_session_free(nd->s);
    nd->s = NULL;
    nd->t = NULL;
    nd->alive = 0;
    nd->left = 1;
    nd->depart_at = w->now;
    nd->heap_peak = nd->mem.peak;
    w->present--;
}

/* ---- the loop ---------------------------------------------------------------------------- */
static void dispatch(sim *w, const sim_ev *ev)
{
    sim_node *nd = ev->a < w->n ? &w->nodes[ev->a] : NULL;
    switch (ev->type) {
    case EV_ARRIVE: viewer_arrive(w, ev->a); break;
    case EV_DEPART: viewer_depart(w, ev->a); break;
    case EV_TIMER:
        if (!nd->alive || ev->t != nd->timer_at) {
            w->stale_events++;
            break;
        }
        nd->timer_at = 0;
        pf_session_tick(nd->s, w->now);
        sim_touch(w, ev->a);
        break;
    case EV_PLAYER:
        if (!nd->alive || ev->t != nd->pl.wake_at) {
            w->stale_events++;
            break;
        }
        nd->pl.wake_at = 0;
        if (nd->pl.to_open)
            sim_player_open(w, nd); /* clears to_open */
        else
            sim_player_step(w, nd);
        break;
    case EV_UP_DONE: sim_up_done(w, ev->a); break;
    case EV_CDN_DONE: sim_cdn_done(w); break;
    case EV_DOWN_ARRIVE: sim_down_arrive(w, ev->p); break;
    case EV_DELIVER: sim_deliver(w, ev->p); break;
    case EV_DIAL: sim_dial_arrive(w, ev->p); break;
    case EV_DIAL_ACK: sim_dial_ack(w, ev->p); break;
    case EV_HTTP: sim_http_answer(w, ev->a, ev->p); break;
    case EV_CDN_START: sim_cdn_start(w, ev->p); break;
    case EV_CDN_FINISH: sim_cdn_finish_ev(w, ev->p); break;
    default: break;
    }
}

/* An event not run (the run ended): free what it holds. */
static void discard(sim *w, const sim_ev *ev)
{
    switch (ev->type) {
    case EV_DOWN_ARRIVE:
    case EV_DELIVER: sim_chunk_free(w, ev->p); break;
    case EV_DIAL:
    case EV_DIAL_ACK: sim_link_unref(ev->p); break;
    case EV_HTTP: free(ev->p); break;
    case EV_CDN_START:
    case EV_CDN_FINISH: sim_cdnjob_unref(ev->p); break;
    case EV_UP_DONE: sim_batch_free(w, &w->nodes[ev->a].up); break;
    case EV_CDN_DONE: sim_batch_free(w, &w->cdn); break;
    default: break;
    }
}

static void run_loop(sim *w)
{
    sim_ev ev;
    while (!w->failed && sim_queue_pop(&w->q, &ev)) {
        if (ev.t > w->end_at) {
            discard(w, &ev);
            break;
        }
        w->now = ev.t;
        w->events++;
        if (ev.type < SIM_EV_TYPES) w->events_by_type[ev.type]++;
        dispatch(w, &ev);
        while (w->ndirty && !w->failed) sim_node_drain(w, w->dirty[--w->ndirty]);
        if (w->progress && w->now >= w->next_progress) {
            fprintf(w->progress, "sim: t=%.0f s, %u viewers present, %llu events\n", (double)w->now / 1e9,
                    w->present, (unsigned long long)w->events);
            fflush(w->progress);
            w->next_progress += 60 * 1000000000ULL;
        }
    }
    w->now = w->end_at;
    for (uint32_t i = 0; i < w->n; i++) viewer_depart(w, i);
    while (sim_queue_pop(&w->q, &ev)) discard(w, &ev);
}

static int sim_setup(sim *w, const pf_sim_scenario *sc, const char *tmpdir, char *err, size_t errlen)
{
    if (sc->arrival == PF_SIM_ARRIVAL_AT && sc->viewers != sc->nat) { /* --viewers with `arrival at` */
        snprintf(err, errlen, "%u viewers, but 'arrival at' gives %u times", sc->viewers, sc->nat);
        return -1;
    }
    w->sc = *sc;
    w->n = sc->viewers;
    w->rng = sc->seed;
    uint64_t k = sc->seed ^ 0x7469746c65ULL; /* "title" */
    w->content_key = sim_rand(&k);
    if (sim_content_init(w)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    w->size = (uint64_t)(sc->bitrate / 8 * sc->duration_s);
    w->cdn.Bps = sc->cdn_Bps;
    w->nodes = calloc(w->n, sizeof *w->nodes);
    w->dirty = calloc(w->n, sizeof *w->dirty);
    w->zipf_cum = calloc(sc->titles, sizeof *w->zipf_cum);
    for (uint32_t t = 0; w->zipf_cum && t < sc->titles; t++)
        w->zipf_cum[t] = (t ? w->zipf_cum[t - 1] : 0) + pow((double)(t + 1), -sc->zipf_s);
    if (!w->nodes || !w->dirty || !w->zipf_cum || viewers_plan(w)) {
        snprintf(err, errlen, "out of memory for %u viewers", w->n);
        return -1;
    }
    for (uint32_t ik = 0; ik < sc->nisp; ik++) {
        if (w->isp_n[ik] >= (1u << 20) - 1) {
            snprintf(err, errlen, "isp %u: %u viewers, more than its /12 holds", ik + 1, w->isp_n[ik]);
            return -1;
        }
        w->isp_nodes[ik] = malloc(sizeof(uint32_t) * (w->isp_n[ik] ? w->isp_n[ik] : 1));
        if (!w->isp_nodes[ik]) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    for (uint32_t i = 0; i < w->n && sc->nisp; i++) w->isp_nodes[w->nodes[i].isp][w->nodes[i].isp_idx] = i;
    uint64_t last = 0;
    for (uint32_t i = 0; i < w->n; i++)
        if (w->nodes[i].depart_at > last) last = w->nodes[i].depart_at;
    w->end_at = sc->end_s > 0 ? (uint64_t)(sc->end_s * 1e9) : last;
    w->nbins = (uint32_t)(w->end_at / 1000000000ULL) + 2;
    w->nslots = (w->size + SIM_SLOT - 1) / SIM_SLOT;
    w->demand = calloc(w->nbins, sizeof *w->demand);
    w->novel = calloc(w->nbins, sizeof *w->novel);
    w->slots = calloc((w->nslots / 8 + 1) * sc->titles, 1);
    if (!w->demand || !w->novel || !w->slots) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (title_make(w, tmpdir, err, errlen)) return -1;
    if (sc->titles > 1 && titles_make(w, err, errlen)) return -1;
    for (uint32_t i = 0; i < w->n; i++) {
        if (sim_queue_push(&w->q, w->nodes[i].arrive_at, EV_ARRIVE, i, NULL) ||
            sim_queue_push(&w->q, w->nodes[i].depart_at, EV_DEPART, i, NULL)) {
            snprintf(err, errlen, "out of memory (event queue)");
            return -1;
        }
    }
    return 0;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int pf_sim_run(const pf_sim_scenario *sc, const char *tmpdir, FILE *progress, pf_sim_result **out,
               char *err, size_t errlen)
{
    *out = NULL;
    pf_sim_result *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    sim *w = &r->w;
    w->progress = progress;
    w->next_progress = 60 * 1000000000ULL;
    double t0 = mono_s();
    if (sim_setup(w, sc, tmpdir, err, errlen)) {
        pf_sim_result_free(r);
        return -1;
    }
    r->setup_s = mono_s() - t0;
    run_loop(w);
    r->wall_s = mono_s() - t0;
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) r->maxrss_kb = (uint64_t)ru.ru_maxrss;
    if (w->failed) {
        snprintf(err, errlen, "the run failed (out of memory or a viewer could not start)");
        pf_sim_result_free(r);
        return -1;
    }
    *out = r;
    return 0;
}

void pf_sim_result_free(pf_sim_result *r)
{
    if (!r) return;
    sim *w = &r->w;
    if (w->nodes)
        for (uint32_t i = 0; i < w->n; i++)
            if (w->nodes[i].s) pf_session_free(w->nodes[i].s);
    sim_queue_free(&w->q);
    sim_chunk_pool_free(w);
    free(w->nodes);
    free(w->dirty);
    sim_tracker_free(w); /* a run that failed, or ended before the last viewer left */
    free(w->zipf_cum);
    if (w->tmi)
        for (uint32_t t = 1; t < w->sc.titles; t++) pf_metainfo_free(w->tmi[t]);
    free(w->tmi);
    for (uint32_t k = 0; k < PF_SIM_MAX_ISPS; k++) free(w->isp_nodes[k]);
    free(w->demand);
    free(w->novel);
    free(w->slots);
    pf_free(w->torrent);
    pf_metainfo_free(w->mi);
    free(w->table);
    free(r);
}
