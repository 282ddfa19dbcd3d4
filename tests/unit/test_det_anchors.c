/* tests/unit/test_det_anchors.c - AnchorGenerator against MMDetection's test vectors (mmdetection
 * tests/test_models/test_task_modules/test_prior_generators/test_anchor_generator.py), anchor counts of the
 * RetinaNet and RPN canvases, valid flags, and the config readers. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/det/det.h"
#include "test_util.h"

#define NEAR(a, b, tol) ck_assert_msg(fabs((double)(a) - (double)(b)) <= (tol), "%s = %.6f, want %.6f", #a, (double)(a), (double)(b))

static void one_level(tgc_det_anchor_cfg *c, int sw, int sh) {
    memset(c, 0, sizeof *c);
    c->num_levels = 1;
    c->strides[0][0] = sw, c->strides[0][1] = sh;
    c->num_ratios = 1, c->ratios[0] = 1;
    c->num_scales = 1, c->scales[0] = 1;
    c->has_base_sizes = 1, c->base_sizes[0] = 10;
    c->scale_major = 1;
}

static void expect_anchors(const tgc_det_anchors *a, const float *want, int n) {
    ck_assert_int_eq(a->count, n);
    for (int i = 0; i < 4 * n; i++) NEAR(a->boxes[i], want[i], 1e-4);
}

START_TEST(grid_anchors_strides) {
    tgc_det_anchor_cfg c;
    tgc_err err;
    const int hw[1][2] = {{2, 2}};
    tgc_det_anchors a;
    one_level(&c, 10, 10);
    ck_assert_msg(tgc_det_anchors_make(&c, hw, &a, &err) == 0, "%s", err.msg);
    const float w1[] = {-5, -5, 5, 5, 5, -5, 15, 5, -5, 5, 5, 15, 5, 5, 15, 15};
    expect_anchors(&a, w1, 4);
    tgc_det_anchors_free(&a);
    one_level(&c, 10, 20); /* stride (w 10, h 20) */
    ck_assert_msg(tgc_det_anchors_make(&c, hw, &a, &err) == 0, "%s", err.msg);
    const float w2[] = {-5, -5, 5, 5, 5, -5, 15, 5, -5, 15, 5, 25, 5, 15, 15, 25};
    expect_anchors(&a, w2, 4);
    tgc_det_anchors_free(&a);
}
END_TEST

START_TEST(retina_base_anchors) {
    tgc_det_anchor_cfg c;
    tgc_det_anchor_cfg_retinanet(&c);
    ck_assert_int_eq(tgc_det_num_base_anchors(&c), 9);
    float b[36];
    tgc_det_base_anchors(&c, 0, b);
    const float want[] = {-22.6274f, -11.3137f, 22.6274f, 11.3137f, -28.5088f, -14.2544f, 28.5088f, 14.2544f,
                          -35.9188f, -17.9594f, 35.9188f, 17.9594f, -16, -16, 16, 16,
                          -20.1587f, -20.1587f, 20.1587f, 20.1587f, -25.3984f, -25.3984f, 25.3984f, 25.3984f,
                          -11.3137f, -22.6274f, 11.3137f, 22.6274f, -14.2544f, -28.5088f, 14.2544f, 28.5088f,
                          -17.9594f, -35.9188f, 17.9594f, 35.9188f};
    for (int i = 0; i < 36; i++) NEAR(b[i], want[i], 1e-4);
    /* a later level scales with its stride: stride 128 gives 16x the stride-8 anchors */
    tgc_det_base_anchors(&c, 4, b);
    NEAR(b[0], -22.6274 * 16, 2e-3);
    /* scale_major false: scale-major order, so the second anchor is ratio 1 at scale 4 */
    c.scale_major = 0;
    tgc_det_base_anchors(&c, 0, b);
    NEAR(b[4], -16, 1e-4);
    NEAR(b[7], 16, 1e-4);
    /* center_offset 0.5 moves the base anchors' centre to (4, 4) at stride 8 */
    c.scale_major = 1;
    c.center_offset = 0.5f;
    tgc_det_base_anchors(&c, 0, b);
    NEAR((b[12] + b[14]) / 2, 4, 1e-5);
}
END_TEST

