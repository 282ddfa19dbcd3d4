/* backend/cuda/cuda_exec.h - the cuda device's per-op dispatch on a real GPU (CUDA builds only): what each
 * launch group of a program (tgc_cuda_group_len) issues on the compute stream, by its implementation in
 * cuda_ops.c's table:
 *
 *   cudnn      conv2d(_bwd_data, _bwd_filter) and pooling without legacy descriptors: the instruction's
 *              operation graph (cudnn_plan.c), an execution plan from engine heuristics (tensor-core engines
 *              that round f32 through TF32 skipped unless TGC_ALLOW_TF32=1, nondeterministic ones when the
 *              program is deterministic), its variant pack bound to the slab
 *              addresses and the shared workspace (the cuda target's 32 MiB; a plan needing more is refused at
 *              prepare), run by cudnnBackendExecute; batch norm (train, eval, backward) and pooling with legacy
 *              descriptors: cudnnBatchNormalization* / cudnnPooling*; the _relu variants add a small kernel
 *              (relu in place after the forward; the mask recomputed from x before the backward, in place
 *              in dy when nothing else reads it, else into a scratch buffer);
 *   cublas     matmul: cublasSgemm with tgc_cuda_gemm_of's arguments (pedantic fp32 math, the workspace set);
 *   kernel     the hand-written kernels: native_marshal.c's launches, by symbol (cudaGetFuncBySymbol);
 *   generated  an elementwise group or a lone elementwise op: codegen.c's kernel, compiled by NVRTC for the
 *              device's architecture, cached on disk by source hash (codegen_cache.h) and in memory;
 *   copy       reshape: nothing in place, else a device-to-device copy;
 *   aux        fold_conv_bn: a kernel of this file (NVRTC), double arithmetic as the CPU's.
 *
 * Library calls (cuDNN, cuBLAS) go through the stream API's lib_call, so a graph capture records them. Every
 * CUDA, cuDNN, cuBLAS, NVRTC and driver call is checked; a failure names the call, the op and the program's
 * instruction. */
#ifndef TGC_BACKEND_CUDA_CUDA_EXEC_H
#define TGC_BACKEND_CUDA_CUDA_EXEC_H

#include "backend/cuda/stream_api.h"
#include "backend/device.h"

typedef struct tgc_cuda_exec tgc_cuda_exec;
typedef struct tgc_cuda_xprog tgc_cuda_xprog;

/* The dispatch on GPU `ordinal` of the stream context sx (the "cuda" stream API): cuDNN and cuBLAS handles,
 * the device's properties, the kernel cache. */
tgc_cuda_exec *tgc_cuda_exec_new(const tgc_stream_api *A, void *sx, int ordinal, tgc_err *err);
void tgc_cuda_exec_free(tgc_cuda_exec *x); /* NULL is fine */
/* One line: the libraries' versions, the kernel cache and how convolution algorithms are chosen. */
void tgc_cuda_exec_describe(const tgc_cuda_exec *x, char *buf, size_t size);
/* env_cfg.cudnn_benchmark: on, each distinct convolution graph prepared from now on gets the fastest of the
 * first 8 configurations of cuDNN's heuristics that pass the filters (each timed over 3 runs after a warm-up,
 * with cudaEvents on a stream of its own, on zeroed scratch buffers: the program's memory is not touched), and
 * the choice, keyed by GPU name, compute capability, cuDNN version and the graph's signature, is kept in
 * work_dir/cudnn_algos.txt (backend/cuda/cudnn_cache.h; NULL work_dir: in memory only). A choice found there is
 * rebuilt without timing; one that no longer builds is measured again (one warning). Off (the default, as
 * MMPretrain's default_runtime): the heuristics' first. TGC_CUDNN_BENCHMARK_CANDIDATES=K (1-7) times fewer. */
void tgc_cuda_exec_set_autotune(tgc_cuda_exec *x, int on, const char *work_dir);
/* Convolution graphs measured, and instructions given a remembered choice (this process's or the file's), so far. */
void tgc_cuda_exec_autotune_counts(const tgc_cuda_exec *x, int *measured, int *from_cache);

/* Prepares every launch group of dp's program: descriptors, execution plans, compiled kernels, argument
 * buffers. */
tgc_cuda_xprog *tgc_cuda_exec_prepare(tgc_cuda_exec *x, const tgc_dev_program *dp, tgc_err *err);
void tgc_cuda_exec_release(tgc_cuda_exec *x, tgc_cuda_xprog *xp); /* NULL is fine */
/* Issues the launch group that starts at instruction `first` on stream s. */
int tgc_cuda_exec_issue(tgc_cuda_exec *x, tgc_cuda_xprog *xp, int first, tgc_stream *s, tgc_err *err);

/* One hand-written kernel launch (a kernel of kernels.cu by symbol, its geometry and argument struct) on stream
 * s: the device's own work outside a program (float16 loss scaling's check and unscale). */
struct tgc_native_launch;
int tgc_cuda_exec_kernel(tgc_cuda_exec *x, const struct tgc_native_launch *nl, tgc_stream *s, tgc_err *err);

/* The source of the executor's own kernels (fold_conv_bn, relu in place, batch_norm_relu_bwd's mask): for the
 * sm_90 compile check (tests/cuda/test_codegen_nvrtc.c). */
const char *tgc_cuda_exec_aux_source(void);

#endif
