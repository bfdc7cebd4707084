/* The swarm engine's internals: the session, its torrents and their
 * peers (session.c, torrent.c, peer.c, metadata.c, announce.c), shared
 * with the streaming scheduler (core/sched).  Not part of any API. */
#ifndef PF_CORE_SWARM_H
#define PF_CORE_SWARM_H

#include "core/codec/bitfield.h"
#include "core/codec/wire.h"
#include "core/util/log.h"
#include "core/utp/utp.h"
#include "core/tls/tls.h"
#include "core/sched/sched.h"
#include "peerflow/session.h"

enum pf__peer_state {
    PF_PS_CONNECTING = 1,
    PF_PS_HANDSHAKE, /* waiting for their handshake */
    PF_PS_ACTIVE,
    PF_PS_CLOSING    /* close requested; waiting for pf_peer_closed */
};

#define PF__UPQ 512 /* PIECE messages tracked per peer until written, at most */

typedef struct pf__req {
    uint32_t piece, begin, length;
    uint64_t time; /* when sent (ours) or received (theirs) */
} pf__req;

struct pf_peer {
    pf_source src; /* a peer is a free source of blocks (peer.c's ops) */
    pf_session *s;
    pf_torrent *t; /* NULL until an incoming peer's handshake names it */
    uint32_t id;   /* == src.id */
    uint32_t slot; /* index in t->peers */
    pf_addr addr;      /* its identity (with the port) */
    /* The endpoint it is known by for blame and bans: addr, or for an
     * incoming peer the listen port its extension handshake names. */
    pf_addr ep;
    uint8_t transport; /* pf_transport of this connection (ANY: not told) */
    /* uTP (utp_link.c): the connection, output the send buffer did not
     * take yet, and the flush's re-entry guard. */
    struct pf_utp_conn *utp;
    pf_buf utp_out;
    int utp_flushing;
    pf_peer *utp_dead_next;
    /* TLS (tls_link.c): the connection's filter between these bytes and
     * the wire, NULL for a plain one; tls_sniffed: an incoming
     * connection's first byte was looked at (0x16 starts TLS). */
    struct pf__tls_peer *tls;
    int tls_sniffed;
    void *ud;
    int outgoing;
    int local; /* inside the session's local networks (same ISP) */
    int state;
    int close_queued;
    pf_buf in;  /* bytes of an incomplete message */
    /* Payload elision: the PIECE message whose header came and whose
     * payload is still due (el_left bytes of el_len, counted). */
    uint32_t el_index, el_begin, el_len, el_left;
    int el_due;
    pf_buf out; /* bytes not yet taken by the caller */
    /* PIECE payloads to send from the read cache without a copy, spliced
     * into `out` (see pf_peer_take_output_zc); sp_bytes is their total. */
    pf_out_splice *sp;
    uint32_t nsp, cap_sp;
    size_t sp_bytes;
    size_t net_inflight; /* taken, not yet reported sent */
    int write_queued;
    int sent_handshake, got_handshake, sent_bitfield;
    int dup; /* its handshake named a peer we already have (or us) */
    uint8_t peer_id[20];
    uint8_t reserved[8];
    int fast, ext;
    pf_ext_handshake exth;
    int got_exth;
    int am_choking, am_interested, peer_choking, peer_interested;
    uint32_t interesting; /* pieces they have that we lack and want */
    pf_bitfield have;     /* valid once the torrent has metadata */
    int is_seed;
    /* Before metadata: what they told us, applied when it arrives. */
    uint8_t *raw_bf;
    size_t raw_bf_len;
    int raw_have_all;
    /* Our requests to them. */
    pf__req *reqs;
    uint32_t nreqs, cap_reqs;
    /* Their requests to us (FIFO). */
    pf__req *inq;
    uint32_t inq_head, inq_len, inq_cap;
    pf_rate up; /* src.down: what it sent us; src.uploaded: what we sent */
    uint64_t connected_at, last_recv, last_sent, last_block, unchoked_at;
    /* Idle peers (torrent.c: the choker's trials and who makes room):
     * when it last sent a message other than a keep-alive, its last
     * REQUEST, when PIECE data to it was last written (0: never), and
     * when it was last choked for asking nothing while unchoked, and
     * first (0: not since its last REQUEST). */
    uint64_t last_msg, last_request, last_upload, idle_choked_at, idle_since;
    uint64_t unsolicited; /* PIECE bytes it sent that we never asked for */
    /* Requests we withdrew (cancel, time-out, choke): a block already on
     * its way is still welcome.  A ring of piece << 32 | begin, grown on
     * demand (8 entries doubling) up to PF__WITHDRAWN (1 KiB). */
    uint64_t *withdrawn;
    uint32_t nwithdrawn, withdrawn_next, withdrawn_cap;
    uint32_t rejects;    /* REJECTs since its last block */
    uint64_t no_requests_until; /* it rejected much: ask it again then */
    uint32_t ss_depth;   /* slow-start pipeline depth: +1 per block in */
    /* Its rate while it had our requests (decaying sums over the last ten
     * or so blocks): what it can send us, where `down` is what it did. */
    double busy_bytes, busy_ns;
    int optimistic;
    uint64_t last_pex;   /* when we last sent it ut_pex (0 = never) */
    /* Upload accounting: bytes taken/written, PIECE payloads in flight. */
    uint64_t out_total, sent_total;
    /* PIECE messages queued, by where each ends in the stream: a ring of
     * upq_cap entries, grown on demand up to PF__UPQ (a peer we upload
     * little to holds a few, not 8 KiB of them). */
    struct pf__upq_entry {
        uint64_t end;
        uint32_t len;
    } *upq;
    uint32_t upq_head, upq_len, upq_cap;
    /* ut_metadata: the metadata piece we asked it for, or -1. */
    int64_t meta_req;
    uint64_t meta_req_time;
};

