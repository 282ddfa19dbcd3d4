/* frontend/models/retinanet.c - MMDetection's RetinaNet: a backbone, FPN and RetinaHead, with MMDetection's
 * state-dict names (neck.lateral_convs.0.conv.weight, bbox_head.retina_cls.weight, ...).
 *
 * The graph is static: anchor assignment runs on the host (the data loader), so the train graph takes dense
 * per-anchor targets as inputs, declared by the head once it knows the anchor count A of the canvas:
 *   data_samples.cls_target  i32 [B, A]     0..C-1 a positive of that class, C a negative, -1 ignored
 *   data_samples.bbox_target f32 [B, A, 4]  DeltaXYWH-encoded targets (0 where not positive)
 *   data_samples.avg_factor  f32 [1]        the losses' normaliser (sum over images of max(num_pos, 1))
 * and returns loss_cls + loss_bbox. The eval graph returns det_out f32 [B, A, C + 4]: the class logits and
 * the box deltas of every anchor, concatenated. Anchors are ordered by level (stride 8 first), then row-major
 * over the level's (y, x), then the cell's base anchors (ratio-major, then scale): MMDetection's
 * permute(0, 2, 3, 1).reshape(B, -1, C) of each level's head output, concatenated over levels. */
#include <math.h>
#include <string.h>

#include "frontend/models/det_common.h"
#include "frontend/registry.h"

/* A ConvModule without norm and activation: <list>.<i>.conv.{weight,bias}, applied once. */
static int conv_module(tgc_bctx *b, int x, const char *list, int i, int64_t cout, int64_t k, int64_t stride,
                       tgc_init_rule wr) {
    size_t saved = tgc_b_enter(b, "%s.%d", list, i);
    tgc_detm_conv cs;
    int y = tgc_detm_declare_conv(b, "conv", tgc_b_shape(b, x)->d[1], cout, k, wr, tgc_rule_const(0), &cs) < 0
                ? -1
                : tgc_detm_apply_conv(b, x, &cs, stride, b->prefix);
    tgc_b_leave(b, saved);
    return y;
}

/* ---- FPN ----------------------------------------------------------------------------------------- */
/* init_cfg absent or MMDetection's default {type: Xavier, layer: Conv2d, distribution: uniform}. */
static int fpn_init(tgc_bctx *b, const tgc_cfg *node, double *gain) {
    *gain = 1;
    const tgc_cfg *ic;
    if (tgc_detm_want_map(b->err, node, "init_cfg", &ic) < 0) return -1;
    if (!ic) return 0;
    static const char *const keys[] = {"layer", "distribution", "gain", "bias", NULL};
    const char *type, *dist;
    double bias;
    if (tgc_b_check_keys(b->err, ic, "FPN init_cfg", keys) < 0 || tgc_cfg_str(ic, "type", "Xavier", &type, b->err) < 0 ||
        tgc_cfg_str(ic, "distribution", "normal", &dist, b->err) < 0 || tgc_cfg_float(ic, "gain", 1, gain, b->err) < 0 ||
        tgc_cfg_float(ic, "bias", 0, &bias, b->err) < 0)
        return -1;
    if (strcmp(type, "Xavier") || strcmp(dist, "uniform") || bias != 0)
        return tgc_cfg_fail(b->err, ic, "only {type: Xavier, layer: Conv2d, distribution: uniform} is supported");
    return 0;
}

