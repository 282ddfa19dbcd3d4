/* backend/cuda/kernels/reduce.cuh - global average pooling (forward, backward) and bias_grad, as
 * backend/cpu/cpu_misc.c: sums accumulated in double and rounded once to float (only their order differs
 * from the CPU's sequential one), the pooling backward elementwise in float (equal bit for bit).
 * bf16/f16 data (mixed-precision plans; the args' dtype) is read as float and a bf16/f16 result rounded once
 * from the float result, as the CPU runs these ops on f32 copies. Deterministic: fixed reduction trees, no
 * atomics. */
#ifndef TGC_CUDA_KERNELS_REDUCE_CUH
#define TGC_CUDA_KERNELS_REDUCE_CUH

#include "backend/cuda/kernels/convert.cuh"
#include "backend/cuda/kernels/kcommon.cuh"

/* y[p] = mean of plane p of x, one warp per plane (geometry: tgc_k_geom_warp_rows(planes)). */
TGC_KERNEL(tgc_k_global_avg_pool, tgc_k_gap_args, a, TGC_K_THREADS) {
    const unsigned lane = threadIdx.x & 31u;
    const int64_t warps = (int64_t)gridDim.x * (blockDim.x >> 5);
    for (int64_t p = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); p < a.planes; p += warps) {
        double s = 0;
        for (int64_t i = lane; i < a.inner; i += 32) s += tgc_k_ldf(a.x, a.dtype, p * a.inner + i);
        s = tgc_k_warp_sum(s);
        if (lane == 0) tgc_k_stf(a.y, a.dtype, p, (float)__ddiv_rn(s, (double)a.inner));
    }
}

/* dx[p*inner + i] = dy[p] / inner in float (NHWC dx: kargs.h's plane index; geometry:
 * tgc_k_geom_elems(planes * inner)). */
TGC_KERNEL(tgc_k_global_avg_pool_bwd, tgc_k_gap_args, a, TGC_K_THREADS) {
    const int64_t n = a.planes * a.inner;
    const float div = (float)a.inner;
    for (int64_t i = tgc_k_gtid(); i < n; i += tgc_k_gstride())
        tgc_k_stf(a.y, a.dtype, i, __fdiv_rn(tgc_k_ldf(a.x, a.dtype, tgc_k_plane_of(i, a.inner, a.ch)), div));
}

/* channel_mul: y[i] = x[i] * g[plane of i] in float, NCHW or NHWC (geometry: tgc_k_geom_elems(planes * inner)). */
TGC_KERNEL(tgc_k_channel_mul, tgc_k_chmul_args, a, TGC_K_THREADS) {
    const int64_t n = a.planes * a.inner;
    for (int64_t i = tgc_k_gtid(); i < n; i += tgc_k_gstride())
        a.y[i] = __fmul_rn(a.a[i], a.b[tgc_k_plane_of(i, a.inner, a.ch)]);
}

/* channel_mul_grad_gate: y[p] = sum over plane p of dy * x (a = dy, b = x) in double, one warp per plane
 * (geometry: tgc_k_geom_warp_rows(planes)). */
TGC_KERNEL(tgc_k_channel_mul_grad_gate, tgc_k_chmul_args, a, TGC_K_THREADS) {
    const unsigned lane = threadIdx.x & 31u;
    const int64_t warps = (int64_t)gridDim.x * (blockDim.x >> 5);
    for (int64_t p = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); p < a.planes; p += warps) {
        const float *dy = a.a + p * a.inner, *x = a.b + p * a.inner;
        double s = 0;
        for (int64_t i = lane; i < a.inner; i += 32) s = __dadd_rn(s, __dmul_rn((double)dy[i], (double)x[i]));
        s = tgc_k_warp_sum(s);
        if (lane == 0) a.y[p] = (float)s;
    }
}

/* db[c] for inner >= 32: one block per channel (grid-stride over channels), the block's threads walking the
 * channel's outer*inner elements row by row, (o, i) advanced without a division per element
 * (geometry: tgc_k_geom_bias_grad). */
TGC_KERNEL(tgc_k_bias_grad_planes, tgc_k_bias_grad_args, a, TGC_K_THREADS) {
    TGC_SHARED(double, sh, 32);
    const int64_t nt = blockDim.x, step_o = nt / a.inner, step_i = nt % a.inner;
    for (int64_t c = blockIdx.x; c < a.ch; c += gridDim.x) {
        int64_t o = threadIdx.x / a.inner, i = threadIdx.x % a.inner;
        double s = 0;
        while (o < a.outer) {
            s += tgc_k_ldf(a.dy, a.dtype, (o * a.ch + c) * a.inner + i);
            o += step_o, i += step_i;
            if (i >= a.inner) i -= a.inner, o++;
        }
        s = tgc_k_block_sum(s, sh);
        if (threadIdx.x == 0) a.db[c] = (float)s;
    }
}

/* db[c] for inner < 32 (a linear layer's [N, C] is inner 1): blocks of 32 x 8 threads, x along 32
 * channels (coalesced), y one of 8 row groups each summing its rows in order; then the 8 partial sums in
 * order (geometry: tgc_k_geom_bias_grad). */
TGC_KERNEL(tgc_k_bias_grad_cols, tgc_k_bias_grad_args, a, TGC_K_THREADS) {
    TGC_SHARED(double, sh, TGC_K_THREADS);
    for (int64_t c0 = (int64_t)blockIdx.x * 32; c0 < a.ch; c0 += (int64_t)gridDim.x * 32) {
        const int64_t c = c0 + threadIdx.x;
        double s = 0;
        if (c < a.ch)
            for (int64_t o = threadIdx.y; o < a.outer; o += blockDim.y) {
                const int64_t row = (o * a.ch + c) * a.inner;
                for (int64_t i = 0; i < a.inner; i++) s += tgc_k_ldf(a.dy, a.dtype, row + i);
            }
        sh[threadIdx.y * 32 + threadIdx.x] = s;
        __syncthreads();
        if (threadIdx.y == 0 && c < a.ch) {
            double t = 0;
            for (unsigned k = 0; k < blockDim.y; k++) t += sh[k * 32 + threadIdx.x];
            a.db[c] = (float)t;
        }
        __syncthreads();
    }
}

#endif
