/* Controlling a torrent of the sans-I/O engine (include/peerflow/session.h):
 * pause and resume, which files to fetch, removal.  Same contract as
 * session.h: the caller owns sockets, files and the clock; time is in
 * nanoseconds; what the engine wants done comes out as pf_events.  (To be
 * folded into session.h.) */
#ifndef PEERFLOW_CONTROL_H
#define PEERFLOW_CONTROL_H

#include <stdint.h>

#include "peerflow/peerflow.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pf_session pf_session;
typedef struct pf_torrent pf_torrent;

/* ---- pause -------------------------------------------------------------
 * Paused: every peer is closed (PF_EV_CLOSE), no peer is dialled or
 * accepted, nothing is requested or uploaded, the trackers get one
 * "stopped" announce and no other, web seed transfers are cancelled
 * (PF_EV_JOB_CANCEL) and no new one starts, so readers wait.  Jobs already
 * out (disk writes, a check in progress) complete as usual.  Resumed:
 * "started" is announced and the known peers are dialled again at the next
 * tick.  Returns 0, or PF_ERR_SHUTDOWN for a torrent being removed. */
PF_EXTERN int pf_torrent_set_paused(pf_torrent *t, int paused, uint64_t now);
PF_EXTERN int pf_torrent_paused(const pf_torrent *t);

/* ---- file priorities ---------------------------------------------------
 * 0 = skip the file, 1 = normal (every file's default), up to
 * PF_FILE_PRIO_MAX = fetched sooner.  A piece is fetched at the highest
 * priority of the files it overlaps (a piece shared with a wanted file is
 * fetched even if the other file is skipped; BEP 47 pad files do not
 * count).  A reader (pf_torrent_stream_open) of a skipped file still gets
 * what it reads.  Peers' interest is recomputed at once.  Returns 0,
 * PF_ERR_INVAL (metadata not known yet, prio out of range) or
 * PF_ERR_NOTFOUND (no such file). */
#define PF_FILE_PRIO_MAX 7
PF_EXTERN int pf_torrent_set_file_priority(pf_torrent *t, uint32_t file, int prio, uint64_t now);
/* The file's priority, or PF_ERR_INVAL / PF_ERR_NOTFOUND. */
PF_EXTERN int pf_torrent_file_priority(const pf_torrent *t, uint32_t file);
/* Pieces of wanted files (priority > 0) not verified yet: 0 means every
 * wanted file is complete.  UINT32_MAX while the metadata is unknown. */
PF_EXTERN uint32_t pf_torrent_wanted_left(const pf_torrent *t);

/* ---- removal, in two steps (as a peer's close) ---------------------------
 * pf_torrent_remove: the torrent stops at once (no announce: call
 * pf_torrent_stop first for a "stopped" one), closes every peer
 * (PF_EV_CLOSE), cancels its web seed transfers (PF_EV_JOB_CANCEL), starts
 * no job and takes no new peer.  The caller closes the torrent's readers
 * (pf_torrent_stream_close), handles the events and reports the jobs still
 * out (pf_torrent_job_done) and the peers closed (pf_peer_closed).  Once
 * pf_torrent_pending() is 0, pf_session_free_torrent frees it: its pointer
 * and its jobs' are invalid afterwards, and events still queued that name
 * it are dropped (a PF_EV_CLOSE for one of its peers is still delivered,
 * with ev.torrent NULL).  Idempotent. */
PF_EXTERN void pf_torrent_remove(pf_torrent *t, uint64_t now);
/* Peers not yet reported closed plus jobs not yet reported done. */
PF_EXTERN uint32_t pf_torrent_pending(const pf_torrent *t);
/* Returns 0 (freed), PF_ERR_EAGAIN (pf_torrent_pending() is not 0) or
 * PF_ERR_NOTFOUND (not s's). */
PF_EXTERN int pf_session_free_torrent(pf_session *s, pf_torrent *t);

#ifdef __cplusplus
}
#endif
#endif
