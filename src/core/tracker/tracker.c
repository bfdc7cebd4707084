#include "core/tracker/tracker.h"

#include "core/tracker/auth.h"
#include "core/util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/codec/bencode.h"
#include "core/codec/http_parse.h"
#include "core/tracker/connid.h"
#include "core/tracker/alto.h"
#include "core/tracker/qoe.h"

#define NS_PER_S UINT64_C(1000000000)

#define KEY_LEN 19 /* family(1) ip(16) port(2, big-endian): memcmp order */

typedef struct peer {
    uint8_t key[KEY_LEN];
    uint8_t seeder;
    uint8_t peer_id[20];
    uint32_t gap_s; /* longest gap seen between two of its announces; 0 = none yet */
    int16_t pid;      /* its ALTO PID (-1: none), as of map generation pid_gen */
    uint16_t pid_gen;
    uint64_t last_seen;
} peer;

typedef struct torrent {
    struct torrent *next; /* hash chain */
    uint8_t ih[20];
    peer *peers; /* sorted by key */
    size_t n, cap;
    size_t seeders;
    uint64_t downloaded;
} torrent;

#define RATE_WAYS 8
#define RATE_KEY_LEN 9 /* family(1) + IPv4 address or IPv6 /64 prefix */

/* One source of requests: GCRA state.  tat (theoretical arrival time) is
 * when the source's bucket is full again; 0 = unused slot. */
typedef struct rate_slot {
    uint64_t tat;
    uint8_t key[RATE_KEY_LEN];
} rate_slot;

struct pf_tracker {
    pf_tracker_config cfg;
    torrent **buckets;
    size_t nbuckets; /* power of two */
    size_t ntorrents, npeers;
    uint64_t hkey, rng;
    pf_tracker_stats st;
    rate_slot *rate;  /* rate_sets * RATE_WAYS slots, NULL when unlimited */
    size_t rate_sets; /* power of two */
    size_t rate_used;
    uint64_t rate_t;  /* ns between requests at the sustained rate */
    uint64_t rate_tau; /* burst tolerance: (burst - 1) * rate_t */
    pf_net proxies[PF_TRACKER_MAX_PROXIES];
    size_t nproxies;
    pf_logger log;
    pf__connid connid; /* BEP 15 connection ids (core/tracker/udp.c) */
    const pf_auth_keys *auth; /* borrowed; NULL: anyone may announce */
    uint64_t unix_s;          /* wall clock for token expiry */
    const pf_tracker_policy *policy; /* borrowed; NULL: no rule */
    pf_qoe_store *qoe;               /* viewers' QoE reports */
    const pf_alto_map *alto;         /* borrowed; NULL: no locality */
    uint16_t alto_gen;               /* bumped with each map */
};

/* --- small helpers ---------------------------------------------------- */

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t rng_next(pf_tracker *t)
{
    t->rng += UINT64_C(0x9e3779b97f4a7c15);
    return mix64(t->rng);
}

/* Uniform-enough value in [0, n) for n > 0 (n is small here). */
static size_t rng_below(pf_tracker *t, size_t n) { return (size_t)(rng_next(t) % n); }

static size_t ih_hash(const pf_tracker *t, const uint8_t ih[20])
{
    uint64_t w[3] = {0, 0, 0};
    memcpy(&w[0], ih, 8);
    memcpy(&w[1], ih + 8, 8);
    memcpy(&w[2], ih + 16, 4);
    uint64_t h = t->hkey;
    for (int i = 0; i < 3; i++) h = mix64(h ^ w[i]);
    return (size_t)h & (t->nbuckets - 1);
}

