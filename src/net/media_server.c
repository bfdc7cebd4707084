#include "net/media_server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/media/media_http.h"
#include "core/util/buf.h"
#include "net/http_server.h"
#include "net/media_title.h"

/* Memory per connection: one read of MS_READ_CHUNK in the stream's
 * buffer, and at most one such chunk (plus framing) queued in user space:
 * the next read starts only once the socket took the last one (the
 * kernel's send buffer, MS_SEND_BUFFER on loopback, keeps the player fed
 * meanwhile). */
#define MS_READ_CHUNK (64 * 1024)   /* per pf_stream_read */
#define MS_HIGH_WATER 0             /* read again only when all was taken */
#define MS_SEND_BUFFER (128 * 1024) /* SO_SNDBUF of a player's connection */
#define MS_LOW_WATER 0              /* the drain callback: queue empty */
#define MS_MAX_CONNS 64
#define MS_MAX_CONNS_PER_CLIENT 16 /* when not bound to loopback */
#define MS_MAX_STALLED 8           /* streams one client holds unread */
#define MS_STALL_EVICT_MS 1000     /* at the cap: a stream unread this long */
#define MS_MAX_SOURCES 512
#define MS_COV_MAX 32 /* disjoint served intervals remembered per file */
#define MS_PLAYER_FILE_MAX (16u << 20) /* a player page's file, read whole */
#define MS_EXTRA "X-Content-Type-Options: nosniff\r\n"
#define MS_NO_STORE MS_EXTRA "Cache-Control: no-store\r\n"

typedef struct ms_resp ms_resp;

/* Which bytes of one file have been sent: sorted, disjoint [a, b). */
typedef struct ms_cov {
    uint32_t n;
    uint64_t iv[MS_COV_MAX][2];
} ms_cov;

struct pf_media_server {
    uv_loop_t *loop;
    pf_client_torrent *t;
    pf_http_server *http;
    int port;
    int loopback_only;
    char base[80];
    ms_resp *resps; /* streaming file responses */
    ms_cov **cov;   /* per file, allocated on first bytes */
    ms_title *title; /* the packaged title its manifests describe (HLS, DASH) */
    char *player_dir; /* realpath of --player-dir; NULL: /player/ is 404 */
    uint32_t ncov;
    int stopping;
    /* Pacing (pf_media_server_set_pacing): the time, on uv_hrtime's
     * clock, at which the segment bytes sent so far would have come over
     * the network; responses waiting for it; the timer that wakes them. */
    int pace_mode;
    uint64_t pace_at;
    uv_timer_t *pace_timer;
    uint64_t paced_ns; /* waits imposed, in all */
};

/* One GET of a file being streamed. */
struct ms_resp {
    pf_media_server *ms;
    pf_http_res *res;
    pf_stream *st;
    uint32_t file;
    uint64_t next, end; /* file offsets still to send: [next, end) */
    int reading;        /* a pf_stream_read is pending */
    int in_pump;
    int failed;
    int paced;          /* a segment of an adaptive title: see pace_take */
    int pace_waiting;   /* the pace timer resumes it */
    uint64_t read_at;   /* uv_hrtime() when the pending read was issued */
    ms_resp *prev, *nextr;
};

/* --- coverage ----------------------------------------------------------- */

static void cov_add(pf_media_server *ms, uint32_t file, uint64_t a, uint64_t b)
{
    if (a >= b) return;
    if (!ms->cov) {
        uint32_t n = pf_client_torrent_num_files(ms->t);
        if (n == 0) return;
        ms->cov = calloc(n, sizeof *ms->cov);
        if (!ms->cov) return;
        ms->ncov = n;
    }
    if (file >= ms->ncov) return;
    ms_cov *c = ms->cov[file];
    if (!c) {
        c = ms->cov[file] = calloc(1, sizeof *c);
        if (!c) return;
    }
    /* Merge [a, b) with every interval it touches. */
    uint32_t i = 0, w = 0;
    uint64_t (*iv)[2] = c->iv;
    while (i < c->n && iv[i][1] < a) i++;
    w = i;
    while (i < c->n && iv[i][0] <= b) {
        if (iv[i][0] < a) a = iv[i][0];
        if (iv[i][1] > b) b = iv[i][1];
        i++;
    }
    uint32_t merged = i - w;
    if (merged == 0 && c->n == MS_COV_MAX) return; /* full: forget this one */
    uint32_t tail = c->n - i;
    if (merged == 0) {
        memmove(&iv[w + 1], &iv[w], tail * sizeof iv[0]);
        c->n++;
    } else if (merged > 1) {
        memmove(&iv[w + 1], &iv[i], tail * sizeof iv[0]);
        c->n -= merged - 1;
    }
    iv[w][0] = a;
    iv[w][1] = b;
}

static int is_pad(const char *path) { return path && strncmp(path, ".pad/", 5) == 0; }

