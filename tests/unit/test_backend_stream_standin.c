/* tests/unit/test_backend_stream_standin.c - the CPU stand-in of the stream API (backend/cuda/standin.h): the
 * executor-shaped programs of test_stream_scenarios.h give the host's reference results under 32 seeds
 * (eagerly, as a replayed graph, with uploads prefetched outside a graph, on two ranks with an in-process
 * all-reduce), and each deliberately broken ordering is reported as a race naming both operations and the
 * bytes, under every seed. Also: determinism per seed, the capture rules, and misuse of the API. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/standin.h"
#include "test_stream_scenarios.h"

#define N_SEEDS 32

static const tgc_stream_api *A = &tgc_standin_stream_api;

static void *open_seed(uint64_t seed) {
    tgc_err err;
    tgc_stream_opts o = {.seed = seed};
    void *c = A->open(&o, &err);
    ck_assert_msg(c, "%s", err.msg);
    return c;
}

/* ---- correct programs: the reference results under every seed ---- */

static void check_eager(uint64_t seed, int steps) {
    static float w[SC_N], h[SC_N], rw[SC_N], rh[SC_N];
    sc_env e = {A, open_seed(seed), NULL, NULL};
    tgc_err err;
    ck_assert_msg(sc_run_eager(&e, 0, steps, w, h, &err) == 0, "seed %llu: %s", (unsigned long long)seed, err.msg);
    A->close(e.ctx);
    sc_reference(steps, 1, rw, rh);
    ck_assert_msg(sc_close(w, rw, SC_N, 0) && sc_close(h, rh, SC_N, 0), "seed %llu: results differ",
                  (unsigned long long)seed);
}

START_TEST(eager_steps_match_the_reference_under_every_seed) {
    for (uint64_t seed = 1; seed <= N_SEEDS; seed++) check_eager(seed, 3);
}
END_TEST

START_TEST(graph_replays_match_the_reference_under_every_seed) {
    static float w[SC_N], h[SC_N], rw[SC_N], rh[SC_N];
    for (int launches = 3; launches <= 4; launches++) {
        sc_reference(launches, 1, rw, rh);
        for (uint64_t seed = 1; seed <= N_SEEDS; seed++) {
            sc_env e = {A, open_seed(seed), NULL, NULL};
            tgc_err err;
            ck_assert_msg(sc_run_graph(&e, 0, launches, w, h, &err) == 0, "seed %llu: %s", (unsigned long long)seed,
                          err.msg);
            tgc_standin_stats st;
            tgc_standin_get_stats(e.ctx, &st);
            ck_assert_uint_gt(st.ops_run, 20u * (unsigned)launches); /* the replays ran, node by node */
            A->close(e.ctx);
            ck_assert_msg(sc_close(w, rw, SC_N, 0) && sc_close(h, rh, SC_N, 0), "seed %llu", (unsigned long long)seed);
        }
    }
}
END_TEST

START_TEST(graph_with_prefetched_uploads_matches_the_reference) {
    static float w[SC_N], rw[SC_N], rh[SC_N];
    sc_reference(4, 1, rw, rh);
    for (uint64_t seed = 1; seed <= N_SEEDS; seed++) {
        sc_env e = {A, open_seed(seed), NULL, NULL};
        tgc_err err;
        ck_assert_msg(sc_run_graph_prefetch(&e, 0, 4, w, &err) == 0, "seed %llu: %s", (unsigned long long)seed,
                      err.msg);
        A->close(e.ctx);
        ck_assert_msg(sc_close(w, rw, SC_N, 0), "seed %llu", (unsigned long long)seed);
    }
}
END_TEST

/* One seed is one interleaving; different seeds give different ones. */
START_TEST(one_seed_one_interleaving) {
    uint64_t hashes[8];
    for (int i = 0; i < 8; i++) {
        tgc_standin_stats a, b;
        for (int rep = 0; rep < 2; rep++) {
            sc_env e = {A, open_seed((uint64_t)i + 100), NULL, NULL};
            tgc_err err;
            ck_assert_msg(sc_run_eager(&e, 0, 3, NULL, NULL, &err) == 0, "%s", err.msg);
            tgc_standin_get_stats(e.ctx, rep ? &b : &a);
            A->close(e.ctx);
        }
        ck_assert_uint_eq(a.trace_hash, b.trace_hash);
        ck_assert_uint_eq(a.ops_run, b.ops_run);
        ck_assert_uint_lt(a.max_segments, 64); /* the shadow map stays small: neighbours merge */
        hashes[i] = a.trace_hash;
    }
    int distinct = 0;
    for (int i = 0; i < 8; i++) {
        int seen = 0;
        for (int j = 0; j < i; j++) seen |= hashes[j] == hashes[i];
        distinct += !seen;
    }
    printf("distinct interleavings of 8 seeds: %d\n", distinct);
    ck_assert_int_ge(distinct, 6);
}
END_TEST

