/* Float16 loss scaling's bookkeeping (runtime/runner/loss_scale.c) as PyTorch's GradScaler.update: an
 * overflowed step halves a dynamic scale and restarts the count; growth_interval finite steps in a row
 * double it; a fixed scale never changes but overflowed steps are still reported (skipped); a bf16 or
 * fp32 plan has no scaler. And the scale as Python prints a float, for mmcv's log line. */
#include "test_util.h"

#include "runtime/runner/loss_scale.h"

static tgc_loss_scaler dyn(double scale, int interval) {
    tgc_loss_scaler s;
    memset(&s, 0, sizeof s);
    s.enabled = s.dynamic = 1;
    s.scale = scale;
    s.growth_interval = interval;
    return s;
}

START_TEST(dynamic_scale_backs_off_and_grows) {
    tgc_loss_scaler s = dyn(65536.0, 3);
    s.found_inf = 1;
    ck_assert_int_eq(tgc_loss_scaler_update(&s), 1);
    ck_assert(s.scale == 32768.0 && s.growth_tracker == 0 && s.skipped == 1);
    s.found_inf = 0;
    ck_assert_int_eq(tgc_loss_scaler_update(&s), 0);
    ck_assert_int_eq(tgc_loss_scaler_update(&s), 0);
    ck_assert(s.scale == 32768.0 && s.growth_tracker == 2);
    ck_assert_int_eq(tgc_loss_scaler_update(&s), 0); /* the third finite step in a row */
    ck_assert(s.scale == 65536.0 && s.growth_tracker == 0);
    /* an overflow in the middle of a streak restarts it */
    tgc_loss_scaler_update(&s);
    s.found_inf = 1;
    tgc_loss_scaler_update(&s);
    s.found_inf = 0;
    tgc_loss_scaler_update(&s);
    tgc_loss_scaler_update(&s);
    ck_assert(s.scale == 32768.0 && s.growth_tracker == 2 && s.skipped == 2);
}
END_TEST

START_TEST(fixed_scale_and_disabled) {
    tgc_loss_scaler s = dyn(512.0, 1);
    s.dynamic = 0;
    s.found_inf = 1;
    ck_assert_int_eq(tgc_loss_scaler_update(&s), 1);
    s.found_inf = 0;
    ck_assert_int_eq(tgc_loss_scaler_update(&s), 0);
    ck_assert(s.scale == 512.0 && s.skipped == 1);
    tgc_loss_scaler off;
    memset(&off, 0, sizeof off);
    off.found_inf = 1;
    ck_assert_int_eq(tgc_loss_scaler_update(&off), 0);
}
END_TEST

START_TEST(python_float_text) {
    static const struct {
        double v;
        const char *text;
    } cases[] = {{65536.0, "65536.0"}, {32768.0, "32768.0"}, {0.5, "0.5"}, {1099511627776.0, "1099511627776.0"},
                 {1e16, "1e+16"}, {0.1, "0.1"}, {3.0517578125e-05, "3.0517578125e-05"}};
    for (size_t i = 0; i < TGC_ARRAY_LEN(cases); i++) {
        char buf[40];
        tgc_py_float(cases[i].v, buf, sizeof buf);
        ck_assert_str_eq(buf, cases[i].text);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("rt_loss_scale");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, dynamic_scale_backs_off_and_grows);
    tcase_add_test(tc, fixed_scale_and_disabled);
    tcase_add_test(tc, python_float_text);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
