/* net/budget.c: the upload share estimator (fake time), the budget file
 * (format, strict parsing, reservations under a lock across processes,
 * periods, corruption), the battery from a fake power_supply tree, and
 * the client's budget and switches through the public API. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/swarm/swarm.h" /* white-box: the engine's switch */
#include "net/budget.h"
#include "net/client_internal.h"
#include "test.h"

#define SEC PF_NS_PER_SEC

static char tmpdir[256];

static const char *tmp_path(const char *name)
{
    static char p[8][512];
    static int k;
    char *out = p[k++ % 8];
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/pf-test-budget.XXXXXX");
        if (!mkdtemp(tmpdir)) abort();
    }
    snprintf(out, 512, "%s/%s", tmpdir, name);
    return out;
}

static int write_file(const char *path, const char *body)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(body, f);
    return fclose(f);
}

/* --- the share --- */

/* A link of `cap` bytes/s, peers asking for `demand`: a second of
 * uploads under the engine's cap (0: none). */
static uint64_t link_second(uint64_t demand, uint64_t link, uint64_t engine_cap)
{
    uint64_t r = demand < link ? demand : link;
    return engine_cap && engine_cap < r ? engine_cap : r;
}

TEST(share_caps_at_half_the_measured_uplink)
{
    pf__share sh;
    pf__share_init(&sh, 0.5);
    uint64_t now = 1000 * SEC, up = 0, cap = 0;
    const uint64_t link = 2000000;
    /* Warm-up: no cap while the uplink is measured. */
    for (int i = 0; i < 7; i++) { /* a sample from the fifth on, 3 of them */
        up += link_second(10000000, link, cap);
        now += SEC;
        cap = pf__share_update(&sh, now, up);
        if (i < 6) CHECK_EQ(cap, 0);
    }
    CHECK_EQ(sh.uplink, link);
    CHECK_EQ(cap, link / 2);
    /* Held at half: the samples under the cap do not pull the estimate
     * down, for as long as it binds (no spiral). */
    uint64_t probe_s = 0, capped_s = 0;
    for (int i = 0; i < 600; i++) {
        up += link_second(10000000, link, cap);
        now += SEC;
        cap = pf__share_update(&sh, now, up);
        if (cap == 0) {
            probe_s++;
        } else {
            capped_s++;
            CHECK(cap == link / 2);
        }
    }
    CHECK(sh.uplink >= link * 0.99 && sh.uplink <= link * 1.01);
    /* Probes: 6 s every 180 s while the cap binds. */
    CHECK(sh.probes >= 3 && sh.probes <= 4);
    CHECK(probe_s <= 4 * PF__SHARE_PROBE_S);
    CHECK(capped_s >= 600 - 4 * PF__SHARE_PROBE_S);
    /* The link gets faster: the next probe finds it. */
    const uint64_t fast = 6000000;
    for (int i = 0; i < 200; i++) {
        up += link_second(10000000, fast, cap);
        now += SEC;
        cap = pf__share_update(&sh, now, up);
    }
    CHECK(sh.uplink >= fast * 0.9);
    for (int i = 0; i < 3; i++) {
        up += link_second(10000000, fast, cap);
        now += SEC;
        cap = pf__share_update(&sh, now, up);
    }
    CHECK(cap >= fast / 2 * 0.9 && cap <= fast / 2 * 1.02);
    /* It gets slower: within the window the estimate follows it. */
    const uint64_t slow = 400000;
    for (int i = 0; i < PF__SHARE_WINDOW_S + 2 * PF__SHARE_BUCKET_S; i++) {
        up += link_second(10000000, slow, cap);
        now += SEC;
        cap = pf__share_update(&sh, now, up);
    }
    CHECK(sh.uplink >= slow * 0.95 && sh.uplink <= slow * 1.05);
    CHECK(cap == 0 || (cap >= slow / 2 * 0.95 && cap <= slow / 2 * 1.05));
}

/* A one-second burst (a rate cap's full bucket at the start) is not the
 * uplink: what was kept up for 4 s is. */
