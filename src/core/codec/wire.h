/* BitTorrent peer wire codec (BEP 3, BEP 6 Fast, BEP 10 extension
 * protocol, BEP 9 ut_metadata, BEP 11 ut_pex).  Pure encode/decode: no
 * state.  Parsers never trust lengths from the wire. */
#ifndef PF_CORE_WIRE_H
#define PF_CORE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "core/util/addr.h"
#include "core/util/buf.h"

#define PF_HANDSHAKE_LEN 68
#define PF_BLOCK_SIZE 16384u
/* Largest message we accept: a 16 KiB block plus header, or a bitfield for
 * up to 2^20 pieces, or an extension message up to 1 MiB. */
#define PF_MAX_MSG_LEN ((1u << 20) + 64)

/* Reserved-bit helpers (BEP 10: byte 5 & 0x10; BEP 6: byte 7 & 0x04). */
#define PF_RESERVED_EXTENSION(r) (((r)[5] & 0x10) != 0)
#define PF_RESERVED_FAST(r) (((r)[7] & 0x04) != 0)

typedef struct pf_handshake {
    uint8_t reserved[8];
    uint8_t info_hash[20];
    uint8_t peer_id[20];
} pf_handshake;

/* Parses the 68-byte handshake at the start of buf.  Returns 68, 0 if
 * fewer than 68 bytes are present, or PF_ERR_PROTO (wrong protocol
 * string).  Callers that accept incoming connections may parse the first
 * 48 bytes (through info_hash) early with pf_handshake_parse_prefix. */
int pf_handshake_parse(const uint8_t *buf, size_t len, pf_handshake *out);
/* Returns 48 when the protocol string, reserved and info_hash are in,
 * 0 if fewer bytes, PF_ERR_PROTO. out->peer_id is left untouched. */
int pf_handshake_parse_prefix(const uint8_t *buf, size_t len, pf_handshake *out);
void pf_handshake_write(uint8_t out[PF_HANDSHAKE_LEN], const pf_handshake *hs);

typedef enum pf_msg_type {
    PF_MSG_KEEPALIVE = -1,
    PF_MSG_CHOKE = 0,
    PF_MSG_UNCHOKE = 1,
    PF_MSG_INTERESTED = 2,
    PF_MSG_NOT_INTERESTED = 3,
    PF_MSG_HAVE = 4,
    PF_MSG_BITFIELD = 5,
    PF_MSG_REQUEST = 6,
    PF_MSG_PIECE = 7,
    PF_MSG_CANCEL = 8,
    PF_MSG_PORT = 9,
    PF_MSG_SUGGEST = 13,
    PF_MSG_HAVE_ALL = 14,
    PF_MSG_HAVE_NONE = 15,
    PF_MSG_REJECT = 16,
    PF_MSG_ALLOWED_FAST = 17,
    PF_MSG_EXTENDED = 20
} pf_msg_type;

typedef struct pf_msg {
    int type;        /* pf_msg_type; unknown ids are reported as-is */
    uint32_t index;  /* HAVE, REQUEST, PIECE, CANCEL, SUGGEST, REJECT, ALLOWED_FAST */
    uint32_t begin;  /* REQUEST, PIECE, CANCEL, REJECT */
    uint32_t length; /* REQUEST, CANCEL, REJECT; PIECE: payload_len */
    uint16_t port;   /* PORT */
    uint8_t ext_id;  /* EXTENDED: the extended message id (0 = handshake) */
    const uint8_t *payload; /* BITFIELD bits, PIECE block, EXTENDED body,
                               unknown message body; points into buf */
    size_t payload_len;
} pf_msg;

/* Parses one length-prefixed message at the start of buf.  Returns the
 * bytes it spans (> 0), 0 if incomplete, PF_ERR_LIMIT if its length prefix
 * exceeds max_len, PF_ERR_PROTO if a known message has the wrong size. */
long pf_msg_parse(const uint8_t *buf, size_t len, size_t max_len, pf_msg *out);

/* Payload elision (pf_payload_hooks): a PIECE message's payload is not
 * in the byte stream, only its 13-byte header is.  If buf starts with a
 * PIECE message, parses its header: returns PF_PIECE_HDR_LEN with out's
 * index, begin and payload_len (= length, the bytes that follow as a
 * count; payload NULL), 0 if the header is incomplete, PF_ERR_LIMIT if
 * its length prefix exceeds max_len, PF_ERR_PROTO if it is too short for
 * a PIECE.  Returns PF_ERR_NOTFOUND (nothing consumed) if buf starts with
 * another message, or too few bytes are in to tell. */
#define PF_PIECE_HDR_LEN 13
long pf_msg_parse_piece_header(const uint8_t *buf, size_t len, size_t max_len, pf_msg *out);

/* Encoders append one whole message (length prefix included). */
int pf_msg_write_simple(pf_buf *b, pf_msg_type type); /* keepalive, choke,
    unchoke, interested, not interested, have all, have none */
int pf_msg_write_have(pf_buf *b, uint32_t index);
int pf_msg_write_bitfield(pf_buf *b, const uint8_t *bits, size_t nbytes);
/* REQUEST, CANCEL, REJECT share a layout. */
int pf_msg_write_req(pf_buf *b, pf_msg_type type, uint32_t index,
                     uint32_t begin, uint32_t length);
