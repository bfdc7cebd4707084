/* A test's HTTP announce to a tracker core (pf_tracker_handle_http) from
 * 10.0.<net>.<host>, its reply parsed as a client reads it.  For
 * test_policy.c and test_tracker_alto.c. */
#ifndef PF_TESTS_TRACKER_ANNOUNCE_H
#define PF_TESTS_TRACKER_ANNOUNCE_H

#include <stdio.h>
#include <string.h>

#include "core/codec/tracker_proto.h"
#include "core/tracker/tracker.h"

/* extra: more query parameters ("&left=0&numwant=30"), or "". Returns 0
 * and *r (clear it), or -1 (not 200, or unreadable). */
static inline int tracker_announce(pf_tracker *t, const uint8_t ih[20], int net, int host, const char *extra,
                                   pf_announce_resp *r)
{
    char q[320], ihq[61];
    for (int i = 0; i < 20; i++) snprintf(ihq + 3 * i, 4, "%%%02X", ih[i]);
    snprintf(q, sizeof q, "info_hash=%s&peer_id=-XX0001-%06d%06d&port=6881%s", ihq, net, host, extra);
    pf_addr from;
    memset(&from, 0, sizeof from);
    from.family = 4;
    from.ip[0] = 10;
    from.ip[2] = (uint8_t)net;
    from.ip[3] = (uint8_t)host;
    pf_buf body;
    pf_buf_init(&body);
    int st = pf_tracker_handle_http(t, "/announce", q, &from, 1, &body);
    int rc = st == 200 ? pf_announce_resp_parse(body.data, body.len, NULL, r) : -1;
    pf_buf_free(&body);
    return rc;
}

#endif
