/* Uploads on the viewer's terms: the monthly budget file, the switches
 * (user, metered, battery) and the upload share.  See net/budget.h. */
#include "net/budget.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/codec/wire.h"
#include "net/client_internal.h"

/* --- the upload share ------------------------------------------------------ */

#define NBUCKETS (PF__SHARE_WINDOW_S / PF__SHARE_BUCKET_S)
#define S_NS PF_NS_PER_SEC

void pf__share_init(pf__share *sh, double share)
{
    memset(sh, 0, sizeof *sh);
    sh->share = share > 0 && share <= 1 ? share : 0;
}

/* The highest free sample in the window; 0 if none. */
static double window_max(const pf__share *sh, uint64_t epoch)
{
    double m = 0;
    for (int i = 0; i < NBUCKETS; i++)
        if (sh->bucket_epoch[i] && sh->bucket_epoch[i] + NBUCKETS > epoch && sh->bucket[i] > m)
            m = sh->bucket[i];
    return m;
}

static void record_free(pf__share *sh, uint64_t now, double rate)
{
    uint64_t epoch = now / ((uint64_t)PF__SHARE_BUCKET_S * S_NS) + 1; /* 0: never */
    int k = (int)(epoch % NBUCKETS);
    if (sh->bucket_epoch[k] != epoch) sh->bucket_epoch[k] = epoch, sh->bucket[k] = 0;
    if (rate > sh->bucket[k]) sh->bucket[k] = rate;
    double m = window_max(sh, epoch);
    if (m > 0) sh->uplink = m; /* none in the window: the last estimate stands */
}

/* Bytes per second between samples a and b of the ring (oldest = 0). */
static double ring_rate(const pf__share *sh, int a, int b)
{
    uint64_t dt = sh->at[b] - sh->at[a];
    return dt ? (double)(sh->bytes[b] - sh->bytes[a]) / ((double)dt / 1e9) : 0;
}

uint64_t pf__share_update(pf__share *sh, uint64_t now, uint64_t uploaded)
{
    if (sh->share <= 0) return 0;
    if (sh->nsamples == PF__SHARE_RING) {
        memmove(sh->at, sh->at + 1, (PF__SHARE_RING - 1) * sizeof sh->at[0]);
        memmove(sh->bytes, sh->bytes + 1, (PF__SHARE_RING - 1) * sizeof sh->bytes[0]);
        sh->nsamples--;
    }
    sh->at[sh->nsamples] = now;
    sh->bytes[sh->nsamples++] = uploaded;
    if (sh->nsamples < PF__SHARE_RING || now <= sh->at[0]) return sh->cap;
    /* What it kept up for 4 s: the slower of two 2 s halves (a burst, such
     * as a rate cap's full bucket at the start, is not the link). */
    double a = ring_rate(sh, 0, 2), b = ring_rate(sh, 2, 4);
    sh->rate = a < b ? a : b;
    int probing = now < sh->probe_until;
    int holding = sh->cap && !probing && b >= 0.8 * (double)sh->cap;
    if (!holding) record_free(sh, now, sh->rate);
    if (!sh->warm_at) {
        /* Measuring: until uploads went on for a few samples and stopped
         * getting faster (TCP's ramp is not the link), or for long. */
        if (sh->rate > 0) sh->active_s++;
        if (sh->rate > 1.05 * sh->warm_peak) sh->warm_peak = sh->rate, sh->plateau = 0;
        else if (sh->rate > 0) sh->plateau++;
        int done = (sh->active_s >= PF__SHARE_WARMUP_S && sh->plateau >= 2) ||
                   sh->active_s >= PF__SHARE_WARMUP_MAX_S;
        if (!done) return sh->cap = 0;
        sh->warm_at = sh->last_probe = now;
    }
    if (!holding)
        sh->bound_since = 0;
    else if (!sh->bound_since)
        sh->bound_since = now;
    if (!probing && sh->bound_since && now - sh->bound_since >= PF__SHARE_PROBE_AFTER_S * S_NS &&
        now - sh->last_probe >= PF__SHARE_PROBE_EVERY_S * S_NS) {
        sh->probe_until = now + PF__SHARE_PROBE_S * S_NS;
        sh->last_probe = now;
        sh->bound_since = 0;
        sh->probes++;
        probing = 1;
    }
    if (probing) return sh->cap = 0;
    double cap = sh->share * sh->uplink;
    sh->cap = cap < PF__SHARE_MIN_CAP ? PF__SHARE_MIN_CAP : (uint64_t)cap;
    return sh->cap;
}

