/* Tests for src/net/tag_store.c: the piece tag key file and the tag file
 * format (verify on read's tags kept across restarts). */
#include "net/tag_store.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "peerflow/peerflow.h"
#include "test.h"

#define N 5u

static const uint8_t k_ih[20] = "tag-store-test-hash!";
static const uint64_t k_tags[N] = {0x0123456789abcdefull, 0, 1, 0xffffffffffffffffull, 42};

static void key_fixed(pf__tag_key *k, uint8_t salt)
{
    for (size_t i = 0; i < sizeof k->secret; i++) k->secret[i] = (uint8_t)(i * 31 + salt);
    if (pf__tag_key_derive(k) != 0) abort();
}

static void encode(pf_buf *b, const pf__tag_key *k)
{
    pf_buf_init(b);
    if (pf__tag_file_encode(b, k, k_ih, k_tags, N) != 0) abort();
}

/* Refused: rc and why as asked, the tags untouched. */
static int refused(const uint8_t *buf, size_t len, const pf__tag_key *k, const uint8_t *ih, uint32_t n,
                   int want_rc, const char *want_why)
{
    uint64_t tags[N + 2];
    for (size_t i = 0; i < N + 2; i++) tags[i] = 777;
    const char *why = NULL;
    int rc = pf__tag_file_parse(buf, len, k, ih, n, tags, &why);
    if (rc != want_rc || !why || (want_why && !strstr(why, want_why))) {
        fprintf(stderr, "  parse: rc %d why %s (want %d, %s)\n", rc, why ? why : "-", want_rc,
                want_why ? want_why : "-");
        return 0;
    }
    for (size_t i = 0; i < N + 2; i++)
        if (tags[i] != 777) return 0;
    return 1;
}

TEST(round_trip)
{
    pf__tag_key k;
    key_fixed(&k, 1);
    pf_buf b;
    encode(&b, &k);
    CHECK_EQ(b.len, 80 + 8 * N);
    CHECK_MEM(b.data, "PFTAGS\0\1", 8);
    uint64_t tags[N];
    const char *why = NULL;
    CHECK_EQ(pf__tag_file_parse(b.data, b.len, &k, k_ih, N, tags, &why), 0);
    CHECK_MEM(tags, k_tags, sizeof tags);
    /* The file names the key by its fingerprint, never holds the secret. */
    for (size_t off = 0; off + 16 <= b.len; off++)
        CHECK(memcmp(b.data + off, k.secret, 16) != 0);
    pf_buf_free(&b);
}

TEST(truncated_or_longer)
{
    pf__tag_key k;
    key_fixed(&k, 1);
    pf_buf b;
    encode(&b, &k);
    for (size_t len = 0; len < b.len; len++)
        CHECK(refused(b.data, len, &k, k_ih, N, PF_ERR_PARSE, NULL));
    CHECK_EQ(pf_buf_append_u8(&b, 0), 0);
    CHECK(refused(b.data, b.len, &k, k_ih, N, PF_ERR_PARSE, "wrong size"));
    pf_buf_free(&b);
}

/* Any byte changed: refused (the HMAC, or an earlier check). */
TEST(every_byte_flipped)
{
    pf__tag_key k;
    key_fixed(&k, 1);
    pf_buf b;
    encode(&b, &k);
    for (size_t i = 0; i < b.len; i++) {
        b.data[i] ^= 0x01;
        uint64_t tags[N];
        const char *why = NULL;
        int rc = pf__tag_file_parse(b.data, b.len, &k, k_ih, N, tags, &why);
        b.data[i] ^= 0x01;
        CHECK(rc == PF_ERR_PARSE || rc == PF_ERR_INVAL);
    }
    /* Two tags swapped (each a real tag, in the other's place). */
    uint8_t t[8];
    memcpy(t, b.data + 48, 8);
    memcpy(b.data + 48, b.data + 56, 8);
    memcpy(b.data + 56, t, 8);
    CHECK(refused(b.data, b.len, &k, k_ih, N, PF_ERR_PARSE, "corrupt"));
    pf_buf_free(&b);
}

