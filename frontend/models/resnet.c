/* frontend/models/resnet.c - MMPretrain's ResNet family: ResNet, ResNet_CIFAR, ResNetV1c (deep stem),
 * ResNetV1d (deep stem, average-pool downsampling), ResNeXt (grouped 3x3 convs) and SEResNet
 * (squeeze-excitation after each Bottleneck), SEResNeXt (both), with MMPretrain's module names. */
#include <string.h>

#include "frontend/registry.h"

typedef struct resnet_arch {
    int depth, bottleneck, blocks[4];
} resnet_arch;

static const resnet_arch archs[] = {
    {18, 0, {2, 2, 2, 2}}, {34, 0, {3, 4, 6, 3}}, {50, 1, {3, 4, 6, 3}},
    {101, 1, {3, 4, 23, 3}}, {152, 1, {3, 8, 36, 3}},
};

/* Which of the family: each is MMPretrain's ResNet with fixed options or a different Bottleneck. */
typedef enum resnet_variant { V_RESNET, V_CIFAR, V_V1C, V_V1D, V_RESNEXT, V_SERESNET, V_SERESNEXT } resnet_variant;
static const char *const variant_names[] = {"ResNet",  "ResNet_CIFAR", "ResNetV1c", "ResNetV1d",
                                            "ResNeXt", "SEResNet",     "SEResNeXt"};

/* The settings of one ResNet, read from the config once. */
typedef struct resnet_cfg {
    resnet_variant variant;
    const resnet_arch *arch;
    int64_t groups, width_per_group; /* ResNeXt's grouped 3x3 conv (groups 1: a plain Bottleneck)        */
    int64_t se_ratio;                /* SEResNet: squeeze to make_divisible(channels / se_ratio, 8); 0: none */
    int64_t in_channels, stem_channels, base_channels, expansion;
    int num_stages;
    int64_t strides[4], dilations[4];
    int out_stage[4]; /* 1 when stage i's output is returned */
    int caffe, deep_stem, avg_down, zero_init_residual;
    int frozen_stages, norm_eval; /* -1: none frozen; k >= 0: the stem and layer1..k (MMDetection's)   */
    double bn_eps, bn_momentum;
} resnet_cfg;

static const char *const resnet_keys[] = {
    "depth", "in_channels", "stem_channels", "base_channels", "expansion", "num_stages", "strides",
    "dilations", "out_indices", "style", "deep_stem", "avg_down", "frozen_stages", "conv_cfg", "norm_cfg",
    "norm_eval", "with_cp", "zero_init_residual", "init_cfg", "drop_path_rate", NULL};

static int read_norm_cfg(tgc_bctx *b, const tgc_cfg *node, resnet_cfg *r) {
    r->bn_eps = 1e-5;
    r->bn_momentum = 0.1;
    const tgc_cfg *n = tgc_cfg_get(node, "norm_cfg");
    if (!n || n->kind == TGC_CFG_NULL) return 0;
    if (n->kind != TGC_CFG_MAP) return tgc_cfg_fail(b->err, n, "expected a map, got %s", tgc_cfg_kind_name(n->kind));
    static const char *const keys[] = {"requires_grad", "eps", "momentum", NULL};
    /* SyncBN computes as BN on one process; across processes its statistics stay per process, which the
     * compile lists as not implemented (frontend/ignored.c). */
    static const char *const types[] = {"BN", "BN2d", "SyncBN", NULL};
    const char *type;
    int rg;
    if (tgc_b_check_keys(b->err, n, "norm_cfg", keys) < 0 || tgc_b_choice(b->err, n, "type", "BN", types, &type) < 0 ||
        tgc_cfg_bool(n, "requires_grad", 1, &rg, b->err) < 0 || tgc_cfg_float(n, "eps", 1e-5, &r->bn_eps, b->err) < 0 ||
        tgc_cfg_float(n, "momentum", 0.1, &r->bn_momentum, b->err) < 0)
        return -1;
    if (!rg) return tgc_b_fail_key(b->err, n, "requires_grad", "frozen norm layers are not supported yet");
    if (r->bn_eps <= 0) return tgc_b_fail_key(b->err, n, "eps", "must be positive");
    if (r->bn_momentum < 0 || r->bn_momentum > 1) return tgc_b_fail_key(b->err, n, "momentum", "must be in [0, 1]");
    return 0;
}