/* --- the budget file ----------------------------------------------------------- */

static const char MAGIC[] = "peerflow-upload-budget 1\n";

int pf__budget_period_valid(const char *s, size_t len)
{
    if (len == 0 || len > PF__PERIOD_MAX) return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '.' || ch == '_' || ch == ':' || ch == '-';
        if (!ok) return 0;
    }
    return 1;
}

/* "<key> <value>\n" at *p; the value's bounds. */
static int take_line(const uint8_t **p, const uint8_t *end, const char *key, const uint8_t **v,
                     size_t *vlen)
{
    size_t k = strlen(key);
    if ((size_t)(end - *p) < k + 1 || memcmp(*p, key, k) != 0 || (*p)[k] != ' ') return -1;
    const uint8_t *s = *p + k + 1, *nl = memchr(s, '\n', (size_t)(end - s));
    if (!nl) return -1;
    *v = s;
    *vlen = (size_t)(nl - s);
    *p = nl + 1;
    return 0;
}

int pf__budget_file_parse(const uint8_t *data, size_t len, char period[PF__PERIOD_MAX + 1],
                          uint64_t *used)
{
    const size_t m = sizeof MAGIC - 1;
    if (len > PF__BUDGET_FILE_MAX || len < m || memcmp(data, MAGIC, m) != 0) return PF_ERR_PARSE;
    const uint8_t *p = data + m, *end = data + len, *v;
    size_t vl;
    if (take_line(&p, end, "period", &v, &vl) != 0 || !pf__budget_period_valid((const char *)v, vl))
        return PF_ERR_PARSE;
    memcpy(period, v, vl);
    period[vl] = 0;
    if (take_line(&p, end, "used", &v, &vl) != 0 || vl == 0 || vl > 20 || p != end) return PF_ERR_PARSE;
    uint64_t u = 0;
    for (size_t i = 0; i < vl; i++) {
        if (v[i] < '0' || v[i] > '9' || (vl > 1 && v[0] == '0')) return PF_ERR_PARSE;
        uint64_t d = (uint64_t)(v[i] - '0');
        if (u > (UINT64_MAX - d) / 10) return PF_ERR_PARSE;
        u = u * 10 + d;
    }
    *used = u;
    return 0;
}

int pf__budget_file_format(char *out, size_t cap, const char *period, uint64_t used)
{
    if (!pf__budget_period_valid(period, strlen(period))) return PF_ERR_INVAL;
    int n = snprintf(out, cap, "%speriod %s\nused %llu\n", MAGIC, period, (unsigned long long)used);
    return n < 0 || (size_t)n >= cap ? PF_ERR_INVAL : n;
}

/* The file's period and usage; PF_ERR_NOTFOUND when there is none,
 * PF_ERR_PARSE when it is not ours to read. */
