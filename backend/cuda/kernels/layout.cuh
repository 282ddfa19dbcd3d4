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
TGC_KERNEL(tgc_k_transpose16, tgc_k_tr16_args, a, TGC_K_THREADS) TGC_K_TRANSPOSE_TILES(uint16_t)

#endif
