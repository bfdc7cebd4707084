/* Media probe: real files made by ffmpeg (checked against ffprobe) and
 * hand-made byte arrays for the edges.  The ffmpeg tests skip (pass) when
 * ffmpeg/ffprobe are not installed. */
#include "core/codec/media_probe.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "peerflow/peerflow.h"
#include "test.h"

/* ---- helpers: files -------------------------------------------------- */

static char g_dir[64];
static int g_have_ffmpeg = -1;

static int tools_ok(void)
{
    if (g_have_ffmpeg < 0) {
        g_have_ffmpeg = system("ffmpeg -version >/dev/null 2>&1") == 0 &&
                        system("ffprobe -version >/dev/null 2>&1") == 0;
        if (!g_have_ffmpeg) fprintf(stderr, "ffmpeg/ffprobe missing: skipping real-media tests\n");
    }
    return g_have_ffmpeg;
}

static void dir_cleanup(void)
{
    if (g_dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
        if (system(cmd) != 0) fprintf(stderr, "cleanup of %s failed\n", g_dir);
    }
}

static const char *dir_get(void)
{
    if (!g_dir[0]) {
        snprintf(g_dir, sizeof g_dir, "/tmp/pf_media_probe_XXXXXX");
        if (!mkdtemp(g_dir)) g_dir[0] = '\0';
        else atexit(dir_cleanup);
    }
    return g_dir;
}

/* Makes <dir>/<name> with 7 s of test video + sine audio; returns the
 * path (static storage per call site is the caller's copy) or NULL. */
static int media_make(const char *name, const char *args, char *path, size_t cap)
{
    const char *d = dir_get();
    if (!d[0]) return -1;
    snprintf(path, cap, "%s/%s", d, name);
    struct stat st;
    if (stat(path, &st) == 0) return 0; /* made by an earlier test */
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "ffmpeg -hide_banner -loglevel error -y -f lavfi -i "
             "testsrc=duration=7:size=320x240:rate=25 -f lavfi -i sine=duration=7 "
             "%s '%s' </dev/null",
             args, path);
    return system(cmd) == 0 ? 0 : -1;
}

static double ffprobe_duration(const char *path)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd,
             "ffprobe -v error -show_entries format=duration -of csv=p=0 '%s'", path);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[64] = "";
    if (!fgets(line, sizeof line, p)) line[0] = '\0';
    pclose(p);
    char *end;
    double d = strtod(line, &end);
    return end == line ? -1 : d;
}

static uint8_t *file_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Probes like a streamer: first `pre` bytes, last `suf` bytes, then the
 * ranges the probe asks for (as the suffix), at most 8 rounds.  Returns
 * the final code; *rounds counts the EAGAIN answers. */
static int probe_like_streamer(const uint8_t *file, size_t len, size_t pre, size_t suf,
                               pf_media_info *info, int *rounds)
{
    if (pre > len) pre = len;
    if (suf > len) suf = len;
    uint64_t soff = len - suf;
    *rounds = 0;
    for (int i = 0; i < 8; i++) {
        uint64_t need_off = 0, need_len = 0;
        int rc = pf_media_probe(file, pre, file + soff, (size_t)(len - soff), soff, len, info,
                                &need_off, &need_len);
        if (rc != PF_ERR_EAGAIN) return rc;
        ++*rounds;
        if (need_len == 0 || need_off > len || need_len > len - need_off) return -1000;
        /* The suffix is a tail grown backwards to the asked range: the
         * documented way that always progresses. */
        if (need_off >= soff) return -1002; /* asked for what it had */
        soff = need_off;
    }
    return -1001;
}

static int check_real(const char *name, const char *args, int want_container)
{
    if (!tools_ok()) return 0;
    char path[256];
    if (media_make(name, args, path, sizeof path) != 0) {
        fprintf(stderr, "ffmpeg failed for %s\n", name);
        return -1;
    }
    double want = ffprobe_duration(path);
    size_t len;
    uint8_t *file = file_read(path, &len);
    if (!file || want <= 0) {
        free(file);
        return -1;
    }
    int bad = 0;
    static const size_t windows[][2] = {{65536, 65536}, {4096, 0}, {65536, 0}, {1 << 30, 0},
                                        {16, 16},       {200, 0},  {0, 65536}};
    for (size_t w = 0; w < sizeof windows / sizeof windows[0]; w++) {
        pf_media_info info;
        int rounds;
        int rc = probe_like_streamer(file, len, windows[w][0], windows[w][1], &info, &rounds);
        double got = info.duration_s;
        if (rc != 0 || info.container != want_container || fabs(got - want) > 0.1) {
            fprintf(stderr, "%s window %zu/%zu: rc %d container %d duration %.3f, ffprobe %.3f\n",
                    name, windows[w][0], windows[w][1], rc, info.container, got, want);
            bad = 1;
        }
        if (want_container == PF_CONTAINER_MP4 &&
            (info.moov_size < 8 || info.moov_offset + info.moov_size > len ||
             memcmp(file + info.moov_offset + 4, "moov", 4) != 0)) {
            fprintf(stderr, "%s: moov %llu+%llu wrong\n", name,
                    (unsigned long long)info.moov_offset, (unsigned long long)info.moov_size);
            bad = 1;
        }
        double bps = pf_media_bytes_per_s(&info, len);
        if (fabs(bps - (double)len / want) > 0.05 * (double)len / want) bad = 1;
    }
    free(file);
    return bad ? -1 : 0;
}

