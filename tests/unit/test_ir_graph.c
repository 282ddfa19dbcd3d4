/* tests/unit/test_ir_graph.c - emit, text form, compaction, the verifier and costs. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "test_util.h"

static tgc_err err;

/* The text form of g as a heap string. */
static char *print_str(const tgc_graph *g) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    tgc_graph_print(g, f);
    fclose(f);
    return buf;
}

START_TEST(print_tiny) {
    tgc_graph *g = tgc_graph_new("eval");
    int x = tgc_graph_input(g, "x", TGC_F32, tgc_shape2(2, 4));
    int w = tgc_graph_state(g, TGC_VAL_PARAM, "fc.weight", TGC_F32, tgc_shape2(3, 4),
                            (tgc_init){TGC_INIT_NORMAL, 0, 0.5, 0, 0, NULL});
    int b = tgc_graph_state(g, TGC_VAL_PARAM, "fc.bias", TGC_F32, tgc_shape1(3), test_init_const(0));
    tgc_attrs t = tgc_attrs_default();
    t.trans_b = 1;
    int y = tgc_emit1(g, TGC_OP_MATMUL, &t, "head.fc", &err, 2, x, w);
    tgc_attrs ax = tgc_attrs_default();
    ax.axis = 1;
    int z = tgc_emit1(g, TGC_OP_BIAS_ADD, &ax, "head.fc", &err, 2, y, b);
    int r = tgc_emit1(g, TGC_OP_RELU, NULL, NULL, &err, 1, z);
    ck_assert_int_eq(r, 5);
    g->vals[r].is_output = 1;
    ck_assert_int_eq(tgc_graph_verify(g, &err), 0);
    char *s = print_str(g);
    ck_assert_str_eq(s, "graph @eval {\n"
                        "  %0 = input \"x\" : f32[2,4]\n"
                        "  %1 = param \"fc.weight\" : f32[3,4] init=normal(0, 0.5)\n"
                        "  %2 = param \"fc.bias\" : f32[3] init=const(0)\n"
                        "  %3 : f32[2,3] = matmul %0, %1 {trans_a=0, trans_b=1}  # head.fc\n"
                        "  %4 : f32[2,3] = bias_add %3, %2 {axis=1}  # head.fc\n"
                        "  %5 : f32[2,3] = relu %4\n"
                        "  output %5\n"
                        "}\n");
    free(s);
    tgc_graph_free(g);
}
END_TEST

START_TEST(print_state_grad_placement) {
    tgc_graph *g = tgc_graph_new("train");
    int x = tgc_graph_input(g, "x", TGC_F32, tgc_shape2(2, 3));
    int w = tgc_graph_state(g, TGC_VAL_PARAM, "w", TGC_F32, tgc_shape2(2, 3),
                            (tgc_init){TGC_INIT_UNIFORM, -1, 1, 0, 0, tgc_strdup("kaiming")});
    g->vals[w].lr_mult = 0.5;
    int lr = tgc_graph_input(g, "lr", TGC_F32, tgc_shape0());
    tgc_attrs a = tgc_attrs_default();
    a.alpha = 2;
    int s = tgc_emit1(g, TGC_OP_SCALE, &a, "s", &err, 1, x);
    g->vals[s].grad_of = w;
    g->vals[s].slab = TGC_SLAB_ARENA;
    g->vals[s].offset = 1024;
    g->vals[s].is_output = 1;
    tgc_attrs u = tgc_attrs_default();
    u.weight_decay = 1e-4;
    int in[3] = {w, s, lr};
    ck_assert_int_eq(tgc_emit(g, TGC_OP_SGD_UPDATE, in, 3, &u, "w", NULL, &err), 1);
    int mid = tgc_graph_state(g, TGC_VAL_OPTSTATE, "opt", TGC_F32, tgc_shape1(2),
                              (tgc_init){TGC_INIT_TRUNC_NORMAL, 0, 0.02, -2, 2, NULL});
    char *str = print_str(g);
    ck_assert_str_eq(str, "graph @train {\n"
                          "  %0 = input \"x\" : f32[2,3]\n"
                          "  %1 = param \"w\" : f32[2,3] init=uniform(-1, 1) lr_mult=0.5  # kaiming\n"
                          "  %2 = input \"lr\" : f32[]\n"
                          "  %4 = optstate \"opt\" : f32[2] init=trunc_normal(0, 0.02, -2, 2)\n"
                          "  %3 : f32[2,3] @arena+1024 = scale %0 {alpha=2}  # s; grad of w\n"
                          "  sgd_update %1, %3, %2 {alpha=1, weight_decay=0.0001}  # w\n"
                          "  output %3\n"
                          "}\n");
    free(str);
    ck_assert_int_eq(mid, 4);
    tgc_graph_free(g);
}
END_TEST