static int read_ints_exact(tgc_bctx *b, const tgc_cfg *node, const char *key, const int64_t *def, int64_t *out,
                           int want) {
    const tgc_cfg *c = tgc_cfg_get(node, key);
    if (!c || c->kind == TGC_CFG_NULL) {
        /* MMPretrain asserts len(strides) == len(dilations) == num_stages, so the 4-stage defaults
         * only serve a 4-stage network. */
        if (want != 4)
            return tgc_b_fail_key(b->err, node, key, "missing: num_stages is %d, so %s needs %d entries", want, key, want);
        memcpy(out, def, 4 * sizeof *out);
        return 0;
    }
    int n = 0;
    int64_t tmp[8];
    if (tgc_cfg_ints(node, key, tmp, 8, &n, b->err) < 0) return -1;
    if (n != want) return tgc_cfg_fail(b->err, c, "has %d entries but num_stages is %d (one per stage)", n, want);
    for (int i = 0; i < n; i++) {
        if (tmp[i] < 1 || tmp[i] > 64) return tgc_cfg_fail(b->err, c, "entry %d (%lld) must be in 1..64", i, (long long)tmp[i]);
        out[i] = tmp[i];
    }
    return 0;
}

/* The keys a variant accepts: ResNet's, less the options the variant fixes (MMPretrain passes them to
 * ResNet itself, so giving them again is an error there too), plus its own. */
static int check_variant_keys(tgc_bctx *b, const tgc_cfg *node, resnet_variant v) {
    const char *keys[TGC_ARRAY_LEN(resnet_keys) + 4];
    int n = 0;
    for (int i = 0; resnet_keys[i]; i++) {
        int fixed = (v == V_V1C || v == V_V1D) && (!strcmp(resnet_keys[i], "deep_stem") || !strcmp(resnet_keys[i], "avg_down"));
        if (!fixed) keys[n++] = resnet_keys[i];
    }
    if (v == V_RESNEXT || v == V_SERESNEXT) keys[n++] = "groups", keys[n++] = "width_per_group";
    if (v == V_SERESNET || v == V_SERESNEXT) keys[n++] = "se_ratio";
    keys[n] = NULL;
    return tgc_b_check_keys(b->err, node, variant_names[v], keys);
}

