/* tests/unit/test_backend_cpu_optim.c - the optimizer updates against values computed by hand (PyTorch's
 * torch.optim.SGD / AdamW formulas, two steps) for SGD plain, momentum, dampening, nesterov, weight decay
 * and AdamW, including the state left in the buffers, and their refusal of a bad step. */
#include "tests/unit/test_backend_cpu_util.h"

static const float P0[3] = {1.0f, -2.0f, 0.5f};
static const float G[2][3] = {{0.5f, 0.25f, -1.0f}, {0.1f, -0.3f, 0.2f}};

static void expect3(const float *got, const double *want, const char *what, int step) {
    for (int i = 0; i < 3; i++)
        ck_assert_msg(fabs(got[i] - want[i]) <= 2e-6 * fmax(1.0, fabs(want[i])), "%s step %d [%d]: %.9g, expected %.9g",
                      what, step, i, (double)got[i], want[i]);
}

/* Runs two steps of sgd_momentum_update (or sgd_update when plain) and checks p (and buf). */
static void sgd_case(int plain, double lr, double alpha, double wd, double mom, double damp, int nest,
                     const double want_p[2][3], const double want_buf[2][3], const char *what) {
    tgc_err err;
    tgc_cpu *c = tgc_cpu_new(1, 1, &err);
    ck_assert_ptr_nonnull(c);
    tgc_attrs a = tgc_attrs_default();
    a.alpha = alpha, a.weight_decay = wd, a.momentum = mom, a.dampening = damp, a.nesterov = nest;
    float p[3], buf[3] = {0, 0, 0}, g[3], lrv = (float)lr, step;
    memcpy(p, P0, sizeof p);
    tgc_type t = tu_f1(3), s = tu_f0();
    for (int k = 0; k < 2; k++) {
        memcpy(g, G[k], sizeof g);
        step = (float)(k + 1);
        if (plain) {
            tgc_type in[] = {t, t, s};
            void *ptr[] = {p, g, &lrv};
            tu_exec(c, TGC_OP_SGD_UPDATE, &a, 3, in, ptr, 0, NULL, NULL);
        } else {
            tgc_type in[] = {t, t, t, s, s};
            void *ptr[] = {p, g, buf, &lrv, &step};
            tu_exec(c, TGC_OP_SGD_MOMENTUM_UPDATE, &a, 5, in, ptr, 0, NULL, NULL);
        }
        expect3(p, want_p[k], what, k + 1);
        if (want_buf) expect3(buf, want_buf[k], what, k + 1);
    }
    tgc_cpu_free(c);
}

START_TEST(sgd_plain_weight_decay_lr_mult) {
    /* lr 0.1 times lr_mult 2; d = g + 0.01 p; p -= 0.2 d */
    const double p[2][3] = {{0.898, -2.046, 0.699}, {0.876204, -1.981908, 0.657602}};
    sgd_case(1, 0.1, 2.0, 0.01, 0, 0, 0, p, NULL, "sgd");
}
END_TEST

START_TEST(sgd_momentum) {
    /* step 1: buf = g; step 2: buf = 0.9 buf + g */
    const double p[2][3] = {{0.95, -2.025, 0.6}, {0.895, -2.0175, 0.67}};
    const double b[2][3] = {{0.5, 0.25, -1}, {0.55, -0.075, -0.7}};
    sgd_case(0, 0.1, 1.0, 0.0, 0.9, 0, 0, p, b, "sgd momentum");
}
END_TEST

START_TEST(sgd_momentum_dampening_weight_decay) {
    /* step 1: buf = g + wd p, undampened; step 2: buf = 0.9 buf + 0.9 (g + wd p) */
    const double p[2][3] = {{0.949, -2.023, 0.5995}, {0.8932459, -2.0148793, 0.67051045}};
    const double b[2][3] = {{0.51, 0.23, -0.995}, {0.557541, -0.081207, -0.7101045}};
    sgd_case(0, 0.1, 1.0, 0.01, 0.9, 0.1, 0, p, b, "sgd dampening");
}
END_TEST

