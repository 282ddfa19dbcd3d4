/* ir/verify.c - whole-graph invariants: SSA order, arity, types re-inferred, state mutation rules. */
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"

static void type_str(const tgc_type *t, char *buf, size_t n) {
    char s[160];
    tgc_shape_str(&t->shape, s, sizeof s);
    snprintf(buf, n, "%s%s%s", tgc_dtype_name(t->dtype), s, t->layout == TGC_LAYOUT_NHWC ? " nhwc" : "");
}

static const char *gname(const tgc_graph *g) { return g->name ? g->name : "?"; }

/* ---- layouts (tgc_layout in ir/ir.h; the decision is passes/layout.c's) ----------------------------- */
/* A value may be NHWC only when it is a rank-4 float temp that the program keeps to itself: inputs and state
 * are fed, saved and updated row-major, and the runtime reads outputs (and a parameter's gradient, through
 * the optimizer and the all-reduce) row-major. */
static int check_value_layout(const tgc_graph *g, int v, tgc_err *err) {
    const tgc_value *x = &g->vals[v];
    if ((unsigned)x->type.layout >= TGC_LAYOUT_COUNT)
        return tgc_fail(err, "graph @%s: value %%%d has an invalid layout %d", gname(g), v, (int)x->type.layout);
    if (x->type.layout == TGC_LAYOUT_ROW) return 0;
    char t[200];
    type_str(&x->type, t, sizeof t);
    if (x->type.shape.rank != 4 || !tgc_dtype_is_float(x->type.dtype))
        return tgc_fail(err, "graph @%s: value %%%d is %s: only rank-4 float values may be nhwc", gname(g), v, t);
    if (x->kind != TGC_VAL_TEMP)
        return tgc_fail(err, "graph @%s: %s %%%d (%s) is nhwc: inputs and state are row-major", gname(g),
                        tgc_val_kind_name(x->kind), v, x->name ? x->name : "");
    if (x->is_output)
        return tgc_fail(err, "graph @%s: output %%%d is nhwc: outputs are row-major (a relayout before them)", gname(g), v);
    return 0;
}

/* Op i's operand/result layouts against the op table's layout rules (tgc_op_layout_io): the rank-4 values in
 * its masks share one layout, every other operand and result is row-major; relayout changes the layout.
 * Values' own rules (check_value_layout) have been checked. */
static int check_op_layouts(const tgc_graph *g, int i, tgc_err *err) {
    const tgc_op *op = &g->ops[i];
    const char *name = tgc_op_table[op->code].name, *scope = op->scope ? op->scope : "";
    if (op->code == TGC_OP_RELAYOUT) {
        tgc_layout a = g->vals[op->in[0]].type.layout, b = g->vals[op->out[0]].type.layout;
        if (a == b)
            return tgc_fail(err, "graph @%s: op #%d relayout at '%s': operand %%%d and result %%%d are both %s "
                            "(a relayout changes the layout)", gname(g), i, scope, op->in[0], op->out[0],
                            tgc_layout_name(a));
        return 0;
    }
    const tgc_type *t[TGC_MAX_IN + TGC_MAX_OUT];
    for (int s = 0; s < op->n_in + op->n_out; s++)
        t[s] = &g->vals[s < op->n_in ? op->in[s] : op->out[s - op->n_in]].type;
    int at, first, nhwc;
    tgc_layout_fault f = tgc_op_layout_fault(op->code, t, op->n_in, op->n_out, &at, &first, &nhwc);
    if (f == TGC_LAYOUT_FAULT_NONE) return 0;
    const int is_out = at >= op->n_in, pos = is_out ? at - op->n_in : at;
    const int v = is_out ? op->out[pos] : op->in[pos];
    if (f == TGC_LAYOUT_FAULT_MIXED) {
        const int f_out = first >= op->n_in, f_pos = f_out ? first - op->n_in : first;
        const int fv = f_out ? op->out[f_pos] : op->in[f_pos];
        return tgc_fail(err, "graph @%s: op #%d %s at '%s': %s %d (%%%d) is %s but %s %d (%%%d) is %s: the "
                        "activations an op takes in nhwc share one layout", gname(g), i, name, scope,
                        f_out ? "result" : "operand", f_pos, fv, tgc_layout_name(t[first]->layout),
                        is_out ? "result" : "operand", pos, v, tgc_layout_name(t[at]->layout));
    }
    if (!tgc_op_layout_io(op->code, NULL, NULL)) /* UNMASKED (BAD: values are checked first) */
        return tgc_fail(err, "graph @%s: op #%d %s at '%s': %s %d (%%%d) is nhwc, but %s takes row-major data "
                        "only", gname(g), i, name, scope, is_out ? "result" : "operand", pos, v, name);
    return tgc_fail(err, "graph @%s: op #%d %s at '%s': %s %d (%%%d) is nhwc, but %s takes it row-major "
                    "only (its layout rule)", gname(g), i, name, scope, is_out ? "result" : "operand", pos, v, name);
}

