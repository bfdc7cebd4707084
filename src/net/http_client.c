/* libcurl multi interface on a libuv loop (see http_client.h).
 *
 * The usual "multi-uv" pattern: curl tells us which sockets to watch
 * (sock_cb) and when to wake it (timer_fn); libuv events are fed back
 * through curl_multi_socket_action, after which finished transfers are
 * collected with curl_multi_info_read.
 *
 * libcurl forbids most multi calls from inside its own callbacks (our
 * write callback runs inside curl_multi_socket_action), so requests
 * started or cancelled from on_data are queued and applied once
 * socket_action returns.  Freeing the client from any callback is
 * deferred the same way until the outermost callback unwinds. */
#include "net/http_client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util/buf.h"
#include "peerflow/peerflow.h"

#define PF_HTTP_USER_AGENT "peerflow/0.1"
#define PF_HTTP_MAX_HOST_CONNS 16L
#define PF_HTTP_MAX_CACHED_CONNS 64L
#define PF_HTTP_MAX_REDIRS 5L

typedef struct sock_ctx sock_ctx;
struct sock_ctx {
    uv_poll_t poll; /* poll.data = this */
    curl_socket_t fd;
    pf_http_client *c;
    sock_ctx *prev, *next;
};

enum { MODE_DELIVER = 0, MODE_DISCARD, MODE_TRUNCATE };

struct pf_http_req {
    pf_http_client *c;
    CURL *easy;
    pf_http_data_fn on_data;
    pf_http_done_fn on_done;
    void *ud;
    uint64_t range_start, range_len;
    uint64_t delivered;
    size_t max_body;   /* collect mode bound */
    pf_buf body;       /* collect mode */
    int64_t cr_start;  /* Content-Range start of the last response, -1 */
    int checked;       /* status classified (mode set) */
    int mode;
    int aborted;       /* we stopped the transfer; abort_err is the result */
    int abort_err;
    int added;         /* attached to the multi handle */
    int cancelled;     /* removal pending (cancel from inside curl) */
    int done;          /* on_done running */
    struct curl_slist *headers; /* a POST's Content-Type, opts.headers */
    void (*on_headers)(void *ud, const char *h, size_t n);
    pf_buf resp_headers; /* the current response's, bounded */
    int headers_told;    /* on_headers was called */
    pf_http_req *prev, *next;
};

struct pf_http_client {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer; /* timer.data = this */
    pf_http_req *reqs;
    sock_ctx *socks;
    int busy;         /* nesting of our uv callbacks */
    int in_curl;      /* inside curl_multi_socket_action */
    int free_pending; /* pf_http_client_free called */
    int torn_down;    /* curl released, handles closing */
    int handles;      /* open uv handles */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_init_rc;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : PF_ERR_NOMEM;
}

/* ---- handle bookkeeping ------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
    pf_http_client *c;
    if (h->type == UV_TIMER) {
        c = h->data;
    } else {
        sock_ctx *sc = h->data;
        c = sc->c;
        free(sc);
    }
    if (--c->handles == 0 && c->torn_down) free(c);
}

static void sock_close(pf_http_client *c, sock_ctx *sc)
{
    if (sc->prev) sc->prev->next = sc->next;
    else c->socks = sc->next;
    if (sc->next) sc->next->prev = sc->prev;
    uv_poll_stop(&sc->poll);
    uv_close((uv_handle_t *)&sc->poll, on_handle_closed);
}

static void req_link(pf_http_client *c, pf_http_req *r)
{
    r->prev = NULL;
    r->next = c->reqs;
    if (c->reqs) c->reqs->prev = r;
    c->reqs = r;
}

/* Detaches from curl and frees; never called inside curl. */
static void req_destroy(pf_http_client *c, pf_http_req *r)
{
    if (r->added) curl_multi_remove_handle(c->multi, r->easy);
    curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    if (r->prev) r->prev->next = r->next;
    else c->reqs = r->next;
    if (r->next) r->next->prev = r->prev;
    pf_buf_free(&r->body);
    pf_buf_free(&r->resp_headers);
    free(r);
}

/* The final response's headers to on_headers, once. */
static void tell_headers(pf_http_req *r)
{
    if (!r->on_headers || r->headers_told) return;
    r->headers_told = 1;
    r->on_headers(r->ud, r->resp_headers.data ? (const char *)r->resp_headers.data : "", r->resp_headers.len);
}

/* ---- curl callbacks ----------------------------------------------------- */

