/* uTP (BEP 29) with LEDBAT congestion control (RFC 6817), sans-I/O.
 *
 * One pf_utp_ctx holds every uTP connection of one UDP socket (a
 * session's).  Datagrams go in with pf_utp_recv, datagrams come out
 * through the send callback, time is passed into every call (uint64_t
 * nanoseconds, any epoch, never going backwards) and pf_utp_next_timeout
 * says when pf_utp_tick wants to run next.  No clock, socket or global
 * state is used; randomness (connection ids, initial sequence numbers)
 * comes from settings.seed.
 *
 * Callbacks run synchronously inside pf_utp_recv, pf_utp_tick,
 * pf_utp_flush, pf_utp_write, pf_utp_close and pf_utp_shutdown.  From
 * inside them the user may call pf_utp_write, pf_utp_close,
 * pf_utp_shutdown, pf_utp_set_ud and pf_utp_connect; never
 * pf_utp_ctx_free.  A connection is freed only after its closed callback
 * has returned, and only when no pf_utp_* call is on the stack, so a
 * pf_utp_conn pointer stays valid until then.
 *
 * Every buffer a remote party can grow is bounded: connections by
 * max_conns (a SYN flood fills that and no more), the reorder buffer by
 * recv_buffer bytes and PF_UTP_MAX_REORDER packets, unacknowledged and
 * unsent data by send_buffer, packets in flight by PF_UTP_MAX_OUTSTANDING.
 *
 * Congestion control is RFC 6817's LEDBAT on the one-way delay the peer
 * echoes (timestamp_difference): a base delay of base_history one-minute
 * minima, the minimum of the last 4 samples as the current delay, growth
 * GAIN(1) * off_target * bytes_acked * MSS / cwnd (never faster than TCP:
 * slow start adds at most the bytes acked, and leaves it at 3/4 of the
 * target), halving on loss (once per window, not below 2 packets), one
 * packet after a timeout.  From LEDBAT++: above the target the window
 * shrinks by W * (delay/target - 1) per RTT (at most half), and periodic
 * slowdowns (2 packets for 2 RTTs, every ~9x their cost) let the queue
 * drain so the base delay is measured again (latecomers, clock drift).
 * Losses: selective ACKs with a reordering threshold learnt from
 * retransmissions that proved needless (their window cut undone),
 * duplicate ACKs, RTO per RFC 6298 with back-off.
 *
 * Wire details follow libutp and libtorrent: the SYN names the id we
 * receive on, we send on id + 1 (the acceptor the reverse); the STATE
 * answering a SYN carries the acceptor's initial seq_nr, unconsumed; a FIN
 * consumes a sequence number; selective ACK bitmasks are multiples of 4
 * bytes; RESETs are matched on either id. */
#ifndef PF_CORE_UTP_H
#define PF_CORE_UTP_H

#include <stddef.h>
#include <stdint.h>

#include "peerflow/peerflow.h"

#define PF_UTP_HEADER 20             /* BEP 29 header, without extensions */
#define PF_UTP_MAX_OUTSTANDING 1024  /* packets sent and not yet acked */
#define PF_UTP_MAX_REORDER 1024      /* out-of-order packets held */
#define PF_UTP_MAX_PACKET 1472       /* largest mtu accepted (IPv4 Ethernet) */
#define PF_UTP_MIN_PACKET 576        /* smallest mtu accepted */

typedef struct pf_utp_ctx pf_utp_ctx;
typedef struct pf_utp_conn pf_utp_conn;

