/* src/core/bitfield.c: wire-order bit sets, counts, spare bits. */
#include "core/codec/bitfield.h"

#include "peerflow/peerflow.h"
#include "test.h"

TEST(bitfield_init_set_clear_count)
{
    pf_bitfield b;
    CHECK_EQ(pf_bitfield_init(&b, 20), 0);
    CHECK_EQ(b.nbits, 20);
    CHECK_EQ(b.count, 0);
    CHECK_EQ(pf_bitfield_bytes(20), 3);
    pf_bitfield_set(&b, 0);
    pf_bitfield_set(&b, 0); /* twice: counted once */
    pf_bitfield_set(&b, 9);
    pf_bitfield_set(&b, 19);
    CHECK_EQ(b.count, 3);
    CHECK_EQ(b.bits[0], 0x80); /* bit 0 is the MSB of byte 0 */
    CHECK_EQ(b.bits[1], 0x40);
    CHECK_EQ(b.bits[2], 0x10);
    CHECK(pf_bitfield_get(&b, 0) && pf_bitfield_get(&b, 9) && pf_bitfield_get(&b, 19));
    CHECK(!pf_bitfield_get(&b, 1) && !pf_bitfield_get(&b, 18));
    /* Out of range: ignored, reads as clear. */
    pf_bitfield_set(&b, 20);
    pf_bitfield_set(&b, 23);
    pf_bitfield_set(&b, 1000000);
    CHECK_EQ(b.count, 3);
    CHECK(!pf_bitfield_get(&b, 20) && !pf_bitfield_get(&b, 23) && !pf_bitfield_get(&b, UINT32_MAX));
    CHECK_EQ(b.bits[2] & 0x0f, 0);
    pf_bitfield_clear(&b, 9);
    pf_bitfield_clear(&b, 9);
    pf_bitfield_clear(&b, 10); /* clear: stays clear */
    pf_bitfield_clear(&b, 99);
    CHECK_EQ(b.count, 2);
    CHECK(!pf_bitfield_full(&b));
    pf_bitfield_clear_all(&b);
    CHECK_EQ(b.count, 0);
    CHECK(!pf_bitfield_get(&b, 0));
    pf_bitfield_free(&b);
    CHECK(b.bits == NULL);
}

TEST(bitfield_set_all_odd_sizes)
{
    const uint32_t sizes[] = {1, 3, 7, 8, 9, 15, 16, 17, 20, 63, 64, 65, 1001};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        uint32_t n = sizes[k];
        pf_bitfield b, c;
        CHECK_EQ(pf_bitfield_init(&b, n), 0);
        CHECK_EQ(pf_bitfield_init(&c, n), 0);
        pf_bitfield_set_all(&b);
        CHECK_EQ(b.count, n);
        CHECK(pf_bitfield_full(&b));
        for (uint32_t i = 0; i < n; i++) CHECK(pf_bitfield_get(&b, i));
        size_t bytes = pf_bitfield_bytes(n);
        /* Spare bits of the last byte stay clear ... */
        if (n & 7) CHECK_EQ(b.bits[bytes - 1] & (0xffu >> (n & 7)), 0);
        /* ... so what we would send is accepted by a strict receiver. */
        CHECK_EQ(pf_bitfield_load(&c, b.bits, bytes), 0);
        CHECK_EQ(c.count, n);
        /* Clearing one and setting it back keeps the count right. */
        pf_bitfield_clear(&b, n - 1);
        CHECK_EQ(b.count, n - 1);
        CHECK(!pf_bitfield_full(&b));
        pf_bitfield_set(&b, n - 1);
        CHECK(pf_bitfield_full(&b));
        pf_bitfield_free(&b);
        pf_bitfield_free(&c);
    }
}

TEST(bitfield_empty)
{
    pf_bitfield b;
    CHECK_EQ(pf_bitfield_init(&b, 0), 0);
    CHECK_EQ(pf_bitfield_bytes(0), 0);
    pf_bitfield_set_all(&b);
    CHECK_EQ(b.count, 0);
    CHECK(pf_bitfield_full(&b)); /* vacuously */
    CHECK_EQ(pf_bitfield_load(&b, (const uint8_t *)"", 0), 0);
    CHECK_EQ(pf_bitfield_load(&b, (const uint8_t *)"\0", 1), PF_ERR_PROTO);
    pf_bitfield_free(&b);
}

TEST(bitfield_load_rejects_spare_bits)
{
    pf_bitfield b;
    CHECK_EQ(pf_bitfield_init(&b, 20), 0);
    /* Every one of the four spare bits is rejected on its own. */
    for (int bit = 0; bit < 4; bit++) {
        uint8_t w[3] = {0xff, 0xff, (uint8_t)(0xf0 | (1u << bit))};
        CHECK_EQ(pf_bitfield_load(&b, w, 3), PF_ERR_PROTO);
    }
    /* A rejected load leaves the old contents alone. */
    CHECK_EQ(b.count, 0);
    const uint8_t ok[3] = {0xa5, 0x00, 0xf0};
    CHECK_EQ(pf_bitfield_load(&b, ok, 3), 0);
    CHECK_EQ(b.count, 8);
    CHECK(pf_bitfield_get(&b, 0) && !pf_bitfield_get(&b, 1) && pf_bitfield_get(&b, 2));
    CHECK(pf_bitfield_get(&b, 16) && pf_bitfield_get(&b, 19));
    const uint8_t bad[3] = {0, 0, 0x08};
    CHECK_EQ(pf_bitfield_load(&b, bad, 3), PF_ERR_PROTO);
    CHECK_EQ(b.count, 8);
    pf_bitfield_free(&b);
}

TEST(bitfield_load_rejects_wrong_length)
{
    pf_bitfield b;
    CHECK_EQ(pf_bitfield_init(&b, 16), 0);
    const uint8_t w[4] = {0xff, 0xff, 0, 0};
    CHECK_EQ(pf_bitfield_load(&b, w, 1), PF_ERR_PROTO);
    CHECK_EQ(pf_bitfield_load(&b, w, 3), PF_ERR_PROTO);
    CHECK_EQ(pf_bitfield_load(&b, w, 0), PF_ERR_PROTO);
    CHECK_EQ(pf_bitfield_load(&b, w, 2), 0); /* a multiple of 8: no spare bits */
    CHECK_EQ(b.count, 16);
    CHECK(pf_bitfield_full(&b));
    pf_bitfield_free(&b);
}

TEST(bitfield_load_counts)
{
    pf_bitfield b;
    CHECK_EQ(pf_bitfield_init(&b, 1001), 0);
    uint8_t w[126];
    uint32_t expect = 0;
    for (size_t i = 0; i < sizeof w; i++) {
        w[i] = (uint8_t)(i * 97 + 13);
        if (i == sizeof w - 1) w[i] &= 0x80; /* 1001 = 125 * 8 + 1 */
        expect += (uint32_t)__builtin_popcount(w[i]);
    }
    CHECK_EQ(pf_bitfield_load(&b, w, sizeof w), 0);
    CHECK_EQ(b.count, expect);
    uint32_t seen = 0;
    for (uint32_t i = 0; i < 1001; i++) seen += (uint32_t)pf_bitfield_get(&b, i);
    CHECK_EQ(seen, expect);
    pf_bitfield_free(&b);
}

TEST_MAIN(bitfield_init_set_clear_count, bitfield_set_all_odd_sizes, bitfield_empty,
          bitfield_load_rejects_spare_bits, bitfield_load_rejects_wrong_length,
          bitfield_load_counts)