static void drive(pf_http_client *c, curl_socket_t s, int ev_bitmask);

static void poll_cb(uv_poll_t *h, int status, int events)
{
    sock_ctx *sc = h->data;
    int flags = 0;
    if (status < 0) {
        flags = CURL_CSELECT_ERR;
    } else {
        if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    }
    drive(sc->c, sc->fd, flags);
}

static void timer_cb(uv_timer_t *t)
{
    drive(t->data, CURL_SOCKET_TIMEOUT, 0);
}

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    pf_http_client *c = userp;
    sock_ctx *sc = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (sc) {
            if (!c->torn_down) curl_multi_assign(c->multi, s, NULL);
            sock_close(c, sc);
        }
        return 0;
    }
    if (!sc) {
        sc = calloc(1, sizeof *sc);
        if (!sc) return -1;
        if (uv_poll_init_socket(c->loop, &sc->poll, s) != 0) {
            free(sc);
            return -1;
        }
        sc->fd = s;
        sc->c = c;
        sc->poll.data = sc;
        sc->prev = NULL;
        sc->next = c->socks;
        if (c->socks) c->socks->prev = sc;
        c->socks = sc;
        c->handles++;
        curl_multi_assign(c->multi, s, sc);
    }
    int ev = 0;
    if (what & CURL_POLL_IN) ev |= UV_READABLE;
    if (what & CURL_POLL_OUT) ev |= UV_WRITABLE;
    uv_poll_start(&sc->poll, ev, poll_cb);
    return 0;
}

static int timer_fn(CURLM *m, long timeout_ms, void *userp)
{
    pf_http_client *c = userp;
    if (c->torn_down) return 0;
    if (timeout_ms < 0)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, timer_cb, (uint64_t)timeout_ms, 0);
    return 0;
}

static void req_abort(pf_http_req *r, int err)
{
    r->aborted = 1;
    r->abort_err = err;
}

/* Decides what to do with the body once the status is known. */
static void classify(pf_http_req *r, long code)
{
    r->checked = 1;
    int ok2xx = code >= 200 && code < 300;
    r->mode = (ok2xx || !r->on_data) ? MODE_DELIVER : MODE_DISCARD;
    if (!r->range_len) return;
    if (code == 206) {
        if (r->cr_start < 0 || (uint64_t)r->cr_start != r->range_start)
            req_abort(r, PF_ERR_RANGE);
    } else if (code == 200) {
        if (r->range_start == 0)
            r->mode = MODE_TRUNCATE;
        else
            req_abort(r, PF_ERR_RANGE);
    } else if (code == 416 || ok2xx) {
        req_abort(r, PF_ERR_RANGE);
    }
}

/* Hands n body bytes on; returns 0 to go on, -1 to stop the transfer. */
static int deliver(pf_http_req *r, const uint8_t *p, size_t n)
{
    if (r->on_data) {
        int rv = r->on_data(r->ud, p, n);
        if (r->cancelled) return -1;
        if (rv) {
            req_abort(r, rv < 0 ? rv : PF_ERR_CLOSED);
            return -1;
        }
    } else {
        if (n > r->max_body - r->body.len) {
            req_abort(r, PF_ERR_LIMIT);
            return -1;
        }
        if (pf_buf_append(&r->body, p, n) != 0) {
            req_abort(r, PF_ERR_NOMEM);
            return -1;
        }
    }
    r->delivered += n;
    return 0;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    pf_http_req *r = ud;
    size_t n = size * nmemb;
    if (r->cancelled || r->aborted || r->c->free_pending) return 0;
    if (!r->checked) {
        long code = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
        classify(r, code);
        if (r->aborted) return 0;
    }
    if (r->mode != MODE_DISCARD) {
        tell_headers(r);
        if (r->cancelled || r->aborted) return 0;
    }
    const uint8_t *p = (const uint8_t *)ptr;
    switch (r->mode) {
    case MODE_DISCARD:
        return n;
    case MODE_TRUNCATE: {
        uint64_t left = r->range_len - r->delivered;
        size_t take = left < n ? (size_t)left : n;
        if (deliver(r, p, take) != 0) return 0;
        if (r->delivered == r->range_len) {
            req_abort(r, 0); /* got the whole range: stop, successfully */
            return 0;
        }
        return n;
    }
    default:
        return deliver(r, p, n) == 0 ? n : 0;
    }
}

