/* backend/cuda/cuda_ops.h - what runs each op of ir/ops.def on a GPU, decided per op at build time, and the
 * plain-C marshalling of the library calls (cuBLAS's gemm) that the GPU path (cuda_exec.c) and the CPU checks
 * share.
 *
 * The decision table (cuda_ops.c) is generated from ops.def with a CUDA_IMPL_<OP> per op and a
 * _Static_assert on its size, as backend/cpu/cpu_ctx.c's kernel table: an op added to ops.def without a CUDA
 * decision does not build. Plain C, no CUDA headers: built and tested everywhere. */
#ifndef TGC_BACKEND_CUDA_CUDA_OPS_H
#define TGC_BACKEND_CUDA_CUDA_OPS_H

#include <stdint.h>

#include "backend/cpu/cpu_kernels.h"
#include "plan/plan.h"

typedef enum tgc_cuda_impl {
    TGC_CUDA_IMPL_NONE,      /* no way to run it on a GPU yet (tgc_cuda_impl_pending says why) */
    TGC_CUDA_IMPL_CUDNN,     /* cuDNN, descriptors and graphs from backend/cuda/cudnn_plan.c */
    TGC_CUDA_IMPL_CUBLAS,    /* cuBLAS sgemm, arguments from tgc_cuda_gemm_of */
    TGC_CUDA_IMPL_KERNEL,    /* a hand-written kernel of backend/cuda/kernels (native_marshal.c) */
    TGC_CUDA_IMPL_GENERATED, /* a generated elementwise kernel (backend/cuda/codegen.c, NVRTC), alone or fused */
    TGC_CUDA_IMPL_COPY,      /* reshape: nothing when in place, else a device-to-device copy */
    TGC_CUDA_IMPL_AUX,       /* a small kernel of the executor's own (cuda_exec.c: fold_conv_bn) */
    TGC_CUDA_IMPL_COUNT
} tgc_cuda_impl;

tgc_cuda_impl tgc_cuda_impl_of(tgc_opcode code);
const char *tgc_cuda_impl_name(tgc_cuda_impl i); /* "cudnn", "cublas", "kernel", "generated", "copy", "aux" */
/* Why an op has TGC_CUDA_IMPL_NONE (the detection ops, whose kernels are not written yet), or NULL. */
const char *tgc_cuda_impl_pending(tgc_opcode code);

typedef struct tgc_cuda_decisions {
    int by_impl[TGC_CUDA_IMPL_COUNT]; /* instructions per implementation */
    int instructions, groups;         /* instructions seen; elementwise fusion groups (one generated kernel each) */
    int pending;                      /* instructions of ops with a tgc_cuda_impl_pending reason (not on the GPU yet) */
} tgc_cuda_decisions;

/* Checks that every instruction of every program of p has a CUDA implementation that takes it: a decision in
 * the table; for KERNEL, tgc_cuda_native_supports (operand types); for GENERATED, a generated kernel of its
 * fusion group (or of itself alone) is produced by backend/cuda/codegen.c; for CUBLAS, tgc_cuda_gemm_of.
 * Counts are added to *c (may be NULL). With `allow_pending`, an instruction whose op has no implementation
 * yet for a stated reason (tgc_cuda_impl_pending) is counted in c->pending instead of failing. Returns 0, or
 * -1 with the first instruction that has none (program, index, op, why). */
int tgc_cuda_check_plan(const tgc_plan *p, int allow_pending, tgc_cuda_decisions *c, tgc_err *err);

/* The launch groups of a program on a GPU: [first, first + n) is one elementwise fusion group (one generated
 * kernel), one optimizer group (multi-tensor launches), or one instruction. Returns n for the group starting
 * at instruction first. */
int tgc_cuda_group_len(const tgc_program *pr, int first);

