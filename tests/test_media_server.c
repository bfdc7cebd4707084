/* The media server's sans-I/O helpers (core/media_http.c): routes, content
 * types, Range decisions, path safety, and the playlist / JSON / Prometheus
 * bodies.  Then the real server (net/media_server.c) on 127.0.0.1 with a
 * seeded torrent: hostile clients (traversal, bad ranges, oversized heads,
 * slowloris, a client that never reads, a connection flood) while a normal
 * client fetches the file byte-exact. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/media/media_http.h"
#include "net/create.h"
#include "net/media_server.h"
#include "test.h"

static int contains(const pf_buf *b, const char *s)
{
    return pf_buf_nul((pf_buf *)b) == 0 && strstr((const char *)b->data, s) != NULL;
}

static size_t count(const pf_buf *b, const char *s)
{
    size_t n = 0;
    pf_buf_nul((pf_buf *)b);
    for (const char *p = (const char *)b->data; (p = strstr(p, s)) != NULL; p++) n++;
    return n;
}

static pf_media_route_kind route(const char *p, uint32_t *idx)
{
    return pf_media_route(p, strlen(p), idx);
}

TEST(test_routes)
{
    uint32_t i = 99;
    CHECK_EQ(route("/", &i), PF_MEDIA_ROUTE_INDEX);
    CHECK_EQ(route("/index.html", &i), PF_MEDIA_ROUTE_INDEX);
    CHECK_EQ(route("/playlist.m3u", &i), PF_MEDIA_ROUTE_PLAYLIST);
    CHECK_EQ(route("/stats.json", &i), PF_MEDIA_ROUTE_STATS);
    CHECK_EQ(route("/metrics", &i), PF_MEDIA_ROUTE_METRICS);
    CHECK_EQ(route("/files/0/Movie%20(1).mp4", &i), PF_MEDIA_ROUTE_FILE);
    CHECK_EQ(i, 0);
    CHECK_EQ(route("/files/12", &i), PF_MEDIA_ROUTE_FILE);
    CHECK_EQ(i, 12);
    CHECK_EQ(route("/stream/7", &i), PF_MEDIA_ROUTE_FILE);
    CHECK_EQ(i, 7);
    CHECK_EQ(route("/files/123456789/x", &i), PF_MEDIA_ROUTE_FILE);
    CHECK_EQ(i, 123456789);
    CHECK_EQ(route("/files/1234567890", &i), PF_MEDIA_ROUTE_NONE); /* > 9 digits */
    CHECK_EQ(route("/files/", &i), PF_MEDIA_ROUTE_NONE);
    CHECK_EQ(route("/files/x", &i), PF_MEDIA_ROUTE_NONE);
    CHECK_EQ(route("/files/-1", &i), PF_MEDIA_ROUTE_NONE);
    CHECK_EQ(route("/files/1x", &i), PF_MEDIA_ROUTE_NONE);
    CHECK_EQ(route("/metrics/", &i), PF_MEDIA_ROUTE_NONE);
    CHECK_EQ(route("/favicon.ico", &i), PF_MEDIA_ROUTE_NONE);
    CHECK_EQ(route("", &i), PF_MEDIA_ROUTE_NONE);
}

static int player_name(const char *p, char *out, size_t outlen)
{
    return pf_media_player_name(p, strlen(p), out, outlen);
}

/* /player/<name>: one segment, a safe alphabet, no hidden files, only
 * the page types; the route itself. */
TEST(test_player_name)
{
    uint32_t i = 0;
    char n[PF_MEDIA_PLAYER_NAME_MAX + 1];
    CHECK_EQ(route("/player/hls.min.js", &i), PF_MEDIA_ROUTE_PLAYER);
    CHECK_EQ(route("/player/", &i), PF_MEDIA_ROUTE_NONE);
    CHECK_EQ(route("/player", &i), PF_MEDIA_ROUTE_NONE);
    CHECK_EQ(player_name("/player/hls.min.js", n, sizeof n), 0);
    CHECK(strcmp(n, "hls.min.js") == 0);
    CHECK_EQ(player_name("/player/Player_1-a.HTML", n, sizeof n), 0);
    CHECK_EQ(player_name("/player/dash.all.min.js.map", n, sizeof n), 0);
    CHECK_EQ(player_name("/player/style.css", n, sizeof n), 0);
    static const char *bad[] = {
        "/player/", "/player/..", "/player/.", "/player/.hidden.js", "/player/../x.js",
        "/player/a/b.js", "/player/%2e%2e", "/player/a%2fb.js", "/player/a%20b.js",
        "/player/a\\b.js", "/player/movie.mp4", "/player/noext", "/player/x.php",
        "/player/x.svg", "/player/x.js?y", "/player/a b.js", "/t/x.js", "/playerx.js",
        "/player//etc/passwd.js",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        int rc = player_name(bad[k], n, sizeof n);
        if (rc == 0) fprintf(stderr, "  accepted %s\n", bad[k]);
        CHECK(rc != 0);
    }
    char longname[8 + PF_MEDIA_PLAYER_NAME_MAX + 8];
    memcpy(longname, "/player/", 8);
    memset(longname + 8, 'a', PF_MEDIA_PLAYER_NAME_MAX);
    memcpy(longname + 8 + PF_MEDIA_PLAYER_NAME_MAX - 3, ".js", 4);
    CHECK_EQ(player_name(longname, n, sizeof n), 0);
    longname[8 + PF_MEDIA_PLAYER_NAME_MAX - 3] = 'a';
    memcpy(longname + 8 + PF_MEDIA_PLAYER_NAME_MAX - 2, ".js", 4); /* one byte over */
    CHECK(player_name(longname, n, sizeof n) != 0);
    CHECK_EQ(player_name("/player/abcdef.js", n, 4), PF_ERR_LIMIT);
    CHECK(strcmp(pf_media_player_type("a.js"), "text/javascript; charset=utf-8") == 0);
    CHECK(strcmp(pf_media_player_type("a.HTML"), "text/html; charset=utf-8") == 0);
    CHECK(strcmp(pf_media_player_type("a.map"), "application/json") == 0);
    CHECK(pf_media_player_type("a.mp4") == NULL);
    CHECK(pf_media_player_type("js") == NULL);
    /* the torrent's files never get a type a browser would run */
    CHECK(strcmp(pf_media_content_type("x.js"), "application/octet-stream") == 0);
    CHECK(strcmp(pf_media_content_type("x.html"), "application/octet-stream") == 0);
}

TEST(test_content_types)
{
    CHECK_STR(pf_media_content_type("a/b/Movie.MP4"), "video/mp4");
    CHECK_STR(pf_media_content_type("x.m4v"), "video/mp4");
    CHECK_STR(pf_media_content_type("x.mkv"), "video/x-matroska");
    CHECK_STR(pf_media_content_type("x.webm"), "video/webm");
    CHECK_STR(pf_media_content_type("x.mp3"), "audio/mpeg");
    CHECK_STR(pf_media_content_type("x.m4a"), "audio/mp4");
    CHECK_STR(pf_media_content_type("x.aac"), "audio/aac");
    CHECK_STR(pf_media_content_type("seg/0001.ts"), "video/mp2t");
    CHECK_STR(pf_media_content_type("index.m3u8"), "application/vnd.apple.mpegurl");
    CHECK_STR(pf_media_content_type("x.flac"), "audio/flac");
    CHECK_STR(pf_media_content_type("x.srt"), "application/x-subrip");
    /* unknown, none, dot files, and document types a browser would run */
    CHECK_STR(pf_media_content_type("x.iso"), "application/octet-stream");
    CHECK_STR(pf_media_content_type("README"), "application/octet-stream");
    CHECK_STR(pf_media_content_type(".mp4"), "application/octet-stream");
    CHECK_STR(pf_media_content_type("dir.mp4/file"), "application/octet-stream");
    CHECK_STR(pf_media_content_type("x.html"), "application/octet-stream");
    CHECK_STR(pf_media_content_type("x.svg"), "application/octet-stream");
    CHECK_STR(pf_media_content_type(NULL), "application/octet-stream");
    CHECK(pf_media_is_media("a.mkv"));
    CHECK(pf_media_is_media("a.mp3"));
    CHECK(!pf_media_is_media("a.srt"));
    CHECK(pf_media_is_video("a.webm"));
    CHECK(!pf_media_is_video("a.mp3"));
}

