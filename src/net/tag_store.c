/* Piece tags kept across restarts: the key file and the tag file format
 * (see tag_store.h). */
#include "net/tag_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "peerflow/peerflow.h"

static const uint8_t k_magic[8] = {'P', 'F', 'T', 'A', 'G', 'S', 0, 1};

static int hmac256(const uint8_t *key, size_t klen, const uint8_t *d, size_t n, uint8_t out[32])
{
    unsigned int len = 0;
    return HMAC(EVP_sha256(), key, (int)klen, d, n, out, &len) && len == 32 ? 0 : PF_ERR_IO;
}

int pf__tag_key_derive(pf__tag_key *k)
{
    static const char fpr_label[] = "peerflow tag key fingerprint 1";
    static const char mac_label[] = "peerflow tag file mac 1";
    uint8_t f[32];
    int rc = hmac256(k->secret, PF__TAG_SECRET_LEN, (const uint8_t *)fpr_label, sizeof fpr_label - 1, f);
    if (rc == 0)
        rc = hmac256(k->secret, PF__TAG_SECRET_LEN, (const uint8_t *)mac_label, sizeof mac_label - 1, k->mac);
    memcpy(k->fpr, f, PF__TAG_FPR_LEN);
    return rc;
}

/* The folders above path, 0700 where they are made. */
static int mkdir_parents(const char *path)
{
    char p[4096];
    int n = snprintf(p, sizeof p, "%s", path);
    if (n < 0 || (size_t)n >= sizeof p) return -1;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        int rc = mkdir(p, 0700);
        *s = '/';
        if (rc != 0 && errno != EEXIST) return -1;
    }
    return 0;
}

static int key_read(int fd, pf__tag_key *k, const char **why)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        *why = "not a regular file";
        return PF_ERR_IO;
    }
    if (st.st_uid != geteuid() || (st.st_mode & 077)) {
        *why = "open to other users (want mode 0600, this user's)";
        return PF_ERR_IO;
    }
    if (st.st_size != PF__TAG_SECRET_LEN) {
        *why = "not a key (wrong size)";
        return PF_ERR_IO;
    }
    size_t off = 0;
    while (off < PF__TAG_SECRET_LEN) {
        ssize_t r = read(fd, k->secret + off, PF__TAG_SECRET_LEN - off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        off += (size_t)r;
    }
    if (off != PF__TAG_SECRET_LEN) {
        *why = "cannot be read";
        return PF_ERR_IO;
    }
    if (pf__tag_key_derive(k) != 0) {
        *why = "no HMAC";
        return PF_ERR_IO;
    }
    return 0;
}

/* A new key, complete on disk under a temporary name, linked into place
 * (link fails if another process put one there first: then theirs is
 * used).  0, or -1 with *why. */
static int key_create(const char *path, const char **why)
{
    char tmp[4200];
    if (mkdir_parents(path) != 0) {
        *why = "its folder cannot be created";
        return -1;
    }
    int n = snprintf(tmp, sizeof tmp, "%s.XXXXXX", path);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        *why = "path too long";
        return -1;
    }
    int fd = mkstemp(tmp); /* 0600 */
    if (fd < 0) {
        *why = "cannot be created";
        return -1;
    }
    uint8_t secret[PF__TAG_SECRET_LEN];
    int ok = RAND_bytes(secret, sizeof secret) == 1 && fchmod(fd, 0600) == 0;
    size_t off = 0;
    while (ok && off < sizeof secret) {
        ssize_t w = write(fd, secret + off, sizeof secret - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += (size_t)w;
    }
    OPENSSL_cleanse(secret, sizeof secret);
    ok = ok && off == sizeof secret && fsync(fd) == 0;
    close(fd);
    if (ok && link(tmp, path) != 0 && errno != EEXIST) {
        /* A file system without hard links: rename (atomic, but it may
         * replace a key another process made a moment ago, whose tag
         * files are then refused: SHA-1 read-backs, nothing worse). */
        int e = errno;
        ok = (e == EPERM || e == ENOTSUP || e == EOPNOTSUPP) && rename(tmp, path) == 0;
    }
    unlink(tmp);
    if (!ok) *why = "cannot be written";
    return ok ? 0 : -1;
}

