/* The local media server's sans-I/O logic (core/media_http): routes, Range
 * plans, Host checks, content types, and the m3u / HTML / JSON / Prometheus
 * bodies.  Every decision is compared with an independent reference and
 * every body is parsed back by a strict checker for its format.
 *
 * Input: a 16-byte header, then NUL-separated fields
 *     path \0 range \0 host \0 name \0 source \0 file0 \0 file1 ...
 * header[0]    bit 0 If-Range sent, bit 1 no Range header,
 *              bits 2-4 number of files (0..7), bits 5-7 torrent state
 * header[1..8] file size for the Range plan (little-endian)
 * header[9..15] seed for the numbers (stats, QoE, file sizes, indexes)
 * The whole input is also used raw as a path, Range and Host value, so
 * bytes a NUL would split still reach the length-based functions.
 *
 * There used to be a PF_FUZZ_MEDIA_STRICT build for three known
 * deviations; all are fixed and always checked now: /metrics label values
 * are UTF-8 (invalid bytes become U+FFFD), "cdn_share" lies in [0, 1]
 * (summed as doubles), and a Range whose positions are both past 2^64 with
 * last < first is invalid and ignored (200) like any other invalid range,
 * not 416 (positions are compared as exact decimals).  Paths are checked
 * against an independent pf_media_path_safe reference too. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/buf.h"
#include "core/codec/http_parse.h"
#include "core/media/media_http.h"
#include "fuzz_util.h"

/* --- small helpers ------------------------------------------------------- */

typedef struct slice {
    const uint8_t *p;
    size_t len;
} slice;

/* An exact-size heap copy (no NUL), so ASan sees any read past len. */
static char *dup_exact(const uint8_t *p, size_t n)
{
    char *d = malloc(n ? n : 1);
    if (!d) abort();
    if (n) memcpy(d, p, n);
    return d;
}

/* A NUL-terminated copy. */
static char *dup_z(const uint8_t *p, size_t n)
{
    char *d = malloc(n + 1);
    if (!d) abort();
    if (n) memcpy(d, p, n);
    d[n] = 0;
    return d;
}

static int buf_eq(const pf_buf *b, const pf_buf *e)
{
    return b->len == e->len && (b->len == 0 || memcmp(b->data, e->data, b->len) == 0);
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_double(uint64_t *s)
{
    uint64_t r = rng_next(s);
    switch (r & 15) {
    case 0: return NAN;
    case 1: return INFINITY;
    case 2: return -INFINITY;
    case 3: return -1.0;
    case 4: return -0.0;
    case 5: return 0.0;
    case 6: return DBL_MAX;
    case 7: return 4.9406564584124654e-324;
    case 8: return 1e20;
    case 9: return 0.1;
    case 10: return (double)(r >> 4);
    default: {
        uint64_t bits = rng_next(s);
        double d;
        memcpy(&d, &bits, sizeof d);
        return d;
    }
    }
}

static uint64_t rng_u64(uint64_t *s)
{
    uint64_t r = rng_next(s);
    switch (r & 7) {
    case 0: return 0;
    case 1: return UINT64_MAX;
    case 2: return 1;
    case 3: return r >> 40;
    default: return rng_next(s);
    }
}

static uint32_t rng_u32(uint64_t *s) { return (uint32_t)rng_u64(s); }

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
 * Returns the sequence length at p (1..4) or 0. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    if (c < 0x80) return 1;
    size_t need;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) need = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) need = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) need = 4, cp = c & 0x07;
    else return 0;
    if (n < need) return 0;
    for (size_t i = 1; i < need; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (need == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) return 0;
    if (need == 4 && (cp < 0x10000 || cp > 0x10ffff)) return 0;
    return need;
}

static int utf8_valid(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(p + i, n - i);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

static int is_unreserved(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

/* Reference percent-encoding (RFC 3986 unreserved kept, uppercase hex). */
static void ref_pct(pf_buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        uint8_t c = (uint8_t)*s;
        if (is_unreserved(c)) {
            FZ_CHECK(pf_buf_append_u8(out, c) == 0);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            FZ_CHECK(pf_buf_append(out, e, 3) == 0);
        }
    }
}

static const char *ref_basename(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* --- reference decisions ------------------------------------------------- */

static int ref_route(const char *p, size_t n, uint32_t *idx)
{
#define EQ(lit) (n == sizeof lit - 1 && memcmp(p, lit, n) == 0)
    if (EQ("/") || EQ("/index.html")) return PF_MEDIA_ROUTE_INDEX;
    if (EQ("/playlist.m3u")) return PF_MEDIA_ROUTE_PLAYLIST;
    if (EQ("/stats.json")) return PF_MEDIA_ROUTE_STATS;
    if (EQ("/metrics")) return PF_MEDIA_ROUTE_METRICS;
    if (EQ("/control")) return PF_MEDIA_ROUTE_CONTROL;
#undef EQ
    if (n > 3 && memcmp(p, "/t/", 3) == 0) return PF_MEDIA_ROUTE_PATH;
    static const char *pre[] = {"/files/", "/stream/"};
    for (int k = 0; k < 2; k++) {
        size_t pl = strlen(pre[k]);
        if (n < pl || memcmp(p, pre[k], pl) != 0) continue;
        size_t d = 0;
        uint64_t v = 0;
        while (pl + d < n && p[pl + d] >= '0' && p[pl + d] <= '9') v = v * 10 + (uint64_t)(p[pl + d++] - '0');
        if (d < 1 || d > 9) continue;
        if (pl + d < n && p[pl + d] != '/') continue;
        *idx = (uint32_t)v;
        return PF_MEDIA_ROUTE_FILE;
    }
    return PF_MEDIA_ROUTE_NONE;
}

/* Path safety, written differently from the engine: decode the whole
 * path first (a bad escape is unsafe), remembering which bytes were
 * escaped, then look at the '/'-separated segments. */
static int ref_path_safe(const char *p, size_t n)
{
    if (n == 0 || p[0] != '/') return 0;
    unsigned char *d = malloc(n);
    unsigned char *esc = malloc(n);
    if (!d || !esc) abort();
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        esc[m] = 0;
        if (c == '%') {
            unsigned v = 0;
            for (int k = 1; k <= 2; k++) {
                char h = i + (size_t)k < n ? p[i + (size_t)k] : 'x';
                if (h >= '0' && h <= '9') v = v * 16 + (unsigned)(h - '0');
                else if (h >= 'a' && h <= 'f') v = v * 16 + (unsigned)(h - 'a' + 10);
                else if (h >= 'A' && h <= 'F') v = v * 16 + (unsigned)(h - 'A' + 10);
                else {
                    free(d);
                    free(esc);
                    return 0;
                }
            }
            c = (unsigned char)v;
            esc[m] = 1;
            i += 2;
        }
        d[m++] = c;
    }
    int ok = 1;
    size_t start = 1;
    for (size_t i = 1; ok && i <= m; i++) {
        if (i < m && !(d[i] == '/' && !esc[i])) {
            if (d[i] == 0 || d[i] == '\\' || d[i] == '/') ok = 0;
            continue;
        }
        size_t len = i - start;
        int last = i == m;
        if (len == 0 && !last) ok = 0;
        if ((len == 1 && d[start] == '.') || (len == 2 && d[start] == '.' && d[start + 1] == '.'))
            ok = 0;
        start = i + 1;
    }
    free(d);
    free(esc);
    return ok;
}

static int ows(char c) { return c == ' ' || c == '\t'; }

/* Decimal digits p[0..n) (n >= 1, all digits): value, *big when over
 * UINT64_MAX. */
static uint64_t dec_value(const char *p, size_t n, int *big)
{
    uint64_t v = 0;
    *big = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10) *big = 1;
        v = v * 10 + d;
    }
    return v;
}

