/* tests/unit/test_passes_fusion.c - the fusion passes on small hand-built graphs: which chains become
 * groups and which do not, sinking a producer to its consumer, BN+relu fusion conditions, folding eval BN,
 * optimizer groups, and the memory planner keeping a group's tensors apart. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "passes/passes.h"
#include "test_util.h"

static tgc_err err;

#define OK(expr) ck_assert_msg((expr) >= 0, "%s failed: %s", #expr, err.msg)

static int param(tgc_graph *g, const char *name, tgc_shape s) {
    return tgc_graph_state(g, TGC_VAL_PARAM, name, TGC_F32, s, test_init_const(0.5));
}

static int op_of(const tgc_graph *g, int v) { return g->vals[v].def_op; }

static tgc_module module_with(tgc_graph *train, tgc_graph *eval) {
    tgc_module m;
    memset(&m, 0, sizeof m);
    m.train = train;
    m.eval = eval;
    m.train_loss = m.eval_logits = -1;
    m.bucket_cap_mb = 25;
    m.first_bucket_mb = 1;
    return m;
}

/* x -> add(x, x) -> relu -> [conv] -> scale -> relu -> bias_add -> tanh -> [reshape] -> relu: two groups;
 * tanh is never grouped (the CPU's library tanh beats a fused loop). */
START_TEST(elementwise_groups) {
    tgc_graph *g = tgc_graph_new("eval");
    int x = tgc_graph_input(g, "x", TGC_F32, tgc_shape4(2, 4, 8, 8));
    int w = param(g, "w", tgc_shape4(4, 4, 1, 1));
    int b = param(g, "b", tgc_shape1(4));
    tgc_attrs ax = tgc_attrs_default();
    ax.axis = 1;
    int a = tgc_emit1(g, TGC_OP_ADD, NULL, "s", &err, 2, x, x);
    int r = tgc_emit1(g, TGC_OP_RELU, NULL, "s", &err, 1, a);
    int c = tgc_emit1(g, TGC_OP_CONV2D, NULL, "s", &err, 2, r, w);
    int s = tgc_emit1(g, TGC_OP_SCALE, NULL, "s", &err, 1, c);
    int t = tgc_emit1(g, TGC_OP_RELU, NULL, "s", &err, 1, s);
    int ba = tgc_emit1(g, TGC_OP_BIAS_ADD, &ax, "s", &err, 2, t, b);
    int th = tgc_emit1(g, TGC_OP_TANH, NULL, "s", &err, 1, ba);
    tgc_attrs sh = tgc_attrs_default();
    sh.shape = tgc_shape2(2, 256);
    int rs = tgc_emit1(g, TGC_OP_RESHAPE, &sh, "s", &err, 1, th);
    int r2 = tgc_emit1(g, TGC_OP_RELU, NULL, "s", &err, 1, rs); /* alone after the reshape */
    ck_assert_int_ge(r2, 0);
    g->vals[r2].is_output = 1;
    tgc_module m = module_with(NULL, g);
    OK(tgc_pass_fuse_elementwise(&m, &err));
    OK(tgc_graph_verify(g, &err));
    int ga = g->ops[op_of(g, a)].group, gs = g->ops[op_of(g, s)].group;
    ck_assert_int_ge(ga, 0);
    ck_assert_int_eq(g->ops[op_of(g, r)].group, ga);
    ck_assert_int_eq(g->ops[op_of(g, c)].group, -1);
    ck_assert_int_ge(gs, 0);
    ck_assert_int_ne(gs, ga);
    ck_assert_int_eq(g->ops[op_of(g, t)].group, gs);
    ck_assert_int_eq(g->ops[op_of(g, ba)].group, gs);
    ck_assert_int_eq(g->ops[op_of(g, th)].group, -1);
    ck_assert_int_eq(g->ops[op_of(g, rs)].group, -1);
    ck_assert_int_eq(g->ops[op_of(g, r2)].group, -1); /* a single op is no group */
    tgc_module_free(&m);
}
END_TEST

/* x -> add -> sigmoid -> scale -> sigmoid_bwd(., sigmoid's y) -> relu. Transcendentals follow the target's
 * policy: on cpu sigmoid stays out (so the add before it is alone, no group) and sigmoid_bwd, plain
 * arithmetic, groups with the scale and relu around it; on cuda all five are one group. */
