/* backend/cuda/kernels/amp.cuh - float16 loss scaling over the gradient slab (runtime/runner/loss_scale.c):
 * the finite check and the unscale that the CPU does in tgc_cpu_grad_unscale (backend/cpu/cpu_lowp.c), as two
 * launches so the unscale reads the check's answer on the device. tgc_k_nonfinite: every thread that meets an
 * inf or NaN stores 1 into *found (the same value from any thread: no atomics needed, the result does not
 * depend on scheduling); the caller zeroes it first. tgc_k_unscale: unless *found, x[i] = x[i] * inv, the
 * CPU's product (__fmul_rn), so the unscaled gradients are the CPU's bit for bit. */
#ifndef TGC_CUDA_KERNELS_AMP_CUH
#define TGC_CUDA_KERNELS_AMP_CUH

#include "backend/cuda/kernels/kcommon.cuh"

TGC_KERNEL(tgc_k_nonfinite, tgc_k_unscale_args, a, TGC_K_THREADS) {
    const float *x = (const float *)a.x;
    int32_t bad = 0;
    for (int64_t i = tgc_k_gtid(); i < a.n; i += tgc_k_gstride())
        bad |= (__float_as_uint(x[i]) & 0x7f800000u) == 0x7f800000u; /* exponent all ones: inf or NaN */
    if (bad) *a.found = 1;
}

TGC_KERNEL(tgc_k_unscale, tgc_k_unscale_args, a, TGC_K_THREADS) {
    if (*a.found) return;
    float *x = a.x;
    for (int64_t i = tgc_k_gtid(); i < a.n; i += tgc_k_gstride()) x[i] = __fmul_rn(x[i], a.inv);
}

#endif