/* Exact comparison of two digit strings: <0, 0, >0. */
static int dec_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    while (an > 1 && *a == '0') a++, an--;
    while (bn > 1 && *b == '0') b++, bn--;
    if (an != bn) return an < bn ? -1 : 1;
    return memcmp(a, b, an);
}

static int all_digits(const char *p, size_t n)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9') return 0;
    return 1;
}

/* RFC 9110 14.2 for one range: 206 (start/len set), 416, or 200 (ignore
 * the header: other unit, several ranges, bad syntax).  Like the engine,
 * OWS around the value, before '=' and around list elements is allowed. */
static int ref_range(const char *v, size_t n, uint64_t total, uint64_t *start, uint64_t *len)
{
    while (n && ows(*v)) v++, n--;
    while (n && ows(v[n - 1])) n--;
    if (n < 5) return 200;
    static const char unit[] = "bytes";
    for (size_t i = 0; i < 5; i++) {
        char c = v[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != unit[i]) return 200;
    }
    size_t i = 5;
    while (i < n && ows(v[i])) i++;
    if (i >= n || v[i] != '=') return 200;
    i++;
    const char *spec = NULL;
    size_t speclen = 0;
    int specs = 0;
    size_t b = i;
    for (size_t j = i; j <= n; j++) {
        if (j < n && v[j] != ',') continue;
        const char *e = v + b;
        size_t el = j - b;
        while (el && ows(*e)) e++, el--;
        while (el && ows(e[el - 1])) el--;
        if (el) specs++, spec = e, speclen = el;
        b = j + 1;
    }
    if (specs != 1) return 200;
    const char *dash = memchr(spec, '-', speclen);
    if (!dash) return 200;
    size_t al = (size_t)(dash - spec), bl = speclen - al - 1;
    int big;
    if (al == 0) {
        if (!all_digits(dash + 1, bl)) return 200;
        uint64_t suf = dec_value(dash + 1, bl, &big);
        if ((!big && suf == 0) || total == 0) return 416;
        *start = big || suf >= total ? 0 : total - suf;
        *len = total - *start;
        return 206;
    }
    if (!all_digits(spec, al)) return 200;
    if (bl && !all_digits(dash + 1, bl)) return 200;
    if (bl && dec_cmp(dash + 1, bl, spec, al) < 0) return 200; /* invalid: ignored */
    uint64_t first = dec_value(spec, al, &big);
    if (big || first >= total) return 416;
    uint64_t last = UINT64_MAX;
    if (bl) {
        last = dec_value(dash + 1, bl, &big);
        if (big) last = UINT64_MAX;
    }
    if (last >= total) last = total - 1;
    *start = first;
    *len = last - first + 1;
    return 206;
}

static int host_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
}

static int ref_host_valid(const char *h, size_t n)
{
    if (n < 1 || n > 255) return 0;
    for (size_t i = 0; i < n; i++)
        if (!host_char((uint8_t)h[i])) return 0;
    return 1;
}

/* localhost | [::1] | 127.d.d.d (1-3 digits each), then nothing or ':'... */
static int ref_loopback(const char *h, size_t n)
{
    if (!ref_host_valid(h, n)) return 0;
    size_t hl;
    if (h[0] == '[') {
        const char *c = memchr(h, ']', n);
        if (!c) return 0;
        hl = (size_t)(c - h) + 1;
    } else {
        const char *c = memchr(h, ':', n);
        hl = c ? (size_t)(c - h) : n;
    }
    if (hl < n && h[hl] != ':') return 0;
    if (hl == 5 && memcmp(h, "[::1]", 5) == 0) return 1;
    if (hl == 9) {
        static const char lh[] = "localhost";
        size_t i = 0;
        while (i < 9 && (h[i] | 0x20) == lh[i]) i++;
        if (i == 9) return 1;
    }
    if (hl < 4 || memcmp(h, "127.", 4) != 0) return 0;
    int parts = 1;
    size_t digits = 0;
    for (size_t i = 4; i < hl; i++) {
        if (h[i] == '.') {
            if (!digits) return 0;
            parts++;
            digits = 0;
        } else if (h[i] >= '0' && h[i] <= '9') {
            if (++digits > 3) return 0;
        } else {
            return 0;
        }
    }
    return parts == 3 && digits > 0; /* three parts after "127." */
}

/* --- JSON ------------------------------------------------------------------ */

typedef struct jp {
    const uint8_t *p, *end;
    int depth;
    /* top-level captures */
    long files, sources;
    pf_buf name;
    int have_name;
} jp;

static void j_ws(jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int j_hex4(jp *j, uint32_t *v)
{
    if (j->end - j->p < 4) return -1;
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(j->p[i]);
        if (h < 0) return -1;
        *v = (*v << 4) | (uint32_t)h;
    }
    j->p += 4;
    return 0;
}

static void put_utf8(pf_buf *o, uint32_t cp)
{
    uint8_t b[4];
    size_t n;
    if (cp < 0x80) b[0] = (uint8_t)cp, n = 1;
    else if (cp < 0x800) b[0] = (uint8_t)(0xc0 | cp >> 6), b[1] = (uint8_t)(0x80 | (cp & 63)), n = 2;
    else if (cp < 0x10000)
        b[0] = (uint8_t)(0xe0 | cp >> 12), b[1] = (uint8_t)(0x80 | ((cp >> 6) & 63)),
        b[2] = (uint8_t)(0x80 | (cp & 63)), n = 3;
    else
        b[0] = (uint8_t)(0xf0 | cp >> 18), b[1] = (uint8_t)(0x80 | ((cp >> 12) & 63)),
        b[2] = (uint8_t)(0x80 | ((cp >> 6) & 63)), b[3] = (uint8_t)(0x80 | (cp & 63)), n = 4;
    FZ_CHECK(pf_buf_append(o, b, n) == 0);
}

