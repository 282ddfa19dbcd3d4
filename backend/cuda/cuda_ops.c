/* backend/cuda/cuda_ops.c - see cuda_ops.h. */
#include "backend/cuda/cuda_ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/codegen.h"
#include "backend/cuda/native_marshal.h"
#include "common/half.h"

/* The GPU implementation of every op of ir/ops.def, by the op's enum name. Elementwise ops are generated
 * kernels wherever they stand (a fusion group, or alone); the per-channel reductions cuDNN has (convolution,
 * batch norm, pooling) go to cuDNN, the rest to the hand-written kernels. */
#define CUDA_IMPL_CONV2D TGC_CUDA_IMPL_CUDNN
#define CUDA_IMPL_BIAS_ADD TGC_CUDA_IMPL_GENERATED
#define CUDA_IMPL_BN_TRAIN TGC_CUDA_IMPL_CUDNN
#define CUDA_IMPL_BN_EVAL TGC_CUDA_IMPL_CUDNN
#define CUDA_IMPL_RELU TGC_CUDA_IMPL_GENERATED
#define CUDA_IMPL_TANH TGC_CUDA_IMPL_GENERATED
#define CUDA_IMPL_ADD TGC_CUDA_IMPL_GENERATED
#define CUDA_IMPL_SCALE TGC_CUDA_IMPL_GENERATED
#define CUDA_IMPL_MAX_POOL2D TGC_CUDA_IMPL_CUDNN
#define CUDA_IMPL_AVG_POOL2D TGC_CUDA_IMPL_CUDNN
#define CUDA_IMPL_GLOBAL_AVG_POOL TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_MATMUL TGC_CUDA_IMPL_CUBLAS
#define CUDA_IMPL_RESHAPE TGC_CUDA_IMPL_COPY
#define CUDA_IMPL_CAST TGC_CUDA_IMPL_GENERATED
#define CUDA_IMPL_SOFTMAX_CE TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_FILL TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_CONV2D_BWD_DATA TGC_CUDA_IMPL_CUDNN
#define CUDA_IMPL_CONV2D_BWD_FILTER TGC_CUDA_IMPL_CUDNN
#define CUDA_IMPL_BIAS_GRAD TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_BN_BWD TGC_CUDA_IMPL_CUDNN
#define CUDA_IMPL_RELU_BWD TGC_CUDA_IMPL_GENERATED
#define CUDA_IMPL_TANH_BWD TGC_CUDA_IMPL_GENERATED
#define CUDA_IMPL_MAX_POOL2D_BWD TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_AVG_POOL2D_BWD TGC_CUDA_IMPL_CUDNN
#define CUDA_IMPL_GLOBAL_AVG_POOL_BWD TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_SOFTMAX_CE_BWD TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_SGD_UPDATE TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_SGD_MOMENTUM_UPDATE TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_ADAMW_UPDATE TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_BN_TRAIN_RELU TGC_CUDA_IMPL_CUDNN
#define CUDA_IMPL_BN_RELU_BWD TGC_CUDA_IMPL_CUDNN
#define CUDA_IMPL_FOLD_CONV_BN TGC_CUDA_IMPL_AUX
#define CUDA_IMPL_SIGMOID TGC_CUDA_IMPL_GENERATED
#define CUDA_IMPL_SIGMOID_BWD TGC_CUDA_IMPL_GENERATED
#define CUDA_IMPL_CHANNEL_MUL TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_CHANNEL_MUL_GRAD_GATE TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_SOFTMAX_CE_SOFT TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_SOFTMAX_CE_SOFT_BWD TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_ADAM_UPDATE TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_RMSPROP_UPDATE TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_EMA_UPDATE TGC_CUDA_IMPL_KERNEL
/* RetinaNet's dense ops: hand-written kernels (backend/cuda/kernels/retina.cuh). None is elementwise (a generated
 * kernel cannot take them) and cuDNN's legacy API has no nearest upsampling, permute or focal loss.
 * batch_norm_eval_bwd is a kernel too: cuDNN's batch norm backward differentiates through the batch statistics
 * (dx carries the mean and variance terms) whatever mean and inverse deviation it is handed, while with
 * running statistics dx is dy times a per-channel constant and only dgamma and dbeta are sums. */
