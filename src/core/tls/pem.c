/* PEM readers shared by the TLS layer, the operator PKI and the tracker's
 * token keys (pem.h). */
#include "core/tls/pem.h"

#include <limits.h>

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

static BIO *pem_bio(const char *pem, size_t len)
{
    if (!pem) return NULL;
    if (len == (size_t)-1) return BIO_new_mem_buf(pem, -1);
    return len > INT_MAX ? NULL : BIO_new_mem_buf(pem, (int)len);
}

X509 *pf__pem_cert(const char *pem, size_t len)
{
    BIO *b = pem_bio(pem, len);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, no_passphrase, NULL) : NULL;
    BIO_free(b);
    return x;
}

EVP_PKEY *pf__pem_key(const char *pem)
{
    BIO *b = pem_bio(pem, (size_t)-1);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL) : NULL;
    BIO_free(b);
    return k;
}

X509_CRL *pf__pem_crl(const char *pem)
{
    BIO *b = pem_bio(pem, (size_t)-1);
    X509_CRL *c = b ? PEM_read_bio_X509_CRL(b, NULL, no_passphrase, NULL) : NULL;
    BIO_free(b);
    return c;
}

STACK_OF(X509_CRL) *pf__pem_crls(const char *pem)
{
    STACK_OF(X509_CRL) *crls = sk_X509_CRL_new_null();
    BIO *b = pem_bio(pem, (size_t)-1);
    X509_CRL *c;
    while (crls && b && (c = PEM_read_bio_X509_CRL(b, NULL, no_passphrase, NULL)))
        if (!sk_X509_CRL_push(crls, c)) X509_CRL_free(c);
    BIO_free(b);
    return crls;
}
