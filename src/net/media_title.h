/* The title a player plays through the local media server (HLS, DASH):
 * its manifests read from the torrent like any file (so verified), parsed
 * (core/media/manifest.h), and handed to the engine as its media timeline
 * (pf_client_torrent_set_media).  Loaded once, from the first manifest a
 * player asks for: the master playlist (then every media playlist it
 * names), an MPD, or a lone media playlist. */
#ifndef PF_NET_MEDIA_TITLE_H
#define PF_NET_MEDIA_TITLE_H

#include <stddef.h>
#include <stdint.h>

#include "peerflow/client.h"

typedef struct ms_title ms_title;

typedef enum { MS_TITLE_IDLE = 0, MS_TITLE_LOADING, MS_TITLE_READY, MS_TITLE_FAILED } ms_title_state;

ms_title *ms_title_new(pf_client_torrent *t);
/* Pending reads are dropped. */
void ms_title_free(ms_title *ti);
/* 1 if the file (by path) is an HLS playlist or a DASH MPD. */
int ms_title_is_manifest(const char *path);
/* A player asked for manifest `file`: loads the title from it unless one
 * is loading or loaded (a failed load is tried again from another one). */
void ms_title_kick(ms_title *ti, uint32_t file);
/* Its state, and why it failed (a manifest's own error, with its line). */
ms_title_state ms_title_get_state(const ms_title *ti, const char **why);
/* The file whose torrent path is path (decoded, '/'-separated), or -1
 * (also before the metadata is known). */
int64_t ms_title_file(ms_title *ti, const char *path);
/* 1 if the title is loaded and file is a media segment of a track with
 * another rendition of its kind (what an adaptive player times). */
int ms_title_abr_segment(const ms_title *ti, uint32_t file);

#endif
