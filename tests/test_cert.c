/* The operator PKI (core/tls/pki.c, include/peerflow/cert.h): a CA, leaves
 * that chain to it under OpenSSL's verifier for both TLS roles (no EKU),
 * the names libtorrent compares (SAN DNS and CN, byte for byte), expiry,
 * CRLs that revoke and accumulate, and every refusal: a CA key that is not
 * the CA's, another CA's CRL or leaf, garbage or cut PEM, encrypted keys,
 * bad names and times. */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "peerflow/cert.h"
#include "test.h"

#define NOW 1800000000LL /* Unix seconds, 2027 */
#define DAY 86400LL

typedef struct pair {
    char *cert, *key;
} pair;

static void pair_free(pair *p)
{
    pf_cert_free(p->cert);
    pf_cert_free(p->key);
    p->cert = p->key = NULL;
}

static X509 *pem_cert(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    return x;
}

static X509_CRL *pem_crl(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509_CRL *c = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL);
    BIO_free(b);
    return c;
}

static EVP_PKEY *pem_key(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    return k;
}

/* OpenSSL's verdict on leaf under ca alone (and crl, with CRL checks) at
 * time `at`, for the TLS role purpose: X509_V_OK or the error. */
static int verify_as(const char *ca, const char *leaf, const char *crl, int64_t at, int purpose)
{
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509 *root = pem_cert(ca), *x = pem_cert(leaf);
    X509_CRL *c = crl ? pem_crl(crl) : NULL;
    int rc = -1;
    if (st && ctx && root && x && (!crl || c) && X509_STORE_add_cert(st, root) == 1 &&
        (!c || X509_STORE_add_crl(st, c) == 1) && X509_STORE_CTX_init(ctx, st, x, NULL) == 1) {
        if (c) X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_CRL_CHECK);
        X509_STORE_CTX_set_time(ctx, 0, (time_t)at);
        X509_STORE_CTX_set_purpose(ctx, purpose);
        rc = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
    }
    X509_CRL_free(c);
    X509_free(x);
    X509_free(root);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    return rc;
}

/* Both roles: a peer is checked as a TLS client and as a server. */
static int verify(const char *ca, const char *leaf, const char *crl, int64_t at)
{
    int rc = verify_as(ca, leaf, crl, at, X509_PURPOSE_SSL_CLIENT);
    return rc == X509_V_OK ? verify_as(ca, leaf, crl, at, X509_PURPOSE_SSL_SERVER) : rc;
}

/* The leaf's only DNS SAN equals name (bytes), and so does its last CN. */
static int names_are(const char *leaf, const char *name)
{
    X509 *x = pem_cert(leaf);
    GENERAL_NAMES *gens = x ? X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL) : NULL;
    size_t n = strlen(name);
    int ok = gens && sk_GENERAL_NAME_num(gens) == 1;
    if (ok) {
        GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, 0);
        ok = gn->type == GEN_DNS && (size_t)ASN1_STRING_length(gn->d.dNSName) == n &&
             memcmp(ASN1_STRING_get0_data(gn->d.dNSName), name, n) == 0;
    }
    X509_NAME *subj = x ? X509_get_subject_name(x) : NULL;
    int last = -1;
    for (int i = -1; subj && (i = X509_NAME_get_index_by_NID(subj, NID_commonName, i)) >= 0;) last = i;
    ASN1_STRING *cn = last >= 0 ? X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, last)) : NULL;
    ok = ok && cn && ASN1_STRING_type(cn) == V_ASN1_UTF8STRING && (size_t)ASN1_STRING_length(cn) == n &&
         memcmp(ASN1_STRING_get0_data(cn), name, n) == 0;
    GENERAL_NAMES_free(gens);
    X509_free(x);
    return ok;
}

static int issue(const pair *ca, const char *name, int64_t nb, int64_t na, pair *out)
{
    return pf_cert_issue(ca->cert, ca->key, name, nb, na, &out->cert, &out->key);
}