typedef struct pf_utp_settings {
    uint32_t target_delay_us;  /* LEDBAT TARGET: queueing delay we allow ourselves (100000; <= 1 s) */
    uint32_t max_window;       /* bytes: cap on the congestion window (1 MiB) */
    uint32_t send_buffer;      /* bytes: written and not yet acked, per connection (1 MiB) */
    uint32_t notsent_lowat;    /* bytes: written and not yet in a packet, at most (as TCP_NOTSENT_LOWAT:
                                  a write takes nothing past it, writable comes when under it); what
                                  the user still holds can be cancelled, what we hold cannot (0: no
                                  limit but send_buffer, the default) */
    uint32_t recv_buffer;      /* bytes: out-of-order data held, and the window we advertise (1 MiB) */
    uint16_t mtu;              /* largest datagram we send, uTP header included (1400; 576..1472) */
    uint32_t max_conns;        /* connections at once, incoming and outgoing (512) */
    uint32_t base_history;     /* LEDBAT BASE_HISTORY: 1-minute minima kept for the base delay (2; 1..16) */
    uint32_t min_rto_ms;       /* floor of the retransmission timeout (500, as libtorrent; RFC 6298 says 1000) */
    uint32_t initial_rto_ms;   /* before the first RTT sample, and for SYNs (1000, RFC 6298) */
    uint32_t connect_timeout_ms; /* SYN sent or received and no answer (10000) */
    uint32_t timeout_ms;       /* data outstanding and nothing heard from the peer for this long (20000) */
    uint32_t keepalive_ms;     /* an idle connection sends an ACK this often, for NATs (29000; 0: never) */
    uint32_t idle_timeout_ms;  /* nothing heard from the peer for this long: closed, PF_ERR_TIMEOUT (0: never,
                                  the default: with nothing outstanding only the peer wire protocol's own
                                  keep-alives can tell a quiet peer from a vanished one) */
    uint32_t ack_delay_us;     /* a delayed ACK waits at most this long (10000) */
    uint32_t ack_every;        /* ... or for this many unacked data packets (2); a packet smaller
                                  than the peer's largest is acked at once (the end of a write: the
                                  peer's Nagle may be waiting for that ACK) */
    uint32_t linger_ms;        /* after our FIN is acked, wait this long for the peer's (3000) */
    uint8_t nagle;             /* hold small writes while a small packet is unacked (1) */
    uint8_t slowdown;          /* LEDBAT++ periodic slowdowns: re-measure the base delay (1) */
    uint64_t seed;             /* seeds connection ids and sequence numbers: pass OS randomness */
    uint32_t rst_per_sec;      /* RESETs sent to unknown connections, at most, per second (100) */
    pf_log_fn log;             /* optional log sink (NULL: silent) */
    void *log_ud;
    pf_log_level log_level;    /* PF_LOG_INFO */
} pf_utp_settings;

/* Fills s with the defaults above. */
void pf_utp_settings_default(pf_utp_settings *s);

typedef struct pf_utp_callbacks {
    /* A datagram to send to `to`; pkt is borrowed for the call.  If it
     * cannot be sent (a full queue) drop it: uTP recovers as from a loss.
     * Must not call back into pf_utp_*.  Required. */
    void (*send)(void *ud, const pf_addr *to, const uint8_t *pkt, size_t n);
    /* A new incoming connection (a SYN).  The user may set its ud, or
     * refuse it with pf_utp_close (a RESET goes back; closed follows).
     * NULL: incoming connections are refused. */
    void (*accept)(void *ud, pf_utp_conn *c);
    /* An outgoing connection got its SYN answered. */
    void (*connected)(void *ud, pf_utp_conn *c);
    /* In-order stream bytes (borrowed for the call).  n == 0 (data NULL):
     * the peer finished sending (FIN); no more reads follow. */
    void (*read)(void *ud, pf_utp_conn *c, const uint8_t *data, size_t n);
    /* A write returned less than asked, and the send buffer has room again
     * (a quarter of send_buffer, and less than notsent_lowat unsent). */
    void (*writable)(void *ud, pf_utp_conn *c);
    /* The connection is over: err 0 (closed cleanly, or by
     * pf_utp_close while still connecting), PF_ERR_CLOSED (reset by the
     * peer, or refused in accept), PF_ERR_TIMEOUT (the peer stopped
     * answering), PF_ERR_SHUTDOWN (pf_utp_ctx_free); an allocation that
     * fails drops a packet or fails a write, never a connection.  Called
     * exactly once for every connection the user saw (accept or
     * pf_utp_connect); c is freed when it returns.  Required. */
    void (*closed)(void *ud, pf_utp_conn *c, int err);
    /* Nonzero while the user can queue another datagram.  When it says 0,
     * new data waits (ACKs and retransmissions still go) until the user
     * calls pf_utp_flush: a window's burst is paced by the user's queue,
     * not dropped at its end.  NULL: always. */
    int (*can_send)(void *ud);
} pf_utp_callbacks;

/* A new context.  mem: allocator (NULL: the C library's), kept by
 * pointer; s (NULL: defaults) and cb are copied; ud is passed to every
 * callback (per-connection state: pf_utp_set_ud).  Returns NULL when out
 * of memory, or when s is invalid (out of the ranges above) or cb lacks
 * send or closed. */
pf_utp_ctx *pf_utp_ctx_new(const pf_mem *mem, const pf_utp_settings *s, const pf_utp_callbacks *cb, void *ud);
/* Frees the context and every connection, calling closed(PF_ERR_SHUTDOWN)
 * for each one still open; nothing is sent (close connections first for a
 * graceful end).  NULL is a no-op.  Not from inside a callback. */
void pf_utp_ctx_free(pf_utp_ctx *x);

/* A datagram from `from` (pkt borrowed for the call).  Returns 1 if it is
 * a uTP packet (taken, or dropped and counted as uTP: malformed, stale,
 * spoofed), 0 if it is not uTP at all (fewer than 20 bytes, version not 1,
 * unknown type): the caller hands it to its other UDP protocols (BEP 15
 * tracker replies start with a zero byte, DHT messages with 'd').  Never
 * fails; a packet for no known connection that is not a SYN gets a RESET
 * (rate-limited) and creates no state. */
int pf_utp_recv(pf_utp_ctx *x, const pf_addr *from, const uint8_t *pkt, size_t n, uint64_t now);

