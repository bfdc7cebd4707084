/* The operator's PKI for TLS swarms (include/peerflow/cert.h): a root,
 * leaves signed by it, CRLs.  OpenSSL 3 libcrypto, PEM through memory
 * BIOs; the OpenSSL error queue is left as the caller had it. */
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "core/tls/pem.h"
#include "core/util/mem.h"
#include "peerflow/cert.h"

#define DAY_S 86400
#define TIME_MAX 253402300799LL /* 9999-12-31T23:59:59Z: GeneralizedTime's last second */

/* Names ---------------------------------------------------------------------- */

/* Valid UTF-8 (no overlong form, surrogate or code point past U+10FFFF)
 * without C0 or C1 control characters or DEL. */
static int text_ok(const unsigned char *s, size_t n)
{
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
        if (!len || len > n - i) return 0;
        uint32_t cp = len == 1 ? c : c & (0x7fu >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp < 0x20 ||
            (cp >= 0x7f && cp < 0xa0))
            return 0;
        i += len;
    }
    return 1;
}

static int name_ok(const char *name, size_t max)
{
    size_t n = name ? strlen(name) : 0;
    return n >= 1 && n <= max && text_ok((const unsigned char *)name, n);
}

int pf_cert_name_check(const char *name) { return name_ok(name, PF_CERT_NAME_MAX) ? 0 : PF_ERR_INVAL; }

static int time_ok(int64_t t) { return t >= 0 && t <= TIME_MAX; }

/* PEM in and out ----------------------------------------------------------------- */

enum { OUT_CERT, OUT_KEY, OUT_CRL };

/* obj as a NUL-terminated PEM string (malloc), or NULL. */
static char *pem_out(int kind, const void *obj)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *s = NULL;
    int ok = bio && (kind == OUT_CERT  ? PEM_write_bio_X509(bio, obj)
                     : kind == OUT_KEY ? PEM_write_bio_PrivateKey(bio, obj, NULL, NULL, 0, NULL, NULL)
                                       : PEM_write_bio_X509_CRL(bio, obj)) == 1;
    long n = ok ? BIO_get_mem_data(bio, &data) : 0;
    if (n > 0) s = pf__strndup(NULL, data, (size_t)n);
    BIO_free(bio); /* a memory BIO's buffer is cleared as it is freed */
    return s;
}

void pf_cert_free(char *pem)
{
    if (!pem) return;
    OPENSSL_cleanse(pem, strlen(pem));
    pf__free(NULL, pem);
}

/* *cert_pem and *key_pem for x and key: 0 or PF_ERR_NOMEM (both NULL). */
static int emit(const X509 *x, const EVP_PKEY *key, char **cert_pem, char **key_pem)
{
    *cert_pem = pem_out(OUT_CERT, x);
    *key_pem = pem_out(OUT_KEY, key);
    if (*cert_pem && *key_pem) return 0;
    pf_cert_free(*cert_pem);
    pf_cert_free(*key_pem);
    *cert_pem = *key_pem = NULL;
    return PF_ERR_NOMEM;
}

/* Building blocks ------------------------------------------------------------------ */

static EVP_PKEY *ec_key(void) { return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"); }

/* SHA-256, except for the keys that sign without a separate digest. */
static const EVP_MD *digest_for(const EVP_PKEY *k)
{
    int id = EVP_PKEY_get_id(k);
    return id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448 ? NULL : EVP_sha256();
}

/* 128 random bits, never 0. */
static ASN1_INTEGER *random_serial(void)
{
    BIGNUM *bn = BN_new();
    ASN1_INTEGER *s = NULL;
    if (bn && BN_rand(bn, 128, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 && (!BN_is_zero(bn) || BN_one(bn)))
        s = BN_to_ASN1_INTEGER(bn, NULL);
    BN_free(bn);
    return s;
}

/* A v3 certificate for key with subject CN=cn (a UTF8String of cn's bytes:
 * OpenSSL's 64-character bound is not applied), a random serial, valid
 * [not_before, not_after]; no issuer, extensions or signature yet. */
static X509 *cert_new(EVP_PKEY *key, const char *cn, int64_t not_before, int64_t not_after)
{
    X509 *x = X509_new();
    ASN1_INTEGER *serial = random_serial();
    int ok = x && serial && X509_set_version(x, X509_VERSION_3) == 1 && X509_set_serialNumber(x, serial) == 1 &&
             X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_commonName, V_ASN1_UTF8STRING,
                                        (const unsigned char *)cn, -1, -1, 0) == 1 &&
             ASN1_TIME_set(X509_getm_notBefore(x), (time_t)not_before) &&
             ASN1_TIME_set(X509_getm_notAfter(x), (time_t)not_after) && X509_set_pubkey(x, key) == 1;
    ASN1_INTEGER_free(serial);
    if (ok) return x;
    X509_free(x);
    return NULL;
}

/* Adds the extension nid=value (openssl.cnf syntax) to a certificate
 * (cert) or a CRL (crl), with issuer for the key identifiers. */
static int add_ext(X509 *cert, X509_CRL *crl, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, NULL, crl, 0);
    X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
    int ok = e && (cert ? X509_add_ext(cert, e, -1) : X509_CRL_add_ext(crl, e, -1)) == 1;
    X509_EXTENSION_free(e);
    return ok;
}

