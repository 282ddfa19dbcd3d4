/* tests/unit/test_rcnn_targets.c - the rcnn_targets op's CPU kernel (backend/cpu/cpu_roi.c): MMDetection's
 * MaxIoUAssigner test vector (tests/test_models/test_task_modules/test_assigners/test_max_iou_assigner.py:
 * expected gt_inds [1, 0, 2, 0], the low-quality match included) and its empty-gt case; hand cases of the
 * RoI head's settings (0.5/0.5, add_gt_as_proposals: the gts as positives of themselves, the encoded targets
 * with stds 0.1/0.2, padding rows, proposals past count left out) and of the RPN's (0.7/0.3/0.3 low quality,
 * gt_max_assign_all, the later of two gts taking a shared best); the assignment equal to the host's
 * MaxIoUAssigner (runtime/det/det_assign.c) on random images; the sampler's counts (int(k * pos_fraction) positives, the rest negatives), its keying (same rng:
 * same rows; another position or epoch: other rows), its uniformity over seeds; the same bytes from 1, 2 and
 * 3 threads; bad operands refused with a message. */
#include <float.h>

#include "runtime/det/det.h"
#include "tests/unit/test_backend_cpu_util.h"

static tgc_cpu *new_cpu(int threads) {
    tgc_err err;
    tgc_cpu *c = tgc_cpu_new(threads, 1, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    return c;
}

static tgc_attrs rcnn_attrs(int64_t k, double pos, double neg, double min_pos, int low, int add_gt, int64_t classes) {
    tgc_attrs a = tgc_attrs_default();
    a.k = k, a.pos_fraction = 0.25, a.pos_iou_thr = pos, a.neg_iou_thr = neg, a.min_pos_iou = min_pos;
    a.match_low_quality = low, a.add_gt_as_proposals = add_gt, a.num_classes = classes;
    for (int i = 0; i < 4; i++) a.target_means[i] = 0, a.target_stds[i] = i < 2 ? 0.1 : 0.2;
    return a;
}

typedef struct rcnn_out {
    float *rois, *tgt;
    int32_t *lab;
} rcnn_out;

static rcnn_out run(tgc_cpu *c, const tgc_attrs *a, int64_t b, int64_t p, int64_t g, float *prop, int32_t *cnt, float *gtb,
                    int32_t *gtl, int32_t *rng) {
    int64_t n = b * a->k;
    rcnn_out o = {tu_zeros(n * 5), tu_zeros(n * 4), malloc(sizeof(int32_t) * (size_t)n)};
    tgc_type in[] = {tu_t(TGC_F32, tgc_shape_make(3, (int64_t[]){b, p, 4})), tu_t(TGC_I32, tgc_shape1(b)),
                     tu_t(TGC_F32, tgc_shape_make(3, (int64_t[]){b, g, 4})), tu_t(TGC_I32, tgc_shape2(b, g)),
                     tu_t(TGC_I32, tgc_shape2(b, 4))};
    tgc_type out[] = {tu_f2(n, 5), tu_t(TGC_I32, tgc_shape1(n)), tu_f2(n, 4)};
    void *ip[] = {prop, cnt, gtb, gtl, rng}, *op[] = {o.rois, o.lab, o.tgt};
    tu_exec(c, TGC_OP_RCNN_TARGETS, a, 5, in, ip, 3, out, op);
    return o;
}

static void out_free(rcnn_out *o) { free(o->rois), free(o->tgt), free(o->lab); }

/* The row of image b whose box equals `box` among rows [lo, hi), or -1. */
static int64_t find_row(const rcnn_out *o, int64_t k, int64_t b, int64_t lo, int64_t hi, const float *box) {
    for (int64_t r = lo; r < hi; r++) {
        const float *q = o->rois + (b * k + r) * 5;
        if (q[0] == (float)b && q[1] == box[0] && q[2] == box[1] && q[3] == box[2] && q[4] == box[3]) return r;
    }
    return -1;
}

/* MMDetection's MaxIoUAssigner vector (pos 0.5, neg 0.5, low quality with min_pos_iou 0): priors 0 and 2
 * positive (gts 0 and 1, the second by the low-quality match), 1 and 3 negative; no gt added. Then its empty
 * gt case: every prior negative. */
START_TEST(mmdet_assigner_vector) {
    tgc_cpu *c = new_cpu(1);
    float prop[] = {0, 0, 10, 10, 10, 10, 20, 20, 5, 5, 15, 15, 32, 32, 38, 42};
    float gtb[] = {0, 0, 10, 9, 0, 10, 10, 19};
    int32_t gtl[] = {2, 3}, cnt[] = {4}, rng[] = {1, 0, 0, 0};
    tgc_attrs a = rcnn_attrs(8, 0.5, 0.5, 0.0, 1, 0, 5);
    rcnn_out o = run(c, &a, 1, 4, 2, prop, cnt, gtb, gtl, rng);
    /* 2 positives (quota 2), 2 negatives, 4 padding rows */
    int64_t r0 = find_row(&o, 8, 0, 0, 2, prop), r2 = find_row(&o, 8, 0, 0, 2, prop + 8);
    ck_assert_msg(r0 >= 0 && r2 >= 0, "priors 0 and 2 must be the positive rows");
    ck_assert_int_eq(o.lab[r0], 2);
    ck_assert_int_eq(o.lab[r2], 3);
    ck_assert(find_row(&o, 8, 0, 2, 4, prop + 4) >= 0 && find_row(&o, 8, 0, 2, 4, prop + 12) >= 0);
    for (int r = 2; r < 4; r++) ck_assert_int_eq(o.lab[r], 5);
    for (int r = 4; r < 8; r++) {
        ck_assert_int_eq(o.lab[r], -1);
        for (int q = 0; q < 5; q++) ck_assert(o.rois[r * 5 + q] == 0.f);
        for (int q = 0; q < 4; q++) ck_assert(o.tgt[r * 4 + q] == 0.f);
    }
    /* prior 0 (0,0,10,10) -> gt (0,0,10,9): dy = -0.5/10, dh = log(0.9), over stds 0.1 and 0.2 */
    const float *t = o.tgt + r0 * 4;
    ck_assert(t[0] == 0.f && fabsf(t[1] - -0.5f) < 1e-6f && t[2] == 0.f && fabsf(t[3] - (float)(log(0.9) / 0.2)) < 1e-6f);
    out_free(&o);
    /* empty gt (labels -1): every counted prior negative */
    gtl[0] = gtl[1] = -1;
    a.add_gt_as_proposals = 1;
    o = run(c, &a, 1, 4, 2, prop, cnt, gtb, gtl, rng);
    for (int r = 0; r < 4; r++) ck_assert_int_eq(o.lab[r], 5);
    for (int r = 4; r < 8; r++) ck_assert_int_eq(o.lab[r], -1);
    for (int i = 0; i < 4; i++) ck_assert(find_row(&o, 8, 0, 0, 4, prop + 4 * i) >= 0);
    out_free(&o);
    tgc_cpu_free(c);
}
END_TEST

/* The RoI head's settings (0.5, 0.5, add_gt_as_proposals): two gts of three slots (one padding), five counted
 * proposals of six. Positives: both gts (targets 0), IoU 1.0, 0.5 and 0.9 proposals; negatives the IoU 0.4 and
 * 0 ones; the sixth proposal (past count) nowhere. */
START_TEST(roi_head_hand_case) {
    tgc_cpu *c = new_cpu(2);
    float prop[] = {0, 0, 10, 10, 0, 0, 10, 5, 0, 0, 10, 4, 20, 20, 30, 29, 100, 100, 110, 110, 40, 40, 50, 50,
                    /* image 1: no proposal counted */ 0, 0, 10, 10, 0, 0, 10, 5, 0, 0, 10, 4, 20, 20, 30, 29,
                    100, 100, 110, 110, 40, 40, 50, 50};
    float gtb[] = {0, 0, 10, 10, 20, 20, 30, 30, 0, 0, 0, 0, /* image 1 */ 40, 40, 50, 50, 0, 0, 0, 0, 0, 0, 0, 0};
    int32_t gtl[] = {2, 5, -1, 7, -1, -1}, cnt[] = {5, 0}, rng[] = {7, 0, 1, 3, 7, 0, 1, 4};
    tgc_attrs a = rcnn_attrs(32, 0.5, 0.5, 0.5, 0, 1, 10);
    rcnn_out o = run(c, &a, 2, 6, 3, prop, cnt, gtb, gtl, rng);
    const int64_t k = 32;
    /* image 0: positives rows 0..4, negatives 5..6, padding after */
    const float *pos_boxes[] = {gtb, gtb + 4, prop, prop + 4, prop + 12};
    const int32_t pos_labels[] = {2, 5, 2, 2, 5};
    for (int i = 0; i < 5; i++) {
        int64_t r = find_row(&o, k, 0, 0, 5, pos_boxes[i]);
        ck_assert_msg(r >= 0, "positive %d is not among rows 0..4", i);
        ck_assert_int_eq(o.lab[r], pos_labels[i]);
        const float *t = o.tgt + r * 4;
        if (i == 3) { /* (0,0,10,5) -> (0,0,10,10): (0, 0.5/0.1, 0, log 2/0.2) */
            ck_assert(t[0] == 0.f && fabsf(t[1] - 5.f) < 1e-5f && t[2] == 0.f && fabsf(t[3] - (float)(log(2.0) / 0.2)) < 1e-5f);
        } else if (i == 4) { /* (20,20,30,29) -> (20,20,30,30) */
            ck_assert(t[0] == 0.f && fabsf(t[1] - (float)(0.5 / 9 / 0.1)) < 1e-5f && t[2] == 0.f &&
                      fabsf(t[3] - (float)(log(10.0 / 9) / 0.2)) < 1e-5f);
        } else {
            for (int q = 0; q < 4; q++) ck_assert(t[q] == 0.f);
        }
    }
    ck_assert(find_row(&o, k, 0, 5, 7, prop + 8) >= 0 && find_row(&o, k, 0, 5, 7, prop + 16) >= 0);
    for (int r = 5; r < 7; r++) {
        ck_assert_int_eq(o.lab[r], 10);
        for (int q = 0; q < 4; q++) ck_assert(o.tgt[r * 4 + q] == 0.f);
    }
    for (int64_t r = 7; r < k; r++) ck_assert(o.lab[r] == -1 && o.rois[r * 5] == 0.f);
    ck_assert(find_row(&o, k, 0, 0, k, prop + 20) < 0);
    /* image 1: its one gt, then padding (rois[:,0] = 1) */
    ck_assert_int_eq(o.lab[k], 7);
    ck_assert(find_row(&o, k, 1, 0, 1, gtb + 12) == 0);
    for (int64_t r = 1; r < k; r++) ck_assert(o.lab[k + r] == -1 && o.rois[(k + r) * 5] == 1.f);
    out_free(&o);
    /* k 16: quota int(16 * 0.25) = 4 of the 5 positives, then the 2 negatives */
    a.k = 16;
    o = run(c, &a, 2, 6, 3, prop, cnt, gtb, gtl, rng);
    for (int r = 0; r < 4; r++) ck_assert(o.lab[r] == 2 || o.lab[r] == 5);
    ck_assert(o.lab[4] == 10 && o.lab[5] == 10 && o.lab[6] == -1);
    out_free(&o);
    tgc_cpu_free(c);
}
END_TEST

/* The RPN's settings (0.7, 0.3, min_pos_iou 0.3, low quality, every prior of equal best IoU): two equal boxes
 * of IoU 0.6 with the gt are both its low-quality matches; with min_pos_iou 0.7 neither (between the
 * thresholds: ignored, in no row). */
START_TEST(low_quality_hand_case) {
    tgc_cpu *c = new_cpu(1);
    float prop[] = {0, 0, 10, 6, 0, 0, 10, 2, 0, 0, 10, 6}, gtb[] = {0, 0, 10, 10};
    int32_t gtl[] = {0}, cnt[] = {3}, rng[] = {3, 1, 0, 9};
    tgc_attrs a = rcnn_attrs(8, 0.7, 0.3, 0.3, 1, 0, 1);
    a.pos_fraction = 0.5;
    rcnn_out o = run(c, &a, 1, 3, 1, prop, cnt, gtb, gtl, rng);
    ck_assert(o.lab[0] == 0 && o.lab[1] == 0 && o.lab[2] == 1 && o.lab[3] == -1);
    ck_assert(find_row(&o, 8, 0, 0, 2, prop) >= 0 && find_row(&o, 8, 0, 2, 3, prop + 4) == 2);
    out_free(&o);
    a.min_pos_iou = 0.7;
    o = run(c, &a, 1, 3, 1, prop, cnt, gtb, gtl, rng);
    ck_assert(o.lab[0] == 1 && o.lab[1] == -1);
    out_free(&o);
    /* one proposal the best of two gts with equal IoU 0.5: the later gt takes it (MMDetection's loop order) */
    float prop2[] = {0, 0, 10, 10}, gtb2[] = {0, 0, 10, 5, 0, 5, 10, 10};
    int32_t gtl2[] = {0, 1}, cnt2[] = {1};
    a = rcnn_attrs(4, 0.7, 0.3, 0.3, 1, 0, 2);
    o = run(c, &a, 1, 1, 2, prop2, cnt2, gtb2, gtl2, rng);
    ck_assert(o.lab[0] == 1 && o.lab[1] == -1);
    out_free(&o);
    tgc_cpu_free(c);
}
END_TEST

/* Random images: B 3, 40 proposals (counts 40, 17, 0), 6 gt slots (some padding), boxes clustered so that
 * every class occurs. */
typedef struct rnd_case {
    float prop[3 * 40 * 4], gtb[3 * 6 * 4];
    int32_t gtl[3 * 6], cnt[3], rng[3 * 4];
} rnd_case;

static void rnd_box(float *b, double s) {
    double x = tu_unif(0, 60), y = tu_unif(0, 60), w = tu_unif(4, s), h = tu_unif(4, s);
    b[0] = (float)x, b[1] = (float)y, b[2] = (float)(x + w), b[3] = (float)(y + h);
}

static void rnd_fill(rnd_case *rc) {
    for (int i = 0; i < 3 * 6; i++) rnd_box(rc->gtb + i * 4, 30), rc->gtl[i] = i % 4 == 3 ? -1 : (int32_t)(tu_next() % 5);
    for (int i = 0; i < 3 * 40; i++) {
        if (i % 3) { /* near a gt */
            const float *g = rc->gtb + (i / 40 * 6 + tu_next() % 6) * 4;
            for (int q = 0; q < 4; q++) rc->prop[i * 4 + q] = g[q] + (float)tu_unif(-3, 3);
        } else {
            rnd_box(rc->prop + i * 4, 40);
        }
    }
    rc->cnt[0] = 40, rc->cnt[1] = 17, rc->cnt[2] = 0;
    for (int b = 0; b < 3; b++) rc->rng[b * 4] = 12345, rc->rng[b * 4 + 1] = 0, rc->rng[b * 4 + 2] = 2, rc->rng[b * 4 + 3] = 100 + b;
}

/* With k above the candidates every one is sampled: the positives and negatives are exactly the host
 * assigner's (plus the gts), with its gt's label and target (to the
 * last bit of the host coder's logf). */
START_TEST(equals_host_assigner) {
    tgc_cpu *c = new_cpu(2);
    rnd_case rc;
    for (int trial = 0; trial < 6; trial++) {
        rnd_fill(&rc);
        int low = trial % 2, add_gt = trial / 2 % 2;
        tgc_attrs a = trial < 4 ? rcnn_attrs(256, 0.5, 0.5, 0.5, low, add_gt, 5) : rcnn_attrs(256, 0.7, 0.3, 0.3, low, add_gt, 5);
        a.pos_fraction = 0.5;
        rcnn_out o = run(c, &a, 3, 40, 6, rc.prop, rc.cnt, rc.gtb, rc.gtl, rc.rng);
        tgc_det_assigner_cfg ac;
        tgc_det_assigner_cfg_default(&ac, (float)a.pos_iou_thr, (float)a.neg_iou_thr);
        ac.min_pos_iou = (float)a.min_pos_iou, ac.match_low_quality = low;
        tgc_det_coder_cfg cc;
        tgc_det_coder_cfg_default(&cc);
        for (int q = 0; q < 4; q++) cc.stds[q] = (float)a.target_stds[q];
        for (int b = 0; b < 3; b++) {
            uint8_t valid[6];
            int ng = 0;
            for (int g = 0; g < 6; g++) valid[g] = rc.gtl[b * 6 + g] >= 0, ng += valid[g];
            tgc_det_gt gt = {rc.gtb + b * 24, rc.gtl + b * 6, valid, 6, NULL, 0};
            int32_t inds[40];
            tgc_det_max_iou_assign(&ac, rc.prop + b * 160, NULL, rc.cnt[b], &gt, inds, NULL);
            int64_t npos = add_gt ? ng : 0, nneg = 0;
            for (int i = 0; i < rc.cnt[b]; i++) npos += inds[i] > 0, nneg += inds[i] == 0;
            ck_assert_msg(npos <= 128 && npos + nneg <= 256, "the case must fit the quota");
            for (int i = 0; i < rc.cnt[b]; i++) {
                const float *p = rc.prop + (b * 40 + i) * 4;
                int64_t r = inds[i] > 0 ? find_row(&o, 256, b, 0, npos, p) : inds[i] == 0 ? find_row(&o, 256, b, npos, npos + nneg, p) : -1;
                if (inds[i] < 0) {
                    ck_assert_msg(find_row(&o, 256, b, 0, 256, p) < 0, "trial %d image %d: ignored proposal %d sampled", trial, b, i);
                    continue;
                }
                ck_assert_msg(r >= 0, "trial %d image %d: proposal %d (gt_inds %d) not in its rows", trial, b, i, inds[i]);
                if (inds[i] > 0) {
                    ck_assert_int_eq(o.lab[b * 256 + r], rc.gtl[b * 6 + inds[i] - 1]);
                    float want[4];
                    tgc_det_delta_encode(&cc, p, rc.gtb + (b * 6 + inds[i] - 1) * 4, 1, want);
                    for (int q = 0; q < 4; q++) /* the host coder's logf may differ from log() in the last bit */
                        ck_assert(fabsf(want[q] - o.tgt[(b * 256 + r) * 4 + q]) <= 1e-6f * fmaxf(1.f, fabsf(want[q])));
                } else {
                    ck_assert_int_eq(o.lab[b * 256 + r], 5);
                }
            }
            for (int64_t r = npos + nneg; r < 256; r++) ck_assert_int_eq(o.lab[b * 256 + r], -1);
        }
        out_free(&o);
    }
    tgc_cpu_free(c);
}
END_TEST

/* Many positives and negatives: the quota, the keying and the same bytes from 1, 2 and 3 threads. */
START_TEST(sampler_counts_keys_threads) {
    rnd_case rc;
    rnd_fill(&rc);
    tgc_attrs a = rcnn_attrs(16, 0.5, 0.5, 0.5, 0, 1, 5);
    tgc_cpu *c1 = new_cpu(1), *c2 = new_cpu(2), *c3 = new_cpu(3);
    rcnn_out o1 = run(c1, &a, 3, 40, 6, rc.prop, rc.cnt, rc.gtb, rc.gtl, rc.rng);
    rcnn_out o2 = run(c2, &a, 3, 40, 6, rc.prop, rc.cnt, rc.gtb, rc.gtl, rc.rng);
    rcnn_out o3 = run(c3, &a, 3, 40, 6, rc.prop, rc.cnt, rc.gtb, rc.gtl, rc.rng);
    ck_assert(!memcmp(o1.rois, o2.rois, sizeof(float) * 48 * 5) && !memcmp(o1.rois, o3.rois, sizeof(float) * 48 * 5));
    ck_assert(!memcmp(o1.lab, o2.lab, sizeof(int32_t) * 48) && !memcmp(o1.lab, o3.lab, sizeof(int32_t) * 48));
    ck_assert(!memcmp(o1.tgt, o2.tgt, sizeof(float) * 48 * 4) && !memcmp(o1.tgt, o3.tgt, sizeof(float) * 48 * 4));
    /* image 0 has 40 counted proposals: 4 positives (quota int(16 * 0.25)), 12 negatives, no padding */
    for (int r = 0; r < 16; r++) ck_assert_msg(r < 4 ? o1.lab[r] >= 0 && o1.lab[r] < 5 : o1.lab[r] == 5, "row %d label %d", r, o1.lab[r]);
    /* another position: other rows; the same rng again: the same rows */
    rc.rng[3] += 1000;
    rcnn_out o4 = run(c1, &a, 3, 40, 6, rc.prop, rc.cnt, rc.gtb, rc.gtl, rc.rng);
    ck_assert(memcmp(o1.rois, o4.rois, sizeof(float) * 16 * 5) != 0);
    ck_assert(!memcmp(o1.rois + 16 * 5, o4.rois + 16 * 5, sizeof(float) * 32 * 5));
    rc.rng[3] -= 1000, rc.rng[2] += 1; /* another epoch */
    rcnn_out o5 = run(c1, &a, 3, 40, 6, rc.prop, rc.cnt, rc.gtb, rc.gtl, rc.rng);
    ck_assert(memcmp(o1.rois, o5.rois, sizeof(float) * 16 * 5) != 0);
    out_free(&o1), out_free(&o2), out_free(&o3), out_free(&o4), out_free(&o5);
    tgc_cpu_free(c1), tgc_cpu_free(c2), tgc_cpu_free(c3);
}
END_TEST

/* 20 positives (one gt, proposals equal to it), quota 4: over 1000 seeds each is drawn about 200 times; and
 * with 2 negatives of 3 places, each negative about 667 times. */
START_TEST(sampler_uniform) {
    tgc_cpu *c = new_cpu(1);
    float prop[23 * 4], gtb[] = {10, 10, 30, 30};
    for (int i = 0; i < 23; i++)
        for (int q = 0; q < 4; q++) prop[i * 4 + q] = i < 20 ? gtb[q] : 100.f + (float)(i * 10 + q % 2 * 5 + q / 2 * 5);
    int32_t gtl[] = {0}, cnt[] = {23}, rng[4];
    tgc_attrs a = rcnn_attrs(6, 0.5, 0.5, 0.5, 0, 0, 1);
    a.pos_fraction = 0.75; /* quota int(4.5) = 4 */
    int hits[23] = {0};
    for (int s = 0; s < 1000; s++) {
        rng[0] = s * 7919, rng[1] = 0, rng[2] = 0, rng[3] = s;
        rcnn_out o = run(c, &a, 1, 23, 1, prop, cnt, gtb, gtl, rng);
        ck_assert(o.lab[0] == 0 && o.lab[3] == 0 && o.lab[4] == 1 && o.lab[5] == 1);
        /* positives are the same box: tell them apart by nothing but their count; negatives by their box */
        for (int r = 4; r < 6; r++) hits[(int)((o.rois[r * 5 + 1] - 100.f) / 10.f)]++;
        out_free(&o);
    }
    for (int i = 20; i < 23; i++) ck_assert_msg(hits[i] > 560 && hits[i] < 780, "negative %d drawn %d times of 1000", i, hits[i]);
    /* positives: distinct boxes (shifted by less than the IoU margin) */
    for (int i = 0; i < 20; i++) prop[i * 4] = gtb[0] + (float)i * 0.01f;
    memset(hits, 0, sizeof hits);
    for (int s = 0; s < 1000; s++) {
        rng[0] = s * 7919, rng[1] = 0, rng[2] = 0, rng[3] = s;
        rcnn_out o = run(c, &a, 1, 23, 1, prop, cnt, gtb, gtl, rng);
        for (int r = 0; r < 4; r++) hits[(int)lroundf((o.rois[r * 5 + 1] - gtb[0]) / 0.01f)]++;
        out_free(&o);
    }
    for (int i = 0; i < 20; i++) ck_assert_msg(hits[i] > 130 && hits[i] < 270, "positive %d drawn %d times of 1000", i, hits[i]);
    tgc_cpu_free(c);
}
END_TEST

START_TEST(bad_operands) {
    tgc_cpu *c = new_cpu(1);
    float prop[8] = {0, 0, 5, 5, 1, 1, 6, 6}, gtb[4] = {0, 0, 5, 5}, rois[8 * 5], tgt[8 * 4];
    int32_t gtl[1] = {3}, cnt[1] = {2}, rng[4] = {0}, lab[8];
    tgc_attrs a = rcnn_attrs(8, 0.5, 0.5, 0.5, 0, 1, 3);
    tgc_type in[] = {tu_t(TGC_F32, tgc_shape_make(3, (int64_t[]){1, 2, 4})), tu_t(TGC_I32, tgc_shape1(1)),
                     tu_t(TGC_F32, tgc_shape_make(3, (int64_t[]){1, 1, 4})), tu_t(TGC_I32, tgc_shape2(1, 1)),
                     tu_t(TGC_I32, tgc_shape2(1, 4))};
    tgc_type out[] = {tu_f2(8, 5), tu_t(TGC_I32, tgc_shape1(8)), tu_f2(8, 4)};
    void *ip[] = {prop, cnt, gtb, gtl, rng}, *op[] = {rois, lab, tgt};
    tu_exec_fails(c, TGC_OP_RCNN_TARGETS, &a, 5, in, ip, 3, out, op, "gt_labels[0,0]=3 is not a class");
    gtl[0] = 1, cnt[0] = 3;
    tu_exec_fails(c, TGC_OP_RCNN_TARGETS, &a, 5, in, ip, 3, out, op, "count[0]=3 is outside [0, 2]");
    cnt[0] = 2;
    out[1] = tu_t(TGC_I32, tgc_shape1(7));
    tu_exec_fails(c, TGC_OP_RCNN_TARGETS, &a, 5, in, ip, 3, out, op, "disagree");
    tgc_cpu_free(c);
}
END_TEST

int main(void) {
    Suite *s = suite_create("rcnn_targets");
    TCase *tc = tcase_create("rcnn_targets");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, mmdet_assigner_vector);
    tcase_add_test(tc, roi_head_hand_case);
    tcase_add_test(tc, low_quality_hand_case);
    tcase_add_test(tc, equals_host_assigner);
    tcase_add_test(tc, sampler_counts_keys_threads);
    tcase_add_test(tc, sampler_uniform);
    tcase_add_test(tc, bad_operands);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
