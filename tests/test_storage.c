/* Tests for src/net/storage.c in a temporary directory. */
#include "net/storage.h"

#include <dirent.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "peerflow/peerflow.h"
#include "test.h"

/* Builds a metainfo in place from name/lengths/pad flags (only the fields
 * storage uses). */
typedef struct tfile {
    const char *path;
    uint64_t length;
    int pad;
} tfile;

static pf_metainfo make_mi(char *name, int multi, const tfile *tf, size_t n,
                           pf_file_entry *ents)
{
    pf_metainfo mi;
    memset(&mi, 0, sizeof mi);
    mi.name = name;
    mi.multi_file = multi;
    mi.files = ents;
    mi.num_files = n;
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        ents[i].path = (char *)tf[i].path;
        ents[i].length = tf[i].length;
        ents[i].offset = off;
        ents[i].pad = tf[i].pad;
        off += tf[i].length;
    }
    mi.total_length = off;
    mi.piece_length = 16384;
    return mi;
}

static char g_tmp[256];

static void tmp_make(void)
{
    snprintf(g_tmp, sizeof g_tmp, "/tmp/pf_storage_XXXXXX");
    if (!mkdtemp(g_tmp)) abort();
}

static void rm_rf(const char *p)
{
    struct stat st;
    if (lstat(p, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(p);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char c[1024];
            snprintf(c, sizeof c, "%s/%s", p, e->d_name);
            rm_rf(c);
        }
        if (d) closedir(d);
        rmdir(p);
    } else {
        unlink(p);
    }
}

static long long file_size(const char *dir, const char *rel)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    struct stat st;
    if (stat(p, &st) != 0) return -1;
    return (long long)st.st_size;
}

static int file_read(const char *dir, const char *rel, uint8_t *buf, size_t n)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    FILE *f = fopen(p, "rb");
    if (!f) return -1;
    size_t r = fread(buf, 1, n, f);
    fclose(f);
    return (int)r;
}

static uint8_t pat(uint64_t i) { return (uint8_t)(i * 131 + (i >> 8) + 7); }

TEST(test_single_file)
{
    tmp_make();
    char dir[512];
    snprintf(dir, sizeof dir, "%s/new/sub", g_tmp);
    tfile tf[1] = {{"a.bin", 100000, 0}};
    pf_file_entry ents[1];
    pf_metainfo mi = make_mi("a.bin", 0, tf, 1, ents);
    pf_storage *s = NULL;

    CHECK_EQ(pf_storage_open(&s, &mi, dir, 0), PF_ERR_NOTFOUND);
    CHECK(s == NULL);
    CHECK_EQ(pf_storage_open(&s, &mi, dir, 1), 0);
    CHECK(file_size(dir, ".") >= 0); /* directory created */
    CHECK_EQ(file_size(dir, "a.bin"), -1); /* file created on first write */

    static uint8_t buf[100000], got[100000];
    memset(got, 0xee, sizeof got);
    CHECK_EQ(pf_storage_read(s, 0, got, sizeof got), 0);
    for (size_t i = 0; i < sizeof got; i++) CHECK_EQ(got[i], 0);
    CHECK_EQ(pf_storage_has_data(s, 0, 10), 0);

    for (size_t i = 0; i < sizeof buf; i++) buf[i] = pat(i);
    CHECK_EQ(pf_storage_write(s, 50000, buf + 50000, 1000), 0);
    CHECK_EQ(file_size(dir, "a.bin"), 51000);
    CHECK_EQ(pf_storage_has_data(s, 50000, 1000), 1);
    CHECK_EQ(pf_storage_has_data(s, 0, 1000), 1); /* a hole: exists */
    CHECK_EQ(pf_storage_has_data(s, 50000, 1001), 0);
    /* Short file reads as zeros past its end. */
    CHECK_EQ(pf_storage_read(s, 50500, got, 1000), 0);
    CHECK_MEM(got, buf + 50500, 500);
    for (size_t i = 500; i < 1000; i++) CHECK_EQ(got[i], 0);

    CHECK_EQ(pf_storage_write(s, 0, buf, sizeof buf), 0);
    CHECK_EQ(pf_storage_sync(s), 0);
    CHECK_EQ(pf_storage_read(s, 0, got, sizeof got), 0);
    CHECK_MEM(got, buf, sizeof buf);
    CHECK_EQ(pf_storage_has_data(s, 0, sizeof buf), 1);
    /* Out of range. */
    CHECK_EQ(pf_storage_read(s, 99999, got, 2), PF_ERR_INVAL);
    CHECK_EQ(pf_storage_write(s, 100001, buf, 0), PF_ERR_INVAL);
    CHECK_EQ(pf_storage_has_data(s, UINT64_MAX, 2), 0);
    CHECK_EQ(pf_storage_read(s, 100000, got, 0), 0);
    pf_storage_close(s);

    /* Reopen existing read-only. */
    CHECK_EQ(pf_storage_open(&s, &mi, dir, 0), 0);
    memset(got, 0, sizeof got);
    CHECK_EQ(pf_storage_read(s, 0, got, sizeof got), 0);
    CHECK_MEM(got, buf, sizeof buf);
    CHECK_EQ(pf_storage_write(s, 0, buf, 10), PF_ERR_IO);
    pf_storage_close(s);
    pf_storage_close(NULL);
    rm_rf(g_tmp);
}