/* A string literal; decoded into out when out != NULL. */
static int j_string(jp *j, pf_buf *out)
{
    if (j->p >= j->end || *j->p != '"') return -1;
    j->p++;
    for (;;) {
        if (j->p >= j->end) return -1;
        uint8_t c = *j->p;
        if (c == '"') {
            j->p++;
            return 0;
        }
        if (c < 0x20) return -1; /* raw control character */
        if (c == '\\') {
            if (++j->p >= j->end) return -1;
            uint8_t e = *j->p++;
            uint32_t cp;
            switch (e) {
            case '"': cp = '"'; break;
            case '\\': cp = '\\'; break;
            case '/': cp = '/'; break;
            case 'b': cp = 8; break;
            case 'f': cp = 12; break;
            case 'n': cp = 10; break;
            case 'r': cp = 13; break;
            case 't': cp = 9; break;
            case 'u':
                if (j_hex4(j, &cp)) return -1;
                if (cp >= 0xdc00 && cp <= 0xdfff) return -1; /* lone low surrogate */
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    uint32_t lo;
                    if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u') return -1;
                    j->p += 2;
                    if (j_hex4(j, &lo) || lo < 0xdc00 || lo > 0xdfff) return -1;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                break;
            default: return -1;
            }
            if (out) put_utf8(out, cp);
            continue;
        }
        size_t k = utf8_seq(j->p, (size_t)(j->end - j->p));
        if (!k) return -1; /* invalid UTF-8 in the text */
        if (out) FZ_CHECK(pf_buf_append(out, j->p, k) == 0);
        j->p += k;
    }
}

static int j_digits(jp *j)
{
    const uint8_t *s = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
    return j->p > s ? 0 : -1;
}

static int j_number(jp *j)
{
    if (j->p < j->end && *j->p == '-') j->p++;
    if (j->p >= j->end) return -1;
    if (*j->p == '0') j->p++;
    else if (j_digits(j)) return -1;
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (j_digits(j)) return -1;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-')) j->p++;
        if (j_digits(j)) return -1;
    }
    return 0;
}

static int j_lit(jp *j, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0) return -1;
    j->p += n;
    return 0;
}

static int j_value(jp *j, long *count);

static int j_array(jp *j, long *count)
{
    j->p++;
    long n = 0;
    j_ws(j);
    if (j->p < j->end && *j->p == ']') {
        j->p++;
        if (count) *count = 0;
        return 0;
    }
    for (;;) {
        if (j_value(j, NULL)) return -1;
        n++;
        j_ws(j);
        if (j->p >= j->end) return -1;
        if (*j->p == ']') break;
        if (*j->p++ != ',') return -1;
    }
    j->p++;
    if (count) *count = n;
    return 0;
}

static int j_object(jp *j, int top)
{
    j->p++;
    j_ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return 0;
    }
    for (;;) {
        pf_buf key;
        pf_buf_init(&key);
        j_ws(j);
        int rc = j_string(j, &key);
        if (!rc) {
            j_ws(j);
            rc = j->p < j->end && *j->p == ':' ? 0 : -1;
            if (!rc) j->p++;
        }
        if (!rc) {
            j_ws(j);
#define KEY(lit) (key.len == sizeof lit - 1 && memcmp(key.data, lit, key.len) == 0)
            if (top && KEY("files") && j->p < j->end && *j->p == '[') {
                rc = j_array(j, &j->files);
            } else if (top && KEY("sources") && j->p < j->end && *j->p == '[') {
                rc = j_array(j, &j->sources);
            } else if (top && KEY("name") && j->p < j->end && *j->p == '"') {
                rc = j_string(j, &j->name);
                j->have_name = 1;
            } else {
                rc = j_value(j, NULL);
            }
#undef KEY
        }
        pf_buf_free(&key);
        if (rc) return -1;
        j_ws(j);
        if (j->p >= j->end) return -1;
        if (*j->p == '}') break;
        if (*j->p++ != ',') return -1;
    }
    j->p++;
    return 0;
}

static int j_value(jp *j, long *count)
{
    if (++j->depth > 16) return -1;
    j_ws(j);
    int rc = -1;
    if (j->p < j->end) {
        switch (*j->p) {
        case '{': rc = j_object(j, j->depth == 1); break;
        case '[': rc = j_array(j, count); break;
        case '"': rc = j_string(j, NULL); break;
        case 't': rc = j_lit(j, "true"); break;
        case 'f': rc = j_lit(j, "false"); break;
        case 'n': rc = j_lit(j, "null"); break;
        default: rc = j_number(j);
        }
    }
    j->depth--;
    return rc;
}

/* pf_media_json_str(s) parses back as one string: s itself when s is
 * UTF-8, else valid UTF-8 with U+FFFD for the bad bytes. */
static void check_json_str(const char *s)
{
    pf_buf out, dec;
    pf_buf_init(&out);
    pf_buf_init(&dec);
    FZ_CHECK(pf_media_json_str(&out, s) == 0);
    jp j = {out.data, out.data + out.len, 0, -1, -1, {0}, 0};
    FZ_CHECK(j_string(&j, &dec) == 0);
    FZ_CHECK(j.p == j.end);
    size_t n = strlen(s);
    FZ_CHECK(utf8_valid(dec.data, dec.len));
    if (utf8_valid((const uint8_t *)s, n)) {
        FZ_CHECK(dec.len == n && (n == 0 || memcmp(dec.data, s, n) == 0));
    } else {
        FZ_CHECK(dec.len >= 3 && memmem(dec.data, dec.len, "\xef\xbf\xbd", 3) != NULL);
    }
    pf_buf_free(&out);
    pf_buf_free(&dec);
}

/* --- Prometheus ------------------------------------------------------------ */

