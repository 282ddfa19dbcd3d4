/* tests/unit/test_ir_shapes.c - shape inference of every forward op and the shape errors tgc_emit gives. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"

static tgc_graph *g;
static tgc_err err;

static void setup(void) {
    g = tgc_graph_new("t");
    memset(&err, 0, sizeof err);
}
static void teardown(void) { tgc_graph_free(g); }

static int in4(const char *name, int64_t a, int64_t b, int64_t c, int64_t d) {
    return tgc_graph_input(g, name, TGC_F32, tgc_shape4(a, b, c, d));
}

static int param(const char *name, tgc_shape s) {
    tgc_init init = {TGC_INIT_CONST, 0, 0, 0, 0, NULL};
    return tgc_graph_state(g, TGC_VAL_PARAM, name, TGC_F32, s, init);
}

static void assert_shape(int v, int rank, const int64_t *d) {
    ck_assert_int_ge(v, 0);
    const tgc_shape *s = &g->vals[v].type.shape;
    ck_assert_int_eq(s->rank, rank);
    for (int i = 0; i < rank; i++) ck_assert_int_eq(s->d[i], d[i]);
}
#define SHAPE(v, ...)                                                                                   \
    do {                                                                                               \
        int64_t d_[] = {__VA_ARGS__};                                                                  \
        assert_shape((v), (int)(sizeof d_ / sizeof d_[0]), d_);                                        \
    } while (0)

/* The emit fails and its message holds every needle. */
static void assert_fails(int rc, const char *n1, const char *n2, const char *n3) {
    ck_assert_int_lt(rc, 0);
    const char *n[] = {n1, n2, n3};
    for (int i = 0; i < 3; i++)
        if (n[i]) ck_assert_msg(strstr(err.msg, n[i]) != NULL, "'%s' not in '%s'", n[i], err.msg);
}

START_TEST(conv_shapes) {
    int x = in4("x", 32, 3, 224, 224), w = param("w", tgc_shape4(64, 3, 7, 7));
    tgc_attrs a = tgc_attrs_default();
    a.stride[0] = a.stride[1] = 2;
    for (int i = 0; i < 4; i++) a.pad[i] = 3;
    SHAPE(tgc_emit1(g, TGC_OP_CONV2D, &a, "stem", &err, 2, x, w), 32, 64, 112, 112);

    /* grouped, dilated, strided */
    int x2 = in4("x2", 1, 8, 17, 17), w2 = param("w2", tgc_shape4(16, 2, 3, 3));
    tgc_attrs b = tgc_attrs_default();
    b.groups = 4;
    b.dilation[0] = b.dilation[1] = 2;
    b.stride[0] = b.stride[1] = 2;
    SHAPE(tgc_emit1(g, TGC_OP_CONV2D, &b, NULL, &err, 2, x2, w2), 1, 16, 7, 7);
    /* asymmetric padding: top 0, left 1, bottom 2, right 3 */
    b.pad[0] = 0, b.pad[1] = 1, b.pad[2] = 2, b.pad[3] = 3;
    SHAPE(tgc_emit1(g, TGC_OP_CONV2D, &b, NULL, &err, 2, x2, w2), 1, 16, 8, 9);
    /* depthwise */
    int w3 = param("w3", tgc_shape4(8, 1, 3, 3));
    tgc_attrs c = tgc_attrs_default();
    c.groups = 8;
    SHAPE(tgc_emit1(g, TGC_OP_CONV2D, &c, NULL, &err, 2, x2, w3), 1, 8, 15, 15);
}
END_TEST

