/* driver/cmd_run.c - `tgc run PLAN`: the options shared with `tgc train`, the device check, the run. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/device.h"
#include "driver/driver.h"
#include "frontend/ignored.h"
#include "runtime/dist/dist.h"

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
    a->device = NULL; /* run: the plan's target; train: tgc_device_default() (set below) */
    a->verb = cmd;
    a->argc = argc;
    a->argv = argv;
    int device_given = 0;
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
        } else if (!strcmp(arg, "--amp") || !strcmp(arg, "--fp16")) {
            int want = !strcmp(arg, "--fp16") ? 2 : 1;
            if (a->train.amp && a->train.amp != want)
                return tgc_usage_error(cmd, "%s: --amp and --fp16 exclude each other", cmd);
            a->train.amp = want;
        } else if (!strcmp(arg, "--strict")) {
            a->strict = 1;
        } else if ((r = tgc_opt_value("--layout", argc, argv, &i, &val))) {
            if (strcmp(cmd, "train"))
                return tgc_usage_error(cmd, "%s: --layout is chosen when the plan is compiled (tgc compile CONFIG "
                                            "--layout row|nhwc); the plan records it", cmd);
            if (r < 0 || (strcmp(val, "row") && strcmp(val, "nhwc")))
                return tgc_usage_error(cmd, "%s: --layout must be row or nhwc", cmd);
            a->layout = val;
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
        } else if ((r = tgc_opt_value("--profile", argc, argv, &i, &val))) {
            if (r < 0 || !*val) return tgc_usage_error(cmd, "%s: --profile needs a directory", cmd);
            a->train.profile_dir = val;
        } else if ((r = tgc_opt_value("--profile-steps", argc, argv, &i, &val))) {
            if (r < 0 || parse_i64(val, 1, &n) || n > 100000)
                return tgc_usage_error(cmd, "%s: --profile-steps needs an integer from 1 to 100000", cmd);
            a->train.profile_steps = (int)n;
        } else if ((r = tgc_opt_value("--seed", argc, argv, &i, &val))) {
            if (r < 0 || parse_i64(val, 0, &n)) return tgc_usage_error(cmd, "%s: --seed needs an integer >= 0", cmd);
            a->train.has_seed = 1;
            a->train.seed = (uint64_t)n;
        } else if ((r = tgc_opt_value("--device", argc, argv, &i, &val))) {
            if (r < 0 || !tgc_device_name_valid(val))
                return tgc_usage_error(cmd, "%s: --device must be cpu or cuda", cmd);
            a->device = val;
            device_given = 1;
        } else if ((r = tgc_opt_value("--nproc", argc, argv, &i, &val)) ||
                   (r = tgc_opt_value("--gpus", argc, argv, &i, &val))) {
            int gpus = !strncmp(arg, "--gpus", 6);
            if (r < 0 || parse_i64(val, 1, &n) || n > 1024)
                return tgc_usage_error(cmd, "%s: %s needs a number of workers from 1 to 1024", cmd, gpus ? "--gpus" : "--nproc");
            if (a->nproc) return tgc_usage_error(cmd, "%s: give --nproc or --gpus once", cmd);
            a->nproc = (int)n;
            a->gpus = gpus;
            a->skip[a->n_skip++] = i;
            if (strchr(arg, '=') == NULL) a->skip[a->n_skip++] = i - 1;
        } else if ((r = tgc_opt_value("--launcher", argc, argv, &i, &val))) {
            tgc_launcher l;
            tgc_err e;
            if (r < 0 || tgc_launcher_parse(val, &l, &e) < 0) return tgc_usage_error(cmd, "%s: %s", cmd, r < 0 ? "--launcher needs a value" : e.msg);
            if (a->launcher) return tgc_usage_error(cmd, "%s: give --launcher once", cmd);
            a->launcher = val;
            a->skip[a->n_skip++] = i;
            if (strchr(arg, '=') == NULL) a->skip[a->n_skip++] = i - 1;
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
    if (a->nproc && a->launcher && strcmp(a->launcher, "none"))
        return tgc_usage_error(cmd, "%s: %s starts the workers itself; it cannot be combined with --launcher %s", cmd,
                               a->gpus ? "--gpus" : "--nproc", a->launcher);
    if (a->gpus && device_given && a->device && !strcmp(a->device, "cpu"))
        return tgc_usage_error(cmd, "%s: --gpus starts GPU workers; use --nproc N for CPU workers", cmd);
    if (a->gpus) a->device = "cuda";
    if (!a->device && !strcmp(cmd, "train")) a->device = tgc_device_default(); /* compiled for it */
    if (a->train.profile_steps && !a->train.profile_dir)
        return tgc_usage_error(cmd, "%s: --profile-steps needs --profile DIR", cmd);
    return 0;
}

/* --device: resolved through the registry of devices (backend/device.h), which says why one cannot run here. */
static int check_device(const char *device) {
    tgc_err err;
    if (tgc_device_find(device, &err)) return 0;
    fprintf(stderr, "tgc: --device %s: %s\n", device, err.msg);
    return -1;
}