#define X264 "-c:v libx264 -preset ultrafast -c:a aac"

TEST(real_mp4_faststart)
{
    CHECK_EQ(check_real("fs.mp4", X264 " -movflags +faststart", PF_CONTAINER_MP4), 0);
    if (!tools_ok()) return;
    /* faststart: the moov is found in the first 64 KiB, no round trip. */
    char path[256];
    CHECK_EQ(media_make("fs.mp4", X264 " -movflags +faststart", path, sizeof path), 0);
    size_t len;
    uint8_t *f = file_read(path, &len);
    CHECK(f != NULL);
    pf_media_info info;
    int rc = pf_media_probe(f, len < 65536 ? len : 65536, NULL, 0, 0, len, &info, NULL, NULL);
    CHECK(info.moov_offset < 100);
    free(f);
    CHECK_EQ(rc, 0);
}

TEST(real_mp4_moov_at_end)
{
    CHECK_EQ(check_real("nofs.mp4", X264, PF_CONTAINER_MP4), 0);
    if (!tools_ok()) return;
    char path[256];
    CHECK_EQ(media_make("nofs.mp4", X264, path, sizeof path), 0);
    size_t len;
    uint8_t *f = file_read(path, &len);
    CHECK(f != NULL);
    /* Prefix only: EAGAIN naming the tail, which is exactly the moov. */
    pf_media_info info;
    uint64_t no = 0, nl = 0;
    int rc = pf_media_probe(f, 4096, NULL, 0, 0, len, &info, &no, &nl);
    int ok = rc == PF_ERR_EAGAIN && info.container == PF_CONTAINER_MP4 && no > len / 2 &&
             no + nl == len && memcmp(f + no + 4, "moov", 4) == 0;
    /* That range as the suffix finishes the job. */
    int rc2 = pf_media_probe(f, 4096, f + no, (size_t)nl, no, len, &info, NULL, NULL);
    int ok2 = rc2 == 0 && info.moov_offset == no && info.moov_size == nl && info.duration_s > 6.9;
    /* Only the moov's header in the suffix: EAGAIN for the whole moov. */
    int rc3 = pf_media_probe(f, 4096, f + no, 16, no, len, &info, &no, &nl);
    int ok3 = rc3 == PF_ERR_EAGAIN && info.moov_offset == no && info.moov_size == nl;
    free(f);
    CHECK(ok);
    CHECK(ok2);
    CHECK(ok3);
}

TEST(real_mov)
{
    CHECK_EQ(check_real("out.mov", X264, PF_CONTAINER_MP4), 0);
}

TEST(real_webm)
{
    CHECK_EQ(check_real("out.webm", "-c:v libvpx -deadline realtime -cpu-used 8 -c:a libopus",
                        PF_CONTAINER_MKV),
             0);
}

TEST(real_mkv)
{
    CHECK_EQ(check_real("out.mkv", X264, PF_CONTAINER_MKV), 0);
}

TEST(real_mkv_live)
{
    /* A non-seekable mux: unknown-size Segment and Clusters, no Duration
     * written; the probe must still walk it and report "unknown". */
    if (!tools_ok()) return;
    char path[256];
    const char *d = dir_get();
    CHECK(d[0] != '\0');
    snprintf(path, sizeof path, "%s/live.mkv", d);
    char cmd[700];
    snprintf(cmd, sizeof cmd,
             "ffmpeg -hide_banner -loglevel error -y -f lavfi -i "
             "testsrc=duration=3:size=160x120:rate=25 -c:v libx264 -preset ultrafast "
             "-f matroska - </dev/null | cat > '%s'",
             path);
    CHECK_EQ(system(cmd), 0);
    size_t len;
    uint8_t *f = file_read(path, &len);
    CHECK(f != NULL);
    pf_media_info info;
    int rc = pf_media_probe(f, len, NULL, 0, 0, len, &info, NULL, NULL);
    free(f);
    CHECK_EQ(rc, 0);
    CHECK_EQ(info.container, PF_CONTAINER_MKV);
    CHECK(info.duration_s == 0 || fabs(info.duration_s - 3.0) < 0.1);
}

TEST(real_fragmented_mp4)
{
    /* empty_moov: mvhd and mdhd say 0; the probe answers 0 (unknown) or
     * the right value if a mehd is present. */
    if (!tools_ok()) return;
    char path[256];
    CHECK_EQ(media_make("frag.mp4", X264 " -movflags frag_keyframe+empty_moov", path, sizeof path),
             0);
    size_t len;
    uint8_t *f = file_read(path, &len);
    CHECK(f != NULL);
    pf_media_info info;
    int rc = pf_media_probe(f, len < 65536 ? len : 65536, NULL, 0, 0, len, &info, NULL, NULL);
    free(f);
    CHECK_EQ(rc, 0);
    CHECK_EQ(info.container, PF_CONTAINER_MP4);
    CHECK(info.duration_s == 0 || fabs(info.duration_s - 7.0) < 0.1);
}