START_TEST(pool_shapes) {
    int x = in4("x", 2, 64, 112, 112);
    tgc_attrs a = tgc_attrs_default();
    a.kernel[0] = a.kernel[1] = 3;
    a.stride[0] = a.stride[1] = 2;
    for (int i = 0; i < 4; i++) a.pad[i] = 1;
    SHAPE(tgc_emit1(g, TGC_OP_MAX_POOL2D, &a, NULL, &err, 1, x), 2, 64, 56, 56);

    int y = in4("y", 1, 1, 6, 5);
    tgc_attrs p = tgc_attrs_default();
    p.kernel[0] = p.kernel[1] = 3;
    p.stride[0] = p.stride[1] = 2;
    SHAPE(tgc_emit1(g, TGC_OP_AVG_POOL2D, &p, NULL, &err, 1, y), 1, 1, 2, 2);
    p.ceil_mode = 1; /* 6 -> ceil(3/2)+1 = 3; 5 -> ceil(2/2)+1 = 2 */
    SHAPE(tgc_emit1(g, TGC_OP_AVG_POOL2D, &p, NULL, &err, 1, y), 1, 1, 3, 2);

    /* ceil_mode whose last window would start in the right padding is dropped (PyTorch): 5, k2 s2 p1 */
    int z = in4("z", 1, 1, 5, 5);
    tgc_attrs q = tgc_attrs_default();
    q.kernel[0] = q.kernel[1] = 2;
    q.stride[0] = q.stride[1] = 2;
    for (int i = 0; i < 4; i++) q.pad[i] = 1;
    q.ceil_mode = 1;
    SHAPE(tgc_emit1(g, TGC_OP_MAX_POOL2D, &q, NULL, &err, 1, z), 1, 1, 3, 3);
    q.ceil_mode = 0;
    SHAPE(tgc_emit1(g, TGC_OP_MAX_POOL2D, &q, NULL, &err, 1, z), 1, 1, 3, 3);
    /* 4, k2 s2 p1 ceil: ceil(3/2)+1 = 3, (3-1)*2 = 4 < 4+1 -> kept */
    int u = in4("u", 1, 1, 4, 4);
    q.ceil_mode = 1;
    SHAPE(tgc_emit1(g, TGC_OP_MAX_POOL2D, &q, NULL, &err, 1, u), 1, 1, 3, 3);

    SHAPE(tgc_emit1(g, TGC_OP_GLOBAL_AVG_POOL, NULL, NULL, &err, 1, x), 2, 64);
}
END_TEST

START_TEST(other_forward_shapes) {
    int x = in4("x", 4, 8, 5, 5);
    int b = param("b", tgc_shape1(8));
    tgc_attrs ax = tgc_attrs_default();
    ax.axis = 1;
    SHAPE(tgc_emit1(g, TGC_OP_BIAS_ADD, &ax, NULL, &err, 2, x, b), 4, 8, 5, 5);

    int gm = param("g", tgc_shape1(8)), bt = param("bt", tgc_shape1(8));
    int rm = tgc_graph_state(g, TGC_VAL_BUFFER, "rm", TGC_F32, tgc_shape1(8), (tgc_init){0});
    int rv = tgc_graph_state(g, TGC_VAL_BUFFER, "rv", TGC_F32, tgc_shape1(8), (tgc_init){0});
    int in[5] = {x, gm, bt, rm, rv}, out[3];
    ck_assert_int_ge(tgc_emit(g, TGC_OP_BN_TRAIN, in, 5, NULL, "bn", out, &err), 0);
    SHAPE(out[0], 4, 8, 5, 5);
    SHAPE(out[1], 8);
    SHAPE(out[2], 8);
    ck_assert_int_ge(tgc_emit(g, TGC_OP_BN_EVAL, in, 5, NULL, "bn", out, &err), 0);
    SHAPE(out[0], 4, 8, 5, 5);

    SHAPE(tgc_emit1(g, TGC_OP_RELU, NULL, NULL, &err, 1, x), 4, 8, 5, 5);
    SHAPE(tgc_emit1(g, TGC_OP_TANH, NULL, NULL, &err, 1, x), 4, 8, 5, 5);
    int sg = tgc_emit1(g, TGC_OP_SIGMOID, NULL, NULL, &err, 1, x);
    SHAPE(sg, 4, 8, 5, 5);
    SHAPE(tgc_emit1(g, TGC_OP_SIGMOID_BWD, NULL, NULL, &err, 2, x, sg), 4, 8, 5, 5);
    SHAPE(tgc_emit1(g, TGC_OP_ADD, NULL, NULL, &err, 2, x, x), 4, 8, 5, 5);
    SHAPE(tgc_emit1(g, TGC_OP_SCALE, NULL, NULL, &err, 1, x), 4, 8, 5, 5);

    tgc_attrs r = tgc_attrs_default();
    r.shape = tgc_shape2(4, 200);
    int flat = tgc_emit1(g, TGC_OP_RESHAPE, &r, NULL, &err, 1, x);
    SHAPE(flat, 4, 200);

    int w = param("w", tgc_shape2(10, 200));
    tgc_attrs mm = tgc_attrs_default();
    mm.trans_b = 1;
    int logits = tgc_emit1(g, TGC_OP_MATMUL, &mm, NULL, &err, 2, flat, w);
    SHAPE(logits, 4, 10);
    int wt = param("wt", tgc_shape2(200, 10));
    SHAPE(tgc_emit1(g, TGC_OP_MATMUL, NULL, NULL, &err, 2, flat, wt), 4, 10);
    mm.trans_a = 1;
    mm.trans_b = 0;
    SHAPE(tgc_emit1(g, TGC_OP_MATMUL, &mm, NULL, &err, 2, wt, wt), 10, 10);
    mm.trans_b = 1;
    SHAPE(tgc_emit1(g, TGC_OP_MATMUL, &mm, NULL, &err, 2, wt, w), 10, 10);

    int labels = tgc_graph_input(g, "labels", TGC_I32, tgc_shape1(4));
    int loss = tgc_emit1(g, TGC_OP_SOFTMAX_CE, NULL, "loss", &err, 2, logits, labels);
    ck_assert_int_ge(loss, 0);
    ck_assert_int_eq(g->vals[loss].type.shape.rank, 0);

    tgc_attrs c = tgc_attrs_default();
    c.dtype = TGC_F16;
    int h = tgc_emit1(g, TGC_OP_CAST, &c, NULL, &err, 1, logits);
    ck_assert_int_eq(g->vals[h].type.dtype, TGC_F16);
    SHAPE(h, 4, 10);

    tgc_attrs f = tgc_attrs_default();
    f.shape = tgc_shape0();
    int seed = tgc_emit1(g, TGC_OP_FILL, &f, NULL, &err, 0);
    ck_assert_int_ge(seed, 0);
    ck_assert_int_eq(g->vals[seed].type.shape.rank, 0);
    ck_assert_int_eq(g->vals[seed].type.dtype, TGC_F32);
}
END_TEST

