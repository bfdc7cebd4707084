/* peerflow cert: the operator's PKI for TLS swarms (include/peerflow/cert.h):
 * a CA for the torrents' ssl-cert, a viewer's certificate for a torrent,
 * the revocation list. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/progress.h"
#include "peerflow/cert.h"
#include "peerflow/peerflow.h"

#define CERT_FILE_MAX (16u << 20) /* bytes of a PEM file read (a CRL of ~300,000 entries) */
#define SKEW_S 3600               /* certificates and CRLs start an hour ago: clocks that lag */
#define DAY_S 86400

static const char USAGE_CA[] =
    "usage: peerflow cert ca --out PREFIX [--name CN] [--days N] [--force]\n"
    "  A new CA (self-signed root, ECDSA P-256): PREFIX.pem, the certificate\n"
    "  that goes into the torrents (peerflow create --ssl-ca PREFIX.pem), and\n"
    "  PREFIX.key.pem, its private key (mode 0600).\n"
    "      --name CN   its common name (default \"peerflow swarm CA\")\n"
    "      --days N    valid for N days from an hour ago (default 3650)\n"
    "      --force     replace existing files\n";
static const char USAGE_ISSUE[] =
    "usage: peerflow cert issue --ca PREFIX --name TORRENT_NAME --out PREFIX2\n"
    "                           [--days N | --not-after UNIX] [--not-before UNIX] [--force]\n"
    "  A viewer's certificate for the torrent named TORRENT_NAME (its info\n"
    "  dict's name, byte for byte; \"*\" for every torrent of this CA), signed\n"
    "  by PREFIX.pem with PREFIX.key.pem: PREFIX2.pem and PREFIX2.key.pem\n"
    "  (mode 0600), the viewer's identity in the swarm.\n"
    "      --days N          valid for N days from now (default 30)\n"
    "      --not-before UNIX valid from this Unix time (default an hour ago)\n"
    "      --not-after UNIX  valid until this Unix time (instead of --days)\n"
    "      --force           replace existing files\n";
static const char USAGE_REVOKE[] =
    "usage: peerflow cert revoke --ca PREFIX --crl FILE [--days N] [CERT.pem...]\n"
    "  Adds the certificates' serial numbers to the CA's revocation list FILE\n"
    "  (created if missing, else replaced atomically, keeping its entries and\n"
    "  counting its number up); without CERT.pem, renews FILE.  peerflow peers\n"
    "  that load it refuse those certificates; libtorrent peers read no CRL.\n"
    "      --days N    next update due in N days (default 7): renew it before\n"
    "                  then, or peers checking it refuse everyone\n";

static void usage(FILE *f, const char *action)
{
    int all = !action || (strcmp(action, "ca") != 0 && strcmp(action, "issue") != 0 && strcmp(action, "revoke") != 0);
    if (all || strcmp(action, "ca") == 0) fputs(USAGE_CA, f);
    if (all || strcmp(action, "issue") == 0) fputs(USAGE_ISSUE, f);
    if (all || strcmp(action, "revoke") == 0) fputs(USAGE_REVOKE, f);
}

/* Options ------------------------------------------------------------------- */

/* OPTS[i] is option O_* i; getopt returns O_BASE + i. */
enum { O_OUT, O_CA, O_NAME, O_DAYS, O_NOT_BEFORE, O_NOT_AFTER, O_CRL, O_FORCE, O_N, O_BASE = 256 };
static const struct option OPTS[] = {{"out", 1, 0, O_BASE + O_OUT},
                                     {"ca", 1, 0, O_BASE + O_CA},
                                     {"name", 1, 0, O_BASE + O_NAME},
                                     {"days", 1, 0, O_BASE + O_DAYS},
                                     {"not-before", 1, 0, O_BASE + O_NOT_BEFORE},
                                     {"not-after", 1, 0, O_BASE + O_NOT_AFTER},
                                     {"crl", 1, 0, O_BASE + O_CRL},
                                     {"force", 0, 0, O_BASE + O_FORCE},
                                     {"help", 0, 0, 'h'},
                                     {0, 0, 0, 0}};