static int state_read(const char *path, char period[PF__PERIOD_MAX + 1], uint64_t *used)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? PF_ERR_NOTFOUND : PF_ERR_IO;
    uint8_t buf[PF__BUDGET_FILE_MAX + 1];
    size_t n = 0;
    while (n < sizeof buf) {
        ssize_t k = read(fd, buf + n, sizeof buf - n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        n += (size_t)k;
    }
    close(fd);
    return pf__budget_file_parse(buf, n, period, used);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Replaces the file atomically: a reader (or a crash) sees the old one or
 * the new one, never a mix; the rename is made durable with the folder. */
static int state_write(const char *path, const char *period, uint64_t used)
{
    char body[PF__BUDGET_FILE_MAX], tmp[4200], dir[4200];
    int n = pf__budget_file_format(body, sizeof body, period, used);
    if (n < 0 || snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return PF_ERR_IO;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return PF_ERR_IO;
    int rc = write_all(fd, body, (size_t)n) == 0 && fsync(fd) == 0 ? 0 : PF_ERR_IO;
    if (close(fd) != 0) rc = PF_ERR_IO;
    if (rc == 0 && rename(tmp, path) != 0) rc = PF_ERR_IO;
    if (rc != 0) {
        unlink(tmp);
        return rc;
    }
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) slash[1] = 0;
    else if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return 0;
}

int pf__budget_file_add(const char *path, const char *period, int64_t delta, uint64_t budget,
                        uint64_t *granted, uint64_t *total, int *corrupt)
{
    char lock[4200];
    *granted = 0;
    *corrupt = 0;
    if (snprintf(lock, sizeof lock, "%s.lock", path) >= (int)sizeof lock) return PF_ERR_IO;
    int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lfd < 0) return PF_ERR_IO;
    while (flock(lfd, LOCK_EX) != 0)
        if (errno != EINTR) {
            close(lfd);
            return PF_ERR_IO;
        }
    char fp[PF__PERIOD_MAX + 1] = "";
    uint64_t used = 0;
    int rc = state_read(path, fp, &used);
    if (rc == PF_ERR_PARSE) *corrupt = 1, used = budget; /* never more than the budget */
    else if (rc != 0 || strcmp(fp, period) != 0) used = 0; /* none yet, or a new period */
    if (rc == PF_ERR_IO) {
        close(lfd);
        return rc;
    }
    if (delta > 0) {
        uint64_t room = used < budget ? budget - used : 0;
        *granted = (uint64_t)delta < room ? (uint64_t)delta : room;
        used += *granted;
    } else if (delta < 0) {
        uint64_t back = (uint64_t)(-(delta + 1)) + 1;
        used = back < used ? used - back : 0;
    }
    rc = delta != 0 || *corrupt || rc != 0 || strcmp(fp, period) != 0 ? state_write(path, period, used) : 0;
    *total = used;
    close(lfd); /* and with it the lock */
    return rc;
}

void pf__budget_month(time_t t, char out[PF__PERIOD_MAX + 1])
{
    struct tm tm;
    if (!localtime_r(&t, &tm) || strftime(out, PF__PERIOD_MAX + 1, "%Y-%m", &tm) == 0)
        snprintf(out, PF__PERIOD_MAX + 1, "unknown");
}

/* --- the battery ----------------------------------------------------------------- */

/* root/name/file's first line into out ("" if unreadable). */
static void read_attr(const char *root, const char *name, const char *file, char *out, size_t cap)
{
    char p[1024];
    out[0] = 0;
    if (snprintf(p, sizeof p, "%s/%s/%s", root, name, file) >= (int)sizeof p) return;
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t k = read(fd, out, cap - 1);
    close(fd);
    if (k <= 0) return;
    out[k] = 0;
    char *nl = strchr(out, '\n');
    if (nl) *nl = 0;
}

int pf__power_on_battery(const char *root)
{
    DIR *d = opendir(root);
    if (!d) return 0;
    int on = 0;
    struct dirent *e;
    while (!on && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char type[32], status[32], scope[32];
        read_attr(root, e->d_name, "type", type, sizeof type);
        if (strcmp(type, "Battery") != 0) continue;
        read_attr(root, e->d_name, "scope", scope, sizeof scope);
        if (strcmp(scope, "Device") == 0) continue; /* a mouse's, a headset's */
        read_attr(root, e->d_name, "status", status, sizeof status);
        on = strcmp(status, "Discharging") == 0;
    }
    closedir(d);
    return on;
}

/* --- the client ----------------------------------------------------------------- */

