/* The cuda device (backend/cuda/cuda_device.c) over the CPU stand-in of the stream API: the executor's train
 * and eval programs of LeNet5 and a small ResNet run on it under several seeds (eagerly, then captured and
 * replayed as graphs; with the buckets' all-reduces on a comm stream) and every parameter, buffer, optimizer
 * state and loss equals the cpu device's bit for bit, with no ordering violation; two ranks with the
 * stand-in's in-process all-reduce agree with each other and with one rank at the doubled batch; and each
 * deliberately broken ordering of the device (test hooks) is caught by the race checker. Float16 plans with
 * dynamic loss scaling and a planted overflow (the scale starts at 2^26): the finite check and unscale run as
 * the device's kernels (amp.cuh through kshim), overflowed steps issue no optimizer update, and the losses,
 * the skipped steps, the scales and every state tensor equal the cpu device's bit for bit. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_device.h"
#include "backend/cuda/standin.h"
#include "runtime/exec/executor.h"
#include "runtime/runner/loss_scale.h"
#include "test_compile.h"
#include "test_exec_util.h"

static const char *LENET = TEST_LENET_YAML(8, 8);
static const char *LENET2 = TEST_LENET_YAML(16, 8); /* the doubled batch of the two-rank test */
static const char *RESNET = TEST_RESNET_YAML(8, 8, "lr: 0.05, momentum: 0.9, weight_decay: 0.0001");

#define STEPS 6 /* run 1 eager, run 2 captured, runs 3..6 replayed */

static const uint64_t SEEDS[] = {1, 7, 99, 1234, 0x5eed};
#define N_SEEDS ((int)(sizeof SEEDS / sizeof SEEDS[0]))

static struct {
    int steps, replays, captures, eager, seeds, allreduces, violations_caught, violations_real;
} count;

/* ---- a single-rank comm: the stand-in's all-reduce over one context (a mean of one is the identity) ---- */

typedef struct fake_comm {
    tgc_standin_comm *c;
    int rank;
} fake_comm;

static int fake_allreduce(void *ctx, const tgc_plan_bucket *bk, void *ptr, tgc_stream *s, tgc_err *err) {
    fake_comm *f = ctx;
    return tgc_standin_allreduce_f32(f->c, f->rank, ptr, bk->bytes / 4, 1, s, err);
}

static tgc_device *standin_device(uint64_t seed, void *domain, const char *label, int no_graphs) {
    tgc_err err;
    tgc_cuda_device_opts o = {.n_threads = 1, .stream = {.seed = seed, .domain = domain, .label = label},
                              .no_graphs = no_graphs};
    tgc_device *d = tgc_cuda_device_new(&tgc_standin_stream_api, &o, &err);
    ck_assert_msg(d, "%s", err.msg);
    return d;
}

/* Every state tensor of a plan, concatenated (host copies). */
static uint8_t *state_bytes(const tgc_plan *p, tgc_exec *x, size_t *len) {
    size_t n = 0;
    for (int i = 0; i < p->n_tensors; i++) {
        const tgc_plan_tensor *t = &p->tensors[i];
        if (t->kind == TGC_VAL_PARAM || t->kind == TGC_VAL_BUFFER || t->kind == TGC_VAL_OPTSTATE) n += t->bytes;
    }
    uint8_t *all = malloc(n ? n : 1), *q = all;
    for (int i = 0; i < p->n_tensors; i++) {
        const tgc_plan_tensor *t = &p->tensors[i];
        if (t->kind != TGC_VAL_PARAM && t->kind != TGC_VAL_BUFFER && t->kind != TGC_VAL_OPTSTATE) continue;
        void *v = exec_get(x, i);
        memcpy(q, v, t->bytes);
        free(v);
        q += t->bytes;
    }
    *len = n;
    return all;
}

typedef struct trace {
    float loss[STEPS];
    float *logits;
    int64_t n_logits;
    uint8_t *state;
    size_t state_len;
} trace;

static void trace_free(trace *t) {
    free(t->logits);
    free(t->state);
}

/* The host's hooks as the Gloo path sets them: buckets reported through done, a wait before the optimizer. */
typedef struct host_hooks {
    int buckets, ready, bad_order, instrs, bad_spans;
    double last_t1;
    int n_buckets; /* of the train program */
} host_hooks;

static int hk_bucket(void *ctx, const tgc_plan_bucket *b, tgc_dev_mem mem, tgc_err *err) {
    host_hooks *h = ctx;
    h->buckets++;
    return 0;
}

