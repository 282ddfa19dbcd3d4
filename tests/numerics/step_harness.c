/* tests/numerics/step_harness.c - runs N train steps of a plan from a given state and batch, dumps everything.
 *
 * usage: tgc_step_harness PLAN INIT.ckpt OUT.ckpt [--lr X] [--steps N] [--threads T] [--init-seed S]
 *                         [--eval-first] [--no-state]
 *
 * State: every PARAM, BUFFER and OPTSTATE tensor of the plan from INIT.ckpt (any plan checksum) under its plan
 * name; or, with --init-seed, the plan's own initialisation with that seed; or, when the plan's config names
 * `load_from`, the plan's initial state (--init-seed, default 0) with that file loaded over it as the runner
 * loads it (every parameter and buffer must be in the file: a mismatch report is an error).
 * The batch in INIT.ckpt: "inputs" (f32, the train program's image shape) and "data_samples.gt_label" (i32), or
 * "data_samples.gt_score" (f32 [N, classes]) for a plan with batch augments, or every other `data_samples.*`
 * input a detection plan's programs take. The eval program gets the first images of the train batch (its
 * batch may be smaller) and the first rows of the `data_samples.*` inputs it takes.
 * A RetinaNet plan (train input data_samples.cls_target) may instead take the ground truth: "gt_bboxes" (f32
 * [N, G, 4], x1 y1 x2 y2 pixels) and "gt_labels" (i32 [N, G], 0..C-1; < 0 marks an unused slot), from which the
 * harness builds the targets with the data loader's code (runtime/det: the config's anchors, MaxIoUAssigner
 * and box coder; every image fills the canvas). So may a Faster R-CNN plan (train input
 * data_samples.rpn_cls_target): the RPN's targets as the loader builds them (train_cfg.rpn's assigner and
 * RandomSampler, its draws keyed by seed 0, epoch 0 and the image's place in the batch), the ground truth
 * padded to the plan's G, img_shape the canvas (both programs) and the RoI sampler's key (0, 0, 0, image).
 * The harness runs N train steps on T threads (default 1; deterministic; step input 1..N, lr input X, default
 * the config's lr; with accumulative_counts the runner's accumulation over the N steps as its whole loop, step
 * input the update count), and the eval program after the steps (before them with --eval-first), and writes
 * OUT.ckpt with, for each step k (1-based):
 *   "step<k>/loss" (f32 scalar), "step<k>/<name>" for each of the train program's named outputs (a detector's
 *   loss terms), "step<k>/<param>.grad" for every GRAD-slab tensor, and "step<k>/<name>" for every PARAM,
 *   BUFFER and OPTSTATE tensor after the step;
 * and for the final state: "loss" (f32[N]), "<param>.grad" (the last step's), every state tensor under its
 * own name, and "eval.logits". --no-state leaves out the gradients and the state (per step and final).
 * Targets built from gt_bboxes are written too: "anchors" (f32 [A, 4]), "cls_target" (i32 [N, A]), "bbox_target"
 * (f32 [N, A, 4]), "num_pos"
 * (i32 [N]), "avg_factor" (f32 scalar); meta "target_ms" (the host's time to build them). Faster R-CNN's are
 * the RPN's: cls_target 0 a sampled positive, 1 a sampled negative, -1 not sampled; avg_factor the sampled count.
 * Meta: "steps" (int), "lr" (float).
 * Test-only (tests/numerics/step_vs_torch.py, frcnn_train_step.py, det_retina_vs_torchvision.py and
 * det_frcnn_vs_torchvision.py drive it);
 * exits 0 on success, 1 with one message on stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan/plan.h"
#include "runtime/data/det_data.h"
#include "runtime/det/det.h"
#include "runtime/io/checkpoint.h"
#include "runtime/exec/executor.h"
#include "runtime/runner/grad_accum.h"
#include "runtime/runner/weights.h"

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

/* Copies the first rows of checkpoint tensor `name` into plan tensor `idx`: the same dtype and trailing
 * dimensions, at least as many rows (the eval program's batch may be smaller than the train batch). */
