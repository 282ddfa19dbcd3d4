/* backend/cpu/cpu_ctx.c - the tgc_cpu context (oneDNN engine and stream, threads, cache) and
 * tgc_cpu_exec, which checks an op's operand counts and dispatches to its kernel. */
#define _GNU_SOURCE /* RTLD_DEFAULT */
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

#include "backend/cpu/cpu_internal.h"

/* The op table's counts and names, taken from ops.def directly so that this module needs no code from
 * ir/ (only its header). */
static const struct {
    const char *name;
    int n_in, n_out;
} op_rows[TGC_OP_COUNT] = {
#define TGC_OP(E, name, n_in, n_out, attrs, mutates, flags) {#name, n_in, n_out},
#include "ir/ops.def"
#undef TGC_OP
};

/* The CPU kernel of every op of ir/ops.def, by the op's enum name: CPU_KERNEL_<OP> is the function, or
 * CPU_UNSUPPORTED for an op this device does not run. The table below is generated from ops.def, so an op
 * added there without a line here does not compile ('CPU_KERNEL_<OP>' undeclared): every op's CPU kernel
 * is a decision made at build time, never a hole found at run time. */
#define CPU_UNSUPPORTED NULL
#define CPU_KERNEL_CONV2D cpu_conv2d
#define CPU_KERNEL_BIAS_ADD cpu_bias_add
#define CPU_KERNEL_BN_TRAIN cpu_bn_train
#define CPU_KERNEL_BN_EVAL cpu_bn_eval
#define CPU_KERNEL_RELU cpu_eltwise
#define CPU_KERNEL_TANH cpu_eltwise
#define CPU_KERNEL_ADD cpu_add
#define CPU_KERNEL_SCALE cpu_scale
#define CPU_KERNEL_MAX_POOL2D cpu_max_pool
#define CPU_KERNEL_AVG_POOL2D cpu_avg_pool
#define CPU_KERNEL_GLOBAL_AVG_POOL cpu_gap
#define CPU_KERNEL_MATMUL cpu_matmul
#define CPU_KERNEL_RESHAPE cpu_reshape
#define CPU_KERNEL_CAST cpu_cast
#define CPU_KERNEL_SOFTMAX_CE cpu_softmax_ce
#define CPU_KERNEL_FILL cpu_fill
#define CPU_KERNEL_CONV2D_BWD_DATA cpu_conv2d_bwd_data
#define CPU_KERNEL_CONV2D_BWD_FILTER cpu_conv2d_bwd_filter
#define CPU_KERNEL_BIAS_GRAD cpu_bias_grad
#define CPU_KERNEL_BN_BWD cpu_bn_bwd
#define CPU_KERNEL_RELU_BWD cpu_eltwise_bwd
#define CPU_KERNEL_TANH_BWD cpu_eltwise_bwd
#define CPU_KERNEL_MAX_POOL2D_BWD cpu_max_pool_bwd
#define CPU_KERNEL_AVG_POOL2D_BWD cpu_avg_pool_bwd
#define CPU_KERNEL_GLOBAL_AVG_POOL_BWD cpu_gap_bwd
#define CPU_KERNEL_SOFTMAX_CE_BWD cpu_softmax_ce_bwd
#define CPU_KERNEL_SGD_UPDATE cpu_sgd
#define CPU_KERNEL_SGD_MOMENTUM_UPDATE cpu_sgd_momentum
#define CPU_KERNEL_ADAMW_UPDATE cpu_adamw
#define CPU_KERNEL_BN_TRAIN_RELU cpu_bn_train
#define CPU_KERNEL_BN_RELU_BWD cpu_bn_bwd
#define CPU_KERNEL_FOLD_CONV_BN cpu_fold_conv_bn
#define CPU_KERNEL_SIGMOID cpu_eltwise
#define CPU_KERNEL_SIGMOID_BWD cpu_eltwise_bwd
#define CPU_KERNEL_CHANNEL_MUL cpu_channel_mul
#define CPU_KERNEL_CHANNEL_MUL_GRAD_GATE cpu_channel_mul_grad_gate
#define CPU_KERNEL_SOFTMAX_CE_SOFT cpu_softmax_ce_soft
#define CPU_KERNEL_SOFTMAX_CE_SOFT_BWD cpu_softmax_ce_soft_bwd
#define CPU_KERNEL_ADAM_UPDATE cpu_adam
#define CPU_KERNEL_RMSPROP_UPDATE cpu_rmsprop
#define CPU_KERNEL_EMA_UPDATE cpu_ema
#define CPU_KERNEL_UPSAMPLE_NEAREST cpu_upsample_nearest
#define CPU_KERNEL_UPSAMPLE_NEAREST_BWD cpu_upsample_nearest_bwd
#define CPU_KERNEL_TO_NHWC cpu_to_nhwc
#define CPU_KERNEL_TO_NCHW cpu_to_nchw
#define CPU_KERNEL_CONCAT cpu_concat
#define CPU_KERNEL_CONCAT_BWD cpu_concat_bwd
#define CPU_KERNEL_SIGMOID_FOCAL_LOSS cpu_sigmoid_focal_loss
#define CPU_KERNEL_SIGMOID_FOCAL_LOSS_BWD cpu_sigmoid_focal_loss_bwd
#define CPU_KERNEL_L1_LOSS_POS cpu_l1_loss_pos
#define CPU_KERNEL_L1_LOSS_POS_BWD cpu_l1_loss_pos_bwd
#define CPU_KERNEL_BN_EVAL_BWD cpu_bn_eval_bwd
/* detection (cpu_det.c) */
#define CPU_KERNEL_ROI_ALIGN cpu_roi_align
#define CPU_KERNEL_ROI_ALIGN_BWD cpu_roi_align_bwd
#define CPU_KERNEL_TOPK cpu_topk
#define CPU_KERNEL_NMS_FIXED cpu_nms_fixed
#define CPU_KERNEL_SMOOTH_L1 cpu_smooth_l1
#define CPU_KERNEL_SMOOTH_L1_BWD cpu_smooth_l1_bwd
#define CPU_KERNEL_BOX_IOU cpu_box_iou
#define CPU_KERNEL_BOX_ENCODE cpu_box_encode
#define CPU_KERNEL_BOX_DECODE cpu_box_decode
#define CPU_KERNEL_GATHER cpu_gather
#define CPU_KERNEL_GIOU_LOSS cpu_giou_loss
#define CPU_KERNEL_GIOU_LOSS_BWD cpu_giou_loss_bwd
#define CPU_KERNEL_GRAD_NORM_ACC cpu_grad_norm_acc
#define CPU_KERNEL_GRAD_CLIP_NORM cpu_grad_clip_norm
#define CPU_KERNEL_GRAD_CLIP_VALUE cpu_grad_clip_value
#define CPU_KERNEL_LAMB_UPDATE cpu_lamb
#define CPU_KERNEL_SIGMOID_BCE cpu_sigmoid_bce
#define CPU_KERNEL_SIGMOID_BCE_BWD cpu_sigmoid_bce_bwd
#define CPU_KERNEL_RCNN_TARGETS cpu_rcnn_targets
#define CPU_KERNEL_ANCHOR_DECODE cpu_anchor_decode
#define CPU_KERNEL_SOFTMAX_CE_MASKED cpu_softmax_ce_masked
#define CPU_KERNEL_SOFTMAX_CE_MASKED_BWD cpu_softmax_ce_masked_bwd
#define CPU_KERNEL_CLASS_BOX_TARGETS cpu_class_box_targets
#define CPU_KERNEL_ACCURACY_MASKED cpu_accuracy_masked
#define CPU_KERNEL_RELAYOUT cpu_relayout