/* ---- helpers: hand-made bytes --------------------------------------- */

typedef struct bb {
    uint8_t b[4096];
    size_t n;
} bb;

static void put(bb *b, const void *p, size_t n)
{
    if (b->n + n > sizeof b->b) abort();
    memcpy(b->b + b->n, p, n);
    b->n += n;
}

static void put8(bb *b, unsigned v)
{
    uint8_t c = (uint8_t)v;
    put(b, &c, 1);
}

static void put32(bb *b, uint32_t v)
{
    for (int i = 3; i >= 0; i--) put8(b, (v >> (8 * i)) & 0xff);
}

static void put64(bb *b, uint64_t v)
{
    put32(b, (uint32_t)(v >> 32));
    put32(b, (uint32_t)v);
}

/* Box header with a 32-bit size of hdr + body_len. */
static void box32(bb *b, const char *type, uint32_t body_len)
{
    put32(b, 8 + body_len);
    put(b, type, 4);
}

static void mvhd0(bb *b, uint32_t ts, uint32_t dur)
{
    box32(b, "mvhd", 100);
    put32(b, 0);           /* version 0, flags */
    put32(b, 0);           /* creation */
    put32(b, 0);           /* modification */
    put32(b, ts);
    put32(b, dur);
    for (int i = 0; i < 80; i++) put8(b, 0);
}

static void ftyp(bb *b)
{
    box32(b, "ftyp", 8);
    put(b, "isom", 4);
    put32(b, 0x200);
}

static int probe_all(const bb *b, pf_media_info *info)
{
    return pf_media_probe(b->b, b->n, NULL, 0, 0, b->n, info, NULL, NULL);
}

TEST(mp4_v0_basic)
{
    bb b = {.n = 0};
    ftyp(&b);
    box32(&b, "moov", 108);
    mvhd0(&b, 1000, 12345);
    pf_media_info info;
    CHECK_EQ(probe_all(&b, &info), 0);
    CHECK_EQ(info.container, PF_CONTAINER_MP4);
    CHECK(fabs(info.duration_s - 12.345) < 1e-9);
    CHECK_EQ(info.moov_offset, 16);
    CHECK_EQ(info.moov_size, 116);
    /* Unknown file size works when everything is in the prefix. */
    CHECK_EQ(pf_media_probe(b.b, b.n, NULL, 0, 0, 0, &info, NULL, NULL), 0);
    CHECK(fabs(info.duration_s - 12.345) < 1e-9);
    CHECK(fabs(pf_media_bytes_per_s(&info, 12345) - 1000.0) < 1e-6);
}

TEST(mp4_v1_and_largesize)
{
    bb b = {.n = 0};
    ftyp(&b);
    /* mdat with a 64-bit largesize, 24 bytes of payload. */
    put32(&b, 1);
    put(&b, "mdat", 4);
    put64(&b, 16 + 24);
    for (int i = 0; i < 24; i++) put8(&b, 0xAB);
    /* moov with a 64-bit size too, holding a version-1 mvhd. */
    put32(&b, 1);
    put(&b, "moov", 4);
    put64(&b, 16 + 8 + 112);
    box32(&b, "mvhd", 112);
    put32(&b, 0x01000000);
    put64(&b, 0);
    put64(&b, 0);
    put32(&b, 90000);
    put64(&b, 90000ull * 3600 * 5 + 45000); /* 5 h and half a second */
    for (int i = 0; i < 80; i++) put8(&b, 0);
    pf_media_info info;
    CHECK_EQ(probe_all(&b, &info), 0);
    CHECK(fabs(info.duration_s - 18000.5) < 1e-6);
    CHECK_EQ(info.moov_offset, 16 + 40);
    CHECK_EQ(info.moov_size, 136);
    /* A largesize below 16 is malformed. */
    b.b[16 + 15] = 15;
    b.b[16 + 14] = 0;
    CHECK_EQ(probe_all(&b, &info), PF_ERR_PARSE);
}

static void mdhd(bb *b, int version, uint32_t ts, uint64_t dur)
{
    if (version == 1) {
        box32(b, "mdhd", 36);
        put32(b, 0x01000000);
        put64(b, 0);
        put64(b, 0);
        put32(b, ts);
        put64(b, dur);
        put32(b, 0);
    } else {
        box32(b, "mdhd", 24);
        put32(b, 0);
        put32(b, 0);
        put32(b, 0);
        put32(b, ts);
        put32(b, (uint32_t)dur);
        put32(b, 0);
    }
}