/* ---- broken programs: each caught under every seed, with the operations and bytes named ---- */

typedef int (*scenario_fn)(sc_env *e, int bugs, tgc_err *err);

static int eager3(sc_env *e, int bugs, tgc_err *err) { return sc_run_eager(e, bugs, 3, NULL, NULL, err); }
static int graph3(sc_env *e, int bugs, tgc_err *err) { return sc_run_graph(e, bugs, 3, NULL, NULL, err); }
static int prefetch3(sc_env *e, int bugs, tgc_err *err) { return sc_run_graph_prefetch(e, bugs, 3, NULL, err); }

/* Runs the scenario with the bug under N_SEEDS seeds: each must fail with every one of the NULL-terminated
 * fragments in its message. Prints one message, for the log. */
static void expect_caught(scenario_fn fn, int bugs, const char *const *frags) {
    for (uint64_t seed = 1; seed <= N_SEEDS; seed++) {
        sc_env e = {A, open_seed(seed), NULL, NULL};
        tgc_err err;
        err.msg[0] = 0;
        int rc = fn(&e, bugs, &err);
        A->close(e.ctx);
        ck_assert_msg(rc < 0, "seed %llu: bug %#x was not caught", (unsigned long long)seed, bugs);
        for (int i = 0; frags[i]; i++)
            ck_assert_msg(strstr(err.msg, frags[i]), "seed %llu: '%s' not in: %s", (unsigned long long)seed, frags[i],
                          err.msg);
        if (seed == 1) printf("bug %#x, seed 1: %s\n", bugs, err.msg);
    }
}

START_TEST(missing_wait_before_the_optimizer) {
    expect_caught(eager3, SC_BUG_NO_WAIT_OPT,
                  (const char *[]){"race on bytes [", "of device buffer 'grads' (4096 bytes)", "kernel 'sgd' (op #",
                                   "on stream 'compute')", "kernel 'allreduce_b", "on stream 'comm')", "not ordered",
                                   NULL});
}
END_TEST

START_TEST(event_recorded_before_the_last_gradient_kernel) {
    expect_caught(eager3, SC_BUG_EARLY_RECORD,
                  (const char *[]){"race on bytes [2048, 4096) of device buffer 'grads'", "kernel 'grad_b1' (op #",
                                   "kernel 'allreduce_b1' (op #", "not ordered", NULL});
}
END_TEST

START_TEST(host_reads_before_synchronising) {
    expect_caught(eager3, SC_BUG_HOST_READ_EARLY,
                  (const char *[]){"race on bytes [0, 4096) of pinned host buffer 'host_h'",
                                   "the host (read the activations)", "memcpy D2H (op #", "on stream 'compute')",
                                   "not ordered", NULL});
}
END_TEST

START_TEST(compute_does_not_wait_for_the_upload) {
    expect_caught(eager3, SC_BUG_NO_WAIT_UPLOAD,
                  (const char *[]){"race on bytes [", "of device buffer 'x' (4096 bytes)", "memcpy H2D (op #",
                                   "on stream 'copy')", "on stream 'compute')", NULL});
}
END_TEST

START_TEST(staging_refilled_while_the_upload_reads_it) {
    expect_caught(eager3, SC_BUG_STAGING_REUSE,
                  (const char *[]){"race on bytes [0, 4096) of pinned host buffer 'staging'",
                                   "the host (fill the batch)", "memcpy H2D (op #", NULL});
}
END_TEST

START_TEST(graph_replay_reads_what_its_upload_writes) {
    expect_caught(graph3, SC_BUG_GRAPH_LATE_JOIN,
                  (const char *[]){"race on bytes [", "of device buffer 'x' (4096 bytes)",
                                   "memcpy H2D (graph replay ", "on lane 'copy' of graph 'step')",
                                   "on lane 'compute' of graph 'step')", NULL});
}
END_TEST

START_TEST(graph_replay_reads_what_the_next_upload_writes) {
    expect_caught(prefetch3, SC_BUG_PREFETCH_NO_WAIT,
                  (const char *[]){"race on bytes [", "of device buffer 'x' (4096 bytes)", "(graph replay ",
                                   "on lane 'compute' of graph 'train')", "memcpy H2D (op #", "on stream 'copy')",
                                   NULL});
}
END_TEST

/* The message in full: a producer on one stream, a consumer of part of its output on another. Without the
 * event, either the consumer's read comes after an unordered write or the producer's write after an unordered
 * read, depending on the seed; with it, every seed passes. */
