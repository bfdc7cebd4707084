/* BitTorrent peer wire codec: BEP 3, 6, 9, 10, 11.  Stateless. */
#include "core/codec/wire.h"

#include <limits.h>
#include <string.h>

#include "core/codec/bencode.h"
#include "core/util/sha1.h"
#include "peerflow/peerflow.h"

static const char pf__proto[20] = "\x13" "BitTorrent protocol";

/* Bounds for bencoded extension bodies (they are at most PF_MAX_MSG_LEN). */
static const pf_ben_limits ext_limits = {
    .max_depth = 16,
    .max_nodes = 65536,
    .max_len = PF_MAX_MSG_LEN,
};

/* ---- handshake ---------------------------------------------------------- */

/* Checks the protocol string against however much of it is present, so a
 * non-BitTorrent peer is rejected as early as possible. */
static int proto_check(const uint8_t *buf, size_t len)
{
    size_t n = len < sizeof pf__proto ? len : sizeof pf__proto;
    return memcmp(buf, pf__proto, n) == 0 ? 0 : PF_ERR_PROTO;
}

int pf_handshake_parse_prefix(const uint8_t *buf, size_t len, pf_handshake *out)
{
    if (proto_check(buf, len)) return PF_ERR_PROTO;
    if (len < 48) return 0;
    memcpy(out->reserved, buf + 20, 8);
    memcpy(out->info_hash, buf + 28, 20);
    return 48;
}

int pf_handshake_parse(const uint8_t *buf, size_t len, pf_handshake *out)
{
    if (proto_check(buf, len)) return PF_ERR_PROTO;
    if (len < PF_HANDSHAKE_LEN) return 0;
    memcpy(out->reserved, buf + 20, 8);
    memcpy(out->info_hash, buf + 28, 20);
    memcpy(out->peer_id, buf + 48, 20);
    return PF_HANDSHAKE_LEN;
}

void pf_handshake_write(uint8_t out[PF_HANDSHAKE_LEN], const pf_handshake *hs)
{
    memcpy(out, pf__proto, 20);
    memcpy(out + 20, hs->reserved, 8);
    memcpy(out + 28, hs->info_hash, 20);
    memcpy(out + 48, hs->peer_id, 20);
}

/* ---- messages ----------------------------------------------------------- */

long pf_msg_parse_piece_header(const uint8_t *buf, size_t len, size_t max_len, pf_msg *out)
{
    if (len < 5 || buf[4] != PF_MSG_PIECE) return PF_ERR_NOTFOUND;
    uint32_t n = pf_rd_be32(buf);
    if (n == 0) return PF_ERR_NOTFOUND; /* a keep-alive; buf[4] is the next message's */
    if (n > max_len) return PF_ERR_LIMIT;
    if (n < PF_PIECE_HDR_LEN - 4) return PF_ERR_PROTO;
    if (len < PF_PIECE_HDR_LEN) return 0;
    memset(out, 0, sizeof *out);
    out->type = PF_MSG_PIECE;
    out->index = pf_rd_be32(buf + 5);
    out->begin = pf_rd_be32(buf + 9);
    out->payload_len = n - (PF_PIECE_HDR_LEN - 4);
    out->length = (uint32_t)out->payload_len;
    return PF_PIECE_HDR_LEN;
}

