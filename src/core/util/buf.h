/* Growable byte buffer used across the core for encoding output. */
#ifndef PF_CORE_BUF_H
#define PF_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "peerflow/peerflow.h" /* pf_buf (its allocator is kept across
                                   pf_buf_free and moves), pf_buf_init,
                                   pf_buf_free */

void pf_buf_init_mem(pf_buf *b, const pf_mem *mem);
void pf_buf_reset(pf_buf *b);
/* Ensure room for `extra` more bytes; returns 0 or PF_ERR_NOMEM. */
int pf_buf_reserve(pf_buf *b, size_t extra);
int pf_buf_append(pf_buf *b, const void *p, size_t n);
int pf_buf_append_str(pf_buf *b, const char *s);
int pf_buf_append_u8(pf_buf *b, uint8_t v);
int pf_buf_append_be16(pf_buf *b, uint16_t v);
int pf_buf_append_be32(pf_buf *b, uint32_t v);
/* printf-style append; returns 0 or a negative pf_err. */
int pf_buf_appendf(pf_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Queue use: unread bytes are data[off..len). */
static inline size_t pf_buf_unread(const pf_buf *b) { return b->len - b->off; }
/* The first unread byte; NULL for a buffer never allocated (an empty
 * take), without the undefined NULL + 0 of plain arithmetic. */
static inline const uint8_t *pf_buf_head(const pf_buf *b) { return b->data ? b->data + b->off : NULL; }
/* Drop n bytes from the front; compacts when the buffer drains. */
void pf_buf_consume(pf_buf *b, size_t n);
/* Ensure data is NUL-terminated past len (not counted in len). */
int pf_buf_nul(pf_buf *b);

static inline uint32_t pf_rd_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}
static inline uint16_t pf_rd_be16(const uint8_t *p)
{
    return (uint16_t)(((uint16_t)p[0] << 8) | p[1]);
}
static inline void pf_wr_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void pf_wr_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

#endif
