/* The one log formatter: control bytes escaped, repeated lines from one
 * call site rate-limited (never at DEBUG), levels honoured. */
#include "core/util/log.h"

#include "test.h"

typedef struct sink {
    int lines;
    char last[1100];
} sink;

static void collect(void *ud, pf_log_level lvl, const char *msg)
{
    (void)lvl;
    sink *k = ud;
    k->lines++;
    snprintf(k->last, sizeof k->last, "%s", msg);
}

TEST(log_escapes_control_bytes)
{
    sink k = {0};
    pf_logger l;
    pf__logger_init(&l, collect, &k, PF_LOG_DEBUG);
    pf__logf(&l, PF_LOG_WARN, "name %s", "evil\x1b[2Jname\r\x7f");
    CHECK_EQ(k.lines, 1);
    CHECK_STR(k.last, "name evil\\x1b[2Jname\\x0d\\x7f");
    char out[8];
    pf_escape_text("\x1b\x1b", out, sizeof out); /* truncates whole escapes */
    CHECK_STR(out, "\\x1b");
    pf_escape_text("plain", out, sizeof out);
    CHECK_STR(out, "plain");
}

TEST(log_rate_limits_a_call_site)
{
    sink k = {0};
    pf_logger l;
    pf__logger_init(&l, collect, &k, PF_LOG_DEBUG);
    l.now = 5000000000ULL;
    for (int i = 0; i < 1000; i++) pf__logf(&l, PF_LOG_WARN, "piece %d failed its hash", i);
    CHECK_EQ(k.lines, PF_LOG_BURST);
    /* Another call site is not affected. */
    pf__logf(&l, PF_LOG_WARN, "something else");
    CHECK_EQ(k.lines, PF_LOG_BURST + 1);
    /* DEBUG is never limited. */
    for (int i = 0; i < 100; i++) pf__logf(&l, PF_LOG_DEBUG, "debug %d", i);
    CHECK_EQ(k.lines, PF_LOG_BURST + 101);
    /* A second later: the count of dropped lines, then the line. */
    l.now += 1000000000ULL;
    int before = k.lines;
    pf__logf(&l, PF_LOG_WARN, "piece %d failed its hash", 7);
    CHECK_EQ(k.lines, before + 2);
    CHECK_STR(k.last, "piece 7 failed its hash");
}

TEST(log_levels)
{
    sink k = {0};
    pf_logger l;
    pf__logger_init(&l, collect, &k, PF_LOG_WARN);
    pf__logf(&l, PF_LOG_INFO, "quiet");
    pf__logf(&l, PF_LOG_DEBUG, "quiet");
    CHECK_EQ(k.lines, 0);
    pf__logf(&l, PF_LOG_ERROR, "loud");
    CHECK_EQ(k.lines, 1);
    pf__logger_init(&l, NULL, NULL, PF_LOG_DEBUG);
    pf__logf(&l, PF_LOG_ERROR, "nowhere"); /* no sink: nothing, no crash */
}

TEST_MAIN(log_escapes_control_bytes, log_rate_limits_a_call_site, log_levels)
