/* Profiler tests: a LeNet plan runs 3 train steps with the profiler attached; the trace, the per-op summary
 * and the arena occupancy dumps are parsed back and checked against the plan and the op table's costs. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plan/plan.h"
#include "frontend/frontend.h"
#include "runtime/data/data.h"
#include "runtime/exec/executor.h"
#include "test_compile.h"
#include "test_exec_util.h"
#include "runtime/profile/profile.h"
#include "test_profile_json.h"
#include "test_util.h"

static const char *LENET = TEST_LENET_YAML(8, 4);

/* Small ResNet: batch norm + relu pairs give the memory plan in-place reuse. */
static const char *RESNET = TEST_RESNET_YAML(4, 4, "lr: 0.05, momentum: 0.9");

static char *slurp(const char *dir, const char *name, size_t *len) {
    char *path = tgc_asprintf("%s/%s", dir, name);
    char *s = test_slurp(path, len);
    free(path);
    return s;
}

static void parse_file(const char *dir, const char *name, jv *out) {
    size_t len;
    char *s = slurp(dir, name, &len);
    ck_assert_msg(jparse(s, len, out) == 0, "%s/%s is not valid JSON", dir, name);
    free(s);
}

/* Python's json module as a second, independent reader (skipped where there is no python3, except under
 * CI=true, where tools/setup.sh installs it). */
static void python_json_check(const char *path) {
    if (access("/usr/bin/python3", X_OK) != 0) {
        const char *ci = getenv("CI");
        ck_assert_msg(!(ci && !strcmp(ci, "true")), "/usr/bin/python3 is missing (tools/setup.sh installs it)");
        printf("skipped: python3's json reader of %s: no /usr/bin/python3\n", path);
        return;
    }
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c 'import json,sys; json.load(open(sys.argv[1]))' '%s' 2>&1", path);
    int st = system(cmd);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "python3 json.load rejects %s", path);
}

/* ---- a run with the profiler attached ----------------------------------------------------------- */

typedef struct run_ctx {
    tgc_profiler *prof;
    int buckets; /* bucket callbacks seen */
} run_ctx;

static int on_bucket(void *ctx, const tgc_plan_bucket *b, tgc_dev_mem mem, tgc_err *err) {
    run_ctx *r = ctx;
    (void)mem, (void)err;
    char args[128];
    snprintf(args, sizeof args, "bytes=%llu tensors=%d kind=sum", (unsigned long long)b->bytes, b->n);
    double t = tgc_now();
    tgc_profiler_span(r->prof, "comm", "allreduce", t, t + 1e-6, args);
    r->buckets++;
    return 0;
}

/* Runs `steps` train steps; when prof is set it is attached, steps are marked and a "data" span is
 * recorded before each one (as the training loop does). */
static void run_steps(const tgc_plan *p, tgc_profiler *prof, int attach, int steps, run_ctx *rc) {
    tgc_err err;
    tgc_exec_opts o = {.n_threads = 1, .deterministic = 1};
    tgc_exec *x = tgc_exec_new(p, &o, &err);
    ck_assert_msg(x, "%s", err.msg);
    ck_assert_msg(tgc_exec_init_state(x, 42, &err) == 0, "%s", err.msg);
    if (attach) {
        tgc_exec_on_instr(x, tgc_profiler_on_instr, prof);
        rc->prof = prof;
        tgc_exec_on_bucket(x, on_bucket, rc);
    }
    int si = tgc_exec_input(x, "train", "step");
    for (int s = 1; s <= steps; s++) {
        double t0 = tgc_now();
        test_feed(x, "train", 7, 0, 0.05f);
        if (prof) tgc_profiler_span(prof, "data", "load batch", t0, tgc_now(), "batch=8 source=random");
        exec_put_f32(x, si, (float)s);
        if (prof) tgc_profiler_step_begin(prof, s);
        ck_assert_msg(tgc_exec_run(x, "train", &err) == 0, "%s", err.msg);
        if (prof) tgc_profiler_step_end(prof);
    }
    tgc_exec_free(x);
}

