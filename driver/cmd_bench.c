/* driver/cmd_bench.c - `tgc bench PLAN`: train and eval step throughput on seeded synthetic inputs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "driver/driver.h"
#include "runtime/exec/executor.h"
#include "runtime/profile/profile.h"
#include "runtime/runner/synth_inputs.h"

typedef struct bench_opts {
    const char *plan;
    int64_t iters, warmup;
    int json;
    int train_only; /* --train-only: the eval program is not run */
    const char *profile_dir; /* --profile DIR: the timed train steps through the profiler */
} bench_opts;

static int parse_count(const char *s, int64_t lo, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > 1000000) return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, bench_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return 1;
        const char *val;
        int r;
        if (!strcmp(a, "--json")) {
            o->json = 1;
        } else if (!strcmp(a, "--train-only")) {
            o->train_only = 1;
        } else if ((r = tgc_opt_value("--profile", argc, argv, &i, &val))) {
            if (r < 0 || !*val) return tgc_usage_error("bench", "bench: --profile needs a directory");
            o->profile_dir = val;
        } else if (!strcmp(a, "--iters") || !strcmp(a, "--warmup")) {
            int64_t *dst = a[2] == 'i' ? &o->iters : &o->warmup;
            if (i + 1 >= argc || parse_count(argv[++i], a[2] == 'i' ? 1 : 0, dst))
                return tgc_usage_error("bench", "bench: %s needs a count (%s)", a, a[2] == 'i' ? ">= 1" : ">= 0");
        } else if (a[0] == '-' && a[1]) {
            return tgc_usage_error("bench", "bench: unknown option '%s'", a);
        } else if (o->plan) {
            return tgc_usage_error("bench", "bench: more than one plan given ('%s', '%s')", o->plan, a);
        } else {
            o->plan = a;
        }
    }
    if (!o->plan) return tgc_usage_error("bench", "bench: no plan given");
    return 0;
}

