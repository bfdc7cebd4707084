/* Shared by fuzz_hls.c and fuzz_dash.c: what every manifest the readers
 * accept must satisfy (the failing allocator is fuzz_util.h's). */
#ifndef PF_FUZZ_MANIFEST_CHECK_H
#define PF_FUZZ_MANIFEST_CHECK_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/media/manifest.h"
#include "fuzz_util.h"

/* A title-relative path: not empty, no leading '/', no "", "." or ".."
 * segment, no NUL-less control character, no '\\'. */
static void fz_check_path(const char *p)
{
    if (!p || !*p || p[0] == '/') abort();
    if (strlen(p) >= PF_MF_MAX_PATH || strchr(p, '\\')) abort();
    const char *s = p;
    for (;;) {
        size_t l = strcspn(s, "/");
        if (l == 0 || (l == 1 && s[0] == '.') || (l == 2 && s[0] == '.' && s[1] == '.')) abort();
        for (size_t i = 0; i < l; i++)
            if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) abort();
        if (!s[l]) break;
        s += l + 1;
    }
}

static void fz_check_track(const pf_mf_track *t)
{
    if (!t->id) abort();
    if (t->kind && t->kind != 'v' && t->kind != 'a' && t->kind != 't') abort();
    if (t->playlist) fz_check_path(t->playlist);
    if (t->init) fz_check_path(t->init);
    if (!t->init && (t->init_off || t->init_len)) abort();
    if (t->nseg > PF_MF_MAX_SEGMENTS || (t->nseg && !t->seg)) abort();
    double sum = 0;
    for (size_t i = 0; i < t->nseg; i++) {
        const pf_mf_segment *s = &t->seg[i];
        fz_check_path(s->path);
        if (!isfinite(s->start_s) || !isfinite(s->duration_s) || s->duration_s < 0) abort();
        if (s->range_len == 0 && s->range_off != 0) abort();
        if (s->range_len && s->range_off > UINT64_MAX - s->range_len) abort();
        if (i && s->start_s < t->seg[i - 1].start_s) abort(); /* presentation order */
        sum += s->duration_s;
    }
    if (!isfinite(t->duration_s) || fabs(sum - t->duration_s) > 1e-6 * (1 + sum)) abort();
}

static void fz_check_manifest(const pf_manifest *m)
{
    if (!m || m->ntracks == 0 || m->ntracks > PF_MF_MAX_TRACKS) abort();
    size_t all = 0;
    for (size_t i = 0; i < m->ntracks; i++) {
        fz_check_track(&m->tracks[i]);
        all += m->tracks[i].nseg;
    }
    if (all > PF_MF_MAX_SEGMENTS_ALL || !isfinite(m->duration_s) || m->duration_s < 0) abort();
}

/* A refusal: one of the documented codes, a message, no manifest. */
static void fz_check_refusal(int rc, const pf_manifest *m, const char *err)
{
    if (m) abort();
    if (rc != PF_ERR_PARSE && rc != PF_ERR_RANGE && rc != PF_ERR_LIMIT && rc != PF_ERR_UNSUPPORTED) abort();
    if (!err[0]) abort();
}

#endif
