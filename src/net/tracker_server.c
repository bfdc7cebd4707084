/* The tracker on a libuv loop (include/peerflow/tracker.h): the sans-I/O
 * tracker core (core/tracker) behind net/http_server and a UDP socket on
 * the same port number (BEP 15), and a timer for expiry.
 *
 * UDP: libuv reads up to UDP_BATCH datagrams per recvmmsg; each is handed
 * to the core at once and its reply kept, and the replies of one read go
 * out together (sendmmsg on Linux) when libuv says the read is over.  A
 * reply the socket does not take is dropped, as the network may drop it:
 * clients retry. */
#include "peerflow/tracker.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/tracker/alto.h"
#include "core/tracker/auth.h"
#include "core/tracker/proxy.h"
#include "core/tracker/qoe.h"
#include "core/tracker/tracker.h"
#include "core/util/log.h"
#include "core/util/redact.h"
#include "net/http_server.h"
#include "net/sockaddr.h"

#define LOG_TARGET_MAX 200 /* request targets logged at DEBUG, at most */
#define UDP_BATCH 20          /* datagrams per read: libuv's recvmmsg width */
#define UDP_CHUNK 65536       /* libuv's room per datagram in a recvmmsg read */
#define UDP_TRIES 16          /* port 0: ports tried for one free on both */
#define UDP_RCVBUF (1 << 20)  /* SO_RCVBUF asked for (the kernel may cap it) */
#define KEYS_MAX (64 * 1024)  /* bytes of a key file */
#define KEYS_CHECK_MS 1000    /* how often the key file is looked at */

/* The replies of one read, sent together. */
typedef struct udp_batch {
    uint8_t out[UDP_BATCH][PF_TRACKER_UDP_REPLY_MAX];
    size_t len[UDP_BATCH];
    struct sockaddr_storage to[UDP_BATCH];
    size_t n;
    uint64_t now; /* the clock at the read's first datagram */
} udp_batch;

/* A file the tracker reads at start and again when it changes (the key
 * file, the policy): checked every KEYS_CHECK_MS; a file that cannot be
 * read or parsed is logged and what is in force is kept. */
typedef struct watched {
    char *path;
    const char *what; /* for the log: "auth keys", "policy" */
    size_t max;       /* bytes */
    uv_stat_t st;
    uint64_t reloads;
    /* Parses text and puts it in force: 0, or an error with why. */
    int (*apply)(struct pf_tracker_server *ts, const char *text, size_t n, char *why, size_t whylen);
} watched;

