/* One uTP connection: the send path (a ring of written bytes cut into
 * packets at send time, Nagle, windows, retransmissions), the receive
 * path (in-order delivery, a bounded reorder buffer, selective ACKs,
 * delayed ACKs), the handshake, FIN/half-close and the timers.  Packets
 * keep no bytes of their own: a retransmission re-reads its payload from
 * the ring and gets a fresh header (ack_nr, selective ACK, timestamps). */
#include <string.h>

#include "core/util/buf.h"
#include "core/util/mem.h"
#include "core/utp/utp_int.h"

#define NS_PER_MS 1000000ull
#define ACK_SLACK 64     /* how far below the acked range an ack_nr may lag */
#define MAX_REORDER 128  /* the most reordering (packets) we learn to tolerate */

uint32_t pf__utp_us(uint64_t now) { return (uint32_t)(now / 1000u); }
uint32_t pf__utp_mss(const pf_utp_conn *c) { return (uint32_t)c->ctx->set.mtu - PF_UTP_HEADER; }

static uint16_t outstanding(const pf_utp_conn *c) { return (uint16_t)(c->seq_nr - c->acked_seq_nr - 1); }
static pf__utp_pkt *slot(const pf_utp_conn *c, uint16_t s) { return &c->ob[s & (c->ob_cap - 1)]; }

static uint32_t recv_window(const pf_utp_conn *c)
{
    uint32_t cap = c->ctx->set.recv_buffer;
    return c->rb_bytes >= cap ? 0 : cap - c->rb_bytes;
}

pf_utp_conn *pf__utp_conn_alloc(pf_utp_ctx *x, const pf_addr *peer, uint64_t now)
{
    pf_utp_conn *c = pf__calloc(x->mem, 1, sizeof *c);
    if (!c) return NULL;
    c->ob_cap = 16;
    c->ob = pf__calloc(x->mem, c->ob_cap, sizeof *c->ob);
    if (!c->ob) {
        pf__free(x->mem, c);
        return NULL;
    }
    c->ctx = x;
    c->peer = *peer;
    c->heap_idx = UINT32_MAX;
    c->created = c->last_recv = c->last_send = now;
    c->peer_wnd = x->set.recv_buffer;
    c->reorder = 3;
    pf__utp_cc_init(c);
    return c;
}

void pf__utp_conn_free(pf_utp_conn *c)
{
    const pf_mem *m = c->ctx->mem;
    if (c->rb) {
        for (uint32_t i = 0; i < c->rb_cap; i++) pf__free(m, c->rb[i].data);
        pf__free(m, c->rb);
    }
    pf__free(m, c->ob);
    pf__free(m, c->sbuf);
    pf__free(m, c);
}

/* ---- the send ring --------------------------------------------------------- */
static void ring_get(const uint8_t *ring, uint32_t cap, uint64_t off, uint8_t *dst, size_t n)
{
    size_t i = (size_t)(off % cap), first = cap - i < n ? cap - i : n;
    memcpy(dst, ring + i, first);
    memcpy(dst + first, ring, n - first);
}

static void ring_put(uint8_t *ring, uint32_t cap, uint64_t off, const uint8_t *src, size_t n)
{
    size_t i = (size_t)(off % cap), first = cap - i < n ? cap - i : n;
    memcpy(ring + i, src, first);
    memcpy(ring, src + first, n - first);
}

/* Room for `need` bytes from s_una on (need <= send_buffer). */
static int sbuf_reserve(pf_utp_conn *c, uint64_t need)
{
    if (need <= c->scap) return 0;
    uint32_t max = c->ctx->set.send_buffer, ncap = c->scap ? c->scap : 16384;
    while (ncap < need && ncap < max) ncap = ncap > max / 2 ? max : ncap * 2;
    if (ncap > max) ncap = max;
    uint8_t *nb = pf__malloc(c->ctx->mem, ncap);
    if (!nb) return PF_ERR_NOMEM;
    uint8_t tmp[4096];
    for (uint64_t off = c->s_una; off < c->s_end;) {
        size_t k = c->s_end - off < sizeof tmp ? (size_t)(c->s_end - off) : sizeof tmp;
        ring_get(c->sbuf, c->scap, off, tmp, k);
        ring_put(nb, ncap, off, tmp, k);
        off += k;
    }
    pf__free(c->ctx->mem, c->sbuf);
    c->sbuf = nb;
    c->scap = ncap;
    return 0;
}

