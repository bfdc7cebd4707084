/* The blocking parts of include/peerflow/metainfo.h: loading a .torrent
 * from a file or a URL, scraping a tracker (HTTP, BEP 48, or UDP, BEP
 * 15), making a .torrent.  HTTP goes through the client's libcurl adapter
 * on a private loop, UDP through a socket of the call's own, so these run
 * on any thread and touch no loop of the application's. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "core/codec/metainfo.h"
#include "core/codec/tracker_proto.h"
#include "core/codec/udp_tracker.h"
#include "core/util/buf.h"
#include "net/create.h"
#include "net/http_client.h"
#include "peerflow/metainfo.h"

#define PF__METAINFO_MAX (16u << 20) /* the parser's own bound */

int pf_metainfo_load(const char *path, pf_metainfo **out)
{
    if (!path || !out) return PF_ERR_INVAL;
    FILE *f = fopen(path, "rb");
    if (!f) return errno == ENOENT || errno == ENOTDIR ? PF_ERR_NOTFOUND : PF_ERR_IO;
    pf_buf b;
    pf_buf_init(&b);
    uint8_t tmp[65536];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(tmp, 1, sizeof tmp, f)) > 0) {
        if (b.len + n > PF__METAINFO_MAX)
            rc = PF_ERR_LIMIT;
        else if (pf_buf_append(&b, tmp, n) != 0)
            rc = PF_ERR_NOMEM;
    }
    if (rc == 0 && ferror(f)) rc = PF_ERR_IO; /* e.g. a directory */
    fclose(f);
    if (rc == 0) rc = pf_metainfo_parse(b.data, b.len, NULL, out);
    pf_buf_free(&b);
    return rc;
}

/* One GET on a private loop, the body collected (at most max bytes). */
typedef struct get_ctx {
    int done, err;
    long status;
    pf_buf *body;
} get_ctx;

static void get_done(void *ud, int err, long status, const uint8_t *body, size_t len)
{
    get_ctx *g = ud;
    g->done = 1;
    g->err = err;
    g->status = status;
    if (!err && body && pf_buf_append(g->body, body, len) != 0) g->err = PF_ERR_NOMEM;
}

static int http_get(const char *url, long timeout_ms, size_t max, int follow, pf_buf *body,
                    long *status)
{
    *status = 0;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) return PF_ERR_INVAL;
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0) return PF_ERR_NOMEM;
    pf_http_client *hc = NULL;
    get_ctx g = {0, 0, 0, body};
    int rc = pf_http_client_new(&hc, &loop);
    if (rc == 0) {
        pf_http_opts o;
        memset(&o, 0, sizeof o);
        o.url = url;
        o.timeout_ms = timeout_ms;
        o.connect_timeout_ms = timeout_ms < 15000 ? timeout_ms : 15000;
        o.follow = follow;
        o.max_body = max;
        rc = pf_http_get(hc, &o, NULL, get_done, &g, NULL);
        while (rc == 0 && !g.done && uv_run(&loop, UV_RUN_ONCE)) {
        }
        if (rc == 0) rc = g.done ? g.err : PF_ERR_NET;
    }
    pf_http_client_free(hc);
    while (uv_run(&loop, UV_RUN_NOWAIT) != 0) {
    }
    uv_loop_close(&loop);
    *status = g.status;
    return rc;
}

int pf_metainfo_fetch(const char *url, long timeout_ms, pf_metainfo **out, long *http_status)
{
    long st = 0;
    if (!url || !out) return PF_ERR_INVAL;
    pf_buf b;
    pf_buf_init(&b);
    int rc = http_get(url, timeout_ms > 0 ? timeout_ms : 60000, PF_HTTP_MAX_BODY, 1, &b, &st);
    if (rc == 0 && st != 200) rc = PF_ERR_TRACKER;
    if (rc == 0) rc = pf_metainfo_parse(b.data, b.len, NULL, out);
    pf_buf_free(&b);
    if (http_status) *http_status = st;
    return rc;
}

/* ---- BEP 15 scrape ------------------------------------------------------ */

#define UDPT_WAIT_MS 15000 /* BEP 15: wait 15 * 2^n seconds, n = 0, 1, ... */

