/* HLS playlists (RFC 8216): master playlists into tracks, media playlists
 * into segments.  Line by line, bounded; tags we do not need are skipped
 * (RFC 8216 section 4.1: clients ignore unknown tags). */
#include <stdio.h>
#include <string.h>

#include "core/media/manifest.h"
#include "core/util/mem.h"

typedef struct hls_reader {
    const char *text;
    size_t n, pos, lineno;
    char *err;
    size_t errlen;
} hls_reader;

/* The next line (without its "\r\n"/"\n") in *line, *len; 0 at the end. */
static int next_line(hls_reader *r, const char **line, size_t *len, int *rc)
{
    if (r->pos >= r->n) return 0;
    const char *s = r->text + r->pos;
    const char *nl = memchr(s, '\n', r->n - r->pos);
    size_t l = nl ? (size_t)(nl - s) : r->n - r->pos;
    r->pos += l + (nl ? 1 : 0);
    r->lineno++;
    if (l > PF_MF_MAX_LINE) {
        pf__mf_errf(r->err, r->errlen, "line %zu: longer than %u bytes", r->lineno, PF_MF_MAX_LINE);
        *rc = PF_ERR_LIMIT;
        return 0;
    }
    if (l > 0 && s[l - 1] == '\r') l--;
    if (memchr(s, 0, l)) {
        pf__mf_errf(r->err, r->errlen, "line %zu: NUL byte", r->lineno);
        *rc = PF_ERR_PARSE;
        return 0;
    }
    *line = s;
    *len = l;
    return 1;
}

static int is_tag(const char *line, size_t len, const char *tag)
{
    size_t t = strlen(tag);
    return len >= t && memcmp(line, tag, t) == 0;
}

/* ---- attribute lists (section 4.2) ---- */

typedef struct hls_attr {
    const char *name, *val;
    size_t nlen, vlen;
    int quoted;
} hls_attr;

#define HLS_MAX_ATTRS 64

