/* tests/unit/test_stream_cuda.c - the stream API on a GPU (backend/cuda/stream_cuda.c): the correct programs of
 * test_stream_scenarios.h (eager steps, a captured step replayed, replays with prefetched uploads) give the
 * host's reference results, with the kernels compiled by NVRTC and launched as CUfunctions; plus host
 * callbacks, queries and elapsed time. The stand-in checks these same programs' orderings on CPU
 * (test_backend_stream_standin.c); this test shows they run on the real thing.
 *
 * Without a GPU (cudaGetDeviceCount fails or finds none), or in a build without CUDA, it prints
 * 'skipped: ...' and exits 77 (ctest: skipped), under CI=true too: a GPU is not something tools/setup.sh can
 * install. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef TGC_HAVE_CUDA
#include <cuda.h>
#include <cuda_runtime.h>
#include <nvrtc.h>

#include "test_stream_scenarios.h"

typedef CUresult (*module_load_fn)(CUmodule *, const void *);
typedef CUresult (*module_get_fn)(CUfunction *, CUmodule, const char *);
typedef CUresult (*module_unload_fn)(CUmodule);

static const tgc_stream_api *A = &tgc_cuda_stream_api;
static CUmodule module;
static module_unload_fn module_unload;

static void *driver_fn(const char *sym) {
    void *fn = NULL;
    enum cudaDriverEntryPointQueryResult q;
    ck_assert_msg(cudaGetDriverEntryPointByVersion(sym, &fn, 12000, cudaEnableDefault, &q) == cudaSuccess &&
                      q == cudaDriverEntryPointSuccess && fn,
                  "no driver entry point %s", sym);
    return fn;
}

/* Opens the context and compiles the scenario kernels for its GPU (a cubin; PTX if the cubin will not load). */
static sc_env open_env(void) {
    tgc_err err;
    sc_env e = {A, NULL, NULL, NULL};
    tgc_stream_opts o = {.ordinal = 0};
    e.ctx = A->open(&o, &err);
    ck_assert_msg(e.ctx, "%s", err.msg);
    int major = 0, minor = 0;
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0);
    cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, 0);
    module_load_fn load = (module_load_fn)driver_fn("cuModuleLoadData");
    module_get_fn get = (module_get_fn)driver_fn("cuModuleGetFunction");
    module_unload = (module_unload_fn)driver_fn("cuModuleUnload");
    module = NULL;
    for (int ptx = 0; ptx < 2 && !module; ptx++) {
        nvrtcProgram prog;
        ck_assert_int_eq(nvrtcCreateProgram(&prog, sc_cuda_source, "scenario.cu", 0, NULL, NULL), NVRTC_SUCCESS);
        char arch[64];
        snprintf(arch, sizeof arch, "--gpu-architecture=%s_%d%d", ptx ? "compute" : "sm", major, minor);
        const char *opts[] = {arch};
        nvrtcResult r = nvrtcCompileProgram(prog, 1, opts);
        if (r != NVRTC_SUCCESS) {
            size_t n = 0;
            nvrtcGetProgramLogSize(prog, &n);
            char *log = calloc(n + 1, 1);
            nvrtcGetProgramLog(prog, log);
            ck_abort_msg("nvrtc (%s): %s\n%s", arch, nvrtcGetErrorString(r), log);
        }
        size_t n = 0;
        ck_assert_int_eq(ptx ? nvrtcGetPTXSize(prog, &n) : nvrtcGetCUBINSize(prog, &n), NVRTC_SUCCESS);
        char *image = calloc(n + 1, 1);
        ck_assert_int_eq(ptx ? nvrtcGetPTX(prog, image) : nvrtcGetCUBIN(prog, image), NVRTC_SUCCESS);
        CUresult lr = load(&module, image);
        if (lr != CUDA_SUCCESS) {
            module = NULL;
            printf("cuModuleLoadData of the %s failed (%d)%s\n", ptx ? "PTX" : "cubin", (int)lr,
                   ptx ? "" : "; trying PTX");
        }
        free(image);
        nvrtcDestroyProgram(&prog);
    }
    ck_assert_msg(module, "the scenario kernels did not load");
    CUfunction f;
    ck_assert_int_eq(get(&f, module, "axpby"), CUDA_SUCCESS);
    e.cu_axpby = f;
    ck_assert_int_eq(get(&f, module, "mul"), CUDA_SUCCESS);
    e.cu_mul = f;
    return e;
}