long pf_msg_parse(const uint8_t *buf, size_t len, size_t max_len, pf_msg *out)
{
    if (len < 4) return 0;
    uint32_t n = pf_rd_be32(buf);
    if (n > max_len || (uint64_t)n + 4 > (uint64_t)LONG_MAX) return PF_ERR_LIMIT;
    if (len - 4 < n) return 0;
    memset(out, 0, sizeof *out);
    long total = (long)n + 4;
    if (n == 0) {
        out->type = PF_MSG_KEEPALIVE;
        return total;
    }
    const uint8_t *p = buf + 5;
    uint32_t plen = n - 1; /* bytes after the id */
    out->type = buf[4];
    switch (buf[4]) {
    case PF_MSG_CHOKE:
    case PF_MSG_UNCHOKE:
    case PF_MSG_INTERESTED:
    case PF_MSG_NOT_INTERESTED:
    case PF_MSG_HAVE_ALL:
    case PF_MSG_HAVE_NONE:
        if (plen != 0) return PF_ERR_PROTO;
        break;
    case PF_MSG_HAVE:
    case PF_MSG_SUGGEST:
    case PF_MSG_ALLOWED_FAST:
        if (plen != 4) return PF_ERR_PROTO;
        out->index = pf_rd_be32(p);
        break;
    case PF_MSG_BITFIELD:
        out->payload = p;
        out->payload_len = plen;
        break;
    case PF_MSG_REQUEST:
    case PF_MSG_CANCEL:
    case PF_MSG_REJECT:
        if (plen != 12) return PF_ERR_PROTO;
        out->index = pf_rd_be32(p);
        out->begin = pf_rd_be32(p + 4);
        out->length = pf_rd_be32(p + 8);
        break;
    case PF_MSG_PIECE:
        if (plen < 8) return PF_ERR_PROTO;
        out->index = pf_rd_be32(p);
        out->begin = pf_rd_be32(p + 4);
        out->payload = p + 8;
        out->payload_len = plen - 8;
        out->length = plen - 8;
        break;
    case PF_MSG_PORT:
        if (plen != 2) return PF_ERR_PROTO;
        out->port = pf_rd_be16(p);
        break;
    case PF_MSG_EXTENDED:
        if (plen < 1) return PF_ERR_PROTO;
        out->ext_id = p[0];
        out->payload = p + 1;
        out->payload_len = plen - 1;
        break;
    default:
        out->payload = p;
        out->payload_len = plen;
        break;
    }
    return total;
}

/* Appends a message header: length prefix (id + body_len) and id. */
static int put_header(pf_buf *b, uint8_t id, size_t body_len, size_t total_hint)
{
    if (body_len > UINT32_MAX - 1) return PF_ERR_INVAL;
    int rc = pf_buf_reserve(b, 5 + total_hint);
    if (rc) return rc;
    uint8_t h[5];
    pf_wr_be32(h, (uint32_t)(body_len + 1));
    h[4] = id;
    return pf_buf_append(b, h, 5);
}

int pf_msg_write_simple(pf_buf *b, pf_msg_type type)
{
    switch (type) {
    case PF_MSG_KEEPALIVE: {
        static const uint8_t z[4] = {0, 0, 0, 0};
        return pf_buf_append(b, z, 4);
    }
    case PF_MSG_CHOKE:
    case PF_MSG_UNCHOKE:
    case PF_MSG_INTERESTED:
    case PF_MSG_NOT_INTERESTED:
    case PF_MSG_HAVE_ALL:
    case PF_MSG_HAVE_NONE:
        return put_header(b, (uint8_t)type, 0, 0);
    default:
        return PF_ERR_INVAL;
    }
}

static int write_u32_msg(pf_buf *b, uint8_t id, uint32_t v)
{
    uint8_t m[9];
    pf_wr_be32(m, 5);
    m[4] = id;
    pf_wr_be32(m + 5, v);
    return pf_buf_append(b, m, sizeof m);
}

int pf_msg_write_have(pf_buf *b, uint32_t index)
{
    return write_u32_msg(b, PF_MSG_HAVE, index);
}

int pf_msg_write_allowed_fast(pf_buf *b, uint32_t index)
{
    return write_u32_msg(b, PF_MSG_ALLOWED_FAST, index);
}

int pf_msg_write_bitfield(pf_buf *b, const uint8_t *bits, size_t nbytes)
{
    int rc = put_header(b, PF_MSG_BITFIELD, nbytes, nbytes);
    if (rc) return rc;
    return pf_buf_append(b, bits, nbytes); /* cannot fail: reserved */
}

int pf_msg_write_req(pf_buf *b, pf_msg_type type, uint32_t index,
                     uint32_t begin, uint32_t length)
{
    if (type != PF_MSG_REQUEST && type != PF_MSG_CANCEL && type != PF_MSG_REJECT)
        return PF_ERR_INVAL;
    uint8_t m[17];
    pf_wr_be32(m, 13);
    m[4] = (uint8_t)type;
    pf_wr_be32(m + 5, index);
    pf_wr_be32(m + 9, begin);
    pf_wr_be32(m + 13, length);
    return pf_buf_append(b, m, sizeof m);
}

