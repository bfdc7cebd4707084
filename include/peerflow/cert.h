/* peerflow operator PKI for private swarms whose peers talk BitTorrent over
 * TLS, as libtorrent's "SSL torrents" (docs/design/tls-peers.md 1.2, 1.4):
 * the torrent's info dict carries the operator's CA certificate (PEM,
 * info["ssl-cert"]); each viewer holds a leaf certificate signed directly
 * by that CA whose SubjectAltName DNS name and CommonName are the torrent's
 * name, byte for byte, or "*" for any torrent of the CA; a CRL lists the
 * leaves the operator revoked (a peerflow extension: libtorrent peers do
 * not read it).  Sans-I/O: PEM text in, PEM text out; no files and no
 * clock (the caller passes the time).
 *
 * Keys are ECDSA P-256, signatures ECDSA with SHA-256 (the CA key given
 * to pf_cert_issue and pf_cert_revoke may be any key type OpenSSL signs
 * with).  Private keys are unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY").
 * Serial numbers are 128 random bits.
 *
 * Ownership: input strings are borrowed for the call only and must be
 * NUL-terminated; every string handed out is a NUL-terminated PEM the
 * caller owns and frees with pf_cert_free.  On failure every output
 * pointer is set to NULL. */
#ifndef PEERFLOW_CERT_H
#define PEERFLOW_CERT_H

#include <stddef.h>
#include <stdint.h>

#include "peerflow/peerflow.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PF_CERT_NAME_MAX 255    /* bytes of a leaf's name */
#define PF_CERT_CN_MAX 64       /* bytes of a CA's common name */
#define PF_CERT_DAYS_MAX 36500  /* validity of a CA, days */
#define PF_CERT_CRL_DAYS_MAX 3650

/* A new self-signed root for a swarm operator: subject CN=common_name
 * (1-PF_CERT_CN_MAX bytes of UTF-8 without control characters), valid
 * from not_before_unix (Unix seconds; the CLI takes an hour ago, for
 * peers whose clocks lag) for days days (1-PF_CERT_DAYS_MAX);
 * basicConstraints critical CA:TRUE, keyUsage critical keyCertSign and
 * cRLSign, a subjectKeyIdentifier.  Sets *cert_pem to the certificate and
 * *key_pem to its new private key.
 * 0, PF_ERR_INVAL (a bad name, days or time), PF_ERR_NOMEM (allocation
 * or OpenSSL failure). */
PF_EXTERN int pf_cert_make_ca(const char *common_name, int64_t not_before_unix, unsigned days, char **cert_pem,
                              char **key_pem);

/* A new leaf certificate and key for a viewer of the torrent named name
 * (its info dict's name, as pf_cert_name_check allows, stored as given:
 * no normalisation), or "*" for every torrent of this CA; signed by
 * the CA (ca_cert_pem, ca_key_pem), valid from not_before_unix to
 * not_after_unix (Unix seconds; a not_after in the past makes an expired
 * certificate, for tests).  The leaf has subject CN=name (UTF8String),
 * subjectAltName DNS:name (the bytes as given, in the IA5String; names
 * over 64 characters exceed RFC 5280's bound on the CN, which OpenSSL and
 * libtorrent do not enforce), basicConstraints critical CA:FALSE,
 * keyUsage critical digitalSignature, subject and authority key
 * identifiers, and no extendedKeyUsage: a peer is both TLS client and
 * server.  Sets *cert_pem and *key_pem.
 * 0, PF_ERR_PARSE (a PEM that does not parse; an encrypted key does not),
 * PF_ERR_INVAL (a CA key that does not match the CA certificate, a CA
 * certificate that is not a CA allowed keyCertSign and cRLSign, a bad
 * name, not_before_unix >= not_after_unix or a time out of range),
 * PF_ERR_NOMEM. */
PF_EXTERN int pf_cert_issue(const char *ca_cert_pem, const char *ca_key_pem, const char *name,
                            int64_t not_before_unix, int64_t not_after_unix, char **cert_pem, char **key_pem);

/* A new CRL (v2) of the CA (ca_cert_pem, ca_key_pem): the entries of
 * crl_pem (the CA's current CRL, or NULL for a first one) plus the serial
 * numbers of the n leaf certificates leaf_pems (each once; one already
 * listed is not added again; revocation date now_unix), thisUpdate
 * now_unix (the CLI takes an hour ago: a peer whose clock lags refuses a
 * CRL from its future), nextUpdate next_update_days (1-PF_CERT_CRL_DAYS_MAX) later,
 * cRLNumber one more than crl_pem's (1 for a first CRL) and an authority
 * key identifier.  n may be 0: a CRL listing nothing, or crl_pem renewed.
 * Sets *crl_pem_out.
 * 0, PF_ERR_PARSE (a PEM that does not parse), PF_ERR_INVAL (the CA as
 * for pf_cert_issue, a crl_pem not signed by this CA, a leaf not issued
 * by this CA, bad days or time), PF_ERR_NOMEM. */
PF_EXTERN int pf_cert_revoke(const char *ca_cert_pem, const char *ca_key_pem, const char *crl_pem,
                             const char *const *leaf_pems, size_t n, int64_t now_unix, unsigned next_update_days,
                             char **crl_pem_out);

/* Whether name may be a leaf's name (pf_cert_issue): 1-PF_CERT_NAME_MAX
 * bytes of valid UTF-8 without control characters (C0, DEL, C1).
 * 0 or PF_ERR_INVAL. */
PF_EXTERN int pf_cert_name_check(const char *name);

/* Frees a string the functions above handed out, after overwriting it
 * with zeros (it may be a private key).  NULL is a no-op. */
PF_EXTERN void pf_cert_free(char *pem);

#ifdef __cplusplus
}
#endif
#endif
