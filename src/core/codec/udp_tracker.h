/* The UDP tracker protocol (BEP 15), client side, sans-I/O: connect and
 * announce requests into caller buffers, and replies parsed in place. */
#ifndef PF_CORE_UDP_TRACKER_H
#define PF_CORE_UDP_TRACKER_H

#include <stddef.h>
#include <stdint.h>

#include "core/codec/tracker_proto.h"
#include "peerflow/peerflow.h"

#define PF_UDPT_PROTOCOL_ID 0x41727101980ULL
#define PF_UDPT_CONNECT_LEN 16
#define PF_UDPT_ANNOUNCE_LEN 98

enum { PF_UDPT_CONNECT = 0, PF_UDPT_ANNOUNCE = 1, PF_UDPT_SCRAPE = 2, PF_UDPT_ERROR = 3 };

/* A connect request with transaction id tid. */
void pf_udpt_connect_req(uint8_t out[PF_UDPT_CONNECT_LEN], uint32_t tid);
/* An announce request (r->event is a PF_ANNOUNCE_* value; its BEP 15 code
 * differs and is mapped here; numwant 0 is sent as 0, not "default"). */
void pf_udpt_announce_req(uint8_t out[PF_UDPT_ANNOUNCE_LEN], uint64_t conn_id, uint32_t tid,
                          const pf_announce_req *r);

typedef struct pf_udpt_reply {
    int action;        /* PF_UDPT_* */
    uint32_t tid;
    uint64_t conn_id;  /* connect */
    uint32_t interval, leechers, seeders; /* announce */
    const uint8_t *peers; /* announce: compact peers, borrowed from the datagram */
    size_t npeers;
    int peer_family;   /* 4 (6-byte entries) or 6 (18-byte entries) */
    char error[128];   /* error: the tracker's message, NUL-terminated, '?' for NULs */
} pf_udpt_reply;

/* Parses a reply.  family: the tracker's address family, which decides
 * the size of compact peers (BEP 15: IPv6 trackers send 18-byte ones).
 * Returns 0, or PF_ERR_PARSE (too short, unknown action, trailing bytes
 * that are not whole peers). */
int pf_udpt_parse(const uint8_t *buf, size_t n, int family, pf_udpt_reply *out);
/* Peer i of an announce reply (port 0 entries are the caller's to skip). */
void pf_udpt_peer(const pf_udpt_reply *r, size_t i, pf_addr *out);

#endif
