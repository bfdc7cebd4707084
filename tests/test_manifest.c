/* The HLS and DASH readers (core/media/hls.c, dash.c, xml.c, manifest.c):
 * real ffmpeg 5.1 output parsed exactly (the dash muxer with
 * -hls_playlist 1 of tests/media/make_title.sh: one MPD and an HLS master
 * with its media playlists over the same fMP4 segments; and its --ts
 * variant), byte ranges, SegmentTemplate/List/Base, multi-period, URI
 * resolution and escapes, every refusal with its code and line, the
 * bounds, and every allocation failing in turn. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/media/manifest.h"
#include "test.h"

/* ffmpeg 5.1.9 output, as tests/media/make_title.sh wrote it. */
static const char FF_MASTER[] =
    "#EXTM3U\n"
    "#EXT-X-VERSION:7\n"
    "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"group_A1\",NAME=\"audio_3\",DEFAULT=YES,URI=\"media_3.m3u8\"\n"
    "#EXT-X-STREAM-INF:BANDWIDTH=1031850,RESOLUTION=426x240,CODECS=\"avc1.640015,mp4a.40.2\",AUDIO=\"group_A1\"\n"
    "media_0.m3u8\n"
    "\n"
    "#EXT-X-STREAM-INF:BANDWIDTH=2431850,RESOLUTION=854x480,CODECS=\"avc1.64001e,mp4a.40.2\",AUDIO=\"group_A1\"\n"
    "media_1.m3u8\n"
    "\n"
    "#EXT-X-STREAM-INF:BANDWIDTH=4731850,RESOLUTION=1280x720,CODECS=\"avc1.64001f,mp4a.40.2\",AUDIO=\"group_A1\"\n"
    "media_2.m3u8\n"
    "\n";

static const char FF_MEDIA3[] =
    "#EXTM3U\n"
    "#EXT-X-VERSION:6\n"
    "#EXT-X-TARGETDURATION:4\n"
    "#EXT-X-MEDIA-SEQUENCE:1\n"
    "#EXT-X-MAP:URI=\"init-stream3.m4s\"\n"
    "#EXTINF:3.925333,\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-12-07T17:47:12.000+0000\n"
    "chunk-stream3-00001.m4s\n"
    "#EXTINF:4.010667,\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-12-07T17:47:15.925+0000\n"
    "chunk-stream3-00002.m4s\n"
    "#EXTINF:3.989333,\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-12-07T17:47:19.936+0000\n"
    "chunk-stream3-00003.m4s\n"
    "#EXTINF:4.010667,\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-12-07T17:47:23.925+0000\n"
    "chunk-stream3-00004.m4s\n"
    "#EXTINF:3.989333,\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-12-07T17:47:27.936+0000\n"
    "chunk-stream3-00005.m4s\n"
    "#EXTINF:4.010667,\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-12-07T17:47:31.925+0000\n"
    "chunk-stream3-00006.m4s\n"
    "#EXTINF:0.064000,\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-12-07T17:47:35.936+0000\n"
    "chunk-stream3-00007.m4s\n"
    "#EXT-X-ENDLIST\n";

static const char FF_MEDIA0[] =
    "#EXTM3U\n"
    "#EXT-X-VERSION:6\n"
    "#EXT-X-TARGETDURATION:4\n"
    "#EXT-X-MEDIA-SEQUENCE:1\n"
    "#EXT-X-MAP:URI=\"init-stream0.m4s\"\n"
    "#EXTINF:4.000000,\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-12-07T17:47:12.000+0000\n"
    "chunk-stream0-00001.m4s\n"
    "#EXTINF:4.000000,\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-12-07T17:47:16.000+0000\n"
    "chunk-stream0-00002.m4s\n"
    "#EXTINF:4.000000,\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-12-07T17:47:20.000+0000\n"
    "chunk-stream0-00003.m4s\n"
    "#EXTINF:4.000000,\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-12-07T17:47:24.000+0000\n"
    "chunk-stream0-00004.m4s\n"
    "#EXTINF:4.000000,\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-12-07T17:47:28.000+0000\n"
    "chunk-stream0-00005.m4s\n"
    "#EXTINF:4.000000,\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-12-07T17:47:32.000+0000\n"
    "chunk-stream0-00006.m4s\n"
    "#EXT-X-ENDLIST\n";

