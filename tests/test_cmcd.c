/* CMCD encoder (CTA-5004) and CMSD reader (CTA-5006): exact strings,
 * rounding, ordering, escaping; malformed CMSD. */
#include <string.h>

#include "engine_harness.h"
#include "test.h"

#include "core/media/cmcd.h"
#include "core/media/cmsd.h"
#include "core/swarm/swarm.h" /* white-box: the web seed's rate */

/* The example of CTA-5004 section 3: every key of version 1. */
static void spec_example(pf__cmcd *c)
{
    pf__cmcd_init(c);
    c->bl_ms = 21300;
    c->br_kbps = 3200;
    c->bs = 1;
    c->cid = "faec5fc2-ac30-11eabb37-0242ac130002";
    c->d_ms = 4004;
    c->dl_ms = 18500;
    c->mtp_kbps = 48100;
    c->nor = "..%2F300kbps%2Ftrack.m4v";
    c->nrr = "12323-48763";
    memcpy(c->ot, "v", 2);
    c->pr = 1.08;
    c->rtp_kbps = 12000;
    c->sf = 'd';
    c->sid = "6e2fb550-c457-11e9-bb97-0800200c9a66";
    c->st = 'v';
    c->su = 1;
    c->tb_kbps = 6000;
}

/* c's payload, every key, in out. */
static const char *payload(const pf__cmcd *c, char *out, size_t cap)
{
    pf__cmcd_encode(c, PF__CMCD_ALL, out, cap);
    return out;
}

TEST(test_spec_query)
{
    pf__cmcd c;
    spec_example(&c);
    char out[2048];
    long n = pf__cmcd_query(&c, out, sizeof out);
    const char *want = "CMCD=bl%3D21300%2Cbr%3D3200%2Cbs%2Ccid%3D%22faec5fc2-ac30-11eabb37-0242ac130002%22%2Cd%3D4004"
                       "%2Cdl%3D18500%2Cmtp%3D48100%2Cnor%3D%22..%252F300kbps%252Ftrack.m4v%22%2Cnrr%3D%2212323-48763"
                       "%22%2Cot%3Dv%2Cpr%3D1.08%2Crtp%3D12000%2Csf%3Dd%2Csid%3D%226e2fb550-c457-11e9-bb97-0800200c9a66"
                       "%22%2Cst%3Dv%2Csu%2Ctb%3D6000";
    CHECK_STR(out, want);
    CHECK_EQ(n, (long)strlen(want));
}

TEST(test_spec_payload)
{
    pf__cmcd c;
    spec_example(&c);
    char out[1024];
    CHECK_STR(payload(&c, out, sizeof out), "bl=21300,br=3200,bs,cid=\"faec5fc2-ac30-11eabb37-0242ac130002\",d=4004,dl=18500,mtp=48100,"
                   "nor=\"..%2F300kbps%2Ftrack.m4v\",nrr=\"12323-48763\",ot=v,pr=1.08,rtp=12000,sf=d,"
                   "sid=\"6e2fb550-c457-11e9-bb97-0800200c9a66\",st=v,su,tb=6000");
}

TEST(test_spec_headers)
{
    pf__cmcd c;
    spec_example(&c);
    char out[1024];
    long n = pf__cmcd_headers(&c, out, sizeof out);
    CHECK(n > 0);
    CHECK_STR(out, "CMCD-Object: br=3200,d=4004,ot=v,tb=6000\r\n"
                   "CMCD-Request: bl=21300,dl=18500,mtp=48100,nor=\"..%2F300kbps%2Ftrack.m4v\",nrr=\"12323-48763\",su\r\n"
                   "CMCD-Session: cid=\"faec5fc2-ac30-11eabb37-0242ac130002\",pr=1.08,sf=d,"
                   "sid=\"6e2fb550-c457-11e9-bb97-0800200c9a66\",st=v\r\n"
                   "CMCD-Status: bs,rtp=12000\r\n");
}

