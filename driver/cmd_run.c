/* driver/cmd_run.c - `tgc run PLAN`: the options shared with `tgc train`, the device check, the run. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "driver/driver.h"
#ifdef TGC_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

static int parse_i64(const char *s, int64_t lo, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < lo) return -1;
    *out = v;
    return 0;
}

int tgc_run_parse_args(const char *cmd, int argc, char **argv, tgc_run_args *a) {
    memset(a, 0, sizeof *a);
    a->device = "cpu";
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = NULL;
        int r;
        int64_t n;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) return 1;
        if ((r = tgc_opt_value("--work-dir", argc, argv, &i, &val))) {
            if (r < 0 || !*val) return tgc_usage_error(cmd, "%s: --work-dir needs a directory", cmd);
            a->train.work_dir = val;
        } else if (!strcmp(arg, "--resume")) {
            a->train.resume = 1;
            /* An optional CKPT: taken when the next argument is no option and the plan/config is known
             * already, or it names a checkpoint. */
            if (i + 1 < argc && argv[i + 1][0] != '-') {
                const char *nx = argv[i + 1];
                size_t l = strlen(nx);
                if (a->input || (l > 5 && !strcmp(nx + l - 5, ".ckpt"))) a->train.resume_from = argv[++i];
            }
        } else if (!strncmp(arg, "--resume=", 9)) {
            a->train.resume = 1;
            if (arg[9]) a->train.resume_from = arg + 9;
        } else if (!strcmp(arg, "--amp")) {
            a->train.amp = 1;
        } else if (!strcmp(arg, "--no-validate")) {
            a->train.no_validate = 1;
        } else if (!strcmp(arg, "--auto-scale-lr")) {
            a->train.auto_scale_lr = 1;
        } else if (!strcmp(arg, "--no-pin-memory")) {
            a->no_pin_memory = 1;
        } else if (!strcmp(arg, "--no-persistent-workers")) {
            a->no_persistent_workers = 1;
        } else if (!strcmp(arg, "--deterministic")) {
            a->train.deterministic = 1;
        } else if (!strcmp(arg, "--cfg-options")) {
            int k = 0;
            while (i + 1 < argc && argv[i + 1][0] != '-' && strchr(argv[i + 1], '=')) {
                if (a->n_options == TGC_RUN_MAX_OPTIONS)
                    return tgc_usage_error(cmd, "%s: more than %d --cfg-options", cmd, TGC_RUN_MAX_OPTIONS);
                a->options[a->n_options++] = argv[++i];
                k++;
            }
            if (!k) return tgc_usage_error(cmd, "%s: --cfg-options needs KEY=VALUE items", cmd);
        } else if ((r = tgc_opt_value("--max-iters", argc, argv, &i, &val))) {
            if (r < 0 || parse_i64(val, 1, &n)) return tgc_usage_error(cmd, "%s: --max-iters needs a positive integer", cmd);
            a->train.max_iters = n;
        } else if ((r = tgc_opt_value("--seed", argc, argv, &i, &val))) {
            if (r < 0 || parse_i64(val, 0, &n)) return tgc_usage_error(cmd, "%s: --seed needs an integer >= 0", cmd);
            a->train.has_seed = 1;
            a->train.seed = (uint64_t)n;
        } else if ((r = tgc_opt_value("--device", argc, argv, &i, &val))) {
            if (r < 0 || (strcmp(val, "cpu") && strcmp(val, "cuda") && strncmp(val, "cuda:", 5)))
                return tgc_usage_error(cmd, "%s: --device must be cpu or cuda", cmd);
            a->device = val;
        } else if (arg[0] == '-' && arg[1]) {
            return tgc_usage_error(cmd, "%s: unknown option '%s'", cmd, arg);
        } else if (a->input) {
            return tgc_usage_error(cmd, "%s: more than one %s given ('%s', '%s')", cmd,
                                   strcmp(cmd, "train") ? "plan" : "config", a->input, arg);
        } else {
            a->input = arg;
        }
    }
    if (!a->input) return tgc_usage_error(cmd, "%s: no %s given", cmd, strcmp(cmd, "train") ? "plan" : "config");
    return 0;
}

