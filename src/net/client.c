/* The engine on libuv: TCP peers, disk jobs on the threadpool, tracker
 * announces through libcurl, a 250 ms tick. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <uv.h>
#include <openssl/crypto.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "core/codec/magnet.h"
#include "core/codec/metainfo.h"
#include "core/sched/sched.h"
#include "peerflow/session.h"
#include "core/util/sha1.h"
#include "net/client_internal.h"
#include "net/sockaddr.h"


static uint64_t now_ns(pf_client *c)
{
    (void)c;
    return uv_hrtime();
}

uint64_t pf__client_now(pf_client *c) { return now_ns(c); }

static void client_log(pf_client *c, pf_log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    c->log.now = now_ns(c);
    pf__logv(&c->log, lvl, fmt, ap);
    va_end(ap);
}

static void pump(pf_client *c);
static void arm(pf_client *c);
void pf__client_pump(pf_client *c) { pump(c); }

/* Connections ------------------------------------------------------------------ */
static void conn_track(pf_client *c, pf_conn *k)
{
    if (c->nconns == c->cap_conns) {
        uint32_t cap = c->cap_conns ? c->cap_conns * 2 : 32;
        pf_conn **n = realloc(c->conns, cap * sizeof *n);
        if (!n) return;
        c->conns = n;
        c->cap_conns = cap;
    }
    c->conns[c->nconns++] = k;
}

static void conn_untrack(pf_client *c, pf_conn *k)
{
    for (uint32_t i = 0; i < c->nconns; i++)
        if (c->conns[i] == k) {
            c->conns[i] = c->conns[--c->nconns];
            return;
        }
}

static void on_conn_closed(uv_handle_t *h)
{
    pf_conn *k = h->data;
    pf_client *c = k->c;
    if (k->peer) {
        pf_peer_closed(k->peer, now_ns(c));
        k->peer = NULL;
    }
    conn_untrack(c, k);
    free(k);
    pump(c);
}

static void conn_close(pf_conn *k)
{
    if (k->closing) return;
    k->closing = 1;
    uv_read_stop((uv_stream_t *)&k->tcp);
    uv_close((uv_handle_t *)&k->tcp, on_conn_closed);
}

static pf_conn *conn_new(pf_client *c)
{
    pf_conn *k = calloc(1, sizeof *k);
    if (!k) return NULL;
    k->c = c;
    if (uv_tcp_init(c->loop, &k->tcp) != 0) {
        free(k);
        return NULL;
    }
    k->tcp.data = k;
    uv_tcp_nodelay(&k->tcp, 1);
    conn_track(c, k);
    return k;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    pf_conn *k = h->data;
    /* One buffer for every connection: libuv reads one stream at a time
     * and pf_peer_recv consumes the bytes before the callback returns (a
     * split message's tail is copied into the peer). */
    pf_client *c = k->c;
    if (!c->rbuf) c->rbuf = malloc(PF__READ_BUF);
    buf->base = (char *)c->rbuf;
    buf->len = c->rbuf ? PF__READ_BUF : 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    pf_conn *k = s->data;
    pf_client *c = k->c;
    if (nread < 0) {
        conn_close(k);
        return;
    }
    if (nread == 0 || !k->peer) return;
    long r = pf_peer_recv(k->peer, (const uint8_t *)buf->base, (size_t)nread, now_ns(c));
    if (r < 0) {
        char a[64];
        pf_addr_format(pf_peer_addr(k->peer), a, sizeof a);
        client_log(c, PF_LOG_DEBUG, "closing %s: %s", a, pf_strerror((int)r));
        conn_close(k);
    }
    pump(c);
}

static void on_written(uv_write_t *req, int status)
{
    pf_wreq *w = (pf_wreq *)req;
    pf_conn *k = w->conn;
    size_t n = w->out.total;
    pf_out_release(&w->out);
    free(w);
    if (k->closing || !k->peer) return;
    if (status < 0) {
        conn_close(k);
        return;
    }
    pf_peer_sent(k->peer, n, now_ns(k->c));
    pump(k->c);
}

static void conn_flush(pf_conn *k)
{
    if (k->closing || !k->peer) return;
    pf_wreq *w = calloc(1, sizeof *w);
    if (!w) return;
    w->conn = k;
    size_t n = pf_peer_take_output_zc(k->peer, &w->out);
    if (n == 0) {
        pf_out_release(&w->out);
        free(w);
        return;
    }
    /* iovecs: the bytes before each payload, the payload, ..., the rest. */
    uv_buf_t small[16], *b = small;
    size_t nb = 2 * w->out.nsp + 1, k2 = 0;
    if (nb > sizeof small / sizeof small[0] && !(b = malloc(nb * sizeof *b))) {
        pf_out_release(&w->out);
        free(w);
        conn_close(k);
        return;
    }
    const uint8_t *h = pf_buf_head(&w->out.buf);
    size_t at = 0;
    for (size_t i = 0; i < w->out.nsp; i++) {
        const pf_out_splice *sp = &w->out.sp[i];
        if (sp->at > at) b[k2++] = uv_buf_init((char *)h + at, (unsigned)(sp->at - at));
        b[k2++] = uv_buf_init((char *)sp->data, (unsigned)sp->len);
        at = sp->at;
    }
    size_t tail = pf_buf_unread(&w->out.buf) - at;
    if (tail) b[k2++] = uv_buf_init((char *)h + at, (unsigned)tail);
    int rc = uv_write(&w->req, (uv_stream_t *)&k->tcp, b, (unsigned)k2, on_written);
    if (b != small) free(b); /* uv_write keeps its own copy of the array */
    if (rc != 0) {
        pf_out_release(&w->out);
        free(w);
        conn_close(k);
    }
}

typedef struct pf_creq {
    uv_connect_t req;
    pf_conn *conn;
} pf_creq;

/* Keep the kernel's queue of unsent bytes short (TCP_NOTSENT_LOWAT):
 * once a block is in the socket it can no longer be cancelled or
 * re-prioritised, and on a slow uplink an autotuned send buffer holds tens
 * of seconds of data, which then arrives after the CDN has raced it (pure
 * waste).  Bytes in flight (the congestion window) are not limited. */
#define PF__NOTSENT_LOWAT (16 * 1024)
static void conn_tune(pf_conn *k)
{
#ifdef TCP_NOTSENT_LOWAT
    uv_os_fd_t fd;
    int v = PF__NOTSENT_LOWAT;
    if (uv_fileno((uv_handle_t *)&k->tcp, &fd) == 0)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &v, sizeof v);
#else
    (void)k;
#endif
}

