/* The protocol engine, sans-I/O.
 *
 * A pf_session holds torrents; each torrent holds peers.  The caller (the
 * libuv client in src/net, a test with a fake clock, a fuzzer or a
 * simulator) owns sockets, files and the clock:
 *   - bytes a peer sent us go in through pf_peer_recv();
 *   - bytes for a peer come out of pf_peer_take_output();
 *   - time is a uint64_t in nanoseconds passed into every call that needs
 *     it, and pf_session_tick() is called at pf_session_next_timeout();
 *   - everything the engine wants done outside (dial a peer, close one,
 *     read/verify/write a piece, fetch a tracker URL) is a pf_event, polled
 *     with pf_session_next_event(); results come back through
 *     pf_peer_connected(), pf_peer_closed() and pf_torrent_job_done().
 * Pointers to peers and jobs handed out in events stay valid until the
 * caller reports pf_peer_closed() / pf_torrent_job_done(). */
#ifndef PEERFLOW_SESSION_H
#define PEERFLOW_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "peerflow/metainfo.h"
#include "peerflow/peerflow.h"

#ifdef __cplusplus
extern "C" {
#ifdef __cplusplus
}
#endif
#endif

#define PF_NS_PER_SEC 1000000000ULL
#define PF_NS_PER_MS 1000000ULL

typedef struct pf_session pf_session;
typedef struct pf_torrent pf_torrent;
typedef struct pf_peer pf_peer;

/* Part of pf_session_settings, in its middle: it never grows (a stream
 * setting added later goes at the end of pf_session_settings). */
typedef struct pf_stream_settings {
    double urgent_s;    /* media seconds ahead of a reader the CDN guards (4) */
    double startup_s;   /* start-up / after-seek prefix from the CDN (4) */
    double prefetch_s;  /* media seconds ahead peers fetch in order (60) */
    double critical_s;  /* a block due within this races on the CDN (1) */
    double default_bitrate; /* bytes/s until known (500,000) */
} pf_stream_settings;

/* Payload elision (docs/API.md, "Payload elision"): a simulator of many
 * sessions in one process moves PIECE payloads, web seed bodies and disk
 * data as byte counts, not bytes.  With elide set:
 *   - the payload of a PIECE message comes in through
 *     pf_peer_recv_payload() (a count) or as bytes through pf_peer_recv()
 *     (ignored: only their number counts), right after its header;
 *   - pf_peer_take_output_zc() gives PIECE payloads as splices with
 *     data == NULL (their length counts); pf_peer_take_output() and TLS
 *     write zeros in their place;
 *   - a web seed's body goes to pf_torrent_job_data() as data == NULL;
 *   - PF_JOB_READ and PF_JOB_WRITE carry no buffer (buf NULL);
 *   - no piece is hashed: verify gives the verdict on a piece once all its
 *     blocks are in (1 good, 0 bad: blamed and fetched again as after a
 *     failed SHA-1; NULL: every piece is good).  Called on the session's
 *     thread, inside the call that delivered the last block;
 *   - pf_torrent_read() returns PF_ERR_UNSUPPORTED (there are no bytes).
 * Smart ban (comparing a failed piece's blocks with the good copy) needs
 * the bytes and is off; strikes and parole still work. */
typedef struct pf_payload_hooks {
    int elide;
    int (*verify)(void *ud, const pf_torrent *t, uint32_t piece);
    void *ud;
} pf_payload_hooks;

/* Grows like pf_client_settings: new fields are appended and default to
 * what their zero means; pf_session_settings_default() records the size
 * of the struct the caller was built with, so a caller built against an
 * older header keeps working with a newer library (the fields it does not
 * know get their defaults).  Fill with pf_session_settings_default(), then
 * set fields. */