typedef struct pf__candidate {
    pf_addr addr;
    uint8_t transport; /* pf_transport to dial it by (ANY: the caller's choice) */
    uint8_t no_utp;    /* a uTP dial found nobody: TCP only from now on */
    uint64_t next_try;
    uint8_t fails;
    uint8_t connected;
    uint8_t seed; /* it had every piece: not dialled while we seed */
} pf__candidate;
/* Failures in a row after which a candidate is not dialled again
 * (torrent.c's dial_more; timers.c wakes for no such candidate). */
#define PF__DIAL_GIVE_UP 24

typedef struct pf__tracker {
    char *url;
    int tier;
    uint64_t next_announce;
    uint32_t interval_s;
    uint32_t fails;
    int busy;
    int started_sent;
    int completed_sent;
    int takes_qoe; /* its last reply said it takes QoE reports */
    char trackerid[64];
    /* BEP 15 (udp:// URLs): the address once resolved, the connection id
     * and when it was given (valid for a minute), the request in flight
     * (its transaction id, event, when to give up on it, tries so far). */
    int udp;
    int udp_state; /* PF__UDPT_IDLE, _RESOLVING, _CONNECTING, _ANNOUNCING */
    pf_addr udp_addr;
    uint64_t udp_conn_id, udp_conn_at;
    uint32_t udp_tid, udp_tries;
    int udp_event;
    uint64_t udp_deadline;
} pf__tracker;
enum { PF__UDPT_IDLE = 0, PF__UDPT_RESOLVING, PF__UDPT_CONNECTING, PF__UDPT_ANNOUNCING };

/* A verified piece's bytes, shared by the read cache and the output of
 * peers it is being sent to (zero-copy sends): freed with the last ref. */
typedef struct pf__pbuf {
    const pf_mem *mem; /* outlives the session: the caller's */
    uint8_t *data;
    uint32_t refs;
} pf__pbuf;
pf__pbuf *pf__pbuf_new(const pf_mem *m, uint8_t *data); /* takes data; one ref */
void pf__pbuf_unref(pf__pbuf *b);

typedef struct pf__cache_slot {
    uint32_t piece;
    pf__pbuf *pb;  /* NULL: free slot; the slot holds one ref */
    int loading;   /* a READ job is filling it */
    uint64_t used; /* LRU stamp */
    uint64_t used_at; /* when it was last asked for (ns; idle ones go) */
} pf__cache_slot;

