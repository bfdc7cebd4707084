/* Sources of blocks.
 *
 * A BitTorrent peer, an HTTP web seed (a CDN edge, an ISP-embedded cache)
 * and any other kind (a test's fake; later a WebRTC peer) are one thing to
 * the scheduler and the picker: a pf_source.  They decide by deadline and
 * cost only, never by kind:
 *   - a FREE source (cost 0: peers) pulls blocks from the picker at its own
 *     pace when it has room (ops->pull): window pieces in deadline order,
 *     only those it can bring in time (its measured rate), the rest rarest
 *     first;
 *   - a COSTLY source (cost > 0: the CDNs) is handed blocks by the
 *     scheduler (ops->fetch) only when the free sources cannot deliver
 *     them before their deadline (start-up, late, held by no free source),
 *     and then the cheapest that can deliver them in time gets them.
 * Each source reports what it holds, what it has in flight, its measured
 * rate and latency, and takes the blame for blocks that fail their hash
 * (ops->misbehaved: a peer is banned, a web seed backs off and, if it
 * keeps lying, is dropped).  `kind` is a label for statistics only.
 *
 * Sources live in the torrent: peers in t->peers (connections), every
 * other kind in t->sources; pf__src_first/pf__src_next walk both. */
#ifndef PF_CORE_SCHED_SOURCE_H
#define PF_CORE_SCHED_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "core/sched/picker.h"
#include "peerflow/session.h"

/* Smoothed rate: bytes counted since the last tick are folded in. */
typedef struct pf_rate {
    uint64_t pending;
    double bps;
} pf_rate;
static inline void pf__rate_add(pf_rate *r, uint64_t n) { r->pending += n; }
void pf__rate_tick(pf_rate *r, double dt_s);

typedef struct pf_source pf_source;

typedef struct pf_source_ops {
    const char *kind; /* "peer", "webseed", ...: a label for statistics */
    /* Holds piece.  NULL: every piece (an origin). */
    int (*has)(const pf_source *s, uint32_t piece);
    /* Can be asked for blocks now (a peer: connected and not choking us;
     * a web seed: not backing off). */
    int (*available)(const pf_source *s, uint64_t now);
    /* What it holds is not known yet (a peer still connecting, or
     * connected for under a second).  May be NULL (never). */
    int (*settling)(const pf_source *s, uint64_t now);
    /* Connected and talking to us (a swarm is there).  May be NULL. */
    int (*present)(const pf_source *s);
    /* Room for one more fetch now (costly sources). */
    int (*ready)(const pf_source *s, uint64_t now);
    /* Free sources: take blocks from the picker, as many as its pace
     * allows.  NULL: it is never asked to pull. */
    void (*pull)(pf_source *s, uint64_t now);
    /* Costly sources: fetch these claimed blocks (sorted, contiguous runs
     * become one request).  0, or < 0: nothing was fetched and the blocks
     * went back to the picker. */
    int (*fetch)(pf_source *s, const pf_block_ref *blocks, uint32_t n, uint64_t now);
    /* Withdraws its blocks of piece that would arrive (its queue order,
     * its rate) later than deadline_s from now; the first two, likely on
     * the wire already, only if later than head_deadline_s.  trial: a
     * start-up's source, judged from one block on.  Returns how many. */
    uint32_t (*cancel_late)(pf_source *s, uint32_t piece, double deadline_s, double head_deadline_s,
                            int trial, uint64_t now);
    /* Withdraws one block it was asked for (another source brought it).
     * May be NULL (it cannot withdraw single blocks). */
    void (*cancel_block)(pf_source *s, uint32_t piece, uint32_t begin);
    /* Withdraws everything it was asked for. */
    void (*cancel_all)(pf_source *s, uint64_t now);
    /* Drops fetches of blocks no reader's window wants any more (a seek
     * made them useless).  May be NULL. */
    void (*prune)(pf_source *s, uint64_t now);
    /* Requests in flight (blocks for a peer, GETs for a web seed). */
    uint32_t (*inflight)(const pf_source *s);
    /* Bytes/s to plan by, and (if latency_ns) its time to first byte. */
    double (*rate)(const pf_source *s, uint64_t now, uint64_t *latency_ns);
    /* It sent data that failed verification. */
    void (*misbehaved)(pf_source *s, const char *why, uint64_t now);
    /* Tells it what we asked a costly source for (peers relay it to
     * viewers at our point: the pf_cdn notice).  May be NULL. */
    void (*notify_fetch)(pf_source *s, uint32_t first, uint32_t count);
    /* A name for statistics and logs ("cdn:URL", "peer:ADDR CLIENT"). */
    void (*name)(const pf_source *s, char *out, size_t n);
} pf_source_ops;

struct pf_source {
    const pf_source_ops *ops;
    pf_torrent *t;
    uint32_t id;        /* unique in the session; blocks remember it */
    double cost;        /* relative cost per byte; 0: free */
    int snubbed;        /* stopped delivering what it was asked for */
    /* What it told us it just asked a costly source for (pieces
     * [notice_first, notice_end) at notice_at; 0: nothing), and a key that
     * orders sources at the same point of the stream (a peer id). */
    uint32_t notice_first, notice_end;
    uint64_t notice_at;
    const uint8_t *order_key; /* 20 bytes, or NULL */
    /* What its server said of itself in CMSD-Dynamic (CTA-5006): the
     * throughput it expects to give us and the bitrate it suggests at
     * most, kbps; 0: nothing (webseed.c). */
    uint32_t cmsd_etp_kbps, cmsd_mb_kbps;
    /* Its network address, if it has one a ban can name (a peer's); NULL
     * for an HTTP source. */
    const pf_addr *addr;
    /* Accounting. */
    pf_rate down;
    uint64_t downloaded; /* payload accepted from it */
    uint64_t uploaded;   /* payload we sent it (peers) */
    uint64_t wasted;     /* payload from it that was not needed or failed */
    uint32_t hash_fails; /* pieces it contributed to that failed */
    uint64_t good_blocks; /* its blocks in pieces that verified */
    /* It sent blocks into a piece that failed: until a piece it sent alone
     * verifies, it picks only pieces of its own (pf_picker.parole_id), as
     * libtorrent's parole mode does. */
    int parole;
};

/* Walks a torrent's sources: its peers, then every other source. */
pf_source *pf__src_first(pf_torrent *t, uint32_t *it);
pf_source *pf__src_next(pf_torrent *t, uint32_t *it);
#define PF_SRC_FOREACH(t, s, it) for (pf_source *s = pf__src_first((t), &(it)); s; s = pf__src_next((t), &(it)))
pf_source *pf__src_by_id(pf_torrent *t, uint32_t id);

/* Adds a source that is not a peer connection (a web seed, a test's
 * fake).  The torrent does not own it: the caller removes it with
 * pf__torrent_remove_source before freeing it.  0 or PF_ERR_NOMEM. */
int pf__torrent_add_source(pf_torrent *t, pf_source *s);
void pf__torrent_remove_source(pf_torrent *t, pf_source *s);

static inline int pf__src_has(const pf_source *s, uint32_t piece) { return !s->ops->has || s->ops->has(s, piece); }
static inline int pf__src_free(const pf_source *s) { return s->cost <= 0; }

/* Blocks from a source: accounted to it, verified, stored (torrent.c). */
void pf__torrent_block_in(pf_torrent *t, pf_source *src, uint32_t piece, uint32_t begin,
                          const uint8_t *data, uint32_t len, uint64_t now);

#endif