TEST(share_ignores_a_burst)
{
    pf__share sh;
    pf__share_init(&sh, 0.5);
    uint64_t now = 10 * SEC, up = 0, cap = 0;
    for (int i = 0; i < 12; i++) {
        up += (i == 0 ? 2000000 : 0) + link_second(10000000, 2000000, cap);
        now += SEC;
        cap = pf__share_update(&sh, now, up);
    }
    CHECK(sh.uplink >= 1990000 && sh.uplink <= 2010000);
    CHECK(cap >= 995000 && cap <= 1005000);
}

/* Uploads that ramp up over several seconds (TCP's start, peers joining,
 * a loaded machine): the cap waits until the rate stops growing. */
TEST(share_waits_for_the_ramp)
{
    pf__share sh;
    pf__share_init(&sh, 0.5);
    static const uint64_t ramp[] = {300000, 600000, 900000, 1200000, 1500000, 1800000, 2000000};
    uint64_t now = 10 * SEC, up = 0, cap = 0;
    for (int i = 0; i < 30; i++) {
        uint64_t link = i < 7 ? ramp[i] : 2000000;
        up += link_second(10000000, link, cap);
        now += SEC;
        cap = pf__share_update(&sh, now, up);
        if (i < 9) CHECK_EQ(cap, 0); /* 4 s samples still rising */
    }
    CHECK(sh.uplink >= 1990000 && sh.uplink <= 2010000);
    CHECK(cap >= 995000 && cap <= 1005000);
}

/* Few peers asking at first: the uplink seen is what they took; once more
 * ask and the cap binds, a probe measures the real link. */
TEST(share_probe_finds_an_underestimate)
{
    pf__share sh;
    pf__share_init(&sh, 0.25);
    uint64_t now = 50 * SEC, up = 0, cap = 0;
    for (int i = 0; i < 20; i++) {
        up += link_second(300000, 4000000, cap);
        now += SEC;
        cap = pf__share_update(&sh, now, up);
    }
    CHECK(sh.uplink < 310000);
    CHECK(cap < 80000);
    for (int i = 0; i < 220; i++) {
        up += link_second(10000000, 4000000, cap);
        now += SEC;
        cap = pf__share_update(&sh, now, up);
    }
    CHECK(sh.probes >= 1);
    CHECK(sh.uplink >= 4000000 * 0.9);
    CHECK(cap == 0 || cap >= 900000);
    pf__share sh0;
    pf__share_init(&sh0, 0);
    CHECK_EQ(pf__share_update(&sh0, now, up), 0);
}

/* --- the file --- */

TEST(budget_file_format_and_parse)
{
    char buf[PF__BUDGET_FILE_MAX], period[PF__PERIOD_MAX + 1];
    uint64_t used = 0;
    int n = pf__budget_file_format(buf, sizeof buf, "2031-01", 123456789);
    CHECK(n > 0);
    CHECK_EQ(pf__budget_file_parse((const uint8_t *)buf, (size_t)n, period, &used), 0);
    CHECK_STR(period, "2031-01");
    CHECK_EQ(used, 123456789);
    n = pf__budget_file_format(buf, sizeof buf, "cycle:15.a_b-c", UINT64_MAX);
    CHECK(n > 0);
    CHECK_EQ(pf__budget_file_parse((const uint8_t *)buf, (size_t)n, period, &used), 0);
    CHECK(used == UINT64_MAX);
    CHECK(pf__budget_file_format(buf, sizeof buf, "bad period", 1) < 0);
    CHECK(pf__budget_file_format(buf, sizeof buf, "", 1) < 0);
    CHECK(pf__budget_file_format(buf, sizeof buf, "0123456789abcdef", 1) < 0); /* 16 bytes */
    static const char *bad[] = {
        "",
        "peerflow-upload-budget 2\nperiod 2031-01\nused 1\n",
        "peerflow-upload-budget 1\nperiod 2031-01\nused 1",      /* no newline */
        "peerflow-upload-budget 1\nperiod 2031-01\nused 1\nx\n", /* trailing */
        "peerflow-upload-budget 1\nperiod 2031/01\nused 1\n",
        "peerflow-upload-budget 1\nperiod \nused 1\n",
        "peerflow-upload-budget 1\nperiod 2031-01\nused \n",
        "peerflow-upload-budget 1\nperiod 2031-01\nused -1\n",
        "peerflow-upload-budget 1\nperiod 2031-01\nused 01\n",
        "peerflow-upload-budget 1\nperiod 2031-01\nused 18446744073709551616\n",
        "peerflow-upload-budget 1\nused 1\nperiod 2031-01\n",
        "peerflow-upload-budget 1\nperiod  2031-01\nused 1\n",
        "peerflow-upload-budget 1\r\nperiod 2031-01\nused 1\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ(pf__budget_file_parse((const uint8_t *)bad[i], strlen(bad[i]), period, &used),
                 PF_ERR_PARSE);
    char big[PF__BUDGET_FILE_MAX + 2];
    memset(big, 'a', sizeof big);
    CHECK_EQ(pf__budget_file_parse((const uint8_t *)big, sizeof big, period, &used), PF_ERR_PARSE);
}

