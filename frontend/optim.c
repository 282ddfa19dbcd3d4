/* frontend/optim.c - optim_wrapper -> tgc_optim_spec, and paramwise_cfg -> per-parameter multipliers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/build.h"

static int get_wrapper(const tgc_cfg *root, const tgc_cfg **out, tgc_err *err) {
    const tgc_cfg *w = tgc_cfg_get(root, "optim_wrapper");
    if (!w || w->kind == TGC_CFG_NULL) return tgc_b_fail_key(err, root, "optim_wrapper", "missing: training needs an optimizer");
    if (w->kind != TGC_CFG_MAP) return tgc_cfg_fail(err, w, "expected a map, got %s", tgc_cfg_kind_name(w->kind));
    *out = w;
    return 0;
}

static int nonneg(tgc_err *err, const tgc_cfg *map, const char *key, double v) {
    return v < 0 ? tgc_b_fail_key(err, map, key, "must not be negative (got %g)", v) : 0;
}

static int read_sgd(const tgc_cfg *o, tgc_optim_spec *s, tgc_err *err) {
    static const char *const keys[] = {"lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize",
                                       "foreach", "differentiable", "fused", NULL};
    int maximize;
    if (tgc_b_check_keys(err, o, "SGD", keys) < 0) return -1;
    const tgc_cfg *lr = tgc_cfg_get(o, "lr");
    if (!lr || lr->kind == TGC_CFG_NULL) return tgc_b_fail_key(err, o, "lr", "missing: SGD needs lr");
    if (tgc_cfg_float(o, "lr", 0, &s->lr, err) < 0 || tgc_cfg_float(o, "momentum", 0, &s->momentum, err) < 0 ||
        tgc_cfg_float(o, "dampening", 0, &s->dampening, err) < 0 ||
        tgc_cfg_float(o, "weight_decay", 0, &s->weight_decay, err) < 0 ||
        tgc_cfg_bool(o, "nesterov", 0, &s->nesterov, err) < 0 || tgc_cfg_bool(o, "maximize", 0, &maximize, err) < 0)
        return -1;
    if (nonneg(err, o, "lr", s->lr) < 0 || nonneg(err, o, "momentum", s->momentum) < 0 ||
        nonneg(err, o, "weight_decay", s->weight_decay) < 0)
        return -1;
    if (maximize) return tgc_b_fail_key(err, o, "maximize", "maximize=True is not supported");
    /* PyTorch: "Nesterov momentum requires a momentum and zero dampening". */
    if (s->nesterov && (s->momentum <= 0 || s->dampening != 0))
        return tgc_b_fail_key(err, o, "nesterov", "Nesterov momentum requires a momentum and zero dampening "
                              "(momentum %g, dampening %g)", s->momentum, s->dampening);
    return 0;
}

/* betas: a list of two numbers in [0, 1); (0.9, 0.999) when absent. */
static int read_betas(const tgc_cfg *o, tgc_optim_spec *s, tgc_err *err) {
    s->beta1 = 0.9, s->beta2 = 0.999;
    const tgc_cfg *b = tgc_cfg_get(o, "betas");
    if (b && b->kind != TGC_CFG_NULL) {
        if ((b->kind != TGC_CFG_LIST && b->kind != TGC_CFG_TUPLE) || b->n != 2)
            return tgc_cfg_fail(err, b, "expected a list of 2 numbers");
        double v[2];
        for (int i = 0; i < 2; i++) {
            const tgc_cfg *x = b->items[i];
            if (x->kind != TGC_CFG_INT && x->kind != TGC_CFG_FLOAT)
                return tgc_cfg_fail(err, x, "expected a number, got %s", tgc_cfg_kind_name(x->kind));
            v[i] = x->kind == TGC_CFG_INT ? (double)x->i : x->f;
            if (v[i] < 0 || v[i] >= 1) return tgc_cfg_fail(err, x, "beta must be in [0, 1)");
        }
        s->beta1 = v[0], s->beta2 = v[1];
    }
    return 0;
}

