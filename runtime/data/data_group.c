/* runtime/data/data_group.c - batches of one orientation (MMDetection's AspectRatioBatchSampler) over a rank's
 * epoch order, with a fixed batch count for training so that every rank runs the same number of steps. */
#include "runtime/data/data.h"

#include <stdlib.h>
#include <string.h>

void tgc_group_init(tgc_group *g, int cap) {
    memset(g, 0, sizeof *g);
    g->cap = cap > 0 ? cap : 1;
    g->idx = tgc_malloc(sizeof(int) * (size_t)g->cap);
    g->pos = tgc_malloc(sizeof(int) * (size_t)g->cap);
    g->start = tgc_malloc(sizeof(int) * (size_t)g->cap);
    g->count = tgc_malloc(sizeof(int) * (size_t)g->cap);
    g->portrait = tgc_malloc((size_t)g->cap);
}

void tgc_group_free(tgc_group *g) {
    free(g->idx);
    free(g->pos);
    free(g->start);
    free(g->count);
    free(g->portrait);
    memset(g, 0, sizeof *g);
}

int tgc_group_train_batches(int n, int batch_size, int both) {
    if (batch_size < 1 || n < 0) return 0;
    int k = n / batch_size - (both ? 1 : 0);
    return k > 0 ? k : 0;
}

static void emit(tgc_group *g, const int *idx, const int *pos, const int *members, int m, uint8_t portrait) {
    g->start[g->n] = g->n_entries;
    g->count[g->n] = m;
    g->portrait[g->n] = portrait;
    for (int i = 0; i < m; i++) {
        g->idx[g->n_entries] = idx[members[i]];
        g->pos[g->n_entries++] = pos[members[i]];
    }
    g->n++;
}

int tgc_group_batches(tgc_group *g, const int *idx, const int *pos, int n, const uint8_t *is_portrait, int batch_size,
                      int train, int both, tgc_err *err) {
    if (batch_size < 1) return tgc_fail(err, "orientation groups: batch_size %d is not positive", batch_size);
    if (n > g->cap) return tgc_fail(err, "orientation groups: %d samples, more than the %d allocated", n, g->cap);
    g->n = g->n_entries = g->dropped = 0;
    g->n_orient[0] = g->n_orient[1] = 0;
    /* the members of each orientation's bucket (training) or list (evaluation), as positions in idx */
    int *mem[2] = {tgc_malloc(sizeof(int) * (size_t)(n ? n : 1)), tgc_malloc(sizeof(int) * (size_t)(n ? n : 1))};
    int fill[2] = {0, 0};
    if (train) {
        int want = tgc_group_train_batches(n, batch_size, both);
        for (int k = 0; k < n && g->n < want; k++) {
            int o = is_portrait[idx[k]] ? 1 : 0;
            mem[o][fill[o]++] = k;
            if (fill[o] == batch_size) { /* the bucket is full: a batch of this orientation */
                emit(g, idx, pos, mem[o], batch_size, (uint8_t)o);
                g->n_orient[o]++;
                fill[o] = 0;
            }
        }
        free(mem[0]);
        free(mem[1]);
        g->dropped = n - g->n_entries;
        if (g->n != want) /* floor(L / B) + floor(P / B) >= floor(n / B) - 1: cannot happen */
            return tgc_fail(err, "internal error: orientation groups gave %d batches of %d, not %d", g->n, batch_size, want);
        return 0;
    }
    for (int k = 0; k < n; k++) {
        int o = is_portrait[idx[k]] ? 1 : 0;
        mem[o][fill[o]++] = k;
    }
    for (int o = 0; o < 2; o++) /* landscape batches, then portrait; each orientation's last batch may be partial */
        for (int s = 0; s < fill[o]; s += batch_size) {
            emit(g, idx, pos, mem[o] + s, TGC_MIN(batch_size, fill[o] - s), (uint8_t)o);
            g->n_orient[o]++;
        }
    free(mem[0]);
    free(mem[1]);
    return 0;
}
