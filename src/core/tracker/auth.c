/* Subscriber tokens: parse, check, sign; the tracker's key ring
 * (core/tracker/auth.h).  Ed25519 and base64 through OpenSSL. */
#include "core/tracker/auth.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>

#include "core/codec/bencode.h"
#include "core/tls/pem.h"
#include "core/util/buf.h"
#include "core/util/mem.h"
#include "peerflow/peerflow.h"
#include "peerflow/token.h"

static const char PREFIX[] = "pf1.";

/* base64url -------------------------------------------------------------- */
static int b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static int b64url_value(char c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26 : c >= '0' && c <= '9' ? c - '0' + 52
                                          : c == '-'              ? 62
                                                                  : 63;
}

/* Decodes unpadded base64url s[0, n) into out (cap bytes).  Returns the
 * decoded length, or -1 (a bad character or length, or too long, or bits
 * past the end that are not zero: one token has one spelling, RFC 4648
 * section 3.5; found by fuzz_token, where "...D_" and "...D-" passed as
 * the same signature). */
static long b64url_decode(const char *s, size_t n, uint8_t *out, size_t cap)
{
    if (n % 4 == 1 || n > 4 * ((PF_TOKEN_MAX + 2) / 3)) return -1;
    char tmp[4 * ((PF_TOKEN_MAX + 2) / 3) + 4];
    size_t pad = (4 - n % 4) % 4;
    for (size_t i = 0; i < n; i++) {
        if (!b64url_char(s[i])) return -1;
        tmp[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    }
    if (pad && (b64url_value(s[n - 1]) & (pad == 1 ? 0x3 : 0xf))) return -1;
    for (size_t i = 0; i < pad; i++) tmp[n + i] = '=';
    size_t len = n + pad, outlen = len / 4 * 3 - pad;
    if (outlen > cap) return -1;
    uint8_t dec[sizeof tmp / 4 * 3];
    if (len && EVP_DecodeBlock(dec, (const unsigned char *)tmp, (int)len) != (int)(len / 4 * 3)) return -1;
    memcpy(out, dec, outlen);
    return (long)outlen;
}

/* Appends unpadded base64url of p[0, n) to b. */
static int b64url_append(pf_buf *b, const uint8_t *p, size_t n)
{
    size_t cap = 4 * ((n + 2) / 3) + 1;
    char enc[4 * ((PF_TOKEN_MAX + 2) / 3) + 1];
    if (cap > sizeof enc) return PF_ERR_RANGE;
    int len = EVP_EncodeBlock((unsigned char *)enc, p, (int)n);
    while (len > 0 && enc[len - 1] == '=') len--;
    for (int i = 0; i < len; i++) enc[i] = enc[i] == '+' ? '-' : enc[i] == '/' ? '_' : enc[i];
    return pf_buf_append(b, enc, (size_t)len);
}

/* Parsing ------------------------------------------------------------------ */
static int kid_ok(const char *s, size_t n)
{
    if (n == 0 || n > PF_TOKEN_KID_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (!b64url_char(s[i])) return 0;
    return 1;
}

static int claims_parse(const uint8_t *p, size_t n, pf_token *out)
{
    pf_ben_limits lim = {.max_depth = 2, .max_nodes = 16, .max_len = 512, .mem = NULL};
    pf_ben_doc *doc = NULL;
    if (pf_bencode_parse(p, n, 0, &lim, &doc, NULL) != 0) return PF_ERR_PARSE;
    const pf_ben *root = pf_ben_doc_root(doc);
    const pf_ben *exp = pf_ben_dict_get_type(root, "exp", PF_BEN_INT);
    const pf_ben *ih = pf_ben_dict_get_type(root, "ih", PF_BEN_STR);
    const pf_ben *sub = pf_ben_dict_get_type(root, "sub", PF_BEN_STR);
    int rc = PF_ERR_PARSE;
    if (root->type == PF_BEN_DICT && root->v.c.n == 3 && exp && ih && sub && exp->v.i >= 0 &&
        ih->v.s.len == 20 && sub->v.s.len >= 1 && sub->v.s.len <= PF_TOKEN_SUB_MAX) {
        out->exp = (uint64_t)exp->v.i;
        memcpy(out->info_hash, ih->v.s.p, 20);
        memcpy(out->sub, sub->v.s.p, sub->v.s.len);
        out->sub[sub->v.s.len] = 0;
        out->sub_len = sub->v.s.len;
        rc = 0;
    }
    pf_ben_doc_free(doc);
    return rc;
}

int pf_token_parse(const char *tok, size_t len, pf_token *out)
{
    memset(out, 0, sizeof *out);
    if (!tok || len > PF_TOKEN_MAX || len < sizeof PREFIX - 1 || memcmp(tok, PREFIX, sizeof PREFIX - 1) != 0)
        return PF_ERR_PARSE;
    const char *kid = tok + sizeof PREFIX - 1, *end = tok + len;
    const char *d1 = memchr(kid, '.', (size_t)(end - kid));
    if (!d1 || !kid_ok(kid, (size_t)(d1 - kid))) return PF_ERR_PARSE;
    const char *claims = d1 + 1;
    const char *d2 = memchr(claims, '.', (size_t)(end - claims));
    if (!d2) return PF_ERR_PARSE;
    const char *sig = d2 + 1;
    if (memchr(sig, '.', (size_t)(end - sig))) return PF_ERR_PARSE;
    memcpy(out->kid, kid, (size_t)(d1 - kid));
    uint8_t raw[PF_TOKEN_MAX];
    long n = b64url_decode(claims, (size_t)(d2 - claims), raw, sizeof raw);
    if (n <= 0 || claims_parse(raw, (size_t)n, out) != 0) return PF_ERR_PARSE;
    if (b64url_decode(sig, (size_t)(end - sig), out->sig, sizeof out->sig) != 64) return PF_ERR_PARSE;
    out->signed_len = (size_t)(d2 - tok);
    return 0;
}

/* The key ring ---------------------------------------------------------------- */
struct pf_auth_keys {
    size_t n;
    struct {
        char kid[PF_TOKEN_KID_MAX + 1];
        EVP_PKEY *pk;
    } key[PF_AUTH_MAX_KEYS];
};

void pf_auth_keys_free(pf_auth_keys *k)
{
    if (!k) return;
    for (size_t i = 0; i < k->n; i++) EVP_PKEY_free(k->key[i].pk);
    pf__free(NULL, k);
}

size_t pf_auth_keys_count(const pf_auth_keys *k) { return k ? k->n : 0; }

/* The next whitespace-separated word of line[*i, n). */
static size_t word(const char *line, size_t n, size_t *i, const char **w)
{
    while (*i < n && (line[*i] == ' ' || line[*i] == '\t')) (*i)++;
    *w = line + *i;
    size_t s = *i;
    while (*i < n && line[*i] != ' ' && line[*i] != '\t') (*i)++;
    return *i - s;
}

static int key_line(pf_auth_keys *k, const char *line, size_t n, const char **why)
{
    size_t i = 0;
    const char *kid, *alg, *pub, *extra;
    size_t lk = word(line, n, &i, &kid), la = word(line, n, &i, &alg), lp = word(line, n, &i, &pub);
    if (word(line, n, &i, &extra) != 0 || lp == 0) return *why = "expected: KID ed25519 PUBLIC_KEY", -1;
    if (!kid_ok(kid, lk)) return *why = "bad key id (1-32 of A-Z a-z 0-9 - _)", -1;
    if (la != 7 || memcmp(alg, "ed25519", 7) != 0) return *why = "unknown algorithm (only ed25519)", -1;
    uint8_t raw[33];
    if (b64url_decode(pub, lp, raw, sizeof raw) != 32) return *why = "bad public key (base64url of 32 bytes)", -1;
    for (size_t j = 0; j < k->n; j++)
        if (strlen(k->key[j].kid) == lk && memcmp(k->key[j].kid, kid, lk) == 0)
            return *why = "key id listed twice", -1;
    if (k->n == PF_AUTH_MAX_KEYS) return *why = "too many keys", -1;
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, 32);
    if (!pk) return *why = "bad public key", -1;
    memcpy(k->key[k->n].kid, kid, lk);
    k->key[k->n].kid[lk] = 0;
    k->key[k->n++].pk = pk;
    return 0;
}

int pf_auth_keys_parse(const char *text, size_t len, pf_auth_keys **out, char *err, size_t errlen)
{
    *out = NULL;
    pf_auth_keys *k = pf__calloc(NULL, 1, sizeof *k);
    if (!k) return PF_ERR_NOMEM;
    size_t lineno = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len, n = end - pos;
        const char *line = text + pos;
        pos = end + 1;
        lineno++;
        if (n && line[n - 1] == '\r') n--;
        size_t i = 0;
        const char *w;
        if (word(line, n, &i, &w) == 0 || w[0] == '#') continue;
        const char *why = NULL;
        if (key_line(k, line, n, &why) != 0) {
            if (err && errlen) snprintf(err, errlen, "line %zu: %s", lineno, why);
            pf_auth_keys_free(k);
            return PF_ERR_PARSE;
        }
    }
    if (k->n == 0) {
        if (err && errlen) snprintf(err, errlen, "no keys");
        pf_auth_keys_free(k);
        return PF_ERR_PARSE;
    }
    *out = k;
    return 0;
}

