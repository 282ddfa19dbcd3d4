/* tests/unit/test_backend_cpu_conv.c - conv2d on the CPU backend: forward against a naive loop, backward
 * data and filter against finite differences (stride, asymmetric padding, dilation, groups), primitive
 * reuse, bit-identical repeated backward passes, and a printed (not asserted) ResNet-ish timing. */
#include "tests/unit/test_backend_cpu_util.h"

typedef struct conv_cfg {
    int n, c, h, w, o, kh, kw, sh, sw, pad[4], dh, dw, g;
} conv_cfg;

static int64_t out_dim(int in, int k, int s, int p0, int p1, int d) { return (in + p0 + p1 - ((k - 1) * d + 1)) / s + 1; }

static tgc_attrs conv_attrs(const conv_cfg *q) {
    tgc_attrs a = tgc_attrs_default();
    a.stride[0] = q->sh, a.stride[1] = q->sw;
    for (int i = 0; i < 4; i++) a.pad[i] = q->pad[i];
    a.dilation[0] = q->dh, a.dilation[1] = q->dw;
    a.groups = q->g;
    return a;
}

/* y[n][o][oh][ow] = sum over the group's input channels and the kernel, in double. */
static double *conv_ref(const conv_cfg *q, const float *x, const float *w, int64_t ho, int64_t wo) {
    int cg = q->c / q->g, og = q->o / q->g;
    double *y = calloc((size_t)(q->n * q->o * ho * wo), sizeof(double));
    for (int n = 0; n < q->n; n++)
        for (int o = 0; o < q->o; o++)
            for (int64_t oh = 0; oh < ho; oh++)
                for (int64_t ow = 0; ow < wo; ow++) {
                    double s = 0;
                    int grp = o / og;
                    for (int ci = 0; ci < cg; ci++)
                        for (int i = 0; i < q->kh; i++)
                            for (int j = 0; j < q->kw; j++) {
                                int64_t ih = oh * q->sh - q->pad[0] + i * q->dh, iw = ow * q->sw - q->pad[1] + j * q->dw;
                                if (ih < 0 || ih >= q->h || iw < 0 || iw >= q->w) continue;
                                s += (double)x[((n * q->c + grp * cg + ci) * q->h + ih) * q->w + iw] *
                                     w[((o * cg + ci) * q->kh + i) * q->kw + j];
                            }
                    y[((n * q->o + o) * ho + oh) * wo + ow] = s;
                }
    return y;
}

static void conv_case(const conv_cfg *q) {
    tgc_err err;
    tgc_cpu *c = tgc_cpu_new(1, 1, &err); /* numerics on 1 thread: robust on a loaded machine */
    ck_assert_ptr_nonnull(c);
    int64_t ho = out_dim(q->h, q->kh, q->sh, q->pad[0], q->pad[2], q->dh);
    int64_t wo = out_dim(q->w, q->kw, q->sw, q->pad[1], q->pad[3], q->dw);
    tgc_attrs a = conv_attrs(q);
    tgc_type xt = tu_f4(q->n, q->c, q->h, q->w), wt = tu_f4(q->o, q->c / q->g, q->kh, q->kw);
    tgc_type yt = tu_f4(q->n, q->o, ho, wo);
    float *x = tu_rand(tu_n(&xt), -1, 1), *w = tu_rand(tu_n(&wt), -0.5, 0.5), *y = tu_zeros(tu_n(&yt));
    float *r = tu_rand(tu_n(&yt), -1, 1), *dx = tu_zeros(tu_n(&xt)), *dw = tu_zeros(tu_n(&wt));

    /* forward against the naive loop */
    tu_fwd f = {c, TGC_OP_CONV2D, &a, 2, 1, {xt, wt}, {yt}, {x, w}, {y}, r, 0, {0}, {0}};
    tu_loss(&f);
    double *ref = conv_ref(q, x, w, ho, wo);
    tu_close(y, ref, tu_n(&yt), 1e-5, "conv2d forward");
    free(ref);

    /* analytic gradients with dy = r */
    tgc_attrs ad = a, af = a;
    ad.shape = xt.shape;
    af.shape = wt.shape;
    tgc_type bd_in[] = {yt, wt}, bf_in[] = {xt, yt};
    void *bd_p[] = {r, w}, *bd_o[] = {dx}, *bf_p[] = {x, r}, *bf_o[] = {dw};
    tu_exec(c, TGC_OP_CONV2D_BWD_DATA, &ad, 2, bd_in, bd_p, 1, &xt, bd_o);
    tu_exec(c, TGC_OP_CONV2D_BWD_FILTER, &af, 2, bf_in, bf_p, 1, &wt, bf_o);
    /* conv is linear in each operand: central differences are exact up to rounding */
    tu_fd_check(&f, 0, dx, 1e-2, 1e-2, 60, "conv2d_bwd_data");
    tu_fd_check(&f, 1, dw, 1e-2, 1e-2, 60, "conv2d_bwd_filter");

    free(x), free(w), free(y), free(r), free(dx), free(dw);
    tgc_cpu_free(c);
}

