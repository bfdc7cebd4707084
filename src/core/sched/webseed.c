/* BEP 19 web seeds: the CDN as one more source of blocks.  The scheduler
 * (stream.c) decides which blocks it fetches; this file turns a run of
 * claimed blocks into ranged GETs per file, feeds the body back into the
 * picker block by block (verified like any other piece), and retries a
 * failing CDN with exponential backoff. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/swarm/swarm.h"
#include "core/util/mem.h"

#define PF__WS_RUN_MAX (4u * 1024u * 1024u) /* bytes per run */

int pf__ws_add(pf_torrent *t, const char *url)
{
    if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
        return PF_ERR_UNSUPPORTED;
    for (uint32_t i = 0; i < t->nws; i++)
        if (strcmp(t->ws[i].url, url) == 0) return PF_ERR_EXISTS;
    if (t->nws >= 16) return PF_ERR_LIMIT;
    pf__webseed *n = pf__realloc(t->s->mem, t->ws, (t->nws + 1) * sizeof *n);
    if (!n) return PF_ERR_NOMEM;
    t->ws = n;
    memset(&t->ws[t->nws], 0, sizeof *t->ws);
    t->ws[t->nws].url = pf__strdup(t->s->mem, url);
    if (!t->ws[t->nws].url) return PF_ERR_NOMEM;
    t->nws++;
    return 0;
}

int pf_torrent_add_webseed(pf_torrent *t, const char *url) { return pf__ws_add(t, url); }

static void run_free(const pf_mem *m, pf__ws_run *r)
{
    pf__free(m, r->blk);
    pf__free(m, r);
}

void pf__ws_free_all(pf_torrent *t)
{
    for (uint32_t i = 0; i < t->nws; i++) {
        for (uint32_t k = 0; k < t->ws[i].nruns; k++) {
            pf__ws_run *r = t->ws[i].runs[k];
            if (r->job) r->job->tag = UINT32_MAX; /* orphaned; freed by its owner */
            run_free(t->s->mem, r);
        }
        pf__free(t->s->mem, t->ws[i].url);
    }
    pf__free(t->s->mem, t->ws);
    t->ws = NULL;
    t->nws = 0;
}

/* Percent-encodes one path component per RFC 3986 (unreserved kept). */
static int append_escaped(pf_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        int keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                   ch == '-' || ch == '_' || ch == '.' || ch == '~' || ch == '/';
        int rc = keep ? pf_buf_append_u8(b, ch) : pf_buf_appendf(b, "%%%c%c", hex[ch >> 4], hex[ch & 15]);
        if (rc) return rc;
    }
    return 0;
}

/* BEP 19 URL of file f: a single-file URL is used as is unless it ends
 * with '/', where the name is appended; multi-file appends name/path. */
static char *file_url(const pf_torrent *t, const char *base, size_t f)
{
    const pf_metainfo *mi = t->mi;
    pf_buf b;
    pf_buf_init_mem(&b, t->s->mem);
    size_t bl = strlen(base);
    int slash = bl > 0 && base[bl - 1] == '/';
    int rc = pf_buf_append(&b, base, bl);
    if (mi->multi_file) {
        if (!rc && !slash) rc = pf_buf_append_u8(&b, '/');
        if (!rc) rc = append_escaped(&b, mi->name);
        if (!rc) rc = pf_buf_append_u8(&b, '/');
        if (!rc) rc = append_escaped(&b, mi->files[f].path);
    } else if (slash && !rc) {
        rc = append_escaped(&b, mi->name);
    }
    if (!rc) rc = pf_buf_nul(&b);
    if (rc) {
        pf_buf_free(&b);
        return NULL;
    }
    return (char *)b.data;
}

static pf__webseed *best_ws(pf_torrent *t, uint64_t now)
{
    pf__webseed *best = NULL;
    for (uint32_t i = 0; i < t->nws; i++) {
        pf__webseed *w = &t->ws[i];
        if (w->retry_at > now || w->nruns >= PF__WS_MAX_INFLIGHT) continue;
        if (!best || w->nruns < best->nruns || (w->nruns == best->nruns && w->down.bps > best->down.bps))
            best = w;
    }
    return best;
}