struct pf_tracker_server {
    uv_loop_t *loop;
    uv_timer_t expire;
    pf_http_server *http;
    pf_tracker *tracker;
    pf_logger log;
    int timer_open, http_open, udp_open, stopping;
    uv_udp_t *udp;    /* NULL without UDP; freed by its close callback */
    uint8_t *udp_in;  /* UDP_BATCH * UDP_CHUNK */
    udp_batch *batch;
    uint64_t udp_sent, udp_send_failed;
    /* Subscribers only: the key file, what it held when last read. */
    watched keys_w, policy_w; /* --auth-keys, --policy */
    watched altonet_w, altocost_w; /* --alto-network-map, --alto-cost-map */
    pf_alto_map *alto;
    pf_auth_keys *keys;
    pf_tracker_policy *policy;
    uint64_t next_expire_ms, expire_period_ms;
    pf_net metrics_allow[PF_TRACKER_MAX_TRUSTED];
    size_t nmetrics_allow;
    pf_net proxies[PF_TRACKER_MAX_TRUSTED]; /* behind them, the client is the forwarded one */
    size_t nproxies;
    pf_fwd_header fwd;
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

static void maybe_done(pf_tracker_server *ts);
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

/* GET /metrics: the Prometheus text exposition, to metrics_allow only.
 * Behind a trusted proxy the client is the one it forwards for: a proxy on
 * this host does not make the whole Internet "this host". */
static void serve_metrics(pf_tracker_server *ts, pf_http_res *res, const pf_http_request *req)
{
    pf_addr remote = pf__tracker_addr_norm(pf_http_res_remote(res)), who;
    pf__fwd_client(ts->proxies, ts->nproxies, ts->fwd, req, &remote, &who);
    if (!pf__nets_contain(ts->metrics_allow, ts->nmetrics_allow, &who)) {
        static const char msg[] = "forbidden\n";
        pf_http_res_send(res, 403, "text/plain", msg, sizeof msg - 1);
        return;
    }
    pf_tracker_server_stats st;
    pf_tracker_server_stats_get(ts, &st);
    pf_buf out;
    pf_buf_init(&out);
    int rc = pf_tracker_metrics(ts->tracker, &out);
#define M(name, type, help, v)                                                                            \
    if (!rc)                                                                                              \
    rc = pf_buf_appendf(&out, "# HELP peerflow_tracker_" name " " help "\n# TYPE peerflow_tracker_" name " " type \
                        "\npeerflow_tracker_" name " %llu\n", (unsigned long long)(v))
    M("http_connections", "gauge", "HTTP connections open.", st.conns);
    M("http_accepted_total", "counter", "HTTP connections accepted.", st.accepted);
    M("http_evicted_total", "counter", "HTTP connections closed at the cap to make room.", st.evicted);
    M("http_timeouts_total", "counter", "HTTP connections closed for slowness or silence.", st.timeouts);
    M("http_rejected_total", "counter", "Malformed or oversized HTTP requests.", st.rejected);
    M("udp_replies_total", "counter", "BEP 15 replies sent.", ts->udp_sent);
    M("auth_keys", "gauge", "Keys subscriber tokens are checked against (0: anyone may announce).",
      pf_auth_keys_count(ts->keys));
    M("auth_reloads_total", "counter", "Times the key file was read again after a change.", ts->keys_w.reloads);
#undef M
    if (rc) {
        static const char msg[] = "internal error\n";
        pf_http_res_send(res, 500, "text/plain", msg, sizeof msg - 1);
    } else {
        pf_http_res_send(res, 200, "text/plain; version=0.0.4", out.data, out.len);
    }
    pf_buf_free(&out);
}

/* POST /qoe: a viewer's QoE report (core/tracker/qoe.h). */
static void serve_qoe(pf_tracker_server *ts, pf_http_res *res, const pf_http_request *req, const uint8_t *body,
                      size_t body_len)
{
    if (ts->keys) {
        uv_timeval64_t tv;
        if (uv_gettimeofday(&tv) == 0) pf_tracker_set_unix_time(ts->tracker, (uint64_t)tv.tv_sec);
    }
    const char *why = NULL;
    int status = pf_tracker_handle_qoe(ts->tracker, req, pf_http_res_remote(res), body, body_len, uv_hrtime(), &why);
    if (status == 204) {
        pf_http_res_send(res, 204, NULL, NULL, 0);
        return;
    }
    char msg[160];
    int n = snprintf(msg, sizeof msg, "%s\n", why ? why : "internal error");
    pf_http_res_send(res, status, "text/plain", msg, (size_t)n);
}

static void on_request(pf_http_res *res, const pf_http_request *req, const uint8_t *body,
                       size_t body_len, void *ud)
{
    pf_tracker_server *ts = ud;
    if (pf__log_on(&ts->log, PF_LOG_DEBUG)) {
        char target[LOG_TARGET_MAX + 1];
        pf_redact_url(req->target.p, req->target.len, target, sizeof target); /* never a token */
        slog(ts, PF_LOG_DEBUG, "%.*s %s%s", (int)req->method_str.len, req->method_str.p, target,
             req->target.len > LOG_TARGET_MAX ? "..." : "");
    }
    if (req->method == PF_HTTP_POST && req->path.len == 4 && memcmp(req->path.p, "/qoe", 4) == 0) {
        serve_qoe(ts, res, req, body, body_len);
        return;
    }
    if (req->method != PF_HTTP_GET && req->method != PF_HTTP_HEAD) {
        static const char msg[] = "method not allowed\n";
        pf_http_res_send(res, 405, "text/plain", msg, sizeof msg - 1);
        return;
    }
    if (req->path.len == 8 && memcmp(req->path.p, "/metrics", 8) == 0) {
        serve_metrics(ts, res, req);
        return;
    }
    pf_buf out;
    pf_buf_init(&out);
    if (ts->keys) {
        uv_timeval64_t tv;
        if (uv_gettimeofday(&tv) == 0) pf_tracker_set_unix_time(ts->tracker, (uint64_t)tv.tv_sec);
    }
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

/* Reads path whole (at most max bytes) into *text (malloc'd, NUL-
 * terminated) and *n; fills *st when given.  0, or a pf_err. */
static int read_whole(const char *path, size_t max, char **text, size_t *n, uv_stat_t *st)
{
    uv_fs_t req;
    *text = NULL;
    *n = 0;
    int fd = uv_fs_open(NULL, &req, path, O_RDONLY, 0, NULL);
    uv_fs_req_cleanup(&req);
    if (fd < 0) return PF_ERR_IO;
    char *b = malloc(max + 1);
    ssize_t got = 0, r = 1;
    while (b && (size_t)got < max + 1 && r > 0) {
        uv_buf_t ub = uv_buf_init(b + got, (unsigned)(max + 1 - (size_t)got));
        r = uv_fs_read(NULL, &req, fd, &ub, 1, -1, NULL);
        uv_fs_req_cleanup(&req);
        if (r > 0) got += r;
    }
    if (st && uv_fs_fstat(NULL, &req, fd, NULL) == 0) *st = req.statbuf;
    uv_fs_req_cleanup(&req);
    uv_fs_close(NULL, &req, fd, NULL);
    uv_fs_req_cleanup(&req);
    int rc = !b ? PF_ERR_NOMEM : r < 0 ? PF_ERR_IO : (size_t)got > max ? PF_ERR_LIMIT : 0;
    if (rc) {
        free(b);
        return rc;
    }
    b[got] = 0;
    *text = b;
    *n = (size_t)got;
    return 0;
}

static int watched_load(pf_tracker_server *ts, watched *w, pf_log_level lvl)
{
    char *text;
    size_t n;
    int rc = read_whole(w->path, w->max, &text, &n, &w->st);
    char why[200] = "";
    if (rc == PF_ERR_IO) snprintf(why, sizeof why, "cannot read it");
    if (!rc) rc = w->apply(ts, text, n, why, sizeof why);
    free(text);
    if (rc) slog(ts, lvl, "%s %s: %s", w->what, w->path, why[0] ? why : pf_strerror(rc));
    return rc;
}

/* The file changed (a key rotated, a switch flipped): read it again. */
static void watched_check(pf_tracker_server *ts, watched *w)
{
    if (!w->path) return;
    uv_fs_t req;
    if (uv_fs_stat(NULL, &req, w->path, NULL) != 0) {
        uv_fs_req_cleanup(&req);
        return; /* gone for a moment (replaced by a rename): keep what holds */
    }
    const uv_stat_t *a = &req.statbuf, *b = &w->st;
    int changed = a->st_ino != b->st_ino || a->st_size != b->st_size || a->st_mtim.tv_sec != b->st_mtim.tv_sec ||
                  a->st_mtim.tv_nsec != b->st_mtim.tv_nsec;
    uv_fs_req_cleanup(&req);
    if (changed) {
        w->reloads++;
        if (watched_load(ts, w, PF_LOG_WARN) != 0) w->st = req.statbuf; /* not again until it changes */
    }
}

static int keys_apply(pf_tracker_server *ts, const char *text, size_t n, char *why, size_t whylen)
{
    pf_auth_keys *k = NULL;
    int rc = pf_auth_keys_parse(text, n, &k, why, whylen);
    if (rc) return rc;
    pf_tracker_set_auth(ts->tracker, k);
    pf_auth_keys_free(ts->keys);
    ts->keys = k;
    slog(ts, PF_LOG_INFO, "auth keys %s: %zu keys", ts->keys_w.path, pf_auth_keys_count(k));
    return 0;
}

static int policy_apply(pf_tracker_server *ts, const char *text, size_t n, char *why, size_t whylen)
{
    pf_tracker_policy *p = NULL;
    int rc = pf_tracker_policy_parse(text, n, &p, why, whylen);
    if (rc) return rc;
    pf_tracker_set_policy(ts->tracker, p);
    pf_tracker_policy_free(ts->policy);
    ts->policy = p;
    slog(ts, PF_LOG_INFO, "policy %s: %zu rules", ts->policy_w.path, pf_tracker_policy_count(p));
    return 0;
}

/* The ALTO maps: either file changed, both are read and loaded together
 * (a cost map belongs to one version of the network map). */
static int alto_load(pf_tracker_server *ts, const char *net, size_t nn, const char *cost, size_t cn, char *why,
                     size_t whylen)
{
    pf_alto_map *m = NULL;
    int rc = pf_alto_load(net, nn, cost, cn, &m, why, whylen);
    if (rc) return rc;
    pf_tracker_set_alto(ts->tracker, m);
    pf_alto_free(ts->alto);
    ts->alto = m;
    slog(ts, PF_LOG_INFO, "ALTO map %s: %zu PIDs, %zu prefixes%s%s", pf_alto_resource_id(m), pf_alto_npids(m),
         pf_alto_nprefixes(m), pf_alto_cost_metric(m) ? ", cost map " : "",
         pf_alto_cost_metric(m) ? pf_alto_cost_metric(m) : "");
    return 0;
}

/* One ALTO file changed (text): the other is read from its path and both
 * are loaded together.  net: text is the network map. */
static int alto_apply(pf_tracker_server *ts, const char *text, size_t n, int net, char *why, size_t whylen)
{
    const watched *other = net ? &ts->altocost_w : &ts->altonet_w;
    if (!net && !other->path) return 0;
    char *o = NULL;
    size_t on = 0;
    if (other->path) {
        int rc = read_whole(other->path, PF_ALTO_MAX_FILE, &o, &on, NULL);
        if (rc) {
            snprintf(why, whylen, "%s %s: %s", other->what, other->path, pf_strerror(rc));
            return rc;
        }
    }
    int rc = net ? alto_load(ts, text, n, o, on, why, whylen) : alto_load(ts, o, on, text, n, why, whylen);
    free(o);
    return rc;
}

static int altonet_apply(pf_tracker_server *ts, const char *text, size_t n, char *why, size_t whylen)
{
    return alto_apply(ts, text, n, 1, why, whylen);
}

static int altocost_apply(pf_tracker_server *ts, const char *text, size_t n, char *why, size_t whylen)
{
    return alto_apply(ts, text, n, 0, why, whylen);
}

/* Starts watching path (NULL: nothing to do): read now, errors fatal. */
static int watched_start(pf_tracker_server *ts, watched *w, const char *path)
{
    if (!path) return 0;
    w->path = strdup(path);
    return w->path ? watched_load(ts, w, PF_LOG_ERROR) : PF_ERR_NOMEM;
}

static void on_expire(uv_timer_t *t)
{
    pf_tracker_server *ts = t->data;
    watched_check(ts, &ts->keys_w);
    watched_check(ts, &ts->policy_w);
    watched_check(ts, &ts->altonet_w);
    watched_check(ts, &ts->altocost_w);
    uint64_t now = uv_now(ts->loop);
    if (now < ts->next_expire_ms) return;
    ts->next_expire_ms = now + ts->expire_period_ms;
    size_t n = pf_tracker_expire(ts->tracker, uv_hrtime());
    if (n) slog(ts, PF_LOG_DEBUG, "expired %zu peers", n);
}

/* Trusted proxies from text; 0, PF_ERR_PARSE or PF_ERR_LIMIT. */
/* Addresses or CIDR networks (what: for the log) into nets. */
static int nets_parse(pf_tracker_server *ts, const char *const *list, size_t n, pf_net *nets, const char *what)
{
    if (n > PF_TRACKER_MAX_TRUSTED) {
        slog(ts, PF_LOG_ERROR, "%zu %s: at most %d", n, what, PF_TRACKER_MAX_TRUSTED);
        return PF_ERR_LIMIT;
    }
    for (size_t i = 0; i < n; i++) {
        const char *p = list ? list[i] : NULL;
        if (!p || pf__cidr_parse(p, strlen(p), &nets[i]) != 0) {
            slog(ts, PF_LOG_ERROR, "%s '%s': not an address or a network (CIDR)", what, p ? p : "(null)");
            return PF_ERR_PARSE;
        }
    }
    return 0;
}

static int proxies_parse(pf_tracker_server *ts, const pf_tracker_settings *s, pf_net *nets)
{
    return nets_parse(ts, s->trusted_proxies, s->num_trusted_proxies, nets, "trusted proxy");
}

/* Who may read /metrics: metrics_allow, or this host only. */
static int metrics_allow_parse(pf_tracker_server *ts, const pf_tracker_settings *s)
{
    static const char *const local[] = {"127.0.0.0/8", "::1"};
    const char *const *list = s->num_metrics_allow ? s->metrics_allow : local;
    size_t n = s->num_metrics_allow ? s->num_metrics_allow : 2;
    int rc = nets_parse(ts, list, n, ts->metrics_allow, "metrics-allow");
    if (!rc) ts->nmetrics_allow = n;
    return rc;
}

static int tracker_make(pf_tracker_server *ts, const pf_tracker_settings *s)
{
    pf_net *nets = ts->proxies;
    int rc = proxies_parse(ts, s, nets);
    if (rc) return rc;
    ts->nproxies = s->num_trusted_proxies;
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
    tc.forwarded_header = ts->fwd =
        s->forwarded_header == PF_TRACKER_FORWARDED ? PF_FWD_FORWARDED : PF_FWD_X_FORWARDED_FOR;
    tc.seed = s->seed ? s->seed : uv_hrtime() ^ ((uint64_t)uv_os_getpid() << 32);
    /* BEP 15 connection ids: a secret from the OS, unless a seed was given
     * (tests); from the seed if the OS has none to give. */
    if (!s->seed && uv_random(NULL, NULL, tc.udp_secret, sizeof tc.udp_secret, 0, NULL) != 0)
        memset(tc.udp_secret, 0, sizeof tc.udp_secret);
    tc.log = s->log;
    tc.log_ud = s->log_ud;
    tc.log_level = s->log_level;
    ts->tracker = pf_tracker_new(&tc);
    return ts->tracker ? 0 : PF_ERR_NOMEM;
}

/* HTTP on host:port; 0 or PF_ERR_NET (logged), PF_ERR_INVAL, PF_ERR_NOMEM. */
static int http_start(pf_tracker_server *ts, const pf_tracker_settings *s, const char *host,
                      uint16_t port)
{
    pf_http_server_config sc;
    pf_http_server_config_default(&sc);
    sc.port = port;
    sc.on_request = on_request;
    sc.ud = ts;
    sc.log = s->log;
    sc.log_ud = s->log_ud;
    sc.log_level = s->log_level;
    sc.max_body = PF_QOE_BODY_MAX; /* GET, and POST /qoe's form */
    if (s->max_conns) sc.max_conns = s->max_conns;
    sc.bind = host;
    int rc = pf_http_server_start(ts->loop, &sc, &ts->http);
    if (rc && (rc != PF_ERR_NET || s->port || s->no_udp))
        slog(ts, PF_LOG_ERROR, "cannot listen on %s port %u: %s", host, (unsigned)port,
             pf_strerror(rc));
    return rc;
}

/* ---- UDP (BEP 15) ------------------------------------------------------ */

/* A UDP socket bound to host:port (0: any), its port in *bound; the fd, or
 * a negative errno (-EINVAL: host is not an address). */
static int udp_socket(const char *host, uint16_t port, uint16_t *bound)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0 &&
        uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0)
        return -EINVAL;
    if (ss.ss_family == AF_INET6 && !strchr(host, ':')) return -EINVAL;
    int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -errno;
    int off = 0, rcv = UDP_RCVBUF;
    if (ss.ss_family == AF_INET6) /* "::" serves IPv4 too where the OS allows */
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    struct sockaddr_storage b;
    socklen_t blen = sizeof b;
    if (bind(fd, (struct sockaddr *)&ss, pf__sockaddr_len(&ss)) != 0 ||
        getsockname(fd, (struct sockaddr *)&b, &blen) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    pf_addr a;
    pf__addr_from_sockaddr((struct sockaddr *)&b, &a, 0);
    *bound = a.port;
    return fd;
}

static void udp_flush(pf_tracker_server *ts)
{
    udp_batch *b = ts->batch;
    size_t n = b->n, done = 0;
    b->n = 0;
    if (!n || !ts->udp_open || ts->stopping) return;
#ifdef __linux__
    struct mmsghdr m[UDP_BATCH];
    struct iovec iov[UDP_BATCH];
    memset(m, 0, sizeof m);
    for (size_t i = 0; i < n; i++) {
        iov[i].iov_base = b->out[i];
        iov[i].iov_len = b->len[i];
        m[i].msg_hdr.msg_name = &b->to[i];
        m[i].msg_hdr.msg_namelen = pf__sockaddr_len(&b->to[i]);
        m[i].msg_hdr.msg_iov = &iov[i];
        m[i].msg_hdr.msg_iovlen = 1;
    }
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)ts->udp, &fd) != 0) fd = -1;
    while (fd >= 0 && done < n) {
        int r = sendmmsg(fd, m + done, (unsigned)(n - done), MSG_DONTWAIT);
        if (r > 0) {
            done += (size_t)r;
        } else if (r < 0 && errno == EINTR) {
            continue;
        } else if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
            ts->udp_send_failed++; /* that one destination: skip it */
            n--;
            memmove(m + done, m + done + 1, (n - done) * sizeof *m);
        } else {
            break; /* the socket is full: the rest are dropped */
        }
    }