static int prom_name_char(uint8_t c, int first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

/* Parses a label value after its opening quote up to and including the
 * closing one; decodes into out. */
static int prom_lvalue(const char **pp, const char *end, pf_buf *out)
{
    const char *p = *pp;
    for (;;) {
        if (p >= end || *p == '\n') return -1;
        if (*p == '"') break;
        if (*p == '\\') {
            if (++p >= end) return -1;
            char c = *p == '\\' ? '\\' : *p == '"' ? '"' : *p == 'n' ? '\n' : 0;
            if (!c) return -1;
            FZ_CHECK(pf_buf_append_u8(out, (uint8_t)c) == 0);
        } else {
            FZ_CHECK(pf_buf_append_u8(out, (uint8_t)*p) == 0);
        }
        p++;
    }
    *pp = p + 1;
    return 0;
}

static void check_prom_label(const char *s)
{
    pf_buf out, dec;
    pf_buf_init(&out);
    pf_buf_init(&dec);
    FZ_CHECK(pf_media_prom_label(&out, s) == 0);
    FZ_CHECK(pf_buf_append_u8(&out, '"') == 0);
    const char *p = (const char *)out.data;
    FZ_CHECK(prom_lvalue(&p, (const char *)out.data + out.len, &dec) == 0);
    FZ_CHECK(p == (const char *)out.data + out.len);
    /* Valid UTF-8 round-trips exactly; anything else comes out as valid
     * UTF-8 (U+FFFD for each bad byte), which Prometheus accepts. */
    FZ_CHECK(utf8_valid(dec.data, dec.len));
    if (utf8_valid((const uint8_t *)s, strlen(s)))
        FZ_CHECK(dec.len == strlen(s) && (dec.len == 0 || memcmp(dec.data, s, dec.len) == 0));
    pf_buf_free(&out);
    pf_buf_free(&dec);
}

#define MAX_FILES 8

typedef struct prom_state {
    char fam[64];      /* current family (last TYPE) */
    char fam_type[16];
    char seen[64][64]; /* families declared so far */
    int nseen;
    char **series;     /* "name{raw labels}" seen */
    int nseries, capseries;
    int file_info;     /* peerflow_file_info samples */
    int torrent_ok;
} prom_state;

static void check_metrics(const pf_buf *b, const char *name, const pf_media_file *files, size_t n)
{
    const char *p = (const char *)b->data, *end = p + b->len;
    FZ_CHECK(b->len > 0 && end[-1] == '\n');
    prom_state st;
    memset(&st, 0, sizeof st);
    size_t with_qoe = 0;
    for (size_t i = 0; i < n; i++) with_qoe += files[i].has_qoe != 0;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        FZ_CHECK(eol);
        if (p[0] == '#') {
            int help = eol - p > 7 && memcmp(p, "# HELP ", 7) == 0;
            int type = eol - p > 7 && memcmp(p, "# TYPE ", 7) == 0;
            FZ_CHECK(help || type);
            const char *q = p + 7, *ns = q;
            while (q < eol && prom_name_char((uint8_t)*q, q == ns)) q++;
            FZ_CHECK(q > ns && q < eol && *q == ' ' && (size_t)(q - ns) < sizeof st.fam);
            char mname[64];
            memcpy(mname, ns, (size_t)(q - ns));
            mname[q - ns] = 0;
            if (type) {
                const char *t = q + 1;
                size_t tl = (size_t)(eol - t);
                FZ_CHECK((tl == 7 && memcmp(t, "counter", 7) == 0) || (tl == 5 && memcmp(t, "gauge", 5) == 0));
                for (int i = 0; i < st.nseen; i++) FZ_CHECK(strcmp(st.seen[i], mname) != 0);
                FZ_CHECK(st.nseen < 64);
                strcpy(st.seen[st.nseen++], mname);
                strcpy(st.fam, mname);
                memcpy(st.fam_type, t, tl);
                st.fam_type[tl] = 0;
                /* the 0.0.4 text format has no _total rule, the header does */
                if (tl == 7) FZ_CHECK(strlen(mname) > 6 && strcmp(mname + strlen(mname) - 6, "_total") == 0);
            } else {
                /* HELP comes right before its TYPE */
                const char *nx = eol + 1;
                FZ_CHECK(nx < end && (size_t)(end - nx) > 7 + (size_t)(q - ns) &&
                      memcmp(nx, "# TYPE ", 7) == 0 && memcmp(nx + 7, ns, (size_t)(q - ns)) == 0 &&
                      nx[7 + (q - ns)] == ' ');
            }
            p = eol + 1;
            continue;
        }
        /* sample: name[{labels}] value */
        const char *q = p;
        while (q < eol && prom_name_char((uint8_t)*q, q == p)) q++;
        FZ_CHECK(q > p && (size_t)(q - p) == strlen(st.fam) && memcmp(p, st.fam, (size_t)(q - p)) == 0);
        const char *lab = q;
        char lnames[4][32];
        int nl = 0;
        pf_buf vals[4];
        for (int i = 0; i < 4; i++) pf_buf_init(&vals[i]);
        if (q < eol && *q == '{') {
            q++;
            for (;;) {
                const char *ls = q;
                while (q < eol && prom_name_char((uint8_t)*q, q == ls) && *q != ':') q++;
                FZ_CHECK(q > ls && q < eol && *q == '=' && (size_t)(q - ls) < 32 && nl < 4);
                memcpy(lnames[nl], ls, (size_t)(q - ls));
                lnames[nl][q - ls] = 0;
                for (int i = 0; i < nl; i++) FZ_CHECK(strcmp(lnames[i], lnames[nl]) != 0);
                q++;
                FZ_CHECK(q < eol && *q == '"');
                q++;
                FZ_CHECK(prom_lvalue(&q, eol, &vals[nl]) == 0);
                FZ_CHECK(utf8_valid(vals[nl].data, vals[nl].len));
                nl++;
                FZ_CHECK(q < eol);
                if (*q == '}') break;
                FZ_CHECK(*q == ',');
                q++;
            }
            q++;
        }
        /* unique series */
        size_t sl = (size_t)(q - p);
        for (int i = 0; i < st.nseries; i++)
            FZ_CHECK(!(strlen(st.series[i]) == sl && memcmp(st.series[i], p, sl) == 0));
        if (st.nseries == st.capseries) {
            st.capseries = st.capseries ? st.capseries * 2 : 32;
            st.series = realloc(st.series, (size_t)st.capseries * sizeof *st.series);
            FZ_CHECK(st.series);
        }
        st.series[st.nseries++] = dup_z((const uint8_t *)p, sl);
        (void)lab;
        FZ_CHECK(q < eol && *q == ' ');
        q++;
        size_t vl = (size_t)(eol - q);
        FZ_CHECK(vl > 0 && vl < 64);
        char v[64];
        memcpy(v, q, vl);
        v[vl] = 0;
        if (strcmp(v, "NaN") && strcmp(v, "+Inf") && strcmp(v, "-Inf")) {
            for (size_t i = 0; i < vl; i++) FZ_CHECK(strchr("0123456789+-.eE", v[i]));
            char *e;
            double d = strtod(v, &e);
            FZ_CHECK(*e == 0 && isfinite(d));
        }
        /* what the labels say */
        if (strcmp(st.fam, "peerflow_info") == 0) {
            FZ_CHECK(nl == 2 && strcmp(lnames[0], "torrent") == 0 && strcmp(lnames[1], "version") == 0);
            if (utf8_valid((const uint8_t *)name, strlen(name))) /* else U+FFFD-repaired */
                FZ_CHECK(vals[0].len == strlen(name) && (vals[0].len == 0 || memcmp(vals[0].data, name, vals[0].len) == 0));
            st.torrent_ok++;
        } else if (strncmp(st.fam, "peerflow_file_info", 18) == 0) {
            FZ_CHECK(nl == 2 && strcmp(lnames[0], "file") == 0 && strcmp(lnames[1], "path") == 0);
            FZ_CHECK(pf_buf_nul(&vals[0]) == 0);
            char *e;
            unsigned long idx = strtoul((const char *)vals[0].data, &e, 10);
            FZ_CHECK(*e == 0);
            const pf_media_file *f = NULL;
            for (size_t i = 0; i < n; i++)
                if (files[i].index == idx) f = &files[i];
            FZ_CHECK(f && f->has_qoe);
            if (utf8_valid((const uint8_t *)f->path, strlen(f->path)))
                FZ_CHECK(vals[1].len == strlen(f->path) && (vals[1].len == 0 || memcmp(vals[1].data, f->path, vals[1].len) == 0));
            st.file_info++;
        } else if (strcmp(st.fam, "peerflow_upload_off") == 0) {
            /* one sample per reason uploads may be off, 0 or 1 */
            FZ_CHECK(nl == 1 && strcmp(lnames[0], "reason") == 0 && pf_buf_nul(&vals[0]) == 0);
            const char *r = (const char *)vals[0].data;
            FZ_CHECK(strcmp(r, "user") == 0 || strcmp(r, "metered") == 0 || strcmp(r, "battery") == 0 ||
                  strcmp(r, "budget") == 0);
            FZ_CHECK(eol[-1] == '0' || eol[-1] == '1');
            FZ_CHECK(eol[-2] == ' ');
        } else if (nl) {
            FZ_CHECK(nl == 1 && (strcmp(lnames[0], "file") == 0 || strcmp(lnames[0], "source") == 0 ||
                               strcmp(lnames[0], "direction") == 0));
        }
        for (int i = 0; i < 4; i++) pf_buf_free(&vals[i]);
        p = eol + 1;
    }
    FZ_CHECK(st.torrent_ok == 1);
    FZ_CHECK((size_t)st.file_info == with_qoe);
    for (int i = 0; i < st.nseries; i++) free(st.series[i]);
    free(st.series);
}

