/* tests/unit/test_frontend_models.c - the shipped configs build: parameter counts, state names, init specs,
 * MACs, train/eval graphs, input specs, optimizer settings. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/build.h"
#include "frontend/frontend.h"
#include "test_util.h"

static tgc_cfg *load(const char *rel) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", TGC_SOURCE_DIR, rel);
    tgc_err err = {{0}};
    tgc_cfg *c = tgc_cfg_load(path, &err);
    ck_assert_msg(c != NULL, "loading %s: %s", rel, err.msg);
    return c;
}

/* Loads and builds a shipped config; fails the test with the error message otherwise. */
static void build(const char *rel, tgc_module *m) {
    tgc_cfg *c = load(rel);
    tgc_err err = {{0}};
    int rc = tgc_frontend_build(c, m, &err);
    tgc_cfg_free(c);
    ck_assert_msg(rc == 0, "building %s: %s", rel, err.msg);
    ck_assert_msg(tgc_graph_verify(m->train, &err) == 0, "%s train: %s", rel, err.msg);
    ck_assert_msg(tgc_graph_verify(m->eval, &err) == 0, "%s eval: %s", rel, err.msg);
}

static int64_t count_params(const tgc_graph *g) {
    int64_t n = 0;
    for (int i = 0; i < g->n_vals; i++)
        if (g->vals[i].kind == TGC_VAL_PARAM) n += tgc_shape_numel(&g->vals[i].type.shape);
    return n;
}

static const tgc_value *state(const tgc_graph *g, const char *name) {
    int v = tgc_graph_find(g, name);
    ck_assert_msg(v >= 0, "no state named %s in the %s graph", name, g->name);
    return &g->vals[v];
}

/* Both graphs declare the same persistent state, by name, kind and shape. */
static void check_same_state(const tgc_module *m) {
    int na = 0, nb = 0;
    for (int i = 0; i < m->train->n_vals; i++) {
        const tgc_value *v = &m->train->vals[i];
        if (v->kind != TGC_VAL_PARAM && v->kind != TGC_VAL_BUFFER) continue;
        na++;
        const tgc_value *w = state(m->eval, v->name);
        ck_assert_int_eq(w->kind, v->kind);
        ck_assert(tgc_shape_eq(&w->type.shape, &v->type.shape));
    }
    for (int i = 0; i < m->eval->n_vals; i++)
        if (m->eval->vals[i].kind == TGC_VAL_PARAM || m->eval->vals[i].kind == TGC_VAL_BUFFER) nb++;
    ck_assert_int_eq(na, nb);
}

static void check_model(const char *rel, int64_t params) {
    tgc_module m;
    build(rel, &m);
    ck_assert_msg(count_params(m.train) == params, "%s: %lld parameters, expected %lld", rel,
                  (long long)count_params(m.train), (long long)params);
    ck_assert_int_eq(count_params(m.eval), params);
    check_same_state(&m);
    /* train: a scalar loss output; eval: [B, K] logits output */
    ck_assert_int_eq(m.train->vals[m.train_loss].type.shape.rank, 0);
    ck_assert(m.train->vals[m.train_loss].is_output);
    ck_assert_int_eq(m.eval->vals[m.eval_logits].type.shape.rank, 2);
    ck_assert(m.eval->vals[m.eval_logits].is_output);
    ck_assert_int_eq(m.eval->vals[m.eval_logits].type.shape.d[0], m.eval_batch);
    ck_assert_int_eq(test_count_ops(m.train, TGC_OP_SOFTMAX_CE), 1);
    ck_assert_int_eq(test_count_ops(m.eval, TGC_OP_SOFTMAX_CE), 0);
    ck_assert_int_eq(test_count_ops(m.train, TGC_OP_BN_EVAL), 0);
    ck_assert_int_eq(test_count_ops(m.eval, TGC_OP_BN_TRAIN), 0);
    ck_assert_int_eq(test_count_ops(m.train, TGC_OP_BN_TRAIN), test_count_ops(m.eval, TGC_OP_BN_EVAL));
    ck_assert(tgc_graph_find(m.train, "data_samples.gt_label") >= 0);
    ck_assert(tgc_graph_find(m.eval, "data_samples.gt_label") < 0);
    ck_assert(m.bucket_cap_mb == 25 && m.first_bucket_mb == 1);
    tgc_module_free(&m);
}