TEST(budget_file_reserve_return_period_corrupt)
{
    const char *p = tmp_path("b1");
    uint64_t g, total;
    int corrupt;
    const uint64_t B = 1000000;
    CHECK_EQ(pf__budget_file_add(p, "2031-01", 300000, B, &g, &total, &corrupt), 0);
    CHECK_EQ(g, 300000);
    CHECK_EQ(total, 300000);
    CHECK_EQ(pf__budget_file_add(p, "2031-01", 300000, B, &g, &total, &corrupt), 0);
    CHECK_EQ(total, 600000);
    /* Only what is left of the budget. */
    CHECK_EQ(pf__budget_file_add(p, "2031-01", 500000, B, &g, &total, &corrupt), 0);
    CHECK_EQ(g, 400000);
    CHECK_EQ(total, B);
    CHECK_EQ(pf__budget_file_add(p, "2031-01", 1, B, &g, &total, &corrupt), 0);
    CHECK_EQ(g, 0);
    /* Given back at a stop. */
    CHECK_EQ(pf__budget_file_add(p, "2031-01", -250000, B, &g, &total, &corrupt), 0);
    CHECK_EQ(total, 750000);
    CHECK_EQ(pf__budget_file_add(p, "2031-01", -(int64_t)2 * B, B, &g, &total, &corrupt), 0);
    CHECK_EQ(total, 0);
    CHECK_EQ(pf__budget_file_add(p, "2031-01", 700000, B, &g, &total, &corrupt), 0);
    /* A read does not change it. */
    CHECK_EQ(pf__budget_file_add(p, "2031-01", 0, B, &g, &total, &corrupt), 0);
    CHECK_EQ(total, 700000);
    /* A new period starts from 0. */
    CHECK_EQ(pf__budget_file_add(p, "2031-02", 100, B, &g, &total, &corrupt), 0);
    CHECK_EQ(total, 100);
    CHECK_EQ(corrupt, 0);
    /* A corrupt file counts as the whole budget spent (never more than
     * the budget), and is rewritten well-formed. */
    CHECK_EQ(write_file(p, "peerflow-upload-budget 1\nperiod 2031-02\nused 12x\n"), 0);
    CHECK_EQ(pf__budget_file_add(p, "2031-02", 100, B, &g, &total, &corrupt), 0);
    CHECK_EQ(corrupt, 1);
    CHECK_EQ(g, 0);
    CHECK_EQ(total, B);
    CHECK_EQ(pf__budget_file_add(p, "2031-02", 100, B, &g, &total, &corrupt), 0);
    CHECK_EQ(corrupt, 0);
    CHECK_EQ(pf__budget_file_add(p, "2031-03", 100, B, &g, &total, &corrupt), 0);
    CHECK_EQ(g, 100);
    /* An unwritable place is an error. */
    CHECK_EQ(pf__budget_file_add("/nonexistent-dir/x", "2031-03", 100, B, &g, &total, &corrupt),
             PF_ERR_IO);
}

/* Four processes reserving at once: the lock makes every reservation
 * count, and together they never pass the budget. */
