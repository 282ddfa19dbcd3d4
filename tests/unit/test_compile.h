/* tests/unit/test_compile.h - for Check tests that run plans: the small models they train, compiling a
 * YAML config held in a string into a plan, and feeding a plan's inputs. */
#ifndef TGC_TEST_COMPILE_H
#define TGC_TEST_COMPILE_H

#include <check.h>
#include <string.h>

#include "plan/plan.h"
#include "frontend/frontend.h"
#include "runtime/data/data.h"
#include "runtime/exec/executor.h"
#include "test_exec_util.h"

/* String literals: LeNet5 on 32x32 inputs (Resize) and a ResNet_CIFAR of two stages (8 and 16 channels),
 * with the batch sizes given and SGD's options (`sgd`, a string: "lr: 0.05, momentum: 0.9"). The data is
 * never read: the tests feed the inputs (test_feed). */
#define TEST_LENET_YAML(train_batch, val_batch)                                                               \
    "model:\n"                                                                                                \
    "  type: ImageClassifier\n"                                                                               \
    "  backbone: {type: LeNet5, num_classes: 10}\n"                                                           \
    "  neck: null\n"                                                                                          \
    "  head: {type: ClsHead, loss: {type: CrossEntropyLoss, loss_weight: 1.0}}\n"                             \
    "data_preprocessor: {mean: [33.46], std: [78.87]}\n"                                                      \
    "train_dataloader:\n"                                                                                     \
    "  batch_size: " #train_batch "\n"                                                                        \
    "  dataset: {type: FashionMNIST, data_prefix: nowhere, pipeline: [{type: Resize, scale: 32}, {type: "     \
    "PackInputs}]}\n"                                                                                         \
    "val_dataloader:\n"                                                                                       \
    "  batch_size: " #val_batch "\n"                                                                          \
    "  dataset: {type: FashionMNIST, data_prefix: nowhere, test_mode: true, pipeline: [{type: Resize, "       \
    "scale: 32}, {type: PackInputs}]}\n"                                                                      \
    "optim_wrapper: {optimizer: {type: SGD, lr: 0.05, momentum: 0.9}}\n"

#define TEST_RESNET_YAML(train_batch, val_batch, sgd)                                                         \
    "model:\n"                                                                                                \
    "  type: ImageClassifier\n"                                                                               \
    "  backbone: {type: ResNet_CIFAR, depth: 18, num_stages: 2, in_channels: 1, stem_channels: 8,\n"          \
    "             base_channels: 8, strides: [1, 2], dilations: [1, 1], out_indices: [1]}\n"                 \
    "  neck: {type: GlobalAveragePooling}\n"                                                                  \
    "  head: {type: LinearClsHead, num_classes: 10, in_channels: 16,\n"                                       \
    "         loss: {type: CrossEntropyLoss, loss_weight: 1.0}}\n"                                            \
    "train_dataloader:\n"                                                                                     \
    "  batch_size: " #train_batch "\n"                                                                        \
    "  dataset: {type: FashionMNIST, data_prefix: nowhere, pipeline: [{type: PackInputs}]}\n"                 \
    "val_dataloader:\n"                                                                                       \
    "  batch_size: " #val_batch "\n"                                                                          \
    "  dataset: {type: FashionMNIST, data_prefix: nowhere, test_mode: true, pipeline: [{type: PackInputs}]}\n" \
    "optim_wrapper: {optimizer: {type: SGD, " sgd "}}\n"

/* Compiles a config through the frontend and the pass pipeline into a validated plan (the caller frees
 * it). `disabled` lists optional passes to turn off (may be NULL). */
static inline tgc_plan *test_compile(const char *text, const char *const *disabled, int n_disabled) {
    tgc_err err;
    tgc_cfg *cfg = tgc_cfg_parse(text, strlen(text), "test.yaml", &err);
    ck_assert_msg(cfg, "%s", err.msg);
    tgc_module m;
    memset(&m, 0, sizeof m);
    ck_assert_msg(tgc_frontend_build(cfg, &m, &err) == 0, "%s", err.msg);
    tgc_pipeline_opts po;
    memset(&po, 0, sizeof po);
    for (int i = 0; i < n_disabled; i++) po.disabled[po.n_disabled++] = disabled[i];
    ck_assert_msg(tgc_run_pipeline(&m, &po, &err) == 0, "%s", err.msg);
    tgc_plan *p = tgc_plan_from_module(&m, cfg, &err);
    ck_assert_msg(p, "%s", err.msg);
    tgc_module_free(&m);
    tgc_cfg_free(cfg);
    ck_assert_msg(tgc_plan_validate(p, &err) == 0, "%s", err.msg);
    return p;
}

/* Fills program prog's inputs: images uniform in [-1, 1) from Philox (seed, stream 9), label i of the
 * batch (i + label_shift) % 10, and lr where the program has one. */
static inline void test_feed(tgc_exec *x, const char *prog, uint64_t seed, uint64_t label_shift, float lr) {
    int xi = tgc_exec_input(x, prog, "inputs");
    ck_assert_int_ge(xi, 0);
    float *img = exec_get(x, xi);
    int64_t n = tgc_shape_numel(&tgc_exec_tensor(x, xi)->type.shape);
    tgc_rng r;
    tgc_rng_init(&r, seed, 0, 0, 9);
    for (int64_t i = 0; i < n; i++) img[i] = (float)(2.0 * tgc_rng_uniform(&r) - 1.0);
    exec_put(x, xi, img);
    free(img);
    int li = tgc_exec_input(x, prog, "data_samples.gt_label");
    if (li >= 0) {
        int32_t *lab = exec_get(x, li);
        int64_t b = tgc_shape_numel(&tgc_exec_tensor(x, li)->type.shape);
        for (int64_t i = 0; i < b; i++) lab[i] = (int32_t)(((uint64_t)i + label_shift) % 10);
        exec_put(x, li, lab);
        free(lab);
    }
    int lri = tgc_exec_input(x, prog, "lr");
    if (lri >= 0) exec_put_f32(x, lri, lr);
}

/* The step loop both cuda-device tests compare with the cpu device: `steps` train steps (batch seed*100+s,
 * labels shifted by s, lr 0.05/(1+s), step s+1), their losses in loss[0..steps), then two eval batches; the
 * last eval's logits (the caller frees them), their count in *n_logits. */
static inline float *test_train_and_eval(tgc_exec *x, uint64_t seed, int steps, float *loss, int64_t *n_logits) {
    tgc_err err;
    int si = tgc_exec_input(x, "train", "step"), lo = tgc_exec_output(x, "train");
    for (int s = 0; s < steps; s++) {
        /* a new batch, lr and step every step: a replayed graph reads what was uploaded before its launch */
        test_feed(x, "train", seed * 100 + (uint64_t)s, (uint64_t)s, 0.05f / (float)(1 + s));
        exec_put_f32(x, si, (float)(s + 1));
        ck_assert_msg(tgc_exec_run(x, "train", &err) == 0, "step %d: %s", s, err.msg);
        loss[s] = exec_get_f32(x, lo);
    }
    int oi = tgc_exec_output(x, "eval");
    for (int e = 0; e < 2; e++) {
        test_feed(x, "eval", seed + 5 + (uint64_t)e, 0, 0.f);
        ck_assert_msg(tgc_exec_run(x, "eval", &err) == 0, "eval: %s", err.msg);
    }
    *n_logits = tgc_shape_numel(&tgc_exec_tensor(x, oi)->type.shape);
    return exec_get(x, oi);
}

#endif
