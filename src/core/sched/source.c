/* A torrent's sources (source.h): the walk over peers and other kinds,
 * and the costly ones as the scheduler sees them.  Nothing here knows a
 * kind: only costs, rates, latencies and what each holds. */
#include <string.h>

#include "core/swarm/swarm.h"
#include "core/util/mem.h"

pf_source *pf__src_first(pf_torrent *t, uint32_t *it)
{
    *it = 0;
    return pf__src_next(t, it);
}

pf_source *pf__src_next(pf_torrent *t, uint32_t *it)
{
    uint32_t i = (*it)++;
    if (i < t->npeers) return &t->peers[i]->src;
    i -= t->npeers;
    return i < t->nsources ? t->sources[i] : NULL;
}

pf_source *pf__src_by_id(pf_torrent *t, uint32_t id)
{
    uint32_t it;
    PF_SRC_FOREACH(t, s, it)
    if (s->id == id) return s;
    return NULL;
}

int pf__torrent_add_source(pf_torrent *t, pf_source *s)
{
    if (t->nsources == t->cap_sources) {
        uint32_t cap = t->cap_sources ? t->cap_sources * 2 : 4;
        pf_source **n = pf__realloc(t->s->mem, t->sources, cap * sizeof *n);
        if (!n) return PF_ERR_NOMEM;
        t->sources = n;
        t->cap_sources = cap;
    }
    s->t = t;
    if (!s->id) s->id = t->s->next_id++;
    t->sources[t->nsources++] = s;
    return 0;
}

void pf__torrent_remove_source(pf_torrent *t, pf_source *s)
{
    for (uint32_t i = 0; i < t->nsources; i++)
        if (t->sources[i] == s) {
            memmove(&t->sources[i], &t->sources[i + 1], (t->nsources - i - 1) * sizeof *t->sources);
            t->nsources--;
            return;
        }
}

void pf__sources_free(pf_torrent *t)
{
    pf__free(t->s->mem, t->sources);
    t->sources = NULL;
    t->nsources = t->cap_sources = 0;
}

void pf__sources_tick(pf_torrent *t, double dt)
{
    /* Peers tick their own rates (peer.c) with their connection. */
    for (uint32_t i = 0; i < t->nsources; i++) pf__rate_tick(&t->sources[i]->down, dt);
}

int pf__costly_available(const pf_torrent *t, uint64_t now)
{
    if (t->stopped) return 0; /* paused, removed, stopped */
    uint32_t it;
    PF_SRC_FOREACH((pf_torrent *)t, s, it)
    if (!pf__src_free(s) && s->ops->available(s, now)) return 1;
    return 0;
}

int pf__costly_ready(const pf_torrent *t, uint64_t now)
{
    if (!t->has_meta || t->stopped) return 0;
    uint32_t it;
    PF_SRC_FOREACH((pf_torrent *)t, s, it)
    if (!pf__src_free(s) && s->ops->fetch && s->ops->ready(s, now)) return 1;
    return 0;
}

uint32_t pf__costly_inflight(const pf_torrent *t)
{
    uint32_t n = 0, it;
    PF_SRC_FOREACH((pf_torrent *)t, s, it)
    if (!pf__src_free(s)) n += s->ops->inflight(s);
    return n;
}

/* When (seconds from now) s would have delivered `bytes` asked of it now:
 * its time to first byte, then its rate; 0 if it was never measured. */
static double eta_s(const pf_source *s, uint64_t bytes, uint64_t now)
{
    uint64_t lat = 0;
    double r = s->ops->rate(s, now, &lat);
    if (r <= 0) return 0;
    return (double)lat / 1e9 + (double)bytes / r;
}

/* How long a busy source's fetches in flight are expected to hold it. */
#define PF__BUSY_WAIT_S 1.0

/* The cheaper of a and b; between equals, the least busy, then the one
 * that delivered fastest lately (how a CDN's several URLs were chosen). */
static int better_deal(const pf_source *a, const pf_source *b)
{
    if (a->cost != b->cost) return a->cost < b->cost;
    uint32_t ia = a->ops->inflight(a), ib = b->ops->inflight(b);
    if (ia != ib) return ia < ib;
    return a->down.bps > b->down.bps;
}