int pf_media_server_all_served(const pf_media_server *ms)
{
    uint32_t n = pf_client_torrent_num_files(ms->t);
    if (n == 0) return 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t size = pf_client_torrent_file_size(ms->t, i);
        if (size == 0 || is_pad(pf_client_torrent_file_path(ms->t, i))) continue;
        const ms_cov *c = i < ms->ncov && ms->cov ? ms->cov[i] : NULL;
        if (!c || c->n != 1 || c->iv[0][0] != 0 || c->iv[0][1] < size) return 0;
    }
    return 1;
}

size_t pf_media_server_busy(const pf_media_server *ms)
{
    size_t n = 0;
    for (const ms_resp *r = ms->resps; r; r = r->nextr) n++;
    return n;
}

/* --- small responses ------------------------------------------------------ */

static void send_body(pf_http_res *res, int status, const char *ctype, const void *body,
                      size_t len, const char *extra)
{
    pf_http_resp_head h;
    pf_http_resp_head_init(&h, status);
    h.content_type = ctype;
    h.content_length = (int64_t)len;
    h.extra = extra;
    if (pf_http_res_start(res, &h) == 0) pf_http_res_write(res, body, len);
    pf_http_res_end(res);
}

static void send_text(pf_http_res *res, int status, const char *msg, const char *extra)
{
    char body[160];
    int n = snprintf(body, sizeof body, "%d %s%s%s\n", status, pf_http_reason(status),
                     msg ? ": " : "", msg ? msg : "");
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof body) n = (int)sizeof body - 1;
    send_body(res, status, "text/plain; charset=utf-8", body, (size_t)n, extra);
}

static void send_buf(pf_http_res *res, int rc, const char *ctype, pf_buf *b)
{
    if (rc)
        send_text(res, 500, pf_strerror(rc), MS_NO_STORE);
    else
        send_body(res, 200, ctype, b->data, b->len, MS_NO_STORE);
    pf_buf_free(b);
}

/* --- gathering ------------------------------------------------------------ */

/* The files to list (pad files skipped, at most PF_MEDIA_MAX_LIST), without
 * QoE.  *out is malloc'ed (NULL when there are none). */
static int files_list(pf_client_torrent *t, pf_media_file **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    uint32_t nf = pf_client_torrent_num_files(t);
    if (nf == 0) return 0;
    size_t cap = nf < PF_MEDIA_MAX_LIST ? nf : PF_MEDIA_MAX_LIST;
    pf_media_file *f = calloc(cap, sizeof *f);
    if (!f) return PF_ERR_NOMEM;
    size_t k = 0;
    for (uint32_t i = 0; i < nf && k < cap; i++) {
        const char *p = pf_client_torrent_file_path(t, i);
        if (!p || is_pad(p)) continue;
        f[k].index = i;
        f[k].path = p;
        f[k].size = pf_client_torrent_file_size(t, i);
        k++;
    }
    *out = f;
    *n = k;
    return 0;
}

/* The files that have been read, with their QoE. */
static int files_with_qoe(const pf_client_torrent *t, pf_media_file **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    uint32_t nf = pf_client_torrent_num_files(t);
    size_t cap = 0;
    pf_media_file *f = NULL;
    for (uint32_t i = 0; i < nf; i++) {
        pf_qoe q;
        memset(&q, 0, sizeof q);
        if (pf_client_torrent_qoe(t, i, &q) != 0) continue;
        if (!q.active && q.bytes_served == 0 && q.ttfb_s < 0) continue;
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            pf_media_file *g = realloc(f, nc * sizeof *g);
            if (!g) {
                free(f);
                *n = 0;
                return PF_ERR_NOMEM;
            }
            f = g;
            cap = nc;
        }
        pf_media_file *e = &f[(*n)++];
        memset(e, 0, sizeof *e);
        e->index = i;
        e->path = pf_client_torrent_file_path(t, i);
        e->size = pf_client_torrent_file_size(t, i);
        e->has_qoe = 1;
        e->qoe = q;
    }
    *out = f;
    return 0;
}

int pf_media_stats_collect(pf_client_torrent *t, pf_buf *out)
{
    pf_torrent_stats st;
    memset(&st, 0, sizeof st);
    pf_client_torrent_stats(t, &st);
    pf_media_file *f;
    size_t n;
    int rc = files_with_qoe(t, &f, &n);
    if (rc) return rc;
    pf_source_stats *src = calloc(MS_MAX_SOURCES, sizeof *src);
    if (!src) {
        free(f);
        return PF_ERR_NOMEM;
    }
    size_t ns = pf_client_torrent_sources(t, src, MS_MAX_SOURCES);
    if (ns > MS_MAX_SOURCES) ns = MS_MAX_SOURCES;
    pf_upload_status up;
    pf_client_upload_status(pf_client_torrent_client(t), &up);
    pf_datagram_stats dg;
    pf_client_datagram_stats(pf_client_torrent_client(t), &dg);
    rc = pf_media_stats_json(out, pf_client_torrent_name(t), &st, &up, &dg, f, n, src, ns);
    pf_media_qoe mq;
    if (!rc && pf_client_torrent_media_qoe(t, &mq) == 0) rc = pf_media_stats_add_media(out, &mq);
    if (!rc) rc = pf_buf_nul(out);
    free(src);
    free(f);
    return rc;
}