typedef struct pf_session_settings {
    size_t size;                /* set by pf_session_settings_default() */
    uint8_t peer_id[20];        /* all zero: derived from rng_seed */
    uint64_t rng_seed;          /* deterministic runs; 0 = fixed default */
    uint16_t listen_port;       /* announced to trackers and peers */
    uint32_t max_peers;         /* connections per torrent (default 50) */
    uint32_t max_connections;   /* connections in all, torrents and incoming
                                   ones still in their handshake (200) */
    uint32_t max_half_open;     /* incoming connections before their
                                   handshake names a torrent (32) */
    uint32_t handshake_timeout_s; /* close a peer whose handshake has not
                                   completed after this (default 20) */
    uint32_t max_send_buffer;   /* bytes of PIECE data queued for one peer,
                                   not yet written (default 4 MiB) */
    uint32_t upload_slots;      /* unchoked peers per torrent (default 8) */
    int upload_enabled;         /* 0: never unchoke anyone (default 1) */
    uint32_t cache_pieces;      /* read cache, in pieces (default 16) */
    uint32_t max_partials;      /* pieces in progress at once (default 32) */
    uint32_t max_queue_out;     /* max requests we keep outstanding to one
                                   peer (default 512) */
    uint32_t max_queue_in;      /* requests we accept queued from one peer
                                   (default 1024; our "reqq") */
    uint32_t request_timeout_s; /* re-route a block after this (default 20) */
    uint32_t max_write_backlog; /* bytes of verified pieces waiting for the
                                   disk before requests pause (16 MiB) */
    pf_stream_settings stream;
    pf_log_fn log;              /* may be NULL */
    void *log_ud;
    pf_log_level log_level;
    /* Every allocation of the session and its torrents, peers and jobs
     * goes through mem (NULL: the C library's).  Borrowed: it must
     * outlive the session and any pf_out taken from it. */
    const pf_mem *mem;
    /* Bytes of piece buffers one torrent may hold: pieces in progress (at
     * most half of it), the read cache (a quarter) and verified pieces
     * waiting for the disk (a quarter); 0 = no limit (32 pieces in
     * progress, 16 cached, 16 MiB of write backlog).  A TV's 16 MiB keeps
     * a stream going with 1 MiB pieces.  Cached pieces nobody asked for in
     * 30 s are let go either way. */
    uint64_t memory_limit;
    /* Transports peers are reached by (PF_TRANSPORTS_*; 0 = TCP only).
     * uTP (BEP 29, with LEDBAT: uploads that yield to the household's own
     * traffic) runs inside the session over its datagrams: the caller only
     * moves those.  A candidate of no stated transport is dialled by every
     * one enabled at once and the first to finish its handshake is kept;
     * with prefer_utp a uTP connection replaces a TCP one to the same
     * peer. */
    uint32_t transports;
    int prefer_utp;
    uint32_t utp_target_delay_us; /* LEDBAT's target queueing delay; 0 = 100 ms */
    uint32_t qoe_report_ms;       /* a stream's QoE report to its HTTP tracker
                                     (POST .../qoe) this often and when it
                                     stops; 0 = every 60 s;
                                     PF_QOE_REPORT_OFF: never */
    /* CMCD (CTA-5004) on every web seed GET: the reader's deadline,
     * buffer, start-up, starvation, the object's type and bitrate, the
     * web seed's measured throughput, a session id (docs/API.md, "CMCD
     * and CMSD").  PF_CMCD_QUERY (0, the default): a CMCD= query
     * argument; PF_CMCD_HEADERS: the four CMCD-* request headers;
     * PF_CMCD_OFF: none. */
    uint32_t cmcd;
    /* Payload elision, for a simulator (docs/SIM.md): zero (the default)
     * changes nothing.  See pf_payload_hooks. */
    pf_payload_hooks payload;
} pf_session_settings;
#define PF_CMCD_QUERY 0u
#define PF_CMCD_HEADERS 1u
#define PF_CMCD_OFF 2u
#define PF_TRANSPORTS_TCP (1u << PF_TRANSPORT_TCP)
#define PF_TRANSPORTS_UTP (1u << PF_TRANSPORT_UTP)

/* The defaults in the first `size` bytes of s (size = the caller's
 * sizeof; use the pf_session_settings_default() wrapper). */
PF_EXTERN void pf_session_settings_init(pf_session_settings *s, size_t size);
static inline void pf_session_settings_default(pf_session_settings *s) { pf_session_settings_init(s, sizeof *s); }
/* A session with settings s (NULL: the defaults); fields past s->size
 * get their defaults.  0, PF_ERR_INVAL (s->size not set: settings not
 * filled by pf_session_settings_default), PF_ERR_NOMEM. */
PF_EXTERN int pf_session_new(const pf_session_settings *s, pf_session **out);
/* Frees everything.  The caller must have closed its sockets first; peers
 * still open and jobs still queued as events (not taken) are freed too.
 * A job the caller took (PF_EV_JOB) is the caller's until it reports it
 * with pf_torrent_job_done (any result, e.g. PF_ERR_SHUTDOWN): report
 * every such job before this call, or it leaks. */
PF_EXTERN void pf_session_free(pf_session *s);
PF_EXTERN const uint8_t *pf_session_peer_id(const pf_session *s);

