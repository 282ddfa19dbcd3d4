/* backend/cuda/kernels/layout.cuh - the kernels of NHWC (channels_last) activations that the NCHW kernels
 * cannot take by an index alone (kargs.h, "NHWC"): the per-(n, c) reductions over H*W, whose elements are C
 * apart in NHWC, and relayout on 16-bit data. The reductions sum in double, each thread one (n, c) over its
 * H*W positions in order (threads along c read consecutive addresses), rounded once to float: the CPU's
 * sequential order exactly for global_avg_pool and channel_mul_grad_gate. bf16/f16 data is read as float and
 * a bf16/f16 result rounded once, as the NCHW kernels do. */
#ifndef TGC_CUDA_KERNELS_LAYOUT_CUH
#define TGC_CUDA_KERNELS_LAYOUT_CUH

#include "backend/cuda/kernels/convert.cuh"
#include "backend/cuda/kernels/kcommon.cuh"

/* y[n, c] = mean over h*w of x[n, h, w, c] (a.ch = C; geometry: tgc_k_geom_elems(planes)). */
TGC_KERNEL(tgc_k_global_avg_pool_nhwc, tgc_k_gap_args, a, TGC_K_THREADS) {
    for (int64_t p = tgc_k_gtid(); p < a.planes; p += tgc_k_gstride()) {
        const int64_t n = p / a.ch, c = p - n * a.ch, base = n * a.inner * a.ch + c;
        double s = 0;
        for (int64_t i = 0; i < a.inner; i++) s = __dadd_rn(s, (double)tgc_k_ldf(a.x, a.dtype, base + i * a.ch));
        tgc_k_stf(a.y, a.dtype, p, (float)__ddiv_rn(s, (double)a.inner));
    }
}

/* dg[n, c] = sum over h*w of dy * x at [n, h, w, c] (a = dy, b = x, a.ch = C; geometry:
 * tgc_k_geom_elems(planes)). */
TGC_KERNEL(tgc_k_channel_mul_grad_gate_nhwc, tgc_k_chmul_args, a, TGC_K_THREADS) {
    for (int64_t p = tgc_k_gtid(); p < a.planes; p += tgc_k_gstride()) {
        const int64_t n = p / a.ch, c = p - n * a.ch, base = n * a.inner * a.ch + c;
        double s = 0;
        for (int64_t i = 0; i < a.inner; i++) {
            const int64_t k = base + i * a.ch;
            s = __dadd_rn(s, __dmul_rn((double)a.a[k], (double)a.b[k]));
        }
        a.y[p] = (float)s;
    }
}

/* y[n, r, i] = x[n, i, r] on 16-bit elements, tgc_k_transpose's 32 x 32 tiles (geometry:
 * tgc_k_geom_transpose(n, a, b)). A copy: equal bit for bit. */
TGC_KERNEL(tgc_k_transpose16, tgc_k_tr16_args, a, TGC_K_THREADS) {
    TGC_SHARED(uint16_t, tile, 32 * 33);
    const int64_t ta = (a.a + 31) / 32, tb = (a.b + 31) / 32, plane = a.a * a.b;
    for (int64_t n = blockIdx.z; n < a.n; n += gridDim.z) {
        const uint16_t *x = a.x + n * plane;
        uint16_t *y = a.y + n * plane;
        for (int64_t ti = blockIdx.y; ti < ta; ti += gridDim.y)
            for (int64_t tr = blockIdx.x; tr < tb; tr += gridDim.x) {
                const int64_t i0 = ti * 32, r0 = tr * 32;
                for (unsigned k = threadIdx.y; k < 32; k += blockDim.y) {
                    const int64_t i = i0 + k, r = r0 + threadIdx.x;
                    if (i < a.a && r < a.b) tile[k * 33 + threadIdx.x] = x[i * a.b + r];
                }
                __syncthreads();
                for (unsigned k = threadIdx.y; k < 32; k += blockDim.y) {
                    const int64_t r = r0 + k, i = i0 + threadIdx.x;
                    if (i < a.a && r < a.b) y[r * a.a + i] = tile[threadIdx.x * 33 + k];
                }
                __syncthreads();
            }
    }
}

#endif