/* "http://" + the Host header when it is usable, else our own address. */
static int base_for(const pf_media_server *ms, const pf_http_request *req, pf_buf *out)
{
    if (req->host.len && pf_media_host_valid(req->host.p, req->host.len)) {
        int rc = pf_buf_append_str(out, "http://");
        if (!rc) rc = pf_buf_append(out, req->host.p, req->host.len);
        if (!rc) rc = pf_buf_nul(out);
        return rc;
    }
    int rc = pf_buf_append_str(out, ms->base);
    if (!rc) rc = pf_buf_nul(out);
    return rc;
}

/* --- file streaming --------------------------------------------------------- */

static void resp_unlink(ms_resp *r)
{
    pf_media_server *ms = r->ms;
    if (r->prev) r->prev->nextr = r->nextr;
    else ms->resps = r->nextr;
    if (r->nextr) r->nextr->prev = r->prev;
}

static void resp_free(ms_resp *r)
{
    if (r->st) pf_stream_close(r->st);
    resp_unlink(r);
    free(r);
}

static void resp_pump(ms_resp *r);
static void pace_waited(pf_media_server *ms, uint64_t read_at);

static void on_read(void *ud, int err, const uint8_t *data, size_t n)
{
    ms_resp *r = ud;
    r->reading = 0;
    if (r->paced) pace_waited(r->ms, r->read_at);
    if (err < 0 || n == 0) {
        r->failed = 1;
    } else {
        if (n > r->end - r->next) n = (size_t)(r->end - r->next);
        int rc = pf_http_res_write(r->res, data, n);
        if (rc == PF_ERR_CLOSED) {
            /* The connection is going away: its close callback frees r. */
            pf_stream_close(r->st);
            r->st = NULL;
            r->failed = 2;
            return;
        }
        if (rc) {
            r->failed = 1;
        } else {
            cov_add(r->ms, r->file, r->next, r->next + n);
            r->next += n;
        }
    }
    if (!r->in_pump) resp_pump(r);
}

/* Pacing.  An adaptive player (hls.js, dash.js, the lab's) picks the
 * rendition from how fast its segments come.  A segment the engine has
 * prefetched comes at loopback speed: timed so, it reads as hundreds of
 * Mbit/s, the player steps up past what the network can carry, and the
 * segments it then needs are late (the lab's ABR run: a 5 Mbit/s viewer
 * given a 1.15 MB segment in 4 ms asked for the 4.7 Mbit/s rendition and
 * stalled).  So such segments go no faster than this viewer's network has
 * shown it can bring (pf_torrent_stats.down_peak_rate): the player sees
 * what it would see from the CDN alone.  Bytes that wait for the network
 * come at its pace anyway: they are not held back (pace_waited), and at
 * most MS_PACE_BURST of credit builds up while they come.  Before the
 * engine has measured anything, no pacing. */
#define MS_PACE_BURST_NS (100 * 1000000ULL)

static void pace_wake(uv_timer_t *h);

/* 0 if n more bytes may go now (they are charged), else the ns to wait. */
static uint64_t pace_take(pf_media_server *ms, size_t n)
{
    pf_torrent_stats st;
    memset(&st, 0, sizeof st);
    pf_client_torrent_stats(ms->t, &st);
    double rate = st.down_peak_rate;
    if (rate <= 0 || !ms->pace_timer) return 0;
    uint64_t now = uv_hrtime();
    if (ms->pace_at + MS_PACE_BURST_NS < now) ms->pace_at = now - MS_PACE_BURST_NS;
    if (ms->pace_at > now) return ms->pace_at - now;
    ms->pace_at += (uint64_t)((double)n / rate * 1e9);
    return 0;
}

/* A read that waited for the network: those bytes came at its pace, so
 * what was charged for them is no debt (paced again, the player would
 * time a segment slower than the network brought it: the lab's 5 Mbit/s
 * viewers got segments the engine had in 0.8 s after 1.1-1.3 s). */
#define MS_PACE_WAITED_NS (5 * 1000000ULL)
static void pace_waited(pf_media_server *ms, uint64_t read_at)
{
    uint64_t now = uv_hrtime();
    if (now - read_at > MS_PACE_WAITED_NS && ms->pace_at > now) ms->pace_at = now;
}

