/* ALTO network and cost maps (core/tracker/alto.c): the RFC 7285
 * examples, longest-prefix match over IPv4, IPv6 and v4-mapped addresses,
 * costs, every refusal with its reason, limits, and lookups on a large
 * map checked against a linear scan. */
#include <math.h>
#include <stdint.h>

#include "core/tracker/alto.h"
#include "core/util/addr.h"
#include "core/util/buf.h"
#include "test.h"

/* RFC 7285 section 11.2.1.7, the response body. */
static const char RFC_NETMAP[] = "{\n"
                                 "  \"meta\" : {\n"
                                 "    \"vtag\": {\n"
                                 "      \"resource-id\": \"my-default-network-map\",\n"
                                 "      \"tag\": \"da65eca2eb7a10ce8b059740b0b2e3f8eb1d4785\"\n"
                                 "    }\n"
                                 "  },\n"
                                 "  \"network-map\" : {\n"
                                 "    \"PID1\" : {\n"
                                 "      \"ipv4\" : [\n"
                                 "        \"192.0.2.0/24\",\n"
                                 "        \"198.51.100.0/25\"\n"
                                 "      ]\n"
                                 "    },\n"
                                 "    \"PID2\" : {\n"
                                 "      \"ipv4\" : [\n"
                                 "        \"198.51.100.128/25\"\n"
                                 "      ]\n"
                                 "    },\n"
                                 "    \"PID3\" : {\n"
                                 "      \"ipv4\" : [\n"
                                 "        \"0.0.0.0/0\"\n"
                                 "      ],\n"
                                 "      \"ipv6\" : [\n"
                                 "        \"::/0\"\n"
                                 "      ]\n"
                                 "    }\n"
                                 "  }\n"
                                 "}\n";

/* RFC 7285 section 11.2.3.7, the response body.  Its dependent vtag is not
 * the one of the network map example (the RFC's two examples disagree). */
#define RFC_COSTMAP_WITH_TAG(tag)                                                                                      \
    "{\n"                                                                                                              \
    "  \"meta\" : {\n"                                                                                                 \
    "    \"dependent-vtags\" : [\n"                                                                                    \
    "      {\"resource-id\": \"my-default-network-map\",\n"                                                            \
    "       \"tag\": \"" tag "\"\n"                                                                                    \
    "      }\n"                                                                                                        \
    "    ],\n"                                                                                                         \
    "    \"cost-type\" : {\"cost-mode\"  : \"numerical\",\n"                                                           \
    "                   \"cost-metric\": \"routingcost\"\n"                                                            \
    "    }\n"                                                                                                          \
    "  },\n"                                                                                                           \
    "  \"cost-map\" : {\n"                                                                                             \
    "    \"PID1\": { \"PID1\": 1,  \"PID2\": 5,  \"PID3\": 10 },\n"                                                    \
    "    \"PID2\": { \"PID1\": 5,  \"PID2\": 1,  \"PID3\": 15 },\n"                                                    \
    "    \"PID3\": { \"PID1\": 20, \"PID2\": 15  }\n"                                                                  \
    "  }\n"                                                                                                            \
    "}\n"
static const char RFC_COSTMAP[] = RFC_COSTMAP_WITH_TAG("3ee2cb7e8d63d9fab71b9b34cbf764436315542e");
static const char RFC_COSTMAP_MATCHING[] = RFC_COSTMAP_WITH_TAG("da65eca2eb7a10ce8b059740b0b2e3f8eb1d4785");

static pf_addr addr(const char *ip)
{
    char s[80];
    pf_addr a;
    snprintf(s, sizeof s, strchr(ip, ':') ? "[%s]:1" : "%s:1", ip);
    if (pf_addr_parse(s, &a) != 0) memset(&a, 0, sizeof a);
    return a;
}

/* The name of ip's PID, or "-". */
static const char *pid_of(const pf_alto_map *m, const char *ip)
{
    pf_addr a = addr(ip);
    int i = pf_alto_pid(m, &a);
    return i < 0 ? "-" : pf_alto_pid_name(m, i);
}

static pf_alto_map *load(const char *net, const char *cost)
{
    pf_alto_map *m = NULL;
    char why[300];
    if (pf_alto_load(net, strlen(net), cost, cost ? strlen(cost) : 0, &m, why, sizeof why) != 0) {
        fprintf(stderr, "load failed: %s\n", why);
        return NULL;
    }
    return m;
}