#else
    for (size_t i = 0; i < n; i++) {
        uv_buf_t ub = uv_buf_init((char *)b->out[i], (unsigned)b->len[i]);
        if (uv_udp_try_send(ts->udp, &ub, 1, (const struct sockaddr *)&b->to[i]) >= 0) done++;
    }
#endif
    ts->udp_sent += done;
    ts->udp_send_failed += n - done;
}

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    pf_tracker_server *ts = h->data;
    buf->base = (char *)ts->udp_in;
    buf->len = UDP_BATCH * UDP_CHUNK;
}

static void udp_log(pf_tracker_server *ts, const pf_addr *from, const uint8_t *d, size_t n,
                    size_t reply)
{
    static const char *const names[] = {"connect", "announce", "scrape"};
    char who[80];
    pf_addr a = pf__tracker_addr_norm(from);
    pf_addr_format(&a, who, sizeof who);
    uint32_t action = n >= 12 ? pf_rd_be32(d + 8) : UINT32_MAX;
    slog(ts, PF_LOG_DEBUG, "udp %s from %s: %zu bytes, reply %zu", action < 3 ? names[action] : "?",
         who, n, reply);
}

static void on_udp(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
                   unsigned flags)
{
    pf_tracker_server *ts = h->data;
    udp_batch *b = ts->batch;
    if (nread > 0 && from && !ts->stopping) {
        if (b->n == 0) b->now = uv_hrtime();
        pf_addr a;
        pf__addr_from_sockaddr(from, &a, 0); /* v4-mapped: the core reads them as IPv4 */
        const uint8_t *d = (const uint8_t *)buf->base;
        size_t len = pf_tracker_handle_udp(ts->tracker, &a, d, (size_t)nread, b->now,
                                           b->out[b->n], sizeof b->out[b->n]);
        if (pf__log_on(&ts->log, PF_LOG_DEBUG)) udp_log(ts, &a, d, (size_t)nread, len);
        if (len) {
            b->len[b->n] = len;
            memcpy(&b->to[b->n], from, from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                                  : sizeof(struct sockaddr_in));
            b->to[b->n].ss_family = from->sa_family;
            if (++b->n == UDP_BATCH) udp_flush(ts);
        }
    }
    if (!(flags & UV_UDP_MMSG_CHUNK)) udp_flush(ts); /* the read is over */
}