struct pf_torrent {
    pf_session *s;
    uint32_t id;
    void *ud;
    pf_metainfo *mi;
    uint8_t info_hash[20];
    int state;
    int has_meta;
    pf_bitfield have;
    pf_picker picker;
    uint64_t have_bytes;
    pf_peer **peers;
    uint32_t npeers, cap_peers;
    pf__candidate *cands;
    uint32_t ncands, cap_cands;
    /* cands by address (cand_find): open addressing, 2 * cap_cands
     * slots, each a candidate's index + 1 or 0; NULL (out of memory): a
     * linear scan */
    uint16_t *cand_index;
    pf__tracker *trackers;
    uint32_t ntrackers;
    uint32_t cur_tracker; /* index within the current tier walk */
    uint64_t first_announce; /* when the first announce went out (0: not yet) */
    uint64_t tracker_answered; /* when an announce first came back (any outcome) */
    pf__cache_slot *cache;
    uint32_t ncache;
    uint64_t cache_clock;
    uint64_t uploaded, downloaded, wasted;
    uint64_t remote_up, remote_down; /* with peers outside the local nets */
    uint32_t hash_failures;
    pf_rate down, up;
    /* The download capacity seen (torrent.c, peak_tick): the best second
     * of download while the CDN fetched, else of any download, decaying
     * with a 2 min half-life (pf_torrent_stats.down_peak_rate). */
    double down_peak, peak_wall;
    uint64_t peak_bytes;
    double peak_dt;
    uint64_t recv_total;   /* every block in, waste included */
    int busy_on;           /* a costly fetch is in flight */
    uint64_t busy_since, busy_recv0, busy_ns, busy_bytes;
    uint64_t next_choke, next_optimistic;
    uint32_t optimistic_id;
    /* The pieces verified last (a ring; at == 0: empty), for the choker's
     * need slots (torrent.c). */
    struct pf__fresh {
        uint32_t piece;
        uint64_t at;
    } fresh[16];
    uint32_t fresh_next;
    uint32_t check_next, check_inflight, checked;
    uint32_t jobs_inflight;
    uint64_t write_backlog; /* bytes of verified pieces waiting for the disk */
    uint64_t max_backlog;   /* ...at most (settings, memory_limit) */
    int stopped;
    int closing; /* pf_torrent_stop or remove: no disk read starts, nothing is served */
    /* The operator's word from the tracker (core/tracker/policy.h): P2P
     * off (no peer dialled or accepted, the CDN serves) and an upload cap
     * (bytes/s, 0 none), as of the last announce reply. */
    int p2p_off;
    uint64_t op_upload_cap;
    /* An SSL torrent (tls_link.c): its trust, once the metadata is known,
     * and what the caller gave for it (applied then, kept for rebuilds);
     * refusals of its peers by reason. */
    struct pf_tls_ctx *tls;
    char *tls_cert, *tls_key, *tls_crl;
    uint64_t tls_refused[PF_TLS_NREFUSALS];
    /* QoE reports to the tracker (qoe_report.c): the stream's id ("" until
     * a file is read from), when it began, the next report. */
    char qoe_stream[17];
    uint64_t qoe_began, qoe_next;
    uint8_t qoe_inflight, qoe_final;
    int complete_fired;
    int started_complete; /* complete when its check or resume ended */
    /* Pieces that failed their hash when read back from disk (bit rot):
     * fetched again; when the storage cannot take the new copy (a seed's
     * read-only files) no longer wanted.  Allocated at the first one. */
    pf_bitfield rotten;
    /* A download completed in this session (became_complete): what BEP 3's
     * "completed" announce reports.  A torrent found complete by its check
     * or resume record never sends it. */
    int completed_here;
    /* Metadata download (magnet). */
    /* PEX addresses heard before the metadata: dialled once it says the
     * torrent is not private (BEP 27), forgotten if it is. */
#define PF__HELD_PEX 128
    pf_addr held_pex[PF__HELD_PEX];
    uint32_t nheld_pex;
    uint8_t *meta;
    size_t meta_size;
    uint8_t *meta_got; /* per 16 KiB metadata piece */
    uint32_t meta_pieces, meta_have;
    char *magnet_name;
    char *tracker_token; /* sent as token= in HTTP announces; NULL: none */
    /* Streaming (stream.c) and the CDN (webseed.c). */
    pf__webseed **ws; /* webseed.c's own list; each is in `sources` too */
    uint32_t nws;
    pf_source **sources; /* every source that is not a peer (source.c) */
    uint32_t nsources, cap_sources;
    pf__stream *streams;
    uint32_t nstreams, cap_streams;
    int startup_hold; /* peers wait: the CDN is filling a start-up prefix */
    uint64_t hold_released; /* when peers were last let go after a start-up */
    uint64_t swarm_seen;    /* when a peer was last active (stream.c) */
    int await_reader; /* peers wait: a player is about to open a stream */
    /* During a start-up: pieces [trial_start, trial_end) of the prefix are
     * on trial with peers (stream.c), each given what it can deliver by
     * trial_until (when the CDN alone would have the last of them);
     * trial_end == trial_start: none. */
    uint32_t trial_start, trial_end;
    uint64_t trial_until;
    pf__fileqoe *qoe; /* per file, allocated on first stream */
    pf__timeline *tl; /* the media timeline (timeline.c); NULL: none */
    pf__fetch_hint fetch_hint; /* of the costly fetch being handed over (sched.c) */
    pf__cmcd_torrent cmcd; /* CMCD session and content ids (webseed.c) */
    /* Payload accepted from costly sources (the CDNs) and free ones (the
     * peers), and the cost of the former (bytes x their cost). */
    uint64_t paid_downloaded, free_downloaded;
    double paid_cost;
    uint64_t departed_down, departed_up; /* peers that left, not itemised */
    struct pf__departed {
        pf_addr addr;
        char client[48];
        uint64_t down, up;
    } departed[32]; /* per-peer byte counts outlive the connection */
    uint32_t ndeparted;
    uint64_t next_sched;
    /* Endpoints that sent corrupt data (a ring); a host with
     * PF__BAN_HOST_AFTER of them in it is banned as a whole. */
    pf_addr banned[128];
    uint32_t nbanned, banned_next;
    /* Blocks of pieces that failed their hash with several senders: who
     * sent what (a digest per block).  When the piece later verifies, a
     * sender whose block differs from the good data is banned ("smart
     * ban"); the others are cleared.  A ring of PF__SUSPECTS, allocated at
     * the first failed piece (7 KiB a torrent that never saw one does not
     * hold). */
#define PF__SUSPECTS 128
    struct pf__suspect {
        uint32_t piece, block, src_id; /* src_id 0: settled */
        int has_addr;                  /* addr: the sender was a peer */
        pf_addr addr;
        uint8_t digest[20];
    } *suspects;
    uint32_t nsuspects, suspect_next;
    /* Blame outlives a connection (blame.c), as a peer list entry does in
     * libtorrent: the endpoints of peers that sent blocks and left (blocks
     * name their sender's connection: src ids), and what each such
     * endpoint was blamed for and proved, taken back by its next
     * connection (pf__blame_peer_known). */
    struct pf__gone {
        uint32_t id;
        pf_addr ep;
    } gone[32];
    uint32_t ngone, gone_next;
    struct pf__strikes {
        pf_addr ep;
        uint32_t hash_fails;
        uint64_t good_blocks;
        int parole;
    } strikes[16];
    uint32_t nstrikes;
    uint64_t cache_limit; /* bytes of verified data kept; 0 = all */
    uint32_t evicted;     /* pieces dropped to honour it */
    /* Pause, file priorities, removal (control.c); NULL until used. */
    struct pf__control *ctl;
};