int pf__ws_capacity(pf_torrent *t, uint64_t now) { return t->has_meta && best_ws(t, now) != NULL; }

uint32_t pf__ws_inflight(const pf_torrent *t)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->nws; i++)
        for (uint32_t k = 0; k < t->ws[i].nruns; k++) n += !t->ws[i].runs[k]->cancelled;
    return n;
}

double pf__ws_rate(const pf_torrent *t, uint64_t *ttfb_ns)
{
    double r = 0;
    *ttfb_ns = 0;
    for (uint32_t k = 0; k < t->nws; k++) {
        const pf__webseed *w = &t->ws[k];
        double wr = w->xfer_bps > 0 ? w->xfer_bps : w->run_bps;
        if (wr > r) {
            r = wr;
            *ttfb_ns = w->xfer_bps > 0 ? w->ttfb_ns : 0;
        }
    }
    return r;
}

int pf__ws_usable(const pf_torrent *t, uint64_t now)
{
    for (uint32_t i = 0; i < t->nws; i++)
        if (t->ws[i].retry_at <= now) return 1;
    return 0;
}

static void run_remove(pf__webseed *w, pf__ws_run *r)
{
    for (uint32_t k = 0; k < w->nruns; k++)
        if (w->runs[k] == r) {
            w->runs[k] = w->runs[--w->nruns];
            return;
        }
}

/* Gives the blocks a run did not deliver back to the picker. */
static void run_unclaim(pf_torrent *t, pf__ws_run *r)
{
    uint64_t plen = t->mi->piece_length;
    uint64_t off = r->cursor - r->blk_fill; /* start of the unfinished block */
    for (; off < r->end; off += PF_BLOCK_SIZE) {
        uint32_t piece = (uint32_t)(off / plen);
        uint32_t begin = (uint32_t)(off % plen);
        pf_picker_unclaim(&t->picker, piece, begin);
    }
}

static void run_fail(pf_torrent *t, pf__ws_run *r, uint64_t now, int err)
{
    pf__webseed *w = r->ws;
    run_unclaim(t, r);
    run_remove(w, r);
    if (!r->cancelled) {
        w->fails++;
        uint32_t shift = w->fails < 6 ? w->fails : 6;
        w->retry_at = now + (1ULL << shift) * 500 * PF_NS_PER_MS; /* 1 s .. 32 s */
        pf__log(t->s, w->fails == 1 ? PF_LOG_WARN : PF_LOG_DEBUG,
                "web seed %s failed (%s); retrying in %llu ms", w->url,
                pf_strerror(err), (unsigned long long)((1ULL << shift) * 500));
    }
    run_free(t->s->mem, r);
}

/* One block of the run is complete in data: hand it to the picker. */
static void run_block(pf_torrent *t, pf__ws_run *r, uint64_t off, const uint8_t *data, uint32_t len,
                      uint64_t now)
{
    uint64_t plen = t->mi->piece_length;
    uint32_t piece = (uint32_t)(off / plen), begin = (uint32_t)(off % plen);
    uint64_t before = t->wasted;
    pf__torrent_block_in(t, NULL, piece, begin, data, len, now);
    if (t->wasted == before) {
        t->cdn_downloaded += len;
        r->ws->downloaded += len;
    } else {
        r->ws->wasted += len;
    }
    pf__rate_add(&r->ws->down, len);
}

static uint32_t block_len_at(const pf_torrent *t, uint64_t off)
{
    uint64_t plen = t->mi->piece_length;
    uint64_t piece_end = (off / plen + 1) * plen;
    if (piece_end > t->mi->total_length) piece_end = t->mi->total_length;
    uint64_t n = piece_end - off;
    return n < PF_BLOCK_SIZE ? (uint32_t)n : PF_BLOCK_SIZE;
}