static int ob_grow(pf_utp_conn *c)
{
    if (c->ob_cap >= PF_UTP_MAX_OUTSTANDING) return 0;
    uint32_t ncap = c->ob_cap * 2;
    pf__utp_pkt *n = pf__calloc(c->ctx->mem, ncap, sizeof *n);
    if (!n) return 0;
    for (uint16_t s = (uint16_t)(c->acked_seq_nr + 1); s != c->seq_nr; s++) n[s & (ncap - 1)] = *slot(c, s);
    pf__free(c->ctx->mem, c->ob);
    c->ob = n;
    c->ob_cap = ncap;
    return 1;
}

/* ---- packets out ------------------------------------------------------------ */
static size_t sack_need(const pf_utp_conn *c)
{
    if (!c->rb_count) return 0;
    uint32_t bits = (uint16_t)(c->rb_hi - c->ack_nr - 1);
    size_t n = (bits + 31) / 32 * 4;
    return n > PF__UTP_MAX_SACK ? PF__UTP_MAX_SACK : n;
}

static void put_sack(const pf_utp_conn *c, uint8_t *o, size_t len)
{
    memset(o, 0, len);
    uint16_t first = (uint16_t)(c->ack_nr + 2);
    for (size_t i = 0; i < len * 8; i++) {
        uint16_t s = (uint16_t)(first + i);
        const pf__utp_rpkt *r = &c->rb[s & (c->rb_cap - 1)];
        if (r->used && r->data && pf__seq_dist(c->ack_nr, s) <= c->rb_cap) o[i / 8] |= (uint8_t)(1u << (i % 8));
    }
}

static void arm_rto(pf_utp_conn *c, uint64_t now)
{
    if (!c->rto_at) c->rto_at = now + pf__utp_rto_ns(c);
}

/* Builds and sends one packet; p (NULL for STATE) names the payload. */
static void emit(pf_utp_conn *c, int type, uint16_t seq, const pf__utp_pkt *p, uint64_t now)
{
    pf_utp_ctx *x = c->ctx;
    uint8_t *b = x->pkt;
    size_t len = p ? p->len : 0, mtu = x->set.mtu;
    int syn = type == PF__UTP_SYN;
    pf__utp_put_hdr(b, type, syn ? c->recv_id : c->send_id, pf__utp_us(now), c->reply_micro, recv_window(c), seq,
                    syn ? 0 : c->ack_nr);
    size_t off = PF_UTP_HEADER, sb = syn ? 0 : sack_need(c);
    if (sb && off + 2 + sb + len > mtu) {
        size_t room = mtu > off + 2 + len ? (mtu - off - 2 - len) & ~(size_t)3 : 0;
        sb = room < sb ? room : sb;
    }
    if (sb) {
        b[1] = PF__UTP_EXT_SACK;
        b[off] = 0;
        b[off + 1] = (uint8_t)sb;
        put_sack(c, b + off + 2, sb);
        off += 2 + sb;
    }
    if (len) ring_get(c->sbuf, c->scap, p->off, b + off, len);
    pf__utp_send_raw(x, &c->peer, b, off + len);
    c->last_send = now;
    c->st.packets_out++;
    if (!syn) {
        c->acks_pending = 0;
        c->ack_at = 0;
    }
}

void pf__utp_conn_send_state(pf_utp_conn *c, uint64_t now) { emit(c, PF__UTP_STATE, c->seq_nr, NULL, now); }

void pf__utp_conn_send_syn(pf_utp_conn *c, uint64_t now)
{
    pf__utp_pkt *p = slot(c, c->seq_nr);
    memset(p, 0, sizeof *p);
    p->type = PF__UTP_SYN;
    p->tx = 1;
    p->flags = PF__PKT_USED | PF__PKT_INFLIGHT;
    p->sent_at = now;
    p->off = c->s_una;
    emit(c, PF__UTP_SYN, c->seq_nr, p, now);
    c->seq_nr++;
    c->out_since = now;
    arm_rto(c, now);
}

static void retransmit(pf_utp_conn *c, uint16_t s, pf__utp_pkt *p, uint64_t now)
{
    if (p->flags & PF__PKT_LOST) {
        p->flags &= (uint8_t)~PF__PKT_LOST;
        c->nlost--;
    }
    if (!(p->flags & PF__PKT_INFLIGHT)) {
        p->flags |= PF__PKT_INFLIGHT;
        c->flight += p->len;
    }
    if (p->tx < 255) p->tx++;
    p->sent_at = now;
    c->st.retransmits++;
    emit(c, p->type, s, p, now);
    arm_rto(c, now);
}

/* Sends what the windows allow: retransmissions first, then new data cut
 * from the ring, then the FIN. */