/* Checking -------------------------------------------------------------------- */
static int ed25519_verify(EVP_PKEY *pk, const uint8_t *msg, size_t n, const uint8_t sig[64])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pk) == 1 &&
             EVP_DigestVerify(md, sig, 64, msg, n) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}

const char *pf_auth_check(const pf_auth_keys *k, const char *tok, size_t len, const uint8_t info_hash[20],
                          uint64_t now_s)
{
    if (!tok || len == 0) return "missing token";
    pf_token t;
    if (pf_token_parse(tok, len, &t) != 0) return "malformed token";
    EVP_PKEY *pk = NULL;
    for (size_t i = 0; k && i < k->n && !pk; i++)
        if (strcmp(k->key[i].kid, t.kid) == 0) pk = k->key[i].pk;
    if (!pk) return "unknown token key";
    if (!ed25519_verify(pk, (const uint8_t *)tok, t.signed_len, t.sig)) return "bad token signature";
    if (memcmp(t.info_hash, info_hash, 20) != 0) return "token is for another torrent";
    if (t.exp <= now_s) return "token expired";
    return NULL;
}

/* Keys and signing (include/peerflow/tracker.h) ------------------------------- */
int pf_token_keygen(char *private_pem, size_t pem_cap, char public_key[PF_TOKEN_PUBKEY_LEN + 1])
{
    EVP_PKEY *pk = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    int rc = PF_ERR_NOMEM;
    if (ctx && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_keygen(ctx, &pk) == 1) {
        BIO *bio = BIO_new(BIO_s_mem());
        uint8_t raw[32];
        size_t rawlen = sizeof raw;
        char *data = NULL;
        long n = 0;
        if (bio && PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL) == 1 &&
            (n = BIO_get_mem_data(bio, &data)) > 0 && EVP_PKEY_get_raw_public_key(pk, raw, &rawlen) == 1) {
            pf_buf b;
            pf_buf_init(&b);
            if ((size_t)n >= pem_cap) {
                rc = PF_ERR_RANGE;
            } else if (b64url_append(&b, raw, rawlen) == 0 && b.len == PF_TOKEN_PUBKEY_LEN) {
                memcpy(private_pem, data, (size_t)n);
                private_pem[n] = 0;
                memcpy(public_key, b.data, b.len);
                public_key[b.len] = 0;
                rc = 0;
            }
            pf_buf_free(&b);
        }
        BIO_free(bio);
    }
    EVP_PKEY_free(pk);
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

