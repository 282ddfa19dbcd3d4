/* tests/unit/test_backend_cpu_gradnorm.c - the update section's gradient norm, clipping and Lamb kernels
 * against values computed by hand (torch.nn.utils.clip_grad_norm_ / clip_grad_value_ and MMPretrain's
 * Lamb formulas), and their independence of the thread count. */
#include "tests/unit/test_backend_cpu_util.h"

static float norm_acc(tgc_cpu *c, const float *g, int64_t n, double p, float acc) {
    tgc_attrs a = tgc_attrs_default();
    a.norm_type = p;
    tgc_type in[] = {tu_f1(n), tu_f0()}, out[] = {tu_f0()};
    float r = -1;
    void *ip[] = {(void *)g, &acc}, *op[] = {&r};
    tu_exec(c, TGC_OP_GRAD_NORM_ACC, &a, 2, in, ip, 1, out, op);
    return r;
}

START_TEST(norm_acc_by_hand) {
    tgc_err err;
    tgc_cpu *c = tgc_cpu_new(1, 1, &err);
    ck_assert_ptr_nonnull(c);
    const float g[3] = {3.f, -4.f, 1.f};
    ck_assert_float_eq(norm_acc(c, g, 3, 2.0, 0.f), 26.f);
    ck_assert_float_eq(norm_acc(c, g, 3, 2.0, 4.f), 30.f); /* the chain adds */
    ck_assert_float_eq(norm_acc(c, g, 3, 1.0, 0.f), 8.f);
    ck_assert_float_eq(norm_acc(c, g, 3, INFINITY, 2.f), 4.f); /* max |g| */
    ck_assert_float_eq(norm_acc(c, g, 3, INFINITY, 5.f), 5.f);
    ck_assert_double_eq_tol(norm_acc(c, g, 3, 3.0, 0.f), 27.0 + 64.0 + 1.0, 1e-4);
    tgc_cpu_free(c);
}
END_TEST

START_TEST(clip_norm_and_value_by_hand) {
    tgc_err err;
    tgc_cpu *c = tgc_cpu_new(1, 1, &err);
    ck_assert_ptr_nonnull(c);
    float g[2] = {3.f, -4.f}, out[2], acc = 25.f;
    tgc_attrs a = tgc_attrs_default();
    a.max_norm = 1.0;
    tgc_type in[] = {tu_f1(2), tu_f0()}, ot[] = {tu_f1(2)};
    void *ip[] = {g, &acc}, *op[] = {out};
    tu_exec(c, TGC_OP_GRAD_CLIP_NORM, &a, 2, in, ip, 1, ot, op);
    float coef = 1.f / (5.f + 1e-6f); /* torch: max_norm / (total + 1e-6), clamped to 1 */
    ck_assert_float_eq(out[0], 3.f * coef);
    ck_assert_float_eq(out[1], -4.f * coef);
    a.max_norm = 10.0; /* above the norm: unchanged */
    tu_exec(c, TGC_OP_GRAD_CLIP_NORM, &a, 2, in, ip, 1, ot, op);
    ck_assert_float_eq(out[0], 3.f);
    ck_assert_float_eq(out[1], -4.f);
    a.max_norm = 1.0, a.norm_type = INFINITY, acc = 4.f; /* inf: the sum is the total */
    tu_exec(c, TGC_OP_GRAD_CLIP_NORM, &a, 2, in, ip, 1, ot, op);
    ck_assert_float_eq(out[1], -4.f * (1.f / (4.f + 1e-6f)));
    a.max_norm = 3.5;
    tu_exec(c, TGC_OP_GRAD_CLIP_VALUE, &a, 1, in, ip, 1, ot, op);
    ck_assert_float_eq(out[0], 3.f);
    ck_assert_float_eq(out[1], -3.5f);
    tgc_cpu_free(c);
}
END_TEST