/* Counts of each opcode among the program's instructions. */
static void op_counts(const tgc_program *pr, int *count) {
    memset(count, 0, sizeof(int) * TGC_OP_COUNT);
    for (int k = 0; k < pr->n_instr; k++) count[pr->instr[k].code]++;
}

static int track_tid(const jv *events, const char *track) {
    for (int i = 0; i < events->n; i++) {
        const jv *e = &events->items[i];
        const char *ph = jstr(e, "ph"), *nm = jstr(e, "name");
        const char *an = jstr(jget(e, "args"), "name");
        if (ph && !strcmp(ph, "M") && nm && !strcmp(nm, "thread_name") && an && !strcmp(an, track))
            return (int)jnum(e, "tid", -1);
    }
    return -1;
}

/* trace.json of the 3-step run (rank 3, steps 2 and 3 profiled): one kernel event per instruction per
 * profiled step on the compute track, the data and comm spans on theirs. */
static void check_trace(const char *rdir, const tgc_program *tr, int profiled) {
    jv trace;
    parse_file(rdir, "trace.json", &trace);
    const jv *events = jget(&trace, "traceEvents");
    ck_assert_ptr_nonnull(events);
    ck_assert_int_eq(events->t, J_ARR);
    int tid_compute = track_tid(events, "compute"), tid_data = track_tid(events, "data"),
        tid_comm = track_tid(events, "comm");
    ck_assert_int_ge(tid_compute, 0);
    ck_assert_int_ge(tid_data, 0);
    ck_assert_int_ge(tid_comm, 0);
    ck_assert_int_ne(tid_compute, tid_data);
    ck_assert_int_ne(tid_compute, tid_comm);
    int *seen = calloc((size_t)tr->n_instr * 8, sizeof(int)); /* [step][instr] */
    int kernels = 0, steps = 0, data = 0, comm = 0;
    for (int i = 0; i < events->n; i++) {
        const jv *e = &events->items[i];
        const char *ph = jstr(e, "ph"), *cat = jstr(e, "cat"), *name = jstr(e, "name");
        ck_assert_ptr_nonnull(ph);
        ck_assert_ptr_nonnull(name);
        ck_assert_int_eq((int)jnum(e, "pid", -1), 3);
        if (!strcmp(ph, "M")) continue;
        ck_assert_str_eq(ph, "X");
        ck_assert_ptr_nonnull(cat);
        ck_assert(jnum(e, "ts", -1) >= 0);
        ck_assert(jnum(e, "dur", -1) >= 0);
        const jv *args = jget(e, "args");
        ck_assert_ptr_nonnull(args);
        int tid = (int)jnum(e, "tid", -1);
        if (!strcmp(cat, "kernel")) {
            ck_assert_int_eq(tid, tid_compute);
            int k = (int)jnum(args, "instr", -1), s = (int)jnum(args, "step", -1);
            ck_assert_int_ge(k, 0);
            ck_assert_int_lt(k, tr->n_instr);
            ck_assert_msg(s == 2 || s == 3, "kernel recorded in step %d", s);
            ck_assert_str_eq(jstr(args, "program"), "train");
            ck_assert_str_eq(name, tgc_op_table[tr->instr[k].code].name);
            if (tr->instr[k].scope) ck_assert_str_eq(jstr(args, "scope"), tr->instr[k].scope);
            ck_assert(jnum(args, "bytes", -1) > 0);
            seen[s * tr->n_instr + k]++;
            kernels++;
        } else if (!strcmp(cat, "step")) {
            ck_assert_int_eq(tid, tid_compute);
            steps++;
        } else if (!strcmp(cat, "data")) {
            ck_assert_int_eq(tid, tid_data);
            ck_assert_str_eq(name, "load batch");
            ck_assert_int_eq((int)jnum(args, "batch", -1), 8);
            ck_assert_str_eq(jstr(args, "source"), "random");
            data++;
        } else if (!strcmp(cat, "comm")) {
            ck_assert_int_eq(tid, tid_comm);
            ck_assert_str_eq(jstr(args, "kind"), "sum");
            ck_assert(jnum(args, "bytes", 0) > 0);
            comm++;
        } else {
            ck_abort_msg("unexpected category %s", cat);
        }
    }
    /* Exactly one event per executed instruction per profiled step. */
    ck_assert_int_eq(kernels, profiled * tr->n_instr);
    for (int s = 2; s <= 3; s++)
        for (int k = 0; k < tr->n_instr; k++) ck_assert_int_eq(seen[s * tr->n_instr + k], 1);
    ck_assert_int_eq(steps, profiled);
    /* The data span of step 2 was recorded before step 2 began: the window opened when step 1 ended. */
    ck_assert_int_eq(data, profiled);
    ck_assert_int_eq(comm, profiled * tr->n_buckets);
    const jv *other = jget(&trace, "otherData");
    ck_assert_int_eq((int)jnum(other, "steps_profiled", -1), profiled);
    ck_assert_int_eq((int)jnum(other, "dropped_events", -1), 0);
    free(seen);
    jv_free(&trace);
}

