/* runtime/det/det.h - detection on the host: boxes, anchors, MaxIoU assignment, RetinaNet targets, NMS and
 * RetinaNet post-processing, RPN targets, R-CNN post-processing, with MMDetection 3.x's conventions and defaults.
 *
 * Boxes are float arrays of n rows (x1, y1, x2, y2) in pixels, no +1 anywhere. Nothing here keeps state
 * between calls or touches a global: every function may run in several data-loader threads at once. Scratch
 * memory is allocated per call and freed before returning.
 *
 * Anchor order (A = all anchors of a canvas): levels in order; within a level row-major over the cells
 * (y, x); within a cell the base anchors ratio-major then scale (scale_major true, the default). This is the
 * order of a head output permuted to (B, H, W, C) and flattened, concatenated over levels.
 */
#ifndef TGC_RUNTIME_DET_H
#define TGC_RUNTIME_DET_H

#include <stdint.h>

#include "common/philox.h"
#include "common/util.h"
#include "frontend/cfg.h"

#define TGC_DET_MAX_LEVELS 8
#define TGC_DET_MAX_RATIOS 8
#define TGC_DET_MAX_SCALES 8

/* ---- boxes (det_boxes.c) ---- */

typedef enum tgc_det_overlap_mode {
    TGC_DET_IOU, /* intersection / max(area(a) + area(b) - intersection, 1e-6) */
    TGC_DET_IOF, /* intersection / max(area(a), 1e-6): "intersection over foreground", a's area */
} tgc_det_overlap_mode;

/* out[i * m + j] = overlap of a[i] and b[j] (MMDetection's bbox_overlaps, float32). */
void tgc_det_overlaps(const float *a, int64_t n, const float *b, int64_t m, tgc_det_overlap_mode mode, float *out);
/* The IoU of two boxes, exactly as tgc_det_overlaps computes it. */
float tgc_det_iou(const float *a, const float *b);

/* DeltaXYWHBBoxCoder. */
typedef struct tgc_det_coder_cfg {
    float means[4];       /* target_means, default 0 */
    float stds[4];        /* target_stds, default 1 */
    double wh_ratio_clip; /* 16/1000: dw, dh clamped to +-|log(wh_ratio_clip)| on decode */
    int clip_border;      /* 1: decoded boxes clipped to max_shape when one is given */
    int add_ctr_clamp;    /* 0; 1: the centre shift (pw * dx) clamped to +-ctr_clamp and dw, dh only above */
    double ctr_clamp;     /* 32 */
} tgc_det_coder_cfg;

void tgc_det_coder_cfg_default(tgc_det_coder_cfg *c);
/* deltas[i] = encode(priors[i] -> gts[i]): ((gx - px) / pw, (gy - py) / ph, log(gw / pw), log(gh / ph)),
 * then (d - mean) / std. */
void tgc_det_delta_encode(const tgc_det_coder_cfg *c, const float *priors, const float *gts, int64_t n, float *deltas);
/* boxes[i] = decode(priors[i], deltas[i]); max_hw (h, w) or NULL: with clip_border, x clipped to [0, w] and y
 * to [0, h]. boxes may alias deltas. */
void tgc_det_delta_decode(const tgc_det_coder_cfg *c, const float *priors, const float *deltas, int64_t n,
                          const float *max_hw, float *boxes);

/* ---- anchors (det_anchors.c) ---- */

/* AnchorGenerator. Either scales (num_scales > 0) or octave_base_scale * 2^(i / scales_per_octave). */
typedef struct tgc_det_anchor_cfg {
    int num_levels;
    int strides[TGC_DET_MAX_LEVELS][2]; /* (w, h); a config's single number s is (s, s) */
    int num_ratios;
    float ratios[TGC_DET_MAX_RATIOS]; /* h / w */
    int num_scales;                   /* 0: from the octave pair */
    float scales[TGC_DET_MAX_SCALES];
    double octave_base_scale;
    int scales_per_octave;
    int has_base_sizes;                        /* 0: base size = min(stride w, stride h) */
    float base_sizes[TGC_DET_MAX_LEVELS];
    float center_offset;                       /* 0: base anchors centred on the cell's top-left corner */
    int scale_major;                           /* 1 (default): ratio-major then scale within a cell */
} tgc_det_anchor_cfg;

