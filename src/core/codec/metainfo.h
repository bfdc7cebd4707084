/* .torrent metainfo (BEP 3 v1, BEP 12 announce-list, BEP 19 url-list,
 * BEP 27 private): parsing and building. */
#ifndef PF_CORE_METAINFO_H
#define PF_CORE_METAINFO_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util/buf.h"
#include "peerflow/metainfo.h" /* the public view (opaque) of the same struct */
#include "peerflow/peerflow.h"

typedef struct pf_file_entry {
    char *path;      /* relative, '/'-separated, validated safe: no "..",
                        ".", empty or absolute components, no NUL/backslash.
                        Single-file torrents: the name. Multi-file: the
                        path below the torrent's name directory. */
    uint64_t length;
    uint64_t offset; /* byte offset of this file in the torrent's stream */
    int pad;         /* BEP 47 padding file (attr contains 'p') */
} pf_file_entry;

typedef struct pf_tracker_url {
    char *url;
    int tier; /* BEP 12 tier; 0 for the plain `announce` */
} pf_tracker_url;

typedef struct pf_metainfo {
    const pf_mem *mem;   /* its allocator (NULL: libc) */
    uint8_t info_hash[20];
    char *name;          /* validated like a path component */
    int multi_file;      /* 1 if info has `files` */
    uint64_t total_length;
    uint32_t piece_length;
    uint32_t num_pieces;
    uint8_t *piece_hashes; /* 20 * num_pieces bytes */
    pf_file_entry *files;
    size_t num_files;
    pf_tracker_url *trackers; /* announce-list (tiers in order) if present,
                                 else announce as tier 0; deduplicated */
    size_t num_trackers;
    char **webseeds; /* url-list: string or list of strings */
    size_t num_webseeds;
    int private_flag;
    /* libtorrent's SSL torrents: the operator's root certificate (PEM) that
     * every peer's certificate must chain to; NULL if none.  Its bytes as
     * the info dict has them (ssl_cert_len), NUL-terminated. */
    char *ssl_cert;
    size_t ssl_cert_len;
    char *comment;      /* may be NULL */
    char *created_by;   /* may be NULL */
    int64_t creation_date; /* 0 if absent */
    uint8_t *info_raw;  /* the exact bencoded info dict (owned copy) */
    size_t info_len;
    /* References besides the first (pf_metainfo_ref): pf_metainfo_free
     * drops one, and frees at the last.  Atomic: sessions on several
     * threads may share it. */
    _Atomic uint32_t extra_refs;
} pf_metainfo;

/* Limits enforced while parsing (a crafted torrent cannot exhaust memory):
 * at most 16 MiB total input, 100,000 files, path depth 64, piece length a
 * power of two in [16 KiB, 64 MiB], pieces length == 20 * ceil(total /
 * piece_length), total length > 0 and < 2^50. */

/* Parses a whole .torrent file.  Returns 0 and *out, or PF_ERR_PARSE,
 * PF_ERR_LIMIT, PF_ERR_UNSAFE_PATH, PF_ERR_NOMEM.  buf is borrowed. */
int pf_metainfo_parse(const uint8_t *buf, size_t len, const pf_mem *mem, pf_metainfo **out);

/* Builds a metainfo from a bare info dict (e.g. fetched with BEP 9).  If
 * expect_hash is not NULL, the SHA-1 of info must equal it (PF_ERR_HASH).
 * trackers/webseeds are left empty. */
int pf_metainfo_from_info(const uint8_t *info, size_t len,
                          const uint8_t *expect_hash, const pf_mem *mem, pf_metainfo **out);

void pf_metainfo_free(pf_metainfo *mi);

/* Index of the file containing stream byte `offset` (binary search);
 * returns num_files if offset >= total_length. */
size_t pf_metainfo_file_at(const pf_metainfo *mi, uint64_t offset);
/* Size of piece i (the last may be short). */
uint32_t pf_metainfo_piece_size(const pf_metainfo *mi, uint32_t i);

/* Torrent creation.  The caller reads the files and hashes pieces (see
 * src/net/create.c); this only encodes.  files[].offset is ignored. */
typedef struct pf_create_params {
    const char *name;
    const pf_file_entry *files; /* one entry with multi_file 0 = single */
    size_t num_files;
    int multi_file;
    uint32_t piece_length;
    const uint8_t *piece_hashes; /* 20 * num_pieces */
    uint32_t num_pieces;
    const char *const *trackers; /* each its own tier; may be NULL */
    size_t num_trackers;
    const char *const *webseeds; /* url-list; may be NULL */
    size_t num_webseeds;
    int private_flag;
    const char *ssl_cert;   /* PEM root certificate for "ssl-cert"; may be NULL */
    const char *comment;    /* may be NULL */
    const char *created_by; /* may be NULL */
    int64_t creation_date;  /* 0 = omit */
} pf_create_params;

/* Encodes a .torrent into out; returns 0 or a negative pf_err. */
int pf_metainfo_build(const pf_create_params *p, pf_buf *out);

/* Checks a relative '/'-separated path with the parser's rules (no "..",
 * ".", empty or absolute components, no backslash; depth <= 64).  Returns
 * 0 or PF_ERR_UNSAFE_PATH. */
int pf_metainfo_check_path(const char *path);

/* Piece length chosen by total size: aims at ~1000-2000 pieces, clamped
 * to [16 KiB, 16 MiB]. */
uint32_t pf_metainfo_auto_piece_length(uint64_t total);

#endif
