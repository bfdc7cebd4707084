/* Strict bencode (BEP 3) parser and encoder.
 *
 * The parser accepts only canonical input: integers without leading zeros
 * or "-0", string lengths without leading zeros, dictionary keys that are
 * byte strings in strictly increasing (memcmp, then shorter-first) order.
 * Depth, node count and input length are bounded by pf_ben_limits.
 * Nodes point into the caller's input, which must outlive the document. */
#ifndef PF_CORE_BENCODE_H
#define PF_CORE_BENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "core/util/buf.h"
#include "peerflow/peerflow.h"

typedef enum pf_ben_type {
    PF_BEN_INT = 1,
    PF_BEN_STR,
    PF_BEN_LIST,
    PF_BEN_DICT
} pf_ben_type;

typedef struct pf_ben pf_ben;
struct pf_ben {
    pf_ben_type type;
    const uint8_t *raw; /* first byte of this value's encoding in the input */
    size_t raw_len;     /* length of this value's encoding */
    union {
        int64_t i;
        struct {
            const uint8_t *p;
            size_t len;
        } s;
        struct {
            pf_ben *items; /* list: n values; dict: n key/value pairs as
                              items[2k] (key, a STR) and items[2k+1] */
            size_t n;      /* list: number of values; dict: number of pairs */
        } c;
    } v;
};

typedef struct pf_ben_limits {
    size_t max_depth; /* nesting of lists/dicts; default 32 */
    size_t max_nodes; /* total values; default 1,000,000 */
    size_t max_len;   /* input bytes; default 64 MiB */
    const pf_mem *mem; /* the document's allocator; NULL: libc */
} pf_ben_limits;

typedef struct pf_ben_doc pf_ben_doc; /* owns the node arena */

/* Parses one value at the start of buf.  If allow_trailing is 0, the
 * value must span exactly len bytes; otherwise trailing bytes are allowed
 * and *consumed (may be NULL) says where the value ended.  limits may be
 * NULL for defaults.  Returns 0 and *out (free with pf_ben_doc_free), or
 * PF_ERR_PARSE (malformed or non-canonical), PF_ERR_LIMIT, PF_ERR_NOMEM. */
int pf_bencode_parse(const uint8_t *buf, size_t len, int allow_trailing,
                     const pf_ben_limits *limits, pf_ben_doc **out,
                     size_t *consumed);
const pf_ben *pf_ben_doc_root(const pf_ben_doc *doc);
void pf_ben_doc_free(pf_ben_doc *doc);

/* Lookup helpers; each returns NULL when absent or of another type. */
const pf_ben *pf_ben_dict_get(const pf_ben *dict, const char *key);
const pf_ben *pf_ben_dict_get_type(const pf_ben *dict, const char *key,
                                   pf_ben_type type);
/* Key equality against a NUL-terminated string. */
int pf_ben_str_eq(const pf_ben *s, const char *lit);
/* Copies a STR into a fresh NUL-terminated string (NULL if it holds a NUL
 * byte or on allocation failure). */
char *pf_ben_strdup(const pf_ben *s, const pf_mem *mem);

/* Encoder: appends to a pf_buf.  The caller writes dict keys in sorted
 * order.  All return 0 or PF_ERR_NOMEM. */
int pf_benc_int(pf_buf *b, int64_t v);
int pf_benc_str(pf_buf *b, const void *p, size_t n);
int pf_benc_cstr(pf_buf *b, const char *s);
int pf_benc_list_begin(pf_buf *b);
int pf_benc_dict_begin(pf_buf *b);
int pf_benc_end(pf_buf *b);

#endif
