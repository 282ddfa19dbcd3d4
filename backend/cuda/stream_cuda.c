/* backend/cuda/stream_cuda.c - the stream API (backend/cuda/stream_api.h) on the CUDA runtime: handles are
 * cudaStream_t, cudaEvent_t, cudaGraph_t and cudaGraphExec_t themselves; kernels are CUfunctions launched by
 * cuLaunchKernel with their parameter buffer (CU_LAUNCH_PARAM_BUFFER_POINTER). The driver functions come
 * through cudaGetDriverEntryPointByVersion, so nothing links libcuda and a machine without a driver still
 * loads the program (open then says there is no GPU). The context keeps what it made, so close frees it. */
#include <cuda.h>
#include <cuda_runtime.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/stream_api.h"

typedef CUresult (*launch_fn)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                              CUstream, void **, void **);
typedef CUresult (*error_name_fn)(CUresult, const char **);

/* A set of handles (pointers), for close. */
typedef struct pset {
    void **p;
    int n, cap;
} pset;

static void pset_add(pset *s, void *p) {
    TGC_GROW(s->p, s->cap, s->n + 1);
    s->p[s->n++] = p;
}

static int pset_del(pset *s, void *p) {
    for (int i = 0; i < s->n; i++)
        if (s->p[i] == p) {
            s->p[i] = s->p[--s->n];
            return 1;
        }
    return 0;
}

enum { SET_DEV, SET_HOST, SET_STREAM, SET_EVENT, SET_GRAPH, SET_EXEC, SET_COUNT };

typedef struct cctx {
    int ordinal;
    char name[320];
    launch_fn launch;
    error_name_fn error_name;
    pset sets[SET_COUNT];
} cctx;

static int cu_fail(cudaError_t e, tgc_err *err, const char *what) {
    return tgc_fail(err, "cuda: %s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

#define CK(call, what)                                                                                          \
    do {                                                                                                        \
        cudaError_t e_ = (call);                                                                                \
        if (e_ != cudaSuccess) return cu_fail(e_, err, what);                                                   \
    } while (0)

#define CK_NULL(call, what)                                                                                     \
    do {                                                                                                        \
        cudaError_t e_ = (call);                                                                                \
        if (e_ != cudaSuccess) {                                                                                \
            cu_fail(e_, err, what);                                                                             \
            return NULL;                                                                                        \
        }                                                                                                       \
    } while (0)

static void *entry_point(const char *sym) {
    void *fn = NULL;
    enum cudaDriverEntryPointQueryResult q;
    if (cudaGetDriverEntryPointByVersion(sym, &fn, 12000, cudaEnableDefault, &q) != cudaSuccess ||
        q != cudaDriverEntryPointSuccess)
        return NULL;
    return fn;
}

static void *cu_open(const tgc_stream_opts *o, tgc_err *err) {
    int ordinal = o ? o->ordinal : 0, n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        cudaGetLastError();
        tgc_fail(err, "cuda: no GPU (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "cudaGetDeviceCount found none");
        return NULL;
    }
    if (ordinal < 0 || ordinal >= n) {
        tgc_fail(err, "cuda: no GPU %d (%d visible)", ordinal, n);
        return NULL;
    }
    CK_NULL(cudaSetDevice(ordinal), "cudaSetDevice");
    CK_NULL(cudaFree(NULL), "creating the context");
    cctx *c = tgc_calloc(1, sizeof *c);
    c->ordinal = ordinal;
    c->launch = (launch_fn)entry_point("cuLaunchKernel");
    c->error_name = (error_name_fn)entry_point("cuGetErrorName");
    if (!c->launch) {
        free(c);
        tgc_fail(err, "cuda: the driver has no cuLaunchKernel entry point");
        return NULL;
    }
    struct cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, ordinal) == cudaSuccess)
        snprintf(c->name, sizeof c->name, "cuda:%d, %s, sm_%d%d", ordinal, prop.name, prop.major, prop.minor);
    else
        snprintf(c->name, sizeof c->name, "cuda:%d", ordinal);
    return c;
}