typedef struct cert_opts {
    const char *action;
    const char *out, *ca, *name, *crl;
    unsigned days;
    int64_t not_before, not_after;
    int force;
    unsigned seen; /* 1 << O_* of each option given */
    char **args;   /* the operands (certificate files) */
    int nargs;
} cert_opts;

/* A whole decimal number in [min, max]: 0, or -1. */
static int parse_int(const char *s, long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < min || v > max) return -1;
    *out = v;
    return 0;
}

/* One option into o: 0, or 2 after a message. */
static int opt_set(cert_opts *o, int ch, const char *arg)
{
    long long v = 0;
    int bad = 0;
    switch (ch) {
    case O_OUT: o->out = arg; return 0;
    case O_CA: o->ca = arg; return 0;
    case O_NAME: o->name = arg; return 0;
    case O_CRL: o->crl = arg; return 0;
    case O_FORCE: o->force = 1; return 0;
    case O_DAYS:
        bad = parse_int(arg, 1, PF_CERT_DAYS_MAX, &v) != 0;
        o->days = (unsigned)v;
        break;
    case O_NOT_BEFORE:
    case O_NOT_AFTER:
        bad = parse_int(arg, 0, 253402300799LL, &v) != 0; /* to 9999-12-31 */
        *(ch == O_NOT_BEFORE ? &o->not_before : &o->not_after) = v;
        break;
    }
    if (!bad) return 0;
    fprintf(stderr, "peerflow cert: bad --%s '%s' (%s)\n", OPTS[ch].name, pf_cli_esc(arg),
            ch == O_DAYS ? "days, 1 to 36500" : "Unix seconds");
    return 2;
}

/* Parses argv (argv[1] the action) into o: 0, 2 after a message (usage),
 * or -1 when --help was asked and printed. */
static int opts_parse(int argc, char **argv, cert_opts *o)
{
    optind = 2;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", OPTS, NULL)) != -1) {
        if (ch == 'h') {
            usage(stdout, o->action);
            return -1;
        }
        if (ch < O_BASE || ch >= O_BASE + O_N) {
            usage(stderr, o->action);
            return 2;
        }
        o->seen |= 1u << (ch - O_BASE);
        if (opt_set(o, ch - O_BASE, optarg) != 0) return 2;
    }
    o->args = argv + optind;
    o->nargs = argc - optind;
    return 0;
}

/* Only the options in `allowed` (1 << O_*), and what `required` names: 0,
 * or 2 after a message. */
static int opts_check(const cert_opts *o, unsigned allowed, unsigned required, int operands)
{
    for (int i = 0; i < O_N; i++) {
        const char *why = (o->seen & ~allowed) >> i & 1    ? "is not an option of"
                          : (required & ~o->seen) >> i & 1 ? "is needed by"
                                                           : NULL;
        if (why) {
            fprintf(stderr, "peerflow cert: --%s %s 'cert %s'\n", OPTS[i].name, why, o->action);
            usage(stderr, o->action);
            return 2;
        }
    }
    if (o->nargs && !operands) {
        fprintf(stderr, "peerflow cert: unexpected argument '%s'\n", pf_cli_esc(o->args[0]));
        usage(stderr, o->action);
        return 2;
    }
    return 0;
}

/* Files ---------------------------------------------------------------------- */

/* path's text into *out (malloc, NUL-terminated): 0, or 1 after a message.
 * A missing file with missing_ok: 0 and *out NULL. */
static int read_text(const char *path, int missing_ok, char **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f && errno == ENOENT && missing_ok) return 0;
    const char *why = f ? NULL : strerror(errno);
    char *buf = NULL;
    size_t n = 0, cap = 0;
    while (!why) {
        if (n == cap) {
            char *more = cap < CERT_FILE_MAX ? realloc(buf, 2 * cap + 65536 + 1) : NULL;
            if (!more) {
                why = cap < CERT_FILE_MAX ? "out of memory" : "too large for a PEM file";
                break;
            }
            buf = more;
            cap = 2 * cap + 65536;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) why = "read error";
            break;
        }
    }
    if (f) fclose(f);
    if (why) {
        fprintf(stderr, "peerflow cert: %s: %s\n", pf_cli_esc(path), why);
        free(buf);
        return 1;
    }
    buf[n] = 0;
    *out = buf;
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* data into path with mode, through a temporary file in its folder: renamed
 * over path (replace), else linked to it, which fails if path exists.
 * 0, or -1 with errno. */
