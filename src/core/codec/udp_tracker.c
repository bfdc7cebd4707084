/* BEP 15 codec (udp_tracker.h): client and server sides. */
#include "core/codec/udp_tracker.h"

#include <string.h>

static void wr64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | p[i];
    return v;
}

void pf_udpt_connect_req(uint8_t out[PF_UDPT_CONNECT_LEN], uint32_t tid)
{
    wr64(out, PF_UDPT_PROTOCOL_ID);
    pf_wr_be32(out + 8, PF_UDPT_CONNECT);
    pf_wr_be32(out + 12, tid);
}

/* BEP 15 numbers events 0 none, 1 completed, 2 started, 3 stopped. */
static uint32_t event_code(int ev)
{
    return ev == PF_ANNOUNCE_COMPLETED   ? PF_UDPT_EV_COMPLETED
           : ev == PF_ANNOUNCE_STARTED ? PF_UDPT_EV_STARTED
           : ev == PF_ANNOUNCE_STOPPED ? PF_UDPT_EV_STOPPED
                                       : PF_UDPT_EV_NONE;
}

void pf_udpt_announce_req(uint8_t out[PF_UDPT_ANNOUNCE_LEN], uint64_t conn_id, uint32_t tid,
                          const pf_announce_req *r)
{
    wr64(out, conn_id);
    pf_wr_be32(out + 8, PF_UDPT_ANNOUNCE);
    pf_wr_be32(out + 12, tid);
    memcpy(out + 16, r->info_hash, 20);
    memcpy(out + 36, r->peer_id, 20);
    wr64(out + 56, r->downloaded);
    wr64(out + 64, r->left);
    wr64(out + 72, r->uploaded);
    pf_wr_be32(out + 80, event_code(r->event));
    pf_wr_be32(out + 84, 0); /* ip: the sender's */
    pf_wr_be32(out + 88, r->key);
    pf_wr_be32(out + 92, r->numwant);
    pf_wr_be16(out + 96, r->port);
}

int pf_udpt_parse(const uint8_t *buf, size_t n, int family, pf_udpt_reply *out)
{
    memset(out, 0, sizeof *out);
    if (!buf || n < 8) return PF_ERR_PARSE;
    out->action = (int)pf_rd_be32(buf);
    out->tid = pf_rd_be32(buf + 4);
    switch (out->action) {
    case PF_UDPT_CONNECT:
        if (n < 16) return PF_ERR_PARSE;
        out->conn_id = rd64(buf + 8);
        return 0;
    case PF_UDPT_ANNOUNCE: {
        if (n < 20) return PF_ERR_PARSE;
        out->interval = pf_rd_be32(buf + 8);
        out->leechers = pf_rd_be32(buf + 12);
        out->seeders = pf_rd_be32(buf + 16);
        size_t each = family == 6 ? 18 : 6;
        if ((n - 20) % each) return PF_ERR_PARSE;
        out->peer_family = family == 6 ? 6 : 4;
        out->peers = buf + 20;
        out->npeers = (n - 20) / each;
        return 0;
    }
    case PF_UDPT_SCRAPE:
        if ((n - 8) % 12) return PF_ERR_PARSE;
        out->scrape = buf + 8;
        out->nscrape = (n - 8) / 12;
        return 0;
    case PF_UDPT_ERROR: {
        size_t m = n - 8 < sizeof out->error - 1 ? n - 8 : sizeof out->error - 1;
        for (size_t i = 0; i < m; i++) out->error[i] = buf[8 + i] ? (char)buf[8 + i] : '?';
        out->error[m] = 0;
        return 0;
    }
    default:
        return PF_ERR_PARSE;
    }
}

void pf_udpt_peer(const pf_udpt_reply *r, size_t i, pf_addr *out)
{
    memset(out, 0, sizeof *out);
    if (i >= r->npeers) return;
    if (r->peer_family == 6) {
        const uint8_t *p = r->peers + 18 * i;
        out->family = 6;
        memcpy(out->ip, p, 16);
        out->port = pf_rd_be16(p + 16);
    } else {
        const uint8_t *p = r->peers + 6 * i;
        out->family = 4;
        memcpy(out->ip, p, 4);
        out->port = pf_rd_be16(p + 4);
    }
}