#define CUDA_IMPL_UPSAMPLE_NEAREST TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_UPSAMPLE_NEAREST_BWD TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_TO_NHWC TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_TO_NCHW TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_CONCAT TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_CONCAT_BWD TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_SIGMOID_FOCAL_LOSS TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_SIGMOID_FOCAL_LOSS_BWD TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_L1_LOSS_POS TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_L1_LOSS_POS_BWD TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_BN_EVAL_BWD TGC_CUDA_IMPL_KERNEL
/* detection (kernels/det.cuh) */
#define CUDA_IMPL_ROI_ALIGN TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_ROI_ALIGN_BWD TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_TOPK TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_NMS_FIXED TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_SMOOTH_L1 TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_SMOOTH_L1_BWD TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_BOX_IOU TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_BOX_ENCODE TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_BOX_DECODE TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_GATHER TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_GIOU_LOSS TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_GIOU_LOSS_BWD TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_RCNN_TARGETS TGC_CUDA_IMPL_KERNEL
/* The gradient norm, clipping, Lamb and the sigmoid binary cross-entropy: hand-written kernels (gradnorm.cuh,
 * loss.cuh), per-tensor or per-row reductions in double as bias_grad's and the softmax cross-entropy's. */
#define CUDA_IMPL_GRAD_NORM_ACC TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_GRAD_CLIP_NORM TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_GRAD_CLIP_VALUE TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_LAMB_UPDATE TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_SIGMOID_BCE TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_SIGMOID_BCE_BWD TGC_CUDA_IMPL_KERNEL
/* Faster R-CNN's ops: hand-written kernels (frcnn.cuh) */
#define CUDA_IMPL_ANCHOR_DECODE TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_SOFTMAX_CE_MASKED TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_SOFTMAX_CE_MASKED_BWD TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_CLASS_BOX_TARGETS TGC_CUDA_IMPL_KERNEL
#define CUDA_IMPL_ACCURACY_MASKED TGC_CUDA_IMPL_KERNEL
/* ROW <-> NHWC: the tiled transpose of to_nhwc / to_nchw (f32), its 16-bit twin for bf16/f16 (layout.cuh) */
#define CUDA_IMPL_RELAYOUT TGC_CUDA_IMPL_KERNEL

static const tgc_cuda_impl impls[] = {
#define TGC_OP(E, name, n_in, n_out, attrs, mutates, flags) CUDA_IMPL_##E,
#include "ir/ops.def"
#undef TGC_OP
};
_Static_assert(sizeof impls / sizeof impls[0] == TGC_OP_COUNT,
               "backend/cuda: the implementation table needs exactly one row per op of ir/ops.def");

tgc_cuda_impl tgc_cuda_impl_of(tgc_opcode code) {
    return (unsigned)code < TGC_OP_COUNT ? impls[code] : TGC_CUDA_IMPL_NONE;
}

const char *tgc_cuda_impl_pending(tgc_opcode code) {
    switch (code) { /* an op without an implementation gets its reason here (none today) */
    default:
        return NULL;
    }
}

const char *tgc_cuda_impl_name(tgc_cuda_impl i) {
    static const char *const names[TGC_CUDA_IMPL_COUNT] = {"none", "cudnn", "cublas", "kernel", "generated", "copy", "aux"};
    return (unsigned)i < TGC_CUDA_IMPL_COUNT ? names[i] : "?";
}

int tgc_cuda_group_len(const tgc_program *pr, int first) {
    int g = pr->instr[first].group, e = first + 1;
    if (g < 0) return 1;
    while (e < pr->n_instr && pr->instr[e].group == g) e++;
    if (tgc_op_table[pr->instr[first].code].flags & TGC_OPF_OPTIMIZER) return e - first; /* multi-tensor */
    for (int k = first; k < e; k++)
        if (tgc_cuda_impl_of(pr->instr[k].code) != TGC_CUDA_IMPL_GENERATED) return 1;
    return e - first; /* one generated kernel */
}

