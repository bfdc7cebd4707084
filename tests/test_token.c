/* Subscriber tokens (core/tracker/auth.c, include/peerflow/token.h): keys,
 * signing, every refusal with its reason, key rotation, the tracker core
 * admitting only token holders (HTTP; UDP refused), the client's announce
 * URL carrying its token, and tokens kept out of logs (core/util/redact). */
#include "core/codec/bencode.h"
#include "core/codec/tracker_proto.h"
#include "core/codec/udp_tracker.h"
#include "core/tracker/auth.h"
#include "core/tracker/tracker.h"
#include "core/util/redact.h"
#include "test.h"

#define NOW 1800000000ULL /* Unix seconds, 2027 */

typedef struct keypair {
    char pem[512];
    char pub[PF_TOKEN_PUBKEY_LEN + 1];
} keypair;

static const uint8_t IH[20] = "01234567890123456789";
static const uint8_t OTHER_IH[20] = "abcdefghijabcdefghij";

static pf_auth_keys *ring(const char *text)
{
    pf_auth_keys *k = NULL;
    char why[128];
    return pf_auth_keys_parse(text, strlen(text), &k, why, sizeof why) == 0 ? k : NULL;
}

static const char *check(const pf_auth_keys *k, const char *tok, const uint8_t ih[20], uint64_t now)
{
    return pf_auth_check(k, tok, strlen(tok), ih, now);
}

TEST(token_sign_and_check)
{
    keypair a;
    CHECK_EQ(pf_token_keygen(a.pem, sizeof a.pem, a.pub), 0);
    CHECK_EQ(strlen(a.pub), PF_TOKEN_PUBKEY_LEN);
    char line[128], tok[PF_TOKEN_MAX + 1];
    snprintf(line, sizeof line, "# the operator's keys\n\nk-2026_12 ed25519 %s\n", a.pub);
    pf_auth_keys *k = ring(line);
    CHECK(k != NULL);
    CHECK_EQ(pf_auth_keys_count(k), 1u);
    CHECK_EQ(pf_token_sign(a.pem, "k-2026_12", "alice@example", IH, NOW + 60, tok, sizeof tok), 0);
    CHECK(strncmp(tok, "pf1.k-2026_12.", 14) == 0);
    pf_token t;
    CHECK_EQ(pf_token_parse(tok, strlen(tok), &t), 0);
    CHECK_STR(t.sub, "alice@example");
    CHECK_EQ(t.exp, NOW + 60);
    CHECK_MEM(t.info_hash, IH, 20);
    CHECK(check(k, tok, IH, NOW) == NULL);
    CHECK_STR(check(k, tok, OTHER_IH, NOW), "token is for another torrent");
    CHECK_STR(check(k, tok, IH, NOW + 60), "token expired");
    CHECK_STR(pf_auth_check(k, NULL, 0, IH, NOW), "missing token");
    CHECK_STR(pf_auth_check(k, tok, 0, IH, NOW), "missing token");
    /* Any byte of it changed: refused (the claims or the signature). */
    size_t n = strlen(tok);
    for (size_t i = 0; i < n; i++) {
        char bad[PF_TOKEN_MAX + 1];
        memcpy(bad, tok, n + 1);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        const char *why = check(k, bad, IH, NOW);
        CHECK(why != NULL);
    }
    /* Signed by another key under the same id: a bad signature. */
    keypair b;
    CHECK_EQ(pf_token_keygen(b.pem, sizeof b.pem, b.pub), 0);
    CHECK_EQ(pf_token_sign(b.pem, "k-2026_12", "mallory", IH, NOW + 60, tok, sizeof tok), 0);
    CHECK_STR(check(k, tok, IH, NOW), "bad token signature");
    CHECK_EQ(pf_token_sign(b.pem, "other", "mallory", IH, NOW + 60, tok, sizeof tok), 0);
    CHECK_STR(check(k, tok, IH, NOW), "unknown token key");
    /* Bad arguments to sign. */
    CHECK_EQ(pf_token_sign("not a key", "k", "s", IH, NOW, tok, sizeof tok), PF_ERR_INVAL);
    CHECK_EQ(pf_token_sign(a.pem, "bad kid!", "s", IH, NOW, tok, sizeof tok), PF_ERR_INVAL);
    CHECK_EQ(pf_token_sign(a.pem, "k", "", IH, NOW, tok, sizeof tok), PF_ERR_INVAL);
    CHECK_EQ(pf_token_sign(a.pem, "k", "s", IH, NOW, tok, 20), PF_ERR_RANGE);
    pf_auth_keys_free(k);
}

