/* passes/amp.c - mixed precision: the forward graphs rewritten so that the ops the dtype rules mark
 * COMPUTE (conv2d, matmul) run in the low-precision dtype (bf16 or f16), before autodiff.
 *
 * The rules of ir/ops.c decide each op's treatment, as PyTorch's autocast lists do:
 *   COMPUTE         every float operand cast to the low dtype; the result is low
 *   F32             every low-precision operand cast to f32 (the loss, the optimizer, folds)
 *   FOLLOW, STATS   the data operands keep their dtype when they agree; when they differ, the low ones
 *                   are cast to f32 (promotion to the widest, as PyTorch's); BN's parameters and
 *                   statistics stay f32 (the kernels accumulate in f32)
 *   ACC, ANY        as they are
 * A value is cast at most once per dtype (the cast is cached per value), so a weight read by one conv
 * and an activation read by two convs are each converted once. State (parameters, buffers) stays f32:
 * the parameters are the master weights and each step casts them afresh; autodiff then differentiates
 * through the casts, so every parameter's gradient (cast's gradient is the cast back) is f32, and the
 * buckets, the all-reduce and the optimizer see f32 only. A graph output (the eval logits) that came
 * out in low precision is cast back to its f32 type, so the runtime reads what it always read.
 *
 * With float16 (m->amp.dtype TGC_F16) the train graph also gets the scalar input `loss_scale`, which
 * autodiff uses as the seed of the backward pass (d loss = scale) in place of 1; the runtime unscales
 * the gradients, checks them for inf/NaN and skips the update (runtime/runner/loss_scale.c).
 */
#include <stdlib.h>
#include <string.h>

#include "passes/passes.h"

typedef struct amp_ctx {
    const tgc_graph *g; /* the graph being rewritten */
    tgc_graph *ng;      /* its replacement */
    int *map;           /* value of g -> value of ng */
    int *as_low, *as_f32; /* value of ng -> its cast to the low dtype / to f32, or -1 */
    int cap;
    tgc_dtype low;
} amp_ctx;

static void grow(amp_ctx *c) {
    int need = c->ng->n_vals + 1;
    if (need <= c->cap) return;
    int cap = c->cap ? c->cap : 64;
    while (cap < need) cap *= 2;
    c->as_low = tgc_realloc(c->as_low, sizeof(int) * (size_t)cap);
    c->as_f32 = tgc_realloc(c->as_f32, sizeof(int) * (size_t)cap);
    for (int i = c->cap; i < cap; i++) c->as_low[i] = c->as_f32[i] = -1;
    c->cap = cap;
}

/* v (a value of ng) as dtype `to`, casting it once. */
static int cast_to(amp_ctx *c, int v, tgc_dtype to, const char *scope, tgc_err *err) {
    if (c->ng->vals[v].type.dtype == to) return v;
    grow(c);
    int *cache = to == TGC_F32 ? c->as_f32 : c->as_low;
    if (cache[v] >= 0) return cache[v];
    tgc_attrs a = tgc_attrs_default();
    a.dtype = to;
    int r = tgc_emit1(c->ng, TGC_OP_CAST, &a, scope, err, 1, v);
    if (r < 0) return -1;
    grow(c);
    cache = to == TGC_F32 ? c->as_f32 : c->as_low;
    cache[v] = r;
    return r;
}

/* Operand j of an op of rule FOLLOW/STATS is a data operand (one dtype with the others), not a per-channel
 * f32 vector: bias_add's bias, BN's gamma/beta/statistics. */
static int is_data_operand(tgc_opcode code, int j) {
    switch (code) {
    case TGC_OP_BIAS_ADD: return j == 0;
    case TGC_OP_BN_TRAIN:
    case TGC_OP_BN_EVAL:
    case TGC_OP_BN_TRAIN_RELU: return j == 0;
    case TGC_OP_BN_BWD:
    case TGC_OP_BN_RELU_BWD: return j <= 1;
    default: return 1;
    }
}