static pf_media_range plan(const char *range, int if_range, uint64_t size)
{
    pf_media_range r;
    pf_media_range_plan(range, range ? strlen(range) : 0, if_range, size, &r);
    return r;
}

TEST(test_range_plan)
{
    pf_media_range r = plan(NULL, 0, 1000);
    CHECK_EQ(r.status, 200);
    CHECK_EQ(r.start, 0);
    CHECK_EQ(r.length, 1000);
    r = plan("bytes=0-99", 0, 1000);
    CHECK_EQ(r.status, 206);
    CHECK_EQ(r.start, 0);
    CHECK_EQ(r.length, 100);
    r = plan("bytes=900-", 0, 1000);
    CHECK_EQ(r.status, 206);
    CHECK_EQ(r.start, 900);
    CHECK_EQ(r.length, 100);
    r = plan("bytes=990-5000", 0, 1000); /* end clamped */
    CHECK_EQ(r.status, 206);
    CHECK_EQ(r.length, 10);
    r = plan("bytes=-10", 0, 1000);
    CHECK_EQ(r.status, 206);
    CHECK_EQ(r.start, 990);
    CHECK_EQ(r.length, 10);
    r = plan("bytes=-5000", 0, 1000); /* suffix longer than the file */
    CHECK_EQ(r.status, 206);
    CHECK_EQ(r.start, 0);
    CHECK_EQ(r.length, 1000);
    r = plan("bytes=999-999", 0, 1000);
    CHECK_EQ(r.status, 206);
    CHECK_EQ(r.length, 1);
    /* unsatisfiable */
    r = plan("bytes=1000-", 0, 1000);
    CHECK_EQ(r.status, 416);
    CHECK_EQ(r.length, 0);
    r = plan("bytes=-0", 0, 1000);
    CHECK_EQ(r.status, 416);
    r = plan("bytes=0-", 0, 0); /* empty file */
    CHECK_EQ(r.status, 416);
    /* ignored: several ranges, other units, bad syntax, If-Range */
    r = plan("bytes=0-1,5-6", 0, 1000);
    CHECK_EQ(r.status, 200);
    CHECK_EQ(r.length, 1000);
    r = plan("items=0-1", 0, 1000);
    CHECK_EQ(r.status, 200);
    r = plan("bytes=5-1", 0, 1000);
    CHECK_EQ(r.status, 200);
    r = plan("bytes=abc", 0, 1000);
    CHECK_EQ(r.status, 200);
    r = plan("bytes=0-99", 1, 1000);
    CHECK_EQ(r.status, 200);
    CHECK_EQ(r.length, 1000);
    r = plan(NULL, 0, 0);
    CHECK_EQ(r.status, 200);
    CHECK_EQ(r.length, 0);
}

static int safe(const char *p) { return pf_media_path_safe(p, strlen(p)); }

TEST(test_path_safe)
{
    CHECK(safe("/"));
    CHECK(safe("/files/0/Movie%20(1).mp4"));
    CHECK(safe("/files/0/"));
    CHECK(safe("/files/3/Sub%0D%0ATitle.srt")); /* our own URLs for odd names */
    CHECK(safe("/files/0/...")); /* three dots is a name */
    CHECK(safe("/files/0/a..b"));
    CHECK(safe("/stats.json"));
    /* traversal, raw and encoded, any case, any position */
    CHECK(!safe("/files/0/../../etc/passwd"));
    CHECK(!safe("/files/../stats.json"));
    CHECK(!safe("/.."));
    CHECK(!safe("/files/0/.."));
    CHECK(!safe("/files/0/."));
    CHECK(!safe("/./files/0"));
    CHECK(!safe("/files/0/%2e%2e/%2e%2e/etc/passwd"));
    CHECK(!safe("/files/0/%2E%2E"));
    CHECK(!safe("/files/0/.%2e"));
    CHECK(!safe("/files/0/%2e"));
    /* encoded slashes and backslashes */
    CHECK(!safe("/files/0/..%2f..%2fetc%2fpasswd"));
    CHECK(!safe("/files/0/a%2Fb"));
    CHECK(!safe("/files/0/..\\..\\x"));
    CHECK(!safe("/files/0/%5c"));
    /* NUL and bad escapes */
    CHECK(!safe("/files/0/a%00.mp4"));
    CHECK_EQ(pf_media_path_safe("/files/0/a\0b", 12), 0);
    CHECK(!safe("/files/0/%zz"));
    CHECK(!safe("/files/0/%2"));
    CHECK(!safe("/files/0/%"));
    /* absolute paths after a prefix, and no leading slash */
    CHECK(!safe("//etc/passwd"));
    CHECK(!safe("/files/0//etc/passwd"));
    CHECK(!safe("/files//0"));
    CHECK(!safe("etc/passwd"));
    CHECK(!safe("*"));
    CHECK(!safe(""));
}

/* Range decisions for hostile values, as the server answers them. */
TEST(test_range_plan_hostile)
{
    pf_media_range r = plan("bytes=18446744073709551615-", 0, 1000);
    CHECK_EQ(r.status, 416);
    r = plan("bytes=99999999999999999999-99999999999999999999", 0, 1000);
    CHECK_EQ(r.status, 416); /* valid, past the end */
    r = plan("bytes=99999999999999999999-99999999999999999998", 0, 1000);
    CHECK_EQ(r.status, 200); /* invalid (last < first): ignored */
    CHECK_EQ(r.length, 1000);
    r = plan("bytes=-5-9", 0, 1000);
    CHECK_EQ(r.status, 200);
    r = plan("bytes=0-1,2-3,4-5", 0, 1000);
    CHECK_EQ(r.status, 200);
    r = plan("bytes=-99999999999999999999999", 0, 1000);
    CHECK_EQ(r.status, 206);
    CHECK_EQ(r.start, 0);
    CHECK_EQ(r.length, 1000);
}

static int host_lb(const char *h) { return pf_media_host_is_loopback(h, strlen(h)); }

TEST(test_hosts)
{
    CHECK(host_lb("127.0.0.1"));
    CHECK(host_lb("127.0.0.1:8080"));
    CHECK(host_lb("127.1.2.3:1"));
    CHECK(host_lb("localhost:9"));
    CHECK(host_lb("LocalHost"));
    CHECK(host_lb("[::1]:8080"));
    CHECK(host_lb("[::1]"));
    CHECK(!host_lb("127.0.0.1.evil.com"));
    CHECK(!host_lb("127.0.0"));
    CHECK(!host_lb("localhost.evil.com"));
    CHECK(!host_lb("evil.com:8080"));
    CHECK(!host_lb("[::2]:80"));
    CHECK(!host_lb("[::1]x"));
    CHECK(!host_lb(""));
    CHECK(!host_lb("127.0.0.1/x"));
    CHECK(pf_media_host_valid("example.com:80", 14));
    CHECK(!pf_media_host_valid("a b", 3));
    CHECK(!pf_media_host_valid("a\"b", 3));
    CHECK(!pf_media_host_valid("a\r\nb", 4));
}

TEST(test_file_url)
{
    pf_buf b;
    pf_buf_init(&b);
    CHECK_EQ(pf_media_file_url(&b, "http://127.0.0.1:8080", 3, "Show/S01/E01 \"pilot\"#1.mkv"), 0);
    CHECK_EQ(pf_buf_nul(&b), 0);
    CHECK_STR((char *)b.data, "http://127.0.0.1:8080/files/3/E01%20%22pilot%22%231.mkv");
    pf_buf_free(&b);
}

static const pf_media_file sample_files[] = {
    {0, "Movie/readme.txt", 100, 0, {0}},
    {1, "Movie/Movie.mkv", 1 << 30, 0, {0}},
    {2, "Movie/Sub\r\nTitle.srt", 2000, 0, {0}},
    {3, "Movie/Track.mp3", 5000, 0, {0}},
};

TEST(test_m3u)
{
    pf_buf b;
    pf_buf_init(&b);
    CHECK_EQ(pf_media_m3u(&b, "http://h:1", sample_files, 4), 0);
    CHECK_EQ(pf_buf_nul(&b), 0);
    const char *want = "#EXTM3U\n"
                       "#EXTINF:-1,Movie/Movie.mkv\nhttp://h:1/files/1/Movie.mkv\n"
                       "#EXTINF:-1,Movie/Track.mp3\nhttp://h:1/files/3/Track.mp3\n"
                       "#EXTINF:-1,Movie/readme.txt\nhttp://h:1/files/0/readme.txt\n"
                       "#EXTINF:-1,Movie/Sub  Title.srt\nhttp://h:1/files/2/Sub%0D%0ATitle.srt\n";
    CHECK_STR((char *)b.data, want);
    pf_buf_free(&b);
}

