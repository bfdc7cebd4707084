/* Torrent creation from a file or folder (blocking; for the CLI). */
#ifndef PF_NET_CREATE_H
#define PF_NET_CREATE_H

#include <stddef.h>
#include <stdint.h>

#include "core/util/buf.h"
#include "peerflow/metainfo.h"

/* pf_create_opts is public (peerflow/metainfo.h); its size field is not
 * looked at here. */

/* Reads the file, or walks the folder (sorted by path; symlinks are
 * followed only to regular files inside the folder; special files are
 * skipped), hashes pieces streaming across file boundaries on several
 * threads, and appends the .torrent bytes to out.  Returns 0, or a
 * negative pf_err (PF_ERR_IO, PF_ERR_INVAL, PF_ERR_UNSAFE_PATH,
 * PF_ERR_LIMIT, PF_ERR_NOMEM) with a message in errbuf. */
int pf_torrent_create(const pf_create_opts *o, pf_buf *out, char *errbuf,
                      size_t errlen);

#endif
