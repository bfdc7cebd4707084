/* Sans-I/O pieces of the local media server (net/media_server.c): routes,
 * content types, Range decisions, and the bodies of the playlist, the HTML
 * index, /stats.json and /metrics (Prometheus text format 0.0.4).
 *
 * Nothing here touches a socket or the engine: callers gather the numbers
 * (pf_client_torrent_stats, pf_client_torrent_qoe, ...) into the structs
 * below and these functions format them into a caller's pf_buf.  Every
 * formatter appends and returns 0 or PF_ERR_NOMEM; strings are borrowed
 * for the call. */
#ifndef PF_CORE_MEDIA_HTTP_H
#define PF_CORE_MEDIA_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "core/util/buf.h"
#include "peerflow/peerflow.h"

/* --- routes ----------------------------------------------------------- */

typedef enum pf_media_route_kind {
    PF_MEDIA_ROUTE_NONE = 0, /* 404 */
    PF_MEDIA_ROUTE_INDEX,    /* "/" and "/index.html" */
    PF_MEDIA_ROUTE_PLAYLIST, /* "/playlist.m3u" */
    PF_MEDIA_ROUTE_STATS,    /* "/stats.json" */
    PF_MEDIA_ROUTE_METRICS,  /* "/metrics" */
    PF_MEDIA_ROUTE_FILE,     /* "/files/<i>[/<name>]", "/stream/<i>" */
    PF_MEDIA_ROUTE_CONTROL,  /* "/control" (POST: uploads on/off) */
    PF_MEDIA_ROUTE_PATH,     /* "/t/<path in the torrent>": a packaged title's files
                                by name, so that its manifests' relative URIs work */
    PF_MEDIA_ROUTE_PLAYER    /* "/player/<name>": a web player's files, from the
                                directory pf_media_server_set_player_dir names */
} pf_media_route_kind;

/* 1 if a request path (still percent-encoded, without the query) is one
 * the media server will look at, else 0 (answer 400).  Refused: a path
 * not starting with '/'; a bad %-escape; NUL, '\\' or an encoded '/' in
 * any segment (raw or %-encoded); a segment that decodes to "." or ".."
 * (traversal, also as %2e%2e); an empty segment ("//": absolute paths
 * smuggled after a prefix).  Only the last segment may be empty
 * ("/files/0/").  The server never maps paths to the file system (files
 * are addressed by index), so this is defence in depth and a clear
 * answer to scanners, not the only guard. */
int pf_media_path_safe(const char *path, size_t len);

/* Classifies a request path (still percent-encoded, without the query).
 * For PF_MEDIA_ROUTE_FILE, *index receives <i> (decimal, at most 9
 * digits); the name part after it is decorative and ignored. */
pf_media_route_kind pf_media_route(const char *path, size_t len, uint32_t *index);

/* The torrent path of a PF_MEDIA_ROUTE_PATH request: what follows
 * "/t/", percent-decoded (the path must have passed pf_media_path_safe).
 * 0, PF_ERR_PARSE (not such a route, empty, a bad escape, NUL),
 * PF_ERR_LIMIT (out too small). */
int pf_media_path_decode(const char *path, size_t len, char *out, size_t outlen);

/* The file name of a PF_MEDIA_ROUTE_PLAYER request, copied to out: one
 * path segment after "/player/", 1..PF_MEDIA_PLAYER_NAME_MAX bytes of
 * [A-Za-z0-9._-], not starting with '.', with an extension
 * pf_media_player_type knows.  No %-escapes, no '/', so no traversal and
 * no hidden files; the server checks the resolved path too.  0,
 * PF_ERR_PARSE (not such a name), PF_ERR_LIMIT (out too small). */
#define PF_MEDIA_PLAYER_NAME_MAX 128
int pf_media_player_name(const char *path, size_t len, char *out, size_t outlen);
/* The type a web player's file is served with, by extension
 * (case-insensitive): html/htm, js/mjs, css, map/json; NULL for any
 * other (not served). */
const char *pf_media_player_type(const char *name);

/* --- content types ---------------------------------------------------- */

/* MIME type from the file name's extension (case-insensitive); never
 * NULL, "application/octet-stream" for unknown ones.  Types a browser
 * would execute or render as a document (html, svg, js) are deliberately
 * unknown: the server's origin also serves /stats.json. */
const char *pf_media_content_type(const char *path);
/* 1 for audio and video (what a player wants), else 0.  Public too
 * (include/peerflow/media_server.h). */
PF_EXTERN int pf_media_is_media(const char *path);
/* 1 for video only. */
int pf_media_is_video(const char *path);

/* --- Range ------------------------------------------------------------ */

typedef struct pf_media_range {
    int status;      /* 200, 206 or 416 */
    uint64_t start;  /* first byte to send (200/206) */
    uint64_t length; /* bytes to send (200/206); 0 for 416 */
} pf_media_range;

/* What to answer for a GET/HEAD of a resource of `size` bytes.  range is
 * the Range header value (NULL when absent).  has_if_range: an If-Range
 * header was sent; we issue no validators, so it never matches and the
 * whole representation is sent (RFC 9110 13.1.5).  One satisfiable range
 * gives 206; an unsatisfiable one 416 (answer with "Content-Range:
 * bytes * /size"); several ranges, other units or bad syntax 200. */
