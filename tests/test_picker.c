/* src/core/picker.c: rarest first, priorities, endgame, block bookkeeping. */
#include "core/sched/picker.h"

#include "core/codec/wire.h"
#include "peerflow/peerflow.h"
#include "test.h"

#define BS PF_BLOCK_SIZE

typedef struct fixture {
    pf_bitfield have;
    pf_picker pk;
    uint64_t rng;
} fixture;

static int fx_init(fixture *f, uint32_t pieces, uint32_t plen, uint64_t total)
{
    f->rng = 0x1234567;
    if (pf_bitfield_init(&f->have, pieces) != 0) return -1;
    return pf_picker_init(&f->pk, NULL, pieces, plen, total, &f->have);
}

static void fx_free(fixture *f)
{
    pf_picker_free(&f->pk);
    pf_bitfield_free(&f->have);
}

/* A fake peer's own request list, for the endgame duplicate check. */
typedef struct fake_peer {
    pf_block_ref reqs[256];
    uint32_t n;
} fake_peer;

static int fp_dup(void *ud, uint32_t piece, uint32_t begin)
{
    fake_peer *fp = ud;
    for (uint32_t i = 0; i < fp->n; i++)
        if (fp->reqs[i].piece == piece && fp->reqs[i].begin == begin) return 1;
    return 0;
}

static uint32_t fp_pick(fixture *f, fake_peer *fp, const pf_bitfield *has, int seed, uint32_t max)
{
    pf_block_ref out[256];
    if (max > 256) max = 256;
    uint32_t n = pf_picker_pick(&f->pk, has, seed, out, max, fp_dup, fp, &f->rng);
    for (uint32_t i = 0; i < n && fp->n < 256; i++) fp->reqs[fp->n++] = out[i];
    return n;
}

static int bf_with(pf_bitfield *b, uint32_t n, const uint32_t *set, size_t k)
{
    if (pf_bitfield_init(b, n) != 0) return -1;
    for (size_t i = 0; i < k; i++) pf_bitfield_set(b, set[i]);
    return 0;
}

TEST(picker_piece_sizes)
{
    fixture f;
    CHECK_EQ(fx_init(&f, 3, 32768, 2 * 32768 + 100), 0);
    CHECK_EQ(pf_picker_piece_size(&f.pk, 0), 32768);
    CHECK_EQ(pf_picker_piece_size(&f.pk, 2), 100);
    CHECK_EQ(pf_picker_piece_size(&f.pk, 3), 0);
    fx_free(&f);
}

TEST(picker_rarest_first)
{
    for (uint64_t seed = 1; seed <= 50; seed++) {
        fixture f;
        CHECK_EQ(fx_init(&f, 8, BS, 8 * BS), 0);
        f.rng = seed * 7919;
        /* Three peers have everything but piece 5, one more has 5 too:
         * piece 5 has availability 1, the others 3 or 4. */
        pf_bitfield all, most;
        const uint32_t m[] = {0, 1, 2, 3, 4, 6, 7};
        CHECK_EQ(bf_with(&most, 8, m, 7), 0);
        CHECK_EQ(pf_bitfield_init(&all, 8), 0);
        pf_bitfield_set_all(&all);
        for (int k = 0; k < 3; k++) pf_picker_add_bitfield(&f.pk, &most);
        pf_picker_add_bitfield(&f.pk, &all);
        CHECK_EQ(f.pk.avail[5], 1);
        CHECK_EQ(f.pk.avail[0], 4);
        pf_block_ref out[1];
        CHECK_EQ(pf_picker_pick(&f.pk, &all, 0, out, 1, NULL, NULL, &f.rng), 1);
        CHECK_EQ(out[0].piece, 5);
        CHECK_EQ(out[0].begin, 0);
        CHECK_EQ(out[0].length, BS);
        /* Next rarest after a HAVE changes the picture: piece 2 drops to
         * availability 0 for others... a piece nobody has is not picked
         * from a peer that lacks it. */
        pf_picker_remove_bitfield(&f.pk, &most);
        pf_picker_remove_have(&f.pk, 2);
        pf_picker_remove_have(&f.pk, 2);
        CHECK_EQ(f.pk.avail[2], 1);
        CHECK_EQ(pf_picker_pick(&f.pk, &all, 0, out, 1, NULL, NULL, &f.rng), 1);
        CHECK_EQ(out[0].piece, 2);
        /* A peer that lacks the rarest gets the rarest it has. */
        const uint32_t only[] = {6, 7};
        pf_bitfield some;
        CHECK_EQ(bf_with(&some, 8, only, 2), 0);
        pf_picker_add_have(&f.pk, 6);
        CHECK_EQ(pf_picker_pick(&f.pk, &some, 0, out, 1, NULL, NULL, &f.rng), 1);
        CHECK_EQ(out[0].piece, 7);
        pf_bitfield_free(&all);
        pf_bitfield_free(&most);
        pf_bitfield_free(&some);
        fx_free(&f);
    }
}

