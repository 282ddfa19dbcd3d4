/* tests/numerics/step_harness.c - runs N train steps of a plan from a given state and batch, dumps everything.
 *
 * usage: tgc_step_harness PLAN INIT.ckpt OUT.ckpt [--lr X] [--steps N] [--init-seed S]
 *
 * INIT.ckpt (any plan checksum) holds every PARAM, BUFFER and OPTSTATE tensor of the plan under its plan
 * name (or, with --init-seed, none: the plan's own initialisation with that seed), plus the batch: "inputs"
 * (f32, the train program's image shape) and "data_samples.gt_label" (i32), or "data_samples.gt_score" (f32
 * [N, classes]) for a plan with batch augments, or every other `data_samples.*` input a detection plan's
 * train program takes (the eval program gets those it takes too, so its batch must be the train batch).
 * The train program's named outputs (a detector's loss terms) are written as "step<k>/<name>" too.
 * The harness runs N train steps on one thread (step input 1..N, lr input X, default the config's lr; with
 * accumulative_counts the runner's accumulation over the N steps as its whole loop, step input the update count),
 * then the eval program on the same images, and writes OUT.ckpt with, for each step k (1-based):
 *   "step<k>/loss" (f32 scalar), "step<k>/<param>.grad" for every GRAD-slab tensor, and
 *   "step<k>/<name>" for every PARAM, BUFFER and OPTSTATE tensor after the step;
 * and for the final state: "loss" (f32[N]), "<param>.grad" (the last step's), every state tensor under its
 * own name, and "eval.logits". Meta: "steps" (int), "lr" (float).
 * Test-only (tests/numerics/step_vs_torch.py drives it); exits 0 on success, 1 with one message on stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan/plan.h"
#include "runtime/io/checkpoint.h"
#include "runtime/exec/executor.h"
#include "runtime/runner/grad_accum.h"

/* Owned copies of tensor data taken after a step (the writer only borrows pointers until save). */
typedef struct snapshots {
    int n, cap;
    void **data;
    char **names;
} snapshots;

static void snaps_free(snapshots *s) {
    for (int i = 0; i < s->n; i++) {
        free(s->data[i]);
        free(s->names[i]);
    }
    free(s->data);
    free(s->names);
}

/* Copies `bytes` from src and records it in the writer as `name`. */
static int snap_add(snapshots *s, tgc_ckpt_writer *w, char *name, tgc_dtype dt, const tgc_shape *shape,
                    const void *src, size_t bytes, tgc_err *err) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->data = tgc_realloc(s->data, (size_t)s->cap * sizeof *s->data);
        s->names = tgc_realloc(s->names, (size_t)s->cap * sizeof *s->names);
    }
    void *copy = tgc_malloc(bytes ? bytes : 1);
    if (bytes) memcpy(copy, src, bytes);
    s->data[s->n] = copy;
    s->names[s->n] = name; /* takes ownership */
    s->n++;
    return tgc_ckpt_add(w, name, dt, shape, copy, err);
}

/* Snapshot of plan tensor i as it is now on the device (takes ownership of name). */
static int snap_tensor(snapshots *s, tgc_ckpt_writer *w, char *name, const tgc_exec *x, int i, tgc_err *err) {
    const tgc_plan_tensor *t = tgc_exec_tensor(x, i);
    void *host = tgc_malloc(t->bytes ? (size_t)t->bytes : 1);
    int rc = tgc_exec_read(x, i, host, err);
    if (rc == 0) rc = snap_add(s, w, name, t->type.dtype, &t->type.shape, host, (size_t)t->bytes, err);
    else free(name);
    free(host);
    return rc;
}

/* Writes one f32 into a scalar input. */
static int put_f32(tgc_exec *x, int i, float v, tgc_err *err) {
    const tgc_plan_tensor *t = tgc_exec_tensor(x, i);
    return tgc_exec_write_bytes(x, t->slab, t->offset, sizeof v, &v, err);
}

static int is_state(const tgc_plan_tensor *t) {
    return t->kind == TGC_VAL_PARAM || t->kind == TGC_VAL_BUFFER || t->kind == TGC_VAL_OPTSTATE;
}

/* "<param>.grad" for a gradient tensor, else its own name; caller frees. */
static char *grad_name(const tgc_plan *p, const tgc_plan_tensor *t) {
    if (t->grad_of >= 0 && t->grad_of < p->n_tensors) return tgc_asprintf("%s.grad", p->tensors[t->grad_of].name);
    return tgc_strdup(t->name);
}