static int write_file(const char *path, const char *data, mode_t mode, int replace)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) return -1;
    int ok = fchmod(fd, mode) == 0 && write_all(fd, data, strlen(data)) == 0 && fsync(fd) == 0;
    int err = errno;
    if (close(fd) != 0 && ok) {
        ok = 0;
        err = errno;
    }
    if (ok && (replace ? rename(tmp, path) : link(tmp, path)) != 0) {
        ok = 0;
        err = errno;
    }
    if (!ok || !replace) unlink(tmp);
    errno = err;
    return ok ? 0 : -1;
}

static void write_error(const char *path)
{
    fprintf(stderr, "peerflow cert: %s: %s\n", pf_cli_esc(path),
            errno == EEXIST ? "exists (--force replaces it)" : strerror(errno));
}

typedef struct out_paths {
    char cert[4096], key[4096];
} out_paths;

/* PREFIX.pem and PREFIX.key.pem, neither existing unless force: 0, or 1
 * after a message. */
static int out_paths_make(const char *prefix, int force, out_paths *p)
{
    if (snprintf(p->cert, sizeof p->cert, "%s.pem", prefix) >= (int)sizeof p->cert ||
        snprintf(p->key, sizeof p->key, "%s.key.pem", prefix) >= (int)sizeof p->key) {
        fprintf(stderr, "peerflow cert: --out: too long\n");
        return 1;
    }
    struct stat st;
    const char *exists = lstat(p->cert, &st) == 0 ? p->cert : lstat(p->key, &st) == 0 ? p->key : NULL;
    if (exists && !force) {
        fprintf(stderr, "peerflow cert: %s: exists (--force replaces it)\n", pf_cli_esc(exists));
        return 1;
    }
    return 0;
}

/* The key (0600) first, then the certificate: 0, or 1 after a message. */
static int write_pair(const out_paths *p, const char *cert, const char *key, int force)
{
    if (write_file(p->key, key, 0600, force) != 0) {
        write_error(p->key);
        return 1;
    }
    if (write_file(p->cert, cert, 0644, force) != 0) {
        write_error(p->cert);
        if (!force) unlink(p->key);
        return 1;
    }
    return 0;
}

static const char *utc_date(int64_t t, char *buf, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0) snprintf(buf, cap, "%" PRId64, t);
    return buf;
}

/* The CA's two files into *cert and *key: 0, or 1 after a message. */
static int ca_read(const char *prefix, out_paths *p, char **cert, char **key)
{
    *key = NULL;
    if (out_paths_make(prefix, 1, p) != 0 || read_text(p->cert, 0, cert) != 0) return 1;
    if (read_text(p->key, 0, key) == 0) return 0;
    free(*cert);
    *cert = NULL;
    return 1;
}

/* Why the CA's files were refused (rc from pf_cert_issue or _revoke). */
static void ca_error(const out_paths *ca, int rc)
{
    if (rc == PF_ERR_PARSE)
        fprintf(stderr, "peerflow cert: %s, %s: not a PEM certificate and an unencrypted PEM private key\n",
                pf_cli_esc(ca->cert), pf_cli_esc(ca->key));
    else if (rc == PF_ERR_INVAL)
        fprintf(stderr, "peerflow cert: %s is not the key of %s, or that is not a CA certificate\n",
                pf_cli_esc(ca->key), pf_cli_esc(ca->cert));
    else
        fprintf(stderr, "peerflow cert: %s\n", pf_strerror(rc));
}

/* cert ca ---------------------------------------------------------------------- */