TEST(test_multi_file)
{
    tmp_make();
    tfile tf[] = {
        {"a/x.txt", 10, 0},   {".pad/6", 6, 1},  {"b.txt", 0, 0},
        {"a/b/c/y", 30, 0},   {"e/empty", 0, 0}, {"z", 5, 0},
        {".pad/16000", 16000, 1}, {"big", 40000, 0},
    };
    size_t n = sizeof tf / sizeof tf[0];
    pf_file_entry ents[8];
    pf_metainfo mi = make_mi("tor", 1, tf, n, ents);
    uint64_t total = mi.total_length;
    char root[512];
    snprintf(root, sizeof root, "%s/tor", g_tmp);

    pf_storage *s = NULL;
    CHECK_EQ(pf_storage_open(&s, &mi, g_tmp, 1), 0);
    /* Zero-length files exist at once; pad files never. */
    CHECK_EQ(file_size(root, "b.txt"), 0);
    CHECK_EQ(file_size(root, "e/empty"), 0);
    CHECK_EQ(file_size(root, ".pad"), -1);
    CHECK_EQ(file_size(root, "a/x.txt"), -1);

    uint8_t *buf = malloc(total), *got = malloc(total);
    CHECK(buf && got);
    for (uint64_t i = 0; i < total; i++) buf[i] = pat(i);

    /* Write in odd-sized chunks that straddle every boundary. */
    for (uint64_t off = 0; off < total;) {
        size_t len = 7;
        if (off > 60) len = 4099;
        if (len > total - off) len = (size_t)(total - off);
        CHECK_EQ(pf_storage_write(s, off, buf + off, len), 0);
        off += len;
    }
    CHECK_EQ(file_size(root, ".pad"), -1);
    CHECK_EQ(file_size(root, "a/x.txt"), 10);
    CHECK_EQ(file_size(root, "a/b/c/y"), 30);
    CHECK_EQ(file_size(root, "z"), 5);
    CHECK_EQ(file_size(root, "big"), 40000);
    uint8_t tmp[64];
    CHECK_EQ(file_read(root, "a/b/c/y", tmp, sizeof tmp), 30);
    CHECK_MEM(tmp, buf + 16, 30);
    CHECK_EQ(file_read(root, "z", tmp, sizeof tmp), 5);
    CHECK_MEM(tmp, buf + 46, 5);

    /* Reads: pad bytes are zeros, everything else round-trips. */
    memset(got, 0xee, total);
    CHECK_EQ(pf_storage_read(s, 0, got, total), 0);
    for (uint64_t i = 0; i < total; i++) {
        int padded = (i >= 10 && i < 16) || (i >= 51 && i < 16051);
        CHECK_EQ(got[i], padded ? 0 : buf[i]);
    }
    CHECK_EQ(pf_storage_read(s, 8, got, 10), 0); /* x.txt|pad|y */
    CHECK_MEM(got, buf + 8, 2);
    CHECK_EQ(got[2], 0);
    CHECK_MEM(got + 8, buf + 16, 2);
    CHECK_EQ(pf_storage_has_data(s, 0, total), 1);
    CHECK_EQ(pf_storage_sync(s), 0);
    pf_storage_close(s);

    /* has_data notices a truncated file; create=0 needs all files. */
    char p[600];
    snprintf(p, sizeof p, "%s/big", root);
    CHECK_EQ(truncate(p, 100), 0);
    CHECK_EQ(pf_storage_open(&s, &mi, g_tmp, 0), 0);
    CHECK_EQ(pf_storage_has_data(s, 0, 16151), 1);
    CHECK_EQ(pf_storage_has_data(s, 0, 16152), 0);
    CHECK_EQ(pf_storage_has_data(s, 51, 16000), 1); /* pad only */
    CHECK_EQ(pf_storage_read(s, 16100, got, 100), 0);
    for (int i = 51; i < 100; i++) CHECK_EQ(got[i], 0);
    pf_storage_close(s);
    snprintf(p, sizeof p, "%s/a/b/c/y", root);
    CHECK_EQ(unlink(p), 0);
    CHECK_EQ(pf_storage_open(&s, &mi, g_tmp, 0), PF_ERR_NOTFOUND);

    free(buf);
    free(got);
    rm_rf(g_tmp);
}

