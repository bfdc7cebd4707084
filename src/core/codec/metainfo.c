/* .torrent metainfo: strict v1 parsing (BEP 3/12/19/27/47) and building. */
#include "core/codec/metainfo.h"

#include <stdlib.h>
#include <string.h>

#include "core/codec/bencode.h"
#include "core/util/sha1.h"
#include "core/util/mem.h"
#include "peerflow/peerflow.h"

#define MI_MAX_INPUT (16u << 20)
#define MI_MAX_FILES 100000
#define MI_MAX_PATH_DEPTH 64
#define MI_MIN_PIECE (16u << 10)
#define MI_MAX_PIECE (64u << 20)
#define MI_MAX_TOTAL ((uint64_t)1 << 50)
#define MI_MAX_SSL_CERT (64u << 10) /* a PEM root certificate */

/* ---- path safety ---- */

static int mi_component_ok(const uint8_t *p, size_t n)
{
    if (n == 0) return 0;
    if (n == 1 && p[0] == '.') return 0;
    if (n == 2 && p[0] == '.' && p[1] == '.') return 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] == '/' || p[i] == '\\' || p[i] == 0) return 0;
    return 1;
}

int pf_metainfo_check_path(const char *path)
{
    if (!path || !*path) return PF_ERR_UNSAFE_PATH;
    size_t depth = 0;
    const char *s = path;
    for (;;) {
        const char *slash = strchr(s, '/');
        size_t n = slash ? (size_t)(slash - s) : strlen(s);
        if (!mi_component_ok((const uint8_t *)s, n) || ++depth > MI_MAX_PATH_DEPTH)
            return PF_ERR_UNSAFE_PATH;
        if (!slash) return 0;
        s = slash + 1;
    }
}

/* ---- helpers ---- */

static char *mi_dup_str(const pf_ben *v, const pf_mem *mem)
{
    return v && v->type == PF_BEN_STR ? pf_ben_strdup(v, mem) : NULL;
}

static int mi_is_pow2(uint64_t v) { return v && (v & (v - 1)) == 0; }

pf_metainfo *pf_metainfo_ref(pf_metainfo *mi)
{
    if (mi) atomic_fetch_add(&mi->extra_refs, 1);
    return mi;
}

void pf_metainfo_free(pf_metainfo *mi)
{
    if (!mi) return;
    /* Not the last reference: one fewer.  (A CAS loop: two threads
     * dropping the last two must not both see 1.) */
    uint32_t r = atomic_load(&mi->extra_refs);
    while (r > 0)
        if (atomic_compare_exchange_weak(&mi->extra_refs, &r, r - 1)) return;
    pf__free(mi->mem, mi->name);
    pf__free(mi->mem, mi->piece_hashes);
    for (size_t i = 0; i < mi->num_files; i++) pf__free(mi->mem, mi->files[i].path);
    pf__free(mi->mem, mi->files);
    for (size_t i = 0; i < mi->num_trackers; i++) pf__free(mi->mem, mi->trackers[i].url);
    pf__free(mi->mem, mi->trackers);
    for (size_t i = 0; i < mi->num_webseeds; i++) pf__free(mi->mem, mi->webseeds[i]);
    pf__free(mi->mem, mi->webseeds);
    pf__free(mi->mem, mi->ssl_cert);
    pf__free(mi->mem, mi->comment);
    pf__free(mi->mem, mi->created_by);
    pf__free(mi->mem, mi->info_raw);
    const pf_mem *mem = mi->mem;
    pf__free(mem, mi);
}

/* Joins a `path` list into "a/b/c" after validating every component. */
static int mi_join_path(const pf_ben *list, const pf_mem *mem, char **out)
{
    if (!list || list->type != PF_BEN_LIST || list->v.c.n == 0) return PF_ERR_PARSE;
    if (list->v.c.n > MI_MAX_PATH_DEPTH) return PF_ERR_LIMIT;
    size_t total = 0;
    for (size_t i = 0; i < list->v.c.n; i++) {
        const pf_ben *c = &list->v.c.items[i];
        if (c->type != PF_BEN_STR) return PF_ERR_PARSE;
        if (!mi_component_ok(c->v.s.p, c->v.s.len)) return PF_ERR_UNSAFE_PATH;
        total += c->v.s.len + 1;
    }
    char *s = pf__malloc(mem, total);
    if (!s) return PF_ERR_NOMEM;
    size_t off = 0;
    for (size_t i = 0; i < list->v.c.n; i++) {
        const pf_ben *c = &list->v.c.items[i];
        if (i) s[off++] = '/';
        memcpy(s + off, c->v.s.p, c->v.s.len);
        off += c->v.s.len;
    }
    s[off] = 0;
    *out = s;
    return 0;
}

