/* Who is the client behind a reverse proxy?  Networks in CIDR form, and
 * the client's address from X-Forwarded-For or Forwarded (RFC 7239),
 * believed only as far as the operator's trusted proxies vouch for it.
 *
 * The walk goes from the socket's address leftwards through the header's
 * hops: while the hop in hand is a trusted proxy, the one it names before
 * it is taken; the first address that is not trusted is the client.  A
 * client may send its own header (the proxy appends to it), so nothing
 * left of the first untrusted hop is ever read: "1.2.3.4, <real client>"
 * from behind nginx still gives the real client.  Sans-I/O, no
 * allocation, bounded: at most PF_FWD_MAX_HOPS hops from the right are
 * looked at. */
#ifndef PF_CORE_TRACKER_PROXY_H
#define PF_CORE_TRACKER_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "core/codec/http_parse.h"
#include "core/util/addr.h"
#include "peerflow/peerflow.h"

#define PF_FWD_MAX_HOPS 32      /* hops of the header(s) remembered */
#define PF_TRACKER_MAX_PROXIES 64 /* trusted networks */

/* Which header a trusted proxy sets.  Only that one is read: a proxy
 * passes any other through untouched, so the client could write it. */
typedef enum pf_fwd_header {
    PF_FWD_X_FORWARDED_FOR = 0, /* nginx, HAProxy, most load balancers */
    PF_FWD_FORWARDED = 1        /* RFC 7239: for=... */
} pf_fwd_header;

/* "10.0.0.0/8", "2001:db8::/32", or one address ("127.0.0.1", "::1":
 * /32 or /128) from s[0..n) (not NUL-terminated).  Returns 0 or
 * PF_ERR_PARSE (bad address, prefix past the family's width, junk). */
int pf__cidr_parse(const char *s, size_t n, pf_net *out);

/* One hop as a proxy writes it: "1.2.3.4", "1.2.3.4:80", "[2001:db8::1]",
 * "[2001:db8::1]:80", a bare "2001:db8::1", in double quotes or not;
 * v4-mapped IPv6 becomes IPv4.  "unknown", "_hidden" and junk are
 * PF_ERR_PARSE.  The port is dropped (0). */
int pf__fwd_hop_parse(const char *s, size_t n, pf_addr *out);

/* 1 if a is in one of nets[0..n). */
int pf__nets_contain(const pf_net *nets, size_t n, const pf_addr *a);

/* The client of a request that came from `remote`.  Without trusted
 * networks, or from a remote that is not trusted, the client is remote.
 * Returns 1 when the client found is itself trusted (so it may speak for
 * another address, e.g. with a tracker's ip=), else 0.  A hop that cannot
 * be read ("unknown", junk) ends the walk: the client is the trusted hop
 * right of it, returned as untrusted (0): nobody vouched for its ip=. */
int pf__fwd_client(const pf_net *nets, size_t nnets, pf_fwd_header which,
                   const pf_http_request *req, const pf_addr *remote, pf_addr *client);

#endif
