#include "core/codec/http_parse.h"

#include <stdio.h>
#include <string.h>

#include "peerflow/peerflow.h"

/* --- character classes ------------------------------------------------ */

static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* Field-value bytes: VCHAR, SP, HTAB, obs-text. */
static int is_vchar_ws(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* request-target bytes: visible ASCII; we also accept obs-text so that
 * sloppy clients sending raw UTF-8 are not rejected. */
static int is_target_char(unsigned char c) { return c > 0x20 && c != 0x7f; }

int pf_http_str_ieq(pf_http_str s, const char *lit)
{
    size_t n = strlen(lit);
    if (n != s.len) return 0;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)s.p[i]) != lower((unsigned char)lit[i]))
            return 0;
    return 1;
}

static pf_http_str str_trim(const char *p, size_t len)
{
    while (len && (*p == ' ' || *p == '\t')) p++, len--;
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
    pf_http_str s = {p, len};
    return s;
}

/* Parses 1*DIGIT into *out; 0 or PF_ERR_PARSE (empty, non-digit or over
 * 2^63 so the result always fits int64 users). */
static int parse_u64(const char *p, size_t len, uint64_t *out)
{
    if (len == 0) return PF_ERR_PARSE;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!is_digit((unsigned char)p[i])) return PF_ERR_PARSE;
        if (v > (UINT64_C(1) << 62) / 5) return PF_ERR_PARSE; /* v*10 > 2^63 */
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *out = v;
    return 0;
}

/* --- request line ----------------------------------------------------- */

static pf_http_method method_of(pf_http_str m)
{
    static const struct {
        const char *s;
        pf_http_method m;
    } tab[] = {{"GET", PF_HTTP_GET},       {"HEAD", PF_HTTP_HEAD},
               {"POST", PF_HTTP_POST},     {"PUT", PF_HTTP_PUT},
               {"DELETE", PF_HTTP_DELETE}, {"OPTIONS", PF_HTTP_OPTIONS}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (m.len == strlen(tab[i].s) && memcmp(m.p, tab[i].s, m.len) == 0)
            return tab[i].m; /* methods are case-sensitive */
    return PF_HTTP_OTHER;
}

static int parse_request_line(const char *p, size_t len, pf_http_request *r)
{
    size_t i = 0;
    while (i < len && is_tchar((unsigned char)p[i])) i++;
    if (i == 0 || i >= len || p[i] != ' ') return PF_ERR_PARSE;
    r->method_str.p = p;
    r->method_str.len = i;
    r->method = method_of(r->method_str);
    size_t t0 = ++i;
    while (i < len && is_target_char((unsigned char)p[i])) i++;
    if (i == t0 || i >= len || p[i] != ' ') return PF_ERR_PARSE;
    r->target.p = p + t0;
    r->target.len = i - t0;
    const char *v = p + i + 1;
    size_t vlen = len - i - 1;
    if (vlen != 8 || memcmp(v, "HTTP/", 5) != 0 || !is_digit((unsigned char)v[5]) ||
        v[6] != '.' || !is_digit((unsigned char)v[7]))
        return PF_ERR_PARSE;
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1')) {
        r->version_minor = -1;
        return PF_ERR_UNSUPPORTED;
    }
    r->version_minor = v[7] - '0';

    /* Split the target into path and query. */
    const char *tp = r->target.p;
    size_t tl = r->target.len;
    if (tl == 1 && tp[0] == '*') {
        if (r->method != PF_HTTP_OPTIONS) return PF_ERR_PARSE;
        r->path = r->target;
        return 0;
    }
    if (tp[0] != '/') {
        /* absolute-form: scheme "://" authority path-abempty [ "?" query ] */
        const char *sep = NULL;
        for (size_t k = 0; k + 2 < tl; k++) {
            if (tp[k] == ':' && tp[k + 1] == '/' && tp[k + 2] == '/') {
                sep = tp + k + 3;
                break;
            }
            if (!((tp[k] >= 'a' && tp[k] <= 'z') || (tp[k] >= 'A' && tp[k] <= 'Z') ||
                  (k > 0 && (is_digit((unsigned char)tp[k]) || tp[k] == '+' ||
                             tp[k] == '-' || tp[k] == '.'))))
                return PF_ERR_PARSE;
        }
        if (!sep) return PF_ERR_PARSE;
        const char *end = tp + tl, *q = sep;
        while (q < end && *q != '/' && *q != '?') q++;
        if (q == sep) return PF_ERR_PARSE; /* empty authority */
        if (q == end || *q == '?') {
            static const char slash[] = "/";
            r->path.p = slash;
            r->path.len = 1;
            if (q < end) {
                r->has_query = 1;
                r->query.p = q + 1;
                r->query.len = (size_t)(end - q - 1);
            }
            return 0;
        }
        tl -= (size_t)(q - tp);
        tp = q;
    }
    const char *qm = memchr(tp, '?', tl);
    const char *hash = memchr(tp, '#', tl);
    if (hash) return PF_ERR_PARSE; /* fragments are never sent */
    if (qm) {
        r->path.p = tp;
        r->path.len = (size_t)(qm - tp);
        r->has_query = 1;
        r->query.p = qm + 1;
        r->query.len = tl - r->path.len - 1;
    } else {
        r->path.p = tp;
        r->path.len = tl;
    }
    return 0;
}