/* Feeds bytes at r->cursor into blocks. */
static void run_feed(pf_torrent *t, pf__ws_run *r, const uint8_t *data, size_t n, uint64_t now)
{
    while (n > 0 && r->cursor < r->end) {
        uint64_t blk_start = r->cursor - r->blk_fill;
        uint32_t bl = block_len_at(t, blk_start);
        if (r->blk_fill == 0 && n >= bl) {
            run_block(t, r, blk_start, data, bl, now); /* whole block in place */
            data += bl;
            n -= bl;
            r->cursor += bl;
            continue;
        }
        uint32_t take = bl - r->blk_fill;
        if (take > n) take = (uint32_t)n;
        memcpy(r->blk + r->blk_fill, data, take);
        r->blk_fill += take;
        r->cursor += take;
        data += take;
        n -= take;
        if (r->blk_fill == bl) {
            run_block(t, r, blk_start, r->blk, bl, now);
            r->blk_fill = 0;
        }
    }
}

/* Starts the HTTP job for the file segment at r->cursor (or synthesises
 * a pad file's zeros).  Returns 0, 1 when the run is complete, or < 0. */
static int run_next(pf_torrent *t, pf__ws_run *r, uint64_t now)
{
    const pf_metainfo *mi = t->mi;
    while (r->cursor < r->end) {
        size_t f = pf_metainfo_file_at(mi, r->cursor);
        if (f >= mi->num_files) return PF_ERR_RANGE;
        const pf_file_entry *fe = &mi->files[f];
        uint64_t fend = fe->offset + fe->length;
        r->seg_end = fend < r->end ? fend : r->end;
        if (fe->pad) {
            static const uint8_t zeros[PF_BLOCK_SIZE];
            while (r->cursor < r->seg_end) {
                uint64_t k = r->seg_end - r->cursor;
                run_feed(t, r, zeros, k < sizeof zeros ? (size_t)k : sizeof zeros, now);
            }
            continue;
        }
        pf_job *j = pf__job_new(t, PF_JOB_WEBSEED);
        if (!j) return PF_ERR_NOMEM;
        j->url = file_url(t, r->ws->url, f);
        if (!j->url) {
            pf__free(t->s->mem, j);
            return PF_ERR_NOMEM;
        }
        j->range_start = r->cursor - fe->offset;
        j->range_len = r->seg_end - r->cursor;
        j->piece = (uint32_t)(r->cursor / mi->piece_length);
        j->tag = 0;
        r->job = j;
        r->started = now;
        r->first_at = 0;
        pf__log(t->s, PF_LOG_DEBUG, "cdn: GET bytes %llu-%llu (pieces %u-%u)",
                (unsigned long long)r->cursor, (unsigned long long)r->seg_end - 1, j->piece,
                (uint32_t)((r->seg_end - 1) / mi->piece_length));
        /* The run is found again from the job through this pointer. */
        j->buf = (uint8_t *)r;
        if (pf__torrent_emit_job(t, j) != 0) {
            r->job = NULL;
            j->buf = NULL;
            pf__free(t->s->mem, j->url);
            pf__free(t->s->mem, j);
            return PF_ERR_NOMEM;
        }
        return 0;
    }
    return 1;
}

int pf__ws_fetch(pf_torrent *t, const pf_block_ref *blocks, uint32_t n, uint64_t now)
{
    if (n == 0) return 0;
    pf__webseed *w = best_ws(t, now);
    if (!w) return PF_ERR_EAGAIN;
    uint64_t plen = t->mi->piece_length;
    /* Split into contiguous runs; each becomes one request (per file). */
    uint32_t i = 0;
    int rc = 0;
    while (i < n) {
        uint64_t start = (uint64_t)blocks[i].piece * plen + blocks[i].begin;
        uint64_t end = start + blocks[i].length;
        uint32_t k = i + 1;
        while (k < n && end - start < PF__WS_RUN_MAX &&
               (uint64_t)blocks[k].piece * plen + blocks[k].begin == end) {
            end += blocks[k].length;
            k++;
        }
        pf__ws_run *r = w->nruns < PF__WS_MAX_INFLIGHT ? pf__calloc(t->s->mem, 1, sizeof *r) : NULL;
        if (r) r->blk = pf__malloc(t->s->mem, PF_BLOCK_SIZE);
        if (!r || !r->blk) {
            if (r) run_free(t->s->mem, r);
            /* No room: hand these blocks back. */
            for (uint32_t q = i; q < n; q++) pf_picker_unclaim(&t->picker, blocks[q].piece, blocks[q].begin);
            return PF_ERR_EAGAIN;
        }
        r->ws = w;
        r->start = r->cursor = start;
        r->end = end;
        w->runs[w->nruns++] = r;
        rc = run_next(t, r, now);
        if (rc != 0) {
            if (rc < 0)
                run_fail(t, r, now, rc);
            else {
                run_remove(w, r);
                run_free(t->s->mem, r);
            }
        }
        i = k;
    }
    return 0;
}

