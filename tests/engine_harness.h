/* In-memory harness for the sans-I/O engine (src/core/session.h).
 *
 * N pf_session nodes live in one process with a fake clock.  Each node has
 * torrents whose storage is a memory buffer; jobs run synchronously (READ
 * copies, WRITE checks SHA-1 then copies, HASH compares, HTTP goes to a
 * pluggable callback such as the fake tracker below).  A PF_EV_CONNECT from
 * node A to node B's address creates the accepting side on B with
 * pf_session_accept and an in-memory pipe between the two pf_peers; bytes
 * move from pf_peer_take_output into the other side's pf_peer_recv,
 * optionally in random-sized chunks and under a per-node upload budget.
 * Everything is deterministic for a given seed.
 *
 * Streaming additions: a fake CDN per node answers PF_JOB_WEBSEED jobs
 * from files registered with hn_cdn_add_file() (exact URL match, so URL
 * building is checked), after a latency and at a rate in fake time, or
 * fails (503 / network error) or hangs; PF_EV_JOB_CANCEL aborts the
 * transfer; PF_JOB_DISCARD zeroes the storage range.  hn_player is a media
 * player reading one file at its bitrate with a small read-ahead.
 *
 * Header-only (static functions) so that every tests/test_*.c program and
 * fuzz target can include it.  No globals: several nets may coexist. */
#ifndef PF_TESTS_ENGINE_HARNESS_H
#define PF_TESTS_ENGINE_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/buf.h"
#include "core/codec/magnet.h"
#include "core/codec/metainfo.h"
#include "peerflow/session.h"
#include "core/util/sha1.h"
#include "core/codec/wire.h"
#include "peerflow/peerflow.h"

#define HN_MAX_NODES 16
#define HN_MAX_TORRENTS 4
#define HN_PORT_BASE 10000
#define HN_MSG_TYPES 21 /* message ids 0..20; keepalives are not counted */

typedef struct hn_net hn_net;
typedef struct hn_node hn_node;
typedef struct hn_link hn_link;
typedef struct hn_raw hn_raw;

/* Generated content and its .torrent. */
typedef struct hn_content {
    uint8_t *data;
    uint64_t size;
    uint32_t piece_len;
    uint32_t num_pieces;
    pf_buf torrent; /* bencoded .torrent */
    uint8_t info_hash[20];
} hn_content;

/* One torrent on one node, with its memory storage. */
typedef struct hn_tor {
    hn_node *node;
    pf_torrent *t;
    uint8_t *data; /* NULL until metadata is known (magnet) */
    uint64_t size;
    int got_metadata, checked, complete;
    uint64_t metadata_at, checked_at, complete_at;
    uint32_t writes, write_hash_fails, reads, hashes;
    uint32_t log_errors;
    int64_t watch_piece;   /* READ/HASH jobs touching this piece are counted */
    uint32_t watch_reads;
    uint32_t fail_reads;   /* the next this many READ jobs end with fail_result */
    int fail_result;
} hn_tor;

/* ---- fake CDN types --------------------------------------------------------- */
enum {
    HN_CDN_OK = 0,   /* serve registered files */
    HN_CDN_FAIL,     /* answer fail_status (default 503) with no body */
    HN_CDN_NETERR,   /* connection error: status 0, result PF_ERR_NET */
    HN_CDN_HANG      /* accept the request, never answer */
};

/* One PF_JOB_WEBSEED request as the CDN saw it. */
typedef struct hn_cdn_req {
    char url[1024];       /* with its CMCD= query argument */
    char headers[1024];   /* the job's extra request headers (CMCD-*) */
    uint64_t start, len;  /* the Range asked for (file offsets) */
    uint64_t at;          /* fake time it arrived */
    uint64_t done_at;     /* fake time it was reported done; 0 while open */
    uint64_t delivered;   /* body bytes handed to pf_torrent_job_data */
    long status;          /* what the CDN answered (0: none yet / net error) */
    int result;           /* the job result reported */
    int cancelled;        /* ended by PF_EV_JOB_CANCEL */
    int aborted;          /* pf_torrent_job_data refused more bytes */
    int64_t file;         /* index into the net's CDN files, -1 unknown URL */
} hn_cdn_req;

/* A request in flight at the fake CDN. */
typedef struct hn_cdn_job {
    pf_job *job;
    size_t req;        /* index into hn_cdn.reqs */
    uint64_t ready_at; /* first byte (or the error) after the latency */
    uint64_t sent;
    int abort_rc;      /* pf_torrent_job_data error: report done next pump */
    int body_done;     /* every byte sent: report done next pump */
} hn_cdn_job;

typedef struct hn_cdn {
    /* Behaviour (may change at any time; applies to new requests, and the
     * mode also to requests not yet answered). */
    int mode;             /* HN_CDN_* */
    long fail_status;     /* HN_CDN_FAIL: HTTP status (0 = 503) */
    uint64_t latency_ns;  /* request to first byte */
    uint64_t rate_bps;    /* body bytes per fake second per request; 0 = all at once */
    size_t chunk;         /* bytes per pf_torrent_job_data call (0 = 10007) */
    /* Counters. */
    uint64_t bytes;       /* body bytes delivered */
    uint32_t requests, completed, failed, cancels, aborts;
    hn_cdn_req *reqs;     /* every request, in arrival order */
    size_t nreqs, cap_reqs;
    hn_cdn_job *jobs;     /* in flight */
    size_t njobs, cap_jobs;
} hn_cdn;

typedef struct hn_cdn_file {
    char *url;
    const uint8_t *data; /* borrowed: must outlive the net */
    uint64_t len;
    uint64_t tor_off;    /* where the file starts in the torrent's stream */
} hn_cdn_file;
#define HN_CDN_MAX_FILES 32

/* Fills *status and *body (malloc'd, may be NULL); returns the job result
 * (0 or a negative pf_err such as PF_ERR_NET). */
typedef int (*hn_http_fn)(void *ud, hn_node *nd, const char *url, long *status,
                          uint8_t **body, size_t *body_len);

struct hn_node {
    hn_net *net;
    int idx;
    pf_session *s;
    const pf_mem *mem; /* its session's allocator (settings.mem) */
    uint64_t dgrams_out; /* datagrams it sent */
    int dgrams_in;       /* datagrams since its last pf_session_flush_datagrams */
    pf_addr addr;
    hn_tor tors[HN_MAX_TORRENTS];
    int ntors;
    uint64_t up_bps;   /* upload budget in bytes/s; 0 = unlimited */
    uint64_t budget;   /* bytes this node may still send in this step */
    int mute_pieces;   /* drop every PIECE and REJECT this node sends */
    /* A liar: flips the first payload byte of every PIECE it sends (of
     * piece lie_piece - 1 only, if lie_piece > 0).  Its engine checks what
     * it reads from disk, so rotting its storage no longer makes one. */
    int lie;
    uint32_t lie_piece;
    int offline;       /* refuse incoming connections */
    int silent;        /* accept connections, never say a word (a stale
                          tracker entry whose port another program now
                          holds, a client shutting down) */
    hn_http_fn http;   /* NULL: HTTP jobs fail with PF_ERR_NET */
    void *http_ud;
    uint32_t http_jobs;
    uint64_t http_delay_ns; /* HTTP (tracker) answers come this late */
    struct {
        pf_job *job;
        uint64_t due;
    } http_late[8];
    uint32_t nhttp_late;
    uint32_t accepted, dialed;
    hn_cdn cdn;              /* the fake CDN answering this node's web seed jobs */
    uint32_t stream_ready;   /* PF_EV_STREAM_READY events */
    uint32_t discards;       /* PF_JOB_DISCARD jobs */
    uint64_t discard_bytes;
    uint32_t *discard_log;   /* piece of every PF_JOB_DISCARD, in order */
    size_t ndiscard_log, cap_discard_log;
};

