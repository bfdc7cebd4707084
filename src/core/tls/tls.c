/* TLS for peer connections over memory BIOs (see tls.h).  The rules are
 * libtorrent's SSL torrents' (docs/design/tls-peers.md), made stricter
 * where libtorrent is lax: the name must equal the torrent's exactly (not
 * a prefix), TLS 1.3 only, a revocation list when the operator gives one. */
#include "core/tls/tls.h"

#include <limits.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/tls/pem.h"
#include "peerflow/peerflow.h"

struct pf_tls_ctx {
    SSL_CTX *ssl;
    unsigned refs;
    char *name;
    size_t name_len;
    int identity, crl;
    pf_tls_lookup_fn lookup; /* a router's */
    void *lookup_ud;
};

struct pf_tls {
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
    pf_tls_ctx *chosen; /* a reference */
    pf_tls_refusal refusal;
    int closed;
    char detail[192];
};

/* Where OpenSSL keeps our pointers: the context on its SSL_CTX, the
 * connection on its SSL. */
static int g_ctx_idx = -1, g_conn_idx = -1;
static CRYPTO_ONCE g_once = CRYPTO_ONCE_STATIC_INIT;

static void init_indexes(void)
{
    g_ctx_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    g_conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static int indexes(void) { return CRYPTO_THREAD_run_once(&g_once, init_indexes) && g_ctx_idx >= 0 && g_conn_idx >= 0; }

const char *pf_tls_refusal_name(pf_tls_refusal r)
{
    static const char *const names[PF_TLS_NREFUSALS] = {
        "ok", "unknown_torrent", "no_certificate", "untrusted", "expired", "revoked",
        "wrong_name", "wrong_torrent", "plain", "failed"};
    return (unsigned)r < PF_TLS_NREFUSALS ? names[r] : "?";
}

/* ---- certificates ------------------------------------------------------ */
/* 1 if `v` (n bytes) is the torrent's name or "*", byte for byte. */
static int name_is(const pf_tls_ctx *c, const unsigned char *v, int n)
{
    if (!v || n < 0) return 0;
    if (n == 1 && v[0] == '*') return 1;
    return (size_t)n == c->name_len && memcmp(v, c->name, c->name_len) == 0;
}

/* libtorrent's rule: any DNS SubjectAltName, else the subject's last CN
 * (libtorrent consults the CN too), equals the name. */
static int leaf_names_torrent(const pf_tls_ctx *c, X509 *leaf, char *seen, size_t cap)
{
    int ok = 0;
    size_t at = 0;
    GENERAL_NAMES *sans = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans) && !ok; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
        if (g->type != GEN_DNS) continue;
        const unsigned char *v = ASN1_STRING_get0_data(g->d.dNSName);
        int n = ASN1_STRING_length(g->d.dNSName);
        ok = name_is(c, v, n);
        if (at < cap) at += (size_t)snprintf(seen + at, cap - at, "%sDNS:%.*s", at ? "," : "", n > 64 ? 64 : n, v);
    }
    GENERAL_NAMES_free(sans);
    X509_NAME *subj = X509_get_subject_name(leaf);
    int last = -1;
    for (int i = -1; (i = X509_NAME_get_index_by_NID(subj, NID_commonName, i)) >= 0;) last = i;
    if (!ok && last >= 0) {
        const ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, last));
        const unsigned char *v = ASN1_STRING_get0_data(cn);
        int n = ASN1_STRING_length(cn);
        ok = name_is(c, v, n);
        if (at < cap) snprintf(seen + at, cap - at, "%sCN:%.*s", at ? "," : "", n > 64 ? 64 : n, v);
    }
    return ok;
}

static pf_tls_refusal refusal_of_verify(int err)
{
    switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID: return PF_TLS_EXPIRED;
    case X509_V_ERR_CERT_REVOKED: return PF_TLS_REVOKED;
    case X509_V_ERR_HOSTNAME_MISMATCH: return PF_TLS_WRONG_NAME;
    default: return PF_TLS_UNTRUSTED;
    }
}

