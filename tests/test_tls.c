/* TLS peers of SSL torrents (src/core/tls, src/core/swarm/tls_link.c) on
 * the in-memory harness: real engine sessions, real TLS 1.3 records,
 * certificates made by pf_cert_* at run time.  Every refusal the issue
 * names: no certificate, another torrent's, another CA's, expired,
 * revoked; and the connections around them: plain to an SSL torrent, SNI
 * of one torrent with the handshake of another, no SNI. */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <time.h>

#include "core/swarm/swarm.h"
#include "engine_harness.h"
#include "peerflow/cert.h"
#include "test.h"

#define SEC PF_NS_PER_SEC
#define NAME "content.bin" /* the harness's torrent name */

typedef struct pki {
    char *ca, *ca_key, *rogue, *rogue_key;
} pki;

typedef struct ident {
    char *cert, *key;
} ident;

static pki g_pki;

static void pki_make(void)
{
    if (g_pki.ca) return;
    int64_t now = (int64_t)time(NULL);
    pf_cert_make_ca("test swarm CA", now - 3600, 30, &g_pki.ca, &g_pki.ca_key);
    pf_cert_make_ca("rogue CA", now - 3600, 30, &g_pki.rogue, &g_pki.rogue_key);
}

/* A leaf for name, valid [from, to] relative to now (seconds). */
static ident leaf(const char *ca, const char *ca_key, const char *name, int64_t from, int64_t to)
{
    ident id = {0};
    int64_t now = (int64_t)time(NULL);
    if (pf_cert_issue(ca, ca_key, name, now + from, now + to, &id.cert, &id.key) != 0) id.cert = id.key = NULL;
    return id;
}

static ident good(const char *name) { return leaf(g_pki.ca, g_pki.ca_key, name, -3600, 86400); }

static void ident_free(ident *id)
{
    pf_cert_free(id->cert);
    pf_cert_free(id->key);
}

static int pred_complete(hn_net *n, void *ud)
{
    (void)n;
    return ((hn_tor *)ud)->complete;
}

static int pred_half(hn_net *n, void *ud)
{
    (void)n;
    pf_torrent_stats st;
    pf_torrent_get_stats(((hn_tor *)ud)->t, &st);
    return st.have >= st.pieces / 2;
}

static void run_for(hn_net *n, uint64_t ns)
{
    uint64_t end = n->now + ns;
    while (n->now < end) hn_step(n);
}

typedef struct pair {
    hn_content c;
    hn_net *n;
    hn_node *a, *b;
    hn_tor *seed, *leech;
} pair;

/* A seeds, B leeches, B dials A; each with its identity (cert NULL: none). */
static int pair_make(pair *pr, const ident *ia, const ident *ib, uint64_t seed)
{
    pki_make();
    memset(pr, 0, sizeof *pr);
    if (hn_content_make_ex(&pr->c, 48 * 16384, 16384, seed, NULL, g_pki.ca) != 0) return -1;
    pr->n = hn_new(seed);
    pr->n->chunk_max = 3000; /* records split across reads */
    pr->a = hn_add_node(pr->n, NULL);
    pr->b = hn_add_node(pr->n, NULL);
    pr->seed = hn_add_torrent(pr->a, &pr->c, HN_FULL, NULL);
    pr->leech = hn_add_torrent(pr->b, &pr->c, HN_EMPTY, NULL);
    if (!pr->seed || !pr->leech) return -1;
    if (ia && ia->cert && pf_torrent_set_tls_identity(pr->seed->t, ia->cert, ia->key) != 0) return -2;
    if (ib && ib->cert && pf_torrent_set_tls_identity(pr->leech->t, ib->cert, ib->key) != 0) return -3;
    hn_add_peer(pr->leech, pr->a);
    return 0;
}

static void pair_free(pair *pr)
{
    hn_free(pr->n);
    hn_content_free(&pr->c);
}

static uint64_t refused(const pf_session *s, pf_tls_refusal r) { return s->tls_refused[r]; }

static uint64_t link_bytes(const hn_net *n)
{
    uint64_t k = 0;
    for (size_t i = 0; i < n->nlinks; i++) k += n->links[i]->delivered[0] + n->links[i]->delivered[1];
    return k;
}

