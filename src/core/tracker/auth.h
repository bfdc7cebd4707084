/* Subscriber tokens for a tracker that admits only subscribers (issue
 * 18): the operator's service signs a token per subscriber and title, the
 * viewer's client passes it in its announces (token=), and the tracker
 * checks it against the operator's public keys, chosen by key id so that
 * keys rotate: a new key is added to the tracker's key file, tokens are
 * signed with it, and the old key is removed once its tokens expired.
 *
 * The token (ASCII, URL-safe, at most PF_TOKEN_MAX bytes):
 *
 *     pf1.<kid>.<claims>.<sig>
 *
 *   kid     the key id, 1-32 of [A-Za-z0-9_-]
 *   claims  base64url (no padding) of a bencoded dict:
 *             "exp": expiry, Unix seconds;
 *             "ih":  the torrent's info-hash, 20 bytes;
 *             "sub": the subscriber, 1-128 bytes
 *   sig     base64url (no padding) of the Ed25519 signature (RFC 8032) of
 *           the ASCII bytes "pf1.<kid>.<claims>"
 *
 * Ed25519 through OpenSSL.  The key file: one key per line,
 * "<kid> ed25519 <base64url of the 32-byte public key>"; blank lines and
 * lines starting with '#' are ignored.  Nothing here logs a token. */
#ifndef PF_CORE_TRACKER_AUTH_H
#define PF_CORE_TRACKER_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "peerflow/token.h" /* PF_TOKEN_MAX, pf_token_sign */

#define PF_TOKEN_KID_MAX 32
#define PF_TOKEN_SUB_MAX 128
#define PF_AUTH_MAX_KEYS 64

/* A token's parts, as parsed (no signature checked yet). */
typedef struct pf_token {
    char kid[PF_TOKEN_KID_MAX + 1];
    char sub[PF_TOKEN_SUB_MAX + 1];
    size_t sub_len;
    uint8_t info_hash[20];
    uint64_t exp;        /* Unix seconds */
    size_t signed_len;   /* bytes of the token the signature covers */
    uint8_t sig[64];
} pf_token;

/* Parses tok[0, len).  0, or PF_ERR_PARSE (anything not exactly as
 * above: a missing or extra part, a bad character, a bad length, claims
 * that are not that dict). */
int pf_token_parse(const char *tok, size_t len, pf_token *out);

typedef struct pf_auth_keys pf_auth_keys;

/* Parses a key file's text.  On error returns PF_ERR_PARSE and writes
 * the line and what is wrong with it to err (never a key); PF_ERR_NOMEM. */
int pf_auth_keys_parse(const char *text, size_t len, pf_auth_keys **out, char *err, size_t errlen);
void pf_auth_keys_free(pf_auth_keys *k);
size_t pf_auth_keys_count(const pf_auth_keys *k);

/* Checks a token for info_hash at Unix time now_s.  Returns NULL if it
 * admits the announce, or a failure reason for the client ("missing token", "malformed token",
 * "unknown token key", "bad token signature", "token is for another
 * torrent", "token expired") as a static string. */
const char *pf_auth_check(const pf_auth_keys *k, const char *tok, size_t len, const uint8_t info_hash[20],
                          uint64_t now_s);

#endif
