/* TLS peers of SSL torrents, as an attacker sees them: incoming
 * connections to a session serving SSL torrents with our identity set
 * (src/core/tls/tls.c: the SNI router, the certificate checks, records over
 * memory BIOs; src/core/swarm/tls_link.c: TLS as a layer under a peer,
 * pf_peer_recv decrypting, take_output encrypting, pf_peer_sent turning
 * ciphertext written into plaintext written).
 *
 * The session holds A, an SSL torrent (fuzz_session's content: same size
 * and bytes, so its corpus streams fit); P, A's content as an ordinary
 * torrent (its info-hash is fuzz_session's); and, when an input names it,
 * B, another SSL torrent of the same CA.  The CA, a leaf for the torrents'
 * name and the torrents are made once at start-up and kept in statics.
 * The keys are random, and so are A's and B's info-hashes (the CA is in
 * their info dicts); inputs do not depend on them: the target writes them
 * in where an input names them (below).  A's handshake with the client of
 * mode 2 varies in length with the signatures; it is cut by a PRNG of its
 * own, so what follows it is the same for an input in every process.
 *
 * The engine's output for the connection is taken by the target, not the
 * harness, so pf_peer_sent hears of the ciphertext in pieces: part of a
 * take, several takes at once, takes left unreported for a while (the
 * marks of tls_link.c).
 *
 * Input layout:
 *   byte 0  flags: bits 0-1 mode; bit 2 we seed A (storage full, checked),
 *           else we leech it; bit 5 tick the clock between chunks; bits
 *           3, 4, 6 and 7 depend on the mode
 *   byte 1  seed of the PRNG that cuts streams into chunks and the
 *           ciphertext reported sent into pieces
 *   mode 0, 1  raw: bytes 2.. are what the connection sends.  Every
 *           FT_SNI_A and FT_SNI_B (40 hex digits each) in them becomes A's
 *           or B's info-hash in hex, so a ClientHello's SNI can name them.
 *           The first byte is forced to 0x16 (a TLS handshake record: the
 *           TLS path) unless bits 3 and 4 are both set; then bytes 28-47
 *           become A's info-hash (a plain handshake for an SSL torrent).
 *   mode 2  inside TLS: a TLS 1.3 client in the target (a valid leaf, SNI
 *           A's info-hash) does its handshake (cut by a PRNG of its own),
 *           then sends bytes 2.. as plaintext, the BitTorrent wire behind
 *           TLS, each chunk one SSL_write.  Bits 6-7: 0, bytes 28-47 (the
 *           handshake's info-hash) become A's; 1, the target sends a
 *           handshake for A first; 2, bytes 28-47 become B's; 3, left as
 *           they are.  Bit 3: one chunk in 16 goes in as raw ciphertext
 *           (garbage in the record stream).  Bit 4: the client ends with
 *           a close_notify.
 *   mode 3  certificates: bytes 2.. up to a NUL are a torrent's "ssl-cert"
 *           (pf_tls_ctx_new; pf_metainfo_build and _parse, the torrent
 *           added to a session), what follows is a CRL for
 *           pf_tls_ctx_set_crl and pf_torrent_set_tls_crl.
 *
 * Invariants: no harness anomaly; the client of mode 2 always completes
 * its handshake and decrypts whatever the engine sends (an alert from the
 * engine aside), which begins with a BitTorrent handshake for A; a torrent
 * whose ssl-cert pf_tls_ctx_new reads is added, as an SSL torrent, and one
 * whose ssl-cert it does not read is not.  Everything is freed after each
 * input (the replay runs under ASan with leak checks).
 *
 * Build with -DFUZZ_TLS_DEBUG for a line per input on stderr: the
 * connection's fate, A's transfer, the refusals counted. */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tests/engine_harness.h"
#include "core/swarm/swarm.h"
#include "core/tls/tls.h"
#include "fuzz_util.h"
#include "peerflow/cert.h"

#define FT_NAME "content.bin" /* the harness's torrent name */
#define FT_PIECE 16384u
#define FT_SIZE (2 * FT_PIECE + 5000u)
#define FT_SNI_A "0123456789abcdef0123456789abcdef01234567"
#define FT_SNI_B "fedcba9876543210fedcba9876543210fedcba98"
#define FT_PEER_ID "-FZ0001-tlsfuzztlsfz"

typedef struct ft_static {
    char *ca, *ca_key, *leaf, *leaf_key;
    hn_content a, b, plain; /* the torrents A, B, P */
    char sni_a[41], sni_b[41]; /* A's and B's info-hashes in lower-case hex */
    SSL_CTX *client; /* mode 2's client: the leaf, no check of the server */
} ft_static;

