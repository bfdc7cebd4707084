#include "core/media/media_http.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec/http_parse.h"

/* --- routes ----------------------------------------------------------- */

static int path_is(const char *p, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len == n && memcmp(p, lit, n) == 0;
}

/* Parses 1..9 digits at p; the rest must be empty or start with '/'. */
static int parse_index(const char *p, size_t len, uint32_t *out)
{
    size_t i = 0;
    uint32_t v = 0;
    while (i < len && p[i] >= '0' && p[i] <= '9') {
        if (i == 9) return -1;
        v = v * 10 + (uint32_t)(p[i] - '0');
        i++;
    }
    if (i == 0 || (i < len && p[i] != '/')) return -1;
    *out = v;
    return 0;
}

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int pf_media_path_safe(const char *path, size_t len)
{
    if (len == 0 || path[0] != '/') return 0;
    size_t i = 1;
    for (;;) {
        size_t j = i;
        while (j < len && path[j] != '/') j++;
        /* The segment path[i..j), decoded on the fly. */
        size_t decoded = 0;
        int dots_only = 1;
        for (size_t k = i; k < j; k++) {
            unsigned char c = (unsigned char)path[k];
            if (c == '%') {
                if (j - k < 3) return 0;
                int hi = hex_digit((unsigned char)path[k + 1]);
                int lo = hex_digit((unsigned char)path[k + 2]);
                if (hi < 0 || lo < 0) return 0;
                c = (unsigned char)(hi << 4 | lo);
                k += 2;
            }
            if (c == 0 || c == '/' || c == '\\') return 0;
            if (c != '.') dots_only = 0;
            decoded++;
        }
        if (j >= len) return !(dots_only && decoded >= 1 && decoded <= 2);
        if (decoded == 0) return 0; /* "//" */
        if (dots_only && decoded <= 2) return 0;
        i = j + 1;
    }
}

pf_media_route_kind pf_media_route(const char *path, size_t len, uint32_t *index)
{
    if (path_is(path, len, "/") || path_is(path, len, "/index.html")) return PF_MEDIA_ROUTE_INDEX;
    if (path_is(path, len, "/playlist.m3u")) return PF_MEDIA_ROUTE_PLAYLIST;
    if (path_is(path, len, "/stats.json")) return PF_MEDIA_ROUTE_STATS;
    if (path_is(path, len, "/metrics")) return PF_MEDIA_ROUTE_METRICS;
    if (path_is(path, len, "/control")) return PF_MEDIA_ROUTE_CONTROL;
    if (len > 3 && memcmp(path, "/t/", 3) == 0) return PF_MEDIA_ROUTE_PATH;
    if (len > 8 && memcmp(path, "/player/", 8) == 0) return PF_MEDIA_ROUTE_PLAYER;
    static const char *prefixes[] = {"/files/", "/stream/"};
    for (size_t k = 0; k < 2; k++) {
        size_t n = strlen(prefixes[k]);
        if (len > n && memcmp(path, prefixes[k], n) == 0 &&
            parse_index(path + n, len - n, index) == 0)
            return PF_MEDIA_ROUTE_FILE;
    }
    return PF_MEDIA_ROUTE_NONE;
}

int pf_media_path_decode(const char *path, size_t len, char *out, size_t outlen)
{
    if (len <= 3 || memcmp(path, "/t/", 3) != 0 || outlen == 0) return PF_ERR_PARSE;
    size_t o = 0;
    for (size_t k = 3; k < len; k++) {
        unsigned char c = (unsigned char)path[k];
        if (c == '%') {
            if (len - k < 3) return PF_ERR_PARSE;
            int hi = hex_digit((unsigned char)path[k + 1]), lo = hex_digit((unsigned char)path[k + 2]);
            if (hi < 0 || lo < 0) return PF_ERR_PARSE;
            c = (unsigned char)(hi << 4 | lo);
            k += 2;
        }
        if (c == 0) return PF_ERR_PARSE;
        if (o + 1 >= outlen) return PF_ERR_LIMIT;
        out[o++] = (char)c;
    }
    out[o] = 0;
    return o ? 0 : PF_ERR_PARSE;
}

static int player_name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

int pf_media_player_name(const char *path, size_t len, char *out, size_t outlen)
{
    if (len <= 8 || memcmp(path, "/player/", 8) != 0) return PF_ERR_PARSE;
    const char *name = path + 8;
    size_t n = len - 8;
    if (n > PF_MEDIA_PLAYER_NAME_MAX || name[0] == '.') return PF_ERR_PARSE;
    for (size_t i = 0; i < n; i++)
        if (!player_name_char((unsigned char)name[i])) return PF_ERR_PARSE;
    if (n + 1 > outlen) return PF_ERR_LIMIT;
    memcpy(out, name, n);
    out[n] = 0;
    if (!pf_media_player_type(out)) {
        out[0] = 0;
        return PF_ERR_PARSE;
    }
    return 0;
}

/* --- content types ---------------------------------------------------- */

