/* backend/cuda/stream_api.h - the stream layer the CUDA executor drives: a table of function pointers over
 * streams, events, async copies, kernel launches, host callbacks and graph capture, with two implementations:
 *
 *   - "cuda"    (backend/cuda/stream_cuda.c, built where the CUDA toolkit is): the CUDA runtime, kernels
 *               launched as CUfunctions through cuLaunchKernel;
 *   - "standin" (backend/cuda/standin.c, always built): a CPU stand-in in which allocations are host memory,
 *               each stream is a queue, and work runs when the host synchronises or polls, in a seeded random
 *               interleaving of the streams that honours stream order and events, with a race checker over the
 *               byte ranges every operation declares (backend/cuda/standin.h).
 *
 * The executor's host logic (which stream, which event, when to wait) is written once against this table and
 * checked on CPU by the stand-in; no CUDA header is needed to use it.
 *
 * Semantics are CUDA's, and the stand-in enforces them:
 *   - every call returns at once; work on one stream runs in issue order, work on different streams is
 *     unordered unless an event orders it: event_record marks the point reached by a stream's issued work,
 *     stream_wait_event makes later work on another stream wait for the record most recently issued before
 *     the wait (an event never recorded is complete).
 *   - the host sees the effects of device work (a copy into pinned memory, say) only after stream_sync,
 *     event_sync, a successful event_query or sync; work it issues is ordered after what the host did before
 *     issuing it. host_access declares the host's own reads and writes of memory the streams touch, so the
 *     stand-in can check them; it is free on a GPU.
 *   - memory operations declare what they touch: copies and memsets by their arguments, kernels and host
 *     callbacks by their read and write ranges (tgc_mem_access). A range declared wider than what is touched
 *     is safe; narrower hides races from the checker.
 *   - capture: between capture_begin and capture_end on a stream, work issued to it (and to any stream that
 *     waits on an event recorded in the capture) is recorded, not run; every stream so forked must be joined
 *     back (the origin waits on an event recorded after its last work) before capture_end. Waiting in a
 *     capture on an event recorded outside it, synchronising a capturing stream or the device, and allocating
 *     during a capture are errors, as in CUDA's global capture mode. graph_launch runs the whole graph as one
 *     piece of work on a stream; launches of one graph_exec run one after the other.
 *   - errors: a call that fails returns -1 (NULL for handles) with one message in err. A failure while work
 *     runs (a kernel's error; on the stand-in, a race) is sticky: every later call reports it, as CUDA's
 *     errors after a fault do.
 *   - destroying a stream, event, graph or graph_exec with work still pending is allowed (the work completes);
 *     freeing memory waits for all work (cudaFree does).
 */
#ifndef TGC_BACKEND_CUDA_STREAM_API_H
#define TGC_BACKEND_CUDA_STREAM_API_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

/* Opaque handles; each implementation has its own representation (cudaStream_t, ... on "cuda"). */
typedef struct tgc_stream tgc_stream;
typedef struct tgc_event tgc_event;
typedef struct tgc_graph tgc_graph;
typedef struct tgc_graph_exec tgc_graph_exec;

/* Bytes [ptr, ptr + bytes) of device memory (dev_alloc) or host memory (host_alloc, or any host memory a copy
 * names). */
typedef struct tgc_mem_range {
    const void *ptr;
    uint64_t bytes;
} tgc_mem_range;

/* What one operation reads and writes. The arrays are copied when the operation is issued. */
typedef struct tgc_mem_access {
    const tgc_mem_range *reads;
    int n_reads;
    const tgc_mem_range *writes;
    int n_writes;
} tgc_mem_access;

typedef enum tgc_copy_kind {
    TGC_COPY_H2D, /* host (pinned or not) -> device */
    TGC_COPY_D2H, /* device -> host */
    TGC_COPY_D2D, /* device -> device */
} tgc_copy_kind;

/* The stand-in's body of a kernel: params points at a copy of tgc_kernel.params taken at launch. Returns 0, or
 * -1 with a message (the failure becomes the stand-in's sticky error). */
typedef int (*tgc_host_kernel_fn)(const void *params, tgc_err *err);

