/* Fast-resume records (see resume.h for the format and trust rule). */
#include <string.h>

#include "core/codec/bencode.h"
#include "core/codec/resume.h"
#include "peerflow/peerflow.h"

static int64_t stamp_to_int(uint64_t v) { return v == UINT64_MAX ? -1 : (int64_t)(v & INT64_MAX); }

int pf_resume_encode(pf_buf *out, const uint8_t info_hash[20], const pf_bitfield *have,
                     const uint64_t *stamps, size_t nfiles)
{
    if (!out || !info_hash || !have || (!stamps && nfiles)) return PF_ERR_INVAL;
    int rc = pf_benc_dict_begin(out);
    if (!rc) rc = pf_benc_cstr(out, "files");
    if (!rc) rc = pf_benc_list_begin(out);
    for (size_t i = 0; !rc && i < 2 * nfiles; i++) rc = pf_benc_int(out, stamp_to_int(stamps[i]));
    if (!rc) rc = pf_benc_end(out);
    if (!rc) rc = pf_benc_cstr(out, "info-hash");
    if (!rc) rc = pf_benc_str(out, info_hash, 20);
    if (!rc) rc = pf_benc_cstr(out, "pieces");
    if (!rc) rc = pf_benc_str(out, have->bits, pf_bitfield_bytes(have->nbits));
    if (!rc) rc = pf_benc_cstr(out, "version");
    if (!rc) rc = pf_benc_int(out, 1);
    if (!rc) rc = pf_benc_end(out);
    return rc;
}

int pf_resume_parse(const uint8_t *buf, size_t len, const uint8_t info_hash[20],
                    const uint64_t *stamps, size_t nfiles, pf_bitfield *have, const char **why)
{
    static const char *dummy;
    if (!why) why = &dummy;
    *why = "malformed";
    pf_ben_limits lim = {.max_depth = 3, .max_nodes = 16 + 2 * nfiles, .max_len = 64u << 20};
    pf_ben_doc *doc = NULL;
    int rc = pf_bencode_parse(buf, len, 0, &lim, &doc, NULL);
    if (rc != 0) return rc == PF_ERR_NOMEM ? rc : PF_ERR_PARSE;
    const pf_ben *root = pf_ben_doc_root(doc);
    const pf_ben *ver = pf_ben_dict_get_type(root, "version", PF_BEN_INT);
    const pf_ben *ih = pf_ben_dict_get_type(root, "info-hash", PF_BEN_STR);
    const pf_ben *pieces = pf_ben_dict_get_type(root, "pieces", PF_BEN_STR);
    const pf_ben *files = pf_ben_dict_get_type(root, "files", PF_BEN_LIST);
    rc = PF_ERR_PARSE;
    /* Exactly the four keys we write: the record is canonical. */
    if (!ver || ver->v.i != 1 || !ih || ih->v.s.len != 20 || !pieces || !files || root->v.c.n != 4)
        goto out;
    rc = PF_ERR_INVAL;
    if (memcmp(ih->v.s.p, info_hash, 20) != 0) {
        *why = "another torrent";
        goto out;
    }
    if (pieces->v.s.len != pf_bitfield_bytes(have->nbits) || files->v.c.n != 2 * nfiles) {
        *why = "another shape";
        goto out;
    }
    for (size_t i = 0; i < 2 * nfiles; i++) {
        const pf_ben *v = &files->v.c.items[i];
        if (v->type != PF_BEN_INT) {
            rc = PF_ERR_PARSE;
            goto out;
        }
        if (v->v.i != stamp_to_int(stamps[i])) {
            rc = PF_ERR_EXISTS;
            *why = "files changed since it was written";
            goto out;
        }
    }
    pf_bitfield tmp;
    if (pf_bitfield_init(&tmp, have->nbits) != 0) {
        rc = PF_ERR_NOMEM;
        goto out;
    }
    if (pf_bitfield_load(&tmp, pieces->v.s.p, pieces->v.s.len) != 0) {
        pf_bitfield_free(&tmp);
        rc = PF_ERR_PARSE;
        goto out;
    }
    pf_bitfield_free(have);
    *have = tmp;
    *why = "ok";
    rc = 0;
out:
    pf_ben_doc_free(doc);
    return rc;
}