static void tlog(pf_tracker *t, pf_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void tlog(pf_tracker *t, pf_log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pf__logv(&t->log, lvl, fmt, ap);
    va_end(ap);
}

/* Digits only, no overflow; 0 or -1. */
static int parse_u64(const uint8_t *p, size_t n, uint64_t *out)
{
    if (n == 0 || n > 20) return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        unsigned d = (unsigned)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Decoded parameter value into buf (NUL-terminated); length or -1. */
static long qget(const char *q, size_t qlen, const char *key, uint8_t *buf, size_t cap)
{
    size_t n;
    if (pf_http_query_get(q, qlen, key, buf, cap - 1, &n) != 0) return -1;
    buf[n] = 0;
    return (long)n;
}

static int qget_u64(const char *q, size_t qlen, const char *key, uint64_t *out)
{
    uint8_t b[32];
    long n = qget(q, qlen, key, b, sizeof b);
    if (n < 0) return -1;
    return parse_u64(b, (size_t)n, out);
}

/* Normalises v4-mapped IPv6 to IPv4 and zeroes unused bytes. */
pf_addr pf__tracker_addr_norm(const pf_addr *a)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    pf_addr r;
    memset(&r, 0, sizeof r);
    r.port = a->port;
    if (a->family == 6 && memcmp(a->ip, mapped, 12) == 0) {
        r.family = 4;
        memcpy(r.ip, a->ip + 12, 4);
    } else if (a->family == 4) {
        r.family = 4;
        memcpy(r.ip, a->ip, 4);
    } else if (a->family == 6) {
        r.family = 6;
        memcpy(r.ip, a->ip, 16);
    }
    return r;
}

static void key_from_addr(uint8_t key[KEY_LEN], const pf_addr *a)
{
    memset(key, 0, KEY_LEN);
    key[0] = a->family;
    memcpy(key + 1, a->ip, a->family == 4 ? 4 : 16);
    pf_wr_be16(key + 17, a->port);
}

static void addr_from_key(pf_addr *a, const uint8_t key[KEY_LEN])
{
    memset(a, 0, sizeof *a);
    a->family = key[0];
    memcpy(a->ip, key + 1, 16);
    a->port = pf_rd_be16(key + 17);
}

/* --- lifecycle -------------------------------------------------------- */

/* The connection-id generator from cfg.udp_secret, or, when that is all
 * zero, from the seed. */
static void connid_seed(pf_tracker *t)
{
    static const uint8_t zero[16];
    uint8_t secret[16];
    memcpy(secret, t->cfg.udp_secret, 16);
    if (memcmp(secret, zero, 16) == 0) {
        uint64_t a = mix64(t->cfg.seed ^ UINT64_C(0x3c6ef372fe94f82b)), b = mix64(a);
        for (int i = 0; i < 8; i++) {
            secret[i] = (uint8_t)(a >> (8 * i));
            secret[8 + i] = (uint8_t)(b >> (8 * i));
        }
    }
    pf__connid_init(&t->connid, secret, 0);
}

void pf_tracker_config_default(pf_tracker_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->interval_s = 1800;
    cfg->min_interval_s = 900;
    cfg->max_torrents = 100000;
    cfg->max_peers_per_torrent = 10000;
    cfg->max_peers_total = 2000000;
    cfg->numwant_default = 50;
    cfg->numwant_max = 200;
    cfg->max_scrape = 256;
    cfg->ip_rate_per_min = 600;
    cfg->ip_burst = 300;
    cfg->max_rate_sources = 65536;
    cfg->client_floor_s = PF_TRACKER_CLIENT_FLOOR_S;
    cfg->log_level = PF_LOG_INFO;
}

pf_tracker *pf_tracker_new(const pf_tracker_config *cfg)
{
    pf_tracker_config d;
    pf_tracker_config_default(&d);
    pf_tracker *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->cfg = cfg ? *cfg : d;
    pf_tracker_config *c = &t->cfg;
    if (!c->interval_s) c->interval_s = d.interval_s;
    if (!c->min_interval_s || c->min_interval_s > c->interval_s)
        c->min_interval_s = c->interval_s / 2 ? c->interval_s / 2 : 1;
    if (!c->max_torrents) c->max_torrents = d.max_torrents;
    if (!c->max_peers_per_torrent) c->max_peers_per_torrent = d.max_peers_per_torrent;
    if (!c->max_peers_total) c->max_peers_total = d.max_peers_total;
    if (!c->numwant_max) c->numwant_max = d.numwant_max;
    if (!c->numwant_default) c->numwant_default = d.numwant_default;
    if (c->numwant_default > c->numwant_max) c->numwant_default = c->numwant_max;
    if (!c->max_scrape) c->max_scrape = d.max_scrape;
    if (!c->ip_rate_per_min) c->ip_rate_per_min = d.ip_rate_per_min;
    if (!c->ip_burst) c->ip_burst = d.ip_burst;
    if (!c->max_rate_sources) c->max_rate_sources = d.max_rate_sources;
    if (!c->client_floor_s) c->client_floor_s = d.client_floor_s;
    if (c->client_floor_s > PF_TRACKER_MAX_GAP_S) c->client_floor_s = PF_TRACKER_MAX_GAP_S;
    t->nproxies = c->num_trusted_proxies < PF_TRACKER_MAX_PROXIES ? c->num_trusted_proxies
                                                                   : PF_TRACKER_MAX_PROXIES;
    if (t->nproxies && c->trusted_proxies)
        memcpy(t->proxies, c->trusted_proxies, t->nproxies * sizeof *t->proxies);
    else
        t->nproxies = 0;
    c->trusted_proxies = NULL; /* borrowed: not kept */
    pf__logger_init(&t->log, c->log, c->log_ud, c->log_level);
    t->hkey = mix64(c->seed ^ UINT64_C(0x6a09e667f3bcc909));
    t->rng = c->seed;
    connid_seed(t);
    t->nbuckets = 64;
    t->buckets = calloc(t->nbuckets, sizeof *t->buckets);
    if (!t->buckets) {
        free(t);
        return NULL;
    }
    if (c->ip_rate_per_min != PF_TRACKER_UNLIMITED) {
        size_t sets = 1;
        while (sets * RATE_WAYS < c->max_rate_sources && sets < (SIZE_MAX / 2) / RATE_WAYS)
            sets *= 2;
        t->rate_sets = sets;
        t->rate = calloc(sets * RATE_WAYS, sizeof *t->rate);
        if (!t->rate) {
            free(t->buckets);
            free(t);
            return NULL;
        }
        t->rate_t = 60 * NS_PER_S / c->ip_rate_per_min;
        if (t->rate_t == 0) t->rate_t = 1;
        t->rate_tau = (uint64_t)(c->ip_burst - 1) * t->rate_t;
    }
    t->qoe = pf__qoe_new(c->max_qoe_series, c->max_qoe_streams, c->seed ^ t->hkey);
    if (!t->qoe) {
        pf_tracker_free(t);
        return NULL;
    }
    return t;
}

static void torrent_free(torrent *tt)
{
    free(tt->peers);
    free(tt);
}

void pf_tracker_free(pf_tracker *t)
{
    if (!t) return;
    for (size_t b = 0; b < t->nbuckets; b++) {
        torrent *tt = t->buckets[b];
        while (tt) {
            torrent *next = tt->next;
            torrent_free(tt);
            tt = next;
        }
    }
    free(t->buckets);
    free(t->rate);
    pf__qoe_free(t->qoe);
    free(t);
}

/* --- swarms ----------------------------------------------------------- */

static torrent *torrent_find(pf_tracker *t, const uint8_t ih[20])
{
    for (torrent *tt = t->buckets[ih_hash(t, ih)]; tt; tt = tt->next)
        if (memcmp(tt->ih, ih, 20) == 0) return tt;
    return NULL;
}

static void table_grow(pf_tracker *t)
{
    size_t nb = t->nbuckets * 2;
    torrent **nbk = calloc(nb, sizeof *nbk);
    if (!nbk) return; /* keep the old table: longer chains, still correct */
    torrent **old = t->buckets;
    size_t on = t->nbuckets;
    t->buckets = nbk;
    t->nbuckets = nb;
    for (size_t b = 0; b < on; b++) {
        torrent *tt = old[b];
        while (tt) {
            torrent *next = tt->next;
            size_t h = ih_hash(t, tt->ih);
            tt->next = nbk[h];
            nbk[h] = tt;
            tt = next;
        }
    }
    free(old);
}

static torrent *torrent_add(pf_tracker *t, const uint8_t ih[20])
{
    torrent *tt = calloc(1, sizeof *tt);
    if (!tt) return NULL;
    memcpy(tt->ih, ih, 20);
    size_t h = ih_hash(t, ih);
    tt->next = t->buckets[h];
    t->buckets[h] = tt;
    t->ntorrents++;
    if (t->ntorrents > t->nbuckets) table_grow(t);
    return tt;
}

static void torrent_remove(pf_tracker *t, torrent *tt)
{
    torrent **pp = &t->buckets[ih_hash(t, tt->ih)];
    while (*pp && *pp != tt) pp = &(*pp)->next;
    if (*pp) *pp = tt->next;
    t->npeers -= tt->n;
    t->ntorrents--;
    torrent_free(tt);
}

/* Binary search: index of key, or insertion point with *found = 0. */
static size_t peer_find(const torrent *tt, const uint8_t key[KEY_LEN], int *found)
{
    size_t lo = 0, hi = tt->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(tt->peers[mid].key, key, KEY_LEN);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    *found = 0;
    return lo;
}

static void peer_remove_at(pf_tracker *t, torrent *tt, size_t i)
{
    if (tt->peers[i].seeder) tt->seeders--;
    memmove(&tt->peers[i], &tt->peers[i + 1], (tt->n - i - 1) * sizeof(peer));
    tt->n--;
    t->npeers--;
}

static int peer_insert_at(pf_tracker *t, torrent *tt, size_t i, const peer *p)
{
    if (tt->n == tt->cap) {
        size_t nc = tt->cap ? tt->cap * 2 : 8;
        if (nc > t->cfg.max_peers_per_torrent) nc = t->cfg.max_peers_per_torrent;
        if (nc <= tt->n) return PF_ERR_LIMIT;
        peer *np = realloc(tt->peers, nc * sizeof *np);
        if (!np) return PF_ERR_NOMEM;
        tt->peers = np;
        tt->cap = nc;
    }
    memmove(&tt->peers[i + 1], &tt->peers[i], (tt->n - i) * sizeof(peer));
    tt->peers[i] = *p;
    tt->n++;
    t->npeers++;
    if (p->seeder) tt->seeders++;
    return 0;
}

static size_t oldest_peer(const torrent *tt)
{
    size_t o = 0;
    for (size_t i = 1; i < tt->n; i++)
        if (tt->peers[i].last_seen < tt->peers[o].last_seen) o = i;
    return o;
}

/* --- per-source rate limit ------------------------------------------- */

static void rate_key(uint8_t key[RATE_KEY_LEN], const pf_addr *a)
{
    memset(key, 0, RATE_KEY_LEN);
    key[0] = a->family;
    memcpy(key + 1, a->ip, a->family == 4 ? 4 : 8); /* IPv6: the /64 */
}

/* 0 if the source may go on (and charges it), else the ns until it may. */
static uint64_t rate_check(pf_tracker *t, const pf_addr *a, uint64_t now)
{
    if (!t->rate || (a->family != 4 && a->family != 6)) return 0;
    uint8_t key[RATE_KEY_LEN];
    rate_key(key, a);
    uint64_t w[2] = {0, 0};
    memcpy(w, key + 1, 8);
    uint64_t h = mix64(mix64(t->hkey ^ UINT64_C(0x5851f42d4c957f2d) ^ key[0]) ^ w[0]);
    rate_slot *set = &t->rate[(h & (t->rate_sets - 1)) * RATE_WAYS];
    rate_slot *s = NULL, *victim = NULL;
    for (int i = 0; i < RATE_WAYS; i++) {
        rate_slot *e = &set[i];
        if (e->tat && memcmp(e->key, key, RATE_KEY_LEN) == 0) {
            s = e;
            break;
        }
        /* the most rested (smallest tat; unused slots have 0) */
        if (!victim || e->tat < victim->tat) victim = e;
    }
    if (!s) {
        s = victim;
        if (!s->tat) t->rate_used++;
        memcpy(s->key, key, RATE_KEY_LEN);
        s->tat = 0;
    }
    uint64_t tat = s->tat > now ? s->tat : now;
    if (tat - now > t->rate_tau) {
        if (!s->tat) s->tat = now ? now : 1; /* keep the slot marked used */
        return tat - now - t->rate_tau;
    }
    s->tat = tat + t->rate_t;
    return 0;
}

static int reply_rate_limited(pf_tracker *t, pf_buf *out, uint64_t wait_ns)
{
    t->st.rate_limited++;
    uint64_t minutes = (wait_ns + 60 * NS_PER_S - 1) / (60 * NS_PER_S);
    if (minutes < 1) minutes = 1;
    int rc = pf_benc_dict_begin(out);
    if (!rc) rc = pf_benc_cstr(out, "failure reason");
    if (!rc) rc = pf_benc_cstr(out, "rate limit exceeded");
    if (!rc) rc = pf_benc_cstr(out, "retry in");
    if (!rc) rc = pf_benc_int(out, (int64_t)minutes);
    if (!rc) rc = pf_benc_end(out);
    return rc ? 500 : 200;
}

/* --- replies ---------------------------------------------------------- */

static const struct {
    const char *prefix, *label;
} REASONS[PF_TRACKER_NREASONS] = {
    [PF_TRACKER_R_INVALID] = {"invalid ", "invalid"},
    [PF_TRACKER_R_FULL] = {"tracker full", "tracker_full"},
    [PF_TRACKER_R_MISSING_TOKEN] = {"missing token", "missing_token"},
    [PF_TRACKER_R_MALFORMED_TOKEN] = {"malformed token", "malformed_token"},
    [PF_TRACKER_R_UNKNOWN_KEY] = {"unknown token key", "unknown_key"},
    [PF_TRACKER_R_BAD_SIGNATURE] = {"bad token signature", "bad_signature"},
    [PF_TRACKER_R_WRONG_TORRENT] = {"token is for another torrent", "wrong_torrent"},
    [PF_TRACKER_R_EXPIRED] = {"token expired", "expired"},
    [PF_TRACKER_R_OTHER] = {"", "other"},
};

const char *pf_tracker_reason_label(int i) { return i >= 0 && i < PF_TRACKER_NREASONS ? REASONS[i].label : NULL; }

void pf__tracker_refused(pf_tracker *t, const char *why)
{
    int r = PF_TRACKER_R_OTHER;
    for (int i = 0; i < PF_TRACKER_R_OTHER && r == PF_TRACKER_R_OTHER; i++)
        if (strncmp(why, REASONS[i].prefix, strlen(REASONS[i].prefix)) == 0) r = i;
    if (strcmp(why, "bad address") == 0) r = PF_TRACKER_R_INVALID;
    t->st.refused_by[r]++;
}

static int reply_failure(pf_tracker *t, pf_buf *out, const char *why)
{
    t->st.refused++;
    pf__tracker_refused(t, why);
    int rc = pf_benc_dict_begin(out);
    if (!rc) rc = pf_benc_cstr(out, "failure reason");
    if (!rc) rc = pf_benc_cstr(out, why);
    if (!rc) rc = pf_benc_end(out);
    return rc ? 500 : 200;
}

void pf__tracker_ip_text(const pf_addr *a, char *out, size_t cap)
{
    char s[80];
    pf_addr_format(a, s, sizeof s);
    const char *b = s;
    size_t n;
    if (s[0] == '[') {
        b = s + 1;
        const char *e = strchr(b, ']');
        n = e ? (size_t)(e - b) : strlen(b);
    } else {
        const char *e = strrchr(s, ':');
        n = e ? (size_t)(e - s) : strlen(s);
    }
    if (n >= cap) n = cap - 1;
    memcpy(out, b, n);
    out[n] = 0;
}

typedef struct announce_opts {
    int compact, no_peer_id;
    uint32_t numwant;
    pf_policy_verdict pv; /* the operator's word for this viewer */
    int pid;              /* the announcer's ALTO PID, -1 none */
} announce_opts;

static int emit_peer(pf_buf *out, pf_buf *v4, pf_buf *v6, const peer *p,
                     const announce_opts *o)
{
    pf_addr a;
    addr_from_key(&a, p->key);
    if (o->compact) {
        pf_buf *b = a.family == 4 ? v4 : v6;
        int rc = pf_buf_append(b, a.ip, a.family == 4 ? 4 : 16);
        return rc ? rc : pf_buf_append_be16(b, a.port);
    }
    char ip[64];
    pf__tracker_ip_text(&a, ip, sizeof ip);
    int rc = pf_benc_dict_begin(out);
    if (!rc) rc = pf_benc_cstr(out, "ip");
    if (!rc) rc = pf_benc_cstr(out, ip);
    if (!rc && !o->no_peer_id) {
        rc = pf_benc_cstr(out, "peer id");
        if (!rc) rc = pf_benc_str(out, p->peer_id, 20);
    }
    if (!rc) rc = pf_benc_cstr(out, "port");
    if (!rc) rc = pf_benc_int(out, a.port);
    if (!rc) rc = pf_benc_end(out);
    return rc;
}

/* Peers chosen at random among tt->peers[lo, hi) other than index self
 * (SIZE_MAX, or any index outside the range, for none): all of them when
 * there are no more than `need`; otherwise one from each of `need` equal
 * strata, as opentracker does, so a reply costs O(need) however large the
 * swarm, and each peer is chosen with probability about need / avail. */
typedef struct picker {
    size_t lo, self, avail, need, k;
} picker;

static void picker_init(picker *p, size_t lo, size_t hi, size_t self, size_t need)
{
    p->lo = lo;
    p->self = self >= lo && self < hi ? self : SIZE_MAX;
    p->avail = hi - lo - (p->self != SIZE_MAX ? 1 : 0);
    p->need = need < p->avail ? need : p->avail;
    p->k = 0;
}

/* The next index, or SIZE_MAX once done. */
static size_t picker_next(pf_tracker *t, picker *p)
{
    if (p->k >= p->need) return SIZE_MAX;
    size_t v;
    if (p->need == p->avail) {
        v = p->k;
    } else {
        size_t a = (size_t)((uint64_t)p->k * p->avail / p->need);
        size_t b = (size_t)((uint64_t)(p->k + 1) * p->avail / p->need);
        v = a + rng_below(t, b - a);
    }
    p->k++;
    size_t i = p->lo + v;
    return p->self != SIZE_MAX && i >= p->self ? i + 1 : i;
}

/* --- locality (core/tracker/alto.h) ------------------------------------- */

static int addr_pid(const pf_tracker *t, const pf_addr *a)
{
    int pid = t->alto ? pf_alto_pid(t->alto, a) : -1;
    return pid > INT16_MAX ? -1 : pid;
}

/* A peer's PID under the map in force (recomputed after a new map). */
static int peer_pid(const pf_tracker *t, peer *p)
{
    if (p->pid_gen != t->alto_gen) {
        pf_addr a;
        addr_from_key(&a, p->key);
        p->pid = (int16_t)addr_pid(t, &a);
        p->pid_gen = t->alto_gen;
    }
    return p->pid;
}

typedef struct cand {
    double cost;
    uint64_t r; /* random tie-break */
    size_t i;
} cand;

static int cmp_cand(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->cost != y->cost) return x->cost < y->cost ? -1 : 1;
    return x->r < y->r ? -1 : x->r > y->r;
}