/* Many files, a tiny descriptor bound and several threads. */
#define MT_FILES 40
#define MT_LEN 1000
typedef struct mt_arg {
    pf_storage *s;
    unsigned seed;
    int errors;
} mt_arg;

static void *mt_run(void *ud)
{
    mt_arg *a = ud;
    uint8_t buf[3 * MT_LEN];
    for (int it = 0; it < 2000; it++) {
        a->seed = a->seed * 1103515245u + 12345u;
        uint64_t off = (a->seed >> 4) % (MT_FILES * MT_LEN);
        size_t len = 1 + (a->seed >> 20) % (sizeof buf);
        if (len > MT_FILES * MT_LEN - off) len = (size_t)(MT_FILES * MT_LEN - off);
        if (it & 1) {
            for (size_t i = 0; i < len; i++) buf[i] = pat(off + i);
            if (pf_storage_write(a->s, off, buf, len) != 0) a->errors++;
        } else {
            if (pf_storage_read(a->s, off, buf, len) != 0) a->errors++;
            /* Every byte is either not yet written (0) or the pattern. */
            for (size_t i = 0; i < len; i++)
                if (buf[i] != 0 && buf[i] != pat(off + i)) a->errors++;
        }
    }
    return NULL;
}

TEST(test_threads_fd_bound)
{
    tmp_make();
    static char names[MT_FILES][16];
    tfile tf[MT_FILES];
    pf_file_entry ents[MT_FILES];
    for (int i = 0; i < MT_FILES; i++) {
        snprintf(names[i], sizeof names[i], "d%d/f%d", i % 3, i);
        tf[i].path = names[i];
        tf[i].length = MT_LEN;
        tf[i].pad = 0;
    }
    pf_metainfo mi = make_mi("mt", 1, tf, MT_FILES, ents);
    pf_storage *s = NULL;
    CHECK_EQ(pf_storage_open(&s, &mi, g_tmp, 1), 0);
    pf_storage_set_max_open(s, 3);
    pthread_t th[6];
    mt_arg args[6];
    for (int i = 0; i < 6; i++) {
        args[i].s = s;
        args[i].seed = 1234u + (unsigned)i * 7919u;
        args[i].errors = 0;
        CHECK_EQ(pthread_create(&th[i], NULL, mt_run, &args[i]), 0);
    }
    for (int i = 0; i < 6; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 6; i++) CHECK_EQ(args[i].errors, 0);
    /* Fill everything, then verify end to end. */
    static uint8_t all[MT_FILES * MT_LEN];
    for (size_t i = 0; i < sizeof all; i++) all[i] = pat(i);
    CHECK_EQ(pf_storage_write(s, 0, all, sizeof all), 0);
    CHECK_EQ(pf_storage_sync(s), 0);
    static uint8_t back[MT_FILES * MT_LEN];
    CHECK_EQ(pf_storage_read(s, 0, back, sizeof back), 0);
    CHECK_MEM(back, all, sizeof all);
    /* Descriptors are bounded: count our open fds. */
    int fds = 0;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char link[600], target[600];
        snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
        ssize_t r = readlink(link, target, sizeof target - 1);
        if (r > 0) {
            target[r] = 0;
            if (strncmp(target, g_tmp, strlen(g_tmp)) == 0) fds++;
        }
    }
    if (d) closedir(d);
    CHECK(fds <= 3);
    pf_storage_close(s);
    rm_rf(g_tmp);
}

TEST_MAIN(test_single_file, test_multi_file, test_threads_fd_bound)
