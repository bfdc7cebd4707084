/* What a .torrent file or a magnet link describes, as opaque read-only
 * views with accessors; making a .torrent from files; asking a tracker how
 * many peers it knows (BEP 48 scrape).
 *
 * Strings handed out belong to the object and stay valid until it is
 * freed.  They are what the file or link said: names, paths, comments and
 * URLs came from outside and may hold terminal control bytes; escape them
 * (pf_escape_text) before printing.  Paths are already checked safe (no
 * "..", no absolute or empty components).  These functions need no loop
 * and may run on any thread; an object is not to be freed while another
 * thread reads it.  The ones marked "blocking" do file or network I/O
 * before returning. */
#ifndef PEERFLOW_METAINFO_H
#define PEERFLOW_METAINFO_H

#include <stddef.h>
#include <stdint.h>

#include "peerflow/peerflow.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- .torrent files --------------------------------------------------- */
typedef struct pf_metainfo pf_metainfo;

/* Parses a whole .torrent (BEP 3 v1 with BEP 12 announce-list, BEP 19
 * url-list, BEP 27 private, BEP 47 pad files).  buf is borrowed for the
 * call; mem may be NULL (the C library's allocator).  Bounded: 16 MiB of
 * input, 100,000 files, path depth 64, piece length a power of two in
 * 16 KiB..64 MiB.  Returns 0 and *out, or PF_ERR_PARSE, PF_ERR_LIMIT,
 * PF_ERR_UNSAFE_PATH, PF_ERR_NOMEM. */
PF_EXTERN int pf_metainfo_parse(const uint8_t *buf, size_t len, const pf_mem *mem,
                                pf_metainfo **out);
/* Blocking: reads the file at path (at most 16 MiB) and parses it.  Also
 * PF_ERR_NOTFOUND (cannot open), PF_ERR_IO. */
PF_EXTERN int pf_metainfo_load(const char *path, pf_metainfo **out);
/* Blocking: GETs an http(s) URL (redirects followed, at most 8 MiB, within
 * timeout_ms; 0 = 60 s) and parses the body.  *http_status (may be NULL)
 * gets the reply's status, 0 if none came.  Also PF_ERR_NET, PF_ERR_TIMEOUT,
 * PF_ERR_TRACKER (a status other than 200), PF_ERR_INVAL (not http(s)). */
PF_EXTERN int pf_metainfo_fetch(const char *url, long timeout_ms, pf_metainfo **out,
                                long *http_status);
/* Drops a reference: the last frees it.  NULL is a no-op. */
PF_EXTERN void pf_metainfo_free(pf_metainfo *mi);
/* One more reference to mi (returned), dropped by pf_metainfo_free: many
 * sessions (a simulator's viewers) may each own a reference to one
 * read-only metainfo (pf_session_add_torrent takes one) instead of a copy
 * each.  Thread-safe counting; the object never changes after parsing. */
PF_EXTERN pf_metainfo *pf_metainfo_ref(pf_metainfo *mi);

PF_EXTERN const char *pf_metainfo_name(const pf_metainfo *mi);
PF_EXTERN const uint8_t *pf_metainfo_info_hash(const pf_metainfo *mi); /* 20 bytes */
/* The info-hash as 40 lower-case hex digits and a NUL; returns out. */
PF_EXTERN char *pf_metainfo_info_hash_hex(const pf_metainfo *mi, char out[41]);
PF_EXTERN uint64_t pf_metainfo_total_length(const pf_metainfo *mi);
PF_EXTERN uint32_t pf_metainfo_piece_length(const pf_metainfo *mi);
PF_EXTERN uint32_t pf_metainfo_num_pieces(const pf_metainfo *mi);
/* 1 if the torrent is a folder (its files live under the name). */
PF_EXTERN int pf_metainfo_is_multi_file(const pf_metainfo *mi);
PF_EXTERN size_t pf_metainfo_num_files(const pf_metainfo *mi);
/* File i ('/'-separated path below the torrent's folder; for a single
 * file, the name).  NULL / 0 for i out of range. */
