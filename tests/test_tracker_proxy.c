/* core/tracker/proxy.c: CIDR networks, forwarded hops, and who the client
 * is behind trusted proxies. */
#include "core/tracker/proxy.h"
#include "test.h"

static int cidr(const char *s, pf_net *n) { return pf__cidr_parse(s, strlen(s), n); }

static pf_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    pf_addr x;
    memset(&x, 0, sizeof x);
    x.family = 4;
    x.ip[0] = a, x.ip[1] = b, x.ip[2] = c, x.ip[3] = d;
    return x;
}

TEST(test_cidr)
{
    pf_net n;
    CHECK_EQ(cidr("10.0.0.0/8", &n), 0);
    CHECK_EQ(n.family, 4);
    CHECK_EQ(n.bits, 8);
    CHECK_EQ(n.ip[0], 10);
    pf_addr a = v4(10, 200, 3, 4), b = v4(11, 0, 0, 1);
    CHECK(pf_net_contains(&n, &a));
    CHECK(!pf_net_contains(&n, &b));
    CHECK_EQ(cidr("127.0.0.1", &n), 0);
    CHECK_EQ(n.bits, 32);
    CHECK_EQ(cidr("0.0.0.0/0", &n), 0);
    CHECK_EQ(n.bits, 0);
    CHECK(pf_net_contains(&n, &b));
    CHECK_EQ(cidr("2001:db8::/32", &n), 0);
    CHECK_EQ(n.family, 6);
    CHECK_EQ(n.bits, 32);
    CHECK_EQ(cidr("::1", &n), 0);
    CHECK_EQ(n.bits, 128);
    /* v4-mapped networks name IPv4 addresses */
    CHECK_EQ(cidr("::ffff:192.168.0.0/112", &n), 0);
    CHECK_EQ(n.family, 4);
    CHECK_EQ(n.bits, 16);
    CHECK_EQ(n.ip[0], 192);
    CHECK_EQ(n.ip[1], 168);
    static const char *const bad[] = {"", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1",
                                      "10.0.0.0/8x", "10.0.0.0/0008", "::/129", "10.0.0",
                                      "10.0.0.0.0", "host.example", "10.0.0.0 /8", " 10.0.0.1",
                                      "1.2.3.4/8/8", "[::1]", "::1/12a",
                                      "1234567890123456789012345678901234567890123456789012345678901234567890"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (cidr(bad[i], &n) != PF_ERR_PARSE) {
            fprintf(stderr, "accepted bad CIDR '%s'\n", bad[i]);
            CHECK(0);
        }
    }
    /* not NUL-terminated: only n bytes are read */
    CHECK_EQ(pf__cidr_parse("10.0.0.0/8garbage", 10, &n), 0);
    CHECK_EQ(n.bits, 8);
}

static int hop(const char *s, pf_addr *a) { return pf__fwd_hop_parse(s, strlen(s), a); }

TEST(test_hops)
{
    pf_addr a;
    CHECK_EQ(hop("1.2.3.4", &a), 0);
    CHECK_EQ(a.family, 4);
    CHECK_MEM(a.ip, "\x01\x02\x03\x04", 4);
    CHECK_EQ(a.port, 0);
    CHECK_EQ(hop("  1.2.3.4:8080 ", &a), 0);
    CHECK_MEM(a.ip, "\x01\x02\x03\x04", 4);
    CHECK_EQ(hop("\"1.2.3.4:_proxy1\"", &a), 0);
    CHECK_EQ(hop("2001:db8::1", &a), 0);
    CHECK_EQ(a.family, 6);
    CHECK_EQ(a.ip[15], 1);
    CHECK_EQ(hop("[2001:db8::2]", &a), 0);
    CHECK_EQ(a.ip[15], 2);
    CHECK_EQ(hop("\"[2001:db8:cafe::17]:4711\"", &a), 0);
    CHECK_EQ(a.ip[15], 0x17);
    CHECK_EQ(hop("::ffff:9.8.7.6", &a), 0);
    CHECK_EQ(a.family, 4);
    CHECK_MEM(a.ip, "\x09\x08\x07\x06", 4);
    static const char *const bad[] = {"", "unknown", "_hidden", "\"\"", "1.2.3.4:", "1.2.3.4:99999x",
                                      "1.2.3.4:123456", "[2001:db8::1", "[2001:db8::1]x",
                                      "[1.2.3.4]", "1.2.3", "a.b.c.d", "1.2.3.4 5", "[::1]:",
                                      "\"1.2.3.4", "1.2.3.4:_bad char"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (hop(bad[i], &a) != PF_ERR_PARSE) {
            fprintf(stderr, "accepted bad hop '%s'\n", bad[i]);
            CHECK(0);
        }
    }
}