/* --- header fields ---------------------------------------------------- */

static int parse_header_line(const char *p, size_t len, pf_http_request *r)
{
    if (len && (p[0] == ' ' || p[0] == '\t')) return PF_ERR_PARSE; /* obs-fold */
    size_t i = 0;
    while (i < len && is_tchar((unsigned char)p[i])) i++;
    if (i == 0 || i >= len || p[i] != ':') return PF_ERR_PARSE;
    for (size_t k = i + 1; k < len; k++)
        if (!is_vchar_ws((unsigned char)p[k])) return PF_ERR_PARSE;
    if (r->num_headers >= PF_HTTP_MAX_HEADERS) return PF_ERR_LIMIT;
    pf_http_header *h = &r->headers[r->num_headers++];
    h->name.p = p;
    h->name.len = i;
    h->value = str_trim(p + i + 1, len - i - 1);
    return 0;
}

static int token_list_has(pf_http_str v, const char *token)
{
    const char *p = v.p, *end = v.p + v.len;
    while (p < end) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        if (!c) c = end;
        if (pf_http_str_ieq(str_trim(p, (size_t)(c - p)), token)) return 1;
        p = c + 1;
    }
    return 0;
}

static int finish_headers(pf_http_request *r)
{
    int hosts = 0;
    for (size_t i = 0; i < r->num_headers; i++) {
        const pf_http_header *h = &r->headers[i];
        if (pf_http_str_ieq(h->name, "Host")) {
            if (hosts++) return PF_ERR_PARSE;
            r->host = h->value;
        } else if (pf_http_str_ieq(h->name, "Content-Length")) {
            uint64_t v;
            if (parse_u64(h->value.p, h->value.len, &v)) return PF_ERR_PARSE;
            if (r->has_content_length && v != r->content_length)
                return PF_ERR_PARSE;
            r->has_content_length = 1;
            r->content_length = v;
        } else if (pf_http_str_ieq(h->name, "Transfer-Encoding")) {
            return PF_ERR_UNSUPPORTED;
        }
    }
    if (r->version_minor == 1 && hosts != 1) return PF_ERR_PARSE;
    if (r->version_minor == 1)
        r->keep_alive = !pf_http_header_has_token(r, "Connection", "close");
    else
        r->keep_alive = pf_http_header_has_token(r, "Connection", "keep-alive") &&
                        !pf_http_header_has_token(r, "Connection", "close");
    return 0;
}

