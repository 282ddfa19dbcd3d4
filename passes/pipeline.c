/* passes/pipeline.c - the pass table, running it with dumps and --disable-pass, and module helpers. */
#include <stdlib.h>
#include <string.h>

#include "passes/passes.h"

const tgc_pass tgc_passes_table[] = {
    {"verify", "check both graphs: SSA order, arity, types, state updates, outputs", 0, tgc_pass_verify},
    {"amp", "mixed precision: conv/matmul in bf16/f16, casts once per value, f32 master weights (when enabled)",
     0, tgc_pass_amp},
    {"autodiff", "train: gradient of the loss for every parameter, in reverse program order", 0,
     tgc_pass_autodiff},
    {"optimizer", "train: one SGD/AdamW update per parameter, with lr/step inputs and optimizer state", 0,
     tgc_pass_optimizer},
    {"dce", "remove side-effect-free ops whose results are never used", 1, tgc_pass_dce},
    {"cse", "merge identical side-effect-free ops (commutative operands in either order)", 1, tgc_pass_cse},
    /* After cse (each value once, so one relayout per value) and before the fusion passes, which keep the
     * layouts it chose (fold-bn's bias_add takes its conv's). */
    {"layout", "with --layout nhwc: activations of NHWC-capable ops in NHWC, relayout ops at the borders", 0,
     tgc_pass_layout},
    /* Fusion. The rewrites come after cse, so they see each value computed once, and before buckets,
     * which records op positions (fuse-elementwise moves ops); fuse-optimizer needs the gradient slots
     * that buckets chooses, and memplan must see every group (it lays parameters out in the updates'
     * order and keeps a group's tensors alive across the whole group). */
    {"fold-bn", "eval: fold batch_norm_eval into the conv2d before it (folded weight + bias_add)", 1,
     tgc_pass_fold_bn},
    {"fuse-bn-relu", "train: batch_norm_train + relu, and their backward, as one op each", 1,
     tgc_pass_fuse_bn_relu},
    {"fuse-elementwise", "group chains of elementwise ops to run in one pass over memory", 1,
     tgc_pass_fuse_elementwise},
    {"buckets", "group gradients into all-reduce buckets in reverse production order", 0, tgc_pass_buckets},
    {"fuse-optimizer", "train: optimizer updates in gradient-slot order, grouped into multi-tensor updates", 1,
     tgc_pass_fuse_optimizer},
    /* After everything that moves or groups ops, right before memplan, whose lower bound it lowers. */
    {"schedule", "reorder ops greedily (operands dying first) to lower the peak of live arena bytes", 1,
     tgc_pass_schedule},
    {"memplan", "place every value: state slabs, grad slab in bucket order, arena offsets by liveness", 0,
     tgc_pass_memplan},
    {"verify-plan", "check the placement: no two simultaneously live tensors overlap", 0,
     tgc_pass_verify_plan},
};
const int tgc_passes_table_len = (int)TGC_ARRAY_LEN(tgc_passes_table);

const tgc_pass *tgc_pass_find(const char *name) {
    if (!name) return NULL;
    for (int i = 0; i < tgc_passes_table_len; i++)
        if (strcmp(tgc_passes_table[i].name, name) == 0) return &tgc_passes_table[i];
    return NULL;
}

void tgc_module_free(tgc_module *m) {
    if (!m) return;
    tgc_graph_free(m->train);
    tgc_graph_free(m->eval);
    tgc_graph_free(m->ema);
    tgc_graph_free(m->precise_bn);
    m->train = m->eval = m->ema = m->precise_bn = NULL;
}

void tgc_module_compact(tgc_module *m, tgc_graph *g) {
    int *remap = tgc_malloc(sizeof(int) * ((size_t)g->n_vals + 1));
    int n = g->n_vals;
    tgc_graph_compact_remap(g, remap);
    if (g == m->train && m->train_loss >= 0 && m->train_loss < n) m->train_loss = remap[m->train_loss];
    if (g == m->eval && m->eval_logits >= 0 && m->eval_logits < n) m->eval_logits = remap[m->eval_logits];
    free(remap);
}

/* "verify, autodiff, ..." for error messages about pass names. */
static void pass_names(char *buf, size_t n, int with_build) {
    size_t len = 0;
    buf[0] = 0;
    if (with_build) len = (size_t)snprintf(buf, n, "build, ");
    for (int i = 0; i < tgc_passes_table_len && len < n; i++) {
        int r = snprintf(buf + len, n - len, "%s%s", i ? ", " : "", tgc_passes_table[i].name);
        if (r < 0) break;
        len += (size_t)r;
    }
}

