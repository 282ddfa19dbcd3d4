/* The cuda device over the CPU stand-in with its `native` switch on (backend/cuda/native_host.h): the launches of
 * the ops that have hand-written kernels (backend/cuda/kernels) run those kernels' very source through kshim.h,
 * their argument structs and multi-tensor lists marshalled by the executor from the plan's instructions (an
 * optimizer group packed by tgc_mt_apply, softmax cross-entropy's row-loss workspace a device buffer declared in
 * the launch's ranges). LeNet5 (SGD momentum, AdamW), a small ResNet and a small SE-ResNet with Mixup's soft
 * targets (SGD, Adam, RMSprop) train STEPS steps under several seeds,
 * eagerly then captured and replayed as graphs, and are compared with the cpu device:
 *   native optimizer groups and the exact kernels (max_pool2d_bwd, global_avg_pool_bwd, channel_mul, fill, cast): every
 *     loss, parameter, buffer, optimizer state and eval logit bit for bit;
 *   everything native (+ softmax CE fwd/bwd on labels or soft targets, global_avg_pool, bias_grad,
 *     channel_mul_grad_gate, reductions in another order; with SGD: Adam's and RMSprop's first step divides
 *     each gradient by its magnitude, so gradients that are rounding noise magnify 1e-7 differences): the
 *     first step's loss relative 1e-6 (the kernels' tolerance), and after STEPS steps of training, whose
 *     updates carry the 1-ulp differences on, losses and state within 1e-4 relative (to the largest element);
 * every run with 0 ordering violations (the stand-in's race checker fails the run otherwise). The measured
 * errors are printed. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_device.h"
#include "backend/cuda/native_host.h"
#include "backend/cuda/standin.h"
#include "runtime/exec/executor.h"
#include "test_compile.h"
#include "test_exec_util.h"

static const char *LENET = TEST_LENET_YAML(8, 8);
static const char *RESNET = TEST_RESNET_YAML(8, 8, "lr: 0.05, momentum: 0.9, weight_decay: 0.0001");

/* SEResNet (channel_mul and its gate gradient in every block) with Mixup (softmax_cross_entropy_soft); the
 * optimizer is appended. */
#define SE_RESNET_YAML                                                                                        \
    "model:\n"                                                                                                \
    "  type: ImageClassifier\n"                                                                               \
    "  backbone: {type: SEResNet, depth: 50, num_stages: 2, in_channels: 1, stem_channels: 8,\n"             \
    "             base_channels: 8, strides: [1, 2], dilations: [1, 1], out_indices: [1]}\n"                \
    "  neck: {type: GlobalAveragePooling}\n"                                                                  \
    "  head: {type: LinearClsHead, num_classes: 10, in_channels: 64,\n"                                       \
    "         loss: {type: CrossEntropyLoss, loss_weight: 1.0}}\n"                                            \
    "  train_cfg: {augments: [{type: Mixup, alpha: 0.2}]}\n"                                                  \
    "train_dataloader:\n"                                                                                     \
    "  batch_size: 8\n"                                                                                       \
    "  dataset: {type: FashionMNIST, data_prefix: nowhere, pipeline: [{type: PackInputs}]}\n"                 \
    "val_dataloader:\n"                                                                                       \
    "  batch_size: 8\n"                                                                                       \
    "  dataset: {type: FashionMNIST, data_prefix: nowhere, test_mode: true, pipeline: [{type: PackInputs}]}\n" \
    "optim_wrapper: "
static const char *SE_SGD = SE_RESNET_YAML "{optimizer: {type: SGD, lr: 0.05, momentum: 0.9}}\n";
static const char *SE_ADAM = SE_RESNET_YAML "{optimizer: {type: Adam, lr: 0.001, weight_decay: 0.0001}}\n";
static const char *SE_RMSPROP = SE_RESNET_YAML "{optimizer: {type: RMSprop, lr: 0.001, momentum: 0.9}}\n";

#define STEPS 6 /* run 1 eager, run 2 captured, runs 3..6 replayed */

static const uint64_t SEEDS[] = {1, 7, 99, 1234};
#define N_SEEDS ((int)(sizeof SEEDS / sizeof SEEDS[0]))

static struct {
    int steps, seeds, replays, native_launches;
    double worst_loss0, worst_loss, worst_state;
} count;

