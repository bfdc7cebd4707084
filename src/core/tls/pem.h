/* PEM text to OpenSSL objects, from memory, never prompting for a
 * passphrase (an encrypted key does not parse).  NULL if nothing parses;
 * OpenSSL's error queue may then hold why. */
#ifndef PF_CORE_TLS_PEM_H
#define PF_CORE_TLS_PEM_H

#include <stddef.h>

#include <openssl/pem.h>

/* len: the text's bytes, or (size_t)-1 for a NUL-terminated string. */
X509 *pf__pem_cert(const char *pem, size_t len);
EVP_PKEY *pf__pem_key(const char *pem);
X509_CRL *pf__pem_crl(const char *pem);
/* Every CRL in the text, in order (an empty stack if none). */
STACK_OF(X509_CRL) *pf__pem_crls(const char *pem);

#endif