typedef struct hn_end {
    hn_link *link; /* NULL for a raw peer */
    hn_raw *raw;
    int side;      /* 0: the dialer, 1: the acceptor */
    hn_node *node;
    pf_peer *p;    /* NULL once pf_peer_closed was called */
} hn_end;

struct hn_link {
    hn_end end[2];
    pf_buf q[2];     /* q[i]: sent by end[i], not yet delivered */
    pf_buf carry[2]; /* q[i]: partial message seen by the counter */
    int hs_done[2];  /* the 68-byte handshake of direction i went past */
    int opaque[2];   /* direction i carries TLS records: not parsed */
    int closed;
    long recv_err[2]; /* pf_peer_recv error on end[i], 0 if none */
    /* Messages end[i] sent, by id (counted when taken, dropped or not). */
    uint32_t msgs[2][HN_MSG_TYPES];
    uint32_t dropped[2];
    uint64_t first_msg_at[2][HN_MSG_TYPES];
    uint64_t delivered[2];
    uint64_t opened_at;
};

/* A peer driven by the test itself: bytes in by hn_raw_send, the engine's
 * output collected in out. */
struct hn_raw {
    hn_end end;
    pf_buf out;
    long err; /* the pf_peer_recv error that closed it, or 0 */
    int closed;
};

typedef struct hn_tracker_entry {
    char ih[64];
    pf_addr a;
} hn_tracker_entry;

struct hn_net {
    uint64_t now;
    uint64_t step_ns;
    uint64_t seed;
    uint64_t rng;
    hn_node *nodes[HN_MAX_NODES];
    int nnodes;
    hn_link **links;
    size_t nlinks, cap_links;
    hn_raw **raws;
    size_t nraws, cap_raws;
    size_t chunk_max; /* 0: deliver whole queues; else random chunks */
    uint16_t next_eph;
    hn_tracker_entry trk[64];
    size_t ntrk;
    uint32_t tracker_announces;
    uint32_t anomalies; /* harness-detected protocol/API misuse */
    char last_anomaly[160];
    int log; /* print engine logs (env HN_LOG) */
    hn_cdn_file cdn_files[HN_CDN_MAX_FILES]; /* what the fake CDN serves, by URL */
    size_t ncdn_files;
    /* Datagrams to an address that is no node's (a test's UDP tracker):
     * handed to udp_sink, if set, else dropped.  Names in PF_JOB_RESOLVE
     * are answered by resolve, if set, else PF_ERR_NOTFOUND. */
    void (*udp_sink)(void *ud, hn_node *from, const pf_addr *to, const uint8_t *data, size_t len);
    void *udp_sink_ud;
    int (*resolve)(void *ud, const char *hostport, pf_addr *out);
    void *resolve_ud;
};

/* ---- small utilities ----------------------------------------------------- */
static inline uint64_t hn__rand(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x2545f4914f6cdd1dULL;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 2685821657736338717ULL;
}

static inline void hn__anomaly(hn_net *n, const char *what)
{
    n->anomalies++;
    snprintf(n->last_anomaly, sizeof n->last_anomaly, "%s", what);
    if (n->log) fprintf(stderr, "[harness] anomaly: %s\n", what);
}

static inline void hn__log(void *ud, pf_log_level lvl, const char *msg)
{
    hn_node *nd = ud;
    fprintf(stderr, "[%8.3f n%d L%d] %s\n", (double)nd->net->now / 1e9, nd->idx, (int)lvl, msg);
}

/* ---- content --------------------------------------------------------------- */
/* Generates size bytes (seeded) and a single-file .torrent for them. */
/* ssl_cert: an SSL torrent's root certificate (PEM) for its info dict, or
 * NULL. */
static inline int hn_content_make_ex(hn_content *c, uint64_t size, uint32_t piece_len, uint64_t seed,
                                     const char *tracker, const char *ssl_cert)
{
    memset(c, 0, sizeof *c);
    pf_buf_init(&c->torrent);
    c->size = size;
    c->piece_len = piece_len;
    c->num_pieces = (uint32_t)((size + piece_len - 1) / piece_len);
    c->data = malloc(size ? size : 1);
    uint8_t *hashes = malloc(20 * (size_t)c->num_pieces + 1);
    if (!c->data || !hashes) {
        free(c->data);
        free(hashes);
        return PF_ERR_NOMEM;
    }
    uint64_t r = seed ? seed : 1;
    for (uint64_t i = 0; i < size; i += 8) {
        uint64_t v = hn__rand(&r);
        for (int k = 0; k < 8 && i + (uint64_t)k < size; k++) c->data[i + (uint64_t)k] = (uint8_t)(v >> (8 * k));
    }
    for (uint32_t i = 0; i < c->num_pieces; i++) {
        uint64_t off = (uint64_t)i * piece_len;
        uint64_t len = size - off < piece_len ? size - off : piece_len;
        pf_sha1(c->data + off, (size_t)len, hashes + 20 * (size_t)i);
    }
    pf_file_entry fe;
    memset(&fe, 0, sizeof fe);
    fe.path = "content.bin";
    fe.length = size;
    const char *trs[1] = {tracker};
    pf_create_params p;
    memset(&p, 0, sizeof p);
    p.name = "content.bin";
    p.files = &fe;
    p.num_files = 1;
    p.piece_length = piece_len;
    p.piece_hashes = hashes;
    p.num_pieces = c->num_pieces;
    p.trackers = tracker ? trs : NULL;
    p.num_trackers = tracker ? 1 : 0;
    p.created_by = "engine_harness";
    p.ssl_cert = ssl_cert;
    int rc = pf_metainfo_build(&p, &c->torrent);
    free(hashes);
    pf_metainfo *mi = NULL;
    if (rc == 0) rc = pf_metainfo_parse(c->torrent.data, c->torrent.len, NULL, &mi);
    if (rc == 0) {
        memcpy(c->info_hash, mi->info_hash, 20);
        pf_metainfo_free(mi);
    }
    if (rc) {
        free(c->data);
        c->data = NULL;
        pf_buf_free(&c->torrent);
    }
    return rc;
}

static inline int hn_content_make(hn_content *c, uint64_t size, uint32_t piece_len, uint64_t seed,
                                  const char *tracker)
{
    return hn_content_make_ex(c, size, piece_len, seed, tracker, NULL);
}

/* Generates a multi-file torrent: nfiles files named paths[i] (relative,
 * '/'-separated) of sizes[i] bytes under the directory `name`, their bytes
 * concatenated in c->data (seeded).  webseed, if not NULL, goes into the
 * url-list. */