/* matmul(a, b) -> y (row-major, op = transpose where trans_a / trans_b) as one column-major sgemm
 * C = op(A) op(B) of cuBLAS: the row-major y is the column-major y^T = op(b)^T op(a)^T, so cuBLAS's A is the
 * plan's b and its B the plan's a. */
typedef struct tgc_cuda_gemm {
    int trans_a, trans_b;         /* cuBLAS's: 1 = CUBLAS_OP_T */
    int64_t m, n, k;              /* C is m x n (column-major), op(A) m x k, op(B) k x n */
    int64_t lda, ldb, ldc;
    tgc_dtype dtype;              /* of A, B and C: f32 (cublasSgemm), or bf16/f16 (cublasGemmEx, f32 compute) */
    const void *a, *b;            /* cuBLAS's A and B */
    void *c;
} tgc_cuda_gemm;
/* The gemm of instruction o (a matmul of 2-D operands and result of one dtype: f32, bf16 or f16); -1 with err
 * when o is not one. */
int tgc_cuda_gemm_of(const tgc_cpu_op *o, tgc_cuda_gemm *g, tgc_err *err);
/* The gemm on the host, column-major as cuBLAS reads it (alpha 1, beta 0; sums in double, rounded to float and,
 * for bf16/f16, then to nearest even in the dtype): the stand-in's body of the cuBLAS call, and the check that
 * the marshalling above is right. */
void tgc_cuda_gemm_host(const tgc_cuda_gemm *g);

/* A batch norm as cuDNN's legacy calls take it (cudnnBatchNormalizationForwardTraining / ForwardInference /
 * Backward, spatial mode), marshalled from the instruction: which plan operand is cuDNN's x, y, scale, bias,
 * running or saved statistics, dy, dx, dscale, dbias. The _relu variants add a relu on y after the forward, and
 * before the backward the relu mask recomputed from x (pre = x * (gamma * invstd) + (beta - mean * gamma *
 * invstd), as the CPU does) applied to dy into `masked`. */
typedef enum tgc_cuda_bn_call { TGC_CUDA_BN_TRAIN, TGC_CUDA_BN_INFER, TGC_CUDA_BN_BACKWARD } tgc_cuda_bn_call;
typedef struct tgc_cuda_bn {
    tgc_cuda_bn_call call;
    int64_t n, c, inner;                 /* x is [n, c, inner...] */
    const float *x, *dy;                 /* dy: backward */
    float *y, *dx;
    const float *scale, *bias;           /* gamma, beta (bias: forward, and the relu mask) */
    float *running_mean, *running_var;   /* train: updated (factor = momentum); infer: read */
    float *saved_mean, *saved_invstd;    /* train: written; backward: read */
    float *dscale, *dbias;
    double eps, factor;
    tgc_dtype dtype;                     /* of x, y, dy, dx (the pointers then point at bf16/f16 data): f32, or
                                            bf16/f16 in mixed precision; the per-channel tensors are f32 */
    int relu;                            /* train: relu on y after; backward: mask dy first */
    float *masked;                       /* backward with relu: where the masked dy goes (the executor's choice) */
    int nhwc;                            /* x-shaped tensors are NHWC (rank 4): [n, inner, c] in memory */
} tgc_cuda_bn;
/* The batch norm of instruction o (batch_norm_train(_relu), _eval, _bwd, batch_norm_relu_bwd); -1 with err for
 * another op or a shape cuDNN's spatial mode does not take. masked is left NULL. */
int tgc_cuda_bn_of(const tgc_cpu_op *o, tgc_cuda_bn *b, tgc_err *err);
/* The call on the host with cuDNN's documented semantics (biased batch variance for y, unbiased for the running
 * variance, saved inverse deviation 1/sqrt(var + eps); sums in double): the stand-in's body of the cuDNN call,
 * and the check that the marshalling above is right. With relu and masked NULL it masks into its own buffer.
 * bf16/f16 data is widened, and y or dx rounded once. -1 when out of memory. */
int tgc_cuda_bn_host(const tgc_cuda_bn *b);

#endif