TEST(mp4_mdhd_fallback)
{
    bb b = {.n = 0};
    ftyp(&b);
    /* moov = mvhd(108) + trak(8+8+32) + trak(8+8+44) */
    box32(&b, "moov", 108 + 48 + 60);
    mvhd0(&b, 1000, 0);
    box32(&b, "trak", 40);
    box32(&b, "mdia", 32);
    mdhd(&b, 0, 48000, 48000 * 3);
    box32(&b, "trak", 52);
    box32(&b, "mdia", 44);
    mdhd(&b, 1, 600, 600 * 4); /* the longest: 4 s */
    pf_media_info info;
    CHECK_EQ(probe_all(&b, &info), 0);
    CHECK(fabs(info.duration_s - 4.0) < 1e-9);
    /* mvhd duration all ones = unknown, same fallback. */
    b.b[16 + 8 + 8 + 16] = 0xff;
    memset(b.b + 16 + 8 + 8 + 16, 0xff, 4);
    CHECK_EQ(probe_all(&b, &info), 0);
    CHECK(fabs(info.duration_s - 4.0) < 1e-9);
    /* A trak that overruns the moov is malformed. */
    b.b[16 + 8 + 108 + 3] = 200;
    CHECK_EQ(probe_all(&b, &info), PF_ERR_PARSE);
}

TEST(mp4_mehd)
{
    /* Fragmented: mvhd duration 0, mvex/mehd holds it (movie timescale). */
    bb b = {.n = 0};
    ftyp(&b);
    box32(&b, "moov", 108 + 8 + 20);
    mvhd0(&b, 1000, 0);
    box32(&b, "mvex", 20);
    box32(&b, "mehd", 12);
    put32(&b, 0x01000000);
    put64(&b, 61500);
    box32(&b, "moof", 0);
    pf_media_info info;
    CHECK_EQ(probe_all(&b, &info), 0);
    CHECK(fabs(info.duration_s - 61.5) < 1e-9);
}

TEST(mp4_no_duration_anywhere)
{
    bb b = {.n = 0};
    ftyp(&b);
    box32(&b, "moov", 108);
    mvhd0(&b, 0, 1000); /* timescale 0 */
    pf_media_info info;
    CHECK_EQ(probe_all(&b, &info), 0);
    CHECK(info.duration_s == 0);
    CHECK(pf_media_bytes_per_s(&info, 1000) == 0);
}

TEST(mp4_moov_at_end_protocol)
{
    /* ftyp, mdat (size 1000), moov: the prefix holds only ftyp + mdat. */
    static uint8_t f[2000];
    bb b = {.n = 0};
    ftyp(&b);
    box32(&b, "mdat", 992);
    memcpy(f, b.b, b.n);
    size_t mdat_end = 16 + 1000;
    b.n = 0;
    box32(&b, "moov", 108);
    mvhd0(&b, 25, 250);
    memcpy(f + mdat_end, b.b, b.n);
    size_t len = mdat_end + b.n;
    pf_media_info info;
    uint64_t no = 0, nl = 0;
    CHECK_EQ(pf_media_probe(f, 100, NULL, 0, 0, len, &info, &no, &nl), PF_ERR_EAGAIN);
    CHECK_EQ(no, mdat_end);
    CHECK_EQ(nl, len - mdat_end);
    CHECK_EQ(info.container, PF_CONTAINER_MP4);
    CHECK_EQ(pf_media_probe(f, 100, f + no, (size_t)nl, no, len, &info, &no, &nl), 0);
    CHECK(fabs(info.duration_s - 10.0) < 1e-9);
    CHECK_EQ(info.moov_offset, mdat_end);
    /* Overlapping windows covering the file in two pieces also work. */
    CHECK_EQ(pf_media_probe(f, 1020, f + 1010, len - 1010, 1010, len, &info, NULL, NULL), 0);
    /* Moov header only: the moov range is asked for and reported. */
    CHECK_EQ(pf_media_probe(f, 100, f + mdat_end, 8, mdat_end, len, &info, &no, &nl),
             PF_ERR_EAGAIN);
    CHECK_EQ(no, mdat_end);
    CHECK_EQ(nl, 116);
    CHECK_EQ(info.moov_offset, mdat_end);
    CHECK_EQ(info.moov_size, 116);
    /* Unknown file size: only the next header can be asked for. */
    CHECK_EQ(pf_media_probe(f, 100, NULL, 0, 0, 0, &info, &no, &nl), PF_ERR_EAGAIN);
    CHECK_EQ(no, mdat_end);
    CHECK_EQ(nl, PF_MEDIA_PROBE_CHUNK);
    /* The file ends where the moov should start. */
    CHECK_EQ(pf_media_probe(f, mdat_end, NULL, 0, 0, mdat_end, &info, NULL, NULL), PF_ERR_PARSE);
}