/* subjectAltName DNS:name, name's bytes as they are (libtorrent compares
 * bytes; a UTF-8 name is not IDNA-encoded). */
static int add_san(X509 *x, const char *name)
{
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
    int ok = 0;
    if (gens && gn && ia5 && ASN1_STRING_set(ia5, name, (int)strlen(name)) == 1) {
        GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
        ia5 = NULL;
        if (sk_GENERAL_NAME_push(gens, gn) > 0) {
            gn = NULL;
            ok = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1;
        }
    }
    ASN1_IA5STRING_free(ia5);
    GENERAL_NAME_free(gn);
    GENERAL_NAMES_free(gens);
    return ok;
}

/* The CA ------------------------------------------------------------------------ */

typedef struct ca_pair {
    X509 *cert;
    EVP_PKEY *key;
} ca_pair;

static void ca_free(ca_pair *ca)
{
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
}

/* Parses the CA's certificate and key: PF_ERR_PARSE, or PF_ERR_INVAL when
 * the key is not the certificate's or the certificate is not a CA that
 * may sign certificates and CRLs. */
static int ca_load(const char *cert_pem, const char *key_pem, ca_pair *ca)
{
    ca->cert = pf__pem_cert(cert_pem, (size_t)-1);
    ca->key = pf__pem_key(key_pem);
    if (!ca->cert || !ca->key) return PF_ERR_PARSE;
    uint32_t ku = X509_get_key_usage(ca->cert); /* UINT32_MAX without the extension */
    if (X509_check_private_key(ca->cert, ca->key) != 1 || X509_check_ca(ca->cert) == 0 ||
        (ku & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) != (KU_KEY_CERT_SIGN | KU_CRL_SIGN))
        return PF_ERR_INVAL;
    return 0;
}

int pf_cert_make_ca(const char *common_name, int64_t not_before_unix, unsigned days, char **cert_pem,
                    char **key_pem)
{
    if (!cert_pem || !key_pem) return PF_ERR_INVAL;
    *cert_pem = *key_pem = NULL;
    if (!name_ok(common_name, PF_CERT_CN_MAX) || days < 1 || days > PF_CERT_DAYS_MAX ||
        !time_ok(not_before_unix) || !time_ok(not_before_unix + (int64_t)days * DAY_S))
        return PF_ERR_INVAL;
    int64_t not_after = not_before_unix + (int64_t)days * DAY_S;
    ERR_set_mark();
    EVP_PKEY *key = ec_key();
    X509 *x = key ? cert_new(key, common_name, not_before_unix, not_after) : NULL;
    int ok = x && X509_set_issuer_name(x, X509_get_subject_name(x)) == 1 &&
             add_ext(x, NULL, x, NID_basic_constraints, "critical,CA:TRUE") &&
             add_ext(x, NULL, x, NID_key_usage, "critical,keyCertSign,cRLSign") &&
             add_ext(x, NULL, x, NID_subject_key_identifier, "hash") && X509_sign(x, key, digest_for(key)) > 0;
    int rc = ok ? emit(x, key, cert_pem, key_pem) : PF_ERR_NOMEM;
    X509_free(x);
    EVP_PKEY_free(key);
    ERR_pop_to_mark();
    return rc;
}

/* Leaves -------------------------------------------------------------------------- */