static void ft_hex(const uint8_t ih[20], char out[41])
{
    for (int i = 0; i < 20; i++) snprintf(out + 2 * i, 3, "%02x", ih[i]);
}

static const ft_static *ft_get(void)
{
    /* Made once: keys, signatures and SHA-1 per input would dominate. */
    static ft_static g;
    static int ready;
    if (ready) return &g;
    int64_t now = (int64_t)time(NULL);
    if (pf_cert_make_ca("fuzz swarm CA", now - 86400, 3650, &g.ca, &g.ca_key) != 0) abort();
    if (pf_cert_issue(g.ca, g.ca_key, FT_NAME, now - 86400, now + 3650 * 86400LL, &g.leaf, &g.leaf_key) != 0)
        abort();
    if (hn_content_make_ex(&g.a, FT_SIZE, FT_PIECE, 0xf00d, NULL, g.ca) != 0 ||
        hn_content_make_ex(&g.b, FT_PIECE, FT_PIECE, 0xb, NULL, g.ca) != 0 ||
        hn_content_make(&g.plain, FT_SIZE, FT_PIECE, 0xf00d, NULL) != 0)
        abort();
    ft_hex(g.a.info_hash, g.sni_a);
    ft_hex(g.b.info_hash, g.sni_b);
    g.client = SSL_CTX_new(TLS_client_method());
    if (!g.client) abort();
    SSL_CTX_set_verify(g.client, SSL_VERIFY_NONE, NULL);
    BIO *b = BIO_new_mem_buf(g.leaf, -1), *k = BIO_new_mem_buf(g.leaf_key, -1);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    EVP_PKEY *pk = k ? PEM_read_bio_PrivateKey(k, NULL, NULL, NULL) : NULL;
    if (!x || !pk || SSL_CTX_use_certificate(g.client, x) != 1 || SSL_CTX_use_PrivateKey(g.client, pk) != 1)
        abort();
    X509_free(x);
    EVP_PKEY_free(pk);
    BIO_free(b);
    BIO_free(k);
    ready = 1;
    return &g;
}

/* ---- one session, one incoming connection ------------------------------- */
typedef struct ft {
    hn_net *n;
    hn_node *nd;
    hn_tor *t;
    hn_raw *r;
    uint64_t rng;
    size_t unsent; /* ciphertext taken, not yet reported sent */
    uint64_t taken;
} ft;

static pf_peer *ft_peer(const ft *x) { return x->r && !x->r->closed ? x->r->end.p : NULL; }

/* The engine's output for the connection, appended to r->out. */
static void ft_take(ft *x)
{
    pf_peer *p = ft_peer(x);
    if (!p) return;
    pf_buf b;
    size_t got = pf_peer_take_output(p, &b);
    FZ_CHECK(got == pf_buf_unread(&b));
    pf_buf_append(&x->r->out, pf_buf_head(&b), got);
    pf_buf_free(&b);
    x->unsent += got;
    x->taken += got;
}

/* Reports ciphertext written: all of it, or some, in pieces that need not
 * end where a take ended. */
static void ft_report(ft *x, int all)
{
    pf_peer *p;
    while (x->unsent > 0 && (p = ft_peer(x))) {
        uint64_t v = hn__rand(&x->rng);
        if (!all && (v & 7) == 0) return; /* the rest stays in flight */
        size_t k = all || (v >> 3 & 3) == 0 ? x->unsent : 1 + (size_t)((v >> 8) % x->unsent);
        x->unsent -= k;
        pf_peer_sent(p, k, x->n->now);
    }
}

/* Runs the node's events (jobs, closes; our connection's output taken by
 * ft_take) until nothing moves. */
static void ft_pump(ft *x)
{
    for (int round = 0; round < 256; round++) {
        int moved = 0;
        pf_event ev;
        for (uint32_t k = 0; k < 100000u && pf_session_next_event(x->nd->s, &ev); k++) {
            moved = 1;
            if (ev.type == PF_EV_WRITE && ev.peer == ft_peer(x))
                ft_take(x);
            else
                hn__handle(x->nd, &ev);
        }
        size_t before = x->unsent;
        ft_report(x, 0);
        if (!moved && x->unsent == before) return;
    }
}

static void ft_tick(ft *x, uint64_t ns)
{
    x->n->now += ns;
    pf_session_tick(x->nd->s, x->n->now);
    ft_pump(x);
}

