/* backend/cuda/codegen_host.h - makes the kernels of backend/cuda/codegen.c C17 for the host compiler.
 *
 * Included once, before the generated text, in a translation unit built as a shared object (see
 * tgc_codegen_host_unit). A launch of grid x block threads becomes a host loop that, for every block b and
 * thread t, calls tgc_host_dims(grid, block, b, t) and then the kernel: the grid-stride loop of each call
 * covers that thread's elements, so the loops together cover all n exactly as on the device.
 *
 * Float semantics: plain IEEE single operations, compiled without contraction (-ffp-contract=off, which
 * -std=c17 implies for GCC), so __fmul_rn is an ordinary product, as the CPU backend's loops compute it;
 * tanhf is the C library's, as in the CPU backend's fused loop.
 */
#ifndef TGC_BACKEND_CUDA_CODEGEN_HOST_H
#define TGC_BACKEND_CUDA_CODEGEN_HOST_H

#include <math.h>
#include <string.h>

#define TGC_EXTERN_C
#define TGC_INLINE static inline
#define __global__
#define __device__
#define __forceinline__
#define __launch_bounds__(...)
#define __restrict__ restrict

typedef struct tgc_host_dim3 {
    unsigned int x, y, z;
} tgc_host_dim3;

static tgc_host_dim3 threadIdx, blockIdx, blockDim, gridDim;

/* The thread the next kernel call runs as: block b of grid, thread t of block (x only; y, z are 0 and 1). */
void tgc_host_dims(unsigned int grid, unsigned int block, unsigned int b, unsigned int t);
void tgc_host_dims(unsigned int grid, unsigned int block, unsigned int b, unsigned int t) {
    gridDim = (tgc_host_dim3){grid, 1, 1};
    blockDim = (tgc_host_dim3){block, 1, 1};
    blockIdx = (tgc_host_dim3){b, 0, 0};
    threadIdx = (tgc_host_dim3){t, 0, 0};
}

static inline float __fmul_rn(float a, float b) { return a * b; }
static inline unsigned int __float_as_uint(float f) {
    unsigned int u;
    memcpy(&u, &f, sizeof u);
    return u;
}
static inline float __uint_as_float(unsigned int u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

#endif
