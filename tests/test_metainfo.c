/* Metainfo: hand-crafted torrents, multi-file offsets, trackers, path
 * safety, limits, build -> parse round trips, from_info. */
#include "core/codec/metainfo.h"

#include "core/codec/bencode.h"
#include "core/util/sha1.h"
#include "peerflow/peerflow.h"
#include "test.h"

static int parse_buf(const pf_buf *b, pf_metainfo **mi)
{
    return pf_metainfo_parse(b->data, b->len, NULL, mi);
}

/* A single-file torrent, bytes written out by hand: 40000 bytes in 16 KiB
 * pieces = 3 pieces. */
static const char single_prefix[] =
    "d8:announce26:http://tracker.example/ann"
    "13:announce-listll26:http://tracker.example/ann28:udp://tracker.example:80/anne"
    "l26:http://tracker.example/annel22:http://backup.example/ei5ee"
    "7:comment5:hello10:created by8:hand1.0013:creation datei1700000000e"
    "4:infod6:lengthi40000e4:name8:file.bin12:piece lengthi16384e6:pieces60:";
static const char single_suffix[] =
    "7:privatei1ee8:url-list22:http://seed.example/x/e";

static void make_single(pf_buf *b)
{
    pf_buf_init(b);
    pf_buf_append_str(b, single_prefix);
    for (int i = 0; i < 60; i++) pf_buf_append_u8(b, (uint8_t)i);
    pf_buf_append_str(b, single_suffix);
}

TEST(mi_single_handcrafted)
{
    pf_buf b;
    make_single(&b);
    pf_metainfo *mi = NULL;
    CHECK_EQ(parse_buf(&b, &mi), 0);
    CHECK_STR(mi->name, "file.bin");
    CHECK_EQ(mi->multi_file, 0);
    CHECK_EQ(mi->total_length, 40000);
    CHECK_EQ(mi->piece_length, 16384);
    CHECK_EQ(mi->num_pieces, 3);
    CHECK_EQ(mi->piece_hashes[59], 59);
    CHECK_EQ(mi->num_files, 1);
    CHECK_STR(mi->files[0].path, "file.bin");
    CHECK_EQ(mi->files[0].offset, 0);
    CHECK_EQ(mi->private_flag, 1);
    CHECK_STR(mi->comment, "hello");
    CHECK_STR(mi->created_by, "hand1.00");
    CHECK_EQ(mi->creation_date, 1700000000);
    /* Tiers: the duplicate URL in tier 1 is dropped, the non-string entry
     * and the empty second tier are skipped, so backup lands in tier 1. */
    CHECK_EQ(mi->num_trackers, 3);
    CHECK_STR(mi->trackers[0].url, "http://tracker.example/ann");
    CHECK_EQ(mi->trackers[0].tier, 0);
    CHECK_STR(mi->trackers[1].url, "udp://tracker.example:80/ann");
    CHECK_EQ(mi->trackers[1].tier, 0);
    CHECK_STR(mi->trackers[2].url, "http://backup.example/");
    CHECK_EQ(mi->trackers[2].tier, 1);
    CHECK_EQ(mi->num_webseeds, 1);
    CHECK_STR(mi->webseeds[0], "http://seed.example/x/");
    CHECK_EQ(pf_metainfo_piece_size(mi, 0), 16384);
    CHECK_EQ(pf_metainfo_piece_size(mi, 2), 40000 - 32768);
    CHECK_EQ(pf_metainfo_piece_size(mi, 3), 0);
    /* info_hash is the SHA-1 of the exact info bytes. */
    const char *info = strstr((const char *)b.data, "4:infod") + 6;
    size_t info_len = (size_t)((const char *)b.data + b.len - info) - strlen("8:url-list22:http://seed.example/x/e");
    CHECK_EQ(mi->info_len, info_len);
    CHECK_MEM(mi->info_raw, info, info_len);
    uint8_t h[20];
    pf_sha1(info, info_len, h);
    CHECK_MEM(mi->info_hash, h, 20);
    pf_metainfo_free(mi);
    pf_buf_free(&b);
}