PF_EXTERN const char *pf_metainfo_file_path(const pf_metainfo *mi, size_t i);
PF_EXTERN uint64_t pf_metainfo_file_length(const pf_metainfo *mi, size_t i);
/* Byte offset of file i in the torrent's stream of pieces. */
PF_EXTERN uint64_t pf_metainfo_file_offset(const pf_metainfo *mi, size_t i);
/* 1 for a BEP 47 padding file (zeros, never written to disk). */
PF_EXTERN int pf_metainfo_file_is_pad(const pf_metainfo *mi, size_t i);
/* Trackers in tier order (announce-list, else announce as tier 0). */
PF_EXTERN size_t pf_metainfo_num_trackers(const pf_metainfo *mi);
PF_EXTERN const char *pf_metainfo_tracker_url(const pf_metainfo *mi, size_t i);
PF_EXTERN int pf_metainfo_tracker_tier(const pf_metainfo *mi, size_t i); /* -1 out of range */
/* BEP 19 web seeds (url-list). */
PF_EXTERN size_t pf_metainfo_num_webseeds(const pf_metainfo *mi);
PF_EXTERN const char *pf_metainfo_webseed(const pf_metainfo *mi, size_t i);
PF_EXTERN int pf_metainfo_is_private(const pf_metainfo *mi); /* BEP 27 */
/* An SSL torrent's root certificate (PEM, info["ssl-cert"] as libtorrent
 * writes it): its peers talk over TLS with certificates it signed.  NULL
 * for an ordinary torrent. */
PF_EXTERN const char *pf_metainfo_ssl_cert(const pf_metainfo *mi);
PF_EXTERN const char *pf_metainfo_comment(const pf_metainfo *mi);    /* NULL if none */
PF_EXTERN const char *pf_metainfo_created_by(const pf_metainfo *mi); /* NULL if none */
PF_EXTERN int64_t pf_metainfo_creation_date(const pf_metainfo *mi);  /* Unix time; 0 if none */
/* Writes a magnet link for the torrent (info-hash, name, trackers) into
 * out as snprintf does: returns the length it needs (not counting the
 * NUL; truncated if outlen is smaller), or PF_ERR_NOMEM. */
PF_EXTERN int pf_metainfo_magnet(const pf_metainfo *mi, char *out, size_t outlen);

/* How many peers a tracker knows of a torrent (BEP 48 or BEP 15 scrape). */
typedef struct pf_scrape_counts {
    int64_t seeders, leechers, downloads; /* -1 if the tracker did not say */
    long http_status;                     /* the reply's, 0 if none came (UDP) */
} pf_scrape_counts;
/* Blocking: scrapes mi's tracker number `tracker` (see
 * pf_metainfo_tracker_url) within timeout_ms (0 = 10 s): an http(s) URL
 * by BEP 48, a udp://host:port URL by BEP 15 (connect, then scrape; its
 * first address, IPv4 or IPv6; resent after 15 s, 30 s... within the
 * time-out; a torrent unknown to a UDP tracker reads as zeros).  Returns
 * 0, or PF_ERR_NOTFOUND (no such tracker, or the torrent unknown to it),
 * PF_ERR_UNSUPPORTED (neither UDP nor an http(s) URL whose last path part
 * starts with "announce": no scrape URL), PF_ERR_NET (also: a UDP name
 * that does not resolve, nothing listening), PF_ERR_TIMEOUT,
 * PF_ERR_TRACKER (a status other than 200, a failure reason, a BEP 15
 * error), PF_ERR_PARSE (also a malformed udp:// URL), PF_ERR_NOMEM. */
PF_EXTERN int pf_metainfo_scrape(const pf_metainfo *mi, size_t tracker, long timeout_ms,
                                 pf_scrape_counts *out);

/* ---- magnet links ----------------------------------------------------- */
typedef struct pf_magnet pf_magnet;

/* Parses magnet:?xt=urn:btih:<40 hex | 32 base32>&dn=&tr=&ws=&x.pe=.
 * Returns 0 and *out, or PF_ERR_PARSE (not a magnet, no or bad btih),
 * PF_ERR_LIMIT (over 8 KiB, or more than 64 values of one kind),
 * PF_ERR_NOMEM. */