static void close_env(sc_env *e) {
    module_unload(module);
    A->close(e->ctx);
}

static const float TOL = 1e-5f; /* the GPU contracts a x + b y into an FMA */

START_TEST(eager_steps_on_the_gpu) {
    static float w[SC_N], h[SC_N], rw[SC_N], rh[SC_N];
    sc_env e = open_env();
    char line[400];
    A->describe(e.ctx, line, sizeof line);
    printf("test_stream_cuda: %s\n", line);
    tgc_err err;
    ck_assert_msg(sc_run_eager(&e, 0, 3, w, h, &err) == 0, "%s", err.msg);
    sc_reference(3, 1, rw, rh);
    ck_assert(sc_close(w, rw, SC_N, TOL) && sc_close(h, rh, SC_N, TOL));
    close_env(&e);
}
END_TEST

START_TEST(graph_replays_on_the_gpu) {
    static float w[SC_N], h[SC_N], rw[SC_N], rh[SC_N];
    sc_env e = open_env();
    tgc_err err;
    ck_assert_msg(sc_run_graph(&e, 0, 4, w, h, &err) == 0, "%s", err.msg);
    sc_reference(4, 1, rw, rh);
    ck_assert(sc_close(w, rw, SC_N, TOL) && sc_close(h, rh, SC_N, TOL));
    ck_assert_msg(sc_run_graph_prefetch(&e, 0, 4, w, &err) == 0, "%s", err.msg);
    ck_assert(sc_close(w, rw, SC_N, TOL));
    close_env(&e);
}
END_TEST

static void bump(void *u) { ++*(int *)u; }

/* Library work: the enqueue gets the native stream and adds to it (here: a copy, as a library's kernel would). */
typedef struct lib_copy {
    float *dst;
    const float *src;
    size_t bytes;
    int calls;
} lib_copy;

static int enqueue_copy(void *user, void *stream, tgc_err *err) {
    lib_copy *c = user;
    c->calls++;
    cudaError_t e = cudaMemcpyAsync(c->dst, c->src, c->bytes, cudaMemcpyDeviceToDevice, (cudaStream_t)stream);
    return e == cudaSuccess ? 0 : tgc_fail(err, "cudaMemcpyAsync: %s", cudaGetErrorString(e));
}