/* Tracks the Content-Range start of the current response. */
static size_t header_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    pf_http_req *r = ud;
    size_t n = size * nitems;
    if (r->on_headers) {
        if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) pf_buf_reset(&r->resp_headers);
        if (n <= PF_HTTP_MAX_HEADERS - r->resp_headers.len && pf_buf_append(&r->resp_headers, buf, n) != 0)
            pf_buf_reset(&r->resp_headers); /* no memory: no headers */
    }
    if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        r->cr_start = -1; /* new response (redirect, 100-continue) */
    } else if (n > 14 && strncasecmp(buf, "content-range:", 14) == 0) {
        size_t i = 14;
        while (i < n && (buf[i] == ' ' || buf[i] == '\t')) i++;
        if (n - i > 6 && strncasecmp(buf + i, "bytes ", 6) == 0) {
            i += 6;
            while (i < n && buf[i] == ' ') i++;
            uint64_t v = 0;
            size_t digits = 0;
            while (i < n && buf[i] >= '0' && buf[i] <= '9' && digits < 19) {
                v = v * 10 + (uint64_t)(buf[i] - '0');
                i++;
                digits++;
            }
            if (digits > 0 && i < n && buf[i] == '-') r->cr_start = (int64_t)v;
        }
    }
    return n;
}

/* ---- dispatch ----------------------------------------------------------- */

static int map_curl_err(CURLcode res)
{
    switch (res) {
    case CURLE_OK: return 0;
    case CURLE_OPERATION_TIMEDOUT: return PF_ERR_TIMEOUT;
    case CURLE_FILESIZE_EXCEEDED: return PF_ERR_LIMIT; /* Content-Length > max_body */
    case CURLE_OUT_OF_MEMORY: return PF_ERR_NOMEM;
    default: return PF_ERR_NET;
    }
}

static void finish(pf_http_client *c, pf_http_req *r, CURLcode res)
{
    curl_multi_remove_handle(c->multi, r->easy);
    r->added = 0;
    if (r->cancelled) {
        req_destroy(c, r);
        return;
    }
    long code = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
    if (!r->checked && code > 0) classify(r, code);
    int err = r->aborted ? r->abort_err : map_curl_err(res);
    const uint8_t *body = NULL;
    size_t body_len = 0;
    if (!r->on_data && err == 0) {
        body = r->body.data ? r->body.data : (const uint8_t *)"";
        body_len = r->body.len;
    }
    r->done = 1; /* from here pf_http_cancel is a no-op */
    if (code > 0) tell_headers(r);
    r->on_done(r->ud, err, code, body, body_len);
    req_destroy(c, r);
}

static void check_done(pf_http_client *c)
{
    CURLMsg *m;
    int left;
    while (!c->free_pending && (m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        CURLcode res = m->data.result;
        char *priv = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        finish(c, (pf_http_req *)(void *)priv, res);
    }
}

/* Applies starts and cancels requested from inside curl callbacks. */
static void flush_deferred(pf_http_client *c)
{
    pf_http_req *r = c->reqs, *next;
    for (; r; r = next) {
        next = r->next;
        if (r->cancelled) {
            req_destroy(c, r);
        } else if (!r->added && !r->done) {
            if (curl_multi_add_handle(c->multi, r->easy) == CURLM_OK) {
                r->added = 1;
            } else {
                r->done = 1;
                r->on_done(r->ud, PF_ERR_NOMEM, 0, NULL, 0);
                req_destroy(c, r);
                next = c->reqs; /* on_done may have changed the list */
            }
        }
    }
}

static void teardown(pf_http_client *c)
{
    while (c->reqs) req_destroy(c, c->reqs);
    curl_multi_cleanup(c->multi); /* may report sockets to remove */
    c->multi = NULL;
    c->torn_down = 1;
    while (c->socks) sock_close(c, c->socks);
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void drive(pf_http_client *c, curl_socket_t s, int ev_bitmask)
{
    if (c->torn_down) return;
    c->busy++;
    int running = 0;
    c->in_curl++;
    curl_multi_socket_action(c->multi, s, ev_bitmask, &running);
    c->in_curl--;
    flush_deferred(c);
    check_done(c);
    c->busy--;
    if (c->busy == 0 && c->free_pending) teardown(c);
}

/* opts.headers' lines into r->headers.  0, or 1 (no memory, or a line
 * too long). */
static int add_headers(pf_http_req *r, const char *h)
{
    while (h && *h) {
        size_t n = strcspn(h, "\r\n");
        if (n > 0) {
            char line[1024];
            if (n >= sizeof line) return 1;
            memcpy(line, h, n);
            line[n] = 0;
            struct curl_slist *l = curl_slist_append(r->headers, line);
            if (!l) return 1;
            r->headers = l;
        }
        h += n;
        h += strspn(h, "\r\n");
    }
    return 0;
}

/* ---- public API --------------------------------------------------------- */

int pf_http_client_new(pf_http_client **out, uv_loop_t *loop)
{
    *out = NULL;
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc) return curl_init_rc;
    pf_http_client *c = calloc(1, sizeof *c);
    if (!c) return PF_ERR_NOMEM;
    c->loop = loop;
    c->multi = curl_multi_init();
    if (!c->multi) {
        free(c);
        return PF_ERR_NOMEM;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_fn);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, PF_HTTP_MAX_HOST_CONNS);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, PF_HTTP_MAX_CACHED_CONNS);
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    c->handles = 1;
    *out = c;
    return 0;
}

