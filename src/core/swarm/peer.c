/* One peer connection's wire state: handshake, choke/interest, our
 * requests to it, its requests to us, and message dispatch. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/swarm/swarm.h"
#include "core/util/mem.h"

#define PF__UT_METADATA_ID 1 /* our local extended message ids */
#define PF__UT_PEX_ID 2
#define PF__PF_CDN_ID 3
#define PF__MAX_BLOCK_REQ (128u * 1024u)

static const pf_source_ops peer_ops;

pf_peer *pf__peer_new(pf_session *s, pf_torrent *t, const pf_addr *a, int outgoing,
                      uint64_t now)
{
    pf_peer *p = pf__calloc(s->mem, 1, sizeof *p);
    if (!p) return NULL;
    p->s = s;
    p->id = s->next_id++;
    p->src.ops = &peer_ops;
    p->src.id = p->id;
    p->src.cost = 0; /* peers are free */
    p->src.order_key = p->peer_id;
    p->src.addr = &p->ep;
    p->addr = p->ep = *a;
    p->local = pf__session_is_local(s, a);
    p->outgoing = outgoing;
    p->state = outgoing ? PF_PS_CONNECTING : PF_PS_HANDSHAKE;
    p->am_choking = 1;
    p->peer_choking = 1;
    p->meta_req = -1;
    p->ss_depth = 16;
    p->connected_at = p->last_recv = p->last_sent = p->last_msg = now;
    pf_buf_init_mem(&p->in, s->mem);
    pf_buf_init_mem(&p->out, p->s->mem);
    if (t && pf__torrent_attach_peer(t, p, now) != 0) {
        pf__free(s->mem, p);
        return NULL;
    }
    return p;
}

void pf__peer_free(pf_peer *p)
{
    /* Blocks queued that the caller never took were never sent. */
    if (p->s->up_budget != PF_UPLOAD_UNLIMITED) p->s->up_budget += p->sp_bytes;
    if (p->utp) pf_utp_set_ud(p->utp, NULL); /* the context outlives it */
    pf__tls_peer_free(p);
    pf_buf_free(&p->utp_out);
    pf_buf_free(&p->in);
    pf_out o = {.buf = p->out, .sp = p->sp, .nsp = p->nsp};
    pf_out_release(&o);
    pf_bitfield_free(&p->have);
    pf__free(p->s->mem, p->raw_bf);
    pf__free(p->s->mem, p->reqs);
    pf__free(p->s->mem, p->inq);
    pf__free(p->s->mem, p->upq);
    pf__free(p->s->mem, p->withdrawn);
    pf__free(p->s->mem, p);
}

void pf_peer_set_ud(pf_peer *p, void *ud) { p->ud = ud; }
void *pf_peer_ud(const pf_peer *p) { return p->ud; }
const pf_addr *pf_peer_addr(const pf_peer *p) { return &p->addr; }

void pf_peer_endpoint(const pf_peer *p, pf_endpoint *out)
{
    out->addr = p->addr;
    out->transport = p->transport;
}

void pf__peer_mark_write(pf_peer *p)
{
    if (p->state == PF_PS_CLOSING) return;
    if (p->transport == PF_TRANSPORT_UTP) { /* ours to carry (utp_link.c) */
        if (pf__peer_has_output(p)) pf__utp_flush_peer(p);
        return;
    }
    if (p->write_queued) return;
    if (!pf__peer_has_output(p)) return;
    pf_event ev = {.type = PF_EV_WRITE, .torrent = p->t, .peer = p};
    if (pf__emit(p->s, &ev) == 0) p->write_queued = 1;
}

void pf__peer_close(pf_peer *p, const char *why)
{
    if (p->state == PF_PS_CLOSING) return;
    char a[64];
    pf_addr_format(&p->addr, a, sizeof a);
    pf__log(p->s, PF_LOG_DEBUG, "closing %s: %s", a, why);
    if (p->t)
        pf__torrent_detach_peer(p->t, p, p->s->last_tick);
    else
        pf__pending_remove(p->s, p);
    p->state = PF_PS_CLOSING;
    if (p->transport == PF_TRANSPORT_UTP) {
        /* Ours to close: the closed callback (or, already closed, the
         * session's next reap) frees it. */
        if (p->utp) {
            pf__utp_close_peer(p);
        } else {
            p->utp_dead_next = p->s->utp_dead;
            p->s->utp_dead = p;
        }
        return;
    }
    pf_event ev = {.type = PF_EV_CLOSE, .torrent = p->t, .peer = p};
    pf__emit(p->s, &ev);
}

void pf_peer_closed(pf_peer *p, uint64_t now)
{
    if (p->state != PF_PS_CLOSING) {
        if (p->t)
            pf__torrent_detach_peer(p->t, p, now);
        else
            pf__pending_remove(p->s, p);
    }
    /* Drop any queued events that still name this peer. */
    pf__event_q *q = &p->s->q;
    for (size_t k = 0; k < q->len; k++) {
        pf_event *ev = &q->ev[(q->head + k) % q->cap];
        if (ev->peer == p) ev->type = 0, ev->peer = NULL; /* skipped when popped */
    }
    pf__peer_free(p);
}

size_t pf__peer_take_plain(pf_peer *p, pf_out *out)
{
    size_t n = pf_buf_unread(&p->out) + p->sp_bytes;
    out->buf = p->out;
    out->sp = p->sp;
    out->nsp = p->nsp;
    out->total = n;
    pf_buf_init_mem(&p->out, p->s->mem);
    p->sp = NULL;
    p->nsp = p->cap_sp = 0;
    p->sp_bytes = 0;
    p->out_total += n;
    p->net_inflight += n;
    return n;
}

void pf_out_release(pf_out *out)
{
    for (size_t i = 0; i < out->nsp; i++) pf__pbuf_unref(out->sp[i].ref);
    pf__free(out->buf.mem, out->sp);
    out->sp = NULL;
    out->nsp = 0;
    pf_buf_free(&out->buf);
}

int pf__out_flatten(pf_session *s, pf_out *o, pf_buf *dst)
{
    if (o->nsp == 0) {
        *dst = o->buf;
        pf_buf_init_mem(&o->buf, s->mem);
        return 0;
    }
    /* Headers and control bytes with the payloads in place. */
    pf_buf_init_mem(dst, s->mem);
    if (pf_buf_reserve(dst, o->total) != 0) {
        pf_out_release(o);
        return PF_ERR_NOMEM;
    }
    const uint8_t *h = pf_buf_head(&o->buf);
    size_t at = 0;
    for (size_t i = 0; i < o->nsp; i++) {
        pf_buf_append(dst, h + at, o->sp[i].at - at);
        if (o->sp[i].data) {
            pf_buf_append(dst, o->sp[i].data, o->sp[i].len);
        } else { /* elided payload: zeros in its place */
            memset(dst->data + dst->len, 0, o->sp[i].len);
            dst->len += o->sp[i].len;
        }
        at = o->sp[i].at;
    }
    pf_buf_append(dst, h + at, pf_buf_unread(&o->buf) - at);
    pf_out_release(o);
    return 0;
}

size_t pf_peer_take_output(pf_peer *p, pf_buf *dst)
{
    pf_out o;
    size_t n = pf_peer_take_output_zc(p, &o);
    if (pf__out_flatten(p->s, &o, dst) != 0) {
        p->net_inflight -= n;
        p->out_total -= n;
        return 0;
    }
    return n;
}

static int splice_push(pf_peer *p, pf__pbuf *pb, const uint8_t *data, size_t len)
{
    if (p->nsp == p->cap_sp) {
        uint32_t cap = p->cap_sp ? p->cap_sp * 2 : 64;
        pf_out_splice *n = pf__realloc(p->s->mem, p->sp, cap * sizeof *n);
        if (!n) return PF_ERR_NOMEM;
        p->sp = n;
        p->cap_sp = cap;
    }
    p->sp[p->nsp++] = (pf_out_splice){.at = pf_buf_unread(&p->out), .data = data, .len = len, .ref = pb};
    pb->refs++;
    p->sp_bytes += len;
    return 0;
}

static void send_handshake(pf_peer *p)
{
    pf_handshake hs;
    memset(&hs, 0, sizeof hs);
    hs.reserved[5] |= 0x10; /* BEP 10 */
    hs.reserved[7] |= 0x04; /* BEP 6 */
    memcpy(hs.info_hash, p->t->info_hash, 20);
    memcpy(hs.peer_id, p->s->peer_id, 20);
    uint8_t raw[PF_HANDSHAKE_LEN];
    pf_handshake_write(raw, &hs);
    pf_buf_append(&p->out, raw, sizeof raw);
    p->sent_handshake = 1;
    pf__peer_mark_write(p);
}