/* One row per op, in ops.def's (the opcode's) order. */
static const cpu_kernel_fn kernels[] = {
#define TGC_OP(E, name, n_in, n_out, attrs, mutates, flags) CPU_KERNEL_##E,
#include "ir/ops.def"
#undef TGC_OP
};
_Static_assert(sizeof kernels / sizeof kernels[0] == TGC_OP_COUNT,
               "backend/cpu: the kernel table needs exactly one row per op of ir/ops.def");

int tgc_cpu_supports_op(tgc_opcode code) { return (unsigned)code < TGC_OP_COUNT && kernels[code] != NULL; }

tgc_cpu *tgc_cpu_new(int n_threads, int deterministic, tgc_err *err) {
    tgc_cpu *c = tgc_calloc(1, sizeof *c);
    c->n_threads = n_threads > 0 ? n_threads : tgc_default_threads();
    c->deterministic = deterministic != 0;
    c->bf16_conv = cpu_bf16_conv_fast();
    /* oneDNN (Debian's build) runs on libgomp, which it loads; its thread count is set through
     * omp_set_num_threads, looked up at run time so that the backend also builds without OpenMP (CMake
     * compiles it with -fopenmp where the compiler has it; cpu_threads.c then uses a pthread pool). */
    void *sym = dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    *(void **)&c->omp_set_num_threads = sym;
    dnnl_status_t s = dnnl_engine_create(&c->eng, dnnl_cpu, 0);
    if (s == dnnl_success) s = dnnl_stream_create(&c->strm, c->eng, dnnl_stream_default_flags);
    if (s != dnnl_success) {
        tgc_fail(err, "cpu backend: cannot create the oneDNN CPU engine/stream: %s", cpu_dnnl_status(s));
        tgc_cpu_free(c);
        return NULL;
    }
    c->pool = cpu_pool_new(c->n_threads);
    return c;
}

