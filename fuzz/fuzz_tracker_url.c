/* Tracker URLs on the client side (src/core/tracker_proto.c): announce and
 * scrape URLs built from an announce URL that came from a .torrent or a
 * magnet link, so from a stranger.  Invariants: the result is the URL
 * without its fragment, then our parameters, NUL-terminated; the server
 * side's query parser (core/http_parse) reads back the exact info_hash,
 * peer_id, port, left and event; a scrape URL swaps "announce" for
 * "scrape" in the last path component and carries every info_hash.
 *
 * Input: [0,20) info_hash, [20,40) peer_id, [40,42) port, [42] event
 * (mod 5, 4 is invalid), [43,51) left, [51] number of scrape hashes (mod
 * 4) and whether a trackerid is set, then the announce URL (up to a NUL). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec/http_parse.h"
#include "core/codec/tracker_proto.h"
#include "fuzz_util.h"
#include "peerflow/peerflow.h"

#define HDR 52

static uint64_t get_u64(const char *q, size_t len, const char *key, int *found)
{
    char v[32];
    size_t n = 0;
    *found = pf_http_query_get(q, len, key, (uint8_t *)v, sizeof v - 1, &n) == 0;
    if (!*found) return 0;
    v[n] = 0;
    return strtoull(v, NULL, 10);
}

static void check_announce(const char *url, const pf_announce_req *r, const pf_buf *out)
{
    size_t ulen = strcspn(url, "#");
    const char *s = (const char *)out->data;
    FZ_CHECK(out->len > ulen && memcmp(s, url, ulen) == 0);
    FZ_CHECK(strlen(s) == out->len); /* NUL-terminated, no NUL inside */
    /* Our parameters start at "info_hash=" right after the separator. */
    const char *ours = s + ulen;
    if (*ours == '?' || *ours == '&') ours++;
    FZ_CHECK(strncmp(ours, "info_hash=", 10) == 0);
    size_t qlen = out->len - (size_t)(ours - s);
    uint8_t got[32];
    size_t n = 0;
    FZ_CHECK(pf_http_query_get(ours, qlen, "info_hash", got, sizeof got, &n) == 0);
    FZ_CHECK(n == 20 && memcmp(got, r->info_hash, 20) == 0);
    FZ_CHECK(pf_http_query_get(ours, qlen, "peer_id", got, sizeof got, &n) == 0);
    FZ_CHECK(n == 20 && memcmp(got, r->peer_id, 20) == 0);
    int found;
    FZ_CHECK(get_u64(ours, qlen, "port", &found) == r->port && found);
    FZ_CHECK(get_u64(ours, qlen, "left", &found) == r->left && found);
    static const char *const events[] = {NULL, "started", "completed", "stopped"};
    char ev[16];
    n = 0;
    int rc = pf_http_query_get(ours, qlen, "event", (uint8_t *)ev, sizeof ev - 1, &n);
    if (events[r->event]) {
        FZ_CHECK(rc == 0 && n == strlen(events[r->event]) && memcmp(ev, events[r->event], n) == 0);
    } else {
        FZ_CHECK(rc == PF_ERR_NOTFOUND);
    }
    if (r->trackerid && r->trackerid[0]) {
        char tid[64];
        FZ_CHECK(pf_http_query_get(ours, qlen, "trackerid", (uint8_t *)tid, sizeof tid, &n) == 0);
        FZ_CHECK(n == strlen(r->trackerid) && memcmp(tid, r->trackerid, n) == 0);
    }
}

static void check_scrape(const char *url, const uint8_t (*h)[20], size_t nh, const pf_buf *out)
{
    const char *s = (const char *)out->data;
    FZ_CHECK(strlen(s) == out->len);
    size_t ulen = strcspn(url, "#");
    size_t plen = strcspn(url, "?#");
    /* The last path component: "announce..." became "scrape...". */
    const char *last = url + plen;
    while (last > url && last[-1] != '/') last--;
    size_t pre = (size_t)(last - url);
    FZ_CHECK(strncmp(last, "announce", 8) == 0);
    FZ_CHECK(out->len >= pre + 6 + (ulen - pre - 8));
    FZ_CHECK(memcmp(s, url, pre) == 0 && memcmp(s + pre, "scrape", 6) == 0);
    FZ_CHECK(memcmp(s + pre + 6, last + 8, ulen - pre - 8) == 0);
    if (nh == 0) {
        FZ_CHECK(out->len == pre + 6 + (ulen - pre - 8));
        return;
    }
    /* Every info_hash we added, in order, after what the URL had. */
    const char *ours = s + ulen - 2; /* "scrape" is 2 shorter than "announce" */
    if (*ours == '?' || *ours == '&') ours++;
    FZ_CHECK(strncmp(ours, "info_hash=", 10) == 0);
    pf_http_query_iter it;
    pf_http_str k, v;
    pf_http_query_init(&it, ours, out->len - (size_t)(ours - s));
    size_t i = 0;
    while (pf_http_query_next(&it, &k, &v)) {
        FZ_CHECK(i < nh && k.len == 9 && memcmp(k.p, "info_hash", 9) == 0);
        uint8_t d[20];
        size_t n = 0;
        FZ_CHECK(pf_http_pct_decode(v.p, v.len, 0, d, sizeof d, &n) == 0 && n == 20);
        FZ_CHECK(memcmp(d, h[i], 20) == 0);
        i++;
    }
    FZ_CHECK(i == nh);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HDR) return 0;
    char *url = malloc(size - HDR + 1);
    if (!url) return 0;
    memcpy(url, data + HDR, size - HDR);
    url[size - HDR] = 0;

    pf_announce_req r;
    memset(&r, 0, sizeof r);
    memcpy(r.info_hash, data, 20);
    memcpy(r.peer_id, data + 20, 20);
    r.port = (uint16_t)(data[40] << 8 | data[41]);
    r.event = data[42] % 5;
    for (int i = 0; i < 8; i++) r.left = r.left << 8 | data[43 + i];
    r.uploaded = r.left / 3;
    r.numwant = data[51];
    r.key = 0x1234abcd;
    char tid[9];
    memcpy(tid, data + 8, 8); /* may hold any byte, and NULs */
    tid[8] = 0;
    r.trackerid = (data[51] & 4) ? tid : NULL;

    pf_buf out;
    pf_buf_init(&out);
    int rc = pf_announce_url(&out, url, &r);
    if (r.event == 4 || !url[0] || url[0] == '#') {
        FZ_CHECK(rc == PF_ERR_INVAL);
    } else {
        FZ_CHECK(rc == 0);
        check_announce(url, &r, &out);
    }
    FZ_CHECK(rc == 0 || out.len == 0); /* nothing left behind on failure */

    pf_buf_reset(&out);
    size_t nh = data[51] % 4;
    uint8_t hs[3][20];
    for (size_t i = 0; i < 3; i++)
        for (size_t k = 0; k < 20; k++) hs[i][k] = (uint8_t)(data[(i * 20 + k) % 52] + i);
    rc = pf_scrape_url(&out, url, (const uint8_t(*)[20])hs, nh);
    if (rc == 0) check_scrape(url, (const uint8_t(*)[20])hs, nh, &out);
    else FZ_CHECK(rc == PF_ERR_UNSUPPORTED || rc == PF_ERR_INVAL);
    FZ_CHECK(rc == 0 || out.len == 0);
    pf_buf_free(&out);
    free(url);
    return 0;
}