/* Sends the ACKs that were deferred to coalesce them, and the data that
 * waited for can_send.  Call it after a batch of pf_utp_recv (the socket
 * drained; otherwise deferred ACKs go out after ack_delay_us or ack_every
 * packets) and when can_send would say yes again. */
void pf_utp_flush(pf_utp_ctx *x, uint64_t now);

/* Opens a connection to `to` (sends a SYN).  Returns the connection (the
 * caller's until its closed callback), or NULL: max_conns reached, out of
 * memory, or `to` invalid.  connected or closed follows. */
pf_utp_conn *pf_utp_connect(pf_utp_ctx *x, const pf_addr *to, uint64_t now);

/* Copies up to n bytes into the send buffer and sends what the windows
 * allow.  Allowed before the connection is established (sent once it
 * is; an accepted connection is established by the peer's first packet
 * after its SYN, which proves the address: BitTorrent's initiator speaks
 * first).  Returns the bytes taken (fewer than n, even 0, when the send
 * buffer is full: wait for writable), PF_ERR_CLOSED after close, shutdown
 * or the end of the connection, PF_ERR_NOMEM. */
long pf_utp_write(pf_utp_conn *c, const uint8_t *data, size_t n, uint64_t now);

/* Graceful close: written data is still delivered, then a FIN; no more
 * read callbacks (incoming data is acked and dropped).  closed(0) follows
 * once our FIN is acked and the peer's FIN came (or linger_ms passed); a
 * connection refused inside accept, or still connecting, is reset at
 * once.  Idempotent; a no-op on a closed connection. */
void pf_utp_close(pf_utp_conn *c, uint64_t now);
/* Half-close: a FIN after the written data, reads go on.  closed(0)
 * follows once our FIN is acked and the peer's FIN has been read. */
void pf_utp_shutdown(pf_utp_conn *c, uint64_t now);

/* The user's pointer for c (NULL until set; not freed by uTP), and the
 * peer's address (valid as long as c).  Any time until closed returns. */
void pf_utp_set_ud(pf_utp_conn *c, void *ud);
void *pf_utp_ud(const pf_utp_conn *c);
const pf_addr *pf_utp_peer(const pf_utp_conn *c);

/* The next time (ns) pf_utp_tick has work: a retransmission, a delayed
 * ACK, a keep-alive, a timeout.  UINT64_MAX if none.  Not earlier than
 * now when something is already due (then: now). */
uint64_t pf_utp_next_timeout(const pf_utp_ctx *x, uint64_t now);
/* Runs every timer due at `now`. */
void pf_utp_tick(pf_utp_ctx *x, uint64_t now);

typedef struct pf_utp_stats {
    uint8_t state;             /* PF_UTP_SYN_SENT.. */
    uint8_t slow_start;
    uint16_t seq_nr, ack_nr, acked_seq_nr; /* next to send, last in order received, last acked */
    uint32_t cwnd, ssthresh;   /* bytes */
    uint32_t flight;           /* payload bytes in flight */
    uint32_t peer_wnd;         /* the window the peer advertises */
    uint32_t send_queued;      /* bytes written, not yet acked */
    uint32_t reorder_bytes;    /* out-of-order bytes held */
    uint32_t rtt_us, rtt_var_us, rto_us;
    uint32_t our_delay_us;     /* queueing delay we cause (LEDBAT's filtered sample minus base) */
    uint32_t base_delay_us;    /* the base (raw, clock offset included) */
    uint32_t their_delay_us;   /* queueing delay on the way to us, as we see it */
    uint64_t packets_in, packets_out;
    uint64_t bytes_in, bytes_out;       /* payload, first transmissions */
    uint64_t retransmits, fast_retransmits, timeouts, loss_events;
    uint64_t dup_packets_in;   /* data we already had */
    uint64_t slowdowns;
    uint64_t spurious;         /* retransmissions found needless (reordering), window cuts undone */
    uint32_t reorder;          /* packets of reordering tolerated before a loss is assumed */
} pf_utp_stats;

enum { PF_UTP_SYN_SENT = 1, PF_UTP_SYN_RECV, PF_UTP_CONNECTED, PF_UTP_CLOSED };

/* A connection's counters and congestion state, copied into *out (also
 * from inside its closed callback). */
void pf_utp_stats_get(const pf_utp_conn *c, pf_utp_stats *out);

typedef struct pf_utp_ctx_stats {
    uint32_t conns;
    uint64_t accepted, refused;  /* SYNs: new connections; refused (max_conns, no accept) */
    uint64_t resets_sent, resets_in;
    uint64_t invalid;            /* uTP packets dropped: malformed, out of window, unknown */
} pf_utp_ctx_stats;

/* The context's counters, copied into *out. */
void pf_utp_ctx_stats_get(const pf_utp_ctx *x, pf_utp_ctx_stats *out);

#endif
