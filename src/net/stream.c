/* Readers of a torrent's files for the local media server: waits for
 * verified data without blocking the loop, takes it from the engine's
 * verified copy of each piece (read from disk on the threadpool, checked
 * by the engine), and feeds the media probe so the scheduler learns the
 * real bitrate. */
#include <stdlib.h>
#include <string.h>

#include "core/codec/media_probe.h"
#include "core/sched/sched.h"
#include "net/client_internal.h"

#define PF__STREAM_READ_MAX (1024 * 1024)
#define PF__PROBE_PREFIX (512 * 1024)
#define PF__PROBE_SUFFIX_MAX (8 * 1024 * 1024)

struct pf_stream {
    pf_client_torrent *ct;
    uint32_t id;
    uint32_t file;
    struct pf_stream *next;
    /* the pending read */
    int pending, closed;
    uint64_t off;
    size_t max;
    pf_stream_read_cb cb;
    void *ud;
    uint8_t *buf;
    size_t n;
};

/* Media probe state of one file. */
typedef struct pf__probe {
    int done;
    uint8_t *prefix;
    size_t prefix_len;
    uint64_t need_off, need_len; /* a range the probe asked for */
    uint8_t *suffix;
    size_t suffix_len;
    uint64_t suffix_off;
} pf__probe;

uint32_t pf_client_torrent_num_files(const pf_client_torrent *ct)
{
    const pf_metainfo *mi = pf_torrent_metainfo(ct->t);
    return mi ? (uint32_t)mi->num_files : 0;
}

const char *pf_client_torrent_file_path(const pf_client_torrent *ct, uint32_t i)
{
    const pf_metainfo *mi = pf_torrent_metainfo(ct->t);
    return mi && i < mi->num_files ? mi->files[i].path : NULL;
}

uint64_t pf_client_torrent_file_size(const pf_client_torrent *ct, uint32_t i)
{
    const pf_metainfo *mi = pf_torrent_metainfo(ct->t);
    return mi && i < mi->num_files ? mi->files[i].length : 0;
}

int pf_client_torrent_qoe(const pf_client_torrent *ct, uint32_t file, pf_qoe *q)
{
    return pf_torrent_qoe(ct->t, file, uv_hrtime(), q);
}

int pf_client_torrent_set_media(pf_client_torrent *ct, const pf_media_track *tracks, size_t n)
{
    int rc = pf_torrent_set_media(ct->t, tracks, n, uv_hrtime());
    pf__client_pump(ct->c);
    return rc;
}

int pf_client_torrent_media_qoe(const pf_client_torrent *ct, pf_media_qoe *q)
{
    return pf_torrent_media_qoe(ct->t, uv_hrtime(), q);
}

size_t pf_client_torrent_sources(const pf_client_torrent *ct, pf_source_stats *out, size_t max)
{
    return pf_torrent_sources(ct->t, out, max);
}

static void unlink_stream(pf_stream *s)
{
    pf_stream **pp = &s->ct->streams;
    while (*pp && *pp != s) pp = &(*pp)->next;
    if (*pp) *pp = s->next;
}

static void stream_free(pf_stream *s)
{
    free(s->buf);
    free(s);
}

int pf_stream_open(pf_client_torrent *ct, uint32_t file, uint64_t offset, pf_stream **out)
{
    if (ct->removing) return PF_ERR_SHUTDOWN;
    pf_stream *s = calloc(1, sizeof *s);
    if (!s) return PF_ERR_NOMEM;
    int rc = pf_torrent_stream_open(ct->t, file, offset, pf__client_now(ct->c), &s->id);
    if (rc != 0) {
        free(s);
        return rc;
    }
    s->ct = ct;
    s->file = file;
    s->next = ct->streams;
    ct->streams = s;
    *out = s;
    pf__client_pump(ct->c);
    return 0;
}

/* Probing ------------------------------------------------------------------- */
static pf__probe *probe_of(pf_client_torrent *ct, uint32_t file)
{
    uint32_t n = pf_client_torrent_num_files(ct);
    if (file >= n) return NULL;
    if (!ct->probes) ct->probes = calloc(n, sizeof *ct->probes);
    return ct->probes ? &ct->probes[file] : NULL;
}