/* Peers of tt[lo, hi) but self for an announcer of PID `pid`, into idx
 * (want of them at most); returns how many.  Without a map or a PID:
 * chosen at random (picker).  With them, P4P's way: the candidates (all
 * of them, or 4 x want chosen at random in a large swarm, so a reply
 * costs O(want)) ranked by the cost from the announcer's PID, its own PID
 * first, ties at random.  A tenth of the list (at least 2) is kept for
 * other PIDs, the cheapest, so that the PIDs stay connected; the
 * announcer's own PID takes the rest; if it has fewer, other PIDs fill
 * the list, but no more than a fifth of it once the own PID has 8 peers:
 * most bytes stay inside the ISP. */
static size_t choose_peers(pf_tracker *t, torrent *tt, size_t lo, size_t hi, size_t self, size_t want, int pid,
                           size_t *idx)
{
    picker pk;
    size_t n = 0;
    if (!t->alto || pid < 0) {
        picker_init(&pk, lo, hi, self, want);
        for (size_t i; (i = picker_next(t, &pk)) != SIZE_MAX;) idx[n++] = i;
        return n;
    }
    size_t ncand = 4 * want, k = 0;
    cand *c = malloc((ncand ? ncand : 1) * sizeof *c);
    if (!c) { /* no memory for the ranking: at random */
        picker_init(&pk, lo, hi, self, want);
        for (size_t i; (i = picker_next(t, &pk)) != SIZE_MAX;) idx[n++] = i;
        return n;
    }
    picker_init(&pk, lo, hi, self, ncand);
    size_t same = 0;
    for (size_t i; (i = picker_next(t, &pk)) != SIZE_MAX;) {
        int q = peer_pid(t, &tt->peers[i]);
        c[k].cost = q == pid ? -1 : pf_alto_cost(t->alto, pid, q);
        c[k].r = rng_next(t);
        c[k].i = i;
        same += q == pid;
        k++;
    }
    qsort(c, k, sizeof *c, cmp_cand);
    size_t others = k - same, r = want / 10 < 2 ? 2 : want / 10;
    size_t own_take = want - (r < others ? r : others);
    if (own_take > same) own_take = same;
    size_t others_cap = same >= 8 ? (r > want / 5 ? r : want / 5) : want;
    size_t others_take = want - own_take;
    if (others_take > others_cap) others_take = others_cap;
    for (size_t j = 0; j < same && j < own_take; j++) idx[n++] = c[j].i; /* sorted: own PID first */
    for (size_t j = same; j < k && n < own_take + others_take; j++) idx[n++] = c[j].i;
    free(c);
    return n;
}

