/* runtime/det/det_rpn.c - the RPN's training targets on one image: MaxIoUAssigner over the valid anchors, then
 * MMDetection's RandomSampler (a uniform draw without replacement of the positives, up to int(num *
 * pos_fraction), and of the negatives, up to num minus the positives taken), its draws from the caller's
 * keyed cursor so that they depend only on (seed, epoch, dataset position). */
#include <stdlib.h>
#include <string.h>

#include "runtime/det/det.h"

void tgc_det_sampler_cfg_default(tgc_det_sampler_cfg *c, int num, double pos_fraction) {
    *c = (tgc_det_sampler_cfg){.num = num, .pos_fraction = pos_fraction, .neg_pos_ub = -1, .add_gt_as_proposals = 1};
}

/* The first k of idx[0..n) become a uniform draw without replacement (partial Fisher-Yates), k <= n. */
static void draw(int32_t *idx, int64_t n, int64_t k, tgc_rng *rng) {
    for (int64_t i = 0; i < k; i++) {
        int64_t j = i + (int64_t)tgc_rng_below(rng, (uint32_t)(n - i));
        int32_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

int tgc_det_rpn_targets(const tgc_det_assigner_cfg *ac, const tgc_det_sampler_cfg *sc, const tgc_det_coder_cfg *cc,
                        const float *anchors, const uint8_t *valid, int64_t n_anchors, const tgc_det_gt *gt,
                        tgc_rng *rng, int32_t *cls_target, float *bbox_target, int64_t *num_pos, int64_t *num_neg,
                        tgc_err *err) {
    *num_pos = *num_neg = 0;
    if (sc->num < 1 || !(sc->pos_fraction >= 0 && sc->pos_fraction <= 1))
        return tgc_fail(err, "rpn targets: sampler num %d or pos_fraction %g out of range", sc->num, sc->pos_fraction);
    if (n_anchors > INT32_MAX) return tgc_fail(err, "rpn targets: %lld anchors (at most 2^31-1)", (long long)n_anchors);
    tgc_det_max_iou_assign(ac, anchors, valid, n_anchors, gt, cls_target, NULL);
    size_t cap = (size_t)(n_anchors ? n_anchors : 1);
    int32_t *pos = tgc_malloc(sizeof(int32_t) * cap), *neg = tgc_malloc(sizeof(int32_t) * cap);
    int64_t np = 0, nn = 0;
    for (int64_t i = 0; i < n_anchors; i++) {
        if (cls_target[i] > 0) pos[np++] = (int32_t)i;
        else if (cls_target[i] == 0) neg[nn++] = (int32_t)i;
    }
    /* RandomSampler._sample_pos / _sample_neg: everything when there are few enough, else a random choice */
    int64_t kp = TGC_MIN(np, (int64_t)((double)sc->num * sc->pos_fraction));
    int64_t kn = TGC_MIN(nn, (int64_t)sc->num - kp);
    if (sc->neg_pos_ub >= 0) kn = TGC_MIN(kn, (int64_t)((double)sc->neg_pos_ub * (double)TGC_MAX(kp, (int64_t)1)));
    draw(pos, np, kp, rng);
    draw(neg, nn, kn, rng);
    /* gt index of each sampled positive, before cls_target is overwritten */
    int32_t *gi = tgc_malloc(sizeof(int32_t) * (size_t)(kp ? kp : 1));
    for (int64_t k = 0; k < kp; k++) gi[k] = cls_target[pos[k]] - 1;
    for (int64_t i = 0; i < n_anchors; i++) cls_target[i] = -1;
    memset(bbox_target, 0, sizeof(float) * 4 * (size_t)n_anchors);
    for (int64_t k = 0; k < kp; k++) {
        cls_target[pos[k]] = 0;
        tgc_det_delta_encode(cc, anchors + 4 * (int64_t)pos[k], gt->boxes + 4 * gi[k], 1, bbox_target + 4 * (int64_t)pos[k]);
    }
    for (int64_t k = 0; k < kn; k++) cls_target[neg[k]] = 1;
    free(gi);
    free(pos);
    free(neg);
    *num_pos = kp;
    *num_neg = kn;
    return 0;
}
