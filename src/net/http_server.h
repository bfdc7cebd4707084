/* A small HTTP/1.1 server on libuv, parsing with core/http_parse.
 *
 * One request per connection is in flight at a time (pipelined requests
 * wait in a bounded buffer).  A handler gets a pf_http_res and either
 * answers at once (pf_http_res_send) or streams: pf_http_res_start, then
 * pf_http_res_write over time, then pf_http_res_end.  Writes are copied
 * and queued; a producer watches pf_http_res_queued and/or sets a drain
 * callback to respect backpressure.  Bodies with a known length go out
 * with Content-Length, otherwise chunked (HTTP/1.1) or close-delimited
 * (HTTP/1.0).  For HEAD only the header block is sent; body writes are
 * counted and discarded, so the same handler serves GET and HEAD.
 *
 * Lifetimes: the server and everything it hands out belong to the loop's
 * thread.  `req` and `body` passed to on_request are borrowed for the
 * call.  A pf_http_res is valid from on_request until the handler calls
 * pf_http_res_end/pf_http_res_send, or until its close callback returns
 * (the client went away or the server stopped before the end), whichever
 * comes first.  A client EOF counts as going away. */
#ifndef PF_NET_HTTP_SERVER_H
#define PF_NET_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/util/addr.h"
#include "core/codec/http_parse.h"
#include "peerflow/peerflow.h"

typedef struct pf_http_server pf_http_server;
typedef struct pf_http_res pf_http_res;

typedef void (*pf_http_request_cb)(pf_http_res *res, const pf_http_request *req,
                                   const uint8_t *body, size_t body_len, void *ud);
typedef void (*pf_http_res_cb)(pf_http_res *res, void *ud);

typedef struct pf_http_server_config {
    const char *bind;          /* IPv4/IPv6 literal; NULL = "0.0.0.0"; "::"
                                  is dual-stack where the OS allows */
    uint16_t port;             /* 0 = ephemeral; see pf_http_server_port */
    size_t max_head;           /* default and cap PF_HTTP_MAX_HEAD */
    size_t max_body;           /* request bodies; default 64 KiB (413) */
    size_t max_conns;          /* default 1024.  At the cap, a new
                                  connection replaces another, in this
                                  order (oldest first within each): an
                                  idle keep-alive one; one lingering after
                                  its reply; one still sending its head;
                                  a response whose client has taken
                                  nothing for stall_evict_ms but not for
                                  stalled_ms (the longest unread first);
                                  one unread for stalled_ms or more (a
                                  paused player; the one that took the
                                  fewest bytes first).  A connection that
                                  arrived less than PF_HTTP_YOUNG_MS ago
                                  stays.  If none may go (every other
                                  connection has a response its client is
                                  reading, or has just arrived), the new
                                  one waits, unread, for a slot, in the
                                  order they came (see max_waiting) */
    uint32_t idle_timeout_ms;  /* a connection with no response in progress
                                  and no byte of a next request: closed
                                  silently after this; default 30000;
                                  0 = none */
    pf_http_request_cb on_request;
    void *ud;
    pf_log_fn log; /* may be NULL */
    void *log_ud;
    pf_log_level log_level; /* default PF_LOG_INFO */
    /* Appended fields (zero = default): */
    uint32_t header_timeout_ms; /* from the first byte of a request until
                                   its head and body are complete (not
                                   reset by further bytes: a client that
                                   trickles its headers is cut off);
                                   answered 408, then closed; default
                                   10000; UINT32_MAX = none */
    uint32_t send_timeout_ms;   /* response bytes queued and none written
                                   for this long (the client stopped
                                   reading): the connection is closed (the
                                   response's close callback runs);
                                   default 60000; UINT32_MAX = none */
    uint32_t stall_evict_ms;    /* at max_conns, a response whose client
                                   has read nothing for this long may be
                                   closed for a new connection; default
                                   PF_HTTP_STALL_EVICT_MS */
    uint32_t send_buffer;       /* SO_SNDBUF of each connection (bytes);
                                   0 = the kernel's (autotuned) */
    size_t max_conns_per_addr;  /* connections from one client address
                                   (IPv4 address or IPv6 /64); a new one
                                   over it replaces that address's own
                                   most evictable connection (the order
                                   of max_conns) or is closed at once.
                                   0 = max_conns (no cap of its own) */
    uint32_t max_stalled_per_addr; /* responses from one client address
                                   whose client has taken nothing for
                                   stalled_ms (a stream it holds open
                                   without reading): beyond this many, the
                                   ones that have taken the fewest bytes
                                   are closed.  0 = no cap */
    uint32_t stalled_ms;        /* see max_stalled_per_addr; default
                                   PF_HTTP_STALLED_MS */
    size_t max_waiting;         /* connections accepted at max_conns that
                                   wait for a slot (unread, in the order
                                   they came); past these, the kernel's
                                   listen backlog holds newcomers.
                                   Default PF_HTTP_MAX_WAITING */
} pf_http_server_config;