static int producer_consumer(uint64_t seed, int with_event, tgc_err *err) {
    void *c = open_seed(seed);
    float *buf = A->dev_alloc(c, 1024, "buf", err), *out = A->dev_alloc(c, 512, "out", err);
    tgc_stream *a = A->stream_create(c, "a", err), *b = A->stream_create(c, "b", err);
    tgc_event *ev = A->event_create(c, "produced", 0, err);
    sc_env e = {A, c, NULL, NULL};
    int rc = A->memset_async(c, buf, 0, 1024, a, err);
    if (rc == 0) rc = A->sync(c, err);
    if (rc == 0) rc = sc_axpby(&e, a, "producer", buf, buf, buf, 2.0f, 0.0f, 256, err);
    if (rc == 0 && with_event) rc = A->event_record(c, ev, a, err);
    if (rc == 0 && with_event) rc = A->stream_wait_event(c, b, ev, err);
    if (rc == 0) rc = sc_axpby(&e, b, "consumer", buf + 16, buf + 16, out, 1.0f, 0.0f, 32, err);
    if (rc == 0) rc = A->sync(c, err);
    A->close(c); /* frees what is left */
    return rc;
}

START_TEST(race_messages_in_full) {
    const char *raw = "standin: race on bytes [64, 192) of device buffer 'buf' (1024 bytes): kernel 'consumer' (op #3 "
                      "on stream 'b') reads them, but the earlier write by kernel 'producer' (op #2 on stream 'a') is "
                      "not ordered before it (a missing stream_wait_event, an event recorded too early, or a missing "
                      "synchronise)";
    const char *war = "standin: race on bytes [64, 192) of device buffer 'buf' (1024 bytes): kernel 'producer' (op #2 "
                      "on stream 'a') writes them while kernel 'consumer' (op #3 on stream 'b') may still be reading "
                      "them: the read is not ordered before the write (a missing stream_wait_event, an event recorded "
                      "too early, or a missing synchronise)";
    int seen_raw = 0, seen_war = 0;
    for (uint64_t seed = 1; seed <= 64 && !(seen_raw && seen_war); seed++) {
        tgc_err err;
        ck_assert_int_eq(producer_consumer(seed, 0, &err), -1);
        if (!strcmp(err.msg, raw)) seen_raw = 1;
        else if (!strcmp(err.msg, war)) seen_war = 1;
        else ck_abort_msg("seed %llu: %s", (unsigned long long)seed, err.msg);
    }
    ck_assert(seen_raw && seen_war);
    for (uint64_t seed = 1; seed <= N_SEEDS; seed++) {
        tgc_err err;
        ck_assert_msg(producer_consumer(seed, 1, &err) == 0, "%s", err.msg);
    }
}
END_TEST

/* ---- library work (lib_call): a cuBLAS-like call as a checked body ---- */

/* "gemv": out[i] = scale * sum_j x[j] (a stand-in for a library routine), accumulated into out when acc. */
typedef struct lib_params {
    const float *x;
    float *out;
    int n, acc;
    float scale;
} lib_params;

static int lib_body(const void *vp, tgc_err *err) {
    const lib_params *p = vp;
    float sum = 0;
    for (int j = 0; j < p->n; j++) sum += p->x[j];
    for (int i = 0; i < p->n; i++) p->out[i] = (p->acc ? p->out[i] : 0) + p->scale * sum;
    return 0;
}

static int lib_enqueue_never(void *user, void *stream, tgc_err *err) {
    return tgc_fail(err, "the stand-in called the CUDA enqueue");
}

static int issue_lib(void *c, tgc_stream *s, const char *name, const float *x, float *out, int n, int acc, float scale,
                     tgc_err *err) {
    lib_params p = {x, out, n, acc, scale};
    tgc_mem_range r[2] = {{x, (uint64_t)n * 4}, {out, (uint64_t)n * 4}}, w = {out, (uint64_t)n * 4};
    tgc_lib_work lw = {.name = name, .enqueue = lib_enqueue_never, .host_fn = lib_body, .params = &p,
                       .params_bytes = sizeof p, .access = {r, acc ? 2 : 1, &w, 1}};
    return A->lib_call(c, &lw, s, err);
}

/* x uploaded on copy, a library call on compute reading it (after the upload's event) into y, a library call on
 * comm reading y (after compute's event) into z, then z downloaded. broken: comm does not wait for compute. */