typedef struct pf__event_q {
    pf_event *ev;
    size_t head, len, cap;
} pf__event_q;

#define PF__MAX_LOCAL_NETS 16
struct pf_session {
    pf_session_settings set;
    const pf_mem *mem; /* set.mem: NULL for the C library's */
    uint8_t peer_id[20];
    uint64_t rng;
    uint32_t next_id;
    uint32_t key;
    pf_torrent **torrents;
    uint32_t ntorrents, cap_torrents;
    pf_peer **pending; /* incoming peers before their handshake */
    uint32_t npending, cap_pending;
    pf__event_q q;
    uint64_t last_tick;
    /* Rate caps (bytes/s, 0 = none) as token buckets refilled each tick. */
    uint64_t up_limit, down_limit; /* in force: the smaller of the user's and the operator's */
    uint64_t up_user;              /* the user's (pf_session_set_rate_limits) */
    double up_tokens, down_tokens;
    /* Upload budget: PIECE payload bytes that may still be queued
     * (PF_UPLOAD_UNLIMITED: none), charged when a block is queued; and
     * payload reported written, every torrent's. */
    uint64_t up_budget;
    uint64_t uploaded;
    /* The viewer's own ISP (ALTO-style network map, given by the
     * operator): peers inside are preferred, bytes with the others
     * counted. */
    pf_net local_nets[PF__MAX_LOCAL_NETS];
    uint32_t nlocal_nets;
    /* The viewer's ISP's networks as its tracker's ALTO map has them
     * ("local nets" in an announce reply), beside the user's. */
    pf_net tracker_nets[PF__MAX_LOCAL_NETS];
    uint32_t ntracker_nets;
    double local_share; /* of the regular upload slots, local peers' first */
    /* TLS (tls_link.c): the router SNI picks SSL torrents by (made on
     * first use), and refusals by reason, every torrent's and none's. */
    struct pf_tls_ctx *tls_router;
    uint64_t tls_refused[PF_TLS_NREFUSALS];
    pf_logger log;
    uint64_t now; /* the latest time the caller passed in */
    /* uTP (utp_link.c): the context on our datagrams, and peers whose
     * connection ended, freed at the end of the entry point. */
    struct pf_utp_ctx *utp;
    pf_peer *utp_dead;
    /* Datagrams to send (datagram.c): a bounded ring, allocated on first
     * use; the counters (pf_session_datagram_stats). */
    struct pf__dgram *dgrams;
    uint32_t dg_head, dg_len, dg_cap;
    int dg_blocked; /* uTP held data back for a full queue: flush it when taken */
    uint64_t dg_received, dg_dropped_in, dg_dropped_out;
};

