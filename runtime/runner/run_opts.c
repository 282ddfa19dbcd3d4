/* runtime/runner/run_opts.c - which --cfg-options a compiled plan accepts at run time, and applying them. */
#include <string.h>

#include "runtime/runner/train.h"

/* Top-level keys that only the runtime reads: any key below them is allowed. (custom_hooks is not: its
 * EMAHook compiles an `ema` program.) */
static const char *const runtime_roots[] = {
    "train_cfg",  "val_cfg",    "test_cfg",  "param_scheduler", "default_hooks",
    "work_dir",   "randomness", "env_cfg",   "visualizer",      "vis_backends",  "log_processor",
    "log_level",  "load_from",  "resume",    "auto_scale_lr",   "launcher",      "val_evaluator",
    "test_evaluator",
};

/* Keys under a *_dataloader map that only the loader reads (the first component, or two components). */
static const char *const loader_keys[] = {"num_workers", "persistent_workers", "pin_memory", "prefetch_factor",
                                          "sampler"};
static const char *const dataset_keys[] = {"data_root", "data_prefix", "indices"};

/* Whether key (dotted) equals prefix or continues it with '.' or '['. */
static int under(const char *key, const char *prefix) {
    size_t n = strlen(prefix);
    return !strncmp(key, prefix, n) && (key[n] == 0 || key[n] == '.' || key[n] == '[');
}

int tgc_run_option_allowed(const char *key) {
    for (size_t i = 0; i < TGC_ARRAY_LEN(runtime_roots); i++)
        if (under(key, runtime_roots[i])) return 1;
    if (!strcmp(key, "optim_wrapper.optimizer.lr")) return 1;
    if (!strcmp(key, "model.train_cfg.tgc_reduce_avg_factor")) return 1; /* the host's normaliser (train.c) */
    static const char *const loaders[] = {"train_dataloader.", "val_dataloader.", "test_dataloader."};
    for (size_t l = 0; l < TGC_ARRAY_LEN(loaders); l++) {
        size_t n = strlen(loaders[l]);
        if (strncmp(key, loaders[l], n)) continue;
        const char *rest = key + n;
        for (size_t i = 0; i < TGC_ARRAY_LEN(loader_keys); i++)
            if (under(rest, loader_keys[i])) return 1;
        if (!strncmp(rest, "dataset.", 8))
            for (size_t i = 0; i < TGC_ARRAY_LEN(dataset_keys); i++)
                if (under(rest + 8, dataset_keys[i])) return 1;
    }
    return 0;
}

int tgc_run_apply_options(tgc_cfg *cfg, const char *const *items, int n, tgc_err *err) {
    for (int i = 0; i < n; i++) {
        const char *kv = items[i];
        const char *eq = strchr(kv, '=');
        if (!eq || eq == kv) return tgc_fail(err, "--cfg-options %s: expected KEY=VALUE", kv);
        char key[512];
        size_t kn = (size_t)(eq - kv);
        if (kn >= sizeof key) return tgc_fail(err, "--cfg-options %.64s...: key too long", kv);
        memcpy(key, kv, kn);
        key[kn] = 0;
        if (!tgc_run_option_allowed(key))
            return tgc_fail(err,
                            "--cfg-options %s: '%s' is compiled into the plan and cannot change at run time; "
                            "recompile with `tgc compile CONFIG --cfg-options %s` (or use `tgc train CONFIG "
                            "--cfg-options %s`)",
                            kv, key, kv, kv);
        if (tgc_cfg_apply_option(cfg, kv, err) < 0) return tgc_err_prefix(err, "--cfg-options %s", kv);
    }
    tgc_cfg_set_paths(cfg);
    return 0;
}