/* The wait after a packet of len bytes sent on a window below one packet
 * (wnd < len): len/wnd RTTs, at most a second.  A window of 0 (the peer
 * advertised none) makes that one packet a probe sent once a second,
 * not an infinite wait (fuzz_utp: inf converted to an integer). */
static uint64_t pace_gap(const pf_utp_conn *c, uint32_t len, uint32_t wnd)
{
    double rtt_ns = (c->have_rtt ? (double)c->srtt : 100000.0) * 1000.0;
    double gap = rtt_ns * (double)len / (double)(wnd ? wnd : 1);
    return gap < 1e9 ? (uint64_t)gap : 1000000000u;
}

void pf__utp_conn_flush(pf_utp_conn *c, uint64_t now)
{
    /* An accepted connection sends nothing but its STATE until the peer's
     * next packet proves the SYN's address is the peer's: a spoofed SYN
     * cannot turn us into an amplifier aimed at someone else. */
    if (c->state != PF_UTP_CONNECTED) return;
    uint32_t wnd = pf__utp_cc_window(c);
    if (c->peer_wnd < wnd) wnd = c->peer_wnd;
    uint32_t mtu = c->ctx->set.mtu;
    int blocked = 0;
    if (c->nlost) {
        uint16_t first = (uint16_t)(c->acked_seq_nr + 1);
        for (uint16_t s = first; s != c->seq_nr && c->nlost; s++) {
            pf__utp_pkt *p = slot(c, s);
            if (!(p->flags & PF__PKT_LOST)) continue;
            /* the oldest hole goes out whatever the window (a fast
             * retransmit, or the one packet after a timeout) */
            if (s != first && c->flight > 0 && c->flight + p->len > wnd) {
                blocked = 1;
                goto out;
            }
            retransmit(c, s, p, now);
        }
    }
    if (c->s_nxt < c->s_end && c->idle_since) {
        pf__utp_cc_restart(c, now);
        c->idle_since = 0;
        wnd = pf__utp_cc_window(c);
        if (c->peer_wnd < wnd) wnd = c->peer_wnd;
    }
    while (c->s_nxt < c->s_end) {
        if (outstanding(c) >= c->ob_cap && !ob_grow(c)) goto out;
        if (c->ctx->cb.can_send && !c->ctx->cb.can_send(c->ctx->ud)) goto out; /* pf_utp_flush resumes */
        size_t sb = sack_need(c);
        uint32_t room = mtu - PF_UTP_HEADER - (uint32_t)(sb ? sb + 2 : 0);
        uint32_t len = c->s_end - c->s_nxt < room ? (uint32_t)(c->s_end - c->s_nxt) : room;
        if (c->flight > 0 && c->flight + len > wnd) {
            blocked = 1;
            goto out;
        }
        /* a window below one packet: one packet every len/wnd RTTs */
        if (len > wnd && c->pace_at > now) {
            blocked = 1;
            goto out;
        }
        if (len < room && c->ctx->set.nagle && c->nagle_out && !c->shut_wr) goto out;
        uint16_t s = c->seq_nr;
        pf__utp_pkt *p = slot(c, s);
        p->off = c->s_nxt;
        p->len = (uint16_t)len;
        p->above = 0;
        p->type = PF__UTP_DATA;
        p->tx = 1;
        p->flags = PF__PKT_USED | PF__PKT_INFLIGHT;
        p->sent_at = now;
        if (!outstanding(c)) c->out_since = now;
        c->s_nxt += len;
        c->flight += len;
        c->st.bytes_out += len;
        if (len < room) {
            c->nagle_out = 1;
            c->nagle_seq = s;
        }
        emit(c, PF__UTP_DATA, s, p, now);
        c->seq_nr++;
        arm_rto(c, now);
        c->pace_at = len > wnd ? now + pace_gap(c, len, wnd) : 0;
    }
    if (c->shut_wr && !c->fin_sent && outstanding(c) < c->ob_cap) {
        uint16_t s = c->seq_nr;
        pf__utp_pkt *p = slot(c, s);
        memset(p, 0, sizeof *p);
        p->off = c->s_nxt;
        p->type = PF__UTP_FIN;
        p->tx = 1;
        p->flags = PF__PKT_USED | PF__PKT_INFLIGHT;
        p->sent_at = now;
        if (!outstanding(c)) c->out_since = now;
        c->fin_sent = 1;
        emit(c, PF__UTP_FIN, s, p, now);
        c->seq_nr++;
        arm_rto(c, now);
    }
out:
    /* the window is what limits us when it stopped the sending or is
     * (nearly) full anyway (the send buffer ran dry at the same time) */
    c->cwnd_limited = (uint8_t)(blocked || c->flight + pf__utp_mss(c) > wnd);
}