START_TEST(transcendentals_follow_target) {
    for (int cuda = 0; cuda < 2; cuda++) {
        tgc_graph *g = tgc_graph_new("eval");
        int x = tgc_graph_input(g, "x", TGC_F32, tgc_shape2(4, 8));
        int a = tgc_emit1(g, TGC_OP_ADD, NULL, "s", &err, 2, x, x);
        int s = tgc_emit1(g, TGC_OP_SIGMOID, NULL, "s", &err, 1, a);
        int t = tgc_emit1(g, TGC_OP_SCALE, NULL, "s", &err, 1, s);
        int u = tgc_emit1(g, TGC_OP_SIGMOID_BWD, NULL, "s", &err, 2, t, s);
        int v = tgc_emit1(g, TGC_OP_RELU, NULL, "s", &err, 1, u);
        ck_assert_int_ge(v, 0);
        g->vals[v].is_output = 1;
        tgc_module m = module_with(NULL, g);
        m.target = cuda ? tgc_target_find("cuda") : NULL; /* NULL: the default, cpu */
        ck_assert_uint_eq(tgc_module_target(&m)->fuse & TGC_FUSE_TRANSCENDENTALS, cuda ? TGC_FUSE_TRANSCENDENTALS : 0);
        OK(tgc_pass_fuse_elementwise(&m, &err));
        OK(tgc_graph_verify(g, &err));
        int gt = g->ops[op_of(g, t)].group;
        ck_assert_int_ge(gt, 0);
        ck_assert_int_eq(g->ops[op_of(g, u)].group, gt);
        ck_assert_int_eq(g->ops[op_of(g, v)].group, gt);
        ck_assert_int_eq(g->ops[op_of(g, s)].group, cuda ? gt : -1);
        ck_assert_int_eq(g->ops[op_of(g, a)].group, cuda ? gt : -1);
        tgc_module_free(&m);
    }
}
END_TEST

/* A bias_add whose consumer (an add) comes after an unrelated conv is sunk next to it; one whose input
 * is updated in between is not moved. */
START_TEST(sinking) {
    tgc_graph *g = tgc_graph_new("eval");
    int x = tgc_graph_input(g, "x", TGC_F32, tgc_shape4(2, 4, 8, 8));
    int w = param(g, "w", tgc_shape4(4, 4, 1, 1));
    int b = param(g, "b", tgc_shape1(4));
    tgc_attrs ax = tgc_attrs_default();
    ax.axis = 1;
    int p = tgc_emit1(g, TGC_OP_BIAS_ADD, &ax, "p", &err, 2, x, b);
    int c = tgc_emit1(g, TGC_OP_CONV2D, NULL, "c", &err, 2, x, w);
    int a = tgc_emit1(g, TGC_OP_ADD, NULL, "a", &err, 2, p, c);
    int r = tgc_emit1(g, TGC_OP_RELU, NULL, "r", &err, 1, a);
    g->vals[r].is_output = 1;
    tgc_module m = module_with(NULL, g);
    OK(tgc_pass_fuse_elementwise(&m, &err));
    OK(tgc_graph_verify(g, &err));
    ck_assert_int_eq(op_of(g, c), 0);
    ck_assert_int_eq(op_of(g, p), 1);
    int gid = g->ops[1].group;
    ck_assert_int_ge(gid, 0);
    ck_assert_int_eq(g->ops[2].group, gid);
    ck_assert_int_eq(g->ops[3].group, gid);
    tgc_module_free(&m);

    /* blocked: an SGD update of b sits between the bias_add and its consumer */
    g = tgc_graph_new("train");
    x = tgc_graph_input(g, "x", TGC_F32, tgc_shape2(2, 4));
    int lr = tgc_graph_input(g, "lr", TGC_F32, tgc_shape0());
    b = param(g, "b", tgc_shape1(4));
    int gb = tgc_graph_input(g, "gb", TGC_F32, tgc_shape1(4));
    p = tgc_emit1(g, TGC_OP_BIAS_ADD, &ax, "p", &err, 2, x, b);
    int in[3] = {b, gb, lr};
    OK(tgc_emit(g, TGC_OP_SGD_UPDATE, in, 3, NULL, "u", NULL, &err));
    r = tgc_emit1(g, TGC_OP_RELU, NULL, "r", &err, 1, p);
    g->vals[r].is_output = 1;
    m = module_with(g, NULL);
    OK(tgc_pass_fuse_elementwise(&m, &err));
    ck_assert_int_eq(op_of(g, p), 0);
    ck_assert_int_eq(g->ops[0].group, -1);
    tgc_module_free(&m);
}
END_TEST

