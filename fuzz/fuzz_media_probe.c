/* Fuzz the media probe.  The input is a whole file (corpus: small real
 * MP4/MOV/MKV/WebM files).  It is probed whole, with an unknown size, and
 * through windows the way a streamer does (prefix + a tail grown to each
 * asked range).  Invariants: only documented codes; an EAGAIN range lies
 * in the file and is not already covered; the streamer loop ends in a few
 * rounds; success means a finite duration >= 0 and, for MP4, a moov box
 * inside the file that starts with "moov"; for MP4 the windowed result
 * equals the whole-file result. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec/media_probe.h"
#include "peerflow/peerflow.h"

static int rc_ok(int rc)
{
    return rc == 0 || rc == PF_ERR_EAGAIN || rc == PF_ERR_UNSUPPORTED || rc == PF_ERR_PARSE ||
           rc == PF_ERR_LIMIT;
}

static void check_info(int rc, const pf_media_info *info, const uint8_t *data, size_t size)
{
    if (!rc_ok(rc)) abort();
    if (rc != 0) return;
    if (!isfinite(info->duration_s) || info->duration_s < 0) abort();
    if (info->container == PF_CONTAINER_MP4) {
        if (info->moov_size < 8 || info->moov_offset > size ||
            info->moov_size > size - info->moov_offset)
            abort();
        if (memcmp(data + info->moov_offset + 4, "moov", 4) != 0) abort();
    } else if (info->container == PF_CONTAINER_MKV) {
        if (info->moov_offset || info->moov_size) abort();
    } else {
        abort();
    }
}

/* Is [off, off+len) inside [0, pre) or [soff, size), or their union? */
static int covered(uint64_t off, uint64_t len, size_t pre, uint64_t soff, size_t size)
{
    uint64_t end = off + len;
    if (end <= pre) return 1;
    if (soff >= size) return 0;
    if (off >= soff && end <= size) return 1;
    return soff <= pre && end <= size;
}

/* A streamer: a prefix of `pre` bytes and a tail grown backwards to each
 * range asked for. */
static int stream(const uint8_t *data, size_t size, size_t pre, size_t tail, pf_media_info *info)
{
    uint64_t soff = size - tail;
    for (int round = 0;; round++) {
        uint64_t no = 0, nl = 0;
        int rc = pf_media_probe(data, pre, data + soff, (size_t)(size - soff), soff, size, info,
                                &no, &nl);
        check_info(rc, info, data, size);
        if (rc != PF_ERR_EAGAIN) return rc;
        if (size == 0) return rc; /* size 0 means unknown */
        if (nl == 0 || no > size || nl > size - no) abort();
        if (covered(no, nl, pre, soff, size)) abort(); /* would never progress */
        if (no >= soff) abort();
        if (round >= 4) abort(); /* the tail protocol converges fast */
        soff = no;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pf_media_info full, info;
    uint64_t no, nl;
    int rc_full = pf_media_probe(data, size, NULL, 0, 0, size, &full, &no, &nl);
    check_info(rc_full, &full, data, size);
    if (rc_full == PF_ERR_EAGAIN && size > 0) {
        /* The whole file is here: only a request for nothing could help. */
        abort();
    }

    int rc = pf_media_probe(data, size, NULL, 0, 0, 0, &info, &no, &nl);
    check_info(rc, &info, data, size);
    if (rc == PF_ERR_EAGAIN && (no < size && nl <= size - no)) abort();

    if (size == 0) return 0;
    static const size_t pres[] = {0, 1, 16, 100, 1000};
    for (size_t i = 0; i < sizeof pres / sizeof pres[0] + 2; i++) {
        size_t pre = i < 5 ? pres[i] : (i == 5 ? size / 2 : size / 5);
        if (pre > size) pre = size;
        for (int t = 0; t < 3; t++) {
            size_t tail = t == 0 ? 0 : t == 1 ? 16 : size / 3;
            if (tail > size) tail = size;
            rc = stream(data, size, pre, tail, &info);
            if (rc_full == 0 && full.container == PF_CONTAINER_MP4 && rc == 0) {
                if (info.container != full.container || info.moov_offset != full.moov_offset ||
                    info.moov_size != full.moov_size ||
                    memcmp(&info.duration_s, &full.duration_s, sizeof(double)) != 0)
                    abort();
            }
        }
    }
    return 0;
}