static inline int hn_content_make_multi(hn_content *c, const char *name, const char *const *paths,
                                        const uint64_t *sizes, size_t nfiles, uint32_t piece_len,
                                        uint64_t seed, const char *webseed)
{
    memset(c, 0, sizeof *c);
    pf_buf_init(&c->torrent);
    uint64_t size = 0;
    for (size_t i = 0; i < nfiles; i++) size += sizes[i];
    c->size = size;
    c->piece_len = piece_len;
    c->num_pieces = (uint32_t)((size + piece_len - 1) / piece_len);
    c->data = malloc(size ? size : 1);
    uint8_t *hashes = malloc(20 * (size_t)c->num_pieces + 1);
    pf_file_entry *fe = calloc(nfiles ? nfiles : 1, sizeof *fe);
    if (!c->data || !hashes || !fe) {
        free(c->data);
        free(hashes);
        free(fe);
        c->data = NULL;
        return PF_ERR_NOMEM;
    }
    uint64_t r = seed ? seed : 1;
    for (uint64_t i = 0; i < size; i += 8) {
        uint64_t v = hn__rand(&r);
        for (int k = 0; k < 8 && i + (uint64_t)k < size; k++) c->data[i + (uint64_t)k] = (uint8_t)(v >> (8 * k));
    }
    /* A path ".pad/..." is a BEP 47 pad file: zeros. */
    for (size_t i = 0, off = 0; i < nfiles; off += sizes[i], i++)
        if (strncmp(paths[i], ".pad/", 5) == 0) memset(c->data + off, 0, sizes[i]);
    for (uint32_t i = 0; i < c->num_pieces; i++) {
        uint64_t off = (uint64_t)i * piece_len;
        uint64_t len = size - off < piece_len ? size - off : piece_len;
        pf_sha1(c->data + off, (size_t)len, hashes + 20 * (size_t)i);
    }
    for (size_t i = 0; i < nfiles; i++) {
        fe[i].path = (char *)paths[i];
        fe[i].length = sizes[i];
        fe[i].pad = strncmp(paths[i], ".pad/", 5) == 0;
    }
    const char *wss[1] = {webseed};
    pf_create_params p;
    memset(&p, 0, sizeof p);
    p.name = name;
    p.files = fe;
    p.num_files = nfiles;
    p.multi_file = 1;
    p.piece_length = piece_len;
    p.piece_hashes = hashes;
    p.num_pieces = c->num_pieces;
    p.webseeds = webseed ? wss : NULL;
    p.num_webseeds = webseed ? 1 : 0;
    p.created_by = "engine_harness";
    int rc = pf_metainfo_build(&p, &c->torrent);
    free(hashes);
    free(fe);
    pf_metainfo *mi = NULL;
    if (rc == 0) rc = pf_metainfo_parse(c->torrent.data, c->torrent.len, NULL, &mi);
    if (rc == 0) {
        memcpy(c->info_hash, mi->info_hash, 20);
        pf_metainfo_free(mi);
    }
    if (rc) {
        free(c->data);
        c->data = NULL;
        pf_buf_free(&c->torrent);
    }
    return rc;
}

static inline void hn_content_free(hn_content *c)
{
    free(c->data);
    pf_buf_free(&c->torrent);
    memset(c, 0, sizeof *c);
}

static inline uint64_t hn_content_piece_size(const hn_content *c, uint32_t i)
{
    uint64_t off = (uint64_t)i * c->piece_len;
    return c->size - off < c->piece_len ? c->size - off : c->piece_len;
}

/* ---- net and nodes --------------------------------------------------------- */
static inline hn_net *hn_new(uint64_t seed)
{
    hn_net *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->seed = seed ? seed : 1;
    n->rng = n->seed * 0x9e3779b97f4a7c15ULL + 1;
    n->step_ns = 250 * PF_NS_PER_MS;
    n->now = 1000 * PF_NS_PER_SEC; /* not 0: the engine treats 0 as "never" */
    n->next_eph = 40000;
    n->log = getenv("HN_LOG") != NULL;
    return n;
}

/* base may be NULL (defaults).  rng_seed, listen_port and logging are
 * always set by the harness. */
static inline hn_node *hn_add_node(hn_net *n, const pf_session_settings *base)
{
    if (n->nnodes >= HN_MAX_NODES) return NULL;
    hn_node *nd = calloc(1, sizeof *nd);
    if (!nd) return NULL;
    nd->net = n;
    nd->idx = n->nnodes;
    nd->addr.family = 4;
    nd->addr.ip[0] = 10;
    nd->addr.ip[3] = (uint8_t)(nd->idx + 1);
    nd->addr.port = (uint16_t)(HN_PORT_BASE + nd->idx);
    pf_session_settings set;
    if (base)
        set = *base;
    else
        pf_session_settings_default(&set);
    set.rng_seed = n->seed * 0x100000001b3ULL + (uint64_t)nd->idx * 0x9e3779b97f4a7c15ULL + 7;
    set.listen_port = nd->addr.port;
    if (n->log) {
        set.log = hn__log;
        set.log_ud = nd;
        set.log_level = PF_LOG_DEBUG;
    }
    nd->mem = set.mem;
    if (pf_session_new(&set, &nd->s) != 0) {
        free(nd);
        return NULL;
    }
    n->nodes[n->nnodes++] = nd;
    return nd;
}

enum { HN_EMPTY = 0, HN_FULL = 1, HN_DATA = 2 };

/* Adds c's torrent to nd.  mode HN_EMPTY: empty storage, skip_check;
 * HN_FULL: storage holds c->data, pf_torrent_check; HN_DATA: storage holds
 * `initial` (c->size bytes), pf_torrent_check. */
static inline hn_tor *hn_add_torrent(hn_node *nd, const hn_content *c, int mode,
                                     const uint8_t *initial)
{
    if (nd->ntors >= HN_MAX_TORRENTS) return NULL;
    pf_metainfo *mi = NULL;
    if (pf_metainfo_parse(c->torrent.data, c->torrent.len, nd->mem, &mi) != 0) return NULL;
    hn_tor *ht = &nd->tors[nd->ntors];
    memset(ht, 0, sizeof *ht);
    ht->node = nd;
    ht->watch_piece = -1;
    ht->size = c->size;
    ht->data = calloc(c->size ? c->size : 1, 1);
    if (!ht->data || pf_session_add_torrent(nd->s, mi, &ht->t) != 0) {
        free(ht->data);
        pf_metainfo_free(mi);
        return NULL;
    }
    nd->ntors++;
    pf_torrent_set_ud(ht->t, ht);
    ht->got_metadata = 1;
    if (mode == HN_FULL) memcpy(ht->data, c->data, c->size);
    if (mode == HN_DATA && initial) memcpy(ht->data, initial, c->size);
    if (mode == HN_EMPTY)
        pf_torrent_skip_check(ht->t, nd->net->now);
    else
        pf_torrent_check(ht->t, nd->net->now);
    return ht;
}

/* Adds a torrent by info-hash only (a magnet link with no trackers). */
static inline hn_tor *hn_add_magnet(hn_node *nd, const uint8_t info_hash[20])
{
    if (nd->ntors >= HN_MAX_TORRENTS) return NULL;
    pf_magnet m;
    memset(&m, 0, sizeof m);
    memcpy(m.info_hash, info_hash, 20);
    hn_tor *ht = &nd->tors[nd->ntors];
    memset(ht, 0, sizeof *ht);
    ht->node = nd;
    ht->watch_piece = -1;
    if (pf_session_add_magnet(nd->s, &m, nd->net->now, &ht->t) != 0) return NULL;
    nd->ntors++;
    pf_torrent_set_ud(ht->t, ht);
    return ht;
}

/* Tells ht's torrent about another node (as a tracker or the user would). */
static inline void hn_add_peer(hn_tor *ht, const hn_node *other)
{
    pf_endpoint ep = {.addr = other->addr, .transport = PF_TRANSPORT_ANY};
    pf_torrent_add_peer(ht->t, &ep, ht->node->net->now);
}

static inline hn_node *hn__node_by_addr(hn_net *n, const pf_addr *a)
{
    for (int i = 0; i < n->nnodes; i++)
        if (pf_addr_eq(&n->nodes[i]->addr, a)) return n->nodes[i];
    return NULL;
}

/* ---- links ------------------------------------------------------------------ */
static inline void hn__end_closed(hn_end *e)
{
    if (!e->p) return;
    pf_peer *p = e->p;
    e->p = NULL;
    pf_peer_set_ud(p, NULL);
    pf_peer_closed(p, e->node->net->now);
}

static inline void hn__link_close(hn_link *l)
{
    if (l->closed) return;
    l->closed = 1;
    /* Both sockets go: each engine hears pf_peer_closed exactly once. */
    hn__end_closed(&l->end[0]);
    hn__end_closed(&l->end[1]);
    for (int i = 0; i < 2; i++) {
        pf_buf_free(&l->q[i]);
        pf_buf_free(&l->carry[i]);
    }
}

static inline void hn__raw_close(hn_raw *r)
{
    if (r->closed) return;
    r->closed = 1;
    hn__end_closed(&r->end);
}

static inline int hn__track(void ***arr, size_t *len, size_t *cap, void *item)
{
    if (*len == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        void **a = realloc(*arr, nc * sizeof *a);
        if (!a) return -1;
        *arr = a;
        *cap = nc;
    }
    (*arr)[(*len)++] = item;
    return 0;
}

