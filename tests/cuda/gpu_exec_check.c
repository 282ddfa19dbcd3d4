/* tests/cuda/gpu_exec_check.c - the CUDA executor against the CPU executor on a real GPU, for tools/gpu_check.sh:
 *
 *   tgc_gpu_exec_check ops PLAN...     every distinct instruction (op, shapes, attributes) of every program of
 *                                      each plan, alone, on random inputs: the cuda device's results (and the
 *                                      operands it updates in place) against the cpu device's
 *   tgc_gpu_exec_check step PLAN...    one whole train step from the same initial state and batch: the loss,
 *                                      each state tensor's update, and the eval program's logits after it
 *   tgc_gpu_exec_check bench PLAN [ITERS] [DIR]   train steps per second of the plan on the GPU with and
 *                                      without the CUDA graph (on `tgc bench`'s synthetic inputs: a detector's
 *                                      targets and ground truth too), and the device memory used at the peak; with DIR,
 *                                      also with the graph and env_cfg.cudnn_benchmark's autotuned convolutions
 *                                      (choices kept in DIR/cudnn_algos.txt: a second run takes them from there);
 *                                      a float16 plan runs with its dynamic loss scaling as `tgc train` does (the
 *                                      finite check and unscale on the device, the host deciding each step: no
 *                                      CUDA graph), from a scale of 2^16
 *
 * Tolerances (fp32; relative to the largest magnitude of the CPU's tensor): per op 1e-4 (bf16/f16 results of
 * mixed-precision plans: 1.6e-2 and 2e-3, two steps of the format; reported scaled onto 1e-4), a whole step's loss 1e-4,
 * updates and logits 1e-3 (cuDNN and cuBLAS sum in other orders than oneDNN; a step compounds them); with
 * TGC_ALLOW_TF32=1 (tensor cores round f32 through TF32) 5e-3 and 2e-2.
 *
 * Without a GPU (or in a build without CUDA) it prints "skipped: no GPU" and exits 77. With TGC_GPU_CHECK_STANDIN=1
 * the "GPU" is the cuda device over the CPU stand-in with every hand-written kernel and the matmuls as library
 * work (ops and step only): how CI checks this program itself, and the kernels per op, without a GPU. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cuda/cuda_device.h"
#include "backend/cuda/standin.h"
#include "backend/device.h"
#include "common/half.h"
#include "runtime/exec/executor.h"
#include "runtime/runner/loss_scale.h"
#include "runtime/runner/synth_inputs.h"

#ifdef TGC_HAVE_CUDA
#include <cuda_runtime.h>
#endif

static int failures;
static double tol_op = 1e-4, tol_loss = 1e-4, tol_step = 1e-3;
/* per op, bf16 and f16 results (mixed precision): two steps of the format relative to the tensor's largest value */
static const double tol_bf16 = 1.6e-2, tol_f16 = 2e-3;

static uint32_t rng = 12345;
static float frand(void) { /* uniform in [-1, 1) */
    rng = rng * 1664525u + 1013904223u;
    return (float)(rng >> 8) / 8388608.0f - 1.0f;
}

/* A bf16 or f16 pattern as float (finite data here; NaN and inf kept as such). */
static float widen16(uint16_t h, tgc_dtype t) { return t == TGC_BF16 ? tgc_bf16_to_f32(h) : tgc_f16_to_f32(h); }

static double worst_rel(const float *a, const float *b, size_t n) {
    double scale = 0, w = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs((double)b[i]));
    if (scale == 0) scale = 1;
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) != isnan(b[i])) return INFINITY;
        if (!isnan(a[i])) w = fmax(w, fabs((double)a[i] - b[i]) / scale);
    }
    return w;
}

/* ---- ops: each distinct instruction alone, on both devices ---- */

typedef struct side {
    tgc_device *d;
    void *slab[TGC_SLAB_COUNT];
} side;

static int alloc_slabs(const tgc_plan *p, side *s, tgc_err *err) {
    uint64_t size[TGC_SLAB_COUNT] = {0};
    for (int t = 0; t < p->n_tensors; t++) {
        const tgc_plan_tensor *pt = &p->tensors[t];
        if (pt->offset + pt->bytes > size[pt->slab]) size[pt->slab] = pt->offset + pt->bytes;
    }
    for (int k = 0; k < TGC_SLAB_COUNT; k++)
        if (size[k] && !(s->slab[k] = s->d->ops->slab_alloc(s->d->impl, size[k], err))) return -1;
    return 0;
}

