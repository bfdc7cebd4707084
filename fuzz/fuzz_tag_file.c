/* Fuzz the piece tag file parser (net/tag_store.h).  Each input is tried
 * twice: as it is (an HMAC that holds is out of reach, so every refusal
 * path before it), and sealed (the input with its HMAC under the fuzz key
 * appended, as a file written by this key would be), which reaches the
 * checks after the HMAC.  Invariants: an accepted file re-encodes to the
 * same bytes (the format is canonical); a refusal says why, returns
 * PF_ERR_PARSE or PF_ERR_INVAL and leaves the tags untouched. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fuzz_util.h"
#include "net/tag_store.h"

#define FZ_MAX_PIECES 4096u

static const uint8_t k_ih[20] = "fuzz-tags--infohash!";

static void one(const pf__tag_key *k, const uint8_t *data, size_t size, uint32_t n)
{
    static uint64_t tags[FZ_MAX_PIECES + 1];
    for (uint32_t i = 0; i <= n; i++) tags[i] = 0x5eed5eed5eed5eedull;
    const char *why = NULL;
    int rc = pf__tag_file_parse(data, size, k, k_ih, n, tags, &why);
    if (rc != 0) {
        FZ_CHECK(why != NULL);
        FZ_CHECK(rc == PF_ERR_PARSE || rc == PF_ERR_INVAL);
        for (uint32_t i = 0; i <= n; i++) FZ_CHECK(tags[i] == 0x5eed5eed5eed5eedull);
        return;
    }
    FZ_CHECK(tags[n] == 0x5eed5eed5eed5eedull); /* nothing past n pieces */
    pf_buf b;
    pf_buf_init(&b);
    FZ_CHECK(pf__tag_file_encode(&b, k, k_ih, tags, n) == 0);
    FZ_CHECK(b.len == size && memcmp(b.data, data, size) == 0);
    pf_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static pf__tag_key k;
    static int ready;
    if (!ready) {
        for (size_t i = 0; i < sizeof k.secret; i++) k.secret[i] = (uint8_t)(i * 7 + 3);
        FZ_CHECK(pf__tag_key_derive(&k) == 0);
        ready = 1;
    }
    if (size > PF__TAG_FILE_HEAD + 8 * (size_t)FZ_MAX_PIECES + PF__TAG_FILE_MAC) return 0;
    /* The piece count the input names (when it has a header), and others. */
    uint32_t named = size >= 32 ? (uint32_t)data[28] | (uint32_t)data[29] << 8 |
                                      (uint32_t)data[30] << 16 | (uint32_t)data[31] << 24
                                : 0;
    uint32_t counts[3] = {named <= FZ_MAX_PIECES ? named : 0, 1, 3};
    for (int i = 0; i < 3; i++) one(&k, data, size, counts[i]);
    /* Sealed: the HMAC appended holds, so the checks after it are reached. */
    uint8_t *sealed = malloc(size + PF__TAG_FILE_MAC);
    if (!sealed) return 0;
    if (size) memcpy(sealed, data, size);
    unsigned int mlen = 0;
    FZ_CHECK(HMAC(EVP_sha256(), k.mac, sizeof k.mac, data, size, sealed + size, &mlen) && mlen == 32);
    for (int i = 0; i < 3; i++) one(&k, sealed, size + PF__TAG_FILE_MAC, counts[i]);
    free(sealed);
    return 0;
}
