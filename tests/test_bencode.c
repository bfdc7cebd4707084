/* Bencode: canonical parsing, rejections, limits, lookups, encoder. */
#include "core/codec/bencode.h"

#include <stdint.h>

#include "peerflow/peerflow.h"
#include "test.h"

static int parse_s(const char *s, pf_ben_doc **doc)
{
    return pf_bencode_parse((const uint8_t *)s, strlen(s), 0, NULL, doc, NULL);
}

static int rc_of(const char *s)
{
    pf_ben_doc *d = NULL;
    int rc = parse_s(s, &d);
    pf_ben_doc_free(d);
    return rc;
}

TEST(ben_ints)
{
    pf_ben_doc *d;
    CHECK_EQ(parse_s("i42e", &d), 0);
    CHECK_EQ(pf_ben_doc_root(d)->type, PF_BEN_INT);
    CHECK_EQ(pf_ben_doc_root(d)->v.i, 42);
    CHECK_EQ(pf_ben_doc_root(d)->raw_len, 4);
    pf_ben_doc_free(d);
    CHECK_EQ(parse_s("i-9223372036854775808e", &d), 0);
    CHECK(pf_ben_doc_root(d)->v.i == INT64_MIN);
    pf_ben_doc_free(d);
    CHECK_EQ(parse_s("i9223372036854775807e", &d), 0);
    CHECK(pf_ben_doc_root(d)->v.i == INT64_MAX);
    pf_ben_doc_free(d);
    CHECK_EQ(rc_of("i0e"), 0);
    CHECK_EQ(rc_of("i-1e"), 0);
    CHECK_EQ(rc_of("i9223372036854775808e"), PF_ERR_PARSE);
    CHECK_EQ(rc_of("i-9223372036854775809e"), PF_ERR_PARSE);
    CHECK_EQ(rc_of("i-0e"), PF_ERR_PARSE);
    CHECK_EQ(rc_of("i03e"), PF_ERR_PARSE);
    CHECK_EQ(rc_of("i00e"), PF_ERR_PARSE);
    CHECK_EQ(rc_of("ie"), PF_ERR_PARSE);
    CHECK_EQ(rc_of("i-e"), PF_ERR_PARSE);
    CHECK_EQ(rc_of("i+1e"), PF_ERR_PARSE);
    CHECK_EQ(rc_of("i1"), PF_ERR_PARSE);
    CHECK_EQ(rc_of("i1.5e"), PF_ERR_PARSE);
}

TEST(ben_strings)
{
    pf_ben_doc *d;
    CHECK_EQ(parse_s("4:spam", &d), 0);
    const pf_ben *r = pf_ben_doc_root(d);
    CHECK_EQ(r->type, PF_BEN_STR);
    CHECK_EQ(r->v.s.len, 4);
    CHECK(pf_ben_str_eq(r, "spam"));
    CHECK(!pf_ben_str_eq(r, "spa"));
    char *s = pf_ben_strdup(r, NULL);
    CHECK(s && strcmp(s, "spam") == 0);
    free(s);
    pf_ben_doc_free(d);
    CHECK_EQ(rc_of("0:"), 0);
    CHECK_EQ(rc_of("04:spam"), PF_ERR_PARSE);
    CHECK_EQ(rc_of("5:spam"), PF_ERR_PARSE);
    CHECK_EQ(rc_of("4spam"), PF_ERR_PARSE);
    CHECK_EQ(rc_of(":"), PF_ERR_PARSE);
    CHECK_EQ(rc_of("99999999999999999999999:x"), PF_ERR_PARSE);
    CHECK_EQ(rc_of("4:spamX"), PF_ERR_PARSE); /* trailing */
    /* Embedded NUL: parses, but strdup refuses. */
    static const uint8_t nul[] = {'3', ':', 'a', 0, 'b'};
    CHECK_EQ(pf_bencode_parse(nul, sizeof nul, 0, NULL, &d, NULL), 0);
    CHECK(pf_ben_strdup(pf_ben_doc_root(d), NULL) == NULL);
    CHECK(!pf_ben_str_eq(pf_ben_doc_root(d), "a"));
    pf_ben_doc_free(d);
}