TEST(alto_rfc_network_map)
{
    pf_alto_map *m = load(RFC_NETMAP, NULL);
    CHECK(m != NULL);
    CHECK_EQ(pf_alto_npids(m), 3);
    CHECK_EQ(pf_alto_nprefixes(m), 5);
    CHECK_STR(pf_alto_pid_name(m, 0), "PID1");
    CHECK_STR(pf_alto_pid_name(m, 2), "PID3");
    CHECK(pf_alto_pid_name(m, 3) == NULL);
    CHECK(pf_alto_pid_name(m, -1) == NULL);
    CHECK_STR(pf_alto_resource_id(m), "my-default-network-map");
    CHECK_STR(pf_alto_tag(m), "da65eca2eb7a10ce8b059740b0b2e3f8eb1d4785");
    CHECK(pf_alto_cost_metric(m) == NULL);
    CHECK_STR(pid_of(m, "192.0.2.0"), "PID1");
    CHECK_STR(pid_of(m, "192.0.2.255"), "PID1");
    CHECK_STR(pid_of(m, "192.0.3.0"), "PID3");
    CHECK_STR(pid_of(m, "192.0.1.255"), "PID3");
    CHECK_STR(pid_of(m, "198.51.100.127"), "PID1");
    CHECK_STR(pid_of(m, "198.51.100.128"), "PID2");
    CHECK_STR(pid_of(m, "198.51.100.255"), "PID2");
    CHECK_STR(pid_of(m, "198.51.101.0"), "PID3");
    CHECK_STR(pid_of(m, "0.0.0.0"), "PID3");
    CHECK_STR(pid_of(m, "255.255.255.255"), "PID3");
    CHECK_STR(pid_of(m, "2001:db8::1"), "PID3");
    CHECK_STR(pid_of(m, "::"), "PID3");
    /* v4-mapped IPv6 addresses are IPv4 addresses. */
    CHECK_STR(pid_of(m, "::ffff:192.0.2.7"), "PID1");
    CHECK_STR(pid_of(m, "::ffff:198.51.100.200"), "PID2");
    /* Without a cost map: 0 within a PID, 1 across, +inf off the map. */
    CHECK(pf_alto_cost(m, 0, 0) == 0);
    CHECK(pf_alto_cost(m, 0, 2) == 1);
    CHECK(isinf(pf_alto_cost(m, -1, 0)));
    CHECK(isinf(pf_alto_cost(m, 0, 3)));
    pf_addr none;
    memset(&none, 0, sizeof none);
    CHECK_EQ(pf_alto_pid(m, &none), -1);
    CHECK_EQ(pf_alto_pid(NULL, &none), -1);
    pf_alto_free(m);
    pf_alto_free(NULL);
}

TEST(alto_rfc_cost_map)
{
    /* The RFC's own two examples: the cost map was made for another
     * version of the network map. */
    pf_alto_map *m = (pf_alto_map *)1;
    char why[300];
    CHECK_EQ(pf_alto_load(RFC_NETMAP, strlen(RFC_NETMAP), RFC_COSTMAP, strlen(RFC_COSTMAP), &m, why, sizeof why),
             PF_ERR_PARSE);
    CHECK(m == NULL);
    CHECK_STR(why, "cost map: made for network map \"my-default-network-map\" tag "
                   "\"3ee2cb7e8d63d9fab71b9b34cbf764436315542e\", not for the one loaded "
                   "(\"my-default-network-map\" tag \"da65eca2eb7a10ce8b059740b0b2e3f8eb1d4785\")");
    m = load(RFC_NETMAP, RFC_COSTMAP_MATCHING);
    CHECK(m != NULL);
    CHECK_STR(pf_alto_cost_metric(m), "routingcost");
    CHECK_STR(pf_alto_cost_mode(m), "numerical");
    CHECK(pf_alto_cost(m, 0, 0) == 1);
    CHECK(pf_alto_cost(m, 0, 1) == 5);
    CHECK(pf_alto_cost(m, 0, 2) == 10);
    CHECK(pf_alto_cost(m, 1, 2) == 15);
    CHECK(pf_alto_cost(m, 2, 0) == 20);
    CHECK(pf_alto_cost(m, 2, 1) == 15);
    CHECK(isinf(pf_alto_cost(m, 2, 2))); /* no entry: ranked last */
    CHECK(isinf(pf_alto_cost(m, -1, 2)));
    pf_alto_free(m);
}