static int check_values(const tgc_graph *g, tgc_err *err) {
    for (int v = 0; v < g->n_vals; v++) {
        const tgc_value *x = &g->vals[v];
        if (x->id != v) return tgc_fail(err, "graph @%s: value %%%d records id %d", gname(g), v, x->id);
        if ((unsigned)x->kind > TGC_VAL_OPTSTATE)
            return tgc_fail(err, "graph @%s: value %%%d has an invalid kind %d", gname(g), v, (int)x->kind);
        if ((unsigned)x->type.dtype >= TGC_DTYPE_COUNT || x->type.shape.rank < 0 ||
            x->type.shape.rank > TGC_MAX_RANK)
            return tgc_fail(err, "graph @%s: value %%%d has an invalid type", gname(g), v);
        for (int i = 0; i < x->type.shape.rank; i++)
            if (x->type.shape.d[i] < 1 || x->type.shape.d[i] > ((int64_t)1 << 40))
                return tgc_fail(err, "graph @%s: value %%%d has a non-positive or huge dimension", gname(g), v);
        if (check_value_layout(g, v, err) < 0) return -1;
        if (x->kind == TGC_VAL_TEMP) {
            if (x->def_op < 0 || x->def_op >= g->n_ops || x->def_result < 0 ||
                x->def_result >= TGC_MAX_OUT || x->def_result >= g->ops[x->def_op].n_out ||
                g->ops[x->def_op].out[x->def_result] != v)
                return tgc_fail(err, "graph @%s: temp %%%d is not defined by the op it names (op #%d)",
                                gname(g), v, x->def_op);
        } else if (x->def_op != -1) {
            return tgc_fail(err, "graph @%s: %s %%%d (%s) claims to be defined by op #%d", gname(g),
                            tgc_val_kind_name(x->kind), v, x->name ? x->name : "", x->def_op);
        }
        if (x->grad_of >= 0) {
            if (x->grad_of >= g->n_vals || g->vals[x->grad_of].kind != TGC_VAL_PARAM)
                return tgc_fail(err, "graph @%s: %%%d is marked the gradient of %%%d, which is not a param",
                                gname(g), v, x->grad_of);
            const tgc_type *p = &g->vals[x->grad_of].type;
            if (p->dtype != x->type.dtype || !tgc_shape_eq(&p->shape, &x->type.shape) || p->layout != x->type.layout) {
                char a[200], b[200];
                type_str(&x->type, a, sizeof a);
                type_str(p, b, sizeof b);
                return tgc_fail(err, "graph @%s: gradient %%%d %s does not match its param %s %s", gname(g), v,
                                a, g->vals[x->grad_of].name ? g->vals[x->grad_of].name : "", b);
            }
        }
    }
    return 0;
}

