/* frontend/models/lenet.c - MMPretrain's LeNet5 backbone (features + classifier, PyTorch default init). */
#include "frontend/registry.h"

static int conv_tanh(tgc_bctx *b, int x, const char *name, int64_t out) {
    tgc_conv_opts o = {out, 5, 1, 0, 1, 1, 1, tgc_rule_torch_default(), tgc_rule_torch_default()};
    int y = tgc_b_conv(b, x, name, &o);
    return y < 0 ? -1 : tgc_b_op1(b, TGC_OP_TANH, NULL, y);
}

static int avg_pool2(tgc_bctx *b, int x) {
    if (x < 0) return -1;
    tgc_attrs a = tgc_attrs_default();
    a.kernel[0] = a.kernel[1] = 2;
    a.stride[0] = a.stride[1] = 2;
    return tgc_b_op1(b, TGC_OP_AVG_POOL2D, &a, x);
}

int tgc_build_lenet5(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out) {
    static const char *const keys[] = {"num_classes", "init_cfg", NULL};
    int64_t num_classes;
    if (tgc_b_check_keys(b->err, node, "LeNet5", keys) < 0 ||
        tgc_cfg_int(node, "num_classes", -1, &num_classes, b->err) < 0 ||
        tgc_b_require_null(b->err, node, "init_cfg", "a custom init_cfg") < 0)
        return -1;
    if (num_classes == 0 || num_classes > 1000000)
        return tgc_b_fail_key(b->err, node, "num_classes", "must be positive (or -1 for no classifier)");
    int x = in->v[0];
    const tgc_shape *xs = tgc_b_shape(b, x);
    /* LeNet5's first conv takes 1 channel, and its third conv reduces exactly a 32x32 input to 1x1. */
    if (xs->rank != 4 || xs->d[1] != 1 || xs->d[2] != 32 || xs->d[3] != 32)
        return tgc_b_fail_key(b->err, node, "type", "LeNet5 needs 1x32x32 images, got %lldx%lldx%lld from the %s "
                              "(LeNet5 takes one channel; add Resize with scale 32 to the pipelines)",
                              (long long)xs->d[1], (long long)xs->d[2], (long long)xs->d[3], b->input_desc);

    size_t saved = tgc_b_enter(b, "features");
    int y = conv_tanh(b, x, "0", 6);           /* features.0, .1 tanh */
    y = avg_pool2(b, y);                       /* features.2          */
    if (y >= 0) y = conv_tanh(b, y, "3", 16);  /* features.3, .4      */
    y = avg_pool2(b, y);                       /* features.5          */
    if (y >= 0) y = conv_tanh(b, y, "6", 120); /* features.6, .7      */
    tgc_b_leave(b, saved);
    if (y < 0) return -1;

    if (num_classes > 0) {
        /* x.squeeze(): [N,120,1,1] -> [N,120] */
        tgc_attrs a = tgc_attrs_default();
        a.shape = tgc_shape2(tgc_b_shape(b, y)->d[0], 120);
        y = tgc_b_op1(b, TGC_OP_RESHAPE, &a, y);
        saved = tgc_b_enter(b, "classifier");
        if (y >= 0) y = tgc_b_linear(b, y, "0", 84, tgc_rule_torch_default(), tgc_rule_torch_default());
        if (y >= 0) y = tgc_b_op1(b, TGC_OP_TANH, NULL, y);
        if (y >= 0) y = tgc_b_linear(b, y, "2", num_classes, tgc_rule_torch_default(), tgc_rule_torch_default());
        tgc_b_leave(b, saved);
        if (y < 0) return -1;
    }
    out->n = 1;
    out->v[0] = y;
    return 0;
}
