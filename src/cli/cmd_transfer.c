/* peerflow seed / peerflow get. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_loop.h"
#include "cli/progress.h"
#include "peerflow/client.h"

#define MAX_PEERS_ARG 64

typedef struct transfer {
    const char *cmd;
    pf_client *c;
    pf_client_torrent *t;
    int seed_after; /* get --seed */
    int is_get;
    int exit_code;
    int done;
    const char *stats_path;
    int tty;
    int verbose;
    uint64_t ticks;
} transfer;

static void log_cb(void *ud, pf_log_level lvl, const char *msg)
{
    transfer *x = ud;
    static const char *names[] = {"error", "warn", "info", "debug"};
    if (x->tty) pf_progress_clear();
    fprintf(stderr, "peerflow %s: %s: %s\n", x->cmd, names[lvl], msg);
}

static void write_stats(transfer *x)
{
    if (!x->stats_path || !x->t) return;
    pf_torrent_stats st;
    pf_client_torrent_stats(x->t, &st);
    pf_upload_status up;
    pf_client_upload_status(x->c, &up);
    pf_datagram_stats dg;
    pf_client_datagram_stats(x->c, &dg);
    pf_progress_write_stats(x->stats_path, &st, &up, &dg);
}

static void on_event(void *ud, pf_client *c, int event, pf_client_torrent *t, int err)
{
    transfer *x = ud;
    switch (event) {
    case PF_CLIENT_TICK: {
        x->ticks++;
        write_stats(x);
        if (x->tty || (x->verbose && x->ticks % 5 == 0)) {
            pf_torrent_stats st;
            pf_client_torrent_stats(x->t, &st);
            char extra[160];
            pf_cli_upload_brief(c, extra, sizeof extra);
            pf_progress_draw(x->tty, pf_client_torrent_name(x->t), &st, extra);
        }
        break;
    }
    case PF_CLIENT_METADATA:
        if (x->verbose || x->tty) {
            if (x->tty) pf_progress_clear();
            fprintf(stderr, "peerflow %s: got metadata for %s\n", x->cmd,
                    pf_cli_esc(pf_client_torrent_name(t)));
        }
        break;
    case PF_CLIENT_CHECKED: {
        pf_torrent_stats st;
        pf_client_torrent_stats(t, &st);
        if (x->verbose || x->tty) {
            if (x->tty) pf_progress_clear();
            fprintf(stderr, "peerflow %s: verified %u of %u pieces on disk\n", x->cmd, st.have,
                    st.pieces);
        }
        if (!x->is_get && st.have < st.pieces)
            fprintf(stderr, "peerflow %s: warning: data is incomplete (%u of %u pieces)\n",
                    x->cmd, st.have, st.pieces);
        if (x->is_get && st.have == st.pieces && st.pieces > 0 && !x->seed_after) {
            x->done = 1;
            pf_client_stop(c);
        }
        break;
    }
    case PF_CLIENT_COMPLETE:
        if (x->tty) pf_progress_clear();
        fprintf(stderr, "peerflow %s: download complete: %s\n", x->cmd,
                pf_cli_esc(pf_client_torrent_name(t)));
        x->done = 1;
        if (x->is_get && !x->seed_after) pf_client_stop(c);
        break;
    case PF_CLIENT_ERROR:
        if (x->tty) pf_progress_clear();
        fprintf(stderr, "peerflow %s: %s\n", x->cmd, pf_strerror(err));
        x->exit_code = 1;
        pf_client_stop(c);
        break;
    case PF_CLIENT_STOPPED:
        write_stats(x);
        break;
    }
}