/* ---- acknowledgements in ------------------------------------------------------ */
typedef struct ack_acc {
    uint32_t bytes;
    uint32_t min_rtt;
    int progress, newly_sacked;
} ack_acc;

/* A packet acked (cumulatively or selectively) for the first time. */
static void count_acked(pf_utp_conn *c, uint16_t s, pf__utp_pkt *p, uint64_t now, ack_acc *a)
{
    if (p->flags & PF__PKT_SACKED) return;
    /* An ack for a retransmission sooner than half the smallest RTT
     * acks the original: it was late, not lost.  Tolerate that much
     * reordering from now on, and undo the window cut it caused. */
    if (p->tx == 2 && c->min_rtt && now >= p->sent_at && (now - p->sent_at) / 1000u < c->min_rtt / 2) {
        c->st.spurious++;
        uint32_t r = (uint32_t)p->above + 1;
        if (r > MAX_REORDER) r = MAX_REORDER;
        if (r > c->reorder) c->reorder = (uint16_t)r;
        if (c->undo_ok && c->undo_seq == s) {
            c->undo_ok = 0;
            if (c->cwnd < c->undo_cwnd) c->cwnd = c->undo_cwnd;
            if (c->ssthresh < c->undo_ssthresh) c->ssthresh = c->undo_ssthresh;
        }
    }
    a->bytes += p->len;
    if (p->flags & PF__PKT_INFLIGHT) c->flight -= p->len;
    if (p->flags & PF__PKT_LOST) c->nlost--;
    if (p->tx == 1 && now >= p->sent_at) {
        uint64_t r = (now - p->sent_at) / 1000u;
        if (r < a->min_rtt) a->min_rtt = r > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)r;
    }
    if (c->nagle_out && c->nagle_seq == s) c->nagle_out = 0;
}

static void mark_lost(pf_utp_conn *c, uint16_t s, pf__utp_pkt *p, uint64_t now)
{
    if (p->flags & (PF__PKT_LOST | PF__PKT_SACKED)) return;
    if (p->flags & PF__PKT_INFLIGHT) {
        p->flags &= (uint8_t)~PF__PKT_INFLIGHT;
        c->flight -= p->len;
    }
    p->flags |= PF__PKT_LOST;
    c->nlost++;
    c->st.fast_retransmits++;
    if (!pf__seq_lt(s, c->fast_seq)) c->fast_seq = (uint16_t)(s + 1); /* no duplicate-ACK resend of it */
    pf__utp_cc_loss(c, s, now);
}

/* A packet with three selectively acked packets above it is lost (RFC
 * 6675's DupThresh); a retransmission is lost again when three packets
 * sent after it were acked. */
static void detect_losses(pf_utp_conn *c, uint64_t now)
{
    uint16_t first = (uint16_t)(c->acked_seq_nr + 1);
    uint32_t above = 0;
    for (uint16_t s = (uint16_t)(c->seq_nr - 1); s != c->acked_seq_nr; s--) {
        pf__utp_pkt *p = slot(c, s);
        if (!(p->flags & PF__PKT_USED)) continue;
        if (p->flags & PF__PKT_SACKED) {
            above++;
            continue;
        }
        if (above > p->above) p->above = above > UINT16_MAX ? UINT16_MAX : (uint16_t)above;
        if (above >= c->reorder && p->tx == 1) mark_lost(c, s, p, now);
    }
    pf__utp_pkt *p = slot(c, first);
    if (first != c->seq_nr && (p->flags & PF__PKT_USED) && p->tx > 1 &&
        (p->flags & (PF__PKT_SACKED | PF__PKT_LOST)) == 0) {
        uint32_t later = 0;
        for (uint16_t s = (uint16_t)(first + 1); s != c->seq_nr && later < c->reorder; s++) {
            pf__utp_pkt *q = slot(c, s);
            if ((q->flags & PF__PKT_SACKED) && q->sent_at > p->sent_at) later++;
        }
        if (later >= c->reorder) mark_lost(c, first, p, now);
    }
}

