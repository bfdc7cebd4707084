/* BEP 15 replies (connect, announce with IPv4 or IPv6 peers, error), and
 * the session's datagram entry point with them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec/udp_tracker.h"
#include "peerflow/session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int fam = 4; fam <= 6; fam += 2) {
        pf_udpt_reply r;
        if (pf_udpt_parse(data, size, fam, &r) != 0) continue;
        if (r.action < 0 || r.action > 3) abort();
        if (strlen(r.error) >= sizeof r.error) abort();
        if (r.action == PF_UDPT_ANNOUNCE) {
            size_t each = fam == 6 ? 18 : 6;
            if (20 + r.npeers * each != size) abort();
            for (size_t i = 0; i < r.npeers; i++) {
                pf_addr a;
                pf_udpt_peer(&r, i, &a);
                if (a.family != fam) abort();
            }
        }
    }
    /* Whatever arrives on the session's socket is dropped or taken, never
     * fatal. */
    static pf_session *s;
    if (!s) {
        pf_session_settings set;
        pf_session_settings_default(&set);
        if (pf_session_new(&set, &s) != 0) return 0;
    }
    pf_addr from = {.family = 4, .ip = {127, 0, 0, 1}, .port = 6969};
    pf_session_recv_datagram(s, &from, data, size, 1);
    return 0;
}