int pf_msg_write_piece_header(pf_buf *b, uint32_t index, uint32_t begin,
                              uint32_t length)
{
    if (length > UINT32_MAX - 9) return PF_ERR_INVAL;
    uint8_t m[13];
    pf_wr_be32(m, length + 9);
    m[4] = PF_MSG_PIECE;
    pf_wr_be32(m + 5, index);
    pf_wr_be32(m + 9, begin);
    return pf_buf_append(b, m, sizeof m);
}

int pf_msg_write_extended(pf_buf *b, uint8_t ext_id, const uint8_t *body,
                          size_t len)
{
    if (len > UINT32_MAX - 2) return PF_ERR_INVAL;
    int rc = put_header(b, PF_MSG_EXTENDED, len + 1, len + 1);
    if (rc) return rc;
    pf_buf_append_u8(b, ext_id); /* cannot fail: reserved */
    return pf_buf_append(b, body, len);
}

/* ---- BEP 6 allowed fast ------------------------------------------------- */

size_t pf_allowed_fast_set(const uint8_t info_hash[20], const pf_addr *peer,
                           uint32_t num_pieces, size_t k, uint32_t *out)
{
    if (!peer || peer->family != 4 || num_pieces == 0) return 0;
    if (k > num_pieces) k = num_pieces;
    uint8_t x[24];
    /* x = 0xFFFFFF00 & ip, then the info-hash. */
    memcpy(x, peer->ip, 3);
    x[3] = 0;
    memcpy(x + 4, info_hash, 20);
    uint8_t h[PF_SHA1_LEN];
    const uint8_t *in = x;
    size_t in_len = sizeof x;
    size_t n = 0;
    while (n < k) {
        if (pf_sha1(in, in_len, h) != 0) break;
        for (size_t i = 0; i < 5 && n < k; i++) {
            uint32_t idx = pf_rd_be32(h + 4 * i) % num_pieces;
            size_t j;
            for (j = 0; j < n; j++)
                if (out[j] == idx) break;
            if (j == n) out[n++] = idx;
        }
        memcpy(x, h, sizeof h);
        in = x;
        in_len = sizeof h;
    }
    return n;
}

/* Undo a partial append after an allocation failure.  The unread byte
 * count survives the compaction pf_buf_reserve may do, a raw len does not. */
static void buf_rollback(pf_buf *b, size_t unread_before)
{
    b->len = b->off + unread_before;
}

/* ---- BEP 10 extension handshake ----------------------------------------- */

/* Integer value of key in dict, or NULL. */
static const pf_ben *get_int(const pf_ben *d, const char *key)
{
    return pf_ben_dict_get_type(d, key, PF_BEN_INT);
}

static uint8_t ext_id_of(const pf_ben *m, const char *key)
{
    const pf_ben *v = m ? get_int(m, key) : NULL;
    if (!v || v->v.i < 0 || v->v.i > 255) return 0;
    return (uint8_t)v->v.i;
}

