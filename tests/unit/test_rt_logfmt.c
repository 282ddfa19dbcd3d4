/* tests/unit/test_rt_logfmt.c - log lines, eta, float repr and scalars.json against MMEngine/Python's exact text.
 * Expected strings follow mmengine/runner/log_processor.py and its tests (tests/test_runner/
 * test_log_processor.py: max_epochs 10, epoch 2, batch 2 of 20 -> "Epoch(train)  [2][ 2/20]  ..."); the
 * float/eta/JSON expectations were printed by CPython 3.11 (repr, datetime.timedelta, json.dumps). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/io/logfmt.h"

static void eq_free(char *got, const char *want) {
    ck_assert_msg(strcmp(got, want) == 0, "\n got: '%s'\nwant: '%s'", got, want);
    free(got);
}

static const tgc_log_item lr01[] = {{"lr", 0.1, 0}};
static const tgc_log_item loss_cls[] = {{"loss_cls", 1.0, 0}};

START_TEST(train_lines) {
    const tgc_log_item items[] = {{"loss", 0.5432, 0}};
    tgc_log_iter l = {.mode = "train", .by_epoch = 1, .epoch = 1, .max_epochs = 5, .iter = 100, .len = 469,
                      .n_lr = 1, .lr = lr01, .has_time = 1, .eta_s = 312.7, .time = 0.1234, .data_time = 0.0012,
                      .memory = 0, .n_items = 1, .items = items};
    eq_free(tgc_logfmt_iter(&l), "Epoch(train) [1][100/469]  lr: 1.0000e-01  eta: 0:05:12  time: 0.1234  "
                                 "data_time: 0.0012  memory: 0  loss: 0.5432");
    /* MMEngine's own test case: two-digit max_epochs widens the epoch field, the iter is right-aligned */
    tgc_log_iter m = {.mode = "train", .by_epoch = 1, .epoch = 2, .max_epochs = 10, .iter = 2, .len = 20,
                      .n_lr = 1, .lr = lr01, .has_time = 1, .eta_s = 40, .time = 1.0, .data_time = 1.0,
                      .memory = -1, .n_items = 1, .items = loss_cls};
    eq_free(tgc_logfmt_iter(&m), "Epoch(train)  [2][ 2/20]  lr: 1.0000e-01  eta: 0:00:40  time: 1.0000  "
                                 "data_time: 1.0000  loss_cls: 1.0000");
    /* several lr entries, int items, more items, no timing, 3-digit max_epochs */
    const tgc_log_item lrs[] = {{"base_lr", 0.1, 0}, {"lr", 0.00025, 0}};
    const tgc_log_item more[] = {{"loss", 2.30258509, 0}, {"grad_norm", 12.5, 0}, {"count", 7, 1}};
    tgc_log_iter n = {.mode = "train", .by_epoch = 1, .epoch = 7, .max_epochs = 100, .iter = 5, .len = 1251,
                      .n_lr = 2, .lr = lrs, .memory = 2106, .n_items = 3, .items = more};
    eq_free(tgc_logfmt_iter(&n), "Epoch(train)   [7][   5/1251]  base_lr: 1.0000e-01 lr: 2.5000e-04  memory: 2106  "
                                 "loss: 2.3026  grad_norm: 12.5000  count: 7");
    /* by iteration */
    tgc_log_iter it = {.mode = "train", .by_epoch = 0, .iter = 11, .len = 50, .n_lr = 1, .lr = lr01, .has_time = 1,
                       .eta_s = 40, .time = 1.0, .data_time = 1.0, .memory = -1, .n_items = 1, .items = loss_cls};
    eq_free(tgc_logfmt_iter(&it), "Iter(train) [11/50]  lr: 1.0000e-01  eta: 0:00:40  time: 1.0000  "
                                  "data_time: 1.0000  loss_cls: 1.0000");
    /* NaN never gets a sign; inf keeps it */
    const tgc_log_item bad[] = {{"loss", -NAN, 0}, {"x", -INFINITY, 0}};
    tgc_log_iter b = {.mode = "train", .by_epoch = 0, .iter = 1, .len = 9, .memory = -1, .n_items = 2, .items = bad};
    eq_free(tgc_logfmt_iter(&b), "Iter(train) [1/9]    loss: nan  x: -inf");
}
END_TEST

START_TEST(val_test_iter_lines) {
    tgc_log_iter v = {.mode = "val", .by_epoch = 1, .epoch = 1, .max_epochs = 10, .iter = 2, .len = 10,
                      .has_time = 1, .eta_s = 40, .time = 1.0, .data_time = 1.0, .memory = -1, .n_items = 1,
                      .items = loss_cls};
    eq_free(tgc_logfmt_iter(&v), "Epoch(val)  [1][ 2/10]    eta: 0:00:40  time: 1.0000  data_time: 1.0000  ");
    const tgc_log_item vloss[] = {{"acc", 3.0, 0}, {"val/loss", 0.25, 0}};
    v.n_items = 2;
    v.items = vloss;
    v.memory = 392;
    eq_free(tgc_logfmt_iter(&v),
            "Epoch(val)  [1][ 2/10]    eta: 0:00:40  time: 1.0000  data_time: 1.0000  memory: 392  val/loss: 0.2500");
    tgc_log_iter t = {.mode = "test", .by_epoch = 1, .iter = 2, .len = 5, .has_time = 1, .eta_s = 40, .time = 1.0,
                      .data_time = 1.0, .memory = -1, .n_items = 1, .items = loss_cls};
    eq_free(tgc_logfmt_iter(&t), "Epoch(test) [2/5]    eta: 0:00:40  time: 1.0000  data_time: 1.0000  ");
    tgc_log_iter iv = {.mode = "val", .by_epoch = 0, .iter = 2, .len = 10, .has_time = 1, .eta_s = 40, .time = 1.0,
                       .data_time = 1.0, .memory = -1};
    eq_free(tgc_logfmt_iter(&iv), "Iter(val) [ 2/10]    eta: 0:00:40  time: 1.0000  data_time: 1.0000  ");
}
END_TEST

