/* frontend/models/det_common.h - what the detectors' builders share (frontend/models/retinanet.c,
 * frontend/models/faster_rcnn.c): optional config maps and number lists, convolutions declared once and
 * applied per level, a dense head's per-level layout, and MMDetection's AnchorGenerator (its config and
 * base anchors, computed in float as runtime/det/det_anchors.c computes them for the host's targets). */
#ifndef TGC_FRONTEND_MODELS_DET_COMMON_H
#define TGC_FRONTEND_MODELS_DET_COMMON_H

#include "frontend/build.h"

#define TGC_DETM_MAX_LEVELS 8

/* Absent or null. */
int tgc_detm_neutral(const tgc_cfg *c);
/* parent.key as a map, NULL when absent or null; an error when it is something else. */
int tgc_detm_want_map(tgc_err *err, const tgc_cfg *parent, const char *key, const tgc_cfg **out);
/* A list of numbers (ints or floats), at most max; *n = 0 when absent. */
int tgc_detm_read_numbers(tgc_err *err, const tgc_cfg *map, const char *key, double *out, int max, int *n);

/* A conv's state (weight [out, in, k, k] and its bias) declared once in the current prefix + name, applied
 * with tgc_detm_apply_conv as many times as needed (the dense heads share their convs over the levels). */
typedef struct tgc_detm_conv {
    int w, bias;
    int64_t k;
} tgc_detm_conv;

int tgc_detm_declare_conv(tgc_bctx *b, const char *name, int64_t cin, int64_t cout, int64_t k, tgc_init_rule wr,
                         tgc_init_rule br, tgc_detm_conv *cs);
/* conv (padding k / 2) + bias, the ops scoped `scope`. */
int tgc_detm_apply_conv(tgc_bctx *b, int x, const tgc_detm_conv *cs, int64_t stride, const char *scope);
/* y [B, A*k, H, W] -> [B, H*W*A, k] (permute(0, 2, 3, 1).reshape(B, -1, k)). */
int tgc_detm_level_rows(tgc_bctx *b, int y, int64_t k);
/* concat(v[0], concat(v[1], ...)) along `axis`. */
int tgc_detm_concat_all(tgc_bctx *b, const int *v, int n, int64_t axis);

/* head.anchor_generator (AnchorGenerator): the keys MMDetection reads. */
typedef struct tgc_detm_anchor_cfg {
    int n_base;                 /* base anchors per cell: ratios x scales */
    int n_strides;
    int64_t strides[TGC_DETM_MAX_LEVELS];
    int n_ratios, n_scales, n_base_sizes, scale_major;
    float ratios[16], scales[16], base_sizes[TGC_DETM_MAX_LEVELS], center_offset;
} tgc_detm_anchor_cfg;

int tgc_detm_read_anchor_generator(tgc_bctx *b, const tgc_cfg *head, tgc_detm_anchor_cfg *ac);
/* Level l's base anchors, out[4 * k .. 4 * k + 3] = x1, y1, x2, y2 of base anchor k (ratio-major when
 * scale_major), in float as MMDetection's AnchorGenerator.gen_single_level_base_anchors. */
void tgc_detm_base_anchors_of(const tgc_detm_anchor_cfg *ac, int level, float *out);

#endif
