/* passes/target.h - what a plan is compiled for: the device-dependent choices of the shared passes.
 *
 * `tgc compile --target cpu|cuda` picks one of the built-in targets; the passes that lay memory out
 * (buckets, fuse-optimizer, memplan) and the fusion passes read it from the module (tgc_module.target,
 * NULL meaning cpu), and the plan records it (META: target, target.alignment, target.workspace_bytes,
 * target.fuse), so a plan runs only on the device it was compiled for (tgc_plan_check_target).
 *
 *   cpu   alignment 64 B: a cache line and the widest vector (AVX-512) the CPU kernels load, and what
 *         the CPU executor's slab blocks are aligned to. No workspace: oneDNN primitives keep their own
 *         scratchpad. Fusion leaves transcendentals (TGC_OPF_TRANSCENDENTAL in ir/ops.def, as tanh) out:
 *         oneDNN's vectorised kernels beat a fused loop calling libm (LeNet-5 trained 2.4x slower with
 *         tanh in the groups; sigmoid + scale ran 2.3x slower as a group, bench/README.md).
 *   cuda  alignment 256 B: what cudaMalloc guarantees for every allocation, so each tensor in a slab is
 *         aligned as if it had been allocated on its own (above the 16 B that vectorised loads, cuBLAS and
 *         cuDNN want, and the 128 B of a memory transaction). Workspace 32 MiB: one scratch buffer that
 *         cuBLAS (cublasSetWorkspace recommends 32 MiB on Hopper, 4 MiB before) and the cuDNN convolution
 *         algorithms share, as they run one at a time on the compute stream; the executor picks the fastest
 *         algorithm that fits. Fusion includes transcendentals: a generated CUDA kernel evaluates tanhf or
 *         expf in registers, so fusing them saves the memory pass as for any other elementwise op.
 *
 * Layout (`tgc compile --layout row|nhwc`, passes/layout.c): nhwc_ok says the target's kernels implement
 * every op of the layout rules (ir/ops.c) in NHWC too; layout_default is what a compile without --layout
 * gets. cpu and cuda: NHWC allowed (every op of the rules has NHWC kernels), row-major by default.
 */
#ifndef TGC_PASSES_TARGET_H
#define TGC_PASSES_TARGET_H

#include <stdint.h>

#include "ir/ir.h"

/* Fusion policy: what fuse-elementwise may put into a group beyond the plain arithmetic ops. The bits are
 * stored in plan.bin (META target.fuse), so a bit keeps its meaning. Bit 0 was "tanh" while tanh was the
 * only transcendental op; in a plan from then it means the same. */
enum {
    TGC_FUSE_TRANSCENDENTALS = 1u << 0, /* TGC_OPF_TRANSCENDENTAL ops (tanh, ...) in groups */
    TGC_FUSE_ALL = TGC_FUSE_TRANSCENDENTALS,
};

typedef struct tgc_target {
    char name[16];            /* "cpu", "cuda": the device kind the plan runs on */
    uint32_t alignment;       /* bytes; a power of two: every tensor offset and slab size is a multiple */
    uint64_t workspace_bytes; /* scratch buffer for the device's library kernels (0: none) */
    uint32_t fuse;            /* TGC_FUSE_* */
    int nhwc_ok;              /* its kernels take every op of the layout rules (ir/ops.c) in NHWC: --layout nhwc */
    tgc_layout layout_default; /* what a compile without --layout gets (ROW for both so far) */
} tgc_target;

/* The built-in target named `name` ("cpu", "cuda"), or NULL. */
const tgc_target *tgc_target_find(const char *name);
/* The default target (cpu). */
const tgc_target *tgc_target_default(void);

#endif
