/* Static DASH MPDs (ISO/IEC 23009-1) into tracks and segments: every
 * Representation a track, its segments expanded from SegmentTemplate
 * (SegmentTimeline or @duration), SegmentList, SegmentBase or a BaseURL
 * alone; periods concatenated in time when they carry the same
 * Representations.  The XML comes from core/media/xml.c. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/media/manifest.h"
#include "core/media/xml.h"
#include "core/util/mem.h"

typedef struct dash_ctx {
    const pf_mem *mem;
    pf_xml *x;
    pf_manifest *m;
    char *err;
    size_t errlen;
    int32_t lv[3];                /* the Representation, its AdaptationSet, its Period */
    char base[PF_MF_MAX_PATH];    /* the Representation's base (BaseURLs applied) */
    int base_is_file;             /* a BaseURL named a file (SegmentBase, SegmentList) */
    double pstart, pdur;          /* the period's start and duration (-1: not known) */
    size_t caps[PF_MF_MAX_TRACKS]; /* capacity of each track's segment array */
    size_t total;                 /* segments in all */
    pf_mf_track *t;               /* the track being filled */
    size_t rep_line;              /* the Representation's line (segments' messages) */
    int keep_init;                /* a later period: the track's init stays (checked equal) */
    size_t *cap;
} dash_ctx;

