/* backend/cuda/cuda_backend.cu - device discovery and the libraries the CUDA executor is built on. */
#include "backend/cuda/cuda_backend.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <nccl.h>
#include <nvrtc.h>
#include <stdio.h>

extern "C" int tgc_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError(); /* clear the sticky "no driver" error */
        return 0;
    }
    return n;
}

extern "C" void tgc_cuda_describe(char *buf, size_t n) {
    int nccl = 0, nvrtc_major = 0, nvrtc_minor = 0, rt = 0;
    ncclGetVersion(&nccl);
    nvrtcVersion(&nvrtc_major, &nvrtc_minor);
    cudaRuntimeGetVersion(&rt);
    int devices = tgc_cuda_device_count();
    char name[256] = "none";
    if (devices > 0) {
        cudaDeviceProp prop;
        if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) snprintf(name, sizeof name, "%s", prop.name);
    }
    snprintf(buf, n, "cuda runtime %d, cuDNN %zu, cuBLAS %d, NCCL %d, NVRTC %d.%d; %d device(s), first: %s", rt,
             cudnnGetVersion(), CUBLAS_VERSION, nccl, nvrtc_major, nvrtc_minor, devices, name);
}