static const char FF_MPD[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
    "<MPD xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"\n"
    "\txmlns=\"urn:mpeg:dash:schema:mpd:2011\"\n"
    "\txmlns:xlink=\"http://www.w3.org/1999/xlink\"\n"
    "\txsi:schemaLocation=\"urn:mpeg:DASH:schema:MPD:2011 http://standards.iso.org/ittf/PubliclyAvailableStandards/MPEG-DASH_schema_files/DASH-MPD.xsd\"\n"
    "\tprofiles=\"urn:mpeg:dash:profile:isoff-live:2011\"\n"
    "\ttype=\"static\"\n"
    "\tmediaPresentationDuration=\"PT24.0S\"\n"
    "\tmaxSegmentDuration=\"PT4.0S\"\n"
    "\tminBufferTime=\"PT8.0S\">\n"
    "\t<ProgramInformation>\n"
    "\t</ProgramInformation>\n"
    "\t<ServiceDescription id=\"0\">\n"
    "\t</ServiceDescription>\n"
    "\t<Period id=\"0\" start=\"PT0.0S\">\n"
    "\t\t<AdaptationSet id=\"0\" contentType=\"video\" startWithSAP=\"1\" segmentAlignment=\"true\" bitstreamSwitching=\"true\" frameRate=\"25/1\" maxWidth=\"1280\" maxHeight=\"720\" par=\"16:9\">\n"
    "\t\t\t<Representation id=\"0\" mimeType=\"video/mp4\" codecs=\"avc1.640015\" bandwidth=\"900000\" width=\"426\" height=\"240\" sar=\"640:639\">\n"
    "\t\t\t\t<SegmentTemplate timescale=\"12800\" initialization=\"init-stream$RepresentationID$.m4s\" media=\"chunk-stream$RepresentationID$-$Number%05d$.m4s\" startNumber=\"1\">\n"
    "\t\t\t\t\t<SegmentTimeline>\n"
    "\t\t\t\t\t\t<S t=\"0\" d=\"51200\" r=\"5\" />\n"
    "\t\t\t\t\t</SegmentTimeline>\n"
    "\t\t\t\t</SegmentTemplate>\n"
    "\t\t\t</Representation>\n"
    "\t\t\t<Representation id=\"1\" mimeType=\"video/mp4\" codecs=\"avc1.64001e\" bandwidth=\"2300000\" width=\"854\" height=\"480\" sar=\"1280:1281\">\n"
    "\t\t\t\t<SegmentTemplate timescale=\"12800\" initialization=\"init-stream$RepresentationID$.m4s\" media=\"chunk-stream$RepresentationID$-$Number%05d$.m4s\" startNumber=\"1\">\n"
    "\t\t\t\t\t<SegmentTimeline>\n"
    "\t\t\t\t\t\t<S t=\"0\" d=\"51200\" r=\"5\" />\n"
    "\t\t\t\t\t</SegmentTimeline>\n"
    "\t\t\t\t</SegmentTemplate>\n"
    "\t\t\t</Representation>\n"
    "\t\t\t<Representation id=\"2\" mimeType=\"video/mp4\" codecs=\"avc1.64001f\" bandwidth=\"4600000\" width=\"1280\" height=\"720\" sar=\"1:1\">\n"
    "\t\t\t\t<SegmentTemplate timescale=\"12800\" initialization=\"init-stream$RepresentationID$.m4s\" media=\"chunk-stream$RepresentationID$-$Number%05d$.m4s\" startNumber=\"1\">\n"
    "\t\t\t\t\t<SegmentTimeline>\n"
    "\t\t\t\t\t\t<S t=\"0\" d=\"51200\" r=\"5\" />\n"
    "\t\t\t\t\t</SegmentTimeline>\n"
    "\t\t\t\t</SegmentTemplate>\n"
    "\t\t\t</Representation>\n"
    "\t\t</AdaptationSet>\n"
    "\t\t<AdaptationSet id=\"1\" contentType=\"audio\" startWithSAP=\"1\" segmentAlignment=\"true\" bitstreamSwitching=\"true\">\n"
    "\t\t\t<Representation id=\"3\" mimeType=\"audio/mp4\" codecs=\"mp4a.40.2\" bandwidth=\"128000\" audioSamplingRate=\"48000\">\n"
    "\t\t\t\t<AudioChannelConfiguration schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" value=\"2\" />\n"
    "\t\t\t\t<SegmentTemplate timescale=\"48000\" initialization=\"init-stream$RepresentationID$.m4s\" media=\"chunk-stream$RepresentationID$-$Number%05d$.m4s\" startNumber=\"1\">\n"
    "\t\t\t\t\t<SegmentTimeline>\n"
    "\t\t\t\t\t\t<S t=\"0\" d=\"188416\" />\n"
    "\t\t\t\t\t\t<S d=\"192512\" />\n"
    "\t\t\t\t\t\t<S d=\"191488\" />\n"
    "\t\t\t\t\t\t<S d=\"192512\" />\n"
    "\t\t\t\t\t\t<S d=\"191488\" />\n"
    "\t\t\t\t\t\t<S d=\"192512\" />\n"
    "\t\t\t\t\t\t<S d=\"3072\" />\n"
    "\t\t\t\t\t</SegmentTimeline>\n"
    "\t\t\t\t</SegmentTemplate>\n"
    "\t\t\t</Representation>\n"
    "\t\t</AdaptationSet>\n"
    "\t</Period>\n"
    "</MPD>\n";

static const char TS_MASTER[] =
    "#EXTM3U\n"
    "#EXT-X-VERSION:3\n"
    "#EXT-X-STREAM-INF:BANDWIDTH=1130800,RESOLUTION=426x240,CODECS=\"avc1.640015,mp4a.40.2\"\n"
    "v0/index.m3u8\n"
    "\n"
    "#EXT-X-STREAM-INF:BANDWIDTH=2670800,RESOLUTION=854x480,CODECS=\"avc1.64001e,mp4a.40.2\"\n"
    "v1/index.m3u8\n"
    "\n"
    "#EXT-X-STREAM-INF:BANDWIDTH=5200800,RESOLUTION=1280x720,CODECS=\"avc1.64001f,mp4a.40.2\"\n"
    "v2/index.m3u8\n"
    "\n";

static const char TS_V0[] =
    "#EXTM3U\n"
    "#EXT-X-VERSION:3\n"
    "#EXT-X-TARGETDURATION:4\n"
    "#EXT-X-MEDIA-SEQUENCE:0\n"
    "#EXT-X-PLAYLIST-TYPE:VOD\n"
    "#EXTINF:4.000000,\n"
    "seg000.ts\n"
    "#EXTINF:4.000000,\n"
    "seg001.ts\n"
    "#EXTINF:4.000000,\n"
    "seg002.ts\n"
    "#EXTINF:4.000000,\n"
    "seg003.ts\n"
    "#EXTINF:4.000000,\n"
    "seg004.ts\n"
    "#EXTINF:4.000000,\n"
    "seg005.ts\n"
    "#EXT-X-ENDLIST\n";

typedef struct counting {
    long count, fail_at, live;
} counting;
/* Counts the call: 1 if it is the one to fail. */
static int c_fails(counting *c)
{
    return ++c->count == c->fail_at;
}
/* p, a new block, counted live. */
static void *c_live(counting *c, void *p)
{
    if (p) c->live++;
    return p;
}
static void *c_malloc(size_t n, void *ud)
{
    return c_fails(ud) ? NULL : c_live(ud, malloc(n));
}
static void *c_calloc(size_t k, size_t n, void *ud)
{
    return c_fails(ud) ? NULL : c_live(ud, calloc(k, n));
}
static void *c_realloc(void *p, size_t n, void *ud)
{
    if (c_fails(ud)) return NULL;
    void *q = realloc(p, n);
    return p ? q : c_live(ud, q);
}
static void c_free(void *p, void *ud)
{
    counting *c = ud;
    if (p) c->live--;
    free(p);
}

static char err[512];

/* pf_hls_parse or pf_dash_parse. */
typedef int (*parse_fn)(const pf_mem *mem, const char *path, const uint8_t *text, size_t n, pf_manifest **out,
                        char *err, size_t errlen);

/* The manifest parse() makes of text, or NULL (the refusal printed). */
static pf_manifest *parsed(parse_fn parse, const char *name, const char *path, const char *text)
{
    pf_manifest *m = NULL;
    int rc = parse(NULL, path, (const uint8_t *)text, strlen(text), &m, err, sizeof err);
    if (rc) fprintf(stderr, "%s: %s: %s\n", name, pf_err_name(rc), err);
    return m;
}

static pf_manifest *hls(const char *path, const char *text)
{
    return parsed(pf_hls_parse, "pf_hls_parse", path, text);
}

static pf_manifest *dash(const char *path, const char *text)
{
    return parsed(pf_dash_parse, "pf_dash_parse", path, text);
}

/* The refusal's code (99: a refusal that left *out set); err holds its message. */
static int parse_rc(parse_fn parse, const char *path, const char *text)
{
    pf_manifest *m = (pf_manifest *)1;
    int rc = parse(NULL, path, (const uint8_t *)text, strlen(text), &m, err, sizeof err);
    if (rc == 0) pf_manifest_free(NULL, m);
    else if (m != NULL) return 99;
    return rc;
}

static int hls_rc(const char *text)
{
    return parse_rc(pf_hls_parse, "t/p.m3u8", text);
}

static int dash_rc(const char *text)
{
    return parse_rc(pf_dash_parse, "t/m.mpd", text);
}

typedef struct refusal {
    const char *text;
    int rc;
    const char *msg; /* a part of the message */
} refusal;

/* 1 if rc_of refuses every case with its code and a message holding its
 * msg; else 0, the first case that does not printed. */
static int refused_all(int (*rc_of)(const char *), const refusal *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = rc_of(cases[i].text);
        if (rc != cases[i].rc || !strstr(err, cases[i].msg)) {
            fprintf(stderr, "case %zu: %s \"%s\", wanted %s \"%s\"\n", i, pf_err_name(rc), err,
                    pf_err_name(cases[i].rc), cases[i].msg);
            return 0;
        }
    }
    return 1;
}