/* op_summary.json: one row per op with its calls, time share, flops and bytes (conv2d's flops checked
 * independently of the cost rule); op_summary.txt: a header, one row per op with its calls, a total. */
static void check_op_summary(const char *rdir, const tgc_plan *p, const tgc_program *tr, int profiled) {
    tgc_err err;
    jv sum;
    parse_file(rdir, "op_summary.json", &sum);
    const jv *ops = jget(&sum, "ops");
    ck_assert_ptr_nonnull(ops);
    int count[TGC_OP_COUNT];
    op_counts(tr, count);
    tgc_cost *cost = calloc((size_t)tr->n_instr, sizeof(tgc_cost));
    ck_assert_msg(tgc_profile_costs(p, tr, cost, &err) == 0, "%s", err.msg);
    double share = 0, prev_total = 1e300;
    int rows = 0, conv_checked = 0;
    for (int i = 0; i < ops->n; i++) {
        const jv *r = &ops->items[i];
        const char *op = jstr(r, "op");
        int code = tgc_op_by_name(op);
        ck_assert_msg(code >= 0, "summary row %s is not an op", op);
        ck_assert_int_eq((int)jnum(r, "calls", -1), profiled * count[code]);
        double total = jnum(r, "total_ms", -1);
        ck_assert(total >= 0 && total <= prev_total); /* sorted by total time */
        prev_total = total;
        share += jnum(r, "share_pct", -1);
        double flops = 0, bytes = 0;
        for (int k = 0; k < tr->n_instr; k++)
            if ((int)tr->instr[k].code == code) flops += cost[k].flops, bytes += cost[k].bytes;
        ck_assert_double_eq_tol(jnum(r, "flops", -1), profiled * flops, 0.5);
        ck_assert_double_eq_tol(jnum(r, "bytes", -1), profiled * bytes, 0.5);
        if (code == TGC_OP_CONV2D) {
            /* Independently of the cost rule: 2 * N*O*Ho*Wo * C/g * kh*kw per forward convolution. */
            double want = 0;
            for (int k = 0; k < tr->n_instr; k++) {
                const tgc_instr *in = &tr->instr[k];
                if (in->code != TGC_OP_CONV2D) continue;
                const tgc_shape *x = &p->tensors[in->in[0]].type.shape, *w = &p->tensors[in->in[1]].type.shape,
                                *y = &p->tensors[in->out[0]].type.shape;
                want += 2.0 * (double)(y->d[0] * y->d[1] * y->d[2] * y->d[3]) *
                        (double)(x->d[1] / in->attrs.groups) * (double)(w->d[2] * w->d[3]);
            }
            ck_assert(want > 0);
            ck_assert_double_eq_tol(jnum(r, "flops", -1), profiled * want, 0.5);
            ck_assert_double_eq_tol(jnum(r, "gflop", -1), profiled * want / 1e9, 1e-6);
            conv_checked = 1;
        }
        rows++;
    }
    int distinct = 0;
    for (int c = 0; c < TGC_OP_COUNT; c++) distinct += count[c] > 0;
    ck_assert_int_eq(rows, distinct);
    ck_assert(conv_checked);
    ck_assert_double_eq_tol(share, 100.0, 0.05);
    ck_assert_int_eq((int)jnum(jget(&sum, "total"), "calls", -1), profiled * tr->n_instr);
    ck_assert_int_eq((int)jnum(jget(jget(&sum, "tracks"), "comm"), "spans", -1), profiled * tr->n_buckets);
    jv_free(&sum);
    free(cost);

    /* op_summary.txt */
    size_t len;
    char *txt = slurp(rdir, "op_summary.txt", &len);
    ck_assert_ptr_nonnull(strstr(txt, "GFLOP/s"));
    char want_row[64];
    snprintf(want_row, sizeof want_row, "\nconv2d ");
    char *row = strstr(txt, want_row);
    ck_assert_msg(row, "%s", txt);
    long calls = strtol(row + strlen(want_row), NULL, 10);
    ck_assert_int_eq(calls, profiled * count[TGC_OP_CONV2D]);
    ck_assert_ptr_nonnull(strstr(txt, "\ntotal "));
    free(txt);
}