/* --- m3u and HTML ------------------------------------------------------- */

static void expect_url(pf_buf *e, const char *base, uint32_t index, const char *path)
{
    FZ_CHECK(pf_buf_appendf(e, "%s/files/%u/", base, (unsigned)index) == 0);
    ref_pct(e, ref_basename(path));
}

static void check_m3u(const pf_buf *b, const char *base, const pf_media_file *files, size_t n)
{
    pf_buf e;
    pf_buf_init(&e);
    FZ_CHECK(pf_buf_append_str(&e, "#EXTM3U\n") == 0);
    size_t lim = n > PF_MEDIA_MAX_LIST ? PF_MEDIA_MAX_LIST : n;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < lim; i++) {
            if (pf_media_is_media(files[i].path) != (pass == 0)) continue;
            FZ_CHECK(pf_buf_append_str(&e, "#EXTINF:-1,") == 0);
            for (const char *s = files[i].path; *s; s++)
                FZ_CHECK(pf_buf_append_u8(&e, (uint8_t)(*s == '\r' || *s == '\n' ? ' ' : *s)) == 0);
            FZ_CHECK(pf_buf_append_u8(&e, '\n') == 0);
            expect_url(&e, base, files[i].index, files[i].path);
            FZ_CHECK(pf_buf_append_u8(&e, '\n') == 0);
        }
    FZ_CHECK(buf_eq(b, &e));
    /* no line ends inside an entry: lines = 1 + 2 * entries, no CR */
    size_t lines = 0;
    for (size_t i = 0; i < b->len; i++) {
        FZ_CHECK(b->data[i] != '\r');
        lines += b->data[i] == '\n';
    }
    FZ_CHECK(lines == 1 + 2 * lim);
    pf_buf_free(&e);
}

static int html_unescape_eq(const char *t, size_t tl, const char *want)
{
    pf_buf d;
    pf_buf_init(&d);
    static const struct {
        const char *ent;
        char c;
    } ents[] = {{"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&#39;", '\''}};
    for (size_t i = 0; i < tl;) {
        if (t[i] == '&') {
            size_t k;
            for (k = 0; k < 5; k++) {
                size_t el = strlen(ents[k].ent);
                if (tl - i >= el && memcmp(t + i, ents[k].ent, el) == 0) {
                    FZ_CHECK(pf_buf_append_u8(&d, (uint8_t)ents[k].c) == 0);
                    i += el;
                    break;
                }
            }
            FZ_CHECK(k < 5); /* a bare '&' */
        } else {
            FZ_CHECK(t[i] != '<' && t[i] != '>');
            FZ_CHECK(pf_buf_append_u8(&d, (uint8_t)t[i++]) == 0);
        }
    }
    int ok = d.len == strlen(want) && (d.len == 0 || memcmp(d.data, want, d.len) == 0);
    pf_buf_free(&d);
    return ok;
}

/* Tokenizes the page: every '<' opens one of the page's own tags, text
 * and attribute values hold no markup, and the title, heading and list
 * items carry exactly the names given. */
static void check_html(const pf_buf *b, const char *name, const pf_media_file *files, size_t n)
{
    static const char *tags[] = {"!DOCTYPE html", "html", "/html", "head", "/head",
                                 "meta charset=\"utf-8\"", "title", "/title", "body", "/body",
                                 "h1", "/h1", "p", "/p", "/a", "ol start=\"0\"", "/ol", "li", "/li"};
    const char *p = (const char *)b->data, *end = p + b->len;
    char last[32] = "";
    const char *text = p;
    size_t li = 0, lim = n > PF_MEDIA_MAX_LIST ? PF_MEDIA_MAX_LIST : n;
    int titles = 0, h1s = 0, in_file_a = 0;
    while (p < end) {
        if (*p != '<') {
            p++;
            continue;
        }
        /* text run [text, p) */
        size_t tl = (size_t)(p - text);
        if (strcmp(last, "title") == 0) {
            FZ_CHECK(html_unescape_eq(text, tl, name));
            titles++;
        } else if (strcmp(last, "h1") == 0) {
            FZ_CHECK(html_unescape_eq(text, tl, name));
            h1s++;
        } else if (in_file_a) {
            FZ_CHECK(li >= 1 && html_unescape_eq(text, tl, files[li - 1].path));
            in_file_a = 0;
        } else {
            FZ_CHECK(memchr(text, '>', tl) == NULL);
        }
        const char *gt = memchr(p, '>', (size_t)(end - p));
        FZ_CHECK(gt);
        size_t gl = (size_t)(gt - p - 1);
        const char *g = p + 1;
        size_t k;
        for (k = 0; k < sizeof tags / sizeof tags[0]; k++)
            if (strlen(tags[k]) == gl && memcmp(tags[k], g, gl) == 0) break;
        if (k < sizeof tags / sizeof tags[0]) {
            FZ_CHECK(gl < sizeof last);
            memcpy(last, g, gl);
            last[gl] = 0;
            if (strcmp(last, "li") == 0) li++;
        } else {
            /* <a href="..."> with a value of unreserved, '/', '.', %XX */
            FZ_CHECK(gl > 9 && memcmp(g, "a href=\"", 8) == 0 && g[gl - 1] == '"');
            const char *v = g + 8;
            size_t vl = gl - 9;
            for (size_t i = 0; i < vl; i++) {
                uint8_t c = (uint8_t)v[i];
                if (c == '%') {
                    FZ_CHECK(i + 2 < vl && hexval((uint8_t)v[i + 1]) >= 0 && hexval((uint8_t)v[i + 2]) >= 0);
                    i += 2;
                } else {
                    FZ_CHECK(is_unreserved(c) || c == '/');
                }
            }
            if (strcmp(last, "li") == 0) {
                pf_buf e;
                pf_buf_init(&e);
                expect_url(&e, "", files[li - 1].index, files[li - 1].path);
                FZ_CHECK(e.len == vl && memcmp(e.data, v, vl) == 0);
                pf_buf_free(&e);
                in_file_a = 1;
            }
            strcpy(last, "a");
        }
        p = gt + 1;
        text = p;
    }
    FZ_CHECK(titles == 1 && h1s == 1 && li == lim && !in_file_a);
}

