#include "core/sched/picker.h"
#include "core/util/mem.h"

#include <stdlib.h>
#include <string.h>

#include "core/util/sha1.h"
#include "core/codec/wire.h"
#include "peerflow/peerflow.h"

/* partial_of values below -1 mark a piece that is being verified. */
#define PF__PENDING (-2)

int pf_picker_init(pf_picker *p, const pf_mem *mem, uint32_t num_pieces, uint32_t piece_length,
                   uint64_t total_length, const pf_bitfield *have)
{
    memset(p, 0, sizeof *p);
    p->mem = mem;
    p->num_pieces = num_pieces;
    p->piece_length = piece_length;
    p->total_length = total_length;
    p->have = have;
    p->max_partials = 16;
    p->avail = pf__calloc(p->mem, num_pieces ? num_pieces : 1, sizeof *p->avail);
    p->prio = pf__malloc(p->mem, num_pieces ? num_pieces : 1);
    p->partial_of = pf__malloc(p->mem, (num_pieces ? num_pieces : 1) * sizeof *p->partial_of);
    if (!p->avail || !p->prio || !p->partial_of) {
        pf_picker_free(p);
        return PF_ERR_NOMEM;
    }
    memset(p->prio, 1, num_pieces);
    for (uint32_t i = 0; i < num_pieces; i++) p->partial_of[i] = -1;
    return 0;
}

static void partial_release(const pf_mem *m, pf_partial *pp)
{
    pf_sha1_free(pp->sha);
    pf__free(m, pp->src);
    pf__free(m, pp->state);
    pf__free(m, pp->reqs);
    pf__free(m, pp->claimed);
    pf__free(m, pp->buf);
    memset(pp, 0, sizeof *pp);
}

void pf_picker_free(pf_picker *p)
{
    for (uint32_t i = 0; i < p->npartials; i++) partial_release(p->mem, &p->partials[i]);
    pf__free(p->mem, p->partials);
    pf__free(p->mem, p->avail);
    pf__free(p->mem, p->prio);
    pf__free(p->mem, p->partial_of);
    pf__free(p->mem, p->pad_from);
    memset(p, 0, sizeof *p);
}

int pf_picker_set_pad(pf_picker *p, uint32_t piece, uint32_t from)
{
    if (piece >= p->num_pieces) return PF_ERR_INVAL;
    if (!p->pad_from) {
        p->pad_from = pf__malloc(p->mem, p->num_pieces * sizeof *p->pad_from);
        if (!p->pad_from) return PF_ERR_NOMEM;
        for (uint32_t i = 0; i < p->num_pieces; i++) p->pad_from[i] = UINT32_MAX;
    }
    if (from < p->pad_from[piece]) p->pad_from[piece] = from;
    return 0;
}

int pf_picker_pad_block(const pf_picker *p, uint32_t piece, uint32_t begin)
{
    /* A piece all pad has nothing to verify against zeros alone: its
     * blocks are fetched as any (never the case for `peerflow create`). */
    return p->pad_from && piece < p->num_pieces && p->pad_from[piece] > 0 && begin >= p->pad_from[piece];
}

uint32_t pf_picker_piece_size(const pf_picker *p, uint32_t piece)
{
    uint64_t start = (uint64_t)piece * p->piece_length;
    if (start >= p->total_length) return 0;
    uint64_t rest = p->total_length - start;
    return rest < p->piece_length ? (uint32_t)rest : p->piece_length;
}

void pf_picker_add_have(pf_picker *p, uint32_t piece)
{
    if (piece < p->num_pieces && p->avail[piece] < UINT16_MAX) p->avail[piece]++;
}

void pf_picker_remove_have(pf_picker *p, uint32_t piece)
{
    if (piece < p->num_pieces && p->avail[piece] > 0) p->avail[piece]--;
}

void pf_picker_add_bitfield(pf_picker *p, const pf_bitfield *bf)
{
    for (uint32_t i = 0; i < p->num_pieces && i < bf->nbits; i++)
        if (pf_bitfield_get(bf, i)) pf_picker_add_have(p, i);
}