/* pf__fwd_client on a request with the given header lines. */
static int client_of(const pf_net *nets, size_t n, pf_fwd_header which, const char *headers,
                     const pf_addr *remote, pf_addr *out)
{
    char raw[4096];
    snprintf(raw, sizeof raw, "GET /announce HTTP/1.1\r\nHost: t\r\n%s\r\n", headers);
    pf_http_request req;
    if (pf_http_request_parse((const uint8_t *)raw, strlen(raw), 0, &req) <= 0) return -1;
    return pf__fwd_client(nets, n, which, &req, remote, out);
}

TEST(test_client_walk)
{
    pf_net nets[3];
    CHECK_EQ(cidr("127.0.0.1", &nets[0]), 0);
    CHECK_EQ(cidr("10.0.0.0/8", &nets[1]), 0);
    CHECK_EQ(cidr("2001:db8::/32", &nets[2]), 0);
    pf_addr lo = v4(127, 0, 0, 1), ext = v4(192, 0, 2, 1), c;
    /* no trusted networks: the socket's address, untrusted */
    CHECK_EQ(client_of(nets, 0, PF_FWD_X_FORWARDED_FOR, "X-Forwarded-For: 1.1.1.1\r\n", &lo, &c), 0);
    CHECK_MEM(c.ip, "\x7f\x00\x00\x01", 4);
    /* an untrusted remote: its header is ignored */
    CHECK_EQ(client_of(nets, 3, PF_FWD_X_FORWARDED_FOR, "X-Forwarded-For: 1.1.1.1\r\n", &ext, &c), 0);
    CHECK_MEM(c.ip, "\xc0\x00\x02\x01", 4);
    /* a trusted remote without a header is the client itself, trusted */
    CHECK_EQ(client_of(nets, 3, PF_FWD_X_FORWARDED_FOR, "", &lo, &c), 1);
    CHECK_MEM(c.ip, "\x7f\x00\x00\x01", 4);
    /* the rightmost untrusted hop */
    CHECK_EQ(client_of(nets, 3, PF_FWD_X_FORWARDED_FOR,
                       "X-Forwarded-For: 6.6.6.6, 5.5.5.5, 10.1.1.1\r\n", &lo, &c), 0);
    CHECK_MEM(c.ip, "\x05\x05\x05\x05", 4);
    /* hops across two lines, and an empty element */
    CHECK_EQ(client_of(nets, 3, PF_FWD_X_FORWARDED_FOR,
                       "X-Forwarded-For: 6.6.6.6, 5.5.5.4\r\nX-Forwarded-For: ,10.1.1.1\r\n", &lo, &c),
             0);
    CHECK_MEM(c.ip, "\x05\x05\x05\x04", 4);
    /* every hop trusted: the leftmost, trusted */
    CHECK_EQ(client_of(nets, 3, PF_FWD_X_FORWARDED_FOR, "X-Forwarded-For: 10.2.2.2, 10.1.1.1\r\n",
                       &lo, &c),
             1);
    CHECK_MEM(c.ip, "\x0a\x02\x02\x02", 4);
    /* junk left of the first untrusted hop is never read */
    CHECK_EQ(client_of(nets, 3, PF_FWD_X_FORWARDED_FOR, "X-Forwarded-For: garbage, 5.5.5.3\r\n", &lo,
                       &c),
             0);
    CHECK_MEM(c.ip, "\x05\x05\x05\x03", 4);
    /* an unreadable hop right of it: the trusted hop that wrote it, but
     * not trusted to speak for anyone */
    CHECK_EQ(client_of(nets, 3, PF_FWD_X_FORWARDED_FOR, "X-Forwarded-For: 5.5.5.2, unknown, 10.3.3.3\r\n",
                       &lo, &c),
             0);
    CHECK_MEM(c.ip, "\x0a\x03\x03\x03", 4);
    /* IPv6 hops */
    CHECK_EQ(client_of(nets, 3, PF_FWD_X_FORWARDED_FOR,
                       "X-Forwarded-For: 2001:db9::5, [2001:db8::1]:443\r\n", &lo, &c),
             0);
    CHECK_EQ(c.family, 6);
    CHECK_EQ(c.ip[3], 0xb9);
    /* Forwarded (RFC 7239), only when configured */
    const char *fw = "Forwarded: for=6.6.6.6;proto=http, For=\"[2001:db9::7]:4711\";by=10.0.0.1, "
                     "for=10.4.4.4\r\n";
    CHECK_EQ(client_of(nets, 3, PF_FWD_FORWARDED, fw, &lo, &c), 0);
    CHECK_EQ(c.family, 6);
    CHECK_EQ(c.ip[15], 7);
    CHECK_EQ(client_of(nets, 3, PF_FWD_X_FORWARDED_FOR, fw, &lo, &c), 1); /* not that header */
    CHECK_MEM(c.ip, "\x7f\x00\x00\x01", 4);
    CHECK_EQ(client_of(nets, 3, PF_FWD_FORWARDED, "Forwarded: for=unknown, for=10.4.4.4\r\n", &lo, &c), 0);
    CHECK_MEM(c.ip, "\x0a\x04\x04\x04", 4);
    CHECK_EQ(client_of(nets, 3, PF_FWD_FORWARDED, "Forwarded: proto=https;by=1.1.1.1\r\n", &lo, &c), 0);
    CHECK_MEM(c.ip, "\x7f\x00\x00\x01", 4);
    /* a quoted comma does not split the list */
    CHECK_EQ(client_of(nets, 3, PF_FWD_FORWARDED, "Forwarded: for=5.5.5.1;x=\"a,b\"\r\n", &lo, &c), 0);
    CHECK_MEM(c.ip, "\x05\x05\x05\x01", 4);
    /* more trusted hops than are remembered: who the client is, is not
     * known (the leftmost remembered, untrusted) */
    char many[1024];
    size_t len = (size_t)snprintf(many, sizeof many, "X-Forwarded-For: 5.5.5.5");
    for (int i = 0; i < PF_FWD_MAX_HOPS; i++)
        len += (size_t)snprintf(many + len, sizeof many - len, ", 10.0.0.%d", i + 1);
    snprintf(many + len, sizeof many - len, "\r\n");
    CHECK_EQ(client_of(nets, 3, PF_FWD_X_FORWARDED_FOR, many, &lo, &c), 0);
    CHECK_MEM(c.ip, "\x0a\x00\x00\x01", 4);
    /* a v4-mapped remote is IPv4 */
    pf_addr mapped;
    memset(&mapped, 0, sizeof mapped);
    mapped.family = 6;
    mapped.ip[10] = mapped.ip[11] = 0xff;
    mapped.ip[12] = 127;
    mapped.ip[15] = 1;
    CHECK_EQ(client_of(nets, 3, PF_FWD_X_FORWARDED_FOR, "X-Forwarded-For: 5.5.5.9\r\n", &mapped, &c), 0);
    CHECK_MEM(c.ip, "\x05\x05\x05\x09", 4);
}

TEST_MAIN(test_cidr, test_hops, test_client_walk)
