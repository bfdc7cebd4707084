/* uTP (src/core/utp): a context with one accepted connection fed
 * arbitrary datagrams, times, writes and closes.
 *
 * The input is a list of operations, each one opcode byte and its
 * arguments (short inputs simply end):
 *   0 len bytes...            a datagram from the peer, as is
 *   1 flags len bytes...      a datagram from the peer, patched to look
 *                             plausible: type (flags>>4)%5, flags&1: our
 *                             connection id, &2: seq_nr just past our
 *                             ack_nr (+ byte 17 & 15), &4: ack_nr within
 *                             what we sent (- byte 19 & 7), &8: aimed at
 *                             the outgoing connection (op 6)
 *   2 ms(2)                   time passes, timers run
 *   3 n(2)                    the application writes n bytes
 *   4 b                       close (b & 1: shutdown; b & 2: the outgoing
 *                             connection; b & 4: refuse new ones from now)
 *   5                         pf_utp_flush, and the application starts (or
 *                             stops) echoing what it reads, from inside
 *                             the read callback
 *   6 b                       an outgoing connection, answered if b is odd
 *   7 len bytes...            a datagram from a stranger
 * Checked throughout: every packet sent parses and fits the mtu, the
 * buffers stay within their bounds, deadlines are not in the past, and
 * every connection seen gets exactly one closed callback. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/utp/utp.h"

typedef struct fz {
    pf_utp_ctx *x;
    pf_utp_conn *in, *out;
    long seen, closed;
    uint64_t now;
    int echo, refuse;
} fz;

static const pf_addr peer = {.family = 4, .ip = {10, 0, 0, 2}, .port = 6881};
static const pf_addr peer2 = {.family = 6, .ip = {0x20, 0x01, 0x0d, 0xb8, [15] = 1}, .port = 51413};

static void on_send(void *ud, const pf_addr *to, const uint8_t *p, size_t n)
{
    (void)ud;
    (void)to;
    if (n < 20 || n > 1200 || (p[0] & 15) != 1 || (p[0] >> 4) > 4) abort();
}

static void on_accept(void *ud, pf_utp_conn *c)
{
    fz *f = ud;
    f->seen++;
    if (!f->in)
        f->in = c;
    else if (f->refuse)
        pf_utp_close(c, f->now);
}

static void on_connected(void *ud, pf_utp_conn *c) { (void)ud, (void)c; }
static void on_read(void *ud, pf_utp_conn *c, const uint8_t *d, size_t n)
{
    fz *f = ud;
    if ((d == NULL) != (n == 0)) abort();
    if (f->echo && n) pf_utp_write(c, d, n, f->now);
    if (f->echo && !n) pf_utp_close(c, f->now);
}
static void on_writable(void *ud, pf_utp_conn *c) { (void)ud, (void)c; }

static void on_closed(void *ud, pf_utp_conn *c, int err)
{
    fz *f = ud;
    f->closed++;
    if (err > 0) abort();
    if (c == f->in) f->in = NULL;
    if (c == f->out) f->out = NULL;
}

static void check(fz *f, const pf_utp_settings *s)
{
    pf_utp_conn *cs[2] = {f->in, f->out};
    for (int i = 0; i < 2; i++) {
        if (!cs[i]) continue;
        pf_utp_stats st;
        pf_utp_stats_get(cs[i], &st);
        if (st.reorder_bytes > s->recv_buffer || st.send_queued > s->send_buffer || st.flight > st.send_queued ||
            st.cwnd > s->max_window || (uint16_t)(st.seq_nr - st.acked_seq_nr - 1) > PF_UTP_MAX_OUTSTANDING)
            abort();
    }
    pf_utp_ctx_stats cst;
    pf_utp_ctx_stats_get(f->x, &cst);
    if (cst.conns > s->max_conns) abort();
    uint64_t d = pf_utp_next_timeout(f->x, f->now);
    if (d < f->now) abort();
}

static size_t hdr(uint8_t *b, int type, uint16_t id, uint16_t seq, uint16_t ack, uint32_t ts)
{
    memset(b, 0, 20);
    b[0] = (uint8_t)(type << 4 | 1);
    b[2] = (uint8_t)(id >> 8);
    b[3] = (uint8_t)id;
    b[4] = (uint8_t)(ts >> 24);
    b[5] = (uint8_t)(ts >> 16);
    b[6] = (uint8_t)(ts >> 8);
    b[7] = (uint8_t)ts;
    b[13] = 1; /* wnd 64 KiB */
    b[16] = (uint8_t)(seq >> 8);
    b[17] = (uint8_t)seq;
    b[18] = (uint8_t)(ack >> 8);
    b[19] = (uint8_t)ack;
    return 20;
}

/* Our ids for c, learnt from a connection the harness made itself: the
 * incoming one was SYNed with id 1000 (we receive on 1001, send on 1000);
 * the outgoing one's ids are in the SYN we sent (kept by on_send_syn). */