#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

TEST(hls_ffmpeg_master)
{
    pf_manifest *m = hls("title/master.m3u8", FF_MASTER);
    CHECK(m != NULL);
    CHECK_EQ(m->kind, PF_MF_HLS_MASTER);
    CHECK_EQ(m->ntracks, 4);
    const pf_mf_track *a = &m->tracks[0];
    CHECK_STR(a->id, "title/media_3.m3u8");
    CHECK_STR(a->playlist, "title/media_3.m3u8");
    CHECK_EQ(a->kind, 'a');
    CHECK_STR(a->group, "group_A1");
    CHECK_EQ(a->nseg, 0);
    CHECK_EQ(a->line, 3);
    static const uint64_t bw[] = {1031850, 2431850, 4731850};
    static const uint32_t w[] = {426, 854, 1280}, h[] = {240, 480, 720};
    static const char *const codecs[] = {"avc1.640015,mp4a.40.2", "avc1.64001e,mp4a.40.2", "avc1.64001f,mp4a.40.2"};
    for (int i = 0; i < 3; i++) {
        const pf_mf_track *t = &m->tracks[1 + i];
        char p[64];
        snprintf(p, sizeof p, "title/media_%d.m3u8", i);
        CHECK_STR(t->playlist, p);
        CHECK_STR(t->id, p);
        CHECK_EQ(t->kind, 'v');
        CHECK_EQ(t->bandwidth, bw[i]);
        CHECK_EQ(t->width, w[i]);
        CHECK_EQ(t->height, h[i]);
        CHECK_STR(t->codecs, codecs[i]);
        CHECK_STR(t->group, "group_A1");
        CHECK(t->init == NULL);
        CHECK_EQ(t->nseg, 0);
    }
    /* The media playlists fill the tracks. */
    pf_mf_track *t = &m->tracks[0];
    CHECK_EQ(pf_hls_parse_media(NULL, t, (const uint8_t *)FF_MEDIA3, strlen(FF_MEDIA3), err, sizeof err), 0);
    CHECK_STR(t->init, "title/init-stream3.m4s");
    CHECK_EQ(t->init_off, 0);
    CHECK_EQ(t->init_len, 0);
    CHECK_EQ(t->nseg, 7);
    static const double d[] = {3.925333, 4.010667, 3.989333, 4.010667, 3.989333, 4.010667, 0.064};
    double start = 0;
    for (int i = 0; i < 7; i++) {
        char p[64];
        snprintf(p, sizeof p, "title/chunk-stream3-%05d.m4s", i + 1);
        CHECK_STR(t->seg[i].path, p);
        CHECK(NEAR(t->seg[i].duration_s, d[i]));
        CHECK(NEAR(t->seg[i].start_s, start));
        CHECK_EQ(t->seg[i].range_len, 0);
        start += d[i];
    }
    CHECK(NEAR(t->duration_s, 24.0));
    t = &m->tracks[1];
    CHECK_EQ(pf_hls_parse_media(NULL, t, (const uint8_t *)FF_MEDIA0, strlen(FF_MEDIA0), err, sizeof err), 0);
    CHECK_EQ(t->nseg, 6);
    CHECK_STR(t->init, "title/init-stream0.m4s");
    CHECK_STR(t->seg[5].path, "title/chunk-stream0-00006.m4s");
    CHECK(NEAR(t->seg[5].start_s, 20.0));
    CHECK(NEAR(t->duration_s, 24.0));
    /* A failing media playlist leaves the track as it was. */
    CHECK_EQ(pf_hls_parse_media(NULL, t, (const uint8_t *)"#EXTM3U\n#EXTINF:4,\n", 19, err, sizeof err), PF_ERR_PARSE);
    CHECK_EQ(t->nseg, 6);
    pf_manifest_free(NULL, m);
}

TEST(hls_ffmpeg_ts)
{
    pf_manifest *m = hls("ts/master.m3u8", TS_MASTER);
    CHECK(m != NULL);
    CHECK_EQ(m->ntracks, 3);
    CHECK_STR(m->tracks[2].playlist, "ts/v2/index.m3u8");
    CHECK_EQ(m->tracks[2].bandwidth, 5200800);
    CHECK(m->tracks[2].group == NULL);
    pf_manifest_free(NULL, m);
    m = hls("ts/v0/index.m3u8", TS_V0);
    CHECK(m != NULL);
    CHECK_EQ(m->kind, PF_MF_HLS_MEDIA);
    CHECK_EQ(m->ntracks, 1);
    CHECK_STR(m->tracks[0].id, "ts/v0/index.m3u8");
    CHECK_EQ(m->tracks[0].nseg, 6);
    CHECK(m->tracks[0].init == NULL);
    CHECK_STR(m->tracks[0].seg[0].path, "ts/v0/seg000.ts");
    CHECK_STR(m->tracks[0].seg[5].path, "ts/v0/seg005.ts");
    CHECK(NEAR(m->tracks[0].seg[5].start_s, 20.0));
    CHECK(NEAR(m->duration_s, 24.0));
    pf_manifest_free(NULL, m);
}

