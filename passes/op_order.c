/* passes/op_order.c - reordering ops and counting uses, shared by the fusion passes. */
#include <stdlib.h>
#include <string.h>

#include "passes/op_order.h"

void tgc_ops_reorder(tgc_graph *g, const int *order) {
    int n = g->n_ops;
    if (n <= 0) return;
    tgc_op *old = tgc_malloc(sizeof(tgc_op) * (size_t)n);
    int *pos = tgc_malloc(sizeof(int) * (size_t)n); /* old index -> new index */
    memcpy(old, g->ops, sizeof(tgc_op) * (size_t)n);
    for (int i = 0; i < n; i++) {
        g->ops[i] = old[order[i]];
        pos[order[i]] = i;
    }
    for (int v = 0; v < g->n_vals; v++)
        if (g->vals[v].def_op >= 0 && g->vals[v].def_op < n) g->vals[v].def_op = pos[g->vals[v].def_op];
    for (int b = 0; b < g->n_buckets; b++)
        if (g->buckets[b].ready_op >= 0 && g->buckets[b].ready_op < n)
            g->buckets[b].ready_op = pos[g->buckets[b].ready_op];
    free(pos);
    free(old);
}

typedef struct keyed {
    int64_t key;
    int idx;
} keyed;

static int cmp_keyed(const void *a, const void *b) {
    const keyed *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

void tgc_ops_order_by_key(const tgc_graph *g, const int64_t *key, int *order) {
    int n = g->n_ops;
    keyed *k = tgc_malloc(sizeof(keyed) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) k[i] = (keyed){key[i], i};
    qsort(k, (size_t)n, sizeof(keyed), cmp_keyed);
    for (int i = 0; i < n; i++) order[i] = k[i].idx;
    free(k);
}

int *tgc_use_counts(const tgc_graph *g) {
    int *uses = tgc_calloc((size_t)g->n_vals + 1, sizeof(int));
    for (int i = 0; i < g->n_ops; i++) {
        const tgc_op *op = &g->ops[i];
        if (tgc_op_is_dead(op)) continue;
        for (int j = 0; j < op->n_in; j++)
            if (op->in[j] >= 0 && op->in[j] < g->n_vals) uses[op->in[j]]++;
    }
    return uses;
}

void tgc_for_each_group_value(const tgc_graph *g, void (*fn)(void *ctx, int v, int first, int last), void *ctx) {
    for (int k = 0; k < g->n_ops;) {
        int gid = g->ops[k].group, e = k;
        if (gid < 0) {
            k++;
            continue;
        }
        while (e + 1 < g->n_ops && g->ops[e + 1].group == gid) e++;
        for (int i = k; i <= e; i++) {
            const tgc_op *op = &g->ops[i];
            for (int j = 0; j < op->n_in + op->n_out; j++) {
                int v = j < op->n_in ? op->in[j] : op->out[j - op->n_in];
                if (v >= 0 && v < g->n_vals) fn(ctx, v, k, e);
            }
        }
        k = e + 1;
    }
}
