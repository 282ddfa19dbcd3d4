/* frontend/models/faster_rcnn.c - MMDetection's FasterRCNN: a backbone, FPN, RPNHead and StandardRoIHead
 * (SingleRoIExtractor, Shared2FCBBoxHead), with MMDetection's state-dict names (rpn_head.rpn_conv.weight,
 * roi_head.bbox_head.shared_fcs.0.weight, ...).
 *
 * The graph is static. The RPN's anchor targets come from the host (the data loader), as RetinaNet's:
 *   data_samples.rpn_cls_target  i32 [B, A]     0 a sampled positive, 1 a sampled negative, -1 not sampled
 *   data_samples.rpn_bbox_target f32 [B, A, 4]  DeltaXYWH targets of the sampled positives (0 elsewhere)
 *   data_samples.rpn_avg_factor  f32 [1]        sampled positives + negatives over the batch
 * The proposals are made in the graph, per image and without gradient: per level the nms_pre best anchors
 * by sigmoid score (topk), their anchors (anchor_decode: generated from the level's grid, no input) decoded
 * and clipped to data_samples.img_shape f32 [B, 2] (h, w), boxes of width or height <= min_bbox_size
 * dropped (score -inf), then one NMS over all levels with the level as the id (nms_fixed), the first
 * max_per_img kept (padding rows: index -1, box 0). Training samples the RoIs with rcnn_targets from the
 * proposals and the padded ground truth (data_samples.gt_bboxes f32 [B, G, 4], gt_labels i32 [B, G] with
 * -1 padding, rng i32 [B, 4]; G = data_preprocessor.tgc_max_gts), exactly N per image. The RoI features are
 * SingleRoIExtractor's (roi_align per level, each RoI on its level, summed), then Shared2FCBBoxHead. The
 * train graph registers four named log outputs and returns their sum (tgc_b_loss_sum), the loss:
 *   loss_rpn_cls  sigmoid cross-entropy over the sampled anchors / rpn_avg_factor (sigmoid_focal_loss with
 *                 gamma 0 and focal_alpha 0.5, weight doubled: exactly the binary cross-entropy)
 *   loss_rpn_bbox L1 over the positives' deltas / rpn_avg_factor (l1_loss_pos); SmoothL1Loss: the targets
 *                 and weights of class_box_targets with one class, then smooth_l1 with its beta / rpn_avg_factor
 *   loss_cls      softmax cross-entropy over the sampled RoIs / their count (softmax_cross_entropy_masked)
 *   loss_bbox     L1 (or SmoothL1Loss) over the positives' class-specific deltas / the sampled RoIs' count
 *                 (class_box_targets then smooth_l1 with beta 0, or SmoothL1Loss's beta)
 * and, logged only, acc: the top-1 accuracy in percent over the sampled RoIs (accuracy_masked).
 * The eval graph returns det_out f32 [B, P, 4 + 1 + (C + 1) + 4C], P = test_cfg.rpn.max_per_img: per
 * proposal its box on the canvas, a valid flag (1, or 0 for padding), the class logits (background last)
 * and the class-specific deltas (class-major); the host decodes, thresholds and suppresses. */
#include <math.h>
#include <string.h>

#include "frontend/models/det_common.h"
#include "frontend/registry.h"

/* ---- config readers ---------------------------------------------------------------------------------- */
/* head.<key>: DeltaXYWHBBoxCoder; means/stds default 0/1. */
static int read_coder(tgc_bctx *b, const tgc_cfg *head, const char *key, double *means, double *stds, int *clip) {
    for (int i = 0; i < 4; i++) means[i] = 0, stds[i] = 1;
    *clip = 1;
    const tgc_cfg *c;
    if (tgc_detm_want_map(b->err, head, key, &c) < 0) return -1;
    if (!c) return 0;
    static const char *const keys[] = {"target_means", "target_stds", "clip_border", "add_ctr_clamp", "ctr_clamp",
                                       "use_box_type", NULL};
    static const char *const types[] = {"DeltaXYWHBBoxCoder", NULL};
    const char *type;
    int ctr, nm, ns, ubt;
    if (tgc_b_check_keys(b->err, c, "DeltaXYWHBBoxCoder", keys) < 0 || tgc_b_choice(b->err, c, "type", "DeltaXYWHBBoxCoder", types, &type) < 0 ||
        tgc_detm_read_numbers(b->err, c, "target_means", means, 4, &nm) < 0 ||
        tgc_detm_read_numbers(b->err, c, "target_stds", stds, 4, &ns) < 0 || tgc_cfg_bool(c, "clip_border", 1, clip, b->err) < 0 ||
        tgc_cfg_bool(c, "add_ctr_clamp", 0, &ctr, b->err) < 0 || tgc_cfg_bool(c, "use_box_type", 0, &ubt, b->err) < 0)
        return -1;
    if ((nm && nm != 4) || (ns && ns != 4)) return tgc_cfg_fail(b->err, c, "target_means and target_stds need 4 values each");
    if (nm == 0) means[0] = means[1] = means[2] = means[3] = 0;
    if (ns == 0) stds[0] = stds[1] = stds[2] = stds[3] = 1;
    for (int i = 0; i < 4; i++)
        if (!(stds[i] != 0) || !isfinite(stds[i])) return tgc_b_fail_key(b->err, c, "target_stds", "must be finite and non-zero");
    if (ctr) return tgc_b_fail_key(b->err, c, "add_ctr_clamp", "the centre clamp is not supported");
    return 0;
}

/* head.<key>: CrossEntropyLoss with use_sigmoid as `sigmoid` requires; its loss_weight. */
static int read_ce(tgc_bctx *b, const tgc_cfg *head, const char *key, int sigmoid, double *w) {
    *w = 1;
    const tgc_cfg *c;
    if (tgc_detm_want_map(b->err, head, key, &c) < 0) return -1;
    if (!c) return 0;
    static const char *const keys[] = {"use_sigmoid", "use_mask", "reduction", "class_weight", "ignore_index",
                                       "loss_weight", "avg_non_ignore", NULL};
    static const char *const types[] = {"CrossEntropyLoss", NULL}, *const red[] = {"mean", NULL};
    const char *type, *r;
    int sig, mask, ani;
    if (tgc_b_check_keys(b->err, c, "CrossEntropyLoss", keys) < 0 || tgc_b_choice(b->err, c, "type", "CrossEntropyLoss", types, &type) < 0 ||
        tgc_cfg_bool(c, "use_sigmoid", 0, &sig, b->err) < 0 || tgc_cfg_bool(c, "use_mask", 0, &mask, b->err) < 0 ||
        tgc_cfg_bool(c, "avg_non_ignore", 0, &ani, b->err) < 0 || tgc_b_choice(b->err, c, "reduction", "mean", red, &r) < 0 ||
        tgc_cfg_float(c, "loss_weight", 1, w, b->err) < 0 ||
        tgc_b_require_null(b->err, c, "class_weight", "a class_weight") < 0 ||
        tgc_b_require_null(b->err, c, "ignore_index", "an ignore_index") < 0)
        return -1;
    if (sig != sigmoid)
        return tgc_b_fail_key(b->err, c, "use_sigmoid", "must be %s here (%s)", sigmoid ? "true" : "false",
                              sigmoid ? "the RPN's objectness is a sigmoid" : "the R-CNN's classes are a softmax");
    if (mask) return tgc_b_fail_key(b->err, c, "use_mask", "mask losses are not supported");
    if (ani) return tgc_b_fail_key(b->err, c, "avg_non_ignore", "only false (the default) is supported");
    if (!(*w >= 0) || isinf(*w)) return tgc_b_fail_key(b->err, c, "loss_weight", "must be finite and not negative");
    return 0;
}

