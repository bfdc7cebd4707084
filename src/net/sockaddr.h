/* pf_addr to and from the socket API's addresses, for the libuv adapters
 * (the core speaks pf_addr only). */
#ifndef PF_NET_SOCKADDR_H
#define PF_NET_SOCKADDR_H

#include <sys/socket.h>

#include "peerflow/peerflow.h"

/* sa (AF_INET or AF_INET6; anything else: a zeroed *a, family 0) as a
 * pf_addr.  unmap: an IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a
 * dual-stack socket reports for an IPv4 peer) becomes the IPv4 address;
 * without it the IPv6 form is kept (the tracker core reads it itself). */
void pf__addr_from_sockaddr(const struct sockaddr *sa, pf_addr *a, int unmap);
/* a as a sockaddr in *ss, for a socket of family sock_family: AF_INET6
 * (dual-stack: an IPv4 address goes as ::ffff:a.b.c.d), AF_INET (an IPv6
 * address cannot be reached: -1), or 0 (each address in its own family).
 * 0, or -1 (that, or a family other than 4 and 6). */
int pf__addr_to_sockaddr(const pf_addr *a, struct sockaddr_storage *ss, int sock_family);
/* The length of *ss for bind, connect, sendto and sendmmsg. */
socklen_t pf__sockaddr_len(const struct sockaddr_storage *ss);

#endif
