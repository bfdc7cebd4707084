/* What the HLS and DASH readers share: the model's memory, URI
 * resolution inside the title, numbers. */
#include "core/media/manifest.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/util/mem.h"

void pf__mf_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

pf_manifest *pf__mf_new(const pf_mem *mem, pf_manifest_kind kind)
{
    pf_manifest *m = pf__calloc(mem, 1, sizeof *m);
    if (m) m->kind = kind;
    return m;
}

int pf__mf_add_track(const pf_mem *mem, pf_manifest *m, pf_mf_track **out)
{
    if (m->ntracks >= PF_MF_MAX_TRACKS) return PF_ERR_LIMIT;
    pf_mf_track *t = pf__realloc(mem, m->tracks, (m->ntracks + 1) * sizeof *t);
    if (!t) return PF_ERR_NOMEM;
    m->tracks = t;
    memset(&t[m->ntracks], 0, sizeof *t);
    *out = &t[m->ntracks++];
    return 0;
}

int pf__mf_add_seg(const pf_mem *mem, pf_mf_track *t, size_t *cap, const char *path, double start_s,
                   double duration_s, uint64_t off, uint64_t len, size_t line)
{
    if (t->nseg >= PF_MF_MAX_SEGMENTS) return PF_ERR_LIMIT;
    if (t->nseg == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        if (nc > PF_MF_MAX_SEGMENTS) nc = PF_MF_MAX_SEGMENTS;
        pf_mf_segment *s = pf__realloc(mem, t->seg, nc * sizeof *s);
        if (!s) return PF_ERR_NOMEM;
        t->seg = s;
        *cap = nc;
    }
    char *p = pf__strdup(mem, path);
    if (!p) return PF_ERR_NOMEM;
    pf_mf_segment *s = &t->seg[t->nseg++];
    s->path = p;
    s->start_s = start_s;
    s->duration_s = duration_s;
    s->range_off = off;
    s->range_len = len;
    s->line = line;
    t->duration_s += duration_s;
    return 0;
}

void pf__mf_track_clear(const pf_mem *mem, pf_mf_track *t)
{
    for (size_t i = 0; i < t->nseg; i++) pf__free(mem, t->seg[i].path);
    pf__free(mem, t->seg);
    pf__free(mem, t->id);
    pf__free(mem, t->playlist);
    pf__free(mem, t->group);
    pf__free(mem, t->codecs);
    pf__free(mem, t->init);
    memset(t, 0, sizeof *t);
}

void pf_manifest_free(const pf_mem *mem, pf_manifest *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->ntracks; i++) pf__mf_track_clear(mem, &m->tracks[i]);
    pf__free(mem, m->tracks);
    pf__free(mem, m);
}

/* ---- numbers ---- */

int pf__mf_u64(const char *s, size_t n, uint64_t *v)
{
    uint64_t x = 0;
    if (n == 0) return PF_ERR_PARSE;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return PF_ERR_PARSE;
        unsigned d = (unsigned)(s[i] - '0');
        if (x > (UINT64_MAX - d) / 10) return PF_ERR_PARSE;
        x = x * 10 + d;
    }
    *v = x;
    return 0;
}

int pf__mf_decimal(const char *s, size_t n, double *v)
{
    static const double pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
                                   1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18};
    uint64_t mant = 0;
    size_t digits = 0, frac = 0;
    int dot = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.' && !dot) {
            dot = 1;
        } else if (s[i] >= '0' && s[i] <= '9') {
            if (mant == 0 && s[i] == '0' && !dot) continue; /* leading zeros */
            if (++digits > 18) return PF_ERR_PARSE;
            mant = mant * 10 + (uint64_t)(s[i] - '0');
            if (dot) frac++;
        } else {
            return PF_ERR_PARSE;
        }
    }
    /* At least one digit: "." alone, "" are not numbers. */
    if (n == 0 || (n == 1 && dot)) return PF_ERR_PARSE;
    *v = (double)mant / pow10[frac];
    return 0;
}

