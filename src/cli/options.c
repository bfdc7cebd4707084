/* Options shared by get, seed and play. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/progress.h"
#include "peerflow/session.h"

int pf_cli_transport(const char *cmd, const char *arg, pf_client_settings *cs)
{
    if (strcmp(arg, "tcp") == 0) {
        cs->transports = PF_TRANSPORTS_TCP;
    } else if (strcmp(arg, "utp") == 0) {
        cs->transports = PF_TRANSPORTS_UTP;
    } else if (strcmp(arg, "both") == 0) {
        cs->transports = PF_TRANSPORTS_TCP | PF_TRANSPORTS_UTP;
        cs->prefer_utp = 1;
    } else {
        fprintf(stderr, "peerflow %s: --transport takes tcp, utp or both\n", cmd);
        return 2;
    }
    return 0;
}

int pf_cli_utp_target(const char *cmd, const char *arg, pf_client_settings *cs)
{
    char *end = NULL;
    double ms = strtod(arg, &end);
    if (!*arg || !end || *end || !(ms >= 5 && ms <= 1000)) {
        fprintf(stderr, "peerflow %s: --utp-target takes milliseconds, 5 to 1000\n", cmd);
        return 2;
    }
    cs->utp_target_delay_us = (uint32_t)(ms * 1000);
    return 0;
}

int pf_cli_cmcd(const char *cmd, const char *arg, pf_client_settings *cs)
{
    if (strcmp(arg, "query") == 0) {
        cs->cmcd = PF_CMCD_QUERY;
    } else if (strcmp(arg, "headers") == 0) {
        cs->cmcd = PF_CMCD_HEADERS;
    } else if (strcmp(arg, "off") == 0) {
        cs->cmcd = PF_CMCD_OFF;
    } else {
        fprintf(stderr, "peerflow %s: --cmcd takes query, headers or off\n", cmd);
        return 2;
    }
    return 0;
}

/* --- uploads on the viewer's terms ------------------------------------------ */

int pf_cli_upload_option(const char *cmd, int ch, const char *arg, pf_cli_upload *u)
{
    char *end = NULL;
    switch (ch) {
    case PF_CLI_O_BUDGET:
        if (pf_parse_size(arg, &u->budget) != 0 || u->budget == 0) {
            fprintf(stderr, "peerflow %s: bad --upload-budget '%s' (bytes, K/M/G suffixes)\n", cmd,
                    pf_cli_esc(arg));
            return 2;
        }
        return 0;
    case PF_CLI_O_BUDGET_FILE:
        u->budget_file = arg;
        return 0;
    case PF_CLI_O_METERED_FILE:
        u->metered_file = arg;
        return 0;
    case PF_CLI_O_SHARE:
        u->share = strtod(arg, &end);
        if (!*arg || *end || !(u->share > 0 && u->share <= 1)) {
            fprintf(stderr, "peerflow %s: bad --upload-share '%s' (more than 0, at most 1)\n", cmd,
                    pf_cli_esc(arg));
            return 2;
        }
        return 0;
    case PF_CLI_O_OFF_WHEN:
        for (const char *p = arg; *p;) {
            size_t n = strcspn(p, ",");
            if (n == 7 && strncmp(p, "metered", 7) == 0) u->off_when |= PF_UPLOAD_OFF_METERED;
            else if (n == 7 && strncmp(p, "battery", 7) == 0) u->off_when |= PF_UPLOAD_OFF_BATTERY;
            else {
                fprintf(stderr, "peerflow %s: --upload-off-when takes metered and/or battery\n", cmd);
                return 2;
            }
            p += n + (p[n] == ',');
        }
        return 0;
    }
    return 2;
}

static int mkdir_parents(char *path)
{
    for (char *s = path + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        int rc = mkdir(path, 0700);
        *s = '/';
        if (rc != 0 && errno != EEXIST) return -1;
    }
    return 0;
}

