#include "net/http_server.h"
#include "core/util/log.h"
#include "net/sockaddr.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>

#define LINGER_MS 2000
#define READ_CHUNK 16384
#define SWEEP_MS 250 /* how often stalled responses are counted */
#define LISTEN_BACKLOG 511 /* as nginx: newcomers past the waiting room */
#define ADDR_KEY_LEN 9 /* family + IPv4 address or IPv6 /64 */

typedef struct conn conn;

struct pf_http_res {
    conn *c;
    int active;    /* delivered to the handler and not ended */
    int started;   /* header block queued */
    int is_head;
    int head_only; /* HEAD, 1xx, 204, 304: no body bytes on the wire */
    int chunked;
    int keep_alive; /* request allows reuse */
    int version_minor;
    int64_t clen;   /* declared body length or -1 */
    uint64_t written;
    size_t low_water;
    int drain_armed;
    pf_http_res_cb drain_cb, close_cb;
    void *drain_ud, *close_ud;
    pf_addr remote;
};

struct conn {
    uint64_t linger_outq; /* kernel send queue at the last linger check */
    uint64_t wait_since;  /* uv_now when it began waiting for a request */
    uint64_t last_write;  /* uv_now of the last write progress (or of the
                             first bytes queued after an idle spell) */
    uint64_t sent;        /* bytes the socket took (writes completed) */
    uint8_t akey[ADDR_KEY_LEN]; /* the client's address, for per-address caps */
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shut;
    pf_http_server *srv;
    conn *prev, *next;
    pf_buf in;
    size_t queued;
    int open_handles;
    int closing;     /* uv_close called */
    int lingering;   /* response sent, FIN sent, discarding input */
    int reading;
    int finished;    /* response ended, waiting for the flush */
    int close_after; /* close once the current response is flushed */
    int send_timer;  /* the timer measures write progress */
    int parked;      /* accepted at the cap: waits its turn, unread */
    pf_http_res res;
};

struct pf_http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t sweep; /* max_stalled_per_addr */
    int sweep_open;
    pf_http_server_config cfg;
    conn *conns;
    size_t nconns;
    size_t nclosing; /* conns being closed (still in nconns until libuv is done) */
    size_t nparked;  /* conns waiting to be admitted (in nconns) */
    int accept_held; /* a connection left pending in libuv: parking is full */
    int stopping, listener_open;
    uint16_t port;
    pf_http_server_stats st;
    void (*done)(void *);
    void *done_ud;
    pf_logger log;
};

typedef struct wreq {
    uv_write_t req;
    conn *c;
    size_t n;
    char data[];
} wreq;

static void conn_process(conn *c);
static void conn_abort(conn *c);
static void server_admit(pf_http_server *s);

static void slog(pf_http_server *s, pf_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void slog(pf_http_server *s, pf_log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s->log.now = uv_now(s->loop) * 1000000ULL;
    pf__logv(&s->log, lvl, fmt, ap);
    va_end(ap);
}

void pf_http_server_config_default(pf_http_server_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->max_head = PF_HTTP_MAX_HEAD;
    cfg->max_body = 64 * 1024;
    cfg->max_conns = PF_HTTP_MAX_CONNS;
    cfg->idle_timeout_ms = PF_HTTP_IDLE_TIMEOUT_MS;
    cfg->header_timeout_ms = PF_HTTP_HEADER_TIMEOUT_MS;
    cfg->send_timeout_ms = PF_HTTP_SEND_TIMEOUT_MS;
    cfg->log_level = PF_LOG_INFO;
}

/* 0 or UINT32_MAX: no timer; else the length. */
static uint32_t timeout_len(uint32_t ms) { return ms == UINT32_MAX ? 0 : ms; }

/* --- teardown --------------------------------------------------------- */

static void server_maybe_done(pf_http_server *s)
{
    if (!s->stopping || s->listener_open || s->sweep_open || s->conns) return;
    void (*done)(void *) = s->done;
    void *ud = s->done_ud;
    free(s);
    if (done) done(ud);
}

static void conn_handle_closed(uv_handle_t *h)
{
    conn *c = h->data;
    if (--c->open_handles > 0) return;
    pf_http_server *s = c->srv;
    if (c->res.active && c->res.close_cb) {
        c->res.active = 0;
        c->res.close_cb(&c->res, c->res.close_ud);
    }
    if (c->prev) c->prev->next = c->next;
    else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->nconns--;
    s->nclosing--;
    pf_buf_free(&c->in);
    free(c);
    if (!s->stopping) server_admit(s); /* a slot is free */
    server_maybe_done(s);
}

/* Closes both handles; the close callback (if any) fires from libuv. */
static void conn_abort(conn *c)
{
    if (c->closing) return;
    c->closing = 1;
    c->srv->nclosing++;
    if (c->parked) {
        c->parked = 0;
        c->srv->nparked--;
    }
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    conn *c = req->data;
    if (status < 0) conn_abort(c);
}

static void timer_cb(uv_timer_t *t);
static void wait_timer_start(conn *c);
static void conn_read_resume(conn *c);

/* Half-closes after the last response and drains input until EOF so the
 * client reads our reply instead of a reset. */
static void conn_linger(conn *c)
{
    if (c->closing || c->lingering) return;
    c->lingering = 1;
    c->send_timer = 0;
    c->shut.data = c;
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        conn_abort(c);
        return;
    }
    uv_timer_start(&c->timer, timer_cb, LINGER_MS, 0);
    conn_read_resume(c);
}