int tgc_cuda_gemm_of(const tgc_cpu_op *o, tgc_cuda_gemm *g, tgc_err *err) {
    memset(g, 0, sizeof *g);
    if (o->code != TGC_OP_MATMUL || o->n_in != 2 || o->n_out != 1)
        return tgc_fail(err, "cuda gemm: %s is not a matmul", tgc_op_table[o->code].name);
    const tgc_type *ta = &o->in_t[0], *tb = &o->in_t[1], *ty = &o->out_t[0];
    if (ta->shape.rank != 2 || tb->shape.rank != 2 || ty->shape.rank != 2 || ta->dtype != ty->dtype ||
        tb->dtype != ty->dtype || (ty->dtype != TGC_F32 && ty->dtype != TGC_BF16 && ty->dtype != TGC_F16))
        return tgc_fail(err, "cuda gemm: matmul needs 2-D operands and result of one dtype, f32, bf16 or f16");
    g->dtype = ty->dtype;
    int tra = o->a->trans_a != 0, trb = o->a->trans_b != 0;
    int64_t rows = ty->shape.d[0], cols = ty->shape.d[1];
    int64_t kk = tra ? ta->shape.d[0] : ta->shape.d[1];
    int64_t ra = tra ? ta->shape.d[1] : ta->shape.d[0], cb = trb ? tb->shape.d[0] : tb->shape.d[1];
    int64_t kb = trb ? tb->shape.d[1] : tb->shape.d[0];
    if (ra != rows || cb != cols || kb != kk)
        return tgc_fail(err, "cuda gemm: matmul shapes do not agree (y %lld x %lld, k %lld vs %lld)", (long long)rows,
                        (long long)cols, (long long)kk, (long long)kb);
    /* column-major C (n_cols_rowmajor x rows) = op(b)^T-as-stored (cols x k) * op(a)^T-as-stored (k x rows) */
    g->trans_a = trb;
    g->trans_b = tra;
    g->m = cols;
    g->n = rows;
    g->k = kk;
    g->lda = tb->shape.d[1]; /* the stored row length of b is its column-major leading dimension */
    g->ldb = ta->shape.d[1];
    g->ldc = cols;
    g->a = o->in[1];
    g->b = o->in[0];
    g->c = o->out[0];
    return 0;
}

/* Element i of an f32, bf16 or f16 array as float; a float stored into one, rounded to nearest even
 * (common/half.h, the conversions of the CPU backend). */
static float gemm_load(const void *p, tgc_dtype t, int64_t i) {
    if (t == TGC_F32) return ((const float *)p)[i];
    uint16_t h = ((const uint16_t *)p)[i];
    return t == TGC_BF16 ? tgc_bf16_to_f32(h) : tgc_f16_to_f32(h);
}

static void gemm_store(void *p, tgc_dtype t, int64_t i, float v) {
    if (t == TGC_F32) ((float *)p)[i] = v;
    else ((uint16_t *)p)[i] = t == TGC_BF16 ? tgc_f32_to_bf16(v) : tgc_f32_to_f16(v);
}

void tgc_cuda_gemm_host(const tgc_cuda_gemm *g) {
    for (int64_t j = 0; j < g->n; j++)
        for (int64_t i = 0; i < g->m; i++) {
            double s = 0;
            for (int64_t l = 0; l < g->k; l++) {
                float av = gemm_load(g->a, g->dtype, g->trans_a ? l + i * g->lda : i + l * g->lda);
                float bv = gemm_load(g->b, g->dtype, g->trans_b ? j + l * g->ldb : l + j * g->ldb);
                s += (double)av * bv;
            }
            gemm_store(g->c, g->dtype, i + j * g->ldc, (float)s);
        }
}

static int fail_at(const tgc_program *pr, int k, tgc_err *err, const char *why) {
    return tgc_fail(err, "program %s, instruction %d (%s): no CUDA implementation: %s", pr->name, k,
                    tgc_op_table[pr->instr[k].code].name, why);
}

