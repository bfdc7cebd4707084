/* uTP internals shared by utp.c (context, dispatch, timers), utp_conn.c
 * (a connection's send and receive paths), utp_cc.c (RTT, delay
 * history, LEDBAT) and utp_codec.c (the packet format). */
#ifndef PF_CORE_UTP_INT_H
#define PF_CORE_UTP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/util/log.h"
#include "core/utp/utp.h"

/* ---- the packet format (utp_codec.c) ------------------------------------ */
enum { PF__UTP_DATA = 0, PF__UTP_FIN = 1, PF__UTP_STATE = 2, PF__UTP_RESET = 3, PF__UTP_SYN = 4 };
enum { PF__UTP_EXT_SACK = 1 };
#define PF__UTP_MAX_EXT 16   /* extensions we walk in one packet */
#define PF__UTP_MAX_SACK 128 /* bytes of selective-ACK bitmask we send (1024 packets) */

typedef struct pf__utp_hdr {
    uint8_t type;
    uint16_t conn_id;
    uint32_t ts, ts_diff, wnd;
    uint16_t seq, ack;
    const uint8_t *sack; /* the first selective-ACK extension, or NULL */
    uint8_t sack_len;
    const uint8_t *payload;
    size_t payload_len;
} pf__utp_hdr;

/* 0: parsed; PF_ERR_UNSUPPORTED: not uTP (too short, version, type);
 * PF_ERR_PARSE: uTP, but the extension chain is broken. */
int pf__utp_parse(const uint8_t *p, size_t n, pf__utp_hdr *h);
/* Writes the 20-byte header (no extension byte set). */
void pf__utp_put_hdr(uint8_t *out, int type, uint16_t conn_id, uint32_t ts, uint32_t ts_diff, uint32_t wnd,
                     uint16_t seq, uint16_t ack);

/* ---- sequence numbers ---------------------------------------------------- */
static inline int pf__seq_lt(uint16_t a, uint16_t b) { return ((uint16_t)(a - b) & 0x8000u) != 0; }
static inline uint16_t pf__seq_dist(uint16_t from, uint16_t to) { return (uint16_t)(to - from); }

/* ---- LEDBAT's delay history (utp_cc.c) ----------------------------------- */
#define PF__UTP_BASE_MAX 16
#define PF__UTP_CUR_FILTER 4

typedef struct pf__utp_delay {
    uint32_t base[PF__UTP_BASE_MAX]; /* minimum raw sample of each minute */
    uint32_t cur[PF__UTP_CUR_FILTER]; /* last raw samples */
    uint8_t nbase, ibase, ncur, icur, init;
    uint64_t rotated; /* when ibase last moved */
} pf__utp_delay;

void pf__utp_delay_add(pf__utp_delay *d, uint32_t raw, uint64_t now, uint32_t history);
uint32_t pf__utp_delay_base(const pf__utp_delay *d);
/* The filtered queueing delay: min of the last samples minus the base. */
uint32_t pf__utp_delay_value(const pf__utp_delay *d);

/* ---- a connection -------------------------------------------------------- */
enum { PF__PKT_USED = 1, PF__PKT_SACKED = 2, PF__PKT_LOST = 4, PF__PKT_INFLIGHT = 8 };

typedef struct pf__utp_pkt { /* a packet sent and not yet cumulatively acked */
    uint64_t off;     /* its payload's stream offset in the send ring */
    uint64_t sent_at; /* last transmission, ns */
    uint16_t len;     /* payload bytes */
    uint16_t above;   /* most packets seen selectively acked above it */
    uint8_t type;     /* DATA, FIN or SYN */
    uint8_t tx;       /* transmissions */
    uint8_t flags;    /* PF__PKT_* */
} pf__utp_pkt;

typedef struct pf__utp_rpkt { /* an out-of-order packet held */
    uint8_t *data;
    uint16_t len;
    uint8_t used;
} pf__utp_rpkt;

struct pf_utp_conn {
    pf_utp_ctx *ctx;
    void *ud;
    pf_addr peer;
    uint16_t recv_id, send_id;
    uint8_t state;      /* PF_UTP_SYN_SENT.. PF_UTP_CLOSED */
    uint8_t confirmed;  /* the peer proved it sees our packets */
    uint8_t seen;       /* the user has it (accept ran / connect returned) */
    uint8_t in_accept;  /* inside the accept callback: close refuses */
    uint8_t closing;    /* pf_utp_close: no more reads */
    uint8_t shut_wr;    /* close or shutdown: FIN after the data */
    uint8_t fin_sent, fin_acked;
    uint8_t got_fin;    /* the peer's FIN seen (eof_seq valid) */
    uint8_t eof;        /* everything up to the peer's FIN received */
    uint8_t eof_told;   /* read(NULL, 0) delivered */
    uint8_t want_writable;
    uint8_t nagle_out;  /* an undersized packet is unacked (nagle_seq) */
    uint8_t slow_start;
    uint8_t cwnd_limited;
    int err;

    uint16_t seq_nr;       /* next sequence number to send */
    uint16_t acked_seq_nr; /* everything up to here is acked */
    uint16_t ack_nr;       /* everything up to here is received */
    uint16_t eof_seq;
    uint16_t nagle_seq;
    uint16_t loss_seq;     /* losses of packets up to here do not cut cwnd again */
    uint16_t fast_seq;     /* fast retransmits happen from here on */
    uint32_t dup_acks;
    uint16_t peer_max_payload; /* the largest payload the peer sent */
    uint16_t reorder;      /* DupThresh: learnt from spurious retransmissions (3..) */
    uint16_t undo_seq;     /* the loss that cut the window last */
    uint8_t undo_ok;       /* ... and that cut can be undone */
    double undo_cwnd;
    uint32_t undo_ssthresh;

