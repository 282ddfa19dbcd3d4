/* passes/optimizer.c - optimizer lowering: one in-place update per parameter at the end of train. */
#include <stdlib.h>
#include <string.h>

#include "passes/passes.h"

const char *tgc_optim_kind_name(tgc_optim_kind k) {
    static const char *const names[] = {"sgd", "adamw", "adam", "rmsprop"};
    return (unsigned)k < TGC_ARRAY_LEN(names) ? names[k] : NULL;
}

/* PyTorch's own argument checks, so a bad config fails at compile time, not in the runtime. */
static int check_spec(const tgc_optim_spec *o, tgc_err *err) {
    const char *k = "optim_wrapper.optimizer";
    if (!(o->lr >= 0)) return tgc_fail(err, "%s.lr: %g is negative", k, o->lr);
    if (!(o->weight_decay >= 0)) return tgc_fail(err, "%s.weight_decay: %g is negative", k, o->weight_decay);
    if (o->kind == TGC_OPTIM_SGD) {
        if (!(o->momentum >= 0)) return tgc_fail(err, "%s.momentum: %g is negative", k, o->momentum);
        if (o->nesterov && (o->momentum <= 0 || o->dampening != 0))
            return tgc_fail(err, "%s.nesterov: Nesterov momentum needs momentum > 0 and dampening 0 "
                            "(momentum=%g, dampening=%g)", k, o->momentum, o->dampening);
    } else if (o->kind == TGC_OPTIM_ADAMW || o->kind == TGC_OPTIM_ADAM) {
        if (!(o->beta1 >= 0 && o->beta1 < 1 && o->beta2 >= 0 && o->beta2 < 1))
            return tgc_fail(err, "%s.betas: (%g, %g) must be in [0, 1)", k, o->beta1, o->beta2);
        if (!(o->eps > 0)) return tgc_fail(err, "%s.eps: %g must be positive", k, o->eps);
    } else if (o->kind == TGC_OPTIM_RMSPROP) {
        if (!(o->beta2 >= 0 && o->beta2 < 1)) return tgc_fail(err, "%s.alpha: %g must be in [0, 1)", k, o->beta2);
        if (!(o->eps > 0)) return tgc_fail(err, "%s.eps: %g must be positive", k, o->eps);
        if (!(o->momentum >= 0)) return tgc_fail(err, "%s.momentum: %g is negative", k, o->momentum);
    } else {
        return tgc_fail(err, "%s: unknown optimizer kind %d", k, (int)o->kind);
    }
    return 0;
}

/* The step input named `name` (f32 scalar), created the first time. */
static int scalar_input(tgc_graph *g, const char *name, tgc_err *err) {
    int v = tgc_graph_find(g, name);
    if (v < 0) return tgc_graph_input(g, name, TGC_F32, tgc_shape0());
    const tgc_value *x = &g->vals[v];
    if (x->kind != TGC_VAL_INPUT || x->type.dtype != TGC_F32 || x->type.shape.rank != 0)
        return tgc_fail(err, "graph @%s: '%s' exists but is not an f32 scalar input", g->name, name);
    return v;
}

/* optimizer.<param>.<what>, zero-initialised like the param's type. */
static int opt_state(tgc_graph *g, int p, const char *what, tgc_err *err) {
    char *name = tgc_asprintf("optimizer.%s.%s", g->vals[p].name ? g->vals[p].name : "param", what);
    if (tgc_graph_find(g, name) >= 0) {
        tgc_fail(err, "graph @%s: optimizer state '%s' already exists", g->name, name);
        free(name);
        return -1;
    }
    tgc_init init = {TGC_INIT_CONST, 0, 0, 0, 0, NULL};
    tgc_type t = g->vals[p].type;
    int v = tgc_graph_state(g, TGC_VAL_OPTSTATE, name, t.dtype, t.shape, init);
    free(name);
    return v;
}

