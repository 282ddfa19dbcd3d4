/* passes/fold_bn.c - eval graph: conv2d followed by batch_norm_eval becomes conv2d with folded weights
 * plus a bias_add.
 *
 *   y = conv2d(x, w); z = batch_norm_eval(y, gamma, beta, mean, var)
 * becomes
 *   wf, bf = fold_conv_bn(w, gamma, beta, mean, var); y' = conv2d(x, wf); z = bias_add(y', bf)
 * with s = gamma/sqrt(var + eps), wf = w*s and bf = beta - mean*s per output channel. The parameters
 * and running statistics change every train step, so the fold is an op of the eval program (a few
 * microseconds per conv), not a compile-time constant. It is placed right before its conv rather than
 * at the start of the program so that each folded weight lives only as long as its conv needs it; the
 * bias_add takes the BN's place and is elementwise, so fuse-elementwise can merge it with the relu or
 * residual add that follows. A conv whose output has another reader keeps its BN.
 */
#include <stdlib.h>

#include "passes/op_order.h"
#include "passes/passes.h"

static int fold_graph(tgc_module *m, tgc_graph *g, tgc_err *err) {
    int n0 = g->n_ops, folded = 0, rc = 0;
    int *uses = tgc_use_counts(g);
    /* keys for the final order: 4k+2 for op k; a fold goes before its conv, the bias_add after the BN */
    int64_t *key = tgc_malloc(sizeof(int64_t) * ((size_t)n0 * 3 + 1));
    for (int k = 0; k < n0; k++) key[k] = 4 * (int64_t)k + 2;
    for (int k = 0; k < n0 && rc == 0; k++) {
        if (g->ops[k].code != TGC_OP_BN_EVAL) continue;
        tgc_op bn = g->ops[k];
        int y = bn.in[0], conv = g->vals[y].def_op;
        if (conv < 0 || g->ops[conv].code != TGC_OP_CONV2D || uses[y] != 1 || g->vals[y].is_output ||
            g->vals[y].grad_of >= 0)
            continue;
        tgc_attrs a = tgc_attrs_default();
        a.eps = bn.attrs.eps;
        /* under mixed precision the conv reads a cast of the f32 weight: fold the f32 weight, cast the
         * folded one */
        int w = g->ops[conv].in[1], wdef = g->vals[w].def_op, wcast = -1;
        tgc_dtype wt = g->vals[w].type.dtype;
        if (wt != TGC_F32 && wdef >= 0 && g->ops[wdef].code == TGC_OP_CAST) {
            if (uses[w] == 1) wcast = wdef; /* the conv was its only reader: dead once the conv reads the fold */
            w = g->ops[wdef].in[0];
        }
        int fin[5] = {w, bn.in[1], bn.in[2], bn.in[3], bn.in[4]}, fout[2];
        int f = tgc_emit(g, TGC_OP_FOLD_CONV_BN, fin, 5, &a, bn.scope, fout, err);
        if (f < 0) {
            rc = -1;
            break;
        }
        int wf = fout[0];
        if (g->vals[wf].type.dtype != wt) {
            tgc_attrs ca = tgc_attrs_default();
            ca.dtype = wt;
            if ((wf = tgc_emit1(g, TGC_OP_CAST, &ca, bn.scope, err, 1, wf)) < 0) {
                rc = -1;
                break;
            }
            key[g->vals[wf].def_op] = 4 * (int64_t)conv + 1;
        }
        g->ops[conv].in[1] = wf;
        if (wcast >= 0) tgc_op_kill(&g->ops[wcast]);
        tgc_attrs ba = tgc_attrs_default();
        ba.axis = 1;
        int z2 = tgc_emit1(g, TGC_OP_BIAS_ADD, &ba, bn.scope, err, 2, y, fout[1]);
        if (z2 < 0) {
            rc = -1;
            break;
        }
        g->vals[z2].type.layout = g->vals[y].type.layout; /* the conv's (passes/layout.c) */
        key[f] = 4 * (int64_t)conv + 1;
        key[g->vals[z2].def_op] = 4 * (int64_t)k + 3;
        /* the BN's readers (all after it) now read the bias_add */
        int z = bn.out[0];
        for (int i = k + 1; i < g->n_ops; i++)
            for (int j = 0; j < g->ops[i].n_in; j++)
                if (g->ops[i].in[j] == z) g->ops[i].in[j] = z2;
        if (g->vals[z].is_output) { /* the output (a named one with its name) moves to the folded value */
            g->vals[z2].is_output = g->vals[z].is_output;
            g->vals[z].is_output = 0;
            if (g->vals[z2].is_output >= TGC_OUTPUT_NAMED && !g->vals[z2].name) {
                g->vals[z2].name = g->vals[z].name;
                g->vals[z].name = NULL;
            }
            if (m->eval_logits == z) m->eval_logits = z2;
        }
        tgc_op_kill(&g->ops[k]); /* dead: removed by compaction */
        folded++;
    }
    if (rc == 0 && folded) {
        int *order = tgc_malloc(sizeof(int) * (size_t)g->n_ops);
        tgc_ops_order_by_key(g, key, order);
        tgc_ops_reorder(g, order);
        free(order);
        tgc_module_compact(m, g);
    }
    free(key);
    free(uses);
    return rc;
}

int tgc_pass_fold_bn(tgc_module *m, tgc_err *err) {
    return m->eval ? fold_graph(m, m->eval, err) : 0;
}