static int verify_cb(int ok, X509_STORE_CTX *x)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
    pf_tls *t = ssl ? SSL_get_ex_data(ssl, g_conn_idx) : NULL;
    pf_tls_ctx *c = ssl ? SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), g_ctx_idx) : NULL;
    if (!t || !c) return 0;
    if (!ok) {
        int err = X509_STORE_CTX_get_error(x);
        if (t->refusal == PF_TLS_OK) {
            t->refusal = refusal_of_verify(err);
            snprintf(t->detail, sizeof t->detail, "%s", X509_verify_cert_error_string(err));
        }
        return 0;
    }
    if (X509_STORE_CTX_get_error_depth(x) > 0) return 1;
    char seen[128] = "";
    if (leaf_names_torrent(c, X509_STORE_CTX_get_current_cert(x), seen, sizeof seen)) return 1;
    t->refusal = PF_TLS_WRONG_NAME;
    snprintf(t->detail, sizeof t->detail, "a certificate for another torrent (%s)", seen[0] ? seen : "no names");
    X509_STORE_CTX_set_error(x, X509_V_ERR_HOSTNAME_MISMATCH);
    return 0;
}

/* ---- contexts ------------------------------------------------------------ */
static SSL_CTX *new_ssl_ctx(pf_tls_ctx *c)
{
    SSL_CTX *s = SSL_CTX_new(TLS_method());
    if (!s) return NULL;
    SSL_CTX_set_min_proto_version(s, TLS1_3_VERSION);
    SSL_CTX_set_num_tickets(s, 0);
    SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_mode(s, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_ex_data(s, g_ctx_idx, c);
    return s;
}

pf_tls_ctx *pf_tls_ctx_new(const char *root_pem, size_t root_len, const char *name, size_t name_len, int *err)
{
    *err = PF_ERR_NOMEM;
    if (!indexes()) return NULL;
    pf_tls_ctx *c = OPENSSL_zalloc(sizeof *c);
    if (!c) return NULL;
    c->refs = 1;
    c->name = OPENSSL_malloc(name_len + 1);
    c->ssl = new_ssl_ctx(c);
    X509_STORE *store = X509_STORE_new();
    if (!c->name || !c->ssl || !store) goto fail;
    memcpy(c->name, name, name_len);
    c->name[name_len] = 0;
    c->name_len = name_len;
    X509 *root = pf__pem_cert(root_pem, root_len);
    if (!root) {
        *err = PF_ERR_INVAL;
        goto fail;
    }
    int added = X509_STORE_add_cert(store, root);
    X509_free(root);
    if (!added) goto fail;
    SSL_CTX_set_cert_store(c->ssl, store); /* takes it */
    store = NULL;
    SSL_CTX_set_verify(c->ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT | SSL_VERIFY_CLIENT_ONCE, verify_cb);
    *err = 0;
    return c;
fail:
    X509_STORE_free(store);
    ERR_clear_error();
    pf_tls_ctx_free(c);
    return NULL;
}

/* A certificate we would present: does it pass the rule our peers apply? */
static int own_cert_ok(pf_tls_ctx *c, X509 *cert)
{
    X509_STORE_CTX *x = X509_STORE_CTX_new();
    int ok = x && X509_STORE_CTX_init(x, SSL_CTX_get_cert_store(c->ssl), cert, NULL) == 1 &&
             X509_verify_cert(x) == 1;
    X509_STORE_CTX_free(x);
    char seen[128];
    return ok && leaf_names_torrent(c, cert, seen, sizeof seen);
}

int pf_tls_ctx_set_identity(pf_tls_ctx *c, const char *cert_pem, const char *key_pem)
{
    if (!c || !cert_pem || !key_pem || c->lookup) return PF_ERR_INVAL;
    int rc = PF_ERR_INVAL;
    X509 *cert = pf__pem_cert(cert_pem, (size_t)-1);
    EVP_PKEY *key = pf__pem_key(key_pem);
    if (cert && key && own_cert_ok(c, cert) && SSL_CTX_use_certificate(c->ssl, cert) == 1 &&
        SSL_CTX_use_PrivateKey(c->ssl, key) == 1 && SSL_CTX_check_private_key(c->ssl) == 1) {
        c->identity = 1;
        rc = 0;
    }
    X509_free(cert);
    EVP_PKEY_free(key);
    ERR_clear_error();
    return rc;
}

int pf_tls_ctx_has_identity(const pf_tls_ctx *c) { return c && c->identity; }

/* A list past its nextUpdate (or without one) would refuse every peer:
 * refused when given, so the operator hears of it at once. */
static int crl_stale(const X509_CRL *crl)
{
    const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
    return !next || X509_cmp_current_time(next) <= 0;
}

/* A fresh store with the root and crls (the old one may be in use by a
 * handshake; OpenSSL reference-counts stores). */
static int replace_store(pf_tls_ctx *c, STACK_OF(X509_CRL) *crls)
{
    X509_STORE *old = SSL_CTX_get_cert_store(c->ssl);
    STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(old);
    X509 *root = NULL;
    for (int i = 0; i < sk_X509_OBJECT_num(objs) && !root; i++)
        root = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
    X509_STORE *s = X509_STORE_new();
    if (!s || !root || X509_STORE_add_cert(s, root) != 1) {
        X509_STORE_free(s);
        return PF_ERR_NOMEM;
    }
    for (int i = 0; i < sk_X509_CRL_num(crls); i++) {
        X509_CRL *crl = sk_X509_CRL_value(crls, i);
        EVP_PKEY *pk = X509_get0_pubkey(root);
        int rc = !pk || X509_CRL_verify(crl, pk) != 1 ? PF_ERR_INVAL : crl_stale(crl) ? PF_ERR_TIMEOUT : 0;
        if (rc == 0 && X509_STORE_add_crl(s, crl) != 1) rc = PF_ERR_NOMEM;
        if (rc) {
            X509_STORE_free(s);
            return rc;
        }
    }
    if (sk_X509_CRL_num(crls) > 0) X509_STORE_set_flags(s, X509_V_FLAG_CRL_CHECK);
    SSL_CTX_set_cert_store(c->ssl, s);
    c->crl = sk_X509_CRL_num(crls) > 0;
    return 0;
}

int pf_tls_ctx_set_crl(pf_tls_ctx *c, const char *crl_pem)
{
    if (!c || c->lookup) return PF_ERR_INVAL;
    STACK_OF(X509_CRL) *crls = pf__pem_crls(crl_pem && crl_pem[0] ? crl_pem : NULL);
    if (!crls) return PF_ERR_NOMEM;
    int rc = crl_pem && crl_pem[0] && sk_X509_CRL_num(crls) == 0 ? PF_ERR_INVAL : 0;
    if (rc == 0) rc = replace_store(c, crls);
    sk_X509_CRL_pop_free(crls, X509_CRL_free);
    ERR_clear_error();
    return rc;
}

static void ctx_unref(pf_tls_ctx *c)
{
    if (!c || --c->refs > 0) return;
    SSL_CTX_free(c->ssl);
    OPENSSL_free(c->name);
    OPENSSL_free(c);
}

void pf_tls_ctx_free(pf_tls_ctx *c) { ctx_unref(c); }

/* ---- the router ---------------------------------------------------------- */
static int hex_nibble(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* The info-hash from SNI: its first 40 characters in hex (either case),
 * as libtorrent reads it. */
static int sni_info_hash(const char *name, uint8_t ih[20])
{
    if (!name || strnlen(name, 40) < 40) return -1;
    for (int i = 0; i < 20; i++) {
        int hi = hex_nibble(name[2 * i]), lo = hex_nibble(name[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        ih[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static int sni_cb(SSL *ssl, int *alert, void *arg)
{
    pf_tls_ctx *router = arg;
    pf_tls *t = SSL_get_ex_data(ssl, g_conn_idx);
    uint8_t ih[20];
    pf_tls_ctx *c = NULL;
    if (t && sni_info_hash(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name), ih) == 0)
        c = router->lookup(router->lookup_ud, ih);
    if (!t || !c || !c->identity) {
        if (t) {
            t->refusal = PF_TLS_NO_TORRENT;
            snprintf(t->detail, sizeof t->detail, "SNI names no SSL torrent we serve");
        }
        *alert = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    /* Called again for the second ClientHello after a HelloRetryRequest,
     * which must name the same torrent (RFC 8446 4.1.2); it is chosen
     * already, and holds its one reference. */
    if (t->chosen) {
        if (t->chosen == c) return SSL_TLSEXT_ERR_OK;
        t->refusal = PF_TLS_FAILED;
        snprintf(t->detail, sizeof t->detail, "SNI changed after HelloRetryRequest");
        *alert = SSL_AD_ILLEGAL_PARAMETER;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    if (SSL_set_SSL_CTX(ssl, c->ssl) != c->ssl) return SSL_TLSEXT_ERR_ALERT_FATAL;
    /* SSL_set_SSL_CTX takes the certificate, not the verify rule. */
    SSL_set_verify(ssl, SSL_CTX_get_verify_mode(c->ssl), SSL_CTX_get_verify_callback(c->ssl));
    if (c->crl) X509_VERIFY_PARAM_set_flags(SSL_get0_param(ssl), X509_V_FLAG_CRL_CHECK);
    c->refs++;
    t->chosen = c;
    return SSL_TLSEXT_ERR_OK;
}

pf_tls_ctx *pf_tls_router_new(pf_tls_lookup_fn lookup, void *ud)
{
    if (!indexes() || !lookup) return NULL;
    pf_tls_ctx *c = OPENSSL_zalloc(sizeof *c);
    if (!c) return NULL;
    c->refs = 1;
    c->lookup = lookup;
    c->lookup_ud = ud;
    if (!(c->ssl = new_ssl_ctx(c))) {
        OPENSSL_free(c);
        return NULL;
    }
    SSL_CTX_set_tlsext_servername_callback(c->ssl, sni_cb);
    SSL_CTX_set_tlsext_servername_arg(c->ssl, c);
    return c;
}

/* ---- connections ----------------------------------------------------------- */
static pf_tls *conn_new(pf_tls_ctx *c)
{
    pf_tls *t = OPENSSL_zalloc(sizeof *t);
    if (!t) return NULL;
    t->ssl = SSL_new(c->ssl);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio || !SSL_set_ex_data(t->ssl, g_conn_idx, t)) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        SSL_free(t->ssl);
        OPENSSL_free(t);
        ERR_clear_error();
        return NULL;
    }
    BIO_set_mem_eof_return(t->rbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    return t;
}

pf_tls *pf_tls_client(pf_tls_ctx *c, const uint8_t info_hash[20])
{
    if (!c || !c->identity) return NULL;
    pf_tls *t = conn_new(c);
    if (!t) return NULL;
    char sni[41];
    for (int i = 0; i < 20; i++) snprintf(sni + 2 * i, 3, "%02x", info_hash[i]);
    if (!SSL_set_tlsext_host_name(t->ssl, sni)) {
        pf_tls_free(t);
        return NULL;
    }
    if (c->crl) X509_VERIFY_PARAM_set_flags(SSL_get0_param(t->ssl), X509_V_FLAG_CRL_CHECK);
    SSL_set_connect_state(t->ssl);
    c->refs++;
    t->chosen = c;
    return t;
}

pf_tls *pf_tls_server(pf_tls_ctx *router)
{
    if (!router || !router->lookup) return NULL;
    pf_tls *t = conn_new(router);
    if (t) SSL_set_accept_state(t->ssl);
    return t;
}

void pf_tls_free(pf_tls *t)
{
    if (!t) return;
    SSL_free(t->ssl);
    ctx_unref(t->chosen);
    OPENSSL_free(t);
}

/* A handshake or record failure: why, for the log and the counters. */
static int failed(pf_tls *t)
{
    unsigned long e = ERR_peek_last_error();
    if (t->refusal == PF_TLS_OK) {
        t->refusal = ERR_GET_REASON(e) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE ? PF_TLS_NO_CERT : PF_TLS_FAILED;
        if (e)
            ERR_error_string_n(e, t->detail, sizeof t->detail);
        else
            snprintf(t->detail, sizeof t->detail, "TLS failure");
    }
    ERR_clear_error();
    return PF_ERR_DENIED;
}

/* Decrypts what rbio holds into plain (read in place in its spare room). */
static int read_plain(pf_tls *t, pf_buf *plain)
{
    for (;;) {
        if (pf_buf_reserve(plain, 16384) != 0) return PF_ERR_NOMEM;
        size_t got = 0;
        size_t room = plain->cap - plain->len;
        int r = SSL_read_ex(t->ssl, plain->data + plain->len, room, &got);
        if (r == 1) {
            plain->len += got;
            continue;
        }
        int e = SSL_get_error(t->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
        if (e == SSL_ERROR_ZERO_RETURN) {
            t->closed = 1;
            return PF_ERR_CLOSED;
        }
        return failed(t);
    }
}

int pf_tls_recv(pf_tls *t, const uint8_t *data, size_t n, pf_buf *plain)
{
    ERR_clear_error();
    if (t->refusal != PF_TLS_OK) return PF_ERR_DENIED;
    if (t->closed) return PF_ERR_CLOSED;
    while (n > 0) {
        int chunk = n > (1u << 30) ? 1 << 30 : (int)n;
        if (BIO_write(t->rbio, data, chunk) != chunk) return PF_ERR_NOMEM;
        data += chunk;
        n -= (size_t)chunk;
    }
    if (!SSL_is_init_finished(t->ssl)) {
        int r = SSL_do_handshake(t->ssl);
        if (r != 1) {
            int e = SSL_get_error(t->ssl, r);
            return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : failed(t);
        }
    }
    return read_plain(t, plain);
}

int pf_tls_start(pf_tls *t)
{
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) return 0;
    int e = SSL_get_error(t->ssl, r);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : failed(t);
}

int pf_tls_established(const pf_tls *t) { return t->refusal == PF_TLS_OK && SSL_is_init_finished(t->ssl); }

int pf_tls_write(pf_tls *t, const uint8_t *plain, size_t n)
{
    ERR_clear_error();
    if (!pf_tls_established(t)) return PF_ERR_INVAL;
    while (n > 0) {
        size_t done = 0;
        if (SSL_write_ex(t->ssl, plain, n, &done) != 1) return failed(t);
        plain += done;
        n -= done;
    }
    return 0;
}

size_t pf_tls_pending(const pf_tls *t) { return BIO_ctrl_pending(t->wbio); }

size_t pf_tls_take(pf_tls *t, pf_buf *dst)
{
    size_t n = BIO_ctrl_pending(t->wbio), got = 0;
    if (n == 0 || pf_buf_reserve(dst, n) != 0) return 0;
    if (BIO_read_ex(t->wbio, dst->data + dst->len, n, &got) != 1) return 0;
    dst->len += got;
    return got;
}

void pf_tls_shutdown(pf_tls *t)
{
    ERR_clear_error();
    if (SSL_is_init_finished(t->ssl)) SSL_shutdown(t->ssl);
    ERR_clear_error();
}

pf_tls_refusal pf_tls_refusal_of(const pf_tls *t) { return t->refusal; }
const char *pf_tls_detail(const pf_tls *t) { return t->detail; }
pf_tls_ctx *pf_tls_chosen(const pf_tls *t) { return t->chosen; }