static void free_slabs(side *s) {
    for (int k = 0; k < TGC_SLAB_COUNT; k++)
        if (s->slab[k]) s->d->ops->slab_free(s->d->impl, s->slab[k]);
}

/* Whether a plan tensor is the input `name` ("train/lr" is lr). */
static int named(const tgc_plan_tensor *t, const char *name) {
    const char *slash = strrchr(t->name, '/');
    return t->kind == TGC_VAL_INPUT && !strcmp(slash ? slash + 1 : t->name, name);
}

/* Random data an op takes: labels within the classes, variances, inverse deviations and the optimizers' squared
 * averages positive, lr and step. */
static void fill(const tgc_plan *p, const tgc_instr *in, int q, void *buf) {
    const tgc_plan_tensor *t = &p->tensors[in->in[q]];
    int64_t n = tgc_shape_numel(&t->type.shape);
    tgc_opcode c = in->code;
    if (t->type.dtype == TGC_I32) {
        int32_t *v = buf;
        int fwd = c == TGC_OP_SOFTMAX_CE || c == TGC_OP_SIGMOID_BCE;
        int lbl = (fwd && q == 1) || ((c == TGC_OP_SOFTMAX_CE_BWD || c == TGC_OP_SIGMOID_BCE_BWD) && q == 2);
        int64_t classes = 1;
        if (lbl) classes = p->tensors[in->in[fwd ? 0 : 1]].type.shape.d[1];
        for (int64_t i = 0; i < n; i++) v[i] = lbl ? (int32_t)((rng = rng * 1664525u + 1013904223u) >> 8) % (int32_t)classes : 2;
        /* the anchor losses' class targets: -1 (ignored) to classes (a negative), each kind present */
        int focal = c == TGC_OP_SIGMOID_FOCAL_LOSS || c == TGC_OP_SIGMOID_FOCAL_LOSS_BWD;
        int l1 = c == TGC_OP_L1_LOSS_POS || c == TGC_OP_L1_LOSS_POS_BWD;
        if (focal || l1) {
            int64_t k = l1 ? in->attrs.num_classes : p->tensors[in->in[c == TGC_OP_SIGMOID_FOCAL_LOSS ? 0 : 1]].type.shape.d[2];
            for (int64_t i = 0; i < n; i++) v[i] = (int32_t)(((rng = rng * 1664525u + 1013904223u) >> 8) % (uint32_t)(k + 2)) - 1;
        }
        /* the R-CNN losses' sampled labels: -1 (padding) to the class count (a negative), each kind present */
        int ce = ((c == TGC_OP_SOFTMAX_CE_MASKED || c == TGC_OP_ACCURACY_MASKED) && q == 1) ||
                 (c == TGC_OP_SOFTMAX_CE_MASKED_BWD && q == 2);
        if (ce || (c == TGC_OP_CLASS_BOX_TARGETS && q == 0)) {
            int64_t k = ce ? p->tensors[in->in[q - 1]].type.shape.d[1] - 1 : in->attrs.num_classes;
            for (int64_t i = 0; i < n; i++) v[i] = (int32_t)(((rng = rng * 1664525u + 1013904223u) >> 8) % (uint32_t)(k + 2)) - 1;
        }
        return;
    }
    if (t->type.dtype == TGC_BF16) {
        uint16_t *v = buf;
        for (int64_t i = 0; i < n; i++) {
            float f = frand();
            uint32_t u;
            memcpy(&u, &f, 4);
            v[i] = (uint16_t)(u >> 16);
        }
        return;
    }
    if (t->type.dtype == TGC_F16) { /* in (-1, 1): exponents 2^-8 to 2^-1, random mantissas, both signs */
        uint16_t *v = buf;
        for (int64_t i = 0; i < n; i++) {
            uint32_t r = (rng = rng * 1664525u + 1013904223u) >> 8;
            v[i] = (uint16_t)(((r & 1u) << 15) | ((7u + (r >> 1) % 8u) << 10) | ((r >> 4) & 0x3ffu));
        }
        return;
    }
    if (t->type.dtype != TGC_F32) {
        memset(buf, 0, (size_t)t->bytes);
        return;
    }
    float *v = buf;
    if ((c == TGC_OP_ROI_ALIGN || c == TGC_OP_ROI_ALIGN_BWD) && q == 1) { /* RoIs: (image, x1, y1, x2, y2) on the map */
        const tgc_shape *xs = c == TGC_OP_ROI_ALIGN ? &p->tensors[in->in[0]].type.shape : &in->attrs.shape;
        double w = (double)xs->d[3] / in->attrs.spatial_scale, h = (double)xs->d[2] / in->attrs.spatial_scale;
        for (int64_t i = 0; i + 4 < n; i += 5) {
            double x1 = (frand() + 1) * 0.35 * w, y1 = (frand() + 1) * 0.35 * h;
            v[i] = (float)((i / 5) % xs->d[0]);
            v[i + 1] = (float)x1, v[i + 2] = (float)y1;
            v[i + 3] = (float)(x1 + 1 + (frand() + 1) * 0.25 * w), v[i + 4] = (float)(y1 + 1 + (frand() + 1) * 0.25 * h);
        }
        return;
    }
    int positive = ((c == TGC_OP_BN_TRAIN || c == TGC_OP_BN_TRAIN_RELU || c == TGC_OP_BN_EVAL ||
                     c == TGC_OP_FOLD_CONV_BN || c == TGC_OP_BN_BWD) && q == 4) ||
                   (c == TGC_OP_BN_RELU_BWD && q == 5) ||
                   ((c == TGC_OP_ADAMW_UPDATE || c == TGC_OP_ADAM_UPDATE) && q == 3) ||
                   (c == TGC_OP_RMSPROP_UPDATE && q == 2) || /* exp_avg_sq, square_avg */
                   (c == TGC_OP_LAMB_UPDATE && (q == 3 || q == 6)) || /* exp_avg_sq, the sum of squares */
                   ((c == TGC_OP_GRAD_NORM_ACC || c == TGC_OP_GRAD_CLIP_NORM) && q == 1) || /* the chain's sum */
                   (c == TGC_OP_BN_EVAL_BWD && q == 4) || /* running_var; the anchor losses' avg_factor: */
                   ((c == TGC_OP_SIGMOID_FOCAL_LOSS || c == TGC_OP_SIGMOID_FOCAL_LOSS_BWD || c == TGC_OP_L1_LOSS_POS ||
                     c == TGC_OP_L1_LOSS_POS_BWD) && q == in->n_in - 1);
    for (int64_t i = 0; i < n; i++) v[i] = positive ? 1.0f + 0.5f * frand() : frand();
    if (named(t, "lr")) v[0] = 0.01f;
    if (named(t, "step")) v[0] = 2.0f;
}

