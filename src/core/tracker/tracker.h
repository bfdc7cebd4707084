/* A BitTorrent tracker core (opentracker-like), sans-I/O: HTTP requests
 * (BEP 3, 23, 7, 48) and UDP datagrams (BEP 15, core/tracker/udp.c) on
 * the same swarms, limits and rate limits.
 *
 * Swarms live in a hash table keyed by info-hash (keyed hash, seeded by
 * the caller); each swarm keeps its peers as fixed-size records in a
 * vector sorted by address.  Memory is bounded by max_torrents,
 * max_peers_per_torrent and max_peers_total.  Time is passed in; a peer
 * is dropped by pf_tracker_expire when it has not announced for twice the
 * gap it is expected to leave between announces: the larger of interval
 * and the longest gap it was seen to leave between two announces, or,
 * before it announced a second time, of interval and client_floor_s
 * (clients re-announce no sooner than their own floor whatever interval
 * says: libtorrent's min_announce_interval is 300 s, peerflow's 15 s).
 * Randomness
 * (peer selection) comes from a per-tracker generator seeded from the
 * config: no global state.
 *
 * Floods: every announce and scrape first passes a per-source rate limit
 * (a token bucket per IPv4 address or IPv6 /64, kept as one "theoretical
 * arrival time" per source: GCRA).  The sources live in a fixed table of
 * max_rate_sources entries, 8-way set-associative under the keyed hash;
 * a new source replaces the most rested one of its set, so memory never
 * grows with the number of sources.  A request over the limit gets a
 * bencoded "failure reason" ("rate limit exceeded") with a BEP 31
 * "retry in" (minutes) and costs nothing else. */
#ifndef PF_CORE_TRACKER_H
#define PF_CORE_TRACKER_H

#include <stddef.h>
#include <stdint.h>

#include "core/codec/http_parse.h"
#include "core/tracker/connid.h"
#include "core/tracker/policy.h"
#include "core/tracker/proxy.h"
#include "core/util/addr.h"
#include "core/util/log.h"
#include "core/util/buf.h"
#include "peerflow/peerflow.h"

typedef struct pf_tracker pf_tracker;

typedef struct pf_tracker_config {
    uint32_t interval_s;          /* announce interval; default 1800 */
    uint32_t min_interval_s;      /* default interval_s / 2 (0 = that) */
    size_t max_torrents;          /* default 100,000; new ones refused */
    size_t max_peers_per_torrent; /* default 10,000; oldest evicted */
    size_t max_peers_total;       /* default 2,000,000; new peers refused */
    uint32_t numwant_default;     /* default 50 */
    uint32_t numwant_max;         /* default 200 */
    size_t max_scrape;            /* torrents in one scrape reply; 256 */
    uint64_t seed;                /* hash key and peer-selection seed */
    pf_log_fn log;                /* may be NULL */
    void *log_ud;
    pf_log_level log_level;       /* default PF_LOG_INFO */
    /* Appended fields (zero = default): */
    uint32_t ip_rate_per_min;     /* sustained announces+scrapes per source
                                     (IPv4 address, IPv6 /64) per minute;
                                     default 600 (10/s: a client announces
                                     each torrent every interval_s);
                                     PF_TRACKER_UNLIMITED turns it off */
    uint32_t ip_burst;            /* requests a rested source may send at
                                     once; default 300 */
    size_t max_rate_sources;      /* sources remembered; default 65,536
                                     (about 1.5 MiB) */
    const pf_net *trusted_proxies; /* copied (the first
                                     PF_TRACKER_MAX_PROXIES): reverse
                                     proxies whose forwarded_header names
                                     the client, and clients whose "ip"
                                     parameter is believed; none by
                                     default (then the socket's address is
                                     the client, always) */
    size_t num_trusted_proxies;
    pf_fwd_header forwarded_header; /* the header those proxies set;
                                     default X-Forwarded-For */
    uint32_t client_floor_s;      /* see the top of this file; default
                                     PF_TRACKER_CLIENT_FLOOR_S */
    size_t max_qoe_series;        /* (title, PID) pairs whose QoE is kept
                                     apart; default 4096 (core/tracker/qoe.h) */
    size_t max_qoe_streams;       /* live streams remembered; default 65536 */
    uint8_t udp_secret[16];       /* entropy for BEP 15 connection ids
                                     (core/tracker/connid.h); the adapter
                                     takes it from the OS.  All zero:
                                     derived from seed (tests) */
} pf_tracker_config;

