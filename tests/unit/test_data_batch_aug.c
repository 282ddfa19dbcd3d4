/* tests/unit/test_data_batch_aug.c - Mixup and CutMix on a batch, their soft targets, the choice among
 * augments, the Beta draws, and the configs they refuse. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/data/data.h"

enum { N = 6, C = 2, H = 8, W = 10, K = 5 };

static tgc_cfg *parse(const char *text) {
    tgc_err err = {{0}};
    tgc_cfg *c = tgc_cfg_parse(text, strlen(text), "aug.yaml", &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    return c;
}

static tgc_batch_aug *make(const char *train_cfg_yaml) {
    tgc_cfg *c = parse(train_cfg_yaml);
    tgc_err err = {{0}};
    tgc_batch_aug *b = tgc_batch_aug_from_cfg(tgc_cfg_get(c, "train_cfg"), &err);
    ck_assert_msg(b != NULL, "%s", err.msg);
    tgc_cfg_free(c);
    return b;
}

/* Sample i's pixels are i + 1 + a small per-position offset, so every pixel says where it came from. */
static void fill(float *x) {
    for (int i = 0; i < N; i++)
        for (int k = 0; k < C * H * W; k++) x[i * C * H * W + k] = (float)(i + 1) + (float)k * 1e-4f;
}

static const int32_t labels[N] = {0, 1, 2, 3, 4, 0};

static void check_scores(const float *s, double lam, const int *perm) {
    for (int i = 0; i < N; i++) {
        double sum = 0;
        for (int k = 0; k < K; k++) sum += s[i * K + k];
        ck_assert_msg(fabs(sum - 1) < 1e-6, "row %d sums to %g", i, sum);
        float want_own = (float)lam + (labels[perm[i]] == labels[i] ? (float)(1 - lam) : 0);
        ck_assert_msg(fabsf(s[i * K + labels[i]] - want_own) < 1e-6f, "row %d: %g, want %g", i, s[i * K + labels[i]],
                      want_own);
    }
}

START_TEST(mixup) {
    tgc_batch_aug *b = make("train_cfg: {augments: [{type: Mixup, alpha: 0.8}]}\n");
    float x[N * C * H * W], orig[N * C * H * W], s[N * K];
    fill(x), fill(orig);
    tgc_batch_aug_key key = {7, 2, 3};
    tgc_batch_aug_draw d;
    tgc_err err = {{0}};
    ck_assert_int_eq(tgc_batch_aug_apply(b, x, labels, N, C, H, W, K, s, &key, &d, &err), 0);
    ck_assert_int_eq(d.choice, 0);
    ck_assert(d.lam > 0 && d.lam < 1);
    const int *perm = tgc_batch_aug_perm(b);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < C * H * W; k += 37) {
            float want = (float)d.lam * orig[i * C * H * W + k] + (float)(1 - d.lam) * orig[perm[i] * C * H * W + k];
            ck_assert_msg(fabsf(x[i * C * H * W + k] - want) < 1e-5f, "sample %d pixel %d", i, k);
        }
    check_scores(s, d.lam, perm);
    /* the same key draws the same; another batch position draws otherwise */
    float x2[N * C * H * W], s2[N * K];
    fill(x2);
    tgc_batch_aug_draw d2;
    ck_assert_int_eq(tgc_batch_aug_apply(b, x2, labels, N, C, H, W, K, s2, &key, &d2, &err), 0);
    ck_assert(d2.lam == d.lam && !memcmp(x, x2, sizeof x) && !memcmp(s, s2, sizeof s));
    key.position = 4;
    fill(x2);
    ck_assert_int_eq(tgc_batch_aug_apply(b, x2, labels, N, C, H, W, K, s2, &key, &d2, &err), 0);
    ck_assert(d2.lam != d.lam);
    tgc_batch_aug_free(b);
}
END_TEST