/* The loss-term contract a detector builder follows (frontend/build.h): terms registered in order, the loss the
 * left-to-right sum of those whose name contains "loss" (acc is logged only), bad names refused. */
START_TEST(loss_terms) {
    tgc_err err = {{0}};
    tgc_graph *g = tgc_graph_new("train");
    tgc_bctx b = {.g = g, .training = 1, .labels = -1, .err = &err};
    int x = tgc_graph_input(g, "x", TGC_F32, tgc_shape0()), v = tgc_graph_input(g, "v", TGC_F32, tgc_shape1(2));
    int t[4];
    for (int i = 0; i < 4; i++) t[i] = tgc_emit1(g, i == 2 ? TGC_OP_TANH : TGC_OP_RELU, NULL, NULL, &err, 1, x);
    ck_assert_int_eq(tgc_b_loss_sum(&b), -1); /* nothing registered */
    ck_assert_int_eq(tgc_b_log_output(&b, "loss_rpn_cls", t[0]), t[0]);
    ck_assert_int_eq(tgc_b_log_output(&b, "acc", t[2]), t[2]);
    ck_assert_int_eq(tgc_b_log_output(&b, "loss_bbox", t[1]), t[1]);
    ck_assert_int_eq(tgc_b_log_output(&b, "loss", t[3]), -1);      /* the runner's own key */
    ck_assert_int_eq(tgc_b_log_output(&b, "Loss_x", t[3]), -1);    /* [a-z][a-z0-9_]* */
    ck_assert_int_eq(tgc_b_log_output(&b, "loss_bbox", t[3]), -1); /* taken */
    ck_assert_int_eq(tgc_b_log_output(&b, "loss_v", v), -1);       /* not a scalar (and an input) */
    int y = tgc_b_loss_sum(&b);
    ck_assert_int_ge(y, 0);
    /* y = scale(loss_rpn_cls, 1) + loss_bbox: acc is not in it */
    const tgc_op *add = &g->ops[g->vals[y].def_op];
    ck_assert_int_eq(add->code, TGC_OP_ADD);
    ck_assert_int_eq(add->in[1], t[1]);
    const tgc_op *first = &g->ops[g->vals[add->in[0]].def_op];
    ck_assert_int_eq(first->code, TGC_OP_SCALE);
    ck_assert(first->attrs.alpha == 1.0);
    ck_assert_int_eq(first->in[0], t[0]);
    int named[4];
    ck_assert_int_eq(tgc_graph_named_outputs(g, named, 4), 3);
    ck_assert_str_eq(g->vals[named[1]].name, "acc");
    b.training = 0;
    ck_assert_int_eq(tgc_b_log_output(&b, "loss_cls", t[3]), -1); /* only in the train graph */
    tgc_graph_free(g);
}
END_TEST

START_TEST(resnet18_in1k) { check_model("configs/resnet/resnet18_8xb32_in1k.yaml", 11689512); }
END_TEST
START_TEST(resnet34_in1k) { check_model("configs/resnet/resnet34_8xb32_in1k.yaml", 21797672); }
END_TEST
START_TEST(resnet50_in1k) { check_model("configs/resnet/resnet50_8xb32_in1k.yaml", 25557032); }
END_TEST
START_TEST(resnet101_in1k) { check_model("configs/resnet/resnet101_8xb32_in1k.yaml", 44549160); }
END_TEST
START_TEST(resnet152_in1k) { check_model("configs/resnet/resnet152_8xb32_in1k.yaml", 60192808); }
END_TEST
START_TEST(resnet18_cifar10) { check_model("configs/resnet/resnet18_8xb16_cifar10.yaml", 11173962); }
END_TEST
START_TEST(lenet5_mnist) { check_model("configs/lenet/lenet5_mnist.yaml", 61706); }
END_TEST
START_TEST(lenet5_fashion) { check_model("configs/fashion/lenet5_fashionmnist.yaml", 61706); }
END_TEST

