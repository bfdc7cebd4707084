/* Viewers' QoE reports, added up per title and PID (core/tracker/qoe.h).
 *
 * Two open-addressing tables under a keyed hash: the series (title, PID)
 * with their counters, at most max_series plus the "other" series; and
 * the live streams with their last totals, grown by doubling up to
 * max_streams and rebuilt without the dead ones at each expiry. */
#include "core/tracker/qoe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec/http_parse.h"
#include "peerflow/peerflow.h"

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull
#define NBUCKETS 7
static const uint64_t BUCKET_MS[NBUCKETS] = {250, 500, 1000, 2000, 4000, 8000, 16000};
static const char *const BUCKET_LE[NBUCKETS] = {"0.25", "0.5", "1", "2", "4", "8", "16"};

typedef struct series {
    uint8_t ih[20];
    char pid[PF_QOE_NAME_MAX + 1];
    int other;
    uint64_t reports, ended, startup_le[NBUCKETS], startup_n, startup_sum_ms;
    uint64_t stalls, stall_ms, play_ms, cdn, peer, upload, budget_out;
} series;

typedef struct stream {
    uint64_t h;         /* 0: empty slot */
    uint64_t last_seen; /* ns */
    uint32_t series;
    uint8_t startup_seen, budget_out, ended;
    uint64_t play_ms, stalls, stall_ms, cdn, peer, upload;
} stream;

struct pf_qoe_store {
    uint64_t key;
    series *s; /* s[0] is "other" */
    size_t ns, max_series;
    uint32_t *sidx; /* 1 + index into s, 0 empty; scap slots */
    size_t scap;
    stream *st;
    size_t stcap, nst, max_streams;
    pf_qoe_counts c;
};

/* --- parsing ----------------------------------------------------------- */

static int digits(const uint8_t *p, size_t n, uint64_t *out)
{
    if (n == 0 || n > 19) return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *out = v;
    return 0;
}

/* 1 found, 0 absent, -1 bad. */
static int num(const char *b, size_t n, const char *key, uint64_t *out)
{
    uint8_t v[24];
    size_t len;
    int rc = pf_http_query_get(b, n, key, v, sizeof v, &len);
    if (rc == PF_ERR_NOTFOUND) return 0;
    if (rc || digits(v, len, out)) return -1;
    return 1;
}

