#include "core/codec/tracker_proto.h"
#include "core/tracker/proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec/bencode.h"
#include "core/codec/http_parse.h"
#include "core/util/mem.h"
#include "peerflow/peerflow.h"

/* Length of the URL without any "#fragment". */
static size_t url_len_nofrag(const char *url)
{
    const char *h = strchr(url, '#');
    return h ? (size_t)(h - url) : strlen(url);
}

static int append_sep(pf_buf *out, const char *url, size_t len)
{
    const char *q = memchr(url, '?', len);
    if (!q) return pf_buf_append_u8(out, '?');
    char last = url[len - 1];
    if (last == '?' || last == '&') return 0;
    return pf_buf_append_u8(out, '&');
}

int pf_announce_url(pf_buf *out, const char *announce_url, const pf_announce_req *r)
{
    static const char *const events[] = {NULL, "started", "completed", "stopped"};
    if (!announce_url || !r || r->event < 0 || r->event > 3) return PF_ERR_INVAL;
    size_t ulen = url_len_nofrag(announce_url);
    if (ulen == 0) return PF_ERR_INVAL;
    size_t start = out->len;
    int rc = pf_buf_append(out, announce_url, ulen);
    if (!rc) rc = append_sep(out, announce_url, ulen);
    if (!rc) rc = pf_buf_append_str(out, "info_hash=");
    if (!rc) rc = pf_http_pct_encode(out, r->info_hash, 20);
    if (!rc) rc = pf_buf_append_str(out, "&peer_id=");
    if (!rc) rc = pf_http_pct_encode(out, r->peer_id, 20);
    if (!rc)
        rc = pf_buf_appendf(out,
                            "&port=%u&uploaded=%llu&downloaded=%llu&left=%llu"
                            "&compact=1&numwant=%lu&key=%08lx",
                            (unsigned)r->port, (unsigned long long)r->uploaded,
                            (unsigned long long)r->downloaded,
                            (unsigned long long)r->left, (unsigned long)r->numwant,
                            (unsigned long)r->key);
    if (!rc && events[r->event]) rc = pf_buf_appendf(out, "&event=%s", events[r->event]);
    if (!rc && r->trackerid && r->trackerid[0]) {
        rc = pf_buf_append_str(out, "&trackerid=");
        if (!rc) rc = pf_http_pct_encode(out, r->trackerid, strlen(r->trackerid));
    }
    if (!rc && r->token && r->token[0]) {
        rc = pf_buf_append_str(out, "&token=");
        if (!rc) rc = pf_http_pct_encode(out, r->token, strlen(r->token));
    }
    if (!rc) rc = pf_buf_nul(out);
    if (rc) out->len = start;
    return rc;
}

void pf_announce_resp_clear(pf_announce_resp *r)
{
    const pf_mem *mem = r->mem;
    pf__free(mem, r->peers);
    memset(r, 0, sizeof *r);
    r->mem = mem;
    r->complete = r->incomplete = -1;
}

/* Copies a STR into a fixed char array, truncating; NULs become '?'. */
static void copy_str(char *dst, size_t cap, const pf_ben *s)
{
    size_t n = s->v.s.len < cap - 1 ? s->v.s.len : cap - 1;
    for (size_t i = 0; i < n; i++) {
        char c = (char)s->v.s.p[i];
        dst[i] = c ? c : '?';
    }
    dst[n] = 0;
}

static int64_t get_int(const pf_ben *d, const char *key, int64_t dflt)
{
    const pf_ben *v = pf_ben_dict_get_type(d, key, PF_BEN_INT);
    return v ? v->v.i : dflt;
}

static uint32_t clamp_u32(int64_t v)
{
    if (v < 0) return 0;
    if (v > (int64_t)UINT32_MAX) return UINT32_MAX;
    return (uint32_t)v;
}

static void add_peer(pf_announce_resp *out, size_t cap, const pf_addr *a)
{
    if (out->num_peers < cap && a->port != 0) out->peers[out->num_peers++] = *a;
}

static void add_compact(pf_announce_resp *out, size_t cap, const pf_ben *s, int family)
{
    size_t rec = family == 4 ? 6 : 18, iplen = rec - 2;
    for (size_t off = 0; off + rec <= s->v.s.len; off += rec) {
        pf_addr a;
        memset(&a, 0, sizeof a);
        a.family = (uint8_t)family;
        memcpy(a.ip, s->v.s.p + off, iplen);
        a.port = pf_rd_be16(s->v.s.p + off + iplen);
        add_peer(out, cap, &a);
    }
}