static void usage(const char *cmd, FILE *f)
{
    if (strcmp(cmd, "seed") == 0)
        fprintf(f, "usage: peerflow seed [options] TORRENT\n\n"
                   "Verify DIR/<name> and serve it to peers until SIGINT/SIGTERM.\n\n");
    else
        fprintf(f, "usage: peerflow get [options] TORRENT|MAGNET\n\n"
                   "Download into DIR/<name>, resuming from data already there.\n"
                   "Exits 0 once every piece is verified (unless --seed).\n\n");
    fprintf(f, "options:\n"
               "  -d, --dir DIR        data directory (seed: the torrent's folder; get: .)\n"
               "  -l, --port PORT      listen port (0 = any; seed default 6881)\n"
               "      --bind ADDR      listen address (default :: = all, v4 and v6)\n"
               "      --peer HOST:PORT dial this peer (repeatable)\n"
               "      --tracker URL    add a tracker (repeatable)\n"
               "      --no-tracker     ignore the torrent's trackers\n"
               PF_CLI_TOKEN_HELP PF_CLI_TLS_HELP
               "      --stats FILE     write JSON counters every second and at exit\n"
               "      --max-peers N    connections per torrent (default 50)\n"
               "      --max-connections N  connections in all (default 200)\n"
               "      --upload-slots N peers unchoked at once (default 8)\n"
               "      --no-upload      never upload (download only)\n"
               "      --upload-rate R  cap uploads at R bytes/s (K/M/G suffixes)\n"
               "      --local-net CIDR a network of this host's ISP (repeatable): its\n"
               "                       peers are served first, bytes with others counted\n"
               "      --local-share F  share of upload slots where they come first\n"
               "                       (0-1, default 0.5; 1 = most locality, more CDN)\n"
               "      --download-rate R  cap downloads from peers at R bytes/s\n" PF_CLI_UPLOAD_HELP
               PF_CLI_TAG_KEY_HELP
               PF_CLI_TRANSPORT_HELP PF_CLI_CMCD_HELP);
    if (strcmp(cmd, "get") == 0) fprintf(f, "      --seed           keep seeding after the download\n");
    fprintf(f, "  -v, --verbose        log progress and protocol events (-vv: also peer\n"
               "                       connections closed and why)\n"
               "  -h, --help           this help\n");
}

/* What the command line asks for. */
typedef struct transfer_opts {
    const char *src, *dir, *bind;
    const char *peers[MAX_PEERS_ARG], *trackers[MAX_PEERS_ARG], *nets[MAX_PEERS_ARG];
    int npeers, ntrackers, nnets, no_tracker, no_upload;
    double local_share; /* < 0: default */
    long port, max_peers, slots, max_conns;
    uint64_t up_rate, down_rate;
    pf_client_settings net; /* --transport, --utp-target, --cmcd (their fields only) */
    pf_cli_upload up;       /* --upload-budget, --upload-off-when, ... */
    char token[PF_TOKEN_MAX + 1]; /* --tracker-token; "" none */
    pf_cli_tls tls;               /* --ssl-cert, --ssl-key, --ssl-crl */
    pf_cli_tag_key tag_key;       /* --tag-key, --no-tag-key */
    char dirbuf[4096];
} transfer_opts;

enum { O_BIND = 256, O_PEER, O_STATS, O_SEED, O_NOTRACK, O_TRACKER, O_MAXP, O_SLOTS, O_NOUP,
       O_UPRATE, O_DOWNRATE, O_MAXCONN, O_LOCALNET, O_LOCALSHARE, O_TRANSPORT, O_UTPTARGET, O_CMCD };

