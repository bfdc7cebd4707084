/* BEP 15 codec (udp_tracker.h). */
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
    return ev == PF_ANNOUNCE_COMPLETED ? 1 : ev == PF_ANNOUNCE_STARTED ? 2 : ev == PF_ANNOUNCE_STOPPED ? 3 : 0;
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
        return 0; /* not asked for by this client; the caller ignores it */
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
