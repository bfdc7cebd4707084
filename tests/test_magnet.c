/* Magnet URIs: hex and base32 btih, percent-decoding, indexed keys,
 * limits, build -> parse round trip. */
#include "core/codec/magnet.h"

#include "core/util/addr.h"
#include "core/util/sha1.h"
#include "peerflow/peerflow.h"
#include "test.h"

static const char hexhash[] = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";

TEST(mag_hex_full)
{
    pf_magnet *m = NULL;
    const char *uri =
        "magnet:?xt=urn:btih:C12FE1C06BBA254A9DC9F519B335AA7C1367A88A"
        "&dn=Big+Buck%20Bunny%2Emp4&tr=udp%3A%2F%2Ftracker.example%3A1337%2Fannounce"
        "&tr=http://t2/ann?a=1%26b=2&ws=https%3A%2F%2Fcdn.example%2Fbbb.mp4"
        "&x.pe=10.0.0.1:6881&x.pe=%5B%3A%3A1%5D%3A6882&foo=bar&tr=";
    CHECK_EQ(pf_magnet_parse(uri, NULL, &m), 0);
    uint8_t want[20];
    pf_hex_decode(hexhash, 20, want);
    CHECK_MEM(m->info_hash, want, 20);
    CHECK_STR(m->name, "Big Buck Bunny.mp4");
    CHECK_EQ(m->num_trackers, 2);
    CHECK_STR(m->trackers[0], "udp://tracker.example:1337/announce");
    CHECK_STR(m->trackers[1], "http://t2/ann?a=1&b=2");
    CHECK_EQ(m->num_webseeds, 1);
    CHECK_STR(m->webseeds[0], "https://cdn.example/bbb.mp4");
    CHECK_EQ(m->num_peers, 2);
    CHECK_STR(m->peers[0], "10.0.0.1:6881");
    CHECK_STR(m->peers[1], "[::1]:6882");
    pf_magnet_free(m);
}

TEST(mag_base32_and_indexed_keys)
{
    /* base32 of c12fe1c0... */
    pf_magnet *m = NULL;
    CHECK_EQ(pf_magnet_parse("MAGNET:?tr.1=http://a/&xt=urn:btih:YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK"
                             "&tr.2=http://b/&dn.1=x", NULL,
                             &m),
             0);
    uint8_t want[20];
    pf_hex_decode(hexhash, 20, want);
    CHECK_MEM(m->info_hash, want, 20);
    CHECK_EQ(m->num_trackers, 2);
    CHECK_STR(m->trackers[1], "http://b/");
    CHECK_STR(m->name, "x");
    pf_magnet_free(m);
    /* lower-case base32 works too */
    CHECK_EQ(pf_magnet_parse("magnet:?xt=urn:btih:yex6dqdlxisuvhoj6um3gnnkpqjwpkek", NULL, &m), 0);
    CHECK_MEM(m->info_hash, want, 20);
    CHECK(m->name == NULL && m->num_trackers == 0);
    pf_magnet_free(m);
}

TEST(mag_rejections)
{
    pf_magnet *m = NULL;
    CHECK_EQ(pf_magnet_parse("http://example.com/", NULL, &m), PF_ERR_PARSE);
    CHECK_EQ(pf_magnet_parse("magnet:?dn=x", NULL, &m), PF_ERR_PARSE);
    CHECK_EQ(pf_magnet_parse("magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88", NULL, &m),
             PF_ERR_PARSE);
    CHECK_EQ(pf_magnet_parse("magnet:?xt=urn:btih:g12fe1c06bba254a9dc9f519b335aa7c1367a88a", NULL, &m),
             PF_ERR_PARSE);
    CHECK_EQ(pf_magnet_parse("magnet:?xt=urn:btih:YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKE1", NULL, &m),
             PF_ERR_PARSE);
    CHECK_EQ(pf_magnet_parse("magnet:?xt=urn:btmh:1220abcd", NULL, &m), PF_ERR_PARSE);
    CHECK_EQ(pf_magnet_parse("magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn=%4", NULL, &m),
             PF_ERR_PARSE);
    CHECK_EQ(pf_magnet_parse("magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn=%zz", NULL, &m),
             PF_ERR_PARSE);
    CHECK_EQ(pf_magnet_parse("magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn=a%00b", NULL, &m),
             PF_ERR_PARSE);
    CHECK(m == NULL);
    /* 65 trackers: over the limit. */
    char big[4096];
    size_t n = (size_t)snprintf(big, sizeof big, "magnet:?xt=urn:btih:%s", hexhash);
    for (int i = 0; i < 65; i++) n += (size_t)snprintf(big + n, sizeof big - n, "&tr=u%d", i);
    CHECK_EQ(pf_magnet_parse(big, NULL, &m), PF_ERR_LIMIT);
    /* Over 8 KiB. */
    char *huge = malloc(9000);
    CHECK(huge != NULL);
    n = (size_t)snprintf(huge, 9000, "magnet:?xt=urn:btih:%s&dn=", hexhash);
    memset(huge + n, 'a', 9000 - n - 1);
    huge[8999] = 0;
    CHECK_EQ(pf_magnet_parse(huge, NULL, &m), PF_ERR_LIMIT);
    free(huge);
}