static int load_rows(const tgc_ckpt *c, const char *name, tgc_exec *x, int idx, tgc_err *err) {
    const tgc_plan_tensor *t = tgc_exec_tensor(x, idx);
    const tgc_ckpt_tensor *ct = tgc_ckpt_find(c, name);
    if (!ct) return tgc_fail(err, "no tensor '%s'", name);
    const tgc_shape *s = &t->type.shape;
    int ok = ct->dtype == t->type.dtype && ct->shape.rank == s->rank && s->rank >= 1 && ct->shape.d[0] >= s->d[0];
    for (int i = 1; ok && i < s->rank; i++) ok = ct->shape.d[i] == s->d[i];
    if (!ok) return tgc_fail(err, "%s: not the first rows' dtype and shape the plan takes", name);
    return tgc_exec_write(x, idx, tgc_ckpt_data(c, ct), err);
}

/* ---- detection plans ---------------------------------------------------------------------------- */

/* A detection batch's targets, built on the host as the data loader builds them. */
typedef struct det_batch {
    tgc_det_anchors anchors;
    int32_t *cls_target; /* [B, A] */
    float *bbox_target;  /* [B, A, 4] */
    int32_t *num_pos;    /* [B] */
    float avg_factor;    /* the sum over images of max(num_pos, 1), as the loader; RPN: of the sampled anchors */
    int two_stage;       /* the RPN's targets (Faster R-CNN) */
    double ms;           /* time to build the targets */
} det_batch;

static void det_batch_free(det_batch *d) {
    tgc_det_anchors_free(&d->anchors);
    free(d->cls_target);
    free(d->bbox_target);
    free(d->num_pos);
}

/* The ground truth of INIT ("gt_bboxes" f32 [B, G, 4], "gt_labels" i32 [B, G]) -> RetinaNet's targets on the
 * canvas h x w with the plan config's anchor generator, assigner and coder, or the RPN's (d->two_stage: also
 * its RandomSampler, keyed as the loader keys it with seed 0, epoch 0, position b); every image's pad_shape is
 * the canvas. n_anchors: the plan's anchors per image. */
static int det_targets(const tgc_plan *p, const tgc_ckpt *init, int64_t batch, int h, int w, int64_t n_anchors,
                       det_batch *d, tgc_err *err) {
    tgc_det_batch_opts bo = {.canvas_h = h, .canvas_w = w, .two_stage = d->two_stage};
    if (tgc_det_batch_opts_from_cfg(tgc_cfg_get(p->config, "model"), 1, &bo, err) < 0 ||
        tgc_det_anchors_for_canvas(&bo.anchor, h, w, &d->anchors, err) < 0)
        return -1;
    if (d->anchors.count != n_anchors)
        return tgc_fail(err, "the anchor generator gives %lld anchors on %dx%d, the plan takes %lld",
                        (long long)d->anchors.count, h, w, (long long)n_anchors);
    const tgc_ckpt_tensor *bt = tgc_ckpt_find(init, "gt_bboxes"), *lt = tgc_ckpt_find(init, "gt_labels");
    if (!bt || !lt) return tgc_fail(err, "a detection plan's batch needs gt_bboxes and gt_labels");
    if (bt->dtype != TGC_F32 || bt->shape.rank != 3 || bt->shape.d[0] != batch || bt->shape.d[2] != 4 ||
        lt->dtype != TGC_I32 || lt->shape.rank != 2 || lt->shape.d[0] != batch || lt->shape.d[1] != bt->shape.d[1])
        return tgc_fail(err, "gt_bboxes must be f32 [%lld, G, 4] and gt_labels i32 [%lld, G]", (long long)batch,
                        (long long)batch);
    int g_max = (int)bt->shape.d[1];
    const float *boxes = tgc_ckpt_data(init, bt);
    const int32_t *labels = tgc_ckpt_data(init, lt);
    int64_t na = n_anchors;
    d->cls_target = tgc_malloc(sizeof(int32_t) * (size_t)(batch * na));
    d->bbox_target = tgc_malloc(sizeof(float) * 4 * (size_t)(batch * na));
    d->num_pos = tgc_malloc(sizeof(int32_t) * (size_t)batch);
    uint8_t *valid = tgc_malloc((size_t)na), *gt_valid = tgc_malloc((size_t)(g_max > 0 ? g_max : 1));
    double t0 = tgc_now(), avg = 0;
    int rc = 0;
    tgc_det_valid_flags(&d->anchors, h, w, valid);
    for (int64_t b = 0; b < batch && rc == 0; b++) {
        const int32_t *lb = labels + b * g_max;
        for (int g = 0; g < g_max; g++) gt_valid[g] = lb[g] >= 0;
        tgc_det_gt gt = {boxes + b * g_max * 4, lb, gt_valid, g_max, NULL, 0};
        int64_t npos = 0, nneg = 0;
        if (d->two_stage) {
            tgc_rng rng;
            tgc_rng_init(&rng, 0, 0, (uint32_t)b, TGC_RNG_RPN_SAMPLE);
            rc = tgc_det_rpn_targets(&bo.assigner, &bo.sampler, &bo.coder, d->anchors.boxes, valid, na, &gt, &rng,
                                     d->cls_target + b * na, d->bbox_target + b * na * 4, &npos, &nneg, err);
            avg += (double)(npos + nneg);
        } else {
            rc = tgc_det_retina_targets(&bo.assigner, &bo.coder, bo.num_classes, d->anchors.boxes, valid, na, &gt,
                                        d->cls_target + b * na, d->bbox_target + b * na * 4, &npos, err);
            avg += (double)TGC_MAX(npos, (int64_t)1);
        }
        if (rc < 0) tgc_err_prefix(err, "image %lld of the batch", (long long)b);
        d->num_pos[b] = (int32_t)npos;
    }
    d->ms = 1e3 * (tgc_now() - t0);
    d->avg_factor = (float)avg;
    free(valid);
    free(gt_valid);
    return rc;
}