static char *signature(const tgc_plan *p, const tgc_instr *in) {
    tgc_buf b = {0};
    tgc_buf_printf(&b, "%s", tgc_op_table[in->code].name);
    for (int j = 0; j < in->n_in + in->n_out; j++) {
        const tgc_plan_tensor *t = &p->tensors[j < in->n_in ? in->in[j] : in->out[j - in->n_in]];
        char sh[96];
        tgc_shape_str(&t->type.shape, sh, sizeof sh);
        tgc_buf_printf(&b, " %s:%d", sh, (int)t->type.dtype);
    }
    /* the attributes' bytes make it distinct too */
    tgc_buf_printf(&b, " #%08x", (unsigned)tgc_crc32(0, &in->attrs, sizeof in->attrs));
    tgc_buf_u8(&b, 0);
    return (char *)b.data;
}

typedef struct op_stat {
    const char *name;
    int n;
    double worst;
} op_stat;

static int run_one(const tgc_plan *p, const tgc_program *one, side *s, tgc_err *err) {
    tgc_dev_program dp = {one, p->tensors, s->slab, NULL, 1};
    void *prog = s->d->ops->prepare(s->d->impl, &dp, err);
    if (!prog) return -1;
    tgc_dev_run r = {.before_instr = -1, .quiet = 1};
    int rc = s->d->ops->run(s->d->impl, prog, &r, err);
    if (rc == 0) rc = s->d->ops->sync(s->d->impl, err);
    s->d->ops->release(s->d->impl, prog);
    return rc;
}