TEST(hls_byterange_and_renditions)
{
    pf_manifest *m = hls("a/b/main.m3u8",
                         "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXT-X-MAP:URI=\"main.mp4\",BYTERANGE=\"720@0\"\n"
                         "#EXT-X-KEY:METHOD=NONE\n#EXTINF:9.009,\n#EXT-X-BYTERANGE:1000@720\nmain.mp4\n"
                         "#EXTINF:9.009,\n#EXT-X-BYTERANGE:2000\nmain.mp4\n#EXTINF:3,\n../c/x%20y.ts?t=1#f\n#EXT-X-ENDLIST\n");
    CHECK(m != NULL);
    const pf_mf_track *t = &m->tracks[0];
    CHECK_STR(t->init, "a/b/main.mp4");
    CHECK_EQ(t->init_off, 0);
    CHECK_EQ(t->init_len, 720);
    CHECK_EQ(t->nseg, 3);
    CHECK_EQ(t->seg[0].range_off, 720);
    CHECK_EQ(t->seg[0].range_len, 1000);
    CHECK_EQ(t->seg[1].range_off, 1720); /* where the last range ended */
    CHECK_EQ(t->seg[1].range_len, 2000);
    CHECK_STR(t->seg[2].path, "a/c/x y.ts");
    CHECK_EQ(t->seg[2].range_len, 0);
    CHECK(NEAR(t->seg[2].start_s, 18.018));
    CHECK(NEAR(t->duration_s, 21.018));
    pf_manifest_free(NULL, m);
    m = hls("m.m3u8", "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"en\",URI=\"en.m3u8\"\n"
                      "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"s\",NAME=\"en\",URI=\"subs.m3u8\"\n"
                      "#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID=\"cc\",NAME=\"cc\",INSTREAM-ID=\"CC1\"\n"
                      "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI=\"if.m3u8\"\n"
                      "#EXT-X-STREAM-INF:BANDWIDTH=64000,CODECS=\"mp4a.40.5\"\nen.m3u8\n"
                      "#EXT-X-STREAM-INF:BANDWIDTH=96000,CODECS=\"mp4a.40.2\"\nlo.m3u8\n"
                      "#EXT-X-STREAM-INF:BANDWIDTH=800000,CODECS=\"avc1.4d401e,mp4a.40.2\",AUDIO=\"a\"\nv.m3u8\n");
    CHECK(m != NULL);
    CHECK_EQ(m->ntracks, 4); /* en.m3u8 named twice: once */
    CHECK_EQ(m->tracks[0].kind, 'a');
    CHECK_EQ(m->tracks[1].kind, 't');
    CHECK_STR(m->tracks[1].group, "s");
    CHECK_EQ(m->tracks[2].kind, 'a'); /* audio-only CODECS */
    CHECK_STR(m->tracks[2].playlist, "lo.m3u8");
    CHECK_EQ(m->tracks[3].kind, 'v');
    CHECK_EQ(m->tracks[3].width, 0);
    pf_manifest_free(NULL, m);
}