static void up_log(pf_client *c, pf_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void up_log(pf_client *c, pf_log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    c->log.now = pf__client_now(c);
    pf__logv(&c->log, lvl, fmt, ap);
    va_end(ap);
}

static uint32_t off_reasons(const pf__upload *u)
{
    uint32_t off = 0;
    if (!u->user) off |= PF_UPLOAD_OFF_USER;
    if ((u->off_when & PF_UPLOAD_OFF_METERED) && u->metered) off |= PF_UPLOAD_OFF_METERED;
    if ((u->off_when & PF_UPLOAD_OFF_BATTERY) && u->battery) off |= PF_UPLOAD_OFF_BATTERY;
    return off;
}

/* The switches to the engine, when they changed: off chokes every peer
 * and takes back what no socket has yet, inside the call. */
static void apply_switches(pf_client *c)
{
    pf__upload *u = &c->up;
    uint32_t off = off_reasons(u);
    int on = off == 0;
    if (on == u->applied) return;
    u->applied = on;
    pf_session_set_upload(c->s, on);
    up_log(c, PF_LOG_INFO, "uploads %s%s%s%s", on ? "on" : "off:",
           off & PF_UPLOAD_OFF_USER ? " switched off" : "",
           off & PF_UPLOAD_OFF_METERED ? " metered network" : "",
           off & PF_UPLOAD_OFF_BATTERY ? " on battery" : "");
    pf__client_pump(c);
}

/* The rate caps to the engine: the user's upload cap and the share's,
 * the smaller; only when it moved (a cap changed keeps its bucket). */
static void apply_rates(pf_client *c, int force)
{
    pf__upload *u = &c->up;
    uint64_t up = u->user_up, sh = u->share.cap;
    if (sh && (!up || sh < up)) up = sh;
    uint64_t a = u->up_applied;
    int moved = up != a && (!up || !a || (up > a ? up - a : a - up) > a / 50);
    if (!moved && !force) return;
    u->up_applied = up;
    pf_session_set_rate_limits(c->s, up, u->user_down);
}

void pf_client_set_rate_limits(pf_client *c, uint64_t up_bps, uint64_t down_bps)
{
    c->up.user_up = up_bps;
    c->up.user_down = down_bps;
    apply_rates(c, 1);
}

void pf_client_set_upload(pf_client *c, int enabled)
{
    c->up.user = enabled != 0;
    apply_switches(c);
}

void pf_client_set_metered(pf_client *c, int metered)
{
    c->up.metered_app = 1;
    c->up.metered = metered != 0;
    apply_switches(c);
}

void pf_client_set_on_battery(pf_client *c, int on_battery)
{
    c->up.battery_app = on_battery >= 0;
    if (on_battery >= 0) c->up.battery = on_battery != 0;
    else c->up.battery = (c->up.off_when & PF_UPLOAD_OFF_BATTERY) ? pf__power_on_battery(c->up.power_dir) : 0;
    apply_switches(c);
}

/* Metered (the flag file) and the battery, every 5 s. */
static void look_around(pf_client *c)
{
    pf__upload *u = &c->up;
    if (u->metered_file && !u->metered_app) {
        struct stat st;
        u->metered = stat(u->metered_file, &st) == 0;
    }
    if ((u->off_when & PF_UPLOAD_OFF_BATTERY) && !u->battery_app) u->battery = pf__power_on_battery(u->power_dir);
    apply_switches(c);
}

/* --- the budget's reservations --- */

typedef struct budget_work {
    uv_work_t req;
    pf_client *c;
    char *path;
    char period[PF__PERIOD_MAX + 1];
    uint64_t ask, budget, granted, total;
    int rc, corrupt;
} budget_work;

static void reserve_run(uv_work_t *req)
{
    budget_work *w = req->data;
    w->rc = pf__budget_file_add(w->path, w->period, (int64_t)w->ask, w->budget, &w->granted,
                                &w->total, &w->corrupt);
}

/* A reservation written: the engine may spend it. */
static void granted(pf_client *c, uint64_t g, uint64_t total, int corrupt)
{
    pf__budget *b = &c->up.b;
    if (corrupt)
        up_log(c, PF_LOG_WARN, "upload budget file %s was unreadable: this period's budget counts as spent (remove the file to start again)",
               b->path);
    b->granted += g;
    b->file_used = total;
    b->exhausted = g == 0;
    if (g) pf_session_set_upload_budget(c->s, pf_session_upload_budget(c->s) + g);
    if (b->exhausted) {
        b->retry_at = uv_now(c->loop) + 60000; /* others may give some back */
        up_log(c, PF_LOG_INFO, "upload budget for %s spent (%llu bytes)", b->period,
               (unsigned long long)total);
    }
}

static void reserve_done(uv_work_t *req, int status)
{
    budget_work *w = req->data;
    pf_client *c = w->c;
    pf__budget *b = &c->up.b;
    c->works--;
    c->pool_works--;
    b->busy = 0;
    if (status == 0 && w->rc == 0 && strcmp(w->period, b->period) == 0) {
        b->failed = 0;
        granted(c, w->granted, w->total, w->corrupt);
    } else if (status != 0 || w->rc != 0) {
        b->failed = 1;
        b->retry_at = uv_now(c->loop) + 10000;
        up_log(c, PF_LOG_WARN, "cannot write the upload budget file %s: no uploads until it can", b->path);
    }
    free(w->path);
    free(w);
    pf__client_pump(c);
}

static void reserve_start(pf_client *c)
{
    pf__budget *b = &c->up.b;
    budget_work *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(b->path))) {
        free(w);
        return;
    }
    w->req.data = w;
    w->c = c;
    /* Tops the engine's unspent budget up to one chunk, no more: what a
     * kill -9 loses (reserved, not spent) is never more than a chunk.
     * What is spent while this is written only lowers it. */
    uint64_t left = pf_session_upload_budget(c->s);
    w->ask = left < b->chunk ? b->chunk - left : 0;
    w->budget = b->monthly;
    memcpy(w->period, b->period, sizeof w->period);
    if (uv_queue_work(c->loop, &w->req, reserve_run, reserve_done) != 0) {
        free(w->path);
        free(w);
        return;
    }
    b->busy = 1;
    c->works++;
    c->pool_works++;
}

