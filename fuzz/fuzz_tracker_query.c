/* Sequences of requests through pf_tracker_handle_http: the input is split
 * at '\n'; each line's first byte picks the path and remote address, the
 * rest is the raw query.  Small limits make eviction and refusal likely,
 * the per-source rate limit (4 at once, then 1 per 2 s, 16 sources
 * remembered) included. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec/bencode.h"
#include "core/tracker/tracker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pf_tracker_config cfg;
    pf_tracker_config_default(&cfg);
    cfg.interval_s = 10;
    cfg.max_torrents = 4;
    cfg.max_peers_per_torrent = 8;
    cfg.max_peers_total = 20;
    cfg.max_scrape = 3;
    cfg.numwant_max = 5;
    cfg.seed = 7;
    cfg.ip_rate_per_min = 30;
    cfg.ip_burst = 4;
    cfg.max_rate_sources = 16;
    pf_tracker *t = pf_tracker_new(&cfg);
    if (!t) return 0;
    uint64_t now = 1;
    size_t off = 0;
    char *line = malloc(size + 1);
    pf_buf body;
    pf_buf_init(&body);
    while (line && off < size) {
        const uint8_t *nl = memchr(data + off, '\n', size - off);
        size_t len = nl ? (size_t)(nl - (data + off)) : size - off;
        if (len > 0) {
            uint8_t sel = data[off];
            memcpy(line, data + off + 1, len - 1);
            line[len - 1] = 0;
            static const char *const paths[] = {"/announce", "/scrape", "/x", "/announce"};
            pf_addr remote;
            memset(&remote, 0, sizeof remote);
            if (sel & 4) {
                remote.family = 6;
                remote.ip[15] = (uint8_t)(sel >> 4);
                if (sel & 8) remote.ip[10] = remote.ip[11] = 0xff; /* v4-mapped */
            } else {
                remote.family = 4;
                remote.ip[0] = (sel & 8) ? 127 : 10;
                remote.ip[3] = (uint8_t)(sel >> 4);
            }
            pf_buf_reset(&body);
            int st = pf_tracker_handle_http(t, paths[sel & 3], line, &remote, now, &body);
            if (st == 200) {
                pf_ben_doc *doc = NULL;
                /* Every 200 reply must be canonical bencode. */
                if (pf_bencode_parse(body.data, body.len, 0, NULL, &doc, NULL) != 0) abort();
                pf_ben_doc_free(doc);
            } else if (st != 404 && st != 500) {
                abort();
            }
            now += (uint64_t)(sel >> 5) * 4000000000u;
            if ((sel & 0xf0) == 0xf0) pf_tracker_expire(t, now);
        }
        off += len + 1;
    }
    pf_tracker_stats st;
    pf_tracker_stats_get(t, &st);
    if (st.torrents > 4 || st.peers > 20 || st.seeders > st.peers) abort();
    if (st.rate_sources > 16 || st.rate_limited > size) abort();
    pf_buf_free(&body);
    free(line);
    pf_tracker_free(t);
    return 0;
}
