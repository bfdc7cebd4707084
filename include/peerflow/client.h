/* peerflow client: the engine on a libuv loop with TCP peers, files on
 * disk, HTTP trackers and web seeds.  One pf_client runs many torrents.
 *
 * The loop is the application's (as with uv_tcp_init, the caller owns it):
 * pass it in pf_client_settings.loop and run it as the application wishes,
 * or leave it NULL and let pf_client_run drive a loop of the client's own.
 * The client installs no signal handler and changes no process-wide
 * setting.  As with libuv itself, the application ignores SIGPIPE (a write
 * to a peer that has gone away must fail with EPIPE, not end the process):
 * signal(SIGPIPE, SIG_IGN) once at start-up.
 *
 * Threading: every function here runs on the loop's thread (from the
 * loop's callbacks, or while the loop is not running), except
 * pf_client_post, which any thread may call.  Callbacks (events, stream
 * reads, posts) run on the loop's thread.  See docs/API.md. */
#ifndef PEERFLOW_CLIENT_H
#define PEERFLOW_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "peerflow/metainfo.h"
#include "peerflow/peerflow.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pf_client pf_client;
typedef struct pf_client_torrent pf_client_torrent;

enum pf_client_event {
    PF_CLIENT_TICK = 1,     /* once a second */
    PF_CLIENT_METADATA,     /* a magnet's info dict arrived (its files are
                               known and streams can be read from now) */
    PF_CLIENT_CHECKED,      /* existing data verified */
    PF_CLIENT_COMPLETE,     /* every wanted piece downloaded and verified
                               (every piece, unless files are skipped) */
    PF_CLIENT_ERROR,        /* a torrent hit a fatal error (err) */
    PF_CLIENT_STOPPED,      /* pf_client_stop() finished */
    PF_CLIENT_REMOVED       /* pf_client_torrent_remove() finished: t is
                               valid for this call only */
};
typedef void (*pf_client_event_fn)(void *ud, pf_client *c, int event, pf_client_torrent *t,
                                   int err);

/* Settings grow by appending fields, and a field's zero value always means
 * its default.  pf_client_settings_default() records the size of the
 * struct the caller was compiled with: the library reads that many bytes
 * only, so a program built against an older header keeps working with a
 * newer library.  Fill with pf_client_settings_default(), then set fields. */