TEST(token_malformed)
{
    static const char *const bad[] = {
        "", "pf1.", "pf1.k", "pf1.k.", "pf1.k..", "pf2.k.ZGU.AAAA", "pf1.k.!!!!.AAAA",
        "pf1..ZGU.AAAA", "pf1.k.ZGU.AAAA.AAAA", "pf1.kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk.ZGU.AAAA",
        "pf1.k.ZGU.AAAA", /* "de": an empty dict, a short signature */
        "pf1.k.A.AAAA",   /* a base64 length that cannot be */
    };
    pf_token t;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CHECK_EQ(pf_token_parse(bad[i], strlen(bad[i]), &t), PF_ERR_PARSE);
    char big[PF_TOKEN_MAX + 8];
    memset(big, 'A', sizeof big);
    memcpy(big, "pf1.k.", 6);
    CHECK_EQ(pf_token_parse(big, sizeof big, &t), PF_ERR_PARSE);
    pf_auth_keys *k = ring("k ed25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n");
    CHECK(k != NULL);
    CHECK_STR(check(k, "pf1.k.ZGU.AAAA", IH, NOW), "malformed token");
    pf_auth_keys_free(k);
    /* One spelling per token: a signature whose unused last bits are set
     * decodes to the same bytes but is refused (found by fuzz_token). */
    keypair a;
    char line[128], tok[PF_TOKEN_MAX + 1];
    CHECK_EQ(pf_token_keygen(a.pem, sizeof a.pem, a.pub), 0);
    snprintf(line, sizeof line, "k ed25519 %s\n", a.pub);
    k = ring(line);
    CHECK_EQ(pf_token_sign(a.pem, "k", "s", IH, NOW + 60, tok, sizeof tok), 0);
    CHECK(check(k, tok, IH, NOW) == NULL);
    size_t n = strlen(tok);
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int v = (int)(strchr(b64, tok[n - 1]) - b64);
    CHECK_EQ(v & 0xf, 0); /* 64 bytes: 86 characters, 4 bits unused */
    tok[n - 1] = b64[v | 1];
    CHECK_STR(check(k, tok, IH, NOW), "malformed token");
    pf_auth_keys_free(k);
}

TEST(token_key_file)
{
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"", "no keys"},
        {"# only a comment\n", "no keys"},
        {"k ed25519\n", "line 1: expected: KID ed25519 PUBLIC_KEY"},
        {"k rsa AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", "line 1: unknown algorithm (only ed25519)"},
        {"\nk ed25519 AAAA\n", "line 2: bad public key (base64url of 32 bytes)"},
        {"k! ed25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", "line 1: bad key id (1-32 of A-Z a-z 0-9 - _)"},
        {"k ed25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA extra\n", "line 1: expected: KID ed25519 PUBLIC_KEY"},
        {"k ed25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\nk ed25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
         "line 2: key id listed twice"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pf_auth_keys *k = (pf_auth_keys *)1;
        char why[128] = "";
        CHECK_EQ(pf_auth_keys_parse(bad[i].text, strlen(bad[i].text), &k, why, sizeof why), PF_ERR_PARSE);
        CHECK(k == NULL);
        CHECK_STR(why, bad[i].why);
    }
}

/* Rotation: tokens of the old key work while both are listed, only the
 * new key's once the old one is removed. */
