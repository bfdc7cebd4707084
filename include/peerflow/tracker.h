/* peerflow tracker: a BitTorrent tracker on the application's libuv loop,
 * as `peerflow tracker` runs it: HTTP (/announce and /scrape: BEP 3,
 * compact peers BEP 23, peers6 BEP 7, "retry in" BEP 31) and UDP (BEP 15:
 * connect, announce, scrape) on the same port number, serving the same
 * swarms under the same limits.
 *
 * Swarms are kept in memory with every growth bounded (torrents, peers per
 * torrent and in all, requests per source address, connections); see
 * pf_tracker_settings.  A peer is forgotten once it has not announced for
 * twice the gap it is expected to leave: the longer of the interval and
 * the longest gap it was seen to leave (clients re-announce at their own
 * floor whatever the interval says: libtorrent waits at least 300 s,
 * peerflow 15 s), or before it has shown one, of the interval and
 * client_floor_s.
 *
 * UDP (BEP 15): connection ids are stateless, a keyed hash of the
 * client's address under a secret that rotates every minute (128 bits
 * from the OS at start), accepted for 2 to 3 minutes.  An IPv4 client
 * gets IPv4 peers (6 bytes each), an IPv6 client IPv6 peers (18 bytes),
 * at most what fits one unfragmented datagram.  Up to 74 info-hashes per
 * scrape.  A well-formed request that cannot be served (an expired id,
 * over the rate limit, the tracker full) gets an error reply; a datagram
 * that is not well-formed gets none.
 *
 * Addresses: a peer is listed at the address its connection came from.
 * Behind a reverse proxy or load balancer, list the proxy in
 * trusted_proxies: its forwarded header (X-Forwarded-For, or Forwarded)
 * then names the client, read from the right and believed only as far as
 * trusted proxies vouch for it.  An announce's "ip" parameter is believed
 * only from a client that is itself trusted; from anyone else it is
 * ignored (an attacker could make the swarm dial a victim).  A UDP
 * announce's peer is the datagram's source address with the announced
 * port: BEP 15's ip field is ignored from anyone (UDP comes through no
 * proxy).
 *
 * Threading: every function runs on the loop's thread (or while the loop
 * is not running).  Lifetime: the server belongs to the loop until
 * pf_tracker_server_stop's done callback.  See docs/API.md. */
#ifndef PEERFLOW_TRACKER_H
#define PEERFLOW_TRACKER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "peerflow/peerflow.h"
#include "peerflow/token.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pf_tracker_server pf_tracker_server;

/* The header a trusted proxy writes the client's address in.  Only that
 * one is read: a proxy passes other headers through untouched, so the
 * client could have written them. */
enum pf_tracker_forwarded {
    PF_TRACKER_X_FORWARDED_FOR = 0, /* nginx, HAProxy, most load balancers */
    PF_TRACKER_FORWARDED = 1        /* RFC 7239 "Forwarded: for=..." */
};

#define PF_TRACKER_NO_LIMIT UINT32_MAX /* rate_per_min: no per-source limit */
#define PF_TRACKER_MAX_TRUSTED 64      /* trusted_proxies */

/* Settings grow by appending fields; a field's zero value means its
 * default.  Fill with pf_tracker_settings_default(), then set fields. */
typedef struct pf_tracker_settings {
    size_t size;                 /* set by pf_tracker_settings_default() */
    const char *bind;            /* IPv4 or IPv6 literal; NULL: "::" (IPv4
                                    too where the OS allows), or "0.0.0.0"
                                    on a host without IPv6 */
    uint16_t port;               /* 0 = any free port: see
                                    pf_tracker_server_port (the CLI's
                                    default is 6969) */
    uint32_t interval_s;         /* announce interval; 1800 */
    uint32_t min_interval_s;     /* "min interval"; interval_s / 2 */
    size_t max_torrents;         /* new ones refused beyond; 100,000 */
    size_t max_peers_per_torrent; /* the least recently seen replaced
                                    beyond; 10,000 */
    size_t max_peers_total;      /* new peers refused beyond; 2,000,000 */
    uint32_t numwant_default;    /* peers in a reply; 50 */
    uint32_t numwant_max;        /* 200 */
    size_t max_scrape;           /* torrents in one scrape reply; 256 */
    uint32_t rate_per_min;       /* announces + scrapes per minute from one
                                    IPv4 address or IPv6 /64, sustained;
                                    600; PF_TRACKER_NO_LIMIT: none.  Over
                                    it: a bencoded failure with "retry in" */
    uint32_t rate_burst;         /* requests a rested source may send at
                                    once; 300 */
    size_t max_rate_sources;     /* sources the limiter remembers; 65,536
                                    (about 1.5 MiB) */
    size_t max_conns;            /* open HTTP connections; 1024 (at the
                                    cap, idle ones make room, then
                                    newcomers wait their turn) */
    const char *const *trusted_proxies; /* addresses or CIDR networks
                                    ("127.0.0.1", "10.0.0.0/8",
                                    "2001:db8::/32"), copied by
                                    pf_tracker_server_start; at most
                                    PF_TRACKER_MAX_TRUSTED; none */
    size_t num_trusted_proxies;
    int forwarded_header;        /* enum pf_tracker_forwarded;
                                    X-Forwarded-For */
    uint32_t client_floor_s;     /* the longest a well-behaved client may
                                    wait between announces whatever the
                                    interval says; 300 (libtorrent's
                                    min_announce_interval) */
    uint64_t seed;               /* hash keys and peer selection; 0: from
                                    the clock and the process id */
    pf_log_fn log;               /* may be NULL; DEBUG logs every request */
    void *log_ud;
    pf_log_level log_level;      /* PF_LOG_ERROR (0) unless set */
    /* Appended fields (zero = default): */
    int no_udp;                  /* 1: HTTP only; 0: BEP 15 on UDP too, on
                                    the same port number (with port 0,
                                    one free for both) */
    const char *auth_keys_path;  /* subscribers only: a key file (see
                                    peerflow/token.h); every
                                    announce must carry token= signed by
                                    one of its keys for that torrent and
                                    not expired, else it gets a failure
                                    reason.  Read at start, and again
                                    when it changes (key rotation).  UDP
                                    announces carry no token: refused.
                                    NULL: anyone may announce */
    const char *const *metrics_allow; /* who may GET /metrics (the
                                    Prometheus text exposition):
                                    addresses or CIDR networks, copied,
                                    at most PF_TRACKER_MAX_TRUSTED; none:
                                    this host only (127.0.0.0/8, ::1);
                                    others get 403 */
    size_t num_metrics_allow;
    const char *policy_path;     /* the operator's kill switch and upload
                                    caps per title, PID or everyone (see
                                    docs/CLI.md, "The operator's
                                    switches"), read again when it
                                    changes; NULL: none */
    const char *alto_network_map_path; /* locality decided by the operator
                                    (P4P): an ALTO (RFC 7285) network map,
                                    JSON; each announce's peers come from
                                    the announcer's PID first, then by
                                    cost; PID names label QoE and match
                                    policy "pid" rules; read again when it
                                    changes; NULL: none */
    const char *alto_cost_map_path; /* its cost map (optional) */
} pf_tracker_settings;