static void pace_wait(pf_media_server *ms, ms_resp *r, uint64_t wait_ns)
{
    r->pace_waiting = 1;
    ms->paced_ns += wait_ns;
    uint64_t ms_wait = (wait_ns + 999999) / 1000000;
    uint64_t due = uv_now(ms->loop) + ms_wait;
    if (uv_is_active((uv_handle_t *)ms->pace_timer) && uv_timer_get_due_in(ms->pace_timer) + uv_now(ms->loop) <= due)
        return;
    uv_timer_start(ms->pace_timer, pace_wake, ms_wait, 0);
}

/* Issues reads while the socket has room; ends the response when all was
 * sent or a read failed.  The only place (besides the close callback) that
 * frees r. */
static void resp_pump(ms_resp *r)
{
    if (r->failed == 2 || r->pace_waiting) return;
    r->in_pump = 1;
    while (!r->failed && !r->reading && r->next < r->end) {
        if (pf_http_res_queued(r->res) > MS_HIGH_WATER) break; /* the drain callback resumes */
        uint64_t left = r->end - r->next;
        size_t want = left < MS_READ_CHUNK ? (size_t)left : MS_READ_CHUNK;
        uint64_t wait = r->paced ? pace_take(r->ms, want) : 0;
        if (wait) {
            pace_wait(r->ms, r, wait);
            break;
        }
        r->reading = 1;
        r->read_at = uv_hrtime();
        int rc = pf_stream_read(r->st, r->next, want, on_read, r);
        if (rc) {
            r->reading = 0;
            r->failed = 1;
        }
    }
    r->in_pump = 0;
    if (r->failed == 2) return;
    if (r->failed || (r->next >= r->end && !r->reading)) {
        pf_http_res_end(r->res); /* short of Content-Length: closes the connection */
        resp_free(r);
    }
}

static void pace_wake(uv_timer_t *h)
{
    pf_media_server *ms = h->data;
    ms_resp *r = ms->resps, *next;
    for (; r; r = next) {
        next = r->nextr; /* a pump may free r, never another */
        if (!r->pace_waiting) continue;
        r->pace_waiting = 0;
        if (!r->reading && !r->in_pump) resp_pump(r);
    }
}

static void on_drain(pf_http_res *res, void *ud)
{
    (void)res;
    ms_resp *r = ud;
    if (!r->reading && !r->in_pump) resp_pump(r);
}

static void on_close(pf_http_res *res, void *ud)
{
    (void)res;
    resp_free(ud); /* the client went away (or the server stopped) */
}

static void serve_file(pf_media_server *ms, pf_http_res *res, const pf_http_request *req,
                       uint32_t idx)
{
    uint32_t nf = pf_client_torrent_num_files(ms->t);
    if (nf == 0) {
        send_text(res, 503, "waiting for the torrent's metadata", MS_EXTRA "Retry-After: 1\r\n");
        return;
    }
    if (idx >= nf || is_pad(pf_client_torrent_file_path(ms->t, idx))) {
        send_text(res, 404, "no such file", MS_EXTRA);
        return;
    }
    uint64_t size = pf_client_torrent_file_size(ms->t, idx);
    const pf_http_str *range = pf_http_header_get(req, "Range");
    pf_media_range plan;
    pf_media_range_plan(range ? range->p : NULL, range ? range->len : 0,
                        pf_http_header_get(req, "If-Range") != NULL, size, &plan);

    pf_http_resp_head h;
    pf_http_resp_head_init(&h, plan.status);
    h.content_type = pf_media_content_type(pf_client_torrent_file_path(ms->t, idx));
    h.accept_ranges = 1;
    h.extra = MS_EXTRA;
    if (plan.status == 416) {
        h.content_type = NULL;
        h.content_length = 0;
        h.range_unsatisfied = 1;
        h.range_total = size;
        pf_http_res_start(res, &h);
        pf_http_res_end(res);
        return;
    }
    h.content_length = (int64_t)plan.length;
    if (plan.status == 206) {
        h.has_range = 1;
        h.range.start = plan.start;
        h.range.end = plan.start + plan.length - 1;
        h.range_total = size;
    }
    if (pf_http_res_is_head(res) || plan.length == 0) {
        pf_http_res_start(res, &h);
        pf_http_res_end(res);
        return;
    }
    ms_resp *r = calloc(1, sizeof *r);
    if (!r) {
        send_text(res, 503, "out of memory", MS_EXTRA);
        return;
    }
    int rc = pf_stream_open(ms->t, idx, plan.start, &r->st);
    if (rc) {
        free(r);
        send_text(res, rc == PF_ERR_NOTFOUND ? 404 : 503, pf_strerror(rc), MS_EXTRA);
        return;
    }
    r->ms = ms;
    r->res = res;
    r->file = idx;
    r->next = plan.start;
    r->end = plan.start + plan.length;
    r->paced = ms->pace_mode == PF_MEDIA_PACE_AUTO && ms_title_abr_segment(ms->title, idx);
    r->nextr = ms->resps;
    if (ms->resps) ms->resps->prev = r;
    ms->resps = r;
    if (pf_http_res_start(res, &h) != 0) {
        pf_http_res_end(res);
        resp_free(r);
        return;
    }
    pf_http_res_set_close(res, on_close, r);
    pf_http_res_set_drain(res, MS_LOW_WATER, on_drain, r);
    resp_pump(r);
}