/* RetinaNet's (octave_base_scale 4, 3 scales per octave, ratios 0.5 1 2, strides 8..128) and Faster R-CNN
 * RPN's (scales [8], ratios 0.5 1 2, strides 4..64) generators. */
void tgc_det_anchor_cfg_retinanet(tgc_det_anchor_cfg *c);
void tgc_det_anchor_cfg_rpn(tgc_det_anchor_cfg *c);
/* Checks counts and values; an error names the field. */
int tgc_det_anchor_cfg_check(const tgc_det_anchor_cfg *c, tgc_err *err);
/* Base anchors per cell (num_ratios * scales) and the level's base anchors: out[k * 4], centred at the offset. */
int tgc_det_num_base_anchors(const tgc_det_anchor_cfg *c);
void tgc_det_base_anchors(const tgc_det_anchor_cfg *c, int level, float *out);

/* All anchors of a canvas. */
typedef struct tgc_det_anchors {
    int num_levels;
    int num_base;                            /* anchors per cell */
    int strides[TGC_DET_MAX_LEVELS][2];      /* (w, h) */
    int feat_hw[TGC_DET_MAX_LEVELS][2];      /* level sizes (h, w) */
    int64_t level_start[TGC_DET_MAX_LEVELS + 1]; /* first anchor of each level; level_start[num_levels] = count */
    int64_t count;
    float *boxes;                            /* [count][4], owned */
} tgc_det_anchors;

/* Level sizes of a canvas: ceil(H / stride_h) x ceil(W / stride_w) (the stride-2 3x3 convs and the 1x1/s2
 * pool of the FPN's extra levels round up). */
void tgc_det_featmap_sizes(const tgc_det_anchor_cfg *c, int canvas_h, int canvas_w, int feat_hw[][2]);
int64_t tgc_det_anchor_count(const tgc_det_anchor_cfg *c, int canvas_h, int canvas_w);
/* Anchors for explicit level sizes (feat_hw[l] = (h, w)), or for a canvas. 0, or -1 + err on a bad config. */
int tgc_det_anchors_make(const tgc_det_anchor_cfg *c, const int feat_hw[][2], tgc_det_anchors *out, tgc_err *err);
int tgc_det_anchors_for_canvas(const tgc_det_anchor_cfg *c, int canvas_h, int canvas_w, tgc_det_anchors *out,
                               tgc_err *err);
void tgc_det_anchors_free(tgc_det_anchors *a);
/* valid[i] = 1 when anchor i's cell lies inside min(ceil(pad_h / stride_h), level h) x min(ceil(pad_w /
 * stride_w), level w) (an image's own pad_shape), else 0. Returns the number of valid anchors. */
int64_t tgc_det_valid_flags(const tgc_det_anchors *a, int pad_h, int pad_w, uint8_t *valid);

/* ---- MaxIoUAssigner (det_assign.c) ---- */

typedef struct tgc_det_assigner_cfg {
    float pos_iou_thr;
    float neg_iou_lo, neg_iou_hi; /* negative: lo <= max IoU < hi; a number t means [0, t) */
    float min_pos_iou;            /* 0 */
    int gt_max_assign_all;        /* 1 */
    float ignore_iof_thr;         /* -1: off */
    int ignore_wrt_candidates;    /* 1: IoF over the prior's area */
    int match_low_quality;        /* 1 */
} tgc_det_assigner_cfg;

/* MMDetection's defaults with the given pos and neg thresholds (neg [0, neg_iou_thr)). */
void tgc_det_assigner_cfg_default(tgc_det_assigner_cfg *c, float pos_iou_thr, float neg_iou_thr);

/* One image's ground truth. */
typedef struct tgc_det_gt {
    const float *boxes;    /* [n][4] */
    const int32_t *labels; /* [n], 0..C-1 (the assigner alone does not read them; may be NULL there) */
    const uint8_t *valid;  /* [n] or NULL: 0 marks a padding slot, which takes part in nothing */
    int n;
    const float *ignored;  /* [n_ignored][4] (iscrowd boxes); used when ignore_iof_thr > 0 */
    int n_ignored;
} tgc_det_gt;

/* gt_inds[i] for each prior: -1 ignore, 0 negative, k >= 1 the gt k-1 (MMDetection's convention). Priors with
 * valid[i] == 0 (valid NULL: all valid) stay -1 and take no part in any maximum. With no valid gt, every valid
 * prior is negative (as MMDetection, also those an ignored box covers). The low-quality pass needs a gt's best
 * IoU to be > 0 as well as >= min_pos_iou (with min_pos_iou 0 a gt overlapping no valid prior would otherwise
 * claim every prior). max_overlaps (NULL or [n_priors]) receives each prior's best IoU (-1 when ignored by an
 * ignored box, 0 when invalid). Returns the number of positives. */
