/* Sans-I/O media container probe: learns a video's duration (and so its
 * bitrate, bytes per second of media) from the container index.
 *
 *   MP4/MOV (ISO BMFF): top-level boxes (32-bit size, 64-bit largesize,
 *     size 0 = to end of file) up to moov; moov/mvhd timescale+duration
 *     (version 0 and 1); if that is 0 or unknown, mvex/mehd, then the
 *     longest trak/mdia/mdhd.
 *   Matroska/WebM: EBML header (DocType "matroska" or "webm"), Segment,
 *     Info/TimestampScale (default 1,000,000 ns) and Info/Duration (4- or
 *     8-byte float).  Unknown-size elements (live Segment, Cluster) are
 *     entered rather than skipped, so the walk continues through them.  A
 *     SeekHead entry for Info is used when the linear walk runs out of
 *     bytes before reaching Info.  A Segment longer than the file (a
 *     recording cut short) is clamped to the file.
 *
 * The probe is stateless: call it again with more bytes when it asks.
 * It never allocates, never reads outside the two windows, and handles at
 * most PF_MEDIA_PROBE_MAX_ITEMS boxes/elements per call. */
#ifndef PF_CORE_MEDIA_PROBE_H
#define PF_CORE_MEDIA_PROBE_H

#include <stddef.h>
#include <stdint.h>

enum pf_container {
    PF_CONTAINER_UNKNOWN = 0,
    PF_CONTAINER_MP4 = 1, /* MP4, MOV, 3GP, M4V, M4A: any ISO BMFF */
    PF_CONTAINER_MKV = 2  /* Matroska and WebM */
};

/* Work bound: boxes/elements visited per call. */
#define PF_MEDIA_PROBE_MAX_ITEMS 10000
/* Read-ahead suggested when a header is missing (clamped to the file). */
#define PF_MEDIA_PROBE_CHUNK 65536u
/* An MP4 tail (after the last box seen) up to this size is asked for
 * whole: in a non-faststart file it is the moov. */
#define PF_MEDIA_PROBE_TAIL_MAX (8u * 1024 * 1024)

typedef struct pf_media_info {
    double duration_s; /* > 0 if known, else 0 */
    int container;     /* enum pf_container */
    /* MP4 only, 0 if not (yet) known: the moov box (header included), so
     * the streamer can prioritise it; a non-faststart MP4 has it at the
     * end.  Also set when the call returns PF_ERR_EAGAIN for the moov. */
    uint64_t moov_offset, moov_size;
} pf_media_info;

/* Probes a file from two borrowed windows: prefix = bytes [0, prefix_len)
 * and suffix = bytes [suffix_offset, suffix_offset + suffix_len) (usually
 * the tail of the file; may overlap the prefix; suffix_len 0 = none).
 * file_size is the whole file's length, or 0 if unknown (then a moov
 * after the prefix can only be found through need ranges).
 *
 * Returns:
 *   0                  info filled (duration_s may still be 0: the
 *                      container does not say, e.g. a live WebM).
 *   PF_ERR_EAGAIN      more bytes are needed: [*need_offset, +*need_len)
 *                      is a range (within the file) not yet covered that
 *                      lets the probe progress, e.g. the moov of a
 *                      non-faststart MP4.  Call again with the same prefix
 *                      and that range as the suffix.  The walk restarts
 *                      from the prefix each call, so if a second EAGAIN
 *                      names a range before the one you passed, pass a
 *                      suffix that spans both (e.g. [need_offset, end of
 *                      file)); extending a tail suffix backwards this way
 *                      always terminates.  info->container (and moov_*
 *                      once known) are filled.
 *   PF_ERR_UNSUPPORTED not MP4/MOV or Matroska/WebM (incl. another
 *                      EBML DocType).
 *   PF_ERR_PARSE       malformed: bad sizes, boxes past their parent or
 *                      the file, an MP4 without moov, an MKV without Info,
 *                      a bad Duration/TimestampScale.
 *   PF_ERR_LIMIT       more than PF_MEDIA_PROBE_MAX_ITEMS boxes/elements.
 *   PF_ERR_INVAL       NULL info, NULL window with a nonzero length, or
 *                      windows outside a known file_size.
 * need_offset/need_len may be NULL; they are set only on PF_ERR_EAGAIN. */
int pf_media_probe(const uint8_t *prefix, size_t prefix_len, const uint8_t *suffix,
                   size_t suffix_len, uint64_t suffix_offset, uint64_t file_size,
                   pf_media_info *info, uint64_t *need_offset, uint64_t *need_len);

/* Average bytes per second of media: file_size / duration_s, or 0 if the
 * duration is unknown. */
double pf_media_bytes_per_s(const pf_media_info *info, uint64_t file_size);

#endif
