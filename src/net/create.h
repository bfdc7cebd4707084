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

/* A packaged title (net/create_title.c).  rel[0, n): the folder's files,
 * sorted by strcmp, len their sizes, root the folder.  When the folder
 * holds an HLS master playlist (a top-level *.m3u8 with EXT-X-STREAM-INF)
 * or a DASH MPD (a top-level *.mpd), reads them and every media playlist,
 * checks that each playlist, init segment and media segment they name is
 * one of the files (and holds its byte range), sets *is_title and fills
 * order[0, n) with the files' indices in the title's order (each track's
 * init then segments in presentation order, manifest by manifest; then the
 * manifests and playlists; then the rest, sorted), and appends a summary
 * (tracks, bitrates, segments, durations) to summary.  Otherwise *is_title
 * is 0 and order is untouched.  Returns 0, or PF_ERR_PARSE, PF_ERR_RANGE
 * (a URI outside the title, a byte range past a file's end), PF_ERR_LIMIT,
 * PF_ERR_UNSUPPORTED, PF_ERR_NOTFOUND (a file named but not there),
 * PF_ERR_IO, PF_ERR_NOMEM, with a message naming the manifest, its line
 * (and element) and the path in err. */
int pf__title_order(const char *root, const char *const *rel, const uint64_t *len, size_t n, size_t *order,
                    int *is_title, pf_buf *summary, char *err, size_t errlen);

#endif