static int cert_ca(const cert_opts *o)
{
    int rc = opts_check(o, 1u << O_OUT | 1u << O_NAME | 1u << O_DAYS | 1u << O_FORCE, 1u << O_OUT, 0);
    if (rc) return rc;
    const char *name = o->name ? o->name : "peerflow swarm CA";
    unsigned days = o->days ? o->days : 3650;
    out_paths p;
    if (out_paths_make(o->out, o->force, &p) != 0) return 1;
    char *cert = NULL, *key = NULL, date[64];
    int64_t from = (int64_t)time(NULL) - SKEW_S;
    rc = pf_cert_make_ca(name, from, days, &cert, &key);
    if (rc) {
        fprintf(stderr, "peerflow cert: cannot make a CA: %s\n",
                rc == PF_ERR_INVAL ? "bad --name (1-64 bytes of UTF-8 without control characters)" : pf_strerror(rc));
        return rc == PF_ERR_INVAL ? 2 : 1;
    }
    rc = write_pair(&p, cert, key, o->force);
    if (!rc)
        printf("%s: CA certificate \"%s\", valid until %s\n%s: its private key (keep it offline)\n",
               pf_cli_esc(p.cert), pf_cli_esc(name), utc_date(from + (int64_t)days * DAY_S, date, sizeof date),
               pf_cli_esc(p.key));
    pf_cert_free(cert);
    pf_cert_free(key);
    return rc;
}

/* cert issue ------------------------------------------------------------------- */

/* The validity of an issued certificate: 0, or 2 after a message. */
static int issue_times(const cert_opts *o, int64_t *from, int64_t *until)
{
    int64_t now = (int64_t)time(NULL);
    if ((o->seen >> O_DAYS & 1) && (o->seen >> O_NOT_AFTER & 1)) {
        fprintf(stderr, "peerflow cert: --days or --not-after, not both\n");
        return 2;
    }
    *from = o->seen >> O_NOT_BEFORE & 1 ? o->not_before : now - SKEW_S;
    *until = o->seen >> O_NOT_AFTER & 1 ? o->not_after : now + (int64_t)(o->days ? o->days : 30) * DAY_S;
    if (*from >= *until) {
        fprintf(stderr, "peerflow cert: the certificate would end before it starts (--not-before, --not-after)\n");
        return 2;
    }
    return 0;
}

static int cert_issue(const cert_opts *o)
{
    unsigned need = 1u << O_CA | 1u << O_NAME | 1u << O_OUT;
    int rc = opts_check(o, need | 1u << O_DAYS | 1u << O_NOT_BEFORE | 1u << O_NOT_AFTER | 1u << O_FORCE, need, 0);
    int64_t from, until;
    if (rc || (rc = issue_times(o, &from, &until)) != 0) return rc;
    if (pf_cert_name_check(o->name) != 0) {
        fprintf(stderr, "peerflow cert: bad --name '%s': 1-%d bytes of UTF-8 without control characters\n",
                pf_cli_esc(o->name), PF_CERT_NAME_MAX);
        return 2;
    }
    out_paths ca, p;
    char *ca_cert, *ca_key, *cert = NULL, *key = NULL, date[64];
    if (out_paths_make(o->out, o->force, &p) != 0 || ca_read(o->ca, &ca, &ca_cert, &ca_key) != 0) return 1;
    rc = pf_cert_issue(ca_cert, ca_key, o->name, from, until, &cert, &key);
    if (rc) ca_error(&ca, rc);
    else rc = write_pair(&p, cert, key, o->force);
    if (!rc)
        printf("%s: certificate for \"%s\", valid until %s\n%s: its private key\n", pf_cli_esc(p.cert),
               pf_cli_esc(o->name), utc_date(until, date, sizeof date), pf_cli_esc(p.key));
    free(ca_cert);
    pf_cert_free(ca_key);
    pf_cert_free(cert);
    pf_cert_free(key);
    return rc ? 1 : 0;
}

/* cert revoke ------------------------------------------------------------------ */

typedef struct revoke_input {
    out_paths ca;
    char *ca_cert, *ca_key, *old;
    char **leaves;
} revoke_input;

static void revoke_input_free(revoke_input *in, int n)
{
    free(in->ca_cert);
    pf_cert_free(in->ca_key);
    free(in->old);
    for (int i = 0; in->leaves && i < n; i++) free(in->leaves[i]);
    free(in->leaves);
}

