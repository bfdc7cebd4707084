/* The uTP context: settings, the connection table (keyed by peer address
 * and receive connection id, with a keyed hash so a stranger cannot
 * choose colliding ids), the timer heap (one deadline per connection),
 * datagram dispatch (SYN, RESET, unknown connections) and the API. */
#include <string.h>

#include "core/util/addr.h"
#include "core/util/mem.h"
#include "core/utp/utp_int.h"

void pf_utp_settings_default(pf_utp_settings *s)
{
    memset(s, 0, sizeof *s);
    s->target_delay_us = 100000;
    s->max_window = 1u << 20;
    s->send_buffer = 1u << 20;
    s->recv_buffer = 1u << 20;
    s->mtu = 1400;
    s->max_conns = 512;
    s->base_history = 2;
    s->min_rto_ms = 500;
    s->initial_rto_ms = 1000;
    s->connect_timeout_ms = 10000;
    s->timeout_ms = 20000;
    s->keepalive_ms = 29000;
    s->ack_delay_us = 10000;
    s->ack_every = 2;
    s->linger_ms = 3000;
    s->nagle = 1;
    s->slowdown = 1;
    s->seed = 0x7065657266c0f10bull;
    s->rst_per_sec = 100;
    s->log_level = PF_LOG_INFO;
}

static int settings_ok(const pf_utp_settings *s)
{
    return s->target_delay_us >= 1000 && s->target_delay_us <= 1000000 && s->mtu >= PF_UTP_MIN_PACKET &&
           s->mtu <= PF_UTP_MAX_PACKET && s->max_window >= 2u * s->mtu && s->send_buffer >= s->mtu &&
           s->recv_buffer >= 2u * s->mtu && s->max_conns >= 1 && s->max_conns <= (1u << 20) &&
           s->base_history >= 1 && s->base_history <= PF__UTP_BASE_MAX && s->min_rto_ms >= 1 &&
           s->min_rto_ms <= 60000 && s->initial_rto_ms >= 1 && s->initial_rto_ms <= 60000 &&
           s->connect_timeout_ms >= 1 && s->timeout_ms >= 1 && s->ack_every >= 1 && s->ack_delay_us <= 1000000;
}

