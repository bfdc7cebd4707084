/* The client's UDP socket: one per client, on the listen port, carrying
 * every datagram the session sends and receives (BEP 15 trackers, BEP 29
 * uTP), and name look-ups for PF_JOB_RESOLVE.
 *
 * uTP moves a stream in 1400-byte datagrams, and a syscall per datagram
 * was most of its CPU (perf: sendmsg and the kernel's syscall exit).  On
 * Linux the datagrams the session queued go out in batches: sendmmsg, and
 * runs of equal-sized datagrams to one peer as one UDP GSO send
 * (UDP_SEGMENT: the kernel cuts them, one trip down the stack); elsewhere,
 * or when the kernel refuses, one uv_udp_try_send each.  In, a batch ends
 * when the socket is drained, and the session acknowledges it then. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#endif

#include "net/client_internal.h"
#include "net/sockaddr.h"

/* libuv reads with recvmmsg (UV_UDP_RECVMMSG) into 64 KiB chunks, up to
 * 20 datagrams per syscall: 1.25 MiB of address space, of which only the
 * pages datagrams land in are ever touched (a page or so per chunk). */
#define PF__UDP_BUF (20 * 65536)
#define PF__UDP_SOCKBUF (2 << 20)
#define PF__UDP_BATCH 64    /* datagrams taken from the session per send batch */
#define PF__UDP_GSO_MAX 44  /* segments in one GSO send: 44 x 1472 < 65507 */
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

static void on_udp_closed(uv_handle_t *h)
{
    pf_client *c = h->data;
    c->handles--;
}

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    pf_client *c = h->data;
    buf->base = (char *)c->udp_buf;
    buf->len = c->udp_buf ? PF__UDP_BUF : 0;
}

static void on_udp_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from, unsigned flags)
{
    pf_client *c = h->data;
    (void)flags;
    if (n == 0 && !from) { /* the socket is drained, or a recvmmsg batch is over */
        pf_session_flush_datagrams(c->s, pf__client_now(c));
        c->udp_batch = 0;
        pf__client_pump(c);
        return;
    }
    if (n > 0 && from) {
        pf_addr a;
        pf__addr_from_sockaddr(from, &a, 1);
        if (a.family) pf_session_recv_datagram(c->s, &a, (const uint8_t *)buf->base, (size_t)n, pf__client_now(c));
    }
    /* libuv reads at most 32 datagrams per wakeup and says nothing if the
     * socket is not drained by then: the batch ends there too. */
    if (++c->udp_batch >= 32) {
        pf_session_flush_datagrams(c->s, pf__client_now(c));
        c->udp_batch = 0;
        pf__client_pump(c);
    }
}

int pf__udp_start(pf_client *c, const char *bind, int port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (uv_ip6_addr(bind, port, (struct sockaddr_in6 *)&ss) != 0 &&
        uv_ip4_addr(bind, port, (struct sockaddr_in *)&ss) != 0)
        return PF_ERR_INVAL;
    c->udp_buf = malloc(PF__UDP_BUF);
    c->udp_out = malloc(sizeof *c->udp_out * PF__UDP_BATCH);
    if (!c->udp_buf || !c->udp_out) return PF_ERR_NOMEM;
#ifdef __linux__
    c->udp_gso = 1;
#endif
    if (uv_udp_init_ex(c->loop, &c->udp, UV_UDP_RECVMMSG) != 0) return PF_ERR_NET;
    c->udp.data = c;
    c->udp_open = 1;
    c->handles++;
    c->udp_family = ss.ss_family;
    if (uv_udp_bind(&c->udp, (struct sockaddr *)&ss, UV_UDP_REUSEADDR) != 0 ||
        uv_udp_recv_start(&c->udp, udp_alloc, on_udp_recv) != 0) {
        pf__udp_close(c);
        return PF_ERR_NET;
    }
    /* uTP sends a window of datagrams at once and the peer's burst lands
     * in one go: the kernel's 208 KiB default drops the tail of a 1 MiB
     * window on loopback (every drop halves the window).  Best effort:
     * the system's rmem_max/wmem_max cap what we get. */
    int sz = PF__UDP_SOCKBUF;
    (void)uv_recv_buffer_size((uv_handle_t *)&c->udp, &sz);
    sz = PF__UDP_SOCKBUF;
    (void)uv_send_buffer_size((uv_handle_t *)&c->udp, &sz);
    return 0;
}

