/* peerflow create on a packaged title (net/create_title.c through the
 * public pf_metainfo_create): a small hand-made title in a temporary
 * folder -- an HLS master with an audio rendition and two variants (one
 * with byte ranges into one file), and an MPD over some of the same files
 * -- comes out in the title's order with every file; the summary is
 * given; a missing segment, a byte range past a file's end and an
 * escaping URI are refused with messages naming manifest, line and path;
 * no_title gives the plain sorted order. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "peerflow/metainfo.h"
#include "peerflow/peerflow.h"
#include "test.h"

static char g_dir[256];

static void put(const char *rel, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_dir, rel);
    char *slash = strrchr(p, '/');
    *slash = 0;
    mkdir(p, 0700);
    *slash = '/';
    FILE *f = fopen(p, "wb");
    if (!f) abort();
    fputs(text, f);
    fclose(f);
}

static void rm_rf(const char *p)
{
    struct stat st;
    if (lstat(p, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(p);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char c[1024];
            snprintf(c, sizeof c, "%s/%s", p, e->d_name);
            rm_rf(c);
        }
        if (d) closedir(d);
        rmdir(p);
    } else {
        unlink(p);
    }
}

static void make_title(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/pf_title_XXXXXX");
    if (!mkdtemp(g_dir)) abort();
    put("master.m3u8", "#EXTM3U\n"
                       "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"en\",URI=\"audio/a.m3u8\"\n"
                       "#EXT-X-STREAM-INF:BANDWIDTH=2000000,RESOLUTION=1280x720,AUDIO=\"a\"\nhi/v.m3u8\n"
                       "#EXT-X-STREAM-INF:BANDWIDTH=500000,RESOLUTION=640x360,AUDIO=\"a\"\nlo/v.m3u8\n");
    put("audio/a.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\na2.aac\n#EXTINF:4,\na1.aac\n#EXT-X-ENDLIST\n");
    put("hi/v.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:4,\nz.m4s\n"
                     "#EXTINF:4,\ny.m4s\n#EXT-X-ENDLIST\n");
    put("lo/v.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MAP:URI=\"all.mp4\",BYTERANGE=\"4@0\"\n"
                     "#EXTINF:4,\n#EXT-X-BYTERANGE:4@4\nall.mp4\n#EXTINF:4,\n#EXT-X-BYTERANGE:4\nall.mp4\n#EXT-X-ENDLIST\n");
    put("manifest.mpd", "<MPD type=\"static\" mediaPresentationDuration=\"PT8S\"><Period><AdaptationSet>"
                        "<Representation id=\"hi\" bandwidth=\"2000000\"><SegmentList duration=\"4\">"
                        "<Initialization sourceURL=\"hi/init.mp4\"/><SegmentURL media=\"hi/z.m4s\"/>"
                        "<SegmentURL media=\"hi/y.m4s\"/></SegmentList></Representation>"
                        "<Representation id=\"x\" bandwidth=\"1\"><BaseURL>x/only.mp4</BaseURL></Representation>"
                        "</AdaptationSet></Period></MPD>");
    put("audio/a1.aac", "a1");
    put("audio/a2.aac", "a2");
    put("hi/init.mp4", "init");
    put("hi/z.m4s", "zzzz");
    put("hi/y.m4s", "yyyy");
    put("lo/all.mp4", "iiiissssssss");
    put("x/only.mp4", "only");
    put("cover.jpg", "jpg");
}

static char g_summary[4096];

static void on_title(void *ud, const char *text)
{
    (*(int *)ud)++;
    snprintf(g_summary, sizeof g_summary, "%s", text);
}

/* Creates the torrent of g_dir; the files in order into names ("a,b,c"). */
/* Of the last create: pad files, and other files not at a piece boundary. */
static size_t g_pads, g_unaligned;

