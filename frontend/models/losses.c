/* frontend/models/losses.c - classification losses: CrossEntropyLoss, LabelSmoothLoss. */
#include <string.h>

#include "frontend/registry.h"

/* softmax_cross_entropy(logits, labels) {alpha = loss_weight, label_smooth}: mean over the batch; with
 * sigmoid, sigmoid_bce (MMPretrain's use_sigmoid: binary cross-entropy with logits, mean over N*C). */
static int emit_ce(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out, double weight,
                   double smooth, int sigmoid) {
    if (in->n < 2 || in->v[1] < 0) return tgc_fail(b->err, "internal error: loss without labels");
    const tgc_shape *s = tgc_b_shape(b, in->v[0]);
    if (s->rank != 2) {
        char buf[96];
        tgc_shape_str(s, buf, sizeof buf);
        return tgc_b_fail_key(b->err, node, "type", "the loss expects [N, num_classes] scores, got %s", buf);
    }
    tgc_attrs a = tgc_attrs_default();
    a.alpha = weight;
    a.label_smooth = smooth;
    /* soft targets (batch augments) or hard labels: frontend.c declared one or the other */
    int soft = b->g->vals[in->v[1]].type.dtype == TGC_F32;
    tgc_opcode code = sigmoid ? TGC_OP_SIGMOID_BCE : soft ? TGC_OP_SOFTMAX_CE_SOFT : TGC_OP_SOFTMAX_CE;
    int y = tgc_emit1(b->g, code, &a, b->prefix_len ? b->prefix : NULL, b->err, 2, in->v[0], in->v[1]);
    if (y < 0) return -1;
    out->n = 1;
    out->v[0] = y;
    return 0;
}

/* Options shared by MMPretrain's losses that tgc does not implement: refused unless neutral. *sig: use_sigmoid. */
static int common_checks(tgc_bctx *b, const tgc_cfg *node, int *sig) {
    static const char *const reductions[] = {"mean", NULL};
    const char *red;
    if (tgc_b_choice(b->err, node, "reduction", "mean", reductions, &red) < 0 ||
        tgc_b_require_null(b->err, node, "class_weight", "class_weight") < 0 ||
        tgc_cfg_bool(node, "use_sigmoid", 0, sig, b->err) < 0)
        return -1;
    return 0;
}

/* use_soft (soft cross-entropy) is accepted: with batch augments the targets are soft (gt_score) and the
 * loss is softmax_cross_entropy_soft whatever use_soft says (as MMPretrain's CrossEntropyLoss on [N, C]
 * targets); without them the soft cross-entropy of a one-hot target is the cross-entropy of its label. */
int tgc_build_ce_loss(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out) {
    static const char *const keys[] = {"use_sigmoid", "use_soft", "reduction", "loss_weight", "class_weight",
                                       "pos_weight", "label_smooth_val", NULL};
    double weight = 1.0, smooth = 0;
    int sig = 0;
    if (node) {
        if (tgc_b_check_keys(b->err, node, "CrossEntropyLoss", keys) < 0 || common_checks(b, node, &sig) < 0 ||
            tgc_b_require_null(b->err, node, "pos_weight", "pos_weight") < 0 ||
            tgc_cfg_float(node, "loss_weight", 1.0, &weight, b->err) < 0 ||
            tgc_cfg_float(node, "label_smooth_val", 0, &smooth, b->err) < 0)
            return -1;
        if (smooth < 0 || smooth >= 1)
            return tgc_b_fail_key(b->err, node, "label_smooth_val", "must be in [0, 1)");
        /* MMPretrain's binary_cross_entropy asserts targets shaped as the scores: class indices fail there */
        if (sig && in->n >= 2 && in->v[1] >= 0 && b->g->vals[in->v[1]].type.dtype != TGC_F32)
            return tgc_b_fail_key(b->err, node, "use_sigmoid", "CrossEntropyLoss with use_sigmoid needs [N, C] targets "
                                  "(batch augments); MMPretrain refuses class indices here (LabelSmoothLoss takes them)");
    }
    return emit_ce(b, node, in, out, weight, smooth, sig);
}

int tgc_build_label_smooth_loss(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out) {
    static const char *const keys[] = {"label_smooth_val", "num_classes", "use_sigmoid", "mode", "reduction",
                                       "loss_weight", "class_weight", NULL};
    static const char *const modes[] = {"original", "classy_vision", NULL};
    double weight, smooth;
    int64_t nc;
    const char *mode;
    int sig;
    if (tgc_b_check_keys(b->err, node, "LabelSmoothLoss", keys) < 0 || common_checks(b, node, &sig) < 0 ||
        tgc_cfg_float(node, "loss_weight", 1.0, &weight, b->err) < 0 ||
        tgc_cfg_int(node, "num_classes", 0, &nc, b->err) < 0 ||
        tgc_b_choice(b->err, node, "mode", "original", modes, &mode) < 0)
        return -1;
    if (!tgc_cfg_get(node, "label_smooth_val"))
        return tgc_b_fail_key(b->err, node, "label_smooth_val", "missing: LabelSmoothLoss needs label_smooth_val");
    if (tgc_cfg_float(node, "label_smooth_val", 0, &smooth, b->err) < 0) return -1;
    if (smooth < 0 || smooth >= 1) return tgc_b_fail_key(b->err, node, "label_smooth_val", "must be in [0, 1)");
    /* classy_vision smooths (onehot + s/C) / (1 + s), which is 'original' with s' = s / (1 + s). */
    if (!strcmp(mode, "classy_vision")) smooth = smooth / (1 + smooth);
    const tgc_shape *s = tgc_b_shape(b, in->v[0]);
    if (nc > 0 && s->rank == 2 && s->d[1] != nc)
        return tgc_b_fail_key(b->err, node, "num_classes", "%lld does not match the %lld scores of the head",
                              (long long)nc, (long long)s->d[1]);
    return emit_ce(b, node, in, out, weight, smooth, sig);
}