void pf_peer_connected(pf_peer *p, uint64_t now)
{
    if (p->state != PF_PS_CONNECTING) return;
    p->state = PF_PS_HANDSHAKE;
    p->connected_at = p->last_recv = p->last_msg = now;
    if (pf__tls_connected(p) != 0) {
        pf__peer_close(p, "TLS: cannot start the handshake");
        return;
    }
    send_handshake(p);
}

static void send_ext_handshake(pf_peer *p)
{
    pf_ext_handshake h;
    memset(&h, 0, sizeof h);
    h.pf_cdn = PF__PF_CDN_ID;
    h.ut_metadata = PF__UT_METADATA_ID;
    h.ut_pex = p->t->has_meta && p->t->mi->private_flag ? 0 : PF__UT_PEX_ID; /* BEP 27 */
    h.metadata_size = p->t->has_meta ? (int64_t)p->t->mi->info_len : -1;
    h.listen_port = p->s->set.listen_port;
    h.reqq = p->s->set.max_queue_in;
    snprintf(h.client, sizeof h.client, "%s", "peerflow/" PF_VERSION_STRING);
    h.upload_only = p->t->state == PF_TS_SEEDING;
    pf_buf body;
    pf_buf_init_mem(&body, p->s->mem);
    if (pf_ext_handshake_write(&body, &h) == 0)
        pf_msg_write_extended(&p->out, 0, body.data, body.len);
    pf_buf_free(&body);
}

static void send_have_state(pf_peer *p)
{
    pf_torrent *t = p->t;
    p->sent_bitfield = 1;
    if (!t->has_meta || t->have.count == 0) {
        if (p->fast) pf_msg_write_simple(&p->out, PF_MSG_HAVE_NONE);
    } else if (p->fast && pf_bitfield_full(&t->have)) {
        pf_msg_write_simple(&p->out, PF_MSG_HAVE_ALL);
    } else {
        pf_msg_write_bitfield(&p->out, t->have.bits, pf_bitfield_bytes(t->have.nbits));
    }
}

/* Recounts the pieces this peer has that we want. */
static void recount_interesting(pf_peer *p)
{
    pf_torrent *t = p->t;
    uint32_t c = 0;
    if (t->has_meta) {
        for (uint32_t i = 0; i < t->have.nbits; i++)
            if ((p->is_seed || pf_bitfield_get(&p->have, i)) && !pf_bitfield_get(&t->have, i) &&
                t->picker.prio[i])
                c++;
    }
    p->interesting = c;
}

void pf__peer_update_interest(pf_peer *p)
{
    if (p->state != PF_PS_ACTIVE || !p->t || !p->t->has_meta) return;
    int want = p->interesting > 0;
    if (want == p->am_interested) return;
    /* Before saying NOT_INTERESTED, count again: an undercount would
     * leave a seed idle while the CDN fetches what it holds. */
    if (!want) {
        recount_interesting(p);
        want = p->interesting > 0;
        if (want == p->am_interested) return;
    }
    p->am_interested = want;
    pf_msg_write_simple(&p->out, want ? PF_MSG_INTERESTED : PF_MSG_NOT_INTERESTED);
    pf__peer_mark_write(p);
}

/* The torrent's metadata became known (or was known at attach time):
 * size the bitfield and apply what the peer told us before. */
int pf__peer_apply_metadata(pf_peer *p)
{
    pf_torrent *t = p->t;
    if (p->have.bits) return 0;
    int rc = pf_bitfield_init_mem(&p->have, t->mi->num_pieces, p->s->mem);
    if (rc) return rc;
    if (p->raw_have_all) {
        pf_bitfield_set_all(&p->have);
    } else if (p->raw_bf) {
        rc = pf_bitfield_load(&p->have, p->raw_bf, p->raw_bf_len);
        if (rc) return rc;
    }
    pf__free(t->s->mem, p->raw_bf);
    p->raw_bf = NULL;
    p->is_seed = pf_bitfield_full(&p->have);
    pf_picker_add_bitfield(&t->picker, &p->have);
    recount_interesting(p);
    return 0;
}

static int raw_have(pf_peer *p, uint32_t index)
{
    size_t need = (size_t)index / 8 + 1;
    if (need > (PF_MAX_MSG_LEN)) return PF_ERR_PROTO;
    if (need > p->raw_bf_len) {
        uint8_t *n = pf__realloc(p->s->mem, p->raw_bf, need);
        if (!n) return PF_ERR_NOMEM;
        memset(n + p->raw_bf_len, 0, need - p->raw_bf_len);
        p->raw_bf = n;
        p->raw_bf_len = need;
    }
    p->raw_bf[index / 8] |= (uint8_t)(0x80u >> (index & 7));
    return 0;
}

void pf__peer_set_choke(pf_peer *p, int choke)
{
    if (p->am_choking == choke || p->state != PF_PS_ACTIVE) return;
    p->am_choking = choke;
    pf_msg_write_simple(&p->out, choke ? PF_MSG_CHOKE : PF_MSG_UNCHOKE);
    if (choke) {
        /* BEP 6: a choke no longer implies a reject; say it per request. */
        for (uint32_t k = 0; k < p->inq_len; k++) {
            pf__req *r = &p->inq[(p->inq_head + k) % p->inq_cap];
            if (p->fast) pf_msg_write_req(&p->out, PF_MSG_REJECT, r->piece, r->begin, r->length);
        }
        p->inq_head = p->inq_len = 0;
        p->optimistic = 0;
    }
    pf__peer_mark_write(p);
}

void pf__peer_reject_piece(pf_peer *p, uint32_t piece)
{
    uint32_t kept = 0, dropped = 0;
    for (uint32_t k = 0; k < p->inq_len; k++) {
        pf__req r = p->inq[(p->inq_head + k) % p->inq_cap];
        if (r.piece != piece) {
            p->inq[(p->inq_head + kept++) % p->inq_cap] = r;
            continue;
        }
        dropped++;
        if (p->fast) pf_msg_write_req(&p->out, PF_MSG_REJECT, r.piece, r.begin, r.length);
    }
    p->inq_len = kept;
    if (!dropped) return;
    if (!p->fast) pf__peer_set_choke(p, 1); /* BEP 3: a choke drops them all */
    pf__peer_mark_write(p);
}

void pf__peer_send_have(pf_peer *p, uint32_t piece)
{
    if (p->state != PF_PS_ACTIVE || !p->sent_bitfield) return;
    pf_msg_write_have(&p->out, piece);
    pf__peer_mark_write(p);
}

/* Our requests to the peer --------------------------------------------- */
static int req_find(const pf_peer *p, uint32_t piece, uint32_t begin)
{
    for (uint32_t i = 0; i < p->nreqs; i++)
        if (p->reqs[i].piece == piece && p->reqs[i].begin == begin) return (int)i;
    return -1;
}

static void req_remove_at(pf_peer *p, uint32_t i)
{
    memmove(&p->reqs[i], &p->reqs[i + 1], (p->nreqs - i - 1) * sizeof *p->reqs);
    p->nreqs--;
}

static int dup_check(void *ud, uint32_t piece, uint32_t begin)
{
    return req_find(ud, piece, begin) >= 0;
}

#define PF__WITHDRAWN 128
static void withdrawn_add(pf_peer *p, uint32_t piece, uint32_t begin)
{
    if (p->nwithdrawn == p->withdrawn_cap && p->withdrawn_cap < PF__WITHDRAWN) {
        /* Full and may grow: the entries in order from 0, the next after
         * them (as the full-size ring would hold them). */
        uint32_t cap = p->withdrawn_cap ? p->withdrawn_cap * 2 : 8;
        uint64_t *w = pf__malloc(p->s->mem, cap * sizeof *w);
        if (!w) return; /* not remembered: a late block is waste */
        for (uint32_t k = 0; k < p->nwithdrawn; k++)
            w[k] = p->withdrawn[(p->withdrawn_next + k) % p->withdrawn_cap];
        pf__free(p->s->mem, p->withdrawn);
        p->withdrawn = w;
        p->withdrawn_cap = cap;
        p->withdrawn_next = p->nwithdrawn;
    }
    uint32_t cap = p->withdrawn_cap;
    p->withdrawn[p->withdrawn_next] = (uint64_t)piece << 32 | begin;
    p->withdrawn_next = (p->withdrawn_next + 1) % cap;
    if (p->nwithdrawn < cap) p->nwithdrawn++;
}

/* 1 (and forgets it) if we asked this peer for the block and withdrew it. */
static int withdrawn_take(pf_peer *p, uint32_t piece, uint32_t begin)
{
    uint64_t key = (uint64_t)piece << 32 | begin;
    for (uint32_t k = 0; k < p->nwithdrawn; k++)
        if (p->withdrawn[k] == key) {
            p->withdrawn[k] = UINT64_MAX;
            return 1;
        }
    return 0;
}

