/* tests/unit/test_memplan_arena.c - memory planning and the placement checker on hand-built graphs. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "passes/passes.h"

static tgc_module one_graph(tgc_graph *g) {
    tgc_module m;
    memset(&m, 0, sizeof m);
    m.eval = g; /* no train graph: state is laid out by this graph itself */
    return m;
}

/* x[4,16] @ w[16,16] four times: every temp is 256 bytes and lives [def, next op]. */
static tgc_graph *chain(int *t) {
    tgc_err err;
    tgc_graph *g = tgc_graph_new("eval");
    int x = tgc_graph_input(g, "x", TGC_F32, tgc_shape2(4, 16));
    int w = tgc_graph_state(g, TGC_VAL_PARAM, "w", TGC_F32, tgc_shape2(16, 16), (tgc_init){0});
    int prev = x;
    for (int i = 0; i < 4; i++) {
        t[i] = tgc_emit1(g, TGC_OP_MATMUL, NULL, "chain", &err, 2, prev, w);
        ck_assert_msg(t[i] >= 0, "%s", err.msg);
        prev = t[i];
    }
    g->vals[t[3]].is_output = 1;
    return g;
}

START_TEST(chain_exact_offsets) {
    int t[4];
    tgc_graph *g = chain(t);
    tgc_module m = one_graph(g);
    tgc_err err;
    ck_assert_msg(tgc_pass_memplan(&m, &err) == 0, "%s", err.msg);
    /* a [0,1] at 0; b [1,2] beside it; c [2,3] reuses a's slot; d [3,4] reuses b's. */
    ck_assert_uint_eq(g->vals[t[0]].offset, 0);
    ck_assert_uint_eq(g->vals[t[1]].offset, 256);
    ck_assert_uint_eq(g->vals[t[2]].offset, 0);
    ck_assert_uint_eq(g->vals[t[3]].offset, 256);
    for (int i = 0; i < 4; i++) ck_assert_int_eq(g->vals[t[i]].slab, TGC_SLAB_ARENA);
    ck_assert_int_eq(g->vals[0].slab, TGC_SLAB_INPUT);
    ck_assert_int_eq(g->vals[1].slab, TGC_SLAB_PARAM);
    ck_assert_uint_eq(g->mem.arena_bytes, 512);
    ck_assert_uint_eq(g->mem.lower_bound_bytes, 512);
    ck_assert_uint_eq(g->mem.naive_bytes, 1024);
    ck_assert_msg(tgc_pass_verify_plan(&m, &err) == 0, "%s", err.msg);
    tgc_module_free(&m);
}
END_TEST

START_TEST(checker_catches_corrupted_offset) {
    int t[4];
    tgc_graph *g = chain(t);
    tgc_module m = one_graph(g);
    tgc_err err;
    ck_assert_msg(tgc_pass_memplan(&m, &err) == 0, "%s", err.msg);
    /* b moved half onto a while both are live at op 1. */
    g->vals[t[1]].offset = 128;
    ck_assert_int_eq(tgc_pass_verify_plan(&m, &err), -1);
    char a[16], b[16];
    snprintf(a, sizeof a, "%%%d ", t[0]);
    snprintf(b, sizeof b, "%%%d ", t[1]);
    ck_assert_msg(strstr(err.msg, a) && strstr(err.msg, b) && strstr(err.msg, "overlap"), "%s", err.msg);
    /* Outside the arena. */
    g->vals[t[1]].offset = 512;
    ck_assert_int_eq(tgc_pass_verify_plan(&m, &err), -1);
    ck_assert_msg(strstr(err.msg, "outside"), "%s", err.msg);
    /* Two values not live together may share: c onto b's slot is an overlap (both live at op 2)... */
    g->vals[t[1]].offset = 256;
    g->vals[t[2]].offset = 256;
    ck_assert_int_eq(tgc_pass_verify_plan(&m, &err), -1);
    /* ...but a and c (a dies at op 1, c is born at op 2) may. */
    g->vals[t[2]].offset = 0;
    ck_assert_msg(tgc_pass_verify_plan(&m, &err) == 0, "%s", err.msg);
    /* State overlapping state. */
    g->vals[0].slab = TGC_SLAB_PARAM;
    ck_assert_int_eq(tgc_pass_verify_plan(&m, &err), -1);
    ck_assert_msg(strstr(err.msg, "'x'") && strstr(err.msg, "'w'"), "%s", err.msg);
    g->vals[0].slab = TGC_SLAB_NONE;
    ck_assert_int_eq(tgc_pass_verify_plan(&m, &err), -1);
    ck_assert_msg(strstr(err.msg, "not placed"), "%s", err.msg);
    tgc_module_free(&m);
}
END_TEST

/* The overlap test is exact: tensors live together may touch but not share one byte, whether the
 * neighbour is below (a, when b is checked) or above (b, when c is checked). */
