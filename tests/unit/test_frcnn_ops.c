/* tests/unit/test_frcnn_ops.c - Faster R-CNN's ops on the CPU: anchor_decode's anchors equal the host's
 * (runtime/det's AnchorGenerator, which the RPN targets use), with the frontend's base anchors
 * (frontend/models/det_common.c) as its attributes: its boxes equal box_decode's of the host's anchors bit
 * for bit, with zero and with random deltas, clipped or not;
 * boxes clipped to nothing and padding indices get score -inf; out-of-range indices are refused.
 * softmax_cross_entropy_masked against a double reference (padding rows neither add nor count; all padding
 * gives 0), its gradient by finite differences and bad labels refused; class_box_targets' layout and
 * normaliser; accuracy_masked's percentage (padding rows left out, ties to the first maximum). */
#include <float.h>

#include "frontend/models/det_common.h"
#include "runtime/det/det.h"
#include "tests/unit/test_backend_cpu_util.h"

static tgc_cpu *new_cpu(int threads) {
    tgc_err err;
    tgc_cpu *c = tgc_cpu_new(threads, 1, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    return c;
}

/* The RPN's generator (scales [8], ratios [0.5, 1, 2], strides 4..64) as the frontend reads it. */
static tgc_detm_anchor_cfg frontend_rpn(void) {
    tgc_detm_anchor_cfg ac;
    memset(&ac, 0, sizeof ac);
    ac.n_ratios = 3, ac.n_scales = 1, ac.n_base = 3, ac.n_strides = 5, ac.scale_major = 1;
    ac.ratios[0] = 0.5f, ac.ratios[1] = 1.0f, ac.ratios[2] = 2.0f, ac.scales[0] = 8;
    for (int l = 0; l < 5; l++) ac.strides[l] = 4 << l;
    return ac;
}

static tgc_attrs decode_attrs(const tgc_detm_anchor_cfg *ac, int level, int64_t h, int64_t w, int clip) {
    tgc_attrs a = tgc_attrs_default();
    float base[36];
    tgc_detm_base_anchors_of(ac, level, base);
    a.stride[0] = a.stride[1] = ac->strides[level];
    a.shape = tgc_shape_make(3, (int64_t[]){h, w, ac->n_base});
    for (int i = 0; i < 4 * ac->n_base; i++) a.base_anchors[i] = base[i];
    a.clip_border = clip;
    return a;
}

static void run_decode(tgc_cpu *c, const tgc_attrs *a, int64_t B, int64_t k, int32_t *idx, float *d, float *s, float *ms,
                       float *boxes, float *so) {
    tgc_type in[] = {tu_t(TGC_I32, tgc_shape2(B, k)), tu_t(TGC_F32, tgc_shape_make(3, (int64_t[]){B, k, 4})), tu_f2(B, k),
                     tu_f2(B, 2)};
    tgc_type out[] = {in[1], in[2]};
    void *ip[] = {idx, d, s, ms}, *op[] = {boxes, so};
    tu_exec(c, TGC_OP_ANCHOR_DECODE, a, 4, in, ip, 2, out, op);
}

/* box_decode of the host's anchors (no clipping) by `d` at level-local indices idx: ref [k, 4]. */
static void host_decode(tgc_cpu *c, const tgc_det_anchors *ha, int l, const int32_t *idx, int64_t B, int64_t k, float *d,
                        float *ms, int clip, float *ref) {
    float *anchors = tu_zeros(B * k * 4);
    for (int64_t i = 0; i < B * k; i++)
        if (idx[i] >= 0) memcpy(anchors + 4 * i, ha->boxes + 4 * (ha->level_start[l] + idx[i]), 16);
    tgc_attrs da = tgc_attrs_default();
    da.clip_border = clip;
    tgc_type bt = tu_t(TGC_F32, tgc_shape_make(3, (int64_t[]){B, k, 4}));
    tgc_type in[] = {bt, bt, tu_f2(B, 2)};
    void *ip[] = {anchors, d, ms}, *op[] = {ref};
    tu_exec(c, TGC_OP_BOX_DECODE, &da, 3, in, ip, 1, &bt, op);
    free(anchors);
}

/* Zero deltas, no clipping: the decoded anchors equal box_decode's of the host's anchors, bit for bit, on every
 * level of a 96 x 160 canvas (levels 24x40 .. 2x3), at every index of the level. */
START_TEST(anchor_decode_equals_host_anchors) {
    tgc_cpu *c = new_cpu(2);
    tgc_detm_anchor_cfg ac = frontend_rpn();
    tgc_det_anchor_cfg hc;
    tgc_det_anchor_cfg_rpn(&hc);
    tgc_det_anchors ha;
    tgc_err err;
    ck_assert_msg(tgc_det_anchors_for_canvas(&hc, 96, 160, &ha, &err) == 0, "%s", err.msg);
    for (int l = 0; l < 5; l++) {
        int64_t h = ha.feat_hw[l][0], w = ha.feat_hw[l][1], n = h * w * 3;
        ck_assert_int_eq(ha.level_start[l + 1] - ha.level_start[l], n);
        tgc_attrs a = decode_attrs(&ac, l, h, w, 0);
        int32_t *idx = malloc(sizeof(int32_t) * (size_t)n);
        float *d = tu_zeros(n * 4), *s = tu_rand(n, 0, 1), *ms = tu_rand(2, 10, 20), *boxes = tu_zeros(n * 4), *so = tu_zeros(n);
        float *ref = tu_zeros(n * 4);
        for (int64_t i = 0; i < n; i++) idx[i] = (int32_t)(n - 1 - i); /* reversed: any order */
        run_decode(c, &a, 1, n, idx, d, s, ms, boxes, so);
        host_decode(c, &ha, l, idx, 1, n, d, ms, 0, ref);
        for (int64_t i = 0; i < n; i++) {
            const float *want = ref + 4 * i;
            ck_assert_msg(!memcmp(boxes + 4 * i, want, 16), "level %d anchor %d: (%g %g %g %g), host (%g %g %g %g)", l, idx[i],
                          (double)boxes[4 * i], (double)boxes[4 * i + 1], (double)boxes[4 * i + 2], (double)boxes[4 * i + 3],
                          (double)want[0], (double)want[1], (double)want[2], (double)want[3]);
            ck_assert(so[i] == s[i]); /* min_bbox_size 0: every anchor has w, h > 0 */
        }
        free(idx), free(d), free(s), free(ms), free(boxes), free(so), free(ref);
    }
    tgc_det_anchors_free(&ha);
    tgc_cpu_free(c);
}
END_TEST

/* Random deltas, two images with their own img_shape: the boxes equal box_decode's of the host's anchors
 * (clipped, wh_ratio_clip applied); a box clipped to zero width and index -1 get score -inf. */
START_TEST(anchor_decode_equals_box_decode) {
    tgc_cpu *c = new_cpu(2);
    tgc_detm_anchor_cfg ac = frontend_rpn();
    tgc_det_anchor_cfg hc;
    tgc_det_anchor_cfg_rpn(&hc);
    tgc_det_anchors ha;
    tgc_err err;
    ck_assert_msg(tgc_det_anchors_for_canvas(&hc, 64, 80, &ha, &err) == 0, "%s", err.msg);
    int64_t B = 2, h = 8, w = 10, k = 50, n = h * w * 3;
    tgc_attrs a = decode_attrs(&ac, 1, h, w, 1); /* stride 8 */
    a.min_bbox_size = 2;
    int32_t idx[2 * 50];
    float *d = tu_rand(B * k * 4, -3, 3), *s = tu_rand(B * k, 0, 1), ms[] = {40, 56, 64, 30};
    for (int64_t i = 0; i < B * k; i++) idx[i] = (int32_t)(tu_next() % (uint64_t)n);
    idx[7] = -1;
    float *boxes = tu_zeros(B * k * 4), *so = tu_zeros(B * k), *ref = tu_zeros(B * k * 4);
    run_decode(c, &a, B, k, idx, d, s, ms, boxes, so);
    host_decode(c, &ha, 1, idx, B, k, d, ms, 1, ref);
    tgc_type bt = tu_t(TGC_F32, tgc_shape_make(3, (int64_t[]){B, k, 4}));
    int dropped = 0;
    for (int64_t i = 0; i < B * k; i++) {
        if (idx[i] < 0) {
            ck_assert(isinf(so[i]) && so[i] < 0);
            ck_assert(boxes[4 * i] == 0 && boxes[4 * i + 3] == 0);
            continue;
        }
        ck_assert_msg(!memcmp(boxes + 4 * i, ref + 4 * i, 16), "box %lld differs from box_decode's", (long long)i);
        float bw = boxes[4 * i + 2] - boxes[4 * i], bh = boxes[4 * i + 3] - boxes[4 * i + 1];
        int keep = bw > 2.0f && bh > 2.0f;
        dropped += !keep;
        ck_assert_msg(keep ? so[i] == s[i] : (isinf(so[i]) && so[i] < 0), "score %lld: %g for a %gx%g box", (long long)i,
                      (double)so[i], (double)bw, (double)bh);
    }
    ck_assert_int_gt(dropped, 0); /* deltas of +-3 on a 40x56 image clip some boxes to nothing */
    /* an index past the level is refused */
    idx[3] = (int32_t)n;
    tgc_type tin[] = {tu_t(TGC_I32, tgc_shape2(B, k)), bt, tu_f2(B, k), tu_f2(B, 2)}, tout[] = {bt, tu_f2(B, k)};
    void *tip[] = {idx, d, s, ms}, *top[] = {boxes, so};
    tu_exec_fails(c, TGC_OP_ANCHOR_DECODE, &a, 4, tin, tip, 2, tout, top, "is outside [-1, 240)");
    free(d), free(s), free(boxes), free(so), free(ref);
    tgc_det_anchors_free(&ha);
    tgc_cpu_free(c);
}
END_TEST

/* ---- softmax_cross_entropy_masked --------------------------------------------------------------------------- */
static double ce_ref(const float *x, const int32_t *y, int64_t n, int64_t k, double alpha) {
    double s = 0;
    int64_t cnt = 0;
    for (int64_t r = 0; r < n; r++) {
        if (y[r] < 0) continue;
        double m = -INFINITY, e = 0;
        for (int64_t c = 0; c < k; c++) m = fmax(m, x[r * k + c]);
        for (int64_t c = 0; c < k; c++) e += exp(x[r * k + c] - m);
        s += m + log(e) - x[r * k + y[r]];
        cnt++;
    }
    return alpha * s / (double)(cnt > 0 ? cnt : 1);
}

START_TEST(softmax_ce_masked_values_and_grad) {
    tgc_cpu *c = new_cpu(2);
    int64_t n = 37, k = 11;
    float *x = tu_rand(n * k, -4, 4), loss = 0, *dx = tu_zeros(n * k), dl = 1;
    int32_t y[37];
    for (int64_t r = 0; r < n; r++) y[r] = r % 5 == 3 ? -1 : (int32_t)(tu_next() % (uint64_t)k);
    tgc_attrs a = tgc_attrs_default();
    a.alpha = 1.5;
    tgc_type in[] = {tu_f2(n, k), tu_t(TGC_I32, tgc_shape1(n))}, out = tu_f0();
    void *ip[] = {x, y}, *op[] = {&loss};
    tu_exec(c, TGC_OP_SOFTMAX_CE_MASKED, &a, 2, in, ip, 1, &out, op);
    double want = ce_ref(x, y, n, k, 1.5);
    ck_assert_msg(fabs(loss - want) <= 1e-6 * fabs(want), "loss %.8g, expected %.8g", (double)loss, want);
    tgc_type bin[] = {tu_f0(), in[0], in[1]};
    void *bip[] = {&dl, x, y}, *bop[] = {dx};
    tu_exec(c, TGC_OP_SOFTMAX_CE_MASKED_BWD, &a, 3, bin, bip, 1, &in[0], bop);
    for (int64_t r = 0; r < n; r++)
        if (y[r] < 0)
            for (int64_t q = 0; q < k; q++) ck_assert(dx[r * k + q] == 0);
    float r1 = 1;
    tu_fwd f = {c, TGC_OP_SOFTMAX_CE_MASKED, &a, 2, 1, {in[0], in[1]}, {out}, {x, y}, {&loss}, &r1, 0, {0}, {0}};
    tu_fd_check(&f, 0, dx, 1e-2, 2e-2, 200, "softmax_cross_entropy_masked");
    /* only padding: 0, and a zero gradient */
    for (int64_t r = 0; r < n; r++) y[r] = -1;
    tu_exec(c, TGC_OP_SOFTMAX_CE_MASKED, &a, 2, in, ip, 1, &out, op);
    ck_assert(loss == 0);
    /* a label past the classes is refused */
    y[4] = (int32_t)k;
    tu_exec_fails(c, TGC_OP_SOFTMAX_CE_MASKED, &a, 2, in, ip, 1, &out, op, "label 11 of row 4 is outside [-1, 11)");
    free(x), free(dx);
    tgc_cpu_free(c);
}
END_TEST

/* ---- class_box_targets ------------------------------------------------------------------------------------------ */
START_TEST(class_box_targets_layout) {
    tgc_cpu *c = new_cpu(1);
    int64_t n = 5, C = 3;
    int32_t lab[] = {2, 3, -1, 0, 1}; /* positive, negative (C), padding, positives */
    float t[20], y[60], w[60], avg = 0;
    for (int i = 0; i < 20; i++) t[i] = (float)(i + 1);
    tgc_attrs a = tgc_attrs_default();
    a.num_classes = C;
    tgc_type in[] = {tu_t(TGC_I32, tgc_shape1(n)), tu_f2(n, 4)}, out[] = {tu_f2(n, 12), tu_f2(n, 12), tu_f1(1)};
    void *ip[] = {lab, t}, *op[] = {y, w, &avg};
    tu_exec(c, TGC_OP_CLASS_BOX_TARGETS, &a, 2, in, ip, 3, out, op);
    ck_assert(avg == 4.0f); /* every row but the padding one */
    for (int64_t r = 0; r < n; r++)
        for (int64_t e = 0; e < 12; e++) {
            int on = lab[r] >= 0 && lab[r] < C && e / 4 == lab[r];
            ck_assert_msg(w[r * 12 + e] == (on ? 1.0f : 0.0f), "weight [%lld,%lld]", (long long)r, (long long)e);
            ck_assert_msg(y[r * 12 + e] == (on ? t[r * 4 + e % 4] : 0.0f), "target [%lld,%lld]", (long long)r, (long long)e);
        }
    lab[0] = 4;
    tu_exec_fails(c, TGC_OP_CLASS_BOX_TARGETS, &a, 2, in, ip, 3, out, op, "label 4 of row 0 is above num_classes 3");
    for (int i = 0; i < 5; i++) lab[i] = -1;
    tu_exec(c, TGC_OP_CLASS_BOX_TARGETS, &a, 2, in, ip, 3, out, op);
    ck_assert(avg == 1.0f); /* at least 1 */
    tgc_cpu_free(c);
}
END_TEST

START_TEST(accuracy_masked_values) {
    tgc_cpu *c = new_cpu(1);
    /* rows: correct, wrong, a tie (first maximum: class 0) labelled 0, a tie labelled 1, padding (would be correct) */
    float x[] = {0, 3, 1, 5, 2, 1, 2, 2, 0, 4, 4, 1, 9, 0, 0};
    int32_t y[] = {1, 1, 0, 1, -1};
    float acc = -1;
    tgc_attrs a = tgc_attrs_default();
    tgc_type in[] = {tu_f2(5, 3), tu_t(TGC_I32, tgc_shape1(5))}, out = tu_f0();
    void *ip[] = {x, y}, *op[] = {&acc};
    tu_exec(c, TGC_OP_ACCURACY_MASKED, &a, 2, in, ip, 1, &out, op);
    ck_assert_msg(acc == 50.0f, "accuracy %g, expected 50 (2 of 4 counted rows)", (double)acc);
    for (int i = 0; i < 5; i++) y[i] = -1;
    tu_exec(c, TGC_OP_ACCURACY_MASKED, &a, 2, in, ip, 1, &out, op);
    ck_assert(acc == 0.0f);
    tgc_cpu_free(c);
}
END_TEST

int main(void) {
    Suite *s = suite_create("frcnn_ops");
    TCase *tc = tcase_create("frcnn");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, anchor_decode_equals_host_anchors);
    tcase_add_test(tc, anchor_decode_equals_box_decode);
    tcase_add_test(tc, softmax_ce_masked_values_and_grad);
    tcase_add_test(tc, class_box_targets_layout);
    tcase_add_test(tc, accuracy_masked_values);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