const char *pf__qoe_parse(const char *b, size_t n, pf_qoe_report *r)
{
    memset(r, 0, sizeof *r);
    if (n > PF_QOE_BODY_MAX) return "report too large";
    uint8_t ih[21];
    size_t len;
    if (pf_http_query_get(b, n, "info_hash", ih, sizeof ih, &len) || len != 20) return "invalid info_hash";
    memcpy(r->info_hash, ih, 20);
    uint8_t sid[PF_QOE_STREAM_ID_MAX + 1];
    if (pf_http_query_get(b, n, "stream", sid, sizeof sid - 1, &len) || len == 0) return "invalid stream";
    for (size_t i = 0; i < len; i++) {
        char c = (char)sid[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return "invalid stream";
        r->stream[i] = c;
    }
    r->stream[len] = 0;
    int rc = pf_http_query_get(b, n, "token", (uint8_t *)r->token, PF_QOE_TOKEN_MAX, &r->token_len);
    if (rc && rc != PF_ERR_NOTFOUND) return "malformed token";
    r->token[r->token_len] = 0;
    uint64_t v = 0;
    if (num(b, n, "final", &v) < 0 || v > 1) return "invalid final";
    r->final = (int)v;
    if (num(b, n, "play_ms", &r->play_ms) != 1) return "invalid play_ms";
    int k = num(b, n, "startup_ms", &r->startup_ms);
    if (k < 0) return "invalid startup_ms";
    r->has_startup = k;
    k = num(b, n, "budget_left", &r->budget_left);
    if (k < 0) return "invalid budget_left";
    r->has_budget = k;
    static const struct {
        const char *key;
        size_t off;
    } opt[] = {{"stalls", offsetof(pf_qoe_report, stalls)},
               {"stall_ms", offsetof(pf_qoe_report, stall_ms)},
               {"cdn_bytes", offsetof(pf_qoe_report, cdn_bytes)},
               {"peer_bytes", offsetof(pf_qoe_report, peer_bytes)},
               {"upload_bytes", offsetof(pf_qoe_report, upload_bytes)}};
    static const char *const bad[] = {"invalid stalls", "invalid stall_ms", "invalid cdn_bytes", "invalid peer_bytes",
                                      "invalid upload_bytes"};
    for (size_t i = 0; i < sizeof opt / sizeof opt[0]; i++)
        if (num(b, n, opt[i].key, (uint64_t *)((char *)r + opt[i].off)) < 0) return bad[i];
    return NULL;
}

/* --- the store ---------------------------------------------------------- */

static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t hash_bytes(uint64_t key, const void *p, size_t n, uint64_t h)
{
    const uint8_t *b = p;
    h ^= key;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * UINT64_C(0x100000001b3);
    return mix(h);
}

static size_t pow2_at_least(size_t n)
{
    size_t c = 16;
    while (c < n) c *= 2;
    return c;
}

pf_qoe_store *pf__qoe_new(size_t max_series, size_t max_streams, uint64_t key)
{
    pf_qoe_store *q = calloc(1, sizeof *q);
    if (!q) return NULL;
    q->key = mix(key ^ UINT64_C(0x9e3779b97f4a7c15));
    q->max_series = max_series ? max_series : 4096;
    q->max_streams = max_streams ? max_streams : 65536;
    q->s = calloc(q->max_series + 1, sizeof *q->s);
    q->scap = pow2_at_least(2 * q->max_series);
    q->sidx = calloc(q->scap, sizeof *q->sidx);
    q->stcap = 64;
    q->st = calloc(q->stcap, sizeof *q->st);
    if (!q->s || !q->sidx || !q->st) {
        pf__qoe_free(q);
        return NULL;
    }
    q->s[0].other = 1;
    q->ns = 1;
    return q;
}

void pf__qoe_free(pf_qoe_store *q)
{
    if (!q) return;
    free(q->s);
    free(q->sidx);
    free(q->st);
    free(q);
}

/* The series of (ih, pid): found, made, or "other" (index 0) when full. */
static uint32_t series_of(pf_qoe_store *q, const uint8_t ih[20], const char *pid)
{
    size_t pl = strlen(pid);
    uint64_t h = hash_bytes(q->key, pid, pl, hash_bytes(q->key, ih, 20, 0));
    for (size_t i = h & (q->scap - 1);; i = (i + 1) & (q->scap - 1)) {
        uint32_t k = q->sidx[i];
        if (!k) {
            if (q->ns > q->max_series) return 0;
            series *s = &q->s[q->ns];
            memcpy(s->ih, ih, 20);
            memcpy(s->pid, pid, pl + 1);
            q->sidx[i] = (uint32_t)q->ns;
            return (uint32_t)q->ns++;
        }
        series *s = &q->s[k];
        if (memcmp(s->ih, ih, 20) == 0 && strcmp(s->pid, pid) == 0) return k;
    }
}

static stream *stream_slot(stream *tab, size_t cap, uint64_t h)
{
    for (size_t i = h & (cap - 1);; i = (i + 1) & (cap - 1))
        if (tab[i].h == h || tab[i].h == 0) return &tab[i];
}

/* Rebuilds the stream table at cap slots, keeping the live ones
 * (dead: ended, or silent since before `cutoff`). */
static int streams_rebuild(pf_qoe_store *q, size_t cap, uint64_t cutoff)
{
    stream *n = calloc(cap, sizeof *n);
    if (!n) return PF_ERR_NOMEM;
    size_t live = 0;
    for (size_t i = 0; i < q->stcap; i++) {
        const stream *e = &q->st[i];
        if (!e->h || e->ended || e->last_seen < cutoff) continue;
        *stream_slot(n, cap, e->h) = *e;
        live++;
    }
    free(q->st);
    q->st = n;
    q->stcap = cap;
    q->nst = live;
    return 0;
}

void pf__qoe_expire(pf_qoe_store *q, uint64_t now)
{
    uint64_t ttl = PF_QOE_STREAM_TTL_S * NS_PER_S;
    uint64_t cutoff = now > ttl ? now - ttl : 0;
    size_t cap = q->stcap;
    while (cap > 64 && q->nst * 8 < cap) cap /= 2;
    streams_rebuild(q, cap, cutoff); /* out of memory: kept as it was */
}

/* v - *last, at most cap; *last becomes v (totals only go up). */
static uint64_t step(uint64_t v, uint64_t *last, uint64_t cap)
{
    uint64_t d = v > *last ? v - *last : 0;
    if (v > *last) *last = v;
    return d < cap ? d : cap;
}

int pf__qoe_add(pf_qoe_store *q, const pf_qoe_report *r, const char *pid, uint64_t now)
{
    if (!pid || !*pid) pid = "unknown";
    uint64_t h = hash_bytes(q->key, r->stream, strlen(r->stream), hash_bytes(q->key, r->info_hash, 20, 1));
    if (!h) h = 1;
    stream *e = stream_slot(q->st, q->stcap, h);
    int fresh = e->h == 0;
    if (fresh) {
        if (q->nst >= q->max_streams) {
            uint64_t ttl = PF_QOE_STREAM_TTL_S * NS_PER_S;
            if (streams_rebuild(q, q->stcap, now > ttl ? now - ttl : 0)) return PF_ERR_NOMEM;
            if (q->nst >= q->max_streams) {
                q->c.dropped_full++;
                return PF_ERR_LIMIT;
            }
        }
        if ((q->nst + 1) * 2 > q->stcap) {
            if (streams_rebuild(q, q->stcap * 2, 0)) return PF_ERR_NOMEM;
        }
        e = stream_slot(q->st, q->stcap, h);
        memset(e, 0, sizeof *e);
        e->h = h;
        e->series = series_of(q, r->info_hash, pid);
        e->last_seen = now;
        q->nst++;
    }
    series *s = &q->s[e->series];
    /* A stream's play time grows with the wall clock: a minute of slack
     * (reports are a minute apart); a first report, ten minutes. */
    uint64_t since = now > e->last_seen ? (now - e->last_seen) / NS_PER_MS : 0;
    uint64_t play_cap = fresh ? 600000 : since + 60000;
    uint64_t dplay = step(r->play_ms, &e->play_ms, play_cap);
    s->play_ms += dplay;
    s->stall_ms += step(r->stall_ms, &e->stall_ms, play_cap);
    s->stalls += step(r->stalls, &e->stalls, 1000);
    s->cdn += step(r->cdn_bytes, &e->cdn, PF_QOE_MAX_BYTES_STEP);
    s->peer += step(r->peer_bytes, &e->peer, PF_QOE_MAX_BYTES_STEP);
    s->upload += step(r->upload_bytes, &e->upload, PF_QOE_MAX_BYTES_STEP);
    if (r->has_startup && !e->startup_seen) {
        e->startup_seen = 1;
        uint64_t ms = r->startup_ms < 3600000 ? r->startup_ms : 3600000;
        for (int i = 0; i < NBUCKETS; i++)
            if (ms <= BUCKET_MS[i]) s->startup_le[i]++;
        s->startup_n++;
        s->startup_sum_ms += ms;
    }
    if (r->has_budget && r->budget_left == 0 && !e->budget_out) {
        e->budget_out = 1;
        s->budget_out++;
    }
    if (r->final && !e->ended) {
        e->ended = 1;
        s->ended++;
    }
    e->last_seen = now;
    s->reports++;
    q->c.reports++;
    return 0;
}

void pf__qoe_counts(const pf_qoe_store *q, pf_qoe_counts *out)
{
    *out = q->c;
    out->streams_live = q->nst;
    out->series = q->ns - 1;
}

void pf__qoe_rejected(pf_qoe_store *q) { q->c.rejected++; }

/* --- /metrics ----------------------------------------------------------- */

static int labels(pf_buf *out, const series *s)
{
    if (s->other) return pf_buf_appendf(out, "title=\"other\",pid=\"other\"");
    char hex[41];
    for (int i = 0; i < 20; i++) snprintf(hex + 2 * i, 3, "%02x", s->ih[i]);
    return pf_buf_appendf(out, "title=\"%s\",pid=\"%s\"", hex, s->pid); /* PID names need no escaping */
}

static int used(const series *s) { return s->reports != 0; }

typedef uint64_t (*field_fn)(const series *s);
#define FIELD(name, expr) \
    static uint64_t name(const series *s) { return expr; }
FIELD(f_reports, s->reports)
FIELD(f_ended, s->ended)
FIELD(f_stalls, s->stalls)
FIELD(f_upload, s->upload)
FIELD(f_budget, s->budget_out)
#undef FIELD

static int family(pf_buf *out, const char *name, const char *type, const char *help)
{
    return pf_buf_appendf(out, "# HELP peerflow_tracker_qoe_%s %s\n# TYPE peerflow_tracker_qoe_%s %s\n", name, help,
                          name, type);
}

static int counter(const pf_qoe_store *q, pf_buf *out, const char *name, const char *help, field_fn f)
{
    int rc = family(out, name, "counter", help);
    for (size_t i = 0; !rc && i < q->ns; i++) {
        if (!used(&q->s[i])) continue;
        rc = pf_buf_appendf(out, "peerflow_tracker_qoe_%s{", name);
        if (!rc) rc = labels(out, &q->s[i]);
        if (!rc) rc = pf_buf_appendf(out, "} %llu\n", (unsigned long long)f(&q->s[i]));
    }
    return rc;
}

static int seconds(const pf_qoe_store *q, pf_buf *out, const char *name, const char *help, size_t off)
{
    int rc = family(out, name, "counter", help);
    for (size_t i = 0; !rc && i < q->ns; i++) {
        if (!used(&q->s[i])) continue;
        uint64_t ms = *(const uint64_t *)((const char *)&q->s[i] + off);
        rc = pf_buf_appendf(out, "peerflow_tracker_qoe_%s{", name);
        if (!rc) rc = labels(out, &q->s[i]);
        if (!rc) rc = pf_buf_appendf(out, "} %llu.%03llu\n", (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000));
    }
    return rc;
}

int pf__qoe_metrics(const pf_qoe_store *q, pf_buf *out)
{
    int rc = counter(q, out, "reports_total", "QoE reports accepted.", f_reports);
    if (!rc) rc = counter(q, out, "streams_total", "Streams that ended (their final report).", f_ended);
    if (!rc) rc = family(out, "startup_seconds", "histogram", "Start-up: play to playable, one per stream.");
    for (size_t i = 0; !rc && i < q->ns; i++) {
        const series *s = &q->s[i];
        if (!used(s)) continue;
        for (int b = 0; !rc && b <= NBUCKETS; b++) {
            rc = pf_buf_appendf(out, "peerflow_tracker_qoe_startup_seconds_bucket{");
            if (!rc) rc = labels(out, s);
            if (!rc)
                rc = pf_buf_appendf(out, ",le=\"%s\"} %llu\n", b < NBUCKETS ? BUCKET_LE[b] : "+Inf",
                                    (unsigned long long)(b < NBUCKETS ? s->startup_le[b] : s->startup_n));
        }
        if (!rc) rc = pf_buf_appendf(out, "peerflow_tracker_qoe_startup_seconds_sum{");
        if (!rc) rc = labels(out, s);
        if (!rc)
            rc = pf_buf_appendf(out, "} %llu.%03llu\n", (unsigned long long)(s->startup_sum_ms / 1000),
                                (unsigned long long)(s->startup_sum_ms % 1000));
        if (!rc) rc = pf_buf_appendf(out, "peerflow_tracker_qoe_startup_seconds_count{");
        if (!rc) rc = labels(out, s);
        if (!rc) rc = pf_buf_appendf(out, "} %llu\n", (unsigned long long)s->startup_n);
    }
    if (!rc) rc = counter(q, out, "stalls_total", "Stalls after start-up.", f_stalls);
    if (!rc) rc = seconds(q, out, "stall_seconds_total", "Time stalled after start-up.", offsetof(series, stall_ms));
    if (!rc) rc = seconds(q, out, "play_seconds_total", "Media time played.", offsetof(series, play_ms));
    if (!rc) rc = family(out, "bytes_total", "counter", "Bytes viewers received, by source.");
    for (size_t i = 0; !rc && i < q->ns; i++) {
        const series *s = &q->s[i];
        if (!used(s)) continue;
        for (int k = 0; !rc && k < 2; k++) {
            rc = pf_buf_appendf(out, "peerflow_tracker_qoe_bytes_total{");
            if (!rc) rc = labels(out, s);
            if (!rc)
                rc = pf_buf_appendf(out, ",source=\"%s\"} %llu\n", k ? "peer" : "cdn",
                                    (unsigned long long)(k ? s->peer : s->cdn));
        }
    }
    if (!rc) rc = counter(q, out, "upload_bytes_total", "Bytes viewers uploaded to peers.", f_upload);
    if (!rc)
        rc = counter(q, out, "budget_exhausted_total", "Streams whose viewer's upload budget ran out.", f_budget);
    return rc;
}