/* Initial state (seed) plus the config's load_from, every parameter and buffer loaded (1), or 0 without load_from. */
static int load_from_cfg(const tgc_plan *p, tgc_exec *x, uint64_t seed, tgc_err *err) {
    const char *path = NULL;
    if (tgc_cfg_str(p->config, "load_from", NULL, &path, err) < 0) return -1;
    if (!path) return 0;
    if (tgc_exec_init_state(x, seed, err) < 0) return -1;
    tgc_weights_opts wo = {path, "", NULL, "load_from"};
    tgc_weights_report rep;
    if (tgc_weights_load(p, x, &wo, &rep, err) < 0) return -1;
    int rc = rep.warning ? tgc_fail(err, "load_from %s does not match the plan: %s", rep.path, rep.warning) : 1;
    tgc_weights_report_free(&rep);
    return rc;
}

/* Writes a host array into a program's input `name` when the program takes it. */
static int put_input(tgc_exec *x, const char *prog, const char *name, const void *data, tgc_err *err) {
    int i = tgc_exec_input(x, prog, name);
    return i < 0 ? 0 : tgc_exec_write(x, i, data, err);
}

/* Faster R-CNN's other inputs of a batch built from the ground truth: gt_bboxes/gt_labels padded to the plan's
 * G, img_shape the canvas (train and eval), the RoI sampler's key (seed 0, epoch 0, the image's position). */
static int two_stage_inputs(tgc_exec *x, const tgc_ckpt *init, int64_t batch, int h, int w, tgc_err *err) {
    int gi = tgc_exec_input(x, "train", "data_samples.gt_bboxes");
    if (gi < 0 || tgc_exec_input(x, "train", "data_samples.gt_labels") < 0 || tgc_exec_input(x, "train", "data_samples.rng") < 0)
        return tgc_fail(err, "the two-stage plan lacks data_samples.gt_bboxes, gt_labels or rng");
    const tgc_ckpt_tensor *bt = tgc_ckpt_find(init, "gt_bboxes"), *lt = tgc_ckpt_find(init, "gt_labels");
    int64_t G = tgc_exec_tensor(x, gi)->type.shape.d[1], g_in = bt->shape.d[1];
    if (g_in > G)
        return tgc_fail(err, "gt_bboxes has %lld rows per image, the plan takes %lld (tgc_max_gts)", (long long)g_in,
                        (long long)G);
    float *boxes = tgc_calloc((size_t)(batch * G * 4), sizeof(float)), *shape = tgc_malloc(sizeof(float) * 2 * (size_t)batch);
    int32_t *labels = tgc_malloc(sizeof(int32_t) * (size_t)(batch * G)), *key = tgc_calloc((size_t)batch * 4, sizeof(int32_t));
    const float *sb = tgc_ckpt_data(init, bt);
    const int32_t *sl = tgc_ckpt_data(init, lt);
    for (int64_t b = 0; b < batch; b++) {
        memcpy(boxes + b * G * 4, sb + b * g_in * 4, sizeof(float) * 4 * (size_t)g_in);
        for (int64_t g = 0; g < G; g++) labels[b * G + g] = g < g_in && sl[b * g_in + g] >= 0 ? sl[b * g_in + g] : -1;
        shape[2 * b] = (float)h, shape[2 * b + 1] = (float)w;
        key[4 * b + 3] = (int32_t)b;
    }
    int rc = tgc_exec_write(x, gi, boxes, err) || put_input(x, "train", "data_samples.gt_labels", labels, err) ||
                     put_input(x, "train", "data_samples.rng", key, err) ||
                     put_input(x, "train", "data_samples.img_shape", shape, err)
                 ? -1
                 : 0;
    int ei = tgc_exec_input(x, "eval", "data_samples.img_shape");
    if (rc == 0 && ei >= 0 && tgc_exec_tensor(x, ei)->type.shape.d[0] > batch)
        rc = tgc_fail(err, "the eval program's batch is larger than the train batch");
    if (rc == 0 && ei >= 0) rc = tgc_exec_write(x, ei, shape, err); /* its batch's first rows */
    free(boxes);
    free(shape);
    free(labels);
    free(key);
    return rc;
}

