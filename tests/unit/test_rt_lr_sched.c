/* tests/unit/test_rt_lr_sched.c - LR schedules against PyTorch's chained schedulers; auto_scale_lr; errors. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/cfg.h"
#include "runtime/runner/lr_sched.h"
#include "test_util.h"

/* Reference values: produced once with Debian's PyTorch 1.13 (/usr/bin/python3, torch.optim.lr_scheduler),
 * an SGD optimizer, and the schedulers stepped as MMEngine's ParamSchedulerHook does (by-iter ones after each
 * iteration, by-epoch ones after each epoch's last iteration, list order), recording the lr each iteration
 * used. MMEngine's arguments map to PyTorch's as: LinearLR/ConstantLR/PolyLR total_iters = end - begin - 1;
 * convert_to_iter_based multiplies T_max/end by the iterations per epoch; eta_min_ratio r -> eta_min = r*lr;
 * begin > 0 -> the PyTorch scheduler is constructed when step `begin` is reached. */
typedef struct ref_pt {
    int64_t iter;
    double lr;
} ref_pt;

/* A: LinearLR(start 0.01, by iter, end 500) + CosineAnnealingLR(T_max 10 epochs, eta_min_ratio 0.01,
 *    convert_to_iter_based); 100 iters/epoch, 10 epochs, lr 0.1 -> torch LinearLR(total_iters=499) +
 *    CosineAnnealingLR(T_max=1000, eta_min=0.001), both stepped every iteration. */
static const ref_pt ref_a[] = {
    {0, 0.001}, {1, 0.0011983963040631104}, {2, 0.0013967900794709296}, {50, 0.010862702666247993},
    {99, 0.020188081639330325}, {100, 0.020372529668973523}, {250, 0.043454232652116211},
    {498, 0.051045969932985838}, {499, 0.050990887465710746}, {500, 0.05083432856273086},
    {501, 0.050677769659750974}, {750, 0.015596136900145389}, {998, 0.0010009836869808099},
    {999, 0.0010002459223519885},
};
/* B: MultiStepLR([30, 60, 90]) by epoch; 3 iters/epoch, 100 epochs, lr 0.1. */
static const ref_pt ref_b[] = {
    {0, 0.10000000000000001}, {89, 0.10000000000000001}, {90, 0.010000000000000002}, {91, 0.010000000000000002},
    {179, 0.010000000000000002}, {180, 0.0010000000000000002}, {269, 0.0010000000000000002},
    {270, 0.00010000000000000003}, {299, 0.00010000000000000003},
};
/* C: LinearLR(start 0.25, by iter, end 50) + CosineAnnealingLR(by epoch, T_max defaulting to end - begin = 5,
 *    eta_min 5e-4), not converted; 20 iters/epoch, 5 epochs, lr 0.2. */
static const ref_pt ref_c[] = {
    {0, 0.050000000000000003}, {19, 0.10816326530612247}, {20, 0.10065124186715592}, {21, 0.10342145953322443},
    {39, 0.15328537752245755}, {40, 0.11306108610646136}, {49, 0.13112409986311496}, {50, 0.13112409986311496},
    {60, 0.069451765728282752}, {99, 0.019557799330433331},
};
/* D: ConstantLR(factor 0.5, by iter, end 10) + ExponentialLR(gamma 0.9, by epoch); 4 iters/epoch, lr 0.1. */
static const ref_pt ref_d[] = {
    {0, 0.050000000000000003}, {3, 0.050000000000000003}, {4, 0.045000000000000005}, {8, 0.040500000000000008},
    {9, 0.081000000000000016}, {10, 0.081000000000000016}, {12, 0.07290000000000002}, {19, 0.065610000000000016},
};
/* E: StepLR(step_size 3, gamma 0.5, by epoch, begin 1, end 8); 2 iters/epoch, 10 epochs, lr 0.1. */
static const ref_pt ref_e[] = {
    {0, 0.10000000000000001}, {1, 0.10000000000000001}, {2, 0.10000000000000001}, {3, 0.10000000000000001},
    {7, 0.10000000000000001}, {8, 0.050000000000000003}, {9, 0.050000000000000003}, {13, 0.050000000000000003},
    {14, 0.025000000000000001}, {15, 0.025000000000000001}, {19, 0.025000000000000001},
};
/* F: PolyLR(power 2, by iter, end 20); lr 0.1 -> torch PolynomialLR(total_iters=19, power=2). */
static const ref_pt ref_f[] = {
    {0, 0.10000000000000001}, {1, 0.089750692520775638}, {10, 0.02243767313019392},
    {18, 0.00027700831024930815}, {19, 0}, {24, 0},
};