/* Fills s with the defaults for a struct of `size` bytes (use the
 * pf_tracker_settings_default() wrapper). */
PF_EXTERN void pf_tracker_settings_init(pf_tracker_settings *s, size_t size);
static inline void pf_tracker_settings_default(pf_tracker_settings *s)
{
    pf_tracker_settings_init(s, sizeof *s);
}

/* Binds, listens and serves on loop.  s is copied (strings too).  Returns
 * 0 and *out, or PF_ERR_INVAL (no loop, s not filled by
 * pf_tracker_settings_default, a bad bind address), PF_ERR_PARSE (a
 * trusted proxy that is neither an address nor a network: named in an
 * ERROR log line), PF_ERR_LIMIT (more than PF_TRACKER_MAX_TRUSTED trusted
 * proxies), PF_ERR_NET (cannot listen on TCP or bind UDP: run the loop
 * once more so the failed listener is released) or PF_ERR_NOMEM; a key,
 * policy or ALTO file that cannot be read or does not parse stops it with
 * that error (PF_ERR_IO, PF_ERR_PARSE...), the file and the reason in an
 * ERROR log line. */
PF_EXTERN int pf_tracker_server_start(uv_loop_t *loop, const pf_tracker_settings *s,
                                      pf_tracker_server **out);
/* The bound port (useful with port 0). */
PF_EXTERN uint16_t pf_tracker_server_port(const pf_tracker_server *ts);

typedef struct pf_tracker_server_stats {
    size_t torrents, peers, seeders, leechers; /* now */
    uint64_t announces, scrapes, completed;
    uint64_t refused;      /* announces refused: a limit, or bad input */
    uint64_t expired;      /* peers forgotten for silence */
    uint64_t rate_limited; /* requests over the per-source limit */
    size_t conns;          /* HTTP connections open now */
    uint64_t accepted;     /* HTTP connections accepted */
    uint64_t evicted;      /* closed at the cap to make room */
    uint64_t timeouts;     /* closed for a slow head, silence or unread replies */
    uint64_t rejected;     /* malformed or oversized HTTP requests */
    uint64_t auth_refused; /* announces refused for their token (also in
                              refused) */
    uint64_t auth_reloads; /* times the key file was read again */
} pf_tracker_server_stats;
PF_EXTERN void pf_tracker_server_stats_get(const pf_tracker_server *ts, pf_tracker_server_stats *out);

/* BEP 15 counters (announces and scrapes over UDP are also in
 * pf_tracker_server_stats).  All zero with no_udp. */
typedef struct pf_tracker_udp_stats {
    uint64_t datagrams;  /* received */
    uint64_t connects;   /* connection ids handed out */
    uint64_t bad_connid; /* announces/scrapes with an unknown or expired id */
    uint64_t malformed;  /* not well-formed: dropped without a reply */
    uint64_t errors;     /* error replies (bad id, rate limit, limits) */
    uint64_t sent;       /* replies sent */
    uint64_t send_failed; /* replies the socket did not take (dropped) */
} pf_tracker_udp_stats;
PF_EXTERN void pf_tracker_server_udp_stats_get(const pf_tracker_server *ts, pf_tracker_udp_stats *out);
/* 1 if BEP 15 is served (on pf_tracker_server_port), else 0. */
PF_EXTERN int pf_tracker_server_udp(const pf_tracker_server *ts);

/* Stops listening and closes every connection; the server is freed once
 * libuv has closed its handles, then done(ud) runs (done may be NULL):
 * keep running the loop until then.  NULL is a no-op. */
PF_EXTERN void pf_tracker_server_stop(pf_tracker_server *ts, void (*done)(void *ud), void *ud);

#ifdef __cplusplus
}
#endif
#endif