TEST(budget_file_shared_by_processes)
{
    const char *p = tmp_path("b2");
    const uint64_t B = 150000;
    pid_t kids[4];
    for (int k = 0; k < 4; k++) {
        kids[k] = fork();
        CHECK(kids[k] >= 0);
        if (kids[k] == 0) {
            uint64_t mine = 0, g, total;
            int corrupt;
            for (int i = 0; i < 100; i++) {
                if (pf__budget_file_add(p, "2031-05", 1000, B, &g, &total, &corrupt) != 0) _exit(2);
                mine += g;
            }
            _exit(mine / 1000 <= 100 ? (int)(mine / 1000) : 255);
        }
    }
    uint64_t sum = 0;
    for (int k = 0; k < 4; k++) {
        int st = 0;
        CHECK(waitpid(kids[k], &st, 0) == kids[k]);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) <= 100);
        sum += (uint64_t)WEXITSTATUS(st) * 1000;
    }
    uint64_t g, total;
    int corrupt;
    CHECK_EQ(pf__budget_file_add(p, "2031-05", 0, B, &g, &total, &corrupt), 0);
    CHECK_EQ(sum, B);
    CHECK_EQ(total, B);
}

/* --- the calendar month --- */

/* The month of t in zone tz (a POSIX TZ string: no tz database needed). */
static void month_in(const char *tz, time_t t, char out[PF__PERIOD_MAX + 1])
{
    setenv("TZ", tz, 1);
    tzset(); /* glibc's localtime_r does not look at TZ again by itself */
    pf__budget_month(t, out);
}

/* The period is the month on the viewer's wall clock: one second before
 * local midnight of the 1st it is the old month, at midnight the new
 * one, whatever month UTC is in, and with the offset of daylight saving
 * time when it is in force. */
TEST(budget_month_local_time)
{
    static const struct {
        const char *tz;
        time_t at; /* local midnight on the 1st, as UTC seconds */
        const char *before, *after;
    } cases[] = {
        /* December to January east of UTC: UTC is still in December. */
        {"JST-9", 1735657200, "2024-12", "2025-01"},       /* 2024-12-31 15:00 UTC */
        /* ...and west of UTC: UTC is already in January. */
        {"PST8PDT,M3.2.0,M11.1.0", 1735718400, "2024-12", "2025-01"}, /* 2025-01-01 08:00 UTC */
        /* March to April in central Europe on the day summer time began
         * (2024-03-31 01:00 UTC): midnight is 22:00 UTC, not 23:00. */
        {"CET-1CEST,M3.5.0,M10.5.0/3", 1711922400, "2024-03", "2024-04"},
        /* October to November in New York two days before summer time
         * ends: midnight is 04:00 UTC, not 05:00. */
        {"EST5EDT,M3.2.0,M11.1.0", 1730433600, "2024-10", "2024-11"},
    };
    const char *old = getenv("TZ");
    char saved[256] = "";
    if (old) snprintf(saved, sizeof saved, "%s", old);
    char m[PF__PERIOD_MAX + 1];
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        month_in(cases[i].tz, cases[i].at - 1, m);
        if (strcmp(m, cases[i].before) != 0) bad++, fprintf(stderr, "%s: %s before\n", cases[i].tz, m);
        month_in(cases[i].tz, cases[i].at, m);
        if (strcmp(m, cases[i].after) != 0) bad++, fprintf(stderr, "%s: %s after\n", cases[i].tz, m);
    }
    /* The clocks going forward (01:00 UTC) is no month change. */
    month_in("CET-1CEST,M3.5.0,M10.5.0/3", 1711846800 - 1, m);
    if (strcmp(m, "2024-03") != 0) bad++;
    month_in("CET-1CEST,M3.5.0,M10.5.0/3", 1711846800, m);
    if (strcmp(m, "2024-03") != 0) bad++;
    if (old) setenv("TZ", saved, 1);
    else unsetenv("TZ");
    tzset();
    CHECK_EQ(bad, 0);
}