TEST(mp4_size_zero_and_bogus)
{
    pf_media_info info;
    /* moov with size 0 runs to the end of the file. */
    bb b = {.n = 0};
    ftyp(&b);
    put32(&b, 0);
    put(&b, "moov", 4);
    mvhd0(&b, 10, 55);
    CHECK_EQ(probe_all(&b, &info), 0);
    CHECK(fabs(info.duration_s - 5.5) < 1e-9);
    CHECK_EQ(info.moov_size, b.n - 16);
    /* ... also with an unknown file size. */
    CHECK_EQ(pf_media_probe(b.b, b.n, NULL, 0, 0, 0, &info, NULL, NULL), 0);
    CHECK(fabs(info.duration_s - 5.5) < 1e-9);
    /* mdat with size 0 before any moov: no moov. */
    bb m = {.n = 0};
    ftyp(&m);
    put32(&m, 0);
    put(&m, "mdat", 4);
    put32(&m, 0);
    CHECK_EQ(probe_all(&m, &info), PF_ERR_PARSE);
    CHECK_EQ(pf_media_probe(m.b, m.n, NULL, 0, 0, 0, &info, NULL, NULL), PF_ERR_PARSE);
    /* Sizes 2..7 are malformed; a size past the end of the file too. */
    bb c = {.n = 0};
    ftyp(&c);
    box32(&c, "moov", 108);
    mvhd0(&c, 1000, 1000);
    c.b[16 + 3] = 7;
    CHECK_EQ(probe_all(&c, &info), PF_ERR_PARSE);
    c.b[16 + 3] = 0xff;
    c.b[16 + 2] = 0xff;
    CHECK_EQ(probe_all(&c, &info), PF_ERR_PARSE);
    /* mvhd cut short inside its box. */
    c.b[16 + 2] = 0;
    c.b[16 + 3] = 116;
    c.b[16 + 8 + 3] = 20;
    CHECK_EQ(probe_all(&c, &info), PF_ERR_PARSE);
    /* Unknown mvhd version. */
    c.b[16 + 8 + 3] = 108;
    c.b[16 + 16] = 2;
    CHECK_EQ(probe_all(&c, &info), PF_ERR_PARSE);
}

TEST(mp4_truncated)
{
    bb b = {.n = 0};
    ftyp(&b);
    box32(&b, "moov", 108);
    mvhd0(&b, 1000, 2000);
    pf_media_info info;
    uint64_t no, nl;
    /* Every prefix of a file whose declared size is the whole: EAGAIN
     * asking for a range that starts inside what is missing or earlier. */
    for (size_t n = 0; n < b.n; n++) {
        int rc = pf_media_probe(b.b, n, NULL, 0, 0, b.n, &info, &no, &nl);
        CHECK_EQ(rc, PF_ERR_EAGAIN);
        CHECK(no + nl > n && no + nl <= b.n); /* asks for something new */
    }
    /* The file itself truncated (declared size = bytes present). */
    for (size_t n = 1; n < b.n; n++) {
        int rc = pf_media_probe(b.b, n, NULL, 0, 0, n, &info, &no, &nl);
        CHECK(rc == PF_ERR_PARSE || rc == PF_ERR_UNSUPPORTED);
    }
}

TEST(mp4_box_limit)
{
    /* 12,000 empty 'free' boxes before the moov: bounded work. */
    size_t n = 16 + 12000 * 8 + 116;
    uint8_t *f = calloc(1, n);
    CHECK(f != NULL);
    bb b = {.n = 0};
    ftyp(&b);
    memcpy(f, b.b, b.n);
    for (size_t i = 0; i < 12000; i++) memcpy(f + 16 + 8 * i, "\0\0\0\x08" "free", 8);
    b.n = 0;
    box32(&b, "moov", 108);
    mvhd0(&b, 1, 1);
    memcpy(f + 16 + 12000 * 8, b.b, b.n);
    pf_media_info info;
    int rc = pf_media_probe(f, n, NULL, 0, 0, n, &info, NULL, NULL);
    free(f);
    CHECK_EQ(rc, PF_ERR_LIMIT);
}

/* ---- EBML ------------------------------------------------------------- */

static void ebml_id(bb *b, uint32_t id)
{
    if (id > 0xFFFFFF) put8(b, id >> 24);
    if (id > 0xFFFF) put8(b, (id >> 16) & 0xff);
    if (id > 0xFF) put8(b, (id >> 8) & 0xff);
    put8(b, id & 0xff);
}

/* Element with an n-byte size vint (n 1..8). */
static void ebml_el(bb *b, uint32_t id, uint64_t size, int n)
{
    ebml_id(b, id);
    uint64_t v = size | (uint64_t)1 << (7 * n);
    for (int i = n - 1; i >= 0; i--) put8(b, (v >> (8 * i)) & 0xff);
}

static void ebml_unknown(bb *b, uint32_t id, int n)
{
    ebml_id(b, id);
    put8(b, 0xFF >> (n - 1));
    for (int i = 1; i < n; i++) put8(b, 0xff);
}

static void ebml_header(bb *b, const char *doctype)
{
    size_t n = strlen(doctype);
    ebml_el(b, 0x1A45DFA3, 4 + 3 + n, 1);
    ebml_el(b, 0x4286, 1, 1); /* EBMLVersion 1 */
    put8(b, 1);
    ebml_el(b, 0x4282, n, 1);
    put(b, doctype, n);
}

/* A Segment with an 8-byte size vint, patched by seg_close(). */
static size_t seg_open(bb *b)
{
    ebml_el(b, 0x18538067, 0, 8);
    return b->n;
}

