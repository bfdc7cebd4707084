/* SHA-1 through OpenSSL EVP (piece hashes, info-hashes). */
#ifndef PF_CORE_SHA1_H
#define PF_CORE_SHA1_H

#include <stddef.h>
#include <stdint.h>

#include "peerflow/peerflow.h"

#define PF_SHA1_LEN 20

/* One-shot digest; returns 0 or PF_ERR_NOMEM. */
int pf_sha1(const void *data, size_t len, uint8_t out[PF_SHA1_LEN]);

/* Incremental digest for data that arrives in parts. */
typedef struct pf_sha1_ctx pf_sha1_ctx;
pf_sha1_ctx *pf_sha1_new(const pf_mem *mem); /* NULL: libc (OpenSSL allocates too) */
int pf_sha1_update(pf_sha1_ctx *c, const void *data, size_t len);
int pf_sha1_final(pf_sha1_ctx *c, uint8_t out[PF_SHA1_LEN]); /* resets */
void pf_sha1_free(pf_sha1_ctx *c);

/* Lower-case hex of n bytes into out (2n+1 bytes incl. NUL). */
void pf_hex_encode(const uint8_t *in, size_t n, char *out);
/* Parses exactly 2n hex digits; returns 0 or PF_ERR_PARSE. */
int pf_hex_decode(const char *in, size_t n, uint8_t *out);

#endif