/* Records the gradients and the state as they are now, each name prefixed with `prefix`. */
static int snapshot_state(const tgc_plan *p, const tgc_exec *x, snapshots *s, tgc_ckpt_writer *w,
                          const char *prefix, tgc_err *err) {
    for (int i = 0; i < p->n_tensors; i++) {
        const tgc_plan_tensor *t = &p->tensors[i];
        char *name;
        if (t->slab == TGC_SLAB_GRAD) {
            char *g = grad_name(p, t);
            name = tgc_asprintf("%s%s", prefix, g);
            free(g);
        } else if (is_state(t)) {
            name = tgc_asprintf("%s%s", prefix, t->name);
        } else {
            continue;
        }
        if (snap_tensor(s, w, name, x, i, err) < 0) return -1;
    }
    return 0;
}

/* Copies checkpoint tensor `name` into plan tensor `idx` (same dtype and shape). */
static int load_into(const tgc_ckpt *c, const char *name, tgc_exec *x, int idx, tgc_err *err) {
    const tgc_plan_tensor *t = tgc_exec_tensor(x, idx);
    void *host = tgc_malloc(t->bytes ? (size_t)t->bytes : 1);
    int rc = tgc_ckpt_copy(c, name, t->type.dtype, &t->type.shape, host, (size_t)t->bytes, err);
    if (rc == 0) rc = tgc_exec_write(x, idx, host, err);
    free(host);
    return rc;
}

static int parse_args(int argc, char **argv, const char **paths, double *lr, int *have_lr, int *steps, long *init_seed) {
    int np = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--lr") && i + 1 < argc) {
            char *end;
            errno = 0;
            *lr = strtod(argv[++i], &end);
            if (errno || *end || end == argv[i]) return fprintf(stderr, "step_harness: bad --lr '%s'\n", argv[i]), -1;
            *have_lr = 1;
        } else if (!strcmp(argv[i], "--steps") && i + 1 < argc) {
            char *end;
            errno = 0;
            long v = strtol(argv[++i], &end, 10);
            if (errno || *end || v < 1 || v > 1000)
                return fprintf(stderr, "step_harness: --steps must be in 1..1000, got '%s'\n", argv[i]), -1;
            *steps = (int)v;
        } else if (!strcmp(argv[i], "--init-seed") && i + 1 < argc) {
            char *end;
            errno = 0;
            *init_seed = strtol(argv[++i], &end, 10);
            if (errno || *end || *init_seed < 0) return fprintf(stderr, "step_harness: bad --init-seed '%s'\n", argv[i]), -1;
        } else if (argv[i][0] == '-' || np == 3) {
            return fprintf(stderr, "step_harness: unexpected argument '%s'\n", argv[i]), -1;
        } else {
            paths[np++] = argv[i];
        }
    }
    if (np != 3) return fprintf(stderr, "usage: tgc_step_harness PLAN INIT.ckpt OUT.ckpt [--lr X] [--steps N] [--init-seed S]\n"), -1;
    return 0;
}

