/* Integrity tags of verified pieces, for verify on read (the libuv
 * client's threadpool workers).
 *
 * A piece read back from disk is served only once it is known to be the
 * verified piece.  SHA-1 proves that, at ~0.5 CPU-s per GiB.  Instead,
 * when a piece is verified (downloaded, hash-checked at start, or read
 * back and SHA-1-checked), a keyed 64-bit tag of its bytes is kept in
 * memory: XXH3-64 under a secret of 192 random bytes (drawn when the client
 * starts, or read from the installation's key file: net/tag_store.h;
 * never sent).  A later read-back whose tag
 * matches is that verified piece; one with no tag, or whose tag differs,
 * is decided by SHA-1 (a match is tagged, a mismatch clears the tag), so
 * a mismatch behaves exactly as without tags.  Why a non-cryptographic
 * keyed tag is enough: docs/ARCHITECTURE.md, "Verify on read".
 *
 * Tags live in memory, 8 bytes per piece; with a key file they are also
 * saved beside the resume record and restored at a fast resume
 * (net/tag_store.h); without one a restart starts with none.  Thread-safe: each tag is one
 * atomic word; set/clear/verify may run from several workers at once.
 * The caller clears a piece's tag before it changes the piece on disk
 * (write, discard) and sets it only after the new bytes are written.
 * A tag is only ever taken from bytes that matched the piece's SHA-1, so
 * every tag a piece gets has the same value: a tag left over from an
 * older copy (a race, a missed clear) still accepts only the right bytes. */
#ifndef PF_NET_PIECE_TAGS_H
#define PF_NET_PIECE_TAGS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define PF__TAG_SECRET_LEN 192

typedef struct pf__piece_tags {
    _Atomic uint64_t *tag; /* per piece; 0: none.  NULL: no tags at all
                              (every read-back is SHA-1-checked) */
    uint32_t n;            /* pieces */
    const uint8_t *secret; /* PF__TAG_SECRET_LEN bytes, borrowed */
    /* Counters (relaxed; tests and diagnostics): */
    _Atomic uint64_t tag_hits;   /* read-backs proved by their tag */
    _Atomic uint64_t sha1_reads; /* read-backs that needed SHA-1 */
} pf__piece_tags;

/* Fills secret with PF__TAG_SECRET_LEN random bytes.  0, or PF_ERR_IO (no
 * randomness: leave the tags off). */
int pf__tag_secret_new(uint8_t secret[PF__TAG_SECRET_LEN]);

/* n pieces, none tagged, under secret (borrowed: it must outlive pt).  A
 * NULL secret leaves pt without tags (every check is SHA-1) and returns 0;
 * so does no memory, returning PF_ERR_NOMEM. */
int pf__piece_tags_init(pf__piece_tags *pt, uint32_t n, const uint8_t *secret);
void pf__piece_tags_free(pf__piece_tags *pt);

/* buf[0, len) is piece `piece`, verified: remember its tag. */
void pf__piece_tags_set(pf__piece_tags *pt, uint32_t piece, const uint8_t *buf, size_t len);
/* The piece on disk is about to change (or failed its check): forget. */
void pf__piece_tags_clear(pf__piece_tags *pt, uint32_t piece);

/* The tags as they are now into out[0, n) (0: none); 0 if pt has no
 * tags (out untouched), else 1.  For the tag file (net/tag_store.h). */
int pf__piece_tags_snapshot(const pf__piece_tags *pt, uint64_t *out);
/* Tags read back from a tag file: piece i gets tags[i] where it is
 * nonzero.  Taken from SHA-1-matching bytes under the same key, they are
 * the values pf__piece_tags_set would compute. */
void pf__piece_tags_restore(pf__piece_tags *pt, const uint64_t *tags);

/* Verify on read: 1 if buf[0, len), read back from disk, is piece `piece`
 * as verified: its tag matches, or else its SHA-1 equals sha1 (then it is
 * tagged); 0 if not (its tag is cleared). */
int pf__piece_tags_verify(pf__piece_tags *pt, uint32_t piece, const uint8_t *buf, size_t len,
                          const uint8_t sha1[20]);

#endif