TEST(test_html_escapes)
{
    pf_buf b;
    pf_buf_init(&b);
    pf_media_file f = {0, "d/<b onclick='x'>&.mp4", 10, 0, {0}};
    CHECK_EQ(pf_media_html(&b, "a<b>\"c\"", &f, 1), 0);
    CHECK(!contains(&b, "<b onclick"));
    CHECK(contains(&b, ">d/&lt;b onclick=&#39;x&#39;&gt;&amp;.mp4</a>"));
    CHECK(contains(&b, "<title>a&lt;b&gt;&quot;c&quot;</title>"));
    CHECK(contains(&b, "href=\"/files/0/%3Cb%20onclick%3D%27x%27%3E%26.mp4\""));
    CHECK(contains(&b, "href=\"/playlist.m3u\""));
    pf_buf_free(&b);
}

TEST(test_json_str)
{
    pf_buf b;
    pf_buf_init(&b);
    CHECK_EQ(pf_media_json_str(&b, "a\"b\\c\n\t\x01 \xc3\xa9 \xff \xe2\x82"), 0);
    CHECK_EQ(pf_buf_nul(&b), 0);
    CHECK_STR((char *)b.data, "\"a\\\"b\\\\c\\n\\t\\u0001 \xc3\xa9 \\ufffd \\ufffd\\ufffd\"");
    pf_buf_reset(&b);
    CHECK_EQ(pf_media_json_str(&b, NULL), 0);
    CHECK_EQ(b.len, 2);
    pf_buf_free(&b);
}

static void sample_stats(pf_torrent_stats *st)
{
    memset(st, 0, sizeof *st);
    st->state = PF_TS_DOWNLOADING;
    st->pieces = 100;
    st->have = 40;
    st->uploaded = 7;
    st->downloaded = 4000;
    st->cdn_downloaded = 1000;
    st->peer_downloaded = 3000;
    st->remote_downloaded = 900;
    st->remote_uploaded = 5;
    st->hash_failures = 2;
    st->peers = 5;
    st->down_rate = 1234.5;
    st->webseeds = 1;
}

TEST(test_stats_json)
{
    pf_torrent_stats st;
    sample_stats(&st);
    pf_media_file f[2];
    memcpy(f, sample_files, sizeof f);
    f[1].has_qoe = 1;
    f[1].qoe.active = 1;
    f[1].qoe.ttfb_s = 0.5;
    f[1].qoe.time_to_playable_s = -1;
    f[1].qoe.stalls = 3;
    f[1].qoe.buffer_s = NAN;
    f[1].qoe.bytes_served = 42;
    pf_source_stats src[2];
    memset(src, 0, sizeof src);
    snprintf(src[0].name, sizeof src[0].name, "cdn:http://cdn/x");
    snprintf(src[0].kind, sizeof src[0].kind, "webseed");
    src[0].cost = 1;
    src[0].downloaded = 1000;
    src[0].cmsd_etp_kbps = 12000;
    src[0].cmsd_mb_kbps = 3000;
    memset(src[1].name, 'a', sizeof src[1].name); /* not NUL-terminated */
    pf_buf b;
    pf_buf_init(&b);
    CHECK_EQ(pf_media_stats_json(&b, "T\"1", &st, NULL, NULL, f, 2, src, 2), 0);
    CHECK(contains(&b, "{\"name\":\"T\\\"1\",\"state\":\"downloading\""));
    CHECK(contains(&b, "\"uploaded\":7,\"downloaded\":4000"));
    CHECK(contains(&b, "\"cdn_downloaded\":1000,\"peer_downloaded\":3000"));
    CHECK(contains(&b, "\"remote_downloaded\":900,\"remote_uploaded\":5"));
    CHECK(contains(&b, "\"cdn_share\":0.2500"));
    CHECK(contains(&b, "\"complete\":false"));
    CHECK(contains(&b, "\"files\":[{\"index\":1,\"path\":\"Movie/Movie.mkv\""));
    CHECK(!contains(&b, "readme")); /* not read: no entry */
    CHECK(contains(&b, "\"ttfb_s\":0.500,\"time_to_playable_s\":null,\"stalls\":3"));
    CHECK(contains(&b, "\"buffer_s\":null"));
    CHECK(contains(&b, "\"bytes_served\":42"));
    CHECK(contains(&b, "\"sources\":[{\"name\":\"cdn:http://cdn/x\",\"kind\":\"webseed\",\"cost\":1,\"downloaded\":1000"));
    CHECK(contains(&b, "\"cmsd_etp_kbps\":12000,\"cmsd_mb_kbps\":3000}"));
    CHECK(contains(&b, "\"cmsd_etp_kbps\":0,\"cmsd_mb_kbps\":0}"));
    CHECK_EQ(count(&b, "\"kind\":"), 2);
    pf_buf_free(&b);
}

TEST(test_prom_label)
{
    pf_buf b;
    pf_buf_init(&b);
    CHECK_EQ(pf_media_prom_label(&b, "a\\b\"c\nd\te"), 0);
    CHECK_EQ(pf_buf_nul(&b), 0);
    CHECK_STR((char *)b.data, "a\\\\b\\\"c\\nd\te");
    pf_buf_free(&b);
}

/* Every line is a comment or `name{labels} value`; families are
 * contiguous and announced once. */
static int prom_well_formed(const pf_buf *b)
{
    char *copy = strndup((const char *)b->data, b->len);
    int ok = 1;
    char families[64][64];
    int nf = 0;
    char current[64] = "";
    for (char *line = copy, *nl; ok && line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (!nl) ok = 0; /* every line ends in LF */
        else *nl = 0;
        if (strncmp(line, "# HELP ", 7) == 0) continue;
        if (strncmp(line, "# TYPE ", 7) == 0) {
            char name[64], type[16];
            if (sscanf(line + 7, "%63s %15s", name, type) != 2) ok = 0;
            for (int i = 0; i < nf; i++)
                if (strcmp(families[i], name) == 0) ok = 0; /* announced twice */
            if (nf < 64) snprintf(families[nf++], 64, "%s", name);
            snprintf(current, sizeof current, "%s", name);
            if (strcmp(type, "counter") == 0 && !strstr(name, "_total")) ok = 0;
            continue;
        }
        size_t n = strcspn(line, "{ ");
        if (strncmp(line, current, n) != 0 || strlen(current) != n) ok = 0; /* not grouped */
        const char *sp = strrchr(line, ' ');
        char *end;
        if (!sp || (strtod(sp + 1, &end), *end != 0)) ok = 0;
    }
    free(copy);
    return ok;
}