static int dash_err(dash_ctx *c, int32_t node, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int dash_err(dash_ctx *c, int32_t node, int rc, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (node < 0) {
        pf__mf_errf(c->err, c->errlen, "%s", msg);
        return rc;
    }
    const char *id = pf__xml_attr(c->x, node, "id");
    pf__mf_errf(c->err, c->errlen, "line %zu: <%s%s%.40s%s>: %s", pf__xml_line(c->x, c->x->nodes[node].offset),
                pf__xml_local(c->x, node), id ? " id=\"" : "", id ? id : "", id ? "\"" : "", msg);
    return rc;
}

/* ---- values ---- */

/* ISO 8601 duration "PT1H2M3.5S", "P1DT2H" into seconds.  Years and
 * months have no fixed length: PF_ERR_UNSUPPORTED. */
static int iso_duration(const char *s, double *out)
{
    double total = 0;
    int in_time = 0, any = 0;
    if (*s++ != 'P') return PF_ERR_PARSE;
    while (*s) {
        if (*s == 'T' && !in_time) {
            in_time = 1;
            s++;
            continue;
        }
        size_t l = strspn(s, "0123456789.");
        double v;
        if (l == 0 || pf__mf_decimal(s, l, &v) != 0) return PF_ERR_PARSE;
        char u = s[l];
        if (!in_time && (u == 'Y' || u == 'M')) return PF_ERR_UNSUPPORTED;
        if (!in_time && u == 'W') v *= 7 * 86400.0;
        else if (!in_time && u == 'D') v *= 86400.0;
        else if (in_time && u == 'H') v *= 3600.0;
        else if (in_time && u == 'M') v *= 60.0;
        else if (!(in_time && u == 'S')) return PF_ERR_PARSE;
        total += v;
        any = 1;
        s += l + 1;
    }
    if (!any) return PF_ERR_PARSE;
    *out = total;
    return 0;
}

/* An optional unsigned attribute: *v stays def when absent. */
static int attr_u64(dash_ctx *c, int32_t node, const char *name, uint64_t def, uint64_t *v)
{
    const char *s = pf__xml_attr(c->x, node, name);
    *v = def;
    if (!s) return 0;
    if (pf__mf_u64(s, strlen(s), v) != 0) return dash_err(c, node, PF_ERR_PARSE, "bad @%s \"%.40s\"", name, s);
    return 0;
}

static int attr_dur(dash_ctx *c, int32_t node, const char *name, double *v)
{
    const char *s = pf__xml_attr(c->x, node, name);
    if (!s) return 0;
    int rc = iso_duration(s, v);
    if (rc) return dash_err(c, node, rc, "%s @%s \"%.40s\"", rc == PF_ERR_UNSUPPORTED ? "years or months in" : "bad", name, s);
    return 0;
}

/* "a-b" (inclusive) into off, len. */
static int parse_range(const char *s, uint64_t *off, uint64_t *len)
{
    const char *dash = strchr(s, '-');
    uint64_t a, b;
    if (!dash || pf__mf_u64(s, (size_t)(dash - s), &a) != 0 || pf__mf_u64(dash + 1, strlen(dash + 1), &b) != 0 ||
        b < a || b == UINT64_MAX)
        return PF_ERR_PARSE;
    *off = a;
    *len = b - a + 1;
    return 0;
}

/* The child `local` of the nearest of the Representation, its
 * AdaptationSet, its Period that has one; -1 if none does. */
static int32_t nearest(dash_ctx *c, const char *local)
{
    for (int i = 0; i < 3; i++) {
        int32_t e = pf__xml_child(c->x, c->lv[i], local, -1);
        if (e >= 0) return e;
    }
    return -1;
}

/* An attribute of element `local` looked up nearest first (inheritance). */
static const char *inherited(dash_ctx *c, const char *local, const char *name, int32_t *where)
{
    for (int i = 0; i < 3; i++) {
        int32_t e = pf__xml_child(c->x, c->lv[i], local, -1);
        const char *v = pf__xml_attr(c->x, e, name);
        if (v) {
            if (where) *where = e;
            return v;
        }
    }
    return NULL;
}

static int inherited_u64(dash_ctx *c, const char *local, const char *name, uint64_t def, uint64_t *v)
{
    int32_t where = -1;
    const char *s = inherited(c, local, name, &where);
    *v = def;
    if (s && pf__mf_u64(s, strlen(s), v) != 0) return dash_err(c, where, PF_ERR_PARSE, "bad @%s \"%.40s\"", name, s);
    return 0;
}

/* ---- segment names ---- */

/* Expands a SegmentTemplate string: $RepresentationID$, $Bandwidth$,
 * $Number$, $Time$ (with %0Nd), $$. number/time < 0: not allowed here. */
static int expand(dash_ctx *c, int32_t node, const char *tpl, int64_t number, int64_t time, char *out, size_t cap)
{
    size_t o = 0;
    const char *id = pf__xml_attr(c->x, c->lv[0], "id");
    for (const char *s = tpl; *s;) {
        if (*s != '$') {
            if (o + 1 >= cap) return dash_err(c, node, PF_ERR_LIMIT, "segment name too long");
            out[o++] = *s++;
            continue;
        }
        const char *e = strchr(s + 1, '$');
        if (!e) return dash_err(c, node, PF_ERR_PARSE, "unterminated $ in \"%.60s\"", tpl);
        size_t l = (size_t)(e - s - 1);
        const char *fmt = memchr(s + 1, '%', l);
        size_t nl = fmt ? (size_t)(fmt - s - 1) : l;
        unsigned width = 1;
        if (fmt) { /* %0Nd */
            uint64_t w;
            size_t fl = (size_t)(e - fmt);
            if (fl < 3 || fmt[1] != '0' || fmt[fl - 1] != 'd' || pf__mf_u64(fmt + 2, fl - 3, &w) != 0 || w > 32)
                return dash_err(c, node, PF_ERR_PARSE, "bad format in \"%.60s\"", tpl);
            width = w ? (unsigned)w : 1;
        }
        char v[PF_MF_MAX_PATH];
        int n;
        if (l == 0) {
            n = snprintf(v, sizeof v, "$");
        } else if (nl == 16 && memcmp(s + 1, "RepresentationID", 16) == 0 && !fmt) {
            n = snprintf(v, sizeof v, "%s", id ? id : "");
        } else if (nl == 9 && memcmp(s + 1, "Bandwidth", 9) == 0) {
            n = snprintf(v, sizeof v, "%0*llu", (int)width, (unsigned long long)c->t->bandwidth);
        } else if (nl == 6 && memcmp(s + 1, "Number", 6) == 0 && number >= 0) {
            n = snprintf(v, sizeof v, "%0*lld", (int)width, (long long)number);
        } else if (nl == 4 && memcmp(s + 1, "Time", 4) == 0 && time >= 0) {
            n = snprintf(v, sizeof v, "%0*lld", (int)width, (long long)time);
        } else {
            return dash_err(c, node, PF_ERR_PARSE, "unknown or misplaced identifier $%.*s$", (int)(l > 40 ? 40 : l), s + 1);
        }
        if (n < 0 || o + (size_t)n >= cap) return dash_err(c, node, PF_ERR_LIMIT, "segment name too long");
        memcpy(out + o, v, (size_t)n);
        o += (size_t)n;
        s = e + 1;
    }
    out[o] = 0;
    return 0;
}

static int resolve(dash_ctx *c, int32_t node, const char *uri, char *out)
{
    int rc = pf_mf_resolve(c->base, uri, out, PF_MF_MAX_PATH);
    if (rc == PF_ERR_RANGE) return dash_err(c, node, rc, "URL \"%.100s\" points outside the title", uri);
    if (rc) return dash_err(c, node, rc, "bad URL \"%.100s\" (%s)", uri, pf_strerror(rc));
    return 0;
}

static int add_seg(dash_ctx *c, int32_t node, const char *path, double start, double dur, uint64_t off, uint64_t len)
{
    if (c->total >= PF_MF_MAX_SEGMENTS_ALL) return dash_err(c, node, PF_ERR_LIMIT, "more than %d segments in all", PF_MF_MAX_SEGMENTS_ALL);
    if (c->t->nseg && start < c->t->seg[c->t->nseg - 1].start_s)
        return dash_err(c, node, PF_ERR_PARSE, "segments out of presentation order");
    int rc = pf__mf_add_seg(c->mem, c->t, c->cap, path, start, dur, off, len, c->rep_line);
    if (rc == PF_ERR_LIMIT) return dash_err(c, node, rc, "more than %d segments", PF_MF_MAX_SEGMENTS);
    if (rc == 0) c->total++;
    return rc;
}

/* Room for k more segments in this track and in all. */
static int room(dash_ctx *c, int32_t node, uint64_t k)
{
    if (k > PF_MF_MAX_SEGMENTS || c->t->nseg + k > PF_MF_MAX_SEGMENTS)
        return dash_err(c, node, PF_ERR_LIMIT, "more than %d segments", PF_MF_MAX_SEGMENTS);
    if (c->total + k > PF_MF_MAX_SEGMENTS_ALL)
        return dash_err(c, node, PF_ERR_LIMIT, "more than %d segments in all", PF_MF_MAX_SEGMENTS_ALL);
    return 0;
}

/* ---- SegmentTemplate ---- */

typedef struct dash_tpl {
    int32_t node; /* the nearest SegmentTemplate */
    const char *media;
    uint64_t timescale, pto, start_number, duration;
} dash_tpl;

/* One segment of a template: number and time into a name, then the track. */
static int tpl_seg(dash_ctx *c, const dash_tpl *tp, uint64_t number, uint64_t t, uint64_t d)
{
    char name[PF_MF_MAX_PATH], path[PF_MF_MAX_PATH];
    if (number > INT64_MAX || t > INT64_MAX) return dash_err(c, tp->node, PF_ERR_PARSE, "segment number or time too large");
    int rc = expand(c, tp->node, tp->media, (int64_t)number, (int64_t)t, name, sizeof name);
    if (!rc) rc = resolve(c, tp->node, name, path);
    if (rc) return rc;
    double start = c->pstart + ((double)t - (double)tp->pto) / (double)tp->timescale;
    return add_seg(c, tp->node, path, start, (double)d / (double)tp->timescale, 0, 0);
}

/* The period's end in the template's timescale; PF_ERR_PARSE if unknown. */
static int period_end_ts(dash_ctx *c, int32_t node, const dash_tpl *tp, double *end)
{
    if (c->pdur < 0) return dash_err(c, node, PF_ERR_PARSE, "the period's duration is not known (r=-1 or @duration)");
    *end = (double)tp->pto + c->pdur * (double)tp->timescale;
    return 0;
}

/* One <S t d r>: how many segments it stands for. */
static int timeline_count(dash_ctx *c, int32_t s, const dash_tpl *tp, uint64_t t, uint64_t d, uint64_t *count)
{
    const char *r = pf__xml_attr(c->x, s, "r");
    uint64_t rv = 0;
    if (r && strcmp(r, "-1") == 0) { /* up to the next S@t, or the period's end */
        int32_t nx = pf__xml_child(c->x, c->x->nodes[s].parent, "S", s);
        double end = 0;
        uint64_t nt;
        const char *nts = pf__xml_attr(c->x, nx, "t");
        if (nts) {
            if (pf__mf_u64(nts, strlen(nts), &nt) != 0) return dash_err(c, nx, PF_ERR_PARSE, "bad @t");
            end = (double)nt;
        } else {
            int rc = period_end_ts(c, s, tp, &end);
            if (rc) return rc;
        }
        double k = end > (double)t ? (end - (double)t) / (double)d : 0;
        if (k > PF_MF_MAX_SEGMENTS) return room(c, s, (uint64_t)PF_MF_MAX_SEGMENTS + 1);
        *count = (uint64_t)k + ((double)(uint64_t)k < k ? 1 : 0);
        return 0;
    }
    if (r && pf__mf_u64(r, strlen(r), &rv) != 0) return dash_err(c, s, PF_ERR_PARSE, "bad @r \"%.20s\"", r);
    if (rv >= PF_MF_MAX_SEGMENTS) return room(c, s, rv);
    *count = rv + 1;
    return 0;
}

static int tpl_timeline(dash_ctx *c, const dash_tpl *tp, int32_t tl)
{
    uint64_t t = 0, number = tp->start_number;
    int first = 1;
    for (int32_t s = pf__xml_child(c->x, tl, "S", -1); s >= 0; s = pf__xml_child(c->x, tl, "S", s)) {
        uint64_t st, d, count = 0;
        int rc = attr_u64(c, s, "t", first ? 0 : t, &st);
        if (!rc) rc = attr_u64(c, s, "d", 0, &d);
        if (rc) return rc;
        if (d == 0) return dash_err(c, s, PF_ERR_PARSE, "no @d (or 0)");
        if (!first && st < t) return dash_err(c, s, PF_ERR_PARSE, "@t goes back in time");
        t = st;
        first = 0;
        if ((rc = timeline_count(c, s, tp, t, d, &count)) != 0 || (rc = room(c, s, count)) != 0) return rc;
        if (count && (d > (UINT64_MAX - t) / count || number > UINT64_MAX - count))
            return dash_err(c, s, PF_ERR_PARSE, "times overflow");
        for (uint64_t k = 0; k < count; k++, t += d, number++)
            if ((rc = tpl_seg(c, tp, number, t, d)) != 0) return rc;
    }
    if (first) return dash_err(c, tl, PF_ERR_PARSE, "no <S> in it");
    return 0;
}

/* @duration: segments of equal length over the period, the last one cut at its end. */
static int tpl_duration(dash_ctx *c, const dash_tpl *tp)
{
    double end = 0;
    int rc = period_end_ts(c, tp->node, tp, &end);
    if (rc) return rc;
    double span = end - (double)tp->pto, k = span / (double)tp->duration;
    if (k > PF_MF_MAX_SEGMENTS) return room(c, tp->node, (uint64_t)PF_MF_MAX_SEGMENTS + 1);
    uint64_t count = (uint64_t)k + ((double)(uint64_t)k < k ? 1 : 0);
    if ((rc = room(c, tp->node, count)) != 0) return rc;
    if (count && (tp->duration > (UINT64_MAX - tp->pto) / count || tp->start_number > UINT64_MAX - count))
        return dash_err(c, tp->node, PF_ERR_PARSE, "times overflow");
    for (uint64_t i = 0; i < count; i++) {
        uint64_t t = tp->pto + i * tp->duration, d = tp->duration;
        double rem = end - (double)t; /* the last one ends with the period */
        if (rem <= 0) break;
        if (rem < (double)d) d = (uint64_t)rem;
        if (d == 0) break;
        if ((rc = tpl_seg(c, tp, tp->start_number + i, t, d)) != 0) return rc;
    }
    return 0;
}

/* The init segment of a template: @initialization or <Initialization sourceURL>. */
static int tpl_init(dash_ctx *c)
{
    char name[PF_MF_MAX_PATH], path[PF_MF_MAX_PATH];
    int32_t where = -1;
    const char *init = inherited(c, "SegmentTemplate", "initialization", &where);
    if (!init || c->keep_init) return 0;
    int rc = expand(c, where, init, -1, -1, name, sizeof name);
    if (!rc) rc = resolve(c, where, name, path);
    if (rc) return rc;
    c->t->init = pf__strdup(c->mem, path);
    return c->t->init ? 0 : PF_ERR_NOMEM;
}

static int seg_template(dash_ctx *c)
{
    dash_tpl tp = {.node = nearest(c, "SegmentTemplate")};
    int32_t where = tp.node;
    tp.media = inherited(c, "SegmentTemplate", "media", NULL);
    int rc = inherited_u64(c, "SegmentTemplate", "timescale", 1, &tp.timescale);
    if (!rc) rc = inherited_u64(c, "SegmentTemplate", "presentationTimeOffset", 0, &tp.pto);
    if (!rc) rc = inherited_u64(c, "SegmentTemplate", "startNumber", 1, &tp.start_number);
    if (!rc) rc = inherited_u64(c, "SegmentTemplate", "duration", 0, &tp.duration);
    if (rc) return rc;
    if (!tp.media) return dash_err(c, where, PF_ERR_PARSE, "no @media");
    if (tp.timescale == 0) return dash_err(c, where, PF_ERR_PARSE, "@timescale 0");
    if ((rc = tpl_init(c)) != 0) return rc;
    int32_t tl = -1;
    for (int i = 0; i < 3 && tl < 0; i++)
        tl = pf__xml_child(c->x, pf__xml_child(c->x, c->lv[i], "SegmentTemplate", -1), "SegmentTimeline", -1);
    if (tl >= 0) return tpl_timeline(c, &tp, tl);
    if (tp.duration) return tpl_duration(c, &tp);
    return dash_err(c, where, PF_ERR_PARSE, "neither a SegmentTimeline nor @duration");
}

/* ---- SegmentList, SegmentBase, BaseURL alone ---- */

/* <Initialization sourceURL range> of the nearest `local` that has one. */
static int init_elem(dash_ctx *c, const char *local)
{
    int32_t ini = -1;
    for (int i = 0; i < 3 && ini < 0; i++)
        ini = pf__xml_child(c->x, pf__xml_child(c->x, c->lv[i], local, -1), "Initialization", -1);
    if (ini < 0 || c->keep_init) return 0;
    const char *src = pf__xml_attr(c->x, ini, "sourceURL"), *range = pf__xml_attr(c->x, ini, "range");
    char path[PF_MF_MAX_PATH];
    if (src) {
        int rc = resolve(c, ini, src, path);
        if (rc) return rc;
    } else if (c->base_is_file) {
        memcpy(path, c->base, strlen(c->base) + 1);
    } else {
        return dash_err(c, ini, PF_ERR_PARSE, "no @sourceURL and no BaseURL naming a file");
    }
    if (range && parse_range(range, &c->t->init_off, &c->t->init_len) != 0)
        return dash_err(c, ini, PF_ERR_PARSE, "bad @range \"%.40s\"", range);
    c->t->init = pf__strdup(c->mem, path);
    return c->t->init ? 0 : PF_ERR_NOMEM;
}

/* SegmentList durations: @duration or a SegmentTimeline's, in order. */
static int list_durations(dash_ctx *c, int32_t list, size_t nurls, uint64_t ts, uint64_t *d, size_t nd)
{
    uint64_t dur;
    int rc = inherited_u64(c, "SegmentList", "duration", 0, &dur);
    if (rc) return rc;
    int32_t tl = -1;
    for (int i = 0; i < 3 && tl < 0; i++)
        tl = pf__xml_child(c->x, pf__xml_child(c->x, c->lv[i], "SegmentList", -1), "SegmentTimeline", -1);
    size_t k = 0;
    for (int32_t s = pf__xml_child(c->x, tl, "S", -1); s >= 0 && k < nd; s = pf__xml_child(c->x, tl, "S", s)) {
        uint64_t sd, r;
        if ((rc = attr_u64(c, s, "d", 0, &sd)) != 0 || (rc = attr_u64(c, s, "r", 0, &r)) != 0) return rc;
        for (uint64_t j = 0; j <= r && k < nd; j++) d[k++] = sd;
    }
    if (tl >= 0 && k < nurls) return dash_err(c, tl, PF_ERR_PARSE, "fewer durations than SegmentURLs");
    for (; k < nurls; k++) {
        if (dur) d[k] = dur;
        else if (nurls == 1 && c->pdur >= 0 && c->pdur * (double)ts < 1e18) d[k] = (uint64_t)(c->pdur * (double)ts);
        else return dash_err(c, list, PF_ERR_PARSE, "no segment durations (@duration or SegmentTimeline)");
    }
    return 0;
}

static int seg_list(dash_ctx *c)
{
    int32_t list = -1;
    for (int i = 0; i < 3 && list < 0; i++) {
        int32_t l = pf__xml_child(c->x, c->lv[i], "SegmentList", -1);
        if (pf__xml_child(c->x, l, "SegmentURL", -1) >= 0) list = l;
    }
    if (list < 0) return dash_err(c, nearest(c, "SegmentList"), PF_ERR_PARSE, "no SegmentURL");
    uint64_t ts;
    int rc = inherited_u64(c, "SegmentList", "timescale", 1, &ts);
    if (rc) return rc;
    if (ts == 0) return dash_err(c, list, PF_ERR_PARSE, "@timescale 0");
    if ((rc = init_elem(c, "SegmentList")) != 0) return rc;
    size_t nurls = 0;
    for (int32_t u = pf__xml_child(c->x, list, "SegmentURL", -1); u >= 0; u = pf__xml_child(c->x, list, "SegmentURL", u)) nurls++;
    if ((rc = room(c, list, nurls)) != 0) return rc;
    uint64_t *d = pf__calloc(c->mem, nurls, sizeof *d);
    if (!d) return PF_ERR_NOMEM;
    rc = list_durations(c, list, nurls, ts, d, nurls);
    double t = c->pstart;
    size_t k = 0;
    for (int32_t u = pf__xml_child(c->x, list, "SegmentURL", -1); !rc && u >= 0; u = pf__xml_child(c->x, list, "SegmentURL", u), k++) {
        const char *media = pf__xml_attr(c->x, u, "media"), *range = pf__xml_attr(c->x, u, "mediaRange");
        char path[PF_MF_MAX_PATH];
        uint64_t off = 0, len = 0;
        if (media) rc = resolve(c, u, media, path);
        else if (c->base_is_file) memcpy(path, c->base, strlen(c->base) + 1);
        else rc = dash_err(c, u, PF_ERR_PARSE, "no @media and no BaseURL naming a file");
        if (!rc && range && parse_range(range, &off, &len) != 0) rc = dash_err(c, u, PF_ERR_PARSE, "bad @mediaRange");
        if (!rc) rc = add_seg(c, u, path, t, (double)d[k] / (double)ts, off, len);
        t += (double)d[k] / (double)ts;
    }
    pf__free(c->mem, d);
    return rc;
}

/* SegmentBase, or a BaseURL alone: the whole file is one segment over the period. */
static int seg_base(dash_ctx *c)
{
    int32_t sb = nearest(c, "SegmentBase"), node = sb >= 0 ? sb : c->lv[0];
    if (!c->base_is_file) return dash_err(c, node, PF_ERR_PARSE, "no segment information (no SegmentTemplate, SegmentList, or BaseURL naming a file)");
    if (c->pdur < 0) return dash_err(c, node, PF_ERR_PARSE, "one segment for the period, whose duration is not known");
    int rc = init_elem(c, "SegmentBase");
    if (!rc && c->t->init && !c->t->init_len && strcmp(c->t->init, c->base) == 0)
        return dash_err(c, node, PF_ERR_PARSE, "an init segment that is the whole media file");
    if (!rc) rc = room(c, node, 1);
    return rc ? rc : add_seg(c, node, c->base, c->pstart, c->pdur, 0, 0);
}

/* ---- MPD structure ---- */

/* Applies the first BaseURL child of node to c->base. */
static int apply_base(dash_ctx *c, int32_t node)
{
    int32_t b = pf__xml_child(c->x, node, "BaseURL", -1);
    if (b < 0) return 0;
    const char *u = pf__xml_text(c->x, b);
    if (!u) return dash_err(c, b, PF_ERR_PARSE, "empty BaseURL");
    char out[PF_MF_MAX_PATH];
    int rc = pf__mf_resolve(c->base, u, 1, out, sizeof out);
    if (rc == PF_ERR_RANGE) return dash_err(c, b, rc, "BaseURL \"%.100s\" points outside the title (relative BaseURLs only)", u);
    if (rc) return dash_err(c, b, rc, "bad BaseURL \"%.100s\" (%s)", u, pf_strerror(rc));
    size_t l = strlen(out); /* "" is the title's root, "a/" a folder */
    c->base_is_file = l > 0 && out[l - 1] != '/';
    memcpy(c->base, out, l + 1);
    return 0;
}

static char kind_of(const char *content_type, const char *mime)
{
    const char *s = content_type ? content_type : mime;
    if (!s) return 0;
    if (strncmp(s, "video", 5) == 0) return 'v';
    if (strncmp(s, "audio", 5) == 0) return 'a';
    if (strncmp(s, "text", 4) == 0 || strcmp(s, "application/ttml+xml") == 0) return 't';
    return 0;
}

static int dup_opt(const pf_mem *mem, const char *s, char **out)
{
    if (!s) return 0;
    return (*out = pf__strdup(mem, s)) ? 0 : PF_ERR_NOMEM;
}

/* The Representation's own fields (inherited from its AdaptationSet). */
static int rep_fields(dash_ctx *c, pf_mf_track *t)
{
    int32_t rep = c->lv[0], as = c->lv[1];
    const char *id = pf__xml_attr(c->x, rep, "id");
    if (!id || !*id) return dash_err(c, rep, PF_ERR_PARSE, "Representation without @id");
    if (!pf__xml_attr(c->x, rep, "bandwidth")) return dash_err(c, rep, PF_ERR_PARSE, "no @bandwidth");
    uint64_t w, h;
    int rc = attr_u64(c, rep, "bandwidth", 0, &t->bandwidth);
    if (!rc) rc = attr_u64(c, pf__xml_attr(c->x, rep, "width") ? rep : as, "width", 0, &w);
    if (!rc) rc = attr_u64(c, pf__xml_attr(c->x, rep, "height") ? rep : as, "height", 0, &h);
    if (rc) return rc;
    if (w > UINT32_MAX || h > UINT32_MAX) return dash_err(c, rep, PF_ERR_PARSE, "width or height too large");
    t->width = (uint32_t)w;
    t->height = (uint32_t)h;
    const char *codecs = pf__xml_attr(c->x, rep, "codecs");
    const char *mime = pf__xml_attr(c->x, rep, "mimeType");
    t->kind = kind_of(pf__xml_attr(c->x, as, "contentType"), mime ? mime : pf__xml_attr(c->x, as, "mimeType"));
    t->line = pf__xml_line(c->x, c->x->nodes[rep].offset);
    if ((rc = dup_opt(c->mem, id, &t->id)) != 0) return rc;
    if ((rc = dup_opt(c->mem, codecs ? codecs : pf__xml_attr(c->x, as, "codecs"), &t->codecs)) != 0) return rc;
    return dup_opt(c->mem, pf__xml_attr(c->x, as, "id"), &t->group);
}

/* The segments of the Representation in c->lv into c->t. */
static int rep_segments(dash_ctx *c)
{
    if (nearest(c, "SegmentTemplate") >= 0) return seg_template(c);
    if (nearest(c, "SegmentList") >= 0) return seg_list(c);
    return seg_base(c);
}

/* Period k > 0: this Representation continues the track with its id. */
static int rep_continue(dash_ctx *c)
{
    const char *id = pf__xml_attr(c->x, c->lv[0], "id");
    size_t j = 0;
    while (id && j < c->m->ntracks && strcmp(c->m->tracks[j].id, id) != 0) j++;
    if (!id || j == c->m->ntracks)
        return dash_err(c, c->lv[0], PF_ERR_UNSUPPORTED, "a Representation not in the first period: periods differ");
    pf_mf_track tmp = {0}, *t = &c->m->tracks[j];
    tmp.bandwidth = t->bandwidth;
    c->t = &tmp;
    int rc = apply_base(c, c->lv[0]);
    if (!rc) rc = nearest(c, "SegmentTemplate") >= 0 ? tpl_init(c)
                  : init_elem(c, nearest(c, "SegmentList") >= 0 ? "SegmentList" : "SegmentBase");
    int same = (!tmp.init && !t->init) ||
               (tmp.init && t->init && strcmp(tmp.init, t->init) == 0 && tmp.init_off == t->init_off && tmp.init_len == t->init_len);
    pf__free(c->mem, tmp.init);
    if (rc) return rc;
    if (!same) return dash_err(c, c->lv[0], PF_ERR_UNSUPPORTED, "init segment differs from the first period's: periods not concatenated");
    c->t = t;
    c->cap = &c->caps[j];
    c->keep_init = 1;
    rc = rep_segments(c);
    c->keep_init = 0;
    return rc;
}

/* Every Representation of one AdaptationSet. */
static int adaptation_set(dash_ctx *c, int32_t as, int first_period, size_t *seen)
{
    char base_as[PF_MF_MAX_PATH];
    c->lv[1] = as;
    int rc = apply_base(c, as);
    if (rc) return rc;
    memcpy(base_as, c->base, sizeof base_as);
    int file_as = c->base_is_file;
    for (int32_t rep = pf__xml_child(c->x, as, "Representation", -1); rep >= 0;
         rep = pf__xml_child(c->x, as, "Representation", rep)) {
        memcpy(c->base, base_as, sizeof base_as);
        c->base_is_file = file_as;
        c->lv[0] = rep;
        c->rep_line = pf__xml_line(c->x, c->x->nodes[rep].offset);
        (*seen)++;
        if (!first_period) {
            if ((rc = rep_continue(c)) != 0) return rc;
            continue;
        }
        pf_mf_track *t;
        rc = pf__mf_add_track(c->mem, c->m, &t);
        if (rc == PF_ERR_LIMIT) return dash_err(c, rep, rc, "more than %d Representations", PF_MF_MAX_TRACKS);
        if (rc) return rc;
        c->t = t;
        c->cap = &c->caps[c->m->ntracks - 1];
        if ((rc = rep_fields(c, t)) != 0) return rc;
        for (size_t j = 0; j + 1 < c->m->ntracks; j++)
            if (strcmp(c->m->tracks[j].id, t->id) == 0) return dash_err(c, rep, PF_ERR_PARSE, "@id used twice");
        if ((rc = apply_base(c, rep)) != 0 || (rc = rep_segments(c)) != 0) return rc;
    }
    return 0;
}

/* The period's start and duration. */
static int period_times(dash_ctx *c, int32_t per, double prev_end, double mpd_dur)
{
    c->pstart = prev_end;
    c->pdur = -1;
    int rc = attr_dur(c, per, "start", &c->pstart);
    if (!rc) rc = attr_dur(c, per, "duration", &c->pdur);
    if (rc) return rc;
    if (pf__xml_attr(c->x, per, "xlink:href")) return dash_err(c, per, PF_ERR_UNSUPPORTED, "remote (xlink) period");
    if (c->pdur < 0) {
        int32_t nx = pf__xml_child(c->x, 0, "Period", per);
        double ns = -1;
        if (nx >= 0 && (rc = attr_dur(c, nx, "start", &ns)) != 0) return rc;
        if (nx >= 0 && ns >= c->pstart) c->pdur = ns - c->pstart;
        else if (nx < 0 && mpd_dur >= 0 && mpd_dur >= c->pstart) c->pdur = mpd_dur - c->pstart;
    }
    return 0;
}

static int periods(dash_ctx *c, const char *path, double mpd_dur)
{
    double end = 0;
    size_t np = 0;
    for (int32_t per = pf__xml_child(c->x, 0, "Period", -1); per >= 0; per = pf__xml_child(c->x, 0, "Period", per), np++) {
        char base_p[PF_MF_MAX_PATH];
        c->lv[2] = per;
        c->lv[1] = c->lv[0] = -1;
        memcpy(c->base, path, strlen(path) + 1);
        c->base_is_file = 0;
        int rc = apply_base(c, 0);
        if (!rc) rc = apply_base(c, per);
        if (!rc) rc = period_times(c, per, end, mpd_dur);
        if (rc) return rc;
        if (np > 0 && c->pstart < end - 1e-3)
            return dash_err(c, per, PF_ERR_UNSUPPORTED, "starts before the previous period ends: periods overlap");
        memcpy(base_p, c->base, sizeof base_p);
        int file_p = c->base_is_file;
        size_t seen = 0;
        for (int32_t as = pf__xml_child(c->x, per, "AdaptationSet", -1); as >= 0; as = pf__xml_child(c->x, per, "AdaptationSet", as)) {
            memcpy(c->base, base_p, sizeof base_p);
            c->base_is_file = file_p;
            if ((rc = adaptation_set(c, as, np == 0, &seen)) != 0) return rc;
        }
        if (np > 0 && seen != c->m->ntracks)
            return dash_err(c, per, PF_ERR_UNSUPPORTED, "%zu Representations where the first period has %zu: periods not concatenated", seen, c->m->ntracks);
        double longest = 0;
        for (size_t j = 0; j < c->m->ntracks; j++) {
            const pf_mf_track *t = &c->m->tracks[j];
            if (t->nseg) {
                double e = t->seg[t->nseg - 1].start_s + t->seg[t->nseg - 1].duration_s - c->pstart;
                if (e > longest) longest = e;
            }
        }
        end = c->pstart + (c->pdur >= 0 ? c->pdur : longest);
    }
    if (np == 0) return dash_err(c, 0, PF_ERR_PARSE, "no Period");
    if (c->m->ntracks == 0) return dash_err(c, 0, PF_ERR_PARSE, "no Representation");
    for (size_t j = 0; j < c->m->ntracks; j++)
        if (c->m->tracks[j].nseg == 0)
            return dash_err(c, -1, PF_ERR_PARSE, "Representation \"%.40s\" has no segments", c->m->tracks[j].id);
    c->m->duration_s = mpd_dur >= 0 ? mpd_dur : end;
    return 0;
}

int pf_dash_parse(const pf_mem *mem, const char *path, const uint8_t *text, size_t n, pf_manifest **out,
                  char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    if (!out || !path || (!text && n)) return PF_ERR_INVAL;
    *out = NULL;
    if (strlen(path) >= PF_MF_MAX_PATH) return PF_ERR_LIMIT;
    dash_ctx *c = pf__calloc(mem, 1, sizeof *c);
    if (!c) return PF_ERR_NOMEM;
    c->mem = mem;
    c->err = err;
    c->errlen = errlen;
    int rc = pf__xml_parse(mem, text, n, &c->x, err, errlen);
    if (!rc && strcmp(pf__xml_local(c->x, 0), "MPD") != 0) rc = dash_err(c, 0, PF_ERR_PARSE, "the root element is not MPD");
    const char *type = rc ? NULL : pf__xml_attr(c->x, 0, "type");
    if (type && strcmp(type, "static") != 0)
        rc = dash_err(c, 0, PF_ERR_UNSUPPORTED, "type=\"%.20s\": only static (on-demand) MPDs are read", type);
    double mpd_dur = -1;
    if (!rc) rc = attr_dur(c, 0, "mediaPresentationDuration", &mpd_dur);
    if (!rc && !(c->m = pf__mf_new(mem, PF_MF_DASH))) rc = PF_ERR_NOMEM;
    if (!rc) rc = periods(c, path, mpd_dur);
    if (rc == PF_ERR_NOMEM) pf__mf_errf(err, errlen, "out of memory");
    if (rc) pf_manifest_free(mem, c->m);
    else *out = c->m;
    pf__xml_free(mem, c->x);
    pf__free(mem, c);
    return rc;
}