/* Sends bytes from the remote end in chunks the PRNG cuts (some of 1-7
 * bytes: records split anywhere). */
static void ft_send(ft *x, const uint8_t *d, size_t n, int tick)
{
    size_t off = 0;
    while (off < n && ft_peer(x)) {
        uint64_t v = hn__rand(&x->rng);
        size_t k = (v & 3) == 0 ? 1 + (size_t)((v >> 8) % 7) : 1 + (size_t)((v >> 8) % 1500);
        if ((v >> 32) % 7 == 0) k = 1 + (size_t)((v >> 16) % 40000);
        if (k > n - off) k = n - off;
        hn_raw_send(x->r, d + off, k);
        off += k;
        ft_pump(x);
        if (tick && (v >> 40) % 3 == 0) ft_tick(x, PF_NS_PER_SEC);
    }
}

/* The session with A and P, and B when asked (B costs as much as A: an
 * SSL context, a certificate and a key decoded). */
static int ft_open(ft *x, uint8_t flags, uint8_t seed, int with_b)
{
    const ft_static *g = ft_get();
    memset(x, 0, sizeof *x);
    x->rng = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)seed << 8 | flags);
    x->n = hn_new(0x715 + seed);
    if (!x->n) return -1;
    x->n->log = 0;
    pf_session_settings set;
    pf_session_settings_default(&set);
    set.request_timeout_s = 5;
    set.max_queue_in = 64;
    x->nd = hn_add_node(x->n, &set);
    if (!x->nd) return -1;
    x->t = hn_add_torrent(x->nd, &g->a, (flags & 4) ? HN_FULL : HN_EMPTY, NULL);
    hn_tor *p = hn_add_torrent(x->nd, &g->plain, HN_EMPTY, NULL);
    FZ_CHECK(x->t && p && pf_torrent_is_ssl(x->t->t) && !pf_torrent_is_ssl(p->t));
    FZ_CHECK(pf_torrent_set_tls_identity(x->t->t, g->leaf, g->leaf_key) == 0);
    if (with_b) {
        hn_tor *b = hn_add_torrent(x->nd, &g->b, HN_EMPTY, NULL);
        FZ_CHECK(b && pf_torrent_is_ssl(b->t));
        FZ_CHECK(pf_torrent_set_tls_identity(b->t, g->leaf, g->leaf_key) == 0);
    }
    hn_settle(x->n); /* the check */
    x->r = hn_raw_open(x->nd);
    return x->r && ft_peer(x) ? 0 : -1;
}

/* Timers (handshake and inactivity timeouts, keepalives), then the end. */
static void ft_close(ft *x)
{
    if (x->nd) {
        ft_report(x, 1);
        for (int i = 0; i < 20; i++) ft_tick(x, 10 * PF_NS_PER_SEC);
        FZ_CHECK(x->n->anomalies == 0);
#ifdef FUZZ_TLS_DEBUG
        pf_torrent_stats st;
        pf_torrent_get_stats(x->t->t, &st);
        fprintf(stderr, "raw: err %ld closed %d taken %llu; torrent: have %u up %llu down %llu; refused:",
                x->r ? x->r->err : 0, x->r ? x->r->closed : -1, (unsigned long long)x->taken, st.have,
                (unsigned long long)st.uploaded, (unsigned long long)st.downloaded);
        for (int i = 0; i < PF_TLS_NREFUSALS; i++)
            if (x->nd->s->tls_refused[i]) fprintf(stderr, " %s %llu", pf_tls_refusal_name((pf_tls_refusal)i),
                                                  (unsigned long long)x->nd->s->tls_refused[i]);
        fprintf(stderr, "\n");
#endif
    }
    hn_free(x->n);
}

/* ---- mode 0, 1: raw bytes -------------------------------------------------- */
static void ft_raw(const uint8_t *data, size_t size)
{
    const ft_static *g = ft_get();
    size_t n = size - 2;
    uint8_t *in = malloc(n ? n : 1);
    if (!in) return;
    memcpy(in, data + 2, n);
    const size_t hl = sizeof FT_SNI_A - 1;
    int with_b = 0;
    for (size_t i = 0; i + hl <= n; i++) {
        if (memcmp(in + i, FT_SNI_A, hl) == 0) memcpy(in + i, g->sni_a, hl);
        if (memcmp(in + i, FT_SNI_B, hl) == 0) {
            memcpy(in + i, g->sni_b, hl);
            with_b = 1;
        }
    }
    if (n && (data[0] & 0x18) != 0x18)
        in[0] = 0x16;
    else if (n >= 48)
        memcpy(in + 28, g->a.info_hash, 20);
    ft x;
    if (ft_open(&x, data[0], data[1], with_b) == 0) ft_send(&x, in, n, data[0] & 0x20);
    ft_close(&x);
    free(in);
}

