/* peerflow create on a packaged title: the HLS master playlists and DASH
 * MPDs at the top of the folder are read (core/media), every playlist,
 * init segment and media segment they name must be a file of the folder,
 * and the torrent's files are ordered so that each rendition's bytes are
 * contiguous: for each manifest (sorted by name), for each track in its
 * order, the init segment then the media segments in presentation order;
 * then the manifests and media playlists; then everything else, sorted.
 * A file named twice (HLS and DASH over the same segments, byte ranges of
 * one file) is placed where it is first named. */
#include "net/create.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/media/manifest.h"

typedef struct title_job {
    const char *root;
    const char *const *rel;
    const uint64_t *len;
    size_t n;
    size_t *order, norder;
    unsigned char *placed;
    size_t *playlists, nplaylists; /* media playlists, placed after the segments */
    pf_buf *summary;
    char *err;
    size_t errlen;
} title_job;

static void title_errf(title_job *tj, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void title_errf(title_job *tj, const char *fmt, ...)
{
    if (!tj->err || tj->errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tj->err, tj->errlen, fmt, ap);
    va_end(ap);
}

/* The index of rel path p in the sorted list; -1 if it is not a file of the folder. */
static long title_find(const title_job *tj, const char *p)
{
    size_t lo = 0, hi = tj->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(tj->rel[mid], p);
        if (c == 0) return (long)mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

static void title_place_index(title_job *tj, size_t i)
{
    if (tj->placed[i]) return;
    tj->placed[i] = 1;
    tj->order[tj->norder++] = i;
}

/* Places file p, named by `where` ("master.m3u8: line 5"), after checking
 * it is in the folder and holds the byte range. */
static int title_place(title_job *tj, const char *where, const char *what, const char *p, uint64_t off,
                       uint64_t len)
{
    long i = title_find(tj, p);
    if (i < 0) {
        title_errf(tj, "%s: %s \"%s\" is not in the folder", where, what, p);
        return PF_ERR_NOTFOUND;
    }
    if (len && (off > tj->len[i] || len > tj->len[i] - off)) {
        title_errf(tj, "%s: %s \"%s\": byte range %llu@%llu past its end (%llu bytes)", where, what, p,
                   (unsigned long long)len, (unsigned long long)off, (unsigned long long)tj->len[i]);
        return PF_ERR_RANGE;
    }
    title_place_index(tj, (size_t)i);
    return 0;
}

/* Reads a file of the folder (at most PF_MF_MAX_TEXT + 1 bytes: the
 * parsers refuse what is larger). */
static int title_read(title_job *tj, const char *rel, uint8_t **out, size_t *n)
{
    char path[PATH_MAX];
    *out = NULL;
    *n = 0;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", tj->root, rel) >= sizeof path) {
        title_errf(tj, "%s: path too long", rel);
        return PF_ERR_LIMIT;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        title_errf(tj, "%s: %s", rel, strerror(errno));
        return PF_ERR_IO;
    }
    struct stat st;
    size_t cap = PF_MF_MAX_TEXT + 1; /* what is larger is refused by the parsers */
    if (fstat(fileno(f), &st) == 0 && st.st_size >= 0 && (uint64_t)st.st_size < cap) cap = (size_t)st.st_size + 1;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        title_errf(tj, "out of memory");
        return PF_ERR_NOMEM;
    }
    size_t got = fread(buf, 1, cap, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        title_errf(tj, "%s: read error", rel);
        return PF_ERR_IO;
    }
    *out = buf;
    *n = got;
    return 0;
}

static const char *kind_name(char k)
{
    return k == 'v' ? "video" : k == 'a' ? "audio" : k == 't' ? "text" : "track";
}

static void title_sum_track(title_job *tj, const pf_mf_track *t)
{
    char res[32] = "", rate[32] = "      ?"; /* an HLS rendition declares no bandwidth */
    if (t->width) snprintf(res, sizeof res, "%ux%u", t->width, t->height);
    if (t->bandwidth) snprintf(rate, sizeof rate, "%7.3f", (double)t->bandwidth / 1e6);
    pf_buf_appendf(tj->summary, "  %-5s %-9s %s Mbit/s  %6zu segments  %8.2f s  %s\n", kind_name(t->kind), res, rate,
                   t->nseg, t->duration_s, t->playlist ? t->playlist : t->id);
}

/* A track's init segment and media segments, in order. */
static int title_track(title_job *tj, const char *manifest, const pf_mf_track *t)
{
    char where[PF_MF_MAX_PATH + 128];
    const char *src = t->playlist ? t->playlist : manifest;
    if (t->init) {
        if (t->playlist) snprintf(where, sizeof where, "%s", src);
        else snprintf(where, sizeof where, "%s: line %zu: <Representation id=\"%.40s\">", src, t->line, t->id);
        int rc = title_place(tj, where, "init segment", t->init, t->init_off, t->init_len);
        if (rc) return rc;
    }
    for (size_t k = 0; k < t->nseg; k++) {
        const pf_mf_segment *s = &t->seg[k];
        if (t->playlist) snprintf(where, sizeof where, "%s: line %zu", src, s->line);
        else snprintf(where, sizeof where, "%s: line %zu: <Representation id=\"%.40s\">", src, s->line, t->id);
        int rc = title_place(tj, where, "segment", s->path, s->range_off, s->range_len);
        if (rc) return rc;
    }
    title_sum_track(tj, t);
    return 0;
}