void tgc_cpu_free(tgc_cpu *c) {
    if (!c) return;
    cpu_cache_clear(c);
    free(c->scratch);
    free(c->wide);
    cpu_pool_free(c->pool);
    if (c->strm) dnnl_stream_destroy(c->strm);
    if (c->eng) dnnl_engine_destroy(c->eng);
    free(c);
}

int tgc_cpu_threads(const tgc_cpu *c) { return c->n_threads; }
int tgc_cpu_cache_size(const tgc_cpu *c) { return c->n_cache; }
void tgc_cpu_set_deterministic(tgc_cpu *c, int deterministic) { c->deterministic = deterministic != 0; }

/* ---- low precision ------------------------------------------------------------------------------ */
/* Whether op `code`'s kernel takes operands and results of the low-precision float dtype t itself; every
 * other op with a bf16/f16 operand or result runs through exec_widened. */
static int native_low(tgc_opcode code, tgc_dtype t) {
    switch (code) {
    case TGC_OP_CAST:
    case TGC_OP_FILL:
    case TGC_OP_RESHAPE: return 1;
    default: return cpu_native_low_dtype(code, t);
    }
}

static int needs_widening(const cpu_call *k) {
    for (int i = 0; i < k->n_in + k->n_out; i++) {
        tgc_dtype t = i < k->n_in ? k->in_t[i].dtype : k->out_t[i - k->n_in].dtype;
        if ((t == TGC_BF16 || t == TGC_F16) && !native_low(k->code, t)) return 1;
    }
    return 0;
}

/* Runs a kernel that computes in f32 on low-precision tensors: each bf16/f16 operand is converted into an
 * f32 copy, the kernel runs on the copies, each bf16/f16 result is rounded back (to nearest even). The
 * result is the f32 computation rounded once, which is what a native low-precision kernel accumulating in
 * f32 gives too (float16 on these CPUs always goes this way: they have no fast float16 arithmetic). */
static int exec_widened(tgc_cpu *c, const cpu_call *k, cpu_kernel_fn fn, tgc_err *err) {
    int n = k->n_in + k->n_out;
    tgc_type ty[TGC_MAX_IN + TGC_MAX_OUT];
    void *ptr[TGC_MAX_IN + TGC_MAX_OUT];
    size_t off[TGC_MAX_IN + TGC_MAX_OUT], total = 0;
    for (int i = 0; i < n; i++) {
        ty[i] = i < k->n_in ? k->in_t[i] : k->out_t[i - k->n_in];
        ptr[i] = i < k->n_in ? k->in[i] : k->out[i - k->n_in];
        off[i] = total;
        if (ty[i].dtype == TGC_BF16 || ty[i].dtype == TGC_F16)
            total += ((size_t)tgc_shape_numel(&ty[i].shape) * sizeof(float) + 63) & ~(size_t)63;
    }
    if (total > c->wide_cap) {
        free(c->wide);
        c->wide = aligned_alloc(64, total);
        c->wide_cap = c->wide ? total : 0;
        if (!c->wide) return tgc_fail(err, "cpu backend: %s: cannot allocate %zu bytes to widen to f32", k->name, total);
    }
    void *wptr[TGC_MAX_IN + TGC_MAX_OUT];
    for (int i = 0; i < n; i++) {
        wptr[i] = ptr[i];
        if (ty[i].dtype != TGC_BF16 && ty[i].dtype != TGC_F16) continue;
        wptr[i] = (char *)c->wide + off[i];
        if (i < k->n_in) cpu_cast_parallel(c, ptr[i], ty[i].dtype, wptr[i], TGC_F32, tgc_shape_numel(&ty[i].shape));
        ty[i].dtype = TGC_F32;
    }
    cpu_call w = *k;
    w.in_t = ty, w.out_t = ty + k->n_in, w.in = wptr, w.out = wptr + k->n_in;
    if (fn(c, &w, err) < 0) return -1;
    for (int i = k->n_in; i < n; i++) {
        const tgc_type *orig = &k->out_t[i - k->n_in];
        if (orig->dtype == TGC_BF16 || orig->dtype == TGC_F16)
            cpu_cast_parallel(c, wptr[i], TGC_F32, ptr[i], orig->dtype, tgc_shape_numel(&orig->shape));
    }
    return 0;
}