/* head.<key>: L1Loss (beta 0) or SmoothL1Loss (its beta, default 1, > 0 as MMDetection asserts); the loss_weight. */
static int read_box_loss(tgc_bctx *b, const tgc_cfg *head, const char *key, double *w, double *beta) {
    *w = 1, *beta = 0;
    const tgc_cfg *c;
    if (tgc_detm_want_map(b->err, head, key, &c) < 0) return -1;
    if (!c) return 0;
    static const char *const types[] = {"L1Loss", "SmoothL1Loss", NULL}, *const red[] = {"mean", NULL};
    static const char *const l1_keys[] = {"loss_weight", "reduction", NULL};
    static const char *const sl1_keys[] = {"beta", "loss_weight", "reduction", NULL};
    const char *type, *r;
    if (tgc_b_choice(b->err, c, "type", "L1Loss", types, &type) < 0) return -1;
    int smooth = !strcmp(type, "SmoothL1Loss");
    if (tgc_b_check_keys(b->err, c, type, smooth ? sl1_keys : l1_keys) < 0 ||
        tgc_cfg_float(c, "loss_weight", 1, w, b->err) < 0 || tgc_b_choice(b->err, c, "reduction", "mean", red, &r) < 0 ||
        (smooth && tgc_cfg_float(c, "beta", 1, beta, b->err) < 0))
        return -1;
    if (!(*w >= 0) || isinf(*w)) return tgc_b_fail_key(b->err, c, "loss_weight", "must be finite and not negative");
    if (smooth && (!(*beta > 0) || isinf(*beta))) return tgc_b_fail_key(b->err, c, "beta", "must be finite and positive");
    return 0;
}

/* train_cfg.rpn_proposal / test_cfg.rpn: the proposal selection. */
typedef struct proposal_cfg {
    int64_t nms_pre, max_per_img;
    double iou, min_bbox_size;
} proposal_cfg;

static int read_proposal_cfg(tgc_bctx *b, const tgc_cfg *parent, const char *key, proposal_cfg *pc) {
    const tgc_cfg *c, *nms;
    if (tgc_detm_want_map(b->err, parent, key, &c) < 0) return -1;
    if (!c) return tgc_b_fail_key(b->err, parent, key, "missing: Faster R-CNN's proposals need it (nms_pre, max_per_img, nms)");
    static const char *const keys[] = {"nms_pre", "max_per_img", "nms", "min_bbox_size", NULL};
    if (tgc_b_check_keys(b->err, c, key, keys) < 0 || tgc_cfg_int(c, "nms_pre", 1000, &pc->nms_pre, b->err) < 0 ||
        tgc_cfg_int(c, "max_per_img", 1000, &pc->max_per_img, b->err) < 0 ||
        tgc_cfg_float(c, "min_bbox_size", 0, &pc->min_bbox_size, b->err) < 0 || tgc_detm_want_map(b->err, c, "nms", &nms) < 0)
        return -1;
    if (!tgc_cfg_get(c, "max_per_img")) return tgc_b_fail_key(b->err, c, "max_per_img", "missing: the proposal count per image");
    if (pc->max_per_img < 1 || pc->max_per_img > 100000) return tgc_b_fail_key(b->err, c, "max_per_img", "must be in 1..100000");
    if (!isfinite(pc->min_bbox_size)) return tgc_b_fail_key(b->err, c, "min_bbox_size", "must be finite");
    if (!nms) return tgc_b_fail_key(b->err, c, "nms", "missing: {type: nms, iou_threshold: ...}");
    static const char *const nkeys[] = {"iou_threshold", NULL}, *const ntypes[] = {"nms", NULL};
    const char *type;
    if (tgc_b_check_keys(b->err, nms, "nms", nkeys) < 0 || tgc_b_choice(b->err, nms, "type", "nms", ntypes, &type) < 0 ||
        tgc_cfg_float(nms, "iou_threshold", 0.7, &pc->iou, b->err) < 0)
        return -1;
    if (!(pc->iou >= 0 && pc->iou <= 1)) return tgc_b_fail_key(b->err, nms, "iou_threshold", "must be in [0, 1]");
    return 0;
}

/* Each level's size must be the canvas divided by its stride, rounded up (the host's anchors assume it). */
static int check_levels(tgc_bctx *b, const tgc_cfg *node, const char *key, const int *v, const int64_t *strides, int n,
                        int64_t channels) {
    int img = tgc_graph_find(b->g, "inputs");
    const tgc_shape *is = img >= 0 ? tgc_b_shape(b, img) : NULL;
    for (int l = 0; l < n; l++) {
        const tgc_shape *s = tgc_b_shape(b, v[l]);
        if (s->rank != 4 || s->d[1] != channels)
            return tgc_b_fail_key(b->err, node, "in_channels", "%lld, but feature level %d has %lld channels", (long long)channels,
                                  l, (long long)(s->rank == 4 ? s->d[1] : 0));
        int64_t st = strides[l];
        if (is && (st < 1 || (is->d[2] + st - 1) / st != s->d[2] || (is->d[3] + st - 1) / st != s->d[3]))
            return tgc_fail(b->err, "%s: stride %lld of level %d does not match its %lldx%lld feature map on the %lldx%lld "
                            "canvas", key, (long long)st, l, (long long)s->d[2], (long long)s->d[3], (long long)is->d[2],
                            (long long)is->d[3]);
    }
    return 0;
}

static int emit(tgc_bctx *b, tgc_opcode code, const tgc_attrs *a, const char *what, int n_in, const int *in, int *out) {
    char scope[TGC_PREFIX_MAX + 32];
    snprintf(scope, sizeof scope, "%s%s%s", b->prefix, *b->prefix ? "." : "", what);
    return tgc_emit(b->g, code, in, n_in, a, scope, out, b->err);
}

