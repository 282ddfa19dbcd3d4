/* tests/unit/test_data_group.c - batches of one orientation (runtime/data/data_group.c): MMDetection's bucket
 * order, the fixed training batch count over a shard split, evaluation's every-sample grouping. */
#include "test_util.h"

#include "runtime/data/data.h"

/* Every batch holds samples of its own orientation only; entries are distinct and come from idx. */
static void check_batches(const tgc_group *g, const int *idx, const int *pos, int n, const uint8_t *portrait, int bs) {
    uint8_t *seen = tgc_calloc((size_t)n, 1);
    for (int b = 0; b < g->n; b++) {
        ck_assert_int_ge(g->count[b], 1);
        ck_assert_int_le(g->count[b], bs);
        for (int i = 0; i < g->count[b]; i++) {
            int e = g->start[b] + i, k;
            ck_assert_int_eq(portrait[g->idx[e]], g->portrait[b]);
            for (k = 0; k < n && !(idx[k] == g->idx[e] && pos[k] == g->pos[e]); k++) {}
            ck_assert_int_lt(k, n);
            ck_assert_int_eq(seen[k], 0);
            seen[k] = 1;
        }
    }
    free(seen);
}

START_TEST(bucket_order) {
    /* orientations L P L L P P L L, batch 2: {0, 2} L fills at 2, {1, 4} P at 4, {3, 6} L at 6; K = 8 / 2 - 1 */
    const uint8_t portrait[8] = {0, 1, 0, 0, 1, 1, 0, 0};
    int idx[8], pos[8];
    for (int i = 0; i < 8; i++) idx[i] = i, pos[i] = 100 + i;
    tgc_group g;
    tgc_err err;
    tgc_group_init(&g, 8);
    ck_assert_int_eq(tgc_group_batches(&g, idx, pos, 8, portrait, 2, 1, 1, &err), 0);
    ck_assert_int_eq(g.n, 3);
    const int want[6] = {0, 2, 1, 4, 3, 6};
    const uint8_t orient[3] = {0, 1, 0};
    for (int e = 0; e < 6; e++) {
        ck_assert_int_eq(g.idx[e], want[e]);
        ck_assert_int_eq(g.pos[e], 100 + want[e]);
    }
    for (int b = 0; b < 3; b++) {
        ck_assert_int_eq(g.portrait[b], orient[b]);
        ck_assert_int_eq(g.count[b], 2);
    }
    ck_assert_int_eq(g.n_orient[0], 2);
    ck_assert_int_eq(g.n_orient[1], 1);
    ck_assert_int_eq(g.dropped, 2);
    /* one orientation only: floor(n / B) batches, the epoch order cut in pieces as without grouping */
    const uint8_t land[8] = {0};
    ck_assert_int_eq(tgc_group_batches(&g, idx, pos, 8, land, 3, 1, 0, &err), 0);
    ck_assert_int_eq(g.n, 2);
    for (int e = 0; e < 6; e++) ck_assert_int_eq(g.idx[e], e);
    ck_assert_int_eq(g.dropped, 2);
    /* fewer samples than allocated is fine, more is an error */
    ck_assert_int_eq(tgc_group_batches(&g, idx, pos, 9, land, 3, 1, 0, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "more than the 8 allocated"));
    tgc_group_free(&g);
}
END_TEST

/* A shard split of a shuffled epoch: every rank gets the same K whatever its orientation mix, and across
 * epochs a different set of samples is dropped. */
