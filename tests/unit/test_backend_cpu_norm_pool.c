/* tests/unit/test_backend_cpu_norm_pool.c - batch norm (train/eval forward against a naive loop, running
 * statistics, backward by finite differences) and pooling (max/avg forward against naive loops with
 * ceil_mode and count_include_pad, backward by finite differences, PyTorch's known values). */
#include "tests/unit/test_backend_cpu_util.h"

/* ---- batch norm ------------------------------------------------------------------------------------ */
static void bn_case(tgc_shape xs) {
    tgc_err err;
    tgc_cpu *c = tgc_cpu_new(1, 1, &err); /* numerics on 1 thread: robust on a loaded machine */
    ck_assert_ptr_nonnull(c);
    int64_t n = xs.d[0], ch = xs.d[1], inner = tgc_shape_numel(&xs) / (n * ch), cnt = n * inner;
    tgc_attrs a = tgc_attrs_default();
    a.eps = 1e-5, a.momentum = 0.1;
    tgc_type xt = tu_t(TGC_F32, xs), ct = tu_f1(ch);
    float *x = tu_rand(tu_n(&xt), -2, 3), *gamma = tu_rand(ch, 0.5, 1.5), *beta = tu_rand(ch, -0.5, 0.5);
    float *rm = tu_rand(ch, -0.1, 0.1), *rv = tu_rand(ch, 0.8, 1.2);
    float *rm0 = tu_copy(rm, ch), *rv0 = tu_copy(rv, ch);
    float *y = tu_zeros(tu_n(&xt)), *mean = tu_zeros(ch), *invstd = tu_zeros(ch), *r = tu_rand(tu_n(&xt), -1, 1);

    tu_fwd f = {c, TGC_OP_BN_TRAIN, &a, 5, 3, {xt, ct, ct, ct, ct}, {xt, ct, ct}, {x, gamma, beta, rm, rv},
                {y, mean, invstd}, r, 0, {0}, {0}};
    tu_loss(&f);

    /* naive reference: batch mean, biased variance for normalising, unbiased for the running stat */
    double *ry = calloc((size_t)tu_n(&xt), sizeof(double)), *rmean = calloc((size_t)ch, sizeof(double));
    double *rinv = calloc((size_t)ch, sizeof(double)), *rrm = calloc((size_t)ch, sizeof(double));
    double *rrv = calloc((size_t)ch, sizeof(double));
    for (int64_t k = 0; k < ch; k++) {
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < inner; j++) s += x[(i * ch + k) * inner + j];
        double m = s / (double)cnt;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < inner; j++) {
                double d = x[(i * ch + k) * inner + j] - m;
                s2 += d * d;
            }
        double var = s2 / (double)cnt;
        rmean[k] = m, rinv[k] = 1.0 / sqrt(var + a.eps);
        rrm[k] = 0.9 * rm0[k] + 0.1 * m;
        rrv[k] = 0.9 * rv0[k] + 0.1 * s2 / (double)(cnt - 1);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < inner; j++) {
                int64_t idx = (i * ch + k) * inner + j;
                ry[idx] = gamma[k] * (x[idx] - m) * rinv[k] + beta[k];
            }
    }
    tu_close(y, ry, tu_n(&xt), 1e-5, "batch_norm_train y");
    tu_close(mean, rmean, ch, 1e-5, "batch_norm_train mean");
    tu_close(invstd, rinv, ch, 1e-5, "batch_norm_train invstd");
    tu_close(rm, rrm, ch, 1e-5, "running_mean");
    tu_close(rv, rrv, ch, 1e-5, "running_var");

    /* eval with the updated running statistics */
    float *ye = tu_zeros(tu_n(&xt));
    tgc_type ein[] = {xt, ct, ct, ct, ct};
    void *ep[] = {x, gamma, beta, rm, rv}, *eo[] = {ye};
    tu_exec(c, TGC_OP_BN_EVAL, &a, 5, ein, ep, 1, &xt, eo);
    for (int64_t k = 0; k < ch; k++)
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < inner; j++) {
                int64_t idx = (i * ch + k) * inner + j;
                ry[idx] = gamma[k] * (x[idx] - rm[k]) / sqrt(rv[k] + a.eps) + beta[k];
            }
    tu_close(ye, ry, tu_n(&xt), 1e-5, "batch_norm_eval y");

    /* backward: dy = r; the FD loss restores the running stats each time (they do not affect y) */
    float *dx = tu_zeros(tu_n(&xt)), *dg = tu_zeros(ch), *db = tu_zeros(ch);
    tgc_type bin[] = {xt, xt, ct, ct, ct}, bout[] = {xt, ct, ct};
    void *bp[] = {r, x, gamma, mean, invstd}, *bo[] = {dx, dg, db};
    tu_exec(c, TGC_OP_BN_BWD, &a, 5, bin, bp, 3, bout, bo);
    f.n_restore = 2, f.restore_idx[0] = 3, f.restore_idx[1] = 4, f.restore_val[0] = rm0, f.restore_val[1] = rv0;
    tu_fd_check(&f, 0, dx, 5e-3, 1e-2, 60, "batch_norm_bwd dx");
    tu_fd_check(&f, 1, dg, 5e-3, 1e-2, 60, "batch_norm_bwd dgamma");
    tu_fd_check(&f, 2, db, 5e-3, 1e-2, 60, "batch_norm_bwd dbeta");

    free(x), free(gamma), free(beta), free(rm), free(rv), free(rm0), free(rv0), free(y), free(mean);
    free(invstd), free(r), free(ry), free(rmean), free(rinv), free(rrm), free(rrv), free(ye), free(dx), free(dg);
    free(db);
    tgc_cpu_free(c);
}