void pf__peer_drop_requests(pf_peer *p)
{
    if (p->t && p->t->has_meta) {
        for (uint32_t i = 0; i < p->nreqs; i++) {
            pf_picker_unrequest(&p->t->picker, p->reqs[i].piece, p->reqs[i].begin);
            withdrawn_add(p, p->reqs[i].piece, p->reqs[i].begin);
        }
        /* Pieces it had to itself on parole are anyone's again. */
        if (p->src.parole) pf_picker_release_owner(&p->t->picker, p->id);
    }
    p->nreqs = 0;
}

void pf__peer_cancel_all(pf_peer *p)
{
    for (uint32_t i = 0; i < p->nreqs; i++)
        pf_msg_write_req(&p->out, PF_MSG_CANCEL, p->reqs[i].piece, p->reqs[i].begin, p->reqs[i].length);
    if (p->nreqs) pf__peer_mark_write(p);
    pf__peer_drop_requests(p);
}

/* What a peer can send us per second, to plan its requests by: its rate
 * while it had our requests, once a few blocks tell it, or what it sent
 * lately if that is more; at least one block a second.  What it sent
 * lately alone is what we asked of it: a peer given only pieces due far
 * ahead (being slow) sent little and stayed slow, and the viewers just
 * ahead of a late one, who hold what it needs seconds before it does,
 * were asked for almost nothing (flash-crowd lab: the last 7 arrivals
 * uploaded 23 MB of the 105 MB their uplinks could). */
#define PF__PLAN_BLOCKS 4.0 /* blocks' weight before the busy rate counts */
static double planning_rate(const pf_peer *p, uint64_t now, double min_blocks)
{
    double r = p->src.down.bps;
    if (p->busy_bytes >= min_blocks * PF_BLOCK_SIZE && p->busy_ns > 0) {
        /* ...counting the wait for its next block so far: a peer that went
         * silent with our requests is not fast any more. */
        double wait = 0;
        if (p->nreqs) {
            uint64_t since = p->last_block > p->reqs[0].time ? p->last_block : p->reqs[0].time;
            if (now > since) wait = (double)(now - since);
        }
        double busy = p->busy_bytes / (p->busy_ns + wait) * 1e9;
        if (busy > r) r = busy;
    }
    return r > PF_BLOCK_SIZE ? r : PF_BLOCK_SIZE;
}

double pf__peer_plan_rate(const pf_peer *p, uint64_t now) { return planning_rate(p, now, PF__PLAN_BLOCKS); }

void pf__peer_cancel_block(pf_peer *p, uint32_t piece, uint32_t begin)
{
    int i = req_find(p, piece, begin);
    if (i < 0) return;
    withdrawn_add(p, piece, begin);
    pf_msg_write_req(&p->out, PF_MSG_CANCEL, piece, begin, p->reqs[i].length);
    req_remove_at(p, (uint32_t)i);
    /* The picker counted this request: without giving it back, a block
     * the CDN claimed from a peer and then failed to bring stayed
     * "requested" by nobody, and no peer was ever asked for it again. */
    if (p->t && p->t->has_meta) pf_picker_unrequest(&p->t->picker, piece, begin);
    pf__peer_mark_write(p);
}

uint32_t pf__peer_cancel_late(pf_peer *p, uint32_t piece, double deadline_s, double head_deadline_s,
                              int trial, uint64_t now)
{
    /* It serves our requests in order: the k-th arrives after k+1 blocks.
     * The first two are most likely on their way already (a cancel no
     * longer stops them): they stay if they arrive by head_deadline_s.
     * A peer on start-up trial has had a few milliseconds to show its
     * rate: one block tells it (counted from the request, so slow if
     * anything); with four, peers that had sent one or two blocks of the
     * prefix counted as one block a second and lost the rest to the CDN. */
    double rate = planning_rate(p, now, trial ? 1.0 : PF__PLAN_BLOCKS);
    uint32_t n = 0, pos = 0;
    for (uint32_t i = 0; i < p->nreqs; pos++) {
        double eta = (double)(i + 1) * PF_BLOCK_SIZE / rate;
        double limit = pos < 2 && head_deadline_s > deadline_s ? head_deadline_s : deadline_s;
        if (p->reqs[i].piece == piece && eta > limit) {
            pf__peer_cancel_block(p, piece, p->reqs[i].begin); /* removes reqs[i] */
            n++;
            continue;
        }
        i++;
    }
    return n;
}

static uint32_t queue_depth(const pf_peer *p)
{
    if (p->src.snubbed) return 1; /* one probe request until it delivers again */
    /* Enough requests to cover ~1 s of this peer's rate (bandwidth-delay
     * product with a generous delay), never fewer than 16. */
    /* About one second of this peer's measured rate in flight (enough to
     * cover the round trip and its send queue, short enough that a late
     * block can still be re-routed before its deadline).  Until a rate is
     * measured, grow like TCP slow start: one more per block delivered. */
    uint32_t d;
    if (p->src.down.bps > 0) {
        double blocks = p->src.down.bps / PF_BLOCK_SIZE + 4;
        d = blocks > 4096 ? 4096 : (uint32_t)blocks;
        if (p->ss_depth > d && p->ss_depth < 64) d = p->ss_depth; /* still ramping */
    } else {
        d = p->ss_depth;
    }
    if (d < 4) d = 4;
    uint32_t cap = p->s->set.max_queue_out;
    if (p->exth.reqq && p->exth.reqq < cap) cap = p->exth.reqq;
    if (!p->exth.reqq && cap > 250) cap = 250;
    return d < cap ? d : cap;
}

/* Room for cap requests of ours to p. */
static int reqs_reserve(pf_peer *p, uint32_t cap)
{
    if (p->cap_reqs >= cap) return 0;
    pf__req *n = pf__realloc(p->s->mem, p->reqs, cap * sizeof *n);
    if (!n) return PF_ERR_NOMEM;
    p->reqs = n;
    p->cap_reqs = cap;
    return 0;
}

/* Records picked blocks as requested of p and queues their REQUESTs
 * (reqs_reserve made room). */
static void send_requests(pf_peer *p, const pf_block_ref *blocks, uint32_t n, uint64_t now)
{
    for (uint32_t i = 0; i < n; i++) {
        pf__req *r = &p->reqs[p->nreqs++];
        r->piece = blocks[i].piece;
        r->begin = blocks[i].begin;
        r->length = blocks[i].length;
        r->time = now;
        pf_msg_write_req(&p->out, PF_MSG_REQUEST, r->piece, r->begin, r->length);
    }
}

/* During a start-up (stream.c), a few peers are asked for the prefix
 * beside the CDN: two blocks each, or what they showed they can send
 * (while they had requests) by t->trial_until, when the CDN alone would
 * have the last of it.  Fast uplinks bring most of the prefix while the
 * CDN brings a head, and keep the blocks they can deliver before the CDN
 * could (stream.c); slow ones cost a block or two.  Upload-rich lab: every
 * viewer had the CDN bring its whole prefix (1.4 MB, 29 viewers: 0.9x the
 * fluid bound on their own) while 40 Mbit/s uplinks sat idle; with a
 * tenth of a second each instead of until the deadline, the CDN still
 * brought 0.4 MB of each. */
#define PF__TRIAL_PEERS 4
static void trial_fill(pf_peer *p, uint64_t now)
{
    pf_torrent *t = p->t;
    if (t->trial_end <= t->trial_start) return;
    uint32_t allow = 2;
    if (p->busy_bytes > 0 && p->busy_ns > 0 && t->trial_until > now) {
        double r = p->busy_bytes / p->busy_ns * (double)(t->trial_until - now) / PF_BLOCK_SIZE;
        if (r > allow) allow = r > 64 ? 64 : (uint32_t)r;
    }
    if (p->nreqs >= allow) return;
    if (p->nreqs == 0) {
        uint32_t busy = 0, it;
        PF_SRC_FOREACH(t, q, it) busy += pf__src_free(q) && q->ops->inflight(q) > 0;
        if (busy >= PF__TRIAL_PEERS) return;
    }
    if (reqs_reserve(p, allow) != 0) return;
    /* The picker, restricted to the trial pieces for this one pick. */
    pf_picker *pk = &t->picker;
    pf_picker_window saved[PF_PICKER_MAX_WINDOWS];
    uint32_t nsaved = pk->nwin;
    int only = pk->window_only;
    memcpy(saved, pk->win, sizeof saved);
    pf_picker_window w = {.start = t->trial_start, .end = t->trial_end};
    pk->win[0] = w;
    pk->nwin = 1;
    pk->window_only = 1;
    pk->now = now;
    pf_block_ref blocks[64];
    pk->parole_id = p->src.parole ? p->id : 0;
    uint32_t n = pf_picker_pick(pk, &p->have, p->is_seed, blocks, allow - p->nreqs, NULL, NULL, &p->s->rng);
    pk->parole_id = 0;
    memcpy(pk->win, saved, sizeof saved);
    pk->nwin = nsaved;
    pk->window_only = only;
    send_requests(p, blocks, n, now);
    if (n) pf__peer_mark_write(p);
}

