/* backend/cuda/cublas_load.c - cuBLAS resolved at first use (backend/cuda/cublas_load.h). */
#include "backend/cuda/cublas_load.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#define TGC_STR2(x) #x
#define TGC_STR(x) TGC_STR2(x)
#define CUBLAS_SONAME "libcublas.so." TGC_STR(CUBLAS_VER_MAJOR)

static tgc_cublas table;
static char failure[512];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Symbol names as the library exports them (cublas_v2.h maps cublasCreate to cublasCreate_v2, ...). */
static int resolve(void *lib, const char *name, void **slot) {
    *slot = dlsym(lib, name);
    if (*slot) return 0;
    snprintf(failure, sizeof failure, "%s has no symbol %s", CUBLAS_SONAME, name);
    return -1;
}

static void load_once(void) {
    void *lib = dlopen(CUBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(failure, sizeof failure, "cannot load %s (%s); put CUDA's or the nvidia-cublas wheel's lib folder on "
                 "LD_LIBRARY_PATH", CUBLAS_SONAME, dlerror());
        return;
    }
    tgc_cublas t;
    if (resolve(lib, "cublasCreate_v2", (void **)&t.create) < 0 || resolve(lib, "cublasDestroy_v2", (void **)&t.destroy) < 0 ||
        resolve(lib, "cublasSetMathMode", (void **)&t.set_math_mode) < 0 ||
        resolve(lib, "cublasSetWorkspace_v2", (void **)&t.set_workspace) < 0 ||
        resolve(lib, "cublasSetStream_v2", (void **)&t.set_stream) < 0 ||
        resolve(lib, "cublasSgemm_v2", (void **)&t.sgemm) < 0 || resolve(lib, "cublasGemmEx", (void **)&t.gemm_ex) < 0 ||
        resolve(lib, "cublasGetStatusName", (void **)&t.status_name) < 0 ||
        resolve(lib, "cublasGetStatusString", (void **)&t.status_string) < 0) {
        dlclose(lib);
        return;
    }
    table = t; /* the library stays loaded for the process's life */
}

const tgc_cublas *tgc_cublas_load(tgc_err *err) {
    pthread_once(&once, load_once);
    if (table.sgemm) return &table;
    tgc_fail(err, "%s", failure);
    return NULL;
}
