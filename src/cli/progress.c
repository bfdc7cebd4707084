#include "cli/progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *pf_cli_esc(const char *s)
{
    static char bufs[8][4096];
    static unsigned next;
    char *b = bufs[next++ % 8];
    return pf_escape_text(s ? s : "(null)", b, sizeof bufs[0]);
}

void pf_fmt_bytes(double n, char *out, size_t len)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (n >= 1024 && u < 4) {
        n /= 1024;
        u++;
    }
    snprintf(out, len, u ? "%.1f %s" : "%.0f %s", n, units[u]);
}

static const char *state_name(int s)
{
    switch (s) {
    case PF_TS_METADATA:
        return "metadata";
    case PF_TS_CHECKING:
        return "checking";
    case PF_TS_DOWNLOADING:
        return "downloading";
    case PF_TS_SEEDING:
        return "seeding";
    case PF_TS_STOPPED:
        return "stopped";
    }
    return "?";
}

void pf_progress_draw(int tty, const char *name, const pf_torrent_stats *st, const char *extra)
{
    char down[32], up[32], have[32], total[32], eta[32] = "-";
    pf_fmt_bytes(st->down_rate, down, sizeof down);
    pf_fmt_bytes(st->up_rate, up, sizeof up);
    pf_fmt_bytes((double)st->have_bytes, have, sizeof have);
    pf_fmt_bytes((double)st->total_length, total, sizeof total);
    double pct = st->total_length ? 100.0 * (double)st->have_bytes / (double)st->total_length : 0;
    if (st->down_rate > 1 && st->have_bytes < st->total_length) {
        double s = (double)(st->total_length - st->have_bytes) / st->down_rate;
        if (s < 3600 * 99)
            snprintf(eta, sizeof eta, "%d:%02d:%02d", (int)s / 3600, ((int)s / 60) % 60, (int)s % 60);
    }
    fprintf(stderr, "%s%.24s %-11s %5.1f%% %s/%s  down %s/s  up %s/s  peers %u (%u seeds)  eta %s%s%s",
            tty ? "\r\033[K" : "", pf_cli_esc(name), state_name(st->state), pct, have, total, down, up,
            st->peers, st->seeds, eta, extra ? extra : "", tty ? "" : "\n");
    fflush(stderr);
}

void pf_progress_clear(void)
{
    fprintf(stderr, "\r\033[K");
}

/* ,"upload":{...}: the state, why it is off, the budget (as /stats.json
 * has it, its main fields). */
static void write_upload(FILE *f, const pf_upload_status *u)
{
    static const char *why[] = {"user", "metered", "battery", "budget"};
    fprintf(f, ",\"upload\":{\"enabled\":%s,\"state\":\"%s\",\"off\":[", u->enabled ? "true" : "false",
            u->enabled ? "on" : "off");
    for (int i = 0, first = 1; i < 4; i++)
        if (u->off & (1u << i)) {
            fprintf(f, "%s\"%s\"", first ? "" : ",", why[i]);
            first = 0;
        }
    fprintf(f, "],\"uploaded\":%llu", (unsigned long long)u->uploaded);
    if (u->budget) {
        char period[sizeof u->period + 1];
        memcpy(period, u->period, sizeof u->period);
        period[sizeof u->period] = 0;
        fprintf(f, ",\"budget\":%llu,\"budget_used\":%llu,\"budget_left\":%llu,\"period\":\"%s\"",
                (unsigned long long)u->budget, (unsigned long long)u->budget_used,
                (unsigned long long)u->budget_left, pf_cli_esc(period));
    }
    fprintf(f, ",\"cap_bps\":%llu,\"uplink_bps\":%.0f}", (unsigned long long)u->cap_bps, u->uplink_bps);
}

int pf_progress_write_stats(const char *path, const pf_torrent_stats *st, const pf_upload_status *up,
                            const pf_datagram_stats *dg)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    fprintf(f,
            "{\"uploaded\":%llu,\"downloaded\":%llu,\"wasted\":%llu,\"peers\":%u,\"seeds\":%u,"
            "\"have\":%u,\"pieces\":%u,\"hash_failures\":%u,\"down_rate\":%.0f,\"up_rate\":%.0f,"
            "\"complete\":%s,\"ssl\":%s,\"tls_peers\":%u,\"tls_refused\":%llu",
            (unsigned long long)st->uploaded, (unsigned long long)st->downloaded,
            (unsigned long long)st->wasted, st->peers, st->seeds, st->have, st->pieces,
            st->hash_failures, st->down_rate, st->up_rate,
            st->pieces && st->have == st->pieces ? "true" : "false", st->ssl ? "true" : "false", st->tls_peers,
            (unsigned long long)st->tls_refused);
    if (up) write_upload(f, up);
    if (dg)
        fprintf(f, ",\"datagrams\":{\"received\":%llu,\"dropped_in\":%llu,\"dropped_out\":%llu,\"utp_invalid\":%llu}",
                (unsigned long long)dg->received, (unsigned long long)dg->dropped_in,
                (unsigned long long)dg->dropped_out, (unsigned long long)dg->utp_invalid);
    fprintf(f, "}\n");
    if (fclose(f) != 0) return -1;
    return rename(tmp, path);
}

int pf_parse_size(const char *s, uint64_t *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0) return -1;
    double mult = 1;
    switch (*end) {
    case 'k': case 'K': mult = 1024.0; end++; break;
    case 'm': case 'M': mult = 1024.0 * 1024; end++; break;
    case 'g': case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
    }
    if (*end == 'B' || *end == 'b') end++;
    if (*end) return -1;
    *out = (uint64_t)(v * mult);
    return 0;
}