TEST(token_rotation)
{
    keypair a, b;
    CHECK_EQ(pf_token_keygen(a.pem, sizeof a.pem, a.pub), 0);
    CHECK_EQ(pf_token_keygen(b.pem, sizeof b.pem, b.pub), 0);
    char both[256], only_b[128], ta[PF_TOKEN_MAX + 1], tb[PF_TOKEN_MAX + 1];
    snprintf(both, sizeof both, "old ed25519 %s\nnew ed25519 %s\n", a.pub, b.pub);
    snprintf(only_b, sizeof only_b, "new ed25519 %s\n", b.pub);
    CHECK_EQ(pf_token_sign(a.pem, "old", "alice", IH, NOW + 600, ta, sizeof ta), 0);
    CHECK_EQ(pf_token_sign(b.pem, "new", "alice", IH, NOW + 600, tb, sizeof tb), 0);
    pf_auth_keys *k1 = ring(both), *k2 = ring(only_b);
    CHECK(k1 && k2);
    CHECK(check(k1, ta, IH, NOW) == NULL);
    CHECK(check(k1, tb, IH, NOW) == NULL);
    CHECK_STR(check(k2, ta, IH, NOW), "unknown token key");
    CHECK(check(k2, tb, IH, NOW) == NULL);
    pf_auth_keys_free(k1);
    pf_auth_keys_free(k2);
}

/* A failure reason from a tracker reply ("" if none). */
static void failure_of(const pf_buf *b, char *out, size_t cap)
{
    pf_ben_doc *doc = NULL;
    out[0] = 0;
    if (pf_bencode_parse(b->data, b->len, 0, NULL, &doc, NULL) != 0) return;
    const pf_ben *f = pf_ben_dict_get_type(pf_ben_doc_root(doc), "failure reason", PF_BEN_STR);
    if (f) snprintf(out, cap, "%.*s", (int)f->v.s.len, (const char *)f->v.s.p);
    pf_ben_doc_free(doc);
}

static int announce(pf_tracker *t, const char *token, char *why, size_t cap)
{
    pf_announce_req r;
    memset(&r, 0, sizeof r);
    memcpy(r.info_hash, IH, 20);
    memcpy(r.peer_id, "-PF0001-abcdefghijkl", 20);
    r.port = 6881;
    r.token = token;
    pf_buf url, body;
    pf_buf_init(&url);
    pf_buf_init(&body);
    pf_announce_url(&url, "http://t/announce", &r);
    pf_addr from;
    memset(&from, 0, sizeof from);
    from.family = 4;
    from.ip[0] = 10, from.ip[3] = 1;
    const char *q = strchr((const char *)url.data, '?') + 1;
    int st = pf_tracker_handle_http(t, "/announce", q, &from, 1, &body);
    failure_of(&body, why, cap);
    pf_buf_free(&url);
    pf_buf_free(&body);
    return st;
}

