/* The one log formatter (see log.h). */
#include "core/util/log.h"

#include <stdio.h>
#include <string.h>

void pf__logger_init(pf_logger *l, pf_log_fn fn, void *ud, pf_log_level level)
{
    memset(l, 0, sizeof *l);
    l->fn = fn;
    l->ud = ud;
    l->level = level;
}

char *pf_escape_text(const char *s, char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    if (!outlen) return out;
    size_t o = 0;
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 || ch == 0x7f) {
            if (o + 4 >= outlen) break;
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        } else {
            if (o + 1 >= outlen) break;
            out[o++] = (char)ch;
        }
    }
    out[o] = 0;
    return out;
}

/* The call site's slot, or NULL when this line is to be dropped.  Sets
 * *suppressed to the count of lines dropped in the second that just
 * ended (to say so first). */
static int admit(pf_logger *l, const char *fmt, uint32_t *suppressed)
{
    *suppressed = 0;
    if (!l->now) return 1;
    struct pf__log_site *site = NULL;
    for (uint32_t i = 0; i < PF_LOG_SITES; i++)
        if (l->sites[i].fmt == fmt) site = &l->sites[i];
    if (!site) {
        site = &l->sites[l->next_site++ % PF_LOG_SITES];
        memset(site, 0, sizeof *site);
        site->fmt = fmt;
        site->window = l->now;
    }
    if (l->now >= site->window + 1000000000ULL) {
        *suppressed = site->suppressed;
        site->window = l->now;
        site->count = 0;
        site->suppressed = 0;
    }
    if (site->count >= PF_LOG_BURST) {
        site->suppressed++;
        return 0;
    }
    site->count++;
    return 1;
}

void pf__logv(pf_logger *l, pf_log_level lvl, const char *fmt, va_list ap)
{
    if (!pf__log_on(l, lvl)) return;
    uint32_t suppressed = 0;
    if (lvl < PF_LOG_DEBUG && !admit(l, fmt, &suppressed)) return;
    char raw[512], msg[1024];
    vsnprintf(raw, sizeof raw, fmt, ap);
    pf_escape_text(raw, msg, sizeof msg);
    if (suppressed) {
        char note[128];
        snprintf(note, sizeof note, "(%u more lines like the next were suppressed in the last second)",
                 suppressed);
        l->fn(l->ud, lvl, note);
    }
    l->fn(l->ud, lvl, msg);
}

void pf__logf(pf_logger *l, pf_log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pf__logv(l, lvl, fmt, ap);
    va_end(ap);
}
