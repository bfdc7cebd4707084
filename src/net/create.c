/* Torrent creation: walk, hash on worker threads, encode.
 *
 * The stream (all files back to back) is cut into batches of whole pieces
 * of about 4 MiB.  Worker threads (the calling thread is one of them)
 * claim batches from an atomic counter, pread them with a per-thread
 * cached fd and hash each piece, so reading and hashing scale across
 * cores. */
#include "net/create.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/codec/metainfo.h"
#include "core/util/sha1.h"
#include "peerflow/peerflow.h"

#define CR_CHUNK (4u << 20)
#define CR_MAX_THREADS 8
#define CR_MAX_FILES 100000
#define CR_MAX_DEPTH 64

typedef struct cr_file {
    char *rel;  /* path below the root ("a/b"); the name for single-file */
    char *abs;  /* path to open */
    uint64_t length;
    uint64_t offset;
    int pad; /* a BEP 47 pad file: zeros, no abs */
} cr_file;

typedef struct cr_job {
    cr_file *files;
    size_t num_files, cap_files;
    int multi;
    int is_title;        /* a packaged title (cr_title) */
    char root[PATH_MAX]; /* realpath of the root */
    uint64_t total;
    uint32_t piece_length;
    uint32_t num_pieces;
    uint32_t pieces_per_batch;
    uint8_t *hashes;
    atomic_uint_fast64_t next_batch;
    atomic_uint_fast64_t done_bytes;
    atomic_int failed;
    pthread_mutex_t err_lock;
    int err;
    char *errbuf;
    size_t errlen;
    const pf_create_opts *opts;
} cr_job;