START_TEST(default_fashion_resnet) {
    /* stem 1->16 (144+32 BN), 3 stages x 2 BasicBlocks (16, 32, 64), downsamples at stages 2 and 3, fc 64->10 */
    int64_t stem = 16 * 1 * 9 + 2 * 16;
    int64_t s1 = 2 * (2 * (16 * 16 * 9 + 2 * 16));
    int64_t s2 = (32 * 16 * 9 + 64) + (32 * 32 * 9 + 64) + (32 * 16 + 64) + 2 * (32 * 32 * 9 + 64);
    int64_t s3 = (64 * 32 * 9 + 128) + (64 * 64 * 9 + 128) + (64 * 32 + 128) + 2 * (64 * 64 * 9 + 128);
    int64_t fc = 64 * 10 + 10;
    check_model("configs/fashion/resnet_small_fashionmnist.yaml", stem + s1 + s2 + s3 + fc);
    tgc_module m;
    build("configs/fashion/resnet_small_fashionmnist.yaml", &m);
    const tgc_value *in = state(m.train, "inputs");
    char buf[64];
    tgc_shape_str(&in->type.shape, buf, sizeof buf);
    ck_assert_str_eq(buf, "[128,1,28,28]");
    ck_assert_int_eq(state(m.train, "data_samples.gt_label")->type.dtype, TGC_I32);
    ck_assert_int_eq(m.train_batch, 128);
    ck_assert_int_eq(m.eval_batch, 128);
    /* no max-pool in the CIFAR stem; the last stage is 7x7 before pooling */
    ck_assert_int_eq(test_count_ops(m.train, TGC_OP_MAX_POOL2D), 0);
    ck_assert(tgc_graph_find(m.train, "backbone.layer4.0.conv1.weight") < 0);
    tgc_shape_str(&state(m.train, "backbone.layer3.0.downsample.0.weight")->type.shape, buf, sizeof buf);
    ck_assert_str_eq(buf, "[64,32,1,1]");
    ck_assert(tgc_graph_find(m.train, "backbone.layer1.0.downsample.0.weight") < 0);
    /* SGD with Nesterov momentum */
    ck_assert_int_eq(m.optim.kind, TGC_OPTIM_SGD);
    ck_assert(m.optim.lr == 0.1 && m.optim.momentum == 0.9 && m.optim.nesterov == 1);
    ck_assert(fabs(m.optim.weight_decay - 5e-4) < 1e-12);
    tgc_module_free(&m);
}
END_TEST