TEST(test_metrics)
{
    pf_torrent_stats st;
    sample_stats(&st);
    pf_media_file f[4];
    memcpy(f, sample_files, sizeof f);
    pf_buf b;
    pf_buf_init(&b);
    CHECK_EQ(pf_media_metrics(&b, "My \"show\"\n", &st, NULL, NULL, f, 4), 0);
    CHECK(prom_well_formed(&b));
    CHECK(contains(&b, "peerflow_info{torrent=\"My \\\"show\\\"\\n\",version=\""));
    CHECK(contains(&b, "# TYPE peerflow_downloaded_bytes_total counter\n"));
    CHECK(contains(&b, "peerflow_downloaded_bytes_total{source=\"cdn\"} 1000\n"));
    CHECK(contains(&b, "peerflow_downloaded_bytes_total{source=\"peer\"} 3000\n"));
    CHECK(contains(&b, "# TYPE peerflow_remote_isp_bytes_total counter\n"));
    CHECK(contains(&b, "peerflow_remote_isp_bytes_total{direction=\"down\"} 900\n"));
    CHECK(contains(&b, "peerflow_remote_isp_bytes_total{direction=\"up\"} 5\n"));
    CHECK(contains(&b, "peerflow_uploaded_bytes_total 7\n"));
    CHECK(contains(&b, "peerflow_hash_failures_total 2\n"));
    CHECK(contains(&b, "# TYPE peerflow_peers gauge\npeerflow_peers 5\n"));
    CHECK(contains(&b, "peerflow_download_rate_bytes 1234.5\n"));
    CHECK(contains(&b, "# TYPE peerflow_cdn_cmsd_etp_kbps gauge\npeerflow_cdn_cmsd_etp_kbps 0\n"));
    CHECK(!contains(&b, "file=\"")); /* nothing read yet */
    pf_buf_reset(&b);
    st.cmsd_etp_kbps = 12000;
    st.cmsd_mb_kbps = 3000;
    CHECK_EQ(pf_media_metrics(&b, "x", &st, NULL, NULL, f, 4), 0);
    CHECK(prom_well_formed(&b));
    CHECK(contains(&b, "peerflow_cdn_cmsd_etp_kbps 12000\n"));
    CHECK(contains(&b, "peerflow_cdn_cmsd_mb_kbps 3000\n"));

    f[1].has_qoe = f[3].has_qoe = 1;
    f[1].qoe.stalls = 2;
    f[1].qoe.stall_s = 1.25;
    f[1].qoe.ttfb_s = 0.1;
    f[1].qoe.time_to_playable_s = -1;
    f[1].qoe.buffer_s = 12.5;
    f[1].qoe.active = 1;
    f[3].qoe.ttfb_s = -1;
    f[3].qoe.time_to_playable_s = -1;
    f[3].qoe.buffer_s = INFINITY;
    f[3].path = "odd\\\"\n.mp3";
    pf_buf_reset(&b);
    CHECK_EQ(pf_media_metrics(&b, "x", &st, NULL, NULL, f, 4), 0);
    CHECK(prom_well_formed(&b));
    CHECK(contains(&b, "peerflow_stalls_total{file=\"1\"} 2\npeerflow_stalls_total{file=\"3\"} 0\n"));
    CHECK(contains(&b, "peerflow_stall_seconds_total{file=\"1\"} 1.25\n"));
    CHECK(contains(&b, "peerflow_buffer_seconds{file=\"1\"} 12.5\n"));
    CHECK(contains(&b, "peerflow_buffer_seconds{file=\"3\"} +Inf\n"));
    CHECK(contains(&b, "peerflow_time_to_first_byte_seconds{file=\"1\"} 0.1\n"));
    CHECK(!contains(&b, "peerflow_time_to_first_byte_seconds{file=\"3\"}"));
    CHECK(!contains(&b, "peerflow_time_to_playable_seconds{"));
    CHECK(contains(&b, "# TYPE peerflow_time_to_playable_seconds gauge\n"));
    CHECK(contains(&b, "peerflow_file_active{file=\"1\"} 1\n"));
    CHECK(contains(&b, "peerflow_file_info{file=\"3\",path=\"odd\\\\\\\"\\n.mp3\"} 1\n"));
    CHECK(!contains(&b, "file=\"0\""));
    pf_buf_free(&b);
}

/* The upload state in /stats.json, /metrics and POST /control's answer;
 * the datagram counters beside it. */
TEST(test_upload_state)
{
    pf_torrent_stats st;
    sample_stats(&st);
    pf_media_file f[2];
    memcpy(f, sample_files, sizeof f);
    pf_upload_status u;
    memset(&u, 0, sizeof u);
    u.off = PF_UPLOAD_OFF_BATTERY | PF_UPLOAD_OFF_BUDGET;
    u.off_when = PF_UPLOAD_OFF_METERED | PF_UPLOAD_OFF_BATTERY;
    u.on_battery = 1;
    u.budget = 2097152;
    u.budget_used = 2090000;
    u.budget_left = 7152;
    memcpy(u.period, "2031-01", 8);
    u.share = 0.5;
    u.uplink_bps = 2000000;
    u.cap_bps = 1000000;
    u.uploaded = 4242;
    pf_buf b;
    pf_buf_init(&b);
    pf_datagram_stats dg = {.received = 1000, .dropped_in = 7, .dropped_out = 2, .utp_invalid = 3};
    CHECK_EQ(pf_media_stats_json(&b, "T", &st, &u, &dg, f, 2, NULL, 0), 0);
    CHECK(contains(&b, "\"complete\":false,\"p2p_off\":false,\"operator_upload_cap\":0,\"ssl\":false,\"tls_peers\":0,\"tls_refused\":0,"
                     "\"datagrams\":{\"received\":1000,\"dropped_in\":7,\"dropped_out\":2,\"utp_invalid\":3},"
                     "\"upload\":{\"enabled\":false,\"state\":\"off\","
                       "\"off\":[\"battery\",\"budget\"],\"off_when\":[\"metered\",\"battery\"],"
                       "\"metered\":false,\"on_battery\":true,\"budget\":2097152,"
                       "\"budget_used\":2090000,\"budget_left\":7152,\"period\":\"2031-01\","
                       "\"share\":0.5,\"uplink_bps\":2000000,\"cap_bps\":1000000,\"uploaded\":4242},"
                       "\"files\":["));
    pf_buf_reset(&b);
    memset(&u, 0, sizeof u);
    u.enabled = 1;
    memset(u.period, 'x', sizeof u.period); /* no budget: not shown, whatever it holds */
    CHECK_EQ(pf_media_upload_json(&b, &u), 0);
    CHECK_EQ(pf_buf_nul(&b), 0);
    CHECK_STR((char *)b.data, "{\"enabled\":true,\"state\":\"on\",\"off\":[],\"off_when\":[],"
                              "\"metered\":false,\"on_battery\":false,\"budget\":null,"
                              "\"budget_used\":null,\"budget_left\":null,\"period\":null,"
                              "\"share\":null,\"uplink_bps\":null,\"cap_bps\":null,\"uploaded\":0}");
    pf_buf_reset(&b);
    u.enabled = 0;
    u.off = PF_UPLOAD_OFF_USER;
    u.budget = 100;
    u.budget_used = 40;
    u.budget_left = 60;
    CHECK_EQ(pf_media_metrics(&b, "x", &st, &u, NULL, f, 2), 0);
    CHECK(prom_well_formed(&b));
    CHECK(contains(&b, "# TYPE peerflow_upload_enabled gauge\npeerflow_upload_enabled 0\n"));
    CHECK(contains(&b, "peerflow_upload_off{reason=\"user\"} 1\npeerflow_upload_off{reason=\"metered\"} 0\n"));
    CHECK(contains(&b, "peerflow_upload_budget_left_bytes 60\n"));
    CHECK(contains(&b, "peerflow_upload_budget_used_bytes 40\n"));
    CHECK(contains(&b, "peerflow_upload_cap_bytes_per_second 0\n"));
    CHECK(!contains(&b, "peerflow_datagrams")); /* none given */
    pf_buf_reset(&b);
    u.budget = 0;
    CHECK_EQ(pf_media_metrics(&b, "x", &st, &u, NULL, f, 2), 0);
    CHECK(!contains(&b, "peerflow_upload_budget"));
    CHECK(contains(&b, "peerflow_upload_enabled 0\n"));
    /* The datagram counters: dropped and counted, in both documents. */
    pf_buf_reset(&b);
    CHECK_EQ(pf_media_metrics(&b, "x", &st, &u, &dg, f, 2), 0);
    CHECK(prom_well_formed(&b));
    CHECK(contains(&b, "# TYPE peerflow_datagrams_received_total counter\npeerflow_datagrams_received_total 1000\n"));
    CHECK(contains(&b, "# TYPE peerflow_datagrams_dropped_total counter\n"
                       "peerflow_datagrams_dropped_total{direction=\"in\"} 7\n"
                       "peerflow_datagrams_dropped_total{direction=\"out\"} 2\n"));
    CHECK(contains(&b, "# TYPE peerflow_utp_invalid_packets_total counter\npeerflow_utp_invalid_packets_total 3\n"));
    pf_buf_reset(&b);
    CHECK_EQ(pf_media_stats_json(&b, "T", &st, NULL, &dg, f, 2, NULL, 0), 0);
    CHECK(contains(&b, "\"utp_invalid\":3},\"files\":["));
    pf_buf_free(&b);
}

static int ctl(const char *body, pf_media_control *c)
{
    return pf_media_control_parse((const uint8_t *)body, strlen(body), c);
}

