/* tests/unit/test_train_options.c - which --cfg-options a compiled plan takes at run time. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runner/train.h"

START_TEST(allowed_keys) {
    static const char *const ok[] = {
        "train_cfg.max_epochs", "train_cfg", "val_cfg.foo", "param_scheduler.milestones", "default_hooks.logger.interval",
        "work_dir", "randomness.seed", "env_cfg.cudnn_benchmark", "visualizer.vis_backends",
        "log_processor.window_size", "log_level", "load_from", "resume", "auto_scale_lr.base_batch_size",
        "val_evaluator.topk", "optim_wrapper.optimizer.lr", "train_dataloader.num_workers",
        "val_dataloader.persistent_workers", "test_dataloader.pin_memory", "train_dataloader.sampler.shuffle",
        "train_dataloader.dataset.data_root", "val_dataloader.dataset.data_prefix", "train_dataloader.dataset.indices",
        "param_scheduler[0].gamma",
    };
    for (size_t i = 0; i < TGC_ARRAY_LEN(ok); i++) ck_assert_msg(tgc_run_option_allowed(ok[i]), "%s refused", ok[i]);
    static const char *const refused[] = {
        "custom_hooks", /* EMAHook compiles an `ema` program */
        "model.backbone.depth", "model", "train_dataloader.batch_size", "val_dataloader.batch_size",
        "train_dataloader.dataset.pipeline", "optim_wrapper.optimizer.momentum", "optim_wrapper.optimizer.weight_decay",
        "optim_wrapper.optimizer.type", "optim_wrapper.optimizer", "data_preprocessor.mean", "train_cfgx",
        "train_dataloader.dataset.data_rootx", "train_dataloader.dataset", "work_dirx", "optim_wrapper.optimizer.lrx",
    };
    for (size_t i = 0; i < TGC_ARRAY_LEN(refused); i++)
        ck_assert_msg(!tgc_run_option_allowed(refused[i]), "%s allowed", refused[i]);
}
END_TEST

START_TEST(apply_and_refuse) {
    const char *yaml = "train_cfg: {max_epochs: 5}\nmodel: {type: ImageClassifier}\n";
    tgc_err err;
    tgc_cfg *c = tgc_cfg_parse(yaml, strlen(yaml), "t.yaml", &err);
    ck_assert_ptr_nonnull(c);
    const char *good[] = {"train_cfg.max_epochs=2", "randomness.seed=7"};
    ck_assert_msg(tgc_run_apply_options(c, good, 2, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(tgc_cfg_at(c, "train_cfg.max_epochs")->i, 2);
    ck_assert_int_eq(tgc_cfg_at(c, "randomness.seed")->i, 7);
    const char *bad[] = {"model.backbone.depth=34"};
    ck_assert_int_eq(tgc_run_apply_options(c, bad, 1, &err), -1);
    ck_assert_msg(strstr(err.msg, "'model.backbone.depth' is compiled into the plan") &&
                      strstr(err.msg, "tgc compile CONFIG --cfg-options model.backbone.depth=34"),
                  "%s", err.msg);
    ck_assert_ptr_null(tgc_cfg_at(c, "model.backbone"));
    const char *noeq[] = {"train_cfg.max_epochs"};
    ck_assert_int_eq(tgc_run_apply_options(c, noeq, 1, &err), -1);
    ck_assert_msg(strstr(err.msg, "expected KEY=VALUE"), "%s", err.msg);
    tgc_cfg_free(c);
}
END_TEST

int main(void) {
    Suite *s = suite_create("train_options");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, allowed_keys);
    tcase_add_test(tc, apply_and_refuse);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
