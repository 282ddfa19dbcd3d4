/* backend/cuda/codegen.h - CUDA source for the elementwise fusion groups of a plan (pass fuse-elementwise).
 *
 * One group (consecutive instructions of a program with one group id: bias_add, add, scale, relu, tanh,
 * relu_bwd, tanh_bwd, cast) becomes the text of one kernel
 *
 *     TGC_EXTERN_C __global__ void __launch_bounds__(256) tgc_fused_<16 hex digits>(long long n, args...)
 *
 * a grid-stride loop over the group's n elements that loads each external operand once per element, keeps
 * every value produced and consumed inside the group in a register, and stores only the group's live-out
 * results (read after the group, a program output, or not an arena temporary). bias_add's bias is read at
 * the element's channel, (i / inner) % channels, with the constants of its shape written into the text.
 *
 * The text is single-source. For NVRTC (or nvcc) it is CUDA C++: TGC_EXTERN_C is `extern "C"`, so the
 * kernel's name is unmangled. With backend/cuda/codegen_host.h included before it, the identical text is
 * C17 for the host compiler: __global__ is nothing, threadIdx/blockIdx/blockDim/gridDim are variables the
 * caller sets to walk the grid (tests/unit/test_codegen_host.c checks every group of the shipped configs
 * that way against the CPU backend). C has no `extern "C"`, which is why the text spells it TGC_EXTERN_C.
 *
 * Arithmetic is the CPU backend's, operation for operation (backend/cpu/cpu_fused.c): relu is
 * `x > 0 ? x : 0`, relu_bwd `dy * (y > 0 ? 1 : 0)`, tanh_bwd `dy * (1 - y*y)`, scale `alpha * x` with alpha
 * rounded to float, casts through the CPU's conversions (round to nearest even into f16/bf16, truncating and
 * saturating into integers). A bf16/f16 op (mixed-precision plans) is computed as the CPU's fused loop does:
 * its operands widened to float, the op in f32, the result rounded to nearest even into its dtype (registers
 * and memory hold the 16-bit pattern; bias_add's bias stays f32). Every product is written __fmul_rn, which the CUDA compiler never contracts
 * with an add into an FMA, so a device result rounds exactly as the CPU's does; tanhf is the one function
 * whose last bits differ between libraries (CUDA documents 2 ulp for its tanhf).
 *
 * The kernel's name is its hash: FNV-1a 64 of the text in which the name's 16 digits are zeros
 * (tgc_codegen_source_hash). Equal text means an equal kernel, so an executor compiles each distinct text
 * once and can keep the compiled code on disk by hash (backend/cuda/codegen_cache.h).
 *
 * Plain C without CUDA headers: built and tested in CPU-only builds too.
 */
#ifndef TGC_BACKEND_CUDA_CODEGEN_H
#define TGC_BACKEND_CUDA_CODEGEN_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "plan/plan.h"

/* Threads per block the kernels are compiled for (__launch_bounds__): launch with at most this many. */
#define TGC_CODEGEN_BLOCK 256

/* One kernel parameter after `n`, in order: a tensor of the plan. */
typedef struct tgc_codegen_arg {
    int tensor;      /* index into the plan's tensor table */
    int output;      /* 1: written (a live-out result); 0: read */
    int broadcast;   /* read at the element's channel (a bias), not at the element */
    int restricted;  /* declared __restrict__: no other argument's memory overlaps it */
    tgc_dtype dtype;
} tgc_codegen_arg;

typedef struct tgc_codegen_kernel {
    char name[32];   /* "tgc_fused_" and the hash in 16 lower-case hex digits */
    uint64_t hash;   /* tgc_codegen_source_hash(source) */
    char *source;    /* owned; the kernel's text (NUL-terminated) */
    int first, count; /* the group: instructions [first, first + count) of its program */
    int64_t numel;   /* the group's element count: the n to launch with */
    int index64;     /* the loop index is 64-bit (numel >= 2^31); else 32-bit, and the launch must keep
                        n and grid x block below 2^31 */
    int n_args;
    tgc_codegen_arg *args; /* owned */
} tgc_codegen_kernel;

/* A fusion group of a program: instructions [first, first + count), elementwise (not an optimizer group). */
typedef struct tgc_codegen_group {
    int first, count, id;
} tgc_codegen_group;

/* The elementwise fusion groups of a program, in program order (*out owned by the caller; NULL when none).
 * Returns the count. Optimizer groups (TGC_OPF_OPTIMIZER) are not listed: they are library updates. */
int tgc_codegen_groups(const tgc_program *pr, tgc_codegen_group **out);

/* Generates the kernel of instructions [first, first + count) of program pr of plan p. Fails, with the
 * instruction and the reason in err, on what it cannot generate: an op without a CUDA expression, an op
 * other than cast whose result is not f32/bf16/f16 or whose operands are not of its result's dtype (a bias:
 * f32), a bias that does not match its axis, results of different
 * element counts, or a broadcast operand whose memory overlaps a result. On success k is filled (free with
 * tgc_codegen_kernel_free). */
int tgc_codegen_group_kernel(const tgc_plan *p, const tgc_program *pr, int first, int count, tgc_codegen_kernel *k,
                             tgc_err *err);
void tgc_codegen_kernel_free(tgc_codegen_kernel *k);

/* Whether the generator has an expression for the op (every TGC_OPF_ELEMENTWISE op of ir/ops.def must). */
int tgc_codegen_supports_op(tgc_opcode code);

/* FNV-1a 64 of a kernel's text with the 16 hex digits after every "tgc_fused_" read as zeros: the hash in
 * the kernel's own name. */
uint64_t tgc_codegen_source_hash(const char *source, size_t len);
/* FNV-1a 64 of bytes, continuing from h (start with TGC_FNV_OFFSET). */
#define TGC_FNV_OFFSET 0xcbf29ce484222325ull
uint64_t tgc_codegen_fnv(uint64_t h, const void *data, size_t len);

/* A translation unit for the host check: `#include "backend/cuda/codegen_host.h"`, each kernel's text, and
 * per kernel a wrapper `void <name>_host(long long n, void *const *args)` that calls it with args in the
 * kernel's parameter order (so a caller needs one function type for every kernel). Compile it as C17
 * (-ffp-contract=off, as the CPU backend is built) with the source root on the include path. */
void tgc_codegen_host_unit(const tgc_codegen_kernel *const *k, int n, tgc_buf *out);

#endif