void pf__upload_check(pf_client *c)
{
    pf__budget *b = &c->up.b;
    if (!b->monthly || b->busy || c->stopping) return;
    if ((b->exhausted || b->failed) && uv_now(c->loop) < b->retry_at) return;
    if (pf_session_upload_budget(c->s) >= b->chunk / 2) return;
    reserve_start(c);
}

/* The period now: the application's label, else the calendar month. */
static void period_now(const pf__budget *b, char out[PF__PERIOD_MAX + 1])
{
    if (b->fixed[0]) memcpy(out, b->fixed, PF__PERIOD_MAX + 1);
    else pf__budget_month(time(NULL), out);
}

/* A new period: nothing of the old one's reservation is spent in it (the
 * engine gets no budget until the new period's first reservation is
 * written), and its usage starts from the file (0 for a new period). */
static void period_roll(pf_client *c)
{
    pf__budget *b = &c->up.b;
    char now[PF__PERIOD_MAX + 1];
    period_now(b, now);
    if (strcmp(now, b->period) == 0) return;
    up_log(c, PF_LOG_INFO, "upload budget: period %s begins", now);
    memcpy(b->period, now, sizeof b->period);
    pf_session_set_upload_budget(c->s, 0);
    b->granted = b->file_used = 0;
    b->exhausted = b->failed = 0;
    pf__upload_check(c);
}

int pf_client_set_upload_budget_period(pf_client *c, const char *period)
{
    pf__budget *b = &c->up.b;
    if (!b->monthly) return PF_ERR_INVAL;
    if (period && !pf__budget_period_valid(period, strlen(period))) return PF_ERR_INVAL;
    snprintf(b->fixed, sizeof b->fixed, "%s", period ? period : "");
    period_roll(c);
    return 0;
}