START_TEST(conv_errors) {
    int x = in4("x", 2, 3, 32, 32);
    int w = param("w", tgc_shape4(8, 4, 3, 3));
    assert_fails(tgc_emit1(g, TGC_OP_CONV2D, NULL, "backbone.conv1", &err, 2, x, w), "conv2d",
                 "backbone.conv1", "f32[2,3,32,32], f32[8,4,3,3]");
    ck_assert_ptr_nonnull(strstr(err.msg, "channels"));

    int w2 = param("w2", tgc_shape4(6, 1, 3, 3));
    tgc_attrs a = tgc_attrs_default();
    a.groups = 3;
    int x2 = in4("x2", 2, 3, 8, 8);
    ck_assert_int_ge(tgc_emit1(g, TGC_OP_CONV2D, &a, NULL, &err, 2, x2, w2), 0);
    a.groups = 4; /* C 3 != 1*4 */
    assert_fails(tgc_emit1(g, TGC_OP_CONV2D, &a, NULL, &err, 2, x2, w2), "conv2d", "channels", NULL);
    int w3 = param("w3", tgc_shape4(7, 1, 3, 3));
    a.groups = 3;
    assert_fails(tgc_emit1(g, TGC_OP_CONV2D, &a, "s", &err, 2, x2, w3), "divisible", "groups=3", "f32[7,1,3,3]");

    int big = param("big", tgc_shape4(8, 3, 40, 40));
    assert_fails(tgc_emit1(g, TGC_OP_CONV2D, NULL, "s", &err, 2, x, big), "not positive", "f32[8,3,40,40]", NULL);

    int flat = tgc_graph_input(g, "flat", TGC_F32, tgc_shape2(2, 3));
    assert_fails(tgc_emit1(g, TGC_OP_CONV2D, NULL, "s", &err, 2, flat, w), "4-D", "f32[2,3]", NULL);

    int xi = tgc_graph_input(g, "xi", TGC_I32, tgc_shape4(2, 3, 32, 32));
    int wok = param("wok", tgc_shape4(8, 3, 3, 3));
    assert_fails(tgc_emit1(g, TGC_OP_CONV2D, NULL, "s", &err, 2, xi, wok), "conv2d", "must be f32", "i32[2,3,32,32]");

    tgc_attrs s0 = tgc_attrs_default();
    s0.stride[1] = 0;
    assert_fails(tgc_emit1(g, TGC_OP_CONV2D, &s0, "s", &err, 2, x, wok), "stride", NULL, NULL);

    /* arity and unknown operands */
    int one[1] = {x};
    assert_fails(tgc_emit(g, TGC_OP_CONV2D, one, 1, NULL, "s", NULL, &err), "conv2d", "2 operands", NULL);
    int bad[2] = {x, 999};
    assert_fails(tgc_emit(g, TGC_OP_CONV2D, bad, 2, NULL, "s", NULL, &err), "%999", NULL, NULL);
}
END_TEST

