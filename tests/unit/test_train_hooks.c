/* tests/unit/test_train_hooks.c - when MMEngine's loops and hooks act (validate, log, save, keep), the
 * logger's numpy-exact smoothing, and the hook settings read from config. Expected sums were printed by
 * numpy 2.4 (np.sum of the same float64 arrays). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runner/hooks.h"
#include "test_util.h"

static tgc_cfg *parse(const char *yaml) { return test_cfg_parse(yaml, "h.yaml"); }

START_TEST(validation_schedule) {
    tgc_err err;
    tgc_loop_cfg l;
    tgc_cfg *c = parse("a: {by_epoch: true, max_epochs: 5, val_interval: 2}\n"
                       "b: {type: IterBasedTrainLoop, max_iters: 2500, val_interval: 1000, val_begin: 1500}\n"
                       "c: {max_iters: 10}\n"
                       "d: {by_epoch: true}\n"
                       "e: {type: MyLoop, max_epochs: 1}\n"
                       "f: {max_epochs: 2, val_interval: 0}\n");
    ck_assert_int_eq(tgc_loop_from_cfg(tgc_cfg_get(c, "a"), &l, &err), 0);
    ck_assert(l.by_epoch && l.max_epochs == 5);
    /* every val_interval epochs, and after the last one even when it is not a multiple (MMEngine) */
    int want_a[6] = {0, 0, 1, 0, 1, 1};
    for (int e = 1; e <= 5; e++) ck_assert_int_eq(tgc_loop_should_validate(&l, e), want_a[e]);
    ck_assert_int_eq(tgc_loop_from_cfg(tgc_cfg_get(c, "b"), &l, &err), 0);
    ck_assert(!l.by_epoch && l.max_iters == 2500);
    ck_assert(!tgc_loop_should_validate(&l, 1000)); /* before val_begin */
    ck_assert(tgc_loop_should_validate(&l, 2000));
    ck_assert(!tgc_loop_should_validate(&l, 2001));
    ck_assert(tgc_loop_should_validate(&l, 2500));
    ck_assert_int_eq(tgc_loop_from_cfg(tgc_cfg_get(c, "c"), &l, &err), 0);
    ck_assert(!l.by_epoch && l.val_interval == 1000);
    ck_assert_int_eq(tgc_loop_from_cfg(tgc_cfg_get(c, "d"), &l, &err), -1);
    ck_assert_msg(strstr(err.msg, "missing max_epochs"), "%s", err.msg);
    ck_assert_int_eq(tgc_loop_from_cfg(tgc_cfg_get(c, "e"), &l, &err), -1);
    ck_assert_msg(strstr(err.msg, "h.yaml:5") && strstr(err.msg, "unsupported train loop 'MyLoop'"), "%s", err.msg);
    ck_assert_int_eq(tgc_loop_from_cfg(tgc_cfg_get(c, "f"), &l, &err), -1);
    ck_assert_int_eq(tgc_loop_from_cfg(NULL, &l, &err), -1);
    tgc_cfg_free(c);
}
END_TEST

START_TEST(logger_schedule) {
    tgc_err err;
    tgc_logger_cfg lc;
    tgc_cfg *c = parse("default_hooks: {logger: {type: LoggerHook, interval: 50}}\nlog_processor: {window_size: 20}\n");
    ck_assert_int_eq(tgc_logger_from_cfg(c, 1, &lc, &err), 0);
    ck_assert_int_eq(lc.interval, 50);
    ck_assert_int_eq(lc.window_size, 20);
    ck_assert(lc.ignore_last && lc.by_epoch);
    /* 468 batches per epoch: 50, 100, ... 450; the last (468) is skipped with ignore_last */
    ck_assert(tgc_logger_should_log(&lc, 49, 468));
    ck_assert(!tgc_logger_should_log(&lc, 50, 468));
    ck_assert(tgc_logger_should_log(&lc, 449, 468));
    ck_assert(!tgc_logger_should_log(&lc, 467, 468));
    /* an epoch no longer than the interval logs its last iteration */
    ck_assert(tgc_logger_should_log(&lc, 7, 8));
    ck_assert(!tgc_logger_should_log(&lc, 6, 8));
    lc.ignore_last = 0;
    ck_assert(tgc_logger_should_log(&lc, 467, 468));
    ck_assert(tgc_logger_should_log_exp(&lc, 3000, 0));
    ck_assert(!tgc_logger_should_log_exp(&lc, 3001, 0));
    ck_assert(tgc_logger_should_log_exp(&lc, 3001, 1));
    tgc_cfg_free(c);
    c = parse("default_hooks: {logger: {interval: 0}}\n");
    ck_assert_int_eq(tgc_logger_from_cfg(c, 1, &lc, &err), -1);
    ck_assert_msg(strstr(err.msg, "default_hooks.logger.interval"), "%s", err.msg);
    tgc_cfg_free(c);
    ck_assert_int_eq(tgc_logger_from_cfg(NULL, 0, &lc, &err), 0); /* MMEngine's defaults */
    ck_assert(lc.interval == 10 && lc.window_size == 10 && !lc.by_epoch);
}
END_TEST

