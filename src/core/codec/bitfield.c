#include "core/codec/bitfield.h"
#include "core/util/mem.h"

#include <stdlib.h>
#include <string.h>

#include "peerflow/peerflow.h"

int pf_bitfield_init(pf_bitfield *b, uint32_t nbits) { return pf_bitfield_init_mem(b, nbits, NULL); }

int pf_bitfield_init_mem(pf_bitfield *b, uint32_t nbits, const pf_mem *mem)
{
    size_t n = pf_bitfield_bytes(nbits);
    b->mem = mem;
    b->bits = pf__calloc(mem, n ? n : 1, 1);
    if (!b->bits) return PF_ERR_NOMEM;
    b->nbits = nbits;
    b->count = 0;
    return 0;
}

void pf_bitfield_free(pf_bitfield *b)
{
    const pf_mem *mem = b->mem;
    pf__free(mem, b->bits);
    memset(b, 0, sizeof *b);
    b->mem = mem;
}

void pf_bitfield_set(pf_bitfield *b, uint32_t i)
{
    if (i >= b->nbits) return;
    uint8_t m = (uint8_t)(0x80u >> (i & 7));
    if (!(b->bits[i >> 3] & m)) {
        b->bits[i >> 3] |= m;
        b->count++;
    }
}

void pf_bitfield_clear(pf_bitfield *b, uint32_t i)
{
    if (i >= b->nbits) return;
    uint8_t m = (uint8_t)(0x80u >> (i & 7));
    if (b->bits[i >> 3] & m) {
        b->bits[i >> 3] &= (uint8_t)~m;
        b->count--;
    }
}

void pf_bitfield_set_all(pf_bitfield *b)
{
    size_t n = pf_bitfield_bytes(b->nbits);
    if (n == 0) return;
    memset(b->bits, 0xff, n);
    if (b->nbits & 7) b->bits[n - 1] = (uint8_t)(0xff00u >> (b->nbits & 7));
    b->count = b->nbits;
}

void pf_bitfield_clear_all(pf_bitfield *b)
{
    memset(b->bits, 0, pf_bitfield_bytes(b->nbits));
    b->count = 0;
}

int pf_bitfield_load(pf_bitfield *b, const uint8_t *p, size_t n)
{
    size_t want = pf_bitfield_bytes(b->nbits);
    if (n != want) return PF_ERR_PROTO;
    if (n && (b->nbits & 7) && (p[n - 1] & (0xffu >> (b->nbits & 7))))
        return PF_ERR_PROTO;
    memcpy(b->bits, p, n);
    uint32_t c = 0;
    for (size_t i = 0; i < n; i++) c += (uint32_t)__builtin_popcount(p[i]);
    b->count = c;
    return 0;
}
