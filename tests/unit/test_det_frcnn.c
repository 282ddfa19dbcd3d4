/* tests/unit/test_det_frcnn.c - Faster R-CNN's post-processing on the host (runtime/det/det_frcnn.c), as
 * MMDetection's BBoxHead.predict_by_feat with rescale: the softmax over C + 1 logits (background last), the
 * class-specific deltas decoded with stds 0.1 0.1 0.2 0.2 and clipped to img_shape, the boxes divided by
 * scale_factor, score_thr, class-wise NMS (a lower-scored box of the same class suppressed, of another class
 * kept), max_per_img, padding rows left out, and bad arguments refused. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/det/det.h"

#define C 2
#define ROW TGC_DET_RCNN_ROW(C) /* 4 + 1 + 3 + 8 = 16 */

static void set_row(float *r, float x1, float y1, float x2, float y2, float valid, float l0, float l1, float lbg) {
    memset(r, 0, sizeof(float) * ROW);
    r[0] = x1, r[1] = y1, r[2] = x2, r[3] = y2, r[4] = valid, r[5] = l0, r[6] = l1, r[7] = lbg;
}

static void cfgs(tgc_det_test_cfg *tc, tgc_det_coder_cfg *cc) {
    tgc_det_test_cfg_default(tc); /* score_thr 0.05, nms 0.5, max_per_img 100 */
    tgc_det_coder_cfg_default(cc);
    cc->stds[0] = cc->stds[1] = 0.1f, cc->stds[2] = cc->stds[3] = 0.2f;
}

START_TEST(predict_hand_case) {
    ck_assert_int_eq(ROW, 16);
    float rows[4 * ROW];
    /* row 0: class 0 likely (softmax of (2, 0, 0)), deltas of class 0 shift x by 0.1 * 0.5 * w = 2 pixels;
     * class 1 below score_thr? p1 = 1/(e^2+2) = 0.106: kept as a candidate too */
    set_row(rows, 10, 10, 50, 30, 1, 2, 0, 0);
    rows[8] = 0.5f; /* class 0's dx */
    /* row 1: the same box, class 0 lower (softmax (1, 0, 0)): suppressed by row 0's class-0 box (IoU > 0.5) */
    set_row(rows + ROW, 10, 10, 50, 30, 1, 1, 0, 0);
    /* row 2: padding (valid 0), a confident class 1 that must not appear */
    set_row(rows + 2 * ROW, 60, 60, 90, 90, 0, 0, 9, 0);
    /* row 3: class 1 confident, its box partly outside img_shape (clipped to w 80) */
    set_row(rows + 3 * ROW, 60, 20, 100, 40, 1, -5, 5, -5);
    tgc_det_test_cfg tc;
    tgc_det_coder_cfg cc;
    cfgs(&tc, &cc);
    const float hw[2] = {64, 80}, sf[2] = {2.0f, 2.0f}; /* the image was resized by 2 */
    tgc_det_result res;
    tgc_err err = {{0}};
    ck_assert_msg(tgc_det_rcnn_predict(&tc, &cc, C, rows, 4, ROW, hw, sf, &res, &err) == 0, "%s", err.msg);
    /* candidates: r0c0 0.787, r0c1 0.106, r1c0 0.576, r1c1 0.212, r3c1 ~1; after NMS per class:
     * class 0: r0c0 (r1c0 suppressed: IoU of (12,10,52,30) and (10,10,50,30) = 760/840); class 1: r3c1, then
     * r1c1 (its box equals r0c1's: r0c1 0.106 suppressed by r1c1 0.212) */
    ck_assert_int_eq(res.n, 3);
    double e2 = exp(2.0), p00 = e2 / (e2 + 2), p11 = 1 / (exp(1.0) + 2);
    ck_assert(res.labels[0] == 1 && fabsf(res.scores[0] - (float)(exp(5.0) / (exp(5.0) + 2 * exp(-5.0)))) < 1e-6f);
    ck_assert(res.labels[1] == 0 && fabs(res.scores[1] - p00) < 1e-6);
    ck_assert(res.labels[2] == 1 && fabs(res.scores[2] - p11) < 1e-6);
    /* boxes in the original image: r3 clipped to x2 = 80, then / 2; r0's class 0 shifted by 2 pixels, then / 2 */
    const float want0[] = {30, 10, 40, 20}, want1[] = {6, 5, 26, 15}, want2[] = {5, 5, 25, 15};
    for (int q = 0; q < 4; q++) {
        ck_assert_msg(fabsf(res.boxes[q] - want0[q]) < 1e-5f, "box 0 [%d] = %g", q, (double)res.boxes[q]);
        ck_assert_msg(fabsf(res.boxes[4 + q] - want1[q]) < 1e-5f, "box 1 [%d] = %g", q, (double)res.boxes[4 + q]);
        ck_assert_msg(fabsf(res.boxes[8 + q] - want2[q]) < 1e-5f, "box 2 [%d] = %g", q, (double)res.boxes[8 + q]);
    }
    tgc_det_result_free(&res);
    /* score_thr 0.25 drops the class-1 candidates of rows 0 and 1 (0.106, 0.212); max_per_img 1 keeps the best */
    tc.score_thr = 0.25f;
    ck_assert_int_eq(tgc_det_rcnn_predict(&tc, &cc, C, rows, 4, ROW, hw, sf, &res, &err), 0);
    ck_assert(res.n == 2 && res.labels[0] == 1 && res.labels[1] == 0);
    tgc_det_result_free(&res);
    tc.max_per_img = 1;
    ck_assert_int_eq(tgc_det_rcnn_predict(&tc, &cc, C, rows, 4, ROW, hw, sf, &res, &err), 0);
    ck_assert(res.n == 1 && res.labels[0] == 1);
    tgc_det_result_free(&res);
    /* no valid row: nothing */
    for (int r = 0; r < 4; r++) rows[r * ROW + 4] = 0;
    ck_assert_int_eq(tgc_det_rcnn_predict(&tc, &cc, C, rows, 4, ROW, hw, sf, &res, &err), 0);
    ck_assert_int_eq(res.n, 0);
    tgc_det_result_free(&res);
}
END_TEST

START_TEST(predict_refuses_bad_arguments) {
    float rows[ROW] = {0};
    tgc_det_test_cfg tc;
    tgc_det_coder_cfg cc;
    cfgs(&tc, &cc);
    const float hw[2] = {64, 80}, sf[2] = {1, 1}, bad_sf[2] = {0, 1};
    tgc_det_result res;
    tgc_err err = {{0}};
    ck_assert_int_eq(tgc_det_rcnn_predict(&tc, &cc, C, rows, 1, ROW - 1, hw, sf, &res, &err), -1);
    ck_assert_msg(strstr(err.msg, "row stride 15"), "%s", err.msg);
    ck_assert_int_eq(tgc_det_rcnn_predict(&tc, &cc, C, rows, 1, ROW, hw, bad_sf, &res, &err), -1);
    ck_assert_msg(strstr(err.msg, "scale_factor"), "%s", err.msg);
    ck_assert_int_eq(tgc_det_rcnn_predict(&tc, &cc, 0, rows, 1, ROW, hw, sf, &res, &err), -1);
}
END_TEST

int main(void) {
    Suite *s = suite_create("det_frcnn");
    TCase *tc = tcase_create("frcnn");
    tcase_add_test(tc, predict_hand_case);
    tcase_add_test(tc, predict_refuses_bad_arguments);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