/* --- the target ----------------------------------------------------------- */

static void check_content_type(const char *s)
{
    const char *t = pf_media_content_type(s);
    FZ_CHECK(t && strchr(t, '/'));
    FZ_CHECK(!strstr(t, "html") && !strstr(t, "svg") && !strstr(t, "script"));
    int video = strncmp(t, "video/", 6) == 0, audio = strncmp(t, "audio/", 6) == 0;
    FZ_CHECK(pf_media_is_video(s) == video);
    FZ_CHECK(pf_media_is_media(s) == (video || audio));
    /* case-insensitive; only the last path component counts */
    size_t n = strlen(s);
    char *u = malloc(n + 3 + 5);
    FZ_CHECK(u);
    for (size_t i = 0; i <= n; i++) u[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i]);
    FZ_CHECK(strcmp(pf_media_content_type(u), t) == 0);
    memcpy(u, "d/", 2);
    memcpy(u + 2, s, n + 1);
    FZ_CHECK(strcmp(pf_media_content_type(u), t) == 0);
    if (n && s[n - 1] != '/') {
        memcpy(u + n + 2, ".mKv", 5);
        FZ_CHECK(strcmp(pf_media_content_type(u), "video/x-matroska") == 0);
    }
    free(u);
}

static void check_range(const char *r, size_t rl, int if_range, uint64_t size)
{
    pf_media_range m;
    memset(&m, 0xa5, sizeof m);
    pf_media_range_plan(r, rl, if_range, size, &m);
    FZ_CHECK(m.status == 200 || m.status == 206 || m.status == 416);
    if (m.status == 200) FZ_CHECK(m.start == 0 && m.length == size);
    if (m.status == 206) FZ_CHECK(size > 0 && m.length >= 1 && m.start < size && m.length <= size - m.start);
    if (m.status == 416) FZ_CHECK(m.start == 0 && m.length == 0 && r && !if_range);
    if (!r || if_range) {
        FZ_CHECK(m.status == 200);
        return;
    }
    uint64_t s = 0, l = size;
    int want = ref_range(r, rl, size, &s, &l);
    if (want != m.status) {
        fprintf(stderr, "range plan %d, reference %d for size %llu: \"%.*s\"\n", m.status, want,
                (unsigned long long)size, (int)rl, r);
        abort();
    }
    if (want == 206) FZ_CHECK(m.start == s && m.length == l);
}

static void check_route(const char *p, size_t n)
{
    uint32_t idx = 0xdeadbeef, ridx = 0;
    pf_media_route_kind k = pf_media_route(p, n, &idx);
    FZ_CHECK(k >= PF_MEDIA_ROUTE_NONE && k <= PF_MEDIA_ROUTE_PATH);
    FZ_CHECK((int)k == ref_route(p, n, &ridx));
    if (k == PF_MEDIA_ROUTE_FILE) FZ_CHECK(idx == ridx && idx <= 999999999u);
    int safe = pf_media_path_safe(p, n);
    /* A title path: decoded, never longer than its encoding, no NUL; a
     * safe one has no "." or ".." segment left (the decoded path is what
     * the server looks up among the torrent's files). */
    char dec[256];
    int drc = pf_media_path_decode(p, n, dec, sizeof dec);
    FZ_CHECK(drc == 0 || drc == PF_ERR_PARSE || drc == PF_ERR_LIMIT);
    if (drc == 0) {
        size_t dl = strlen(dec);
        FZ_CHECK(k == PF_MEDIA_ROUTE_PATH && dl >= 1 && dl <= n - 3);
        if (safe) {
            FZ_CHECK(strcmp(dec, ".") && strcmp(dec, "..") && strncmp(dec, "../", 3) && strncmp(dec, "./", 2));
            FZ_CHECK(!strstr(dec, "/../") && !strstr(dec, "/./"));
            FZ_CHECK(!(dl >= 3 && strcmp(dec + dl - 3, "/..") == 0) && !(dl >= 2 && strcmp(dec + dl - 2, "/.") == 0));
        }
    }
    if (safe != ref_path_safe(p, n)) {
        fprintf(stderr, "path safe %d, reference %d: \"%.*s\"\n", safe, !safe, (int)n, p);
        abort();
    }
    /* Whatever passes has no traversal in any spelling. */
    if (safe) FZ_CHECK(!memmem(p, n, "/../", 4) && !memmem(p, n, "%00", 3));
}

static void check_host(const char *h, size_t n)
{
    int v = pf_media_host_valid(h, n), lb = pf_media_host_is_loopback(h, n);
    FZ_CHECK(v == ref_host_valid(h, n));
    FZ_CHECK(lb == ref_loopback(h, n));
    FZ_CHECK(!lb || v);
}

/* The request as the server sees it: route, Host and Range from a parsed
 * head. */
static void check_request(slice path, slice range, slice host, int no_range, int if_range,
                          uint64_t size)
{
    pf_buf r;
    pf_buf_init(&r);
    FZ_CHECK(pf_buf_append_str(&r, "GET ") == 0);
    FZ_CHECK(pf_buf_append(&r, path.p, path.len) == 0);
    FZ_CHECK(pf_buf_append_str(&r, " HTTP/1.1\r\nHost: ") == 0);
    FZ_CHECK(pf_buf_append(&r, host.p, host.len) == 0);
    FZ_CHECK(pf_buf_append_str(&r, "\r\n") == 0);
    if (!no_range) {
        FZ_CHECK(pf_buf_append_str(&r, "Range: ") == 0);
        FZ_CHECK(pf_buf_append(&r, range.p, range.len) == 0);
        FZ_CHECK(pf_buf_append_str(&r, "\r\n") == 0);
    }
    if (if_range) FZ_CHECK(pf_buf_append_str(&r, "If-Range: \"x\"\r\n") == 0);
    FZ_CHECK(pf_buf_append_str(&r, "\r\n") == 0);
    pf_http_request req;
    if (pf_http_request_parse(r.data, r.len, 0, &req) > 0) {
        char *p = dup_exact((const uint8_t *)req.path.p, req.path.len);
        check_route(p, req.path.len);
        free(p);
        char *h = dup_exact((const uint8_t *)req.host.p, req.host.len);
        check_host(h, req.host.len);
        free(h);
        const pf_http_str *rv = pf_http_header_get(&req, "Range");
        char *rc = rv ? dup_exact((const uint8_t *)rv->p, rv->len) : NULL;
        check_range(rc, rv ? rv->len : 0, pf_http_header_get(&req, "If-Range") != NULL, size);
        free(rc);
    }
    pf_buf_free(&r);
}