TEST(ben_nested)
{
    const char *in = "d1:ai1e1:bl4:spami-3eld1:xdeeee1:c0:e";
    pf_ben_doc *d;
    CHECK_EQ(parse_s(in, &d), 0);
    const pf_ben *r = pf_ben_doc_root(d);
    CHECK_EQ(r->type, PF_BEN_DICT);
    CHECK_EQ(r->v.c.n, 3);
    CHECK_EQ(r->raw_len, strlen(in));
    const pf_ben *a = pf_ben_dict_get_type(r, "a", PF_BEN_INT);
    CHECK(a && a->v.i == 1);
    CHECK(pf_ben_dict_get_type(r, "a", PF_BEN_STR) == NULL);
    const pf_ben *b = pf_ben_dict_get_type(r, "b", PF_BEN_LIST);
    CHECK(b && b->v.c.n == 3);
    CHECK(pf_ben_str_eq(&b->v.c.items[0], "spam"));
    CHECK_EQ(b->v.c.items[1].v.i, -3);
    const pf_ben *inner = &b->v.c.items[2];
    CHECK_EQ(inner->type, PF_BEN_LIST);
    CHECK_EQ(inner->v.c.n, 1);
    const pf_ben *dd = &inner->v.c.items[0];
    CHECK_EQ(dd->type, PF_BEN_DICT);
    const pf_ben *x = pf_ben_dict_get_type(dd, "x", PF_BEN_DICT);
    CHECK(x && x->v.c.n == 0 && x->raw_len == 2);
    CHECK_MEM(x->raw, "de", 2);
    CHECK_EQ(b->raw_len, strlen("l4:spami-3eld1:xdeeee"));
    CHECK_MEM(b->raw, "l4:spami-3eld1:xdeeee", b->raw_len);
    const pf_ben *c = pf_ben_dict_get(r, "c");
    CHECK(c && c->type == PF_BEN_STR && c->v.s.len == 0);
    CHECK(pf_ben_dict_get(r, "d") == NULL);
    CHECK(pf_ben_dict_get(r, "") == NULL);
    CHECK(pf_ben_dict_get(b, "a") == NULL); /* not a dict */
    pf_ben_doc_free(d);
}

TEST(ben_dict_rules)
{
    CHECK_EQ(rc_of("de"), 0);
    CHECK_EQ(rc_of("le"), 0);
    CHECK_EQ(rc_of("d1:ai1e1:ai2ee"), PF_ERR_PARSE);   /* duplicate */
    CHECK_EQ(rc_of("d1:bi1e1:ai2ee"), PF_ERR_PARSE);   /* unsorted */
    CHECK_EQ(rc_of("d2:abi1e1:ai2ee"), PF_ERR_PARSE);  /* longer first */
    CHECK_EQ(rc_of("d1:ai1e2:abi2ee"), 0);             /* shorter first ok */
    CHECK_EQ(rc_of("d0:i1e1:ai2ee"), 0);               /* empty key first */
    CHECK_EQ(rc_of("di1ei2ee"), PF_ERR_PARSE);         /* int key */
    CHECK_EQ(rc_of("d1:ae"), PF_ERR_PARSE);            /* key without value */
    CHECK_EQ(rc_of("d1:ai1e"), PF_ERR_PARSE);          /* unterminated */
    CHECK_EQ(rc_of("l"), PF_ERR_PARSE);
    CHECK_EQ(rc_of("e"), PF_ERR_PARSE);
    CHECK_EQ(rc_of(""), PF_ERR_PARSE);
    CHECK_EQ(rc_of("x"), PF_ERR_PARSE);
    CHECK_EQ(rc_of("lee"), PF_ERR_PARSE);
    /* Key order is per dict: nested dicts start over. */
    CHECK_EQ(rc_of("d1:bd1:ai1ee1:cd1:ai1eee"), 0);
    /* Binary keys compare as unsigned bytes. */
    CHECK_EQ(rc_of("d1:\x7fi1e1:\x80i2ee"), 0);
    CHECK_EQ(rc_of("d1:\x80i1e1:\x7fi2ee"), PF_ERR_PARSE);
}

TEST(ben_dict_get_binary_search)
{
    pf_buf b;
    pf_buf_init(&b);
    char key[8];
    pf_benc_dict_begin(&b);
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "k%03d", i);
        pf_benc_cstr(&b, key);
        pf_benc_int(&b, i * 7);
    }
    pf_benc_end(&b);
    pf_ben_doc *d;
    CHECK_EQ(pf_bencode_parse(b.data, b.len, 0, NULL, &d, NULL), 0);
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "k%03d", i);
        const pf_ben *v = pf_ben_dict_get_type(pf_ben_doc_root(d), key, PF_BEN_INT);
        CHECK(v && v->v.i == i * 7);
    }
    CHECK(pf_ben_dict_get(pf_ben_doc_root(d), "k100") == NULL);
    CHECK(pf_ben_dict_get(pf_ben_doc_root(d), "k") == NULL);
    pf_ben_doc_free(d);
    pf_buf_free(&b);
}

TEST(ben_trailing)
{
    const char *in = "d1:ai1eeXYZ";
    pf_ben_doc *d;
    size_t used = 0;
    CHECK_EQ(pf_bencode_parse((const uint8_t *)in, strlen(in), 0, NULL, &d, &used),
             PF_ERR_PARSE);
    CHECK_EQ(pf_bencode_parse((const uint8_t *)in, strlen(in), 1, NULL, &d, &used), 0);
    CHECK_EQ(used, 8);
    pf_ben_doc_free(d);
    CHECK_EQ(pf_bencode_parse((const uint8_t *)"i1e", 3, 1, NULL, &d, NULL), 0);
    pf_ben_doc_free(d);
}

