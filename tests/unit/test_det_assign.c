/* tests/unit/test_det_assign.c - MaxIoUAssigner against MMDetection's test vectors (mmdetection
 * tests/test_models/test_task_modules/test_assigners/test_max_iou_assigner.py), the static-shape pitfalls
 * (padding gts, anchors outside an image's pad_shape), RetinaNet targets and RetinaNet post-processing. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/det/det.h"

#define NEAR(a, b, tol) ck_assert_msg(fabs((double)(a) - (double)(b)) <= (tol), "%s = %.6f, want %.6f", #a, (double)(a), (double)(b))

static const float priors[] = {0, 0, 10, 10, 10, 10, 20, 20, 5, 5, 15, 15, 32, 32, 38, 42};
static const float gts[] = {0, 0, 10, 9, 0, 10, 10, 19};

static void expect(const int32_t *got, const int32_t *want, int n) {
    for (int i = 0; i < n; i++) ck_assert_msg(got[i] == want[i], "prior %d: %d, want %d", i, got[i], want[i]);
}

START_TEST(assigner_vectors) {
    tgc_det_assigner_cfg c;
    tgc_det_assigner_cfg_default(&c, 0.5f, 0.5f);
    tgc_det_gt gt = {.boxes = gts, .n = 2};
    int32_t inds[4];
    float ov[4];
    ck_assert_int_eq(tgc_det_max_iou_assign(&c, priors, NULL, 4, &gt, inds, ov), 2);
    expect(inds, (const int32_t[]){1, 0, 2, 0}, 4);
    NEAR(ov[0], 0.9, 1e-6);
    NEAR(ov[2], 25.0 / 165.0, 1e-6);
    /* the ignore case: last prior [30,32,40,42] lies 80% inside the ignored box */
    const float pri2[] = {0, 0, 10, 10, 10, 10, 20, 20, 5, 5, 15, 15, 30, 32, 40, 42};
    const float ign[] = {30, 30, 40, 40};
    c.ignore_iof_thr = 0.5f;
    gt.ignored = ign, gt.n_ignored = 1;
    tgc_det_max_iou_assign(&c, pri2, NULL, 4, &gt, inds, ov);
    expect(inds, (const int32_t[]){1, 0, 2, -1}, 4);
    NEAR(ov[3], -1, 0);
    /* ignore_wrt_candidates false: IoF over the ignored box's area (80/100 as well here) */
    c.ignore_wrt_candidates = 0;
    tgc_det_max_iou_assign(&c, pri2, NULL, 4, &gt, inds, NULL);
    expect(inds, (const int32_t[]){1, 0, 2, -1}, 4);
    /* no gts: every prior negative, also with ignored boxes (as MMDetection); no priors: nothing */
    gt.n = 0;
    ck_assert_int_eq(tgc_det_max_iou_assign(&c, pri2, NULL, 4, &gt, inds, NULL), 0);
    expect(inds, (const int32_t[]){0, 0, 0, 0}, 4);
    gt.n = 2;
    ck_assert_int_eq(tgc_det_max_iou_assign(&c, NULL, NULL, 0, &gt, inds, NULL), 0);
}
END_TEST

