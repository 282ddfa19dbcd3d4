/* tests/unit/test_stream_scenarios.h - programs written against the stream API (backend/cuda/stream_api.h) the
 * way the CUDA executor will drive it, shared by the stand-in's tests (test_backend_stream_standin.c, under many
 * seeds, correct and deliberately broken) and the GPU's (test_stream_cuda.c, correct ones only).
 *
 * One training step, data-parallel style, on three streams:
 *   copy:    waits for compute's earlier work (x is free), uploads the batch from pinned staging into x
 *   compute: waits for the upload; fwd h = x * w; per bucket b: grad_b g_b = 2 h_b + x_b, then an event
 *   comm:    per bucket: waits for the bucket's event, allreduce_b g_b = (g_b + other_b) / 2 ("the other rank"),
 *            then an event after the last bucket
 *   compute: waits for comm; sgd w = w - 0.1 g; downloads h into pinned memory (the "loss")
 * The host refills staging once the previous upload has read it, and reads h after synchronising. The same
 * step runs eagerly, or captured once into a graph and replayed. Each SC_BUG_* flag breaks one ordering.
 *
 * Header-only (static): each test includes it once. */
#ifndef TGC_TEST_STREAM_SCENARIOS_H
#define TGC_TEST_STREAM_SCENARIOS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/stream_api.h"

#define SC_N 1024     /* floats per buffer */
#define SC_BUCKETS 2  /* gradient buckets of SC_N / SC_BUCKETS floats */
#define SC_LR 0.1f

enum {
    SC_BUG_NO_WAIT_OPT = 1 << 0,      /* the optimizer does not wait for the comm stream's event */
    SC_BUG_EARLY_RECORD = 1 << 1,     /* the last bucket's event is recorded before its gradient kernel */
    SC_BUG_HOST_READ_EARLY = 1 << 2,  /* the host reads the downloaded activations before synchronising */
    SC_BUG_NO_WAIT_UPLOAD = 1 << 3,   /* compute does not wait for the upload before fwd */
    SC_BUG_STAGING_REUSE = 1 << 4,    /* the host refills staging before the previous upload has read it */
    SC_BUG_GRAPH_LATE_JOIN = 1 << 5,  /* in the captured step, compute waits for the upload only at the end */
    SC_BUG_PREFETCH_NO_WAIT = 1 << 6, /* a graph replay does not wait for the upload issued after the last one */
};

/* ---- the kernels: parameter structs (the CUDA kernels' parameter lists) and host bodies ---- */

typedef struct sc_axpby_params { /* out = a x + b y */
    const float *x, *y;
    float *out;
    float a, b;
    uint32_t n;
} sc_axpby_params;

typedef struct sc_mul_params { /* out = x y */
    const float *x, *y;
    float *out;
    uint32_t n;
} sc_mul_params;

/* The parameter buffer ends at the last parameter (no tail padding), as cuLaunchKernel expects its size. */
#define SC_PARAMS_BYTES(type, last) (offsetof(type, last) + sizeof(((type *)0)->last))

static int sc_k_axpby(const void *vp, tgc_err *err) {
    const sc_axpby_params *p = vp;
    for (uint32_t i = 0; i < p->n; i++) p->out[i] = p->a * p->x[i] + p->b * p->y[i];
    return 0;
}

static int sc_k_mul(const void *vp, tgc_err *err) {
    const sc_mul_params *p = vp;
    for (uint32_t i = 0; i < p->n; i++) p->out[i] = p->x[i] * p->y[i];
    return 0;
}

/* CUDA source of the same kernels (NVRTC), for the GPU test. */
static const char *const sc_cuda_source =
    "extern \"C\" __global__ void axpby(const float *x, const float *y, float *out, float a, float b, unsigned n) {\n"
    "    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;\n"
    "    if (i < n) out[i] = a * x[i] + b * y[i];\n"
    "}\n"
    "extern \"C\" __global__ void mul(const float *x, const float *y, float *out, unsigned n) {\n"
    "    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;\n"
    "    if (i < n) out[i] = x[i] * y[i];\n"
    "}\n";

