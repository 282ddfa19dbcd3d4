/* tests/unit/test_plan_fixture.h - a small hand-built module (linear classifier) shared by the plan tests. */
#ifndef TGC_TEST_PLAN_FIXTURE_H
#define TGC_TEST_PLAN_FIXTURE_H

#include <check.h>
#include <string.h>

#include "plan/plan.h"

/* train: logits = x @ w + b, loss = CE(logits, labels); eval: the same forward, logits out. The real
 * pipeline adds the backward, the SGD update, buckets and the memory plan. */
static inline void fixture_graph(tgc_graph *g, int train, int *out) {
    tgc_err err;
    int x = tgc_graph_input(g, "inputs", TGC_F32, tgc_shape2(4, 8));
    int w = tgc_graph_state(g, TGC_VAL_PARAM, "head.fc.weight", TGC_F32, tgc_shape2(8, 3),
                            (tgc_init){.kind = TGC_INIT_NORMAL, .a = 0, .b = 0.01, .desc = tgc_strdup("normal(0, 0.01)")});
    int b = tgc_graph_state(g, TGC_VAL_PARAM, "head.fc.bias", TGC_F32, tgc_shape1(3),
                            (tgc_init){.kind = TGC_INIT_CONST});
    int mm = tgc_emit1(g, TGC_OP_MATMUL, NULL, "head.fc", &err, 2, x, w);
    ck_assert_msg(mm >= 0, "%s", err.msg);
    tgc_attrs ax = tgc_attrs_default();
    ax.axis = 1;
    int logits = tgc_emit1(g, TGC_OP_BIAS_ADD, &ax, "head.fc", &err, 2, mm, b);
    ck_assert_msg(logits >= 0, "%s", err.msg);
    if (!train) {
        g->vals[logits].is_output = 1;
        *out = logits;
        return;
    }
    int labels = tgc_graph_input(g, "labels", TGC_I32, tgc_shape1(4));
    int r = tgc_emit1(g, TGC_OP_RELU, NULL, "head", &err, 1, logits); /* gives memplan an in-place pair */
    ck_assert_msg(r >= 0, "%s", err.msg);
    int loss = tgc_emit1(g, TGC_OP_SOFTMAX_CE, NULL, "head.loss", &err, 2, r, labels);
    ck_assert_msg(loss >= 0, "%s", err.msg);
    g->vals[loss].is_output = 1;
    *out = loss;
}

static inline void fixture_module(tgc_module *m) {
    memset(m, 0, sizeof *m);
    m->train = tgc_graph_new("train");
    m->eval = tgc_graph_new("eval");
    fixture_graph(m->train, 1, &m->train_loss);
    fixture_graph(m->eval, 0, &m->eval_logits);
    m->optim = (tgc_optim_spec){.kind = TGC_OPTIM_SGD, .lr = 0.1, .momentum = 0.9, .weight_decay = 1e-4};
    m->train_batch = m->eval_batch = 4;
    m->bucket_cap_mb = 25;
    m->first_bucket_mb = 1;
}

/* A two-layer MLP (train: x @ w1 + b1 -> relu -> @ w2 + b2 -> CE; eval: the forward) through the whole
 * pipeline, with the given bucket caps in MiB: 0.0001 (104 bytes) gives two buckets of two gradients
 * each, {fc2.bias, fc2.weight} and {fc1.bias, fc1.weight}; 1/25 (the defaults) one bucket of four. The
 * bias_add + relu of fc1 become an elementwise fusion group and the four SGD updates one optimizer group. */
