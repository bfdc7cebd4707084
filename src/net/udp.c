/* The client's UDP socket: one per client, on the listen port, carrying
 * every datagram the session sends and receives (BEP 15 trackers today,
 * uTP next), and name look-ups for PF_JOB_RESOLVE. */
#include <stdlib.h>
#include <string.h>

#include "net/client_internal.h"

#define PF__UDP_BUF 65536

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

static void sockaddr_to_pf(const struct sockaddr *sa, pf_addr *a)
{
    memset(a, 0, sizeof *a);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        a->family = 4;
        memcpy(a->ip, &s4->sin_addr, 4);
        a->port = ntohs(s4->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(&s6->sin6_addr, v4mapped, 12) == 0) {
            a->family = 4;
            memcpy(a->ip, (const uint8_t *)&s6->sin6_addr + 12, 4);
        } else {
            a->family = 6;
            memcpy(a->ip, &s6->sin6_addr, 16);
        }
        a->port = ntohs(s6->sin6_port);
    }
}

/* pf_addr to a sockaddr this socket can send to (a dual-stack IPv6 socket
 * reaches IPv4 through mapped addresses). */
static int pf_to_sockaddr(const pf_client *c, const pf_addr *a, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (c->udp_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(a->port);
        if (a->family == 4) {
            uint8_t *b = (uint8_t *)&s6->sin6_addr;
            b[10] = b[11] = 0xff;
            memcpy(b + 12, a->ip, 4);
        } else {
            memcpy(&s6->sin6_addr, a->ip, 16);
        }
        return 0;
    }
    if (a->family != 4) return -1;
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons(a->port);
    memcpy(&s4->sin_addr, a->ip, 4);
    return 0;
}

static void on_udp_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from, unsigned flags)
{
    pf_client *c = h->data;
    (void)flags;
    if (n <= 0 || !from) return; /* nothing, or an error on this datagram only */
    pf_addr a;
    sockaddr_to_pf(from, &a);
    if (!a.family) return;
    pf_session_recv_datagram(c->s, &a, (const uint8_t *)buf->base, (size_t)n, pf__client_now(c));
    pf__client_pump(c);
}

int pf__udp_start(pf_client *c, const char *bind, int port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (uv_ip6_addr(bind, port, (struct sockaddr_in6 *)&ss) != 0 &&
        uv_ip4_addr(bind, port, (struct sockaddr_in *)&ss) != 0)
        return PF_ERR_INVAL;
    c->udp_buf = malloc(PF__UDP_BUF);
    if (!c->udp_buf) return PF_ERR_NOMEM;
    if (uv_udp_init(c->loop, &c->udp) != 0) return PF_ERR_NET;
    c->udp.data = c;
    c->udp_open = 1;
    c->handles++;
    c->udp_family = ss.ss_family;
    if (uv_udp_bind(&c->udp, (struct sockaddr *)&ss, UV_UDP_REUSEADDR) != 0 ||
        uv_udp_recv_start(&c->udp, udp_alloc, on_udp_recv) != 0) {
        pf__udp_close(c);
        return PF_ERR_NET;
    }
    return 0;
}

void pf__udp_flush(pf_client *c)
{
    uint8_t buf[PF_MAX_DATAGRAM];
    pf_addr to;
    long n;
    while ((n = pf_session_take_datagram(c->s, &to, buf, sizeof buf)) > 0) {
        struct sockaddr_storage ss;
        if (!c->udp_open || pf_to_sockaddr(c, &to, &ss) != 0) continue;
        uv_buf_t b = uv_buf_init((char *)buf, (unsigned)n);
        /* A full socket buffer drops it, as the network may: every UDP
         * protocol here retries. */
        (void)uv_udp_try_send(&c->udp, &b, 1, (const struct sockaddr *)&ss);
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
        sockaddr_to_pf(ai->ai_addr, &a);
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