void pf_picker_remove_bitfield(pf_picker *p, const pf_bitfield *bf)
{
    for (uint32_t i = 0; i < p->num_pieces && i < bf->nbits; i++)
        if (pf_bitfield_get(bf, i)) pf_picker_remove_have(p, i);
}

static pf_partial *partial_get(pf_picker *p, uint32_t piece)
{
    if (piece >= p->num_pieces || p->partial_of[piece] < 0) return NULL;
    return &p->partials[p->partial_of[piece]];
}

const pf_partial *pf_picker_partial(const pf_picker *p, uint32_t piece)
{
    return partial_get((pf_picker *)p, piece);
}

static uint32_t block_len(const pf_partial *pp, uint32_t b);

static pf_partial *partial_new(pf_picker *p, uint32_t piece)
{
    if (p->hard_max_partials && p->npartials >= p->hard_max_partials) return NULL; /* memory */
    if (p->npartials == p->cap_partials) {
        uint32_t cap = p->cap_partials ? p->cap_partials * 2 : 16;
        pf_partial *n = pf__realloc(p->mem, p->partials, cap * sizeof *n);
        if (!n) return NULL;
        p->partials = n;
        p->cap_partials = cap;
    }
    pf_partial *pp = &p->partials[p->npartials];
    memset(pp, 0, sizeof *pp);
    pp->piece = piece;
    pp->size = pf_picker_piece_size(p, piece);
    pp->nblocks = (pp->size + PF_BLOCK_SIZE - 1) / PF_BLOCK_SIZE;
    pp->state = pf__calloc(p->mem, pp->nblocks, 1);
    pp->reqs = pf__calloc(p->mem, pp->nblocks, 1);
    pp->claimed = pf__calloc(p->mem, pp->nblocks, 1);
    pp->src = pf__calloc(p->mem, pp->nblocks, sizeof *pp->src);
    pp->buf = p->elide ? NULL : pf__malloc(p->mem, pp->size);
    pp->created = p->seq++;
    pp->started = p->now;
    if (!pp->state || !pp->reqs || !pp->claimed || !pp->src || (!pp->buf && !p->elide)) {
        partial_release(p->mem, pp);
        return NULL;
    }
    p->partial_of[piece] = (int32_t)p->npartials++;
    /* Pad bytes are zeros: in place at once, asked of nobody. */
    for (uint32_t b = 0; b < pp->nblocks; b++)
        if (pf_picker_pad_block(p, piece, b * PF_BLOCK_SIZE)) {
            if (pp->buf) memset(pp->buf + b * PF_BLOCK_SIZE, 0, block_len(pp, b));
            pp->state[b] = 2;
            pp->received++;
        }
    return pp;
}

static void partial_remove(pf_picker *p, uint32_t piece, int free_buf)
{
    int32_t idx = p->partial_of[piece];
    if (idx < 0) return;
    pf_partial *pp = &p->partials[idx];
    if (free_buf) pf__free(p->mem, pp->buf);
    pp->buf = NULL;
    partial_release(p->mem, pp);
    uint32_t last = p->npartials - 1;
    if ((uint32_t)idx != last) {
        p->partials[idx] = p->partials[last];
        p->partial_of[p->partials[idx].piece] = idx;
    }
    p->npartials--;
    p->partial_of[piece] = -1;
}

static uint32_t block_len(const pf_partial *pp, uint32_t b)
{
    uint32_t begin = b * PF_BLOCK_SIZE;
    uint32_t rest = pp->size - begin;
    return rest < PF_BLOCK_SIZE ? rest : PF_BLOCK_SIZE;
}

/* Takes free blocks of one partial piece. */
static uint32_t take_free(pf_partial *pp, pf_block_ref *out, uint32_t max)
{
    uint32_t n = 0;
    uint32_t b = pp->next_free;
    while (b < pp->nblocks && pp->state[b] != 0) b++;
    pp->next_free = b;
    for (; b < pp->nblocks && n < max; b++) {
        if (pp->state[b] != 0) continue;
        pp->state[b] = 1;
        pp->reqs[b] = 1;
        out[n].piece = pp->piece;
        out[n].begin = b * PF_BLOCK_SIZE;
        out[n].length = block_len(pp, b);
        n++;
    }
    return n;
}

