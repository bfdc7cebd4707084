/* Trusted proxies: CIDR lists, forwarded hops and the client walk, then
 * a whole announce through pf_tracker_handle_request.  The input:
 *   line 1: networks, separated by spaces (each through pf__cidr_parse);
 *   line 2: its first byte picks the header (bit 0: Forwarded) and the
 *           socket's address (bits 1-3); the rest of the line is one hop
 *           for pf__fwd_hop_parse;
 *   the rest: header lines of a GET /announce, as sent.
 * Checks: a parsed network's prefix fits its family; a client the walk
 * calls trusted is in the networks; every 200 reply is canonical
 * bencode. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec/bencode.h"
#include "core/tracker/proxy.h"
#include "core/tracker/tracker.h"

static const uint8_t *line_end(const uint8_t *p, const uint8_t *end)
{
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    return nl ? nl : end;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *end = data + size, *l1 = line_end(data, end);
    pf_net nets[PF_TRACKER_MAX_PROXIES];
    size_t nnets = 0;
    for (const uint8_t *p = data; p < l1 && nnets < PF_TRACKER_MAX_PROXIES;) {
        const uint8_t *sp = memchr(p, ' ', (size_t)(l1 - p));
        if (!sp) sp = l1;
        if (pf__cidr_parse((const char *)p, (size_t)(sp - p), &nets[nnets]) == 0) {
            const pf_net *n = &nets[nnets];
            if ((n->family != 4 && n->family != 6) || n->bits > (n->family == 4 ? 32 : 128)) abort();
            nnets++;
        }
        p = sp + 1;
    }
    const uint8_t *s2 = l1 < end ? l1 + 1 : end, *l2 = line_end(s2, end);
    uint8_t sel = s2 < l2 ? s2[0] : 0;
    if (s2 < l2) {
        pf_addr h;
        if (pf__fwd_hop_parse((const char *)s2 + 1, (size_t)(l2 - s2 - 1), &h) == 0 &&
            h.family != 4 && h.family != 6)
            abort();
    }
    pf_fwd_header which = (sel & 1) ? PF_FWD_FORWARDED : PF_FWD_X_FORWARDED_FOR;
    pf_addr remote;
    memset(&remote, 0, sizeof remote);
    switch ((sel >> 1) & 7) {
    case 0: remote.family = 4, remote.ip[0] = 127, remote.ip[3] = 1; break;
    case 1: remote.family = 4, remote.ip[0] = 10, remote.ip[3] = 1; break;
    case 2: remote.family = 6, remote.ip[15] = 1; break;
    case 3: remote.family = 6, remote.ip[10] = remote.ip[11] = 0xff, remote.ip[12] = 127; break;
    default: /* inside the first network, when there is one */
        remote.family = nnets ? nets[0].family : 4;
        if (nnets) memcpy(remote.ip, nets[0].ip, 16);
        break;
    }

    /* The request: a fixed announce line, the input's header lines. */
    static const char head[] =
        "GET /announce?info_hash=aaaaaaaaaaaaaaaaaaaa&peer_id=bbbbbbbbbbbbbbbbbbbb&port=1&ip=9.9.9.9 "
        "HTTP/1.1\r\nHost: t\r\n";
    const uint8_t *rest = l2 < end ? l2 + 1 : end;
    size_t rn = (size_t)(end - rest), n = 0;
    uint8_t *raw = malloc(sizeof head + 2 * rn + 4);
    if (!raw) return 0;
    memcpy(raw, head, sizeof head - 1);
    n = sizeof head - 1;
    for (size_t i = 0; i < rn; i++) { /* lines end in CRLF */
        if (rest[i] == '\n') raw[n++] = '\r';
        raw[n++] = rest[i];
    }
    memcpy(raw + n, "\r\n\r\n", 4);
    n += 4;
    pf_http_request req;
    if (pf_http_request_parse(raw, n, 0, &req) > 0) {
        pf_addr client;
        int trusted = pf__fwd_client(nets, nnets, which, &req, &remote, &client);
        if (client.family != 4 && client.family != 6) abort();
        if (trusted && !pf__nets_contain(nets, nnets, &client)) abort();

        pf_tracker_config cfg;
        pf_tracker_config_default(&cfg);
        cfg.seed = 1;
        cfg.max_rate_sources = 16;
        cfg.trusted_proxies = nets;
        cfg.num_trusted_proxies = nnets;
        cfg.forwarded_header = which;
        pf_tracker *t = pf_tracker_new(&cfg);
        if (t) {
            pf_buf body;
            pf_buf_init(&body);
            int st = pf_tracker_handle_request(t, &req, &remote, 1, &body);
            if (st == 200) {
                pf_ben_doc *doc = NULL;
                if (pf_bencode_parse(body.data, body.len, 0, NULL, &doc, NULL) != 0) abort();
                pf_ben_doc_free(doc);
            } else if (st != 500) {
                abort();
            }
            pf_buf_free(&body);
            pf_tracker_free(t);
        }
    }
    free(raw);
    return 0;
}
