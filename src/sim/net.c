/* The virtual network (docs/SIM.md "The model"):
 *
 * - A viewer's uplink and the CDN's egress are serializers: they move one
 *   chunk at a time at their capacity (a peer's at most 16 KiB, a CDN
 *   GET's half its window), taking turns between the flows that have
 *   bytes (round robin: connections share an uplink fairly, GETs share
 *   the CDN); chunks within 2 ms of each other make one batch, one event.
 * - A chunk then travels the path's latency (the sender's one-way latency
 *   plus the receiver's) and queues at the receiver's downlink, a FIFO at
 *   its capacity that forwards bytes as they come (cut-through); then it
 *   is handed to the engine.
 * - A flow (one direction of a connection, one CDN GET) has at most a
 *   window of bytes in flight, twice the path's bandwidth-delay product
 *   and at least 64 KiB: what TCP's congestion window would settle at;
 *   so a fast sender cannot bury a slow downlink under its whole backlog.
 * - Closing a connection drops what its side had not serialized yet; a
 *   FIN follows the bytes already on their way and closes the other side.
 * The title's bytes are a function of their offset (sim_content_fill), so
 * no node stores them. */
#include <stdlib.h>
#include <string.h>

#include "sim/sim_internal.h"

/* ---- content ----------------------------------------------------------------
 * The title's byte at offset o: every 64 KiB segment of the title is a
 * run of a 1 MiB random table (made from the seed), starting at a place
 * the segment's number picks.  Pieces differ (their SHA-1s do), and
 * filling or checking a range is a memcpy or a memcmp. */
static uint64_t seg_start(const sim *w, uint64_t seg)
{
    uint64_t s = w->content_key ^ (seg * 0xd1342543de82ef95ULL);
    return sim_rand(&s) & (SIM_TABLE - 1) & ~(uint64_t)7;
}

int sim_content_init(sim *w)
{
    w->table = malloc(SIM_TABLE + SIM_SEG);
    if (!w->table) return -1;
    uint64_t s = w->content_key;
    for (size_t i = 0; i < SIM_TABLE + SIM_SEG; i += 8) {
        uint64_t v = sim_rand(&s);
        for (int b = 0; b < 8; b++) w->table[i + (size_t)b] = (uint8_t)(v >> (8 * b));
    }
    return 0;
}

/* Runs BODY for each run of the table that [off, off + n) is made of:
 * src_ points at it, m_ bytes, for the bytes at k_ of the range. */
#define CONTENT_RUNS(w, off, n, BODY)                                           \
    for (size_t k_ = 0; k_ < (n);) {                                           \
        uint64_t o_ = (off) + k_;                                             \
        size_t in_ = (size_t)(o_ % SIM_SEG);                                  \
        size_t m_ = SIM_SEG - in_ < (n) - k_ ? SIM_SEG - in_ : (n) - k_;      \
        const uint8_t *src_ = (w)->table + seg_start((w), o_ / SIM_SEG) + in_; \
        BODY;                                                                 \
        k_ += m_;                                                             \
    }

void sim_content_fill(const sim *w, uint64_t off, uint8_t *dst, size_t n)
{
    CONTENT_RUNS(w, off, n, memcpy(dst + k_, src_, m_))
}

int sim_content_equal(const sim *w, uint64_t off, const uint8_t *p, size_t n)
{
    CONTENT_RUNS(w, off, n, if (memcmp(p + k_, src_, m_) != 0) return 0)
    return 1;
}

/* ---- helpers ------------------------------------------------------------------ */
void sim_touch(sim *w, uint32_t node)
{
    sim_node *nd = &w->nodes[node];
    if (!nd->alive || nd->dirty) return;
    nd->dirty = 1;
    w->dirty[w->ndirty++] = node;
}

static uint64_t node_latency(const sim *w, uint32_t node)
{
    return w->sc.cls[w->nodes[node].cls].latency_ns;
}

uint64_t sim_oneway(const sim *w, uint32_t a, uint32_t b)
{
    return node_latency(w, a) + node_latency(w, b);
}

static uint64_t ser_ns(uint64_t bytes, uint64_t Bps)
{
    return Bps ? bytes * 1000000000ULL / Bps : 0;
}

/* Twice the bandwidth-delay product, at least SIM_MIN_WINDOW. */
static uint64_t flow_window(uint64_t Bps, uint64_t rtt_ns)
{
    uint64_t w = 2 * (Bps * (rtt_ns / 1000) / 1000000);
    return w < SIM_MIN_WINDOW ? SIM_MIN_WINDOW : w;
}

static void push(sim *w, uint64_t t, uint32_t type, uint32_t a, void *p)
{
    if (sim_queue_push(&w->q, t, type, a, p)) sim_fail(w, "out of memory (event queue)");
}

