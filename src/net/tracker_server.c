/* The HTTP tracker on a libuv loop (include/peerflow/tracker.h): the
 * sans-I/O tracker core (core/tracker) behind net/http_server, and a timer
 * for expiry. */
#include "peerflow/tracker.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/tracker/proxy.h"
#include "core/tracker/tracker.h"
#include "core/util/log.h"
#include "net/http_server.h"

#define LOG_TARGET_MAX 200 /* request targets logged at DEBUG, at most */

struct pf_tracker_server {
    uv_loop_t *loop;
    uv_timer_t expire;
    pf_http_server *http;
    pf_tracker *tracker;
    pf_logger log;
    int timer_open, http_open, stopping;
    void (*done)(void *ud);
    void *done_ud;
};

void pf_tracker_settings_init(pf_tracker_settings *s, size_t size)
{
    if (!s || size < sizeof s->size) return;
    pf_tracker_settings d;
    memset(&d, 0, sizeof d);
    d.size = size < sizeof d ? size : sizeof d;
    memset(s, 0, size);
    memcpy(s, &d, d.size);
}

/* The caller's settings over the defaults, only the bytes its struct has
 * (a program built against an older, shorter pf_tracker_settings). */
static int settings_take(pf_tracker_settings *out, const pf_tracker_settings *s)
{
    pf_tracker_settings_default(out);
    if (!s || s->size < offsetof(pf_tracker_settings, port)) return PF_ERR_INVAL;
    memcpy(out, s, s->size < sizeof *out ? s->size : sizeof *out);
    out->size = sizeof *out;
    return 0;
}

