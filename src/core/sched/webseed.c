/* BEP 19 web seeds: a CDN edge (or an ISP-embedded cache) as one more
 * source of blocks (source.h), with a cost per byte.  The scheduler
 * (sched.c) decides which blocks it fetches; this file turns a run of
 * claimed blocks into ranged GETs per file, feeds the body back block by
 * block through the same verification as any other source, retries a
 * failing web seed with exponential backoff, and stops asking one whose
 * data keeps failing its hash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/media/cmcd.h"
#include "core/swarm/swarm.h"
#include "core/util/mem.h"

#define PF__WS_RUN_MAX (4u * 1024u * 1024u) /* bytes per run */

/* A web seed that sent this many pieces that failed their hash (alone,
 * or proven by a piece that later verified) is never asked again. */
#define PF__WS_MAX_LIES 4

static const pf_source_ops ws_ops;

int pf__ws_add(pf_torrent *t, const char *url, double cost)
{
    if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
        return PF_ERR_UNSUPPORTED;
    if (!(cost > 0)) cost = 1.0;
    for (uint32_t i = 0; i < t->nws; i++)
        if (strcmp(t->ws[i]->url, url) == 0) return PF_ERR_EXISTS;
    if (t->nws >= 16) return PF_ERR_LIMIT;
    pf__webseed **n = pf__realloc(t->s->mem, t->ws, (t->nws + 1) * sizeof *n);
    if (!n) return PF_ERR_NOMEM;
    t->ws = n;
    pf__webseed *w = pf__calloc(t->s->mem, 1, sizeof *w);
    if (!w) return PF_ERR_NOMEM;
    w->url = pf__strdup(t->s->mem, url);
    w->src.ops = &ws_ops;
    w->src.cost = cost;
    if (!w->url || pf__torrent_add_source(t, &w->src) != 0) {
        pf__free(t->s->mem, w->url);
        pf__free(t->s->mem, w);
        return PF_ERR_NOMEM;
    }
    t->ws[t->nws++] = w;
    return 0;
}

int pf_torrent_add_webseed(pf_torrent *t, const char *url, double cost) { return pf__ws_add(t, url, cost); }

static void run_free(const pf_mem *m, pf__ws_run *r)
{
    pf__free(m, r->blk);
    pf__free(m, r);
}

void pf__ws_free_all(pf_torrent *t)
{
    for (uint32_t i = 0; i < t->nws; i++) {
        pf__webseed *w = t->ws[i];
        for (uint32_t k = 0; k < w->nruns; k++) {
            pf__ws_run *r = w->runs[k];
            if (r->job) r->job->tag = UINT32_MAX; /* orphaned; freed by its owner */
            run_free(t->s->mem, r);
        }
        pf__torrent_remove_source(t, &w->src);
        pf__free(t->s->mem, w->url);
        pf__free(t->s->mem, w);
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
        uint64_t at = now + (1ULL << shift) * 500 * PF_NS_PER_MS; /* 1 s .. 32 s */
        if (at > w->retry_at) w->retry_at = at;
        pf__log(t->s, w->fails == 1 ? PF_LOG_WARN : PF_LOG_DEBUG,
                "web seed %s failed (%s); retrying in %llu ms", w->url,
                pf_strerror(err), (unsigned long long)((1ULL << shift) * 500));
    }
    run_free(t->s->mem, r);
}

/* Stops every GET of w: their blocks go back to the picker. */
static void cancel_runs(pf_torrent *t, pf__webseed *w)
{
    for (uint32_t k = 0; k < w->nruns; k++) {
        pf__ws_run *r = w->runs[k];
        if (r->cancelled || !r->job) continue;
        r->cancelled = 1;
        pf_event ev = {.type = PF_EV_JOB_CANCEL, .torrent = t, .job = r->job};
        pf__emit(t->s, &ev);
    }
}

/* One block of the run is complete in data: in through the same
 * verification as any other source's. */
