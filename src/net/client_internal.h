/* Internals shared by the libuv client's files (client.c, stream.c). */
#ifndef PF_NET_CLIENT_INTERNAL_H
#define PF_NET_CLIENT_INTERNAL_H

#include <uv.h>

#include "peerflow/session.h"
#include "core/util/log.h"
#include "net/http_client.h"
#include "net/storage.h"
#include "peerflow/client.h"

#define PF__READ_BUF (1024 * 1024)
#define PF__MAX_TORRENT_FILE (16 * 1024 * 1024)

typedef struct pf_conn {
    uv_tcp_t tcp;
    pf_client *c;
    pf_peer *peer; /* NULL once reported closed */
    int closing;
} pf_conn;

typedef struct pf_wreq {
    uv_write_t req;
    pf_conn *conn;
    pf_out out; /* headers + PIECE payloads spliced from the read cache */
} pf_wreq;

typedef struct pf_work {
    uv_work_t req;
    pf_client *c;
    pf_client_torrent *ct;
    pf_job *job;
} pf_work;

struct pf_client_torrent {
    pf_client *c;
    pf_torrent *t;
    pf_storage *st;
    char *dir;
    char name[128];
    uint32_t works; /* threadpool jobs in flight */
    uv_mutex_t write_lock; /* one writer per torrent: concurrent pwrites to
                              one file only contend on its inode lock */
    struct pf_stream *streams; /* open readers (stream.c) */
    struct pf__probe *probes;  /* per file media probe state (stream.c) */
};

struct pf_client {
    pf_client_settings set;
    uv_loop_t loop;
    pf_session *s;
    uv_tcp_t listener;
    int listening;
    int port;
    uv_timer_t tick;
    uv_timer_t second;
    uv_timer_t stop_timer;
    uv_signal_t sigint, sigterm;
    pf_http_client *http;
    pf_client_torrent **ts;
    uint32_t nts;
    pf_conn **conns; /* all live connections, for shutdown */
    uint32_t nconns, cap_conns;
    int stopping;
    uint64_t stop_started; /* uv_now() at pf_client_stop */
    uint8_t *rbuf; /* read buffer shared by all connections */
    uint64_t trim_moved; /* bytes downloaded at the last second's tick */
    pf_logger log;
    uint32_t works;
};

/* client.c */
uint64_t pf__client_now(pf_client *c);
void pf__client_pump(pf_client *c);

/* stream.c */
void pf__stream_ready(pf_client_torrent *ct, uint32_t id);
void pf__streams_close_all(pf_client_torrent *ct);

/* Fast resume (resume.c): blocking; call from the loop at quiet moments. */
int pf__resume_save(pf_client_torrent *ct);
int pf__resume_load(pf_client_torrent *ct, pf_bitfield *have, const char **why);

#endif
