/* TLS as a layer under a peer (libtorrent's SSL torrents; design in
 * docs/design/tls-peers.md).  A TLS peer's transport (TCP or uTP) carries
 * ciphertext: pf_peer_recv decrypts into the peer's wire code
 * (pf__peer_recv_plain), pf_peer_take_output_zc encrypts what it queued
 * (pf__peer_take_plain), and pf_peer_sent turns ciphertext written into
 * plaintext written, so the upload accounting (PIECE payloads in flight,
 * the send-buffer bound) keeps counting payload.
 *
 * Who talks TLS: every connection of an SSL torrent, dialled or accepted;
 * nothing else.  One listen port serves every torrent: an incoming
 * connection whose first byte is 0x16 (a TLS handshake record; the plain
 * BitTorrent handshake starts with 0x13) goes through the session's
 * router, where SNI (the info-hash in hex) picks the torrent.  Its
 * BitTorrent handshake must then name that same torrent; a plain
 * connection naming an SSL torrent is refused. */
#include <string.h>

#include "core/swarm/swarm.h"
#include "core/util/mem.h"

#define TLS_MARKS 32

struct pf__tls_peer {
    pf_tls *tls;
    pf_buf plain; /* decrypted, for the wire code */
    /* Ciphertext taken by the caller, and where each take ended in
     * plaintext: the caller reports ciphertext written, the wire code
     * learns the plaintext it carried. */
    uint64_t cipher_taken, cipher_sent, plain_taken, plain_sent;
    struct {
        uint64_t cipher_end, plain_end;
    } marks[TLS_MARKS];
    uint32_t nmarks;
};

static void count_refusal(pf_session *s, pf_torrent *t, pf_tls_refusal r)
{
    s->tls_refused[r]++;
    if (t) t->tls_refused[r]++;
}

/* The torrent whose context is c (a dial's, or what SNI chose). */
static pf_torrent *torrent_of_ctx(pf_session *s, const pf_tls_ctx *c)
{
    for (uint32_t i = 0; c && i < s->ntorrents; i++)
        if (s->torrents[i]->tls == c) return s->torrents[i];
    return NULL;
}

static void log_refusal(pf_peer *p, pf_tls_refusal r, const char *detail)
{
    char a[64];
    pf_addr_format(&p->addr, a, sizeof a);
    pf__log(p->s, PF_LOG_INFO, "TLS peer %s refused (%s): %s", a, pf_tls_refusal_name(r), detail);
}

/* ---- the router (accepting side) ------------------------------------------ */
static pf_tls_ctx *router_lookup(void *ud, const uint8_t info_hash[20])
{
    pf_session *s = ud;
    pf_torrent *t = pf__session_find(s, info_hash);
    if (!t || t->stopped || t->p2p_off || !t->tls) return NULL;
    return t->tls;
}

static pf_tls_ctx *router(pf_session *s)
{
    if (!s->tls_router) s->tls_router = pf_tls_router_new(router_lookup, s);
    return s->tls_router;
}

void pf__session_tls_free(pf_session *s)
{
    pf_tls_ctx_free(s->tls_router);
    s->tls_router = NULL;
}

/* ---- peers ------------------------------------------------------------------- */
static struct pf__tls_peer *tls_peer_new(pf_peer *p, pf_tls *tls)
{
    if (!tls) return NULL;
    struct pf__tls_peer *tp = pf__calloc(p->s->mem, 1, sizeof *tp);
    if (!tp) {
        pf_tls_free(tls);
        return NULL;
    }
    tp->tls = tls;
    pf_buf_init_mem(&tp->plain, p->s->mem);
    p->tls = tp;
    return tp;
}

void pf__tls_peer_free(pf_peer *p)
{
    struct pf__tls_peer *tp = p->tls;
    if (!tp) return;
    pf_tls_free(tp->tls);
    pf_buf_free(&tp->plain);
    pf__free(p->s->mem, tp);
    p->tls = NULL;
}

int pf__tls_dial(pf_peer *p)
{
    pf_torrent *t = p->t;
    if (!t || !t->tls) return 0;
    if (!pf_tls_ctx_has_identity(t->tls)) return PF_ERR_DENIED;
    return tls_peer_new(p, pf_tls_client(t->tls, t->info_hash)) ? 0 : PF_ERR_NOMEM;
}

int pf__tls_connected(pf_peer *p)
{
    if (!p->tls) return 0;
    return pf_tls_start(p->tls->tls);
}