static void process_acks(pf_utp_conn *c, const pf__utp_hdr *h, uint64_t now, ack_acc *a)
{
    if (pf__seq_lt(c->acked_seq_nr, h->ack)) {
        for (uint16_t s = (uint16_t)(c->acked_seq_nr + 1);; s++) {
            pf__utp_pkt *p = slot(c, s);
            if (p->flags & PF__PKT_USED) {
                count_acked(c, s, p, now, a);
                if (p->type == PF__UTP_FIN) c->fin_acked = 1;
                if (p->type == PF__UTP_DATA) c->s_una = p->off + p->len;
                p->flags = 0;
            }
            if (s == h->ack) break;
        }
        c->acked_seq_nr = h->ack;
        if (pf__seq_lt(c->loss_seq, c->acked_seq_nr)) c->loss_seq = c->acked_seq_nr;
        c->dup_acks = 0;
        a->progress = 1;
        if (pf__seq_lt(c->fast_seq, (uint16_t)(c->acked_seq_nr + 1))) c->fast_seq = (uint16_t)(c->acked_seq_nr + 1);
    } else if (h->ack == c->acked_seq_nr && h->type == PF__UTP_STATE && outstanding(c)) {
        c->dup_acks++;
    }
    if (h->sack) {
        uint16_t s = (uint16_t)(h->ack + 2);
        for (size_t i = 0; i < (size_t)h->sack_len * 8 && s != c->seq_nr; i++, s++) {
            if (!(h->sack[i / 8] & (1u << (i % 8)))) continue;
            if (!pf__seq_lt(c->acked_seq_nr, s)) continue;
            pf__utp_pkt *p = slot(c, s);
            if ((p->flags & PF__PKT_USED) && !(p->flags & PF__PKT_SACKED)) {
                count_acked(c, s, p, now, a);
                p->flags = PF__PKT_USED | PF__PKT_SACKED;
                a->newly_sacked++;
            }
        }
    }
    uint16_t first = (uint16_t)(c->acked_seq_nr + 1);
    if (c->dup_acks >= c->reorder && first != c->seq_nr && c->fast_seq == first) {
        pf__utp_pkt *p = slot(c, first);
        if (p->flags & PF__PKT_USED) mark_lost(c, first, p, now);
        c->fast_seq = (uint16_t)(first + 1);
    }
    if (a->newly_sacked) detect_losses(c, now);
}

/* ---- data in ------------------------------------------------------------------ */
static int deliver(pf_utp_conn *c, const uint8_t *d, size_t n)
{
    c->st.bytes_in += n;
    if (n && !c->closing && c->ctx->cb.read) c->ctx->cb.read(c->ctx->ud, c, d, n);
    return c->state != PF_UTP_CLOSED;
}

static int rb_grow(pf_utp_conn *c, uint32_t need)
{
    uint32_t ncap = c->rb_cap ? c->rb_cap : 64;
    while (ncap < need) ncap *= 2;
    if (ncap > PF_UTP_MAX_REORDER) return 0;
    if (ncap == c->rb_cap) return 1;
    pf__utp_rpkt *n = pf__calloc(c->ctx->mem, ncap, sizeof *n);
    if (!n) return 0;
    for (uint32_t i = 0; i < c->rb_cap; i++) {
        if (!c->rb[i].used) continue;
        uint16_t s = (uint16_t)(c->ack_nr + 1);
        /* find the slot's sequence number: the one in the window that maps here */
        uint16_t d = (uint16_t)((i - (uint32_t)s) & (c->rb_cap - 1));
        s = (uint16_t)(s + d);
        n[s & (ncap - 1)] = c->rb[i];
    }
    pf__free(c->ctx->mem, c->rb);
    c->rb = n;
    c->rb_cap = ncap;
    return 1;
}

/* An out-of-order packet: held if the buffers allow.  Returns 1 if new. */
static int rb_store(pf_utp_conn *c, uint16_t s, const uint8_t *d, size_t n)
{
    uint16_t dist = pf__seq_dist(c->ack_nr, s);
    if (dist > c->rb_cap && !rb_grow(c, dist)) return 0;
    pf__utp_rpkt *r = &c->rb[s & (c->rb_cap - 1)];
    if (r->used) return 0;
    if (c->rb_bytes + n + 64 > c->ctx->set.recv_buffer) return 0;
    uint8_t *copy = pf__malloc(c->ctx->mem, n);
    if (!copy) return 0;
    memcpy(copy, d, n);
    r->data = copy;
    r->len = (uint16_t)n;
    r->used = 1;
    c->rb_count++;
    c->rb_bytes += (uint32_t)n + 64;
    if (c->rb_count == 1 || pf__seq_lt(c->rb_hi, s)) c->rb_hi = s;
    return 1;
}

/* Delivers held packets that are now in order.  0 if the connection closed. */
static int rb_drain(pf_utp_conn *c)
{
    while (c->rb_count) {
        uint16_t s = (uint16_t)(c->ack_nr + 1);
        pf__utp_rpkt *r = &c->rb[s & (c->rb_cap - 1)];
        if (!r->used) break;
        uint8_t *d = r->data;
        size_t n = r->len;
        r->data = NULL;
        r->used = 0;
        r->len = 0;
        c->rb_count--;
        c->rb_bytes -= (uint32_t)n + 64;
        c->ack_nr = s;
        int alive = deliver(c, d, n);
        pf__free(c->ctx->mem, d);
        if (!alive) return 0;
    }
    return 1;
}