int pf__ws_job_data(pf_torrent *t, pf_job *j, const uint8_t *data, size_t n, uint64_t now)
{
    pf__ws_run *r = (pf__ws_run *)j->buf;
    if (!r || j->tag == UINT32_MAX || r->cancelled) return PF_ERR_SHUTDOWN;
    if (n > r->seg_end - r->cursor) return PF_ERR_PROTO; /* more than asked for */
    if (!r->first_at && n > 0) {
        r->first_at = now;
        r->first_len = n;
    }
    run_feed(t, r, data, n, now);
    return 0;
}

void pf__ws_job_done(pf_torrent *t, pf_job *j, uint64_t now)
{
    pf__ws_run *r = (pf__ws_run *)j->buf;
    j->buf = NULL; /* not ours to free */
    if (!r || j->tag == UINT32_MAX) return;
    r->job = NULL;
    if (r->cancelled) {
        run_fail(t, r, now, PF_ERR_SHUTDOWN);
        return;
    }
    int ok = j->result == 0 && (j->status == 206 || j->status == 200) && r->cursor == r->seg_end;
    if (!ok) {
        run_fail(t, r, now, j->result ? j->result : PF_ERR_NET);
        return;
    }
    r->ws->fails = 0;
    if (now > r->started && j->range_len > 0)
        r->ws->run_bps = (double)j->range_len / ((double)(now - r->started) / 1e9);
    if (r->first_at > r->started && now > r->first_at && j->range_len > r->first_len) {
        r->ws->xfer_bps = (double)(j->range_len - r->first_len) / ((double)(now - r->first_at) / 1e9);
        r->ws->ttfb_ns = r->first_at - r->started;
    }
    r->first_at = 0;
    pf__log(t->s, PF_LOG_DEBUG, "cdn: got bytes %llu-%llu in %.0f ms", (unsigned long long)r->start,
            (unsigned long long)r->cursor - 1, (double)(now - r->started) / 1e6);
    int rc = run_next(t, r, now);
    if (rc < 0) {
        run_fail(t, r, now, rc);
    } else if (rc == 1) {
        run_remove(r->ws, r);
        run_free(t->s->mem, r);
    }
}

int pf_torrent_job_data(pf_torrent *t, pf_job *j, const uint8_t *data, size_t n, uint64_t now)
{
    if (j->type != PF_JOB_WEBSEED) return PF_ERR_INVAL;
    return pf__ws_job_data(t, j, data, n, now);
}

void pf__ws_cancel_useless(pf_torrent *t, uint64_t now)
{
    (void)now;
    uint64_t plen = t->has_meta ? t->mi->piece_length : 1;
    for (uint32_t i = 0; i < t->nws; i++) {
        pf__webseed *w = &t->ws[i];
        for (uint32_t k = 0; k < w->nruns; k++) {
            pf__ws_run *r = w->runs[k];
            if (r->cancelled || !r->job) continue;
            /* Useful while every remaining block is still missing-and-wanted
             * by some reader's window; otherwise the seek left it behind. */
            int useful = 0;
            for (uint32_t s = 0; s < t->picker.nwin && !useful; s++) {
                uint64_t ws = (uint64_t)t->picker.win[s].start * plen;
                uint64_t we = (uint64_t)t->picker.win[s].end * plen;
                useful = r->cursor < we && r->end > ws;
            }
            if (useful || t->picker.nwin == 0) continue;
            r->cancelled = 1;
            pf_event ev = {.type = PF_EV_JOB_CANCEL, .torrent = t, .job = r->job};
            pf__emit(t->s, &ev);
        }
    }
}

void pf__ws_tick(pf_torrent *t, double dt)
{
    for (uint32_t i = 0; i < t->nws; i++) pf__rate_tick(&t->ws[i].down, dt);
}