static const struct {
    const char *ext, *type;
} mime_types[] = {
    {"mp4", "video/mp4"},         {"m4v", "video/mp4"},
    {"mkv", "video/x-matroska"},  {"mk3d", "video/x-matroska"},
    {"webm", "video/webm"},       {"avi", "video/x-msvideo"},
    {"mov", "video/quicktime"},   {"qt", "video/quicktime"},
    {"ts", "video/mp2t"},         {"m2ts", "video/mp2t"},
    {"mts", "video/mp2t"},        {"mpg", "video/mpeg"},
    {"mpeg", "video/mpeg"},       {"ogv", "video/ogg"},
    {"flv", "video/x-flv"},       {"wmv", "video/x-ms-wmv"},
    {"3gp", "video/3gpp"},        {"mp3", "audio/mpeg"},
    {"m4a", "audio/mp4"},         {"m4b", "audio/mp4"},
    {"aac", "audio/aac"},         {"flac", "audio/flac"},
    {"wav", "audio/wav"},         {"ogg", "audio/ogg"},
    {"oga", "audio/ogg"},         {"opus", "audio/ogg"},
    {"mka", "audio/x-matroska"},  {"wma", "audio/x-ms-wma"},
    {"m3u8", "application/vnd.apple.mpegurl"},
    {"m3u", "audio/x-mpegurl"},   {"mpd", "application/dash+xml"},
    {"srt", "application/x-subrip"}, {"vtt", "text/vtt; charset=utf-8"},
    {"ass", "text/x-ssa"},        {"ssa", "text/x-ssa"},
    {"jpg", "image/jpeg"},        {"jpeg", "image/jpeg"},
    {"png", "image/png"},         {"gif", "image/gif"},
    {"webp", "image/webp"},       {"txt", "text/plain; charset=utf-8"},
    {"nfo", "text/plain; charset=utf-8"}, {"json", "application/json"},
    {"pdf", "application/pdf"},
};

static const char *extension(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    return dot && dot != base ? dot + 1 : NULL;
}

static int ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a, y = *b;
        if (x >= 'A' && x <= 'Z') x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = (char)(y - 'A' + 'a');
        if (x != y) return 0;
    }
    return *a == *b;
}

const char *pf_media_content_type(const char *path)
{
    const char *ext = path ? extension(path) : NULL;
    if (ext)
        for (size_t i = 0; i < sizeof mime_types / sizeof mime_types[0]; i++)
            if (ieq(ext, mime_types[i].ext)) return mime_types[i].type;
    return "application/octet-stream";
}

/* A web player's own files (--player-dir): served only with these types,
 * and only on /player/, never from the torrent. */
static const struct {
    const char *ext, *type;
} player_types[] = {
    {"html", "text/html; charset=utf-8"},       {"htm", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},   {"mjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},         {"map", "application/json"},
    {"json", "application/json"},
};

const char *pf_media_player_type(const char *name)
{
    const char *ext = name ? extension(name) : NULL;
    if (ext)
        for (size_t i = 0; i < sizeof player_types / sizeof player_types[0]; i++)
            if (ieq(ext, player_types[i].ext)) return player_types[i].type;
    return NULL;
}

int pf_media_is_video(const char *path)
{
    return strncmp(pf_media_content_type(path), "video/", 6) == 0;
}

int pf_media_is_media(const char *path)
{
    const char *t = pf_media_content_type(path);
    return strncmp(t, "video/", 6) == 0 || strncmp(t, "audio/", 6) == 0;
}

/* --- Range ------------------------------------------------------------ */

void pf_media_range_plan(const char *range, size_t range_len, int has_if_range,
                         uint64_t size, pf_media_range *out)
{
    out->status = 200;
    out->start = 0;
    out->length = size;
    if (!range || has_if_range) return;
    pf_http_range r;
    int rc = pf_http_range_parse(range, range_len, size, &r);
    if (rc == 0) {
        out->status = 206;
        out->start = r.start;
        out->length = r.end - r.start + 1;
    } else if (rc == PF_ERR_RANGE) {
        out->status = 416;
        out->start = 0;
        out->length = 0;
    }
}

/* --- hosts and URLs --------------------------------------------------- */

int pf_media_host_valid(const char *h, size_t len)
{
    if (len == 0 || len > 255) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = h[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == ':' || c == '[' || c == ']'))
            return 0;
    }
    return 1;
}

int pf_media_host_is_loopback(const char *h, size_t len)
{
    if (!pf_media_host_valid(h, len)) return 0;
    size_t hl = len;
    if (h[0] == '[') {
        const char *close = memchr(h, ']', len);
        if (!close) return 0;
        hl = (size_t)(close - h) + 1;
        if (hl != len && h[hl] != ':') return 0;
        return hl == 5 && memcmp(h, "[::1]", 5) == 0;
    }
    const char *colon = memchr(h, ':', len);
    if (colon) hl = (size_t)(colon - h);
    if (hl == 9) {
        char lower[10];
        for (size_t i = 0; i < 9; i++)
            lower[i] = (char)(h[i] >= 'A' && h[i] <= 'Z' ? h[i] - 'A' + 'a' : h[i]);
        lower[9] = 0;
        if (strcmp(lower, "localhost") == 0) return 1;
    }
    /* 127.a.b.c: four dotted decimal parts */
    if (hl < 9 || memcmp(h, "127.", 4) != 0) return 0;
    int dots = 0, digits = 0;
    for (size_t i = 3; i < hl; i++) {
        if (h[i] == '.') {
            if (i > 3 && digits == 0) return 0;
            dots++;
            digits = 0;
        } else if (h[i] >= '0' && h[i] <= '9') {
            if (++digits > 3) return 0;
        } else {
            return 0;
        }
    }
    return dots == 3 && digits > 0;
}

static const char *basename_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

int pf_media_file_url(pf_buf *out, const char *base, uint32_t index, const char *path)
{
    int rc = pf_buf_appendf(out, "%s/files/%u/", base, (unsigned)index);
    const char *b = basename_of(path ? path : "");
    if (!rc) rc = pf_http_pct_encode(out, b, strlen(b));
    return rc;
}

/* --- bodies ----------------------------------------------------------- */

