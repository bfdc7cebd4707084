/* peerflow: hybrid CDN + BitTorrent streaming engine.  Public API. */
#ifndef PEERFLOW_H
#define PEERFLOW_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PF_VERSION_STRING "0.1.0"

/* Marks the functions libpeerflow.so exports.  The library is built with
 * -fvisibility=hidden: only declarations carrying PF_EXTERN (all in
 * include/peerflow/) are part of its ABI (as libuv's UV_EXTERN). */
#if defined(__GNUC__) || defined(__clang__)
#define PF_EXTERN __attribute__((visibility("default")))
#else
#define PF_EXTERN
#endif

/* One error enum for the whole library: 0 is success, failures are
 * negative.  PF_ERR_MAP(X) is the single source of codes and messages. */
#define PF_ERR_MAP(X)                                                        \
    X(OK, 0, "success")                                                      \
    X(EAGAIN, -1, "need more input")                                         \
    X(NOMEM, -2, "out of memory")                                            \
    X(INVAL, -3, "invalid argument")                                         \
    X(PARSE, -4, "malformed input")                                          \
    X(LIMIT, -5, "input exceeds a limit")                                    \
    X(PROTO, -6, "protocol violation by peer")                               \
    X(HASH, -7, "hash mismatch")                                             \
    X(IO, -8, "I/O error")                                                   \
    X(NOTFOUND, -9, "not found")                                             \
    X(EXISTS, -10, "already exists")                                         \
    X(UNSUPPORTED, -11, "unsupported")                                       \
    X(CLOSED, -12, "connection closed")                                      \
    X(TIMEOUT, -13, "timed out")                                             \
    X(TRACKER, -14, "tracker failure")                                       \
    X(UNSAFE_PATH, -15, "unsafe file path in metainfo")                      \
    X(RANGE, -16, "range not satisfiable")                                   \
    X(DENIED, -17, "not authorised")                                         \
    X(SHUTDOWN, -18, "shutting down")                                        \
    X(NET, -19, "network error")                                             \
    X(NOSPACE, -20, "no space left on the device")

typedef enum pf_err {
#define PF__ERR_ENUM(name, code, msg) PF_ERR_##name = (code),
    PF_ERR_MAP(PF__ERR_ENUM)
#undef PF__ERR_ENUM
} pf_err;

/* Human-readable message for an error code; never NULL. */
PF_EXTERN const char *pf_strerror(int err);
/* Symbolic name ("PF_ERR_PARSE") for an error code; never NULL. */
PF_EXTERN const char *pf_err_name(int err);
/* The library's version ("0.1.0"): the library actually loaded, where
 * PF_VERSION_STRING is the header compiled against. */
PF_EXTERN const char *pf_version(void);
/* Frees memory the library allocated and handed over (e.g.
 * pf_metainfo_create's output).  NULL is a no-op. */
PF_EXTERN void pf_free(void *p);

/* Allocator hooks (as nghttp2's nghttp2_mem): a session, and every codec
 * call that allocates, takes one; NULL means the C library's.  Each
 * function has the semantics of its C library namesake; ud is passed
 * through.  Memory allocated through one pf_mem is freed through the
 * same one (objects remember it). */
typedef struct pf_mem {
    void *(*malloc)(size_t size, void *ud);
    void *(*calloc)(size_t nmemb, size_t size, void *ud);
    void *(*realloc)(void *ptr, size_t size, void *ud);
    void (*free)(void *ptr, void *ud);
    void *ud;
} pf_mem;

/* A byte buffer the engine fills and the caller drains or frees (output
 * taken from a peer, see session.h).  data[off, len) is unread. */
typedef struct pf_buf {
    const pf_mem *mem; /* its allocator (NULL: the C library's) */
    uint8_t *data;
    size_t len; /* bytes written */
    size_t cap; /* bytes allocated */
    size_t off; /* bytes already consumed from the front */
} pf_buf;
PF_EXTERN void pf_buf_init(pf_buf *b); /* empty, the C library's allocator */
PF_EXTERN void pf_buf_free(pf_buf *b); /* frees data; b stays usable */

/* A network address: IPv4 or IPv6 and a port, as plain bytes (no socket
 * headers). */
typedef struct pf_addr {
    uint8_t family; /* 4 or 6; 0 = unset */
    uint8_t ip[16]; /* IPv4 in the first 4 bytes */
    uint16_t port;  /* host order */
} pf_addr;

/* A network: the first `bits` bits of ip (IPv4 in the first 4 bytes). */
typedef struct pf_net {
    uint8_t family; /* 4 or 6 */
    uint8_t bits;   /* prefix length: 0-32 or 0-128 */
    uint8_t ip[16];
} pf_net;

/* How a peer is reached.  A peer's identity (duplicates, bans, locality)
 * is its address and port; the transport is how a connection to it runs. */
typedef enum pf_transport {
    PF_TRANSPORT_ANY = 0, /* not chosen yet: the caller's preference */
    PF_TRANSPORT_TCP = 1,
    PF_TRANSPORT_UTP = 2, /* BEP 29, over the session's datagrams */
    PF_TRANSPORT_WEBRTC = 3
} pf_transport;