static int emit1(tgc_bctx *b, tgc_opcode code, const tgc_attrs *a, const char *what, int n_in, const int *in) {
    int out[TGC_MAX_OUT];
    return emit(b, code, a, what, n_in, in, out) < 0 ? -1 : out[0];
}

static int reshape(tgc_bctx *b, int x, int rank, const int64_t *dims) {
    tgc_attrs a = tgc_attrs_default();
    a.shape = tgc_shape_make(rank, dims);
    return x < 0 ? -1 : tgc_b_op1(b, TGC_OP_RESHAPE, &a, x);
}

static int fill(tgc_bctx *b, tgc_shape s, double v) {
    tgc_attrs a = tgc_attrs_default();
    a.shape = s, a.alpha = v, a.dtype = TGC_F32;
    return emit1(b, TGC_OP_FILL, &a, "fill", 0, NULL);
}

/* ---- RPNHead ----------------------------------------------------------------------------------------- */
typedef struct rpn_result {
    int loss;       /* training: loss_rpn_bbox (both terms are registered as log outputs) */
    int proposals;  /* [B, P, 4] */
    int keep;       /* [B, P] i32: the kept candidate of each row, -1 padding */
    int count;      /* [B] i32 */
    int64_t candidates; /* boxes before the NMS, per image */
} rpn_result;

