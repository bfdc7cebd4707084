/* The local media server: one torrent's files over HTTP/1.1 for players
 * (mpv, VLC, a browser) on the machine, on top of net/http_server and the
 * client's streaming API (pf_stream_*).
 *
 *   GET/HEAD /files/<i>/<name>  file i (the name is decorative), with
 *            /stream/<i>        Range support (206, 416, multi-range = 200)
 *   GET/HEAD /t/<path>          the file at that path in the torrent: a
 *                               packaged title's manifests and segments
 *                               (their relative URIs resolve here); the
 *                               first manifest asked for loads the title's
 *                               media timeline
 *   GET/HEAD /player/<name>     a web player's page and scripts, from the
 *                               directory pf_media_server_set_player_dir
 *                               names (404 without one)
 *   GET /playlist.m3u           every file, audio/video first
 *   GET /stats.json             torrent counters, per-file QoE, sources
 *   GET /metrics                Prometheus text format 0.0.4
 *   GET /                       an HTML index
 *   POST /control               {"upload":"off"|"on"}, {"metered":true|false}:
 *                               the torrent's client's switches
 *                               (pf_client_set_upload, _set_metered), at
 *                               once; answered with the upload state
 *
 * POST /control is taken from loopback peers only (403 otherwise, also
 * when bound to a LAN address), without an Origin header (403: a web
 * page's request), with Content-Type application/json (415), a body of at
 * most 1 KiB (413) that pf_media_control_parse accepts (400).  Other
 * routes take no body (413).
 *
 * A file response reads through one pf_stream opened at the range start,
 * 64 KiB per pf_stream_read, and reads again only once the socket has
 * taken the last chunk (the kernel's send buffer keeps the player fed
 * meanwhile): the player's pace is the playhead.  A client that goes away
 * closes its stream.
 *
 * Bounded memory: a connection holds at most 64 KiB in its stream's
 * buffer, one 64 KiB chunk (plus framing) queued unsent, and up to
 * 24 KiB of request input while a request is arriving (none once it is
 * parsed): about 160 KiB, so 64 connections hold about 10 MiB at most
 * whatever the clients do, beside the engine's read cache of verified
 * pieces its reads go through (measured: RSS +13 MB under
 * tests/it_http_flood.sh, 4 MiB of it that cache).  Connections waiting
 * for a slot hold no buffer.
 *
 * Hostile clients (see pf_media_server_limits): paths with "." / ".."
 * segments (also %2e-encoded), encoded slashes, backslashes, NUL or "//"
 * get 400 (pf_media_path_safe); a request line over 8 KiB 414, a head
 * over 8 KiB or 64 fields 431, then the connection closes; a client that
 * has not sent a whole request 10 s after its first byte gets 408 and is
 * closed (slowloris).  Floods: at 64 connections a newcomer replaces a
 * connection that is only waiting for a request (the one waiting
 * longest), else a stream whose client has read nothing for a second (the
 * longest unread first; streams unread for 2 s or more, which took the
 * most, last); if none may go it waits, unread, in the order it came,
 * until one may (as nginx leaves connections in its listen queue).  One
 * client (an address; every local client is 127.0.0.1) holds at most 8
 * streams it does not read: beyond, those that took the fewest bytes are
 * closed (a paused player took its buffer's worth, a flood's streams
 * nothing).  Not bound to loopback, one address holds at most 16
 * connections.  Range: one range; several ranges,
 * other units and invalid syntax (last < first, negative numbers) are
 * ignored (200, whole file); a valid range starting at or past the end
 * (however large the number) is 416 (see pf_http_range_parse).
 *
 * When bound to a loopback address, requests whose Host header does not
 * name loopback get 403 (DNS rebinding from a web page).
 *
 * Threading: everything runs on the client's loop thread (the loop the
 * application gave pf_client_new, see pf_client_loop()).  Lifetime: the
 * server is freed from libuv close callbacks after pf_media_server_stop,
 * so the loop must run afterwards.  See docs/API.md. */
#ifndef PEERFLOW_MEDIA_SERVER_H
#define PEERFLOW_MEDIA_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "peerflow/client.h"
#include "peerflow/peerflow.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pf_media_server pf_media_server;