int64_t tgc_det_max_iou_assign(const tgc_det_assigner_cfg *c, const float *priors, const uint8_t *valid,
                               int64_t n_priors, const tgc_det_gt *gt, int32_t *gt_inds, float *max_overlaps);

/* ---- RetinaNet targets (det_retina.c) ---- */

/* One image: cls_target[i] = the gt's class for a positive, num_classes for a negative, -1 ignored (invalid
 * anchors included); bbox_target[i] = encode(anchor, its gt) for a positive, 0 elsewhere. *num_pos gets the
 * positives. -1 + err when a valid gt's label is outside 0..num_classes-1. */
int tgc_det_retina_targets(const tgc_det_assigner_cfg *ac, const tgc_det_coder_cfg *cc, int num_classes,
                           const float *anchors, const uint8_t *valid, int64_t n_anchors, const tgc_det_gt *gt,
                           int32_t *cls_target, float *bbox_target, int64_t *num_pos, tgc_err *err);

/* ---- RPN targets (det_rpn.c) ---- */

/* RandomSampler. */
typedef struct tgc_det_sampler_cfg {
    int num;                 /* samples per image */
    double pos_fraction;     /* at most int(num * pos_fraction) positives */
    int neg_pos_ub;          /* -1: no bound; else at most int(neg_pos_ub * max(positives, 1)) negatives */
    int add_gt_as_proposals; /* 1 (MMDetection's default); the RPN's anchors need 0 */
} tgc_det_sampler_cfg;

void tgc_det_sampler_cfg_default(tgc_det_sampler_cfg *c, int num, double pos_fraction);

/* One image's RPN targets: the assigner over the anchors (valid: their flags, or NULL), then RandomSampler
 * with draws from rng (the caller keys it by seed, epoch and dataset position): cls_target[i] = 0 for a
 * sampled positive, 1 for a sampled negative, -1 otherwise; bbox_target[i] = encode(anchor, its gt) for a
 * sampled positive, 0 elsewhere. *num_pos, *num_neg: the sampled counts (their sum is the image's share of
 * MMDetection's avg_factor). The gt labels are not read (the RPN has one class). */
int tgc_det_rpn_targets(const tgc_det_assigner_cfg *ac, const tgc_det_sampler_cfg *sc, const tgc_det_coder_cfg *cc,
                        const float *anchors, const uint8_t *valid, int64_t n_anchors, const tgc_det_gt *gt,
                        tgc_rng *rng, int32_t *cls_target, float *bbox_target, int64_t *num_pos, int64_t *num_neg,
                        tgc_err *err);

/* ---- NMS (det_nms.c) ---- */

/* Greedy NMS as mmcv's nms: boxes by descending score (ties: lower index first), a box is dropped when its
 * IoU (inter / (area_i + area_j - inter), no clamp) with a kept box is > iou_thr. keep[] gets the kept indices
 * in that order; at most max_out (<= 0: no limit). Returns the count. keep holds n entries. */
int tgc_det_nms(const float *boxes, const float *scores, int n, float iou_thr, int max_out, int *keep);
/* NMS within each class id (idxs), the kept boxes of all classes by descending score, at most max_out. Runs
 * class by class: the same boxes as mmcv's batched_nms (which offsets each class's boxes instead) up to its
 * rounding. */
int tgc_det_batched_nms(const float *boxes, const float *scores, const int32_t *idxs, int n, float iou_thr,
                        int max_out, int *keep);

/* ---- RetinaNet post-processing (det_retina.c) ---- */

/* The head's test_cfg. */
typedef struct tgc_det_test_cfg {
    int nms_pre;         /* 1000: per level, the best (anchor, class) pairs kept; <= 0: all */
    float score_thr;     /* 0.05: pairs with sigmoid score > score_thr */
    float min_bbox_size; /* 0: boxes with w or h <= it dropped after rescaling; < 0: off */
    float nms_iou;       /* 0.5 (nms.iou_threshold) */
    int max_per_img;     /* 100 */
} tgc_det_test_cfg;