int pf_cli_upload_settings(const char *cmd, pf_cli_upload *u, pf_client_settings *cs)
{
    cs->upload_off_when = u->off_when;
    cs->metered_file = u->metered_file;
    cs->upload_share = u->share;
    if (!u->budget) return 0;
    if (!u->budget_file) {
        const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
        int n = xdg && xdg[0] == '/' ? snprintf(u->path, sizeof u->path, "%s/peerflow/upload-budget", xdg)
                : home && home[0]   ? snprintf(u->path, sizeof u->path, "%s/.local/state/peerflow/upload-budget", home)
                                    : -1;
        if (n < 0 || (size_t)n >= sizeof u->path) {
            fprintf(stderr, "peerflow %s: --upload-budget needs --budget-file (no HOME)\n", cmd);
            return 2;
        }
        if (mkdir_parents(u->path) != 0) {
            fprintf(stderr, "peerflow %s: cannot create the folder of %s: %s\n", cmd, pf_cli_esc(u->path),
                    strerror(errno));
            return 1;
        }
        u->budget_file = u->path;
    }
    cs->upload_budget = u->budget;
    cs->upload_budget_file = u->budget_file;
    const char *period = getenv("PEERFLOW_BUDGET_PERIOD");
    if (period && *period) cs->upload_budget_period = period;
    return 0;
}

int pf_cli_tag_key_option(const char *cmd, int ch, const char *arg, pf_cli_tag_key *k)
{
    if (ch == PF_CLI_O_NO_TAG_KEY) {
        k->off = 1;
        return 0;
    }
    if (!*arg) {
        fprintf(stderr, "peerflow %s: --tag-key: empty file name\n", cmd);
        return 2;
    }
    k->file = arg;
    return 0;
}

void pf_cli_tag_key_settings(pf_cli_tag_key *k, pf_client_settings *cs)
{
    if (k->off) return;
    if (!k->file) {
        const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
        int n = xdg && xdg[0] == '/' ? snprintf(k->path, sizeof k->path, "%s/peerflow/tag.key", xdg)
                : home && home[0]   ? snprintf(k->path, sizeof k->path, "%s/.local/state/peerflow/tag.key", home)
                                    : -1;
        if (n < 0 || (size_t)n >= sizeof k->path) return;
        k->file = k->path;
    }
    cs->tag_key_file = k->file;
}

void pf_cli_upload_brief(pf_client *c, char *out, size_t cap)
{
    pf_upload_status u;
    pf_client_upload_status(c, &u);
    out[0] = 0;
    size_t n = 0;
    if (!u.enabled) {
        static const struct {
            uint32_t bit;
            const char *name;
        } why[] = {{PF_UPLOAD_OFF_USER, "switched off"},
                   {PF_UPLOAD_OFF_METERED, "metered"},
                   {PF_UPLOAD_OFF_BATTERY, "battery"},
                   {PF_UPLOAD_OFF_BUDGET, "budget spent"}};
        n += (size_t)snprintf(out + n, cap - n, " | up off (");
        int first = 1;
        for (size_t i = 0; i < sizeof why / sizeof why[0] && n < cap; i++)
            if (u.off & why[i].bit) {
                n += (size_t)snprintf(out + n, cap - n, "%s%s", first ? "" : ", ", why[i].name);
                first = 0;
            }
        if (n < cap) n += (size_t)snprintf(out + n, cap - n, ")");
    }
    char a[32], b[32];
    if (u.budget && n < cap) {
        pf_fmt_bytes((double)u.budget_left, a, sizeof a);
        pf_fmt_bytes((double)u.budget, b, sizeof b);
        n += (size_t)snprintf(out + n, cap - n, " | budget %s left of %s", a, b);
    }
    if (u.cap_bps && n < cap) {
        pf_fmt_bytes((double)u.cap_bps, a, sizeof a);
        n += (size_t)snprintf(out + n, cap - n, " | cap %s/s", a);
        if (u.share > 0 && u.uplink_bps > 0 && n < cap) {
            pf_fmt_bytes(u.uplink_bps, b, sizeof b);
            snprintf(out + n, cap - n, " (%.0f%% of %s/s)", u.share * 100, b);
        }
    }
}

int pf_cli_tracker_token(const char *cmd, const char *arg, char *out, size_t cap)
{
    size_t n = 0;
    if (arg[0] == '@') {
        FILE *f = fopen(arg + 1, "r");
        if (!f) {
            fprintf(stderr, "peerflow %s: --tracker-token %s: %s\n", cmd, pf_cli_esc(arg + 1), strerror(errno));
            return 2;
        }
        n = fread(out, 1, cap, f);
        fclose(f);
        while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' ')) n--;
    } else {
        n = strlen(arg);
        if (n < cap) memcpy(out, arg, n);
    }
    if (n == 0 || n >= cap) {
        fprintf(stderr, "peerflow %s: --tracker-token: %s\n", cmd, n ? "too long" : "empty");
        return 2;
    }
    out[n] = 0;
    return 0;
}