/* Headers with no key are not sent; nothing at all gives "". */
TEST(test_headers_only_nonempty)
{
    pf__cmcd c;
    pf__cmcd_init(&c);
    char out[256];
    CHECK_EQ(pf__cmcd_headers(&c, out, sizeof out), 0);
    CHECK_STR(out, "");
    CHECK_EQ(pf__cmcd_query(&c, out, sizeof out), 0);
    CHECK_STR(out, "");
    c.su = 1;
    c.st = 'v';
    pf__cmcd_headers(&c, out, sizeof out);
    CHECK_STR(out, "CMCD-Request: su\r\nCMCD-Session: st=v\r\n");
}

/* bl and dl to the nearest 100 ms, mtp to the nearest 100 kbps, br to the
 * kbps; false booleans and unknown numbers left out. */
TEST(test_rounding)
{
    pf__cmcd c;
    pf__cmcd_init(&c);
    char out[256];
    c.bl_ms = 21349.9;
    c.dl_ms = 18450;
    c.mtp_kbps = 48149;
    c.br_kbps = 3199.5;
    c.bs = 0;
    c.su = 0;
    CHECK_STR(payload(&c, out, sizeof out), "bl=21300,br=3200,dl=18500,mtp=48100");
    c.bl_ms = 49.9;
    c.dl_ms = 50;
    c.mtp_kbps = 150;
    c.br_kbps = 0.4;
    CHECK_STR(payload(&c, out, sizeof out), "bl=0,br=0,dl=100,mtp=200");
    c.bl_ms = -1;
    c.dl_ms = -0.5;
    c.mtp_kbps = -100;
    c.br_kbps = 1e30; /* clamped to 15 digits */
    CHECK_STR(payload(&c, out, sizeof out), "br=999999999999999");
}

TEST(test_decimal_and_version)
{
    pf__cmcd c;
    pf__cmcd_init(&c);
    char out[256];
    c.pr = 1.0; /* the default: left out */
    c.v = 1;    /* version 1: left out */
    CHECK_EQ(pf__cmcd_encode(&c, PF__CMCD_ALL, out, sizeof out), 0);
    c.pr = 2;
    c.v = 2;
    CHECK_STR(payload(&c, out, sizeof out), "pr=2.0,v=2");
    c.pr = 0.5;
    c.v = 0;
    CHECK_STR(payload(&c, out, sizeof out), "pr=0.5");
    c.pr = 1.2345;
    CHECK_STR(payload(&c, out, sizeof out), "pr=1.235");
}

/* Strings: '"' and '\' escaped; non-printable or over 64 characters
 * (cid, sid) left out; tokens other than lowercase letters left out. */
TEST(test_escaping)
{
    pf__cmcd c;
    pf__cmcd_init(&c);
    char out[512];
    c.cid = "a\"b\\c";
    CHECK_STR(payload(&c, out, sizeof out), "cid=\"a\\\"b\\\\c\"");
    pf__cmcd_query(&c, out, sizeof out);
    CHECK_STR(out, "CMCD=cid%3D%22a%5C%22b%5C%5Cc%22");
    c.cid = "tab\there";
    CHECK_EQ(pf__cmcd_encode(&c, PF__CMCD_ALL, out, sizeof out), 0);
    char id[66];
    memset(id, 'x', 65);
    id[65] = 0;
    c.cid = id;
    CHECK_EQ(pf__cmcd_encode(&c, PF__CMCD_ALL, out, sizeof out), 0);
    id[64] = 0;
    CHECK_EQ(pf__cmcd_encode(&c, PF__CMCD_ALL, out, sizeof out), 64 + 6);
    c.cid = NULL;
    memcpy(c.ot, "A", 2);
    CHECK_EQ(pf__cmcd_encode(&c, PF__CMCD_ALL, out, sizeof out), 0);
    memcpy(c.ot, "av", 3);
    c.sid = "s p";
    pf__cmcd_query(&c, out, sizeof out);
    CHECK_STR(out, "CMCD=ot%3Dav%2Csid%3D%22s%20p%22");
}