static int hk_ready(void *ctx, const tgc_program *p, tgc_err *err) {
    host_hooks *h = ctx;
    if (h->buckets != (h->ready + 1) * h->n_buckets) h->bad_order++; /* every bucket reported first */
    h->ready++;
    return 0;
}

static void hk_instr(void *ctx, const tgc_program *p, int instr, double t0, double t1) {
    host_hooks *h = ctx;
    h->instrs++;
    if (t1 < t0 || t0 <= 0 || (instr > 0 && t0 < h->last_t1 - 1e-9)) h->bad_spans++; /* spans in order, on the clock */
    h->last_t1 = t1;
}

/* STEPS train steps (a new batch and step number each), then eval twice; on device d (NULL: cpu). comm: 1 the
 * device-side all-reduce, 2 the host's hooks (bucket reports and the wait before the optimizer), 3 those and
 * per-instruction timing. */
static void run_plan(const tgc_plan *p, tgc_device *d, uint64_t seed, int comm, trace *out) {
    tgc_err err;
    tgc_exec_opts o = {.n_threads = 1, .deterministic = 1, .device = d};
    tgc_exec *x = tgc_exec_new(p, &o, &err);
    ck_assert_msg(x, "%s", err.msg);
    fake_comm fc = {0};
    host_hooks hk = {0};
    if (comm >= 2) {
        hk.n_buckets = tgc_plan_program(p, "train")->n_buckets;
        tgc_exec_on_bucket(x, hk_bucket, &hk);
        tgc_exec_on_grads_ready(x, hk_ready, &hk);
        if (comm == 3) tgc_exec_on_instr(x, hk_instr, &hk);
    }
    if (comm == 1) {
        void *ctx = tgc_cuda_device_stream_ctx(d);
        fc.c = tgc_standin_comm_new(&ctx, 1, &err);
        ck_assert_msg(fc.c, "%s", err.msg);
        tgc_cuda_comm cc = {fake_allreduce, &fc, 0};
        tgc_cuda_device_set_comm(d, &cc);
    }
    ck_assert_msg(tgc_exec_init_state(x, seed, &err) == 0, "%s", err.msg);
    out->logits = test_train_and_eval(x, seed, STEPS, out->loss, &out->n_logits);
    out->state = state_bytes(p, x, &out->state_len);
    ck_assert_msg(tgc_exec_sync(x, &err) == 0, "%s", err.msg);
    tgc_exec_free(x);
    if (comm >= 2) {
        ck_assert_int_gt(hk.n_buckets, 0);
        ck_assert_int_eq(hk.ready, STEPS);
        ck_assert_int_eq(hk.buckets, STEPS * hk.n_buckets);
        ck_assert_int_eq(hk.bad_order, 0);
        if (comm == 3) ck_assert_int_ge(hk.instrs, STEPS * tgc_plan_program(p, "train")->n_instr);
        ck_assert_int_eq(hk.bad_spans, 0);
    }
    if (comm == 1) {
        tgc_standin_comm_free(fc.c);
    }
}

static void check_same(const trace *a, const trace *b, const char *what, uint64_t seed) {
    for (int s = 0; s < STEPS; s++)
        ck_assert_msg(memcmp(&a->loss[s], &b->loss[s], sizeof(float)) == 0, "%s seed %llu step %d: loss %.9g vs %.9g",
                      what, (unsigned long long)seed, s, a->loss[s], b->loss[s]);
    ck_assert_uint_eq(a->state_len, b->state_len);
    ck_assert_msg(memcmp(a->state, b->state, a->state_len) == 0, "%s seed %llu: state differs", what,
                  (unsigned long long)seed);
    ck_assert_int_eq(a->n_logits, b->n_logits);
    ck_assert_msg(memcmp(a->logits, b->logits, (size_t)a->n_logits * 4) == 0, "%s seed %llu: eval logits differ", what,
                  (unsigned long long)seed);
}