static void check_bodies(const char *name, const char *base, const char *srcname,
                         pf_media_file *files, size_t n, int state, uint64_t *rng)
{
    pf_torrent_stats st;
    memset(&st, 0, sizeof st);
    st.state = state;
    st.pieces = rng_u32(rng);
    st.have = rng_next(rng) & 1 ? st.pieces : rng_u32(rng);
    st.total_length = rng_u64(rng);
    st.have_bytes = rng_u64(rng);
    st.uploaded = rng_u64(rng);
    st.downloaded = rng_u64(rng);
    st.wasted = rng_u64(rng);
    st.hash_failures = rng_u32(rng);
    st.peers = rng_u32(rng);
    st.seeds = rng_u32(rng);
    st.unchoked = rng_u32(rng);
    st.down_rate = rng_double(rng);
    st.up_rate = rng_double(rng);
    st.cdn_downloaded = rng_u64(rng);
    st.peer_downloaded = rng_u64(rng);
    st.webseeds = rng_u32(rng);
    st.remote_downloaded = rng_u64(rng);
    st.remote_uploaded = rng_u64(rng);

    pf_source_stats src[3];
    size_t nsrc = rng_next(rng) % 4, sl = strlen(srcname);
    for (size_t i = 0; i < nsrc; i++) {
        memset(&src[i], 0, sizeof src[i]);
        /* i == 2: fill the whole array, without a NUL */
        size_t off = i < sl ? i : sl, take = sl - off;
        if (i == 2) {
            memset(src[i].name, 'x', sizeof src[i].name);
            take = take > sizeof src[i].name ? sizeof src[i].name : take;
        } else {
            take = take > sizeof src[i].name - 1 ? sizeof src[i].name - 1 : take;
        }
        memcpy(src[i].name, srcname + off, take);
        snprintf(src[i].kind, sizeof src[i].kind, "%s", (rng_next(rng) & 1) ? "webseed" : "peer");
        src[i].cost = rng_double(rng);
        src[i].downloaded = rng_u64(rng);
        src[i].uploaded = rng_u64(rng);
        src[i].down_rate = rng_double(rng);
    }

    size_t with_qoe = 0;
    for (size_t i = 0; i < n; i++) with_qoe += files[i].has_qoe != 0;

    /* The upload state, or none (half the time); a period of any bytes,
     * filled to the end without a NUL now and then. */
    pf_upload_status ups, *up = NULL;
    if (rng_next(rng) & 1) {
        memset(&ups, 0, sizeof ups);
        ups.off = (uint32_t)rng_next(rng);
        ups.enabled = ups.off == 0;
        ups.off_when = (uint32_t)rng_next(rng);
        ups.metered = (int)(rng_next(rng) & 1);
        ups.on_battery = (int)(rng_next(rng) & 1);
        ups.budget = rng_next(rng) & 1 ? rng_u64(rng) : 0;
        ups.budget_used = rng_u64(rng);
        ups.budget_left = rng_u64(rng);
        size_t pl = strlen(srcname) < sizeof ups.period ? strlen(srcname) : sizeof ups.period;
        memcpy(ups.period, srcname, pl);
        ups.share = rng_double(rng);
        ups.uplink_bps = rng_double(rng);
        ups.cap_bps = rng_u64(rng);
        ups.uploaded = rng_u64(rng);
        up = &ups;
    }

    /* The datagram counters, or none, from numbers drawn already (the
     * corpus keeps its meaning). */
    pf_datagram_stats dgs = {st.uploaded, st.downloaded, st.wasted, st.remote_uploaded};
    const pf_datagram_stats *dg = st.peers & 1 ? &dgs : NULL;

    pf_buf b;
    pf_buf_init(&b);
    /* /stats.json: one valid JSON object with the right arrays */
    FZ_CHECK(pf_media_stats_json(&b, name, &st, up, dg, files, n, src, nsrc) == 0);
    jp j = {b.data, b.data + b.len, 0, -1, -1, {0}, 0};
    FZ_CHECK(b.len && b.data[0] == '{');
    FZ_CHECK(j_value(&j, NULL) == 0);
    j_ws(&j);
    FZ_CHECK(j.p == j.end);
    FZ_CHECK(j.files == (long)with_qoe && j.sources == (long)nsrc && j.have_name);
    if (utf8_valid((const uint8_t *)name, strlen(name)))
        FZ_CHECK(j.name.len == strlen(name) && (j.name.len == 0 || memcmp(j.name.data, name, j.name.len) == 0));
    pf_buf_free(&j.name);
    {
        FZ_CHECK(pf_buf_nul(&b) == 0);
        const char *cs = strstr((const char *)b.data, ",\"cdn_share\":");
        FZ_CHECK(cs);
        double share = strtod(cs + 13, NULL);
        FZ_CHECK(share >= 0.0 && share <= 1.0);
    }
    pf_buf_reset(&b);

    /* /metrics */
    FZ_CHECK(pf_media_metrics(&b, name, &st, up, dg, files, n) == 0);
    check_metrics(&b, name, files, n);
    pf_buf_reset(&b);

    /* /playlist.m3u */
    FZ_CHECK(pf_media_m3u(&b, base, files, n) == 0);
    check_m3u(&b, base, files, n);
    pf_buf_reset(&b);

    /* index page */
    FZ_CHECK(pf_media_html(&b, name, files, n) == 0);
    check_html(&b, name, files, n);
    pf_buf_free(&b);
}