/* A buffer too small: PF_ERR_RANGE and an empty string, never a cut
 * payload. */
TEST(test_too_small)
{
    pf__cmcd c;
    spec_example(&c);
    char out[64];
    memset(out, 'z', sizeof out);
    CHECK_EQ(pf__cmcd_encode(&c, PF__CMCD_ALL, out, sizeof out), PF_ERR_RANGE);
    CHECK_STR(out, "");
    CHECK_EQ(pf__cmcd_query(&c, out, sizeof out), PF_ERR_RANGE);
    CHECK_STR(out, "");
    CHECK_EQ(pf__cmcd_headers(&c, out, sizeof out), PF_ERR_RANGE);
    CHECK_STR(out, "");
    char exact[8];
    pf__cmcd_init(&c);
    c.su = 1;
    c.bs = 1;
    CHECK_EQ(pf__cmcd_encode(&c, PF__CMCD_ALL, exact, 6), 5); /* "bs,su" + NUL */
    CHECK_STR(exact, "bs,su");
    CHECK_EQ(pf__cmcd_encode(&c, PF__CMCD_ALL, exact, 5), PF_ERR_RANGE);
}

TEST(test_session_id)
{
    char sid[37];
    pf__cmcd_session_id(0x0123456789abcdefULL, 0xfedcba9876543210ULL, sid);
    CHECK_STR(sid, "01234567-89ab-4def-bedc-ba9876543210");
    pf__cmcd_session_id(0, 0, sid);
    CHECK_STR(sid, "00000000-0000-4000-8000-000000000000");
}

/* ---- CMSD ----------------------------------------------------------- */

/* The CMSD-Dynamic / CMSD-Static value v (a C string) read into c. */
static int cmsd_dynamic(const char *v, pf__cmsd *c)
{
    return pf__cmsd_parse_dynamic(v, strlen(v), c);
}

static int cmsd_static(const char *v, pf__cmsd *c)
{
    return pf__cmsd_parse_static(v, strlen(v), c);
}

TEST(test_cmsd_dynamic)
{
    pf__cmsd c;
    pf__cmsd_init(&c);
    const char *v = "\"cdn-a\";etp=12000;mb=3000";
    CHECK_EQ(cmsd_dynamic(v, &c), 0);
    CHECK_EQ(c.etp, 12000);
    CHECK_EQ(c.mb, 3000);
    CHECK_EQ(c.rtt, -1);
    CHECK_EQ(c.rd, -1);
    CHECK_EQ(c.du, 0);
    /* Two servers: the rightmost (closest) wins per key, the other fills in. */
    pf__cmsd_init(&c);
    v = "\"origin\";etp=900;rtt=80;mb=8000, \"edge-7\";etp=48000;rtt=9;du";
    CHECK_EQ(cmsd_dynamic(v, &c), 0);
    CHECK_EQ(c.etp, 48000);
    CHECK_EQ(c.rtt, 9);
    CHECK_EQ(c.mb, 8000);
    CHECK_EQ(c.du, 1);
    /* A key of the wrong type, unknown keys and types: ignored. */
    pf__cmsd_init(&c);
    v = "edge;etp=1.5;mb=\"x\";rd=12;n=:AQID:;x-y=?0;*k=tok/en, (1 2.5 \"s\");etp=700";
    CHECK_EQ(cmsd_dynamic(v, &c), 0);
    CHECK_EQ(c.etp, 700);
    CHECK_EQ(c.mb, -1);
    CHECK_EQ(c.rd, 12);
    /* Negative: ignored. */
    pf__cmsd_init(&c);
    v = "\"a\";etp=-5";
    CHECK_EQ(cmsd_dynamic(v, &c), 0);
    CHECK_EQ(c.etp, -1);
}