TEST(hls_refusals)
{
    static const refusal cases[] = {
        {"", PF_ERR_PARSE, "empty"},
        {"#EXTM3X\n", PF_ERR_PARSE, "line 1: not an HLS playlist"},
        {"#EXTM3U\n#EXT-X-VERSION:3\n", PF_ERR_PARSE, "neither"},
        {"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\na.ts\n", PF_ERR_UNSUPPORTED, "live"},
        {"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-KEY:METHOD=AES-128,URI=\"k\"\n#EXTINF:4,\na.ts\n#EXT-X-ENDLIST\n",
         PF_ERR_UNSUPPORTED, "line 3: encrypted"},
        {"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"k\"\n#EXTINF:4,\na.ts\n#EXT-X-ENDLIST\n",
         PF_ERR_UNSUPPORTED, "encrypted"},
        {"#EXTM3U\n#EXT-X-SESSION-KEY:METHOD=AES-128,URI=\"k\"\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n",
         PF_ERR_UNSUPPORTED, "line 2: encrypted"},
        {"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\n../../a.ts\n#EXT-X-ENDLIST\n", PF_ERR_RANGE,
         "line 4: URI \"../../a.ts\" points outside the title"},
        {"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\nhttp://cdn/a.ts\n#EXT-X-ENDLIST\n", PF_ERR_RANGE, "line 4"},
        {"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\n/etc/passwd\n#EXT-X-ENDLIST\n", PF_ERR_RANGE, "outside"},
        {"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n%2e%2e/%2e%2e/x.m3u8\n", PF_ERR_RANGE, "line 3"},
        {"#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",URI=\"//evil/x.m3u8\"\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n",
         PF_ERR_RANGE, "line 2"},
        {"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:-4,\na.ts\n#EXT-X-ENDLIST\n", PF_ERR_PARSE, "line 3: bad EXTINF"},
        {"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:nan,\na.ts\n#EXT-X-ENDLIST\n", PF_ERR_PARSE, "bad EXTINF"},
        {"#EXTM3U\n#EXT-X-TARGETDURATION:4\na.ts\n#EXT-X-ENDLIST\n", PF_ERR_PARSE, "line 3: segment URI without EXTINF"},
        {"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\n#EXT-X-ENDLIST\n", PF_ERR_PARSE, "without a segment URI"},
        {"#EXTM3U\n#EXTINF:4,\na.ts\n#EXT-X-ENDLIST\n", PF_ERR_PARSE, "no EXT-X-TARGETDURATION"},
        {"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-ENDLIST\n", PF_ERR_PARSE, "no segments"},
        {"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n", PF_ERR_PARSE, "line 2: EXT-X-STREAM-INF without a URI"},
        {"#EXTM3U\n#EXT-X-STREAM-INF:RESOLUTION=1x1\na.m3u8\n", PF_ERR_PARSE, "line 2: EXT-X-STREAM-INF without BANDWIDTH"},
        {"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=big\na.m3u8\n", PF_ERR_PARSE, "bad RESOLUTION"},
        {"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"x\nb.m3u8\n", PF_ERR_PARSE, "line 2: malformed attribute list"},
        {"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n#EXTINF:4,\n", PF_ERR_PARSE, "media playlist tag in a master"},
        {"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MAP:URI=\"i.mp4\"\n#EXTINF:4,\na.ts\n#EXT-X-MAP:URI=\"j.mp4\"\n"
         "#EXTINF:4,\nb.ts\n#EXT-X-ENDLIST\n",
         PF_ERR_UNSUPPORTED, "line 6: a second, different EXT-X-MAP"},
        {"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\n#EXT-X-BYTERANGE:100\na.ts\n#EXT-X-ENDLIST\n", PF_ERR_PARSE,
         "line 5: EXT-X-BYTERANGE without an offset"},
        {"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\n#EXT-X-BYTERANGE:x@1\na.ts\n#EXT-X-ENDLIST\n", PF_ERR_PARSE,
         "line 4: bad EXT-X-BYTERANGE"},
    };
    CHECK(refused_all(hls_rc, cases, sizeof cases / sizeof *cases));
    /* A NUL byte, a line over 64 KiB, a text over 16 MiB. */
    pf_manifest *m = (pf_manifest *)1;
    CHECK_EQ(pf_hls_parse(NULL, "p", (const uint8_t *)"#EXTM3U\n#EXT\0\n", 14, &m, err, sizeof err), PF_ERR_PARSE);
    CHECK(m == NULL);
    CHECK(strstr(err, "line 2: NUL byte") != NULL);
    size_t big = PF_MF_MAX_LINE + 100;
    char *s = malloc(PF_MF_MAX_TEXT + 2);
    CHECK(s != NULL);
    memcpy(s, "#EXTM3U\n#", 9);
    memset(s + 9, 'A', big);
    CHECK_EQ(pf_hls_parse(NULL, "p", (const uint8_t *)s, 9 + big, &m, err, sizeof err), PF_ERR_LIMIT);
    CHECK(strstr(err, "line 2: longer than") != NULL);
    memset(s + 9, '\n', PF_MF_MAX_TEXT + 2 - 9);
    CHECK_EQ(pf_hls_parse(NULL, "p", (const uint8_t *)s, PF_MF_MAX_TEXT + 1, &m, err, sizeof err), PF_ERR_LIMIT);
    free(s);
}

TEST(hls_limits)
{
    /* 65 variants: PF_ERR_LIMIT; 64: fine. */
    char *s = malloc(65 * 64 + 16);
    CHECK(s != NULL);
    size_t o = (size_t)snprintf(s, 16, "#EXTM3U\n");
    for (int i = 0; i < 65; i++) o += (size_t)snprintf(s + o, 64, "#EXT-X-STREAM-INF:BANDWIDTH=%d\nv%d.m3u8\n", i + 1, i);
    CHECK_EQ(hls_rc(s), PF_ERR_LIMIT);
    CHECK(strstr(err, "line 131: more than 64 tracks") != NULL);
    *strstr(s, "#EXT-X-STREAM-INF:BANDWIDTH=65") = 0;
    CHECK_EQ(hls_rc(s), 0);
    free(s);
    /* 200,001 segments: PF_ERR_LIMIT. */
    size_t cap = 200001 * 16 + 64;
    s = malloc(cap);
    CHECK(s != NULL);
    o = (size_t)snprintf(s, cap, "#EXTM3U\n#EXT-X-TARGETDURATION:1\n");
    for (int i = 0; i < 200001; i++) o += (size_t)snprintf(s + o, cap - o, "#EXTINF:1,\ns\n");
    snprintf(s + o, cap - o, "#EXT-X-ENDLIST\n");
    CHECK_EQ(hls_rc(s), PF_ERR_LIMIT);
    CHECK(strstr(err, "more than 200000 segments") != NULL);
    free(s);
}

TEST(resolve)
{
    static const struct { const char *base, *uri; int rc; const char *out; } cases[] = {
        {"t/master.m3u8", "a.ts", 0, "t/a.ts"},
        {"t/master.m3u8", "v0/index.m3u8", 0, "t/v0/index.m3u8"},
        {"t/v0/index.m3u8", "../init.mp4", 0, "t/init.mp4"},
        {"t/v0/index.m3u8", "./x/./y/../z.ts", 0, "t/v0/x/z.ts"},
        {"master.m3u8", "a%20b.ts?token=1#frag", 0, "a b.ts"},
        {"m.m3u8", "seg%3F.ts", 0, "seg?.ts"},
        {"t/m.m3u8", "../a.ts", 0, "a.ts"},
        {"t/m.m3u8", "../../a.ts", PF_ERR_RANGE, ""},
        {"m.m3u8", "%2e%2e/a.ts", PF_ERR_RANGE, ""},
        {"m.m3u8", "a/%2e%2e%2f%2e%2e%2fb", PF_ERR_RANGE, ""},
        {"m.m3u8", "http://cdn.example/a.ts", PF_ERR_RANGE, ""},
        {"m.m3u8", "file:a.ts", PF_ERR_RANGE, ""},
        {"m.m3u8", "C:a.ts", PF_ERR_RANGE, ""},
        {"m.m3u8", "//host/a.ts", PF_ERR_RANGE, ""},
        {"m.m3u8", "/etc/passwd", PF_ERR_RANGE, ""},
        {"m.m3u8", "a\\..\\..\\b", PF_ERR_RANGE, ""},
        {"m.m3u8", "a%5c..%5cb", PF_ERR_RANGE, ""},
        {"m.m3u8", "", PF_ERR_PARSE, ""},
        {"m.m3u8", "?x", PF_ERR_PARSE, ""},
        {"m.m3u8", "a%zz", PF_ERR_PARSE, ""},
        {"m.m3u8", "a%0", PF_ERR_PARSE, ""},
        {"m.m3u8", "a%00b", PF_ERR_PARSE, ""},
        {"m.m3u8", "a\tb", PF_ERR_PARSE, ""},
        {"m.m3u8", "dir/", PF_ERR_PARSE, ""},
        {"t/m.m3u8", "..", PF_ERR_PARSE, ""},
        {"m.m3u8", ".", PF_ERR_PARSE, ""},
    };
    char out[PF_MF_MAX_PATH];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int rc = pf_mf_resolve(cases[i].base, cases[i].uri, out, sizeof out);
        if (rc != cases[i].rc || (rc == 0 && strcmp(out, cases[i].out) != 0)) {
            fprintf(stderr, "case %zu: %s -> %s \"%s\"\n", i, cases[i].uri, pf_err_name(rc), rc ? "" : out);
            CHECK(0);
        }
    }
    char small[8];
    CHECK_EQ(pf_mf_resolve("m.m3u8", "abcdefghij.ts", small, sizeof small), PF_ERR_LIMIT);
}