static int revoke_read(const cert_opts *o, revoke_input *in)
{
    if (ca_read(o->ca, &in->ca, &in->ca_cert, &in->ca_key) != 0 || read_text(o->crl, 1, &in->old) != 0) return 1;
    in->leaves = calloc((size_t)o->nargs + 1, sizeof *in->leaves);
    if (!in->leaves) return 1;
    for (int i = 0; i < o->nargs; i++)
        if (read_text(o->args[i], 0, &in->leaves[i]) != 0) return 1;
    return 0;
}

/* pf_cert_revoke of the CA with old and one leaf (either may be NULL),
 * for its verdict alone. */
static int revoke_try(const revoke_input *in, const char *old, const char *leaf, int64_t now, unsigned days)
{
    char *crl = NULL;
    const char *one[1] = {leaf};
    int rc = pf_cert_revoke(in->ca_cert, in->ca_key, old, one, leaf ? 1 : 0, now, days, &crl);
    pf_cert_free(crl);
    return rc;
}

/* Which input pf_cert_revoke refused, each tried alone, and why. */
static void revoke_error(const cert_opts *o, const revoke_input *in, int64_t now, int rc)
{
    int r = revoke_try(in, NULL, NULL, now, o->days);
    if (r) {
        ca_error(&in->ca, r);
        return;
    }
    if (in->old && (r = revoke_try(in, in->old, NULL, now, o->days)) != 0) {
        fprintf(stderr, "peerflow cert: %s: %s\n", pf_cli_esc(o->crl),
                r == PF_ERR_PARSE ? "not a PEM CRL" : "not a CRL of this CA (issuer or signature)");
        return;
    }
    for (int i = 0; i < o->nargs; i++) {
        if ((r = revoke_try(in, NULL, in->leaves[i], now, o->days)) != 0) {
            fprintf(stderr, "peerflow cert: %s: %s\n", pf_cli_esc(o->args[i]),
                    r == PF_ERR_PARSE ? "not a PEM certificate" : "not issued by this CA");
            return;
        }
    }
    fprintf(stderr, "peerflow cert: cannot make the CRL: %s\n", pf_strerror(rc));
}

static int cert_revoke(cert_opts *o)
{
    unsigned need = 1u << O_CA | 1u << O_CRL;
    int rc = opts_check(o, need | 1u << O_DAYS, need, 1);
    if (rc) return rc;
    if (!o->days) o->days = 7;
    if (o->days > PF_CERT_CRL_DAYS_MAX) {
        fprintf(stderr, "peerflow cert: bad --days %u (1 to %d for a CRL)\n", o->days, PF_CERT_CRL_DAYS_MAX);
        return 2;
    }
    revoke_input in = {0};
    char *crl = NULL, date[64];
    int64_t now = (int64_t)time(NULL) - SKEW_S;
    rc = revoke_read(o, &in);
    if (!rc && (rc = pf_cert_revoke(in.ca_cert, in.ca_key, in.old, (const char *const *)in.leaves, (size_t)o->nargs,
                                    now, o->days, &crl)) != 0)
        revoke_error(o, &in, now, rc);
    if (!rc && write_file(o->crl, crl, 0644, 1) != 0) {
        write_error(o->crl);
        rc = 1;
    }
    if (!rc)
        printf("%s: %s with %d certificate(s), next update due %s\n", pf_cli_esc(o->crl),
               in.old ? "updated" : "created", o->nargs, utc_date(now + (int64_t)o->days * DAY_S, date, sizeof date));
    pf_cert_free(crl);
    revoke_input_free(&in, o->nargs);
    return rc ? 1 : 0;
}

int pf_cmd_cert(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout, NULL);
        return argc < 2 ? 2 : 0;
    }
    cert_opts o = {.action = argv[1]};
    int rc = opts_parse(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    if (strcmp(o.action, "ca") == 0) return cert_ca(&o);
    if (strcmp(o.action, "issue") == 0) return cert_issue(&o);
    if (strcmp(o.action, "revoke") == 0) return cert_revoke(&o);
    fprintf(stderr, "peerflow cert: unknown action '%s'\n", pf_cli_esc(o.action));
    usage(stderr, NULL);
    return 2;
}
