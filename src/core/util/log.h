/* The one log formatter: every module (the session, the tracker, the HTTP
 * server, the libuv client) logs through a pf_logger.
 *
 * - Names that came from outside (a torrent's name, a peer's client
 *   string, a URL) may hold terminal control bytes: every message is
 *   escaped here, once, so no caller can forget (control bytes and DEL
 *   become \xNN).
 * - A message from one call site repeated many times (a web seed that
 *   keeps failing its hashes, a flood) is rate-limited: at most
 *   PF_LOG_BURST lines per call site per second at INFO and above, then
 *   one line saying how many were suppressed.  DEBUG is never limited
 *   (it is asked for, and the lab's traces need every line).
 * The logger reads no clock: its owner passes the time it last saw. */
#ifndef PF_CORE_UTIL_LOG_H
#define PF_CORE_UTIL_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "peerflow/peerflow.h"

#define PF_LOG_BURST 5
#define PF_LOG_SITES 8

typedef struct pf_logger {
    pf_log_fn fn; /* NULL: nothing is logged */
    void *ud;
    pf_log_level level;
    uint64_t now; /* ns; the owner keeps it current (0: no limiting) */
    struct pf__log_site {
        const char *fmt;     /* call site, by its format string */
        uint64_t window;     /* start of its current second */
        uint32_t count;      /* lines in that second */
        uint32_t suppressed; /* lines dropped in that second */
    } sites[PF_LOG_SITES];
    uint32_t next_site;
} pf_logger;

void pf__logger_init(pf_logger *l, pf_log_fn fn, void *ud, pf_log_level level);
/* Is a message at lvl wanted at all (cheap; skips formatting)? */
static inline int pf__log_on(const pf_logger *l, pf_log_level lvl) { return l->fn && lvl <= l->level; }
void pf__logv(pf_logger *l, pf_log_level lvl, const char *fmt, va_list ap);
void pf__logf(pf_logger *l, pf_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