/* ---- paths ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Appends the segment s[0, n) to out (length *len), applying "." and "..". */
static int push_segment(const char *s, size_t n, char *out, size_t outlen, size_t *len)
{
    if (n == 0 || (n == 1 && s[0] == '.')) return 0;
    if (n == 2 && s[0] == '.' && s[1] == '.') {
        if (*len == 0) return PF_ERR_RANGE; /* above the title's root */
        size_t l = *len - 1;                /* out ends with '/' */
        while (l > 0 && out[l - 1] != '/') l--;
        *len = l;
        out[l] = 0;
        return 0;
    }
    if (*len + n + 2 > outlen) return PF_ERR_LIMIT;
    memcpy(out + *len, s, n);
    *len += n;
    out[(*len)++] = '/';
    out[*len] = 0;
    return 0;
}

/* Splits p[0, n) at '/' and pushes each segment; the last one (after the
 * final '/') too unless skip_last. */
static int push_path(const char *p, size_t n, int skip_last, char *out, size_t outlen, size_t *len)
{
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && p[i] != '/') continue;
        if (i == n && skip_last) break;
        int rc = push_segment(p + start, i - start, out, outlen, len);
        if (rc) return rc;
        start = i + 1;
    }
    return 0;
}

/* Percent-decodes u[0, n) into dec (at most n + 1 bytes). */
static int decode_uri(const char *u, size_t n, char *dec, size_t *dn)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)u[i];
        if (c == '%') {
            int h = i + 2 < n ? hexval(u[i + 1]) : -1, l = i + 2 < n ? hexval(u[i + 2]) : -1;
            if (h < 0 || l < 0) return PF_ERR_PARSE;
            c = (unsigned char)(h * 16 + l);
            i += 2;
        }
        if (c < 0x20 || c == 0x7f) return PF_ERR_PARSE; /* NUL, controls */
        if (c == '\\') return PF_ERR_RANGE;              /* another separator somewhere */
        dec[k++] = (char)c;
    }
    dec[k] = 0;
    *dn = k;
    return 0;
}

int pf__mf_resolve(const char *base, const char *uri, int dir_ok, char *out, size_t outlen)
{
    if (!base || !uri || !out || outlen == 0) return PF_ERR_INVAL;
    out[0] = 0;
    size_t n = strcspn(uri, "?#"); /* query and fragment: not part of a file's name */
    if (n == 0) return PF_ERR_PARSE;
    if (uri[0] == '/') return PF_ERR_RANGE; /* "/abs", "//host/..." */
    size_t seg = strcspn(uri, "/");
    if (memchr(uri, ':', seg < n ? seg : n)) return PF_ERR_RANGE; /* "scheme:..." */
    if (n >= PF_MF_MAX_PATH) return PF_ERR_LIMIT;
    char dec[PF_MF_MAX_PATH];
    size_t dn = 0, len = 0;
    int rc = decode_uri(uri, n, dec, &dn);
    if (rc) return rc;
    if (base[0] == '/' || strchr(base, '\\')) return PF_ERR_RANGE;
    rc = push_path(base, strlen(base), 1, out, outlen, &len);
    if (!rc) rc = push_path(dec, dn, 0, out, outlen, &len);
    if (rc) {
        out[0] = 0;
        return rc;
    }
    /* out is "a/b/" now: a file unless the URI named a folder. */
    int is_dir = dn == 0 || dec[dn - 1] == '/' ||
                 (dn >= 1 && dec[dn - 1] == '.' && (dn == 1 || dec[dn - 2] == '/')) ||
                 (dn >= 2 && dec[dn - 1] == '.' && dec[dn - 2] == '.' && (dn == 2 || dec[dn - 3] == '/'));
    if (is_dir) {
        if (!dir_ok) {
            out[0] = 0;
            return PF_ERR_PARSE;
        }
        return 0; /* "" is the root, "a/" a folder */
    }
    if (len == 0) return PF_ERR_PARSE;
    out[len - 1] = 0; /* drop the trailing '/' */
    return 0;
}

int pf_mf_resolve(const char *base, const char *uri, char *out, size_t outlen)
{
    return pf__mf_resolve(base, uri, 0, out, outlen);
}
