/* The UDP tracker protocol (BEP 15), sans-I/O: the client's connect,
 * announce and scrape requests into caller buffers and its replies parsed
 * in place; the server's requests parsed in place and its replies written
 * into caller buffers. */
#ifndef PF_CORE_UDP_TRACKER_H
#define PF_CORE_UDP_TRACKER_H

#include <stddef.h>
#include <stdint.h>

#include "core/codec/tracker_proto.h"
#include "peerflow/peerflow.h"

#define PF_UDPT_PROTOCOL_ID 0x41727101980ULL
#define PF_UDPT_CONNECT_LEN 16
#define PF_UDPT_ANNOUNCE_LEN 98
#define PF_UDPT_ANNOUNCE_HEAD 20 /* an announce reply before its peers */
#define PF_UDPT_SCRAPE_HEAD 8    /* a scrape reply before its entries */
/* BEP 15: "up to about 74 torrents can be scraped at once" (16 + 74 * 20 =
 * 1,496 bytes of request, under an Ethernet MTU's UDP payload). */
#define PF_UDPT_SCRAPE_MAX 74

enum { PF_UDPT_CONNECT = 0, PF_UDPT_ANNOUNCE = 1, PF_UDPT_SCRAPE = 2, PF_UDPT_ERROR = 3 };
/* BEP 15's event codes (they differ from PF_ANNOUNCE_*). */
enum { PF_UDPT_EV_NONE = 0, PF_UDPT_EV_COMPLETED = 1, PF_UDPT_EV_STARTED = 2, PF_UDPT_EV_STOPPED = 3 };

/* ---- client ------------------------------------------------------------ */

/* A connect request with transaction id tid. */
void pf_udpt_connect_req(uint8_t out[PF_UDPT_CONNECT_LEN], uint32_t tid);
/* An announce request (r->event is a PF_ANNOUNCE_* value; its BEP 15 code
 * differs and is mapped here; numwant 0 is sent as 0, not "default"). */
void pf_udpt_announce_req(uint8_t out[PF_UDPT_ANNOUNCE_LEN], uint64_t conn_id, uint32_t tid,
                          const pf_announce_req *r);
/* A scrape request for n info-hashes (1..PF_UDPT_SCRAPE_MAX) into out
 * (cap bytes).  Returns its length (16 + 20 n), or 0 when n is out of
 * range or cap is too small. */
size_t pf_udpt_scrape_req(uint8_t *out, size_t cap, uint64_t conn_id, uint32_t tid,
                          const uint8_t (*info_hashes)[20], size_t n);

typedef struct pf_udpt_reply {
    int action;        /* PF_UDPT_* */
    uint32_t tid;
    uint64_t conn_id;  /* connect */
    uint32_t interval, leechers, seeders; /* announce */
    const uint8_t *peers; /* announce: compact peers, borrowed from the datagram */
    size_t npeers;
    int peer_family;   /* 4 (6-byte entries) or 6 (18-byte entries) */
    const uint8_t *scrape; /* scrape: 12-byte entries, borrowed from the datagram */
    size_t nscrape;
    char error[128];   /* error: the tracker's message, NUL-terminated, '?' for NULs */
} pf_udpt_reply;

/* Parses a reply.  family: the tracker's address family, which decides
 * the size of compact peers (BEP 15: IPv6 trackers send 18-byte ones).
 * Returns 0, or PF_ERR_PARSE (too short, unknown action, trailing bytes
 * that are not whole peers or whole scrape entries). */
int pf_udpt_parse(const uint8_t *buf, size_t n, int family, pf_udpt_reply *out);
/* Peer i of an announce reply (port 0 entries are the caller's to skip). */
void pf_udpt_peer(const pf_udpt_reply *r, size_t i, pf_addr *out);
/* Entry i of a scrape reply, in the order the request named the hashes
 * (zeros past the end). */
void pf_udpt_scrape_entry(const pf_udpt_reply *r, size_t i, uint32_t *seeders,
                          uint32_t *completed, uint32_t *leechers);

/* ---- server ------------------------------------------------------------ */

typedef struct pf_udpt_request {
    int action;           /* PF_UDPT_CONNECT, _ANNOUNCE or _SCRAPE */
    uint32_t tid;
    uint64_t conn_id;     /* announce, scrape (connect: the protocol id) */
    /* announce; pointers borrowed from the datagram */
    const uint8_t *info_hash, *peer_id;
    uint64_t downloaded, left, uploaded;
    uint32_t event;       /* PF_UDPT_EV_* as sent (anything else: unknown) */
    uint32_t ip, key;
    int32_t numwant;      /* negative: the tracker's default */
    uint16_t port;
    /* scrape: nhashes 20-byte hashes (at most PF_UDPT_SCRAPE_MAX: more
     * are left out), borrowed */
    const uint8_t *hashes;
    size_t nhashes;
} pf_udpt_request;

/* Parses a request.  Returns 0, or PF_ERR_PARSE: shorter than 16 bytes, a
 * connect without the protocol id, an announce shorter than 98 bytes (a
 * longer one carries BEP 41 options, ignored), a scrape without a whole
 * info-hash, or an unknown action. */
int pf_udpt_parse_request(const uint8_t *buf, size_t n, pf_udpt_request *out);

/* Replies, written into caller buffers. */
void pf_udpt_connect_reply(uint8_t out[16], uint32_t tid, uint64_t conn_id);
void pf_udpt_announce_reply_head(uint8_t out[PF_UDPT_ANNOUNCE_HEAD], uint32_t tid,
                                 uint32_t interval, uint32_t leechers, uint32_t seeders);
void pf_udpt_scrape_reply_head(uint8_t out[PF_UDPT_SCRAPE_HEAD], uint32_t tid);
void pf_udpt_scrape_reply_entry(uint8_t out[12], uint32_t seeders, uint32_t completed,
                                uint32_t leechers);
/* An error reply with msg (no NUL sent), cut to cap.  Returns its length
 * (0 if cap < 8). */
size_t pf_udpt_error_reply(uint8_t *out, size_t cap, uint32_t tid, const char *msg);

#endif