int pf_http_get(pf_http_client *c, const pf_http_opts *o,
                pf_http_data_fn on_data, pf_http_done_fn on_done, void *ud,
                pf_http_req **req_out)
{
    if (req_out) *req_out = NULL;
    if (!c || !o || !o->url || !on_done) return PF_ERR_INVAL;
    if (c->free_pending || c->torn_down) return PF_ERR_SHUTDOWN;
    pf_http_req *r = calloc(1, sizeof *r);
    if (!r) return PF_ERR_NOMEM;
    r->c = c;
    r->on_data = on_data;
    r->on_done = on_done;
    r->ud = ud;
    r->range_start = o->range_start;
    r->range_len = o->range_len;
    r->cr_start = -1;
    r->max_body = o->max_body ? o->max_body : PF_HTTP_DEFAULT_MAX_BODY;
    if (r->max_body > PF_HTTP_MAX_BODY) r->max_body = PF_HTTP_MAX_BODY;
    pf_buf_init(&r->body);
    pf_buf_init(&r->resp_headers);
    CURL *e = r->easy = curl_easy_init();
    if (!e) {
        free(r);
        return PF_ERR_NOMEM;
    }
    int bad = 0;
    bad |= curl_easy_setopt(e, CURLOPT_URL, o->url) != CURLE_OK;
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)(void *)r);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, PF_HTTP_USER_AGENT);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, o->follow ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, PF_HTTP_MAX_REDIRS);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    if (!on_data) /* refuse a declared Content-Length over the bound up front */
        curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->max_body);
    if (o->timeout_ms > 0) curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->timeout_ms);
    if (o->connect_timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
    if (o->range_len > 0) {
        char range[48];
        if (o->range_len - 1 > UINT64_MAX - o->range_start) bad = 1;
        snprintf(range, sizeof range, "%llu-%llu", (unsigned long long)o->range_start,
                 (unsigned long long)(o->range_start + o->range_len - 1));
        bad |= curl_easy_setopt(e, CURLOPT_RANGE, range) != CURLE_OK;
    }
    if (o->post) {
        bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->post_len) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, (const char *)o->post) != CURLE_OK;
        if (o->content_type) {
            char h[160];
            snprintf(h, sizeof h, "Content-Type: %s", o->content_type);
            r->headers = curl_slist_append(NULL, h);
            bad |= !r->headers;
        }
    }
    bad |= add_headers(r, o->headers);
    if (r->headers) bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers) != CURLE_OK;
    r->on_headers = o->on_headers;
    if (bad) {
        curl_easy_cleanup(e);
        curl_slist_free_all(r->headers);
        free(r);
        return PF_ERR_INVAL;
    }
    if (!c->in_curl) {
        if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
            curl_easy_cleanup(e);
            curl_slist_free_all(r->headers);
            free(r);
            return PF_ERR_NOMEM;
        }
        r->added = 1;
    } /* else added by flush_deferred when curl returns */
    req_link(c, r);
    if (req_out) *req_out = r;
    return 0;
}

void pf_http_cancel(pf_http_client *c, pf_http_req *r)
{
    if (!c || !r || r->done || r->cancelled) return;
    r->on_done = NULL;
    if (c->in_curl)
        r->cancelled = 1; /* removed when curl returns */
    else
        req_destroy(c, r);
}

void pf_http_client_free(pf_http_client *c)
{
    if (!c || c->free_pending) return;
    c->free_pending = 1;
    pf_http_req *r = c->reqs, *next;
    for (; r; r = next) {
        next = r->next;
        pf_http_cancel(c, r);
    }
    if (c->busy == 0) teardown(c);
}
