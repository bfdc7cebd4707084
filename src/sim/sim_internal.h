/* The simulator's parts (docs/SIM.md "The model"):
 *   queue.c   the event queue: a 4-ary heap keyed by (time, sequence)
 *   net.c     connections between viewers, uplink and downlink
 *             serializers, the CDN's egress
 *   node.c    a viewer: its session's events and jobs, the announce
 *             responder, the player
 *   sim.c     the run: the title, arrivals, departures, the event loop
 *   report.c  the summary, the fluid bound
 * Only public headers of the library (the peerflow/ headers) are used.
 * Except: node.c runs the tracker's sans-I/O core (core/tracker), which
 * the library does not export (docs/SIM.md "The tracker"). */
#ifndef PF_SIM_INTERNAL_H
#define PF_SIM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "peerflow/peerflow.h"
#include "peerflow/session.h"
#include "sim/sim.h"

#define SIM_CHUNK 16384u          /* bytes an uplink moves at once (a CDN GET: half its window, at least this) */
#define SIM_MIN_WINDOW 65536u     /* a flow's bytes in flight, at least */
#define SIM_CHUNK_SMALL 256u      /* chunks this small (header included) are kept for reuse */
#define SIM_CHUNK_POOL 65536u     /* ... at most this many */
#define SIM_BATCH_NS 2000000u     /* a serializer's batch of chunks takes at most this (or one chunk) */
#define SIM_TABLE (1u << 20)     /* the title's bytes are runs of this table */
#define SIM_SEG 65536u            /* ... each this long */
#define SIM_SLOT 65536u           /* "first read by anyone" unit (as the lab's) */
#define SIM_PORT 6881
#define SIM_HEAP_BUCKETS 40
#define SIM_TRACKER_URL "http://tracker.sim/announce"
#define SIM_CDN_URL "http://cdn.sim/title.bin"

/* ---- events ------------------------------------------------------------- */
enum sim_ev_type {
    EV_ARRIVE = 1,  /* a: viewer */
    EV_DEPART,      /* a: viewer */
    EV_TIMER,       /* a: viewer; only if t is still the node's timer_at */
    EV_PLAYER,      /* a: viewer; only if t is still the player's wake_at */
    EV_UP_DONE,     /* a: viewer; its uplink finished its chunk */
    EV_CDN_DONE,    /* the CDN's egress finished its chunk */
    EV_DOWN_ARRIVE, /* p: chunk at its receiver's downlink */
    EV_DELIVER,     /* p: chunk through the downlink: to the engine */
    EV_DIAL,        /* p: link; the SYN reaches the acceptor */
    EV_DIAL_ACK,    /* p: link; the answer reaches the dialer */
    EV_HTTP,        /* a: viewer, p: pf_job; the tracker's answer */
    EV_CDN_START,   /* p: cdn job; the GET reaches the CDN */
    EV_CDN_FINISH,  /* p: cdn job; report it done (after its events) */
    SIM_EV_TYPES
};

typedef struct sim_ev {
    uint64_t t;
    uint64_t seq;
    void *p;
    uint32_t type;
    uint32_t a;
} sim_ev;

typedef struct sim_queue {
    sim_ev *v;
    size_t n, cap, peak;
    uint64_t seq;
} sim_queue;

int sim_queue_push(sim_queue *q, uint64_t t, uint32_t type, uint32_t a, void *p);
int sim_queue_pop(sim_queue *q, sim_ev *out);
void sim_queue_free(sim_queue *q);

/* ---- flows: what a serializer moves, round robin ------------------------ */
typedef struct sim_flow {
    struct sim_flow *next, *prev; /* in its serializer's ring */
    int in_ring;
    uint64_t inflight; /* serialized or on the way, not yet delivered */
    uint64_t window;   /* at most this much in flight (a TCP window) */
} sim_flow;

typedef struct sim_chunk sim_chunk;

/* A link capacity that moves one chunk at a time from its flows, round
 * robin (a viewer's uplink, the CDN's egress). */
typedef struct sim_ser {
    uint64_t Bps;
    sim_flow *ring;
    sim_chunk *cur; /* the batch being serialized, linked by next */
} sim_ser;

/* ---- connections -------------------------------------------------------- */
typedef struct sim_link sim_link;
typedef struct sim_end {
    sim_flow flow;  /* what this side sends (first member) */
    sim_link *link;
    uint32_t node;
    int side;
    pf_peer *p;     /* NULL once closed */
    uint8_t *q;     /* taken from the engine, not yet serialized */
    size_t qoff, qlen, qcap;
    /* Payload elided: the PIECE payloads in the backlog, as counts, each
     * due before the byte of q at absolute position `at` (q[i] is at
     * q_base + i); pay_bytes is their sum. */
    struct sim_pay {
        uint64_t at;
        uint32_t len;
    } *pay;
    uint32_t pay_head, pay_n, pay_cap;
    uint64_t pay_bytes, q_base;
    struct sim_end *lnext, *lprev; /* the node's ends */
} sim_end;

