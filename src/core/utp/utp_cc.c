/* Congestion control: RTT and RTO (RFC 6298), the one-way delay history
 * and LEDBAT (RFC 6817) with two additions from LEDBAT++
 * (draft-irtf-iccrg-ledbat-plus-plus): a multiplicative decrease above
 * the target, and periodic slowdowns that let the bottleneck queue drain
 * so the base delay is measured again (otherwise a flow that never lets
 * the queue empty takes its own queue for the base, and latecomers take
 * the earlier flows' queue for theirs).
 *
 * Delays are 32-bit microsecond differences between two unsynchronised
 * clocks: only their differences mean anything, compared modulo 2^32. */
#include "core/utp/utp_int.h"

#define MIN_CWND 2         /* packets (RFC 6817 MIN_CWND): the floor after a loss or a timeout */
/* The floor of the delay-based decrease: an eighth of a packet, sent as
 * one packet every eight RTTs (pacing, utp_conn.c).  Two packets per RTT
 * per connection, RFC 6817's floor, kept a viewer's three uploads at a
 * quarter of a 2 Mbit/s line that the household's TCP upload had filled
 * (lab household: 76-81 % of the household's goodput left to it; with
 * sub-packet windows, as libutp and libtorrent pace them, it gets more). */
#define MIN_WINDOW_DIV 8
#define INIT_CWND 2        /* packets (RFC 6817 INIT_CWND) */
#define GAIN 1.0           /* at most one packet per RTT (RFC 6817: GAIN <= 1) */
#define MINUTE (60ull * 1000000000ull)
#define MAX_RTO_US 60000000u

static int wrap_lt32(uint32_t a, uint32_t b) { return ((uint32_t)(a - b) & 0x80000000u) != 0; }

/* ---- delay history ---------------------------------------------------------- */
void pf__utp_delay_add(pf__utp_delay *d, uint32_t raw, uint64_t now, uint32_t history)
{
    if (history < 1) history = 1;
    if (history > PF__UTP_BASE_MAX) history = PF__UTP_BASE_MAX;
    if (!d->init) {
        for (uint32_t i = 0; i < history; i++) d->base[i] = raw;
        d->nbase = (uint8_t)history;
        d->ibase = 0;
        d->rotated = now;
        d->init = 1;
    }
    if (wrap_lt32(raw, d->base[d->ibase])) d->base[d->ibase] = raw;
    d->cur[d->icur] = raw;
    d->icur = (uint8_t)((d->icur + 1) % PF__UTP_CUR_FILTER);
    if (d->ncur < PF__UTP_CUR_FILTER) d->ncur++;
    if (now - d->rotated >= MINUTE) { /* a new minute: its own minimum */
        d->ibase = (uint8_t)((d->ibase + 1) % d->nbase);
        d->base[d->ibase] = raw;
        d->rotated = now;
    }
}

uint32_t pf__utp_delay_base(const pf__utp_delay *d)
{
    uint32_t b = d->base[0];
    for (uint32_t i = 1; i < d->nbase; i++)
        if (wrap_lt32(d->base[i], b)) b = d->base[i];
    return b;
}

uint32_t pf__utp_delay_value(const pf__utp_delay *d)
{
    if (!d->init || !d->ncur) return 0;
    uint32_t m = d->cur[0];
    for (uint32_t i = 1; i < d->ncur; i++)
        if (wrap_lt32(d->cur[i], m)) m = d->cur[i];
    uint32_t q = m - pf__utp_delay_base(d);
    return (q & 0x80000000u) ? 0 : q;
}

/* ---- RTT (RFC 6298) ------------------------------------------------------- */
void pf__utp_rtt_sample(pf_utp_conn *c, uint32_t r)
{
    if (r > MAX_RTO_US) r = MAX_RTO_US;
    if (!c->have_rtt) {
        c->srtt = r;
        c->rttvar = r / 2;
        c->have_rtt = 1;
    } else {
        uint32_t delta = c->srtt > r ? c->srtt - r : r - c->srtt;
        c->rttvar = (3 * c->rttvar + delta) / 4;
        c->srtt = (7 * c->srtt + r) / 8;
    }
    uint32_t var4 = 4 * c->rttvar < 1000 ? 1000 : 4 * c->rttvar;
    uint32_t rto = c->srtt + var4, min = c->ctx->set.min_rto_ms * 1000u;
    c->rto = rto < min ? min : rto > MAX_RTO_US ? MAX_RTO_US : rto;
    c->backoff = 0; /* a fresh sample ends the back-off (RFC 6298 5.7, Karn) */
    if (!c->min_rtt || r < c->min_rtt) c->min_rtt = r ? r : 1;
}

