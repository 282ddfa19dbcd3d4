/* backend/cpu/cpu_internal.h - private to backend/cpu: the tgc_cpu context, the primitive cache, the
 * oneDNN argument binding helpers, the parallel loops (cpu_threads.c) and the per-op kernel entry points. */
#ifndef TGC_BACKEND_CPU_INTERNAL_H
#define TGC_BACKEND_CPU_INTERNAL_H

#include <oneapi/dnnl/dnnl.h>
#include <stdint.h>

#include "backend/cpu/cpu_kernels.h"

/* ---- one op call, as the kernels see it ---------------------------------------------------------- */
typedef struct cpu_call {
    tgc_opcode code;
    const char *name; /* the op's text-form name, for messages */
    const tgc_attrs *a;
    int n_in, n_out;
    const tgc_type *in_t, *out_t;
    void *const *in, *const *out;
} cpu_call;

typedef int (*cpu_kernel_fn)(tgc_cpu *c, const cpu_call *k, tgc_err *err);

/* ---- primitive cache ------------------------------------------------------------------------------ */
#define CPU_KEY_MAX 96
/* A cache key: the opcode, a variant tag, the operand types and the attributes the kernel depends on,
 * written explicitly (never a memcmp of structs with padding). */
typedef struct cpu_key {
    int n;
    int64_t v[CPU_KEY_MAX];
} cpu_key;

void cpu_key_init(cpu_key *k, tgc_opcode code, int variant);
void cpu_key_add(cpu_key *k, int64_t x);
void cpu_key_addf(cpu_key *k, double x); /* by bit pattern */
void cpu_key_type(cpu_key *k, const tgc_type *t);

/* One argument of a cached oneDNN primitive. `user` wraps the caller's pointer (handle set per call);
 * when the primitive wants another layout, `inner` is its own buffer and `reorder` converts between the
 * two (before the primitive for inputs, after it for outputs). slot < 0: no user pointer, `inner` only
 * (scratch results such as BN's variance). */
typedef struct cpu_arg {
    int arg, slot, is_out;
    dnnl_memory_t user, inner;
    dnnl_primitive_t reorder;
    size_t inner_offset; /* where `inner` sits in the context's scratch while the primitive runs */
} cpu_arg;

#define CPU_MAX_ARGS 12
typedef struct cpu_prim {
    cpu_key key;
    uint64_t hash;
    size_t scratch_bytes; /* the layout buffers' total, 64-byte aligned pieces */
    dnnl_primitive_t prim;
    int n_args;
    cpu_arg args[CPU_MAX_ARGS];
} cpu_prim;

/* Specification of one argument for cpu_prim_build: user_md NULL means slot < 0 (inner only). */
typedef struct cpu_argspec {
    int arg, slot, is_out;
    const dnnl_memory_desc_t *user_md;
} cpu_argspec;

/* Destroys every cached primitive. */
void cpu_cache_clear(tgc_cpu *c);
/* Finds the cached primitive for key, or NULL. */
cpu_prim *cpu_cache_find(tgc_cpu *c, const cpu_key *key);
/* Builds a primitive from pd (consumed: destroyed here on every path) and its arguments, caches it under
 * key and returns it; NULL with a message naming `what` on failure. */
cpu_prim *cpu_prim_build(tgc_cpu *c, const cpu_key *key, dnnl_primitive_desc_t pd, const cpu_argspec *spec,
                         int n, const char *what, tgc_err *err);
/* Runs p with ptrs[slot] as the user pointers; waits for completion. */
int cpu_prim_run(tgc_cpu *c, cpu_prim *p, void *const *ptrs, const char *what, tgc_err *err);
/* The data of a slot < 0 argument after a run. */
void *cpu_prim_inner(cpu_prim *p, int arg);
/* Creates a primitive descriptor, failing with oneDNN's status name and `what`. */
int cpu_pd_create(tgc_cpu *c, dnnl_primitive_desc_t *pd, const void *op_desc, const_dnnl_primitive_desc_t hint,
                  const char *what, tgc_err *err);
const char *cpu_dnnl_status(dnnl_status_t s);
/* Plain (row-major) f32 memory descriptor of a tgc shape; `groups` > 1 turns OIHW into goihw. */
int cpu_md_plain(dnnl_memory_desc_t *md, const tgc_shape *s, dnnl_data_type_t dt, tgc_err *err);
/* The memory descriptor of a tensor in its layout: plain, or oneDNN's nhwc (acdb) for an NHWC rank-4 one. */
int cpu_md_of(dnnl_memory_desc_t *md, const tgc_type *t, dnnl_data_type_t dt, tgc_err *err);

/* ---- layouts -------------------------------------------------------------------------------------- */
/* Whether t is stored channels-last: logical [N,C,H,W] at [N,H,W,C] (ir/ir.h tgc_layout). */
static inline int cpu_nhwc(const tgc_type *t) { return t->layout == TGC_LAYOUT_NHWC && t->shape.rank == 4; }
/* The split of t's storage around logical dim `axis` (0 <= axis < rank): outer * ch * inner elements,
 * element (o, c, i) at (o * ch + c) * inner + i. ROW: the dims before and after axis; NHWC: the physical
 * order N,H,W,C (channel axis 1 is innermost: outer N*H*W, inner 1). */
void cpu_axis_split(const tgc_type *t, int axis, int64_t *outer, int64_t *ch, int64_t *inner);

/* ---- threads -------------------------------------------------------------------------------------- */
/* fn(ctx, lo, hi) over [0, n) split statically into at most threads chunks of at least min_chunk
 * items; chunk i always covers the same range for a given (n, threads), the caller runs chunk 0. */