static void udp_closed(uv_handle_t *h)
{
    pf_tracker_server *ts = h->data;
    free(h);
    if (!ts) return; /* a start that failed: ts is gone */
    ts->udp_open = 0;
    maybe_done(ts);
}

/* Serves BEP 15 on the bound socket fd (taken: closed on failure). */
static int udp_serve(pf_tracker_server *ts, int fd)
{
    ts->udp_in = malloc(UDP_BATCH * UDP_CHUNK);
    ts->batch = calloc(1, sizeof *ts->batch);
    ts->udp = calloc(1, sizeof *ts->udp);
    if (!ts->udp_in || !ts->batch || !ts->udp) {
        close(fd);
        return PF_ERR_NOMEM;
    }
    if (uv_udp_init_ex(ts->loop, ts->udp, AF_UNSPEC | UV_UDP_RECVMMSG) != 0) {
        close(fd);
        return PF_ERR_NET;
    }
    ts->udp->data = ts;
    ts->udp_open = 1;
    if (uv_udp_open(ts->udp, fd) != 0) {
        close(fd);
        return PF_ERR_NET;
    }
    return uv_udp_recv_start(ts->udp, udp_alloc, on_udp) == 0 ? 0 : PF_ERR_NET;
}

/* HTTP and UDP on one port number: the UDP socket is bound first (with
 * port 0, the port it got is tried for TCP, and another one if TCP has it
 * taken).  Without an address, "::" (both families where the OS allows),
 * else "0.0.0.0". */