static void probe_feed(pf_client_torrent *ct, uint32_t file, uint64_t off, const uint8_t *data, size_t n)
{
    pf__probe *p = probe_of(ct, file);
    if (!p || p->done) return;
    uint64_t size = pf_client_torrent_file_size(ct, file);
    int changed = 0;
    if (off <= p->prefix_len && p->prefix_len < PF__PROBE_PREFIX && off + n > p->prefix_len) {
        if (!p->prefix) p->prefix = malloc(PF__PROBE_PREFIX);
        if (!p->prefix) return;
        size_t take = (size_t)(off + n - p->prefix_len);
        if (take > PF__PROBE_PREFIX - p->prefix_len) take = PF__PROBE_PREFIX - p->prefix_len;
        memcpy(p->prefix + p->prefix_len, data + (p->prefix_len - off), take);
        p->prefix_len += take;
        changed = 1;
    }
    if (p->need_len && off <= p->need_off && off + n > p->need_off && !p->suffix) {
        /* Keep what the player read from the asked-for range onwards. */
        size_t len = (size_t)(off + n - p->need_off);
        if (len > PF__PROBE_SUFFIX_MAX) len = PF__PROBE_SUFFIX_MAX;
        p->suffix = malloc(len);
        if (p->suffix) {
            memcpy(p->suffix, data + (p->need_off - off), len);
            p->suffix_len = len;
            p->suffix_off = p->need_off;
            changed = 1;
        }
    }
    if (!changed || p->prefix_len == 0) return;
    pf_media_info info;
    uint64_t need_off = 0, need_len = 0;
    int rc = pf_media_probe(p->prefix, p->prefix_len, p->suffix, p->suffix_len, p->suffix_off, size,
                            &info, &need_off, &need_len);
    if (rc == 0) {
        p->done = 1;
        if (info.duration_s > 0) pf_torrent_set_bitrate(ct->t, file, (double)size / info.duration_s);
    } else if (rc == PF_ERR_EAGAIN) {
        if (p->suffix && need_off == p->suffix_off) {
            p->done = 1; /* the range we kept was not enough: use the read rate */
        } else {
            free(p->suffix);
            p->suffix = NULL;
            p->suffix_len = 0;
            p->need_off = need_off;
            p->need_len = need_len;
        }
    } else {
        p->done = 1; /* not a container we understand: observed rate it is */
    }
    if (p->done) {
        free(p->prefix);
        free(p->suffix);
        p->prefix = p->suffix = NULL;
    }
}

/* Reading ---------------------------------------------------------------- */
/* The bytes are in s->buf: hand them to the reader. */
static void deliver(pf_stream *s)
{
    pf_client *c = s->ct->c;
    s->pending = 0;
    /* The probe first: the bitrate is known before the stream moves. */
    probe_feed(s->ct, s->file, s->off, s->buf, s->n);
    pf_torrent_stream_served(s->ct->t, s->id, s->off, s->n, pf__client_now(c));
    /* The callback may read again or close the stream. */
    s->cb(s->ud, 0, s->buf, s->n);
    pf__client_pump(c);
}

/* Asks the engine; copies the data when it is there.  The bytes come from
 * the engine's verified copy of their piece (pf_torrent_read), not from
 * our own pread of the file: a piece read back from disk reaches the
 * player only once its SHA-1 matched (bit rot after a clean run went to
 * the player when a resume record was trusted), and the engine's read
 * cache and disk reads serve peers and players alike. */
static void try_read(pf_stream *s)
{
    pf_client *c = s->ct->c;
    long avail = pf_torrent_stream_avail(s->ct->t, s->id, s->off, s->max, pf__client_now(c));
    pf__client_pump(c);
    if (avail == 0) return; /* PF_EV_STREAM_READY brings us back */
    if (avail < 0) {
        s->pending = 0;
        s->cb(s->ud, (int)avail, NULL, 0);
        return;
    }
    uint8_t *nb = realloc(s->buf, (size_t)avail);
    if (!nb) {
        s->pending = 0;
        s->cb(s->ud, PF_ERR_NOMEM, NULL, 0);
        return;
    }
    s->buf = nb;
    const pf_metainfo *mi = pf_torrent_metainfo(s->ct->t);
    long n = pf_torrent_read(s->ct->t, mi->files[s->file].offset + s->off, s->buf, (size_t)avail,
                             pf__client_now(c));
    pf__client_pump(c);
    if (n == 0) return; /* being read and checked: PF_EV_STREAM_READY brings us back */
    if (n < 0) {
        s->pending = 0;
        s->cb(s->ud, (int)n, NULL, 0);
        return;
    }
    s->n = (size_t)n;
    deliver(s);
}

int pf_stream_read(pf_stream *s, uint64_t offset, size_t max, pf_stream_read_cb cb, void *ud)
{
    if (s->pending || s->closed || !cb || max == 0) return PF_ERR_INVAL;
    if (offset >= pf_client_torrent_file_size(s->ct, s->file)) return PF_ERR_RANGE;
    if (!s->ct->st) return PF_ERR_INVAL;
    s->pending = 1;
    s->off = offset;
    s->max = max < PF__STREAM_READ_MAX ? max : PF__STREAM_READ_MAX;
    s->cb = cb;
    s->ud = ud;
    try_read(s);
    return 0;
}

void pf__stream_ready(pf_client_torrent *ct, uint32_t id)
{
    for (pf_stream *s = ct->streams; s; s = s->next)
        if (s->id == id && s->pending && !s->closed) {
            try_read(s);
            return;
        }
}

void pf_stream_close(pf_stream *s)
{
    if (!s || s->closed) return;
    pf_client_torrent *ct = s->ct;
    s->closed = 1;
    unlink_stream(s);
    pf_torrent_stream_close(ct->t, s->id, pf__client_now(ct->c));
    stream_free(s);
    pf__client_pump(ct->c);
}

void pf__streams_close_all(pf_client_torrent *ct)
{
    while (ct->streams) pf_stream_close(ct->streams);
    if (ct->probes) {
        uint32_t n = pf_client_torrent_num_files(ct);
        for (uint32_t i = 0; i < n; i++) {
            free(ct->probes[i].prefix);
            free(ct->probes[i].suffix);
        }
        free(ct->probes);
        ct->probes = NULL;
    }
}
