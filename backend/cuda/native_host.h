/* backend/cuda/native_host.h - the hand-written kernels of backend/cuda/kernels run on the host through
 * kshim.h, as the stand-in's body of a native launch (backend/cuda/cuda_device.c, when the device's `native`
 * switch is on): the executor marshals each instruction into the kernel's argument struct (kargs.h) and
 * geometry, or an optimizer group into multi-tensor lists (tgc_mt_apply), exactly as a GPU launch would,
 * and the very kernel source nvcc compiles runs here. Compiled with -ffp-contract=off (kshim.h requires it).
 * The marshalling is native_marshal.c's (plain C); this file only runs its launches by kernel symbol.
 * The shim is single-threaded: launches are serialised by a process-wide lock. */
#ifndef TGC_BACKEND_CUDA_NATIVE_HOST_H
#define TGC_BACKEND_CUDA_NATIVE_HOST_H

#include "backend/cuda/native_marshal.h"

/* Runs ops[0..n) (one instruction, or an optimizer group: one op, equal attributes and lr/step operands) as
 * tgc_cuda_native_marshal marshals it, through the shim; ws: the instruction's workspace (NULL when it needs
 * none); chunk: elements per multi-tensor block (TGC_MT_CHUNK, smaller in tests). Adds the grids run to
 * *launches when not NULL. */
int tgc_cuda_native_host_run(const tgc_cpu_op *ops, int n, void *ws, int32_t chunk, int *launches, tgc_err *err);

/* One marshalled launch (a kernel of kernels.cu by symbol, its geometry and argument struct) through the shim. */
int tgc_cuda_native_host_launch(const tgc_native_launch *l, tgc_err *err);

/* Host kernel launches (shim grids) run so far in this process. */
uint64_t tgc_cuda_native_host_launches(void);

#endif