#define PF_TRACKER_CLIENT_FLOOR_S 300u /* libtorrent's min_announce_interval */
#define PF_TRACKER_MAX_GAP_S 86400u    /* a peer's observed gap is capped */

#define PF_TRACKER_UNLIMITED UINT32_MAX

/* Why announces are refused, for metrics: the failure reasons grouped. */
enum {
    PF_TRACKER_R_INVALID,      /* a bad info_hash, peer_id, port, address */
    PF_TRACKER_R_FULL,         /* tracker full */
    PF_TRACKER_R_MISSING_TOKEN,
    PF_TRACKER_R_MALFORMED_TOKEN,
    PF_TRACKER_R_UNKNOWN_KEY,
    PF_TRACKER_R_BAD_SIGNATURE,
    PF_TRACKER_R_WRONG_TORRENT,
    PF_TRACKER_R_EXPIRED,
    PF_TRACKER_R_OTHER,
    PF_TRACKER_NREASONS
};
/* The label of reason i ("missing_token"), or NULL out of range. */
const char *pf_tracker_reason_label(int i);

typedef struct pf_tracker_stats {
    size_t torrents;
    size_t peers, seeders, leechers;
    uint64_t announces, scrapes, completed, refused, expired;
    uint64_t rate_limited;  /* requests refused by the per-source limit */
    size_t rate_sources;    /* sources in the limiter table now */
    /* BEP 15 (announces and scrapes above count both fronts) */
    uint64_t udp_datagrams;   /* datagrams handed to pf_tracker_handle_udp */
    uint64_t udp_connects;    /* connection ids handed out */
    uint64_t udp_bad_connid;  /* announces/scrapes with an unknown or expired id */
    uint64_t udp_malformed;   /* dropped without a reply */
    uint64_t udp_errors;      /* error replies sent (any reason) */
    uint64_t auth_refused;    /* announces refused for their token */
    uint64_t refused_by[PF_TRACKER_NREASONS]; /* refused announces by reason
                                    (pf_tracker_reason_label) */
} pf_tracker_stats;

/* Fills the defaults above (seed 0). */
void pf_tracker_config_default(pf_tracker_config *cfg);
/* cfg is copied; NULL means defaults.  Zero fields take their default.
 * Returns NULL on allocation failure. */
pf_tracker *pf_tracker_new(const pf_tracker_config *cfg);
void pf_tracker_free(pf_tracker *t);

/* Handles GET <path>?<query> (query raw, still percent-encoded, without
 * '?'; may be NULL).  path is matched exactly against "/announce" and
 * "/scrape".  remote is the TCP peer address (port ignored); a v4-mapped
 * IPv6 address counts as IPv4.  No request headers: the client is remote,
 * and its "ip" parameter is honoured only when remote is a trusted proxy
 * (see pf_tracker_config).  Appends the reply body to body_out and returns
 * the HTTP status: 200 (also for a bencoded "failure reason" reply), 404
 * (unknown path, empty body) or 500 (out of memory, empty body).
 *
 * announce: info_hash and peer_id (20 bytes each), port (1-65535)
 * required; uploaded, downloaded, left, event (started, completed,
 * stopped, empty), compact (default 1), no_peer_id, numwant, ip.
 * Replies with complete, downloaded, incomplete, interval, min interval,
 * peers (compact: IPv4 only, 6 bytes each; otherwise a list of dicts with
 * ip, port and, unless no_peer_id, peer id) and, when compact, peers6.
 * The requester is never among the returned peers.
 * scrape: zero or more info_hash; none means all (up to max_scrape).
 * Both first pass the per-source rate limit (keyed by the client's
 * address, never by the "ip" parameter); over it, the reply is 200 with
 * "failure reason" and "retry in". */
int pf_tracker_handle_http(pf_tracker *t, const char *path, const char *query,
                           const pf_addr *remote, uint64_t now_ns, pf_buf *body_out);