TEST(picker_random_tie_break)
{
    /* Equal availability: different rng states start different pieces. */
    uint32_t seen = 0;
    for (uint64_t seed = 1; seed <= 64; seed++) {
        fixture f;
        CHECK_EQ(fx_init(&f, 8, BS, 8 * BS), 0);
        f.rng = seed * 0x9e3779b97f4a7c15ULL;
        pf_block_ref out[1];
        CHECK_EQ(pf_picker_pick(&f.pk, NULL, 1, out, 1, NULL, NULL, &f.rng), 1);
        seen |= 1u << out[0].piece;
        fx_free(&f);
    }
    CHECK(__builtin_popcount(seen) >= 4);
}

TEST(picker_priorities)
{
    fixture f;
    CHECK_EQ(fx_init(&f, 8, BS, 8 * BS), 0);
    pf_bitfield all;
    CHECK_EQ(pf_bitfield_init(&all, 8), 0);
    pf_bitfield_set_all(&all);
    pf_picker_add_bitfield(&f.pk, &all);
    pf_picker_add_have(&f.pk, 5); /* 6 is rarer than 5 ... */
    f.pk.prio[3] = 0;             /* never */
    f.pk.prio[5] = 7;             /* ... but 5 is wanted first */
    f.pk.prio[1] = 4;
    pf_block_ref out[16];
    CHECK_EQ(pf_picker_pick(&f.pk, &all, 0, out, 1, NULL, NULL, &f.rng), 1);
    CHECK_EQ(out[0].piece, 5);
    CHECK_EQ(pf_picker_pick(&f.pk, &all, 0, out, 1, NULL, NULL, &f.rng), 1);
    CHECK_EQ(out[0].piece, 1);
    /* Everything else, in as many picks as it takes: never piece 3. */
    uint32_t got = 2, mask = (1u << 5) | (1u << 1);
    for (int k = 0; k < 20; k++) {
        uint32_t n = pf_picker_pick(&f.pk, &all, 0, out, 16, NULL, NULL, &f.rng);
        for (uint32_t i = 0; i < n; i++) {
            CHECK(out[i].piece != 3);
            mask |= 1u << out[i].piece;
        }
        got += n;
    }
    CHECK_EQ(got, 7);
    CHECK_EQ(mask, 0xffu & ~(1u << 3));
    /* Even a seed peer with nothing else to give never gets it. */
    CHECK_EQ(pf_picker_pick(&f.pk, NULL, 1, out, 16, NULL, NULL, &f.rng), 0);
    pf_bitfield_free(&all);
    fx_free(&f);
}