static int check_ops(const char *path, tgc_device *gpu, tgc_device *cpu, op_stat *st, int *n_st, int *checked) {
    tgc_err err;
    tgc_plan *p = tgc_plan_load(path, &err);
    if (!p) {
        printf("FAIL %s: %s\n", path, err.msg);
        return -1;
    }
    side g = {gpu, {0}}, c = {cpu, {0}};
    if (alloc_slabs(p, &g, &err) < 0 || alloc_slabs(p, &c, &err) < 0) {
        printf("FAIL %s: slabs: %s\n", path, err.msg);
        free_slabs(&g);
        free_slabs(&c);
        tgc_plan_free(p);
        return -1;
    }
    char **seen = NULL;
    int n_seen = 0, cap = 0;
    for (int pi = 0; pi < p->n_programs; pi++) {
        const tgc_program *pr = &p->programs[pi];
        for (int k = 0; k < pr->n_instr; k++) {
            tgc_instr in = pr->instr[k];
            char *sig = signature(p, &in);
            int dup = 0;
            for (int i = 0; i < n_seen && !dup; i++) dup = !strcmp(seen[i], sig);
            if (dup) {
                free(sig);
                continue;
            }
            TGC_GROW(seen, cap, n_seen + 1);
            seen[n_seen++] = sig;
            in.group = -1;
            tgc_program one;
            memset(&one, 0, sizeof one);
            one.name = pr->name;
            one.n_instr = 1;
            one.instr = &in;
            one.n_outputs = in.n_out;
            one.outputs = in.out;
            one.batch = pr->batch;
            /* the same random operands on both devices */
            int rc = 0;
            for (int q = 0; q < in.n_in && rc == 0; q++) {
                const tgc_plan_tensor *t = &p->tensors[in.in[q]];
                void *buf = malloc(t->bytes ? (size_t)t->bytes : 1);
                fill(p, &in, q, buf);
                rc = gpu->ops->upload(gpu->impl, g.slab[t->slab], t->offset, buf, t->bytes, &err);
                if (rc == 0) rc = cpu->ops->upload(cpu->impl, c.slab[t->slab], t->offset, buf, t->bytes, &err);
                free(buf);
            }
            if (rc == 0 && run_one(p, &one, &c, &err) < 0) rc = -1;
            if (rc == 0 && run_one(p, &one, &g, &err) < 0) rc = -1;
            double worst = 0;
            uint32_t mut = tgc_op_table[in.code].mutates;
            for (int q = 0; q < in.n_in + in.n_out && rc == 0; q++) {
                int ti = q < in.n_in ? in.in[q] : in.out[q - in.n_in];
                if (q < in.n_in && !(mut & (1u << q))) continue;
                const tgc_plan_tensor *t = &p->tensors[ti];
                tgc_dtype dt = t->type.dtype;
                if (dt != TGC_F32 && dt != TGC_BF16 && dt != TGC_F16) continue;
                size_t n = (size_t)tgc_shape_numel(&t->type.shape);
                float *a = malloc(4 * (n ? n : 1)), *b = malloc(4 * (n ? n : 1));
                rc = gpu->ops->download(gpu->impl, g.slab[t->slab], t->offset, a, t->bytes, &err);
                if (rc == 0) rc = cpu->ops->download(cpu->impl, c.slab[t->slab], t->offset, b, t->bytes, &err);
                if (rc == 0 && dt != TGC_F32) { /* widened in place, from the end, onto the tolerance of f32 */
                    for (size_t i = n; i-- > 0;) {
                        a[i] = widen16(((const uint16_t *)a)[i], dt);
                        b[i] = widen16(((const uint16_t *)b)[i], dt);
                    }
                }
                /* a 16-bit result may round to the neighbouring value: its error scaled onto the f32 tolerance */
                double e = rc == 0 ? worst_rel(a, b, n) : 0;
                if (dt != TGC_F32) e *= tol_op / (dt == TGC_BF16 ? tol_bf16 : tol_f16);
                if (rc == 0) worst = fmax(worst, e);
                free(a);
                free(b);
            }
            (*checked)++;
            int j = 0;
            while (j < *n_st && strcmp(st[j].name, tgc_op_table[in.code].name)) j++;
            if (j == *n_st) st[(*n_st)++] = (op_stat){tgc_op_table[in.code].name, 0, 0};
            st[j].n++;
            if (rc < 0) {
                printf("FAIL %s: %s instruction %d (%s): %s\n", path, pr->name, k, tgc_op_table[in.code].name, err.msg);
                failures++;
                st[j].worst = INFINITY;
            } else {
                st[j].worst = fmax(st[j].worst, worst);
                if (!(worst <= tol_op)) {
                    printf("FAIL %s: %s instruction %d (%s): relative error %.3g > %.0e\n", path, pr->name, k,
                           tgc_op_table[in.code].name, worst, tol_op);
                    failures++;
                }
            }
        }
    }
    for (int i = 0; i < n_seen; i++) free(seen[i]);
    free(seen);
    free_slabs(&g);
    free_slabs(&c);
    tgc_plan_free(p);
    return 0;
}