static int m3u_entry(pf_buf *out, const char *base, const pf_media_file *f)
{
    int rc = pf_buf_append_str(out, "#EXTINF:-1,");
    for (const char *p = f->path; !rc && *p; p++)
        rc = pf_buf_append_u8(out, (uint8_t)(*p == '\r' || *p == '\n' ? ' ' : *p));
    if (!rc) rc = pf_buf_append_str(out, "\n");
    if (!rc) rc = pf_media_file_url(out, base, f->index, f->path);
    if (!rc) rc = pf_buf_append_str(out, "\n");
    return rc;
}

int pf_media_m3u(pf_buf *out, const char *base, const pf_media_file *files, size_t n)
{
    int rc = pf_buf_append_str(out, "#EXTM3U\n");
    if (n > PF_MEDIA_MAX_LIST) n = PF_MEDIA_MAX_LIST;
    for (int pass = 0; pass < 2 && !rc; pass++)
        for (size_t i = 0; i < n && !rc; i++)
            if (pf_media_is_media(files[i].path) == (pass == 0))
                rc = m3u_entry(out, base, &files[i]);
    return rc;
}

static int html_text(pf_buf *out, const char *s)
{
    int rc = 0;
    for (; *s && !rc; s++) {
        switch (*s) {
        case '<': rc = pf_buf_append_str(out, "&lt;"); break;
        case '>': rc = pf_buf_append_str(out, "&gt;"); break;
        case '&': rc = pf_buf_append_str(out, "&amp;"); break;
        case '"': rc = pf_buf_append_str(out, "&quot;"); break;
        case '\'': rc = pf_buf_append_str(out, "&#39;"); break;
        default: rc = pf_buf_append_u8(out, (uint8_t)*s);
        }
    }
    return rc;
}

static void fmt_size(uint64_t n, char *out, size_t cap)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(out, cap, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

int pf_media_html(pf_buf *out, const char *name, const pf_media_file *files, size_t n)
{
    int rc = pf_buf_append_str(out, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
    if (!rc) rc = html_text(out, name);
    if (!rc) rc = pf_buf_append_str(out, "</title></head><body>\n<h1>");
    if (!rc) rc = html_text(out, name);
    if (!rc)
        rc = pf_buf_append_str(out, "</h1>\n<p><a href=\"/playlist.m3u\">playlist.m3u</a> | "
                                    "<a href=\"/stats.json\">stats.json</a> | "
                                    "<a href=\"/metrics\">metrics</a></p>\n<ol start=\"0\">\n");
    if (n > PF_MEDIA_MAX_LIST) n = PF_MEDIA_MAX_LIST;
    for (size_t i = 0; i < n && !rc; i++) {
        char sz[32];
        fmt_size(files[i].size, sz, sizeof sz);
        rc = pf_buf_appendf(out, "<li><a href=\"/files/%u/", (unsigned)files[i].index);
        pf_buf enc;
        pf_buf_init(&enc);
        const char *b = basename_of(files[i].path);
        if (!rc) rc = pf_http_pct_encode(&enc, b, strlen(b));
        if (!rc) rc = pf_buf_append(out, enc.data, enc.len); /* only unreserved and %XX */
        pf_buf_free(&enc);
        if (!rc) rc = pf_buf_append_str(out, "\">");
        if (!rc) rc = html_text(out, files[i].path);
        if (!rc) rc = pf_buf_appendf(out, "</a> (%s)</li>\n", sz);
    }
    if (!rc) rc = pf_buf_append_str(out, "</ol>\n</body></html>\n");
    return rc;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) return (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80) return 0;
        if (c == 0xe0 && s[1] < 0xa0) return 0; /* overlong */
        if (c == 0xed && s[1] >= 0xa0) return 0; /* surrogates */
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80) return 0;
        if (c == 0xf0 && s[1] < 0x90) return 0;
        if (c == 0xf4 && s[1] >= 0x90) return 0;
        return 4;
    }
    return 0;
}

int pf_media_json_str(pf_buf *out, const char *s)
{
    int rc = pf_buf_append_u8(out, '"');
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p && !rc) {
        unsigned c = *p;
        if (c == '"' || c == '\\') {
            rc = pf_buf_append_u8(out, '\\');
            if (!rc) rc = pf_buf_append_u8(out, (uint8_t)c);
            p++;
        } else if (c < 0x20 || c == 0x7f) {
            static const char esc[] = "btn?fr";
            if (c >= 8 && c <= 13 && c != 11)
                rc = pf_buf_appendf(out, "\\%c", esc[c - 8]);
            else
                rc = pf_buf_appendf(out, "\\u%04x", c);
            p++;
        } else {
            size_t n = utf8_len(p); /* stops at the NUL: it is not 10xxxxxx */
            if (n == 0) {
                rc = pf_buf_append_str(out, "\\ufffd");
                p++;
            } else {
                rc = pf_buf_append(out, p, n);
                p += n;
            }
        }
    }
    if (!rc) rc = pf_buf_append_u8(out, '"');
    return rc;
}

/* A finite number or null. */
static int json_num(pf_buf *out, double v, const char *fmt)
{
    if (!isfinite(v)) return pf_buf_append_str(out, "null");
    return pf_buf_appendf(out, fmt, v);
}

/* Seconds that are -1 until measured: null then. */
static int json_time(pf_buf *out, double v)
{
    if (v < 0) return pf_buf_append_str(out, "null");
    return json_num(out, v, "%.3f");
}

static const char *state_name(int s)
{
    switch (s) {
    case PF_TS_METADATA: return "metadata";
    case PF_TS_CHECKING: return "checking";
    case PF_TS_DOWNLOADING: return "downloading";
    case PF_TS_SEEDING: return "seeding";
    case PF_TS_STOPPED: return "stopped";
    }
    return "unknown";
}

static double cdn_share(const pf_torrent_stats *st)
{
    /* Summed as doubles: the u64 sum may wrap. */
    double c = (double)st->cdn_downloaded, p = (double)st->peer_downloaded;
    return c + p > 0 ? c / (c + p) : 0.0;
}

