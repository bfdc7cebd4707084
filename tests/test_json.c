/* The strict JSON reader (core/codec/json.c): values and accessors,
 * escapes and UTF-8, numbers, every refusal with its reason, limits, no
 * quadratic time, failing allocations. */
#include <math.h>
#include <stdint.h>

#include "core/codec/json.h"
#include "core/util/buf.h"
#include "test.h"

static pf_json_doc *parse(const char *s)
{
    pf_json_doc *d = NULL;
    char why[200];
    if (pf_json_parse(s, strlen(s), NULL, &d, why, sizeof why) != 0) {
        fprintf(stderr, "parse failed: %s: %s\n", s, why);
        return NULL;
    }
    return d;
}

/* The error code and reason for s. */
static int refusal(const char *s, size_t n, const pf_json_limits *lim, char *why, size_t cap)
{
    pf_json_doc *d = (pf_json_doc *)1;
    int rc = pf_json_parse(s, n, lim, &d, why, cap);
    if (rc == 0) pf_json_free(d);
    else if (d != NULL) return 99;
    return rc;
}

TEST(json_values)
{
    pf_json_doc *d = parse(" {\"a\": [1, -2.5, true, false, null, \"x\"], \"b\": {}, \"c\": [], \"\": \"empty\"}\n");
    CHECK(d != NULL);
    const pf_json *r = pf_json_root(d);
    CHECK_EQ(pf_json_type(r), PF_JSON_OBJECT);
    CHECK_EQ(pf_json_len(r), 4);
    size_t kl;
    CHECK_STR(pf_json_key(r, 0, &kl), "a");
    CHECK_EQ(kl, 1);
    CHECK_STR(pf_json_key(r, 3, &kl), "");
    CHECK_EQ(kl, 0);
    CHECK(pf_json_key(r, 4, &kl) == NULL);
    const pf_json *a = pf_json_get(r, "a");
    CHECK(a == pf_json_member(r, 0));
    CHECK_EQ(pf_json_type(a), PF_JSON_ARRAY);
    CHECK_EQ(pf_json_len(a), 6);
    double v;
    CHECK_EQ(pf_json_num(pf_json_at(a, 0), &v), 0);
    CHECK(v == 1.0);
    CHECK_EQ(pf_json_num(pf_json_at(a, 1), &v), 0);
    CHECK(v == -2.5);
    CHECK_EQ(pf_json_type(pf_json_at(a, 2)), PF_JSON_TRUE);
    CHECK_EQ(pf_json_type(pf_json_at(a, 3)), PF_JSON_FALSE);
    CHECK_EQ(pf_json_type(pf_json_at(a, 4)), PF_JSON_NULL);
    CHECK_STR(pf_json_str(pf_json_at(a, 5), NULL), "x");
    CHECK(pf_json_at(a, 6) == NULL);
    CHECK_EQ(pf_json_len(pf_json_get(r, "b")), 0);
    CHECK_EQ(pf_json_type(pf_json_get(r, "c")), PF_JSON_ARRAY);
    CHECK_STR(pf_json_str(pf_json_get(r, ""), NULL), "empty");
    /* Nothing, chained. */
    CHECK(pf_json_get(r, "zz") == NULL);
    CHECK(pf_json_get(pf_json_get(r, "zz"), "y") == NULL);
    CHECK_EQ(pf_json_type(NULL), PF_JSON_NONE);
    CHECK_EQ(pf_json_len(pf_json_at(a, 0)), 0);
    CHECK(pf_json_str(pf_json_at(a, 0), NULL) == NULL);
    CHECK_EQ(pf_json_num(pf_json_at(a, 5), &v), PF_ERR_INVAL);
    CHECK(pf_json_at(r, 0) == NULL);   /* not an array */
    CHECK(pf_json_get(a, "a") == NULL); /* not an object */
    CHECK_STR(pf_json_kind_name(PF_JSON_OBJECT), "an object");
    pf_json_free(d);
    /* Any value at the top (RFC 8259). */
    static const char *const tops[] = {"1", "\"s\"", "null", " true ", "[]"};
    for (size_t i = 0; i < sizeof tops / sizeof tops[0]; i++) {
        d = parse(tops[i]);
        CHECK(d != NULL);
        pf_json_free(d);
    }
}

