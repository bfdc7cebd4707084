/* peerflow subscriber tokens: what a tracker that admits only
 * subscribers checks (pf_tracker_settings.auth_keys_path), and what the
 * operator's service signs.  Sans-I/O: no loop, no files.
 *
 * The operator's service signs one per subscriber and title; the viewer's client sends it in its announces (token=, from
 * the announce URL or `--tracker-token`); a tracker with auth_keys_path
 * checks it.  A token is ASCII and URL-safe:
 *
 *     pf1.<kid>.<claims>.<sig>
 *
 * kid the key id (1-32 of A-Z a-z 0-9 - _), claims base64url (unpadded)
 * of the bencoded dict {"exp": Unix seconds, "ih": the 20-byte
 * info-hash, "sub": the subscriber, 1-128 bytes}, sig base64url of the
 * Ed25519 signature of "pf1.<kid>.<claims>".  The key file has one line
 * per key, "<kid> ed25519 <base64url public key, 43 chars>"; '#' starts a
 * comment line.  Rotation: add the new key's line, sign new tokens with
 * it, remove the old line once the old tokens expired; the tracker
 * re-reads the file when it changes.  Tokens are never logged. */
#ifndef PEERFLOW_TOKEN_H
#define PEERFLOW_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "peerflow/peerflow.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PF_TOKEN_PUBKEY_LEN 43 /* base64url of a 32-byte Ed25519 key */
#define PF_TOKEN_MAX 1024
/* A new Ed25519 key: its private key as PKCS#8 PEM (pem_cap bytes; 256
 * suffice) and its public key for the key file.  0, PF_ERR_RANGE,
 * PF_ERR_NOMEM. */
PF_EXTERN int pf_token_keygen(char *private_pem, size_t pem_cap, char public_key[PF_TOKEN_PUBKEY_LEN + 1]);
/* Signs a token for subscriber sub (1-128 bytes, NUL-terminated) and
 * info_hash, valid until exp_unix_s, with the Ed25519 private key in
 * private_pem (pf_token_keygen's, or `openssl genpkey -algorithm
 * ed25519`'s) named kid.  Writes it NUL-terminated into out (cap bytes;
 * PF_TOKEN_MAX + 1 suffice).  0, PF_ERR_INVAL (a bad key, kid or sub),
 * PF_ERR_RANGE (cap), PF_ERR_NOMEM. */
PF_EXTERN int pf_token_sign(const char *private_pem, const char *kid, const char *sub, const uint8_t info_hash[20],
                            uint64_t exp_unix_s, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