/* A peer too slow for a whole piece due soon may still be given single
 * blocks of it, each planned to arrive in 1/PF__BLOCK_SPARE of the time
 * left before the piece's deadline (its queue order, at its rate).  The
 * viewers just ahead of a late one hold what it needs only seconds before
 * it needs it, on uplinks shared with others: with whole pieces only, the
 * last 7 arrivals of the flash-crowd lab uploaded 36 of the 105 MB their
 * uplinks could, and 65 MB with single blocks (CDN 890 -> 869 MB).  The
 * margin matters: 4 and 3 gave 869 and 872 MB (waste 18 and 20 MB), 2
 * gave 918 MB (waste 57 MB), and 1.5 with no whole-piece rule for the
 * rest 1054 MB (waste 172 MB): blocks that came after the CDN's copy. */
#define PF__BLOCK_SPARE 4.0

void pf__peer_fill_requests(pf_peer *p, uint64_t now)
{
    pf_torrent *t = p->t;
    if (!t || !t->has_meta || p->state != PF_PS_ACTIVE || p->peer_choking || !p->am_interested)
        return;
    if (t->state != PF_TS_DOWNLOADING) return;
    /* Back-pressure from the disk: pieces waiting to be written hold their
     * buffers; stop asking for more until the writer catches up (a write
     * completing calls us again). */
    if (t->write_backlog >= t->max_backlog) return;
    /* It rejects what we ask and sends nothing: give it a rest rather
     * than a request/reject storm. */
    if (now < p->no_requests_until) return;
    /* A stream's start-up prefix is coming from the CDN (stream.c), or
     * will as soon as the player asks. */
    if (t->await_reader) return;
    if (t->startup_hold) {
        trial_fill(p, now);
        return;
    }
    uint32_t target = queue_depth(p);
    if (p->nreqs >= target) return;
    if (reqs_reserve(p, target) != 0) return;
    /* With a CDN behind the streams, a peer is only given window pieces it
     * can bring before the CDN would have to take them: due after its
     * queue drains, or after it could send a whole piece (it is given the
     * blocks of a piece together), at its measured rate (an unmeasured
     * peer counts as one block a second), plus critical_s, with a 50%
     * margin.  Slow uplinks
     * get the far end of the window, fast ones the near end; before this,
     * a 1 Mbit/s uplink shared by eight viewers was asked for the most
     * urgent blocks, and most of what it sent arrived after the CDN's copy
     * (flash-crowd lab: 214 of 286 MB uploaded were waste). */
    double min_due = 0;
    if (t->nstreams && t->picker.nwin && pf__costly_available(t, now)) {
        double rate = planning_rate(p, now, PF__PLAN_BLOCKS);
        double eta = (double)target * PF_BLOCK_SIZE / rate;
        double whole = (double)t->mi->piece_length / rate;
        min_due = p->s->set.stream.critical_s + 1.5 * (eta > whole ? eta : whole);
    }
    pf_block_ref blocks[64];
    while (p->nreqs < target) {
        uint32_t want = target - p->nreqs;
        if (want > 64) want = 64;
        t->picker.now = now;
        if (p->s->down_limit) {
            /* Requests are what pull data: pace them to the download cap. */
            uint32_t afford = (uint32_t)(p->s->down_tokens / PF_BLOCK_SIZE);
            if (afford == 0) break;
            if (want > afford) want = afford;
        }
        t->picker.min_due_s = min_due;
        if (min_due > 0) {
            t->picker.plan_rate = planning_rate(p, now, PF__PLAN_BLOCKS);
            t->picker.plan_critical_s = p->s->set.stream.critical_s;
            t->picker.plan_spare = PF__BLOCK_SPARE;
            t->picker.plan_queued = p->nreqs;
        }
        t->picker.parole_id = p->src.parole ? p->id : 0;
        uint32_t n = pf_picker_pick(&t->picker, &p->have, p->is_seed, blocks, want, dup_check, p,
                                    &p->s->rng);
        t->picker.parole_id = 0;
        t->picker.min_due_s = 0;
        t->picker.plan_rate = 0;
        if (n == 0) break;
        if (p->s->down_limit) p->s->down_tokens -= (double)n * PF_BLOCK_SIZE;
        send_requests(p, blocks, n, now);
    }
    pf__peer_mark_write(p);
}

/* Their requests to us ---------------------------------------------------- */
static int inq_push(pf_peer *p, const pf_msg *m, uint64_t now)
{
    if (p->inq_len >= p->s->set.max_queue_in) return -1;
    if (p->inq_len == p->inq_cap) {
        uint32_t cap = p->inq_cap ? p->inq_cap * 2 : 64;
        pf__req *n = pf__malloc(p->s->mem, cap * sizeof *n);
        if (!n) return -1;
        for (uint32_t k = 0; k < p->inq_len; k++) n[k] = p->inq[(p->inq_head + k) % p->inq_cap];
        pf__free(p->s->mem, p->inq);
        p->inq = n;
        p->inq_cap = cap;
        p->inq_head = 0;
    }
    pf__req *r = &p->inq[(p->inq_head + p->inq_len) % p->inq_cap];
    r->piece = m->index;
    r->begin = m->begin;
    r->length = m->length;
    r->time = now;
    p->inq_len++;
    return 0;
}

/* Payload bytes of PIECE messages by the stream position where each ends,
 * so uploads count when written, not when queued. */
static void count_upload(pf_peer *p, uint32_t len)
{
    p->s->uploaded += len;
    p->src.uploaded += len;
    p->t->uploaded += len;
    if (pf__peer_remote(p)) p->t->remote_up += len;
    pf__rate_add(&p->up, len);
    pf__rate_add(&p->t->up, len);
}

/* Doubles the ring (16 entries at first, PF__UPQ at most), its entries
 * in order from 0.  0, or -1 when it may not or cannot grow. */
static int upq_grow(pf_peer *p)
{
    uint32_t cap = p->upq_cap ? p->upq_cap * 2 : 16;
    if (cap > PF__UPQ) return -1;
    struct pf__upq_entry *q = pf__malloc(p->s->mem, cap * sizeof *q);
    if (!q) return -1;
    for (uint32_t i = 0; i < p->upq_len; i++) q[i] = p->upq[(p->upq_head + i) % p->upq_cap];
    pf__free(p->s->mem, p->upq);
    p->upq = q;
    p->upq_cap = cap;
    p->upq_head = 0;
    return 0;
}

static void upq_push(pf_peer *p, uint64_t end_pos, uint32_t len)
{
    if (p->upq_len == p->upq_cap && upq_grow(p) != 0) {
        count_upload(p, len); /* full: count now rather than lose it */
        return;
    }
    uint32_t k = (p->upq_head + p->upq_len) % p->upq_cap;
    p->upq[k].end = end_pos;
    p->upq[k].len = len;
    p->upq_len++;
}

static void upq_sent(pf_peer *p, uint64_t now)
{
    while (p->upq_len && p->upq[p->upq_head].end <= p->sent_total) {
        p->last_upload = now ? now : 1;
        count_upload(p, p->upq[p->upq_head].len);
        p->upq_head = (p->upq_head + 1) % p->upq_cap;
        p->upq_len--;
    }
}

