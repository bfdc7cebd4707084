/* A bounded, strict JSON (RFC 8259) reader.
 *
 * pf_json_parse reads one whole JSON text into a read-only document: one
 * allocation holding every node and every decoded string, so the input is
 * borrowed for the call only.  Strict: no comments, no trailing commas, no
 * leading zeros, no bare control characters in strings, no invalid UTF-8
 * (overlong forms, surrogates, past U+10FFFF), no lone \uD800-\uDFFF
 * escapes, nothing after the text but white space, and no object with the
 * same key twice (RFC 8259 leaves duplicates to the reader; refusing them
 * is the one reading nobody can be surprised by).  A UTF-8 byte order mark
 * is refused too (RFC 8259 section 8.1: senders must not add one).
 *
 * Bounds: nesting depth, node count, input length (pf_json_limits) and a
 * number's length (PF_JSON_NUM_MAX characters).  The parser is iterative
 * (its stack is an array as deep as the depth limit, never the C stack)
 * and runs in two passes over the input, as bencode.c does: the first
 * checks everything and counts the children of each container and the
 * bytes of the strings, the second fills one exactly sized block.  Time is
 * linear in the input, except the duplicate-key check, which sorts each
 * object's keys: O(n log n) in the worst case, never quadratic.
 *
 * Numbers are converted once, by strtod (correctly rounded, whatever the
 * C library's numeric locale); one too large for a double ("1e400") parses,
 * and pf_json_num reports it with PF_ERR_RANGE.  "-0" is -0.0. */
#ifndef PF_CORE_CODEC_JSON_H
#define PF_CORE_CODEC_JSON_H

#include <stddef.h>

#include "peerflow/peerflow.h"

#define PF_JSON_DEFAULT_DEPTH 64
#define PF_JSON_DEFAULT_NODES 1000000
#define PF_JSON_DEFAULT_LEN (16u << 20)
#define PF_JSON_NUM_MAX 256 /* characters of one number */

typedef enum pf_json_kind {
    PF_JSON_NONE = 0, /* what pf_json_type says of NULL */
    PF_JSON_NULL,
    PF_JSON_FALSE,
    PF_JSON_TRUE,
    PF_JSON_NUMBER,
    PF_JSON_STRING,
    PF_JSON_ARRAY,
    PF_JSON_OBJECT
} pf_json_kind;

/* A zero field takes its default. */
typedef struct pf_json_limits {
    size_t max_depth;  /* nesting of arrays and objects; default 64 */
    size_t max_nodes;  /* values and keys; default 1,000,000 */
    size_t max_len;    /* input bytes; default 16 MiB (at most 2^31) */
    const pf_mem *mem; /* the document's allocator; NULL: libc */
} pf_json_limits;

typedef struct pf_json pf_json;         /* a node */
typedef struct pf_json_doc pf_json_doc; /* owns every node */

/* Parses s[0, n).  lim may be NULL (defaults).  Returns 0 and *out (free
 * with pf_json_free), or PF_ERR_PARSE (malformed, duplicate key),
 * PF_ERR_LIMIT (too long, deep, many nodes, a number too long) or
 * PF_ERR_NOMEM, with *out NULL and a short reason in why ("line 3, column
 * 9: expected ':' after an object key") when why is not NULL. */
int pf_json_parse(const char *s, size_t n, const pf_json_limits *lim, pf_json_doc **out, char *why, size_t whylen);
void pf_json_free(pf_json_doc *doc);
const pf_json *pf_json_root(const pf_json_doc *doc);

/* Every accessor takes NULL (and a node of another type) and answers
 * "nothing": PF_JSON_NONE, 0, NULL, PF_ERR_INVAL, so lookups chain:
 * pf_json_get(pf_json_get(root, "meta"), "vtag"). */
pf_json_kind pf_json_type(const pf_json *v);
/* "an object", "a string", "null"...: for messages. */
const char *pf_json_kind_name(pf_json_kind k);
/* Elements of an array, members of an object; 0 otherwise. */
size_t pf_json_len(const pf_json *v);
/* The i-th element of an array (NULL past the end). */
const pf_json *pf_json_at(const pf_json *arr, size_t i);
/* The i-th member of an object, in the input's order: its key (decoded,
 * NUL-terminated; *len its length, which counts any \u0000 inside) and
 * its value. */
const char *pf_json_key(const pf_json *obj, size_t i, size_t *len);
const pf_json *pf_json_member(const pf_json *obj, size_t i);
/* The value of key (NUL-terminated) in obj; NULL if absent.  Linear in
 * the number of members. */
const pf_json *pf_json_get(const pf_json *obj, const char *key);
/* A string, decoded to UTF-8 and NUL-terminated; *len (may be NULL) its
 * length.  NULL if v is not a string. */
const char *pf_json_str(const pf_json *v, size_t *len);
/* A number: 0, PF_ERR_RANGE (too large: *out is +/-HUGE_VAL) or
 * PF_ERR_INVAL (not a number). */
int pf_json_num(const pf_json *v, double *out);

/* For messages: s[0, n) with '"' and '\\' escaped, other bytes outside
 * printable ASCII as \xNN, cut after 40 bytes ("..."), into out (cap
 * bytes, NUL-terminated).  Returns the length written. */
int pf__json_quote(const char *s, size_t n, char *out, size_t cap);

#endif