/* RetinaNet's or the RPN's targets from INIT's gt_bboxes/gt_labels written to the train program's inputs (and
 * a two-stage plan's other data_samples inputs); 0 when INIT has no gt_bboxes (the targets are then
 * data_samples.* inputs of INIT), 1 when built. */
static int det_load_targets(const tgc_plan *p, tgc_exec *x, const tgc_ckpt *init, det_batch *d, tgc_err *err) {
    if (!tgc_ckpt_find(init, "gt_bboxes")) return 0;
    d->two_stage = tgc_exec_input(x, "train", "data_samples.rpn_cls_target") >= 0;
    const char *pre = d->two_stage ? "data_samples.rpn_" : "data_samples.";
    char cn[64], bn[64], an[64];
    snprintf(cn, sizeof cn, "%scls_target", pre);
    snprintf(bn, sizeof bn, "%sbbox_target", pre);
    snprintf(an, sizeof an, "%savg_factor", pre);
    int xi = tgc_exec_input(x, "train", "inputs"), ci = tgc_exec_input(x, "train", cn);
    int bi = tgc_exec_input(x, "train", bn);
    int ai = tgc_exec_input(x, "train", an);
    if (xi < 0 || ci < 0 || bi < 0 || ai < 0)
        return tgc_fail(err, "gt_bboxes: the plan does not take RetinaNet's targets (data_samples.cls_target, "
                             "bbox_target, avg_factor) or the RPN's (data_samples.rpn_*)");
    const tgc_shape *is = &tgc_exec_tensor(x, xi)->type.shape, *cs = &tgc_exec_tensor(x, ci)->type.shape;
    if (is->rank != 4 || cs->rank != 2) return tgc_fail(err, "the detection plan's inputs are not [B, 3, H, W]");
    if (det_targets(p, init, is->d[0], (int)is->d[2], (int)is->d[3], cs->d[1], d, err) < 0) return -1;
    if (d->two_stage && two_stage_inputs(x, init, is->d[0], (int)is->d[2], (int)is->d[3], err) < 0) return -1;
    return tgc_exec_write(x, ci, d->cls_target, err) || tgc_exec_write(x, bi, d->bbox_target, err) ||
                   put_f32(x, ai, d->avg_factor, err)
               ? -1
               : 1;
}

/* Writes the targets built from gt_bboxes into the output. */
static int det_save_targets(tgc_ckpt_writer *w, const det_batch *d, int64_t batch, tgc_err *err) {
    tgc_shape scalar = {0}, as = tgc_shape2(d->anchors.count, 4), cs = tgc_shape2(batch, d->anchors.count);
    tgc_shape ns = tgc_shape1(batch), bs = tgc_shape_make(3, (int64_t[]){batch, d->anchors.count, 4});
    if (tgc_ckpt_add(w, "anchors", TGC_F32, &as, d->anchors.boxes, err) < 0 ||
        tgc_ckpt_add(w, "cls_target", TGC_I32, &cs, d->cls_target, err) < 0 ||
        tgc_ckpt_add(w, "bbox_target", TGC_F32, &bs, d->bbox_target, err) < 0 ||
        tgc_ckpt_add(w, "num_pos", TGC_I32, &ns, d->num_pos, err) < 0 ||
        tgc_ckpt_add(w, "avg_factor", TGC_F32, &scalar, &d->avg_factor, err) < 0)
        return -1;
    tgc_ckpt_set_float(w, "target_ms", d->ms);
    return 0;
}