uint64_t pf__utp_rto_ns(const pf_utp_conn *c)
{
    uint64_t us = c->have_rtt ? c->rto : (uint64_t)c->ctx->set.initial_rto_ms * 1000u;
    us <<= c->backoff;
    if (us > MAX_RTO_US) us = MAX_RTO_US;
    return us * 1000u;
}

/* ---- LEDBAT ------------------------------------------------------------------- */
void pf__utp_cc_init(pf_utp_conn *c)
{
    uint32_t mss = pf__utp_mss(c);
    c->cwnd = (double)INIT_CWND * mss;
    c->ssthresh = c->ctx->set.max_window;
    c->slow_start = 1;
    c->rto = c->ctx->set.initial_rto_ms * 1000u;
}

static void clamp_cwnd_to(pf_utp_conn *c, double lo)
{
    double hi = c->ctx->set.max_window;
    if (lo > hi) lo = hi;
    if (c->cwnd < lo) c->cwnd = lo;
    if (c->cwnd > hi) c->cwnd = hi;
}

static void clamp_cwnd(pf_utp_conn *c) { clamp_cwnd_to(c, (double)MIN_CWND * pf__utp_mss(c)); }

static uint64_t srtt_ns(const pf_utp_conn *c) { return (uint64_t)(c->have_rtt ? c->srtt : 100000u) * 1000u; }

/* Slow start is over (delay, loss, the ceiling): schedule the next
 * slowdown 2 RTTs after the first exit, then 9 times the last slowdown's
 * length after each (LEDBAT++: at most about 10% of the time slowed). */
static void leave_slow_start(pf_utp_conn *c, uint64_t now)
{
    c->slow_start = 0;
    if (!c->ctx->set.slowdown) return;
    if (c->sd_phase == 0) {
        c->sd_phase = 1;
        c->sd_at = now + 2 * srtt_ns(c);
    } else if (c->sd_phase == 3) {
        uint64_t took = now - c->sd_began;
        c->sd_phase = 1;
        c->sd_at = now + 9 * took;
    }
}

static void slowdown_step(pf_utp_conn *c, uint64_t now)
{
    if (c->sd_phase == 1 && now >= c->sd_at && c->cwnd_limited) {
        c->sd_phase = 2; /* down to MIN_CWND for 2 RTTs */
        c->sd_cwnd = (uint32_t)c->cwnd;
        c->sd_began = now;
        c->sd_at = now + 2 * srtt_ns(c);
        c->st.slowdowns++;
    } else if (c->sd_phase == 2 && now >= c->sd_at) {
        c->sd_phase = 3; /* then slow start back to where it was */
        c->cwnd = (double)MIN_CWND * pf__utp_mss(c);
        c->ssthresh = c->sd_cwnd;
        c->slow_start = 1;
    }
}

uint32_t pf__utp_cc_window(const pf_utp_conn *c)
{
    double w = c->cwnd;
    if (c->sd_phase == 2) {
        double lo = (double)MIN_CWND * pf__utp_mss(c);
        if (w > lo) w = lo;
    }
    return w < 1 ? 1 : (uint32_t)w;
}