static inline void fixture_mlp_graph(tgc_graph *g, int train, int *out) {
    tgc_err err;
    int x = tgc_graph_input(g, "inputs", TGC_F32, tgc_shape2(4, 8));
    int w1 = tgc_graph_state(g, TGC_VAL_PARAM, "fc1.weight", TGC_F32, tgc_shape2(8, 16),
                             (tgc_init){.kind = TGC_INIT_NORMAL, .b = 0.1});
    int b1 = tgc_graph_state(g, TGC_VAL_PARAM, "fc1.bias", TGC_F32, tgc_shape1(16), (tgc_init){.kind = TGC_INIT_CONST});
    int w2 = tgc_graph_state(g, TGC_VAL_PARAM, "fc2.weight", TGC_F32, tgc_shape2(16, 3),
                             (tgc_init){.kind = TGC_INIT_NORMAL, .b = 0.1});
    int b2 = tgc_graph_state(g, TGC_VAL_PARAM, "fc2.bias", TGC_F32, tgc_shape1(3), (tgc_init){.kind = TGC_INIT_CONST});
    tgc_attrs ax = tgc_attrs_default();
    ax.axis = 1;
    int h = tgc_emit1(g, TGC_OP_MATMUL, NULL, "fc1", &err, 2, x, w1);
    ck_assert_msg(h >= 0, "%s", err.msg);
    h = tgc_emit1(g, TGC_OP_BIAS_ADD, &ax, "fc1", &err, 2, h, b1);
    ck_assert_msg(h >= 0, "%s", err.msg);
    h = tgc_emit1(g, TGC_OP_RELU, NULL, "act", &err, 1, h);
    ck_assert_msg(h >= 0, "%s", err.msg);
    h = tgc_emit1(g, TGC_OP_MATMUL, NULL, "fc2", &err, 2, h, w2);
    ck_assert_msg(h >= 0, "%s", err.msg);
    int logits = tgc_emit1(g, TGC_OP_BIAS_ADD, &ax, "fc2", &err, 2, h, b2);
    ck_assert_msg(logits >= 0, "%s", err.msg);
    if (!train) {
        g->vals[logits].is_output = 1;
        *out = logits;
        return;
    }
    int labels = tgc_graph_input(g, "labels", TGC_I32, tgc_shape1(4));
    int loss = tgc_emit1(g, TGC_OP_SOFTMAX_CE, NULL, "loss", &err, 2, logits, labels);
    ck_assert_msg(loss >= 0, "%s", err.msg);
    g->vals[loss].is_output = 1;
    *out = loss;
}

static inline void fixture_mlp_module(tgc_module *m, double first_bucket_mb, double bucket_cap_mb) {
    memset(m, 0, sizeof *m);
    m->train = tgc_graph_new("train");
    m->eval = tgc_graph_new("eval");
    fixture_mlp_graph(m->train, 1, &m->train_loss);
    fixture_mlp_graph(m->eval, 0, &m->eval_logits);
    m->optim = (tgc_optim_spec){.kind = TGC_OPTIM_SGD, .lr = 0.1, .momentum = 0.9, .weight_decay = 1e-4};
    m->train_batch = m->eval_batch = 4;
    m->first_bucket_mb = first_bucket_mb;
    m->bucket_cap_mb = bucket_cap_mb;
    tgc_err err;
    tgc_pipeline_opts o = {0};
    ck_assert_msg(tgc_run_pipeline(m, &o, &err) == 0, "%s", err.msg);
}

/* The module through the whole pipeline for `target` (NULL: the default, cpu), lowered to a plan (with
 * a small config attached). */
static inline tgc_plan *fixture_plan_for(const tgc_target *target) {
    tgc_module m;
    tgc_err err;
    fixture_module(&m);
    m.target = target;
    tgc_pipeline_opts o = {0};
    ck_assert_msg(tgc_run_pipeline(&m, &o, &err) == 0, "%s", err.msg);
    const char *yaml = "model:\n  type: ImageClassifier\ntrain_dataloader:\n  batch_size: 4\n";
    tgc_cfg *cfg = tgc_cfg_parse(yaml, strlen(yaml), "fixture.yaml", &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    tgc_plan *p = tgc_plan_from_module(&m, cfg, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    tgc_cfg_free(cfg);
    tgc_module_free(&m);
    return p;
}

static inline tgc_plan *fixture_plan(void) { return fixture_plan_for(NULL); }

static inline void fixture_bytes(const tgc_plan *p, tgc_buf *b) {
    tgc_err err;
    ck_assert_msg(tgc_plan_serialize(p, b, &err) == 0, "%s", err.msg);
}

static inline int fixture_run(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? 1 : 0;
}

#endif
