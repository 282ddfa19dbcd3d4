/* backend/cuda/cuda_device.h - the 'cuda' device (backend/device.h) written against the stream API
 * (backend/cuda/stream_api.h), so the same host logic runs on the CUDA runtime and on the CPU stand-in.
 *
 * Streams: compute (every kernel, in program order; downloads), copy (uploads, from double-buffered pinned
 * staging), comm (a gradient bucket's all-reduce, through the comm layer's callback). Events: per upload
 * (compute waits on it: the upload is ordered before later work), per staging buffer (the host refills a
 * buffer only after its copy finished), per bucket-completing instruction (the comm stream waits on it before
 * the all-reduce), one on the comm stream before the first optimizer update (the compute stream waits on it:
 * the updates read the reduced gradients), and per reported instruction (done callbacks).
 *
 * Graphs: with graphs on (the default), a program run without host interaction in the middle (no `before`,
 * no timing) is captured on its second run and replayed from then on (inputs, lr and step included, live in
 * the input slab and are uploaded before the launch). Replays run the same launches as eager runs.
 *
 * On the stand-in every launch's body runs the CPU reference kernel (backend/cpu: tgc_cpu_exec or a fused
 * group's loop), so the device checks the executor's ordering, not GPU math; with opts.native (a mask of
 * TGC_NATIVE_* classes) the ops of those classes run the hand-written kernels of backend/cuda/kernels instead,
 * through kshim.h (backend/cuda/native_host.h), with the argument structs and multi-tensor lists the executor
 * marshals from the plan; with TGC_NATIVE_LIBRARY each matmul and batch norm is library work (lib_call) whose
 * body is cuBLAS's gemm / cuDNN's batch norm call on the marshalled arguments. On CUDA each launch group is issued by backend/cuda/cuda_exec.c
 * (cuDNN, cuBLAS, hand-written and generated kernels; cuda_ops.c's table says which per op).
 *
 * In the registry (backend/device.c) where the build has CUDA; tests build a device over any stream API with
 * tgc_cuda_device_new. */
#ifndef TGC_BACKEND_CUDA_CUDA_DEVICE_H
#define TGC_BACKEND_CUDA_CUDA_DEVICE_H

#include "backend/cuda/stream_api.h"
#include "backend/cuda/native_marshal.h"
#include "backend/device.h"

/* The device ops table (open uses the "cuda" stream API; fails in a build without CUDA). */
extern const tgc_device_ops tgc_cuda_device_ops;

typedef struct tgc_cuda_device_opts {
    int n_threads;             /* stand-in: threads of the CPU reference kernels (0: default) */
    tgc_stream_opts stream;    /* ordinal, and the stand-in's seed, domain, label */
    int no_graphs;             /* never capture: every run eager */
    int native;                /* stand-in: a mask of TGC_NATIVE_* (backend/cuda/native_marshal.h): run the
                                  hand-written kernels of backend/cuda/kernels (through kshim.h) for the ops
                                  of those classes, the CPU reference elsewhere; 0 (the default): CPU
                                  reference everywhere. Ignored on CUDA (see native_kernel in cuda_device.c) */
    int cudnn_benchmark;       /* GPU: autotune the convolutions at prepare (tgc_device_opts.cudnn_benchmark) */
    const char *work_dir;      /* GPU: the folder of the algorithm choices file (NULL: not kept) */
    int32_t native_chunk;      /* stand-in tests: elements per block of the native optimizer kernels' multi-tensor
                                  lists (a positive multiple of 4; 0: TGC_MT_CHUNK), small to cut a group's
                                  tensors over several launches */
} tgc_cuda_device_opts;

/* A device over `api` (tgc_standin_stream_api in tests). Close it with tgc_device_close. */
tgc_device *tgc_cuda_device_new(const tgc_stream_api *api, const tgc_cuda_device_opts *o, tgc_err *err);
/* The stream context under it (for tgc_standin_comm_new, stats). */
void *tgc_cuda_device_stream_ctx(const tgc_device *d);

/* The comm layer's side of a gradient bucket: enqueue the all-reduce (mean) of the bucket's bytes at
 * dev_ptr on stream s (the comm stream, already ordered after the instruction that completed the bucket).
 * capturable: the enqueue may happen inside a graph capture (NCCL: yes; the stand-in's all-reduce: no, so
 * programs with buckets then run eagerly). */
typedef struct tgc_cuda_comm {
    int (*allreduce)(void *ctx, const tgc_plan_bucket *bk, void *dev_ptr, tgc_stream *s, tgc_err *err);
    void *ctx;
    int capturable;
} tgc_cuda_comm;
/* Sets (or, with NULL, clears) the device-side all-reduce of every bucket of every program run from now on.
 * Without it a bucket is only reported through tgc_dev_run.done, as on cpu. */
void tgc_cuda_device_set_comm(tgc_device *d, const tgc_cuda_comm *c);

/* Test hooks: deliberately broken orderings, for the race checker's negative tests. */
enum {
    TGC_CUDA_BREAK_BUCKET_WAIT = 1, /* the comm stream does not wait for the bucket's last gradient kernel */
    TGC_CUDA_BREAK_OPT_WAIT = 2,    /* the first optimizer update does not wait for the all-reduces */
    TGC_CUDA_BREAK_UPLOAD_WAIT = 4, /* compute does not wait for an upload */
    TGC_CUDA_BREAK_INPUTS_EARLY = 8, /* the next inputs' copy waits for the first reader of the inputs, not the last */
};
void tgc_cuda_device_break(tgc_device *d, int flags);
/* Sets the stand-in's mask of hand-written kernel classes (as opts.native) for programs prepared from now on;
 * on CUDA it changes nothing. */
void tgc_cuda_device_use_native(tgc_device *d, int on);

typedef struct tgc_cuda_device_stats {
    uint64_t eager_runs, captures, replays, launches, uploads, downloads, allreduces;
    uint64_t native_launches; /* launches issued whose body is a hand-written kernel (stand-in, native on) */
    uint64_t native_bodies, native_grids; /* such bodies run (graph replays included), and their kernel grids */
    uint64_t lib_calls; /* library work issued (stand-in with TGC_NATIVE_LIBRARY: matmuls as cuBLAS's gemm, batch
                           norms as cuDNN's legacy calls) */
    int cudnn_measured, cudnn_cached; /* GPU, env_cfg.cudnn_benchmark: convolution graphs timed at prepare, and
                                         instructions that took a remembered choice (measured earlier in this
                                         process, or read from the work dir's cudnn_algos.txt) */
} tgc_cuda_device_stats;
void tgc_cuda_device_get_stats(const tgc_device *d, tgc_cuda_device_stats *st);

#endif