static void on_connected(uv_connect_t *req, int status)
{
    pf_creq *cr = (pf_creq *)req;
    pf_conn *k = cr->conn;
    free(cr);
    if (k->closing) return;
    if (status < 0 || !k->peer) {
        conn_close(k);
        return;
    }
    conn_tune(k);
    uv_read_start((uv_stream_t *)&k->tcp, on_alloc, on_read);
    pf_peer_connected(k->peer, now_ns(k->c));
    pump(k->c);
}

static void do_connect(pf_client *c, pf_peer *p, const pf_addr *a)
{
    struct sockaddr_storage ss;
    pf_conn *k = c->stopping ? NULL : conn_new(c);
    pf_creq *cr = k ? calloc(1, sizeof *cr) : NULL;
    if (!k || !cr || pf__addr_to_sockaddr(a, &ss, 0) != 0) {
        free(cr);
        if (k) {
            k->peer = p;
            pf_peer_set_ud(p, k);
            conn_close(k);
        } else {
            pf_peer_closed(p, now_ns(c));
        }
        return;
    }
    k->peer = p;
    pf_peer_set_ud(p, k);
    cr->conn = k;
    if (uv_tcp_connect(&cr->req, &k->tcp, (struct sockaddr *)&ss, on_connected) != 0) {
        free(cr);
        conn_close(k);
    }
}

static void on_incoming(uv_stream_t *server, int status)
{
    pf_client *c = server->data;
    if (status < 0) return;
    pf_conn *k = conn_new(c);
    if (!k) return;
    if (uv_accept(server, (uv_stream_t *)&k->tcp) != 0 || c->stopping) {
        conn_close(k);
        return;
    }
    struct sockaddr_storage ss;
    int len = sizeof ss;
    pf_addr a;
    if (uv_tcp_getpeername(&k->tcp, (struct sockaddr *)&ss, &len) != 0) {
        conn_close(k);
        return;
    }
    pf__addr_from_sockaddr((const struct sockaddr *)&ss, &a, 1);
    pf_endpoint ep = {.addr = a, .transport = PF_TRANSPORT_TCP};
    k->peer = pf_session_accept(c->s, &ep, now_ns(c));
    if (!k->peer) {
        conn_close(k);
        return;
    }
    pf_peer_set_ud(k->peer, k);
    conn_tune(k);
    uv_read_start((uv_stream_t *)&k->tcp, on_alloc, on_read);
}

/* Jobs ---------------------------------------------------------------------- */
static int hash_matches(const uint8_t *buf, size_t len, const uint8_t expect[20])
{
    uint8_t d[20];
    if (pf_sha1(buf, len, d) != 0) return 0;
    return memcmp(d, expect, 20) == 0;
}

static void work_run(uv_work_t *req)
{
    pf_work *w = req->data;
    pf_job *j = w->job;
    pf_storage *st = w->ct->st;
    pf__piece_tags *tags = &w->ct->tags;
    if (!st) {
        j->result = PF_ERR_IO;
        return;
    }
    switch (j->type) {
    case PF_JOB_READ:
        /* A piece is checked here, while it is hot in this core's cache,
         * rather than on the loop (verify on read): against its tag when
         * it has one, else its SHA-1 (net/piece_tags.h). */
        j->result = pf_storage_read(st, j->offset, j->buf, j->len);
        if (j->result == 0) {
            if (pf__piece_tags_verify(tags, j->piece, j->buf, j->len, j->expect))
                j->verified = 1;
            else
                j->result = PF_ERR_HASH;
        }
        break;
    case PF_JOB_DISCARD:
        pf__piece_tags_clear(tags, j->piece); /* one whole piece */
        j->result = pf_storage_discard(st, j->offset, j->len);
        break;
    case PF_JOB_WRITE:
        if (!j->verified && !hash_matches(j->buf, j->len, j->expect))
            j->result = PF_ERR_HASH;
        else {
            pf__piece_tags_clear(tags, j->piece);
            uv_mutex_lock(&w->ct->write_lock);
            j->result = pf_storage_write(st, j->offset, j->buf, j->len);
            uv_mutex_unlock(&w->ct->write_lock);
            if (j->result == 0) pf__piece_tags_set(tags, j->piece, j->buf, j->len);
        }
        break;
    case PF_JOB_HASH: {
        if (!pf_storage_has_data(st, j->offset, j->len)) {
            j->result = PF_ERR_NOTFOUND;
            break;
        }
        uint8_t *buf = malloc(j->len);
        if (!buf) {
            j->result = PF_ERR_NOMEM;
            break;
        }
        j->result = pf_storage_read(st, j->offset, buf, j->len);
        if (j->result == 0 && !hash_matches(buf, j->len, j->expect)) j->result = PF_ERR_HASH;
        if (j->result == 0)
            pf__piece_tags_set(tags, j->piece, buf, j->len);
        else
            pf__piece_tags_clear(tags, j->piece);
        free(buf);
        break;
    }
    }
}

static void work_done(uv_work_t *req, int status)
{
    pf_work *w = req->data;
    pf_client *c = w->c;
    if (w->prev) w->prev->next = w->next;
    else c->pool = w->next;
    if (w->next) w->next->prev = w->prev;
    /* Cancelled by a stop before a thread took it: a verified piece not
     * written is fetched again next time (the resume record does not
     * claim it). */
    if (status == UV_ECANCELED) w->job->result = PF_ERR_SHUTDOWN;
    if (status != 0 && w->job->result == 0) w->job->result = PF_ERR_IO;
    w->ct->works--;
    c->works--;
    c->pool_works--;
    pf_torrent_job_done(w->ct->t, w->job, now_ns(c));
    free(w);
    pump(c);
}

/* An HTTP transfer for a job (tracker announce or web seed GET).  Every
 * one is on the client's list until it ends, so a stop or a torrent's
 * removal can end the ones still running (pf__client_cancel_http). */
struct pf_hjob {
    pf_client *c;
    pf_client_torrent *ct;
    pf_job *job;
    pf_http_req *req;
    struct pf_hjob *prev, *next;
};

static pf_hjob *hjob_new(pf_client *c, pf_client_torrent *ct, pf_job *j)
{
    pf_hjob *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->c = c;
    h->ct = ct;
    h->job = j;
    h->next = c->hjobs;
    if (c->hjobs) c->hjobs->prev = h;
    c->hjobs = h;
    c->works++;
    return h;
}

/* Ends h's bookkeeping (not the transfer) and frees it. */
static void hjob_free(pf_hjob *h)
{
    pf_client *c = h->c;
    if (h->prev) h->prev->next = h->next;
    else c->hjobs = h->next;
    if (h->next) h->next->prev = h->prev;
    c->works--;
    free(h);
}

