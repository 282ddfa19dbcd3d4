/* passes/fuse_bn_relu.c - train graph: relu(batch_norm_train(x)) becomes one batch_norm_train_relu, and
 * batch_norm_bwd(relu_bwd(dy, y), x, ...) of such a pair one batch_norm_relu_bwd.
 *
 * Batch norm is not elementwise over its tensor (its statistics need the whole channel), so the relu
 * cannot join an elementwise group; instead the BN kernel applies the relu in its output loop, which
 * saves one read and one write of the activation. The backward recomputes the relu mask from x
 * (pre-activation x*a + b > 0 with the forward's a = gamma*invstd, b = beta - mean*a, computed in the
 * same float operations as the forward), so it reads neither the relu output nor a separate masked
 * gradient: relu_bwd's pass over the tensor disappears. Both rewrites keep every value id the rest of
 * the graph uses (the relu's output becomes the BN's result 0; the gradients keep their ids), so the
 * parameter gradients and their bucket slots are untouched.
 *
 * Conditions: the BN's normalised output is read only by the relu; the masked gradient only by the
 * batch_norm_bwd of that same BN (matching x, gamma and statistics).
 */
#include <stdlib.h>

#include "passes/op_order.h"
#include "passes/passes.h"

static int root(const tgc_value *v) { return v->is_output || v->grad_of >= 0; }

/* The one live op reading value v after op `from`, or -1. */
static int only_reader(const tgc_graph *g, int v, int from) {
    for (int i = from + 1; i < g->n_ops; i++) {
        const tgc_op *op = &g->ops[i];
        if (tgc_op_is_dead(op)) continue;
        for (int j = 0; j < op->n_in; j++)
            if (op->in[j] == v) return i;
    }
    return -1;
}

static void fuse_graph(tgc_module *m, tgc_graph *g) {
    int *uses = tgc_use_counts(g);
    int changed = 0;
    for (int k = 0; k < g->n_ops; k++) {
        if (g->ops[k].code != TGC_OP_BN_TRAIN) continue;
        int t = g->ops[k].out[0];
        if (uses[t] != 1 || root(&g->vals[t])) continue;
        int r = only_reader(g, t, k);
        if (r < 0 || g->ops[r].code != TGC_OP_RELU) continue;
        /* forward: the BN writes the relu's output */
        int y = g->ops[r].out[0];
        tgc_op *bn = &g->ops[k];
        bn->code = TGC_OP_BN_TRAIN_RELU;
        bn->out[0] = y;
        g->vals[y].def_op = k;
        g->vals[y].def_result = 0;
        g->vals[t].def_op = -1; /* unreferenced now: compaction drops it */
        tgc_op_kill(&g->ops[r]);
        uses[t] = 0;
        changed = 1;
        /* backward: relu_bwd(dy, y) read only by batch_norm_bwd(that, x, gamma, mean, invstd) */
        for (int i = k + 1; i < g->n_ops; i++) {
            tgc_op *rb = &g->ops[i];
            if (rb->code != TGC_OP_RELU_BWD || rb->in[1] != y) continue;
            int d = rb->out[0];
            if (uses[d] != 1 || root(&g->vals[d])) continue;
            int b = only_reader(g, d, i);
            if (b < 0) continue;
            tgc_op *bb = &g->ops[b];
            const tgc_op *f = &g->ops[k];
            if (bb->code != TGC_OP_BN_BWD || bb->in[0] != d || bb->in[1] != f->in[0] || bb->in[2] != f->in[1] ||
                bb->in[3] != f->out[1] || bb->in[4] != f->out[2])
                continue;
            int in[6] = {rb->in[0], f->in[0], f->in[1], f->in[2], f->out[1], f->out[2]};
            bb->code = TGC_OP_BN_RELU_BWD;
            bb->n_in = 6;
            for (int j = 0; j < 6; j++) bb->in[j] = in[j];
            tgc_op_kill(rb);
            uses[d] = 0;
        }
    }
    free(uses);
    if (changed) tgc_module_compact(m, g);
}

int tgc_pass_fuse_bn_relu(tgc_module *m, tgc_err *err) {
    (void)err;
    if (m->train) fuse_graph(m, m->train);
    return 0;
}