static void seg_close(bb *b, size_t data)
{
    uint64_t size = b->n - data;
    for (int i = 0; i < 7; i++) b->b[data - 1 - i] = (uint8_t)(size >> (8 * i));
}

static void info_el(bb *b, int scale_bytes, uint64_t scale, int dur_bytes, double dur)
{
    size_t len = (scale_bytes ? 3 + 1 + (size_t)scale_bytes : 0) + (dur_bytes ? 2 + 1 + (size_t)dur_bytes : 0);
    ebml_el(b, 0x1549A966, len, 8); /* an 8-byte size vint, as ffmpeg writes */
    if (scale_bytes) {
        ebml_el(b, 0x2AD7B1, (uint64_t)scale_bytes, 1);
        for (int i = scale_bytes - 1; i >= 0; i--) put8(b, (scale >> (8 * i)) & 0xff);
    }
    if (dur_bytes == 4) {
        float f = (float)dur;
        uint32_t u;
        memcpy(&u, &f, 4);
        ebml_el(b, 0x4489, 4, 1);
        put32(b, u);
    } else if (dur_bytes == 8) {
        uint64_t u;
        memcpy(&u, &dur, 8);
        ebml_el(b, 0x4489, 8, 1);
        put64(b, u);
    }
}

TEST(mkv_basic_and_defaults)
{
    pf_media_info info;
    bb b = {.n = 0};
    ebml_header(&b, "webm");
    size_t sd = seg_open(&b);
    ebml_el(&b, 0xEC, 2, 1); /* Void */
    put8(&b, 0);
    put8(&b, 0);
    info_el(&b, 3, 1000000, 8, 7008.0);
    seg_close(&b, sd);
    CHECK_EQ(probe_all(&b, &info), 0);
    CHECK_EQ(info.container, PF_CONTAINER_MKV);
    CHECK(fabs(info.duration_s - 7.008) < 1e-9);
    CHECK_EQ(info.moov_size, 0);

    /* No TimestampScale: 1 ms default; a 4-byte float Duration. */
    bb c = {.n = 0};
    ebml_header(&c, "matroska");
    sd = seg_open(&c);
    info_el(&c, 0, 0, 4, 2500.0);
    seg_close(&c, sd);
    CHECK_EQ(probe_all(&c, &info), 0);
    CHECK(fabs(info.duration_s - 2.5) < 1e-6);

    /* TimestampScale 1 µs, in a 2-byte uint. */
    bb d = {.n = 0};
    ebml_header(&d, "matroska");
    sd = seg_open(&d);
    info_el(&d, 2, 1000, 8, 3e6);
    seg_close(&d, sd);
    CHECK_EQ(probe_all(&d, &info), 0);
    CHECK(fabs(info.duration_s - 3.0) < 1e-9);

    /* No Duration at all: success, duration unknown. */
    bb e = {.n = 0};
    ebml_header(&e, "matroska");
    sd = seg_open(&e);
    info_el(&e, 3, 1000000, 0, 0);
    seg_close(&e, sd);
    CHECK_EQ(probe_all(&e, &info), 0);
    CHECK(info.duration_s == 0);
}

TEST(mkv_segment_past_eof)
{
    /* A Segment size larger than the file (a recording cut short) is
     * clamped to the file; Info inside it is still read. */
    pf_media_info info;
    bb b = {.n = 0};
    ebml_header(&b, "matroska");
    ebml_el(&b, 0x18538067, 1000000, 8);
    info_el(&b, 3, 1000000, 8, 1500.0);
    ebml_el(&b, 0x1F43B675, 1000, 2); /* Cluster running past the end */
    CHECK_EQ(probe_all(&b, &info), 0);
    CHECK(fabs(info.duration_s - 1.5) < 1e-9);
    /* But an Info running past the end is malformed. */
    b.n -= 3;
    b.n -= 4;
    CHECK_EQ(probe_all(&b, &info), PF_ERR_PARSE);
}

TEST(mkv_unknown_sizes)
{
    /* Live layout: Segment and a Cluster of unknown size, then Info
     * (out of the usual order, to prove the walk goes through). */
    pf_media_info info;
    bb b = {.n = 0};
    ebml_header(&b, "matroska");
    ebml_unknown(&b, 0x18538067, 8);
    ebml_unknown(&b, 0x1F43B675, 1); /* Cluster, 1-byte unknown size 0xFF */
    ebml_el(&b, 0xE7, 1, 1);         /* Timestamp */
    put8(&b, 0);
    ebml_el(&b, 0xA3, 5, 1); /* SimpleBlock whose payload looks like an ID */
    put(&b, "\x15\x49\xA9\x66\x80", 5);
    info_el(&b, 3, 1000000, 8, 1234.0);
    CHECK_EQ(probe_all(&b, &info), 0);
    CHECK(fabs(info.duration_s - 1.234) < 1e-9);
    /* Unknown file size too. */
    CHECK_EQ(pf_media_probe(b.b, b.n, NULL, 0, 0, 0, &info, NULL, NULL), 0);
    /* An unknown-size Info is malformed. */
    bb c = {.n = 0};
    ebml_header(&c, "matroska");
    ebml_unknown(&c, 0x18538067, 1);
    ebml_unknown(&c, 0x1549A966, 2);
    CHECK_EQ(probe_all(&c, &info), PF_ERR_PARSE);
}