/* ---- mode 2: plaintext inside TLS ----------------------------------------- */
typedef struct ft_client {
    SSL *ssl;
    BIO *rbio, *wbio;
    uint8_t head[PF_HANDSHAKE_LEN]; /* the engine's first plaintext bytes */
    size_t nhead;
    int failed; /* an alert from the engine */
} ft_client;

/* The client's records to the engine. */
static void ft_flush_client(ft *x, ft_client *c, int tick)
{
    uint8_t buf[16384];
    int k;
    while ((k = BIO_read(c->wbio, buf, sizeof buf)) > 0) ft_send(x, buf, (size_t)k, tick);
}

/* The engine's records to the client, decrypted. */
static void ft_read_client(ft *x, ft_client *c)
{
    if (pf_buf_unread(&x->r->out) > 0) {
        size_t n = pf_buf_unread(&x->r->out);
        FZ_CHECK(BIO_write(c->rbio, pf_buf_head(&x->r->out), (int)n) == (int)n);
        pf_buf_consume(&x->r->out, n);
    }
    if (!SSL_is_init_finished(c->ssl) || c->failed) return;
    uint8_t buf[16384];
    for (;;) {
        int k = SSL_read(c->ssl, buf, sizeof buf);
        if (k > 0) {
            size_t take = (size_t)k < sizeof c->head - c->nhead ? (size_t)k : sizeof c->head - c->nhead;
            memcpy(c->head + c->nhead, buf, take);
            c->nhead += take;
            continue;
        }
        int e = SSL_get_error(c->ssl, k);
        if (e == SSL_ERROR_SSL) {
            /* The engine's records always decrypt; an alert it sent is
             * the one failure allowed. */
            unsigned long err = ERR_peek_error();
            if (ERR_GET_LIB(err) != ERR_LIB_SSL || ERR_GET_REASON(err) < SSL_AD_REASON_OFFSET) {
                ERR_print_errors_fp(stderr);
                FZ_CHECK(!"the engine's TLS records do not decrypt");
            }
            c->failed = 1;
        }
        ERR_clear_error();
        return;
    }
}

/* The client's handshake, cut by a PRNG of its own: its flights vary in
 * length (signatures), and what follows must not depend on the keys. */
static void ft_client_handshake(ft *x, ft_client *c)
{
    uint64_t data_rng = x->rng;
    x->rng = 0x5eed;
    for (int round = 0; round < 16 && ft_peer(x); round++) {
        int done = SSL_do_handshake(c->ssl) == 1;
        ft_flush_client(x, c, 0);
        ft_read_client(x, c);
        if (done) break;
    }
    ERR_clear_error();
    FZ_CHECK(SSL_is_init_finished(c->ssl));
    FZ_CHECK(ft_peer(x) != NULL);
    ft_report(x, 1);
    x->rng = data_rng;
}

/* The BitTorrent wire, inside. */
static void ft_client_stream(ft *x, ft_client *c, uint8_t flags, const uint8_t *in, size_t n)
{
    const ft_static *g = ft_get();
    uint8_t *patched = NULL;
    int hs_mode = flags >> 6;
    if (hs_mode == 1) {
        uint8_t hs[PF_HANDSHAKE_LEN];
        hn_raw_handshake(hs, g->a.info_hash, FT_PEER_ID, 1);
        FZ_CHECK(SSL_write(c->ssl, hs, sizeof hs) == (int)sizeof hs);
        ft_flush_client(x, c, 0);
        ft_read_client(x, c);
    } else if (hs_mode != 3 && n >= 48 && (patched = malloc(n))) {
        memcpy(patched, in, n);
        memcpy(patched + 28, hs_mode == 0 ? g->a.info_hash : g->b.info_hash, 20);
        in = patched;
    }
    size_t off = 0;
    while (off < n && ft_peer(x) && !c->failed) {
        uint64_t v = hn__rand(&x->rng);
        size_t k = (v & 3) == 0 ? 1 + (size_t)((v >> 8) % 16) : 1 + (size_t)((v >> 8) % 4000);
        if ((v >> 32) % 9 == 0) k = 1 + (size_t)((v >> 16) % 40000);
        if (k > n - off) k = n - off;
        if ((flags & 8) && (v >> 44) % 16 == 0) {
            ft_send(x, in + off, k, flags & 0x20); /* not a record */
        } else {
            if (SSL_write(c->ssl, in + off, (int)k) != (int)k) break;
            ft_flush_client(x, c, flags & 0x20);
        }
        off += k;
        ft_read_client(x, c);
        if ((v >> 50) % 4 == 0) ft_report(x, 1);
    }
    free(patched);
    ERR_clear_error();
    if ((flags & 0x10) && ft_peer(x)) {
        SSL_shutdown(c->ssl);
        ft_flush_client(x, c, 0);
    }
    ft_report(x, 1);
    for (int i = 0; i < 4; i++) {
        ft_tick(x, 30 * PF_NS_PER_SEC); /* keepalives, encrypted */
        ft_read_client(x, c);
    }
    ERR_clear_error();
    /* Whatever the engine said over TLS began with its handshake. */
    if (c->nhead >= 48) {
        FZ_CHECK(c->head[0] == 19 && memcmp(c->head + 1, "BitTorrent protocol", 19) == 0);
        FZ_CHECK(memcmp(c->head + 28, g->a.info_hash, 20) == 0);
    }
}

