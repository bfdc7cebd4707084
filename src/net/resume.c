/* Fast-resume files: <dir>/.peerflow/<info-hash hex>.resume (and, with a
 * piece tag key file, .tags beside it: net/tag_store.h), written at
 * quiet moments (download complete, client stopping) after the data is
 * fdatasync()ed, replaced atomically (write, fsync, rename).  The record's
 * format and trust rule are in core/resume.h: it is used only if every
 * file still has the size and mtime it had, else the data is re-hashed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/codec/resume.h"
#include "net/client_internal.h"

static int resume_path(const pf_client_torrent *ct, char *out, size_t n, int make_dir,
                       const char *ext)
{
    const uint8_t *ih = pf_torrent_info_hash(ct->t);
    char hex[41];
    for (int i = 0; i < 20; i++) snprintf(hex + 2 * i, 3, "%02x", ih[i]);
    int k = snprintf(out, n, "%s/.peerflow", ct->dir);
    if (k < 0 || (size_t)k >= n) return PF_ERR_INVAL;
    if (make_dir && mkdir(out, 0755) != 0 && errno != EEXIST) return PF_ERR_IO;
    k = snprintf(out, n, "%s/.peerflow/%s.%s", ct->dir, hex, ext);
    return k < 0 || (size_t)k >= n ? PF_ERR_INVAL : 0;
}

static uint64_t *stamps_of(pf_client_torrent *ct, size_t *nfiles)
{
    const pf_metainfo *mi = pf_torrent_metainfo(ct->t);
    *nfiles = mi->num_files;
    uint64_t *st = calloc(2 * mi->num_files + 1, sizeof *st);
    if (st && pf_storage_stamps(ct->st, st, mi->num_files) != 0) {
        free(st);
        st = NULL;
    }
    return st;
}

/* Replaces path by b's bytes atomically (write, fsync, rename). */
static int file_replace(const char *path, const pf_buf *b)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return PF_ERR_IO;
    size_t off = 0;
    while (off < b->len) {
        ssize_t w = write(fd, b->data + off, b->len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += (size_t)w;
    }
    int ok = off == b->len && fsync(fd) == 0;
    close(fd);
    if (ok && rename(tmp, path) == 0) return 0;
    unlink(tmp);
    return PF_ERR_IO;
}

/* The torrent's tags now, when they are to outlive the process (a key
 * file); NULL otherwise. */
static uint64_t *tags_snapshot(pf_client_torrent *ct)
{
    if (!ct->c->tag_persist || !ct->tags.tag) return NULL;
    uint64_t *tags = malloc((size_t)ct->tags.n * sizeof *tags);
    if (tags && !pf__piece_tags_snapshot(&ct->tags, tags)) {
        free(tags);
        tags = NULL;
    }
    return tags;
}

/* <info-hash>.tags beside the record (net/tag_store.h).  Not written: the
 * one there stays, and holds only tags of verified bytes (a stale tag
 * accepts only the piece's right bytes), or is refused at load. */
static void tags_save(pf_client_torrent *ct, const uint64_t *tags)
{
    char path[4096];
    if (resume_path(ct, path, sizeof path, 1, "tags") != 0) return;
    pf_buf b;
    pf_buf_init(&b);
    if (pf__tag_file_encode(&b, &ct->c->tag_key, pf_torrent_info_hash(ct->t), tags, ct->tags.n) == 0)
        file_replace(path, &b);
    pf_buf_free(&b);
}

