/* tests/unit/test_rt_grad_accum.c - gradient accumulation's schedule as MMEngine's OptimWrapper computes it
 * (scale_loss, should_update) and the optimizer step count fed to the train program. */
#include <check.h>
#include <stdlib.h>

#include "runtime/runner/grad_accum.h"

/* 10 iterations, N = 3: groups 0-2, 3-5, 6-8 divide by 3; the last, incomplete group (iteration 9) by
 * 10 % 3 = 1 and updates at max_iters. */
START_TEST(schedule_with_remainder) {
    tgc_grad_accum a = {.n = 3};
    tgc_grad_accum_set_max(&a, 10);
    const int want_update[10] = {0, 0, 1, 0, 0, 1, 0, 0, 1, 1};
    const float want_inv[10] = {1.f / 3, 1.f / 3, 1.f / 3, 1.f / 3, 1.f / 3, 1.f / 3, 1.f / 3, 1.f / 3, 1.f / 3, 1.f};
    const int64_t want_step[10] = {1, 1, 1, 2, 2, 2, 3, 3, 3, 4};
    for (int i = 0; i < 10; i++) {
        tgc_grad_accum_begin(&a, i);
        ck_assert_msg(a.update == want_update[i], "iteration %d: update %d", i, a.update);
        ck_assert_msg(a.inv == want_inv[i], "iteration %d: 1/factor %g", i, (double)a.inv);
        ck_assert_int_eq(tgc_grad_accum_step(&a, i), want_step[i]);
    }
}
END_TEST

/* 8 iterations, N = 4: no remainder; 7 iterations, N = 2: the last group is iteration 6 alone. Groups run on
 * across epochs (nothing here knows epochs). */
START_TEST(schedule_other_counts) {
    tgc_grad_accum a = {.n = 4};
    tgc_grad_accum_set_max(&a, 8);
    for (int i = 0; i < 8; i++) {
        tgc_grad_accum_begin(&a, i);
        ck_assert_int_eq(a.update, i == 3 || i == 7);
        ck_assert(a.inv == 0.25f);
    }
    tgc_grad_accum b = {.n = 2};
    tgc_grad_accum_set_max(&b, 7);
    tgc_grad_accum_begin(&b, 5);
    ck_assert(b.update && b.inv == 0.5f);
    tgc_grad_accum_begin(&b, 6);
    ck_assert(b.update && b.inv == 1.f);
    ck_assert_int_eq(tgc_grad_accum_step(&b, 6), 4);
    /* disabled: every iteration updates, t = iteration + 1 */
    tgc_grad_accum off = {.n = 1, .inv = 1.f, .update = 1};
    tgc_grad_accum_begin(&off, 5);
    ck_assert(off.update && off.inv == 1.f);
    ck_assert_int_eq(tgc_grad_accum_step(&off, 5), 6);
}
END_TEST

int main(void) {
    Suite *s = suite_create("rt_grad_accum");
    TCase *tc = tcase_create("grad_accum");
    tcase_add_test(tc, schedule_with_remainder);
    tcase_add_test(tc, schedule_other_counts);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