START_TEST(checkpoint_schedule) {
    tgc_err err;
    tgc_ckpt_cfg k;
    tgc_cfg *c = parse("h1: {checkpoint: {type: CheckpointHook, interval: 2, max_keep_ckpts: 2, save_best: auto}}\n"
                       "h2: {checkpoint: {interval: 500, by_epoch: false, save_begin: 100}}\n"
                       "h3: {checkpoint: null}\n"
                       "h4: {checkpoint: {rule: bigger}}\n");
    ck_assert_int_eq(tgc_ckpt_cfg_from(tgc_cfg_get(c, "h1"), &k, &err), 0);
    ck_assert(k.enabled && k.by_epoch && k.save_last && k.max_keep == 2 && !strcmp(k.save_best, "auto"));
    ck_assert(!tgc_ckpt_should_save_epoch(&k, 1, 0));
    ck_assert(tgc_ckpt_should_save_epoch(&k, 2, 0));
    ck_assert(tgc_ckpt_should_save_epoch(&k, 5, 1)); /* save_last */
    ck_assert(!tgc_ckpt_should_save_iter(&k, 2, 0)); /* by epoch: no iteration saves */
    ck_assert_int_eq(tgc_ckpt_cfg_from(tgc_cfg_get(c, "h2"), &k, &err), 0);
    ck_assert(!tgc_ckpt_should_save_iter(&k, 500, 0)); /* (500 - 100) % 500 != 0 */
    ck_assert(tgc_ckpt_should_save_iter(&k, 600, 0));
    ck_assert(!tgc_ckpt_should_save_iter(&k, 50, 0));
    ck_assert(tgc_ckpt_should_save_iter(&k, 777, 1));
    ck_assert(!tgc_ckpt_should_save_epoch(&k, 1, 1));
    ck_assert_int_eq(tgc_ckpt_cfg_from(tgc_cfg_get(c, "h3"), &k, &err), 0);
    ck_assert(!k.enabled && !tgc_ckpt_should_save_epoch(&k, 1, 1));
    ck_assert_int_eq(tgc_ckpt_cfg_from(tgc_cfg_get(c, "h4"), &k, &err), -1);
    ck_assert_msg(strstr(err.msg, "rule must be 'greater' or 'less'"), "%s", err.msg);
    tgc_cfg_free(c);
}
END_TEST

/* save_best and rule as CheckpointHook reads them: one metric name (also as a one-item list), 'auto', the
 * rule 'greater' by default (what MMEngine infers for accuracy) or 'less'; several metrics and other rules
 * are refused. */
START_TEST(save_best_settings) {
    tgc_err err;
    tgc_ckpt_cfg k;
    tgc_cfg *c = parse("a: {checkpoint: {save_best: accuracy/top1, rule: less}}\n"
                       "b: {checkpoint: {save_best: [accuracy/top5]}}\n"
                       "c: {checkpoint: {save_best: auto, rule: greater}}\n"
                       "d: {checkpoint: {interval: 1}}\n"
                       "e: {checkpoint: {save_best: [accuracy/top1, accuracy/top5]}}\n"
                       "f: {checkpoint: {save_best: 3}}\n"
                       "g: {checkpoint: {save_best: auto, rule: less}}\n");
    ck_assert_int_eq(tgc_ckpt_cfg_from(tgc_cfg_get(c, "a"), &k, &err), 0);
    ck_assert_str_eq(k.save_best, "accuracy/top1");
    ck_assert(k.rule_less);
    ck_assert_int_eq(tgc_ckpt_cfg_from(tgc_cfg_get(c, "b"), &k, &err), 0);
    ck_assert_str_eq(k.save_best, "accuracy/top5");
    ck_assert(!k.rule_less);
    ck_assert_int_eq(tgc_ckpt_cfg_from(tgc_cfg_get(c, "c"), &k, &err), 0);
    ck_assert_str_eq(k.save_best, "auto");
    ck_assert(!k.rule_less);
    ck_assert_int_eq(tgc_ckpt_cfg_from(tgc_cfg_get(c, "d"), &k, &err), 0);
    ck_assert_str_eq(k.save_best, ""); /* no best checkpoint unless asked */
    ck_assert_int_eq(tgc_ckpt_cfg_from(tgc_cfg_get(c, "e"), &k, &err), -1);
    ck_assert_msg(strstr(err.msg, "save_best must be 'auto' or one metric name"), "%s", err.msg);
    ck_assert_int_eq(tgc_ckpt_cfg_from(tgc_cfg_get(c, "f"), &k, &err), -1);
    ck_assert_int_eq(tgc_ckpt_cfg_from(tgc_cfg_get(c, "g"), &k, &err), 0);
    ck_assert(!strcmp(k.save_best, "auto") && k.rule_less);
    tgc_cfg_free(c);
}
END_TEST