static void compare_with_cpu(const char *yaml, const char *what, int comm, int no_graphs) {
    tgc_plan *p = test_compile(yaml, NULL, 0);
    for (int k = 0; k < N_SEEDS; k++) {
        uint64_t seed = SEEDS[k];
        trace ref = {0}, got = {0};
        run_plan(p, NULL, seed, 0, &ref);
        tgc_device *d = standin_device(seed, NULL, "cuda0", no_graphs);
        run_plan(p, d, seed, comm, &got);
        tgc_cuda_device_stats st;
        tgc_cuda_device_get_stats(d, &st);
        tgc_standin_stats ss;
        tgc_standin_get_stats(tgc_cuda_device_stream_ctx(d), &ss);
        ck_assert_uint_gt(ss.ops_run, 0);
        tgc_device_close(d);
        check_same(&ref, &got, what, seed);
        if (!comm && !no_graphs) {
            /* train: 1 eager, 1 capture, STEPS-2 replays; eval: 1 eager, 1 capture */
            ck_assert_uint_eq(st.captures, 2);
            ck_assert_uint_eq(st.replays, STEPS - 2);
        } else {
            ck_assert_uint_eq(st.replays, 0);
        }
        if (comm == 1) ck_assert_uint_gt(st.allreduces, 0);
        count.steps += STEPS;
        count.replays += (int)st.replays;
        count.captures += (int)st.captures;
        count.eager += (int)st.eager_runs;
        count.allreduces += (int)st.allreduces;
        count.seeds++;
        trace_free(&ref);
        trace_free(&got);
    }
    tgc_plan_free(p);
}

START_TEST(lenet_graphs_match_cpu_bit_for_bit) { compare_with_cpu(LENET, "lenet graphs", 0, 0); }
END_TEST
/* AdamW reads the step input (bias corrections), so replays that read a stale step would differ. */
START_TEST(lenet_adamw_graphs_match_cpu_bit_for_bit) {
    char yaml[4096];
    const char *sgd = "optimizer: {type: SGD, lr: 0.05, momentum: 0.9}";
    const char *at = strstr(LENET, sgd);
    ck_assert_ptr_nonnull(at);
    snprintf(yaml, sizeof yaml, "%.*soptimizer: {type: AdamW, lr: 0.001, weight_decay: 0.01}%s", (int)(at - LENET),
             LENET, at + strlen(sgd));
    compare_with_cpu(yaml, "lenet adamw graphs", 0, 0);
}
END_TEST
START_TEST(resnet_graphs_match_cpu_bit_for_bit) { compare_with_cpu(RESNET, "resnet graphs", 0, 0); }
END_TEST
START_TEST(lenet_eager_with_allreduce_matches_cpu) { compare_with_cpu(LENET, "lenet comm", 1, 0); }
END_TEST
START_TEST(resnet_eager_with_allreduce_matches_cpu) { compare_with_cpu(RESNET, "resnet comm", 1, 0); }
END_TEST
START_TEST(lenet_host_hooks_match_cpu) { compare_with_cpu(LENET, "lenet host hooks", 2, 0); }
END_TEST
START_TEST(resnet_host_hooks_and_timing_match_cpu) { compare_with_cpu(RESNET, "resnet host hooks, timing", 3, 0); }
END_TEST
START_TEST(resnet_eager_only_matches_cpu) { compare_with_cpu(RESNET, "resnet eager", 0, 1); }
END_TEST

/* ---- two ranks ---- */

/* Rank r's part (rows [r*b, (r+1)*b)) of a global batch of 2b: images from Philox (seed), labels by row. */
static int feed_part(tgc_exec *x, uint64_t seed, int rank, int64_t b_global, int step, tgc_err *err) {
    int xi = tgc_exec_input(x, "train", "inputs"), li = tgc_exec_input(x, "train", "data_samples.gt_label");
    int si = tgc_exec_input(x, "train", "step"), lri = tgc_exec_input(x, "train", "lr");
    const tgc_plan_tensor *t = tgc_exec_tensor(x, xi);
    int64_t n = tgc_shape_numel(&t->type.shape), b = t->type.shape.d[0], per = n / b;
    float *all = malloc((size_t)(per * b_global) * sizeof *all);
    tgc_rng r;
    tgc_rng_init(&r, seed + (uint64_t)step, 0, 0, 9);
    for (int64_t i = 0; i < per * b_global; i++) all[i] = (float)(2.0 * tgc_rng_uniform(&r) - 1.0);
    int rc = tgc_exec_write(x, xi, all + rank * n, err);
    free(all);
    int32_t *lab = malloc((size_t)b * sizeof *lab);
    for (int64_t i = 0; i < b; i++) lab[i] = (int32_t)((rank * b + i + step) % 10);
    if (rc == 0) rc = tgc_exec_write(x, li, lab, err);
    free(lab);
    float st = (float)(step + 1), lr = 0.05f;
    const tgc_plan_tensor *ts = tgc_exec_tensor(x, si), *tl = tgc_exec_tensor(x, lri);
    if (rc == 0) rc = tgc_exec_write_bytes(x, ts->slab, ts->offset, 4, &st, err);
    if (rc == 0) rc = tgc_exec_write_bytes(x, tl->slab, tl->offset, 4, &lr, err);
    return rc;
}