static int lib_program(uint64_t seed, int broken, float *result, tgc_err *err) {
    enum { N = 64 };
    void *c = open_seed(seed);
    float *x = A->dev_alloc(c, N * 4, "x", err), *y = A->dev_alloc(c, N * 4, "y", err),
          *z = A->dev_alloc(c, N * 4, "z", err), *h = A->host_alloc(c, N * 4, "host", err);
    tgc_stream *copy = A->stream_create(c, "copy", err), *compute = A->stream_create(c, "compute", err),
               *comm = A->stream_create(c, "comm", err);
    tgc_event *up = A->event_create(c, "uploaded", 0, err), *done = A->event_create(c, "y done", 0, err);
    for (int i = 0; i < N; i++) h[i] = (float)i;
    int rc = A->memset_async(c, y, 0, N * 4, compute, err); /* defined contents: the race, not "never written" */
    if (!rc) rc = A->sync(c, err);
    if (!rc) rc = A->memcpy_async(c, x, h, N * 4, TGC_COPY_H2D, copy, err);
    if (!rc) rc = A->event_record(c, up, copy, err);
    if (!rc) rc = A->stream_wait_event(c, compute, up, err);
    if (!rc) rc = issue_lib(c, compute, "gemv y", x, y, N, 0, 0.5f, err);
    if (!rc) rc = A->event_record(c, done, compute, err);
    if (!rc && !broken) rc = A->stream_wait_event(c, comm, done, err);
    if (!rc) rc = issue_lib(c, comm, "allreduce z", y, z, N, 0, 1.0f / N, err);
    if (!rc) rc = A->sync(c, err);
    if (!rc) rc = A->memcpy_async(c, h, z, N * 4, TGC_COPY_D2H, compute, err);
    if (!rc) rc = A->sync(c, err);
    if (!rc) *result = h[0];
    A->close(c);
    return rc;
}

START_TEST(library_work_is_ordered_and_race_checked) {
    for (uint64_t seed = 1; seed <= N_SEEDS; seed++) {
        tgc_err err;
        float r = 0;
        ck_assert_msg(lib_program(seed, 0, &r, &err) == 0, "seed %llu: %s", (unsigned long long)seed, err.msg);
        ck_assert_float_eq(r, 0.5f * 2016.0f); /* sum 0..63 = 2016; y = 1008 everywhere; z = mean of y */
        ck_assert_int_eq(lib_program(seed, 1, &r, &err), -1);
        ck_assert_msg(strstr(err.msg, "race on bytes [0, 256) of device buffer 'y'") &&
                          strstr(err.msg, "library work 'gemv y'") && strstr(err.msg, "library work 'allreduce z'") &&
                          strstr(err.msg, "on stream 'comm')") && strstr(err.msg, "on stream 'compute')"),
                      "seed %llu: %s", (unsigned long long)seed, err.msg);
        if (seed == 1) printf("library work without the comm stream's wait: %s\n", err.msg);
    }
}
END_TEST