START_TEST(retina_valid_flags) {
    tgc_det_anchor_cfg c;
    tgc_det_anchor_cfg_retinanet(&c);
    const int hw[5][2] = {{80, 80}, {40, 40}, {20, 20}, {10, 10}, {5, 5}};
    tgc_det_anchors a;
    tgc_err err;
    ck_assert_msg(tgc_det_anchors_make(&c, hw, &a, &err) == 0, "%s", err.msg);
    uint8_t *v = malloc((size_t)a.count);
    ck_assert_int_eq(tgc_det_valid_flags(&a, 640, 640, v), a.count);
    const int64_t want[5] = {57600, 14400, 3600, 900, 225};
    for (int l = 0; l < 5; l++) {
        int64_t k = 0;
        for (int64_t i = a.level_start[l]; i < a.level_start[l + 1]; i++) k += v[i];
        ck_assert_int_eq(k, want[l]);
    }
    /* an image padded to 600 x 320 on this 640 x 640 canvas: ceil(pad / stride) cells per level */
    int64_t nv = tgc_det_valid_flags(&a, 600, 320, v);
    int64_t exp = 0;
    for (int l = 0; l < 5; l++) {
        int s = 8 << l;
        int vh = (600 + s - 1) / s, vw = (320 + s - 1) / s;
        vh = vh < hw[l][0] ? vh : hw[l][0];
        exp += (int64_t)vh * vw * 9;
    }
    ck_assert_int_eq(nv, exp);
    ck_assert_int_eq(nv, 75 * 40 * 9 + 38 * 20 * 9 + 19 * 10 * 9 + 10 * 5 * 9 + 5 * 3 * 9);
    /* level 0: cell (y 74, x 39) valid, (74, 40) and (75, 0) not */
    ck_assert_int_eq(v[(74 * 80 + 39) * 9 + 8], 1);
    ck_assert_int_eq(v[(74 * 80 + 40) * 9], 0);
    ck_assert_int_eq(v[(75 * 80 + 0) * 9], 0);
    free(v);
    tgc_det_anchors_free(&a);
}
END_TEST