typedef struct pf_client_settings {
    size_t size;             /* set by pf_client_settings_default() */
    uv_loop_t *loop;         /* the application's loop; NULL: the client
                                makes one of its own (pf_client_run,
                                pf_client_loop) */
    const char *bind_addr;   /* listen address; NULL = "::" (dual stack) */
    uint16_t listen_port;    /* 0 = any free port */
    int listen;              /* 0 = accept no incoming connections */
    uint32_t max_peers;      /* per torrent; 0 = default (50) */
    uint32_t upload_slots;   /* 0 = default (8) */
    uint32_t max_connections; /* in all; 0 = default (200) */
    int upload_enabled;      /* default 1 */
    uint32_t cache_pieces;   /* read cache per torrent; 0 = default */
    uint64_t rng_seed;       /* 0 = seeded from the clock */
    pf_log_fn log;
    void *log_ud;
    pf_log_level log_level;
    pf_client_event_fn on_event;
    void *event_ud;
    /* Appended fields (zero = default): */
    uint64_t memory_limit;   /* bytes of piece buffers per torrent (pieces
                                in progress, read cache, write backlog);
                                0 = no limit (pf_session_settings) */
    uint32_t transports;     /* PF_TRANSPORTS_TCP / _UTP (session.h); 0 = TCP
                                (docs/CLI.md, "Transports": why) */
    int prefer_utp;          /* keep a uTP connection over a TCP one */
    uint32_t utp_target_delay_us; /* LEDBAT target; 0 = 100 ms */
    /* Upload budget (see pf_client_upload_status): at most upload_budget
     * payload bytes uploaded per period, kept in upload_budget_file
     * (required with a budget; its folder must exist) across restarts and
     * crashes, shared by every process using the same file.  The period is
     * the calendar month in local time ("2025-07") unless
     * upload_budget_period names one (any label of at most 15 bytes, e.g.
     * a billing cycle's; see pf_client_set_upload_budget_period). */
    uint64_t upload_budget;
    const char *upload_budget_file;
    const char *upload_budget_period;
    /* Conditions that turn uploads off while they hold:
     * PF_UPLOAD_OFF_METERED, PF_UPLOAD_OFF_BATTERY (peerflow.h). */
    uint32_t upload_off_when;
    /* The network counts as metered while this file exists (looked at
     * every 5 s); NULL: only pf_client_set_metered says so. */
    const char *metered_file;
    /* Cap uploads at this share (0-1] of the uplink as measured: the
     * highest upload rate seen (2 s averages) in the last 5 minutes while
     * the cap was not holding uploads back; see docs/API.md.  0 = none. */
    double upload_share;
    /* A stream's QoE summary (start-up, stalls, bytes by source, uploads,
     * budget) to its HTTP tracker's /qoe this often and when it stops, for
     * the operator's fleet view; 0 = every 60 s; PF_QOE_REPORT_OFF: never. */
    uint32_t qoe_report_ms;
    /* CMCD on web seed requests (pf_session_settings.cmcd): PF_CMCD_QUERY
     * (0, the default), PF_CMCD_HEADERS or PF_CMCD_OFF. */
    uint32_t cmcd;
    /* Verify on read's piece tags kept across restarts (docs/ARCHITECTURE.md,
     * "Verify on read: piece tags"): the installation's key file, read (or
     * created: 192 random bytes, mode 0600, missing folders 0700) by
     * pf_client_new, which borrows the string for the call only.  Keep it
     * outside the data folders: whoever can read it can forge tags.  With
     * it, each torrent's tags are saved beside its resume record and
     * restored at a fast resume, so a restarted seed's first read-backs
     * need no SHA-1.  NULL (the default): a fresh key each run, tags kept
     * in memory only.  A key file that cannot be read or created is
     * logged (warning) and treated as NULL. */
    const char *tag_key_file;
} pf_client_settings;

/* Fills s with the defaults for a struct of `size` bytes (use the
 * pf_client_settings_default() wrapper). */
PF_EXTERN void pf_client_settings_init(pf_client_settings *s, size_t size);
static inline void pf_client_settings_default(pf_client_settings *s)
{
    pf_client_settings_init(s, sizeof *s);
}

/* Creates a client on s->loop.  Returns 0 and *out, or PF_ERR_INVAL (s not
 * filled by pf_client_settings_default, bad bind_addr), PF_ERR_NET (cannot
 * listen), PF_ERR_NOMEM. */
PF_EXTERN int pf_client_new(const pf_client_settings *s, pf_client **out);
PF_EXTERN int pf_client_listen_port(const pf_client *c);
/* The loop the client runs on (the application's, or its own). */
PF_EXTERN uv_loop_t *pf_client_loop(pf_client *c);

/* Runs fn(c, ud) on the loop's thread, soon (in the order posted).  The
 * one function any thread may call, at any time between pf_client_new
 * and pf_client_free (join the posting threads before pf_client_free; a
 * post not yet run when pf_client_free starts is dropped, and ud stays the
 * caller's).  Returns 0, PF_ERR_NOMEM, or PF_ERR_LIMIT (65,536 posts
 * waiting). */
typedef void (*pf_client_post_fn)(pf_client *c, void *ud);
PF_EXTERN int pf_client_post(pf_client *c, pf_client_post_fn fn, void *ud);

/* Adds a .torrent file (or a magnet link when src starts with "magnet:")
 * whose data lives in dir.  For a .torrent, existing data is verified
 * first; seed_only requires it to exist (PF_ERR_NOTFOUND otherwise).
 * A magnet's tr= trackers, x.pe peers and ws= web seeds are all used (the
 * web seeds once the metadata came: nothing unverified is served).
 * Errors: PF_ERR_NOTFOUND, PF_ERR_PARSE, PF_ERR_LIMIT, PF_ERR_UNSAFE_PATH,
 * PF_ERR_IO, PF_ERR_EXISTS (already added), PF_ERR_SHUTDOWN (stopping),
 * PF_ERR_NOMEM. */