START_TEST(print_multi_result) {
    tgc_graph *g = tgc_graph_new("train");
    int x = tgc_graph_input(g, "x", TGC_F32, tgc_shape2(4, 2));
    int p[4];
    const char *names[] = {"bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"};
    for (int i = 0; i < 4; i++)
        p[i] = tgc_graph_state(g, i < 2 ? TGC_VAL_PARAM : TGC_VAL_BUFFER, names[i], TGC_F32, tgc_shape1(2),
                               test_init_const(i == 3));
    int in[5] = {x, p[0], p[1], p[2], p[3]}, out[3];
    ck_assert_int_eq(tgc_emit(g, TGC_OP_BN_TRAIN, in, 5, NULL, "bn", out, &err), 0);
    char *s = print_str(g);
    ck_assert_ptr_nonnull(strstr(s, "  %5 : f32[4,2], %6 : f32[2], %7 : f32[2] = batch_norm_train %0, %1, %2, "
                                    "%3, %4 {eps=1e-05, momentum=0.1}  # bn\n"));
    free(s);
    tgc_graph_free(g);
}
END_TEST

/* Named outputs (loss terms) keep the order they were named in, not their value order, through compaction;
 * a name already taken, a state value or a value named twice is refused. */
START_TEST(named_outputs) {
    tgc_graph *g = tgc_graph_new("train");
    int x = tgc_graph_input(g, "x", TGC_F32, tgc_shape0());
    int p = tgc_graph_state(g, TGC_VAL_PARAM, "p", TGC_F32, tgc_shape0(), test_init_const(0));
    int dead = tgc_emit1(g, TGC_OP_RELU, NULL, NULL, &err, 1, x);
    int a = tgc_emit1(g, TGC_OP_RELU, NULL, NULL, &err, 1, x);
    int b = tgc_emit1(g, TGC_OP_TANH, NULL, NULL, &err, 1, p);
    int sum = tgc_emit1(g, TGC_OP_ADD, NULL, NULL, &err, 2, a, b);
    g->vals[sum].is_output = 1;
    ck_assert_int_eq(tgc_graph_named_outputs(g, NULL, 0), 0);
    ck_assert_int_eq(tgc_graph_named_output(g, b, "loss_b", &err), 0);
    ck_assert_int_eq(tgc_graph_named_output(g, a, "loss_a", &err), 0);
    ck_assert_int_eq(tgc_graph_named_output(g, sum, "loss", &err), -1); /* already an output */
    ck_assert_int_eq(tgc_graph_named_output(g, dead, "x", &err), -1);   /* the input's name */
    ck_assert_ptr_nonnull(strstr(err.msg, "'x' is empty or already taken"));
    ck_assert_int_eq(tgc_graph_named_output(g, dead, "loss_a", &err), -1);
    ck_assert_int_eq(tgc_graph_named_output(g, p, "loss_p", &err), -1); /* not a temp */
    ck_assert_int_eq(g->vals[b].is_output, TGC_OUTPUT_NAMED);
    ck_assert_int_eq(g->vals[a].is_output, TGC_OUTPUT_NAMED + 1);
    tgc_op_kill(&g->ops[g->vals[dead].def_op]);
    int remap[8];
    tgc_graph_compact_remap(g, remap);
    ck_assert_int_eq(tgc_graph_verify(g, &err), 0);
    int named[4];
    ck_assert_int_eq(tgc_graph_named_outputs(g, named, 4), 2);
    ck_assert_int_eq(named[0], remap[b]);
    ck_assert_int_eq(named[1], remap[a]);
    ck_assert_int_eq(tgc_graph_named_outputs(g, named, 1), 2); /* the count, whatever the room */
    char *s = print_str(g);
    ck_assert_ptr_nonnull(strstr(s, "  output %4\n  output %3 \"loss_b\"\n  output %2 \"loss_a\"\n}\n"));
    free(s);
    tgc_graph_free(g);
}
END_TEST