int pf__resume_load_tags(pf_client_torrent *ct, const pf_bitfield *have, const char **why)
{
    *why = "not found";
    char path[4096];
    const pf_metainfo *mi = pf_torrent_metainfo(ct->t);
    if (!ct->st || !mi || resume_path(ct, path, sizeof path, 0, "tags") != 0) return PF_ERR_NOTFOUND;
    FILE *f = fopen(path, "rb");
    if (!f) return PF_ERR_NOTFOUND;
    size_t want = PF__TAG_FILE_HEAD + 8 * (size_t)mi->num_pieces + PF__TAG_FILE_MAC;
    uint8_t *buf = malloc(want + 1);
    uint64_t *tags = calloc(mi->num_pieces ? mi->num_pieces : 1, sizeof *tags);
    size_t n = buf && tags ? fread(buf, 1, want + 1, f) : 0;
    fclose(f);
    int rc = PF_ERR_NOMEM;
    *why = "out of memory";
    if (buf && tags)
        rc = pf__tag_file_parse(buf, n, &ct->c->tag_key, pf_torrent_info_hash(ct->t), mi->num_pieces,
                                tags, why);
    if (rc == 0 && !ct->tags_ready) {
        rc = pf__piece_tags_init(&ct->tags, mi->num_pieces, ct->c->tag_key.secret);
        ct->tags_ready = rc == 0;
    }
    if (rc == 0) {
        /* Only pieces the record claims: no read-back of another is made. */
        for (uint32_t i = 0; i < mi->num_pieces; i++) {
            if (!pf_bitfield_get(have, i)) tags[i] = 0;
            rc += tags[i] != 0;
        }
        pf__piece_tags_restore(&ct->tags, tags);
    }
    free(buf);
    free(tags);
    return rc;
}

int pf__resume_save(pf_client_torrent *ct)
{
    uint32_t npieces = 0;
    const uint8_t *bits = pf_torrent_have(ct->t, &npieces);
    /* Only once the check is over: a check cut short by a stop has not
     * looked at the rest, which a record would call missing. */
    if (!ct->st || !bits || !ct->checked || pf_torrent_state(ct->t) == PF_TS_CHECKING)
        return PF_ERR_INVAL;
    char path[4096];
    int rc = resume_path(ct, path, sizeof path, 1, "resume");
    if (rc) return rc;
    uint64_t *tags = tags_snapshot(ct);
    /* The pieces the record vouches for must be on the disk first. */
    if ((rc = pf_storage_sync(ct->st)) != 0) {
        free(tags);
        return rc;
    }
    size_t nfiles;
    uint64_t *st = stamps_of(ct, &nfiles);
    if (!st) {
        free(tags);
        return PF_ERR_NOMEM;
    }
    pf_buf b;
    pf_buf_init(&b);
    pf_bitfield have;
    rc = pf_bitfield_init(&have, npieces);
    if (rc == 0) rc = pf_bitfield_load(&have, bits, pf_bitfield_bytes(npieces));
    if (rc == 0) rc = pf_resume_encode(&b, pf_torrent_info_hash(ct->t), &have, st, nfiles);
    pf_bitfield_free(&have);
    free(st);
    if (rc) goto out;
    rc = file_replace(path, &b);
    /* Then the tags, taken before the sync: each is of bytes whose write
     * had returned, now on the disk (docs/ARCHITECTURE.md). */
    if (rc == 0 && tags) tags_save(ct, tags);
out:
    free(tags);
    pf_buf_free(&b);
    return rc;
}

int pf__resume_load(pf_client_torrent *ct, pf_bitfield *have, const char **why)
{
    *why = "no record";
    char path[4096];
    if (!ct->st || resume_path(ct, path, sizeof path, 0, "resume") != 0) return PF_ERR_NOTFOUND;
    FILE *f = fopen(path, "rb");
    if (!f) return PF_ERR_NOTFOUND;
    /* A record is ~(pieces / 8 + 24 * files) bytes; refuse absurd ones. */
    const pf_metainfo *mi = pf_torrent_metainfo(ct->t);
    size_t cap = pf_bitfield_bytes(mi->num_pieces) + 48 * mi->num_files + 256;
    uint8_t *buf = malloc(cap + 1);
    size_t n = buf ? fread(buf, 1, cap + 1, f) : 0;
    fclose(f);
    int rc = PF_ERR_PARSE;
    *why = "too large";
    if (buf && n <= cap) {
        size_t nfiles;
        uint64_t *st = stamps_of(ct, &nfiles);
        rc = st ? pf_resume_parse(buf, n, pf_torrent_info_hash(ct->t), st, nfiles, have, why)
                : PF_ERR_NOMEM;
        free(st);
    }
    free(buf);
    return rc;
}