typedef struct pf_endpoint {
    pf_addr addr;
    uint8_t transport; /* pf_transport */
} pf_endpoint;

/* Log levels used by the core's log callback. */
typedef enum pf_log_level {
    PF_LOG_ERROR = 0,
    PF_LOG_WARN = 1,
    PF_LOG_INFO = 2,
    PF_LOG_DEBUG = 3
} pf_log_level;

/* Receives each log line (no newline; control bytes already escaped). */
typedef void (*pf_log_fn)(void *ud, pf_log_level level, const char *msg);

/* Copies s into out (outlen bytes, always NUL-terminated, truncated if
 * need be) with control bytes and DEL written as \xNN: for printing names
 * that came from outside (a torrent's name, a magnet's dn, a peer's
 * client string) to a terminal.  Returns out. */
PF_EXTERN char *pf_escape_text(const char *s, char *out, size_t outlen);

/* Torrent state and counters, as reported by the engine and the client. */
enum pf_torrent_state {
    PF_TS_METADATA = 1, /* magnet: fetching the info dict from peers */
    PF_TS_CHECKING,     /* hashing existing data */
    PF_TS_DOWNLOADING,
    PF_TS_SEEDING,
    PF_TS_STOPPED
};

typedef struct pf_torrent_stats {
    int state; /* enum pf_torrent_state */
    uint32_t pieces, have;
    uint64_t total_length, have_bytes;
    uint64_t uploaded, downloaded; /* payload bytes */
    uint64_t wasted;               /* duplicate or failed bytes */
    uint32_t hash_failures;
    uint32_t peers, seeds, unchoked;
    double down_rate, up_rate; /* bytes/s, smoothed */
    uint64_t cdn_downloaded;   /* payload bytes from web seeds (BEP 19) */
    uint64_t peer_downloaded;  /* payload bytes from BitTorrent peers */
    uint32_t webseeds;         /* web seeds configured */
    /* Payload with peers outside the local networks (another ISP), when
     * any are set (pf_client_add_local_net); 0 otherwise. */
    uint64_t remote_downloaded, remote_uploaded;
    /* The operator's word from the tracker: P2P switched off for this
     * title (the CDN serves it), and an upload cap (bytes/s, 0 none). */
    int p2p_off;
    uint64_t operator_upload_cap;
    /* An SSL torrent (its peers talk TLS with certificates its root
     * signed): peers connected over TLS, and connections refused (no or a
     * bad certificate, another torrent's, expired, revoked, plain). */
    int ssl;
    uint32_t tls_peers;
    uint64_t tls_refused;
    /* Appended.  The web seeds' own word in CMSD-Dynamic (CTA-5006; per
     * source in pf_source_stats): the throughput they expect to give us,
     * summed, and the lowest bitrate cap any of them suggested, kbps; 0:
     * none said. */
    uint32_t cmsd_etp_kbps;
    uint32_t cmsd_mb_kbps;
    /* Appended.  Bytes/s: what this viewer's link has shown it can
     * bring: the best second of download (all sources) while the CDN was
     * fetching (the link is the bottleneck then; each GET's time to first
     * byte included, as a player times a segment), or of any download
     * when the CDN never fetched; decaying with a 2 min half-life; 0
     * before any.
     * The local media server paces an adaptive title's segments to it
     * (see media_server.h). */
    double down_peak_rate;
} pf_torrent_stats;

/* qoe_report_ms (pf_client_settings, pf_session_settings): no reports. */
#define PF_QOE_REPORT_OFF UINT32_MAX

/* Quality of experience for one file, across all its readers. */
typedef struct pf_qoe {
    int active;                   /* a reader is open */
    double ttfb_s;                /* first read requested -> first byte ready; -1 if none yet */
    double time_to_playable_s;    /* the read that started playback where it
                                     played (the first read, or a seek made
                                     before that position was playable) ->
                                     10 s of media verified ahead of it (or
                                     the rest of the file); -1 until then */
    uint32_t stalls;              /* reads that waited with an empty buffer after start-up */
    double stall_s;               /* total time those reads waited */
    uint32_t seeks;
    double bitrate_bps;           /* media bitrate in bits per second
                                     (container or observed) */
    int bitrate_from_container;   /* 1 if from the MP4/MKV duration */
    uint64_t playhead;            /* file offset of the last read */
    double buffer_s;              /* media seconds verified ahead of the playhead */
    uint64_t bytes_served;        /* bytes handed to readers */
} pf_qoe;

/* A packaged title's renditions (HLS media playlists, DASH
 * Representations) as the player's manifests describe them, for the
 * media timeline (pf_torrent_set_media): each track's segments in
 * presentation order, each a byte range of one of the torrent's files. */
typedef struct pf_media_segment {
    uint32_t file;           /* the torrent file holding it */
    uint64_t offset, length; /* its bytes in that file; length 0: the whole file */
    double start_s;          /* presentation time of its start */
    double duration_s;       /* > 0, from the manifest */
} pf_media_segment;