START_TEST(conv_stride_pad) {
    tu_seed(1);
    conv_cfg q = {2, 4, 7, 7, 6, 3, 3, 2, 2, {1, 1, 1, 1}, 1, 1, 1};
    conv_case(&q);
}
END_TEST

START_TEST(conv_asymmetric_pad_rect_kernel) {
    tu_seed(2);
    conv_cfg q = {2, 3, 6, 9, 5, 2, 3, 1, 2, {0, 1, 1, 2}, 1, 1, 1};
    conv_case(&q);
}
END_TEST

START_TEST(conv_dilation_groups) {
    tu_seed(3);
    conv_cfg q = {2, 4, 8, 8, 6, 3, 3, 1, 1, {2, 2, 2, 2}, 2, 2, 2};
    conv_case(&q);
}
END_TEST

START_TEST(conv_depthwise) {
    tu_seed(4);
    conv_cfg q = {2, 4, 6, 6, 8, 3, 3, 2, 1, {1, 1, 1, 1}, 1, 1, 4};
    conv_case(&q);
}
END_TEST

START_TEST(conv_1x1_stride2_downsample) {
    tu_seed(5);
    conv_cfg q = {3, 8, 7, 7, 16, 1, 1, 2, 2, {0, 0, 0, 0}, 1, 1, 1};
    conv_case(&q);
}
END_TEST

START_TEST(conv_bad_shapes_rejected) {
    tgc_err err;
    tgc_cpu *c = tgc_cpu_new(1, 0, &err);
    ck_assert_ptr_nonnull(c);
    tgc_attrs a = tgc_attrs_default();
    float buf[512] = {0};
    tgc_type in[] = {tu_f4(1, 3, 4, 4), tu_f4(2, 3, 3, 3)};
    tgc_type bad_y = tu_f4(1, 2, 3, 3); /* 4-3+1 = 2, not 3 */
    void *p[] = {buf, buf}, *o[] = {buf};
    tu_exec_fails(c, TGC_OP_CONV2D, &a, 2, in, p, 1, &bad_y, o, "conv2d");
    tgc_type wrong_c[] = {tu_f4(1, 3, 4, 4), tu_f4(2, 2, 3, 3)}; /* C/groups mismatch */
    tgc_type y = tu_f4(1, 2, 2, 2);
    tu_exec_fails(c, TGC_OP_CONV2D, &a, 2, wrong_c, p, 1, &y, o, "conv2d");
    tu_exec_fails(c, TGC_OP_CONV2D, &a, 1, in, p, 1, &y, o, "expected 2 operands");
    tgc_type i32in[] = {tu_t(TGC_I32, tgc_shape4(1, 3, 4, 4)), in[1]};
    tu_exec_fails(c, TGC_OP_CONV2D, &a, 2, i32in, p, 1, &y, o, "expected f32");
    tgc_cpu_free(c);
}
END_TEST

