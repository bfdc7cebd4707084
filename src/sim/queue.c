/* The event queue: a 4-ary min-heap keyed by (time, sequence number)
 * (half the levels of a binary heap, a node's children side by side in
 * memory).  The sequence number makes the order of events at the same
 * instant the order they were scheduled in, so a run depends on nothing
 * but its inputs (and not on the heap's shape: every key is unique). */
#include <stdlib.h>

#include "sim/sim_internal.h"

static int ev_less(const sim_ev *a, const sim_ev *b)
{
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

int sim_queue_push(sim_queue *q, uint64_t t, uint32_t type, uint32_t a, void *p)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 1024;
        sim_ev *v = realloc(q->v, cap * sizeof *v);
        if (!v) return -1;
        q->v = v;
        q->cap = cap;
    }
    sim_ev e = {t, q->seq++, p, type, a};
    size_t i = q->n++;
    if (q->n > q->peak) q->peak = q->n;
    while (i > 0) {
        size_t up = (i - 1) / 4;
        if (!ev_less(&e, &q->v[up])) break;
        q->v[i] = q->v[up];
        i = up;
    }
    q->v[i] = e;
    return 0;
}

int sim_queue_pop(sim_queue *q, sim_ev *out)
{
    if (!q->n) return 0;
    *out = q->v[0];
    sim_ev last = q->v[--q->n];
    size_t i = 0, n = q->n;
    for (;;) {
        size_t c = 4 * i + 1;
        if (c >= n) break;
        size_t end = c + 4 < n ? c + 4 : n;
        for (size_t k = c + 1; k < end; k++)
            if (ev_less(&q->v[k], &q->v[c])) c = k;
        if (!ev_less(&q->v[c], &last)) break;
        q->v[i] = q->v[c];
        i = c;
    }
    if (n) q->v[i] = last;
    return 1;
}

void sim_queue_free(sim_queue *q)
{
    free(q->v);
    q->v = NULL;
    q->n = q->cap = 0;
}