static int json_qoe(pf_buf *out, const pf_qoe *q)
{
    int rc = pf_buf_appendf(out, "{\"active\":%s,\"ttfb_s\":", q->active ? "true" : "false");
    if (!rc) rc = json_time(out, q->ttfb_s);
    if (!rc) rc = pf_buf_append_str(out, ",\"time_to_playable_s\":");
    if (!rc) rc = json_time(out, q->time_to_playable_s);
    if (!rc) rc = pf_buf_appendf(out, ",\"stalls\":%u,\"stall_s\":", q->stalls);
    if (!rc) rc = json_num(out, q->stall_s, "%.3f");
    if (!rc) rc = pf_buf_appendf(out, ",\"seeks\":%u,\"bitrate_bps\":", q->seeks);
    if (!rc) rc = json_num(out, q->bitrate_bps, "%.0f");
    if (!rc)
        rc = pf_buf_appendf(out, ",\"bitrate_from_container\":%s,\"playhead\":%llu,\"buffer_s\":",
                            q->bitrate_from_container ? "true" : "false",
                            (unsigned long long)q->playhead);
    if (!rc) rc = json_num(out, q->buffer_s, "%.3f");
    if (!rc)
        rc = pf_buf_appendf(out, ",\"bytes_served\":%llu}", (unsigned long long)q->bytes_served);
    return rc;
}

static const struct {
    uint32_t bit;
    const char *name;
} off_names[] = {{PF_UPLOAD_OFF_USER, "user"},
                 {PF_UPLOAD_OFF_METERED, "metered"},
                 {PF_UPLOAD_OFF_BATTERY, "battery"},
                 {PF_UPLOAD_OFF_BUDGET, "budget"}};

static int json_reasons(pf_buf *out, uint32_t bits)
{
    int rc = pf_buf_append_u8(out, '['), first = 1;
    for (size_t i = 0; i < sizeof off_names / sizeof off_names[0] && !rc; i++) {
        if (!(bits & off_names[i].bit)) continue;
        rc = pf_buf_appendf(out, "%s\"%s\"", first ? "" : ",", off_names[i].name);
        first = 0;
    }
    if (!rc) rc = pf_buf_append_u8(out, ']');
    return rc;
}

/* An unsigned count, or null when `known` is 0. */
static int json_u64_or_null(pf_buf *out, int known, uint64_t v)
{
    if (!known) return pf_buf_append_str(out, "null");
    return pf_buf_appendf(out, "%llu", (unsigned long long)v);
}

int pf_media_upload_json(pf_buf *out, const pf_upload_status *u)
{
    int rc = pf_buf_appendf(out, "{\"enabled\":%s,\"state\":\"%s\",\"off\":",
                            u->enabled ? "true" : "false", u->enabled ? "on" : "off");
    if (!rc) rc = json_reasons(out, u->off);
    if (!rc) rc = pf_buf_append_str(out, ",\"off_when\":");
    if (!rc) rc = json_reasons(out, u->off_when);
    if (!rc)
        rc = pf_buf_appendf(out, ",\"metered\":%s,\"on_battery\":%s,\"budget\":",
                            u->metered ? "true" : "false", u->on_battery ? "true" : "false");
    int b = u->budget != 0;
    if (!rc) rc = json_u64_or_null(out, b, u->budget);
    if (!rc) rc = pf_buf_append_str(out, ",\"budget_used\":");
    if (!rc) rc = json_u64_or_null(out, b, u->budget_used);
    if (!rc) rc = pf_buf_append_str(out, ",\"budget_left\":");
    if (!rc) rc = json_u64_or_null(out, b, u->budget_left);
    if (!rc) rc = pf_buf_append_str(out, ",\"period\":");
    if (!rc) {
        char period[sizeof u->period + 1];
        memcpy(period, u->period, sizeof u->period);
        period[sizeof u->period] = 0; /* in case it was filled to the end */
        rc = b ? pf_media_json_str(out, period) : pf_buf_append_str(out, "null");
    }
    if (!rc) rc = pf_buf_append_str(out, ",\"share\":");
    if (!rc) rc = u->share > 0 ? json_num(out, u->share, "%g") : pf_buf_append_str(out, "null");
    if (!rc) rc = pf_buf_append_str(out, ",\"uplink_bps\":");
    if (!rc) rc = u->uplink_bps > 0 ? json_num(out, u->uplink_bps, "%.0f") : pf_buf_append_str(out, "null");
    if (!rc) rc = pf_buf_append_str(out, ",\"cap_bps\":");
    if (!rc) rc = json_u64_or_null(out, u->cap_bps != 0, u->cap_bps);
    if (!rc) rc = pf_buf_appendf(out, ",\"uploaded\":%llu}", (unsigned long long)u->uploaded);
    return rc;
}

/* "datagrams":{...}, (with its trailing comma). */
static int json_datagrams(pf_buf *out, const pf_datagram_stats *dg)
{
    return pf_buf_appendf(out,
                          "\"datagrams\":{\"received\":%llu,\"dropped_in\":%llu,\"dropped_out\":%llu,"
                          "\"utp_invalid\":%llu},",
                          (unsigned long long)dg->received, (unsigned long long)dg->dropped_in,
                          (unsigned long long)dg->dropped_out, (unsigned long long)dg->utp_invalid);
}