/* One option; returns -1 to go on, else the exit code. */
static int transfer_option(transfer *x, transfer_opts *o, int ch, const char *arg)
{
    char *end;
    switch (ch) {
    case 'd': o->dir = arg; return -1;
    case O_BIND: o->bind = arg; return -1;
    case O_STATS: x->stats_path = arg; return -1;
    case O_NOTRACK: o->no_tracker = 1; return -1;
    case O_NOUP: o->no_upload = 1; return -1;
    case O_TRANSPORT: return pf_cli_transport(x->cmd, arg, &o->net) ? 2 : -1;
    case O_UTPTARGET: return pf_cli_utp_target(x->cmd, arg, &o->net) ? 2 : -1;
    case O_CMCD: return pf_cli_cmcd(x->cmd, arg, &o->net) ? 2 : -1;
    case 'v': x->verbose++; return -1;
    case PF_CLI_O_BUDGET:
    case PF_CLI_O_BUDGET_FILE:
    case PF_CLI_O_OFF_WHEN:
    case PF_CLI_O_METERED_FILE:
    case PF_CLI_O_SHARE:
        return pf_cli_upload_option(x->cmd, ch, arg, &o->up) ? 2 : -1;
    case PF_CLI_O_SSL_CERT:
    case PF_CLI_O_SSL_KEY:
    case PF_CLI_O_SSL_CRL:
        return pf_cli_tls_option(x->cmd, ch, arg, &o->tls) ? 2 : -1;
    case PF_CLI_O_TOKEN:
        return pf_cli_tracker_token(x->cmd, arg, o->token, sizeof o->token) ? 2 : -1;
    case PF_CLI_O_TAG_KEY:
    case PF_CLI_O_NO_TAG_KEY:
        return pf_cli_tag_key_option(x->cmd, ch, arg, &o->tag_key) ? 2 : -1;
    case 'l':
        o->port = strtol(arg, &end, 10);
        if (*end || o->port < 0 || o->port > 65535) {
            fprintf(stderr, "peerflow %s: bad port '%s'\n", x->cmd, pf_cli_esc(arg));
            return 2;
        }
        return -1;
    case O_PEER:
        if (o->npeers < MAX_PEERS_ARG) o->peers[o->npeers++] = arg;
        return -1;
    case O_TRACKER:
        if (o->ntrackers < MAX_PEERS_ARG) o->trackers[o->ntrackers++] = arg;
        return -1;
    case O_LOCALNET:
        if (o->nnets < MAX_PEERS_ARG) o->nets[o->nnets++] = arg;
        return -1;
    case O_LOCALSHARE:
        o->local_share = strtod(arg, &end);
        if (!*arg || *end || !(o->local_share >= 0 && o->local_share <= 1)) {
            fprintf(stderr, "peerflow %s: bad --local-share '%s' (0 to 1)\n", x->cmd, pf_cli_esc(arg));
            return 2;
        }
        return -1;
    case O_SEED:
        if (!x->is_get) break;
        x->seed_after = 1;
        return -1;
    case O_MAXP:
    case O_MAXCONN:
    case O_SLOTS: {
        long v = strtol(arg, &end, 10);
        if (*end || v <= 0 || v > 10000) {
            fprintf(stderr, "peerflow %s: bad number '%s'\n", x->cmd, pf_cli_esc(arg));
            return 2;
        }
        *(ch == O_MAXP ? &o->max_peers : ch == O_MAXCONN ? &o->max_conns : &o->slots) = v;
        return -1;
    }
    case O_UPRATE:
    case O_DOWNRATE: {
        uint64_t v;
        if (pf_parse_size(arg, &v) != 0) {
            fprintf(stderr, "peerflow %s: bad rate '%s' (bytes/s, K/M/G suffixes)\n", x->cmd,
                    pf_cli_esc(arg));
            return 2;
        }
        *(ch == O_UPRATE ? &o->up_rate : &o->down_rate) = v;
        return -1;
    }
    case 'h':
        usage(x->cmd, stdout);
        return 0;
    }
    usage(x->cmd, stderr);
    return 2;
}