int tgc_build_fpn(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out) {
    static const char *const keys[] = {"in_channels", "out_channels", "num_outs", "start_level", "end_level",
                                       "add_extra_convs", "relu_before_extra_convs", "no_norm_on_lateral",
                                       "conv_cfg", "norm_cfg", "act_cfg", "upsample_cfg", "init_cfg", NULL};
    if (tgc_b_check_keys(b->err, node, "FPN", keys) < 0) return -1;
    int64_t inc[TGC_DETM_MAX_LEVELS], cout, num_outs, start, end;
    int n_in = 0, relu_extra;
    if (!tgc_cfg_get(node, "in_channels")) return tgc_b_fail_key(b->err, node, "in_channels", "missing: FPN needs in_channels");
    if (tgc_cfg_ints(node, "in_channels", inc, TGC_DETM_MAX_LEVELS, &n_in, b->err) < 0 ||
        tgc_cfg_int(node, "out_channels", 256, &cout, b->err) < 0 || tgc_cfg_int(node, "num_outs", 5, &num_outs, b->err) < 0 ||
        tgc_cfg_int(node, "start_level", 0, &start, b->err) < 0 || tgc_cfg_int(node, "end_level", -1, &end, b->err) < 0 ||
        tgc_cfg_bool(node, "relu_before_extra_convs", 0, &relu_extra, b->err) < 0)
        return -1;
    if (!tgc_cfg_get(node, "out_channels")) return tgc_b_fail_key(b->err, node, "out_channels", "missing: FPN needs out_channels");
    if (n_in != in->n)
        return tgc_b_fail_key(b->err, node, "in_channels", "%d entries but the backbone returns %d feature maps", n_in, in->n);
    for (int i = 0; i < n_in; i++)
        if (tgc_b_shape(b, in->v[i])->d[1] != inc[i])
            return tgc_b_fail_key(b->err, node, "in_channels", "entry %d is %lld but the backbone's feature map %d has %lld "
                                  "channels", i, (long long)inc[i], i, (long long)tgc_b_shape(b, in->v[i])->d[1]);
    if (cout < 1 || cout > 65536) return tgc_b_fail_key(b->err, node, "out_channels", "must be in 1..65536");
    if (start < 0 || start >= n_in) return tgc_b_fail_key(b->err, node, "start_level", "must be in 0..%d", n_in - 1);
    if (end != -1) return tgc_b_fail_key(b->err, node, "end_level", "only -1 (every level to the last) is supported");
    int used = n_in - (int)start;
    if (num_outs < used || num_outs > TGC_DETM_MAX_LEVELS)
        return tgc_b_fail_key(b->err, node, "num_outs", "must be in %d..%d", used, TGC_DETM_MAX_LEVELS);
    /* add_extra_convs: false (max-pool levels), true (= on_input), on_input, on_lateral, on_output */
    const tgc_cfg *ae = tgc_cfg_get(node, "add_extra_convs");
    const char *extra = NULL;
    if (ae && ae->kind == TGC_CFG_BOOL) extra = ae->b ? "on_input" : NULL;
    else if (ae && ae->kind == TGC_CFG_STR) {
        static const char *const modes[] = {"on_input", "on_lateral", "on_output", NULL};
        if (tgc_b_choice(b->err, node, "add_extra_convs", "on_input", modes, &extra) < 0) return -1;
    } else if (!tgc_detm_neutral(ae))
        return tgc_cfg_fail(b->err, ae, "expected a boolean or one of on_input, on_lateral, on_output");
    if (tgc_b_require_null(b->err, node, "conv_cfg", "a custom conv_cfg") < 0 ||
        tgc_b_require_null(b->err, node, "norm_cfg", "a norm layer in FPN") < 0 ||
        tgc_b_require_null(b->err, node, "act_cfg", "an activation in FPN") < 0)
        return -1;
    const tgc_cfg *up;
    if (tgc_detm_want_map(b->err, node, "upsample_cfg", &up) < 0) return -1;
    if (up) {
        static const char *const ukeys[] = {"mode", NULL}, *const umodes[] = {"nearest", NULL};
        const char *mode;
        if (tgc_b_check_keys(b->err, up, "upsample_cfg", ukeys) < 0 || tgc_b_choice(b->err, up, "mode", "nearest", umodes, &mode) < 0)
            return -1;
    }
    double gain;
    if (fpn_init(b, node, &gain) < 0) return -1;
    tgc_init_rule wr = tgc_rule_xavier_uniform(gain);

    int lat[TGC_DETM_MAX_LEVELS], outs[TGC_DETM_MAX_LEVELS];
    for (int i = 0; i < used; i++)
        if ((lat[i] = conv_module(b, in->v[i + start], "lateral_convs", i, cout, 1, 1, wr)) < 0) return -1;
    /* top-down: nearest upsampling to the lower level's exact size, then add */
    for (int i = used - 1; i > 0; i--) {
        tgc_attrs a = tgc_attrs_default();
        a.shape = *tgc_b_shape(b, lat[i - 1]);
        int u = tgc_b_op1(b, TGC_OP_UPSAMPLE_NEAREST, &a, lat[i]);
        if (u < 0 || (lat[i - 1] = tgc_b_add(b, lat[i - 1], u)) < 0) return -1;
    }
    for (int i = 0; i < used; i++)
        if ((outs[i] = conv_module(b, lat[i], "fpn_convs", i, cout, 3, 1, wr)) < 0) return -1;
    for (int i = used; i < num_outs; i++) {
        int src;
        if (!extra) { /* MMDetection: F.max_pool2d(outs[-1], 1, stride=2) */
            tgc_attrs a = tgc_attrs_default();
            a.stride[0] = a.stride[1] = 2;
            if ((outs[i] = tgc_b_op1(b, TGC_OP_MAX_POOL2D, &a, outs[i - 1])) < 0) return -1;
            continue;
        }
        if (i == used)
            src = !strcmp(extra, "on_input") ? in->v[n_in - 1] : !strcmp(extra, "on_lateral") ? lat[used - 1] : outs[used - 1];
        else
            src = relu_extra ? tgc_b_op1(b, TGC_OP_RELU, NULL, outs[i - 1]) : outs[i - 1];
        if (src < 0 || (outs[i] = conv_module(b, src, "fpn_convs", i, cout, 3, 2, wr)) < 0) return -1;
    }
    out->n = (int)num_outs;
    memcpy(out->v, outs, sizeof(int) * (size_t)num_outs);
    return 0;
}