static inline void hn__dial(hn_node *from, pf_peer *p, const pf_addr *to_addr)
{
    hn_net *n = from->net;
    hn_node *to = hn__node_by_addr(n, to_addr);
    from->dialed++;
    hn_link *l = NULL;
    if (to && to != from && !to->offline) l = calloc(1, sizeof *l);
    if (l && hn__track((void ***)&n->links, &n->nlinks, &n->cap_links, l) != 0) {
        free(l);
        l = NULL;
    }
    if (!l) {
        pf_peer_closed(p, n->now); /* connection refused */
        return;
    }
    l->opened_at = n->now;
    for (int i = 0; i < 2; i++) {
        l->end[i].link = l;
        l->end[i].side = i;
        pf_buf_init(&l->q[i]);
        pf_buf_init(&l->carry[i]);
    }
    l->end[0].node = from;
    l->end[0].p = p;
    l->end[1].node = to;
    pf_peer_set_ud(p, &l->end[0]);
    if (to->silent) {
        /* Connected, and the dialer's handshake waits in the link for
         * ever: nobody on the other end reads it. */
        pf_peer_connected(p, n->now);
        return;
    }
    pf_addr remote = from->addr;
    remote.port = n->next_eph++;
    if (n->next_eph < 40000) n->next_eph = 40000;
    pf_endpoint rep = {.addr = remote, .transport = PF_TRANSPORT_TCP};
    pf_peer *q = pf_session_accept(to->s, &rep, n->now);
    if (!q) {
        l->closed = 1;
        l->end[0].p = NULL;
        pf_peer_set_ud(p, NULL);
        pf_peer_closed(p, n->now);
        return;
    }
    to->accepted++;
    l->end[1].p = q;
    pf_peer_set_ud(q, &l->end[1]);
    pf_peer_connected(p, n->now);
}

/* Walks the messages of one direction (handshake first), counting them and
 * dropping PIECE/REJECT when the sender is mute.  Appends kept bytes to
 * l->q[dir]; returns the number of bytes dropped. */
static inline size_t hn__filter(hn_link *l, int dir, const uint8_t *data, size_t len)
{
    hn_net *n = l->end[dir].node->net;
    int mute = l->end[dir].node->mute_pieces;
    const hn_node *from = l->end[dir].node;
    pf_buf *c = &l->carry[dir];
    size_t dropped = 0;
    /* TLS (SSL torrents): records, not messages; carried as they are. */
    if (!l->hs_done[dir] && c->len == 0 && len > 0 && data[0] == 0x16) l->opaque[dir] = 1;
    if (l->opaque[dir]) {
        pf_buf_append(&l->q[dir], data, len);
        return 0;
    }
    pf_buf_append(c, data, len);
    size_t off = 0;
    const uint8_t *b = c->data;
    while (off < c->len) {
        size_t rest = c->len - off;
        if (!l->hs_done[dir]) {
            if (rest < PF_HANDSHAKE_LEN) break;
            pf_buf_append(&l->q[dir], b + off, PF_HANDSHAKE_LEN);
            off += PF_HANDSHAKE_LEN;
            l->hs_done[dir] = 1;
            continue;
        }
        if (rest < 4) break;
        uint64_t m = 4 + (uint64_t)pf_rd_be32(b + off);
        if (m > rest) break;
        int type = m > 4 ? b[off + 4] : -1;
        if (type >= 0 && type < HN_MSG_TYPES) {
            if (l->msgs[dir][type]++ == 0) l->first_msg_at[dir][type] = n->now;
        }
        if (from->lie && type == PF_MSG_PIECE && m > 13 &&
            (!from->lie_piece || pf_rd_be32(b + off + 5) == from->lie_piece - 1))
            c->data[off + 13] ^= 0x77;
        if (mute && (type == PF_MSG_PIECE || type == PF_MSG_REJECT)) {
            dropped += (size_t)m;
            l->dropped[dir]++;
        } else {
            pf_buf_append(&l->q[dir], b + off, (size_t)m);
        }
        off += (size_t)m;
    }
    /* Keep only the incomplete tail. */
    size_t tail = c->len - off;
    if (tail && off) memmove(c->data, c->data + off, tail);
    c->len = tail;
    c->off = 0;
    return dropped;
}

static inline void hn__take(hn_end *e)
{
    hn_net *n = e->node->net;
    pf_buf b;
    pf_buf_init(&b);
    size_t got = pf_peer_take_output(e->p, &b);
    if (got != pf_buf_unread(&b)) hn__anomaly(n, "take_output count != buffer bytes");
    if (e->raw) {
        pf_buf_append(&e->raw->out, pf_buf_head(&b), pf_buf_unread(&b));
        pf_buf_free(&b);
        if (got) pf_peer_sent(e->p, got, n->now);
        return;
    }
    hn_link *l = e->link;
    size_t dropped = got ? hn__filter(l, e->side, pf_buf_head(&b), got) : 0;
    pf_buf_free(&b);
    if (dropped && e->p) pf_peer_sent(e->p, dropped, n->now);
}

/* Moves one chunk from end[dir] to end[1-dir]; returns 1 if it did. */
static inline int hn__deliver(hn_net *n, hn_link *l, int dir)
{
    if (l->closed) return 0;
    pf_buf *q = &l->q[dir];
    size_t k = pf_buf_unread(q);
    if (k == 0 || !l->end[1 - dir].p) return 0;
    hn_node *src = l->end[dir].node;
    if (src->up_bps) {
        if (src->budget == 0) return 0;
        if (k > src->budget) k = (size_t)src->budget;
        if (k > PF_BLOCK_SIZE + 13) k = PF_BLOCK_SIZE + 13; /* share fairly */
    }
    if (n->chunk_max) {
        uint64_t r = hn__rand(&n->rng);
        size_t c = (r & 3) == 0 ? 1 + (size_t)((r >> 8) % 8) : 1 + (size_t)((r >> 8) % n->chunk_max);
        if (k > c) k = c;
    }
    long rc = pf_peer_recv(l->end[1 - dir].p, pf_buf_head(q), k, n->now);
    if (rc >= 0 && (size_t)rc != k) hn__anomaly(n, "pf_peer_recv consumed a different count");
    pf_buf_consume(q, k);
    l->delivered[dir] += k;
    if (src->up_bps) src->budget -= k;
    if (rc < 0) {
        l->recv_err[1 - dir] = rc;
        hn__link_close(l);
        return 1;
    }
    if (l->end[dir].p) pf_peer_sent(l->end[dir].p, k, n->now);
    return 1;
}

/* ---- raw peers ---------------------------------------------------------------- */
/* An incoming connection to nd from a test-driven peer. */
static inline hn_raw *hn_raw_open(hn_node *nd)
{
    hn_net *n = nd->net;
    hn_raw *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    if (hn__track((void ***)&n->raws, &n->nraws, &n->cap_raws, r) != 0) {
        free(r);
        return NULL;
    }
    pf_buf_init(&r->out);
    r->end.raw = r;
    r->end.node = nd;
    pf_addr a;
    memset(&a, 0, sizeof a);
    a.family = 4;
    a.ip[0] = 192;
    a.ip[1] = 168;
    a.ip[3] = (uint8_t)(n->nraws & 0xff);
    a.port = n->next_eph++;
    pf_endpoint aep = {.addr = a, .transport = PF_TRANSPORT_TCP};
    r->end.p = pf_session_accept(nd->s, &aep, n->now);
    if (!r->end.p) {
        r->closed = 1;
        return r;
    }
    pf_peer_set_ud(r->end.p, &r->end);
    return r;
}

/* Feeds bytes to the engine as if the raw peer sent them.  Returns
 * pf_peer_recv's result; on an error the connection is closed as a
 * caller would (pf_peer_closed). */
