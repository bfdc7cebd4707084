/* Adaptive-streaming manifests: HLS playlists (RFC 8216) and static DASH
 * MPDs (ISO/IEC 23009-1), read into one model of tracks and segments.
 *
 * Sans-I/O: the caller reads the files and hands their text in (borrowed
 * for the call); nothing here opens a file, a socket or reads a clock.
 * Every allocation goes through the pf_mem given (NULL: the C library's).
 *
 * Every path in the model is title-relative: '/'-separated, no "." or
 * ".." segment, no leading '/', percent-decoded, without query or
 * fragment (pf_mf_resolve).  A URI that leaves the title (an absolute URL,
 * an absolute path, ".." past the title's root) is refused with
 * PF_ERR_RANGE, so no caller can be made to fetch or read outside it.
 *
 * Bounds (refused with PF_ERR_LIMIT): a text of at most PF_MF_MAX_TEXT
 * bytes, PF_MF_MAX_TRACKS tracks, PF_MF_MAX_SEGMENTS segments per track
 * and PF_MF_MAX_SEGMENTS_ALL in all, lines (HLS) of PF_MF_MAX_LINE bytes,
 * XML nested PF_MF_MAX_DEPTH deep (DASH).
 *
 * Errors: 0, or a negative pf_err with a message in err (errlen bytes,
 * may be 0) naming the line (HLS) or the element and its line (DASH):
 * PF_ERR_PARSE (bad syntax, a required value missing), PF_ERR_RANGE (a
 * URI outside the title), PF_ERR_LIMIT (a bound above), PF_ERR_UNSUPPORTED
 * (live or dynamic, encrypted, features not read: see each function),
 * PF_ERR_NOMEM.  On failure *out is NULL. */
#ifndef PF_CORE_MEDIA_MANIFEST_H
#define PF_CORE_MEDIA_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "peerflow/peerflow.h"

#define PF_MF_MAX_TEXT (16u << 20)
#define PF_MF_MAX_TRACKS 64
#define PF_MF_MAX_SEGMENTS 200000
#define PF_MF_MAX_SEGMENTS_ALL 1000000
#define PF_MF_MAX_LINE (64u << 10)
#define PF_MF_MAX_DEPTH 32
#define PF_MF_MAX_PATH 4096 /* bytes of a resolved path, NUL included */

typedef enum { PF_MF_HLS_MASTER = 1, PF_MF_HLS_MEDIA, PF_MF_DASH } pf_manifest_kind;

typedef struct pf_mf_segment {
    char *path;                    /* resolved, title-relative */
    double start_s, duration_s;    /* presentation time of its start, its duration (from the
                                    * manifest, never guessed) */
    uint64_t range_off, range_len; /* EXT-X-BYTERANGE / SegmentURL@mediaRange; 0,0 = the whole file */
    size_t line;                   /* HLS: its URI's line; DASH: its Representation's (for messages) */
} pf_mf_segment;

typedef struct pf_mf_track {
    char *id;       /* DASH Representation@id; HLS: the media playlist's title-relative path */
    char *playlist; /* HLS: media playlist path (title-relative); NULL for DASH */
    char kind;      /* 'v' video (possibly muxed with audio), 'a' audio only, 't' text, 0 unknown */
    char *group;    /* HLS AUDIO group id (or GROUP-ID of a rendition) / DASH AdaptationSet id; may be NULL */
    uint64_t bandwidth; /* bits/s as declared (BANDWIDTH / @bandwidth); 0 if not declared */
    uint32_t width, height;
    char *codecs;                /* may be NULL */
    char *init;                  /* init segment path (EXT-X-MAP / Initialization), or NULL */
    uint64_t init_off, init_len; /* EXT-X-MAP BYTERANGE; 0,0 whole file */
    pf_mf_segment *seg;
    size_t nseg;
    double duration_s; /* sum of segment durations */
    size_t line;       /* where the track is declared in its manifest (1-based); 0 if not known */
} pf_mf_track;

typedef struct pf_manifest {
    pf_manifest_kind kind;
    pf_mf_track *tracks;
    size_t ntracks;
    double duration_s; /* HLS media playlist: its track's (a master: 0, its tracks have no segments yet);
                        * DASH: mediaPresentationDuration, or the periods' sum */
} pf_manifest;