START_TEST(resnet50_names_init_macs) {
    tgc_module m;
    build("configs/resnet/resnet50_8xb32_in1k.yaml", &m);
    const tgc_graph *g = m.train;
    ck_assert_int_eq(state(g, "backbone.layer3.5.bn3.running_var")->kind, TGC_VAL_BUFFER);
    ck_assert_int_eq(state(g, "backbone.bn1.running_mean")->kind, TGC_VAL_BUFFER);
    ck_assert_int_eq(state(g, "head.fc.bias")->kind, TGC_VAL_PARAM);
    char buf[64];
    tgc_shape_str(&state(g, "backbone.layer1.0.downsample.0.weight")->type.shape, buf, sizeof buf);
    ck_assert_str_eq(buf, "[256,64,1,1]");
    tgc_shape_str(&state(g, "backbone.layer1.0.downsample.1.weight")->type.shape, buf, sizeof buf);
    ck_assert_str_eq(buf, "[256]");
    tgc_shape_str(&state(g, "head.fc.weight")->type.shape, buf, sizeof buf);
    ck_assert_str_eq(buf, "[1000,2048]");
    /* 'pytorch' style: the 3x3 conv of the first block of layer2 strides */
    for (int i = 0; i < g->n_ops; i++)
        if (g->ops[i].code == TGC_OP_CONV2D && g->ops[i].scope && !strcmp(g->ops[i].scope, "backbone.layer2.0.conv2"))
            ck_assert_int_eq(g->ops[i].attrs.stride[0], 2);

    /* init: Kaiming normal fan_out for convs, BN 1/0 with zero_init_residual on bn3, fc N(0, 0.01) */
    const tgc_value *w = state(g, "backbone.conv1.weight");
    ck_assert_int_eq(w->init.kind, TGC_INIT_NORMAL);
    ck_assert(fabs(w->init.b - sqrt(2.0 / (64 * 49))) < 1e-12);
    ck_assert(w->init.desc && strstr(w->init.desc, "kaiming_normal"));
    const tgc_value *g3 = state(g, "backbone.layer2.1.bn3.weight");
    ck_assert(g3->init.kind == TGC_INIT_CONST && g3->init.a == 0);
    const tgc_value *g2 = state(g, "backbone.layer2.1.bn2.weight");
    ck_assert(g2->init.kind == TGC_INIT_CONST && g2->init.a == 1);
    const tgc_value *rv = state(g, "backbone.layer2.1.bn2.running_var");
    ck_assert(rv->init.kind == TGC_INIT_CONST && rv->init.a == 1);
    const tgc_value *fc = state(g, "head.fc.weight");
    ck_assert(fc->init.kind == TGC_INIT_NORMAL && fc->init.a == 0 && fc->init.b == 0.01);
    ck_assert(state(g, "head.fc.bias")->init.kind == TGC_INIT_CONST);

    tgc_cost c = tgc_graph_cost(m.eval);
    double per_image = c.macs / (double)m.eval_batch;
    printf("ResNet-50 eval MACs per image: %.4g\n", per_image);
    ck_assert_msg(per_image > 4.0e9 && per_image < 4.2e9, "ResNet-50 MACs per image %g", per_image);
    ck_assert_int_eq(m.optim.kind, TGC_OPTIM_SGD);
    ck_assert(m.optim.lr == 0.1 && m.optim.momentum == 0.9 && m.optim.weight_decay == 1e-4 && !m.optim.nesterov);
    tgc_module_free(&m);
}
END_TEST

START_TEST(resnet18_zero_init_and_names) {
    tgc_module m;
    build("configs/resnet/resnet18_8xb32_in1k.yaml", &m);
    const tgc_value *v = state(m.train, "backbone.layer1.0.bn2.weight");
    ck_assert(v->init.kind == TGC_INIT_CONST && v->init.a == 0);
    v = state(m.train, "backbone.layer1.0.bn1.weight");
    ck_assert(v->init.kind == TGC_INIT_CONST && v->init.a == 1);
    ck_assert(tgc_graph_find(m.train, "backbone.layer1.0.downsample.0.weight") < 0);
    ck_assert(tgc_graph_find(m.train, "backbone.layer2.0.downsample.0.weight") >= 0);
    ck_assert(tgc_graph_find(m.train, "backbone.layer4.1.conv2.weight") >= 0);
    ck_assert_int_eq(test_count_ops(m.train, TGC_OP_MAX_POOL2D), 1);
    tgc_module_free(&m);
}
END_TEST

START_TEST(lenet5_names_init) {
    tgc_module m;
    build("configs/lenet/lenet5_mnist.yaml", &m);
    const char *names[] = {"backbone.features.0.weight", "backbone.features.0.bias", "backbone.features.3.weight",
                           "backbone.features.6.weight", "backbone.classifier.0.weight", "backbone.classifier.2.bias"};
    for (size_t i = 0; i < 6; i++) ck_assert_int_eq(state(m.train, names[i])->kind, TGC_VAL_PARAM);
    const tgc_value *w = state(m.train, "backbone.features.3.weight"); /* fan_in 6*5*5 */
    ck_assert_int_eq(w->init.kind, TGC_INIT_UNIFORM);
    ck_assert(fabs(w->init.b - 1 / sqrt(150.0)) < 1e-12 && fabs(w->init.a + 1 / sqrt(150.0)) < 1e-12);
    const tgc_value *b = state(m.train, "backbone.classifier.0.bias"); /* fan_in 120 */
    ck_assert(b->init.kind == TGC_INIT_UNIFORM && fabs(b->init.b - 1 / sqrt(120.0)) < 1e-12);
    ck_assert_int_eq(m.eval->vals[m.eval_logits].type.shape.d[1], 10);
    ck_assert_int_eq(test_count_ops(m.train, TGC_OP_TANH), 4);
    ck_assert_int_eq(test_count_ops(m.train, TGC_OP_AVG_POOL2D), 2);
    ck_assert(m.optim.lr == 0.01);
    tgc_module_free(&m);
}
END_TEST