/* Enqueued at issue on the stream's cudaStream_t; inside a capture, recorded into the graph and run by each replay. */
START_TEST(library_work_on_the_gpu) {
    sc_env e = open_env();
    tgc_err err;
    float *a = A->dev_alloc(e.ctx, 4096, "a", &err), *b = A->dev_alloc(e.ctx, 4096, "b", &err);
    float *h = A->host_alloc(e.ctx, 4096, "h", &err);
    tgc_stream *s = A->stream_create(e.ctx, "s", &err);
    ck_assert(a && b && h && s);
    for (int i = 0; i < 1024; i++) h[i] = (float)i;
    ck_assert_int_eq(A->memcpy_async(e.ctx, a, h, 4096, TGC_COPY_H2D, s, &err), 0);
    lib_copy c = {b, a, 4096, 0};
    tgc_lib_work w = {.name = "copy", .enqueue = enqueue_copy, .user = &c};
    ck_assert_msg(A->lib_call(e.ctx, &w, s, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(c.calls, 1); /* at issue */
    ck_assert_int_eq(A->memset_async(e.ctx, a, 0, 4096, s, &err), 0);
    ck_assert_int_eq(A->capture_begin(e.ctx, s, "lib", &err), 0);
    lib_copy back = {a, b, 4096, 0};
    tgc_lib_work w2 = {.name = "copy back", .enqueue = enqueue_copy, .user = &back};
    ck_assert_msg(A->lib_call(e.ctx, &w2, s, &err) == 0, "%s", err.msg);
    tgc_graph *g = A->capture_end(e.ctx, s, &err);
    ck_assert_msg(g, "%s", err.msg);
    tgc_graph_exec *x = A->graph_instantiate(e.ctx, g, &err);
    ck_assert_msg(x, "%s", err.msg);
    for (int r = 0; r < 3; r++) ck_assert_int_eq(A->graph_launch(e.ctx, x, s, &err), 0);
    ck_assert_int_eq(back.calls, 1); /* captured once, replayed three times */
    ck_assert_int_eq(A->memcpy_async(e.ctx, h, a, 4096, TGC_COPY_D2H, s, &err), 0);
    ck_assert_int_eq(A->sync(e.ctx, &err), 0);
    ck_assert(h[1023] == 1023.0f && h[1] == 1.0f);
    tgc_lib_work none = {.name = "none"};
    ck_assert_int_eq(A->lib_call(e.ctx, &none, s, &err), -1);
    ck_assert_msg(strstr(err.msg, "has no enqueue function"), "%s", err.msg);
    close_env(&e);
}
END_TEST

START_TEST(callbacks_queries_and_timing_on_the_gpu) {
    sc_env e = open_env();
    tgc_err err;
    int *flag = A->host_alloc(e.ctx, sizeof(int), "flag", &err);
    float *d = A->dev_alloc(e.ctx, 1 << 24, "d", &err);
    tgc_stream *s = A->stream_create(e.ctx, "s", &err);
    tgc_event *t0 = A->event_create(e.ctx, "t0", 1, &err), *t1 = A->event_create(e.ctx, "t1", 1, &err);
    ck_assert(flag && d && s && t0 && t1);
    ck_assert_ptr_nonnull(A->stream_native(e.ctx, s));
    *flag = 0;
    ck_assert_int_eq(A->event_record(e.ctx, t0, s, &err), 0);
    for (int i = 0; i < 8; i++) ck_assert_int_eq(A->memset_async(e.ctx, d, i, 1 << 24, s, &err), 0);
    ck_assert_int_eq(A->host_func(e.ctx, s, "bump", bump, flag, NULL, &err), 0);
    ck_assert_int_eq(A->event_record(e.ctx, t1, s, &err), 0);
    int q;
    while ((q = A->event_query(e.ctx, t1, &err)) == 0) {}
    ck_assert_msg(q == 1, "%s", err.msg);
    ck_assert_int_eq(*flag, 1);
    double ms = -1;
    ck_assert_msg(A->event_elapsed(e.ctx, t0, t1, &ms, &err) == 0, "%s", err.msg);
    ck_assert(ms >= 0);
    tgc_kernel none = {.name = "none"};
    ck_assert_int_eq(A->launch(e.ctx, &none, s, &err), -1);
    ck_assert_msg(strstr(err.msg, "has no CUfunction"), "%s", err.msg);
    ck_assert_int_eq(A->sync(e.ctx, &err), 0);
    close_env(&e); /* frees the buffers, stream and events */
}
END_TEST

int main(void) {
    int n = 0;
    cudaError_t ce = cudaGetDeviceCount(&n);
    if (ce != cudaSuccess || n == 0) {
        printf("test_stream_cuda: skipped: no GPU (cudaGetDeviceCount: %s)\n",
               ce != cudaSuccess ? cudaGetErrorString(ce) : "no devices");
        return 77;
    }
    Suite *su = suite_create("stream_cuda");
    TCase *tc = tcase_create("gpu");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, eager_steps_on_the_gpu);
    tcase_add_test(tc, graph_replays_on_the_gpu);
    tcase_add_test(tc, callbacks_queries_and_timing_on_the_gpu);
    tcase_add_test(tc, library_work_on_the_gpu);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_set_fork_status(sr, CK_NOFORK); /* one process keeps one CUDA context (no fork after CUDA init) */
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}

#else

int main(void) {
    printf("test_stream_cuda: skipped: this build has no CUDA (nvcc not found or -DTGC_CUDA=OFF)\n");
    return 77;
}

#endif