static void cr_errf(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void cr_errf(char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (!errbuf || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

/* First error wins; later ones are dropped. */
static void cr_fail(cr_job *j, int err, const char *path, int e)
{
    pthread_mutex_lock(&j->err_lock);
    if (!j->err) {
        j->err = err;
        if (e)
            cr_errf(j->errbuf, j->errlen, "%s: %s", path, strerror(e));
        else
            cr_errf(j->errbuf, j->errlen, "%s: file changed while hashing", path);
    }
    pthread_mutex_unlock(&j->err_lock);
    atomic_store(&j->failed, 1);
}

/* ---- walking ---- */

static int cr_add(cr_job *j, const char *rel, const char *abs, uint64_t len)
{
    if (j->num_files >= CR_MAX_FILES) return PF_ERR_LIMIT;
    if (j->num_files == j->cap_files) {
        size_t nc = j->cap_files ? j->cap_files * 2 : 64;
        cr_file *f = realloc(j->files, nc * sizeof *f);
        if (!f) return PF_ERR_NOMEM;
        j->files = f;
        j->cap_files = nc;
    }
    cr_file *f = &j->files[j->num_files];
    memset(f, 0, sizeof *f);
    f->rel = strdup(rel);
    f->abs = strdup(abs);
    f->length = len;
    if (!f->rel || !f->abs) {
        free(f->rel);
        free(f->abs);
        return PF_ERR_NOMEM;
    }
    j->num_files++;
    return 0;
}

static int cr_inside_root(const cr_job *j, const char *abs)
{
    char real[PATH_MAX];
    if (!realpath(abs, real)) return 0;
    size_t n = strlen(j->root);
    return strncmp(real, j->root, n) == 0 && real[n] == '/';
}

static int cr_walk(cr_job *j, const char *abs, const char *rel, int depth,
                   char *errbuf, size_t errlen)
{
    if (depth > CR_MAX_DEPTH) {
        cr_errf(errbuf, errlen, "%s: folder nesting deeper than %d", abs, CR_MAX_DEPTH);
        return PF_ERR_LIMIT;
    }
    DIR *d = opendir(abs);
    if (!d) {
        cr_errf(errbuf, errlen, "%s: %s", abs, strerror(errno));
        return PF_ERR_IO;
    }
    int rc = 0;
    struct dirent *e;
    while (!rc && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char cabs[PATH_MAX], crel[PATH_MAX];
        if ((size_t)snprintf(cabs, sizeof cabs, "%s/%s", abs, e->d_name) >= sizeof cabs ||
            (size_t)snprintf(crel, sizeof crel, "%s%s%s", rel, *rel ? "/" : "",
                             e->d_name) >= sizeof crel) {
            cr_errf(errbuf, errlen, "%s/%s: path too long", abs, e->d_name);
            rc = PF_ERR_LIMIT;
            break;
        }
        struct stat st;
        if (lstat(cabs, &st) != 0) {
            cr_errf(errbuf, errlen, "%s: %s", cabs, strerror(errno));
            rc = PF_ERR_IO;
            break;
        }
        if (S_ISLNK(st.st_mode)) {
            /* Follow only links to regular files inside the folder. */
            if (stat(cabs, &st) != 0 || !S_ISREG(st.st_mode) || !cr_inside_root(j, cabs))
                continue;
        }
        if (S_ISDIR(st.st_mode)) {
            rc = cr_walk(j, cabs, crel, depth + 1, errbuf, errlen);
        } else if (S_ISREG(st.st_mode)) {
            if (pf_metainfo_check_path(crel) != 0) {
                cr_errf(errbuf, errlen, "%s: file name not allowed in a torrent", cabs);
                rc = PF_ERR_UNSAFE_PATH;
            } else {
                rc = cr_add(j, crel, cabs, (uint64_t)st.st_size);
                if (rc == PF_ERR_LIMIT)
                    cr_errf(errbuf, errlen, "more than %d files", CR_MAX_FILES);
                else if (rc)
                    cr_errf(errbuf, errlen, "out of memory");
            }
        } /* sockets, fifos, devices: skipped */
    }
    closedir(d);
    return rc;
}

static int cr_file_cmp(const void *a, const void *b)
{
    return strcmp(((const cr_file *)a)->rel, ((const cr_file *)b)->rel);
}

/* ---- hashing ---- */

typedef struct cr_worker {
    cr_job *job;
    uint8_t *buf;
    int fd;
    size_t fd_file; /* index of the file fd belongs to */
    pf_sha1_ctx *sha;
    int is_caller;
} cr_worker;

static size_t cr_file_at(const cr_job *j, uint64_t off)
{
    size_t lo = 0, hi = j->num_files;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (j->files[mid].offset <= off)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* Reads stream bytes [off, off+len) into dst. */
static int cr_read(cr_worker *w, uint64_t off, uint8_t *dst, size_t len)
{
    cr_job *j = w->job;
    size_t fi = cr_file_at(j, off);
    while (len > 0) {
        while (fi < j->num_files && off >= j->files[fi].offset + j->files[fi].length) fi++;
        if (fi >= j->num_files) {
            cr_fail(j, PF_ERR_IO, j->root, 0);
            return PF_ERR_IO;
        }
        cr_file *f = &j->files[fi];
        if (f->pad) {
            uint64_t in_pad = off - f->offset;
            size_t take = f->length - in_pad < len ? (size_t)(f->length - in_pad) : len;
            memset(dst, 0, take);
            dst += take;
            off += take;
            len -= take;
            continue;
        }
        if (w->fd < 0 || w->fd_file != fi) {
            if (w->fd >= 0) close(w->fd);
            w->fd = open(f->abs, O_RDONLY | O_CLOEXEC);
            if (w->fd < 0) {
                cr_fail(j, PF_ERR_IO, f->abs, errno);
                return PF_ERR_IO;
            }
            w->fd_file = fi;
#ifdef POSIX_FADV_SEQUENTIAL
            posix_fadvise(w->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
        }
        uint64_t in_file = off - f->offset;
        size_t take = f->length - in_file < len ? (size_t)(f->length - in_file) : len;
        size_t got = 0;
        while (got < take) {
            ssize_t n = pread(w->fd, dst + got, take - got, (off_t)(in_file + got));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                cr_fail(j, PF_ERR_IO, f->abs, errno);
                return PF_ERR_IO;
            }
            if (n == 0) {
                cr_fail(j, PF_ERR_IO, f->abs, 0); /* shrank */
                return PF_ERR_IO;
            }
            got += (size_t)n;
        }
        dst += take;
        off += take;
        len -= take;
    }
    return 0;
}

static void cr_progress(cr_worker *w)
{
    const pf_create_opts *o = w->job->opts;
    if (w->is_caller && o->progress)
        o->progress(o->progress_ud, atomic_load(&w->job->done_bytes), w->job->total);
}

static void *cr_work(void *arg)
{
    cr_worker *w = arg;
    cr_job *j = w->job;
    uint64_t batches = (j->num_pieces + j->pieces_per_batch - 1) / j->pieces_per_batch;
    for (;;) {
        if (atomic_load(&j->failed)) break;
        uint64_t b = atomic_fetch_add(&j->next_batch, 1);
        if (b >= batches) break;
        uint64_t p0 = b * j->pieces_per_batch;
        uint64_t p1 = p0 + j->pieces_per_batch;
        if (p1 > j->num_pieces) p1 = j->num_pieces;
        uint64_t off = p0 * j->piece_length;
        uint64_t end = p1 * j->piece_length;
        if (end > j->total) end = j->total;
        uint64_t piece = p0;
        while (off < end) {
            size_t n = end - off < CR_CHUNK ? (size_t)(end - off) : CR_CHUNK;
            if (cr_read(w, off, w->buf, n) != 0) return NULL;
            size_t pos = 0;
            while (pos < n) {
                uint64_t cur = off + pos, start = piece * j->piece_length;
                uint64_t pe = start + j->piece_length;
                if (pe > j->total) pe = j->total;
                size_t take = pe - cur < n - pos ? (size_t)(pe - cur) : n - pos;
                uint8_t *h = j->hashes + piece * 20;
                if (cur == start && cur + take == pe) {
                    pf_sha1(w->buf + pos, take, h); /* whole piece in the buffer */
                } else {
                    pf_sha1_update(w->sha, w->buf + pos, take);
                    if (cur + take == pe) pf_sha1_final(w->sha, h);
                }
                pos += take;
                if (cur + take == pe) piece++;
            }
            off += n;
            atomic_fetch_add(&j->done_bytes, n);
            cr_progress(w);
        }
    }
    return NULL;
}

static int cr_hash(cr_job *j)
{
    uint64_t batches;
    j->pieces_per_batch = j->piece_length >= CR_CHUNK ? 1 : CR_CHUNK / j->piece_length;
    batches = (j->num_pieces + j->pieces_per_batch - 1) / j->pieces_per_batch;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    size_t nthreads = ncpu > 0 ? (size_t)ncpu : 1;
    if (nthreads > CR_MAX_THREADS) nthreads = CR_MAX_THREADS;
    if (nthreads > batches) nthreads = (size_t)batches;
    if (nthreads == 0) nthreads = 1;

    cr_worker w[CR_MAX_THREADS];
    pthread_t tid[CR_MAX_THREADS];
    size_t started = 0;
    memset(w, 0, sizeof w);
    int rc = 0;
    for (size_t i = 0; i < nthreads; i++) {
        w[i].job = j;
        w[i].fd = -1;
        w[i].is_caller = i == 0;
        w[i].buf = malloc(CR_CHUNK);
        w[i].sha = pf_sha1_new(NULL);
        if (!w[i].buf || !w[i].sha) rc = PF_ERR_NOMEM;
    }
    if (!rc) {
        for (size_t i = 1; i < nthreads; i++) {
            if (pthread_create(&tid[i], NULL, cr_work, &w[i]) != 0) break;
            started = i;
        }
        cr_work(&w[0]);
        for (size_t i = 1; i <= started; i++) pthread_join(tid[i], NULL);
    }
    for (size_t i = 0; i < nthreads; i++) {
        free(w[i].buf);
        pf_sha1_free(w[i].sha);
        if (w[i].fd >= 0) close(w[i].fd);
    }
    if (rc) {
        cr_errf(j->errbuf, j->errlen, "out of memory");
        return rc;
    }
    if (j->err) return j->err;
    cr_progress(&w[0]);
    return 0;
}

/* ---- packaged titles ---- */

/* Reorders j->files (sorted by path) into a packaged title's order when
 * the folder holds one (net/create_title.c); tells the caller what it found. */
static int cr_title(cr_job *j, const pf_create_opts *o, char *errbuf, size_t errlen)
{
    size_t n = j->num_files;
    const char **rel = malloc(n * sizeof *rel);
    uint64_t *len = malloc(n * sizeof *len);
    size_t *order = malloc(n * sizeof *order);
    cr_file *sorted = malloc(n * sizeof *sorted);
    pf_buf sum;
    pf_buf_init(&sum);
    int is_title = 0, rc = rel && len && order && sorted ? 0 : PF_ERR_NOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        rel[i] = j->files[i].rel;
        len[i] = j->files[i].length;
    }
    if (!rc) rc = pf__title_order(j->root, rel, len, n, order, &is_title, &sum, errbuf, errlen);
    if (rc == PF_ERR_NOMEM) cr_errf(errbuf, errlen, "out of memory");
    j->is_title = is_title;
    if (!rc && is_title) {
        for (size_t k = 0; k < n; k++) sorted[k] = j->files[order[k]];
        memcpy(j->files, sorted, n * sizeof *sorted);
        if (o->title_summary && pf_buf_nul(&sum) == 0) o->title_summary(o->title_ud, (const char *)sum.data);
    }
    pf_buf_free(&sum);
    free(rel);
    free(len);
    free(order);
    free(sorted);
    return rc;
}

/* Pads every file but the last to a piece boundary (BEP 47): after each,
 * a pad file ".pad/N" of the N zero bytes to the next boundary. */
static int cr_align(cr_job *j)
{
    size_t n = j->num_files, m = 0;
    cr_file *out = calloc(2 * n, sizeof *out);
    if (!out) return PF_ERR_NOMEM;
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        out[m++] = j->files[i];
        off += j->files[i].length;
        uint64_t gap = (j->piece_length - off % j->piece_length) % j->piece_length;
        if (i + 1 == n || gap == 0 || j->files[i].length == 0) continue;
        char name[32];
        snprintf(name, sizeof name, ".pad/%llu", (unsigned long long)gap);
        out[m].rel = strdup(name);
        if (!out[m].rel) {
            for (size_t k = 0; k < m; k++)
                if (out[k].pad) free(out[k].rel);
            free(out);
            return PF_ERR_NOMEM;
        }
        out[m].length = gap;
        out[m].pad = 1;
        m++;
        off += gap;
    }
    free(j->files);
    j->files = out;
    j->num_files = j->cap_files = m;
    j->total = 0;
    for (size_t i = 0; i < m; i++) {
        j->files[i].offset = j->total;
        j->total += j->files[i].length;
    }
    return 0;
}

/* ---- entry point ---- */

static const char *cr_basename(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

int pf_torrent_create(const pf_create_opts *o, pf_buf *out, char *errbuf,
                      size_t errlen)
{
    if (errbuf && errlen) errbuf[0] = 0;
    if (!o || !o->path || !out) {
        cr_errf(errbuf, errlen, "no path given");
        return PF_ERR_INVAL;
    }
    cr_job *j = calloc(1, sizeof *j);
    if (!j) {
        cr_errf(errbuf, errlen, "out of memory");
        return PF_ERR_NOMEM;
    }
    pthread_mutex_init(&j->err_lock, NULL);
    j->errbuf = errbuf;
    j->errlen = errlen;
    j->opts = o;
    pf_file_entry *entries = NULL;
    int rc = 0;
    struct stat st;
    if (stat(o->path, &st) != 0 || !realpath(o->path, j->root)) {
        cr_errf(errbuf, errlen, "%s: %s", o->path, strerror(errno));
        rc = PF_ERR_IO;
        goto done;
    }
    const char *name = cr_basename(j->root);
    if (pf_metainfo_check_path(name) != 0) {
        cr_errf(errbuf, errlen, "%s: cannot name a torrent \"%s\"", o->path, name);
        rc = PF_ERR_UNSAFE_PATH;
        goto done;
    }
    if (S_ISREG(st.st_mode)) {
        rc = cr_add(j, name, j->root, (uint64_t)st.st_size);
        if (rc) cr_errf(errbuf, errlen, "out of memory");
    } else if (S_ISDIR(st.st_mode)) {
        j->multi = 1;
        rc = cr_walk(j, j->root, "", 1, errbuf, errlen);
        if (!rc && j->num_files > 1)
            qsort(j->files, j->num_files, sizeof *j->files, cr_file_cmp);
        if (!rc && j->num_files > 0 && !o->no_title) rc = cr_title(j, o, errbuf, errlen);
    } else {
        cr_errf(errbuf, errlen, "%s: not a regular file or folder", o->path);
        rc = PF_ERR_INVAL;
    }
    if (rc) goto done;
    for (size_t i = 0; i < j->num_files; i++) {
        j->files[i].offset = j->total;
        j->total += j->files[i].length;
    }
    if (j->total == 0) {
        cr_errf(errbuf, errlen, "%s: nothing to share (total size is 0)", o->path);
        rc = PF_ERR_INVAL;
        goto done;
    }
    if (j->total >= (uint64_t)1 << 50) {
        cr_errf(errbuf, errlen, "%s: too large", o->path);
        rc = PF_ERR_LIMIT;
        goto done;
    }
    j->piece_length = o->piece_length ? o->piece_length
                                      : pf_metainfo_auto_piece_length(j->total);
    if ((j->piece_length & (j->piece_length - 1)) != 0 || j->piece_length < (16u << 10) ||
        j->piece_length > (64u << 20)) {
        cr_errf(errbuf, errlen, "piece length %u is not a power of two in 16K..64M",
                (unsigned)j->piece_length);
        rc = PF_ERR_INVAL;
        goto done;
    }
    if (j->is_title && !o->no_align && j->num_files > 1 && (rc = cr_align(j)) != 0) {
        cr_errf(errbuf, errlen, "out of memory");
        goto done;
    }
    uint64_t np = (j->total + j->piece_length - 1) / j->piece_length;
    if (np > UINT32_MAX) {
        cr_errf(errbuf, errlen, "too many pieces; use a larger piece length");
        rc = PF_ERR_LIMIT;
        goto done;
    }
    j->num_pieces = (uint32_t)np;
    j->hashes = malloc((size_t)np * 20);
    entries = calloc(j->num_files, sizeof *entries);
    if (!j->hashes || !entries) {
        cr_errf(errbuf, errlen, "out of memory");
        rc = PF_ERR_NOMEM;
        goto done;
    }
    if ((rc = cr_hash(j)) != 0) goto done;
    for (size_t i = 0; i < j->num_files; i++) {
        entries[i].path = j->files[i].rel;
        entries[i].length = j->files[i].length;
        entries[i].pad = j->files[i].pad;
    }
    pf_create_params p = {
        .name = name, .files = entries, .num_files = j->num_files,
        .multi_file = j->multi, .piece_length = j->piece_length,
        .piece_hashes = j->hashes, .num_pieces = j->num_pieces,
        .trackers = o->trackers, .num_trackers = o->num_trackers,
        .webseeds = o->webseeds, .num_webseeds = o->num_webseeds,
        .private_flag = o->private_flag, .ssl_cert = o->ssl_cert, .comment = o->comment,
        .created_by = o->created_by, .creation_date = o->creation_date};
    rc = pf_metainfo_build(&p, out);
    if (rc) cr_errf(errbuf, errlen, "cannot encode torrent: %s", pf_strerror(rc));
done:
    for (size_t i = 0; i < j->num_files; i++) {
        free(j->files[i].rel);
        free(j->files[i].abs);
    }
    free(j->files);
    free(j->hashes);
    free(entries);
    pthread_mutex_destroy(&j->err_lock);
    free(j);
    return rc;
}