/* ---- input specs ---- */
static void check_spec(const char *rel, int64_t c, int64_t h, int64_t w, int64_t tb, int64_t eb, int64_t nc) {
    tgc_cfg *cfg = load(rel);
    tgc_input_spec s;
    tgc_err err = {{0}};
    int rc = tgc_frontend_input_spec(cfg, &s, &err);
    tgc_cfg_free(cfg);
    ck_assert_msg(rc == 0, "%s: %s", rel, err.msg);
    ck_assert_msg(s.channels == c && s.height == h && s.width == w, "%s: %lldx%lldx%lld", rel, (long long)s.channels,
                  (long long)s.height, (long long)s.width);
    ck_assert_int_eq(s.train_batch, tb);
    ck_assert_int_eq(s.eval_batch, eb);
    ck_assert_int_eq(s.num_classes, nc);
}

START_TEST(input_specs) {
    check_spec("configs/resnet/resnet50_8xb32_in1k.yaml", 3, 224, 224, 32, 32, 1000);
    check_spec("configs/resnet/resnet18_8xb16_cifar10.yaml", 3, 32, 32, 16, 16, 10);
    check_spec("configs/lenet/lenet5_mnist.yaml", 1, 32, 32, 128, 128, 10);
    check_spec("configs/fashion/lenet5_fashionmnist.yaml", 1, 32, 32, 128, 128, 10);
    check_spec("configs/fashion/resnet_small_fashionmnist.yaml", 1, 28, 28, 128, 128, 10);
    /* pipeline arithmetic: Resize [w, h], RandomCrop with padding, ResizeEdge on a known size + CenterCrop,
     * eval falling back to test_dataloader with its own batch size */
    check_spec("tests/unit/frontend_inputs/spec_pipeline.yaml", 3, 40, 48, 8, 4, 10);
    /* no val/test dataloader: eval follows the training data */
    check_spec("tests/unit/frontend_inputs/spec_train_only.yaml", 1, 20, 24, 64, 64, 10);
    check_spec("tests/unit/frontend_inputs/spec_rrc.yaml", 3, 40, 48, 2, 3, 1000);
    check_spec("tests/unit/frontend_inputs/spec_keep_ratio.yaml", 3, 48, 48, 5, 5, 100);
}
END_TEST

/* paramwise_cfg sets multipliers by role (norm, bias) and custom keys (longest match first). */
START_TEST(paramwise) {
    tgc_module m;
    build("tests/unit/frontend_inputs/paramwise.yaml", &m);
    ck_assert(state(m.train, "backbone.bn1.weight")->decay_mult == 0);
    ck_assert(state(m.train, "backbone.layer1.0.bn1.bias")->decay_mult == 0);
    ck_assert(state(m.train, "head.fc.bias")->decay_mult == 0.5);
    ck_assert(state(m.train, "head.fc.bias")->lr_mult == 2);
    ck_assert(state(m.train, "head.fc.weight")->decay_mult == 1);
    ck_assert(state(m.train, "backbone.conv1.weight")->decay_mult == 1);
    /* custom keys: 'backbone.layer1' (longer) beats 'backbone' */
    ck_assert(state(m.train, "backbone.layer1.0.conv1.weight")->lr_mult == 0.25);
    ck_assert(state(m.train, "backbone.layer2.0.conv1.weight")->lr_mult == 0.1);
    ck_assert(state(m.train, "backbone.layer2.0.conv1.weight")->decay_mult == 1);
    ck_assert_int_eq(m.optim.kind, TGC_OPTIM_ADAMW);
    ck_assert(m.optim.beta1 == 0.9 && m.optim.beta2 == 0.95 && m.optim.eps == 1e-8);
    ck_assert(m.optim.weight_decay == 0.05 && m.optim.lr == 1e-3);
    ck_assert(m.bucket_cap_mb == 50);
    tgc_module_free(&m);
}
END_TEST

