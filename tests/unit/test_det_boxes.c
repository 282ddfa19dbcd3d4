/* tests/unit/test_det_boxes.c - box overlaps, the DeltaXYWH coder and NMS against MMDetection's and mmcv's
 * published test vectors (mmdetection tests/test_models/test_task_modules/test_coder/
 * test_delta_xywh_bbox_coder.py, mmcv tests/test_ops/test_nms.py, bbox_overlaps' docstring example). */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "runtime/det/det.h"

#define NEAR(a, b, tol) ck_assert_msg(fabs((double)(a) - (double)(b)) <= (tol), "%s = %.6f, want %.6f", #a, (double)(a), (double)(b))

START_TEST(overlaps_iou_and_iof) {
    /* bbox_overlaps' own example: priors x gts */
    const float a[] = {0, 0, 10, 10, 10, 10, 20, 20, 32, 32, 38, 42};
    const float b[] = {0, 0, 10, 20, 0, 10, 10, 19, 10, 10, 20, 20};
    const float want[] = {0.5f, 0, 0, 0, 0, 1, 0, 0, 0};
    float out[9];
    tgc_det_overlaps(a, 3, b, 3, TGC_DET_IOU, out);
    for (int i = 0; i < 9; i++) NEAR(out[i], want[i], 1e-6);
    /* IoF divides by the first box's area: [0,0,10,10] inside [0,0,10,20] -> 1; the other way 0.5 */
    tgc_det_overlaps(a, 1, b, 1, TGC_DET_IOF, out);
    NEAR(out[0], 1.0, 1e-6);
    tgc_det_overlaps(b, 1, a, 1, TGC_DET_IOF, out);
    NEAR(out[0], 0.5, 1e-6);
    /* partial overlap, and the union clamp: two empty boxes give 0, not NaN */
    const float c[] = {0, 0, 10, 10, 5, 5, 15, 15, 3, 3, 3, 3};
    NEAR(tgc_det_iou(c, c + 4), 25.0 / 175.0, 1e-6);
    float z = tgc_det_iou(c + 8, c + 8);
    ck_assert(z == 0);
}
END_TEST

START_TEST(delta_decode_vectors) {
    tgc_det_coder_cfg cc;
    tgc_det_coder_cfg_default(&cc);
    const float rois[] = {0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 5, 5, 5, 5};
    const float deltas[] = {0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 2, -1, 0.7f, -1.9f, -0.5f, 0.3f};
    const float want[] = {0, 0, 1, 1, 0.1409f, 0.1409f, 2.8591f, 2.8591f, 0, 0.3161f, 4.1945f, 0.6839f, 5, 5, 5, 5};
    const float max_hw[2] = {32, 32};
    float out[16];
    tgc_det_delta_decode(&cc, rois, deltas, 4, max_hw, out);
    for (int i = 0; i < 16; i++) NEAR(out[i], want[i], 1e-4);
    /* add_ctr_clamp with ctr_clamp 2: the centre shift of the first row is cut from 6 to 2 */
    cc.add_ctr_clamp = 1;
    cc.ctr_clamp = 2;
    const float rois2[] = {0, 0, 6, 6, 0, 0, 1, 1, 0, 0, 1, 1, 5, 5, 5, 5};
    const float deltas2[] = {1, 1, 2, 2, 1, 1, 1, 1, 0, 0, 2, -1, 0.7f, -1.9f, -0.5f, 0.3f};
    const float want2[] = {0, 0, 27.1672f, 27.1672f, 0.1409f, 0.1409f, 2.8591f, 2.8591f,
                           0, 0.3161f, 4.1945f, 0.6839f, 5, 5, 5, 5};
    tgc_det_delta_decode(&cc, rois2, deltas2, 4, max_hw, out);
    for (int i = 0; i < 16; i++) NEAR(out[i], want2[i], 1e-4);
}
END_TEST