/* --- writing ---------------------------------------------------------- */

static void response_done(conn *c);

/* While a response (or an error reply) has bytes queued, the timer
 * measures the time since the last write completed. */
static void send_timer_arm(conn *c)
{
    uint32_t ms = timeout_len(c->srv->cfg.send_timeout_ms);
    if (c->closing || c->lingering || !(c->res.active || c->finished)) return;
    if (c->queued == 0) {
        if (c->send_timer) uv_timer_stop(&c->timer);
        c->send_timer = 0;
        return;
    }
    if (!ms) return;
    c->send_timer = 1;
    uv_timer_start(&c->timer, timer_cb, ms, 0);
}

static void on_write(uv_write_t *req, int status)
{
    wreq *w = (wreq *)req;
    conn *c = w->c;
    c->queued -= w->n;
    if (status >= 0) c->sent += w->n;
    free(w);
    if (c->closing) return;
    if (status < 0) {
        conn_abort(c);
        return;
    }
    c->last_write = uv_now(c->srv->loop);
    if (!c->lingering && !(c->finished && c->queued == 0)) send_timer_arm(c);
    pf_http_res *r = &c->res;
    if (r->active && r->drain_armed && c->queued <= r->low_water) {
        r->drain_armed = 0;
        if (r->drain_cb) r->drain_cb(r, r->drain_ud);
    }
    if (!c->closing && c->finished && c->queued == 0) response_done(c);
}

/* Queues a, b and t (any may be empty) as one write. */
static int conn_write2(conn *c, const void *a, size_t an, const void *b, size_t bn,
                       const void *t, size_t tn)
{
    if (c->closing || c->lingering) return PF_ERR_CLOSED;
    if (c->queued == 0) c->last_write = uv_now(c->srv->loop);
    size_t n = an + bn + tn;
    if (n == 0) return 0;
    if (n > UINT32_MAX / 2) return PF_ERR_INVAL; /* uv_buf_t holds an unsigned */
    wreq *w = malloc(sizeof *w + n);
    if (!w) return PF_ERR_NOMEM;
    w->c = c;
    w->n = n;
    if (an) memcpy(w->data, a, an);
    if (bn) memcpy(w->data + an, b, bn);
    if (tn) memcpy(w->data + an + bn, t, tn);
    uv_buf_t ub = uv_buf_init(w->data, (unsigned)n);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &ub, 1, on_write) != 0) {
        free(w);
        conn_abort(c);
        return PF_ERR_CLOSED;
    }
    c->queued += n;
    if (c->queued == n) send_timer_arm(c); /* was empty: start measuring */
    pf_http_res *r = &c->res;
    if (r->active && r->drain_cb && c->queued > r->low_water) r->drain_armed = 1;
    return 0;
}

/* Sends an error reply on a connection with no active response and
 * closes it afterwards. */
static void conn_error(conn *c, int status)
{
    pf_buf b;
    pf_buf_init(&b);
    pf_http_resp_head h;
    pf_http_resp_head_init(&h, status);
    const char *msg = pf_http_reason(status);
    h.content_type = "text/plain";
    h.content_length = (int64_t)strlen(msg) + 1;
    h.keep_alive = 0;
    slog(c->srv, PF_LOG_DEBUG, "http: rejecting request with %d", status);
    c->srv->st.rejected++;
    /* Nothing more will be read as a request: the reply is all. */
    pf_buf_reset(&c->in);
    if (pf_http_resp_head_build(&b, &h) == 0 && pf_buf_appendf(&b, "%s\n", msg) == 0 &&
        conn_write2(c, b.data, b.len, NULL, 0, NULL, 0) == 0) {
        c->finished = 1;
        c->close_after = 1;
        if (c->queued) send_timer_arm(c);
        else uv_timer_start(&c->timer, timer_cb, 0, 0);
    } else {
        conn_abort(c);
    }
    pf_buf_free(&b);
}

