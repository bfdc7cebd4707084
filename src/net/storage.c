/* File storage for a torrent's byte stream (see storage.h). */
#include "net/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "peerflow/peerflow.h"

typedef struct sfile sfile;
struct sfile {
    char *path;      /* absolute or dir-relative full path */
    uint64_t offset; /* in the torrent stream */
    uint64_t length;
    int pad;
    /* Guarded by pf_storage.mu: */
    int fd;          /* -1 = closed */
    int writable;    /* fd was opened O_RDWR */
    int dirty;       /* written since the last sync */
    dev_t dev;       /* its file system (known once opened for writing) */
    int dev_known;
    unsigned users;  /* calls currently using fd; never closed while > 0 */
    sfile *prev, *next; /* LRU list of open files, most recent first */
};

struct pf_storage {
    sfile *files;
    size_t num_files;
    char *root;       /* dir, or dir/name for a multi-file torrent */
    dev_t root_dev;   /* the root's file system (for syncfs) */
    int root_dev_known;
    uint64_t total;
    int create;
    pthread_mutex_t mu;
    size_t open_count, max_open;
    sfile *lru_head, *lru_tail;
};

/* ---- helpers ------------------------------------------------------------ */

static char *path_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + lb + 2);
    if (!p) return NULL;
    memcpy(p, a, la);
    size_t n = la;
    if (n > 0 && p[n - 1] != '/') p[n++] = '/';
    memcpy(p + n, b, lb + 1);
    return p;
}

/* mkdir -p for every directory component of path (up to the last '/'),
 * and for path itself when whole is set. */
static int make_dirs(const char *path, int whole)
{
    char *tmp = strdup(path);
    if (!tmp) return PF_ERR_NOMEM;
    size_t n = strlen(tmp);
    int rc = 0;
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] != '/' && !(whole && tmp[i] == 0)) continue;
        char save = tmp[i];
        tmp[i] = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
            rc = PF_ERR_IO;
            break;
        }
        tmp[i] = save;
    }
    free(tmp);
    return rc;
}

static void lru_unlink(pf_storage *s, sfile *f)
{
    if (f->prev) f->prev->next = f->next;
    else s->lru_head = f->next;
    if (f->next) f->next->prev = f->prev;
    else s->lru_tail = f->prev;
    f->prev = f->next = NULL;
}

static void lru_push_front(pf_storage *s, sfile *f)
{
    f->prev = NULL;
    f->next = s->lru_head;
    if (s->lru_head) s->lru_head->prev = f;
    s->lru_head = f;
    if (!s->lru_tail) s->lru_tail = f;
}

/* Closes f's descriptor; caller holds mu and f->users == 0. */
static void file_close_locked(pf_storage *s, sfile *f)
{
    lru_unlink(s, f);
    close(f->fd);
    f->fd = -1;
    f->writable = 0;
    s->open_count--;
}

/* Closes idle descriptors from the LRU tail until under the bound. */
static void evict_locked(pf_storage *s)
{
    sfile *f = s->lru_tail;
    while (s->open_count > s->max_open && f) {
        sfile *prev = f->prev;
        if (f->users == 0) file_close_locked(s, f);
        f = prev;
    }
}