TEST(picker_finishes_partials_first)
{
    fixture f;
    /* 4 pieces of 4 blocks. */
    CHECK_EQ(fx_init(&f, 4, 4 * BS, 16 * BS), 0);
    pf_block_ref out[8];
    CHECK_EQ(pf_picker_pick(&f.pk, NULL, 1, out, 2, NULL, NULL, &f.rng), 2);
    uint32_t first = out[0].piece;
    CHECK_EQ(out[1].piece, first);
    CHECK_EQ(out[0].begin, 0);
    CHECK_EQ(out[1].begin, BS);
    /* The next pick continues that piece before starting another. */
    CHECK_EQ(pf_picker_pick(&f.pk, NULL, 1, out, 3, NULL, NULL, &f.rng), 3);
    CHECK_EQ(out[0].piece, first);
    CHECK_EQ(out[0].begin, 2 * BS);
    CHECK_EQ(out[1].piece, first);
    CHECK_EQ(out[1].begin, 3 * BS);
    CHECK(out[2].piece != first);
    fx_free(&f);
}

TEST(picker_endgame)
{
    fixture f;
    /* 3 pieces of 1 block. */
    CHECK_EQ(fx_init(&f, 3, BS, 3 * BS), 0);
    fake_peer a = {.n = 0}, b = {.n = 0}, c = {.n = 0}, d = {.n = 0};
    /* A takes two; B still gets the third, new one, and no duplicate. */
    CHECK_EQ(fp_pick(&f, &a, NULL, 1, 2), 2);
    CHECK_EQ(fp_pick(&f, &b, NULL, 1, 10), 1);
    CHECK(b.reqs[0].piece != a.reqs[0].piece && b.reqs[0].piece != a.reqs[1].piece);
    /* Nothing new is left: B now duplicates A's two blocks, never its own. */
    CHECK_EQ(fp_pick(&f, &b, NULL, 1, 10), 2);
    for (uint32_t i = 1; i < 3; i++) CHECK(fp_dup(&a, b.reqs[i].piece, b.reqs[i].begin));
    /* Asked again, B has nothing to add. */
    CHECK_EQ(fp_pick(&f, &b, NULL, 1, 10), 0);
    /* C duplicates only the block that has a single request so far. */
    CHECK_EQ(fp_pick(&f, &c, NULL, 1, 10), 1);
    CHECK_EQ(c.reqs[0].piece, b.reqs[0].piece);
    /* Every block has two requests now: D gets nothing. */
    CHECK_EQ(fp_pick(&f, &d, NULL, 1, 10), 0);
    /* Without a dup callback there is no endgame at all. */
    pf_block_ref out[4];
    CHECK_EQ(pf_picker_pick(&f.pk, NULL, 1, out, 4, NULL, NULL, &f.rng), 0);
    /* A block that arrives frees its duplicate count: still not pickable
     * (it is received). */
    uint8_t data[BS];
    memset(data, 1, sizeof data);
    CHECK_EQ(pf_picker_block_in(&f.pk, a.reqs[0].piece, 0, data, BS), 1);
    uint8_t *buf = pf_picker_take_piece(&f.pk, a.reqs[0].piece);
    CHECK(buf != NULL);
    free(buf);
    CHECK_EQ(fp_pick(&f, &d, NULL, 1, 10), 0);
    fx_free(&f);
}

TEST(picker_endgame_respects_peer_has)
{
    fixture f;
    CHECK_EQ(fx_init(&f, 2, BS, 2 * BS), 0);
    fake_peer a = {.n = 0}, b = {.n = 0};
    CHECK_EQ(fp_pick(&f, &a, NULL, 1, 10), 2);
    /* B has only piece 1: it may duplicate only that. */
    pf_bitfield hb;
    const uint32_t one[] = {1};
    CHECK_EQ(bf_with(&hb, 2, one, 1), 0);
    CHECK_EQ(fp_pick(&f, &b, &hb, 0, 10), 1);
    CHECK_EQ(b.reqs[0].piece, 1);
    pf_bitfield_free(&hb);
    fx_free(&f);
}

/* DESIGN ISSUE (reported, disabled): the picker enters endgame for a peer
 * as soon as *that peer* has nothing new to offer (picker.c: `if (n > 0 ||
 * !dup) return n;`), even while other pieces still have free blocks.  In
 * a swarm of leechers this duplicates many blocks long before the end. */