static void run_block(pf_torrent *t, pf__ws_run *r, uint64_t off, const uint8_t *data, uint32_t len,
                      uint64_t now)
{
    uint64_t plen = t->mi->piece_length;
    uint32_t piece = (uint32_t)(off / plen), begin = (uint32_t)(off % plen);
    if (pf_picker_pad_block(&t->picker, piece, begin)) return; /* zeros, in place */
    pf__torrent_block_in(t, &r->ws->src, piece, begin, data, len, now);
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
            if (data) data += bl;
            n -= bl;
            r->cursor += bl;
            continue;
        }
        uint32_t take = bl - r->blk_fill;
        if (take > n) take = (uint32_t)n;
        if (data) memcpy(r->blk + r->blk_fill, data, take);
        r->blk_fill += take;
        r->cursor += take;
        if (data) data += take;
        n -= take;
        if (r->blk_fill == bl) {
            run_block(t, r, blk_start, r->blk, bl, now); /* NULL: elided */
            r->blk_fill = 0;
        }
    }
}

/* CMCD (CTA-5004) ------------------------------------------------------------ */

/* The torrent's CMCD session: a random session id on its first GET (from
 * the session's RNG: deterministic runs stay deterministic), the content
 * id (the info-hash unless the caller set one), the streaming format
 * its files show. */
static void cmcd_session(pf_torrent *t)
{
    pf__cmcd_torrent *c = &t->cmcd;
    if (!c->sid[0]) {
        uint64_t hi = pf_rand_next(&t->s->rng), lo = pf_rand_next(&t->s->rng);
        pf__cmcd_session_id(hi, lo, c->sid);
    }
    if (!c->cid[0]) {
        static const char hex[] = "0123456789abcdef";
        for (int i = 0; i < 20; i++) {
            c->cid[2 * i] = hex[t->info_hash[i] >> 4];
            c->cid[2 * i + 1] = hex[t->info_hash[i] & 15];
        }
        c->cid[40] = 0;
    }
    if (!c->sf) {
        int hls = 0, dash = 0;
        for (size_t i = 0; i < t->mi->num_files; i++) {
            const char *p = t->mi->files[i].path;
            size_t n = p ? strlen(p) : 0;
            hls |= n > 5 && strcmp(p + n - 5, ".m3u8") == 0;
            dash |= n > 4 && strcmp(p + n - 4, ".mpd") == 0;
        }
        c->sf = hls && !dash ? 'h' : dash && !hls ? 'd' : '-';
    }
}

int pf_torrent_set_content_id(pf_torrent *t, const char *cid)
{
    if (!t) return PF_ERR_INVAL;
    size_t n = cid ? strlen(cid) : 0;
    if (n >= sizeof t->cmcd.cid) return PF_ERR_INVAL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)cid[i] < 0x20 || (unsigned char)cid[i] > 0x7e) return PF_ERR_INVAL;
    if (n) memcpy(t->cmcd.cid, cid, n);
    t->cmcd.cid[n] = 0; /* "": the info-hash again, at the next GET */
    return 0;
}

/* The GET after this one, when the run goes on into another file: its
 * URL relative to this one (when both are in one folder, the usual case)
 * as nor, and its range as nrr. */