/* A chunk was allocated (c->alloc bytes): the simulator's own memory. */
static void chunk_count(sim *w, const sim_chunk *c)
{
    w->chunks_live++;
    w->chunk_bytes_live += c->alloc;
    if (w->chunk_bytes_live > w->chunk_bytes_peak) w->chunk_bytes_peak = w->chunk_bytes_live;
}

/* A chunk with room for n bytes after its header, the header zeroed.
 * Small ones (control messages, CDN chunks, FINs: most of them) come from
 * a free list of SIM_CHUNK_SMALL-byte blocks. */
static sim_chunk *chunk_alloc(sim *w, size_t n)
{
    sim_chunk *c;
    size_t size = sizeof *c + n;
    if (size <= SIM_CHUNK_SMALL && w->chunk_pool) {
        c = w->chunk_pool;
        w->chunk_pool = c->next;
        w->chunk_pool_n--;
        size = SIM_CHUNK_SMALL;
    } else {
        if (size <= SIM_CHUNK_SMALL) size = SIM_CHUNK_SMALL;
        c = malloc(size);
        if (!c) return NULL;
    }
    memset(c, 0, sizeof *c);
    c->alloc = (uint32_t)size;
    return c;
}

void sim_chunk_free(sim *w, sim_chunk *c)
{
    w->chunks_live--;
    w->chunk_bytes_live -= c->alloc;
    if (c->link) sim_link_unref(c->link);
    if (c->cj) sim_cdnjob_unref(c->cj);
    if (c->alloc == SIM_CHUNK_SMALL && w->chunk_pool_n < SIM_CHUNK_POOL) {
        c->next = w->chunk_pool;
        w->chunk_pool = c;
        w->chunk_pool_n++;
        return;
    }
    free(c);
}

void sim_chunk_pool_free(sim *w)
{
    while (w->chunk_pool) {
        sim_chunk *c = w->chunk_pool;
        w->chunk_pool = c->next;
        free(c);
    }
    w->chunk_pool_n = 0;
}

/* A serializer's batch not handed on (the run ended). */
void sim_batch_free(sim *w, sim_ser *s)
{
    while (s->cur) {
        sim_chunk *c = s->cur;
        s->cur = c->next;
        sim_chunk_free(w, c);
    }
}

/* ---- serializers ---------------------------------------------------------------- */
static uint64_t flow_pending(sim_flow *f, int is_cdn)
{
    if (is_cdn) {
        sim_cdnjob *cj = (sim_cdnjob *)f;
        return cj->dead ? 0 : cj->len - cj->queued;
    }
    sim_end *e = (sim_end *)f;
    return e->p ? e->qlen - e->qoff + e->pay_bytes : 0;
}

static int flow_ready(sim_flow *f, int is_cdn)
{
    return flow_pending(f, is_cdn) > 0 && f->inflight < f->window;
}

static void ring_remove(sim_ser *s, sim_flow *f)
{
    if (!f->in_ring) return;
    if (f->next == f) {
        s->ring = NULL;
    } else {
        f->prev->next = f->next;
        f->next->prev = f->prev;
        if (s->ring == f) s->ring = f->next;
    }
    f->next = f->prev = NULL;
    f->in_ring = 0;
}

static void ring_add(sim_ser *s, sim_flow *f)
{
    if (f->in_ring) return;
    if (!s->ring) {
        f->next = f->prev = f;
        s->ring = f;
    } else {
        f->prev = s->ring->prev;
        f->next = s->ring;
        s->ring->prev->next = f;
        s->ring->prev = f;
    }
    f->in_ring = 1;
}

/* A backlog starts this small (most hold a few control messages) and
 * one drained above SIM_Q_KEEP is let go: 50 connections a viewer. */
#define SIM_Q_MIN 256u
#define SIM_Q_KEEP 16384u
static void q_drained(sim_end *e)
{
    if (e->qoff != e->qlen || e->qcap <= SIM_Q_KEEP) return;
    e->q_base += e->qoff;
    free(e->q);
    e->q = NULL;
    e->qoff = e->qlen = e->qcap = 0;
}

#define SIM_SEG_PAY 0x80000000u
#define SIM_MAX_SEGS 64

/* The next len bytes of e's backlog with elided payloads in it: control
 * bytes and payload counts, in stream order (at most SIM_MAX_SEGS
 * segments: len may come out shorter). */
