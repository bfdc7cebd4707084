/* Fuzz the bencode parser.  Invariants: a successful parse re-encodes to
 * exactly the input (canonical form); every raw span lies in the input;
 * dict lookups find every key; a prefix parse agrees with a full parse. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec/bencode.h"
#include "peerflow/peerflow.h"

static void reencode(const pf_ben *v, pf_buf *b, const uint8_t *base, size_t size)
{
    if (v->raw < base || v->raw_len > size || (size_t)(v->raw - base) > size - v->raw_len)
        abort();
    switch (v->type) {
    case PF_BEN_INT:
        pf_benc_int(b, v->v.i);
        break;
    case PF_BEN_STR:
        pf_benc_str(b, v->v.s.p, v->v.s.len);
        break;
    case PF_BEN_LIST:
        pf_benc_list_begin(b);
        for (size_t i = 0; i < v->v.c.n; i++) reencode(&v->v.c.items[i], b, base, size);
        pf_benc_end(b);
        break;
    case PF_BEN_DICT:
        pf_benc_dict_begin(b);
        for (size_t i = 0; i < v->v.c.n; i++) {
            const pf_ben *k = &v->v.c.items[2 * i];
            if (k->type != PF_BEN_STR) abort();
            reencode(k, b, base, size);
            reencode(&v->v.c.items[2 * i + 1], b, base, size);
            /* Lookup by key must find this very value (keys without NUL). */
            if (!memchr(k->v.s.p, 0, k->v.s.len)) {
                char *ks = pf_ben_strdup(k, NULL);
                if (ks && pf_ben_dict_get(v, ks) != &v->v.c.items[2 * i + 1]) abort();
                free(ks);
            }
        }
        pf_benc_end(b);
        break;
    default:
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pf_ben_limits lim = {.max_depth = 64, .max_nodes = 100000, .max_len = 1 << 20};
    pf_ben_doc *doc = NULL;
    int rc = pf_bencode_parse(data, size, 0, &lim, &doc, NULL);
    if (rc == 0) {
        pf_buf b;
        pf_buf_init(&b);
        const pf_ben *root = pf_ben_doc_root(doc);
        if (root->raw != data || root->raw_len != size) abort();
        reencode(root, &b, data, size);
        if (b.len != size || (size && memcmp(b.data, data, size) != 0)) abort();
        pf_buf_free(&b);
        pf_ben_doc_free(doc);
    } else if (rc != PF_ERR_PARSE && rc != PF_ERR_LIMIT) {
        abort();
    }
    /* Trailing mode: the consumed prefix must parse on its own. */
    size_t used = 0;
    rc = pf_bencode_parse(data, size, 1, &lim, &doc, &used);
    if (rc == 0) {
        pf_ben_doc_free(doc);
        if (used == 0 || used > size) abort();
        if (pf_bencode_parse(data, used, 0, &lim, &doc, NULL) != 0) abort();
        pf_ben_doc_free(doc);
    }
    return 0;
}
