/* The public, opaque views of a parsed .torrent and a magnet link
 * (include/peerflow/metainfo.h): accessors over the internal structs of
 * core/codec/metainfo.h and core/codec/magnet.h. */
#include <stdio.h>
#include <string.h>

#include "core/codec/magnet.h"
#include "core/codec/metainfo.h"
#include "core/util/mem.h"
#include "core/util/sha1.h"
#include "peerflow/metainfo.h"

const char *pf_metainfo_name(const pf_metainfo *mi) { return mi->name; }
const uint8_t *pf_metainfo_info_hash(const pf_metainfo *mi) { return mi->info_hash; }

char *pf_metainfo_info_hash_hex(const pf_metainfo *mi, char out[41])
{
    pf_hex_encode(mi->info_hash, 20, out);
    return out;
}

uint64_t pf_metainfo_total_length(const pf_metainfo *mi) { return mi->total_length; }
uint32_t pf_metainfo_piece_length(const pf_metainfo *mi) { return mi->piece_length; }
uint32_t pf_metainfo_num_pieces(const pf_metainfo *mi) { return mi->num_pieces; }
int pf_metainfo_is_multi_file(const pf_metainfo *mi) { return mi->multi_file; }
size_t pf_metainfo_num_files(const pf_metainfo *mi) { return mi->num_files; }

const char *pf_metainfo_file_path(const pf_metainfo *mi, size_t i)
{
    return i < mi->num_files ? mi->files[i].path : NULL;
}

uint64_t pf_metainfo_file_length(const pf_metainfo *mi, size_t i)
{
    return i < mi->num_files ? mi->files[i].length : 0;
}

uint64_t pf_metainfo_file_offset(const pf_metainfo *mi, size_t i)
{
    return i < mi->num_files ? mi->files[i].offset : 0;
}

int pf_metainfo_file_is_pad(const pf_metainfo *mi, size_t i)
{
    return i < mi->num_files ? mi->files[i].pad : 0;
}

size_t pf_metainfo_num_trackers(const pf_metainfo *mi) { return mi->num_trackers; }

const char *pf_metainfo_tracker_url(const pf_metainfo *mi, size_t i)
{
    return i < mi->num_trackers ? mi->trackers[i].url : NULL;
}

int pf_metainfo_tracker_tier(const pf_metainfo *mi, size_t i)
{
    return i < mi->num_trackers ? mi->trackers[i].tier : -1;
}

size_t pf_metainfo_num_webseeds(const pf_metainfo *mi) { return mi->num_webseeds; }

const char *pf_metainfo_webseed(const pf_metainfo *mi, size_t i)
{
    return i < mi->num_webseeds ? mi->webseeds[i] : NULL;
}

int pf_metainfo_is_private(const pf_metainfo *mi) { return mi->private_flag; }
const char *pf_metainfo_ssl_cert(const pf_metainfo *mi) { return mi->ssl_cert; }
const char *pf_metainfo_comment(const pf_metainfo *mi) { return mi->comment; }
const char *pf_metainfo_created_by(const pf_metainfo *mi) { return mi->created_by; }
int64_t pf_metainfo_creation_date(const pf_metainfo *mi) { return mi->creation_date; }

int pf_metainfo_magnet(const pf_metainfo *mi, char *out, size_t outlen)
{
    const char **tr = pf__calloc(mi->mem, mi->num_trackers + 1, sizeof *tr);
    if (!tr) return PF_ERR_NOMEM;
    for (size_t i = 0; i < mi->num_trackers; i++) tr[i] = mi->trackers[i].url;
    pf_buf b;
    pf_buf_init_mem(&b, mi->mem);
    int rc = pf_magnet_build(&b, mi->info_hash, mi->name, tr, mi->num_trackers);
    pf__free(mi->mem, tr);
    if (rc == 0) rc = pf_buf_nul(&b);
    if (rc == 0) {
        rc = b.len > (size_t)0x7fffffff ? PF_ERR_LIMIT : (int)b.len;
        if (outlen) snprintf(out, outlen, "%s", (const char *)b.data);
    }
    pf_buf_free(&b);
    return rc;
}

const char *pf_magnet_name(const pf_magnet *m) { return m->name; }
const uint8_t *pf_magnet_info_hash(const pf_magnet *m) { return m->info_hash; }

char *pf_magnet_info_hash_hex(const pf_magnet *m, char out[41])
{
    pf_hex_encode(m->info_hash, 20, out);
    return out;
}

size_t pf_magnet_num_trackers(const pf_magnet *m) { return m->num_trackers; }
const char *pf_magnet_tracker(const pf_magnet *m, size_t i)
{
    return i < m->num_trackers ? m->trackers[i] : NULL;
}
size_t pf_magnet_num_webseeds(const pf_magnet *m) { return m->num_webseeds; }
const char *pf_magnet_webseed(const pf_magnet *m, size_t i)
{
    return i < m->num_webseeds ? m->webseeds[i] : NULL;
}
size_t pf_magnet_num_peers(const pf_magnet *m) { return m->num_peers; }
const char *pf_magnet_peer(const pf_magnet *m, size_t i) { return i < m->num_peers ? m->peers[i] : NULL; }