/* --- POST /control ------------------------------------------------------------ */

static int addr_is_loopback(const pf_addr *a)
{
    static const uint8_t v6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return (a->family == 4 && a->ip[0] == 127) || (a->family == 6 && memcmp(a->ip, v6, 16) == 0);
}

/* "application/json", parameters (charset) allowed, any case. */
static int is_json_type(const pf_http_str *ct)
{
    static const char want[] = "application/json";
    size_t n = sizeof want - 1;
    if (!ct || ct->len < n) return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = ct->p[i];
        if (ch >= 'A' && ch <= 'Z') ch = (char)(ch - 'A' + 'a');
        if (ch != want[i]) return 0;
    }
    return ct->len == n || ct->p[n] == ';' || ct->p[n] == ' ' || ct->p[n] == '\t';
}

/* Uploads off or on at once ({"upload":"off"}), the network metered or
 * not ({"metered":true}), from this machine only.  A web page cannot do
 * it for a site: its browser sends Origin with a POST, and a JSON body
 * from another origin needs a CORS preflight we never allow. */
static void serve_control(pf_media_server *ms, pf_http_res *res, const pf_http_request *req,
                          const uint8_t *body, size_t len)
{
    if (req->method != PF_HTTP_POST) {
        send_text(res, 405, NULL, MS_EXTRA "Allow: POST\r\n");
        return;
    }
    if (!addr_is_loopback(pf_http_res_remote(res))) {
        send_text(res, 403, "from this machine only", MS_EXTRA);
        return;
    }
    if (pf_http_header_get(req, "Origin")) {
        send_text(res, 403, "not from a web page", MS_EXTRA);
        return;
    }
    if (!is_json_type(pf_http_header_get(req, "Content-Type"))) {
        send_text(res, 415, "send application/json", MS_EXTRA);
        return;
    }
    pf_media_control ctl;
    int rc = pf_media_control_parse(body, len, &ctl);
    if (rc != 0) {
        send_text(res, rc == PF_ERR_LIMIT ? 413 : 400,
                  "expected {\"upload\":\"on\"|\"off\"} and/or {\"metered\":true|false}", MS_EXTRA);
        return;
    }
    pf_client *c = pf_client_torrent_client(ms->t);
    if (ctl.upload >= 0) pf_client_set_upload(c, ctl.upload);
    if (ctl.metered >= 0) pf_client_set_metered(c, ctl.metered);
    pf_upload_status up;
    pf_client_upload_status(c, &up);
    pf_buf b;
    pf_buf_init(&b);
    rc = pf_media_upload_json(&b, &up);
    if (!rc) rc = pf_buf_append_u8(&b, '\n');
    send_buf(res, rc, "application/json", &b);
}

/* --- requests --------------------------------------------------------------- */

/* The file a "/t/<path>" request names: 0 with *idx, or -1. */
static int path_route(pf_media_server *ms, const pf_http_request *req, uint32_t *idx)
{
    char path[1024];
    if (pf_media_path_decode(req->path.p, req->path.len, path, sizeof path) != 0) return -1;
    int64_t f = ms->title ? ms_title_file(ms->title, path) : -1;
    if (f < 0 || is_pad(path)) return -1;
    *idx = (uint32_t)f;
    return 0;
}

/* --- a web player's files (/player/<name>) ----------------------------------- */

/* Reads dir/name into *b if it resolves to a regular file inside dir.
 * 0, or the HTTP status to answer. */
static int player_read(const char *dir, const char *name, pf_buf *b)
{
    char path[PATH_MAX], real[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof path) return 404;
    if (!realpath(path, real)) return 404;
    size_t dl = strlen(dir);
    if (strncmp(real, dir, dl) != 0 || real[dl] != '/') return 404; /* a link out */
    int fd = open(real, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return 404;
    struct stat st;
    int status = 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) status = 404;
    else if ((uint64_t)st.st_size > MS_PLAYER_FILE_MAX) status = 403;
    else if (pf_buf_reserve(b, (size_t)st.st_size + 1) != 0) status = 500;
    while (!status && b->len < (size_t)st.st_size) {
        ssize_t r = read(fd, b->data + b->len, (size_t)st.st_size - b->len);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) status = 500; /* shrank or failed meanwhile */
        else b->len += (size_t)r;
    }
    close(fd);
    return status;
}