/* An HLS master: each track's media playlist read, then its segments placed. */
static int title_hls(title_job *tj, const char *name, pf_manifest *m)
{
    double dur = 0;
    size_t nseg = 0;
    for (size_t i = 0; i < m->ntracks; i++) {
        pf_mf_track *t = &m->tracks[i];
        long pi = title_find(tj, t->playlist);
        if (pi < 0) {
            title_errf(tj, "%s: line %zu: media playlist \"%s\" is not in the folder", name, t->line, t->playlist);
            return PF_ERR_NOTFOUND;
        }
        uint8_t *text;
        size_t n;
        char perr[400];
        int rc = title_read(tj, t->playlist, &text, &n);
        if (rc) return rc;
        rc = pf_hls_parse_media(NULL, t, text, n, perr, sizeof perr);
        free(text);
        if (rc) {
            title_errf(tj, "%s: %s", t->playlist, perr);
            return rc;
        }
        tj->playlists[tj->nplaylists++] = (size_t)pi;
        if (t->duration_s > dur) dur = t->duration_s;
        nseg += t->nseg;
    }
    pf_buf_appendf(tj->summary, "%s: HLS, %zu tracks, %zu segments, %.2f s\n", name, m->ntracks, nseg, dur);
    for (size_t i = 0; i < m->ntracks; i++) {
        int rc = title_track(tj, name, &m->tracks[i]);
        if (rc) return rc;
    }
    return 0;
}

static int title_dash(title_job *tj, const char *name, const pf_manifest *m)
{
    size_t nseg = 0;
    for (size_t i = 0; i < m->ntracks; i++) nseg += m->tracks[i].nseg;
    pf_buf_appendf(tj->summary, "%s: DASH, %zu tracks, %zu segments, %.2f s\n", name, m->ntracks, nseg, m->duration_s);
    for (size_t i = 0; i < m->ntracks; i++) {
        int rc = title_track(tj, name, &m->tracks[i]);
        if (rc) return rc;
    }
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

/* One top-level file: 1 if it is a manifest of the title (placed), 0 if not. */
static int title_manifest(title_job *tj, size_t i)
{
    const char *name = tj->rel[i];
    int is_mpd = ends_with(name, ".mpd");
    if (strchr(name, '/') || (!is_mpd && !ends_with(name, ".m3u8"))) return 0;
    uint8_t *text;
    size_t n;
    int rc = title_read(tj, name, &text, &n);
    if (rc) return rc;
    if (!is_mpd && !memmem(text, n, "#EXT-X-STREAM-INF", 17)) { /* a media playlist */
        free(text);
        return 0;
    }
    pf_manifest *m = NULL;
    char perr[400];
    rc = is_mpd ? pf_dash_parse(NULL, name, text, n, &m, perr, sizeof perr)
                : pf_hls_parse(NULL, name, text, n, &m, perr, sizeof perr);
    free(text);
    if (rc) {
        title_errf(tj, "%s: %s", name, perr);
        return rc;
    }
    size_t *pl = realloc(tj->playlists, (tj->nplaylists + m->ntracks + 1) * sizeof *pl);
    if (pl) tj->playlists = pl;
    if (!pl) {
        pf_manifest_free(NULL, m);
        title_errf(tj, "out of memory");
        return PF_ERR_NOMEM;
    }
    rc = is_mpd ? title_dash(tj, name, m) : title_hls(tj, name, m);
    pf_manifest_free(NULL, m);
    return rc ? rc : 1;
}

int pf__title_order(const char *root, const char *const *rel, const uint64_t *len, size_t n, size_t *order,
                    int *is_title, pf_buf *summary, char *err, size_t errlen)
{
    title_job tj = {.root = root, .rel = rel, .len = len, .n = n, .order = order, .summary = summary,
                    .err = err, .errlen = errlen};
    *is_title = 0;
    tj.placed = calloc(n ? n : 1, 1);
    size_t *manifests = malloc((n ? n : 1) * sizeof *manifests), nman = 0;
    int rc = tj.placed && manifests ? 0 : PF_ERR_NOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        int r = title_manifest(&tj, i);
        if (r < 0) rc = r;
        else if (r == 1) manifests[nman++] = i;
    }
    if (!rc && nman) {
        for (size_t k = 0; k < nman; k++) title_place_index(&tj, manifests[k]);
        for (size_t k = 0; k < tj.nplaylists; k++) title_place_index(&tj, tj.playlists[k]);
        for (size_t i = 0; i < n; i++) title_place_index(&tj, i);
        *is_title = 1;
    }
    if (rc == PF_ERR_NOMEM && err && errlen) snprintf(err, errlen, "out of memory");
    free(tj.placed);
    free(tj.playlists);
    free(manifests);
    return rc;
}