TEST(json_strings)
{
    pf_json_doc *d = parse("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\", \"\\u00e9\\u20AC\", \"\\uD83D\\uDE00\", \"a\\u0000b\", "
                           "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\", \"\\u0041\"]");
    CHECK(d != NULL);
    const pf_json *a = pf_json_root(d);
    size_t n;
    CHECK_STR(pf_json_str(pf_json_at(a, 0), &n), "\"\\/\b\f\n\r\t");
    CHECK_EQ(n, 8);
    CHECK_STR(pf_json_str(pf_json_at(a, 1), &n), "\xc3\xa9\xe2\x82\xac");
    CHECK_STR(pf_json_str(pf_json_at(a, 2), &n), "\xf0\x9f\x98\x80");
    CHECK_EQ(n, 4);
    const char *s = pf_json_str(pf_json_at(a, 3), &n);
    CHECK_EQ(n, 3);
    CHECK_MEM(s, "a\0b", 4);
    CHECK_STR(pf_json_str(pf_json_at(a, 4), &n), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    CHECK_STR(pf_json_str(pf_json_at(a, 5), &n), "A");
    pf_json_free(d);
}

TEST(json_numbers)
{
    pf_json_doc *d = parse("[-0, 1e400, -1e400, 1e-400, 0.1, 1E+2, 12.5e-1, 0, -0.0e0, 123456789012345678901234567890]");
    CHECK(d != NULL);
    const pf_json *a = pf_json_root(d);
    double v;
    CHECK_EQ(pf_json_num(pf_json_at(a, 0), &v), 0);
    CHECK(v == 0 && signbit(v));
    CHECK_EQ(pf_json_num(pf_json_at(a, 1), &v), PF_ERR_RANGE);
    CHECK(isinf(v) && v > 0);
    CHECK_EQ(pf_json_num(pf_json_at(a, 2), &v), PF_ERR_RANGE);
    CHECK(isinf(v) && v < 0);
    CHECK_EQ(pf_json_num(pf_json_at(a, 3), &v), 0);
    CHECK(v == 0);
    CHECK_EQ(pf_json_num(pf_json_at(a, 4), &v), 0);
    CHECK(v == 0.1);
    CHECK_EQ(pf_json_num(pf_json_at(a, 5), &v), 0);
    CHECK(v == 100);
    CHECK_EQ(pf_json_num(pf_json_at(a, 6), &v), 0);
    CHECK(v == 1.25);
    CHECK_EQ(pf_json_num(pf_json_at(a, 8), &v), 0);
    CHECK(v == 0 && signbit(v));
    CHECK_EQ(pf_json_num(pf_json_at(a, 9), &v), 0);
    CHECK(v == 123456789012345678901234567890.0);
    pf_json_free(d);
    /* A number of PF_JSON_NUM_MAX characters parses; one more does not. */
    char big[PF_JSON_NUM_MAX + 2], why[200];
    memset(big, '1', sizeof big);
    CHECK_EQ(refusal(big, PF_JSON_NUM_MAX, NULL, why, sizeof why), 0);
    CHECK_EQ(refusal(big, PF_JSON_NUM_MAX + 1, NULL, why, sizeof why), PF_ERR_LIMIT);
    CHECK_STR(why, "line 1, column 1: number longer than 256 characters");
}

TEST(json_refusals)
{
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"", "line 1, column 1: unexpected end of input (a value expected)"},
        {"  \n ", "line 2, column 2: unexpected end of input (a value expected)"},
        {"01", "line 1, column 1: bad number (leading zero)"},
        {"-01", "line 1, column 1: bad number (leading zero)"},
        {"[00]", "line 1, column 2: bad number (leading zero)"},
        {"1.", "line 1, column 3: bad number (a digit expected after '.')"},
        {".5", "line 1, column 1: unexpected '.' (a value expected)"},
        {"+1", "line 1, column 1: unexpected '+' (a value expected)"},
        {"-", "line 1, column 2: bad number (a digit expected)"},
        {"1e", "line 1, column 3: bad number (a digit expected in the exponent)"},
        {"1e+", "line 1, column 4: bad number (a digit expected in the exponent)"},
        {"NaN", "line 1, column 1: unexpected 'N' (a value expected)"},
        {"Infinity", "line 1, column 1: unexpected 'I' (a value expected)"},
        {"tru", "line 1, column 1: unexpected 't' (a value expected)"},
        {"nul", "line 1, column 1: unexpected 'n' (a value expected)"},
        {"'a'", "line 1, column 1: unexpected ''' (a value expected)"},
        {"[1,]", "line 1, column 4: unexpected ']' (a value expected)"},
        {"[1 2]", "line 1, column 4: ',' or ']' expected after an array element"},
        {"{\"a\":1,}", "line 1, column 8: a string key expected"},
        {"{\"a\" 1}", "line 1, column 6: ':' expected after an object key"},
        {"{\n  \"a\"\n  1}", "line 3, column 3: ':' expected after an object key"},
        {"{a:1}", "line 1, column 2: a string key expected"},
        {"{\"a\":1 \"b\":2}", "line 1, column 8: ',' or '}' expected after an object member"},
        {"[1", "line 1, column 3: unexpected end of input (',' or ']' expected)"},
        {"{\"a\":", "line 1, column 6: unexpected end of input (a value expected)"},
        {"{\"a\"", "line 1, column 5: ':' expected after an object key"},
        {"{", "line 1, column 2: unexpected end of input (a string key expected)"},
        {"[1]]", "line 1, column 4: trailing characters after the JSON text"},
        {"{} x", "line 1, column 4: trailing characters after the JSON text"},
        {"1 2", "line 1, column 3: trailing characters after the JSON text"},
        {"[1] // c", "line 1, column 5: trailing characters after the JSON text"},
        {"/* c */ 1", "line 1, column 1: unexpected '/' (a value expected)"},
        {"\xEF\xBB\xBF{}", "line 1, column 1: unexpected byte 0xef (a value expected)"},
        {"\"abc", "line 1, column 1: unterminated string"},
        {"\"ab\\", "line 1, column 1: unterminated string"},
        {"\"a\tb\"", "line 1, column 3: control character 0x09 in a string (must be escaped)"},
        {"\"a\nb\"", "line 1, column 3: control character 0x0a in a string (must be escaped)"},
        {"\"\\x41\"", "line 1, column 2: bad escape '\\x'"},
        {"\"\\'\"", "line 1, column 2: bad escape '\\''"},
        {"\"\\u12G4\"", "line 1, column 2: bad \\u escape (4 hex digits)"},
        {"\"\\u12\"", "line 1, column 2: bad \\u escape (4 hex digits)"},
        {"\"\\uD83D\"", "line 1, column 2: lone surrogate \\uD83D (a high surrogate not followed by a low one)"},
        {"\"\\uD83Dx\"", "line 1, column 2: lone surrogate \\uD83D (a high surrogate not followed by a low one)"},
        {"\"\\uD83D\\u0041\"", "line 1, column 2: lone surrogate \\uD83D (a high surrogate not followed by a low one)"},
        {"\"\\uD83D\\uD83D\"", "line 1, column 2: lone surrogate \\uD83D (a high surrogate not followed by a low one)"},
        {"\"\\uDE00\"", "line 1, column 2: lone surrogate \\uDE00 (a low surrogate with no high one before it)"},
        {"\"\xc0\x80\"", "line 1, column 2: invalid UTF-8 in a string"},         /* overlong NUL */
        {"\"\xe0\x80\xaf\"", "line 1, column 2: invalid UTF-8 in a string"},     /* overlong '/' */
        {"\"\xed\xa0\x80\"", "line 1, column 2: invalid UTF-8 in a string"},     /* a surrogate */
        {"\"\xf4\x90\x80\x80\"", "line 1, column 2: invalid UTF-8 in a string"}, /* past U+10FFFF */
        {"\"\xff\"", "line 1, column 2: invalid UTF-8 in a string"},
        {"\"a\xc3\"", "line 1, column 3: invalid UTF-8 in a string"}, /* cut short */
        {"\"\x80\"", "line 1, column 2: invalid UTF-8 in a string"},
        {"{\"a\":1,\"a\":2}", "line 1, column 1: duplicate key \"a\" in the object starting here"},
        {"[{\"a\":1,\"b\":2,\"\\u0061\":3}]", "line 1, column 2: duplicate key \"a\" in the object starting here"},
        {"{\"k\\n\":1,\"k\\n\":2}", "line 1, column 1: duplicate key \"k\\x0a\" in the object starting here"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char why[200] = "";
        int rc = refusal(bad[i].text, strlen(bad[i].text), NULL, why, sizeof why);
        if (rc != PF_ERR_PARSE || strcmp(why, bad[i].why) != 0)
            fprintf(stderr, "case %zu (%s): rc %d, why \"%s\"\n", i, bad[i].text, rc, why);
        CHECK_EQ(rc, PF_ERR_PARSE);
        CHECK_STR(why, bad[i].why);
    }
    /* A NUL byte in the input is a byte like any other: refused. */
    char why[200];
    CHECK_EQ(refusal("[1,\0]", 5, NULL, why, sizeof why), PF_ERR_PARSE);
    CHECK_STR(why, "line 1, column 4: unexpected byte 0x00 (a value expected)");
    CHECK_EQ(refusal("\"a\0\"", 4, NULL, why, sizeof why), PF_ERR_PARSE);
    /* A small why buffer is cut, still terminated; NULL is fine. */
    char small[8];
    CHECK_EQ(refusal("[1 2]", 5, NULL, small, sizeof small), PF_ERR_PARSE);
    CHECK_STR(small, "line 1,");
    CHECK_EQ(refusal("[1 2]", 5, NULL, NULL, 0), PF_ERR_PARSE);
}