/* --- reading ---------------------------------------------------------- */

static size_t in_bound(const pf_http_server *s)
{
    return s->cfg.max_head + s->cfg.max_body;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn *c = h->data;
    if (c->lingering) pf_buf_reset(&c->in);
    if (pf_buf_reserve(&c->in, READ_CHUNK) != 0) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    *buf = uv_buf_init((char *)c->in.data + c->in.len,
                       (unsigned)(c->in.cap - c->in.len - 1));
}

static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    conn *c = st->data;
    if (c->closing) return;
    if (nread < 0) {
        conn_abort(c); /* EOF or error: the client is gone */
        return;
    }
    if (nread == 0) return;
    size_t before = pf_buf_unread(&c->in);
    c->in.len += (size_t)nread;
    if (c->lingering) {
        pf_buf_reset(&c->in);
        return;
    }
    /* The first byte of a request starts its header timeout. */
    if (before == 0 && !c->res.active && !c->finished) wait_timer_start(c);
    if (pf_buf_unread(&c->in) > in_bound(c->srv)) {
        /* A pipelining client ran far ahead; wait for the response. */
        uv_read_stop(st);
        c->reading = 0;
    }
    conn_process(c);
}

static void conn_read_resume(conn *c)
{
    if (c->reading || c->closing) return;
    if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) == 0) c->reading = 1;
    else conn_abort(c);
}

static void timer_cb(uv_timer_t *t)
{
    conn *c = t->data;
    if (c->closing) return;
    pf_http_server *s = c->srv;
    int was_send = c->send_timer;
    c->send_timer = 0;
    if (c->lingering) {
        /* After a Connection: close reply the kernel may still hold a slow
         * reader's last megabytes; closing now (with its request bytes
         * unread) would reset the connection and lose them.  Wait while the
         * send queue drains; give up when it is empty or stuck. */
        uv_os_fd_t fd;
        int outq = 0;
        if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 && ioctl(fd, SIOCOUTQ, &outq) == 0 &&
            outq > 0 && (uint64_t)outq != c->linger_outq) {
            c->linger_outq = (uint64_t)outq;
            uv_timer_start(&c->timer, timer_cb, LINGER_MS, 0);
            return;
        }
        conn_abort(c);
    } else if (c->finished && c->queued == 0) {
        response_done(c);
    } else if (was_send && c->queued > 0) {
        /* Bytes queued and none written for send_timeout_ms: the client
         * stopped reading (or a paused player's buffers are full). */
        slog(s, PF_LOG_DEBUG, "http: send timeout (%zu bytes unsent)", c->queued);
        s->st.send_timeouts++;
        conn_abort(c);
    } else if (!c->res.active && !c->finished) {
        if (pf_buf_unread(&c->in) > 0) {
            slog(s, PF_LOG_DEBUG, "http: request not complete in %u ms",
                 (unsigned)timeout_len(s->cfg.header_timeout_ms));
            s->st.header_timeouts++;
            conn_error(c, 408);
        } else {
            slog(s, PF_LOG_DEBUG, "http: idle timeout");
            s->st.idle_timeouts++;
            conn_abort(c);
        }
    }
}

/* Waiting for a request: the idle timeout until its first byte, then the
 * header timeout (from that byte, whatever comes later). */
static void wait_timer_start(conn *c)
{
    pf_http_server *s = c->srv;
    int started = pf_buf_unread(&c->in) > 0;
    uint32_t ms = started ? timeout_len(s->cfg.header_timeout_ms)
                          : timeout_len(s->cfg.idle_timeout_ms);
    c->send_timer = 0;
    if (!started) c->wait_since = uv_now(s->loop);
    if (ms)
        uv_timer_start(&c->timer, timer_cb, ms, 0);
    else
        uv_timer_stop(&c->timer);
}

static void response_done(conn *c)
{
    c->finished = 0;
    if (c->close_after || c->srv->stopping) {
        conn_linger(c);
        return;
    }
    pf_addr remote = c->res.remote;
    memset(&c->res, 0, sizeof c->res);
    c->res.remote = remote;
    wait_timer_start(c);
    conn_read_resume(c);
    conn_process(c);
}