TEST(dash_ffmpeg)
{
    pf_manifest *m = dash("title/manifest.mpd", FF_MPD);
    CHECK(m != NULL);
    CHECK_EQ(m->kind, PF_MF_DASH);
    CHECK(NEAR(m->duration_s, 24.0));
    CHECK_EQ(m->ntracks, 4);
    static const uint64_t bw[] = {900000, 2300000, 4600000, 128000};
    static const uint32_t w[] = {426, 854, 1280, 0};
    static const char *const codecs[] = {"avc1.640015", "avc1.64001e", "avc1.64001f", "mp4a.40.2"};
    for (int i = 0; i < 4; i++) {
        const pf_mf_track *t = &m->tracks[i];
        char p[64];
        snprintf(p, sizeof p, "%d", i);
        CHECK_STR(t->id, p);
        CHECK(t->playlist == NULL);
        CHECK_EQ(t->kind, i < 3 ? 'v' : 'a');
        CHECK_STR(t->group, i < 3 ? "0" : "1");
        CHECK_EQ(t->bandwidth, bw[i]);
        CHECK_EQ(t->width, w[i]);
        CHECK_STR(t->codecs, codecs[i]);
        snprintf(p, sizeof p, "title/init-stream%d.m4s", i);
        CHECK_STR(t->init, p);
        CHECK_EQ(t->nseg, i < 3 ? 6 : 7);
        for (size_t k = 0; k < t->nseg; k++) {
            snprintf(p, sizeof p, "title/chunk-stream%d-%05zu.m4s", i, k + 1);
            CHECK_STR(t->seg[k].path, p);
        }
        CHECK(NEAR(t->duration_s, 24.0));
    }
    CHECK(NEAR(m->tracks[0].seg[3].start_s, 12.0));
    CHECK(NEAR(m->tracks[0].seg[3].duration_s, 4.0));
    /* Audio: the SegmentTimeline's d / 48000, each S on its own. */
    const pf_mf_track *a = &m->tracks[3];
    CHECK(NEAR(a->seg[0].duration_s, 188416 / 48000.0));
    CHECK(NEAR(a->seg[1].start_s, 188416 / 48000.0));
    CHECK(NEAR(a->seg[6].duration_s, 3072 / 48000.0));
    CHECK(NEAR(a->seg[6].start_s, (1152000 - 3072) / 48000.0));
    pf_manifest_free(NULL, m);
}

TEST(dash_template_list_base)
{
    pf_manifest *m = dash("d/m.mpd",
                          "<MPD type=\"static\" mediaPresentationDuration=\"PT0H0M10.5S\"><Period>"
                          "<AdaptationSet mimeType=\"video/mp4\"><SegmentTemplate timescale=\"90000\" duration=\"360000\" "
                          "startNumber=\"0\" initialization=\"$RepresentationID$/init.mp4\" "
                          "media=\"$RepresentationID$/$Bandwidth$/s-$Number%03d$.m4s\"/>"
                          "<Representation id=\"lo\" bandwidth=\"400000\"/>"
                          "<Representation id=\"hi\" bandwidth=\"3000000\"><SegmentTemplate media=\"$RepresentationID$/t$Time$$$.m4s\"/>"
                          "</Representation></AdaptationSet></Period></MPD>");
    CHECK(m != NULL);
    CHECK_EQ(m->ntracks, 2);
    CHECK_STR(m->tracks[0].init, "d/lo/init.mp4");
    CHECK_EQ(m->tracks[0].nseg, 3);
    CHECK_STR(m->tracks[0].seg[0].path, "d/lo/400000/s-000.m4s");
    CHECK_STR(m->tracks[0].seg[2].path, "d/lo/400000/s-002.m4s");
    CHECK(NEAR(m->tracks[0].seg[2].duration_s, 2.5)); /* cut at the period's end */
    CHECK_STR(m->tracks[1].init, "d/hi/init.mp4");     /* inherited */
    CHECK_STR(m->tracks[1].seg[1].path, "d/hi/t360000$.m4s");
    pf_manifest_free(NULL, m);
    /* r=-1 up to the period's end, presentationTimeOffset. */
    m = dash("m.mpd", "<MPD type=\"static\"><Period duration=\"PT20S\"><AdaptationSet contentType=\"audio\">"
                      "<Representation id=\"a\" bandwidth=\"1\"><SegmentTemplate timescale=\"1000\" presentationTimeOffset=\"1000\" "
                      "media=\"a_$Time$.m4s\"><SegmentTimeline><S t=\"1000\" d=\"2000\" r=\"1\"/><S d=\"4000\" r=\"-1\"/>"
                      "</SegmentTimeline></SegmentTemplate></Representation></AdaptationSet></Period></MPD>");
    CHECK(m != NULL);
    CHECK_EQ(m->tracks[0].nseg, 6); /* 2 x 2 s, then 4 x 4 s up to 20 s */
    CHECK_STR(m->tracks[0].seg[0].path, "a_1000.m4s");
    CHECK(NEAR(m->tracks[0].seg[0].start_s, 0));
    CHECK_STR(m->tracks[0].seg[5].path, "a_17000.m4s");
    CHECK(NEAR(m->tracks[0].seg[5].start_s, 16));
    CHECK_EQ(m->tracks[0].kind, 'a');
    CHECK(NEAR(m->duration_s, 20));
    pf_manifest_free(NULL, m);
    /* SegmentBase and BaseURL alone: the whole file; BaseURLs chain. */
    m = dash("t/d/m.mpd", "<MPD type=\"static\" mediaPresentationDuration=\"PT1M0.04S\"><BaseURL>../media/</BaseURL><Period>"
                          "<AdaptationSet contentType=\"video\"><BaseURL>v/</BaseURL><Representation id=\"0\" bandwidth=\"2\">"
                          "<BaseURL>720p.mp4</BaseURL><SegmentBase indexRange=\"804-1063\"><Initialization range=\"0-803\"/>"
                          "</SegmentBase></Representation></AdaptationSet><AdaptationSet mimeType=\"text/vtt\">"
                          "<Representation id=\"s\" bandwidth=\"1\"><BaseURL>s&amp;1.vtt</BaseURL></Representation>"
                          "</AdaptationSet></Period></MPD>");
    CHECK(m != NULL);
    CHECK_STR(m->tracks[0].init, "t/media/v/720p.mp4");
    CHECK_EQ(m->tracks[0].init_off, 0);
    CHECK_EQ(m->tracks[0].init_len, 804);
    CHECK_EQ(m->tracks[0].nseg, 1);
    CHECK_STR(m->tracks[0].seg[0].path, "t/media/v/720p.mp4");
    CHECK(NEAR(m->tracks[0].seg[0].duration_s, 60.04));
    CHECK_STR(m->tracks[1].seg[0].path, "t/media/s&1.vtt");
    CHECK_EQ(m->tracks[1].kind, 't');
    pf_manifest_free(NULL, m);
}