TEST(power_supply_battery)
{
    const char *root = tmp_path("ps");
    char d[600];
    CHECK_EQ(pf__power_on_battery(root), 0); /* no such folder: not on battery */
    CHECK_EQ(mkdir(root, 0755), 0);
    snprintf(d, sizeof d, "%s/AC", root);
    CHECK_EQ(mkdir(d, 0755), 0);
    snprintf(d, sizeof d, "%s/AC/type", root);
    CHECK_EQ(write_file(d, "Mains\n"), 0);
    snprintf(d, sizeof d, "%s/hidpp_battery_0", root);
    CHECK_EQ(mkdir(d, 0755), 0);
    snprintf(d, sizeof d, "%s/hidpp_battery_0/type", root);
    CHECK_EQ(write_file(d, "Battery\n"), 0);
    snprintf(d, sizeof d, "%s/hidpp_battery_0/scope", root);
    CHECK_EQ(write_file(d, "Device\n"), 0);
    snprintf(d, sizeof d, "%s/hidpp_battery_0/status", root);
    CHECK_EQ(write_file(d, "Discharging\n"), 0);
    CHECK_EQ(pf__power_on_battery(root), 0); /* a mouse's battery */
    snprintf(d, sizeof d, "%s/BAT0", root);
    CHECK_EQ(mkdir(d, 0755), 0);
    snprintf(d, sizeof d, "%s/BAT0/type", root);
    CHECK_EQ(write_file(d, "Battery\n"), 0);
    snprintf(d, sizeof d, "%s/BAT0/status", root);
    CHECK_EQ(write_file(d, "Charging\n"), 0);
    CHECK_EQ(pf__power_on_battery(root), 0);
    CHECK_EQ(write_file(d, "Discharging\n"), 0);
    CHECK_EQ(pf__power_on_battery(root), 1);
    CHECK_EQ(write_file(d, "Full\n"), 0);
    CHECK_EQ(pf__power_on_battery(root), 0);
}

/* --- the client --- */

static pf_client *client_with_budget(const char *file, uint64_t budget, const char *period,
                                     uint32_t off_when, const char *metered_file, int *rc)
{
    pf_client_settings s;
    pf_client_settings_default(&s);
    s.listen = 0;
    s.upload_budget = budget;
    s.upload_budget_file = file;
    s.upload_budget_period = period;
    s.upload_off_when = off_when;
    s.metered_file = metered_file;
    pf_client *c = NULL;
    *rc = pf_client_new(&s, &c);
    return c;
}

/* The budget through restarts: a clean stop gives back what was not
 * spent, a crash (no stop) keeps the reservation counted (at most one
 * chunk lost), a new period starts from 0. */
TEST(client_budget_across_restarts)
{
    const char *f = tmp_path("client-budget");
    const uint64_t B = 2u * 1024 * 1024;
    int rc;
    pf_client *c = client_with_budget(f, B, "2031-01", 0, NULL, &rc);
    CHECK_EQ(rc, 0);
    pf_upload_status st;
    pf_client_upload_status(c, &st);
    CHECK_EQ(st.budget, B);
    CHECK_EQ(st.budget_used, 0);
    CHECK_EQ(st.budget_left, B);
    CHECK_STR(st.period, "2031-01");
    CHECK(st.enabled);
    /* The first chunk is reserved (written) before any upload. */
    CHECK_EQ(pf_session_upload_budget(c->s), c->up.b.chunk);
    uint64_t g, total;
    int corrupt;
    CHECK_EQ(pf__budget_file_add(f, "2031-01", 0, B, &g, &total, &corrupt), 0);
    CHECK_EQ(total, c->up.b.chunk);
    /* Spend 100000 (as the engine would), then a clean stop. */
    pf_session_set_upload_budget(c->s, pf_session_upload_budget(c->s) - 100000);
    pf_client_upload_status(c, &st);
    CHECK_EQ(st.budget_used, 100000);
    pf_client_stop(c);
    pf_client_run(c);
    pf_client_free(c);
    CHECK_EQ(pf__budget_file_add(f, "2031-01", 0, B, &g, &total, &corrupt), 0);
    CHECK_EQ(total, 100000);
    /* Restart in the same period: used is kept.  Then a crash. */
    c = client_with_budget(f, B, "2031-01", 0, NULL, &rc);
    CHECK_EQ(rc, 0);
    pf_client_upload_status(c, &st);
    CHECK_EQ(st.budget_used, 100000);
    uint64_t chunk = c->up.b.chunk;
    pf_session_set_upload_budget(c->s, pf_session_upload_budget(c->s) - 5000);
    pf_client_free(c); /* no stop: as a kill -9 */
    CHECK_EQ(pf__budget_file_add(f, "2031-01", 0, B, &g, &total, &corrupt), 0);
    CHECK_EQ(total, 100000 + chunk); /* spent 5000, lost the rest of a chunk */
    /* A new period. */
    c = client_with_budget(f, B, "2031-02", 0, NULL, &rc);
    CHECK_EQ(rc, 0);
    pf_client_upload_status(c, &st);
    CHECK_EQ(st.budget_used, 0);
    CHECK_STR(st.period, "2031-02");
    /* ...and one the application names while running. */
    pf_session_set_upload_budget(c->s, pf_session_upload_budget(c->s) - 7000);
    pf_client_upload_status(c, &st);
    CHECK_EQ(st.budget_used, 7000);
    CHECK_EQ(pf_client_set_upload_budget_period(c, "2031-03"), 0);
    CHECK_EQ(pf_session_upload_budget(c->s), 0); /* nothing until reserved */
    pf_client_upload_status(c, &st);
    CHECK_STR(st.period, "2031-03");
    CHECK_EQ(st.budget_used, 0);
    for (int i = 0; i < 200 && pf_session_upload_budget(c->s) == 0; i++)
        uv_run(pf_client_loop(c), UV_RUN_ONCE); /* the reservation on the threadpool */
    CHECK_EQ(pf_session_upload_budget(c->s), chunk);
    CHECK_EQ(pf_client_set_upload_budget_period(c, "bad label"), PF_ERR_INVAL);
    pf_client_stop(c);
    pf_client_run(c);
    pf_client_free(c);
    CHECK_EQ(pf__budget_file_add(f, "2031-03", 0, B, &g, &total, &corrupt), 0);
    CHECK_EQ(total, 0);
    /* A budget without a file is refused; so is an unwritable file. */
    c = client_with_budget(NULL, B, NULL, 0, NULL, &rc);
    CHECK_EQ(rc, PF_ERR_INVAL);
    c = client_with_budget("/nonexistent-dir/budget", B, NULL, 0, NULL, &rc);
    CHECK_EQ(rc, PF_ERR_IO);
}