/* Writes one f32 into the first element of a tensor. */
static int write_f32(tgc_exec *x, int tensor, float v, tgc_err *err) {
    const tgc_plan_tensor *t = tgc_exec_tensor(x, tensor);
    return tgc_exec_write_bytes(x, t->slab, t->offset, sizeof v, &v, err);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Runs prog warmup + iters times; *secs is the timed part and *median_ms the median timed step. With a
 * profiler, each step is marked (it records after its own warm-up window). */
static int time_program(tgc_exec *x, const char *prog, const bench_opts *o, tgc_profiler *prof, double *secs,
                        double *median_ms, tgc_err *err) {
    int step = tgc_exec_input(x, prog, "step");
    double *t = tgc_malloc(sizeof(double) * (size_t)o->iters);
    *secs = 0;
    for (int64_t i = 0; i < o->warmup + o->iters; i++) {
        if (step >= 0 && write_f32(x, step, (float)(i + 1), err) < 0) {
            free(t);
            return -1;
        }
        if (prof) tgc_profiler_step_begin(prof, i + 1);
        double t0 = tgc_now();
        int rc = tgc_exec_run(x, prog, err);
        if (rc == 0) rc = tgc_exec_sync(x, err); /* a device with streams finishes the step here */
        double dt = tgc_now() - t0;
        if (prof) tgc_profiler_step_end(prof);
        if (rc < 0) {
            free(t);
            return -1;
        }
        if (i >= o->warmup) {
            t[i - o->warmup] = dt;
            *secs += dt;
        }
    }
    qsort(t, (size_t)o->iters, sizeof *t, cmp_double);
    *median_ms = 1e3 * (o->iters % 2 ? t[o->iters / 2] : 0.5 * (t[o->iters / 2 - 1] + t[o->iters / 2]));
    free(t);
    return 0;
}

int tgc_cmd_bench(int argc, char **argv) {
    bench_opts o = {NULL, 20, 3, 0, 0, NULL};
    int pr = parse_args(argc, argv, &o);
    if (pr == 1) {
        tgc_usage("bench", stdout);
        return TGC_EXIT_OK;
    }
    if (pr) return pr;
    tgc_err err = {{0}};
    tgc_exec *x = NULL;
    tgc_profiler *prof = NULL;
    tgc_plan *p = tgc_plan_load(o.plan, &err);
    int threads = tgc_default_threads();
    tgc_exec_opts xo = {threads, 0, NULL};
    if (!p || tgc_plan_validate(p, &err) < 0) goto fail;
    if (tgc_plan_check_target(p, "cpu", &err) < 0) { /* the CPU executor runs only plans for the CPU */
        tgc_err_prefix(&err, "%s", o.plan);
        goto fail;
    }
    if (!(x = tgc_exec_new(p, &xo, &err)) || tgc_exec_init_state(x, 0, &err) < 0) goto fail;
    const tgc_program *tr = tgc_plan_program(p, "train"), *ev = o.train_only ? NULL : tgc_plan_program(p, "eval");
    int classes = tgc_synth_num_classes(x);
    if (o.profile_dir) {
        tgc_profiler_limits lim = {(int)o.warmup, (int)o.iters, TGC_PROFILE_DEFAULT_MAX_EVENTS};
        if (!(prof = tgc_profiler_new(p, 0, &err)) || tgc_profiler_set_limits(prof, &lim, &err) < 0) goto fail;
        tgc_exec_on_instr(x, tgc_profiler_on_instr, prof);
    }
    double t_train = 0, t_eval = 0, med_train = 0, med_eval = 0;
    if (tr) {
        if (tgc_synth_fill_inputs(x, "train", classes, p->optim.lr, &err) < 0) goto fail;
        if (time_program(x, "train", &o, prof, &t_train, &med_train, &err) < 0) goto fail;
    }
    tgc_exec_on_instr(x, NULL, NULL); /* the profile covers the train step */
    if (prof && tgc_profiler_write(prof, o.profile_dir, &err) < 0) goto fail;
    if (ev) {
        if (tgc_synth_fill_inputs(x, "eval", classes, p->optim.lr, &err) < 0) goto fail;
        if (time_program(x, "eval", &o, NULL, &t_eval, &med_eval, &err) < 0) goto fail;
    }
    double tr_ips = tr ? (double)(tr->batch * o.iters) / t_train : 0, ev_ips = ev ? (double)(ev->batch * o.iters) / t_eval : 0;
    double tr_ms = tr ? t_train * 1e3 / (double)o.iters : 0, ev_ms = ev ? t_eval * 1e3 / (double)o.iters : 0;
    if (o.json) {
        printf("{\"train_img_per_s\": %.2f, \"eval_img_per_s\": %.2f, \"threads\": %d, \"train_ms_per_step\": %.3f, "
               "\"eval_ms_per_step\": %.3f, \"train_ms_median\": %.3f, \"eval_ms_median\": %.3f, "
               "\"train_batch\": %lld, \"eval_batch\": %lld, \"iters\": %lld}\n",
               tr_ips, ev_ips, threads, tr_ms, ev_ms, med_train, med_eval, (long long)(tr ? tr->batch : 0),
               (long long)(ev ? ev->batch : 0), (long long)o.iters);
    } else {
        if (tr) printf("train: %.1f img/s, %.2f ms/step (batch %lld)\n", tr_ips, tr_ms, (long long)tr->batch);
        if (ev) printf("eval:  %.1f img/s, %.2f ms/step (batch %lld)\n", ev_ips, ev_ms, (long long)ev->batch);
        printf("threads: %d, %lld timed steps after %lld warm-up steps, synthetic inputs\n", threads, (long long)o.iters,
               (long long)o.warmup);
    }
    tgc_profiler_free(prof);
    tgc_exec_free(x);
    tgc_plan_free(p);
    return TGC_EXIT_OK;
fail:
    fprintf(stderr, "tgc: %s\n", err.msg);
    tgc_profiler_free(prof);
    tgc_exec_free(x);
    tgc_plan_free(p);
    return TGC_EXIT_ERROR;
}