void pf__utp_cc_ack(pf_utp_conn *c, uint32_t acked, uint32_t flight_before, uint32_t min_rtt, uint64_t now)
{
    const pf_utp_settings *s = &c->ctx->set;
    /* The controller aims a tenth below the target: the setting is the
     * most queueing delay we may add, and the delay oscillates around the
     * point it is steered to, more so with several connections sharing
     * one uplink (lab household, 3 uploads aimed at 100 ms: median 102-108
     * ms added; at 90 ms: under 100). */
    double mss = pf__utp_mss(c), target = 0.9 * s->target_delay_us;
    /* Window growth only when the window is what limits us (RFC 6817
     * 2.4.2: cwnd <= flightsize + ALLOWED_INCREASE * MSS). */
    int saturated = c->cwnd_limited || (double)flight_before + mss >= c->cwnd;
    slowdown_step(c, now);
    if (!c->our.init) { /* the peer echoes no delays: plain TCP growth */
        if (saturated) c->cwnd += c->slow_start ? acked : mss * acked / c->cwnd;
        clamp_cwnd(c);
        return;
    }
    double qd = pf__utp_delay_value(&c->our);
    if (min_rtt != UINT32_MAX && qd > min_rtt) qd = min_rtt; /* one way is never longer than both */
    if (c->slow_start) {
        if (qd > target * 3 / 4) {
            c->ssthresh = (uint32_t)c->cwnd;
            leave_slow_start(c, now);
        } else if (saturated) {
            c->cwnd += acked; /* TCP's slow start, no faster */
            if (c->cwnd >= c->ssthresh || c->cwnd >= s->max_window) {
                if (c->cwnd > c->ssthresh) c->cwnd = c->ssthresh;
                leave_slow_start(c, now);
            }
        }
    }
    if (!c->slow_start) {
        double off = (target - qd) / target;
        if (off >= 0) {
            /* no more than GAIN * off packets per RTT, also from a
             * window below one packet (one packet per several RTTs) */
            if (saturated) c->cwnd += GAIN * off * acked * mss / (c->cwnd > mss ? c->cwnd : mss);
        } else {
            /* above target: LEDBAT++'s decrease, W * off per RTT, at most
             * half a window per RTT (it is never gentler than RFC 6817's
             * GAIN * off * MSS per RTT) */
            double f = -off > 0.5 ? 0.5 : -off;
            c->cwnd -= f * acked;
        }
    }
    /* below two packets only for delay (a window that small is paced) */
    double lo = (double)MIN_CWND * mss;
    clamp_cwnd_to(c, c->cwnd < lo ? mss / MIN_WINDOW_DIV : lo);
}

void pf__utp_cc_loss(pf_utp_conn *c, uint16_t seq, uint64_t now)
{
    /* once per window: losses of packets sent before the last cut are
     * the same congestion event */
    if (!pf__seq_lt(c->loss_seq, seq)) return;
    c->st.loss_events++;
    c->undo_ok = 1;
    c->undo_seq = seq;
    c->undo_cwnd = c->cwnd;
    c->undo_ssthresh = c->ssthresh;
    c->cwnd /= 2;
    clamp_cwnd(c);
    c->ssthresh = (uint32_t)c->cwnd;
    c->loss_seq = (uint16_t)(c->seq_nr - 1);
    c->last_cut = now;
    if (c->slow_start) leave_slow_start(c, now);
    if (c->sd_phase == 2 || c->sd_phase == 3) { /* a slowdown interrupted */
        c->sd_phase = 3;
        leave_slow_start(c, now);
    }
}

void pf__utp_cc_restart(pf_utp_conn *c, uint64_t now)
{
    uint64_t rto = pf__utp_rto_ns(c), idle = now - c->idle_since;
    if (now < c->idle_since || idle < rto) return;
    double lo = (double)MIN_CWND * pf__utp_mss(c);
    if (c->cwnd * 0.75 > c->ssthresh) c->ssthresh = (uint32_t)(c->cwnd * 0.75);
    for (uint64_t t = rto; t <= idle && c->cwnd > lo; t += rto) c->cwnd /= 2;
    clamp_cwnd(c);
    if (c->cwnd < c->ssthresh && (c->sd_phase == 0 || c->sd_phase == 1)) c->slow_start = 1;
}

void pf__utp_cc_timeout(pf_utp_conn *c, uint64_t now)
{
    uint32_t mss = pf__utp_mss(c);
    double half = c->cwnd / 2;
    c->ssthresh = half < 2.0 * mss ? 2 * mss : (uint32_t)half;
    c->undo_ok = 0;
    c->cwnd = mss; /* one packet, then slow start */
    c->slow_start = 1;
    c->loss_seq = (uint16_t)(c->seq_nr - 1);
    c->last_cut = now;
    if (c->sd_phase >= 2) c->sd_phase = 3;
}