int pf_media_stats_add_media(pf_buf *out, const pf_media_qoe *q)
{
    /* The object so far ends in '}' (maybe a newline after it). */
    while (out->len && (out->data[out->len - 1] == '\n' || out->data[out->len - 1] == 0)) out->len--;
    if (!out->len || out->data[out->len - 1] != '}') return PF_ERR_INVAL;
    out->len--;
    int rc = pf_buf_appendf(out,
                            ",\"media\":{\"tracks\":%u,\"track\":%d,\"switches\":%u,\"seeks\":%u,"
                            "\"stalls\":%u,\"stall_s\":%.3f,\"startup_s\":",
                            q->ntracks, q->track, q->switches, q->seeks, q->stalls, q->stall_s);
    if (!rc) rc = json_time(out, q->startup_s);
    if (!rc) rc = pf_buf_append_str(out, ",\"position_s\":");
    if (!rc) rc = json_time(out, q->position_s);
    if (!rc)
        rc = pf_buf_appendf(out, ",\"played_s\":%.3f,\"mean_bitrate_bps\":%.0f,\"renditions\":[", q->played_s,
                            q->mean_bitrate_bps);
    for (uint32_t i = 0; i < q->ntracks && i < PF_MEDIA_MAX_TRACKS && !rc; i++)
        rc = pf_buf_appendf(out, "%s{\"bandwidth\":%llu,\"played_s\":%.3f}", i ? "," : "",
                            (unsigned long long)q->bandwidth[i], q->track_played_s[i]);
    if (!rc) rc = pf_buf_append_str(out, "]}}\n");
    return rc;
}

int pf_media_stats_json(pf_buf *out, const char *name, const pf_torrent_stats *st,
                        const pf_upload_status *up, const pf_datagram_stats *dg,
                        const pf_media_file *files, size_t n, const pf_source_stats *src, size_t nsrc)
{
    int rc = pf_buf_append_str(out, "{\"name\":");
    if (!rc) rc = pf_media_json_str(out, name);
    if (!rc)
        rc = pf_buf_appendf(
            out,
            ",\"state\":\"%s\",\"pieces\":%u,\"have\":%u,\"total_length\":%llu,"
            "\"have_bytes\":%llu,\"uploaded\":%llu,\"downloaded\":%llu,\"wasted\":%llu,"
            "\"hash_failures\":%u,\"peers\":%u,\"seeds\":%u,\"unchoked\":%u,",
            state_name(st->state), st->pieces, st->have, (unsigned long long)st->total_length,
            (unsigned long long)st->have_bytes, (unsigned long long)st->uploaded,
            (unsigned long long)st->downloaded, (unsigned long long)st->wasted,
            st->hash_failures, st->peers, st->seeds, st->unchoked);
    if (!rc) rc = pf_buf_append_str(out, "\"down_rate\":");
    if (!rc) rc = json_num(out, st->down_rate, "%.0f");
    if (!rc) rc = pf_buf_append_str(out, ",\"down_peak_rate\":");
    if (!rc) rc = json_num(out, st->down_peak_rate, "%.0f");
    if (!rc) rc = pf_buf_append_str(out, ",\"up_rate\":");
    if (!rc) rc = json_num(out, st->up_rate, "%.0f");
    if (!rc)
        rc = pf_buf_appendf(out,
                            ",\"cdn_downloaded\":%llu,\"peer_downloaded\":%llu,\"webseeds\":%u,"
                            "\"remote_downloaded\":%llu,\"remote_uploaded\":%llu,"
                            "\"cdn_share\":%.4f,\"complete\":%s,\"p2p_off\":%s,\"operator_upload_cap\":%llu,"
                            "\"ssl\":%s,\"tls_peers\":%u,\"tls_refused\":%llu,",
                            (unsigned long long)st->cdn_downloaded,
                            (unsigned long long)st->peer_downloaded, st->webseeds,
                            (unsigned long long)st->remote_downloaded,
                            (unsigned long long)st->remote_uploaded, cdn_share(st),
                            st->pieces && st->have == st->pieces ? "true" : "false",
                            st->p2p_off ? "true" : "false", (unsigned long long)st->operator_upload_cap,
                            st->ssl ? "true" : "false", st->tls_peers, (unsigned long long)st->tls_refused);
    if (!rc && dg) rc = json_datagrams(out, dg);
    if (!rc && up) rc = pf_buf_append_str(out, "\"upload\":");
    if (!rc && up) rc = pf_media_upload_json(out, up);
    if (!rc) rc = pf_buf_append_str(out, up ? ",\"files\":[" : "\"files\":[");
    int first = 1;
    for (size_t i = 0; i < n && !rc; i++) {
        if (!files[i].has_qoe) continue;
        rc = pf_buf_appendf(out, "%s{\"index\":%u,\"path\":", first ? "" : ",",
                            (unsigned)files[i].index);
        first = 0;
        if (!rc) rc = pf_media_json_str(out, files[i].path);
        if (!rc)
            rc = pf_buf_appendf(out, ",\"size\":%llu,\"content_type\":\"%s\",\"qoe\":",
                                (unsigned long long)files[i].size,
                                pf_media_content_type(files[i].path));
        if (!rc) rc = json_qoe(out, &files[i].qoe);
        if (!rc) rc = pf_buf_append_u8(out, '}');
    }
    if (!rc) rc = pf_buf_append_str(out, "],\"sources\":[");
    for (size_t i = 0; i < nsrc && !rc; i++) {
        char name_z[sizeof src[i].name + 1];
        memcpy(name_z, src[i].name, sizeof src[i].name);
        name_z[sizeof src[i].name] = 0; /* in case the engine filled it all */
        rc = pf_buf_append_str(out, i ? ",{\"name\":" : "{\"name\":");
        if (!rc) rc = pf_media_json_str(out, name_z);
        char kind_z[sizeof src[i].kind + 1];
        memcpy(kind_z, src[i].kind, sizeof src[i].kind);
        kind_z[sizeof src[i].kind] = 0;
        if (!rc) rc = pf_buf_append_str(out, ",\"kind\":");
        if (!rc) rc = pf_media_json_str(out, kind_z);
        if (!rc) rc = pf_buf_append_str(out, ",\"cost\":");
        if (!rc) rc = json_num(out, src[i].cost, "%g");
        if (!rc)
            rc = pf_buf_appendf(out, ",\"downloaded\":%llu,\"uploaded\":%llu,\"down_rate\":",
                                (unsigned long long)src[i].downloaded,
                                (unsigned long long)src[i].uploaded);
        if (!rc) rc = json_num(out, src[i].down_rate, "%.0f");
        if (!rc) /* CMSD (CTA-5006): what its server said; 0 nothing */
            rc = pf_buf_appendf(out, ",\"cmsd_etp_kbps\":%u,\"cmsd_mb_kbps\":%u", (unsigned)src[i].cmsd_etp_kbps,
                                (unsigned)src[i].cmsd_mb_kbps);
        if (!rc) rc = pf_buf_append_u8(out, '}');
    }
    if (!rc) rc = pf_buf_append_str(out, "]}\n");
    return rc;
}