/* Path order with '/' below every other byte, so that everything under a
 * directory "a/" sorts directly after a file "a". */
static int mi_path_cmp(const void *a, const void *b)
{
    const unsigned char *x = *(const unsigned char *const *)a;
    const unsigned char *y = *(const unsigned char *const *)b;
    for (;; x++, y++) {
        unsigned cx = *x == '/' ? 1 : *x == 0 ? 0 : (unsigned)*x + 1;
        unsigned cy = *y == '/' ? 1 : *y == 0 ? 0 : (unsigned)*y + 1;
        if (cx != cy) return cx < cy ? -1 : 1;
        if (!cx) return 0;
    }
}

/* Rejects two non-pad files with the same path, or a file that is also
 * used as a directory ("a" and "a/b"). */
static int mi_check_collisions(const pf_metainfo *mi)
{
    const char **v = pf__malloc(mi->mem, (mi->num_files ? mi->num_files : 1) * sizeof *v);
    if (!v) return PF_ERR_NOMEM;
    size_t n = 0;
    for (size_t i = 0; i < mi->num_files; i++)
        if (!mi->files[i].pad) v[n++] = mi->files[i].path;
    qsort(v, n, sizeof *v, mi_path_cmp);
    int rc = 0;
    for (size_t i = 1; i < n && !rc; i++) {
        size_t k = strlen(v[i - 1]);
        if (strncmp(v[i - 1], v[i], k) == 0 && (v[i][k] == 0 || v[i][k] == '/'))
            rc = PF_ERR_UNSAFE_PATH;
    }
    pf__free(mi->mem, v);
    return rc;
}

/* ---- info dict ---- */