int tgc_graph_verify(const tgc_graph *g, tgc_err *err) {
    if (check_values(g, err) < 0) return -1;
    int nv = g->n_vals;
    unsigned char *defined = tgc_calloc((size_t)nv + 1, 1);
    int *mutated_at = tgc_malloc(sizeof(int) * ((size_t)nv + 1));
    int *n_grads = tgc_calloc((size_t)nv + 1, sizeof(int));
    int rc = -1;
    for (int v = 0; v < nv; v++) {
        mutated_at[v] = -1;
        if (g->vals[v].kind != TGC_VAL_TEMP) defined[v] = 1;
    }

    for (int i = 0; i < g->n_ops; i++) {
        const tgc_op *op = &g->ops[i];
        if (tgc_op_is_dead(op)) {
            tgc_fail(err, "graph @%s: op #%d is dead or has an invalid code %d (not compacted)", gname(g), i,
                     (int)op->code);
            goto out;
        }
        const tgc_op_info *row = &tgc_op_table[op->code];
        const char *scope = op->scope ? op->scope : "";
        if (op->n_in != row->n_in || op->n_out != row->n_out) {
            tgc_fail(err, "graph @%s: op #%d %s at '%s' has %d operands and %d results, expected %d and %d",
                     gname(g), i, row->name, scope, op->n_in, op->n_out, row->n_in, row->n_out);
            goto out;
        }
        for (int j = 0; j < op->n_in; j++) {
            int v = op->in[j];
            if (v < 0 || v >= nv) {
                tgc_fail(err, "graph @%s: op #%d %s at '%s': operand %d is %%%d, out of range", gname(g), i,
                         row->name, scope, j, v);
                goto out;
            }
            if (!defined[v]) {
                tgc_fail(err, "graph @%s: op #%d %s at '%s' uses %%%d before it is defined", gname(g), i,
                         row->name, scope, v);
                goto out;
            }
            if (mutated_at[v] >= 0) {
                tgc_fail(err, "graph @%s: op #%d %s at '%s' reads %s after op #%d updated it in place", gname(g),
                         i, row->name, scope, g->vals[v].name ? g->vals[v].name : "a state value", mutated_at[v]);
                goto out;
            }
            if ((row->mutates >> j) & 1) {
                tgc_val_kind k = g->vals[v].kind;
                if (k != TGC_VAL_PARAM && k != TGC_VAL_BUFFER && k != TGC_VAL_OPTSTATE) {
                    tgc_fail(err, "graph @%s: op #%d %s at '%s' updates operand %d (%%%d, a %s) in place, "
                             "but only params, buffers and optimizer state may be updated",
                             gname(g), i, row->name, scope, j, v, tgc_val_kind_name(k));
                    goto out;
                }
            }
        }
        for (int j = 0; j < op->n_in; j++)
            if ((row->mutates >> j) & 1) mutated_at[op->in[j]] = i;
        for (int k = 0; k < op->n_out; k++) {
            int v = op->out[k];
            if (v < 0 || v >= nv || g->vals[v].kind != TGC_VAL_TEMP || g->vals[v].def_op != i ||
                g->vals[v].def_result != k || defined[v]) {
                tgc_fail(err, "graph @%s: op #%d %s at '%s': result %d (%%%d) is not a value defined once, here",
                         gname(g), i, row->name, scope, k, v);
                goto out;
            }
            defined[v] = 1;
        }
        tgc_type types[TGC_MAX_OUT];
        memset(types, 0, sizeof types);
        if (row->infer(g, op, types, err) < 0) {
            tgc_err_prefix(err, "graph @%s: op #%d %s at '%s'", gname(g), i, row->name, scope);
            goto out;
        }
        for (int k = 0; k < op->n_out; k++) {
            const tgc_type *t = &g->vals[op->out[k]].type;
            if (t->dtype != types[k].dtype || !tgc_shape_eq(&t->shape, &types[k].shape)) {
                char a[200], b[200];
                type_str(t, a, sizeof a);
                type_str(&types[k], b, sizeof b);
                tgc_fail(err, "graph @%s: op #%d %s at '%s': result %%%d is stored as %s but infers as %s",
                         gname(g), i, row->name, scope, op->out[k], a, b);
                goto out;
            }
        }
        if (check_op_layouts(g, i, err) < 0) goto out;
    }

    int n_out = 0;
    for (int v = 0; v < nv; v++) {
        if (g->vals[v].is_output) n_out++;
        if (g->vals[v].grad_of >= 0 && ++n_grads[g->vals[v].grad_of] > 1) {
            int p = g->vals[v].grad_of;
            tgc_fail(err, "graph @%s: param %s has more than one gradient value (%%%d is another)", gname(g),
                     g->vals[p].name ? g->vals[p].name : "?", v);
            goto out;
        }
    }
    /* A graph computes outputs, or only updates state (the `ema` program): one of them at least. */
    int n_updates = 0;
    for (int i = 0; i < g->n_ops; i++)
        if (!tgc_op_is_dead(&g->ops[i]) && tgc_op_table[g->ops[i].code].mutates) n_updates++;
    if (n_out == 0 && n_updates == 0) {
        tgc_fail(err, "graph @%s: no value is marked as an output and no op updates state", gname(g));
        goto out;
    }
    rc = 0;
out:
    free(defined);
    free(mutated_at);
    free(n_grads);
    return rc;
}