static void conn_process(conn *c)
{
    pf_http_server *s = c->srv;
    if (c->closing || c->lingering || c->res.active || c->finished) return;
    size_t avail = pf_buf_unread(&c->in);
    if (avail == 0) return;
    pf_http_request req;
    int rc = pf_http_request_parse(pf_buf_head(&c->in), avail, s->cfg.max_head, &req);
    if (rc == 0) return;
    if (rc < 0) {
        int status = rc == PF_ERR_LIMIT ? (req.target_too_long ? 414 : 431)
                     : rc == PF_ERR_UNSUPPORTED ? (req.version_minor < 0 ? 505 : 501)
                                                : 400;
        conn_error(c, status);
        return;
    }
    size_t head = (size_t)rc;
    if (req.content_length > s->cfg.max_body) {
        conn_error(c, 413);
        return;
    }
    size_t blen = (size_t)req.content_length;
    if (avail < head + blen) {
        if (blen && req.version_minor == 1 &&
            pf_http_header_has_token(&req, "Expect", "100-continue") && avail == head) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            if (conn_write2(c, cont, sizeof cont - 1, NULL, 0, NULL, 0) != 0) return;
        }
        return;
    }
    uv_timer_stop(&c->timer);
    c->send_timer = 0;
    pf_http_res *r = &c->res;
    pf_addr remote = r->remote;
    memset(r, 0, sizeof *r);
    r->c = c;
    r->remote = remote;
    r->active = 1;
    r->clen = -1;
    r->head_only = r->is_head = req.method == PF_HTTP_HEAD;
    r->keep_alive = req.keep_alive;
    r->version_minor = req.version_minor;
    s->cfg.on_request(r, &req, pf_buf_head(&c->in) + head, blen, s->cfg.ud);
    /* The handler may have aborted the connection; the buffer is still
     * ours until the handles close.  Emptied, it is given back: an idle
     * or streaming connection holds no input buffer. */
    pf_buf_consume(&c->in, head + blen);
    if (pf_buf_unread(&c->in) == 0) pf_buf_free(&c->in);
}

/* --- accepting -------------------------------------------------------- */

static void addr_key(uint8_t key[ADDR_KEY_LEN], const pf_addr *a)
{
    memset(key, 0, ADDR_KEY_LEN);
    key[0] = a->family;
    memcpy(key + 1, a->ip, a->family == 4 ? 4 : 8); /* IPv6: the /64 */
}

/* A response (or the tail of one) is queued and its client has taken
 * nothing for ms. */
static int conn_stalled(const conn *c, uint64_t now, uint32_t ms)
{
    return (c->res.active || c->finished) && !c->lingering && c->queued > 0 &&
           now - c->last_write >= ms;
}

/* How readily c makes room for a new connection (EV_NO: never): an idle
 * keep-alive connection (its client just reconnects), then one lingering
 * after its reply, then a head still coming (slow or stalled), then a
 * stream whose client has taken nothing for a moment (stall_evict_ms)
 * but not yet for stalled_ms, last one stalled longer: the streams still
 * stalled after stalled_ms are the few (max_stalled_per_addr) that took
 * the most, most likely paused players, while a flood's streams stop
 * reading at once.  A connection waiting for its first request for less
 * than PF_HTTP_YOUNG_MS is most likely sending it right now: it stays. */
enum { EV_NO, EV_STALLED, EV_SLOW, EV_PARTIAL, EV_LINGERING, EV_IDLE };
static int evict_rank(const pf_http_server *s, const conn *c, uint64_t now)
{
    if (c->closing || c->parked) return EV_NO;
    if (c->lingering) return EV_LINGERING;
    if (c->res.active || c->finished) {
        if (!conn_stalled(c, now, s->cfg.stall_evict_ms)) return EV_NO;
        return conn_stalled(c, now, s->cfg.stalled_ms) ? EV_STALLED : EV_SLOW;
    }
    if (now - c->wait_since <= PF_HTTP_YOUNG_MS) return EV_NO;
    return pf_buf_unread(&c->in) == 0 ? EV_IDLE : EV_PARTIAL;
}

/* 1 if a should go before b, both of rank r. */
static int evict_before(const conn *a, const conn *b, int r)
{
    if (r == EV_STALLED && a->sent != b->sent) return a->sent < b->sent; /* took least */
    if (r == EV_STALLED || r == EV_SLOW) return a->last_write < b->last_write;
    return a->wait_since < b->wait_since; /* waiting longest */
}

