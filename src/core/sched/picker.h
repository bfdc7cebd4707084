/* Piece picker: availability, partial pieces and block states, rarest-
 * first selection with random tie-breaks, piece priorities and endgame.
 * Owns the receive buffers of partial pieces. */
#ifndef PF_CORE_PICKER_H
#define PF_CORE_PICKER_H

#include <stddef.h>
#include <stdint.h>

#include "core/codec/bitfield.h"
#include "peerflow/peerflow.h"

typedef struct pf_block_ref {
    uint32_t piece;
    uint32_t begin;
    uint32_t length;
} pf_block_ref;

typedef struct pf_partial {
    uint32_t piece;
    uint32_t size;     /* bytes in this piece */
    uint32_t nblocks;
    uint32_t received; /* blocks received */
    uint32_t next_free; /* hint: lowest block index that may be free */
    uint8_t *state;    /* per block: 0 free, 1 requested, 2 received */
    uint8_t *reqs;     /* per block: outstanding requests (endgame dups) */
    uint8_t *claimed;  /* per block: 1 while a costly source's fetch covers
                          it (pf_picker_claim) */
    uint8_t *buf;      /* piece data; NULL when the picker elides */
    uint64_t created;  /* sequence number, oldest finishes first */
    uint64_t started;  /* picker clock (ns) when the piece was started */
    uint32_t *src;     /* per block: id of the source that sent it */
    uint32_t owner;    /* a source on parole that has this piece to
                          itself (pf_picker.parole_id); 0: shared */
    struct pf_sha1_ctx *sha; /* incremental hash of buf[0, hashed) */
    uint32_t hashed;
} pf_partial;

/* Endgame (duplicate requests) starts when no piece is left unstarted and
 * at most this many blocks are still missing. */
#define PF_PICKER_ENDGAME_BLOCKS 32

/* A deadline window: pieces [start, end) wanted in order (a playhead). */
#define PF_PICKER_MAX_WINDOWS 8
typedef struct pf_picker_window {
    uint32_t start, end;
    /* When piece `start` is due (seconds from now; may be negative) and
     * the seconds of media per piece: due(i) = due0_s + (i - start) *
     * piece_s.  piece_s == 0: no deadlines (min_due_s is ignored). */
    double due0_s, piece_s;
} pf_picker_window;

typedef struct pf_picker {
    const pf_mem *mem; /* partial pieces' buffers and state come from it */
    uint32_t num_pieces;
    uint32_t piece_length;
    uint64_t total_length;
    uint16_t *avail;    /* free sources (peers) that have each piece */
    uint8_t *prio;      /* 0 = do not download, 1 = normal, higher = sooner */
    int32_t *partial_of; /* index into partials or -1 */
    /* Per piece, where the zeros of a BEP 47 pad file at its tail begin
     * (NULL: no pads): blocks from there on are zero-filled when the piece
     * is started, never asked of anyone. */
    uint32_t *pad_from;
    const pf_bitfield *have; /* our verified pieces (owned by the torrent) */
    pf_partial *partials;
    uint32_t npartials, cap_partials;
    uint32_t max_partials; /* soft cap on pieces in progress */
    uint32_t hard_max_partials; /* 0: none; never more in progress (memory) */
    uint32_t seeds;        /* peers that have everything (not in avail) */
    uint64_t seq;
    uint64_t now;          /* caller's clock, stamped on new partials */
    pf_picker_window win[PF_PICKER_MAX_WINDOWS];
    uint32_t nwin;
    int window_only; /* start no pieces outside the windows (cache full) */
    /* Set by the caller before pf_picker_pick: window pieces due sooner
     * than this are not given out (a slow peer would bring them after the
     * CDN has had to).  0: no limit. */
    double min_due_s;
    /* ...and a peer may still be given single blocks of pieces due sooner
     * than min_due_s: the k-th of its queue (plan_queued already there)
     * arrives after k blocks at plan_rate (bytes/s) and must arrive by
     * the piece's due time - plan_critical_s, with plan_spare to spare.
     * plan_rate 0: none. */
    double plan_rate, plan_critical_s, plan_spare;
    uint32_t plan_queued;
    /* Set by the caller before pf_picker_pick: the id of a source on
     * parole (it sent blocks into a piece that failed its hash), which is
     * given only pieces of its own, no one else's blocks in them, so that
     * the next piece it spoils names it alone.  Pieces it owns are given
     * to no one else.  0: not on parole. */
    uint32_t parole_id;
    /* Payload elision (pf_payload_hooks): partial pieces get no buffer
     * and blocks are only marked received. */
    int elide;
} pf_picker;

