/* Internals shared by the libuv client's files (client.c, stream.c). */
#ifndef PF_NET_CLIENT_INTERNAL_H
#define PF_NET_CLIENT_INTERNAL_H

#include <uv.h>

#include "peerflow/session.h"
#include "core/codec/bitfield.h"
#include "core/util/addr.h"
#include "core/util/log.h"
#include "net/budget.h"
#include "net/http_client.h"
#include "net/piece_tags.h"
#include "net/tag_store.h"
#include "net/storage.h"
#include "peerflow/client.h"

#define PF__READ_BUF (1024 * 1024)

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

typedef struct pf_hjob pf_hjob;

typedef struct pf_work {
    uv_work_t req;
    pf_client *c;
    pf_client_torrent *ct;
    pf_job *job;
    struct pf_work *prev, *next; /* on pf_client.pool (a stop cancels the
                                    ones no thread has started) */
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
    pf__piece_tags tags; /* verify on read: tags of verified pieces, set
                            up by the first disk job (net/piece_tags.h) */
    int tags_ready;
    struct pf_stream *streams; /* open readers (stream.c) */
    struct pf__probe *probes;  /* per file media probe state (stream.c) */
    int checked;     /* the data on disk was verified (PF_EV_CHECKED): a
                        resume record may be written */
    int skips;       /* some file has priority 0 */
    int wanted_done; /* PF_CLIENT_COMPLETE sent for the wanted files */
    int removing;    /* pf_client_torrent_remove: PF_CLIENT_REMOVED next */
    uint64_t remove_started; /* uv_now() then */
};

/* A pf_client_post call waiting for the loop (a FIFO under post_lock). */
typedef struct pf__post {
    pf_client_post_fn fn;
    void *ud;
    struct pf__post *next;
} pf__post;
#define PF__MAX_POSTS 65536

/* One datagram of a send batch (net/udp.c). */
typedef struct pf__udp_dgram {
    pf_addr to;
    uint16_t len;
    uint8_t data[PF_MAX_DATAGRAM];
} pf__udp_dgram;

struct pf_client {
    pf_client_settings set;
    uv_loop_t *loop;    /* the application's, or own_loop */
    uv_loop_t own_loop; /* when set.loop was NULL */
    int owns_loop;
    pf_session *s;
    uv_tcp_t listener;
    int listening;
    int port;
    uv_timer_t tick; /* one-shot, at pf_session_next_timeout (client.c arm) */
    int tick_armed;
    uv_timer_t second;
    uv_timer_t stop_timer;
    uv_async_t post_async; /* wakes the loop for pf_client_post */
    uv_mutex_t post_lock;
    pf__post *post_head, *post_tail;
    uint32_t nposts;
    uint32_t handles;   /* the client's own handles initialised, not yet
                           closed (pf_client_free waits for 0) */
    uint32_t pool_works; /* threadpool jobs in flight (disk, stream reads) */
    int stop_done;      /* PF_CLIENT_STOPPED was emitted */
    uint32_t removing;  /* torrents being removed */
    int reaping;        /* inside removals_reap */
    int freeing;        /* inside pf_client_free */
    struct pf_hjob *hjobs; /* HTTP transfers of jobs (client.c) */
    pf_work *pool;         /* disk jobs on the threadpool (client.c) */
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
    /* The UDP socket (udp.c): datagrams of the session (BEP 15 trackers,
     * uTP), on the listen port. */
    uv_udp_t udp;
    int udp_open, udp_family;
    uint32_t udp_batch; /* datagrams in since the last pump */
    uint8_t *udp_buf;
    struct pf__udp_dgram *udp_out; /* a send batch (udp.c) */
    int udp_gso;                   /* the kernel takes UDP_SEGMENT (Linux) */
    /* Uploads on the viewer's terms (budget.c): switches, share, budget. */
    pf__upload up;
    /* The key of the torrents' piece tags (net/piece_tags.h): the key
     * file's (settings.tag_key_file: tags are then kept beside the resume
     * records, net/tag_store.h), else random, drawn at pf_client_new. */
    pf__tag_key tag_key;
    int tag_secret_ok;
    int tag_persist; /* tag_key is the key file's */
};

/* client.c */
uint64_t pf__client_now(pf_client *c);
void pf__client_pump(pf_client *c);
/* Aborts the HTTP transfers of ct's jobs (all torrents' if ct is NULL)
 * and reports those jobs done with PF_ERR_SHUTDOWN. */
void pf__client_cancel_http(pf_client *c, pf_client_torrent *ct);

/* udp.c */
int pf__udp_start(pf_client *c, const char *bind, int port);
void pf__udp_flush(pf_client *c); /* PF_EV_DATAGRAMS */
void pf__udp_close(pf_client *c);
void pf__udp_free(pf_client *c);
void pf__resolve_job(pf_client *c, pf_client_torrent *ct, pf_job *j);

/* stream.c */
void pf__stream_ready(pf_client_torrent *ct, uint32_t id);
void pf__streams_close_all(pf_client_torrent *ct);

/* Fast resume (resume.c): blocking; call from the loop at quiet moments. */
int pf__resume_save(pf_client_torrent *ct);
int pf__resume_load(pf_client_torrent *ct, pf_bitfield *have, const char **why);
/* After a fast resume from `have`: the tags saved beside the record, into
 * ct->tags (set up here), if the tag file holds (net/tag_store.h).
 * Returns the pieces restored, or a negative error with *why. */
int pf__resume_load_tags(pf_client_torrent *ct, const pf_bitfield *have, const char **why);

#endif