static const char NESTED[] =
    "{\"meta\":{\"vtag\":{\"resource-id\":\"n\",\"tag\":\"1\"},\"x-extension\":[1,{\"a\":null}]},"
    " \"other\": true,"
    " \"network-map\":{"
    "  \"wide\":{\"ipv4\":[\"10.0.0.0/8\",\"10.1.2.128/25\"],\"ipv6\":[\"2001:db8::/32\"]},"
    "  \"city\":{\"ipv4\":[\"10.1.0.0/16\"],\"ipv6\":[\"2001:db8:1::/48\",\"::ffff:203.0.113.0/120\"]},"
    "  \"block@pop.1\":{\"ipv4\":[\"10.1.2.0/24\",\"10.1.2.0/24\",\"255.255.255.255\"]},"
    "  \"host_:-\":{\"ipv6\":[\"2001:db8:1::1\",\"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128\"]},"
    "  \"empty\":{},"
    "  \"default\":{\"ipv4\":[\"0.0.0.0/0\"]}"
    " }}";

TEST(alto_longest_prefix)
{
    pf_alto_map *m = load(NESTED, NULL);
    CHECK(m != NULL);
    CHECK_EQ(pf_alto_npids(m), 6);
    CHECK_EQ(pf_alto_nprefixes(m), 11); /* 10.1.2.0/24 twice in one PID: once */
    static const struct {
        const char *ip, *pid;
    } cases[] = {
        {"9.255.255.255", "default"},
        {"10.0.0.0", "wide"},
        {"10.1.0.0", "city"},
        {"10.1.1.255", "city"},
        {"10.1.2.0", "block@pop.1"},
        {"10.1.2.127", "block@pop.1"},
        {"10.1.2.128", "wide"}, /* a /25 inside the /24, back to "wide" */
        {"10.1.2.255", "wide"},
        {"10.1.3.0", "city"},
        {"10.1.255.255", "city"},
        {"10.2.0.0", "wide"},
        {"10.255.255.255", "wide"},
        {"11.0.0.0", "default"},
        {"203.0.113.9", "city"}, /* listed as v4-mapped IPv6 */
        {"::ffff:203.0.113.9", "city"},
        {"::ffff:10.1.2.5", "block@pop.1"},
        {"255.255.255.254", "default"},
        {"255.255.255.255", "block@pop.1"},
        {"2001:db8::", "wide"},
        {"2001:db8:1::", "city"},
        {"2001:db8:1::1", "host_:-"},
        {"2001:db8:1::2", "city"},
        {"2001:db8:1:ffff:ffff:ffff:ffff:ffff", "city"},
        {"2001:db8:2::", "wide"},
        {"2001:db9::", "-"}, /* no IPv6 default: IPv4's does not count */
        {"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "-"},
        {"::1", "-"},
        {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "host_:-"},
        {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "-"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = pid_of(m, cases[i].ip);
        if (strcmp(got, cases[i].pid) != 0) fprintf(stderr, "%s: %s, not %s\n", cases[i].ip, got, cases[i].pid);
        CHECK_STR(got, cases[i].pid);
    }
    pf_alto_free(m);
}

/* A map with only IPv6, and a map whose /0 is its only prefix. */
TEST(alto_ipv6_only)
{
    pf_alto_map *m = load("{\"meta\":{\"vtag\":{\"resource-id\":\"v6\",\"tag\":\"t\"}},"
                          "\"network-map\":{\"all\":{\"ipv6\":[\"::/0\"]},\"doc\":{\"ipv6\":[\"2001:db8::/32\"]}}}",
                          NULL);
    CHECK(m != NULL);
    CHECK_STR(pid_of(m, "2001:db8:ffff::1"), "doc");
    CHECK_STR(pid_of(m, "2001:db9::1"), "all");
    CHECK_STR(pid_of(m, "::ffff:1.2.3.4"), "-"); /* an IPv4 address */
    CHECK_STR(pid_of(m, "1.2.3.4"), "-");
    pf_alto_free(m);
}

static const char COST_HEAD[] = "{\"meta\":{\"dependent-vtags\":[{\"resource-id\":\"n\",\"tag\":\"1\"}],"
                                "\"cost-type\":{\"cost-mode\":\"ordinal\",\"cost-metric\":\"routingcost\"}},";

TEST(alto_costs)
{
    char cost[1024];
    snprintf(cost, sizeof cost,
             "%s\"cost-map\":{\"wide\":{\"city\":2,\"wide\":1,\"default\":3.5,\"empty\":-1},\"default\":{}}}",
             COST_HEAD);
    pf_alto_map *m = load(NESTED, cost);
    CHECK(m != NULL);
    CHECK_STR(pf_alto_cost_mode(m), "ordinal");
    CHECK(pf_alto_cost(m, 0, 0) == 1);
    CHECK(pf_alto_cost(m, 0, 1) == 2);
    CHECK(pf_alto_cost(m, 0, 5) == 3.5);
    CHECK(pf_alto_cost(m, 0, 4) == -1);
    CHECK(isinf(pf_alto_cost(m, 0, 2)));
    CHECK(isinf(pf_alto_cost(m, 5, 0)));
    CHECK(isinf(pf_alto_cost(m, 1, 1)));
    pf_alto_free(m);
}

typedef struct refusal_case {
    const char *net, *cost, *why;
    int rc;
} refusal_case;

#define VT "\"meta\":{\"vtag\":{\"resource-id\":\"n\",\"tag\":\"1\"}}"
#define NET(body) "{" VT ",\"network-map\":{" body "}}"
#define COST(body) "{\"meta\":{\"dependent-vtags\":[{\"resource-id\":\"n\",\"tag\":\"1\"}]," \
    "\"cost-type\":{\"cost-mode\":\"numerical\",\"cost-metric\":\"routingcost\"}},\"cost-map\":{" body "}}"
#define GOOD NET("\"A\":{\"ipv4\":[\"10.0.0.0/8\"]},\"B\":{}")

TEST(alto_refusals)
{
    static const refusal_case bad[] = {
        {"", NULL, "network map: line 1, column 1: unexpected end of input (a value expected)", PF_ERR_PARSE},
        {"[]", NULL, "network map: not a JSON object but an array", PF_ERR_PARSE},
        {"{\"network-map\":{}}", NULL, "network map: meta: \"vtag\": an object expected, not nothing", PF_ERR_PARSE},
        {"{\"meta\":{\"vtag\":{\"tag\":\"1\"}}}", NULL, "network map: meta: \"vtag\": no \"resource-id\" string",
         PF_ERR_PARSE},
        {"{\"meta\":{\"vtag\":{\"resource-id\":\"a b\",\"tag\":\"1\"}}}", NULL,
         "network map: meta: \"vtag\": bad \"resource-id\" \"a b\" (1-64 of A-Z a-z 0-9 - : @ _ .)", PF_ERR_PARSE},
        {"{\"meta\":{\"vtag\":{\"resource-id\":\"n\"}}}", NULL, "network map: meta: \"vtag\": no \"tag\" string",
         PF_ERR_PARSE},
        {"{\"meta\":{\"vtag\":{\"resource-id\":\"n\",\"tag\":\"a b\"}}}", NULL,
         "network map: meta: \"vtag\": bad \"tag\" \"a b\" (1-64 printable ASCII characters, no space)", PF_ERR_PARSE},
        {"{" VT "}", NULL, "network map: \"network-map\": an object expected, not nothing", PF_ERR_PARSE},
        {"{" VT ",\"network-map\":[]}", NULL, "network map: \"network-map\": an object expected, not an array",
         PF_ERR_PARSE},
        {NET(""), NULL, "network-map: no PIDs", PF_ERR_PARSE},
        {NET("\"a/b\":{}"), NULL, "network-map: bad PID name \"a/b\" (1-64 of A-Z a-z 0-9 - : @ _ .)", PF_ERR_PARSE},
        {NET("\"\":{}"), NULL, "network-map: bad PID name \"\" (1-64 of A-Z a-z 0-9 - : @ _ .)", PF_ERR_PARSE},
        {NET("\"p\\\"x\":{}"), NULL, "network-map: bad PID name \"p\\\"x\" (1-64 of A-Z a-z 0-9 - : @ _ .)",
         PF_ERR_PARSE},
        {NET("\"\\u00e9\":{}"), NULL, "network-map: bad PID name \"\\xc3\\xa9\" (1-64 of A-Z a-z 0-9 - : @ _ .)",
         PF_ERR_PARSE},
        {NET("\"x\":[]"), NULL, "network-map: PID \"x\": an object expected, not an array", PF_ERR_PARSE},
        {NET("\"x\":{\"ipv5\":[]}"), NULL, "network-map: PID \"x\": unknown address type \"ipv5\" (ipv4, ipv6)",
         PF_ERR_PARSE},
        {NET("\"x\":{\"ipv4\":\"10.0.0.0/8\"}"), NULL, "network-map: PID \"x\": \"ipv4\": an array expected, not a string",
         PF_ERR_PARSE},
        {NET("\"x\":{\"ipv4\":[\"10.0.0.0/8\",1]}"), NULL,
         "network-map: PID \"x\": \"ipv4\"[1]: a string expected, not a number", PF_ERR_PARSE},
        {NET("\"x\":{\"ipv4\":[\"10.0.0.0/8\",\"1.2.3.4/24\",\"1.2.3.4/33\"]}"), NULL,
         "network-map: PID \"x\": \"ipv4\"[1]: \"1.2.3.4/24\" has bits set past its prefix length", PF_ERR_PARSE},
        {NET("\"x\":{\"ipv4\":[\"10.0.0.0/8\",\"1.2.3.4/33\"]}"), NULL,
         "network-map: PID \"x\": \"ipv4\"[1]: bad prefix \"1.2.3.4/33\"", PF_ERR_PARSE},
        {NET("\"x\":{\"ipv4\":[\"1.2.3.0/\"]}"), NULL, "network-map: PID \"x\": \"ipv4\"[0]: bad prefix \"1.2.3.0/\"",
         PF_ERR_PARSE},
        {NET("\"x\":{\"ipv4\":[\" 1.2.3.0/24\"]}"), NULL,
         "network-map: PID \"x\": \"ipv4\"[0]: bad prefix \" 1.2.3.0/24\"", PF_ERR_PARSE},
        {NET("\"x\":{\"ipv4\":[\"1.2.3.0/24\\n\"]}"), NULL,
         "network-map: PID \"x\": \"ipv4\"[0]: bad prefix \"1.2.3.0/24\\x0a\"", PF_ERR_PARSE},
        {NET("\"x\":{\"ipv4\":[\"1.2.3.4\\u0000/8\"]}"), NULL,
         "network-map: PID \"x\": \"ipv4\"[0]: bad prefix \"1.2.3.4\\x00/8\"", PF_ERR_PARSE},
        {NET("\"x\":{\"ipv4\":[\"1.2.3.4\\u0000\"]}"), NULL,
         "network-map: PID \"x\": \"ipv4\"[0]: bad prefix \"1.2.3.4\\x00\"", PF_ERR_PARSE},
        {NET("\"x\":{\"ipv6\":[\"2001:db8::/129\"]}"), NULL,
         "network-map: PID \"x\": \"ipv6\"[0]: bad prefix \"2001:db8::/129\"", PF_ERR_PARSE},
        {NET("\"x\":{\"ipv4\":[\"2001:db8::/32\"]}"), NULL,
         "network-map: PID \"x\": \"ipv4\"[0]: \"2001:db8::/32\" is not an IPv4 prefix", PF_ERR_PARSE},
        {NET("\"x\":{\"ipv6\":[\"10.0.0.0/8\"]}"), NULL,
         "network-map: PID \"x\": \"ipv6\"[0]: \"10.0.0.0/8\" is not an IPv6 prefix", PF_ERR_PARSE},
        {NET("\"x\":{\"ipv6\":[\"2001:db8::1/32\"]}"), NULL,
         "network-map: PID \"x\": \"ipv6\"[0]: \"2001:db8::1/32\" has bits set past its prefix length", PF_ERR_PARSE},
        {NET("\"x\":{\"ipv4\":[\"10.0.0.0/8\"]},\"y\":{\"ipv4\":[\"10.0.0.0/8\"]}"), NULL,
         "network-map: prefix \"10.0.0.0/8\" is in PID \"x\" and in PID \"y\"", PF_ERR_PARSE},
        {NET("\"x\":{\"ipv4\":[\"10.0.0.0/8\"]},\"y\":{\"ipv6\":[\"::ffff:10.0.0.0/104\"]}"), NULL,
         "network-map: prefix \"::ffff:10.0.0.0/104\" is in PID \"x\" and in PID \"y\"", PF_ERR_PARSE},
        {NET("\"x\":{},\"x\":{}"), NULL,
         "network map: line 1, column 62: duplicate key \"x\" in the object starting here", PF_ERR_PARSE},
        {"{\"meta\":{\"vtag\":{\"resource-id\":\"n\",\"tag\":\"1\"}}\n,\"network-map\":{\"x\":{\"ipv4\":[\"1.2.3.0/24\",]}}}",
         NULL, "network map: line 2, column 43: unexpected ']' (a value expected)", PF_ERR_PARSE},
        /* The cost map. */
        {GOOD, "", "cost map: line 1, column 1: unexpected end of input (a value expected)", PF_ERR_PARSE},
        {GOOD, "1", "cost map: not a JSON object but a number", PF_ERR_PARSE},
        {GOOD, "{\"cost-map\":{}}", "cost map: meta: \"dependent-vtags\": an array of one vtag expected", PF_ERR_PARSE},
        {GOOD, "{\"meta\":{\"dependent-vtags\":[]}}", "cost map: meta: \"dependent-vtags\": an array of one vtag expected",
         PF_ERR_PARSE},
        {GOOD, "{\"meta\":{\"dependent-vtags\":[1]}}",
         "cost map: meta: \"dependent-vtags\"[0]: an object expected, not a number", PF_ERR_PARSE},
        {GOOD, "{\"meta\":{\"dependent-vtags\":[{\"resource-id\":\"m\",\"tag\":\"1\"}]}}",
         "cost map: made for network map \"m\" tag \"1\", not for the one loaded (\"n\" tag \"1\")", PF_ERR_PARSE},
        {GOOD, "{\"meta\":{\"dependent-vtags\":[{\"resource-id\":\"n\",\"tag\":\"\\\"2\"}]}}",
         "cost map: made for network map \"n\" tag \"\\\"2\", not for the one loaded (\"n\" tag \"1\")", PF_ERR_PARSE},
        {GOOD, "{\"meta\":{\"dependent-vtags\":[{\"resource-id\":\"n\",\"tag\":\"1\"}]}}",
         "cost map: meta: \"cost-type\": \"cost-mode\" must be \"numerical\" or \"ordinal\"", PF_ERR_PARSE},
        {GOOD,
         "{\"meta\":{\"dependent-vtags\":[{\"resource-id\":\"n\",\"tag\":\"1\"}],\"cost-type\":{\"cost-mode\":"
         "\"numerical\\u0000\",\"cost-metric\":\"routingcost\"}}}",
         "cost map: meta: \"cost-type\": \"cost-mode\" must be \"numerical\" or \"ordinal\"", PF_ERR_PARSE},
        {GOOD,
         "{\"meta\":{\"dependent-vtags\":[{\"resource-id\":\"n\",\"tag\":\"1\"}],\"cost-type\":{\"cost-mode\":"
         "\"ordinal\",\"cost-metric\":\"\"}}}",
         "cost map: meta: \"cost-type\": \"cost-metric\" must be 1-32 of A-Z a-z 0-9 - : @ _ .", PF_ERR_PARSE},
        {GOOD, "{\"meta\":{\"dependent-vtags\":[{\"resource-id\":\"n\",\"tag\":\"1\"}],\"cost-type\":{\"cost-mode\":"
               "\"ordinal\",\"cost-metric\":\"hopcount\"}}}",
         "cost map: \"cost-map\": an object expected, not nothing", PF_ERR_PARSE},
        {GOOD, COST("\"C\":{}"), "cost-map: \"C\": not a PID of the network map", PF_ERR_PARSE},
        {GOOD, COST("\"A\":[]"), "cost-map: \"A\": an object expected, not an array", PF_ERR_PARSE},
        {GOOD, COST("\"A\":{\"A\":1,\"Z\\n\":2}"), "cost-map: \"A\": \"Z\\x0a\": not a PID of the network map",
         PF_ERR_PARSE},
        {GOOD, COST("\"A\":{\"B\":\"1\"}"), "cost-map: \"A\": \"B\": a number expected, not a string", PF_ERR_PARSE},
        {GOOD, COST("\"A\":{\"B\":1e400}"), "cost-map: \"A\": \"B\": cost out of range", PF_ERR_PARSE},
        {GOOD, COST("\"A\":{\"B\":1,\"B\":2}"),
         "cost map: line 1, column 143: duplicate key \"B\" in the object starting here", PF_ERR_PARSE},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pf_alto_map *m = (pf_alto_map *)1;
        char why[300] = "";
        int rc = pf_alto_load(bad[i].net, strlen(bad[i].net), bad[i].cost, bad[i].cost ? strlen(bad[i].cost) : 0, &m,
                              why, sizeof why);
        if (rc != bad[i].rc || strcmp(why, bad[i].why) != 0) fprintf(stderr, "case %zu: rc %d, why: %s\n", i, rc, why);
        CHECK_EQ(rc, bad[i].rc);
        CHECK(m == NULL);
        CHECK_STR(why, bad[i].why);
    }
    /* The good ones they were cut from. */
    pf_alto_map *m = load(GOOD, COST("\"A\":{\"B\":1}"));
    CHECK(m != NULL);
    pf_alto_free(m);
    m = load("\xEF\xBB\xBF" GOOD, NULL); /* a byte order mark is dropped */
    CHECK(m != NULL);
    pf_alto_free(m);
}

/* n PIDs "p0".., each with `per` prefixes from gen(i, j), into b. */
static void build_map(pf_buf *b, size_t n, size_t per, void (*gen)(pf_buf *, size_t, size_t))
{
    pf_buf_reset(b);
    pf_buf_append_str(b, "{" VT ",\"network-map\":{");
    for (size_t i = 0; i < n; i++) {
        pf_buf_appendf(b, "%s\"p%zu\":{\"ipv4\":[", i ? "," : "", i);
        for (size_t j = 0; j < per; j++) {
            if (j) pf_buf_append_str(b, ",");
            gen(b, i, j);
        }
        pf_buf_append_str(b, "]}");
    }
    pf_buf_append_str(b, "}}");
}

static void gen_slash32(pf_buf *b, size_t i, size_t j)
{
    size_t k = i * 1000 + j;
    pf_buf_appendf(b, "\"10.%zu.%zu.%zu\"", k >> 16 & 255, k >> 8 & 255, k & 255);
}

TEST(alto_limits)
{
    pf_buf b;
    pf_buf_init(&b);
    pf_alto_map *m = NULL;
    char why[300];
    build_map(&b, PF_ALTO_MAX_PIDS + 1, 0, gen_slash32);
    CHECK_EQ(pf_alto_load((const char *)b.data, b.len, NULL, 0, &m, why, sizeof why), PF_ERR_LIMIT);
    CHECK_STR(why, "network-map: 4097 PIDs, over the limit of 4096");
    build_map(&b, PF_ALTO_MAX_PIDS, 0, gen_slash32);
    CHECK_EQ(pf_alto_load((const char *)b.data, b.len, NULL, 0, &m, why, sizeof why), 0);
    pf_alto_free(m);
    build_map(&b, 65, 1000, gen_slash32); /* 65,000 */
    CHECK_EQ(pf_alto_load((const char *)b.data, b.len, NULL, 0, &m, why, sizeof why), 0);
    CHECK_EQ(pf_alto_nprefixes(m), 65000);
    pf_alto_free(m);
    build_map(&b, 66, 1000, gen_slash32);
    CHECK_EQ(pf_alto_load((const char *)b.data, b.len, NULL, 0, &m, why, sizeof why), PF_ERR_LIMIT);
    CHECK_STR(why, "network-map: 66000 prefixes, over the limit of 65536");
    /* A PID name of 64 characters, and of 65. */
    char name[80];
    memset(name, 'a', 65);
    name[64] = 0;
    pf_buf_reset(&b);
    pf_buf_appendf(&b, NET("\"%s\":{}"), name);
    CHECK_EQ(pf_alto_load((const char *)b.data, b.len, NULL, 0, &m, why, sizeof why), 0);
    CHECK_STR(pf_alto_pid_name(m, 0), name);
    pf_alto_free(m);
    name[64] = 'a', name[65] = 0;
    pf_buf_reset(&b);
    pf_buf_appendf(&b, NET("\"%s\":{}"), name);
    CHECK_EQ(pf_alto_load((const char *)b.data, b.len, NULL, 0, &m, why, sizeof why), PF_ERR_PARSE);
    CHECK(strstr(why, "network-map: bad PID name \"aaaa") == why);
    /* A file over 16 MiB. */
    pf_buf_reset(&b);
    CHECK_EQ(pf_buf_reserve(&b, PF_ALTO_MAX_FILE + 1), 0);
    memset(b.data, ' ', PF_ALTO_MAX_FILE + 1);
    CHECK_EQ(pf_alto_load((const char *)b.data, PF_ALTO_MAX_FILE + 1, NULL, 0, &m, why, sizeof why), PF_ERR_LIMIT);
    CHECK_STR(why, "network map: input of 16777217 bytes is over the limit of 16777216");
    CHECK_EQ(pf_alto_load(GOOD, strlen(GOOD), (const char *)b.data, PF_ALTO_MAX_FILE + 1, &m, why, sizeof why),
             PF_ERR_LIMIT);
    CHECK_STR(why, "cost map: input of 16777217 bytes is over the limit of 16777216");
    pf_buf_free(&b);
}

/* Deterministic xorshift. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

typedef struct ref_prefix {
    pf_net net;
    int pid;
} ref_prefix;

static ref_prefix ref[12000];
static size_t nref;

/* Prefixes of every length 8-32 in a few /8s, so that many nest. */
static void gen_random(pf_buf *b, size_t i, size_t j)
{
    static uint64_t seed = 0x9e3779b97f4a7c15ULL;
    for (;;) {
        uint32_t bits = 8 + (uint32_t)(rnd(&seed) % 25);
        uint32_t ip = (uint32_t)(10 + rnd(&seed) % 3) << 24 | (uint32_t)(rnd(&seed) & 0xffffff);
        ip &= bits == 32 ? UINT32_MAX : ~(UINT32_MAX >> bits);
        int dup = 0;
        for (size_t k = 0; k < nref && !dup; k++)
            dup = ref[k].net.bits == bits && pf_rd_be32(ref[k].net.ip) == ip;
        if (dup) continue;
        memset(&ref[nref], 0, sizeof ref[nref]);
        ref[nref].net.family = 4;
        ref[nref].net.bits = (uint8_t)bits;
        pf_wr_be32(ref[nref].net.ip, ip);
        ref[nref++].pid = (int)i;
        pf_buf_appendf(b, "\"%u.%u.%u.%u/%u\"", ip >> 24, ip >> 16 & 255, ip >> 8 & 255, ip & 255, bits);
        return;
    }
}

/* 10,000 nested prefixes: lookups agree with a scan of them all. */
TEST(alto_large_map_against_a_scan)
{
    pf_buf b;
    pf_buf_init(&b);
    nref = 0;
    build_map(&b, 100, 100, gen_random);
    pf_alto_map *m = NULL;
    char why[300];
    CHECK_EQ(pf_alto_load((const char *)b.data, b.len, NULL, 0, &m, why, sizeof why), 0);
    CHECK_EQ(pf_alto_nprefixes(m), 10000);
    uint64_t seed = 42;
    for (int t = 0; t < 20000; t++) {
        pf_addr a;
        memset(&a, 0, sizeof a);
        a.family = 4;
        const pf_net *near = &ref[rnd(&seed) % nref].net;
        uint32_t ip = pf_rd_be32(near->ip), span = near->bits == 32 ? 0 : UINT32_MAX >> near->bits;
        switch (t % 4) {
        case 0: break;                                    /* its first address */
        case 1: ip |= span; break;                        /* its last */
        case 2: ip = (ip | span) + 1; break;              /* just past it */
        default: ip |= (uint32_t)rnd(&seed) & span; break; /* inside */
        }
        pf_wr_be32(a.ip, ip);
        int want = -1, best = -1;
        for (size_t k = 0; k < nref; k++)
            if (pf_net_contains(&ref[k].net, &a) && ref[k].net.bits > best) best = ref[k].net.bits, want = ref[k].pid;
        int got = pf_alto_pid(m, &a);
        if (got != want) fprintf(stderr, "%08x: %d, not %d\n", ip, got, want);
        CHECK_EQ(got, want);
    }
    pf_alto_free(m);
    pf_buf_free(&b);
}

TEST_MAIN(alto_rfc_network_map, alto_rfc_cost_map, alto_longest_prefix, alto_ipv6_only, alto_costs, alto_refusals,
          alto_limits, alto_large_map_against_a_scan)