void pf_tracker_set_alto(pf_tracker *t, const pf_alto_map *m)
{
    t->alto = m;
    t->alto_gen++;
    if (t->alto_gen == 0) t->alto_gen = 1; /* 0 is "no map" for fresh peers */
}

/* Writes the peer list(s): up to numwant peers other than index `self`
 * (SIZE_MAX for none). */
static int emit_peers(pf_tracker *t, pf_buf *out, const torrent *tt, size_t self,
                      const announce_opts *o)
{
    pf_buf v4, v6;
    pf_buf_init(&v4);
    pf_buf_init(&v6);
    int rc = 0;
    if (!o->compact) {
        rc = pf_benc_cstr(out, "peers");
        if (!rc) rc = pf_benc_list_begin(out);
    }
    size_t *idx = o->numwant ? malloc(o->numwant * sizeof *idx) : NULL;
    size_t n = tt && idx ? choose_peers(t, (torrent *)tt, 0, tt->n, self, o->numwant, o->pid, idx) : 0;
    for (size_t j = 0; !rc && j < n; j++) rc = emit_peer(out, &v4, &v6, &tt->peers[idx[j]], o);
    free(idx);
    if (!rc && !o->compact) rc = pf_benc_end(out);
    if (!rc && o->compact) {
        rc = pf_benc_cstr(out, "peers");
        if (!rc) rc = pf_benc_str(out, v4.data, v4.len);
        if (!rc) rc = pf_benc_cstr(out, "peers6");
        if (!rc) rc = pf_benc_str(out, v6.data, v6.len);
    }
    pf_buf_free(&v4);
    pf_buf_free(&v6);
    return rc;
}