/* The same backward twice gives the same bits; a repeated op reuses its cached primitive. */
START_TEST(conv_backward_deterministic_and_cached) {
    tu_seed(6);
    tgc_err err;
    tgc_cpu *c = tgc_cpu_new(2, 1, &err);
    ck_assert_ptr_nonnull(c);
    conv_cfg q = {4, 16, 14, 14, 32, 3, 3, 1, 1, {1, 1, 1, 1}, 1, 1, 1};
    tgc_attrs a = conv_attrs(&q);
    tgc_type xt = tu_f4(4, 16, 14, 14), wt = tu_f4(32, 16, 3, 3), yt = tu_f4(4, 32, 14, 14);
    float *x = tu_rand(tu_n(&xt), -1, 1), *w = tu_rand(tu_n(&wt), -1, 1), *dy = tu_rand(tu_n(&yt), -1, 1);
    float *dw[2] = {tu_zeros(tu_n(&wt)), tu_zeros(tu_n(&wt))}, *dx[2] = {tu_zeros(tu_n(&xt)), tu_zeros(tu_n(&xt))};
    tgc_attrs af = a, ad = a;
    af.shape = wt.shape, ad.shape = xt.shape;
    tgc_type bf_in[] = {xt, yt}, bd_in[] = {yt, wt};
    int cached = -1;
    for (int rep = 0; rep < 2; rep++) {
        void *pf[] = {x, dy}, *of[] = {dw[rep]}, *pd[] = {dy, w}, *od[] = {dx[rep]};
        tu_exec(c, TGC_OP_CONV2D_BWD_FILTER, &af, 2, bf_in, pf, 1, &wt, of);
        tu_exec(c, TGC_OP_CONV2D_BWD_DATA, &ad, 2, bd_in, pd, 1, &xt, od);
        if (rep == 0) cached = tgc_cpu_cache_size(c);
    }
    ck_assert_int_eq(tgc_cpu_cache_size(c), cached);
    ck_assert_int_eq(memcmp(dw[0], dw[1], sizeof(float) * (size_t)tu_n(&wt)), 0);
    ck_assert_int_eq(memcmp(dx[0], dx[1], sizeof(float) * (size_t)tu_n(&xt)), 0);
    free(x), free(w), free(dy), free(dw[0]), free(dw[1]), free(dx[0]), free(dx[1]);
    tgc_cpu_free(c);
}
END_TEST

/* Printed for people, never asserted: a ResNet stage-1 3x3 conv (batch 8, 64 -> 64, 56x56). */
START_TEST(conv_timing_resnet_like) {
    tu_seed(7);
    tgc_err err;
    tgc_cpu *c = tgc_cpu_new(0, 0, &err);
    ck_assert_ptr_nonnull(c);
    conv_cfg q = {8, 64, 56, 56, 64, 3, 3, 1, 1, {1, 1, 1, 1}, 1, 1, 1};
    tgc_attrs a = conv_attrs(&q), ad = a, af = a;
    tgc_type xt = tu_f4(8, 64, 56, 56), wt = tu_f4(64, 64, 3, 3), yt = xt;
    ad.shape = xt.shape, af.shape = wt.shape;
    float *x = tu_rand(tu_n(&xt), -1, 1), *w = tu_rand(tu_n(&wt), -0.1, 0.1), *y = tu_zeros(tu_n(&yt));
    float *dx = tu_zeros(tu_n(&xt)), *dw = tu_zeros(tu_n(&wt));
    tgc_type fin[] = {xt, wt}, din[] = {yt, wt}, win[] = {xt, yt};
    void *fp[] = {x, w}, *fo[] = {y}, *dp[] = {y, w}, *dov[] = {dx}, *wp[] = {x, y}, *wo[] = {dw};
    double gflop = 2.0 * 8 * 64 * 56 * 56 * 64 * 9 / 1e9;
    const char *names[] = {"forward", "backward data", "backward filter"};
    for (int which = 0; which < 3; which++) {
        double best = 1e30;
        for (int rep = 0; rep < 4; rep++) { /* the first call also creates the primitive */
            double t0 = tgc_now();
            if (which == 0) tu_exec(c, TGC_OP_CONV2D, &a, 2, fin, fp, 1, &yt, fo);
            if (which == 1) tu_exec(c, TGC_OP_CONV2D_BWD_DATA, &ad, 2, din, dp, 1, &xt, dov);
            if (which == 2) tu_exec(c, TGC_OP_CONV2D_BWD_FILTER, &af, 2, win, wp, 1, &wt, wo);
            double dt = tgc_now() - t0;
            if (rep > 0 && dt < best) best = dt;
        }
        printf("conv 3x3 8x64x56x56 %-15s %7.2f ms  %6.1f GFLOP/s (%d threads)\n", names[which], best * 1e3,
               gflop / best, tgc_cpu_threads(c));
    }
    free(x), free(w), free(y), free(dx), free(dw);
    tgc_cpu_free(c);
}
END_TEST

int main(void) {
    Suite *s = suite_create("backend_cpu_conv");
    TCase *tc = tcase_create("conv");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, conv_stride_pad);
    tcase_add_test(tc, conv_asymmetric_pad_rect_kernel);
    tcase_add_test(tc, conv_dilation_groups);
    tcase_add_test(tc, conv_depthwise);
    tcase_add_test(tc, conv_1x1_stride2_downsample);
    tcase_add_test(tc, conv_bad_shapes_rejected);
    tcase_add_test(tc, conv_backward_deterministic_and_cached);
    tcase_add_test(tc, conv_timing_resnet_like);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
