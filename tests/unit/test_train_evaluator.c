/* tests/unit/test_train_evaluator.c - Accuracy top-k: ties, NaN, bad labels, percent in float32, config. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runner/hooks.h"
#include "test_util.h"

static tgc_cfg *parse(const char *yaml) { return test_cfg_parse(yaml, "t.yaml"); }

START_TEST(rank_ties_and_nan) {
    const float row[5] = {0.5f, 2.0f, 2.0f, -1.0f, 2.0f};
    /* equal scores: the lower class index ranks first, like a stable descending sort */
    ck_assert_int_eq(tgc_accuracy_rank(row, 5, 1), 0);
    ck_assert_int_eq(tgc_accuracy_rank(row, 5, 2), 1);
    ck_assert_int_eq(tgc_accuracy_rank(row, 5, 4), 2);
    ck_assert_int_eq(tgc_accuracy_rank(row, 5, 0), 3);
    ck_assert_int_eq(tgc_accuracy_rank(row, 5, 3), 4);
    const float nanrow[3] = {NAN, 1.0f, 0.0f};
    ck_assert_int_eq(tgc_accuracy_rank(nanrow, 3, 1), 1); /* a NaN elsewhere ranks above */
    ck_assert_int_eq(tgc_accuracy_rank(nanrow, 3, 0), 3); /* the label's own NaN is never correct */
}
END_TEST

START_TEST(topk_counts) {
    tgc_accuracy a;
    tgc_err err;
    tgc_cfg *c = parse("ev: {type: Accuracy, topk: [1, 2]}\n");
    ck_assert_int_eq(tgc_accuracy_from_cfg(tgc_cfg_get(c, "ev"), 3, &a, &err), 0);
    ck_assert_int_eq(a.n_topk, 2);
    /* 3 samples, 3 classes */
    const float logits[9] = {3, 1, 2,   /* label 0: top-1 */
                             1, 1, 0,   /* label 1: tie with class 0 -> rank 1: top-2 only */
                             0, 5, 1};  /* label 0: rank 2: neither */
    const int32_t labels[3] = {0, 1, 0};
    tgc_accuracy_update(&a, logits, labels, 3, 3);
    ck_assert_int_eq(a.correct[0], 1);
    ck_assert_int_eq(a.correct[1], 2);
    /* percent as MMPretrain computes it in float32: 1 * (100/3) */
    ck_assert(tgc_accuracy_value(&a, 0) == (double)(1.0f * (float)(100.0 / 3.0)));
    ck_assert(tgc_accuracy_value(&a, 0) != 100.0 / 3.0);
    ck_assert(tgc_accuracy_value(&a, 1) == (double)(2.0f * (float)(100.0 / 3.0)));
    char name[32];
    tgc_accuracy_name(&a, 1, name, sizeof name);
    ck_assert_str_eq(name, "accuracy/top2");
    /* labels out of range count as wrong but as samples */
    const int32_t bad[1] = {7};
    tgc_accuracy_update(&a, logits, bad, 1, 3);
    ck_assert_int_eq(a.total, 4);
    ck_assert_int_eq(a.correct[1], 2);
    tgc_accuracy_reset(&a);
    ck_assert_int_eq(a.total, 0);
    ck_assert(tgc_accuracy_value(&a, 0) == 0.0);
    tgc_cfg_free(c);
}
END_TEST

START_TEST(config_forms_and_errors) {
    tgc_accuracy a;
    tgc_err err;
    ck_assert_int_eq(tgc_accuracy_from_cfg(NULL, 10, &a, &err), 0);
    ck_assert_int_eq(a.n_topk, 1);
    ck_assert_int_eq(a.topk[0], 1);
    tgc_cfg *c = parse("a: [{type: mmpretrain.Accuracy, topk: 5}]\n"
                       "b: {type: Accuracy, topk: [1, 11]}\n"
                       "c: {type: F1Score}\n"
                       "d: [{type: Accuracy}, {type: Accuracy}]\n");
    ck_assert_int_eq(tgc_accuracy_from_cfg(tgc_cfg_get(c, "a"), 10, &a, &err), 0);
    ck_assert_int_eq(a.topk[0], 5);
    ck_assert_int_eq(tgc_accuracy_from_cfg(tgc_cfg_get(c, "b"), 10, &a, &err), -1);
    ck_assert_msg(strstr(err.msg, "t.yaml:2") && strstr(err.msg, "topk 11 is outside 1..10"), "%s", err.msg);
    ck_assert_int_eq(tgc_accuracy_from_cfg(tgc_cfg_get(c, "c"), 10, &a, &err), -1);
    ck_assert_msg(strstr(err.msg, "unsupported evaluator 'F1Score'"), "%s", err.msg);
    ck_assert_int_eq(tgc_accuracy_from_cfg(tgc_cfg_get(c, "d"), 10, &a, &err), -1);
    ck_assert_msg(strstr(err.msg, "only one evaluator"), "%s", err.msg);
    tgc_cfg_free(c);
}
END_TEST

int main(void) {
    Suite *s = suite_create("train_evaluator");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, rank_ties_and_nan);
    tcase_add_test(tc, topk_counts);
    tcase_add_test(tc, config_forms_and_errors);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