/* The next reservation, made when half a chunk is left, tops the unspent
 * budget up to one chunk: a crash then loses at most one chunk, as the
 * docs say (a whole chunk more would put 1.5 chunks at stake). */
TEST(client_budget_crash_loses_at_most_a_chunk)
{
    const char *f = tmp_path("client-crash");
    const uint64_t B = 2u * 1024 * 1024;
    int rc;
    pf_client *c = client_with_budget(f, B, "2031-04", 0, NULL, &rc);
    CHECK_EQ(rc, 0);
    uint64_t chunk = c->up.b.chunk;
    CHECK_EQ(pf_session_upload_budget(c->s), chunk);
    pf_session_set_upload_budget(c->s, chunk / 2 - 1); /* spent half a chunk and a byte */
    pf__upload_check(c);
    CHECK(c->up.b.busy);
    for (int i = 0; i < 200 && c->up.b.busy; i++) uv_run(pf_client_loop(c), UV_RUN_ONCE);
    CHECK(!c->up.b.busy);
    CHECK_EQ(pf_session_upload_budget(c->s), chunk);
    pf_client_free(c); /* no stop: as a kill -9 */
    uint64_t g, total;
    int corrupt;
    CHECK_EQ(pf__budget_file_add(f, "2031-04", 0, B, &g, &total, &corrupt), 0);
    CHECK_EQ(total, chunk / 2 + 1 + chunk); /* what was spent, and one chunk lost */
}

/* The last chunk of a period is what is left; then BUDGET is the reason
 * uploads are off. */
TEST(client_budget_spent)
{
    const char *f = tmp_path("client-spent");
    const uint64_t B = 200000; /* less than a chunk (256 KiB) */
    int rc;
    pf_client *c = client_with_budget(f, B, "2031-06", 0, NULL, &rc);
    CHECK_EQ(rc, 0);
    CHECK_EQ(pf_session_upload_budget(c->s), B);
    pf_session_set_upload_budget(c->s, 1000);
    pf_upload_status st;
    pf_client_upload_status(c, &st);
    CHECK_EQ(st.budget_left, 1000);
    CHECK(!st.enabled);
    CHECK(st.off & PF_UPLOAD_OFF_BUDGET);
    pf_client_free(c);
}

/* The switches: the user's, metered (the application's word or a flag
 * file), the battery (a fake power_supply tree); each reason shows. */
