/* Fuzz the DASH MPD reader (core/media/dash.c, xml.c, manifest.c).
 * Input: an MPD, parsed as "title/dash/manifest.mpd".  Invariants
 * (fuzz/manifest_check.h): a refusal is a documented code with a message
 * and no manifest; what is accepted has only title-relative paths (no
 * "..", no leading '/'), segments in presentation order with finite
 * durations adding up to each track's, tracks with an id, within the
 * bounds.  Then (for an input of at most 50,000 allocations) the same
 * parse with the k-th allocation failing (k from the input) must fail
 * cleanly or succeed, and leak nothing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/media/manifest.h"
#include "manifest_check.h"

static int run(const pf_mem *mem, const uint8_t *data, size_t size, int check)
{
    pf_manifest *m = (pf_manifest *)1;
    char err[256];
    int rc = pf_dash_parse(mem, "title/dash/manifest.mpd", data, size, &m, err, sizeof err);
    if (rc) {
        if (check) fz_check_refusal(rc, m, err);
        else if (m) abort();
        return rc;
    }
    if (check) {
        fz_check_manifest(m);
        if (m->kind != PF_MF_DASH) abort();
        for (size_t i = 0; i < m->ntracks; i++) {
            if (m->tracks[i].playlist || m->tracks[i].nseg == 0) abort();
            for (size_t j = 0; j < i; j++)
                if (strcmp(m->tracks[i].id, m->tracks[j].id) == 0) abort();
        }
    }
    pf_manifest_free(mem, m);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An MPD that expands to hundreds of thousands of segments takes
     * seconds under ASan; failing one of its allocations finds nothing
     * the small ones do not, and would halve the executions. */
    fz_run_failing(run, data, size, 50000);
    return 0;
}
