/* backend/cpu/cpu_kernels.h - the CPU kernel library: executes every op of ir/ops.def on host memory.
 *
 * What runs where:
 *   oneDNN (engine + stream per tgc_cpu): conv2d and both its backward passes, batch norm eval, max/avg
 *     pooling forward (and avg backward when oneDNN's divisor matches PyTorch's), relu/tanh/sigmoid forward
 *     and backward, matmul (every trans_a/trans_b combination, through strides).
 *   own threaded loops (cpu_threads.c: on oneDNN's OpenMP thread team, static partitioning): batch norm
 *     training forward and backward (cpu_bn.c), bias_add, bias_grad, add, scale, global_avg_pool (+bwd),
 *     channel_mul and channel_mul_grad_gate (squeeze-excitation), softmax_cross_entropy_soft (+bwd),
 *     softmax_cross_entropy (+bwd), fill, cast, reshape, the optimizer updates, max_pool2d_bwd and the
 *     avg-pool cases oneDNN's divisor does not cover (see cpu_pooling.c).
 *
 * Layout: every tensor is contiguous, NCHW for 4-D activations (or NHWC, stored [N,H,W,C], where the op's
 * layout rule allows it: tgc_type.layout, ir/ops.c layout_rules), OIHW for conv weights, row-major 2-D for
 * matmul. Compute ops take f32; cast converts between all dtypes (f32, f16, bf16, i32, i64, u8), fill and
 * reshape accept any dtype.
 *
 * Determinism: every reduction in the own loops is computed per output element in a fixed order (per
 * channel for bias_grad, per row for the loss, then rows summed in order; pooling loops own whole planes),
 * so own-loop results do not depend on the thread count at all; oneDNN's primitives are deterministic
 * for a fixed thread count, which tgc_cpu_exec pins (omp_set_num_threads) on every call. Every path is
 * therefore already deterministic, and the `deterministic` flag is recorded but changes nothing today
 * (it is where a future non-deterministic fast path would be switched off).
 *
 * max_pool2d_bwd routes dy to the first maximum of each window (PyTorch's tie rule) with an own loop that
 * re-scans x, instead of oneDNN's backward, which would need a forward workspace the IR does not carry.
 *
 * Performance note: oneDNN here runs on libgomp, whose idle threads spin; on an oversubscribed machine
 * (more runnable threads than cores) start the process with OMP_WAIT_POLICY=passive, which libgomp reads
 * only at load time.
 *
 * Threading: a tgc_cpu is not thread-safe; use one per executing thread.
 */
#ifndef TGC_BACKEND_CPU_KERNELS_H
#define TGC_BACKEND_CPU_KERNELS_H

#include "common/util.h"
#include "ir/ir.h"

/* oneDNN engine + stream, thread pool and count, deterministic flag, primitive cache. Opaque. */
typedef struct tgc_cpu tgc_cpu;

/* n_threads 0: OMP_NUM_THREADS if set, else the online cores. Returns NULL with a message in err if
 * oneDNN cannot create its CPU engine or stream. */
tgc_cpu *tgc_cpu_new(int n_threads, int deterministic, tgc_err *err);
void tgc_cpu_free(tgc_cpu *c); /* NULL is fine */

/* Runs one op: in[i] / out[i] point at tensor data whose types are in_t[i] / out_t[i] (NCHW,
 * contiguous). Mutated operands (ops.def's mutates bits: BN running stats, optimizer parameters and
 * state) are updated in place through in[i]. Primitives are created on first use and cached by
 * (opcode, types, attributes), so a training loop pays creation once.
 * Operand counts, dtypes and shapes are checked against the op's rule; a mismatch returns -1 with one
 * message naming the op and the offending operand. Returns 0 on success. */
int tgc_cpu_exec(tgc_cpu *c, tgc_opcode code, const tgc_attrs *a, int n_in, const tgc_type *in_t,
                 void *const *in, int n_out, const tgc_type *out_t, void *const *out, tgc_err *err);

/* Whether the CPU backend has a kernel for the op (backend/cpu/cpu_ctx.c's table, which names a kernel
 * or CPU_UNSUPPORTED for every op of ir/ops.def at build time). 0 for an opcode out of range. */
int tgc_cpu_supports_op(tgc_opcode code);

/* ---- fusion groups -------------------------------------------------------------------------------
 * Instructions that a plan marks as one group (tgc_instr.group, consecutive) can run as one kernel:
 *   elementwise groups (bias_add, add, scale, relu, tanh, sigmoid, relu_bwd, tanh_bwd, sigmoid_bwd, cast;
 *     one element count):
 *     the output is walked in chunks of 4096 elements, threads taking whole runs of chunks, and every
 *     instruction of the group is applied to a chunk before the next chunk, so values passed between
 *     them stay in cache;
 *   optimizer groups (one update op, equal attributes and lr/step operands, each tensor operand's
 *     tensors at the same offsets from the group's first one, back to back in the target's aligned
 *     slots): the op runs once over the whole range (padding included, which nothing reads).
 * Results equal running the instructions one by one (relu, add, bias_add, scale, casts and the updates
 * bit for bit; tanh and sigmoid, libm's in a group, within a few ulps of oneDNN's, and so their
 * backward ops). */
typedef struct tgc_cpu_op {
    tgc_opcode code;
    const tgc_attrs *a;
    int n_in, n_out;
    const tgc_type *in_t, *out_t;
    void *const *in, *const *out;
} tgc_cpu_op;

typedef struct tgc_cpu_fused tgc_cpu_fused;

/* Prepares n instructions for fused execution (pointers and attributes are copied; the tensors must
 * stay where they are). The instructions are a fusion group of a plan that tgc_plan_validate accepted,
 * which checks what makes a group safe to run as one kernel (one element count, overlaps only in place,
 * the optimizer layout above). Returns NULL, with the reason in why (may be NULL), when these loops do
 * not implement them: other ops, non-f32 data, operands without data. The caller then runs them one by
 * one. */
tgc_cpu_fused *tgc_cpu_fuse(const tgc_cpu_op *ops, int n, char *why, size_t why_len);
int tgc_cpu_exec_fused(tgc_cpu *c, const tgc_cpu_fused *f, tgc_err *err);
void tgc_cpu_fused_free(tgc_cpu_fused *f); /* NULL is fine */
/* How many instructions f covers, and whether it is an optimizer group (for tests and profiles). */
int tgc_cpu_fused_size(const tgc_cpu_fused *f);
int tgc_cpu_fused_is_optimizer(const tgc_cpu_fused *f);

/* Float16 loss scaling's check over a gradient slab (GradScaler's unscale_): 1 when g[0..n) holds an inf or
 * NaN (g untouched), else 0 with every element multiplied by inv in place. The CUDA kernels
 * (backend/cuda/kernels/amp.cuh) equal it bit for bit. */
int tgc_cpu_grad_unscale(float *g, size_t n, float inv);

/* The thread count in use (what n_threads resolved to). */
int tgc_cpu_threads(const tgc_cpu *c);
/* Records the deterministic flag after creation (randomness.deterministic is known once a program is
 * prepared; see the note on determinism above). */
void tgc_cpu_set_deterministic(tgc_cpu *c, int deterministic);
/* Number of cached primitives (tests check that a repeated op does not create new ones). */
int tgc_cpu_cache_size(const tgc_cpu *c);

#endif