/* A host callback (cudaLaunchHostFunc): runs when the stream reaches it, must not call this API. */
typedef void (*tgc_host_fn)(void *user);

/* One kernel launch. params is the kernel's parameter list laid out as a C struct of the parameters in order
 * (natural alignment, as cuLaunchKernel's CU_LAUNCH_PARAM_BUFFER_POINTER takes it); params_bytes is where the
 * last parameter ends (offsetof + sizeof, without the struct's tail padding). It is copied at launch, so the
 * caller may reuse it at once. Each implementation uses its own body: host_fn on the stand-in, cu_func (a
 * CUfunction, e.g. from an NVRTC module) on cuda; the other may be NULL. */
typedef struct tgc_kernel {
    const char *name; /* for messages and traces */
    tgc_host_kernel_fn host_fn;
    void *cu_func;
    uint32_t grid[3], block[3]; /* 0 counts as 1 */
    uint32_t shared_bytes;
    const void *params;
    size_t params_bytes;
    tgc_mem_access access; /* the ranges the kernel reads and writes */
} tgc_kernel;

/* Library work: calls into cuDNN, cuBLAS, NCCL (or anything that enqueues on a cudaStream_t itself). On cuda,
 * enqueue(user, native_stream, err) runs on the host at issue time with the stream's cudaStream_t and enqueues
 * the library's kernels there (inside a capture they are captured into the graph, as any work issued to the
 * stream); it must not synchronise. On the stand-in the work is queued like a kernel: host_fn(params) runs
 * when the stream reaches it, and the race checker covers the declared ranges. params is copied at issue
 * (params_bytes), as a kernel's; user must stay valid until enqueue returns. Either body may be NULL where
 * that implementation is not used. */
typedef int (*tgc_lib_enqueue_fn)(void *user, void *native_stream, tgc_err *err);
typedef struct tgc_lib_work {
    const char *name; /* for messages and traces ("cudnn conv fwd") */
    tgc_lib_enqueue_fn enqueue;
    void *user;
    tgc_host_kernel_fn host_fn;
    const void *params;
    size_t params_bytes;
    tgc_mem_access access; /* the ranges the library reads and writes (workspaces included) */
} tgc_lib_work;

/* How to open a stream context. */
typedef struct tgc_stream_opts {
    int ordinal;        /* cuda: which GPU */
    uint64_t seed;      /* stand-in: the schedule's seed (same seed, same interleaving) */
    void *domain;       /* stand-in: a tgc_standin_domain shared by several contexts (ranks) or NULL */
    const char *label;  /* a name for messages ("rank 1"); NULL: the implementation's */
} tgc_stream_opts;

