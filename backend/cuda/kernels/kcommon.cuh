/* backend/cuda/kernels/kcommon.cuh - what every kernel file includes: the spellings that differ between nvcc
 * and the host shim, and the reductions the kernels share.
 *
 * The kernels are written in a subset of CUDA C that is also C17, so that one source is compiled by nvcc
 * for the GPU and by the host compiler with kshim.h for the tests (tests/unit/test_backend_cuda_kernels.c):
 *   - a kernel is TGC_KERNEL(name, ArgsType, a, TGC_K_THREADS) { ... }: one argument struct from kargs.h,
 *     passed by value, extern "C" under nvcc (its name is its symbol); never take the argument's address
 *     (nvcc would copy it to local memory) - read its fields;
 *   - device functions are TGC_K_DEV (static, inlined); no templates, overloads, references, classes,
 *     designated or compound initialisers, implicit void * conversions, C++ casts;
 *   - shared memory only through TGC_SHARED(T, name, n) at the top of a kernel, unconditionally;
 *   - threads communicate only through __syncthreads() (reached by every thread of the block) and
 *     __shfl_*_sync(0xffffffffu, v, k) (by every lane of a full warp); no atomics, no communication between
 *     blocks: results are deterministic and independent of block scheduling;
 *   - float arithmetic that must equal the CPU kernel's bit for bit is written with __fadd_rn, __fmul_rn,
 *     ... (never contracted into an FMA by nvcc, whatever --fmad says); double likewise (__dmul_rn ...);
 *   - math: expf logf sqrtf exp log log1p pow floor floorf trunc sqrt fabs ldexpf isnan isinf, INFINITY and NAN.
 */
#ifndef TGC_CUDA_KERNELS_KCOMMON_CUH
#define TGC_CUDA_KERNELS_KCOMMON_CUH

#include <math.h>
#include <stdint.h>

#include "backend/cuda/kernels/kargs.h"

#ifdef __CUDACC__
#define TGC_K_DEV static __device__ __forceinline__
#define TGC_KERNEL(name, T, a, threads) extern "C" __global__ void __launch_bounds__(threads) name(const T a)
#define TGC_SHARED(T, name, n) __shared__ T name[n]
#else
#include "backend/cuda/kernels/kshim.h"
#define TGC_K_DEV static inline
#define TGC_KERNEL(name, T, a, threads) TGC_SHIM_KERNEL(name, T, a, threads)
#define TGC_SHARED(T, name, n) TGC_SHIM_SHARED(T, name, n)
#endif

#define TGC_K_FULL_MASK 0xffffffffu

TGC_K_DEV int32_t tgc_k_min32(int32_t a, int32_t b) { return a < b ? a : b; }
TGC_K_DEV int32_t tgc_k_max32(int32_t a, int32_t b) { return a > b ? a : b; }
/* The plane (n * C + c) of element i of a logical [N,C,H,W] tensor of inner = H*W: NCHW (ch 0), or NHWC
 * (stored [N,H,W,C], ch = C). */
TGC_K_DEV int64_t tgc_k_plane_of(int64_t i, int64_t inner, int64_t ch) {
    return ch ? (i / (inner * ch)) * ch + i % ch : i / inner;
}
TGC_K_DEV int64_t tgc_k_min64(int64_t a, int64_t b) { return a < b ? a : b; }
TGC_K_DEV int64_t tgc_k_max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* This thread's index in a grid-stride loop over a 1-D grid, and the loop's stride. */
TGC_K_DEV int64_t tgc_k_gtid(void) { return (int64_t)blockIdx.x * blockDim.x + threadIdx.x; }
TGC_K_DEV int64_t tgc_k_gstride(void) { return (int64_t)gridDim.x * blockDim.x; }
/* This thread's linear index in its block. */
TGC_K_DEV unsigned tgc_k_tid(void) { return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z); }