/* Defaults of the fields above. */
#define PF_HTTP_HEADER_TIMEOUT_MS 10000u
#define PF_HTTP_IDLE_TIMEOUT_MS 30000u
#define PF_HTTP_SEND_TIMEOUT_MS 60000u
#define PF_HTTP_MAX_CONNS 1024u
#define PF_HTTP_STALL_EVICT_MS 10000u
#define PF_HTTP_STALLED_MS 2000u
#define PF_HTTP_MAX_WAITING 256u
/* A connection waiting for a request this long or less is only evicted
 * when nothing older can go (it is most likely a client sending its
 * request right now). */
#define PF_HTTP_YOUNG_MS 100u

void pf_http_server_config_default(pf_http_server_config *cfg);
/* Binds and listens.  Returns 0 and *out, PF_ERR_INVAL (bad bind address,
 * no on_request), PF_ERR_NET (bind/listen failed; run the loop once more
 * so the failed listener is released) or PF_ERR_NOMEM. */
int pf_http_server_start(uv_loop_t *loop, const pf_http_server_config *cfg,
                         pf_http_server **out);
/* The bound port (useful with port 0). */
uint16_t pf_http_server_port(const pf_http_server *s);
/* Changes the limits above for the running server: 0 = the default,
 * UINT32_MAX = no timeout.  Timers already running keep their length. */
void pf_http_server_set_limits(pf_http_server *s, uint32_t header_timeout_ms,
                               uint32_t idle_timeout_ms, uint32_t send_timeout_ms,
                               size_t max_conns);

/* Changes the per-client limits (see the config fields of those names):
 * 0 = no cap; stall_evict_ms 0 = the default. */
void pf_http_server_set_client_limits(pf_http_server *s, size_t max_conns_per_addr,
                                      uint32_t max_stalled_per_addr, uint32_t stall_evict_ms);

typedef struct pf_http_server_stats {
    size_t conns;                 /* open now (admitted) */
    size_t waiting;               /* accepted, waiting for a slot now */
    uint64_t accepted;
    uint64_t waited;              /* accepted at the cap: had to wait */
    uint64_t refused;             /* closed at once: over max_conns_per_addr
                                     with nothing of its own to evict */
    uint64_t evicted;             /* waiting connections replaced at the cap */
    uint64_t header_timeouts;     /* 408 */
    uint64_t idle_timeouts;
    uint64_t send_timeouts;
    uint64_t rejected;            /* 4xx/5xx for malformed or oversized requests */
    uint64_t stalled_closed;      /* over max_stalled_per_addr */
} pf_http_server_stats;
void pf_http_server_stats_get(const pf_http_server *s, pf_http_server_stats *out);
/* Stops listening and closes every connection (close callbacks fire for
 * unfinished responses).  The server is freed once libuv has closed its
 * handles, after which done(ud) runs (done may be NULL); keep running the
 * loop until then. */
void pf_http_server_stop(pf_http_server *s, void (*done)(void *ud), void *ud);

/* --- responses -------------------------------------------------------- */

/* The client's address (v4-mapped IPv6 is reported as IPv4). */
const pf_addr *pf_http_res_remote(const pf_http_res *res);
/* 1 if the request was HEAD (bodies are not sent). */
int pf_http_res_is_head(const pf_http_res *res);

/* Whole response at once: status line, Content-Type (may be NULL),
 * Content-Length, Connection; body copied (not sent for HEAD).  Ends the
 * response.  Returns 0, PF_ERR_INVAL (already started or ended),
 * PF_ERR_CLOSED (client gone; the response is still ended) or
 * PF_ERR_NOMEM. */
int pf_http_res_send(pf_http_res *res, int status, const char *content_type,
                     const void *body, size_t len);
/* Sends the header block.  head->keep_alive and head->chunked are decided
 * by the server; content_length < 0 means unknown.  Returns 0,
 * PF_ERR_INVAL, PF_ERR_CLOSED or PF_ERR_NOMEM. */
int pf_http_res_start(pf_http_res *res, const pf_http_resp_head *head);
/* Queues n body bytes (copied).  Returns 0, PF_ERR_INVAL (not started,
 * or past the declared Content-Length), PF_ERR_CLOSED or PF_ERR_NOMEM. */
int pf_http_res_write(pf_http_res *res, const void *p, size_t n);
/* Finishes the response; res must not be used afterwards.  Ending short
 * of a declared Content-Length closes the connection.  Returns 0 or
 * PF_ERR_CLOSED / PF_ERR_INVAL. */
int pf_http_res_end(pf_http_res *res);
/* Bytes handed to the socket and not yet written. */
size_t pf_http_res_queued(const pf_http_res *res);
/* cb runs once each time the queue falls to <= low_water after having
 * exceeded it, until the response ends. */
void pf_http_res_set_drain(pf_http_res *res, size_t low_water, pf_http_res_cb cb,
                           void *ud);
/* cb runs if the connection closes before the response ended. */
void pf_http_res_set_close(pf_http_res *res, pf_http_res_cb cb, void *ud);

#endif
