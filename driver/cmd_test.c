/* driver/cmd_test.c - `tgc test PLAN CHECKPOINT`: evaluate a checkpoint as MMDetection's and MMPretrain's
 * tools/test.py do (test_dataloader and test_evaluator, or val_* when the config has no test_dataloader). */
#include <stdlib.h>
#include <string.h>

#include "backend/device.h"
#include "driver/driver.h"
#include "runtime/dist/dist.h"

int tgc_cmd_test(int argc, char **argv) {
    tgc_run_args *a = tgc_calloc(1, sizeof *a);
    const char *plan = NULL, *ckpt = NULL;
    a->verb = "test";
    a->argc = argc;
    a->argv = argv;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val;
        int r;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            free(a);
            tgc_usage("test", stdout);
            return TGC_EXIT_OK;
        }
        if ((r = tgc_opt_value("--work-dir", argc, argv, &i, &val))) {
            if (r < 0 || !*val) goto usage_dir;
            a->train.work_dir = val;
        } else if ((r = tgc_opt_value("--device", argc, argv, &i, &val))) {
            if (r < 0 || !tgc_device_name_valid(val)) {
                free(a);
                return tgc_usage_error("test", "test: --device must be cpu or cuda");
            }
            a->device = val;
        } else if ((r = tgc_opt_value("--nproc", argc, argv, &i, &val))) { /* MMDetection's dist_test.sh */
            char *end;
            long n = r < 0 ? 0 : strtol(val, &end, 10);
            if (r < 0 || !*val || *end || n < 1 || n > 1024 || a->nproc) {
                free(a);
                return tgc_usage_error("test", "test: --nproc needs a number of workers from 1 to 1024, once");
            }
            a->nproc = (int)n;
            a->skip[a->n_skip++] = i;
            if (strchr(arg, '=') == NULL) a->skip[a->n_skip++] = i - 1;
        } else if ((r = tgc_opt_value("--launcher", argc, argv, &i, &val))) {
            tgc_launcher l;
            tgc_err e;
            if (r < 0 || tgc_launcher_parse(val, &l, &e) < 0 || a->launcher) {
                int twice = r >= 0 && a->launcher;
                free(a);
                return tgc_usage_error("test", "test: %s", r < 0 ? "--launcher needs a value" : twice ?
                                       "give --launcher once" : e.msg);
            }
            a->launcher = val;
            a->skip[a->n_skip++] = i;
            if (strchr(arg, '=') == NULL) a->skip[a->n_skip++] = i - 1;
        } else if (!strcmp(arg, "--strict")) {
            a->strict = 1;
        } else if (!strcmp(arg, "--cfg-options")) {
            int k = 0;
            while (i + 1 < argc && argv[i + 1][0] != '-' && strchr(argv[i + 1], '=')) {
                if (a->n_options == TGC_RUN_MAX_OPTIONS) {
                    free(a);
                    return tgc_usage_error("test", "test: more than %d --cfg-options", TGC_RUN_MAX_OPTIONS);
                }
                a->options[a->n_options++] = argv[++i];
                k++;
            }
            if (!k) {
                free(a);
                return tgc_usage_error("test", "test: --cfg-options needs KEY=VALUE items");
            }
        } else if (arg[0] == '-' && arg[1]) {
            free(a);
            return tgc_usage_error("test", "test: unknown option '%s'", arg);
        } else if (!plan) {
            plan = arg;
        } else if (!ckpt) {
            ckpt = arg;
        } else {
            free(a);
            return tgc_usage_error("test", "test: unexpected argument '%s' (give PLAN CHECKPOINT)", arg);
        }
    }
    if (a->nproc && a->launcher && strcmp(a->launcher, "none")) {
        const char *l = a->launcher; /* an argv string */
        free(a);
        return tgc_usage_error("test", "test: --nproc starts the workers itself; it cannot be combined with "
                                       "--launcher %s", l);
    }
    if (!plan || !ckpt) {
        free(a);
        return tgc_usage_error("test", "test: give a plan and a checkpoint (tgc test PLAN CHECKPOINT)");
    }
    a->input = plan;
    a->train.test_ckpt = ckpt;
    tgc_err err = {{0}};
    tgc_plan *p = tgc_plan_load(plan, &err);
    if (!p) {
        fprintf(stderr, "tgc: %s\n", err.msg);
        free(a);
        return TGC_EXIT_ERROR;
    }
    return tgc_run_loaded(p, a, "test", a->options, a->n_options);
usage_dir:
    free(a);
    return tgc_usage_error("test", "test: --work-dir needs a directory");
}