static void dump(const tgc_module *m, const char *after, FILE *f) {
    fprintf(f, "// ----- after %s -----\n", after);
    if (m->train) tgc_graph_print(m->train, f);
    if (m->eval) tgc_graph_print(m->eval, f);
    if (m->ema) tgc_graph_print(m->ema, f);
    if (m->precise_bn) tgc_graph_print(m->precise_bn, f);
    fflush(f);
}

static int is_disabled(const tgc_pipeline_opts *o, const char *name) {
    for (int i = 0; o && i < o->n_disabled && i < 32; i++)
        if (o->disabled[i] && strcmp(o->disabled[i], name) == 0) return 1;
    return 0;
}

int tgc_run_pipeline(tgc_module *m, const tgc_pipeline_opts *opts, tgc_err *err) {
    const char *dump_after = opts ? opts->dump_after : NULL;
    FILE *out = (opts && opts->dump_to) ? opts->dump_to : stdout;
    char names[512];

    if (dump_after && strcmp(dump_after, "*") != 0 && strcmp(dump_after, "build") != 0 &&
        !tgc_pass_find(dump_after)) {
        pass_names(names, sizeof names, 1);
        return tgc_fail(err, "--dump-ir: unknown pass '%s' (passes: %s, or * for all)", dump_after, names);
    }
    if (opts && (opts->n_disabled < 0 || opts->n_disabled > 32))
        return tgc_fail(err, "--disable-pass: %d passes named, at most 32", opts->n_disabled);
    for (int i = 0; opts && i < opts->n_disabled; i++) {
        const tgc_pass *p = tgc_pass_find(opts->disabled[i]);
        if (!p) {
            pass_names(names, sizeof names, 0);
            return tgc_fail(err, "--disable-pass: unknown pass '%s' (passes: %s)",
                            opts->disabled[i] ? opts->disabled[i] : "", names);
        }
        if (!p->optional) {
            names[0] = 0;
            size_t len = 0;
            for (int k = 0; k < tgc_passes_table_len; k++)
                if (tgc_passes_table[k].optional && len < sizeof names)
                    len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", len ? ", " : "",
                                            tgc_passes_table[k].name);
            return tgc_fail(err, "--disable-pass: pass '%s' is required (only these may be disabled: %s)",
                            p->name, names);
        }
    }
    int n_only = opts && opts->only && opts->n_only > 0 ? opts->n_only : 0, first = 0;
    for (int i = 0; i < n_only; i++)
        if (!tgc_pass_find(opts->only[i])) {
            pass_names(names, sizeof names, 0);
            return tgc_fail(err, "--pass: unknown pass '%s' (passes: %s)", opts->only[i] ? opts->only[i] : "",
                            names);
        }
    if (!n_only && opts && opts->from) {
        const tgc_pass *p = tgc_pass_find(opts->from);
        if (!p) {
            pass_names(names, sizeof names, 0);
            return tgc_fail(err, "--from: unknown pass '%s' (passes: %s)", opts->from, names);
        }
        first = (int)(p - tgc_passes_table);
    }
    if (!m || !m->train) return tgc_fail(err, "pipeline: the module has no train graph");

    int dump_all = dump_after && strcmp(dump_after, "*") == 0;
    int partial = n_only || (opts && opts->from);
    if (!partial && (dump_all || (dump_after && strcmp(dump_after, "build") == 0))) dump(m, "build", out);

    for (int i = n_only ? 0 : first; i < (n_only ? n_only : tgc_passes_table_len); i++) {
        const tgc_pass *p = n_only ? tgc_pass_find(opts->only[i]) : &tgc_passes_table[i];
        if (!n_only && is_disabled(opts, p->name)) continue;
        if (p->run(m, err) < 0) return tgc_err_prefix(err, "pass %s", p->name);
        /* every pass must leave valid graphs; catching a broken one here names the pass at fault */
        if (p->run != tgc_pass_verify && tgc_pass_verify(m, err) < 0)
            return tgc_err_prefix(err, "pass %s left an invalid graph", p->name);
        if (dump_all || (dump_after && strcmp(dump_after, p->name) == 0)) dump(m, p->name, out);
    }
    return 0;
}