static int32_t chunk; /* the devices' multi-tensor chunk (0: the default) */

static tgc_device *native_device(uint64_t seed, int native, int no_graphs) {
    tgc_err err;
    tgc_cuda_device_opts o = {.n_threads = 1, .stream = {.seed = seed, .label = "cuda0"}, .no_graphs = no_graphs,
                              .native = native, .native_chunk = chunk};
    tgc_device *d = tgc_cuda_device_new(&tgc_standin_stream_api, &o, &err);
    ck_assert_msg(d, "%s", err.msg);
    return d;
}

typedef struct trace {
    float loss[STEPS];
    float *logits;
    int64_t n_logits;
    float *state; /* every f32 state tensor, concatenated */
    size_t n_state;
} trace;

static void run_plan(const tgc_plan *p, tgc_device *d, uint64_t seed, trace *out) {
    tgc_err err;
    tgc_exec_opts o = {.n_threads = 1, .deterministic = 1, .device = d};
    tgc_exec *x = tgc_exec_new(p, &o, &err);
    ck_assert_msg(x, "%s", err.msg);
    ck_assert_msg(tgc_exec_init_state(x, seed, &err) == 0, "%s", err.msg);
    out->logits = test_train_and_eval(x, seed, STEPS, out->loss, &out->n_logits);
    size_t n = 0;
    for (int i = 0; i < p->n_tensors; i++) {
        const tgc_plan_tensor *t = &p->tensors[i];
        if ((t->kind == TGC_VAL_PARAM || t->kind == TGC_VAL_BUFFER || t->kind == TGC_VAL_OPTSTATE) &&
            t->type.dtype == TGC_F32)
            n += t->bytes / 4;
    }
    out->state = malloc((n ? n : 1) * sizeof(float));
    out->n_state = n;
    float *q = out->state;
    for (int i = 0; i < p->n_tensors; i++) {
        const tgc_plan_tensor *t = &p->tensors[i];
        if ((t->kind != TGC_VAL_PARAM && t->kind != TGC_VAL_BUFFER && t->kind != TGC_VAL_OPTSTATE) ||
            t->type.dtype != TGC_F32)
            continue;
        void *v = exec_get(x, i);
        memcpy(q, v, t->bytes);
        free(v);
        q += t->bytes / 4;
    }
    ck_assert_msg(tgc_exec_sync(x, &err) == 0, "%s", err.msg);
    tgc_exec_free(x);
}

static void trace_free(trace *t) {
    free(t->logits);
    free(t->state);
}

static double rel(float a, float b) { return fabs((double)a - b) / fmax(fabs((double)b), 1e-30); }

/* The largest difference relative to the largest magnitude of each of ref's... over the whole vector. */
static double rel_vec(const float *a, const float *b, size_t n) {
    double scale = 1e-30, worst = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs((double)b[i]));
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) != isnan(b[i])) return INFINITY;
        if (!isnan(a[i])) worst = fmax(worst, fabs((double)a[i] - b[i]) / scale);
    }
    return worst;
}