/* AdamW and Adam share their keys; their weight_decay defaults differ (0.01 and 0), as in PyTorch. */
static int read_adamw(const tgc_cfg *o, tgc_optim_spec *s, tgc_err *err) {
    static const char *const keys[] = {"lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "foreach",
                                       "capturable", "differentiable", "fused", NULL};
    int amsgrad, maximize, adam = s->kind == TGC_OPTIM_ADAM;
    if (tgc_b_check_keys(err, o, adam ? "Adam" : "AdamW", keys) < 0 || tgc_cfg_float(o, "lr", 1e-3, &s->lr, err) < 0 ||
        tgc_cfg_float(o, "eps", 1e-8, &s->eps, err) < 0 ||
        tgc_cfg_float(o, "weight_decay", adam ? 0 : 0.01, &s->weight_decay, err) < 0 ||
        tgc_cfg_bool(o, "amsgrad", 0, &amsgrad, err) < 0 || tgc_cfg_bool(o, "maximize", 0, &maximize, err) < 0)
        return -1;
    if (read_betas(o, s, err) < 0) return -1;
    if (nonneg(err, o, "lr", s->lr) < 0 || nonneg(err, o, "eps", s->eps) < 0 ||
        nonneg(err, o, "weight_decay", s->weight_decay) < 0)
        return -1;
    if (amsgrad) return tgc_b_fail_key(err, o, "amsgrad", "amsgrad is not supported yet");
    if (maximize) return tgc_b_fail_key(err, o, "maximize", "maximize=True is not supported");
    return 0;
}

/* torch.optim.RMSprop: lr 1e-2, alpha 0.99, eps 1e-8, weight_decay 0, momentum 0; centered is not
 * implemented (refused). */
static int read_rmsprop(const tgc_cfg *o, tgc_optim_spec *s, tgc_err *err) {
    static const char *const keys[] = {"lr", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize",
                                       "foreach", "capturable", "differentiable", NULL};
    int centered, maximize;
    if (tgc_b_check_keys(err, o, "RMSprop", keys) < 0 || tgc_cfg_float(o, "lr", 1e-2, &s->lr, err) < 0 ||
        tgc_cfg_float(o, "alpha", 0.99, &s->beta2, err) < 0 || tgc_cfg_float(o, "eps", 1e-8, &s->eps, err) < 0 ||
        tgc_cfg_float(o, "weight_decay", 0, &s->weight_decay, err) < 0 ||
        tgc_cfg_float(o, "momentum", 0, &s->momentum, err) < 0 || tgc_cfg_bool(o, "centered", 0, &centered, err) < 0 ||
        tgc_cfg_bool(o, "maximize", 0, &maximize, err) < 0)
        return -1;
    if (nonneg(err, o, "lr", s->lr) < 0 || nonneg(err, o, "eps", s->eps) < 0 ||
        nonneg(err, o, "weight_decay", s->weight_decay) < 0 || nonneg(err, o, "momentum", s->momentum) < 0)
        return -1;
    if (!(s->beta2 >= 0 && s->beta2 < 1)) return tgc_b_fail_key(err, o, "alpha", "must be in [0, 1)");
    if (centered) return tgc_b_fail_key(err, o, "centered", "centered RMSprop is not supported yet");
    if (maximize) return tgc_b_fail_key(err, o, "maximize", "maximize=True is not supported");
    return 0;
}

/* MMPretrain's Lamb (mmpretrain/engine/optimizers/lamb.py): lr 1e-3, betas (0.9, 0.999), eps 1e-6,
 * weight_decay 0.01, max_grad_norm 1.0, trust_clip and always_adapt false; bias_correction and
 * grad_averaging must keep their defaults (true). */