static int read_resnet_cfg(tgc_bctx *b, const tgc_cfg *node, resnet_variant v, resnet_cfg *r) {
    memset(r, 0, sizeof *r);
    r->variant = v;
    int cifar = v == V_CIFAR;
    const char *what = variant_names[v];
    if (check_variant_keys(b, node, v) < 0) return -1;
    int64_t depth;
    if (!tgc_cfg_get(node, "depth")) return tgc_b_fail_key(b->err, node, "depth", "missing: %s needs a depth", what);
    if (tgc_cfg_int(node, "depth", 0, &depth, b->err) < 0) return -1;
    for (size_t i = 0; i < TGC_ARRAY_LEN(archs); i++)
        if (archs[i].depth == depth) r->arch = &archs[i];
    /* ResNeXt and SEResNet are Bottleneck networks only (MMPretrain's arch_settings: 50, 101, 152). */
    int grouped = v == V_RESNEXT || v == V_SERESNEXT, se = v == V_SERESNET || v == V_SERESNEXT;
    int bottleneck_only = grouped || se;
    if (r->arch && bottleneck_only && !r->arch->bottleneck) r->arch = NULL;
    if (!r->arch)
        return tgc_b_fail_key(b->err, node, "depth", "invalid depth %lld for %s (supported: %s)", (long long)depth,
                              what, bottleneck_only ? "50, 101, 152" : "18, 34, 50, 101, 152");
    r->groups = 1;
    if (grouped && (tgc_cfg_int(node, "groups", 32, &r->groups, b->err) < 0 ||
                    tgc_cfg_int(node, "width_per_group", 4, &r->width_per_group, b->err) < 0))
        return -1;
    if (r->groups < 1 || r->groups > 1024) return tgc_b_fail_key(b->err, node, "groups", "must be in 1..1024");
    if (grouped && (r->width_per_group < 1 || r->width_per_group > 1024))
        return tgc_b_fail_key(b->err, node, "width_per_group", "must be in 1..1024");
    if (se) {
        if (tgc_cfg_int(node, "se_ratio", 16, &r->se_ratio, b->err) < 0) return -1;
        if (r->se_ratio < 1 || r->se_ratio > 4096) return tgc_b_fail_key(b->err, node, "se_ratio", "must be in 1..4096");
    }
    int64_t ns, exp_def = r->arch->bottleneck ? 4 : 1;
    if (tgc_cfg_int(node, "in_channels", 3, &r->in_channels, b->err) < 0 ||
        tgc_cfg_int(node, "stem_channels", 64, &r->stem_channels, b->err) < 0 ||
        tgc_cfg_int(node, "base_channels", 64, &r->base_channels, b->err) < 0 ||
        tgc_cfg_int(node, "expansion", exp_def, &r->expansion, b->err) < 0 ||
        tgc_cfg_int(node, "num_stages", 4, &ns, b->err) < 0)
        return -1;
    /* Bounds keep every tensor's element count far inside int64 (widths <= 8192 * 16 * 8 = 2^20). */
    const char *ck[] = {"in_channels", "stem_channels", "base_channels"};
    int64_t cv[] = {r->in_channels, r->stem_channels, r->base_channels};
    for (int i = 0; i < 3; i++)
        if (cv[i] < 1 || cv[i] > 8192) return tgc_b_fail_key(b->err, node, ck[i], "must be in 1..8192");
    if (r->expansion < 1 || r->expansion > 16 || (!r->arch->bottleneck && r->expansion != 1))
        return tgc_b_fail_key(b->err, node, "expansion", "invalid expansion %lld for depth %d", (long long)r->expansion,
                              r->arch->depth);
    if (ns < 1 || ns > 4) return tgc_b_fail_key(b->err, node, "num_stages", "must be in 1..4, got %lld", (long long)ns);
    r->num_stages = (int)ns;
    static const int64_t def_strides[4] = {1, 2, 2, 2}, def_dil[4] = {1, 1, 1, 1};
    if (read_ints_exact(b, node, "strides", def_strides, r->strides, r->num_stages) < 0 ||
        read_ints_exact(b, node, "dilations", def_dil, r->dilations, r->num_stages) < 0)
        return -1;

    int64_t oi[8];
    int n_oi = 1;
    oi[0] = 3;
    if (tgc_cfg_get(node, "out_indices") && tgc_cfg_ints(node, "out_indices", oi, 8, &n_oi, b->err) < 0) return -1;
    for (int i = 0; i < n_oi; i++) {
        int64_t s = oi[i] < 0 ? oi[i] + r->num_stages : oi[i];
        if (s < 0 || s >= r->num_stages)
            return tgc_b_fail_key(b->err, node, "out_indices", "index %lld is out of range for num_stages %d",
                                  (long long)oi[i], r->num_stages);
        r->out_stage[s] = 1;
    }

    static const char *const styles[] = {"pytorch", "caffe", NULL};
    const char *style;
    int64_t frozen;
    int norm_eval;
    double dpr;
    if (tgc_b_choice(b->err, node, "style", "pytorch", styles, &style) < 0 ||
        tgc_cfg_bool(node, "deep_stem", 0, &r->deep_stem, b->err) < 0 ||
        tgc_cfg_bool(node, "avg_down", 0, &r->avg_down, b->err) < 0 ||
        tgc_cfg_bool(node, "zero_init_residual", 1, &r->zero_init_residual, b->err) < 0 ||
        tgc_cfg_int(node, "frozen_stages", -1, &frozen, b->err) < 0 ||
        tgc_cfg_bool(node, "norm_eval", 0, &norm_eval, b->err) < 0 ||
        tgc_cfg_float(node, "drop_path_rate", 0, &dpr, b->err) < 0)
        return -1;
    r->caffe = !strcmp(style, "caffe");
    if (v == V_V1C || v == V_V1D) r->deep_stem = 1, r->avg_down = v == V_V1D;
    if (frozen < -1 || frozen > r->num_stages)
        return tgc_b_fail_key(b->err, node, "frozen_stages", "must be in -1..%d (num_stages), got %lld", r->num_stages,
                              (long long)frozen);
    r->frozen_stages = (int)frozen, r->norm_eval = norm_eval;
    if (dpr != 0) return tgc_b_fail_key(b->err, node, "drop_path_rate", "drop path is not supported yet");
    if (cifar && r->deep_stem)
        return tgc_b_fail_key(b->err, node, "deep_stem", "ResNet_CIFAR does not support deep_stem");
    if (tgc_b_require_null(b->err, node, "conv_cfg", "a custom conv_cfg") < 0 ||
        tgc_b_init_cfg(b->err, node) < 0)
        return -1;
    return read_norm_cfg(b, node, r);
}

