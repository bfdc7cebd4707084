/* The two small parsers of the upload switches and budget: the body of
 * the media server's POST /control (core/media/media_http.c:
 * pf_media_control_parse, from any local program) and the upload budget
 * file (net/budget.c: pf__budget_file_parse, ours on disk, but a crash,
 * another program or a full disk may leave anything there).  Each is
 * compared with an independent reference; a budget file that parses is
 * formatted back to the same bytes.
 *
 * Input: byte 0 even: a /control body; odd: a budget file.  The rest is
 * the body or the file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/media/media_http.h"
#include "fuzz_util.h"
#include "net/budget.h"

/* --- /control: tokens, then the grammar ------------------------------------ */

enum { T_LBRACE, T_RBRACE, T_COLON, T_COMMA, T_STR, T_TRUE, T_FALSE };
typedef struct tok {
    int type;
    const uint8_t *s;
    size_t n;
} tok;

/* Splits the body into tokens; -1 on anything that is not one. */
static int tokenize(const uint8_t *p, size_t len, tok *out, size_t cap, size_t *ntok)
{
    size_t i = 0, k = 0;
    while (i < len) {
        uint8_t c = p[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            i++;
            continue;
        }
        if (k == cap) return -1;
        tok *t = &out[k++];
        if (c == '{' || c == '}' || c == ':' || c == ',') {
            t->type = c == '{' ? T_LBRACE : c == '}' ? T_RBRACE : c == ':' ? T_COLON : T_COMMA;
            i++;
        } else if (c == '"') {
            size_t j = i + 1;
            while (j < len && p[j] != '"') {
                if (p[j] == '\\' || p[j] < 0x20) return -1;
                j++;
            }
            if (j >= len) return -1;
            t->type = T_STR;
            t->s = p + i + 1;
            t->n = j - i - 1;
            i = j + 1;
        } else if (len - i >= 4 && memcmp(p + i, "true", 4) == 0) {
            t->type = T_TRUE;
            i += 4;
        } else if (len - i >= 5 && memcmp(p + i, "false", 5) == 0) {
            t->type = T_FALSE;
            i += 5;
        } else {
            return -1;
        }
    }
    *ntok = k;
    return 0;
}

static int str_is(const tok *t, const char *lit)
{
    return t->type == T_STR && t->n == strlen(lit) && memcmp(t->s, lit, t->n) == 0;
}

/* The reference: 0 and the two values, or -1. */
static int ref_control(const uint8_t *p, size_t len, int *upload, int *metered)
{
    static tok t[4096];
    size_t n = 0;
    *upload = *metered = -1;
    if (len > PF_MEDIA_CONTROL_MAX) return -2;
    if (tokenize(p, len, t, sizeof t / sizeof t[0], &n) != 0) return -1;
    /* { k : v (, k : v)* } and nothing after */
    if (n < 5 || t[0].type != T_LBRACE || t[n - 1].type != T_RBRACE) return -1;
    if ((n - 2) % 4 != 3) return -1;
    for (size_t i = 1; i + 1 < n; i += 4) {
        if (t[i].type != T_STR || t[i + 1].type != T_COLON) return -1;
        if (i + 3 < n - 1 && t[i + 3].type != T_COMMA) return -1;
        if (i + 3 == n - 1 && t[i + 3].type != T_RBRACE) return -1;
        const tok *v = &t[i + 2];
        int val = v->type == T_TRUE ? 1 : v->type == T_FALSE ? 0 : -1;
        if (str_is(&t[i], "upload")) {
            if (*upload != -1) return -1;
            if (str_is(v, "on")) val = 1;
            if (str_is(v, "off")) val = 0;
            if (val < 0) return -1;
            *upload = val;
        } else if (str_is(&t[i], "metered")) {
            if (*metered != -1) return -1;
            if (str_is(v, "yes")) val = 1;
            if (str_is(v, "no")) val = 0;
            if (val < 0) return -1;
            *metered = val;
        } else {
            return -1;
        }
    }
    return 0;
}