TEST(test_cmsd_malformed)
{
    static const char *bad[] = {
        "\"cdn-a\";etp=12000,",       /* trailing comma */
        "\"cdn-a\";etp=1234567890123456", /* 16 digits */
        "\"unterminated;etp=1",
        "\"a\";ETP=1",                  /* keys are lowercase */
        "\"a\";etp=1.",                 /* decimal without fraction */
        "\"a\";etp=1.2345",             /* 4 fractional digits */
        "\"a\" \"b\"",                  /* no comma */
        "\"a\\x\";etp=1",               /* bad escape */
        "\"a\";etp=?2",
        ":AQ=ID;etp=1",                 /* unterminated bytes */
        "(1 2;etp=3",                   /* unterminated inner list */
        "\"a\";etp=12000, ,\"b\"",
        "\"a\";etp",                    /* ok: boolean etp, ignored */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pf__cmsd c;
        pf__cmsd_init(&c);
        c.etp = 42;
        int rc = cmsd_dynamic(bad[i], &c);
        if (i + 1 < sizeof bad / sizeof bad[0]) {
            if (rc != PF_ERR_PARSE) fprintf(stderr, "accepted: %s\n", bad[i]);
            CHECK_EQ(rc, PF_ERR_PARSE);
        } else {
            CHECK_EQ(rc, 0);
        }
        CHECK_EQ(c.etp, 42); /* untouched */
    }
    pf__cmsd c;
    pf__cmsd_init(&c);
    CHECK_EQ(pf__cmsd_parse_dynamic("", 0, &c), 0);
    CHECK_EQ(pf__cmsd_parse_dynamic("   ", 3, &c), 0);
    CHECK_EQ(c.etp, -1);
    /* A NUL inside is not valid. */
    CHECK_EQ(pf__cmsd_parse_dynamic("\"a\";etp=1\0", 10, &c), PF_ERR_PARSE);
}

TEST(test_cmsd_static)
{
    pf__cmsd c;
    pf__cmsd_init(&c);
    const char *v = "ot=v,sf=h,st=v,d=5000,br=2000,n=\"OriginProviderA\",su,nor=\"../seg2.m4s\"";
    CHECK_EQ(cmsd_static(v, &c), 0);
    CHECK_EQ(c.br, 2000);
    CHECK_EQ(c.d, 5000);
    CHECK_EQ(c.etp, -1);
    v = "br=1,br=3"; /* the last of a key wins */
    CHECK_EQ(cmsd_static(v, &c), 0);
    CHECK_EQ(c.br, 3);
    v = "br=1,=2";
    CHECK_EQ(cmsd_static(v, &c), PF_ERR_PARSE);
    CHECK_EQ(c.br, 3);
    v = "etp=5"; /* a Dynamic key in Static: ignored */
    CHECK_EQ(cmsd_static(v, &c), 0);
    CHECK_EQ(c.etp, -1);
}

TEST(test_cmsd_headers)
{
    const char *h = "HTTP/1.1 206 Partial Content\r\n"
                    "Server: nginx\r\n"
                    "cmsd-static: br=3000,d=4000\r\n"
                    "CMSD-Dynamic: \"origin\";etp=500;mb=900\r\n"
                    "CMSD-Dynamic:   \"cdn-a\";etp=12000;mb=3000  \r\n"
                    "CMSD-Dynamic: broken,\r\n"
                    "X-CMSD-Dynamic: \"z\";etp=1\n"
                    "\r\n";
    pf__cmsd c;
    pf__cmsd_init(&c);
    CHECK_EQ(pf__cmsd_parse_headers(h, strlen(h), &c), 3);
    CHECK_EQ(c.etp, 12000);
    CHECK_EQ(c.mb, 3000);
    CHECK_EQ(c.br, 3000);
    CHECK_EQ(c.d, 4000);
    pf__cmsd_init(&c);
    CHECK_EQ(pf__cmsd_parse_headers("Server: x", 9, &c), 0);
    CHECK_EQ(pf__cmsd_parse_headers("CMSD-Dynamic:\"a\";etp=7", 22, &c), 1);
    CHECK_EQ(c.etp, 7);
}