int tgc_cuda_check_plan(const tgc_plan *p, int allow_pending, tgc_cuda_decisions *c, tgc_err *err) {
    tgc_cuda_decisions local = {0};
    if (!c) c = &local;
    for (int pi = 0; pi < p->n_programs; pi++) {
        const tgc_program *pr = &p->programs[pi];
        for (int k = 0; k < pr->n_instr;) {
            int n = tgc_cuda_group_len(pr, k);
            const tgc_instr *in = &pr->instr[k];
            tgc_cuda_impl im = tgc_cuda_impl_of(in->code);
            if (im == TGC_CUDA_IMPL_GENERATED) {
                tgc_codegen_kernel kern;
                if (tgc_codegen_group_kernel(p, pr, k, n, &kern, err) < 0)
                    return tgc_err_prefix(err, "program %s, instructions [%d, %d): no generated kernel", pr->name, k,
                                          k + n);
                tgc_codegen_kernel_free(&kern);
                c->groups++;
                c->by_impl[im] += n;
                c->instructions += n;
                k += n;
                continue;
            }
            for (int j = k; j < k + n; j++) {
                const tgc_instr *ij = &pr->instr[j];
                tgc_cuda_impl ix = tgc_cuda_impl_of(ij->code);
                if (ix == TGC_CUDA_IMPL_NONE && allow_pending && tgc_cuda_impl_pending(ij->code)) {
                    c->pending++;
                    c->instructions++;
                    continue;
                }
                if (ix == TGC_CUDA_IMPL_NONE)
                    return fail_at(pr, j, err, tgc_cuda_impl_pending(ij->code) ? tgc_cuda_impl_pending(ij->code)
                                                                               : "the op has no CUDA decision");
                if (ix == TGC_CUDA_IMPL_KERNEL || ix == TGC_CUDA_IMPL_CUBLAS) {
                    tgc_type it[TGC_MAX_IN], ot[TGC_MAX_OUT];
                    void *ip[TGC_MAX_IN] = {0}, *op[TGC_MAX_OUT] = {0};
                    for (int q = 0; q < ij->n_in; q++) it[q] = p->tensors[ij->in[q]].type;
                    for (int q = 0; q < ij->n_out; q++) ot[q] = p->tensors[ij->out[q]].type;
                    tgc_cpu_op o = {ij->code, &ij->attrs, ij->n_in, ij->n_out, it, ot, ip, op};
                    if (ix == TGC_CUDA_IMPL_KERNEL && !tgc_cuda_native_supports(&o))
                        return fail_at(pr, j, err, "the hand-written kernel does not take these operand types");
                    tgc_cuda_gemm g;
                    tgc_err e2;
                    if (ix == TGC_CUDA_IMPL_CUBLAS && tgc_cuda_gemm_of(&o, &g, &e2) < 0) return fail_at(pr, j, err, e2.msg);
                }
                c->by_impl[ix]++;
                c->instructions++;
            }
            k += n;
        }
    }
    return 0;
}

