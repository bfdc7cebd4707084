/* Tests for src/net/piece_tags.c: verify on read with piece tags, on a
 * real file in a temporary directory (net/storage.c), the way the libuv
 * client's workers use them: a piece written (or hash-checked) is tagged;
 * read back, it is proved by its tag, or by SHA-1 when it has none. */
#include "net/piece_tags.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util/sha1.h"
#include "net/storage.h"
#include "peerflow/peerflow.h"
#include "test.h"

#define PLEN 16384u
#define NPIECES 4u
#define TOTAL (3u * PLEN + 5000u) /* a short last piece */

static char g_dir[256], g_file[300];
static pf_file_entry g_ent;
static pf_metainfo g_mi;
static uint8_t g_data[TOTAL];
static uint8_t g_sha[NPIECES][20];
static uint8_t g_secret[PF__TAG_SECRET_LEN];

static uint32_t piece_len(uint32_t p) { return p + 1 < NPIECES ? PLEN : TOTAL - p * PLEN; }

/* A one-file torrent of TOTAL bytes in a fresh directory, its file
 * written, every piece tagged as the client's WRITE job does. */
static pf_storage *setup(pf__piece_tags *pt, int tag_writes)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/pf_tags_XXXXXX");
    if (!mkdtemp(g_dir)) abort();
    snprintf(g_file, sizeof g_file, "%s/f.bin", g_dir);
    memset(&g_mi, 0, sizeof g_mi);
    g_mi.name = "f.bin";
    g_mi.files = &g_ent;
    g_mi.num_files = 1;
    g_ent.path = "f.bin";
    g_ent.length = TOTAL;
    g_mi.total_length = TOTAL;
    g_mi.piece_length = PLEN;
    g_mi.num_pieces = NPIECES;
    uint32_t x = 12345; /* deterministic content */
    for (size_t i = 0; i < TOTAL; i++) {
        x = x * 1103515245u + 12345u;
        g_data[i] = (uint8_t)(x >> 16);
    }
    for (uint32_t p = 0; p < NPIECES; p++) pf_sha1(g_data + p * PLEN, piece_len(p), g_sha[p]);
    for (size_t i = 0; i < sizeof g_secret; i++) g_secret[i] = (uint8_t)(i * 37 + 11);
    pf_storage *st = NULL;
    if (pf_storage_open(&st, &g_mi, g_dir, 1) != 0) abort();
    if (pf__piece_tags_init(pt, NPIECES, g_secret) != 0) abort();
    for (uint32_t p = 0; p < NPIECES; p++) {
        if (pf_storage_write(st, (uint64_t)p * PLEN, g_data + p * PLEN, piece_len(p)) != 0) abort();
        if (tag_writes) pf__piece_tags_set(pt, p, g_data + p * PLEN, piece_len(p));
    }
    return st;
}

static void teardown(pf_storage *st, pf__piece_tags *pt)
{
    pf_storage_close(st);
    pf__piece_tags_free(pt);
    unlink(g_file);
    rmdir(g_dir);
}

/* Flips one byte of the file on disk, behind the storage's back. */
static int rot(uint64_t off)
{
    int fd = open(g_file, O_RDWR);
    if (fd < 0) return -1;
    uint8_t b;
    int ok = pread(fd, &b, 1, (off_t)off) == 1;
    b ^= 0x5A;
    ok = ok && pwrite(fd, &b, 1, (off_t)off) == 1;
    close(fd);
    return ok ? 0 : -1;
}

/* A READ job in the worker: read piece p back, verify it. */
static int read_back(pf_storage *st, pf__piece_tags *pt, uint32_t p, uint8_t *buf)
{
    if (pf_storage_read(st, (uint64_t)p * PLEN, buf, piece_len(p)) != 0) return -1;
    return pf__piece_tags_verify(pt, p, buf, piece_len(p), g_sha[p]);
}

static uint64_t hits(pf__piece_tags *pt) { return atomic_load(&pt->tag_hits); }
static uint64_t sha1s(pf__piece_tags *pt) { return atomic_load(&pt->sha1_reads); }

/* Tagged, then rotten on disk: the tag does not accept it, SHA-1 confirms,
 * it is not served (0), and its tag is gone. */
