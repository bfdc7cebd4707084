/* Fuzz the subscriber token parser and checker, the key file parser and
 * the log redaction (core/tracker/auth.c, core/util/redact.c).
 * First byte: 0 = the rest is a key file; 1 = a URL to redact; else the
 * rest is a token, checked against a ring holding the fuzzer's own key.
 * Invariants: a parsed token's fields are within their bounds; a token is
 * admitted only if it is, byte for byte, the one the fuzzer signed (no
 * other string verifies: a change anywhere breaks the signature); the
 * redacted URL is NUL-terminated within its buffer and shows no value of
 * a token= parameter. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/tracker/auth.h"
#include "core/util/redact.h"
#include "peerflow/peerflow.h"

static pf_auth_keys *ring;
static char good[PF_TOKEN_MAX + 1];
static const uint8_t IH[20] = "fuzz-info-hash-00001";
#define NOW 1800000000ULL

/* A fixed key (made for this fuzzer, not a secret of anyone's), so that
 * the corpus can hold tokens it admits (fuzz/corpus/token/good). */
static const char PEM[] = "-----BEGIN PRIVATE KEY-----\n"
                          "MC4CAQAwBQYDK2VwBCIEICBf6HIG1TUQXXp/0APOySVG8b4EEOskO68x0m7M/vTP\n"
                          "-----END PRIVATE KEY-----\n";
static const char KEYS[] = "k ed25519 9l3rS5UxeJ96jJFPCRG-rnK-X-GS8uL1aIZdPb8INxo\n";

static void setup(void)
{
    char why[128];
    if (pf_auth_keys_parse(KEYS, strlen(KEYS), &ring, why, sizeof why) != 0) abort();
    if (pf_token_sign(PEM, "k", "fuzz", IH, NOW + 60, good, sizeof good) != 0) abort();
}

static void redact(const char *s, size_t n)
{
    char out[300];
    pf_redact_url(s, n, out, sizeof out);
    size_t len = strnlen(out, sizeof out);
    if (len == sizeof out) abort();
    const char *q = strchr(out, '?');
    for (const char *p = q; p && (p = strstr(p, "token=")); p += 6) {
        if (p[-1] != '?' && p[-1] != '&') continue;
        const char *v = p + 6;
        size_t vl = strcspn(v, "&?");
        if (vl > 8 || strncmp(v, "REDACTED", vl) != 0) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ring) setup();
    if (size == 0) return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    if (data[0] == 0) {
        pf_auth_keys *k = NULL;
        char why[128];
        int rc = pf_auth_keys_parse(s, n, &k, why, sizeof why);
        if (rc == 0 ? (!k || pf_auth_keys_count(k) == 0 || pf_auth_keys_count(k) > PF_AUTH_MAX_KEYS) : k != NULL)
            abort();
        pf_auth_keys_free(k);
        return 0;
    }
    if (data[0] == 1) {
        redact(s, n);
        return 0;
    }
    pf_token t;
    if (pf_token_parse(s, n, &t) == 0) {
        size_t kl = strlen(t.kid);
        if (kl == 0 || kl > PF_TOKEN_KID_MAX || t.sub_len == 0 || t.sub_len > PF_TOKEN_SUB_MAX ||
            t.signed_len >= n)
            abort();
    }
    const char *why = pf_auth_check(ring, s, n, IH, NOW);
    if (!why && (n != strlen(good) || memcmp(s, good, n) != 0)) abort();
    return 0;
}
