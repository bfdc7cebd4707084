/* Fast-resume records (src/core/resume.c): round trip, and every reason a
 * record must not be trusted. */
#include <stdint.h>
#include <string.h>

#include "core/codec/resume.h"
#include "peerflow/peerflow.h"
#include "test.h"

static const uint8_t IH[20] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};

static void make(pf_buf *b, uint32_t npieces, const uint64_t *st, size_t nfiles)
{
    pf_bitfield have;
    pf_bitfield_init(&have, npieces);
    for (uint32_t i = 0; i < npieces; i += 3) pf_bitfield_set(&have, i);
    pf_buf_init(b);
    pf_resume_encode(b, IH, &have, st, nfiles);
    pf_bitfield_free(&have);
}

TEST(resume_round_trip)
{
    uint64_t st[4] = {1000, 1700000000123456789ull, UINT64_MAX, UINT64_MAX};
    pf_buf b;
    make(&b, 21, st, 2);
    pf_bitfield have;
    pf_bitfield_init(&have, 21);
    const char *why = NULL;
    CHECK_EQ(pf_resume_parse(b.data, b.len, IH, st, 2, &have, &why), 0);
    CHECK_EQ(have.count, 7);
    for (uint32_t i = 0; i < 21; i++) CHECK_EQ(pf_bitfield_get(&have, i), i % 3 == 0);
    pf_bitfield_free(&have);
    pf_buf_free(&b);
}

TEST(resume_refused)
{
    uint64_t st[2] = {5000, 42};
    pf_buf b;
    make(&b, 10, st, 1);
    pf_bitfield have;
    pf_bitfield_init(&have, 10);
    const char *why = NULL;
    /* The file changed size or mtime since. */
    uint64_t other[2] = {5000, 43};
    CHECK_EQ(pf_resume_parse(b.data, b.len, IH, other, 1, &have, &why), PF_ERR_EXISTS);
    CHECK(strstr(why, "changed") != NULL);
    other[0] = 4999, other[1] = 42;
    CHECK_EQ(pf_resume_parse(b.data, b.len, IH, other, 1, &have, &why), PF_ERR_EXISTS);
    /* Another torrent; another piece count; another file count. */
    uint8_t ih2[20];
    memcpy(ih2, IH, 20);
    ih2[19] ^= 1;
    CHECK_EQ(pf_resume_parse(b.data, b.len, ih2, st, 1, &have, &why), PF_ERR_INVAL);
    pf_bitfield h11;
    pf_bitfield_init(&h11, 17);
    CHECK_EQ(pf_resume_parse(b.data, b.len, IH, st, 1, &h11, &why), PF_ERR_INVAL);
    pf_bitfield_free(&h11);
    uint64_t st2[4] = {5000, 42, 0, 0};
    CHECK_EQ(pf_resume_parse(b.data, b.len, IH, st2, 2, &have, &why), PF_ERR_INVAL);
    /* Truncated, or one byte flipped anywhere: never trusted as it is. */
    for (size_t n = 0; n < b.len; n++)
        CHECK(pf_resume_parse(b.data, n, IH, st, 1, &have, &why) != 0);
    for (size_t i = 0; i < b.len; i++) {
        uint8_t copy[256];
        CHECK(b.len <= sizeof copy);
        memcpy(copy, b.data, b.len);
        copy[i] ^= 0x01;
        int rc = pf_resume_parse(copy, b.len, IH, st, 1, &have, &why);
        /* A flip inside the bitfield's two bytes may still parse (it names
         * other pieces: the record guards against the files changing, not
         * against itself being damaged); anything else must be refused,
         * leaving `have` untouched. */
        const uint8_t *k = memmem(b.data, b.len, "6:pieces2:", 10);
        CHECK(k != NULL);
        size_t pay = (size_t)(k - b.data) + 10;
        if (rc == 0) {
            CHECK(i >= pay && i < pay + 2);
            pf_bitfield_clear_all(&have);
        }
        CHECK_EQ(have.count, 0);
    }
    /* Spare bits set in the bitfield. */
    pf_bitfield h;
    pf_bitfield_init(&h, 10);
    h.bits[1] = 0x01;
    pf_buf b2;
    pf_buf_init(&b2);
    CHECK_EQ(pf_resume_encode(&b2, IH, &h, st, 1), 0);
    CHECK_EQ(pf_resume_parse(b2.data, b2.len, IH, st, 1, &have, &why), PF_ERR_PARSE);
    pf_bitfield_free(&h);
    pf_buf_free(&b2);
    pf_bitfield_free(&have);
    pf_buf_free(&b);
}

TEST_MAIN(resume_round_trip, resume_refused)