TEST(mkv_seekhead_to_info)
{
    /* SeekHead says Info is past a big Void the prefix does not reach. */
    static uint8_t f[8192];
    bb b = {.n = 0};
    ebml_header(&b, "webm");
    ebml_el(&b, 0x18538067, 0, 8); /* size patched below */
    size_t seg_data = b.n;
    /* SeekHead { Seek { SeekID(4) = Info, SeekPosition(2) } } */
    ebml_el(&b, 0x114D9B74, 3 + 7 + 5, 1);
    ebml_el(&b, 0x4DBB, 7 + 5, 1);
    ebml_el(&b, 0x53AB, 4, 1);
    put32(&b, 0x1549A966);
    ebml_el(&b, 0x53AC, 2, 1);
    size_t pos_at = b.n;
    put8(&b, 0);
    put8(&b, 0);
    ebml_el(&b, 0xEC, 5000, 2); /* Void */
    memcpy(f, b.b, b.n);
    size_t tracks_off = b.n + 5000;
    b.n = 0;
    ebml_el(&b, 0x1654AE6B, 100, 1); /* Tracks, contents left as zeros */
    memcpy(f + tracks_off, b.b, b.n);
    size_t info_off = tracks_off + b.n + 100;
    uint64_t rel = info_off - seg_data;
    f[pos_at] = (uint8_t)(rel >> 8);
    f[pos_at + 1] = (uint8_t)rel;
    b.n = 0;
    info_el(&b, 3, 1000000, 8, 42000.0);
    memcpy(f + info_off, b.b, b.n);
    size_t len = info_off + b.n;
    uint64_t seg_size = len - seg_data;
    for (int i = 0; i < 7; i++) f[seg_data - 1 - i] = (uint8_t)(seg_size >> (8 * i));
    f[seg_data - 8] = 0x01;

    pf_media_info info;
    uint64_t no = 0, nl = 0;
    CHECK_EQ(pf_media_probe(f, 200, NULL, 0, 0, len, &info, &no, &nl), PF_ERR_EAGAIN);
    CHECK_EQ(no, info_off);
    CHECK_EQ(info.container, PF_CONTAINER_MKV);
    CHECK_EQ(pf_media_probe(f, 200, f + no, (size_t)nl, no, len, &info, &no, &nl), 0);
    CHECK(fabs(info.duration_s - 42.0) < 1e-9);
    /* Without the SeekHead in reach: ask for more from the SeekHead. */
    CHECK_EQ(pf_media_probe(f, seg_data + 2, NULL, 0, 0, len, &info, &no, &nl), PF_ERR_EAGAIN);
    CHECK_EQ(no, seg_data);
    /* With the SeekHead but not the Tracks header: straight to Info. */
    CHECK_EQ(pf_media_probe(f, tracks_off + 1, NULL, 0, 0, len, &info, &no, &nl), PF_ERR_EAGAIN);
    CHECK_EQ(no, info_off);
}

TEST(mkv_bad)
{
    pf_media_info info;
    /* Another EBML DocType. */
    bb b = {.n = 0};
    ebml_header(&b, "mkvfoo");
    size_t sd = seg_open(&b);
    info_el(&b, 0, 0, 4, 1.0);
    seg_close(&b, sd);
    CHECK_EQ(probe_all(&b, &info), PF_ERR_UNSUPPORTED);
    /* Duration of 2 bytes; negative; NaN; TimestampScale 0. */
    bb c = {.n = 0};
    ebml_header(&c, "matroska");
    sd = seg_open(&c);
    info_el(&c, 0, 0, 4, -5.0);
    seg_close(&c, sd);
    CHECK_EQ(probe_all(&c, &info), PF_ERR_PARSE);
    bb d = {.n = 0};
    ebml_header(&d, "matroska");
    sd = seg_open(&d);
    info_el(&d, 0, 0, 8, NAN);
    seg_close(&d, sd);
    CHECK_EQ(probe_all(&d, &info), PF_ERR_PARSE);
    bb e = {.n = 0};
    ebml_header(&e, "matroska");
    sd = seg_open(&e);
    info_el(&e, 1, 0, 4, 1.0);
    seg_close(&e, sd);
    CHECK_EQ(probe_all(&e, &info), PF_ERR_PARSE);
    /* A vint whose first byte is 0 (length > 8). */
    bb g = {.n = 0};
    ebml_header(&g, "matroska");
    ebml_id(&g, 0x18538067);
    put8(&g, 0);
    put64(&g, 5);
    CHECK_EQ(probe_all(&g, &info), PF_ERR_PARSE);
    /* A 5-byte ID. */
    bb h = {.n = 0};
    ebml_header(&h, "matroska");
    put(&h, "\x08\x01\x02\x03\x04\x81\x00", 7);
    CHECK_EQ(probe_all(&h, &info), PF_ERR_PARSE);
    /* A child that overruns the Segment. */
    bb k = {.n = 0};
    ebml_header(&k, "matroska");
    ebml_el(&k, 0x18538067, 3, 1);
    ebml_el(&k, 0xEC, 100, 1);
    put8(&k, 0);
    CHECK_EQ(probe_all(&k, &info), PF_ERR_PARSE);
    /* Segment without Info. */
    bb m = {.n = 0};
    ebml_header(&m, "matroska");
    ebml_el(&m, 0x18538067, 3, 1);
    ebml_el(&m, 0xEC, 1, 1);
    put8(&m, 0);
    CHECK_EQ(probe_all(&m, &info), PF_ERR_PARSE);
    /* Truncated at every byte: never a crash, never success claiming more. */
    bb t = {.n = 0};
    ebml_header(&t, "webm");
    sd = seg_open(&t);
    ebml_el(&t, 0xEC, 2, 1);
    put8(&t, 0);
    put8(&t, 0);
    info_el(&t, 3, 1000000, 8, 7008.0);
    seg_close(&t, sd);
    for (size_t n = 0; n < t.n; n++) {
        uint64_t no, nl;
        CHECK_EQ(pf_media_probe(t.b, n, NULL, 0, 0, t.n, &info, &no, &nl), PF_ERR_EAGAIN);
        CHECK(no + nl > n && no + nl <= t.n);
        if (n == 0) continue; /* file_size 0 means unknown */
        int rc = pf_media_probe(t.b, n, NULL, 0, 0, n, &info, NULL, NULL);
        CHECK(rc == PF_ERR_PARSE || rc == PF_ERR_UNSUPPORTED);
    }
}