static void slog(pf_tracker_server *ts, pf_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void slog(pf_tracker_server *ts, pf_log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ts->log.now = uv_now(ts->loop) * 1000000ULL;
    pf__logv(&ts->log, lvl, fmt, ap);
    va_end(ap);
}

static void on_request(pf_http_res *res, const pf_http_request *req, const uint8_t *body,
                       size_t body_len, void *ud)
{
    pf_tracker_server *ts = ud;
    (void)body;
    (void)body_len;
    if (pf__log_on(&ts->log, PF_LOG_DEBUG)) {
        int n = req->target.len < LOG_TARGET_MAX ? (int)req->target.len : LOG_TARGET_MAX;
        slog(ts, PF_LOG_DEBUG, "%.*s %.*s%s", (int)req->method_str.len, req->method_str.p, n,
             req->target.p, req->target.len > LOG_TARGET_MAX ? "..." : "");
    }
    if (req->method != PF_HTTP_GET && req->method != PF_HTTP_HEAD) {
        static const char msg[] = "method not allowed\n";
        pf_http_res_send(res, 405, "text/plain", msg, sizeof msg - 1);
        return;
    }
    pf_buf out;
    pf_buf_init(&out);
    int status = pf_tracker_handle_request(ts->tracker, req, pf_http_res_remote(res), uv_hrtime(),
                                           &out);
    if (status == 200) {
        pf_http_res_send(res, 200, "text/plain", out.data, out.len);
    } else {
        const char *msg = status == 404 ? "not found\n" : "internal error\n";
        pf_http_res_send(res, status, "text/plain", msg, strlen(msg));
    }
    pf_buf_free(&out);
}

static void on_expire(uv_timer_t *t)
{
    pf_tracker_server *ts = t->data;
    size_t n = pf_tracker_expire(ts->tracker, uv_hrtime());
    if (n) slog(ts, PF_LOG_DEBUG, "expired %zu peers", n);
}

/* Trusted proxies from text; 0, PF_ERR_PARSE or PF_ERR_LIMIT. */
static int proxies_parse(pf_tracker_server *ts, const pf_tracker_settings *s, pf_net *nets)
{
    if (s->num_trusted_proxies > PF_TRACKER_MAX_TRUSTED) {
        slog(ts, PF_LOG_ERROR, "%zu trusted proxies: at most %d", s->num_trusted_proxies,
             PF_TRACKER_MAX_TRUSTED);
        return PF_ERR_LIMIT;
    }
    for (size_t i = 0; i < s->num_trusted_proxies; i++) {
        const char *p = s->trusted_proxies ? s->trusted_proxies[i] : NULL;
        if (!p || pf__cidr_parse(p, strlen(p), &nets[i]) != 0) {
            slog(ts, PF_LOG_ERROR, "trusted proxy '%s': not an address or a network (CIDR)",
                 p ? p : "(null)");
            return PF_ERR_PARSE;
        }
    }
    return 0;
}

static int tracker_make(pf_tracker_server *ts, const pf_tracker_settings *s)
{
    pf_net nets[PF_TRACKER_MAX_TRUSTED];
    int rc = proxies_parse(ts, s, nets);
    if (rc) return rc;
    pf_tracker_config tc;
    pf_tracker_config_default(&tc);
#define TAKE(dst, src) \
    if (s->src) tc.dst = s->src
    TAKE(interval_s, interval_s);
    TAKE(max_torrents, max_torrents);
    TAKE(max_peers_per_torrent, max_peers_per_torrent);
    TAKE(max_peers_total, max_peers_total);
    TAKE(numwant_default, numwant_default);
    TAKE(numwant_max, numwant_max);
    TAKE(max_scrape, max_scrape);
    TAKE(ip_rate_per_min, rate_per_min);
    TAKE(ip_burst, rate_burst);
    TAKE(max_rate_sources, max_rate_sources);
    TAKE(client_floor_s, client_floor_s);
#undef TAKE
    tc.min_interval_s = s->min_interval_s; /* 0: half the interval */
    tc.trusted_proxies = nets;
    tc.num_trusted_proxies = s->num_trusted_proxies;
    tc.forwarded_header =
        s->forwarded_header == PF_TRACKER_FORWARDED ? PF_FWD_FORWARDED : PF_FWD_X_FORWARDED_FOR;
    tc.seed = s->seed ? s->seed : uv_hrtime() ^ ((uint64_t)uv_os_getpid() << 32);
    tc.log = s->log;
    tc.log_ud = s->log_ud;
    tc.log_level = s->log_level;
    ts->tracker = pf_tracker_new(&tc);
    return ts->tracker ? 0 : PF_ERR_NOMEM;
}

static int http_start(pf_tracker_server *ts, const pf_tracker_settings *s)
{
    pf_http_server_config sc;
    pf_http_server_config_default(&sc);
    sc.port = s->port;
    sc.on_request = on_request;
    sc.ud = ts;
    sc.log = s->log;
    sc.log_ud = s->log_ud;
    sc.log_level = s->log_level;
    sc.max_body = 0; /* GET only */
    if (s->max_conns) sc.max_conns = s->max_conns;
    sc.bind = s->bind ? s->bind : "::";
    int rc = pf_http_server_start(ts->loop, &sc, &ts->http);
    if (rc == PF_ERR_NET && !s->bind) { /* no IPv6 on this host */
        sc.bind = "0.0.0.0";
        rc = pf_http_server_start(ts->loop, &sc, &ts->http);
    }
    if (rc) slog(ts, PF_LOG_ERROR, "cannot listen on %s port %u: %s", sc.bind, (unsigned)s->port,
                 pf_strerror(rc));
    return rc;
}

int pf_tracker_server_start(uv_loop_t *loop, const pf_tracker_settings *set,
                            pf_tracker_server **out)
{
    if (out) *out = NULL;
    pf_tracker_settings s;
    if (!loop || !out || settings_take(&s, set) != 0) return PF_ERR_INVAL;
    pf_tracker_server *ts = calloc(1, sizeof *ts);
    if (!ts) return PF_ERR_NOMEM;
    ts->loop = loop;
    pf__logger_init(&ts->log, s.log, s.log_ud, s.log_level);
    int rc = tracker_make(ts, &s);
    if (!rc) rc = http_start(ts, &s);
    if (rc) {
        pf_tracker_free(ts->tracker);
        free(ts);
        return rc;
    }
    ts->http_open = 1;
    uint64_t period_ms = pf_tracker_expire_period_ns(ts->tracker) / 1000000;
    uv_timer_init(loop, &ts->expire);
    ts->expire.data = ts;
    ts->timer_open = 1;
    uv_timer_start(&ts->expire, on_expire, period_ms, period_ms);
    *out = ts;
    return 0;
}

uint16_t pf_tracker_server_port(const pf_tracker_server *ts) { return pf_http_server_port(ts->http); }

void pf_tracker_server_stats_get(const pf_tracker_server *ts, pf_tracker_server_stats *out)
{
    pf_tracker_stats t;
    pf_http_server_stats h;
    pf_tracker_stats_get(ts->tracker, &t);
    memset(&h, 0, sizeof h);
    if (ts->http_open) pf_http_server_stats_get(ts->http, &h);
    memset(out, 0, sizeof *out);
    out->torrents = t.torrents;
    out->peers = t.peers;
    out->seeders = t.seeders;
    out->leechers = t.leechers;
    out->announces = t.announces;
    out->scrapes = t.scrapes;
    out->completed = t.completed;
    out->refused = t.refused;
    out->expired = t.expired;
    out->rate_limited = t.rate_limited;
    out->conns = h.conns;
    out->accepted = h.accepted;
    out->evicted = h.evicted;
    out->timeouts = h.header_timeouts + h.idle_timeouts + h.send_timeouts;
    out->rejected = h.rejected;
}

static void maybe_done(pf_tracker_server *ts)
{
    if (ts->timer_open || ts->http_open) return;
    void (*done)(void *) = ts->done;
    void *ud = ts->done_ud;
    pf_tracker_free(ts->tracker);
    free(ts);
    if (done) done(ud);
}

static void http_stopped(void *ud)
{
    pf_tracker_server *ts = ud;
    ts->http_open = 0;
    maybe_done(ts);
}

static void timer_closed(uv_handle_t *h)
{
    pf_tracker_server *ts = h->data;
    ts->timer_open = 0;
    maybe_done(ts);
}

void pf_tracker_server_stop(pf_tracker_server *ts, void (*done)(void *ud), void *ud)
{
    if (!ts || ts->stopping) return;
    ts->stopping = 1;
    ts->done = done;
    ts->done_ud = ud;
    uv_close((uv_handle_t *)&ts->expire, timer_closed);
    pf_http_server_stop(ts->http, http_stopped, ts);
}