int pf_ext_handshake_parse(const uint8_t *body, size_t len, pf_ext_handshake *out)
{
    memset(out, 0, sizeof *out);
    out->metadata_size = -1;
    pf_ben_doc *doc = NULL;
    /* Trailing bytes after the dict are tolerated (and ignored). */
    int rc = pf_bencode_parse(body, len, 1, &ext_limits, &doc, NULL);
    if (rc) return rc == PF_ERR_NOMEM ? rc : PF_ERR_PARSE;
    const pf_ben *root = pf_ben_doc_root(doc);
    if (root->type != PF_BEN_DICT) {
        pf_ben_doc_free(doc);
        return PF_ERR_PARSE;
    }
    const pf_ben *m = pf_ben_dict_get_type(root, "m", PF_BEN_DICT);
    out->pf_cdn = ext_id_of(m, "pf_cdn");
    out->ut_metadata = ext_id_of(m, "ut_metadata");
    out->ut_pex = ext_id_of(m, "ut_pex");
    const pf_ben *v = get_int(root, "metadata_size");
    if (v && v->v.i >= 0) out->metadata_size = v->v.i;
    v = get_int(root, "p");
    if (v && v->v.i > 0 && v->v.i <= 65535) out->listen_port = (uint16_t)v->v.i;
    v = get_int(root, "reqq");
    if (v && v->v.i > 0) out->reqq = v->v.i > UINT32_MAX ? UINT32_MAX : (uint32_t)v->v.i;
    v = get_int(root, "upload_only");
    if (v && v->v.i != 0) out->upload_only = 1;
    v = pf_ben_dict_get_type(root, "v", PF_BEN_STR);
    if (v) {
        /* Client name is for display: stop at NUL, mask control bytes. */
        size_t n = 0;
        for (; n < v->v.s.len && n < sizeof out->client - 1; n++) {
            uint8_t c = v->v.s.p[n];
            if (c == 0) break;
            out->client[n] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
        }
        out->client[n] = 0;
    }
    pf_ben_doc_free(doc);
    return 0;
}

int pf_ext_handshake_write(pf_buf *b, const pf_ext_handshake *local)
{
    size_t mark = pf_buf_unread(b);
    int rc = 0;
    /* Keys in canonical order: m, metadata_size, p, reqq, upload_only, v. */
    rc |= pf_benc_dict_begin(b);
    rc |= pf_benc_cstr(b, "m");
    rc |= pf_benc_dict_begin(b);
    if (local->pf_cdn) {
        rc |= pf_benc_cstr(b, "pf_cdn");
        rc |= pf_benc_int(b, local->pf_cdn);
    }
    if (local->ut_metadata) {
        rc |= pf_benc_cstr(b, "ut_metadata");
        rc |= pf_benc_int(b, local->ut_metadata);
    }
    if (local->ut_pex) {
        rc |= pf_benc_cstr(b, "ut_pex");
        rc |= pf_benc_int(b, local->ut_pex);
    }
    rc |= pf_benc_end(b);
    if (local->metadata_size >= 0) {
        rc |= pf_benc_cstr(b, "metadata_size");
        rc |= pf_benc_int(b, local->metadata_size);
    }
    if (local->listen_port) {
        rc |= pf_benc_cstr(b, "p");
        rc |= pf_benc_int(b, local->listen_port);
    }
    if (local->reqq) {
        rc |= pf_benc_cstr(b, "reqq");
        rc |= pf_benc_int(b, local->reqq);
    }
    if (local->upload_only) {
        rc |= pf_benc_cstr(b, "upload_only");
        rc |= pf_benc_int(b, 1);
    }
    if (local->client[0]) {
        rc |= pf_benc_cstr(b, "v");
        rc |= pf_benc_str(b, local->client,
                          strnlen(local->client, sizeof local->client));
    }
    rc |= pf_benc_end(b);
    if (rc) {
        buf_rollback(b, mark);
        return PF_ERR_NOMEM;
    }
    return 0;
}

/* ---- BEP 9 ut_metadata -------------------------------------------------- */

int pf_utm_parse(const uint8_t *body, size_t len, pf_utm_msg *out)
{
    memset(out, 0, sizeof *out);
    out->total_size = -1;
    pf_ben_doc *doc = NULL;
    size_t used = 0;
    int rc = pf_bencode_parse(body, len, 1, &ext_limits, &doc, &used);
    if (rc) return rc == PF_ERR_NOMEM ? rc : PF_ERR_PARSE;
    const pf_ben *root = pf_ben_doc_root(doc);
    rc = PF_ERR_PARSE;
    if (root->type != PF_BEN_DICT) goto done;
    const pf_ben *t = get_int(root, "msg_type");
    const pf_ben *pc = get_int(root, "piece");
    if (!t || !pc || t->v.i < 0 || t->v.i > INT_MAX || pc->v.i < 0 ||
        pc->v.i > UINT32_MAX)
        goto done;
    out->msg_type = (int)t->v.i;
    out->piece = (uint32_t)pc->v.i;
    if (out->msg_type == PF_UTM_DATA) {
        const pf_ben *ts = get_int(root, "total_size");
        if (!ts || ts->v.i < 0) goto done;
        if (len - used > PF_UTM_PIECE) goto done;
        out->total_size = ts->v.i;
        out->data = body + used;
        out->data_len = len - used;
    }
    rc = 0;
done:
    pf_ben_doc_free(doc);
    return rc;
}