START_TEST(assigner_options) {
    tgc_det_assigner_cfg c;
    tgc_det_assigner_cfg_default(&c, 0.5f, 0.5f);
    tgc_det_gt gt = {.boxes = gts, .n = 2};
    int32_t inds[4];
    /* no low-quality pass, negatives only in [0.2, 0.5): IoUs 0 and 0.15 are ignored */
    c.match_low_quality = 0;
    c.neg_iou_lo = 0.2f;
    ck_assert_int_eq(tgc_det_max_iou_assign(&c, priors, NULL, 4, &gt, inds, NULL), 1);
    expect(inds, (const int32_t[]){1, -1, -1, -1}, 4);
    c.neg_iou_lo = 0.1f;
    tgc_det_max_iou_assign(&c, priors, NULL, 4, &gt, inds, NULL);
    expect(inds, (const int32_t[]){1, -1, 0, -1}, 4);
    /* min_pos_iou above the second gt's best IoU (0.15): no low-quality match for it */
    tgc_det_assigner_cfg_default(&c, 0.5f, 0.5f);
    c.min_pos_iou = 0.2f;
    tgc_det_max_iou_assign(&c, priors, NULL, 4, &gt, inds, NULL);
    expect(inds, (const int32_t[]){1, 0, 0, 0}, 4);
    /* equal best IoUs: gt_max_assign_all gives the gt both priors, otherwise the first only */
    const float twin[] = {0, 0, 10, 10, 0, 0, 10, 10, 50, 50, 60, 60};
    const float big[] = {0, 0, 20, 20};
    tgc_det_gt g1 = {.boxes = big, .n = 1};
    tgc_det_assigner_cfg_default(&c, 0.5f, 0.3f);
    tgc_det_max_iou_assign(&c, twin, NULL, 3, &g1, inds, NULL);
    expect(inds, (const int32_t[]){1, 1, 0}, 3);
    c.gt_max_assign_all = 0;
    tgc_det_max_iou_assign(&c, twin, NULL, 3, &g1, inds, NULL);
    expect(inds, (const int32_t[]){1, 0, 0}, 3);
    /* a later gt wins a prior in the low-quality pass: both gts' best prior is prior 0 */
    const float two[] = {0, 0, 20, 20, 0, 0, 21, 20};
    tgc_det_gt g2 = {.boxes = two, .n = 2};
    const float one[] = {0, 0, 10, 10, 100, 100, 110, 110};
    tgc_det_assigner_cfg_default(&c, 0.5f, 0.3f);
    tgc_det_max_iou_assign(&c, one, NULL, 2, &g2, inds, NULL);
    expect(inds, (const int32_t[]){2, 0}, 2);
}
END_TEST

START_TEST(padding_pitfalls) {
    tgc_det_assigner_cfg c;
    tgc_det_assigner_cfg_default(&c, 0.5f, 0.4f); /* RetinaNet's: min_pos_iou 0, match_low_quality */
    int32_t inds[4];
    /* an all-zero padding slot overlaps nothing: with min_pos_iou 0 it must not claim the IoU-0 priors */
    const float padded[] = {0, 0, 10, 9, 0, 0, 0, 0};
    tgc_det_gt gt = {.boxes = padded, .n = 2};
    ck_assert_int_eq(tgc_det_max_iou_assign(&c, priors, NULL, 4, &gt, inds, NULL), 1);
    expect(inds, (const int32_t[]){1, 0, 0, 0}, 4);
    /* a slot marked invalid takes part in nothing, whatever its box */
    const uint8_t gv[] = {1, 0};
    tgc_det_gt masked = {.boxes = gts, .valid = gv, .n = 2};
    tgc_det_max_iou_assign(&c, priors, NULL, 4, &masked, inds, NULL);
    expect(inds, (const int32_t[]){1, 0, 0, 0}, 4);
    /* anchors outside the image's pad_shape are ignored and cannot win a gt's low-quality match */
    const float g2[] = {0, 0, 10, 9, 30, 30, 40, 40};
    tgc_det_gt gt2 = {.boxes = g2, .n = 2};
    tgc_det_max_iou_assign(&c, priors, NULL, 4, &gt2, inds, NULL);
    expect(inds, (const int32_t[]){1, 0, 0, 2}, 4); /* all valid: prior 3 (IoU 0.43) is gt 1's best */
    const uint8_t pv[] = {1, 1, 1, 0};
    tgc_det_max_iou_assign(&c, priors, pv, 4, &gt2, inds, NULL);
    expect(inds, (const int32_t[]){1, 0, 0, -1}, 4);
}
END_TEST