/* The connection to close for a newcomer (see max_conns in the header),
 * among those of one address when key is not NULL; NULL if none may go. */
static conn *conn_evictable(pf_http_server *s, const uint8_t *key)
{
    uint64_t now = uv_now(s->loop);
    conn *best = NULL;
    int best_rank = EV_NO;
    for (conn *c = s->conns; c; c = c->next) {
        if (key && memcmp(c->akey, key, ADDR_KEY_LEN) != 0) continue;
        int rank = evict_rank(s, c, now);
        if (rank == EV_NO || rank < best_rank) continue;
        if (rank > best_rank || evict_before(c, best, rank)) {
            best = c;
            best_rank = rank;
        }
    }
    return best;
}

static void conn_evict(pf_http_server *s, conn *victim)
{
    int streaming = victim->res.active || victim->finished;
    slog(s, PF_LOG_DEBUG, "http: at the cap, closing one %s for %llu ms",
         streaming ? "unread" : "waiting",
         (unsigned long long)(uv_now(s->loop) - (streaming ? victim->last_write : victim->wait_since)));
    s->st.evicted++;
    conn_abort(victim);
}

static size_t conns_of(const pf_http_server *s, const uint8_t *key)
{
    size_t n = 0;
    for (const conn *c = s->conns; c; c = c->next)
        if (!c->closing && memcmp(c->akey, key, ADDR_KEY_LEN) == 0) n++;
    return n;
}

static int cmp_stalled(const void *pa, const void *pb)
{
    const conn *a = *(const conn *const *)pa, *b = *(const conn *const *)pb;
    int k = memcmp(a->akey, b->akey, ADDR_KEY_LEN);
    if (k) return k;
    if (a->sent != b->sent) return a->sent > b->sent ? -1 : 1; /* most taken first */
    return a->last_write > b->last_write ? -1 : a->last_write < b->last_write;
}

/* max_stalled_per_addr: of each address's stalled responses, keeps the
 * ones whose clients have taken the most and closes the rest. */
static void stalled_sweep(pf_http_server *s)
{
    uint64_t now = uv_now(s->loop);
    uint32_t cap = s->cfg.max_stalled_per_addr;
    size_t n = 0;
    if (!cap) return;
    for (conn *c = s->conns; c; c = c->next)
        if (!c->closing && conn_stalled(c, now, s->cfg.stalled_ms)) n++;
    if (n <= cap) return;
    conn **v = malloc(n * sizeof *v);
    if (!v) return;
    size_t k = 0;
    for (conn *c = s->conns; c && k < n; c = c->next)
        if (!c->closing && conn_stalled(c, now, s->cfg.stalled_ms)) v[k++] = c;
    qsort(v, k, sizeof *v, cmp_stalled);
    for (size_t i = 0, run = 0; i < k; i++) {
        run = i > 0 && memcmp(v[i]->akey, v[i - 1]->akey, ADDR_KEY_LEN) == 0 ? run + 1 : 0;
        if (run < cap) continue;
        slog(s, PF_LOG_DEBUG, "http: closing a response unread for %llu ms (%llu bytes taken)",
             (unsigned long long)(now - v[i]->last_write), (unsigned long long)v[i]->sent);
        s->st.stalled_closed++;
        conn_abort(v[i]);
    }
    free(v);
}

static void sweep_cb(uv_timer_t *t)
{
    pf_http_server *s = t->data;
    stalled_sweep(s);
    server_admit(s);
}

/* The sweep runs while it has work: stalled responses to count, or
 * connections waiting for a slot (evictability changes with time). */
static void sweep_update(pf_http_server *s)
{
    if (!s->sweep_open) return;
    if (!s->cfg.max_stalled_per_addr && !s->nparked)
        uv_timer_stop(&s->sweep);
    else if (!uv_is_active((uv_handle_t *)&s->sweep))
        uv_timer_start(&s->sweep, sweep_cb, SWEEP_MS, SWEEP_MS);
}

/* A connection starts: reads its request, under the idle timeout. */
static void conn_start(pf_http_server *s, conn *c)
{
    c->wait_since = uv_now(s->loop);
    uv_tcp_nodelay(&c->tcp, 1);
    if (s->cfg.send_buffer) {
        int sz = (int)s->cfg.send_buffer;
        uv_send_buffer_size((uv_handle_t *)&c->tcp, &sz);
    }
    wait_timer_start(c);
    conn_read_resume(c);
}