TEST(mi_announce_only_and_url_list_forms)
{
    pf_buf b;
    pf_buf_init(&b);
    pf_buf_append_str(&b, "d8:announce14:http://t.x/ann4:infod6:lengthi1e4:name1:a"
                          "12:piece lengthi16384e6:pieces20:");
    pf_buf_append(&b, "AAAAAAAAAAAAAAAAAAAA", 20);
    pf_buf_append_str(&b, "e8:url-listl3:u:13:u:2i1e3:u:1ee");
    pf_metainfo *mi = NULL;
    CHECK_EQ(parse_buf(&b, &mi), 0);
    CHECK_EQ(mi->num_trackers, 1);
    CHECK_STR(mi->trackers[0].url, "http://t.x/ann");
    CHECK_EQ(mi->trackers[0].tier, 0);
    CHECK_EQ(mi->num_webseeds, 2);
    CHECK_STR(mi->webseeds[1], "u:2");
    CHECK(mi->comment == NULL && mi->created_by == NULL);
    CHECK_EQ(mi->creation_date, 0);
    CHECK_EQ(mi->private_flag, 0);
    CHECK_EQ(mi->num_pieces, 1);
    CHECK_EQ(pf_metainfo_piece_size(mi, 0), 1);
    pf_metainfo_free(mi);
    pf_buf_free(&b);
}

/* Builds a multi-file info dict with the given files (path lists as
 * "a/b" strings), piece length 16 KiB, zeroed hashes. */
static void make_multi(pf_buf *b, const char *name, const char *const *paths,
                       const uint64_t *lens, const int *pads, size_t n)
{
    uint64_t total = 0;
    pf_buf_init(b);
    pf_benc_dict_begin(b);
    pf_benc_cstr(b, "info");
    pf_benc_dict_begin(b);
    pf_benc_cstr(b, "files");
    pf_benc_list_begin(b);
    for (size_t i = 0; i < n; i++) {
        pf_benc_dict_begin(b);
        if (pads && pads[i]) {
            pf_benc_cstr(b, "attr");
            pf_benc_cstr(b, "p");
        }
        pf_benc_cstr(b, "length");
        pf_benc_int(b, (int64_t)lens[i]);
        pf_benc_cstr(b, "path");
        pf_benc_list_begin(b);
        const char *s = paths[i];
        for (;;) {
            const char *sl = strchr(s, '/');
            pf_benc_str(b, s, sl ? (size_t)(sl - s) : strlen(s));
            if (!sl) break;
            s = sl + 1;
        }
        pf_benc_end(b);
        pf_benc_end(b);
        total += lens[i];
    }
    pf_benc_end(b);
    pf_benc_cstr(b, "name");
    pf_benc_cstr(b, name);
    pf_benc_cstr(b, "piece length");
    pf_benc_int(b, 16384);
    pf_benc_cstr(b, "pieces");
    size_t np = (size_t)((total + 16383) / 16384);
    pf_benc_str(b, NULL, 0); /* placeholder replaced below */
    b->len -= 2;
    char hdr[32];
    snprintf(hdr, sizeof hdr, "%zu:", np * 20);
    pf_buf_append_str(b, hdr);
    for (size_t i = 0; i < np * 20; i++) pf_buf_append_u8(b, (uint8_t)(i * 7));
    pf_benc_end(b);
    pf_benc_end(b);
}

static int multi_rc(const char *name, const char *const *paths, size_t n)
{
    uint64_t lens[8] = {100, 200, 300, 400, 500, 600, 700, 800};
    pf_buf b;
    make_multi(&b, name, paths, lens, NULL, n);
    pf_metainfo *mi = NULL;
    int rc = parse_buf(&b, &mi);
    pf_metainfo_free(mi);
    pf_buf_free(&b);
    return rc;
}