static int two_allreduce(void *ctx, const tgc_plan_bucket *bk, void *ptr, tgc_stream *s, tgc_err *err) {
    return fake_allreduce(ctx, bk, ptr, s, err);
}

/* Two ranks at batch 8 (rank 1 broken with `broken1`); returns 0, or -1 with the first error. w[r]: rank r's
 * parameters (when not NULL). */
static int run_two_ranks(const tgc_plan *p, uint64_t seed, int steps, int broken1, float **w, tgc_err *err) {
    tgc_standin_domain *dom = tgc_standin_domain_new(seed);
    tgc_device *d[2];
    tgc_exec *x[2] = {NULL, NULL};
    void *ctx[2];
    fake_comm fc[2];
    for (int r = 0; r < 2; r++) {
        d[r] = standin_device(seed, dom, r ? "rank 1" : "rank 0", 0);
        ctx[r] = tgc_cuda_device_stream_ctx(d[r]);
    }
    tgc_standin_comm *cm = tgc_standin_comm_new(ctx, 2, err);
    ck_assert_msg(cm, "%s", err->msg);
    int rc = 0;
    for (int r = 0; r < 2; r++) {
        fc[r] = (fake_comm){cm, r};
        tgc_cuda_comm cc = {two_allreduce, &fc[r], 0};
        tgc_cuda_device_set_comm(d[r], &cc);
        if (r == 1) tgc_cuda_device_break(d[r], broken1);
        tgc_exec_opts o = {.n_threads = 1, .deterministic = 1, .device = d[r]};
        x[r] = tgc_exec_new(p, &o, err);
        ck_assert_msg(x[r], "%s", err->msg);
        ck_assert_msg(tgc_exec_init_state(x[r], 42, err) == 0, "%s", err->msg);
    }
    for (int s = 0; s < steps && rc == 0; s++) {
        /* both ranks' steps are issued before either is waited for: the collective needs both */
        for (int r = 0; r < 2 && rc == 0; r++) rc = feed_part(x[r], seed, r, 16, s, err);
        for (int r = 0; r < 2 && rc == 0; r++) rc = tgc_exec_run(x[r], "train", err);
        for (int r = 0; r < 2 && rc == 0; r++) rc = tgc_exec_sync(x[r], err);
    }
    for (int r = 0; r < 2 && rc == 0 && w; r++) {
        size_t n;
        w[r] = (float *)state_bytes(p, x[r], &n);
    }
    for (int r = 0; r < 2; r++) {
        tgc_err e2;
        tgc_exec_sync(x[r], &e2);
        tgc_exec_free(x[r]);
    }
    tgc_standin_comm_free(cm);
    for (int r = 0; r < 2; r++) tgc_device_close(d[r]);
    tgc_standin_domain_free(dom);
    return rc;
}

START_TEST(two_ranks_match_one_rank_at_the_doubled_batch) {
    tgc_plan *p = test_compile(LENET, NULL, 0), *p2 = test_compile(LENET2, NULL, 0);
    for (int k = 0; k < N_SEEDS; k++) {
        uint64_t seed = SEEDS[k];
        tgc_err err;
        float *w[2] = {NULL, NULL};
        ck_assert_msg(run_two_ranks(p, seed, 4, 0, w, &err) == 0, "seed %llu: %s", (unsigned long long)seed, err.msg);
        /* one rank (cpu) at batch 16 on the same global batches */
        tgc_exec_opts o = {.n_threads = 1, .deterministic = 1};
        tgc_exec *x = tgc_exec_new(p2, &o, &err);
        ck_assert_msg(x, "%s", err.msg);
        ck_assert_msg(tgc_exec_init_state(x, 42, &err) == 0, "%s", err.msg);
        for (int s = 0; s < 4; s++) {
            ck_assert_msg(feed_part(x, seed, 0, 16, s, &err) == 0, "%s", err.msg);
            ck_assert_msg(tgc_exec_run(x, "train", &err) == 0, "%s", err.msg);
        }
        size_t n;
        float *ref = (float *)state_bytes(p2, x, &n);
        tgc_exec_free(x);
        ck_assert_msg(memcmp(w[0], w[1], n) == 0, "seed %llu: the ranks' states differ", (unsigned long long)seed);
        double worst = 0;
        for (size_t i = 0; i < n / 4; i++) {
            double e = fabs((double)w[0][i] - ref[i]) / (1e-3 + fabs(ref[i]));
            if (e > worst) worst = e;
        }
        ck_assert_msg(worst < 1e-4, "seed %llu: two ranks vs doubled batch: relative error %g", (unsigned long long)seed,
                      worst);
        free(ref);
        free(w[0]);
        free(w[1]);
        count.steps += 8;
    }
    tgc_plan_free(p);
    tgc_plan_free(p2);
}
END_TEST

