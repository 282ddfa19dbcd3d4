/* tests/unit/test_backend_cpu_roi.c - the detection ops' CPU kernels: mmcv's own RoIAlign and NMS test
 * vectors, roi_align's gradient by finite differences, its backward bit-identical for 1, 2 and 3 threads
 * and across runs, the SingleRoIExtractor level rule (finest_scale 56) and the levels adding up to the
 * unmasked result, topk's order (ties, NaN), nms_fixed's padding, class ids and max_out, smooth_l1's values
 * and gradient, MMDetection's DeltaXYWHBBoxCoder decode vector and the encode/decode round trip, box_iou's
 * values, gather's fill, giou_loss's value and gradient, and bad operands refused with a message. */
#include <float.h>

#include "tests/unit/test_backend_cpu_util.h"

static tgc_cpu *new_cpu(int threads) {
    tgc_err err;
    tgc_cpu *c = tgc_cpu_new(threads, 1, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    return c;
}

static tgc_attrs roi_attrs(int64_t out, int64_t sr, int aligned, double scale) {
    tgc_attrs a = tgc_attrs_default();
    a.output_size[0] = a.output_size[1] = out;
    a.sampling_ratio = sr, a.aligned = aligned, a.spatial_scale = scale;
    return a;
}

static void roi_fwd(tgc_cpu *c, const tgc_attrs *a, tgc_type xt, float *x, int64_t k, float *rois, float *y) {
    tgc_type in[] = {xt, tu_f2(k, 5)}, out = tu_f4(k, xt.shape.d[1], a->output_size[0], a->output_size[1]);
    void *ip[] = {x, rois}, *op[] = {y};
    tu_exec(c, TGC_OP_ROI_ALIGN, a, 2, in, ip, 1, &out, op);
}

static void roi_bwd(tgc_cpu *c, const tgc_attrs *a0, tgc_type xt, int64_t k, float *rois, float *dy, float *dx) {
    tgc_attrs a = *a0;
    a.shape = xt.shape;
    tgc_type in[] = {tu_f4(k, xt.shape.d[1], a.output_size[0], a.output_size[1]), tu_f2(k, 5)};
    void *ip[] = {dy, rois}, *op[] = {dx};
    tu_exec(c, TGC_OP_ROI_ALIGN_BWD, &a, 2, in, ip, 1, &xt, op);
}

/* mmcv tests/test_ops/test_roi_align.py: output 2x2, spatial_scale 1, sampling_ratio 2, aligned; the first two
 * cases (one and two channels). */
START_TEST(roi_align_mmcv_vectors) {
    tgc_cpu *c = new_cpu(1);
    tgc_attrs a = roi_attrs(2, 2, 1, 1.0);
    float x[] = {1, 2, 3, 4, 4, 3, 2, 1}, rois[] = {0, 0, 0, 1, 1}, y[8], dy[8], dx[8];
    const float want_y[] = {1.0f, 1.25f, 1.5f, 1.75f, 4.0f, 3.75f, 3.5f, 3.25f};
    const float want_dx[] = {3.0625f, 0.4375f, 0.4375f, 0.0625f};
    for (int ch = 1; ch <= 2; ch++) {
        roi_fwd(c, &a, tu_f4(1, ch, 2, 2), x, 1, rois, y);
        for (int i = 0; i < 4 * ch; i++) ck_assert_msg(fabsf(y[i] - want_y[i]) < 1e-6f, "y[%d] %g", i, (double)y[i]);
        for (int i = 0; i < 4 * ch; i++) dy[i] = 1;
        roi_bwd(c, &a, tu_f4(1, ch, 2, 2), 1, rois, dy, dx);
        for (int i = 0; i < 4 * ch; i++)
            ck_assert_msg(fabsf(dx[i] - want_dx[i % 4]) < 1e-6f, "dx[%d] %g", i, (double)dx[i]);
    }
    tgc_cpu_free(c);
}
END_TEST

/* RoIs inside [lo, hi]^2 of a w x h image (random batch index among n). */
static float *rand_rois(int64_t k, int64_t n, double w, double h) {
    float *r = malloc(sizeof(float) * (size_t)k * 5);
    for (int64_t i = 0; i < k; i++) {
        double x1 = tu_unif(-2, w * 0.7), y1 = tu_unif(-2, h * 0.7);
        r[i * 5] = (float)(tu_next() % (uint64_t)n);
        r[i * 5 + 1] = (float)x1, r[i * 5 + 2] = (float)y1;
        r[i * 5 + 3] = (float)(x1 + tu_unif(0.5, w * 0.6)), r[i * 5 + 4] = (float)(y1 + tu_unif(0.5, h * 0.6));
    }
    return r;
}

/* roi_align is linear in x: its finite differences are exact up to rounding, for any RoI geometry. */
static void roi_fd_case(int64_t sr, int aligned, double scale) {
    tgc_cpu *c = new_cpu(2);
    tgc_attrs a = roi_attrs(3, sr, aligned, scale);
    int64_t n = 2, ch = 3, h = 7, w = 9, k = 6;
    tgc_type xt = tu_f4(n, ch, h, w);
    float *x = tu_rand(n * ch * h * w, -1, 1), *rois = rand_rois(k, n, w / scale, h / scale);
    float *y = tu_zeros(k * ch * 9), *r = tu_rand(k * ch * 9, -1, 1), *dx = tu_zeros(n * ch * h * w);
    tu_fwd f = {c, TGC_OP_ROI_ALIGN, &a, 2, 1, {xt, tu_f2(k, 5)}, {tu_f4(k, ch, 3, 3)}, {x, rois}, {y}, r, 0, {0}, {0}};
    roi_bwd(c, &a, xt, k, rois, r, dx);
    tu_fd_check(&f, 0, dx, 1e-2, 2e-3, 400, "roi_align");
    free(x), free(rois), free(y), free(r), free(dx);
    tgc_cpu_free(c);
}

START_TEST(roi_align_fd_adaptive_aligned) { roi_fd_case(0, 1, 0.5); }
END_TEST
START_TEST(roi_align_fd_fixed_grid) { roi_fd_case(2, 1, 1.0); }
END_TEST
START_TEST(roi_align_fd_not_aligned) { roi_fd_case(0, 0, 0.25); }
END_TEST

/* The scatter-add gives the same bits for any thread count and on every run (many overlapping RoIs). */
START_TEST(roi_align_bwd_deterministic) {
    int64_t n = 2, ch = 5, h = 13, w = 17, k = 64;
    tgc_attrs a = roi_attrs(7, 0, 1, 0.5);
    tgc_type xt = tu_f4(n, ch, h, w);
    float *rois = rand_rois(k, n, w * 2, h * 2), *dy = tu_rand(k * ch * 49, -1, 1);
    float *ref = tu_zeros(n * ch * h * w), *got = tu_zeros(n * ch * h * w);
    tgc_cpu *c1 = new_cpu(1);
    roi_bwd(c1, &a, xt, k, rois, dy, ref);
    for (int threads = 1; threads <= 3; threads++)
        for (int run = 0; run < 2; run++) {
            tgc_cpu *c = new_cpu(threads);
            memset(got, 0xff, sizeof(float) * (size_t)(n * ch * h * w));
            roi_bwd(c, &a, xt, k, rois, dy, got);
            ck_assert_msg(!memcmp(got, ref, sizeof(float) * (size_t)(n * ch * h * w)), "%d threads, run %d differ", threads, run);
            tgc_cpu_free(c);
        }
    double s = 0;
    for (int64_t i = 0; i < n * ch * h * w; i++) s += fabs(ref[i]);
    ck_assert(s > 1); /* something was scattered */
    tgc_cpu_free(c1);
    free(rois), free(dy), free(ref), free(got);
}
END_TEST

/* SingleRoIExtractor: level = floor(log2(sqrt(w*h)/56 + 1e-6)) clamped to [0, 3]; each level's op keeps its
 * RoIs' rows and zeroes the others', so the four add up to the unmasked result (here on one feature map). */
START_TEST(roi_align_levels) {
    tgc_cpu *c = new_cpu(2);
    const float side[] = {10, 55.9f, 56, 111.9f, 112, 224, 447, 448, 1000};
    const int level[] = {0, 0, 0, 0, 1, 2, 2, 3, 3};
    int64_t k = 9, ch = 2, h = 40, w = 40;
    float rois[9 * 5];
    for (int i = 0; i < k; i++) {
        rois[i * 5] = 0, rois[i * 5 + 1] = 3, rois[i * 5 + 2] = 5;
        rois[i * 5 + 3] = 3 + side[i], rois[i * 5 + 4] = 5 + side[i];
    }
    tgc_type xt = tu_f4(1, ch, h, w);
    float *x = tu_rand(ch * h * w, -1, 1), *all = tu_zeros(k * ch * 49), *sum = tu_zeros(k * ch * 49), *y = tu_zeros(k * ch * 49);
    tgc_attrs a = roi_attrs(7, 0, 1, 1.0 / 32);
    roi_fwd(c, &a, xt, x, k, rois, all);
    a.num_levels = 4;
    for (int l = 0; l < 4; l++) {
        a.roi_level = l;
        roi_fwd(c, &a, xt, x, k, rois, y);
        for (int i = 0; i < k; i++) {
            int nonzero = 0;
            for (int j = 0; j < ch * 49; j++) nonzero |= y[i * ch * 49 + j] != 0;
            ck_assert_msg(nonzero == (level[i] == l), "RoI of side %g on level %d: %s", (double)side[i], l,
                          nonzero ? "kept" : "dropped");
        }
        for (int64_t j = 0; j < k * ch * 49; j++) sum[j] += y[j];
    }
    ck_assert(!memcmp(sum, all, sizeof(float) * (size_t)(k * ch * 49)));
    free(x), free(all), free(sum), free(y);
    tgc_cpu_free(c);
}
END_TEST

START_TEST(roi_align_bad_rois) {
    tgc_cpu *c = new_cpu(1);
    tgc_attrs a = roi_attrs(2, 0, 1, 1.0);
    float x[4] = {0}, y[4], rois[] = {1, 0, 0, 1, 1};
    tgc_type in[] = {tu_f4(1, 1, 2, 2), tu_f2(1, 5)}, out = tu_f4(1, 1, 2, 2);
    void *ip[] = {x, rois}, *op[] = {y};
    tu_exec_fails(c, TGC_OP_ROI_ALIGN, &a, 2, in, ip, 1, &out, op, "RoI 0 has batch index 1");
    rois[0] = 0, rois[3] = 1e9f;
    tu_exec_fails(c, TGC_OP_ROI_ALIGN, &a, 2, in, ip, 1, &out, op, "samples per bin");
    a.roi_level = 0, a.num_levels = 4; /* the same RoI maps to level 3: another level's, a zero row */
    y[0] = 1;
    tu_exec(c, TGC_OP_ROI_ALIGN, &a, 2, in, ip, 1, &out, op);
    ck_assert(y[0] == 0 && y[3] == 0);
    a.roi_level = -1, a.num_levels = 1;
    tgc_type bad[] = {tu_f4(1, 1, 2, 2), tu_f2(1, 4)};
    tu_exec_fails(c, TGC_OP_ROI_ALIGN, &a, 2, bad, ip, 1, &out, op, "rois must be [K,5]");
    tgc_cpu_free(c);
}
END_TEST

/* ---- topk ---------------------------------------------------------------------------------------- */
START_TEST(topk_order) {
    tgc_cpu *c = new_cpu(2);
    float x[] = {1, 3, 3, NAN, -INFINITY, 2, /* row 2 */ 0, -1, 5, 5, 5, 4}, v[8];
    int32_t ix[8];
    tgc_attrs a = tgc_attrs_default();
    a.k = 4;
    tgc_type in = tu_f2(2, 6), out[] = {tu_f2(2, 4), tu_t(TGC_I32, tgc_shape2(2, 4))};
    void *ip[] = {x}, *op[] = {v, ix};
    tu_exec(c, TGC_OP_TOPK, &a, 1, &in, ip, 2, out, op);
    const int32_t want[] = {3, 1, 2, 5, 2, 3, 4, 5};
    for (int i = 0; i < 8; i++) ck_assert_int_eq(ix[i], want[i]);
    ck_assert(isnan(v[0]) && v[1] == 3 && v[3] == 2 && v[4] == 5 && v[7] == 4);
    a.k = 7;
    tgc_type big[] = {tu_f2(2, 7), tu_t(TGC_I32, tgc_shape2(2, 7))};
    tu_exec_fails(c, TGC_OP_TOPK, &a, 1, &in, ip, 2, big, op, "k=7");
    tgc_cpu_free(c);
}
END_TEST

/* ---- nms_fixed ------------------------------------------------------------------------------------ */
static void nms(tgc_cpu *c, int64_t b, int64_t n, int64_t k, double thr, float *boxes, float *scores, int32_t *ids,
                int32_t *keep, int32_t *count) {
    tgc_attrs a = tgc_attrs_default();
    a.k = k, a.iou_threshold = thr;
    tgc_type in[] = {tu_t(TGC_F32, tgc_shape_make(3, (int64_t[]){b, n, 4})), tu_f2(b, n), tu_t(TGC_I32, tgc_shape2(b, n))};
    tgc_type out[] = {tu_t(TGC_I32, tgc_shape2(b, k)), tu_t(TGC_I32, tgc_shape1(b))};
    void *ip[] = {boxes, scores, ids}, *op[] = {keep, count};
    tu_exec(c, TGC_OP_NMS_FIXED, &a, 3, in, ip, 2, out, op);
}

/* mmcv tests/test_ops/test_nms.py: IoU 0.3 keeps [1, 0, 3]; here with max_out 5 (two -1 pads), then
 * a second image with class ids, a padded (-inf) box and a max_out that cuts the kept list. */
START_TEST(nms_mmcv_vector_and_padding) {
    tgc_cpu *c = new_cpu(2);
    float boxes[] = {6, 3, 8, 7, 3, 6, 9, 11, 3, 7, 10, 12, 1, 4, 13, 7,
                     /* image 2 */ 0, 0, 10, 10, 0, 0, 10, 10, 1, 1, 11, 11, 50, 50, 60, 60};
    float scores[] = {0.6f, 0.9f, 0.7f, 0.2f, /* image 2 */ 0.5f, 0.5f, 0.9f, -INFINITY};
    int32_t ids[] = {0, 0, 0, 0, /* image 2: box 1 is another class */ 0, 1, 0, 0}, keep[10], count[2];
    nms(c, 2, 4, 5, 0.3, boxes, scores, ids, keep, count);
    const int32_t want[] = {1, 0, 3, -1, -1, /* image 2 */ 2, 1, -1, -1, -1};
    for (int i = 0; i < 10; i++) ck_assert_msg(keep[i] == want[i], "keep[%d] = %d, expected %d", i, keep[i], want[i]);
    ck_assert_int_eq(count[0], 3);
    ck_assert_int_eq(count[1], 2);
    nms(c, 2, 4, 2, 0.3, boxes, scores, ids, keep, count); /* max_out 2 */
    ck_assert(keep[0] == 1 && keep[1] == 0 && count[0] == 2 && keep[2] == 2 && keep[3] == 1 && count[1] == 2);
    /* ties to the lower index: boxes 0 and 1 of image 2 equal in score, box 0 first when one class */
    ids[5] = 0, scores[6] = 0.1f;
    nms(c, 2, 4, 5, 0.3, boxes, scores, ids, keep, count);
    ck_assert(keep[5] == 0 && count[1] == 1);
    tgc_cpu_free(c);
}
END_TEST

/* ---- smooth_l1 ------------------------------------------------------------------------------------ */
START_TEST(smooth_l1_values_and_grad) {
    tgc_cpu *c = new_cpu(2);
    tgc_attrs a = tgc_attrs_default();
    a.beta = 1.0, a.alpha = 2.0;
    float p[] = {0.5f, 2, -3, 0.25f}, t[] = {0, 0, 0, 0}, w[] = {1, 1, 0, 2}, avg = 4, loss;
    tgc_type ft = tu_f1(4), at = tu_f1(1), lt = tu_f0();
    tgc_type in[] = {ft, ft, ft, at};
    void *ip[] = {p, t, w, &avg}, *op[] = {&loss};
    tu_exec(c, TGC_OP_SMOOTH_L1, &a, 4, in, ip, 1, &lt, op);
    /* 0.125 + 1.5 + (masked) + 2 * 0.03125 = 1.6875; * alpha / (avg + eps) */
    ck_assert(fabs(loss - 2.0 * 1.6875 / (4.0 + FLT_EPSILON)) < 1e-6);
    /* finite differences (a small case: the loss is one float), beta 0.5 and beta 0 (L1); then the same bits
     * from 1 and 2 threads on a case of several reduction blocks */
    for (int b = 0; b < 4; b++) {
        int64_t n = b < 2 ? 60 : 3 * 5000;
        a.beta = b % 2 ? 0.0 : 0.5, a.alpha = 1.5;
        float *P = tu_rand(n, -2, 2), *T = tu_rand(n, -2, 2), *W = tu_rand(n, 0, 1), *dP = tu_zeros(n), one = 1, r = 1;
        float a2 = b < 2 ? 1 : 37;
        for (int64_t i = 0; i < n; i += 3) W[i] = 0;
        tgc_type fn = tu_f1(n), tin[] = {fn, fn, fn, tu_f0()};
        tu_fwd f = {c, TGC_OP_SMOOTH_L1, &a, 4, 1, {fn, fn, fn, tu_f0()}, {lt}, {P, T, W, &a2}, {&loss}, &r, 0, {0}, {0}};
        (void)tin;
        tgc_type bin[] = {lt, fn, fn, fn, tu_f0()};
        void *bp[] = {&one, P, T, W, &a2}, *bo[] = {dP};
        tu_exec(c, TGC_OP_SMOOTH_L1_BWD, &a, 5, bin, bp, 1, &fn, bo);
        if (b < 2) tu_fd_check(&f, 0, dP, 1e-3, 2e-2, 300, b ? "l1" : "smooth_l1");
        /* one thread gives the same bits */
        float l2;
        tgc_cpu *c1 = new_cpu(1);
        void *ip2[] = {P, T, W, &a2}, *op2[] = {&l2};
        tu_exec(c1, TGC_OP_SMOOTH_L1, &a, 4, tin, ip2, 1, &lt, op2);
        tu_loss(&f);
        ck_assert(!memcmp(&l2, &loss, sizeof loss));
        tgc_cpu_free(c1);
        free(P), free(T), free(W), free(dP);
    }
    tgc_cpu_free(c);
}
END_TEST

/* ---- box_iou, box_encode, box_decode, gather -------------------------------------------------------- */
static tgc_type f3(int64_t a, int64_t b, int64_t c) { return tu_t(TGC_F32, tgc_shape_make(3, (int64_t[]){a, b, c})); }

/* mmdetection tests/test_models/test_task_modules/test_coder/test_delta_xywh_bbox_coder.py: decode with
 * max_shape (32, 32); then encode(decode(d)) == d away from the clamps, with the R-CNN stds. */
START_TEST(box_coder_mmdet_vector) {
    tgc_cpu *c = new_cpu(2);
    float rois[] = {0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 5, 5, 5, 5};
    float deltas[] = {0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 2, -1, 0.7f, -1.9f, -0.5f, 0.3f}, ms[] = {32, 32}, y[16];
    const float want[] = {0, 0, 1, 1, 0.1409f, 0.1409f, 2.8591f, 2.8591f, 0, 0.3161f, 4.1945f, 0.6839f, 5, 5, 5, 5};
    tgc_attrs a = tgc_attrs_default();
    tgc_type in[] = {f3(1, 4, 4), f3(1, 4, 4), tu_f2(1, 2)}, out = f3(1, 4, 4);
    void *ip[] = {rois, deltas, ms}, *op[] = {y};
    tu_exec(c, TGC_OP_BOX_DECODE, &a, 3, in, ip, 1, &out, op);
    for (int i = 0; i < 16; i++) ck_assert_msg(fabsf(y[i] - want[i]) < 1e-4f, "decode[%d] %g, expected %g", i, (double)y[i], (double)want[i]);
    /* dw, dh clamped to |log(16/1000)|: a 1-pixel box grows to at most 62.5 and shrinks to 0.016 */
    float r1[] = {99.5f, 99.5f, 100.5f, 100.5f}, d1[] = {0, 0, 10, -10}, m1[] = {1000, 1000}, y1[4];
    tgc_type in1[] = {f3(1, 1, 4), f3(1, 1, 4), tu_f2(1, 2)}, out1 = f3(1, 1, 4);
    void *ip1[] = {r1, d1, m1}, *op1[] = {y1};
    tu_exec(c, TGC_OP_BOX_DECODE, &a, 3, in1, ip1, 1, &out1, op1);
    ck_assert_msg(fabsf(y1[2] - y1[0] - 62.5f) < 1e-3f && fabsf(y1[3] - y1[1] - 0.016f) < 1e-5f, "clamped box %g x %g",
                  (double)(y1[2] - y1[0]), (double)(y1[3] - y1[1]));
    /* round trip */
    int64_t n = 50;
    float *p = tu_zeros(n * 4), *d = tu_rand(n * 4, -0.5, 0.5), *b = tu_zeros(n * 4), *e = tu_zeros(n * 4), big[] = {1e4f, 1e4f};
    for (int64_t i = 0; i < n; i++) {
        p[i * 4] = (float)tu_unif(100, 200), p[i * 4 + 1] = (float)tu_unif(100, 200); /* inside max_shape */
        p[i * 4 + 2] = p[i * 4] + (float)tu_unif(5, 50), p[i * 4 + 3] = p[i * 4 + 1] + (float)tu_unif(5, 50);
    }
    a.target_stds[0] = a.target_stds[1] = 0.1, a.target_stds[2] = a.target_stds[3] = 0.2;
    tgc_type bt = f3(1, n, 4), din[] = {bt, bt, tu_f2(1, 2)}, ein[] = {bt, bt};
    void *dp[] = {p, d, big}, *dq[] = {b}, *ep[] = {p, b}, *eq[] = {e};
    tu_exec(c, TGC_OP_BOX_DECODE, &a, 3, din, dp, 1, &bt, dq);
    tu_exec(c, TGC_OP_BOX_ENCODE, &a, 2, ein, ep, 1, &bt, eq);
    for (int64_t i = 0; i < n * 4; i++) ck_assert_msg(fabsf(e[i] - d[i]) < 2e-4f, "round trip [%lld]: %g vs %g", (long long)i, (double)e[i], (double)d[i]);
    free(p), free(d), free(b), free(e);
    tgc_cpu_free(c);
}
END_TEST

START_TEST(box_iou_values) {
    tgc_cpu *c = new_cpu(1);
    float a[] = {0, 0, 10, 10, 0, 0, 0, 0}, b[] = {5, 5, 15, 15, 0, 0, 10, 10, 20, 20, 30, 30}, y[6];
    tgc_attrs at = tgc_attrs_default();
    at.eps = 1e-6;
    tgc_type in[] = {f3(1, 2, 4), f3(1, 3, 4)}, out = f3(1, 2, 3);
    void *ip[] = {a, b}, *op[] = {y};
    tu_exec(c, TGC_OP_BOX_IOU, &at, 2, in, ip, 1, &out, op);
    ck_assert(fabsf(y[0] - 25.f / 175.f) < 1e-7f && y[1] == 1.f && y[2] == 0.f);
    ck_assert(y[3] == 0.f && y[4] == 0.f && y[5] == 0.f); /* an empty box: union clamped to eps, IoU 0 */
    tgc_cpu_free(c);
}
END_TEST

START_TEST(gather_rows_and_fill) {
    tgc_cpu *c = new_cpu(1);
    float x[] = {1, 2, 3, 4, 5, 6, /* image 2 */ 7, 8, 9, 10, 11, 12}, y[16];
    int32_t idx[] = {2, -1, 0, 0, /* image 2 */ 1, 1, -1, 2};
    tgc_attrs a = tgc_attrs_default();
    a.alpha = -INFINITY;
    tgc_type in[] = {f3(2, 3, 2), tu_t(TGC_I32, tgc_shape2(2, 4))}, out = f3(2, 4, 2);
    void *ip[] = {x, idx}, *op[] = {y};
    tu_exec(c, TGC_OP_GATHER, &a, 2, in, ip, 1, &out, op);
    const float want[] = {5, 6, -INFINITY, -INFINITY, 1, 2, 1, 2, 9, 10, 9, 10, -INFINITY, -INFINITY, 11, 12};
    for (int i = 0; i < 16; i++) ck_assert_msg(y[i] == want[i], "y[%d] %g", i, (double)y[i]);
    int32_t xi[] = {4, 5, 6}, yi[2], id2[] = {-1, 2};
    a.alpha = -7;
    tgc_type iin[] = {tu_t(TGC_I32, tgc_shape2(1, 3)), tu_t(TGC_I32, tgc_shape2(1, 2))}, iout = tu_t(TGC_I32, tgc_shape2(1, 2));
    void *iip[] = {xi, id2}, *iop[] = {yi};
    tu_exec(c, TGC_OP_GATHER, &a, 2, iin, iip, 1, &iout, iop);
    ck_assert(yi[0] == -7 && yi[1] == 6);
    id2[1] = 3;
    tu_exec_fails(c, TGC_OP_GATHER, &a, 2, iin, iip, 1, &iout, iop, "index 3 at [0,1] is outside [-1, 3)");
    tgc_cpu_free(c);
}
END_TEST

/* giou_loss: a hand value, then finite differences on random box pairs (overlapping, disjoint, nested). */
START_TEST(giou_loss_values_and_grad) {
    tgc_cpu *c = new_cpu(2);
    tgc_attrs a = tgc_attrs_default();
    a.eps = 1e-6, a.alpha = 2.0;
    /* [0,0,2,2] vs [1,1,3,3]: iou 1/7, enclosing 9, giou 1/7 - 2/9; the second pair is masked */
    float p[] = {0, 0, 2, 2, 0, 0, 1, 1}, t[] = {1, 1, 3, 3, 5, 5, 6, 6}, w[] = {1, 0}, avg = 1, loss;
    tgc_type bt = tu_f2(2, 4), lt = tu_f0(), in[] = {bt, bt, tu_f1(2), tu_f1(1)};
    void *ip[] = {p, t, w, &avg}, *op[] = {&loss};
    tu_exec(c, TGC_OP_GIOU_LOSS, &a, 4, in, ip, 1, &lt, op);
    double want = 2.0 * (1.0 - (1.0 / 7 - 2.0 / 9)) / (1.0 + FLT_EPSILON);
    ck_assert_msg(fabs(loss - want) < 1e-6, "giou loss %.8g, expected %.8g", (double)loss, want);
    int64_t n = 40;
    float *P = tu_zeros(n * 4), *T = tu_zeros(n * 4), *W = tu_rand(n, 0.2, 1), *dP = tu_zeros(n * 4), one = 1, r = 1, a2 = 3;
    for (int64_t i = 0; i < n; i++) {
        float x = (float)tu_unif(0, 20), y = (float)tu_unif(0, 20);
        T[i * 4] = x, T[i * 4 + 1] = y, T[i * 4 + 2] = x + (float)tu_unif(2, 10), T[i * 4 + 3] = y + (float)tu_unif(2, 10);
        double sh = i % 4 == 0 ? 15 : 3; /* every fourth pair mostly disjoint */
        P[i * 4] = x + (float)tu_unif(-sh, sh), P[i * 4 + 1] = y + (float)tu_unif(-sh, sh);
        P[i * 4 + 2] = P[i * 4] + (float)tu_unif(2, 10), P[i * 4 + 3] = P[i * 4 + 1] + (float)tu_unif(2, 10);
    }
    tgc_type nb = tu_f2(n, 4), bin[] = {lt, nb, nb, tu_f1(n), tu_f0()};
    tu_fwd f = {c, TGC_OP_GIOU_LOSS, &a, 4, 1, {nb, nb, tu_f1(n), tu_f0()}, {lt}, {P, T, W, &a2}, {&loss}, &r, 0, {0}, {0}};
    void *bp[] = {&one, P, T, W, &a2}, *bo[] = {dP};
    tu_exec(c, TGC_OP_GIOU_LOSS_BWD, &a, 5, bin, bp, 1, &nb, bo);
    tu_fd_check(&f, 0, dP, 1e-3, 2e-2, 200, "giou_loss");
    free(P), free(T), free(W), free(dP);
    tgc_cpu_free(c);
}
END_TEST

int main(void) {
    Suite *s = suite_create("backend_cpu_det");
    TCase *tc = tcase_create("det");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, roi_align_mmcv_vectors);
    tcase_add_test(tc, roi_align_fd_adaptive_aligned);
    tcase_add_test(tc, roi_align_fd_fixed_grid);
    tcase_add_test(tc, roi_align_fd_not_aligned);
    tcase_add_test(tc, roi_align_bwd_deterministic);
    tcase_add_test(tc, roi_align_levels);
    tcase_add_test(tc, roi_align_bad_rois);
    tcase_add_test(tc, topk_order);
    tcase_add_test(tc, nms_mmcv_vector_and_padding);
    tcase_add_test(tc, smooth_l1_values_and_grad);
    tcase_add_test(tc, box_coder_mmdet_vector);
    tcase_add_test(tc, box_iou_values);
    tcase_add_test(tc, gather_rows_and_fill);
    tcase_add_test(tc, giou_loss_values_and_grad);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