/* The operands of op k of g, in ng, with the casts its dtype rule asks for. */
static int rewrite_operands(amp_ctx *c, const tgc_op *op, int *in, tgc_err *err) {
    const tgc_graph *ng = c->ng;
    tgc_dtype_rule rule = tgc_op_dtype_rule(op->code);
    for (int j = 0; j < op->n_in; j++) in[j] = c->map[op->in[j]];
    if (rule == TGC_DTR_COMPUTE || rule == TGC_DTR_F32) {
        tgc_dtype to = rule == TGC_DTR_COMPUTE ? c->low : TGC_F32;
        for (int j = 0; j < op->n_in; j++)
            if (tgc_dtype_is_float(ng->vals[in[j]].type.dtype) &&
                (in[j] = cast_to(c, in[j], to, op->scope, err)) < 0)
                return -1;
    } else if (rule == TGC_DTR_FOLLOW || rule == TGC_DTR_STATS) {
        int any_f32 = 0, any_low = 0;
        for (int j = 0; j < op->n_in; j++) {
            if (!is_data_operand(op->code, j)) continue;
            tgc_dtype t = ng->vals[in[j]].type.dtype;
            any_f32 |= t == TGC_F32;
            any_low |= t == c->low;
        }
        if (any_f32 && any_low)
            for (int j = 0; j < op->n_in; j++)
                if (is_data_operand(op->code, j) && (in[j] = cast_to(c, in[j], TGC_F32, op->scope, err)) < 0)
                    return -1;
    }
    return 0;
}

/* Copies value v of g (an input or state) into ng with the same id. */
static void copy_leaf(amp_ctx *c, int v) {
    const tgc_value *s = &c->g->vals[v];
    tgc_init init = s->init;
    init.desc = s->init.desc ? tgc_strdup(s->init.desc) : NULL;
    int id = s->kind == TGC_VAL_INPUT ? tgc_graph_input(c->ng, s->name, s->type.dtype, s->type.shape)
                                      : tgc_graph_state(c->ng, s->kind, s->name, s->type.dtype, s->type.shape, init);
    if (s->kind == TGC_VAL_INPUT) free(init.desc);
    tgc_value *d = &c->ng->vals[id];
    d->lr_mult = s->lr_mult;
    d->decay_mult = s->decay_mult;
    d->frozen = s->frozen;
    d->is_output = s->is_output;
    c->map[v] = id;
}