PF_EXTERN int pf_client_add(pf_client *c, const char *src, const char *dir, int seed_only,
                            pf_client_torrent **out);
/* Adds a parsed .torrent (pf_metainfo_parse, _load, _fetch) whose data
 * lives in dir, as pf_client_add does.  On success the client owns mi (do
 * not free it); on failure it stays the caller's.  Same errors. */
PF_EXTERN int pf_client_add_metainfo(pf_client *c, pf_metainfo *mi, const char *dir,
                                     int seed_only, pf_client_torrent **out);
/* Dial this peer ("host:port", "[v6]:port") for the torrent. */
PF_EXTERN int pf_client_torrent_add_peer(pf_client_torrent *t, const char *hostport);
PF_EXTERN int pf_client_torrent_add_tracker(pf_client_torrent *t, const char *url);
/* pf_torrent_set_tracker_token: a private tracker's subscriber token. */
PF_EXTERN int pf_client_torrent_set_tracker_token(pf_client_torrent *t, const char *token);
/* An SSL torrent's identity and the operator's revocation list (PEM; see
 * pf_torrent_set_tls_identity and pf_torrent_set_tls_crl in session.h):
 * until the identity is set, the torrent talks to no peer. */
PF_EXTERN int pf_client_torrent_set_tls_identity(pf_client_torrent *t, const char *cert_pem, const char *key_pem);
PF_EXTERN int pf_client_torrent_set_tls_crl(pf_client_torrent *t, const char *crl_pem);
/* Viewer settings.  Rate caps in bytes/s (0 = none): the upload cap
 * bounds what peers get from us; the download cap paces requests to peers
 * (CDN fetches for pieces about to be played are not held back). */
PF_EXTERN void pf_client_set_rate_limits(pf_client *c, uint64_t up_bps, uint64_t down_bps);
/* The user's switch: uploads off or on at once (off: every peer choked and
 * PIECE data not yet handed to a socket taken back; see
 * pf_session_set_upload).  The other conditions (metered, battery, the
 * budget) still apply when it is on. */
PF_EXTERN void pf_client_set_upload(pf_client *c, int enabled);
/* The application's word on the network and the power: metered (e.g.
 * NetworkManager's Metered property, Android's or Windows' cost hint) and
 * on battery (1/0; -1: back to looking at /sys/class/power_supply on
 * Linux, every 5 s).  They turn uploads off when upload_off_when names
 * them. */
PF_EXTERN void pf_client_set_metered(pf_client *c, int metered);
PF_EXTERN void pf_client_set_on_battery(pf_client *c, int on_battery);
/* A new budget period (a billing cycle's label, at most 15 bytes; NULL:
 * back to the calendar month): usage starts again from 0 when it differs
 * from the one counted.  Returns 0, PF_ERR_INVAL (too long, no budget). */
PF_EXTERN int pf_client_set_upload_budget_period(pf_client *c, const char *period);
/* Uploads now: on or off and why, the budget and what is left of it, the
 * upload share and the uplink measured.  Fills caller storage. */
PF_EXTERN void pf_client_upload_status(const pf_client *c, pf_upload_status *out);
/* The UDP socket's datagrams (uTP, UDP trackers): received, dropped (no
 * protocol claimed them; the send queue was full), invalid uTP packets,
 * since the client started.  Fills caller storage. */
PF_EXTERN void pf_client_datagram_stats(const pf_client *c, pf_datagram_stats *out);
/* The client a torrent belongs to. */
PF_EXTERN pf_client *pf_client_torrent_client(const pf_client_torrent *t);
/* A network of the viewer's own ISP, "10.1.0.0/16" or "2001:db8::/32"
 * (from the operator's ALTO/P4P network map): its peers are unchoked
 * first and bytes with the others are counted as inter-ISP.  Repeatable;
 * returns 0 or PF_ERR_PARSE, PF_ERR_RANGE (too many). */