/* Where the programs run: a table, an open context, and the kernels' CUfunctions (NULL on the stand-in). */
typedef struct sc_env {
    const tgc_stream_api *api;
    void *ctx;
    void *cu_axpby, *cu_mul;
} sc_env;

static int sc_axpby(sc_env *e, tgc_stream *s, const char *name, const float *x, const float *y, float *out, float a,
                    float b, uint32_t n, tgc_err *err) {
    sc_axpby_params p = {x, y, out, a, b, n};
    tgc_mem_range r[2] = {{x, n * sizeof(float)}, {y, n * sizeof(float)}}, w = {out, n * sizeof(float)};
    tgc_kernel k = {.name = name, .host_fn = sc_k_axpby, .cu_func = e->cu_axpby, .grid = {(n + 127) / 128},
                    .block = {128}, .params = &p, .params_bytes = SC_PARAMS_BYTES(sc_axpby_params, n),
                    .access = {r, 2, &w, 1}};
    return e->api->launch(e->ctx, &k, s, err);
}

static int sc_mul(sc_env *e, tgc_stream *s, const char *name, const float *x, const float *y, float *out, uint32_t n,
                  tgc_err *err) {
    sc_mul_params p = {x, y, out, n};
    tgc_mem_range r[2] = {{x, n * sizeof(float)}, {y, n * sizeof(float)}}, w = {out, n * sizeof(float)};
    tgc_kernel k = {.name = name, .host_fn = sc_k_mul, .cu_func = e->cu_mul, .grid = {(n + 127) / 128},
                    .block = {128}, .params = &p, .params_bytes = SC_PARAMS_BYTES(sc_mul_params, n),
                    .access = {r, 2, &w, 1}};
    return e->api->launch(e->ctx, &k, s, err);
}

/* ---- the data and the host's reference ---- */

static float sc_w0(int i) { return 0.01f * (float)(i % 17) - 0.08f; }
static float sc_other(int i) { return 0.001f * (float)(i % 13); }
static float sc_batch(int step, int i, int rank) { return 0.1f * (float)((i * 7 + step * 3 + rank * 5) % 11) - 0.5f; }

/* w after `steps` steps and h of the last one, computed on the host in the kernels' arithmetic. With ranks > 1
 * the all-reduce averages the ranks' gradients (the two-rank scenario) instead of averaging with `other`. */
static void sc_reference(int steps, int ranks, float *w, float *h_last) {
    float *g = calloc(SC_N, sizeof *g);
    for (int i = 0; i < SC_N; i++) w[i] = sc_w0(i);
    for (int s = 0; s < steps; s++) {
        for (int i = 0; i < SC_N; i++) g[i] = 0;
        for (int r = 0; r < ranks; r++)
            for (int i = 0; i < SC_N; i++) {
                float x = sc_batch(s, i, r), h = x * w[i], gr = 2.0f * h + 1.0f * x;
                if (r == 0) h_last[i] = h;
                if (ranks == 1) g[i] = 0.5f * gr + 0.5f * sc_other(i);
                else g[i] += gr;
            }
        if (ranks > 1)
            for (int i = 0; i < SC_N; i++) g[i] /= (float)ranks;
        for (int i = 0; i < SC_N; i++) w[i] = 1.0f * w[i] + -SC_LR * g[i];
    }
    free(g);
}

/* Whether two arrays agree (tol 0: exactly). */
static int sc_close(const float *a, const float *b, int n, float tol) {
    for (int i = 0; i < n; i++)
        if (tol == 0 ? a[i] != b[i] : fabsf(a[i] - b[i]) > tol * (1.0f + fabsf(b[i]))) return 0;
    return 1;
}

/* ---- one rank's buffers, streams and events ---- */

typedef struct sc_state {
    sc_env *e;
    float *x, *w, *h, *g, *other;                 /* device */
    float *staging, *host_h, *host_w, *host_init; /* pinned */
    tgc_stream *copy, *compute, *comm;
    tgc_event *ev_fork, *ev_up, *ev_grad[SC_BUCKETS], *ev_comm, *ev_h, *ev_done;
    void *comm_rank; /* the stand-in's communicator for the two-rank scenario, else NULL */
    int rank;
    int (*allreduce)(struct sc_state *st, int bucket, tgc_err *err); /* NULL: the one-rank kernel */
} sc_state;