static int build_rpn(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, const proposal_cfg *pc, int img_shape,
                     rpn_result *res) {
    static const char *const keys[] = {"in_channels", "feat_channels", "num_convs", "num_classes", "anchor_generator",
                                       "bbox_coder", "reg_decoded_bbox", "loss_cls", "loss_bbox", "train_cfg",
                                       "test_cfg", "init_cfg", NULL};
    static const char *const types[] = {"RPNHead", NULL};
    const char *type;
    if (tgc_b_check_keys(b->err, node, "RPNHead", keys) < 0 || tgc_b_choice(b->err, node, "type", "RPNHead", types, &type) < 0)
        return -1;
    int64_t cin, feat, nconv, nc;
    int reg_decoded, clip;
    if (tgc_cfg_int(node, "in_channels", 256, &cin, b->err) < 0 || tgc_cfg_int(node, "feat_channels", 256, &feat, b->err) < 0 ||
        tgc_cfg_int(node, "num_convs", 1, &nconv, b->err) < 0 || tgc_cfg_int(node, "num_classes", 1, &nc, b->err) < 0 ||
        tgc_cfg_bool(node, "reg_decoded_bbox", 0, &reg_decoded, b->err) < 0)
        return -1;
    if (!tgc_cfg_get(node, "in_channels")) return tgc_b_fail_key(b->err, node, "in_channels", "missing: RPNHead needs in_channels");
    if (feat < 1 || feat > 65536) return tgc_b_fail_key(b->err, node, "feat_channels", "must be in 1..65536");
    if (nconv != 1) return tgc_b_fail_key(b->err, node, "num_convs", "only 1 (RPNHead's default) is supported");
    if (nc != 1) return tgc_b_fail_key(b->err, node, "num_classes", "only 1 (a sigmoid objectness) is supported");
    if (reg_decoded) return tgc_b_fail_key(b->err, node, "reg_decoded_bbox", "losses on decoded boxes are not supported");
    if (tgc_b_require_null(b->err, node, "init_cfg", "a custom init_cfg (RPNHead's is Normal std 0.01)") < 0) return -1;
    tgc_detm_anchor_cfg ac;
    double means[4], stds[4], w_cls, w_box, beta;
    if (tgc_detm_read_anchor_generator(b, node, &ac) < 0 || read_coder(b, node, "bbox_coder", means, stds, &clip) < 0 ||
        read_ce(b, node, "loss_cls", 1, &w_cls) < 0 || read_box_loss(b, node, "loss_bbox", &w_box, &beta) < 0)
        return -1;
    const tgc_cfg *agc = tgc_cfg_get(node, "anchor_generator");
    if (ac.n_base > 9) return tgc_b_fail_key(b->err, agc, "ratios", "%d base anchors per cell (at most 9)", ac.n_base);
    if (ac.n_strides != in->n)
        return tgc_b_fail_key(b->err, agc, "strides", "%d strides for %d feature levels of the neck (one per level)",
                              ac.n_strides, in->n);
    char key[TGC_PREFIX_MAX + 48];
    snprintf(key, sizeof key, "%s.anchor_generator.strides", b->prefix);
    if (check_levels(b, node, key, in->v, ac.strides, in->n, cin) < 0) return -1;

    tgc_init_rule wn = tgc_rule_normal(0, 0.01), zero = tgc_rule_const(0);
    tgc_detm_conv conv, cls_c, reg_c;
    if (tgc_detm_declare_conv(b, "rpn_conv", cin, feat, 3, wn, zero, &conv) < 0 ||
        tgc_detm_declare_conv(b, "rpn_cls", feat, ac.n_base, 1, wn, zero, &cls_c) < 0 ||
        tgc_detm_declare_conv(b, "rpn_reg", feat, ac.n_base * 4, 1, wn, zero, &reg_c) < 0)
        return -1;
    int n = in->n, cls_l[TGC_DETM_MAX_LEVELS], reg_l[TGC_DETM_MAX_LEVELS];
    char scope[TGC_PREFIX_MAX + 32];
    for (int l = 0; l < n; l++) {
        snprintf(scope, sizeof scope, "%s.rpn_conv", b->prefix);
        int x = tgc_detm_apply_conv(b, in->v[l], &conv, 1, scope);
        x = x < 0 ? -1 : tgc_b_op1(b, TGC_OP_RELU, NULL, x);
        snprintf(scope, sizeof scope, "%s.rpn_cls", b->prefix);
        int c = x < 0 ? -1 : tgc_detm_apply_conv(b, x, &cls_c, 1, scope);
        snprintf(scope, sizeof scope, "%s.rpn_reg", b->prefix);
        int r = c < 0 ? -1 : tgc_detm_apply_conv(b, x, &reg_c, 1, scope);
        if ((cls_l[l] = r < 0 ? -1 : tgc_detm_level_rows(b, c, 1)) < 0 || (reg_l[l] = tgc_detm_level_rows(b, r, 4)) < 0) return -1;
    }
    int64_t batch = tgc_b_shape(b, cls_l[0])->d[0], anchors = 0;
    for (int l = 0; l < n; l++) anchors += tgc_b_shape(b, cls_l[l])->d[1];

    res->loss = -1;
    if (b->training) {
        int cls = tgc_detm_concat_all(b, cls_l, n, 1), reg = cls < 0 ? -1 : tgc_detm_concat_all(b, reg_l, n, 1);
        tgc_shape bs = tgc_shape2(batch, anchors);
        bs.rank = 3, bs.d[2] = 4;
        int ct = reg < 0 ? -1 : tgc_graph_input(b->g, "data_samples.rpn_cls_target", TGC_I32, tgc_shape2(batch, anchors));
        int bt = ct < 0 ? -1 : tgc_graph_input(b->g, "data_samples.rpn_bbox_target", TGC_F32, bs);
        int af = bt < 0 ? -1 : tgc_graph_input(b->g, "data_samples.rpn_avg_factor", TGC_F32, tgc_shape1(1));
        if (af < 0) return tgc_fail(b->err, "internal error: cannot declare the RPN targets");
        /* sigmoid cross-entropy = 2 * the focal loss with gamma 0 and alpha 0.5 (both exact in double) */
        tgc_attrs fa = tgc_attrs_default();
        fa.alpha = 2 * w_cls, fa.gamma = 0, fa.focal_alpha = 0.5;
        int lc = emit1(b, TGC_OP_SIGMOID_FOCAL_LOSS, &fa, "loss_cls", 3, (int[]){cls, ct, af});
        tgc_attrs la = tgc_attrs_default();
        la.alpha = w_box, la.num_classes = 1;
        int lb;
        if (beta == 0) {
            lb = lc < 0 ? -1 : emit1(b, TGC_OP_L1_LOSS_POS, &la, "loss_bbox", 4, (int[]){reg, bt, ct, af});
        } else { /* SmoothL1Loss: the positives' targets and unit weights (class_box_targets with one class) */
            int64_t rows = batch * anchors;
            int ct1 = lc < 0 ? -1 : reshape(b, ct, 1, (int64_t[]){rows});
            int bt2 = reshape(b, bt, 2, (int64_t[]){rows, 4}), reg2 = reshape(b, reg, 2, (int64_t[]){rows, 4});
            int tw[3];
            if (ct1 < 0 || bt2 < 0 || reg2 < 0 || emit(b, TGC_OP_CLASS_BOX_TARGETS, &la, "loss_bbox", 2, (int[]){ct1, bt2}, tw) < 0)
                return -1;
            la.beta = beta;
            lb = emit1(b, TGC_OP_SMOOTH_L1, &la, "loss_bbox", 4, (int[]){reg2, tw[0], tw[1], af});
        }
        /* the log's terms, as MMDetection names the RPN's (each one masked sum over every level's anchors) */
        if (lb < 0 || tgc_b_log_output(b, "loss_rpn_cls", lc) < 0 || tgc_b_log_output(b, "loss_rpn_bbox", lb) < 0) return -1;
        res->loss = lb;
    }

    /* proposals: per level top nms_pre by score, anchors decoded and clipped, then NMS over the levels */
    int boxes_l[TGC_DETM_MAX_LEVELS], scores_l[TGC_DETM_MAX_LEVELS], ids_l[TGC_DETM_MAX_LEVELS];
    int64_t total = 0;
    for (int l = 0; l < n; l++) {
        const tgc_shape *ls = tgc_b_shape(b, in->v[l]);
        int64_t al = tgc_b_shape(b, cls_l[l])->d[1];
        int64_t k = pc->nms_pre > 0 && pc->nms_pre < al ? pc->nms_pre : al;
        int s = reshape(b, cls_l[l], 2, (int64_t[]){batch, al});
        s = s < 0 ? -1 : tgc_b_op1(b, TGC_OP_SIGMOID, NULL, s);
        tgc_attrs ta = tgc_attrs_default();
        ta.k = k;
        int top[2];
        if (s < 0 || emit(b, TGC_OP_TOPK, &ta, "proposals", 1, &s, top) < 0) return -1;
        tgc_attrs ga = tgc_attrs_default();
        ga.alpha = 0;
        int d = emit1(b, TGC_OP_GATHER, &ga, "proposals", 2, (int[]){reg_l[l], top[1]});
        tgc_attrs da = tgc_attrs_default();
        da.stride[0] = da.stride[1] = ac.strides[l];
        da.shape = tgc_shape_make(3, (int64_t[]){ls->d[2], ls->d[3], ac.n_base});
        float base[36];
        tgc_detm_base_anchors_of(&ac, l, base);
        for (int i = 0; i < 4 * ac.n_base; i++) da.base_anchors[i] = base[i];
        da.min_bbox_size = pc->min_bbox_size;
        for (int i = 0; i < 4; i++) da.target_means[i] = means[i], da.target_stds[i] = stds[i];
        da.clip_border = clip;
        int dec[2];
        if (d < 0 || emit(b, TGC_OP_ANCHOR_DECODE, &da, "proposals", 4, (int[]){top[1], d, top[0], img_shape}, dec) < 0)
            return -1;
        boxes_l[l] = dec[0], scores_l[l] = dec[1];
        if ((ids_l[l] = fill(b, tgc_shape2(batch, k), l)) < 0) return -1;
        total += k;
    }
    int boxes = tgc_detm_concat_all(b, boxes_l, n, 1), scores = boxes < 0 ? -1 : tgc_detm_concat_all(b, scores_l, n, 1);
    int ids = scores < 0 ? -1 : tgc_detm_concat_all(b, ids_l, n, 1);
    tgc_attrs ca = tgc_attrs_default();
    ca.dtype = TGC_I32;
    ids = ids < 0 ? -1 : tgc_b_op1(b, TGC_OP_CAST, &ca, ids);
    tgc_attrs na = tgc_attrs_default();
    na.k = pc->max_per_img, na.iou_threshold = pc->iou;
    int nms[2];
    if (ids < 0 || emit(b, TGC_OP_NMS_FIXED, &na, "proposals", 3, (int[]){boxes, scores, ids}, nms) < 0) return -1;
    tgc_attrs ga = tgc_attrs_default();
    ga.alpha = 0;
    res->proposals = emit1(b, TGC_OP_GATHER, &ga, "proposals", 2, (int[]){boxes, nms[0]});
    res->keep = nms[0], res->count = nms[1], res->candidates = total;
    return res->proposals < 0 ? -1 : 0;
}

/* ---- StandardRoIHead: SingleRoIExtractor + Shared2FCBBoxHead ------------------------------------------- */
typedef struct roi_extractor {
    int64_t out_size[2], sampling_ratio, n_levels, strides[TGC_DETM_MAX_LEVELS], channels;
    int aligned;
    double finest_scale;
} roi_extractor;

