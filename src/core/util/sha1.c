/* SHA-1 through OpenSSL EVP, plus hex helpers. */
#include "core/util/sha1.h"

#include <openssl/evp.h>
#include <stdlib.h>

#include "core/util/mem.h"
#include "peerflow/peerflow.h"

struct pf_sha1_ctx {
    const pf_mem *mem;
    EVP_MD_CTX *md;
};

int pf_sha1(const void *data, size_t len, uint8_t out[PF_SHA1_LEN])
{
    unsigned int n = 0;
    if (EVP_Digest(data, len, out, &n, EVP_sha1(), NULL) != 1 ||
        n != PF_SHA1_LEN)
        return PF_ERR_NOMEM;
    return 0;
}

pf_sha1_ctx *pf_sha1_new(const pf_mem *mem)
{
    pf_sha1_ctx *c = pf__calloc(mem, 1, sizeof *c);
    if (!c) return NULL;
    c->mem = mem;
    c->md = EVP_MD_CTX_new();
    if (!c->md || EVP_DigestInit_ex(c->md, EVP_sha1(), NULL) != 1) {
        EVP_MD_CTX_free(c->md);
        pf__free(mem, c);
        return NULL;
    }
    return c;
}

int pf_sha1_update(pf_sha1_ctx *c, const void *data, size_t len)
{
    if (len == 0) return 0;
    return EVP_DigestUpdate(c->md, data, len) == 1 ? 0 : PF_ERR_NOMEM;
}

int pf_sha1_final(pf_sha1_ctx *c, uint8_t out[PF_SHA1_LEN])
{
    unsigned int n = 0;
    int ok = EVP_DigestFinal_ex(c->md, out, &n) == 1 && n == PF_SHA1_LEN;
    /* Reset so the context can hash the next message. */
    if (EVP_DigestInit_ex(c->md, EVP_sha1(), NULL) != 1) ok = 0;
    return ok ? 0 : PF_ERR_NOMEM;
}

void pf_sha1_free(pf_sha1_ctx *c)
{
    if (!c) return;
    EVP_MD_CTX_free(c->md);
    pf__free(c->mem, c);
}

void pf_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = 0;
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int pf_hex_decode(const char *in, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        /* Check the high digit first so a short string stops at its NUL. */
        int hi = hex_val(in[2 * i]);
        if (hi < 0) return PF_ERR_PARSE;
        int lo = hex_val(in[2 * i + 1]);
        if (lo < 0) return PF_ERR_PARSE;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