/* Two levels (strides 8, 16), one square anchor per cell (sizes 32, 64) on a 64 x 64 canvas: 64 + 16 anchors. */
static void small_anchors(tgc_det_anchors *a) {
    tgc_det_anchor_cfg c;
    memset(&c, 0, sizeof c);
    c.num_levels = 2;
    c.strides[0][0] = c.strides[0][1] = 8;
    c.strides[1][0] = c.strides[1][1] = 16;
    c.num_ratios = 1, c.ratios[0] = 1;
    c.num_scales = 1, c.scales[0] = 4;
    c.scale_major = 1;
    tgc_err err;
    ck_assert_msg(tgc_det_anchors_for_canvas(&c, 64, 64, a, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(a->count, 80);
}

START_TEST(retina_targets) {
    tgc_det_anchors a;
    small_anchors(&a);
    uint8_t valid[80];
    int64_t nvalid = tgc_det_valid_flags(&a, 48, 64, valid); /* image padded to 48 x 64 */
    ck_assert_int_eq(nvalid, 6 * 8 + 3 * 4);
    tgc_det_assigner_cfg ac;
    tgc_det_assigner_cfg_default(&ac, 0.5f, 0.4f);
    tgc_det_coder_cfg cc;
    tgc_det_coder_cfg_default(&cc);
    const float boxes[] = {8, 8, 40, 40, 0, 0, 0, 0};
    const int32_t labels[] = {2, 0};
    const uint8_t gv[] = {1, 0};
    tgc_det_gt gt = {.boxes = boxes, .labels = labels, .valid = gv, .n = 2};
    int32_t cls[80], inds[80];
    float bbox[320];
    int64_t npos;
    tgc_err err;
    ck_assert_msg(tgc_det_retina_targets(&ac, &cc, 3, a.boxes, valid, a.count, &gt, cls, bbox, &npos, &err) == 0, "%s",
                  err.msg);
    ck_assert_int_eq(tgc_det_max_iou_assign(&ac, a.boxes, valid, a.count, &gt, inds, NULL), npos);
    ck_assert_int_ge(npos, 1);
    int exact = 3 * 8 + 3; /* level 0 cell (3, 3) is [8, 8, 40, 40] */
    ck_assert_int_eq(cls[exact], 2);
    int64_t pos = 0, neg = 0, ign = 0;
    for (int i = 0; i < 80; i++) {
        if (!valid[i]) ck_assert_int_eq(cls[i], -1);
        if (inds[i] > 0) {
            pos++;
            ck_assert_int_eq(cls[i], 2);
            float d[4];
            tgc_det_delta_encode(&cc, a.boxes + 4 * i, boxes, 1, d);
            for (int k = 0; k < 4; k++) NEAR(bbox[4 * i + k], d[k], 0);
        } else {
            neg += inds[i] == 0;
            ign += inds[i] < 0;
            ck_assert_int_eq(cls[i], inds[i] == 0 ? 3 : -1);
            for (int k = 0; k < 4; k++) ck_assert(bbox[4 * i + k] == 0);
        }
    }
    ck_assert_int_eq(pos, npos);
    ck_assert_int_eq(pos + neg + ign, 80);
    ck_assert_int_ge(ign, 80 - nvalid);
    for (int k = 0; k < 4; k++) NEAR(bbox[4 * exact + k], 0, 1e-7);
    /* a label outside 0..C-1 is an error naming the gt */
    const int32_t bad[] = {3, 0};
    gt.labels = bad;
    ck_assert_int_eq(tgc_det_retina_targets(&ac, &cc, 3, a.boxes, valid, a.count, &gt, cls, bbox, &npos, &err), -1);
    ck_assert_msg(strstr(err.msg, "gt 0") && strstr(err.msg, "label 3"), "%s", err.msg);
    /* no gt at all: every valid anchor negative, num_pos 0 */
    gt.n = 0;
    ck_assert_int_eq(tgc_det_retina_targets(&ac, &cc, 3, a.boxes, valid, a.count, &gt, cls, bbox, &npos, &err), 0);
    ck_assert_int_eq(npos, 0);
    for (int i = 0; i < 80; i++) ck_assert_int_eq(cls[i], valid[i] ? 3 : -1);
    tgc_det_anchors_free(&a);
}
END_TEST

/* Post-processing on hand-made head outputs: C = 2, logits -10 except three pairs. */
START_TEST(retina_predict) {
    tgc_det_anchors a;
    small_anchors(&a);
    enum { C = 2 };
    float logits[80 * C], deltas[80 * 4], packed[80 * (C + 4)];
    for (int i = 0; i < 80 * C; i++) logits[i] = -10;
    memset(deltas, 0, sizeof deltas);
    int a0 = 3 * 8 + 3, a1 = 3 * 8 + 4, a2 = 64 + 1 * 4 + 2; /* [8,8,40,40], [16,8,48,40], level 1 [0,-16,64,48] */
    logits[a0 * C + 1] = 2.0f;                                /* 0.8808 */
    logits[a1 * C + 1] = 1.0f;                                /* 0.7311: same class, IoU 0.6 with a0 -> suppressed */
    logits[a1 * C + 0] = 0.0f;                                /* 0.5 */
    logits[a2 * C + 0] = 3.0f;                                /* 0.9526 */
    deltas[a2 * 4 + 2] = logf(2.0f);                          /* width 64 -> 128 */
    for (int i = 0; i < 80; i++) {
        memcpy(packed + i * (C + 4), logits + i * C, sizeof(float) * C);
        memcpy(packed + i * (C + 4) + C, deltas + i * 4, sizeof(float) * 4);
    }
    tgc_det_test_cfg tc;
    tgc_det_test_cfg_default(&tc);
    tgc_det_coder_cfg cc;
    tgc_det_coder_cfg_default(&cc);
    const float img_hw[2] = {60, 50}, sf[2] = {2.0f, 0.5f}; /* (w_scale, h_scale) */
    tgc_det_head_out out = {logits, C, deltas, 4};
    tgc_det_result r;
    tgc_err err;
    for (int layout = 0; layout < 2; layout++) {
        if (layout) out = (tgc_det_head_out){packed, C + 4, packed + C, C + 4};
        ck_assert_msg(tgc_det_retina_predict(&tc, &cc, &a, C, &out, img_hw, sf, &r, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(r.n, 3);
        const float want[3][4] = {{0, 0, 25, 96}, {4, 16, 20, 80}, {8, 16, 24, 80}};
        const int32_t wl[3] = {0, 1, 0};
        const float ws[3] = {0.95257413f, 0.88079708f, 0.5f};
        for (int k = 0; k < 3; k++) {
            ck_assert_int_eq(r.labels[k], wl[k]);
            NEAR(r.scores[k], ws[k], 1e-6);
            for (int j = 0; j < 4; j++) NEAR(r.boxes[4 * k + j], want[k][j], 1e-4);
        }
        tgc_det_result_free(&r);
    }
    /* nms_pre 1 keeps one pair per level; max_per_img 1 the best box; score_thr 0.6 drops the 0.5 pair */
    tc.nms_pre = 1;
    ck_assert_int_eq(tgc_det_retina_predict(&tc, &cc, &a, C, &out, img_hw, sf, &r, &err), 0);
    ck_assert_int_eq(r.n, 2);
    tgc_det_result_free(&r);
    tc.nms_pre = 0;
    tc.max_per_img = 1;
    ck_assert_int_eq(tgc_det_retina_predict(&tc, &cc, &a, C, &out, img_hw, sf, &r, &err), 0);
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(r.labels[0], 0);
    tgc_det_result_free(&r);
    tc.max_per_img = 100;
    tc.score_thr = 0.6f;
    ck_assert_int_eq(tgc_det_retina_predict(&tc, &cc, &a, C, &out, img_hw, sf, &r, &err), 0);
    ck_assert_int_eq(r.n, 2);
    tgc_det_result_free(&r);
    /* every score below the threshold: no detections */
    tc.score_thr = 0.99f;
    ck_assert_int_eq(tgc_det_retina_predict(&tc, &cc, &a, C, &out, img_hw, sf, &r, &err), 0);
    ck_assert_int_eq(r.n, 0);
    tgc_det_result_free(&r);
    /* min_bbox_size: the 16 px wide (after rescale) boxes go at 16, the 25 px one stays */
    tc.score_thr = 0.05f;
    tc.min_bbox_size = 16;
    ck_assert_int_eq(tgc_det_retina_predict(&tc, &cc, &a, C, &out, img_hw, sf, &r, &err), 0);
    ck_assert_int_eq(r.n, 1);
    NEAR(r.boxes[2], 25, 1e-4);
    tgc_det_result_free(&r);
    tc.max_per_img = 0;
    ck_assert_int_eq(tgc_det_retina_predict(&tc, &cc, &a, C, &out, img_hw, sf, &r, &err), -1);
    ck_assert_msg(strstr(err.msg, "max_per_img"), "%s", err.msg);
    tgc_det_anchors_free(&a);
}
END_TEST

/* RetinaNet's canvas (800 x 1344, 201,600 anchors) with 12 gts: four threads build the same targets as one. */
typedef struct job {
    const tgc_det_anchors *a;
    const uint8_t *valid;
    const tgc_det_gt *gt;
    int32_t *cls;
    float *bbox;
    int64_t npos;
    int rc;
} job;

static void *run_job(void *p) {
    job *j = p;
    tgc_det_assigner_cfg ac;
    tgc_det_assigner_cfg_default(&ac, 0.5f, 0.4f);
    tgc_det_coder_cfg cc;
    tgc_det_coder_cfg_default(&cc);
    tgc_err err;
    j->rc = tgc_det_retina_targets(&ac, &cc, 80, j->a->boxes, j->valid, j->a->count, j->gt, j->cls, j->bbox, &j->npos,
                                   &err);
    return NULL;
}

START_TEST(retina_targets_threads) {
    tgc_det_anchor_cfg c;
    tgc_det_anchor_cfg_retinanet(&c);
    tgc_det_anchors a;
    tgc_err err;
    ck_assert_msg(tgc_det_anchors_for_canvas(&c, 800, 1344, &a, &err) == 0, "%s", err.msg);
    uint8_t *valid = malloc((size_t)a.count);
    tgc_det_valid_flags(&a, 800, 1088, valid);
    float boxes[12 * 4];
    int32_t labels[12];
    for (int g = 0; g < 12; g++) {
        float x = 37.0f + 83.0f * g, y = 21.0f + 55.0f * g, w = 24.0f + 31.0f * (g % 5), h = 30.0f + 47.0f * (g % 4);
        boxes[4 * g + 0] = x, boxes[4 * g + 1] = y, boxes[4 * g + 2] = x + w, boxes[4 * g + 3] = y + h;
        labels[g] = (g * 7) % 80;
    }
    tgc_det_gt gt = {.boxes = boxes, .labels = labels, .n = 12};
    enum { T = 4 };
    job jobs[T + 1];
    for (int t = 0; t <= T; t++)
        jobs[t] = (job){&a, valid, &gt, malloc(sizeof(int32_t) * (size_t)a.count),
                        malloc(sizeof(float) * 4 * (size_t)a.count), 0, -1};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    run_job(&jobs[T]);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("retina targets, 201,600 anchors, 12 gts: %.1f ms\n",
           (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
    ck_assert_int_eq(jobs[T].rc, 0);
    ck_assert_int_ge(jobs[T].npos, 12);
    pthread_t th[T];
    for (int t = 0; t < T; t++) ck_assert_int_eq(pthread_create(&th[t], NULL, run_job, &jobs[t]), 0);
    for (int t = 0; t < T; t++) pthread_join(th[t], NULL);
    for (int t = 0; t <= T; t++) {
        ck_assert_int_eq(jobs[t].rc, 0);
        ck_assert_int_eq(jobs[t].npos, jobs[T].npos);
        ck_assert(memcmp(jobs[t].cls, jobs[T].cls, sizeof(int32_t) * (size_t)a.count) == 0);
        ck_assert(memcmp(jobs[t].bbox, jobs[T].bbox, sizeof(float) * 4 * (size_t)a.count) == 0);
        free(jobs[t].cls);
        free(jobs[t].bbox);
    }
    free(valid);
    tgc_det_anchors_free(&a);
}
END_TEST

int main(void) {
    Suite *s = suite_create("det_assign");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, assigner_vectors);
    tcase_add_test(tc, assigner_options);
    tcase_add_test(tc, padding_pitfalls);
    tcase_add_test(tc, retina_targets);
    tcase_add_test(tc, retina_predict);
    tcase_add_test(tc, retina_targets_threads);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