static tgc_cfg *parse(const char *yaml) { return test_cfg_parse(yaml, "sched.yaml"); }

static void check_refs(const char *yaml, double lr, int64_t ipe, int64_t max_epochs, const ref_pt *ref, int n) {
    tgc_cfg *root = parse(yaml);
    tgc_err err = {{0}};
    tgc_lr_sched_facts f = {ipe, max_epochs, ipe * max_epochs};
    tgc_lr_sched *s = tgc_lr_sched_build(tgc_cfg_get(root, "param_scheduler"), lr, &f, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    for (int pass = 0; pass < 2; pass++) { /* forwards, then again after a rewind to 0 */
        for (int i = 0; i < n; i++) {
            double got = tgc_lr_sched_lr_at(s, ref[i].iter);
            ck_assert_msg(fabs(got - ref[i].lr) <= 1e-12 * fabs(ref[i].lr) + 1e-18,
                          "iter %lld: got %.17g, want %.17g", (long long)ref[i].iter, got, ref[i].lr);
        }
    }
    /* random access: backwards */
    for (int i = n - 1; i >= 0; i--)
        ck_assert(fabs(tgc_lr_sched_lr_at(s, ref[i].iter) - ref[i].lr) <= 1e-12 * fabs(ref[i].lr) + 1e-18);
    tgc_lr_sched_free(s);
    tgc_cfg_free(root);
}

START_TEST(warmup_cosine_iter_based) {
    check_refs("param_scheduler:\n"
               "  - {type: LinearLR, start_factor: 0.01, by_epoch: false, begin: 0, end: 500}\n"
               "  - {type: CosineAnnealingLR, T_max: 10, eta_min_ratio: 0.01, by_epoch: true,\n"
               "     convert_to_iter_based: true}\n",
               0.1, 100, 10, ref_a, (int)TGC_ARRAY_LEN(ref_a));
}
END_TEST

START_TEST(multistep_single_map) {
    check_refs("param_scheduler:\n  type: MultiStepLR\n  milestones: [30, 60, 90]\n", 0.1, 3, 100, ref_b,
               (int)TGC_ARRAY_LEN(ref_b));
}
END_TEST

START_TEST(warmup_iter_cosine_epoch) {
    check_refs("param_scheduler:\n"
               "  - {type: LinearLR, start_factor: 0.25, by_epoch: false, end: 50}\n"
               "  - {type: CosineAnnealingLR, eta_min: 0.0005}\n",
               0.2, 20, 5, ref_c, (int)TGC_ARRAY_LEN(ref_c));
}
END_TEST

START_TEST(constant_then_exponential) {
    check_refs("param_scheduler:\n"
               "  - {type: ConstantLR, factor: 0.5, by_epoch: false, end: 10}\n"
               "  - {type: ExponentialLR, gamma: 0.9}\n",
               0.1, 4, 5, ref_d, (int)TGC_ARRAY_LEN(ref_d));
}
END_TEST

START_TEST(step_with_begin) {
    check_refs("param_scheduler:\n  - {type: StepLR, step_size: 3, gamma: 0.5, begin: 1, end: 8}\n", 0.1, 2, 10,
               ref_e, (int)TGC_ARRAY_LEN(ref_e));
}
END_TEST

START_TEST(poly) {
    check_refs("param_scheduler:\n  - {type: PolyLR, power: 2.0, eta_min: 0, by_epoch: false, end: 20}\n", 0.1, 5, 5,
               ref_f, (int)TGC_ARRAY_LEN(ref_f));
}
END_TEST

START_TEST(constant_when_absent) {
    tgc_err err = {{0}};
    tgc_lr_sched_facts f = {10, 3, 30};
    tgc_lr_sched *s = tgc_lr_sched_build(NULL, 0.05, &f, &err);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(tgc_lr_sched_count(s), 0);
    ck_assert(tgc_lr_sched_lr_at(s, 0) == 0.05 && tgc_lr_sched_lr_at(s, 29) == 0.05);
    tgc_lr_sched_free(s);
}
END_TEST

START_TEST(auto_scale) {
    tgc_cfg *root = parse("a: {base_batch_size: 256, enable: true}\nb: {base_batch_size: 256}\nc: {enable: true}\n"
                          "d: {enable: true, base_batch_size: 0}\n");
    tgc_err err = {{0}};
    double r = 0;
    ck_assert_int_eq(tgc_auto_scale_lr(tgc_cfg_get(root, "a"), 8 * 64, &r, &err), 0);
    ck_assert(r == 2.0);
    ck_assert_int_eq(tgc_auto_scale_lr(tgc_cfg_get(root, "b"), 8 * 64, &r, &err), 0);
    ck_assert(r == 1.0);
    ck_assert_int_eq(tgc_auto_scale_lr(NULL, 8 * 64, &r, &err), 0);
    ck_assert(r == 1.0);
    ck_assert_int_eq(tgc_auto_scale_lr(tgc_cfg_get(root, "c"), 64, &r, &err), -1);
    ck_assert_msg(strstr(err.msg, "base_batch_size") && strstr(err.msg, "sched.yaml:3"), "%s", err.msg);
    ck_assert_int_eq(tgc_auto_scale_lr(tgc_cfg_get(root, "d"), 64, &r, &err), -1);
    ck_assert_msg(strstr(err.msg, "d.base_batch_size"), "%s", err.msg);
    tgc_cfg_free(root);
}
END_TEST

/* Each bad config must fail with a message holding all of `want` (separated by '|'). */
static void expect_error(const char *yaml, const char *want) {
    tgc_cfg *root = parse(yaml);
    tgc_err err = {{0}};
    tgc_lr_sched_facts f = {10, 5, 50};
    tgc_lr_sched *s = tgc_lr_sched_build(tgc_cfg_get(root, "param_scheduler"), 0.1, &f, &err);
    ck_assert_msg(s == NULL, "accepted: %s", yaml);
    char buf[512];
    snprintf(buf, sizeof buf, "%s", want);
    for (char *tok = strtok(buf, "|"); tok; tok = strtok(NULL, "|"))
        ck_assert_msg(strstr(err.msg, tok), "message '%s' lacks '%s'", err.msg, tok);
    tgc_cfg_free(root);
}

START_TEST(errors) {
    expect_error("param_scheduler:\n  - {type: LinearLR, end: 5}\n  - {type: OneCycleLR}\n",
                 "sched.yaml:3|param_scheduler[1].type|unknown scheduler type 'OneCycleLR'|known: LinearLR, MultiStepLR");
    expect_error("param_scheduler: {type: LinearLR, begin: 5, end: 5}\n", "sched.yaml:1|end should be larger than begin");
    expect_error("param_scheduler: {type: LinearLR, start_factor: 0}\n", "start_factor must be in (0, 1]");
    expect_error("param_scheduler: {type: StepLR, step: 3}\n", "unknown key 'step' for StepLR");
    expect_error("param_scheduler: {type: StepLR}\n", "StepLR needs `step_size`");
    expect_error("param_scheduler: {type: MultiStepLR}\n", "needs `milestones`");
    expect_error("param_scheduler: {type: MultiStepLR, milestones: [a]}\n", "param_scheduler.milestones");
    expect_error("param_scheduler: {type: CosineAnnealingLR, by_epoch: false, convert_to_iter_based: true}\n",
                 "convert_to_iter_based needs by_epoch");
    expect_error("param_scheduler: {type: CosineAnnealingLR, eta_min: 0, eta_min_ratio: 0.1}\n",
                 "either eta_min or eta_min_ratio");
    expect_error("param_scheduler: {type: CosineAnnealingLR, T_max: 0}\n", "T_max must be > 0");
    expect_error("param_scheduler: [{by_epoch: true}]\n", "has no `type`");
    expect_error("param_scheduler: 3\n", "must be a map or a list of maps");
    expect_error("param_scheduler: {type: StepLR, step_size: 4611686018427387904, convert_to_iter_based: true}\n",
                 "overflow");
}
END_TEST

int main(void) {
    Suite *s = suite_create("rt_sched");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, warmup_cosine_iter_based);
    tcase_add_test(tc, multistep_single_map);
    tcase_add_test(tc, warmup_iter_cosine_epoch);
    tcase_add_test(tc, constant_then_exponential);
    tcase_add_test(tc, step_with_begin);
    tcase_add_test(tc, poly);
    tcase_add_test(tc, constant_when_absent);
    tcase_add_test(tc, auto_scale);
    tcase_add_test(tc, errors);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