static void http_done(void *ud, int err, long status, const uint8_t *body, size_t len)
{
    pf_hjob *h = ud;
    pf_client *c = h->c;
    pf_job *j = h->job;
    pf_torrent *t = h->ct->t;
    j->result = err;
    j->status = status;
    j->body = body; /* borrowed for the call */
    j->body_len = body ? len : 0;
    hjob_free(h);
    pf_torrent_job_done(t, j, now_ns(c));
    pump(c);
}

static int ws_data(void *ud, const uint8_t *p, size_t n)
{
    pf_hjob *h = ud;
    pf_client *c = h->c;
    int rc = pf_torrent_job_data(h->ct->t, h->job, p, n, now_ns(c));
    /* Completed pieces go to the disk now, not at the end of the body.
     * (pump may cancel and free h: do not touch it afterwards.) */
    pump(c);
    return rc < 0 ? rc : 0;
}

/* The CDN's response headers (its CMSD) to the engine. */
static void ws_headers(void *ud, const char *h, size_t n)
{
    pf_hjob *hj = ud;
    pf_torrent_job_headers(hj->ct->t, hj->job, h, n, now_ns(hj->c));
}

static void ws_done(void *ud, int err, long status, const uint8_t *body, size_t len)
{
    (void)body;
    (void)len;
    pf_hjob *h = ud;
    pf_client *c = h->c;
    pf_job *j = h->job;
    pf_torrent *t = h->ct->t;
    j->result = err;
    j->status = status;
    j->io = NULL;
    hjob_free(h);
    pf_torrent_job_done(t, j, now_ns(c));
    pump(c);
}

/* Starts an HTTP job's transfer; on failure reports it done at once. */
static void run_http(pf_client *c, pf_client_torrent *ct, pf_job *j)
{
    pf_http_opts o;
    memset(&o, 0, sizeof o);
    o.url = j->url;
    int ws = j->type == PF_JOB_WEBSEED;
    if (ws) {
        o.range_start = j->range_start;
        o.range_len = j->range_len;
        o.connect_timeout_ms = 3000;
        /* A CDN that stops sending is as bad as one that fails: the
         * scheduler must get the blocks back to give them to someone else. */
        o.timeout_ms = 30000;
        o.follow = 1;
        o.headers = j->headers; /* CMCD in header mode */
        o.on_headers = ws_headers;
    } else {
        o.timeout_ms = 15000;
        o.connect_timeout_ms = 5000;
        if (j->buf) {
            o.post = j->buf;
            o.post_len = j->len;
            o.content_type = "application/x-www-form-urlencoded";
        }
    }
    pf_hjob *h = c->http ? hjob_new(c, ct, j) : NULL;
    if (h) {
        if (pf_http_get(c->http, &o, ws ? ws_data : NULL, ws ? ws_done : http_done, h, &h->req) == 0) {
            if (ws) j->io = h;
            return;
        }
        hjob_free(h);
    }
    j->result = c->http ? PF_ERR_NET : PF_ERR_SHUTDOWN;
    pf_torrent_job_done(ct->t, j, now_ns(c));
}

/* Aborts h's transfer and reports its job done (PF_ERR_SHUTDOWN). */
static void hjob_cancel(pf_hjob *h)
{
    pf_client *c = h->c;
    pf_job *j = h->job;
    pf_torrent *t = h->ct->t;
    pf_http_cancel(c->http, h->req);
    j->io = NULL;
    j->result = PF_ERR_SHUTDOWN;
    hjob_free(h);
    pf_torrent_job_done(t, j, now_ns(c));
}

void pf__client_cancel_http(pf_client *c, pf_client_torrent *ct)
{
    pf_hjob *h = c->hjobs, *next;
    for (; h; h = next) {
        next = h->next;
        if (!ct || h->ct == ct) hjob_cancel(h);
    }
}

static void cancel_job(pf_client *c, pf_client_torrent *ct, pf_job *j)
{
    (void)c;
    (void)ct;
    pf_hjob *h = j->io;
    if (h) hjob_cancel(h); /* else already finished */
}

static void run_job(pf_client *c, pf_client_torrent *ct, pf_job *j)
{
    if (j->type == PF_JOB_WEBSEED || j->type == PF_JOB_HTTP) {
        run_http(c, ct, j);
        return;
    }
    if (j->type == PF_JOB_RESOLVE && !c->stopping) {
        pf__resolve_job(c, ct, j);
        return;
    }
    if (c->stopping) { /* pf_client_stop/free: no new disk work */
        j->result = PF_ERR_SHUTDOWN;
        pf_torrent_job_done(ct->t, j, now_ns(c));
        return;
    }
    pf_work *w = calloc(1, sizeof *w);
    if (!w) {
        j->result = PF_ERR_NOMEM;
        pf_torrent_job_done(ct->t, j, now_ns(c));
        return;
    }
    const pf_metainfo *mi = ct->tags_ready ? NULL : pf_torrent_metainfo(ct->t);
    if (mi) { /* the first disk job (no tags: every read-back is SHA-1) */
        pf__piece_tags_init(&ct->tags, mi->num_pieces, c->tag_secret_ok ? c->tag_key.secret : NULL);
        ct->tags_ready = 1;
    }
    w->c = c;
    w->ct = ct;
    w->job = j;
    w->req.data = w;
    ct->works++;
    c->works++;
    c->pool_works++;
    w->next = c->pool;
    if (c->pool) c->pool->prev = w;
    c->pool = w;
    if (uv_queue_work(c->loop, &w->req, work_run, work_done) != 0) {
        c->pool = w->next;
        if (c->pool) c->pool->prev = NULL;
        ct->works--;
        c->works--;
        c->pool_works--;
        free(w);
        j->result = PF_ERR_IO;
        pf_torrent_job_done(ct->t, j, now_ns(c));
    }
}

/* Events ---------------------------------------------------------------------- */
static void emit(pf_client *c, int event, pf_client_torrent *ct, int err)
{
    if (c->set.on_event) c->set.on_event(c->set.event_ud, c, event, ct, err);
}

static int path_exists(const char *dir, const char *name)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct stat st;
    return stat(p, &st) == 0;
}

static void name_from_meta(pf_client_torrent *ct)
{
    const pf_metainfo *mi = pf_torrent_metainfo(ct->t);
    if (mi) snprintf(ct->name, sizeof ct->name, "%s", mi->name);
}

/* New storage needs no check.  Existing data: fast resume when the files
 * are exactly as the resume record saw them, else hash everything before
 * trusting any of it. */