static int listeners_start(pf_tracker_server *ts, const pf_tracker_settings *s)
{
    if (s->no_udp) {
        int rc = http_start(ts, s, s->bind ? s->bind : "::", s->port);
        if (rc == PF_ERR_NET && !s->bind) rc = http_start(ts, s, "0.0.0.0", s->port);
        return rc;
    }
    const char *host = s->bind ? s->bind : "::";
    for (int attempt = 0; attempt < UDP_TRIES; attempt++) {
        uint16_t port = 0;
        int fd = udp_socket(host, s->port, &port);
        if ((fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL) && !s->bind) /* no IPv6 here */
            fd = udp_socket(host = "0.0.0.0", s->port, &port);
        if (fd < 0) {
            slog(ts, PF_LOG_ERROR, "cannot bind UDP %s port %u: %s", host, (unsigned)s->port,
                 strerror(-fd));
            return fd == -EINVAL ? PF_ERR_INVAL : PF_ERR_NET;
        }
        int rc = http_start(ts, s, host, port);
        if (rc == 0) {
            ts->http_open = 1;
            return udp_serve(ts, fd);
        }
        close(fd);
        if (rc != PF_ERR_NET || s->port) return rc;
    }
    slog(ts, PF_LOG_ERROR, "no port free for both TCP and UDP after %d tries", UDP_TRIES);
    return PF_ERR_NET;
}