int tgc_cuda_bn_of(const tgc_cpu_op *o, tgc_cuda_bn *b, tgc_err *err) {
    memset(b, 0, sizeof *b);
    tgc_opcode c = o->code;
    int bwd = c == TGC_OP_BN_BWD || c == TGC_OP_BN_RELU_BWD;
    if (c != TGC_OP_BN_TRAIN && c != TGC_OP_BN_TRAIN_RELU && c != TGC_OP_BN_EVAL && !bwd)
        return tgc_fail(err, "cuda batch norm: %s is not a batch norm", tgc_op_table[c].name);
    const tgc_shape *xs = &o->in_t[bwd ? 1 : 0].shape;
    if (xs->rank < 2) return tgc_fail(err, "cuda batch norm: x must be [N, C, ...]");
    /* x-shaped tensors of one dtype (f32, or bf16/f16 in mixed precision), per-channel ones f32 */
    tgc_dtype d = o->in_t[bwd ? 1 : 0].dtype;
    if (d != TGC_F32 && d != TGC_BF16 && d != TGC_F16)
        return tgc_fail(err, "cuda batch norm: x is %s, not f32, bf16 or f16", tgc_dtype_name(d));
    for (int i = 0; i < o->n_in + o->n_out; i++) {
        const tgc_type *t = i < o->n_in ? &o->in_t[i] : &o->out_t[i - o->n_in];
        tgc_dtype want = tgc_shape_eq(&t->shape, xs) ? d : TGC_F32;
        if (t->dtype != want)
            return tgc_fail(err, "cuda batch norm: %s %d is %s, not %s", i < o->n_in ? "operand" : "result",
                            i < o->n_in ? i : i - o->n_in, tgc_dtype_name(t->dtype), tgc_dtype_name(want));
    }
    b->dtype = d;
    b->nhwc = xs->rank == 4 && o->in_t[bwd ? 1 : 0].layout == TGC_LAYOUT_NHWC;
    b->n = xs->d[0];
    b->c = xs->d[1];
    b->inner = 1;
    for (int d = 2; d < xs->rank; d++) b->inner *= xs->d[d];
    b->eps = o->a->eps;
    b->factor = o->a->momentum;
    void *const *in = o->in, *const *out = o->out;
    if (c == TGC_OP_BN_TRAIN || c == TGC_OP_BN_TRAIN_RELU) { /* (x, gamma, beta, rmean, rvar) -> (y, mean, invstd) */
        b->call = TGC_CUDA_BN_TRAIN;
        b->x = in[0], b->scale = in[1], b->bias = in[2], b->running_mean = in[3], b->running_var = in[4];
        b->y = out[0], b->saved_mean = out[1], b->saved_invstd = out[2];
        b->relu = c == TGC_OP_BN_TRAIN_RELU;
    } else if (c == TGC_OP_BN_EVAL) { /* (x, gamma, beta, rmean, rvar) -> y */
        b->call = TGC_CUDA_BN_INFER;
        b->x = in[0], b->scale = in[1], b->bias = in[2], b->running_mean = in[3], b->running_var = in[4];
        b->y = out[0];
    } else { /* (dy, x, gamma, [beta,] mean, invstd) -> (dx, dgamma, dbeta) */
        int r = c == TGC_OP_BN_RELU_BWD;
        b->call = TGC_CUDA_BN_BACKWARD;
        b->dy = in[0], b->x = in[1], b->scale = in[2];
        if (r) b->bias = in[3];
        b->saved_mean = in[3 + r], b->saved_invstd = in[4 + r];
        b->dx = out[0], b->dscale = out[1], b->dbias = out[2];
        b->relu = r;
    }
    return 0;
}

/* bf16/f16 data: the f32 call on widened copies, y or dx rounded once into the data's dtype. */
static int bn_host_lowp(const tgc_cuda_bn *b) {
    const int64_t all = b->n * b->c * b->inner;
    size_t bytes = sizeof(float) * (size_t)(all > 0 ? all : 1);
    float *x = malloc(bytes), *dy = b->dy ? malloc(bytes) : NULL, *res = malloc(bytes);
    int rc = -1;
    if (x && res && (dy || !b->dy)) {
        for (int64_t i = 0; i < all; i++) x[i] = gemm_load(b->x, b->dtype, i);
        for (int64_t i = 0; dy && i < all; i++) dy[i] = gemm_load(b->dy, b->dtype, i);
        tgc_cuda_bn w = *b;
        w.dtype = TGC_F32;
        w.x = x;
        w.dy = dy;
        w.masked = NULL;
        if (w.y) w.y = res;
        if (w.dx) w.dx = res;
        rc = tgc_cuda_bn_host(&w);
        void *out = b->y ? (void *)b->y : (void *)b->dx;
        for (int64_t i = 0; rc == 0 && out && i < all; i++) gemm_store(out, b->dtype, i, res[i]);
    }
    free(x), free(dy), free(res);
    return rc;
}