/* native: the mask; exact: compare bit for bit, else within the tolerances above. */
static void compare(const char *yaml, const char *what, int native, int exact, int no_graphs) {
    tgc_plan *p = test_compile(yaml, NULL, 0);
    double w0 = 0, wl = 0, ws = 0;
    uint64_t nat = 0;
    for (int k = 0; k < N_SEEDS; k++) {
        uint64_t seed = SEEDS[k];
        trace ref = {0}, got = {0};
        run_plan(p, NULL, seed, &ref);
        tgc_device *d = native_device(seed, native, no_graphs);
        run_plan(p, d, seed, &got);
        tgc_cuda_device_stats st;
        tgc_cuda_device_get_stats(d, &st);
        tgc_device_close(d);
        ck_assert_uint_gt(st.native_launches, 0);
        if (native & TGC_NATIVE_LIBRARY) ck_assert_uint_gt(st.lib_calls, 0); /* every matmul as cuBLAS's gemm */
        else ck_assert_uint_eq(st.lib_calls, 0);
        ck_assert_uint_ge(st.native_bodies, st.native_launches);
        ck_assert_uint_ge(st.native_grids, st.native_bodies);
        if (chunk && native == TGC_NATIVE_OPTIMIZER) /* every group cut over several launches */
            ck_assert_uint_ge(st.native_grids, 2 * st.native_bodies);
        nat += st.native_launches;
        if (!no_graphs) {
            ck_assert_uint_eq(st.captures, 2);
            ck_assert_uint_eq(st.replays, STEPS - 2);
        }
        count.replays += (int)st.replays;
        ck_assert_uint_eq(got.n_state, ref.n_state);
        ck_assert_int_eq(got.n_logits, ref.n_logits);
        if (exact) {
            for (int s = 0; s < STEPS; s++)
                ck_assert_msg(memcmp(&got.loss[s], &ref.loss[s], 4) == 0, "%s seed %llu step %d: loss %.9g vs %.9g",
                              what, (unsigned long long)seed, s, got.loss[s], ref.loss[s]);
            ck_assert_msg(memcmp(got.state, ref.state, got.n_state * 4) == 0, "%s seed %llu: state differs", what,
                          (unsigned long long)seed);
            ck_assert_msg(memcmp(got.logits, ref.logits, (size_t)got.n_logits * 4) == 0, "%s seed %llu: logits differ",
                          what, (unsigned long long)seed);
        } else {
            double e0 = rel(got.loss[0], ref.loss[0]);
            ck_assert_msg(e0 <= 1e-6, "%s seed %llu: first loss %.9g vs %.9g (rel %.3g)", what,
                          (unsigned long long)seed, got.loss[0], ref.loss[0], e0);
            w0 = fmax(w0, e0);
            for (int s = 0; s < STEPS; s++) {
                double e = rel(got.loss[s], ref.loss[s]);
                ck_assert_msg(e <= 1e-4, "%s seed %llu step %d: loss %.9g vs %.9g (rel %.3g)", what,
                              (unsigned long long)seed, s, got.loss[s], ref.loss[s], e);
                wl = fmax(wl, e);
            }
            double es = rel_vec(got.state, ref.state, got.n_state), el = rel_vec(got.logits, ref.logits, (size_t)got.n_logits);
            ck_assert_msg(es <= 1e-4 && el <= 1e-4, "%s seed %llu: state rel %.3g, eval logits rel %.3g", what,
                          (unsigned long long)seed, es, el);
            ws = fmax(ws, fmax(es, el));
        }
        count.steps += STEPS;
        count.seeds++;
        trace_free(&ref);
        trace_free(&got);
    }
    count.native_launches += (int)nat;
    count.worst_loss0 = fmax(count.worst_loss0, w0);
    count.worst_loss = fmax(count.worst_loss, wl);
    count.worst_state = fmax(count.worst_state, ws);
    if (exact)
        printf("native %s: %d seeds x %d steps bit for bit with the cpu device; %llu native launches\n", what, N_SEEDS,
               STEPS, (unsigned long long)nat);
    else
        printf("native %s: %d seeds x %d steps; worst relative error: first loss %.3g, losses %.3g, state/logits "
               "%.3g; %llu native launches\n",
               what, N_SEEDS, STEPS, w0, wl, ws, (unsigned long long)nat);
    tgc_plan_free(p);
}

static void adamw_yaml(char *yaml, size_t size) {
    const char *sgd = "optimizer: {type: SGD, lr: 0.05, momentum: 0.9}";
    const char *at = strstr(LENET, sgd);
    ck_assert_ptr_nonnull(at);
    snprintf(yaml, size, "%.*soptimizer: {type: AdamW, lr: 0.001, weight_decay: 0.01}%s", (int)(at - LENET), LENET,
             at + strlen(sgd));
}

/* RESNET with the ImageNet stem (7x7 conv, 3x3 max pool: max_pool2d_bwd) and a label-smoothed, weighted loss. */
static void pool_yaml(char *yaml, size_t size) {
    char tmp[4096];
    const char *cifar = "ResNet_CIFAR", *loss = "loss: {type: CrossEntropyLoss, loss_weight: 1.0}";
    const char *at = strstr(RESNET, cifar);
    ck_assert_ptr_nonnull(at);
    snprintf(tmp, sizeof tmp, "%.*sResNet%s", (int)(at - RESNET), RESNET, at + strlen(cifar));
    at = strstr(tmp, loss);
    ck_assert_ptr_nonnull(at);
    snprintf(yaml, size, "%.*sloss: {type: LabelSmoothLoss, label_smooth_val: 0.1, loss_weight: 0.5}%s",
             (int)(at - tmp), tmp, at + strlen(loss));
}

