/* The streaming scheduler's internals: readers and their deadlines
 * (readers.c, sched.c), the web seeds (webseed.c) and the picker they share with
 * the swarm engine (core/swarm).  Not part of any API. */
#ifndef PF_CORE_SCHED_H
#define PF_CORE_SCHED_H

#include "core/codec/bitfield.h"
#include "core/codec/magnet.h"
#include "core/codec/metainfo.h"
#include "core/sched/picker.h"
#include "core/sched/source.h"
#include "core/media/cmsd.h"
#include "core/util/addr.h"
#include "core/util/buf.h"
#include "peerflow/session.h"

/* What the scheduler knew of the reader a costly fetch is for, when it
 * handed the fetch over (sched.c sets pf_torrent.fetch_hint just before
 * ops->fetch): a CDN source passes it on as CMCD (CTA-5004) so that the
 * CDN can serve urgent requests first.  Negative: unknown. */
typedef struct pf__fetch_hint {
    double due_s;    /* until the first block fetched is due (CMCD dl) */
    double buffer_s; /* media buffered ahead of the playhead (bl) */
    double bitrate;  /* media bytes/s of the file fetched (br) */
    int startup;     /* the reader is starting up (su) */
    int starved;     /* the reader is stalled now (bs) */
    char ot[3];      /* object type: "v", "a", "av", "i", "m", "o", "" unknown */
} pf__fetch_hint;

/* BEP 19 web seed (a CDN edge, an ISP cache): a costly source that has
 * every piece.  Runs of claimed blocks become ranged GETs (webseed.c). */
#define PF__WS_MAX_INFLIGHT 4
typedef struct pf__ws_run {
    struct pf__webseed *ws;
    uint64_t start, end; /* torrent byte range, block aligned */
    uint64_t cursor;     /* next byte expected */
    uint64_t seg_end;    /* end of the current file segment */
    pf_job *job;         /* HTTP job in flight, or NULL */
    uint8_t *blk;        /* staging for a partly received block */
    uint32_t blk_fill;
    int cancelled;
    uint64_t started;    /* when the current request went out (ns) */
    uint64_t first_at;   /* when its first bytes came (0: not yet) */
    uint64_t first_len;  /* how many came then */
    uint64_t job_cursor; /* cursor when the current GET went out */
    /* What the scheduler said of this fetch (copied when it was handed
     * over, at hint_at): each GET of the run tells the CDN (CMCD). */
    pf__fetch_hint hint;
    uint64_t hint_at;
} pf__ws_run;

typedef struct pf__webseed {
    pf_source src; /* first: a web seed is a source */
    char *url;
    pf__ws_run *runs[PF__WS_MAX_INFLIGHT];
    uint32_t nruns;
    uint64_t retry_at;
    uint32_t fails;     /* failed GETs in a row */
    uint32_t lies;      /* pieces it alone (or provably) spoiled */
    int disabled;       /* lied too often: never asked again */
    double run_bps; /* bytes/s of its last completed GET (0: none yet) */
    /* The same GET from its first bytes on (0: unknown), and its time to
     * first byte: a 64 KiB GET's rate is mostly the round trip's. */
    double xfer_bps;
    uint64_t ttfb_ns;
    pf__cmsd cmsd; /* what its server last said in CMSD (cmsd.h) */
} pf__webseed;

/* A torrent's CMCD session (webseed.c): the session id (random, made on
 * its first GET), the content id (set, or the info-hash in hex) and the
 * streaming format its files show ('h' HLS, 'd' DASH, '-' neither or
 * both; 0 not looked at yet). */
typedef struct pf__cmcd_torrent {
    char sid[37];
    char cid[65];
    char sf;
} pf__cmcd_torrent;


/* A reader of one file (a player's HTTP request): its reads are the
 * playhead the deadline scheduler works for. */