/* ---- step: one train step and an eval from the same state ---- */

typedef struct snap {
    float loss, *state, *logits;
    size_t n_state, n_logits;
} snap;

static int is_state(const tgc_plan_tensor *t) {
    return (t->kind == TGC_VAL_PARAM || t->kind == TGC_VAL_BUFFER || t->kind == TGC_VAL_OPTSTATE) && t->type.dtype == TGC_F32;
}

static float *read_state(tgc_exec *x, const tgc_plan *p, size_t *n, tgc_err *err) {
    size_t total = 0;
    for (int i = 0; i < p->n_tensors; i++)
        if (is_state(&p->tensors[i])) total += p->tensors[i].bytes / 4;
    float *v = malloc((total ? total : 1) * sizeof *v), *q = v;
    for (int i = 0; i < p->n_tensors; i++)
        if (is_state(&p->tensors[i])) {
            if (tgc_exec_read(x, i, q, err) < 0) {
                free(v);
                return NULL;
            }
            q += p->tensors[i].bytes / 4;
        }
    *n = total;
    return v;
}

/* Writes a program's inputs: the batch (seeded), labels within the classes, lr 0.01, step 1. */
static int write_inputs(tgc_exec *x, const tgc_plan *p, const char *prog, uint32_t seed, tgc_err *err) {
    const tgc_program *pr = tgc_plan_program(p, prog);
    int64_t classes = 10;
    for (int k = 0; k < pr->n_instr; k++)
        if (pr->instr[k].code == TGC_OP_SOFTMAX_CE) classes = p->tensors[pr->instr[k].in[0]].type.shape.d[1];
    rng = seed;
    for (int i = 0; i < pr->n_inputs; i++) {
        const tgc_plan_tensor *t = &p->tensors[pr->inputs[i]];
        int64_t n = tgc_shape_numel(&t->type.shape);
        void *buf = malloc(t->bytes ? (size_t)t->bytes : 1);
        if (t->type.dtype == TGC_I32) {
            for (int64_t j = 0; j < n; j++) ((int32_t *)buf)[j] = (int32_t)((rng = rng * 1664525u + 1013904223u) >> 8) % (int32_t)classes;
            if (named(t, "step")) ((int32_t *)buf)[0] = 1;
        } else if (t->type.dtype == TGC_F32) {
            for (int64_t j = 0; j < n; j++) ((float *)buf)[j] = frand();
            if (named(t, "lr")) ((float *)buf)[0] = 0.01f;
            if (named(t, "step")) ((float *)buf)[0] = 1.0f;
        } else {
            memset(buf, 0, (size_t)t->bytes);
        }
        int rc = tgc_exec_write(x, pr->inputs[i], buf, err);
        free(buf);
        if (rc < 0) return -1;
    }
    return 0;
}

static int one_step(const tgc_plan *p, tgc_device *d, snap *s, tgc_err *err) {
    memset(s, 0, sizeof *s);
    tgc_exec_opts o = {.deterministic = 1, .device = d};
    tgc_exec *x = tgc_exec_new(p, &o, err);
    if (!x) return -1;
    int rc = tgc_exec_init_state(x, 1, err);
    size_t n0 = 0;
    float *before = rc ? NULL : read_state(x, p, &n0, err);
    if (!before) rc = -1;
    if (rc == 0) rc = write_inputs(x, p, "train", 7, err);
    if (rc == 0) rc = tgc_exec_run(x, "train", err);
    if (rc == 0) rc = tgc_exec_sync(x, err);
    int lo = tgc_exec_output(x, "train");
    if (rc == 0 && lo >= 0) {
        const tgc_plan_tensor *t = tgc_exec_tensor(x, lo);
        rc = tgc_exec_read_bytes(x, t->slab, t->offset, 4, &s->loss, err);
    }
    if (rc == 0 && !(s->state = read_state(x, p, &s->n_state, err))) rc = -1;
    for (size_t i = 0; rc == 0 && i < s->n_state; i++) s->state[i] -= before[i]; /* the update */
    if (rc == 0 && tgc_plan_program(p, "eval")) {
        rc = write_inputs(x, p, "eval", 9, err);
        if (rc == 0) rc = tgc_exec_run(x, "eval", err);
        if (rc == 0) rc = tgc_exec_sync(x, err);
        int li = tgc_exec_output(x, "eval");
        if (rc == 0 && li >= 0) {
            const tgc_plan_tensor *t = tgc_exec_tensor(x, li);
            s->n_logits = t->bytes / 4;
            s->logits = malloc(t->bytes ? (size_t)t->bytes : 1);
            rc = tgc_exec_read(x, li, s->logits, err);
        }
    }
    free(before);
    tgc_exec_free(x);
    return rc;
}