int pf_http_request_parse(const uint8_t *buf, size_t len, size_t max_head,
                          pf_http_request *req)
{
    if (max_head == 0 || max_head > PF_HTTP_MAX_HEAD) max_head = PF_HTTP_MAX_HEAD;
    memset(req, 0, sizeof *req);
    const char *s = (const char *)buf;
    size_t limit = len < max_head ? len : max_head;
    size_t pos = 0;
    int line_no = 0;
    /* RFC 9112 2.2: ignore at least one empty line before the request. */
    if (limit >= 2 && s[0] == '\r' && s[1] == '\n') pos = 2;
    else if (limit >= 1 && s[0] == '\n') pos = 1;
    for (;;) {
        const char *nl = pos < limit ? memchr(s + pos, '\n', limit - pos) : NULL;
        if (!nl) {
            if (len >= max_head) {
                req->target_too_long = line_no == 0;
                return PF_ERR_LIMIT;
            }
            /* Reject an over-long request line or bad bytes early. */
            if (line_no == 0) {
                for (size_t k = pos; k < limit; k++) {
                    unsigned char c = (unsigned char)s[k];
                    if (c != '\r' && (c < 0x20 && c != '\t')) return PF_ERR_PARSE;
                }
            }
            return 0;
        }
        size_t end = (size_t)(nl - s);
        size_t llen = end - pos;
        if (llen && s[end - 1] == '\r') llen--;
        for (size_t k = 0; k < llen; k++)
            if (s[pos + k] == '\r') return PF_ERR_PARSE; /* bare CR */
        int rc;
        if (line_no == 0) {
            rc = parse_request_line(s + pos, llen, req);
        } else if (llen == 0) {
            rc = finish_headers(req);
            if (rc) return rc;
            req->head_len = end + 1;
            return (int)req->head_len;
        } else {
            rc = parse_header_line(s + pos, llen, req);
        }
        if (rc) return rc;
        line_no++;
        pos = end + 1;
    }
}

const pf_http_str *pf_http_header_get(const pf_http_request *req, const char *name)
{
    for (size_t i = 0; i < req->num_headers; i++)
        if (pf_http_str_ieq(req->headers[i].name, name)) return &req->headers[i].value;
    return NULL;
}

int pf_http_header_has_token(const pf_http_request *req, const char *name,
                             const char *token)
{
    for (size_t i = 0; i < req->num_headers; i++)
        if (pf_http_str_ieq(req->headers[i].name, name) &&
            token_list_has(req->headers[i].value, token))
            return 1;
    return 0;
}

/* --- URLs ------------------------------------------------------------- */

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int pf_http_pct_decode(const char *src, size_t len, int plus_is_space,
                       uint8_t *out, size_t cap, size_t *out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == '%') {
            if (len - i < 3) return PF_ERR_PARSE;
            int hi = hexval((unsigned char)src[i + 1]);
            int lo = hexval((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0) return PF_ERR_PARSE;
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (o >= cap) return PF_ERR_LIMIT;
        out[o++] = c;
    }
    *out_len = o;
    return 0;
}

int pf_http_pct_encode(pf_buf *out, const void *p, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    const uint8_t *b = p;
    int rc = pf_buf_reserve(out, n * 3);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = b[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~') {
            out->data[out->len++] = c;
        } else {
            out->data[out->len++] = '%';
            out->data[out->len++] = (uint8_t)hex[c >> 4];
            out->data[out->len++] = (uint8_t)hex[c & 15];
        }
    }
    return 0;
}

void pf_http_query_init(pf_http_query_iter *it, const char *q, size_t len)
{
    it->p = q;
    it->end = q ? q + len : q;
}

int pf_http_query_next(pf_http_query_iter *it, pf_http_str *key, pf_http_str *val)
{
    while (it->p && it->p < it->end) {
        const char *amp = memchr(it->p, '&', (size_t)(it->end - it->p));
        const char *pe = amp ? amp : it->end;
        const char *start = it->p;
        it->p = amp ? amp + 1 : it->end;
        if (pe == start) continue;
        const char *eq = memchr(start, '=', (size_t)(pe - start));
        key->p = start;
        if (eq) {
            key->len = (size_t)(eq - start);
            val->p = eq + 1;
            val->len = (size_t)(pe - eq - 1);
        } else {
            key->len = (size_t)(pe - start);
            val->p = pe;
            val->len = 0;
        }
        return 1;
    }
    return 0;
}

