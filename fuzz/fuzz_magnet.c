/* Fuzz magnet parsing.  Invariant: build(parse(x)) parses back to the same
 * info-hash, name and trackers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec/magnet.h"
#include "peerflow/peerflow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    pf_magnet *m = NULL;
    int rc = pf_magnet_parse(s, NULL, &m);
    free(s);
    if (rc != 0) {
        if (m || (rc != PF_ERR_PARSE && rc != PF_ERR_LIMIT)) abort();
        return 0;
    }
    for (size_t i = 0; i < m->num_trackers; i++)
        if (!m->trackers[i][0]) abort();
    pf_buf b;
    pf_buf_init(&b);
    if (pf_magnet_build(&b, m->info_hash, m->name, (const char *const *)m->trackers,
                        m->num_trackers) != 0)
        abort();
    pf_magnet *m2 = NULL;
    rc = pf_magnet_parse((const char *)b.data, NULL, &m2);
    if (rc == PF_ERR_LIMIT && b.len > 8192) goto out; /* escaping grew it */
    if (rc != 0) abort();
    if (memcmp(m->info_hash, m2->info_hash, 20) != 0) abort();
    if (!m->name != !m2->name || (m->name && strcmp(m->name, m2->name))) abort();
    if (m->num_trackers != m2->num_trackers) abort();
    for (size_t i = 0; i < m->num_trackers; i++)
        if (strcmp(m->trackers[i], m2->trackers[i])) abort();
    if (m2->num_webseeds || m2->num_peers) abort();
    pf_magnet_free(m2);
out:
    pf_buf_free(&b);
    pf_magnet_free(m);
    return 0;
}
