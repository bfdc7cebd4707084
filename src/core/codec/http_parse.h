/* Sans-I/O HTTP/1.1 request parsing (RFC 9110/9112) and related helpers:
 * query strings with percent-decoding, single byte ranges, and response
 * header building.  Nothing here allocates except into a caller's pf_buf. */
#ifndef PF_CORE_HTTP_PARSE_H
#define PF_CORE_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "core/util/buf.h"

#define PF_HTTP_MAX_HEAD 8192  /* request line + headers + blank line */
#define PF_HTTP_MAX_HEADERS 64

/* A borrowed, not NUL-terminated slice of the caller's input. */
typedef struct pf_http_str {
    const char *p;
    size_t len;
} pf_http_str;

typedef enum pf_http_method {
    PF_HTTP_OTHER = 0, /* a valid token we do not know: see method_str */
    PF_HTTP_GET,
    PF_HTTP_HEAD,
    PF_HTTP_POST,
    PF_HTTP_PUT,
    PF_HTTP_DELETE,
    PF_HTTP_OPTIONS
} pf_http_method;

typedef struct pf_http_header {
    pf_http_str name;  /* as received */
    pf_http_str value; /* leading/trailing whitespace stripped */
} pf_http_header;

typedef struct pf_http_request {
    pf_http_method method;
    pf_http_str method_str;
    pf_http_str target; /* raw request-target */
    pf_http_str path;   /* origin-form path (absolute-form: path part), still
                           percent-encoded; "*" for OPTIONS * */
    pf_http_str query;  /* after '?', without it; len 0 if none */
    int has_query;
    int version_minor;  /* 0 or 1 (HTTP/1.x only) */
    pf_http_header headers[PF_HTTP_MAX_HEADERS];
    size_t num_headers;
    pf_http_str host;         /* Host header value (len 0 if absent: 1.0) */
    int keep_alive;           /* version default adjusted by Connection */
    int has_content_length;
    uint64_t content_length;  /* 0 unless has_content_length */
    size_t head_len;          /* bytes consumed by the head */
    int target_too_long;      /* PF_ERR_LIMIT hit inside the request line:
                                 answer 414 rather than 431 */
} pf_http_request;

/* Parses one request head (request line, header fields, blank line) at the
 * start of buf.  Call again with more bytes when it returns 0; lines are
 * validated as they complete, so garbage is rejected early.  On success
 * returns the head length (> 0) and fills *req, whose slices point into buf
 * (borrowed: valid while buf is).  Any body (Content-Length bytes) follows.
 * Errors: PF_ERR_PARSE (malformed, including NUL or other control bytes
 * in the request line or a field: answer 400), PF_ERR_LIMIT (head over
 * max_head or more than PF_HTTP_MAX_HEADERS fields: answer 431; 414 when
 * req->target_too_long, i.e. the request line alone is over max_head),
 * PF_ERR_UNSUPPORTED (Transfer-Encoding or a version other than 1.0/1.1:
 * answer 501/505 — req->version_minor is -1 for the latter).
 * max_head 0 means PF_HTTP_MAX_HEAD.  HTTP/1.1 requires exactly one Host;
 * duplicated or conflicting Content-Length is PF_ERR_PARSE. */
int pf_http_request_parse(const uint8_t *buf, size_t len, size_t max_head,
                          pf_http_request *req);

/* First header with this name (case-insensitive) or NULL. */
const pf_http_str *pf_http_header_get(const pf_http_request *req,
                                      const char *name);
/* 1 if any header `name` holds `token` in its comma-separated list
 * (case-insensitive), else 0.  E.g. ("Connection", "close"). */
int pf_http_header_has_token(const pf_http_request *req, const char *name,
                             const char *token);
/* Case-insensitive compare of a slice with a NUL-terminated string. */
int pf_http_str_ieq(pf_http_str s, const char *lit);

/* --- URLs ------------------------------------------------------------- */

/* Percent-decodes src[0..len) into out (capacity cap).  '+' becomes a
 * space only if plus_is_space.  Binary results (including 0x00) are fine.
 * Returns 0 and *out_len, PF_ERR_PARSE (bad %-escape) or PF_ERR_LIMIT
 * (does not fit in cap). */