static long crl_number(const char *crl)
{
    X509_CRL *c = pem_crl(crl);
    ASN1_INTEGER *num = c ? X509_CRL_get_ext_d2i(c, NID_crl_number, NULL, NULL) : NULL;
    long v = num ? ASN1_INTEGER_get(num) : -1;
    ASN1_INTEGER_free(num);
    X509_CRL_free(c);
    return v;
}

static int crl_entries(const char *crl)
{
    X509_CRL *c = pem_crl(crl);
    if (!c) return -1;
    STACK_OF(X509_REVOKED) *entries = X509_CRL_get_REVOKED(c);
    int n = entries ? sk_X509_REVOKED_num(entries) : 0;
    X509_CRL_free(c);
    return n;
}

TEST(cert_ca_and_leaf)
{
    pair ca = {0}, leaf = {0}, other = {0};
    CHECK_EQ(pf_cert_make_ca("peerflow test CA", NOW - 3600, 3650, &ca.cert, &ca.key), 0);
    CHECK(strncmp(ca.cert, "-----BEGIN CERTIFICATE-----\n", 28) == 0);
    CHECK(strncmp(ca.key, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
    X509 *root = pem_cert(ca.cert);
    CHECK(root != NULL);
    CHECK_EQ(X509_check_ca(root), 1);
    CHECK_EQ(X509_get_key_usage(root), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
    CHECK(X509_get0_subject_key_id(root) != NULL);
    CHECK_EQ(X509_get_signature_nid(root), NID_ecdsa_with_SHA256);
    CHECK_EQ(X509_check_issued(root, root), X509_V_OK);
    CHECK_EQ(ASN1_TIME_cmp_time_t(X509_get0_notAfter(root), (time_t)(NOW - 3600 + 3650 * DAY)), 0);
    X509_free(root);

    CHECK_EQ(issue(&ca, "swarm-a", NOW - 3600, NOW + 30 * DAY, &leaf), 0);
    CHECK_EQ(verify(ca.cert, leaf.cert, NULL, NOW), X509_V_OK);
    CHECK(names_are(leaf.cert, "swarm-a"));
    X509 *x = pem_cert(leaf.cert);
    EVP_PKEY *k = pem_key(leaf.key);
    CHECK(x && k);
    CHECK_EQ(X509_get_ext_by_NID(x, NID_ext_key_usage, -1), -1); /* no EKU */
    CHECK_EQ(X509_check_ca(x), 0);
    CHECK_EQ(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
    CHECK(X509_get0_authority_key_id(x) != NULL);
    CHECK_EQ(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
    CHECK_EQ(X509_check_private_key(x, k), 1);
    CHECK_EQ(EVP_PKEY_get_id(k), EVP_PKEY_EC);
    CHECK_EQ(EVP_PKEY_get_bits(k), 256);
    CHECK_EQ(ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), (time_t)(NOW - 3600)), 0);
    CHECK_EQ(ASN1_TIME_cmp_time_t(X509_get0_notAfter(x), (time_t)(NOW + 30 * DAY)), 0);
    /* Random serials: two leaves differ. */
    CHECK_EQ(issue(&ca, "swarm-a", NOW - 3600, NOW + 30 * DAY, &other), 0);
    X509 *y = pem_cert(other.cert);
    CHECK(y && ASN1_INTEGER_cmp(X509_get0_serialNumber(x), X509_get0_serialNumber(y)) != 0);
    BIGNUM *serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    CHECK(serial && BN_num_bits(serial) > 64 && BN_num_bits(serial) <= 128);
    BN_free(serial);
    X509_free(y);
    EVP_PKEY_free(k);
    X509_free(x);
    /* Not yet valid before its notBefore. */
    CHECK_EQ(verify(ca.cert, leaf.cert, NULL, NOW - 7200), X509_V_ERR_CERT_NOT_YET_VALID);
    pair_free(&other);
    pair_free(&leaf);
    pair_free(&ca);
}

TEST(cert_names)
{
    static const char *names[] = {"*", "Фильм 2025 — серия 1", "a name with spaces", "swarm-a.example"};
    pair ca = {0}, leaf = {0};
    CHECK_EQ(pf_cert_make_ca("CA", NOW, 30, &ca.cert, &ca.key), 0);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        CHECK_EQ(pf_cert_name_check(names[i]), 0);
        CHECK_EQ(issue(&ca, names[i], NOW, NOW + DAY, &leaf), 0);
        CHECK(names_are(leaf.cert, names[i]));
        CHECK_EQ(verify(ca.cert, leaf.cert, NULL, NOW + 1), X509_V_OK);
        pair_free(&leaf);
    }
    /* The longest name: 255 bytes, past the CN's 64 characters. */
    char longest[PF_CERT_NAME_MAX + 2];
    memset(longest, 'n', sizeof longest);
    longest[PF_CERT_NAME_MAX] = 0;
    CHECK_EQ(issue(&ca, longest, NOW, NOW + DAY, &leaf), 0);
    CHECK(names_are(leaf.cert, longest));
    CHECK_EQ(verify(ca.cert, leaf.cert, NULL, NOW + 1), X509_V_OK);
    pair_free(&leaf);
    /* Refused: empty, too long, control bytes, not UTF-8. */
    longest[PF_CERT_NAME_MAX] = 'n';
    longest[PF_CERT_NAME_MAX + 1] = 0;
    static const char *bad[] = {"",         "tab\there",     "bell\x07",     "del\x7f",     "c1\xc2\x85",
                                "\xff",     "\xc0\xaf",      "\xed\xa0\x80", "cut\xe2\x82", "\xf4\x90\x80\x80",
                                "\x80start"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ(pf_cert_name_check(bad[i]), PF_ERR_INVAL);
        CHECK_EQ(issue(&ca, bad[i], NOW, NOW + DAY, &leaf), PF_ERR_INVAL);
        CHECK(leaf.cert == NULL && leaf.key == NULL);
    }
    CHECK_EQ(pf_cert_name_check(longest), PF_ERR_INVAL);
    CHECK_EQ(issue(&ca, longest, NOW, NOW + DAY, &leaf), PF_ERR_INVAL);
    CHECK_EQ(pf_cert_name_check(NULL), PF_ERR_INVAL);
    pair_free(&ca);
}

TEST(cert_expired_and_foreign)
{
    pair ca = {0}, ca2 = {0}, old = {0}, rogue = {0};
    CHECK_EQ(pf_cert_make_ca("CA", NOW - 90 * DAY, 3650, &ca.cert, &ca.key), 0);
    CHECK_EQ(pf_cert_make_ca("CA", NOW - 90 * DAY, 3650, &ca2.cert, &ca2.key), 0);
    CHECK_EQ(issue(&ca, "swarm-a", NOW - 60 * DAY, NOW - 30 * DAY, &old), 0);
    CHECK_EQ(verify(ca.cert, old.cert, NULL, NOW), X509_V_ERR_CERT_HAS_EXPIRED);
    CHECK_EQ(verify(ca.cert, old.cert, NULL, NOW - 45 * DAY), X509_V_OK);
    /* The right name from another CA (with the same subject): refused. */
    CHECK_EQ(issue(&ca2, "swarm-a", NOW - DAY, NOW + DAY, &rogue), 0);
    CHECK(verify(ca.cert, rogue.cert, NULL, NOW) != X509_V_OK);
    CHECK_EQ(verify(ca2.cert, rogue.cert, NULL, NOW), X509_V_OK);
    pair_free(&rogue);
    pair_free(&old);
    pair_free(&ca2);
    pair_free(&ca);
}

TEST(cert_revoke)
{
    pair ca = {0}, a = {0}, b = {0}, c = {0};
    char *crl1 = NULL, *crl2 = NULL, *crl3 = NULL, *empty = NULL;
    CHECK_EQ(pf_cert_make_ca("CA", NOW - DAY, 3650, &ca.cert, &ca.key), 0);
    CHECK_EQ(issue(&ca, "swarm-a", NOW - DAY, NOW + 30 * DAY, &a), 0);
    CHECK_EQ(issue(&ca, "swarm-a", NOW - DAY, NOW + 30 * DAY, &b), 0);
    CHECK_EQ(issue(&ca, "*", NOW - DAY, NOW + 30 * DAY, &c), 0);
    /* An empty first CRL: everyone passes the CRL check. */
    CHECK_EQ(pf_cert_revoke(ca.cert, ca.key, NULL, NULL, 0, NOW, 7, &empty), 0);
    CHECK(strncmp(empty, "-----BEGIN X509 CRL-----\n", 25) == 0);
    CHECK_EQ(crl_entries(empty), 0);
    CHECK_EQ(crl_number(empty), 1);
    CHECK_EQ(verify(ca.cert, a.cert, empty, NOW + 60), X509_V_OK);
    /* Revoke a: a refused, b still fine. */
    const char *first[] = {a.cert};
    CHECK_EQ(pf_cert_revoke(ca.cert, ca.key, empty, first, 1, NOW, 7, &crl1), 0);
    CHECK_EQ(crl_number(crl1), 2);
    CHECK_EQ(crl_entries(crl1), 1);
    CHECK_EQ(verify(ca.cert, a.cert, crl1, NOW + 60), X509_V_ERR_CERT_REVOKED);
    CHECK_EQ(verify(ca.cert, b.cert, crl1, NOW + 60), X509_V_OK);
    CHECK_EQ(verify(ca.cert, c.cert, crl1, NOW + 60), X509_V_OK);
    X509_CRL *x = pem_crl(crl1);
    CHECK(x != NULL);
    CHECK_EQ(X509_CRL_get_version(x), X509_CRL_VERSION_2);
    CHECK_EQ(ASN1_TIME_cmp_time_t(X509_CRL_get0_lastUpdate(x), (time_t)NOW), 0);
    CHECK_EQ(ASN1_TIME_cmp_time_t(X509_CRL_get0_nextUpdate(x), (time_t)(NOW + 7 * DAY)), 0);
    CHECK(X509_CRL_get_ext_by_NID(x, NID_authority_key_identifier, -1) >= 0);
    X509_CRL_free(x);
    /* An update keeps a, adds b, lists a once; c stays fine. */
    const char *second[] = {b.cert, a.cert, b.cert};
    CHECK_EQ(pf_cert_revoke(ca.cert, ca.key, crl1, second, 3, NOW + DAY, 7, &crl2), 0);
    CHECK_EQ(crl_number(crl2), 3);
    CHECK_EQ(crl_entries(crl2), 2);
    CHECK_EQ(verify(ca.cert, a.cert, crl2, NOW + DAY + 60), X509_V_ERR_CERT_REVOKED);
    CHECK_EQ(verify(ca.cert, b.cert, crl2, NOW + DAY + 60), X509_V_ERR_CERT_REVOKED);
    CHECK_EQ(verify(ca.cert, c.cert, crl2, NOW + DAY + 60), X509_V_OK);
    /* Renewed without new leaves: same entries, a later nextUpdate. */
    CHECK_EQ(pf_cert_revoke(ca.cert, ca.key, crl2, NULL, 0, NOW + 6 * DAY, 7, &crl3), 0);
    CHECK_EQ(crl_entries(crl3), 2);
    CHECK_EQ(crl_number(crl3), 4);
    CHECK_EQ(verify(ca.cert, a.cert, crl3, NOW + 10 * DAY), X509_V_ERR_CERT_REVOKED);
    CHECK_EQ(verify(ca.cert, c.cert, crl3, NOW + 10 * DAY), X509_V_OK);
    /* A CRL past its nextUpdate fails every peer. */
    CHECK_EQ(verify(ca.cert, c.cert, crl2, NOW + 10 * DAY), X509_V_ERR_CRL_HAS_EXPIRED);
    pf_cert_free(empty);
    pf_cert_free(crl1);
    pf_cert_free(crl2);
    pf_cert_free(crl3);
    pair_free(&a);
    pair_free(&b);
    pair_free(&c);
    pair_free(&ca);
}

/* An encrypted PKCS#8 PEM of a fresh key. */
static char *encrypted_key(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL, *s = NULL;
    if (k && b &&
        PEM_write_bio_PrivateKey(b, k, EVP_aes_128_cbc(), (unsigned char *)"secret", 6, NULL, NULL) == 1) {
        long n = BIO_get_mem_data(b, &data);
        s = strndup(data, (size_t)n);
    }
    BIO_free(b);
    EVP_PKEY_free(k);
    return s;
}

/* Two CAs, a leaf of each, the second CA's CRL. */
typedef struct world {
    pair ca, ca2, leaf, foreign;
    char *crl2;
} world;

static int world_make(world *w)
{
    memset(w, 0, sizeof *w);
    return pf_cert_make_ca("CA", NOW, 30, &w->ca.cert, &w->ca.key) == 0 &&
           pf_cert_make_ca("CA2", NOW, 30, &w->ca2.cert, &w->ca2.key) == 0 &&
           issue(&w->ca, "swarm-a", NOW, NOW + DAY, &w->leaf) == 0 &&
           issue(&w->ca2, "swarm-a", NOW, NOW + DAY, &w->foreign) == 0 &&
           pf_cert_revoke(w->ca2.cert, w->ca2.key, NULL, NULL, 0, NOW, 7, &w->crl2) == 0;
}

static void world_free(world *w)
{
    pair_free(&w->ca);
    pair_free(&w->ca2);
    pair_free(&w->leaf);
    pair_free(&w->foreign);
    pf_cert_free(w->crl2);
}

TEST(cert_refuses_wrong_ca)
{
    world w;
    pair out = {0};
    char *res = NULL;
    CHECK(world_make(&w));
    /* A CA key that is not the CA's. */
    CHECK_EQ(pf_cert_issue(w.ca.cert, w.ca2.key, "swarm-a", NOW, NOW + DAY, &out.cert, &out.key), PF_ERR_INVAL);
    CHECK(out.cert == NULL && out.key == NULL);
    CHECK_EQ(pf_cert_revoke(w.ca.cert, w.ca2.key, NULL, NULL, 0, NOW, 7, &res), PF_ERR_INVAL);
    CHECK(res == NULL);
    /* A leaf (with its own key) as the CA: not a CA. */
    CHECK_EQ(pf_cert_issue(w.leaf.cert, w.leaf.key, "swarm-a", NOW, NOW + DAY, &out.cert, &out.key),
             PF_ERR_INVAL);
    /* Another CA's CRL or leaf. */
    CHECK_EQ(pf_cert_revoke(w.ca.cert, w.ca.key, w.crl2, NULL, 0, NOW, 7, &res), PF_ERR_INVAL);
    const char *foreign_leaf[] = {w.foreign.cert};
    CHECK_EQ(pf_cert_revoke(w.ca.cert, w.ca.key, NULL, foreign_leaf, 1, NOW, 7, &res), PF_ERR_INVAL);
    CHECK(res == NULL && out.cert == NULL);
    world_free(&w);
}

TEST(cert_refuses_garbage)
{
    world w;
    pair out = {0};
    char *res = NULL;
    CHECK(world_make(&w));
    const char *garbage = "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n";
    CHECK_EQ(pf_cert_issue("hello", w.ca.key, "n", NOW, NOW + DAY, &out.cert, &out.key), PF_ERR_PARSE);
    CHECK_EQ(pf_cert_issue(garbage, w.ca.key, "n", NOW, NOW + DAY, &out.cert, &out.key), PF_ERR_PARSE);
    CHECK_EQ(pf_cert_issue(w.ca.cert, "", "n", NOW, NOW + DAY, &out.cert, &out.key), PF_ERR_PARSE);
    CHECK_EQ(pf_cert_issue(w.ca.cert, w.ca.cert, "n", NOW, NOW + DAY, &out.cert, &out.key), PF_ERR_PARSE);
    CHECK_EQ(pf_cert_revoke(w.ca.cert, w.ca.key, garbage, NULL, 0, NOW, 7, &res), PF_ERR_PARSE);
    const char *junk_leaf[] = {w.leaf.cert, "junk"};
    CHECK_EQ(pf_cert_revoke(w.ca.cert, w.ca.key, NULL, junk_leaf, 2, NOW, 7, &res), PF_ERR_PARSE);
    CHECK(res == NULL && out.cert == NULL && out.key == NULL);
    /* An encrypted CA key: refused, no passphrase prompt. */
    char *enc = encrypted_key();
    CHECK(enc != NULL);
    CHECK_EQ(pf_cert_issue(w.ca.cert, enc, "n", NOW, NOW + DAY, &out.cert, &out.key), PF_ERR_PARSE);
    free(enc);
    /* Every cut of a good PEM is refused, or fine once the END line is whole. */
    size_t n = strlen(w.ca.cert);
    for (size_t cut = 0; cut <= n; cut++) {
        char *p = strndup(w.ca.cert, cut);
        int rc = pf_cert_issue(p, w.ca.key, "n", NOW, NOW + DAY, &out.cert, &out.key);
        CHECK(rc == PF_ERR_PARSE || (rc == 0 && cut >= n - 1));
        pair_free(&out);
        free(p);
    }
    /* The caller's OpenSSL error queue is as it was. */
    ERR_clear_error();
    CHECK_EQ(pf_cert_issue(garbage, w.ca.key, "n", NOW, NOW + DAY, &out.cert, &out.key), PF_ERR_PARSE);
    CHECK_EQ(ERR_peek_error(), 0);
    world_free(&w);
}

TEST(cert_refuses_bad_arguments)
{
    pair ca = {0}, out = {0};
    char *res = NULL;
    CHECK_EQ(pf_cert_make_ca("CA", NOW, 30, &ca.cert, &ca.key), 0);
    CHECK_EQ(pf_cert_issue(ca.cert, ca.key, "n", NOW, NOW, &out.cert, &out.key), PF_ERR_INVAL);
    CHECK_EQ(pf_cert_issue(ca.cert, ca.key, "n", -1, NOW, &out.cert, &out.key), PF_ERR_INVAL);
    CHECK_EQ(pf_cert_issue(ca.cert, ca.key, "n", NOW, INT64_MAX, &out.cert, &out.key), PF_ERR_INVAL);
    CHECK_EQ(pf_cert_issue(NULL, ca.key, "n", NOW, NOW + 1, &out.cert, &out.key), PF_ERR_INVAL);
    CHECK_EQ(pf_cert_issue(ca.cert, ca.key, "n", NOW, NOW + 1, NULL, &out.key), PF_ERR_INVAL);
    CHECK_EQ(pf_cert_make_ca("CA", NOW, 0, &out.cert, &out.key), PF_ERR_INVAL);
    CHECK_EQ(pf_cert_make_ca("CA", NOW, PF_CERT_DAYS_MAX + 1, &out.cert, &out.key), PF_ERR_INVAL);
    CHECK_EQ(pf_cert_make_ca("CA", INT64_MAX, 1, &out.cert, &out.key), PF_ERR_INVAL);
    CHECK_EQ(pf_cert_make_ca("", NOW, 1, &out.cert, &out.key), PF_ERR_INVAL);
    CHECK_EQ(pf_cert_make_ca("0123456789012345678901234567890123456789012345678901234567890123456789", NOW, 1,
                             &out.cert, &out.key),
             PF_ERR_INVAL);
    CHECK_EQ(pf_cert_revoke(ca.cert, ca.key, NULL, NULL, 0, NOW, 0, &res), PF_ERR_INVAL);
    CHECK_EQ(pf_cert_revoke(ca.cert, ca.key, NULL, NULL, 0, NOW, PF_CERT_CRL_DAYS_MAX + 1, &res), PF_ERR_INVAL);
    CHECK_EQ(pf_cert_revoke(ca.cert, ca.key, NULL, NULL, 1, NOW, 7, &res), PF_ERR_INVAL);
    CHECK_EQ(pf_cert_revoke(ca.cert, ca.key, NULL, NULL, 0, INT64_MIN, 7, &res), PF_ERR_INVAL);
    CHECK(out.cert == NULL && out.key == NULL && res == NULL);
    pf_cert_free(NULL);
    pair_free(&ca);
}

TEST_MAIN(cert_ca_and_leaf, cert_names, cert_expired_and_foreign, cert_revoke, cert_refuses_wrong_ca,
          cert_refuses_garbage, cert_refuses_bad_arguments)