static inline long hn_raw_send(hn_raw *r, const void *data, size_t len)
{
    if (r->closed || !r->end.p) return PF_ERR_CLOSED;
    long rc = pf_peer_recv(r->end.p, data, len, r->end.node->net->now);
    if (rc < 0) {
        r->err = rc;
        hn__raw_close(r);
    }
    return rc;
}

static inline void hn_raw_handshake(uint8_t out[PF_HANDSHAKE_LEN], const uint8_t info_hash[20],
                                    const char *peer_id20, int fast_ext)
{
    pf_handshake hs;
    memset(&hs, 0, sizeof hs);
    if (fast_ext) {
        hs.reserved[5] |= 0x10;
        hs.reserved[7] |= 0x04;
    }
    memcpy(hs.info_hash, info_hash, 20);
    memcpy(hs.peer_id, peer_id20, 20);
    pf_handshake_write(out, &hs);
}

/* ---- fake CDN ----------------------------------------------------------------- */
/* Registers a URL the fake CDN serves (data borrowed; it must outlive the
 * net); tor_off is where that file starts in the torrent (for
 * hn_cdn_covered).  Returns 0 or -1 when full. */
static inline int hn_cdn_add_file(hn_net *n, const char *url, const uint8_t *data, uint64_t len,
                                  uint64_t tor_off)
{
    if (n->ncdn_files >= HN_CDN_MAX_FILES) return -1;
    char *u = malloc(strlen(url) + 1);
    if (!u) return -1;
    memcpy(u, url, strlen(url) + 1);
    n->cdn_files[n->ncdn_files].url = u;
    n->cdn_files[n->ncdn_files].data = data;
    n->cdn_files[n->ncdn_files].len = len;
    n->cdn_files[n->ncdn_files].tor_off = tor_off;
    n->ncdn_files++;
    return 0;
}

/* url is want, give or take a query (the CMCD= argument). */
static inline int hn_url_path_is(const char *url, const char *want)
{
    size_t ul = strcspn(url, "?");
    return strlen(want) == ul && strncmp(url, want, ul) == 0;
}

/* The file a GET names, as a static server finds it: by the URL without
 * its query (the CMCD= argument). */
static inline int64_t hn__cdn_file(const hn_net *n, const char *url)
{
    for (size_t i = 0; url && i < n->ncdn_files; i++)
        if (hn_url_path_is(url, n->cdn_files[i].url)) return (int64_t)i;
    return -1;
}

/* A PF_JOB_WEBSEED arrived: log it and queue it. */
static inline void hn__cdn_request(hn_node *nd, pf_job *j)
{
    hn_net *n = nd->net;
    hn_cdn *cd = &nd->cdn;
    if (cd->nreqs == cd->cap_reqs) {
        size_t cap = cd->cap_reqs ? cd->cap_reqs * 2 : 64;
        hn_cdn_req *a = realloc(cd->reqs, cap * sizeof *a);
        if (!a) goto nomem;
        cd->reqs = a;
        cd->cap_reqs = cap;
    }
    if (cd->njobs == cd->cap_jobs) {
        size_t cap = cd->cap_jobs ? cd->cap_jobs * 2 : 16;
        hn_cdn_job *a = realloc(cd->jobs, cap * sizeof *a);
        if (!a) goto nomem;
        cd->jobs = a;
        cd->cap_jobs = cap;
    }
    hn_cdn_req *rq = &cd->reqs[cd->nreqs];
    memset(rq, 0, sizeof *rq);
    snprintf(rq->url, sizeof rq->url, "%s", j->url ? j->url : "");
    snprintf(rq->headers, sizeof rq->headers, "%s", j->headers ? j->headers : "");
    rq->start = j->range_start;
    rq->len = j->range_len;
    rq->at = n->now;
    rq->file = hn__cdn_file(n, j->url);
    hn_cdn_job *cj = &cd->jobs[cd->njobs++];
    memset(cj, 0, sizeof *cj);
    cj->job = j;
    cj->req = cd->nreqs++;
    cj->ready_at = n->now + cd->latency_ns;
    cd->requests++;
    if (j->range_len == 0) hn__anomaly(n, "web seed request for an empty range");
    return;
nomem:
    hn__anomaly(n, "out of memory in the fake CDN");
    j->result = PF_ERR_NOMEM;
    pf_torrent_job_done(j->torrent, j, n->now);
}

static inline void hn__cdn_finish(hn_node *nd, size_t k, int result, long status)
{
    hn_cdn *cd = &nd->cdn;
    hn_cdn_job cj = cd->jobs[k];
    memmove(&cd->jobs[k], &cd->jobs[k + 1], (cd->njobs - k - 1) * sizeof *cd->jobs);
    cd->njobs--;
    hn_cdn_req *rq = &cd->reqs[cj.req];
    rq->done_at = nd->net->now;
    rq->result = result;
    rq->status = status;
    cj.job->result = result;
    cj.job->status = status;
    if (result == 0 && (status == 200 || status == 206))
        cd->completed++;
    else if (result != PF_ERR_SHUTDOWN)
        cd->failed++;
    pf_torrent_job_done(cj.job->torrent, cj.job, nd->net->now);
}

/* PF_EV_JOB_CANCEL: abort the transfer and report it done. */
static inline void hn__cdn_cancel(hn_node *nd, pf_job *j)
{
    hn_cdn *cd = &nd->cdn;
    for (size_t k = 0; k < cd->njobs; k++) {
        if (cd->jobs[k].job != j) continue;
        cd->cancels++;
        cd->reqs[cd->jobs[k].req].cancelled = 1;
        hn__cdn_finish(nd, k, PF_ERR_SHUTDOWN, cd->reqs[cd->jobs[k].req].status);
        return;
    }
    hn__anomaly(nd->net, "PF_EV_JOB_CANCEL for a job the CDN does not hold");
}

/* Moves the fake CDN on by at most one call into the engine (so that the
 * events it causes, such as a cancel of another job, are handled before
 * the next one).  Returns 1 if it called the engine. */
static inline int hn__cdn_pump(hn_node *nd)
{
    hn_net *n = nd->net;
    hn_cdn *cd = &nd->cdn;
    for (size_t k = 0; k < cd->njobs; k++) {
        hn_cdn_job *cj = &cd->jobs[k];
        hn_cdn_req *rq = &cd->reqs[cj->req];
        if (cj->abort_rc) {
            cd->aborts++;
            rq->aborted = 1;
            hn__cdn_finish(nd, k, cj->abort_rc, 206);
            return 1;
        }
        if (cj->body_done) {
            hn__cdn_finish(nd, k, 0, rq->start == 0 && rq->len == n->cdn_files[rq->file].len ? 200 : 206);
            return 1;
        }
        if (n->now < cj->ready_at || cd->mode == HN_CDN_HANG) continue;
        if (cd->mode == HN_CDN_FAIL) {
            hn__cdn_finish(nd, k, 0, cd->fail_status ? cd->fail_status : 503);
            return 1;
        }
        if (cd->mode == HN_CDN_NETERR) {
            hn__cdn_finish(nd, k, PF_ERR_NET, 0);
            return 1;
        }
        if (rq->file < 0) {
            hn__cdn_finish(nd, k, 0, 404);
            return 1;
        }
        const hn_cdn_file *f = &n->cdn_files[rq->file];
        if (rq->start > f->len || rq->len > f->len - rq->start) {
            hn__anomaly(n, "web seed Range past the end of the file");
            hn__cdn_finish(nd, k, 0, 416);
            return 1;
        }
        uint64_t target = rq->len;
        if (cd->rate_bps) {
            uint64_t el = n->now - cj->ready_at;
            /* bytes = rate * elapsed, without overflowing for long runs */
            uint64_t t = cd->rate_bps * (el / PF_NS_PER_SEC) +
                         cd->rate_bps * (el % PF_NS_PER_SEC) / PF_NS_PER_SEC;
            if (t < target) target = t;
        }
        if (cj->sent >= target) continue;
        uint64_t m = target - cj->sent;
        size_t chunk = cd->chunk ? cd->chunk : 10007; /* odd: blocks split across calls */
        if (m > chunk) m = chunk;
        int rc = pf_torrent_job_data(cj->job->torrent, cj->job, f->data + rq->start + cj->sent,
                                     (size_t)m, n->now);
        cj->sent += m;
        rq->delivered += m;
        cd->bytes += m;
        if (rc < 0)
            cj->abort_rc = rc;
        else if (cj->sent == rq->len)
            cj->body_done = 1;
        return 1;
    }
    return 0;
}