START_TEST(sgd_nesterov) {
    /* d = (g + wd p) + 0.9 buf */
    const double p[2][3] = {{0.9031, -2.0437, 0.68905}, {0.84107411, -2.00144697, 0.730335805}};
    const double b[2][3] = {{0.51, 0.23, -0.995}, {0.568031, -0.113437, -0.6886095}};
    sgd_case(0, 0.1, 1.0, 0.01, 0.9, 0, 1, p, b, "sgd nesterov");
}
END_TEST

START_TEST(adamw_two_steps) {
    tgc_err err;
    tgc_cpu *c = tgc_cpu_new(1, 1, &err);
    ck_assert_ptr_nonnull(c);
    tgc_attrs a = tgc_attrs_default();
    a.alpha = 1, a.weight_decay = 0.05, a.beta1 = 0.9, a.beta2 = 0.999, a.eps = 1e-8;
    float p[3], g[3], m[3] = {0}, v[3] = {0}, lr = 0.01f, step;
    memcpy(p, P0, sizeof p);
    /* step 1 by hand, element 0: p = 1*(1 - 0.01*0.05) = 0.9995; m = 0.05; v = 0.00025;
     * p -= 0.01/0.1 * 0.05 / (sqrt(0.00025)/sqrt(0.001) + 1e-8) = 0.01  ->  0.9895 */
    const double wp[2][3] = {{0.9895, -2.009, 0.50975}, {0.980974841, -2.00656605, 0.514605386}};
    const double wm[2][3] = {{0.05, 0.025, -0.1}, {0.055, -0.0075, -0.07}};
    const double wv[2][3] = {{0.00025, 6.25e-05, 0.001}, {0.00025975, 0.0001524375, 0.001039}};
    tgc_type t = tu_f1(3), s = tu_f0();
    tgc_type in[] = {t, t, t, t, s, s};
    for (int k = 0; k < 2; k++) {
        memcpy(g, G[k], sizeof g);
        step = (float)(k + 1);
        void *ptr[] = {p, g, m, v, &lr, &step};
        tu_exec(c, TGC_OP_ADAMW_UPDATE, &a, 6, in, ptr, 0, NULL, NULL);
        expect3(p, wp[k], "adamw p", k + 1);
        expect3(m, wm[k], "adamw exp_avg", k + 1);
        expect3(v, wv[k], "adamw exp_avg_sq", k + 1);
    }
    step = 0;
    void *ptr[] = {p, g, m, v, &lr, &step};
    tu_exec_fails(c, TGC_OP_ADAMW_UPDATE, &a, 6, in, ptr, 0, NULL, NULL, "step");
    tgc_type shorter = tu_f1(2);
    tgc_type bad[] = {t, shorter, t, t, s, s};
    step = 1;
    tu_exec_fails(c, TGC_OP_ADAMW_UPDATE, &a, 6, bad, ptr, 0, NULL, NULL, "differ in shape");
    tgc_cpu_free(c);
}
END_TEST

/* A large parameter is updated by several threads (cpu_parallel): every chunk must be updated exactly once. */
START_TEST(sgd_large_threaded) {
    tgc_err err;
    tgc_cpu *c = tgc_cpu_new(2, 1, &err);
    ck_assert_ptr_nonnull(c);
    int64_t n = 100003;
    float *p = tu_zeros(n), *g = tu_zeros(n), lr = 0.5f;
    for (int64_t i = 0; i < n; i++) p[i] = 1.f, g[i] = (float)(i % 7);
    tgc_attrs a = tgc_attrs_default();
    tgc_type t = tu_f1(n), s = tu_f0(), in[] = {t, t, s};
    void *ptr[] = {p, g, &lr};
    tu_exec(c, TGC_OP_SGD_UPDATE, &a, 3, in, ptr, 0, NULL, NULL);
    for (int64_t i = 0; i < n; i++) ck_assert_float_eq(p[i], 1.f - 0.5f * (float)(i % 7));
    free(p), free(g);
    tgc_cpu_free(c);
}
END_TEST

int main(void) {
    Suite *s = suite_create("backend_cpu_optim");
    TCase *tc = tcase_create("optim");
    tcase_add_test(tc, sgd_plain_weight_decay_lr_mult);
    tcase_add_test(tc, sgd_momentum);
    tcase_add_test(tc, sgd_momentum_dampening_weight_decay);
    tcase_add_test(tc, sgd_nesterov);
    tcase_add_test(tc, adamw_two_steps);
    tcase_add_test(tc, sgd_large_threaded);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