TEST(garbage_and_args)
{
    pf_media_info info;
    uint64_t no, nl;
#define J(s) {s, sizeof s - 1}
    static const struct {
        const char *p;
        size_t n;
    } junk[] = {J("<!DOCTYPE html><html>"), J("GIF89a\x01\x00\x01\x00......"),
                J("\x00\x00\x01\xba\x44\x00\x04\x00\x04\x01"), J("RIFF\x24\x00\x00\x00WAVEfmt "),
                J("\x00\x00\x00\x04" "ftyp"), J("OggS\x00\x02\x00\x00\x00\x00"),
                J("\x1a\x45\xdf\xa4\x80")};
#undef J
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
        CHECK_EQ(pf_media_probe((const uint8_t *)junk[i].p, junk[i].n, NULL, 0, 0, junk[i].n, &info,
                                NULL, NULL),
                 PF_ERR_UNSUPPORTED);
    /* Too short to tell. */
    CHECK_EQ(pf_media_probe((const uint8_t *)"\x1a\x45", 2, NULL, 0, 0, 100, &info, &no, &nl),
             PF_ERR_EAGAIN);
    CHECK_EQ(no, 0);
    CHECK_EQ(nl, 100);
    CHECK_EQ(pf_media_probe((const uint8_t *)"\x1a\x45", 2, NULL, 0, 0, 2, &info, &no, &nl),
             PF_ERR_UNSUPPORTED);
    CHECK_EQ(pf_media_probe((const uint8_t *)"abcde", 5, NULL, 0, 0, 6, &info, &no, &nl),
             PF_ERR_UNSUPPORTED);
    CHECK_EQ(pf_media_probe(NULL, 0, NULL, 0, 0, 0, &info, &no, &nl), PF_ERR_EAGAIN);
    CHECK_EQ(pf_media_probe(NULL, 0, NULL, 0, 0, 1, &info, &no, &nl), PF_ERR_UNSUPPORTED);
    /* Bad arguments. */
    uint8_t x[16] = {0};
    CHECK_EQ(pf_media_probe(x, 16, NULL, 0, 0, 16, NULL, NULL, NULL), PF_ERR_INVAL);
    CHECK_EQ(pf_media_probe(NULL, 4, NULL, 0, 0, 16, &info, NULL, NULL), PF_ERR_INVAL);
    CHECK_EQ(pf_media_probe(x, 16, NULL, 4, 0, 16, &info, NULL, NULL), PF_ERR_INVAL);
    CHECK_EQ(pf_media_probe(x, 16, NULL, 0, 0, 8, &info, NULL, NULL), PF_ERR_INVAL);
    CHECK_EQ(pf_media_probe(x, 8, x, 16, 4, 16, &info, NULL, NULL), PF_ERR_INVAL);
    CHECK_EQ(pf_media_probe(x, 8, x, 16, UINT64_MAX - 8, 0, &info, NULL, NULL), PF_ERR_INVAL);
}

TEST_MAIN(real_mp4_faststart, real_mp4_moov_at_end, real_mov, real_webm, real_mkv, real_mkv_live,
          real_fragmented_mp4, mp4_v0_basic, mp4_v1_and_largesize, mp4_mdhd_fallback,
          mp4_mehd, mp4_no_duration_anywhere, mp4_moov_at_end_protocol, mp4_size_zero_and_bogus,
          mp4_truncated, mp4_box_limit, mkv_basic_and_defaults, mkv_segment_past_eof, mkv_unknown_sizes,
          mkv_seekhead_to_info, mkv_bad, garbage_and_args)
