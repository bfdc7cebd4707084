/* Viewers' QoE at the tracker (issue 18, item 4): every viewer reports a
 * summary of each stream every minute and when it ends; the tracker adds
 * them up per title (info-hash) and per PID (the viewer's ISP or region
 * from the operator's ALTO map; "unknown" without one) for its /metrics,
 * where Prometheus turns them into offload, start-up and stall rates per
 * title and ISP (ops/).
 *
 * The report: POST /qoe, Content-Type application/x-www-form-urlencoded,
 * at most PF_QOE_BODY_MAX bytes:
 *
 *   info_hash   the title, 20 bytes percent-encoded (as in an announce)
 *   token       the subscriber's token (a tracker with --auth-keys
 *               admits reports with a good token for that title only)
 *   stream      the stream's id, 1-32 hex digits, random per stream
 *   final       1 in the last report of a stream (optional, default 0)
 *   play_ms     media time played so far                    (required)
 *   startup_ms  play to playable; absent until known
 *   stalls, stall_ms                 stalls after start-up so far
 *   cdn_bytes, peer_bytes            bytes received by source so far
 *   upload_bytes                     bytes uploaded to peers so far
 *   budget_left bytes of the upload budget left (absent: no budget)
 *
 * Values are the stream's totals so far, not increments: the tracker
 * keeps each live stream's last totals and adds the difference, so a
 * report sent twice (a retry) or lost costs nothing, and one report
 * carries everything since the last that arrived.  The series are
 * bounded (max_series; more go to title="other", pid="other"), as are
 * the streams remembered (max_streams; a stream silent for
 * PF_QOE_STREAM_TTL_S is forgotten; when full of live streams a new one
 * gets 503).  A subscriber may lie only about its own stream, within
 * bounds: an increment of play time is at most the time since its last
 * report plus a minute, bytes at most PF_QOE_MAX_BYTES_STEP per report. */
#ifndef PF_CORE_TRACKER_QOE_H
#define PF_CORE_TRACKER_QOE_H

#include <stddef.h>
#include <stdint.h>

#include "core/util/buf.h"

#define PF_QOE_BODY_MAX 2048
#define PF_QOE_STREAM_ID_MAX 32
#define PF_QOE_TOKEN_MAX 1024
#define PF_QOE_STREAM_TTL_S 300
#define PF_QOE_MAX_BYTES_STEP (16ull << 30)
#define PF_QOE_NAME_MAX 64 /* a PID's name */

typedef struct pf_qoe_report {
    uint8_t info_hash[20];
    char stream[PF_QOE_STREAM_ID_MAX + 1];
    char token[PF_QOE_TOKEN_MAX + 1];
    size_t token_len; /* 0: none */
    int final;
    int has_startup, has_budget;
    uint64_t play_ms, startup_ms, stalls, stall_ms, cdn_bytes, peer_bytes, upload_bytes, budget_left;
} pf_qoe_report;

/* Parses a report's body.  NULL, or what is wrong with it (for a 400). */
const char *pf__qoe_parse(const char *body, size_t n, pf_qoe_report *out);

typedef struct pf_qoe_store pf_qoe_store;

/* max_series: (title, PID) pairs kept apart (0: 4096); max_streams:
 * live streams remembered (0: 65536); key: hashing secret. */
pf_qoe_store *pf__qoe_new(size_t max_series, size_t max_streams, uint64_t key);
void pf__qoe_free(pf_qoe_store *q);

/* Adds a parsed report from a viewer of PID pid (NULL: "unknown") at
 * now (ns).  Returns 0, or PF_ERR_LIMIT (no room for a new stream),
 * PF_ERR_NOMEM. */
int pf__qoe_add(pf_qoe_store *q, const pf_qoe_report *r, const char *pid, uint64_t now);

/* Forgets streams silent for PF_QOE_STREAM_TTL_S or ended. */
void pf__qoe_expire(pf_qoe_store *q, uint64_t now);

typedef struct pf_qoe_counts {
    uint64_t reports, streams_live, series, dropped_full, rejected;
} pf_qoe_counts;
void pf__qoe_counts(const pf_qoe_store *q, pf_qoe_counts *out);
/* Counts a report refused before it reached the store (bad body, token). */
void pf__qoe_rejected(pf_qoe_store *q);

/* Appends the aggregates as Prometheus text: peerflow_tracker_qoe_*
 * (reports, streams ended, start-up histogram, stalls, stall and play
 * seconds, bytes by source, uploads, streams whose budget ran out), with
 * HELP and TYPE lines even when empty.  0 or PF_ERR_NOMEM. */
int pf__qoe_metrics(const pf_qoe_store *q, pf_buf *out);

#endif