/* Due too soon for the peer being served (see min_due_s). */
static int too_soon(const pf_picker *p, uint32_t piece)
{
    if (p->min_due_s <= 0) return 0;
    for (uint32_t w = 0; w < p->nwin; w++) {
        const pf_picker_window *win = &p->win[w];
        if (piece < win->start || piece >= win->end || win->piece_s <= 0) continue;
        return win->due0_s + (double)(piece - win->start) * win->piece_s < p->min_due_s;
    }
    return 0;
}

/* How many blocks of a piece due too soon for a whole one the peer may
 * take, `taken` having been given in this pick (see plan_rate). */
static uint32_t due_room(const pf_picker *p, uint32_t piece, uint32_t taken)
{
    if (p->plan_rate <= 0) return 0;
    for (uint32_t w = 0; w < p->nwin; w++) {
        const pf_picker_window *win = &p->win[w];
        if (piece < win->start || piece >= win->end || win->piece_s <= 0) continue;
        double due = win->due0_s + (double)(piece - win->start) * win->piece_s;
        double slots = (due - p->plan_critical_s) / p->plan_spare * p->plan_rate / PF_BLOCK_SIZE;
        double room = slots - (double)p->plan_queued - taken;
        return room < 1 ? 0 : room > 1e6 ? 1000000 : (uint32_t)room;
    }
    return 0;
}

static int in_window(const pf_picker *p, uint32_t piece)
{
    for (uint32_t w = 0; w < p->nwin; w++)
        if (piece >= p->win[w].start && piece < p->win[w].end) return 1;
    return 0;
}

static int wanted(const pf_picker *p, uint32_t i)
{
    return p->prio[i] && p->partial_of[i] == -1 && !pf_bitfield_get(p->have, i);
}

/* The picking source may take blocks of pp: on parole, only of pieces it
 * owns; otherwise, of pieces nobody on parole owns. */
static int parole_ok(const pf_picker *p, const pf_partial *pp)
{
    return pp->owner == p->parole_id;
}

void pf_picker_release_owner(pf_picker *p, uint32_t id)
{
    for (uint32_t k = 0; k < p->npartials; k++)
        if (p->partials[k].owner == id) p->partials[k].owner = 0;
}

/* Best new piece for the peer: highest priority, then rarest, random
 * tie-break via a random start position.  O(pieces). */
static int64_t choose_new(pf_picker *p, const pf_bitfield *peer_has, int seed,
                          uint64_t *rng)
{
    if (p->num_pieces == 0) return -1;
    uint32_t start = (uint32_t)(pf_rand_next(rng) % p->num_pieces);
    int64_t best = -1;
    uint32_t best_prio = 0, best_avail = UINT32_MAX;
    for (uint32_t k = 0; k < p->num_pieces; k++) {
        uint32_t i = start + k;
        if (i >= p->num_pieces) i -= p->num_pieces;
        if (!wanted(p, i)) continue;
        if (!seed && !pf_bitfield_get(peer_has, i)) continue;
        uint32_t pr = p->prio[i], av = p->avail[i];
        if (pr > best_prio || (pr == best_prio && av < best_avail)) {
            best = i;
            best_prio = pr;
            best_avail = av;
        }
    }
    return best;
}

