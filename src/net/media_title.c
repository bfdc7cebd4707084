#include "net/media_title.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/media/manifest.h"
#include "core/util/buf.h"
#include "net/client_internal.h"

#define MT_MAX_MANIFEST (16u * 1024 * 1024)
#define MT_READ_CHUNK (64 * 1024)

struct ms_title {
    pf_client_torrent *t;
    ms_title_state state;
    char why[256];
    /* Files by path (indices sorted by path), built on first use. */
    uint32_t *by_path;
    uint32_t nfiles;
    /* The load under way: the manifest, then each media playlist. */
    pf_manifest *m;
    size_t next_track; /* HLS master: the next media playlist to read */
    pf_stream *st;
    uint32_t file;
    uint64_t size;
    pf_buf text;
    int reading, in_read;
    /* Once ready: per file, 1 if it is a media segment of a track that
     * has another rendition of its kind (an adaptive player chooses by
     * how fast these come); NULL: none. */
    uint8_t *abr_seg;
    uint32_t nabr_seg;
};

static void mt_log(ms_title *ti, pf_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void mt_log(ms_title *ti, pf_log_level lvl, const char *fmt, ...)
{
    pf_client *c = pf_client_torrent_client(ti->t);
    va_list ap;
    va_start(ap, fmt);
    c->log.now = pf__client_now(c);
    pf__logv(&c->log, lvl, fmt, ap);
    va_end(ap);
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    if (a < b) return 0;
    for (size_t i = 0; i < b; i++) {
        char c = s[a - b + i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != suf[i]) return 0;
    }
    return 1;
}

int ms_title_is_manifest(const char *path)
{
    return path && (ends_with(path, ".m3u8") || ends_with(path, ".mpd"));
}

ms_title *ms_title_new(pf_client_torrent *t)
{
    ms_title *ti = calloc(1, sizeof *ti);
    if (!ti) return NULL;
    ti->t = t;
    pf_buf_init(&ti->text);
    return ti;
}

static void load_reset(ms_title *ti)
{
    if (ti->st) pf_stream_close(ti->st);
    ti->st = NULL;
    ti->reading = 0;
    pf_buf_free(&ti->text);
    pf_buf_init(&ti->text);
    pf_manifest_free(NULL, ti->m);
    ti->m = NULL;
}

void ms_title_free(ms_title *ti)
{
    if (!ti) return;
    load_reset(ti);
    free(ti->by_path);
    free(ti->abr_seg);
    free(ti);
}

ms_title_state ms_title_get_state(const ms_title *ti, const char **why)
{
    if (why) *why = ti->why;
    return ti->state;
}

static pf_client_torrent *g_sort_t; /* qsort has no context argument */
static int by_path_cmp(const void *a, const void *b)
{
    return strcmp(pf_client_torrent_file_path(g_sort_t, *(const uint32_t *)a),
                  pf_client_torrent_file_path(g_sort_t, *(const uint32_t *)b));
}

static int64_t file_by_path(ms_title *ti, const char *path)
{
    uint32_t nf = pf_client_torrent_num_files(ti->t);
    if (!nf) return -1;
    if (!ti->by_path) {
        ti->by_path = malloc(nf * sizeof *ti->by_path);
        if (!ti->by_path) return -1;
        for (uint32_t i = 0; i < nf; i++) ti->by_path[i] = i;
        g_sort_t = ti->t;
        qsort(ti->by_path, nf, sizeof *ti->by_path, by_path_cmp);
        g_sort_t = NULL;
        ti->nfiles = nf;
    }
    for (uint32_t lo = 0, hi = ti->nfiles; lo < hi;) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = strcmp(path, pf_client_torrent_file_path(ti->t, ti->by_path[mid]));
        if (c == 0) return ti->by_path[mid];
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return -1;
}

int64_t ms_title_file(ms_title *ti, const char *path) { return file_by_path(ti, path); }

static void fail(ms_title *ti, const char *fmt, const char *a, const char *b)
{
    snprintf(ti->why, sizeof ti->why, fmt, a, b);
    mt_log(ti, PF_LOG_WARN, "media: %s", ti->why);
    ti->state = MS_TITLE_FAILED;
    load_reset(ti);
}

/* The timeline from the parsed manifest: each track with segments, its
 * segments' paths as the torrent's files. */
static void mark_abr_segments(ms_title *ti, const pf_media_track *tracks, size_t n)
{
    uint32_t nf = pf_client_torrent_num_files(ti->t);
    free(ti->abr_seg);
    ti->abr_seg = calloc(nf ? nf : 1, 1);
    ti->nabr_seg = ti->abr_seg ? nf : 0;
    for (size_t i = 0; i < n && ti->abr_seg; i++) {
        int others = 0;
        for (size_t k = 0; k < n; k++) others += k != i && tracks[k].kind == tracks[i].kind;
        if (!others) continue;
        for (size_t k = 0; k < tracks[i].nseg; k++)
            if (tracks[i].seg[k].file < nf) ti->abr_seg[tracks[i].seg[k].file] = 1;
    }
}

int ms_title_abr_segment(const ms_title *ti, uint32_t file)
{
    return ti && ti->state == MS_TITLE_READY && file < ti->nabr_seg && ti->abr_seg[file];
}

static void title_apply(ms_title *ti)
{
    pf_manifest *m = ti->m;
    pf_media_track tracks[PF_MEDIA_MAX_TRACKS];
    pf_media_segment *segs[PF_MEDIA_MAX_TRACKS];
    pf_media_segment inits[PF_MEDIA_MAX_TRACKS];
    size_t n = 0;
    int rc = 0;
    double duration = m->duration_s; /* a master playlist's is its tracks' */
    for (size_t i = 0; i < m->ntracks && n < PF_MEDIA_MAX_TRACKS && rc == 0; i++) {
        const pf_mf_track *mt = &m->tracks[i];
        if (!mt->nseg) continue;
        segs[n] = calloc(mt->nseg, sizeof *segs[n]);
        if (!segs[n]) {
            rc = PF_ERR_NOMEM;
            break;
        }
        for (size_t k = 0; k < mt->nseg && rc == 0; k++) {
            int64_t f = file_by_path(ti, mt->seg[k].path);
            if (f < 0) {
                fail(ti, "the manifest names %s, which is not in the torrent%s", mt->seg[k].path, "");
                rc = PF_ERR_NOTFOUND;
                free(segs[n]);
                break;
            }
            segs[n][k].file = (uint32_t)f;
            segs[n][k].offset = mt->seg[k].range_off;
            segs[n][k].length = mt->seg[k].range_len;
            segs[n][k].start_s = mt->seg[k].start_s;
            segs[n][k].duration_s = mt->seg[k].duration_s;
        }
        if (rc) break;
        tracks[n].kind = mt->kind ? mt->kind : 'v';
        tracks[n].bandwidth = mt->bandwidth;
        /* An HLS rendition group's audio (EXT-X-MEDIA) declares no
         * BANDWIDTH: its mean bitrate from its segments, for QoE. */
        double bytes = 0, secs = 0, end = 0;
        for (size_t k = 0; k < mt->nseg; k++) {
            uint64_t len = segs[n][k].length;
            if (!len) {
                uint64_t fsz = pf_client_torrent_file_size(ti->t, segs[n][k].file);
                len = fsz > segs[n][k].offset ? fsz - segs[n][k].offset : 0;
            }
            bytes += (double)len;
            secs += segs[n][k].duration_s;
            if (segs[n][k].start_s + segs[n][k].duration_s > end) end = segs[n][k].start_s + segs[n][k].duration_s;
        }
        if (!tracks[n].bandwidth && secs > 0) tracks[n].bandwidth = (uint64_t)(bytes * 8 / secs);
        if (end > duration) duration = end;
        tracks[n].seg = segs[n];
        tracks[n].nseg = mt->nseg;
        tracks[n].init = NULL;
        int64_t fi = mt->init ? file_by_path(ti, mt->init) : -1;
        if (fi >= 0) {
            memset(&inits[n], 0, sizeof inits[n]);
            inits[n].file = (uint32_t)fi;
            inits[n].offset = mt->init_off;
            inits[n].length = mt->init_len;
            tracks[n].init = &inits[n];
        }
        n++;
    }
    if (rc == 0 && n == 0) {
        fail(ti, "the manifest has no segments%s%s", "", "");
        rc = PF_ERR_NOTFOUND;
    }
    if (rc == 0) rc = pf_client_torrent_set_media(ti->t, tracks, n);
    if (rc == 0) mark_abr_segments(ti, tracks, n);
    for (size_t i = 0; i < n; i++) free(segs[i]);
    if (rc == 0) {
        ti->state = MS_TITLE_READY;
        mt_log(ti, PF_LOG_INFO, "media: a title of %zu tracks, %.1f s", n, duration);
        load_reset(ti);
    } else if (ti->state != MS_TITLE_FAILED) {
        fail(ti, "the timeline was refused: %s%s", pf_strerror(rc), "");
    }
}

static void read_next(ms_title *ti);

/* A whole manifest came: parse it, then read what it names. */
static void text_done(ms_title *ti)
{
    char err[200] = "";
    const char *path = pf_client_torrent_file_path(ti->t, ti->file);
    int rc;
    if (!ti->m) {
        pf_manifest *m = NULL;
        if (ends_with(path, ".mpd"))
            rc = pf_dash_parse(NULL, path, ti->text.data, ti->text.len, &m, err, sizeof err);
        else
            rc = pf_hls_parse(NULL, path, ti->text.data, ti->text.len, &m, err, sizeof err);
        if (rc) {
            fail(ti, "%s: %s", path, err);
            return;
        }
        ti->m = m;
        ti->next_track = 0;
    } else {
        pf_mf_track *tr = &ti->m->tracks[ti->next_track - 1];
        rc = pf_hls_parse_media(NULL, tr, ti->text.data, ti->text.len, err, sizeof err);
        if (rc) {
            fail(ti, "%s: %s", path, err);
            return;
        }
    }
    pf_buf_free(&ti->text);
    pf_buf_init(&ti->text);
    read_next(ti);
}

static void on_text(void *ud, int err, const uint8_t *data, size_t n);

/* Reads file `file` whole into ti->text. */
static int read_start(ms_title *ti, uint32_t file)
{
    ti->file = file;
    ti->size = pf_client_torrent_file_size(ti->t, file);
    if (ti->size > MT_MAX_MANIFEST) return PF_ERR_LIMIT;
    int rc = pf_stream_open(ti->t, file, 0, &ti->st);
    if (rc) return rc;
    ti->in_read = 1;
    while (ti->st && !ti->reading && ti->text.len < ti->size) {
        ti->reading = 1;
        size_t want = ti->size - ti->text.len < MT_READ_CHUNK ? (size_t)(ti->size - ti->text.len) : MT_READ_CHUNK;
        rc = pf_stream_read(ti->st, ti->text.len, want, on_text, ti);
        if (rc) {
            ti->reading = 0;
            break;
        }
    }
    ti->in_read = 0;
    if (rc) return rc;
    if (ti->st && !ti->reading && ti->text.len >= ti->size) {
        pf_stream_close(ti->st);
        ti->st = NULL;
        text_done(ti);
    }
    return 0;
}

static void on_text(void *ud, int err, const uint8_t *data, size_t n)
{
    ms_title *ti = ud;
    ti->reading = 0;
    if (err < 0 || n == 0 || pf_buf_append(&ti->text, data, n) != 0) {
        fail(ti, "reading %s: %s", pf_client_torrent_file_path(ti->t, ti->file),
             pf_strerror(err < 0 ? err : PF_ERR_NOMEM));
        return;
    }
    if (ti->in_read) return; /* read_start's loop goes on */
    if (ti->text.len < ti->size) {
        ti->reading = 1;
        size_t want = ti->size - ti->text.len < MT_READ_CHUNK ? (size_t)(ti->size - ti->text.len) : MT_READ_CHUNK;
        int rc = pf_stream_read(ti->st, ti->text.len, want, on_text, ti);
        if (rc) {
            ti->reading = 0;
            fail(ti, "reading %s: %s", pf_client_torrent_file_path(ti->t, ti->file), pf_strerror(rc));
        }
        return;
    }
    pf_stream_close(ti->st);
    ti->st = NULL;
    text_done(ti);
}

/* The next media playlist a master names, or the timeline when none is
 * left. */
static void read_next(ms_title *ti)
{
    pf_manifest *m = ti->m;
    while (m->kind == PF_MF_HLS_MASTER && ti->next_track < m->ntracks) {
        pf_mf_track *tr = &m->tracks[ti->next_track++];
        if (!tr->playlist || tr->nseg) continue;
        int64_t f = file_by_path(ti, tr->playlist);
        if (f < 0) {
            fail(ti, "the master playlist names %s, which is not in the torrent%s", tr->playlist, "");
            return;
        }
        int rc = read_start(ti, (uint32_t)f);
        if (rc) fail(ti, "reading %s: %s", tr->playlist, pf_strerror(rc));
        return; /* text_done comes back here */
    }
    title_apply(ti);
}

void ms_title_kick(ms_title *ti, uint32_t file)
{
    if (ti->state == MS_TITLE_LOADING || ti->state == MS_TITLE_READY) return;
    if (file >= pf_client_torrent_num_files(ti->t)) return;
    ti->state = MS_TITLE_LOADING;
    ti->why[0] = 0;
    int rc = read_start(ti, file);
    if (rc) fail(ti, "reading %s: %s", pf_client_torrent_file_path(ti->t, file), pf_strerror(rc));
}