static sim_chunk *chunk_take_elided(sim *w, sim_end *e, uint64_t len)
{
    uint32_t seg[SIM_MAX_SEGS], nseg = 0;
    uint64_t left = len, pos = e->q_base + e->qoff, ctl = 0;
    uint32_t mi = 0, used = 0; /* marks passed; bytes of mark mi already in */
    while (left > 0 && nseg < SIM_MAX_SEGS) {
        const struct sim_pay *m = mi < e->pay_n ? &e->pay[(e->pay_head + mi) % e->pay_cap] : NULL;
        if (m && m->at == pos) {
            uint64_t take = m->len - used < left ? m->len - used : left;
            seg[nseg++] = SIM_SEG_PAY | (uint32_t)take;
            left -= take;
            used += (uint32_t)take;
            if (used == m->len) mi++, used = 0;
            continue;
        }
        uint64_t avail = (m ? m->at : e->q_base + e->qlen) - pos;
        uint64_t take = avail < left ? avail : left;
        seg[nseg++] = (uint32_t)take;
        pos += take;
        ctl += take;
        left -= take;
    }
    len -= left;
    sim_chunk *c = chunk_alloc(w, nseg * sizeof seg[0] + ctl);
    if (!c) return NULL;
    c->nseg = nseg;
    memcpy(c->data, seg, nseg * sizeof seg[0]);
    uint8_t *d = c->data + nseg * sizeof seg[0];
    for (uint32_t k = 0; k < nseg; k++) {
        uint32_t n = seg[k] & ~SIM_SEG_PAY;
        if (seg[k] & SIM_SEG_PAY) {
            struct sim_pay *m = &e->pay[e->pay_head];
            m->len -= n;
            e->pay_bytes -= n;
            if (m->len == 0) {
                e->pay_head = (e->pay_head + 1) % e->pay_cap;
                e->pay_n--;
            }
        } else {
            memcpy(d, e->q + e->qoff, n);
            d += n;
            e->qoff += n;
        }
    }
    c->len = (uint32_t)len;
    return c;
}

/* How much of flow f's backlog its next chunk takes: a peer's at most
 * SIM_CHUNK (an uplink takes turns between its connections in 16 KiB
 * steps); a CDN GET's half its window, at least SIM_CHUNK (the window's
 * burst queues at the viewer's downlink, as TCP's does; a half is at least
 * the bandwidth-delay product, so two keep the path full). */
static uint64_t chunk_len(sim_flow *f, int is_cdn)
{
    uint64_t len = flow_pending(f, is_cdn), cap = is_cdn && f->window / 2 > SIM_CHUNK ? f->window / 2 : SIM_CHUNK;
    return len < cap ? len : cap;
}

/* The next chunk of flow f, taken off its backlog. */
static sim_chunk *chunk_take(sim *w, sim_flow *f, int is_cdn)
{
    uint64_t len = chunk_len(f, is_cdn);
    sim_chunk *c;
    if (is_cdn) {
        sim_cdnjob *cj = (sim_cdnjob *)f;
        c = chunk_alloc(w, 0);
        if (!c) return NULL;
        c->kind = CH_CDN;
        c->to = cj->node;
        c->cj = cj;
        c->off = cj->start + cj->queued;
        cj->queued += len;
        cj->refs++;
    } else if (((sim_end *)f)->pay_n) {
        sim_end *e = (sim_end *)f;
        c = chunk_take_elided(w, e, len);
        if (!c) return NULL;
        len = c->len;
        c->kind = CH_PEER;
        c->link = e->link;
        c->side = e->side;
        c->to = e->link->end[!e->side].node;
        e->link->refs++;
    } else {
        sim_end *e = (sim_end *)f;
        c = chunk_alloc(w, len);
        if (!c) return NULL;
        c->kind = CH_PEER;
        c->link = e->link;
        c->side = e->side;
        c->to = e->link->end[!e->side].node;
        memcpy(c->data, e->q + e->qoff, len);
        e->qoff += len;
        e->link->refs++;
    }
    c->len = (uint32_t)len;
    f->inflight += len;
    chunk_count(w, c);
    if (!is_cdn) q_drained((sim_end *)f);
    return c;
}

/* A serializer moves a batch of chunks at a time: one chunk, and while
 * the batch takes at most SIM_BATCH_NS, the chunks the round robin picks
 * next, back to back.  Each chunk leaves at its own time (t_out: the
 * timing is that of one chunk at a time); the batch's one event at its
 * end hands them on and tells the senders (pf_peer_sent), so a sender
 * hears of a small chunk at most SIM_BATCH_NS late, and a flow that
 * becomes ready meanwhile joins the round robin at the batch's end. */