/* The train program's named outputs (train/<name>, not train/%N: a detector's loss terms) as "<prefix><name>". */
static int snapshot_named(const tgc_plan *p, const tgc_exec *x, snapshots *s, tgc_ckpt_writer *w,
                          const char *prefix, tgc_err *err) {
    const tgc_program *tp = tgc_plan_program(p, "train");
    for (int k = 1; k < tp->n_outputs; k++) {
        const char *full = p->tensors[tp->outputs[k]].name, *slash = strchr(full, '/');
        if (!slash || slash[1] == '%') continue;
        if (snap_tensor(s, w, tgc_asprintf("%s%s", prefix, slash + 1), x, tp->outputs[k], err) < 0) return -1;
    }
    return 0;
}

/* The eval program on the batch's first images; its output as "eval.logits". */
static int run_eval(tgc_exec *x, int eo, snapshots *s, tgc_ckpt_writer *w, tgc_err *err) {
    if (tgc_exec_run(x, "eval", err) < 0) return -1;
    return snap_tensor(s, w, tgc_strdup("eval.logits"), x, eo, err);
}

/* Harness options. */
typedef struct hopts {
    double lr;
    int have_lr, steps, threads, eval_first, no_state;
    long init_seed;
} hopts;

static int parse_args(int argc, char **argv, const char **paths, hopts *ho) {
    int np = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--lr") && i + 1 < argc) {
            char *end;
            errno = 0;
            ho->lr = strtod(argv[++i], &end);
            if (errno || *end || end == argv[i]) return fprintf(stderr, "step_harness: bad --lr '%s'\n", argv[i]), -1;
            ho->have_lr = 1;
        } else if (!strcmp(argv[i], "--steps") && i + 1 < argc) {
            char *end;
            errno = 0;
            long v = strtol(argv[++i], &end, 10);
            if (errno || *end || v < 1 || v > 1000)
                return fprintf(stderr, "step_harness: --steps must be in 1..1000, got '%s'\n", argv[i]), -1;
            ho->steps = (int)v;
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            char *end;
            errno = 0;
            long v = strtol(argv[++i], &end, 10);
            if (errno || *end || v < 1 || v > 1024)
                return fprintf(stderr, "step_harness: --threads must be in 1..1024, got '%s'\n", argv[i]), -1;
            ho->threads = (int)v;
        } else if (!strcmp(argv[i], "--init-seed") && i + 1 < argc) {
            char *end;
            errno = 0;
            ho->init_seed = strtol(argv[++i], &end, 10);
            if (errno || *end || ho->init_seed < 0)
                return fprintf(stderr, "step_harness: bad --init-seed '%s'\n", argv[i]), -1;
        } else if (!strcmp(argv[i], "--eval-first")) {
            ho->eval_first = 1;
        } else if (!strcmp(argv[i], "--no-state")) {
            ho->no_state = 1;
        } else if (argv[i][0] == '-' || np == 3) {
            return fprintf(stderr, "step_harness: unexpected argument '%s'\n", argv[i]), -1;
        } else {
            paths[np++] = argv[i];
        }
    }
    if (np != 3)
        return fprintf(stderr, "usage: tgc_step_harness PLAN INIT.ckpt OUT.ckpt [--lr X] [--steps N] [--threads T] "
                               "[--init-seed S] [--eval-first] [--no-state]\n"),
               -1;
    return 0;
}