int pf_utm_write(pf_buf *b, int msg_type, uint32_t piece, int64_t total_size,
                 const uint8_t *data, size_t data_len)
{
    size_t mark = pf_buf_unread(b);
    int rc = 0;
    rc |= pf_benc_dict_begin(b);
    rc |= pf_benc_cstr(b, "msg_type");
    rc |= pf_benc_int(b, msg_type);
    rc |= pf_benc_cstr(b, "piece");
    rc |= pf_benc_int(b, piece);
    if (msg_type == PF_UTM_DATA) {
        rc |= pf_benc_cstr(b, "total_size");
        rc |= pf_benc_int(b, total_size);
    }
    rc |= pf_benc_end(b);
    if (msg_type == PF_UTM_DATA && data_len) rc |= pf_buf_append(b, data, data_len);
    if (rc) {
        buf_rollback(b, mark);
        return PF_ERR_NOMEM;
    }
    return 0;
}

/* ---- peerflow's pf_cdn ------------------------------------------------- */

#define PF__CDN_NOTICE_MAX 65536u

int pf_cdn_notice_parse(const uint8_t *body, size_t len, pf_cdn_notice *out)
{
    if (!body || len != 8) return PF_ERR_PARSE;
    uint32_t first = pf_rd_be32(body), count = pf_rd_be32(body + 4);
    if (count == 0 || count > PF__CDN_NOTICE_MAX || first > UINT32_MAX - count) return PF_ERR_PARSE;
    out->first = first;
    out->count = count;
    return 0;
}

int pf_cdn_notice_encode(uint8_t out[8], uint32_t first, uint32_t count)
{
    if (count == 0 || count > PF__CDN_NOTICE_MAX || first > UINT32_MAX - count) return PF_ERR_INVAL;
    pf_wr_be32(out, first);
    pf_wr_be32(out + 4, count);
    return 0;
}

/* ---- BEP 11 ut_pex ------------------------------------------------------ */

/* Decodes compact entries of family fam (4: 6 bytes, 6: 18 bytes) from s
 * into out[*n..max), with flags from f (may be NULL) into flags. */
static void pex_decode(const pf_ben *s, const pf_ben *f, int fam, pf_addr *out,
                       uint8_t *flags, size_t max, size_t *n)
{
    if (!s) return;
    size_t alen = fam == 4 ? 4 : 16, esz = alen + 2;
    size_t count = s->v.s.len / esz;
    for (size_t i = 0; i < count && *n < max; i++) {
        const uint8_t *e = s->v.s.p + i * esz;
        uint16_t port = pf_rd_be16(e + alen);
        if (port == 0) continue;
        pf_addr *a = &out[*n];
        memset(a, 0, sizeof *a);
        a->family = (uint8_t)fam;
        memcpy(a->ip, e, alen);
        a->port = port;
        if (flags) flags[*n] = (f && i < f->v.s.len) ? f->v.s.p[i] : 0;
        (*n)++;
    }
}

