/* passes/verify.c - the verify pass: both graphs' invariants plus the module's loss and logits. */
#include "passes/passes.h"

/* The value a module names must exist, be an output and have an expected rank (rank, or rank2 when >= 0)
 * and dtype. */
static int check_named(const tgc_graph *g, int v, const char *what, int rank, int rank2, tgc_err *err) {
    if (v < 0 || v >= g->n_vals)
        return tgc_fail(err, "graph @%s: the %s is %%%d, which does not exist", g->name, what, v);
    const tgc_value *x = &g->vals[v];
    if (!x->is_output)
        return tgc_fail(err, "graph @%s: the %s %%%d is not marked as an output", g->name, what, v);
    if (x->type.dtype != TGC_F32 || (x->type.shape.rank != rank && x->type.shape.rank != rank2)) {
        char s[160];
        tgc_shape_str(&x->type.shape, s, sizeof s);
        return tgc_fail(err, "graph @%s: the %s %%%d must be a %d-D f32 value, got %s%s", g->name, what, v,
                        rank, tgc_dtype_name(x->type.dtype), s);
    }
    return 0;
}

int tgc_pass_verify(tgc_module *m, tgc_err *err) {
    if (!m->train) return tgc_fail(err, "the module has no train graph");
    if (tgc_graph_verify(m->train, err) < 0) return -1;
    if (check_named(m->train, m->train_loss, "loss", 0, -1, err) < 0) return -1;
    if (m->eval) {
        if (tgc_graph_verify(m->eval, err) < 0) return -1;
        /* logits [N, K] of a classifier, or a dense detector's per-anchor outputs [N, A, C + 4] */
        if (check_named(m->eval, m->eval_logits, "logits", 2, 3, err) < 0) return -1;
    }
    if (m->ema && tgc_graph_verify(m->ema, err) < 0) return -1;
    if (m->precise_bn && tgc_graph_verify(m->precise_bn, err) < 0) return -1;
    return 0;
}