/* Duplicate keys in a large object (the sorted check), found anywhere. */
TEST(json_duplicate_keys_large)
{
    pf_buf b;
    pf_buf_init(&b);
    size_t n = 5000;
    CHECK_EQ(pf_buf_append_str(&b, "{"), 0);
    for (size_t i = 0; i < n; i++) CHECK_EQ(pf_buf_appendf(&b, "%s\"key%zu\":%zu", i ? "," : "", i, i), 0);
    CHECK_EQ(pf_buf_append_str(&b, "}"), 0);
    pf_json_doc *d = NULL;
    char why[200];
    CHECK_EQ(pf_json_parse((const char *)b.data, b.len, NULL, &d, why, sizeof why), 0);
    CHECK_EQ(pf_json_len(pf_json_root(d)), n);
    double v;
    CHECK_EQ(pf_json_num(pf_json_get(pf_json_root(d), "key4321"), &v), 0);
    CHECK(v == 4321);
    pf_json_free(d);
    b.len--; /* "}" */
    CHECK_EQ(pf_buf_append_str(&b, ",\"key17\":0}"), 0);
    CHECK_EQ(refusal((const char *)b.data, b.len, NULL, why, sizeof why), PF_ERR_PARSE);
    CHECK_STR(why, "line 1, column 1: duplicate key \"key17\" in the object starting here");
    pf_buf_free(&b);
}