/* Phase 1: the command line.  Returns -1 to go on, else the exit code. */
static int transfer_parse(transfer *x, transfer_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {{"dir", 1, 0, 'd'},         {"port", 1, 0, 'l'},
                                         {"bind", 1, 0, O_BIND},     {"peer", 1, 0, O_PEER},
                                         {"stats", 1, 0, O_STATS},   {"seed", 0, 0, O_SEED},
                                         {"no-tracker", 0, 0, O_NOTRACK},
                                         {"tracker", 1, 0, O_TRACKER},
                                         {"max-peers", 1, 0, O_MAXP}, {"upload-slots", 1, 0, O_SLOTS},
                                         {"max-connections", 1, 0, O_MAXCONN},
                                         {"no-upload", 0, 0, O_NOUP}, {"verbose", 0, 0, 'v'},
                                         {"upload-rate", 1, 0, O_UPRATE},
                                         {"download-rate", 1, 0, O_DOWNRATE},
                                         {"local-net", 1, 0, O_LOCALNET},
                                         {"local-share", 1, 0, O_LOCALSHARE},
                                         {"transport", 1, 0, O_TRANSPORT},
                                         {"utp-target", 1, 0, O_UTPTARGET},
                                         {"cmcd", 1, 0, O_CMCD},
                                         PF_CLI_UPLOAD_LONGOPTS,
                                         PF_CLI_TOKEN_LONGOPT, PF_CLI_TLS_LONGOPTS,
                                         PF_CLI_TAG_KEY_LONGOPTS,
                                         {"help", 0, 0, 'h'},        {0, 0, 0, 0}};
    o->local_share = -1;
    o->port = x->is_get ? 0 : 6881;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "d:l:vh", opts, NULL)) != -1) {
        int rc = transfer_option(x, o, ch, optarg);
        if (rc >= 0) return rc;
    }
    if (optind != argc - 1) {
        fprintf(stderr, "peerflow %s: expected one %s\n", x->cmd,
                x->is_get ? "TORRENT or MAGNET" : "TORRENT");
        usage(x->cmd, stderr);
        return 2;
    }
    o->src = argv[optind];
    int magnet = strncmp(o->src, "magnet:", 7) == 0;
    if (!x->is_get && magnet) {
        fprintf(stderr, "peerflow seed: needs a .torrent file, not a magnet link\n");
        return 2;
    }
    if (!o->dir && (x->is_get || magnet)) {
        o->dir = ".";
    } else if (!o->dir) {
        /* seed: the data sits beside the .torrent by default */
        snprintf(o->dirbuf, sizeof o->dirbuf, "%s", o->src);
        char *slash = strrchr(o->dirbuf, '/');
        if (slash)
            *slash = 0;
        else
            snprintf(o->dirbuf, sizeof o->dirbuf, ".");
        o->dir = o->dirbuf;
    }
    return -1;
}

/* Phase 2: the client on our loop, the torrent, its peers and trackers.
 * Returns -1 to go on, else the exit code (x->c is then freed). */