START_TEST(delta_clips_and_round_trips) {
    tgc_det_coder_cfg cc;
    tgc_det_coder_cfg_default(&cc);
    /* dw = 10 is clamped to |log(16/1000)|: the width grows by 1000/16 at most; no max_shape, no clipping */
    const float roi[] = {0, 0, 2, 2}, big[] = {0, 0, 10, -10};
    float out[4];
    tgc_det_delta_decode(&cc, roi, big, 1, NULL, out);
    NEAR(out[2] - out[0], 2 * 62.5, 1e-3);
    NEAR(out[3] - out[1], 2 / 62.5, 1e-5);
    ck_assert(out[0] < 0);
    /* encode then decode with Faster R-CNN's stds gives the gt back */
    cc.stds[0] = cc.stds[1] = 0.1f, cc.stds[2] = cc.stds[3] = 0.2f;
    cc.means[0] = 0.05f;
    const float pri[] = {10, 20, 50, 40, 0, 0, 8, 32}, gts[] = {12, 18, 60, 44, 1, 3, 5, 40};
    float d[8], back[8];
    tgc_det_delta_encode(&cc, pri, gts, 2, d);
    NEAR(d[0], ((36.0 - 30.0) / 40.0 - 0.05) / 0.1, 1e-5);
    NEAR(d[3], log(26.0 / 20.0) / 0.2, 1e-5);
    tgc_det_delta_decode(&cc, pri, d, 2, NULL, back);
    for (int i = 0; i < 8; i++) NEAR(back[i], gts[i], 1e-4);
}
END_TEST

START_TEST(nms_vectors) {
    const float boxes[] = {6, 3, 8, 7, 3, 6, 9, 11, 3, 7, 10, 12, 1, 4, 13, 7};
    const float scores[] = {0.6f, 0.9f, 0.7f, 0.2f};
    int keep[4];
    int n = tgc_det_nms(boxes, scores, 4, 0.3f, 0, keep);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(keep[0], 1); ck_assert_int_eq(keep[1], 0); ck_assert_int_eq(keep[2], 3);
    ck_assert_int_eq(tgc_det_nms(boxes, scores, 4, 0.3f, 2, keep), 2);
    ck_assert_int_eq(keep[1], 0);
    /* IoU 0.05: box 1 suppresses all others (0.585, 0.056, 0.1) */
    ck_assert_int_eq(tgc_det_nms(boxes, scores, 4, 0.05f, 0, keep), 1);
    ck_assert_int_eq(keep[0], 1);
    ck_assert_int_eq(tgc_det_nms(boxes, scores, 0, 0.5f, 0, keep), 0);
    /* by class: 0 and 2 (class 0) do not touch; 1 and 3 (class 1) overlap 0.1 */
    const int32_t cls[] = {0, 1, 0, 1};
    n = tgc_det_batched_nms(boxes, scores, cls, 4, 0.3f, 0, keep);
    ck_assert_int_eq(n, 4);
    const int want[] = {1, 2, 0, 3};
    for (int i = 0; i < 4; i++) ck_assert_int_eq(keep[i], want[i]);
    n = tgc_det_batched_nms(boxes, scores, cls, 4, 0.05f, 0, keep);
    ck_assert_int_eq(n, 3);
    for (int i = 0; i < 3; i++) ck_assert_int_eq(keep[i], want[i]);
    ck_assert_int_eq(tgc_det_batched_nms(boxes, scores, cls, 4, 0.3f, 2, keep), 2);
    ck_assert_int_eq(keep[0], 1); ck_assert_int_eq(keep[1], 2);
    /* one class for all: the plain NMS */
    const int32_t one[] = {7, 7, 7, 7};
    n = tgc_det_batched_nms(boxes, scores, one, 4, 0.3f, 0, keep);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(keep[0], 1); ck_assert_int_eq(keep[1], 0); ck_assert_int_eq(keep[2], 3);
}
END_TEST

START_TEST(nms_equal_boxes_and_ties) {
    /* identical boxes with equal scores: the lower index survives; IoU 1 > any thr < 1 */
    const float boxes[] = {0, 0, 4, 4, 0, 0, 4, 4, 10, 10, 12, 12};
    const float scores[] = {0.5f, 0.5f, 0.5f};
    int keep[3];
    int n = tgc_det_nms(boxes, scores, 3, 0.99f, 0, keep);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(keep[0], 0); ck_assert_int_eq(keep[1], 2);
    /* IoU exactly at the threshold is kept (strictly greater suppresses) */
    const float half[] = {0, 0, 2, 1, 0, 0, 1, 1};
    const float s2[] = {0.9f, 0.8f};
    ck_assert_int_eq(tgc_det_nms(half, s2, 2, 0.5f, 0, keep), 2);
    ck_assert_int_eq(tgc_det_nms(half, s2, 2, 0.49f, 0, keep), 1);
}
END_TEST

int main(void) {
    Suite *s = suite_create("det_boxes");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, overlaps_iou_and_iof);
    tcase_add_test(tc, delta_decode_vectors);
    tcase_add_test(tc, delta_clips_and_round_trips);
    tcase_add_test(tc, nms_vectors);
    tcase_add_test(tc, nms_equal_boxes_and_ties);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