static void add_dict_peer(pf_announce_resp *out, size_t cap, const pf_ben *d)
{
    if (d->type != PF_BEN_DICT) return;
    const pf_ben *ip = pf_ben_dict_get_type(d, "ip", PF_BEN_STR);
    const pf_ben *port = pf_ben_dict_get_type(d, "port", PF_BEN_INT);
    if (!ip || !port || port->v.i <= 0 || port->v.i > 65535) return;
    if (ip->v.s.len == 0 || ip->v.s.len > 45) return;
    char host[48], text[64];
    memcpy(host, ip->v.s.p, ip->v.s.len);
    host[ip->v.s.len] = 0;
    if (strlen(host) != ip->v.s.len) return;
    if (strchr(host, ':'))
        snprintf(text, sizeof text, "[%s]:%u", host, (unsigned)port->v.i);
    else
        snprintf(text, sizeof text, "%s:%u", host, (unsigned)port->v.i);
    pf_addr a;
    if (pf_addr_parse(text, &a) == 0) add_peer(out, cap, &a);
}

int pf_announce_resp_parse(const uint8_t *body, size_t len, const pf_mem *mem, pf_announce_resp *out)
{
    memset(out, 0, sizeof *out);
    out->mem = mem;
    out->complete = out->incomplete = -1;
    pf_ben_limits lim = {.max_depth = 8, .max_nodes = 200000,
                         .max_len = 4u << 20, .mem = mem};
    pf_ben_doc *doc = NULL;
    int rc = pf_bencode_parse(body, len, 1, &lim, &doc, NULL);
    if (rc == PF_ERR_NOMEM) return rc;
    if (rc) return PF_ERR_PARSE;
    const pf_ben *root = pf_ben_doc_root(doc);
    if (root->type != PF_BEN_DICT) {
        pf_ben_doc_free(doc);
        return PF_ERR_PARSE;
    }
    const pf_ben *v;
    if ((v = pf_ben_dict_get_type(root, "failure reason", PF_BEN_STR))) {
        copy_str(out->failure, sizeof out->failure, v);
        if (!out->failure[0]) snprintf(out->failure, sizeof out->failure, "(empty)");
        pf_ben_doc_free(doc);
        return 0;
    }
    if ((v = pf_ben_dict_get_type(root, "warning message", PF_BEN_STR)))
        copy_str(out->warning, sizeof out->warning, v);
    if ((v = pf_ben_dict_get_type(root, "tracker id", PF_BEN_STR)))
        copy_str(out->trackerid, sizeof out->trackerid, v);
    out->interval = clamp_u32(get_int(root, "interval", 0));
    out->min_interval = clamp_u32(get_int(root, "min interval", 0));
    int64_t c = get_int(root, "complete", -1), ic = get_int(root, "incomplete", -1);
    out->complete = c < -1 ? -1 : c;
    out->incomplete = ic < -1 ? -1 : ic;
    if ((v = pf_ben_dict_get_type(root, "peerflow", PF_BEN_DICT))) {
        out->p2p_off = get_int(v, "p2p", 1) == 0;
        out->takes_qoe = get_int(v, "qoe", 0) == 1;
        int64_t cap = get_int(v, "upload cap", 0);
        out->upload_cap = cap > 0 ? (uint64_t)cap : 0;
        const pf_ben *nets = pf_ben_dict_get_type(v, "local nets", PF_BEN_LIST);
        out->has_local_nets = nets != NULL;
        for (size_t i = 0; nets && i < nets->v.c.n && out->nlocal_nets < PF_ANNOUNCE_LOCAL_NETS; i++) {
            const pf_ben *e = &nets->v.c.items[i];
            if (e->type == PF_BEN_STR && e->v.s.len < 64 && !memchr(e->v.s.p, 0, e->v.s.len) &&
                pf__cidr_parse((const char *)e->v.s.p, e->v.s.len, &out->local_nets[out->nlocal_nets]) == 0)
                out->nlocal_nets++; /* one that does not parse is skipped */
        }
    }

    const pf_ben *peers = pf_ben_dict_get(root, "peers");
    const pf_ben *peers6 = pf_ben_dict_get_type(root, "peers6", PF_BEN_STR);
    if (peers && peers->type != PF_BEN_STR && peers->type != PF_BEN_LIST) {
        pf_ben_doc_free(doc);
        return PF_ERR_PARSE;
    }
    size_t want = 0;
    if (peers) want += peers->type == PF_BEN_STR ? peers->v.s.len / 6 : peers->v.c.n;
    if (peers6) want += peers6->v.s.len / 18;
    if (want > PF_ANNOUNCE_MAX_PEERS) want = PF_ANNOUNCE_MAX_PEERS;
    if (want) {
        out->peers = pf__calloc(mem, want, sizeof *out->peers);
        if (!out->peers) {
            pf_ben_doc_free(doc);
            return PF_ERR_NOMEM;
        }
    }
    if (peers && peers->type == PF_BEN_STR) {
        add_compact(out, want, peers, 4);
    } else if (peers) {
        for (size_t i = 0; i < peers->v.c.n && out->num_peers < want; i++)
            add_dict_peer(out, want, &peers->v.c.items[i]);
    }
    if (peers6) add_compact(out, want, peers6, 6);
    if (out->num_peers == 0) {
        pf__free(mem, out->peers);
        out->peers = NULL;
    }
    pf_ben_doc_free(doc);
    return 0;
}