/* bn -> relu fuses (forward and backward) only when the BN output and the masked gradient have no other
 * reader. */
static tgc_graph *bn_graph(int extra_reader) {
    tgc_graph *g = tgc_graph_new("train");
    int x = tgc_graph_input(g, "x", TGC_F32, tgc_shape4(2, 4, 3, 3));
    int dy = tgc_graph_input(g, "dy", TGC_F32, tgc_shape4(2, 4, 3, 3));
    int gam = param(g, "bn.weight", tgc_shape1(4)), bet = param(g, "bn.bias", tgc_shape1(4));
    int rm = tgc_graph_state(g, TGC_VAL_BUFFER, "bn.running_mean", TGC_F32, tgc_shape1(4), test_init_const(0));
    int rv = tgc_graph_state(g, TGC_VAL_BUFFER, "bn.running_var", TGC_F32, tgc_shape1(4), test_init_const(1));
    int in[5] = {x, gam, bet, rm, rv}, out[3];
    OK(tgc_emit(g, TGC_OP_BN_TRAIN, in, 5, NULL, "bn", out, &err));
    int y = tgc_emit1(g, TGC_OP_RELU, NULL, "relu", &err, 1, out[0]);
    int d = tgc_emit1(g, TGC_OP_RELU_BWD, NULL, "relu", &err, 2, dy, y);
    int bin[5] = {d, x, gam, out[1], out[2]}, bout[3];
    OK(tgc_emit(g, TGC_OP_BN_BWD, bin, 5, NULL, "bn", bout, &err));
    g->vals[bout[0]].is_output = 1;
    g->vals[bout[1]].grad_of = gam;
    g->vals[bout[2]].grad_of = bet;
    if (extra_reader) g->vals[tgc_emit1(g, TGC_OP_ADD, NULL, "z", &err, 2, out[0], y)].is_output = 1;
    return g;
}

START_TEST(bn_relu) {
    tgc_module m = module_with(bn_graph(0), NULL);
    OK(tgc_pass_fuse_bn_relu(&m, &err));
    OK(tgc_graph_verify(m.train, &err));
    ck_assert_int_eq(m.train->n_ops, 2);
    ck_assert_int_eq(m.train->ops[0].code, TGC_OP_BN_TRAIN_RELU);
    ck_assert_int_eq(m.train->ops[1].code, TGC_OP_BN_RELU_BWD);
    ck_assert_int_eq(m.train->ops[1].n_in, 6);
    ck_assert_int_eq(m.train->ops[1].in[3], tgc_graph_find(m.train, "bn.bias"));
    ck_assert_int_eq(m.train->vals[m.train->ops[1].out[2]].grad_of, tgc_graph_find(m.train, "bn.bias"));
    tgc_module_free(&m);

    m = module_with(bn_graph(1), NULL); /* the BN output is read twice: nothing fuses */
    OK(tgc_pass_fuse_bn_relu(&m, &err));
    ck_assert_int_eq(test_count_ops(m.train, TGC_OP_BN_TRAIN_RELU), 0);
    ck_assert_int_eq(test_count_ops(m.train, TGC_OP_BN_RELU_BWD), 0);
    ck_assert_int_eq(test_count_ops(m.train, TGC_OP_RELU), 1);
    tgc_module_free(&m);
}
END_TEST

/* conv -> bn_eval folds; a conv whose output is read twice does not; a folded BN that was the program's
 * output hands that role to the bias_add. */