/* Both sides with certificates for the torrent: byte-exact over TLS. */
TEST(tls_swarm_completes)
{
    pki_make();
    ident ia = good(NAME), ib = good(NAME);
    pair pr;
    CHECK_EQ(pair_make(&pr, &ia, &ib, 11), 0);
    pr.a->up_bps = 256 * 1024; /* ~3 s: time to look at it midway */
    CHECK(hn_run_until(pr.n, pred_half, pr.leech, 60 * SEC));
    pf_torrent_stats st;
    pf_torrent_get_stats(pr.leech->t, &st);
    CHECK_EQ(st.ssl, 1);
    CHECK_EQ(st.tls_peers, 1);
    /* Ciphertext written maps back to plaintext: the wire code never
     * hears of more sent than it queued, and hears of all of it. */
    pf_torrent *seed_t = pr.seed->t;
    CHECK_EQ(seed_t->npeers, 1);
    const pf_peer *sp = seed_t->peers[0];
    hn_link *l = hn_find_link(pr.n, pr.b, pr.a, 1);
    CHECK(l != NULL && l->end[1].p == sp);
    uint32_t steps = 0;
    while (!pr.leech->complete && steps++ < 100000) {
        /* What the wire code heard was written: under what the link
         * carried (the records' framing and the handshake), not far. */
        uint64_t cipher = l->delivered[1];
        CHECK(sp->sent_total <= sp->out_total);
        CHECK(sp->sent_total + 1000 < cipher);
        CHECK(cipher - sp->sent_total < cipher / 100 + 65536);
        hn_step(pr.n);
    }
    CHECK(pr.leech->complete);
    CHECK_EQ(memcmp(pr.leech->data, pr.c.data, pr.c.size), 0);
    pf_torrent_get_stats(pr.leech->t, &st);
    CHECK_EQ(st.tls_refused, 0);
    pf_torrent_get_stats(seed_t, &st);
    CHECK_EQ(st.uploaded, pr.c.size);
    /* Ciphertext on the wire: more bytes than the payload, none of the
     * plain handshake's. */
    CHECK(link_bytes(pr.n) > pr.c.size);
    CHECK_EQ(pr.n->anomalies, 0);
    pair_free(&pr);
    ident_free(&ia);
    ident_free(&ib);
}

/* "*" names every torrent of the root (libtorrent's rule). */
TEST(tls_star_certificate)
{
    pki_make();
    ident ia = good(NAME), ib = good("*");
    pair pr;
    CHECK_EQ(pair_make(&pr, &ia, &ib, 12), 0);
    CHECK(hn_run_until(pr.n, pred_complete, pr.leech, 60 * SEC));
    CHECK_EQ(memcmp(pr.leech->data, pr.c.data, pr.c.size), 0);
    pair_free(&pr);
    ident_free(&ia);
    ident_free(&ib);
}

/* Our own certificate is checked when given: another torrent's, another
 * CA's or a key that does not match is refused at once. */
