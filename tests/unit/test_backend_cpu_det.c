/* tests/unit/test_backend_cpu_det.c - the detection ops on the CPU: upsample_nearest (exact 2x and PyTorch's
 * float rule for other sizes) and its backward, to_nhwc/to_nchw, concat and its split, sigmoid_focal_loss
 * (mmcv's test vector, ignored and negative rows) and l1_loss_pos with their backwards, batch_norm_eval_bwd:
 * forwards against naive loops, gradients by finite differences, bad targets refused. */
#include "tests/unit/test_backend_cpu_util.h"

static tgc_cpu *new_cpu(int threads) {
    tgc_err err;
    tgc_cpu *c = tgc_cpu_new(threads, 1, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    return c;
}

static tgc_type tu_f3(int64_t a, int64_t b, int64_t c) {
    tgc_shape s = tgc_shape2(a, b);
    s.rank = 3, s.d[2] = c;
    return tu_t(TGC_F32, s);
}

/* PyTorch's nearest source index for F.interpolate(size=...). */
static int64_t src_of(int64_t d, int64_t in, int64_t out) {
    if (out == 2 * in) return d / 2;
    int64_t s = (int64_t)floorf((float)d * ((float)in / (float)out));
    return s < in - 1 ? s : in - 1;
}

static void upsample_case(int64_t h, int64_t w, int64_t H, int64_t W) {
    tgc_cpu *c = new_cpu(2);
    int64_t n = 2, ch = 3;
    tgc_type xt = tu_f4(n, ch, h, w), yt = tu_f4(n, ch, H, W);
    tgc_attrs a = tgc_attrs_default(), ab = tgc_attrs_default();
    a.shape = yt.shape, ab.shape = xt.shape;
    float *x = tu_rand(tu_n(&xt), -1, 1), *y = tu_zeros(tu_n(&yt)), *r = tu_rand(tu_n(&yt), -1, 1), *dx = tu_zeros(tu_n(&xt));
    tu_fwd f = {c, TGC_OP_UPSAMPLE_NEAREST, &a, 1, 1, {xt}, {yt}, {x}, {y}, r, 0, {0}, {0}};
    tu_loss(&f);
    double *ref = malloc(sizeof(double) * (size_t)tu_n(&yt));
    for (int64_t p = 0; p < n * ch; p++)
        for (int64_t i = 0; i < H; i++)
            for (int64_t q = 0; q < W; q++) ref[(p * H + i) * W + q] = x[(p * h + src_of(i, h, H)) * w + src_of(q, w, W)];
    tu_close(y, ref, tu_n(&yt), 0, "upsample_nearest");
    void *bi[] = {r}, *bo[] = {dx};
    tu_exec(c, TGC_OP_UPSAMPLE_NEAREST_BWD, &ab, 1, &yt, bi, 1, &xt, bo);
    tu_fd_check(&f, 0, dx, 1e-2, 1e-2, 100, "upsample_nearest_bwd");
    free(ref), free(x), free(y), free(r), free(dx);
    tgc_cpu_free(c);
}

START_TEST(upsample_2x) { tu_seed(1), upsample_case(4, 5, 8, 10); }
END_TEST
/* FPN on an 800x1344 canvas with P5 25x42 from 13x21 is exact 2x too; odd sizes take the float rule */
START_TEST(upsample_odd) { tu_seed(2), upsample_case(13, 21, 25, 42); }
END_TEST

START_TEST(layout_roundtrip) {
    tu_seed(3);
    tgc_cpu *c = new_cpu(2);
    int64_t n = 2, ch = 5, h = 3, w = 4;
    tgc_type xt = tu_f4(n, ch, h, w), yt = tu_f4(n, h, w, ch);
    tgc_attrs a = tgc_attrs_default();
    float *x = tu_rand(tu_n(&xt), -1, 1), *y = tu_zeros(tu_n(&yt)), *back = tu_zeros(tu_n(&xt));
    void *i1[] = {x}, *o1[] = {y}, *i2[] = {y}, *o2[] = {back};
    tu_exec(c, TGC_OP_TO_NHWC, &a, 1, &xt, i1, 1, &yt, o1);
    for (int64_t b = 0; b < n; b++)
        for (int64_t k = 0; k < ch; k++)
            for (int64_t i = 0; i < h; i++)
                for (int64_t q = 0; q < w; q++)
                    ck_assert(y[((b * h + i) * w + q) * ch + k] == x[((b * ch + k) * h + i) * w + q]);
    tu_exec(c, TGC_OP_TO_NCHW, &a, 1, &yt, i2, 1, &xt, o2);
    ck_assert(memcmp(back, x, sizeof(float) * (size_t)tu_n(&xt)) == 0);
    /* a result that is not the permutation is refused */
    tu_exec_fails(c, TGC_OP_TO_NHWC, &a, 1, &xt, i1, 1, &xt, o1, "permuted");
    free(x), free(y), free(back);
    tgc_cpu_free(c);
}
END_TEST

START_TEST(concat_and_split) {
    tu_seed(4);
    tgc_cpu *c = new_cpu(2);
    tgc_type at = tu_f3(2, 3, 4), bt = tu_f3(2, 5, 4), yt = tu_f3(2, 8, 4);
    tgc_attrs a = tgc_attrs_default();
    a.axis = 1;
    float *A = tu_rand(24, -1, 1), *B = tu_rand(40, -1, 1), *y = tu_zeros(64), *r = tu_rand(64, -1, 1);
    float *dA = tu_zeros(24), *dB = tu_zeros(40);
    tu_fwd f = {c, TGC_OP_CONCAT, &a, 2, 1, {at, bt}, {yt}, {A, B}, {y}, r, 0, {0}, {0}};
    tu_loss(&f);
    for (int64_t n = 0; n < 2; n++)
        for (int64_t i = 0; i < 8; i++)
            for (int64_t k = 0; k < 4; k++)
                ck_assert(y[(n * 8 + i) * 4 + k] == (i < 3 ? A[(n * 3 + i) * 4 + k] : B[(n * 5 + i - 3) * 4 + k]));
    tgc_attrs s = a;
    s.shape = at.shape;
    tgc_type outs[] = {at, bt};
    void *bi[] = {r}, *bo[] = {dA, dB};
    tu_exec(c, TGC_OP_CONCAT_BWD, &s, 1, &yt, bi, 2, outs, bo);
    tu_fd_check(&f, 0, dA, 1e-2, 1e-2, 100, "concat_bwd da");
    tu_fd_check(&f, 1, dB, 1e-2, 1e-2, 100, "concat_bwd db");
    /* the last axis too (det_out = concat(cls_score, bbox_pred)) */
    tgc_type ct = tu_f3(2, 3, 2), dt = tu_f3(2, 3, 4), zt = tu_f3(2, 3, 6);
    a.axis = 2;
    void *ci[] = {A, B}, *co[] = {y};
    tgc_type cin[] = {ct, dt};
    tu_exec(c, TGC_OP_CONCAT, &a, 2, cin, ci, 1, &zt, co);
    ck_assert(y[6] == A[2] && y[8] == B[4] && y[5] == B[3]);
    a.axis = 1; /* parts that do not add up are refused */
    tu_exec_fails(c, TGC_OP_CONCAT, &a, 2, cin, ci, 1, &zt, co, "differ");
    free(A), free(B), free(y), free(r), free(dA), free(dB);
    tgc_cpu_free(c);
}
END_TEST

/* mmcv tests/test_ops/test_focal_loss.py: logits [[1, 0], [0, 1]], labels [0, 1], gamma 2, alpha 0.25,
 * mean over the rows: 0.13562961. Here one image of two anchors, avg_factor 2. */
START_TEST(focal_mmcv_vector) {
    tgc_cpu *c = new_cpu(1);
    tgc_attrs a = tgc_attrs_default();
    a.alpha = 1, a.gamma = 2, a.focal_alpha = 0.25;
    float x[4] = {1, 0, 0, 1}, af = 2, loss = 0;
    int32_t t[2] = {0, 1};
    tgc_type in[] = {tu_f3(1, 2, 2), tu_t(TGC_I32, tgc_shape2(1, 2)), tu_f1(1)}, st = tu_f0();
    void *ip[] = {x, t, &af}, *op[] = {&loss};
    tu_exec(c, TGC_OP_SIGMOID_FOCAL_LOSS, &a, 3, in, ip, 1, &st, op);
    ck_assert_msg(fabs(loss - 0.13562961) < 1e-6, "loss %.8g", (double)loss);
    tgc_cpu_free(c);
}
END_TEST

/* Reference focal loss in double: positives, negatives (target C) and ignored rows (-1). */
static double focal_ref(const float *x, const int32_t *t, int64_t rows, int64_t k, double g, double al) {
    double s = 0;
    for (int64_t r = 0; r < rows; r++) {
        if (t[r] < 0) continue;
        for (int64_t q = 0; q < k; q++) {
            double p = 1 / (1 + exp(-(double)x[r * k + q]));
            s += q == t[r] ? -al * pow(1 - p, g) * log(p) : -(1 - al) * pow(p, g) * log(1 - p);
        }
    }
    return s;
}

START_TEST(focal_grad) {
    tu_seed(5);
    tgc_cpu *c = new_cpu(2);
    int64_t n = 2, an = 7, k = 3;
    tgc_attrs a = tgc_attrs_default();
    a.alpha = 1.5, a.gamma = 2, a.focal_alpha = 0.25;
    tgc_type lt = tu_f3(n, an, k), tt = tu_t(TGC_I32, tgc_shape2(n, an)), ft = tu_f1(1), st = tu_f0();
    float *x = tu_rand(n * an * k, -3, 3), af = 3, loss = 0, r = 0.8f, *dx = tu_zeros(n * an * k);
    int32_t t[14] = {0, 3, -1, 2, 1, 3, 3, -1, 0, 3, 2, 2, 1, 3};
    tu_fwd f = {c, TGC_OP_SIGMOID_FOCAL_LOSS, &a, 3, 1, {lt, tt, ft}, {st}, {x, t, &af}, {&loss}, &r, 0, {0}, {0}};
    tu_loss(&f);
    double ref = 1.5 * focal_ref(x, t, n * an, k, 2, 0.25) / 3;
    ck_assert_msg(fabs(loss - ref) <= 1e-5 * fabs(ref), "loss %.8g, expected %.8g", (double)loss, ref);
    tgc_type bin[] = {st, lt, tt, ft};
    void *bp[] = {&r, x, t, &af}, *bo[] = {dx};
    tu_exec(c, TGC_OP_SIGMOID_FOCAL_LOSS_BWD, &a, 4, bin, bp, 1, &lt, bo);
    for (int q = 0; q < k; q++) ck_assert(dx[2 * k + q] == 0); /* ignored row */
    tu_fd_check(&f, 0, dx, 1e-2, 1e-2, 100, "sigmoid_focal_loss_bwd");
    /* gamma 0 and large logits stay finite */
    a.gamma = 0;
    x[0] = 60, x[1] = -60;
    tu_loss(&f);
    ck_assert(isfinite(loss));
    /* a target outside [-1, C] is refused, forward and backward; so is a non-positive avg_factor */
    t[4] = 4;
    void *fo[] = {&loss};
    tu_exec_fails(c, TGC_OP_SIGMOID_FOCAL_LOSS, &a, 3, f.in_t, f.in, 1, &st, fo, "outside [-1, 3]");
    tu_exec_fails(c, TGC_OP_SIGMOID_FOCAL_LOSS_BWD, &a, 4, bin, bp, 1, &lt, bo, "outside [-1, 3]");
    t[4] = 1, af = 0;
    tu_exec_fails(c, TGC_OP_SIGMOID_FOCAL_LOSS, &a, 3, f.in_t, f.in, 1, &st, fo, "avg_factor");
    free(x), free(dx);
    tgc_cpu_free(c);
}
END_TEST

START_TEST(l1_pos_grad) {
    tu_seed(6);
    tgc_cpu *c = new_cpu(2);
    int64_t n = 2, an = 5, C = 4;
    tgc_attrs a = tgc_attrs_default();
    a.alpha = 2, a.num_classes = C;
    tgc_type pt = tu_f3(n, an, 4), tt = tu_t(TGC_I32, tgc_shape2(n, an)), ft = tu_f1(1), st = tu_f0();
    float *p = tu_rand(n * an * 4, -2, 2), *g = tu_rand(n * an * 4, -2, 2), af = 2.5f, loss = 0, r = 1.3f;
    float *dp = tu_zeros(n * an * 4);
    int32_t t[10] = {0, 4, -1, 3, 4, 2, 4, 1, -1, 4};
    tu_fwd f = {c, TGC_OP_L1_LOSS_POS, &a, 4, 1, {pt, pt, tt, ft}, {st}, {p, g, t, &af}, {&loss}, &r, 0, {0}, {0}};
    tu_loss(&f);
    double ref = 0;
    for (int64_t i = 0; i < n * an; i++)
        if (t[i] >= 0 && t[i] < C)
            for (int q = 0; q < 4; q++) ref += fabs((double)p[i * 4 + q] - g[i * 4 + q]);
    ref = 2 * ref / 2.5;
    ck_assert_msg(fabs(loss - ref) <= 1e-5 * fabs(ref), "loss %.8g, expected %.8g", (double)loss, ref);
    tgc_type bin[] = {st, pt, pt, tt, ft};
    void *bp[] = {&r, p, g, t, &af}, *bo[] = {dp};
    tu_exec(c, TGC_OP_L1_LOSS_POS_BWD, &a, 5, bin, bp, 1, &pt, bo);
    for (int q = 0; q < 4; q++) ck_assert(dp[1 * 4 + q] == 0 && dp[2 * 4 + q] == 0); /* negative, ignored */
    tu_fd_check(&f, 0, dp, 1e-2, 1e-2, 100, "l1_loss_pos_bwd");
    t[3] = 5;
    void *fo[] = {&loss};
    tu_exec_fails(c, TGC_OP_L1_LOSS_POS, &a, 4, f.in_t, f.in, 1, &st, fo, "outside [-1, 4]");
    free(p), free(g), free(dp);
    tgc_cpu_free(c);
}
END_TEST

/* The backward of batch_norm_eval (norm_eval, frozen stages): d/dx, d/dgamma, d/dbeta by finite differences
 * of the oneDNN forward. */
START_TEST(bn_eval_bwd_grad) {
    tu_seed(7);
    tgc_cpu *c = new_cpu(2);
    int64_t n = 2, ch = 3, h = 4, w = 5;
    tgc_attrs a = tgc_attrs_default();
    a.eps = 1e-5;
    tgc_type xt = tu_f4(n, ch, h, w), vt = tu_f1(ch);
    float *x = tu_rand(tu_n(&xt), -2, 2), *gm = tu_rand(ch, 0.5, 1.5), *bt = tu_rand(ch, -1, 1), *mean = tu_rand(ch, -0.5, 0.5);
    float *var = tu_rand(ch, 0.5, 2), *y = tu_zeros(tu_n(&xt)), *r = tu_rand(tu_n(&xt), -1, 1);
    float *dx = tu_zeros(tu_n(&xt)), dg[3], db[3];
    tu_fwd f = {c, TGC_OP_BN_EVAL, &a, 5, 1, {xt, vt, vt, vt, vt}, {xt}, {x, gm, bt, mean, var}, {y}, r, 0, {0}, {0}};
    tu_loss(&f);
    tgc_type bin[] = {xt, xt, vt, vt, vt}, bout[] = {xt, vt, vt};
    void *bp[] = {r, x, gm, mean, var}, *bo[] = {dx, dg, db};
    tu_exec(c, TGC_OP_BN_EVAL_BWD, &a, 5, bin, bp, 3, bout, bo);
    tu_fd_check(&f, 0, dx, 1e-2, 1e-2, 100, "batch_norm_eval_bwd dx");
    tu_fd_check(&f, 1, dg, 1e-2, 1e-2, 100, "batch_norm_eval_bwd dgamma");
    tu_fd_check(&f, 2, db, 1e-2, 1e-2, 100, "batch_norm_eval_bwd dbeta");
    free(x), free(gm), free(bt), free(mean), free(var), free(y), free(r), free(dx);
    tgc_cpu_free(c);
}
END_TEST

int main(void) {
    Suite *s = suite_create("backend_cpu_det");
    TCase *tc = tcase_create("det");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, upsample_2x);
    tcase_add_test(tc, upsample_odd);
    tcase_add_test(tc, layout_roundtrip);
    tcase_add_test(tc, concat_and_split);
    tcase_add_test(tc, focal_mmcv_vector);
    tcase_add_test(tc, focal_grad);
    tcase_add_test(tc, l1_pos_grad);
    tcase_add_test(tc, bn_eval_bwd_grad);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