int pf__peer_has_output(const pf_peer *p)
{
    if (!p->tls) return pf_buf_unread(&p->out) > 0;
    pf_tls *tls = p->tls->tls;
    return pf_tls_pending(tls) > 0 || (pf_tls_established(tls) && pf_buf_unread(&p->out) > 0);
}

int pf__tls_admits(pf_peer *p, pf_torrent *t)
{
    pf_tls_refusal r = PF_TLS_OK;
    if (!p->tls && t->tls)
        r = PF_TLS_PLAIN;
    else if (p->tls && (!t->tls || pf_tls_chosen(p->tls->tls) != t->tls))
        r = PF_TLS_WRONG_TORRENT;
    if (r == PF_TLS_OK) return 1;
    count_refusal(p->s, t, r);
    log_refusal(p, r, r == PF_TLS_PLAIN ? "a plain connection to an SSL torrent"
                                        : "its handshake names another torrent than its SNI");
    return 0;
}

/* An incoming connection's first bytes: a TLS record makes it a TLS peer. */
static int sniff(pf_peer *p, const uint8_t *data, size_t n)
{
    if (p->tls_sniffed || p->outgoing || n == 0) return 0;
    p->tls_sniffed = 1;
    if (data[0] != 0x16) return 0;
    pf_tls_ctx *r = router(p->s);
    if (!r || !tls_peer_new(p, pf_tls_server(r))) return PF_ERR_NOMEM;
    return 0;
}

static long refused(pf_peer *p, int rc)
{
    pf_tls *tls = p->tls->tls;
    pf_tls_refusal r = pf_tls_refusal_of(tls);
    if (rc == PF_ERR_DENIED) {
        count_refusal(p->s, p->t ? p->t : torrent_of_ctx(p->s, pf_tls_chosen(tls)), r);
        log_refusal(p, r, pf_tls_detail(tls));
    }
    return rc;
}

long pf_peer_recv(pf_peer *p, const uint8_t *data, size_t n, uint64_t now)
{
    int rc = sniff(p, data, n);
    if (rc) return rc;
    if (!p->tls) return pf__peer_recv_plain(p, data, n, now);
    if (p->state == PF_PS_CLOSING) return (long)n;
    if (p->state == PF_PS_CONNECTING) return PF_ERR_INVAL;
    struct pf__tls_peer *tp = p->tls;
    int was_up = pf_tls_established(tp->tls);
    rc = pf_tls_recv(tp->tls, data, n, &tp->plain);
    if (rc) return refused(p, rc);
    if (pf_buf_unread(&tp->plain) > 0) {
        long r = pf__peer_recv_plain(p, pf_buf_head(&tp->plain), pf_buf_unread(&tp->plain), now);
        pf_buf_reset(&tp->plain);
        if (r < 0) return r;
    } else {
        p->last_recv = now; /* handshake records */
    }
    /* Handshake answers, or what waited for the handshake to end. */
    if (pf_tls_pending(tp->tls) || (!was_up && pf_tls_established(tp->tls))) pf__peer_mark_write(p);
    return (long)n;
}

static void push_mark(struct pf__tls_peer *tp)
{
    if (tp->nmarks == TLS_MARKS) tp->nmarks--; /* merged into the last */
    tp->marks[tp->nmarks].cipher_end = tp->cipher_taken;
    tp->marks[tp->nmarks].plain_end = tp->plain_taken;
    tp->nmarks++;
}

/* The plaintext the wire code queued, encrypted (once the handshake is
 * done). */
static int encrypt_queued(pf_peer *p)
{
    struct pf__tls_peer *tp = p->tls;
    if (!pf_tls_established(tp->tls) || pf_buf_unread(&p->out) == 0) return 0;
    pf_out o;
    size_t n = pf__peer_take_plain(p, &o);
    pf_buf flat;
    if (pf__out_flatten(p->s, &o, &flat) != 0) return PF_ERR_NOMEM;
    int rc = pf_tls_write(tp->tls, pf_buf_head(&flat), n);
    pf_buf_free(&flat);
    tp->plain_taken += n;
    return rc;
}