START_TEST(lockstep_over_ranks) {
    const int n = 997, world = 3, bs = 4;
    uint8_t *portrait = tgc_malloc(n);
    tgc_rng r;
    tgc_rng_init(&r, 7, 0, 0, TGC_RNG_SHUFFLE);
    for (int i = 0; i < n; i++) portrait[i] = tgc_rng_uniform(&r) < 0.3;
    tgc_err err;
    for (uint32_t epoch = 0; epoch < 3; epoch++) {
        int ks[3];
        for (int rank = 0; rank < world; rank++) {
            tgc_sampler s;
            ck_assert_int_eq(tgc_sampler_init(&s, n, 1, 11, 1, rank, world, &err), 0);
            int *idx = tgc_malloc(sizeof(int) * (size_t)s.num_samples), *pos = tgc_malloc(sizeof(int) * (size_t)s.num_samples);
            tgc_sampler_epoch(&s, epoch, idx, pos);
            tgc_group g;
            tgc_group_init(&g, s.num_samples);
            ck_assert_int_eq(tgc_group_batches(&g, idx, pos, s.num_samples, portrait, bs, 1, 1, &err), 0);
            ks[rank] = g.n;
            ck_assert_int_eq(g.n, tgc_group_train_batches(s.num_samples, bs, 1));
            ck_assert_int_eq(g.n, s.num_samples / bs - 1);
            ck_assert_int_eq(g.n_orient[0] + g.n_orient[1], g.n);
            ck_assert_int_gt(g.n_orient[1], 0);
            ck_assert_int_eq(g.dropped, s.num_samples - g.n * bs);
            for (int b = 0; b < g.n; b++) ck_assert_int_eq(g.count[b], bs);
            check_batches(&g, idx, pos, s.num_samples, portrait, bs);
            tgc_group_free(&g);
            free(idx);
            free(pos);
        }
        ck_assert_int_eq(ks[0], ks[1]);
        ck_assert_int_eq(ks[1], ks[2]);
    }
    /* a rank whose shard is all of one orientation while the dataset has both still runs K = floor(n / B) - 1 */
    int idx[10], pos[10];
    for (int i = 0; i < 10; i++) idx[i] = 2 * i, pos[i] = i;
    uint8_t mix[20] = {0};
    mix[1] = 1;
    tgc_group g;
    tgc_group_init(&g, 10);
    ck_assert_int_eq(tgc_group_batches(&g, idx, pos, 10, mix, 3, 1, 1, &err), 0);
    ck_assert_int_eq(g.n, 2);
    ck_assert_int_eq(g.dropped, 4);
    tgc_group_free(&g);
    free(portrait);
}
END_TEST

START_TEST(eval_keeps_every_sample) {
    const int n = 23, bs = 4;
    uint8_t portrait[23];
    int idx[23], pos[23];
    for (int i = 0; i < n; i++) portrait[i] = (i % 3) == 1, idx[i] = n - 1 - i, pos[i] = i;
    tgc_group g;
    tgc_err err;
    tgc_group_init(&g, n);
    ck_assert_int_eq(tgc_group_batches(&g, idx, pos, n, portrait, bs, 0, 1, &err), 0);
    /* 15 landscape (4 batches, the last of 3), 8 portrait (2 batches) */
    ck_assert_int_eq(g.n, 6);
    ck_assert_int_eq(g.n_entries, n);
    ck_assert_int_eq(g.n_orient[0], 4);
    ck_assert_int_eq(g.n_orient[1], 2);
    const int counts[6] = {4, 4, 4, 3, 4, 4};
    for (int b = 0; b < g.n; b++) {
        ck_assert_int_eq(g.count[b], counts[b]);
        ck_assert_int_eq(g.portrait[b], b >= 4);
    }
    check_batches(&g, idx, pos, n, portrait, bs);
    /* within an orientation the sampler's order is kept */
    for (int e = 1; e < g.n_entries; e++)
        if (portrait[g.idx[e]] == portrait[g.idx[e - 1]]) ck_assert_int_gt(g.pos[e], g.pos[e - 1]);
    tgc_group_free(&g);
}
END_TEST

int main(void) {
    Suite *s = suite_create("data_group");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, bucket_order);
    tcase_add_test(tc, lockstep_over_ranks);
    tcase_add_test(tc, eval_keeps_every_sample);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? 0 : 1;
}