static char *repeat(const char *open, size_t times, const char *close)
{
    size_t lo = strlen(open), lc = strlen(close);
    char *s = malloc(times * (lo + lc) + 1);
    for (size_t i = 0; i < times; i++) memcpy(s + i * lo, open, lo);
    for (size_t i = 0; i < times; i++) memcpy(s + times * lo + i * lc, close, lc);
    s[times * (lo + lc)] = 0;
    return s;
}

TEST(json_limits)
{
    char why[200];
    char *s = repeat("[", 64, "]");
    CHECK_EQ(refusal(s, strlen(s), NULL, why, sizeof why), 0);
    free(s);
    s = repeat("[", 65, "]");
    CHECK_EQ(refusal(s, strlen(s), NULL, why, sizeof why), PF_ERR_LIMIT);
    CHECK_STR(why, "line 1, column 65: nested deeper than 64");
    free(s);
    s = repeat("{\"a\":", 3, "}");
    pf_json_limits lim = {.max_depth = 2};
    CHECK_EQ(refusal(s, strlen(s), &lim, why, sizeof why), PF_ERR_LIMIT);
    CHECK_STR(why, "line 1, column 11: nested deeper than 2");
    free(s);
    /* A million brackets: refused at the limit, no stack to overflow. */
    s = repeat("[", 1000000, "");
    CHECK_EQ(refusal(s, strlen(s), NULL, why, sizeof why), PF_ERR_LIMIT);
    free(s);
    lim = (pf_json_limits){.max_nodes = 4};
    CHECK_EQ(refusal("[1,2,3]", 7, &lim, why, sizeof why), 0);
    CHECK_EQ(refusal("[1,2,3,4]", 9, &lim, why, sizeof why), PF_ERR_LIMIT);
    CHECK_STR(why, "line 1, column 8: more than 4 values and keys");
    CHECK_EQ(refusal("{\"a\":1,\"b\":2}", 13, &lim, why, sizeof why), PF_ERR_LIMIT); /* keys count */
    lim = (pf_json_limits){.max_len = 4};
    CHECK_EQ(refusal("[1,2]", 5, &lim, why, sizeof why), PF_ERR_LIMIT);
    CHECK_STR(why, "input of 5 bytes is over the limit of 4");
}