/* Source id's pieces are shared again (its parole ended, or it left or
 * dropped its requests). */
void pf_picker_release_owner(pf_picker *p, uint32_t id);

/* Replaces the deadline windows.  Peers are given window pieces first, in
 * window order; the rest stays rarest-first. */
void pf_picker_set_windows(pf_picker *p, const pf_picker_window *w, uint32_t n);

/* Claims the free blocks of one piece for a costly source's fetch (blocks
 * free sources were asked for are theirs until cancelled: see
 * pf_source_ops.cancel_late).
 * Creates the partial if needed.  Returns how many blocks were written to
 * out. */
uint32_t pf_picker_claim(pf_picker *p, uint32_t piece, pf_block_ref *out, uint32_t max);
/* As pf_picker_claim, and also the blocks free sources were asked for and
 * have not delivered (a player waits for the piece: the costly source
 * brings it whole, in one range, and the first copy in is kept). */
uint32_t pf_picker_claim_steal(pf_picker *p, uint32_t piece, pf_block_ref *out, uint32_t max);
/* The fetch covering this block ended without delivering it. */
void pf_picker_unclaim(pf_picker *p, uint32_t piece, uint32_t begin);

int pf_picker_init(pf_picker *p, const pf_mem *mem, uint32_t num_pieces, uint32_t piece_length,
                   uint64_t total_length, const pf_bitfield *have);
void pf_picker_free(pf_picker *p);
/* Piece `piece` holds pad bytes from `from` to its end.  0 or PF_ERR_NOMEM. */
int pf_picker_set_pad(pf_picker *p, uint32_t piece, uint32_t from);
/* 1 if the block at begin lies wholly in its piece's tail pad. */
int pf_picker_pad_block(const pf_picker *p, uint32_t piece, uint32_t begin);

uint32_t pf_picker_piece_size(const pf_picker *p, uint32_t piece);
void pf_picker_add_have(pf_picker *p, uint32_t piece);
void pf_picker_remove_have(pf_picker *p, uint32_t piece);
void pf_picker_add_bitfield(pf_picker *p, const pf_bitfield *bf);
void pf_picker_remove_bitfield(pf_picker *p, const pf_bitfield *bf);

/* Called for each candidate block already outstanding in endgame: return
 * non-zero if this peer already requested it. */
typedef int (*pf_picker_dup_fn)(void *ud, uint32_t piece, uint32_t begin);

/* Picks up to max blocks the peer has (peer_has) and we need, marking them
 * requested; returns how many were written to out.  only_allowed, if not
 * NULL, restricts picks to pieces with only_allowed[piece] set (BEP 6
 * allowed-fast while choked).  rng is the caller's PRNG state. */
uint32_t pf_picker_pick(pf_picker *p, const pf_bitfield *peer_has,
                        int peer_is_seed, pf_block_ref *out, uint32_t max,
                        pf_picker_dup_fn dup, void *dup_ud, uint64_t *rng);

/* A requested block will not arrive from that request (reject, choke,
 * timeout, peer gone). */
void pf_picker_unrequest(pf_picker *p, uint32_t piece, uint32_t begin);

/* Stores a received block (data NULL when the picker elides: only its
 * arrival is recorded).  Returns 1 if it completed the piece (then
 * call pf_picker_take_piece), 0 if stored, -1 if not wanted (dup or
 * unknown: the caller counts it as waste). */
int pf_picker_block_in(pf_picker *p, uint32_t piece, uint32_t begin,
                       const uint8_t *data, uint32_t len);
/* Removes a complete partial piece, handing its buffer to the caller
 * (free(); NULL when the picker elides).  The piece is then "pending verification": not pickable. */
uint8_t *pf_picker_take_piece(pf_picker *p, uint32_t piece);
/* Verification failed or the write failed: piece becomes pickable again. */
void pf_picker_piece_failed(pf_picker *p, uint32_t piece);
/* Verification passed: the caller sets its have bit then calls this. */
void pf_picker_piece_done(pf_picker *p, uint32_t piece);
/* 1 if the piece is being verified (taken, neither failed nor done). */
int pf_picker_is_pending(const pf_picker *p, uint32_t piece);
/* Drop all partial state (e.g. magnet metadata replaced). */
void pf_picker_reset_partials(pf_picker *p);
const pf_partial *pf_picker_partial(const pf_picker *p, uint32_t piece);

/* xorshift64* step; state must be non-zero. */
static inline uint64_t pf_rand_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 2685821657736338717ULL;
}

#endif