static int reply_announce(pf_tracker *t, pf_buf *out, const torrent *tt, size_t self,
                          const announce_opts *o)
{
    size_t seeders = tt ? tt->seeders : 0, n = tt ? tt->n : 0;
    int rc = pf_benc_dict_begin(out);
    if (!rc) rc = pf_benc_cstr(out, "complete");
    if (!rc) rc = pf_benc_int(out, (int64_t)seeders);
    if (!rc) rc = pf_benc_cstr(out, "downloaded");
    if (!rc) rc = pf_benc_int(out, tt ? (int64_t)tt->downloaded : 0);
    if (!rc) rc = pf_benc_cstr(out, "incomplete");
    if (!rc) rc = pf_benc_int(out, (int64_t)(n - seeders));
    if (!rc) rc = pf_benc_cstr(out, "interval");
    if (!rc) rc = pf_benc_int(out, t->cfg.interval_s);
    if (!rc) rc = pf_benc_cstr(out, "min interval");
    if (!rc) rc = pf_benc_int(out, t->cfg.min_interval_s);
    pf_net nets[PF_TRACKER_LOCAL_NETS];
    size_t nnets = 0;
    if (t->alto && o->pid >= 0) {
        nnets = pf_alto_pid_nets(t->alto, o->pid, nets, PF_TRACKER_LOCAL_NETS);
        if (nnets > PF_TRACKER_LOCAL_NETS) nnets = PF_TRACKER_LOCAL_NETS;
    }
    { /* keys sorted: before "peers".  Always there: "qoe" tells a peerflow
       * client that this tracker takes its QoE reports (it sends none to
       * a tracker that does not say so: a public tracker learns nothing
       * more than an announce tells it). */
        rc = rc ? rc : pf_benc_cstr(out, "peerflow");
        if (!rc) rc = pf_benc_dict_begin(out);
        if (!rc && nnets) { /* the announcer's own PID's networks: its ISP */
            rc = pf_benc_cstr(out, "local nets");
            if (!rc) rc = pf_benc_list_begin(out);
            for (size_t i = 0; !rc && i < nnets; i++) {
                char ip[64], text[80];
                pf_addr a;
                memset(&a, 0, sizeof a);
                a.family = nets[i].family;
                memcpy(a.ip, nets[i].ip, sizeof a.ip < sizeof nets[i].ip ? sizeof a.ip : sizeof nets[i].ip);
                pf__tracker_ip_text(&a, ip, sizeof ip);
                snprintf(text, sizeof text, "%s/%u", ip, (unsigned)nets[i].bits);
                rc = pf_benc_cstr(out, text);
            }
            if (!rc) rc = pf_benc_end(out);
        }
        if (!rc) rc = pf_benc_cstr(out, "p2p");
        if (!rc) rc = pf_benc_int(out, o->pv.p2p_off ? 0 : 1);
        if (!rc) rc = pf_benc_cstr(out, "qoe");
        if (!rc) rc = pf_benc_int(out, 1);
        if (!rc && o->pv.upload_cap) {
            rc = pf_benc_cstr(out, "upload cap");
            if (!rc) rc = pf_benc_int(out, (int64_t)o->pv.upload_cap);
        }
        if (!rc) rc = pf_benc_end(out);
    }
    if (!rc) rc = emit_peers(t, out, tt, self, o);
    if (!rc) rc = pf_benc_end(out);
    return rc ? 500 : 200;
}

/* --- announce --------------------------------------------------------- */

int pf__tracker_announce(pf_tracker *t, const pf__announce *a, uint64_t now, pf__swarm_view *view,
                         const char **why)
{
    memset(view, 0, sizeof *view);
    view->self = SIZE_MAX;
    view->pid = -1;
    *why = NULL;
    peer rec;
    memset(&rec, 0, sizeof rec);
    key_from_addr(rec.key, &a->addr);
    memcpy(rec.peer_id, a->peer_id, 20);
    rec.seeder = a->left == 0;
    rec.last_seen = now;
    rec.pid = (int16_t)addr_pid(t, &a->addr);
    rec.pid_gen = t->alto_gen;
    view->pid = rec.pid;

    torrent *tt = torrent_find(t, a->info_hash);
    if (a->event == PF_TRACKER_EV_STOPPED) {
        if (tt) {
            int found;
            size_t i = peer_find(tt, rec.key, &found);
            if (found) peer_remove_at(t, tt, i);
        }
        view->torrent = tt;
        return 0;
    }
    int created = 0;
    if (!tt) {
        if (t->ntorrents >= t->cfg.max_torrents) {
            tlog(t, PF_LOG_DEBUG, "refusing torrent: %zu torrents", t->ntorrents);
            *why = "tracker full: too many torrents";
            return PF_ERR_LIMIT;
        }
        if (!(tt = torrent_add(t, a->info_hash))) return PF_ERR_NOMEM;
        created = 1;
    }
    int found;
    size_t i = peer_find(tt, rec.key, &found);
    if (found) {
        peer *p = &tt->peers[i];
        if (a->event == PF_TRACKER_EV_COMPLETED && !p->seeder) tt->downloaded++;
        if (p->seeder != rec.seeder) {
            if (rec.seeder) tt->seeders++;
            else tt->seeders--;
        }
        rec.gap_s = p->gap_s;
        /* A regular re-announce (no event) shows the client's own period;
         * started/completed come whenever they happen. */
        if (a->event == PF_TRACKER_EV_NONE && now > p->last_seen) {
            uint64_t gap = (now - p->last_seen) / NS_PER_S;
            if (gap > PF_TRACKER_MAX_GAP_S) gap = PF_TRACKER_MAX_GAP_S;
            if (gap > rec.gap_s) rec.gap_s = (uint32_t)gap;
        }
        *p = rec;
    } else {
        if (t->npeers >= t->cfg.max_peers_total) {
            if (created) torrent_remove(t, tt);
            *why = "tracker full: too many peers";
            return PF_ERR_LIMIT;
        }
        if (tt->n >= t->cfg.max_peers_per_torrent) {
            peer_remove_at(t, tt, oldest_peer(tt));
            i = peer_find(tt, rec.key, &found);
        }
        int rc = peer_insert_at(t, tt, i, &rec);
        if (rc) {
            if (created) torrent_remove(t, tt);
            return rc == PF_ERR_NOMEM ? PF_ERR_NOMEM : PF_ERR_LIMIT;
        }
        if (a->event == PF_TRACKER_EV_COMPLETED) tt->downloaded++;
    }
    if (a->event == PF_TRACKER_EV_COMPLETED) t->st.completed++;
    view->torrent = tt;
    view->self = i;
    return 0;
}