TEST(test_control_parse)
{
    pf_media_control c;
    CHECK_EQ(ctl("{\"upload\":\"off\"}", &c), 0);
    CHECK(c.upload == 0 && c.metered == -1);
    CHECK_EQ(ctl(" {\r\n \"upload\" : \"on\" ,\t\"metered\":false } \n", &c), 0);
    CHECK(c.upload == 1 && c.metered == 0);
    CHECK_EQ(ctl("{\"metered\":\"yes\",\"upload\":true}", &c), 0);
    CHECK(c.upload == 1 && c.metered == 1);
    CHECK_EQ(ctl("{\"upload\":false}", &c), 0);
    CHECK(c.upload == 0);
    static const char *bad[] = {
        "", "{}", "[]", "{\"upload\":\"off\"", "{\"upload\":\"off\"}x", "{\"upload\":\"off\"}{}",
        "{\"upload\":\"Off\"}", "{\"upload\":\"yes\"}", "{\"metered\":\"on\"}", "{\"upload\":1}",
        "{\"upload\":null}", "{\"upload\":\"off\",}", "{\"upload\":\"off\",\"upload\":\"on\"}",
        "{\"Upload\":\"off\"}", "{\"up\\u006coad\":\"off\"}", "{\"upload\":\"o\\u0066f\"}",
        "{\"upload\":{\"x\":1}}", "{\"upload\":\"off\",\"other\":1}", "{upload:\"off\"}",
        "{\"upload\":truex}", "{\"upload\" \"off\"}", "{\"upload\":\"of\nf\"}", "upload=off",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = ctl(bad[i], &c);
        if (rc != PF_ERR_PARSE) fprintf(stderr, "  accepted: %s\n", bad[i]);
        CHECK_EQ(rc, PF_ERR_PARSE);
    }
    static const uint8_t nul_tail[] = "{\"upload\":\"off\"}\0";
    CHECK_EQ(pf_media_control_parse(nul_tail, sizeof nul_tail - 1, &c), PF_ERR_PARSE);
    char big[PF_MEDIA_CONTROL_MAX + 2];
    memset(big, ' ', sizeof big);
    memcpy(big, "{\"upload\":\"on\"}", 15);
    CHECK_EQ(pf_media_control_parse((const uint8_t *)big, sizeof big, &c), PF_ERR_LIMIT);
    CHECK_EQ(pf_media_control_parse((const uint8_t *)big, PF_MEDIA_CONTROL_MAX, &c), 0);
}

/* --- the real server on 127.0.0.1 ---------------------------------------- */

#define MS_FILE_SIZE (12u << 20)
#define MS_HEADER_TIMEOUT_MS 600
#define MS_SEND_TIMEOUT_MS 800
#define MS_MAX_CONNS_TEST 8

static char ms_dir[256];
static uint8_t *ms_data;
static pf_client *ms_cli;
static pf_client_torrent *ms_tor;
static pf_media_server *ms_srv;
static uv_async_t ms_stop_async;
static pthread_t ms_thr;
static int ms_port;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void ms_on_stop(uv_async_t *a)
{
    pf_media_server_stop(ms_srv);
    pf_client_stop(ms_cli);
    uv_close((uv_handle_t *)a, NULL);
}

static void *ms_loop_main(void *arg)
{
    (void)arg;
    pf_client_run(ms_cli);
    return NULL;
}

static int write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* A 12 MiB file, its torrent, a client seeding it (no listener, no
 * tracker) and the media server with its default bind and short limits. */
/* --player-dir: <ms_dir>/player with a page, a script, a hidden file, a
 * directory with a served extension, and a link to a file outside. */
static const char ms_page[] = "<!doctype html><title>player</title>";
static int ms_player_setup(void)
{
    char p[600], q[600];
    snprintf(p, sizeof p, "%s/player", ms_dir);
    if (mkdir(p, 0700) != 0) return -1;
    snprintf(q, sizeof q, "%s/movie.mp4", ms_dir);
    if (pf_media_server_set_player_dir(ms_srv, "/nonexistent-pf-dir") != PF_ERR_INVAL ||
        pf_media_server_set_player_dir(ms_srv, q) != PF_ERR_INVAL || /* a file */
        pf_media_server_set_player_dir(ms_srv, "/") != PF_ERR_INVAL)
        return -1;
    snprintf(q, sizeof q, "%s/page.html", p);
    if (write_file(q, ms_page, sizeof ms_page - 1)) return -1;
    snprintf(q, sizeof q, "%s/app.js", p);
    if (write_file(q, "1;", 2)) return -1;
    snprintf(q, sizeof q, "%s/.hidden.js", p);
    if (write_file(q, "2;", 2)) return -1;
    snprintf(q, sizeof q, "%s/dir.js", p);
    if (mkdir(q, 0700) != 0) return -1;
    snprintf(q, sizeof q, "%s/secret.js", ms_dir);
    if (write_file(q, "3;", 2)) return -1;
    snprintf(q, sizeof q, "%s/out.js", p);
    if (symlink("../secret.js", q) != 0) return -1;
    /* a trailing slash and a "." in the directory's own path are fine */
    snprintf(q, sizeof q, "%s/./player/", ms_dir);
    return pf_media_server_set_player_dir(ms_srv, q);
}

static void ms_player_cleanup(void)
{
    static const char *names[] = {"player/page.html", "player/app.js", "player/.hidden.js",
                                  "player/out.js", "secret.js"};
    char p[600];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", ms_dir, names[i]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/player/dir.js", ms_dir);
    rmdir(p);
    snprintf(p, sizeof p, "%s/player", ms_dir);
    rmdir(p);
}

static int ms_start(void)
{
    signal(SIGPIPE, SIG_IGN);
    snprintf(ms_dir, sizeof ms_dir, "/tmp/pf-test-media-XXXXXX");
    if (!mkdtemp(ms_dir)) return -1;
    ms_data = malloc(MS_FILE_SIZE);
    if (!ms_data) return -1;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < MS_FILE_SIZE; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        ms_data[i] = (uint8_t)(x >> 56);
    }
    char path[512], tpath[512], err[256];
    snprintf(path, sizeof path, "%s/movie.mp4", ms_dir);
    snprintf(tpath, sizeof tpath, "%s/movie.torrent", ms_dir);
    if (write_file(path, ms_data, MS_FILE_SIZE)) return -1;
    pf_create_opts o;
    memset(&o, 0, sizeof o);
    o.path = path;
    o.piece_length = 256 * 1024;
    pf_buf tb;
    pf_buf_init(&tb);
    int rc = pf_torrent_create(&o, &tb, err, sizeof err);
    if (!rc) rc = write_file(tpath, tb.data, tb.len);
    pf_buf_free(&tb);
    if (rc) return -1;
    pf_client_settings st;
    pf_client_settings_default(&st);
    st.listen = 0;
    if (pf_client_new(&st, &ms_cli)) return -1;
    if (pf_client_add(ms_cli, tpath, ms_dir, 1, &ms_tor)) return -1;
    uv_loop_t *loop = pf_client_loop(ms_cli);
    if (pf_media_server_start(&ms_srv, loop, ms_tor, NULL, 0)) return -1; /* default bind */
    pf_media_server_limits lim;
    pf_media_server_limits_default(&lim);
    if (lim.header_timeout_ms != 10000 || lim.max_conns != 64) return -1;
    lim.header_timeout_ms = MS_HEADER_TIMEOUT_MS;
    lim.send_timeout_ms = MS_SEND_TIMEOUT_MS;
    lim.max_conns = MS_MAX_CONNS_TEST;
    pf_media_server_set_limits(ms_srv, &lim);
    if (ms_player_setup() != 0) return -1;
    ms_port = pf_media_server_port(ms_srv);
    uv_async_init(loop, &ms_stop_async, ms_on_stop);
    return pthread_create(&ms_thr, NULL, ms_loop_main, NULL);
}

static void ms_stop(void)
{
    uv_async_send(&ms_stop_async);
    pthread_join(ms_thr, NULL);
    pf_client_free(ms_cli);
    char path[512];
    snprintf(path, sizeof path, "%s/movie.mp4", ms_dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/movie.torrent", ms_dir);
    unlink(path);
    ms_player_cleanup();
    rmdir(ms_dir);
    free(ms_data);
}

static int dial_addr(uint32_t ip_be, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (rcvbuf) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)ms_port);
    sa.sin_addr.s_addr = ip_be;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int dial(void) { return dial_addr(htonl(INADDR_LOOPBACK), 0); }