/* Starts serving t on bind:port (bind NULL = "127.0.0.1"; port 0 = any
 * free port) on loop, the client's (pf_client_loop).  t must outlive the
 * server; the files may be unknown yet (a magnet): until then file routes
 * answer 503 with Retry-After.  Default limits (see below).  Returns 0 and
 * *out, PF_ERR_INVAL (no loop or torrent, bad address), PF_ERR_NET (cannot
 * listen) or PF_ERR_NOMEM. */
PF_EXTERN int pf_media_server_start(pf_media_server **out, uv_loop_t *loop, pf_client_torrent *t,
                                    const char *bind, uint16_t port);
/* The bound port. */
PF_EXTERN int pf_media_server_port(const pf_media_server *ms);

/* Limits against slow or hostile clients.  Grows by appending fields; a
 * 0 field means its default.  Fill with pf_media_server_limits_default(),
 * then set fields. */
typedef struct pf_media_server_limits {
    size_t size;                /* set by pf_media_server_limits_default() */
    uint32_t header_timeout_ms; /* first byte to whole request; default
                                   10000 (408, then closed) */
    uint32_t idle_timeout_ms;   /* keep-alive wait for a next request;
                                   default 30000 */
    uint32_t send_timeout_ms;   /* no response byte taken for this long:
                                   closed.  Default none (UINT32_MAX): a
                                   paused player stops reading for as long
                                   as it is paused (but see the two
                                   below) */
    size_t max_conns;           /* default 64 */
    size_t max_conns_per_client; /* from one address (IPv4, IPv6 /64);
                                   default 16; not applied when bound to
                                   loopback (every local client is
                                   127.0.0.1); SIZE_MAX = no cap */
    uint32_t max_stalled_per_client; /* streams one address holds open
                                   without reading (nothing taken for 2 s);
                                   beyond, the ones that took the fewest
                                   bytes are closed; default 8 (an HLS demuxer keeps every variant's connection);
                                   UINT32_MAX = no cap */
    uint32_t stall_evict_ms;    /* at max_conns, a stream whose client has
                                   taken nothing for this long may be
                                   closed for a newcomer; default 1000 */
} pf_media_server_limits;

/* Fills l with the defaults for a struct of `size` bytes (use the
 * pf_media_server_limits_default() wrapper). */
PF_EXTERN void pf_media_server_limits_init(pf_media_server_limits *l, size_t size);
static inline void pf_media_server_limits_default(pf_media_server_limits *l)
{
    pf_media_server_limits_init(l, sizeof *l);
}
/* Applies l (NULL = defaults; a 0 field = its default, UINT32_MAX = no
 * timeout or cap) to connections from now on. */
PF_EXTERN void pf_media_server_set_limits(pf_media_server *ms, const pf_media_server_limits *l);

typedef struct pf_media_server_stats {
    size_t conns;            /* connections open now (waiting ones aside) */
    size_t waiting;          /* accepted at the cap, waiting for a slot */
    size_t streams;          /* file responses being streamed now */
    uint64_t accepted;
    uint64_t waited;         /* had to wait for a slot */
    uint64_t evicted;        /* closed at the cap for a newcomer */
    uint64_t refused;        /* closed at once: over max_conns_per_client */
    uint64_t stalled_closed; /* over max_stalled_per_client */
    uint64_t timeouts;       /* a slow head (408), silence, an unread reply */
    uint64_t rejected;       /* malformed or oversized requests (4xx) */
} pf_media_server_stats;
PF_EXTERN void pf_media_server_stats_get(const pf_media_server *ms, pf_media_server_stats *out);

/* "http://127.0.0.1:PORT" (the bound address; loopback for a wildcard
 * bind), without a trailing slash.  Valid while ms is. */
PF_EXTERN const char *pf_media_server_base_url(const pf_media_server *ms);
/* Appends the absolute URL of file i ("<base>/files/<i>/<name>", the name
 * percent-encoded), NUL-terminated (the NUL not counted in out->len).
 * Returns 0 or PF_ERR_NOMEM. */
