/* CMSD, Common Media Server Data (CTA-5006): what a CDN tells the player
 * in its response headers.  CMSD-Static (an RFC 8941 Dictionary: the
 * object, as the origin described it) and CMSD-Dynamic (an RFC 8941 List:
 * one member per server on the way, each a string naming the server with
 * parameters; a server appends its own, so the rightmost is the closest
 * to us).  Read here: from CMSD-Dynamic etp (estimated throughput, kbps),
 * mb (max suggested bitrate, kbps), rd (response delay, ms), rtt (ms) and
 * du (duress), each from the rightmost member that carries it; from
 * CMSD-Static br (encoded bitrate, kbps) and d (duration, ms).  A header
 * line that is not valid Structured Fields is ignored whole (RFC 8941
 * 4.2); a key of the wrong type (or a negative number) is ignored.  Sans-I/O, no allocation, linear in
 * the input.  Not part of any API. */
#ifndef PF_CORE_MEDIA_CMSD_H
#define PF_CORE_MEDIA_CMSD_H

#include <stddef.h>
#include <stdint.h>

typedef struct pf__cmsd {
    int64_t etp; /* kbps; -1: not sent */
    int64_t mb;  /* kbps; -1 */
    int64_t rd;  /* ms; -1 */
    int64_t rtt; /* ms; -1 */
    int du;      /* the closest server that said so is in duress */
    int64_t br;  /* CMSD-Static: kbps; -1 */
    int64_t d;   /* CMSD-Static: ms; -1 */
} pf__cmsd;

void pf__cmsd_init(pf__cmsd *c);

/* One CMSD-Dynamic field value (several header lines joined with ','
 * are one list, the later lines to the right).  Keys found overwrite
 * those in *c.  0, or PF_ERR_PARSE (c unchanged). */
int pf__cmsd_parse_dynamic(const char *v, size_t n, pf__cmsd *c);

/* One CMSD-Static field value.  0, or PF_ERR_PARSE (c unchanged). */
int pf__cmsd_parse_static(const char *v, size_t n, pf__cmsd *c);

/* A response's header block ("Name: value" lines ending in CRLF or LF;
 * a status line and other fields are skipped): every CMSD-Static and
 * CMSD-Dynamic line, in order (names case-insensitive).  Returns how
 * many CMSD lines were read (0: none); c gets what the valid ones said. */
int pf__cmsd_parse_headers(const char *h, size_t n, pf__cmsd *c);

#endif