/* Bytes of torrent range [off, off+len) covered by body bytes of CDN
 * requests that arrived at or after `since`. */
static inline uint64_t hn_cdn_covered(const hn_node *nd, uint64_t off, uint64_t len, uint64_t since)
{
    const hn_net *n = nd->net;
    uint64_t got = 0;
    for (size_t i = 0; i < nd->cdn.nreqs; i++) {
        const hn_cdn_req *rq = &nd->cdn.reqs[i];
        if (rq->at < since || rq->file < 0) continue;
        uint64_t a = n->cdn_files[rq->file].tor_off + rq->start, b = a + rq->delivered;
        uint64_t lo = a > off ? a : off, hi = b < off + len ? b : off + len;
        if (hi > lo) got += hi - lo;
    }
    return got;
}

/* ---- player ------------------------------------------------------------------- */
/* A media player reading one file through the streaming API: it plays at
 * `bitrate` bytes per fake second from its first byte, keeps at most
 * readahead_s of media read ahead of what it shows, checks every byte it
 * reads against the true content, and notes when it runs dry.  Call
 * hn_player_step() after every hn_step(). */
typedef struct hn_player {
    hn_tor *ht;
    uint32_t file;
    uint32_t id;
    int open;
    const uint8_t *expect; /* the file's true bytes (NULL: not checked) */
    uint64_t flen;
    double bitrate;        /* bytes of media per second */
    double readahead_s;    /* default 2 */
    size_t read_max;       /* bytes per read (default 64 KiB) */
    uint64_t seg_start;    /* offset this open started at */
    uint64_t read_pos;     /* next offset to read */
    double play_pos;       /* offset being shown now */
    int started;           /* first byte of this open read */
    uint64_t last_at;      /* fake time of the last step */
    int stalled;
    uint32_t stalls;       /* playback ran dry before the end */
    uint64_t stall_ns;
    uint64_t stall_since;
    int waiting;
    uint32_t waits;        /* reads answered 0 (wait for STREAM_READY) */
    uint64_t bytes_read;
    uint32_t mismatches;   /* reads whose bytes differ from the content */
    uint64_t first_mismatch;
    int done;              /* everything read and shown */
    uint64_t read_done_at, done_at;
    uint64_t opened_at, first_byte_at;
    uint32_t seeks;
    long err;              /* a negative pf_torrent_stream_avail result */
} hn_player;

static inline int hn_player_open(hn_player *pl, hn_tor *ht, uint32_t file, uint64_t offset,
                                 double bitrate, const uint8_t *expect)
{
    const pf_metainfo *mi = pf_torrent_metainfo(ht->t);
    hn_net *n = ht->node->net;
    if (!pl->ht) {
        memset(pl, 0, sizeof *pl);
        pl->readahead_s = 2.0;
        pl->read_max = 64 * 1024;
    }
    if (!mi || file >= mi->num_files) return PF_ERR_NOTFOUND;
    pl->ht = ht;
    pl->file = file;
    pl->flen = mi->files[file].length;
    pl->bitrate = bitrate;
    pl->expect = expect;
    if (bitrate > 0) pf_torrent_set_bitrate(ht->t, file, bitrate);
    int rc = pf_torrent_stream_open(ht->t, file, offset, n->now, &pl->id);
    if (rc) return rc;
    pl->open = 1;
    pl->seg_start = pl->read_pos = offset;
    pl->play_pos = (double)offset;
    pl->started = 0;
    pl->stalled = 0;
    pl->waiting = 0;
    pl->done = 0;
    pl->last_at = n->now;
    pl->opened_at = n->now;
    return 0;
}

/* Seek: the player drops its connection and opens a new one elsewhere. */
static inline int hn_player_seek(hn_player *pl, uint64_t offset)
{
    hn_net *n = pl->ht->node->net;
    if (pl->stalled) pl->stall_ns += n->now - pl->stall_since;
    if (pl->open) pf_torrent_stream_close(pl->ht->t, pl->id, n->now);
    pl->open = 0;
    pl->seeks++;
    return hn_player_open(pl, pl->ht, pl->file, offset, pl->bitrate, pl->expect);
}

static inline void hn_player_close(hn_player *pl)
{
    if (!pl->open) return;
    pf_torrent_stream_close(pl->ht->t, pl->id, pl->ht->node->net->now);
    pl->open = 0;
}

/* Media seconds shown since this open began. */
static inline double hn_player_clock(const hn_player *pl)
{
    return (pl->play_pos - (double)pl->seg_start) / pl->bitrate;
}

static inline void hn_player_step(hn_player *pl)
{
    if (!pl->open || pl->done) return;
    hn_tor *ht = pl->ht;
    hn_net *n = ht->node->net;
    uint64_t now = n->now;
    double dt = (double)(now - pl->last_at) / 1e9;
    pl->last_at = now;
    /* Show media. */
    if (pl->started && !pl->stalled) {
        pl->play_pos += dt * pl->bitrate;
        if (pl->play_pos >= (double)pl->read_pos) {
            pl->play_pos = (double)pl->read_pos;
            if (pl->read_pos >= pl->flen) {
                pl->done = 1;
                pl->done_at = now;
                return;
            }
            pl->stalled = 1;
            pl->stalls++;
            pl->stall_since = now;
        }
    }
    /* Read ahead. */
    const pf_metainfo *mi = pf_torrent_metainfo(ht->t);
    uint64_t foff = mi->files[pl->file].offset;
    double ahead = pl->readahead_s * pl->bitrate;
    while (pl->read_pos < pl->flen && (double)pl->read_pos < pl->play_pos + ahead) {
        long a = pf_torrent_stream_avail(ht->t, pl->id, pl->read_pos, pl->read_max, now);
        if (a < 0) {
            pl->err = a;
            return;
        }
        if (a == 0) {
            if (!pl->waiting) pl->waits++;
            pl->waiting = 1;
            break;
        }
        pl->waiting = 0;
        if (pl->expect && memcmp(ht->data + foff + pl->read_pos, pl->expect + pl->read_pos, (size_t)a) != 0) {
            if (!pl->mismatches) pl->first_mismatch = pl->read_pos;
            pl->mismatches++;
        }
        pf_torrent_stream_served(ht->t, pl->id, pl->read_pos, (size_t)a, now);
        if (!pl->started) {
            pl->started = 1;
            if (!pl->first_byte_at) pl->first_byte_at = now;
        }
        pl->read_pos += (uint64_t)a;
        pl->bytes_read += (uint64_t)a;
        if (pl->stalled) {
            pl->stalled = 0;
            pl->stall_ns += now - pl->stall_since;
        }
        if (pl->read_pos >= pl->flen) pl->read_done_at = now;
    }
}

/* ---- jobs and events ------------------------------------------------------------ */
static inline int hn__sha1_eq(const uint8_t *p, size_t n, const uint8_t expect[20])
{
    uint8_t d[20];
    return pf_sha1(p, n, d) == 0 && memcmp(d, expect, 20) == 0;
}