int pf_http_query_get(const char *q, size_t len, const char *key, uint8_t *out,
                      size_t cap, size_t *out_len)
{
    pf_http_query_iter it;
    pf_http_str k, v;
    size_t klen = strlen(key);
    pf_http_query_init(&it, q, len);
    while (pf_http_query_next(&it, &k, &v)) {
        uint8_t kb[64];
        size_t kn;
        if (pf_http_pct_decode(k.p, k.len, 1, kb, sizeof kb, &kn)) continue;
        if (kn != klen || memcmp(kb, key, kn) != 0) continue;
        return pf_http_pct_decode(v.p, v.len, 1, out, cap, out_len);
    }
    return PF_ERR_NOTFOUND;
}

/* --- Ranges ----------------------------------------------------------- */

/* 1*DIGIT saturating at UINT64_MAX (huge positions are still valid). */
static int digits_sat(const char *p, size_t len, uint64_t *out)
{
    if (len == 0) return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!is_digit((unsigned char)p[i])) return -1;
        unsigned d = (unsigned)(p[i] - '0');
        v = (v > (UINT64_MAX - d) / 10) ? UINT64_MAX : v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Compares two 1*DIGIT strings as numbers of any size: <0, 0, >0. */
static int digits_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    while (an > 1 && *a == '0') a++, an--;
    while (bn > 1 && *b == '0') b++, bn--;
    if (an != bn) return an < bn ? -1 : 1;
    return memcmp(a, b, an);
}

int pf_http_range_parse(const char *v, size_t len, uint64_t total, pf_http_range *out)
{
    pf_http_str s = str_trim(v, len);
    if (s.len < 6) return PF_ERR_UNSUPPORTED;
    pf_http_str unit = {s.p, 5};
    if (!pf_http_str_ieq(unit, "bytes")) return PF_ERR_UNSUPPORTED;
    size_t i = 5;
    while (i < s.len && (s.p[i] == ' ' || s.p[i] == '\t')) i++;
    if (i >= s.len || s.p[i] != '=') return PF_ERR_UNSUPPORTED;
    i++;
    /* range-set = 1#range-spec: allow empty list elements, require one. */
    const char *p = s.p + i, *end = s.p + s.len;
    pf_http_str spec = {NULL, 0};
    int specs = 0;
    while (p <= end) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        if (!c) c = end;
        pf_http_str e = str_trim(p, (size_t)(c - p));
        if (e.len) {
            specs++;
            spec = e;
        }
        if (c == end) break;
        p = c + 1;
    }
    if (specs != 1) return PF_ERR_UNSUPPORTED;
    const char *dash = memchr(spec.p, '-', spec.len);
    if (!dash) return PF_ERR_UNSUPPORTED;
    size_t alen = (size_t)(dash - spec.p), blen = spec.len - alen - 1;
    uint64_t a, b;
    if (alen == 0) { /* suffix-range "-n" */
        if (digits_sat(dash + 1, blen, &b)) return PF_ERR_UNSUPPORTED;
        if (b == 0 || total == 0) return PF_ERR_RANGE;
        out->start = b >= total ? 0 : total - b;
        out->end = total - 1;
        return 0;
    }
    if (digits_sat(spec.p, alen, &a)) return PF_ERR_UNSUPPORTED;
    if (blen == 0) {
        b = UINT64_MAX;
    } else {
        if (digits_sat(dash + 1, blen, &b)) return PF_ERR_UNSUPPORTED;
        /* invalid (last < first): ignore.  Compared as decimal strings, as
         * both may have saturated at UINT64_MAX. */
        if (digits_cmp(dash + 1, blen, spec.p, alen) < 0) return PF_ERR_UNSUPPORTED;
    }
    if (a >= total) return PF_ERR_RANGE;
    out->start = a;
    out->end = b >= total ? total - 1 : b;
    return 0;
}