TEST(dash_segment_list_periods)
{
    pf_manifest *m = dash("m.mpd",
                          "<MPD type=\"static\" mediaPresentationDuration=\"PT16S\"><Period id=\"p0\" duration=\"PT8S\">"
                          "<AdaptationSet id=\"v\" mimeType=\"video/mp4\"><Representation id=\"v1\" bandwidth=\"5\">"
                          "<SegmentList timescale=\"1000\" duration=\"4000\"><Initialization sourceURL=\"init.mp4\"/>"
                          "<SegmentURL media=\"1.m4s\"/><SegmentURL media=\"2.m4s\" mediaRange=\"100-1099\"/></SegmentList>"
                          "</Representation></AdaptationSet></Period><Period start=\"PT8S\"><AdaptationSet>"
                          "<Representation id=\"v1\" bandwidth=\"5\"><SegmentList timescale=\"1000\">"
                          "<Initialization sourceURL=\"init.mp4\"/><SegmentTimeline><S d=\"3000\"/><S d=\"5000\"/></SegmentTimeline>"
                          "<SegmentURL media=\"3.m4s\"/><SegmentURL media=\"4.m4s\"/></SegmentList></Representation>"
                          "</AdaptationSet></Period></MPD>");
    CHECK(m != NULL);
    CHECK_EQ(m->ntracks, 1);
    const pf_mf_track *t = &m->tracks[0];
    CHECK_STR(t->init, "init.mp4");
    CHECK_EQ(t->nseg, 4);
    CHECK_EQ(t->seg[1].range_off, 100);
    CHECK_EQ(t->seg[1].range_len, 1000);
    CHECK(NEAR(t->seg[2].start_s, 8));
    CHECK(NEAR(t->seg[3].start_s, 11));
    CHECK(NEAR(t->seg[3].duration_s, 5));
    CHECK(NEAR(t->duration_s, 16));
    pf_manifest_free(NULL, m);
}

TEST(dash_refusals)
{
    static const refusal cases[] = {
        {"", PF_ERR_PARSE, "no root element"},
        {"<MPD type=\"dynamic\"><Period/></MPD>", PF_ERR_UNSUPPORTED, "line 1: <MPD>: type=\"dynamic\""},
        {"<MPX/>", PF_ERR_PARSE, "not MPD"},
        {"<?xml version=\"1.0\"?>\n<!DOCTYPE MPD [<!ENTITY a \"b\">]>\n<MPD/>", PF_ERR_PARSE, "line 2: DOCTYPE"},
        {"<MPD>\n<Period>\n</MPD>", PF_ERR_PARSE, "line 3: end tag does not match"},
        {"<MPD><Period>", PF_ERR_PARSE, "unclosed element"},
        {"<MPD a=\"1\" a=\"2\"/>", PF_ERR_PARSE, "attribute given twice"},
        {"<MPD a=1/>", PF_ERR_PARSE, "not quoted"},
        {"<MPD a=\"&bogus;\"/>", PF_ERR_PARSE, "unknown entity"},
        {"<MPD a=\"&#0;\"/>", PF_ERR_PARSE, "out of range"},
        {"<MPD a=\"&#xD800;\"/>", PF_ERR_PARSE, "out of range"},
        {"<MPD a=\"<\"/>", PF_ERR_PARSE, "'<' in an attribute value"},
        {"<MPD/><MPD/>", PF_ERR_PARSE, "a second root"},
        {"<MPD><!-- x </MPD>", PF_ERR_PARSE, "unterminated comment"},
        {"<MPD type=\"static\"/>", PF_ERR_PARSE, "no Period"},
        {"<MPD type=\"static\" mediaPresentationDuration=\"P1Y\"><Period/></MPD>", PF_ERR_UNSUPPORTED, "years or months"},
        {"<MPD mediaPresentationDuration=\"PTxS\"><Period/></MPD>", PF_ERR_PARSE, "bad @mediaPresentationDuration"},
        {"<MPD><Period xlink:href=\"http://x/p\"/></MPD>", PF_ERR_UNSUPPORTED, "xlink"},
        {"<MPD mediaPresentationDuration=\"PT4S\"><BaseURL>http://cdn/</BaseURL><Period><AdaptationSet><Representation "
         "id=\"1\" bandwidth=\"1\"/></AdaptationSet></Period></MPD>",
         PF_ERR_RANGE, "line 1: <BaseURL>: BaseURL \"http://cdn/\" points outside the title"},
        {"<MPD mediaPresentationDuration=\"PT4S\"><Period><AdaptationSet><Representation id=\"1\" bandwidth=\"1\">"
         "<BaseURL>../../x.mp4</BaseURL></Representation></AdaptationSet></Period></MPD>",
         PF_ERR_RANGE, "outside the title"},
        {"<MPD mediaPresentationDuration=\"PT4S\"><Period><AdaptationSet><Representation id=\"1\" bandwidth=\"1\">"
         "<SegmentTemplate duration=\"1\" media=\"../../$Number$.m4s\"/></Representation></AdaptationSet></Period></MPD>",
         PF_ERR_RANGE, "<SegmentTemplate>: URL \"../../1.m4s\" points outside"},
        {"<MPD mediaPresentationDuration=\"PT4S\"><Period><AdaptationSet><Representation bandwidth=\"1\"/>"
         "</AdaptationSet></Period></MPD>",
         PF_ERR_PARSE, "Representation without @id"},
        {"<MPD mediaPresentationDuration=\"PT4S\"><Period><AdaptationSet><Representation id=\"1\"/>"
         "</AdaptationSet></Period></MPD>",
         PF_ERR_PARSE, "<Representation id=\"1\">: no @bandwidth"},
        {"<MPD mediaPresentationDuration=\"PT4S\"><Period><AdaptationSet><Representation id=\"1\" bandwidth=\"1\"/>"
         "</AdaptationSet></Period></MPD>",
         PF_ERR_PARSE, "no segment information"},
        {"<MPD><Period><AdaptationSet><Representation id=\"1\" bandwidth=\"1\"><SegmentTemplate duration=\"2\" "
         "media=\"$Number$.m4s\"/></Representation></AdaptationSet></Period></MPD>",
         PF_ERR_PARSE, "duration is not known"},
        {"<MPD mediaPresentationDuration=\"PT4S\"><Period><AdaptationSet><Representation id=\"1\" bandwidth=\"1\">"
         "<SegmentTemplate duration=\"1\" media=\"$Nummer$.m4s\"/></Representation></AdaptationSet></Period></MPD>",
         PF_ERR_PARSE, "unknown or misplaced identifier $Nummer$"},
        {"<MPD mediaPresentationDuration=\"PT4S\"><Period><AdaptationSet><Representation id=\"1\" bandwidth=\"1\">"
         "<SegmentTemplate media=\"$Number$.m4s\"/></Representation></AdaptationSet></Period></MPD>",
         PF_ERR_PARSE, "neither a SegmentTimeline nor @duration"},
        {"<MPD mediaPresentationDuration=\"PT4S\"><Period><AdaptationSet><Representation id=\"1\" bandwidth=\"1\">"
         "<SegmentTemplate media=\"$Time$\"><SegmentTimeline><S d=\"1\" r=\"300000\"/></SegmentTimeline>"
         "</SegmentTemplate></Representation></AdaptationSet></Period></MPD>",
         PF_ERR_LIMIT, "more than 200000 segments"},
        {"<MPD mediaPresentationDuration=\"PT4S\"><Period><AdaptationSet><Representation id=\"1\" bandwidth=\"1\">"
         "<SegmentTemplate media=\"$Time$\"><SegmentTimeline><S t=\"5\" d=\"1\"/><S t=\"2\" d=\"1\"/></SegmentTimeline>"
         "</SegmentTemplate></Representation></AdaptationSet></Period></MPD>",
         PF_ERR_PARSE, "@t goes back in time"},
        {"<MPD mediaPresentationDuration=\"PT8S\"><Period duration=\"PT4S\"><AdaptationSet><Representation id=\"1\" "
         "bandwidth=\"1\"><BaseURL>a.mp4</BaseURL></Representation></AdaptationSet></Period><Period><AdaptationSet>"
         "<Representation id=\"2\" bandwidth=\"1\"><BaseURL>b.mp4</BaseURL></Representation></AdaptationSet></Period></MPD>",
         PF_ERR_UNSUPPORTED, "periods differ"},
        {"<MPD mediaPresentationDuration=\"PT8S\"><Period duration=\"PT4S\"><AdaptationSet><Representation id=\"1\" "
         "bandwidth=\"1\"><SegmentTemplate initialization=\"i1.mp4\" media=\"a$Number$\" duration=\"1\"/></Representation>"
         "</AdaptationSet></Period><Period><AdaptationSet><Representation id=\"1\" bandwidth=\"1\"><SegmentTemplate "
         "initialization=\"i2.mp4\" media=\"b$Number$\" duration=\"1\"/></Representation></AdaptationSet></Period></MPD>",
         PF_ERR_UNSUPPORTED, "init segment differs"},
    };
    CHECK(refused_all(dash_rc, cases, sizeof cases / sizeof *cases));
}