START_TEST(other_errors) {
    int x = in4("x", 4, 8, 5, 5);
    int b7 = param("b7", tgc_shape1(7));
    tgc_attrs ax = tgc_attrs_default();
    ax.axis = 1;
    assert_fails(tgc_emit1(g, TGC_OP_BIAS_ADD, &ax, "head", &err, 2, x, b7), "bias_add", "f32[8]", "f32[7]");
    ax.axis = 4;
    int b8 = param("b8", tgc_shape1(8));
    assert_fails(tgc_emit1(g, TGC_OP_BIAS_ADD, &ax, "head", &err, 2, x, b8), "axis=4", NULL, NULL);

    int in[5] = {x, b8, b7, b8, b8};
    assert_fails(tgc_emit(g, TGC_OP_BN_TRAIN, in, 5, NULL, "bn1", NULL, &err), "batch_norm_train", "bn1",
                 "beta must be f32[8]");

    int a = tgc_graph_input(g, "a", TGC_F32, tgc_shape2(4, 5));
    int m = tgc_graph_input(g, "m", TGC_F32, tgc_shape2(6, 3));
    assert_fails(tgc_emit1(g, TGC_OP_MATMUL, NULL, "fc", &err, 2, a, m), "matmul", "f32[4,5], f32[6,3]",
                 "inner dimensions");
    tgc_attrs t = tgc_attrs_default();
    t.trans_b = 1;
    int m2 = tgc_graph_input(g, "m2", TGC_F32, tgc_shape2(3, 6));
    assert_fails(tgc_emit1(g, TGC_OP_MATMUL, &t, "fc", &err, 2, a, m2), "trans_b=1", NULL, NULL);

    int logits = tgc_graph_input(g, "logits", TGC_F32, tgc_shape2(4, 10));
    int lf = tgc_graph_input(g, "lf", TGC_F32, tgc_shape1(4));
    assert_fails(tgc_emit1(g, TGC_OP_SOFTMAX_CE, NULL, "loss", &err, 2, logits, lf), "softmax_cross_entropy",
                 "labels must be i32", "f32[4]");
    int l3 = tgc_graph_input(g, "l3", TGC_I32, tgc_shape1(3));
    assert_fails(tgc_emit1(g, TGC_OP_SOFTMAX_CE, NULL, "loss", &err, 2, logits, l3), "3 entries", "4 rows", NULL);

    tgc_attrs r = tgc_attrs_default();
    r.shape = tgc_shape2(4, 199);
    assert_fails(tgc_emit1(g, TGC_OP_RESHAPE, &r, "flatten", &err, 1, x), "reshape", "800 elements",
                 "796 elements");

    assert_fails(tgc_emit1(g, TGC_OP_ADD, NULL, "res", &err, 2, x, a), "add", "f32[4,8,5,5]", "f32[4,5]");
    assert_fails(tgc_emit1(g, TGC_OP_SIGMOID_BWD, NULL, "act", &err, 2, x, a), "sigmoid_bwd", "f32[4,8,5,5]",
                 "f32[4,5]");

    tgc_attrs p = tgc_attrs_default();
    p.kernel[0] = p.kernel[1] = 2;
    p.pad[0] = 2;
    assert_fails(tgc_emit1(g, TGC_OP_MAX_POOL2D, &p, "pool", &err, 1, x), "max_pool2d", "half the kernel", NULL);
    p.pad[0] = 0;
    p.kernel[0] = p.kernel[1] = 9;
    assert_fails(tgc_emit1(g, TGC_OP_AVG_POOL2D, &p, "pool", &err, 1, x), "avg_pool2d", "not positive", NULL);
    assert_fails(tgc_emit1(g, TGC_OP_GLOBAL_AVG_POOL, NULL, "gap", &err, 1, a), "global_avg_pool", "4-D", NULL);

    tgc_attrs f = tgc_attrs_default();
    f.shape = tgc_shape2(0, 3);
    assert_fails(tgc_emit1(g, TGC_OP_FILL, &f, "seed", &err, 0), "fill", "non-positive", NULL);

    /* absurd sizes are refused before any arithmetic could overflow */
    int huge = tgc_graph_input(g, "huge", TGC_F32, tgc_shape2((int64_t)1 << 41, 2));
    assert_fails(tgc_emit1(g, TGC_OP_RELU, NULL, "act", &err, 1, huge), "relu", "huge", NULL);
    int wide = tgc_graph_input(g, "wide", TGC_F32, tgc_shape2((int64_t)1 << 27, 1 << 20));
    assert_fails(tgc_emit1(g, TGC_OP_MATMUL, &t, "fc", &err, 2, wide, wide), "matmul", "larger than any", NULL);

    /* updates: lr must be a scalar */
    int pw = param("pw", tgc_shape2(4, 5));
    int upd[3] = {pw, a, a};
    assert_fails(tgc_emit(g, TGC_OP_SGD_UPDATE, upd, 3, NULL, "pw", NULL, &err), "sgd_update",
                 "lr must be an f32 scalar", "f32[4,5]");
    /* emit1 is for single-result ops only */
    assert_fails(tgc_emit1(g, TGC_OP_SGD_UPDATE, NULL, "pw", &err, 3, pw, a, a), "0 results", NULL, NULL);
}
END_TEST