/* ---- torrents ---------------------------------------------------------- */

/* Adds a torrent; on success the session owns mi.  PF_ERR_EXISTS if the
 * info-hash is already present.  The torrent starts in CHECKING: the
 * caller opens storage, then calls pf_torrent_check() (or
 * pf_torrent_skip_check() for new empty storage). */
PF_EXTERN int pf_session_add_torrent(pf_session *s, pf_metainfo *mi, pf_torrent **out);
/* Adds a torrent known only by a magnet link (METADATA state); trackers and
 * x.pe peers from the link are used (the peers are dialled at once, at
 * `now`).  PF_EV_METADATA fires once the info dict is fetched and
 * verified. */
PF_EXTERN int pf_session_add_magnet(pf_session *s, const pf_magnet *m, uint64_t now, pf_torrent **out);

PF_EXTERN const pf_metainfo *pf_torrent_metainfo(const pf_torrent *t); /* NULL until known */
PF_EXTERN const uint8_t *pf_torrent_info_hash(const pf_torrent *t);
PF_EXTERN int pf_torrent_state(const pf_torrent *t);
/* The verified pieces as a BitTorrent wire-order bitfield (bit 0 is the
 * high bit of byte 0), *npieces of them; NULL before metadata.  Valid
 * until the next call into the session. */
PF_EXTERN const uint8_t *pf_torrent_have(const pf_torrent *t, uint32_t *npieces);
PF_EXTERN int pf_torrent_have_piece(const pf_torrent *t, uint32_t piece);
PF_EXTERN void pf_torrent_set_ud(pf_torrent *t, void *ud);
PF_EXTERN void *pf_torrent_ud(const pf_torrent *t);

/* Hash every piece already on disk (emits PF_JOB_HASH jobs). */
PF_EXTERN void pf_torrent_check(pf_torrent *t, uint64_t now);
/* Storage is known to be empty: start downloading at once. */
PF_EXTERN void pf_torrent_skip_check(pf_torrent *t, uint64_t now);
/* Instead of a check: the pieces set in `have` (validated fast-resume
 * data, see core/resume.h) are taken as verified, the rest as missing.
 * Returns 0, or PF_ERR_INVAL if have's size does not match. */
PF_EXTERN int pf_torrent_resume(pf_torrent *t, const uint8_t *have, uint32_t npieces, uint64_t now);
PF_EXTERN int pf_torrent_add_tracker(pf_torrent *t, const char *url, int tier);
PF_EXTERN void pf_torrent_clear_trackers(pf_torrent *t);
/* A private tracker's subscriber token (peerflow/token.h), sent as token=
 * in every HTTP announce of this torrent (copied; NULL or "": none).
 * Never logged.  0 or PF_ERR_NOMEM. */
PF_EXTERN int pf_torrent_set_tracker_token(pf_torrent *t, const char *token);
/* SSL torrents (libtorrent's: the info dict's "ssl-cert" is the
 * operator's root certificate).  Every peer connection is TLS 1.3 with a
 * certificate on both sides: signed by that root, its DNS name (or CN)
 * the torrent's name exactly or "*", not expired, not in the revocation
 * list.  Until our certificate and key (PEM) are set the torrent neither
 * dials nor accepts.  A magnet's torrent keeps them until its metadata
 * says whether it is an SSL torrent.  0, PF_ERR_INVAL (unreadable, the key
 * does not match, the certificate is not the root's or not for this
 * torrent), PF_ERR_UNSUPPORTED (not an SSL torrent), PF_ERR_NOMEM. */
PF_EXTERN int pf_torrent_set_tls_identity(pf_torrent *t, const char *cert_pem, const char *key_pem);
/* The operator's revocation list (PEM CRLs signed by the root; NULL or ""
 * none), checked for every new connection.  Replaces the last one; a bad
 * one (PF_ERR_INVAL) or one past its nextUpdate (PF_ERR_TIMEOUT: it would
 * refuse every peer) is refused and the last stays. */
PF_EXTERN int pf_torrent_set_tls_crl(pf_torrent *t, const char *crl_pem);
/* 1 for an SSL torrent (known once its metadata is). */
PF_EXTERN int pf_torrent_is_ssl(const pf_torrent *t);
/* A candidate peer to dial (from a tracker, PEX, the user), by the
 * endpoint's transport (PF_TRANSPORT_ANY: the caller chooses when it gets
 * the PF_EV_CONNECT). */
