/* Media container probe (MP4/MOV, Matroska/WebM).  See media_probe.h.
 *
 * All reads go through a two-window source that copies bytes by absolute
 * file offset and refuses any range not wholly covered by the prefix, the
 * suffix, or the two together when they touch.  Offsets are uint64_t and
 * every addition is checked against the parent's end first. */
#include "core/codec/media_probe.h"

#include <math.h>
#include <string.h>

#include "peerflow/peerflow.h"

#define END_UNKNOWN UINT64_MAX

typedef struct src {
    const uint8_t *pre;
    uint64_t pre_len;
    const uint8_t *suf;
    uint64_t suf_off, suf_len;
    uint64_t end; /* file size, or END_UNKNOWN */
    unsigned budget;
    uint64_t need_off, need_len;
} src;

/* ---- the two-window source ---------------------------------------- */

static int src_covered(const src *s, uint64_t off, uint64_t n)
{
    if (n == 0) return 1;
    if (off > UINT64_MAX - n) return 0;
    uint64_t e = off + n;
    if (e <= s->pre_len) return 1;
    if (s->suf_len == 0) return 0;
    uint64_t se = s->suf_off + s->suf_len; /* checked at entry */
    if (off >= s->suf_off && e <= se) return 1;
    /* Prefix and suffix touch or overlap: one contiguous run [0, se). */
    return s->suf_off <= s->pre_len && e <= se;
}

/* Copies n bytes at off; 0 if any of them is not in the windows. */
static int src_read(const src *s, uint64_t off, uint8_t *dst, size_t n)
{
    if (!src_covered(s, off, n)) return 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t o = off + i;
        dst[i] = o < s->pre_len ? s->pre[o] : s->suf[o - s->suf_off];
    }
    return 1;
}

/* Bytes available contiguously from off (0 if none). */
static uint64_t src_run(const src *s, uint64_t off)
{
    uint64_t se = s->suf_len ? s->suf_off + s->suf_len : 0;
    if (off < s->pre_len) {
        if (s->suf_len && s->suf_off <= s->pre_len && se > s->pre_len) return se - off;
        return s->pre_len - off;
    }
    if (s->suf_len && off >= s->suf_off && off < se) return se - off;
    return 0;
}

static int src_tick(src *s)
{
    if (s->budget == 0) return PF_ERR_LIMIT;
    s->budget--;
    return 0;
}