static int read_lamb(const tgc_cfg *o, tgc_optim_spec *s, tgc_err *err) {
    static const char *const keys[] = {"lr", "bias_correction", "betas", "eps", "weight_decay", "grad_averaging",
                                       "max_grad_norm", "trust_clip", "always_adapt", NULL};
    int bias_correction, grad_averaging;
    if (tgc_b_check_keys(err, o, "Lamb", keys) < 0 || tgc_cfg_float(o, "lr", 1e-3, &s->lr, err) < 0 ||
        tgc_cfg_float(o, "eps", 1e-6, &s->eps, err) < 0 ||
        tgc_cfg_float(o, "weight_decay", 0.01, &s->weight_decay, err) < 0 ||
        tgc_cfg_float(o, "max_grad_norm", 1.0, &s->max_grad_norm, err) < 0 ||
        tgc_cfg_bool(o, "bias_correction", 1, &bias_correction, err) < 0 ||
        tgc_cfg_bool(o, "grad_averaging", 1, &grad_averaging, err) < 0 ||
        tgc_cfg_bool(o, "trust_clip", 0, &s->trust_clip, err) < 0 ||
        tgc_cfg_bool(o, "always_adapt", 0, &s->always_adapt, err) < 0 || read_betas(o, s, err) < 0)
        return -1;
    if (nonneg(err, o, "lr", s->lr) < 0 || nonneg(err, o, "eps", s->eps) < 0 ||
        nonneg(err, o, "weight_decay", s->weight_decay) < 0)
        return -1;
    if (!(s->max_grad_norm > 0 && isfinite(s->max_grad_norm)))
        return tgc_b_fail_key(err, o, "max_grad_norm", "must be a positive number (got %g)", s->max_grad_norm);
    if (!bias_correction) return tgc_b_fail_key(err, o, "bias_correction", "bias_correction=False is not supported");
    if (!grad_averaging) return tgc_b_fail_key(err, o, "grad_averaging", "grad_averaging=False is not supported");
    return 0;
}

/* optim_wrapper.clip_grad as MMEngine's OptimWrapper: {type: norm (default), max_norm, norm_type (2), ...}
 * for torch.nn.utils.clip_grad_norm_, {type: value, clip_value} for clip_grad_value_. */
static int read_clip_grad(const tgc_cfg *w, tgc_optim_spec *s, tgc_err *err) {
    const tgc_cfg *c = tgc_cfg_get(w, "clip_grad");
    s->clip = TGC_CLIP_NONE;
    if (!c || c->kind == TGC_CFG_NULL) return 0;
    if (c->kind != TGC_CFG_MAP || c->n == 0)
        return tgc_cfg_fail(err, c, "expected a map such as {max_norm: 1.0} (MMEngine: the arguments of clip_grad_norm_ "
                                    "or clip_grad_value_)");
    static const char *const types[] = {"norm", "value", NULL};
    const char *type;
    if (tgc_b_choice(err, c, "type", "norm", types, &type) < 0) return -1;
    if (!strcmp(type, "value")) {
        static const char *const keys[] = {"type", "clip_value", "foreach", NULL};
        const tgc_cfg *v = tgc_cfg_get(c, "clip_value");
        if (tgc_b_check_keys(err, c, "clip_grad", keys) < 0) return -1;
        if (!v || v->kind == TGC_CFG_NULL) return tgc_b_fail_key(err, c, "clip_value", "missing: clip_grad_value_ needs it");
        if (tgc_cfg_float(c, "clip_value", 0, &s->clip_max, err) < 0) return -1;
        if (!(s->clip_max >= 0 && isfinite(s->clip_max)))
            return tgc_b_fail_key(err, c, "clip_value", "must be a finite number, not negative (got %g)", s->clip_max);
        s->clip = TGC_CLIP_VALUE;
        return 0;
    }
    static const char *const keys[] = {"type", "max_norm", "norm_type", "error_if_nonfinite", "foreach", NULL};
    const tgc_cfg *mn = tgc_cfg_get(c, "max_norm"), *nt = tgc_cfg_get(c, "norm_type");
    int nonfinite;
    if (tgc_b_check_keys(err, c, "clip_grad", keys) < 0) return -1;
    if (!mn || mn->kind == TGC_CFG_NULL) return tgc_b_fail_key(err, c, "max_norm", "missing: clip_grad_norm_ needs it");
    if (tgc_cfg_float(c, "max_norm", 0, &s->clip_max, err) < 0 || tgc_cfg_bool(c, "error_if_nonfinite", 0, &nonfinite, err) < 0)
        return -1;
    s->clip_norm_type = 2.0;
    if (nt && nt->kind == TGC_CFG_STR) { /* 'inf', as torch's float('inf') is written in a config */
        if (strcmp(nt->s, "inf")) return tgc_cfg_fail(err, nt, "norm_type must be a number or 'inf'");
        s->clip_norm_type = INFINITY;
    } else if (tgc_cfg_float(c, "norm_type", 2.0, &s->clip_norm_type, err) < 0) {
        return -1;
    }
    if (!(s->clip_max >= 0 && isfinite(s->clip_max)))
        return tgc_b_fail_key(err, c, "max_norm", "must be a finite number, not negative (got %g)", s->clip_max);
    if (!(s->clip_norm_type > 0)) return tgc_b_fail_key(err, c, "norm_type", "must be positive (got %g)", s->clip_norm_type);
    if (nonfinite) return tgc_b_fail_key(err, c, "error_if_nonfinite", "error_if_nonfinite=True is not supported");
    s->clip = TGC_CLIP_NORM;
    return 0;
}