TEST(tls_identity_checked)
{
    pki_make();
    ident other = good("other.bin"), rogue = leaf(g_pki.rogue, g_pki.rogue_key, NAME, -3600, 86400);
    ident ok = good(NAME), ok2 = good(NAME);
    pair pr;
    CHECK_EQ(pair_make(&pr, NULL, NULL, 13), 0);
    CHECK_EQ(pf_torrent_set_tls_identity(pr.seed->t, other.cert, other.key), PF_ERR_INVAL);
    CHECK_EQ(pf_torrent_set_tls_identity(pr.seed->t, rogue.cert, rogue.key), PF_ERR_INVAL);
    CHECK_EQ(pf_torrent_set_tls_identity(pr.seed->t, ok.cert, ok2.key), PF_ERR_INVAL);
    CHECK_EQ(pf_torrent_set_tls_identity(pr.seed->t, "garbage", "garbage"), PF_ERR_INVAL);
    CHECK_EQ(pf_torrent_set_tls_identity(pr.seed->t, ok.cert, ok.key), 0);
    CHECK_EQ(pf_torrent_set_tls_crl(pr.seed->t, "not a CRL"), PF_ERR_INVAL);
    /* A list past its next update would refuse everyone: refused. */
    char *stale = NULL;
    CHECK_EQ(pf_cert_revoke(g_pki.ca, g_pki.ca_key, NULL, NULL, 0, (int64_t)time(NULL) - 30 * 86400, 7, &stale), 0);
    CHECK_EQ(pf_torrent_set_tls_crl(pr.seed->t, stale), PF_ERR_TIMEOUT);
    pf_cert_free(stale);
    CHECK_EQ(pf_torrent_is_ssl(pr.seed->t), 1);
    pair_free(&pr);
    /* An ordinary torrent has no use for one. */
    hn_content c;
    CHECK_EQ(hn_content_make(&c, 4 * 16384, 16384, 5, NULL), 0);
    hn_net *n = hn_new(5);
    hn_tor *t = hn_add_torrent(hn_add_node(n, NULL), &c, HN_FULL, NULL);
    CHECK(t != NULL);
    CHECK_EQ(pf_torrent_is_ssl(t->t), 0);
    CHECK_EQ(pf_torrent_set_tls_identity(t->t, ok.cert, ok.key), PF_ERR_UNSUPPORTED);
    hn_free(n);
    hn_content_free(&c);
    ident_free(&other);
    ident_free(&rogue);
    ident_free(&ok);
    ident_free(&ok2);
}

/* Without our certificate an SSL torrent neither dials nor is reachable. */
TEST(tls_no_identity_no_dial)
{
    pki_make();
    ident ia = good(NAME);
    pair pr;
    CHECK_EQ(pair_make(&pr, &ia, NULL, 14), 0);
    run_for(pr.n, 10 * SEC);
    CHECK_EQ(pr.n->nlinks, 0);
    pf_torrent_stats st;
    pf_torrent_get_stats(pr.leech->t, &st);
    CHECK_EQ(st.have, 0);
    pair_free(&pr);
    ident_free(&ia);
}

/* ---- raw peers: a plain handshake, and a TLS client driven by hand ---- */
TEST(tls_plain_connection_refused)
{
    pki_make();
    ident ia = good(NAME);
    pair pr;
    CHECK_EQ(pair_make(&pr, &ia, NULL, 23), 0);
    hn_raw *r = hn_raw_open(pr.a);
    uint8_t hs[PF_HANDSHAKE_LEN];
    hn_raw_handshake(hs, pr.c.info_hash, "-XX0000-plainplain00", 1);
    hn_raw_send(r, hs, sizeof hs);
    hn_settle(pr.n);
    CHECK(r->closed);
    CHECK_EQ(pf_buf_unread(&r->out), 0);
    CHECK_EQ(refused(pr.a->s, PF_TLS_PLAIN), 1);
    pair_free(&pr);
    ident_free(&ia);
}

typedef struct tls_client {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *rbio, *wbio;
} tls_client;

/* A TLS client with cert (NULL: none), SNI (NULL: none). */
static int tc_open(tls_client *tc, const ident *id, const char *sni)
{
    memset(tc, 0, sizeof *tc);
    tc->ctx = SSL_CTX_new(TLS_client_method());
    if (!tc->ctx) return -1;
    SSL_CTX_set_verify(tc->ctx, SSL_VERIFY_NONE, NULL);
    if (id) {
        BIO *b = BIO_new_mem_buf(id->cert, -1), *k = BIO_new_mem_buf(id->key, -1);
        X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
        EVP_PKEY *pk = PEM_read_bio_PrivateKey(k, NULL, NULL, NULL);
        SSL_CTX_use_certificate(tc->ctx, x);
        SSL_CTX_use_PrivateKey(tc->ctx, pk);
        X509_free(x);
        EVP_PKEY_free(pk);
        BIO_free(b);
        BIO_free(k);
    }
    tc->ssl = SSL_new(tc->ctx);
    tc->rbio = BIO_new(BIO_s_mem());
    tc->wbio = BIO_new(BIO_s_mem());
    SSL_set_bio(tc->ssl, tc->rbio, tc->wbio);
    if (sni) SSL_set_tlsext_host_name(tc->ssl, sni);
    SSL_set_connect_state(tc->ssl);
    return 0;
}

