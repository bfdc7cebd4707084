/* Fuzz the tracker's QoE endpoint (core/tracker/qoe.c through
 * pf_tracker_handle_qoe).  The input is a sequence of reports, each a
 * 2-byte header, then its form body: the body's length (0-255), then a
 * control byte (bits 0-1: the viewer's address; bits 2-6: time since the
 * previous report, in 7 s steps; bit 7: expire first).  They go as POSTs
 * to one tracker with small series and stream limits (4 and 8).
 * Invariants: every answer is 204, 400 or 503, with a reason unless 204;
 * a body answered 204 parses; the reports counted in /metrics are exactly
 * the 204s; /metrics is always produced, NUL-free, every line ends, and
 * every sample has a name and a value (labels closed). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec/http_parse.h"
#include "core/tracker/qoe.h"
#include "core/tracker/tracker.h"

static void check_metrics(pf_tracker *t)
{
    pf_buf m;
    pf_buf_init(&m);
    if (pf_tracker_metrics(t, &m) != 0) abort();
    if (memchr(m.data, 0, m.len)) abort();
    size_t i = 0;
    while (i < m.len) {
        const uint8_t *nl = memchr(m.data + i, '\n', m.len - i);
        if (!nl) abort(); /* every line ends */
        size_t n = (size_t)(nl - (m.data + i));
        const char *l = (const char *)m.data + i;
        if (n && l[0] != '#') {
            const char *sp = memchr(l, ' ', n);
            if (!sp || sp == l) abort();
            const char *br = memchr(l, '{', (size_t)(sp - l));
            if (br && ((const char *)memchr(l, '}', n) == NULL)) abort();
        }
        i += n + 1;
    }
    pf_buf_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pf_tracker_config cfg;
    pf_tracker_config_default(&cfg);
    cfg.seed = 1;
    cfg.max_qoe_series = 4;
    cfg.max_qoe_streams = 8;
    cfg.ip_rate_per_min = PF_TRACKER_UNLIMITED;
    pf_tracker *t = pf_tracker_new(&cfg);
    if (!t) return 0;
    static const char head[] = "POST /qoe HTTP/1.1\r\nHost: t\r\n"
                               "Content-Type: application/x-www-form-urlencoded\r\n\r\n";
    pf_http_request req;
    if (pf_http_request_parse((const uint8_t *)head, sizeof head - 1, 0, &req) <= 0) abort();
    uint64_t now = 1000000000ull, reports = 0;
    size_t i = 0;
    while (i + 2 <= size) {
        size_t n = data[i];
        uint8_t ctl = data[i + 1];
        i += 2;
        if (n > size - i) n = size - i;
        pf_addr from;
        memset(&from, 0, sizeof from);
        from.family = 4;
        from.ip[0] = 10;
        from.ip[3] = ctl & 3;
        now += (uint64_t)(ctl >> 2) * 7000000000ull;
        if (ctl & 0x80) pf_tracker_expire(t, now);
        const char *why = NULL;
        int st = pf_tracker_handle_qoe(t, &req, &from, data + i, n, now, &why);
        if (st != 204 && st != 400 && st != 503) abort();
        if ((st == 204) != (why == NULL)) abort();
        if (st == 204) reports++;
        pf_qoe_report r;
        if (st == 204 && pf__qoe_parse((const char *)data + i, n, &r) != NULL) abort();
        i += n;
    }
    pf_tracker_stats s;
    pf_tracker_stats_get(t, &s);
    check_metrics(t);
    pf_buf m;
    pf_buf_init(&m);
    pf_tracker_metrics(t, &m);
    pf_buf_nul(&m);
    uint64_t sum = 0;
    for (const char *p = (const char *)m.data; (p = strstr(p, "\npeerflow_tracker_qoe_reports_total{"));) {
        p = strchr(p, '}');
        sum += strtoull(p + 2, NULL, 10);
    }
    if (sum != reports) abort();
    pf_buf_free(&m);
    pf_tracker_free(t);
    return 0;
}