static void check_step(const char *path, tgc_device *gpu, tgc_device *cpu) {
    tgc_err err;
    tgc_plan *p = tgc_plan_load(path, &err);
    snap a, b;
    if (!p || one_step(p, cpu, &b, &err) < 0 || one_step(p, gpu, &a, &err) < 0) {
        printf("FAIL step %s: %s\n", path, err.msg);
        failures++;
        tgc_plan_free(p);
        return;
    }
    double el = fabs((double)a.loss - b.loss) / fmax(fabs((double)b.loss), 1e-30);
    double eu = worst_rel(a.state, b.state, a.n_state);
    double eg = a.n_logits ? worst_rel(a.logits, b.logits, a.n_logits) : 0;
    int ok = el <= tol_loss && eu <= tol_step && eg <= tol_step;
    printf("%s step %s: loss %.7g (cpu %.7g, rel %.2g), state updates rel %.2g, eval logits rel %.2g\n", ok ? "ok" : "FAIL",
           path, a.loss, b.loss, el, eu, eg);
    failures += !ok;
    free(a.state);
    free(a.logits);
    free(b.state);
    free(b.logits);
    tgc_plan_free(p);
}

/* ---- bench ---- */

#ifdef TGC_HAVE_CUDA
static double used_mib(void) {
    size_t fr = 0, total = 0;
    cudaMemGetInfo(&fr, &total);
    return (double)(total - fr) / (1 << 20);
}

static void bench(const char *path, int iters, const char *algo_dir) {
    tgc_err err;
    tgc_plan *p = tgc_plan_load(path, &err);
    if (!p) {
        printf("FAIL bench %s: %s\n", path, err.msg);
        failures++;
        return;
    }
    const tgc_program *tr = tgc_plan_program(p, "train");
    for (int run = algo_dir ? 2 : 1; run >= 0; run--) {
        int graphs = run >= 1, tune = run == 2;
        double base = used_mib(), t0 = 0;
        tgc_cuda_device_opts o = {.no_graphs = !graphs, .cudnn_benchmark = tune, .work_dir = tune ? algo_dir : NULL};
        tgc_device *d = tgc_cuda_device_new(&tgc_cuda_stream_api, &o, &err);
        tgc_exec_opts xo = {.device = d};
        double tp = tgc_now();
        tgc_exec *x = d ? tgc_exec_new(p, &xo, &err) : NULL;
        tp = tgc_now() - tp;
        int rc = x ? tgc_exec_init_state(x, 1, &err) : -1;
        /* `tgc bench`'s synthetic batch: a detector's targets and ground truth in their ranges */
        if (rc == 0) rc = tgc_synth_fill_inputs(x, "train", tgc_synth_num_classes(x), 0.01, &err);
        tgc_loss_scaler ls;
        memset(&ls, 0, sizeof ls);
        if (rc == 0 && p->amp.dtype == TGC_F16) rc = tgc_loss_scaler_init(&ls, p, x, &err);
        int skipped = 0;
        for (int i = 0; i < 3 + iters && rc == 0; i++) { /* eager, capture, replay; then the timed steps */
            if (i == 3 && (rc = tgc_exec_sync(x, &err)) < 0) break;
            if (i == 3) t0 = tgc_now();
            if (ls.enabled && (rc = tgc_loss_scaler_feed(&ls, &err)) < 0) break;
            rc = tgc_exec_run(x, "train", &err);
            if (rc == 0 && ls.enabled) skipped += tgc_loss_scaler_update(&ls);
        }
        if (rc == 0) rc = tgc_exec_sync(x, &err);
        double dt = tgc_now() - t0, peak = used_mib() - base;
        if (rc < 0) {
            printf("FAIL bench %s (graphs %s): %s\n", path, graphs ? "on" : "off", err.msg);
            failures++;
        } else {
            tgc_cuda_device_stats st;
            tgc_cuda_device_get_stats(d, &st);
            char how[400];
            if (tune)
                snprintf(how, sizeof how, "with CUDA graph, autotuned convolutions (%d graphs measured, %d remembered: this "
                         "run's or %s/cudnn_algos.txt's; prepare %.1f s)", st.cudnn_measured, st.cudnn_cached, algo_dir, tp);
            else snprintf(how, sizeof how, "%s CUDA graph, heuristics' convolutions", graphs ? "with" : "without");
            char amp[96] = "";
            if (p->amp.dtype != TGC_F32)
                snprintf(amp, sizeof amp, ", %s%s", tgc_dtype_name(p->amp.dtype),
                         ls.enabled ? " with dynamic loss scaling" : "");
            printf("bench %s: tgc %s%s: batch %lld, %d steps in %.3f s: %.1f img/s, %.1f ms/step, device "
                   "memory %.0f MiB (captures %llu, replays %llu%s)\n",
                   path, how, amp, (long long)tr->batch, iters, dt, tr->batch * iters / dt,
                   1000 * dt / iters, peak, (unsigned long long)st.captures, (unsigned long long)st.replays,
                   ls.enabled ? (skipped ? ", some steps skipped on overflow" : ", no step skipped") : "");
        }
        tgc_loss_scaler_free(&ls);
        tgc_exec_free(x);
        tgc_device_close(d);
    }
    tgc_plan_free(p);
}
#endif