static void cu_close(void *vc) {
    cctx *c = vc;
    if (!c) return;
    cudaSetDevice(c->ordinal);
    cudaDeviceSynchronize();
    for (int i = 0; i < c->sets[SET_EXEC].n; i++) cudaGraphExecDestroy(c->sets[SET_EXEC].p[i]);
    for (int i = 0; i < c->sets[SET_GRAPH].n; i++) cudaGraphDestroy(c->sets[SET_GRAPH].p[i]);
    for (int i = 0; i < c->sets[SET_EVENT].n; i++) cudaEventDestroy(c->sets[SET_EVENT].p[i]);
    for (int i = 0; i < c->sets[SET_STREAM].n; i++) cudaStreamDestroy(c->sets[SET_STREAM].p[i]);
    for (int i = 0; i < c->sets[SET_DEV].n; i++) cudaFree(c->sets[SET_DEV].p[i]);
    for (int i = 0; i < c->sets[SET_HOST].n; i++) cudaFreeHost(c->sets[SET_HOST].p[i]);
    for (int k = 0; k < SET_COUNT; k++) free(c->sets[k].p);
    cudaGetLastError();
    free(c);
}

static void cu_describe(void *vc, char *buf, size_t size) { snprintf(buf, size, "%s", ((cctx *)vc)->name); }

