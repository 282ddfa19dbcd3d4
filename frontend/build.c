/* frontend/build.c - layer helpers for the model builders: named state, init specs, conv/bn/linear. */
#include "frontend/build.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

size_t tgc_b_enter(tgc_bctx *b, const char *fmt, ...) {
    size_t saved = b->prefix_len;
    char part[TGC_PREFIX_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(part, sizeof part, fmt, ap);
    va_end(ap);
    /* Prefixes come from builder code (module names and block indices), never from config text, so
     * TGC_PREFIX_MAX bounds them comfortably; snprintf keeps even a pathological one terminated. */
    int n = snprintf(b->prefix + saved, sizeof b->prefix - saved, "%s%s", saved ? "." : "", part);
    if (n > 0) b->prefix_len = TGC_MIN(saved + (size_t)n, sizeof b->prefix - 1);
    return saved;
}

void tgc_b_leave(tgc_bctx *b, size_t saved) {
    b->prefix_len = saved;
    b->prefix[saved] = '\0';
}

/* ---- init rules ---------------------------------------------------------------------------------- */
tgc_init_rule tgc_rule_const(double v) { return (tgc_init_rule){TGC_RULE_CONST, v, 0}; }
tgc_init_rule tgc_rule_normal(double mean, double std) { return (tgc_init_rule){TGC_RULE_NORMAL, mean, std}; }
tgc_init_rule tgc_rule_kaiming_out(void) { return (tgc_init_rule){TGC_RULE_KAIMING_OUT, 0, 0}; }
tgc_init_rule tgc_rule_torch_default(void) { return (tgc_init_rule){TGC_RULE_TORCH_DEFAULT, 0, 0}; }
tgc_init_rule tgc_rule_xavier_uniform(double gain) { return (tgc_init_rule){TGC_RULE_XAVIER_UNIFORM, gain, 0}; }

tgc_init tgc_init_resolve(tgc_init_rule r, int64_t fan_in, int64_t fan_out, int is_bias) {
    tgc_init in = {0};
    switch (r.kind) {
    case TGC_RULE_CONST:
        in.kind = TGC_INIT_CONST;
        in.a = r.a;
        in.desc = tgc_asprintf("constant(%g)", r.a);
        break;
    case TGC_RULE_NORMAL:
        in.kind = TGC_INIT_NORMAL;
        in.a = r.a;
        in.b = r.b;
        in.desc = tgc_asprintf("normal(mean=%g, std=%g)", r.a, r.b);
        break;
    case TGC_RULE_KAIMING_OUT:
        /* mmengine's KaimingInit sets biases to 0; weights N(0, gain/sqrt(fan_out)), gain = sqrt(2). */
        if (is_bias) return tgc_init_resolve(tgc_rule_const(0), fan_in, fan_out, 1);
        in.kind = TGC_INIT_NORMAL;
        in.a = 0;
        in.b = sqrt(2.0 / (double)(fan_out > 0 ? fan_out : 1));
        in.desc = tgc_strdup("kaiming_normal(mode=fan_out, nonlinearity=relu)");
        break;
    case TGC_RULE_TORCH_DEFAULT: {
        /* kaiming_uniform(a=sqrt(5)): gain sqrt(2/(1+5)), bound gain*sqrt(3/fan_in) = 1/sqrt(fan_in);
         * the bias bound is 1/sqrt(fan_in) too. */
        double bound = 1.0 / sqrt((double)(fan_in > 0 ? fan_in : 1));
        in.kind = TGC_INIT_UNIFORM;
        in.a = -bound;
        in.b = bound;
        in.desc = tgc_strdup(is_bias ? "uniform(-1/sqrt(fan_in), 1/sqrt(fan_in))"
                                     : "kaiming_uniform(a=sqrt(5))");
        break;
    }
    case TGC_RULE_XAVIER_UNIFORM: {
        if (is_bias) return tgc_init_resolve(tgc_rule_const(0), fan_in, fan_out, 1);
        double bound = r.a * sqrt(6.0 / (double)(fan_in + fan_out > 0 ? fan_in + fan_out : 1));
        in.kind = TGC_INIT_UNIFORM;
        in.a = -bound;
        in.b = bound;
        in.desc = tgc_asprintf("xavier_uniform(gain=%g)", r.a);
        break;
    }
    }
    return in;
}

/* ---- state --------------------------------------------------------------------------------------- */
static int declare(tgc_bctx *b, tgc_val_kind kind, const char *local, tgc_shape s, tgc_init init) {
    char *name = b->prefix_len ? tgc_asprintf("%s.%s", b->prefix, local) : tgc_strdup(local);
    if (tgc_graph_find(b->g, name) >= 0) {
        /* A builder bug, not a config error: two layers given the same name. */
        tgc_fail(b->err, "internal error: state '%s' declared twice", name);
        free(name);
        free(init.desc);
        return -1;
    }
    int v = tgc_graph_state(b->g, kind, name, TGC_F32, s, init);
    free(name);
    if (v >= 0 && kind == TGC_VAL_PARAM && b->freeze) b->g->vals[v].frozen = 1;
    if (v < 0) tgc_fail(b->err, "cannot declare state '%s.%s'", b->prefix, local);
    return v;
}

int tgc_b_param(tgc_bctx *b, const char *local, tgc_shape s, tgc_init init) {
    return declare(b, TGC_VAL_PARAM, local, s, init);
}

int tgc_b_buffer(tgc_bctx *b, const char *local, tgc_shape s, tgc_init init) {
    return declare(b, TGC_VAL_BUFFER, local, s, init);
}

const tgc_shape *tgc_b_shape(const tgc_bctx *b, int v) { return &b->g->vals[v].type.shape; }

/* ---- layers -------------------------------------------------------------------------------------- */
int tgc_b_conv(tgc_bctx *b, int x, const char *name, const tgc_conv_opts *o) {
    const tgc_shape *xs = tgc_b_shape(b, x);
    if (xs->rank != 4)
        return tgc_fail(b->err, "%s.%s: conv2d expects a 4-D input", b->prefix, name);
    int64_t cin = xs->d[1], groups = o->groups > 0 ? o->groups : 1, k = o->kernel;
    size_t saved = tgc_b_enter(b, "%s", name);
    /* PyTorch's fans for a conv weight [O, I/g, kh, kw]: fan_in = I/g*kh*kw, fan_out = O*kh*kw. */
    int64_t fan_in = cin / groups * k * k, fan_out = o->out_channels * k * k;
    int w = tgc_b_param(b, "weight", tgc_shape4(o->out_channels, cin / groups, k, k),
                        tgc_init_resolve(o->weight, fan_in, fan_out, 0));
    int y = -1;
    if (w >= 0) {
        tgc_attrs a = tgc_attrs_default();
        a.stride[0] = a.stride[1] = o->stride > 0 ? o->stride : 1;
        a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = o->pad;
        a.dilation[0] = a.dilation[1] = o->dilation > 0 ? o->dilation : 1;
        a.groups = groups;
        y = tgc_emit1(b->g, TGC_OP_CONV2D, &a, b->prefix, b->err, 2, x, w);
    }
    if (y >= 0 && o->bias) {
        int bias = tgc_b_param(b, "bias", tgc_shape1(o->out_channels),
                               tgc_init_resolve(o->bias_init, fan_in, fan_out, 1));
        if (bias < 0) {
            y = -1;
        } else {
            tgc_attrs a = tgc_attrs_default();
            a.axis = 1;
            y = tgc_emit1(b->g, TGC_OP_BIAS_ADD, &a, b->prefix, b->err, 2, y, bias);
        }
    }
    tgc_b_leave(b, saved);
    return y;
}

int tgc_b_bn(tgc_bctx *b, int x, const char *name, double eps, double momentum, double gamma_init) {
    const tgc_shape *xs = tgc_b_shape(b, x);
    if (xs->rank < 2) return tgc_fail(b->err, "%s.%s: batch norm expects [N, C, ...]", b->prefix, name);
    int64_t c = xs->d[1];
    size_t saved = tgc_b_enter(b, "%s", name);
    int gamma = tgc_b_param(b, "weight", tgc_shape1(c), tgc_init_resolve(tgc_rule_const(gamma_init), 0, 0, 0));
    int beta = gamma < 0 ? -1 : tgc_b_param(b, "bias", tgc_shape1(c), tgc_init_resolve(tgc_rule_const(0), 0, 0, 1));
    int mean = beta < 0 ? -1 : tgc_b_buffer(b, "running_mean", tgc_shape1(c), tgc_init_resolve(tgc_rule_const(0), 0, 0, 0));
    int var = mean < 0 ? -1 : tgc_b_buffer(b, "running_var", tgc_shape1(c), tgc_init_resolve(tgc_rule_const(1), 0, 0, 0));
    int y = -1;
    if (var >= 0) {
        tgc_attrs a = tgc_attrs_default();
        a.eps = eps;
        a.momentum = b->bn_momentum > 0 ? b->bn_momentum : momentum;
        int in[5] = {x, gamma, beta, mean, var}, out[3];
        tgc_opcode code = b->training && !b->bn_eval ? TGC_OP_BN_TRAIN : TGC_OP_BN_EVAL;
        if (tgc_emit(b->g, code, in, 5, &a, b->prefix, out, b->err) >= 0)
            y = out[0];
    }
    tgc_b_leave(b, saved);
    return y;
}

int tgc_b_linear(tgc_bctx *b, int x, const char *name, int64_t out_features, tgc_init_rule weight,
                 tgc_init_rule bias) {
    const tgc_shape *xs = tgc_b_shape(b, x);
    if (xs->rank != 2) return tgc_fail(b->err, "%s.%s: linear expects [N, in_features]", b->prefix, name);
    int64_t in_features = xs->d[1];
    size_t saved = tgc_b_enter(b, "%s", name);
    int w = tgc_b_param(b, "weight", tgc_shape2(out_features, in_features),
                        tgc_init_resolve(weight, in_features, out_features, 0));
    int bv = w < 0 ? -1 : tgc_b_param(b, "bias", tgc_shape1(out_features),
                                      tgc_init_resolve(bias, in_features, out_features, 1));
    int y = -1;
    if (bv >= 0) {
        tgc_attrs a = tgc_attrs_default();
        a.trans_b = 1; /* PyTorch stores the weight [out, in]: y = x @ W^T */
        y = tgc_emit1(b->g, TGC_OP_MATMUL, &a, b->prefix, b->err, 2, x, w);
        if (y >= 0) {
            tgc_attrs ab = tgc_attrs_default();
            ab.axis = 1;
            y = tgc_emit1(b->g, TGC_OP_BIAS_ADD, &ab, b->prefix, b->err, 2, y, bv);
        }
    }
    tgc_b_leave(b, saved);
    return y;
}

int tgc_b_op1(tgc_bctx *b, tgc_opcode code, const tgc_attrs *attrs, int x) {
    return tgc_emit1(b->g, code, attrs, b->prefix_len ? b->prefix : NULL, b->err, 1, x);
}

int tgc_b_add(tgc_bctx *b, int x, int y) {
    return tgc_emit1(b->g, TGC_OP_ADD, NULL, b->prefix_len ? b->prefix : NULL, b->err, 2, x, y);
}

/* ---- named loss terms ------------------------------------------------------------------------------ */
int tgc_b_log_output(tgc_bctx *b, const char *name, int v) {
    static const char *const reserved[] = {"loss", "lr", "time", "data_time", "grad_norm", "memory", "eta",
                                           "epoch", "iter", "step", NULL};
    if (!b->training) return tgc_fail(b->err, "internal error: loss term '%s' outside the train graph", name);
    size_t n = strlen(name);
    int ok = n >= 1 && n <= 31 && name[0] >= 'a' && name[0] <= 'z';
    for (size_t i = 0; ok && i < n; i++)
        ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') || name[i] == '_';
    for (int i = 0; ok && reserved[i]; i++) ok = strcmp(reserved[i], name) != 0;
    if (!ok) return tgc_fail(b->err, "internal error: '%s' is not a loss term name ([a-z][a-z0-9_]*, at most 31 "
                                     "characters, not a key the runner logs itself)", name);
    const tgc_type *t = v >= 0 && v < b->g->n_vals ? &b->g->vals[v].type : NULL;
    if (!t || t->dtype != TGC_F32 || t->shape.rank != 0)
        return tgc_fail(b->err, "internal error: loss term '%s' is not a scalar f32 value", name);
    return tgc_graph_named_output(b->g, v, name, b->err) < 0 ? -1 : v;
}

int tgc_b_loss_sum(tgc_bctx *b) {
    int n = tgc_graph_named_outputs(b->g, NULL, 0);
    int *v = tgc_malloc(sizeof(int) * (size_t)(n ? n : 1));
    tgc_graph_named_outputs(b->g, v, n);
    int sum = -1, terms = 0;
    for (int k = 0; k < n; k++) {
        if (!strstr(b->g->vals[v[k]].name, "loss")) continue;
        /* Python's sum() starts at 0 and 0 + x is x: the first term is the start (as 1 x term: the loss is a
         * value of its own, not the first term's output) */
        tgc_attrs one = tgc_attrs_default();
        one.alpha = 1;
        sum = terms++ ? tgc_b_add(b, sum, v[k]) : tgc_emit1(b->g, TGC_OP_SCALE, &one, NULL, b->err, 1, v[k]);
        if (sum < 0) break;
    }
    free(v);
    if (!terms) return tgc_fail(b->err, "internal error: the model registered no loss term");
    return sum;
}

/* ---- config helpers ------------------------------------------------------------------------------ */
int tgc_b_fail_key(tgc_err *err, const tgc_cfg *map, const char *key, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *msg = tgc_vasprintf(fmt, ap);
    va_end(ap);
    const tgc_cfg *c = map ? tgc_cfg_get(map, key) : NULL;
    if (c) tgc_cfg_fail(err, c, "%s", msg);
    else if (!map) tgc_fail(err, "%s: %s", key, msg);
    else
        tgc_fail(err, "%s:%d: %s%s%s: %s", map->file ? map->file : "<config>", map->line, map->path ? map->path : "",
                 map->path && map->path[0] ? "." : "", key, msg);
    free(msg);
    return -1;
}

int tgc_b_check_keys(tgc_err *err, const tgc_cfg *map, const char *what, const char *const *known) {
    if (!map || map->kind != TGC_CFG_MAP) return 0;
    for (int i = 0; i < map->n; i++) {
        const char *k = map->keys[i];
        int ok = !strcmp(k, "type");
        for (int j = 0; !ok && known[j]; j++) ok = !strcmp(k, known[j]);
        if (ok) continue;
        char list[1024];
        size_t len = 0;
        list[0] = '\0';
        for (int j = 0; known[j] && len < sizeof list; j++)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", j ? ", " : "", known[j]);
        return tgc_cfg_fail(err, map->items[i], "unknown key '%s' for %s (accepted: %s)", k, what, list);
    }
    return 0;
}

/* True when c is absent, null, false, 0 or an empty list/map: "not asking for anything". */
static int is_neutral(const tgc_cfg *c) {
    if (!c) return 1;
    switch (c->kind) {
    case TGC_CFG_NULL: return 1;
    case TGC_CFG_BOOL: return !c->b;
    case TGC_CFG_INT: return c->i == 0;
    case TGC_CFG_FLOAT: return c->f == 0;
    case TGC_CFG_LIST: case TGC_CFG_TUPLE: case TGC_CFG_MAP: return c->n == 0;
    default: return 0;
    }
}

int tgc_b_require_null(tgc_err *err, const tgc_cfg *map, const char *key, const char *what) {
    const tgc_cfg *c = map ? tgc_cfg_get(map, key) : NULL;
    if (is_neutral(c)) return 0;
    return tgc_cfg_fail(err, c, "%s is not supported yet", what);
}

int tgc_b_init_cfg(tgc_err *err, const tgc_cfg *map) {
    const tgc_cfg *c = map ? tgc_cfg_get(map, "init_cfg") : NULL;
    if (is_neutral(c)) return 0;
    const char *type = NULL;
    if (c->kind == TGC_CFG_MAP && tgc_cfg_str(c, "type", NULL, &type, err) < 0) return -1;
    if (!type || strcmp(type, "Pretrained"))
        return tgc_cfg_fail(err, c, "init_cfg other than {type: Pretrained, checkpoint, prefix} is not supported yet");
    static const char *const keys[] = {"type", "checkpoint", "prefix", "map_location", NULL};
    if (tgc_b_check_keys(err, c, "init_cfg", keys) < 0) return -1;
    const char *ck;
    if (tgc_cfg_str(c, "checkpoint", NULL, &ck, err) < 0) return -1;
    if (!ck) return tgc_cfg_fail(err, c, "init_cfg of type Pretrained needs a checkpoint");
    return 0;
}

int tgc_b_choice(tgc_err *err, const tgc_cfg *map, const char *key, const char *def,
                 const char *const *choices, const char **out) {
    if (tgc_cfg_str(map, key, def, out, err) < 0) return -1;
    for (int j = 0; choices[j]; j++)
        if (!strcmp(*out, choices[j])) return 0;
    char list[512];
    size_t len = 0;
    list[0] = '\0';
    for (int j = 0; choices[j] && len < sizeof list; j++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s'%s'", j ? ", " : "", choices[j]);
    return tgc_b_fail_key(err, map, key, "'%s' is not supported (accepted: %s)", *out, list);
}

int tgc_b_type(tgc_err *err, const tgc_cfg *map, const char *what, const char **out) {
    *out = NULL;
    if (tgc_cfg_str(map, "type", NULL, out, err) < 0) return -1;
    if (!*out) return tgc_b_fail_key(err, map, "type", "missing: the %s needs a `type`", what);
    return 0;
}

int tgc_b_pair(tgc_err *err, const tgc_cfg *map, const char *key, int64_t *p0, int64_t *p1, int *present) {
    const tgc_cfg *c = map ? tgc_cfg_get(map, key) : NULL;
    *present = 0;
    if (!c || c->kind == TGC_CFG_NULL) return 0;
    int64_t v[3];
    int n = 0;
    if (tgc_cfg_ints(map, key, v, 3, &n, err) < 0) return -1;
    if (n == 1) v[1] = v[0];
    else if (n != 2) return tgc_cfg_fail(err, c, "expected an integer or a list of 2 integers");
    if (v[0] <= 0 || v[1] <= 0) return tgc_cfg_fail(err, c, "sizes must be positive");
    *p0 = v[0];
    *p1 = v[1];
    *present = 1;
    return 0;
}
