/* Fuzz the HLS playlist reader (core/media/hls.c, manifest.c).
 * Input: a playlist, optionally followed by a NUL byte and a media
 * playlist.  The first part is parsed as "title/hls/master.m3u8"; when it
 * is a master playlist, the second part is parsed as the media playlist
 * of each of its first tracks.  Invariants (fuzz/manifest_check.h): a
 * refusal is a documented code with a message and no manifest; what is
 * accepted has only title-relative paths (no "..", no leading '/'),
 * segments in presentation order with finite durations adding up to the
 * track's, within the bounds.  Then the same parse with the k-th
 * allocation failing (k from the input) must fail cleanly with
 * PF_ERR_NOMEM or succeed, and leak nothing. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/media/manifest.h"
#include "manifest_check.h"

static int run(const pf_mem *mem, const uint8_t *data, size_t size, int check)
{
    const uint8_t *media;
    size_t n2, n1 = fz_split_nul(data, size, &media, &n2);
    pf_manifest *m = (pf_manifest *)1;
    char err[256];
    int rc = pf_hls_parse(mem, "title/hls/master.m3u8", data, n1, &m, err, sizeof err);
    if (rc) {
        if (check) fz_check_refusal(rc, m, err);
        else if (rc != PF_ERR_NOMEM && m) abort();
        return rc;
    }
    if (check) fz_check_manifest(m);
    if (m->kind == PF_MF_HLS_MASTER && media) {
        for (size_t i = 0; i < m->ntracks && i < 3; i++) {
            pf_mf_track *t = &m->tracks[i];
            if (t->nseg || !t->playlist) abort();
            int r2 = pf_hls_parse_media(mem, t, media, n2, err, sizeof err);
            if (check && r2 && !err[0]) abort();
            if (check && r2 && t->nseg) abort(); /* left as it was */
            if (check) fz_check_track(t);
        }
    } else if (m->kind == PF_MF_HLS_MEDIA) {
        if (m->ntracks != 1 || m->tracks[0].nseg == 0) abort();
    }
    pf_manifest_free(mem, m);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_run_failing(run, data, size, LONG_MAX);
    return 0;
}