/* ---- uploads issued right behind runs, the host never waiting in between ---- */

/* STEPS steps, each: upload images, labels, lr and step, run; nothing read until the end (the last loss and
 * the state). The next batch's copy overlaps the running step; a copy not ordered after the step's last read
 * of the input slab would be a race. */
static void run_pipelined(const tgc_plan *p, tgc_device *d, uint64_t seed, float *loss, uint8_t **state, size_t *len) {
    tgc_err err;
    tgc_exec_opts o = {.n_threads = 1, .deterministic = 1, .device = d};
    tgc_exec *x = tgc_exec_new(p, &o, &err);
    ck_assert_msg(x, "%s", err.msg);
    ck_assert_msg(tgc_exec_init_state(x, seed, &err) == 0, "%s", err.msg);
    for (int s = 0; s < STEPS; s++) {
        ck_assert_msg(feed_part(x, seed * 31 + (uint64_t)s, 0, tgc_plan_program(p, "train")->batch, s, &err) == 0, "%s",
                      err.msg);
        ck_assert_msg(tgc_exec_run(x, "train", &err) == 0, "step %d: %s", s, err.msg);
    }
    *loss = exec_get_f32(x, tgc_exec_output(x, "train"));
    *state = state_bytes(p, x, len);
    tgc_exec_free(x);
}

static void pipelined_matches_cpu(const char *yaml, int no_graphs) {
    tgc_plan *p = test_compile(yaml, NULL, 0);
    for (int k = 0; k < N_SEEDS; k++) {
        float l0, l1;
        uint8_t *s0, *s1;
        size_t n0, n1;
        run_pipelined(p, NULL, SEEDS[k], &l0, &s0, &n0);
        tgc_device *d = standin_device(SEEDS[k], NULL, "cuda0", no_graphs);
        run_pipelined(p, d, SEEDS[k], &l1, &s1, &n1);
        tgc_cuda_device_stats st;
        tgc_cuda_device_get_stats(d, &st);
        tgc_device_close(d);
        ck_assert_uint_eq(st.replays, no_graphs ? 0 : STEPS - 2);
        count.replays += (int)st.replays;
        count.captures += (int)st.captures;
        count.eager += (int)st.eager_runs;
        ck_assert_msg(memcmp(&l0, &l1, 4) == 0, "seed %llu: loss %.9g vs %.9g", (unsigned long long)SEEDS[k], l0, l1);
        ck_assert_uint_eq(n0, n1);
        ck_assert_msg(memcmp(s0, s1, n0) == 0, "seed %llu: state differs", (unsigned long long)SEEDS[k]);
        free(s0);
        free(s1);
        count.steps += STEPS;
        count.seeds++;
    }
    tgc_plan_free(p);
}

START_TEST(lenet_pipelined_uploads_eager_match_cpu) { pipelined_matches_cpu(LENET, 1); }
END_TEST
START_TEST(resnet_pipelined_uploads_graphs_match_cpu) { pipelined_matches_cpu(RESNET, 0); }
END_TEST

/* ---- broken orderings are caught ---- */

static void expect_race(const char *msg, const char *what) {
    ck_assert_msg(strstr(msg, "race on"), "%s: not a race: %s", what, msg);
    count.violations_caught++;
}

START_TEST(two_ranks_without_the_bucket_wait_race) {
    tgc_plan *p = test_compile(LENET, NULL, 0);
    for (int k = 0; k < N_SEEDS; k++) {
        tgc_err err;
        ck_assert_int_eq(run_two_ranks(p, SEEDS[k], 2, TGC_CUDA_BREAK_BUCKET_WAIT, NULL, &err), -1);
        expect_race(err.msg, "no bucket wait");
        ck_assert_msg(strstr(err.msg, "all-reduce"), "%s", err.msg);
        if (k == 0) printf("without the bucket wait: %s\n", err.msg);
    }
    tgc_plan_free(p);
}
END_TEST

START_TEST(two_ranks_without_the_optimizer_wait_race) {
    tgc_plan *p = test_compile(LENET, NULL, 0);
    for (int k = 0; k < N_SEEDS; k++) {
        tgc_err err;
        ck_assert_int_eq(run_two_ranks(p, SEEDS[k], 2, TGC_CUDA_BREAK_OPT_WAIT, NULL, &err), -1);
        expect_race(err.msg, "no optimizer wait");
        if (k == 0) printf("without the optimizer wait: %s\n", err.msg);
    }
    tgc_plan_free(p);
}
END_TEST