static int mi_parse_info(const pf_ben *info, pf_metainfo *mi)
{
    if (!info || info->type != PF_BEN_DICT) return PF_ERR_PARSE;
    const pf_ben *name = pf_ben_dict_get_type(info, "name", PF_BEN_STR);
    const pf_ben *plen = pf_ben_dict_get_type(info, "piece length", PF_BEN_INT);
    const pf_ben *pieces = pf_ben_dict_get_type(info, "pieces", PF_BEN_STR);
    const pf_ben *length = pf_ben_dict_get(info, "length");
    const pf_ben *files = pf_ben_dict_get(info, "files");
    if (!pieces) {
        const pf_ben *ver = pf_ben_dict_get_type(info, "meta version", PF_BEN_INT);
        if (ver && ver->v.i == 2) return PF_ERR_UNSUPPORTED; /* v2-only */
    }
    if (!name || !plen || !pieces) return PF_ERR_PARSE;
    if (!!length == !!files) return PF_ERR_PARSE; /* exactly one */
    if (!mi_component_ok(name->v.s.p, name->v.s.len)) return PF_ERR_UNSAFE_PATH;
    if (plen->v.i <= 0 || !mi_is_pow2((uint64_t)plen->v.i)) return PF_ERR_PARSE;
    if (plen->v.i < MI_MIN_PIECE || plen->v.i > MI_MAX_PIECE) return PF_ERR_LIMIT;
    mi->piece_length = (uint32_t)plen->v.i;
    if (!(mi->name = pf_ben_strdup(name, mi->mem))) return PF_ERR_NOMEM;

    const pf_ben *priv = pf_ben_dict_get_type(info, "private", PF_BEN_INT);
    mi->private_flag = priv && priv->v.i == 1;
    const pf_ben *ssl = pf_ben_dict_get_type(info, "ssl-cert", PF_BEN_STR);
    if (ssl) {
        if (ssl->v.s.len == 0 || ssl->v.s.len > MI_MAX_SSL_CERT || memchr(ssl->v.s.p, 0, ssl->v.s.len))
            return PF_ERR_PARSE;
        if (!(mi->ssl_cert = pf_ben_strdup(ssl, mi->mem))) return PF_ERR_NOMEM;
        mi->ssl_cert_len = ssl->v.s.len;
    }

    uint64_t total = 0;
    if (length) {
        if (length->type != PF_BEN_INT || length->v.i < 0) return PF_ERR_PARSE;
        if ((uint64_t)length->v.i >= MI_MAX_TOTAL) return PF_ERR_LIMIT;
        mi->multi_file = 0;
        if (!(mi->files = pf__calloc(mi->mem, 1, sizeof *mi->files))) return PF_ERR_NOMEM;
        mi->num_files = 1;
        if (!(mi->files[0].path = pf__strdup(mi->mem, mi->name))) return PF_ERR_NOMEM;
        mi->files[0].length = (uint64_t)length->v.i;
        total = mi->files[0].length;
    } else {
        if (files->type != PF_BEN_LIST || files->v.c.n == 0) return PF_ERR_PARSE;
        if (files->v.c.n > MI_MAX_FILES) return PF_ERR_LIMIT;
        mi->multi_file = 1;
        if (!(mi->files = pf__calloc(mi->mem, files->v.c.n, sizeof *mi->files))) return PF_ERR_NOMEM;
        for (size_t i = 0; i < files->v.c.n; i++) {
            const pf_ben *f = &files->v.c.items[i];
            if (f->type != PF_BEN_DICT) return PF_ERR_PARSE;
            const pf_ben *fl = pf_ben_dict_get_type(f, "length", PF_BEN_INT);
            if (!fl || fl->v.i < 0) return PF_ERR_PARSE;
            if ((uint64_t)fl->v.i >= MI_MAX_TOTAL) return PF_ERR_LIMIT;
            pf_file_entry *e = &mi->files[mi->num_files];
            int rc = mi_join_path(pf_ben_dict_get(f, "path"), mi->mem, &e->path);
            if (rc) return rc;
            mi->num_files++;
            e->length = (uint64_t)fl->v.i;
            e->offset = total;
            const pf_ben *attr = pf_ben_dict_get_type(f, "attr", PF_BEN_STR);
            e->pad = attr && attr->v.s.len && memchr(attr->v.s.p, 'p', attr->v.s.len);
            total += e->length;
            if (total >= MI_MAX_TOTAL) return PF_ERR_LIMIT;
        }
        int rc = mi_check_collisions(mi);
        if (rc) return rc;
    }
    if (total == 0) return PF_ERR_PARSE;
    if (total >= MI_MAX_TOTAL) return PF_ERR_LIMIT;
    mi->total_length = total;
    uint64_t np = (total + mi->piece_length - 1) / mi->piece_length;
    if (np > UINT32_MAX) return PF_ERR_LIMIT;
    if (pieces->v.s.len % 20 != 0 || pieces->v.s.len / 20 != np) return PF_ERR_PARSE;
    mi->num_pieces = (uint32_t)np;
    if (!(mi->piece_hashes = pf__malloc(mi->mem, pieces->v.s.len))) return PF_ERR_NOMEM;
    memcpy(mi->piece_hashes, pieces->v.s.p, pieces->v.s.len);

    if (!(mi->info_raw = pf__malloc(mi->mem, info->raw_len))) return PF_ERR_NOMEM;
    memcpy(mi->info_raw, info->raw, info->raw_len);
    mi->info_len = info->raw_len;
    return pf_sha1(info->raw, info->raw_len, mi->info_hash);
}

/* ---- trackers / web seeds ---- */

static int mi_add_tracker(pf_metainfo *mi, const pf_ben *s, int tier, size_t *cap)
{
    if (!s || s->type != PF_BEN_STR || s->v.s.len == 0) return 0;
    char *url = pf_ben_strdup(s, mi->mem);
    if (!url) return memchr(s->v.s.p, 0, s->v.s.len) ? 0 : PF_ERR_NOMEM;
    for (size_t i = 0; i < mi->num_trackers; i++) {
        if (strcmp(mi->trackers[i].url, url) == 0) {
            pf__free(mi->mem, url);
            return 0;
        }
    }
    if (mi->num_trackers == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        pf_tracker_url *t = pf__realloc(mi->mem, mi->trackers, nc * sizeof *t);
        if (!t) {
            pf__free(mi->mem, url);
            return PF_ERR_NOMEM;
        }
        mi->trackers = t;
        *cap = nc;
    }
    mi->trackers[mi->num_trackers].url = url;
    mi->trackers[mi->num_trackers].tier = tier;
    mi->num_trackers++;
    return 1;
}