/* Vector access: 16 bytes at p, which must be 16-byte aligned. */
#ifdef __CUDACC__
TGC_K_DEV float4 tgc_k_ld4(const float *p) { return *(const float4 *)p; }
TGC_K_DEV void tgc_k_st4(float *p, float4 v) { *(float4 *)p = v; }
#else
TGC_K_DEV float4 tgc_k_ld4(const float *p) {
    float4 v;
    memcpy(&v, p, sizeof v);
    return v;
}
TGC_K_DEV void tgc_k_st4(float *p, float4 v) { memcpy(p, &v, sizeof v); }
#endif
TGC_K_DEV int tgc_k_aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

/* ---- reductions --------------------------------------------------------------------------------------
 * Butterfly (xor) reductions: every lane combines the same pairs in the same order up to commutation, so
 * every lane ends with the same bits. */

/* Sum over the 32 lanes of a warp; every lane gets it. */
TGC_K_DEV double tgc_k_warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(TGC_K_FULL_MASK, v, o);
    return v;
}

/* Maximum over the lanes with the CPU's rule (m = x > m ? x : m from -inf): NaN never wins. */
TGC_K_DEV double tgc_k_warp_max(double m) {
    for (int o = 16; o > 0; o >>= 1) {
        double x = __shfl_xor_sync(TGC_K_FULL_MASK, m, o);
        if (x > m) m = x;
    }
    return m;
}

/* Sum over the block (a multiple of 32 threads, all calling): warp sums, then every thread adds the warp
 * sums in warp order. sh: TGC_SHARED double[32]; the trailing barrier lets the caller reuse it. */
TGC_K_DEV double tgc_k_block_sum(double v, double *sh) {
    unsigned tid = tgc_k_tid(), nw = (blockDim.x * blockDim.y * blockDim.z) >> 5;
    v = tgc_k_warp_sum(v);
    if ((tid & 31u) == 0) sh[tid >> 5] = v;
    __syncthreads();
    double s = 0;
    for (unsigned w = 0; w < nw; w++) s += sh[w];
    __syncthreads();
    return s;
}

/* The body of a tiled transpose y[n, r, i] = x[n, i, r] of element type T (tgc_k_transpose: float,
 * tgc_k_transpose16: 16-bit), for a kernel whose args `a` hold x, y, n, a, b: 32 x 32 tiles through shared
 * memory padded to 33 columns, every loop bound uniform over the block so every thread reaches each
 * barrier. */
#define TGC_K_TRANSPOSE_TILES(T) \
{                                                                                                               \
    TGC_SHARED(T, tile, 32 * 33);                                                                               \
    const int64_t ta = (a.a + 31) / 32, tb = (a.b + 31) / 32, plane = a.a * a.b;                                \
    for (int64_t n = blockIdx.z; n < a.n; n += gridDim.z) {                                                     \
        const T *x = a.x + n * plane;                                                                           \
        T *y = a.y + n * plane;                                                                                 \
        for (int64_t ti = blockIdx.y; ti < ta; ti += gridDim.y)                                                 \
            for (int64_t tr = blockIdx.x; tr < tb; tr += gridDim.x) {                                           \
                const int64_t i0 = ti * 32, r0 = tr * 32;                                                       \
                for (unsigned k = threadIdx.y; k < 32; k += blockDim.y) {                                       \
                    const int64_t i = i0 + k, r = r0 + threadIdx.x;                                             \
                    if (i < a.a && r < a.b) tile[k * 33 + threadIdx.x] = x[i * a.b + r];                        \
                }                                                                                               \
                __syncthreads();                                                                                \
                for (unsigned k = threadIdx.y; k < 32; k += blockDim.y) {                                       \
                    const int64_t r = r0 + k, i = i0 + threadIdx.x;                                             \
                    if (i < a.a && r < a.b) y[r * a.a + i] = tile[threadIdx.x * 33 + k];                        \
                }                                                                                               \
                __syncthreads();                                                                                \
            }                                                                                                   \
    }                                                                                                           \
}

#endif
