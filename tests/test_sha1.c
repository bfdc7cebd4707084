/* SHA-1 and hex helpers: FIPS 180 vectors, incremental use, hex edge cases. */
#include "core/util/sha1.h"

#include "peerflow/peerflow.h"
#include "test.h"

static void hex_of(const char *msg, size_t len, char out[41])
{
    uint8_t d[20];
    pf_sha1(msg, len, d);
    pf_hex_encode(d, 20, out);
}

TEST(sha1_vectors)
{
    char h[41];
    hex_of("", 0, h);
    CHECK_STR(h, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    hex_of("abc", 3, h);
    CHECK_STR(h, "a9993e364706816aba3e25717850c26c9cd0d89d");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hex_of(m, strlen(m), h);
    CHECK_STR(h, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    hex_of("The quick brown fox jumps over the lazy dog", 43, h);
    CHECK_STR(h, "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12");
}

TEST(sha1_million_a_incremental)
{
    pf_sha1_ctx *c = pf_sha1_new(NULL);
    CHECK(c != NULL);
    char chunk[1000];
    memset(chunk, 'a', sizeof chunk);
    for (int i = 0; i < 1000; i++) CHECK_EQ(pf_sha1_update(c, chunk, sizeof chunk), 0);
    uint8_t d[20];
    char h[41];
    CHECK_EQ(pf_sha1_final(c, d), 0);
    pf_hex_encode(d, 20, h);
    CHECK_STR(h, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    /* final resets: the context now hashes a fresh message. */
    CHECK_EQ(pf_sha1_update(c, "abc", 3), 0);
    CHECK_EQ(pf_sha1_final(c, d), 0);
    pf_hex_encode(d, 20, h);
    CHECK_STR(h, "a9993e364706816aba3e25717850c26c9cd0d89d");
    pf_sha1_free(c);
}

TEST(sha1_split_matches_oneshot)
{
    uint8_t data[3000], a[20], b[20];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof data; i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (uint8_t)(x >> 16);
    }
    CHECK_EQ(pf_sha1(data, sizeof data, a), 0);
    pf_sha1_ctx *c = pf_sha1_new(NULL);
    CHECK(c != NULL);
    size_t off = 0, step = 1;
    while (off < sizeof data) {
        size_t n = step < sizeof data - off ? step : sizeof data - off;
        pf_sha1_update(c, data + off, n);
        off += n;
        step = step * 3 + 1;
    }
    pf_sha1_update(c, NULL, 0);
    pf_sha1_final(c, b);
    pf_sha1_free(c);
    CHECK_MEM(a, b, 20);
}

TEST(hex_roundtrip_and_errors)
{
    uint8_t in[4] = {0x00, 0xab, 0xCD, 0xff}, out[4];
    char h[9];
    pf_hex_encode(in, 4, h);
    CHECK_STR(h, "00abcdff");
    CHECK_EQ(pf_hex_decode("00ABcdFF", 4, out), 0);
    CHECK_MEM(in, out, 4);
    CHECK_EQ(pf_hex_decode("00abcdfg", 4, out), PF_ERR_PARSE);
    CHECK_EQ(pf_hex_decode("0x", 1, out), PF_ERR_PARSE);
    CHECK_EQ(pf_hex_decode("abc", 2, out), PF_ERR_PARSE); /* short */
    CHECK_EQ(pf_hex_decode("", 0, out), 0);
    pf_sha1_free(NULL);
}

TEST_MAIN(sha1_vectors, sha1_million_a_incremental, sha1_split_matches_oneshot,
          hex_roundtrip_and_errors)
