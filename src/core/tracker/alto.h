/* An operator's ALTO (RFC 7285) network map and cost map, for a tracker
 * that answers each announce with the peers of the announcer's PID first,
 * then by cost (P4P).  Sans-I/O: the caller reads the files (the JSON an
 * ALTO server sends as application/alto-networkmap+json and
 * application/alto-costmap+json, saved as plain files without their HTTP
 * heads) and passes their bytes.
 *
 * The network map (RFC 7285 section 11.2.1.6):
 *
 *   {"meta": {"vtag": {"resource-id": "my-map", "tag": "da65..."}},
 *    "network-map": {"PID1": {"ipv4": ["192.0.2.0/24", ...],
 *                             "ipv6": ["2001:db8::/32", ...]}, ...}}
 *
 *   - meta.vtag is required (RFC 7285 says a server MUST send it; the cost
 *     map names it).  Other members of meta and of the top level are
 *     ignored (extensions).
 *   - PID names: 1-64 of A-Z a-z 0-9 - : @ _ . (section 10.1); anything
 *     else is refused (they become Prometheus label values).  A PID's
 *     index is its place in the file (0, 1, ...).
 *   - A PID holds "ipv4" and "ipv6" arrays of prefixes ("192.0.2.0/24";
 *     a bare address is a /32 or /128); any other address type is refused
 *     (a typo would otherwise drop a PID's prefixes silently).  An "ipv6"
 *     prefix inside ::ffff:0:0/96 (v4-mapped) names IPv4 addresses and is
 *     kept as the IPv4 prefix it is; an "ipv4" list takes IPv4 only.
 *     Bits set past the prefix length ("192.0.2.1/24") are refused.
 *   - The same prefix in two PIDs is refused (RFC 7285 gives an address to
 *     one PID); twice in one PID is harmless and kept once.
 *
 * The cost map (section 11.2.3.6), optional:
 *
 *   {"meta": {"dependent-vtags": [{"resource-id": "my-map", "tag": "da65..."}],
 *             "cost-type": {"cost-mode": "numerical", "cost-metric": "routingcost"}},
 *    "cost-map": {"PID1": {"PID1": 1, "PID2": 5}, ...}}
 *
 *   - dependent-vtags holds one vtag, which must be the network map's
 *     (resource-id and tag): a cost map computed for another version of
 *     the network map is refused.
 *   - cost-mode "numerical" or "ordinal" (both only order peers here); any
 *     cost-metric.  Costs are finite numbers; PIDs not in the network map
 *     are refused.
 *
 * Lookup (pf_alto_pid): the prefixes of all PIDs, per address family, are
 * flattened at load time into a sorted table of disjoint address ranges,
 * each holding the PID of the longest prefix covering it (or none): CIDR
 * prefixes either nest or do not overlap, so a sweep over the prefixes
 * sorted by start (shorter first) with a stack of the open ones gives at
 * most 2 ranges per prefix.  A lookup is one binary search, O(log n): 17
 * steps for 65,536 prefixes, whatever their lengths.  IPv4 addresses and
 * v4-mapped IPv6 addresses (::ffff:a.b.c.d) are looked up among the IPv4
 * prefixes, other IPv6 addresses among the IPv6 ones.
 *
 * The map is immutable once loaded; lookups on one map from several
 * threads are safe. */
#ifndef PF_CORE_TRACKER_ALTO_H
#define PF_CORE_TRACKER_ALTO_H

#include <stddef.h>

#include "peerflow/peerflow.h"

#define PF_ALTO_MAX_PIDS 4096
#define PF_ALTO_MAX_PREFIXES 65536 /* over all PIDs, both families */
#define PF_ALTO_PID_NAME_MAX 64
#define PF_ALTO_MAX_FILE (16u << 20) /* each of the two files, bytes */
#define PF_ALTO_MAX_JSON_NODES (1u << 22) /* values and keys in one file */
#define PF_ALTO_MAX_DEPTH 32              /* JSON nesting in one file */

typedef struct pf_alto_map pf_alto_map;

/* Loads a network map netmap[0, n1) and, when costmap is not NULL, its
 * cost map costmap[0, n2).  Returns 0 and *out (free with pf_alto_free),
 * or PF_ERR_PARSE (malformed JSON, not an ALTO map as above, a vtag
 * mismatch), PF_ERR_LIMIT (a file, the PIDs or prefixes over the limits
 * above) or PF_ERR_NOMEM, with *out NULL and the reason in why, e.g.
 *   network-map: PID "x": "ipv4"[2]: bad prefix "1.2.3.4/33"
 *   cost map: line 3, column 9: ':' expected after an object key
 * Strings from the files appear in reasons escaped (\xNN) and cut short. */
int pf_alto_load(const char *netmap, size_t n1, const char *costmap, size_t n2, pf_alto_map **out, char *why,
                 size_t whylen);
void pf_alto_free(pf_alto_map *m);

/* The PID of address a (its port is ignored): the index of the PID with
 * the longest prefix that contains it, or -1 (none, or a of family 0). */
int pf_alto_pid(const pf_alto_map *m, const pf_addr *a);
size_t pf_alto_npids(const pf_alto_map *m);
/* PID i's name, NUL-terminated (NULL if i is out of range). */
const char *pf_alto_pid_name(const pf_alto_map *m, int i);
/* The cost from PID `from` to PID `to`, lower is nearer.  Without a cost
 * map: 0 within a PID, 1 between PIDs.  With one: its entry, +infinity
 * when it has none.  +infinity too when from or to is -1 (an address no
 * PID holds) or out of range: such peers rank last. */
double pf_alto_cost(const pf_alto_map *m, int from, int to);

/* PID pid's prefixes as the map lists them (both families, in the
 * file's order; a duplicate within the PID may appear twice): the first
 * max of them into out; returns how many it has. */
size_t pf_alto_pid_nets(const pf_alto_map *m, int pid, pf_net *out, size_t max);

/* For logs: the network map's vtag, and the cost map's metric and mode
 * ("routingcost", "numerical"; NULL without a cost map). */
const char *pf_alto_resource_id(const pf_alto_map *m);
const char *pf_alto_tag(const pf_alto_map *m);
const char *pf_alto_cost_metric(const pf_alto_map *m);
const char *pf_alto_cost_mode(const pf_alto_map *m);
/* Prefixes kept (both families, duplicates within a PID counted once). */
size_t pf_alto_nprefixes(const pf_alto_map *m);

#endif
