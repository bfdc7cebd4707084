/* Uploads on the viewer's terms (issue 15 item 6), the client's side of
 * the engine's budget and off switch (session.h):
 *
 *   - a monthly upload budget kept in a small file across restarts and
 *     crashes: the client reserves it ahead in chunks, writing each
 *     reservation (atomically, under a lock, so several processes may
 *     share the file) before the engine may spend it, so a kill -9 loses
 *     at most one chunk of the month and never lets the budget be
 *     exceeded; the unspent part is given back at a clean stop;
 *   - switches: the user's (API, POST /control), a metered network (the
 *     application's word, or a flag file) and the battery
 *     (/sys/class/power_supply on Linux), applied to the engine at once;
 *   - an upload cap as a share of the uplink measured.
 *
 * Time comes in as arguments where it can (the share estimator is pure);
 * the budget file's functions block (a few small reads and writes, one
 * fsync): the client runs them on libuv's threadpool, and at start and
 * stop on the loop. */
#ifndef PF_NET_BUDGET_H
#define PF_NET_BUDGET_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "peerflow/client.h"

/* --- the upload share: a cap at share x the uplink measured ----------------
 * Once a second the client passes the session's upload counter (payload
 * bytes written to sockets).  A sample is the rate uploads kept up for
 * the last 4 s: the slower of its two 2 s halves (a burst, such as a rate
 * cap's full bucket, is not the link).  The uplink is the highest sample
 * of the last PF__SHARE_WINDOW_S seconds among the "free" ones: taken
 * while no cap applied, while the cap did not hold uploads back (the
 * last 2 s under 80 % of it: what the peers asked for, not what we
 * allowed), or during a probe; with none in the window the last estimate
 * stands.  The cap (share x uplink, at least 16 KiB/s) applies once
 * uploads went on for PF__SHARE_WARMUP_S samples and the last two did
 * not beat the highest by 5 % (the ramp is over), or after
 * PF__SHARE_WARMUP_MAX_S samples of uploads.  A cap that held
 * uploads back for PF__SHARE_PROBE_AFTER_S is lifted for PF__SHARE_PROBE_S
 * (a probe), at most once per PF__SHARE_PROBE_EVERY_S: an uplink first
 * measured with few peers asking, or one that got faster, is found again
 * (about 3 % of the time at full rate while the cap binds). */
#define PF__SHARE_RING 5
#define PF__SHARE_WINDOW_S 300
#define PF__SHARE_BUCKET_S 30
#define PF__SHARE_WARMUP_S 3
#define PF__SHARE_WARMUP_MAX_S 15
#define PF__SHARE_PROBE_AFTER_S 10
#define PF__SHARE_PROBE_S 6
#define PF__SHARE_PROBE_EVERY_S 180
#define PF__SHARE_MIN_CAP 16384
typedef struct pf__share {
    double share; /* (0, 1]; 0: none */
    uint64_t at[PF__SHARE_RING], bytes[PF__SHARE_RING];
    uint32_t nsamples;
    double bucket[PF__SHARE_WINDOW_S / PF__SHARE_BUCKET_S];
    uint64_t bucket_epoch[PF__SHARE_WINDOW_S / PF__SHARE_BUCKET_S];
    double uplink; /* bytes/s; 0: not measured yet */
    double rate;   /* the last sample */
    double warm_peak;  /* measuring: the highest sample so far */
    uint32_t active_s, plateau;
    uint64_t cap; /* bytes/s in force; 0: none */
    uint64_t bound_since, probe_until, last_probe, warm_at;
    uint32_t probes;
} pf__share;
void pf__share_init(pf__share *sh, double share);
/* A sample (now in ns, the session's uploaded bytes); returns the cap in
 * bytes/s to apply now (0: none). */
uint64_t pf__share_update(pf__share *sh, uint64_t now, uint64_t uploaded);