/* Endpoints: a peer is known by address AND port (households behind one
 * carrier-grade NAT share an address).  The one comparison every ban and
 * lookup goes through: widen it here when an endpoint also names its
 * transport. */
static inline int pf__endpoint_eq(const pf_addr *a, const pf_addr *b) { return pf_addr_eq(a, b); }
/* Same host: the address without the port. */
static inline int pf__host_eq(const pf_addr *a, const pf_addr *b)
{
    return pf_addr_same_host(a, b);
}
/* The endpoint that names p: the address we dialled, or for an incoming
 * connection the listen port it gave in its extension handshake (BEP 10
 * "p"), else its connection's own (ephemeral) port. */
static inline pf_addr pf__peer_endpoint(const pf_peer *p) { return p->ep; }

/* Bytes with this peer count as another ISP's (local networks are set and
 * it is outside them). */
static inline int pf__peer_remote(const pf_peer *p)
{
    return (p->s->nlocal_nets || p->s->ntracker_nets) && !p->local;
}

/* Token-bucket helpers: may n bytes go now?  Takes them if so. */
static inline int pf__take_tokens(uint64_t limit, double *tokens, uint32_t n)
{
    if (!limit) return 1;
    if (*tokens < (double)n) return 0;
    *tokens -= (double)n;
    return 1;
}