/* A start that failed: whatever runs is stopped and frees itself. */
static void start_fail(pf_tracker_server *ts)
{
    if (ts->http_open) pf_http_server_stop(ts->http, NULL, NULL);
    if (ts->udp_open) {
        ts->udp->data = NULL;
        uv_close((uv_handle_t *)ts->udp, udp_closed);
    } else {
        free(ts->udp);
    }
    free(ts->udp_in);
    free(ts->batch);
    pf_tracker_free(ts->tracker);
    pf_auth_keys_free(ts->keys);
    pf_tracker_policy_free(ts->policy);
    pf_alto_free(ts->alto);
    free(ts->keys_w.path);
    free(ts->policy_w.path);
    free(ts->altonet_w.path);
    free(ts->altocost_w.path);
    free(ts);
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
    if (!rc) rc = metrics_allow_parse(ts, &s);
    ts->keys_w = (watched){NULL, "auth keys", KEYS_MAX, {0}, 0, keys_apply};
    ts->policy_w = (watched){NULL, "policy", PF_POLICY_MAX_BYTES, {0}, 0, policy_apply};
    if (!rc) rc = watched_start(ts, &ts->keys_w, s.auth_keys_path);
    if (!rc) rc = watched_start(ts, &ts->policy_w, s.policy_path);
    ts->altonet_w = (watched){NULL, "ALTO network map", PF_ALTO_MAX_FILE, {0}, 0, altonet_apply};
    ts->altocost_w = (watched){NULL, "ALTO cost map", PF_ALTO_MAX_FILE, {0}, 0, altocost_apply};
    if (!rc && s.alto_cost_map_path && !s.alto_network_map_path) {
        slog(ts, PF_LOG_ERROR, "an ALTO cost map needs its network map");
        rc = PF_ERR_INVAL;
    }
    if (!rc && s.alto_cost_map_path) ts->altocost_w.path = strdup(s.alto_cost_map_path); /* read with the network map */
    if (!rc) rc = watched_start(ts, &ts->altonet_w, s.alto_network_map_path);
    if (!rc && ts->altocost_w.path) { /* its stat, for changes */
        uv_fs_t req;
        if (uv_fs_stat(NULL, &req, ts->altocost_w.path, NULL) == 0) ts->altocost_w.st = req.statbuf;
        uv_fs_req_cleanup(&req);
    }
    if (!rc) rc = listeners_start(ts, &s);
    if (rc) {
        start_fail(ts);
        return rc;
    }
    ts->http_open = 1;
    uint64_t period_ms = pf_tracker_expire_period_ns(ts->tracker) / 1000000;
    ts->expire_period_ms = period_ms;
    ts->next_expire_ms = uv_now(loop) + period_ms;
    if ((ts->keys_w.path || ts->policy_w.path || ts->altonet_w.path) && period_ms > KEYS_CHECK_MS) period_ms = KEYS_CHECK_MS;
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
    out->auth_refused = t.auth_refused;
    out->auth_reloads = ts->keys_w.reloads;
}