#define SC_TRY(call)                                                                                            \
    do {                                                                                                        \
        if ((call) < 0) goto fail;                                                                              \
    } while (0)
#define SC_NEW(lhs, call)                                                                                       \
    do {                                                                                                        \
        if (!((lhs) = (call))) goto fail;                                                                       \
    } while (0)

static void sc_state_free(sc_state *st) {
    sc_env *e = st->e;
    const tgc_stream_api *a = e->api;
    a->event_destroy(e->ctx, st->ev_fork);
    a->event_destroy(e->ctx, st->ev_up);
    for (int b = 0; b < SC_BUCKETS; b++) a->event_destroy(e->ctx, st->ev_grad[b]);
    a->event_destroy(e->ctx, st->ev_comm);
    a->event_destroy(e->ctx, st->ev_h);
    a->event_destroy(e->ctx, st->ev_done);
    a->stream_destroy(e->ctx, st->copy);
    a->stream_destroy(e->ctx, st->compute);
    a->stream_destroy(e->ctx, st->comm);
    float *dev[] = {st->x, st->w, st->h, st->g, st->other};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++) a->dev_free(e->ctx, dev[i]);
    float *host[] = {st->staging, st->host_h, st->host_w, st->host_init};
    for (size_t i = 0; i < sizeof host / sizeof *host; i++) a->host_free(e->ctx, host[i]);
    memset(st, 0, sizeof *st);
}

/* Buffers, streams, events; w and other uploaded, g and x zeroed (as the executor's slabs are), all synchronised. */
static int sc_state_init(sc_env *e, sc_state *st, int rank, tgc_err *err) {
    const tgc_stream_api *a = e->api;
    void *c = e->ctx;
    const uint64_t B = SC_N * sizeof(float);
    memset(st, 0, sizeof *st);
    st->e = e;
    st->rank = rank;
    SC_NEW(st->x, a->dev_alloc(c, B, "x", err));
    SC_NEW(st->w, a->dev_alloc(c, B, "w", err));
    SC_NEW(st->h, a->dev_alloc(c, B, "h", err));
    SC_NEW(st->g, a->dev_alloc(c, B, "grads", err));
    SC_NEW(st->other, a->dev_alloc(c, B, "other", err));
    SC_NEW(st->staging, a->host_alloc(c, B, "staging", err));
    SC_NEW(st->host_h, a->host_alloc(c, B, "host_h", err));
    SC_NEW(st->host_w, a->host_alloc(c, B, "host_w", err));
    SC_NEW(st->host_init, a->host_alloc(c, 2 * B, "host_init", err));
    SC_NEW(st->copy, a->stream_create(c, "copy", err));
    SC_NEW(st->compute, a->stream_create(c, "compute", err));
    SC_NEW(st->comm, a->stream_create(c, "comm", err));
    SC_NEW(st->ev_fork, a->event_create(c, "fork", 0, err));
    SC_NEW(st->ev_up, a->event_create(c, "uploaded", 0, err));
    SC_NEW(st->ev_grad[0], a->event_create(c, "grads_b0", 0, err));
    SC_NEW(st->ev_grad[1], a->event_create(c, "grads_b1", 0, err));
    SC_NEW(st->ev_comm, a->event_create(c, "reduced", 0, err));
    SC_NEW(st->ev_h, a->event_create(c, "h_downloaded", 0, err));
    SC_NEW(st->ev_done, a->event_create(c, "step_done", 1, err));
    tgc_mem_range wr = {st->host_init, 2 * B};
    SC_TRY(a->host_access(c, &(tgc_mem_access){NULL, 0, &wr, 1}, "fill the initial values", err));
    for (int i = 0; i < SC_N; i++) st->host_init[i] = sc_w0(i), st->host_init[SC_N + i] = sc_other(i);
    SC_TRY(a->memcpy_async(c, st->w, st->host_init, B, TGC_COPY_H2D, st->copy, err));
    SC_TRY(a->memcpy_async(c, st->other, st->host_init + SC_N, B, TGC_COPY_H2D, st->copy, err));
    SC_TRY(a->memset_async(c, st->g, 0, B, st->copy, err));
    SC_TRY(a->memset_async(c, st->x, 0, B, st->copy, err));
    SC_TRY(a->sync(c, err));
    return 0;
fail:
    return -1;
}