static void tc_close(tls_client *tc)
{
    SSL_free(tc->ssl);
    SSL_CTX_free(tc->ctx);
}

/* Moves bytes both ways until quiet; plaintext the engine sent lands in
 * got.  Returns 1 if the handshake finished on our side. */
static int tc_pump(tls_client *tc, hn_raw *r, hn_net *n, const uint8_t *plain, size_t plen, pf_buf *got)
{
    for (int round = 0; round < 20; round++) {
        SSL_do_handshake(tc->ssl);
        if (plain && SSL_is_init_finished(tc->ssl)) {
            SSL_write(tc->ssl, plain, (int)plen);
            plain = NULL;
        }
        uint8_t buf[65536];
        int k;
        while ((k = BIO_read(tc->wbio, buf, sizeof buf)) > 0)
            if (!r->closed) hn_raw_send(r, buf, (size_t)k);
        hn_settle(n);
        if (pf_buf_unread(&r->out)) {
            BIO_write(tc->rbio, pf_buf_head(&r->out), (int)pf_buf_unread(&r->out));
            pf_buf_consume(&r->out, pf_buf_unread(&r->out));
        }
        while ((k = SSL_read(tc->ssl, buf, sizeof buf)) > 0) pf_buf_append(got, buf, (size_t)k);
        if (r->closed && BIO_ctrl_pending(tc->rbio) == 0) break;
    }
    ERR_clear_error();
    return SSL_is_init_finished(tc->ssl);
}

static void hex40(const uint8_t ih[20], char out[41])
{
    for (int i = 0; i < 20; i++) snprintf(out + 2 * i, 3, "%02x", ih[i]);
}

/* A good certificate, SNI of the SSL torrent, the handshake of an
 * ordinary torrent on the same node: refused (libtorrent lets it in). */
TEST(tls_sni_and_handshake_must_agree)
{
    pki_make();
    ident ia = good(NAME), ib = good(NAME);
    pair pr;
    CHECK_EQ(pair_make(&pr, &ia, NULL, 24), 0);
    hn_content plain;
    CHECK_EQ(hn_content_make(&plain, 8 * 16384, 16384, 99, NULL), 0);
    CHECK(hn_add_torrent(pr.a, &plain, HN_FULL, NULL) != NULL);
    hn_settle(pr.n);
    char sni[41];
    hex40(pr.c.info_hash, sni);
    uint8_t hs[PF_HANDSHAKE_LEN];
    pf_buf got;
    pf_buf_init(&got);
    /* The right torrent: a 68-byte BitTorrent handshake comes back. */
    tls_client tc;
    CHECK_EQ(tc_open(&tc, &ib, sni), 0);
    hn_raw *r = hn_raw_open(pr.a);
    hn_raw_handshake(hs, pr.c.info_hash, "-XX0000-rightright00", 1);
    CHECK(tc_pump(&tc, r, pr.n, hs, sizeof hs, &got));
    CHECK(pf_buf_unread(&got) >= PF_HANDSHAKE_LEN);
    CHECK_EQ(memcmp(pf_buf_head(&got) + 28, pr.c.info_hash, 20), 0);
    CHECK(!r->closed);
    tc_close(&tc);
    /* SNI of the SSL torrent, handshake of the plain one. */
    pf_buf_reset(&got);
    CHECK_EQ(tc_open(&tc, &ib, sni), 0);
    r = hn_raw_open(pr.a);
    hn_raw_handshake(hs, plain.info_hash, "-XX0000-wrongwrong00", 1);
    tc_pump(&tc, r, pr.n, hs, sizeof hs, &got);
    CHECK(r->closed);
    CHECK_EQ(pf_buf_unread(&got), 0);
    CHECK_EQ(refused(pr.a->s, PF_TLS_WRONG_TORRENT), 1);
    tc_close(&tc);
    /* No SNI, and SNI of the plain torrent: unrecognized_name. */
    for (int k = 0; k < 2; k++) {
        char psni[41];
        hex40(plain.info_hash, psni);
        CHECK_EQ(tc_open(&tc, &ib, k ? psni : NULL), 0);
        r = hn_raw_open(pr.a);
        CHECK(!tc_pump(&tc, r, pr.n, NULL, 0, &got));
        CHECK(r->closed);
        tc_close(&tc);
    }
    CHECK_EQ(refused(pr.a->s, PF_TLS_NO_TORRENT), 2);
    /* No certificate: refused, nothing in clear. */
    CHECK_EQ(tc_open(&tc, NULL, sni), 0);
    r = hn_raw_open(pr.a);
    hn_raw_handshake(hs, pr.c.info_hash, "-XX0000-nocertnocert", 1);
    tc_pump(&tc, r, pr.n, hs, sizeof hs, &got);
    CHECK(r->closed);
    CHECK_EQ(pf_buf_unread(&got), 0);
    CHECK_EQ(refused(pr.a->s, PF_TLS_NO_CERT), 1);
    tc_close(&tc);
    CHECK_EQ(pr.n->anomalies, 0);
    pf_buf_free(&got);
    hn_content_free(&plain);
    pair_free(&pr);
    ident_free(&ia);
    ident_free(&ib);
}

