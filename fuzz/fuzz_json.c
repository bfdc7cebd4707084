/* Fuzz the strict JSON reader (core/codec/json.c).
 * Input: a JSON text.  Invariants: a refusal is PF_ERR_PARSE or
 * PF_ERR_LIMIT with a reason and no document; an accepted text, written
 * out again (strings as UTF-8, or with everything past ASCII as \u
 * escapes and surrogate pairs when the input's length is odd; numbers as
 * %.17g, +/-1e999 for those past a double's range), parses again to an
 * equal document (same kinds, keys in order, decoded strings byte for
 * byte, numbers equal, -0 kept), which writes out to the same bytes. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec/json.h"
#include "core/util/buf.h"
#include "peerflow/peerflow.h"

static void put_str(pf_buf *b, const char *s, size_t n, int ascii)
{
    const unsigned char *u = (const unsigned char *)s;
    pf_buf_append_u8(b, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        if (c == '"' || c == '\\') {
            pf_buf_appendf(b, "\\%c", c);
            i++;
        } else if (c < 0x20) {
            pf_buf_appendf(b, "\\u%04x", c);
            i++;
        } else if (c < 0x80 || !ascii) {
            pf_buf_append_u8(b, c);
            i++;
        } else { /* decoded text is valid UTF-8: decode a code point */
            unsigned long cp;
            size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            if (i + k > n) abort();
            cp = c & (0x7F >> k);
            for (size_t j = 1; j < k; j++) cp = cp << 6 | (u[i + j] & 0x3F);
            if (cp >= 0x10000) {
                cp -= 0x10000;
                pf_buf_appendf(b, "\\u%04lX\\u%04lx", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
            } else {
                pf_buf_appendf(b, "\\u%04lx", cp);
            }
            i += k;
        }
    }
    pf_buf_append_u8(b, '"');
}

static void write_value(pf_buf *b, const pf_json *v, int ascii)
{
    double d;
    size_t n;
    switch (pf_json_type(v)) {
    case PF_JSON_NULL: pf_buf_append_str(b, "null"); break;
    case PF_JSON_TRUE: pf_buf_append_str(b, "true"); break;
    case PF_JSON_FALSE: pf_buf_append_str(b, "false"); break;
    case PF_JSON_NUMBER:
        if (pf_json_num(v, &d) == PF_ERR_RANGE) pf_buf_append_str(b, d > 0 ? "1e999" : "-1e999");
        else pf_buf_appendf(b, "%.17g", d);
        break;
    case PF_JSON_STRING: {
        const char *s = pf_json_str(v, &n);
        put_str(b, s, n, ascii);
        break;
    }
    case PF_JSON_ARRAY:
        pf_buf_append_u8(b, '[');
        for (size_t i = 0; i < pf_json_len(v); i++) {
            if (i) pf_buf_append_u8(b, ',');
            write_value(b, pf_json_at(v, i), ascii);
        }
        pf_buf_append_u8(b, ']');
        break;
    case PF_JSON_OBJECT:
        pf_buf_append_u8(b, '{');
        for (size_t i = 0; i < pf_json_len(v); i++) {
            if (i) pf_buf_append_u8(b, ',');
            const char *k = pf_json_key(v, i, &n);
            put_str(b, k, n, ascii);
            pf_buf_append_u8(b, ':');
            write_value(b, pf_json_member(v, i), ascii);
        }
        pf_buf_append_u8(b, '}');
        break;
    default: abort();
    }
}

static int equal(const pf_json *a, const pf_json *b)
{
    pf_json_kind k = pf_json_type(a);
    size_t na, nb;
    double x, y;
    if (k != pf_json_type(b) || k == PF_JSON_NONE) return 0;
    switch (k) {
    case PF_JSON_NUMBER: {
        int ra = pf_json_num(a, &x), rb = pf_json_num(b, &y);
        return ra == rb && x == y && !signbit(x) == !signbit(y);
    }
    case PF_JSON_STRING: {
        const char *sa = pf_json_str(a, &na), *sb = pf_json_str(b, &nb);
        return na == nb && memcmp(sa, sb, na) == 0 && sa[na] == 0 && sb[nb] == 0;
    }
    case PF_JSON_ARRAY:
    case PF_JSON_OBJECT:
        if (pf_json_len(a) != pf_json_len(b)) return 0;
        for (size_t i = 0; i < pf_json_len(a); i++) {
            if (k == PF_JSON_ARRAY) {
                if (!equal(pf_json_at(a, i), pf_json_at(b, i))) return 0;
                continue;
            }
            const char *ka = pf_json_key(a, i, &na), *kb = pf_json_key(b, i, &nb);
            if (na != nb || memcmp(ka, kb, na) != 0 || !equal(pf_json_member(a, i), pf_json_member(b, i))) return 0;
            if (pf_json_get(a, ka) != pf_json_member(a, i) && !memchr(ka, 0, na)) return 0;
        }
        return 1;
    default: return 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pf_json_limits lim = {.max_depth = 48, .max_nodes = 100000, .max_len = 1 << 20, .mem = NULL};
    pf_json_doc *d = (pf_json_doc *)1, *d2 = NULL;
    char why[200];
    int ascii = (int)(size & 1);
    int rc = pf_json_parse((const char *)data, size, &lim, &d, why, sizeof why);
    if (rc) {
        if (d != NULL || (rc != PF_ERR_PARSE && rc != PF_ERR_LIMIT) || why[0] == 0) abort();
        return 0;
    }
    pf_buf b1, b2;
    pf_buf_init(&b1);
    pf_buf_init(&b2);
    write_value(&b1, pf_json_root(d), ascii);
    lim.max_len = 0; /* the text written may be longer (escapes, %.17g) */
    if (pf_json_parse((const char *)b1.data, b1.len, &lim, &d2, why, sizeof why) != 0) {
        fprintf(stderr, "written text refused: %s\n%.*s\n", why, (int)b1.len, (const char *)b1.data);
        abort();
    }
    if (!equal(pf_json_root(d), pf_json_root(d2))) abort();
    write_value(&b2, pf_json_root(d2), ascii);
    if (b1.len != b2.len || memcmp(b1.data, b2.data, b1.len) != 0) abort();
    pf_json_free(d);
    pf_json_free(d2);
    pf_buf_free(&b1);
    pf_buf_free(&b2);
    return 0;
}