TEST(mag_build_roundtrip)
{
    uint8_t h[20];
    for (int i = 0; i < 20; i++) h[i] = (uint8_t)(i * 17);
    const char *tr[] = {"udp://t.example:80/announce?x=1&y=2", "", "http://b/ann"};
    pf_buf b;
    pf_buf_init(&b);
    CHECK_EQ(pf_magnet_build(&b, h, "A & B/ü+%.txt", tr, 3), 0);
    const char *want = "magnet:?xt=urn:btih:00112233445566778899aabbccddeeff10213243"
                       "&dn=A%20%26%20B%2F%C3%BC%2B%25.txt"
                       "&tr=udp%3A%2F%2Ft.example%3A80%2Fannounce%3Fx%3D1%26y%3D2"
                       "&tr=http%3A%2F%2Fb%2Fann";
    CHECK_EQ(b.len, strlen(want));
    CHECK_STR((const char *)b.data, want);
    pf_magnet *m = NULL;
    CHECK_EQ(pf_magnet_parse((const char *)b.data, NULL, &m), 0);
    CHECK_MEM(m->info_hash, h, 20);
    CHECK_STR(m->name, "A & B/ü+%.txt");
    CHECK_EQ(m->num_trackers, 2);
    CHECK_STR(m->trackers[0], tr[0]);
    pf_magnet_free(m);
    pf_buf_free(&b);
}

/* x.pe values are handed to pf_addr_parse; check that contract here. */
TEST(mag_peers_as_addr)
{
    pf_magnet *m = NULL;
    CHECK_EQ(pf_magnet_parse("magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a"
                             "&x.pe=10.0.0.1:6881&x.pe=%5B2001%3Adb8%3A%3A1%5D%3A65535", NULL,
                             &m),
             0);
    CHECK_EQ(m->num_peers, 2);
    pf_addr a, b;
    char s[64];
    CHECK_EQ(pf_addr_parse(m->peers[0], &a), 0);
    CHECK_EQ(a.family, 4);
    CHECK_EQ(a.port, 6881);
    CHECK_MEM(a.ip, "\x0a\x00\x00\x01", 4);
    pf_addr_format(&a, s, sizeof s);
    CHECK_STR(s, "10.0.0.1:6881");
    CHECK_EQ(pf_addr_parse(m->peers[1], &a), 0);
    CHECK_EQ(a.family, 6);
    CHECK_EQ(a.port, 65535);
    pf_addr_format(&a, s, sizeof s);
    CHECK_STR(s, "[2001:db8::1]:65535");
    CHECK_EQ(pf_addr_parse(s, &b), 0);
    CHECK(pf_addr_eq(&a, &b));
    pf_magnet_free(m);
    const char *bad[] = {"1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "::1:80", "[::1]80",
                         "1.2.3:80", "[1.2.3.4]:80", "1.2.3.4:+80", "[]:1", ":80",
                         "host.example:80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ(pf_addr_parse(bad[i], &a), PF_ERR_PARSE);
}

TEST_MAIN(mag_hex_full, mag_peers_as_addr, mag_base32_and_indexed_keys, mag_rejections, mag_build_roundtrip)