/* utp_link.c */
int pf__utp_init(pf_session *s);
void pf__utp_free(pf_session *s);
int pf__utp_dial(pf_peer *p, uint64_t now);
void pf__utp_flush_peer(pf_peer *p);
void pf__utp_close_peer(pf_peer *p);
void pf__utp_detach(pf_peer *p); /* forgets its connection (session free) */
void pf__utp_reap(pf_session *s);
/* 1 if a uTP datagram (taken or dropped as uTP), 0 if not uTP. */
int pf__utp_datagram(pf_session *s, const pf_addr *from, const uint8_t *data, size_t n, uint64_t now);
/* Deferred ACKs and data held for the queue go out. */
void pf__utp_flush(pf_session *s, uint64_t now);

/* tls_link.c: TLS peers of SSL torrents.  The public pf_peer_recv,
 * pf_peer_take_output_zc and pf_peer_sent carry ciphertext for a TLS peer
 * and pass plaintext to the _plain functions of peer.c. */
long pf__peer_recv_plain(pf_peer *p, const uint8_t *data, size_t n, uint64_t now);
size_t pf__peer_take_plain(pf_peer *p, pf_out *out);
void pf__peer_sent_plain(pf_peer *p, size_t n, uint64_t now);
/* o's bytes in one buffer (o released); PF_ERR_NOMEM. */
int pf__out_flatten(pf_session *s, pf_out *o, pf_buf *dst);
/* Output the caller may take now (plaintext, or a TLS peer's records). */
int pf__peer_has_output(const pf_peer *p);
/* A dial of an SSL torrent's peer becomes TLS (0, or PF_ERR_*: no
 * identity yet, memory); its connection is made: the ClientHello goes. */
int pf__tls_dial(pf_peer *p);
int pf__tls_connected(pf_peer *p);
/* An incoming peer's BitTorrent handshake named t: may it have it?  A
 * plain connection to an SSL torrent, or a TLS one whose SNI chose
 * another torrent, may not (counted and logged). */
int pf__tls_admits(pf_peer *p, pf_torrent *t);
void pf__tls_peer_free(pf_peer *p);
/* The torrent's metadata is known: an SSL torrent gets its context (with
 * the identity and CRL set so far); plain peers of it are closed. */
int pf__torrent_tls_init(pf_torrent *t, const pf_metainfo *mi);
void pf__torrent_tls_free(pf_torrent *t);
/* 0 for a plain torrent; for an SSL one, 1 once it can dial (identity). */
int pf__torrent_tls_blocked(const pf_torrent *t);
void pf__session_tls_free(pf_session *s);

/* datagram.c */
#define PF__DGRAM_QUEUE 256
/* Queues a datagram to `to`; 0, PF_ERR_LIMIT (queue full: dropped, as a
 * congested socket would) or PF_ERR_INVAL (too long). */
int pf__session_send_datagram(pf_session *s, const pf_addr *to, const uint8_t *data, size_t n);
/* A torrent's operator cap changed: the upload cap in force follows. */
void pf__session_caps_changed(pf_session *s);
/* The tracker's word on the viewer's own networks (replaces the last). */
void pf__session_set_tracker_nets(pf_session *s, const pf_net *nets, uint32_t n);
/* control.c: the operator's word from an announce reply (P2P off or on,
 * an upload cap or 0), obeyed at once. */
void pf__torrent_operator(pf_torrent *t, int p2p_off, uint64_t upload_cap, uint64_t now);
/* qoe_report.c: QoE reports to the tracker (core/tracker/qoe.h). */
#define PF__QOE_JOB_TAG 0xffffffffu /* a PF_JOB_HTTP that is a report */
void pf__qoe_report_tick(pf_torrent *t, uint64_t now);
void pf__qoe_report_final(pf_torrent *t, uint64_t now);
void pf__qoe_report_done(pf_torrent *t, pf_job *j, uint64_t now);
void pf__datagrams_free(pf_session *s);

