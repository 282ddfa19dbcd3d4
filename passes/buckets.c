/* passes/buckets.c - gradient all-reduce buckets (PyTorch DDP's grouping) and the GRAD slab layout.
 *
 * Parameter gradients are taken in the order the backward produces them and grouped: the first bucket
 * is limited by first_bucket_mb MiB, the others by bucket_cap_mb MiB. As DDP's
 * compute_bucket_assignment_by_size does, a gradient is appended to the open bucket and the bucket closes
 * once its size reaches the limit (so a bucket may end one gradient past its cap, and a gradient larger
 * than the cap closes the bucket it joins). Caps count the gradients' own bytes, as DDP does.
 *
 * Layout: each gradient gets a slot in the GRAD slab of its size rounded up to the target's alignment
 * (passes/target.h; kernels and collectives like aligned buffers); a bucket is its gradients' slots back to back, so the buckets tile
 * the slab exactly and each is one collective over [offset, offset + bytes) with no copy. The padding at
 * the end of a slot is never written by kernels; the runtime zeroes the slab once, so reducing it is
 * harmless. Each bucket's collective can be issued right after `ready_op`, the op producing its last
 * gradient, overlapping the rest of the backward.
 */
#include <math.h>
#include <stdlib.h>

#include "passes/passes.h"

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

static uint64_t value_bytes(const tgc_value *v) {
    return (uint64_t)tgc_shape_numel(&v->type.shape) * tgc_dtype_size(v->type.dtype);
}

static void free_buckets(tgc_graph *g) {
    for (int b = 0; b < g->n_buckets; b++) free(g->buckets[b].vals);
    free(g->buckets);
    g->buckets = NULL;
    g->n_buckets = 0;
}

static int cap_bytes(double mb, const char *what, uint64_t *out, tgc_err *err) {
    if (!(mb >= 0) || mb > 1e9) return tgc_fail(err, "%s must be a non-negative number of MiB, got %g", what, mb);
    *out = (uint64_t)floor(mb * 1048576.0);
    return 0;
}

int tgc_pass_buckets(tgc_module *m, tgc_err *err) {
    if (m->eval) free_buckets(m->eval); /* eval has no gradients to reduce */
    tgc_graph *g = m->train;
    if (!g) return 0;
    free_buckets(g);
    uint64_t first_cap = 0, cap = 0, align = tgc_module_target(m)->alignment;
    if (cap_bytes(m->first_bucket_mb, "first_bucket_mb", &first_cap, err) < 0 ||
        cap_bytes(m->bucket_cap_mb, "bucket_cap_mb", &cap, err) < 0)
        return -1;

    /* Gradients in production order; a parameter has one gradient value. */
    int *grads = tgc_malloc(sizeof(int) * (size_t)(g->n_vals ? g->n_vals : 1));
    unsigned char *seen = tgc_calloc((size_t)(g->n_vals ? g->n_vals : 1), 1);
    int n = 0;
    for (int k = 0; k < g->n_ops; k++)
        for (int r = 0; r < g->ops[k].n_out; r++) {
            int v = g->ops[k].out[r];
            const tgc_value *val = &g->vals[v];
            if (val->grad_of < 0 || val->kind != TGC_VAL_TEMP) continue;
            if (val->grad_of >= g->n_vals) {
                free(grads), free(seen);
                return tgc_fail(err, "graph %s: %%%d is the gradient of %%%d, which does not exist", g->name, v,
                                val->grad_of);
            }
            if (seen[val->grad_of]) {
                const char *pn = g->vals[val->grad_of].name;
                free(grads), free(seen);
                return tgc_fail(err, "graph %s: parameter '%s' has more than one gradient value (%%%d is another)",
                                g->name, pn ? pn : "?", v);
            }
            seen[val->grad_of] = 1;
            grads[n++] = v;
        }
    free(seen);

    uint64_t off = 0;
    int i = 0;
    while (i < n) {
        uint64_t limit = g->n_buckets == 0 ? first_cap : cap;
        int j = i;
        uint64_t sum = 0;
        /* Append, then close once the bucket has reached its limit. */
        do {
            sum += value_bytes(&g->vals[grads[j]]);
            j++;
        } while (j < n && sum < limit);
        g->buckets = tgc_realloc(g->buckets, sizeof(tgc_bucket) * (size_t)(g->n_buckets + 1));
        tgc_bucket *b = &g->buckets[g->n_buckets++];
        b->n_vals = j - i;
        b->vals = tgc_malloc(sizeof(int) * (size_t)b->n_vals);
        b->offset = off;
        for (int k = i; k < j; k++) {
            tgc_value *v = &g->vals[grads[k]];
            b->vals[k - i] = grads[k];
            v->slab = TGC_SLAB_GRAD;
            v->offset = off;
            off = align_up(off + value_bytes(v), align);
        }
        b->bytes = off - b->offset;
        b->ready_op = g->vals[grads[j - 1]].def_op;
        i = j;
    }
    free(grads);
    return 0;
}