/* --device: only the CPU executor exists; say what the machine has. */
static int check_device(const char *device) {
    const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
    int hidden = cvd && !strcmp(cvd, "-1");
    if (!strcmp(device, "cpu")) return 0;
    if (hidden) {
        fprintf(stderr, "tgc: --device %s: CUDA_VISIBLE_DEVICES=-1 hides every GPU; use --device cpu\n", device);
        return -1;
    }
#ifdef TGC_HAVE_CUDA
    int n = tgc_cuda_device_count();
    fprintf(stderr, "tgc: --device %s: this build has no CUDA executor yet (%d GPU%s visible); use --device cpu\n",
            device, n, n == 1 ? "" : "s");
#else
    fprintf(stderr, "tgc: --device %s: this build has no CUDA support (built without nvcc) and no CUDA executor yet; "
                    "use --device cpu\n", device);
#endif
    return -1;
}

/* Sets key=false on every dataloader the config has (an absent one is not created). */
static int set_loader_flag(tgc_cfg *cfg, const char *key, tgc_err *err) {
    static const char *const loaders[] = {"train_dataloader", "val_dataloader", "test_dataloader"};
    for (size_t i = 0; i < TGC_ARRAY_LEN(loaders); i++) {
        const tgc_cfg *l = tgc_cfg_get(cfg, loaders[i]);
        if (!l || l->kind != TGC_CFG_MAP) continue;
        char opt[96];
        snprintf(opt, sizeof opt, "%s.%s=False", loaders[i], key);
        if (tgc_cfg_apply_option(cfg, opt, err) < 0) return -1;
    }
    return 0;
}

int tgc_run_execute(tgc_plan *p, tgc_run_args *a) {
    if (check_device(a->device) < 0) return TGC_EXIT_ERROR;
    tgc_err err = {{0}};
    if ((a->no_pin_memory && set_loader_flag(p->config, "pin_memory", &err) < 0) ||
        (a->no_persistent_workers && set_loader_flag(p->config, "persistent_workers", &err) < 0)) {
        fprintf(stderr, "tgc: %s\n", err.msg);
        return TGC_EXIT_ERROR;
    }
    fflush(stdout);
    int rc = tgc_train(p, &a->train, &err);
    if (rc < 0) {
        fprintf(stderr, "tgc: %s\n", err.msg);
        return TGC_EXIT_ERROR;
    }
    return rc > 0 ? 128 + rc : TGC_EXIT_OK;
}

int tgc_run_loaded(tgc_plan *p, tgc_run_args *a, const char *verb, const char **runtime_options, int n_runtime) {
    tgc_err err = {{0}};
    int rc;
    if (tgc_plan_validate(p, &err) < 0 || tgc_run_apply_options(p->config, runtime_options, n_runtime, &err) < 0) {
        fprintf(stderr, "tgc: %s\n", err.msg);
        rc = TGC_EXIT_ERROR;
    } else {
        char *command = tgc_asprintf("tgc %s %s", verb, a->input);
        a->train.plan_name = a->input;
        a->train.command = command;
        rc = tgc_run_execute(p, a);
        free(command);
    }
    tgc_plan_free(p);
    free(a);
    return rc;
}

int tgc_cmd_run(int argc, char **argv) {
    tgc_run_args *a = tgc_calloc(1, sizeof *a);
    int pr = tgc_run_parse_args("run", argc, argv, a);
    if (pr) {
        free(a);
        if (pr == 1) tgc_usage("run", stdout);
        return pr == 1 ? TGC_EXIT_OK : pr;
    }
    tgc_err err = {{0}};
    tgc_plan *p = tgc_plan_load(a->input, &err);
    if (!p) {
        fprintf(stderr, "tgc: %s\n", err.msg);
        free(a);
        return TGC_EXIT_ERROR;
    }
    return tgc_run_loaded(p, a, "run", a->options, a->n_options);
}