/* dwconv_decay_mult: MMEngine's depth-wise test is in_channels == groups, which a plain conv on a
 * 1-channel image passes too. */
START_TEST(paramwise_dwconv) {
    tgc_module m;
    build("tests/unit/frontend_inputs/paramwise_dwconv.yaml", &m);
    ck_assert(state(m.train, "backbone.features.0.weight")->decay_mult == 0);
    ck_assert(state(m.train, "backbone.features.3.weight")->decay_mult == 1);
    ck_assert(state(m.train, "backbone.features.0.bias")->decay_mult == 1);
    tgc_module_free(&m);
}
END_TEST

/* deep stem + avg_down + caffe style + BN eps: names and shapes. */
START_TEST(resnet_variants) {
    tgc_module m;
    build("tests/unit/frontend_inputs/resnet_variants.yaml", &m);
    const tgc_graph *g = m.train;
    char buf[64];
    tgc_shape_str(&state(g, "backbone.stem.0.conv.weight")->type.shape, buf, sizeof buf);
    ck_assert_str_eq(buf, "[16,3,3,3]");
    tgc_shape_str(&state(g, "backbone.stem.2.conv.weight")->type.shape, buf, sizeof buf);
    ck_assert_str_eq(buf, "[32,16,3,3]");
    ck_assert(tgc_graph_find(g, "backbone.stem.1.bn.running_mean") >= 0);
    ck_assert(tgc_graph_find(g, "backbone.conv1.weight") < 0);
    /* avg_down: layer2's downsample is avg_pool, conv (index 1), bn (index 2); layer1 (stride 1) keeps 0/1 */
    ck_assert(tgc_graph_find(g, "backbone.layer2.0.downsample.1.weight") >= 0);
    ck_assert(tgc_graph_find(g, "backbone.layer2.0.downsample.2.running_var") >= 0);
    ck_assert(tgc_graph_find(g, "backbone.layer1.0.downsample.0.weight") >= 0);
    int caffe_ok = 0;
    for (int i = 0; i < g->n_ops; i++) {
        const tgc_op *op = &g->ops[i];
        if (op->code == TGC_OP_CONV2D && op->scope && !strcmp(op->scope, "backbone.layer2.0.conv1"))
            caffe_ok = op->attrs.stride[0] == 2;
        if (op->code == TGC_OP_BN_TRAIN) ck_assert(op->attrs.eps == 1e-3);
    }
    ck_assert(caffe_ok);
    /* two out_indices -> two pooled features; the head reads the last (layer2: 64*4 = 256 channels) */
    ck_assert_int_eq(test_count_ops(g, TGC_OP_GLOBAL_AVG_POOL), 2);
    /* LabelSmoothLoss -> label_smooth on the loss, loss_weight as alpha */
    for (int i = 0; i < g->n_ops; i++)
        if (g->ops[i].code == TGC_OP_SOFTMAX_CE) ck_assert(g->ops[i].attrs.label_smooth == 0.1 && g->ops[i].attrs.alpha == 2);
    tgc_module_free(&m);
}
END_TEST

int main(void) {
    Suite *s = suite_create("frontend_models");
    TCase *tc = tcase_create("models");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, resnet18_in1k);
    tcase_add_test(tc, resnet34_in1k);
    tcase_add_test(tc, resnet50_in1k);
    tcase_add_test(tc, resnet101_in1k);
    tcase_add_test(tc, resnet152_in1k);
    tcase_add_test(tc, resnet18_cifar10);
    tcase_add_test(tc, lenet5_mnist);
    tcase_add_test(tc, lenet5_fashion);
    tcase_add_test(tc, default_fashion_resnet);
    tcase_add_test(tc, resnet50_names_init_macs);
    tcase_add_test(tc, resnet18_zero_init_and_names);
    tcase_add_test(tc, lenet5_names_init);
    tcase_add_test(tc, input_specs);
    tcase_add_test(tc, paramwise);
    tcase_add_test(tc, paramwise_dwconv);
    tcase_add_test(tc, resnet_variants);
    tcase_add_test(tc, loss_terms);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
