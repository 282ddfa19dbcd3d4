/* tests/unit/test_memplan_buckets.c - gradient buckets: DDP grouping with tiny caps, GRAD slab layout. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "passes/passes.h"

/* Params of 10, 20, 5 and 30 floats; gradients produced in reverse order (g3 first), each by a scale op. */
static tgc_module grads_module(double first_mb, double cap_mb, int *gr) {
    tgc_err err;
    tgc_module m;
    memset(&m, 0, sizeof m);
    m.train = tgc_graph_new("train");
    m.eval = tgc_graph_new("eval");
    const int64_t sizes[4] = {10, 20, 5, 30};
    int p[4];
    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        p[i] = tgc_graph_state(m.train, TGC_VAL_PARAM, name, TGC_F32, tgc_shape1(sizes[i]), (tgc_init){0});
        tgc_graph_state(m.eval, TGC_VAL_PARAM, name, TGC_F32, tgc_shape1(sizes[i]), (tgc_init){0});
    }
    for (int i = 3; i >= 0; i--) {
        gr[i] = tgc_emit1(m.train, TGC_OP_SCALE, NULL, "grad", &err, 1, p[i]);
        ck_assert_msg(gr[i] >= 0, "%s", err.msg);
        m.train->vals[gr[i]].grad_of = p[i];
    }
    m.first_bucket_mb = first_mb;
    m.bucket_cap_mb = cap_mb;
    return m;
}

static void expect_bucket(const tgc_graph *g, int b, int n, const int *vals, uint64_t off, uint64_t bytes) {
    ck_assert_int_lt(b, g->n_buckets);
    const tgc_bucket *bk = &g->buckets[b];
    ck_assert_int_eq(bk->n_vals, n);
    for (int i = 0; i < n; i++) ck_assert_int_eq(bk->vals[i], vals[i]);
    ck_assert_uint_eq(bk->offset, off);
    ck_assert_uint_eq(bk->bytes, bytes);
    ck_assert_int_eq(bk->ready_op, g->vals[vals[n - 1]].def_op);
}

START_TEST(tiny_caps) {
    int g[4];
    /* 0.0001 MiB = 104 bytes. Production order: g3 (120 B), g2 (20), g1 (80), g0 (40). */
    tgc_module m = grads_module(0.0001, 0.0001, g);
    tgc_err err;
    ck_assert_msg(tgc_pass_buckets(&m, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(m.train->n_buckets, 2);
    ck_assert_int_eq(m.eval->n_buckets, 0);
    /* DDP's rule: append, close once the size reaches the cap. g3 alone reaches it; g2+g1 = 100 does not,
     * so g0 joins (140). Slots round to 64. */
    expect_bucket(m.train, 0, 1, (int[]){g[3]}, 0, 128);
    expect_bucket(m.train, 1, 3, (int[]){g[2], g[1], g[0]}, 128, 256);
    ck_assert_uint_eq(m.train->vals[g[1]].offset, 192);
    ck_assert_int_eq(m.train->vals[g[1]].slab, TGC_SLAB_GRAD);
    ck_assert_msg(tgc_pass_memplan(&m, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(m.train->vals[g[1]].offset, 192); /* memplan keeps the buckets' layout */
    ck_assert_msg(tgc_pass_verify_plan(&m, &err) == 0, "%s", err.msg);
    /* The checker notices a bucket out of place and a gradient out of its bucket. */
    m.train->buckets[1].offset = 64;
    ck_assert_int_eq(tgc_pass_verify_plan(&m, &err), -1);
    ck_assert_msg(strstr(err.msg, "bucket 1"), "%s", err.msg);
    m.train->buckets[1].offset = 128;
    m.train->vals[g[0]].offset = 64;
    ck_assert_int_eq(tgc_pass_verify_plan(&m, &err), -1);
    ck_assert_msg(strstr(err.msg, "overlap in the grad slab"), "%s", err.msg); /* over g3 */
    m.train->vals[g[0]].offset = 384; /* just past bucket 1 [128, 384) */
    ck_assert_int_eq(tgc_pass_verify_plan(&m, &err), -1);
    ck_assert_msg(strstr(err.msg, "not inside bucket 1"), "%s", err.msg);
    m.train->vals[g[0]].offset = 320;
    ck_assert_msg(tgc_pass_verify_plan(&m, &err) == 0, "%s", err.msg);
    /* ...and a bucket marked ready before its last gradient exists (a DDP race), or after. */
    int ready = m.train->buckets[1].ready_op;
    ck_assert_int_eq(ready, m.train->vals[g[0]].def_op);
    for (int r = m.train->vals[g[2]].def_op; r <= ready + 1; r++) {
        m.train->buckets[1].ready_op = r;
        ck_assert_int_eq(tgc_pass_verify_plan(&m, &err), r == ready ? 0 : -1);
        if (r != ready) ck_assert_msg(strstr(err.msg, "bucket 1 is ready after op"), "%s", err.msg);
    }
    tgc_module_free(&m);
}
END_TEST

START_TEST(first_bucket_cap_differs) {
    int g[4];
    /* First cap 0.0002 MiB = 209 B: g3+g2 = 140 < 209, +g1 = 220 reaches it and closes. Then g0 alone. */
    tgc_module m = grads_module(0.0002, 0.0001, g);
    tgc_err err;
    ck_assert_msg(tgc_pass_buckets(&m, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(m.train->n_buckets, 2);
    expect_bucket(m.train, 0, 3, (int[]){g[3], g[2], g[1]}, 0, 320);
    expect_bucket(m.train, 1, 1, (int[]){g[0]}, 320, 64);
    tgc_module_free(&m);
}
END_TEST

START_TEST(default_caps_one_bucket) {
    int g[4];
    tgc_module m = grads_module(1, 25, g);
    tgc_err err;
    ck_assert_msg(tgc_pass_buckets(&m, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(m.train->n_buckets, 1);
    expect_bucket(m.train, 0, 4, (int[]){g[3], g[2], g[1], g[0]}, 0, 128 + 128 + 64 + 64);
    /* Run twice: the same answer, no leak. */
    ck_assert_msg(tgc_pass_buckets(&m, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(m.train->n_buckets, 1);
    m.bucket_cap_mb = -1;
    ck_assert_int_eq(tgc_pass_buckets(&m, &err), -1);
    ck_assert_msg(strstr(err.msg, "bucket_cap_mb"), "%s", err.msg);
    tgc_module_free(&m);
}
END_TEST

/* Without the buckets pass, memplan still gives gradients the GRAD slab, in production order. */
START_TEST(memplan_without_buckets) {
    int g[4];
    tgc_module m = grads_module(1, 25, g);
    tgc_err err;
    ck_assert_msg(tgc_pass_memplan(&m, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(m.train->vals[g[3]].slab, TGC_SLAB_GRAD);
    ck_assert_uint_eq(m.train->vals[g[3]].offset, 0);
    ck_assert_uint_eq(m.train->vals[g[2]].offset, 128);
    ck_assert_uint_eq(m.train->vals[g[0]].offset, 320);
    ck_assert_msg(tgc_pass_verify_plan(&m, &err) == 0, "%s", err.msg);
    tgc_module_free(&m);
}
END_TEST

int main(void) {
    Suite *s = suite_create("buckets");
    TCase *tc = tcase_create("buckets");
    tcase_add_test(tc, tiny_caps);
    tcase_add_test(tc, first_bucket_cap_differs);
    tcase_add_test(tc, default_caps_one_bucket);
    tcase_add_test(tc, memplan_without_buckets);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
