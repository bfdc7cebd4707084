/* Blame for data that failed its hash, bans, and the memory of both
 * across a peer's connections.
 *
 * A block remembers the source that sent it by id (its connection).  A
 * peer that left is answered for by its endpoint: its connection now, if
 * it came back, or the record it left (t->gone maps its id to its
 * endpoint, t->strikes keeps what the endpoint was blamed for and
 * proved).  A liar that reconnected every second once began each
 * connection with a clean record, and its blocks, sent by connections
 * already gone when their pieces failed, were never compared with the
 * good data: 180 failed pieces for a 16 MiB file, with the two honest
 * seeds beside it blamed as often as it was. */
#include <string.h>

#include "core/swarm/swarm.h"
#include "core/util/mem.h"
#include "core/util/sha1.h"

/* Banned endpoints of a's host. */
static uint32_t host_bans(const pf_torrent *t, const pf_addr *a)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->nbanned; i++) n += pf__host_eq(&t->banned[i], a);
    return n;
}

int pf__torrent_is_banned(const pf_torrent *t, const pf_addr *a)
{
    for (uint32_t i = 0; i < t->nbanned; i++)
        if (pf__endpoint_eq(&t->banned[i], a)) return 1;
    return host_bans(t, a) >= PF__BAN_HOST_AFTER;
}

static pf_peer *peer_by_id(pf_torrent *t, uint32_t id)
{
    for (uint32_t i = 0; i < t->npeers; i++)
        if (t->peers[i]->id == id) return t->peers[i];
    return NULL;
}

/* Endpoint memory ------------------------------------------------------------ */
static const pf_addr *gone_endpoint(const pf_torrent *t, uint32_t id)
{
    for (uint32_t i = 0; i < t->ngone; i++)
        if (t->gone[i].id == id) return &t->gone[i].ep;
    return NULL;
}

static struct pf__strikes *strikes_find(pf_torrent *t, const pf_addr *ep)
{
    for (uint32_t i = 0; i < t->nstrikes; i++)
        if (pf__endpoint_eq(&t->strikes[i].ep, ep)) return &t->strikes[i];
    return NULL;
}

/* A record for ep, made if need be in place of the one blamed least. */
static struct pf__strikes *strikes_get(pf_torrent *t, const pf_addr *ep)
{
    struct pf__strikes *k = strikes_find(t, ep);
    if (k) return k;
    uint32_t cap = sizeof t->strikes / sizeof t->strikes[0];
    if (t->nstrikes < cap) {
        k = &t->strikes[t->nstrikes++];
    } else {
        k = &t->strikes[0];
        for (uint32_t i = 1; i < cap; i++)
            if (t->strikes[i].hash_fails < k->hash_fails) k = &t->strikes[i];
    }
    memset(k, 0, sizeof *k);
    k->ep = *ep;
    return k;
}

void pf__blame_peer_known(pf_torrent *t, pf_peer *p)
{
    struct pf__strikes *k = strikes_find(t, &p->ep);
    if (!k) return;
    p->src.hash_fails += k->hash_fails;
    p->src.good_blocks += k->good_blocks;
    if (k->parole) p->src.parole = 1;
    *k = t->strikes[--t->nstrikes];
}

void pf__blame_peer_left(pf_torrent *t, const pf_peer *p)
{
    if (p->dup || (!p->src.downloaded && !p->src.hash_fails)) return;
    uint32_t cap = sizeof t->gone / sizeof t->gone[0];
    t->gone[t->gone_next].id = p->id;
    t->gone[t->gone_next].ep = p->ep;
    t->gone_next = (t->gone_next + 1) % cap;
    if (t->ngone < cap) t->ngone++;
    /* Another connection of it still here carries its record on. */
    for (uint32_t i = 0; i < t->npeers; i++) {
        pf_peer *q = t->peers[i];
        if (q != p && q->state == PF_PS_ACTIVE && pf__endpoint_eq(&q->ep, &p->ep)) {
            if (q->src.hash_fails < p->src.hash_fails) q->src.hash_fails = p->src.hash_fails;
            if (q->src.good_blocks < p->src.good_blocks) q->src.good_blocks = p->src.good_blocks;
            if (p->src.parole) q->src.parole = 1;
            return;
        }
    }
    struct pf__strikes *k = strikes_get(t, &p->ep);
    if (k->hash_fails < p->src.hash_fails) k->hash_fails = p->src.hash_fails;
    if (k->good_blocks < p->src.good_blocks) k->good_blocks = p->src.good_blocks;
    k->parole = p->src.parole;
}

/* Who answers for the blocks source `id` sent: the source, if it is
 * still here; for a peer that left, its endpoint's connection now, or the
 * record it left.  Returns 0 if nobody can (a record pushed out). */
typedef struct {
    pf_source *src;          /* or */
    struct pf__strikes *rec; /* for an endpoint with no connection now */
    pf_addr ep;
    int has_ep;
} pf__holder;