TEST(mi_multi_offsets_and_file_at)
{
    const char *paths[] = {"a.txt", "empty", "dir/b.bin", ".pad/16384", "dir/sub/c"};
    uint64_t lens[] = {20000, 0, 12768, 16384, 5};
    int pads[] = {0, 0, 0, 1, 0};
    pf_buf b;
    make_multi(&b, "My Torrent", paths, lens, pads, 5);
    pf_metainfo *mi = NULL;
    CHECK_EQ(parse_buf(&b, &mi), 0);
    CHECK_EQ(mi->multi_file, 1);
    CHECK_STR(mi->name, "My Torrent");
    CHECK_EQ(mi->num_files, 5);
    CHECK_EQ(mi->total_length, 49157);
    CHECK_EQ(mi->num_pieces, 4);
    CHECK_STR(mi->files[2].path, "dir/b.bin");
    CHECK_STR(mi->files[4].path, "dir/sub/c");
    CHECK_EQ(mi->files[0].offset, 0);
    CHECK_EQ(mi->files[1].offset, 20000);
    CHECK_EQ(mi->files[2].offset, 20000);
    CHECK_EQ(mi->files[3].offset, 32768);
    CHECK_EQ(mi->files[4].offset, 49152);
    CHECK_EQ(mi->files[3].pad, 1);
    CHECK_EQ(mi->files[2].pad, 0);
    CHECK_EQ(pf_metainfo_file_at(mi, 0), 0);
    CHECK_EQ(pf_metainfo_file_at(mi, 19999), 0);
    CHECK_EQ(pf_metainfo_file_at(mi, 20000), 2); /* skips the empty file */
    CHECK_EQ(pf_metainfo_file_at(mi, 32767), 2);
    CHECK_EQ(pf_metainfo_file_at(mi, 32768), 3);
    CHECK_EQ(pf_metainfo_file_at(mi, 49156), 4);
    CHECK_EQ(pf_metainfo_file_at(mi, 49157), 5);
    CHECK_EQ(pf_metainfo_piece_size(mi, 3), 5);
    CHECK_EQ(mi->num_trackers, 0);
    pf_metainfo_free(mi);
    pf_buf_free(&b);
}

TEST(mi_path_safety)
{
    const char *ok[] = {"a", "b/c"};
    CHECK_EQ(multi_rc("n", ok, 2), 0);
    const char *dotdot[] = {"a", "../etc/passwd"};
    CHECK_EQ(multi_rc("n", dotdot, 2), PF_ERR_UNSAFE_PATH);
    const char *dot[] = {"./a"};
    CHECK_EQ(multi_rc("n", dot, 1), PF_ERR_UNSAFE_PATH);
    const char *empty_comp[] = {"a//b"};
    CHECK_EQ(multi_rc("n", empty_comp, 1), PF_ERR_UNSAFE_PATH);
    const char *abs[] = {"/etc/passwd"};
    CHECK_EQ(multi_rc("n", abs, 1), PF_ERR_UNSAFE_PATH);
    const char *bs[] = {"a\\..\\b"};
    CHECK_EQ(multi_rc("n", bs, 1), PF_ERR_UNSAFE_PATH);
    const char *dup[] = {"x/y", "x/y"};
    CHECK_EQ(multi_rc("n", dup, 2), PF_ERR_UNSAFE_PATH);
    const char *filedir[] = {"x", "x-1", "x/y"};
    CHECK_EQ(multi_rc("n", filedir, 3), PF_ERR_UNSAFE_PATH);
    const char *notdup[] = {"x", "x-1", "xy/z"};
    CHECK_EQ(multi_rc("n", notdup, 3), 0);
    CHECK_EQ(multi_rc("", ok, 2), PF_ERR_UNSAFE_PATH);
    CHECK_EQ(multi_rc(".", ok, 2), PF_ERR_UNSAFE_PATH);
    CHECK_EQ(multi_rc("..", ok, 2), PF_ERR_UNSAFE_PATH);
    CHECK_EQ(multi_rc("a/b", ok, 2), PF_ERR_UNSAFE_PATH);
    CHECK_EQ(multi_rc("...", ok, 2), 0); /* odd but harmless */

    /* NUL inside a path component. */
    pf_buf b;
    pf_buf_init(&b);
    pf_buf_append_str(&b, "d4:infod5:filesld6:lengthi5e4:pathl3:a");
    pf_buf_append(&b, "\0b", 2);
    pf_buf_append_str(&b, "eee4:name1:n12:piece lengthi16384e6:pieces20:");
    pf_buf_append(&b, "AAAAAAAAAAAAAAAAAAAA", 20);
    pf_buf_append_str(&b, "ee");
    pf_metainfo *mi = NULL;
    CHECK_EQ(parse_buf(&b, &mi), PF_ERR_UNSAFE_PATH);
    CHECK(mi == NULL);
    pf_buf_free(&b);

    CHECK_EQ(pf_metainfo_check_path("a/b/c"), 0);
    CHECK_EQ(pf_metainfo_check_path("a/"), PF_ERR_UNSAFE_PATH);
    CHECK_EQ(pf_metainfo_check_path(""), PF_ERR_UNSAFE_PATH);
    CHECK_EQ(pf_metainfo_check_path("a/./b"), PF_ERR_UNSAFE_PATH);
}

