/* passes/autodiff.c - reverse-mode differentiation of the train graph's loss w.r.t. every parameter. */
#include <stdlib.h>
#include <string.h>

#include "passes/passes.h"

typedef struct ad {
    tgc_graph *g;
    int n_fwd_vals;
    int *grad;                /* forward value -> value holding its gradient so far, or -1 */
    unsigned char *dep, *reach; /* depends on a param / the loss depends on it */
} ad;

/* grad[v] += dx, summing several contributions with add. */
static int accumulate(ad *s, int v, int dx, const char *scope, tgc_err *err) {
    tgc_graph *g = s->g;
    const tgc_type *t = &g->vals[v].type, *d = &g->vals[dx].type;
    if (t->dtype != d->dtype || !tgc_shape_eq(&t->shape, &d->shape)) {
        char a[160], b[160];
        tgc_shape_str(&t->shape, a, sizeof a);
        tgc_shape_str(&d->shape, b, sizeof b);
        return tgc_fail(err, "at '%s': the gradient of %%%d %s%s came out as %s%s", scope ? scope : "", v,
                        tgc_dtype_name(t->dtype), a, tgc_dtype_name(d->dtype), b);
    }
    if (s->grad[v] < 0) {
        s->grad[v] = dx;
        return 0;
    }
    int sum = tgc_emit1(g, TGC_OP_ADD, NULL, scope, err, 2, s->grad[v], dx);
    if (sum < 0) return -1;
    s->grad[v] = sum;
    return 0;
}

/* Which values depend on a parameter (forward) and which the loss depends on (backward): only ops with
 * both kinds of operand/result need a gradient rule. */
static void mark_paths(ad *s, int loss) {
    tgc_graph *g = s->g;
    for (int v = 0; v < g->n_vals; v++) s->dep[v] = g->vals[v].kind == TGC_VAL_PARAM && !g->vals[v].frozen;
    for (int i = 0; i < g->n_ops; i++) {
        const tgc_op *op = &g->ops[i];
        if (tgc_op_is_dead(op)) continue;
        int any = 0;
        for (int j = 0; j < op->n_in; j++) any |= s->dep[op->in[j]];
        for (int k = 0; k < op->n_out; k++) s->dep[op->out[k]] |= (unsigned char)any;
    }
    s->reach[loss] = 1;
    for (int i = g->n_ops - 1; i >= 0; i--) {
        const tgc_op *op = &g->ops[i];
        if (tgc_op_is_dead(op)) continue;
        int any = 0;
        for (int k = 0; k < op->n_out; k++) any |= s->reach[op->out[k]];
        for (int j = 0; j < op->n_in; j++) s->reach[op->in[j]] |= (unsigned char)any;
    }
}

static int backward(ad *s, int n_fwd_ops, tgc_err *err) {
    tgc_graph *g = s->g;
    for (int i = n_fwd_ops - 1; i >= 0; i--) {
        tgc_op op = g->ops[i]; /* by value: the rules append to g->ops */
        if (tgc_op_is_dead(&op)) continue;
        int dy[TGC_MAX_OUT], dx[TGC_MAX_IN], any_dy = 0, any_need = 0;
        unsigned char need[TGC_MAX_IN];
        for (int k = 0; k < op.n_out; k++) {
            dy[k] = s->grad[op.out[k]];
            any_dy |= dy[k] >= 0;
        }
        for (int j = 0; j < op.n_in; j++) {
            need[j] = s->dep[op.in[j]] && s->reach[op.in[j]];
            any_need |= need[j];
            dx[j] = -1;
        }
        if (!any_dy || !any_need) continue;
        const tgc_op_info *row = &tgc_op_table[op.code];
        if (!row->grad)
            return tgc_fail(err, "%s at '%s' lies between a parameter and the loss but has no gradient rule",
                            row->name, op.scope ? op.scope : "");
        if (row->grad(g, i, dy, need, dx, err) < 0) return -1;
        for (int j = 0; j < op.n_in; j++)
            if (need[j] && dx[j] >= 0 && accumulate(s, op.in[j], dx[j], op.scope, err) < 0) return -1;
    }
    return 0;
}

/* Marks v as param p's gradient: "<param>.grad". */
static void mark_grad(tgc_graph *g, int v, int p) {
    g->vals[v].grad_of = p;
    free(g->vals[v].name);
    g->vals[v].name = tgc_asprintf("%s.grad", g->vals[p].name ? g->vals[p].name : "param");
}

