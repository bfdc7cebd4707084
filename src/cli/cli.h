/* Subcommands of the peerflow CLI; each returns the process exit code. */
#ifndef PF_CLI_H
#define PF_CLI_H

int pf_cmd_create(int argc, char **argv);
int pf_cmd_info(int argc, char **argv);
int pf_cmd_seed(int argc, char **argv);
int pf_cmd_get(int argc, char **argv);
int pf_cmd_tracker(int argc, char **argv);
int pf_cmd_demo(int argc, char **argv);
int pf_cmd_play(int argc, char **argv);
int pf_cmd_lab(int argc, char **argv);
int pf_cmd_token(int argc, char **argv);
int pf_cmd_cert(int argc, char **argv);
int pf_cmd_sim(int argc, char **argv);

/* Options shared by get, seed and play (options.c).  Each returns 0, or
 * prints why to stderr (prefixed by cmd) and returns 2. */
#include <stdint.h>
#include "peerflow/client.h"
#include "peerflow/token.h"
/* --transport tcp|utp|both into settings.transports (and prefer_utp). */
int pf_cli_transport(const char *cmd, const char *arg, pf_client_settings *cs);
/* --utp-target MS: LEDBAT's target queueing delay in milliseconds. */
int pf_cli_utp_target(const char *cmd, const char *arg, pf_client_settings *cs);
/* --cmcd query|headers|off into settings.cmcd. */
int pf_cli_cmcd(const char *cmd, const char *arg, pf_client_settings *cs);
/* Uploads on the viewer's terms, shared by get, seed and play: the
 * options' ids (above every command's own), their getopt entries and
 * help, what they ask for. */
enum {
    PF_CLI_O_BUDGET = 1000, PF_CLI_O_BUDGET_FILE, PF_CLI_O_OFF_WHEN, PF_CLI_O_METERED_FILE,
    PF_CLI_O_SHARE, PF_CLI_O_TOKEN, PF_CLI_O_SSL_CERT, PF_CLI_O_SSL_KEY, PF_CLI_O_SSL_CRL,
    PF_CLI_O_TAG_KEY, PF_CLI_O_NO_TAG_KEY
};
/* Verify on read's piece tags across restarts: --tag-key FILE (the key
 * file; default $XDG_STATE_HOME/peerflow/tag.key or
 * ~/.local/state/peerflow/tag.key), --no-tag-key (tags in memory only). */
#define PF_CLI_TAG_KEY_LONGOPTS \
    {"tag-key", 1, 0, PF_CLI_O_TAG_KEY}, {"no-tag-key", 0, 0, PF_CLI_O_NO_TAG_KEY}
#define PF_CLI_TAG_KEY_HELP                                                              \
    "      --tag-key F      key of the piece tags saved with resume records: after a\n"  \
    "                       restart, data is read back without SHA-1 (default\n"        \
    "                       $XDG_STATE_HOME/peerflow/tag.key or\n"                      \
    "                       ~/.local/state/peerflow/tag.key; created when absent)\n"     \
    "      --no-tag-key     keep no tags across restarts\n"
typedef struct pf_cli_tag_key {
    const char *file;
    int off;
    char path[4096]; /* the default key file */
} pf_cli_tag_key;
/* One of the options above; 0, or 2 after a message. */
int pf_cli_tag_key_option(const char *cmd, int ch, const char *arg, pf_cli_tag_key *k);
/* Into settings.tag_key_file (the default path unless given or off; none
 * without HOME). */
void pf_cli_tag_key_settings(pf_cli_tag_key *k, pf_client_settings *cs);
/* SSL torrents: --ssl-cert, --ssl-key (the viewer's certificate and key,
 * PEM) and --ssl-crl (the operator's revocation list, read again when the
 * file changes). */
#define PF_CLI_TLS_LONGOPTS                                                      \
    {"ssl-cert", 1, 0, PF_CLI_O_SSL_CERT}, {"ssl-key", 1, 0, PF_CLI_O_SSL_KEY}, \
    {"ssl-crl", 1, 0, PF_CLI_O_SSL_CRL}
#define PF_CLI_TLS_HELP                                                                      \
    "      --ssl-cert F     an SSL torrent's viewer certificate (PEM, peerflow cert\n"      \
    "                       issue); its peers talk TLS 1.3 and need one too\n"          \
    "      --ssl-key F      that certificate's private key (PEM)\n"                    \
    "      --ssl-crl F      the operator's revocation list (PEM): peers whose\n"       \
    "                       certificates it lists are refused; re-read when F changes\n"
