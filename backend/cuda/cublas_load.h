/* backend/cuda/cublas_load.h - the few cuBLAS entry points the GPU dispatch uses, resolved from the shared
 * library when a cuda executor first opens (dlopen), not at program start: linking cuBLAS would cost every
 * tgc process, CPU runs included, about 200 MiB of resident memory for its load-time relocations. */
#ifndef TGC_BACKEND_CUDA_CUBLAS_LOAD_H
#define TGC_BACKEND_CUDA_CUBLAS_LOAD_H

#include <cublas_v2.h>

#include "common/util.h"

typedef struct tgc_cublas {
    cublasStatus_t (*create)(cublasHandle_t *h);
    cublasStatus_t (*destroy)(cublasHandle_t h);
    cublasStatus_t (*set_math_mode)(cublasHandle_t h, cublasMath_t mode);
    cublasStatus_t (*set_workspace)(cublasHandle_t h, void *ws, size_t bytes);
    cublasStatus_t (*set_stream)(cublasHandle_t h, cudaStream_t s);
    cublasStatus_t (*sgemm)(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const float *alpha, const float *a, int lda, const float *b, int ldb, const float *beta,
                            float *c, int ldc);
    /* bf16/f16 operands with f32 accumulation (mixed-precision plans) */
    cublasStatus_t (*gemm_ex)(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                              const void *alpha, const void *a, cudaDataType at, int lda, const void *b, cudaDataType bt,
                              int ldb, const void *beta, void *c, cudaDataType ct, int ldc, cublasComputeType_t compute,
                              cublasGemmAlgo_t algo);
    const char *(*status_name)(cublasStatus_t s);
    const char *(*status_string)(cublasStatus_t s);
} tgc_cublas;

/* The table, loaded once (thread-safe) from libcublas.so.<the headers' major version> on the library path;
 * NULL with a message naming the library or the missing symbol. */
const tgc_cublas *tgc_cublas_load(tgc_err *err);

#endif
