/* Fuzz the operator's policy file parser (core/tracker/policy.c).
 * Invariants: a parsed policy has at most PF_POLICY_MAX_RULES rules, its
 * verdicts are consistent (a cap is at least 1 KiB or 0), its /metrics
 * lines are NUL-free; a refused file gives a reason naming its line. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/tracker/policy.h"
#include "peerflow/peerflow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pf_tracker_policy *p = NULL;
    char why[160];
    int rc = pf_tracker_policy_parse((const char *)data, size, &p, why, sizeof why);
    if (rc != 0) {
        if (p) abort();
        if (rc == PF_ERR_PARSE && strncmp(why, "line ", 5) != 0) abort();
        return 0;
    }
    if (!p || pf_tracker_policy_count(p) > PF_POLICY_MAX_RULES) abort();
    static const uint8_t ih[20] = "01234567890123456789";
    const char *pids[] = {NULL, "isp-a", "a", "x:y@z_1.2"};
    for (size_t i = 0; i < 4; i++) {
        pf_policy_verdict v;
        pf_tracker_policy_eval(p, size >= 20 ? data : ih, pids[i], &v);
        if (v.upload_cap && v.upload_cap < 1024) abort();
        if (v.p2p_off != 0 && v.p2p_off != 1) abort();
    }
    pf_buf m;
    pf_buf_init(&m);
    if (pf_tracker_policy_metrics(p, &m) != 0) abort();
    if (memchr(m.data, 0, m.len)) abort();
    pf_buf_free(&m);
    pf_tracker_policy_free(p);
    return 0;
}