/* --- Responses -------------------------------------------------------- */

const char *pf_http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    }
    return "Unknown";
}

void pf_http_resp_head_init(pf_http_resp_head *h, int status)
{
    memset(h, 0, sizeof *h);
    h->status = status;
    h->content_length = -1;
    h->keep_alive = 1;
    h->date = -1;
}

void pf_http_date_format(int64_t t, char *out, size_t outlen)
{
    static const char *const wd[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
    static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    if (t < 0) t = 0;
    if (t > INT64_C(253402300799)) t = INT64_C(253402300799); /* 9999-12-31 */
    int64_t days = t / 86400, secs = t % 86400;
    /* civil_from_days (H. Hinnant), days since 1970-01-01 >= 0. */
    int64_t z = days + 719468;
    int64_t era = z / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2) y++;
    snprintf(out, outlen, "%s, %02d %s %04d %02d:%02d:%02d GMT", wd[days % 7], (int)d,
             mo[m - 1], (int)y, (int)(secs / 3600), (int)(secs / 60 % 60),
             (int)(secs % 60));
}

static int has_crlf(const char *s) { return s && strpbrk(s, "\r\n") != NULL; }

int pf_http_resp_head_build(pf_buf *out, const pf_http_resp_head *h)
{
    if (h->status < 100 || h->status > 999) return PF_ERR_INVAL;
    if (has_crlf(h->reason) || has_crlf(h->content_type)) return PF_ERR_INVAL;
    if (h->extra) {
        /* Every line must end in CRLF and contain no bare CR/LF. */
        const char *e = h->extra;
        while (*e) {
            const char *nl = strstr(e, "\r\n");
            if (!nl || nl == e) return PF_ERR_INVAL;
            for (const char *k = e; k < nl; k++)
                if (*k == '\r' || *k == '\n') return PF_ERR_INVAL;
            e = nl + 2;
        }
    }
    size_t start = out->len;
    int rc = pf_buf_appendf(out, "HTTP/1.1 %d %s\r\n", h->status,
                            h->reason ? h->reason : pf_http_reason(h->status));
    if (!rc && h->date >= 0) {
        char d[40];
        pf_http_date_format(h->date, d, sizeof d);
        rc = pf_buf_appendf(out, "Date: %s\r\n", d);
    }
    if (!rc && h->content_type)
        rc = pf_buf_appendf(out, "Content-Type: %s\r\n", h->content_type);
    if (!rc && h->content_length >= 0)
        rc = pf_buf_appendf(out, "Content-Length: %lld\r\n", (long long)h->content_length);
    if (!rc && h->chunked) rc = pf_buf_append_str(out, "Transfer-Encoding: chunked\r\n");
    if (!rc && h->accept_ranges) rc = pf_buf_append_str(out, "Accept-Ranges: bytes\r\n");
    if (!rc && h->has_range)
        rc = pf_buf_appendf(out, "Content-Range: bytes %llu-%llu/%llu\r\n",
                            (unsigned long long)h->range.start,
                            (unsigned long long)h->range.end,
                            (unsigned long long)h->range_total);
    else if (!rc && h->range_unsatisfied)
        rc = pf_buf_appendf(out, "Content-Range: bytes */%llu\r\n",
                            (unsigned long long)h->range_total);
    if (!rc)
        rc = pf_buf_append_str(out, h->keep_alive ? "Connection: keep-alive\r\n"
                                                  : "Connection: close\r\n");
    if (!rc && h->extra) rc = pf_buf_append_str(out, h->extra);
    if (!rc) rc = pf_buf_append_str(out, "\r\n");
    if (rc) out->len = start < out->len ? start : out->len;
    return rc;
}