typedef struct pf__stream {
    uint32_t id;
    uint32_t file;
    uint64_t start_off;  /* file offset it opened at */
    uint64_t pos;        /* file offset of its next read */
    uint64_t opened;
    int waiting;         /* a read is blocked on missing data */
    uint64_t wait_off;
    uint64_t wait_since;
    int wait_is_stall;
    int started;         /* first byte delivered */
    uint64_t clock_start; /* media clock: real time of the first byte */
    uint64_t stall_ns;    /* this reader's stalled time (clock pauses) */
    int startup_done;     /* the start-up prefix is verified */
    uint64_t startup_end; /* file offset where the start-up prefix starts */
    uint64_t startup_at;  /* when this start-up (open or seek) began */
    /* The CDN alone, from when a start-up phase began (su_at, at offset
     * su_off, at su_rate bytes/s), would have each piece of the prefix by
     * su_at + (its end - su_off) / su_rate: peers on trial keep the blocks
     * they deliver by then.  Fixed for the phase (1 probe, 2 prefix). */
    uint64_t su_at, su_off;
    double su_rate;
    int su_phase;
    int su_head;  /* the CDN was asked for a head only (peers to try) */
    /* Media timeline (timeline.c): the track (index + 1, 0: none) a
     * reader's segment belongs to.  A *cursor* is the timeline's reader of
     * one kind of track (video, audio, text): it outlives the player's
     * segment requests, holds the windows and the start-up of the
     * presentation, and its offsets (pos, start_off, startup_end) are
     * torrent offsets; the segment readers only move it. */
    uint32_t mtrack;
    int cursor;
    /* A cursor's bytes a player waits for, as of the last pass: their
     * presentation time (-1: none) and whether some are still missing
     * (sched.c, phase_yield). */
    double blk_t;
    int blk_missing;
} pf__stream;

/* timeline.c: a title's renditions and the presentation clock. */
#define PF__TL_GROUPS 3 /* video (or muxed), audio, text */
typedef struct pf__mseg {
    uint32_t file;
    uint64_t abs, end; /* torrent byte range */
    double t0, dur;
} pf__mseg;

typedef struct pf__mtrack {
    char kind;
    uint8_t group;
    uint64_t bandwidth;
    pf__mseg *seg;
    uint32_t nseg;
    uint64_t abs, end; /* from its first segment's start to its last's end */
    int contiguous;    /* each segment starts where the one before ended */
    double br;         /* media bytes/s: its bytes over its duration */
    double maxdur;     /* its longest segment (s) */
    double played_s;
} pf__mtrack;

typedef struct pf__timeline {
    pf__mtrack *tracks;
    uint32_t ntracks;
    uint32_t *file_track; /* per file: track index + 1 (0: none) */
    uint32_t *file_seg;   /* per file: its first segment in that track */
    uint32_t *file_init;  /* per file: the track (index + 1) it is the init
                           * segment of (0: none, UINT32_MAX: several) */
    /* The presentation clock: media time t_at at real time at, running
     * unless paused (a stall, or nobody reading past the buffer). */
    int running, paused;
    double t_at;
    uint64_t at;
    double acc_t; /* presentation time QoE has been counted up to */
    uint32_t cursor[PF__TL_GROUPS]; /* stream ids of the cursors (0: none) */
    uint64_t active_at[PF__TL_GROUPS]; /* the last segment read of the group */
    /* Per group: the end of the presentation the player holds whole
     * segments up to (any rendition's); a wait for a segment before it is
     * not a stall (a demuxer probing another variant, a re-request). */
    double held_t[PF__TL_GROUPS];
    /* A stall of the presentation: from when the clock reached the start
     * of a segment the player waits for (it plays whole segments) until it
     * holds a whole segment of that kind at the clock's time. */
    int dry;
    uint8_t dry_group;
    uint64_t dry_since;
    /* Where the played track changed (by presentation time), per group:
     * the last few switches the player asked for, oldest first. */
    struct pf__tl_switch {
        double t;
        uint32_t track;
    } sw[PF__TL_GROUPS][8];
    uint32_t nsw[PF__TL_GROUPS];
    uint32_t switches, seeks, stalls;
    uint64_t stall_ns, first_req, first_byte;
} pf__timeline;

