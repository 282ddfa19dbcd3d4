/* runtime/det/det_retina.c - RetinaNet on the host: one image's dense training targets (cls_target,
 * bbox_target) and its test-time post-processing (MMDetection's RetinaHead.predict_by_feat for one image). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/det/det.h"

int tgc_det_retina_targets(const tgc_det_assigner_cfg *ac, const tgc_det_coder_cfg *cc, int num_classes,
                           const float *anchors, const uint8_t *valid, int64_t n_anchors, const tgc_det_gt *gt,
                           int32_t *cls_target, float *bbox_target, int64_t *num_pos, tgc_err *err) {
    *num_pos = 0;
    if (num_classes < 1) return tgc_fail(err, "retina targets: num_classes %d is not positive", num_classes);
    for (int g = 0; g < gt->n; g++) {
        if (gt->valid && !gt->valid[g]) continue;
        if (!gt->labels) return tgc_fail(err, "retina targets: %d gt boxes but no labels", gt->n);
        if (gt->labels[g] < 0 || gt->labels[g] >= num_classes)
            return tgc_fail(err, "retina targets: gt %d has label %d, outside 0..%d", g, (int)gt->labels[g],
                            num_classes - 1);
    }
    int64_t npos = tgc_det_max_iou_assign(ac, anchors, valid, n_anchors, gt, cls_target, NULL);
    memset(bbox_target, 0, sizeof(float) * 4 * (size_t)n_anchors);
    for (int64_t i = 0; i < n_anchors; i++) {
        int32_t k = cls_target[i];
        if (k < 0) continue;
        if (k == 0) {
            cls_target[i] = num_classes;
            continue;
        }
        cls_target[i] = gt->labels[k - 1];
        tgc_det_delta_encode(cc, anchors + 4 * i, gt->boxes + 4 * (k - 1), 1, bbox_target + 4 * i);
    }
    *num_pos = npos;
    return 0;
}

void tgc_det_test_cfg_default(tgc_det_test_cfg *c) {
    *c = (tgc_det_test_cfg){.nms_pre = 1000, .score_thr = 0.05f, .min_bbox_size = 0, .nms_iou = 0.5f,
                            .max_per_img = 100};
}

void tgc_det_result_free(tgc_det_result *r) {
    free(r->boxes);
    free(r->scores);
    free(r->labels);
    memset(r, 0, sizeof *r);
}

/* A candidate (anchor, class) pair of one level: flat = local anchor * C + class, as torch.nonzero orders. */
typedef struct cand {
    float score;
    int64_t flat;
} cand;

/* a ranks before b: higher score, then lower flat index */
static int before(const cand *a, const cand *b) {
    return a->score > b->score || (a->score == b->score && a->flat < b->flat);
}

static int cand_cmp(const void *pa, const void *pb) {
    const cand *a = pa, *b = pb;
    return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

/* Min-heap on rank (the root is the worst kept candidate). */
static void sift_down(cand *h, int n, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && before(&h[w], &h[l])) w = l;
        if (r < n && before(&h[w], &h[r])) w = r;
        if (w == i) return;
        cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

static void sift_up(cand *h, int i) {
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!before(&h[p], &h[i])) return;
        cand t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

int tgc_det_retina_predict(const tgc_det_test_cfg *tc, const tgc_det_coder_cfg *cc, const tgc_det_anchors *anchors,
                           int num_classes, const tgc_det_head_out *out, const float img_hw[2],
                           const float scale_factor[2], tgc_det_result *res, tgc_err *err) {
    memset(res, 0, sizeof *res);
    int C = num_classes;
    if (C < 1) return tgc_fail(err, "retina predict: num_classes %d is not positive", C);
    if (tc->max_per_img < 1) return tgc_fail(err, "retina predict: test_cfg.max_per_img %d is not positive", tc->max_per_img);
    if (out->cls_stride < C || out->bbox_stride < 4)
        return tgc_fail(err, "retina predict: row strides %lld (logits) and %lld (deltas) are below %d and 4",
                        (long long)out->cls_stride, (long long)out->bbox_stride, C);
    if (!(scale_factor[0] > 0) || !(scale_factor[1] > 0))
        return tgc_fail(err, "retina predict: scale_factor (%g, %g) is not positive", scale_factor[0], scale_factor[1]);

    /* per level: the best nms_pre pairs with score > score_thr, concatenated in level order, best first */
    int cap = 0, n = 0;
    cand *all = NULL;
    int64_t *anchor_of = NULL; /* global anchor index of each candidate */
    int heap_cap = tc->nms_pre > 0 ? tc->nms_pre : 1024;
    cand *heap = tgc_malloc(sizeof(cand) * (size_t)heap_cap);
    for (int l = 0; l < anchors->num_levels; l++) {
        int64_t a0 = anchors->level_start[l], a1 = anchors->level_start[l + 1];
        int hn = 0;
        for (int64_t a = a0; a < a1; a++) {
            const float *logit = out->cls + a * out->cls_stride;
            for (int c = 0; c < C; c++) {
                float s = 1.0f / (1.0f + expf(-logit[c]));
                if (!(s > tc->score_thr)) continue;
                cand x = {s, (a - a0) * C + c};
                if (tc->nms_pre <= 0) { /* keep all: a growing array, sorted below */
                    if (hn == heap_cap) {
                        heap_cap *= 2;
                        heap = tgc_realloc(heap, sizeof(cand) * (size_t)heap_cap);
                    }
                    heap[hn++] = x;
                } else if (hn < tc->nms_pre) {
                    heap[hn] = x;
                    sift_up(heap, hn++);
                } else if (before(&x, &heap[0])) {
                    heap[0] = x;
                    sift_down(heap, hn, 0);
                }
            }
        }
        qsort(heap, (size_t)hn, sizeof(cand), cand_cmp);
        if (n + hn > cap) {
            cap = n + hn;
            all = tgc_realloc(all, sizeof(cand) * (size_t)cap);
            anchor_of = tgc_realloc(anchor_of, sizeof(int64_t) * (size_t)cap);
        }
        for (int k = 0; k < hn; k++) {
            all[n] = heap[k];
            anchor_of[n++] = a0 + heap[k].flat / C;
        }
    }
    free(heap);

    /* decode, clip to the resized image, back to the original image's pixels, drop tiny boxes */
    float *boxes = tgc_malloc(sizeof(float) * 4 * (size_t)(n > 0 ? n : 1));
    float *scores = tgc_malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    int32_t *labels = tgc_malloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
    float inv[2] = {(float)(1.0 / scale_factor[0]), (float)(1.0 / scale_factor[1])};
    int m = 0;
    for (int k = 0; k < n; k++) {
        int64_t a = anchor_of[k];
        float *b = boxes + 4 * m;
        tgc_det_delta_decode(cc, anchors->boxes + 4 * a, out->bbox + a * out->bbox_stride, 1, img_hw, b);
        for (int j = 0; j < 4; j++) b[j] *= inv[j & 1];
        if (tc->min_bbox_size >= 0 && !(b[2] - b[0] > tc->min_bbox_size && b[3] - b[1] > tc->min_bbox_size)) continue;
        scores[m] = all[k].score;
        labels[m] = (int32_t)(all[k].flat % C);
        m++;
    }
    free(all);
    free(anchor_of);

    tgc_det_nms_result(tc, boxes, scores, labels, m, res);
    free(boxes);
    free(scores);
    free(labels);
    return 0;
}