static int run(const char *plan_path, const char *init_path, const char *out_path, hopts ho, tgc_err *err) {
    int rc = -1, steps = ho.steps;
    tgc_plan *p = NULL;
    tgc_exec *x = NULL;
    tgc_ckpt *init = NULL;
    tgc_ckpt_writer *w = NULL;
    snapshots snaps = {0};
    tgc_grad_accum accum = {0};
    det_batch det = {0};
    float *losses = tgc_calloc((size_t)steps, sizeof *losses);

    if (!(p = tgc_plan_load(plan_path, err))) goto done;
    if (tgc_plan_validate(p, err) < 0) {
        tgc_err_prefix(err, "%s", plan_path);
        goto done;
    }
    double lr = ho.have_lr ? ho.lr : p->optim.lr;
    tgc_exec_opts o = {.n_threads = ho.threads, .deterministic = 1};
    if (!(x = tgc_exec_new(p, &o, err))) goto done;
    if (!(init = tgc_ckpt_load(init_path, NULL, err))) goto done;
    if (tgc_grad_accum_init(&accum, p, x, err) < 0) goto done;
    tgc_grad_accum_set_max(&accum, steps);

    /* State: the config's load_from over the initial state, the plan's initialisation, or every persistent
     * tensor from INIT. */
    int from_cfg = load_from_cfg(p, x, ho.init_seed >= 0 ? (uint64_t)ho.init_seed : 0, err);
    if (from_cfg < 0) goto done;
    if (!from_cfg && ho.init_seed >= 0 && tgc_exec_init_state(x, (uint64_t)ho.init_seed, err) < 0) goto done;
    for (int i = 0; i < p->n_tensors && !from_cfg && ho.init_seed < 0; i++)
        if (is_state(&p->tensors[i]) && load_into(init, p->tensors[i].name, x, i, err) < 0) {
            tgc_err_prefix(err, "%s", init_path);
            goto done;
        }
    /* The batch: the train program's images and labels; the eval program sees the first images. */
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
        load_rows(init, "inputs", x, ei, err) < 0) {
        tgc_err_prefix(err, "%s (the eval batch must be the train batch's first images)", init_path);
        goto done;
    }
    /* a RetinaNet's targets from the ground truth, or a detector's targets and image shapes as every other
     * data_samples.* input, in both programs */
    int built = det_load_targets(p, x, init, &det, err);
    if (built < 0) {
        tgc_err_prefix(err, "%s", init_path);
        goto done;
    }
    for (int pi = 0; pi < 2; pi++) {
        const tgc_program *pr = tgc_plan_program(p, pi ? "eval" : "train");
        for (int k = 0; pr && k < pr->n_inputs; k++) {
            const char *full = p->tensors[pr->inputs[k]].name, *slash = strchr(full, '/');
            const char *nm = slash ? slash + 1 : full;
            if (strncmp(nm, "data_samples.", 13) || !strcmp(nm, lname) || (built && (!pi || det.two_stage))) continue;
            if (load_rows(init, nm, x, pr->inputs[k], err) < 0) {
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
    if (ho.eval_first && run_eval(x, eo, &snaps, w, err) < 0) goto done;
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
            (!ho.no_state && snapshot_state(p, x, &snaps, w, prefix, err) < 0) ||
            snapshot_named(p, x, &snaps, w, prefix, err) < 0)
            goto done;
    }
    if (!ho.no_state && snapshot_state(p, x, &snaps, w, "", err) < 0) goto done;
    tgc_shape ls = tgc_shape1(steps);
    if (tgc_ckpt_add(w, "loss", TGC_F32, &ls, losses, err) < 0) goto done;
    if (!ho.eval_first && run_eval(x, eo, &snaps, w, err) < 0) goto done;
    if (built && det_save_targets(w, &det, tgc_exec_tensor(x, xi)->type.shape.d[0], err) < 0) goto done;
    tgc_ckpt_set_int(w, "steps", steps);
    tgc_ckpt_set_float(w, "lr", lr);
    if (tgc_ckpt_save(w, out_path, err) < 0) goto done;
    rc = 0;
done:
    tgc_ckpt_writer_free(w);
    snaps_free(&snaps);
    tgc_grad_accum_free(&accum);
    det_batch_free(&det);
    tgc_ckpt_free(init);
    tgc_exec_free(x);
    tgc_plan_free(p);
    free(losses);
    return rc;
}

int main(int argc, char **argv) {
    const char *paths[3] = {0};
    hopts ho = {.steps = 1, .threads = 1, .init_seed = -1};
    if (parse_args(argc, argv, paths, &ho) < 0) return 1;
    tgc_err err = {{0}};
    if (run(paths[0], paths[1], paths[2], ho, &err) < 0) {
        fprintf(stderr, "step_harness: %s\n", err.msg);
        return 1;
    }
    return 0;
}
