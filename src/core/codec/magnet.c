/* Magnet URIs (BEP 9): parsing with percent-decoding, and building. */
#include "core/codec/magnet.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util/sha1.h"
#include "core/util/mem.h"
#include "peerflow/peerflow.h"

#define MAG_MAX_LEN 8192
#define MAG_MAX_VALUES 64

void pf_magnet_free(pf_magnet *m)
{
    if (!m) return;
    pf__free(m->mem, m->name);
    for (size_t i = 0; i < m->num_trackers; i++) pf__free(m->mem, m->trackers[i]);
    pf__free(m->mem, m->trackers);
    for (size_t i = 0; i < m->num_webseeds; i++) pf__free(m->mem, m->webseeds[i]);
    pf__free(m->mem, m->webseeds);
    for (size_t i = 0; i < m->num_peers; i++) pf__free(m->mem, m->peers[i]);
    pf__free(m->mem, m->peers);
    const pf_mem *mem = m->mem;
    pf__free(mem, m);
}

static int mag_hex(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into a fresh string; plus_space maps '+' to ' '.
 * Returns NULL with *rc = PF_ERR_PARSE on a bad escape or a NUL byte. */
static char *mag_decode(const pf_magnet *m, const char *s, size_t n, int plus_space, int *rc)
{
    char *o = pf__malloc(m->mem, n + 1);
    if (!o) {
        *rc = PF_ERR_NOMEM;
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = i + 2 < n ? mag_hex(s[i + 1]) : -1;
            int lo = hi >= 0 ? mag_hex(s[i + 2]) : -1;
            if (lo < 0 || (hi == 0 && lo == 0)) {
                pf__free(m->mem, o);
                *rc = PF_ERR_PARSE;
                return NULL;
            }
            c = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        o[k++] = c;
    }
    o[k] = 0;
    return o;
}

/* RFC 4648 base32 (upper or lower case), exactly 32 chars -> 20 bytes. */
static int mag_base32(const char *s, uint8_t out[20])
{
    uint64_t acc = 0;
    int bits = 0;
    size_t k = 0;
    for (size_t i = 0; i < 32; i++) {
        char c = s[i];
        int v;
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        else if (c >= 'a' && c <= 'z') v = c - 'a';
        else if (c >= '2' && c <= '7') v = c - '2' + 26;
        else return PF_ERR_PARSE;
        acc = (acc << 5) | (uint64_t)v;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out[k++] = (uint8_t)(acc >> bits);
        }
    }
    return k == 20 ? 0 : PF_ERR_PARSE;
}

static int mag_push(const pf_magnet *m, char ***v, size_t *n, char *s)
{
    if (*n >= MAG_MAX_VALUES) {
        pf__free(m->mem, s);
        return PF_ERR_LIMIT;
    }
    char **nv = pf__realloc(m->mem, *v, (*n + 1) * sizeof *nv);
    if (!nv) {
        pf__free(m->mem, s);
        return PF_ERR_NOMEM;
    }
    *v = nv;
    nv[(*n)++] = s;
    return 0;
}

/* True if key[0..klen) is `name` optionally followed by ".<digits>". */
static int mag_key_is(const char *key, size_t klen, const char *name)
{
    size_t n = strlen(name);
    if (klen < n || memcmp(key, name, n) != 0) return 0;
    if (klen == n) return 1;
    if (key[n] != '.' || klen == n + 1) return 0;
    for (size_t i = n + 1; i < klen; i++)
        if (key[i] < '0' || key[i] > '9') return 0;
    return 1;
}

static int mag_field(pf_magnet *m, const char *key, size_t klen, const char *val,
                     size_t vlen, int *have_hash)
{
    int rc = 0;
    int is_xt = mag_key_is(key, klen, "xt"), is_dn = mag_key_is(key, klen, "dn");
    int is_tr = mag_key_is(key, klen, "tr"), is_ws = mag_key_is(key, klen, "ws");
    int is_pe = klen == 4 && memcmp(key, "x.pe", 4) == 0;
    if (!is_xt && !is_dn && !is_tr && !is_ws && !is_pe) return 0; /* ignore */
    char *v = mag_decode(m, val, vlen, is_dn, &rc);
    if (!v) return rc;
    if (is_xt) {
        if (!*have_hash && strncasecmp(v, "urn:btih:", 9) == 0) {
            const char *h = v + 9;
            size_t hl = strlen(h);
            if (hl == 40)
                rc = pf_hex_decode(h, 20, m->info_hash);
            else if (hl == 32)
                rc = mag_base32(h, m->info_hash);
            else
                rc = PF_ERR_PARSE;
            if (!rc) *have_hash = 1;
        }
        pf__free(m->mem, v);
        return rc;
    }
    if (!*v) {
        pf__free(m->mem, v);
        return 0;
    }
    if (is_dn) {
        if (m->name) {
            pf__free(m->mem, v); /* first dn wins */
            return 0;
        }
        m->name = v;
        return 0;
    }
    if (is_tr) return mag_push(m, &m->trackers, &m->num_trackers, v);
    if (is_ws) return mag_push(m, &m->webseeds, &m->num_webseeds, v);
    return mag_push(m, &m->peers, &m->num_peers, v);
}

int pf_magnet_parse(const char *uri, const pf_mem *mem, pf_magnet **out)
{
    if (!out) return PF_ERR_INVAL;
    *out = NULL;
    if (!uri) return PF_ERR_INVAL;
    size_t len = strnlen(uri, MAG_MAX_LEN + 1);
    if (len > MAG_MAX_LEN) return PF_ERR_LIMIT;
    if (len < 8 || strncasecmp(uri, "magnet:?", 8) != 0) return PF_ERR_PARSE;
    pf_magnet *m = pf__calloc(mem, 1, sizeof *m);
    if (!m) return PF_ERR_NOMEM;
    m->mem = mem;
    int have_hash = 0, rc = 0;
    const char *p = uri + 8, *end = uri + len;
    while (p < end && !rc) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        if (eq && eq > p)
            rc = mag_field(m, p, (size_t)(eq - p), eq + 1, (size_t)(stop - eq - 1),
                           &have_hash);
        p = amp ? amp + 1 : end;
    }
    if (!rc && !have_hash) rc = PF_ERR_PARSE;
    if (rc) {
        pf_magnet_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

static int mag_encode(pf_buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int rc;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~') {
            rc = pf_buf_append_u8(out, c);
        } else {
            char t[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = pf_buf_append(out, t, 3);
        }
        if (rc) return rc;
    }
    return 0;
}

int pf_magnet_build(pf_buf *out, const uint8_t info_hash[20], const char *name,
                    const char *const *trackers, size_t num_trackers)
{
    if (!out || !info_hash) return PF_ERR_INVAL;
    char hex[41];
    pf_hex_encode(info_hash, 20, hex);
    size_t start = out->len;
    int rc = pf_buf_append_str(out, "magnet:?xt=urn:btih:");
    rc = rc ? rc : pf_buf_append(out, hex, 40);
    if (!rc && name && *name) {
        rc = pf_buf_append_str(out, "&dn=");
        rc = rc ? rc : mag_encode(out, name);
    }
    for (size_t i = 0; i < num_trackers && !rc; i++) {
        if (!trackers[i] || !*trackers[i]) continue;
        rc = pf_buf_append_str(out, "&tr=");
        rc = rc ? rc : mag_encode(out, trackers[i]);
    }
    rc = rc ? rc : pf_buf_nul(out);
    if (rc) out->len = start;
    return rc;
}