PF_EXTERN int pf_media_server_file_url(const pf_media_server *ms, uint32_t i, pf_buf *out);
/* A packaged title (HLS, DASH) at the top of the torrent: appends the URL
 * of its manifest of that kind ("<base>/t/<path>"; hls 1: "master.m3u8",
 * else the only top-level .m3u8; hls 0: the only top-level .mpd), whose
 * relative URIs then name the title's files on this server.  A player
 * given it plays the title adaptively, its segments following one media
 * timeline in the engine (see pf_torrent_set_media), which this call
 * starts loading (before a player asks).  Returns 0,
 * PF_ERR_NOTFOUND (no such manifest, or no metadata yet), PF_ERR_NOMEM. */
PF_EXTERN int pf_media_server_title_url(const pf_media_server *ms, int hls, pf_buf *out);
/* Serves dir's regular files at GET/HEAD /player/<name>, so that a web
 * player (hls.js, dash.js) runs on the same origin as the title it plays.
 * Only names of one path segment of [A-Za-z0-9._-], not starting with
 * '.', with the extensions html/htm, js/mjs, css, map/json (served with
 * their types, X-Content-Type-Options: nosniff and no caching); the
 * resolved path (symbolic links followed) must lie inside dir's resolved
 * path; no directory listing; files of at most 16 MiB, read whole on the
 * loop thread when asked for (a page and its scripts, not media).  Off
 * (404) until called; NULL turns it off again.  Whatever the page's
 * scripts do runs with this origin's rights: it can read /stats.json,
 * and POST /control refuses requests with an Origin header.  dir is
 * copied.  Returns 0, PF_ERR_INVAL (not a directory), PF_ERR_NOMEM. */
PF_EXTERN int pf_media_server_set_player_dir(pf_media_server *ms, const char *dir);
/* 1 once every file (BEP 47 pad files aside) has been sent completely,
 * in one response or in pieces across several, else 0 (also while the
 * file list is unknown). */
PF_EXTERN int pf_media_server_all_served(const pf_media_server *ms);
/* Pacing of an adaptive title's segments (HLS, DASH with several
 * renditions of a kind).  PF_MEDIA_PACE_OFF, the default: everything goes
 * as fast as it is there.  PF_MEDIA_PACE_AUTO: such a segment goes to the
 * player no faster than this viewer's network has shown it can bring
 * (pf_torrent_stats.down_peak_rate: the best second of download while
 * the CDN was fetching, when the link is the bottleneck), even when the engine holds it already, so that a
 * throughput-based player never times a segment at loopback speed and
 * steps up past what the network carries; bytes the engine had to wait
 * for are never held back; nothing is paced before a rate is measured.
 * Manifests, init segments, single-rendition tracks and progressive
 * files are never paced.  Off by default: in the lab's abr scenario
 * (docs/BENCHMARKS.md) it cost 4-5 % of the mean bitrate and no run
 * without it stalled once the engine fetches a waited-for segment alone
 * on the link. */
enum { PF_MEDIA_PACE_AUTO = 0, PF_MEDIA_PACE_OFF = 1 };
PF_EXTERN void pf_media_server_set_pacing(pf_media_server *ms, int mode);
/* File responses being streamed right now. */
PF_EXTERN size_t pf_media_server_busy(const pf_media_server *ms);
/* Closes every stream at once and every connection; the memory is freed
 * from libuv close callbacks, so the loop must run afterwards.  NULL is a
 * no-op. */
PF_EXTERN void pf_media_server_stop(pf_media_server *ms);

/* Appends the /stats.json document for t (pf_client_torrent_stats, the QoE
 * of files that have been read, pf_client_torrent_sources, the client's
 * pf_client_upload_status and pf_client_datagram_stats), NUL-terminated
 * (the NUL not counted in out->len).  Returns 0 or PF_ERR_NOMEM.  Used by
 * `peerflow play --stats` too. */
PF_EXTERN int pf_media_stats_collect(pf_client_torrent *t, pf_buf *out);
/* 1 if path names an audio or video file by its extension (the file a
 * player is started on), else 0. */
PF_EXTERN int pf_media_is_media(const char *path);

#ifdef __cplusplus
}
#endif
#endif