/* ---- the engine: every web seed GET carries it ---------------------- */

#define SEC PF_NS_PER_SEC
#define MS PF_NS_PER_MS
#define BR 200000.0 /* bytes/s: br=1600 */
#define PLEN 65536u

/* Percent-decoding of a query argument's value. */
static void unescape(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    for (; *s && *s != '&' && n + 1 < cap; s++) {
        if (*s == '%' && s[1] && s[2]) {
            char hx[3] = {s[1], s[2], 0};
            out[n++] = (char)strtol(hx, NULL, 16);
            s += 2;
        } else {
            out[n++] = *s;
        }
    }
    out[n] = 0;
}

/* key is one of the comma-separated keys of payload (bare or key=...). */
static const char *cmcd_key(const char *payload, const char *key)
{
    size_t k = strlen(key);
    for (const char *p = payload; p && *p;) {
        if (strncmp(p, key, k) == 0 && (p[k] == '=' || p[k] == ',' || p[k] == 0 || p[k] == '\r')) return p;
        p = strchr(p, ',');
        if (p) p++;
    }
    return NULL;
}

/* The CMCD payload of url's query, decoded into p; 0 if it has none. */
static int query_payload(const char *url, char *p, size_t cap)
{
    const char *q = strstr(url, "?CMCD=");
    if (q == NULL) return 0;
    unescape(q + 6, p, cap);
    return 1;
}

typedef struct cdn_run {
    hn_content c;
    hn_net *n;
    hn_node *vn;
    hn_tor *v;
    hn_player pl;
} cdn_run;

/* vn's CDN answers, 50 ms away at 4 Mbit/s. */
static void cdn_ok(hn_node *vn)
{
    vn->cdn.mode = HN_CDN_OK;
    vn->cdn.latency_ns = 50 * MS;
    vn->cdn.rate_bps = 4 * 1000 * 1000;
}

/* Steps the net and the player until it is done or max_ns have passed. */
static int play_for(hn_net *n, hn_player *pl, uint64_t max_ns)
{
    uint64_t end = n->now + max_ns;
    while (!pl->done && n->now < end) {
        hn_step(n);
        hn_player_step(pl);
    }
    return pl->done;
}

static int cdn_start_ws(cdn_run *x, uint32_t mode, const char *cid, const char *ws)
{
    memset(x, 0, sizeof *x);
    if (hn_content_make(&x->c, 3000017, PLEN, 7, NULL) != 0) return 0; /* 15 s of media */
    x->n = hn_new(7);
    pf_session_settings set;
    pf_session_settings_default(&set);
    set.cmcd = mode;
    x->vn = hn_add_node(x->n, &set);
    cdn_ok(x->vn);
    x->v = hn_add_torrent(x->vn, &x->c, HN_EMPTY, NULL);
    if (!x->v || pf_torrent_add_webseed(x->v->t, ws, 1.0) != 0) return 0;
    if (hn_cdn_add_file(x->n, "http://cdn.test/v/content.bin", x->c.data, x->c.size, 0) != 0) return 0;
    if (cid && pf_torrent_set_content_id(x->v->t, cid) != 0) return 0;
    hn_settle(x->n);
    return hn_player_open(&x->pl, x->v, 0, 0, BR, x->c.data) == 0;
}

static int cdn_start_cid(cdn_run *x, uint32_t mode, const char *cid)
{
    return cdn_start_ws(x, mode, cid, "http://cdn.test/v/");
}

static int cdn_start(cdn_run *x, uint32_t mode) { return cdn_start_cid(x, mode, NULL); }

static int cdn_play(cdn_run *x, uint64_t max_ns)
{
    hn_player_step(&x->pl);
    return play_for(x->n, &x->pl, max_ns);
}

