/* Request heads, Range values, query strings and percent-decoding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec/http_parse.h"
#include "peerflow/peerflow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pf_http_request req;
    /* Feed in two steps, as a socket would. */
    size_t cut = size / 3;
    int rc = pf_http_request_parse(data, cut, 0, &req);
    if (rc == 0) rc = pf_http_request_parse(data, size, 0, &req);
    if (rc == PF_ERR_LIMIT && req.target_too_long) {
        /* 414 only when the request line itself did not end within the
         * limit (after at most one leading empty line). */
        size_t lim = size < PF_HTTP_MAX_HEAD ? size : PF_HTTP_MAX_HEAD, skip = 0;
        if (lim >= 2 && data[0] == '\r' && data[1] == '\n') skip = 2;
        else if (lim >= 1 && data[0] == '\n') skip = 1;
        if (memchr(data + skip, '\n', lim - skip)) abort();
    }
    if (rc > 0) {
        if ((size_t)rc > size) abort();
        const pf_http_str *h = pf_http_header_get(&req, "Range");
        pf_http_range r;
        if (h && pf_http_range_parse(h->p, h->len, 1000, &r) == 0 &&
            (r.start > r.end || r.end >= 1000))
            abort();
        (void)pf_http_header_has_token(&req, "Connection", "close");
        uint8_t out[64];
        size_t n;
        (void)pf_http_query_get(req.query.p, req.query.len, "info_hash", out, sizeof out, &n);
        pf_http_query_iter it;
        pf_http_str k, v;
        pf_http_query_init(&it, req.query.p, req.query.len);
        while (pf_http_query_next(&it, &k, &v))
            if (k.p < req.query.p || v.p + v.len > req.query.p + req.query.len) abort();
    }
    /* The raw input as a Range value, against a few lengths. */
    static const uint64_t totals[] = {0, 1, 100, UINT64_MAX};
    for (size_t i = 0; i < 4; i++) {
        pf_http_range r;
        if (pf_http_range_parse((const char *)data, size, totals[i], &r) == 0 &&
            (r.start > r.end || r.end >= totals[i]))
            abort();
    }
    /* Decoding never writes past cap and round-trips through encoding. */
    uint8_t *dec = malloc(size + 1);
    size_t n;
    if (dec && pf_http_pct_decode((const char *)data, size, 0, dec, size, &n) == 0) {
        pf_buf enc;
        pf_buf_init(&enc);
        if (pf_http_pct_encode(&enc, dec, n) == 0) {
            uint8_t *back = malloc(n + 1);
            size_t m;
            if (back && (pf_http_pct_decode((const char *)enc.data, enc.len, 0, back, n, &m) != 0 ||
                         m != n || memcmp(back, dec, n) != 0))
                abort();
            free(back);
        }
        pf_buf_free(&enc);
    }
    free(dec);
    return 0;
}
