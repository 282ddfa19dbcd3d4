/* passes/optimizer.c - optimizer lowering: one in-place update per parameter at the end of train. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "passes/passes.h"

const char *tgc_optim_kind_name(tgc_optim_kind k) {
    static const char *const names[] = {"sgd", "adamw", "adam", "rmsprop", "lamb"};
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
    } else if (o->kind == TGC_OPTIM_ADAMW || o->kind == TGC_OPTIM_ADAM || o->kind == TGC_OPTIM_LAMB) {
        if (o->kind == TGC_OPTIM_LAMB && !(o->max_grad_norm > 0 && isfinite(o->max_grad_norm)))
            return tgc_fail(err, "%s.max_grad_norm: %g must be positive and finite", k, o->max_grad_norm);
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
    if (o->clip == TGC_CLIP_NORM && !(o->clip_norm_type > 0))
        return tgc_fail(err, "optim_wrapper.clip_grad.norm_type: %g must be positive", o->clip_norm_type);
    if (o->clip != TGC_CLIP_NONE && !(o->clip_max >= 0 && isfinite(o->clip_max)))
        return tgc_fail(err, "optim_wrapper.clip_grad.%s: %g must be finite and not negative",
                        o->clip == TGC_CLIP_NORM ? "max_norm" : "clip_value", o->clip_max);
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

static int emit_update(tgc_graph *g, const tgc_optim_spec *o, int p, int grad, int lr, int step, int gsq,
                       tgc_err *err) {
    const tgc_value *pv = &g->vals[p];
    tgc_attrs a = tgc_attrs_default();
    a.alpha = pv->lr_mult;
    a.weight_decay = o->weight_decay * pv->decay_mult;
    char *scope = tgc_strdup(pv->name);
    int in[7], n_in, rc = -1;
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
    } else if (o->kind == TGC_OPTIM_LAMB) {
        int m1 = opt_state(g, p, "exp_avg", err), m2 = m1 < 0 ? -1 : opt_state(g, p, "exp_avg_sq", err);
        if (m2 < 0) goto out;
        a.beta1 = o->beta1;
        a.beta2 = o->beta2;
        a.eps = o->eps;
        a.max_norm = o->max_grad_norm;
        a.always_adapt = o->always_adapt;
        a.trust_clip = o->trust_clip;
        code = TGC_OP_LAMB_UPDATE;
        n_in = 7;
        int v[7] = {p, grad, m1, m2, lr, step, gsq};
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

/* acc = grad_norm_acc(gs[i], acc) over every gradient from a zero scalar: the sum of |g|^norm_type
 * (max |g| for inf) over all of them. Returns the sum's value, or -1. */
static int emit_norm_chain(tgc_graph *g, int n, const int *gs, double norm_type, const char *scope, tgc_err *err) {
    tgc_attrs z = tgc_attrs_default();
    z.alpha = 0;
    z.shape = tgc_shape0();
    z.dtype = TGC_F32;
    int acc;
    if (tgc_emit(g, TGC_OP_FILL, NULL, 0, &z, scope, &acc, err) < 0) return -1;
    for (int i = 0; i < n; i++) {
        tgc_attrs a = tgc_attrs_default();
        a.norm_type = norm_type;
        int in[2] = {gs[i], acc};
        if (tgc_emit(g, TGC_OP_GRAD_NORM_ACC, in, 2, &a, scope, &acc, err) < 0) return -1;
    }
    return acc;
}

/* The update section: optim_wrapper.clip_grad (MMEngine's OptimWrapper: torch.nn.utils.clip_grad_norm_ over
 * every gradient, or clip_grad_value_), Lamb's global gradient norm, then one update per parameter. All of
 * it is flagged as optimizer work, so it runs after the gradients' all-reduce on every rank alike. Clipped
 * gradients are new values (state alone is updated in place): without Lamb each clip sits right before
 * its update, so one clipped gradient is alive at a time. */
static int emit_updates(tgc_graph *g, const tgc_optim_spec *o, int n, const int *ps, int *gs, int lr, int step,
                        tgc_err *err) {
    int total = -1, gsq = -1, lamb = o->kind == TGC_OPTIM_LAMB;
    if (o->clip == TGC_CLIP_NORM) {
        if ((total = emit_norm_chain(g, n, gs, o->clip_norm_type, "optim_wrapper.clip_grad", err)) < 0) return -1;
        g->vals[total].is_output = 1; /* the runtime logs the norm (MMEngine's grad_norm); after the loss */
    }
    for (int i = 0; i < n; i++) {
        if (o->clip != TGC_CLIP_NONE) {
            tgc_attrs a = tgc_attrs_default();
            a.max_norm = o->clip_max;
            a.norm_type = o->clip == TGC_CLIP_NORM ? o->clip_norm_type : 2.0;
            int in[2] = {gs[i], total}, clipped;
            tgc_opcode code = o->clip == TGC_CLIP_NORM ? TGC_OP_GRAD_CLIP_NORM : TGC_OP_GRAD_CLIP_VALUE;
            if (tgc_emit(g, code, in, code == TGC_OP_GRAD_CLIP_NORM ? 2 : 1, &a, g->vals[ps[i]].name, &clipped, err) < 0)
                return -1;
            gs[i] = clipped;
        }
        if (!lamb && emit_update(g, o, ps[i], gs[i], lr, step, -1, err) < 0) return -1;
    }
    if (!lamb) return 0;
    if ((gsq = emit_norm_chain(g, n, gs, 2.0, "optimizer.global_grad_norm", err)) < 0) return -1;
    for (int i = 0; i < n; i++)
        if (emit_update(g, o, ps[i], gs[i], lr, step, gsq, err) < 0) return -1;
    return 0;
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
    /* the trained parameters and their gradients, in value order */
    int np = 0, *ps = tgc_malloc(sizeof(int) * ((size_t)n + 1)), *gs = tgc_malloc(sizeof(int) * ((size_t)n + 1));
    for (int p = 0; p < n; p++)
        if (g->vals[p].kind == TGC_VAL_PARAM && grad_of_param[p] >= 0) ps[np] = p, gs[np++] = grad_of_param[p];
    free(grad_of_param);
    int rc = emit_updates(g, &m->optim, np, ps, gs, lr, step, err);
    free(ps);
    free(gs);
    if (rc < 0) return -1;
    if (m->ema_momentum > 0 && !m->ema && build_ema(m, err) < 0) return -1;
    tgc_module_compact(m, g); /* the new state joins the other state ahead of the temps */
    return 0;
}