PF_EXTERN void pf_torrent_add_peer(pf_torrent *t, const pf_endpoint *ep, uint64_t now);
/* Announces "stopped" and stops dialing; peers stay until closed. */
PF_EXTERN void pf_torrent_stop(pf_torrent *t, uint64_t now);

PF_EXTERN void pf_torrent_get_stats(const pf_torrent *t, pf_torrent_stats *st);

/* ---- controlling a torrent: pause, which files, removal ------------------ */
/* ---- pause -------------------------------------------------------------
 * Paused: every peer is closed (PF_EV_CLOSE), no peer is dialled or
 * accepted, nothing is requested or uploaded, the trackers get one
 * "stopped" announce and no other, web seed transfers are cancelled
 * (PF_EV_JOB_CANCEL) and no new one starts, so readers wait.  Jobs already
 * out (disk writes, a check in progress) complete as usual.  Resumed:
 * "started" is announced and the known peers are dialled again at the next
 * tick.  Returns 0, or PF_ERR_SHUTDOWN for a torrent being removed. */
PF_EXTERN int pf_torrent_set_paused(pf_torrent *t, int paused, uint64_t now);
PF_EXTERN int pf_torrent_paused(const pf_torrent *t);

/* ---- file priorities ---------------------------------------------------
 * 0 = skip the file, 1 = normal (every file's default), up to
 * PF_FILE_PRIO_MAX = fetched sooner.  A piece is fetched at the highest
 * priority of the files it overlaps (a piece shared with a wanted file is
 * fetched even if the other file is skipped; BEP 47 pad files do not
 * count).  A reader (pf_torrent_stream_open) of a skipped file still gets
 * what it reads.  Peers' interest is recomputed at once.  Returns 0,
 * PF_ERR_INVAL (metadata not known yet, prio out of range) or
 * PF_ERR_NOTFOUND (no such file). */
#define PF_FILE_PRIO_MAX 7
PF_EXTERN int pf_torrent_set_file_priority(pf_torrent *t, uint32_t file, int prio, uint64_t now);
/* The file's priority, or PF_ERR_INVAL / PF_ERR_NOTFOUND. */
PF_EXTERN int pf_torrent_file_priority(const pf_torrent *t, uint32_t file);
/* Pieces of wanted files (priority > 0) not verified yet: 0 means every
 * wanted file is complete.  UINT32_MAX while the metadata is unknown. */
PF_EXTERN uint32_t pf_torrent_wanted_left(const pf_torrent *t);

/* ---- removal, in two steps (as a peer's close) ---------------------------
 * pf_torrent_remove: the torrent stops at once (no announce: call
 * pf_torrent_stop first for a "stopped" one), closes every peer
 * (PF_EV_CLOSE), cancels its web seed transfers (PF_EV_JOB_CANCEL), starts
 * no job and takes no new peer.  The caller closes the torrent's readers
 * (pf_torrent_stream_close), handles the events and reports the jobs still
 * out (pf_torrent_job_done) and the peers closed (pf_peer_closed).  Once
 * pf_torrent_pending() is 0, pf_session_free_torrent frees it: its pointer
 * and its jobs' are invalid afterwards, and events still queued that name
 * it are dropped (a PF_EV_CLOSE for one of its peers is still delivered,
 * with ev.torrent NULL).  Idempotent. */
PF_EXTERN void pf_torrent_remove(pf_torrent *t, uint64_t now);
/* Peers not yet reported closed plus jobs not yet reported done. */
PF_EXTERN uint32_t pf_torrent_pending(const pf_torrent *t);
/* Returns 0 (freed), PF_ERR_EAGAIN (pf_torrent_pending() is not 0) or
 * PF_ERR_NOTFOUND (not s's). */
PF_EXTERN int pf_session_free_torrent(pf_session *s, pf_torrent *t);

/* ---- peers --------------------------------------------------------------- */
/* An incoming connection (any stream transport: TCP, uTP...); its torrent
 * is known after its handshake.  NULL: refused (limits), close it. */
PF_EXTERN pf_peer *pf_session_accept(pf_session *s, const pf_endpoint *remote, uint64_t now);
/* Dial succeeded (peer came from a PF_EV_CONNECT). */
PF_EXTERN void pf_peer_connected(pf_peer *p, uint64_t now);
/* Bytes from the socket.  Returns n (all consumed) or a negative pf_err:
 * the caller then closes the socket and calls pf_peer_closed(). */