/* ---- RetinaHead ---------------------------------------------------------------------------------- */
/* FocalLoss (use_sigmoid) and L1Loss, with MMDetection's defaults. */
static int read_losses(tgc_bctx *b, const tgc_cfg *head, double *gamma, double *falpha, double *w_cls, double *w_box) {
    const tgc_cfg *lc, *lb;
    if (tgc_detm_want_map(b->err, head, "loss_cls", &lc) < 0 || tgc_detm_want_map(b->err, head, "loss_bbox", &lb) < 0) return -1;
    *gamma = 2, *falpha = 0.25, *w_cls = 1, *w_box = 1;
    static const char *const red[] = {"mean", NULL};
    const char *type, *r;
    if (lc) {
        static const char *const keys[] = {"use_sigmoid", "gamma", "alpha", "loss_weight", "reduction", "activated", NULL};
        static const char *const types[] = {"FocalLoss", NULL};
        int sig, act;
        if (tgc_b_check_keys(b->err, lc, "FocalLoss", keys) < 0 || tgc_b_choice(b->err, lc, "type", "FocalLoss", types, &type) < 0 ||
            tgc_cfg_bool(lc, "use_sigmoid", 1, &sig, b->err) < 0 || tgc_cfg_bool(lc, "activated", 0, &act, b->err) < 0 ||
            tgc_cfg_float(lc, "gamma", 2, gamma, b->err) < 0 || tgc_cfg_float(lc, "alpha", 0.25, falpha, b->err) < 0 ||
            tgc_cfg_float(lc, "loss_weight", 1, w_cls, b->err) < 0 || tgc_b_choice(b->err, lc, "reduction", "mean", red, &r) < 0)
            return -1;
        if (!sig) return tgc_b_fail_key(b->err, lc, "use_sigmoid", "only the sigmoid focal loss is supported");
        if (act) return tgc_b_fail_key(b->err, lc, "activated", "only logits (activated false) are supported");
        if (!(*gamma >= 0 && *gamma <= 100)) return tgc_b_fail_key(b->err, lc, "gamma", "must be in [0, 100]");
        if (!(*falpha >= 0 && *falpha <= 1)) return tgc_b_fail_key(b->err, lc, "alpha", "must be in [0, 1]");
        if (!(*w_cls >= 0)) return tgc_b_fail_key(b->err, lc, "loss_weight", "must not be negative");
    }
    if (lb) {
        static const char *const keys[] = {"loss_weight", "reduction", NULL};
        static const char *const types[] = {"L1Loss", NULL};
        if (tgc_b_check_keys(b->err, lb, "L1Loss", keys) < 0 || tgc_b_choice(b->err, lb, "type", "L1Loss", types, &type) < 0 ||
            tgc_cfg_float(lb, "loss_weight", 1, w_box, b->err) < 0 || tgc_b_choice(b->err, lb, "reduction", "mean", red, &r) < 0)
            return -1;
        if (!(*w_box >= 0)) return tgc_b_fail_key(b->err, lb, "loss_weight", "must not be negative");
    }
    return 0;
}

/* init_cfg absent or MMDetection's {type: Normal, layer: Conv2d, std, override: {type: Normal, name: retina_cls,
 * std, bias_prob}}: every conv N(0, std) with bias 0, retina_cls's bias -log((1 - p) / p). */