static void start_check(pf_client *c, pf_client_torrent *ct, int existed)
{
    const pf_metainfo *mi = pf_torrent_metainfo(ct->t);
    if (!existed) {
        pf_torrent_skip_check(ct->t, now_ns(c));
        return;
    }
    pf_bitfield have;
    const char *why = "out of memory";
    if (pf_bitfield_init(&have, mi->num_pieces) == 0) {
        int rc = pf__resume_load(ct, &have, &why);
        if (rc == 0 && pf_torrent_resume(ct->t, have.bits, have.nbits, now_ns(c)) == 0) {
            client_log(c, PF_LOG_INFO, "%s: fast resume, %u of %u pieces", ct->name, have.count,
                       have.nbits);
            const char *twhy = "";
            int nt = c->tag_persist ? pf__resume_load_tags(ct, &have, &twhy) : 0;
            if (c->tag_persist && nt >= 0)
                client_log(c, PF_LOG_INFO, "%s: %d piece tags restored", ct->name, nt);
            else if (c->tag_persist && nt != PF_ERR_NOTFOUND)
                client_log(c, PF_LOG_WARN, "%s: piece tags not restored: tag file %s", ct->name, twhy);
            pf_bitfield_free(&have);
            return;
        }
        pf_bitfield_free(&have);
    }
    client_log(c, PF_LOG_INFO, "%s: checking existing data (resume record: %s)", ct->name, why);
    pf_torrent_check(ct->t, now_ns(c));
}

static void open_and_check(pf_client *c, pf_client_torrent *ct)
{
    const pf_metainfo *mi = pf_torrent_metainfo(ct->t);
    name_from_meta(ct);
    int existed = path_exists(ct->dir, mi->name);
    int rc = pf_storage_open(&ct->st, mi, ct->dir, 1);
    if (rc != 0) {
        emit(c, PF_CLIENT_ERROR, ct, rc);
        return;
    }
    start_check(c, ct, existed);
}

static void removals_reap(pf_client *c);
static void removals_tick(pf_client *c);
static void torrent_free(pf_client_torrent *ct);

static void pump(pf_client *c)
{
    pf_event ev;
    while (pf_session_next_event(c->s, &ev)) {
        pf_client_torrent *ct = ev.torrent ? pf_torrent_ud(ev.torrent) : NULL;
        switch (ev.type) {
        case PF_EV_CONNECT:
            do_connect(c, ev.peer, &ev.ep.addr); /* TCP, whatever ev.ep.transport */
            break;
        case PF_EV_CLOSE: {
            pf_conn *k = pf_peer_ud(ev.peer);
            if (k)
                conn_close(k);
            else
                pf_peer_closed(ev.peer, now_ns(c));
            break;
        }
        case PF_EV_WRITE: {
            pf_conn *k = pf_peer_ud(ev.peer);
            if (k) conn_flush(k);
            break;
        }
        case PF_EV_JOB:
            run_job(c, ct, ev.job);
            break;
        case PF_EV_METADATA:
            /* Storage first: from the event on, streams can be read. */
            open_and_check(c, ct);
            emit(c, PF_CLIENT_METADATA, ct, 0);
            break;
        case PF_EV_CHECKED:
            ct->checked = 1;
            emit(c, PF_CLIENT_CHECKED, ct, 0);
            break;
        case PF_EV_COMPLETE:
            if (ct->st && pf__resume_save(ct) != 0) pf_storage_sync(ct->st);
            emit(c, PF_CLIENT_COMPLETE, ct, 0);
            break;
        case PF_EV_LOG_ERROR:
            /* A disk job a stop cancelled is not the torrent's error. */
            if (!(c->stopping && ev.err == PF_ERR_SHUTDOWN)) emit(c, PF_CLIENT_ERROR, ct, ev.err);
            break;
        case PF_EV_JOB_CANCEL:
            cancel_job(c, ct, ev.job);
            break;
        case PF_EV_STREAM_READY:
            pf__stream_ready(ct, (uint32_t)ev.err);
            break;
        case PF_EV_DATAGRAMS:
            pf__udp_flush(c);
            break;
        }
    }
    if (c->removing && !c->reaping) removals_reap(c);
    if (c->up.b.monthly) pf__upload_check(c); /* more budget before it runs out */
    arm(c);
}

static void on_tick(uv_timer_t *t)
{
    pf_client *c = t->data;
    pf_session_tick(c->s, now_ns(c));
    pump(c);
    if (c->removing) removals_tick(c);
}

/* The tick is a one-shot timer at the session's own next deadline
 * (pf_session_next_timeout: a quarter second while busy, a second or more
 * when idle), re-armed after every pump: anything may move it earlier.
 * While torrents are being removed, their wait is looked at every 250 ms. */
static void arm(pf_client *c)
{
    if (c->stopping || !c->tick_armed) return;
    uint64_t now = now_ns(c), next = pf_session_next_timeout(c->s, now);
    uint64_t ms = next > now ? (next - now + PF_NS_PER_MS - 1) / PF_NS_PER_MS : 0;
    if (c->removing && ms > 250) ms = 250;
    uv_timer_start(&c->tick, on_tick, ms, 0);
}

/* Run the engine's timers on the next loop iteration instead of at the next
 * 250 ms tick: a torrent, peer or tracker was just added and a player may be
 * waiting (the dial or announce would otherwise sit for up to a tick; a
 * download's first connection waited 248 ms, a viewer's first announce went
 * out after its player's start-up requests).  Too-early ticks only run
 * timers. */
static void kick(pf_client *c)
{
    if (!c->stopping && c->tick_armed) uv_timer_start(&c->tick, on_tick, 0, 0);
}

/* With files skipped the engine never sees "every piece": the client
 * tells the application when the wanted ones are all there (checked once a
 * second, the count costing a pass over the pieces). */
static void check_wanted(pf_client *c)
{
    for (uint32_t i = 0; i < c->nts; i++) {
        pf_client_torrent *ct = c->ts[i];
        if (!ct->skips || ct->wanted_done || ct->removing || !ct->checked) continue;
        if (pf_torrent_wanted_left(ct->t) != 0) continue;
        ct->wanted_done = 1;
        if (ct->st && pf__resume_save(ct) != 0) pf_storage_sync(ct->st);
        emit(c, PF_CLIENT_COMPLETE, ct, 0);
    }
}

/* Hands free heap memory back to the system once downloads are idle.
 * Piece buffers come and go by the hundred while a film downloads (8
 * loopback peers: 55-72 pieces in progress at once, 23 MiB of heap), and
 * glibc keeps what they leave free (the CLI sets M_TRIM_THRESHOLD to
 * 128 MiB so that a fast download does not give pages back and fault
 * them in again for every piece): `peerflow play` stayed at 24-27 MiB of
 * its own after the film was in, holding the 4 MiB its read cache needs.
 * A second with nothing downloaded and at least PF__TRIM_MIN free in the
 * heap: malloc_trim gives every whole free page back (madvise), at most
 * once a second, never while blocks arrive. */