/* --- the budget file ---------------------------------------------------------
 *     peerflow-upload-budget 1
 *     period 2025-07
 *     used 123456789
 * "used": payload bytes reserved in that period by every process sharing
 * the file (spent, or reserved and not given back: a crash's loss).  At
 * most PF__BUDGET_FILE_MAX bytes; anything else is corrupt. */
#define PF__BUDGET_FILE_MAX 256
#define PF__PERIOD_MAX 15
/* 1 if s is a usable period label (1..15 bytes of [A-Za-z0-9._:-]). */
int pf__budget_period_valid(const char *s, size_t len);
/* 0 and the fields, or PF_ERR_PARSE. */
int pf__budget_file_parse(const uint8_t *data, size_t len, char period[PF__PERIOD_MAX + 1],
                          uint64_t *used);
/* The file's bytes into out; their length, or PF_ERR_INVAL. */
int pf__budget_file_format(char *out, size_t cap, const char *period, uint64_t used);
/* Under an exclusive lock (flock on path + ".lock"), reads the file (absent
 * or another period: 0 used; corrupt: all of `budget` used, *corrupt set),
 * adds delta (a reservation: at most what is left of budget, *granted
 * says how much; a return: down to 0), writes it back atomically (a temp
 * file, fsync, rename, fsync of the folder).  delta 0 only reads.
 * *total: the period's usage afterwards.  0 or PF_ERR_IO. */
int pf__budget_file_add(const char *path, const char *period, int64_t delta, uint64_t budget,
                        uint64_t *granted, uint64_t *total, int *corrupt);
/* "YYYY-MM" of t in local time. */
void pf__budget_month(time_t t, char out[PF__PERIOD_MAX + 1]);

/* --- the battery ----------------------------------------------------------
 * 1 if a system battery under root (/sys/class/power_supply) reports
 * "Discharging" (type Battery, scope not Device: a mouse's battery does
 * not count), else 0 (none, or charging, full, on mains). */
int pf__power_on_battery(const char *root);

/* --- the client's state (pf_client.up) ------------------------------------ */
typedef struct pf__budget {
    uint64_t monthly;   /* 0: no budget */
    char *path;         /* owned copy */
    char period[PF__PERIOD_MAX + 1];
    char fixed[PF__PERIOD_MAX + 1]; /* the application's label; "": the month */
    uint64_t chunk;     /* reserved at a time */
    uint64_t granted;   /* reserved by us this period (given to the engine) */
    uint64_t file_used; /* the file's total after our last look */
    int busy;           /* a reservation on the threadpool */
    int exhausted;      /* the last reservation got nothing */
    int failed;         /* the file could not be written */
    uint64_t retry_at;  /* uv_now() ms: ask again */
} pf__budget;

typedef struct pf__upload {
    int user;            /* the user's switch (settings, API, /control) */
    int metered, metered_app; /* as seen; metered_app: told by the app */
    int battery, battery_app; /* as seen; battery_app: 1 when told */
    uint32_t off_when;
    const char *metered_file; /* the settings' (the caller's string) */
    const char *power_dir;    /* /sys/class/power_supply (tests: another) */
    int applied;         /* what the engine was told last (-1: nothing) */
    uint64_t user_up, user_down; /* pf_client_set_rate_limits */
    uint64_t up_applied; /* the upload cap the engine has */
    uint32_t seconds;
    pf__share share;
    pf__budget b;
} pf__upload;

struct pf_client;
/* pf_client_new, once the session exists: the switches, the share and the
 * budget's first reservation (blocking).  0, PF_ERR_INVAL (a budget
 * without a file, a bad period), PF_ERR_IO (the file cannot be written). */
int pf__upload_start(struct pf_client *c);
/* Once a second: the period, the share, the flag file and the battery. */
void pf__upload_second(struct pf_client *c);
/* After every pump: reserve more budget when the engine runs low. */
void pf__upload_check(struct pf_client *c);
/* The stop: the unspent reservation goes back to the file (blocking). */
void pf__upload_stop(struct pf_client *c);
void pf__upload_free(struct pf_client *c);

#endif
