/* tests/unit/test_ir_dtype_rules.c - dtype as a dimension of the op table: each op's rule
 * (tgc_op_dtype_rule) and the shape rules that follow it: conv/matmul take one float dtype and give it,
 * batch norm takes bf16 data with f32 parameters and gives f32 statistics, bias_grad reduces bf16 to an f32
 * gradient, the loss and the optimizer updates stay f32, and mixing dtypes is an error naming both. */
#include "test_util.h"

static tgc_graph *g;
static tgc_err err;

static void setup(void) { g = tgc_graph_new("t"); }
static void teardown(void) { tgc_graph_free(g); }

static int val(const char *name, tgc_dtype dt, tgc_shape s) { return tgc_graph_input(g, name, dt, s); }

static void has_type(int v, tgc_dtype dt) {
    ck_assert_msg(v >= 0, "emit failed: %s", err.msg);
    ck_assert_str_eq(tgc_dtype_name(g->vals[v].type.dtype), tgc_dtype_name(dt));
}

START_TEST(rules_of_the_table) {
    ck_assert_int_eq(tgc_op_dtype_rule(TGC_OP_CONV2D), TGC_DTR_COMPUTE);
    ck_assert_int_eq(tgc_op_dtype_rule(TGC_OP_MATMUL), TGC_DTR_COMPUTE);
    ck_assert_int_eq(tgc_op_dtype_rule(TGC_OP_BN_TRAIN), TGC_DTR_STATS);
    ck_assert_int_eq(tgc_op_dtype_rule(TGC_OP_RELU), TGC_DTR_FOLLOW);
    ck_assert_int_eq(tgc_op_dtype_rule(TGC_OP_BIAS_GRAD), TGC_DTR_ACC);
    ck_assert_int_eq(tgc_op_dtype_rule(TGC_OP_CAST), TGC_DTR_ANY);
    ck_assert_int_eq(tgc_op_dtype_rule(TGC_OP_SOFTMAX_CE), TGC_DTR_F32);
    ck_assert_int_eq(tgc_op_dtype_rule(TGC_OP_SGD_MOMENTUM_UPDATE), TGC_DTR_F32);
    ck_assert_int_eq(tgc_op_dtype_rule(TGC_OP_COUNT), TGC_DTR_F32); /* out of range: the safe default */
}
END_TEST

START_TEST(low_precision_shape_rules) {
    tgc_attrs a = tgc_attrs_default();
    int x = val("x", TGC_BF16, tgc_shape4(2, 3, 8, 8)), w = val("w", TGC_BF16, tgc_shape4(4, 3, 3, 3));
    int y = tgc_emit1(g, TGC_OP_CONV2D, &a, NULL, &err, 2, x, w);
    has_type(y, TGC_BF16);
    int c1 = val("gamma", TGC_F32, tgc_shape1(4)), c2 = val("beta", TGC_F32, tgc_shape1(4));
    int c3 = val("rm", TGC_F32, tgc_shape1(4)), c4 = val("rv", TGC_F32, tgc_shape1(4));
    int in[5] = {y, c1, c2, c3, c4}, out[3];
    tgc_attrs bn = tgc_attrs_default();
    bn.eps = 1e-5, bn.momentum = 0.1;
    ck_assert_msg(tgc_emit(g, TGC_OP_BN_TRAIN, in, 5, &bn, NULL, out, &err) >= 0, "%s", err.msg);
    has_type(out[0], TGC_BF16);
    has_type(out[1], TGC_F32);
    has_type(out[2], TGC_F32);
    has_type(tgc_emit1(g, TGC_OP_RELU, NULL, NULL, &err, 1, out[0]), TGC_BF16);
    has_type(tgc_emit1(g, TGC_OP_GLOBAL_AVG_POOL, NULL, NULL, &err, 1, out[0]), TGC_BF16);
    tgc_attrs ax = tgc_attrs_default();
    ax.axis = 1;
    has_type(tgc_emit1(g, TGC_OP_BIAS_GRAD, &ax, NULL, &err, 1, y), TGC_F32);
    int m = val("m", TGC_F16, tgc_shape2(2, 5)), k = val("k", TGC_F16, tgc_shape2(5, 7));
    has_type(tgc_emit1(g, TGC_OP_MATMUL, NULL, NULL, &err, 2, m, k), TGC_F16);
}
END_TEST

static void fails(int v, const char *needle) {
    ck_assert_int_lt(v, 0);
    ck_assert_msg(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
}

START_TEST(mixed_or_wrong_dtypes_are_refused) {
    tgc_attrs a = tgc_attrs_default();
    int x = val("x", TGC_BF16, tgc_shape4(2, 3, 8, 8)), w = val("w", TGC_F32, tgc_shape4(4, 3, 3, 3));
    fails(tgc_emit1(g, TGC_OP_CONV2D, &a, NULL, &err, 2, x, w), "input bf16[2,3,8,8] and weight f32[4,3,3,3] must have the same dtype");
    int l = val("logits", TGC_BF16, tgc_shape2(2, 10)), y = val("labels", TGC_I32, tgc_shape1(2));
    fails(tgc_emit1(g, TGC_OP_SOFTMAX_CE, NULL, NULL, &err, 2, l, y), "logits must be f32");
    int i = val("i", TGC_I32, tgc_shape2(2, 2));
    fails(tgc_emit1(g, TGC_OP_RELU, NULL, NULL, &err, 1, i), "input must be f32, bf16 or f16");
    int b1 = val("b1", TGC_BF16, tgc_shape2(2, 10)), f1 = val("f1", TGC_F32, tgc_shape2(2, 10));
    fails(tgc_emit1(g, TGC_OP_ADD, NULL, NULL, &err, 2, b1, f1), "must have the same type");
}
END_TEST

int main(void) {
    Suite *s = suite_create("ir_dtype_rules");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, rules_of_the_table);
    tcase_add_test(tc, low_precision_shape_rules);
    tcase_add_test(tc, mixed_or_wrong_dtypes_are_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