static int conv(tgc_bctx *b, int x, const char *name, int64_t out, int64_t k, int64_t stride, int64_t pad,
                int64_t dil) {
    tgc_conv_opts o = {out, k, stride, pad, dil, 1, 0, tgc_rule_kaiming_out(), tgc_rule_const(0)};
    return tgc_b_conv(b, x, name, &o);
}

static int gconv(tgc_bctx *b, int x, const char *name, int64_t out, int64_t k, int64_t stride, int64_t pad,
                 int64_t dil, int64_t groups) {
    tgc_conv_opts o = {out, k, stride, pad, dil, groups, 0, tgc_rule_kaiming_out(), tgc_rule_const(0)};
    return tgc_b_conv(b, x, name, &o);
}

static int relu(tgc_bctx *b, int x) { return x < 0 ? -1 : tgc_b_op1(b, TGC_OP_RELU, NULL, x); }

/* MMPretrain's make_divisible(value, divisor) with min_value = divisor, min_ratio 0.9. */
static int64_t make_divisible(int64_t value, int64_t divisor) {
    int64_t v = (int64_t)((double)value + (double)divisor / 2) / divisor * divisor;
    if (v < divisor) v = divisor;
    if ((double)v < 0.9 * (double)value) v += divisor;
    return v;
}

/* SELayer (se_layer): global average pool, conv1 (1x1, bias) + ReLU, conv2 (1x1, bias) + sigmoid, and the
 * input scaled per channel by that gate. The convs are ConvModules: se_layer.conv1.conv.weight. */
static int se_layer(tgc_bctx *b, const resnet_cfg *r, int x) {
    const tgc_shape *xs = tgc_b_shape(b, x);
    int64_t n = xs->d[0], c = xs->d[1], sq = make_divisible(c / r->se_ratio, 8);
    size_t saved = tgc_b_enter(b, "se_layer");
    int g = tgc_b_op1(b, TGC_OP_GLOBAL_AVG_POOL, NULL, x);
    tgc_attrs a = tgc_attrs_default();
    a.shape = tgc_shape4(n, c, 1, 1);
    if (g >= 0) g = tgc_b_op1(b, TGC_OP_RESHAPE, &a, g);
    tgc_conv_opts o1 = {sq, 1, 1, 0, 1, 1, 1, tgc_rule_kaiming_out(), tgc_rule_const(0)};
    tgc_conv_opts o2 = {c, 1, 1, 0, 1, 1, 1, tgc_rule_kaiming_out(), tgc_rule_const(0)};
    size_t s1 = tgc_b_enter(b, "conv1");
    if (g >= 0) g = tgc_b_conv(b, g, "conv", &o1);
    tgc_b_leave(b, s1);
    g = relu(b, g);
    s1 = tgc_b_enter(b, "conv2");
    if (g >= 0) g = tgc_b_conv(b, g, "conv", &o2);
    tgc_b_leave(b, s1);
    if (g >= 0) g = tgc_b_op1(b, TGC_OP_SIGMOID, NULL, g);
    a.shape = tgc_shape2(n, c);
    if (g >= 0) g = tgc_b_op1(b, TGC_OP_RESHAPE, &a, g);
    int y = g < 0 ? -1 : tgc_emit1(b->g, TGC_OP_CHANNEL_MUL, NULL, b->prefix, b->err, 2, x, g);
    tgc_b_leave(b, saved);
    return y;
}