#define PF__TRIM_MIN (1024 * 1024)
static void trim_when_idle(pf_client *c)
{
#ifdef __GLIBC__
    uint64_t moved = 0;
    for (uint32_t i = 0; i < c->nts; i++) {
        pf_torrent_stats st;
        pf_torrent_get_stats(c->ts[i]->t, &st);
        moved += st.downloaded + st.cdn_downloaded + st.peer_downloaded;
    }
    int idle = moved == c->trim_moved;
    c->trim_moved = moved;
    if (!idle) return;
    struct mallinfo2 mi = mallinfo2();
    if (mi.fordblks >= PF__TRIM_MIN) malloc_trim(0);
#else
    (void)c;
#endif
}

static void on_second(uv_timer_t *t)
{
    pf_client *c = t->data;
    check_wanted(c);
    pf__upload_second(c);
    emit(c, PF_CLIENT_TICK, NULL, 0);
    trim_when_idle(c);
}

/* Lifecycle -------------------------------------------------------------------- */
void pf_client_settings_init(pf_client_settings *s, size_t size)
{
    if (!s || size < sizeof s->size) return;
    pf_client_settings d;
    memset(&d, 0, sizeof d);
    d.size = size < sizeof d ? size : sizeof d;
    d.listen = 1;
    d.upload_enabled = 1;
    d.log_level = PF_LOG_WARN;
    memset(s, 0, size);
    memcpy(s, &d, d.size);
}

/* The caller's settings over the defaults: only the bytes its struct has
 * (a program built against an older, shorter pf_client_settings). */
static int settings_take(pf_client *c, const pf_client_settings *set)
{
    pf_client_settings_default(&c->set);
    if (!set) return 0;
    if (set->size < offsetof(pf_client_settings, loop)) return PF_ERR_INVAL;
    memcpy(&c->set, set, set->size < sizeof c->set ? set->size : sizeof c->set);
    c->set.size = sizeof c->set;
    return 0;
}

static void on_handle_closed(uv_handle_t *h)
{
    pf_client *c = h->data;
    c->handles--;
}

/* Initialised handles are counted; each is closed once (pf_client_free). */
static void handle_close(pf_client *c, uv_handle_t *h)
{
    (void)c;
    if (!uv_is_closing(h)) uv_close(h, on_handle_closed);
}

static int start_listen(pf_client *c)
{
    const char *bind = c->set.bind_addr ? c->set.bind_addr : "::";
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (uv_ip6_addr(bind, c->set.listen_port, (struct sockaddr_in6 *)&ss) != 0 &&
        uv_ip4_addr(bind, c->set.listen_port, (struct sockaddr_in *)&ss) != 0)
        return PF_ERR_INVAL;
    if (uv_tcp_init(c->loop, &c->listener) != 0) return PF_ERR_NET;
    c->listener.data = c;
    c->listening = 1;
    c->handles++;
    if (uv_tcp_bind(&c->listener, (struct sockaddr *)&ss, 0) != 0 ||
        uv_listen((uv_stream_t *)&c->listener, 128, on_incoming) != 0)
        return PF_ERR_NET;
    int len = sizeof ss;
    uv_tcp_getsockname(&c->listener, (struct sockaddr *)&ss, &len);
    c->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                       : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return 0;
}

static void on_post(uv_async_t *a);

/* The timers and the post handle, on c->loop; counted in c->handles. */
static int handles_init(pf_client *c)
{
    uv_timer_t *timers[] = {&c->tick, &c->second, &c->stop_timer};
    for (size_t i = 0; i < sizeof timers / sizeof timers[0]; i++) {
        if (uv_timer_init(c->loop, timers[i]) != 0) return PF_ERR_NOMEM;
        timers[i]->data = c;
        c->handles++;
    }
    if (uv_async_init(c->loop, &c->post_async, on_post) != 0) return PF_ERR_NOMEM;
    c->post_async.data = c;
    c->handles++;
    /* A post wakes a running loop; it does not keep one running. */
    uv_unref((uv_handle_t *)&c->post_async);
    c->tick_armed = 1;
    uv_timer_start(&c->tick, on_tick, 0, 0);
    uv_timer_start(&c->second, on_second, 1000, 1000);
    return 0;
}

static int session_start(pf_client *c)
{
    pf_session_settings ss;
    pf_session_settings_default(&ss);
    ss.rng_seed = c->set.rng_seed ? c->set.rng_seed : (uv_hrtime() ^ ((uint64_t)getpid() << 32));
    ss.listen_port = (uint16_t)c->port;
    if (c->set.max_peers) ss.max_peers = c->set.max_peers;
    if (c->set.upload_slots) ss.upload_slots = c->set.upload_slots;
    if (c->set.max_connections) ss.max_connections = c->set.max_connections;
    if (c->set.cache_pieces) ss.cache_pieces = c->set.cache_pieces;
    ss.memory_limit = c->set.memory_limit;
    ss.transports = c->set.transports;
    ss.prefer_utp = c->set.prefer_utp;
    ss.utp_target_delay_us = c->set.utp_target_delay_us;
    ss.qoe_report_ms = c->set.qoe_report_ms;
    ss.cmcd = c->set.cmcd;
    ss.upload_enabled = c->set.upload_enabled;
    ss.log = c->set.log;
    ss.log_ud = c->set.log_ud;
    ss.log_level = c->set.log_level;
    int rc = pf_session_new(&ss, &c->s);
    return rc ? rc : pf__upload_start(c);
}

/* The piece tags' key: the key file's, whose tags outlive the process
 * (net/tag_store.h), or a random one for this process only.  Without
 * randomness, no tags: every read-back is SHA-1-checked. */
static void tag_key_start(pf_client *c)
{
    const char *why = NULL;
    if (c->set.tag_key_file && pf__tag_key_load(c->set.tag_key_file, &c->tag_key, &why) == 0) {
        c->tag_secret_ok = c->tag_persist = 1;
        return;
    }
    if (c->set.tag_key_file)
        client_log(c, PF_LOG_WARN, "piece tag key %s: %s; tags are not kept across restarts",
                   c->set.tag_key_file, why);
    c->tag_secret_ok = pf__tag_secret_new(c->tag_key.secret) == 0;
}