/* Connections holding a slot, closing ones included. */
static size_t conns_live(const pf_http_server *s) { return s->nconns - s->nparked; }

static void conn_accept(pf_http_server *s);

/* Admits waiting connections in the order they came, each when there is
 * room or a connection may make room; then takes a connection left in
 * libuv when the waiting room was full. */
static void server_admit(pf_http_server *s)
{
    /* A closing connection holds its slot (and its response's resources,
     * e.g. a media stream) until libuv has closed it; then this runs
     * again. */
    while (s->nparked > 0 && !s->stopping) {
        if (conns_live(s) >= s->cfg.max_conns) {
            if (s->nclosing >= s->nparked) break; /* room is on its way */
            conn *victim = conn_evictable(s, NULL);
            if (!victim) break;
            conn_evict(s, victim);
            continue;
        }
        conn *oldest = NULL;
        for (conn *c = s->conns; c; c = c->next)
            if (c->parked) oldest = c; /* the list is newest first */
        oldest->parked = 0;
        s->nparked--;
        conn_start(s, oldest);
    }
    if (s->accept_held && !s->stopping && s->nparked < s->cfg.max_waiting) {
        s->accept_held = 0;
        conn_accept(s);
    }
    sweep_update(s);
}

/* Accepts the connection libuv holds.  Over its address's cap it replaces
 * one of that address's own or is closed at once; at the global cap (or
 * behind others already waiting) it waits for a slot. */
static void conn_accept(pf_http_server *s)
{
    conn *c = calloc(1, sizeof *c);
    if (!c) return; /* the pending connection stays in the backlog */
    c->srv = s;
    pf_buf_init(&c->in);
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->open_handles = 2;
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)&c->tcp) != 0) {
        conn_abort(c);
        return;
    }
    s->st.accepted++;
    c->wait_since = uv_now(s->loop);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    memset(&ss, 0, sizeof ss);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
        pf__addr_from_sockaddr((const struct sockaddr *)&ss, &c->res.remote, 1);
    addr_key(c->akey, &c->res.remote);
    if (s->cfg.max_conns_per_addr && conns_of(s, c->akey) > s->cfg.max_conns_per_addr) {
        conn *victim = conn_evictable(s, c->akey);
        if (!victim) {
            slog(s, PF_LOG_WARN, "http: too many connections from one address (%zu)",
                 conns_of(s, c->akey) - 1);
            s->st.refused++;
            conn_abort(c);
            return;
        }
        conn_evict(s, victim);
    }
    if (s->nparked > 0 || conns_live(s) > s->cfg.max_conns) {
        if (!s->nparked) slog(s, PF_LOG_INFO, "http: at %zu connections, newcomers wait",
                              s->cfg.max_conns);
        c->parked = 1;
        s->nparked++;
        s->st.waited++;
        server_admit(s);
        return;
    }
    conn_start(s, c);
}

static void on_connection(uv_stream_t *l, int status)
{
    pf_http_server *s = l->data;
    if (status < 0 || s->stopping) return;
    if (s->nparked >= s->cfg.max_waiting) {
        /* Left pending: libuv stops watching the listener until
         * server_admit accepts it; the kernel's backlog holds the rest. */
        s->accept_held = 1;
        return;
    }
    conn_accept(s);
}

