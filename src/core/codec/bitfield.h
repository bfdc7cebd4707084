/* Fixed-size bitfield in BitTorrent wire order (bit 0 = MSB of byte 0). */
#ifndef PF_CORE_BITFIELD_H
#define PF_CORE_BITFIELD_H

#include <stddef.h>
#include <stdint.h>

typedef struct pf_mem pf_mem;
typedef struct pf_bitfield {
    const pf_mem *mem; /* its allocator (NULL: the C library's) */
    uint8_t *bits;
    uint32_t nbits;
    uint32_t count; /* bits set */
} pf_bitfield;

int pf_bitfield_init(pf_bitfield *b, uint32_t nbits); /* all clear; libc */
int pf_bitfield_init_mem(pf_bitfield *b, uint32_t nbits, const pf_mem *mem);
void pf_bitfield_free(pf_bitfield *b);
static inline size_t pf_bitfield_bytes(uint32_t nbits) { return ((size_t)nbits + 7) / 8; }
static inline int pf_bitfield_get(const pf_bitfield *b, uint32_t i)
{
    return i < b->nbits && (b->bits[i >> 3] & (0x80u >> (i & 7))) != 0;
}
void pf_bitfield_set(pf_bitfield *b, uint32_t i);
void pf_bitfield_clear(pf_bitfield *b, uint32_t i);
void pf_bitfield_set_all(pf_bitfield *b);
void pf_bitfield_clear_all(pf_bitfield *b);
static inline int pf_bitfield_full(const pf_bitfield *b) { return b->count == b->nbits; }
/* Loads wire bytes; PF_ERR_PROTO if the length is wrong or spare bits are
 * set (BEP 3 says the receiver should drop such a peer). */
int pf_bitfield_load(pf_bitfield *b, const uint8_t *p, size_t n);

#endif