static int handle_announce(pf_tracker *t, const char *q, size_t qlen, const pf_addr *client,
                           int ip_ok, uint64_t now, pf_buf *out)
{
    uint8_t ih[21], pid[21], b[64];
    uint64_t port, v;
    pf__announce a;
    memset(&a, 0, sizeof a);
    a.left = 1;
    t->st.announces++;
    if (qget(q, qlen, "info_hash", ih, sizeof ih) != 20)
        return reply_failure(t, out, "invalid info_hash");
    if (qget(q, qlen, "peer_id", pid, sizeof pid) != 20)
        return reply_failure(t, out, "invalid peer_id");
    if (qget_u64(q, qlen, "port", &port) || port == 0 || port > 65535)
        return reply_failure(t, out, "invalid port");
    if (t->auth) {
        uint8_t tok[PF_TOKEN_MAX];
        size_t n = 0;
        int qr = pf_http_query_get(q, qlen, "token", tok, sizeof tok, &n);
        const char *why = qr == PF_ERR_NOTFOUND ? "missing token"
                          : qr                  ? "malformed token"
                                                : pf_auth_check(t->auth, (const char *)tok, n, ih, t->unix_s);
        if (why) {
            t->st.auth_refused++;
            return reply_failure(t, out, why);
        }
    }
    if (qget(q, qlen, "left", b, sizeof b) >= 0 && parse_u64(b, strlen((char *)b), &v) == 0)
        a.left = v;
    a.event = PF_TRACKER_EV_NONE;
    if (qget(q, qlen, "event", b, sizeof b) >= 0) {
        if (strcmp((char *)b, "started") == 0) a.event = PF_TRACKER_EV_STARTED;
        else if (strcmp((char *)b, "completed") == 0) a.event = PF_TRACKER_EV_COMPLETED;
        else if (strcmp((char *)b, "stopped") == 0) a.event = PF_TRACKER_EV_STOPPED;
    }
    announce_opts o = {1, 0, t->cfg.numwant_default, {0, 0}, -1};
    if (qget(q, qlen, "compact", b, sizeof b) >= 0 && strcmp((char *)b, "0") == 0)
        o.compact = 0;
    if (qget(q, qlen, "no_peer_id", b, sizeof b) >= 0 && strcmp((char *)b, "0") != 0)
        o.no_peer_id = 1;
    if (qget_u64(q, qlen, "numwant", &v) == 0)
        o.numwant = v > t->cfg.numwant_max ? t->cfg.numwant_max : (uint32_t)v;

    a.addr = *client;
    if (ip_ok && qget(q, qlen, "ip", b, sizeof b) > 0) {
        char text[96];
        pf_addr ipa;
        if (strchr((char *)b, ':')) snprintf(text, sizeof text, "[%s]:1", (char *)b);
        else snprintf(text, sizeof text, "%s:1", (char *)b);
        if (pf_addr_parse(text, &ipa) == 0) a.addr = pf__tracker_addr_norm(&ipa);
    }
    a.addr.port = (uint16_t)port;
    if (a.addr.family != 4 && a.addr.family != 6) return reply_failure(t, out, "bad address");
    a.info_hash = ih;
    a.peer_id = pid;

    pf__swarm_view view;
    const char *why;
    int rc = pf__tracker_announce(t, &a, now, &view, &why);
    if (rc == PF_ERR_LIMIT) return reply_failure(t, out, why ? why : "refused");
    if (rc) return 500;
    pf__tracker_verdict(t, ih, &a.addr, &o.pv);
    o.pid = view.pid;
    if (a.event == PF_TRACKER_EV_STOPPED || o.pv.p2p_off) o.numwant = 0;
    return reply_announce(t, out, view.torrent, view.self, &o);
}

/* --- for the UDP front (core/tracker/udp.c) --------------------------- */