static void maybe_done(pf_tracker_server *ts)
{
    if (ts->timer_open || ts->http_open || ts->udp_open) return;
    void (*done)(void *) = ts->done;
    void *ud = ts->done_ud;
    pf_tracker_free(ts->tracker);
    pf_auth_keys_free(ts->keys);
    pf_tracker_policy_free(ts->policy);
    pf_alto_free(ts->alto);
    free(ts->keys_w.path);
    free(ts->policy_w.path);
    free(ts->altonet_w.path);
    free(ts->altocost_w.path);
    free(ts->udp_in);
    free(ts->batch);
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
    if (ts->udp_open) uv_close((uv_handle_t *)ts->udp, udp_closed);
    pf_http_server_stop(ts->http, http_stopped, ts);
}

void pf_tracker_server_udp_stats_get(const pf_tracker_server *ts, pf_tracker_udp_stats *out)
{
    pf_tracker_stats t;
    pf_tracker_stats_get(ts->tracker, &t);
    memset(out, 0, sizeof *out);
    out->datagrams = t.udp_datagrams;
    out->connects = t.udp_connects;
    out->bad_connid = t.udp_bad_connid;
    out->malformed = t.udp_malformed;
    out->errors = t.udp_errors;
    out->sent = ts->udp_sent;
    out->send_failed = ts->udp_send_failed;
}

int pf_tracker_server_udp(const pf_tracker_server *ts) { return ts && ts->udp != NULL; }