    /* send side: one ring of bytes [s_una, s_end); [s_una, s_nxt) is in
     * packets, [s_nxt, s_end) not yet */
    uint8_t *sbuf;
    uint32_t scap;
    uint64_t s_una, s_nxt, s_end;
    pf__utp_pkt *ob; /* indexed by seq & (ob_cap - 1) */
    uint32_t ob_cap;
    uint32_t flight; /* payload bytes in flight */
    uint32_t nlost;  /* packets marked for retransmission */

    /* receive side */
    pf__utp_rpkt *rb; /* indexed by seq & (rb_cap - 1) */
    uint32_t rb_cap, rb_count, rb_bytes;
    uint16_t rb_hi;   /* highest sequence number held */

    /* congestion control */
    double cwnd;
    uint32_t ssthresh;
    uint32_t peer_wnd;
    uint64_t last_cut;  /* ns: the last window cut */
    /* LEDBAT++ slowdown */
    uint8_t sd_phase;     /* 0 none, 1 waiting, 2 slowing, 3 ramping */
    uint64_t sd_at;       /* next phase change, ns */
    uint32_t sd_cwnd;     /* window before the slowdown */
    uint64_t sd_began;    /* when the slowdown began */

    /* RTT (RFC 6298), microseconds */
    uint32_t srtt, rttvar, rto, min_rtt;
    uint8_t have_rtt, backoff;
    uint32_t ntimeouts;

    pf__utp_delay our;   /* their clock minus ours, on our packets (ts_diff) */
    pf__utp_delay their; /* our clock minus theirs, on their packets */
    uint32_t reply_micro; /* ts_diff we send back */
    uint32_t their_delay;

    /* timers, ns (0: not armed) */
    uint64_t created, last_recv, last_send, out_since;
    uint64_t idle_since; /* nothing outstanding since (0: busy) */
    uint64_t rto_at, ack_at, linger_at;
    uint64_t pace_at;    /* a window below one packet: the next may go then */
    uint32_t acks_pending;
    uint64_t deadline;
    uint32_t heap_idx; /* UINT32_MAX: not in the heap */

    pf_utp_conn *hnext;       /* hash chain */
    pf_utp_conn *prev, *next; /* all live connections */
    pf_utp_conn *reap_next;   /* closed, waiting for the closed callback */

    pf_utp_stats st;
};

struct pf_utp_ctx {
    const pf_mem *mem;
    pf_utp_settings set;
    pf_utp_callbacks cb;
    void *ud;
    pf_logger log;

    pf_utp_conn **htab;
    uint32_t hmask;
    uint64_t hkey;
    pf_utp_conn *all;
    uint32_t nconns;
    pf_utp_conn **heap;
    uint32_t nheap;
    pf_utp_conn *reap, *reap_tail;
    int depth;

    uint64_t rng;
    double rst_tokens;
    uint64_t rst_at;
    uint8_t *pkt; /* scratch: one datagram */
    pf_utp_ctx_stats st;
};

/* utp.c */
uint64_t pf__utp_rand(pf_utp_ctx *x);
void pf__utp_die(pf_utp_conn *c, int err);
void pf__utp_schedule(pf_utp_conn *c);
void pf__utp_enter(pf_utp_ctx *x);
void pf__utp_leave(pf_utp_ctx *x);
void pf__utp_send_raw(pf_utp_ctx *x, const pf_addr *to, const uint8_t *p, size_t n);
void pf__utp_send_reset(pf_utp_ctx *x, const pf_addr *to, uint16_t conn_id, uint16_t ack, uint64_t now);

/* utp_conn.c */
pf_utp_conn *pf__utp_conn_alloc(pf_utp_ctx *x, const pf_addr *peer, uint64_t now);
void pf__utp_conn_free(pf_utp_conn *c);
void pf__utp_conn_recv(pf_utp_conn *c, const pf__utp_hdr *h, uint64_t now);
void pf__utp_conn_timer(pf_utp_conn *c, uint64_t now);
void pf__utp_conn_writable(pf_utp_conn *c);
void pf__utp_conn_send_state(pf_utp_conn *c, uint64_t now);
void pf__utp_conn_send_syn(pf_utp_conn *c, uint64_t now);
void pf__utp_conn_flush(pf_utp_conn *c, uint64_t now);
long pf__utp_conn_write(pf_utp_conn *c, const uint8_t *data, size_t n, uint64_t now);
void pf__utp_conn_shutdown(pf_utp_conn *c, int close, uint64_t now);
uint64_t pf__utp_conn_deadline(const pf_utp_conn *c);
uint32_t pf__utp_us(uint64_t now);
uint32_t pf__utp_mss(const pf_utp_conn *c);

/* utp_cc.c */
void pf__utp_rtt_sample(pf_utp_conn *c, uint32_t rtt_us);
uint64_t pf__utp_rto_ns(const pf_utp_conn *c);
void pf__utp_cc_init(pf_utp_conn *c);
void pf__utp_cc_ack(pf_utp_conn *c, uint32_t acked, uint32_t flight_before, uint32_t min_rtt_us, uint64_t now);
void pf__utp_cc_loss(pf_utp_conn *c, uint16_t seq, uint64_t now);
void pf__utp_cc_timeout(pf_utp_conn *c, uint64_t now);
/* The window new data may use now (bytes), LEDBAT++ slowdowns included. */
uint32_t pf__utp_cc_window(const pf_utp_conn *c);
/* Sending again after an idle spell: the window decays (RFC 7661). */
void pf__utp_cc_restart(pf_utp_conn *c, uint64_t now);

#endif