static int single_rc(const char *info_body)
{
    pf_buf b;
    pf_buf_init(&b);
    pf_buf_append_str(&b, "d4:infod");
    pf_buf_append_str(&b, info_body);
    pf_buf_append_str(&b, "ee");
    pf_metainfo *mi = NULL;
    int rc = parse_buf(&b, &mi);
    pf_metainfo_free(mi);
    pf_buf_free(&b);
    return rc;
}

#define H20 "AAAAAAAAAAAAAAAAAAAA"
TEST(mi_rejections)
{
    CHECK_EQ(single_rc("6:lengthi1e4:name1:a12:piece lengthi16384e6:pieces20:" H20), 0);
    /* not a power of two / out of range */
    CHECK_EQ(single_rc("6:lengthi1e4:name1:a12:piece lengthi20000e6:pieces20:" H20),
             PF_ERR_PARSE);
    CHECK_EQ(single_rc("6:lengthi1e4:name1:a12:piece lengthi8192e6:pieces20:" H20),
             PF_ERR_LIMIT);
    CHECK_EQ(single_rc("6:lengthi1e4:name1:a12:piece lengthi134217728e6:pieces20:" H20),
             PF_ERR_LIMIT);
    CHECK_EQ(single_rc("6:lengthi1e4:name1:a12:piece lengthi0e6:pieces20:" H20),
             PF_ERR_PARSE);
    /* wrong pieces length */
    CHECK_EQ(single_rc("6:lengthi1e4:name1:a12:piece lengthi16384e6:pieces19:AAAAAAAAAAAAAAAAAAA"),
             PF_ERR_PARSE);
    CHECK_EQ(single_rc("6:lengthi1e4:name1:a12:piece lengthi16384e6:pieces40:" H20 H20),
             PF_ERR_PARSE);
    /* zero / negative / huge length */
    CHECK_EQ(single_rc("6:lengthi0e4:name1:a12:piece lengthi16384e6:pieces0:"), PF_ERR_PARSE);
    CHECK_EQ(single_rc("6:lengthi-1e4:name1:a12:piece lengthi16384e6:pieces20:" H20),
             PF_ERR_PARSE);
    CHECK_EQ(single_rc("6:lengthi1125899906842624e4:name1:a12:piece lengthi16384e6:pieces20:" H20),
             PF_ERR_LIMIT);
    /* missing fields, both length and files */
    CHECK_EQ(single_rc("4:name1:a12:piece lengthi16384e6:pieces20:" H20), PF_ERR_PARSE);
    CHECK_EQ(single_rc("6:lengthi1e12:piece lengthi16384e6:pieces20:" H20), PF_ERR_PARSE);
    CHECK_EQ(single_rc("5:filesle6:lengthi1e4:name1:a12:piece lengthi16384e6:pieces20:" H20),
             PF_ERR_PARSE);
    CHECK_EQ(single_rc("5:filesle4:name1:a12:piece lengthi16384e6:pieces0:"), PF_ERR_PARSE);
    /* v2-only torrents are recognised as unsupported */
    CHECK_EQ(single_rc("9:file treede12:meta versioni2e4:name1:a12:piece lengthi16384e"),
             PF_ERR_UNSUPPORTED);
    /* non-canonical bencode (unsorted keys) */
    CHECK_EQ(single_rc("4:name1:a6:lengthi1e12:piece lengthi16384e6:pieces20:" H20),
             PF_ERR_PARSE);
    /* not a dict / no info */
    pf_metainfo *mi = NULL;
    CHECK_EQ(pf_metainfo_parse((const uint8_t *)"le", 2, NULL, &mi), PF_ERR_PARSE);
    CHECK_EQ(pf_metainfo_parse((const uint8_t *)"de", 2, NULL, &mi), PF_ERR_PARSE);
    CHECK_EQ(pf_metainfo_parse((const uint8_t *)"", 0, NULL, &mi), PF_ERR_PARSE);
    CHECK(mi == NULL);
}

