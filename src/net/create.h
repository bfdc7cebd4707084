/* Torrent creation from a file or folder (blocking; for the CLI). */
#ifndef PF_NET_CREATE_H
#define PF_NET_CREATE_H

#include <stddef.h>
#include <stdint.h>

#include "core/util/buf.h"

typedef struct pf_create_opts {
    const char *path;
    uint32_t piece_length; /* 0 = auto (pf_metainfo_auto_piece_length) */
    const char *const *trackers; /* each its own tier */
    size_t num_trackers;
    const char *const *webseeds;
    size_t num_webseeds;
    int private_flag;
    const char *comment;    /* may be NULL */
    const char *created_by; /* may be NULL */
    int64_t creation_date;  /* 0 = omit */
    /* Optional, called from the calling thread while hashing (bytes done
     * of total) and once at the end; may be NULL. */
    void (*progress)(void *ud, uint64_t done, uint64_t total);
    void *progress_ud;
} pf_create_opts;

/* Reads the file, or walks the folder (sorted by path; symlinks are
 * followed only to regular files inside the folder; special files are
 * skipped), hashes pieces streaming across file boundaries on several
 * threads, and appends the .torrent bytes to out.  Returns 0, or a
 * negative pf_err (PF_ERR_IO, PF_ERR_INVAL, PF_ERR_UNSAFE_PATH,
 * PF_ERR_LIMIT, PF_ERR_NOMEM) with a message in errbuf. */
int pf_torrent_create(const pf_create_opts *o, pf_buf *out, char *errbuf,
                      size_t errlen);

#endif