uint32_t pf_picker_pick(pf_picker *p, const pf_bitfield *peer_has,
                        int peer_is_seed, pf_block_ref *out, uint32_t max,
                        pf_picker_dup_fn dup, void *dup_ud, uint64_t *rng)
{
    uint32_t n = 0;
    /* 0. Deadline windows first, in order: pieces ahead of a playhead. */
    for (uint32_t w = 0; w < p->nwin && n < max; w++) {
        for (uint32_t i = p->win[w].start; i < p->win[w].end && i < p->num_pieces && n < max; i++) {
            if (pf_bitfield_get(p->have, i) || p->partial_of[i] < -1 || !p->prio[i]) continue;
            if (!peer_is_seed && !pf_bitfield_get(peer_has, i)) continue;
            uint32_t room = max - n;
            if (too_soon(p, i)) {
                room = due_room(p, i, n);
                if (room == 0) continue;
                if (room > max - n) room = max - n;
            }
            pf_partial *pp = partial_get(p, i);
            if (pp && !parole_ok(p, pp)) continue;
            if (!pp) {
                pp = partial_new(p, i);
                if (!pp) break;
                pp->owner = p->parole_id;
            }
            n += take_free(pp, out + n, room);
        }
    }
    /* 1. Finish pieces in progress, highest priority then oldest first. */
    for (int pass = 0; pass < 2 && n < max; pass++) {
        for (uint32_t k = 0; k < p->npartials && n < max; k++) {
            pf_partial *pp = &p->partials[k];
            if (pass == 0 && p->prio[pp->piece] <= 1) continue;
            if (pass == 1 && p->prio[pp->piece] > 1) continue;
            /* Not wanted any more (a rendition the player left). */
            if (!p->prio[pp->piece]) continue;
            if (!peer_is_seed && !pf_bitfield_get(peer_has, pp->piece)) continue;
            if (too_soon(p, pp->piece)) continue;
            /* Cache full: finishing a speculative piece would only get it
             * evicted on arrival. */
            if (p->window_only && !in_window(p, pp->piece)) continue;
            if (!parole_ok(p, pp)) continue;
            n += take_free(pp, out + n, max - n);
        }
    }
    /* 2. Start new pieces. */
    while (n < max && !p->window_only) {
        int64_t i = choose_new(p, peer_has, peer_is_seed, rng);
        if (i < 0) break;
        /* Soft cap: a peer with nothing else may start one more, but never
         * past four times the cap (speculative pieces cost memory). */
        if (p->npartials >= p->max_partials && p->prio[i] <= 1 &&
            (n > 0 || p->npartials >= 4 * p->max_partials))
            break;
        pf_partial *pp = partial_new(p, (uint32_t)i);
        if (!pp) break;
        pp->owner = p->parole_id;
        n += take_free(pp, out + n, max - n);
    }
    if (n > 0 || !dup) return n;
    /* Endgame only once no piece is left unstarted at all (not merely none
     * this peer has): duplicates before that are pure waste. */
    for (uint32_t i = 0; i < p->num_pieces; i++)
        if (wanted(p, i)) return 0;
    /* ...and only for the last few blocks: a duplicate is worth its cost
     * when it saves waiting on the slowest peer for the final stretch. */
    uint32_t remaining = 0;
    for (uint32_t k = 0; k < p->npartials; k++)
        remaining += p->partials[k].nblocks - p->partials[k].received;
    if (remaining > PF_PICKER_ENDGAME_BLOCKS) return 0;
    /* 3. Endgame: nothing new left; duplicate outstanding blocks this peer
     * has not requested yet, at most two requests per block. */
    for (uint32_t k = 0; k < p->npartials && n < max; k++) {
        pf_partial *pp = &p->partials[k];
        if (!peer_is_seed && !pf_bitfield_get(peer_has, pp->piece)) continue;
        if (!parole_ok(p, pp)) continue;
        for (uint32_t b = 0; b < pp->nblocks && n < max; b++) {
            if (pp->state[b] != 1 || pp->reqs[b] >= 2) continue;
            if (dup(dup_ud, pp->piece, b * PF_BLOCK_SIZE)) continue;
            pp->reqs[b]++;
            out[n].piece = pp->piece;
            out[n].begin = b * PF_BLOCK_SIZE;
            out[n].length = block_len(pp, b);
            n++;
        }
    }
    return n;
}

void pf_picker_set_windows(pf_picker *p, const pf_picker_window *w, uint32_t n)
{
    if (n > PF_PICKER_MAX_WINDOWS) n = PF_PICKER_MAX_WINDOWS;
    if (n) memcpy(p->win, w, n * sizeof *w);
    p->nwin = n;
}

/* pf_picker_claim and pf_picker_claim_steal: steal also takes blocks free
 * sources were asked for (their request stands: the first copy in is
 * kept). */
