/* backend/cuda/kernels/pool.cuh - max_pool2d_bwd as backend/cpu/cpu_pooling.c's max_bwd_planes: each
 * window's dy goes to the first maximum of the window (row-major; a NaN wins, the last NaN if several),
 * found by re-scanning x. The CPU scatters window by window into a zeroed dx; here one thread per dx element
 * gathers: it walks the windows containing its element in the same (row-major) order, re-finds each one's
 * maximum and adds the window's dy when the maximum is its element. The additions happen in the CPU's order
 * from the same zero, so dx is equal bit for bit, without atomics. bf16/f16 data (mixed-precision plans) is
 * read as float and dx rounded once, as the CPU runs the op on f32 copies. */
#ifndef TGC_CUDA_KERNELS_POOL_CUH
#define TGC_CUDA_KERNELS_POOL_CUH

#include "backend/cuda/kernels/convert.cuh"
#include "backend/cuda/kernels/kcommon.cuh"

/* The offset in its plane of the first maximum of window (oh, ow), as the CPU scans it; the plane's pixels
 * are ps elements apart (1: NCHW; C: NHWC). */
TGC_K_DEV int32_t tgc_k_window_argmax(const void *x, int32_t dt, int64_t base, int64_t ps, int32_t oh, int32_t ow,
                                      int32_t h, int32_t w, int32_t kh, int32_t kw, int32_t sh, int32_t sw, int32_t pt,
                                      int32_t pl) {
    const int32_t h0 = tgc_k_max32(oh * sh - pt, 0), h1 = tgc_k_min32(oh * sh - pt + kh, h);
    const int32_t w0 = tgc_k_max32(ow * sw - pl, 0), w1 = tgc_k_min32(ow * sw - pl + kw, w);
    int32_t best = h0 * w + w0;
    float m = -INFINITY;
    for (int32_t ih = h0; ih < h1; ih++)
        for (int32_t iw = w0; iw < w1; iw++) {
            float v = tgc_k_ldf(x, dt, base + (int64_t)(ih * w + iw) * ps);
            if (v > m || isnan(v)) {
                m = v;
                best = ih * w + iw;
            }
        }
    return best;
}

/* geometry: tgc_k_geom_planes(planes, h * w). NHWC data (a.ch = C, a.planes = N): grid y along the images, x
 * along an image's h*w*C elements with the channel fastest (neighbouring threads read neighbouring channels of
 * each window position); plane (n, c) starts at element n*h*w*C + c of x and dx (n*ho*wo*C + c of dy), its
 * pixels C apart. */
TGC_KERNEL(tgc_k_max_pool2d_bwd, tgc_k_maxpool_bwd_args, a, TGC_K_THREADS) {
    const int32_t h = a.h, w = a.w, hw = a.h * a.w, how = a.ho * a.wo, ps = a.ch ? a.ch : 1, per = hw * ps;
    for (int64_t p = blockIdx.y; p < a.planes; p += gridDim.y) {
        for (int32_t e = blockIdx.x * blockDim.x + threadIdx.x; e < per; e += gridDim.x * blockDim.x) {
            const int32_t q = a.ch ? e / ps : e, c = a.ch ? e - q * ps : 0;
            const int64_t xb = p * per + c, yb = p * (int64_t)how * ps + c;
            const int32_t ih = q / w, iw = q - ih * w;
            /* windows (oh, ow) with oh*sh - pt <= ih < oh*sh - pt + kh, and likewise along w */
            const int32_t ry = ih + a.pt, rx = iw + a.pl;
            const int32_t oh0 = ry >= a.kh ? (ry - a.kh) / a.sh + 1 : 0, oh1 = tgc_k_min32(ry / a.sh, a.ho - 1);
            const int32_t ow0 = rx >= a.kw ? (rx - a.kw) / a.sw + 1 : 0, ow1 = tgc_k_min32(rx / a.sw, a.wo - 1);
            float acc = 0.f;
            for (int32_t oh = oh0; oh <= oh1; oh++)
                for (int32_t ow = ow0; ow <= ow1; ow++)
                    if (tgc_k_window_argmax(a.x, a.dtype, xb, ps, oh, ow, h, w, a.kh, a.kw, a.sh, a.sw, a.pt, a.pl) == q)
                        acc = __fadd_rn(acc, tgc_k_ldf(a.dy, a.dtype, yb + (int64_t)(oh * a.wo + ow) * ps));
            tgc_k_stf(a.dx, a.dtype, xb + (int64_t)q * ps, acc);
        }
    }
}

#endif
