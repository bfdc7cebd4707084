/* Blocking, thread-safe file storage: a torrent's byte stream mapped onto
 * its files.  Called from libuv's threadpool; every function may block on
 * disk I/O.  read/write/has_data/sync may run concurrently from several
 * threads on one pf_storage (pread/pwrite on shared descriptors; opening
 * and closing descriptors is serialised by a mutex).  open/close must not
 * race with anything else on the same object. */
#ifndef PF_NET_STORAGE_H
#define PF_NET_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/codec/metainfo.h"

typedef struct pf_storage pf_storage;

/* Default bound on descriptors held open at once (least recently used
 * idle ones are closed beyond it; descriptors in use by a running call are
 * never closed, so the bound can be exceeded by the number of concurrent
 * calls). */
#define PF_STORAGE_MAX_OPEN 128

/* Files live at dir/name (single-file torrent) or dir/name/<path>
 * (multi-file).  mi is borrowed for the call only (paths are copied).
 *
 * create = 1: the root directory (dir, or dir/name) and zero-length files
 * are created now; other missing files and their directories are created
 * (mode 0644 / 0755) by the first write that touches them, and grow
 * sparsely as written.  Reads of missing or short files return zeros.
 * create = 0: every non-pad file must already exist (PF_ERR_NOTFOUND
 * otherwise); files are opened read-only and writes fail with PF_ERR_IO.
 *
 * BEP 47 pad files are never created: reads return zeros, writes are
 * dropped.  Returns 0 and *out, or PF_ERR_NOTFOUND, PF_ERR_IO,
 * PF_ERR_INVAL (NULL arguments), PF_ERR_NOMEM. */
int pf_storage_open(pf_storage **out, const pf_metainfo *mi, const char *dir,
                    int create);

/* Reads [offset, offset + len) across file boundaries into buf; bytes
 * past the end of a short or missing file read as zeros.  Returns 0,
 * PF_ERR_IO, or PF_ERR_INVAL if the range is outside the torrent. */
int pf_storage_read(pf_storage *s, uint64_t offset, uint8_t *buf, size_t len);

/* Writes buf to [offset, offset + len) across file boundaries.  Returns
 * 0, PF_ERR_IO (including a read-only storage), or PF_ERR_INVAL if the
 * range is outside the torrent. */
int pf_storage_write(pf_storage *s, uint64_t offset, const uint8_t *buf,
                     size_t len);

/* 1 if every non-pad file covering the range exists and is long enough to
 * hold its part of the range, else 0 (also for a range outside the
 * torrent).  Used to skip hashing data that cannot be there. */
int pf_storage_has_data(pf_storage *s, uint64_t offset, size_t len);

/* Makes every write so far durable.  Up to PF_STORAGE_SYNC_EACH files
 * written since the last sync: fdatasync() each (reopening ones closed
 * meanwhile); more: one syncfs() of the torrent's file system (one call
 * instead of an open and a sync per small file), and fdatasync() for any
 * file on another file system.  Returns 0 or PF_ERR_IO. */
#define PF_STORAGE_SYNC_EACH 16
int pf_storage_sync(pf_storage *s);
/* Frees the disk space of a range (hole punch), keeping file sizes; used
 * when a cache limit evicts a piece.  0 or PF_ERR_IO. */
int pf_storage_discard(pf_storage *s, uint64_t offset, size_t len);

/* What identifies the files' contents cheaply, for fast resume: per file
 * (pad files included, as zeros) its size and modification time in ns,
 * st[2*i] and st[2*i+1]; a missing file reads UINT64_MAX, UINT64_MAX.
 * n must be the torrent's file count.  Returns 0 or PF_ERR_INVAL. */
int pf_storage_stamps(pf_storage *s, uint64_t *st, size_t n);

/* Closes all descriptors (no sync) and frees s.  NULL is a no-op. */
void pf_storage_close(pf_storage *s);

/* Changes the descriptor bound (minimum 1); for tests and tuning. */
void pf_storage_set_max_open(pf_storage *s, size_t max_open);

#endif