START_TEST(fold_bn) {
    tgc_graph *g = tgc_graph_new("eval");
    int x = tgc_graph_input(g, "x", TGC_F32, tgc_shape4(2, 3, 5, 5));
    int w = param(g, "conv.weight", tgc_shape4(4, 3, 3, 3));
    int gam = param(g, "bn.weight", tgc_shape1(4)), bet = param(g, "bn.bias", tgc_shape1(4));
    int rm = tgc_graph_state(g, TGC_VAL_BUFFER, "bn.running_mean", TGC_F32, tgc_shape1(4), test_init_const(0));
    int rv = tgc_graph_state(g, TGC_VAL_BUFFER, "bn.running_var", TGC_F32, tgc_shape1(4), test_init_const(1));
    int c = tgc_emit1(g, TGC_OP_CONV2D, NULL, "conv", &err, 2, x, w);
    int in[5] = {c, gam, bet, rm, rv}, out[1];
    OK(tgc_emit(g, TGC_OP_BN_EVAL, in, 5, NULL, "bn", out, &err));
    int c2 = tgc_emit1(g, TGC_OP_CONV2D, NULL, "conv2", &err, 2, x, w);
    int in2[5] = {c2, gam, bet, rm, rv}, out2[1];
    OK(tgc_emit(g, TGC_OP_BN_EVAL, in2, 5, NULL, "bn2", out2, &err));
    int z = tgc_emit1(g, TGC_OP_ADD, NULL, "z", &err, 2, out2[0], c2); /* c2 read twice: stays */
    int y = tgc_emit1(g, TGC_OP_ADD, NULL, "y", &err, 2, out[0], z);
    g->vals[out[0]].is_output = 1;
    g->vals[y].is_output = 1;
    tgc_module m = module_with(NULL, g);
    m.eval_logits = out[0];
    OK(tgc_pass_fold_bn(&m, &err));
    OK(tgc_graph_verify(g, &err));
    ck_assert_int_eq(test_count_ops(g, TGC_OP_FOLD_CONV_BN), 1);
    ck_assert_int_eq(test_count_ops(g, TGC_OP_BN_EVAL), 1);
    ck_assert_int_eq(g->ops[0].code, TGC_OP_FOLD_CONV_BN);
    ck_assert_int_eq(g->ops[1].code, TGC_OP_CONV2D);
    ck_assert_int_eq(g->ops[1].in[1], g->ops[0].out[0]);
    ck_assert_int_eq(g->ops[2].code, TGC_OP_BIAS_ADD);
    ck_assert_int_eq(g->ops[2].in[1], g->ops[0].out[1]);
    ck_assert_int_eq(m.eval_logits, g->ops[2].out[0]);
    ck_assert(g->vals[m.eval_logits].is_output);
    tgc_module_free(&m);
}
END_TEST

/* Four SGD updates in parameter order, gradients produced in reverse order, one update with another lr
 * multiplier. */
static tgc_graph *update_graph(int interleave) {
    tgc_graph *g = tgc_graph_new("train");
    int lr = tgc_graph_input(g, "lr", TGC_F32, tgc_shape0());
    int p[4], gr[4];
    int64_t sizes[4] = {3, 17, 5, 8};
    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        p[i] = param(g, name, tgc_shape1(sizes[i]));
    }
    for (int i = 3; i >= 0; i--) { /* as a backward would: the last parameter's gradient first */
        gr[i] = tgc_emit1(g, TGC_OP_SCALE, NULL, "g", &err, 1, p[i]);
        g->vals[gr[i]].grad_of = p[i];
    }
    for (int i = 0; i < 4; i++) {
        tgc_attrs a = tgc_attrs_default();
        a.alpha = i == 1 ? 2.0 : 1.0;
        int in[3] = {p[i], gr[i], lr};
        OK(tgc_emit(g, TGC_OP_SGD_UPDATE, in, 3, &a, "u", NULL, &err));
        if (interleave && i == 1) tgc_emit1(g, TGC_OP_SCALE, NULL, "x", &err, 1, lr);
    }
    g->vals[gr[0]].is_output = 1; /* the verifier wants an output */
    return g;
}