START_TEST(names_and_defaults) {
    ck_assert_str_eq(tgc_dtype_name(TGC_BF16), "bf16");
    ck_assert_uint_eq(tgc_dtype_size(TGC_I64), 8);
    ck_assert_str_eq(tgc_val_kind_name(TGC_VAL_OPTSTATE), "optstate");
    ck_assert_str_eq(tgc_slab_name(TGC_SLAB_GRAD), "grad");
    ck_assert_int_eq(tgc_op_by_name("conv2d_bwd_filter"), TGC_OP_CONV2D_BWD_FILTER);
    ck_assert_int_eq(tgc_op_by_name("nope"), -1);
    char buf[64];
    tgc_shape s = tgc_shape4(32, 3, 224, 224);
    tgc_shape_str(&s, buf, sizeof buf);
    ck_assert_str_eq(buf, "[32,3,224,224]");
    tgc_shape z = tgc_shape0();
    tgc_shape_str(&z, buf, sizeof buf);
    ck_assert_str_eq(buf, "[]");
    ck_assert_int_eq(tgc_shape_numel(&s), 32 * 3 * 224 * 224);
    tgc_attrs a = tgc_attrs_default();
    ck_assert_int_eq(a.groups, 1);
    ck_assert(a.eps == 1e-5 && a.momentum == 0.1 && a.alpha == 1 && a.beta2 == 0.999);
    ck_assert_int_eq(a.count_include_pad, 1);
    for (int i = 0; i < TGC_OP_COUNT; i++) {
        ck_assert_ptr_nonnull(tgc_op_table[i].name);
        ck_assert_ptr_nonnull(tgc_op_table[i].infer);
        ck_assert_ptr_nonnull(tgc_op_table[i].cost);
    }
    ck_assert_ptr_null(tgc_op_table[TGC_OP_FILL].grad);
    ck_assert_ptr_nonnull(tgc_op_table[TGC_OP_MATMUL].grad);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ir_shapes");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, conv_shapes);
    tcase_add_test(tc, pool_shapes);
    tcase_add_test(tc, other_forward_shapes);
    tcase_add_test(tc, conv_errors);
    tcase_add_test(tc, other_errors);
    tcase_add_test(tc, names_and_defaults);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