/* --- Prometheus ------------------------------------------------------- */

int pf_media_prom_label(pf_buf *out, const char *s)
{
    int rc = 0;
    for (; s && *s && !rc; s++) {
        if (*s == '\\') rc = pf_buf_append_str(out, "\\\\");
        else if (*s == '"') rc = pf_buf_append_str(out, "\\\"");
        else if (*s == '\n') rc = pf_buf_append_str(out, "\\n");
        else if ((unsigned char)*s < 0x80) rc = pf_buf_append_u8(out, (uint8_t)*s);
        else {
            /* Prometheus rejects a whole scrape over one invalid UTF-8
             * label: copy valid sequences, U+FFFD for anything else. */
            size_t n = utf8_len((const unsigned char *)s);
            if (n == 0) {
                rc = pf_buf_append(out, "\xEF\xBF\xBD", 3);
            } else {
                rc = pf_buf_append(out, s, n);
                s += n - 1;
            }
        }
    }
    return rc;
}

/* A sample value as Go's ParseFloat reads it. */
static int prom_value(pf_buf *out, double v)
{
    if (isnan(v)) return pf_buf_append_str(out, "NaN");
    if (isinf(v)) return pf_buf_append_str(out, v > 0 ? "+Inf" : "-Inf");
    char tmp[40];
    snprintf(tmp, sizeof tmp, "%.15g", v); /* short unless it loses bits */
    if (strtod(tmp, NULL) != v) snprintf(tmp, sizeof tmp, "%.17g", v);
    return pf_buf_append_str(out, tmp);
}

static int prom_family(pf_buf *out, const char *metric, const char *type, const char *help)
{
    return pf_buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", metric, help, metric, type);
}

static int prom_u64(pf_buf *out, const char *metric, const char *labels, uint64_t v)
{
    return pf_buf_appendf(out, "%s%s %llu\n", metric, labels ? labels : "", (unsigned long long)v);
}

static int prom_f(pf_buf *out, const char *metric, const char *labels, double v)
{
    int rc = pf_buf_appendf(out, "%s%s ", metric, labels ? labels : "");
    if (!rc) rc = prom_value(out, v);
    if (!rc) rc = pf_buf_append_u8(out, '\n');
    return rc;
}

/* Per-file families: one field of pf_qoe each. */
enum {
    FQ_STALLS,
    FQ_STALL_S,
    FQ_SEEKS,
    FQ_SERVED,
    FQ_ACTIVE,
    FQ_BUFFER_S,
    FQ_TTFB_S,
    FQ_PLAYABLE_S,
    FQ_BITRATE,
    FQ_PLAYHEAD
};

static const struct {
    const char *name, *type, *help;
    int field;
} file_metrics[] = {
    {"peerflow_stalls_total", "counter", "Reads that waited with an empty buffer after start-up.",
     FQ_STALLS},
    {"peerflow_stall_seconds_total", "counter", "Time readers spent stalled.", FQ_STALL_S},
    {"peerflow_seeks_total", "counter", "Seeks by the file's readers.", FQ_SEEKS},
    {"peerflow_served_bytes_total", "counter", "Bytes handed to the file's readers.", FQ_SERVED},
    {"peerflow_file_active", "gauge", "1 while a reader of the file is open.", FQ_ACTIVE},
    {"peerflow_buffer_seconds", "gauge", "Media seconds verified ahead of the playhead.",
     FQ_BUFFER_S},
    {"peerflow_time_to_first_byte_seconds", "gauge", "First read requested to first byte ready.",
     FQ_TTFB_S},
    {"peerflow_time_to_playable_seconds", "gauge",
     "The read that started playback (where it played) to 10 s of media verified ahead of it.",
     FQ_PLAYABLE_S},
    {"peerflow_bitrate_bits_per_second", "gauge", "Media bitrate in bits per second.", FQ_BITRATE},
    {"peerflow_playhead_bytes", "gauge", "File offset of the last read.", FQ_PLAYHEAD},
};

static double qoe_field(const pf_qoe *q, int field)
{
    switch (field) {
    case FQ_STALLS: return q->stalls;
    case FQ_STALL_S: return q->stall_s;
    case FQ_SEEKS: return q->seeks;
    case FQ_SERVED: return (double)q->bytes_served;
    case FQ_ACTIVE: return q->active ? 1 : 0;
    case FQ_BUFFER_S: return q->buffer_s;
    case FQ_TTFB_S: return q->ttfb_s;
    case FQ_PLAYABLE_S: return q->time_to_playable_s;
    case FQ_BITRATE: return q->bitrate_bps;
    case FQ_PLAYHEAD: return (double)q->playhead;
    }
    return 0;
}