int pf__tag_key_load(const char *path, pf__tag_key *k, const char **why)
{
    *why = "cannot be read";
    if (!path || !*path) return PF_ERR_IO;
    for (int tries = 0; tries < 2; tries++) {
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0) {
            int rc = key_read(fd, k, why);
            close(fd);
            if (rc != 0) OPENSSL_cleanse(k, sizeof *k);
            return rc;
        }
        if (errno != ENOENT) {
            *why = errno == ELOOP ? "a symbolic link" : "cannot be opened";
            return PF_ERR_IO;
        }
        if (tries == 0 && key_create(path, why) != 0) return PF_ERR_IO;
    }
    return PF_ERR_IO;
}

static void le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

int pf__tag_file_encode(pf_buf *out, const pf__tag_key *k, const uint8_t info_hash[20],
                        const uint64_t *tags, uint32_t n)
{
    size_t len = PF__TAG_FILE_HEAD + 8 * (size_t)n + PF__TAG_FILE_MAC;
    if (pf_buf_reserve(out, len) != 0) return PF_ERR_NOMEM;
    uint8_t *p = out->data + out->len;
    memcpy(p, k_magic, 8);
    memcpy(p + 8, info_hash, 20);
    le32(p + 28, n);
    memcpy(p + 32, k->fpr, PF__TAG_FPR_LEN);
    for (uint32_t i = 0; i < n; i++) le64(p + PF__TAG_FILE_HEAD + 8 * (size_t)i, tags[i]);
    size_t body = len - PF__TAG_FILE_MAC;
    if (hmac256(k->mac, sizeof k->mac, p, body, p + body) != 0) return PF_ERR_IO;
    out->len += len;
    return 0;
}

int pf__tag_file_parse(const uint8_t *buf, size_t len, const pf__tag_key *k,
                       const uint8_t info_hash[20], uint32_t n, uint64_t *tags, const char **why)
{
    if (len < PF__TAG_FILE_HEAD + PF__TAG_FILE_MAC || memcmp(buf, k_magic, 8) != 0) {
        *why = len < PF__TAG_FILE_HEAD + PF__TAG_FILE_MAC ? "truncated" : "not a tag file";
        return PF_ERR_PARSE;
    }
    if (CRYPTO_memcmp(buf + 32, k->fpr, PF__TAG_FPR_LEN) != 0) {
        *why = "made under another key";
        return PF_ERR_INVAL;
    }
    if (memcmp(buf + 8, info_hash, 20) != 0) {
        *why = "another torrent's";
        return PF_ERR_INVAL;
    }
    uint32_t fn = (uint32_t)buf[28] | (uint32_t)buf[29] << 8 | (uint32_t)buf[30] << 16 |
                  (uint32_t)buf[31] << 24;
    if (fn != n) {
        *why = "another piece count";
        return PF_ERR_INVAL;
    }
    if (len != PF__TAG_FILE_HEAD + 8 * (size_t)n + PF__TAG_FILE_MAC) {
        *why = "wrong size";
        return PF_ERR_PARSE;
    }
    uint8_t mac[32];
    size_t body = len - PF__TAG_FILE_MAC;
    if (hmac256(k->mac, sizeof k->mac, buf, body, mac) != 0 ||
        CRYPTO_memcmp(mac, buf + body, PF__TAG_FILE_MAC) != 0) {
        *why = "corrupt (its HMAC fails)";
        return PF_ERR_PARSE;
    }
    for (uint32_t i = 0; i < n; i++) tags[i] = get_le64(buf + PF__TAG_FILE_HEAD + 8 * (size_t)i);
    return 0;
}
