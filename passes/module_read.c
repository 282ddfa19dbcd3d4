/* passes/module_read.c - a module from the IR text form (what --dump-ir prints), for `tgc opt` and tests
 * that start a pass from textual IR instead of a config. */
#include <string.h>

#include "passes/passes.h"

/* The output the module names: the first positional one of `rank` (f32), else the first positional output,
 * else -1 (named outputs, the loss terms, are never the loss). */
static int named_output(const tgc_graph *g, int rank) {
    int any = -1;
    for (int v = 0; g && v < g->n_vals; v++) {
        if (g->vals[v].is_output != 1) continue;
        if (g->vals[v].type.dtype == TGC_F32 && g->vals[v].type.shape.rank == rank) return v;
        if (any < 0) any = v;
    }
    return any;
}

static int64_t batch_of(const tgc_graph *g) {
    int v = g ? tgc_graph_find(g, "inputs") : -1;
    return v >= 0 && g->vals[v].type.shape.rank > 0 ? g->vals[v].type.shape.d[0] : 0;
}

int tgc_module_parse(const char *text, size_t len, const char *file, tgc_module *m, tgc_err *err) {
    static const char *const names[] = {"train", "eval"};
    tgc_graph *g[2];
    memset(m, 0, sizeof *m);
    if (tgc_ir_parse(text, len, file, names, 2, g, err) < 0) return -1;
    if (!g[0]) {
        tgc_graph_free(g[1]);
        return tgc_fail(err, "%s: no graph @train (a module is graph @train and, optionally, graph @eval)",
                        file ? file : "<input>");
    }
    m->train = g[0];
    m->eval = g[1];
    m->train_loss = named_output(m->train, 0);
    m->eval_logits = named_output(m->eval, 2);
    m->train_batch = batch_of(m->train);
    m->eval_batch = batch_of(m->eval);
    /* the module's layout is not in the text: NHWC when some value is (a dump after the layout pass) */
    for (int i = 0; i < 2; i++)
        for (int v = 0; g[i] && v < g[i]->n_vals; v++)
            if (g[i]->vals[v].type.layout != TGC_LAYOUT_ROW) m->layout = TGC_LAYOUT_NHWC;
    m->bucket_cap_mb = 25;
    m->first_bucket_mb = 1;
    m->optim.kind = TGC_OPTIM_SGD;
    m->optim.lr = 0.01;
    m->optim.beta1 = 0.9, m->optim.beta2 = 0.999, m->optim.eps = 1e-8;
    return 0;
}
