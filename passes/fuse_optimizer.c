/* passes/fuse_optimizer.c - train graph: the optimizer updates as multi-tensor groups.
 *
 * The updates (one per parameter, at the end of the program) are put in the order of their gradients'
 * slots in the GRAD slab (which the buckets pass has laid out), and each maximal run of updates with the
 * same op, the same attributes (lr and decay multipliers included) and the same lr/step inputs, whose
 * gradients sit in consecutive slots, becomes one group. The memory planner then lays parameters and
 * optimizer state out in this same order with the same aligned slots (passes/memplan.c), so for every
 * group each operand's tensors tile one contiguous range with equal offsets: a backend runs the group as
 * one update over [first tensor, last tensor end) instead of one call per parameter (PyTorch's
 * multi-tensor `foreach` idea). Padding between slots is updated too, harmlessly: nothing reads it.
 * The ops keep their meaning one by one, so a backend that ignores the groups stays correct.
 *
 * Runs after buckets (it needs the gradient slots) and before memplan (which follows its order).
 */
#include <stdlib.h>
#include <string.h>

#include "passes/op_order.h"
#include "passes/passes.h"

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

static uint64_t value_bytes(const tgc_value *v) {
    return (uint64_t)tgc_shape_numel(&v->type.shape) * tgc_dtype_size(v->type.dtype);
}

/* A parameter update: optimizer work that updates its first operand and has no result (the gradient norm
 * and clipping ops of the update section are optimizer work too, but produce values). */
static int is_update(const tgc_op *op) {
    return !tgc_op_is_dead(op) && (tgc_op_table[op->code].flags & TGC_OPF_OPTIMIZER) && op->n_in >= 2 &&
           op->n_out == 0 && (tgc_op_table[op->code].mutates & 1);
}

/* Same opcode, the attributes the row reads, and the same scalar operands (lr, step). */
static int same_update(const tgc_graph *g, const tgc_op *a, const tgc_op *b) {
    if (a->code != b->code || a->n_in != b->n_in) return 0;
    if (a->code == TGC_OP_LAMB_UPDATE) return 0; /* its trust ratio is per parameter: no flat group */
    const tgc_attrs *x = &a->attrs, *y = &b->attrs;
    if (x->alpha != y->alpha || x->weight_decay != y->weight_decay || x->momentum != y->momentum ||
        x->dampening != y->dampening || x->nesterov != y->nesterov || x->beta1 != y->beta1 || x->beta2 != y->beta2 ||
        x->eps != y->eps)
        return 0;
    for (int j = 0; j < a->n_in; j++) {
        int scalar_a = g->vals[a->in[j]].type.shape.rank == 0, scalar_b = g->vals[b->in[j]].type.shape.rank == 0;
        if (scalar_a != scalar_b || (scalar_a && a->in[j] != b->in[j])) return 0;
        if (!scalar_a && g->vals[a->in[j]].type.dtype != TGC_F32) return 0;
    }
    return 1;
}

/* The gradient slot of update op: its offset, or UINT64_MAX when the gradient is not in the GRAD slab. */
static uint64_t grad_offset(const tgc_graph *g, const tgc_op *op) {
    const tgc_value *v = &g->vals[op->in[1]];
    return v->slab == TGC_SLAB_GRAD ? v->offset : UINT64_MAX;
}

typedef struct upd {
    uint64_t off;
    int idx;
} upd;

static int cmp_upd(const void *a, const void *b) {
    const upd *x = a, *y = b;
    if (x->off != y->off) return x->off < y->off ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

int tgc_pass_fuse_optimizer(tgc_module *m, tgc_err *err) {
    (void)err;
    tgc_graph *g = m->train;
    if (!g || g->n_ops == 0) return 0;
    /* The updates must be the program's tail: then any order among them is valid (each touches only
     * its own parameter and state, and reads gradients complete before the first of them). */
    int first = g->n_ops;
    while (first > 0 && is_update(&g->ops[first - 1])) first--;
    for (int k = 0; k < first; k++)
        if (is_update(&g->ops[k])) return 0; /* an update inside the program: leave it alone */
    int n = g->n_ops - first;
    if (n < 2) return 0;

    upd *u = tgc_malloc(sizeof(upd) * (size_t)n);
    for (int i = 0; i < n; i++) u[i] = (upd){grad_offset(g, &g->ops[first + i]), first + i};
    qsort(u, (size_t)n, sizeof(upd), cmp_upd);
    int *order = tgc_malloc(sizeof(int) * (size_t)g->n_ops);
    for (int k = 0; k < first; k++) order[k] = k;
    for (int i = 0; i < n; i++) order[first + i] = u[i].idx;
    free(u);
    tgc_ops_reorder(g, order);
    free(order);

    uint64_t align = tgc_module_target(m)->alignment;
    int id = 0;
    for (int k = 0; k < g->n_ops; k++)
        if (g->ops[k].group >= id) id = g->ops[k].group + 1;
    int start = first;
    for (int k = first + 1; k <= g->n_ops; k++) {
        int joins = 0;
        if (k < g->n_ops) {
            const tgc_op *prev = &g->ops[k - 1], *op = &g->ops[k];
            uint64_t po = grad_offset(g, prev), o = grad_offset(g, op);
            joins = same_update(g, prev, op) && po != UINT64_MAX && o != UINT64_MAX &&
                    o == align_up(po + value_bytes(&g->vals[prev->in[1]]), align);
        }
        if (joins) continue;
        if (k - start >= 2) {
            for (int i = start; i < k; i++) g->ops[i].group = id;
            id++;
        }
        start = k;
    }
    return 0;
}