int pf_cli_read_text(const char *cmd, const char *opt, const char *path, size_t max, char **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    char *buf = f ? malloc(max + 1) : NULL;
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    const char *why = !f ? strerror(errno) : !buf ? "out of memory" : ferror(f) ? "read error" : NULL;
    if (!why && n > max) why = "too large";
    if (!why && memchr(buf, 0, n)) why = "not a text file";
    if (f) fclose(f);
    if (why) {
        fprintf(stderr, "peerflow %s: %s %s: %s\n", cmd, opt, pf_cli_esc(path), why);
        free(buf);
        return 1;
    }
    buf[n] = 0;
    *out = buf;
    return 0;
}

int pf_cli_tls_option(const char *cmd, int ch, const char *arg, pf_cli_tls *o)
{
    if (!*arg) {
        fprintf(stderr, "peerflow %s: empty file name\n", cmd);
        return 2;
    }
    if (ch == PF_CLI_O_SSL_CERT) o->cert = arg;
    if (ch == PF_CLI_O_SSL_KEY) o->key = arg;
    if (ch == PF_CLI_O_SSL_CRL) o->crl = arg;
    return 0;
}

static int tls_load_crl(pf_cli_tls *o)
{
    char *crl = NULL;
    if (pf_cli_read_text(o->cmd, "--ssl-crl", o->crl, 16u << 20, &crl) != 0) return 1;
    int rc = pf_client_torrent_set_tls_crl(o->t, crl);
    free(crl);
    if (rc) {
        fprintf(stderr, "peerflow %s: --ssl-crl %s: %s\n", o->cmd, pf_cli_esc(o->crl),
                rc == PF_ERR_INVAL     ? "not a CRL of this torrent's root certificate"
                : rc == PF_ERR_TIMEOUT ? "past its next update: it would refuse every peer (renew it: peerflow "
                                         "cert revoke --crl FILE)"
                                       : pf_strerror(rc));
        return 1;
    }
    return 0;
}

/* The operator published a new list: in force for the next connections;
 * a broken one is refused and the last stays. */
static void on_crl_changed(uv_fs_poll_t *h, int status, const uv_stat_t *prev, const uv_stat_t *cur)
{
    (void)prev;
    (void)cur;
    pf_cli_tls *o = h->data;
    if (status < 0) return; /* gone for now: the last list stays */
    if (tls_load_crl(o) == 0) fprintf(stderr, "peerflow %s: revocation list %s re-read\n", o->cmd, pf_cli_esc(o->crl));
}

int pf_cli_tls_apply(const char *cmd, pf_cli_tls *o, pf_client_torrent *t, uv_loop_t *loop)
{
    snprintf(o->cmd, sizeof o->cmd, "%s", cmd);
    o->t = t;
    if (!o->cert != !o->key) {
        fprintf(stderr, "peerflow %s: --ssl-cert and --ssl-key go together\n", cmd);
        return 1;
    }
    if (o->cert) {
        char *cert = NULL, *key = NULL;
        int rc = pf_cli_read_text(cmd, "--ssl-cert", o->cert, 1u << 20, &cert) ||
                 pf_cli_read_text(cmd, "--ssl-key", o->key, 1u << 20, &key);
        if (!rc && (rc = pf_client_torrent_set_tls_identity(t, cert, key)) != 0)
            fprintf(stderr, "peerflow %s: --ssl-cert %s: %s\n", cmd, pf_cli_esc(o->cert),
                    rc == PF_ERR_UNSUPPORTED ? "not an SSL torrent"
                    : rc == PF_ERR_INVAL     ? "unreadable, its key does not match, or not signed for this torrent "
                                               "by its root certificate"
                                             : pf_strerror(rc));
        free(cert);
        free(key);
        if (rc) return 1;
    }
    if (o->crl) {
        if (tls_load_crl(o) != 0) return 1;
        if (uv_fs_poll_init(loop, &o->poll) == 0) {
            o->poll.data = o;
            o->polling = uv_fs_poll_start(&o->poll, on_crl_changed, o->crl, 2000) == 0;
        }
    }
    return 0;
}

void pf_cli_tls_warn(const char *cmd, const pf_cli_tls *o, pf_client_torrent *t)
{
    pf_torrent_stats st;
    pf_client_torrent_stats(t, &st);
    if (st.ssl && !o->cert)
        fprintf(stderr,
                "peerflow %s: an SSL torrent: without --ssl-cert and --ssl-key it talks to no peer\n", cmd);
}