static int budget_start(pf_client *c)
{
    pf__budget *b = &c->up.b;
    const pf_client_settings *s = &c->set;
    b->monthly = s->upload_budget;
    if (!b->monthly) return 0;
    if (!s->upload_budget_file || !s->upload_budget_file[0]) return PF_ERR_INVAL;
    if (s->upload_budget_period &&
        !pf__budget_period_valid(s->upload_budget_period, strlen(s->upload_budget_period)))
        return PF_ERR_INVAL;
    if (!(b->path = strdup(s->upload_budget_file))) return PF_ERR_NOMEM;
    snprintf(b->fixed, sizeof b->fixed, "%s", s->upload_budget_period ? s->upload_budget_period : "");
    period_now(b, b->period);
    /* A kill -9 loses at most one chunk of the period: 1/64 of the
     * budget, between 256 KiB and 64 MiB. */
    b->chunk = b->monthly / 64;
    if (b->chunk < 256 * 1024) b->chunk = 256 * 1024;
    if (b->chunk > 64u * 1024 * 1024) b->chunk = 64u * 1024 * 1024;
    pf_session_set_upload_budget(c->s, 0); /* nothing before the first reservation */
    uint64_t g = 0, total = 0;
    int corrupt = 0;
    int rc = pf__budget_file_add(b->path, b->period, (int64_t)b->chunk, b->monthly, &g, &total, &corrupt);
    if (rc != 0) return rc;
    granted(c, g, total, corrupt);
    up_log(c, PF_LOG_INFO, "upload budget %llu bytes for %s, %llu used", (unsigned long long)b->monthly,
           b->period, (unsigned long long)(total - g));
    return 0;
}

int pf__upload_start(pf_client *c)
{
    pf__upload *u = &c->up;
    u->user = c->set.upload_enabled != 0;
    u->off_when = c->set.upload_off_when & (PF_UPLOAD_OFF_METERED | PF_UPLOAD_OFF_BATTERY);
    u->metered_file = c->set.metered_file;
    if (!u->power_dir) u->power_dir = "/sys/class/power_supply";
    u->applied = -1;
    pf__share_init(&u->share, c->set.upload_share);
    if (c->set.upload_share < 0 || c->set.upload_share > 1) return PF_ERR_INVAL;
    int rc = budget_start(c);
    if (rc != 0) return rc;
    look_around(c);
    return 0;
}

void pf__upload_second(pf_client *c)
{
    pf__upload *u = &c->up;
    if (u->b.monthly) period_roll(c);
    if (u->share.share > 0) {
        pf__share_update(&u->share, pf__client_now(c), pf_session_uploaded(c->s));
        apply_rates(c, 0);
    }
    if (++u->seconds % 5 == 0) look_around(c);
    pf__upload_check(c);
}

void pf__upload_stop(pf_client *c)
{
    pf__budget *b = &c->up.b;
    if (!b->monthly || b->busy) return;
    uint64_t left = pf_session_upload_budget(c->s);
    pf_session_set_upload_budget(c->s, 0);
    if (left == 0 || left == PF_UPLOAD_UNLIMITED) return;
    uint64_t g, total;
    int corrupt;
    if (pf__budget_file_add(b->path, b->period, -(int64_t)left, b->monthly, &g, &total, &corrupt) == 0) {
        b->granted -= left < b->granted ? left : b->granted;
        b->file_used = total;
    }
}

void pf__upload_free(pf_client *c)
{
    free(c->up.b.path);
    c->up.b.path = NULL;
}

void pf_client_upload_status(const pf_client *c, pf_upload_status *out)
{
    const pf__upload *u = &c->up;
    memset(out, 0, sizeof *out);
    out->off = off_reasons(u);
    out->off_when = u->off_when;
    out->metered = u->metered;
    out->on_battery = u->battery;
    const pf__budget *b = &u->b;
    if (b->monthly) {
        uint64_t left = pf_session_upload_budget(c->s); /* ours, unspent */
        out->budget = b->monthly;
        out->budget_used = b->file_used > left ? b->file_used - left : 0;
        out->budget_left = out->budget_used < b->monthly ? b->monthly - out->budget_used : 0;
        memcpy(out->period, b->period, sizeof out->period);
        if (out->budget_left < PF_BLOCK_SIZE) out->off |= PF_UPLOAD_OFF_BUDGET;
    }
    out->enabled = out->off == 0;
    out->share = u->share.share;
    out->uplink_bps = u->share.uplink;
    out->cap_bps = u->up_applied;
    out->uploaded = pf_session_uploaded(c->s);
}
