/* backend/cuda/cuda_backend.h - what the host code may ask of the CUDA backend (C linkage). */
#ifndef TGC_CUDA_BACKEND_H
#define TGC_CUDA_BACKEND_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Number of visible CUDA devices (0 when no driver or no GPU; never fails). */
int tgc_cuda_device_count(void);
/* One line for people: devices, and the versions of cuDNN, cuBLAS, NCCL and NVRTC linked in. */
void tgc_cuda_describe(char *buf, size_t n);

#ifdef __cplusplus
}
#endif

#endif