static int sc_allreduce_kernel(sc_state *st, int b, tgc_err *err) {
    static const char *const names[SC_BUCKETS] = {"allreduce_b0", "allreduce_b1"};
    const int n = SC_N / SC_BUCKETS;
    return sc_axpby(st->e, st->comm, names[b], st->g + b * n, st->other + b * n, st->g + b * n, 0.5f, 0.5f, n, err);
}

/* The host refills staging for `step` (after the previous upload read it, unless the bug says otherwise). */
static int sc_fill_staging(sc_state *st, int step, int wait_for, int bugs, tgc_err *err) {
    sc_env *e = st->e;
    if (wait_for && !(bugs & SC_BUG_STAGING_REUSE)) SC_TRY(e->api->event_sync(e->ctx, st->ev_up, err));
    tgc_mem_range wr = {st->staging, SC_N * sizeof(float)};
    SC_TRY(e->api->host_access(e->ctx, &(tgc_mem_access){NULL, 0, &wr, 1}, "fill the batch", err));
    for (int i = 0; i < SC_N; i++) st->staging[i] = sc_batch(step, i, st->rank);
    return 0;
fail:
    return -1;
}

/* The upload: copy waits for compute's earlier work (x is free), copies staging into x, records ev_up. */
static int sc_issue_upload(sc_state *st, tgc_err *err) {
    sc_env *e = st->e;
    const tgc_stream_api *a = e->api;
    SC_TRY(a->event_record(e->ctx, st->ev_fork, st->compute, err));
    SC_TRY(a->stream_wait_event(e->ctx, st->copy, st->ev_fork, err));
    SC_TRY(a->memcpy_async(e->ctx, st->x, st->staging, SC_N * sizeof(float), TGC_COPY_H2D, st->copy, err));
    SC_TRY(a->event_record(e->ctx, st->ev_up, st->copy, err));
    return 0;
fail:
    return -1;
}

/* Forward, gradients by bucket, all-reduces on comm, the optimizer, the download of h. */
static int sc_issue_compute(sc_state *st, int bugs, int wait_upload, tgc_err *err) {
    static const char *const grad_names[SC_BUCKETS] = {"grad_b0", "grad_b1"};
    sc_env *e = st->e;
    const tgc_stream_api *a = e->api;
    void *c = e->ctx;
    const int n = SC_N / SC_BUCKETS;
    if (wait_upload) SC_TRY(a->stream_wait_event(c, st->compute, st->ev_up, err));
    SC_TRY(sc_mul(e, st->compute, "fwd", st->x, st->w, st->h, SC_N, err));
    for (int b = 0; b < SC_BUCKETS; b++) {
        int early = (bugs & SC_BUG_EARLY_RECORD) && b == SC_BUCKETS - 1;
        if (early) SC_TRY(a->event_record(c, st->ev_grad[b], st->compute, err));
        SC_TRY(sc_axpby(e, st->compute, grad_names[b], st->h + b * n, st->x + b * n, st->g + b * n, 2.0f, 1.0f, n,
                        err));
        if (!early) SC_TRY(a->event_record(c, st->ev_grad[b], st->compute, err));
        SC_TRY(a->stream_wait_event(c, st->comm, st->ev_grad[b], err));
        SC_TRY(st->allreduce ? st->allreduce(st, b, err) : sc_allreduce_kernel(st, b, err));
    }
    SC_TRY(a->event_record(c, st->ev_comm, st->comm, err));
    if (!(bugs & SC_BUG_NO_WAIT_OPT)) SC_TRY(a->stream_wait_event(c, st->compute, st->ev_comm, err));
    SC_TRY(sc_axpby(e, st->compute, "sgd", st->w, st->g, st->w, 1.0f, -SC_LR, SC_N, err));
    SC_TRY(a->memcpy_async(c, st->host_h, st->h, SC_N * sizeof(float), TGC_COPY_D2H, st->compute, err));
    SC_TRY(a->event_record(c, st->ev_h, st->compute, err));
    return 0;
fail:
    return -1;
}