/* Fixed cases, once: known answers and the list cap. */
static void once(void)
{
    static const struct {
        const char *h;
        int lb;
    } hosts[] = {
        {"localhost", 1},        {"LocalHost:8080", 1}, {"127.0.0.1", 1},   {"127.0.0.1:80", 1},
        {"127.1.2.3", 1},        {"[::1]", 1},          {"[::1]:8080", 1},  {"localhost.", 0},
        {"127.0.0.1.evil.com", 0}, {"evil.com", 0},    {"0.0.0.0", 0},     {"[::2]", 0},
        {"127.0.0", 0},          {"1127.0.0.1", 0},     {"localhostx", 0},  {"", 0},
    };
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++)
        FZ_CHECK(pf_media_host_is_loopback(hosts[i].h, strlen(hosts[i].h)) == hosts[i].lb);
    FZ_CHECK(strcmp(pf_media_content_type(NULL), "application/octet-stream") == 0);
    FZ_CHECK(strcmp(pf_media_content_type("a/b.MP4"), "video/mp4") == 0);
    FZ_CHECK(strcmp(pf_media_content_type("x.html"), "application/octet-stream") == 0);
    check_range("bytes=0-", 8, 0, 10);
    check_range("bytes=-0", 8, 0, 10);
    check_range("bytes=5-1", 9, 0, 10);
    check_range("bytes=0-1,2-3", 13, 0, 10);

    size_t n = PF_MEDIA_MAX_LIST + 1;
    pf_media_file *f = calloc(n, sizeof *f);
    FZ_CHECK(f);
    for (size_t i = 0; i < n; i++) {
        f[i].index = (uint32_t)i;
        f[i].path = i % 3 ? "a.mkv" : "b<&>.txt";
        f[i].size = i;
    }
    pf_buf b;
    pf_buf_init(&b);
    FZ_CHECK(pf_media_m3u(&b, "http://h", f, n) == 0);
    check_m3u(&b, "http://h", f, n);
    pf_buf_reset(&b);
    FZ_CHECK(pf_media_html(&b, "n", f, n) == 0);
    check_html(&b, "n", f, n);
    pf_buf_free(&b);
    free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int done;
    if (!done) {
        done = 1;
        once();
    }

    uint8_t hdr[16] = {0};
    size_t hl = size < 16 ? size : 16;
    memcpy(hdr, data, hl);
    const uint8_t *rest = data + hl;
    size_t rl = size - hl;

    /* NUL-separated fields */
    slice f[5 + MAX_FILES];
    size_t nf = 0;
    for (size_t i = 0, s = 0; i <= rl && nf < sizeof f / sizeof f[0]; i++) {
        if (i < rl && rest[i]) continue;
        f[nf].p = rest + s;
        f[nf].len = i - s;
        nf++;
        s = i + 1;
        if (i == rl) break;
    }
    for (size_t i = nf; i < sizeof f / sizeof f[0]; i++) f[i].p = rest, f[i].len = 0;

    int if_range = hdr[0] & 1, no_range = (hdr[0] >> 1) & 1;
    size_t nfiles = (hdr[0] >> 2) & 7;
    int state = hdr[0] >> 5;
    uint64_t fsize = 0, rng = 0;
    for (int i = 0; i < 8; i++) fsize |= (uint64_t)hdr[1 + i] << (8 * i);
    for (int i = 0; i < 7; i++) rng |= (uint64_t)hdr[9 + i] << (8 * i);

    /* decisions on exact-size copies */
    char *path = dup_exact(f[0].p, f[0].len);
    char *range = dup_exact(f[1].p, f[1].len);
    char *host = dup_exact(f[2].p, f[2].len);
    check_route(path, f[0].len);
    check_host(host, f[2].len);
    static const uint64_t sizes[] = {0, 1, 2, 100, UINT64_MAX - 1, UINT64_MAX};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        check_range(range, f[1].len, 0, sizes[i]);
    check_range(no_range ? NULL : range, f[1].len, if_range, fsize);
    check_range(range, f[1].len, 0, fsize);
    free(path);
    free(range);
    free(host);

    /* the raw input, NULs and all */
    char *raw = dup_exact(data, size);
    check_route(raw, size);
    check_host(raw, size);
    check_range(raw, size, 0, fsize);
    check_range(raw, size, 0, 1000);
    free(raw);

    check_request(f[0], f[1], f[2], no_range, if_range, fsize);

    /* strings for the builders */
    char *name = dup_z(f[3].p, f[3].len);
    char *srcname = dup_z(f[4].p, f[4].len);
    char *hostz = dup_z(f[2].p, f[2].len);
    pf_buf base;
    pf_buf_init(&base);
    if (pf_media_host_valid(hostz, strlen(hostz))) {
        FZ_CHECK(pf_buf_appendf(&base, "http://%s", hostz) == 0);
    } else {
        FZ_CHECK(pf_buf_append_str(&base, "http://127.0.0.1:8080") == 0);
    }
    FZ_CHECK(pf_buf_nul(&base) == 0);

    pf_media_file files[MAX_FILES];
    char *fpath[MAX_FILES];
    uint32_t ibase = rng_u32(&rng);
    for (size_t i = 0; i < nfiles; i++) {
        fpath[i] = dup_z(f[5 + i].p, f[5 + i].len);
        memset(&files[i], 0, sizeof files[i]);
        files[i].index = ibase + (uint32_t)i * 7u; /* distinct */
        files[i].path = fpath[i];
        files[i].size = rng_u64(&rng);
        files[i].has_qoe = (int)(rng_next(&rng) & 1);
        pf_qoe *q = &files[i].qoe;
        q->active = (int)(rng_next(&rng) & 1);
        q->ttfb_s = rng_double(&rng);
        q->time_to_playable_s = rng_double(&rng);
        q->stalls = rng_u32(&rng);
        q->stall_s = rng_double(&rng);
        q->seeks = rng_u32(&rng);
        q->bitrate_bps = rng_double(&rng);
        q->bitrate_from_container = (int)(rng_next(&rng) & 1);
        q->playhead = rng_u64(&rng);
        q->buffer_s = rng_double(&rng);
        q->bytes_served = rng_u64(&rng);
    }

    const char *strs[] = {name, srcname, hostz};
    for (size_t i = 0; i < 3; i++) {
        check_json_str(strs[i]);
        check_prom_label(strs[i]);
        check_content_type(strs[i]);
    }
    for (size_t i = 0; i < nfiles; i++) {
        check_json_str(fpath[i]);
        check_prom_label(fpath[i]);
        check_content_type(fpath[i]);
        pf_buf u, e;
        pf_buf_init(&u);
        pf_buf_init(&e);
        FZ_CHECK(pf_media_file_url(&u, (const char *)base.data, files[i].index, fpath[i]) == 0);
        expect_url(&e, (const char *)base.data, files[i].index, fpath[i]);
        FZ_CHECK(buf_eq(&u, &e));
        /* the name part decodes back to the last path component */
        const char *bn = ref_basename(fpath[i]);
        size_t pre = base.len + (size_t)snprintf(NULL, 0, "/files/%u/", (unsigned)files[i].index);
        uint8_t *dec = malloc(strlen(bn) + 1);
        size_t dl;
        FZ_CHECK(dec && pf_http_pct_decode((const char *)u.data + pre, u.len - pre, 0, dec, strlen(bn), &dl) == 0);
        FZ_CHECK(dl == strlen(bn) && memcmp(dec, bn, dl) == 0);
        free(dec);
        pf_buf_free(&u);
        pf_buf_free(&e);
    }
    /* NULL strings are documented as "" for these two */
    pf_buf z;
    pf_buf_init(&z);
    FZ_CHECK(pf_media_json_str(&z, NULL) == 0 && pf_media_prom_label(&z, NULL) == 0);
    FZ_CHECK(z.len == 2 && memcmp(z.data, "\"\"", 2) == 0);
    pf_buf_free(&z);

    check_bodies(name, (const char *)base.data, srcname, files, nfiles, state, &rng);

    for (size_t i = 0; i < nfiles; i++) free(fpath[i]);
    free(name);
    free(srcname);
    free(hostz);
    pf_buf_free(&base);
    return 0;
}
