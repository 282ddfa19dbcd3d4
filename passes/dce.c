/* passes/dce.c - dead code elimination: drops side-effect-free ops whose results nobody reads. */
#include <stdlib.h>

#include "passes/op_order.h"
#include "passes/passes.h"

/* Results that must survive although no op reads them: outputs and parameter gradients (the runtime
 * all-reduces them and the optimizer may be disabled). */
static int is_root(const tgc_value *v) { return v->is_output || v->grad_of >= 0; }

/* One reverse sweep reaches the fixpoint: in SSA program order every reader of a result comes after
 * its definer, so by the time an op is visited all of its readers have been decided. */
static int dce_graph(tgc_module *m, tgc_graph *g) {
    int *uses = tgc_use_counts(g);
    int removed = 0;
    for (int i = g->n_ops - 1; i >= 0; i--) {
        tgc_op *op = &g->ops[i];
        if (tgc_op_is_dead(op) || tgc_op_has_side_effects(op)) continue;
        int live = 0;
        for (int k = 0; k < op->n_out; k++) {
            int v = op->out[k];
            if (v >= 0 && v < g->n_vals && (uses[v] > 0 || is_root(&g->vals[v]))) live = 1;
        }
        if (live) continue;
        tgc_op_kill(op); /* dead: removed by compaction */
        removed++;
        for (int j = 0; j < op->n_in; j++)
            if (op->in[j] >= 0 && op->in[j] < g->n_vals) uses[op->in[j]]--;
    }
    free(uses);
    if (removed) tgc_module_compact(m, g);
    return removed;
}

int tgc_pass_dce(tgc_module *m, tgc_err *err) {
    (void)err;
    if (m->train) dce_graph(m, m->train);
    if (m->eval) dce_graph(m, m->eval);
    return 0;
}
