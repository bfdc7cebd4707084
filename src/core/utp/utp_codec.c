/* The BEP 29 packet format.
 *
 *   0       4       8               16              24              32
 *   | type  | ver=1 | extension     | connection_id                 |
 *   | timestamp_microseconds                                        |
 *   | timestamp_difference_microseconds                             |
 *   | wnd_size                                                      |
 *   | seq_nr                        | ack_nr                        |
 *
 * then a chain of extensions, each [next extension type][length][bytes],
 * the first one named by the header's extension byte; type 1 is the
 * selective ACK (a bitmask whose bit i, least significant bit of each
 * byte first, stands for ack_nr + 2 + i). */
#include "core/util/buf.h"
#include "core/utp/utp_int.h"

int pf__utp_parse(const uint8_t *p, size_t n, pf__utp_hdr *h)
{
    if (!p || n < PF_UTP_HEADER) return PF_ERR_UNSUPPORTED;
    uint8_t type = p[0] >> 4, ver = p[0] & 15;
    if (ver != 1 || type > PF__UTP_SYN) return PF_ERR_UNSUPPORTED;
    if (n > 65535) return PF_ERR_PARSE; /* no UDP datagram is that long */
    h->type = type;
    h->conn_id = pf_rd_be16(p + 2);
    h->ts = pf_rd_be32(p + 4);
    h->ts_diff = pf_rd_be32(p + 8);
    h->wnd = pf_rd_be32(p + 12);
    h->seq = pf_rd_be16(p + 16);
    h->ack = pf_rd_be16(p + 18);
    h->sack = NULL;
    h->sack_len = 0;
    size_t off = PF_UTP_HEADER;
    uint8_t ext = p[1];
    for (int i = 0; ext != 0; i++) {
        if (i == PF__UTP_MAX_EXT || n - off < 2) return PF_ERR_PARSE;
        uint8_t next = p[off], len = p[off + 1];
        off += 2;
        if (n - off < len) return PF_ERR_PARSE;
        if (ext == PF__UTP_EXT_SACK && !h->sack && len > 0) {
            h->sack = p + off;
            h->sack_len = len;
        }
        off += len;
        ext = next;
    }
    h->payload = p + off;
    h->payload_len = n - off;
    return 0;
}

void pf__utp_put_hdr(uint8_t *o, int type, uint16_t conn_id, uint32_t ts, uint32_t ts_diff, uint32_t wnd,
                     uint16_t seq, uint16_t ack)
{
    o[0] = (uint8_t)((type << 4) | 1);
    o[1] = 0;
    pf_wr_be16(o + 2, conn_id);
    pf_wr_be32(o + 4, ts);
    pf_wr_be32(o + 8, ts_diff);
    pf_wr_be32(o + 12, wnd);
    pf_wr_be16(o + 16, seq);
    pf_wr_be16(o + 18, ack);
}