static int read_extractor(tgc_bctx *b, const tgc_cfg *rh, roi_extractor *ex) {
    const tgc_cfg *c, *rl;
    if (tgc_detm_want_map(b->err, rh, "bbox_roi_extractor", &c) < 0) return -1;
    if (!c) return tgc_b_fail_key(b->err, rh, "bbox_roi_extractor", "missing: StandardRoIHead needs a bbox_roi_extractor");
    static const char *const keys[] = {"roi_layer", "out_channels", "featmap_strides", "finest_scale", "init_cfg", NULL};
    static const char *const types[] = {"SingleRoIExtractor", NULL};
    const char *type;
    int n = 0;
    if (tgc_b_check_keys(b->err, c, "SingleRoIExtractor", keys) < 0 || tgc_b_choice(b->err, c, "type", "SingleRoIExtractor", types, &type) < 0 ||
        tgc_cfg_int(c, "out_channels", 256, &ex->channels, b->err) < 0 ||
        tgc_cfg_float(c, "finest_scale", 56, &ex->finest_scale, b->err) < 0 ||
        tgc_cfg_ints(c, "featmap_strides", ex->strides, TGC_DETM_MAX_LEVELS, &n, b->err) < 0 ||
        tgc_b_require_null(b->err, c, "init_cfg", "an init_cfg (the extractor has no parameters)") < 0 ||
        tgc_detm_want_map(b->err, c, "roi_layer", &rl) < 0)
        return -1;
    if (n < 1) return tgc_b_fail_key(b->err, c, "featmap_strides", "missing: one stride per RoI feature level");
    ex->n_levels = n;
    if (!(ex->finest_scale > 0) || isinf(ex->finest_scale)) return tgc_b_fail_key(b->err, c, "finest_scale", "must be positive");
    if (!rl) return tgc_b_fail_key(b->err, c, "roi_layer", "missing: {type: RoIAlign, output_size: 7, sampling_ratio: 0}");
    static const char *const rkeys[] = {"output_size", "sampling_ratio", "aligned", "pool_mode", "use_torchvision",
                                        "spatial_scale", NULL};
    static const char *const rtypes[] = {"RoIAlign", NULL}, *const modes[] = {"avg", NULL};
    const char *mode;
    int tv, present;
    if (tgc_b_check_keys(b->err, rl, "RoIAlign", rkeys) < 0 || tgc_b_choice(b->err, rl, "type", "RoIAlign", rtypes, &type) < 0 ||
        tgc_b_pair(b->err, rl, "output_size", &ex->out_size[0], &ex->out_size[1], &present) < 0 ||
        tgc_cfg_int(rl, "sampling_ratio", 0, &ex->sampling_ratio, b->err) < 0 || tgc_cfg_bool(rl, "aligned", 1, &ex->aligned, b->err) < 0 ||
        tgc_b_choice(b->err, rl, "pool_mode", "avg", modes, &mode) < 0 || tgc_cfg_bool(rl, "use_torchvision", 0, &tv, b->err) < 0 ||
        tgc_b_require_null(b->err, rl, "spatial_scale", "a spatial_scale (SingleRoIExtractor sets 1/stride per level)") < 0)
        return -1;
    if (!present) return tgc_b_fail_key(b->err, rl, "output_size", "missing: the RoI feature size");
    if (ex->out_size[0] < 1 || ex->out_size[1] < 1 || ex->out_size[0] > 64 || ex->out_size[1] > 64)
        return tgc_b_fail_key(b->err, rl, "output_size", "must be in 1..64");
    if (ex->sampling_ratio < 0 || ex->sampling_ratio > 64) return tgc_b_fail_key(b->err, rl, "sampling_ratio", "must be in 0..64");
    if (tv) return tgc_b_fail_key(b->err, rl, "use_torchvision", "only mmcv's RoIAlign is supported");
    return 0;
}

typedef struct bbox_head_cfg {
    int64_t in_channels, fc_out, roi_feat_size, num_classes;
    double means[4], stds[4], w_cls, w_box, beta; /* beta 0: L1Loss, else SmoothL1Loss's */
} bbox_head_cfg;

static int read_bbox_head(tgc_bctx *b, const tgc_cfg *rh, bbox_head_cfg *bh, const tgc_cfg **node) {
    const tgc_cfg *c;
    if (tgc_detm_want_map(b->err, rh, "bbox_head", &c) < 0) return -1;
    if (!c) return tgc_b_fail_key(b->err, rh, "bbox_head", "missing: StandardRoIHead needs a bbox_head");
    *node = c;
    static const char *const keys[] = {"in_channels", "fc_out_channels", "roi_feat_size", "num_classes", "bbox_coder",
                                       "reg_class_agnostic", "reg_decoded_bbox", "loss_cls", "loss_bbox", "init_cfg",
                                       "with_avg_pool", "with_cls", "with_reg", "conv_out_channels", "predict_box_type",
                                       NULL};
    static const char *const types[] = {"Shared2FCBBoxHead", NULL};
    const char *type;
    int agnostic, decoded, avg, wc, wr, clip;
    if (tgc_b_check_keys(b->err, c, "Shared2FCBBoxHead", keys) < 0 || tgc_b_choice(b->err, c, "type", "Shared2FCBBoxHead", types, &type) < 0 ||
        tgc_cfg_int(c, "in_channels", 256, &bh->in_channels, b->err) < 0 || tgc_cfg_int(c, "fc_out_channels", 1024, &bh->fc_out, b->err) < 0 ||
        tgc_cfg_int(c, "roi_feat_size", 7, &bh->roi_feat_size, b->err) < 0 || tgc_cfg_int(c, "num_classes", 80, &bh->num_classes, b->err) < 0 ||
        tgc_cfg_bool(c, "reg_class_agnostic", 0, &agnostic, b->err) < 0 || tgc_cfg_bool(c, "reg_decoded_bbox", 0, &decoded, b->err) < 0 ||
        tgc_cfg_bool(c, "with_avg_pool", 0, &avg, b->err) < 0 || tgc_cfg_bool(c, "with_cls", 1, &wc, b->err) < 0 ||
        tgc_cfg_bool(c, "with_reg", 1, &wr, b->err) < 0 ||
        tgc_b_require_null(b->err, c, "init_cfg", "a custom init_cfg (Xavier shared_fcs, Normal fc_cls/fc_reg)") < 0 ||
        tgc_b_require_null(b->err, c, "predict_box_type", "a predict_box_type") < 0 ||
        read_coder(b, c, "bbox_coder", bh->means, bh->stds, &clip) < 0 || read_ce(b, c, "loss_cls", 0, &bh->w_cls) < 0 ||
        read_box_loss(b, c, "loss_bbox", &bh->w_box, &bh->beta) < 0)
        return -1;
    if (!tgc_cfg_get(c, "num_classes")) return tgc_b_fail_key(b->err, c, "num_classes", "missing: Shared2FCBBoxHead needs num_classes");
    if (bh->num_classes < 1 || bh->num_classes > 100000) return tgc_b_fail_key(b->err, c, "num_classes", "must be in 1..100000");
    if (bh->fc_out < 1 || bh->fc_out > 65536) return tgc_b_fail_key(b->err, c, "fc_out_channels", "must be in 1..65536");
    if (agnostic) return tgc_b_fail_key(b->err, c, "reg_class_agnostic", "only class-specific regression (false) is supported");
    if (decoded) return tgc_b_fail_key(b->err, c, "reg_decoded_bbox", "losses on decoded boxes are not supported");
    if (avg || !wc || !wr) return tgc_cfg_fail(b->err, c, "with_avg_pool false, with_cls and with_reg true are required");
    return 0;
}