/* The same for a parsed request (req borrowed for the call): from a
 * trusted proxy, the client is the address its forwarded header names
 * (see core/tracker/proxy.h), and the "ip" parameter is honoured only
 * when that client is itself trusted; from anyone else, both are
 * ignored. */
int pf_tracker_handle_request(pf_tracker *t, const pf_http_request *req, const pf_addr *remote,
                              uint64_t now_ns, pf_buf *body_out);

/* BEP 15: handles one datagram from `from` (its source address and port;
 * a v4-mapped IPv6 address counts as IPv4), on the same swarms, limits
 * and per-source rate limit as HTTP.  Writes the reply into out (cap
 * bytes; PF_TRACKER_UDP_REPLY_MAX always suffices, a smaller cap gets
 * fewer peers) and returns its length, or 0: no reply.
 *
 * connect: an id from core/tracker/connid.h, bound to from's address.
 * announce (98 bytes or more) and scrape (1 to PF_UDPT_SCRAPE_MAX hashes;
 * more are left out) with an id that address was given: served, or an
 * error reply (an expired id, over the rate limit, a port of 0, the
 * tracker full).  The peer is from's address with the announced port: the
 * request's ip field is ignored, from anyone (UDP comes through no
 * proxy).  An announce's peers are of from's family only, 6-byte IPv4 or
 * 18-byte IPv6 entries (BEP 15), at most numwant_max and what fits one
 * unfragmented datagram (242 IPv4, 79 IPv6).  Anything not well-formed
 * (short, no protocol id, an unknown action) gets no reply. */
#define PF_TRACKER_UDP_REPLY_MAX 1500
size_t pf_tracker_handle_udp(pf_tracker *t, const pf_addr *from, const uint8_t *data, size_t n,
                             uint64_t now_ns, uint8_t *out, size_t cap);

/* Drops peers not seen for twice their expected gap (see the top of this
 * file) and empty swarms.  Returns the number of peers dropped. */
size_t pf_tracker_expire(pf_tracker *t, uint64_t now_ns);
/* Suggested delay until the next pf_tracker_expire call, in ns. */
uint64_t pf_tracker_expire_period_ns(const pf_tracker *t);

void pf_tracker_stats_get(const pf_tracker *t, pf_tracker_stats *out);
/* Appends the Prometheus text exposition (version 0.0.4) of the stats:
 * swarms, peers by state, announces, scrapes, completions, expiries,
 * refusals by reason, rate limiting, BEP 15 counts.  0 or PF_ERR_NOMEM. */
int pf_tracker_metrics(const pf_tracker *t, pf_buf *out);

/* Subscribers only (core/tracker/auth.h): every announce must carry a
 * token= that keys (borrowed until replaced; NULL: anyone) admit for its
 * info-hash at the Unix time last set, else it gets the failure reason
 * (HTTP) or an error reply (UDP, which carries no token).  The adapter
 * sets the time before each request. */
struct pf_auth_keys;
void pf_tracker_set_auth(pf_tracker *t, const struct pf_auth_keys *keys);
void pf_tracker_set_unix_time(pf_tracker *t, uint64_t unix_s);

/* POST /qoe: a viewer's QoE report (core/tracker/qoe.h for the body),
 * body[0..n) borrowed.  From behind a trusted proxy the client is the one
 * it forwards for (its PID is the one counted).  Returns the HTTP
 * status: 204 (added), 400 (malformed), 403 (no good token for that
 * title, when keys are set), 415 (not a form), 429 (over the source's
 * rate limit), 503 (no room for another stream), 500; *why says why for
 * anything but 204. */
int pf_tracker_handle_qoe(pf_tracker *t, const pf_http_request *req, const pf_addr *remote, const uint8_t *body,
                          size_t n, uint64_t now_ns, const char **why);

/* The operator's kill switch and upload caps (core/tracker/policy.h;
 * borrowed until replaced; NULL: none).  An announce it switches P2P off
 * for gets no peer (HTTP and UDP), and an HTTP reply says so:
 * "peerflow": {"p2p": 0, "upload cap": N} (a cap alone: "p2p": 1). */