TEST(wrong_key_torrent_count)
{
    pf__tag_key k, other;
    key_fixed(&k, 1);
    key_fixed(&other, 2);
    CHECK(memcmp(k.fpr, other.fpr, sizeof k.fpr) != 0);
    pf_buf b;
    encode(&b, &k);
    CHECK(refused(b.data, b.len, &other, k_ih, N, PF_ERR_INVAL, "another key"));
    uint8_t ih2[20];
    memcpy(ih2, k_ih, 20);
    ih2[19] ^= 1;
    CHECK(refused(b.data, b.len, &k, ih2, N, PF_ERR_INVAL, "another torrent"));
    CHECK(refused(b.data, b.len, &k, k_ih, N - 1, PF_ERR_INVAL, "piece count"));
    CHECK(refused(b.data, b.len, &k, k_ih, N + 1, PF_ERR_INVAL, "piece count"));
    /* A file of another key whose fingerprint was rewritten to ours: its
     * HMAC (under the other key) fails. */
    pf_buf o;
    pf_buf_init(&o);
    CHECK_EQ(pf__tag_file_encode(&o, &other, k_ih, k_tags, N), 0);
    memcpy(o.data + 32, k.fpr, 16);
    CHECK(refused(o.data, o.len, &k, k_ih, N, PF_ERR_PARSE, "corrupt"));
    pf_buf_free(&o);
    /* Not a tag file at all. */
    b.data[0] = 'X';
    CHECK(refused(b.data, b.len, &k, k_ih, N, PF_ERR_PARSE, "not a tag file"));
    pf_buf_free(&b);
}

static char g_dir[256];

static void dir_new(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/pf_tagkey_XXXXXX");
    if (!mkdtemp(g_dir)) abort();
}

static void rm_rf(const char *p)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
    if (system(cmd) != 0) abort();
}

/* Created when absent (0600, folders 0700), the same key when read again. */
TEST(key_file_created_then_kept)
{
    dir_new();
    char path[400];
    snprintf(path, sizeof path, "%s/a/b/tag.key", g_dir);
    pf__tag_key k1, k2;
    const char *why = NULL;
    CHECK_EQ(pf__tag_key_load(path, &k1, &why), 0);
    struct stat st;
    CHECK_EQ(stat(path, &st), 0);
    CHECK_EQ(st.st_mode & 0777, 0600);
    CHECK_EQ(st.st_size, PF__TAG_SECRET_LEN);
    char sub[400];
    snprintf(sub, sizeof sub, "%s/a/b", g_dir);
    CHECK_EQ(stat(sub, &st), 0);
    CHECK_EQ(st.st_mode & 0777, 0700);
    CHECK_EQ(pf__tag_key_load(path, &k2, &why), 0);
    CHECK_MEM(k1.secret, k2.secret, PF__TAG_SECRET_LEN);
    CHECK_MEM(k1.fpr, k2.fpr, PF__TAG_FPR_LEN);
    /* Another file, another key. */
    snprintf(path, sizeof path, "%s/other.key", g_dir);
    CHECK_EQ(pf__tag_key_load(path, &k2, &why), 0);
    CHECK(memcmp(k1.secret, k2.secret, PF__TAG_SECRET_LEN) != 0);
    rm_rf(g_dir);
}

/* Key files that must not be used: open to others, wrong size, a
 * symbolic link, a folder, a folder that cannot be made. */