static int prom_gauge(pf_buf *out, const char *metric, const char *help, double v)
{
    int rc = prom_family(out, metric, "gauge", help);
    if (!rc) rc = prom_f(out, metric, NULL, v);
    return rc;
}

/* The upload state's families. */
static int metrics_upload(pf_buf *out, const pf_upload_status *u)
{
    int rc = prom_gauge(out, "peerflow_upload_enabled", "1 while uploads to peers may go.", u->enabled);
    const char *m = "peerflow_upload_off";
    if (!rc) rc = prom_family(out, m, "gauge", "1 for each reason uploads are off now.");
    for (size_t i = 0; i < sizeof off_names / sizeof off_names[0] && !rc; i++) {
        char labels[40];
        snprintf(labels, sizeof labels, "{reason=\"%s\"}", off_names[i].name);
        rc = prom_u64(out, m, labels, (u->off & off_names[i].bit) ? 1 : 0);
    }
    if (!rc && u->budget) {
        rc = prom_gauge(out, "peerflow_upload_budget_bytes", "Upload budget per period.", (double)u->budget);
        if (!rc)
            rc = prom_gauge(out, "peerflow_upload_budget_used_bytes",
                            "Upload budget used this period (every process sharing its file).",
                            (double)u->budget_used);
        if (!rc)
            rc = prom_gauge(out, "peerflow_upload_budget_left_bytes", "Upload budget left this period.",
                            (double)u->budget_left);
    }
    if (!rc)
        rc = prom_gauge(out, "peerflow_upload_cap_bytes_per_second",
                        "Upload rate cap in force (rate limit, upload share); 0 = none.", (double)u->cap_bps);
    if (!rc)
        rc = prom_gauge(out, "peerflow_uplink_bytes_per_second",
                        "Uplink as measured for the upload share; 0 = not measured.", u->uplink_bps);
    return rc;
}

/* The datagram counters' families. */
static int metrics_datagrams(pf_buf *out, const pf_datagram_stats *dg)
{
    const char *m = "peerflow_datagrams_received_total";
    int rc = prom_family(out, m, "counter", "Datagrams received on the UDP socket (uTP, UDP trackers).");
    if (!rc) rc = prom_u64(out, m, NULL, dg->received);
    m = "peerflow_datagrams_dropped_total";
    if (!rc)
        rc = prom_family(out, m, "counter",
                         "Datagrams dropped: in, claimed by no protocol (garbage); out, the send queue was full.");
    if (!rc) rc = prom_u64(out, m, "{direction=\"in\"}", dg->dropped_in);
    if (!rc) rc = prom_u64(out, m, "{direction=\"out\"}", dg->dropped_out);
    m = "peerflow_utp_invalid_packets_total";
    if (!rc)
        rc = prom_family(out, m, "counter",
                         "uTP packets dropped as invalid (malformed, out of the window, for no connection).");
    if (!rc) rc = prom_u64(out, m, NULL, dg->utp_invalid);
    return rc;
}

int pf_media_metrics(pf_buf *out, const char *name, const pf_torrent_stats *st,
                     const pf_upload_status *up, const pf_datagram_stats *dg,
                     const pf_media_file *files, size_t n)
{
    int rc = prom_family(out, "peerflow_info", "gauge", "Torrent served by this process.");
    if (!rc) rc = pf_buf_append_str(out, "peerflow_info{torrent=\"");
    if (!rc) rc = pf_media_prom_label(out, name);
    if (!rc) rc = pf_buf_appendf(out, "\",version=\"%s\"} 1\n", PF_VERSION_STRING);

    const char *m = "peerflow_downloaded_bytes_total";
    if (!rc) rc = prom_family(out, m, "counter", "Payload bytes downloaded, by source kind.");
    if (!rc) rc = prom_u64(out, m, "{source=\"cdn\"}", st->cdn_downloaded);
    if (!rc) rc = prom_u64(out, m, "{source=\"peer\"}", st->peer_downloaded);
    static const struct {
        const char *name, *help;
    } counters[] = {
        {"peerflow_uploaded_bytes_total", "Payload bytes uploaded to peers."},
        {"peerflow_wasted_bytes_total", "Duplicate or failed payload bytes."},
        {"peerflow_hash_failures_total", "Pieces that failed their hash check."},
    };
    const uint64_t cvals[] = {st->uploaded, st->wasted, st->hash_failures};
    for (size_t i = 0; i < 3 && !rc; i++) {
        rc = prom_family(out, counters[i].name, "counter", counters[i].help);
        if (!rc) rc = prom_u64(out, counters[i].name, NULL, cvals[i]);
    }
    m = "peerflow_remote_isp_bytes_total";
    if (!rc)
        rc = prom_family(out, m, "counter",
                         "Payload bytes with peers outside the local networks (another ISP), by direction.");
    if (!rc) rc = prom_u64(out, m, "{direction=\"down\"}", st->remote_downloaded);
    if (!rc) rc = prom_u64(out, m, "{direction=\"up\"}", st->remote_uploaded);
    if (!rc) rc = prom_gauge(out, "peerflow_peers", "Connected peers.", st->peers);
    if (!rc) rc = prom_gauge(out, "peerflow_seeds", "Connected peers that have everything.", st->seeds);
    if (!rc) rc = prom_gauge(out, "peerflow_webseeds", "Web seeds (CDN URLs) configured.", st->webseeds);
    if (!rc) rc = prom_gauge(out, "peerflow_download_rate_bytes", "Download rate in bytes per second.", st->down_rate);
    if (!rc) rc = prom_gauge(out, "peerflow_upload_rate_bytes", "Upload rate in bytes per second.", st->up_rate);
    if (!rc) rc = prom_gauge(out, "peerflow_pieces", "Pieces in the torrent.", st->pieces);
    if (!rc) rc = prom_gauge(out, "peerflow_pieces_have", "Verified pieces.", st->have);
    if (!rc) rc = prom_gauge(out, "peerflow_size_bytes", "Total size of the torrent.", (double)st->total_length);
    if (!rc) rc = prom_gauge(out, "peerflow_have_bytes", "Verified bytes.", (double)st->have_bytes);
    if (!rc)
        rc = prom_gauge(out, "peerflow_cdn_cmsd_etp_kbps",
                        "Throughput the web seeds said (CMSD etp) they expect to give us, kbps; 0 none.",
                        st->cmsd_etp_kbps);
    if (!rc)
        rc = prom_gauge(out, "peerflow_cdn_cmsd_mb_kbps",
                        "Lowest maximum bitrate a web seed suggested (CMSD mb), kbps; 0 none.", st->cmsd_mb_kbps);
    if (!rc && up) rc = metrics_upload(out, up);
    if (!rc && dg) rc = metrics_datagrams(out, dg);

    int any = 0;
    for (size_t i = 0; i < n; i++) any |= files[i].has_qoe;
    if (!any || rc) return rc;
    rc = prom_family(out, "peerflow_file_info", "gauge", "Path of each file index that has been read.");
    for (size_t i = 0; i < n && !rc; i++) {
        if (!files[i].has_qoe) continue;
        rc = pf_buf_appendf(out, "peerflow_file_info{file=\"%u\",path=\"", (unsigned)files[i].index);
        if (!rc) rc = pf_media_prom_label(out, files[i].path);
        if (!rc) rc = pf_buf_append_str(out, "\"} 1\n");
    }
    for (size_t k = 0; k < sizeof file_metrics / sizeof file_metrics[0] && !rc; k++) {
        rc = prom_family(out, file_metrics[k].name, file_metrics[k].type, file_metrics[k].help);
        for (size_t i = 0; i < n && !rc; i++) {
            if (!files[i].has_qoe) continue;
            double v = qoe_field(&files[i].qoe, file_metrics[k].field);
            int is_time = file_metrics[k].field == FQ_TTFB_S || file_metrics[k].field == FQ_PLAYABLE_S;
            if (is_time && v < 0) continue; /* not measured yet */
            char labels[32];
            snprintf(labels, sizeof labels, "{file=\"%u\"}", (unsigned)files[i].index);
            rc = prom_f(out, file_metrics[k].name, labels, v);
        }
    }
    return rc;
}