size_t pf_peer_take_output_zc(pf_peer *p, pf_out *out)
{
    if (!p->tls) return pf__peer_take_plain(p, out);
    struct pf__tls_peer *tp = p->tls;
    memset(out, 0, sizeof *out);
    pf_buf_init_mem(&out->buf, p->s->mem);
    if (p->state != PF_PS_CLOSING && encrypt_queued(p) != 0) {
        pf__peer_close(p, "TLS: cannot encrypt");
        return 0;
    }
    size_t n = pf_tls_take(tp->tls, &out->buf);
    if (n) {
        tp->cipher_taken += n;
        push_mark(tp);
    }
    out->total = n;
    return n;
}

void pf_peer_sent(pf_peer *p, size_t n, uint64_t now)
{
    if (!p->tls) {
        pf__peer_sent_plain(p, n, now);
        return;
    }
    struct pf__tls_peer *tp = p->tls;
    tp->cipher_sent += n;
    uint64_t done = tp->plain_sent;
    uint32_t k = 0;
    while (k < tp->nmarks && tp->marks[k].cipher_end <= tp->cipher_sent) done = tp->marks[k++].plain_end;
    if (k) memmove(tp->marks, tp->marks + k, (tp->nmarks - k) * sizeof tp->marks[0]);
    tp->nmarks -= k;
    size_t plain = (size_t)(done - tp->plain_sent);
    tp->plain_sent = done;
    pf__peer_sent_plain(p, plain, now);
}

/* ---- torrents ------------------------------------------------------------------ */
static int apply_identity(pf_torrent *t)
{
    int rc = 0;
    if (t->tls_cert && t->tls_key) rc = pf_tls_ctx_set_identity(t->tls, t->tls_cert, t->tls_key);
    if (rc == 0 && t->tls_crl) rc = pf_tls_ctx_set_crl(t->tls, t->tls_crl);
    return rc;
}

int pf__torrent_tls_init(pf_torrent *t, const pf_metainfo *mi)
{
    if (!mi->ssl_cert || t->tls) return 0;
    int err = 0;
    t->tls = pf_tls_ctx_new(mi->ssl_cert, mi->ssl_cert_len, mi->name, strlen(mi->name), &err);
    if (!t->tls) return err;
    int rc = apply_identity(t);
    if (rc) pf__log(t->s, PF_LOG_ERROR, "SSL torrent: the certificate, key or CRL given does not fit it: %s",
                    pf_strerror(rc));
    /* Peers that came before we knew (a magnet's) talk in clear. */
    for (uint32_t i = t->npeers; i-- > 0;)
        if (!t->peers[i]->tls) pf__peer_close(t->peers[i], "plain connection to an SSL torrent");
    return 0;
}

void pf__torrent_tls_free(pf_torrent *t)
{
    pf_tls_ctx_free(t->tls);
    t->tls = NULL;
    pf__free(t->s->mem, t->tls_cert);
    pf__free(t->s->mem, t->tls_key);
    pf__free(t->s->mem, t->tls_crl);
    t->tls_cert = t->tls_key = t->tls_crl = NULL;
}

int pf__torrent_tls_blocked(const pf_torrent *t) { return t->tls && !pf_tls_ctx_has_identity(t->tls); }

static int set_str(pf_torrent *t, char **slot, const char *v)
{
    char *d = NULL;
    if (v && v[0] && !(d = pf__strdup(t->s->mem, v))) return PF_ERR_NOMEM;
    pf__free(t->s->mem, *slot);
    *slot = d;
    return 0;
}

int pf_torrent_set_tls_identity(pf_torrent *t, const char *cert_pem, const char *key_pem)
{
    if (!cert_pem || !key_pem) return PF_ERR_INVAL;
    if (t->has_meta && !t->tls) return PF_ERR_UNSUPPORTED;
    /* Checked before it replaces what works. */
    if (t->tls) {
        int rc = pf_tls_ctx_set_identity(t->tls, cert_pem, key_pem);
        if (rc) return rc;
    }
    int rc = set_str(t, &t->tls_cert, cert_pem);
    return rc ? rc : set_str(t, &t->tls_key, key_pem);
}

int pf_torrent_set_tls_crl(pf_torrent *t, const char *crl_pem)
{
    if (t->has_meta && !t->tls) return PF_ERR_UNSUPPORTED;
    if (t->tls) {
        int rc = pf_tls_ctx_set_crl(t->tls, crl_pem);
        if (rc) return rc;
    }
    return set_str(t, &t->tls_crl, crl_pem);
}

int pf_torrent_is_ssl(const pf_torrent *t) { return t->tls != NULL; }