static void cdn_end(cdn_run *x)
{
    hn_player_close(&x->pl);
    hn_free(x->n);
    hn_content_free(&x->c);
}

/* Query mode (the default): every GET names the session, the content
 * (the info-hash), the object; the first is a start-up with the bitrate,
 * buffer and deadline; later ones are not start-ups and carry the
 * measured throughput. */
TEST(cmcd_engine_query)
{
    cdn_run x;
    CHECK(cdn_start(&x, PF_CMCD_QUERY));
    CHECK(cdn_play(&x, 40 * SEC));
    CHECK_EQ(x.pl.mismatches, 0);
    CHECK(x.vn->cdn.nreqs >= 2);
    char ih[41], sid[64] = "";
    for (int i = 0; i < 20; i++) snprintf(ih + 2 * i, 3, "%02x", pf_torrent_info_hash(x.v->t)[i]);
    int later_no_su = 0, later_mtp = 0;
    for (size_t i = 0; i < x.vn->cdn.nreqs; i++) {
        const hn_cdn_req *r = &x.vn->cdn.reqs[i];
        char p[1024];
        CHECK(query_payload(r->url, p, sizeof p));
        CHECK_STR(r->headers, "");
        if (getenv("HN_VERBOSE")) fprintf(stderr, "GET %zu: %s\n", i, p);
        const char *cid = cmcd_key(p, "cid"), *s = cmcd_key(p, "sid");
        CHECK(cid && strncmp(cid + 5, ih, 40) == 0 && cid[45] == '"');
        CHECK(s && strlen(s) >= 5 + 36 + 1 && s[5 + 36] == '"');
        if (i == 0) snprintf(sid, sizeof sid, "%.*s", 36, s + 5);
        CHECK(strncmp(s + 5, sid, 36) == 0); /* one session id */
        CHECK(cmcd_key(p, "ot") && cmcd_key(p, "st") && strstr(p, "st=v"));
        CHECK(cmcd_key(p, "dl"));
        CHECK(!cmcd_key(p, "sf")); /* no playlist in the torrent: not known */
        if (i == 0) {
            CHECK(cmcd_key(p, "su"));
            CHECK(strstr(p, "br=1600") != NULL);
            CHECK(cmcd_key(p, "bl"));
            CHECK(!cmcd_key(p, "mtp")); /* nothing measured yet */
        } else {
            later_no_su += !cmcd_key(p, "su");
            later_mtp += cmcd_key(p, "mtp") != NULL;
        }
    }
    CHECK(later_no_su > 0);
    CHECK(later_mtp > 0);
    cdn_end(&x);
}

/* Header mode: the same data in the four headers, none in the URL; off:
 * nothing at all. */
TEST(cmcd_engine_headers_and_off)
{
    cdn_run x;
    CHECK(cdn_start(&x, PF_CMCD_HEADERS));
    CHECK(cdn_play(&x, 40 * SEC));
    CHECK(x.vn->cdn.nreqs >= 2);
    for (size_t i = 0; i < x.vn->cdn.nreqs; i++) {
        const hn_cdn_req *r = &x.vn->cdn.reqs[i];
        CHECK(strchr(r->url, '?') == NULL);
        const char *rq = strstr(r->headers, "CMCD-Request: ");
        const char *se = strstr(r->headers, "CMCD-Session: ");
        const char *ob = strstr(r->headers, "CMCD-Object: ");
        CHECK(rq && se && ob && cmcd_key(ob + 13, "ot"));
        CHECK(cmcd_key(se + 14, "cid") && cmcd_key(se + 14, "sid"));
        CHECK(cmcd_key(rq + 14, "dl"));
        if (i == 0) CHECK(cmcd_key(rq + 14, "su") && strstr(r->headers, "br=1600"));
    }
    cdn_end(&x);
    CHECK(cdn_start(&x, PF_CMCD_OFF));
    CHECK(cdn_play(&x, 40 * SEC));
    CHECK(x.vn->cdn.nreqs >= 1);
    for (size_t i = 0; i < x.vn->cdn.nreqs; i++) {
        CHECK(strchr(x.vn->cdn.reqs[i].url, '?') == NULL);
        CHECK_STR(x.vn->cdn.reqs[i].headers, "");
    }
    cdn_end(&x);
}