static int open_retry(const char *path, int flags)
{
    int fd;
    do {
        fd = open(path, flags | O_CLOEXEC, 0644);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

/* Acquires f's descriptor for one call.  Returns the fd (>= 0), or
 * PF_ERR_NOTFOUND if for_write is 0 and the file does not exist (reads as
 * zeros), or PF_ERR_IO.  Release with file_release. */
static int file_acquire(pf_storage *s, sfile *f, int for_write)
{
    int rc;
    pthread_mutex_lock(&s->mu);
    if (f->fd >= 0 && (f->writable || !for_write)) {
        lru_unlink(s, f);
        lru_push_front(s, f);
        f->users++;
        rc = f->fd;
        goto out;
    }
    if (for_write && !s->create) {
        rc = PF_ERR_IO;
        goto out;
    }
    if (f->fd >= 0) {
        /* Open read-only (permission fallback) but a write needs it: the
         * file cannot be written. */
        rc = PF_ERR_IO;
        goto out;
    }
    int fd, writable = 0;
    if (!s->create) {
        fd = open_retry(f->path, O_RDONLY);
    } else {
        int flags = O_RDWR | (for_write ? O_CREAT : 0);
        fd = open_retry(f->path, flags);
        if (fd < 0 && errno == ENOENT && for_write && make_dirs(f->path, 0) == 0)
            fd = open_retry(f->path, flags);
        if (fd >= 0)
            writable = 1;
        else if (!for_write && (errno == EACCES || errno == EROFS || errno == EPERM))
            fd = open_retry(f->path, O_RDONLY); /* readable at least */
    }
    if (fd < 0) {
        rc = (errno == ENOENT && !for_write) ? PF_ERR_NOTFOUND : PF_ERR_IO;
        goto out;
    }
    f->fd = fd;
    f->writable = writable;
    f->users = 1;
    if (writable && !f->dev_known) {
        struct stat st;
        if (fstat(fd, &st) == 0) {
            f->dev = st.st_dev;
            f->dev_known = 1;
        }
    }
    lru_push_front(s, f);
    s->open_count++;
    evict_locked(s);
    rc = fd;
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void file_release(pf_storage *s, sfile *f, int wrote)
{
    pthread_mutex_lock(&s->mu);
    f->users--;
    if (wrote) f->dirty = 1;
    evict_locked(s);
    pthread_mutex_unlock(&s->mu);
}

/* Index of the first file with bytes at or after offset: the last file
 * whose offset <= offset (empty files are skipped by the callers). */
static size_t file_index(const pf_storage *s, uint64_t offset)
{
    size_t lo = 0, hi = s->num_files;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->files[mid].offset <= offset) lo = mid;
        else hi = mid;
    }
    return lo;
}

static int range_ok(const pf_storage *s, uint64_t offset, size_t len)
{
    return offset <= s->total && (uint64_t)len <= s->total - offset;
}

/* ---- open / close ------------------------------------------------------- */

int pf_storage_open(pf_storage **out, const pf_metainfo *mi, const char *dir,
                    int create)
{
    if (!out || !mi || !dir || !mi->name || mi->num_files == 0) return PF_ERR_INVAL;
    *out = NULL;
    pf_storage *s = calloc(1, sizeof *s);
    if (!s) return PF_ERR_NOMEM;
    s->create = create ? 1 : 0;
    s->total = mi->total_length;
    s->max_open = PF_STORAGE_MAX_OPEN;
    pthread_mutex_init(&s->mu, NULL);
    int rc = PF_ERR_NOMEM;
    char *root = mi->multi_file ? path_join(dir, mi->name) : strdup(dir);
    if (!root) goto fail;
    s->files = calloc(mi->num_files, sizeof *s->files);
    if (!s->files) goto fail;
    s->num_files = mi->num_files;
    for (size_t i = 0; i < mi->num_files; i++) {
        const pf_file_entry *e = &mi->files[i];
        sfile *f = &s->files[i];
        f->fd = -1;
        f->offset = e->offset;
        f->length = e->length;
        f->pad = e->pad;
        f->path = path_join(root, mi->multi_file ? e->path : mi->name);
        if (!f->path) goto fail;
    }
    if (create) {
        rc = make_dirs(root, 1);
        if (rc) goto fail;
    }
    struct stat rst;
    if (stat(root, &rst) == 0) {
        s->root_dev = rst.st_dev;
        s->root_dev_known = 1;
    }
    for (size_t i = 0; i < s->num_files; i++) {
        sfile *f = &s->files[i];
        if (f->pad) continue;
        if (!create) {
            struct stat st;
            if (stat(f->path, &st) != 0) {
                rc = errno == ENOENT || errno == ENOTDIR ? PF_ERR_NOTFOUND : PF_ERR_IO;
                goto fail;
            }
            if (!S_ISREG(st.st_mode)) {
                rc = PF_ERR_IO;
                goto fail;
            }
        } else if (f->length == 0) {
            /* Never written, so create it now. */
            if (make_dirs(f->path, 0) != 0) {
                rc = PF_ERR_IO;
                goto fail;
            }
            int fd = open_retry(f->path, O_WRONLY | O_CREAT);
            if (fd < 0) {
                rc = PF_ERR_IO;
                goto fail;
            }
            close(fd);
        }
    }
    s->root = root;
    *out = s;
    return 0;
fail:
    free(root);
    pf_storage_close(s);
    return rc;
}

int pf_storage_stamps(pf_storage *s, uint64_t *out, size_t n)
{
    if (!s || n != s->num_files) return PF_ERR_INVAL;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (s->files[i].pad) {
            out[2 * i] = out[2 * i + 1] = 0;
        } else if (stat(s->files[i].path, &st) != 0) {
            out[2 * i] = out[2 * i + 1] = UINT64_MAX;
        } else {
            out[2 * i] = (uint64_t)st.st_size;
            out[2 * i + 1] = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
        }
    }
    return 0;
}