START_TEST(compact_renumbers) {
    tgc_graph *g = tgc_graph_new("t");
    int x = tgc_graph_input(g, "x", TGC_F32, tgc_shape2(2, 3));
    int p = tgc_graph_state(g, TGC_VAL_PARAM, "p", TGC_F32, tgc_shape2(2, 3), test_init_const(0));
    int a = tgc_emit1(g, TGC_OP_RELU, NULL, "a", &err, 1, x);
    int b = tgc_emit1(g, TGC_OP_RELU, NULL, "b", &err, 1, a);
    int q = tgc_graph_state(g, TGC_VAL_PARAM, "q", TGC_F32, tgc_shape2(2, 3), test_init_const(0));
    int c = tgc_emit1(g, TGC_OP_TANH, NULL, "c", &err, 1, a);
    int d = tgc_emit1(g, TGC_OP_ADD, NULL, "d", &err, 2, c, q);
    ck_assert_int_eq(q, 4);
    g->vals[d].is_output = 1;
    g->vals[c].grad_of = q;
    ck_assert_int_eq(tgc_value_uses(g, a), 2);
    tgc_op_kill(&g->ops[g->vals[b].def_op]); /* dead */
    ck_assert_int_eq(tgc_value_uses(g, a), 1);
    int remap[16];
    int n_old = g->n_vals;
    tgc_graph_compact_remap(g, remap);
    ck_assert_int_eq(n_old, 7);
    ck_assert_int_eq(g->n_vals, 6);
    ck_assert_int_eq(g->n_ops, 3);
    ck_assert_int_eq(remap[x], 0);
    ck_assert_int_eq(remap[p], 1);
    ck_assert_int_eq(remap[q], 2); /* state before temps */
    ck_assert_int_eq(remap[a], 3);
    ck_assert_int_eq(remap[b], -1);
    ck_assert_int_eq(remap[c], 4);
    ck_assert_int_eq(remap[d], 5);
    ck_assert_str_eq(g->vals[2].name, "q");
    ck_assert_int_eq(g->ops[1].in[0], 3);
    ck_assert_int_eq(g->ops[1].out[0], 4);
    ck_assert_int_eq(g->ops[2].in[1], 2);
    ck_assert_int_eq(g->vals[4].def_op, 1);
    ck_assert_int_eq(g->vals[4].grad_of, 2);
    ck_assert_int_eq(g->vals[5].is_output, 1);
    for (int v = 0; v < g->n_vals; v++) ck_assert_int_eq(g->vals[v].id, v);
    g->vals[4].grad_of = -1;
    ck_assert_msg(tgc_graph_verify(g, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(tgc_graph_find(g, "q"), 2);
    tgc_graph_free(g);
}
END_TEST

/* x -> relu -> tanh (output), with a param and an lr input. */
typedef struct small {
    tgc_graph *g;
    int x, p, lr, a, b;
} small;

static small small_new(void) {
    small s;
    s.g = tgc_graph_new("t");
    s.x = tgc_graph_input(s.g, "x", TGC_F32, tgc_shape2(2, 3));
    s.p = tgc_graph_state(s.g, TGC_VAL_PARAM, "p", TGC_F32, tgc_shape2(2, 3), test_init_const(0));
    s.lr = tgc_graph_input(s.g, "lr", TGC_F32, tgc_shape0());
    s.a = tgc_emit1(s.g, TGC_OP_RELU, NULL, "a", &err, 1, s.x);
    s.b = tgc_emit1(s.g, TGC_OP_TANH, NULL, "b", &err, 1, s.a);
    s.g->vals[s.b].is_output = 1;
    return s;
}

static void assert_verify_fails(tgc_graph *g, const char *needle) {
    ck_assert_int_lt(tgc_graph_verify(g, &err), 0);
    ck_assert_msg(strstr(err.msg, needle) != NULL, "'%s' not in '%s'", needle, err.msg);
}

START_TEST(verify_rejects) {
    small s = small_new();
    ck_assert_msg(tgc_graph_verify(s.g, &err) == 0, "%s", err.msg);
    /* use before def: swap the two ops */
    tgc_op t = s.g->ops[0];
    s.g->ops[0] = s.g->ops[1];
    s.g->ops[1] = t;
    s.g->vals[s.a].def_op = 1;
    s.g->vals[s.b].def_op = 0;
    assert_verify_fails(s.g, "before it is defined");
    tgc_graph_free(s.g);

    s = small_new();
    s.g->vals[s.a].type.shape.d[1] = 99;
    assert_verify_fails(s.g, "stored as f32[2,99] but infers as f32[2,3]");
    tgc_graph_free(s.g);

    s = small_new();
    int in[3] = {s.a, s.x, s.lr};
    ck_assert_int_ge(tgc_emit(s.g, TGC_OP_SGD_UPDATE, in, 3, NULL, "u", NULL, &err), 0);
    assert_verify_fails(s.g, "updates operand 0");
    tgc_graph_free(s.g);

    s = small_new();
    int in2[3] = {s.p, s.x, s.lr};
    ck_assert_int_ge(tgc_emit(s.g, TGC_OP_SGD_UPDATE, in2, 3, NULL, "u", NULL, &err), 0);
    ck_assert_msg(tgc_graph_verify(s.g, &err) == 0, "%s", err.msg);
    ck_assert(tgc_op_has_side_effects(&s.g->ops[2]));
    ck_assert(!tgc_op_has_side_effects(&s.g->ops[0]));
    ck_assert_int_ge(tgc_emit1(s.g, TGC_OP_RELU, NULL, "late", &err, 1, s.p), 0);
    assert_verify_fails(s.g, "after op #2 updated it");
    tgc_graph_free(s.g);

    s = small_new();
    s.g->vals[s.b].is_output = 0;
    assert_verify_fails(s.g, "no value is marked as an output");
    tgc_graph_free(s.g);

    s = small_new();
    int c = tgc_emit1(s.g, TGC_OP_SCALE, NULL, "c", &err, 1, s.x);
    s.g->vals[s.b].grad_of = s.p;
    s.g->vals[c].grad_of = s.p;
    assert_verify_fails(s.g, "more than one gradient");
    s.g->vals[s.b].grad_of = s.x;
    assert_verify_fails(s.g, "not a param");
    tgc_graph_free(s.g);

    s = small_new();
    tgc_op_kill(&s.g->ops[1]);
    assert_verify_fails(s.g, "dead");
    tgc_graph_free(s.g);
}
END_TEST

START_TEST(cost_formulas) {
    tgc_graph *g = tgc_graph_new("t");
    int x = tgc_graph_input(g, "x", TGC_F32, tgc_shape4(32, 3, 224, 224));
    int w = tgc_graph_state(g, TGC_VAL_PARAM, "w", TGC_F32, tgc_shape4(64, 3, 7, 7), test_init_const(0));
    tgc_attrs a = tgc_attrs_default();
    a.stride[0] = a.stride[1] = 2;
    for (int i = 0; i < 4; i++) a.pad[i] = 3;
    int y = tgc_emit1(g, TGC_OP_CONV2D, &a, "stem", &err, 2, x, w);
    ck_assert_int_ge(y, 0);
    tgc_cost c = {0, 0, 0};
    tgc_op_table[TGC_OP_CONV2D].cost(g, &g->ops[0], &c);
    double macs = 32.0 * 64 * 112 * 112 * 3 * 7 * 7;
    ck_assert(c.macs == macs);
    ck_assert(c.flops == 2 * macs);
    ck_assert(c.bytes == 4.0 * (32.0 * 3 * 224 * 224 + 64 * 3 * 49 + 32.0 * 64 * 112 * 112));

    /* backward ops count the same MACs */
    tgc_attrs bd = a;
    bd.shape = g->vals[x].type.shape;
    int dx = tgc_emit1(g, TGC_OP_CONV2D_BWD_DATA, &bd, "stem", &err, 2, y, w);
    ck_assert_int_ge(dx, 0);
    bd.shape = g->vals[w].type.shape;
    int dw = tgc_emit1(g, TGC_OP_CONV2D_BWD_FILTER, &bd, "stem", &err, 2, x, y);
    ck_assert_int_ge(dw, 0);
    tgc_op_table[TGC_OP_CONV2D_BWD_DATA].cost(g, &g->ops[1], &c);
    ck_assert(c.macs == macs);
    tgc_op_table[TGC_OP_CONV2D_BWD_FILTER].cost(g, &g->ops[2], &c);
    ck_assert(c.macs == macs);

    /* grouped: C/groups */
    int x2 = tgc_graph_input(g, "x2", TGC_F32, tgc_shape4(1, 8, 10, 10));
    int w2 = tgc_graph_state(g, TGC_VAL_PARAM, "w2", TGC_F32, tgc_shape4(8, 2, 3, 3), test_init_const(0));
    tgc_attrs gr = tgc_attrs_default();
    gr.groups = 4;
    ck_assert_int_ge(tgc_emit1(g, TGC_OP_CONV2D, &gr, NULL, &err, 2, x2, w2), 0);
    tgc_op_table[TGC_OP_CONV2D].cost(g, &g->ops[3], &c);
    ck_assert(c.macs == 1.0 * 8 * 8 * 8 * 2 * 9);

    int m1 = tgc_graph_input(g, "m1", TGC_F32, tgc_shape2(5, 7));
    int m2 = tgc_graph_input(g, "m2", TGC_F32, tgc_shape2(3, 7));
    tgc_attrs t = tgc_attrs_default();
    t.trans_b = 1;
    ck_assert_int_ge(tgc_emit1(g, TGC_OP_MATMUL, &t, NULL, &err, 2, m1, m2), 0);
    tgc_op_table[TGC_OP_MATMUL].cost(g, &g->ops[4], &c);
    ck_assert(c.macs == 5 * 3 * 7 && c.flops == 2 * 5 * 3 * 7);
    ck_assert(c.bytes == 4.0 * (35 + 21 + 15));

    int r = tgc_emit1(g, TGC_OP_RELU, NULL, NULL, &err, 1, m1);
    ck_assert_int_ge(r, 0);
    tgc_op_table[TGC_OP_RELU].cost(g, &g->ops[5], &c);
    ck_assert(c.macs == 0 && c.flops == 35 && c.bytes == 4.0 * 70);

    tgc_cost total = tgc_graph_cost(g);
    ck_assert(total.macs == 3 * macs + 8 * 8 * 8 * 2 * 9 + 105);
    tgc_graph_free(g);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ir_graph");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, print_tiny);
    tcase_add_test(tc, print_state_grad_placement);
    tcase_add_test(tc, print_multi_result);
    tcase_add_test(tc, compact_renumbers);
    tcase_add_test(tc, named_outputs);
    tcase_add_test(tc, verify_rejects);
    tcase_add_test(tc, cost_formulas);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
