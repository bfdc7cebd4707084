/* The operator's control over P2P at the tracker (issue 18, item 4): a
 * kill switch and upload caps per title, per PID (an ALTO network-map
 * PID: an ISP or region) or for everyone.  Viewers obey at their next
 * announce: the tracker's reply carries a "peerflow" dict
 * (core/codec/tracker_proto.h) and, with P2P off, no peers.
 *
 * The policy is a small text file the operator edits (or a deployment
 * tool writes); the tracker reads it again when it changes, like its key
 * file.  Every tracker instance behind a load balancer reads the same
 * file, so the switch holds wherever a viewer's announce lands.  One rule
 * per line; '#' starts a comment; blank lines are ignored:
 *
 *     all                                           p2p off
 *     title 0123456789abcdef0123456789abcdef01234567 p2p off
 *     pid   isp-a                                   upload-cap 512K
 *
 *   scope   "all", "title <40 hex digits: the info-hash>" or "pid <name>"
 *           (1-64 of [A-Za-z0-9-:@_.], RFC 7285's PID names)
 *   setting "p2p off" (no peer-to-peer at all: the CDN serves the
 *           viewers), "p2p on" (a no-op, to keep a line while it is not
 *           in force) or "upload-cap <rate>" (bytes per second, with an
 *           optional K/M/G suffix, powers of 1024; at least 1 KiB/s)
 *
 * A viewer's announce matches the rules of its title, of its PID and
 * "all": P2P is off if any says so; the upload cap is the smallest. */
#ifndef PF_CORE_TRACKER_POLICY_H
#define PF_CORE_TRACKER_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "core/util/buf.h"

#define PF_POLICY_MAX_RULES 4096
#define PF_POLICY_MAX_BYTES (1u << 20)
#define PF_POLICY_PID_MAX 64

typedef struct pf_tracker_policy pf_tracker_policy;

enum { PF_POLICY_ALL, PF_POLICY_TITLE, PF_POLICY_PID };

/* What applies to one viewer's announce. */
typedef struct pf_policy_verdict {
    int p2p_off;         /* 1: no P2P */
    uint64_t upload_cap; /* bytes/s; 0: none */
} pf_policy_verdict;

/* Parses a policy file's text.  0; PF_ERR_PARSE with the line number and
 * what is wrong in why; PF_ERR_LIMIT (too many rules, too large);
 * PF_ERR_NOMEM.  An empty file is a policy with no rule. */
int pf_tracker_policy_parse(const char *text, size_t len, pf_tracker_policy **out, char *why,
                            size_t whylen);
void pf_tracker_policy_free(pf_tracker_policy *p);
size_t pf_tracker_policy_count(const pf_tracker_policy *p);

/* The verdict for an announce of info_hash from a viewer in PID pid
 * (NULL: not in any).  p may be NULL (no policy: nothing applies). */
void pf_tracker_policy_eval(const pf_tracker_policy *p, const uint8_t info_hash[20], const char *pid,
                            pf_policy_verdict *out);

/* Appends the rules in force as Prometheus samples:
 * peerflow_tracker_p2p_off{scope,key} 1 and
 * peerflow_tracker_upload_cap_bytes{scope,key} (with HELP/TYPE lines,
 * also when there is no rule).  0 or PF_ERR_NOMEM. */
int pf_tracker_policy_metrics(const pf_tracker_policy *p, pf_buf *out);

#endif