int pf_pex_parse_full(const uint8_t *body, size_t len, pf_addr *added,
                      uint8_t *added_flags, size_t max_added, size_t *n_added,
                      pf_addr *dropped, size_t max_dropped, size_t *n_dropped)
{
    size_t na = 0, nd = 0;
    if (n_added) *n_added = 0;
    if (n_dropped) *n_dropped = 0;
    pf_ben_doc *doc = NULL;
    int rc = pf_bencode_parse(body, len, 1, &ext_limits, &doc, NULL);
    if (rc) return rc == PF_ERR_NOMEM ? rc : PF_ERR_PARSE;
    const pf_ben *root = pf_ben_doc_root(doc);
    if (root->type != PF_BEN_DICT) {
        pf_ben_doc_free(doc);
        return PF_ERR_PARSE;
    }
    if (!added) max_added = 0;
    if (!dropped) max_dropped = 0;
    pex_decode(pf_ben_dict_get_type(root, "added", PF_BEN_STR),
               pf_ben_dict_get_type(root, "added.f", PF_BEN_STR), 4, added,
               added_flags, max_added, &na);
    pex_decode(pf_ben_dict_get_type(root, "added6", PF_BEN_STR),
               pf_ben_dict_get_type(root, "added6.f", PF_BEN_STR), 6, added,
               added_flags, max_added, &na);
    pex_decode(pf_ben_dict_get_type(root, "dropped", PF_BEN_STR), NULL, 4,
               dropped, NULL, max_dropped, &nd);
    pex_decode(pf_ben_dict_get_type(root, "dropped6", PF_BEN_STR), NULL, 6,
               dropped, NULL, max_dropped, &nd);
    pf_ben_doc_free(doc);
    if (n_added) *n_added = na;
    if (n_dropped) *n_dropped = nd;
    return 0;
}

int pf_pex_parse(const uint8_t *body, size_t len, pf_addr *out, size_t max)
{
    size_t n = 0;
    int rc = pf_pex_parse_full(body, len, out, NULL, max, &n, NULL, 0, NULL);
    if (rc) return rc;
    return n > INT_MAX ? INT_MAX : (int)n;
}

/* Appends the compact entries of family fam from a[0..n) (and, when
 * flags_out, their flags) as one bencoded string each. */
static int pex_put(pf_buf *b, const pf_addr *a, const uint8_t *flags, size_t n,
                   int fam, int with_flags)
{
    size_t alen = fam == 4 ? 4 : 16, esz = alen + 2, cnt = 0;
    for (size_t i = 0; i < n; i++)
        if (a[i].family == fam) cnt++;
    if (cnt > SIZE_MAX / esz) return PF_ERR_NOMEM;
    int rc = pf_buf_appendf(b, "%zu:", with_flags ? cnt : cnt * esz);
    if (rc) return rc;
    if ((rc = pf_buf_reserve(b, with_flags ? cnt : cnt * esz))) return rc;
    for (size_t i = 0; i < n; i++) {
        if (a[i].family != fam) continue;
        if (with_flags) {
            pf_buf_append_u8(b, flags ? flags[i] : 0);
        } else {
            pf_buf_append(b, a[i].ip, alen);
            pf_buf_append_be16(b, a[i].port);
        }
    }
    return 0;
}

int pf_pex_write_flags(pf_buf *b, const pf_addr *added,
                       const uint8_t *added_flags, size_t n_added,
                       const pf_addr *dropped, size_t n_dropped)
{
    size_t mark = pf_buf_unread(b);
    int rc = 0;
    /* Canonical key order: added, added.f, added6, added6.f, dropped,
     * dropped6. */
    rc |= pf_benc_dict_begin(b);
    rc |= pf_benc_cstr(b, "added");
    if (!rc) rc = pex_put(b, added, NULL, n_added, 4, 0);
    rc |= pf_benc_cstr(b, "added.f");
    if (!rc) rc = pex_put(b, added, added_flags, n_added, 4, 1);
    rc |= pf_benc_cstr(b, "added6");
    if (!rc) rc = pex_put(b, added, NULL, n_added, 6, 0);
    rc |= pf_benc_cstr(b, "added6.f");
    if (!rc) rc = pex_put(b, added, added_flags, n_added, 6, 1);
    rc |= pf_benc_cstr(b, "dropped");
    if (!rc) rc = pex_put(b, dropped, NULL, n_dropped, 4, 0);
    rc |= pf_benc_cstr(b, "dropped6");
    if (!rc) rc = pex_put(b, dropped, NULL, n_dropped, 6, 0);
    rc |= pf_benc_end(b);
    if (rc) {
        buf_rollback(b, mark);
        return PF_ERR_NOMEM;
    }
    return 0;
}

int pf_pex_write(pf_buf *b, const pf_addr *added, size_t n_added,
                 const pf_addr *dropped, size_t n_dropped)
{
    return pf_pex_write_flags(b, added, NULL, n_added, dropped, n_dropped);
}