TEST(client_switches)
{
    const char *flag = tmp_path("metered-flag");
    unlink(flag);
    int rc;
    pf_client *c = client_with_budget(NULL, 0, NULL, PF_UPLOAD_OFF_METERED | PF_UPLOAD_OFF_BATTERY,
                                      flag, &rc);
    CHECK_EQ(rc, 0);
    pf_upload_status st;
    pf_client_upload_status(c, &st);
    CHECK(st.enabled);
    CHECK_EQ(st.budget, 0);
    CHECK_EQ(c->s->set.upload_enabled, 1);
    pf_client_set_upload(c, 0);
    pf_client_upload_status(c, &st);
    CHECK(!st.enabled && st.off == PF_UPLOAD_OFF_USER);
    CHECK_EQ(c->s->set.upload_enabled, 0);
    pf_client_set_upload(c, 1);
    CHECK_EQ(c->s->set.upload_enabled, 1);
    /* The flag file, looked at every 5 s. */
    CHECK_EQ(write_file(flag, ""), 0);
    for (int i = 0; i < 5; i++) pf__upload_second(c);
    pf_client_upload_status(c, &st);
    CHECK(st.metered && (st.off & PF_UPLOAD_OFF_METERED));
    CHECK_EQ(c->s->set.upload_enabled, 0);
    unlink(flag);
    for (int i = 0; i < 5; i++) pf__upload_second(c);
    CHECK_EQ(c->s->set.upload_enabled, 1);
    /* The application's word wins over the file. */
    pf_client_set_metered(c, 1);
    CHECK_EQ(c->s->set.upload_enabled, 0);
    pf_client_set_metered(c, 0);
    CHECK_EQ(c->s->set.upload_enabled, 1);
    /* The battery, from a fake tree. */
    const char *root = tmp_path("ps2");
    char d[600];
    CHECK_EQ(mkdir(root, 0755), 0);
    snprintf(d, sizeof d, "%s/BAT1", root);
    CHECK_EQ(mkdir(d, 0755), 0);
    snprintf(d, sizeof d, "%s/BAT1/type", root);
    CHECK_EQ(write_file(d, "Battery\n"), 0);
    snprintf(d, sizeof d, "%s/BAT1/status", root);
    CHECK_EQ(write_file(d, "Discharging\n"), 0);
    c->up.power_dir = root;
    for (int i = 0; i < 5; i++) pf__upload_second(c);
    pf_client_upload_status(c, &st);
    CHECK(st.on_battery && st.off == PF_UPLOAD_OFF_BATTERY);
    CHECK_EQ(c->s->set.upload_enabled, 0);
    CHECK_EQ(write_file(d, "Charging\n"), 0);
    for (int i = 0; i < 5; i++) pf__upload_second(c);
    CHECK_EQ(c->s->set.upload_enabled, 1);
    pf_client_set_on_battery(c, 1);
    CHECK_EQ(c->s->set.upload_enabled, 0);
    pf_client_set_on_battery(c, -1); /* back to the tree: charging */
    CHECK_EQ(c->s->set.upload_enabled, 1);
    pf_client_free(c);
    /* Without upload_off_when the conditions are shown but do nothing. */
    c = client_with_budget(NULL, 0, NULL, 0, NULL, &rc);
    CHECK_EQ(rc, 0);
    pf_client_set_metered(c, 1);
    pf_client_upload_status(c, &st);
    CHECK(st.enabled && st.metered);
    CHECK_EQ(c->s->set.upload_enabled, 1);
    pf_client_free(c);
}

static void cleanup(void)
{
    if (!tmpdir[0]) return;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
}

#define main test_main
TEST_MAIN(share_caps_at_half_the_measured_uplink, share_ignores_a_burst, share_waits_for_the_ramp,
          share_probe_finds_an_underestimate,
          budget_file_format_and_parse, budget_file_reserve_return_period_corrupt,
          budget_file_shared_by_processes, budget_month_local_time, power_supply_battery, client_budget_across_restarts,
          client_budget_crash_loses_at_most_a_chunk, client_budget_spent, client_switches)
#undef main
int main(int argc, char **argv)
{
    int rc = test_main(argc, argv);
    cleanup();
    return rc;
}