TEST(key_file_refused)
{
    dir_new();
    char path[400], link_path[400];
    snprintf(path, sizeof path, "%s/tag.key", g_dir);
    pf__tag_key k;
    const char *why = NULL;
    CHECK_EQ(pf__tag_key_load(path, &k, &why), 0);
    CHECK_EQ(chmod(path, 0640), 0);
    CHECK_EQ(pf__tag_key_load(path, &k, &why), PF_ERR_IO);
    CHECK(strstr(why, "other users") != NULL);
    CHECK_EQ(chmod(path, 0600), 0);
    CHECK_EQ(truncate(path, 100), 0);
    CHECK_EQ(pf__tag_key_load(path, &k, &why), PF_ERR_IO);
    CHECK(strstr(why, "wrong size") != NULL);
    CHECK_EQ(truncate(path, PF__TAG_SECRET_LEN), 0);
    CHECK_EQ(pf__tag_key_load(path, &k, &why), 0);
    snprintf(link_path, sizeof link_path, "%s/link.key", g_dir);
    CHECK_EQ(symlink(path, link_path), 0);
    CHECK_EQ(pf__tag_key_load(link_path, &k, &why), PF_ERR_IO);
    CHECK_EQ(pf__tag_key_load(g_dir, &k, &why), PF_ERR_IO); /* a folder */
    snprintf(link_path, sizeof link_path, "%s/tag.key/sub/x.key", g_dir); /* under a file */
    CHECK_EQ(pf__tag_key_load(link_path, &k, &why), PF_ERR_IO);
    CHECK_EQ(pf__tag_key_load(NULL, &k, &why), PF_ERR_IO);
    rm_rf(g_dir);
}

/* Restored tags are the ones pf__piece_tags_set computes: a piece read
 * back after a restore is proved by its tag, no SHA-1. */
TEST(snapshot_restore)
{
    pf__tag_key k;
    key_fixed(&k, 9);
    uint8_t piece[1024];
    for (size_t i = 0; i < sizeof piece; i++) piece[i] = (uint8_t)(i ^ 0x3c);
    uint8_t wrong_sha[20] = {0};
    pf__piece_tags a, b;
    CHECK_EQ(pf__piece_tags_init(&a, 3, k.secret), 0);
    pf__piece_tags_set(&a, 1, piece, sizeof piece);
    uint64_t snap[3];
    CHECK_EQ(pf__piece_tags_snapshot(&a, snap), 1);
    CHECK(snap[0] == 0 && snap[1] != 0 && snap[2] == 0);
    pf_buf f;
    pf_buf_init(&f);
    CHECK_EQ(pf__tag_file_encode(&f, &k, k_ih, snap, 3), 0);
    uint64_t back[3];
    const char *why;
    CHECK_EQ(pf__tag_file_parse(f.data, f.len, &k, k_ih, 3, back, &why), 0);
    CHECK_EQ(pf__piece_tags_init(&b, 3, k.secret), 0); /* "after the restart" */
    pf__piece_tags_restore(&b, back);
    /* The SHA-1 given is wrong: only the tag can accept the piece. */
    CHECK_EQ(pf__piece_tags_verify(&b, 1, piece, sizeof piece, wrong_sha), 1);
    CHECK_EQ(atomic_load(&b.tag_hits), 1);
    CHECK_EQ(atomic_load(&b.sha1_reads), 0);
    /* Under the tag of another piece's slot, or changed: not accepted. */
    CHECK_EQ(pf__piece_tags_verify(&b, 0, piece, sizeof piece, wrong_sha), 0);
    piece[5] ^= 1;
    CHECK_EQ(pf__piece_tags_verify(&b, 1, piece, sizeof piece, wrong_sha), 0);
    CHECK_EQ(atomic_load(&b.tag[1]), 0); /* cleared by the mismatch */
    pf__piece_tags_free(&a);
    pf__piece_tags_free(&b);
    pf__piece_tags c;
    CHECK_EQ(pf__piece_tags_init(&c, 3, NULL), 0);
    CHECK_EQ(pf__piece_tags_snapshot(&c, snap), 0); /* no tags: nothing to save */
    pf_buf_free(&f);
}

TEST_MAIN(round_trip, truncated_or_longer, every_byte_flipped, wrong_key_torrent_count,
          key_file_created_then_kept, key_file_refused, snapshot_restore)