START_TEST(bn_nchw) {
    tu_seed(11);
    bn_case(tgc_shape4(4, 3, 5, 5));
}
END_TEST

START_TEST(bn_2d) {
    tu_seed(12);
    bn_case(tgc_shape2(8, 5));
}
END_TEST

START_TEST(bn_one_value_per_channel_rejected) {
    tgc_err err;
    tgc_cpu *c = tgc_cpu_new(1, 0, &err);
    tgc_attrs a = tgc_attrs_default();
    float buf[16] = {0};
    tgc_type xt = tu_f2(1, 3), ct = tu_f1(3);
    tgc_type in[] = {xt, ct, ct, ct, ct}, out[] = {xt, ct, ct};
    void *p[] = {buf, buf, buf, buf, buf}, *o[] = {buf, buf, buf};
    tu_exec_fails(c, TGC_OP_BN_TRAIN, &a, 5, in, p, 3, out, o, "more than 1 value per channel");
    tgc_cpu_free(c);
}
END_TEST

/* ---- pooling --------------------------------------------------------------------------------------- */
typedef struct pool_cfg {
    int n, c, h, w, kh, kw, sh, sw, pad[4], ceil, count_pad;
} pool_cfg;

static int64_t pool_dim(int in, int k, int s, int p0, int p1, int ceil) {
    int64_t num = in + p0 + p1 - k + (ceil ? s - 1 : 0), out = num / s + 1;
    if (ceil && (out - 1) * s >= in + p0) out--;
    return out;
}

static tgc_attrs pool_attrs(const pool_cfg *q) {
    tgc_attrs a = tgc_attrs_default();
    a.kernel[0] = q->kh, a.kernel[1] = q->kw, a.stride[0] = q->sh, a.stride[1] = q->sw;
    for (int i = 0; i < 4; i++) a.pad[i] = q->pad[i];
    a.ceil_mode = q->ceil, a.count_include_pad = q->count_pad;
    return a;
}