/* The first index of tt's peers of family >= fam (keys sort by family). */
static size_t family_start(const torrent *tt, int fam)
{
    size_t lo = 0, hi = tt->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (tt->peers[mid].key[0] < fam) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

size_t pf__tracker_compact_peers(pf_tracker *t, const pf__swarm_view *v, int family, size_t want,
                                 uint8_t *out)
{
    const torrent *tt = v->torrent;
    if (!tt || want == 0) return 0;
    size_t lo = family == 6 ? family_start(tt, 6) : 0;
    size_t hi = family == 6 ? tt->n : family_start(tt, 5);
    size_t each = family == 6 ? 18 : 6, n = 0;
    size_t *idx = malloc(want * sizeof *idx);
    if (!idx) return 0;
    size_t k = choose_peers(t, (torrent *)tt, lo, hi, v->self, want, v->pid, idx);
    for (size_t j = 0; j < k; j++, n += each) {
        const uint8_t *key = tt->peers[idx[j]].key;
        memcpy(out + n, key + 1, each - 2);
        memcpy(out + n + each - 2, key + 17, 2); /* the port, big-endian */
    }
    free(idx);
    return n;
}

void pf__swarm_counts(const pf__swarm_view *v, uint32_t *seeders, uint32_t *completed,
                      uint32_t *leechers)
{
    const torrent *tt = v->torrent;
    *seeders = tt ? (uint32_t)tt->seeders : 0;
    *leechers = tt ? (uint32_t)(tt->n - tt->seeders) : 0;
    *completed = tt ? (uint32_t)tt->downloaded : 0;
}

void pf__tracker_scrape_one(pf_tracker *t, const uint8_t ih[20], pf__swarm_view *v)
{
    memset(v, 0, sizeof *v);
    v->self = SIZE_MAX;
    v->torrent = torrent_find(t, ih);
}

uint64_t pf__tracker_rate_check(pf_tracker *t, const pf_addr *client, uint64_t now)
{
    uint64_t wait = rate_check(t, client, now);
    if (wait) t->st.rate_limited++;
    return wait;
}

const pf_tracker_config *pf__tracker_config(const pf_tracker *t) { return &t->cfg; }
pf_tracker_stats *pf__tracker_counters(pf_tracker *t) { return &t->st; }
int pf__tracker_needs_token(const pf_tracker *t) { return t->auth != NULL; }
pf__connid *pf__tracker_connid(pf_tracker *t) { return &t->connid; }
pf_logger *pf__tracker_logger(pf_tracker *t) { return &t->log; }

/* --- scrape ----------------------------------------------------------- */

static int cmp_ih(const void *a, const void *b) { return memcmp(a, b, 20); }

static int cmp_torrent_ptr(const void *a, const void *b)
{
    const torrent *x = *(const torrent *const *)a, *y = *(const torrent *const *)b;
    return memcmp(x->ih, y->ih, 20);
}

static int scrape_entry(pf_buf *out, const uint8_t ih[20], const torrent *tt)
{
    int rc = pf_benc_str(out, ih, 20);
    if (!rc) rc = pf_benc_dict_begin(out);
    if (!rc) rc = pf_benc_cstr(out, "complete");
    if (!rc) rc = pf_benc_int(out, tt ? (int64_t)tt->seeders : 0);
    if (!rc) rc = pf_benc_cstr(out, "downloaded");
    if (!rc) rc = pf_benc_int(out, tt ? (int64_t)tt->downloaded : 0);
    if (!rc) rc = pf_benc_cstr(out, "incomplete");
    if (!rc) rc = pf_benc_int(out, tt ? (int64_t)(tt->n - tt->seeders) : 0);
    if (!rc) rc = pf_benc_end(out);
    return rc;
}

static int handle_scrape(pf_tracker *t, const char *q, size_t qlen, pf_buf *out)
{
    t->st.scrapes++;
    size_t max = t->cfg.max_scrape, n = 0;
    uint8_t (*ihs)[20] = malloc(max * 20);
    torrent **all = NULL;
    if (!ihs) return 500;
    pf_http_query_iter it;
    pf_http_str k, v;
    pf_http_query_init(&it, q, qlen);
    while (n < max && pf_http_query_next(&it, &k, &v)) {
        uint8_t kb[16], vb[20];
        size_t kn, vn;
        if (pf_http_pct_decode(k.p, k.len, 1, kb, sizeof kb, &kn) || kn != 9 ||
            memcmp(kb, "info_hash", 9) != 0)
            continue;
        if (pf_http_pct_decode(v.p, v.len, 1, vb, sizeof vb, &vn) || vn != 20) {
            free(ihs);
            return reply_failure(t, out, "invalid info_hash");
        }
        memcpy(ihs[n++], vb, 20);
    }
    int rc = pf_benc_dict_begin(out);
    if (!rc) rc = pf_benc_cstr(out, "files");
    if (!rc) rc = pf_benc_dict_begin(out);
    if (n > 0) {
        qsort(ihs, n, 20, cmp_ih);
        for (size_t i = 0; !rc && i < n; i++) {
            if (i > 0 && memcmp(ihs[i], ihs[i - 1], 20) == 0) continue;
            rc = scrape_entry(out, ihs[i], torrent_find(t, ihs[i]));
        }
    } else if (t->ntorrents > 0) {
        size_t cnt = t->ntorrents, m = 0;
        all = malloc(cnt * sizeof *all);
        if (!all) rc = PF_ERR_NOMEM;
        for (size_t b = 0; !rc && b < t->nbuckets; b++)
            for (torrent *tt = t->buckets[b]; tt; tt = tt->next) all[m++] = tt;
        if (!rc) {
            qsort(all, m, sizeof *all, cmp_torrent_ptr);
            if (m > max) m = max;
            for (size_t i = 0; !rc && i < m; i++) rc = scrape_entry(out, all[i]->ih, all[i]);
        }
    }
    if (!rc) rc = pf_benc_end(out);
    if (!rc) rc = pf_benc_end(out);
    free(all);
    free(ihs);
    return rc ? 500 : 200;
}

/* path[0..plen) and the raw query from client (normalised); ip_ok: its
 * "ip" parameter may be believed. */
static int dispatch(pf_tracker *t, const char *path, size_t plen, const char *query, size_t qlen,
                    const pf_addr *client, int ip_ok, uint64_t now_ns, pf_buf *body_out)
{
    size_t start = body_out->len;
    t->log.now = now_ns;
    int status;
    int is_announce = path && plen == 9 && memcmp(path, "/announce", 9) == 0;
    int is_scrape = path && plen == 7 && memcmp(path, "/scrape", 7) == 0;
    uint64_t wait = is_announce || is_scrape ? rate_check(t, client, now_ns) : 0;
    if (wait) {
        if (t->st.rate_limited % 1000 == 0) {
            char who[80];
            pf__tracker_ip_text(client, who, sizeof who);
            tlog(t, PF_LOG_WARN, "rate limit: refusing %s (%llu refused so far)", who,
                 (unsigned long long)t->st.rate_limited + 1);
        }
        status = reply_rate_limited(t, body_out, wait);
    } else if (is_announce)
        status = handle_announce(t, query ? query : "", qlen, client, ip_ok, now_ns, body_out);
    else if (is_scrape)
        status = handle_scrape(t, query ? query : "", qlen, body_out);
    else
        status = 404;
    if (status != 200) body_out->len = start;
    return status;
}

void pf_tracker_set_auth(pf_tracker *t, const pf_auth_keys *keys) { t->auth = keys; }
void pf_tracker_set_policy(pf_tracker *t, const pf_tracker_policy *p) { t->policy = p; }

const char *pf__tracker_pid(const pf_tracker *t, const pf_addr *a)
{
    int pid = addr_pid(t, a);
    return pid >= 0 ? pf_alto_pid_name(t->alto, pid) : NULL;
}

void pf__tracker_verdict(const pf_tracker *t, const uint8_t ih[20], const pf_addr *viewer, pf_policy_verdict *out)
{
    pf_tracker_policy_eval(t->policy, ih, t->policy ? pf__tracker_pid(t, viewer) : NULL, out);
}
void pf_tracker_set_unix_time(pf_tracker *t, uint64_t unix_s) { t->unix_s = unix_s; }

int pf_tracker_handle_http(pf_tracker *t, const char *path, const char *query,
                           const pf_addr *remote, uint64_t now_ns, pf_buf *body_out)
{
    pf_addr none;
    memset(&none, 0, sizeof none);
    pf_addr client = pf__tracker_addr_norm(remote ? remote : &none);
    int ip_ok = pf__nets_contain(t->proxies, t->nproxies, &client);
    return dispatch(t, path, path ? strlen(path) : 0, query, query ? strlen(query) : 0, &client,
                    ip_ok, now_ns, body_out);
}

int pf_tracker_handle_request(pf_tracker *t, const pf_http_request *req, const pf_addr *remote,
                              uint64_t now_ns, pf_buf *body_out)
{
    pf_addr none, client;
    memset(&none, 0, sizeof none);
    int ip_ok = pf__fwd_client(t->proxies, t->nproxies, t->cfg.forwarded_header, req,
                               remote ? remote : &none, &client);
    return dispatch(t, req->path.p, req->path.len, req->query.p, req->query.len, &client, ip_ok,
                    now_ns, body_out);
}

/* --- QoE reports (core/tracker/qoe.h) ------------------------------------ */

int pf_tracker_handle_qoe(pf_tracker *t, const pf_http_request *req, const pf_addr *remote, const uint8_t *body,
                          size_t n, uint64_t now_ns, const char **why)
{
    pf_addr none, client;
    memset(&none, 0, sizeof none);
    pf__fwd_client(t->proxies, t->nproxies, t->cfg.forwarded_header, req, remote ? remote : &none, &client);
    t->log.now = now_ns;
    *why = NULL;
    if (rate_check(t, &client, now_ns)) {
        *why = "rate limit exceeded";
        pf__qoe_rejected(t->qoe);
        return 429;
    }
    const pf_http_str *ct = pf_http_header_get(req, "content-type");
    static const char form[] = "application/x-www-form-urlencoded";
    if (!ct || ct->len < sizeof form - 1 || strncasecmp(ct->p, form, sizeof form - 1) != 0 ||
        (ct->len > sizeof form - 1 && ct->p[sizeof form - 1] != ';')) {
        *why = "expected application/x-www-form-urlencoded";
        pf__qoe_rejected(t->qoe);
        return 415;
    }
    pf_qoe_report r;
    *why = pf__qoe_parse((const char *)body, n, &r);
    if (*why) {
        pf__qoe_rejected(t->qoe);
        return 400;
    }
    if (t->auth) {
        *why = r.token_len ? pf_auth_check(t->auth, r.token, r.token_len, r.info_hash, t->unix_s) : "missing token";
        if (*why) {
            pf__qoe_rejected(t->qoe);
            return 403;
        }
    }
    int rc = pf__qoe_add(t->qoe, &r, pf__tracker_pid(t, &client), now_ns);
    if (rc == PF_ERR_LIMIT) *why = "too many streams: try again later";
    return rc == 0 ? 204 : rc == PF_ERR_LIMIT ? 503 : 500;
}

/* A peer is expected back within the longest of interval and the gap it
 * was seen to leave (or, not seen twice yet, the clients' floor); it is
 * given twice that. */
static uint64_t peer_ttl(const pf_tracker *t, const peer *p)
{
    uint64_t gap = p->gap_s ? p->gap_s : t->cfg.client_floor_s;
    if (gap < t->cfg.interval_s) gap = t->cfg.interval_s;
    return 2 * gap * NS_PER_S;
}

size_t pf_tracker_expire(pf_tracker *t, uint64_t now)
{
    size_t dropped = 0;
    pf__qoe_expire(t->qoe, now);
    for (size_t b = 0; b < t->nbuckets; b++) {
        torrent **pp = &t->buckets[b];
        while (*pp) {
            torrent *tt = *pp;
            size_t w = 0;
            for (size_t r = 0; r < tt->n; r++) {
                peer *p = &tt->peers[r];
                if (now > p->last_seen && now - p->last_seen > peer_ttl(t, p)) {
                    if (p->seeder) tt->seeders--;
                    dropped++;
                    continue;
                }
                if (w != r) tt->peers[w] = *p;
                w++;
            }
            t->npeers -= tt->n - w;
            tt->n = w;
            if (tt->n == 0) {
                *pp = tt->next;
                t->ntorrents--;
                torrent_free(tt);
                continue;
            }
            if (tt->cap > 64 && tt->n < tt->cap / 4) { /* give memory back */
                peer *np = realloc(tt->peers, tt->cap / 2 * sizeof *np);
                if (np) {
                    tt->peers = np;
                    tt->cap /= 2;
                }
            }
            pp = &tt->next;
        }
    }
    t->st.expired += dropped;
    return dropped;
}

uint64_t pf_tracker_expire_period_ns(const pf_tracker *t)
{
    uint64_t p = (uint64_t)t->cfg.interval_s / 4;
    if (p < 1) p = 1;
    if (p > 60) p = 60;
    return p * NS_PER_S;
}

static int metric(pf_buf *out, const char *name, const char *type, const char *help, const char *labels,
                  uint64_t v)
{
    int rc = 0;
    if (type) rc = pf_buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    if (!rc) rc = pf_buf_appendf(out, "%s%s %llu\n", name, labels ? labels : "", (unsigned long long)v);
    return rc;
}

int pf_tracker_metrics(const pf_tracker *t, pf_buf *out)
{
    pf_tracker_stats s;
    pf_tracker_stats_get(t, &s);
#define M(name, type, help, v) \
    if (!rc) rc = metric(out, "peerflow_tracker_" name, type, help, NULL, v)
    int rc = 0;
    M("torrents", "gauge", "Swarms held.", s.torrents);
    if (!rc) rc = metric(out, "peerflow_tracker_peers", "gauge", "Peers held, by state.", "{state=\"seeder\"}", s.seeders);
    if (!rc) rc = metric(out, "peerflow_tracker_peers", NULL, NULL, "{state=\"leecher\"}", s.leechers);
    M("announces_total", "counter", "Announces received (HTTP and UDP).", s.announces);
    M("scrapes_total", "counter", "Scrapes received (HTTP and UDP).", s.scrapes);
    M("completed_total", "counter", "Announces of a completed download.", s.completed);
    M("expired_total", "counter", "Peers forgotten for silence.", s.expired);
    M("rate_limited_total", "counter", "Requests over the per-source rate limit.", s.rate_limited);
    for (int i = 0; i < PF_TRACKER_NREASONS && !rc; i++) {
        char lab[64];
        snprintf(lab, sizeof lab, "{reason=\"%s\"}", REASONS[i].label);
        rc = metric(out, "peerflow_tracker_refused_total", i ? NULL : "counter",
                    "Announces refused, by reason (tokens: subscribers only).", lab, s.refused_by[i]);
    }
    M("udp_datagrams_total", "counter", "BEP 15 datagrams received.", s.udp_datagrams);
    M("udp_connects_total", "counter", "BEP 15 connection ids handed out.", s.udp_connects);
    M("udp_bad_connid_total", "counter", "BEP 15 requests with an unknown or expired connection id.",
      s.udp_bad_connid);
    M("udp_malformed_total", "counter", "BEP 15 datagrams dropped as malformed.", s.udp_malformed);
#undef M
    if (!rc) rc = pf_tracker_policy_metrics(t->policy, out);
    pf_qoe_counts qc;
    pf__qoe_counts(t->qoe, &qc);
    if (!rc) rc = metric(out, "peerflow_tracker_qoe_reports_refused_total", "counter",
                         "QoE reports refused (malformed, bad token, rate limit).", "", qc.rejected);
    if (!rc) rc = metric(out, "peerflow_tracker_qoe_reports_dropped_total", "counter",
                         "QoE reports dropped: no room for another stream.", "", qc.dropped_full);
    if (!rc) rc = metric(out, "peerflow_tracker_qoe_streams_live", "gauge", "Streams reporting now.", "", qc.streams_live);
    if (!rc) rc = pf__qoe_metrics(t->qoe, out);
    return rc;
}

void pf_tracker_stats_get(const pf_tracker *t, pf_tracker_stats *out)
{
    *out = t->st;
    out->torrents = t->ntorrents;
    out->peers = t->npeers;
    out->seeders = 0;
    for (size_t b = 0; b < t->nbuckets; b++)
        for (const torrent *tt = t->buckets[b]; tt; tt = tt->next) out->seeders += tt->seeders;
    out->leechers = out->peers - out->seeders;
    out->rate_sources = t->rate_used;
}