/* Asks for [off, off+len), clamped to the file. */
static int src_need(src *s, uint64_t off, uint64_t len)
{
    if (s->end != END_UNKNOWN && len > s->end - off) len = s->end - off;
    s->need_off = off;
    s->need_len = len;
    return PF_ERR_EAGAIN;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static uint64_t be_n(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

#define FOURCC(a, b, c, d) \
    ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

/* ---- MP4 / ISO BMFF --------------------------------------------------- */

typedef struct box {
    uint32_t type;
    uint64_t off, hdr, size; /* size includes the header */
    int to_end;              /* size field was 0 */
} box;

/* Reads the box header at off inside [.., parent_end).  Returns 0,
 * PF_ERR_EAGAIN (header bytes not in the windows) or PF_ERR_PARSE. */
static int mp4_box(src *s, uint64_t off, uint64_t parent_end, box *b)
{
    uint8_t h[16];
    int rc = src_tick(s);
    if (rc) return rc;
    if (parent_end - off < 8) return PF_ERR_PARSE;
    if (!src_read(s, off, h, 8)) return PF_ERR_EAGAIN;
    uint32_t sz = be32(h);
    b->type = be32(h + 4);
    b->off = off;
    b->to_end = 0;
    if (sz == 1) {
        if (parent_end - off < 16) return PF_ERR_PARSE;
        if (!src_read(s, off, h, 16)) return PF_ERR_EAGAIN;
        b->hdr = 16;
        b->size = be64(h + 8);
        if (b->size < 16) return PF_ERR_PARSE;
    } else if (sz == 0) {
        b->hdr = 8;
        b->size = parent_end - off; /* meaningless if parent_end unknown */
        b->to_end = 1;
    } else if (sz < 8) {
        return PF_ERR_PARSE;
    } else {
        b->hdr = 8;
        b->size = sz;
    }
    if (b->size > parent_end - off) return PF_ERR_PARSE;
    return 0;
}

/* Timescale and duration of an mvhd or mdhd box (same leading layout). */
static int mp4_hd(src *s, const box *b, uint32_t *timescale, uint64_t *duration)
{
    uint8_t p[32];
    uint64_t body = b->size - b->hdr;
    if (body < 4) return PF_ERR_PARSE;
    if (!src_read(s, b->off + b->hdr, p, 4)) return PF_ERR_PARSE;
    if (p[0] == 1) {
        if (body < 4 + 28) return PF_ERR_PARSE;
        if (!src_read(s, b->off + b->hdr + 4, p, 28)) return PF_ERR_PARSE;
        *timescale = be32(p + 16);
        *duration = be64(p + 20);
    } else if (p[0] == 0) {
        if (body < 4 + 16) return PF_ERR_PARSE;
        if (!src_read(s, b->off + b->hdr + 4, p, 16)) return PF_ERR_PARSE;
        *timescale = be32(p + 8);
        *duration = be32(p + 12);
        if (*duration == UINT32_MAX) *duration = UINT64_MAX; /* unknown */
    } else {
        return PF_ERR_PARSE;
    }
    return 0;
}

static double mp4_seconds(uint32_t timescale, uint64_t duration)
{
    if (timescale == 0 || duration == 0 || duration == UINT64_MAX) return 0;
    return (double)duration / (double)timescale;
}

typedef struct mp4_ctx {
    uint32_t mv_timescale;
    uint64_t mv_duration;
    uint64_t mehd_duration;
    double longest_track;
} mp4_ctx;

/* Walks the children of [a, b), which is wholly in the windows. */
static int mp4_walk(src *s, uint64_t a, uint64_t b, uint32_t parent, mp4_ctx *c)
{
    uint64_t off = a;
    while (off < b) {
        box x;
        /* Fewer than 8 bytes left: QuickTime's 32-bit zero terminator or
         * padding; nothing more to find in this container. */
        if (b - off < 8) break;
        int rc = mp4_box(s, off, b, &x);
        if (rc == PF_ERR_EAGAIN) rc = PF_ERR_PARSE; /* cannot happen */
        if (rc) return rc;
        uint64_t body = x.off + x.hdr;
        if (parent == FOURCC('m', 'o', 'o', 'v') && x.type == FOURCC('m', 'v', 'h', 'd')) {
            rc = mp4_hd(s, &x, &c->mv_timescale, &c->mv_duration);
        } else if (parent == FOURCC('m', 'o', 'o', 'v') &&
                   (x.type == FOURCC('t', 'r', 'a', 'k') || x.type == FOURCC('m', 'v', 'e', 'x'))) {
            rc = mp4_walk(s, body, x.off + x.size, x.type, c);
        } else if (parent == FOURCC('t', 'r', 'a', 'k') && x.type == FOURCC('m', 'd', 'i', 'a')) {
            rc = mp4_walk(s, body, x.off + x.size, x.type, c);
        } else if (parent == FOURCC('m', 'd', 'i', 'a') && x.type == FOURCC('m', 'd', 'h', 'd')) {
            uint32_t ts = 0;
            uint64_t d = 0;
            rc = mp4_hd(s, &x, &ts, &d);
            double sec = mp4_seconds(ts, d);
            if (rc == 0 && sec > c->longest_track) c->longest_track = sec;
        } else if (parent == FOURCC('m', 'v', 'e', 'x') && x.type == FOURCC('m', 'e', 'h', 'd')) {
            uint8_t p[12];
            uint64_t n = x.size - x.hdr;
            if (n >= 12 && src_read(s, body, p, 12) && p[0] == 1)
                c->mehd_duration = be64(p + 4);
            else if (n >= 8 && src_read(s, body, p, 8) && p[0] == 0)
                c->mehd_duration = be32(p + 4);
            else
                rc = PF_ERR_PARSE;
        }
        if (rc) return rc;
        off = x.off + x.size;
    }
    return 0;
}

static int mp4_probe(src *s, pf_media_info *info)
{
    uint64_t off = 0;
    for (;;) {
        if (off == s->end) return PF_ERR_PARSE; /* no moov */
        box b;
        int rc = mp4_box(s, off, s->end, &b);
        if (rc == PF_ERR_EAGAIN) {
            uint64_t want = PF_MEDIA_PROBE_CHUNK;
            if (s->end != END_UNKNOWN && off > 0 && s->end - off <= PF_MEDIA_PROBE_TAIL_MAX)
                want = s->end - off; /* the tail after mdat: likely the moov */
            return src_need(s, off, want);
        }
        if (rc) return rc;
        if (b.to_end && s->end == END_UNKNOWN) {
            /* Runs to an end we do not know: only usable if it is the moov,
             * taken as far as the windows reach. */
            if (b.type != FOURCC('m', 'o', 'o', 'v')) return PF_ERR_PARSE;
            b.size = src_run(s, off);
        }
        if (b.type == FOURCC('m', 'o', 'o', 'v')) {
            info->moov_offset = b.off;
            info->moov_size = b.size;
            if (!src_covered(s, b.off, b.size)) return src_need(s, b.off, b.size);
            mp4_ctx c = {0, 0, 0, 0};
            rc = mp4_walk(s, b.off + b.hdr, b.off + b.size, b.type, &c);
            if (rc) return rc;
            double d = mp4_seconds(c.mv_timescale, c.mv_duration);
            if (d <= 0) d = mp4_seconds(c.mv_timescale, c.mehd_duration);
            if (d <= 0) d = c.longest_track;
            info->duration_s = isfinite(d) && d > 0 ? d : 0;
            return 0;
        }
        off += b.size; /* size >= 8: progress; <= end - off: no overflow */
    }
}

static int mp4_sniff(const uint8_t *p)
{
    static const uint32_t first[] = {
        FOURCC('f', 't', 'y', 'p'), FOURCC('s', 't', 'y', 'p'), FOURCC('m', 'o', 'o', 'v'),
        FOURCC('m', 'd', 'a', 't'), FOURCC('f', 'r', 'e', 'e'), FOURCC('s', 'k', 'i', 'p'),
        FOURCC('w', 'i', 'd', 'e'), FOURCC('p', 'n', 'o', 't'),
    };
    uint32_t sz = be32(p), type = be32(p + 4);
    if (sz >= 2 && sz < 8) return 0;
    for (size_t i = 0; i < sizeof first / sizeof first[0]; i++)
        if (type == first[i]) return 1;
    return 0;
}

/* ---- Matroska / WebM (EBML) ------------------------------------------ */

#define EBML_ID_HEADER 0x1A45DFA3u
#define EBML_ID_DOCTYPE 0x4282u
#define MKV_ID_SEGMENT 0x18538067u
#define MKV_ID_SEEKHEAD 0x114D9B74u
#define MKV_ID_SEEK 0x4DBBu
#define MKV_ID_SEEKID 0x53ABu
#define MKV_ID_SEEKPOS 0x53ACu
#define MKV_ID_INFO 0x1549A966u
#define MKV_ID_TIMESCALE 0x2AD7B1u
#define MKV_ID_DURATION 0x4489u

typedef struct elem {
    uint32_t id;
    uint64_t off, data, size; /* data = first byte after the header */
    int unknown;              /* size was all ones */
} elem;

/* One EBML variable-length integer at off, below limit.  For an ID the
 * length marker is kept and at most 4 bytes are allowed. */
static int ebml_vint(src *s, uint64_t off, uint64_t limit, int is_id, uint64_t *val, unsigned *len,
                     int *unknown)
{
    uint8_t p[8];
    if (off >= limit) return PF_ERR_PARSE;
    if (!src_read(s, off, p, 1)) return PF_ERR_EAGAIN;
    if (p[0] == 0) return PF_ERR_PARSE; /* length over 8 */
    unsigned n = 1;
    while (!(p[0] & (0x80u >> (n - 1)))) n++;
    if (is_id && n > 4) return PF_ERR_PARSE;
    if (limit - off < n) return PF_ERR_PARSE;
    if (!src_read(s, off, p, n)) return PF_ERR_EAGAIN;
    uint64_t v = be_n(p, n);
    *len = n;
    if (is_id) {
        *val = v;
        return 0;
    }
    uint64_t data_bits = (n == 8) ? UINT64_MAX >> 8 : (((uint64_t)1 << (7 * n)) - 1);
    v &= data_bits;
    *unknown = v == data_bits;
    *val = v;
    return 0;
}

/* The element header at off inside [.., limit); its size is not checked
 * against the limit. */
static int ebml_elem_hdr(src *s, uint64_t off, uint64_t limit, elem *e)
{
    uint64_t id, size;
    unsigned idlen, szlen;
    int unknown = 0;
    int rc = src_tick(s);
    if (rc) return rc;
    rc = ebml_vint(s, off, limit, 1, &id, &idlen, &unknown);
    if (rc) return rc;
    rc = ebml_vint(s, off + idlen, limit, 0, &size, &szlen, &unknown);
    if (rc) return rc;
    e->id = (uint32_t)id;
    e->off = off;
    e->data = off + idlen + szlen;
    e->unknown = unknown;
    e->size = unknown ? 0 : size;
    return 0;
}

/* The same, and a known size must fit in the limit. */
static int ebml_elem(src *s, uint64_t off, uint64_t limit, elem *e)
{
    int rc = ebml_elem_hdr(s, off, limit, e);
    if (rc == 0 && !e->unknown && e->size > limit - e->data) return PF_ERR_PARSE;
    return rc;
}

/* EBML header: DocType must be matroska or webm (the default is
 * matroska). */
static int mkv_header(src *s, uint64_t *next)
{
    elem h;
    int rc = ebml_elem(s, 0, s->end, &h);
    if (rc == PF_ERR_EAGAIN) return src_need(s, 0, PF_MEDIA_PROBE_CHUNK);
    if (rc) return rc;
    if (h.id != EBML_ID_HEADER || h.unknown) return PF_ERR_PARSE;
    uint64_t end = h.data + h.size;
    if (!src_covered(s, 0, end)) return src_need(s, 0, end);
    int ok = 1; /* DocType absent: matroska */
    for (uint64_t off = h.data; off < end;) {
        elem c;
        rc = ebml_elem(s, off, end, &c);
        if (rc == PF_ERR_EAGAIN) rc = PF_ERR_PARSE;
        if (rc) return rc;
        if (c.unknown) return PF_ERR_PARSE;
        if (c.id == EBML_ID_DOCTYPE) {
            char t[16];
            size_t n = (size_t)(c.size < sizeof t ? c.size : sizeof t);
            if (!src_read(s, c.data, (uint8_t *)t, n)) return PF_ERR_PARSE;
            while (n > 0 && t[n - 1] == '\0') n--; /* strings may be padded */
            ok = c.size < sizeof t && ((n == 8 && memcmp(t, "matroska", 8) == 0) ||
                                       (n == 4 && memcmp(t, "webm", 4) == 0));
        }
        off = c.data + c.size;
    }
    if (!ok) return PF_ERR_UNSUPPORTED;
    *next = end;
    return 0;
}

static int ebml_uint(src *s, const elem *e, uint64_t *v)
{
    uint8_t p[8];
    if (e->size > 8) return PF_ERR_PARSE;
    if (!src_read(s, e->data, p, (size_t)e->size)) return PF_ERR_PARSE;
    *v = be_n(p, (size_t)e->size);
    return 0;
}

/* Info: TimestampScale and Duration, the element wholly in the windows. */
static int mkv_info(src *s, const elem *info, pf_media_info *out)
{
    uint64_t scale = 1000000, end = info->data + info->size;
    double dur = 0;
    for (uint64_t off = info->data; off < end;) {
        elem c;
        int rc = ebml_elem(s, off, end, &c);
        if (rc == PF_ERR_EAGAIN) rc = PF_ERR_PARSE;
        if (rc) return rc;
        if (c.unknown) return PF_ERR_PARSE;
        if (c.id == MKV_ID_TIMESCALE) {
            if (c.size == 0) {
                scale = 1000000; /* empty element: the default */
            } else {
                rc = ebml_uint(s, &c, &scale);
                if (rc) return rc;
                if (scale == 0) return PF_ERR_PARSE;
            }
        } else if (c.id == MKV_ID_DURATION) {
            uint8_t p[8];
            if (c.size != 0 && c.size != 4 && c.size != 8) return PF_ERR_PARSE;
            if (!src_read(s, c.data, p, (size_t)c.size)) return PF_ERR_PARSE;
            if (c.size == 4) {
                uint32_t u = be32(p);
                float f;
                memcpy(&f, &u, sizeof f);
                dur = f;
            } else if (c.size == 8) {
                uint64_t u = be64(p);
                memcpy(&dur, &u, sizeof dur);
            }
            if (!isfinite(dur) || dur < 0) return PF_ERR_PARSE;
        }
        off = c.data + c.size;
    }
    double sec = dur * (double)scale / 1e9;
    if (!isfinite(sec)) return PF_ERR_PARSE;
    out->duration_s = sec > 0 ? sec : 0;
    return 0;
}

/* SeekHead: the position of Info, relative to the Segment's data. */
static int mkv_seekhead(src *s, const elem *sh, uint64_t *info_pos)
{
    uint64_t end = sh->data + sh->size;
    for (uint64_t off = sh->data; off < end;) {
        elem seek;
        int rc = ebml_elem(s, off, end, &seek);
        if (rc == PF_ERR_EAGAIN) rc = PF_ERR_PARSE;
        if (rc) return rc;
        if (seek.unknown) return PF_ERR_PARSE;
        if (seek.id == MKV_ID_SEEK) {
            uint64_t id = 0, pos = UINT64_MAX, send = seek.data + seek.size;
            for (uint64_t o = seek.data; o < send;) {
                elem c;
                rc = ebml_elem(s, o, send, &c);
                if (rc == PF_ERR_EAGAIN) rc = PF_ERR_PARSE;
                if (rc) return rc;
                if (c.unknown) return PF_ERR_PARSE;
                if (c.id == MKV_ID_SEEKID || c.id == MKV_ID_SEEKPOS) {
                    uint64_t v;
                    rc = ebml_uint(s, &c, &v);
                    if (rc) return rc;
                    if (c.id == MKV_ID_SEEKID) id = v;
                    else pos = v;
                }
                o = c.data + c.size;
            }
            if (id == MKV_ID_INFO && pos != UINT64_MAX && *info_pos == UINT64_MAX) *info_pos = pos;
        }
        off = seek.data + seek.size;
    }
    return 0;
}

/* Reads Info at off (inside the segment) if the windows hold it. */
static int mkv_info_at(src *s, uint64_t off, uint64_t seg_end, pf_media_info *info)
{
    elem e;
    int rc = ebml_elem(s, off, seg_end, &e);
    if (rc == PF_ERR_EAGAIN) return src_need(s, off, PF_MEDIA_PROBE_CHUNK);
    if (rc) return rc;
    if (e.id != MKV_ID_INFO || e.unknown) return PF_ERR_PARSE;
    if (!src_covered(s, e.off, e.data + e.size - e.off))
        return src_need(s, e.off, e.data + e.size - e.off);
    return mkv_info(s, &e, info);
}

static int mkv_probe(src *s, pf_media_info *info)
{
    uint64_t off;
    int rc = mkv_header(s, &off);
    if (rc) return rc;
    /* Top level: skip to the Segment. */
    elem seg;
    for (;;) {
        /* No end limit here: a Segment longer than the file (a truncated
         * recording) is clamped to the file below, not rejected. */
        rc = ebml_elem_hdr(s, off, s->end, &seg);
        if (rc == PF_ERR_EAGAIN) return src_need(s, off, PF_MEDIA_PROBE_CHUNK);
        if (rc) return rc;
        if (seg.id == MKV_ID_SEGMENT) break;
        if (seg.unknown || seg.size > s->end - seg.data) return PF_ERR_PARSE;
        off = seg.data + seg.size;
        if (off == s->end) return PF_ERR_PARSE; /* no Segment */
    }
    uint64_t seg_end = seg.data + seg.size;
    if (seg.unknown || seg.size > s->end - seg.data) seg_end = s->end;
    uint64_t info_pos = UINT64_MAX; /* from SeekHead, segment-relative */
    off = seg.data;
    while (off < seg_end) {
        elem e;
        rc = ebml_elem(s, off, seg_end, &e);
        if (rc == PF_ERR_EAGAIN) {
            /* Out of bytes before Info: jump by the SeekHead if it points
             * ahead, else ask for more from here. */
            if (info_pos != UINT64_MAX && info_pos < seg_end - seg.data &&
                seg.data + info_pos > off)
                return mkv_info_at(s, seg.data + info_pos, seg_end, info);
            return src_need(s, off, PF_MEDIA_PROBE_CHUNK);
        }
        if (rc) return rc;
        if (e.unknown) {
            /* Unknown size (a live Cluster, say): its end is where a
             * sibling begins, so walk straight into its children; none of
             * them can be mistaken for Info. */
            if (e.id == MKV_ID_INFO) return PF_ERR_PARSE;
            off = e.data;
            continue;
        }
        uint64_t len = e.data + e.size - e.off;
        if (e.id == MKV_ID_INFO) {
            if (!src_covered(s, e.off, len)) return src_need(s, e.off, len);
            return mkv_info(s, &e, info);
        }
        if (e.id == MKV_ID_SEEKHEAD && src_covered(s, e.off, len)) {
            rc = mkv_seekhead(s, &e, &info_pos);
            if (rc) return rc;
        }
        off = e.data + e.size;
    }
    return PF_ERR_PARSE; /* Info is mandatory */
}

/* ---- entry point ------------------------------------------------------ */

int pf_media_probe(const uint8_t *prefix, size_t prefix_len, const uint8_t *suffix,
                   size_t suffix_len, uint64_t suffix_offset, uint64_t file_size,
                   pf_media_info *info, uint64_t *need_offset, uint64_t *need_len)
{
    if (!info || (!prefix && prefix_len) || (!suffix && suffix_len)) return PF_ERR_INVAL;
    memset(info, 0, sizeof *info);
    src s = {prefix, prefix_len, suffix, suffix_offset, suffix_len,
             file_size ? file_size : END_UNKNOWN, PF_MEDIA_PROBE_MAX_ITEMS, 0, 0};
    if (suffix_len == 0) s.suf_off = 0;
    if (s.suf_off > UINT64_MAX - s.suf_len) return PF_ERR_INVAL;
    if (file_size && (prefix_len > file_size || s.suf_off + s.suf_len > file_size))
        return PF_ERR_INVAL;

    uint8_t h[8];
    uint64_t have = src_run(&s, 0);
    if (have > 8) have = 8;
    src_read(&s, 0, h, (size_t)have);
    static const uint8_t ebml_magic[4] = {0x1A, 0x45, 0xDF, 0xA3};
    int rc;
    if (have >= 4 && memcmp(h, ebml_magic, 4) == 0) {
        info->container = PF_CONTAINER_MKV;
        rc = mkv_probe(&s, info);
    } else if (have >= 8) {
        if (!mp4_sniff(h)) return PF_ERR_UNSUPPORTED;
        info->container = PF_CONTAINER_MP4;
        rc = mp4_probe(&s, info);
    } else {
        /* Too short to tell: a 4-byte EBML magic or an 8-byte MP4 box
         * header may still come, if the file is long enough. */
        int could_mkv = have < 4 && memcmp(h, ebml_magic, (size_t)have) == 0 && s.end >= 4;
        int could_mp4 = s.end >= 8;
        if (!could_mkv && !could_mp4) return PF_ERR_UNSUPPORTED;
        rc = src_need(&s, 0, PF_MEDIA_PROBE_CHUNK);
    }
    if (rc == PF_ERR_EAGAIN) {
        if (need_offset) *need_offset = s.need_off;
        if (need_len) *need_len = s.need_len;
    } else if (rc != 0) {
        info->duration_s = 0;
    }
    return rc;
}

double pf_media_bytes_per_s(const pf_media_info *info, uint64_t file_size)
{
    if (!info || !(info->duration_s > 0)) return 0;
    return (double)file_size / info->duration_s;
}