/* train_cfg.rcnn: MaxIoUAssigner and RandomSampler, as rcnn_targets takes them; then the sampled RoIs, their
 * labels (C for negatives, -1 for padding rows) and class-agnostic DeltaXYWH targets. */
static int rcnn_sample(tgc_bctx *b, const tgc_cfg *model, const tgc_cfg *rcnn_cfg, const rpn_result *rpn,
                       const bbox_head_cfg *bh, int *rois, int *labels, int *targets) {
    static const char *const keys[] = {"assigner", "sampler", "pos_weight", "debug", "mask_size", NULL};
    const tgc_cfg *as, *sm, *dp;
    double pos_weight;
    int debug;
    if (tgc_b_check_keys(b->err, rcnn_cfg, "train_cfg.rcnn", keys) < 0 || tgc_detm_want_map(b->err, rcnn_cfg, "assigner", &as) < 0 ||
        tgc_detm_want_map(b->err, rcnn_cfg, "sampler", &sm) < 0 || tgc_cfg_float(rcnn_cfg, "pos_weight", -1, &pos_weight, b->err) < 0 ||
        tgc_cfg_bool(rcnn_cfg, "debug", 0, &debug, b->err) < 0)
        return -1;
    if (pos_weight > 0 && pos_weight != 1)
        return tgc_b_fail_key(b->err, rcnn_cfg, "pos_weight", "only -1 (weight 1, MMDetection's default) is supported");
    if (!as) return tgc_b_fail_key(b->err, rcnn_cfg, "assigner", "missing: the RoI assigner (MaxIoUAssigner)");
    if (!sm) return tgc_b_fail_key(b->err, rcnn_cfg, "sampler", "missing: the RoI sampler (RandomSampler)");
    static const char *const akeys[] = {"pos_iou_thr", "neg_iou_thr", "min_pos_iou", "gt_max_assign_all", "ignore_iof_thr",
                                        "ignore_wrt_candidates", "match_low_quality", "gpu_assign_thr", "iou_calculator", NULL};
    static const char *const atypes[] = {"MaxIoUAssigner", NULL}, *const stypes[] = {"RandomSampler", NULL};
    const char *type;
    tgc_attrs a = tgc_attrs_default();
    double ignore_iof, neg_pos_ub;
    int all, lq, add_gt;
    int64_t num;
    if (tgc_b_check_keys(b->err, as, "MaxIoUAssigner", akeys) < 0 || tgc_b_choice(b->err, as, "type", "MaxIoUAssigner", atypes, &type) < 0 ||
        tgc_cfg_float(as, "pos_iou_thr", 0.5, &a.pos_iou_thr, b->err) < 0 ||
        tgc_cfg_float(as, "neg_iou_thr", 0.5, &a.neg_iou_thr, b->err) < 0 ||
        tgc_cfg_float(as, "min_pos_iou", 0, &a.min_pos_iou, b->err) < 0 || tgc_cfg_bool(as, "gt_max_assign_all", 1, &all, b->err) < 0 ||
        tgc_cfg_float(as, "ignore_iof_thr", -1, &ignore_iof, b->err) < 0 || tgc_cfg_bool(as, "match_low_quality", 1, &lq, b->err) < 0 ||
        tgc_b_require_null(b->err, as, "iou_calculator", "a custom iou_calculator") < 0)
        return -1;
    if (!tgc_cfg_get(as, "pos_iou_thr")) return tgc_b_fail_key(b->err, as, "pos_iou_thr", "missing: MaxIoUAssigner needs it");
    if (!tgc_cfg_get(as, "neg_iou_thr")) return tgc_b_fail_key(b->err, as, "neg_iou_thr", "missing: MaxIoUAssigner needs it");
    if (!all) return tgc_b_fail_key(b->err, as, "gt_max_assign_all", "only true (the default) is supported");
    if (ignore_iof > 0) return tgc_b_fail_key(b->err, as, "ignore_iof_thr", "ignored boxes are not supported (-1)");
    if (!(a.pos_iou_thr >= 0 && a.pos_iou_thr <= 1) || !(a.neg_iou_thr >= 0 && a.neg_iou_thr <= 1) || !(a.min_pos_iou >= 0 && a.min_pos_iou <= 1))
        return tgc_cfg_fail(b->err, as, "pos_iou_thr, neg_iou_thr and min_pos_iou must be in [0, 1]");
    static const char *const skeys[] = {"num", "pos_fraction", "neg_pos_ub", "add_gt_as_proposals", NULL};
    if (tgc_b_check_keys(b->err, sm, "RandomSampler", skeys) < 0 || tgc_b_choice(b->err, sm, "type", "RandomSampler", stypes, &type) < 0 ||
        tgc_cfg_int(sm, "num", 512, &num, b->err) < 0 || tgc_cfg_float(sm, "pos_fraction", 0.25, &a.pos_fraction, b->err) < 0 ||
        tgc_cfg_float(sm, "neg_pos_ub", -1, &neg_pos_ub, b->err) < 0 || tgc_cfg_bool(sm, "add_gt_as_proposals", 1, &add_gt, b->err) < 0)
        return -1;
    if (num < 1 || num > 65536) return tgc_b_fail_key(b->err, sm, "num", "must be in 1..65536");
    if (!(a.pos_fraction >= 0 && a.pos_fraction <= 1)) return tgc_b_fail_key(b->err, sm, "pos_fraction", "must be in [0, 1]");
    if (neg_pos_ub >= 0) return tgc_b_fail_key(b->err, sm, "neg_pos_ub", "only -1 (no bound on the negatives) is supported");
    a.k = num, a.match_low_quality = lq, a.add_gt_as_proposals = add_gt, a.num_classes = bh->num_classes;
    for (int i = 0; i < 4; i++) a.target_means[i] = bh->means[i], a.target_stds[i] = bh->stds[i];
    /* the padded ground truth: data_preprocessor.tgc_max_gts rows per image */
    int64_t G = 128;
    if (tgc_detm_want_map(b->err, model, "data_preprocessor", &dp) < 0 || (dp && tgc_cfg_int(dp, "tgc_max_gts", 128, &G, b->err) < 0))
        return -1;
    if (G < 1 || G > 65536) return tgc_b_fail_key(b->err, dp, "tgc_max_gts", "must be in 1..65536");
    const tgc_shape *ps = tgc_b_shape(b, rpn->proposals);
    int64_t batch = ps->d[0];
    tgc_shape gs = tgc_shape2(batch, G);
    gs.rank = 3, gs.d[2] = 4;
    int gb = tgc_graph_input(b->g, "data_samples.gt_bboxes", TGC_F32, gs);
    int gl = gb < 0 ? -1 : tgc_graph_input(b->g, "data_samples.gt_labels", TGC_I32, tgc_shape2(batch, G));
    int rng = gl < 0 ? -1 : tgc_graph_input(b->g, "data_samples.rng", TGC_I32, tgc_shape2(batch, 4));
    if (rng < 0) return tgc_fail(b->err, "internal error: cannot declare the ground-truth inputs");
    int out[3];
    if (emit(b, TGC_OP_RCNN_TARGETS, &a, "bbox_sampler", 5, (int[]){rpn->proposals, rpn->count, gb, gl, rng}, out) < 0) return -1;
    *rois = out[0], *labels = out[1], *targets = out[2];
    return 0;
}