PF_EXTERN int pf_magnet_parse(const char *uri, const pf_mem *mem, pf_magnet **out);
PF_EXTERN void pf_magnet_free(pf_magnet *m); /* NULL is a no-op */
PF_EXTERN const char *pf_magnet_name(const pf_magnet *m); /* dn; NULL if none */
PF_EXTERN const uint8_t *pf_magnet_info_hash(const pf_magnet *m); /* 20 bytes */
PF_EXTERN char *pf_magnet_info_hash_hex(const pf_magnet *m, char out[41]);
PF_EXTERN size_t pf_magnet_num_trackers(const pf_magnet *m); /* tr, in order */
PF_EXTERN const char *pf_magnet_tracker(const pf_magnet *m, size_t i);
PF_EXTERN size_t pf_magnet_num_webseeds(const pf_magnet *m); /* ws */
PF_EXTERN const char *pf_magnet_webseed(const pf_magnet *m, size_t i);
PF_EXTERN size_t pf_magnet_num_peers(const pf_magnet *m); /* x.pe, "host:port" */
PF_EXTERN const char *pf_magnet_peer(const pf_magnet *m, size_t i);

/* ---- making a .torrent ------------------------------------------------ */
/* Grows like pf_client_settings: fill with pf_create_opts_default(), then
 * set fields; a field's zero value is its default. */
typedef struct pf_create_opts {
    size_t size;                 /* set by pf_create_opts_default() */
    const char *path;            /* a file, or a folder (a multi-file torrent) */
    uint32_t piece_length;       /* 0 = chosen by size (~1000-2000 pieces) */
    const char *const *trackers; /* each its own tier */
    size_t num_trackers;
    const char *const *webseeds; /* BEP 19 url-list */
    size_t num_webseeds;
    int private_flag;            /* BEP 27 */
    const char *comment;         /* NULL = none */
    const char *created_by;      /* NULL = none */
    int64_t creation_date;       /* 0 = omit */
    /* Called from the calling thread while hashing (bytes done of total)
     * and once at the end; may be NULL. */
    void (*progress)(void *ud, uint64_t done, uint64_t total);
    void *progress_ud;
    /* An SSL torrent: the operator's root certificate (PEM) goes into the
     * info dict as "ssl-cert"; peers then need a certificate it signed
     * (pf_cert_issue).  NULL = an ordinary torrent. */
    const char *ssl_cert;
    /* A folder holding a packaged title (an HLS master playlist, a *.m3u8
     * with EXT-X-STREAM-INF, and/or a DASH MPD, a *.mpd, at its top level)
     * is checked (every playlist and segment the manifests name must be
     * one of its files, none outside it) and its files are ordered by
     * rendition (docs/CLI.md).  1: hash such a folder as plain files,
     * sorted by path. */
    int no_title;
    /* Called once, before hashing, with a summary of a packaged title
     * (manifests, tracks, bitrates, segments, durations; several lines);
     * may be NULL. */
    void (*title_summary)(void *ud, const char *text);
    void *title_ud;
    /* A packaged title's files each start at a piece boundary: BEP 47 pad
     * files (".pad/N", N zero bytes, never stored or fetched) fill the
     * rest of each file's last piece, so a player's segment is fetched
     * and verified without its neighbours' bytes (a 64 KB audio segment
     * in a 256 KiB piece of four cost a 3 Mbit/s viewer's start-up 0.5 s).
     * 1: no padding (the files back to back). */
    int no_align;
} pf_create_opts;

PF_EXTERN void pf_create_opts_init(pf_create_opts *o, size_t size);
static inline void pf_create_opts_default(pf_create_opts *o) { pf_create_opts_init(o, sizeof *o); }

/* Blocking: reads the file or walks the folder (sorted by path; symlinks
 * followed only to regular files inside it; special files skipped; a
 * packaged title in the order of its renditions, see no_title), hashes the
 * pieces on several threads and encodes a .torrent.  Returns 0 with *out
 * (free it with pf_free) and *len, or a negative pf_err (PF_ERR_IO,
 * PF_ERR_INVAL, PF_ERR_UNSAFE_PATH, PF_ERR_LIMIT, PF_ERR_NOMEM; for a
 * title also PF_ERR_PARSE, PF_ERR_RANGE, PF_ERR_UNSUPPORTED,
 * PF_ERR_NOTFOUND) with a message in err (errlen bytes, may be 0). */
PF_EXTERN int pf_metainfo_create(const pf_create_opts *o, uint8_t **out, size_t *len, char *err,
                                 size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