START_TEST(overlap_boundaries) {
    int t[4];
    tgc_graph *g = chain(t);
    tgc_module m = one_graph(g);
    tgc_err err;
    ck_assert_msg(tgc_pass_memplan(&m, &err) == 0, "%s", err.msg);
    char a[16], b[16], c[16];
    snprintf(a, sizeof a, "%%%d ", t[0]);
    snprintf(b, sizeof b, "%%%d ", t[1]);
    snprintf(c, sizeof c, "%%%d ", t[2]);
    /* a [0, 256) and b [256, 512) are live at op 1; c [0, 256) and b at op 2. */
    ck_assert_msg(tgc_pass_verify_plan(&m, &err) == 0, "%s", err.msg);
    g->vals[t[1]].offset = 255;
    ck_assert_int_eq(tgc_pass_verify_plan(&m, &err), -1);
    ck_assert_msg(strstr(err.msg, a) && strstr(err.msg, b) && strstr(err.msg, "overlap"), "%s", err.msg);
    g->vals[t[1]].offset = 256;
    g->vals[t[2]].offset = 1;
    ck_assert_int_eq(tgc_pass_verify_plan(&m, &err), -1);
    ck_assert_msg(strstr(err.msg, b) && strstr(err.msg, c) && strstr(err.msg, "overlap"), "%s", err.msg);
    g->vals[t[2]].offset = 0;
    ck_assert_msg(tgc_pass_verify_plan(&m, &err) == 0, "%s", err.msg);
    tgc_module_free(&m);
}
END_TEST