void sim_ser_kick(sim *w, sim_ser *s, int is_cdn, uint32_t node)
{
    if (s->cur) return;
    uint64_t t = w->now;
    sim_chunk **tail = &s->cur;
    while (s->ring) {
        sim_flow *f = s->ring;
        if (!flow_ready(f, is_cdn)) {
            ring_remove(s, f);
            continue;
        }
        if (s->cur) { /* another one in this batch if it fits */
            if (t + ser_ns(chunk_len(f, is_cdn), s->Bps) - w->now > SIM_BATCH_NS) break;
        }
        sim_chunk *c = chunk_take(w, f, is_cdn);
        if (!c) {
            sim_fail(w, "out of memory (chunk)");
            break;
        }
        if (flow_ready(f, is_cdn))
            s->ring = f->next; /* round robin */
        else
            ring_remove(s, f);
        c->ser_ns = ser_ns(c->len, s->Bps);
        t += c->ser_ns;
        c->t_out = t;
        *tail = c;
        tail = &c->next;
    }
    if (s->cur) push(w, t, is_cdn ? EV_CDN_DONE : EV_UP_DONE, node, NULL);
}

void sim_ser_add(sim *w, sim_ser *s, sim_flow *f, int is_cdn, uint32_t node)
{
    if (flow_ready(f, is_cdn)) ring_add(s, f);
    sim_ser_kick(w, s, is_cdn, node);
}

/* A chunk of a batch on its way to the receiver's downlink, leaving at
 * its own time. */
static void chunk_send(sim *w, sim_chunk *c, uint64_t lat)
{
    uint64_t t = c->t_out + lat;
    c->next = NULL;
    push(w, t > w->now ? t : w->now, EV_DOWN_ARRIVE, 0, c);
}

/* A viewer's uplink finished its batch: the socket took it. */
void sim_up_done(sim *w, uint32_t node)
{
    sim_node *nd = &w->nodes[node];
    sim_chunk *c = nd->up.cur, *next;
    nd->up.cur = NULL;
    for (; c; c = next) {
        next = c->next;
        sim_end *e = &c->link->end[c->side];
        if (!nd->alive || !e->p) { /* closed meanwhile: what was not out is lost */
            sim_chunk_free(w, c);
            continue;
        }
        pf_peer_sent(e->p, c->len, w->now);
        sim_touch(w, node);
        w->link_bytes += c->len;
        if (w->sc.nisp && w->nodes[c->to].isp != nd->isp) w->inter_isp_link_bytes += c->len;
        chunk_send(w, c, c->link->oneway_ns);
    }
    if (nd->alive) sim_ser_kick(w, &nd->up, 0, node);
}

void sim_cdn_done(sim *w)
{
    sim_chunk *c = w->cdn.cur, *next;
    w->cdn.cur = NULL;
    for (; c; c = next) {
        next = c->next;
        if (c->cj->dead)
            sim_chunk_free(w, c);
        else
            chunk_send(w, c, w->sc.cdn_latency_ns + node_latency(w, c->to));
    }
    sim_ser_kick(w, &w->cdn, 1, 0);
}

/* At the receiver's downlink: a FIFO at its capacity that forwards a
 * chunk as its bytes come in (cut-through): its first byte arrived one
 * serialization at the sender earlier, and it is through once the
 * downlink has moved it after what came before, and not before its last
 * byte arrived.  A chunk through at once (the downlink was idle) is
 * handed to the engine in this event; otherwise in an EV_DELIVER. */
void sim_down_arrive(sim *w, sim_chunk *c)
{
    sim_node *nd = &w->nodes[c->to];
    if (!nd->alive) {
        sim_chunk_free(w, c);
        return;
    }
    uint64_t first = c->ser_ns < w->now ? w->now - c->ser_ns : 0;
    uint64_t start = nd->down_busy > first ? nd->down_busy : first;
    uint64_t done = start + ser_ns(c->len, w->sc.cls[nd->cls].down_Bps);
    if (done < w->now) done = w->now;
    int idle = nd->down_busy < w->now; /* nothing ahead of it is still to be delivered */
    nd->down_busy = done;
    if (done == w->now && idle) {
        sim_deliver(w, c);
        return;
    }
    push(w, done, EV_DELIVER, 0, c);
}

static void cdn_finish(sim *w, sim_cdnjob *cj, int result, long status);