int tgc_frontend_optim(const tgc_cfg *root, tgc_optim_spec *spec, tgc_err *err) {
    memset(spec, 0, sizeof *spec);
    const tgc_cfg *w, *o;
    if (get_wrapper(root, &w, err) < 0) return -1;
    static const char *const wkeys[] = {"optimizer", "paramwise_cfg", "clip_grad", "accumulative_counts",
                                        "loss_scale", "dtype", "constructor", NULL};
    static const char *const wtypes[] = {"OptimWrapper", "AmpOptimWrapper", NULL};
    static const char *const ctors[] = {"DefaultOptimWrapperConstructor", NULL};
    const char *wt, *ctor;
    int64_t acc;
    if (tgc_b_check_keys(err, w, "optim_wrapper", wkeys) < 0 ||
        tgc_b_choice(err, w, "type", "OptimWrapper", wtypes, &wt) < 0 ||
        tgc_b_choice(err, w, "constructor", "DefaultOptimWrapperConstructor", ctors, &ctor) < 0 ||
        read_clip_grad(w, spec, err) < 0 || tgc_cfg_int(w, "accumulative_counts", 1, &acc, err) < 0)
        return -1;
    if (acc < 1 || acc > 1000000) return tgc_b_fail_key(err, w, "accumulative_counts", "must be in [1, 1000000] (got %lld)", (long long)acc);
    spec->accumulative_counts = (int)acc;
    o = tgc_cfg_get(w, "optimizer");
    if (!o || o->kind == TGC_CFG_NULL) return tgc_b_fail_key(err, w, "optimizer", "missing");
    if (o->kind != TGC_CFG_MAP) return tgc_cfg_fail(err, o, "expected a map, got %s", tgc_cfg_kind_name(o->kind));
    const char *type;
    if (tgc_b_type(err, o, "optimizer", &type) < 0) return -1;
    if (!strcmp(type, "SGD")) {
        spec->kind = TGC_OPTIM_SGD;
        spec->beta1 = 0.9, spec->beta2 = 0.999, spec->eps = 1e-8;
        return read_sgd(o, spec, err);
    }
    if (!strcmp(type, "AdamW") || !strcmp(type, "Adam")) {
        spec->kind = !strcmp(type, "Adam") ? TGC_OPTIM_ADAM : TGC_OPTIM_ADAMW;
        return read_adamw(o, spec, err);
    }
    if (!strcmp(type, "RMSprop")) {
        spec->kind = TGC_OPTIM_RMSPROP;
        return read_rmsprop(o, spec, err);
    }
    if (!strcmp(type, "Lamb")) {
        spec->kind = TGC_OPTIM_LAMB;
        return read_lamb(o, spec, err);
    }
    return tgc_b_fail_key(err, o, "type", "unknown optimizer '%s' (known optimizers: SGD, AdamW, Adam, RMSprop, Lamb)", type);
}

/* ---- paramwise_cfg ------------------------------------------------------------------------------- */
typedef struct custom_key {
    const char *key;
    double lr_mult, decay_mult;
} custom_key;

/* MMEngine tries custom keys longest first (ties alphabetically); the first substring match wins. */
static int cmp_keys(const void *pa, const void *pb) {
    const custom_key *a = pa, *b = pb;
    size_t la = strlen(a->key), lb = strlen(b->key);
    if (la != lb) return la > lb ? -1 : 1;
    return strcmp(a->key, b->key);
}

