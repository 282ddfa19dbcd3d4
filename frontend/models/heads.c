/* frontend/models/heads.c - classification heads: ClsHead (features are the scores), LinearClsHead,
 * MultiLabelLinearClsHead. */
#include "frontend/registry.h"

/* Options every classification head shares: topk (metrics only), cal_acc, init_cfg. */
static int common_checks(tgc_bctx *b, const tgc_cfg *node) {
    int cal_acc;
    if (tgc_cfg_bool(node, "cal_acc", 0, &cal_acc, b->err) < 0) return -1;
    return tgc_b_require_null(b->err, node, "init_cfg", "a custom init_cfg");
}

/* topk (used by the accuracy metric): each entry in 1..num_classes, as MMPretrain asserts. */
static int check_topk(tgc_bctx *b, const tgc_cfg *node, int scores) {
    int64_t topk[8], classes = tgc_b_shape(b, scores)->d[1];
    int n = 0;
    if (tgc_cfg_ints(node, "topk", topk, 8, &n, b->err) < 0) return -1;
    for (int i = 0; i < n; i++)
        if (topk[i] < 1 || topk[i] > classes)
            return tgc_b_fail_key(b->err, node, "topk", "%lld is not in 1..%lld (the number of classes)",
                                  (long long)topk[i], (long long)classes);
    return 0;
}

/* Training: the loss of `loss:` (CrossEntropyLoss when absent, as MMPretrain's default) on the scores;
 * eval: the scores. The loss module is "head.loss_module" as in MMPretrain (it holds no state). */
static int finish(tgc_bctx *b, const tgc_cfg *node, int scores, tgc_feats *out) {
    if (check_topk(b, node, scores) < 0) return -1;
    if (!b->training || b->labels < 0) { /* eval, or precise_bn's forward (no labels) */
        out->n = 1;
        out->v[0] = scores;
        return 0;
    }
    tgc_feats lin = {2, {scores, b->labels}};
    const tgc_cfg *loss = tgc_cfg_get(node, "loss");
    if (!loss || loss->kind == TGC_CFG_NULL) {
        size_t saved = tgc_b_enter(b, "loss_module");
        int rc = tgc_build_ce_loss(b, NULL, &lin, out);
        tgc_b_leave(b, saved);
        return rc;
    }
    return tgc_registry_build(b, TGC_PART_LOSS, loss, "loss_module", &lin, out);
}

static int last_feature_2d(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, const char *what) {
    if (in->n < 1) return tgc_fail(b->err, "internal error: head without features");
    int x = in->v[in->n - 1];
    const tgc_shape *s = tgc_b_shape(b, x);
    if (s->rank != 2) {
        char buf[96];
        tgc_shape_str(s, buf, sizeof buf);
        return tgc_b_fail_key(b->err, node, "type",
                              "%s expects [N, C] features, got %s (add a neck such as GlobalAveragePooling)", what, buf);
    }
    return x;
}

int tgc_build_linear_cls_head(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out) {
    static const char *const keys[] = {"num_classes", "in_channels", "loss", "topk", "cal_acc", "init_cfg", NULL};
    int64_t nc, ic;
    if (tgc_b_check_keys(b->err, node, "LinearClsHead", keys) < 0 || common_checks(b, node) < 0) return -1;
    if (!tgc_cfg_get(node, "num_classes"))
        return tgc_b_fail_key(b->err, node, "num_classes", "missing: LinearClsHead needs num_classes");
    if (!tgc_cfg_get(node, "in_channels"))
        return tgc_b_fail_key(b->err, node, "in_channels", "missing: LinearClsHead needs in_channels");
    if (tgc_cfg_int(node, "num_classes", 0, &nc, b->err) < 0 || tgc_cfg_int(node, "in_channels", 0, &ic, b->err) < 0)
        return -1;
    if (nc < 1 || nc > 1000000) return tgc_b_fail_key(b->err, node, "num_classes", "must be in 1..1000000");
    int x = last_feature_2d(b, node, in, "LinearClsHead");
    if (x < 0) return -1;
    int64_t width = tgc_b_shape(b, x)->d[1];
    if (width != ic)
        return tgc_b_fail_key(b->err, node, "in_channels", "%lld does not match the %lld-channel features of the "
                              "backbone/neck", (long long)ic, (long long)width);
    int y = tgc_b_linear(b, x, "fc", nc, tgc_rule_normal(0, 0.01), tgc_rule_const(0));
    return y < 0 ? -1 : finish(b, node, y, out);
}

/* MMPretrain's MultiLabelLinearClsHead: the same fc as LinearClsHead (thr and topk shape its multi-label
 * predictions, which the Accuracy metric does not read: sigmoid keeps the order of the scores). Its default
 * loss is a sigmoid cross-entropy, which tgc does not have: the recipes that use it name a softmax loss. */
int tgc_build_multilabel_linear_cls_head(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out) {
    static const char *const keys[] = {"num_classes", "in_channels", "loss", "thr", "topk", "init_cfg", NULL};
    int64_t nc, ic;
    if (tgc_b_check_keys(b->err, node, "MultiLabelLinearClsHead", keys) < 0 ||
        tgc_b_require_null(b->err, node, "init_cfg", "a custom init_cfg") < 0)
        return -1;
    const tgc_cfg *loss = tgc_cfg_get(node, "loss");
    if (!loss || loss->kind == TGC_CFG_NULL)
        return tgc_b_fail_key(b->err, node, "loss", "missing: MultiLabelLinearClsHead's default loss is a sigmoid "
                              "cross-entropy, which is not supported (name a softmax loss)");
    if (!tgc_cfg_get(node, "num_classes"))
        return tgc_b_fail_key(b->err, node, "num_classes", "missing: MultiLabelLinearClsHead needs num_classes");
    if (!tgc_cfg_get(node, "in_channels"))
        return tgc_b_fail_key(b->err, node, "in_channels", "missing: MultiLabelLinearClsHead needs in_channels");
    if (tgc_cfg_int(node, "num_classes", 0, &nc, b->err) < 0 || tgc_cfg_int(node, "in_channels", 0, &ic, b->err) < 0)
        return -1;
    if (nc < 1 || nc > 1000000) return tgc_b_fail_key(b->err, node, "num_classes", "must be in 1..1000000");
    int x = last_feature_2d(b, node, in, "MultiLabelLinearClsHead");
    if (x < 0) return -1;
    int64_t width = tgc_b_shape(b, x)->d[1];
    if (width != ic)
        return tgc_b_fail_key(b->err, node, "in_channels", "%lld does not match the %lld-channel features of the "
                              "backbone/neck", (long long)ic, (long long)width);
    int y = tgc_b_linear(b, x, "fc", nc, tgc_rule_normal(0, 0.01), tgc_rule_const(0));
    return y < 0 ? -1 : finish(b, node, y, out);
}

int tgc_build_cls_head(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out) {
    static const char *const keys[] = {"loss", "topk", "cal_acc", "init_cfg", NULL};
    if (tgc_b_check_keys(b->err, node, "ClsHead", keys) < 0 || common_checks(b, node) < 0) return -1;
    int x = last_feature_2d(b, node, in, "ClsHead");
    return x < 0 ? -1 : finish(b, node, x, out);
}