static int mi_parse_trackers(const pf_ben *root, pf_metainfo *mi)
{
    size_t cap = 0;
    const pf_ben *al = pf_ben_dict_get_type(root, "announce-list", PF_BEN_LIST);
    int tier = 0;
    for (size_t t = 0; al && t < al->v.c.n; t++) {
        const pf_ben *tl = &al->v.c.items[t];
        if (tl->type != PF_BEN_LIST) continue;
        int added = 0;
        for (size_t i = 0; i < tl->v.c.n; i++) {
            int rc = mi_add_tracker(mi, &tl->v.c.items[i], tier, &cap);
            if (rc < 0) return rc;
            added += rc;
        }
        if (added) tier++; /* empty tiers do not consume a number */
    }
    if (mi->num_trackers == 0) {
        int rc = mi_add_tracker(mi, pf_ben_dict_get(root, "announce"), 0, &cap);
        if (rc < 0) return rc;
    }
    return 0;
}

static int mi_add_webseed(pf_metainfo *mi, const pf_ben *s, size_t *cap)
{
    if (s->type != PF_BEN_STR || s->v.s.len == 0) return 0;
    char *url = pf_ben_strdup(s, mi->mem);
    if (!url) return memchr(s->v.s.p, 0, s->v.s.len) ? 0 : PF_ERR_NOMEM;
    for (size_t i = 0; i < mi->num_webseeds; i++) {
        if (strcmp(mi->webseeds[i], url) == 0) {
            pf__free(mi->mem, url);
            return 0;
        }
    }
    if (mi->num_webseeds == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        char **w = pf__realloc(mi->mem, mi->webseeds, nc * sizeof *w);
        if (!w) {
            pf__free(mi->mem, url);
            return PF_ERR_NOMEM;
        }
        mi->webseeds = w;
        *cap = nc;
    }
    mi->webseeds[mi->num_webseeds++] = url;
    return 0;
}

static int mi_parse_webseeds(const pf_ben *root, pf_metainfo *mi)
{
    const pf_ben *ul = pf_ben_dict_get(root, "url-list");
    size_t cap = 0;
    if (!ul) return 0;
    if (ul->type == PF_BEN_STR) return mi_add_webseed(mi, ul, &cap);
    if (ul->type != PF_BEN_LIST) return 0;
    for (size_t i = 0; i < ul->v.c.n; i++) {
        int rc = mi_add_webseed(mi, &ul->v.c.items[i], &cap);
        if (rc) return rc;
    }
    return 0;
}

/* ---- public parse ---- */

static const pf_ben_limits mi_limits = {
    .max_depth = 32, .max_nodes = 8u << 20, .max_len = MI_MAX_INPUT};

int pf_metainfo_parse(const uint8_t *buf, size_t len, const pf_mem *mem, pf_metainfo **out)
{
    if (!out) return PF_ERR_INVAL;
    *out = NULL;
    if (len > MI_MAX_INPUT) return PF_ERR_LIMIT;
    pf_ben_doc *doc = NULL;
    pf_ben_limits lim = mi_limits;
    lim.mem = mem;
    int rc = pf_bencode_parse(buf, len, 0, &lim, &doc, NULL);
    if (rc) return rc;
    const pf_ben *root = pf_ben_doc_root(doc);
    pf_metainfo *mi = pf__calloc(mem, 1, sizeof *mi);
    if (mi) mi->mem = mem;
    if (!mi) rc = PF_ERR_NOMEM;
    else if (root->type != PF_BEN_DICT) rc = PF_ERR_PARSE;
    if (!rc) rc = mi_parse_info(pf_ben_dict_get(root, "info"), mi);
    if (!rc) rc = mi_parse_trackers(root, mi);
    if (!rc) rc = mi_parse_webseeds(root, mi);
    if (!rc) {
        const pf_ben *v = pf_ben_dict_get_type(root, "comment", PF_BEN_STR);
        if (v && !(mi->comment = mi_dup_str(v, mi->mem)) && !memchr(v->v.s.p, 0, v->v.s.len))
            rc = PF_ERR_NOMEM;
        v = pf_ben_dict_get_type(root, "created by", PF_BEN_STR);
        if (!rc && v && !(mi->created_by = mi_dup_str(v, mi->mem)) &&
            !memchr(v->v.s.p, 0, v->v.s.len))
            rc = PF_ERR_NOMEM;
        v = pf_ben_dict_get_type(root, "creation date", PF_BEN_INT);
        if (v) mi->creation_date = v->v.i;
    }
    pf_ben_doc_free(doc);
    if (rc) {
        pf_metainfo_free(mi);
        return rc;
    }
    *out = mi;
    return 0;
}

