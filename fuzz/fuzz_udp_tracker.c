/* BEP 15, both sides.
 *
 * Client: the input as a reply (connect, announce with IPv4 or IPv6 peers,
 * scrape, error), parsed for an IPv4 and an IPv6 tracker, and through the
 * session's datagram entry point.
 *
 * Server: the tracker core's UDP entry point (pf_tracker_handle_udp) on a
 * fresh tracker with small limits: first the whole input as one datagram
 * (as it came, then with a valid connection id for its source patched in,
 * so announces and scrapes are reached), then the input read as records
 *     [ctl][len hi][len lo][len bytes of datagram] ...
 * ctl bits 0-1: the source (IPv4 a, IPv4 b, IPv6 c, v4-mapped a); bits
 * 2-4: the clock moves on by 0, 1, 30, 61, 121, 181, 3600 or 86400 s
 * before it; bit 5: a valid connection id patched in; bit 6: expire
 * peers first.  Every reply is checked: within the buffer, parseable by a
 * client of the source's family, the transaction id echoed, the action
 * the request's or an error, peers of the source's family only and never
 * the announcer, limits held. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec/udp_tracker.h"
#include "core/tracker/connid.h"
#include "core/tracker/tracker.h"
#include "peerflow/session.h"

#define S UINT64_C(1000000000)

static void client_side(const uint8_t *data, size_t size)
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
        if (r.action == PF_UDPT_SCRAPE && 8 + 12 * r.nscrape != size) abort();
    }
    /* Whatever arrives on the session's socket is dropped or taken, never
     * fatal. */
    static pf_session *s;
    if (!s) {
        pf_session_settings set;
        pf_session_settings_default(&set);
        if (pf_session_new(&set, &s) != 0) return;
    }
    pf_addr from = {.family = 4, .ip = {127, 0, 0, 1}, .port = 6969};
    pf_session_recv_datagram(s, &from, data, size, 1);
}

static pf_addr source(int k)
{
    pf_addr a;
    memset(&a, 0, sizeof a);
    a.port = (uint16_t)(1000 + k);
    if (k == 2) {
        a.family = 6;
        a.ip[0] = 0x20, a.ip[1] = 0x01, a.ip[15] = 3;
    } else {
        a.family = k == 3 ? 6 : 4;
        uint8_t *ip = k == 3 ? a.ip + 12 : a.ip;
        if (k == 3) a.ip[10] = a.ip[11] = 0xff;
        ip[0] = 10, ip[3] = (uint8_t)(k == 1 ? 2 : 1);
    }
    return a;
}

/* fam: the source's family once v4-mapped addresses read as IPv4. */
static void check_reply(const pf_addr *from, int fam, const uint8_t *req, size_t n,
                        const uint8_t *out, size_t len, size_t cap)
{
    if (len == 0) return;
    if (len > cap || n < 16) abort(); /* what is not well-formed has no reply */
    pf_udpt_reply r;
    if (pf_udpt_parse(out, len, fam, &r) != 0) abort();
    if (r.tid != pf_rd_be32(req + 12)) abort();
    int action = (int)pf_rd_be32(req + 8);
    if (r.action != action && r.action != PF_UDPT_ERROR) abort();
    if (r.action == PF_UDPT_CONNECT && len != 16) abort();
    if (r.action == PF_UDPT_ANNOUNCE) {
        if (r.npeers > 200 || r.peer_family != fam) abort();
        pf_addr me = *from;
        for (size_t i = 0; i < r.npeers; i++) {
            pf_addr p;
            pf_udpt_peer(&r, i, &p);
            if (p.port == pf_rd_be16(req + 96) && fam == 4 &&
                memcmp(p.ip, me.family == 4 ? me.ip : me.ip + 12, 4) == 0)
                abort(); /* the announcer itself */
        }
    }
    if (r.action == PF_UDPT_SCRAPE && r.nscrape > PF_UDPT_SCRAPE_MAX) abort();
}

static pf_tracker *tracker_new(void)
{
    pf_tracker_config c;
    pf_tracker_config_default(&c);
    c.seed = 1;
    c.interval_s = 60;
    c.max_torrents = 8;
    c.max_peers_per_torrent = 6;
    c.max_peers_total = 16;
    c.max_scrape = 80;
    c.ip_rate_per_min = 60;
    c.ip_burst = 20;
    c.max_rate_sources = 16; /* small: one calloc per input */
    return pf_tracker_new(&c);
}

/* One datagram; with fix, a valid id for its source is written first. */
static void server_one(pf_tracker *t, int src, const uint8_t *d, size_t n, int fix, uint64_t now)
{
    static uint8_t buf[65536], out[PF_TRACKER_UDP_REPLY_MAX];
    pf_addr from = source(src);
    if (n > sizeof buf) n = sizeof buf;
    memcpy(buf, d, n);
    if (fix && n >= 8) {
        pf_addr norm = pf__tracker_addr_norm(&from);
        uint64_t id = pf__connid_make(pf__tracker_connid(t), &norm, now);
        for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(id >> (56 - 8 * i));
    }
    size_t len = pf_tracker_handle_udp(t, &from, buf, n, now, out, sizeof out);
    check_reply(&from, src == 2 ? 6 : 4, buf, n, out, len, sizeof out);
    pf_tracker_stats st;
    pf_tracker_stats_get(t, &st);
    if (st.torrents > 8 || st.peers > 16 || st.rate_sources > 16) abort();
}

static void server_side(const uint8_t *data, size_t size)
{
    static const uint64_t steps[8] = {0, 1, 30, 61, 121, 181, 3600, 86400};
    pf_tracker *t = tracker_new();
    if (!t) return;
    uint64_t now = 1000 * S;
    server_one(t, 0, data, size, 0, now);
    server_one(t, 0, data, size, 1, now);
    size_t i = 0;
    while (i + 3 <= size) {
        uint8_t ctl = data[i];
        size_t len = (size_t)data[i + 1] << 8 | data[i + 2];
        i += 3;
        if (len > size - i) len = size - i;
        now += steps[(ctl >> 2) & 7] * S;
        if (ctl & 0x40) pf_tracker_expire(t, now);
        server_one(t, ctl & 3, data + i, len, (ctl >> 5) & 1, now);
        i += len;
    }
    pf_tracker_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    client_side(data, size);
    server_side(data, size);
    return 0;
}
