/* Integrity tags of verified pieces (verify on read): see piece_tags.h. */
#include "net/piece_tags.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/rand.h>
#include <xxhash.h>
#if defined(__x86_64__) && defined(__has_include)
#if __has_include(<xxh_x86dispatch.h>)
/* XXH3 with AVX2 or AVX-512 when the CPU has them (libxxhash's runtime
 * dispatch): 85 GB/s hot in cache here, against 20 for the SSE2 build. */
#include <xxh_x86dispatch.h>
#endif
#endif

#include "core/util/sha1.h"
#include "peerflow/peerflow.h"

int pf__tag_secret_new(uint8_t secret[PF__TAG_SECRET_LEN])
{
    return RAND_bytes(secret, PF__TAG_SECRET_LEN) == 1 ? 0 : PF_ERR_IO;
}

int pf__piece_tags_init(pf__piece_tags *pt, uint32_t n, const uint8_t *secret)
{
    memset(pt, 0, sizeof *pt);
    pt->n = n;
    pt->secret = secret;
    if (!secret || n == 0) return 0;
    pt->tag = calloc(n, sizeof *pt->tag);
    return pt->tag ? 0 : PF_ERR_NOMEM;
}

void pf__piece_tags_free(pf__piece_tags *pt)
{
    free((void *)pt->tag);
    pt->tag = NULL;
    pt->n = 0;
}

/* 0 means "no tag": the one input hashing to 0 shares the tag 1. */
static uint64_t tag_of(const pf__piece_tags *pt, const uint8_t *buf, size_t len)
{
    uint64_t h = XXH3_64bits_withSecret(buf, len, pt->secret, PF__TAG_SECRET_LEN);
    return h ? h : 1;
}

void pf__piece_tags_set(pf__piece_tags *pt, uint32_t piece, const uint8_t *buf, size_t len)
{
    if (!pt->tag || piece >= pt->n) return;
    atomic_store_explicit(&pt->tag[piece], tag_of(pt, buf, len), memory_order_relaxed);
}

void pf__piece_tags_clear(pf__piece_tags *pt, uint32_t piece)
{
    if (!pt->tag || piece >= pt->n) return;
    atomic_store_explicit(&pt->tag[piece], 0, memory_order_relaxed);
}

int pf__piece_tags_snapshot(const pf__piece_tags *pt, uint64_t *out)
{
    if (!pt->tag) return 0;
    for (uint32_t i = 0; i < pt->n; i++)
        out[i] = atomic_load_explicit(&pt->tag[i], memory_order_relaxed);
    return 1;
}

void pf__piece_tags_restore(pf__piece_tags *pt, const uint64_t *tags)
{
    if (!pt->tag) return;
    for (uint32_t i = 0; i < pt->n; i++)
        if (tags[i]) atomic_store_explicit(&pt->tag[i], tags[i], memory_order_relaxed);
}

int pf__piece_tags_verify(pf__piece_tags *pt, uint32_t piece, const uint8_t *buf, size_t len,
                          const uint8_t sha1[20])
{
    int tagged = pt->tag && piece < pt->n;
    uint64_t want = tagged ? atomic_load_explicit(&pt->tag[piece], memory_order_relaxed) : 0;
    if (want && tag_of(pt, buf, len) == want) {
        atomic_fetch_add_explicit(&pt->tag_hits, 1, memory_order_relaxed);
        return 1;
    }
    /* No tag, or it differs: SHA-1 decides, as without tags. */
    atomic_fetch_add_explicit(&pt->sha1_reads, 1, memory_order_relaxed);
    uint8_t d[20];
    int ok = pf_sha1(buf, len, d) == 0 && memcmp(d, sha1, 20) == 0;
    if (ok)
        pf__piece_tags_set(pt, piece, buf, len);
    else
        pf__piece_tags_clear(pt, piece);
    return ok;
}
