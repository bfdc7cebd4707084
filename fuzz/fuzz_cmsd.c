/* CMSD (CTA-5006) response headers from a CDN (core/media/cmsd.c: an RFC
 * 8941 parser), and the CMCD encoder (core/media/cmcd.c) checked against
 * it: every CMCD payload is a Structured Fields Dictionary.
 *
 * Input: byte 0 selects: 0 a CMSD-Dynamic value, 1 a CMSD-Static value,
 * 2 a whole response header block, 3 the encoder (the rest gives the
 * numbers, flags and strings of one request's CMCD).  Invariants: a
 * value that fails leaves the result untouched; one that parses gives
 * -1 or a number >= 0 for every key; a valid Dynamic list with a member
 * appended still parses, and the appended member's etp wins (rightmost);
 * the same input parses the same way twice; a CMCD payload parses as a
 * Dictionary, its query form has only unreserved characters and %XX. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/media/cmcd.h"
#include "core/media/cmsd.h"
#include "peerflow/peerflow.h"
#include "fuzz_util.h"

#define MAX_IN 4096

static void check_sane(const pf__cmsd *c)
{
    FZ_CHECK(c->etp >= -1 && c->mb >= -1 && c->rd >= -1 && c->rtt >= -1 && c->br >= -1 && c->d >= -1);
    FZ_CHECK(c->etp <= 999999999999999LL && c->mb <= 999999999999999LL);
    FZ_CHECK(c->du == 0 || c->du == 1);
}

static void fuzz_dynamic(const char *v, size_t n)
{
    pf__cmsd a, b;
    pf__cmsd_init(&a);
    pf__cmsd_init(&b);
    a.etp = 77;
    int rc = pf__cmsd_parse_dynamic(v, n, &a);
    FZ_CHECK(rc == 0 || rc == PF_ERR_PARSE);
    if (rc) {
        FZ_CHECK(a.etp == 77 && a.mb == -1 && a.rd == -1);
        return;
    }
    check_sane(&a);
    FZ_CHECK(a.br == -1 && a.d == -1); /* Static keys never come from Dynamic */
    b.etp = 77;
    FZ_CHECK(pf__cmsd_parse_dynamic(v, n, &b) == 0);
    FZ_CHECK(memcmp(&a, &b, sizeof a) == 0);
    /* Appending a member keeps it a list; the appended etp is rightmost. */
    static char more[MAX_IN + 32];
    size_t k = 0;
    memcpy(more, v, n);
    k = n;
    int empty = 1;
    for (size_t i = 0; i < n; i++) empty &= v[i] == ' ';
    const char *tail = empty ? "\"z\";etp=5" : ", \"z\";etp=5";
    memcpy(more + k, tail, strlen(tail));
    k += strlen(tail);
    pf__cmsd c;
    pf__cmsd_init(&c);
    FZ_CHECK(pf__cmsd_parse_dynamic(more, k, &c) == 0);
    FZ_CHECK(c.etp == 5);
}

static void fuzz_static(const char *v, size_t n)
{
    pf__cmsd a;
    pf__cmsd_init(&a);
    a.br = 9;
    int rc = pf__cmsd_parse_static(v, n, &a);
    FZ_CHECK(rc == 0 || rc == PF_ERR_PARSE);
    if (rc) {
        FZ_CHECK(a.br == 9 && a.d == -1);
        return;
    }
    check_sane(&a);
    FZ_CHECK(a.etp == -1 && a.mb == -1);
}

static void fuzz_headers(const char *v, size_t n)
{
    pf__cmsd a;
    pf__cmsd_init(&a);
    int found = pf__cmsd_parse_headers(v, n, &a);
    FZ_CHECK(found >= 0 && (size_t)found <= n);
    check_sane(&a);
}

/* A request's CMCD from the bytes: numbers, flags, then strings. */
static void fuzz_encoder(const uint8_t *p, size_t n)
{
    if (n < 24) return;
    pf__cmcd c;
    pf__cmcd_init(&c);
    double *nums[] = {&c.br_kbps, &c.bl_ms, &c.d_ms, &c.dl_ms, &c.mtp_kbps, &c.rtp_kbps, &c.tb_kbps, &c.pr};
    for (size_t i = 0; i < 8; i++) {
        int32_t v;
        memcpy(&v, p + 2 * i, 2);
        v = (int16_t)v;
        *nums[i] = (double)v * (p[16] & 1 ? 1000.5 : 0.37);
    }
    c.bs = p[17] & 1;
    c.su = p[17] & 2;
    c.v = p[18] & 3;
    c.sf = (char)p[19];
    c.st = (char)p[20];
    c.ot[0] = (char)p[21];
    c.ot[1] = (char)p[22];
    /* The rest: up to four NUL-separated strings (cid, sid, nor, nrr). */
    static char strs[MAX_IN + 1];
    size_t sl = n - 23;
    memcpy(strs, p + 23, sl);
    strs[sl] = 0;
    const char **slot[] = {&c.cid, &c.sid, &c.nor, &c.nrr};
    size_t off = 0;
    for (size_t i = 0; i < 4 && off <= sl; i++) {
        *slot[i] = strs + off;
        off += strlen(strs + off) + 1;
    }
    static char out[16384];
    for (unsigned g = 0; g <= 15; g++) {
        long k = pf__cmcd_encode(&c, g, out, sizeof out);
        FZ_CHECK(k >= 0 && (size_t)k == strlen(out));
        pf__cmsd d;
        pf__cmsd_init(&d);
        if (pf__cmsd_parse_static(out, (size_t)k, &d) != 0) {
            fprintf(stderr, "not a dictionary: %s\n", out);
            FZ_CHECK(0);
        }
    }
    long k = pf__cmcd_query(&c, out, sizeof out);
    FZ_CHECK(k >= 0 && (size_t)k == strlen(out));
    for (long i = 0; i < k; i++) {
        char ch = out[i];
        FZ_CHECK((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              strchr("-_.!~*'()%=", ch));
    }
    k = pf__cmcd_headers(&c, out, sizeof out);
    FZ_CHECK(k >= 0 && (size_t)k == strlen(out));
    /* A buffer one byte short is refused whole. */
    long full = pf__cmcd_encode(&c, 15, out, sizeof out);
    if (full > 0) FZ_CHECK(pf__cmcd_encode(&c, 15, out, (size_t)full) < 0 && out[0] == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > MAX_IN) return 0;
    const char *v = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0] & 3) {
    case 0: fuzz_dynamic(v, n); break;
    case 1: fuzz_static(v, n); break;
    case 2: fuzz_headers(v, n); break;
    default: fuzz_encoder(data + 1, n); break;
    }
    return 0;
}