START_TEST(epoch_lines) {
    const tgc_log_item acc[] = {{"accuracy/top1", 91.23, 0}, {"accuracy/top5", 99.8, 0}};
    eq_free(tgc_logfmt_epoch("val", 1, 1, 79, acc, 2, 0.0012, 0.0345),
            "Epoch(val) [1][79/79]    accuracy/top1: 91.2300  accuracy/top5: 99.8000  data_time: 0.0012  time: 0.0345");
    const tgc_log_item a9[] = {{"accuracy", 0.9, 0}};
    eq_free(tgc_logfmt_epoch("test", 1, 0, 5, a9, 1, 1.0, 1.0), "Epoch(test) [5/5]    accuracy: 0.9000  data_time: 1.0000  time: 1.0000");
    eq_free(tgc_logfmt_epoch("val", 0, 0, 10, a9, 1, 1.0, 1.0), "Iter(val) [10/10]    accuracy: 0.9000  data_time: 1.0000  time: 1.0000");
    eq_free(tgc_logfmt_epoch("test", 0, 0, 5, NULL, 0, 1.0, 1.0), "Iter(test) [5/5]    data_time: 1.0000  time: 1.0000");
}
END_TEST

START_TEST(eta) {
    const struct {
        double s;
        const char *want;
    } cases[] = {{0, "0:00:00"},           {312, "0:05:12"},          {43200, "12:00:00"},
                 {86400 + 3784, "1 day, 1:03:04"}, {3 * 86400, "3 days, 0:00:00"}, {-5, "-1 day, 23:59:55"},
                 {59.9, "0:00:59"},        {NAN, "0:00:00"}};
    char buf[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tgc_logfmt_eta(cases[i].s, buf, sizeof buf);
        ck_assert_str_eq(buf, cases[i].want);
    }
}
END_TEST

START_TEST(pyfloat) {
    const struct {
        double v;
        const char *want;
    } cases[] = {
        {0.1, "0.1"}, {1.0, "1.0"}, {1e-05, "1e-05"}, {0.0001, "0.0001"}, {1e16, "1e+16"},
        {1234567890123456.0, "1234567890123456.0"}, {0.0032384157180786134, "0.003238415718078613"}, {-0.0, "-0.0"},
        {2.5e-07, "2.5e-07"}, {123.456, "123.456"}, {1.7976931348623157e308, "1.7976931348623157e+308"},
        {5e-324, "5e-324"}, {100.0, "100.0"}, {0.30000000000000004, "0.30000000000000004"},
        {1.0 / 3, "0.3333333333333333"}, {NAN, "nan"}, {-INFINITY, "-inf"},
    };
    char buf[40];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tgc_logfmt_pyfloat(cases[i].v, buf, sizeof buf);
        ck_assert_str_eq(buf, cases[i].want);
    }
}
END_TEST

START_TEST(scalars_json) {
    const tgc_log_item train[] = {{"lr", 0.1, 0},    {"data_time", 0.0012, 0}, {"loss", 0.5432, 0}, {"time", 0.1234, 0},
                                  {"epoch", 1, 1},   {"iter", 100, 1},         {"memory", 0, 1}};
    eq_free(tgc_logfmt_scalars_json(train, 7, 100),
            "{\"lr\": 0.1, \"data_time\": 0.0012, \"loss\": 0.5432, \"time\": 0.1234, \"epoch\": 1, \"iter\": 100, "
            "\"memory\": 0, \"step\": 100}");
    const tgc_log_item odd[] = {{"lr", 0.1, 0},         {"loss", NAN, 0}, {"x", -INFINITY, 0},
                                {"acc/\xc3\xa9\"\\\n", 2.0, 0}, {"\xf0\x9f\x98\x80", 1, 1}, {"del\x7f", 0, 1}};
    eq_free(tgc_logfmt_scalars_json(odd, 6, 3),
            "{\"lr\": 0.1, \"loss\": NaN, \"x\": -Infinity, \"acc/\\u00e9\\\"\\\\\\n\": 2.0, \"\\ud83d\\ude00\": 1, "
            "\"del\\u007f\": 0, \"step\": 3}");
    eq_free(tgc_logfmt_scalars_json(NULL, 0, 1), "{\"step\": 1}");
}
END_TEST

int main(void) {
    Suite *s = suite_create("rt_logfmt");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, train_lines);
    tcase_add_test(tc, val_test_iter_lines);
    tcase_add_test(tc, epoch_lines);
    tcase_add_test(tc, eta);
    tcase_add_test(tc, pyfloat);
    tcase_add_test(tc, scalars_json);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