int tgc_cuda_bn_host(const tgc_cuda_bn *b) {
    if (b->dtype == TGC_BF16 || b->dtype == TGC_F16) return bn_host_lowp(b);
    /* NHWC: [n, inner, c] is [n * inner, c, 1], the same sums in the same order */
    const int64_t n = b->nhwc ? b->n * b->inner : b->n, C = b->c, S = b->nhwc ? 1 : b->inner;
    const double cnt = (double)(n * S);
    float *own = NULL;
    const float *dy = b->dy;
    if (b->call == TGC_CUDA_BN_BACKWARD && b->relu) { /* the mask, as the executor's kernel computes it */
        int64_t all = n * C * S;
        float *m = b->masked ? b->masked : (own = malloc(sizeof(float) * (size_t)(all > 0 ? all : 1)));
        if (!m) return -1;
        for (int64_t ch = 0; ch < C; ch++) {
            float a = b->scale[ch] * b->saved_invstd[ch], bb = b->bias[ch] - b->saved_mean[ch] * a;
            for (int64_t i = 0; i < n; i++)
                for (int64_t s = 0; s < S; s++) {
                    int64_t k = (i * C + ch) * S + s;
                    float pre = b->x[k] * a + bb;
                    m[k] = b->dy[k] * (pre > 0.f ? 1.f : 0.f);
                }
        }
        dy = m;
    }
    for (int64_t ch = 0; ch < C; ch++) {
        double s1 = 0, s2 = 0;
        if (b->call == TGC_CUDA_BN_INFER) {
            double inv = 1.0 / sqrt((double)b->running_var[ch] + b->eps);
            for (int64_t i = 0; i < n; i++)
                for (int64_t s = 0; s < S; s++) {
                    int64_t k = (i * C + ch) * S + s;
                    b->y[k] = (float)(((double)b->x[k] - b->running_mean[ch]) * inv * b->scale[ch] + b->bias[ch]);
                }
            continue;
        }
        if (b->call == TGC_CUDA_BN_TRAIN) {
            for (int64_t i = 0; i < n; i++)
                for (int64_t s = 0; s < S; s++) s1 += b->x[(i * C + ch) * S + s];
            double mean = s1 / cnt;
            for (int64_t i = 0; i < n; i++)
                for (int64_t s = 0; s < S; s++) {
                    double d = b->x[(i * C + ch) * S + s] - mean;
                    s2 += d * d;
                }
            double var = s2 / cnt, inv = 1.0 / sqrt(var + b->eps);
            for (int64_t i = 0; i < n; i++)
                for (int64_t s = 0; s < S; s++) {
                    int64_t k = (i * C + ch) * S + s;
                    float v = (float)(((double)b->x[k] - mean) * inv * b->scale[ch] + b->bias[ch]);
                    b->y[k] = b->relu ? (v > 0.f ? v : 0.f) : v;
                }
            b->saved_mean[ch] = (float)mean;
            b->saved_invstd[ch] = (float)inv;
            double unbiased = cnt > 1 ? s2 / (cnt - 1) : 0;
            b->running_mean[ch] = (float)((1 - b->factor) * b->running_mean[ch] + b->factor * mean);
            b->running_var[ch] = (float)((1 - b->factor) * b->running_var[ch] + b->factor * unbiased);
            continue;
        }
        /* backward */
        double mean = b->saved_mean[ch], inv = b->saved_invstd[ch], sdy = 0, dot = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t s = 0; s < S; s++) {
                int64_t k = (i * C + ch) * S + s;
                sdy += dy[k];
                dot += (double)dy[k] * ((double)b->x[k] - mean);
            }
        b->dbias[ch] = (float)sdy;
        b->dscale[ch] = (float)(dot * inv);
        for (int64_t i = 0; i < n; i++)
            for (int64_t s = 0; s < S; s++) {
                int64_t k = (i * C + ch) * S + s;
                double xh = ((double)b->x[k] - mean) * inv;
                b->dx[k] = (float)(b->scale[ch] * inv * ((double)dy[k] - sdy / cnt - xh * dot * inv / cnt));
            }
    }
    free(own);
    return 0;
}