/* feats: the neck's levels (the extractor's first n_levels). */
static int build_roi_head(tgc_bctx *b, const tgc_cfg *model, const tgc_cfg *node, const tgc_cfg *rcnn_train, const tgc_feats *in,
                          const rpn_result *rpn, int *out) {
    static const char *const keys[] = {"bbox_roi_extractor", "bbox_head", "mask_roi_extractor", "mask_head",
                                       "shared_head", "train_cfg", "test_cfg", "init_cfg", NULL};
    static const char *const types[] = {"StandardRoIHead", NULL};
    const char *type;
    if (tgc_b_check_keys(b->err, node, "StandardRoIHead", keys) < 0 || tgc_b_choice(b->err, node, "type", "StandardRoIHead", types, &type) < 0 ||
        tgc_b_require_null(b->err, node, "mask_roi_extractor", "a mask branch") < 0 ||
        tgc_b_require_null(b->err, node, "mask_head", "a mask branch") < 0 ||
        tgc_b_require_null(b->err, node, "shared_head", "a shared_head") < 0 ||
        tgc_b_require_null(b->err, node, "init_cfg", "an init_cfg") < 0)
        return -1;
    roi_extractor ex;
    bbox_head_cfg bh;
    const tgc_cfg *bhn = NULL;
    if (read_extractor(b, node, &ex) < 0 || read_bbox_head(b, node, &bh, &bhn) < 0) return -1;
    const tgc_cfg *exn = tgc_cfg_get(node, "bbox_roi_extractor");
    if (ex.n_levels > in->n)
        return tgc_b_fail_key(b->err, exn, "featmap_strides", "%lld strides but the neck has %d levels", (long long)ex.n_levels, in->n);
    char key[TGC_PREFIX_MAX + 64];
    snprintf(key, sizeof key, "%s.bbox_roi_extractor.featmap_strides", b->prefix);
    if (check_levels(b, exn, key, in->v, ex.strides, (int)ex.n_levels, ex.channels) < 0) return -1;
    if (bh.in_channels != ex.channels)
        return tgc_b_fail_key(b->err, bhn, "in_channels", "%lld, but the RoI extractor gives %lld channels",
                              (long long)bh.in_channels, (long long)ex.channels);
    if (bh.roi_feat_size != ex.out_size[0] || bh.roi_feat_size != ex.out_size[1])
        return tgc_b_fail_key(b->err, bhn, "roi_feat_size", "%lld, but the RoI layer's output_size is %lldx%lld",
                              (long long)bh.roi_feat_size, (long long)ex.out_size[0], (long long)ex.out_size[1]);
    const tgc_shape *ps = tgc_b_shape(b, rpn->proposals);
    int64_t batch = ps->d[0], per = ps->d[1], C = bh.num_classes;

    int rois = -1, labels = -1, targets = -1;
    if (b->training) {
        if (rcnn_sample(b, model, rcnn_train, rpn, &bh, &rois, &labels, &targets) < 0) return -1;
    } else { /* every proposal, as [b, x1, y1, x2, y2] rows */
        int col[64];
        if (batch > 64) return tgc_fail(b->err, "Faster R-CNN evaluation: batch %lld (at most 64)", (long long)batch);
        for (int i = 0; i < batch; i++)
            if ((col[i] = fill(b, tgc_shape_make(3, (int64_t[]){1, per, 1}), i)) < 0) return -1;
        int bi = tgc_detm_concat_all(b, col, (int)batch, 0);
        int r5 = bi < 0 ? -1 : tgc_detm_concat_all(b, (int[]){bi, rpn->proposals}, 2, 2);
        rois = reshape(b, r5, 2, (int64_t[]){batch * per, 5});
    }
    if (rois < 0) return -1;

    size_t saved = tgc_b_enter(b, "bbox_roi_extractor");
    int feats = -1;
    for (int l = 0; l < ex.n_levels; l++) {
        tgc_attrs ra = tgc_attrs_default();
        ra.output_size[0] = ex.out_size[0], ra.output_size[1] = ex.out_size[1];
        ra.spatial_scale = 1.0 / (double)ex.strides[l];
        ra.sampling_ratio = ex.sampling_ratio, ra.aligned = ex.aligned;
        ra.roi_level = l, ra.num_levels = ex.n_levels, ra.finest_scale = ex.finest_scale;
        int y = emit1(b, TGC_OP_ROI_ALIGN, &ra, "roi_layers", 2, (int[]){in->v[l], rois});
        feats = y < 0 ? -1 : l == 0 ? y : tgc_b_add(b, feats, y);
        if (feats < 0) break;
    }
    tgc_b_leave(b, saved);
    if (feats < 0) return -1;
    const tgc_shape *fs = tgc_b_shape(b, feats);
    int64_t nroi = fs->d[0];
    saved = tgc_b_enter(b, "bbox_head");
    int x = reshape(b, feats, 2, (int64_t[]){nroi, fs->d[1] * fs->d[2] * fs->d[3]});
    for (int i = 0; i < 2 && x >= 0; i++) {
        char name[32];
        snprintf(name, sizeof name, "shared_fcs.%d", i);
        x = tgc_b_linear(b, x, name, bh.fc_out, tgc_rule_xavier_uniform(1), tgc_rule_const(0));
        x = x < 0 ? -1 : tgc_b_op1(b, TGC_OP_RELU, NULL, x);
    }
    int cls = x < 0 ? -1 : tgc_b_linear(b, x, "fc_cls", C + 1, tgc_rule_normal(0, 0.01), tgc_rule_const(0));
    int reg = cls < 0 ? -1 : tgc_b_linear(b, x, "fc_reg", 4 * C, tgc_rule_normal(0, 0.001), tgc_rule_const(0));
    if (reg < 0) {
        tgc_b_leave(b, saved);
        return -1;
    }
    if (b->training) {
        tgc_attrs ca = tgc_attrs_default();
        ca.alpha = bh.w_cls;
        int lc = emit1(b, TGC_OP_SOFTMAX_CE_MASKED, &ca, "loss_cls", 2, (int[]){cls, labels});
        tgc_attrs ta = tgc_attrs_default();
        ta.num_classes = C;
        int ct[3];
        int rc = lc < 0 ? -1 : emit(b, TGC_OP_CLASS_BOX_TARGETS, &ta, "loss_bbox", 2, (int[]){labels, targets}, ct);
        tgc_attrs la = tgc_attrs_default();
        la.alpha = bh.w_box, la.beta = bh.beta; /* SmoothL1Loss's beta; 0: MMDetection's L1Loss */
        int lb = rc < 0 ? -1 : emit1(b, TGC_OP_SMOOTH_L1, &la, "loss_bbox", 4, (int[]){reg, ct[0], ct[1], ct[2]});
        /* BBoxHead.loss's terms in its dict order; acc (top-1 percent over the sampled RoIs) is logged, not summed */
        int acc = lb < 0 ? -1 : emit1(b, TGC_OP_ACCURACY_MASKED, NULL, "acc", 2, (int[]){cls, labels});
        *out = acc < 0 || tgc_b_log_output(b, "loss_cls", lc) < 0 || tgc_b_log_output(b, "acc", acc) < 0 ||
                       tgc_b_log_output(b, "loss_bbox", lb) < 0
                   ? -1
                   : lb;
    } else { /* det_out [B, P, 4 + 1 + (C + 1) + 4C] */
        tgc_attrs ga = tgc_attrs_default();
        ga.alpha = 0;
        int ones = fill(b, tgc_shape_make(3, (int64_t[]){batch, rpn->candidates, 1}), 1);
        int valid = ones < 0 ? -1 : emit1(b, TGC_OP_GATHER, &ga, "valid", 2, (int[]){ones, rpn->keep});
        int c3 = reshape(b, cls, 3, (int64_t[]){batch, per, C + 1}), r3 = reshape(b, reg, 3, (int64_t[]){batch, per, 4 * C});
        *out = valid < 0 || c3 < 0 || r3 < 0 ? -1 : tgc_detm_concat_all(b, (int[]){rpn->proposals, valid, c3, r3}, 4, 2);
    }
    tgc_b_leave(b, saved);
    return *out < 0 ? -1 : 0;
}

