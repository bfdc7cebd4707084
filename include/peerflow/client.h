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

/* Adds a .torrent file (or a magnet link when src starts with "magnet:")
 * whose data lives in dir.  For a .torrent, existing data is verified
 * first; seed_only requires it to exist (PF_ERR_NOTFOUND otherwise).
 * Errors: PF_ERR_PARSE, PF_ERR_UNSAFE_PATH, PF_ERR_IO, PF_ERR_EXISTS... */
int pf_client_add(pf_client *c, const char *src, const char *dir, int seed_only,
                  pf_client_torrent **out);
/* Dial this peer ("host:port", "[v6]:port") for the torrent. */
int pf_client_torrent_add_peer(pf_client_torrent *t, const char *hostport);
int pf_client_torrent_add_tracker(pf_client_torrent *t, const char *url);
/* Forget the torrent's own trackers (e.g. --no-tracker). */
void pf_client_torrent_clear_trackers(pf_client_torrent *t);
void pf_client_torrent_stats(const pf_client_torrent *t, pf_torrent_stats *st);
/* Name from the metainfo (or the magnet's dn, or the hex info-hash). */
const char *pf_client_torrent_name(const pf_client_torrent *t);

/* Runs the loop until pf_client_stop() completes.  Returns 0. */
int pf_client_run(pf_client *c);
/* Announces "stopped", closes peers, then ends pf_client_run. */
void pf_client_stop(pf_client *c);
void pf_client_free(pf_client *c);

#ifdef __cplusplus
}
#endif
#endif