static pf_peer *peer_by_endpoint(pf_torrent *t, const pf_addr *ep)
{
    for (uint32_t i = 0; i < t->npeers; i++) {
        pf_peer *q = t->peers[i];
        if (q->state == PF_PS_ACTIVE && pf__endpoint_eq(&q->ep, ep)) return q;
    }
    return NULL;
}

static int holder_of(pf_torrent *t, uint32_t id, pf__holder *h)
{
    memset(h, 0, sizeof *h);
    if (!id) return 0;
    h->src = pf__src_by_id(t, id);
    if (h->src) {
        h->has_ep = h->src->addr != NULL;
        if (h->has_ep) h->ep = *h->src->addr;
        return 1;
    }
    const pf_addr *ep = gone_endpoint(t, id);
    if (!ep) return 0;
    h->ep = *ep;
    h->has_ep = 1;
    pf_peer *q = peer_by_endpoint(t, ep);
    if (q) {
        h->src = &q->src;
        return 1;
    }
    h->rec = strikes_find(t, ep);
    return h->rec != NULL;
}

static uint32_t *holder_fails(pf__holder *h) { return h->src ? &h->src->hash_fails : &h->rec->hash_fails; }
static uint64_t *holder_good(pf__holder *h) { return h->src ? &h->src->good_blocks : &h->rec->good_blocks; }

static int holder_same(const pf__holder *a, const pf__holder *b)
{
    return a->src ? a->src == b->src : a->rec == b->rec;
}

static void holder_misbehaved(pf_torrent *t, pf__holder *h, const char *why, uint64_t now)
{
    if (h->src)
        h->src->ops->misbehaved(h->src, why, now);
    else
        pf__torrent_ban(t, &h->ep, 0, why);
}

/* Bans ------------------------------------------------------------------------- */
/* The blocks a banned peer sent into pieces still in progress are as
 * suspect as the piece that failed: they are fetched again.  Its
 * connections that left, too (gone with endpoint ep). */
static void drop_blocks_of(pf_torrent *t, uint32_t id, const pf_addr *ep)
{
    for (uint32_t i = 0; i < t->picker.npartials; i++) {
        pf_partial *pp = &t->picker.partials[i];
        for (uint32_t b = 0; b < pp->nblocks; b++) {
            if (pp->state[b] != 2 || !pp->src[b]) continue;
            const pf_addr *g = pp->src[b] == id ? NULL : gone_endpoint(t, pp->src[b]);
            if (pp->src[b] != id && !(g && pf__endpoint_eq(g, ep))) continue;
            pp->state[b] = 0;
            pp->received--;
            if (b < pp->next_free) pp->next_free = b;
            if ((uint64_t)b * PF_BLOCK_SIZE < pp->hashed) {
                pf_sha1_free(pp->sha); /* the digest covered it: start over */
                pp->sha = NULL;
                pp->hashed = 0;
            }
        }
    }
}

void pf__torrent_ban(pf_torrent *t, const pf_addr *a, uint32_t id, const char *why)
{
    pf_peer *liar = id ? peer_by_id(t, id) : NULL;
    pf_addr ep = liar ? pf__peer_endpoint(liar) : *a;
    if (!pf__torrent_is_banned(t, &ep)) {
        uint32_t cap = sizeof t->banned / sizeof t->banned[0];
        t->banned[t->banned_next] = ep;
        t->banned_next = (t->banned_next + 1) % cap;
        if (t->nbanned < cap) t->nbanned++;
        char buf[64];
        pf_addr_format(&ep, buf, sizeof buf);
        pf__log(t->s, PF_LOG_INFO, "banned %s%s: %s", buf,
                host_bans(t, &ep) >= PF__BAN_HOST_AFTER ? " and its whole address" : "", why);
    }
    drop_blocks_of(t, id, &ep);
    for (uint32_t i = t->npeers; i-- > 0;) {
        pf_peer *q = t->peers[i];
        if (q->state == PF_PS_CLOSING) continue;
        pf_addr qe = pf__peer_endpoint(q);
        /* Its other connections, and once its host is banned, the host's;
         * never another endpoint of a host with an honest one (NAT). */
        if (q->id == id || pf__torrent_is_banned(t, &qe) || pf__torrent_is_banned(t, &q->addr))
            pf__peer_close(q, why);
    }
}

/* Verdicts -------------------------------------------------------------------- */
/* A piece failed its hash.  Its only sender takes the blame at once (a
 * peer is banned, a web seed backs off and, lying again, is dropped: its
 * ops->misbehaved).  With several senders, each block's digest is kept
 * with its sender's endpoint, and the verdict waits for the piece to
 * verify (pf__blame_verified).  Every kind of source is blamed alike: a
 * CDN edge with a corrupt cache once had its co-sender, an honest peer,
 * banned in its place.
 *
 * Strikes, as a fallback for pieces that never verify (the liar is in
 * every attempt, so the smart ban never gets its good copy): one per
 * sender per failed piece; a sender with 4 or more and strictly more than
 * every co-sender of this piece is blamed, unless more of its blocks
 * verified than it spoiled pieces' worth (guesswork never bans a source
 * whose data proved good).  A liar is in every piece it spoils, so an
 * honest co-sender cannot overtake it.  Only when every sender can be
 * answered for: one whose record was pushed out cannot be compared, and
 * its share would fall on the others. */