int pf_client_new(const pf_client_settings *set, pf_client **out)
{
    pf_client *c = calloc(1, sizeof *c);
    if (!c) return PF_ERR_NOMEM;
    int rc = settings_take(c, set);
    if (rc != 0) {
        free(c);
        return rc;
    }
    pf__logger_init(&c->log, c->set.log, c->set.log_ud, c->set.log_level);
    tag_key_start(c);
    uv_mutex_init(&c->post_lock);
    c->loop = c->set.loop;
    if (!c->loop) {
        if (uv_loop_init(&c->own_loop) != 0) {
            uv_mutex_destroy(&c->post_lock);
            free(c);
            return PF_ERR_NOMEM;
        }
        c->loop = &c->own_loop;
        c->owns_loop = 1;
    }
    if (c->set.listen) rc = start_listen(c);
    if (rc == 0) {
        /* One UDP socket beside the listener (the same port when there is
         * one): without it, UDP trackers and uTP are simply not there. */
        const char *bind = c->set.bind_addr ? c->set.bind_addr : "::";
        if (pf__udp_start(c, bind, c->listening ? c->port : 0) != 0)
            client_log(c, PF_LOG_WARN, "no UDP socket on port %d: UDP trackers unavailable", c->port);
    }
    if (rc == 0) rc = session_start(c);
    if (rc == 0) rc = pf_http_client_new(&c->http, c->loop);
    if (rc == 0) rc = handles_init(c);
    if (rc != 0) {
        pf_client_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int pf_client_listen_port(const pf_client *c) { return c->port; }

static pf_client_torrent *ct_new(pf_client *c, const char *dir)
{
    pf_client_torrent *ct = calloc(1, sizeof *ct);
    pf_client_torrent **nts = realloc(c->ts, (c->nts + 1) * sizeof *nts);
    if (nts) c->ts = nts;
    if (ct) ct->dir = strdup(dir ? dir : ".");
    if (!ct || !nts || !ct->dir) {
        if (ct) free(ct->dir);
        free(ct);
        return NULL;
    }
    ct->c = c;
    uv_mutex_init(&ct->write_lock);
    return ct;
}

static int add_magnet(pf_client *c, pf_client_torrent *ct, const char *uri)
{
    pf_magnet *m = NULL;
    int rc = pf_magnet_parse(uri, NULL, &m);
    if (rc == 0) rc = pf_session_add_magnet(c->s, m, now_ns(c), &ct->t);
    if (rc == 0) {
        pf_torrent_set_ud(ct->t, ct);
        if (m->name)
            snprintf(ct->name, sizeof ct->name, "%s", m->name);
        else
            pf_hex_encode(m->info_hash, 20, ct->name);
    }
    pf_magnet_free(m);
    return rc;
}

/* On success the torrent owns mi. */
static int add_metainfo(pf_client *c, pf_client_torrent *ct, pf_metainfo *mi, int seed_only)
{
    int existed = path_exists(ct->dir, mi->name);
    if (seed_only && !existed) return PF_ERR_NOTFOUND;
    int rc = pf_storage_open(&ct->st, mi, ct->dir, !seed_only);
    if (rc == 0) rc = pf_session_add_torrent(c->s, mi, &ct->t);
    if (rc != 0) return rc;
    pf_torrent_set_ud(ct->t, ct);
    name_from_meta(ct);
    start_check(c, ct, existed);
    return 0;
}

static int add_finish(pf_client *c, pf_client_torrent *ct, int rc, pf_client_torrent **out)
{
    if (rc != 0) {
        if (ct->st) pf_storage_close(ct->st);
        pf__piece_tags_free(&ct->tags);
        uv_mutex_destroy(&ct->write_lock);
        free(ct->dir);
        free(ct);
        return rc;
    }
    c->ts[c->nts++] = ct;
    if (out) *out = ct;
    pump(c);
    kick(c); /* announce now, not at the first 250 ms tick */
    return 0;
}

int pf_client_add(pf_client *c, const char *src, const char *dir, int seed_only,
                  pf_client_torrent **out)
{
    if (c->stopping) return PF_ERR_SHUTDOWN;
    if (!src) return PF_ERR_INVAL;
    pf_client_torrent *ct = ct_new(c, dir);
    if (!ct) return PF_ERR_NOMEM;
    int rc;
    if (strncmp(src, "magnet:", 7) == 0) {
        rc = add_magnet(c, ct, src);
    } else {
        pf_metainfo *mi = NULL;
        rc = pf_metainfo_load(src, &mi);
        if (rc == 0) rc = add_metainfo(c, ct, mi, seed_only);
        if (rc != 0) pf_metainfo_free(mi);
    }
    return add_finish(c, ct, rc, out);
}

int pf_client_add_metainfo(pf_client *c, pf_metainfo *mi, const char *dir, int seed_only,
                           pf_client_torrent **out)
{
    if (c->stopping) return PF_ERR_SHUTDOWN;
    if (!mi) return PF_ERR_INVAL;
    pf_client_torrent *ct = ct_new(c, dir);
    if (!ct) return PF_ERR_NOMEM;
    return add_finish(c, ct, add_metainfo(c, ct, mi, seed_only), out);
}

int pf_client_torrent_add_peer(pf_client_torrent *ct, const char *hostport)
{
    pf_addr a;
    if (pf_addr_parse(hostport, &a) != 0) {
        /* Resolve a host name (e.g. "localhost:6881") synchronously. */
        const char *colon = strrchr(hostport, ':');
        if (!colon || colon == hostport) return PF_ERR_PARSE;
        char host[256];
        size_t hl = (size_t)(colon - hostport);
        if (hl >= sizeof host) return PF_ERR_PARSE;
        memcpy(host, hostport, hl);
        host[hl] = 0;
        uv_getaddrinfo_t gai;
        struct addrinfo hints;
        memset(&hints, 0, sizeof hints);
        hints.ai_socktype = SOCK_STREAM;
        if (uv_getaddrinfo(ct->c->loop, &gai, NULL, host, colon + 1, &hints) != 0)
            return PF_ERR_NOTFOUND;
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof ss);
        memcpy(&ss, gai.addrinfo->ai_addr, gai.addrinfo->ai_addrlen);
        uv_freeaddrinfo(gai.addrinfo);
        pf__addr_from_sockaddr((const struct sockaddr *)&ss, &a, 1);
    }
    pf_endpoint ep = {.addr = a, .transport = PF_TRANSPORT_ANY}; /* by the settings' transports */
    pf_torrent_add_peer(ct->t, &ep, now_ns(ct->c));
    kick(ct->c);
    return 0;
}

int pf_client_torrent_add_tracker(pf_client_torrent *ct, const char *url)
{
    int rc = pf_torrent_add_tracker(ct->t, url, 1000);
    if (rc == 0) kick(ct->c);
    return rc;
}

void pf_client_torrent_clear_trackers(pf_client_torrent *ct) { pf_torrent_clear_trackers(ct->t); }

int pf_client_torrent_set_tracker_token(pf_client_torrent *ct, const char *token)
{
    return pf_torrent_set_tracker_token(ct->t, token);
}

int pf_client_torrent_set_tls_identity(pf_client_torrent *ct, const char *cert_pem, const char *key_pem)
{
    return pf_torrent_set_tls_identity(ct->t, cert_pem, key_pem);
}

int pf_client_torrent_set_tls_crl(pf_client_torrent *ct, const char *crl_pem)
{
    return pf_torrent_set_tls_crl(ct->t, crl_pem);
}

void pf_client_torrent_stats(const pf_client_torrent *ct, pf_torrent_stats *st)
{
    pf_torrent_get_stats(ct->t, st);
    if (pf_torrent_paused(ct->t)) st->state = PF_TS_STOPPED;
}

/* Control ------------------------------------------------------------------------ */
static int set_paused(pf_client_torrent *ct, int paused)
{
    pf_client *c = ct->c;
    if (c->stopping || ct->removing) return PF_ERR_SHUTDOWN;
    int rc = pf_torrent_set_paused(ct->t, paused, now_ns(c));
    pump(c);
    if (rc == 0 && !paused) kick(c); /* announce and dial now */
    return rc;
}

int pf_client_torrent_pause(pf_client_torrent *ct) { return set_paused(ct, 1); }
int pf_client_torrent_resume(pf_client_torrent *ct) { return set_paused(ct, 0); }
int pf_client_torrent_paused(const pf_client_torrent *ct) { return pf_torrent_paused(ct->t); }

int pf_client_torrent_set_file_priority(pf_client_torrent *ct, uint32_t file, int prio)
{
    pf_client *c = ct->c;
    int rc = pf_torrent_set_file_priority(ct->t, file, prio, now_ns(c));
    if (rc != 0) return rc;
    const pf_metainfo *mi = pf_torrent_metainfo(ct->t);
    ct->skips = 0;
    for (uint32_t i = 0; mi && i < mi->num_files && !ct->skips; i++)
        ct->skips = pf_torrent_file_priority(ct->t, i) == 0;
    ct->wanted_done = 0; /* the wanted set changed: tell again when done */
    pump(c);
    return 0;
}

int pf_client_torrent_file_priority(const pf_client_torrent *ct, uint32_t file)
{
    return pf_torrent_file_priority(ct->t, file);
}

int pf_client_torrent_remove(pf_client_torrent *ct)
{
    pf_client *c = ct->c;
    if (ct->removing || c->stopping) return PF_ERR_SHUTDOWN;
    ct->removing = 1;
    ct->remove_started = uv_now(c->loop);
    c->removing++;
    pf__streams_close_all(ct);
    uint64_t now = now_ns(c);
    pf_torrent_stop(ct->t, now); /* the "stopped" announce */
    pf_torrent_remove(ct->t, now);
    /* Never reaped inside this call: the handle stays valid until
     * PF_CLIENT_REMOVED, which comes from the loop (a torrent with nothing
     * pending was freed here, and a second remove read freed memory). */
    int reaping = c->reaping;
    c->reaping = 1;
    pump(c);
    c->reaping = reaping;
    kick(c);
    return 0;
}

/* A torrent being removed goes once the engine and the threadpool hold
 * nothing of it: its resume record is written, the engine frees it, the
 * application hears PF_CLIENT_REMOVED. */
static void removals_reap(pf_client *c)
{
    c->reaping = 1;
    for (uint32_t i = 0; i < c->nts;) {
        pf_client_torrent *ct = c->ts[i];
        if (!ct->removing || ct->works > 0 || pf_torrent_pending(ct->t) > 0) {
            i++;
            continue;
        }
        if (ct->st && pf__resume_save(ct) != 0)
            client_log(c, PF_LOG_DEBUG, "%s: no resume record saved", ct->name);
        if (pf_session_free_torrent(c->s, ct->t) != 0) {
            i++;
            continue;
        }
        ct->t = NULL;
        memmove(&c->ts[i], &c->ts[i + 1], (c->nts - i - 1) * sizeof *c->ts);
        c->nts--;
        c->removing--;
        emit(c, PF_CLIENT_REMOVED, ct, 0);
        torrent_free(ct);
    }
    c->reaping = 0;
}

/* The "stopped" announce gets 3 s, as at a client stop. */
static void removals_tick(pf_client *c)
{
    for (uint32_t i = 0; i < c->nts; i++) {
        pf_client_torrent *ct = c->ts[i];
        if (ct->removing && uv_now(c->loop) - ct->remove_started >= 3000)
            pf__client_cancel_http(c, ct);
    }
    pump(c);
}

const char *pf_client_torrent_name(const pf_client_torrent *ct) { return ct->name; }

pf_client *pf_client_torrent_client(const pf_client_torrent *ct) { return ct->c; }

void pf_client_set_local_share(pf_client *c, double share) { pf_session_set_local_share(c->s, share); }

int pf_client_add_local_net(pf_client *c, const char *cidr)
{
    char ip[INET6_ADDRSTRLEN];
    const char *slash = strchr(cidr, '/');
    size_t n = slash ? (size_t)(slash - cidr) : strlen(cidr);
    if (n == 0 || n >= sizeof ip) return PF_ERR_PARSE;
    memcpy(ip, cidr, n);
    ip[n] = 0;
    pf_net net;
    memset(&net, 0, sizeof net);
    if (inet_pton(AF_INET, ip, net.ip) == 1)
        net.family = 4;
    else if (inet_pton(AF_INET6, ip, net.ip) == 1)
        net.family = 6;
    else
        return PF_ERR_PARSE;
    unsigned long bits = net.family == 4 ? 32 : 128;
    if (slash) {
        char *end;
        unsigned long b = strtoul(slash + 1, &end, 10);
        if (!slash[1] || *end || b > bits) return PF_ERR_PARSE;
        bits = b;
    }
    net.bits = (uint8_t)bits;
    int rc = pf_session_add_local_net(c->s, &net);
    return rc == PF_ERR_INVAL ? PF_ERR_PARSE : rc;
}

void pf_client_torrent_await_reader(pf_client_torrent *ct) { pf_torrent_set_await_reader(ct->t, 1); }

void pf_client_torrent_set_cache_limit(pf_client_torrent *ct, uint64_t bytes)
{
    pf_torrent_set_cache_limit(ct->t, bytes);
}

int pf_client_torrent_add_webseed(pf_client_torrent *ct, const char *url, double cost)
{
    return pf_torrent_add_webseed(ct->t, url, cost);
}

uv_loop_t *pf_client_loop(pf_client *c) { return c->loop; }

/* Posts ----------------------------------------------------------------------- */
int pf_client_post(pf_client *c, pf_client_post_fn fn, void *ud)
{
    if (!c || !fn) return PF_ERR_INVAL;
    pf__post *p = malloc(sizeof *p);
    if (!p) return PF_ERR_NOMEM;
    p->fn = fn;
    p->ud = ud;
    p->next = NULL;
    uv_mutex_lock(&c->post_lock);
    if (c->nposts >= PF__MAX_POSTS) {
        uv_mutex_unlock(&c->post_lock);
        free(p);
        return PF_ERR_LIMIT;
    }
    if (c->post_tail)
        c->post_tail->next = p;
    else
        c->post_head = p;
    c->post_tail = p;
    c->nposts++;
    uv_mutex_unlock(&c->post_lock);
    /* Coalesced by libuv: one wake-up may run many posts. */
    uv_async_send(&c->post_async);
    return 0;
}

/* Takes the whole queue under the lock, runs it without: a post may post. */
static void on_post(uv_async_t *a)
{
    pf_client *c = a->data;
    uv_mutex_lock(&c->post_lock);
    pf__post *p = c->post_head;
    c->post_head = c->post_tail = NULL;
    c->nposts = 0;
    uv_mutex_unlock(&c->post_lock);
    while (p) {
        pf__post *next = p->next;
        if (!c->freeing) p->fn(c, p->ud);
        free(p);
        p = next;
    }
}

static void posts_drop(pf_client *c)
{
    uv_mutex_lock(&c->post_lock);
    pf__post *p = c->post_head;
    c->post_head = c->post_tail = NULL;
    c->nposts = 0;
    uv_mutex_unlock(&c->post_lock);
    while (p) {
        pf__post *next = p->next;
        free(p);
        p = next;
    }
}

/* Run, stop, free ---------------------------------------------------------------- */
int pf_client_run(pf_client *c)
{
    while (!c->stop_done && uv_run(c->loop, UV_RUN_ONCE) != 0) {
    }
    return 0;
}

/* At the end of a stop: nothing of the client stays active on the loop. */
static void close_all(pf_client *c)
{
    uv_timer_stop(&c->tick);
    c->tick_armed = 0;
    uv_timer_stop(&c->second);
    pf__udp_close(c);
    for (uint32_t i = c->nconns; i-- > 0;) conn_close(c->conns[i]);
    if (c->listening) {
        handle_close(c, (uv_handle_t *)&c->listener);
        c->listening = 0;
    }
    pf__client_cancel_http(c, NULL);
    if (c->http) pf_http_client_free(c->http); /* its handles close now */
    c->http = NULL;
}

static void on_stop_timer(uv_timer_t *t)
{
    pf_client *c = t->data;
    /* Wait for disk jobs and the "stopped" announces, at most 3 s. */
    if (c->works > 0 && uv_now(c->loop) - c->stop_started < 3000) return;
    uv_timer_stop(t);
    for (uint32_t i = 0; i < c->nts; i++) {
        pf_client_torrent *ct = c->ts[i];
        if (ct->st && pf__resume_save(ct) != 0)
            client_log(c, PF_LOG_DEBUG, "%s: no resume record saved", ct->name);
        client_log(c, PF_LOG_DEBUG, "%s: verify on read: %llu pieces proved by their tag, %llu by SHA-1",
                   ct->name, (unsigned long long)atomic_load(&ct->tags.tag_hits),
                   (unsigned long long)atomic_load(&ct->tags.sha1_reads));
    }
    pf__upload_stop(c); /* the budget not spent goes back to the file */
    close_all(c);
    c->stop_done = 1;
    emit(c, PF_CLIENT_STOPPED, NULL, 0);
}

/* Disk jobs no thread has started yet are dropped (their callbacks come
 * with UV_ECANCELED): a stop waits for the few running, not for a backlog
 * of writes that, with many small files, takes seconds. */
static void pool_cancel(pf_client *c)
{
    for (pf_work *w = c->pool; w; w = w->next) uv_cancel((uv_req_t *)&w->req);
}

void pf_client_stop(pf_client *c)
{
    if (c->stopping) return;
    c->stopping = 1;
    c->stop_started = uv_now(c->loop);
    for (uint32_t i = 0; i < c->nts; i++) pf_torrent_stop(c->ts[i]->t, now_ns(c));
    pool_cancel(c);
    /* Peers go now: what they would still send could not be written. */
    for (uint32_t i = c->nconns; i-- > 0;) conn_close(c->conns[i]);
    pump(c);
    /* First look at once: with no disk job or announce left, stop now. */
    uv_timer_start(&c->stop_timer, on_stop_timer, 0, 50);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

static void torrent_free(pf_client_torrent *ct)
{
    if (ct->st) pf_storage_close(ct->st);
    pf__piece_tags_free(&ct->tags);
    uv_mutex_destroy(&ct->write_lock);
    free(ct->dir);
    free(ct);
}

void pf_client_free(pf_client *c)
{
    if (!c) return;
    c->freeing = c->stopping = 1;
    posts_drop(c);
    pool_cancel(c);
    for (uint32_t i = c->nconns; i-- > 0;) conn_close(c->conns[i]);
    for (uint32_t i = 0; i < c->nts; i++) pf__streams_close_all(c->ts[i]);
    if (c->s) pf__client_cancel_http(c, NULL);
    if (c->http) pf_http_client_free(c->http);
    c->http = NULL;
    if (c->listening) handle_close(c, (uv_handle_t *)&c->listener);
    c->listening = 0;
    pf__udp_close(c);
    uv_handle_t *hs[] = {(uv_handle_t *)&c->tick, (uv_handle_t *)&c->second,
                         (uv_handle_t *)&c->stop_timer, (uv_handle_t *)&c->post_async};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
        if (hs[i]->loop == c->loop) handle_close(c, hs[i]);
    /* Our close callbacks, the last disk jobs and stream reads (their
     * results go to the engine, which is still there). */
    while (c->handles > 0 || c->nconns > 0 || c->pool_works > 0) {
        if (uv_run(c->loop, UV_RUN_ONCE) == 0 && !uv_loop_alive(c->loop) &&
            (c->handles > 0 || c->nconns > 0 || c->pool_works > 0)) {
            /* Nothing left that could bring them: a count is wrong.  Say
             * so rather than spin here for ever. */
            client_log(c, PF_LOG_ERROR, "free: %u handles, %u connections, %u disk jobs never ended",
                       (unsigned)c->handles, (unsigned)c->nconns, (unsigned)c->pool_works);
            break;
        }
    }
    if (c->owns_loop) { /* whatever else is on our own loop goes too */
        uv_walk(c->loop, close_walk, NULL);
        while (uv_run(c->loop, UV_RUN_DEFAULT) != 0) {
        }
    } else {
        uv_run(c->loop, UV_RUN_NOWAIT); /* the HTTP client's last closes */
    }
    if (c->s) pf_session_free(c->s);
    pf__upload_free(c);
    for (uint32_t i = 0; i < c->nts; i++) torrent_free(c->ts[i]);
    free(c->ts);
    free(c->conns);
    if (c->owns_loop) uv_loop_close(c->loop);
    uv_mutex_destroy(&c->post_lock);
    pf__udp_free(c);
    free(c->rbuf);
    OPENSSL_cleanse(&c->tag_key, sizeof c->tag_key);
    free(c);
}