typedef struct pf_cli_tls {
    const char *cert, *key, *crl;
    pf_client_torrent *t;
    uv_fs_poll_t poll;
    int polling;
    char cmd[16];
} pf_cli_tls;
/* One of the options above; 0, or 2 after a message. */
int pf_cli_tls_option(const char *cmd, int ch, const char *arg, pf_cli_tls *o);
/* After the torrent is added: the identity and CRL set, the CRL file
 * watched on loop.  0, or 1 after a message (a file that cannot be read
 * or does not fit the torrent). */
int pf_cli_tls_apply(const char *cmd, pf_cli_tls *o, pf_client_torrent *t, uv_loop_t *loop);
/* An SSL torrent given no certificate: says that it talks to no peer. */
void pf_cli_tls_warn(const char *cmd, const pf_cli_tls *o, pf_client_torrent *t);

/* --tracker-token TOKEN|@FILE (a private tracker's subscriber token; from
 * a file, it stays out of the process list) into out (cap bytes). */
#define PF_CLI_TOKEN_LONGOPT {"tracker-token", 1, 0, PF_CLI_O_TOKEN}
#define PF_CLI_TOKEN_HELP                                                               \
    "      --tracker-token T  a private tracker's subscriber token, sent in every\n"  \
    "                       HTTP announce (never logged); @FILE reads it from FILE\n"
int pf_cli_tracker_token(const char *cmd, const char *arg, char *out, size_t cap);
/* The text of file `path` (at most max bytes, no NUL inside) into *out
 * (malloc'd, NUL-terminated); 0, or 1 after a message naming opt. */
int pf_cli_read_text(const char *cmd, const char *opt, const char *path, size_t max, char **out);
#define PF_CLI_UPLOAD_LONGOPTS                                                       \
    {"upload-budget", 1, 0, PF_CLI_O_BUDGET}, {"budget-file", 1, 0, PF_CLI_O_BUDGET_FILE}, \
    {"upload-off-when", 1, 0, PF_CLI_O_OFF_WHEN},                                    \
    {"metered-file", 1, 0, PF_CLI_O_METERED_FILE}, {"upload-share", 1, 0, PF_CLI_O_SHARE}
#define PF_CLI_UPLOAD_HELP                                                                 \
    "      --upload-budget SIZE  upload at most SIZE per calendar month (local time),\n"  \
    "                       e.g. 20G; kept across restarts in --budget-file\n"            \
    "      --budget-file F  where the month's usage is kept (default\n"                  \
    "                       $XDG_STATE_HOME/peerflow/upload-budget or\n"                 \
    "                       ~/.local/state/peerflow/upload-budget)\n"                    \
    "      --upload-off-when LIST  no uploads while: metered (--metered-file exists,\n" \
    "                       or play's POST /control said so), battery (on\n"        \
    "                       battery power); e.g. metered,battery\n"                    \
    "      --metered-file F the network counts as metered while F exists\n"             \
    "      --upload-share F cap uploads at F (0-1] of the uplink measured\n"
typedef struct pf_cli_upload {
    uint64_t budget;
    const char *budget_file, *metered_file;
    uint32_t off_when;
    double share;
    char path[4096]; /* the default budget file */
} pf_cli_upload;
/* One of the options above (ch is its id); 0, or 2 after a message. */
int pf_cli_upload_option(const char *cmd, int ch, const char *arg, pf_cli_upload *u);
/* Into the client's settings; the default budget file and its folder
 * (PEERFLOW_BUDGET_PERIOD in the environment names the period instead of
 * the calendar month: tests, billing cycles).  0, or 1/2 after a message. */
int pf_cli_upload_settings(const char *cmd, pf_cli_upload *u, pf_client_settings *cs);
/* For a status line: " | up off (battery)", " | budget 1.2 GiB left",
 * " | cap 1.0 MiB/s" (what applies), or "". */
void pf_cli_upload_brief(pf_client *c, char *out, size_t cap);

#define PF_CLI_TRANSPORT_HELP                                                           \
    "      --transport T    peers over tcp (default), utp (BEP 29, with LEDBAT:\n"     \
    "                       uploads yield to this household's own traffic) or both\n" \
    "                       (dial both at once, keep uTP when a peer has it)\n"        \
    "      --utp-target MS  LEDBAT's target queueing delay (default 100)\n"

#define PF_CLI_CMCD_HELP                                                                \
    "      --cmcd M         CMCD (CTA-5004) on web seed requests: the deadline,\n"      \
    "                       buffer, start-up, bitrate, throughput, a session id;\n"    \
    "                       M = query (a CMCD= argument, default), headers, off\n"

#endif