typedef struct tgc_stream_api {
    const char *name; /* "cuda", "standin" */

    /* ---- the context (one device) ---- */
    void *(*open)(const tgc_stream_opts *o, tgc_err *err);
    /* Waits for all work, then frees everything still allocated or created through this context. */
    void (*close)(void *ctx);
    void (*describe)(void *ctx, char *buf, size_t size);
    /* Waits for all work issued so far on every stream (cudaDeviceSynchronize). */
    int (*sync)(void *ctx, tgc_err *err);
    /* Lets the device make progress without waiting for anything (the stand-in runs a few operations; a
     * no-op on cuda). */
    int (*poll)(void *ctx, tgc_err *err);

    /* ---- memory ---- */
    /* Device memory (cudaMalloc: 256-byte aligned, contents undefined). label names it in messages. */
    void *(*dev_alloc)(void *ctx, uint64_t bytes, const char *label, tgc_err *err);
    void (*dev_free)(void *ctx, void *p); /* waits for all work first; NULL is fine */
    /* Pinned host memory (cudaHostAlloc), 64-byte aligned: the host reads and writes it directly, copies to
     * and from it are true DMA. */
    void *(*host_alloc)(void *ctx, uint64_t bytes, const char *label, tgc_err *err);
    void (*host_free)(void *ctx, void *p); /* waits for all work first; NULL is fine */

    /* ---- streams ---- */
    tgc_stream *(*stream_create)(void *ctx, const char *label, tgc_err *err);
    void (*stream_destroy)(void *ctx, tgc_stream *s); /* NULL is fine */
    /* Waits for the work issued to s so far. */
    int (*stream_sync)(void *ctx, tgc_stream *s, tgc_err *err);
    /* The implementation's own handle (cudaStream_t on cuda, for NCCL and libraries); NULL on the stand-in. */
    void *(*stream_native)(void *ctx, tgc_stream *s);

    /* ---- events ---- */
    /* timing: the event can be used with event_elapsed (costs a little on a GPU). */
    tgc_event *(*event_create)(void *ctx, const char *label, int timing, tgc_err *err);
    void (*event_destroy)(void *ctx, tgc_event *e); /* NULL is fine */
    int (*event_record)(void *ctx, tgc_event *e, tgc_stream *s, tgc_err *err);
    /* Work issued to s after this call waits until e's last record (issued before this call) completed. */
    int (*stream_wait_event)(void *ctx, tgc_stream *s, tgc_event *e, tgc_err *err);
    /* 1: e's last record has completed (or e was never recorded); 0: not yet; -1: error. */
    int (*event_query)(void *ctx, tgc_event *e, tgc_err *err);
    int (*event_sync)(void *ctx, tgc_event *e, tgc_err *err);
    /* Milliseconds between two completed timing events. */
    int (*event_elapsed)(void *ctx, tgc_event *start, tgc_event *end, double *ms, tgc_err *err);

    /* ---- work ---- */
    int (*memcpy_async)(void *ctx, void *dst, const void *src, uint64_t bytes, tgc_copy_kind kind, tgc_stream *s,
                        tgc_err *err);
    /* Sets bytes of device memory to the byte value. */
    int (*memset_async)(void *ctx, void *dst, int value, uint64_t bytes, tgc_stream *s, tgc_err *err);
    int (*launch)(void *ctx, const tgc_kernel *k, tgc_stream *s, tgc_err *err);
    /* Library work on s (tgc_lib_work): enqueued by the library at issue time on cuda, queued as a checked body
     * on the stand-in. A failure of enqueue is returned with the work's name. */
    int (*lib_call)(void *ctx, const tgc_lib_work *w, tgc_stream *s, tgc_err *err);
    /* fn(user) runs on the host when s reaches it; access: the host memory it reads and writes (NULL: none). */
    int (*host_func)(void *ctx, tgc_stream *s, const char *label, tgc_host_fn fn, void *user,
                     const tgc_mem_access *access, tgc_err *err);

    /* ---- graphs ---- */
    int (*capture_begin)(void *ctx, tgc_stream *s, const char *label, tgc_err *err);
    /* Ends the capture begun on s; the recorded graph. */
    tgc_graph *(*capture_end)(void *ctx, tgc_stream *s, tgc_err *err);
    tgc_graph_exec *(*graph_instantiate)(void *ctx, tgc_graph *g, tgc_err *err);
    int (*graph_launch)(void *ctx, tgc_graph_exec *x, tgc_stream *s, tgc_err *err);
    void (*graph_destroy)(void *ctx, tgc_graph *g);           /* NULL is fine; its execs stay valid */
    void (*graph_exec_destroy)(void *ctx, tgc_graph_exec *x); /* NULL is fine */

    /* ---- the host's own accesses ---- */
    /* Declares that the host is about to read and write these ranges of host memory (what = "read the loss");
     * the stand-in fails if device work that conflicts with them is not ordered before this call. Free on
     * cuda (returns 0). */
    int (*host_access)(void *ctx, const tgc_mem_access *access, const char *what, tgc_err *err);
} tgc_stream_api;

/* The tables: tgc_standin_stream_api always; tgc_cuda_stream_api where the CUDA backend is built. */
extern const tgc_stream_api tgc_standin_stream_api;
extern const tgc_stream_api tgc_cuda_stream_api;

/* The table named NAME ("standin", "cuda"); NULL with a message when this build has none of that name. */
const tgc_stream_api *tgc_stream_api_find(const char *name, tgc_err *err);

#endif
