/* Helpers the fuzz targets share, header-only (each target is one
 * translation unit, built both for libFuzzer and for the corpus replay):
 * an invariant check that aborts, splitting an input at its first NUL,
 * a hash of the input, and an allocator that fails its k-th call with the
 * driver that runs a target's parse once counting and once failing. */
#ifndef PF_FUZZ_UTIL_H
#define PF_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peerflow/peerflow.h"

/* An invariant of the code under test: a failure names it and aborts,
 * which libFuzzer (and the replay) report as a crash. */
#define FZ_CHECK(c)                                                                   \
    do {                                                                              \
        if (!(c)) {                                                                   \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c); \
            abort();                                                                  \
        }                                                                             \
    } while (0)

/* data split at its first NUL byte: returns the length before it; *rest
 * and *nrest are what follows it (NULL and 0 when there is no NUL). */
static inline size_t fz_split_nul(const uint8_t *data, size_t size, const uint8_t **rest, size_t *nrest)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t n = nul ? (size_t)(nul - data) : size;
    *rest = nul ? nul + 1 : NULL;
    *nrest = nul ? size - n - 1 : 0;
    return n;
}

/* FNV-1a of data: a choice made from the input alone, so a crash replays. */
static inline uint32_t fz_hash(const uint8_t *data, size_t size)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < size; i++) h = (h ^ data[i]) * 16777619u;
    return h;
}

/* A pf_mem that counts its calls and live blocks and fails call fail_at
 * (0: none). */
typedef struct fz_failing {
    long count, fail_at, live;
} fz_failing;

/* Counts the call: 1 if it is the one to fail. */
static inline int fz_fails(fz_failing *f)
{
    return ++f->count == f->fail_at;
}
/* p, a new block, counted live. */
static inline void *fz_live(fz_failing *f, void *p)
{
    if (p) f->live++;
    return p;
}
static inline void *fz_malloc(size_t n, void *ud)
{
    return fz_fails(ud) ? NULL : fz_live(ud, malloc(n));
}
static inline void *fz_calloc(size_t k, size_t n, void *ud)
{
    return fz_fails(ud) ? NULL : fz_live(ud, calloc(k, n));
}
static inline void *fz_realloc(void *p, size_t n, void *ud)
{
    if (fz_fails(ud)) return NULL;
    void *q = realloc(p, n);
    return p ? q : fz_live(ud, q);
}
static inline void fz_free(void *p, void *ud)
{
    fz_failing *f = ud;
    if (p) f->live--;
    free(p);
}

/* A target's parse: checks its invariants when check is set (with a
 * failing allocator it only has to fail cleanly). */
typedef int (*fz_run_fn)(const pf_mem *mem, const uint8_t *data, size_t size, int check);

/* Runs run on the input with every allocation counted, then (when it made
 * 1 to max_allocs allocations) again with the k-th failing, k from the
 * input's hash; aborts if either run leaks. */
static inline void fz_run_failing(fz_run_fn run, const uint8_t *data, size_t size, long max_allocs)
{
    fz_failing f = {0};
    pf_mem mem = {fz_malloc, fz_calloc, fz_realloc, fz_free, &f};
    run(&mem, data, size, 1);
    if (f.live != 0) abort();
    long total = f.count;
    if (total == 0 || total > max_allocs) return;
    fz_failing g = {.fail_at = 1 + (long)(fz_hash(data, size) % (uint32_t)total)};
    pf_mem gm = {fz_malloc, fz_calloc, fz_realloc, fz_free, &g};
    run(&gm, data, size, 0);
    if (g.live != 0) abort();
}

#endif