/* Parses an HLS playlist, master or media (told apart by their tags).
 * path: the title-relative path of the text (relative URIs resolve
 * against its directory).  A master playlist gives tracks with .playlist
 * set and no segments: one per EXT-X-STREAM-INF (kind 'v' unless its
 * CODECS are all audio: 'a'), one per EXT-X-MEDIA with a URI (TYPE=AUDIO
 * 'a', SUBTITLES 't', VIDEO 'v'), in the order of the text, a playlist
 * named twice kept once; EXT-X-I-FRAME-STREAM-INF is not read.  A media
 * playlist gives one track (id and playlist = path) with its segments.
 * PF_ERR_UNSUPPORTED: EXT-X-KEY or EXT-X-SESSION-KEY with a METHOD other
 * than NONE ("encrypted"), a media playlist without EXT-X-ENDLIST
 * ("live"), a second, different EXT-X-MAP. */
int pf_hls_parse(const pf_mem *mem, const char *path, const uint8_t *text, size_t n,
                 pf_manifest **out, char *err, size_t errlen);

/* Fills track->seg/nseg/init/init_off/init_len/duration_s from the media
 * playlist text found at track->playlist (URIs resolve against it).  On
 * failure the track is left as it was.  Errors as pf_hls_parse's. */
int pf_hls_parse_media(const pf_mem *mem, pf_mf_track *track, const uint8_t *text, size_t n,
                       char *err, size_t errlen);

/* Parses a static MPD: every Representation a track, segments expanded:
 * SegmentTemplate with SegmentTimeline ($Time$/$Number$, r repeats, r=-1
 * up to the next S or the period's end) or @duration (over Period@duration
 * or mediaPresentationDuration), $RepresentationID$, $Bandwidth$, $$ and
 * %0Nd widths; SegmentList (SegmentURL@media/@mediaRange, durations from
 * @duration or a SegmentTimeline); SegmentBase or a BaseURL alone: one
 * segment, the whole file, over the period.  SegmentTemplate, SegmentList
 * and SegmentBase inherit from the AdaptationSet and the Period; BaseURLs
 * chain (MPD, Period, AdaptationSet, Representation; the first of each
 * level), relative ones only (PF_ERR_RANGE otherwise).  Several periods
 * are concatenated in time when each has the same Representation ids with
 * the same init segments, else PF_ERR_UNSUPPORTED.  type="dynamic",
 * xlink periods, year or month durations: PF_ERR_UNSUPPORTED.  The XML
 * reader is bounded and strict (no DOCTYPE; the five named entities and
 * numeric ones; comments, processing instructions and CDATA skipped). */
int pf_dash_parse(const pf_mem *mem, const char *path, const uint8_t *text, size_t n,
                  pf_manifest **out, char *err, size_t errlen);

/* Frees m and everything it owns; NULL is a no-op. */
void pf_manifest_free(const pf_mem *mem, pf_manifest *m);

/* Resolves uri against the directory of base (title-relative): query and
 * fragment stripped, then percent-decoded, then "." and ".." segments
 * applied.  Returns 0 with the path in out, or PF_ERR_RANGE (an absolute
 * URL "scheme:", a network-path "//" or absolute path "/...", a '\\', or
 * anything escaping the title root), PF_ERR_PARSE (empty, a bad
 * %-escape, NUL or a control character, a path naming a folder: "" or
 * ending in '/'), PF_ERR_LIMIT (out too small). */
int pf_mf_resolve(const char *base, const char *uri, char *out, size_t outlen);

/* ---- shared by hls.c and dash.c (internal) ---- */

/* pf_mf_resolve that also takes a folder ("a/" stays "a/", "" the root)
 * when dir_ok: DASH BaseURLs chain through folders. */
int pf__mf_resolve(const char *base, const char *uri, int dir_ok, char *out, size_t outlen);
void pf__mf_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
pf_manifest *pf__mf_new(const pf_mem *mem, pf_manifest_kind kind);
/* A new zeroed track at the end (PF_ERR_LIMIT past PF_MF_MAX_TRACKS). */
int pf__mf_add_track(const pf_mem *mem, pf_manifest *m, pf_mf_track **out);
/* Appends a segment (path copied) declared at line; PF_ERR_LIMIT past PF_MF_MAX_SEGMENTS. */
int pf__mf_add_seg(const pf_mem *mem, pf_mf_track *t, size_t *cap, const char *path, double start_s,
                   double duration_s, uint64_t off, uint64_t len, size_t line);
void pf__mf_track_clear(const pf_mem *mem, pf_mf_track *t);
/* A decimal number "12", "4.000000", ".5" (no sign, exponent, inf or
 * nan; at most 18 digits) into *v; 0 or PF_ERR_PARSE. */
int pf__mf_decimal(const char *s, size_t n, double *v);
/* An unsigned decimal integer, all of s[0, n); 0 or PF_ERR_PARSE (also
 * past UINT64_MAX). */
int pf__mf_u64(const char *s, size_t n, uint64_t *v);

#endif