/* conv -> bn -> relu as ConvModule names it: <name>.conv, <name>.bn (the deep stem). */
static int conv_module(tgc_bctx *b, const resnet_cfg *r, int x, const char *name, int64_t out, int64_t stride) {
    size_t saved = tgc_b_enter(b, "%s", name);
    int y = conv(b, x, "conv", out, 3, stride, 1, 1);
    if (y >= 0) y = tgc_b_bn(b, y, "bn", r->bn_eps, r->bn_momentum, 1);
    y = relu(b, y);
    tgc_b_leave(b, saved);
    return y;
}

static int stem(tgc_bctx *b, const resnet_cfg *r, int x, int cifar) {
    int y;
    if (cifar) {
        y = conv(b, x, "conv1", r->stem_channels, 3, 1, 1, 1);
        if (y >= 0) y = tgc_b_bn(b, y, "bn1", r->bn_eps, r->bn_momentum, 1);
        return relu(b, y); /* no max-pool: CIFAR images are 32x32 */
    }
    if (r->deep_stem) {
        size_t saved = tgc_b_enter(b, "stem");
        y = conv_module(b, r, x, "0", r->stem_channels / 2, 2);
        if (y >= 0) y = conv_module(b, r, y, "1", r->stem_channels / 2, 1);
        if (y >= 0) y = conv_module(b, r, y, "2", r->stem_channels, 1);
        tgc_b_leave(b, saved);
    } else {
        y = conv(b, x, "conv1", r->stem_channels, 7, 2, 3, 1);
        if (y >= 0) y = tgc_b_bn(b, y, "bn1", r->bn_eps, r->bn_momentum, 1);
        y = relu(b, y);
    }
    if (y < 0) return -1;
    tgc_attrs a = tgc_attrs_default();
    a.kernel[0] = a.kernel[1] = 3;
    a.stride[0] = a.stride[1] = 2;
    a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = 1;
    return tgc_b_op1(b, TGC_OP_MAX_POOL2D, &a, y);
}

/* downsample: [avg_pool when avg_down,] 1x1 conv, bn - indices as nn.Sequential numbers them. */
static int downsample(tgc_bctx *b, const resnet_cfg *r, int x, int64_t out, int64_t stride) {
    size_t saved = tgc_b_enter(b, "downsample");
    int idx = 0, y = x;
    if (r->avg_down && stride != 1) {
        tgc_attrs a = tgc_attrs_default();
        a.kernel[0] = a.kernel[1] = stride;
        a.stride[0] = a.stride[1] = stride;
        a.ceil_mode = 1;
        a.count_include_pad = 0;
        y = tgc_b_op1(b, TGC_OP_AVG_POOL2D, &a, y);
        idx = 1;
        stride = 1;
    }
    char cn[8], bn[8];
    snprintf(cn, sizeof cn, "%d", idx);
    snprintf(bn, sizeof bn, "%d", idx + 1);
    if (y >= 0) y = conv(b, y, cn, out, 1, stride, 0, 1);
    if (y >= 0) y = tgc_b_bn(b, y, bn, r->bn_eps, r->bn_momentum, 1);
    tgc_b_leave(b, saved);
    return y;
}

/* One residual block inside the current prefix (e.g. backbone.layer2.0). */
static int block(tgc_bctx *b, const resnet_cfg *r, int x, int64_t in, int64_t out, int64_t stride, int64_t dil) {
    int64_t mid = out / r->expansion;
    /* ResNeXt's Bottleneck widens the middle: groups x width_per_group per base_channels of ResNet's. */
    if (r->groups != 1) {
        if (mid % r->base_channels)
            return tgc_fail(b->err, "%s: ResNeXt needs the middle width %lld to be a multiple of base_channels %lld",
                            b->prefix, (long long)mid, (long long)r->base_channels);
        mid = r->groups * r->width_per_group * mid / r->base_channels;
    }
    double last_gamma = r->zero_init_residual ? 0 : 1;
    int y;
    if (!r->arch->bottleneck) {
        y = conv(b, x, "conv1", mid, 3, stride, dil, dil);
        if (y >= 0) y = tgc_b_bn(b, y, "bn1", r->bn_eps, r->bn_momentum, 1);
        y = relu(b, y);
        if (y >= 0) y = conv(b, y, "conv2", out, 3, 1, 1, 1);
        if (y >= 0) y = tgc_b_bn(b, y, "bn2", r->bn_eps, r->bn_momentum, last_gamma);
    } else {
        /* 'pytorch' style strides the 3x3 conv, 'caffe' style the first 1x1. */
        int64_t s1 = r->caffe ? stride : 1, s2 = r->caffe ? 1 : stride;
        y = conv(b, x, "conv1", mid, 1, s1, 0, 1);
        if (y >= 0) y = tgc_b_bn(b, y, "bn1", r->bn_eps, r->bn_momentum, 1);
        y = relu(b, y);
        if (y >= 0) y = gconv(b, y, "conv2", mid, 3, s2, dil, dil, r->groups);
        if (y >= 0) y = tgc_b_bn(b, y, "bn2", r->bn_eps, r->bn_momentum, 1);
        y = relu(b, y);
        if (y >= 0) y = conv(b, y, "conv3", out, 1, 1, 0, 1);
        if (y >= 0) y = tgc_b_bn(b, y, "bn3", r->bn_eps, r->bn_momentum, last_gamma);
        if (y >= 0 && r->se_ratio) y = se_layer(b, r, y);
    }
    if (y < 0) return -1;
    int identity = x;
    if (stride != 1 || in != out) identity = downsample(b, r, x, out, stride);
    if (identity < 0) return -1;
    y = tgc_b_add(b, y, identity);
    return relu(b, y);
}