/* The layout guard: an operand or result may be NHWC only where the op's layout rule allows it (a
 * rank-4 operand/result in tgc_op_layout_io's masks), and the masked rank-4 ones share one layout
 * (relayout's operand and result differ: its kernel checks that). A plan that breaks this would compute
 * in the wrong layout without an error; it is refused, naming the op and the operand. */
static int check_layouts(const cpu_call *k, tgc_err *err) {
    const tgc_type *t[TGC_MAX_IN + TGC_MAX_OUT];
    for (int s = 0; s < k->n_in + k->n_out; s++) t[s] = s < k->n_in ? &k->in_t[s] : &k->out_t[s - k->n_in];
    int at, first, nhwc;
    tgc_layout_fault f = tgc_op_layout_fault(k->code, t, k->n_in, k->n_out, &at, &first, &nhwc);
    if (f == TGC_LAYOUT_FAULT_NONE) return 0;
    const char *what = at >= k->n_in ? "result" : "operand";
    const int i = at >= k->n_in ? at - k->n_in : at;
    if (f == TGC_LAYOUT_FAULT_BAD)
        return tgc_fail(err, "cpu backend: %s: %s %d has an invalid layout %d", k->name, what, i, (int)t[at]->layout);
    if (f == TGC_LAYOUT_FAULT_UNMASKED)
        return tgc_fail(err, "cpu backend: %s: %s %d is %s, but the op takes it only row-major "
                        "(ir/ops.c layout_rules)", k->name, what, i, tgc_layout_name(t[at]->layout));
    return tgc_fail(err, "cpu backend: %s: %s %d is %s but %s %d is %s (the op's activation operands "
                    "and results share one layout)", k->name, what, i, tgc_layout_name(t[at]->layout),
                    first >= k->n_in ? "result" : "operand", first >= k->n_in ? first - k->n_in : first,
                    tgc_layout_name(t[first]->layout));
}

int tgc_cpu_exec(tgc_cpu *c, tgc_opcode code, const tgc_attrs *a, int n_in, const tgc_type *in_t,
                 void *const *in, int n_out, const tgc_type *out_t, void *const *out, tgc_err *err) {
    if (!c) return tgc_fail(err, "cpu backend: no context");
    if ((unsigned)code >= TGC_OP_COUNT) return tgc_fail(err, "cpu backend: unknown opcode %d", (int)code);
    if (!kernels[code]) return tgc_fail(err, "cpu backend: %s is not supported on the CPU", op_rows[code].name);
    const char *name = op_rows[code].name;
    if (n_in != op_rows[code].n_in || n_out != op_rows[code].n_out)
        return tgc_fail(err, "cpu backend: %s: expected %d operands and %d results, got %d and %d", name,
                        op_rows[code].n_in, op_rows[code].n_out, n_in, n_out);
    if (!a) return tgc_fail(err, "cpu backend: %s: no attributes", name);
    for (int i = 0; i < n_in; i++) {
        if ((unsigned)in_t[i].dtype >= TGC_DTYPE_COUNT || in_t[i].shape.rank < 0 ||
            in_t[i].shape.rank > TGC_MAX_RANK)
            return tgc_fail(err, "cpu backend: %s: operand %d has an invalid type", name, i);
        for (int d = 0; d < in_t[i].shape.rank; d++)
            if (in_t[i].shape.d[d] < 0)
                return tgc_fail(err, "cpu backend: %s: operand %d has a negative dimension", name, i);
        if (!in[i] && tgc_shape_numel(&in_t[i].shape) > 0)
            return tgc_fail(err, "cpu backend: %s: operand %d has no data", name, i);
    }
    for (int i = 0; i < n_out; i++) {
        if ((unsigned)out_t[i].dtype >= TGC_DTYPE_COUNT || out_t[i].shape.rank < 0 ||
            out_t[i].shape.rank > TGC_MAX_RANK)
            return tgc_fail(err, "cpu backend: %s: result %d has an invalid type", name, i);
        for (int d = 0; d < out_t[i].shape.rank; d++)
            if (out_t[i].shape.d[d] < 0)
                return tgc_fail(err, "cpu backend: %s: result %d has a negative dimension", name, i);
        if (!out[i] && tgc_shape_numel(&out_t[i].shape) > 0)
            return tgc_fail(err, "cpu backend: %s: result %d has no data", name, i);
    }
    /* Pin oneDNN's thread count on the calling thread (an OpenMP setting is per thread). */
    if (c->omp_set_num_threads) c->omp_set_num_threads(c->n_threads);
    cpu_call k = {code, name, a, n_in, n_out, in_t, out_t, in, out};
    if (check_layouts(&k, err)) return -1;
    if (needs_widening(&k)) return exec_widened(c, &k, kernels[code], err);
    return kernels[code](c, &k, err);
}