static void deliver_cdn(sim *w, sim_chunk *c)
{
    sim_cdnjob *cj = c->cj;
    cj->flow.inflight -= c->len;
    if (cj->dead || !cj->job) return;
    sim_node *nd = &w->nodes[cj->node];
    int rc;
    if (w->sc.payload_real) { /* in steps of SIM_CHUNK (a chunk is up to half a window) */
        uint8_t buf[SIM_CHUNK];
        rc = 0;
        for (uint32_t k = 0; k < c->len && rc >= 0; k += SIM_CHUNK) {
            uint32_t n = c->len - k < SIM_CHUNK ? c->len - k : SIM_CHUNK;
            sim_content_fill(w, c->off + k, buf, n);
            rc = pf_torrent_job_data(nd->t, cj->job, buf, n, w->now);
        }
    } else {
        rc = pf_torrent_job_data(nd->t, cj->job, NULL, c->len, w->now); /* a count */
    }
    sim_touch(w, cj->node);
    cj->delivered += c->len;
    w->cdn_bytes += c->len;
    if (rc < 0 || cj->delivered == cj->len) {
        /* reported done in an event of its own, once the events this call
         * caused (a cancel of this job among them) are handled */
        cj->fin_rc = rc < 0 ? rc : 0;
        cj->fin_status = cj->start == 0 && cj->len == w->size ? 200 : 206;
        cj->dead = 1; /* nothing more is sent */
        cj->refs++;
        push(w, w->now, EV_CDN_FINISH, 0, cj);
    } else {
        sim_ser_add(w, &w->cdn, &cj->flow, 1, 0);
    }
}

void sim_cdn_finish_ev(sim *w, sim_cdnjob *cj)
{
    if (cj->job) {
        cj->dead = 0;
        cdn_finish(w, cj, cj->fin_rc, cj->fin_status);
    }
    sim_cdnjob_unref(cj);
}

static void deliver_peer(sim *w, sim_chunk *c)
{
    sim_link *l = c->link;
    sim_end *src = &l->end[c->side], *dst = &l->end[!c->side];
    src->flow.inflight -= c->len;
    if (src->p && w->nodes[src->node].alive) sim_ser_add(w, &w->nodes[src->node].up, &src->flow, 0, src->node);
    if (!dst->p) return;
    if (c->kind == CH_FIN) {
        sim_end_close(w, dst, 1);
        return;
    }
    long rc = 0;
    if (c->nseg == 0) {
        rc = pf_peer_recv(dst->p, c->data, c->len, w->now);
    } else { /* control bytes and payload counts, in order */
        const uint8_t *d = c->data + c->nseg * sizeof(uint32_t);
        for (uint32_t k = 0; k < c->nseg && rc >= 0; k++) {
            uint32_t s;
            memcpy(&s, c->data + k * sizeof s, sizeof s);
            uint32_t n = s & ~SIM_SEG_PAY;
            if (s & SIM_SEG_PAY) {
                rc = pf_peer_recv_payload(dst->p, n, w->now);
            } else {
                rc = pf_peer_recv(dst->p, d, n, w->now);
                d += n;
            }
        }
    }
    sim_touch(w, dst->node);
    if (rc < 0) sim_end_close(w, dst, 1);
}

/* Through the downlink: the engine gets it. */
void sim_deliver(sim *w, sim_chunk *c)
{
    if (!w->nodes[c->to].alive) {
        sim_chunk_free(w, c);
        return;
    }
    if (c->kind == CH_CDN)
        deliver_cdn(w, c);
    else
        deliver_peer(w, c);
    sim_chunk_free(w, c);
}

/* ---- connections ------------------------------------------------------------------ */
void sim_link_unref(sim_link *l)
{
    if (--l->refs) return;
    free(l->end[0].q);
    free(l->end[1].q);
    free(l->end[0].pay);
    free(l->end[1].pay);
    free(l);
}

static void end_list_add(sim *w, sim_end *e)
{
    sim_node *nd = &w->nodes[e->node];
    e->lprev = NULL;
    e->lnext = nd->ends;
    if (nd->ends) nd->ends->lprev = e;
    nd->ends = e;
}

static void end_list_remove(sim *w, sim_end *e)
{
    sim_node *nd = &w->nodes[e->node];
    if (e->lprev)
        e->lprev->lnext = e->lnext;
    else if (nd->ends == e)
        nd->ends = e->lnext;
    if (e->lnext) e->lnext->lprev = e->lprev;
    e->lnext = e->lprev = NULL;
}

/* This side is closed: by its engine (PF_EV_CLOSE, a recv error: then
 * call_engine reports pf_peer_closed), by a FIN from the other side, or
 * because its viewer left (call_engine 0: the session is freed). */