void pf_storage_close(pf_storage *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->num_files; i++) {
        if (s->files[i].fd >= 0) close(s->files[i].fd);
        free(s->files[i].path);
    }
    free(s->files);
    free(s->root);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

void pf_storage_set_max_open(pf_storage *s, size_t max_open)
{
    pthread_mutex_lock(&s->mu);
    s->max_open = max_open ? max_open : 1;
    evict_locked(s);
    pthread_mutex_unlock(&s->mu);
}

/* ---- I/O ---------------------------------------------------------------- */

/* pread all of n bytes at off; zero-fills past EOF.  0 or PF_ERR_IO. */
static int read_full(int fd, uint8_t *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0) {
            if (errno == EINTR) continue;
            return PF_ERR_IO;
        }
        if (r == 0) {
            memset(p, 0, n);
            return 0;
        }
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

static int write_full(int fd, const uint8_t *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t r = pwrite(fd, p, n, (off_t)off);
        if (r < 0) {
            if (errno == EINTR) continue;
            return errno == ENOSPC || errno == EDQUOT ? PF_ERR_NOSPACE : PF_ERR_IO;
        }
        if (r == 0) return PF_ERR_NOSPACE; /* a short write: the device is full */
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* Calls fn for each file segment of [offset, offset + len) in order; fn
 * gets the file, the offset inside it, the segment length and how many
 * bytes of the range came before it.  Stops at fn's first non-zero. */
typedef int (*seg_fn)(pf_storage *s, sfile *f, uint64_t in_off, size_t n, size_t done, void *ud);

static int for_each_segment(pf_storage *s, uint64_t offset, size_t len, seg_fn fn, void *ud)
{
    size_t i = file_index(s, offset), done = 0;
    while (done < len && i < s->num_files) {
        sfile *f = &s->files[i++];
        uint64_t pos = offset + done;
        if (f->length == 0 || pos >= f->offset + f->length) continue;
        uint64_t in_off = pos - f->offset;
        uint64_t avail = f->length - in_off;
        size_t n = avail < len - done ? (size_t)avail : len - done;
        int rc = fn(s, f, in_off, n, done, ud);
        if (rc) return rc;
        done += n;
    }
    return done == len ? 0 : PF_ERR_IO;
}

static int seg_read(pf_storage *s, sfile *f, uint64_t in_off, size_t n, size_t done, void *ud)
{
    uint8_t *buf = (uint8_t *)ud + done;
    if (f->pad) {
        memset(buf, 0, n);
        return 0;
    }
    int fd = file_acquire(s, f, 0);
    if (fd == PF_ERR_NOTFOUND) { /* never written: zeros */
        memset(buf, 0, n);
        return 0;
    }
    if (fd < 0) return PF_ERR_IO;
    int rc = read_full(fd, buf, n, in_off);
    file_release(s, f, 0);
    return rc;
}

int pf_storage_read(pf_storage *s, uint64_t offset, uint8_t *buf, size_t len)
{
    if (!range_ok(s, offset, len)) return PF_ERR_INVAL;
    return for_each_segment(s, offset, len, seg_read, buf);
}

static int seg_write(pf_storage *s, sfile *f, uint64_t in_off, size_t n, size_t done, void *ud)
{
    if (f->pad) return 0; /* BEP 47: pad files are never created */
    int fd = file_acquire(s, f, 1);
    if (fd < 0) return PF_ERR_IO;
    int rc = write_full(fd, (const uint8_t *)ud + done, n, in_off);
    file_release(s, f, 1);
    return rc;
}

int pf_storage_write(pf_storage *s, uint64_t offset, const uint8_t *buf, size_t len)
{
    if (!range_ok(s, offset, len)) return PF_ERR_INVAL;
    return for_each_segment(s, offset, len, seg_write, (void *)buf);
}

static int seg_discard(pf_storage *s, sfile *f, uint64_t in_off, size_t n, size_t done, void *ud)
{
    (void)done;
    if (f->pad) return 0;
    int fd = file_acquire(s, f, 1);
    /* Keep the size, free the blocks; file systems without hole punching
     * simply keep the data. */
    if (fd < 0 || fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)in_off, (off_t)n) != 0)
        *(int *)ud = PF_ERR_IO;
    if (fd >= 0) file_release(s, f, 1);
    return 0; /* try every segment */
}

