#include "core/util/buf.h"
#include "core/util/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peerflow/peerflow.h"

void pf_buf_init(pf_buf *b) { memset(b, 0, sizeof *b); }

void pf_buf_init_mem(pf_buf *b, const pf_mem *mem)
{
    memset(b, 0, sizeof *b);
    b->mem = mem;
}

void pf_buf_free(pf_buf *b)
{
    const pf_mem *mem = b->mem;
    pf__free(mem, b->data);
    memset(b, 0, sizeof *b);
    b->mem = mem;
}

void pf_buf_reset(pf_buf *b) { b->len = b->off = 0; }

int pf_buf_reserve(pf_buf *b, size_t extra)
{
    if (b->off > 0 && b->off == b->len) b->off = b->len = 0;
    if (extra > SIZE_MAX / 2 - b->len) return PF_ERR_NOMEM;
    size_t need = b->len + extra + 1; /* +1 keeps room for pf_buf_nul */
    if (need <= b->cap) return 0;
    /* Reclaim consumed space before growing. */
    if (b->off > 0 && need - b->off <= b->cap) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        return 0;
    }
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap *= 2;
    uint8_t *p = pf__realloc(b->mem, b->data, cap);
    if (!p) return PF_ERR_NOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int pf_buf_append(pf_buf *b, const void *p, size_t n)
{
    if (n == 0) return 0;
    int rc = pf_buf_reserve(b, n);
    if (rc) return rc;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int pf_buf_append_str(pf_buf *b, const char *s) { return pf_buf_append(b, s, strlen(s)); }

int pf_buf_append_u8(pf_buf *b, uint8_t v) { return pf_buf_append(b, &v, 1); }

int pf_buf_append_be16(pf_buf *b, uint16_t v)
{
    uint8_t t[2];
    pf_wr_be16(t, v);
    return pf_buf_append(b, t, 2);
}

int pf_buf_append_be32(pf_buf *b, uint32_t v)
{
    uint8_t t[4];
    pf_wr_be32(t, v);
    return pf_buf_append(b, t, 4);
}

int pf_buf_appendf(pf_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        va_end(ap2);
        return PF_ERR_INVAL;
    }
    int rc = pf_buf_reserve(b, (size_t)n + 1);
    if (rc) {
        va_end(ap2);
        return rc;
    }
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
    return 0;
}

void pf_buf_consume(pf_buf *b, size_t n)
{
    if (n > b->len - b->off) n = b->len - b->off;
    b->off += n;
    if (b->off == b->len) b->off = b->len = 0;
}

int pf_buf_nul(pf_buf *b)
{
    int rc = pf_buf_reserve(b, 1);
    if (rc) return rc;
    b->data[b->len] = 0;
    return 0;
}