typedef struct pf__fileqoe {
    uint64_t first_read, first_byte;
    /* Time to playable, measured at the playback position: the first
     * read, or a read elsewhere (a seek) before that position had 10 s
     * of media verified ahead, starts it over at the new position. */
    uint64_t play_start;    /* the read that started the position measured */
    uint64_t playable_from; /* its file offset */
    uint64_t playable_at;   /* 10 s verified ahead of it; 0 = not yet */
    uint32_t stalls, seeks;
    uint64_t stall_ns;
    uint64_t served;
    uint64_t playhead;
    double bitrate;    /* bytes/s of media; 0 = unknown */
    int bitrate_src;   /* 0 unknown, 1 container, 2 observed */
    uint32_t active;
    uint64_t last_end; /* where the last reader stopped (seek detection) */
} pf__fileqoe;
/* webseed.c */
/* Adds a web seed of the given relative cost per byte (> 0).  0,
 * PF_ERR_UNSUPPORTED (not http/https), PF_ERR_EXISTS, PF_ERR_LIMIT (16),
 * PF_ERR_NOMEM. */
int pf__ws_add(pf_torrent *t, const char *url, double cost);
void pf__ws_free_all(pf_torrent *t);
void pf__ws_job_done(pf_torrent *t, pf_job *j, uint64_t now);
int pf__ws_job_data(pf_torrent *t, pf_job *j, const uint8_t *data, size_t n, uint64_t now);
/* What the costly sources' CDNs said of themselves (CMSD): etp summed,
 * the lowest mb (0: none said). */
void pf__sources_cmsd(const pf_torrent *t, pf_torrent_stats *st);

/* source.c: the torrent's sources, and its costly ones as the scheduler
 * sees them (every decision by cost, rate and deadline). */
void pf__sources_tick(pf_torrent *t, double dt);
void pf__sources_free(pf_torrent *t);
/* A costly source is there and not backing off. */
int pf__costly_available(const pf_torrent *t, uint64_t now);
/* A costly source can take one more fetch now. */
int pf__costly_ready(const pf_torrent *t, uint64_t now);
/* Fetches on their way at costly sources. */
uint32_t pf__costly_inflight(const pf_torrent *t);
/* The costly source for `bytes` due in due_s: of those ready, the
 * cheapest that would deliver them in time (an unmeasured one is trusted
 * to), else the one that would deliver them soonest; NULL if none is
 * ready. */
pf_source *pf__costly_pick(const pf_torrent *t, uint64_t bytes, double due_s, uint64_t now);
/* The same, leaving `except` out; *eta_out (may be NULL): when the pick
 * would deliver them (0: unmeasured). */
pf_source *pf__costly_pick_except(const pf_torrent *t, uint64_t bytes, double due_s, uint64_t now,
                                  const pf_source *except, double *eta_out);
/* Tiers: a costly source fetching piece (due in due_s) that would bring it
 * later than the deadline, or than another costly source could, gives it
 * back (its cancel_late), to go to the quicker one.  A cheap cache that is
 * slow or stalled must not hold up a stream the dear CDN could serve. */
void pf__costly_reroute(pf_torrent *t, uint32_t piece, double due_s, uint64_t now);
/* The rate (bytes/s, from a fetch's first byte on) and time to first byte
 * of the costly source a fetch due now would go to; 0: not measured. */
double pf__costly_rate(const pf_torrent *t, uint64_t now, uint64_t *ttfb_ns);
/* Free sources (peers) now able to send us blocks, holding piece (any
 * piece if piece < 0): the sum of their rates to plan by. */