#define PF__MAX_SENDERS 16
void pf__blame_failed(pf_torrent *t, const pf_partial *pp, uint64_t now)
{
    pf__holder who[PF__MAX_SENDERS];
    uint32_t nwho = 0;
    int all_known = 1;
    for (uint32_t b = 0; b < pp->nblocks; b++) {
        pf__holder h;
        if (!holder_of(t, pp->src[b], &h)) {
            all_known = 0;
            continue;
        }
        uint32_t k = 0;
        while (k < nwho && !holder_same(&who[k], &h)) k++;
        if (k < nwho) continue;
        if (nwho == PF__MAX_SENDERS) {
            all_known = 0;
            continue;
        }
        who[nwho++] = h;
    }
    if (nwho == 1 && all_known) {
        (*holder_fails(&who[0]))++;
        holder_misbehaved(t, &who[0], "sent data that failed the hash check", now);
        return;
    }
    pf__holder *worst = NULL;
    int unique = 0;
    for (uint32_t k = 0; k < nwho; k++) {
        if (who[k].src) who[k].src->parole = 1;
        else who[k].rec->parole = 1;
        uint32_t f = ++*holder_fails(&who[k]);
        if (!worst || f > *holder_fails(worst)) {
            worst = &who[k];
            unique = 1;
        } else if (f == *holder_fails(worst)) {
            unique = 0;
        }
    }
    uint32_t cap = PF__SUSPECTS;
    if (!t->suspects) t->suspects = pf__calloc(t->s->mem, cap, sizeof *t->suspects);
    for (uint32_t b = 0; b < pp->nblocks && t->suspects; b++) {
        pf__holder h;
        if (!holder_of(t, pp->src[b], &h)) continue;
        struct pf__suspect *su = &t->suspects[t->suspect_next];
        t->suspect_next = (t->suspect_next + 1) % cap;
        if (t->nsuspects < cap) t->nsuspects++;
        su->piece = pp->piece;
        su->block = b;
        su->src_id = pp->src[b];
        su->has_addr = h.has_ep;
        if (h.has_ep) su->addr = h.ep;
        uint32_t off = b * PF_BLOCK_SIZE, len = pp->size - off < PF_BLOCK_SIZE ? pp->size - off : PF_BLOCK_SIZE;
        if (pp->buf)
            pf_sha1(pp->buf + off, len, su->digest);
        else
            memset(su->digest, 0, sizeof su->digest); /* elided payload: nothing to compare */
    }
    uint64_t piece_blocks = pp->nblocks ? pp->nblocks : 1;
    if (all_known && worst && unique && *holder_fails(worst) >= 4 &&
        *holder_good(worst) < (uint64_t)*holder_fails(worst) * piece_blocks)
        holder_misbehaved(t, worst, "sent data in more failed pieces than anyone else", now);
}

/* The piece verified: whoever sent a different block earlier lied; the
 * senders of its blocks proved good. */
void pf__blame_verified(pf_torrent *t, const pf_partial *pp, uint64_t now)
{
    uint32_t piece = pp->piece;
    pf__holder first;
    int alone = holder_of(t, pp->nblocks ? pp->src[0] : 0, &first);
    for (uint32_t b = 0; b < pp->nblocks; b++) {
        pf__holder h;
        if (!holder_of(t, pp->src[b], &h)) {
            alone = 0;
            continue;
        }
        (*holder_good(&h))++;
        if (alone && !holder_same(&h, &first)) alone = 0;
    }
    /* A piece it sent alone verified: its parole is over. */
    if (alone && first.src && first.src->parole) {
        first.src->parole = 0;
        pf_picker_release_owner(&t->picker, first.src->id);
    }
    if (!t->nsuspects) return;
    uint32_t cap = PF__SUSPECTS;
    uint32_t size = pf_metainfo_piece_size(t->mi, piece);
    for (uint32_t k = 0; k < t->nsuspects; k++) {
        struct pf__suspect *su = &t->suspects[(t->suspect_next + cap - t->nsuspects + k) % cap];
        if (su->piece != piece || su->src_id == 0) continue;
        uint32_t off = su->block * PF_BLOCK_SIZE;
        if (off >= size) continue;
        uint32_t len = size - off < PF_BLOCK_SIZE ? size - off : PF_BLOCK_SIZE;
        uint8_t d[20];
        if (pp->buf) pf_sha1(pp->buf + off, len, d);
        if (pp->buf && memcmp(d, su->digest, 20) != 0) {
            static const char why[] = "sent a block that differs from the verified piece";
            pf__holder h;
            if (holder_of(t, su->src_id, &h) && h.src)
                h.src->ops->misbehaved(h.src, why, now);
            else if (su->has_addr)
                pf__torrent_ban(t, &su->addr, 0, why); /* a peer that left */
        }
        su->src_id = 0; /* settled */
    }
}