TEST(mi_build_roundtrip_multi)
{
    pf_file_entry files[3] = {
        {.path = "docs/readme.txt", .length = 1000},
        {.path = ".pad/15384", .length = 15384, .pad = 1},
        {.path = "video/a.mp4", .length = 70000},
    };
    uint32_t np = (86384 + 16383) / 16384;
    uint8_t hashes[20 * 6];
    for (size_t i = 0; i < sizeof hashes; i++) hashes[i] = (uint8_t)(i * 13 + 1);
    const char *trackers[] = {"http://a/ann", "udp://b:1/ann"};
    const char *seeds[] = {"http://cdn/x/", "http://cdn2/x/"};
    pf_create_params p = {
        .name = "set", .files = files, .num_files = 3, .multi_file = 1,
        .piece_length = 16384, .piece_hashes = hashes, .num_pieces = np,
        .trackers = trackers, .num_trackers = 2, .webseeds = seeds, .num_webseeds = 2,
        .private_flag = 1, .comment = "c", .created_by = "peerflow", .creation_date = 42};
    CHECK_EQ(np, 6);
    pf_buf b;
    pf_buf_init(&b);
    CHECK_EQ(pf_metainfo_build(&p, &b), 0);
    pf_metainfo *mi = NULL;
    CHECK_EQ(parse_buf(&b, &mi), 0); /* strict parser => canonical output */
    CHECK_STR(mi->name, "set");
    CHECK_EQ(mi->num_files, 3);
    CHECK_STR(mi->files[0].path, "docs/readme.txt");
    CHECK_EQ(mi->files[1].pad, 1);
    CHECK_EQ(mi->files[2].offset, 16384);
    CHECK_EQ(mi->total_length, 86384);
    CHECK_EQ(mi->num_pieces, 6);
    CHECK_MEM(mi->piece_hashes, hashes, sizeof hashes);
    CHECK_EQ(mi->num_trackers, 2);
    CHECK_EQ(mi->trackers[1].tier, 1);
    CHECK_STR(mi->trackers[1].url, "udp://b:1/ann");
    CHECK_EQ(mi->num_webseeds, 2);
    CHECK_STR(mi->webseeds[1], "http://cdn2/x/");
    CHECK_EQ(mi->private_flag, 1);
    CHECK_STR(mi->comment, "c");
    CHECK_STR(mi->created_by, "peerflow");
    CHECK_EQ(mi->creation_date, 42);

    /* from_info on the embedded info dict gives the same hash and files. */
    pf_metainfo *mi2 = NULL;
    uint8_t bad[20] = {0};
    CHECK_EQ(pf_metainfo_from_info(mi->info_raw, mi->info_len, bad, NULL, &mi2), PF_ERR_HASH);
    CHECK_EQ(pf_metainfo_from_info(mi->info_raw, mi->info_len, mi->info_hash, NULL, &mi2), 0);
    CHECK_MEM(mi2->info_hash, mi->info_hash, 20);
    CHECK_EQ(mi2->num_files, 3);
    CHECK_EQ(mi2->num_trackers, 0);
    CHECK_EQ(mi2->private_flag, 1);
    pf_metainfo_free(mi2);
    pf_metainfo_free(mi);
    pf_buf_free(&b);
}