typedef struct pf_media_track {
    char kind;          /* 'v' video (maybe muxed with audio), 'a' audio, 't' text */
    uint64_t bandwidth; /* bits/s as the manifest declares it (0: unknown) */
    const pf_media_segment *seg;
    size_t nseg;
    /* Its init segment (HLS EXT-X-MAP, DASH Initialization; start and
     * duration unused), or NULL.  A player asks for it when it switches
     * to the track: the timeline's windows move then. */
    const pf_media_segment *init;
} pf_media_track;

#define PF_MEDIA_MAX_TRACKS 32
/* Quality of experience of a torrent's media timeline (one presentation
 * across the files of its renditions). */
typedef struct pf_media_qoe {
    uint32_t ntracks;
    int32_t track;            /* the video (else audio) track being played, -1 none */
    uint32_t switches;        /* rendition switches the player made */
    uint32_t seeks;           /* jumps to another point of the presentation */
    uint32_t stalls;          /* segment reads that waited with the player's buffer empty */
    double stall_s;
    double startup_s;         /* first segment requested -> its first byte; -1 none yet */
    double position_s;        /* presentation time being played (-1: not playing) */
    double played_s;          /* presentation seconds played, all tracks of that kind */
    double mean_bitrate_bps;  /* declared bandwidth averaged over what was played */
    uint64_t bandwidth[PF_MEDIA_MAX_TRACKS]; /* per track: declared bits/s */
    double track_played_s[PF_MEDIA_MAX_TRACKS]; /* per track: seconds played at it */
} pf_media_qoe;

/* Bytes by source for a torrent: one entry per source, whatever its kind
 * (peers, web seeds, ...), and peers that already left. */
typedef struct pf_source_stats {
    char name[96];      /* "cdn:<url>" or "peer:<ip:port> <client>" */
    char kind[16];      /* "webseed", "peer", ...: a label */
    double cost;        /* relative cost per byte; 0 for peers (free) */
    uint64_t downloaded; /* payload bytes accepted from it */
    uint64_t uploaded;   /* payload bytes we sent it */
    double down_rate;
    /* Appended.  What its server said of itself in CMSD-Dynamic
     * (CTA-5006) on its last response that carried it: estimated
     * throughput to us and the highest bitrate it suggests, kbps; 0: not
     * said (a peer, a CDN without CMSD). */
    uint32_t cmsd_etp_kbps;
    uint32_t cmsd_mb_kbps;
} pf_source_stats;

/* The session's UDP socket (uTP, BEP 15 trackers): what came in and what
 * was dropped, since the session began (pf_session_datagram_stats,
 * pf_client_datagram_stats, /stats.json, /metrics).  A bad datagram is
 * dropped and counted here, never fatal to the session or a connection. */
typedef struct pf_datagram_stats {
    uint64_t received;    /* datagrams handed to the session */
    uint64_t dropped_in;  /* of those, claimed by no protocol: garbage, not
                             uTP or a reply we wait for, empty or too long */
    uint64_t dropped_out; /* datagrams to send dropped: the queue was full */
    uint64_t utp_invalid; /* uTP packets dropped: malformed (a truncated
                             header extension), out of the window, for no
                             connection of ours, a RESET that acks nothing */
} pf_datagram_stats;

/* Uploads to peers: whether they may go and why not, the monthly budget,
 * the upload share (pf_client_upload_status, /stats.json, /metrics). */
#define PF_UPLOAD_OFF_USER 1u    /* switched off: pf_client_set_upload, POST /control */
#define PF_UPLOAD_OFF_METERED 2u /* a metered network (with upload_off_when) */
#define PF_UPLOAD_OFF_BATTERY 4u /* running on battery (with upload_off_when) */
#define PF_UPLOAD_OFF_BUDGET 8u  /* the period's upload budget is spent */
typedef struct pf_upload_status {
    int enabled;          /* uploads may go now (off == 0) */
    uint32_t off;         /* PF_UPLOAD_OFF_* bits: why not */
    uint32_t off_when;    /* the conditions that turn uploads off
                             (PF_UPLOAD_OFF_METERED, _BATTERY) */
    int metered;          /* the network is metered, as last told or seen */
    int on_battery;       /* running on battery, as last told or seen */
    uint64_t budget;      /* payload bytes per period; 0 = no budget */
    uint64_t budget_used; /* this period, by every process keeping the
                             budget in the same file (bytes reserved and not
                             given back count as used) */
    uint64_t budget_left; /* budget - budget_used */
    char period[16];      /* "2025-07" (the calendar month, local time) or
                             the application's label; "" without a budget */
    double share;         /* cap as a share of the measured uplink; 0 = none */
    double uplink_bps;    /* the uplink as measured, bytes/s; 0 = not yet */
    uint64_t cap_bps;     /* the upload rate cap in force (the smaller of the
                             rate limit and share x uplink); 0 = none */
    uint64_t uploaded;    /* payload bytes written to peers since start */
} pf_upload_status;

#ifdef __cplusplus
}
#endif
#endif