static void send_one(pf_client *c, const pf__udp_dgram *d)
{
    struct sockaddr_storage ss;
    if (pf__addr_to_sockaddr(&d->to, &ss, c->udp_family) != 0) return;
    uv_buf_t b = uv_buf_init((char *)d->data, d->len);
    /* A full socket buffer drops it, as the network may: every UDP
     * protocol here retries. */
    (void)uv_udp_try_send(&c->udp, &b, 1, (const struct sockaddr *)&ss);
}

#ifdef __linux__
/* Sends out[0..n) with sendmmsg, runs of one destination and one size
 * (the last may be shorter) as single GSO messages.  Returns 0, or -1 if
 * the kernel refused GSO (the caller sends them one by one). */
static int send_batch(pf_client *c, pf__udp_dgram *out, unsigned n)
{
    struct mmsghdr msgs[PF__UDP_BATCH];
    struct iovec iov[PF__UDP_BATCH];
    struct sockaddr_storage addrs[PF__UDP_BATCH];
    union {
        char buf[CMSG_SPACE(sizeof(uint16_t))];
        struct cmsghdr align;
    } ctl[PF__UDP_BATCH];
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->udp, &fd) != 0) return -1;
    unsigned nm = 0, ni = 0;
    for (unsigned i = 0; i < n;) {
        unsigned k = 1;
        while (c->udp_gso && i + k < n && k < PF__UDP_GSO_MAX && out[i + k].len <= out[i].len &&
               out[i + k - 1].len == out[i].len && pf_addr_eq(&out[i + k].to, &out[i].to))
            k++;
        if (pf__addr_to_sockaddr(&out[i].to, &addrs[nm], c->udp_family) != 0) {
            i += k;
            continue;
        }
        memset(&msgs[nm], 0, sizeof msgs[nm]);
        /* one iovec per datagram: the kernel cuts the whole at gso_size */
        for (unsigned m = 0; m < k; m++) {
            iov[ni + m].iov_base = out[i + m].data;
            iov[ni + m].iov_len = out[i + m].len;
        }
        msgs[nm].msg_hdr.msg_name = &addrs[nm];
        msgs[nm].msg_hdr.msg_namelen = addrs[nm].ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                                        : sizeof(struct sockaddr_in);
        msgs[nm].msg_hdr.msg_iov = &iov[ni];
        msgs[nm].msg_hdr.msg_iovlen = k;
        ni += k;
        if (k > 1) {
            msgs[nm].msg_hdr.msg_control = ctl[nm].buf;
            msgs[nm].msg_hdr.msg_controllen = sizeof ctl[nm].buf;
            struct cmsghdr *cm = CMSG_FIRSTHDR(&msgs[nm].msg_hdr);
            cm->cmsg_level = SOL_UDP;
            cm->cmsg_type = UDP_SEGMENT;
            cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
            uint16_t seg = out[i].len;
            memcpy(CMSG_DATA(cm), &seg, sizeof seg);
        }
        nm++;
        i += k;
    }
    for (unsigned done = 0; done < nm;) {
        int r = sendmmsg(fd, msgs + done, nm - done, 0);
        if (r > 0) {
            done += (unsigned)r;
            continue;
        }
        if (errno == EINTR) continue;
        /* EAGAIN: a full socket buffer drops the rest, as the network
         * may.  EIO/EINVAL on a GSO message: no GSO here. */
        if ((errno == EIO || errno == EINVAL || errno == ENOPROTOOPT) && msgs[done].msg_hdr.msg_controllen) return -1;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) done++; /* that one only */
        else break;
    }
    return 0;
}
#endif