/* The CDN's CMSD: etp and mb in the source's stats; etp the rate to plan
 * by until a GET of its own is measured, then never again. */
TEST(cmcd_engine_cmsd)
{
    cdn_run x;
    CHECK(cdn_start(&x, PF_CMCD_QUERY));
    hn_player_step(&x.pl);
    for (int i = 0; i < 100 && x.vn->cdn.njobs == 0; i++) hn_step(x.n);
    CHECK(x.vn->cdn.njobs > 0);
    pf_job *j = x.vn->cdn.jobs[0].job;
    pf__webseed *w = x.v->t->ws[0];
    CHECK(w->src.ops->rate(&w->src, x.n->now, NULL) == 0); /* nothing known */
    const char *h = "HTTP/1.1 206 Partial Content\r\nCMSD-Dynamic: \"cdn-a\";etp=12000;mb=3000\r\n\r\n";
    CHECK_EQ(pf_torrent_job_headers(x.v->t, j, h, strlen(h), x.n->now), 0);
    CHECK(w->src.ops->rate(&w->src, x.n->now, NULL) == 12000.0 * 1000 / 8);
    pf_source_stats st[4];
    size_t ns = pf_torrent_sources(x.v->t, st, 4);
    CHECK(ns >= 1);
    CHECK_EQ(st[0].cmsd_etp_kbps, 12000);
    CHECK_EQ(st[0].cmsd_mb_kbps, 3000);
    pf_torrent_stats ts;
    pf_torrent_get_stats(x.v->t, &ts);
    CHECK_EQ(ts.cmsd_etp_kbps, 12000);
    CHECK_EQ(ts.cmsd_mb_kbps, 3000);
    /* Not CMSD, or broken: what was said stays. */
    h = "CMSD-Dynamic: \"cdn-a\";etp=,\r\nServer: x\r\n";
    CHECK_EQ(pf_torrent_job_headers(x.v->t, j, h, strlen(h), x.n->now), 0);
    CHECK_EQ(w->src.cmsd_etp_kbps, 12000);
    CHECK_EQ(pf_torrent_job_headers(x.v->t, j, NULL, 0, x.n->now), 0);
    CHECK(cdn_play(&x, 40 * SEC));
    double r = w->src.ops->rate(&w->src, x.n->now, NULL);
    CHECK(r > 0 && r != 12000.0 * 1000 / 8); /* measured now */
    pf_job other = {.type = PF_JOB_READ};
    CHECK_EQ(pf_torrent_job_headers(x.v->t, &other, h, strlen(h), x.n->now), PF_ERR_INVAL);
    cdn_end(&x);
}

/* A web seed URL with a query of its own gets "&CMCD=". */
TEST(cmcd_url_with_query)
{
    cdn_run x;
    CHECK(cdn_start_ws(&x, PF_CMCD_QUERY, NULL, "http://cdn.test/v/content.bin?token=abc"));
    CHECK(cdn_play(&x, 40 * SEC));
    CHECK_EQ(x.pl.mismatches, 0);
    for (size_t i = 0; i < x.vn->cdn.nreqs; i++)
        CHECK(strncmp(x.vn->cdn.reqs[i].url, "http://cdn.test/v/content.bin?token=abc&CMCD=bl%3D", 50) == 0);
    cdn_end(&x);
}

/* A packaged title: sf=h (an HLS playlist in the torrent), ot per file;
 * a GET whose run goes on into the next segment names it (nor, nrr). */