/* Every param ends with one distinct gradient value defined by an op: a value that also stands for
 * another value's gradient (add and bias_add pass dy through) is copied with scale {alpha=1}; a param
 * the loss does not depend on gets zeros. */
static int finish_params(ad *s, tgc_err *err) {
    tgc_graph *g = s->g;
    int nf = s->n_fwd_vals;
    int *claims = tgc_calloc((size_t)g->n_vals + 1, sizeof(int));
    for (int u = 0; u < nf; u++)
        if (s->grad[u] >= 0) claims[s->grad[u]]++;
    int rc = -1;
    for (int p = 0; p < nf; p++) {
        if (g->vals[p].kind != TGC_VAL_PARAM || g->vals[p].frozen) continue; /* frozen: no gradient */
        int v = s->grad[p];
        if (v < 0) {
            tgc_attrs a = tgc_attrs_default();
            a.alpha = 0;
            a.shape = g->vals[p].type.shape;
            a.dtype = g->vals[p].type.dtype;
            if ((v = tgc_emit1(g, TGC_OP_FILL, &a, "unused parameter", err, 0)) < 0) goto out;
        } else if (claims[v] > 1 || g->vals[v].kind != TGC_VAL_TEMP || g->vals[v].grad_of >= 0) {
            const tgc_value *src = &g->vals[v];
            const char *scope = src->def_op >= 0 ? g->ops[src->def_op].scope : NULL;
            char *sc = tgc_strdup(scope); /* emitting may move g->ops */
            v = tgc_emit1(g, TGC_OP_SCALE, NULL, sc, err, 1, v);
            free(sc);
            if (v < 0) goto out;
        }
        mark_grad(g, v, p);
    }
    rc = 0;
out:
    free(claims);
    return rc;
}

int tgc_pass_autodiff(tgc_module *m, tgc_err *err) {
    tgc_graph *g = m->train;
    if (!g) return tgc_fail(err, "the module has no train graph");
    int loss = m->train_loss;
    if (loss < 0 || loss >= g->n_vals) return tgc_fail(err, "the loss %%%d does not exist", loss);
    const tgc_type *lt = &g->vals[loss].type;
    if (lt->dtype != TGC_F32 || lt->shape.rank != 0)
        return tgc_fail(err, "the loss %%%d must be an f32 scalar", loss);
    for (int v = 0; v < g->n_vals; v++)
        if (g->vals[v].grad_of >= 0) return tgc_fail(err, "graph @%s already has gradients", g->name);

    ad s;
    s.g = g;
    s.n_fwd_vals = g->n_vals;
    s.grad = tgc_malloc(sizeof(int) * ((size_t)g->n_vals + 1));
    s.dep = tgc_calloc((size_t)g->n_vals + 1, 1);
    s.reach = tgc_calloc((size_t)g->n_vals + 1, 1);
    for (int v = 0; v < g->n_vals; v++) s.grad[v] = -1;
    int rc = -1, n_fwd_ops = g->n_ops;
    mark_paths(&s, loss);

    /* the seed: d loss / d loss = 1, in the loss's scope; a float16 plan's loss scale input instead
     * (the gradients come out multiplied by it, and the runtime divides it out) */
    int ldef = g->vals[loss].def_op;
    int seed = tgc_graph_find(g, TGC_AMP_LOSS_SCALE);
    if (seed < 0 || g->vals[seed].kind != TGC_VAL_INPUT || g->vals[seed].type.dtype != TGC_F32 ||
        g->vals[seed].type.shape.rank != 0) {
        char *scope = tgc_strdup(ldef >= 0 ? g->ops[ldef].scope : NULL);
        tgc_attrs a = tgc_attrs_default();
        a.alpha = 1;
        a.shape = tgc_shape0();
        a.dtype = TGC_F32;
        seed = tgc_emit1(g, TGC_OP_FILL, &a, scope, err, 0);
        free(scope);
    }
    if (seed < 0) goto out;
    s.grad[loss] = seed;

    if (backward(&s, n_fwd_ops, err) < 0 || finish_params(&s, err) < 0) goto out;
    rc = 0;
out:
    free(s.grad);
    free(s.dep);
    free(s.reach);
    return rc;
}
