/* The simulator (src/sim, docs/SIM.md): scenario files are checked line by
 * line, and a run is a function of its scenario and seed, byte for byte
 * of its output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"
#include "sim/sim_result.h" /* the viewers' plan, for the churn, curve and ISP checks */
#include "test.h"

static int parse(const char *text, pf_sim_scenario *sc, char *err, size_t errlen)
{
    pf_sim_scenario_default(sc);
    err[0] = 0;
    return pf_sim_scenario_parse(text, strlen(text), "t.sim", sc, err, errlen);
}

TEST(scenario_parses)
{
    pf_sim_scenario sc;
    char err[256];
    const char *text = "# a comment\n"
                       "name flash\n"
                       "seed 42\n"
                       "viewers 1000   # trailing comment\n"
                       "\n"
                       "arrival uniform 10m\n"
                       "watch 600\n"
                       "title bitrate 2.5M duration 600 piece 256k\n"
                       "link 70% up 1M down 20M latency 20ms\n"
                       "link 30% up 10M down 100M\n"
                       "cdn capacity 1G latency 3ms\n"
                       "tracker interval 30 numwant 40\n"
                       "player startup 2 rebuffer 1 buffer 20\n"
                       "engine max_peers 30 upload_slots 4 memory_limit 16M\n"
                       "end 1200\n"
                       "departed silent\n"
                       "payload real\n";
    CHECK_EQ(parse(text, &sc, err, sizeof err), 0);
    CHECK_STR(sc.name, "flash");
    CHECK_EQ(sc.seed, 42);
    CHECK_EQ(sc.viewers, 1000);
    CHECK_EQ(sc.arrival, PF_SIM_ARRIVAL_UNIFORM);
    CHECK(sc.arrival_s == 600);
    CHECK(sc.watch_s == 600);
    CHECK(sc.bitrate == 2500000);
    CHECK_EQ(sc.piece_len, 262144);
    CHECK_EQ(sc.ncls, 2);
    CHECK(sc.cls[0].share == 0.7);
    CHECK_EQ(sc.cls[0].up_Bps, 125000);
    CHECK_EQ(sc.cls[0].down_Bps, 2500000);
    CHECK_EQ(sc.cls[0].latency_ns, 20000000);
    CHECK_EQ(sc.cls[1].latency_ns, 10000000); /* the default */
    CHECK_EQ(sc.cdn_Bps, 125000000);
    CHECK_EQ(sc.cdn_latency_ns, 3000000);
    CHECK_EQ(sc.tracker_interval_s, 30);
    CHECK_EQ(sc.numwant, 40);
    CHECK(sc.startup_s == 2 && sc.rebuffer_s == 1 && sc.buffer_s == 20);
    CHECK_EQ(sc.max_peers, 30);
    CHECK_EQ(sc.upload_slots, 4);
    CHECK_EQ(sc.memory_limit, 16 << 20);
    CHECK(sc.end_s == 1200);
    CHECK_EQ(sc.departed_silent, 1);
    CHECK_EQ(sc.payload_real, 1);
    CHECK_EQ(parse("arrival burst\n", &sc, err, sizeof err), 0);
    CHECK(sc.arrival_s == 0);
    /* churn, a prime-time curve, ISPs */
    CHECK_EQ(parse("watch 60 30%\nwatch 10m\nwatch 5 10%\narrival curve 0=1 30m=10 1h=2\n"
                   "isp 60%\nisp 40% local_share 1\nlocality none\n",
                   &sc, err, sizeof err),
             0);
    CHECK_EQ(sc.nwatch, 2);
    CHECK(sc.watch[0].share == 0.3 && sc.watch[0].s == 60);
    CHECK(sc.watch[1].share == 0.1 && sc.watch[1].s == 5);
    CHECK(sc.watch_s == 600);
    CHECK_EQ(sc.arrival, PF_SIM_ARRIVAL_CURVE);
    CHECK_EQ(sc.ncurve, 3);
    CHECK(sc.curve_t[1] == 1800 && sc.curve_rate[1] == 10 && sc.arrival_s == 3600);
    CHECK_EQ(sc.nisp, 2);
    CHECK(sc.isp[0].share == 0.6 && sc.isp[0].local_share < 0);
    CHECK(sc.isp[1].share == 0.4 && sc.isp[1].local_share == 1);
    CHECK_EQ(sc.locality_none, 1);
    CHECK_EQ(sc.titles, 1);
    CHECK_EQ(parse("catalogue 1000 zipf 0.8\n", &sc, err, sizeof err), 0);
    CHECK_EQ(sc.titles, 1000);
    CHECK(sc.zipf_s == 0.8);
    CHECK_EQ(parse("catalogue 50\n", &sc, err, sizeof err), 0);
    CHECK(sc.titles == 50 && sc.zipf_s == 1.0);
    /* a lab run's arrivals, over two lines; the count follows them */
    CHECK_EQ(parse("arrival uniform 60\narrival at 0 2.5 1500ms\narrival at 7\n", &sc, err, sizeof err), 0);
    CHECK_EQ(sc.arrival, PF_SIM_ARRIVAL_AT);
    CHECK_EQ(sc.nat, 4);
    CHECK_EQ(sc.viewers, 4);
    CHECK(sc.at_s[1] == 2.5 && sc.at_s[2] == 1.5 && sc.at_s[3] == 7 && sc.arrival_s == 7);
    CHECK_EQ(parse("viewers 2\narrival at 1 0\n", &sc, err, sizeof err), 0);
    CHECK_EQ(sc.viewers, 2);
}