double pf__free_rate(const pf_torrent *t, int64_t piece, uint64_t now);

/* sched.c */
void pf__cache_limit_enforce(pf_torrent *t, uint64_t now);
void pf__sched_update(pf_torrent *t, uint64_t now);

/* timeline.c */
void pf__tl_free(pf_torrent *t);
/* A reader opened on a segment (or not: nothing happens).  Moves or makes
 * its group's cursor: a continuation, a switch of rendition or a seek.
 * PF_ERR_NOMEM, else 0. */
int pf__tl_open(pf_torrent *t, uint32_t reader_id, uint64_t now);
void pf__tl_served(pf_torrent *t, const pf__stream *st, uint64_t off, size_t n, uint64_t now);
/* Presentation seconds at torrent offset abs of track tr. */
double pf__tl_time_of(const pf__mtrack *tr, uint64_t abs);
/* Torrent offset of presentation time ts in track tr (its end past it). */
uint64_t pf__tl_offset_at(const pf__mtrack *tr, double ts);
/* The start time of the segment of track tr holding torrent offset abs
 * (all its bytes are due then). */
double pf__tl_seg_start(const pf__mtrack *tr, uint64_t abs);
/* The end of the segment holding abs (abs itself if none does). */
uint64_t pf__tl_seg_end(const pf__mtrack *tr, uint64_t abs);
/* The presentation clock now (-1: not running). */
double pf__tl_now(const pf__timeline *tl, uint64_t now);
/* A segment reader's wait at file offset off: is the player's buffer
 * dry (the clock reached it)?  Pauses the clock if so. */
int pf__tl_wait_is_stall(pf_torrent *t, const pf__stream *st, uint64_t off, uint64_t now);
void pf__tl_wait_over(pf_torrent *t, uint64_t stalled_ns, uint64_t now);
/* Each tick: QoE accounting, idle cursors dropped. */
void pf__tl_tick(pf_torrent *t, uint64_t now);
/* A segment reader is on its group's cursor's track (the cursor is
 * scheduled for it). */
int pf__tl_on_cursor(pf_torrent *t, const pf__stream *st);
/* A cursor's group has a segment reader open. */
int pf__tl_group_reading(const pf_torrent *t, const pf__stream *cursor);
/* Nobody reads past the buffer: the clock waits at ts. */
void pf__tl_hold(pf_torrent *t, double ts, uint64_t now);

/* readers.c */
/* A new pf__stream in t->streams (zeroed but for id and bookkeeping), or
 * NULL (PF_ERR_LIMIT / NOMEM).  May move t->streams. */
pf__stream *pf__stream_new(pf_torrent *t, uint64_t now);
pf__stream *pf__stream_find(pf_torrent *t, uint32_t id);
void pf__stream_remove(pf_torrent *t, pf__stream *st);
const pf_stream_settings *pf__sset(const pf_torrent *t);
/* A file's media bitrate in bytes/s: from the container, observed, or
 * the settings' default guess. */
double pf__bitrate(const pf_torrent *t, uint32_t file);
/* The CMCD object type of a file ("m" manifest, "i" init segment, "a",
 * "v", "av", "tt", "o"; "" unknown), from its track or its name. */
void pf__fetch_object_type(const pf_torrent *t, uint32_t file, char ot[3]);
void pf__stream_piece_done(pf_torrent *t, uint32_t piece, uint64_t now);
/* Waits that ran past the media clock become stalls (every tick). */
void pf__streams_tick(pf_torrent *t, uint64_t now);
void pf__streams_free(pf_torrent *t);
/* Verified bytes from torrent offset abs (at most max). */
uint64_t pf__verified_run(const pf_torrent *t, uint64_t abs, uint64_t max);
/* A reader's media clock: seconds of media played since its first byte,
 * stalls excluded. */
double pf__media_clock(const pf__stream *st, uint64_t now);

#endif
