/* Magnet URIs (BEP 9): xt=urn:btih:<40 hex | 32 base32>, dn, tr, ws, x.pe */
#ifndef PF_CORE_MAGNET_H
#define PF_CORE_MAGNET_H

#include <stddef.h>
#include <stdint.h>

#include "peerflow/metainfo.h" /* the public view (opaque) of the same struct */
#include "peerflow/peerflow.h"

typedef struct pf_magnet {
    const pf_mem *mem; /* its allocator (NULL: libc) */
    uint8_t info_hash[20];
    char *name;        /* dn, may be NULL */
    char **trackers;   /* tr, percent-decoded, in order */
    size_t num_trackers;
    char **webseeds;   /* ws */
    size_t num_webseeds;
    char **peers;      /* x.pe as "host:port" strings */
    size_t num_peers;
} pf_magnet;

/* Returns 0 and *out, or PF_ERR_PARSE (not a magnet, no/invalid btih),
 * PF_ERR_LIMIT (over 8 KiB or more than 64 values of one kind),
 * PF_ERR_NOMEM. */
int pf_magnet_parse(const char *uri, const pf_mem *mem, pf_magnet **out);
void pf_magnet_free(pf_magnet *m);

/* Writes a magnet URI for an info-hash, name and trackers into out. */
#include "core/util/buf.h"
#include "peerflow/peerflow.h"
#include "peerflow/peerflow.h"
int pf_magnet_build(pf_buf *out, const uint8_t info_hash[20], const char *name,
                    const char *const *trackers, size_t num_trackers);

#endif