void pf_udpt_scrape_entry(const pf_udpt_reply *r, size_t i, uint32_t *seeders,
                          uint32_t *completed, uint32_t *leechers)
{
    *seeders = *completed = *leechers = 0;
    if (i >= r->nscrape) return;
    const uint8_t *p = r->scrape + 12 * i;
    *seeders = pf_rd_be32(p);
    *completed = pf_rd_be32(p + 4);
    *leechers = pf_rd_be32(p + 8);
}

size_t pf_udpt_scrape_req(uint8_t *out, size_t cap, uint64_t conn_id, uint32_t tid,
                          const uint8_t (*info_hashes)[20], size_t n)
{
    if (n == 0 || n > PF_UDPT_SCRAPE_MAX || cap < 16 + 20 * n) return 0;
    wr64(out, conn_id);
    pf_wr_be32(out + 8, PF_UDPT_SCRAPE);
    pf_wr_be32(out + 12, tid);
    for (size_t i = 0; i < n; i++) memcpy(out + 16 + 20 * i, info_hashes[i], 20);
    return 16 + 20 * n;
}

/* ---- server ------------------------------------------------------------ */

int pf_udpt_parse_request(const uint8_t *buf, size_t n, pf_udpt_request *out)
{
    memset(out, 0, sizeof *out);
    if (!buf || n < 16) return PF_ERR_PARSE;
    out->conn_id = rd64(buf);
    out->action = (int)pf_rd_be32(buf + 8);
    out->tid = pf_rd_be32(buf + 12);
    switch (out->action) {
    case PF_UDPT_CONNECT:
        return out->conn_id == PF_UDPT_PROTOCOL_ID ? 0 : PF_ERR_PARSE;
    case PF_UDPT_ANNOUNCE:
        if (n < PF_UDPT_ANNOUNCE_LEN) return PF_ERR_PARSE;
        out->info_hash = buf + 16;
        out->peer_id = buf + 36;
        out->downloaded = rd64(buf + 56);
        out->left = rd64(buf + 64);
        out->uploaded = rd64(buf + 72);
        out->event = pf_rd_be32(buf + 80);
        out->ip = pf_rd_be32(buf + 84);
        out->key = pf_rd_be32(buf + 88);
        out->numwant = (int32_t)pf_rd_be32(buf + 92);
        out->port = pf_rd_be16(buf + 96);
        return 0;
    case PF_UDPT_SCRAPE:
        if (n < 16 + 20) return PF_ERR_PARSE;
        out->hashes = buf + 16;
        out->nhashes = (n - 16) / 20;
        if (out->nhashes > PF_UDPT_SCRAPE_MAX) out->nhashes = PF_UDPT_SCRAPE_MAX;
        return 0;
    default:
        return PF_ERR_PARSE;
    }
}

void pf_udpt_connect_reply(uint8_t out[16], uint32_t tid, uint64_t conn_id)
{
    pf_wr_be32(out, PF_UDPT_CONNECT);
    pf_wr_be32(out + 4, tid);
    wr64(out + 8, conn_id);
}

void pf_udpt_announce_reply_head(uint8_t out[PF_UDPT_ANNOUNCE_HEAD], uint32_t tid,
                                 uint32_t interval, uint32_t leechers, uint32_t seeders)
{
    pf_wr_be32(out, PF_UDPT_ANNOUNCE);
    pf_wr_be32(out + 4, tid);
    pf_wr_be32(out + 8, interval);
    pf_wr_be32(out + 12, leechers);
    pf_wr_be32(out + 16, seeders);
}

void pf_udpt_scrape_reply_head(uint8_t out[PF_UDPT_SCRAPE_HEAD], uint32_t tid)
{
    pf_wr_be32(out, PF_UDPT_SCRAPE);
    pf_wr_be32(out + 4, tid);
}

void pf_udpt_scrape_reply_entry(uint8_t out[12], uint32_t seeders, uint32_t completed,
                                uint32_t leechers)
{
    pf_wr_be32(out, seeders);
    pf_wr_be32(out + 4, completed);
    pf_wr_be32(out + 8, leechers);
}

size_t pf_udpt_error_reply(uint8_t *out, size_t cap, uint32_t tid, const char *msg)
{
    if (cap < 8) return 0;
    pf_wr_be32(out, PF_UDPT_ERROR);
    pf_wr_be32(out + 4, tid);
    size_t m = msg ? strlen(msg) : 0;
    if (m > cap - 8) m = cap - 8;
    if (m) memcpy(out + 8, msg, m);
    return 8 + m;
}
