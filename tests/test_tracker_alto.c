/* Locality decided by the operator at the tracker (pf_tracker_set_alto):
 * the announcer's PID first, then by cost, other PIDs bounded (HTTP and
 * UDP); the PID names in the QoE series and in the policy's pid rules. */
#include "core/codec/tracker_proto.h"
#include "core/tracker/alto.h"
#include "core/tracker/policy.h"
#include "core/tracker/tracker.h"
#include "test.h"
#include "tracker_announce.h"

static const char NETMAP[] = "{\"meta\":{\"vtag\":{\"resource-id\":\"lab\",\"tag\":\"1\"}},"
                             "\"network-map\":{\"isp-a\":{\"ipv4\":[\"10.0.1.0/24\"]},"
                             "\"isp-b\":{\"ipv4\":[\"10.0.2.0/24\"]},"
                             "\"isp-c\":{\"ipv4\":[\"10.0.3.0/24\"]}}}";
static const char COSTMAP[] = "{\"meta\":{\"dependent-vtags\":[{\"resource-id\":\"lab\",\"tag\":\"1\"}],"
                              "\"cost-type\":{\"cost-mode\":\"numerical\",\"cost-metric\":\"routingcost\"}},"
                              "\"cost-map\":{\"isp-a\":{\"isp-a\":1,\"isp-b\":5,\"isp-c\":9},"
                              "\"isp-b\":{\"isp-a\":5,\"isp-b\":1,\"isp-c\":9},"
                              "\"isp-c\":{\"isp-a\":9,\"isp-b\":9,\"isp-c\":1}}}";
static const uint8_t IH[20] = "01234567890123456789";

static int announce(pf_tracker *t, int net, int host, int numwant, pf_announce_resp *r)
{
    char extra[48];
    snprintf(extra, sizeof extra, "&left=100&numwant=%d", numwant);
    return tracker_announce(t, IH, net, host, extra, r);
}

static void count_nets(const pf_announce_resp *r, int by_net[4])
{
    memset(by_net, 0, 4 * sizeof *by_net);
    for (size_t i = 0; i < r->num_peers; i++)
        if (r->peers[i].ip[2] < 4) by_net[r->peers[i].ip[2]]++;
}

TEST(alto_peers_by_pid_then_cost)
{
    pf_tracker_config cfg;
    pf_tracker_config_default(&cfg);
    cfg.seed = 3;
    pf_tracker *t = pf_tracker_new(&cfg);
    pf_alto_map *m = NULL;
    char why[200];
    CHECK_EQ(pf_alto_load(NETMAP, strlen(NETMAP), COSTMAP, strlen(COSTMAP), &m, why, sizeof why), 0);
    pf_announce_resp r;
    int n[4];
    /* 30 viewers on each of a and b, 30 on c: announced before the map. */
    for (int net = 1; net <= 3; net++)
        for (int h = 1; h <= 30; h++) {
            CHECK_EQ(announce(t, net, h, 0, &r), 0);
            pf_announce_resp_clear(&r);
        }
    /* No map: at random, about a third each. */
    CHECK_EQ(announce(t, 1, 200, 30, &r), 0);
    count_nets(&r, n);
    CHECK(n[1] < 20 && n[2] > 3 && n[3] > 3);
    pf_announce_resp_clear(&r);

    pf_tracker_set_alto(t, m);
    /* Its own PID first, a tenth (3 of 30) kept for the cheapest other
     * PID (b, cost 5; c costs 9). */
    CHECK_EQ(announce(t, 1, 201, 30, &r), 0);
    count_nets(&r, n);
    CHECK_EQ(r.num_peers, 30u);
    CHECK_EQ(n[1], 27);
    CHECK_EQ(n[2], 3);
    CHECK_EQ(n[3], 0);
    /* ...and is told its own PID's networks, to serve them first. */
    CHECK_EQ(r.has_local_nets, 1);
    CHECK_EQ(r.nlocal_nets, 1u);
    CHECK_EQ(r.local_nets[0].family, 4);
    CHECK_EQ(r.local_nets[0].bits, 24);
    CHECK_EQ(r.local_nets[0].ip[2], 1);
    pf_announce_resp_clear(&r);
    /* More than its PID holds: the rest from other PIDs, cheapest first,
     * but no more than a fifth (8 of 40). */
    CHECK_EQ(announce(t, 1, 202, 40, &r), 0);
    count_nets(&r, n);
    CHECK_EQ(n[1], 32); /* 30 + the two announcers before it */
    CHECK_EQ(n[2], 8);
    CHECK_EQ(n[3], 0);
    pf_announce_resp_clear(&r);
    CHECK_EQ(announce(t, 3, 201, 10, &r), 0); /* from c: c first */
    count_nets(&r, n);
    CHECK_EQ(n[3], 8);
    CHECK_EQ(n[1] + n[2], 2);
    pf_announce_resp_clear(&r);
    /* An address in no PID: at random, and no networks. */
    CHECK_EQ(announce(t, 9, 1, 30, &r), 0);
    count_nets(&r, n);
    CHECK(n[1] > 3 && n[2] > 3 && n[3] > 3);
    CHECK_EQ(r.has_local_nets, 0);
    pf_announce_resp_clear(&r);

    /* PID names in the QoE labels and the policy. */
    char pwhy[160];
    pf_tracker_policy *p = NULL;
    const char *rules = "pid isp-b p2p off\n";
    CHECK_EQ(pf_tracker_policy_parse(rules, strlen(rules), &p, pwhy, sizeof pwhy), 0);
    pf_tracker_set_policy(t, p);
    CHECK_EQ(announce(t, 2, 250, 30, &r), 0);
    CHECK_EQ(r.p2p_off, 1);
    CHECK_EQ(r.num_peers, 0u);
    pf_announce_resp_clear(&r);
    CHECK_EQ(announce(t, 1, 250, 30, &r), 0);
    CHECK_EQ(r.p2p_off, 0);
    pf_announce_resp_clear(&r);
    pf_addr a;
    memset(&a, 0, sizeof a);
    a.family = 4;
    a.ip[0] = 10;
    a.ip[2] = 2;
    a.ip[3] = 7;
    CHECK_STR(pf__tracker_pid(t, &a), "isp-b");
    a.ip[2] = 8;
    CHECK(pf__tracker_pid(t, &a) == NULL);

    pf_tracker_set_policy(t, NULL);
    pf_tracker_policy_free(p);
    pf_tracker_set_alto(t, NULL);
    pf_alto_free(m);
    pf_tracker_free(t);
}

TEST_MAIN(alto_peers_by_pid_then_cost)