/* announce_url with its last path component's "announce" replaced by
 * `what` (BEP 48's rule), appended to out from `start`.  0 or an error. */
static int sibling_url(pf_buf *out, const char *announce_url, const char *what)
{
    size_t ulen = url_len_nofrag(announce_url);
    const char *q = memchr(announce_url, '?', ulen);
    size_t plen = q ? (size_t)(q - announce_url) : ulen;
    /* The path starts after "scheme://authority". */
    const char *auth = NULL;
    for (size_t i = 0; i + 2 < plen; i++)
        if (announce_url[i] == ':' && announce_url[i + 1] == '/' && announce_url[i + 2] == '/') {
            auth = announce_url + i + 3;
            break;
        }
    if (!auth) return PF_ERR_INVAL;
    const char *path = memchr(auth, '/', plen - (size_t)(auth - announce_url));
    if (!path) return PF_ERR_UNSUPPORTED;
    const char *last = path;
    for (const char *p = path; p < announce_url + plen; p++)
        if (*p == '/') last = p;
    last++;
    size_t rest = plen - (size_t)(last - announce_url);
    if (rest < 8 || memcmp(last, "announce", 8) != 0) return PF_ERR_UNSUPPORTED;
    int rc = pf_buf_append(out, announce_url, (size_t)(last - announce_url));
    if (!rc) rc = pf_buf_append_str(out, what);
    if (!rc) rc = pf_buf_append(out, last + 8, ulen - (size_t)(last + 8 - announce_url));
    return rc;
}

int pf_tracker_qoe_url(pf_buf *out, const char *announce_url)
{
    if (!announce_url) return PF_ERR_INVAL;
    size_t start = out->len;
    int rc = sibling_url(out, announce_url, "qoe");
    if (!rc) rc = pf_buf_nul(out);
    if (rc) out->len = start;
    return rc;
}

int pf_scrape_url(pf_buf *out, const char *announce_url, const uint8_t (*hashes)[20],
                  size_t n)
{
    if (!announce_url || (n && !hashes)) return PF_ERR_INVAL;
    size_t start = out->len;
    int rc = sibling_url(out, announce_url, "scrape");
    if (rc) {
        out->len = start;
        return rc;
    }
    const char *sfx = (const char *)out->data + start;
    size_t slen = out->len - start;
    for (size_t i = 0; !rc && i < n; i++) {
        if (i == 0 && !memchr(sfx, '?', slen)) rc = pf_buf_append_u8(out, '?');
        else if (i == 0 && sfx[slen - 1] != '?' && sfx[slen - 1] != '&')
            rc = pf_buf_append_u8(out, '&');
        else if (i > 0) rc = pf_buf_append_u8(out, '&');
        if (!rc) rc = pf_buf_append_str(out, "info_hash=");
        if (!rc) rc = pf_http_pct_encode(out, hashes[i], 20);
        if (!rc) {
            sfx = (const char *)out->data + start;
            slen = out->len - start;
        }
    }
    if (!rc) rc = pf_buf_nul(out);
    if (rc) out->len = start;
    return rc;
}

int pf_scrape_resp_parse(const uint8_t *body, size_t len, pf_scrape_entry *out,
                         size_t max, size_t *n)
{
    *n = 0;
    pf_ben_limits lim = {.max_depth = 8, .max_nodes = 1000000, .max_len = 16u << 20};
    pf_ben_doc *doc = NULL;
    int rc = pf_bencode_parse(body, len, 1, &lim, &doc, NULL);
    if (rc == PF_ERR_NOMEM) return rc;
    if (rc) return PF_ERR_PARSE;
    const pf_ben *root = pf_ben_doc_root(doc);
    rc = 0;
    if (root->type != PF_BEN_DICT) {
        rc = PF_ERR_PARSE;
    } else if (pf_ben_dict_get_type(root, "failure reason", PF_BEN_STR)) {
        rc = PF_ERR_TRACKER;
    } else {
        const pf_ben *files = pf_ben_dict_get_type(root, "files", PF_BEN_DICT);
        if (!files) {
            rc = PF_ERR_PARSE;
        } else {
            for (size_t i = 0; i < files->v.c.n && *n < max; i++) {
                const pf_ben *k = &files->v.c.items[2 * i];
                const pf_ben *d = &files->v.c.items[2 * i + 1];
                if (k->v.s.len != 20 || d->type != PF_BEN_DICT) continue;
                pf_scrape_entry *e = &out[(*n)++];
                memcpy(e->info_hash, k->v.s.p, 20);
                e->complete = get_int(d, "complete", -1);
                e->downloaded = get_int(d, "downloaded", -1);
                e->incomplete = get_int(d, "incomplete", -1);
            }
        }
    }
    pf_ben_doc_free(doc);
    return rc;
}