void pf__peer_serve(pf_peer *p, uint64_t now)
{
    pf_torrent *t = p->t;
    if (!t || !t->has_meta || t->closing || p->state != PF_PS_ACTIVE || p->am_choking) return;
    /* Keep about a quarter second of this peer's upload rate queued,
     * bounded.  The floor is 128 KiB until the torrent's upload rate is
     * known, then a quarter second of a fair share of it (at least a
     * block): on a slow uplink shared by several peers a fixed 128 KiB
     * each would queue many seconds of blocks, which then arrive after a
     * viewer's deadline sent them to the CDN (waste).  A block queued here
     * can no longer be cancelled: half a second of a share left two blocks
     * per peer on the way when the CDN took their piece (flash-crowd lab:
     * 26.8 MB of waste; a quarter, 17.5 MB, and 18 MB less from the CDN).
     * Counted from our queue and the socket's (see TCP_NOTSENT_LOWAT in
     * net/client.c). */
    size_t floor = 128 * 1024;
    if (t->up.bps > 0) {
        uint32_t active = 0;
        for (uint32_t i = 0; i < t->npeers; i++) {
            const pf_peer *q = t->peers[i];
            active += !q->am_choking && (q->inq_len || q->net_inflight || q->sp_bytes);
        }
        double share = t->up.bps / (active ? active : 1) / 4;
        floor = share < PF_BLOCK_SIZE ? PF_BLOCK_SIZE : share < floor ? (size_t)share : floor;
    }
    size_t window = (size_t)(p->up.bps / 4);
    if (window < floor) window = floor;
    if (window > p->s->set.max_send_buffer) window = p->s->set.max_send_buffer;
    int wrote = 0;
    while (p->inq_len > 0 && pf_buf_unread(&p->out) + p->sp_bytes + p->net_inflight < window) {
        pf__req *r = &p->inq[p->inq_head];
        pf__pbuf *pb = pf__cache_get(t, r->piece, 1);
        if (!pb) {
            /* A read is in flight and we are called again when it lands;
             * meanwhile start loading the pieces queued behind it so the
             * disk reads overlap instead of one at a time. */
            uint32_t last = r->piece, started = 0;
            for (uint32_t k = 1; k < p->inq_len && k < 256 && started < 3; k++) {
                const pf__req *q = &p->inq[(p->inq_head + k) % p->inq_cap];
                if (q->piece == last) continue;
                last = q->piece;
                if (!pf__cache_get(t, q->piece, 1)) started++;
            }
            break;
        }
        /* The budget is charged as a block is queued: uploads stop
         * before it is exceeded, whatever the caller then writes. */
        if (r->length > p->s->up_budget) break;
        if (!pf__take_tokens(p->s->up_limit, &p->s->up_tokens, r->length)) break; /* next tick */
        /* The header is copied, the payload spliced in from the cache. */
        size_t mark = p->out.len;
        if (pf_msg_write_piece_header(&p->out, r->piece, r->begin, r->length) != 0) break;
        if (splice_push(p, pb, pb->data ? pb->data + r->begin : NULL, r->length) != 0) { /* NULL: elided */
            p->out.len = mark;
            break;
        }
        if (p->s->up_budget != PF_UPLOAD_UNLIMITED) p->s->up_budget -= r->length;
        /* Counted as uploaded once the caller reports it written. */
        upq_push(p, p->out_total + pf_buf_unread(&p->out) + p->sp_bytes, r->length);
        p->inq_head = (p->inq_head + 1) % p->inq_cap;
        p->inq_len--;
        wrote = 1;
    }
    (void)now;
    if (wrote) pf__peer_mark_write(p);
}

/* The PIECE header written just before each splice (serve: the header,
 * then the payload spliced in). */
#define PF__PIECE_HDR 13

size_t pf__peer_withdraw_pieces(pf_peer *p)
{
    if (p->nsp == 0) return 0;
    size_t n = pf_buf_unread(&p->out);
    pf_buf keep;
    pf_buf_init_mem(&keep, p->s->mem);
    if (pf_buf_reserve(&keep, n + (size_t)p->nsp * PF__PIECE_HDR) != 0) return 0; /* left to go */
    const uint8_t *h = pf_buf_head(&p->out);
    size_t at = 0, taken = 0;
    for (uint32_t i = 0; i < p->nsp; i++) {
        const pf_out_splice *sp = &p->sp[i];
        size_t hdr = sp->at - PF__PIECE_HDR;
        pf_buf_append(&keep, h + at, hdr - at);
        at = sp->at;
        taken += sp->len;
    }
    pf_buf_append(&keep, h + at, n - at);
    /* A BEP 6 peer hears that each block will not come. */
    for (uint32_t i = 0; i < p->nsp && p->fast; i++) {
        const uint8_t *m = h + p->sp[i].at - PF__PIECE_HDR;
        pf_msg_write_req(&keep, PF_MSG_REJECT, pf_rd_be32(m + 5), pf_rd_be32(m + 9),
                         (uint32_t)p->sp[i].len);
    }
    for (uint32_t i = 0; i < p->nsp; i++) pf__pbuf_unref(p->sp[i].ref);
    pf_buf_free(&p->out);
    p->out = keep;
    /* No splices means no array (pf_peer_take_output hands over only
     * what it is told to release). */
    pf__free(p->s->mem, p->sp);
    p->sp = NULL;
    p->nsp = p->cap_sp = 0;
    p->sp_bytes = 0;
    /* Their entries are the newest: the ones that end past what the
     * caller took. */
    while (p->upq_len) {
        uint32_t last = (p->upq_head + p->upq_len - 1) % p->upq_cap;
        if (p->upq[last].end <= p->out_total) break;
        p->upq_len--;
    }
    if (p->s->up_budget != PF_UPLOAD_UNLIMITED) p->s->up_budget += taken;
    return taken;
}

void pf__peer_sent_plain(pf_peer *p, size_t n, uint64_t now)
{
    if (now > p->s->now) p->s->now = now;
    p->net_inflight = n > p->net_inflight ? 0 : p->net_inflight - n;
    p->last_sent = now;
    p->sent_total += n;
    if (p->t && p->t->has_meta) upq_sent(p, now);
    if (p->state == PF_PS_ACTIVE) pf__peer_serve(p, now);
}

/* Message dispatch --------------------------------------------------------- */
static int on_have(pf_peer *p, uint32_t index)
{
    pf_torrent *t = p->t;
    if (!t->has_meta) return raw_have(p, index);
    if (index >= t->mi->num_pieces) return PF_ERR_PROTO;
    if (pf_bitfield_get(&p->have, index)) return 0;
    pf_bitfield_set(&p->have, index);
    pf_picker_add_have(&t->picker, index);
    if (!pf_bitfield_get(&t->have, index) && t->picker.prio[index]) p->interesting++;
    if (pf_bitfield_full(&p->have)) p->is_seed = 1;
    return 0;
}

static int on_bitfield(pf_peer *p, const uint8_t *bits, size_t n)
{
    pf_torrent *t = p->t;
    if (!t->has_meta) {
        if (n > PF_MAX_MSG_LEN) return PF_ERR_PROTO;
        uint8_t *c = pf__malloc(t->s->mem, n ? n : 1);
        if (!c) return PF_ERR_NOMEM;
        memcpy(c, bits, n);
        pf__free(t->s->mem, p->raw_bf);
        p->raw_bf = c;
        p->raw_bf_len = n;
        return 0;
    }
    pf_picker_remove_bitfield(&t->picker, &p->have);
    int rc = pf_bitfield_load(&p->have, bits, n);
    if (rc) {
        /* have is unchanged: put its counts back, the close removes them */
        pf_picker_add_bitfield(&t->picker, &p->have);
        return rc;
    }
    pf_picker_add_bitfield(&t->picker, &p->have);
    p->is_seed = pf_bitfield_full(&p->have);
    recount_interesting(p);
    return 0;
}

static int on_have_all(pf_peer *p, int all)
{
    pf_torrent *t = p->t;
    if (!t->has_meta) {
        p->raw_have_all = all;
        return 0;
    }
    pf_picker_remove_bitfield(&t->picker, &p->have);
    if (all)
        pf_bitfield_set_all(&p->have);
    else
        pf_bitfield_clear_all(&p->have);
    pf_picker_add_bitfield(&t->picker, &p->have);
    p->is_seed = all;
    recount_interesting(p);
    return 0;
}

static int on_request(pf_peer *p, const pf_msg *m, uint64_t now)
{
    pf_torrent *t = p->t;
    if (!t->has_meta || m->index >= t->mi->num_pieces) return PF_ERR_PROTO;
    p->last_request = now ? now : 1;
    p->idle_choked_at = p->idle_since = 0; /* it does ask */
    uint32_t psize = pf_metainfo_piece_size(t->mi, m->index);
    if (m->length == 0 || m->length > PF__MAX_BLOCK_REQ || m->begin > psize ||
        m->length > psize - m->begin)
        return PF_ERR_PROTO;
    int ok = !p->am_choking && pf_bitfield_get(&t->have, m->index);
    if (ok && inq_push(p, m, now) == 0) {
        pf__peer_serve(p, now);
        return 0;
    }
    if (p->fast) {
        pf_msg_write_req(&p->out, PF_MSG_REJECT, m->index, m->begin, m->length);
        pf__peer_mark_write(p);
    }
    return 0;
}

static void on_cancel(pf_peer *p, const pf_msg *m)
{
    for (uint32_t k = 0; k < p->inq_len; k++) {
        pf__req *r = &p->inq[(p->inq_head + k) % p->inq_cap];
        if (r->piece == m->index && r->begin == m->begin && r->length == m->length) {
            /* Remove by shifting the ring's tail down one slot. */
            for (uint32_t j = k; j + 1 < p->inq_len; j++)
                p->inq[(p->inq_head + j) % p->inq_cap] = p->inq[(p->inq_head + j + 1) % p->inq_cap];
            p->inq_len--;
            if (p->fast) {
                pf_msg_write_req(&p->out, PF_MSG_REJECT, m->index, m->begin, m->length);
                pf__peer_mark_write(p);
            }
            return;
        }
    }
}