PF_EXTERN int pf_client_add_local_net(pf_client *c, const char *cidr);
/* How strongly: the share of upload slots where its peers come first, 0-1
 * (default 0.5).  1 keeps the most bytes inside the ISP at the price of CDN
 * bytes (each ISP then gets its own first copy from the CDN). */
PF_EXTERN void pf_client_set_local_share(pf_client *c, double share);
/* Keep at most `bytes` of the torrent on disk: pieces behind the playhead
 * are evicted (the most available in the swarm first). 0 = keep all. */
PF_EXTERN void pf_client_torrent_set_cache_limit(pf_client_torrent *t, uint64_t bytes);
/* A player is about to open a stream: ask peers for nothing until it does
 * (what they sent meanwhile would share the downlink with its start-up
 * prefix).  Peers are still connected and served. */
PF_EXTERN void pf_client_torrent_await_reader(pf_client_torrent *t);
/* Adds a BEP 19 web seed (CDN URL) besides the torrent's url-list, with
 * its relative cost per byte (> 0; the url-list's cost 1): of the web
 * seeds that can bring a block before it is due, the cheapest does (an
 * ISP-embedded cache before the public CDN); a slow or failing one gives
 * way to the next.  Returns 0, PF_ERR_UNSUPPORTED (not http/https),
 * PF_ERR_EXISTS, PF_ERR_LIMIT (16), PF_ERR_NOMEM. */
PF_EXTERN int pf_client_torrent_add_webseed(pf_client_torrent *t, const char *url, double cost);
/* Forget the torrent's own trackers (e.g. --no-tracker). */
PF_EXTERN void pf_client_torrent_clear_trackers(pf_client_torrent *t);
/* Counters; while paused, state reads PF_TS_STOPPED. */
PF_EXTERN void pf_client_torrent_stats(const pf_client_torrent *t, pf_torrent_stats *st);
/* Name from the metainfo (or the magnet's dn, or the hex info-hash), as it
 * came from outside: escape it (pf_escape_text) before printing it. */
PF_EXTERN const char *pf_client_torrent_name(const pf_client_torrent *t);

/* ---- control ------------------------------------------------------------
 * Pause: peers are closed, nothing is requested, uploaded or announced
 * (one "stopped" announce goes out), web seed transfers are cancelled and
 * readers wait; a check in progress runs on.  Resume: "started" is
 * announced and known peers are dialled again.  Both return 0, or
 * PF_ERR_SHUTDOWN while the client stops or the torrent is removed. */
PF_EXTERN int pf_client_torrent_pause(pf_client_torrent *t);
PF_EXTERN int pf_client_torrent_resume(pf_client_torrent *t);
PF_EXTERN int pf_client_torrent_paused(const pf_client_torrent *t);
/* Which files to fetch: 0 = skip, 1 = normal (the default), up to 7 =
 * sooner.  A piece shared by several files is fetched at the highest of
 * their priorities.  Set after the metadata is known (a .torrent: at once;
 * a magnet: from PF_CLIENT_METADATA on).  Once every piece of the wanted
 * files is verified, PF_CLIENT_COMPLETE fires.  Returns 0, PF_ERR_NOTFOUND
 * (no such file), PF_ERR_INVAL (metadata unknown, prio out of range). */
PF_EXTERN int pf_client_torrent_set_file_priority(pf_client_torrent *t, uint32_t file, int prio);
/* A file's priority, or a negative pf_err (PF_ERR_NOTFOUND, PF_ERR_INVAL). */
PF_EXTERN int pf_client_torrent_file_priority(const pf_client_torrent *t, uint32_t file);
/* Removes the torrent: readers are closed (their pending read callbacks are
 * not called), peers closed, transfers cancelled, a "stopped" announce
 * sent (given up to 3 s), the resume record written; the data stays on
 * disk.  Asynchronous: PF_CLIENT_REMOVED fires once nothing refers to it
 * (from the loop, never inside this call), and t is invalid after that
 * callback.  Returns 0, or PF_ERR_SHUTDOWN if
 * it is already being removed or the client stops. */
PF_EXTERN int pf_client_torrent_remove(pf_client_torrent *t);