START_TEST(lenet_native_optimizer_and_exact_kernels_bit_for_bit) {
    compare(LENET, "lenet sgd momentum (optimizer, exact)", TGC_NATIVE_OPTIMIZER | TGC_NATIVE_EXACT, 1, 0);
}
END_TEST
START_TEST(lenet_adamw_native_optimizer_bit_for_bit) {
    char yaml[4096];
    adamw_yaml(yaml, sizeof yaml);
    compare(yaml, "lenet adamw (optimizer, exact)", TGC_NATIVE_OPTIMIZER | TGC_NATIVE_EXACT, 1, 0);
}
END_TEST
START_TEST(resnet_native_optimizer_and_exact_kernels_bit_for_bit) {
    compare(RESNET, "resnet (optimizer, exact)", TGC_NATIVE_OPTIMIZER | TGC_NATIVE_EXACT, 1, 0);
}
END_TEST
START_TEST(resnet_native_optimizer_eager_bit_for_bit) {
    compare(RESNET, "resnet eager (optimizer)", TGC_NATIVE_OPTIMIZER, 1, 1);
}
END_TEST
START_TEST(lenet_all_native_within_tolerance) { compare(LENET, "lenet (all)", TGC_NATIVE_ALL, 0, 0); }
END_TEST
START_TEST(lenet_adamw_all_native_within_tolerance) {
    char yaml[4096];
    adamw_yaml(yaml, sizeof yaml);
    compare(yaml, "lenet adamw (all)", TGC_NATIVE_ALL, 0, 0);
}
END_TEST
START_TEST(resnet_all_native_within_tolerance) { compare(RESNET, "resnet (all)", TGC_NATIVE_ALL, 0, 0); }
END_TEST

/* The matmuls and batch norms as library work (lib_call): cuBLAS's column-major gemm and cuDNN's legacy batch norm
 * calls on the marshalled arguments, race-checked. */
START_TEST(lenet_matmul_as_library_work_within_tolerance) {
    compare(LENET, "lenet (all, matmul and batch norm as library work)", TGC_NATIVE_ALL | TGC_NATIVE_LIBRARY, 0, 0);
}
END_TEST

START_TEST(resnet_matmul_as_library_work_eager_within_tolerance) {
    compare(RESNET, "resnet eager (all, matmul and batch norm as library work)", TGC_NATIVE_ALL | TGC_NATIVE_LIBRARY, 0, 1);
}
END_TEST
/* batch 64: longer sums in the loss and bias gradients */
START_TEST(lenet_batch64_all_native_within_tolerance) {
    compare(TEST_LENET_YAML(64, 8), "lenet batch 64 (all)", TGC_NATIVE_ALL, 0, 0);
}
END_TEST
START_TEST(resnet_all_native_eager_within_tolerance) { compare(RESNET, "resnet eager (all)", TGC_NATIVE_ALL, 0, 1); }
END_TEST

START_TEST(resnet_max_pool_smoothed_loss_exact_bit_for_bit) {
    char yaml[4096];
    pool_yaml(yaml, sizeof yaml);
    compare(yaml, "resnet stem max pool, label smoothing (optimizer, exact)", TGC_NATIVE_OPTIMIZER | TGC_NATIVE_EXACT,
            1, 0);
}
END_TEST
START_TEST(resnet_max_pool_smoothed_loss_all_native_within_tolerance) {
    char yaml[4096];
    pool_yaml(yaml, sizeof yaml);
    compare(yaml, "resnet stem max pool, label smoothing (all)", TGC_NATIVE_ALL, 0, 0);
}
END_TEST

START_TEST(se_resnet_mixup_adam_rmsprop_optimizer_and_exact_bit_for_bit) {
    compare(SE_ADAM, "se-resnet mixup adam (optimizer, exact)", TGC_NATIVE_OPTIMIZER | TGC_NATIVE_EXACT, 1, 0);
    compare(SE_RMSPROP, "se-resnet mixup rmsprop momentum (optimizer, exact)", TGC_NATIVE_OPTIMIZER | TGC_NATIVE_EXACT,
            1, 0);
}
END_TEST

START_TEST(se_resnet_mixup_all_native_within_tolerance) {
    compare(SE_SGD, "se-resnet mixup sgd (all)", TGC_NATIVE_ALL, 0, 0);
}
END_TEST