/* A viewer whose certificate is bad in one way dials the seed (a TLS
 * client driven by hand, as an attacker would): the seed refuses it for
 * that reason and sends nothing in clear. */
static void refuse_case(const ident *ib, pf_tls_refusal want, const char *crl, uint64_t seed)
{
    ident ia = good(NAME);
    pair pr;
    CHECK_EQ(pair_make(&pr, &ia, NULL, seed), 0);
    if (crl) CHECK_EQ(pf_torrent_set_tls_crl(pr.seed->t, crl), 0);
    hn_settle(pr.n);
    char sni[41];
    hex40(pr.c.info_hash, sni);
    tls_client tc;
    CHECK_EQ(tc_open(&tc, ib, sni), 0);
    hn_raw *r = hn_raw_open(pr.a);
    uint8_t hs[PF_HANDSHAKE_LEN];
    hn_raw_handshake(hs, pr.c.info_hash, "-XX0000-badcertbadce", 1);
    pf_buf got;
    pf_buf_init(&got);
    tc_pump(&tc, r, pr.n, hs, sizeof hs, &got);
    CHECK(r->closed);
    CHECK_EQ(pf_buf_unread(&got), 0);
    CHECK_EQ(refused(pr.a->s, want), 1);
    pf_torrent_stats st;
    pf_torrent_get_stats(pr.seed->t, &st);
    CHECK_EQ(st.tls_refused, 1);
    CHECK_EQ(st.uploaded, 0);
    pf_buf_free(&got);
    tc_close(&tc);
    pair_free(&pr);
    ident_free(&ia);
}

TEST(tls_refuses_other_torrent_cert)
{
    pki_make();
    /* Issued for another torrent; a prefix of the name is not the name
     * (libtorrent 2.0.8 accepts it; we do not). */
    ident other = good("other.bin"), prefix = good("content");
    refuse_case(&other, PF_TLS_WRONG_NAME, NULL, 15);
    refuse_case(&prefix, PF_TLS_WRONG_NAME, NULL, 16);
    ident_free(&other);
    ident_free(&prefix);
}