/* Writes only the 13-byte header of a PIECE message whose block of
 * `length` bytes the caller appends next (avoids a copy). */
int pf_msg_write_piece_header(pf_buf *b, uint32_t index, uint32_t begin,
                              uint32_t length);
int pf_msg_write_allowed_fast(pf_buf *b, uint32_t index);
int pf_msg_write_extended(pf_buf *b, uint8_t ext_id, const uint8_t *body,
                          size_t len);

/* BEP 6 allowed-fast set: up to k piece indices for a peer's IPv4
 * address (other families: returns 0 pieces).  Returns how many written. */
size_t pf_allowed_fast_set(const uint8_t info_hash[20], const pf_addr *peer,
                           uint32_t num_pieces, size_t k, uint32_t *out);

/* BEP 10 extension handshake (the bencoded body of ext message 0). */
typedef struct pf_ext_handshake {
    uint8_t pf_cdn;      /* peer's id for peerflow's pf_cdn, 0 = unsupported */
    uint8_t ut_metadata; /* peer's id for ut_metadata, 0 = unsupported */
    uint8_t ut_pex;      /* peer's id for ut_pex, 0 = unsupported */
    int64_t metadata_size; /* -1 if absent */
    uint16_t listen_port;  /* "p", 0 if absent */
    uint32_t reqq;         /* "reqq", 0 if absent */
    char client[64];       /* "v", truncated, NUL-terminated */
    int upload_only;       /* BEP 21 "upload_only" */
} pf_ext_handshake;

/* Returns 0 or PF_ERR_PARSE; unknown keys are ignored. */
int pf_ext_handshake_parse(const uint8_t *body, size_t len, pf_ext_handshake *out);
/* Appends the bencoded body (not the message framing). */
int pf_ext_handshake_write(pf_buf *b, const pf_ext_handshake *local);

/* peerflow's own "pf_cdn" extension message: the sender has just asked
 * the CDN for pieces [first, first + count) that no peer it knows has; its
 * HAVEs follow.  Other viewers streaming the same part of the file take
 * those pieces from it instead of asking the CDN for them too.  Body: 8
 * bytes, first and count as big-endian u32; count is 1..65536. */
typedef struct pf_cdn_notice {
    uint32_t first, count;
} pf_cdn_notice;
int pf_cdn_notice_parse(const uint8_t *body, size_t len, pf_cdn_notice *out);
/* Writes the body (not the message framing); PF_ERR_INVAL for a count
 * out of range. */
int pf_cdn_notice_encode(uint8_t out[8], uint32_t first, uint32_t count);

/* BEP 9 ut_metadata. */
enum { PF_UTM_REQUEST = 0, PF_UTM_DATA = 1, PF_UTM_REJECT = 2 };
#define PF_UTM_PIECE 16384u
typedef struct pf_utm_msg {
    int msg_type;
    uint32_t piece;
    int64_t total_size; /* DATA only, else -1 */
    const uint8_t *data; /* DATA: bytes after the dict */
    size_t data_len;
} pf_utm_msg;
int pf_utm_parse(const uint8_t *body, size_t len, pf_utm_msg *out);
/* Appends the body: the dict, then data for DATA messages. */
int pf_utm_write(pf_buf *b, int msg_type, uint32_t piece, int64_t total_size,
                 const uint8_t *data, size_t data_len);

/* BEP 11 ut_pex: parses "added" (compact v4) and "added6" peers.
 * Writes at most max addresses; returns how many, or PF_ERR_PARSE. */
int pf_pex_parse(const uint8_t *body, size_t len, pf_addr *out, size_t max);
int pf_pex_write(pf_buf *b, const pf_addr *added, size_t n_added,
                 const pf_addr *dropped, size_t n_dropped);

/* BEP 11 "added.f" flag bits. */
#define PF_PEX_ENCRYPTION 0x01u
#define PF_PEX_SEED 0x02u
#define PF_PEX_UTP 0x04u
#define PF_PEX_HOLEPUNCH 0x08u
#define PF_PEX_CONNECTABLE 0x10u
/* Full BEP 11 parse: added peers (v4 "added" first, then "added6") with
 * their "added.f"/"added6.f" flags (0 when absent) and dropped peers
 * ("dropped", then "dropped6").  Entries with port 0 are skipped, a
 * trailing partial compact entry is ignored.  At most max_added /
 * max_dropped are written; added_flags and the arrays may be NULL when
 * their max is 0.  Returns 0 with *n_added, *n_dropped set (either may be
 * NULL), or PF_ERR_PARSE (not a bencoded dict). */
int pf_pex_parse_full(const uint8_t *body, size_t len, pf_addr *added,
                      uint8_t *added_flags, size_t max_added, size_t *n_added,
                      pf_addr *dropped, size_t max_dropped, size_t *n_dropped);
/* pf_pex_write with per-peer flags for "added.f"/"added6.f" (added_flags
 * may be NULL = all 0).  Addresses with family other than 4/6 are
 * skipped.  BEP 11 suggests at most 50 added and 50 dropped per message;
 * that is the caller's policy. */
int pf_pex_write_flags(pf_buf *b, const pf_addr *added,
                       const uint8_t *added_flags, size_t n_added,
                       const pf_addr *dropped, size_t n_dropped);

#endif