/* Rewrites g into a new graph; *keep (train_loss / eval_logits, -1 for none) follows its value. */
static tgc_graph *rewrite(const tgc_graph *g, tgc_dtype low, int add_scale, int *keep, tgc_err *err) {
    for (int v = 0; v < g->n_vals; v++)
        if (g->vals[v].grad_of >= 0)
            return tgc_fail(err, "graph @%s already has gradients: amp runs before autodiff", g->name), NULL;
    amp_ctx c = {g, tgc_graph_new(g->name), NULL, NULL, NULL, 0, low};
    c.map = tgc_malloc(sizeof(int) * ((size_t)g->n_vals + 1));
    for (int v = 0; v < g->n_vals; v++) c.map[v] = -1;
    int ok = 1;
    /* inputs and state first, in their order (the graph keeps their ids) */
    for (int v = 0; v < g->n_vals; v++)
        if (g->vals[v].kind != TGC_VAL_TEMP) copy_leaf(&c, v);
    if (add_scale && tgc_graph_find(g, TGC_AMP_LOSS_SCALE) < 0)
        tgc_graph_input(c.ng, TGC_AMP_LOSS_SCALE, TGC_F32, tgc_shape0());
    for (int k = 0; k < g->n_ops && ok; k++) {
        const tgc_op *op = &g->ops[k];
        if (tgc_op_is_dead(op)) continue;
        int in[TGC_MAX_IN], out[TGC_MAX_OUT];
        if (rewrite_operands(&c, op, in, err) < 0 ||
            tgc_emit(c.ng, op->code, in, op->n_in, &op->attrs, op->scope, out, err) < 0) {
            ok = 0;
            break;
        }
        for (int r = 0; r < op->n_out; r++) {
            const tgc_value *s = &g->vals[op->out[r]];
            tgc_value *d = &c.ng->vals[out[r]];
            if (s->name) d->name = tgc_strdup(s->name);
            c.map[op->out[r]] = out[r];
        }
    }
    /* outputs keep their types: a low-precision one is cast back */
    for (int v = 0; v < g->n_vals && ok; v++) {
        if (c.map[v] < 0) continue;
        int nv = c.map[v];
        tgc_dtype want = g->vals[v].type.dtype;
        if (!g->vals[v].is_output || c.ng->vals[nv].type.dtype == want) {
            c.ng->vals[nv].is_output = g->vals[v].is_output; /* 1, or a named output's key */
            continue;
        }
        const char *scope = g->vals[v].def_op >= 0 ? g->ops[g->vals[v].def_op].scope : NULL;
        char *sc = tgc_strdup(scope);
        int back = cast_to(&c, nv, want, sc, err);
        free(sc);
        if (back < 0) {
            ok = 0;
            break;
        }
        c.ng->vals[back].is_output = g->vals[v].is_output;
        if (g->vals[v].is_output >= TGC_OUTPUT_NAMED) { /* the name moves to the value the runtime reads */
            c.ng->vals[back].name = c.ng->vals[nv].name;
            c.ng->vals[nv].name = NULL;
        }
        c.map[v] = back;
    }
    if (ok && keep && *keep >= 0 && *keep < g->n_vals) *keep = c.map[*keep];
    free(c.map);
    free(c.as_low);
    free(c.as_f32);
    if (!ok) {
        tgc_graph_free(c.ng);
        return NULL;
    }
    return c.ng;
}

const char *tgc_amp_dtype_name(tgc_dtype t) {
    return t == TGC_BF16 ? "bfloat16" : t == TGC_F16 ? "float16" : "float32";
}

int tgc_pass_amp(tgc_module *m, tgc_err *err) {
    tgc_dtype low = m->amp.dtype;
    if (low == TGC_F32) return 0; /* fp32 plan: nothing to do */
    if (low != TGC_BF16 && low != TGC_F16)
        return tgc_fail(err, "mixed precision dtype %s is not bf16 or f16", tgc_dtype_name(low));
    tgc_graph *g[2] = {m->train, m->eval};
    int *keep[2] = {&m->train_loss, &m->eval_logits};
    for (int i = 0; i < 2; i++) {
        if (!g[i]) continue;
        tgc_graph *ng = rewrite(g[i], low, i == 0 && low == TGC_F16, keep[i], err);
        if (!ng) return tgc_err_prefix(err, "graph @%s", g[i]->name);
        tgc_graph_free(g[i]);
        if (i == 0)
            m->train = ng;
        else
            m->eval = ng;
    }
    return 0;
}

void tgc_amp_resolve(tgc_amp_spec *a, const tgc_target *t, char *note, size_t n) {
    if (note && n) note[0] = 0;
    if (a->dtype == TGC_F32 || !a->dtype_default) return;
    a->dtype_default = 0;
    if (t && !strcmp(t->name, "cpu")) {
        /* float16 has no fast path on these CPUs (no AVX512-FP16); bf16 runs on AVX512-BF16 in oneDNN and has
         * f32's exponent range, so no loss scaling is needed */
        a->dtype = TGC_BF16;
        if (note && n)
            snprintf(note, n, "AmpOptimWrapper without dtype: bfloat16 on the cpu target (float16 has no fast "
                              "CPU path; bf16 needs no loss scaling); set optim_wrapper.dtype=float16 for float16");
    } else {
        a->dtype = TGC_F16;
    }
}