/* ---- the detector -------------------------------------------------------------------------------- */
int tgc_build_faster_rcnn(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out) {
    static const char *const keys[] = {"backbone", "neck", "rpn_head", "roi_head", "train_cfg", "test_cfg",
                                       "data_preprocessor", "init_cfg", NULL};
    if (tgc_b_check_keys(b->err, node, "FasterRCNN", keys) < 0 || tgc_b_init_cfg(b->err, node) < 0) return -1;
    const tgc_cfg *bb = tgc_cfg_get(node, "backbone"), *neck = tgc_cfg_get(node, "neck");
    const tgc_cfg *rpnh, *roih, *trc, *tec, *rcnn = NULL;
    if (tgc_detm_neutral(bb)) return tgc_b_fail_key(b->err, node, "backbone", "missing: FasterRCNN needs a backbone");
    if (tgc_detm_neutral(neck)) return tgc_b_fail_key(b->err, node, "neck", "missing: FasterRCNN needs a neck (FPN)");
    if (tgc_detm_want_map(b->err, node, "rpn_head", &rpnh) < 0 || tgc_detm_want_map(b->err, node, "roi_head", &roih) < 0 ||
        tgc_detm_want_map(b->err, node, "train_cfg", &trc) < 0 || tgc_detm_want_map(b->err, node, "test_cfg", &tec) < 0)
        return -1;
    if (!rpnh) return tgc_b_fail_key(b->err, node, "rpn_head", "missing: FasterRCNN needs an rpn_head");
    if (!roih) return tgc_b_fail_key(b->err, node, "roi_head", "missing: FasterRCNN needs a roi_head");
    const tgc_cfg *cfgs = b->training ? trc : tec;
    if (!cfgs) return tgc_b_fail_key(b->err, node, b->training ? "train_cfg" : "test_cfg", "missing: the proposal settings");
    proposal_cfg pc;
    if (read_proposal_cfg(b, cfgs, b->training ? "rpn_proposal" : "rpn", &pc) < 0) return -1;
    if (b->training && tgc_detm_want_map(b->err, trc, "rcnn", &rcnn) < 0) return -1;
    if (b->training && !rcnn) return tgc_b_fail_key(b->err, trc, "rcnn", "missing: the RoI sampler's settings");
    /* train_cfg.rpn (anchor assignment and sampling) and test_cfg.rcnn (post-processing) are the host's */
    tgc_feats f, g;
    if (tgc_registry_build(b, TGC_PART_BACKBONE, bb, "backbone", in, &f) < 0 ||
        tgc_registry_build(b, TGC_PART_NECK, neck, "neck", &f, &g) < 0)
        return -1;
    int64_t batch = tgc_b_shape(b, in->v[0])->d[0];
    int img_shape = tgc_graph_input(b->g, "data_samples.img_shape", TGC_F32, tgc_shape2(batch, 2));
    if (img_shape < 0) return tgc_fail(b->err, "internal error: cannot declare data_samples.img_shape");
    rpn_result rpn;
    size_t saved = tgc_b_enter(b, "rpn_head");
    int rc = build_rpn(b, rpnh, &g, &pc, img_shape, &rpn);
    tgc_b_leave(b, saved);
    if (rc < 0) return -1;
    int y;
    saved = tgc_b_enter(b, "roi_head");
    rc = build_roi_head(b, node, roih, rcnn, &g, &rpn, &y);
    tgc_b_leave(b, saved);
    if (rc < 0) return -1;
    /* training: the loss is the sum of the registered terms, loss_rpn_cls + loss_rpn_bbox + loss_cls + loss_bbox */
    if (b->training && (y = tgc_b_loss_sum(b)) < 0) return -1;
    out->n = 1;
    out->v[0] = y;
    return 0;
}
