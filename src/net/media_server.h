/* The local media server's internal side: the public API is
 * include/peerflow/media_server.h (this header includes it, so code built
 * against the old internal header keeps compiling). */
#ifndef PF_NET_MEDIA_SERVER_H
#define PF_NET_MEDIA_SERVER_H

#include "net/http_server.h"
#include "peerflow/media_server.h"

/* The HTTP layer's own counters. */
void pf_media_server_http_stats(const pf_media_server *ms, pf_http_server_stats *out);

#endif