/* PyTorch's definitions, written out per output element. */
static double *pool_ref(const pool_cfg *q, const float *x, int64_t ho, int64_t wo, int is_max) {
    double *y = calloc((size_t)(q->n * q->c * ho * wo), sizeof(double));
    for (int p = 0; p < q->n * q->c; p++)
        for (int64_t oh = 0; oh < ho; oh++)
            for (int64_t ow = 0; ow < wo; ow++) {
                int64_t hs = oh * q->sh - q->pad[0], ws = ow * q->sw - q->pad[1];
                int64_t he = hs + q->kh, we = ws + q->kw;
                /* the divisor window stops at the declared padding, not at ceil_mode's overhang */
                int64_t hep = he < q->h + q->pad[2] ? he : q->h + q->pad[2];
                int64_t wep = we < q->w + q->pad[3] ? we : q->w + q->pad[3];
                double s = 0, m = -INFINITY;
                int64_t inside = 0;
                for (int64_t ih = hs; ih < he; ih++)
                    for (int64_t iw = ws; iw < we; iw++) {
                        if (ih < 0 || ih >= q->h || iw < 0 || iw >= q->w) continue;
                        double v = x[(p * q->h + ih) * q->w + iw];
                        s += v, inside++;
                        if (v > m) m = v;
                    }
                double div = q->count_pad ? (double)((hep - hs) * (wep - ws)) : (double)inside;
                y[(p * ho + oh) * wo + ow] = is_max ? m : s / div;
            }
    return y;
}

static void pool_case(const pool_cfg *q, int is_max) {
    tgc_err err;
    tgc_cpu *c = tgc_cpu_new(1, 1, &err); /* numerics on 1 thread: robust on a loaded machine */
    ck_assert_ptr_nonnull(c);
    int64_t ho = pool_dim(q->h, q->kh, q->sh, q->pad[0], q->pad[2], q->ceil);
    int64_t wo = pool_dim(q->w, q->kw, q->sw, q->pad[1], q->pad[3], q->ceil);
    tgc_attrs a = pool_attrs(q), ab = a;
    tgc_type xt = tu_f4(q->n, q->c, q->h, q->w), yt = tu_f4(q->n, q->c, ho, wo);
    ab.shape = xt.shape;
    /* distinct values 0.01 apart and steps of 1e-3: no window's maximum changes under perturbation */
    float *x = is_max ? tu_distinct(tu_n(&xt), 0.01) : tu_rand(tu_n(&xt), -1, 1);
    float *y = tu_zeros(tu_n(&yt)), *r = tu_rand(tu_n(&yt), -1, 1), *dx = tu_zeros(tu_n(&xt));
    tgc_opcode fwd = is_max ? TGC_OP_MAX_POOL2D : TGC_OP_AVG_POOL2D;
    tu_fwd f = {c, fwd, &a, 1, 1, {xt}, {yt}, {x}, {y}, r, 0, {0}, {0}};
    tu_loss(&f);
    double *ref = pool_ref(q, x, ho, wo, is_max);
    tu_close(y, ref, tu_n(&yt), 1e-6, is_max ? "max_pool2d forward" : "avg_pool2d forward");
    free(ref);
    if (is_max) {
        tgc_type bin[] = {yt, xt};
        void *bp[] = {r, x}, *bo[] = {dx};
        tu_exec(c, TGC_OP_MAX_POOL2D_BWD, &a, 2, bin, bp, 1, &xt, bo);
        tu_fd_check(&f, 0, dx, 1e-3, 1e-2, 80, "max_pool2d_bwd");
    } else {
        void *bp[] = {r}, *bo[] = {dx};
        tu_exec(c, TGC_OP_AVG_POOL2D_BWD, &ab, 1, &yt, bp, 1, &xt, bo);
        tu_fd_check(&f, 0, dx, 1e-2, 1e-2, 80, "avg_pool2d_bwd");
    }
    free(x), free(y), free(r), free(dx);
    tgc_cpu_free(c);
}

START_TEST(max_pool_resnet_stem) {
    tu_seed(21);
    pool_cfg q = {2, 3, 9, 9, 3, 3, 2, 2, {1, 1, 1, 1}, 0, 1};
    pool_case(&q, 1);
}
END_TEST

