/* runtime/det/det_assign.c - MMDetection's MaxIoUAssigner on one image, without the [gts x priors] matrix:
 * one pass keeps each prior's best IoU and gt and each gt's best IoU; the low-quality pass recomputes the IoUs
 * it compares (the same function, so the same bits). */
#include <stdlib.h>

#include "runtime/det/det.h"

void tgc_det_assigner_cfg_default(tgc_det_assigner_cfg *c, float pos_iou_thr, float neg_iou_thr) {
    *c = (tgc_det_assigner_cfg){.pos_iou_thr = pos_iou_thr,
                                .neg_iou_lo = 0,
                                .neg_iou_hi = neg_iou_thr,
                                .min_pos_iou = 0,
                                .gt_max_assign_all = 1,
                                .ignore_iof_thr = -1,
                                .ignore_wrt_candidates = 1,
                                .match_low_quality = 1};
}

/* tgc_det_iou, skipping the arithmetic for boxes that do not touch (their IoU is exactly 0 either way). */
static float iou(const float *p, const float *g) {
    if (p[2] <= g[0] || g[2] <= p[0] || p[3] <= g[1] || g[3] <= p[1]) return 0;
    return tgc_det_iou(p, g);
}

/* The largest IoF of prior p with the ignored boxes (over p's area, or over each ignored box's). */
static float ignore_max_iof(const tgc_det_assigner_cfg *c, const float *p, const tgc_det_gt *gt) {
    float best = -1;
    for (int j = 0; j < gt->n_ignored; j++) {
        float v;
        if (c->ignore_wrt_candidates)
            tgc_det_overlaps(p, 1, gt->ignored + 4 * j, 1, TGC_DET_IOF, &v);
        else
            tgc_det_overlaps(gt->ignored + 4 * j, 1, p, 1, TGC_DET_IOF, &v);
        if (v > best) best = v;
    }
    return best;
}

int64_t tgc_det_max_iou_assign(const tgc_det_assigner_cfg *c, const float *priors, const uint8_t *valid,
                               int64_t n_priors, const tgc_det_gt *gt, int32_t *gt_inds, float *max_overlaps) {
    int ng = 0;
    for (int g = 0; g < gt->n; g++) ng += !gt->valid || gt->valid[g];
    float *max_ov = max_overlaps ? max_overlaps : tgc_malloc(sizeof(float) * (size_t)(n_priors > 0 ? n_priors : 1));
    for (int64_t i = 0; i < n_priors; i++) {
        gt_inds[i] = valid && !valid[i] ? -1 : 0;
        max_ov[i] = 0;
    }
    if (ng == 0 || n_priors == 0) { /* no truth: every (valid) prior is background */
        if (!max_overlaps) free(max_ov);
        return 0;
    }
    int *gidx = tgc_malloc(sizeof(int) * (size_t)ng); /* the valid gts, in order */
    for (int g = 0, k = 0; g < gt->n; g++)
        if (!gt->valid || gt->valid[g]) gidx[k++] = g;
    float *gt_max = tgc_malloc(sizeof(float) * (size_t)ng);
    int64_t *gt_arg = tgc_malloc(sizeof(int64_t) * (size_t)ng);
    for (int k = 0; k < ng; k++) gt_max[k] = -1, gt_arg[k] = -1;
    int32_t *arg = tgc_malloc(sizeof(int32_t) * (size_t)n_priors);
    int use_ignore = c->ignore_iof_thr > 0 && gt->ignored && gt->n_ignored > 0;
    uint8_t *ign = use_ignore ? tgc_calloc((size_t)n_priors, 1) : NULL;

    for (int64_t i = 0; i < n_priors; i++) {
        arg[i] = -1;
        if (valid && !valid[i]) continue;
        const float *p = priors + 4 * i;
        if (use_ignore && ignore_max_iof(c, p, gt) > c->ignore_iof_thr) {
            ign[i] = 1;
            max_ov[i] = -1; /* its IoU with every gt counts as -1: neither negative nor positive */
            arg[i] = 0;
            for (int k = 0; k < ng; k++)
                if (-1 > gt_max[k]) gt_max[k] = -1, gt_arg[k] = i;
            continue;
        }
        float best = -1;
        int barg = -1;
        for (int k = 0; k < ng; k++) {
            float v = iou(p, gt->boxes + 4 * gidx[k]);
            if (v > best || barg < 0) best = v, barg = k;
            if (v > gt_max[k] || gt_arg[k] < 0) gt_max[k] = v, gt_arg[k] = i;
        }
        max_ov[i] = best;
        arg[i] = barg;
    }

    for (int64_t i = 0; i < n_priors; i++) {
        if (valid && !valid[i]) continue;
        int32_t a = -1;
        if (max_ov[i] >= c->neg_iou_lo && max_ov[i] < c->neg_iou_hi) a = 0;
        if (max_ov[i] >= c->pos_iou_thr) a = (int32_t)gidx[arg[i]] + 1;
        gt_inds[i] = a;
    }

    if (c->match_low_quality) {
        /* gts eligible for the low-quality pass, by index k into gidx; a later gt overwrites an earlier one */
        int *q = tgc_malloc(sizeof(int) * (size_t)ng);
        int nq = 0;
        for (int k = 0; k < ng; k++)
            if (gt_max[k] >= c->min_pos_iou && gt_max[k] > 0) q[nq++] = k;
        if (nq > 0 && c->gt_max_assign_all) {
            for (int64_t i = 0; i < n_priors; i++) {
                if ((valid && !valid[i]) || (ign && ign[i])) continue;
                const float *p = priors + 4 * i;
                for (int t = nq - 1; t >= 0; t--) {
                    int k = q[t];
                    if (iou(p, gt->boxes + 4 * gidx[k]) == gt_max[k]) {
                        gt_inds[i] = (int32_t)gidx[k] + 1;
                        break;
                    }
                }
            }
        } else {
            for (int t = 0; t < nq; t++) gt_inds[gt_arg[q[t]]] = (int32_t)gidx[q[t]] + 1;
        }
        free(q);
    }

    int64_t npos = 0;
    for (int64_t i = 0; i < n_priors; i++) npos += gt_inds[i] > 0;
    free(ign);
    free(arg);
    free(gt_arg);
    free(gt_max);
    free(gidx);
    if (!max_overlaps) free(max_ov);
    return npos;
}
