/* tests/unit/test_det_rpn.c - the RPN's targets (runtime/det/det_rpn.c): the assignment of Faster R-CNN's
 * train_cfg.rpn (0.7 / 0.3, low-quality matches with min_pos_iou 0.3) on a hand case, every candidate taken
 * when there are fewer than num, RandomSampler's quota (int(num * pos_fraction) positives, num minus those
 * negatives) and neg_pos_ub, invalid anchors never sampled, the draws keyed by the cursor (same key: same
 * anchors; another position: others), uniform over keys, and RandomSampler's config reader. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/det/det.h"
#include "test_util.h"

static void rpn_cfg(tgc_det_assigner_cfg *ac, tgc_det_sampler_cfg *sc, tgc_det_coder_cfg *cc, int num, double frac) {
    tgc_det_assigner_cfg_default(ac, 0.7f, 0.3f);
    ac->min_pos_iou = 0.3f;
    tgc_det_sampler_cfg_default(sc, num, frac);
    sc->add_gt_as_proposals = 0;
    tgc_det_coder_cfg_default(cc);
}

/* gt (0,0,10,10); anchors: IoU 1 (positive), 0.6 (between, but gt 1's best: a low-quality positive),
 * 0.2 (negative), 0 (negative), an invalid copy of the first (never sampled). */
START_TEST(hand_case) {
    const float gt_boxes[] = {0, 0, 10, 10, 30, 30, 40, 40};
    const float anchors[] = {0, 0, 10, 10, 30, 30, 40, 36, 0, 0, 10, 2, 50, 50, 60, 60, 0, 0, 10, 10};
    const uint8_t valid[] = {1, 1, 1, 1, 0};
    tgc_det_gt gt = {gt_boxes, NULL, NULL, 2, NULL, 0};
    tgc_det_assigner_cfg ac;
    tgc_det_sampler_cfg sc;
    tgc_det_coder_cfg cc;
    rpn_cfg(&ac, &sc, &cc, 256, 0.5);
    int32_t cls[5];
    float box[20];
    int64_t np, nn;
    tgc_rng rng;
    tgc_rng_init(&rng, 1, 0, 0, 6);
    tgc_err err = {{0}};
    ck_assert_int_eq(tgc_det_rpn_targets(&ac, &sc, &cc, anchors, valid, 5, &gt, &rng, cls, box, &np, &nn, &err), 0);
    const int32_t want[] = {0, 0, 1, 1, -1};
    for (int i = 0; i < 5; i++) ck_assert_msg(cls[i] == want[i], "anchor %d: %d, want %d", i, cls[i], want[i]);
    ck_assert(np == 2 && nn == 2);
    for (int q = 0; q < 4; q++) ck_assert(box[q] == 0.f); /* anchor = gt */
    /* anchor (30,30,40,36) -> gt (30,30,40,40): dy = 2/6, dh = log(10/6) */
    ck_assert(box[4] == 0.f && fabsf(box[5] - 2.f / 6.f) < 1e-6f && box[6] == 0.f && fabsf(box[7] - logf(10.f / 6.f)) < 1e-6f);
    for (int q = 8; q < 20; q++) ck_assert(box[q] == 0.f);
    /* no gt: every valid anchor negative */
    gt.n = 0;
    ck_assert_int_eq(tgc_det_rpn_targets(&ac, &sc, &cc, anchors, valid, 5, &gt, &rng, cls, box, &np, &nn, &err), 0);
    ck_assert(np == 0 && nn == 4 && cls[0] == 1 && cls[4] == -1);
}
END_TEST

/* A grid of 40 x 40 anchors of size 8 and three gts: many positives (the exact gt cells) and negatives. */
typedef struct grid {
    float anchors[1600 * 4];
    uint8_t valid[1600];
    float gt[12];
} grid;

static void make_grid(grid *g) {
    for (int i = 0; i < 1600; i++) {
        float x = (float)(i % 40) * 4, y = (float)(i / 40) * 4;
        g->anchors[i * 4] = x, g->anchors[i * 4 + 1] = y, g->anchors[i * 4 + 2] = x + 8, g->anchors[i * 4 + 3] = y + 8;
        g->valid[i] = i % 40 < 36; /* the last 4 columns outside the image's pad_shape */
    }
    const float gt[] = {8, 8, 16, 16, 40, 40, 48, 48, 100, 100, 140, 140};
    memcpy(g->gt, gt, sizeof gt);
}

static void sample(const grid *g, int num, double frac, int ub, uint32_t pos, int32_t *cls, int64_t *np, int64_t *nn) {
    tgc_det_assigner_cfg ac;
    tgc_det_sampler_cfg sc;
    tgc_det_coder_cfg cc;
    rpn_cfg(&ac, &sc, &cc, num, frac);
    sc.neg_pos_ub = ub;
    ac.pos_iou_thr = 0.3f, ac.neg_iou_hi = 0.1f; /* more positives: each gt's neighbours */
    tgc_det_gt gt = {g->gt, NULL, NULL, 3, NULL, 0};
    static float box[1600 * 4];
    tgc_rng rng;
    tgc_rng_init(&rng, 77, 2, pos, 6);
    tgc_err err = {{0}};
    ck_assert_int_eq(tgc_det_rpn_targets(&ac, &sc, &cc, g->anchors, g->valid, 1600, &gt, &rng, cls, box, np, nn, &err), 0);
}