void pf__udp_flush(pf_client *c)
{
    pf__udp_dgram *out = c->udp_out;
    for (;;) {
        unsigned n = 0;
        long len;
        while (n < PF__UDP_BATCH && (len = pf_session_take_datagram(c->s, &out[n].to, out[n].data, PF_MAX_DATAGRAM)) > 0)
            out[n++].len = (uint16_t)len;
        if (n == 0 || !c->udp_open) {
            if (n == 0) return;
            continue; /* closing: drain and drop */
        }
#ifdef __linux__
        if (send_batch(c, out, n) == 0) continue;
        c->udp_gso = 0; /* refused: no GSO from now on; this batch one by one */
#endif
        for (unsigned i = 0; i < n; i++) send_one(c, &out[i]);
    }
}

void pf__udp_close(pf_client *c)
{
    if (c->udp_open && !uv_is_closing((uv_handle_t *)&c->udp)) {
        uv_udp_recv_stop(&c->udp);
        uv_close((uv_handle_t *)&c->udp, on_udp_closed);
    }
    c->udp_open = 0;
}

void pf__udp_free(pf_client *c)
{
    free(c->udp_buf);
    c->udp_buf = NULL;
    free(c->udp_out);
    c->udp_out = NULL;
}

/* PF_JOB_RESOLVE --------------------------------------------------------------- */
typedef struct pf__resolve {
    uv_getaddrinfo_t req;
    pf_client *c;
    pf_client_torrent *ct;
    pf_job *job;
} pf__resolve;

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    pf__resolve *r = req->data;
    pf_client *c = r->c;
    pf_job *j = r->job;
    j->naddrs = 0;
    for (struct addrinfo *ai = status == 0 ? res : NULL; ai && j->naddrs < 4; ai = ai->ai_next) {
        pf_addr a;
        pf__addr_from_sockaddr(ai->ai_addr, &a, 1);
        if (a.family) j->addrs[j->naddrs++] = a;
    }
    j->result = status == UV_ECANCELED ? PF_ERR_SHUTDOWN : j->naddrs ? 0 : PF_ERR_NOTFOUND;
    if (res) uv_freeaddrinfo(res);
    c->works--;
    pf_torrent_job_done(r->ct->t, j, pf__client_now(c));
    free(r);
    pf__client_pump(c);
}

void pf__resolve_job(pf_client *c, pf_client_torrent *ct, pf_job *j)
{
    char host[256], port[8];
    const char *hp = j->url ? j->url : "", *colon = strrchr(hp, ':');
    size_t hl = colon ? (size_t)(colon - hp) : 0;
    if (hl && hp[0] == '[' && hp[hl - 1] == ']') { /* [v6]:port */
        hp++;
        hl -= 2;
    }
    pf__resolve *r = NULL;
    if (colon && hl > 0 && hl < sizeof host && strlen(colon + 1) < sizeof port && colon[1])
        r = calloc(1, sizeof *r);
    if (!r) {
        j->result = PF_ERR_PARSE;
        pf_torrent_job_done(ct->t, j, pf__client_now(c));
        return;
    }
    memcpy(host, hp, hl);
    host[hl] = 0;
    snprintf(port, sizeof port, "%s", colon + 1);
    r->c = c;
    r->ct = ct;
    r->job = j;
    r->req.data = r;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_DGRAM;
    c->works++;
    if (uv_getaddrinfo(c->loop, &r->req, on_resolved, host, port, &hints) != 0) {
        c->works--;
        free(r);
        j->result = PF_ERR_NOTFOUND;
        pf_torrent_job_done(ct->t, j, pf__client_now(c));
    }
}

void pf_client_datagram_stats(const pf_client *c, pf_datagram_stats *out)
{
    pf_session_datagram_stats(c->s, out);
}