/* --- POST /control -------------------------------------------------------- */

typedef struct ctl_lex {
    const uint8_t *p, *end;
} ctl_lex;

static void ctl_ws(ctl_lex *l)
{
    while (l->p < l->end && (*l->p == ' ' || *l->p == '\t' || *l->p == '\n' || *l->p == '\r')) l->p++;
}

/* The next token is the byte c: taken. */
static int ctl_byte(ctl_lex *l, uint8_t c)
{
    ctl_ws(l);
    if (l->p >= l->end || *l->p != c) return -1;
    l->p++;
    return 0;
}

/* A string without escapes or control bytes; its bytes in s/n. */
static int ctl_str(ctl_lex *l, const uint8_t **s, size_t *n)
{
    if (ctl_byte(l, '"') != 0) return -1;
    const uint8_t *start = l->p;
    while (l->p < l->end && *l->p != '"') {
        if (*l->p == '\\' || *l->p < 0x20) return -1;
        l->p++;
    }
    if (l->p >= l->end) return -1;
    *s = start;
    *n = (size_t)(l->p - start);
    l->p++;
    return 0;
}

static int bytes_are(const uint8_t *s, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

/* A switch's value: true/false, or the key's own words ("on"/"off" for
 * upload, "yes"/"no" for metered).  1, 0, or -1 (none of these). */
static int ctl_value(ctl_lex *l, const char *yes, const char *no)
{
    ctl_ws(l);
    size_t left = (size_t)(l->end - l->p);
    if (left >= 4 && memcmp(l->p, "true", 4) == 0) return l->p += 4, 1;
    if (left >= 5 && memcmp(l->p, "false", 5) == 0) return l->p += 5, 0;
    const uint8_t *s;
    size_t n;
    if (ctl_str(l, &s, &n) != 0) return -1;
    if (bytes_are(s, n, yes)) return 1;
    if (bytes_are(s, n, no)) return 0;
    return -1;
}

int pf_media_control_parse(const uint8_t *body, size_t len, pf_media_control *out)
{
    out->upload = out->metered = -1;
    if (len > PF_MEDIA_CONTROL_MAX) return PF_ERR_LIMIT;
    ctl_lex l = {body, body + len};
    if (ctl_byte(&l, '{') != 0) return PF_ERR_PARSE;
    for (;;) {
        const uint8_t *k;
        size_t kn;
        if (ctl_str(&l, &k, &kn) != 0 || ctl_byte(&l, ':') != 0) return PF_ERR_PARSE;
        int *slot = bytes_are(k, kn, "upload")    ? &out->upload
                    : bytes_are(k, kn, "metered") ? &out->metered
                                                  : NULL;
        if (!slot || *slot != -1) return PF_ERR_PARSE; /* unknown, or twice */
        *slot = slot == &out->upload ? ctl_value(&l, "on", "off") : ctl_value(&l, "yes", "no");
        if (*slot < 0) return PF_ERR_PARSE;
        if (ctl_byte(&l, ',') == 0) continue;
        if (ctl_byte(&l, '}') != 0) return PF_ERR_PARSE;
        break;
    }
    ctl_ws(&l);
    return l.p == l.end ? 0 : PF_ERR_PARSE;
}
