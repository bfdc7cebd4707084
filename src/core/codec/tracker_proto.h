/* Client side of the HTTP tracker protocol (BEP 3, 7, 23, 48), sans-I/O:
 * builds announce/scrape URLs and parses bencoded replies. */
#ifndef PF_CORE_TRACKER_PROTO_H
#define PF_CORE_TRACKER_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "core/util/addr.h"
#include "core/util/buf.h"
#include "peerflow/peerflow.h"

#define PF_ANNOUNCE_MAX_PEERS 2000 /* peers kept from one reply */

enum {
    PF_ANNOUNCE_NONE = 0,
    PF_ANNOUNCE_STARTED = 1,
    PF_ANNOUNCE_COMPLETED = 2,
    PF_ANNOUNCE_STOPPED = 3
};

typedef struct pf_announce_req {
    uint8_t info_hash[20];
    uint8_t peer_id[20];
    uint16_t port;
    uint64_t uploaded, downloaded, left;
    int event; /* PF_ANNOUNCE_* */
    uint32_t numwant;
    uint32_t key;
    const char *trackerid; /* may be NULL */
    const char *token;     /* a private tracker's subscriber token; NULL */
} pf_announce_req;

/* Appends announce_url plus the query (info_hash, peer_id, port, uploaded,
 * downloaded, left, compact=1, numwant, key, [event], [trackerid]) to out,
 * joining with '?' or '&' as the URL requires (a "#fragment" is dropped),
 * and NUL-terminates.  Returns 0, PF_ERR_INVAL (empty URL, bad event) or
 * PF_ERR_NOMEM. */
int pf_announce_url(pf_buf *out, const char *announce_url, const pf_announce_req *r);

#define PF_ANNOUNCE_LOCAL_NETS 16
typedef struct pf_announce_resp {
    char failure[256];  /* "failure reason"; "" if none */
    char warning[256];  /* "warning message"; "" if none */
    uint32_t interval, min_interval; /* 0 if absent */
    int64_t complete, incomplete;    /* -1 if absent */
    pf_addr *peers;     /* owned; peers then peers6, deduplicated no */
    size_t num_peers;
    char trackerid[64]; /* "" if none */
    const pf_mem *mem;  /* peers' allocator (NULL: libc) */
    /* The operator's word (a peerflow tracker's "peerflow" dict, see
     * core/tracker/policy.h); absent: P2P on, no cap. */
    int p2p_off;         /* "p2p": 0 */
    uint64_t upload_cap; /* "upload cap": bytes/s; 0 none */
    int takes_qoe;       /* "qoe": 1 (a peerflow tracker takes QoE reports) */
    int has_local_nets;  /* "local nets" was there (maybe empty) */
    pf_net local_nets[PF_ANNOUNCE_LOCAL_NETS]; /* the viewer's own ISP's */
    uint32_t nlocal_nets;
} pf_announce_resp;

/* Parses a tracker reply: compact (BEP 23) or dictionary "peers" and
 * compact "peers6" (BEP 7); keeps at most PF_ANNOUNCE_MAX_PEERS, skipping
 * port 0 and dictionary entries whose "ip" is a hostname.  Returns 0 (also
 * for a "failure reason", which is copied to out->failure, truncated),
 * PF_ERR_PARSE or PF_ERR_NOMEM.  *out is always initialised; free it with
 * pf_announce_resp_clear. */
int pf_announce_resp_parse(const uint8_t *body, size_t len, const pf_mem *mem, pf_announce_resp *out);
void pf_announce_resp_clear(pf_announce_resp *r);

/* Appends the BEP 48 scrape URL for announce_url with one info_hash
 * parameter per hash (n may be 0) and NUL-terminates.  Returns 0,
 * PF_ERR_UNSUPPORTED (last path component does not start with
 * "announce"), PF_ERR_INVAL or PF_ERR_NOMEM. */
int pf_scrape_url(pf_buf *out, const char *announce_url, const uint8_t (*hashes)[20],
                  size_t n);
/* The tracker's QoE report URL (core/tracker/qoe.h): the announce URL
 * with "announce" replaced by "qoe" by the same rule; NUL-terminated.
 * Same errors. */
int pf_tracker_qoe_url(pf_buf *out, const char *announce_url);

typedef struct pf_scrape_entry {
    uint8_t info_hash[20];
    int64_t complete, downloaded, incomplete; /* -1 if absent */
} pf_scrape_entry;

/* Parses a scrape reply into out[0..max), *n = entries written (20-byte
 * keys only; extra entries beyond max are ignored).  Returns 0,
 * PF_ERR_TRACKER (the reply is a "failure reason"), PF_ERR_PARSE or
 * PF_ERR_NOMEM. */
int pf_scrape_resp_parse(const uint8_t *body, size_t len, pf_scrape_entry *out,
                         size_t max, size_t *n);

#endif