/* memory.json and memory.txt: the train program's arena occupancy per instruction, its peak the plan's
 * lower bound. */
static void check_memory(const char *rdir, const tgc_plan *p, const tgc_program *tr) {
    jv mem;
    parse_file(rdir, "memory.json", &mem);
    const jv *progs = jget(&mem, "programs");
    ck_assert_ptr_nonnull(progs);
    ck_assert_int_eq(progs->n, p->n_programs);
    const jv *m0 = &progs->items[0];
    ck_assert_str_eq(jstr(m0, "program"), "train");
    const jv *occ = jget(m0, "occupancy");
    ck_assert_int_eq(occ->n, tr->n_instr);
    double peak = jnum(m0, "peak_bytes", -1), maxlive = 0;
    for (int k = 0; k < occ->n; k++) {
        double b = jnum(&occ->items[k], "live_bytes", -1);
        ck_assert(b >= 0);
        if (b > maxlive) maxlive = b;
        ck_assert_str_eq(jstr(&occ->items[k], "op"), tgc_op_table[tr->instr[k].code].name);
    }
    ck_assert_double_eq(peak, maxlive);
    ck_assert_double_eq(peak, (double)tr->mem.lower_bound_bytes);
    ck_assert(peak <= (double)p->slab_bytes[TGC_SLAB_ARENA]);
    ck_assert_double_eq(jnum(m0, "arena_bytes", -1), (double)p->slab_bytes[TGC_SLAB_ARENA]);
    jv_free(&mem);
    size_t len;
    char *txt = slurp(rdir, "memory.txt", &len);
    ck_assert_ptr_nonnull(strstr(txt, "# program train: arena "));
    free(txt);
}

START_TEST(three_steps_dump_trace_summary_memory) {
    tgc_plan *p = test_compile(LENET, NULL, 0);
    const tgc_program *tr = tgc_plan_program(p, "train");
    ck_assert_ptr_nonnull(tr);
    tgc_err err;
    tgc_profiler *prof = tgc_profiler_new(p, 3, &err);
    ck_assert_msg(prof, "%s", err.msg);
    /* One warm-up step, then the two others are recorded (a cap of 5 is not reached). */
    tgc_profiler_limits lim = {.warmup_steps = 1, .steps = 5, .max_events = 100000};
    ck_assert_msg(tgc_profiler_set_limits(prof, &lim, &err) == 0, "%s", err.msg);
    run_ctx rc = {0};
    run_steps(p, prof, 1, 3, &rc);
    const int profiled = 2;
    ck_assert_int_gt(tr->n_buckets, 0);
    ck_assert_int_eq(rc.buckets, 3 * tr->n_buckets);
    ck_assert_int_eq(tgc_profiler_n_dropped(prof), 0);
    char *dir = test_tmpdir(NULL, "tgc_prof");
    char *sub = malloc(strlen(dir) + 32);
    sprintf(sub, "%s/a/b", dir); /* intermediate directories are created */
    ck_assert_msg(tgc_profiler_write(prof, sub, &err) == 0, "%s", err.msg);
    char *rdir = malloc(strlen(sub) + 16);
    sprintf(rdir, "%s/rank3", sub);

    check_trace(rdir, tr, profiled);
    check_op_summary(rdir, p, tr, profiled);
    check_memory(rdir, p, tr);
    char path[8192];
    const char *files[] = {"trace.json", "op_summary.json", "memory.json"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", rdir, files[i]);
        python_json_check(path);
    }
    tgc_profiler_free(prof);
    test_rm_tree(dir);
    free(rdir);
    free(sub);
    free(dir);
    tgc_plan_free(p);
}
END_TEST