static int build(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out, resnet_variant v) {
    resnet_cfg r;
    int cifar = v == V_CIFAR;
    if (read_resnet_cfg(b, node, v, &r) < 0) return -1;
    if (in->n < 1) return tgc_fail(b->err, "internal error: backbone without input");
    int x = in->v[0];
    const tgc_shape *xs = tgc_b_shape(b, x);
    if (xs->rank != 4 || xs->d[1] != r.in_channels)
        return tgc_b_fail_key(b->err, node, "in_channels", "%lld%s does not match the %s", (long long)r.in_channels,
                              tgc_cfg_get(node, "in_channels") ? "" : " (the default)", b->input_desc);
    /* MMDetection's _freeze_stages: frozen_stages >= 0 freezes the stem, k >= 1 also layer1..k (no
     * gradients, batch norms on running statistics); norm_eval keeps every batch norm on its running
     * statistics while the affine parameters of the others still train. */
    int freeze0 = b->freeze, bn_eval0 = b->bn_eval;
    b->freeze = freeze0 || r.frozen_stages >= 0;
    b->bn_eval = bn_eval0 || r.norm_eval || r.frozen_stages >= 0;
    int y = stem(b, &r, x, cifar);
    int64_t cin = r.stem_channels, cout = r.base_channels * r.expansion;
    for (int i = 0; i < r.num_stages && y >= 0; i++) {
        b->freeze = freeze0 || i + 1 <= r.frozen_stages;
        b->bn_eval = bn_eval0 || r.norm_eval || i + 1 <= r.frozen_stages;
        for (int j = 0; j < r.arch->blocks[i] && y >= 0; j++) {
            size_t saved = tgc_b_enter(b, "layer%d.%d", i + 1, j);
            y = block(b, &r, y, cin, cout, j == 0 ? r.strides[i] : 1, r.dilations[i]);
            tgc_b_leave(b, saved);
            cin = cout;
        }
        cout *= 2;
        if (y >= 0 && r.out_stage[i]) {
            if (out->n >= TGC_MAX_FEATS) return tgc_fail(b->err, "internal error: too many features");
            out->v[out->n++] = y;
        }
    }
    b->freeze = freeze0, b->bn_eval = bn_eval0;
    return y < 0 ? -1 : 0;
}

int tgc_build_resnet(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out) {
    return build(b, node, in, out, V_RESNET);
}

int tgc_build_resnet_cifar(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out) {
    return build(b, node, in, out, V_CIFAR);
}

int tgc_build_resnet_v1c(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out) {
    return build(b, node, in, out, V_V1C);
}

int tgc_build_resnet_v1d(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out) {
    return build(b, node, in, out, V_V1D);
}

int tgc_build_resnext(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out) {
    return build(b, node, in, out, V_RESNEXT);
}

int tgc_build_seresnet(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out) {
    return build(b, node, in, out, V_SERESNET);
}

int tgc_build_seresnext(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out) {
    return build(b, node, in, out, V_SERESNEXT);
}