void pf_tracker_set_policy(pf_tracker *t, const pf_tracker_policy *p);

/* Locality decided by the operator (P4P): an ALTO network map and cost
 * map (core/tracker/alto.h; borrowed until replaced; NULL: none).  Each
 * announce's peers come from the announcer's PID first, then by cost
 * (HTTP and UDP; see choose_peers in tracker.c); an HTTP reply to an
 * announcer in a PID lists that PID's networks (the first
 * PF_TRACKER_LOCAL_NETS) as "peerflow": {"local nets": ["10.1.0.0/16",
 * ...]}, which a peerflow client serves first as it does --local-net;
 * the PID names label the QoE series and match the policy's "pid"
 * rules. */
#define PF_TRACKER_LOCAL_NETS 16 /* the announcer's PID's networks sent back */
struct pf_alto_map;
void pf_tracker_set_alto(pf_tracker *t, const struct pf_alto_map *m);

/* ---- internal: between tracker.c (the swarms) and udp.c (BEP 15) ---- */

enum { PF_TRACKER_EV_NONE, PF_TRACKER_EV_STARTED, PF_TRACKER_EV_COMPLETED, PF_TRACKER_EV_STOPPED };

typedef struct pf__announce {
    const uint8_t *info_hash, *peer_id; /* 20 bytes each, borrowed */
    pf_addr addr;                       /* the peer: normalised, with its port */
    uint64_t left;
    int event;                          /* PF_TRACKER_EV_* */
} pf__announce;

/* A swarm as one request found or left it; valid until the next call
 * into the tracker. */
typedef struct pf__swarm_view {
    const void *torrent; /* NULL: not known */
    size_t self;         /* the announcer's index, SIZE_MAX for none */
    int pid;             /* the announcer's ALTO PID, -1 none */
} pf__swarm_view;

/* Applies an announce (the rules are HTTP's: a stopped peer is removed, a
 * new one inserted within the limits).  Returns 0 and *view, or
 * PF_ERR_LIMIT with *why (the failure reason HTTP sends), PF_ERR_NOMEM.
 * Counts nothing but completions. */
int pf__tracker_announce(pf_tracker *t, const pf__announce *a, uint64_t now, pf__swarm_view *view,
                         const char **why);
/* Writes up to `want` compact peers of `family` (6 or 18 bytes each; out
 * holds want of them), chosen at random, never the announcer; returns the
 * bytes written. */
size_t pf__tracker_compact_peers(pf_tracker *t, const pf__swarm_view *v, int family, size_t want,
                                 uint8_t *out);
void pf__swarm_counts(const pf__swarm_view *v, uint32_t *seeders, uint32_t *completed,
                      uint32_t *leechers);
/* The swarm of one info-hash (for a scrape). */
void pf__tracker_scrape_one(pf_tracker *t, const uint8_t ih[20], pf__swarm_view *v);
/* The per-source limit: 0 (and charged), or ns to wait (counted in
 * rate_limited). */
uint64_t pf__tracker_rate_check(pf_tracker *t, const pf_addr *client, uint64_t now);
/* The text form of an address without its port. */
void pf__tracker_ip_text(const pf_addr *a, char *out, size_t cap);
/* v4-mapped IPv6 as IPv4, unused bytes zeroed. */
pf_addr pf__tracker_addr_norm(const pf_addr *a);
const pf_tracker_config *pf__tracker_config(const pf_tracker *t);
pf_tracker_stats *pf__tracker_counters(pf_tracker *t);
int pf__tracker_needs_token(const pf_tracker *t);
/* Counts a refused announce under its failure reason (why). */
void pf__tracker_refused(pf_tracker *t, const char *why);
pf__connid *pf__tracker_connid(pf_tracker *t);
/* The viewer's PID name (its ISP or region), or NULL: not known. */
const char *pf__tracker_pid(const pf_tracker *t, const pf_addr *a);
/* The policy's verdict for an announce of ih from viewer. */
void pf__tracker_verdict(const pf_tracker *t, const uint8_t ih[20], const pf_addr *viewer, pf_policy_verdict *out);
pf_logger *pf__tracker_logger(pf_tracker *t);

#endif