START_TEST(optimizer_groups) {
    tgc_module m = module_with(update_graph(0), NULL);
    OK(tgc_pass_buckets(&m, &err));
    OK(tgc_pass_fuse_optimizer(&m, &err));
    OK(tgc_graph_verify(m.train, &err));
    tgc_graph *g = m.train;
    /* updates now in gradient-slot order: p3, p2, p1, p0; p1 (lr x2) splits p3,p2 from p0 */
    const char *want[4] = {"p3", "p2", "p1", "p0"};
    for (int i = 0; i < 4; i++) ck_assert_str_eq(g->vals[g->ops[4 + i].in[0]].name, want[i]);
    ck_assert_int_ge(g->ops[4].group, 0);
    ck_assert_int_eq(g->ops[5].group, g->ops[4].group);
    ck_assert_int_eq(g->ops[6].group, -1);
    ck_assert_int_eq(g->ops[7].group, -1);
    /* memplan follows: parameters at their gradients' offsets */
    OK(tgc_pass_memplan(&m, &err));
    for (int i = 4; i < 8; i++)
        ck_assert_uint_eq(g->vals[g->ops[i].in[0]].offset, g->vals[g->ops[i].in[1]].offset);
    tgc_module_free(&m);

    m = module_with(update_graph(1), NULL); /* an op among the updates: left alone */
    OK(tgc_pass_buckets(&m, &err));
    OK(tgc_pass_fuse_optimizer(&m, &err));
    for (int i = 0; i < m.train->n_ops; i++) ck_assert_int_eq(m.train->ops[i].group, -1);
    tgc_module_free(&m);
}
END_TEST

/* A group's arena tensors stay apart for the whole group: t1 dies inside the group, t3 is born after it
 * there; unfused they could share memory, grouped they must not (except in-place pairs). */
START_TEST(memplan_keeps_group_tensors_apart) {
    tgc_graph *g = tgc_graph_new("eval");
    int x = tgc_graph_input(g, "x", TGC_F32, tgc_shape1(1024));
    int t0 = tgc_emit1(g, TGC_OP_SCALE, NULL, "a", &err, 1, x);
    int t1 = tgc_emit1(g, TGC_OP_SCALE, NULL, "a", &err, 1, x);
    int t2 = tgc_emit1(g, TGC_OP_ADD, NULL, "a", &err, 2, t0, t1);   /* in place over t0; t1 dies */
    int t3 = tgc_emit1(g, TGC_OP_SCALE, NULL, "a", &err, 1, x);      /* may take t1's memory unfused */
    int t4 = tgc_emit1(g, TGC_OP_ADD, NULL, "a", &err, 2, t2, t3);
    g->vals[t4].is_output = 1;
    tgc_module m = module_with(NULL, g);
    m.train = tgc_graph_new("train"); /* memplan places eval state like train's: give it an empty one */
    OK(tgc_pass_memplan(&m, &err));
    ck_assert_uint_eq(g->vals[t3].offset, g->vals[t1].offset); /* unfused: reused */
    for (int i = 0; i < g->n_ops; i++) g->ops[i].group = 0;
    OK(tgc_pass_memplan(&m, &err));
    OK(tgc_pass_verify_plan(&m, &err));
    ck_assert_uint_ne(g->vals[t3].offset, g->vals[t1].offset);
    ck_assert_uint_eq(g->vals[t2].offset, g->vals[t0].offset); /* in place stays */
    int vs[4] = {t0, t1, t3, t4};
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++) {
            if ((vs[i] == t0 && vs[j] == t4) || (vs[i] == t4 && vs[j] == t0)) continue; /* t4 over t2 over t0 */
            ck_assert_uint_ne(g->vals[vs[i]].offset, g->vals[vs[j]].offset);
        }
    tgc_module_free(&m);
}
END_TEST

/* The pipeline table: the fusion passes are optional, named and in their place. */
START_TEST(pipeline_order) {
    const char *order[] = {"cse", "fold-bn", "fuse-bn-relu", "fuse-elementwise", "buckets", "fuse-optimizer", "memplan"};
    int at = -1;
    for (size_t k = 0; k < sizeof order / sizeof *order; k++) {
        const tgc_pass *p = tgc_pass_find(order[k]);
        ck_assert_ptr_nonnull(p);
        int idx = (int)(p - tgc_passes_table);
        ck_assert_int_gt(idx, at);
        at = idx;
    }
    ck_assert(tgc_pass_find("fold-bn")->optional && tgc_pass_find("fuse-optimizer")->optional &&
              tgc_pass_find("fuse-elementwise")->optional && tgc_pass_find("fuse-bn-relu")->optional);
}
END_TEST

int main(void) {
    Suite *s = suite_create("passes_fusion");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, elementwise_groups);
    tcase_add_test(tc, transcendentals_follow_target);
    tcase_add_test(tc, sinking);
    tcase_add_test(tc, bn_relu);
    tcase_add_test(tc, fold_bn);
    tcase_add_test(tc, optimizer_groups);
    tcase_add_test(tc, memplan_keeps_group_tensors_apart);
    tcase_add_test(tc, pipeline_order);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