struct sim_link {
    sim_end end[2]; /* 0: the dialer, 1: the acceptor */
    uint32_t refs;  /* open ends, events and chunks naming it */
    uint64_t oneway_ns;
    int refused;
};

typedef struct sim_cdnjob {
    sim_flow flow; /* first member */
    pf_job *job;   /* NULL once reported done */
    uint32_t node;
    uint64_t start, len;
    uint64_t queued;    /* bytes the CDN serialized */
    uint64_t delivered; /* bytes handed to pf_torrent_job_data */
    uint32_t refs;      /* the node's list, events and chunks */
    int dead;           /* reported done, cancelled or its viewer left */
    int fin_rc;         /* EV_CDN_FINISH: the result to report */
    long fin_status;
    struct sim_cdnjob *nnext, *nprev; /* the node's jobs */
} sim_cdnjob;

enum { CH_PEER = 1, CH_FIN, CH_CDN };
struct sim_chunk {
    int kind;
    uint32_t to;         /* receiving viewer */
    uint32_t len;
    uint32_t alloc;      /* bytes asked of malloc for it */
    sim_link *link;      /* CH_PEER, CH_FIN */
    int side;            /* the sending end */
    sim_cdnjob *cj;      /* CH_CDN */
    uint64_t off;        /* CH_CDN: offset in the file */
    uint64_t t_out;      /* serialized by then (in its serializer's batch) */
    uint64_t ser_ns;     /* ... having taken this long (0: a FIN) */
    sim_chunk *next;     /* in its serializer's batch */
    /* CH_PEER with elided payload: nseg segments (uint32 each, before the
     * bytes in data: the high bit marks a payload count, the rest its
     * length), then the control bytes.  nseg 0: data is all bytes. */
    uint32_t nseg;
    uint8_t data[];      /* CH_PEER */
};

/* ---- viewers -------------------------------------------------------------- */
enum { PL_STARTUP = 1, PL_PLAYING, PL_STALLED, PL_ENDED };
typedef struct sim_player {
    int open;
    uint32_t id;
    int state;
    int started;        /* playback began (startup_s buffered) */
    double Bps;
    uint64_t flen;
    uint64_t read_pos;  /* bytes handed to the player */
    double play_pos;    /* bytes shown */
    uint64_t last_at, opened_at, started_at, stall_since;
    uint32_t stalls;
    double stall_s;
    uint64_t wake_at;   /* its pending EV_PLAYER, 0 none */
    int waiting;        /* stream_avail said 0: STREAM_READY wakes it */
    int to_open;        /* `player delay`: its EV_PLAYER opens the stream */
    int told;           /* the engine knows the bitrate (`player probe`) */
} sim_player;

/* Allocator of one session: counts what its engine holds. */
typedef struct sim_mem {
    pf_mem mem;
    struct sim *sim;
    uint64_t live, peak;
} sim_mem;

typedef struct sim_node {
    uint32_t idx;
    int alive, left;
    uint8_t cls;
    uint8_t isp;        /* its ISP (0 without isp lines) */
    uint32_t title;     /* the title it watches (0 without a catalogue) */
    uint32_t isp_idx;   /* its place among the ISP's viewers: its address */
    uint64_t arrive_at, depart_at;
    pf_session *s;
    pf_torrent *t;
    sim_mem mem;
    uint64_t timer_at;  /* its pending EV_TIMER, 0 none */
    int dirty, player_wake;
    sim_ser up;
    uint64_t down_busy;  /* the downlink's FIFO is busy until then */
    sim_end *ends;
    sim_cdnjob *jobs;
    struct sim_http *https;
    uint32_t next_port;
    sim_player pl;
    /* results, kept after the session is gone */
    uint64_t cdn_bytes, peer_bytes, uploaded, wasted;
    uint64_t remote_bytes; /* payload taken from peers outside its local nets */
    uint32_t hash_failures, log_errors;
    uint64_t heap_peak;
} sim_node;

