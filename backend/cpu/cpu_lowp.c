/* backend/cpu/cpu_lowp.c - which kernels take bf16/f16 tensors natively (mixed precision).
 *
 * bf16: convolution (forward, backward data and weights) and matmul through oneDNN. Matmul uses its bf16
 * primitive. Convolution uses the bf16 one only on CPUs with AMX: with AVX512-BF16 alone, oneDNN 2.6's bf16
 * convolutions (jit_bf16) were measured at 1.1-2x the time of its f32 ones on the ResNet shapes (16-64
 * channels), so there an f32 primitive runs on the bf16 tensors, converted by its layout reorders. Batch norm's training loops load
 * each row of x/dy into f32 and store y/dx rounded (bf16 and f16; statistics f32). Every other op with a bf16 or f16
 * operand runs its f32 kernel on f32 copies (cpu_ctx.c, exec_widened), and so does everything in f16:
 * these CPUs have no fast float16 arithmetic, and f16 exists for parity with GPU plans and loss scaling.
 * The fused elementwise groups load and store bf16/f16 themselves (cpu_fused.c). Float16 loss scaling's
 * finite check and unscale of the gradient slab: tgc_cpu_grad_unscale. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_internal.h"

int cpu_bf16_conv_fast(void) {
    const char *e = getenv("TGC_CPU_BF16_CONV");
    if (e && (!strcmp(e, "0") || !strcmp(e, "1"))) return e[0] == '1';
    if (e && e[0]) fprintf(stderr, "tgc: warning: TGC_CPU_BF16_CONV=%s is not 0 or 1; ignored\n", e);
    return dnnl_get_effective_cpu_isa() == dnnl_cpu_isa_avx512_core_amx;
}

int tgc_cpu_grad_unscale(float *g, size_t n, float inv) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(g[i])) return 1;
    for (size_t i = 0; i < n; i++) g[i] *= inv; /* x * (1/scale), as GradScaler's unscale_ */
    return 0;
}

int cpu_native_low_dtype(tgc_opcode code, tgc_dtype t) {
    switch (code) { /* own loops that load rows into f32 and store them rounded: bf16 and f16 */
    case TGC_OP_BN_TRAIN:
    case TGC_OP_BN_TRAIN_RELU:
    case TGC_OP_BN_BWD:
    case TGC_OP_BN_RELU_BWD:
    case TGC_OP_RELAYOUT: return 1; /* moves elements, any width */
    default: break;
    }
    if (t != TGC_BF16) return 0;
    switch (code) {
    case TGC_OP_CONV2D:
    case TGC_OP_CONV2D_BWD_DATA:
    case TGC_OP_CONV2D_BWD_FILTER:
    case TGC_OP_MATMUL: return 1;
    default: return 0;
    }
}