/* "udp://host:port/..." into host and port; 0 or -1. */
static int udp_url_split(const char *url, char *host, size_t hcap, char *port, size_t pcap)
{
    const char *h = url + 6, *hend, *p;
    if (*h == '[') {
        hend = strchr(++h, ']');
        if (!hend || hend[1] != ':') return -1;
        p = hend + 2;
    } else {
        hend = h;
        while (*hend && *hend != ':' && *hend != '/') hend++;
        if (*hend != ':') return -1;
        p = hend + 1;
    }
    size_t hl = (size_t)(hend - h), pl = strspn(p, "0123456789");
    if (hl == 0 || hl >= hcap || pl == 0 || pl >= pcap || (p[pl] && p[pl] != '/')) return -1;
    memcpy(host, h, hl);
    host[hl] = 0;
    memcpy(port, p, pl);
    port[pl] = 0;
    return 0;
}

/* A UDP socket connected to the tracker (its first address); fd or a
 * negative pf_err.  *family: 4 or 6 (the size of its compact peers). */
static int udp_tracker_socket(const char *url, int *family)
{
    char host[256], port[8];
    if (udp_url_split(url, host, sizeof host, port, sizeof port) != 0) return PF_ERR_PARSE;
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICSERV;
    if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai) return PF_ERR_NET;
    int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    *family = ai->ai_family == AF_INET6 ? 6 : 4;
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd >= 0 ? fd : PF_ERR_NET;
}

/* Sends req and waits for the reply of transaction tid, resending after
 * 15 s, 30 s, ... (BEP 15) until deadline_ns.  Returns 0 and *r (borrowing
 * rep), or PF_ERR_TIMEOUT, PF_ERR_NET (refused: nothing listens),
 * PF_ERR_TRACKER (an error reply), PF_ERR_PARSE. */
static int udp_exchange(int fd, int family, const uint8_t *req, size_t n, uint32_t tid,
                        uint64_t deadline_ns, uint8_t *rep, size_t cap, pf_udpt_reply *r)
{
    for (int tries = 0;; tries++) {
        if (send(fd, req, n, 0) != (ssize_t)n) return PF_ERR_NET;
        uint64_t wait_end = uv_hrtime() + ((uint64_t)UDPT_WAIT_MS << (tries < 8 ? tries : 8)) * 1000000;
        if (wait_end > deadline_ns) wait_end = deadline_ns;
        for (;;) {
            uint64_t now = uv_hrtime();
            if (now >= wait_end) break;
            struct pollfd p = {fd, POLLIN, 0};
            int pr = poll(&p, 1, (int)((wait_end - now + 999999) / 1000000));
            if (pr < 0 && errno == EINTR) continue;
            if (pr <= 0) break;
            ssize_t got = recv(fd, rep, cap, 0);
            if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
            if (got < 0) return PF_ERR_NET; /* ECONNREFUSED: nothing listens there */
            if (pf_udpt_parse(rep, (size_t)got, family, r) != 0) return PF_ERR_PARSE;
            if (r->tid != tid) continue; /* a late reply to an earlier try */
            return r->action == PF_UDPT_ERROR ? PF_ERR_TRACKER : 0;
        }
        if (uv_hrtime() >= deadline_ns) return PF_ERR_TIMEOUT;
    }
}