int pf_http_server_start(uv_loop_t *loop, const pf_http_server_config *cfg,
                         pf_http_server **out)
{
    *out = NULL;
    if (!cfg || !cfg->on_request) return PF_ERR_INVAL;
    struct sockaddr_storage ss;
    const char *bind = cfg->bind ? cfg->bind : "0.0.0.0";
    memset(&ss, 0, sizeof ss);
    if (strchr(bind, ':')) {
        if (uv_ip6_addr(bind, cfg->port, (struct sockaddr_in6 *)&ss) != 0) return PF_ERR_INVAL;
    } else if (uv_ip4_addr(bind, cfg->port, (struct sockaddr_in *)&ss) != 0) {
        return PF_ERR_INVAL;
    }
    pf_http_server *s = calloc(1, sizeof *s);
    if (!s) return PF_ERR_NOMEM;
    s->loop = loop;
    s->cfg = *cfg;
    if (!s->cfg.max_head || s->cfg.max_head > PF_HTTP_MAX_HEAD) s->cfg.max_head = PF_HTTP_MAX_HEAD;
    if (!s->cfg.max_conns) s->cfg.max_conns = PF_HTTP_MAX_CONNS;
    if (!s->cfg.header_timeout_ms) s->cfg.header_timeout_ms = PF_HTTP_HEADER_TIMEOUT_MS;
    if (!s->cfg.send_timeout_ms) s->cfg.send_timeout_ms = PF_HTTP_SEND_TIMEOUT_MS;
    if (!s->cfg.stall_evict_ms) s->cfg.stall_evict_ms = PF_HTTP_STALL_EVICT_MS;
    if (!s->cfg.stalled_ms) s->cfg.stalled_ms = PF_HTTP_STALLED_MS;
    if (!s->cfg.max_waiting) s->cfg.max_waiting = PF_HTTP_MAX_WAITING;
    s->cfg.bind = NULL; /* not kept: borrowed */
    pf__logger_init(&s->log, s->cfg.log, s->cfg.log_ud, s->cfg.log_level);
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    s->listener_open = 1;
    uv_timer_init(loop, &s->sweep);
    s->sweep.data = s;
    s->sweep_open = 1;
    sweep_update(s);
    int rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&s->listener, LISTEN_BACKLOG, on_connection);
    if (rc != 0) {
        slog(s, PF_LOG_ERROR, "http: cannot listen on %s:%u: %s", bind,
             (unsigned)cfg->port, uv_strerror(rc));
        pf_http_server_stop(s, NULL, NULL);
        return PF_ERR_NET;
    }
    struct sockaddr_storage b;
    int blen = sizeof b;
    if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&b, &blen) == 0) {
        pf_addr a;
        pf__addr_from_sockaddr((const struct sockaddr *)&b, &a, 1);
        s->port = a.port;
    }
    *out = s;
    return 0;
}

uint16_t pf_http_server_port(const pf_http_server *s) { return s->port; }

void pf_http_server_set_limits(pf_http_server *s, uint32_t header_timeout_ms,
                               uint32_t idle_timeout_ms, uint32_t send_timeout_ms,
                               size_t max_conns)
{
    s->cfg.header_timeout_ms = header_timeout_ms ? header_timeout_ms : PF_HTTP_HEADER_TIMEOUT_MS;
    s->cfg.idle_timeout_ms = idle_timeout_ms == UINT32_MAX ? 0
                             : idle_timeout_ms           ? idle_timeout_ms
                                                         : PF_HTTP_IDLE_TIMEOUT_MS;
    s->cfg.send_timeout_ms = send_timeout_ms ? send_timeout_ms : PF_HTTP_SEND_TIMEOUT_MS;
    s->cfg.max_conns = max_conns ? max_conns : PF_HTTP_MAX_CONNS;
    server_admit(s);
}

void pf_http_server_set_client_limits(pf_http_server *s, size_t max_conns_per_addr,
                                      uint32_t max_stalled_per_addr, uint32_t stall_evict_ms)
{
    s->cfg.max_conns_per_addr = max_conns_per_addr;
    s->cfg.max_stalled_per_addr = max_stalled_per_addr;
    s->cfg.stall_evict_ms = stall_evict_ms ? stall_evict_ms : PF_HTTP_STALL_EVICT_MS;
    sweep_update(s);
}

void pf_http_server_stats_get(const pf_http_server *s, pf_http_server_stats *out)
{
    *out = s->st;
    out->conns = s->nconns - s->nparked;
    out->waiting = s->nparked;
}

static void listener_closed(uv_handle_t *h)
{
    pf_http_server *s = h->data;
    s->listener_open = 0;
    server_maybe_done(s);
}

static void sweep_closed(uv_handle_t *h)
{
    pf_http_server *s = h->data;
    s->sweep_open = 0;
    server_maybe_done(s);
}

void pf_http_server_stop(pf_http_server *s, void (*done)(void *ud), void *ud)
{
    if (!s || s->stopping) return;
    s->stopping = 1;
    s->done = done;
    s->done_ud = ud;
    for (conn *c = s->conns; c; c = c->next) conn_abort(c);
    if (s->sweep_open) uv_close((uv_handle_t *)&s->sweep, sweep_closed);
    uv_close((uv_handle_t *)&s->listener, listener_closed);
}

/* --- responses -------------------------------------------------------- */

const pf_addr *pf_http_res_remote(const pf_http_res *res) { return &res->remote; }

int pf_http_res_is_head(const pf_http_res *res) { return res->is_head; }

static int res_usable(const pf_http_res *r)
{
    if (!r->active) return PF_ERR_INVAL;
    if (r->c->closing || r->c->lingering) return PF_ERR_CLOSED;
    return 0;
}