PF_EXTERN long pf_peer_recv(pf_peer *p, const uint8_t *data, size_t n, uint64_t now);
/* Payload elision only (pf_payload_hooks.elide): n payload bytes of the
 * PIECE message whose header came last through pf_peer_recv arrived, as
 * a count.  Returns n, or a negative pf_err: PF_ERR_UNSUPPORTED in a
 * session without elide (or on a TLS connection), PF_ERR_PROTO if no
 * PIECE payload is due or n is more than is left of it; the caller then
 * closes the socket and calls pf_peer_closed(). */
PF_EXTERN long pf_peer_recv_payload(pf_peer *p, size_t n, uint64_t now);
/* Moves all pending output into dst (dst must be empty or freed: it is
 * overwritten).  Returns the byte count; 0 if nothing to send. */
PF_EXTERN size_t pf_peer_take_output(pf_peer *p, pf_buf *dst);
/* Zero-copy output: the bytes to send are buf's unread bytes with each
 * splice's data inserted, in order, after `at` of them (PIECE payloads
 * pointing into the engine's read cache, not copied).  The splices stay
 * valid until pf_out_release(), even after the peer or session is gone
 * (so a socket write may complete later).  Same counting as
 * pf_peer_take_output: `total` bytes, reported by pf_peer_sent as they
 * are written. */
typedef struct pf_out_splice {
    size_t at;
    const uint8_t *data;
    size_t len;
    void *ref; /* engine-owned */
} pf_out_splice;
typedef struct pf_out {
    pf_buf buf;
    pf_out_splice *sp;
    size_t nsp;
    size_t total;
} pf_out;
PF_EXTERN size_t pf_peer_take_output_zc(pf_peer *p, pf_out *out);
PF_EXTERN void pf_out_release(pf_out *out);
/* The caller finished writing n bytes previously taken. */
PF_EXTERN void pf_peer_sent(pf_peer *p, size_t n, uint64_t now);
/* The socket is gone (closed by either side or failed to connect).  The
 * engine frees the peer; the pointer is invalid afterwards. */
PF_EXTERN void pf_peer_closed(pf_peer *p, uint64_t now);
PF_EXTERN void pf_peer_set_ud(pf_peer *p, void *ud);
PF_EXTERN void *pf_peer_ud(const pf_peer *p);
PF_EXTERN const pf_addr *pf_peer_addr(const pf_peer *p);
/* The peer's address and the transport of this connection. */
PF_EXTERN void pf_peer_endpoint(const pf_peer *p, pf_endpoint *out);

/* ---- jobs: work the caller does off the event loop ---------------------- */
enum pf_job_type {
    PF_JOB_READ = 1, /* read len bytes at offset into buf: one whole piece,
                        whose SHA-1 is in expect.  The caller may check it
                        off the loop (verified = 1 if it matches, result
                        PF_ERR_HASH if not); else the engine checks it */
    PF_JOB_WRITE,    /* unless verified, SHA-1 of buf must equal expect;
                        then write it */
    PF_JOB_HASH,     /* read the piece at offset/len, compare with expect */
    PF_JOB_HTTP,     /* GET url; fill status/body.  With buf: POST
                        buf[0, len) to url instead, as
                        application/x-www-form-urlencoded (a QoE report) */
    PF_JOB_WEBSEED,  /* GET url with Range range_start/range_len; feed the
                        body to pf_torrent_job_data as it arrives */
    PF_JOB_DISCARD,  /* free the disk space of offset/len (cache limit) */
    PF_JOB_RESOLVE   /* look up url ("host:port"): fill addrs/naddrs */
};
typedef struct pf_job {
    int type;
    pf_torrent *torrent;
    uint32_t piece;
    uint64_t offset;
    uint32_t len;
    uint8_t *buf;       /* READ: destination (len bytes); WRITE: data;
                           HTTP: a POST's body, or NULL */
    uint8_t expect[20]; /* READ, WRITE, HASH */
    int verified;       /* WRITE: the engine already checked the hash;
                           READ: the caller checked it (set by the caller) */
    char *url;          /* HTTP, WEBSEED */
    uint64_t range_start, range_len; /* WEBSEED */
    void *io;           /* the caller's handle for the transfer, if any */
    /* Filled by the caller before pf_torrent_job_done: */
    int result;         /* 0, PF_ERR_HASH, PF_ERR_IO, PF_ERR_NET... */
    long status;        /* HTTP status */
    const uint8_t *body; /* HTTP body, the caller's: borrowed for the
                           pf_torrent_job_done call only */
    size_t body_len;
    pf_addr addrs[4];   /* RESOLVE: the host's addresses (port set) */
    uint32_t naddrs;
    /* engine-private */
    uint32_t tag;
    struct pf_job *next;
    /* Appended.  WEBSEED: request header lines to send besides the usual
     * ones ("Name: value" lines, each ending in CRLF; the CMCD-* headers),
     * or NULL.  Engine-owned (it lives and dies with url). */
    char *headers;
} pf_job;
/* Reports a finished job; the engine takes ownership and frees it. */
PF_EXTERN void pf_torrent_job_done(pf_torrent *t, pf_job *j, uint64_t now);
/* Body bytes of a WEBSEED job as they arrive.  Returns 0 to continue, or a
 * negative pf_err: the caller aborts the transfer and then reports
 * pf_torrent_job_done.  With payload elision data may be NULL (n counts
 * the bytes, any data is ignored); without it a NULL data with n > 0 is
 * PF_ERR_INVAL. */
