/* Fuzz .torrent parsing.  Invariants on success: file offsets are
 * contiguous and sum to total_length, every path passes the safety check,
 * file_at agrees with the offsets, from_info on info_raw reproduces the
 * info-hash, and build(parse(x)) parses back to the same content and is a
 * fixed point of build -> parse -> build. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec/metainfo.h"
#include "core/util/sha1.h"
#include "peerflow/peerflow.h"

static void check_invariants(const pf_metainfo *mi)
{
    uint64_t off = 0;
    if (pf_metainfo_check_path(mi->name) != 0) abort();
    for (size_t i = 0; i < mi->num_files; i++) {
        const pf_file_entry *f = &mi->files[i];
        if (f->offset != off || pf_metainfo_check_path(f->path) != 0) abort();
        if (f->length) {
            if (pf_metainfo_file_at(mi, f->offset) != i) abort();
            if (pf_metainfo_file_at(mi, f->offset + f->length - 1) != i) abort();
        }
        off += f->length;
    }
    if (off != mi->total_length || off == 0) abort();
    if (pf_metainfo_file_at(mi, off) != mi->num_files) abort();
    uint64_t sum = 0;
    for (uint32_t i = 0; i < mi->num_pieces; i++) {
        uint32_t ps = pf_metainfo_piece_size(mi, i);
        if (ps == 0 || ps > mi->piece_length) abort();
        sum += ps;
    }
    if (sum != mi->total_length) abort();
    uint8_t h[20];
    pf_sha1(mi->info_raw, mi->info_len, h);
    if (memcmp(h, mi->info_hash, 20) != 0) abort();
}

static int rebuild(const pf_metainfo *mi, pf_buf *out)
{
    const char **tr = calloc(mi->num_trackers + 1, sizeof *tr);
    if (!tr) return PF_ERR_NOMEM;
    for (size_t i = 0; i < mi->num_trackers; i++) tr[i] = mi->trackers[i].url;
    pf_create_params p = {
        .name = mi->name, .files = mi->files, .num_files = mi->num_files,
        .multi_file = mi->multi_file, .piece_length = mi->piece_length,
        .piece_hashes = mi->piece_hashes, .num_pieces = mi->num_pieces,
        .trackers = tr, .num_trackers = mi->num_trackers,
        .webseeds = (const char *const *)mi->webseeds, .num_webseeds = mi->num_webseeds,
        .private_flag = mi->private_flag, .comment = mi->comment,
        .created_by = mi->created_by, .creation_date = mi->creation_date};
    int rc = pf_metainfo_build(&p, out);
    free(tr);
    return rc;
}

static void same_content(const pf_metainfo *a, const pf_metainfo *b)
{
    if (strcmp(a->name, b->name) || a->total_length != b->total_length ||
        a->num_files != b->num_files || a->num_pieces != b->num_pieces ||
        a->private_flag != b->private_flag || a->num_webseeds != b->num_webseeds ||
        a->num_trackers != b->num_trackers ||
        memcmp(a->piece_hashes, b->piece_hashes, (size_t)a->num_pieces * 20))
        abort();
    for (size_t i = 0; i < a->num_files; i++)
        if (strcmp(a->files[i].path, b->files[i].path) ||
            a->files[i].length != b->files[i].length || a->files[i].pad != b->files[i].pad)
            abort();
    for (size_t i = 0; i < a->num_trackers; i++)
        if (strcmp(a->trackers[i].url, b->trackers[i].url)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pf_metainfo *mi = NULL;
    int rc = pf_metainfo_parse(data, size, NULL, &mi);
    if (rc == 0) {
        check_invariants(mi);
        pf_metainfo *fi = NULL;
        if (pf_metainfo_from_info(mi->info_raw, mi->info_len, mi->info_hash, NULL, &fi) != 0)
            abort();
        if (memcmp(fi->info_hash, mi->info_hash, 20) != 0) abort();
        pf_metainfo_free(fi);

        pf_buf b1, b2;
        pf_buf_init(&b1);
        pf_buf_init(&b2);
        if (rebuild(mi, &b1) != 0) abort();
        pf_metainfo *mi2 = NULL;
        if (pf_metainfo_parse(b1.data, b1.len, NULL, &mi2) != 0) abort();
        check_invariants(mi2);
        same_content(mi, mi2);
        if (rebuild(mi2, &b2) != 0) abort();
        if (b1.len != b2.len || memcmp(b1.data, b2.data, b1.len) != 0) abort();
        pf_metainfo_free(mi2);
        pf_buf_free(&b1);
        pf_buf_free(&b2);
        pf_metainfo_free(mi);
    } else if (mi != NULL) {
        abort();
    }
    /* The same bytes as a bare info dict (the BEP 9 path). */
    rc = pf_metainfo_from_info(data, size, NULL, NULL, &mi);
    if (rc == 0) {
        check_invariants(mi);
        if (mi->info_len != size || memcmp(mi->info_raw, data, size) != 0) abort();
        pf_metainfo_free(mi);
    }
    return 0;
}