START_TEST(cutmix_box_and_lam) {
    tgc_batch_aug *b = make("train_cfg: {augments: {type: CutMix, alpha: 1.0}}\n");
    tgc_batch_aug *m = make("train_cfg: {augments: {type: CutMix, alpha: 1.0, cutmix_minmax: [0.25, 0.75]}}\n");
    for (uint32_t pos = 0; pos < 40; pos++) {
        for (int which = 0; which < 2; which++) {
            float x[N * C * H * W], orig[N * C * H * W], s[N * K];
            fill(x), fill(orig);
            tgc_batch_aug_key key = {11, 0, pos};
            tgc_batch_aug_draw d;
            tgc_err err = {{0}};
            tgc_batch_aug *a = which ? m : b;
            ck_assert_int_eq(tgc_batch_aug_apply(a, x, labels, N, C, H, W, K, s, &key, &d, &err), 0);
            ck_assert(0 <= d.y1 && d.y1 <= d.y2 && d.y2 <= H && 0 <= d.x1 && d.x1 <= d.x2 && d.x2 <= W);
            /* correct_lam (the default) and cutmix_minmax: lam is the share of the image left unpasted */
            double want = 1.0 - (double)((d.y2 - d.y1) * (d.x2 - d.x1)) / (H * W);
            ck_assert_msg(fabs(d.lam - want) < 1e-12, "lam %g, box share %g", d.lam, want);
            if (which) { /* MMPretrain's rand_bbox_minmax: each side in [int(0.25 s), int(0.75 s)) */
                ck_assert(d.y2 - d.y1 >= 2 && d.y2 - d.y1 < 6 && d.x2 - d.x1 >= 2 && d.x2 - d.x1 < 7);
            }
            const int *perm = tgc_batch_aug_perm(a);
            for (int i = 0; i < N; i++)
                for (int ci = 0; ci < C; ci++)
                    for (int y = 0; y < H; y++)
                        for (int xx = 0; xx < W; xx++) {
                            int in = y >= d.y1 && y < d.y2 && xx >= d.x1 && xx < d.x2;
                            int k = (ci * H + y) * W + xx;
                            float want_px = orig[(in ? perm[i] : i) * C * H * W + k];
                            ck_assert(x[i * C * H * W + k] == want_px);
                        }
            check_scores(s, d.lam, perm);
        }
    }
    tgc_batch_aug_free(b);
    tgc_batch_aug_free(m);
}
END_TEST

START_TEST(choice_and_probs) {
    /* probs summing to 0: never an augment; one-hot targets, images untouched */
    tgc_batch_aug *b = make("train_cfg: {augments: [{type: Mixup, alpha: 0.8}, {type: CutMix, alpha: 1.0}], "
                            "probs: [0.0, 0.0]}\n");
    float x[N * C * H * W], orig[N * C * H * W], s[N * K];
    fill(x), fill(orig);
    tgc_batch_aug_key key = {1, 0, 0};
    tgc_batch_aug_draw d;
    tgc_err err = {{0}};
    ck_assert_int_eq(tgc_batch_aug_apply(b, x, labels, N, C, H, W, K, s, &key, &d, &err), 0);
    ck_assert_int_eq(d.choice, -1);
    ck_assert(!memcmp(x, orig, sizeof x));
    for (int i = 0; i < N; i++)
        for (int k = 0; k < K; k++) ck_assert(s[i * K + k] == (k == labels[i] ? 1.0f : 0.0f));
    tgc_batch_aug_free(b);
    /* probs [0.3, 0.5]: Mixup ~30%, CutMix ~50%, none ~20% of 2000 batches */
    b = make("train_cfg: {augments: [{type: Mixup, alpha: 0.8}, {type: CutMix, alpha: 1.0}], probs: [0.3, 0.5]}\n");
    int count[3] = {0};
    for (uint32_t pos = 0; pos < 2000; pos++) {
        key.position = pos;
        fill(x);
        ck_assert_int_eq(tgc_batch_aug_apply(b, x, labels, N, C, H, W, K, s, &key, &d, &err), 0);
        count[d.choice < 0 ? 2 : d.choice]++;
    }
    ck_assert_msg(abs(count[0] - 600) < 90 && abs(count[1] - 1000) < 100 && abs(count[2] - 400) < 80,
                  "choices %d %d %d", count[0], count[1], count[2]);
    tgc_batch_aug_free(b);
}
END_TEST