static void cmcd_next(pf_torrent *t, const pf__ws_run *r, const char *url, char *nor, size_t nor_cap,
                      char *nrr, size_t nrr_cap)
{
    const pf_metainfo *mi = t->mi;
    nor[0] = nrr[0] = 0;
    uint64_t off = r->seg_end;
    size_t f = pf_metainfo_file_at(mi, off);
    while (off < r->end && f < mi->num_files && mi->files[f].pad) {
        off = mi->files[f].offset + mi->files[f].length;
        f = pf_metainfo_file_at(mi, off);
    }
    if (off >= r->end || f >= mi->num_files) return;
    const pf_file_entry *fe = &mi->files[f];
    uint64_t end = fe->offset + fe->length < r->end ? fe->offset + fe->length : r->end;
    char *next = file_url(t, r->ws->url, f);
    const char *a = strrchr(url, '/'), *b = next ? strrchr(next, '/') : NULL;
    if (next && a && b && a - url == b - next && memcmp(url, next, (size_t)(a - url)) == 0 &&
        strlen(b + 1) < nor_cap) {
        snprintf(nor, nor_cap, "%s", b + 1);
        snprintf(nrr, nrr_cap, "%llu-%llu", (unsigned long long)(off - fe->offset),
                 (unsigned long long)(end - 1 - fe->offset));
    }
    pf__free(t->s->mem, next);
}

/* What the GET of file f at r->cursor tells the CDN: the reader's
 * deadline for its first byte (the hand-over's, less the time since, plus
 * the media time from the run's start when the bitrate is known), buffer,
 * start-up and starvation (as of the hand-over), the object's type and
 * bitrate (the file's as the reader learnt it, else the one the
 * scheduler planned the fetch with), the web seed's own measured
 * throughput (never the CDN's estimate). */
static void cmcd_fill(pf_torrent *t, const pf__ws_run *r, size_t f, uint64_t now, pf__cmcd *c)
{
    const pf__fetch_hint *h = &r->hint;
    const pf__webseed *w = r->ws;
    pf__cmcd_init(c);
    cmcd_session(t);
    c->sid = t->cmcd.sid;
    c->cid = t->cmcd.cid;
    c->sf = t->cmcd.sf != '-' ? t->cmcd.sf : 0;
    c->st = 'v';
    pf__fetch_object_type(t, (uint32_t)f, c->ot);
    /* bl and br are for audio and video (CTA-5004): not for a manifest,
     * an init segment, captions, keys; "o" is a file we cannot name that
     * a reader plays. */
    int media = !strchr("mick", c->ot[0] ? c->ot[0] : 'x') && strcmp(c->ot, "tt") != 0;
    double br = t->qoe && t->qoe[f].bitrate > 0 ? t->qoe[f].bitrate : h->bitrate;
    if (media && br > 0) c->br_kbps = br * 8 / 1000;
    if (media && h->buffer_s >= 0) c->bl_ms = h->buffer_s * 1000;
    if (h->due_s >= 0) {
        double dl = h->due_s - (double)(now - r->hint_at) / 1e9;
        if (h->bitrate > 0) dl += (double)(r->cursor - r->start) / h->bitrate;
        c->dl_ms = dl > 0 ? dl * 1000 : 0;
    }
    double mtp = w->xfer_bps > 0 ? w->xfer_bps : w->run_bps;
    if (mtp * 8 / 1000 >= 50) c->mtp_kbps = mtp * 8 / 1000; /* not "0": a tiny GET's time is its RTT */
    c->su = h->startup;
    c->bs = h->starved;
}

/* The GET's URL (with the CMCD= query argument) and its CMCD headers, in
 * one allocation: j->url, then j->headers (freed with url). */