TEST(picker_endgame_only_when_nothing_left)
{
    fixture f;
    CHECK_EQ(fx_init(&f, 2, BS, 2 * BS), 0);
    fake_peer a = {.n = 0}, b = {.n = 0};
    pf_bitfield ha;
    const uint32_t zero[] = {0};
    CHECK_EQ(bf_with(&ha, 2, zero, 1), 0);
    CHECK_EQ(fp_pick(&f, &a, &ha, 0, 10), 1); /* piece 0 */
    CHECK_EQ(fp_pick(&f, &b, &ha, 0, 10), 0); /* piece 1 is still free */
    pf_bitfield_free(&ha);
    fx_free(&f);
}

TEST(picker_unrequest_returns_blocks)
{
    fixture f;
    CHECK_EQ(fx_init(&f, 1, 4 * BS, 4 * BS), 0);
    pf_block_ref out[8];
    CHECK_EQ(pf_picker_pick(&f.pk, NULL, 1, out, 8, NULL, NULL, &f.rng), 4);
    CHECK_EQ(pf_picker_pick(&f.pk, NULL, 1, out, 8, NULL, NULL, &f.rng), 0);
    pf_picker_unrequest(&f.pk, 0, 2 * BS);
    pf_picker_unrequest(&f.pk, 0, BS);
    pf_picker_unrequest(&f.pk, 0, BS + 1);   /* not a block start: ignored */
    pf_picker_unrequest(&f.pk, 0, 9 * BS);   /* past the piece: ignored */
    pf_picker_unrequest(&f.pk, 7, 0);        /* no such piece: ignored */
    CHECK_EQ(pf_picker_pick(&f.pk, NULL, 1, out, 8, NULL, NULL, &f.rng), 2);
    CHECK_EQ(out[0].begin, BS); /* lowest first */
    CHECK_EQ(out[1].begin, 2 * BS);
    /* Unrequesting a received block does not make it pickable again. */
    uint8_t data[BS];
    memset(data, 2, sizeof data);
    CHECK_EQ(pf_picker_block_in(&f.pk, 0, 0, data, BS), 0);
    pf_picker_unrequest(&f.pk, 0, 0);
    CHECK_EQ(pf_picker_pick(&f.pk, NULL, 1, out, 8, NULL, NULL, &f.rng), 0);
    /* A duplicated block stays requested until both requests are gone. */
    fake_peer a = {.n = 0};
    CHECK_EQ(fp_pick(&f, &a, NULL, 1, 1), 1); /* endgame dup of one block */
    uint32_t dup_begin = a.reqs[0].begin;
    pf_picker_unrequest(&f.pk, 0, dup_begin);
    CHECK_EQ(pf_picker_pick(&f.pk, NULL, 1, out, 8, NULL, NULL, &f.rng), 0);
    pf_picker_unrequest(&f.pk, 0, dup_begin);
    CHECK_EQ(pf_picker_pick(&f.pk, NULL, 1, out, 8, NULL, NULL, &f.rng), 1);
    CHECK_EQ(out[0].begin, dup_begin);
    fx_free(&f);
}