int pf_storage_discard(pf_storage *s, uint64_t offset, size_t len)
{
    if (!range_ok(s, offset, len)) return PF_ERR_INVAL;
    int err = 0;
    int rc = for_each_segment(s, offset, len, seg_discard, &err);
    return rc ? rc : err;
}

static int seg_has(pf_storage *s, sfile *f, uint64_t in_off, size_t n, size_t done, void *ud)
{
    (void)s;
    (void)done;
    (void)ud;
    if (f->pad) return 0;
    struct stat st;
    if (stat(f->path, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < in_off + n)
        return 1; /* missing: stop */
    return 0;
}

int pf_storage_has_data(pf_storage *s, uint64_t offset, size_t len)
{
    if (!range_ok(s, offset, len)) return 0;
    return for_each_segment(s, offset, len, seg_has, NULL) == 0;
}

/* fdatasync()s each dirty file (of one class: on the root's file system
 * or not, or all), reopening the ones closed meanwhile. */
static int sync_each(pf_storage *s, int which)
{
    int result = 0;
    for (size_t i = 0; i < s->num_files; i++) {
        sfile *f = &s->files[i];
        pthread_mutex_lock(&s->mu);
        int on_root = f->dev_known && s->root_dev_known && f->dev == s->root_dev;
        int dirty = f->dirty && (which < 0 || which == on_root);
        if (dirty) f->dirty = 0;
        pthread_mutex_unlock(&s->mu);
        if (!dirty) continue;
        int fd = file_acquire(s, f, 1);
        int rc = fd < 0 ? PF_ERR_IO : 0;
        if (fd >= 0) {
            if (fdatasync(fd) != 0) rc = PF_ERR_IO;
            file_release(s, f, 0);
        }
        if (rc) {
            pthread_mutex_lock(&s->mu);
            f->dirty = 1; /* retry next time */
            pthread_mutex_unlock(&s->mu);
            result = rc;
        }
    }
    return result;
}

/* One syncfs(2) for every dirty file on the root's file system: with many
 * small files, one open and one fdatasync each cost minutes (100,000
 * files: 200,038 openat and 100,000 fdatasync calls, 14-55 s). */
static int sync_root_fs(pf_storage *s)
{
    size_t n = 0;
    size_t *taken = malloc(s->num_files * sizeof *taken);
    if (!taken) return PF_ERR_NOMEM;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->num_files; i++) {
        sfile *f = &s->files[i];
        if (f->dirty && f->dev_known && f->dev == s->root_dev) {
            f->dirty = 0;
            taken[n++] = i;
        }
    }
    pthread_mutex_unlock(&s->mu);
    int rc = 0;
    if (n > 0) {
        int dfd = open_retry(s->root, O_RDONLY | O_DIRECTORY);
        rc = dfd >= 0 && syncfs(dfd) == 0 ? 0 : PF_ERR_IO;
        if (dfd >= 0) close(dfd);
        if (rc) {
            pthread_mutex_lock(&s->mu);
            for (size_t k = 0; k < n; k++) s->files[taken[k]].dirty = 1;
            pthread_mutex_unlock(&s->mu);
        }
    }
    free(taken);
    return rc;
}

int pf_storage_sync(pf_storage *s)
{
    size_t dirty = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->num_files; i++) dirty += s->files[i].dirty != 0;
    pthread_mutex_unlock(&s->mu);
    if (dirty == 0) return 0;
    if (dirty <= PF_STORAGE_SYNC_EACH || !s->root_dev_known || !s->root) return sync_each(s, -1);
    int rc = sync_root_fs(s);
    int rc2 = sync_each(s, 0); /* files on another file system, if any */
    return rc ? rc : rc2;
}