static X509 *leaf_new(const ca_pair *ca, EVP_PKEY *key, const char *name, int64_t not_before, int64_t not_after)
{
    X509 *x = cert_new(key, name, not_before, not_after);
    int ok = x && X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) == 1 &&
             add_ext(x, NULL, ca->cert, NID_basic_constraints, "critical,CA:FALSE") &&
             add_ext(x, NULL, ca->cert, NID_key_usage, "critical,digitalSignature") &&
             add_ext(x, NULL, ca->cert, NID_subject_key_identifier, "hash") &&
             add_ext(x, NULL, ca->cert, NID_authority_key_identifier, "keyid,issuer") && add_san(x, name) &&
             X509_sign(x, ca->key, digest_for(ca->key)) > 0;
    if (ok) return x;
    X509_free(x);
    return NULL;
}

int pf_cert_issue(const char *ca_cert_pem, const char *ca_key_pem, const char *name, int64_t not_before_unix,
                  int64_t not_after_unix, char **cert_pem, char **key_pem)
{
    if (!cert_pem || !key_pem) return PF_ERR_INVAL;
    *cert_pem = *key_pem = NULL;
    if (!ca_cert_pem || !ca_key_pem || !name_ok(name, PF_CERT_NAME_MAX) || !time_ok(not_before_unix) ||
        !time_ok(not_after_unix) || not_before_unix >= not_after_unix)
        return PF_ERR_INVAL;
    ERR_set_mark();
    ca_pair ca = {0};
    EVP_PKEY *key = NULL;
    X509 *x = NULL;
    int rc = ca_load(ca_cert_pem, ca_key_pem, &ca);
    if (!rc) {
        key = ec_key();
        x = key ? leaf_new(&ca, key, name, not_before_unix, not_after_unix) : NULL;
        rc = x ? 0 : PF_ERR_NOMEM;
    }
    if (!rc) rc = emit(x, key, cert_pem, key_pem);
    X509_free(x);
    EVP_PKEY_free(key);
    ca_free(&ca);
    ERR_pop_to_mark();
    return rc;
}

/* CRLs ------------------------------------------------------------------------------ */

/* The CA's current CRL: PF_ERR_PARSE, or PF_ERR_INVAL if another issuer's
 * or its signature fails. */
static int crl_old_load(const char *pem, const ca_pair *ca, X509_CRL **out)
{
    *out = pf__pem_crl(pem);
    if (!*out) return PF_ERR_PARSE;
    if (X509_NAME_cmp(X509_CRL_get_issuer(*out), X509_get_subject_name(ca->cert)) != 0 ||
        X509_CRL_verify(*out, X509_get0_pubkey(ca->cert)) != 1)
        return PF_ERR_INVAL;
    return 0;
}

/* A v2 CRL of ca for [this_update, next_update] holding old's entries. */
static X509_CRL *crl_new(const ca_pair *ca, const X509_CRL *old, ASN1_TIME *this_update, ASN1_TIME *next_update)
{
    X509_CRL *crl = X509_CRL_new();
    int ok = crl && X509_CRL_set_version(crl, X509_CRL_VERSION_2) == 1 &&
             X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->cert)) == 1 &&
             X509_CRL_set1_lastUpdate(crl, this_update) == 1 && X509_CRL_set1_nextUpdate(crl, next_update) == 1;
    STACK_OF(X509_REVOKED) *entries = old ? X509_CRL_get_REVOKED((X509_CRL *)old) : NULL;
    for (int i = 0; ok && i < sk_X509_REVOKED_num(entries); i++) {
        X509_REVOKED *r = X509_REVOKED_dup(sk_X509_REVOKED_value(entries, i));
        ok = r && X509_CRL_add0_revoked(crl, r) == 1;
        if (!ok) X509_REVOKED_free(r);
    }
    if (ok) return crl;
    X509_CRL_free(crl);
    return NULL;
}

static int crl_lists(X509_CRL *crl, const ASN1_INTEGER *serial)
{
    STACK_OF(X509_REVOKED) *entries = X509_CRL_get_REVOKED(crl);
    for (int i = 0; i < sk_X509_REVOKED_num(entries); i++)
        if (ASN1_INTEGER_cmp(X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(entries, i)), serial) == 0)
            return 1;
    return 0;
}

/* Adds leaf_pem's serial, unless listed: PF_ERR_PARSE, PF_ERR_INVAL (not
 * issued by ca), PF_ERR_NOMEM. */