void sim_end_close(sim *w, sim_end *e, int call_engine)
{
    if (!e->p) return;
    sim_link *l = e->link;
    pf_peer *p = e->p;
    e->p = NULL;
    ring_remove(&w->nodes[e->node].up, &e->flow);
    free(e->q);
    e->q = NULL;
    e->qoff = e->qlen = e->qcap = 0;
    free(e->pay);
    e->pay = NULL;
    e->pay_head = e->pay_n = e->pay_cap = 0;
    e->pay_bytes = 0;
    end_list_remove(w, e);
    if (call_engine) {
        pf_peer_closed(p, w->now);
        sim_touch(w, e->node);
    }
    sim_end *o = &l->end[!e->side];
    if (o->p) { /* the FIN follows what is on its way */
        sim_chunk *c = chunk_alloc(w, 0);
        if (!c) {
            sim_fail(w, "out of memory (FIN)");
        } else {
            chunk_count(w, c);
            c->kind = CH_FIN;
            c->to = o->node;
            c->link = l;
            c->side = e->side;
            l->refs++;
            push(w, w->now + l->oneway_ns, EV_DOWN_ARRIVE, 0, c);
        }
    }
    sim_link_unref(l); /* this end's reference */
}

void sim_node_addr(const sim *w, uint32_t node, uint8_t ip[4])
{
    uint32_t a = node + 1;
    ip[0] = 10;
    ip[1] = (uint8_t)(a >> 16);
    if (w->sc.nisp) {
        a = w->nodes[node].isp_idx + 1; /* < 2^20 (sim_setup checks) */
        ip[1] = (uint8_t)((uint32_t)w->nodes[node].isp << 4 | a >> 16);
    }
    ip[2] = (uint8_t)(a >> 8);
    ip[3] = (uint8_t)a;
}

uint32_t sim_addr_node(const sim *w, const uint8_t ip[4])
{
    if (ip[0] != 10) return UINT32_MAX;
    if (!w->sc.nisp) {
        uint32_t a = (uint32_t)ip[1] << 16 | (uint32_t)ip[2] << 8 | ip[3];
        return a && a - 1 < w->n ? a - 1 : UINT32_MAX;
    }
    uint32_t k = ip[1] >> 4, a = (uint32_t)(ip[1] & 15) << 16 | (uint32_t)ip[2] << 8 | ip[3];
    if (k >= w->sc.nisp || !a || a - 1 >= w->isp_n[k]) return UINT32_MAX;
    return w->isp_nodes[k][a - 1];
}

/* PF_EV_CONNECT from a viewer: the SYN leaves. */
void sim_dial(sim *w, uint32_t from, pf_peer *p, const pf_endpoint *ep)
{
    w->dials++;
    sim_link *l = calloc(1, sizeof *l);
    if (!l) {
        sim_fail(w, "out of memory (link)");
        pf_peer_closed(p, w->now); /* the dial failed */
        sim_touch(w, from);
        return;
    }
    const pf_addr *a = &ep->addr;
    uint32_t to = a->family == 4 ? sim_addr_node(w, a->ip) : UINT32_MAX;
    int valid = a->port == SIM_PORT && to < w->n && to != from;
    for (int s = 0; s < 2; s++) {
        l->end[s].link = l;
        l->end[s].side = s;
    }
    l->end[0].node = from;
    l->end[0].p = p;
    l->end[1].node = valid ? to : from;
    l->oneway_ns = sim_oneway(w, from, l->end[1].node);
    l->refused = !valid;
    if (a->port != SIM_PORT) w->dials_other_port++;
    if (to == from) w->dials_self++;
    const pf_sim_link_class *cf = &w->sc.cls[w->nodes[from].cls], *ct = &w->sc.cls[w->nodes[l->end[1].node].cls];
    uint64_t r01 = cf->up_Bps < ct->down_Bps ? cf->up_Bps : ct->down_Bps;
    uint64_t r10 = ct->up_Bps < cf->down_Bps ? ct->up_Bps : cf->down_Bps;
    l->end[0].flow.window = flow_window(r01, 2 * l->oneway_ns);
    l->end[1].flow.window = flow_window(r10, 2 * l->oneway_ns);
    l->refs = 2; /* the dialer's end, the SYN */
    pf_peer_set_ud(p, &l->end[0]);
    end_list_add(w, &l->end[0]);
    push(w, w->now + l->oneway_ns, EV_DIAL, 0, l);
}

/* The SYN reaches the other viewer: it accepts, or nobody is there. */
void sim_dial_arrive(sim *w, sim_link *l)
{
    uint32_t from = l->end[0].node, to = l->end[1].node;
    if (!l->end[0].p) { /* the dialer gave up */
        sim_link_unref(l);
        return;
    }
    sim_node *nt = &w->nodes[to];
    if (!l->refused && !nt->alive && w->sc.departed_silent) {
        w->dials_unanswered++; /* the dialer's engine times the dial out */
        sim_link_unref(l);     /* the SYN's reference */
        return;
    }
    if (!l->refused && nt->alive) {
        sim_node *nf = &w->nodes[from];
        pf_endpoint ep;
        memset(&ep, 0, sizeof ep);
        ep.transport = PF_TRANSPORT_TCP;
        ep.addr.family = 4;
        sim_node_addr(w, from, ep.addr.ip);
        ep.addr.port = (uint16_t)(20000 + nf->next_port++ % 45000);
        pf_peer *p = pf_session_accept(nt->s, &ep, w->now);
        sim_touch(w, to);
        if (!p) w->refused_accept++;
        if (p) {
            l->end[1].p = p;
            pf_peer_set_ud(p, &l->end[1]);
            end_list_add(w, &l->end[1]);
            l->refs++;
        }
    }
    l->refused = !l->end[1].p;
    push(w, w->now + l->oneway_ns, EV_DIAL_ACK, 0, l); /* reuses the SYN's reference */
}