/* Splits "NAME=VALUE,NAME="quoted",..." into a[]; *na of them. */
static int parse_attrs(const char *s, size_t n, hls_attr *a, size_t *na)
{
    size_t i = 0, k = 0;
    while (i < n) {
        if (k >= HLS_MAX_ATTRS) return PF_ERR_LIMIT;
        hls_attr *at = &a[k];
        at->name = s + i;
        while (i < n && ((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-')) i++;
        at->nlen = (size_t)(s + i - at->name);
        if (at->nlen == 0 || i >= n || s[i] != '=') return PF_ERR_PARSE;
        i++;
        at->quoted = i < n && s[i] == '"';
        if (at->quoted) {
            const char *q = memchr(s + i + 1, '"', n - i - 1);
            if (!q) return PF_ERR_PARSE;
            at->val = s + i + 1;
            at->vlen = (size_t)(q - at->val);
            i = (size_t)(q - s) + 1;
        } else {
            at->val = s + i;
            while (i < n && s[i] != ',') i++;
            at->vlen = (size_t)(s + i - at->val);
            if (at->vlen == 0 || memchr(at->val, '"', at->vlen)) return PF_ERR_PARSE;
        }
        k++;
        if (i < n) {
            if (s[i] != ',' || i + 1 == n) return PF_ERR_PARSE;
            i++;
        }
    }
    *na = k;
    return 0;
}

static const hls_attr *find_attr(const hls_attr *a, size_t na, const char *name)
{
    size_t l = strlen(name);
    for (size_t i = 0; i < na; i++)
        if (a[i].nlen == l && memcmp(a[i].name, name, l) == 0) return &a[i];
    return NULL;
}

static int attr_is(const hls_attr *a, const char *v)
{
    return a && a->vlen == strlen(v) && memcmp(a->val, v, a->vlen) == 0;
}

/* The tag's attribute list after "TAG:", or an error naming the line. */
static int tag_attrs(hls_reader *r, const char *line, size_t len, size_t taglen, hls_attr *a, size_t *na)
{
    if (len <= taglen || line[taglen] != ':') {
        pf__mf_errf(r->err, r->errlen, "line %zu: %.*s without attributes", r->lineno, (int)taglen, line);
        return PF_ERR_PARSE;
    }
    int rc = parse_attrs(line + taglen + 1, len - taglen - 1, a, na);
    if (rc)
        pf__mf_errf(r->err, r->errlen, "line %zu: %s attribute list in %.*s", r->lineno,
                    rc == PF_ERR_LIMIT ? "too long an" : "malformed", (int)taglen, line);
    return rc;
}

/* EXT-X-KEY / EXT-X-SESSION-KEY: only METHOD=NONE. */
static int check_key(hls_reader *r, const char *line, size_t len, size_t taglen)
{
    hls_attr a[HLS_MAX_ATTRS];
    size_t na = 0;
    int rc = tag_attrs(r, line, len, taglen, a, &na);
    if (rc) return rc;
    const hls_attr *m = find_attr(a, na, "METHOD");
    if (!m) {
        pf__mf_errf(r->err, r->errlen, "line %zu: %.*s without METHOD", r->lineno, (int)taglen, line);
        return PF_ERR_PARSE;
    }
    if (!attr_is(m, "NONE")) {
        pf__mf_errf(r->err, r->errlen, "line %zu: encrypted (METHOD=%.*s): not supported", r->lineno,
                    (int)(m->vlen > 32 ? 32 : m->vlen), m->val);
        return PF_ERR_UNSUPPORTED;
    }
    return 0;
}

/* Resolves a URI of the line against base into out, with the error. */
static int resolve_at(hls_reader *r, const char *base, const char *uri, size_t ulen, char *out)
{
    char u[PF_MF_MAX_PATH];
    int rc = PF_ERR_LIMIT;
    if (ulen < sizeof u) {
        memcpy(u, uri, ulen);
        u[ulen] = 0;
        rc = pf_mf_resolve(base, u, out, PF_MF_MAX_PATH);
    }
    if (rc == PF_ERR_RANGE)
        pf__mf_errf(r->err, r->errlen, "line %zu: URI \"%.*s\" points outside the title", r->lineno,
                    (int)(ulen > 200 ? 200 : ulen), uri);
    else if (rc)
        pf__mf_errf(r->err, r->errlen, "line %zu: bad URI \"%.*s\" (%s)", r->lineno,
                    (int)(ulen > 200 ? 200 : ulen), uri, pf_strerror(rc));
    return rc;
}

/* "#EXTM3U" first (after an optional UTF-8 byte order mark). */
static int check_header(hls_reader *r)
{
    if (r->n > PF_MF_MAX_TEXT) {
        pf__mf_errf(r->err, r->errlen, "playlist larger than %u bytes", PF_MF_MAX_TEXT);
        return PF_ERR_LIMIT;
    }
    if (r->n >= 3 && memcmp(r->text, "\xEF\xBB\xBF", 3) == 0) r->pos = 3;
    const char *line;
    size_t len;
    int rc = 0;
    if (!next_line(r, &line, &len, &rc)) {
        if (!rc) pf__mf_errf(r->err, r->errlen, "empty playlist");
        return rc ? rc : PF_ERR_PARSE;
    }
    while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t')) len--;
    if (len != 7 || memcmp(line, "#EXTM3U", 7) != 0) {
        pf__mf_errf(r->err, r->errlen, "line 1: not an HLS playlist (no #EXTM3U)");
        return PF_ERR_PARSE;
    }
    return 0;
}

/* ---- media playlists ---- */

typedef struct hls_media {
    pf_mf_track t; /* built here, moved into the caller's track at the end */
    size_t cap;
    double pending_dur; /* from EXTINF, for the next URI */
    int have_inf, have_range, have_target, endlist;
    uint64_t range_off, range_len;
    uint64_t next_off; /* where the last byte range ended (for "len" without "@off") */
    char last_uri[PF_MF_MAX_PATH];
    double t_now;
} hls_media;

/* "len" or "len@off" into len and off; has_off says whether "@off" was there. */
static int parse_byterange(const char *s, size_t n, uint64_t *len, uint64_t *off, int *has_off)
{
    const char *at = memchr(s, '@', n);
    size_t ln = at ? (size_t)(at - s) : n;
    if (pf__mf_u64(s, ln, len) != 0 || *len == 0) return PF_ERR_PARSE;
    *has_off = at != NULL;
    *off = 0;
    if (at && pf__mf_u64(at + 1, n - ln - 1, off) != 0) return PF_ERR_PARSE;
    if (*off > UINT64_MAX - *len) return PF_ERR_PARSE;
    return 0;
}

/* EXT-X-MAP (URI, BYTERANGE "len@off"): the init segment; one per playlist. */
static int media_map(hls_reader *r, hls_media *h, const char *base, const char *line, size_t len,
                     const pf_mem *mem)
{
    hls_attr a[HLS_MAX_ATTRS];
    size_t na = 0;
    int rc = tag_attrs(r, line, len, 10, a, &na);
    if (rc) return rc;
    const hls_attr *u = find_attr(a, na, "URI"), *br = find_attr(a, na, "BYTERANGE");
    if (!u || !u->quoted) {
        pf__mf_errf(r->err, r->errlen, "line %zu: EXT-X-MAP without a quoted URI", r->lineno);
        return PF_ERR_PARSE;
    }
    uint64_t off = 0, blen = 0;
    int has_off = 0;
    if (br && (!br->quoted || parse_byterange(br->val, br->vlen, &blen, &off, &has_off) != 0)) {
        pf__mf_errf(r->err, r->errlen, "line %zu: bad EXT-X-MAP BYTERANGE", r->lineno);
        return PF_ERR_PARSE;
    }
    char path[PF_MF_MAX_PATH];
    if ((rc = resolve_at(r, base, u->val, u->vlen, path)) != 0) return rc;
    if (h->t.init) {
        if (strcmp(h->t.init, path) == 0 && h->t.init_off == off && h->t.init_len == blen) return 0;
        pf__mf_errf(r->err, r->errlen, "line %zu: a second, different EXT-X-MAP: not supported", r->lineno);
        return PF_ERR_UNSUPPORTED;
    }
    if (!(h->t.init = pf__strdup(mem, path))) return PF_ERR_NOMEM;
    h->t.init_off = off;
    h->t.init_len = blen;
    return 0;
}

static int media_extinf(hls_reader *r, hls_media *h, const char *line, size_t len)
{
    const char *v = line + 8, *comma = memchr(v, ',', len - 8);
    size_t vn = comma ? (size_t)(comma - v) : len - 8;
    while (vn > 0 && v[vn - 1] == ' ') vn--;
    if (h->have_inf) {
        pf__mf_errf(r->err, r->errlen, "line %zu: EXTINF follows an EXTINF without a URI", r->lineno);
        return PF_ERR_PARSE;
    }
    if (pf__mf_decimal(v, vn, &h->pending_dur) != 0) {
        pf__mf_errf(r->err, r->errlen, "line %zu: bad EXTINF duration \"%.*s\"", r->lineno,
                    (int)(vn > 40 ? 40 : vn), v);
        return PF_ERR_PARSE;
    }
    h->have_inf = 1;
    return 0;
}

static int media_byterange(hls_reader *r, hls_media *h, const char *line, size_t len)
{
    int has_off = 0;
    if (parse_byterange(line + 17, len - 17, &h->range_len, &h->range_off, &has_off) != 0) {
        pf__mf_errf(r->err, r->errlen, "line %zu: bad EXT-X-BYTERANGE", r->lineno);
        return PF_ERR_PARSE;
    }
    h->have_range = has_off ? 1 : 2; /* 2: starts where the last range ended */
    return 0;
}

/* A URI line: the segment EXTINF announced. */
static int media_uri(hls_reader *r, hls_media *h, const char *base, const char *line, size_t len,
                     const pf_mem *mem)
{
    if (!h->have_inf) {
        pf__mf_errf(r->err, r->errlen, "line %zu: segment URI without EXTINF", r->lineno);
        return PF_ERR_PARSE;
    }
    char path[PF_MF_MAX_PATH];
    int rc = resolve_at(r, base, line, len, path);
    if (rc) return rc;
    uint64_t off = 0, blen = 0;
    if (h->have_range) {
        off = h->range_off;
        blen = h->range_len;
        if (h->have_range == 2) {
            if (h->next_off == 0 || strcmp(h->last_uri, path) != 0) {
                pf__mf_errf(r->err, r->errlen,
                            "line %zu: EXT-X-BYTERANGE without an offset, not after a range of the same file",
                            r->lineno);
                return PF_ERR_PARSE;
            }
            off = h->next_off;
            if (off > UINT64_MAX - blen) return PF_ERR_PARSE;
        }
        h->next_off = off + blen;
    } else {
        h->next_off = 0;
    }
    rc = pf__mf_add_seg(mem, &h->t, &h->cap, path, h->t_now, h->pending_dur, off, blen, r->lineno);
    if (rc == PF_ERR_LIMIT)
        pf__mf_errf(r->err, r->errlen, "line %zu: more than %d segments", r->lineno, PF_MF_MAX_SEGMENTS);
    if (rc) return rc;
    memcpy(h->last_uri, path, strlen(path) + 1);
    h->t_now += h->pending_dur;
    h->have_inf = 0;
    h->have_range = 0;
    return 0;
}

/* One line of a media playlist. */
static int media_line(hls_reader *r, hls_media *h, const char *base, const char *line, size_t len,
                      const pf_mem *mem)
{
    if (len == 0) return 0;
    if (line[0] != '#') return media_uri(r, h, base, line, len, mem);
    if (is_tag(line, len, "#EXTINF:")) return media_extinf(r, h, line, len);
    if (is_tag(line, len, "#EXT-X-BYTERANGE:")) return media_byterange(r, h, line, len);
    if (is_tag(line, len, "#EXT-X-MAP")) return media_map(r, h, base, line, len, mem);
    if (is_tag(line, len, "#EXT-X-KEY")) return check_key(r, line, len, 10);
    if (is_tag(line, len, "#EXT-X-ENDLIST")) {
        h->endlist = 1;
        return 0;
    }
    if (is_tag(line, len, "#EXT-X-TARGETDURATION:")) {
        uint64_t v;
        if (pf__mf_u64(line + 22, len - 22, &v) != 0) {
            pf__mf_errf(r->err, r->errlen, "line %zu: bad EXT-X-TARGETDURATION", r->lineno);
            return PF_ERR_PARSE;
        }
        h->have_target = 1;
        return 0;
    }
    if (is_tag(line, len, "#EXT-X-STREAM-INF") || is_tag(line, len, "#EXT-X-MEDIA:")) {
        pf__mf_errf(r->err, r->errlen, "line %zu: master playlist tag in a media playlist", r->lineno);
        return PF_ERR_PARSE;
    }
    return 0; /* other tags and comments */
}

/* After the last line: what the playlist must have had. */
static int media_finish(hls_reader *r, hls_media *h)
{
    if (h->have_inf) {
        pf__mf_errf(r->err, r->errlen, "line %zu: EXTINF without a segment URI at the end", r->lineno);
        return PF_ERR_PARSE;
    }
    if (!h->endlist) {
        pf__mf_errf(r->err, r->errlen, "live playlist (no EXT-X-ENDLIST): not supported");
        return PF_ERR_UNSUPPORTED;
    }
    if (!h->have_target) {
        pf__mf_errf(r->err, r->errlen, "no EXT-X-TARGETDURATION");
        return PF_ERR_PARSE;
    }
    if (h->t.nseg == 0) {
        pf__mf_errf(r->err, r->errlen, "no segments");
        return PF_ERR_PARSE;
    }
    return 0;
}

int pf_hls_parse_media(const pf_mem *mem, pf_mf_track *track, const uint8_t *text, size_t n,
                       char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    if (!track || !track->playlist || (!text && n)) {
        pf__mf_errf(err, errlen, "no playlist");
        return PF_ERR_INVAL;
    }
    hls_reader r = {.text = (const char *)text, .n = n, .err = err, .errlen = errlen};
    hls_media *h = pf__calloc(mem, 1, sizeof *h);
    if (!h) return PF_ERR_NOMEM;
    int rc = check_header(&r);
    const char *line;
    size_t len;
    while (!rc && next_line(&r, &line, &len, &rc)) rc = media_line(&r, h, track->playlist, line, len, mem);
    if (!rc) rc = media_finish(&r, h);
    if (rc == PF_ERR_NOMEM) pf__mf_errf(err, errlen, "out of memory");
    if (rc) {
        pf__mf_track_clear(mem, &h->t);
        pf__free(mem, h);
        return rc;
    }
    for (size_t i = 0; i < track->nseg; i++) pf__free(mem, track->seg[i].path);
    pf__free(mem, track->seg);
    pf__free(mem, track->init);
    track->seg = h->t.seg;
    track->nseg = h->t.nseg;
    track->init = h->t.init;
    track->init_off = h->t.init_off;
    track->init_len = h->t.init_len;
    track->duration_s = h->t.duration_s;
    pf__free(mem, h);
    return 0;
}

/* ---- master playlists ---- */

/* 'v', 'a' or 0 from a CODECS list ("avc1.64001f,mp4a.40.2"). */
static char codecs_kind(const char *c)
{
    static const char *const video[] = {"avc1", "avc3", "hvc1", "hev1", "vp09", "vp08", "av01",
                                        "dvh1", "dvhe", "mp4v", "vp8", "vp9"};
    static const char *const audio[] = {"mp4a", "ac-3", "ec-3", "ac-4", "opus", "Opus", "fLaC", "flac", "mp3"};
    int any_audio = 0, other = 0;
    while (*c) {
        size_t l = strcspn(c, ",");
        size_t k = strcspn(c, ".,");
        int hit = 0;
        for (size_t i = 0; i < sizeof video / sizeof *video; i++)
            if (k == strlen(video[i]) && memcmp(c, video[i], k) == 0) return 'v';
        for (size_t i = 0; i < sizeof audio / sizeof *audio; i++)
            if (k == strlen(audio[i]) && memcmp(c, audio[i], k) == 0) hit = 1;
        if (hit) any_audio = 1;
        else other = 1;
        c += l;
        while (*c == ',' || *c == ' ') c++;
    }
    return any_audio && !other ? 'a' : 0;
}

static int dup_attr(const pf_mem *mem, const hls_attr *a, char **out)
{
    if (!a) return 0;
    char *s = pf__strndup(mem, a->val, a->vlen);
    if (!s) return PF_ERR_NOMEM;
    *out = s;
    return 0;
}

/* A new track for playlist path, unless one has it already (*t NULL then). */
static int master_track(hls_reader *r, pf_manifest *m, const char *path, const pf_mem *mem, pf_mf_track **t)
{
    *t = NULL;
    for (size_t i = 0; i < m->ntracks; i++)
        if (strcmp(m->tracks[i].playlist, path) == 0) return 0;
    int rc = pf__mf_add_track(mem, m, t);
    if (rc == PF_ERR_LIMIT) pf__mf_errf(r->err, r->errlen, "line %zu: more than %d tracks", r->lineno, PF_MF_MAX_TRACKS);
    if (rc) return rc;
    (*t)->line = r->lineno;
    (*t)->id = pf__strdup(mem, path);
    (*t)->playlist = pf__strdup(mem, path);
    return (*t)->id && (*t)->playlist ? 0 : PF_ERR_NOMEM;
}

/* EXT-X-MEDIA with a URI: a rendition of its own (audio, subtitles, video). */
static int master_media(hls_reader *r, pf_manifest *m, const char *base, const char *line, size_t len,
                        const pf_mem *mem)
{
    hls_attr a[HLS_MAX_ATTRS];
    size_t na = 0;
    int rc = tag_attrs(r, line, len, 12, a, &na);
    if (rc) return rc;
    const hls_attr *type = find_attr(a, na, "TYPE"), *uri = find_attr(a, na, "URI");
    const hls_attr *gid = find_attr(a, na, "GROUP-ID");
    if (!type || !gid) {
        pf__mf_errf(r->err, r->errlen, "line %zu: EXT-X-MEDIA without TYPE or GROUP-ID", r->lineno);
        return PF_ERR_PARSE;
    }
    if (!uri) return 0; /* in the variant's own stream (or closed captions) */
    char kind = attr_is(type, "AUDIO") ? 'a' : attr_is(type, "SUBTITLES") ? 't' : attr_is(type, "VIDEO") ? 'v' : 0;
    if (!kind || !uri->quoted) {
        pf__mf_errf(r->err, r->errlen, "line %zu: EXT-X-MEDIA with a bad TYPE or URI", r->lineno);
        return PF_ERR_PARSE;
    }
    char path[PF_MF_MAX_PATH];
    pf_mf_track *t;
    if ((rc = resolve_at(r, base, uri->val, uri->vlen, path)) != 0) return rc;
    if ((rc = master_track(r, m, path, mem, &t)) != 0 || !t) return rc;
    t->kind = kind;
    return dup_attr(mem, gid, &t->group);
}

/* EXT-X-STREAM-INF's attributes onto the variant's track. */
static int master_variant(hls_reader *r, pf_mf_track *t, const hls_attr *a, size_t na, const pf_mem *mem)
{
    const hls_attr *bw = find_attr(a, na, "BANDWIDTH"), *res = find_attr(a, na, "RESOLUTION");
    const hls_attr *codecs = find_attr(a, na, "CODECS");
    if (pf__mf_u64(bw->val, bw->vlen, &t->bandwidth) != 0) {
        pf__mf_errf(r->err, r->errlen, "line %zu: bad BANDWIDTH", r->lineno);
        return PF_ERR_PARSE;
    }
    if (res) {
        const char *x = memchr(res->val, 'x', res->vlen);
        uint64_t w = 0, h = 0;
        if (!x || pf__mf_u64(res->val, (size_t)(x - res->val), &w) != 0 ||
            pf__mf_u64(x + 1, res->vlen - (size_t)(x - res->val) - 1, &h) != 0 || w > UINT32_MAX ||
            h > UINT32_MAX) {
            pf__mf_errf(r->err, r->errlen, "line %zu: bad RESOLUTION", r->lineno);
            return PF_ERR_PARSE;
        }
        t->width = (uint32_t)w;
        t->height = (uint32_t)h;
    }
    int rc = dup_attr(mem, codecs, &t->codecs);
    if (!rc) rc = dup_attr(mem, find_attr(a, na, "AUDIO"), &t->group);
    if (rc) return rc;
    t->kind = res ? 'v' : t->codecs ? codecs_kind(t->codecs) : 0;
    return 0;
}

typedef struct hls_master {
    char inf[PF_MF_MAX_LINE + 1]; /* the pending EXT-X-STREAM-INF line */
    size_t inf_len, inf_line;
} hls_master;

static int master_uri(hls_reader *r, pf_manifest *m, hls_master *hm, const char *base, const char *line,
                      size_t len, const pf_mem *mem)
{
    if (!hm->inf_line) {
        pf__mf_errf(r->err, r->errlen, "line %zu: URI without EXT-X-STREAM-INF in a master playlist", r->lineno);
        return PF_ERR_PARSE;
    }
    hls_attr a[HLS_MAX_ATTRS];
    size_t na = 0;
    char path[PF_MF_MAX_PATH];
    pf_mf_track *t;
    size_t uri_line = r->lineno;
    r->lineno = hm->inf_line; /* errors in the attributes name the tag's line */
    int rc = tag_attrs(r, hm->inf, hm->inf_len, 17, a, &na);
    if (!rc && !find_attr(a, na, "BANDWIDTH")) {
        pf__mf_errf(r->err, r->errlen, "line %zu: EXT-X-STREAM-INF without BANDWIDTH", r->lineno);
        rc = PF_ERR_PARSE;
    }
    r->lineno = uri_line;
    hm->inf_line = 0;
    if (rc || (rc = resolve_at(r, base, line, len, path)) != 0) return rc;
    if ((rc = master_track(r, m, path, mem, &t)) != 0 || !t) return rc;
    t->line = uri_line;
    return master_variant(r, t, a, na, mem);
}

static int master_line(hls_reader *r, pf_manifest *m, hls_master *hm, const char *base, const char *line,
                       size_t len, const pf_mem *mem)
{
    if (len == 0) return 0;
    if (line[0] != '#') return master_uri(r, m, hm, base, line, len, mem);
    if (is_tag(line, len, "#EXT-X-STREAM-INF")) {
        if (hm->inf_line) {
            pf__mf_errf(r->err, r->errlen, "line %zu: EXT-X-STREAM-INF without a URI", hm->inf_line);
            return PF_ERR_PARSE;
        }
        memcpy(hm->inf, line, len);
        hm->inf_len = len;
        hm->inf_line = r->lineno;
        return 0;
    }
    if (is_tag(line, len, "#EXT-X-MEDIA:")) return master_media(r, m, base, line, len, mem);
    if (is_tag(line, len, "#EXT-X-SESSION-KEY")) return check_key(r, line, len, 18);
    if (is_tag(line, len, "#EXT-X-KEY")) return check_key(r, line, len, 10);
    return 0;
}

/* 1 master, 2 media, 0 neither; both: an error. */
static int playlist_kind(hls_reader *r)
{
    size_t master = 0, media = 0;
    hls_reader s = *r;
    const char *line;
    size_t len;
    int rc = 0;
    while (next_line(&s, &line, &len, &rc)) {
        if (!master && (is_tag(line, len, "#EXT-X-STREAM-INF") || is_tag(line, len, "#EXT-X-MEDIA:")))
            master = s.lineno;
        if (!media && (is_tag(line, len, "#EXTINF") || is_tag(line, len, "#EXT-X-TARGETDURATION")))
            media = s.lineno;
    }
    if (rc) return rc;
    if (master && media) {
        pf__mf_errf(r->err, r->errlen, "line %zu: media playlist tag in a master playlist (line %zu)", media, master);
        return PF_ERR_PARSE;
    }
    if (!master && !media) {
        pf__mf_errf(r->err, r->errlen, "neither EXT-X-STREAM-INF nor EXTINF: no stream in this playlist");
        return PF_ERR_PARSE;
    }
    return master ? 1 : 2;
}

static int master_parse(hls_reader *r, pf_manifest *m, const char *path, const pf_mem *mem)
{
    hls_master *hm = pf__calloc(mem, 1, sizeof *hm);
    if (!hm) return PF_ERR_NOMEM;
    const char *line;
    size_t len;
    int rc = 0;
    while (!rc && next_line(r, &line, &len, &rc)) rc = master_line(r, m, hm, path, line, len, mem);
    if (!rc && hm->inf_line) {
        pf__mf_errf(r->err, r->errlen, "line %zu: EXT-X-STREAM-INF without a URI", hm->inf_line);
        rc = PF_ERR_PARSE;
    }
    if (!rc && m->ntracks == 0) {
        pf__mf_errf(r->err, r->errlen, "no stream in this master playlist");
        rc = PF_ERR_PARSE;
    }
    pf__free(mem, hm);
    return rc;
}

int pf_hls_parse(const pf_mem *mem, const char *path, const uint8_t *text, size_t n, pf_manifest **out,
                 char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    if (!out || !path || (!text && n)) return PF_ERR_INVAL;
    *out = NULL;
    hls_reader r = {.text = (const char *)text, .n = n, .err = err, .errlen = errlen};
    int rc = check_header(&r);
    int kind = rc ? rc : playlist_kind(&r);
    if (kind < 0) return kind;
    pf_manifest *m = pf__mf_new(mem, kind == 1 ? PF_MF_HLS_MASTER : PF_MF_HLS_MEDIA);
    if (!m) return PF_ERR_NOMEM;
    if (kind == 1) {
        rc = master_parse(&r, m, path, mem);
    } else {
        pf_mf_track *t;
        rc = pf__mf_add_track(mem, m, &t);
        if (!rc) {
            t->line = 1;
            t->id = pf__strdup(mem, path);
            t->playlist = pf__strdup(mem, path);
            rc = t->id && t->playlist ? pf_hls_parse_media(mem, t, text, n, err, errlen) : PF_ERR_NOMEM;
            m->duration_s = t->duration_s;
        }
    }
    if (rc == PF_ERR_NOMEM) pf__mf_errf(err, errlen, "out of memory");
    if (rc) {
        pf_manifest_free(mem, m);
        return rc;
    }
    *out = m;
    return 0;
}