static void ft_in_tls(const uint8_t *data, size_t size)
{
    const ft_static *g = ft_get();
    ft x;
    ft_client c;
    memset(&c, 0, sizeof c);
    if (ft_open(&x, data[0], data[1], data[0] >> 6 == 2) == 0 && (c.ssl = SSL_new(g->client))) {
        c.rbio = BIO_new(BIO_s_mem());
        c.wbio = BIO_new(BIO_s_mem());
        if (c.rbio && c.wbio) {
            SSL_set_bio(c.ssl, c.rbio, c.wbio);
            SSL_set_tlsext_host_name(c.ssl, g->sni_a);
            SSL_set_connect_state(c.ssl);
            ft_client_handshake(&x, &c);
            ft_client_stream(&x, &c, data[0], data + 2, size - 2);
        } else {
            BIO_free(c.rbio);
            BIO_free(c.wbio);
        }
    }
    SSL_free(c.ssl);
    ft_close(&x);
}

/* ---- mode 3: a fuzzed ssl-cert and CRL ------------------------------------ */
static void ft_certs(const uint8_t *data, size_t size)
{
    const ft_static *g = ft_get();
    const uint8_t *a = data + 2, *b;
    size_t blen, alen = fz_split_nul(a, size - 2, &b, &blen);
    char *root = malloc(alen + 1), *crl = NULL;
    if (!root) return;
    memcpy(root, a, alen);
    root[alen] = 0;
    if (b) {
        if (!(crl = malloc(blen + 1))) {
            free(root);
            return;
        }
        memcpy(crl, b, blen);
        crl[blen] = 0;
    }
    int err = 0;
    pf_tls_ctx *ctx = pf_tls_ctx_new(root, alen, FT_NAME, strlen(FT_NAME), &err);
    int readable = ctx != NULL;
    if (ctx) {
        /* Our leaf is the fixed CA's: only that CA takes it. */
        int id = pf_tls_ctx_set_identity(ctx, g->leaf, g->leaf_key);
        FZ_CHECK(id == 0 || id == PF_ERR_INVAL);
        (void)pf_tls_ctx_set_crl(ctx, crl);
        pf_tls_ctx_free(ctx);
    }
    hn_content c;
    if (alen > 0 && hn_content_make_ex(&c, 1000, FT_PIECE, 7, NULL, root) == 0) {
        hn_net *n = hn_new(3);
        hn_node *nd = n ? hn_add_node(n, NULL) : NULL;
        hn_tor *t = nd ? hn_add_torrent(nd, &c, HN_EMPTY, NULL) : NULL;
        if (nd) FZ_CHECK((t != NULL) == readable);
        if (t) {
            FZ_CHECK(pf_torrent_is_ssl(t->t));
            int id = pf_torrent_set_tls_identity(t->t, g->leaf, g->leaf_key);
            FZ_CHECK(id == 0 || id == PF_ERR_INVAL);
            (void)pf_torrent_set_tls_crl(t->t, crl);
            hn_settle(n);
        }
        hn_free(n);
        hn_content_free(&c);
    }
    free(root);
    free(crl);
    ERR_clear_error();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    switch (data[0] & 3) {
    case 0:
    case 1: ft_raw(data, size); break;
    case 2: ft_in_tls(data, size); break;
    default: ft_certs(data, size); break;
    }
    return 0;
}
