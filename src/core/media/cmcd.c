/* CMCD (CTA-5004) encoder: see cmcd.h. */
#include "core/media/cmcd.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "peerflow/peerflow.h"

/* A bounded writer into the caller's buffer; err sticks. */
typedef struct cw {
    char *p;
    size_t cap, len;
    int err;
    int nkeys; /* keys written in the current payload */
} cw;

static void cw_put(cw *w, const char *s, size_t n)
{
    if (w->err) return;
    if (n >= w->cap - w->len) {
        w->err = PF_ERR_RANGE;
        return;
    }
    memcpy(w->p + w->len, s, n);
    w->len += n;
    w->p[w->len] = 0;
}

static void cw_str(cw *w, const char *s) { cw_put(w, s, strlen(s)); }

/* The separator before a key, then the key. */
static void cw_key(cw *w, const char *key)
{
    if (w->nkeys++ > 0) cw_put(w, ",", 1);
    cw_str(w, key);
}

/* Structured Fields integers have at most 15 digits. */
#define SF_INT_MAX 999999999999999LL

static long long round_step(double v, double step)
{
    double r = floor(v / step + 0.5) * step;
    return r > (double)SF_INT_MAX ? SF_INT_MAX : (long long)r;
}

static void cw_int(cw *w, const char *key, double v, double step)
{
    if (!(v >= 0)) return; /* unknown (negative or NaN): left out */
    char num[32];
    snprintf(num, sizeof num, "=%lld", round_step(v, step));
    cw_key(w, key);
    cw_str(w, num);
}

static void cw_bool(cw *w, const char *key, int v)
{
    if (v) cw_key(w, key);
}

/* A Structured Fields string: printable ASCII only, '"' and '\' escaped;
 * one that is not (or longer than max) is left out. */
static void cw_string(cw *w, const char *key, const char *s, size_t max)
{
    if (!s) return;
    size_t n = strlen(s);
    if (n > max) return;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) return;
    cw_key(w, key);
    cw_put(w, "=\"", 2);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\') cw_put(w, "\\", 1);
        cw_put(w, &s[i], 1);
    }
    cw_put(w, "\"", 1);
}

static void cw_token(cw *w, const char *key, const char *tok)
{
    if (!tok[0]) return;
    for (const char *q = tok; *q; q++)
        if (!(*q >= 'a' && *q <= 'z')) return;
    cw_key(w, key);
    cw_put(w, "=", 1);
    cw_str(w, tok);
}

/* pr: a decimal with at most 3 fractional digits, trailing zeros dropped
 * but one kept (RFC 8941 4.1.5); 1 is the default and left out. */
static void cw_decimal(cw *w, const char *key, double v)
{
    if (!(v >= 0) || v == 1.0 || v >= 1e12) return;
    char num[40];
    int n = snprintf(num, sizeof num, "=%.3f", floor(v * 1000 + 0.5) / 1000);
    if (n <= 0 || (size_t)n >= sizeof num) return;
    while (n > 3 && num[n - 1] == '0' && num[n - 2] != '.') num[--n] = 0;
    cw_key(w, key);
    cw_str(w, num);
}

void pf__cmcd_init(pf__cmcd *c)
{
    memset(c, 0, sizeof *c);
    c->br_kbps = c->bl_ms = c->d_ms = c->dl_ms = c->mtp_kbps = c->rtp_kbps = c->tb_kbps = c->pr = -1;
}