START_TEST(max_pool_ceil_mode) {
    tu_seed(22);
    pool_cfg q = {2, 2, 7, 8, 2, 3, 2, 2, {0, 1, 0, 1}, 1, 1};
    pool_case(&q, 1);
}
END_TEST

START_TEST(avg_pool_count_include_pad) {
    tu_seed(23);
    pool_cfg q = {2, 3, 8, 8, 3, 3, 2, 2, {1, 1, 1, 1}, 0, 1};
    pool_case(&q, 0);
}
END_TEST

START_TEST(avg_pool_exclude_pad) {
    tu_seed(24);
    pool_cfg q = {2, 3, 8, 8, 3, 3, 2, 2, {1, 1, 1, 1}, 0, 0};
    pool_case(&q, 0);
}
END_TEST

START_TEST(avg_pool_ceil_include_pad) { /* the overhang case: PyTorch's divisor, own loop */
    tu_seed(25);
    pool_cfg q = {2, 3, 8, 8, 3, 3, 2, 2, {1, 1, 1, 1}, 1, 1};
    pool_case(&q, 0);
}
END_TEST

START_TEST(avg_pool_ceil_exclude_pad) {
    tu_seed(26);
    pool_cfg q = {2, 3, 8, 7, 3, 2, 2, 2, {1, 1, 1, 1}, 1, 0};
    pool_case(&q, 0);
}
END_TEST

/* torch.nn.functional.avg_pool2d(torch.ones(1,1,3,3), 2, 2, ceil_mode=True) is all ones (the overhanging
 * windows are divided by their clipped size); the same with padding=1, count_include_pad=True gives
 * [[0.25, 0.5], [0.5, 1]]. */
START_TEST(avg_pool_pytorch_values) {
    tgc_err err;
    tgc_cpu *c = tgc_cpu_new(1, 0, &err);
    float x[9], y[4];
    for (int i = 0; i < 9; i++) x[i] = 1.f;
    pool_cfg q = {1, 1, 3, 3, 2, 2, 2, 2, {0, 0, 0, 0}, 1, 1};
    tgc_attrs a = pool_attrs(&q);
    tgc_type xt = tu_f4(1, 1, 3, 3), yt = tu_f4(1, 1, 2, 2);
    void *p[] = {x}, *o[] = {y};
    tu_exec(c, TGC_OP_AVG_POOL2D, &a, 1, &xt, p, 1, &yt, o);
    for (int i = 0; i < 4; i++) ck_assert_float_eq_tol(y[i], 1.f, 1e-6);
    a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = 1, a.ceil_mode = 0;
    tu_exec(c, TGC_OP_AVG_POOL2D, &a, 1, &xt, p, 1, &yt, o);
    float want[] = {0.25f, 0.5f, 0.5f, 1.f};
    for (int i = 0; i < 4; i++) ck_assert_float_eq_tol(y[i], want[i], 1e-6);
    /* a wrong output size is refused */
    tgc_type bad = tu_f4(1, 1, 3, 3);
    tu_exec_fails(c, TGC_OP_AVG_POOL2D, &a, 1, &xt, p, 1, &bad, o, "does not pool");
    tgc_cpu_free(c);
}
END_TEST

/* Ties go to the first maximum in row-major order, as PyTorch. */
START_TEST(max_pool_bwd_ties_first) {
    tgc_err err;
    tgc_cpu *c = tgc_cpu_new(1, 0, &err);
    float x[4] = {1, 3, 3, 3}, dy[1] = {2}, dx[4];
    pool_cfg q = {1, 1, 2, 2, 2, 2, 2, 2, {0, 0, 0, 0}, 0, 1};
    tgc_attrs a = pool_attrs(&q);
    tgc_type xt = tu_f4(1, 1, 2, 2), yt = tu_f4(1, 1, 1, 1), in[] = {yt, xt};
    void *p[] = {dy, x}, *o[] = {dx};
    tu_exec(c, TGC_OP_MAX_POOL2D_BWD, &a, 2, in, p, 1, &xt, o);
    ck_assert_float_eq(dx[0], 0.f);
    ck_assert_float_eq(dx[1], 2.f);
    ck_assert_float_eq(dx[2], 0.f);
    ck_assert_float_eq(dx[3], 0.f);
    tgc_cpu_free(c);
}
END_TEST