static int emit_update(tgc_graph *g, const tgc_optim_spec *o, int p, int grad, int lr, int step,
                       tgc_err *err) {
    const tgc_value *pv = &g->vals[p];
    tgc_attrs a = tgc_attrs_default();
    a.alpha = pv->lr_mult;
    a.weight_decay = o->weight_decay * pv->decay_mult;
    char *scope = tgc_strdup(pv->name);
    int in[6], n_in, rc = -1;
    tgc_opcode code;
    if (o->kind == TGC_OPTIM_RMSPROP) {
        /* torch.optim.RMSprop's state names; the buffer stays zero without momentum */
        int sq = opt_state(g, p, "square_avg", err), buf = sq < 0 ? -1 : opt_state(g, p, "momentum_buffer", err);
        if (buf < 0) goto out;
        a.beta2 = o->beta2;
        a.eps = o->eps;
        a.momentum = o->momentum;
        code = TGC_OP_RMSPROP_UPDATE;
        n_in = 5;
        int v[5] = {p, grad, sq, buf, lr};
        memcpy(in, v, sizeof v);
    } else if (o->kind == TGC_OPTIM_ADAMW || o->kind == TGC_OPTIM_ADAM) {
        int m1 = opt_state(g, p, "exp_avg", err), m2 = m1 < 0 ? -1 : opt_state(g, p, "exp_avg_sq", err);
        if (m2 < 0) goto out;
        a.beta1 = o->beta1;
        a.beta2 = o->beta2;
        a.eps = o->eps;
        code = o->kind == TGC_OPTIM_ADAM ? TGC_OP_ADAM_UPDATE : TGC_OP_ADAMW_UPDATE;
        n_in = 6;
        int v[6] = {p, grad, m1, m2, lr, step};
        memcpy(in, v, sizeof v);
    } else if (o->momentum != 0) {
        int buf = opt_state(g, p, "momentum_buffer", err);
        if (buf < 0) goto out;
        a.momentum = o->momentum;
        a.dampening = o->dampening;
        a.nesterov = o->nesterov;
        code = TGC_OP_SGD_MOMENTUM_UPDATE;
        n_in = 5;
        int v[5] = {p, grad, buf, lr, step};
        memcpy(in, v, sizeof v);
    } else {
        code = TGC_OP_SGD_UPDATE;
        n_in = 3;
        int v[3] = {p, grad, lr};
        memcpy(in, v, sizeof v);
    }
    rc = tgc_emit(g, code, in, n_in, &a, scope, NULL, err) < 0 ? -1 : 0;
out:
    free(scope);
    return rc;
}

/* MMEngine's EMAHook: an "ema.<param>" state per trained parameter, declared in train (where the plan
 * places state) and updated by the `ema` graph, which the runtime runs after each train step (copying the
 * parameters instead on the first, as MMEngine's averaged model does at its step 0). */
static int build_ema(tgc_module *m, tgc_err *err) {
    tgc_graph *g = m->train, *e = tgc_graph_new("ema");
    m->ema = e;
    int n = g->n_vals;
    for (int p = 0; p < n; p++) {
        const tgc_value *v = &g->vals[p];
        if (v->kind != TGC_VAL_PARAM) continue;
        int trained = 0;
        for (int w = 0; w < n && !trained; w++) trained = g->vals[w].grad_of == p;
        if (!trained) continue;
        char *name = tgc_asprintf("ema.%s", v->name ? v->name : "param");
        tgc_init zero = {TGC_INIT_CONST, 0, 0, 0, 0, NULL}, init = v->init;
        init.desc = init.desc ? tgc_strdup(init.desc) : NULL;
        int s = tgc_graph_find(g, name) >= 0 ? -1 : tgc_graph_state(g, TGC_VAL_OPTSTATE, name, v->type.dtype, v->type.shape, zero);
        int ep = s < 0 ? -1 : tgc_graph_state(e, TGC_VAL_PARAM, v->name, v->type.dtype, v->type.shape, init);
        zero.desc = NULL;
        int es = ep < 0 ? -1 : tgc_graph_state(e, TGC_VAL_OPTSTATE, name, v->type.dtype, v->type.shape, zero);
        if (ep < 0) free(init.desc);
        if (es < 0) {
            tgc_fail(err, "graph @ema: cannot declare '%s'", name);
            free(name);
            return -1;
        }
        tgc_attrs a = tgc_attrs_default();
        a.momentum = m->ema_momentum;
        int in[2] = {es, ep};
        int rc = tgc_emit(e, TGC_OP_EMA_UPDATE, in, 2, &a, name, NULL, err);
        free(name);
        if (rc < 0) return -1;
    }
    return 0;
}

int tgc_pass_optimizer(tgc_module *m, tgc_err *err) {
    tgc_graph *g = m->train;
    if (!g) return tgc_fail(err, "the module has no train graph");
    if (check_spec(&m->optim, err) < 0) return -1;
    for (int i = 0; i < g->n_ops; i++)
        if (!tgc_op_is_dead(&g->ops[i]) && (tgc_op_table[g->ops[i].code].flags & TGC_OPF_OPTIMIZER))
            return tgc_fail(err, "graph @%s already has optimizer updates", g->name);
    int lr = scalar_input(g, "lr", err);
    if (lr < 0) return -1;
    int step = scalar_input(g, "step", err);
    if (step < 0) return -1;

    int n = g->n_vals; /* state added below is not a param */
    int *grad_of_param = tgc_malloc(sizeof(int) * ((size_t)n + 1));
    for (int v = 0; v < n; v++) grad_of_param[v] = -1;
    for (int v = 0; v < n; v++)
        if (g->vals[v].grad_of >= 0 && g->vals[v].grad_of < n) grad_of_param[g->vals[v].grad_of] = v;
    int rc = 0;
    for (int p = 0; p < n && rc == 0; p++)
        if (g->vals[p].kind == TGC_VAL_PARAM && grad_of_param[p] >= 0)
            rc = emit_update(g, &m->optim, p, grad_of_param[p], lr, step, err);
    free(grad_of_param);
    if (rc < 0) return -1;
    if (m->ema_momentum > 0 && !m->ema && build_ema(m, err) < 0) return -1;
    tgc_module_compact(m, g); /* the new state joins the other state ahead of the temps */
    return 0;
}
