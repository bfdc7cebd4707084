/* Stateless BEP 15 connection ids under rotating secrets (connid.h). */
#include "core/tracker/connid.h"

#include <string.h>

#define NS_PER_S UINT64_C(1000000000)

static uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

#define SIPROUND(v0, v1, v2, v3)                                                          \
    do {                                                                                  \
        v0 += v1, v1 = rotl(v1, 13), v1 ^= v0, v0 = rotl(v0, 32);                        \
        v2 += v3, v3 = rotl(v3, 16), v3 ^= v2;                                           \
        v0 += v3, v3 = rotl(v3, 21), v3 ^= v0;                                           \
        v2 += v1, v1 = rotl(v1, 17), v1 ^= v2, v2 = rotl(v2, 32);                        \
    } while (0)

uint64_t pf__siphash24(const uint64_t k[2], const uint64_t *w, int n)
{
    uint64_t v0 = k[0] ^ UINT64_C(0x736f6d6570736575), v1 = k[1] ^ UINT64_C(0x646f72616e646f6d);
    uint64_t v2 = k[0] ^ UINT64_C(0x6c7967656e657261), v3 = k[1] ^ UINT64_C(0x7465646279746573);
    for (int i = 0; i < n; i++) {
        v3 ^= w[i];
        SIPROUND(v0, v1, v2, v3);
        SIPROUND(v0, v1, v2, v3);
        v0 ^= w[i];
    }
    uint64_t b = (uint64_t)(8 * n) << 56; /* the last block: only the length */
    v3 ^= b;
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    v0 ^= b;
    v2 ^= 0xff;
    for (int i = 0; i < 4; i++) SIPROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* A fresh secret; the generator's state is replaced (a ratchet). */
static void fresh(pf__connid *c, uint64_t out[2])
{
    uint64_t w[4] = {0, 1, 2, 3};
    out[0] = pf__siphash24(c->state, &w[0], 1);
    out[1] = pf__siphash24(c->state, &w[1], 1);
    uint64_t s0 = pf__siphash24(c->state, &w[2], 1), s1 = pf__siphash24(c->state, &w[3], 1);
    c->state[0] = s0;
    c->state[1] = s1;
}

/* Brings the secrets up to the slot of now. */
static void rotate(pf__connid *c, uint64_t now)
{
    uint64_t slot = now / (PF_CONNID_SLOT_S * NS_PER_S);
    if (slot <= c->slot) return; /* a clock going back keeps the secrets */
    uint64_t steps = slot - c->slot;
    if (steps > PF_CONNID_KEEP) steps = PF_CONNID_KEEP;
    for (uint64_t s = 0; s < steps; s++) {
        memmove(c->key[1], c->key[0], (PF_CONNID_KEEP - 1) * sizeof c->key[0]);
        fresh(c, c->key[0]);
        if (c->have < PF_CONNID_KEEP) c->have++;
    }
    if (slot - c->slot >= PF_CONNID_KEEP) c->have = 1; /* every old one expired */
    c->slot = slot;
}

void pf__connid_init(pf__connid *c, const uint8_t seed[16], uint64_t now_ns)
{
    memset(c, 0, sizeof *c);
    c->state[0] = le64(seed);
    c->state[1] = le64(seed + 8);
    fresh(c, c->key[0]);
    c->have = 1;
    c->slot = now_ns / (PF_CONNID_SLOT_S * NS_PER_S);
}

static uint64_t id_under(const uint64_t k[2], const pf_addr *a)
{
    uint64_t w[3];
    w[0] = a->family;
    w[1] = le64(a->ip);
    w[2] = a->family == 6 ? le64(a->ip + 8) : 0;
    return pf__siphash24(k, w, 3);
}

uint64_t pf__connid_make(pf__connid *c, const pf_addr *a, uint64_t now_ns)
{
    rotate(c, now_ns);
    return id_under(c->key[0], a);
}

int pf__connid_check(pf__connid *c, const pf_addr *a, uint64_t id, uint64_t now_ns)
{
    rotate(c, now_ns);
    for (int i = 0; i < c->have; i++)
        if (id_under(c->key[i], a) == id) return 1;
    return 0;
}