TEST(tagged_piece_rot_caught)
{
    pf__piece_tags pt;
    pf_storage *st = setup(&pt, 1);
    uint8_t buf[PLEN];
    for (uint32_t p = 0; p < NPIECES; p++) CHECK_EQ(read_back(st, &pt, p, buf), 1);
    CHECK_EQ(hits(&pt), NPIECES); /* every read proved by its tag ... */
    CHECK_EQ(sha1s(&pt), 0);      /* ... with no SHA-1 */
    CHECK_EQ(rot(1 * PLEN + 777), 0);
    CHECK_EQ(rot(3 * PLEN + 4999), 0); /* the last byte of the short piece */
    CHECK_EQ(read_back(st, &pt, 1, buf), 0);
    CHECK_EQ(read_back(st, &pt, 3, buf), 0);
    CHECK_EQ(hits(&pt), NPIECES);
    CHECK_EQ(sha1s(&pt), 2);
    CHECK_EQ(atomic_load(&pt.tag[1]), 0);
    CHECK_EQ(atomic_load(&pt.tag[3]), 0);
    /* Still rotten: still refused (now by SHA-1, no tag). */
    CHECK_EQ(read_back(st, &pt, 1, buf), 0);
    /* The others are untouched and still proved by their tags. */
    CHECK_EQ(read_back(st, &pt, 2, buf), 1);
    CHECK_EQ(hits(&pt), NPIECES + 1);
    /* Fetched again and rewritten (the WRITE job: clear, write, tag): served. */
    pf__piece_tags_clear(&pt, 1);
    CHECK_EQ(pf_storage_write(st, PLEN, g_data + PLEN, PLEN), 0);
    pf__piece_tags_set(&pt, 1, g_data + PLEN, PLEN);
    CHECK_EQ(read_back(st, &pt, 1, buf), 1);
    CHECK_MEM(buf, g_data + PLEN, PLEN);
    CHECK_EQ(hits(&pt), NPIECES + 2);
    teardown(st, &pt);
}

/* No tag yet (a restart with a resume record): SHA-1 proves the first
 * read-back and tags it; the next one is proved by the tag.  Rot before
 * the first read is caught by SHA-1. */
TEST(untagged_piece_sha1_path)
{
    pf__piece_tags pt;
    pf_storage *st = setup(&pt, 0);
    uint8_t buf[PLEN];
    CHECK_EQ(rot(2 * PLEN + 1), 0);
    CHECK_EQ(read_back(st, &pt, 0, buf), 1);
    CHECK_EQ(sha1s(&pt), 1);
    CHECK_EQ(hits(&pt), 0);
    CHECK(atomic_load(&pt.tag[0]) != 0);
    CHECK_EQ(read_back(st, &pt, 0, buf), 1);
    CHECK_EQ(sha1s(&pt), 1);
    CHECK_EQ(hits(&pt), 1);
    CHECK_EQ(read_back(st, &pt, 2, buf), 0); /* rotten, no tag: SHA-1 says no */
    CHECK_EQ(sha1s(&pt), 2);
    CHECK_EQ(atomic_load(&pt.tag[2]), 0);
    teardown(st, &pt);
}

/* No secret (no randomness): no tags, every read-back is SHA-1, which
 * still refuses rot. */
TEST(no_secret_all_sha1)
{
    pf__piece_tags pt;
    pf_storage *st = setup(&pt, 0);
    pf__piece_tags_free(&pt);
    CHECK_EQ(pf__piece_tags_init(&pt, NPIECES, NULL), 0);
    CHECK(pt.tag == NULL);
    uint8_t buf[PLEN];
    pf__piece_tags_set(&pt, 0, g_data, PLEN); /* a no-op */
    CHECK_EQ(read_back(st, &pt, 0, buf), 1);
    CHECK_EQ(read_back(st, &pt, 0, buf), 1);
    CHECK_EQ(sha1s(&pt), 2);
    CHECK_EQ(rot(5), 0);
    CHECK_EQ(read_back(st, &pt, 0, buf), 0);
    teardown(st, &pt);
}

/* The tag depends on the secret; pieces out of range are never tagged. */
TEST(tag_keyed_and_bounded)
{
    static uint8_t other[PF__TAG_SECRET_LEN];
    CHECK_EQ(pf__tag_secret_new(other), 0);
    pf__piece_tags a, b;
    pf_storage *st = setup(&a, 1);
    CHECK_EQ(pf__piece_tags_init(&b, NPIECES, other), 0);
    pf__piece_tags_set(&b, 0, g_data, PLEN);
    CHECK(atomic_load(&a.tag[0]) != atomic_load(&b.tag[0]));
    pf__piece_tags_set(&b, NPIECES, g_data, PLEN); /* ignored */
    uint8_t buf[PLEN];
    CHECK_EQ(pf_storage_read(st, 0, buf, PLEN), 0);
    CHECK_EQ(pf__piece_tags_verify(&b, NPIECES, buf, PLEN, g_sha[0]), 1); /* SHA-1 */
    CHECK_EQ(atomic_load(&b.sha1_reads), 1);
    pf__piece_tags_free(&b);
    teardown(st, &a);
}

TEST_MAIN(tagged_piece_rot_caught, untagged_piece_sha1_path, no_secret_all_sha1, tag_keyed_and_bounded)