/* Captured into a graph with a kernel, replayed three times: the library work runs in each replay. */
START_TEST(library_work_is_captured_and_replayed) {
    enum { N = 32 };
    for (uint64_t seed = 1; seed <= 8; seed++) {
        void *c = open_seed(seed);
        tgc_err err;
        float *x = A->dev_alloc(c, N * 4, "x", &err), *out = A->dev_alloc(c, N * 4, "out", &err),
              *h = A->host_alloc(c, N * 4, "host", &err);
        tgc_stream *s = A->stream_create(c, "compute", &err), *side = A->stream_create(c, "library", &err);
        tgc_event *fork = A->event_create(c, "fork", 0, &err), *join = A->event_create(c, "join", 0, &err);
        ck_assert_int_eq(A->memset_async(c, out, 0, N * 4, s, &err), 0);
        for (int i = 0; i < N; i++) h[i] = 1.0f;
        ck_assert_int_eq(A->memcpy_async(c, x, h, N * 4, TGC_COPY_H2D, s, &err), 0);
        ck_assert_int_eq(A->sync(c, &err), 0);
        ck_assert_int_eq(A->capture_begin(c, s, "step", &err), 0);
        ck_assert_int_eq(A->event_record(c, fork, s, &err), 0);
        ck_assert_int_eq(A->stream_wait_event(c, side, fork, &err), 0);
        ck_assert_msg(issue_lib(c, side, "accumulate", x, out, N, 1, 1.0f, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(A->event_record(c, join, side, &err), 0);
        ck_assert_int_eq(A->stream_wait_event(c, s, join, &err), 0);
        tgc_graph *g = A->capture_end(c, s, &err);
        ck_assert_msg(g, "%s", err.msg);
        tgc_graph_exec *gx = A->graph_instantiate(c, g, &err);
        ck_assert_msg(gx, "%s", err.msg);
        for (int r = 0; r < 3; r++) ck_assert_msg(A->graph_launch(c, gx, s, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(A->memcpy_async(c, h, out, N * 4, TGC_COPY_D2H, s, &err), 0);
        ck_assert_msg(A->sync(c, &err) == 0, "%s", err.msg);
        ck_assert_float_eq(h[N - 1], 3.0f * N); /* captured, not run at capture; three replays */
        tgc_lib_work none = {.name = "none"};
        ck_assert_int_eq(A->lib_call(c, &none, s, &err), -1);
        ck_assert_msg(strstr(err.msg, "library work 'none' has no host body"), "%s", err.msg);
        A->close(c);
    }
}
END_TEST

/* ---- graph capture rules ---- */

START_TEST(capture_rules) {
    void *c = open_seed(7);
    tgc_err err;
    float *buf = A->dev_alloc(c, 4096, "buf", &err);
    tgc_stream *s = A->stream_create(c, "main", &err), *side = A->stream_create(c, "side", &err);
    tgc_event *fork = A->event_create(c, "fork", 0, &err), *outside = A->event_create(c, "outside", 0, &err);
    ck_assert_int_eq(A->memset_async(c, buf, 0, 4096, s, &err), 0);
    ck_assert_int_eq(A->event_record(c, outside, s, &err), 0);
    ck_assert_int_eq(A->sync(c, &err), 0);

    /* a forked stream never joined back */
    ck_assert_int_eq(A->capture_begin(c, s, "g", &err), 0);
    ck_assert_int_eq(A->event_record(c, fork, s, &err), 0);
    ck_assert_int_eq(A->stream_wait_event(c, side, fork, &err), 0);
    ck_assert_int_eq(A->memset_async(c, buf, 1, 64, side, &err), 0);
    ck_assert_ptr_null(A->capture_end(c, s, &err));
    ck_assert_str_eq(err.msg, "standin: capture 'g': stream 'side' was not joined back: its last work is not followed "
                              "by an event record that stream 'main' waits on before capture_end (CUDA: "
                              "cudaErrorStreamCaptureUnjoined)");
    /* both streams left the capture: they run eagerly again */
    ck_assert_int_eq(A->memset_async(c, buf, 2, 64, side, &err), 0);
    ck_assert_msg(A->stream_sync(c, side, &err) == 0, "%s", err.msg);
    /* a captured event is the graph's: waiting on it afterwards, querying it */
    ck_assert_int_eq(A->stream_wait_event(c, s, fork, &err), -1);
    ck_assert_msg(strstr(err.msg, "last recorded in a graph capture that has ended"), "%s", err.msg);
    ck_assert_int_eq(A->event_query(c, fork, &err), -1);

    ck_assert_int_eq(A->capture_begin(c, s, "h", &err), 0);
    ck_assert_int_eq(A->capture_begin(c, s, "h2", &err), -1);
    ck_assert_int_eq(A->stream_wait_event(c, s, outside, &err), -1); /* isolation */
    ck_assert_msg(strstr(err.msg, "recorded outside the capture (CUDA: cudaErrorStreamCaptureIsolation)"), "%s",
                  err.msg);
    ck_assert_int_eq(A->stream_sync(c, s, &err), -1);
    ck_assert_msg(strstr(err.msg, "while it is capturing"), "%s", err.msg);
    ck_assert_int_eq(A->sync(c, &err), -1);
    ck_assert_ptr_null(A->dev_alloc(c, 64, "late", &err));
    ck_assert_msg(strstr(err.msg, "during a graph capture"), "%s", err.msg);
    ck_assert_ptr_null(A->capture_end(c, side, &err));
    ck_assert_msg(strstr(err.msg, "not capturing"), "%s", err.msg);
    ck_assert_int_eq(A->memset_async(c, buf, 3, 64, s, &err), 0);
    tgc_graph *g = A->capture_end(c, s, &err);
    ck_assert_msg(g, "%s", err.msg);
    tgc_graph_exec *x = A->graph_instantiate(c, g, &err);
    ck_assert_ptr_nonnull(x);
    /* nothing ran while capturing; three replays on two streams run one after the other */
    ck_assert_int_eq(A->graph_launch(c, x, s, &err), 0);
    ck_assert_int_eq(A->graph_launch(c, x, side, &err), 0);
    ck_assert_int_eq(A->graph_launch(c, x, s, &err), 0);
    A->graph_exec_destroy(c, x); /* with launches pending: they still run */
    A->graph_destroy(c, g);
    ck_assert_msg(A->sync(c, &err) == 0, "%s", err.msg);
    uint8_t *h = A->host_alloc(c, 4096, "h", &err);
    ck_assert_int_eq(A->memcpy_async(c, h, buf, 4096, TGC_COPY_D2H, s, &err), 0);
    ck_assert_int_eq(A->stream_sync(c, s, &err), 0);
    ck_assert_int_eq(A->host_access(c, &(tgc_mem_access){&(tgc_mem_range){h, 4096}, 1, NULL, 0}, "check", &err), 0);
    ck_assert_int_eq(h[0], 3);
    ck_assert_int_eq(h[64], 0);
    A->close(c);
}
END_TEST

/* ---- misuse of the API ---- */

static int failing_kernel(const void *p, tgc_err *err) { return tgc_fail(err, "out of bounds at %d", *(const int *)p); }

typedef struct reenter {
    void *ctx;
    int rc;
    tgc_err err;
} reenter;

static void callback_reenters(void *u) {
    reenter *r = u;
    r->rc = A->sync(r->ctx, &r->err);
}

START_TEST(misuse_is_reported) {
    tgc_err err;
    ck_assert_ptr_eq(tgc_stream_api_find("standin", &err), A);
    ck_assert_ptr_null(tgc_stream_api_find("tpu", &err));
    ck_assert_str_eq(err.msg, "unknown stream API 'tpu' (standin, cuda)");
    const tgc_stream_api *cuda = tgc_stream_api_find("cuda", &err); /* a table where CUDA is built, else why not */
    ck_assert_msg(cuda ? !strcmp(cuda->name, "cuda") : !!strstr(err.msg, "no CUDA support"), "%s", err.msg);
    void *c = open_seed(3);
    float *d = A->dev_alloc(c, 256, "d", &err), *d2 = A->dev_alloc(c, 256, "d2", &err);
    float *h = A->host_alloc(c, 256, "h", &err), pageable[128];
    tgc_stream *s = A->stream_create(c, "s", &err);
    ck_assert_int_eq(A->memcpy_async(c, d, d2, 256, TGC_COPY_H2D, s, &err), -1);
    ck_assert_msg(strstr(err.msg, "memcpy H2D source: device buffer 'd2' where host memory is needed"), "%s", err.msg);
    ck_assert_int_eq(A->memcpy_async(c, d, pageable, 512, TGC_COPY_H2D, s, &err), -1);
    ck_assert_msg(strstr(err.msg, "bytes [0, 512) run past the end of device buffer 'd' (256 bytes)"), "%s", err.msg);
    ck_assert_int_eq(A->memcpy_async(c, pageable, d, 256, TGC_COPY_D2D, s, &err), -1);
    ck_assert_msg(strstr(err.msg, "are not device memory from dev_alloc"), "%s", err.msg);
    ck_assert_int_eq(A->memcpy_async(c, d, d + 8, 64, TGC_COPY_D2D, s, &err), -1);
    ck_assert_msg(strstr(err.msg, "overlap"), "%s", err.msg);
    tgc_mem_range r = {d, 256};
    ck_assert_int_eq(A->host_access(c, &(tgc_mem_access){&r, 1, NULL, 0}, "peek", &err), -1);
    ck_assert_msg(strstr(err.msg, "the host cannot touch device memory"), "%s", err.msg);
    sc_env e = {A, c, NULL, NULL};
    ck_assert_int_eq(sc_axpby(&e, s, "k", pageable, pageable, d, 1, 1, 64, &err), -1);
    ck_assert_msg(strstr(err.msg, "are not device or pinned memory"), "%s", err.msg);
    tgc_kernel nobody = {.name = "nobody"};
    ck_assert_int_eq(A->launch(c, &nobody, s, &err), -1);
    ck_assert_msg(strstr(err.msg, "kernel 'nobody' has no host body"), "%s", err.msg);
    /* reading device memory nothing wrote (reported by the call that runs it: this one or the sync) */
    int rc = A->memcpy_async(c, h, d, 256, TGC_COPY_D2H, s, &err);
    if (rc == 0) rc = A->stream_sync(c, s, &err);
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(err.msg, "memcpy D2H (op #1 on stream 's') reads bytes [0, 256) of device buffer 'd' (256 "
                                  "bytes), which nothing wrote since dev_alloc"),
                  "%s", err.msg);
    /* that failure is sticky, as a CUDA fault is */
    tgc_err again;
    ck_assert_int_eq(A->sync(c, &again), -1);
    ck_assert_str_eq(again.msg, err.msg);
    A->close(c);

    /* a kernel body's failure; a callback that calls the API */
    c = open_seed(4);
    d = A->dev_alloc(c, 256, "d", &err);
    s = A->stream_create(c, "s", &err);
    int where = 17;
    tgc_kernel k = {.name = "bad", .host_fn = failing_kernel, .params = &where, .params_bytes = sizeof where};
    rc = A->launch(c, &k, s, &err);
    where = 99; /* params were copied at launch */
    if (rc == 0) rc = A->sync(c, &err);
    ck_assert_int_eq(rc, -1);
    ck_assert_str_eq(err.msg, "standin: kernel 'bad' (op #1 on stream 's') failed: out of bounds at 17");
    A->close(c);
    c = open_seed(5);
    s = A->stream_create(c, "s", &err);
    reenter re = {c, 0, {{0}}};
    ck_assert_int_eq(A->host_func(c, s, "cb", callback_reenters, &re, NULL, &err), 0);
    ck_assert_int_eq(A->sync(c, &err), 0);
    ck_assert_int_eq(re.rc, -1);
    ck_assert_msg(strstr(re.err.msg, "sync called from inside a kernel body or host callback"), "%s", re.err.msg);
    A->close(c);
}
END_TEST

/* ---- host callbacks, queries, elapsed time, destruction with work pending ---- */

typedef struct cb_log {
    int *flag; /* pinned */
    int order[8], n;
} cb_log;

static void cb_mark(void *u) {
    cb_log *l = u;
    l->order[l->n++] = *l->flag;
    *l->flag += 1;
}

START_TEST(callbacks_queries_and_pending_work) {
    for (uint64_t seed = 1; seed <= N_SEEDS; seed++) {
        void *c = open_seed(seed);
        tgc_err err;
        int *flag = A->host_alloc(c, sizeof(int), "flag", &err);
        float *d = A->dev_alloc(c, 4096, "d", &err), *h = A->host_alloc(c, 4096, "h", &err);
        tgc_stream *s = A->stream_create(c, "s", &err), *t = A->stream_create(c, "t", &err);
        tgc_event *e0 = A->event_create(c, "e0", 1, &err), *e1 = A->event_create(c, "e1", 1, &err);
        tgc_mem_range fr = {flag, sizeof(int)};
        tgc_mem_access rw = {&fr, 1, &fr, 1};
        ck_assert_int_eq(A->host_access(c, &(tgc_mem_access){NULL, 0, &fr, 1}, "init", &err), 0);
        *flag = 10;
        cb_log log = {flag, {0}, 0};
        ck_assert_int_eq(A->event_query(c, e0, &err), 1); /* never recorded: complete */
        ck_assert_int_eq(A->event_record(c, e0, s, &err), 0);
        ck_assert_int_eq(A->host_func(c, s, "first", cb_mark, &log, &rw, &err), 0);
        ck_assert_int_eq(A->memset_async(c, d, 0, 4096, s, &err), 0);
        ck_assert_int_eq(A->event_record(c, e1, s, &err), 0);
        ck_assert_int_eq(A->stream_wait_event(c, t, e1, &err), 0);
        ck_assert_int_eq(A->host_func(c, t, "second", cb_mark, &log, &rw, &err), 0);
        ck_assert_int_eq(A->memcpy_async(c, h, d, 4096, TGC_COPY_D2H, t, &err), 0);
        /* the stream goes away with its work pending; the work still runs */
        A->stream_destroy(c, t);
        int polls = 0, q;
        while ((q = A->event_query(c, e1, &err)) == 0) polls++;
        ck_assert_msg(q == 1, "%s", err.msg);
        ck_assert_int_lt(polls, 1000);
        double ms;
        ck_assert_msg(A->event_elapsed(c, e0, e1, &ms, &err) == 0, "%s", err.msg);
        ck_assert(ms > 0);
        /* freeing waits for the work: the download of d has run before d goes */
        A->dev_free(c, d);
        ck_assert_int_eq(A->host_access(c, &(tgc_mem_access){&fr, 1, NULL, 0}, "read the flag", &err), 0);
        ck_assert_int_eq(*flag, 12);
        ck_assert_int_eq(log.n, 2);
        ck_assert(log.order[0] == 10 && log.order[1] == 11);
        ck_assert_int_eq(A->host_access(c, &(tgc_mem_access){&(tgc_mem_range){h, 4096}, 1, NULL, 0}, "read", &err), 0);
        ck_assert(h[0] == 0.0f && h[1023] == 0.0f);
        char line[128];
        A->describe(c, line, sizeof line);
        ck_assert_msg(strstr(line, "standin"), "%s", line);
        A->close(c); /* frees the rest */
    }
}
END_TEST

/* ---- two ranks, one in-process all-reduce ---- */

static int two_rank_allreduce(sc_state *st, int b, tgc_err *err) {
    const int n = SC_N / SC_BUCKETS;
    return tgc_standin_allreduce_f32(st->comm_rank, st->rank, st->g + b * n, n, 1, st->comm, err);
}

/* Both ranks run `steps` steps (rank 1 with bugs1), issued in turn from this thread. skip_last: rank 1 issues
 * one all-reduce fewer. */
static int run_two_ranks(uint64_t seed, int steps, int bugs1, int skip_last, float *w0, float *w1, float *h0,
                         tgc_err *err) {
    tgc_standin_domain *dom = tgc_standin_domain_new(seed);
    void *ctx[2];
    sc_env env[2];
    sc_state st[2];
    memset(st, 0, sizeof st);
    for (int r = 0; r < 2; r++) {
        char label[16];
        snprintf(label, sizeof label, "rank %d", r);
        tgc_stream_opts o = {.domain = dom, .label = label};
        ctx[r] = A->open(&o, err);
        env[r] = (sc_env){A, ctx[r], NULL, NULL};
    }
    tgc_standin_comm *cm = tgc_standin_comm_new(ctx, 2, err);
    int rc = 0;
    for (int r = 0; r < 2 && rc == 0; r++) {
        rc = sc_state_init(&env[r], &st[r], r, err);
        st[r].comm_rank = cm;
        st[r].allreduce = two_rank_allreduce;
    }
    for (int s = 0; s < steps && rc == 0; s++)
        for (int r = 0; r < 2 && rc == 0; r++) {
            if (skip_last && r == 1 && s == steps - 1) {
                st[r].allreduce = NULL; /* falls back to the one-rank kernel: no collective */
            }
            rc = sc_fill_staging(&st[r], s, s > 0, 0, err);
            if (rc == 0) rc = sc_issue_upload(&st[r], err);
            if (rc == 0) rc = sc_issue_compute(&st[r], r == 1 ? bugs1 : 0, 1, err);
        }
    if (rc == 0) rc = sc_finish(&st[0], 0, w0, h0, err);
    if (rc == 0) rc = sc_finish(&st[1], 0, w1, NULL, err);
    for (int r = 0; r < 2; r++) {
        if (st[r].e) sc_state_free(&st[r]);
        A->close(ctx[r]);
    }
    tgc_standin_comm_free(cm);
    tgc_standin_domain_free(dom);
    return rc;
}

START_TEST(two_ranks_all_reduce_in_process) {
    static float w0[SC_N], w1[SC_N], h0[SC_N], rw[SC_N], rh[SC_N];
    sc_reference(3, 2, rw, rh);
    for (uint64_t seed = 1; seed <= N_SEEDS; seed++) {
        tgc_err err;
        ck_assert_msg(run_two_ranks(seed, 3, 0, 0, w0, w1, h0, &err) == 0, "seed %llu: %s", (unsigned long long)seed,
                      err.msg);
        ck_assert_msg(sc_close(w0, rw, SC_N, 0) && sc_close(w1, rw, SC_N, 0) && sc_close(h0, rh, SC_N, 0),
                      "seed %llu: results differ", (unsigned long long)seed);
    }
}
END_TEST

START_TEST(two_ranks_broken) {
    for (uint64_t seed = 1; seed <= N_SEEDS; seed++) {
        tgc_err err;
        ck_assert_int_eq(run_two_ranks(seed, 3, SC_BUG_NO_WAIT_OPT, 0, NULL, NULL, NULL, &err), -1);
        ck_assert_msg(strstr(err.msg, "standin: rank 1: race on bytes [") &&
                          strstr(err.msg, "of device buffer 'grads' (4096 bytes)") && strstr(err.msg, "kernel 'sgd'") &&
                          strstr(err.msg, "all-reduce #") && strstr(err.msg, "(rank 1) (op #"),
                      "seed %llu: %s", (unsigned long long)seed, err.msg);
        if (seed == 1) printf("two ranks, rank 1 without the optimizer's wait: %s\n", err.msg);
        ck_assert_int_eq(run_two_ranks(seed, 2, 0, 1, NULL, NULL, NULL, &err), -1);
        ck_assert_msg(strstr(err.msg, "standin: deadlock while waiting for ") && strstr(err.msg, "all-reduce #2 (rank 0)"),
                      "seed %llu: %s", (unsigned long long)seed, err.msg);
        if (seed == 1) printf("two ranks, rank 1 one all-reduce short: %s\n", err.msg);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("backend_stream_standin");
    TCase *ok = tcase_create("correct");
    tcase_add_test(ok, eager_steps_match_the_reference_under_every_seed);
    tcase_add_test(ok, graph_replays_match_the_reference_under_every_seed);
    tcase_add_test(ok, graph_with_prefetched_uploads_matches_the_reference);
    tcase_add_test(ok, one_seed_one_interleaving);
    tcase_add_test(ok, callbacks_queries_and_pending_work);
    tcase_add_test(ok, two_ranks_all_reduce_in_process);
    tcase_add_test(ok, library_work_is_captured_and_replayed);
    suite_add_tcase(s, ok);
    TCase *bad = tcase_create("broken");
    tcase_add_test(bad, missing_wait_before_the_optimizer);
    tcase_add_test(bad, event_recorded_before_the_last_gradient_kernel);
    tcase_add_test(bad, host_reads_before_synchronising);
    tcase_add_test(bad, compute_does_not_wait_for_the_upload);
    tcase_add_test(bad, staging_refilled_while_the_upload_reads_it);
    tcase_add_test(bad, graph_replay_reads_what_its_upload_writes);
    tcase_add_test(bad, graph_replay_reads_what_the_next_upload_writes);
    tcase_add_test(bad, race_messages_in_full);
    tcase_add_test(bad, capture_rules);
    tcase_add_test(bad, misuse_is_reported);
    tcase_add_test(bad, two_ranks_broken);
    tcase_add_test(bad, library_work_is_ordered_and_race_checked);
    suite_add_tcase(s, bad);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