START_TEST(beta_draws) {
    /* Mixup's lam ~ Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)); a < 1 exercises the boosted gamma */
    const double alphas[] = {0.2, 1.0, 4.0};
    for (int t = 0; t < 3; t++) {
        char text[128];
        snprintf(text, sizeof text, "train_cfg: {augments: [{type: Mixup, alpha: %g}]}\n", alphas[t]);
        tgc_batch_aug *b = make(text);
        double sum = 0, sq = 0;
        int n = 4000;
        for (int i = 0; i < n; i++) {
            float x[N * C * H * W], s[N * K];
            fill(x);
            tgc_batch_aug_key key = {3, 1, (uint32_t)i};
            tgc_batch_aug_draw d;
            tgc_err err = {{0}};
            ck_assert_int_eq(tgc_batch_aug_apply(b, x, labels, N, C, H, W, K, s, &key, &d, &err), 0);
            sum += d.lam, sq += d.lam * d.lam;
        }
        double mean = sum / n, var = sq / n - mean * mean, want = 1 / (4 * (2 * alphas[t] + 1));
        ck_assert_msg(fabs(mean - 0.5) < 0.02, "alpha %g: mean %g", alphas[t], mean);
        ck_assert_msg(fabs(var - want) < 0.1 * want, "alpha %g: variance %g, want %g", alphas[t], var, want);
        tgc_batch_aug_free(b);
    }
}
END_TEST

static void refuses(const char *yaml, const char *want) {
    tgc_cfg *c = parse(yaml);
    tgc_err err = {{0}};
    tgc_batch_aug *b = tgc_batch_aug_from_cfg(tgc_cfg_get(c, "train_cfg"), &err);
    ck_assert_msg(b == NULL, "accepted: %s", yaml);
    ck_assert_msg(strstr(err.msg, want), "'%s' not in: %s", want, err.msg);
    ck_assert_msg(strstr(err.msg, "aug.yaml:"), "no location: %s", err.msg);
    tgc_cfg_free(c);
}

START_TEST(bad_settings) {
    tgc_err err = {{0}};
    ck_assert_ptr_null(tgc_batch_aug_from_cfg(NULL, &err));
    ck_assert_str_eq(err.msg, "");
    refuses("train_cfg: {augments: [{type: ResizeMix, alpha: 1.0}]}\n", "unsupported batch augment 'ResizeMix'");
    refuses("train_cfg: {augments: [{type: Mixup}]}\n", "Mixup needs alpha");
    refuses("train_cfg: {augments: [{type: Mixup, alpha: 0}]}\n", "alpha must be positive");
    refuses("train_cfg: {augments: [{type: Mixup, alpha: 1}], probs: [0.5, 0.5]}\n", "2 probs for 1 augments");
    refuses("train_cfg: {augments: [{type: Mixup, alpha: 1}, {type: CutMix, alpha: 1}], probs: [0.7, 0.5]}\n",
            "sum to 1.2 > 1");
    refuses("train_cfg: {augments: [{type: CutMix, alpha: 1, cutmix_minmax: [0.8, 0.2]}]}\n", "0 <= min < max <= 1");
    /* a label outside the soft targets' width */
    tgc_batch_aug *b = make("train_cfg: {augments: [{type: Mixup, alpha: 0.8}]}\n");
    float x[N * C * H * W], s[N * K];
    fill(x);
    int32_t bad[N] = {0, 1, 2, 3, 4, 5};
    tgc_batch_aug_key key = {1, 0, 0};
    ck_assert_int_eq(tgc_batch_aug_apply(b, x, bad, N, C, H, W, K, s, &key, NULL, &err), -1);
    ck_assert_msg(strstr(err.msg, "label 5 of sample 5 is outside [0, 5)"), "%s", err.msg);
    tgc_batch_aug_free(b);
}
END_TEST

int main(void) {
    Suite *s = suite_create("data_batch_aug");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, mixup);
    tcase_add_test(tc, cutmix_box_and_lam);
    tcase_add_test(tc, choice_and_probs);
    tcase_add_test(tc, beta_draws);
    tcase_add_test(tc, bad_settings);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