START_TEST(canvas_anchor_counts) {
    tgc_det_anchor_cfg r, p;
    tgc_det_anchor_cfg_retinanet(&r);
    tgc_det_anchor_cfg_rpn(&p);
    ck_assert_int_eq(tgc_det_anchor_count(&r, 800, 1344), 201600);
    ck_assert_int_eq(tgc_det_anchor_count(&p, 800, 1344), 268569);
    ck_assert_int_eq(tgc_det_anchor_count(&r, 1344, 800), 201600);
    int hw[8][2];
    tgc_det_featmap_sizes(&r, 800, 1344, hw);
    ck_assert_int_eq(hw[3][0], 13); ck_assert_int_eq(hw[3][1], 21);
    ck_assert_int_eq(hw[4][0], 7); ck_assert_int_eq(hw[4][1], 11);
    tgc_det_anchors a;
    tgc_err err;
    ck_assert_msg(tgc_det_anchors_for_canvas(&p, 800, 1344, &a, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(a.count, 268569);
    ck_assert_int_eq(a.level_start[1], 200 * 336 * 3);
    /* the last anchor: level stride 64, cell (12, 20), ratio 2 -> w 512/sqrt2, h 512*sqrt2, centred at (1280, 768) */
    const float *last = a.boxes + 4 * (a.count - 1);
    NEAR((last[0] + last[2]) / 2, 1280, 1e-3);
    NEAR((last[1] + last[3]) / 2, 768, 1e-3);
    NEAR(last[3] - last[1], 512 * sqrt(2.0), 1e-2);
    uint8_t *v = malloc((size_t)a.count);
    ck_assert_int_eq(tgc_det_valid_flags(&a, 800, 1344, v), a.count);
    free(v);
    tgc_det_anchors_free(&a);
    /* the standard generator of the test file: scales [8], 3 ratios, strides [4, 8] -> 3 base anchors per level */
    p.num_levels = 2;
    ck_assert_int_eq(tgc_det_num_base_anchors(&p), 3);
    /* bad configs */
    p.num_ratios = 0;
    ck_assert_int_eq(tgc_det_anchors_for_canvas(&p, 64, 64, &a, &err), -1);
    ck_assert_msg(strstr(err.msg, "ratios"), "%s", err.msg);
    ck_assert_ptr_null(a.boxes);
}
END_TEST

static const char *yaml =
    "model:\n"
    "  bbox_head:\n"
    "    anchor_generator: {type: AnchorGenerator, octave_base_scale: 4, scales_per_octave: 3,\n"
    "                       ratios: [0.5, 1.0, 2.0], strides: [8, 16, 32, 64, 128]}\n"
    "    bbox_coder: {type: DeltaXYWHBBoxCoder, target_means: [0.0, 0.0, 0.0, 0.0], target_stds: [0.1, 0.1, 0.2, 0.2]}\n"
    "  train_cfg:\n"
    "    assigner: {type: MaxIoUAssigner, pos_iou_thr: 0.5, neg_iou_thr: 0.4, min_pos_iou: 0, ignore_iof_thr: -1}\n"
    "    assigner2: {type: MaxIoUAssigner, pos_iou_thr: 0.5, neg_iou_thr: [0.1, 0.5], match_low_quality: false,\n"
    "                iou_calculator: {type: BboxOverlaps2D}, gpu_assign_thr: 100}\n"
    "  test_cfg: {nms_pre: 1000, min_bbox_size: 0, score_thr: 0.05, nms: {type: nms, iou_threshold: 0.5},\n"
    "             max_per_img: 100}\n"
    "  old_test_cfg: {nms_pre: 500, score_thr: 0.05, nms: {iou_thr: 0.6}, max_per_img: 10}\n"
    "  bad:\n"
    "    a1: {type: AnchorGenerator, scales: [8], ratios: [1.0], strides: [4], centers: [[0, 0]]}\n"
    "    a2: {type: AnchorGenerator, scales: [8], ratios: [1.0], strides: [4], foo: 1}\n"
    "    a3: {type: AnchorGenerator, scales: [8], ratios: [1.0, x], strides: [4]}\n"
    "    a4: {type: YOLOAnchorGenerator, strides: [4]}\n"
    "    c1: {type: DeltaXYWHBBoxCoder, target_stds: [1.0, 1.0]}\n"
    "    s1: {type: MaxIoUAssigner, pos_iou_thr: 0.5}\n"
    "    t1: {nms: {type: soft_nms, iou_threshold: 0.5}}\n"
    "    t2: {nms: {type: nms, iou_threshold: 1.5}}\n";

static void fails_with(int rc, const tgc_err *err, const char *path, const char *needle) {
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(err->msg, path) && strstr(err->msg, needle), "'%s' lacks '%s' / '%s'", err->msg, path, needle);
}

START_TEST(from_config) {
    tgc_cfg *root = test_cfg_parse(yaml, "det.yaml");
    tgc_err err;
    tgc_det_anchor_cfg a, ref;
    ck_assert_msg(tgc_det_anchor_cfg_from(tgc_cfg_at(root, "model.bbox_head.anchor_generator"), &a, &err) == 0, "%s",
                  err.msg);
    tgc_det_anchor_cfg_retinanet(&ref);
    ck_assert_int_eq(a.num_levels, 5);
    ck_assert_int_eq(a.strides[4][1], 128);
    ck_assert_int_eq(tgc_det_anchor_count(&a, 800, 1344), 201600);
    float b1[36], b2[36];
    tgc_det_base_anchors(&a, 2, b1);
    tgc_det_base_anchors(&ref, 2, b2);
    ck_assert(memcmp(b1, b2, sizeof b1) == 0);

    tgc_det_coder_cfg cc;
    ck_assert_msg(tgc_det_coder_cfg_from(tgc_cfg_at(root, "model.bbox_head.bbox_coder"), &cc, &err) == 0, "%s", err.msg);
    NEAR(cc.stds[2], 0.2, 1e-7);
    ck_assert_int_eq(cc.clip_border, 1);
    NEAR(cc.wh_ratio_clip, 0.016, 1e-12);

    tgc_det_assigner_cfg as;
    ck_assert_msg(tgc_det_assigner_cfg_from(tgc_cfg_at(root, "model.train_cfg.assigner"), &as, &err) == 0, "%s", err.msg);
    NEAR(as.neg_iou_hi, 0.4, 1e-7);
    NEAR(as.neg_iou_lo, 0, 0);
    ck_assert_int_eq(as.match_low_quality, 1);
    ck_assert_int_eq(as.gt_max_assign_all, 1);
    ck_assert_msg(tgc_det_assigner_cfg_from(tgc_cfg_at(root, "model.train_cfg.assigner2"), &as, &err) == 0, "%s", err.msg);
    NEAR(as.neg_iou_lo, 0.1, 1e-7);
    NEAR(as.neg_iou_hi, 0.5, 1e-7);
    ck_assert_int_eq(as.match_low_quality, 0);

    tgc_det_test_cfg tc;
    ck_assert_msg(tgc_det_test_cfg_from(tgc_cfg_at(root, "model.test_cfg"), &tc, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(tc.nms_pre, 1000); ck_assert_int_eq(tc.max_per_img, 100);
    NEAR(tc.nms_iou, 0.5, 1e-7);
    NEAR(tc.min_bbox_size, 0, 0);
    ck_assert_msg(tgc_det_test_cfg_from(tgc_cfg_at(root, "model.old_test_cfg"), &tc, &err) == 0, "%s", err.msg);
    NEAR(tc.nms_iou, 0.6, 1e-7);
    ck_assert(tc.min_bbox_size < 0); /* absent: no size filter, as MMDetection */

    fails_with(tgc_det_anchor_cfg_from(tgc_cfg_at(root, "model.bad.a1"), &a, &err), &err, "model.bad.a1.centers",
               "not supported");
    fails_with(tgc_det_anchor_cfg_from(tgc_cfg_at(root, "model.bad.a2"), &a, &err), &err, "model.bad.a2.foo", "foo");
    fails_with(tgc_det_anchor_cfg_from(tgc_cfg_at(root, "model.bad.a3"), &a, &err), &err, "model.bad.a3.ratios[1]",
               "number");
    fails_with(tgc_det_anchor_cfg_from(tgc_cfg_at(root, "model.bad.a4"), &a, &err), &err, "model.bad.a4.type",
               "YOLOAnchorGenerator");
    fails_with(tgc_det_coder_cfg_from(tgc_cfg_at(root, "model.bad.c1"), &cc, &err), &err, "model.bad.c1.target_stds",
               "4 numbers");
    fails_with(tgc_det_assigner_cfg_from(tgc_cfg_at(root, "model.bad.s1"), &as, &err), &err, "model.bad.s1",
               "neg_iou_thr");
    fails_with(tgc_det_test_cfg_from(tgc_cfg_at(root, "model.bad.t1"), &tc, &err), &err, "model.bad.t1.nms.type",
               "soft_nms");
    fails_with(tgc_det_test_cfg_from(tgc_cfg_at(root, "model.bad.t2"), &tc, &err), &err,
               "model.bad.t2.nms.iou_threshold", "[0, 1]");
    ck_assert_msg(strstr(err.msg, "det.yaml:"), "%s", err.msg);
    tgc_cfg_free(root);
}
END_TEST

int main(void) {
    Suite *s = suite_create("det_anchors");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, grid_anchors_strides);
    tcase_add_test(tc, retina_base_anchors);
    tcase_add_test(tc, retina_valid_flags);
    tcase_add_test(tc, canvas_anchor_counts);
    tcase_add_test(tc, from_config);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