static int udp_scrape(const char *url, const uint8_t ih[20], long timeout_ms, pf_scrape_counts *out)
{
    int family = 4;
    int fd = udp_tracker_socket(url, &family);
    if (fd < 0) return fd;
    uint64_t deadline = uv_hrtime() + (uint64_t)timeout_ms * 1000000;
    uint32_t tid[2];
    if (uv_random(NULL, NULL, tid, sizeof tid, 0, NULL) != 0) {
        tid[0] = (uint32_t)uv_hrtime();
        tid[1] = tid[0] ^ 0x9e3779b9u;
    }
    uint8_t req[16 + 20], rep[1500];
    pf_udpt_reply r;
    pf_udpt_connect_req(req, tid[0]);
    int rc = udp_exchange(fd, family, req, PF_UDPT_CONNECT_LEN, tid[0], deadline, rep, sizeof rep, &r);
    if (rc == 0 && r.action != PF_UDPT_CONNECT) rc = PF_ERR_PARSE;
    if (rc == 0) {
        size_t n = pf_udpt_scrape_req(req, sizeof req, r.conn_id, tid[1], (const uint8_t(*)[20])ih, 1);
        rc = udp_exchange(fd, family, req, n, tid[1], deadline, rep, sizeof rep, &r);
    }
    if (rc == 0 && (r.action != PF_UDPT_SCRAPE || r.nscrape != 1)) rc = PF_ERR_PARSE;
    if (rc == 0) {
        uint32_t seeders, completed, leechers;
        pf_udpt_scrape_entry(&r, 0, &seeders, &completed, &leechers);
        out->seeders = seeders;
        out->leechers = leechers;
        out->downloads = completed;
    }
    close(fd);
    return rc;
}

int pf_metainfo_scrape(const pf_metainfo *mi, size_t tracker, long timeout_ms, pf_scrape_counts *out)
{
    if (!mi || !out) return PF_ERR_INVAL;
    out->seeders = out->leechers = out->downloads = -1;
    out->http_status = 0;
    if (tracker >= mi->num_trackers) return PF_ERR_NOTFOUND;
    if (strncmp(mi->trackers[tracker].url, "udp://", 6) == 0)
        return udp_scrape(mi->trackers[tracker].url, mi->info_hash,
                          timeout_ms > 0 ? timeout_ms : 10000, out);
    pf_buf url, body;
    pf_buf_init(&url);
    pf_buf_init(&body);
    const uint8_t(*h)[20] = (const uint8_t(*)[20])mi->info_hash;
    int rc = pf_scrape_url(&url, mi->trackers[tracker].url, h, 1);
    if (rc == 0) rc = pf_buf_nul(&url);
    if (rc == PF_ERR_INVAL) rc = PF_ERR_UNSUPPORTED;
    if (rc == 0)
        rc = http_get((const char *)url.data, timeout_ms > 0 ? timeout_ms : 10000, 0, 0, &body,
                      &out->http_status);
    if (rc == PF_ERR_INVAL) rc = PF_ERR_UNSUPPORTED; /* not http(s) */
    if (rc == 0 && out->http_status != 200) rc = PF_ERR_TRACKER;
    if (rc == 0) {
        pf_scrape_entry e[4];
        size_t n = 0;
        rc = pf_scrape_resp_parse(body.data, body.len, e, 4, &n);
        if (rc == 0) {
            rc = PF_ERR_NOTFOUND;
            for (size_t i = 0; i < n; i++)
                if (memcmp(e[i].info_hash, mi->info_hash, 20) == 0) {
                    out->seeders = e[i].complete;
                    out->leechers = e[i].incomplete;
                    out->downloads = e[i].downloaded;
                    rc = 0;
                    break;
                }
        }
    }
    pf_buf_free(&url);
    pf_buf_free(&body);
    return rc;
}

void pf_create_opts_init(pf_create_opts *o, size_t size)
{
    if (!o || size < sizeof o->size) return;
    pf_create_opts d;
    memset(&d, 0, sizeof d);
    d.size = size < sizeof d ? size : sizeof d;
    memset(o, 0, size);
    memcpy(o, &d, d.size);
}

int pf_metainfo_create(const pf_create_opts *o, uint8_t **out, size_t *len, char *err,
                       size_t errlen)
{
    char dummy[1];
    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = 0;
    if (!o || !out || !len || o->size < offsetof(pf_create_opts, path) + sizeof o->path)
        return PF_ERR_INVAL;
    /* Fields the caller's struct does not have keep their defaults. */
    pf_create_opts c;
    pf_create_opts_default(&c);
    memcpy(&c, o, o->size < sizeof c ? o->size : sizeof c);
    pf_buf b;
    pf_buf_init(&b);
    int rc = pf_torrent_create(&c, &b, err, errlen);
    if (rc == 0) {
        *out = b.data; /* malloc'd by pf_buf: pf_free */
        *len = b.len;
        return 0;
    }
    pf_buf_free(&b);
    return rc;
}