static int run(const char *plan_path, const char *init_path, const char *out_path, double lr, int have_lr, int steps,
               long init_seed, tgc_err *err) {
    int rc = -1;
    tgc_plan *p = NULL;
    tgc_exec *x = NULL;
    tgc_ckpt *init = NULL;
    tgc_ckpt_writer *w = NULL;
    snapshots snaps = {0};
    tgc_grad_accum accum = {0};
    float *losses = tgc_calloc((size_t)steps, sizeof *losses);

    if (!(p = tgc_plan_load(plan_path, err))) goto done;
    if (tgc_plan_validate(p, err) < 0) {
        tgc_err_prefix(err, "%s", plan_path);
        goto done;
    }
    if (!have_lr) lr = p->optim.lr;
    tgc_exec_opts o = {.n_threads = 1, .deterministic = 1};
    if (!(x = tgc_exec_new(p, &o, err))) goto done;
    if (!(init = tgc_ckpt_load(init_path, NULL, err))) goto done;
    if (tgc_grad_accum_init(&accum, p, x, err) < 0) goto done;
    tgc_grad_accum_set_max(&accum, steps);

    /* State: every persistent tensor must be in INIT, unless the plan initialises it. */
    if (init_seed >= 0 && tgc_exec_init_state(x, (uint64_t)init_seed, err) < 0) goto done;
    for (int i = 0; i < p->n_tensors && init_seed < 0; i++)
        if (is_state(&p->tensors[i]) && load_into(init, p->tensors[i].name, x, i, err) < 0) {
            tgc_err_prefix(err, "%s", init_path);
            goto done;
        }
    /* The batch: the train program's images and labels; the eval program sees the same images. */
    /* hard labels, or the soft targets of a plan with batch augments */
    const char *lname = tgc_exec_input(x, "train", "data_samples.gt_label") >= 0 ? "data_samples.gt_label"
                        : tgc_exec_input(x, "train", "data_samples.gt_score") >= 0 ? "data_samples.gt_score"
                                                                                  : "inputs"; /* a detector */
    int xi = tgc_exec_input(x, "train", "inputs"), li = tgc_exec_input(x, "train", lname);
    int lri = tgc_exec_input(x, "train", "lr"), si = tgc_exec_input(x, "train", "step");
    int lo = tgc_exec_output(x, "train"), ei = tgc_exec_input(x, "eval", "inputs"), eo = tgc_exec_output(x, "eval");
    if (xi < 0 || li < 0 || lri < 0 || si < 0 || lo < 0 || ei < 0 || eo < 0) {
        tgc_fail(err, "%s: the plan lacks a train input (inputs, data_samples.gt_label, lr, step) or an eval "
                 "input/output", plan_path);
        goto done;
    }
    if (load_into(init, "inputs", x, xi, err) < 0 || load_into(init, lname, x, li, err) < 0 ||
        load_into(init, "inputs", x, ei, err) < 0) {
        tgc_err_prefix(err, "%s (the eval batch must equal the train batch)", init_path);
        goto done;
    }
    /* a detector's targets and image shapes: every other data_samples.* input, in both programs */
    for (int pi = 0; pi < 2; pi++) {
        const tgc_program *pr = tgc_plan_program(p, pi ? "eval" : "train");
        for (int k = 0; pr && k < pr->n_inputs; k++) {
            const char *full = p->tensors[pr->inputs[k]].name, *slash = strchr(full, '/');
            const char *nm = slash ? slash + 1 : full;
            if (strncmp(nm, "data_samples.", 13) || !strcmp(nm, lname)) continue;
            if (load_into(init, nm, x, pr->inputs[k], err) < 0) {
                tgc_err_prefix(err, "%s (%s's batch)", init_path, pr->name);
                goto done;
            }
        }
    }
    if (put_f32(x, lri, (float)lr, err) < 0) goto done;
    /* a float16 plan's loss scale: 1, so that the gradients are the unscaled ones */
    int lsi = tgc_exec_input(x, "train", "loss_scale");
    if (lsi >= 0 && put_f32(x, lsi, 1.0f, err) < 0) goto done;

    w = tgc_ckpt_writer_new(p->checksum);
    for (int s = 1; s <= steps; s++) {
        tgc_grad_accum_begin(&accum, s - 1);
        if (put_f32(x, si, (float)tgc_grad_accum_step(&accum, s - 1), err) < 0 || tgc_exec_run(x, "train", err) < 0)
            goto done;
        const tgc_plan_tensor *lt = tgc_exec_tensor(x, lo);
        if (tgc_exec_read_bytes(x, lt->slab, lt->offset, sizeof(float), &losses[s - 1], err) < 0) goto done;
        char prefix[32];
        snprintf(prefix, sizeof prefix, "step%d/", s);
        tgc_shape scalar = {0};
        if (snap_add(&snaps, w, tgc_asprintf("%sloss", prefix), TGC_F32, &scalar, &losses[s - 1], sizeof(float),
                     err) < 0 ||
            snapshot_state(p, x, &snaps, w, prefix, err) < 0)
            goto done;
        /* the named outputs (train/<name>, not train/%N): a detector's loss terms */
        const tgc_program *tp = tgc_plan_program(p, "train");
        for (int k = 1; k < tp->n_outputs; k++) {
            const char *full = p->tensors[tp->outputs[k]].name, *slash = strchr(full, '/');
            if (!slash || slash[1] == '%') continue;
            if (snap_tensor(&snaps, w, tgc_asprintf("%s%s", prefix, slash + 1), x, tp->outputs[k], err) < 0) goto done;
        }
    }
    if (snapshot_state(p, x, &snaps, w, "", err) < 0) goto done;
    tgc_shape ls = tgc_shape1(steps);
    if (tgc_ckpt_add(w, "loss", TGC_F32, &ls, losses, err) < 0) goto done;
    if (tgc_exec_run(x, "eval", err) < 0) goto done;
    if (snap_tensor(&snaps, w, tgc_strdup("eval.logits"), x, eo, err) < 0) goto done;
    tgc_ckpt_set_int(w, "steps", steps);
    tgc_ckpt_set_float(w, "lr", lr);
    if (tgc_ckpt_save(w, out_path, err) < 0) goto done;
    rc = 0;
done:
    tgc_ckpt_writer_free(w);
    snaps_free(&snaps);
    tgc_grad_accum_free(&accum);
    tgc_ckpt_free(init);
    tgc_exec_free(x);
    tgc_plan_free(p);
    free(losses);
    return rc;
}

int main(int argc, char **argv) {
    const char *paths[3] = {0};
    double lr = 0;
    int have_lr = 0, steps = 1;
    long init_seed = -1;
    if (parse_args(argc, argv, paths, &lr, &have_lr, &steps, &init_seed) < 0) return 1;
    tgc_err err = {{0}};
    if (run(paths[0], paths[1], paths[2], lr, have_lr, steps, init_seed, &err) < 0) {
        fprintf(stderr, "step_harness: %s\n", err.msg);
        return 1;
    }
    return 0;
}