static int head_init(tgc_bctx *b, const tgc_cfg *head, double *std, double *cls_std, double *bias_prob) {
    *std = *cls_std = 0.01, *bias_prob = 0.01;
    const tgc_cfg *ic, *ov;
    if (tgc_detm_want_map(b->err, head, "init_cfg", &ic) < 0) return -1;
    if (!ic) return 0;
    static const char *const keys[] = {"layer", "std", "mean", "bias", "override", NULL};
    static const char *const okeys[] = {"name", "std", "mean", "bias_prob", NULL};
    static const char *const types[] = {"Normal", NULL};
    const char *type, *name;
    double mean, bias;
    if (tgc_b_check_keys(b->err, ic, "RetinaHead init_cfg", keys) < 0 || tgc_b_choice(b->err, ic, "type", "Normal", types, &type) < 0 ||
        tgc_cfg_float(ic, "std", 1, std, b->err) < 0 || tgc_cfg_float(ic, "mean", 0, &mean, b->err) < 0 ||
        tgc_cfg_float(ic, "bias", 0, &bias, b->err) < 0 || tgc_detm_want_map(b->err, ic, "override", &ov) < 0)
        return -1;
    if (mean != 0 || bias != 0) return tgc_cfg_fail(b->err, ic, "only mean 0 and bias 0 are supported");
    *cls_std = *std;
    if (ov) {
        double om;
        if (tgc_b_check_keys(b->err, ov, "init_cfg.override", okeys) < 0 || tgc_b_choice(b->err, ov, "type", "Normal", types, &type) < 0 ||
            tgc_cfg_str(ov, "name", "retina_cls", &name, b->err) < 0 || tgc_cfg_float(ov, "std", *std, cls_std, b->err) < 0 ||
            tgc_cfg_float(ov, "mean", 0, &om, b->err) < 0 || tgc_cfg_float(ov, "bias_prob", 0, bias_prob, b->err) < 0)
            return -1;
        if (strcmp(name, "retina_cls") || om != 0) return tgc_cfg_fail(b->err, ov, "only an override of retina_cls (mean 0) is supported");
    } else {
        *bias_prob = 0; /* bias 0 */
    }
    if (!(*bias_prob >= 0 && *bias_prob < 1)) return tgc_cfg_fail(b->err, ic, "bias_prob must be in [0, 1)");
    return 0;
}