static inline void hn__job(hn_node *nd, pf_job *j)
{
    hn_net *n = nd->net;
    hn_tor *ht = pf_torrent_ud(j->torrent);
    int in_range = ht && ht->data && j->offset <= ht->size && j->len <= ht->size - j->offset;
    switch (j->type) {
    case PF_JOB_READ:
        if (ht) ht->reads++;
        if (ht && ht->watch_piece == (int64_t)j->piece) ht->watch_reads++;
        if (ht && ht->fail_reads) {
            ht->fail_reads--;
            j->result = ht->fail_result;
        } else if (!in_range)
            j->result = PF_ERR_IO;
        else if (!j->buf) { /* payload elision: no bytes, taken as read and true */
            j->verified = 1;
            j->result = 0;
        } else {
            memcpy(j->buf, ht->data + j->offset, j->len);
            j->result = 0;
        }
        break;
    case PF_JOB_WRITE:
        if (ht) ht->writes++;
        if (!in_range)
            j->result = PF_ERR_IO;
        else if (!j->buf) /* payload elision: the engine's verify hook vouched for it */
            j->result = 0;
        else if (!hn__sha1_eq(j->buf, j->len, j->expect)) {
            j->result = PF_ERR_HASH;
            ht->write_hash_fails++;
        } else {
            memcpy(ht->data + j->offset, j->buf, j->len);
            j->result = 0;
        }
        break;
    case PF_JOB_HASH:
        if (ht) ht->hashes++;
        if (!in_range)
            j->result = PF_ERR_IO;
        else
            j->result = hn__sha1_eq(ht->data + j->offset, j->len, j->expect) ? 0 : PF_ERR_HASH;
        break;
    case PF_JOB_WEBSEED:
        hn__cdn_request(nd, j);
        return; /* answered later, as fake time passes */
    case PF_JOB_RESOLVE:
        j->naddrs = 0;
        j->result = PF_ERR_NOTFOUND;
        if (n->resolve && j->url && n->resolve(n->resolve_ud, j->url, &j->addrs[0]) == 0) {
            j->naddrs = 1;
            j->result = 0;
        }
        break;
    case PF_JOB_DISCARD:
        nd->discards++;
        nd->discard_bytes += j->len;
        if (nd->ndiscard_log == nd->cap_discard_log) {
            size_t cap = nd->cap_discard_log ? nd->cap_discard_log * 2 : 64;
            uint32_t *a = realloc(nd->discard_log, cap * sizeof *a);
            if (a) {
                nd->discard_log = a;
                nd->cap_discard_log = cap;
            }
        }
        if (nd->ndiscard_log < nd->cap_discard_log) nd->discard_log[nd->ndiscard_log++] = j->piece;
        if (!in_range) {
            hn__anomaly(n, "PF_JOB_DISCARD out of range");
        } else {
            memset(ht->data + j->offset, 0, j->len); /* gone: a re-read must re-fetch */
        }
        j->result = 0;
        break;
    case PF_JOB_HTTP:
        if (nd->http_delay_ns && nd->nhttp_late < 8) {
            nd->http_late[nd->nhttp_late].job = j;
            nd->http_late[nd->nhttp_late].due = n->now + nd->http_delay_ns;
            nd->nhttp_late++;
            return; /* answered by hn_step once due */
        }
        nd->http_jobs++;
        j->status = 0;
        j->body = NULL;
        j->body_len = 0;
        if (nd->http) {
            uint8_t *body = NULL;
            j->result = nd->http(nd->http_ud, nd, j->url, &j->status, &body, &j->body_len);
            j->body = body;
            pf_torrent_job_done(j->torrent, j, n->now);
            free(body); /* borrowed by the engine for the call */
            return;
        }
        j->result = PF_ERR_NET;
        break;
    default:
        hn__anomaly(n, "unknown job type");
        j->result = PF_ERR_IO;
    }
    pf_torrent_job_done(j->torrent, j, n->now);
}

static inline void hn__on_metadata(hn_node *nd, pf_torrent *t)
{
    hn_tor *ht = pf_torrent_ud(t);
    const pf_metainfo *mi = pf_torrent_metainfo(t);
    if (!ht || !mi) {
        hn__anomaly(nd->net, "PF_EV_METADATA without metainfo");
        return;
    }
    ht->got_metadata++;
    ht->metadata_at = nd->net->now;
    ht->size = mi->total_length;
    ht->data = calloc(ht->size ? ht->size : 1, 1);
    pf_torrent_skip_check(t, nd->net->now);
}

static inline void hn__handle(hn_node *nd, pf_event *ev)
{
    hn_net *n = nd->net;
    hn_tor *ht = ev->torrent ? pf_torrent_ud(ev->torrent) : NULL;
    switch (ev->type) {
    case PF_EV_CONNECT:
        hn__dial(nd, ev->peer, &ev->ep.addr);
        break;
    case PF_EV_CLOSE: {
        hn_end *e = pf_peer_ud(ev->peer);
        if (!e)
            pf_peer_closed(ev->peer, n->now);
        else if (e->raw)
            hn__raw_close(e->raw);
        else
            hn__link_close(e->link);
        break;
    }
    case PF_EV_WRITE: {
        hn_end *e = pf_peer_ud(ev->peer);
        if (e && e->p == ev->peer) {
            hn__take(e);
        } else {
            hn__anomaly(n, "PF_EV_WRITE for a peer the harness does not know");
            pf_buf b;
            size_t got = pf_peer_take_output(ev->peer, &b);
            pf_buf_free(&b);
            if (got) pf_peer_sent(ev->peer, got, n->now);
        }
        break;
    }
    case PF_EV_JOB:
        hn__job(nd, ev->job);
        break;
    case PF_EV_METADATA:
        hn__on_metadata(nd, ev->torrent);
        break;
    case PF_EV_CHECKED:
        if (ht) {
            ht->checked++;
            ht->checked_at = n->now;
        }
        break;
    case PF_EV_COMPLETE:
        if (ht) {
            ht->complete++;
            ht->complete_at = n->now;
        }
        break;
    case PF_EV_LOG_ERROR:
        if (ht) ht->log_errors++;
        break;
    case PF_EV_STREAM_READY:
        nd->stream_ready++;
        break;
    case PF_EV_JOB_CANCEL:
        hn__cdn_cancel(nd, ev->job);
        break;
    case PF_EV_DATAGRAMS: {
        /* A lossless virtual UDP network between the nodes: each datagram
         * goes to the node at its address, from this node's. */
        uint8_t dg[PF_MAX_DATAGRAM];
        pf_addr to;
        long len;
        while ((len = pf_session_take_datagram(nd->s, &to, dg, sizeof dg)) > 0) {
            nd->dgrams_out++;
            hn_node *dst = hn__node_by_addr(n, &to);
            if (dst) {
                pf_session_recv_datagram(dst->s, &nd->addr, dg, (size_t)len, n->now);
                dst->dgrams_in = 1;
            } else if (n->udp_sink) {
                n->udp_sink(n->udp_sink_ud, nd, &to, dg, (size_t)len);
            }
        }
        /* the batch is over, as a socket drained: deferred ACKs go */
        for (int i = 0; i < n->nnodes; i++) {
            hn_node *r = n->nodes[i];
            if (!r->dgrams_in) continue;
            r->dgrams_in = 0;
            pf_session_flush_datagrams(r->s, n->now);
        }
        break;
    }
    default:
        hn__anomaly(n, "unknown event type");
    }
}

/* Drains every node's events and delivers bytes until nothing moves (or
 * all budgets are spent). */
static inline void hn_settle(hn_net *n)
{
    for (uint32_t iter = 0; iter < 10000000u; iter++) {
        int progress = 0;
        for (int i = 0; i < n->nnodes; i++) {
            pf_event ev;
            for (uint32_t k = 0; k < 1000000u && pf_session_next_event(n->nodes[i]->s, &ev); k++) {
                hn__handle(n->nodes[i], &ev);
                progress = 1;
            }
        }
        size_t nl = n->nlinks;
        size_t start = nl ? (size_t)(hn__rand(&n->rng) % nl) : 0;
        for (size_t k = 0; k < nl; k++) {
            hn_link *l = n->links[(start + k) % nl];
            if (l->closed) continue;
            progress |= hn__deliver(n, l, 0);
            progress |= hn__deliver(n, l, 1);
        }
        if (!progress)
            for (int i = 0; i < n->nnodes && !progress; i++) progress = hn__cdn_pump(n->nodes[i]);
        if (!progress) return;
    }
    hn__anomaly(n, "hn_settle did not converge");
}