pf_source *pf__costly_pick_except(const pf_torrent *t, uint64_t bytes, double due_s, uint64_t now,
                                  const pf_source *except, double *eta_out)
{
    if (t->stopped) return NULL;
    pf_source *best = NULL, *fastest = NULL;
    double best_eta = 0, fastest_eta = 0;
    uint32_t it;
    PF_SRC_FOREACH((pf_torrent *)t, s, it)
    {
        if (s == except || pf__src_free(s) || !s->ops->fetch || !s->ops->ready(s, now)) continue;
        double e = eta_s(s, bytes, now);
        if (!fastest || e < fastest_eta || (e == fastest_eta && better_deal(s, fastest))) {
            fastest = s;
            fastest_eta = e;
        }
        /* In time: by the deadline, or (a deadline nobody can make: it is
         * due already) about as soon as anyone.  Unmeasured: trusted. */
        if (e > due_s && e > 0) continue;
        if (!best || better_deal(s, best)) {
            best = s;
            best_eta = e;
        }
    }
    if (!best && fastest) {
        /* Nobody in time: of those nearly as quick as the quickest, the
         * cheapest. */
        PF_SRC_FOREACH((pf_torrent *)t, s, it)
        {
            if (s == except || pf__src_free(s) || !s->ops->fetch || !s->ops->ready(s, now)) continue;
            double e = eta_s(s, bytes, now);
            if (e > fastest_eta * 1.25 + 0.05) continue;
            if (!best || better_deal(s, best)) {
                best = s;
                best_eta = e;
            }
        }
    }
    /* A cheaper source that is only busy (its fetches in flight) is
     * waited for, unless these blocks are due before it could free up. */
    if (best) {
        PF_SRC_FOREACH((pf_torrent *)t, s, it)
        {
            if (s == except || s == best || pf__src_free(s) || !s->ops->fetch || s->cost >= best->cost) continue;
            if (!s->ops->available(s, now) || s->ops->ready(s, now)) continue;
            if (due_s > eta_s(s, bytes, now) + PF__BUSY_WAIT_S) return NULL;
        }
    }
    if (eta_out) *eta_out = best_eta;
    return best;
}

pf_source *pf__costly_pick(const pf_torrent *t, uint64_t bytes, double due_s, uint64_t now)
{
    return pf__costly_pick_except(t, bytes, due_s, now, NULL, NULL);
}

double pf__costly_rate(const pf_torrent *t, uint64_t now, uint64_t *ttfb_ns)
{
    *ttfb_ns = 0;
    const pf_source *s = pf__costly_pick(t, 0, 0, now);
    return s ? s->ops->rate(s, now, ttfb_ns) : 0;
}

/* A fetch is only taken away for a clear gain: the quicker source's
 * estimate is rough, and each reroute loses what was on the wire. */
#define PF__REROUTE_MARGIN_S 0.25
/* What a costly source never measured is assumed to take, when deciding
 * to take a fetch from one that is measured. */
#define PF__UNMEASURED_S 1.0

void pf__costly_reroute(pf_torrent *t, uint32_t piece, double due_s, uint64_t now)
{
    uint64_t bytes = pf_metainfo_piece_size(t->mi, piece);
    uint32_t it;
    PF_SRC_FOREACH(t, q, it)
    {
        if (pf__src_free(q) || !q->ops->inflight(q)) continue;
        double alt_eta = 0;
        pf_source *alt = pf__costly_pick_except(t, bytes, due_s, now, q, &alt_eta);
        if (!alt) continue;
        /* q keeps it if it makes the deadline, or would beat alt (an
         * unmeasured alt is given a second: it is not instant). */
        if (alt_eta <= 0) alt_eta = PF__UNMEASURED_S;
        double deadline = (due_s > alt_eta ? due_s : alt_eta) + PF__REROUTE_MARGIN_S;
        q->ops->cancel_late(q, piece, deadline, deadline, 0, now);
    }
}

double pf__free_rate(const pf_torrent *t, int64_t piece, uint64_t now)
{
    double r = 0;
    uint32_t it;
    PF_SRC_FOREACH((pf_torrent *)t, s, it)
    {
        if (!pf__src_free(s) || !s->ops->available(s, now)) continue;
        if (piece >= 0 && !pf__src_has(s, (uint32_t)piece)) continue;
        r += s->ops->rate(s, now, NULL);
    }
    return r;
}

void pf__sources_cmsd(const pf_torrent *t, pf_torrent_stats *st)
{
    uint64_t etp = 0;
    uint32_t mb = 0, it;
    PF_SRC_FOREACH((pf_torrent *)t, s, it)
    {
        etp += s->cmsd_etp_kbps;
        if (s->cmsd_mb_kbps && (!mb || s->cmsd_mb_kbps < mb)) mb = s->cmsd_mb_kbps;
    }
    st->cmsd_etp_kbps = etp < UINT32_MAX ? (uint32_t)etp : UINT32_MAX;
    st->cmsd_mb_kbps = mb;
}