void tgc_det_test_cfg_default(tgc_det_test_cfg *c);

/* One image's eval outputs in anchor order: logits of anchor a at cls + a * cls_stride (C values), deltas at
 * bbox + a * bbox_stride (4 values); strides C and 4 for separate outputs, C + 4 for one concatenated output. */
typedef struct tgc_det_head_out {
    const float *cls;
    int64_t cls_stride;
    const float *bbox;
    int64_t bbox_stride;
} tgc_det_head_out;

/* Detections of one image, in the original image's pixels; arrays of cap = max_per_img entries, owned. */
typedef struct tgc_det_result {
    int n;
    float *boxes; /* [n][4] */
    float *scores;
    int32_t *labels;
} tgc_det_result;

/* MMDetection's RetinaHead predict for one image: per level sigmoid, score > score_thr, top nms_pre pairs;
 * decode against the anchors clipped to img_hw (the resized image's h, w); boxes times 1/scale_factor
 * (scale_factor = (w_scale, h_scale)); min_bbox_size filter; class-wise NMS; the best max_per_img.
 * res is filled (free it with tgc_det_result_free). -1 + err on a bad config. */
int tgc_det_retina_predict(const tgc_det_test_cfg *tc, const tgc_det_coder_cfg *cc, const tgc_det_anchors *anchors,
                           int num_classes, const tgc_det_head_out *out, const float img_hw[2],
                           const float scale_factor[2], tgc_det_result *res, tgc_err *err);
void tgc_det_result_free(tgc_det_result *r);
/* The heads' last step: class-wise NMS (nms_iou, max_per_img) of m decoded candidates, the kept ones copied
 * into res in keep order. The inputs stay the caller's. */
void tgc_det_nms_result(const tgc_det_test_cfg *tc, const float *boxes, const float *scores, const int32_t *labels, int m,
                        tgc_det_result *res);

/* ---- Faster R-CNN post-processing (det_frcnn.c) ---- */

/* Floats per proposal row of a two-stage detector's det_out: box (x1, y1, x2, y2 on the canvas), valid flag
 * (1 a proposal, 0 padding), C + 1 class logits (background last), 4C class-specific deltas (class-major). */
#define TGC_DET_RCNN_ROW(C) (4 + 1 + ((int64_t)(C) + 1) + 4 * (int64_t)(C))

/* MMDetection's BBoxHead.predict_by_feat for one image with rescale: softmax over the C + 1 logits of each
 * valid row; every (row, class) pair with score > score_thr (row-major) decodes its class's deltas against the
 * row's box (cc: the bbox head's coder, e.g. stds 0.1 0.1 0.2 0.2), clipped to img_hw, then times
 * 1/scale_factor; class-wise NMS (nms_iou) keeps the best max_per_img (multiclass_nms). tc's nms_pre and
 * min_bbox_size are not used. res as tgc_det_retina_predict's. */
int tgc_det_rcnn_predict(const tgc_det_test_cfg *tc, const tgc_det_coder_cfg *cc, int num_classes, const float *rows,
                         int64_t n_rows, int64_t row_stride, const float img_hw[2], const float scale_factor[2],
                         tgc_det_result *res, tgc_err *err);

/* ---- from configs (det_cfg.c) ---- */

/* Each fills its struct from a config map (anchor_generator, bbox_coder, assigner, test_cfg dicts), starting
 * from MMDetection's defaults. type must name the class this implements; an unknown or unsupported key or a
 * wrong value is an error naming the key path. The assigner reads neg_iou_thr as a number or a [lo, hi] pair;
 * test_cfg reads nms.iou_threshold (or the 2.0-era nms.iou_thr). */
int tgc_det_anchor_cfg_from(const tgc_cfg *node, tgc_det_anchor_cfg *c, tgc_err *err);
int tgc_det_coder_cfg_from(const tgc_cfg *node, tgc_det_coder_cfg *c, tgc_err *err);
int tgc_det_assigner_cfg_from(const tgc_cfg *node, tgc_det_assigner_cfg *c, tgc_err *err);
int tgc_det_test_cfg_from(const tgc_cfg *node, tgc_det_test_cfg *c, tgc_err *err);
/* RandomSampler (num and pos_fraction required; neg_pos_ub, add_gt_as_proposals). */
int tgc_det_sampler_cfg_from(const tgc_cfg *node, tgc_det_sampler_cfg *c, tgc_err *err);

#endif
