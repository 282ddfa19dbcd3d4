/* bench/bench_step.c - times tgc's CPU train step on synthetic data, optionally profiled per op type.
 *
 * usage: tgc_bench_step PLAN [--steps N] [--warmup W] [--threads T] [--profile] [--json]
 *
 * Loads the plan, initialises the state (seed 0), fills the train inputs with a fixed random batch, runs W
 * untimed steps (primitive creation, first-touch of memory), then N timed steps, and prints the median and
 * mean step time and img/s. --profile times every instruction (tgc_exec_on_instr) over the timed steps
 * and prints, per op type, the total time, its share of the step and the call count; the difference
 * between the step time and the instructions' sum is the executor's own overhead. --json prints one JSON
 * object instead (bench/train_step_vs_torch.py reads it). T = 0: OMP_NUM_THREADS, else all cores.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/plan.h"
#include "runtime/data.h"
#include "runtime/executor.h"

typedef struct profile {
    double t[TGC_OP_COUNT];
    long calls[TGC_OP_COUNT];
    int active;
} profile;

static void on_instr(void *ctx, const tgc_program *p, int instr, double t0, double t1) {
    profile *pr = ctx;
    if (!pr->active) return;
    tgc_opcode c = p->instr[instr].code;
    pr->t[c] += t1 - t0;
    pr->calls[c]++;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

static void fill_batch(tgc_exec *x) {
    tgc_rng r;
    tgc_rng_init(&r, 1, 0, 0, 0);
    int xi = tgc_exec_input(x, "train", "inputs"), li = tgc_exec_input(x, "train", "data_samples.gt_label");
    float *img = tgc_exec_data(x, xi);
    int64_t n = tgc_shape_numel(&tgc_exec_tensor(x, xi)->type.shape);
    for (int64_t i = 0; i < n; i++) img[i] = (float)(2.0 * tgc_rng_uniform(&r) - 1.0);
    int32_t *lab = tgc_exec_data(x, li);
    int64_t b = tgc_shape_numel(&tgc_exec_tensor(x, li)->type.shape);
    for (int64_t i = 0; i < b; i++) lab[i] = (int32_t)(i % 10);
}

int main(int argc, char **argv) {
    const char *plan_path = NULL;
    int steps = 20, warmup = 3, threads = 0, prof = 0, json = 0;
    for (int i = 1; i < argc; i++) {
        int bad = 0;
        if (!strcmp(argv[i], "--steps") && i + 1 < argc) bad = parse_int(argv[++i], 1, 1000000, &steps);
        else if (!strcmp(argv[i], "--warmup") && i + 1 < argc) bad = parse_int(argv[++i], 0, 1000000, &warmup);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) bad = parse_int(argv[++i], 0, 4096, &threads);
        else if (!strcmp(argv[i], "--profile")) prof = 1;
        else if (!strcmp(argv[i], "--json")) json = 1;
        else if (argv[i][0] != '-' && !plan_path) plan_path = argv[i];
        else bad = -1;
        if (bad) {
            fprintf(stderr, "usage: tgc_bench_step PLAN [--steps N] [--warmup W] [--threads T] [--profile] [--json]\n"
                            "bench_step: bad argument '%s'\n", argv[i]);
            return 1;
        }
    }
    if (!plan_path) {
        fprintf(stderr, "usage: tgc_bench_step PLAN [--steps N] [--warmup W] [--threads T] [--profile] [--json]\n");
        return 1;
    }
    tgc_err err = {{0}};
    int rc = 1;
    tgc_exec *x = NULL;
    double *dt = tgc_calloc((size_t)steps, sizeof *dt);
    profile *pr = tgc_calloc(1, sizeof *pr);
    tgc_plan *p = tgc_plan_load(plan_path, &err);
    if (!p || tgc_plan_validate(p, &err) < 0) goto fail;
    tgc_exec_opts o = {.n_threads = threads, .deterministic = 0};
    if (!(x = tgc_exec_new(p, &o, &err)) || tgc_exec_init_state(x, 0, &err) < 0) goto fail;
    int lri = tgc_exec_input(x, "train", "lr"), si = tgc_exec_input(x, "train", "step");
    const tgc_program *tp = tgc_plan_program(p, "train");
    if (lri < 0 || si < 0 || !tp || tgc_exec_input(x, "train", "inputs") < 0 ||
        tgc_exec_input(x, "train", "data_samples.gt_label") < 0) {
        tgc_fail(&err, "%s: the plan has no complete train program", plan_path);
        goto fail;
    }
    fill_batch(x);
    /* A small lr keeps the weights finite however many steps run. */
    *(float *)tgc_exec_data(x, lri) = 1e-4f;
    if (prof) tgc_exec_on_instr(x, on_instr, pr);
    for (int s = 0; s < warmup + steps; s++) {
        *(float *)tgc_exec_data(x, si) = (float)(s + 1);
        pr->active = s >= warmup;
        double t0 = tgc_now();
        if (tgc_exec_run(x, "train", &err) < 0) goto fail;
        if (s >= warmup) dt[s - warmup] = tgc_now() - t0;
    }
    double sum = 0;
    for (int i = 0; i < steps; i++) sum += dt[i];
    qsort(dt, (size_t)steps, sizeof *dt, cmp_double);
    double median = steps % 2 ? dt[steps / 2] : 0.5 * (dt[steps / 2 - 1] + dt[steps / 2]);
    double mean = sum / steps, batch = (double)tp->batch;
    /* The thread count the executor resolved (tgc_cpu_new's rule: --threads, OMP_NUM_THREADS, the cores). */
    const char *env = getenv("OMP_NUM_THREADS");
    long nt = threads > 0 ? threads : env && atoi(env) > 0 ? atoi(env) : sysconf(_SC_NPROCESSORS_ONLN);
    if (json) {
        printf("{\"plan\": \"%s\", \"batch\": %lld, \"threads\": %ld, \"steps\": %d, \"warmup\": %d, "
               "\"step_ms_median\": %.4f, \"step_ms_mean\": %.4f, \"img_per_s\": %.2f",
               plan_path, (long long)tp->batch, nt, steps, warmup, 1e3 * median, 1e3 * mean, batch / median);
        if (prof) {
            printf(", \"profile\": {");
            int first = 1;
            for (int c = 0; c < TGC_OP_COUNT; c++)
                if (pr->calls[c]) {
                    printf("%s\"%s\": {\"ms_per_step\": %.4f, \"calls_per_step\": %.2f}", first ? "" : ", ",
                           tgc_op_table[c].name, 1e3 * pr->t[c] / steps, (double)pr->calls[c] / steps);
                    first = 0;
                }
            printf("}");
        }
        printf("}\n");
    } else {
        printf("%s: batch %lld, %d steps (+%d warm-up): median %.3f ms/step, mean %.3f ms, %.1f img/s\n", plan_path,
               (long long)tp->batch, steps, warmup, 1e3 * median, 1e3 * mean, batch / median);
        if (prof) {
            double total = 0;
            for (int c = 0; c < TGC_OP_COUNT; c++) total += pr->t[c];
            printf("%-28s %10s %7s %8s\n", "op", "ms/step", "share", "calls");
            for (;;) { /* descending by time */
                int best = -1;
                for (int c = 0; c < TGC_OP_COUNT; c++)
                    if (pr->calls[c] && (best < 0 || pr->t[c] > pr->t[best])) best = c;
                if (best < 0) break;
                printf("%-28s %10.3f %6.1f%% %8.1f\n", tgc_op_table[best].name, 1e3 * pr->t[best] / steps,
                       100.0 * pr->t[best] / sum, (double)pr->calls[best] / steps);
                pr->calls[best] = 0;
            }
            printf("%-28s %10.3f %6.1f%%\n", "(instructions total)", 1e3 * total / steps, 100.0 * total / sum);
            printf("%-28s %10.3f %6.1f%%\n", "(executor overhead)", 1e3 * (sum - total) / steps,
                   100.0 * (sum - total) / sum);
        }
    }
    rc = 0;
fail:
    if (rc) fprintf(stderr, "bench_step: %s\n", err.msg);
    tgc_exec_free(x);
    tgc_plan_free(p);
    free(dt);
    free(pr);
    return rc;
}