/* The own pooling loops (max backward, avg with ceil-mode overhang) split whole planes across threads:
 * 2 threads give the bits 1 thread gives (and 1 thread is checked above against finite differences). */
START_TEST(pool_own_loops_thread_independent) {
    tu_seed(27);
    tgc_err err;
    tgc_cpu *c1 = tgc_cpu_new(1, 1, &err), *c2 = tgc_cpu_new(2, 1, &err);
    ck_assert_ptr_nonnull(c1);
    ck_assert_ptr_nonnull(c2);
    pool_cfg q = {16, 8, 16, 16, 3, 3, 2, 2, {1, 1, 1, 1}, 1, 1};
    tgc_attrs a = pool_attrs(&q), ab = a;
    int64_t ho = pool_dim(16, 3, 2, 1, 1, 1);
    tgc_type xt = tu_f4(16, 8, 16, 16), yt = tu_f4(16, 8, ho, ho), bin[] = {yt, xt};
    ab.shape = xt.shape;
    float *x = tu_rand(tu_n(&xt), -1, 1), *dy = tu_rand(tu_n(&yt), -1, 1);
    float *out[2][3];
    tgc_cpu *cs[2] = {c1, c2};
    for (int t = 0; t < 2; t++) {
        out[t][0] = tu_zeros(tu_n(&xt)), out[t][1] = tu_zeros(tu_n(&xt)), out[t][2] = tu_zeros(tu_n(&yt));
        void *mp[] = {dy, x}, *mo[] = {out[t][0]}, *ap[] = {dy}, *ao[] = {out[t][1]}, *fp[] = {x}, *fo[] = {out[t][2]};
        tu_exec(cs[t], TGC_OP_MAX_POOL2D_BWD, &a, 2, bin, mp, 1, &xt, mo);
        tu_exec(cs[t], TGC_OP_AVG_POOL2D_BWD, &ab, 1, &yt, ap, 1, &xt, ao);
        tu_exec(cs[t], TGC_OP_AVG_POOL2D, &a, 1, &xt, fp, 1, &yt, fo);
    }
    ck_assert_int_eq(memcmp(out[0][0], out[1][0], sizeof(float) * (size_t)tu_n(&xt)), 0);
    ck_assert_int_eq(memcmp(out[0][1], out[1][1], sizeof(float) * (size_t)tu_n(&xt)), 0);
    ck_assert_int_eq(memcmp(out[0][2], out[1][2], sizeof(float) * (size_t)tu_n(&yt)), 0);
    for (int t = 0; t < 2; t++) free(out[t][0]), free(out[t][1]), free(out[t][2]);
    free(x), free(dy);
    tgc_cpu_free(c1);
    tgc_cpu_free(c2);
}
END_TEST

int main(void) {
    Suite *s = suite_create("backend_cpu_norm_pool");
    TCase *tc = tcase_create("norm_pool");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, bn_nchw);
    tcase_add_test(tc, bn_2d);
    tcase_add_test(tc, bn_one_value_per_channel_rejected);
    tcase_add_test(tc, max_pool_resnet_stem);
    tcase_add_test(tc, max_pool_ceil_mode);
    tcase_add_test(tc, avg_pool_count_include_pad);
    tcase_add_test(tc, avg_pool_exclude_pad);
    tcase_add_test(tc, avg_pool_ceil_include_pad);
    tcase_add_test(tc, avg_pool_ceil_exclude_pad);
    tcase_add_test(tc, avg_pool_pytorch_values);
    tcase_add_test(tc, max_pool_bwd_ties_first);
    tcase_add_test(tc, pool_own_loops_thread_independent);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