/* Advances the fake clock one step, ticks every node, then settles. */
static inline void hn_step(hn_net *n)
{
    n->now += n->step_ns;
    for (int i = 0; i < n->nnodes; i++) {
        hn_node *nd = n->nodes[i];
        nd->budget = nd->up_bps ? nd->up_bps * n->step_ns / PF_NS_PER_SEC : 0;
        if (nd->up_bps && nd->budget == 0) nd->budget = 1;
    }
    /* The engine asks for a tick every 250 ms (pf_session_next_timeout);
     * the default step is exactly that. */
    for (int i = 0; i < n->nnodes; i++) {
        hn_node *nd = n->nodes[i];
        for (uint32_t k = 0; k < nd->nhttp_late;) {
            if (nd->http_late[k].due > n->now) {
                k++;
                continue;
            }
            pf_job *j = nd->http_late[k].job;
            nd->http_late[k] = nd->http_late[--nd->nhttp_late];
            uint64_t d = nd->http_delay_ns;
            nd->http_delay_ns = 0; /* this once: answer now */
            hn__job(nd, j);
            nd->http_delay_ns = d;
        }
    }
    for (int i = 0; i < n->nnodes; i++) pf_session_tick(n->nodes[i]->s, n->now);
    hn_settle(n);
}

typedef int (*hn_pred_fn)(hn_net *n, void *ud);

/* Steps until pred holds or max_ns of fake time passed; returns 1 if it
 * held. */
static inline int hn_run_until(hn_net *n, hn_pred_fn pred, void *ud, uint64_t max_ns)
{
    uint64_t end = n->now + max_ns;
    hn_settle(n);
    while (!pred(n, ud)) {
        if (n->now >= end) return 0;
        hn_step(n);
    }
    return 1;
}

/* pred: every hn_tor in the NULL-terminated array is complete. */
static inline int hn_pred_all_complete(hn_net *n, void *ud)
{
    (void)n;
    hn_tor **ts = ud;
    for (size_t i = 0; ts[i]; i++)
        if (!ts[i]->complete) return 0;
    return 1;
}

static inline hn_link *hn_find_link(hn_net *n, const hn_node *a, const hn_node *b, int open_only)
{
    for (size_t i = n->nlinks; i-- > 0;) {
        hn_link *l = n->links[i];
        if (open_only && l->closed) continue;
        if ((l->end[0].node == a && l->end[1].node == b) || (l->end[0].node == b && l->end[1].node == a))
            return l;
    }
    return NULL;
}

/* Messages of `type` that node `from` sent to node `to` over all links. */
static inline uint32_t hn_msgs_sent(hn_net *n, const hn_node *from, const hn_node *to, int type)
{
    uint32_t c = 0;
    for (size_t i = 0; i < n->nlinks; i++) {
        hn_link *l = n->links[i];
        for (int d = 0; d < 2; d++)
            if (l->end[d].node == from && l->end[1 - d].node == to) c += l->msgs[d][type];
    }
    return c;
}

static inline void hn_torrent_stats(const hn_tor *ht, pf_torrent_stats *st)
{
    pf_torrent_get_stats(ht->t, st);
}

/* ---- fake tracker ------------------------------------------------------------ */
static inline const char *hn__qparam(const char *url, const char *key, size_t *len)
{
    size_t kl = strlen(key);
    const char *q = strchr(url, '?');
    while (q) {
        q++;
        if (strncmp(q, key, kl) == 0 && q[kl] == '=') {
            const char *v = q + kl + 1;
            const char *e = strchr(v, '&');
            *len = e ? (size_t)(e - v) : strlen(v);
            return v;
        }
        q = strchr(q, '&');
    }
    return NULL;
}

/* An HTTP callback: a tracker that knows every node that announced the
 * same info_hash and answers with all of them but the asker (compact). */
static inline int hn_tracker_http(void *ud, hn_node *nd, const char *url, long *status,
                                  uint8_t **body, size_t *body_len)
{
    hn_net *n = ud;
    size_t ihl = 0, evl = 0;
    const char *ih = hn__qparam(url, "info_hash", &ihl);
    const char *ev = hn__qparam(url, "event", &evl);
    if (!ih || ihl >= sizeof n->trk[0].ih) {
        *status = 400;
        return 0;
    }
    n->tracker_announces++;
    int stopped = ev && evl == 7 && memcmp(ev, "stopped", 7) == 0;
    size_t found = n->ntrk;
    for (size_t i = 0; i < n->ntrk; i++)
        if (strlen(n->trk[i].ih) == ihl && memcmp(n->trk[i].ih, ih, ihl) == 0 &&
            pf_addr_eq(&n->trk[i].a, &nd->addr))
            found = i;
    if (stopped && found < n->ntrk) {
        n->trk[found] = n->trk[--n->ntrk];
    } else if (!stopped && found == n->ntrk && n->ntrk < sizeof n->trk / sizeof n->trk[0]) {
        memcpy(n->trk[n->ntrk].ih, ih, ihl);
        n->trk[n->ntrk].ih[ihl] = 0;
        n->trk[n->ntrk].a = nd->addr;
        n->ntrk++;
    }
    pf_buf b;
    pf_buf_init(&b);
    uint8_t peers[6 * 64];
    size_t np = 0;
    for (size_t i = 0; i < n->ntrk; i++) {
        if (strlen(n->trk[i].ih) != ihl || memcmp(n->trk[i].ih, ih, ihl) != 0) continue;
        if (pf_addr_eq(&n->trk[i].a, &nd->addr)) continue;
        memcpy(peers + 6 * np, n->trk[i].a.ip, 4);
        pf_wr_be16(peers + 6 * np + 4, n->trk[i].a.port);
        np++;
    }
    pf_buf_appendf(&b, "d8:intervali60e12:min intervali10e5:peers%zu:", 6 * np);
    pf_buf_append(&b, peers, 6 * np);
    pf_buf_append_str(&b, "e");
    *status = 200;
    *body = b.data;
    *body_len = b.len;
    return 0;
}

static inline void hn_use_tracker(hn_node *nd)
{
    nd->http = hn_tracker_http;
    nd->http_ud = nd->net;
}

/* ---- teardown ------------------------------------------------------------------ */
static inline void hn_free(hn_net *n)
{
    if (!n) return;
    /* Sessions free their own peers; the harness only frees its side. */
    for (int i = 0; i < n->nnodes; i++) {
        hn_node *nd = n->nodes[i];
        pf_session_free(nd->s);
        /* Web seed jobs never reported done are the caller's to free. */
        for (size_t k = 0; k < nd->cdn.njobs; k++) {
            free(nd->cdn.jobs[k].job->url);
            free(nd->cdn.jobs[k].job);
        }
        free(nd->cdn.jobs);
        free(nd->cdn.reqs);
        for (uint32_t k = 0; k < nd->nhttp_late; k++) {
            free(nd->http_late[k].job->url);
            free(nd->http_late[k].job);
        }
        free(nd->discard_log);
        for (int k = 0; k < nd->ntors; k++) free(nd->tors[k].data);
        free(nd);
    }
    for (size_t i = 0; i < n->nlinks; i++) {
        hn_link *l = n->links[i];
        for (int d = 0; d < 2; d++) {
            pf_buf_free(&l->q[d]);
            pf_buf_free(&l->carry[d]);
        }
        free(l);
    }
    free(n->links);
    for (size_t i = 0; i < n->nraws; i++) {
        pf_buf_free(&n->raws[i]->out);
        free(n->raws[i]);
    }
    free(n->raws);
    for (size_t i = 0; i < n->ncdn_files; i++) free(n->cdn_files[i].url);
    free(n);
}

#endif