TEST(tls_refuses_rogue_expired_revoked)
{
    pki_make();
    ident rogue = leaf(g_pki.rogue, g_pki.rogue_key, NAME, -3600, 86400);
    ident expired = leaf(g_pki.ca, g_pki.ca_key, NAME, -86400 * 10, -86400);
    ident revoked = good(NAME), other = good(NAME);
    CHECK(rogue.cert && expired.cert && revoked.cert);
    refuse_case(&rogue, PF_TLS_UNTRUSTED, NULL, 17);
    refuse_case(&expired, PF_TLS_EXPIRED, NULL, 18);
    refuse_case(NULL, PF_TLS_NO_CERT, NULL, 26);
    char *crl = NULL;
    const char *leaves[1] = {revoked.cert};
    CHECK_EQ(pf_cert_revoke(g_pki.ca, g_pki.ca_key, NULL, leaves, 1, (int64_t)time(NULL), 7, &crl), 0);
    refuse_case(&revoked, PF_TLS_REVOKED, crl, 19);
    /* The same CRL lets the others in. */
    ident ia = good(NAME);
    pair pr;
    CHECK_EQ(pair_make(&pr, &ia, &other, 20), 0);
    CHECK_EQ(pf_torrent_set_tls_crl(pr.seed->t, crl), 0);
    CHECK(hn_run_until(pr.n, pred_complete, pr.leech, 60 * SEC));
    pair_free(&pr);
    /* A CRL of another CA is refused; the one in force stays. */
    char *rogue_crl = NULL;
    const char *rogue_leaves[1] = {rogue.cert};
    CHECK_EQ(pf_cert_revoke(g_pki.rogue, g_pki.rogue_key, NULL, rogue_leaves, 1, (int64_t)time(NULL), 7, &rogue_crl), 0);
    CHECK_EQ(pair_make(&pr, &ia, &revoked, 21), 0);
    CHECK_EQ(pf_torrent_set_tls_crl(pr.seed->t, crl), 0);
    CHECK_EQ(pf_torrent_set_tls_crl(pr.seed->t, rogue_crl), PF_ERR_INVAL);
    run_for(pr.n, 10 * SEC);
    CHECK_EQ(pr.leech->complete, 0);
    CHECK(refused(pr.a->s, PF_TLS_REVOKED) >= 1);
    pair_free(&pr);
    pf_cert_free(crl);
    pf_cert_free(rogue_crl);
    ident_free(&ia);
    ident_free(&rogue);
    ident_free(&expired);
    ident_free(&revoked);
    ident_free(&other);
}

/* The dialler checks the acceptor too: the leecher's revocation list names
 * the seed's certificate, so it refuses the seed and gets nothing. */
TEST(tls_dialler_checks_acceptor)
{
    pki_make();
    ident ia = good(NAME), ib = good(NAME);
    pair pr;
    CHECK_EQ(pair_make(&pr, &ia, &ib, 22), 0);
    char *crl = NULL;
    const char *leaves[1] = {ia.cert};
    CHECK_EQ(pf_cert_revoke(g_pki.ca, g_pki.ca_key, NULL, leaves, 1, (int64_t)time(NULL), 7, &crl), 0);
    CHECK_EQ(pf_torrent_set_tls_crl(pr.leech->t, crl), 0);
    run_for(pr.n, 20 * SEC);
    pf_torrent_stats st;
    pf_torrent_get_stats(pr.leech->t, &st);
    CHECK_EQ(st.have, 0);
    CHECK(refused(pr.b->s, PF_TLS_REVOKED) >= 1);
    CHECK_EQ(refused(pr.a->s, PF_TLS_REVOKED), 0);
    pair_free(&pr);
    pf_cert_free(crl);
    ident_free(&ia);
    ident_free(&ib);
}

/* Garbage after a TLS record header: refused, no crash. */
TEST(tls_garbage_refused)
{
    pki_make();
    ident ia = good(NAME);
    pair pr;
    CHECK_EQ(pair_make(&pr, &ia, NULL, 25), 0);
    hn_raw *r = hn_raw_open(pr.a);
    uint8_t junk[300];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)(i * 37 + 11);
    junk[0] = 0x16;
    hn_raw_send(r, junk, sizeof junk);
    hn_settle(pr.n);
    CHECK(r->closed);
    CHECK(refused(pr.a->s, PF_TLS_FAILED) >= 1);
    pair_free(&pr);
    ident_free(&ia);
}

static void pki_free(void)
{
    pf_cert_free(g_pki.ca);
    pf_cert_free(g_pki.ca_key);
    pf_cert_free(g_pki.rogue);
    pf_cert_free(g_pki.rogue_key);
}

TEST(tls_cleanup) { pki_free(); }

TEST_MAIN(tls_swarm_completes, tls_star_certificate, tls_identity_checked, tls_no_identity_no_dial,
          tls_refuses_other_torrent_cert, tls_refuses_rogue_expired_revoked, tls_dialler_checks_acceptor,
          tls_plain_connection_refused, tls_sni_and_handshake_must_agree, tls_garbage_refused, tls_cleanup)