int pf_metainfo_from_info(const uint8_t *info, size_t len,
                          const uint8_t *expect_hash, const pf_mem *mem, pf_metainfo **out)
{
    if (!out) return PF_ERR_INVAL;
    *out = NULL;
    if (len > MI_MAX_INPUT) return PF_ERR_LIMIT;
    if (expect_hash) {
        uint8_t h[20];
        int rc = pf_sha1(info, len, h);
        if (rc) return rc;
        if (memcmp(h, expect_hash, 20) != 0) return PF_ERR_HASH;
    }
    pf_ben_doc *doc = NULL;
    pf_ben_limits lim = mi_limits;
    lim.mem = mem;
    int rc = pf_bencode_parse(info, len, 0, &lim, &doc, NULL);
    if (rc) return rc;
    pf_metainfo *mi = pf__calloc(mem, 1, sizeof *mi);
    if (mi) mi->mem = mem;
    rc = mi ? mi_parse_info(pf_ben_doc_root(doc), mi) : PF_ERR_NOMEM;
    pf_ben_doc_free(doc);
    if (rc) {
        pf_metainfo_free(mi);
        return rc;
    }
    *out = mi;
    return 0;
}

/* ---- queries ---- */

size_t pf_metainfo_file_at(const pf_metainfo *mi, uint64_t offset)
{
    if (!mi || offset >= mi->total_length || mi->num_files == 0) return mi ? mi->num_files : 0;
    /* Last file whose offset <= offset; empty files share their successor's
     * offset and so are never chosen. */
    size_t lo = 0, hi = mi->num_files;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (mi->files[mid].offset <= offset)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

uint32_t pf_metainfo_piece_size(const pf_metainfo *mi, uint32_t i)
{
    if (!mi || i >= mi->num_pieces) return 0;
    if (i + 1 < mi->num_pieces) return mi->piece_length;
    return (uint32_t)(mi->total_length - (uint64_t)i * mi->piece_length);
}

uint32_t pf_metainfo_auto_piece_length(uint64_t total)
{
    uint32_t pl = 16u << 10;
    while (pl < (16u << 20) && total / pl > 2000) pl <<= 1;
    return pl;
}

/* ---- building ---- */

static int mi_benc_path(pf_buf *b, const char *path)
{
    int rc = pf_benc_list_begin(b);
    const char *s = path;
    while (!rc) {
        const char *slash = strchr(s, '/');
        size_t n = slash ? (size_t)(slash - s) : strlen(s);
        rc = pf_benc_str(b, s, n);
        if (!slash) break;
        s = slash + 1;
    }
    return rc ? rc : pf_benc_end(b);
}

static int mi_build_info(const pf_create_params *p, pf_buf *b)
{
    int rc = pf_benc_dict_begin(b);
    if (p->multi_file) {
        rc = rc ? rc : pf_benc_cstr(b, "files");
        rc = rc ? rc : pf_benc_list_begin(b);
        for (size_t i = 0; i < p->num_files && !rc; i++) {
            const pf_file_entry *f = &p->files[i];
            rc = pf_benc_dict_begin(b);
            if (!rc && f->pad) {
                rc = pf_benc_cstr(b, "attr");
                rc = rc ? rc : pf_benc_cstr(b, "p");
            }
            rc = rc ? rc : pf_benc_cstr(b, "length");
            rc = rc ? rc : pf_benc_int(b, (int64_t)f->length);
            rc = rc ? rc : pf_benc_cstr(b, "path");
            rc = rc ? rc : mi_benc_path(b, f->path);
            rc = rc ? rc : pf_benc_end(b);
        }
        rc = rc ? rc : pf_benc_end(b);
    } else {
        rc = rc ? rc : pf_benc_cstr(b, "length");
        rc = rc ? rc : pf_benc_int(b, (int64_t)p->files[0].length);
    }
    rc = rc ? rc : pf_benc_cstr(b, "name");
    rc = rc ? rc : pf_benc_cstr(b, p->name);
    rc = rc ? rc : pf_benc_cstr(b, "piece length");
    rc = rc ? rc : pf_benc_int(b, p->piece_length);
    rc = rc ? rc : pf_benc_cstr(b, "pieces");
    rc = rc ? rc : pf_benc_str(b, p->piece_hashes, (size_t)p->num_pieces * 20);
    if (p->private_flag) {
        rc = rc ? rc : pf_benc_cstr(b, "private");
        rc = rc ? rc : pf_benc_int(b, 1);
    }
    if (p->ssl_cert) {
        rc = rc ? rc : pf_benc_cstr(b, "ssl-cert");
        rc = rc ? rc : pf_benc_cstr(b, p->ssl_cert);
    }
    return rc ? rc : pf_benc_end(b);
}

static int mi_build_check(const pf_create_params *p)
{
    if (!p->name || !mi_component_ok((const uint8_t *)p->name, strlen(p->name)))
        return PF_ERR_UNSAFE_PATH;
    if (!p->files || p->num_files == 0) return PF_ERR_INVAL;
    if (!p->multi_file && p->num_files != 1) return PF_ERR_INVAL;
    if (p->num_files > MI_MAX_FILES) return PF_ERR_LIMIT;
    if (!mi_is_pow2(p->piece_length) || p->piece_length < MI_MIN_PIECE ||
        p->piece_length > MI_MAX_PIECE)
        return PF_ERR_INVAL;
    uint64_t total = 0;
    for (size_t i = 0; i < p->num_files; i++) {
        if (p->multi_file && pf_metainfo_check_path(p->files[i].path) != 0)
            return PF_ERR_UNSAFE_PATH;
        if (p->files[i].length >= MI_MAX_TOTAL) return PF_ERR_LIMIT;
        total += p->files[i].length;
        if (total >= MI_MAX_TOTAL) return PF_ERR_LIMIT;
    }
    if (total == 0) return PF_ERR_INVAL;
    if (!p->piece_hashes ||
        p->num_pieces != (total + p->piece_length - 1) / p->piece_length)
        return PF_ERR_INVAL;
    return 0;
}

int pf_metainfo_build(const pf_create_params *p, pf_buf *out)
{
    if (!p || !out) return PF_ERR_INVAL;
    int rc = mi_build_check(p);
    if (rc) return rc;
    size_t start = out->len;
    rc = pf_benc_dict_begin(out);
    if (!rc && p->num_trackers > 0 && p->trackers[0]) {
        rc = pf_benc_cstr(out, "announce");
        rc = rc ? rc : pf_benc_cstr(out, p->trackers[0]);
    }
    if (!rc && p->num_trackers > 1) {
        rc = pf_benc_cstr(out, "announce-list");
        rc = rc ? rc : pf_benc_list_begin(out);
        for (size_t i = 0; i < p->num_trackers && !rc; i++) {
            if (!p->trackers[i]) continue;
            rc = pf_benc_list_begin(out);
            rc = rc ? rc : pf_benc_cstr(out, p->trackers[i]);
            rc = rc ? rc : pf_benc_end(out);
        }
        rc = rc ? rc : pf_benc_end(out);
    }
    if (!rc && p->comment) {
        rc = pf_benc_cstr(out, "comment");
        rc = rc ? rc : pf_benc_cstr(out, p->comment);
    }
    if (!rc && p->created_by) {
        rc = pf_benc_cstr(out, "created by");
        rc = rc ? rc : pf_benc_cstr(out, p->created_by);
    }
    if (!rc && p->creation_date) {
        rc = pf_benc_cstr(out, "creation date");
        rc = rc ? rc : pf_benc_int(out, p->creation_date);
    }
    rc = rc ? rc : pf_benc_cstr(out, "info");
    rc = rc ? rc : mi_build_info(p, out);
    if (!rc && p->num_webseeds > 0) {
        rc = pf_benc_cstr(out, "url-list");
        if (!rc && p->num_webseeds == 1) {
            rc = pf_benc_cstr(out, p->webseeds[0]);
        } else if (!rc) {
            rc = pf_benc_list_begin(out);
            for (size_t i = 0; i < p->num_webseeds && !rc; i++)
                rc = pf_benc_cstr(out, p->webseeds[i]);
            rc = rc ? rc : pf_benc_end(out);
        }
    }
    rc = rc ? rc : pf_benc_end(out);
    if (rc) out->len = start;
    return rc;
}