/* The host reads h (after synchronising with its download, unless the bug says otherwise), then w. */
static int sc_finish(sc_state *st, int bugs, float *w_out, float *h_out, tgc_err *err) {
    sc_env *e = st->e;
    const tgc_stream_api *a = e->api;
    void *c = e->ctx;
    const uint64_t B = SC_N * sizeof(float);
    if (!(bugs & SC_BUG_HOST_READ_EARLY)) SC_TRY(a->event_sync(c, st->ev_h, err));
    tgc_mem_range rh = {st->host_h, B}, rw = {st->host_w, B};
    SC_TRY(a->host_access(c, &(tgc_mem_access){&rh, 1, NULL, 0}, "read the activations", err));
    if (h_out) memcpy(h_out, st->host_h, B);
    SC_TRY(a->memcpy_async(c, st->host_w, st->w, B, TGC_COPY_D2H, st->compute, err));
    SC_TRY(a->stream_sync(c, st->compute, err));
    SC_TRY(a->host_access(c, &(tgc_mem_access){&rw, 1, NULL, 0}, "read the weights", err));
    if (w_out) memcpy(w_out, st->host_w, B);
    SC_TRY(a->sync(c, err));
    return 0;
fail:
    return -1;
}

/* `steps` eager steps; w and the last step's h out. */
static int sc_run_eager(sc_env *e, int bugs, int steps, float *w_out, float *h_out, tgc_err *err) {
    sc_state st;
    if (sc_state_init(e, &st, 0, err) < 0) goto fail;
    for (int s = 0; s < steps; s++) {
        SC_TRY(sc_fill_staging(&st, s, s > 0, bugs, err));
        SC_TRY(sc_issue_upload(&st, err));
        SC_TRY(sc_issue_compute(&st, bugs, !(bugs & SC_BUG_NO_WAIT_UPLOAD), err));
    }
    SC_TRY(sc_finish(&st, bugs, w_out, h_out, err));
    sc_state_free(&st);
    return 0;
fail:
    sc_state_free(&st);
    return -1;
}

/* The step captured once (upload included) and replayed `launches` times on compute. */
static int sc_run_graph(sc_env *e, int bugs, int launches, float *w_out, float *h_out, tgc_err *err) {
    const tgc_stream_api *a = e->api;
    tgc_graph *g = NULL;
    tgc_graph_exec *x = NULL;
    sc_state st;
    if (sc_state_init(e, &st, 0, err) < 0) goto fail;
    SC_TRY(a->capture_begin(e->ctx, st.compute, "step", err));
    SC_TRY(sc_issue_upload(&st, err));
    SC_TRY(sc_issue_compute(&st, bugs, !(bugs & SC_BUG_GRAPH_LATE_JOIN), err));
    if (bugs & SC_BUG_GRAPH_LATE_JOIN) SC_TRY(a->stream_wait_event(e->ctx, st.compute, st.ev_up, err));
    SC_NEW(g, a->capture_end(e->ctx, st.compute, err));
    SC_NEW(x, a->graph_instantiate(e->ctx, g, err));
    a->graph_destroy(e->ctx, g); /* the exec keeps what it needs */
    g = NULL;
    for (int k = 0; k < launches; k++) {
        /* staging is read by the previous replay's upload: wait for that replay */
        if (k > 0) SC_TRY(a->event_sync(e->ctx, st.ev_done, err));
        tgc_mem_range wr = {st.staging, SC_N * sizeof(float)};
        SC_TRY(a->host_access(e->ctx, &(tgc_mem_access){NULL, 0, &wr, 1}, "fill the batch", err));
        for (int i = 0; i < SC_N; i++) st.staging[i] = sc_batch(k, i, 0);
        SC_TRY(a->graph_launch(e->ctx, x, st.compute, err));
        SC_TRY(a->event_record(e->ctx, st.ev_done, st.compute, err));
    }
    /* the captured events are the graph's now: synchronise on the stream */
    SC_TRY(a->stream_sync(e->ctx, st.compute, err));
    tgc_mem_range rh = {st.host_h, SC_N * sizeof(float)};
    SC_TRY(a->host_access(e->ctx, &(tgc_mem_access){&rh, 1, NULL, 0}, "read the activations", err));
    if (h_out) memcpy(h_out, st.host_h, SC_N * sizeof(float));
    SC_TRY(a->memcpy_async(e->ctx, st.host_w, st.w, SC_N * sizeof(float), TGC_COPY_D2H, st.compute, err));
    SC_TRY(a->stream_sync(e->ctx, st.compute, err));
    tgc_mem_range rw = {st.host_w, SC_N * sizeof(float)};
    SC_TRY(a->host_access(e->ctx, &(tgc_mem_access){&rw, 1, NULL, 0}, "read the weights", err));
    if (w_out) memcpy(w_out, st.host_w, SC_N * sizeof(float));
    double ms = -1;
    SC_TRY(a->event_elapsed(e->ctx, st.ev_done, st.ev_done, &ms, err));
    if (ms != 0) {
        tgc_fail(err, "elapsed time from an event to itself is %g ms", ms);
        goto fail;
    }
    a->graph_exec_destroy(e->ctx, x);
    sc_state_free(&st);
    return 0;
fail:
    a->graph_destroy(e->ctx, g);
    a->graph_exec_destroy(e->ctx, x);
    sc_state_free(&st);
    return -1;
}