static void check_eof(pf_utp_conn *c)
{
    if (!c->got_fin || c->eof || (uint16_t)(c->ack_nr + 1) != c->eof_seq) return;
    c->ack_nr = c->eof_seq;
    c->eof = 1;
    if (!c->closing && !c->eof_told) {
        c->eof_told = 1;
        if (c->ctx->cb.read) c->ctx->cb.read(c->ctx->ud, c, NULL, 0);
    }
}

/* Once both directions are done: closed(0). */
static void check_done(pf_utp_conn *c, uint64_t now)
{
    if (c->state == PF_UTP_CLOSED || !c->fin_acked) return;
    if (c->eof && (c->closing || c->eof_told)) {
        pf__utp_die(c, 0);
        return;
    }
    if (c->closing && !c->linger_at) c->linger_at = now + (uint64_t)c->ctx->set.linger_ms * NS_PER_MS;
}

/* Is h's ack_nr one we could have caused?  Not beyond what we sent, not
 * far below what is already acked (an off-path guess, or a very old
 * packet).  An unconfirmed connection wants the exact value. */
static int ack_plausible(const pf_utp_conn *c, uint16_t ack)
{
    uint16_t back = pf__seq_dist(ack, (uint16_t)(c->seq_nr - 1));
    return back <= (uint32_t)outstanding(c) + (c->confirmed ? ACK_SLACK : 0);
}

void pf__utp_conn_recv(pf_utp_conn *c, const pf__utp_hdr *h, uint64_t now)
{
    pf_utp_ctx *x = c->ctx;
    int just_connected = 0;
    if (h->type == PF__UTP_SYN) { /* a retransmitted SYN: ack it again */
        if (c->state == PF_UTP_SYN_RECV || c->state == PF_UTP_CONNECTED) pf__utp_conn_send_state(c, now);
        return;
    }
    if (c->state == PF_UTP_SYN_SENT) {
        if (h->ack != (uint16_t)(c->seq_nr - 1)) {
            x->st.invalid++;
            return;
        }
        c->state = PF_UTP_CONNECTED;
        c->confirmed = 1;
        c->ack_nr = (uint16_t)(h->seq - 1);
        just_connected = 1;
    } else if (!ack_plausible(c, h->ack)) {
        x->st.invalid++;
        return;
    }
    uint16_t d = pf__seq_dist(c->ack_nr, h->seq);
    int has_seq = h->type == PF__UTP_DATA || h->type == PF__UTP_FIN;
    if (has_seq && d != 0 && !(d & 0x8000) && d > PF_UTP_MAX_REORDER) { /* far ahead: not ours */
        x->st.invalid++;
        return;
    }
    if (c->state == PF_UTP_SYN_RECV) {
        c->state = PF_UTP_CONNECTED;
        c->confirmed = 1;
    }
    c->last_recv = now;
    c->ntimeouts = 0;
    c->st.packets_in++;

    /* one-way delays: theirs on our packets (ts_diff), ours on theirs */
    if (h->ts) {
        c->reply_micro = pf__utp_us(now) - h->ts;
        pf__utp_delay_add(&c->their, c->reply_micro, now, x->set.base_history);
        c->their_delay = pf__utp_delay_value(&c->their);
    }
    if (h->ts_diff && h->ts_diff != 0x7fffffffu) pf__utp_delay_add(&c->our, h->ts_diff, now, x->set.base_history);
    if (h->wnd || h->type != PF__UTP_SYN) c->peer_wnd = h->wnd;

    uint32_t flight_before = c->flight;
    ack_acc a = {.min_rtt = UINT32_MAX};
    process_acks(c, h, now, &a);
    if (a.min_rtt != UINT32_MAX) pf__utp_rtt_sample(c, a.min_rtt);
    if (a.progress) {
        if (outstanding(c)) {
            c->rto_at = now + pf__utp_rto_ns(c);
            c->out_since = now;
        } else {
            c->rto_at = 0;
            c->out_since = 0;
            c->idle_since = now;
        }
    }
    if (a.bytes && flight_before) pf__utp_cc_ack(c, a.bytes, flight_before, a.min_rtt, now);

    if (just_connected && x->cb.connected) {
        x->cb.connected(x->ud, c);
        if (c->state == PF_UTP_CLOSED) return;
    }

    /* payload and FIN */
    int ack_now = 0;
    if (has_seq) {
        if (d == 0 || (d & 0x8000)) { /* already had it: our ACK got lost */
            c->st.dup_packets_in++;
            c->acks_pending++;
            ack_now = 1;
        } else if (c->got_fin && h->type == PF__UTP_DATA && !pf__seq_lt(h->seq, c->eof_seq)) {
            x->st.invalid++; /* at or past the FIN */
        } else if (h->type == PF__UTP_FIN) {
            if (!c->got_fin) {
                c->got_fin = 1;
                c->eof_seq = h->seq;
            }
            c->acks_pending++;
            ack_now = 1;
            check_eof(c);
            if (c->state == PF_UTP_CLOSED) return;
        } else if (d == 1) {
            int had_holes = c->rb_count != 0;
            c->ack_nr = h->seq;
            if (!deliver(c, h->payload, h->payload_len)) return;
            if (!rb_drain(c)) return;
            check_eof(c);
            if (c->state == PF_UTP_CLOSED) return;
            c->acks_pending++;
            if (h->payload_len > c->peer_max_payload) c->peer_max_payload = (uint16_t)h->payload_len;
            if (had_holes || c->acks_pending >= x->set.ack_every || h->payload_len < c->peer_max_payload)
                ack_now = 1;
        } else {
            if (!rb_store(c, h->seq, h->payload, h->payload_len)) c->st.dup_packets_in++;
            c->acks_pending++;
            ack_now = 1;
        }
    }

    pf__utp_conn_flush(c, now);
    if (c->acks_pending) {
        if (ack_now)
            pf__utp_conn_send_state(c, now);
        else if (!c->ack_at)
            c->ack_at = now + (uint64_t)x->set.ack_delay_us * 1000u;
    }
    check_done(c, now);
    if (c->state == PF_UTP_CLOSED) return;
    pf__utp_conn_writable(c);
}