PF_EXTERN int pf_torrent_job_data(pf_torrent *t, pf_job *j, const uint8_t *data, size_t n, uint64_t now);
/* The header block of a WEBSEED or HTTP job's final response (after any
 * redirect: "Name: value" lines, CRLF or LF; the status line may be
 * there), borrowed for the call, before its first body byte or its
 * pf_torrent_job_done.  Optional: a web seed reads the CDN's CMSD
 * (CTA-5006) from it (pf_source_stats.cmsd_*).  0, or PF_ERR_INVAL for a
 * job of another type. */
PF_EXTERN int pf_torrent_job_headers(pf_torrent *t, pf_job *j, const char *headers, size_t n, uint64_t now);

/* ---- web seeds and streaming ------------------------------------------- */
/* Adds a BEP 19 web seed (the CDN).  Torrents also take their url-list. */
PF_EXTERN int pf_torrent_add_webseed(pf_torrent *t, const char *url, double cost);
/* The CMCD content id (cid) its web seed requests carry (copied; NULL or
 * "": the info-hash in hex, the default).  0, or PF_ERR_INVAL (over 64
 * characters, or not printable ASCII). */
PF_EXTERN int pf_torrent_set_content_id(pf_torrent *t, const char *cid);


/* Opens a reader of file `file` at `offset`; *id names it.  PF_ERR_NOTFOUND
 * for a bad file, PF_ERR_INVAL before metadata. */
PF_EXTERN int pf_torrent_stream_open(pf_torrent *t, uint32_t file, uint64_t offset, uint64_t now,
                           uint32_t *id);
/* Verified bytes available at file offset (at most max): > 0 to read now
 * from storage; 0 means the reader now waits, and PF_EV_STREAM_READY
 * (ev.err = id) fires when it should ask again; < 0 error (PF_ERR_RANGE). */
PF_EXTERN long pf_torrent_stream_avail(pf_torrent *t, uint32_t id, uint64_t offset, size_t max,
                             uint64_t now);
/* n bytes at file offset were handed to the reader. */
PF_EXTERN void pf_torrent_stream_served(pf_torrent *t, uint32_t id, uint64_t offset, size_t n,
                              uint64_t now);
PF_EXTERN void pf_torrent_stream_close(pf_torrent *t, uint32_t id, uint64_t now);
/* Copies up to max bytes at torrent offset off (within one piece) into dst
 * from a verified copy of their piece, so that bytes read back from disk
 * reach a reader only once their piece's SHA-1 matched (bit rot).  Returns
 * the bytes copied (> 0); 0 while the piece is read and checked
 * (PF_EV_STREAM_READY then fires for every open reader); PF_ERR_NOTFOUND
 * if the piece is not verified (not yet there, or it just failed its
 * check and is fetched again: ask pf_torrent_stream_avail again);
 * PF_ERR_RANGE past the end; PF_ERR_INVAL before the metadata. */