static void serve_player(pf_media_server *ms, pf_http_res *res, const pf_http_request *req)
{
    char name[PF_MEDIA_PLAYER_NAME_MAX + 1];
    if (!ms->player_dir ||
        pf_media_player_name(req->path.p, req->path.len, name, sizeof name) != 0) {
        send_text(res, 404, NULL, MS_EXTRA);
        return;
    }
    pf_buf b;
    pf_buf_init(&b);
    int status = player_read(ms->player_dir, name, &b);
    if (status)
        send_text(res, status, NULL, MS_EXTRA);
    else
        send_body(res, 200, pf_media_player_type(name), b.data, b.len, MS_NO_STORE);
    pf_buf_free(&b);
}

int pf_media_server_set_player_dir(pf_media_server *ms, const char *dir)
{
    char *real = NULL;
    if (dir) {
        struct stat st;
        real = realpath(dir, NULL);
        if (!real && errno == ENOMEM) return PF_ERR_NOMEM;
        if (!real || strcmp(real, "/") == 0 || stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
            free(real);
            return PF_ERR_INVAL;
        }
    }
    free(ms->player_dir);
    ms->player_dir = real;
    return 0;
}

static void on_request(pf_http_res *res, const pf_http_request *req, const uint8_t *body,
                       size_t body_len, void *ud)
{
    pf_media_server *ms = ud;
    if (ms->stopping) {
        send_text(res, 503, "shutting down", MS_EXTRA);
        return;
    }
    if (ms->loopback_only && req->host.len &&
        !pf_media_host_is_loopback(req->host.p, req->host.len)) {
        send_text(res, 403, "Host must name 127.0.0.1 or localhost", MS_EXTRA);
        return;
    }
    if (!pf_media_path_safe(req->path.p, req->path.len)) {
        send_text(res, 400, "bad path", MS_EXTRA);
        return;
    }
    uint32_t idx = 0;
    pf_media_route_kind route = pf_media_route(req->path.p, req->path.len, &idx);
    if (route == PF_MEDIA_ROUTE_CONTROL) {
        serve_control(ms, res, req, body, body_len);
        return;
    }
    if (body_len) { /* only /control takes one */
        send_text(res, 413, NULL, MS_EXTRA);
        return;
    }
    if (req->method != PF_HTTP_GET && req->method != PF_HTTP_HEAD) {
        send_text(res, route == PF_MEDIA_ROUTE_NONE ? 404 : 405, NULL,
                  MS_EXTRA "Allow: GET, HEAD\r\n");
        return;
    }
    pf_buf b;
    pf_buf_init(&b);
    int rc = 0;
    switch (route) {
    case PF_MEDIA_ROUTE_PATH:
        if (path_route(ms, req, &idx) != 0) {
            send_text(res, pf_client_torrent_num_files(ms->t) ? 404 : 503,
                      pf_client_torrent_num_files(ms->t) ? "no such file" : "waiting for the torrent's metadata",
                      MS_EXTRA);
            return;
        }
        /* fall through */
    case PF_MEDIA_ROUTE_FILE:
        if (ms->title && idx < pf_client_torrent_num_files(ms->t) &&
            ms_title_is_manifest(pf_client_torrent_file_path(ms->t, idx)))
            ms_title_kick(ms->title, idx);
        serve_file(ms, res, req, idx);
        return;
    case PF_MEDIA_ROUTE_PLAYLIST:
    case PF_MEDIA_ROUTE_INDEX: {
        pf_media_file *f;
        size_t n;
        pf_buf base;
        pf_buf_init(&base);
        rc = files_list(ms->t, &f, &n);
        if (!rc && route == PF_MEDIA_ROUTE_PLAYLIST) rc = base_for(ms, req, &base);
        if (!rc && route == PF_MEDIA_ROUTE_PLAYLIST)
            rc = pf_media_m3u(&b, (const char *)base.data, f, n);
        else if (!rc)
            rc = pf_media_html(&b, pf_client_torrent_name(ms->t), f, n);
        free(f);
        pf_buf_free(&base);
        send_buf(res, rc,
                 route == PF_MEDIA_ROUTE_PLAYLIST ? "audio/x-mpegurl; charset=utf-8"
                                                  : "text/html; charset=utf-8",
                 &b);
        return;
    }
    case PF_MEDIA_ROUTE_PLAYER:
        serve_player(ms, res, req);
        return;
    case PF_MEDIA_ROUTE_STATS:
        rc = pf_media_stats_collect(ms->t, &b);
        send_buf(res, rc, "application/json", &b);
        return;
    case PF_MEDIA_ROUTE_METRICS: {
        pf_torrent_stats st;
        memset(&st, 0, sizeof st);
        pf_client_torrent_stats(ms->t, &st);
        pf_media_file *f;
        size_t n;
        rc = files_with_qoe(ms->t, &f, &n);
        pf_upload_status up;
        pf_client_upload_status(pf_client_torrent_client(ms->t), &up);
        pf_datagram_stats dg;
        pf_client_datagram_stats(pf_client_torrent_client(ms->t), &dg);
        if (!rc) rc = pf_media_metrics(&b, pf_client_torrent_name(ms->t), &st, &up, &dg, f, n);
        free(f);
        send_buf(res, rc, PF_MEDIA_METRICS_CONTENT_TYPE, &b);
        return;
    }
    case PF_MEDIA_ROUTE_NONE:
    case PF_MEDIA_ROUTE_CONTROL:
        break;
    }
    send_text(res, 404, NULL, MS_EXTRA);
}