static int crl_add_leaf(X509_CRL *crl, const ca_pair *ca, const char *leaf_pem, ASN1_TIME *when)
{
    X509 *leaf = leaf_pem ? pf__pem_cert(leaf_pem, (size_t)-1) : NULL;
    int rc = !leaf ? PF_ERR_PARSE : 0;
    if (!rc && (X509_check_issued(ca->cert, leaf) != X509_V_OK || X509_verify(leaf, X509_get0_pubkey(ca->cert)) != 1))
        rc = PF_ERR_INVAL;
    if (!rc && !crl_lists(crl, X509_get0_serialNumber(leaf))) {
        X509_REVOKED *r = X509_REVOKED_new();
        int ok = r && X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(leaf)) == 1 &&
                 X509_REVOKED_set_revocationDate(r, when) == 1 && X509_CRL_add0_revoked(crl, r) == 1;
        if (!ok) X509_REVOKED_free(r);
        rc = ok ? 0 : PF_ERR_NOMEM;
    }
    X509_free(leaf);
    return rc;
}

/* cRLNumber: old's plus one (1 without old or its number). */
static int crl_number(X509_CRL *crl, const X509_CRL *old)
{
    ASN1_INTEGER *prev = old ? X509_CRL_get_ext_d2i(old, NID_crl_number, NULL, NULL) : NULL;
    BIGNUM *bn = prev ? ASN1_INTEGER_to_BN(prev, NULL) : BN_new();
    ASN1_INTEGER *num = bn && BN_add_word(bn, 1) ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    int ok = num && X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, X509V3_ADD_DEFAULT) == 1;
    ASN1_INTEGER_free(prev);
    ASN1_INTEGER_free(num);
    BN_free(bn);
    return ok;
}

/* Number, authority key identifier, entries in order, signature. */
static int crl_finish(X509_CRL *crl, const ca_pair *ca, const X509_CRL *old)
{
    return crl_number(crl, old) && add_ext(NULL, crl, ca->cert, NID_authority_key_identifier, "keyid,issuer") &&
                   X509_CRL_sort(crl) == 1 && X509_CRL_sign(crl, ca->key, digest_for(ca->key)) > 0
               ? 0
               : PF_ERR_NOMEM;
}

/* The new CRL of pf_cert_revoke, its arguments checked. */
static int crl_make(const ca_pair *ca, const X509_CRL *old, const char *const *leaf_pems, size_t n,
                    int64_t now_unix, unsigned days, char **crl_pem_out)
{
    ASN1_TIME *now = ASN1_TIME_set(NULL, (time_t)now_unix);
    ASN1_TIME *next = ASN1_TIME_set(NULL, (time_t)(now_unix + (int64_t)days * DAY_S));
    X509_CRL *crl = now && next ? crl_new(ca, old, now, next) : NULL;
    int rc = crl ? 0 : PF_ERR_NOMEM;
    for (size_t i = 0; !rc && i < n; i++) rc = crl_add_leaf(crl, ca, leaf_pems[i], now);
    if (!rc) rc = crl_finish(crl, ca, old);
    if (!rc) rc = (*crl_pem_out = pem_out(OUT_CRL, crl)) ? 0 : PF_ERR_NOMEM;
    X509_CRL_free(crl);
    ASN1_TIME_free(now);
    ASN1_TIME_free(next);
    return rc;
}

int pf_cert_revoke(const char *ca_cert_pem, const char *ca_key_pem, const char *crl_pem,
                   const char *const *leaf_pems, size_t n, int64_t now_unix, unsigned next_update_days,
                   char **crl_pem_out)
{
    if (!crl_pem_out) return PF_ERR_INVAL;
    *crl_pem_out = NULL;
    if (!ca_cert_pem || !ca_key_pem || (n && !leaf_pems) || next_update_days < 1 ||
        next_update_days > PF_CERT_CRL_DAYS_MAX || !time_ok(now_unix) ||
        !time_ok(now_unix + (int64_t)next_update_days * DAY_S))
        return PF_ERR_INVAL;
    ERR_set_mark();
    ca_pair ca = {0};
    X509_CRL *old = NULL;
    int rc = ca_load(ca_cert_pem, ca_key_pem, &ca);
    if (!rc && crl_pem) rc = crl_old_load(crl_pem, &ca, &old);
    if (!rc) rc = crl_make(&ca, old, leaf_pems, n, now_unix, next_update_days, crl_pem_out);
    X509_CRL_free(old);
    ca_free(&ca);
    ERR_pop_to_mark();
    return rc;
}
