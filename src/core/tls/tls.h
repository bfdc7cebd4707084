/* TLS for peer connections (libtorrent's "SSL torrents"), sans-I/O:
 * OpenSSL over memory BIOs, ciphertext in and out as bytes.  Nothing
 * here knows sockets, clocks or the BitTorrent wire.
 *
 * A pf_tls_ctx is one SSL torrent's trust: the root certificate from its
 * info dict ("ssl-cert"; only the first certificate counts, as in
 * libtorrent), our certificate and key, an optional revocation list, and
 * the torrent's name, which a peer's leaf certificate must carry exactly
 * (a DNS SubjectAltName or the last CN, byte for byte; "*" means every
 * torrent of this root).  Both sides verify each other with that rule.
 *
 * A router is the accepting side's context: it has no certificate of its
 * own; the client's SNI (the info-hash in hex) picks the torrent's context
 * through a lookup the caller gives, and an unknown or ordinary torrent
 * ends the handshake with an unrecognized_name alert.
 *
 * OpenSSL allocates with its own allocator (CRYPTO_set_mem_functions is
 * process-wide): the session's pf_mem does not see these buffers. */
#ifndef PF_CORE_TLS_H
#define PF_CORE_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "core/util/buf.h"

typedef struct pf_tls_ctx pf_tls_ctx;
typedef struct pf_tls pf_tls;

/* Why a TLS connection was refused (pf_tls_refusal). */
typedef enum pf_tls_refusal {
    PF_TLS_OK = 0,
    PF_TLS_NO_TORRENT, /* SNI names no SSL torrent of ours (or none) */
    PF_TLS_NO_CERT,    /* the peer presented no certificate */
    PF_TLS_UNTRUSTED,  /* not signed by the torrent's root (or a bad chain) */
    PF_TLS_EXPIRED,    /* expired or not yet valid */
    PF_TLS_REVOKED,    /* listed in the operator's revocation list */
    PF_TLS_WRONG_NAME, /* a certificate for another torrent */
    PF_TLS_WRONG_TORRENT, /* its BitTorrent handshake named another torrent */
    PF_TLS_PLAIN,      /* a plain connection to an SSL torrent */
    PF_TLS_FAILED,     /* any other handshake or record failure */
    PF_TLS_NREFUSALS
} pf_tls_refusal;

/* A short name for logs and metrics ("expired", "revoked"...). */
const char *pf_tls_refusal_name(pf_tls_refusal r);

/* The torrent's context: root (PEM text, first certificate used) and
 * name (name_len bytes).  NULL and *err (PF_ERR_INVAL: no certificate in
 * the PEM; PF_ERR_NOMEM). */
pf_tls_ctx *pf_tls_ctx_new(const char *root_pem, size_t root_len, const char *name, size_t name_len, int *err);
/* Our certificate and private key (PEM).  PF_ERR_INVAL: unreadable, the
 * key does not match, or the certificate does not chain to the root or
 * carry the torrent's name (a viewer given the wrong file learns it now,
 * not from every peer's refusal). */
int pf_tls_ctx_set_identity(pf_tls_ctx *c, const char *cert_pem, const char *key_pem);
int pf_tls_ctx_has_identity(const pf_tls_ctx *c);
/* The operator's revocation list (PEM, one or more CRLs); NULL or "" drops
 * it.  PF_ERR_INVAL: unreadable, or not signed by the root; PF_ERR_TIMEOUT:
 * past its nextUpdate (it would refuse every peer: renew it).  The list in
 * force stays on an error.  Connections already made keep going; new ones
 * are checked against it. */
int pf_tls_ctx_set_crl(pf_tls_ctx *c, const char *crl_pem);
void pf_tls_ctx_free(pf_tls_ctx *c); /* connections hold their own reference */

/* The accepting side's router: lookup(ud, info_hash) returns the SSL
 * torrent's context, or NULL. */
typedef pf_tls_ctx *(*pf_tls_lookup_fn)(void *ud, const uint8_t info_hash[20]);
pf_tls_ctx *pf_tls_router_new(pf_tls_lookup_fn lookup, void *ud);

/* A connection: dialling (SNI = the info-hash in lower-case hex) or
 * accepting through a router.  NULL on memory or OpenSSL failure. */
pf_tls *pf_tls_client(pf_tls_ctx *c, const uint8_t info_hash[20]);
pf_tls *pf_tls_server(pf_tls_ctx *router);
void pf_tls_free(pf_tls *t);

/* Ciphertext from the peer.  Decrypted bytes are appended to plain.
 * Returns 0, or PF_ERR_DENIED (refused: pf_tls_refusal says why),
 * PF_ERR_CLOSED (the peer's close_notify), PF_ERR_NOMEM. */
int pf_tls_recv(pf_tls *t, const uint8_t *data, size_t n, pf_buf *plain);
/* Starts a client's handshake (its ClientHello becomes output). */
int pf_tls_start(pf_tls *t);
/* 1 once the handshake is done: plaintext may be written. */
int pf_tls_established(const pf_tls *t);
/* Encrypts plaintext (established connections only).  0 or PF_ERR_*. */
int pf_tls_write(pf_tls *t, const uint8_t *plain, size_t n);
/* Ciphertext waiting to go to the peer, and taking it (appended). */
size_t pf_tls_pending(const pf_tls *t);
size_t pf_tls_take(pf_tls *t, pf_buf *dst);
/* Queues a close_notify. */
void pf_tls_shutdown(pf_tls *t);

pf_tls_refusal pf_tls_refusal_of(const pf_tls *t);
/* Details for the log: OpenSSL's reason and the names the peer's leaf
 * certificate carried. */
const char *pf_tls_detail(const pf_tls *t);
/* The torrent context SNI chose (accepting side), or the dialled one. */
pf_tls_ctx *pf_tls_chosen(const pf_tls *t);

#endif