static int cu_sync(void *vc, tgc_err *err) {
    CK(cudaSetDevice(((cctx *)vc)->ordinal), "cudaSetDevice");
    CK(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
    return 0;
}

static int cu_poll(void *vc, tgc_err *err) { return 0; /* the GPU progresses on its own */ }

static void *cu_dev_alloc(void *vc, uint64_t bytes, const char *label, tgc_err *err) {
    cctx *c = vc;
    void *p = NULL;
    CK_NULL(cudaSetDevice(c->ordinal), "cudaSetDevice");
    cudaError_t e = cudaMalloc(&p, bytes ? (size_t)bytes : 1);
    if (e != cudaSuccess) {
        tgc_fail(err, "cuda: cannot allocate %llu bytes of device memory for '%s': %s", (unsigned long long)bytes,
                 label ? label : "?", cudaGetErrorString(e));
        return NULL;
    }
    pset_add(&c->sets[SET_DEV], p);
    return p;
}

static void cu_dev_free(void *vc, void *p) {
    cctx *c = vc;
    if (p && pset_del(&c->sets[SET_DEV], p)) cudaFree(p);
}

static void *cu_host_alloc(void *vc, uint64_t bytes, const char *label, tgc_err *err) {
    cctx *c = vc;
    void *p = NULL;
    cudaError_t e = cudaHostAlloc(&p, bytes ? (size_t)bytes : 1, cudaHostAllocPortable);
    if (e != cudaSuccess) {
        tgc_fail(err, "cuda: cannot allocate %llu bytes of pinned memory for '%s': %s", (unsigned long long)bytes,
                 label ? label : "?", cudaGetErrorString(e));
        return NULL;
    }
    pset_add(&c->sets[SET_HOST], p);
    return p;
}

static void cu_host_free(void *vc, void *p) {
    cctx *c = vc;
    if (p && pset_del(&c->sets[SET_HOST], p)) cudaFreeHost(p);
}

static tgc_stream *cu_stream_create(void *vc, const char *label, tgc_err *err) {
    cctx *c = vc;
    cudaStream_t s;
    CK_NULL(cudaSetDevice(c->ordinal), "cudaSetDevice");
    CK_NULL(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    pset_add(&c->sets[SET_STREAM], s);
    return (tgc_stream *)s;
}

static void cu_stream_destroy(void *vc, tgc_stream *s) {
    cctx *c = vc;
    if (s && pset_del(&c->sets[SET_STREAM], s)) cudaStreamDestroy((cudaStream_t)s);
}

static int cu_stream_sync(void *vc, tgc_stream *s, tgc_err *err) {
    CK(cudaStreamSynchronize((cudaStream_t)s), "cudaStreamSynchronize");
    return 0;
}

static void *cu_stream_native(void *vc, tgc_stream *s) { return (void *)s; }

static tgc_event *cu_event_create(void *vc, const char *label, int timing, tgc_err *err) {
    cctx *c = vc;
    cudaEvent_t e;
    CK_NULL(cudaSetDevice(c->ordinal), "cudaSetDevice");
    CK_NULL(cudaEventCreateWithFlags(&e, timing ? cudaEventDefault : cudaEventDisableTiming), "cudaEventCreate");
    pset_add(&c->sets[SET_EVENT], e);
    return (tgc_event *)e;
}

static void cu_event_destroy(void *vc, tgc_event *e) {
    cctx *c = vc;
    if (e && pset_del(&c->sets[SET_EVENT], e)) cudaEventDestroy((cudaEvent_t)e);
}

static int cu_event_record(void *vc, tgc_event *e, tgc_stream *s, tgc_err *err) {
    CK(cudaEventRecord((cudaEvent_t)e, (cudaStream_t)s), "cudaEventRecord");
    return 0;
}

static int cu_stream_wait_event(void *vc, tgc_stream *s, tgc_event *e, tgc_err *err) {
    CK(cudaStreamWaitEvent((cudaStream_t)s, (cudaEvent_t)e, 0), "cudaStreamWaitEvent");
    return 0;
}

static int cu_event_query(void *vc, tgc_event *e, tgc_err *err) {
    cudaError_t r = cudaEventQuery((cudaEvent_t)e);
    if (r == cudaSuccess) return 1;
    if (r == cudaErrorNotReady) {
        cudaGetLastError(); /* "not ready" is an answer, not an error */
        return 0;
    }
    return cu_fail(r, err, "cudaEventQuery");
}

static int cu_event_sync(void *vc, tgc_event *e, tgc_err *err) {
    CK(cudaEventSynchronize((cudaEvent_t)e), "cudaEventSynchronize");
    return 0;
}

static int cu_event_elapsed(void *vc, tgc_event *a, tgc_event *b, double *ms, tgc_err *err) {
    float f = 0;
    CK(cudaEventElapsedTime(&f, (cudaEvent_t)a, (cudaEvent_t)b), "cudaEventElapsedTime");
    *ms = f;
    return 0;
}

static int cu_memcpy_async(void *vc, void *dst, const void *src, uint64_t bytes, tgc_copy_kind kind, tgc_stream *s,
                           tgc_err *err) {
    static const enum cudaMemcpyKind kinds[] = {cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost,
                                                cudaMemcpyDeviceToDevice};
    if ((unsigned)kind > TGC_COPY_D2D) return tgc_fail(err, "cuda: memcpy_async: unknown copy kind %d", (int)kind);
    if (bytes == 0) return 0;
    CK(cudaMemcpyAsync(dst, src, (size_t)bytes, kinds[kind], (cudaStream_t)s), "cudaMemcpyAsync");
    return 0;
}

static int cu_memset_async(void *vc, void *dst, int value, uint64_t bytes, tgc_stream *s, tgc_err *err) {
    if (bytes == 0) return 0;
    CK(cudaMemsetAsync(dst, value, (size_t)bytes, (cudaStream_t)s), "cudaMemsetAsync");
    return 0;
}

static unsigned dim(uint32_t v) { return v ? v : 1; }

static int cu_launch(void *vc, const tgc_kernel *k, tgc_stream *s, tgc_err *err) {
    cctx *c = vc;
    const char *name = k->name ? k->name : "?";
    if (!k->cu_func) return tgc_fail(err, "cuda: kernel '%s' has no CUfunction (tgc_kernel.cu_func)", name);
    size_t size = k->params_bytes;
    void *extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, (void *)k->params, CU_LAUNCH_PARAM_BUFFER_SIZE, &size,
                     CU_LAUNCH_PARAM_END};
    CUresult r = c->launch((CUfunction)k->cu_func, dim(k->grid[0]), dim(k->grid[1]), dim(k->grid[2]),
                           dim(k->block[0]), dim(k->block[1]), dim(k->block[2]), k->shared_bytes, (CUstream)s, NULL,
                           size ? extra : NULL);
    if (r != CUDA_SUCCESS) {
        const char *en = NULL;
        if (c->error_name) c->error_name(r, &en);
        return tgc_fail(err, "cuda: launching kernel '%s' (grid %u x %u x %u, block %u x %u x %u): %s (%d)", name,
                        dim(k->grid[0]), dim(k->grid[1]), dim(k->grid[2]), dim(k->block[0]), dim(k->block[1]),
                        dim(k->block[2]), en ? en : "CUresult", (int)r);
    }
    return 0;
}

static int cu_lib_call(void *vc, const tgc_lib_work *w, tgc_stream *s, tgc_err *err) {
    cctx *c = vc;
    const char *name = w->name ? w->name : "?";
    if (!w->enqueue) return tgc_fail(err, "cuda: library work '%s' has no enqueue function (tgc_lib_work.enqueue)", name);
    CK(cudaSetDevice(c->ordinal), "cudaSetDevice");
    if (w->enqueue(w->user, (void *)s, err) < 0) return tgc_err_prefix(err, "cuda: library work '%s'", name);
    return 0;
}

static int cu_host_func(void *vc, tgc_stream *s, const char *label, tgc_host_fn fn, void *user,
                        const tgc_mem_access *a, tgc_err *err) {
    CK(cudaLaunchHostFunc((cudaStream_t)s, fn, user), "cudaLaunchHostFunc");
    return 0;
}

static int cu_capture_begin(void *vc, tgc_stream *s, const char *label, tgc_err *err) {
    CK(cudaStreamBeginCapture((cudaStream_t)s, cudaStreamCaptureModeGlobal), "cudaStreamBeginCapture");
    return 0;
}

static tgc_graph *cu_capture_end(void *vc, tgc_stream *s, tgc_err *err) {
    cctx *c = vc;
    cudaGraph_t g = NULL;
    CK_NULL(cudaStreamEndCapture((cudaStream_t)s, &g), "cudaStreamEndCapture");
    pset_add(&c->sets[SET_GRAPH], g);
    return (tgc_graph *)g;
}

static tgc_graph_exec *cu_graph_instantiate(void *vc, tgc_graph *g, tgc_err *err) {
    cctx *c = vc;
    cudaGraphExec_t x = NULL;
    CK_NULL(cudaGraphInstantiate(&x, (cudaGraph_t)g, 0), "cudaGraphInstantiate");
    pset_add(&c->sets[SET_EXEC], x);
    return (tgc_graph_exec *)x;
}

static int cu_graph_launch(void *vc, tgc_graph_exec *x, tgc_stream *s, tgc_err *err) {
    CK(cudaGraphLaunch((cudaGraphExec_t)x, (cudaStream_t)s), "cudaGraphLaunch");
    return 0;
}

static void cu_graph_destroy(void *vc, tgc_graph *g) {
    cctx *c = vc;
    if (g && pset_del(&c->sets[SET_GRAPH], g)) cudaGraphDestroy((cudaGraph_t)g);
}

static void cu_graph_exec_destroy(void *vc, tgc_graph_exec *x) {
    cctx *c = vc;
    if (x && pset_del(&c->sets[SET_EXEC], x)) cudaGraphExecDestroy((cudaGraphExec_t)x);
}

static int cu_host_access(void *vc, const tgc_mem_access *a, const char *what, tgc_err *err) { return 0; }

const tgc_stream_api tgc_cuda_stream_api = {
    .name = "cuda",
    .open = cu_open,
    .close = cu_close,
    .describe = cu_describe,
    .sync = cu_sync,
    .poll = cu_poll,
    .dev_alloc = cu_dev_alloc,
    .dev_free = cu_dev_free,
    .host_alloc = cu_host_alloc,
    .host_free = cu_host_free,
    .stream_create = cu_stream_create,
    .stream_destroy = cu_stream_destroy,
    .stream_sync = cu_stream_sync,
    .stream_native = cu_stream_native,
    .event_create = cu_event_create,
    .event_destroy = cu_event_destroy,
    .event_record = cu_event_record,
    .stream_wait_event = cu_stream_wait_event,
    .event_query = cu_event_query,
    .event_sync = cu_event_sync,
    .event_elapsed = cu_event_elapsed,
    .memcpy_async = cu_memcpy_async,
    .memset_async = cu_memset_async,
    .launch = cu_launch,
    .lib_call = cu_lib_call,
    .host_func = cu_host_func,
    .capture_begin = cu_capture_begin,
    .capture_end = cu_capture_end,
    .graph_instantiate = cu_graph_instantiate,
    .graph_launch = cu_graph_launch,
    .graph_destroy = cu_graph_destroy,
    .graph_exec_destroy = cu_graph_exec_destroy,
    .host_access = cu_host_access,
};