TEST(dash_limits)
{
    /* Nesting: 32 deep is fine for the XML reader, 33 is not. */
    char s[2048];
    size_t o = 0;
    for (int i = 0; i < 33; i++) o += (size_t)snprintf(s + o, sizeof s - o, "<%s>", i ? "x" : "MPD");
    CHECK_EQ(dash_rc(s), PF_ERR_LIMIT);
    CHECK(strstr(err, "nested too deep") != NULL);
    /* 65 Representations. */
    char *b = malloc(65 * 128 + 256);
    CHECK(b != NULL);
    o = (size_t)snprintf(b, 256, "<MPD mediaPresentationDuration=\"PT4S\"><Period><AdaptationSet>");
    for (int i = 0; i < 65; i++)
        o += (size_t)snprintf(b + o, 128, "<Representation id=\"r%d\" bandwidth=\"1\"><BaseURL>r%d.mp4</BaseURL></Representation>", i, i);
    snprintf(b + o, 256, "</AdaptationSet></Period></MPD>");
    CHECK_EQ(dash_rc(b), PF_ERR_LIMIT);
    CHECK(strstr(err, "more than 64 Representations") != NULL);
    free(b);
    /* 6 x 199,999 segments from 300 bytes: PF_ERR_LIMIT in all (1,000,000) before memory runs away. */
    b = malloc(8192);
    CHECK(b != NULL);
    o = (size_t)snprintf(b, 8192, "<MPD mediaPresentationDuration=\"PT4S\"><Period><AdaptationSet>");
    for (int i = 0; i < 6; i++)
        o += (size_t)snprintf(b + o, 8192 - o, "<Representation id=\"r%d\" bandwidth=\"1\"><SegmentTemplate media=\"$Time$\">"
                              "<SegmentTimeline><S d=\"1\" r=\"199998\"/></SegmentTimeline></SegmentTemplate></Representation>", i);
    snprintf(b + o, 8192 - o, "</AdaptationSet></Period></MPD>");
    CHECK_EQ(dash_rc(b), PF_ERR_LIMIT);
    CHECK(strstr(err, "more than 1000000 segments in all") != NULL);
    free(b);
    char *big = calloc(1, PF_MF_MAX_TEXT + 1);
    CHECK(big != NULL);
    pf_manifest *m = NULL;
    CHECK_EQ(pf_dash_parse(NULL, "m", (const uint8_t *)big, PF_MF_MAX_TEXT + 1, &m, err, sizeof err), PF_ERR_LIMIT);
    free(big);
}

/* Every allocation failing in turn: PF_ERR_NOMEM (or success), nothing leaked. */
TEST(alloc_failures)
{
    for (int which = 0; which < 2; which++) {
        int done = 0;
        for (long k = 1; k < 100000 && !done; k++) {
            counting c = {.fail_at = k};
            pf_mem mem = {c_malloc, c_calloc, c_realloc, c_free, &c};
            pf_manifest *m = NULL;
            int rc = which == 0 ? pf_dash_parse(&mem, "t/m.mpd", (const uint8_t *)FF_MPD, strlen(FF_MPD), &m, err, sizeof err)
                                : pf_hls_parse(&mem, "t/m.m3u8", (const uint8_t *)FF_MASTER, strlen(FF_MASTER), &m, err, sizeof err);
            if (rc == 0 && which == 1)
                rc = pf_hls_parse_media(&mem, &m->tracks[0], (const uint8_t *)FF_MEDIA3, strlen(FF_MEDIA3), err, sizeof err);
            if (rc != 0 && rc != PF_ERR_NOMEM) {
                fprintf(stderr, "allocation %ld: %s\n", k, pf_err_name(rc));
                CHECK(0);
            }
            if (c.count < k) done = 1; /* no allocation failed: all of them were tried */
            pf_manifest_free(&mem, m);
            CHECK_EQ(c.live, 0);
        }
        CHECK(done);
    }
}

TEST_MAIN(hls_ffmpeg_master, hls_ffmpeg_ts, hls_byterange_and_renditions, hls_refusals, hls_limits, resolve, dash_ffmpeg,
          dash_template_list_base, dash_segment_list_periods, dash_refusals, dash_limits, alloc_failures)
