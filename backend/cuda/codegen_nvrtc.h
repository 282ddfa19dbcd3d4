/* backend/cuda/codegen_nvrtc.h - compiles generated kernels (backend/cuda/codegen.h) with NVRTC to a cubin
 * for one architecture. No GPU is needed: NVRTC and ptxas run on the host. Built only with the CUDA toolkit. */
#ifndef TGC_BACKEND_CUDA_CODEGEN_NVRTC_H
#define TGC_BACKEND_CUDA_CODEGEN_NVRTC_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

typedef struct tgc_cubin {
    uint8_t *code; /* owned: the cubin */
    size_t size;
    /* from ptxas's report (--ptxas-options=-v); -1 where the report did not say */
    int registers, stack_bytes, spill_store_bytes, spill_load_bytes;
    char *log; /* owned: NVRTC's log (ptxas's report included) */
} tgc_cubin;

/* "nvrtc MAJOR.MINOR <options>": what tgc_kcache_key needs to tell compilations apart. Owned by the caller. */
char *tgc_nvrtc_compile_id(const char *arch);

/* Compiles `source` (named name, for messages) for arch ("sm_90") with the options tgc_nvrtc_compile_id
 * lists. On failure err holds NVRTC's log. */
int tgc_nvrtc_compile(const char *source, const char *name, const char *arch, tgc_cubin *out, tgc_err *err);
void tgc_cubin_free(tgc_cubin *c);

/* Reads ptxas's -v report: the largest "Used N registers" and "N bytes stack frame, N bytes spill stores,
 * N bytes spill loads" over the functions in the log (-1 for a figure not found). */
void tgc_nvrtc_parse_ptxas(const char *log, int *registers, int *stack, int *spill_stores, int *spill_loads);

#endif