static int has_suffix(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

static int read_mult(const tgc_cfg *p, const char *key, double *out, int *present, tgc_err *err) {
    const tgc_cfg *c = tgc_cfg_get(p, key);
    *present = c && c->kind != TGC_CFG_NULL;
    if (tgc_cfg_float(p, key, 1.0, out, err) < 0) return -1;
    if (*present && *out < 0) return tgc_b_fail_key(err, p, key, "must not be negative");
    return 0;
}

int tgc_frontend_paramwise(const tgc_cfg *root, tgc_graph *g, tgc_err *err) {
    const tgc_cfg *w, *p;
    if (get_wrapper(root, &w, err) < 0) return -1;
    p = tgc_cfg_get(w, "paramwise_cfg");
    if (!p || p->kind == TGC_CFG_NULL) return 0;
    if (p->kind != TGC_CFG_MAP) return tgc_cfg_fail(err, p, "expected a map, got %s", tgc_cfg_kind_name(p->kind));
    static const char *const keys[] = {"norm_decay_mult", "bias_decay_mult", "bias_lr_mult", "dwconv_decay_mult",
                                       "flat_decay_mult", "custom_keys", "bypass_duplicate", NULL};
    double norm_m, bias_m, bias_lr, dw_m, flat_m;
    int has_norm, has_bias, has_bias_lr, has_dw, has_flat, bypass;
    if (tgc_b_check_keys(err, p, "paramwise_cfg", keys) < 0 || read_mult(p, "norm_decay_mult", &norm_m, &has_norm, err) < 0 ||
        read_mult(p, "bias_decay_mult", &bias_m, &has_bias, err) < 0 ||
        read_mult(p, "bias_lr_mult", &bias_lr, &has_bias_lr, err) < 0 ||
        read_mult(p, "dwconv_decay_mult", &dw_m, &has_dw, err) < 0 ||
        read_mult(p, "flat_decay_mult", &flat_m, &has_flat, err) < 0 ||
        tgc_cfg_bool(p, "bypass_duplicate", 0, &bypass, err) < 0)
        return -1;

    /* MMEngine refuses decay multipliers when the optimizer has no explicit weight_decay ("base_wd should
     * not be None"): AdamW's implicit 0.01 is not a base to multiply. */
    const tgc_cfg *opt = tgc_cfg_get(w, "optimizer"), *wd = opt ? tgc_cfg_get(opt, "weight_decay") : NULL;
    int has_wd = wd && wd->kind != TGC_CFG_NULL;
    const char *mult_key = has_norm ? "norm_decay_mult" : has_bias ? "bias_decay_mult" : has_dw ? "dwconv_decay_mult" : NULL;
    if (mult_key && !has_wd)
        return tgc_b_fail_key(err, p, mult_key, "needs an explicit optim_wrapper.optimizer.weight_decay (MMEngine: "
                                                "base_wd should not be None)");

    const tgc_cfg *ck = tgc_cfg_get(p, "custom_keys");
    int nk = 0;
    custom_key *cks = NULL;
    if (ck && ck->kind != TGC_CFG_NULL) {
        if (ck->kind != TGC_CFG_MAP) return tgc_cfg_fail(err, ck, "expected a map of key -> {lr_mult, decay_mult}");
        cks = tgc_calloc((size_t)ck->n + 1, sizeof *cks);
        for (int i = 0; i < ck->n; i++) {
            const tgc_cfg *e = ck->items[i];
            static const char *const ekeys[] = {"lr_mult", "decay_mult", NULL};
            int dummy;
            cks[nk].key = ck->keys[i];
            if (e->kind != TGC_CFG_MAP) {
                free(cks);
                return tgc_cfg_fail(err, e, "expected a map with lr_mult and/or decay_mult");
            }
            if (tgc_b_check_keys(err, e, "custom_keys", ekeys) < 0 ||
                read_mult(e, "lr_mult", &cks[nk].lr_mult, &dummy, err) < 0 ||
                read_mult(e, "decay_mult", &cks[nk].decay_mult, &dummy, err) < 0) {
                free(cks);
                return -1;
            }
            if (dummy && !has_wd) {
                free(cks);
                return tgc_b_fail_key(err, e, "decay_mult", "needs an explicit optim_wrapper.optimizer.weight_decay "
                                                            "(MMEngine: base_wd should not be None)");
            }
            nk++;
        }
        qsort(cks, (size_t)nk, sizeof *cks, cmp_keys);
    }

    /* What a parameter is follows from the ops that read it: BN's gamma/beta are norm parameters,
     * bias_add's operand a bias, a grouped conv whose groups equal its input channels a depth-wise conv. */
    unsigned char *role = tgc_calloc((size_t)g->n_vals + 1, 1);
    enum { R_NORM = 1, R_BIAS = 2, R_DW = 4 };
    for (int i = 0; i < g->n_ops; i++) {
        const tgc_op *op = &g->ops[i];
        if (op->code == TGC_OP_BN_TRAIN || op->code == TGC_OP_BN_EVAL) {
            role[op->in[1]] |= R_NORM;
            role[op->in[2]] |= R_NORM;
        } else if (op->code == TGC_OP_BIAS_ADD) {
            role[op->in[1]] |= R_BIAS;
        } else if (op->code == TGC_OP_CONV2D && op->attrs.groups == g->vals[op->in[0]].type.shape.d[1]) {
            /* MMEngine's test (in_channels == groups) also holds for a plain conv on a 1-channel input. */
            role[op->in[1]] |= R_DW;
        }
    }
    for (int v = 0; v < g->n_vals; v++) {
        tgc_value *val = &g->vals[v];
        if (val->kind != TGC_VAL_PARAM || !val->name) continue;
        val->lr_mult = val->decay_mult = 1.0;
        int custom = 0;
        for (int k = 0; k < nk && !custom; k++)
            if (strstr(val->name, cks[k].key)) {
                val->lr_mult = cks[k].lr_mult;
                val->decay_mult = cks[k].decay_mult;
                custom = 1;
            }
        if (custom) continue;
        /* MMEngine's DefaultOptimWrapperConstructor precedence: norm, then bias, then dwconv, then flat. */
        int is_norm = role[v] & R_NORM, is_bias = has_suffix(val->name, ".bias") && !is_norm;
        if (is_bias && has_bias_lr) val->lr_mult = bias_lr;
        if (is_norm && has_norm) val->decay_mult = norm_m;
        else if (is_bias && has_bias) val->decay_mult = bias_m;
        else if ((role[v] & R_DW) && has_dw) val->decay_mult = dw_m;
        else if (val->type.shape.rank == 1 && has_flat) val->decay_mult = flat_m;
    }
    free(role);
    free(cks);
    return 0;
}

/* ---- mixed precision ------------------------------------------------------------------------------ */
/* loss_scale as MMEngine's AmpOptimWrapper takes it: 'dynamic', a number (a fixed scale) or a dict of
 * GradScaler's arguments. */
static int read_loss_scale(const tgc_cfg *map, const char *key, tgc_amp_spec *a, tgc_err *err) {
    const tgc_cfg *ls = tgc_cfg_get(map, key);
    a->dynamic = 1, a->init_scale = 65536.0, a->growth_interval = 2000;
    if (!ls || ls->kind == TGC_CFG_NULL) return 0;
    if (ls->kind == TGC_CFG_STR) {
        if (strcmp(ls->s, "dynamic")) return tgc_cfg_fail(err, ls, "loss_scale must be 'dynamic', a number or a dict");
        return 0;
    }
    if (ls->kind == TGC_CFG_INT || ls->kind == TGC_CFG_FLOAT) {
        double v = ls->kind == TGC_CFG_INT ? (double)ls->i : ls->f;
        if (!(v > 0 && v < 3.4e38)) return tgc_cfg_fail(err, ls, "loss_scale must be positive and finite");
        a->dynamic = 0, a->init_scale = v;
        return 0;
    }
    if (ls->kind != TGC_CFG_MAP) return tgc_cfg_fail(err, ls, "loss_scale must be 'dynamic', a number or a dict");
    static const char *const keys[] = {"init_scale", "growth_factor", "backoff_factor", "growth_interval",
                                       "enabled", NULL};
    double gf, bf;
    int64_t gi;
    int enabled;
    if (tgc_b_check_keys(err, ls, "loss_scale", keys) < 0 ||
        tgc_cfg_float(ls, "init_scale", 65536.0, &a->init_scale, err) < 0 ||
        tgc_cfg_float(ls, "growth_factor", 2.0, &gf, err) < 0 ||
        tgc_cfg_float(ls, "backoff_factor", 0.5, &bf, err) < 0 ||
        tgc_cfg_int(ls, "growth_interval", 2000, &gi, err) < 0 || tgc_cfg_bool(ls, "enabled", 1, &enabled, err) < 0)
        return -1;
    if (!(a->init_scale > 0 && a->init_scale < 3.4e38))
        return tgc_b_fail_key(err, ls, "init_scale", "must be positive and finite");
    if (gf != 2.0 || bf != 0.5)
        return tgc_b_fail_key(err, ls, gf != 2.0 ? "growth_factor" : "backoff_factor",
                              "only GradScaler's defaults (growth_factor 2, backoff_factor 0.5) are supported");
    if (gi < 1 || gi > 1000000000) return tgc_b_fail_key(err, ls, "growth_interval", "must be in [1, 1e9]");
    if (!enabled) return tgc_b_fail_key(err, ls, "enabled", "a disabled GradScaler is not supported: leave loss_scale out");
    a->growth_interval = (int)gi;
    return 0;
}

int tgc_frontend_amp(const tgc_cfg *root, tgc_amp_spec *a, tgc_err *err) {
    memset(a, 0, sizeof *a);
    a->dtype = TGC_F32;
    const tgc_cfg *w, *fp16 = tgc_cfg_get(root, "fp16");
    if (get_wrapper(root, &w, err) < 0) return -1;
    const char *wt, *dt;
    if (tgc_cfg_str(w, "type", "OptimWrapper", &wt, err) < 0 || tgc_cfg_str(w, "dtype", NULL, &dt, err) < 0) return -1;
    if (fp16 && fp16->kind != TGC_CFG_NULL) { /* MMDetection 2.x: fp16 = dict(loss_scale=...) */
        if (fp16->kind != TGC_CFG_MAP) return tgc_cfg_fail(err, fp16, "expected a map such as {loss_scale: 512.0}");
        static const char *const keys[] = {"loss_scale", NULL};
        if (tgc_b_check_keys(err, fp16, "fp16", keys) < 0 || read_loss_scale(fp16, "loss_scale", a, err) < 0)
            return -1;
        if (dt && strcmp(dt, "float16") && strcmp(dt, "fp16"))
            return tgc_b_fail_key(err, w, "dtype", "'%s' contradicts the config's fp16 section", dt);
        a->dtype = TGC_F16;
        return 0;
    }
    if (strcmp(wt, "AmpOptimWrapper")) {
        if (dt) return tgc_b_fail_key(err, w, "dtype", "needs type AmpOptimWrapper (this is %s)", wt);
        if (tgc_cfg_get(w, "loss_scale") && tgc_cfg_get(w, "loss_scale")->kind != TGC_CFG_NULL)
            return tgc_b_fail_key(err, w, "loss_scale", "needs type AmpOptimWrapper (this is %s)", wt);
        return 0;
    }
    if (read_loss_scale(w, "loss_scale", a, err) < 0) return -1;
    if (!dt) {
        a->dtype_default = 1;
        a->dtype = TGC_F16; /* AmpOptimWrapper's default; the target may choose bf16 (tgc_amp_resolve) */
    } else if (!strcmp(dt, "float16") || !strcmp(dt, "fp16") || !strcmp(dt, "half")) {
        a->dtype = TGC_F16;
    } else if (!strcmp(dt, "bfloat16") || !strcmp(dt, "bf16")) {
        a->dtype = TGC_BF16;
    } else {
        return tgc_b_fail_key(err, w, "dtype", "unknown dtype '%s' (float16 or bfloat16)", dt);
    }
    return 0;
}