int tgc_build_retina_head(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out) {
    static const char *const keys[] = {"num_classes", "in_channels", "stacked_convs", "feat_channels", "conv_cfg",
                                       "norm_cfg", "anchor_generator", "bbox_coder", "reg_decoded_bbox", "loss_cls",
                                       "loss_bbox", "train_cfg", "test_cfg", "init_cfg", NULL};
    if (tgc_b_check_keys(b->err, node, "RetinaHead", keys) < 0) return -1;
    int64_t nc, cin, stacked, feat;
    int reg_decoded;
    if (!tgc_cfg_get(node, "num_classes")) return tgc_b_fail_key(b->err, node, "num_classes", "missing: RetinaHead needs num_classes");
    if (tgc_cfg_int(node, "num_classes", 80, &nc, b->err) < 0 || tgc_cfg_int(node, "in_channels", 256, &cin, b->err) < 0 ||
        tgc_cfg_int(node, "stacked_convs", 4, &stacked, b->err) < 0 || tgc_cfg_int(node, "feat_channels", 256, &feat, b->err) < 0 ||
        tgc_cfg_bool(node, "reg_decoded_bbox", 0, &reg_decoded, b->err) < 0)
        return -1;
    if (nc < 1 || nc > 100000) return tgc_b_fail_key(b->err, node, "num_classes", "must be in 1..100000");
    if (stacked < 0 || stacked > 64) return tgc_b_fail_key(b->err, node, "stacked_convs", "must be in 0..64");
    if (feat < 1 || feat > 65536) return tgc_b_fail_key(b->err, node, "feat_channels", "must be in 1..65536");
    if (reg_decoded) return tgc_b_fail_key(b->err, node, "reg_decoded_bbox", "losses on decoded boxes are not supported");
    if (tgc_b_require_null(b->err, node, "conv_cfg", "a custom conv_cfg") < 0 ||
        tgc_b_require_null(b->err, node, "norm_cfg", "a norm layer in RetinaHead") < 0)
        return -1;
    tgc_detm_anchor_cfg ac;
    double gamma, falpha, w_cls, w_box, std, cls_std, bias_prob;
    if (tgc_detm_read_anchor_generator(b, node, &ac) < 0 || read_losses(b, node, &gamma, &falpha, &w_cls, &w_box) < 0 ||
        head_init(b, node, &std, &cls_std, &bias_prob) < 0)
        return -1;
    if (in->n < 1 || in->n > TGC_DETM_MAX_LEVELS) return tgc_fail(b->err, "internal error: RetinaHead got %d feature maps", in->n);
    if (ac.n_strides != in->n)
        return tgc_b_fail_key(b->err, tgc_cfg_get(node, "anchor_generator"), "strides", "%d strides for %d feature levels of "
                              "the neck (one per level)", ac.n_strides, in->n);
    /* Each level's size must be the canvas divided by its stride, rounded up: the host's anchors assume it. */
    int img = tgc_graph_find(b->g, "inputs");
    const tgc_shape *is = img >= 0 ? tgc_b_shape(b, img) : NULL;
    for (int l = 0; l < in->n; l++) {
        const tgc_shape *s = tgc_b_shape(b, in->v[l]);
        if (s->rank != 4 || s->d[1] != cin)
            return tgc_b_fail_key(b->err, node, "in_channels", "%lld, but feature level %d has %lld channels", (long long)cin,
                                  l, (long long)(s->rank == 4 ? s->d[1] : 0));
        int64_t st = ac.strides[l];
        if (is && (st < 1 || (is->d[2] + st - 1) / st != s->d[2] || (is->d[3] + st - 1) / st != s->d[3]))
            return tgc_b_fail_key(b->err, tgc_cfg_get(node, "anchor_generator"), "strides", "stride %lld of level %d does not "
                                  "match its %lldx%lld feature map on the %lldx%lld canvas", (long long)st, l,
                                  (long long)s->d[2], (long long)s->d[3], (long long)is->d[2], (long long)is->d[3]);
    }

    /* State, declared once and shared by every level. */
    tgc_init_rule wn = tgc_rule_normal(0, std), zero = tgc_rule_const(0);
    tgc_detm_conv cls_c[64], reg_c[64], cls_out, reg_out;
    for (int i = 0; i < stacked; i++) {
        char name[48];
        int64_t ci = i ? feat : cin;
        snprintf(name, sizeof name, "cls_convs.%d.conv", i);
        if (tgc_detm_declare_conv(b, name, ci, feat, 3, wn, zero, &cls_c[i]) < 0) return -1;
        snprintf(name, sizeof name, "reg_convs.%d.conv", i);
        if (tgc_detm_declare_conv(b, name, ci, feat, 3, wn, zero, &reg_c[i]) < 0) return -1;
    }
    int64_t last = stacked ? feat : cin;
    double cls_bias = bias_prob > 0 ? -log((1 - bias_prob) / bias_prob) : 0;
    if (tgc_detm_declare_conv(b, "retina_cls", last, ac.n_base * nc, 3, tgc_rule_normal(0, cls_std), tgc_rule_const(cls_bias), &cls_out) < 0 ||
        tgc_detm_declare_conv(b, "retina_reg", last, ac.n_base * 4, 3, wn, zero, &reg_out) < 0)
        return -1;

    int cls_l[TGC_DETM_MAX_LEVELS], reg_l[TGC_DETM_MAX_LEVELS];
    int64_t anchors = 0;
    for (int l = 0; l < in->n; l++) {
        int c = in->v[l], r = in->v[l];
        char scope[TGC_PREFIX_MAX + 32];
        for (int i = 0; i < stacked && c >= 0 && r >= 0; i++) {
            snprintf(scope, sizeof scope, "%s.cls_convs.%d", b->prefix, i);
            c = tgc_detm_apply_conv(b, c, &cls_c[i], 1, scope);
            c = c < 0 ? -1 : tgc_b_op1(b, TGC_OP_RELU, NULL, c);
            snprintf(scope, sizeof scope, "%s.reg_convs.%d", b->prefix, i);
            r = tgc_detm_apply_conv(b, r, &reg_c[i], 1, scope);
            r = r < 0 ? -1 : tgc_b_op1(b, TGC_OP_RELU, NULL, r);
        }
        snprintf(scope, sizeof scope, "%s.retina_cls", b->prefix);
        c = c < 0 ? -1 : tgc_detm_apply_conv(b, c, &cls_out, 1, scope);
        snprintf(scope, sizeof scope, "%s.retina_reg", b->prefix);
        r = r < 0 ? -1 : tgc_detm_apply_conv(b, r, &reg_out, 1, scope);
        if ((cls_l[l] = c < 0 ? -1 : tgc_detm_level_rows(b, c, nc)) < 0 || (reg_l[l] = r < 0 ? -1 : tgc_detm_level_rows(b, r, 4)) < 0) return -1;
        anchors += tgc_b_shape(b, cls_l[l])->d[1];
    }
    int cls = tgc_detm_concat_all(b, cls_l, in->n, 1), reg = cls < 0 ? -1 : tgc_detm_concat_all(b, reg_l, in->n, 1);
    if (reg < 0) return -1;
    int64_t batch = tgc_b_shape(b, cls)->d[0];
    if (!b->training) { /* det_out [B, A, C + 4]: the class logits, then the box deltas */
        int y = tgc_detm_concat_all(b, (int[]){cls, reg}, 2, 2);
        if (y < 0) return -1;
        out->n = 1;
        out->v[0] = y;
        return 0;
    }
    tgc_shape ts = tgc_shape2(batch, anchors), bs = ts;
    bs.rank = 3, bs.d[2] = 4;
    int ct = tgc_graph_input(b->g, "data_samples.cls_target", TGC_I32, ts);
    int bt = ct < 0 ? -1 : tgc_graph_input(b->g, "data_samples.bbox_target", TGC_F32, bs);
    int af = bt < 0 ? -1 : tgc_graph_input(b->g, "data_samples.avg_factor", TGC_F32, tgc_shape1(1));
    if (af < 0) return tgc_fail(b->err, "internal error: cannot declare the detection targets");
    tgc_attrs fa = tgc_attrs_default();
    fa.alpha = w_cls, fa.gamma = gamma, fa.focal_alpha = falpha;
    char scope[TGC_PREFIX_MAX + 32];
    snprintf(scope, sizeof scope, "%s.loss_cls", b->prefix);
    int lc = tgc_emit1(b->g, TGC_OP_SIGMOID_FOCAL_LOSS, &fa, scope, b->err, 3, cls, ct, af);
    tgc_attrs la = tgc_attrs_default();
    la.alpha = w_box, la.num_classes = nc;
    snprintf(scope, sizeof scope, "%s.loss_bbox", b->prefix);
    int lb = lc < 0 ? -1 : tgc_emit1(b->g, TGC_OP_L1_LOSS_POS, &la, scope, b->err, 4, reg, bt, ct, af);
    /* the log's terms, in AnchorHead.loss_by_feat's dict order (each the sum of MMDetection's per-level list) */
    if (lb < 0 || tgc_b_log_output(b, "loss_cls", lc) < 0 || tgc_b_log_output(b, "loss_bbox", lb) < 0) return -1;
    out->n = 2;
    out->v[0] = lc, out->v[1] = lb;
    return 0;
}