/* Chunks of 16 (ResNet) and 64 (LeNet) elements: every group needs more blocks than one list holds (320), so its tensors are cut
 * between launches; still bit for bit. */
START_TEST(resnet_small_chunks_split_groups_bit_for_bit) {
    uint64_t before = tgc_cuda_native_host_launches();
    chunk = 16;
    compare(RESNET, "resnet, 16-element chunks (optimizer)", TGC_NATIVE_OPTIMIZER, 1, 1);
    chunk = 0;
    char yaml[4096];
    adamw_yaml(yaml, sizeof yaml);
    chunk = 64;
    compare(yaml, "lenet adamw, 64-element chunks (optimizer)", TGC_NATIVE_OPTIMIZER, 1, 0);
    chunk = 0;
    uint64_t grids = tgc_cuda_native_host_launches() - before;
    printf("native optimizer groups in 16/64-element chunks: %llu multi-tensor launches\n", (unsigned long long)grids);
}
END_TEST

START_TEST(native_off_runs_no_kernel) {
    /* the default (and the existing bit-for-bit tests): CPU reference bodies only */
    tgc_plan *p = test_compile(LENET, NULL, 0);
    tgc_device *d = native_device(3, 0, 0);
    uint64_t before = tgc_cuda_native_host_launches();
    trace t = {0};
    run_plan(p, d, 3, &t);
    tgc_cuda_device_stats st;
    tgc_cuda_device_get_stats(d, &st);
    ck_assert_uint_eq(st.native_launches, 0);
    ck_assert_uint_eq(tgc_cuda_native_host_launches(), before);
    /* switched on: programs prepared from now on */
    tgc_cuda_device_use_native(d, TGC_NATIVE_ALL);
    trace t2 = {0};
    run_plan(p, d, 3, &t2);
    tgc_cuda_device_get_stats(d, &st);
    ck_assert_uint_gt(st.native_launches, 0);
    ck_assert_uint_gt(tgc_cuda_native_host_launches(), before);
    tgc_device_close(d);
    trace_free(&t);
    trace_free(&t2);
    tgc_plan_free(p);
}
END_TEST

START_TEST(print_counts) {
    printf("cuda device, native kernels on the stand-in: %d steps compared with cpu (%d seed runs), %d graph replays, "
           "%d native launches (%llu kernel grids in all); worst relative errors with every kernel native: first "
           "loss %.3g, losses %.3g, state/logits %.3g\n",
           count.steps, count.seeds, count.replays, count.native_launches,
           (unsigned long long)tgc_cuda_native_host_launches(), count.worst_loss0, count.worst_loss, count.worst_state);
}
END_TEST

int main(void) {
    Suite *s = suite_create("exec_cuda_native");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, lenet_native_optimizer_and_exact_kernels_bit_for_bit);
    tcase_add_test(tc, lenet_adamw_native_optimizer_bit_for_bit);
    tcase_add_test(tc, resnet_native_optimizer_and_exact_kernels_bit_for_bit);
    tcase_add_test(tc, resnet_native_optimizer_eager_bit_for_bit);
    tcase_add_test(tc, lenet_all_native_within_tolerance);
    tcase_add_test(tc, lenet_adamw_all_native_within_tolerance);
    tcase_add_test(tc, resnet_all_native_within_tolerance);
    tcase_add_test(tc, lenet_matmul_as_library_work_within_tolerance);
    tcase_add_test(tc, resnet_matmul_as_library_work_eager_within_tolerance);
    tcase_add_test(tc, resnet_all_native_eager_within_tolerance);
    tcase_add_test(tc, lenet_batch64_all_native_within_tolerance);
    tcase_add_test(tc, resnet_max_pool_smoothed_loss_exact_bit_for_bit);
    tcase_add_test(tc, resnet_max_pool_smoothed_loss_all_native_within_tolerance);
    tcase_add_test(tc, se_resnet_mixup_adam_rmsprop_optimizer_and_exact_bit_for_bit);
    tcase_add_test(tc, se_resnet_mixup_all_native_within_tolerance);
    tcase_add_test(tc, resnet_small_chunks_split_groups_bit_for_bit);
    tcase_add_test(tc, native_off_runs_no_kernel);
    tcase_add_test(tc, print_counts);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