/* --gpus N: say why no GPU workers can start here (no GPU visible, no CUDA build, no CUDA executor). */
static int check_gpus(int n) {
    const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
    if (cvd && (!strcmp(cvd, "-1") || !*cvd)) {
        fprintf(stderr, "tgc: --gpus %d: CUDA_VISIBLE_DEVICES=%s hides every GPU; use --nproc %d --device cpu for "
                        "CPU workers\n", n, cvd, n);
        return -1;
    }
    int built, have = tgc_device_count("cuda", &built);
    if (!built) {
        fprintf(stderr, "tgc: --gpus %d: no GPU here (this build has no CUDA support); use --nproc %d --device cpu for "
                        "CPU workers\n", n, n);
        return -1;
    }
    if (have < n) {
        fprintf(stderr, "tgc: --gpus %d: %d GPU%s visible; use --nproc %d --device cpu for CPU workers\n", n, have,
                have == 1 ? " is" : "s are", n);
        return -1;
    }
    return 0;
}

/* --launcher pytorch|slurm|mpi: this process is one rank; its place comes from the launcher's variables.
 * Exported again as RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, as MMEngine's init_dist does.
 * Returns 1 for a rank of several, 0 for a world of one, -1 on error. */
static int dist_worker(tgc_run_args *a, tgc_dist_env *env, tgc_err *err) {
    tgc_launcher l;
    if (!a->launcher || tgc_launcher_parse(a->launcher, &l, err) < 0 || l == TGC_LAUNCHER_NONE) return 0;
    if (tgc_dist_env_read(l, tgc_dist_getenv, NULL, env, err) < 0) return -1;
    char v[32];
    snprintf(v, sizeof v, "%d", env->rank);
    setenv("RANK", v, 1);
    snprintf(v, sizeof v, "%d", env->local_rank);
    setenv("LOCAL_RANK", v, 1);
    snprintf(v, sizeof v, "%d", env->world);
    setenv("WORLD_SIZE", v, 1);
    snprintf(v, sizeof v, "%d", env->port);
    setenv("MASTER_PORT", v, 1);
    setenv("MASTER_ADDR", env->master_addr, 1);
    if (env->world == 1) return 0;
    /* Threads: OMP_NUM_THREADS, else Slurm's CPUs per task, else 1 (MMEngine's default for several
     * processes, so that N workers do not each take every core). */
    const char *cpt = getenv("SLURM_CPUS_PER_TASK");
    if (!tgc_env_threads() && a->train.n_threads <= 0) a->train.n_threads = cpt && atoi(cpt) > 0 ? atoi(cpt) : 1;
    a->train.dist = env;
    a->train.device = a->device;
    return 1;
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

/* The first SIGINT/SIGTERM asks the training loop to stop after the current iteration (with a checkpoint);
 * a second one ends the process at once. */
static void on_stop_signal(int sig) {
    if (tgc_train_stop_requested()) {
        static const char msg[] = "\ntgc: second signal: exiting now without saving\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)w;
        _exit(128 + sig);
    }
    tgc_train_request_stop(sig);
}

/* tgc_train with on_stop_signal handling SIGINT/SIGTERM for the run's duration. */
static int train_with_signals(tgc_plan *p, const tgc_train_opts *o, tgc_err *err) {
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    tgc_train_request_stop(0);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    int rc = tgc_train(p, o, err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return rc;
}

int tgc_run_execute(tgc_plan *p, tgc_run_args *a) {
    /* no --device: the device the plan was compiled for where it can run (a cpu plan runs on the CPU even where
     * a GPU is); a cuda plan without a usable GPU is then refused by the cpu device, with the command that
     * recompiles it for the CPU */
    if (!a->device) a->device = !strcmp(p->target.name, "cuda") && tgc_device_find("cuda", NULL) ? "cuda" : "cpu";
    if (a->gpus && check_gpus(a->nproc) < 0) return TGC_EXIT_ERROR;
    if (check_device(a->device) < 0) return TGC_EXIT_ERROR;
    a->train.device = a->device;
    tgc_err err = {{0}};
    if (tgc_plan_check_target(p, a->device, &err) < 0) { /* the executor runs only plans for its device */
        fprintf(stderr, "tgc: %s: %s\n", a->input, err.msg);
        return TGC_EXIT_ERROR;
    }
    if ((a->no_pin_memory && set_loader_flag(p->config, "pin_memory", &err) < 0) ||
        (a->no_persistent_workers && set_loader_flag(p->config, "persistent_workers", &err) < 0)) {
        fprintf(stderr, "tgc: %s\n", err.msg);
        return TGC_EXIT_ERROR;
    }
    if (a->nproc) { /* the plan and options were checked above, once, before any worker starts */
        int lrc = tgc_launch_workers(a);
        if (lrc >= 0) return lrc;
    }
    tgc_dist_env env;
    int dist = dist_worker(a, &env, &err);
    if (dist < 0) {
        fprintf(stderr, "tgc: %s\n", err.msg);
        return TGC_EXIT_ERROR;
    }
    fflush(stdout);
    int rc = train_with_signals(p, &a->train, &err);
    if (rc < 0) {
        char own[32]; /* name the rank unless the message already starts with it */
        snprintf(own, sizeof own, "rank %d: ", dist ? env.rank : 0);
        if (dist && strncmp(err.msg, own, strlen(own))) fprintf(stderr, "tgc: rank %d: %s\n", env.rank, err.msg);
        else fprintf(stderr, "tgc: %s\n", err.msg);
        return TGC_EXIT_ERROR;
    }
    return rc > 0 ? 128 + rc : TGC_EXIT_OK;
}

/* Run-time --cfg-options may ask for more (a custom hook): those settings join the plan's list (and the
 * ones the runtime would refuse are taken out, as at compile time). The run logs the list; --strict refuses
 * a non-empty one. */
static int check_ignored(tgc_plan *p, int strict, int rescan, tgc_err *err) {
    if (rescan && p->config) {
        tgc_ignored ig;
        tgc_ignored_scan(p->config, &ig);
        tgc_buf b = {0};
        if (p->ignored) tgc_buf_printf(&b, "%s", p->ignored);
        for (int i = 0; i < ig.n; i++) {
            char *line = tgc_asprintf("%s: %s: %s\n", ig.items[i].where, ig.items[i].path, ig.items[i].what);
            if (!p->ignored || !strstr(p->ignored, line)) tgc_buf_printf(&b, "%s", line);
            free(line);
        }
        tgc_buf_put(&b, "", 1);
        free(p->ignored);
        p->ignored = (char *)b.data;
        tgc_ignored_free(&ig);
    }
    if (!strict || !p->ignored || !p->ignored[0]) return 0;
    int n = 0;
    for (const char *c = p->ignored; *c; c++) n += *c == '\n';
    return tgc_fail(err, "--strict: %d setting%s of the plan's config %s accepted but not implemented (`tgc inspect "
                    "PLAN` lists them)", n, n == 1 ? "" : "s", n == 1 ? "is" : "are");
}

/* Mixed precision is compiled into a plan: `tgc run --amp/--fp16` only checks that the plan is one, and
 * says how to compile one otherwise (`tgc train` compiled it with the flag already). */
static int check_amp(const tgc_plan *p, const tgc_run_args *a, const char *verb, tgc_err *err) {
    if (!a->train.amp || !strcmp(verb, "train")) return 0;
    const char *flag = a->train.amp == 2 ? "--fp16" : "--amp";
    if (p->amp.dtype != TGC_F32 && (a->train.amp != 2 || p->amp.dtype == TGC_F16)) return 0;
    const char *cfg = NULL;
    tgc_err e2;
    if (tgc_cfg_str(p->config, "filename", NULL, &cfg, &e2) < 0 || !cfg) cfg = "CONFIG";
    return tgc_fail(err, "%s: %s is %s plan, and mixed precision is decided when a plan is compiled (nothing is "
                         "recompiled here): compile one with `tgc compile %s %s -o PLAN`, or compile and train in one "
                         "step with `tgc train %s %s`",
                    flag, a->input, p->amp.dtype == TGC_F32 ? "an fp32" : "a bfloat16", cfg, flag, cfg, flag);
}

int tgc_run_loaded(tgc_plan *p, tgc_run_args *a, const char *verb, const char **runtime_options, int n_runtime) {
    tgc_err err = {{0}};
    int rc;
    if (tgc_plan_validate(p, &err) < 0 || tgc_run_apply_options(p->config, runtime_options, n_runtime, &err) < 0 ||
        check_ignored(p, a->strict, n_runtime > 0, &err) < 0 ||
        check_amp(p, a, verb, &err) < 0) {
        fprintf(stderr, "tgc: %s\n", err.msg);
        rc = TGC_EXIT_ERROR;
    } else {
        /* the resume hint names the launch too: "tgc run plan.bin --nproc 2" */
        const char *lws = getenv("LOCAL_WORLD_SIZE");
        char launch[64] = "";
        if (a->nproc) snprintf(launch, sizeof launch, " %s %d", a->gpus ? "--gpus" : "--nproc", a->nproc);
        else if (a->launcher && !strcmp(a->launcher, "pytorch") && lws) snprintf(launch, sizeof launch, " --nproc %.8s", lws);
        else if (a->launcher && strcmp(a->launcher, "none")) snprintf(launch, sizeof launch, " --launcher %.16s", a->launcher);
        const char *amp = !strcmp(verb, "train") && a->train.amp ? (a->train.amp == 2 ? " --fp16" : " --amp") : "";
        char *command = tgc_asprintf("tgc %s %s%s%s", verb, a->input, amp, launch);
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
