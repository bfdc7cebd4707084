/* Fuzz the fast-resume record parser.  Invariants: only a well-formed
 * record for this torrent and these stamps is accepted; an accepted one
 * re-encodes to the same bytes (the format is canonical); a refusal leaves
 * the bitfield untouched. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec/resume.h"
#include "peerflow/peerflow.h"

static void one(const uint8_t *data, size_t size, uint32_t npieces, size_t nfiles)
{
    static const uint8_t ih[20] = "fuzz-resume-infohash";
    static const uint64_t st[4] = {5000, 42, UINT64_MAX, UINT64_MAX};
    pf_bitfield have;
    if (pf_bitfield_init(&have, npieces) != 0) return;
    const char *why = NULL;
    int rc = pf_resume_parse(data, size, ih, st, nfiles, &have, &why);
    if (rc != 0) {
        if (have.count != 0 || !why) abort();
        if (rc != PF_ERR_PARSE && rc != PF_ERR_INVAL && rc != PF_ERR_EXISTS && rc != PF_ERR_NOMEM &&
            rc != PF_ERR_LIMIT)
            abort();
    } else {
        pf_buf b;
        pf_buf_init(&b);
        if (pf_resume_encode(&b, ih, &have, st, nfiles) != 0) abort();
        if (b.len != size || memcmp(b.data, data, size) != 0) abort();
        pf_buf_free(&b);
    }
    pf_bitfield_free(&have);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A few torrent shapes per input, those of the corpus's valid records
     * among them, so both sides of every check are reachable. */
    for (uint32_t npieces = 1; npieces <= 40; npieces += 13)
        for (size_t nfiles = 1; nfiles <= 2; nfiles++) one(data, size, npieces, nfiles);
    return 0;
}