TEST(picker_piece_failed_and_done)
{
    fixture f;
    CHECK_EQ(fx_init(&f, 2, 2 * BS, 3 * BS + 10), 0);
    pf_block_ref out[8];
    uint8_t data[BS];
    memset(data, 3, sizeof data);
    /* Only piece 1 (short: BS + 10 bytes in 2 blocks). */
    pf_bitfield h1;
    const uint32_t one[] = {1};
    CHECK_EQ(bf_with(&h1, 2, one, 1), 0);
    CHECK_EQ(pf_picker_pick(&f.pk, &h1, 0, out, 8, NULL, NULL, &f.rng), 2);
    CHECK_EQ(out[1].length, 10);
    CHECK_EQ(pf_picker_block_in(&f.pk, 1, BS, data, 10), 0);
    CHECK_EQ(pf_picker_block_in(&f.pk, 1, 0, data, BS), 1);
    uint8_t *buf = pf_picker_take_piece(&f.pk, 1);
    CHECK(buf != NULL);
    CHECK_EQ(buf[BS + 9], 3);
    free(buf);
    CHECK(pf_picker_is_pending(&f.pk, 1));
    CHECK(pf_picker_partial(&f.pk, 1) == NULL);
    /* Pending verification: not pickable, blocks for it are refused. */
    CHECK_EQ(pf_picker_pick(&f.pk, &h1, 0, out, 8, NULL, NULL, &f.rng), 0);
    CHECK_EQ(pf_picker_block_in(&f.pk, 1, 0, data, BS), -1);
    /* Hash failed: the whole piece is pickable again, from scratch. */
    pf_picker_piece_failed(&f.pk, 1);
    CHECK(!pf_picker_is_pending(&f.pk, 1));
    CHECK_EQ(pf_picker_pick(&f.pk, &h1, 0, out, 8, NULL, NULL, &f.rng), 2);
    CHECK_EQ(out[0].piece, 1);
    CHECK_EQ(out[0].begin, 0);
    CHECK_EQ(pf_picker_partial(&f.pk, 1)->received, 0);
    /* This time it verifies. */
    CHECK_EQ(pf_picker_block_in(&f.pk, 1, 0, data, BS), 0);
    CHECK_EQ(pf_picker_block_in(&f.pk, 1, BS, data, 10), 1);
    free(pf_picker_take_piece(&f.pk, 1));
    pf_bitfield_set(&f.have, 1);
    pf_picker_piece_done(&f.pk, 1);
    CHECK(!pf_picker_is_pending(&f.pk, 1));
    CHECK_EQ(pf_picker_pick(&f.pk, &h1, 0, out, 8, NULL, NULL, &f.rng), 0);
    /* piece_failed on a piece that is not pending does nothing. */
    pf_picker_piece_failed(&f.pk, 1);
    CHECK_EQ(pf_picker_pick(&f.pk, &h1, 0, out, 8, NULL, NULL, &f.rng), 0);
    pf_bitfield_free(&h1);
    fx_free(&f);
}

TEST(picker_block_in_rejects)
{
    fixture f;
    CHECK_EQ(fx_init(&f, 3, 2 * BS, 5 * BS + 7), 0);
    pf_block_ref out[8];
    uint8_t data[BS + 1];
    memset(data, 4, sizeof data);
    CHECK_EQ(pf_picker_pick(&f.pk, NULL, 1, out, 8, NULL, NULL, &f.rng), 6);
    /* Wrong lengths. */
    CHECK_EQ(pf_picker_block_in(&f.pk, 0, 0, data, BS - 1), -1);
    CHECK_EQ(pf_picker_block_in(&f.pk, 0, 0, data, BS + 1), -1);
    CHECK_EQ(pf_picker_block_in(&f.pk, 0, 0, data, 0), -1);
    CHECK_EQ(pf_picker_block_in(&f.pk, 2, BS, data, BS), -1); /* last block is 7 bytes */
    CHECK_EQ(pf_picker_block_in(&f.pk, 2, BS, data, 6), -1);
    /* Misaligned and out of range. */
    CHECK_EQ(pf_picker_block_in(&f.pk, 0, 1, data, BS), -1);
    CHECK_EQ(pf_picker_block_in(&f.pk, 0, 2 * BS, data, BS), -1);
    CHECK_EQ(pf_picker_block_in(&f.pk, 3, 0, data, BS), -1);
    CHECK_EQ(pf_picker_block_in(&f.pk, UINT32_MAX, 0, data, BS), -1);
    CHECK_EQ(pf_picker_partial(&f.pk, 0)->received, 0);
    /* Right, then the same again: a duplicate. */
    CHECK_EQ(pf_picker_block_in(&f.pk, 2, BS, data, 7), 0);
    CHECK_EQ(pf_picker_block_in(&f.pk, 2, BS, data, 7), -1);
    CHECK_EQ(pf_picker_partial(&f.pk, 2)->received, 1);
    CHECK_EQ(pf_picker_block_in(&f.pk, 2, 0, data, BS), 1);
    /* A verified piece is not a partial any more. */
    free(pf_picker_take_piece(&f.pk, 2));
    pf_bitfield_set(&f.have, 2);
    pf_picker_piece_done(&f.pk, 2);
    CHECK_EQ(pf_picker_block_in(&f.pk, 2, 0, data, BS), -1);
    CHECK(pf_picker_take_piece(&f.pk, 2) == NULL);
    fx_free(&f);
}