typedef struct sim {
    pf_sim_scenario sc;
    uint64_t now, end_at;
    sim_queue q;
    sim_node *nodes;
    uint32_t n;
    uint64_t rng;
    /* the title */
    uint8_t *torrent;
    size_t torrent_len;
    pf_metainfo *mi; /* the title's, parsed once: each session holds a reference */
    uint64_t size;
    uint64_t content_key;
    uint8_t *table;     /* SIM_TABLE + SIM_SEG random bytes */
    /* the CDN */
    sim_ser cdn;
    /* ISP k's viewers by their isp_idx (with isp lines) */
    uint32_t *isp_nodes[PF_SIM_MAX_ISPS];
    uint32_t isp_n[PF_SIM_MAX_ISPS];
    uint64_t inter_isp_link_bytes; /* bytes on peer links between ISPs */
    /* the tracker (node.c): the real core, made at the first announce;
     * its ISP map; its next expiry tick; viewers gone. */
    struct pf_tracker *trk;
    struct pf_alto_map *trk_alto;
    uint64_t trk_expire_at;
    uint32_t trk_gone;
    pf_metainfo **tmi; /* a catalogue's titles (tmi[0] is mi), NULL without one */
    double *zipf_cum;   /* the titles' weights, 1/(k+1)^s, summed up to each */
    /* viewers whose session was called: their events are drained */
    uint32_t *dirty;
    uint32_t ndirty;
    /* counters */
    uint64_t events, stale_events;
    uint64_t cdn_bytes, cdn_requests, cdn_cancels;
    uint64_t link_bytes, dials, refused, refused_accept, dials_other_port, dials_self, dials_unanswered, announces, datagrams_dropped;
    uint64_t heap_live, heap_peak;
    /* the simulator's own: chunks on their way (count, bytes asked of
     * malloc) now and at most; the event queue's most events */
    uint64_t chunks_live, chunk_bytes_live, chunk_bytes_peak, queue_peak;
    sim_chunk *chunk_pool; /* small chunks free for reuse, linked by next */
    uint32_t chunk_pool_n;
    uint64_t events_by_type[SIM_EV_TYPES];
    /* live engine bytes by allocation size (bucket b: sizes in
     * [2^b, 2^(b+1))), now and when the sum peaked */
    uint64_t heap_by_size[SIM_HEAP_BUCKETS], heap_by_size_peak[SIM_HEAP_BUCKETS];
    uint64_t heap_count[SIM_HEAP_BUCKETS], heap_count_peak[SIM_HEAP_BUCKETS];
    uint32_t present, peak_present, heap_peak_present;
    int failed; /* out of memory somewhere: the run is void */
    /* the fluid bound's one-second bins */
    uint32_t nbins;
    double *demand, *novel;
    uint8_t *slots;
    uint64_t nslots;
    /* the progress line */
    FILE *progress;
    uint64_t next_progress;
} sim;

/* net.c */
int sim_content_init(sim *w);
void sim_content_fill(const sim *w, uint64_t off, uint8_t *dst, size_t n);
int sim_content_equal(const sim *w, uint64_t off, const uint8_t *p, size_t n);
void sim_ser_add(sim *w, sim_ser *s, sim_flow *f, int is_cdn, uint32_t node);
void sim_ser_kick(sim *w, sim_ser *s, int is_cdn, uint32_t node);
void sim_up_done(sim *w, uint32_t node);
void sim_cdn_done(sim *w);
void sim_down_arrive(sim *w, sim_chunk *c);
void sim_deliver(sim *w, sim_chunk *c);
void sim_dial(sim *w, uint32_t from, pf_peer *p, const pf_endpoint *ep);
void sim_dial_arrive(sim *w, sim_link *l);
void sim_dial_ack(sim *w, sim_link *l);
void sim_end_take(sim *w, sim_end *e);
void sim_end_close(sim *w, sim_end *e, int call_engine);
void sim_link_unref(sim_link *l);
void sim_cdn_request(sim *w, uint32_t node, pf_job *j);
void sim_cdn_start(sim *w, sim_cdnjob *cj);
void sim_cdn_cancel(sim *w, pf_job *j);
void sim_cdn_finish_ev(sim *w, sim_cdnjob *cj);
void sim_cdn_drop_node(sim *w, uint32_t node);
void sim_cdnjob_unref(sim_cdnjob *cj);
void sim_chunk_free(sim *w, sim_chunk *c);
void sim_batch_free(sim *w, sim_ser *s);
void sim_chunk_pool_free(sim *w);
uint64_t sim_oneway(const sim *w, uint32_t a, uint32_t b);
/* A viewer's IPv4 address: 10.x.y.z for viewer x.y.z - 1, or with ISPs
 * 10.(16k + a).b.c in ISP k's /12 for its isp_idx a.b.c - 1. */
void sim_node_addr(const sim *w, uint32_t node, uint8_t ip[4]);
/* The viewer at an address, or UINT32_MAX if none. */
uint32_t sim_addr_node(const sim *w, const uint8_t ip[4]);
void sim_touch(sim *w, uint32_t node);

/* node.c */
void sim_node_drain(sim *w, uint32_t node);
void sim_http_answer(sim *w, uint32_t node, void *http);
void sim_player_open(sim *w, sim_node *nd);
void sim_player_arrive(sim *w, sim_node *nd);
void sim_player_step(sim *w, sim_node *nd);
void sim_tracker_remove(sim *w, uint32_t node);
/* The tracker's answer to an announce (the engine's GET URL) from viewer
 * node, at w->now, appended to body; returns the HTTP status.  The
 * tracker is made at the first call; sim_tracker_free frees it (again:
 * nothing). */
int sim_tracker_ask(sim *w, uint32_t node, const char *url, pf_buf *body);
void sim_tracker_free(sim *w);
/* A tracker request on its way (PF_JOB_HTTP); j NULL once cancelled. */
typedef struct sim_http {
    pf_job *j;
    uint32_t node;
    struct sim_http *next, *prev; /* the node's requests on their way */
} sim_http;
void sim_http_drop_node(sim *w, uint32_t node);

/* sim.c */
void sim_fail(sim *w, const char *what);
static inline uint64_t sim_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

#endif
