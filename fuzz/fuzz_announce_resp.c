/* Tracker replies: announce (compact, dictionary, peers6) and scrape. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec/tracker_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pf_announce_resp r;
    if (pf_announce_resp_parse(data, size, NULL, &r) == 0) {
        if (r.num_peers > PF_ANNOUNCE_MAX_PEERS) abort();
        if (strlen(r.failure) >= sizeof r.failure || strlen(r.trackerid) >= sizeof r.trackerid)
            abort();
        for (size_t i = 0; i < r.num_peers; i++)
            if ((r.peers[i].family != 4 && r.peers[i].family != 6) || r.peers[i].port == 0)
                abort();
    }
    pf_announce_resp_clear(&r);
    pf_scrape_entry e[4];
    size_t n = 99;
    int rc = pf_scrape_resp_parse(data, size, e, 4, &n);
    if (n > 4 || (rc != 0 && n != 0 && rc != 0)) abort();
    return 0;
}