START_TEST(quota_and_keying) {
    static grid g;
    make_grid(&g);
    static int32_t a[1600], b[1600], c[1600];
    int64_t np, nn, np2, nn2;
    /* all positives (fewer than 128), negatives to 256 */
    sample(&g, 256, 0.5, -1, 5, a, &np, &nn);
    int64_t cnt_p = 0, cnt_n = 0, bad = 0;
    for (int i = 0; i < 1600; i++) cnt_p += a[i] == 0, cnt_n += a[i] == 1, bad += !g.valid[i] && a[i] != -1;
    ck_assert_msg(np > 8 && np < 128, "%lld positives", (long long)np);
    ck_assert(cnt_p == np && cnt_n == nn && nn == 256 - np && bad == 0);
    /* the positives' quota: num 16, pos_fraction 0.25 -> 4 positives, 12 negatives */
    sample(&g, 16, 0.25, -1, 5, a, &np, &nn);
    ck_assert(np == 4 && nn == 12);
    /* neg_pos_ub 2: at most 2 * 4 negatives */
    sample(&g, 16, 0.25, 2, 5, c, &np2, &nn2);
    ck_assert(np2 == 4 && nn2 == 8);
    /* the same key, the same anchors; another position, others */
    sample(&g, 16, 0.25, -1, 5, b, &np2, &nn2);
    ck_assert(!memcmp(a, b, sizeof a));
    sample(&g, 16, 0.25, -1, 6, b, &np2, &nn2);
    ck_assert(memcmp(a, b, sizeof a) != 0);
}
END_TEST

/* Over 600 keys, each valid negative of the grid is drawn about 600 * 12 / negatives times. */
START_TEST(uniform) {
    static grid g;
    make_grid(&g);
    static int32_t a[1600];
    static int hits[1600];
    int64_t np, nn, negatives = 0;
    for (uint32_t k = 0; k < 600; k++) {
        sample(&g, 16, 0.25, -1, k, a, &np, &nn);
        for (int i = 0; i < 1600; i++) hits[i] += a[i] == 1;
    }
    sample(&g, 100000, 0.0, -1, 0, a, &np, &negatives);
    double want = 600.0 * 12 / (double)negatives; /* about 5 */
    int64_t lo = 0, total = 0;
    for (int i = 0; i < 1600; i++) total += hits[i], lo += a[i] == 1 && hits[i] == 0;
    ck_assert_int_eq(total, 600 * 12);
    /* Poisson(5): P(0) = 0.0067, so ~9 of ~1400 never drawn; far more means a biased draw */
    ck_assert_msg(lo < 40, "%lld of %lld negatives never drawn (expected ~%.0f)", (long long)lo, (long long)negatives,
                  (double)negatives * exp(-want));
    int64_t first_half = 0;
    for (int i = 0; i < 800; i++) first_half += hits[i];
    ck_assert_msg(fabs((double)first_half / (double)total - 0.5) < 0.05, "the first half of the grid got %.3f of the draws",
                  (double)first_half / (double)total);
}
END_TEST

START_TEST(sampler_cfg) {
    tgc_err err = {{0}};
    tgc_cfg *c = test_cfg_parse("s: {type: RandomSampler, num: 256, pos_fraction: 0.5, neg_pos_ub: -1, "
                                "add_gt_as_proposals: false}\n", "s.yaml");
    tgc_det_sampler_cfg sc;
    ck_assert_msg(tgc_det_sampler_cfg_from(tgc_cfg_get(c, "s"), &sc, &err) == 0, "%s", err.msg);
    ck_assert(sc.num == 256 && sc.pos_fraction == 0.5 && sc.neg_pos_ub == -1 && sc.add_gt_as_proposals == 0);
    tgc_cfg_free(c);
    c = test_cfg_parse("s: {type: RandomSampler, num: 512, pos_fraction: 0.25}\n", "s.yaml");
    ck_assert_int_eq(tgc_det_sampler_cfg_from(tgc_cfg_get(c, "s"), &sc, &err), 0);
    ck_assert(sc.num == 512 && sc.add_gt_as_proposals == 1);
    tgc_cfg_free(c);
    const char *bad[][2] = {{"s: {type: OHEMSampler, num: 512, pos_fraction: 0.25}\n", "not supported"},
                            {"s: {type: RandomSampler, pos_fraction: 0.25}\n", "num"},
                            {"s: {type: RandomSampler, num: 8, pos_fraction: 1.5}\n", "pos_fraction"},
                            {"s: {type: RandomSampler, num: 8, pos_fraction: 0.5, context: 1}\n", "context"}};
    for (int i = 0; i < 4; i++) {
        c = test_cfg_parse(bad[i][0], "s.yaml");
        ck_assert_int_eq(tgc_det_sampler_cfg_from(tgc_cfg_get(c, "s"), &sc, &err), -1);
        ck_assert_msg(strstr(err.msg, bad[i][1]) && strstr(err.msg, "s.yaml"), "%s", err.msg);
        tgc_cfg_free(c);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("det_rpn");
    TCase *tc = tcase_create("rpn");
    tcase_add_test(tc, hand_case);
    tcase_add_test(tc, quota_and_keying);
    tcase_add_test(tc, uniform);
    tcase_add_test(tc, sampler_cfg);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