static uint16_t out_recv_id;
static void on_send_syn(void *ud, const pf_addr *to, const uint8_t *p, size_t n)
{
    on_send(ud, to, p, n);
    if ((p[0] >> 4) == 4) out_recv_id = (uint16_t)(p[2] << 8 | p[3]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pf_utp_settings s;
    pf_utp_settings_default(&s);
    s.max_conns = 4;
    s.mtu = 1200;
    s.max_window = s.send_buffer = s.recv_buffer = 65536;
    s.seed = 42;
    pf_utp_callbacks cb = {on_send_syn, on_accept, on_connected, on_read, on_writable, on_closed, NULL};
    fz f = {.now = 1000000000ull};
    f.x = pf_utp_ctx_new(NULL, &s, &cb, &f);
    if (!f.x) return 0;
    uint8_t b[600];
    size_t n = hdr(b, 4, 1000, 500, 0, 1);
    pf_utp_recv(f.x, &peer, b, n, f.now);
    if (!f.in) abort();

    size_t i = 0;
    while (i < size) {
        uint8_t op = data[i++] % 8;
        if (op == 0 || op == 7) {
            if (i >= size) break;
            size_t len = data[i++];
            if (len > size - i) len = size - i;
            const pf_addr *from = &peer;
            pf_addr stranger = {.family = 4, .ip = {192, 0, 2, (uint8_t)len}, .port = 1};
            if (op == 7) from = &stranger;
            pf_utp_recv(f.x, from, data + i, len, f.now);
            i += len;
        } else if (op == 1) {
            if (size - i < 2) break;
            uint8_t flags = data[i], len = data[i + 1];
            i += 2;
            if (len > size - i) len = (uint8_t)(size - i);
            memset(b, 0, 20);
            memcpy(b, data + i, len);
            i += len;
            size_t plen = len < 20 ? 20 : len;
            pf_utp_conn *c = (flags & 8) ? f.out : f.in;
            const pf_addr *from = (flags & 8) ? &peer2 : &peer;
            b[0] = (uint8_t)(((flags >> 4) % 5) << 4 | 1);
            if (c) {
                pf_utp_stats st;
                pf_utp_stats_get(c, &st);
                uint16_t id = (flags & 8) ? out_recv_id : 1001;
                if ((b[0] >> 4) == 3) id = (flags & 8) ? (uint16_t)(out_recv_id + 1) : 1000; /* RESETs name our send id */
                if (flags & 1) {
                    b[2] = (uint8_t)(id >> 8);
                    b[3] = (uint8_t)id;
                }
                if (flags & 2) {
                    uint16_t seq = (uint16_t)(st.ack_nr + 1 + (b[17] & 15));
                    b[16] = (uint8_t)(seq >> 8);
                    b[17] = (uint8_t)seq;
                }
                if (flags & 4) {
                    uint16_t ack = (uint16_t)(st.seq_nr - 1 - (b[19] & 7));
                    b[18] = (uint8_t)(ack >> 8);
                    b[19] = (uint8_t)ack;
                }
            }
            pf_utp_recv(f.x, from, b, plen, f.now);
        } else if (op == 2) {
            if (size - i < 2) break;
            uint64_t ms = (uint64_t)data[i] << 8 | data[i + 1];
            i += 2;
            f.now += ms * 1000000ull;
            for (int k = 0; k < 8 && pf_utp_next_timeout(f.x, f.now) <= f.now; k++) pf_utp_tick(f.x, f.now);
        } else if (op == 3) {
            if (size - i < 2) break;
            size_t len = (size_t)data[i] << 8 | data[i + 1];
            i += 2;
            static uint8_t zeros[65536];
            if (f.in) pf_utp_write(f.in, zeros, len, f.now);
            if (f.out) pf_utp_write(f.out, zeros, len / 2, f.now);
        } else if (op == 4) {
            if (i >= size) break;
            uint8_t how = data[i++];
            pf_utp_conn *c = (how & 2) ? f.out : f.in;
            if (how & 4) f.refuse = 1;
            if (c) {
                if (how & 1)
                    pf_utp_shutdown(c, f.now);
                else
                    pf_utp_close(c, f.now);
            }
        } else if (op == 5) {
            pf_utp_flush(f.x, f.now);
            f.echo = !f.echo;
        } else if (op == 6) {
            if (i >= size) break;
            uint8_t answer = data[i++] & 1;
            if (f.out) continue;
            f.out = pf_utp_connect(f.x, &peer2, f.now);
            if (!f.out) continue;
            f.seen++;
            if (!answer) continue;
            pf_utp_stats st;
            pf_utp_stats_get(f.out, &st);
            n = hdr(b, 2, out_recv_id, 7000, (uint16_t)(st.seq_nr - 1), 5);
            pf_utp_recv(f.x, &peer2, b, n, f.now);
        }
        check(&f, &s);
    }
    /* the end: timers run out (every connection closes or idles) */
    for (int k = 0; k < 40; k++) {
        f.now += 5000000000ull;
        pf_utp_tick(f.x, f.now);
        check(&f, &s);
    }
    pf_utp_ctx_free(f.x);
    if (f.closed != f.seen) abort();
    return 0;
}