/* Each bad scenario fails with an error naming its file and line. */
TEST(scenario_errors_name_the_line)
{
    static const struct {
        const char *text;
        const char *expect; /* a substring of the error */
    } bad[] = {
        {"viewers 10\nfrobnicate 3\n", "t.sim:2: unknown keyword 'frobnicate'"},
        {"viewers 0\n", "t.sim:1: viewers: bad count '0'"},
        {"viewers 1.5\n", "t.sim:1: viewers: bad count"},
        {"viewers\n", "t.sim:1: viewers: expects one value"},
        {"\n\nlink up fast down 8M\n", "t.sim:3: link up: bad rate 'fast'"},
        {"link up 1M\n", "t.sim:1: link: both 'up' and 'down' are needed"},
        {"link 50% up 1M down 8M\nlink 40% up 2M down 8M\n", "t.sim:1: link: the shares"},
        {"link 120% up 1M down 8M\n", "t.sim:1: link: bad share '120%'"},
        {"link up 1M down 8M latency 20 parsecs\n", "t.sim:1: link: expects KEY VALUE pairs"},
        {"link up 1M down 8M latency 20parsecs\n", "t.sim:1: link latency: bad time '20parsecs'"},
        {"title piece 100000\n", "t.sim:1: title piece: bad size '100000'"},
        {"title bitrate 2.5M colour blue\n", "t.sim:1: title: unknown key 'colour'"},
        {"title duration -5\n", "t.sim:1: title duration: bad time '-5'"},
        {"arrival sometimes 60\n", "t.sim:1: arrival: expects"},
        {"departed politely\n", "t.sim:1: departed: expects 'refuse' or 'silent'"},
        {"payload fake\n", "t.sim:1: payload: expects 'elided' or 'real'"},
        {"cdn capacity 0\n", "t.sim:1: cdn capacity: bad rate '0'"},
        {"seed -1\n", "t.sim:1: seed: bad number '-1'"},
        {"player startup 40\n", "t.sim: player: startup and rebuffer must not exceed buffer"},
        {"title bitrate 8k duration 10 piece 256k\n", "t.sim: title: 10000 bytes, less than one piece"},
        {"name a\"b\n", "t.sim:1: name: only letters"},
        {"viewers 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n", "t.sim:1: more than 16 words"},
        {"viewers 10\x01\n", "t.sim:1: control character"},
        {"watch 60 half\n", "t.sim:1: watch: bad share 'half'"},
        {"watch 60 30% 2\n", "t.sim:1: watch: expects TIME [SHARE%]"},
        {"watch 0.5 30%\n", "t.sim:1: watch: at least 1 s"},
        {"name a\nwatch 60 70%\nwatch 30 40%\n", "t.sim:2: watch: the shares of the 2 watch lines add up to 110%"},
        {"arrival curve 0=1\n", "t.sim:1: arrival curve: expects at least two points"},
        {"arrival curve 0=1 10m\n", "t.sim:1: arrival curve: bad point '10m'"},
        {"arrival curve 5=1 10m=2\n", "t.sim:1: arrival curve: the first point is at time 0"},
        {"\narrival curve 0=1 10m=2 5m=3\n", "t.sim:2: arrival curve: the times must increase ('5m'"},
        {"arrival curve 0=1 10m=lots\n", "t.sim:1: arrival curve: bad rate 'lots'"},
        {"arrival curve 0=0 10m=0\n", "t.sim:1: arrival curve: the rate is 0 everywhere"},
        {"arrival curve 0=1 1e9=2\n", "t.sim:1: arrival curve: bad time '1e9'"},
        {"isp 60\n", "t.sim:1: isp: bad share '60'"},
        {"isp 60% local_share 2\n", "t.sim:1: isp local_share: bad value '2'"},
        {"isp 60% nearby 1\n", "t.sim:1: isp: unknown key 'nearby'"},
        {"viewers 5\nisp 60%\nisp 30%\n", "t.sim:2: isp: the shares of the 2 isp lines add up to 90%"},
        {"locality map\n", "t.sim:1: locality: no isp lines"},
        {"isp 100%\nlocality nearby\n", "t.sim:2: locality: expects 'map' or 'none'"},
        {"viewers 5\ncatalogue 0\n", "t.sim:2: catalogue: bad count '0'"},
        {"catalogue 10 zipf -1\n", "t.sim:1: catalogue zipf: bad exponent '-1'"},
        {"catalogue 10 zpif 1\n", "t.sim:1: catalogue: expects TITLES [zipf S]"},
        {"arrival at\n", "t.sim:1: arrival at: expects one or more times"},
        {"player delay soon\n", "t.sim:1: player delay: bad time 'soon'"},
        {"player probe lots\n", "t.sim:1: player probe: bad size 'lots'"},
        {"arrival at 0 soon\n", "t.sim:1: arrival at: bad time 'soon'"},
        {"\nviewers 3\narrival at 0 1\n", "t.sim:2: viewers: 3, but 'arrival at' gives 2 times"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pf_sim_scenario sc;
        char err[256];
        int rc = parse(bad[i].text, &sc, err, sizeof err);
        if (rc != -1 || !strstr(err, bad[i].expect)) {
            fprintf(stderr, "case %zu: rc %d, error \"%s\", expected \"%s\"\n", i, rc, err, bad[i].expect);
            CHECK(0);
        }
    }
}

/* A small run: 8 viewers, 20 s of a 1 Mbit/s title. */
static const char *SMALL = "name unit\n"
                           "viewers 8\n"
                           "arrival uniform 6\n"
                           "watch 16\n"
                           "title bitrate 1M duration 20 piece 64k\n"
                           "link 50% up 1M down 8M latency 10ms\n"
                           "link 50% up 2M down 20M latency 30ms\n"
                           "cdn capacity 50M\n"
                           "player startup 2 rebuffer 1 buffer 10\n";

/* The deterministic output of a run (JSON, text and CSV), malloc'd. */
static char *run_output_of(const char *text, uint64_t seed, pf_sim_result **keep)
{
    pf_sim_scenario sc;
    char err[256];
    if (parse(text, &sc, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return NULL;
    }
    sc.seed = seed;
    pf_sim_result *r = NULL;
    if (pf_sim_run(&sc, NULL, NULL, &r, err, sizeof err)) {
        fprintf(stderr, "run: %s\n", err);
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f) {
        pf_sim_result_json(r, f);
        pf_sim_result_text(r, f);
        pf_sim_result_viewers_csv(r, f);
        fclose(f);
    }
    if (keep)
        *keep = r;
    else
        pf_sim_result_free(r);
    return buf;
}

static char *run_output(uint64_t seed, pf_sim_result **keep)
{
    return run_output_of(SMALL, seed, keep);
}

static double json_num(const char *json, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\": ", key);
    const char *p = strstr(json, k);
    return p ? strtod(p + strlen(k), NULL) : -1;
}

TEST(same_seed_same_output)
{
    char *a = run_output(5, NULL), *b = run_output(5, NULL), *c = run_output(6, NULL);
    CHECK(a && b && c);
    if (strcmp(a, b) != 0) fprintf(stderr, "--- first run\n%s\n--- second run\n%s\n", a, b);
    CHECK_STR(a, b);
    CHECK(strcmp(a, c) != 0);
    /* and the run is sane */
    CHECK(json_num(a, "viewers_arrived") == 8);
    CHECK(json_num(a, "started") == 8);
    CHECK(json_num(a, "cdn_bytes") >= json_num(a, "title_bytes") * 0.5);
    CHECK(json_num(a, "cdn_bytes") + json_num(a, "peer_bytes") > 0);
    CHECK(json_num(a, "hash_failures") == 0);
    CHECK(json_num(a, "events") > 1000);
    free(a);
    free(b);
    free(c);
}

static pf_sim_result *run_text(const char *text, char **json)
{
    pf_sim_scenario sc;
    char err[256];
    *json = NULL;
    if (parse(text, &sc, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return NULL;
    }
    pf_sim_result *r = NULL;
    if (pf_sim_run(&sc, NULL, NULL, &r, err, sizeof err)) {
        fprintf(stderr, "run: %s\n", err);
        return NULL;
    }
    size_t len = 0;
    FILE *f = open_memstream(json, &len);
    if (f) {
        pf_sim_result_json(r, f);
        fclose(f);
    }
    return r;
}

/* The link model in numbers: a lone viewer gets everything from the CDN,
 * and its start-up (2 s of a 1 Mbit/s title: 250 kB) takes what its
 * 8 Mbit/s downlink needs for that (0.25 s) plus the round trips of the
 * announce, the GET and the first bytes, not much more. */
TEST(lone_viewer_timing)
{
    char *js = NULL;
    pf_sim_result *r = run_text("viewers 1\narrival burst\nwatch 20\n"
                                "title bitrate 1M duration 20 piece 64k\n"
                                "link up 1M down 8M latency 10ms\ncdn capacity 1G latency 5ms\n"
                                "player startup 2 rebuffer 1 buffer 10\n",
                                &js);
    CHECK(r && js);
    double su = json_num(js, "startup_p50_s");
    if (su < 0.25 || su > 0.45) fprintf(stderr, "start-up %.3f s\n", su);
    CHECK(su >= 0.25 && su <= 0.45);
    CHECK(json_num(js, "peer_bytes") == 0);
    CHECK(json_num(js, "cdn_bytes") >= json_num(js, "novel_bytes"));
    CHECK(json_num(js, "cdn_bytes") >= 2500000 * 0.9); /* 20 s watched of 2.5 MB */
    CHECK(json_num(js, "stalls") == 0);
    free(js);
    pf_sim_result_free(r);
}

/* `player delay`: the stream opens that long after the viewer arrived
 * (the lab's player starts after its client), and start-up counts from
 * the open; a viewer gone before its player came never started. */
TEST(player_delay)
{
    char *js = NULL;
    pf_sim_result *r = run_text("arrival at 0 3\nwatch 20\nwatch 1 50%\n"
                                "title bitrate 1M duration 20 piece 64k\n"
                                "link up 1M down 8M latency 10ms\ncdn capacity 1G latency 5ms\n"
                                "player startup 2 rebuffer 1 buffer 10 delay 1.5\n",
                                &js);
    CHECK(r && js);
    uint32_t opened = 0;
    for (uint32_t i = 0; r && i < r->w.n; i++) {
        const sim_node *nd = &r->w.nodes[i];
        if (nd->depart_at - nd->arrive_at < 1500000000ULL) { /* left at 1 s */
            CHECK(!nd->pl.open && !nd->pl.started);
            continue;
        }
        opened++;
        CHECK_EQ(nd->pl.opened_at, nd->arrive_at + 1500000000ULL);
        double su = (double)(nd->pl.started_at - nd->pl.opened_at) / 1e9;
        if (su < 0.25 || su > 0.45) fprintf(stderr, "start-up %.3f s\n", su);
        CHECK(su >= 0.25 && su <= 0.45);
    }
    CHECK_EQ(json_num(js, "started") + json_num(js, "not_started"), 2);
    CHECK_EQ(json_num(js, "started"), opened);
    CHECK(opened == 1); /* seed 1: one of the two stays */
    free(js);
    pf_sim_result_free(r);
    pf_sim_scenario sc;
    char err[256];
    CHECK_EQ(parse("player delay 100ms\n", &sc, err, sizeof err), 0);
    CHECK(sc.player_delay_s == 0.1);
}

/* `player probe`: the engine is told the bitrate once the player has read
 * the container's header, not at open; until then it plans the start-up
 * for the probe's prefix (512 KiB), and the viewer still starts. */
TEST(player_probe)
{
    pf_sim_scenario sc;
    char err[256];
    CHECK_EQ(parse("player probe 100k\n", &sc, err, sizeof err), 0);
    CHECK_EQ(sc.player_probe, 102400);
    char *js = NULL;
    pf_sim_result *r = run_text("viewers 3\narrival fixed 6\nwatch 16\n"
                                "title bitrate 1M duration 20 piece 64k\n"
                                "link up 1M down 8M latency 10ms\ncdn capacity 1G latency 5ms\n"
                                "player startup 2 rebuffer 1 buffer 10 probe 100k\n",
                                &js);
    CHECK(r && js);
    CHECK(json_num(js, "started") == 3);
    CHECK(json_num(js, "stalls") == 0);
    for (uint32_t i = 0; r && i < r->w.n; i++) CHECK(r->w.nodes[i].pl.told);
    /* the first viewer is alone: its start-up is the CDN's, as without the probe */
    double su = r ? (double)(r->w.nodes[0].pl.started_at - r->w.nodes[0].pl.opened_at) / 1e9 : 0;
    if (su < 0.25 || su > 0.5) fprintf(stderr, "start-up %.3f s\n", su);
    CHECK(su >= 0.25 && su <= 0.5);
    free(js);
    pf_sim_result_free(r);
}

/* Two viewers 10 s apart: the second takes part of the stream from the
 * first, and the first uploads what the second takes. */
TEST(second_viewer_uses_the_first)
{
    char *js = NULL;
    pf_sim_result *r = run_text("viewers 2\narrival fixed 20\nwatch 40\n"
                                "title bitrate 1M duration 30 piece 64k\n"
                                "link up 4M down 8M latency 10ms\ncdn capacity 1G\n"
                                "player startup 2 rebuffer 1 buffer 10\n",
                                &js);
    CHECK(r && js);
    CHECK(json_num(js, "started") == 2);
    CHECK(json_num(js, "peer_bytes") > 500000);
    CHECK(json_num(js, "upload_per_viewer_max_bytes") >= json_num(js, "peer_bytes") * 0.9);
    CHECK(json_num(js, "offload") > 0.1);
    CHECK(json_num(js, "stalls") == 0);
    free(js);
    pf_sim_result_free(r);
}

/* The JSON summary without the engines' heap (what elision changes). */
static char *json_without_heap(const char *text)
{
    char *json = NULL;
    pf_sim_result *r = run_text(text, &json);
    pf_sim_result_free(r);
    if (!json) return NULL;
    char *o = json;
    for (const char *line = json; *line;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) + 1 : strlen(line);
        if (!memmem(line, n, "heap", 4) && !memmem(line, n, "\"from\"", 6)) {
            memmove(o, line, n);
            o += n;
        }
        line += n;
    }
    *o = 0;
    return json;
}

/* Payload elision (pf_payload_hooks) changes what the engines hold, not
 * what they do: the same run with real bytes (stored, copied, hashed)
 * gives the same summary, byte for byte, but for the heap, and holds
 * several times more. */
TEST(elided_payload_same_run)
{
    size_t n = strlen(SMALL);
    char *real_sc = malloc(n + 32);
    CHECK(real_sc != NULL);
    memcpy(real_sc, SMALL, n);
    strcpy(real_sc + n, "payload real\n");
    char *el = json_without_heap(SMALL), *re = json_without_heap(real_sc);
    CHECK(el && re);
    if (strcmp(el, re) != 0) fprintf(stderr, "--- elided\n%s\n--- real\n%s\n", el, re);
    CHECK_STR(el, re);
    CHECK(json_num(el, "started") == 8);
    char *je = NULL, *jr = NULL;
    pf_sim_result *a = run_text(SMALL, &je), *b = run_text(real_sc, &jr);
    CHECK(a && b && je && jr);
    CHECK(json_num(je, "engine_heap_per_viewer_bytes") * 3 < json_num(jr, "engine_heap_per_viewer_bytes"));
    pf_sim_result_free(a);
    pf_sim_result_free(b);
    free(je);
    free(jr);
    free(el);
    free(re);
    free(real_sc);
}

/* Churn, a prime-time curve and ISPs are drawn from the seed like the
 * rest: the plan of 2,000 viewers (a run stopped at once) follows the
 * shares and the curve. */
TEST(churn_curve_isp_plan)
{
    pf_sim_result *r = NULL;
    char *out = run_output_of("viewers 2000\nend 1ms\ntitle bitrate 1M duration 20 piece 64k\n"
                              "arrival curve 0=0 10=10 20=0 40=0\nwatch 100\nwatch 5 30%\nwatch 50 20%\n"
                              "isp 75%\nisp 25%\n",
                              3, &r);
    CHECK(out && r);
    uint32_t n5 = 0, n50 = 0, n100 = 0, mid = 0, late = 0, isp1 = 0;
    for (uint32_t i = 0; i < r->w.n; i++) {
        const sim_node *nd = &r->w.nodes[i];
        double a = (double)nd->arrive_at / 1e9, d = (double)(nd->depart_at - nd->arrive_at) / 1e9;
        n5 += d == 5;
        n50 += d == 50;
        n100 += d == 100;
        mid += a >= 5 && a < 15; /* 75% of the triangle's area */
        late += a >= 20;          /* the rate is 0 there */
        isp1 += nd->isp == 1;
        CHECK(r->w.isp_nodes[nd->isp][nd->isp_idx] == i);
        uint8_t ip[4];
        sim_node_addr(&r->w, i, ip);
        CHECK(sim_addr_node(&r->w, ip) == i);
        CHECK(ip[0] == 10 && ip[1] >> 4 == nd->isp);
    }
    CHECK_EQ(n5 + n50 + n100, 2000);
    CHECK(n5 > 520 && n5 < 680);
    CHECK(n50 > 330 && n50 < 470);
    CHECK(mid > 1420 && mid < 1580);
    CHECK_EQ(late, 0);
    CHECK(isp1 > 420 && isp1 < 580);
    free(out);
    pf_sim_result_free(r);
}

/* `arrival at`: the viewers arrive at the times given (sorted), none drawn. */
TEST(arrival_at_plan)
{
    pf_sim_result *r = NULL;
    char *out = run_output_of("end 1ms\ntitle bitrate 1M duration 20 piece 64k\narrival at 3 0 1.25\narrival at 40\n",
                              3, &r);
    CHECK(out && r);
    CHECK_EQ(r->w.n, 4);
    static const uint64_t want[] = {0, 1250000000ULL, 3000000000ULL, 40000000000ULL};
    for (uint32_t i = 0; i < 4 && i < r->w.n; i++) CHECK_EQ(r->w.nodes[i].arrive_at, want[i]);
    free(out);
    pf_sim_result_free(r);
    /* --viewers cannot change an audience given by its times */
    pf_sim_scenario sc;
    char err[256];
    CHECK_EQ(parse("arrival at 0 1\n", &sc, err, sizeof err), 0);
    sc.viewers = 3;
    CHECK_EQ(pf_sim_run(&sc, NULL, NULL, &r, err, sizeof err), -1);
    CHECK(strstr(err, "3 viewers, but 'arrival at' gives 2 times") != NULL);
}

/* A run with churn, a curve and two ISPs is deterministic too, and counts
 * the bytes between ISPs. */
TEST(churn_curve_isp_same_seed_same_output)
{
    static const char *text = "name isp\nviewers 10\narrival curve 0=0 3=10 6=0\nwatch 16\nwatch 4 40%\n"
                              "title bitrate 1M duration 20 piece 64k\nlink up 2M down 8M\ncdn capacity 50M\n"
                              "player startup 2 rebuffer 1 buffer 10\nisp 50%\nisp 50% local_share 1\n";
    char *a = run_output_of(text, 5, NULL), *b = run_output_of(text, 5, NULL), *c = run_output_of(text, 6, NULL);
    CHECK(a && b && c);
    if (strcmp(a, b) != 0) fprintf(stderr, "--- first run\n%s\n--- second run\n%s\n", a, b);
    CHECK_STR(a, b);
    CHECK(strcmp(a, c) != 0);
    CHECK(json_num(a, "viewers_arrived") == 10);
    CHECK(json_num(a, "isps") == 2);
    CHECK(json_num(a, "inter_isp_link_bytes") > 0);
    CHECK(json_num(a, "inter_isp_link_bytes") < json_num(a, "peer_link_bytes"));
    CHECK(json_num(a, "inter_isp_peer_bytes") <= json_num(a, "peer_bytes"));
    free(a);
    free(b);
    free(c);
}

/* A catalogue: viewers pick titles by Zipf popularity, each title its own
 * swarm (a lone viewer of a title has nobody to share with), and the run
 * is deterministic. */
TEST(catalogue_zipf)
{
    pf_sim_result *r = NULL;
    char *out = run_output_of("viewers 2000\nend 1ms\ntitle bitrate 1M duration 20 piece 64k\ncatalogue 100 zipf 1\n",
                              3, &r);
    CHECK(out && r);
    uint32_t first = 0, top10 = 0;
    for (uint32_t i = 0; i < r->w.n; i++) {
        first += r->w.nodes[i].title == 0;
        top10 += r->w.nodes[i].title < 10;
        CHECK(r->w.nodes[i].title < 100);
    }
    /* 1/H(100) = 19.3% for the first title, H(10)/H(100) = 56.5% for the top ten */
    CHECK(first > 330 && first < 450);
    CHECK(top10 > 1060 && top10 < 1200);
    free(out);
    pf_sim_result_free(r);
    static const char *text = "viewers 12\narrival uniform 6\nwatch 16\ncatalogue 4 zipf 1\n"
                              "title bitrate 1M duration 20 piece 64k\nlink up 2M down 8M\ncdn capacity 50M\n"
                              "player startup 2 rebuffer 1 buffer 10\n";
    char *a = run_output_of(text, 5, NULL), *b = run_output_of(text, 5, NULL);
    CHECK(a && b);
    CHECK_STR(a, b);
    CHECK(json_num(a, "started") == 12);
    CHECK(json_num(a, "titles") == 4);
    CHECK(json_num(a, "titles_watched") >= 2);
    CHECK(json_num(a, "peer_bytes") > 0);
    CHECK(json_num(a, "hash_failures") == 0);
    free(a);
    free(b);
}

/* Announces answered by the real tracker core (core/tracker), as the
 * engine's GET reaches it: the peers are other viewers (their addresses
 * and port), never the announcer; with the ISPs' locality map the
 * tracker lists the announcer's ISP first (45 of 50: a tenth kept for
 * the other ISP), without it about as many from each. */
static void announce_url(char *url, size_t cap, uint32_t node, uint32_t numwant)
{
    size_t n = (size_t)snprintf(url, cap, "%s?info_hash=", SIM_TRACKER_URL);
    for (int i = 0; i < 20; i++) n += (size_t)snprintf(url + n, cap - n, "%%%02X", 0xA0 + i);
    n += (size_t)snprintf(url + n, cap - n, "&peer_id=");
    for (int i = 0; i < 20; i++) n += (size_t)snprintf(url + n, cap - n, "%%%02X", (node * 7 + (uint32_t)i) & 0xff);
    snprintf(url + n, cap - n, "&port=%d&uploaded=0&downloaded=0&left=1000&compact=1&numwant=%u", SIM_PORT, numwant);
}

/* The viewers in body's compact "peers" (into out, at most max); -1 if
 * one is not a viewer at SIM_PORT. */
static int answer_peers(const sim *w, const pf_buf *body, uint32_t *out, int max)
{
    const char *b = (const char *)body->data, *p = NULL;
    for (size_t i = 0; i + 7 <= body->len && !p; i++)
        if (memcmp(b + i, "5:peers", 7) == 0 && i + 7 < body->len && b[i + 7] >= '0' && b[i + 7] <= '9') p = b + i + 7;
    if (!p) return -1;
    char *e;
    long len = strtol(p, &e, 10);
    if (*e != ':' || len % 6 || len / 6 > max) return -1;
    const uint8_t *q = (const uint8_t *)e + 1;
    for (long k = 0; k < len / 6; k++, q += 6) {
        if ((q[4] << 8 | q[5]) != SIM_PORT) return -1;
        out[k] = sim_addr_node(w, q);
        if (out[k] == UINT32_MAX) return -1;
    }
    return (int)(len / 6);
}

static void tracker_locality(const char *text, int *same_out, int *total_out)
{
    pf_sim_result *r = NULL;
    char *out = run_output_of(text, 3, &r);
    CHECK(out && r);
    *same_out = *total_out = 0;
    if (!r) return;
    sim *w = &r->w;
    char url[512];
    uint32_t peers[64];
    for (uint32_t i = 0; i < w->n; i++) { /* everybody joins */
        w->now = 1000000000ULL + i * 1000000ULL;
        announce_url(url, sizeof url, i, 5);
        pf_buf body;
        pf_buf_init(&body);
        CHECK_EQ(sim_tracker_ask(w, i, url, &body), 200);
        int n = answer_peers(w, &body, peers, 64);
        CHECK(n >= 0 && n <= 5 && (uint32_t)n == (i < 5 ? i : 5)); /* those before it */
        for (int k = 0; k < n; k++) CHECK(peers[k] != i && peers[k] < i);
        pf_buf_free(&body);
    }
    for (uint32_t i = 0; i < 20; i++) { /* and asks again */
        w->now = 2000000000ULL + i * 1000000ULL;
        announce_url(url, sizeof url, i, 50);
        pf_buf body;
        pf_buf_init(&body);
        CHECK_EQ(sim_tracker_ask(w, i, url, &body), 200);
        int n = answer_peers(w, &body, peers, 64);
        CHECK_EQ(n, 50);
        for (int k = 0; k < n; k++) {
            CHECK(peers[k] != i);
            *same_out += w->nodes[peers[k]].isp == w->nodes[i].isp;
        }
        *total_out += n > 0 ? n : 0;
        pf_buf_free(&body);
    }
    sim_tracker_free(w);
    free(out);
    pf_sim_result_free(r);
}

TEST(tracker_core_answers)
{
    static const char *base = "viewers 400\nend 1ms\ntitle bitrate 1M duration 20 piece 64k\nisp 50%\nisp 50%\n";
    char text[256];
    int same = 0, total = 0;
    tracker_locality(base, &same, &total);
    CHECK_EQ(total, 20 * 50);
    if (same != 20 * 45) fprintf(stderr, "locality map: %d of %d peers in the announcer's ISP\n", same, total);
    CHECK_EQ(same, 20 * 45);
    snprintf(text, sizeof text, "%slocality none\n", base);
    tracker_locality(text, &same, &total);
    CHECK_EQ(total, 20 * 50);
    if (same < 350 || same > 650) fprintf(stderr, "no map: %d of %d peers in the announcer's ISP\n", same, total);
    CHECK(same >= 350 && same <= 650);
}

TEST_MAIN(scenario_parses, scenario_errors_name_the_line, same_seed_same_output, lone_viewer_timing,
          second_viewer_uses_the_first, elided_payload_same_run, churn_curve_isp_plan,
          churn_curve_isp_same_seed_same_output, catalogue_zipf, arrival_at_plan, player_delay, player_probe,
          tracker_core_answers)