/* --- lifecycle -------------------------------------------------------------- */

static int is_loopback_bind(const char *bind)
{
    return strncmp(bind, "127.", 4) == 0 || strcmp(bind, "::1") == 0;
}

int pf_media_server_start(pf_media_server **out, uv_loop_t *loop, pf_client_torrent *t,
                          const char *bind, uint16_t port)
{
    *out = NULL;
    if (!loop || !t) return PF_ERR_INVAL;
    if (!bind) bind = "127.0.0.1";
    pf_media_server *ms = calloc(1, sizeof *ms);
    if (!ms) return PF_ERR_NOMEM;
    ms->loop = loop;
    ms->t = t;
    ms->title = ms_title_new(t);
    if (!ms->title) {
        free(ms);
        return PF_ERR_NOMEM;
    }
    ms->loopback_only = is_loopback_bind(bind);
    pf_http_server_config cfg;
    pf_http_server_config_default(&cfg);
    cfg.bind = bind;
    cfg.port = port;
    cfg.max_body = PF_MEDIA_CONTROL_MAX; /* POST /control's; GET/HEAD have none */
    pf_media_server_limits lim;
    pf_media_server_limits_default(&lim);
    cfg.max_conns = lim.max_conns;
    cfg.header_timeout_ms = lim.header_timeout_ms;
    cfg.idle_timeout_ms = lim.idle_timeout_ms;
    cfg.send_timeout_ms = lim.send_timeout_ms;
    /* What sits in socket buffers counts as read by the player: with the
     * kernel's autotuned megabytes, the playhead the scheduler saw ran
     * 4-5 MB (15 s of a 2.5 Mbit/s stream) ahead of the player's, and
     * that much more came from the CDN before a viewer left (upload-rich
     * lab).  A player on this host refills a small buffer in microseconds;
     * one across a LAN (a TV) may need the kernel's, for its round trip. */
    cfg.send_buffer = ms->loopback_only ? MS_SEND_BUFFER : 0;
    cfg.on_request = on_request;
    cfg.ud = ms;
    int rc = pf_http_server_start(loop, &cfg, &ms->http);
    if (rc) {
        ms_title_free(ms->title);
        free(ms);
        return rc;
    }
    pf_media_server_set_limits(ms, &lim);
    ms->pace_mode = PF_MEDIA_PACE_OFF; /* see pf_media_server_set_pacing */
    ms->pace_timer = malloc(sizeof *ms->pace_timer);
    if (ms->pace_timer && uv_timer_init(loop, ms->pace_timer) == 0) {
        ms->pace_timer->data = ms;
    } else {
        free(ms->pace_timer); /* no pacing, as before */
        ms->pace_timer = NULL;
    }
    ms->port = pf_http_server_port(ms->http);
    const char *host = bind;
    if (strcmp(bind, "0.0.0.0") == 0) host = "127.0.0.1";
    else if (strcmp(bind, "::") == 0) host = "::1";
    if (strchr(host, ':'))
        snprintf(ms->base, sizeof ms->base, "http://[%s]:%d", host, ms->port);
    else
        snprintf(ms->base, sizeof ms->base, "http://%s:%d", host, ms->port);
    *out = ms;
    return 0;
}

int pf_media_server_port(const pf_media_server *ms) { return ms->port; }

void pf_media_server_limits_init(pf_media_server_limits *l, size_t size)
{
    if (!l || size < sizeof l->size) return;
    pf_media_server_limits d;
    memset(&d, 0, sizeof d);
    d.size = size < sizeof d ? size : sizeof d;
    d.header_timeout_ms = PF_HTTP_HEADER_TIMEOUT_MS;
    d.idle_timeout_ms = PF_HTTP_IDLE_TIMEOUT_MS;
    /* A paused player stops reading for as long as it likes; such a
     * connection is only given up at the connection cap, or when its
     * client holds too many unread ones. */
    d.send_timeout_ms = UINT32_MAX;
    d.max_conns = MS_MAX_CONNS;
    d.max_conns_per_client = MS_MAX_CONNS_PER_CLIENT;
    d.max_stalled_per_client = MS_MAX_STALLED;
    d.stall_evict_ms = MS_STALL_EVICT_MS;
    memset(l, 0, size);
    memcpy(l, &d, d.size);
}