/* The writable callback, when a write was short and there is room again.
 * Called last: the user may write or close from inside it. */
void pf__utp_conn_writable(pf_utp_conn *c)
{
    pf_utp_ctx *x = c->ctx;
    if (!c->want_writable || !x->cb.writable || c->shut_wr || c->state == PF_UTP_CLOSED) return;
    uint64_t used = c->s_end - c->s_una;
    if (used + x->set.send_buffer / 4 > x->set.send_buffer) return;
    if (x->set.notsent_lowat && c->s_end - c->s_nxt >= x->set.notsent_lowat) return;
    c->want_writable = 0;
    x->cb.writable(x->ud, c);
}

/* ---- timers -------------------------------------------------------------------- */
static void on_rto(pf_utp_conn *c, uint64_t now)
{
    c->rto_at = 0;
    if (!outstanding(c)) {
        pf__utp_conn_flush(c, now);
        return;
    }
    if (c->state == PF_UTP_SYN_RECV) { /* unconfirmed: maybe a spoofed SYN */
        pf__utp_die(c, PF_ERR_TIMEOUT);
        return;
    }
    c->ntimeouts++;
    c->st.timeouts++;
    if (c->backoff < 8) c->backoff++;
    if (c->state == PF_UTP_SYN_SENT) {
        uint16_t s = (uint16_t)(c->seq_nr - 1);
        retransmit(c, s, slot(c, s), now);
        return;
    }
    pf__utp_cc_timeout(c, now);
    for (uint16_t s = (uint16_t)(c->acked_seq_nr + 1); s != c->seq_nr; s++) {
        pf__utp_pkt *p = slot(c, s);
        if (!(p->flags & PF__PKT_USED) || (p->flags & (PF__PKT_SACKED | PF__PKT_LOST))) continue;
        if (p->flags & PF__PKT_INFLIGHT) {
            p->flags &= (uint8_t)~PF__PKT_INFLIGHT;
            c->flight -= p->len;
        }
        p->flags |= PF__PKT_LOST;
        c->nlost++;
    }
    pf__utp_conn_flush(c, now);
    arm_rto(c, now);
}