int pf_http_pct_decode(const char *src, size_t len, int plus_is_space,
                       uint8_t *out, size_t cap, size_t *out_len);
/* Appends p[0..n) percent-encoded (everything except RFC 3986 unreserved
 * ALPHA / DIGIT / "-" / "." / "_" / "~").  Returns 0 or PF_ERR_NOMEM. */
int pf_http_pct_encode(pf_buf *out, const void *p, size_t n);

/* Iterates "k=v&k2=v2" pairs; empty pairs are skipped, a pair without '='
 * has an empty value.  Slices stay percent-encoded. */
typedef struct pf_http_query_iter {
    const char *p, *end;
} pf_http_query_iter;
void pf_http_query_init(pf_http_query_iter *it, const char *q, size_t len);
/* Returns 1 with *key and *val set, or 0 when done. */
int pf_http_query_next(pf_http_query_iter *it, pf_http_str *key,
                       pf_http_str *val);
/* Finds the first parameter whose decoded key equals `key` and decodes its
 * value ('+' = space) into out.  Returns 0, PF_ERR_NOTFOUND, PF_ERR_PARSE
 * or PF_ERR_LIMIT (value longer than cap). */
int pf_http_query_get(const char *q, size_t len, const char *key,
                      uint8_t *out, size_t cap, size_t *out_len);

/* --- Ranges (RFC 9110 section 14) ------------------------------------- */

typedef struct pf_http_range {
    uint64_t start, end; /* inclusive; end < resource length */
} pf_http_range;

/* Evaluates a Range header value against a representation of `total`
 * bytes.  Supports one "bytes=" range: "a-b", "a-", "-n".
 * Returns 0 with *out set (answer 206 + Content-Range), PF_ERR_RANGE
 * (unsatisfiable: answer 416 with "Content-Range: bytes * /total"), or
 * PF_ERR_UNSUPPORTED (other unit, several ranges, or invalid syntax: per
 * RFC 9110 ignore the header and answer 200 with the whole body).
 *
 * Positions of any length are compared exactly as decimal numbers (a
 * position past 2^64 is simply past the end): "bytes=B-A" with B > A is
 * invalid and ignored however large both are; a valid range whose first
 * position is at or past the end ("bytes=18446744073709551615-",
 * "bytes=99999999999999999999-99999999999999999999" on a small file) is
 * unsatisfiable (RFC 9110 15.5.17) and gets PF_ERR_RANGE.  A suffix
 * "-0" or any range of an empty representation is unsatisfiable too.
 * Negative numbers ("bytes=-5-9", "bytes=--1") are bad syntax. */
int pf_http_range_parse(const char *v, size_t len, uint64_t total,
                        pf_http_range *out);

/* --- Responses -------------------------------------------------------- */

typedef struct pf_http_resp_head {
    int status;               /* 100..999 */
    const char *reason;       /* NULL: pf_http_reason(status) */
    const char *content_type; /* NULL: omitted */
    int64_t content_length;   /* < 0: omitted */
    int chunked;              /* "Transfer-Encoding: chunked" */
    int has_range;            /* "Content-Range: bytes start-end/total" */
    pf_http_range range;
    int range_unsatisfied;    /* "Content-Range: bytes * /total" (416) */
    uint64_t range_total;
    int accept_ranges;        /* "Accept-Ranges: bytes" */
    int keep_alive;           /* "Connection: keep-alive" or "close" */
    int64_t date;             /* Unix seconds for "Date"; < 0 omits it */
    const char *extra;        /* raw header lines, each ending in CRLF */
} pf_http_resp_head;

/* Sets status 200, no content type/length/date, keep_alive 1. */
void pf_http_resp_head_init(pf_http_resp_head *h, int status);
/* Appends "HTTP/1.1 ..." through the blank line to out.  Returns 0,
 * PF_ERR_NOMEM, or PF_ERR_INVAL (bad status; CR/LF in a string field;
 * extra not made of CRLF-terminated lines). */
int pf_http_resp_head_build(pf_buf *out, const pf_http_resp_head *h);
/* Standard reason phrase, "Unknown" for others; never NULL. */
const char *pf_http_reason(int status);
/* IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") of Unix seconds into out
 * (at least 30 bytes). */
void pf_http_date_format(int64_t unix_s, char *out, size_t outlen);

#endif