static void check_control(const uint8_t *p, size_t len)
{
    /* An exact-size copy: ASan sees a read past the end. */
    uint8_t *d = calloc(1, len ? len : 1);
    if (!d) abort();
    if (len) memcpy(d, p, len);
    pf_media_control c;
    int rc = pf_media_control_parse(d, len, &c);
    int up, me;
    int ref = ref_control(d, len, &up, &me);
    if (ref == -2) {
        FZ_CHECK(rc == PF_ERR_LIMIT);
    } else if (ref == 0) {
        FZ_CHECK(rc == 0);
        FZ_CHECK(c.upload == up && c.metered == me);
        FZ_CHECK(c.upload != -1 || c.metered != -1);
    } else {
        FZ_CHECK(rc == PF_ERR_PARSE);
    }
    free(d);
}

/* --- the budget file: lines ------------------------------------------------------ */

static int ref_budget(const uint8_t *p, size_t len, char *period, uint64_t *used)
{
    static const char magic[] = "peerflow-upload-budget 1";
    if (len > PF__BUDGET_FILE_MAX || len == 0 || p[len - 1] != '\n') return -1;
    /* three lines exactly */
    const uint8_t *line[3];
    size_t ll[3], k = 0, start = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] != '\n') continue;
        if (k == 3) return -1;
        line[k] = p + start;
        ll[k++] = i - start;
        start = i + 1;
    }
    if (k != 3) return -1;
    if (ll[0] != sizeof magic - 1 || memcmp(line[0], magic, ll[0]) != 0) return -1;
    if (ll[1] < 8 || memcmp(line[1], "period ", 7) != 0 || ll[1] - 7 > PF__PERIOD_MAX) return -1;
    for (size_t i = 7; i < ll[1]; i++) {
        uint8_t c = line[1][i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-' || c == '_' || c == '.' || c == ':'))
            return -1;
    }
    if (ll[2] < 6 || ll[2] > 25 || memcmp(line[2], "used ", 5) != 0) return -1;
    char num[32];
    size_t nl = ll[2] - 5;
    memcpy(num, line[2] + 5, nl);
    num[nl] = 0;
    if (num[0] == '0' && nl > 1) return -1;
    for (size_t i = 0; i < nl; i++) /* by length: a NUL is no digit */
        if (num[i] < '0' || num[i] > '9') return -1;
    /* 20 digits: at most 18446744073709551615 */
    if (strlen(num) == 20 && strcmp(num, "18446744073709551615") > 0) return -1;
    *used = strtoull(num, NULL, 10);
    memcpy(period, line[1] + 7, ll[1] - 7);
    period[ll[1] - 7] = 0;
    return 0;
}

static void check_budget(const uint8_t *p, size_t len)
{
    uint8_t *d = calloc(1, len ? len : 1);
    if (!d) abort();
    if (len) memcpy(d, p, len);
    char period[PF__PERIOD_MAX + 1], rperiod[PF__PERIOD_MAX + 1];
    uint64_t used = 0, rused = 0;
    int rc = pf__budget_file_parse(d, len, period, &used);
    int ref = ref_budget(d, len, rperiod, &rused);
    FZ_CHECK((rc == 0) == (ref == 0));
    FZ_CHECK(rc == 0 || rc == PF_ERR_PARSE);
    if (rc == 0) {
        FZ_CHECK(strcmp(period, rperiod) == 0 && used == rused);
        char out[PF__BUDGET_FILE_MAX];
        int n = pf__budget_file_format(out, sizeof out, period, used);
        FZ_CHECK(n > 0 && (size_t)n == len && memcmp(out, d, len) == 0);
    }
    free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    if (data[0] & 1)
        check_budget(data + 1, size - 1);
    else
        check_control(data + 1, size - 1);
    return 0;
}