static int job_request(pf_torrent *t, pf__ws_run *r, size_t f, pf_job *j, uint64_t now)
{
    char *url = file_url(t, r->ws->url, f);
    if (!url) return PF_ERR_NOMEM;
    uint32_t mode = t->s->set.cmcd;
    char nor[512], nrr[48], cmcd[2560];
    long n = 0;
    if (mode != PF_CMCD_OFF) {
        pf__cmcd c;
        cmcd_fill(t, r, f, now, &c);
        cmcd_next(t, r, url, nor, sizeof nor, nrr, sizeof nrr);
        c.nor = nor[0] ? nor : NULL;
        c.nrr = nrr[0] ? nrr : NULL;
        int hdr = mode == PF_CMCD_HEADERS;
        for (int pass = 0; pass < 2; pass++) {
            if (!hdr && strchr(url, '#')) break; /* a query after a fragment would be lost */
            n = hdr ? pf__cmcd_headers(&c, cmcd, sizeof cmcd) : pf__cmcd_query(&c, cmcd, sizeof cmcd);
            if (n >= 0) break;
            n = 0;
            c.nor = c.nrr = NULL; /* too long with the next object's path: without it */
        }
    }
    pf_buf b;
    pf_buf_init_mem(&b, t->s->mem);
    size_t ul = strlen(url);
    int rc = pf_buf_append(&b, url, ul);
    if (!rc && n > 0 && mode == PF_CMCD_QUERY) {
        rc = pf_buf_append_u8(&b, strchr(url, '?') ? '&' : '?');
        if (!rc) rc = pf_buf_append(&b, cmcd, (size_t)n);
        ul = b.len;
    }
    if (!rc) rc = pf_buf_append_u8(&b, 0);
    if (!rc && n > 0 && mode == PF_CMCD_HEADERS) rc = pf_buf_append(&b, cmcd, (size_t)n + 1);
    pf__free(t->s->mem, url);
    if (rc) {
        pf_buf_free(&b);
        return PF_ERR_NOMEM;
    }
    j->url = (char *)b.data;
    j->headers = n > 0 && mode == PF_CMCD_HEADERS ? j->url + ul + 1 : NULL;
    return 0;
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
        if (job_request(t, r, f, j, now) != 0) {
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
        r->job_cursor = r->cursor;
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

static int ws_fetch(pf_source *s, const pf_block_ref *blocks, uint32_t n, uint64_t now)
{
    pf__webseed *w = (pf__webseed *)s;
    pf_torrent *t = s->t;
    if (n == 0) return 0;
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
        pf__ws_run *r = w->nruns < PF__WS_MAX_INFLIGHT && !w->disabled ? pf__calloc(t->s->mem, 1, sizeof *r) : NULL;
        int elide = t->s->set.payload.elide; /* bodies are counts: no staging */
        if (r && !elide) r->blk = pf__malloc(t->s->mem, PF_BLOCK_SIZE);
        if (!r || (!r->blk && !elide)) {
            if (r) run_free(t->s->mem, r);
            /* No room: hand these blocks back. */
            for (uint32_t q = i; q < n; q++) pf_picker_unclaim(&t->picker, blocks[q].piece, blocks[q].begin);
            return PF_ERR_EAGAIN;
        }
        r->ws = w;
        r->start = r->cursor = start;
        r->end = end;
        r->hint = t->fetch_hint; /* set by the scheduler for this hand-over */
        r->hint_at = now;
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
    if (t->s->set.payload.elide)
        data = NULL; /* a count: the bytes, if any, are not looked at */
    else if (!data && n)
        return PF_ERR_INVAL;
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

/* CMSD (CTA-5006): the CDN's own view, from a response that carries it
 * (the last such response replaces what an earlier one said). */
int pf_torrent_job_headers(pf_torrent *t, pf_job *j, const char *headers, size_t n, uint64_t now)
{
    (void)now;
    if (!t || !j || (j->type != PF_JOB_WEBSEED && j->type != PF_JOB_HTTP)) return PF_ERR_INVAL;
    pf__ws_run *r = (pf__ws_run *)j->buf;
    if (j->type != PF_JOB_WEBSEED || !headers || !r || j->tag == UINT32_MAX || r->cancelled) return 0;
    pf__webseed *w = r->ws;
    pf__cmsd c;
    pf__cmsd_init(&c);
    if (pf__cmsd_parse_headers(headers, n, &c) == 0) return 0;
    w->cmsd = c;
    w->src.cmsd_etp_kbps = c.etp > 0 ? (c.etp < UINT32_MAX ? (uint32_t)c.etp : UINT32_MAX) : 0;
    w->src.cmsd_mb_kbps = c.mb > 0 ? (c.mb < UINT32_MAX ? (uint32_t)c.mb : UINT32_MAX) : 0;
    pf__log(t->s, PF_LOG_DEBUG, "cdn: %s says etp=%lld kbps mb=%lld kbps rtt=%lld ms", w->url, (long long)c.etp,
            (long long)c.mb, (long long)c.rtt);
    return 0;
}

/* Its GETs that no reader's window wants any more (a seek left them
 * behind) are cancelled. */
static void ws_prune(pf_source *s, uint64_t now)
{
    (void)now;
    pf__webseed *w = (pf__webseed *)s;
    pf_torrent *t = s->t;
    uint64_t plen = t->has_meta ? t->mi->piece_length : 1;
    if (t->picker.nwin == 0) return;
    for (uint32_t k = 0; k < w->nruns; k++) {
        pf__ws_run *r = w->runs[k];
        if (r->cancelled || !r->job) continue;
        /* Useful while every remaining block is still missing-and-wanted
         * by some reader's window; otherwise the seek left it behind. */
        int useful = 0;
        for (uint32_t i = 0; i < t->picker.nwin && !useful; i++) {
            uint64_t ws = (uint64_t)t->picker.win[i].start * plen;
            uint64_t we = (uint64_t)t->picker.win[i].end * plen;
            useful = r->cursor < we && r->end > ws;
        }
        if (useful) continue;
        r->cancelled = 1;
        pf_event ev = {.type = PF_EV_JOB_CANCEL, .torrent = t, .job = r->job};
        pf__emit(t->s, &ev);
    }
}

/* The web seed as a source (source.h) ---------------------------------------- */
static int ws_available(const pf_source *s, uint64_t now)
{
    const pf__webseed *w = (const pf__webseed *)s;
    return !w->disabled && w->retry_at <= now;
}

static int ws_ready(const pf_source *s, uint64_t now)
{
    const pf__webseed *w = (const pf__webseed *)s;
    return ws_available(s, now) && w->nruns < PF__WS_MAX_INFLIGHT;
}

static uint32_t ws_inflight(const pf_source *s)
{
    const pf__webseed *w = (const pf__webseed *)s;
    uint32_t n = 0;
    for (uint32_t k = 0; k < w->nruns; k++) n += !w->runs[k]->cancelled;
    return n;
}

/* Its rate from a GET's first byte on, and that GET's time to first byte
 * (a 64 KiB GET's rate is mostly the round trip's); the last whole GET's
 * rate and no latency when that is all there is.  Before any GET of its
 * own was measured (completed, or cut short as late), what the CDN said
 * it expects to give us (CMSD etp) is the rate to plan by; the first
 * measurement replaces it for good.  0: neither. */
static double ws_rate(const pf_source *s, uint64_t now, uint64_t *latency_ns)
{
    (void)now;
    const pf__webseed *w = (const pf__webseed *)s;
    if (latency_ns) *latency_ns = w->xfer_bps > 0 ? w->ttfb_ns : 0;
    if (w->xfer_bps > 0) return w->xfer_bps;
    if (w->run_bps > 0) return w->run_bps;
    return (double)s->cmsd_etp_kbps * 1000 / 8;
}

/* A GET that would bring piece later than deadline_s (at the pace it has
 * shown so far, or not started after that long) is cancelled whole: its
 * blocks go back to the picker for a quicker source, and what it showed
 * is its measured rate from now on. */
static uint32_t ws_cancel_late(pf_source *s, uint32_t piece, double deadline_s, double head_deadline_s, int trial,
                               uint64_t now)
{
    (void)head_deadline_s, (void)trial;
    pf__webseed *w = (pf__webseed *)s;
    pf_torrent *t = s->t;
    uint64_t plen = t->mi->piece_length;
    uint64_t pstart = (uint64_t)piece * plen, pend = pstart + pf_metainfo_piece_size(t->mi, piece);
    uint32_t n = 0;
    for (uint32_t k = 0; k < w->nruns; k++) {
        pf__ws_run *r = w->runs[k];
        if (r->cancelled || !r->job || r->cursor >= pend || r->end <= pstart) continue;
        uint64_t left = (pend < r->end ? pend : r->end) - r->cursor;
        double el = now > r->started ? (double)(now - r->started) / 1e9 : 0;
        double rate = 0, at;
        if (r->first_at && now > r->first_at + PF_NS_PER_SEC / 10) {
            uint64_t got = r->cursor - r->job_cursor;
            rate = got > r->first_len ? (double)(got - r->first_len) / ((double)(now - r->first_at) / 1e9) : 0;
            at = rate > 0 ? (double)left / rate : 1e9;
        } else {
            uint64_t lat = 0;
            double wr = ws_rate(s, now, &lat);
            at = wr > 0 ? (double)lat / 1e9 - el + (double)left / wr : 0;
            if (at < 0) at = 0;
            if (!r->first_at && el > deadline_s) at = 1e9; /* not even a first byte */
        }
        if (at <= deadline_s) continue;
        if (rate > 0) {
            w->xfer_bps = rate;
            w->ttfb_ns = r->first_at - r->started;
        } else if (el > 0) {
            w->xfer_bps = (double)PF_BLOCK_SIZE / el; /* silent that long */
            w->ttfb_ns = r->first_at ? r->first_at - r->started : now - r->started;
        }
        pf__log(t->s, PF_LOG_DEBUG, "cdn: %s late with piece %u (%.2f s > %.2f s): rerouted", w->url, piece, at,
                deadline_s);
        r->cancelled = 1;
        pf_event ev = {.type = PF_EV_JOB_CANCEL, .torrent = t, .job = r->job};
        pf__emit(t->s, &ev);
        n++;
    }
    return n;
}

static void ws_cancel_all(pf_source *s, uint64_t now)
{
    (void)now;
    cancel_runs(s->t, (pf__webseed *)s);
}

/* It sent data that failed its hash (a CDN edge with a corrupt cache, a
 * misconfigured origin): its GETs stop, it is left alone for a while (2 s,
 * doubling), and after PF__WS_MAX_LIES such pieces for good.  A web seed
 * that was not backed off from was asked again at once, 24,033 times in
 * 12 s for an 8 MB read. */
static void ws_misbehaved(pf_source *s, const char *why, uint64_t now)
{
    pf__webseed *w = (pf__webseed *)s;
    pf_torrent *t = s->t;
    w->lies++;
    cancel_runs(t, w);
    if (w->lies >= PF__WS_MAX_LIES) {
        if (!w->disabled)
            pf__log(t->s, PF_LOG_WARN, "web seed %s %s %u times: not used any more", w->url, why, w->lies);
        w->disabled = 1;
        return;
    }
    uint64_t wait = (2ULL << (w->lies - 1)) * PF_NS_PER_SEC;
    if (now + wait > w->retry_at) w->retry_at = now + wait;
    pf__log(t->s, PF_LOG_WARN, "web seed %s %s; not asked for %llu s", w->url, why,
            (unsigned long long)(wait / PF_NS_PER_SEC));
}

static void ws_name(const pf_source *s, char *out, size_t n)
{
    snprintf(out, n, "cdn:%s", ((const pf__webseed *)s)->url);
}

static const pf_source_ops ws_ops = {
    .kind = "webseed",
    .has = NULL, /* every piece */
    .available = ws_available,
    .settling = NULL,
    .present = NULL,
    .ready = ws_ready,
    .pull = NULL,
    .fetch = ws_fetch,
    .cancel_late = ws_cancel_late,
    .cancel_block = NULL,
    .cancel_all = ws_cancel_all,
    .prune = ws_prune,
    .inflight = ws_inflight,
    .rate = ws_rate,
    .misbehaved = ws_misbehaved,
    .notify_fetch = NULL,
    .name = ws_name,
};
