/* Executor tests: a compiled plan runs its train and eval programs on the CPU kernels; a fixed batch is
 * overfitted, state initialisation follows the init specs, and runs are bit-identical for one seed. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plan/plan.h"
#include "frontend/frontend.h"
#include "runtime/data/data.h"
#include "runtime/exec/executor.h"
#include "test_compile.h"
#include "test_exec_util.h"

static const char *LENET = TEST_LENET_YAML(16, 8);

static const char *RESNET =
    TEST_RESNET_YAML(16, 16, "lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 0.0001");

static float train_steps(const tgc_plan *p, int steps, float *first_loss) {
    tgc_err err;
    tgc_exec_opts o = {.n_threads = 1, .deterministic = 1};
    tgc_exec *x = tgc_exec_new(p, &o, &err);
    ck_assert_msg(x, "%s", err.msg);
    ck_assert_msg(tgc_exec_init_state(x, 42, &err) == 0, "%s", err.msg);
    test_feed(x, "train", 7, 0, 0.05f);
    int si = tgc_exec_input(x, "train", "step");
    int lo = tgc_exec_output(x, "train");
    ck_assert_int_ge(si, 0);
    ck_assert_int_ge(lo, 0);
    float loss = 0;
    for (int s = 1; s <= steps; s++) {
        exec_put_f32(x, si, (float)s);
        ck_assert_msg(tgc_exec_run(x, "train", &err) == 0, "%s", err.msg);
        loss = exec_get_f32(x, lo);
        ck_assert(isfinite(loss));
        if (s == 1 && first_loss) *first_loss = loss;
    }
    /* The eval program runs on the trained state. */
    test_feed(x, "eval", 7, 0, 0.f);
    ck_assert_msg(tgc_exec_run(x, "eval", &err) == 0, "%s", err.msg);
    int oi = tgc_exec_output(x, "eval");
    float *logits = exec_get(x, oi);
    int64_t n = tgc_shape_numel(&tgc_exec_tensor(x, oi)->type.shape);
    for (int64_t i = 0; i < n; i++) ck_assert(isfinite(logits[i]));
    free(logits);
    tgc_exec_free(x);
    return loss;
}

START_TEST(lenet_overfits_a_batch) {
    tgc_plan *p = test_compile(LENET, NULL, 0);
    float first = 0, last = train_steps(p, 60, &first);
    /* 16 random images with fixed labels: the loss starts near ln(10) and must fall far below it. */
    ck_assert_msg(first > 2.0f && first < 2.6f, "first loss %g", first);
    ck_assert_msg(last < 0.2f * first, "loss %g -> %g", first, last);
    tgc_plan_free(p);
}
END_TEST

START_TEST(resnet_overfits_a_batch_bit_identically) {
    tgc_plan *p = test_compile(RESNET, NULL, 0);
    float first = 0, a = train_steps(p, 250, &first), b = train_steps(p, 250, NULL);
    /* zero_init_residual and a 0.01-std head make the start slow; 250 steps reach well below 0.2. */
    ck_assert_msg(a < 0.2f * first, "loss %g -> %g", first, a);
    ck_assert_msg(memcmp(&a, &b, sizeof a) == 0, "two runs differ: %.9g vs %.9g", a, b);
    tgc_plan_free(p);
}
END_TEST

START_TEST(init_follows_specs) {
    tgc_plan *p = test_compile(RESNET, NULL, 0);
    tgc_err err;
    tgc_exec_opts o = {.n_threads = 1};
    tgc_exec *x = tgc_exec_new(p, &o, &err);
    ck_assert_msg(x, "%s", err.msg);
    ck_assert_msg(tgc_exec_init_state(x, 1, &err) == 0, "%s", err.msg);
    int checked = 0;
    for (int i = 0; i < p->n_tensors; i++) {
        const tgc_plan_tensor *t = &p->tensors[i];
        float *d = exec_get(x, i);
        int64_t n = tgc_shape_numel(&t->type.shape);
        if (t->kind == TGC_VAL_PARAM && t->init.kind == TGC_INIT_NORMAL && n >= 1000) {
            double s = 0, s2 = 0;
            for (int64_t k = 0; k < n; k++) {
                s += d[k];
                s2 += (double)d[k] * d[k];
            }
            double mean = s / n, sd = sqrt(s2 / n - mean * mean);
            ck_assert_msg(fabs(mean - t->init.a) < 4 * t->init.b / sqrt((double)n), "%s mean %g", t->name, mean);
            ck_assert_msg(fabs(sd / t->init.b - 1) < 0.1, "%s std %g, want %g", t->name, sd, t->init.b);
            checked++;
        }
        if (t->kind == TGC_VAL_BUFFER && strstr(t->name, "running_var"))
            for (int64_t k = 0; k < n; k++) ck_assert_float_eq(d[k], 1.0f);
        if (t->kind == TGC_VAL_OPTSTATE)
            for (int64_t k = 0; k < n; k++) ck_assert_float_eq(d[k], 0.0f);
        free(d);
    }
    ck_assert_int_ge(checked, 3);
    /* Another seed gives other weights; the same seed the same ones. */
    int w = -1;
    for (int i = 0; i < p->n_tensors; i++)
        if (strcmp(p->tensors[i].name, "backbone.conv1.weight") == 0) w = i;
    ck_assert_int_ge(w, 0);
    float *d = exec_get(x, w), v1 = d[3];
    free(d);
    ck_assert_msg(tgc_exec_init_state(x, 2, &err) == 0, "%s", err.msg);
    d = exec_get(x, w);
    ck_assert(d[3] != v1);
    free(d);
    ck_assert_msg(tgc_exec_init_state(x, 1, &err) == 0, "%s", err.msg);
    d = exec_get(x, w);
    ck_assert(d[3] == v1);
    free(d);
    tgc_exec_free(x);
    tgc_plan_free(p);
}
END_TEST

int main(void) {
    Suite *s = suite_create("exec");
    TCase *tc = tcase_create("train");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, lenet_overfits_a_batch);
    tcase_add_test(tc, resnet_overfits_a_batch_bit_identically);
    tcase_add_test(tc, init_follows_specs);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