TEST(cmcd_next_object)
{
    const char *paths[3] = {"master.m3u8", "seg1.m4s", "seg2.m4s"};
    const uint64_t sizes[3] = {1000, 300007, 200003};
    hn_content c;
    CHECK_EQ(hn_content_make_multi(&c, "title", paths, sizes, 3, 32768, 11, "http://cdn.test/t"), 0);
    hn_net *n = hn_new(11);
    hn_node *vn = hn_add_node(n, NULL);
    cdn_ok(vn);
    const char *urls[3] = {"http://cdn.test/t/title/master.m3u8", "http://cdn.test/t/title/seg1.m4s",
                           "http://cdn.test/t/title/seg2.m4s"};
    uint64_t off = 0;
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(hn_cdn_add_file(n, urls[i], c.data + off, sizes[i], off), 0);
        off += sizes[i];
    }
    hn_tor *v = hn_add_torrent(vn, &c, HN_EMPTY, NULL);
    CHECK(v != NULL);
    hn_settle(n);
    hn_player pl;
    memset(&pl, 0, sizeof pl);
    CHECK_EQ(hn_player_open(&pl, v, 1, 0, 100000.0, c.data + sizes[0]), 0);
    CHECK(play_for(n, &pl, 30 * SEC));
    CHECK_EQ(pl.mismatches, 0);
    int with_nor = 0, seg = 0;
    for (size_t i = 0; i < vn->cdn.nreqs; i++) {
        const hn_cdn_req *r = &vn->cdn.reqs[i];
        char p[1024];
        CHECK(query_payload(r->url, p, sizeof p));
        if (getenv("HN_VERBOSE")) fprintf(stderr, "%s [%llu +%llu]: %s\n", urls[r->file], (unsigned long long)r->start,
                                          (unsigned long long)r->len, p);
        CHECK(strstr(p, "sf=h") != NULL);
        if (r->file == 0) CHECK(strstr(p, "ot=m") && !cmcd_key(p, "bl") && !cmcd_key(p, "br"));
        if (r->file > 0) CHECK(strstr(p, "ot=av") && strstr(p, "br=800,"));
        seg += r->file > 0;
        const char *nor = cmcd_key(p, "nor");
        if (!nor) continue;
        with_nor++;
        /* The next file's name relative to this one, and the range of it. */
        CHECK(r->file < 2);
        CHECK(strncmp(nor, r->file == 0 ? "nor=\"seg1.m4s\"" : "nor=\"seg2.m4s\"", 14) == 0);
        const char *nrr = cmcd_key(p, "nrr");
        CHECK(nrr && strncmp(nrr, "nrr=\"0-", 7) == 0);
    }
    CHECK(seg > 0);
    CHECK(with_nor > 0);
    hn_player_close(&pl);
    hn_free(n);
    hn_content_free(&c);
}

TEST(cmcd_content_id)
{
    cdn_run x;
    CHECK(cdn_start_cid(&x, PF_CMCD_QUERY, "movie-42"));
    char big[70];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK_EQ(pf_torrent_set_content_id(x.v->t, big), PF_ERR_INVAL);
    CHECK_EQ(pf_torrent_set_content_id(x.v->t, "bad\n"), PF_ERR_INVAL);
    CHECK(cdn_play(&x, 40 * SEC));
    for (size_t i = 0; i < x.vn->cdn.nreqs; i++) {
        CHECK(strstr(x.vn->cdn.reqs[i].url, "cid%3D%22movie-42%22%2C") != NULL);
    }
    cdn_end(&x);
}

TEST_MAIN(test_spec_query, test_spec_payload, test_spec_headers, test_headers_only_nonempty, test_rounding,
          test_decimal_and_version, test_escaping, test_too_small, test_session_id, test_cmsd_dynamic,
          test_cmsd_malformed, test_cmsd_static, test_cmsd_headers, cmcd_engine_query, cmcd_engine_headers_and_off,
          cmcd_engine_cmsd, cmcd_content_id, cmcd_url_with_query, cmcd_next_object)
