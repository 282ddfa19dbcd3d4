/* tests/unit/test_passes_schedule.c - the schedule pass on hand-built graphs: a greedy order that lowers
 * memplan's lower bound, and graphs it must leave in program order. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "passes/passes.h"

static tgc_err err;

#define OK(expr) ck_assert_msg((expr) >= 0, "%s failed: %s", #expr, err.msg)

static tgc_module module_with(tgc_graph *eval) {
    tgc_module m;
    memset(&m, 0, sizeof m);
    m.train = tgc_graph_new("train"); /* empty: the pipeline's passes need one */
    m.eval = eval;
    m.train_loss = m.eval_logits = -1;
    return m;
}

/* p = relu(x); q = relu(x); sp = matmul(p, v); sq = matmul(q, v); out = add(sp, sq).
 * Program order keeps p and q (16 KiB each) live together; running sp right after p lets p die first:
 * the peak goes from p+q+sp (32.25 KiB) to q+sp+sq (16.5 KiB). */
static tgc_graph *two_branches(int *ids) {
    tgc_graph *g = tgc_graph_new("eval");
    int x = tgc_graph_input(g, "x", TGC_F32, tgc_shape2(64, 64));
    int v = tgc_graph_input(g, "v", TGC_F32, tgc_shape2(64, 1));
    int p = tgc_emit1(g, TGC_OP_RELU, NULL, "p", &err, 1, x);
    int q = tgc_emit1(g, TGC_OP_RELU, NULL, "q", &err, 1, x);
    int sp = tgc_emit1(g, TGC_OP_MATMUL, NULL, "sp", &err, 2, p, v);
    int sq = tgc_emit1(g, TGC_OP_MATMUL, NULL, "sq", &err, 2, q, v);
    int out = tgc_emit1(g, TGC_OP_ADD, NULL, "out", &err, 2, sp, sq);
    ck_assert_int_ge(out, 0);
    g->vals[out].is_output = 1;
    ids[0] = p, ids[1] = q, ids[2] = sp, ids[3] = sq, ids[4] = out;
    return g;
}

START_TEST(greedy_lowers_the_bound) {
    int ids[5];
    tgc_module plain = module_with(two_branches(ids));
    OK(tgc_pass_memplan(&plain, &err));
    ck_assert_uint_eq(plain.eval->mem.lower_bound_bytes, 2 * 16384 + 256);

    tgc_module m = module_with(two_branches(ids));
    OK(tgc_pass_schedule(&m, &err));
    OK(tgc_graph_verify(m.eval, &err));
    const tgc_graph *g = m.eval;
    /* p, then sp (p dies), then q, sq, out */
    ck_assert_int_eq(g->vals[ids[0]].def_op, 0);
    ck_assert_int_eq(g->vals[ids[2]].def_op, 1);
    ck_assert_int_eq(g->vals[ids[1]].def_op, 2);
    ck_assert_int_eq(g->vals[ids[3]].def_op, 3);
    ck_assert_int_eq(g->vals[ids[4]].def_op, 4);
    for (int k = 0; k < g->n_ops; k++)
        for (int r = 0; r < g->ops[k].n_out; r++) ck_assert_int_eq(g->vals[g->ops[k].out[r]].def_op, k);
    OK(tgc_pass_memplan(&m, &err));
    ck_assert_uint_eq(g->mem.lower_bound_bytes, 16384 + 2 * 256);
    ck_assert_uint_lt(g->mem.lower_bound_bytes, plain.eval->mem.lower_bound_bytes);
    ck_assert_uint_le(g->mem.arena_bytes, plain.eval->mem.arena_bytes);
    tgc_module_free(&m);
    tgc_module_free(&plain);
}
END_TEST

/* A fusion group is one unit: with p and q in one group, sp cannot run between them, and nothing else
 * lowers the bound, so the program order stays. */
START_TEST(groups_stay_whole) {
    int ids[5];
    tgc_module m = module_with(two_branches(ids));
    m.eval->ops[0].group = m.eval->ops[1].group = 0;
    OK(tgc_pass_schedule(&m, &err));
    OK(tgc_graph_verify(m.eval, &err));
    for (int i = 0; i < 5; i++) ck_assert_int_eq(m.eval->vals[ids[i]].def_op, i);
    tgc_module_free(&m);
}
END_TEST

/* State updates keep their order and stay after the readers of what they update: sgd_update(w) comes
 * after the matmul reading w even though running it first would not cost memory. */
START_TEST(updates_stay_after_readers) {
    tgc_graph *g = tgc_graph_new("train");
    int x = tgc_graph_input(g, "x", TGC_F32, tgc_shape2(4, 8));
    int lr = tgc_graph_input(g, "lr", TGC_F32, tgc_shape0());
    int w = tgc_graph_state(g, TGC_VAL_PARAM, "w", TGC_F32, tgc_shape2(8, 8),
                            (tgc_init){TGC_INIT_CONST, 0.5, 0, 0, 0, NULL});
    int gw = tgc_emit1(g, TGC_OP_RELU, NULL, "g", &err, 1, x); /* stands in for a gradient */
    tgc_attrs sh = tgc_attrs_default();
    sh.shape = tgc_shape2(8, 4);
    int gr = tgc_emit1(g, TGC_OP_RESHAPE, &sh, "g", &err, 1, gw);
    int gm = tgc_emit1(g, TGC_OP_MATMUL, NULL, "g", &err, 2, gr, x); /* [8,8] */
    int y = tgc_emit1(g, TGC_OP_MATMUL, NULL, "y", &err, 2, x, w);
    ck_assert_int_ge(y, 0);
    g->vals[y].is_output = 1;
    int in[3] = {w, gm, lr};
    OK(tgc_emit(g, TGC_OP_SGD_UPDATE, in, 3, NULL, "opt", NULL, &err));
    tgc_module m = module_with(NULL);
    tgc_graph_free(m.train);
    m.train = g;
    OK(tgc_graph_verify(g, &err));
    OK(tgc_pass_schedule(&m, &err));
    OK(tgc_graph_verify(g, &err));
    ck_assert_int_eq(g->ops[g->n_ops - 1].code, TGC_OP_SGD_UPDATE);
    ck_assert_int_lt(g->vals[y].def_op, g->n_ops - 1);
    tgc_module_free(&m);
}
END_TEST

START_TEST(in_the_pipeline_before_memplan) {
    int s = -1, mp = -1, fo = -1;
    for (int i = 0; i < tgc_passes_table_len; i++) {
        if (strcmp(tgc_passes_table[i].name, "schedule") == 0) s = i;
        if (strcmp(tgc_passes_table[i].name, "memplan") == 0) mp = i;
        if (strcmp(tgc_passes_table[i].name, "fuse-optimizer") == 0) fo = i;
    }
    ck_assert_int_eq(s, mp - 1);
    ck_assert_int_eq(s, fo + 1);
    ck_assert(tgc_pass_find("schedule")->optional);
}
END_TEST

int main(void) {
    Suite *s = suite_create("passes_schedule");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, greedy_lowers_the_bound);
    tcase_add_test(tc, groups_stay_whole);
    tcase_add_test(tc, updates_stay_after_readers);
    tcase_add_test(tc, in_the_pipeline_before_memplan);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
