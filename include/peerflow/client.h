/* peerflow client: the engine on a libuv loop with TCP peers, files on
 * disk and HTTP trackers.  One pf_client runs many torrents. */
#ifndef PEERFLOW_CLIENT_H
#define PEERFLOW_CLIENT_H

#include <stdint.h>

#include "peerflow/peerflow.h"

#ifdef __cplusplus
extern "C" {
#endif


typedef struct pf_client pf_client;
typedef struct pf_client_torrent pf_client_torrent;

enum pf_client_event {
    PF_CLIENT_TICK = 1,     /* once a second */
    PF_CLIENT_METADATA,     /* a magnet's info dict arrived */
    PF_CLIENT_CHECKED,      /* existing data verified */
    PF_CLIENT_COMPLETE,     /* every piece downloaded and verified */
    PF_CLIENT_ERROR,        /* a torrent hit a fatal error (err) */
    PF_CLIENT_STOPPED       /* pf_client_stop() finished */
};
typedef void (*pf_client_event_fn)(void *ud, pf_client *c, int event, pf_client_torrent *t,
                                   int err);

typedef struct pf_client_settings {
    const char *bind_addr;   /* listen address; NULL = "::" (dual stack) */
    uint16_t listen_port;    /* 0 = any free port */
    int listen;              /* 0 = accept no incoming connections */
    uint32_t max_peers;      /* per torrent; 0 = default (50) */
    uint32_t upload_slots;   /* 0 = default (8) */
    uint32_t max_connections; /* in all; 0 = default (200) */
    int upload_enabled;      /* default 1 */
    uint32_t cache_pieces;   /* read cache per torrent; 0 = default */
    int handle_signals;      /* SIGINT/SIGTERM stop the client (default 1) */
    uint64_t rng_seed;       /* 0 = seeded from the clock */
    pf_log_fn log;
    void *log_ud;
    pf_log_level log_level;
    pf_client_event_fn on_event;
    void *event_ud;
} pf_client_settings;

void pf_client_settings_default(pf_client_settings *s);
/* Returns 0 or PF_ERR_NET (cannot listen), PF_ERR_NOMEM. */
int pf_client_new(const pf_client_settings *s, pf_client **out);
int pf_client_listen_port(const pf_client *c);
/* The client's uv_loop_t (as void * so this header needs no <uv.h>), for
 * adding one's own handles such as the local media server. */
void *pf_client_loop(pf_client *c);

/* Adds a .torrent file (or a magnet link when src starts with "magnet:")
 * whose data lives in dir.  For a .torrent, existing data is verified
 * first; seed_only requires it to exist (PF_ERR_NOTFOUND otherwise).
 * Errors: PF_ERR_PARSE, PF_ERR_UNSAFE_PATH, PF_ERR_IO, PF_ERR_EXISTS... */
int pf_client_add(pf_client *c, const char *src, const char *dir, int seed_only,
                  pf_client_torrent **out);
/* Dial this peer ("host:port", "[v6]:port") for the torrent. */
int pf_client_torrent_add_peer(pf_client_torrent *t, const char *hostport);
int pf_client_torrent_add_tracker(pf_client_torrent *t, const char *url);
/* Viewer settings.  Rate caps in bytes/s (0 = none): the upload cap
 * bounds what peers get from us; the download cap paces requests to peers
 * (CDN fetches for pieces about to be played are not held back). */
void pf_client_set_rate_limits(pf_client *c, uint64_t up_bps, uint64_t down_bps);
/* Upload off/on at run time (metered network, battery, data cap). */
void pf_client_set_upload(pf_client *c, int enabled);
/* A network of the viewer's own ISP, "10.1.0.0/16" or "2001:db8::/32"
 * (from the operator's ALTO/P4P network map): its peers are unchoked
 * first and bytes with the others are counted as inter-ISP.  Repeatable;
 * returns 0 or PF_ERR_PARSE, PF_ERR_RANGE (too many). */
int pf_client_add_local_net(pf_client *c, const char *cidr);
/* How strongly: the share of upload slots where its peers come first, 0-1
 * (default 0.5).  1 keeps the most bytes inside the ISP at the price of CDN
 * bytes (each ISP then gets its own first copy from the CDN). */
void pf_client_set_local_share(pf_client *c, double share);
/* Keep at most `bytes` of the torrent on disk: pieces behind the playhead
 * are evicted (the most available in the swarm first). 0 = keep all. */
void pf_client_torrent_set_cache_limit(pf_client_torrent *t, uint64_t bytes);
/* A player is about to open a stream: ask peers for nothing until it does
 * (what they sent meanwhile would share the downlink with its start-up
 * prefix).  Peers are still connected and served. */
void pf_client_torrent_await_reader(pf_client_torrent *t);
/* Adds a BEP 19 web seed (CDN URL) besides the torrent's url-list. */
int pf_client_torrent_add_webseed(pf_client_torrent *t, const char *url);
/* Forget the torrent's own trackers (e.g. --no-tracker). */
void pf_client_torrent_clear_trackers(pf_client_torrent *t);
void pf_client_torrent_stats(const pf_client_torrent *t, pf_torrent_stats *st);
/* Name from the metainfo (or the magnet's dn, or the hex info-hash). */
const char *pf_client_torrent_name(const pf_client_torrent *t);


/* ---- streaming ----------------------------------------------------------
 * A pf_stream is one reader of one file of a torrent (e.g. one HTTP
 * response of the local media server).  Its reads define the playhead:
 * the engine gives the pieces ahead of it deadlines, fetches what the swarm
 * cannot deliver in time from the torrent's web seeds (the CDN), and keeps
 * QoE numbers per file.  All calls are on the loop's thread. */
typedef struct pf_stream pf_stream;

uint32_t pf_client_torrent_num_files(const pf_client_torrent *t); /* 0 until metadata */
/* Path of file i inside the torrent ('/'-separated), and its size. */
const char *pf_client_torrent_file_path(const pf_client_torrent *t, uint32_t i);
uint64_t pf_client_torrent_file_size(const pf_client_torrent *t, uint32_t i);

/* Opens a reader of file i positioned at offset (a seek when it is not where
 * the previous reader left off).  PF_ERR_NOTFOUND for a bad index. */
int pf_stream_open(pf_client_torrent *t, uint32_t file, uint64_t offset, pf_stream **out);
/* Called once per pf_stream_read, on the loop thread: err 0 and 1..max
 * bytes of verified data at the requested offset, or err < 0 (the data is
 * borrowed for the call). */
typedef void (*pf_stream_read_cb)(void *ud, int err, const uint8_t *data, size_t n);
/* Reads up to max bytes at offset (file-relative) once they are verified;
 * waits (without blocking the loop) until then.  One read at a time per
 * stream: PF_ERR_INVAL if one is pending; PF_ERR_RANGE past the end. */
int pf_stream_read(pf_stream *s, uint64_t offset, size_t max, pf_stream_read_cb cb, void *ud);
/* Ends the reader; a pending read's callback is not called. */
void pf_stream_close(pf_stream *s);

int pf_client_torrent_qoe(const pf_client_torrent *t, uint32_t file, pf_qoe *q);

/* Fills up to max entries (connected peers and web seeds, plus peers that
 * already left as one "peer:(departed)" line); returns how many. */
size_t pf_client_torrent_sources(const pf_client_torrent *t, pf_source_stats *out, size_t max);

/* Runs the loop until pf_client_stop() completes.  Returns 0. */
int pf_client_run(pf_client *c);
/* Announces "stopped", closes peers, then ends pf_client_run. */
void pf_client_stop(pf_client *c);
void pf_client_free(pf_client *c);

#ifdef __cplusplus
}
#endif
#endif