PF_EXTERN long pf_torrent_read(pf_torrent *t, uint64_t off, uint8_t *dst, size_t max, uint64_t now);
/* Media bitrate of a file in bytes/s, e.g. size / container duration. */
PF_EXTERN void pf_torrent_set_bitrate(pf_torrent *t, uint32_t file, double bytes_per_s);
/* The media timeline: the title's tracks (renditions) and their
 * segments, from its manifests (the local media server passes what the
 * player loaded).  Readers of a segment then follow one presentation
 * clock across files: the deadlines run on into the next segments of the
 * rendition the player is on (never into other renditions: segments are
 * fetched only for a reader's window or when the player asks), a request
 * for the next segment is not a new start-up, a request of another
 * rendition moves the windows to it at once, one elsewhere in time is a
 * seek.  Segment files are set to priority 0 (fetched only when read or
 * in a window).  Replaces any earlier call's tracks.  0, PF_ERR_INVAL
 * (no metadata, no track, a segment outside its file or of no duration),
 * PF_ERR_LIMIT (more than PF_MEDIA_MAX_TRACKS), PF_ERR_NOMEM. */
PF_EXTERN int pf_torrent_set_media(pf_torrent *t, const pf_media_track *tracks, size_t n, uint64_t now);
/* PF_ERR_NOTFOUND until tracks are set. */
PF_EXTERN int pf_torrent_media_qoe(const pf_torrent *t, uint64_t now, pf_media_qoe *q);
/* QoE of one file; PF_ERR_NOTFOUND if it was never read. */
PF_EXTERN int pf_torrent_qoe(const pf_torrent *t, uint32_t file, uint64_t now, pf_qoe *q);
/* Per-source byte counts (peers, web seeds, departed peers). */
PF_EXTERN size_t pf_torrent_sources(const pf_torrent *t, pf_source_stats *out, size_t max);

/* ---- events ------------------------------------------------------------- */
enum pf_event_type {
    PF_EV_CONNECT = 1, /* dial ev.ep for ev.peer; then pf_peer_connected
                          or pf_peer_closed */
    PF_EV_CLOSE,       /* close ev.peer's socket, then pf_peer_closed */
    PF_EV_WRITE,       /* ev.peer has output: pf_peer_take_output */
    PF_EV_JOB,         /* run ev.job, then pf_torrent_job_done */
    PF_EV_METADATA,    /* ev.torrent's metainfo is now known: open storage,
                          then pf_torrent_check / pf_torrent_skip_check */
    PF_EV_CHECKED,     /* ev.torrent finished checking */
    PF_EV_COMPLETE,    /* ev.torrent has every piece, verified */
    PF_EV_LOG_ERROR,   /* ev.torrent hit a fatal error (ev.err) */
    PF_EV_STREAM_READY, /* reader ev.err of ev.torrent may read again */
    PF_EV_JOB_CANCEL,  /* abort ev.job's transfer, then pf_torrent_job_done */
    PF_EV_DATAGRAMS    /* datagrams wait: pf_session_take_datagram until 0 */
};
typedef struct pf_event {
    int type;
    pf_torrent *torrent;
    pf_peer *peer;
    pf_job *job;
    pf_endpoint ep;    /* PF_EV_CONNECT: whom to dial, and how */
    int err;
} pf_event;
/* Pops the next event; returns 1 if *ev was filled, 0 if none. */
PF_EXTERN int pf_session_next_event(pf_session *s, pf_event *ev);

/* ---- datagrams ------------------------------------------------------------
 * The session's UDP traffic (BEP 29 uTP connections, BEP 15 trackers) goes
 * through one socket the caller owns.  Datagrams in are borrowed for the
 * call; datagrams out wait in a bounded queue until taken. */
#define PF_MAX_DATAGRAM 1472 /* UDP payload in one Ethernet frame (IPv4) */
/* A datagram from `from`.  Returns 0 if the engine took it, or
 * PF_ERR_UNSUPPORTED (no protocol here claims it) or PF_ERR_PARSE
 * (malformed): it is dropped and counted (pf_session_datagram_stats),
 * never fatal. */
PF_EXTERN int pf_session_recv_datagram(pf_session *s, const pf_addr *from, const uint8_t *data, size_t n, uint64_t now);
/* The next datagram to send: copied into buf (cap bytes; PF_MAX_DATAGRAM
 * is always enough), its destination in *to.  Returns its length, 0 if
 * none waits, PF_ERR_RANGE if cap is too small (it stays queued). */
PF_EXTERN long pf_session_take_datagram(pf_session *s, pf_addr *to, uint8_t *buf, size_t cap);
/* The end of a batch: call it when the socket has no more datagrams for
 * now, after the pf_session_recv_datagram calls.  uTP acknowledges a batch
 * with one packet per connection instead of one per two packets (the
 * receiver's cost is in its sends).  Optional: without it, ACKs go out
 * after two packets or a few milliseconds. */
PF_EXTERN void pf_session_flush_datagrams(pf_session *s, uint64_t now);
/* The datagrams' counters (received, dropped, invalid uTP packets) since
 * the session began, copied into *out. */
