/* CMCD, Common Media Client Data (CTA-5004): what a player tells the CDN
 * with each request (its buffer, the deadline, start-up, the object's
 * type and bitrate, its measured throughput, a session id), so that a
 * CDN can serve urgent requests first.  Encoder only, sans-I/O, no
 * allocation: the payload is written into a caller's buffer.
 *
 * Keys are written in alphabetical order, comma-separated, as CTA-5004
 * and RFC 8941 (Structured Fields) say: integers (br, bl, d, dl, mtp,
 * rtp, tb in kbps or ms), booleans as a bare key when true and left out
 * when false (bs, su), strings quoted with '"' and '\' escaped (cid, sid,
 * nor, nrr), tokens bare (ot, sf, st), pr a decimal.  bl and dl are
 * rounded to the nearest 100 ms, mtp to the nearest 100 kbps, the other
 * integers to the nearest unit.  v is left out for version 1.  Not part
 * of any API. */
#ifndef PF_CORE_MEDIA_CMCD_H
#define PF_CORE_MEDIA_CMCD_H

#include <stddef.h>
#include <stdint.h>

/* The four CMCD headers; a key goes in the one its group names. */
#define PF__CMCD_OBJECT 1u  /* CMCD-Object: br, d, ot, tb */
#define PF__CMCD_REQUEST 2u /* CMCD-Request: bl, dl, mtp, nor, nrr, su */
#define PF__CMCD_SESSION 4u /* CMCD-Session: cid, pr, sf, sid, st, v */
#define PF__CMCD_STATUS 8u  /* CMCD-Status: bs, rtp */
#define PF__CMCD_ALL 15u

#define PF__CMCD_ID_MAX 64    /* cid and sid: longer ones are left out */
#define PF__CMCD_NOR_MAX 1024 /* nor: a longer one is left out (nrr: 64) */

/* One request's data.  pf__cmcd_init leaves every key out; a number < 0,
 * a NULL string, an empty token is left out. */
typedef struct pf__cmcd {
    double br_kbps;  /* encoded bitrate of the object */
    double bl_ms;    /* buffer length (rounded to 100 ms) */
    double d_ms;     /* object duration */
    double dl_ms;    /* deadline: until the object is needed (100 ms) */
    double mtp_kbps; /* measured throughput (rounded to 100 kbps) */
    double rtp_kbps; /* requested maximum throughput */
    double tb_kbps;  /* top bitrate */
    double pr;       /* playback rate; 1 (the default) is left out too */
    int bs;          /* buffer starvation since the last request */
    int su;          /* start-up or after a seek */
    const char *cid; /* content id (at most 64 characters) */
    const char *sid; /* session id (at most 64 characters) */
    const char *nor; /* next object: a URL-encoded path relative to this one */
    const char *nrr; /* next range: "<start>-<end>" */
    char ot[3];      /* object type: m a v av i c tt k o */
    char sf;         /* streaming format: d (DASH) h (HLS) s o */
    char st;         /* stream type: v (VOD) l (live) */
    int v;           /* version; 0 or 1 are left out */
} pf__cmcd;

void pf__cmcd_init(pf__cmcd *c);

/* The payload of the keys in `groups` (PF__CMCD_* bits), NUL-terminated,
 * into out (cap bytes).  Returns its length (0: no key), or
 * PF_ERR_RANGE if cap is too small (out then holds ""). */
long pf__cmcd_encode(const pf__cmcd *c, unsigned groups, char *out, size_t cap);

/* The query argument: "CMCD=" and the whole payload percent-encoded as
 * JavaScript's encodeURIComponent does (what CTA-5004 asks); "" when
 * there is no key.  The caller appends it after '?' or '&'.  Returns the
 * length or PF_ERR_RANGE. */
long pf__cmcd_query(const pf__cmcd *c, char *out, size_t cap);

/* Header mode: "CMCD-Object: ...\r\n", "CMCD-Request: ...\r\n",
 * "CMCD-Session: ...\r\n", "CMCD-Status: ...\r\n", each only when it has
 * a key.  Returns the length or PF_ERR_RANGE. */
long pf__cmcd_headers(const pf__cmcd *c, char *out, size_t cap);

/* A UUID-like session id (8-4-4-4-12 lowercase hex, version 4 bits) from
 * 128 random bits; out holds 37 bytes. */
void pf__cmcd_session_id(uint64_t hi, uint64_t lo, char out[37]);

#endif