void pf_media_range_plan(const char *range, size_t range_len, int has_if_range,
                         uint64_t size, pf_media_range *out);

/* --- hosts and URLs --------------------------------------------------- */

/* 1 if a Host header value is a plausible host[:port] (letters, digits,
 * '.', '-', ':', '[', ']'; 1..255 bytes), else 0.  Only such values are
 * echoed into URLs. */
int pf_media_host_valid(const char *h, size_t len);
/* 1 if the host part of host[:port] names the loopback interface
 * ("localhost", "127.x.y.z", "[::1]").  Used against DNS rebinding when
 * the server is bound to loopback. */
int pf_media_host_is_loopback(const char *h, size_t len);

/* Appends base + "/files/<index>/" + the percent-encoded last path
 * component of path.  base is e.g. "http://127.0.0.1:8080" (no slash at
 * the end). */
int pf_media_file_url(pf_buf *out, const char *base, uint32_t index, const char *path);

/* --- bodies ----------------------------------------------------------- */

/* One file of the torrent as the formatters see it. */
typedef struct pf_media_file {
    uint32_t index;
    const char *path; /* '/'-separated path inside the torrent */
    uint64_t size;
    int has_qoe;      /* qoe is meaningful (the file has been read) */
    pf_qoe qoe;
} pf_media_file;

/* Cap on the files listed in the playlist and the index page. */
#define PF_MEDIA_MAX_LIST 10000

/* #EXTM3U playlist: "#EXTINF:-1,<path>" and the absolute URL for every
 * file, audio/video first (each group in index order).  CR/LF in names
 * become spaces. */
int pf_media_m3u(pf_buf *out, const char *base, const pf_media_file *files, size_t n);
/* A small HTML page: the torrent's name, links to every file (relative
 * URLs) and to the playlist, stats and metrics; text is HTML-escaped. */
int pf_media_html(pf_buf *out, const char *name, const pf_media_file *files, size_t n);

/* Appends s as a JSON string literal (quotes included); control
 * characters are escaped and invalid UTF-8 becomes U+FFFD. */
int pf_media_json_str(pf_buf *out, const char *s);
/* The /stats.json object: the torrent's pf_torrent_stats as top-level
 * fields (a superset of `peerflow get --stats`), "datagrams": dg (when
 * not NULL: {"received":N,"dropped_in":N,"dropped_out":N,
 * "utp_invalid":N}), "upload": up (when not NULL, see
 * pf_media_upload_json), "files": the entries with has_qoe (times not
 * measured yet are null), "sources": src. */
int pf_media_stats_json(pf_buf *out, const char *name, const pf_torrent_stats *st,
                        const pf_upload_status *up, const pf_datagram_stats *dg,
                        const pf_media_file *files, size_t n, const pf_source_stats *src, size_t nsrc);
/* Adds the media timeline's QoE ("media": tracks, switches, time per
 * rendition...) to a pf_media_stats_json object.  0 or PF_ERR_INVAL (out
 * does not end an object), PF_ERR_NOMEM. */
int pf_media_stats_add_media(pf_buf *out, const pf_media_qoe *q);
/* The upload state as a JSON object (also POST /control's answer):
 * {"enabled":bool,"state":"on"|"off","off":["user","metered","battery",
 * "budget"],"off_when":[...],"metered":bool,"on_battery":bool,
 * "budget":N|null,"budget_used":N|null,"budget_left":N|null,
 * "period":"2025-07"|null,"share":F|null,"uplink_bps":N|null,
 * "cap_bps":N|null,"uploaded":N}. */
int pf_media_upload_json(pf_buf *out, const pf_upload_status *up);

/* --- POST /control ---------------------------------------------------- */

/* What a /control body asks for: -1 not asked, 0 off / no, 1 on / yes. */
typedef struct pf_media_control {
    int upload;
    int metered;
} pf_media_control;
#define PF_MEDIA_CONTROL_MAX 1024 /* bytes of body (413 beyond) */
/* Parses a /control body: one JSON object whose members are "upload"
 * ("on", "off", true, false) and "metered" (true, false, "yes", "no"),
 * each at most once, at least one of them; JSON whitespace around the
 * tokens.  Nothing else is accepted: other keys or values, escapes in
 * strings, nesting, trailing bytes.  Returns 0, PF_ERR_PARSE, or
 * PF_ERR_LIMIT (over PF_MEDIA_CONTROL_MAX). */
int pf_media_control_parse(const uint8_t *body, size_t len, pf_media_control *out);

/* Appends s escaped as a Prometheus label value (without the quotes):
 * backslash, double quote and line feed become \\, \" and \n. */
int pf_media_prom_label(pf_buf *out, const char *s);
/* The /metrics body (text exposition format 0.0.4, served as "text/plain;
 * version=0.0.4"): counters end in _total; per-file series (label
 * file="<index>") only for entries with has_qoe, and the time gauges only
 * once measured; the upload state when up is not NULL (the budget's
 * gauges only with a budget); the datagram counters when dg is not NULL. */
int pf_media_metrics(pf_buf *out, const char *name, const pf_torrent_stats *st,
                     const pf_upload_status *up, const pf_datagram_stats *dg,
                     const pf_media_file *files, size_t n);

#define PF_MEDIA_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