int main(int argc, char **argv) {
    if (argc < 3 || (strcmp(argv[1], "ops") && strcmp(argv[1], "step") && strcmp(argv[1], "bench"))) {
        fprintf(stderr, "usage: %s ops|step PLAN... | bench PLAN [ITERS] [ALGO_DIR]\n", argv[0]);
        return 2;
    }
    const char *si = getenv("TGC_GPU_CHECK_STANDIN");
    int standin = si && !strcmp(si, "1");
    if (!standin && tgc_device_count("cuda", NULL) == 0) {
        printf("%s %s: skipped: no GPU\n", argv[0], argv[1]);
        return 77;
    }
    const char *tf = getenv("TGC_ALLOW_TF32");
    if (tf && !strcmp(tf, "1")) tol_op = 5e-3, tol_loss = 5e-3, tol_step = 2e-2;
    if (!strcmp(argv[1], "bench")) {
#ifdef TGC_HAVE_CUDA
        if (!standin) {
            bench(argv[2], argc > 3 ? atoi(argv[3]) : 20, argc > 4 ? argv[4] : NULL);
            return failures ? 1 : 0;
        }
#endif
        printf("%s bench: skipped: no GPU\n", argv[0]);
        return 77;
    }
    tgc_err err;
    tgc_device_opts dopts = {0};
    tgc_device *gpu = NULL;
    if (standin) {
        tgc_cuda_device_opts so = {.stream = {.seed = 5}, .native = TGC_NATIVE_ALL | TGC_NATIVE_LIBRARY};
        gpu = tgc_cuda_device_new(&tgc_standin_stream_api, &so, &err);
    } else {
        gpu = tgc_device_open("cuda", &dopts, &err);
    }
    tgc_device *cpu = gpu ? tgc_device_open("cpu", &dopts, &err) : NULL;
    if (!gpu || !cpu) {
        printf("FAIL: opening the devices: %s\n", err.msg);
        tgc_device_close(gpu);
        return 1;
    }
    char line[400];
    tgc_device_describe(gpu, line, sizeof line);
    printf("device: %s\n", line);
    if (!strcmp(argv[1], "ops")) {
        op_stat st[64];
        int n_st = 0, checked = 0;
        for (int i = 2; i < argc; i++)
            if (check_ops(argv[i], gpu, cpu, st, &n_st, &checked) < 0) failures++;
        for (int j = 0; j < n_st; j++)
            printf("op %-28s %4d distinct instructions, worst relative error %.3g (tolerance %.0e)\n", st[j].name,
                   st[j].n, st[j].worst, tol_op);
        printf("ops: %d distinct instructions of %d ops checked against the cpu device, %d failed\n", checked, n_st,
               failures);
    } else {
        for (int i = 2; i < argc; i++) check_step(argv[i], gpu, cpu);
    }
    tgc_device_close(cpu);
    tgc_device_close(gpu);
    return failures ? 1 : 0;
}
