/* Fast-resume records: which pieces of a torrent were verified and are on
 * disk, and what the files looked like (size, mtime) when that was true.
 * Sans-I/O: the caller reads and writes the bytes (src/net/client.c keeps
 * them at <dir>/.peerflow/<info-hash>.resume).
 *
 * Trust rule: a record is used only if it is well-formed, names this
 * torrent and its piece and file counts, and every file still has exactly
 * the size and modification time recorded.  Anything else (a crash after
 * the record was written, another program touching the data, a different
 * torrent) means the data is hashed again before any of it is used.
 *
 * Format (bencoded dict, canonical): "files": list of 2 ints per file
 * (size, mtime in ns; pad files 0, 0; a missing file -1, -1), "info-hash":
 * 20 bytes, "pieces": the bitfield in wire order, "version": 1. */
#ifndef PF_CORE_RESUME_H
#define PF_CORE_RESUME_H

#include <stddef.h>
#include <stdint.h>

#include "core/codec/bitfield.h"
#include "core/util/buf.h"

/* stamps: 2 per file as described above (UINT64_MAX encodes as -1).
 * Returns 0 or PF_ERR_NOMEM / PF_ERR_INVAL. */
int pf_resume_encode(pf_buf *out, const uint8_t info_hash[20], const pf_bitfield *have,
                     const uint64_t *stamps, size_t nfiles);

/* Validates buf against the torrent and the files' current stamps.
 * Returns 0 and loads *have (initialised by the caller to num_pieces bits)
 * if the record may be trusted; otherwise PF_ERR_PARSE (malformed or
 * non-canonical), PF_ERR_INVAL (another torrent or shape) or PF_ERR_EXISTS
 * (the files changed since it was written), with *why set to a short
 * reason, and *have untouched. */
int pf_resume_parse(const uint8_t *buf, size_t len, const uint8_t info_hash[20],
                    const uint64_t *stamps, size_t nfiles, pf_bitfield *have, const char **why);

#endif