static uint32_t claim(pf_picker *p, uint32_t piece, pf_block_ref *out, uint32_t max, int steal)
{
    if (piece >= p->num_pieces || pf_bitfield_get(p->have, piece) || p->partial_of[piece] < -1)
        return 0;
    pf_partial *pp = partial_get(p, piece);
    if (!pp) pp = partial_new(p, piece);
    if (!pp) return 0;
    /* A deadline comes first: a piece a peer on parole had to itself is
     * shared with the costly source. */
    pp->owner = 0;
    uint32_t n = 0;
    for (uint32_t b = 0; b < pp->nblocks && n < max; b++) {
        if (pp->claimed[b] || pp->state[b] == 2 || (pp->state[b] == 1 && !steal)) continue;
        pp->claimed[b] = 1;
        if (pp->state[b] == 1) {
            pp->reqs[b]++;
        } else {
            pp->state[b] = 1;
            pp->reqs[b] = 1;
        }
        out[n].piece = piece;
        out[n].begin = b * PF_BLOCK_SIZE;
        out[n].length = block_len(pp, b);
        n++;
    }
    return n;
}

uint32_t pf_picker_claim(pf_picker *p, uint32_t piece, pf_block_ref *out, uint32_t max)
{
    return claim(p, piece, out, max, 0);
}

uint32_t pf_picker_claim_steal(pf_picker *p, uint32_t piece, pf_block_ref *out, uint32_t max)
{
    return claim(p, piece, out, max, 1);
}

void pf_picker_unclaim(pf_picker *p, uint32_t piece, uint32_t begin)
{
    pf_partial *pp = partial_get(p, piece);
    if (!pp || begin % PF_BLOCK_SIZE) return;
    uint32_t b = begin / PF_BLOCK_SIZE;
    if (b >= pp->nblocks || !pp->claimed[b]) return;
    pp->claimed[b] = 0;
    pf_picker_unrequest(p, piece, begin);
}

void pf_picker_unrequest(pf_picker *p, uint32_t piece, uint32_t begin)
{
    pf_partial *pp = partial_get(p, piece);
    if (!pp || begin % PF_BLOCK_SIZE) return;
    uint32_t b = begin / PF_BLOCK_SIZE;
    if (b >= pp->nblocks || pp->state[b] != 1) return;
    if (pp->reqs[b] > 0) pp->reqs[b]--;
    if (pp->reqs[b] == 0) {
        pp->state[b] = 0;
        if (b < pp->next_free) pp->next_free = b;
    }
}

int pf_picker_block_in(pf_picker *p, uint32_t piece, uint32_t begin,
                       const uint8_t *data, uint32_t len)
{
    pf_partial *pp = partial_get(p, piece);
    if (!pp || begin % PF_BLOCK_SIZE) return -1;
    uint32_t b = begin / PF_BLOCK_SIZE;
    if (b >= pp->nblocks || len != block_len(pp, b)) return -1;
    if (pp->state[b] == 2) return -1;
    if (pp->buf) memcpy(pp->buf + begin, data, len); /* elide: no bytes */
    pp->state[b] = 2;
    pp->claimed[b] = 0;
    if (pp->reqs[b] > 0) pp->reqs[b]--;
    pp->received++;
    return pp->received == pp->nblocks ? 1 : 0;
}

uint8_t *pf_picker_take_piece(pf_picker *p, uint32_t piece)
{
    pf_partial *pp = partial_get(p, piece);
    if (!pp) return NULL;
    uint8_t *buf = pp->buf;
    pp->buf = NULL;
    partial_remove(p, piece, 0);
    p->partial_of[piece] = PF__PENDING;
    return buf;
}

void pf_picker_piece_failed(pf_picker *p, uint32_t piece)
{
    if (piece < p->num_pieces && p->partial_of[piece] == PF__PENDING)
        p->partial_of[piece] = -1;
}

void pf_picker_piece_done(pf_picker *p, uint32_t piece)
{
    if (piece < p->num_pieces && p->partial_of[piece] == PF__PENDING)
        p->partial_of[piece] = -1;
}

int pf_picker_is_pending(const pf_picker *p, uint32_t piece)
{
    return piece < p->num_pieces && p->partial_of[piece] == PF__PENDING;
}

void pf_picker_reset_partials(pf_picker *p)
{
    while (p->npartials) partial_remove(p, p->partials[0].piece, 1);
}