PF_EXTERN void pf_session_datagram_stats(const pf_session *s, pf_datagram_stats *out);
/* Periodic work: choking, timeouts, announces, dialing, rates. */
PF_EXTERN void pf_session_tick(pf_session *s, uint64_t now);
/* Upload and download caps in bytes/s (0 = none).  The download cap paces
 * requests to peers; CDN fetches for due pieces are not held back (they
 * are what keeps playback going). */
PF_EXTERN void pf_session_set_rate_limits(pf_session *s, uint64_t up_bps, uint64_t down_bps);
/* Turns uploading on or off at run time (metered network, battery, a
 * user's switch).  Off takes effect at once, inside this call: every peer
 * is choked (BEP 6 peers get a REJECT for each request we held), and the
 * PIECE messages queued for a peer that the caller has not taken yet
 * (pf_peer_take_output) are taken back, their blocks rejected too and
 * refunded to the upload budget; what the caller already took is its own
 * (on a socket: at most a quarter second of the peer's rate, see
 * max_send_buffer).  On: peers waiting for a slot are unchoked at once. */
PF_EXTERN void pf_session_set_upload(pf_session *s, int enabled);
/* ---- upload budget -------------------------------------------------------
 * Payload bytes of PIECE messages the session may still queue for peers,
 * all torrents together (PF_UPLOAD_UNLIMITED, the default: no budget).
 * A block is charged when it is queued, before a byte of it is written,
 * so uploads stop before the budget is exceeded, never after; a block
 * taken back before the caller took it (the off switch, a peer gone) is
 * refunded.  Below one block (16 KiB) left, every peer is choked at the
 * next tick; raising the budget again unchokes at once.  The caller owns
 * the policy (a monthly budget kept on disk: net/budget.c): it sets what
 * may be spent and reads back what is left; what was used is what it set
 * minus what is left.  Only payload counts, as in pf_torrent_stats.uploaded
 * (headers, control messages and TCP/IP add a few percent on the wire). */
#define PF_UPLOAD_UNLIMITED UINT64_MAX
PF_EXTERN void pf_session_set_upload_budget(pf_session *s, uint64_t bytes);
/* What is left of it (PF_UPLOAD_UNLIMITED without one). */
PF_EXTERN uint64_t pf_session_upload_budget(const pf_session *s);
/* Payload bytes of PIECE messages the caller reported written
 * (pf_peer_sent), every torrent's, since the session began. */
PF_EXTERN uint64_t pf_session_uploaded(const pf_session *s);
/* Adds a network of the viewer's own ISP (from an ALTO/P4P-style network
 * map the operator gives).  Peers inside are unchoked first; payload with
 * peers outside is counted (pf_torrent_stats.remote_*).  Returns 0,
 * PF_ERR_INVAL (bad family or prefix length) or PF_ERR_RANGE (full). */
PF_EXTERN int pf_session_add_local_net(pf_session *s, const pf_net *net);
/* The share of the regular upload slots where local peers come first, 0-1
 * (default 0.5): 1 keeps the most bytes inside the ISP, and makes the CDN
 * bring each ISP its own first copy (isp-split lab: inter-ISP bytes -33%,
 * CDN +10%); 0.5 cost no CDN bytes there (inter-ISP -5%). */
PF_EXTERN void pf_session_set_local_share(pf_session *s, double share);
/* Keep at most `bytes` of verified data for this torrent (0 = no limit):
 * pieces behind every reader are evicted, the most available first, and
 * beyond the readers' windows only what fits is fetched. */
PF_EXTERN void pf_torrent_set_cache_limit(pf_torrent *t, uint64_t bytes);
/* A player will come: ask peers for nothing until the first stream opens
 * (peers are connected and served meanwhile).  Blocks asked for on the
 * off-chance arrive together with the start-up prefix and delay it. */
PF_EXTERN void pf_torrent_set_await_reader(pf_torrent *t, int on);
/* A PF_JOB_DISCARD: the caller frees the piece's disk space. */

/* When the session next wants pf_session_tick (absolute ns, at least
 * now + 1 ms): its real next deadline, a quarter second while a transfer
 * or a stream is under way, at most once a second when idle.  Ask again
 * after every call into the session (anything may move it earlier). */
PF_EXTERN uint64_t pf_session_next_timeout(const pf_session *s, uint64_t now);

#ifdef __cplusplus
}
#endif
#endif