void sim_dial_ack(sim *w, sim_link *l)
{
    sim_end *e = &l->end[0];
    if (e->p) {
        if (l->refused) {
            w->refused++;
            sim_end_close(w, e, 1);
        } else {
            pf_peer_connected(e->p, w->now);
            sim_touch(w, e->node);
        }
    }
    sim_link_unref(l);
}

/* Room for n more bytes at the end of e's backlog (what was serialized
 * is dropped first).  0, or -1 out of memory. */
static int q_reserve(sim_end *e, size_t n)
{
    if (e->qoff && e->qoff == e->qlen) {
        e->q_base += e->qoff;
        e->qoff = e->qlen = 0;
    }
    if (e->qlen + n <= e->qcap) return 0;
    if (e->qoff) { /* compact first */
        memmove(e->q, e->q + e->qoff, e->qlen - e->qoff);
        e->qlen -= e->qoff;
        e->q_base += e->qoff;
        e->qoff = 0;
    }
    size_t cap = e->qcap ? e->qcap : SIM_Q_MIN;
    while (cap < e->qlen + n) cap *= 2;
    uint8_t *q = realloc(e->q, cap);
    if (!q) return -1;
    e->q = q;
    e->qcap = cap;
    return 0;
}

/* A payload count due before the next byte appended to e's backlog. */
static int pay_push(sim_end *e, uint32_t len)
{
    if (e->pay_n == e->pay_cap) {
        uint32_t cap = e->pay_cap ? e->pay_cap * 2 : 8;
        struct sim_pay *p = malloc(cap * sizeof *p);
        if (!p) return -1;
        for (uint32_t i = 0; i < e->pay_n; i++) p[i] = e->pay[(e->pay_head + i) % e->pay_cap];
        free(e->pay);
        e->pay = p;
        e->pay_cap = cap;
        e->pay_head = 0;
    }
    e->pay[(e->pay_head + e->pay_n) % e->pay_cap] = (struct sim_pay){.at = e->q_base + e->qlen, .len = len};
    e->pay_n++;
    e->pay_bytes += len;
    return 0;
}

/* PF_EV_WRITE with elided payload: the control bytes into the backlog,
 * each PIECE payload (a splice of no bytes) as a count. */
static void end_take_elided(sim *w, sim_end *e)
{
    pf_out o;
    size_t n = pf_peer_take_output_zc(e->p, &o);
    if (!n) {
        pf_out_release(&o);
        return;
    }
    const uint8_t *h = o.buf.data + o.buf.off;
    size_t nctl = o.buf.len - o.buf.off, at = 0;
    int bad = q_reserve(e, nctl);
    for (size_t i = 0; i < o.nsp && !bad; i++) {
        memcpy(e->q + e->qlen, h + at, o.sp[i].at - at);
        e->qlen += o.sp[i].at - at;
        at = o.sp[i].at;
        if (o.sp[i].len) bad = pay_push(e, (uint32_t)o.sp[i].len);
    }
    if (!bad) {
        memcpy(e->q + e->qlen, h + at, nctl - at);
        e->qlen += nctl - at;
    }
    pf_out_release(&o);
    if (bad) {
        sim_fail(w, "out of memory (send queue)");
        return;
    }
    sim_ser_add(w, &w->nodes[e->node].up, &e->flow, 0, e->node);
}

/* PF_EV_WRITE: take the engine's output into this side's backlog. */
void sim_end_take(sim *w, sim_end *e)
{
    if (!w->sc.payload_real) {
        end_take_elided(w, e);
        return;
    }
    pf_buf b;
    pf_buf_init(&b);
    size_t n = pf_peer_take_output(e->p, &b);
    if (!n) {
        pf_buf_free(&b);
        return;
    }
    const uint8_t *src = b.data + b.off;
    if (e->qoff && e->qoff == e->qlen) e->qoff = e->qlen = 0;
    if (e->qlen + n > e->qcap) {
        if (e->qoff) { /* compact first */
            memmove(e->q, e->q + e->qoff, e->qlen - e->qoff);
            e->qlen -= e->qoff;
            e->qoff = 0;
        }
        size_t cap = e->qcap ? e->qcap : SIM_Q_MIN;
        while (cap < e->qlen + n) cap *= 2;
        uint8_t *q = realloc(e->q, cap);
        if (!q) {
            pf_buf_free(&b);
            sim_fail(w, "out of memory (send queue)");
            return;
        }
        e->q = q;
        e->qcap = cap;
    }
    memcpy(e->q + e->qlen, src, n);
    e->qlen += n;
    pf_buf_free(&b);
    sim_ser_add(w, &w->nodes[e->node].up, &e->flow, 0, e->node);
}