TEST(ben_limits)
{
    pf_ben_limits lim = {.max_depth = 3, .max_nodes = 0, .max_len = 0};
    pf_ben_doc *d = NULL;
    CHECK_EQ(pf_bencode_parse((const uint8_t *)"llleee", 6, 0, &lim, &d, NULL), 0);
    pf_ben_doc_free(d);
    CHECK_EQ(pf_bencode_parse((const uint8_t *)"lllleeee", 8, 0, &lim, &d, NULL),
             PF_ERR_LIMIT);
    lim.max_depth = 0;
    lim.max_nodes = 3;
    CHECK_EQ(pf_bencode_parse((const uint8_t *)"li1ei2ee", 8, 0, &lim, &d, NULL), 0);
    pf_ben_doc_free(d);
    CHECK_EQ(pf_bencode_parse((const uint8_t *)"li1ei2ei3ee", 11, 0, &lim, &d, NULL),
             PF_ERR_LIMIT);
    lim.max_nodes = 0;
    lim.max_len = 4;
    CHECK_EQ(pf_bencode_parse((const uint8_t *)"4:spam", 6, 0, &lim, &d, NULL),
             PF_ERR_LIMIT);
    CHECK_EQ(pf_bencode_parse((const uint8_t *)"i1ei2e", 6, 1, &lim, &d, NULL), 0);
    pf_ben_doc_free(d);
    CHECK_EQ(pf_bencode_parse((const uint8_t *)"i123e", 5, 1, &lim, &d, NULL),
             PF_ERR_LIMIT);
    /* Default depth 32: 33 nested lists are refused. */
    char deep[80];
    memset(deep, 'l', 33);
    memset(deep + 33, 'e', 33);
    CHECK_EQ(pf_bencode_parse((const uint8_t *)deep, 66, 0, NULL, &d, NULL),
             PF_ERR_LIMIT);
    CHECK_EQ(pf_bencode_parse((const uint8_t *)deep + 1, 64, 0, NULL, &d, NULL), 0);
    pf_ben_doc_free(d);
    /* A deep but unterminated input is a parse error, not a crash. */
    CHECK_EQ(pf_bencode_parse((const uint8_t *)deep, 20, 0, NULL, &d, NULL),
             PF_ERR_PARSE);
}

TEST(ben_encode_roundtrip)
{
    pf_buf b;
    pf_buf_init(&b);
    CHECK_EQ(pf_benc_dict_begin(&b), 0);
    pf_benc_cstr(&b, "int");
    pf_benc_int(&b, INT64_MIN);
    pf_benc_cstr(&b, "list");
    pf_benc_list_begin(&b);
    pf_benc_str(&b, "a\0b", 3);
    pf_benc_int(&b, 0);
    pf_benc_end(&b);
    pf_benc_cstr(&b, "str");
    pf_benc_cstr(&b, "");
    pf_benc_end(&b);
    const char *want = "d3:inti-9223372036854775808e4:listl3:a\0bi0ee3:str0:e";
    size_t want_len = 52;
    CHECK_EQ(b.len, want_len);
    CHECK_MEM(b.data, want, want_len);
    pf_ben_doc *d;
    CHECK_EQ(pf_bencode_parse(b.data, b.len, 0, NULL, &d, NULL), 0);
    const pf_ben *l = pf_ben_dict_get_type(pf_ben_doc_root(d), "list", PF_BEN_LIST);
    CHECK(l && l->v.c.n == 2 && l->v.c.items[0].v.s.len == 3);
    pf_ben_doc_free(d);
    pf_buf_free(&b);
}

TEST(ben_big_flat_list)
{
    /* Many siblings with nested children keep stable child arrays. */
    pf_buf b;
    pf_buf_init(&b);
    pf_benc_list_begin(&b);
    for (int i = 0; i < 5000; i++) {
        pf_benc_list_begin(&b);
        pf_benc_int(&b, i);
        pf_benc_dict_begin(&b);
        pf_benc_cstr(&b, "v");
        pf_benc_int(&b, -i);
        pf_benc_end(&b);
        pf_benc_end(&b);
    }
    pf_benc_end(&b);
    pf_ben_doc *d;
    CHECK_EQ(pf_bencode_parse(b.data, b.len, 0, NULL, &d, NULL), 0);
    const pf_ben *r = pf_ben_doc_root(d);
    CHECK_EQ(r->v.c.n, 5000);
    for (int i = 0; i < 5000; i++) {
        const pf_ben *e = &r->v.c.items[i];
        CHECK(e->type == PF_BEN_LIST && e->v.c.n == 2);
        CHECK_EQ(e->v.c.items[0].v.i, i);
        const pf_ben *v = pf_ben_dict_get_type(&e->v.c.items[1], "v", PF_BEN_INT);
        CHECK(v && v->v.i == -i);
    }
    pf_ben_doc_free(d);
    pf_buf_free(&b);
}

TEST_MAIN(ben_ints, ben_strings, ben_nested, ben_dict_rules,
          ben_dict_get_binary_search, ben_trailing, ben_limits,
          ben_encode_roundtrip, ben_big_flat_list)