/* Decides framing and builds the header block into b. */
static int res_head(pf_http_res *r, const pf_http_resp_head *head, pf_buf *b)
{
    pf_http_resp_head h = *head;
    conn *c = r->c;
    int no_body = h.status < 200 || h.status == 204 || h.status == 304;
    if (no_body) r->head_only = 1;
    h.keep_alive = r->keep_alive && !c->srv->stopping;
    h.chunked = 0;
    if (no_body) {
        h.content_length = h.status == 304 ? h.content_length : -1;
    } else if (h.content_length >= 0) {
        r->clen = h.content_length;
    } else if (!r->head_only) {
        if (r->version_minor == 1) h.chunked = r->chunked = 1;
        else h.keep_alive = 0; /* body ends at close */
    }
    if (!h.keep_alive) c->close_after = 1;
    return pf_http_resp_head_build(b, &h);
}

int pf_http_res_start(pf_http_res *r, const pf_http_resp_head *head)
{
    int rc = res_usable(r);
    if (rc) return rc;
    if (r->started) return PF_ERR_INVAL;
    pf_buf b;
    pf_buf_init(&b);
    rc = res_head(r, head, &b);
    if (!rc) rc = conn_write2(r->c, b.data, b.len, NULL, 0, NULL, 0);
    pf_buf_free(&b);
    if (!rc) r->started = 1;
    return rc;
}

int pf_http_res_write(pf_http_res *r, const void *p, size_t n)
{
    int rc = res_usable(r);
    if (rc) return rc;
    if (!r->started) return PF_ERR_INVAL;
    if (r->clen >= 0 && (uint64_t)n > (uint64_t)r->clen - r->written) return PF_ERR_INVAL;
    r->written += n;
    if (r->head_only || n == 0) return 0;
    if (r->chunked) {
        char pre[24];
        int pn = snprintf(pre, sizeof pre, "%zx\r\n", n);
        return conn_write2(r->c, pre, (size_t)pn, p, n, "\r\n", 2);
    }
    return conn_write2(r->c, p, n, NULL, 0, NULL, 0);
}

static void res_finish(pf_http_res *r)
{
    conn *c = r->c;
    r->active = 0;
    c->finished = 1;
    if (!c->closing && c->queued == 0) uv_timer_start(&c->timer, timer_cb, 0, 0);
}

int pf_http_res_end(pf_http_res *r)
{
    if (!r->active || !r->started) {
        if (!r->active) return PF_ERR_INVAL;
        pf_http_resp_head h;
        pf_http_resp_head_init(&h, 200); /* never started: empty 200 */
        h.content_length = 0;
        int rc = pf_http_res_start(r, &h);
        if (rc && rc != PF_ERR_CLOSED) return rc;
    }
    int rc = res_usable(r);
    if (!rc && r->chunked && !r->head_only) rc = conn_write2(r->c, "0\r\n\r\n", 5, NULL, 0, NULL, 0);
    if (!r->head_only && r->clen >= 0 && r->written < (uint64_t)r->clen) r->c->close_after = 1;
    res_finish(r);
    return rc;
}

int pf_http_res_send(pf_http_res *r, int status, const char *content_type,
                     const void *body, size_t len)
{
    if (!r->active || r->started) return PF_ERR_INVAL;
    int rc = res_usable(r);
    if (rc) {
        res_finish(r);
        return rc;
    }
    pf_http_resp_head h;
    pf_http_resp_head_init(&h, status);
    h.content_type = content_type;
    h.content_length = (int64_t)len;
    pf_buf b;
    pf_buf_init(&b);
    rc = res_head(r, &h, &b);
    if (!rc) {
        r->started = 1;
        rc = conn_write2(r->c, b.data, b.len, r->head_only ? NULL : body,
                         r->head_only ? 0 : len, NULL, 0);
    }
    pf_buf_free(&b);
    if (rc == PF_ERR_NOMEM) r->c->close_after = 1;
    r->written = len;
    res_finish(r);
    return rc;
}

size_t pf_http_res_queued(const pf_http_res *r) { return r->c->queued; }

void pf_http_res_set_drain(pf_http_res *r, size_t low_water, pf_http_res_cb cb, void *ud)
{
    r->low_water = low_water;
    r->drain_cb = cb;
    r->drain_ud = ud;
    r->drain_armed = cb && r->c->queued > low_water;
}

void pf_http_res_set_close(pf_http_res *r, pf_http_res_cb cb, void *ud)
{
    r->close_cb = cb;
    r->close_ud = ud;
}