/* Every key in alphabetical order, each only if its group is wanted. */
static void encode_keys(cw *w, const pf__cmcd *c, unsigned g)
{
    char tok[2] = {0, 0};
    int obj = (g & PF__CMCD_OBJECT) != 0, req = (g & PF__CMCD_REQUEST) != 0;
    int ses = (g & PF__CMCD_SESSION) != 0, sta = (g & PF__CMCD_STATUS) != 0;
    if (req) cw_int(w, "bl", c->bl_ms, 100);
    if (obj) cw_int(w, "br", c->br_kbps, 1);
    if (sta) cw_bool(w, "bs", c->bs);
    if (ses) cw_string(w, "cid", c->cid, PF__CMCD_ID_MAX);
    if (obj) cw_int(w, "d", c->d_ms, 1);
    if (req) cw_int(w, "dl", c->dl_ms, 100);
    if (req) cw_int(w, "mtp", c->mtp_kbps, 100);
    if (req) cw_string(w, "nor", c->nor, PF__CMCD_NOR_MAX);
    if (req) cw_string(w, "nrr", c->nrr, 64);
    if (obj) cw_token(w, "ot", c->ot);
    if (ses) cw_decimal(w, "pr", c->pr);
    if (sta) cw_int(w, "rtp", c->rtp_kbps, 1);
    tok[0] = c->sf;
    if (ses) cw_token(w, "sf", tok);
    if (ses) cw_string(w, "sid", c->sid, PF__CMCD_ID_MAX);
    tok[0] = c->st;
    if (ses) cw_token(w, "st", tok);
    if (req) cw_bool(w, "su", c->su);
    if (obj) cw_int(w, "tb", c->tb_kbps, 1);
    if (ses && c->v > 1) cw_int(w, "v", c->v, 1);
}

long pf__cmcd_encode(const pf__cmcd *c, unsigned groups, char *out, size_t cap)
{
    if (!out || cap == 0) return PF_ERR_RANGE;
    out[0] = 0;
    cw w = {out, cap, 0, 0, 0};
    encode_keys(&w, c, groups);
    if (w.err) {
        out[0] = 0;
        return w.err;
    }
    return (long)w.len;
}

/* encodeURIComponent keeps A-Z a-z 0-9 - _ . ! ~ * ' ( ). */
static int uri_keep(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           strchr("-_.!~*'()", ch) != NULL;
}

long pf__cmcd_query(const pf__cmcd *c, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    char payload[4096]; /* enough for every key at its longest */
    if (!out || cap == 0) return PF_ERR_RANGE;
    out[0] = 0;
    long n = pf__cmcd_encode(c, PF__CMCD_ALL, payload, sizeof payload);
    if (n <= 0) return n;
    cw w = {out, cap, 0, 0, 0};
    cw_str(&w, "CMCD=");
    for (long i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)payload[i];
        char esc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
        if (ch && uri_keep(ch))
            cw_put(&w, (const char *)&payload[i], 1);
        else
            cw_put(&w, esc, 3);
    }
    if (w.err) {
        out[0] = 0;
        return w.err;
    }
    return (long)w.len;
}

long pf__cmcd_headers(const pf__cmcd *c, char *out, size_t cap)
{
    static const struct {
        unsigned group;
        const char *name;
    } hdr[] = {{PF__CMCD_OBJECT, "CMCD-Object: "},
               {PF__CMCD_REQUEST, "CMCD-Request: "},
               {PF__CMCD_SESSION, "CMCD-Session: "},
               {PF__CMCD_STATUS, "CMCD-Status: "}};
    if (!out || cap == 0) return PF_ERR_RANGE;
    out[0] = 0;
    cw w = {out, cap, 0, 0, 0};
    for (size_t i = 0; i < sizeof hdr / sizeof hdr[0]; i++) {
        size_t mark = w.len;
        cw_str(&w, hdr[i].name);
        w.nkeys = 0;
        encode_keys(&w, c, hdr[i].group);
        if (!w.err && w.nkeys == 0) { /* no key: no header */
            w.len = mark;
            out[mark] = 0;
            continue;
        }
        cw_put(&w, "\r\n", 2);
    }
    if (w.err) {
        out[0] = 0;
        return w.err;
    }
    return (long)w.len;
}

void pf__cmcd_session_id(uint64_t hi, uint64_t lo, char out[37])
{
    /* RFC 9562 version 4 (random) and variant bits. */
    hi = (hi & ~0xf000ULL) | 0x4000ULL;
    lo = (lo & ~(3ULL << 62)) | (2ULL << 62);
    snprintf(out, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(hi >> 32), (unsigned)(hi >> 16) & 0xffff,
             (unsigned)hi & 0xffff, (unsigned)(lo >> 48), (unsigned long long)(lo & 0xffffffffffffULL));
}