/* session.c */
void pf__log(pf_session *s, pf_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int pf__emit(pf_session *s, const pf_event *ev);
pf_torrent *pf__session_find(pf_session *s, const uint8_t info_hash[20]);
int pf__session_is_local(const pf_session *s, const pf_addr *a);
void pf__pending_remove(pf_session *s, pf_peer *p);
/* Connections in all: every torrent's peers plus incoming ones not yet
 * attached to a torrent. */
uint32_t pf__session_connections(const pf_session *s);

/* peer.c */
pf_peer *pf__peer_new(pf_session *s, pf_torrent *t, const pf_addr *a, int outgoing, uint64_t now);
void pf__peer_free(pf_peer *p);
void pf__peer_close(pf_peer *p, const char *why);
void pf__peer_mark_write(pf_peer *p);
void pf__peer_send_have(pf_peer *p, uint32_t piece);
void pf__peer_set_choke(pf_peer *p, int choke);
void pf__peer_update_interest(pf_peer *p);
void pf__peer_fill_requests(pf_peer *p, uint64_t now);
void pf__peer_serve(pf_peer *p, uint64_t now);
void pf__peer_cancel_block(pf_peer *p, uint32_t piece, uint32_t begin);
/* Tells a peerflow peer (pf_cdn) we asked the CDN for these pieces. */
void pf__peer_send_cdn_notice(pf_peer *p, uint32_t first, uint32_t count);
/* What p can send us per second, to plan by (its rate while it had our
 * requests, or what it sent lately if more; at least a block a second). */
double pf__peer_plan_rate(const pf_peer *p, uint64_t now);
/* Cancels every request outstanding at p. */
void pf__peer_cancel_all(pf_peer *p);
/* Cancels its requests for piece that would arrive (in queue order, at its
 * measured rate) later than deadline_s from now, head_deadline_s for the
 * first two; returns how many.  trial: a start-up's peer (rate from one
 * block on). */
uint32_t pf__peer_cancel_late(pf_peer *p, uint32_t piece, double deadline_s, double head_deadline_s,
                              int trial, uint64_t now);
void pf__peer_drop_requests(pf_peer *p);
/* Takes back the PIECE messages queued for p that the caller has not
 * taken yet (their blocks refunded to the upload budget, REJECTed to a
 * BEP 6 peer); returns their payload bytes. */
size_t pf__peer_withdraw_pieces(pf_peer *p);
/* Uploads may go now: switched on and at least a block of budget left. */
static inline int pf__upload_allowed(const pf_session *s)
{
    return s->set.upload_enabled && s->up_budget >= PF_BLOCK_SIZE;
}
/* Forgets its queued requests for piece (we no longer have it): REJECTs
 * them (BEP 6), or chokes a peer without the Fast extension. */
void pf__peer_reject_piece(pf_peer *p, uint32_t piece);
int pf__peer_apply_metadata(pf_peer *p);
void pf__peer_tick(pf_peer *p, uint64_t now, double dt);

/* torrent.c */
pf_torrent *pf__torrent_new(pf_session *s, const uint8_t info_hash[20]);
void pf__torrent_free(pf_torrent *t);
/* Adds p to t; when t is full, the least useful peer (if any may go)
 * makes room; else PF_ERR_LIMIT. */
int pf__torrent_attach_peer(pf_torrent *t, pf_peer *p, uint64_t now);
/* The peer of t that may best make room for a newcomer, or NULL if none
 * may; *rank orders candidates across torrents (lower goes first). */
pf_peer *pf__torrent_least_useful(pf_torrent *t, uint64_t now, uint64_t *rank);
/* Peer turnover is for new hosts: a host that holds this many connections
 * (to the torrent, or to the session before its handshake) does not
 * displace anyone to get another.  One host's 500 squatting connections,
 * each dialled again as soon as it was closed, took every connection the
 * seed's upload trials freed, and a libtorrent leecher from another host
 * could not stay in (it_hostile_squat_interested). */
#define PF__ROOM_HOST_MAX 4
uint32_t pf__torrent_host_conns(const pf_torrent *t, const pf_addr *a);
/* Blame (blame.c).  A piece failed its hash / verified: its senders are
 * blamed or credited; a sender that left is answered for by its endpoint. */
void pf__blame_failed(pf_torrent *t, const pf_partial *pp, uint64_t now);
void pf__blame_verified(pf_torrent *t, const pf_partial *pp, uint64_t now);
/* p's endpoint is known (its handshake, or an incoming peer's listen
 * port): it takes back what a previous connection of it was blamed for. */
void pf__blame_peer_known(pf_torrent *t, pf_peer *p);
/* p leaves t: its endpoint answers for its blocks from now on. */
void pf__blame_peer_left(pf_torrent *t, const pf_peer *p);
/* The endpoint a is banned, or its host is (PF__BAN_HOST_AFTER of its
 * endpoints were). */
#define PF__BAN_HOST_AFTER 3
/* A candidate from a tracker, PEX or a magnet: dialled by any transport. */
void pf__torrent_add_addr(pf_torrent *t, const pf_addr *a, uint64_t now);
int pf__torrent_is_banned(const pf_torrent *t, const pf_addr *a);
/* Bans an endpoint: peer `id`'s if it is still here (pf__peer_endpoint),
 * else a; closes its peers (and its host's, once the host is banned),
 * forgets the blocks its connections (peer `id`, and those that left) sent
 * into pieces in progress, refuses it from now on. */
void pf__torrent_ban(pf_torrent *t, const pf_addr *a, uint32_t id, const char *why);
/* Removes p from t; now: when it went (a failed dial's retry is timed
 * from it). */
void pf__torrent_detach_peer(pf_torrent *t, pf_peer *p, uint64_t now);
void pf__torrent_tick(pf_torrent *t, uint64_t now, double dt);
pf_job *pf__job_new(pf_torrent *t, int type);
int pf__torrent_emit_job(pf_torrent *t, pf_job *j);
/* Read cache: returns the verified piece buffer or NULL; if NULL and
 * start_load, a READ job is started (when a slot is free).  The buffer is
 * the cache's: take a ref to keep it past the next cache call. */
pf__pbuf *pf__cache_get(pf_torrent *t, uint32_t piece, int start_load);
/* Drops a slot's buffer (the piece was evicted or failed to load). */
void pf__cache_slot_clear(pf__cache_slot *c);
/* A verified piece is no longer ours (it failed its hash when read back
 * from disk): its have-bit goes, it is no longer served (peers' queued
 * requests for it are rejected, or a peer without BEP 6 is choked: a
 * HAVE cannot be taken back), and it is fetched again. */
void pf__torrent_piece_lost(pf_torrent *t, uint32_t piece, uint64_t now);
/* A costly fetch may have started or ended: the link-rate estimate
 * (down_peak) counts time with one in flight. */
void pf__peak_mark(pf_torrent *t, uint64_t now);
int pf__torrent_set_metadata(pf_torrent *t, pf_metainfo *mi, uint64_t now);
void pf__torrent_choke(pf_torrent *t, uint64_t now);

/* metadata.c: BEP 9 on both sides */
void pf__meta_on_ext_handshake(pf_peer *p, uint64_t now);
int pf__meta_on_message(pf_peer *p, const uint8_t *body, size_t len, uint64_t now);
void pf__meta_tick(pf_torrent *t, uint64_t now);

/* torrent.c: a missing piece's priority went from 0 to wanted: the peers
 * holding it become interesting. */
void pf__piece_wanted(pf_torrent *t, uint32_t piece);
/* control.c */
/* Files' priority in one go (peers told once). */
int pf__files_set_prio(pf_torrent *t, const uint32_t *files, size_t n, int prio, uint64_t now);
/* Missing pieces [first, end) back to their files' priority (a window
 * that raised them moved away). */
void pf__prio_restore(pf_torrent *t, uint32_t first, uint32_t end, uint64_t now);
typedef struct pf__control pf__control;
void pf__control_free(pf_torrent *t);

/* announce.c */
void pf__announce_tick(pf_torrent *t, uint64_t now);
void pf__announce_done(pf_torrent *t, pf_job *j, uint64_t now);
void pf__announce_event(pf_torrent *t, int event, uint64_t now);
/* A datagram from a UDP tracker: 1 if one of s's trackers took it. */
int pf__announce_udp_in(pf_session *s, const pf_addr *from, const uint8_t *data, size_t n, uint64_t now);
/* A PF_JOB_RESOLVE for a UDP tracker came back. */
void pf__announce_resolved(pf_torrent *t, pf_job *j, uint64_t now);

#endif