TEST(picker_reset_partials)
{
    fixture f;
    CHECK_EQ(fx_init(&f, 4, BS, 4 * BS), 0);
    pf_block_ref out[8];
    CHECK_EQ(pf_picker_pick(&f.pk, NULL, 1, out, 3, NULL, NULL, &f.rng), 3);
    pf_picker_reset_partials(&f.pk);
    CHECK_EQ(f.pk.npartials, 0);
    CHECK_EQ(pf_picker_pick(&f.pk, NULL, 1, out, 8, NULL, NULL, &f.rng), 4);
    fx_free(&f);
}

/* Parole (a source that sent blocks into a piece that failed): it is
 * given only pieces of its own, nobody else's blocks in them, and the
 * pieces it owns go to nobody else until it is released; a costly
 * source's claim (a deadline) shares the piece again. */
TEST(picker_parole_own_pieces)
{
    fixture f;
    CHECK_EQ(fx_init(&f, 4, 4 * BS, 16 * BS), 0);
    pf_block_ref out[16];
    /* Someone (not on parole) starts piece k with 2 of its 4 blocks. */
    CHECK_EQ(pf_picker_pick(&f.pk, NULL, 1, out, 2, NULL, NULL, &f.rng), 2);
    uint32_t shared = out[0].piece;
    /* The one on parole: not the rest of that piece, a piece of its own. */
    f.pk.parole_id = 7;
    CHECK_EQ(pf_picker_pick(&f.pk, NULL, 1, out, 2, NULL, NULL, &f.rng), 2);
    uint32_t own = out[0].piece;
    CHECK(own != shared);
    CHECK_EQ(out[1].piece, own);
    CHECK_EQ(pf_picker_partial(&f.pk, own)->owner, 7u);
    /* Others finish the shared piece, then start new ones: never its. */
    f.pk.parole_id = 0;
    CHECK_EQ(pf_picker_pick(&f.pk, NULL, 1, out, 16, NULL, NULL, &f.rng), 2 + 8);
    for (uint32_t i = 0; i < 10; i++) CHECK(out[i].piece != own);
    /* Released (its parole ended, or it left): its piece is anyone's. */
    pf_picker_release_owner(&f.pk, 7);
    CHECK_EQ(pf_picker_pick(&f.pk, NULL, 1, out, 16, NULL, NULL, &f.rng), 2);
    CHECK_EQ(out[0].piece, own);
    /* A claim shares a piece owned by a parole source. */
    fixture g;
    CHECK_EQ(fx_init(&g, 2, 4 * BS, 8 * BS), 0);
    g.pk.parole_id = 9;
    CHECK_EQ(pf_picker_pick(&g.pk, NULL, 1, out, 2, NULL, NULL, &g.rng), 2);
    uint32_t p9 = out[0].piece;
    g.pk.parole_id = 0;
    CHECK_EQ(pf_picker_claim(&g.pk, p9, out, 4), 2);
    CHECK_EQ(pf_picker_partial(&g.pk, p9)->owner, 0u);
    fx_free(&g);
    fx_free(&f);
}

#define PICKER_STRICT_TESTS picker_endgame_only_when_nothing_left,

TEST_MAIN(picker_piece_sizes, picker_rarest_first, picker_random_tie_break, picker_priorities,
          picker_finishes_partials_first, picker_endgame, picker_endgame_respects_peer_has,
          PICKER_STRICT_TESTS picker_unrequest_returns_blocks, picker_piece_failed_and_done, picker_block_in_rejects,
          picker_reset_partials, picker_parole_own_pieces)