uint64_t pf__utp_conn_deadline(const pf_utp_conn *c)
{
    const pf_utp_settings *s = &c->ctx->set;
    uint64_t d = UINT64_MAX;
#define PF__MIN(t)                  \
    do {                            \
        uint64_t t_ = (t);          \
        if (t_ && t_ < d) d = t_;   \
    } while (0)
    if (c->state == PF_UTP_CLOSED) return d;
    if (c->state != PF_UTP_CONNECTED) PF__MIN(c->created + (uint64_t)s->connect_timeout_ms * NS_PER_MS);
    if (outstanding(c)) {
        uint64_t since = c->last_recv > c->out_since ? c->last_recv : c->out_since;
        PF__MIN(since + (uint64_t)s->timeout_ms * NS_PER_MS);
    }
    PF__MIN(c->rto_at);
    PF__MIN(c->ack_at);
    if (c->pace_at && c->s_nxt < c->s_end) PF__MIN(c->pace_at);
    PF__MIN(c->linger_at);
    if (c->state == PF_UTP_CONNECTED && s->keepalive_ms) PF__MIN(c->last_send + (uint64_t)s->keepalive_ms * NS_PER_MS);
    if (c->state == PF_UTP_CONNECTED && s->idle_timeout_ms)
        PF__MIN(c->last_recv + (uint64_t)s->idle_timeout_ms * NS_PER_MS);
#undef PF__MIN
    return d;
}

void pf__utp_conn_timer(pf_utp_conn *c, uint64_t now)
{
    const pf_utp_settings *s = &c->ctx->set;
    if (c->state == PF_UTP_CLOSED) return;
    if (c->state != PF_UTP_CONNECTED && now >= c->created + (uint64_t)s->connect_timeout_ms * NS_PER_MS) {
        pf__utp_die(c, PF_ERR_TIMEOUT);
        return;
    }
    if (outstanding(c)) {
        uint64_t since = c->last_recv > c->out_since ? c->last_recv : c->out_since;
        if (now >= since + (uint64_t)s->timeout_ms * NS_PER_MS) {
            pf__utp_die(c, PF_ERR_TIMEOUT);
            return;
        }
    }
    if (s->idle_timeout_ms && now >= c->last_recv + (uint64_t)s->idle_timeout_ms * NS_PER_MS) {
        pf__utp_die(c, PF_ERR_TIMEOUT);
        return;
    }
    if (c->linger_at && now >= c->linger_at) {
        pf__utp_die(c, 0);
        return;
    }
    if (c->rto_at && now >= c->rto_at) {
        on_rto(c, now);
        if (c->state == PF_UTP_CLOSED) return;
    }
    if (c->pace_at && now >= c->pace_at) { /* paced: the next packet may go (the window may still hold it) */
        c->pace_at = 0;
        pf__utp_conn_flush(c, now);
    }
    if (c->ack_at && now >= c->ack_at) pf__utp_conn_send_state(c, now);
    if (c->state == PF_UTP_CONNECTED && s->keepalive_ms && now >= c->last_send + (uint64_t)s->keepalive_ms * NS_PER_MS)
        pf__utp_conn_send_state(c, now);
    check_done(c, now);
    pf__utp_conn_writable(c); /* a paced packet or a retransmission made room */
}

/* ---- the user's calls ------------------------------------------------------------ */
long pf__utp_conn_write(pf_utp_conn *c, const uint8_t *data, size_t n, uint64_t now)
{
    if (c->state == PF_UTP_CLOSED || c->shut_wr) return PF_ERR_CLOSED;
    uint64_t used = c->s_end - c->s_una, cap = c->ctx->set.send_buffer;
    size_t take = used >= cap ? 0 : (cap - used < n ? (size_t)(cap - used) : n);
    uint32_t low = c->ctx->set.notsent_lowat;
    if (low) { /* unsent bytes held to low: the user keeps the rest, cancellable */
        uint64_t unsent = c->s_end - c->s_nxt;
        size_t room = unsent >= low ? 0 : (size_t)(low - unsent);
        if (take > room) take = room;
    }
    if (take < n) c->want_writable = 1;
    if (!take) return 0;
    if (sbuf_reserve(c, used + take) != 0) {
        /* take what fits in the ring we have */
        take = c->scap > used ? (size_t)(c->scap - used) : 0;
        if (take > n) take = n;
        if (!take) return PF_ERR_NOMEM;
        c->want_writable = 1;
    }
    ring_put(c->sbuf, c->scap, c->s_end, data, take);
    c->s_end += take;
    pf__utp_conn_flush(c, now);
    return (long)take;
}

void pf__utp_conn_shutdown(pf_utp_conn *c, int close, uint64_t now)
{
    if (c->state == PF_UTP_CLOSED) return;
    if (close) c->closing = 1;
    if (c->state == PF_UTP_SYN_SENT || (close && c->in_accept)) {
        /* nothing to finish: reset (refused, or given up) */
        pf__utp_send_reset(c->ctx, &c->peer, c->send_id, c->ack_nr, now);
        pf__utp_die(c, c->in_accept ? PF_ERR_CLOSED : 0);
        return;
    }
    if (!c->shut_wr) {
        c->shut_wr = 1;
        pf__utp_conn_flush(c, now);
    }
    check_done(c, now);
}