static int create(int no_title, char *names, size_t cap, char *err, size_t errlen, int *calls)
{
    pf_create_opts o;
    pf_create_opts_default(&o);
    o.path = g_dir;
    o.piece_length = 16384;
    o.no_title = no_title;
    o.title_summary = on_title;
    o.title_ud = calls;
    uint8_t *out = NULL;
    size_t len = 0;
    int rc = pf_metainfo_create(&o, &out, &len, err, errlen);
    if (rc) return rc;
    pf_metainfo *mi = NULL;
    rc = pf_metainfo_parse(out, len, NULL, &mi);
    pf_free(out);
    if (rc) return rc;
    names[0] = 0;
    g_pads = 0;
    g_unaligned = 0;
    for (size_t i = 0; i < pf_metainfo_num_files(mi); i++) {
        if (pf_metainfo_file_is_pad(mi, i)) {
            g_pads++;
            continue;
        }
        if (pf_metainfo_file_offset(mi, i) % o.piece_length) g_unaligned++;
        size_t l = strlen(names);
        snprintf(names + l, cap - l, "%s%s", l ? "," : "", pf_metainfo_file_path(mi, i));
    }
    pf_metainfo_free(mi);
    return 0;
}

TEST(title_order)
{
    make_title();
    char names[2048], err[512];
    int calls = 0;
    int rc = create(0, names, sizeof names, err, sizeof err, &calls);
    if (rc) fprintf(stderr, "create: %s\n", err);
    CHECK_EQ(rc, 0);
    /* manifest.mpd first (sorted): hi's init and segments, x; then
     * master.m3u8: the audio rendition in playlist order (a2 before a1),
     * hi (already placed), lo (one file, byte ranges); then the manifests
     * and playlists; then the rest. */
    CHECK_STR(names, "hi/init.mp4,hi/z.m4s,hi/y.m4s,x/only.mp4,audio/a2.aac,audio/a1.aac,lo/all.mp4,"
                     "manifest.mpd,master.m3u8,audio/a.m3u8,hi/v.m3u8,lo/v.m3u8,cover.jpg");
    CHECK_EQ(calls, 1);
    /* Each file starts at a piece boundary (BEP 47 pad files between). */
    CHECK(g_pads > 0);
    CHECK_EQ(g_unaligned, 0);
    CHECK(strstr(g_summary, "manifest.mpd: DASH, 2 tracks, 3 segments, 8.00 s\n") != NULL);
    CHECK(strstr(g_summary, "master.m3u8: HLS, 3 tracks, 6 segments, 8.00 s\n") != NULL);
    CHECK(strstr(g_summary, "  video 1280x720    2.000 Mbit/s       2 segments      8.00 s  hi/v.m3u8\n") != NULL);
    /* Plain files, sorted. */
    calls = 0;
    CHECK_EQ(create(1, names, sizeof names, err, sizeof err, &calls), 0);
    CHECK_EQ(calls, 0);
    CHECK(strncmp(names, "audio/a.m3u8,audio/a1.aac,", 26) == 0);
    CHECK_EQ(g_pads, 0); /* plain files are not padded */
    rm_rf(g_dir);
}

TEST(title_refusals)
{
    static const struct { const char *rel, *text; int rc; const char *msg; } cases[] = {
        {"audio/a1.aac", NULL, PF_ERR_NOTFOUND, "audio/a.m3u8: line 6: segment \"audio/a1.aac\" is not in the folder"},
        {"lo/all.mp4", "short", PF_ERR_RANGE, "lo/v.m3u8: line 6: segment \"lo/all.mp4\": byte range 4@4 past its end (5 bytes)"},
        {"audio/a.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\n../../../etc/passwd\n#EXT-X-ENDLIST\n",
         PF_ERR_RANGE, "audio/a.m3u8: line 4: URI \"../../../etc/passwd\" points outside the title"},
        {"lo/v.m3u8", NULL, PF_ERR_NOTFOUND, "master.m3u8: line 6: media playlist \"lo/v.m3u8\" is not in the folder"},
        {"x/only.mp4", NULL, PF_ERR_NOTFOUND,
         "manifest.mpd: line 1: <Representation id=\"x\">: segment \"x/only.mp4\" is not in the folder"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        make_title();
        char p[512], names[2048], err[512] = "";
        int calls = 0;
        snprintf(p, sizeof p, "%s/%s", g_dir, cases[i].rel);
        if (cases[i].text) put(cases[i].rel, cases[i].text);
        else unlink(p);
        int rc = create(0, names, sizeof names, err, sizeof err, &calls);
        rm_rf(g_dir);
        if (rc != cases[i].rc || !strstr(err, cases[i].msg)) {
            fprintf(stderr, "case %zu: %s \"%s\"\n", i, pf_err_name(rc), err);
            CHECK(0);
        }
    }
}

TEST_MAIN(title_order, title_refusals)