static int send_all(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

typedef struct resp {
    int status;
    char head[4096];
    pf_buf body;
} resp;

/* One response with a Content-Length body (what the server sends). */
static int get_resp(int fd, resp *r, int is_head)
{
    memset(r->head, 0, sizeof r->head);
    pf_buf_init(&r->body);
    r->status = 0;
    size_t hl = 0;
    char *end = NULL;
    while (!end) {
        if (hl == sizeof r->head - 1) return -1;
        ssize_t n = recv(fd, r->head + hl, sizeof r->head - 1 - hl, MSG_PEEK);
        if (n <= 0) return -1;
        r->head[hl + (size_t)n] = 0;
        end = strstr(r->head, "\r\n\r\n");
        size_t take = end ? (size_t)(end + 4 - r->head) - hl : (size_t)n;
        if (recv(fd, r->head + hl, take, 0) != (ssize_t)take) return -1;
        hl += take;
        r->head[hl] = 0;
        end = strstr(r->head, "\r\n\r\n");
    }
    if (strncmp(r->head, "HTTP/1.1 ", 9) != 0) return -1;
    r->status = atoi(r->head + 9);
    const char *cl = strcasestr(r->head, "\r\nContent-Length: ");
    if (!cl || is_head) return 0;
    size_t want = (size_t)strtoull(cl + 18, NULL, 10);
    static uint8_t tmp[1 << 16];
    while (r->body.len < want) {
        size_t ask = want - r->body.len < sizeof tmp ? want - r->body.len : sizeof tmp;
        ssize_t n = recv(fd, tmp, ask, 0);
        if (n <= 0) return -1;
        pf_buf_append(&r->body, tmp, (size_t)n);
    }
    return 0;
}

/* 1 if the server closes fd (EOF or reset) within timeout_s. */
static int closed_within(int fd, double timeout_s)
{
    struct timeval tv = {(time_t)timeout_s, (suseconds_t)((timeout_s - (double)(time_t)timeout_s) * 1e6)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char b[4096];
    double t0 = now_s();
    for (;;) {
        ssize_t n = recv(fd, b, sizeof b, 0);
        if (n == 0) return 1;
        if (n < 0) return errno == ECONNRESET;
        if (now_s() - t0 > timeout_s) return 0;
    }
}

/* Sends raw, reads one response; *closed: the server closed afterwards. */
static int exchange(const void *raw, size_t n, int is_head, resp *r, int *closed)
{
    int fd = dial();
    if (fd < 0) return -1;
    int rc = send_all(fd, raw, n);
    if (!rc) rc = get_resp(fd, r, is_head);
    if (!rc && closed) *closed = closed_within(fd, 3);
    close(fd);
    return rc;
}

static int status_of(const char *raw, int is_head)
{
    resp r;
    if (exchange(raw, strlen(raw), is_head, &r, NULL)) return -1;
    pf_buf_free(&r.body);
    return r.status;
}

TEST(test_ms_binds_loopback)
{
    const char *base = pf_media_server_base_url(ms_srv);
    CHECK(strncmp(base, "http://127.0.0.1:", 17) == 0);
    /* The listener is on 127.0.0.1 only: getsockname of an accepted
     * connection says so, and a non-loopback address of this host (if
     * there is one) refuses the port. */
    int fd = dial();
    CHECK(fd >= 0);
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    CHECK_EQ(getpeername(fd, (struct sockaddr *)&sa, &sl), 0);
    CHECK_EQ(ntohl(sa.sin_addr.s_addr), INADDR_LOOPBACK);
    close(fd);
    struct ifaddrs *ifs = NULL, *i;
    int tried = 0;
    if (getifaddrs(&ifs) == 0) {
        for (i = ifs; i; i = i->ifa_next) {
            if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
            uint32_t ip = ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr;
            if ((ntohl(ip) >> 24) == 127) continue;
            int f2 = dial_addr(ip, 0);
            if (f2 >= 0) close(f2);
            CHECK(f2 < 0);
            tried++;
        }
        freeifaddrs(ifs);
    }
    fprintf(stderr, "  non-loopback addresses tried: %d\n", tried);
    /* DNS rebinding: a Host that is not loopback is refused */
    CHECK_EQ(status_of("HEAD /files/0/movie.mp4 HTTP/1.1\r\nHost: evil.example:80\r\n\r\n", 1),
             403);
    CHECK_EQ(status_of("HEAD /files/0/movie.mp4 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 1), 200);
}

TEST(test_ms_traversal)
{
    static const char *bad[] = {
        "/files/0/../../../../etc/passwd", "/files/0/%2e%2e/%2e%2e/etc/passwd",
        "/files/0/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", "/files/0/..%2f..%2fetc%2fpasswd",
        "/files/0/..%5c..%5cwindows", "/files/0/movie.mp4%00.txt", "/files/0/.",
        "/files/../stats.json", "//etc/passwd", "/files/0//etc/passwd", "/files/0/%zz",
        "/%2e%2e/%2e%2e/etc/passwd", "/files/0/..\\..\\x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char req[512];
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", bad[i]);
        int st = status_of(req, 0);
        if (st != 400) fprintf(stderr, "  %s: %d\n", bad[i], st);
        CHECK_EQ(st, 400);
    }
    /* absolute-form with traversal: still the path that is judged */
    CHECK_EQ(status_of("GET http://127.0.0.1/files/0/../../etc/passwd HTTP/1.1\r\n"
                       "Host: 127.0.0.1\r\n\r\n", 0), 400);
    /* a raw NUL or control byte in the target: the parser's 400 */
    static const char nul[] = "GET /files/0/a\0b HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    resp r;
    int closed = 0;
    CHECK_EQ(exchange(nul, sizeof nul - 1, 0, &r, &closed), 0);
    CHECK_EQ(r.status, 400);
    CHECK(closed);
    pf_buf_free(&r.body);
    /* the real names still work; the name part is decorative */
    CHECK_EQ(status_of("HEAD /files/0/movie.mp4 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 1), 200);
    CHECK_EQ(status_of("HEAD /files/0/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 1), 200);
    CHECK_EQ(status_of("HEAD /files/0/...? HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 1), 200);
    CHECK_EQ(status_of("HEAD /files/1/movie.mp4 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 1), 404);
    CHECK_EQ(status_of("HEAD /etc/passwd HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 1), 404);
}

/* GET /player/<name>: the page with its type and nosniff; nothing
 * hidden, no directory, no link out of the directory, no other type. */
TEST(test_ms_player)
{
    resp r;
    const char *get = "GET /player/page.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    CHECK_EQ(exchange(get, strlen(get), 0, &r, NULL), 0);
    CHECK_EQ(r.status, 200);
    CHECK(strcasestr(r.head, "\r\nContent-Type: text/html; charset=utf-8\r\n") != NULL);
    CHECK(strcasestr(r.head, "\r\nX-Content-Type-Options: nosniff\r\n") != NULL);
    CHECK_EQ(r.body.len, sizeof ms_page - 1);
    CHECK(r.body.len == sizeof ms_page - 1 && memcmp(r.body.data, ms_page, r.body.len) == 0);
    pf_buf_free(&r.body);
    get = "GET /player/app.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    CHECK_EQ(exchange(get, strlen(get), 0, &r, NULL), 0);
    CHECK_EQ(r.status, 200);
    CHECK(strcasestr(r.head, "\r\nContent-Type: text/javascript; charset=utf-8\r\n") != NULL);
    pf_buf_free(&r.body);
    CHECK_EQ(status_of("HEAD /player/app.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 1), 200);
    static const struct {
        const char *path;
        int status;
    } no[] = {
        {"/player/.hidden.js", 404}, {"/player/out.js", 404},   {"/player/dir.js", 404},
        {"/player/missing.js", 404}, {"/player/", 404},         {"/player/secret.js", 404},
        {"/player/player/app.js", 404}, {"/player/../secret.js", 400},
        {"/player/%2e%2e/secret.js", 400}, {"/player/..%2fsecret.js", 400},
        {"/player/%61pp.js", 404},   {"/player//etc/passwd", 400},
    };
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        char req[512];
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", no[i].path);
        int st = status_of(req, 0);
        if (st != no[i].status) fprintf(stderr, "  %s: %d\n", no[i].path, st);
        CHECK_EQ(st, no[i].status);
    }
    CHECK_EQ(status_of("POST /player/app.js HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Content-Length: 0\r\n\r\n", 0), 405);
}

static int post_control(const char *extra_headers, const char *body, resp *r)
{
    char req[4096];
    snprintf(req, sizeof req,
             "POST /control HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Length: %zu\r\n\r\n%s",
             extra_headers, strlen(body), body);
    return exchange(req, strlen(req), 0, r, NULL);
}

/* POST /control: uploads off and on at once, the answer is the state;
 * wrong method, a web page's request, another content type, a bad or an
 * oversized body are refused. */
TEST(test_ms_control)
{
    const char *json = "Content-Type: application/json\r\n";
    const char *get_stats = "GET /stats.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    const char *get_metrics = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    resp r;
    CHECK_EQ(post_control(json, "{\"upload\":\"off\"}", &r), 0);
    CHECK_EQ(r.status, 200);
    CHECK(strstr(r.head, "Content-Type: application/json"));
    CHECK(contains(&r.body, "{\"enabled\":false,\"state\":\"off\",\"off\":[\"user\"]"));
    pf_buf_free(&r.body);
    CHECK_EQ(exchange(get_stats, strlen(get_stats), 0, &r, NULL), 0);
    CHECK_EQ(r.status, 200);
    CHECK(contains(&r.body, "\"upload\":{\"enabled\":false,\"state\":\"off\",\"off\":[\"user\"]"));
    pf_buf_free(&r.body);
    CHECK_EQ(exchange(get_metrics, strlen(get_metrics), 0, &r, NULL), 0);
    CHECK(contains(&r.body, "peerflow_upload_enabled 0\n"));
    pf_buf_free(&r.body);
    CHECK_EQ(post_control("Content-Type: Application/JSON; charset=utf-8\r\n",
                          "{\"upload\":\"on\",\"metered\":true}", &r), 0);
    CHECK_EQ(r.status, 200);
    CHECK(contains(&r.body, "{\"enabled\":true,\"state\":\"on\",\"off\":[],\"off_when\":[],\"metered\":true"));
    pf_buf_free(&r.body);
    CHECK_EQ(post_control(json, "{\"metered\":false}", &r), 0);
    CHECK_EQ(r.status, 200);
    pf_buf_free(&r.body);
    CHECK_EQ(status_of("GET /control HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 0), 405);
    CHECK_EQ(post_control("Content-Type: application/json\r\nOrigin: http://evil.example\r\n",
                          "{\"upload\":\"on\"}", &r), 0);
    CHECK_EQ(r.status, 403);
    pf_buf_free(&r.body);
    CHECK_EQ(post_control("Content-Type: text/plain\r\n", "{\"upload\":\"on\"}", &r), 0);
    CHECK_EQ(r.status, 415);
    pf_buf_free(&r.body);
    CHECK_EQ(post_control("", "{\"upload\":\"on\"}", &r), 0);
    CHECK_EQ(r.status, 415);
    pf_buf_free(&r.body);
    CHECK_EQ(post_control(json, "upload=off", &r), 0);
    CHECK_EQ(r.status, 400);
    pf_buf_free(&r.body);
    CHECK_EQ(post_control(json, "{\"upload\":\"maybe\"}", &r), 0);
    CHECK_EQ(r.status, 400);
    pf_buf_free(&r.body);
    static char big[PF_MEDIA_CONTROL_MAX + 100];
    memset(big, ' ', sizeof big - 1);
    memcpy(big, "{\"upload\":\"off\"}", 16);
    CHECK_EQ(post_control(json, big, &r), 0);
    CHECK_EQ(r.status, 413);
    pf_buf_free(&r.body);
    /* None of the refused ones changed anything. */
    CHECK_EQ(exchange(get_stats, strlen(get_stats), 0, &r, NULL), 0);
    CHECK(contains(&r.body, "\"upload\":{\"enabled\":true,"));
    pf_buf_free(&r.body);
}

static int range_req(const char *range, int is_head, resp *r)
{
    char req[512];
    snprintf(req, sizeof req, "%s /files/0/movie.mp4 HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: %s\r\n\r\n",
             is_head ? "HEAD" : "GET", range);
    return exchange(req, strlen(req), is_head, r, NULL);
}

TEST(test_ms_ranges)
{
    resp r;
    char want[128];
    CHECK_EQ(range_req("bytes=100-199", 0, &r), 0);
    CHECK_EQ(r.status, 206);
    CHECK_EQ(r.body.len, 100);
    CHECK_MEM(r.body.data, ms_data + 100, 100);
    snprintf(want, sizeof want, "Content-Range: bytes 100-199/%u\r\n", MS_FILE_SIZE);
    CHECK(strstr(r.head, want));
    pf_buf_free(&r.body);
    CHECK_EQ(range_req("bytes=-10", 0, &r), 0);
    CHECK_EQ(r.status, 206);
    CHECK_EQ(r.body.len, 10);
    CHECK_MEM(r.body.data, ms_data + MS_FILE_SIZE - 10, 10);
    pf_buf_free(&r.body);
    /* unsatisfiable however large the number: 416 with bytes * /size */
    static const char *unsat[] = {"bytes=18446744073709551615-", "bytes=18446744073709551616-",
                                  "bytes=99999999999999999999-99999999999999999999",
                                  "bytes=12582912-", "bytes=-0"};
    snprintf(want, sizeof want, "Content-Range: bytes */%u\r\n", MS_FILE_SIZE);
    for (size_t i = 0; i < sizeof unsat / sizeof unsat[0]; i++) {
        CHECK_EQ(range_req(unsat[i], 0, &r), 0);
        CHECK_EQ(r.status, 416);
        CHECK(strstr(r.head, want));
        CHECK_EQ(r.body.len, 0);
        pf_buf_free(&r.body);
    }
    /* ignored (whole file, 200): several, negative, junk, invalid huge */
    static const char *ign[] = {"bytes=0-1,5-6", "bytes=-5-9", "bytes=--1", "bytes=5-1",
                                "bytes=99999999999999999999-99999999999999999998",
                                "bytes=0x10-", "lines=1-2", "bytes=0-0,0-0,0-0,0-0,0-0,0-0"};
    snprintf(want, sizeof want, "Content-Length: %u\r\n", MS_FILE_SIZE);
    for (size_t i = 0; i < sizeof ign / sizeof ign[0]; i++) {
        CHECK_EQ(range_req(ign[i], 1, &r), 0);
        if (r.status != 200) fprintf(stderr, "  %s: %d\n", ign[i], r.status);
        CHECK_EQ(r.status, 200);
        CHECK(strstr(r.head, want));
        pf_buf_free(&r.body);
    }
}

TEST(test_ms_oversized)
{
    pf_buf b;
    pf_buf_init(&b);
    resp r;
    int closed = 0;
    /* a 9 KiB header: 431 and closed */
    pf_buf_append_str(&b, "GET /files/0/movie.mp4 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ");
    for (int i = 0; i < 9 * 1024; i++) pf_buf_append_u8(&b, 'a');
    pf_buf_append_str(&b, "\r\n\r\n");
    CHECK_EQ(exchange(b.data, b.len, 0, &r, &closed), 0);
    CHECK_EQ(r.status, 431);
    CHECK(strstr(r.head, "Connection: close"));
    CHECK(closed);
    pf_buf_free(&r.body);
    /* a 9 KiB request line: 414 and closed */
    pf_buf_reset(&b);
    pf_buf_append_str(&b, "GET /files/0/");
    for (int i = 0; i < 9 * 1024; i++) pf_buf_append_u8(&b, 'a');
    pf_buf_append_str(&b, " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    CHECK_EQ(exchange(b.data, b.len, 0, &r, &closed), 0);
    CHECK_EQ(r.status, 414);
    CHECK(closed);
    pf_buf_free(&r.body);
    /* 100 small headers: 431 */
    pf_buf_reset(&b);
    pf_buf_append_str(&b, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (int i = 0; i < 100; i++) pf_buf_appendf(&b, "X-%d: y\r\n", i);
    pf_buf_append_str(&b, "\r\n");
    CHECK_EQ(exchange(b.data, b.len, 0, &r, &closed), 0);
    CHECK_EQ(r.status, 431);
    CHECK(closed);
    pf_buf_free(&r.body);
    /* a body on a GET (max_body 0): 413 */
    CHECK_EQ(status_of("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nhello", 0), 413);
    pf_buf_free(&b);
}

/* The normal client: a whole-file GET read in 64 KiB steps with pauses,
 * so it is in flight while the hostile ones run. */
typedef struct normal_job {
    pthread_t thr;
    double pause_s;
    int ok;
    double took;
} normal_job;

static void *normal_main(void *arg)
{
    normal_job *j = arg;
    double t0 = now_s();
    int fd = dial();
    if (fd < 0) return NULL;
    static const char req[] = "GET /files/0/movie.mp4 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    resp r;
    memset(&r, 0, sizeof r);
    pf_buf_init(&r.body);
    if (send_all(fd, req, sizeof req - 1) == 0) {
        /* read the head, then the body slowly */
        char h[4096];
        size_t hl = 0;
        while (hl < sizeof h - 1) {
            if (recv(fd, h + hl, 1, 0) != 1) break;
            hl++;
            h[hl] = 0;
            if (hl >= 4 && memcmp(h + hl - 4, "\r\n\r\n", 4) == 0) break;
        }
        static uint8_t tmp[65536];
        while (r.body.len < MS_FILE_SIZE) {
            ssize_t n = recv(fd, tmp, sizeof tmp, 0);
            if (n <= 0) break;
            pf_buf_append(&r.body, tmp, (size_t)n);
            if (j->pause_s > 0) usleep((useconds_t)(j->pause_s * 1e6));
        }
        j->ok = strncmp(h, "HTTP/1.1 200", 12) == 0 && r.body.len == MS_FILE_SIZE &&
                memcmp(r.body.data, ms_data, MS_FILE_SIZE) == 0;
    }
    pf_buf_free(&r.body);
    close(fd);
    j->took = now_s() - t0;
    return NULL;
}

TEST(test_ms_slow_clients)
{
    normal_job nj;
    memset(&nj, 0, sizeof nj);
    nj.pause_s = 0.01; /* ~6 MB/s: about 2 s for the file */
    CHECK_EQ(pthread_create(&nj.thr, NULL, normal_main, &nj), 0);

    /* A client that never reads its response: tiny receive buffer, a GET
     * of the whole file, then silence.  The server must close it about
     * send_timeout after its queue stopped moving. */
    int nr = dial_addr(htonl(INADDR_LOOPBACK), 4096);
    CHECK(nr >= 0);
    static const char get[] = "GET /files/0/movie.mp4 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    CHECK_EQ(send_all(nr, get, sizeof get - 1), 0);

    /* Slowloris: a request line, then one header byte every 100 ms. */
    int sl = dial();
    CHECK(sl >= 0);
    double t0 = now_s();
    CHECK_EQ(send_all(sl, "GET /files/0/movie.mp4 HTTP/1.1\r\n", 33), 0);
    const char *trickle = "Host: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    double t_slow = -1;
    for (const char *p = trickle; *p && now_s() - t0 < 3; p++) {
        char c;
        if (recv(sl, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 1) { /* the server answered */
            t_slow = now_s() - t0;
            break;
        }
        if (send(sl, p, 1, MSG_NOSIGNAL) != 1) break;
        usleep(100000);
    }
    resp r;
    CHECK_EQ(get_resp(sl, &r, 0), 0);
    if (t_slow < 0) t_slow = now_s() - t0;
    CHECK_EQ(r.status, 408);
    CHECK(closed_within(sl, 2));
    pf_buf_free(&r.body);
    close(sl);
    fprintf(stderr, "  slowloris answered 408 after %.2f s (header timeout %.1f s)\n", t_slow,
            MS_HEADER_TIMEOUT_MS / 1000.0);
    CHECK(t_slow >= MS_HEADER_TIMEOUT_MS / 1000.0 - 0.05 && t_slow < 2.5);

    /* The non-reader: by now well past the send timeout.  It gets part of
     * the file, then the connection ends. */
    usleep(1500 * 1000);
    size_t got = 0;
    static uint8_t tmp[65536];
    struct timeval tv = {5, 0};
    setsockopt(nr, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int ended = 0;
    for (;;) {
        ssize_t n = recv(nr, tmp, sizeof tmp, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET)) {
            ended = 1;
            break;
        }
        if (n < 0) break;
        got += (size_t)n;
    }
    close(nr);
    fprintf(stderr, "  non-reader got %zu of %u bytes, then %s\n", got, MS_FILE_SIZE,
            ended ? "the connection ended" : "a time-out");
    CHECK(ended);
    CHECK(got < MS_FILE_SIZE);

    pthread_join(nj.thr, NULL);
    fprintf(stderr, "  normal client: whole file in %.2f s, %s\n", nj.took,
            nj.ok ? "byte-exact" : "WRONG");
    CHECK(nj.ok);
}

TEST(test_ms_conn_cap)
{
    /* The cap is full of idle connections: a new client still gets served
     * (the oldest idle one is closed for it). */
    int idle[MS_MAX_CONNS_TEST];
    for (int i = 0; i < MS_MAX_CONNS_TEST; i++) {
        idle[i] = dial();
        CHECK(idle[i] >= 0);
        usleep(20000);
    }
    CHECK_EQ(status_of("HEAD /files/0/movie.mp4 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 1), 200);
    CHECK(closed_within(idle[0], 2));
    for (int i = 0; i < MS_MAX_CONNS_TEST; i++) close(idle[i]);
    usleep(100000);

    /* The cap is full of responses in progress (non-readers): a new
     * connection is not closed: it waits (unread) until one of them
     * makes room (unread for the send timeout, or for a second at the
     * cap), then it is served. */
    int busy[MS_MAX_CONNS_TEST];
    static const char get[] = "GET /files/0/movie.mp4 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    for (int i = 0; i < MS_MAX_CONNS_TEST; i++) {
        busy[i] = dial_addr(htonl(INADDR_LOOPBACK), 4096);
        CHECK(busy[i] >= 0);
        CHECK_EQ(send_all(busy[i], get, sizeof get - 1), 0);
    }
    usleep(200000);
    int extra = dial();
    CHECK(extra >= 0);
    double t0 = now_s();
    static const char head[] = "HEAD /files/0/movie.mp4 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    CHECK_EQ(send_all(extra, head, sizeof head - 1), 0);
    resp r;
    CHECK_EQ(get_resp(extra, &r, 1), 0);
    CHECK_EQ(r.status, 200);
    double waited = now_s() - t0;
    fprintf(stderr, "  a newcomer at the cap of non-readers was served after %.2f s\n", waited);
    CHECK(waited > 0.3 && waited < 3);
    close(extra);
    pf_media_server_stats ms_st;
    pf_media_server_stats_get(ms_srv, &ms_st); /* (a racy read of counters: only grows) */
    CHECK(ms_st.waited >= 1);
    CHECK(ms_st.evicted + ms_st.timeouts + ms_st.stalled_closed >= 1);
    for (int i = 0; i < MS_MAX_CONNS_TEST; i++) close(busy[i]);
    /* and a whole file still comes out right */
    normal_job nj;
    memset(&nj, 0, sizeof nj);
    normal_main(&nj);
    CHECK(nj.ok);
}

/* The limits struct grows by appending: a caller built with an older,
 * shorter one gets only its own bytes written, and the rest defaults. */
TEST(test_limits_init)
{
    pf_media_server_limits l;
    pf_media_server_limits_default(&l);
    CHECK_EQ(l.size, sizeof l);
    CHECK_EQ(l.max_conns, 64);
    CHECK_EQ(l.max_stalled_per_client, 8);
    CHECK_EQ(l.max_conns_per_client, 16);
    CHECK_EQ(l.stall_evict_ms, 1000);
    CHECK_EQ(l.send_timeout_ms, UINT32_MAX);
    unsigned char buf[sizeof l + 8];
    memset(buf, 0xab, sizeof buf);
    size_t old = offsetof(pf_media_server_limits, max_conns_per_client);
    pf_media_server_limits_init((pf_media_server_limits *)buf, old);
    CHECK_EQ(buf[old], 0xab);
    CHECK_EQ(((pf_media_server_limits *)buf)->size, old);
}

TEST(test_server)
{
    if (ms_start() != 0) {
        fprintf(stderr, "cannot start the media server\n");
        pf_test_failures++;
        return;
    }
    struct {
        const char *name;
        void (*fn)(void);
    } t[] = {{"binds_loopback", test_ms_binds_loopback},
             {"traversal", test_ms_traversal},
             {"ranges", test_ms_ranges},
             {"oversized", test_ms_oversized},
             {"slow_clients", test_ms_slow_clients},
             {"conn_cap", test_ms_conn_cap},
             {"control", test_ms_control},
             {"player", test_ms_player}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int before = pf_test_failures;
        t[i].fn();
        fprintf(stderr, "%s %s\n", pf_test_failures == before ? "ok" : "FAIL", t[i].name);
    }
    ms_stop();
}

TEST_MAIN(test_routes, test_player_name, test_content_types, test_range_plan, test_hosts, test_file_url, test_m3u,
          test_html_escapes, test_json_str, test_stats_json, test_prom_label, test_metrics,
          test_upload_state, test_control_parse,
          test_path_safe, test_range_plan_hostile, test_limits_init, test_server)