/* Linear time: a long string, many members, long runs of escapes. */
TEST(json_no_quadratic_time)
{
    size_t n = 8u << 20;
    char *s = malloc(n + 3);
    s[0] = '"';
    for (size_t i = 1; i <= n; i += 6) memcpy(s + i, "\\u00e9", 6 <= n + 1 - i ? 6 : n + 1 - i);
    n = n / 6 * 6;
    s[n + 1] = '"';
    pf_json_doc *d = NULL;
    char why[200];
    CHECK_EQ(pf_json_parse(s, n + 2, NULL, &d, why, sizeof why), 0);
    size_t len;
    CHECK(pf_json_str(pf_json_root(d), &len) != NULL);
    CHECK_EQ(len, n / 6 * 2);
    pf_json_free(d);
    free(s);
    pf_buf b;
    pf_buf_init(&b);
    CHECK_EQ(pf_buf_append_str(&b, "{"), 0);
    for (size_t i = 0; i < 200000; i++) CHECK_EQ(pf_buf_appendf(&b, "%s\"%zx\":[]", i ? "," : "", i * 7919), 0);
    CHECK_EQ(pf_buf_append_str(&b, "}"), 0);
    CHECK_EQ(pf_json_parse((const char *)b.data, b.len, NULL, &d, why, sizeof why), 0);
    CHECK_EQ(pf_json_len(pf_json_root(d)), 200000);
    pf_json_free(d);
    pf_buf_free(&b);
}

/* An allocator that fails its n-th call. */
typedef struct failing {
    int left, calls;
} failing;

static void *f_malloc(size_t size, void *ud)
{
    failing *f = ud;
    f->calls++;
    return f->left-- == 0 ? NULL : malloc(size);
}
static void *f_calloc(size_t n, size_t size, void *ud)
{
    failing *f = ud;
    f->calls++;
    return f->left-- == 0 ? NULL : calloc(n, size);
}
static void *f_realloc(void *p, size_t size, void *ud)
{
    failing *f = ud;
    f->calls++;
    return f->left-- == 0 ? NULL : realloc(p, size);
}
static void f_free(void *p, void *ud) { free(p); }

TEST(json_failing_allocations)
{
    const char *text = "{\"a\": [[1, 2, {\"b\": \"c\"}]], \"k0\":0, \"k1\":1, \"k2\":2, \"k3\":3, \"k4\":4, \"k5\":5, "
                       "\"k6\":6, \"k7\":7, \"k8\":8}";
    int ok = 0;
    for (int i = 0; i < 50 && !ok; i++) {
        failing f = {i, 0};
        pf_mem mem = {f_malloc, f_calloc, f_realloc, f_free, &f};
        pf_json_limits lim = {.mem = &mem};
        pf_json_doc *d = NULL;
        char why[200];
        int rc = pf_json_parse(text, strlen(text), &lim, &d, why, sizeof why);
        if (rc == 0) {
            CHECK(f.calls <= i);
            CHECK_EQ(pf_json_len(pf_json_root(d)), 10);
            pf_json_free(d);
            ok = 1;
        } else {
            CHECK_EQ(rc, PF_ERR_NOMEM);
            CHECK(d == NULL);
            CHECK_STR(why, "out of memory");
        }
    }
    CHECK(ok);
}

TEST_MAIN(json_values, json_strings, json_numbers, json_refusals, json_duplicate_keys_large, json_limits,
          json_no_quadratic_time, json_failing_allocations)