typedef void (*cpu_task_fn)(void *ctx, int64_t lo, int64_t hi);
void cpu_parallel(tgc_cpu *c, int64_t n, int64_t min_chunk, cpu_task_fn fn, void *ctx);

typedef struct cpu_pool cpu_pool;
cpu_pool *cpu_pool_new(int n_threads);
void cpu_pool_free(cpu_pool *p);

/* ---- the context ---------------------------------------------------------------------------------- */
struct tgc_cpu {
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    int n_threads, deterministic;
    int bf16_conv; /* bf16 convolutions through oneDNN's bf16 primitives (else f32 ones): cpu_bf16_conv_fast */
    void (*omp_set_num_threads)(int); /* libgomp's, found at run time (oneDNN uses the OpenMP runtime) */
    cpu_pool *pool;
    cpu_prim **cache;
    int n_cache, cap_cache;
    /* The primitives' layout buffers (blocked-format copies of operands) live only while one primitive
     * runs, and primitives run one at a time: one scratch block, as large as the largest primitive
     * needs, serves them all, instead of a buffer per cached primitive outside the plan's memory. */
    void *scratch;
    size_t scratch_cap;
    /* f32 copies of the bf16/f16 tensors of an op whose kernel computes in f32 (cpu_ctx.c) */
    void *wide;
    size_t wide_cap;
};

/* ---- checks shared by the kernels ----------------------------------------------------------------- */
int cpu_check_dtype(const cpu_call *k, int is_out, int i, tgc_dtype want, tgc_err *err);
int cpu_check_rank(const cpu_call *k, int is_out, int i, int rank, tgc_err *err);
int cpu_check_same_shape(const cpu_call *k, int is_out_a, int ia, int is_out_b, int ib, tgc_err *err);
/* Every operand and result f32. */
int cpu_check_all_f32(const cpu_call *k, tgc_err *err);
/* Every operand and result of one dtype, f32 or bf16 (the kernels with a native bf16 path); *dt gets it. */
int cpu_check_all_float(const cpu_call *k, tgc_dtype *dt, tgc_err *err);
/* oneDNN's data type of a tgc dtype. */
dnnl_data_type_t cpu_dnnl_dt(tgc_dtype t);

/* ---- kernels (one per opcode group) --------------------------------------------------------------- */
int cpu_conv2d(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_conv2d_bwd_data(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_conv2d_bwd_filter(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_bn_train(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_bn_eval(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_bn_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err);   /* and batch_norm_relu_bwd */
int cpu_fold_conv_bn(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_eltwise(tgc_cpu *c, const cpu_call *k, tgc_err *err);     /* relu, tanh, sigmoid             */
int cpu_eltwise_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err); /* relu_bwd, tanh_bwd, sigmoid_bwd */
int cpu_max_pool(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_max_pool_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_avg_pool(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_avg_pool_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_matmul(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_softmax_ce(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_softmax_ce_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_sgd(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_sgd_momentum(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_adamw(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_adam(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_rmsprop(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_ema(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_grad_norm_acc(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_grad_clip_norm(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_grad_clip_value(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_lamb(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_sigmoid_bce(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_sigmoid_bce_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_bias_add(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_bias_grad(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_add(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_scale(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_gap(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_gap_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_relayout(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_channel_mul(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_softmax_ce_soft(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_softmax_ce_soft_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_channel_mul_grad_gate(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_fill(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_cast(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_reshape(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_bn_eval_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err); /* cpu_bn.c */
/* detection (cpu_det.c) */
int cpu_upsample_nearest(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_upsample_nearest_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_to_nhwc(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_to_nchw(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_concat(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_concat_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_sigmoid_focal_loss(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_sigmoid_focal_loss_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_l1_loss_pos(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_l1_loss_pos_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err);
/* detection (cpu_det.c) */
int cpu_roi_align(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_roi_align_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_topk(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_nms_fixed(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_smooth_l1(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_smooth_l1_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_box_iou(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_box_encode(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_box_decode(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_gather(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_giou_loss(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_giou_loss_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_rcnn_targets(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_anchor_decode(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_class_box_targets(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_softmax_ce_masked(tgc_cpu *c, const cpu_call *k, tgc_err *err); /* cpu_loss.c */
int cpu_softmax_ce_masked_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err);
int cpu_accuracy_masked(tgc_cpu *c, const cpu_call *k, tgc_err *err);

/* Converts elements [lo, hi) of x (dtype tx) into y (dtype ty), as cast does (fused groups). */
void cpu_cast_range(const void *x, tgc_dtype tx, void *y, tgc_dtype ty, int64_t lo, int64_t hi);
/* Elements [off, off+n) of x (f32, bf16 or f16) into the f32 array out[0..n); and back: v[0..n) rounded
 * (to nearest even) into elements [off, off+n) of y. The low-precision loops' loads and stores. */
void cpu_load_f32(const void *x, tgc_dtype t, int64_t off, int64_t n, float *out);
void cpu_store_f32(const float *v, void *y, tgc_dtype t, int64_t off, int64_t n);
/* The same for n elements, over the context's threads. */
void cpu_cast_parallel(tgc_cpu *c, const void *x, tgc_dtype tx, void *y, tgc_dtype ty, int64_t n);

/* Whether the kernel of `code` takes bf16/f16 (t) tensors natively (oneDNN's low-precision primitives,
 * loops that load and store them); the others run on f32 copies (cpu_ctx.c). */
int cpu_native_low_dtype(tgc_opcode code, tgc_dtype t);
/* Whether oneDNN's bf16 convolutions beat f32 ones on converted operands here (TGC_CPU_BF16_CONV=0|1 decides). */
int cpu_bf16_conv_fast(void);

#endif