/* One Lamb step on 3 elements, computed here in double from the algorithm. */
START_TEST(lamb_by_hand) {
    tgc_err err;
    tgc_cpu *c = tgc_cpu_new(1, 1, &err);
    ck_assert_ptr_nonnull(c);
    const double b1 = 0.9, b2 = 0.999, eps = 1e-6, wd = 0.02, lr = 0.01, maxn = 0.5;
    float p[3] = {1.0f, -2.0f, 0.5f}, g[3] = {0.5f, 0.25f, -1.0f}, m[3] = {0}, v[3] = {0};
    float lrv = (float)lr, step = 1.f, gsq = 2.f; /* global norm sqrt(2) > 0.5: divided by sqrt(2) / 0.5 */
    tgc_attrs a = tgc_attrs_default();
    a.beta1 = b1, a.beta2 = b2, a.eps = eps, a.weight_decay = wd, a.max_norm = maxn;
    double div = sqrt(2.0) / maxn, u[3], pn = 0, un = 0, want[3];
    for (int i = 0; i < 3; i++) {
        double gi = g[i] / div, mi = (1 - b1) * gi, vi = (1 - b2) * gi * gi;
        u[i] = (mi / (1 - b1)) / (sqrt(vi) / sqrt(1 - b2) + eps) + wd * p[i];
        pn += (double)p[i] * p[i], un += u[i] * u[i];
    }
    for (int i = 0; i < 3; i++) want[i] = p[i] - lr * sqrt(pn) / sqrt(un) * u[i];
    tgc_type t = tu_f1(3), s = tu_f0(), in[] = {t, t, t, t, s, s, s};
    void *ip[] = {p, g, m, v, &lrv, &step, &gsq};
    tu_exec(c, TGC_OP_LAMB_UPDATE, &a, 7, in, ip, 0, NULL, NULL);
    for (int i = 0; i < 3; i++) ck_assert_double_eq_tol(p[i], want[i], 2e-6);
    /* without decay (and always_adapt off) no trust ratio: the plain Adam-like step */
    float q[3] = {1.0f, -2.0f, 0.5f}, m2[3] = {0}, v2[3] = {0};
    a.weight_decay = 0;
    void *ip2[] = {q, g, m2, v2, &lrv, &step, &gsq};
    tu_exec(c, TGC_OP_LAMB_UPDATE, &a, 7, in, ip2, 0, NULL, NULL);
    for (int i = 0; i < 3; i++) {
        double gi = g[i] / div, ui = gi / (fabs(gi) + eps); /* m_hat / sqrt(v_hat) = sign */
        const double q0[3] = {1.0, -2.0, 0.5};
        ck_assert_double_eq_tol(q[i], q0[i] - lr * ui, 2e-6);
    }
    tgc_cpu_free(c);
}
END_TEST

/* Fixed chunks: the norm and a Lamb step are bit for bit the same on 1 and 3 threads. */
START_TEST(thread_count_independent) {
    tgc_err err;
    int64_t n = 100003;
    tu_seed(7);
    float *g = tu_rand(n, -1, 1), *p0 = tu_rand(n, -1, 1), r[2];
    float *pp[2], *mm[2], *vv[2];
    for (int k = 0; k < 2; k++) {
        tgc_cpu *c = tgc_cpu_new(k ? 3 : 1, 1, &err);
        ck_assert_ptr_nonnull(c);
        r[k] = norm_acc(c, g, n, 2.0, 0.f);
        pp[k] = tu_copy(p0, n), mm[k] = tu_zeros(n), vv[k] = tu_zeros(n);
        float lr = 0.01f, step = 1.f, gsq = r[k];
        tgc_attrs a = tgc_attrs_default();
        a.beta1 = 0.9, a.beta2 = 0.999, a.eps = 1e-6, a.weight_decay = 0.01, a.max_norm = 1.0;
        tgc_type t = tu_f1(n), s = tu_f0(), in[] = {t, t, t, t, s, s, s};
        void *ip[] = {pp[k], g, mm[k], vv[k], &lr, &step, &gsq};
        tu_exec(c, TGC_OP_LAMB_UPDATE, &a, 7, in, ip, 0, NULL, NULL);
        tgc_cpu_free(c);
    }
    ck_assert_float_eq(r[0], r[1]);
    ck_assert_int_eq(memcmp(pp[0], pp[1], sizeof(float) * (size_t)n), 0);
    ck_assert_int_eq(memcmp(vv[0], vv[1], sizeof(float) * (size_t)n), 0);
    for (int k = 0; k < 2; k++) free(pp[k]), free(mm[k]), free(vv[k]);
    free(g), free(p0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("backend_cpu_gradnorm");
    TCase *tc = tcase_create("gradnorm");
    tcase_add_test(tc, norm_acc_by_hand);
    tcase_add_test(tc, clip_norm_and_value_by_hand);
    tcase_add_test(tc, lamb_by_hand);
    tcase_add_test(tc, thread_count_independent);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