TEST(mi_build_single_exact_bytes)
{
    pf_file_entry f = {.path = "x", .length = 5};
    uint8_t h[20];
    memset(h, 'H', 20);
    const char *tr[] = {"http://t/a"};
    pf_create_params p = {.name = "x", .files = &f, .num_files = 1,
                          .piece_length = 16384, .piece_hashes = h, .num_pieces = 1,
                          .trackers = tr, .num_trackers = 1};
    pf_buf b;
    pf_buf_init(&b);
    CHECK_EQ(pf_metainfo_build(&p, &b), 0);
    const char *want = "d8:announce10:http://t/a4:infod6:lengthi5e4:name1:x"
                       "12:piece lengthi16384e6:pieces20:HHHHHHHHHHHHHHHHHHHHee";
    CHECK_EQ(b.len, strlen(want));
    CHECK_MEM(b.data, want, b.len);
    /* Invalid params are refused and leave out unchanged. */
    size_t before = b.len;
    p.num_pieces = 2;
    CHECK_EQ(pf_metainfo_build(&p, &b), PF_ERR_INVAL);
    p.num_pieces = 1;
    p.name = "..";
    CHECK_EQ(pf_metainfo_build(&p, &b), PF_ERR_UNSAFE_PATH);
    p.name = "x";
    p.piece_length = 3000;
    CHECK_EQ(pf_metainfo_build(&p, &b), PF_ERR_INVAL);
    CHECK_EQ(b.len, before);
    pf_buf_free(&b);
}

TEST(mi_auto_piece_length)
{
    CHECK_EQ(pf_metainfo_auto_piece_length(1), 16384);
    CHECK_EQ(pf_metainfo_auto_piece_length(2000ull * 16384), 16384);
    CHECK_EQ(pf_metainfo_auto_piece_length(2001ull * 16384), 32768);
    CHECK_EQ(pf_metainfo_auto_piece_length(1ull << 30), 1u << 20);
    CHECK_EQ(pf_metainfo_auto_piece_length(1ull << 45), 16u << 20);
    for (uint64_t t = 1u << 20; t < (1ull << 34); t = t * 3 + 17) {
        uint32_t pl = pf_metainfo_auto_piece_length(t);
        uint64_t n = (t + pl - 1) / pl;
        CHECK((pl & (pl - 1)) == 0);
        CHECK(n <= 2000 && (n > 1000 || pl == 16384));
    }
}

/* Shared read-only metainfo: each reference is dropped by a free, the
 * last frees it (ASan and valgrind see no leak and no double free). */
static int counting_frees;
static void counting_free(void *p, void *ud)
{
    (void)ud;
    if (p) counting_frees++;
    free(p);
}
static void *counting_malloc(size_t n, void *ud)
{
    (void)ud;
    return malloc(n);
}
static void *counting_calloc(size_t n, size_t k, void *ud)
{
    (void)ud;
    return calloc(n, k);
}
static void *counting_realloc(void *p, size_t n, void *ud)
{
    (void)ud;
    return realloc(p, n);
}

TEST(mi_shared_references)
{
    pf_buf b;
    make_single(&b);
    pf_mem m = {.malloc = counting_malloc, .calloc = counting_calloc, .realloc = counting_realloc,
                .free = counting_free};
    pf_metainfo *mi = NULL;
    CHECK_EQ(pf_metainfo_parse(b.data, b.len, &m, &mi), 0);
    pf_buf_free(&b);
    CHECK(pf_metainfo_ref(mi) == mi);
    CHECK(pf_metainfo_ref(mi) == mi);
    CHECK(pf_metainfo_ref(NULL) == NULL);
    counting_frees = 0;
    pf_metainfo_free(mi);
    pf_metainfo_free(mi);
    CHECK_EQ(counting_frees, 0); /* two references dropped, one left */
    CHECK_STR(mi->name, "file.bin");
    pf_metainfo_free(mi);
    CHECK(counting_frees > 0); /* the last: freed */
}

TEST_MAIN(mi_single_handcrafted, mi_announce_only_and_url_list_forms,
          mi_multi_offsets_and_file_at, mi_path_safety, mi_rejections,
          mi_build_roundtrip_multi, mi_build_single_exact_bytes, mi_auto_piece_length,
          mi_shared_references)