/* ---- streaming ----------------------------------------------------------
 * A pf_stream is one reader of one file of a torrent (e.g. one HTTP
 * response of the local media server).  Its reads define the playhead:
 * the engine gives the pieces ahead of it deadlines, fetches what the swarm
 * cannot deliver in time from the torrent's web seeds (the CDN), and keeps
 * QoE numbers per file.  All calls are on the loop's thread. */
typedef struct pf_stream pf_stream;

PF_EXTERN uint32_t pf_client_torrent_num_files(const pf_client_torrent *t); /* 0 until metadata */
/* Path of file i inside the torrent ('/'-separated), and its size. */
PF_EXTERN const char *pf_client_torrent_file_path(const pf_client_torrent *t, uint32_t i);
PF_EXTERN uint64_t pf_client_torrent_file_size(const pf_client_torrent *t, uint32_t i);

/* Opens a reader of file i positioned at offset (a seek when it is not where
 * the previous reader left off).  PF_ERR_NOTFOUND for a bad index,
 * PF_ERR_SHUTDOWN while the torrent is being removed. */
PF_EXTERN int pf_stream_open(pf_client_torrent *t, uint32_t file, uint64_t offset, pf_stream **out);
/* Called once per pf_stream_read, on the loop thread: err 0 and 1..max
 * bytes of verified data at the requested offset, or err < 0 (the data is
 * borrowed for the call). */
typedef void (*pf_stream_read_cb)(void *ud, int err, const uint8_t *data, size_t n);
/* Reads up to max bytes at offset (file-relative) once they are verified;
 * waits (without blocking the loop) until then.  One read at a time per
 * stream: PF_ERR_INVAL if one is pending; PF_ERR_RANGE past the end. */
PF_EXTERN int pf_stream_read(pf_stream *s, uint64_t offset, size_t max, pf_stream_read_cb cb,
                             void *ud);
/* Ends the reader; a pending read's callback is not called. */
PF_EXTERN void pf_stream_close(pf_stream *s);

PF_EXTERN int pf_client_torrent_qoe(const pf_client_torrent *t, uint32_t file, pf_qoe *q);
/* The title's media timeline (pf_torrent_set_media in session.h): its
 * renditions as tracks of segment files.  The local media server sets it
 * from the manifests a player loads; an application with its own player
 * may set it itself.  0 or a negative pf_err as there. */
PF_EXTERN int pf_client_torrent_set_media(pf_client_torrent *t, const pf_media_track *tracks, size_t n);
/* QoE of the timeline (renditions played, switches...); PF_ERR_NOTFOUND
 * until it is set. */
PF_EXTERN int pf_client_torrent_media_qoe(const pf_client_torrent *t, pf_media_qoe *q);

/* Fills up to max entries (connected peers and web seeds, plus peers that
 * already left as one "peer:(departed)" line); returns how many. */
PF_EXTERN size_t pf_client_torrent_sources(const pf_client_torrent *t, pf_source_stats *out,
                                           size_t max);

/* ---- life cycle ----------------------------------------------------------
 * Runs the client's loop until pf_client_stop() completes (a convenience
 * for programs that give the loop to the client; an application with a
 * loop of its own runs that instead).  Returns 0. */
PF_EXTERN int pf_client_run(pf_client *c);
/* Announces "stopped" to the trackers (waiting up to 3 s for disk jobs and
 * those announces), writes resume records, closes peers and the listener;
 * then PF_CLIENT_STOPPED.  The client then holds no active handle on the
 * loop.  Idempotent. */
PF_EXTERN void pf_client_stop(pf_client *c);
/* Closes the client's handles and frees it, the torrents and their
 * storage.  Call it outside the loop's callbacks (e.g. after uv_run
 * returned): it runs the loop (UV_RUN_ONCE) until the client's own handles
 * and threadpool jobs are done, which may run other callbacks of the
 * application's loop.  Without pf_client_stop first, no announce is sent
 * and no resume record written.  NULL is a no-op. */
PF_EXTERN void pf_client_free(pf_client *c);

#ifdef __cplusplus
}
#endif
#endif