static int on_piece(pf_peer *p, const pf_msg *m, uint64_t now)
{
    pf_torrent *t = p->t;
    if (!t->has_meta || m->index >= t->mi->num_pieces) return PF_ERR_PROTO;
    int i = req_find(p, m->index, m->begin);
    if (i < 0 && !withdrawn_take(p, m->index, m->begin)) {
        /* Never asked of this peer: never let it into a piece, or anyone
         * could poison pieces in progress and get the honest senders of
         * their other blocks blamed.  (A block we asked for and then
         * cancelled is still welcome: it was on its way.) */
        t->wasted += m->payload_len;
        p->unsolicited += m->payload_len;
        if (p->unsolicited > 8u * 1024 * 1024)
            pf__torrent_ban(t, &p->addr, p->id, "sent data nobody asked for");
        return 0;
    }
    if (i >= 0) {
        /* It worked on this block for us from when we asked, or from its
         * previous block if that came later. */
        uint64_t since = p->last_block > p->reqs[i].time ? p->last_block : p->reqs[i].time;
        p->busy_bytes = p->busy_bytes * 0.9 + (double)m->payload_len;
        p->busy_ns = p->busy_ns * 0.9 + (double)(now > since ? now - since : 0);
        req_remove_at(p, (uint32_t)i);
    }
    p->last_block = now;
    p->src.snubbed = 0;
    p->rejects = 0;
    if (p->ss_depth < p->s->set.max_queue_out && p->src.down.bps == 0) p->ss_depth++;
    uint64_t got = p->src.downloaded;
    pf__torrent_block_in(t, &p->src, m->index, m->begin, m->payload, (uint32_t)m->payload_len, now);
    if (p->src.downloaded != got && pf__peer_remote(p)) t->remote_down += m->payload_len;
    return 0;
}

static void on_reject(pf_peer *p, const pf_msg *m, uint64_t now)
{
    /* A peer answers each request once, in order: a block we cancelled
     * and asked for again is answered first for the cancelled request
     * (BEP 6: a CANCEL is answered by a REJECT).  That REJECT is not one
     * of the new request: counted as one, the start-up's cancels and
     * re-requests made a seed look like a rejecter, and it was given no
     * request for 5 s while the CDN fetched what it held. */
    if (withdrawn_take(p, m->index, m->begin)) return;
    int i = req_find(p, m->index, m->begin);
    if (i < 0) return;
    req_remove_at(p, (uint32_t)i);
    if (p->t->has_meta) pf_picker_unrequest(&p->t->picker, m->index, m->begin);
    /* A few rejects are normal (choke races, a seeder trimming its queue);
     * a stream of them with no block in between is not. */
    if (++p->rejects >= 16) p->no_requests_until = now + 5 * PF_NS_PER_SEC;
}

static void on_extended(pf_peer *p, const pf_msg *m, uint64_t now)
{
    if (m->ext_id == 0) {
        pf_ext_handshake h;
        if (pf_ext_handshake_parse(m->payload, m->payload_len, &h) != 0) return;
        p->exth = h;
        p->got_exth = 1;
        /* An incoming peer is known by the listen port it gives: a banned
         * one reconnecting from a new port is refused here. */
        if (!p->outgoing && h.listen_port && h.listen_port != p->ep.port) {
            p->ep.port = h.listen_port;
            if (pf__torrent_is_banned(p->t, &p->ep)) {
                pf__peer_close(p, "banned endpoint");
                return;
            }
            pf__blame_peer_known(p->t, p);
        }
        pf__meta_on_ext_handshake(p, now);
    } else if (m->ext_id == PF__UT_METADATA_ID) {
        pf__meta_on_message(p, m->payload, m->payload_len, now);
    } else if (m->ext_id == PF__UT_PEX_ID) {
        /* BEP 27: never for a private torrent; and until the metadata
         * says whether it is one, held, not dialled. */
        pf_torrent *t = p->t;
        if (t->has_meta && t->mi->private_flag) return;
        pf_addr added[64];
        int n = pf_pex_parse(m->payload, m->payload_len, added, 64);
        for (int k = 0; k < n; k++) {
            if (t->has_meta) {
                pf__torrent_add_addr(t, &added[k], now);
                continue;
            }
            int dup = 0;
            for (uint32_t i = 0; i < t->nheld_pex && !dup; i++) dup = pf__endpoint_eq(&t->held_pex[i], &added[k]);
            if (!dup && t->nheld_pex < PF__HELD_PEX) t->held_pex[t->nheld_pex++] = added[k];
        }
    } else if (m->ext_id == PF__PF_CDN_ID && p->t->has_meta) {
        pf_cdn_notice c;
        if (pf_cdn_notice_parse(m->payload, m->payload_len, &c) != 0 || c.first >= p->t->mi->num_pieces) return;
        p->src.notice_first = c.first;
        p->src.notice_end = c.count > p->t->mi->num_pieces - c.first ? p->t->mi->num_pieces : c.first + c.count;
        p->src.notice_at = now ? now : 1;
    }
}

void pf__peer_send_cdn_notice(pf_peer *p, uint32_t first, uint32_t count)
{
    if (p->state != PF_PS_ACTIVE || !p->exth.pf_cdn) return;
    uint8_t body[8];
    if (pf_cdn_notice_encode(body, first, count) != 0) return;
    pf_msg_write_extended(&p->out, p->exth.pf_cdn, body, sizeof body);
    pf__peer_mark_write(p);
}

static int handle_msg(pf_peer *p, const pf_msg *m, uint64_t now)
{
    pf_torrent *t = p->t;
    int rc = 0;
    if (m->type != PF_MSG_KEEPALIVE) p->last_msg = now;
    switch (m->type) {
    case PF_MSG_KEEPALIVE:
        break;
    case PF_MSG_CHOKE:
        p->peer_choking = 1;
        p->rejects = 0;
        if (!p->fast) pf__peer_drop_requests(p);
        break;
    case PF_MSG_UNCHOKE:
        p->peer_choking = 0;
        p->rejects = 0; /* rejects of a choke (BEP 6) are not a storm */
        p->no_requests_until = 0;
        break;
    case PF_MSG_INTERESTED:
        p->peer_interested = 1;
        /* A free slot is given at once rather than at the next round. */
        pf__torrent_choke(t, now);
        break;
    case PF_MSG_NOT_INTERESTED:
        p->peer_interested = 0;
        break;
    case PF_MSG_HAVE:
        rc = on_have(p, m->index);
        break;
    case PF_MSG_BITFIELD:
        rc = on_bitfield(p, m->payload, m->payload_len);
        break;
    case PF_MSG_HAVE_ALL:
    case PF_MSG_HAVE_NONE:
        if (!p->fast) return PF_ERR_PROTO;
        rc = on_have_all(p, m->type == PF_MSG_HAVE_ALL);
        break;
    case PF_MSG_REQUEST:
        return on_request(p, m, now);
    case PF_MSG_PIECE:
        rc = on_piece(p, m, now);
        break;
    case PF_MSG_CANCEL:
        on_cancel(p, m);
        return 0;
    case PF_MSG_REJECT:
        if (!p->fast) return PF_ERR_PROTO;
        on_reject(p, m, now);
        break;
    case PF_MSG_EXTENDED:
        if (p->ext) on_extended(p, m, now);
        return 0;
    default: /* PORT, SUGGEST, ALLOWED_FAST, unknown: ignored */
        return 0;
    }
    if (rc) return rc;
    if (t->has_meta) {
        /* Seeds have nothing to trade with seeds (and are not dialled
         * again while we seed: torrent.c). */
        if (p->is_seed && t->state == PF_TS_SEEDING) {
            pf__peer_close(p, "both seeding");
            return 0;
        }
        pf__peer_update_interest(p);
        pf__peer_fill_requests(p, now);
    }
    return 0;
}

