/* backend/cuda/native_host.h - the hand-written kernels of backend/cuda/kernels run on the host through
 * kshim.h, as the stand-in's body of a native launch (backend/cuda/cuda_device.c, when the device's `native`
 * switch is on): the executor marshals each instruction into the kernel's argument struct (kargs.h) and
 * geometry, or an optimizer group into multi-tensor lists (tgc_mt_apply), exactly as a GPU launch would,
 * and the very kernel source nvcc compiles runs here. Compiled with -ffp-contract=off (kshim.h requires it).
 * The shim is single-threaded: launches are serialised by a process-wide lock. */
#ifndef TGC_BACKEND_CUDA_NATIVE_HOST_H
#define TGC_BACKEND_CUDA_NATIVE_HOST_H

#include "backend/cpu/cpu_kernels.h"

/* The classes of ops the native switch picks (tgc_cuda_device_opts.native is a mask of them), by what the
 * kernels promise against the CPU reference (backend/cuda/kernels/README.md): */
enum {
    TGC_NATIVE_OPTIMIZER = 1, /* sgd, sgd_momentum, adamw groups: bit for bit */
    TGC_NATIVE_EXACT = 2,     /* max_pool2d_bwd, global_avg_pool_bwd, fill, cast: bit for bit */
    TGC_NATIVE_REDUCE = 4,    /* softmax_cross_entropy(_bwd), global_avg_pool, bias_grad: relative 1e-6 */
    TGC_NATIVE_ALL = 7,
};
/* The class of an op's kernel, 0 when it has none. */
int tgc_cuda_native_host_class(tgc_opcode code);
/* Whether instruction `o` (one op) has a host-run kernel for these operand types. */
int tgc_cuda_native_host_supports(const tgc_cpu_op *o);
/* Bytes of device workspace the instruction's kernels need (softmax_cross_entropy: n doubles), else 0. */
uint64_t tgc_cuda_native_host_workspace(const tgc_cpu_op *o);
/* Runs one instruction's kernel(s); ws: its workspace (NULL when it needs none). */
int tgc_cuda_native_host_exec(const tgc_cpu_op *o, void *ws, tgc_err *err);
/* Runs an optimizer group of n instructions (one op, equal attributes and lr/step operands) as multi-tensor
 * launches over the listed tensors; chunk: elements per block (TGC_MT_CHUNK, smaller in tests). Adds the
 * launches issued to *launches when not NULL. */
int tgc_cuda_native_host_opt_group(const tgc_cpu_op *ops, int n, int32_t chunk, int *launches, tgc_err *err);

/* Host kernel launches (shim grids) run so far in this process. */
uint64_t tgc_cuda_native_host_launches(void);

#endif