/* A program output is live to the end: c may reuse a's memory only while a is not an output. */
START_TEST(output_live_to_end) {
    int t[4];
    tgc_graph *g = chain(t);
    tgc_module m = one_graph(g);
    tgc_err err;
    ck_assert_msg(tgc_pass_memplan(&m, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(g->vals[t[2]].offset, g->vals[t[0]].offset);
    ck_assert_msg(tgc_pass_verify_plan(&m, &err) == 0, "%s", err.msg);
    g->vals[t[0]].is_output = 1;
    ck_assert_int_eq(tgc_pass_verify_plan(&m, &err), -1);
    char a[16], c[16];
    snprintf(a, sizeof a, "%%%d ", t[0]);
    snprintf(c, sizeof c, "%%%d ", t[2]);
    ck_assert_msg(strstr(err.msg, a) && strstr(err.msg, c) && strstr(err.msg, "overlap"), "%s", err.msg);
    tgc_module_free(&m);
}
END_TEST

/* conv -> relu: relu's result takes over the conv output, which dies there. */
START_TEST(inplace_relu_after_conv) {
    tgc_err err;
    tgc_graph *g = tgc_graph_new("eval");
    int x = tgc_graph_input(g, "x", TGC_F32, tgc_shape4(1, 3, 8, 8));
    int w = tgc_graph_state(g, TGC_VAL_PARAM, "conv.weight", TGC_F32, tgc_shape4(4, 3, 3, 3), (tgc_init){0});
    tgc_attrs a = tgc_attrs_default();
    a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = 1;
    int y = tgc_emit1(g, TGC_OP_CONV2D, &a, "conv", &err, 2, x, w);
    ck_assert_msg(y >= 0, "%s", err.msg);
    int r = tgc_emit1(g, TGC_OP_RELU, NULL, "relu", &err, 1, y);
    int s = tgc_emit1(g, TGC_OP_GLOBAL_AVG_POOL, NULL, "pool", &err, 1, r);
    ck_assert_int_ge(s, 0);
    g->vals[s].is_output = 1;
    tgc_module m = one_graph(g);
    ck_assert_msg(tgc_pass_memplan(&m, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(g->vals[r].offset, g->vals[y].offset);
    ck_assert_uint_eq(g->vals[s].offset, 1024); /* [1,4] lives with r */
    ck_assert_uint_eq(g->mem.arena_bytes, 1088);
    ck_assert_uint_eq(g->mem.naive_bytes, 1024 + 1024 + 16);
    ck_assert_uint_ge(g->mem.arena_bytes, g->mem.lower_bound_bytes);
    ck_assert_msg(tgc_pass_verify_plan(&m, &err) == 0, "%s", err.msg);
    tgc_module_free(&m);
}
END_TEST

/* No in-place when the operand is still needed later. */
START_TEST(no_inplace_when_operand_lives_on) {
    tgc_err err;
    tgc_graph *g = tgc_graph_new("eval");
    int x = tgc_graph_input(g, "x", TGC_F32, tgc_shape2(4, 16));
    int w = tgc_graph_state(g, TGC_VAL_PARAM, "w", TGC_F32, tgc_shape2(16, 16), (tgc_init){0});
    int y = tgc_emit1(g, TGC_OP_MATMUL, NULL, NULL, &err, 2, x, w);
    int r = tgc_emit1(g, TGC_OP_RELU, NULL, NULL, &err, 1, y);
    int z = tgc_emit1(g, TGC_OP_ADD, NULL, NULL, &err, 2, r, y);
    ck_assert_int_ge(z, 0);
    g->vals[z].is_output = 1;
    tgc_module m = one_graph(g);
    ck_assert_msg(tgc_pass_memplan(&m, &err) == 0, "%s", err.msg);
    ck_assert_uint_ne(g->vals[r].offset, g->vals[y].offset);
    /* z = add(r, y): r dies at the add, so z takes r's buffer. */
    ck_assert_uint_eq(g->vals[z].offset, g->vals[r].offset);
    ck_assert_uint_eq(g->mem.arena_bytes, 512);
    ck_assert_msg(tgc_pass_verify_plan(&m, &err) == 0, "%s", err.msg);
    /* Forcing r onto y (both live at the add) is caught even though relu is elementwise. */
    g->vals[r].offset = g->vals[y].offset;
    g->vals[z].offset = g->vals[y].offset;
    ck_assert_int_eq(tgc_pass_verify_plan(&m, &err), -1);
    tgc_module_free(&m);
}
END_TEST

/* A pseudo-random DAG: the plan must always verify and never beat the lower bound. */
START_TEST(random_graphs_verify) {
    unsigned seed = 12345;
    for (int trial = 0; trial < 40; trial++) {
        tgc_err err;
        tgc_graph *g = tgc_graph_new("eval");
        int vals[64], nv = 0;
        vals[nv++] = tgc_graph_input(g, "x", TGC_F32, tgc_shape2(4, 16));
        int w = tgc_graph_state(g, TGC_VAL_PARAM, "w", TGC_F32, tgc_shape2(16, 16), (tgc_init){0});
        for (int k = 0; k < 30; k++) {
            seed = seed * 1103515245u + 12345u;
            int a = vals[(seed >> 8) % (unsigned)nv];
            int b = vals[(seed >> 16) % (unsigned)nv];
            int op = (int)((seed >> 24) % 3u);
            int v = op == 0   ? tgc_emit1(g, TGC_OP_MATMUL, NULL, NULL, &err, 2, a, w)
                    : op == 1 ? tgc_emit1(g, TGC_OP_RELU, NULL, NULL, &err, 1, a)
                              : tgc_emit1(g, TGC_OP_ADD, NULL, NULL, &err, 2, a, b);
            ck_assert_msg(v >= 0, "%s", err.msg);
            if (nv < 64) vals[nv++] = v;
        }
        g->vals[vals[nv - 1]].is_output = 1;
        tgc_module m = one_graph(g);
        ck_assert_msg(tgc_pass_memplan(&m, &err) == 0, "%s", err.msg);
        ck_assert_msg(tgc_pass_verify_plan(&m, &err) == 0, "trial %d: %s", trial, err.msg);
        ck_assert_uint_ge(g->mem.arena_bytes, g->mem.lower_bound_bytes);
        ck_assert_uint_le(g->mem.arena_bytes, g->mem.naive_bytes + 64 * 31);
        tgc_module_free(&m);
    }
}
END_TEST

/* Eval state is placed where train put it; a state eval has but train lacks is an error. */
START_TEST(eval_state_follows_train) {
    tgc_err err;
    tgc_module m;
    memset(&m, 0, sizeof m);
    m.train = tgc_graph_new("train");
    m.eval = tgc_graph_new("eval");
    tgc_graph_state(m.train, TGC_VAL_PARAM, "a", TGC_F32, tgc_shape1(100), (tgc_init){0});
    tgc_graph_state(m.train, TGC_VAL_PARAM, "b", TGC_F32, tgc_shape1(10), (tgc_init){0});
    int eb = tgc_graph_state(m.eval, TGC_VAL_PARAM, "b", TGC_F32, tgc_shape1(10), (tgc_init){0});
    ck_assert_msg(tgc_pass_memplan(&m, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(m.eval->vals[eb].offset, 448); /* after a's 400 bytes, aligned to 64 */
    tgc_graph_state(m.eval, TGC_VAL_PARAM, "c", TGC_F32, tgc_shape1(10), (tgc_init){0});
    ck_assert_int_eq(tgc_pass_memplan(&m, &err), -1);
    ck_assert_msg(strstr(err.msg, "'c'"), "%s", err.msg);
    tgc_module_free(&m);
}
END_TEST

int main(void) {
    Suite *s = suite_create("memplan");
    TCase *tc = tcase_create("arena");
    tcase_add_test(tc, chain_exact_offsets);
    tcase_add_test(tc, checker_catches_corrupted_offset);
    tcase_add_test(tc, overlap_boundaries);
    tcase_add_test(tc, output_live_to_end);
    tcase_add_test(tc, inplace_relu_after_conv);
    tcase_add_test(tc, no_inplace_when_operand_lives_on);
    tcase_add_test(tc, random_graphs_verify);
    tcase_add_test(tc, eval_state_follows_train);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
