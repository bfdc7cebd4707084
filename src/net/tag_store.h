/* Piece tags kept across restarts (verify on read; net/piece_tags.h).
 *
 * The tags' secret is a per-installation key file (192 random bytes,
 * created 0600 in 0700 folders when absent, outside the data folder:
 * the CLI's default is $XDG_STATE_HOME/peerflow/tag.key).  Beside each
 * fast-resume record, <dir>/.peerflow/<info-hash>.tags holds the tags of
 * the torrent's pieces, named by the key's fingerprint and sealed by an
 * HMAC under the key.  A tag file is used only with the resume record it
 * sits beside (a fast resume), and only if it names this key, this
 * torrent and its piece count and its HMAC holds; otherwise no tag is
 * restored and every first read-back is SHA-1-checked, as without it.
 * Why a stale or tampered tag file never serves wrong bytes:
 * docs/ARCHITECTURE.md, "Verify on read: piece tags".
 *
 * Format (version 1, integers little-endian), 80 + 8 n bytes:
 *   "PFTAGS\0\1"   magic and version            8
 *   info-hash                                  20
 *   n              pieces (uint32)              4
 *   fingerprint    of the key (below)          16
 *   tags           n x uint64 (0: none)       8 n
 *   HMAC-SHA256    of all the above, under     32
 *                  the key's MAC key
 * Fingerprint = HMAC-SHA256(secret, "peerflow tag key fingerprint 1")
 * cut to 16 bytes; MAC key = HMAC-SHA256(secret, "peerflow tag file mac
 * 1"): neither reveals the secret. */
#ifndef PF_NET_TAG_STORE_H
#define PF_NET_TAG_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/util/buf.h"
#include "net/piece_tags.h"

#define PF__TAG_FPR_LEN 16
#define PF__TAG_FILE_HEAD 48
#define PF__TAG_FILE_MAC 32

typedef struct pf__tag_key {
    uint8_t secret[PF__TAG_SECRET_LEN];
    uint8_t fpr[PF__TAG_FPR_LEN]; /* names the key */
    uint8_t mac[32];              /* seals tag files */
} pf__tag_key;

/* Fills fpr and mac from secret.  0, or PF_ERR_IO. */
int pf__tag_key_derive(pf__tag_key *k);

/* The key in the file at path, created when absent (random, mode 0600,
 * missing folders 0700; atomically: a file is linked into place complete,
 * and of two processes creating it at once both use the one that won).
 * A key file must be a regular file of this user, of exactly
 * PF__TAG_SECRET_LEN bytes, neither readable nor writable by others.
 * 0, or PF_ERR_IO with *why a short reason (a static string). */
int pf__tag_key_load(const char *path, pf__tag_key *k, const char **why);

/* The tag file of a torrent of n pieces (tags[i]: piece i's, 0 none).
 * 0, or PF_ERR_NOMEM / PF_ERR_IO. */
int pf__tag_file_encode(pf_buf *out, const pf__tag_key *k, const uint8_t info_hash[20],
                        const uint64_t *tags, uint32_t n);
/* Checks buf against this key, torrent and piece count.  0 and tags[0, n)
 * filled, or PF_ERR_PARSE (not a tag file, wrong size, its HMAC fails) or
 * PF_ERR_INVAL (another key, torrent or piece count) with *why set and
 * tags untouched. */
int pf__tag_file_parse(const uint8_t *buf, size_t len, const pf__tag_key *k,
                       const uint8_t info_hash[20], uint32_t n, uint64_t *tags, const char **why);

#endif