/* ---- the CDN --------------------------------------------------------------------- */
void sim_cdnjob_unref(sim_cdnjob *cj)
{
    if (--cj->refs == 0) free(cj);
}

static void cdn_unlink(sim *w, sim_cdnjob *cj)
{
    sim_node *nd = &w->nodes[cj->node];
    if (cj->nprev)
        cj->nprev->nnext = cj->nnext;
    else if (nd->jobs == cj)
        nd->jobs = cj->nnext;
    if (cj->nnext) cj->nnext->nprev = cj->nprev;
    cj->nnext = cj->nprev = NULL;
}

/* Reports the job done (unless its viewer is gone) and forgets it. */
static void cdn_finish(sim *w, sim_cdnjob *cj, int result, long status)
{
    if (cj->dead) return;
    cj->dead = 1;
    ring_remove(&w->cdn, &cj->flow);
    cdn_unlink(w, cj);
    pf_job *j = cj->job;
    cj->job = NULL;
    sim_node *nd = &w->nodes[cj->node];
    if (j && nd->alive) {
        j->io = NULL;
        j->result = result;
        j->status = status;
        pf_torrent_job_done(nd->t, j, w->now);
        sim_touch(w, cj->node);
    }
    sim_cdnjob_unref(cj); /* the node's list */
}

void sim_cdn_request(sim *w, uint32_t node, pf_job *j)
{
    sim_node *nd = &w->nodes[node];
    w->cdn_requests++;
    if (j->range_len == 0 || j->range_start > w->size || j->range_len > w->size - j->range_start) {
        j->result = 0;
        j->status = 416;
        pf_torrent_job_done(nd->t, j, w->now);
        return;
    }
    sim_cdnjob *cj = calloc(1, sizeof *cj);
    if (!cj) {
        j->result = PF_ERR_NOMEM;
        pf_torrent_job_done(nd->t, j, w->now);
        sim_fail(w, "out of memory (CDN job)");
        return;
    }
    const pf_sim_link_class *lc = &w->sc.cls[nd->cls];
    uint64_t rate = lc->down_Bps < w->sc.cdn_Bps ? lc->down_Bps : w->sc.cdn_Bps;
    cj->job = j;
    cj->node = node;
    cj->start = j->range_start;
    cj->len = j->range_len;
    cj->flow.window = flow_window(rate, 2 * (lc->latency_ns + w->sc.cdn_latency_ns));
    cj->refs = 2; /* the node's list, the request on its way */
    j->io = cj;
    cj->nnext = nd->jobs;
    if (nd->jobs) nd->jobs->nprev = cj;
    nd->jobs = cj;
    push(w, w->now + lc->latency_ns + w->sc.cdn_latency_ns, EV_CDN_START, 0, cj);
}

void sim_cdn_start(sim *w, sim_cdnjob *cj)
{
    if (!cj->dead) sim_ser_add(w, &w->cdn, &cj->flow, 1, 0);
    sim_cdnjob_unref(cj);
}

void sim_cdn_cancel(sim *w, pf_job *j)
{
    sim_cdnjob *cj = j->io;
    if (!cj) return;
    w->cdn_cancels++;
    cdn_finish(w, cj, PF_ERR_SHUTDOWN, 0);
}

/* The viewer leaves: its GETs stop.  Each is reported ended to its engine
 * first: pf_session_free frees the jobs still queued as events, not those
 * handed out (docs/SIM.md). */
void sim_cdn_drop_node(sim *w, uint32_t node)
{
    sim_node *nd = &w->nodes[node];
    while (nd->jobs) {
        sim_cdnjob *cj = nd->jobs;
        pf_job *j = cj->job;
        cj->dead = 1;
        cj->job = NULL;
        ring_remove(&w->cdn, &cj->flow);
        cdn_unlink(w, cj);
        if (j) {
            j->io = NULL;
            j->result = PF_ERR_SHUTDOWN;
            pf_torrent_job_done(nd->t, j, w->now);
        }
        sim_cdnjob_unref(cj);
    }
}