START_TEST(keep_list) {
    tgc_keep_list *k = calloc(1, sizeof *k);
    int64_t ev = -1;
    ck_assert_int_eq(tgc_keep_push(k, 1, 2, &ev), 0);
    ck_assert_int_eq(tgc_keep_push(k, 2, 2, &ev), 0);
    ck_assert_int_eq(tgc_keep_push(k, 3, 2, &ev), 1); /* max_keep_ckpts 2: epoch_1 goes */
    ck_assert_int_eq(ev, 1);
    ck_assert_int_eq(tgc_keep_push(k, 4, 2, &ev), 1);
    ck_assert_int_eq(ev, 2);
    char buf[256];
    tgc_keep_format(k, buf, sizeof buf);
    ck_assert_str_eq(buf, "3,4");
    tgc_keep_list *back = calloc(1, sizeof *back);
    ck_assert_int_eq(tgc_keep_parse(back, buf), 0);
    ck_assert(back->n == 2 && back->ids[0] == 3 && back->ids[1] == 4);
    ck_assert_int_eq(tgc_keep_parse(back, ""), 0);
    ck_assert_int_eq(back->n, 0);
    ck_assert_int_eq(tgc_keep_parse(back, "1,x"), -1);
    /* keep all (-1): nothing is ever evicted */
    for (int i = 0; i < 10; i++) ck_assert_int_eq(tgc_keep_push(back, i, -1, &ev), 0);
    free(k);
    free(back);
}
END_TEST

START_TEST(numpy_smoothing) {
    double a[300];
    for (int i = 0; i < 300; i++) a[i] = (double)i * 0.37 + 1e15 * (i % 2) + 0.1 * (i % 7);
    /* eight interleaved accumulators (n <= 128) and the recursive halves (n > 128) differ from a plain loop */
    ck_assert(tgc_np_sum(a, 64) == 3.2000000000000764e+16);
    ck_assert(tgc_np_sum(a, 100) == 5.000000000000187e+16);
    double seq = 0;
    for (int i = 0; i < 64; i++) seq += a[i];
    ck_assert(seq != tgc_np_sum(a, 64));
    double b[300];
    for (int i = 0; i < 300; i++) b[i] = (double)i * 0.37 + 1e15 * (i % 2);
    ck_assert(tgc_np_sum(b, 300) == 1.5000000000001658e+17);
    /* the window keeps the last cap values, oldest first */
    tgc_window w;
    tgc_window_init(&w, 3);
    ck_assert(tgc_window_mean(&w) == 0.0);
    tgc_window_push(&w, 1);
    tgc_window_push(&w, 2);
    ck_assert(tgc_window_mean(&w) == 1.5);
    tgc_window_push(&w, 3);
    tgc_window_push(&w, 10);
    double v[3];
    tgc_window_values(&w, v);
    ck_assert(v[0] == 2 && v[1] == 3 && v[2] == 10);
    ck_assert(tgc_window_mean(&w) == 5.0);
    tgc_window_free(&w);
}
END_TEST

int main(void) {
    Suite *s = suite_create("train_hooks");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, validation_schedule);
    tcase_add_test(tc, logger_schedule);
    tcase_add_test(tc, checkpoint_schedule);
    tcase_add_test(tc, save_best_settings);
    tcase_add_test(tc, keep_list);
    tcase_add_test(tc, numpy_smoothing);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