TEST(token_tracker_admits_subscribers_only)
{
    keypair a;
    CHECK_EQ(pf_token_keygen(a.pem, sizeof a.pem, a.pub), 0);
    char line[128], tok[PF_TOKEN_MAX + 1], other[PF_TOKEN_MAX + 1], old[PF_TOKEN_MAX + 1], why[128];
    snprintf(line, sizeof line, "k ed25519 %s\n", a.pub);
    pf_auth_keys *k = ring(line);
    CHECK(k != NULL);
    CHECK_EQ(pf_token_sign(a.pem, "k", "alice", IH, NOW + 60, tok, sizeof tok), 0);
    CHECK_EQ(pf_token_sign(a.pem, "k", "alice", OTHER_IH, NOW + 60, other, sizeof other), 0);
    CHECK_EQ(pf_token_sign(a.pem, "k", "alice", IH, NOW - 1, old, sizeof old), 0);
    pf_tracker *t = pf_tracker_new(NULL);
    CHECK(t != NULL);
    /* Without keys anyone may announce. */
    CHECK_EQ(announce(t, NULL, why, sizeof why), 200);
    CHECK_STR(why, "");
    pf_tracker_set_auth(t, k);
    pf_tracker_set_unix_time(t, NOW);
    CHECK_EQ(announce(t, NULL, why, sizeof why), 200);
    CHECK_STR(why, "missing token");
    CHECK_EQ(announce(t, other, why, sizeof why), 200);
    CHECK_STR(why, "token is for another torrent");
    CHECK_EQ(announce(t, old, why, sizeof why), 200);
    CHECK_STR(why, "token expired");
    CHECK_EQ(announce(t, "pf1.k.x.y", why, sizeof why), 200);
    CHECK_STR(why, "malformed token");
    CHECK_EQ(announce(t, tok, why, sizeof why), 200);
    CHECK_STR(why, "");
    pf_tracker_stats st;
    pf_tracker_stats_get(t, &st);
    CHECK_EQ(st.auth_refused, 4u);
    CHECK_EQ(st.refused_by[PF_TRACKER_R_MISSING_TOKEN], 1u);
    CHECK_EQ(st.refused_by[PF_TRACKER_R_WRONG_TORRENT], 1u);
    CHECK_EQ(st.refused_by[PF_TRACKER_R_EXPIRED], 1u);
    CHECK_EQ(st.refused_by[PF_TRACKER_R_MALFORMED_TOKEN], 1u);
    pf_buf m;
    pf_buf_init(&m);
    CHECK_EQ(pf_tracker_metrics(t, &m), 0);
    CHECK_EQ(pf_buf_nul(&m), 0);
    CHECK(strstr((const char *)m.data, "\npeerflow_tracker_refused_total{reason=\"expired\"} 1\n") != NULL);
    CHECK(strstr((const char *)m.data, "\npeerflow_tracker_peers{state=\"seeder\"} 1\n") != NULL);
    CHECK(strstr((const char *)m.data, "\npeerflow_tracker_announces_total 6\n") != NULL);
    pf_buf_free(&m);
    /* BEP 15 has no room for a token: refused with a reason. */
    uint8_t req[PF_UDPT_ANNOUNCE_LEN], out[PF_TRACKER_UDP_REPLY_MAX];
    pf_addr from;
    memset(&from, 0, sizeof from);
    from.family = 4;
    from.ip[0] = 10, from.ip[3] = 2, from.port = 5000;
    pf_udpt_connect_req(req, 7);
    size_t r = pf_tracker_handle_udp(t, &from, req, PF_UDPT_CONNECT_LEN, 1, out, sizeof out);
    pf_udpt_reply rep;
    CHECK_EQ(pf_udpt_parse(out, r, 4, &rep), 0);
    CHECK_EQ(rep.action, PF_UDPT_CONNECT);
    pf_announce_req ar;
    memset(&ar, 0, sizeof ar);
    memcpy(ar.info_hash, IH, 20);
    memcpy(ar.peer_id, "-PF0001-abcdefghijkl", 20);
    ar.port = 6881;
    pf_udpt_announce_req(req, rep.conn_id, 8, &ar);
    r = pf_tracker_handle_udp(t, &from, req, PF_UDPT_ANNOUNCE_LEN, 1, out, sizeof out);
    CHECK_EQ(pf_udpt_parse(out, r, 4, &rep), 0);
    CHECK_EQ(rep.action, PF_UDPT_ERROR);
    CHECK_STR(rep.error, "missing token (announce over HTTP)");
    pf_tracker_free(t);
    pf_auth_keys_free(k);
}

TEST(token_never_logged)
{
    char out[256];
    const char *u = "http://t:80/announce?passkey=1&token=pf1.k.SECRET.SIG&info_hash=%01&token=again";
    pf_redact_url(u, strlen(u), out, sizeof out);
    CHECK_STR(out, "http://t:80/announce?passkey=1&token=REDACTED&info_hash=%01&token=REDACTED");
    CHECK(strstr(out, "SECRET") == NULL);
    pf_redact_url("/announce", 9, out, sizeof out);
    CHECK_STR(out, "/announce");
    /* A '?' inside the query separates too (found by fuzz_token). */
    const char *u2 = "/a?x=1&y?token=SECRET&z=2";
    pf_redact_url(u2, strlen(u2), out, sizeof out);
    CHECK_STR(out, "/a?x=1&y?token=REDACTED&z=2");
    pf_redact_url(u, strlen(u), out, 30); /* truncated, still NUL-terminated */
    CHECK_EQ(strlen(out), 29u);
    /* The announce URL carries it (percent-encoded where it must be). */
    pf_announce_req r;
    memset(&r, 0, sizeof r);
    r.port = 1;
    r.token = "pf1.k.AB-_.CD";
    pf_buf url;
    pf_buf_init(&url);
    CHECK_EQ(pf_announce_url(&url, "http://t/announce?x=1", &r), 0);
    CHECK(strstr((const char *)url.data, "&token=pf1.k.AB-_.CD") != NULL);
    pf_buf_free(&url);
}

TEST_MAIN(token_sign_and_check, token_malformed, token_key_file, token_rotation, token_tracker_admits_subscribers_only,
          token_never_logged)