/* ---- randomness (seeded: no global state, reproducible in tests) ---------------- */
uint64_t pf__utp_rand(pf_utp_ctx *x)
{
    uint64_t z = (x->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- the connection table ----------------------------------------------------------- */
static uint32_t hslot(const pf_utp_ctx *x, const pf_addr *a, uint16_t id)
{
    uint64_t h = x->hkey ^ ((uint64_t)id << 32 | a->port);
    size_t n = a->family == 4 ? 4 : 16;
    for (size_t i = 0; i < n; i++) h = (h ^ a->ip[i]) * 0x100000001b3ull;
    h ^= h >> 29;
    h *= 0x9e3779b97f4a7c15ull;
    h ^= h >> 32;
    return (uint32_t)h & x->hmask;
}

static pf_utp_conn *lookup(const pf_utp_ctx *x, const pf_addr *a, uint16_t id)
{
    for (pf_utp_conn *c = x->htab[hslot(x, a, id)]; c; c = c->hnext)
        if (c->recv_id == id && pf_addr_eq(&c->peer, a)) return c;
    return NULL;
}

static void insert(pf_utp_ctx *x, pf_utp_conn *c)
{
    uint32_t i = hslot(x, &c->peer, c->recv_id);
    c->hnext = x->htab[i];
    x->htab[i] = c;
    c->prev = NULL;
    c->next = x->all;
    if (x->all) x->all->prev = c;
    x->all = c;
    x->nconns++;
}

static void unlink_conn(pf_utp_ctx *x, pf_utp_conn *c)
{
    for (pf_utp_conn **pp = &x->htab[hslot(x, &c->peer, c->recv_id)]; *pp; pp = &(*pp)->hnext)
        if (*pp == c) {
            *pp = c->hnext;
            break;
        }
    if (c->prev)
        c->prev->next = c->next;
    else
        x->all = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = c->hnext = NULL;
    x->nconns--;
}

/* ---- the timer heap ------------------------------------------------------------------- */
static void heap_set(pf_utp_ctx *x, uint32_t i, pf_utp_conn *c)
{
    x->heap[i] = c;
    c->heap_idx = i;
}

static void heap_up(pf_utp_ctx *x, uint32_t i)
{
    pf_utp_conn *c = x->heap[i];
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (x->heap[p]->deadline <= c->deadline) break;
        heap_set(x, i, x->heap[p]);
        i = p;
    }
    heap_set(x, i, c);
}

static void heap_down(pf_utp_ctx *x, uint32_t i)
{
    pf_utp_conn *c = x->heap[i];
    for (;;) {
        uint32_t l = 2 * i + 1, m = i;
        uint64_t best = c->deadline;
        if (l < x->nheap && x->heap[l]->deadline < best) {
            m = l;
            best = x->heap[l]->deadline;
        }
        if (l + 1 < x->nheap && x->heap[l + 1]->deadline < best) m = l + 1;
        if (m == i) break;
        heap_set(x, i, x->heap[m]);
        i = m;
    }
    heap_set(x, i, c);
}

static void heap_remove(pf_utp_ctx *x, pf_utp_conn *c)
{
    uint32_t i = c->heap_idx;
    if (i == UINT32_MAX) return;
    c->heap_idx = UINT32_MAX;
    pf_utp_conn *last = x->heap[--x->nheap];
    if (last == c) return;
    heap_set(x, i, last);
    heap_up(x, i);
    heap_down(x, last->heap_idx);
}

void pf__utp_schedule(pf_utp_conn *c)
{
    pf_utp_ctx *x = c->ctx;
    uint64_t d = c->state == PF_UTP_CLOSED ? UINT64_MAX : pf__utp_conn_deadline(c);
    if (d == UINT64_MAX) {
        heap_remove(x, c);
        return;
    }
    c->deadline = d;
    if (c->heap_idx == UINT32_MAX) {
        if (x->nheap >= x->set.max_conns) return; /* cannot happen: one slot per connection */
        heap_set(x, x->nheap++, c);
    }
    heap_up(x, c->heap_idx);
    heap_down(x, c->heap_idx);
}

/* ---- connection lifetime ---------------------------------------------------------------- */
void pf__utp_die(pf_utp_conn *c, int err)
{
    pf_utp_ctx *x = c->ctx;
    if (c->state == PF_UTP_CLOSED) return;
    c->state = PF_UTP_CLOSED;
    c->err = err;
    heap_remove(x, c);
    unlink_conn(x, c);
    c->reap_next = NULL;
    if (x->reap_tail)
        x->reap_tail->reap_next = c;
    else
        x->reap = c;
    x->reap_tail = c;
    if (err && pf__log_on(&x->log, PF_LOG_DEBUG)) {
        char a[64];
        pf_addr_format(&c->peer, a, sizeof a);
        pf__logf(&x->log, PF_LOG_DEBUG, "utp %s id %u: %s", a, c->recv_id, pf_strerror(err));
    }
}

void pf__utp_enter(pf_utp_ctx *x) { x->depth++; }

/* Leaving the outermost call: closed callbacks, then the frees. */
void pf__utp_leave(pf_utp_ctx *x)
{
    if (x->depth > 1) {
        x->depth--;
        return;
    }
    while (x->reap) {
        pf_utp_conn *c = x->reap;
        x->reap = c->reap_next;
        if (!x->reap) x->reap_tail = NULL;
        if (c->seen) x->cb.closed(x->ud, c, c->err);
        pf__utp_conn_free(c);
    }
    x->depth = 0;
}

void pf__utp_send_raw(pf_utp_ctx *x, const pf_addr *to, const uint8_t *p, size_t n) { x->cb.send(x->ud, to, p, n); }

void pf__utp_send_reset(pf_utp_ctx *x, const pf_addr *to, uint16_t conn_id, uint16_t ack, uint64_t now)
{
    double rate = x->set.rst_per_sec;
    if (now > x->rst_at) {
        x->rst_tokens += (double)(now - x->rst_at) * rate / 1e9;
        if (x->rst_tokens > rate) x->rst_tokens = rate;
    }
    x->rst_at = now;
    if (x->rst_tokens < 1) return;
    x->rst_tokens -= 1;
    uint8_t b[PF_UTP_HEADER];
    pf__utp_put_hdr(b, PF__UTP_RESET, conn_id, pf__utp_us(now), 0, 0, (uint16_t)pf__utp_rand(x), ack);
    x->st.resets_sent++;
    x->cb.send(x->ud, to, b, sizeof b);
}

/* ---- the context ------------------------------------------------------------------------ */
pf_utp_ctx *pf_utp_ctx_new(const pf_mem *mem, const pf_utp_settings *s, const pf_utp_callbacks *cb, void *ud)
{
    pf_utp_settings def;
    if (!s) {
        pf_utp_settings_default(&def);
        s = &def;
    }
    if (!cb || !cb->send || !cb->closed || !settings_ok(s)) return NULL;
    pf_utp_ctx *x = pf__calloc(mem, 1, sizeof *x);
    if (!x) return NULL;
    x->mem = mem;
    x->set = *s;
    x->cb = *cb;
    x->ud = ud;
    uint32_t n = 16;
    while (n < 2 * s->max_conns) n *= 2;
    x->hmask = n - 1;
    x->htab = pf__calloc(mem, n, sizeof *x->htab);
    x->heap = pf__calloc(mem, s->max_conns, sizeof *x->heap);
    x->pkt = pf__malloc(mem, PF_UTP_MAX_PACKET);
    if (!x->htab || !x->heap || !x->pkt) {
        pf__free(mem, x->htab);
        pf__free(mem, x->heap);
        pf__free(mem, x->pkt);
        pf__free(mem, x);
        return NULL;
    }
    x->rng = s->seed;
    x->hkey = pf__utp_rand(x);
    x->rst_tokens = s->rst_per_sec;
    pf__logger_init(&x->log, s->log, s->log_ud, s->log_level);
    return x;
}

void pf_utp_ctx_free(pf_utp_ctx *x)
{
    if (!x) return;
    x->depth = 1; /* no reaping from inside the closed callbacks */
    while (x->all) {
        pf_utp_conn *c = x->all;
        pf__utp_die(c, PF_ERR_SHUTDOWN);
    }
    while (x->reap) {
        pf_utp_conn *c = x->reap;
        x->reap = c->reap_next;
        if (c->seen) x->cb.closed(x->ud, c, c->err);
        pf__utp_conn_free(c);
    }
    pf__free(x->mem, x->htab);
    pf__free(x->mem, x->heap);
    pf__free(x->mem, x->pkt);
    pf__free(x->mem, x);
}

void pf_utp_ctx_stats_get(const pf_utp_ctx *x, pf_utp_ctx_stats *out)
{
    *out = x->st;
    out->conns = x->nconns;
}

/* ---- datagrams in ------------------------------------------------------------------------ */
static void on_reset(pf_utp_ctx *x, const pf_addr *from, const pf__utp_hdr *h)
{
    /* A RESET names our receive id (libtorrent) or our send id (libutp
     * answers unknown packets with the id they carried). */
    pf_utp_conn *c = lookup(x, from, h->conn_id);
    if (!c) {
        c = lookup(x, from, (uint16_t)(h->conn_id + 1));
        if (c && c->send_id != h->conn_id) c = NULL;
    }
    if (!c) {
        c = lookup(x, from, (uint16_t)(h->conn_id - 1));
        if (c && c->send_id != h->conn_id) c = NULL;
    }
    if (!c) {
        x->st.invalid++;
        return;
    }
    /* it must ack something we sent (an off-path guess rarely does) */
    uint16_t back = pf__seq_dist(h->ack, c->seq_nr);
    if (back > (uint16_t)(c->seq_nr - c->acked_seq_nr) + 64u) {
        x->st.invalid++;
        return;
    }
    x->st.resets_in++;
    pf__utp_die(c, PF_ERR_CLOSED);
}

static void on_syn(pf_utp_ctx *x, const pf_addr *from, const pf__utp_hdr *h, uint64_t now)
{
    uint16_t id = (uint16_t)(h->conn_id + 1);
    pf_utp_conn *c = lookup(x, from, id);
    if (c) { /* a retransmitted SYN, or a colliding id */
        if (c->send_id == h->conn_id && c->state != PF_UTP_SYN_SENT && c->ack_nr == h->seq) {
            pf__utp_conn_recv(c, h, now);
            pf__utp_schedule(c);
        } else {
            x->st.invalid++;
        }
        return;
    }
    if (!x->cb.accept || x->nconns >= x->set.max_conns) {
        x->st.refused++;
        pf__utp_send_reset(x, from, h->conn_id, h->seq, now);
        return;
    }
    c = pf__utp_conn_alloc(x, from, now);
    if (!c) return;
    c->recv_id = id;
    c->send_id = h->conn_id;
    c->state = PF_UTP_SYN_RECV;
    c->ack_nr = h->seq;
    c->seq_nr = (uint16_t)pf__utp_rand(x);
    c->acked_seq_nr = c->loss_seq = (uint16_t)(c->seq_nr - 1);
    c->fast_seq = c->seq_nr;
    if (h->wnd) c->peer_wnd = h->wnd;
    if (h->ts) c->reply_micro = pf__utp_us(now) - h->ts;
    insert(x, c);
    x->st.accepted++;
    c->seen = 1;
    c->in_accept = 1;
    x->cb.accept(x->ud, c);
    c->in_accept = 0;
    if (c->state == PF_UTP_CLOSED) return;
    pf__utp_conn_send_state(c, now);
    pf__utp_schedule(c);
}

int pf_utp_recv(pf_utp_ctx *x, const pf_addr *from, const uint8_t *pkt, size_t n, uint64_t now)
{
    pf__utp_hdr h;
    if (!x || !from) return 0;
    int r = pf__utp_parse(pkt, n, &h);
    if (r == PF_ERR_UNSUPPORTED) return 0;
    pf__utp_enter(x);
    x->log.now = now;
    if (r != 0) {
        x->st.invalid++;
    } else if (h.type == PF__UTP_RESET) {
        on_reset(x, from, &h);
    } else if (h.type == PF__UTP_SYN) {
        on_syn(x, from, &h, now);
    } else {
        pf_utp_conn *c = lookup(x, from, h.conn_id);
        if (!c) {
            x->st.invalid++;
            pf__utp_send_reset(x, from, h.conn_id, h.seq, now);
        } else {
            pf__utp_conn_recv(c, &h, now);
            if (c->state != PF_UTP_CLOSED) pf__utp_schedule(c);
        }
    }
    pf__utp_leave(x);
    return 1;
}

void pf_utp_flush(pf_utp_ctx *x, uint64_t now)
{
    if (!x) return;
    pf__utp_enter(x);
    x->log.now = now;
    for (pf_utp_conn *c = x->all; c; c = c->next) {
        if (c->state == PF_UTP_CLOSED) continue;
        if (c->s_nxt < c->s_end || c->nlost) pf__utp_conn_flush(c, now);
        if (c->ack_at) pf__utp_conn_send_state(c, now);
        pf__utp_schedule(c);
    }
    pf__utp_leave(x);
}

/* ---- the user's calls ---------------------------------------------------------------------- */
pf_utp_conn *pf_utp_connect(pf_utp_ctx *x, const pf_addr *to, uint64_t now)
{
    if (!x || !to || (to->family != 4 && to->family != 6) || x->nconns >= x->set.max_conns) return NULL;
    uint16_t id = 0;
    int found = 0;
    for (int i = 0; i < 32 && !found; i++) {
        id = (uint16_t)pf__utp_rand(x);
        found = !lookup(x, to, id);
    }
    if (!found) return NULL;
    pf_utp_conn *c = pf__utp_conn_alloc(x, to, now);
    if (!c) return NULL;
    pf__utp_enter(x);
    x->log.now = now;
    c->recv_id = id;
    c->send_id = (uint16_t)(id + 1);
    c->state = PF_UTP_SYN_SENT;
    c->seq_nr = (uint16_t)pf__utp_rand(x);
    c->acked_seq_nr = c->loss_seq = (uint16_t)(c->seq_nr - 1);
    c->fast_seq = c->seq_nr;
    c->seen = 1;
    insert(x, c);
    pf__utp_conn_send_syn(c, now);
    pf__utp_schedule(c);
    pf__utp_leave(x);
    return c;
}

long pf_utp_write(pf_utp_conn *c, const uint8_t *data, size_t n, uint64_t now)
{
    if (!c) return PF_ERR_INVAL;
    if (!data && n) return PF_ERR_INVAL;
    if (c->state == PF_UTP_CLOSED) return PF_ERR_CLOSED;
    pf_utp_ctx *x = c->ctx;
    pf__utp_enter(x);
    long r = pf__utp_conn_write(c, data, n, now);
    if (c->state != PF_UTP_CLOSED) pf__utp_schedule(c);
    pf__utp_leave(x);
    return r;
}

static void shut(pf_utp_conn *c, int close, uint64_t now)
{
    if (!c || c->state == PF_UTP_CLOSED) return;
    pf_utp_ctx *x = c->ctx;
    pf__utp_enter(x);
    pf__utp_conn_shutdown(c, close, now);
    if (c->state != PF_UTP_CLOSED) pf__utp_schedule(c);
    pf__utp_leave(x);
}

void pf_utp_close(pf_utp_conn *c, uint64_t now) { shut(c, 1, now); }
void pf_utp_shutdown(pf_utp_conn *c, uint64_t now) { shut(c, 0, now); }

void pf_utp_set_ud(pf_utp_conn *c, void *ud) { c->ud = ud; }
void *pf_utp_ud(const pf_utp_conn *c) { return c->ud; }
const pf_addr *pf_utp_peer(const pf_utp_conn *c) { return &c->peer; }

uint64_t pf_utp_next_timeout(const pf_utp_ctx *x, uint64_t now)
{
    if (!x || !x->nheap) return UINT64_MAX;
    uint64_t d = x->heap[0]->deadline;
    return d < now ? now : d;
}

void pf_utp_tick(pf_utp_ctx *x, uint64_t now)
{
    if (!x) return;
    pf__utp_enter(x);
    x->log.now = now;
    /* each connection at most once per tick: its handler moves its
     * deadline past now */
    for (uint32_t guard = x->nheap; x->nheap && x->heap[0]->deadline <= now && guard; guard--) {
        pf_utp_conn *c = x->heap[0];
        pf__utp_conn_timer(c, now);
        if (c->state != PF_UTP_CLOSED) pf__utp_schedule(c);
    }
    pf__utp_leave(x);
}

void pf_utp_stats_get(const pf_utp_conn *c, pf_utp_stats *o)
{
    *o = c->st;
    o->state = c->state;
    o->slow_start = c->slow_start;
    o->seq_nr = c->seq_nr;
    o->ack_nr = c->ack_nr;
    o->acked_seq_nr = c->acked_seq_nr;
    o->cwnd = (uint32_t)c->cwnd;
    o->ssthresh = c->ssthresh;
    o->flight = c->flight;
    o->peer_wnd = c->peer_wnd;
    o->send_queued = (uint32_t)(c->s_end - c->s_una);
    o->reorder_bytes = c->rb_bytes;
    o->rtt_us = c->srtt;
    o->rtt_var_us = c->rttvar;
    o->rto_us = (uint32_t)(pf__utp_rto_ns(c) / 1000u);
    o->our_delay_us = pf__utp_delay_value(&c->our);
    o->base_delay_us = c->our.init ? pf__utp_delay_base(&c->our) : 0;
    o->their_delay_us = c->their_delay;
    o->reorder = c->reorder;
}