static int transfer_start(transfer *x, transfer_opts *o, cli_loop *lp)
{
    pf_client_settings cs;
    pf_client_settings_default(&cs);
    int rc = pf_cli_upload_settings(x->cmd, &o->up, &cs);
    if (rc) return rc;
    pf_cli_tag_key_settings(&o->tag_key, &cs);
    cs.loop = &lp->loop;
    cs.bind_addr = o->bind;
    cs.listen_port = (uint16_t)o->port;
    cs.max_peers = (uint32_t)o->max_peers;
    cs.max_connections = (uint32_t)o->max_conns;
    cs.upload_slots = (uint32_t)o->slots;
    cs.upload_enabled = !o->no_upload;
    if (o->net.transports) { /* --transport given; else the client's default */
        cs.transports = o->net.transports;
        cs.prefer_utp = o->net.prefer_utp;
    }
    cs.utp_target_delay_us = o->net.utp_target_delay_us;
    cs.cmcd = o->net.cmcd;
    cs.log = log_cb;
    cs.log_ud = x;
    cs.log_level = x->verbose > 1 ? PF_LOG_DEBUG : x->verbose ? PF_LOG_INFO : PF_LOG_WARN;
    cs.on_event = on_event;
    cs.event_ud = x;
    rc = pf_client_new(&cs, &x->c);
    if (rc == PF_ERR_IO && cs.upload_budget) {
        fprintf(stderr, "peerflow %s: cannot write the upload budget file %s\n", x->cmd,
                pf_cli_esc(cs.upload_budget_file));
        x->c = NULL;
        return 1;
    }
    if (rc != 0) {
        fprintf(stderr, "peerflow %s: cannot listen on %s port %ld: %s\n", x->cmd,
                o->bind ? pf_cli_esc(o->bind) : "::", o->port, pf_strerror(rc));
        x->c = NULL;
        return 1;
    }
    cli_loop_watch(lp, x->c);
    fprintf(stderr, "listening on port %d\n", pf_client_listen_port(x->c));
    if (o->up_rate || o->down_rate) pf_client_set_rate_limits(x->c, o->up_rate, o->down_rate);
    if (o->local_share >= 0) pf_client_set_local_share(x->c, o->local_share);
    for (int i = 0; i < o->nnets; i++)
        if (pf_client_add_local_net(x->c, o->nets[i]) != 0) {
            fprintf(stderr, "peerflow %s: bad --local-net '%s' (a network: 10.1.0.0/16, 2001:db8::/32)\n",
                    x->cmd, pf_cli_esc(o->nets[i]));
            return 2;
        }
    rc = pf_client_add(x->c, o->src, o->dir, !x->is_get, &x->t);
    if (rc != 0) {
        fprintf(stderr, "peerflow %s: %s: %s\n", x->cmd, pf_cli_esc(o->src),
                rc == PF_ERR_NOTFOUND ? "file or data not found" : pf_strerror(rc));
        return 1;
    }
    /* trackers come from the torrent unless disabled */
    if (o->no_tracker) pf_client_torrent_clear_trackers(x->t);
    for (int i = 0; i < o->ntrackers; i++) pf_client_torrent_add_tracker(x->t, o->trackers[i]);
    if (o->token[0] && pf_client_torrent_set_tracker_token(x->t, o->token) != 0) return 1;
    if (pf_cli_tls_apply(x->cmd, &o->tls, x->t, &lp->loop) != 0) return 1;
    pf_cli_tls_warn(x->cmd, &o->tls, x->t);
    for (int i = 0; i < o->npeers; i++)
        if (pf_client_torrent_add_peer(x->t, o->peers[i]) != 0) {
            fprintf(stderr, "peerflow %s: bad peer address '%s'\n", x->cmd, pf_cli_esc(o->peers[i]));
            return 2;
        }
    return -1;
}

/* Phase 3: run until stopped (a signal, completion, an error); the exit code. */
static int transfer_run(transfer *x)
{
    pf_client_run(x->c);
    write_stats(x);
    if (x->tty) pf_progress_clear();
    pf_torrent_stats st;
    pf_client_torrent_stats(x->t, &st);
    if (x->is_get && x->exit_code == 0 && !(st.pieces > 0 && st.have == st.pieces)) {
        fprintf(stderr, "peerflow get: interrupted before completion (%u of %u pieces)\n", st.have,
                st.pieces);
        x->exit_code = 1;
    }
    if (x->verbose)
        fprintf(stderr, "peerflow %s: uploaded %llu bytes, downloaded %llu bytes\n", x->cmd,
                (unsigned long long)st.uploaded, (unsigned long long)st.downloaded);
    return x->exit_code;
}

static int run_transfer(int argc, char **argv, int is_get)
{
    static transfer x;
    static transfer_opts o;
    memset(&x, 0, sizeof x);
    memset(&o, 0, sizeof o);
    x.cmd = is_get ? "get" : "seed";
    x.is_get = is_get;
    x.tty = isatty(2);
    int rc = transfer_parse(&x, &o, argc, argv);
    if (rc >= 0) return rc;
    cli_loop lp;
    if (cli_loop_init(&lp) != 0) {
        fprintf(stderr, "peerflow %s: cannot create an event loop\n", x.cmd);
        return 1;
    }
    rc = transfer_start(&x, &o, &lp);
    if (rc < 0) rc = transfer_run(&x);
    pf_client_free(x.c);
    cli_loop_close(&lp);
    return rc;
}

int pf_cmd_seed(int argc, char **argv) { return run_transfer(argc, argv, 0); }
int pf_cmd_get(int argc, char **argv) { return run_transfer(argc, argv, 1); }