static int on_handshake(pf_peer *p, const uint8_t *buf, size_t len, uint64_t now)
{
    pf_handshake hs;
    if (!p->t) {
        int r = pf_handshake_parse_prefix(buf, len, &hs);
        if (r <= 0) return r;
        pf_torrent *t = pf__session_find(p->s, hs.info_hash);
        if (!t || t->stopped) return PF_ERR_NOTFOUND;
        if (t->p2p_off) return PF_ERR_DENIED; /* the operator's switch */
        if (pf__torrent_is_banned(t, &p->addr)) return PF_ERR_DENIED;
        if (!pf__tls_admits(p, t)) return PF_ERR_DENIED;
        pf__pending_remove(p->s, p);
        if (pf__torrent_attach_peer(t, p, now) != 0) return PF_ERR_LIMIT;
    }
    int r = pf_handshake_parse(buf, len, &hs);
    if (r <= 0) return r;
    if (memcmp(hs.info_hash, p->t->info_hash, 20) != 0) return PF_ERR_PROTO;
    if (memcmp(hs.peer_id, p->s->peer_id, 20) == 0) { /* ourselves */
        p->dup = 2;
        return PF_ERR_EXISTS;
    }
    for (uint32_t i = 0; i < p->t->npeers; i++) {
        pf_peer *o = p->t->peers[i];
        if (o != p && o->got_handshake && memcmp(o->peer_id, hs.peer_id, 20) == 0) {
            /* Connected to it already: keep one.  A uTP connection replaces
             * a TCP one when the settings prefer uTP; else the first. */
            if (p->s->set.prefer_utp && p->transport == PF_TRANSPORT_UTP && o->transport != PF_TRANSPORT_UTP &&
                o->state != PF_PS_CLOSING) {
                o->dup = 1;
                pf__peer_close(o, "duplicate: its uTP connection is kept");
                break;
            }
            p->dup = 1;
            return PF_ERR_EXISTS;
        }
    }
    memcpy(p->peer_id, hs.peer_id, 20);
    memcpy(p->reserved, hs.reserved, 8);
    p->fast = PF_RESERVED_FAST(hs.reserved);
    p->ext = PF_RESERVED_EXTENSION(hs.reserved);
    p->got_handshake = 1;
    p->state = PF_PS_ACTIVE;
    pf__blame_peer_known(p->t, p);
    p->last_recv = p->last_msg = now;
    if (!p->sent_handshake) send_handshake(p);
    if (p->ext) send_ext_handshake(p);
    send_have_state(p);
    pf__peer_mark_write(p);
    return PF_HANDSHAKE_LEN;
}

/* Payload elision: n more payload bytes of the PIECE message whose header
 * came (n <= el_left); the whole payload in: the block goes in. */
static int elided_payload_in(pf_peer *p, uint32_t n, uint64_t now)
{
    p->el_left -= n;
    if (p->el_left) return 0;
    p->el_due = 0;
    pf_msg m;
    memset(&m, 0, sizeof m);
    m.type = PF_MSG_PIECE;
    m.index = p->el_index;
    m.begin = p->el_begin;
    m.length = p->el_len;
    m.payload_len = p->el_len; /* payload NULL: elided */
    return handle_msg(p, &m, now);
}

/* Parses as many whole messages (or the handshake) as buf holds; returns
 * bytes consumed or a negative pf_err.  With payload elision a PIECE
 * message is its header, then its payload as a count (bytes here, or
 * pf_peer_recv_payload). */
static long parse_some(pf_peer *p, const uint8_t *buf, size_t len, uint64_t now)
{
    size_t off = 0;
    int elide = p->s->set.payload.elide;
    while (off < len && p->state != PF_PS_CLOSING) {
        if (p->el_due) { /* payload bytes as bytes: only their number counts */
            uint32_t take = len - off < p->el_left ? (uint32_t)(len - off) : p->el_left;
            off += take;
            int rc = elided_payload_in(p, take, now);
            if (rc < 0) return rc;
            continue;
        }
        if (!p->got_handshake) {
            int r = on_handshake(p, buf + off, len - off, now);
            if (r < 0) return r;
            if (r == 0) break;
            off += (size_t)r;
            continue;
        }
        pf_msg m;
        if (elide) {
            long h = pf_msg_parse_piece_header(buf + off, len - off, PF_MAX_MSG_LEN, &m);
            if (h == 0) break;
            if (h > 0) {
                off += (size_t)h;
                p->el_index = m.index;
                p->el_begin = m.begin;
                p->el_len = p->el_left = (uint32_t)m.payload_len;
                p->el_due = 1;
                if (p->el_left == 0) {
                    int rc = elided_payload_in(p, 0, now);
                    if (rc < 0) return rc;
                }
                continue;
            }
            if (h != PF_ERR_NOTFOUND) return h;
        }
        long r = pf_msg_parse(buf + off, len - off, PF_MAX_MSG_LEN, &m);
        if (r < 0) return r;
        if (r == 0) break;
        int rc = handle_msg(p, &m, now);
        if (rc < 0) return rc;
        off += (size_t)r;
    }
    return (long)off;
}

/* Bytes still missing from the message that starts the reassembly buffer
 * (or 0 if its length prefix is not in yet). */
static size_t missing_bytes(const pf_peer *p)
{
    size_t have = pf_buf_unread(&p->in);
    const uint8_t *h = pf_buf_head(&p->in);
    if (!p->got_handshake) return have < PF_HANDSHAKE_LEN ? PF_HANDSHAKE_LEN - have : 0;
    if (have < 4) return 4 - have;
    if (p->s->set.payload.elide && have >= 5 && h[4] == PF_MSG_PIECE && pf_rd_be32(h) != 0)
        return have < PF_PIECE_HDR_LEN ? PF_PIECE_HDR_LEN - have : 0; /* its payload is a count */
    uint64_t need = 4 + (uint64_t)pf_rd_be32(h);
    if (need > PF_MAX_MSG_LEN + 4) return 0; /* the parser reports it */
    return need > have ? (size_t)(need - have) : 0;
}

long pf__peer_recv_plain(pf_peer *p, const uint8_t *data, size_t n, uint64_t now)
{
    if (now > p->s->now) p->s->now = now;
    if (p->state == PF_PS_CLOSING) return (long)n;
    if (p->state == PF_PS_CONNECTING) return PF_ERR_INVAL;
    p->last_recv = now;
    size_t off = 0;
    /* Complete a message split across reads by copying only its missing
     * part; everything after it is parsed in place without a copy. */
    while (pf_buf_unread(&p->in) > 0 && off < n) {
        size_t want = missing_bytes(p);
        if (want == 0) want = n - off;
        if (want > n - off) want = n - off;
        if (pf_buf_append(&p->in, data + off, want) != 0) return PF_ERR_NOMEM;
        off += want;
        long r = parse_some(p, pf_buf_head(&p->in), pf_buf_unread(&p->in), now);
        if (r < 0) return r;
        pf_buf_consume(&p->in, (size_t)r);
        if (p->state == PF_PS_CLOSING) return (long)n;
    }
    if (off < n) {
        long r = parse_some(p, data + off, n - off, now);
        if (r < 0) return r;
        off += (size_t)r;
        if (off < n && p->state != PF_PS_CLOSING &&
            pf_buf_append(&p->in, data + off, n - off) != 0)
            return PF_ERR_NOMEM;
    }
    /* What it made us queue (REJECTs, metadata pieces, ...) and does not
     * read: PIECE data is held to max_send_buffer by pf__peer_serve, so
     * anything far beyond that is a peer asking without reading. */
    if (pf_buf_unread(&p->out) + p->sp_bytes + p->net_inflight >
        (size_t)p->s->set.max_send_buffer + (1u << 20)) {
        char a[64];
        pf_addr_format(&p->addr, a, sizeof a);
        pf__log(p->s, PF_LOG_DEBUG, "closing %s: it does not read what it asks for", a);
        return PF_ERR_LIMIT;
    }
    return (long)n;
}

long pf_peer_recv_payload(pf_peer *p, size_t n, uint64_t now)
{
    if (!p->s->set.payload.elide || p->tls) return PF_ERR_UNSUPPORTED;
    if (now > p->s->now) p->s->now = now;
    if (p->state == PF_PS_CLOSING) return (long)n;
    if (!p->el_due || n > p->el_left || pf_buf_unread(&p->in)) return PF_ERR_PROTO;
    p->last_recv = now;
    int rc = elided_payload_in(p, (uint32_t)n, now);
    return rc < 0 ? rc : (long)n;
}

/* The address other peers should dial for p: its listen port if it told
 * us (BEP 10 "p"), else the address we dialled. */
static int pex_addr(const pf_peer *p, pf_addr *out)
{
    *out = p->addr;
    if (!p->outgoing) {
        if (!p->exth.listen_port) return 0;
        out->port = p->exth.listen_port;
    }
    return 1;
}

/* BEP 11: every minute, tell the peer about peers that connected since
 * the last message (all of them the first time).  Never for private
 * torrents (BEP 27), nor before the metadata says whether it is one. */
static void send_pex(pf_peer *p, uint64_t now)
{
    pf_torrent *t = p->t;
    if (!p->exth.ut_pex || !t->has_meta || t->mi->private_flag) return;
    if (p->last_pex ? now < p->last_pex + 60 * PF_NS_PER_SEC
                    : now < p->connected_at + 5 * PF_NS_PER_SEC)
        return;
    pf_addr added[50];
    size_t n = 0;
    for (uint32_t i = 0; i < t->npeers && n < 50; i++) {
        const pf_peer *o = t->peers[i];
        if (o == p || o->state != PF_PS_ACTIVE || (p->last_pex && o->connected_at < p->last_pex))
            continue;
        if (pex_addr(o, &added[n])) n++;
    }
    p->last_pex = now;
    if (n == 0) return;
    pf_buf body;
    pf_buf_init_mem(&body, p->s->mem);
    if (pf_pex_write(&body, added, n, NULL, 0) == 0)
        pf_msg_write_extended(&p->out, p->exth.ut_pex, body.data, body.len);
    pf_buf_free(&body);
    pf__peer_mark_write(p);
}