/* ---- the detector -------------------------------------------------------------------------------- */
int tgc_build_retinanet(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out) {
    static const char *const keys[] = {"backbone", "neck", "bbox_head", "train_cfg", "test_cfg", "data_preprocessor",
                                       "init_cfg", NULL};
    if (tgc_b_check_keys(b->err, node, "RetinaNet", keys) < 0 || tgc_b_init_cfg(b->err, node) < 0) return -1;
    /* train_cfg (the assigner) and test_cfg (post-processing) are the host's: the data loader assigns the
     * anchors, the evaluator decodes and suppresses. */
    const tgc_cfg *bb = tgc_cfg_get(node, "backbone"), *neck = tgc_cfg_get(node, "neck"), *head = tgc_cfg_get(node, "bbox_head");
    if (tgc_detm_neutral(bb)) return tgc_b_fail_key(b->err, node, "backbone", "missing: RetinaNet needs a backbone");
    if (tgc_detm_neutral(neck)) return tgc_b_fail_key(b->err, node, "neck", "missing: RetinaNet needs a neck (FPN)");
    if (tgc_detm_neutral(head)) return tgc_b_fail_key(b->err, node, "bbox_head", "missing: RetinaNet needs a bbox_head");
    tgc_feats f, g, h;
    if (tgc_registry_build(b, TGC_PART_BACKBONE, bb, "backbone", in, &f) < 0 ||
        tgc_registry_build(b, TGC_PART_NECK, neck, "neck", &f, &g) < 0 ||
        tgc_registry_build(b, TGC_PART_HEAD, head, "bbox_head", &g, &h) < 0)
        return -1;
    if (h.n < 1) return tgc_fail(b->err, "internal error: the head returned nothing");
    /* training: the loss is the sum of the head's registered terms (loss_cls + loss_bbox) */
    int y = b->training ? tgc_b_loss_sum(b) : h.v[0];
    if (y < 0) return -1;
    out->n = 1;
    out->v[0] = y;
    return 0;
}