/* ---- checks shared by the kernels ----------------------------------------------------------------- */
static const tgc_type *type_of(const cpu_call *k, int is_out, int i) { return is_out ? &k->out_t[i] : &k->in_t[i]; }

int cpu_check_dtype(const cpu_call *k, int is_out, int i, tgc_dtype want, tgc_err *err) {
    const tgc_type *t = type_of(k, is_out, i);
    if (t->dtype != want)
        return tgc_fail(err, "cpu backend: %s: %s %d is %s, expected %s", k->name, is_out ? "result" : "operand",
                        i, tgc_dtype_name(t->dtype), tgc_dtype_name(want));
    return 0;
}

int cpu_check_rank(const cpu_call *k, int is_out, int i, int rank, tgc_err *err) {
    const tgc_type *t = type_of(k, is_out, i);
    if (t->shape.rank != rank) {
        char b[128];
        tgc_shape_str(&t->shape, b, sizeof b);
        return tgc_fail(err, "cpu backend: %s: %s %d has shape %s, expected rank %d", k->name,
                        is_out ? "result" : "operand", i, b, rank);
    }
    return 0;
}

int cpu_check_same_shape(const cpu_call *k, int is_out_a, int ia, int is_out_b, int ib, tgc_err *err) {
    const tgc_type *a = type_of(k, is_out_a, ia), *b = type_of(k, is_out_b, ib);
    if (!tgc_shape_eq(&a->shape, &b->shape)) {
        char sa[128], sb[128];
        tgc_shape_str(&a->shape, sa, sizeof sa);
        tgc_shape_str(&b->shape, sb, sizeof sb);
        return tgc_fail(err, "cpu backend: %s: %s %d %s and %s %d %s differ in shape", k->name,
                        is_out_a ? "result" : "operand", ia, sa, is_out_b ? "result" : "operand", ib, sb);
    }
    return 0;
}

int cpu_check_all_float(const cpu_call *k, tgc_dtype *dt, tgc_err *err) {
    tgc_dtype t = k->n_in ? k->in_t[0].dtype : k->out_t[0].dtype;
    if (t != TGC_F32 && t != TGC_BF16)
        return tgc_fail(err, "cpu backend: %s: operand 0 is %s, expected f32 or bf16", k->name, tgc_dtype_name(t));
    for (int i = 0; i < k->n_in; i++)
        if (cpu_check_dtype(k, 0, i, t, err)) return -1;
    for (int i = 0; i < k->n_out; i++)
        if (cpu_check_dtype(k, 1, i, t, err)) return -1;
    *dt = t;
    return 0;
}

dnnl_data_type_t cpu_dnnl_dt(tgc_dtype t) {
    switch (t) {
    case TGC_BF16: return dnnl_bf16;
    case TGC_F16: return dnnl_f16;
    case TGC_I32: return dnnl_s32;
    case TGC_U8: return dnnl_u8;
    default: return dnnl_f32;
    }
}

int cpu_check_all_f32(const cpu_call *k, tgc_err *err) {
    for (int i = 0; i < k->n_in; i++)
        if (cpu_check_dtype(k, 0, i, TGC_F32, err)) return -1;
    for (int i = 0; i < k->n_out; i++)
        if (cpu_check_dtype(k, 1, i, TGC_F32, err)) return -1;
    return 0;
}