static void broken_uploads(int flags, const char *what) {
    tgc_plan *p = test_compile(LENET, NULL, 0);
    for (int k = 0; k < N_SEEDS; k++) {
        tgc_err err;
        tgc_device *d = standin_device(SEEDS[k], NULL, "cuda0", 0);
        tgc_exec_opts o = {.n_threads = 1, .deterministic = 1, .device = d};
        tgc_exec *x = tgc_exec_new(p, &o, &err);
        ck_assert_msg(x, "%s", err.msg);
        ck_assert_msg(tgc_exec_init_state(x, 1, &err) == 0, "%s", err.msg);
        tgc_cuda_device_break(d, flags);
        int xi = tgc_exec_input(x, "train", "inputs"), li = tgc_exec_input(x, "train", "data_samples.gt_label");
        const tgc_plan_tensor *t = tgc_exec_tensor(x, xi);
        float *img = calloc(1, t->bytes);
        int rc = 0;
        for (int s = 0; s < 3 && rc == 0; s++) {
            rc = tgc_exec_write(x, xi, img, &err);
            if (rc == 0) rc = tgc_exec_write(x, li, img, &err); /* zeroes: labels 0 */
            if (rc == 0) rc = tgc_exec_run(x, "train", &err);
        }
        if (rc == 0) rc = tgc_exec_sync(x, &err);
        ck_assert_int_eq(rc, -1);
        expect_race(err.msg, what);
        if (k == 0) printf("%s: %s\n", what, err.msg);
        free(img);
        tgc_exec_free(x);
        tgc_device_close(d);
    }
    tgc_plan_free(p);
}

START_TEST(without_the_upload_wait_race) { broken_uploads(TGC_CUDA_BREAK_UPLOAD_WAIT, "without the upload wait"); }
END_TEST

START_TEST(inputs_released_too_early_race) {
    broken_uploads(TGC_CUDA_BREAK_INPUTS_EARLY, "next inputs copied after their first reader only");
}
END_TEST

START_TEST(real_device_needs_a_gpu) {
    /* without a GPU (or a build without CUDA) the real device does not open, saying why; with one, a plan
     * prepares (every op has a CUDA implementation: cuda_ops.c) */
    tgc_err err;
    tgc_device_opts o = {0};
    void *impl = tgc_cuda_device_ops.open(&o, &err);
    if (!impl) {
        ck_assert_msg(strlen(err.msg) > 0, "no message");
        printf("the cuda device without a GPU: %s\n", err.msg);
        return;
    }
    tgc_plan *p = test_compile(LENET, NULL, 0);
    tgc_device dv = {&tgc_cuda_device_ops, impl};
    tgc_exec_opts eo = {.device = &dv};
    tgc_exec *x = tgc_exec_new(p, &eo, &err);
    ck_assert_msg(x, "%s", err.msg);
    tgc_exec_free(x);
    tgc_cuda_device_ops.close(impl);
    tgc_plan_free(p);
}
END_TEST

/* The device over another stream API than the stand-in takes the GPU path: in a CUDA build that path opens the
 * per-op dispatch (cuda_exec.c) on GPU 0, which fails here without one, naming it; in a build without CUDA it
 * has no kernels, and prepare refuses the first op, naming it. */
START_TEST(gpu_path_without_a_gpu) {
    static tgc_stream_api gpu_like;
    gpu_like = tgc_standin_stream_api;
    gpu_like.name = "gpu-like";
    tgc_err err;
    tgc_cuda_device_opts co = {.stream = {.seed = 1}};
    tgc_device *d = tgc_cuda_device_new(&gpu_like, &co, &err);
#ifdef TGC_HAVE_CUDA
    if (tgc_device_count("cuda", NULL) > 0) { /* a real GPU: the dispatch opens over any stream context */
        tgc_device_close(d);
        return;
    }
    ck_assert_ptr_null(d);
    ck_assert_msg(strstr(err.msg, "cuda device on gpu-like: cuda executor on GPU 0: "), "%s", err.msg);
#else
    ck_assert_msg(d, "%s", err.msg);
    ck_assert(!d->ops->supports_op(d->impl, TGC_OP_CONV2D));
    tgc_plan *p = test_compile(LENET, NULL, 0);
    const tgc_program *prog = tgc_plan_program(p, "train");
    void *slabs[TGC_SLAB_COUNT] = {0};
    tgc_dev_program dp = {prog, p->tensors, slabs, NULL, 1};
    ck_assert_ptr_null(d->ops->prepare(d->impl, &dp, &err));
    char want[200];
    snprintf(want, sizeof want, "program train, instruction 0: the cuda device (gpu-like) has no kernel for %s yet",
             tgc_op_table[prog->instr[0].code].name);
    ck_assert_msg(strstr(err.msg, want), "%s", err.msg);
    tgc_plan_free(p);
    tgc_device_close(d);
#endif
}
END_TEST