void pf_media_server_set_limits(pf_media_server *ms, const pf_media_server_limits *lim)
{
    /* the caller's fields over the defaults, only the bytes its struct has */
    pf_media_server_limits d, given;
    pf_media_server_limits_default(&d);
    given = d;
    if (lim && lim->size >= sizeof lim->size)
        memcpy(&given, lim, lim->size < sizeof given ? lim->size : sizeof given);
    const pf_media_server_limits *l = &given;
    pf_http_server_set_limits(ms->http, l->header_timeout_ms, l->idle_timeout_ms,
                              l->send_timeout_ms, l->max_conns ? l->max_conns : d.max_conns);
    size_t per = l->max_conns_per_client ? l->max_conns_per_client : d.max_conns_per_client;
    uint32_t stalled =
        l->max_stalled_per_client ? l->max_stalled_per_client : d.max_stalled_per_client;
    pf_http_server_set_client_limits(ms->http, ms->loopback_only || per == SIZE_MAX ? 0 : per,
                                     stalled == UINT32_MAX ? 0 : stalled,
                                     l->stall_evict_ms ? l->stall_evict_ms : d.stall_evict_ms);
}

void pf_media_server_http_stats(const pf_media_server *ms, pf_http_server_stats *out)
{
    pf_http_server_stats_get(ms->http, out);
}

void pf_media_server_stats_get(const pf_media_server *ms, pf_media_server_stats *out)
{
    pf_http_server_stats h;
    pf_http_server_stats_get(ms->http, &h);
    memset(out, 0, sizeof *out);
    out->conns = h.conns;
    out->waiting = h.waiting;
    out->streams = pf_media_server_busy(ms);
    out->accepted = h.accepted;
    out->waited = h.waited;
    out->evicted = h.evicted;
    out->refused = h.refused;
    out->stalled_closed = h.stalled_closed;
    out->timeouts = h.header_timeouts + h.idle_timeouts + h.send_timeouts;
    out->rejected = h.rejected;
}

const char *pf_media_server_base_url(const pf_media_server *ms) { return ms->base; }

int pf_media_server_title_url(const pf_media_server *ms, int hls, pf_buf *out)
{
    uint32_t n = pf_client_torrent_num_files(ms->t);
    int64_t pick = -1;
    uint32_t count = 0;
    for (uint32_t i = 0; i < n; i++) {
        const char *p = pf_client_torrent_file_path(ms->t, i);
        size_t len = p ? strlen(p) : 0;
        if (!len || strchr(p, '/')) continue;
        const char *ext = hls ? ".m3u8" : ".mpd";
        size_t el = strlen(ext);
        if (len <= el || strcmp(p + len - el, ext) != 0) continue;
        if (hls && strcmp(p, "master.m3u8") == 0) {
            pick = i;
            count = 1;
            break;
        }
        pick = i;
        count++;
    }
    if (pick < 0 || count != 1) return PF_ERR_NOTFOUND;
    /* The timeline is loaded now, before a player asks: loaded while the
     * player's first segments came, it started the presentation over. */
    ms_title_kick(ms->title, (uint32_t)pick);
    const char *path = pf_client_torrent_file_path(ms->t, (uint32_t)pick);
    int rc = pf_buf_append_str(out, ms->base);
    if (!rc) rc = pf_buf_append_str(out, "/t/");
    if (!rc) rc = pf_http_pct_encode(out, path, strlen(path)); /* top level: no '/' */
    return rc ? rc : pf_buf_nul(out);
}

int pf_media_server_file_url(const pf_media_server *ms, uint32_t i, pf_buf *out)
{
    int rc = pf_media_file_url(out, ms->base, i, pf_client_torrent_file_path(ms->t, i));
    return rc ? rc : pf_buf_nul(out);
}

static void on_http_stopped(void *ud)
{
    pf_media_server *ms = ud;
    for (uint32_t i = 0; i < ms->ncov; i++) free(ms->cov ? ms->cov[i] : NULL);
    free(ms->cov);
    ms_title_free(ms->title);
    free(ms->player_dir);
    free(ms);
}

static void pace_timer_closed(uv_handle_t *h) { free(h); }

void pf_media_server_set_pacing(pf_media_server *ms, int mode)
{
    if (ms) ms->pace_mode = mode == PF_MEDIA_PACE_AUTO ? PF_MEDIA_PACE_AUTO : PF_MEDIA_PACE_OFF;
}

void pf_media_server_stop(pf_media_server *ms)
{
    if (!ms || ms->stopping) return;
    ms->stopping = 1;
    if (ms->pace_timer) uv_close((uv_handle_t *)ms->pace_timer, pace_timer_closed);
    ms->pace_timer = NULL;
    /* Streams end now; the responses' close callbacks free the rest. */
    for (ms_resp *r = ms->resps; r; r = r->nextr) {
        if (r->st) pf_stream_close(r->st);
        r->st = NULL;
        r->failed = 2;
    }
    pf_http_server_stop(ms->http, on_http_stopped, ms);
}
