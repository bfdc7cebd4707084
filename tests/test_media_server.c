/* The media server's sans-I/O helpers (core/media_http.c): routes, content
 * types, Range decisions, and the playlist / JSON / Prometheus bodies. */
#include <math.h>

#include "core/media_http.h"
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
    src[0].is_cdn = 1;
    src[0].downloaded = 1000;
    memset(src[1].name, 'a', sizeof src[1].name); /* not NUL-terminated */
    pf_buf b;
    pf_buf_init(&b);
    CHECK_EQ(pf_media_stats_json(&b, "T\"1", &st, f, 2, src, 2), 0);
    CHECK(contains(&b, "{\"name\":\"T\\\"1\",\"state\":\"downloading\""));
    CHECK(contains(&b, "\"uploaded\":7,\"downloaded\":4000"));
    CHECK(contains(&b, "\"cdn_downloaded\":1000,\"peer_downloaded\":3000"));
    CHECK(contains(&b, "\"cdn_share\":0.2500"));
    CHECK(contains(&b, "\"complete\":false"));
    CHECK(contains(&b, "\"files\":[{\"index\":1,\"path\":\"Movie/Movie.mkv\""));
    CHECK(!contains(&b, "readme")); /* not read: no entry */
    CHECK(contains(&b, "\"ttfb_s\":0.500,\"time_to_playable_s\":null,\"stalls\":3"));
    CHECK(contains(&b, "\"buffer_s\":null"));
    CHECK(contains(&b, "\"bytes_served\":42"));
    CHECK(contains(&b, "\"sources\":[{\"name\":\"cdn:http://cdn/x\",\"cdn\":true,\"downloaded\":1000"));
    CHECK_EQ(count(&b, "\"cdn\":"), 2);
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
    CHECK_EQ(pf_media_metrics(&b, "My \"show\"\n", &st, f, 4), 0);
    CHECK(prom_well_formed(&b));
    CHECK(contains(&b, "peerflow_info{torrent=\"My \\\"show\\\"\\n\",version=\""));
    CHECK(contains(&b, "# TYPE peerflow_downloaded_bytes_total counter\n"));
    CHECK(contains(&b, "peerflow_downloaded_bytes_total{source=\"cdn\"} 1000\n"));
    CHECK(contains(&b, "peerflow_downloaded_bytes_total{source=\"peer\"} 3000\n"));
    CHECK(contains(&b, "peerflow_uploaded_bytes_total 7\n"));
    CHECK(contains(&b, "peerflow_hash_failures_total 2\n"));
    CHECK(contains(&b, "# TYPE peerflow_peers gauge\npeerflow_peers 5\n"));
    CHECK(contains(&b, "peerflow_download_rate_bytes 1234.5\n"));
    CHECK(!contains(&b, "file=\"")); /* nothing read yet */

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
    CHECK_EQ(pf_media_metrics(&b, "x", &st, f, 4), 0);
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

TEST_MAIN(test_routes, test_content_types, test_range_plan, test_hosts, test_file_url, test_m3u,
          test_html_escapes, test_json_str, test_stats_json, test_prom_label, test_metrics)
