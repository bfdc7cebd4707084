/* peerflow sim: a deterministic discrete-event simulator of many viewers,
 * each an unmodified pf_session (the public sans-I/O API of
 * peerflow/session.h), on a virtual clock, with virtual links, a virtual
 * CDN, an announce responder and a player per viewer (docs/SIM.md).
 *
 * The simulator is an application of the public API only: it includes
 * the peerflow/ headers and nothing of src/core or src/net, so the CLI links it
 * against libpeerflow.so like any other command.  Nothing here is global:
 * two runs may live in one process (the determinism test does). */
#ifndef PF_SIM_SIM_H
#define PF_SIM_SIM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PF_SIM_MAX_CLASSES 8
#define PF_SIM_MAX_WATCH 8   /* `watch T P%` lines */

/* A kind of viewer link: its share of the audience, its access capacity
 * and its one-way latency to the core of the network. */
typedef struct pf_sim_link_class {
    double share;        /* fraction of the viewers (0-1; classes add to 1) */
    uint64_t up_Bps;     /* uplink, bytes/s */
    uint64_t down_Bps;   /* downlink, bytes/s */
    uint64_t latency_ns; /* one way, viewer to the core */
} pf_sim_link_class;

/* PF_SIM_ARRIVAL_CURVE: arrivals follow a rate given at points (time,
 * relative rate), linear between them: a prime-time evening. */
enum { PF_SIM_ARRIVAL_UNIFORM = 0, PF_SIM_ARRIVAL_FIXED = 1, PF_SIM_ARRIVAL_CURVE = 2, PF_SIM_ARRIVAL_AT = 3 };
#define PF_SIM_MAX_CURVE 14
#define PF_SIM_MAX_AT 256 /* `arrival at` times: a lab run's plan replayed */
#define PF_SIM_MAX_ISPS 16

/* An ISP: its share of the audience and its viewers' engines' local
 * share (pf_session_set_local_share; < 0: the engine's default).  ISP k's
 * viewers are in 10.(16k).0.0/12, which each of them is told is its own
 * network (pf_session_add_local_net) unless `locality none`. */
typedef struct pf_sim_isp {
    double share;
    double local_share;
} pf_sim_isp;

typedef struct pf_sim_scenario {
    char name[64];
    uint64_t seed;
    uint32_t viewers;
    int arrival;          /* PF_SIM_ARRIVAL_*: seeded uniform, or evenly spaced */
    double arrival_s;     /* arrivals spread over [0, arrival_s) */
    double curve_t[PF_SIM_MAX_CURVE];    /* PF_SIM_ARRIVAL_CURVE: its points' times, */
    double curve_rate[PF_SIM_MAX_CURVE]; /* ... increasing from 0, and relative rates */
    uint32_t ncurve;
    double at_s[PF_SIM_MAX_AT]; /* PF_SIM_ARRIVAL_AT: every viewer's arrival, */
    uint32_t nat;               /* ... as many as viewers */
    double watch_s;       /* each viewer leaves this long after it arrived
                             (those not in a share of watch[]) */
    struct pf_sim_watch { /* churn: a share of the audience leaves earlier (or later) */
        double share;     /* fraction of the viewers (0-1; all add up to at most 1) */
        double s;         /* ... who leave this long after they arrived */
    } watch[PF_SIM_MAX_WATCH];
    uint32_t nwatch;
    double bitrate;       /* media, bits/s */
    double duration_s;    /* media length: the title is bitrate/8 x duration bytes */
    uint32_t piece_len;
    pf_sim_link_class cls[PF_SIM_MAX_CLASSES];
    uint32_t ncls;
    uint64_t cdn_Bps;         /* the CDN's egress, bytes/s */
    uint64_t cdn_latency_ns;  /* one way, core to the CDN */
    uint64_t tracker_latency_ns;
    uint32_t tracker_interval_s;
    uint32_t numwant;
    double startup_s;     /* media a player buffers before it plays */
    double rebuffer_s;    /* ... and after a stall before it plays again */
    double buffer_s;      /* media a player keeps read ahead at most */
    double player_delay_s; /* the stream opens this long after the viewer
                              arrived (the lab's player starts after its
                              client: 0.06-0.25 s); start-up counts from it */
    uint64_t player_probe; /* 0: the player tells the engine the bitrate as it
                              opens the stream; else once it has read this
                              many bytes (a container probe reading an MP4's
                              header, as the CLI's media server does) */
    double end_s;         /* 0: run until the last viewer left */
    uint32_t max_peers;   /* engine settings; 0 = the engine's default */
    uint32_t upload_slots;
    uint64_t memory_limit; /* pf_session_settings.memory_limit; 0 = none */
    int departed_silent;   /* a dial to a viewer that left gets no answer
                              (its router drops the SYN; the engine times
                              out) instead of a refusal one round trip later */
    uint32_t titles;       /* a catalogue of this many titles, each like `title` (1: one title) */
    double zipf_s;         /* each viewer picks title k (from 0) with weight 1/(k+1)^zipf_s */
    pf_sim_isp isp[PF_SIM_MAX_ISPS]; /* none: one network, no locality */
    uint32_t nisp;
    int locality_none;     /* ISPs' address blocks, but no viewer told its own */
    int payload_real;      /* 1: real bytes move, are stored in piece
                              buffers and hashed (as before payload
                              elision); 0 (default): payloads are counts
                              (pf_payload_hooks) */
} pf_sim_scenario;

/* The defaults every scenario starts from (docs/SIM.md). */
void pf_sim_scenario_default(pf_sim_scenario *sc);
/* Parses a scenario (text of len bytes; fname names it in errors) over
 * the defaults.  0, or -1 with "FILE:LINE: what is wrong" in err. */
int pf_sim_scenario_parse(const char *text, size_t len, const char *fname, pf_sim_scenario *sc,
                          char *err, size_t errlen);
/* Reads and parses a scenario file (at most 1 MiB). */
int pf_sim_scenario_load(const char *path, pf_sim_scenario *sc, char *err, size_t errlen);

typedef struct pf_sim_result pf_sim_result;

/* Runs a scenario.  tmpdir: where the title's bytes are written once to
 * make its .torrent (NULL: $TMPDIR or /tmp); removed afterwards.
 * progress: one line per simulated minute, or NULL.  0 and *out (free
 * with pf_sim_result_free), or -1 with a message in err. */
int pf_sim_run(const pf_sim_scenario *sc, const char *tmpdir, FILE *progress, pf_sim_result **out,
               char *err, size_t errlen);
void pf_sim_result_free(pf_sim_result *r);

/* The deterministic output: the same scenario and seed give the same
 * bytes.  A JSON summary, a short text table, one CSV line per viewer. */
void pf_sim_result_json(const pf_sim_result *r, FILE *f);
void pf_sim_result_text(const pf_sim_result *r, FILE *f);
void pf_sim_result_viewers_csv(const pf_sim_result *r, FILE *f);
/* What this run cost on this machine (wall time, events/s, peak RSS): not
 * deterministic, so kept apart. */
void pf_sim_result_perf_json(const pf_sim_result *r, FILE *f);

#endif