/* ---- off costs nothing, the window and the cap bound what is kept ----------------------------------- */

START_TEST(detached_or_outside_window_records_nothing) {
    tgc_plan *p = test_compile(LENET, NULL, 0);
    tgc_err err;
    /* Created but never attached: the executor makes no calls, and step marks record no kernels. */
    tgc_profiler *prof = tgc_profiler_new(p, 0, &err);
    ck_assert_msg(prof, "%s", err.msg);
    run_ctx rc = {0};
    run_steps(p, prof, 0, 2, &rc);
    char *dir = test_tmpdir(NULL, "tgc_prof");
    ck_assert_msg(tgc_profiler_write(prof, dir, &err) == 0, "%s", err.msg);
    char *rdir = malloc(strlen(dir) + 16);
    sprintf(rdir, "%s/rank0", dir);
    jv trace;
    parse_file(rdir, "trace.json", &trace);
    const jv *events = jget(&trace, "traceEvents");
    for (int i = 0; i < events->n; i++) {
        const char *cat = jstr(&events->items[i], "cat");
        ck_assert_msg(!cat || strcmp(cat, "kernel") != 0, "a kernel event without the callback");
    }
    jv_free(&trace);
    jv sum;
    parse_file(rdir, "op_summary.json", &sum);
    ck_assert_int_eq(jget(&sum, "ops")->n, 0);
    jv_free(&sum);
    tgc_profiler_free(prof);

    /* Attached, but all steps are warm-up: nothing is recorded and spans are refused. */
    prof = tgc_profiler_new(p, 0, &err);
    tgc_profiler_limits lim = {.warmup_steps = 5, .steps = 1, .max_events = 1000};
    ck_assert_msg(tgc_profiler_set_limits(prof, &lim, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(tgc_profiler_recording(prof), 0);
    run_steps(p, prof, 1, 3, &rc);
    ck_assert_int_eq(tgc_profiler_n_events(prof), 0);
    ck_assert_int_eq(tgc_profiler_span(prof, "data", "x", 0, 1, NULL), 1);
    tgc_profiler_free(prof);

    /* Window of one step with no warm-up: step 1 recorded, then closed. */
    prof = tgc_profiler_new(p, 0, &err);
    lim = (tgc_profiler_limits){.warmup_steps = 0, .steps = 1, .max_events = 100000};
    ck_assert_msg(tgc_profiler_set_limits(prof, &lim, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(tgc_profiler_recording(prof), 1);
    run_steps(p, prof, 1, 3, &rc);
    const tgc_program *tr = tgc_plan_program(p, "train");
    /* kernels + the step span + 1 data span + 1 step's bucket spans */
    ck_assert_int_eq(tgc_profiler_n_events(prof), tr->n_instr + 1 + 1 + tr->n_buckets);
    ck_assert_int_eq(tgc_profiler_recording(prof), 0);
    tgc_profiler_free(prof);
    test_rm_tree(dir);
    free(rdir);
    free(dir);
    tgc_plan_free(p);
}
END_TEST

START_TEST(event_cap_bounds_the_trace) {
    tgc_plan *p = test_compile(LENET, NULL, 0);
    tgc_err err;
    tgc_profiler *prof = tgc_profiler_new(p, 1, &err);
    ck_assert_msg(prof, "%s", err.msg);
    tgc_profiler_limits lim = {.warmup_steps = 0, .steps = 100, .max_events = 16};
    ck_assert_msg(tgc_profiler_set_limits(prof, &lim, &err) == 0, "%s", err.msg);
    run_ctx rc = {0};
    run_steps(p, prof, 1, 3, &rc);
    const tgc_program *tr = tgc_plan_program(p, "train");
    ck_assert_int_eq(tgc_profiler_n_events(prof), 16);
    int64_t all = 3 * (int64_t)(tr->n_instr + 1 + 1 + tr->n_buckets);
    ck_assert_int_eq(tgc_profiler_n_dropped(prof), all - 16);
    char *dir = test_tmpdir(NULL, "tgc_prof");
    ck_assert_msg(tgc_profiler_write(prof, dir, &err) == 0, "%s", err.msg);
    char *rdir = malloc(strlen(dir) + 16);
    sprintf(rdir, "%s/rank1", dir);
    jv trace;
    parse_file(rdir, "trace.json", &trace);
    ck_assert_int_eq((int)jnum(jget(&trace, "otherData"), "dropped_events", -1), (int)(all - 16));
    jv_free(&trace);
    size_t len;
    char *txt = slurp(rdir, "op_summary.txt", &len);
    ck_assert_ptr_nonnull(strstr(txt, "event cap reached"));
    free(txt);
    tgc_profiler_free(prof);
    test_rm_tree(dir);
    free(rdir);
    free(dir);
    tgc_plan_free(p);
}
END_TEST

START_TEST(errors_are_reported) {
    tgc_plan *p = test_compile(LENET, NULL, 0);
    tgc_err err;
    ck_assert_ptr_null(tgc_profiler_new(p, -1, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "rank -1"));
    tgc_profiler *prof = tgc_profiler_new(p, 0, &err);
    ck_assert_msg(prof, "%s", err.msg);
    tgc_profiler_limits open = {.warmup_steps = 0, .steps = 1, .max_events = 100};
    ck_assert_msg(tgc_profiler_set_limits(prof, &open, &err) == 0, "%s", err.msg);
    tgc_profiler_limits bad = {.warmup_steps = 0, .steps = 0, .max_events = 100};
    ck_assert_int_eq(tgc_profiler_set_limits(prof, &bad, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "steps=0"));
    ck_assert_int_eq(tgc_profiler_span(prof, "gpu", "x", 0, 1, NULL), -1);
    ck_assert_int_eq(tgc_profiler_span(prof, "data", "backwards", 2, 1, NULL), 1);
    /* Odd characters in names and args still give valid JSON. */
    ck_assert_int_eq(tgc_profiler_span(prof, "hooks", "quote\" back\\slash\ttab", 1, 2, "a=\"x\" =y z=1e400 w=-3.5 empty="), 0);
    ck_assert_int_eq(tgc_profiler_span(prof, "data", "bad utf-8 \xff\xc3 ok \xc3\xa9", 1, 2, NULL), 0);
    char *dir = test_tmpdir(NULL, "tgc_prof");
    char *file = malloc(strlen(dir) + 16);
    sprintf(file, "%s/plain", dir);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    /* A regular file where the directory should go. */
    ck_assert_int_eq(tgc_profiler_write(prof, file, &err), -1);
    ck_assert_msg(strstr(err.msg, "cannot create directory") && strstr(err.msg, "plain"), "%s", err.msg);
    ck_assert_int_eq(tgc_profiler_write(prof, "", &err), -1);
    ck_assert_msg(tgc_profiler_write(prof, dir, &err) == 0, "%s", err.msg);
    char *rdir = malloc(strlen(dir) + 16);
    sprintf(rdir, "%s/rank0", dir);
    jv trace;
    parse_file(rdir, "trace.json", &trace);
    const jv *events = jget(&trace, "traceEvents");
    int found = 0;
    for (int i = 0; i < events->n; i++) {
        const jv *e = &events->items[i];
        const char *cat = jstr(e, "cat");
        if (!cat || strcmp(cat, "hooks")) continue;
        ck_assert_str_eq(jstr(e, "name"), "quote\" back\\slash\ttab");
        const jv *a = jget(e, "args");
        ck_assert_str_eq(jstr(a, "a"), "\"x\"");
        ck_assert_str_eq(jstr(a, "detail"), "=y");
        ck_assert_str_eq(jstr(a, "z"), "1e400"); /* not finite: kept as text */
        ck_assert_double_eq(jnum(a, "w", 0), -3.5);
        ck_assert_str_eq(jstr(a, "empty"), "");
        ck_assert_double_eq_tol(jnum(e, "dur", -1), 1e6, 1e-3);
        found++;
    }
    ck_assert_int_eq(found, 1);
    jv_free(&trace);
    char path[8192];
    snprintf(path, sizeof path, "%s/trace.json", rdir);
    python_json_check(path);
    tgc_profiler_free(prof);
    test_rm_tree(dir);
    free(rdir);
    free(file);
    free(dir);
    tgc_plan_free(p);
}
END_TEST

/* ---- static analysis -------------------------------------------------------------------------- */

START_TEST(occupancy_peak_is_the_planned_lower_bound) {
    tgc_plan *p = test_compile(RESNET, NULL, 0);
    tgc_err err;
    for (int i = 0; i < p->n_programs; i++) {
        const tgc_program *pr = &p->programs[i];
        tgc_occupancy o;
        ck_assert_msg(tgc_profile_occupancy(p, pr, &o, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(o.n_instr, pr->n_instr);
        ck_assert_uint_eq(o.peak_bytes, pr->mem.lower_bound_bytes);
        ck_assert_uint_le(o.peak_bytes, p->slab_bytes[TGC_SLAB_ARENA]);
        ck_assert_uint_eq(o.live_bytes[o.peak_instr], o.peak_bytes);
        /* A plain sum of live tensor sizes counts an in-place pair (one range) twice: the occupancy is the
         * union, never above the sum and, with ResNet's in-place relus, strictly below it somewhere. */
        int *def = malloc(sizeof(int) * (size_t)p->n_tensors), *last = malloc(sizeof(int) * (size_t)p->n_tensors);
        for (int t = 0; t < p->n_tensors; t++) def[t] = last[t] = -1;
        for (int k = 0; k < pr->n_instr; k++) {
            for (int j = 0; j < pr->instr[k].n_in; j++) last[pr->instr[k].in[j]] = k;
            for (int j = 0; j < pr->instr[k].n_out; j++) def[pr->instr[k].out[j]] = k;
        }
        for (int j = 0; j < pr->n_outputs; j++) last[pr->outputs[j]] = pr->n_instr;
        int below = 0;
        for (int k = 0; k < pr->n_instr; k++) {
            uint64_t sum = 0;
            int live = 0;
            for (int t = 0; t < p->n_tensors; t++)
                if (p->tensors[t].slab == TGC_SLAB_ARENA && def[t] >= 0 && def[t] <= k && k <= TGC_MAX(last[t], def[t]) &&
                    p->tensors[t].bytes > 0)
                    sum += p->tensors[t].bytes, live++;
            ck_assert_int_eq(o.live_tensors[k], live);
            ck_assert_uint_le(o.live_bytes[k], sum);
            below += o.live_bytes[k] < sum;
        }
        if (!strcmp(pr->name, "train")) ck_assert_int_gt(below, 0);
        free(def);
        free(last);
        tgc_occupancy_free(&o);
    }
    /* A malformed instruction is refused with its program and index, not read out of bounds. */
    tgc_program *tr = &p->programs[0];
    int saved = tr->instr[1].in[0];
    tr->instr[1].in[0] = p->n_tensors + 5;
    tgc_occupancy o;
    ck_assert_int_eq(tgc_profile_occupancy(p, tr, &o, &err), -1);
    ck_assert_msg(strstr(err.msg, "instruction 1"), "%s", err.msg);
    ck_assert_ptr_null(tgc_profiler_new(p, 0, &err));
    tr->instr[1].in[0] = saved;
    tgc_plan_free(p);
}
END_TEST

int main(void) {
    Suite *s = suite_create("profile");
    TCase *tc = tcase_create("dumps");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, three_steps_dump_trace_summary_memory);
    tcase_add_test(tc, detached_or_outside_window_records_nothing);
    tcase_add_test(tc, event_cap_bounds_the_trace);
    tcase_add_test(tc, errors_are_reported);
    tcase_add_test(tc, occupancy_peak_is_the_planned_lower_bound);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
