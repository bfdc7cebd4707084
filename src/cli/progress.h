/* Live progress line (TTY) and JSON counters file for the CLI. */
#ifndef PF_CLI_PROGRESS_H
#define PF_CLI_PROGRESS_H

#include <stdint.h>

#include "peerflow/peerflow.h"

/* Parses "1500", "64K", "2M", "1G" (binary multiples); 0 or -1. */
int pf_parse_size(const char *s, uint64_t *out);
/* Formats n bytes as "12.3 MiB" into out. */
void pf_fmt_bytes(double n, char *out, size_t len);
/* Text that came from outside (a torrent's name, a file's path, a URL, a
 * magnet's dn, a message quoting one) for a printf argument: control bytes
 * and DEL become \xNN (pf_escape_text), so a crafted name cannot drive the
 * terminal.  One of 8 rotating buffers of 4 KiB (longer text is cut): at
 * most 8 in one printf, on the CLI's thread only. */
const char *pf_cli_esc(const char *s);
/* On a TTY redraws one status line; otherwise prints a plain line.  name
 * is escaped here; extra (NULL: none) ends the line (the upload state). */
void pf_progress_draw(int tty, const char *name, const pf_torrent_stats *st, const char *extra);
void pf_progress_clear(void);
/* Writes {"uploaded":..} atomically (temp file + rename), with
 * "upload":{...} when up is not NULL and "datagrams":{"received":N,
 * "dropped_in":N,"dropped_out":N,"utp_invalid":N} when dg is not NULL. */
int pf_progress_write_stats(const char *path, const pf_torrent_stats *st, const pf_upload_status *up,
                            const pf_datagram_stats *dg);

#endif