/* The step without the upload captured once; uploads stay outside the graph, each on the copy stream after the
 * previous replay (x is free), and each replay waits for its upload (unless SC_BUG_PREFETCH_NO_WAIT). */
static int sc_run_graph_prefetch(sc_env *e, int bugs, int launches, float *w_out, tgc_err *err) {
    const tgc_stream_api *a = e->api;
    tgc_graph *g = NULL;
    tgc_graph_exec *x = NULL;
    sc_state st;
    if (sc_state_init(e, &st, 0, err) < 0) goto fail;
    SC_TRY(a->capture_begin(e->ctx, st.compute, "train", err));
    SC_TRY(sc_issue_compute(&st, bugs, 0, err));
    SC_NEW(g, a->capture_end(e->ctx, st.compute, err));
    SC_NEW(x, a->graph_instantiate(e->ctx, g, err));
    for (int k = 0; k < launches; k++) {
        SC_TRY(sc_fill_staging(&st, k, k > 0, 0, err)); /* ev_up: the previous upload has read staging */
        if (k > 0) SC_TRY(a->stream_wait_event(e->ctx, st.copy, st.ev_done, err)); /* x is free */
        SC_TRY(a->memcpy_async(e->ctx, st.x, st.staging, SC_N * sizeof(float), TGC_COPY_H2D, st.copy, err));
        SC_TRY(a->event_record(e->ctx, st.ev_up, st.copy, err));
        if (!(bugs & SC_BUG_PREFETCH_NO_WAIT) || k == 0) SC_TRY(a->stream_wait_event(e->ctx, st.compute, st.ev_up, err));
        SC_TRY(a->graph_launch(e->ctx, x, st.compute, err));
        SC_TRY(a->event_record(e->ctx, st.ev_done, st.compute, err));
    }
    SC_TRY(a->memcpy_async(e->ctx, st.host_w, st.w, SC_N * sizeof(float), TGC_COPY_D2H, st.compute, err));
    SC_TRY(a->sync(e->ctx, err));
    tgc_mem_range rw = {st.host_w, SC_N * sizeof(float)};
    SC_TRY(a->host_access(e->ctx, &(tgc_mem_access){&rw, 1, NULL, 0}, "read the weights", err));
    if (w_out) memcpy(w_out, st.host_w, SC_N * sizeof(float));
    a->graph_exec_destroy(e->ctx, x);
    a->graph_destroy(e->ctx, g);
    sc_state_free(&st);
    return 0;
fail:
    a->graph_exec_destroy(e->ctx, x);
    a->graph_destroy(e->ctx, g);
    sc_state_free(&st);
    return -1;
}

#endif