static EVP_PKEY *private_key(const char *pem)
{
    EVP_PKEY *pk = pf__pem_key(pem);
    if (pk && EVP_PKEY_get_id(pk) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(pk);
        pk = NULL;
    }
    return pk;
}

static int sign_into(pf_buf *b, EVP_PKEY *pk, const char *kid, const char *sub, const uint8_t info_hash[20],
                     uint64_t exp)
{
    pf_buf claims;
    pf_buf_init(&claims);
    int rc = pf_buf_append(b, PREFIX, sizeof PREFIX - 1);
    if (!rc) rc = pf_buf_append(b, kid, strlen(kid));
    if (!rc) rc = pf_buf_append(b, ".", 1);
    if (!rc) rc = pf_benc_dict_begin(&claims);
    if (!rc) rc = pf_benc_cstr(&claims, "exp");
    if (!rc) rc = pf_benc_int(&claims, (int64_t)exp);
    if (!rc) rc = pf_benc_cstr(&claims, "ih");
    if (!rc) rc = pf_benc_str(&claims, info_hash, 20);
    if (!rc) rc = pf_benc_cstr(&claims, "sub");
    if (!rc) rc = pf_benc_cstr(&claims, sub);
    if (!rc) rc = pf_benc_end(&claims);
    if (!rc) rc = b64url_append(b, claims.data, claims.len);
    pf_buf_free(&claims);
    uint8_t sig[64];
    size_t siglen = sizeof sig;
    EVP_MD_CTX *md = rc ? NULL : EVP_MD_CTX_new();
    if (!rc && !(md && EVP_DigestSignInit(md, NULL, NULL, NULL, pk) == 1 &&
                 EVP_DigestSign(md, sig, &siglen, b->data, b->len) == 1 && siglen == 64))
        rc = PF_ERR_INVAL;
    EVP_MD_CTX_free(md);
    if (!rc) rc = pf_buf_append(b, ".", 1);
    if (!rc) rc = b64url_append(b, sig, siglen);
    return rc;
}

int pf_token_sign(const char *private_pem, const char *kid, const char *sub, const uint8_t info_hash[20],
                  uint64_t exp_unix_s, char *out, size_t cap)
{
    size_t sl = sub ? strlen(sub) : 0;
    if (!private_pem || !kid || !kid_ok(kid, strlen(kid)) || sl == 0 || sl > PF_TOKEN_SUB_MAX || exp_unix_s > INT64_MAX)
        return PF_ERR_INVAL;
    EVP_PKEY *pk = private_key(private_pem);
    if (!pk) return PF_ERR_INVAL;
    pf_buf b;
    pf_buf_init(&b);
    int rc = sign_into(&b, pk, kid, sub, info_hash, exp_unix_s);
    EVP_PKEY_free(pk);
    if (!rc && b.len >= cap) rc = PF_ERR_RANGE;
    if (!rc) {
        memcpy(out, b.data, b.len);
        out[b.len] = 0;
    }
    pf_buf_free(&b);
    return rc;
}