/* ---- float16 loss scaling ---------------------------------------------------------------------------- */

#define LS_STEPS 12

typedef struct ls_trace {
    float loss[LS_STEPS];
    int skipped[LS_STEPS];
    double scale[LS_STEPS];
    uint8_t *state, *state_after_first;
    size_t state_len;
} ls_trace;

/* The yaml with AmpOptimWrapper (float16, dynamic loss scale) around its SGD. */
static char *fp16_yaml(const char *yaml) {
    const char *at = strstr(yaml, "optim_wrapper: {optimizer:");
    ck_assert_ptr_nonnull(at);
    return tgc_asprintf("%.*soptim_wrapper: {type: AmpOptimWrapper, dtype: float16, loss_scale: dynamic, %s",
                        (int)(at - yaml), yaml, at + strlen("optim_wrapper: {"));
}

/* LS_STEPS train steps as the runner does them (the scale fed, the run, the scaler's update), from 2^26. */
static void run_loss_scaled(const tgc_plan *p, tgc_device *d, uint64_t seed, ls_trace *out) {
    tgc_err err;
    tgc_exec_opts o = {.n_threads = 1, .deterministic = 1, .device = d};
    tgc_exec *x = tgc_exec_new(p, &o, &err);
    ck_assert_msg(x, "%s", err.msg);
    ck_assert_msg(tgc_exec_init_state(x, seed, &err) == 0, "%s", err.msg);
    tgc_loss_scaler ls;
    ck_assert_msg(tgc_loss_scaler_init(&ls, p, x, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(ls.enabled, 1);
    ls.scale = 67108864.0; /* 2^26: the first steps' float16 gradients overflow (tests/e2e/run_amp.sh's plant) */
    int si = tgc_exec_input(x, "train", "step"), lo = tgc_exec_output(x, "train");
    for (int s = 0; s < LS_STEPS; s++) {
        test_feed(x, "train", seed * 100 + (uint64_t)s, (uint64_t)s, 0.05f / (float)(1 + s));
        exec_put_f32(x, si, (float)(s + 1));
        ck_assert_msg(tgc_loss_scaler_feed(&ls, &err) == 0, "%s", err.msg);
        ck_assert_msg(tgc_exec_run(x, "train", &err) == 0, "step %d: %s", s, err.msg);
        out->loss[s] = exec_get_f32(x, lo);
        out->skipped[s] = tgc_loss_scaler_update(&ls);
        out->scale[s] = ls.scale;
        if (s == 0) out->state_after_first = state_bytes(p, x, &out->state_len);
    }
    out->state = state_bytes(p, x, &out->state_len);
    ck_assert_msg(tgc_exec_sync(x, &err) == 0, "%s", err.msg);
    tgc_loss_scaler_free(&ls);
    tgc_exec_free(x);
}

static void loss_scaling_matches_cpu(const char *yaml, const char *what) {
    char *y16 = fp16_yaml(yaml);
    tgc_plan *p = test_compile(y16, NULL, 0);
    free(y16);
    ck_assert_int_eq(p->amp.dtype, TGC_F16);
    for (int k = 0; k < 3; k++) {
        uint64_t seed = SEEDS[k];
        ls_trace ref = {0}, got = {0};
        /* the state before any step, to see the first (overflowed) step leave the parameters alone */
        tgc_err err;
        tgc_exec_opts o0 = {.n_threads = 1, .deterministic = 1};
        tgc_exec *x0 = tgc_exec_new(p, &o0, &err);
        ck_assert_msg(x0, "%s", err.msg);
        ck_assert_msg(tgc_exec_init_state(x0, seed, &err) == 0, "%s", err.msg);
        size_t len0;
        uint8_t *init = state_bytes(p, x0, &len0);
        tgc_exec_free(x0);
        run_loss_scaled(p, NULL, seed, &ref);
        tgc_device *d = standin_device(seed, NULL, "cuda0", 0);
        run_loss_scaled(p, d, seed, &got);
        tgc_device_close(d);
        int skipped = 0;
        for (int s = 0; s < LS_STEPS; s++) {
            ck_assert_msg(memcmp(&ref.loss[s], &got.loss[s], sizeof(float)) == 0, "%s seed %llu step %d: loss %.9g "
                          "vs %.9g", what, (unsigned long long)seed, s, ref.loss[s], got.loss[s]);
            ck_assert_int_eq(ref.skipped[s], got.skipped[s]);
            ck_assert(ref.scale[s] == got.scale[s]);
            skipped += got.skipped[s];
        }
        ck_assert_msg(got.skipped[0] && skipped < LS_STEPS, "%s: %d of %d steps skipped (the first must be, not all)",
                      what, skipped, LS_STEPS);
        ck_assert_uint_eq(ref.state_len, got.state_len);
        ck_assert_msg(memcmp(ref.state, got.state, ref.state_len) == 0, "%s seed %llu: state differs", what,
                      (unsigned long long)seed);
        /* parameters and optimizer state untouched by the skipped first step (BN running statistics still move,
         * as in PyTorch) */
        size_t off = 0;
        for (int i = 0; i < p->n_tensors; i++) {
            const tgc_plan_tensor *t = &p->tensors[i];
            if (t->kind != TGC_VAL_PARAM && t->kind != TGC_VAL_BUFFER && t->kind != TGC_VAL_OPTSTATE) continue;
            if (t->kind == TGC_VAL_PARAM || t->kind == TGC_VAL_OPTSTATE)
                ck_assert_msg(memcmp(init + off, got.state_after_first + off, t->bytes) == 0,
                              "%s: '%s' changed in the skipped step", what, t->name);
            off += t->bytes;
        }
        if (k == 0)
            printf("%s, float16 from scale 2^26: %d of %d steps skipped, scale %g at the end; equal to the cpu "
                   "device\n", what, skipped, LS_STEPS, got.scale[LS_STEPS - 1]);
        free(init);
        free(ref.state), free(ref.state_after_first), free(got.state), free(got.state_after_first);
        count.steps += LS_STEPS;
        count.seeds++;
    }
    tgc_plan_free(p);
}

START_TEST(lenet_fp16_loss_scaling_matches_cpu) { loss_scaling_matches_cpu(LENET, "lenet fp16"); }
END_TEST

START_TEST(resnet_fp16_loss_scaling_matches_cpu) { loss_scaling_matches_cpu(RESNET, "resnet fp16"); }
END_TEST

START_TEST(print_counts) {
    /* runs last in this process (CK_FORK=no) or alone: the counts of this process */
    printf("cuda device over the stand-in: %d steps compared with cpu (%d seed runs), %d eager runs, %d captures, "
           "%d graph replays, %d bucket all-reduces; %d ordering violations in the real paths, %d broken paths "
           "caught\n",
           count.steps, count.seeds, count.eager, count.captures, count.replays, count.allreduces,
           count.violations_real, count.violations_caught);
}
END_TEST

int main(void) {
    Suite *s = suite_create("exec_cuda_standin");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, lenet_graphs_match_cpu_bit_for_bit);
    tcase_add_test(tc, resnet_graphs_match_cpu_bit_for_bit);
    tcase_add_test(tc, lenet_adamw_graphs_match_cpu_bit_for_bit);
    tcase_add_test(tc, lenet_eager_with_allreduce_matches_cpu);
    tcase_add_test(tc, resnet_eager_with_allreduce_matches_cpu);
    tcase_add_test(tc, resnet_eager_only_matches_cpu);
    tcase_add_test(tc, lenet_host_hooks_match_cpu);
    tcase_add_test(tc, resnet_host_hooks_and_timing_match_cpu);
    tcase_add_test(tc, two_ranks_match_one_rank_at_the_doubled_batch);
    tcase_add_test(tc, lenet_pipelined_uploads_eager_match_cpu);
    tcase_add_test(tc, resnet_pipelined_uploads_graphs_match_cpu);
    tcase_add_test(tc, two_ranks_without_the_bucket_wait_race);
    tcase_add_test(tc, two_ranks_without_the_optimizer_wait_race);
    tcase_add_test(tc, without_the_upload_wait_race);
    tcase_add_test(tc, inputs_released_too_early_race);
    tcase_add_test(tc, real_device_needs_a_gpu);
    tcase_add_test(tc, gpu_path_without_a_gpu);
    tcase_add_test(tc, lenet_fp16_loss_scaling_matches_cpu);
    tcase_add_test(tc, resnet_fp16_loss_scaling_matches_cpu);
    tcase_add_test(tc, print_counts);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK); /* one process, so the counts add up */
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