/* It holds a piece we lack (wanted now or not: a viewer's window moves
 * on, and a seed has nothing to ask of anyone). */
static int holds_what_we_lack(const pf_peer *p)
{
    const pf_torrent *t = p->t;
    if (!t->has_meta || !p->have.bits) return 1; /* cannot tell yet */
    if (p->is_seed) return !pf_bitfield_full(&t->have);
    size_t nb = pf_bitfield_bytes(t->have.nbits);
    for (size_t i = 0; i < nb; i++)
        if (p->have.bits[i] & (uint8_t)~t->have.bits[i]) return 1;
    return 0;
}

/* Peers that give nothing and ask nothing hold a connection slot that a
 * newcomer could use (slot squatters: 500 connections that handshake and
 * say nothing more, or say they are interested and never ask):
 *  - neither side interested, no message but keep-alives from it for
 *    PF__IDLE_NS, nothing in flight, and it holds nothing we lack: they
 *    have nothing to trade.  A stream's viewers waiting for their
 *    deadlines are interested (or hold what the other lacks), and a seed
 *    we download from holds what we lack: both stay;
 *  - one the choker tried and choked for asking nothing while unchoked
 *    (idle_since: others were waiting for its slot), still not asking
 *    PF__IDLE_NS later, or PF__IDLE_NS / 6 later when the torrent is at
 *    max_peers.  With nobody waiting, the choker never tries anyone: a
 *    viewer waiting for its player stays.
 * Returns why it goes, or NULL. */
#define PF__IDLE_NS (60 * PF_NS_PER_SEC)
static const char *idle_reason(const pf_peer *p, uint64_t now)
{
    const pf_torrent *t = p->t;
    if (!t->has_meta || p->nreqs || p->inq_len || p->sp_bytes) return NULL;
    if (!p->peer_interested && !p->am_interested && now > p->last_msg + PF__IDLE_NS && !holds_what_we_lack(p))
        return "idle: nothing to trade";
    if (p->idle_since && p->am_choking &&
        (now > p->idle_since + PF__IDLE_NS ||
         (now > p->idle_since + PF__IDLE_NS / 6 && t->npeers >= p->s->set.max_peers)))
        return "idle: unchoked, asked for nothing";
    return NULL;
}

void pf__peer_tick(pf_peer *p, uint64_t now, double dt)
{
    if (dt > 0) {
        pf__rate_tick(&p->src.down, dt);
        pf__rate_tick(&p->up, dt);
    }
    if (p->state == PF_PS_CONNECTING) {
        if (now > p->connected_at + 15 * PF_NS_PER_SEC) pf__peer_close(p, "connect timeout");
        return;
    }
    if (now > p->last_recv + 180 * PF_NS_PER_SEC) {
        pf__peer_close(p, "inactive");
        return;
    }
    if (p->state != PF_PS_ACTIVE) {
        if (now > p->connected_at + (uint64_t)p->s->set.handshake_timeout_s * PF_NS_PER_SEC)
            pf__peer_close(p, "handshake timeout");
        return;
    }
    const char *idle = idle_reason(p, now);
    if (idle) {
        pf__peer_close(p, idle);
        return;
    }
    if (now > p->last_sent + 90 * PF_NS_PER_SEC && pf_buf_unread(&p->out) == 0 &&
        p->net_inflight == 0) {
        pf_msg_write_simple(&p->out, PF_MSG_KEEPALIVE);
        p->last_sent = now;
        pf__peer_mark_write(p);
    }
    /* A peer that owes us blocks for too long is snubbed: its requests go
     * back to the picker so faster peers can take them. */
    uint64_t timeout = (uint64_t)p->s->set.request_timeout_s * PF_NS_PER_SEC;
    /* One that has never delivered a block gets less patience: a few
     * silent peers holding a pipeline each would otherwise hold the last
     * blocks of a download (more than the endgame takes on) for the whole
     * time-out. */
    if (p->src.downloaded == 0 && timeout > 5 * PF_NS_PER_SEC) timeout = 5 * PF_NS_PER_SEC;
    if (p->nreqs > 0) {
        uint64_t last = p->last_block > p->reqs[0].time ? p->last_block : p->reqs[0].time;
        if (now > last + timeout) {
            for (uint32_t i = 0; i < p->nreqs; i++)
                pf_msg_write_req(&p->out, PF_MSG_CANCEL, p->reqs[i].piece, p->reqs[i].begin,
                                 p->reqs[i].length);
            pf__peer_drop_requests(p);
            p->src.snubbed = 1;
            p->ss_depth = 16;
            pf__peer_mark_write(p);
            return; /* its blocks go to other peers first */
        }
    }
    send_pex(p, now);
    pf__peer_update_interest(p);
    pf__peer_fill_requests(p, now);
    pf__peer_serve(p, now);
}

/* The peer as a source of blocks (core/sched/source.h) ---------------------- */
#define PEER_OF(s) ((pf_peer *)((char *)(s) - offsetof(pf_peer, src)))
#define CPEER_OF(s) ((const pf_peer *)((const char *)(s) - offsetof(pf_peer, src)))

static int po_has(const pf_source *s, uint32_t piece) { return pf_bitfield_get(&CPEER_OF(s)->have, piece); }

static int po_available(const pf_source *s, uint64_t now)
{
    const pf_peer *p = CPEER_OF(s);
    (void)now;
    return p->state == PF_PS_ACTIVE && !p->peer_choking;
}

/* Connected for under a second, or dialled under a second ago
 * (connected_at: the dial, then the connect).  A dial that hangs (a stale
 * tracker entry whose port another program holds) once held the pieces
 * nobody had back from the CDN until its 15-20 s time-out: 10 s of media
 * took 6 s, one piece a second by the media clock (issue 19, item 16;
 * test stream_hung_dial_no_wait). */
static int po_settling(const pf_source *s, uint64_t now)
{
    const pf_peer *p = CPEER_OF(s);
    if (p->state != PF_PS_CONNECTING && p->state != PF_PS_HANDSHAKE && p->state != PF_PS_ACTIVE) return 0;
    return now < p->connected_at + PF_NS_PER_SEC;
}

static int po_present(const pf_source *s) { return CPEER_OF(s)->state == PF_PS_ACTIVE; }

static void po_pull(pf_source *s, uint64_t now) { pf__peer_fill_requests(PEER_OF(s), now); }

static uint32_t po_cancel_late(pf_source *s, uint32_t piece, double deadline_s, double head_deadline_s, int trial,
                               uint64_t now)
{
    return pf__peer_cancel_late(PEER_OF(s), piece, deadline_s, head_deadline_s, trial, now);
}

static void po_cancel_all(pf_source *s, uint64_t now)
{
    (void)now;
    pf__peer_cancel_all(PEER_OF(s));
}

static void po_cancel_block(pf_source *s, uint32_t piece, uint32_t begin)
{
    pf__peer_cancel_block(PEER_OF(s), piece, begin);
}

static uint32_t po_inflight(const pf_source *s) { return CPEER_OF(s)->nreqs; }

static double po_rate(const pf_source *s, uint64_t now, uint64_t *latency_ns)
{
    if (latency_ns) *latency_ns = 0;
    return pf__peer_plan_rate(CPEER_OF(s), now);
}

static void po_misbehaved(pf_source *s, const char *why, uint64_t now)
{
    (void)now;
    pf_peer *p = PEER_OF(s);
    if (p->t) pf__torrent_ban(p->t, &p->addr, p->id, why);
}

static void po_notify_fetch(pf_source *s, uint32_t first, uint32_t count)
{
    pf__peer_send_cdn_notice(PEER_OF(s), first, count);
}

static void po_name(const pf_source *s, char *out, size_t n)
{
    const pf_peer *p = CPEER_OF(s);
    char a[64], client[96];
    pf_addr_format(&p->addr, a, sizeof a);
    snprintf(out, n, "peer:%s %s", a, pf_escape_text(p->exth.client, client, sizeof client));
}

static const pf_source_ops peer_ops = {
    .kind = "peer",
    .has = po_has,
    .available = po_available,
    .settling = po_settling,
    .present = po_present,
    .ready = po_available,
    .pull = po_pull,
    .fetch = NULL,
    .cancel_late = po_cancel_late,
    .cancel_block = po_cancel_block,
    .cancel_all = po_cancel_all,
    .prune = NULL,
    .inflight = po_inflight,
    .rate = po_rate,
    .misbehaved = po_misbehaved,
    .notify_fetch = po_notify_fetch,
    .name = po_name,
};
