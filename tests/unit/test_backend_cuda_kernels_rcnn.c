/* tests/unit/test_backend_cuda_kernels_rcnn.c - the rcnn_targets kernel (backend/cuda/kernels/det.cuh) against the
 * CPU kernel (backend/cpu/cpu_roi.c): each instruction goes the executor's way (native_marshal.c's arguments,
 * geometry and workspace, run on the host through kshim.h by tgc_cuda_native_host_run, grids capped at 8 blocks
 * so that 11 images turn the grid-stride loop). Expected and asserted: rois, labels and bbox_targets bit for bit
 * (the same rows chosen, in the same order) with the RoI head's and the RPN's settings, low-quality matching on
 * and off, gts added or not, a sampler quota that binds and one that leaves padding, counts of 0 and P, padding
 * gt slots, one image without any gt. */
#include "backend/cuda/native_host.h"

#include "tests/unit/test_backend_cpu_util.h"

static tgc_cpu *cpu;

static void setup(void) {
    tgc_err err;
    cpu = tgc_cpu_new(2, 1, &err);
    ck_assert_msg(cpu, "%s", err.msg);
    tu_seed(20261206);
}

static void teardown(void) { tgc_cpu_free(cpu); }

static void gpu_exec(const tgc_attrs *at, const tgc_type *in_t, void **in, const tgc_type *out_t, void **out) {
    tgc_cpu_op o = {TGC_OP_RCNN_TARGETS, at, 5, 3, in_t, out_t, (void *const *)in, (void *const *)out};
    ck_assert_msg(tgc_cuda_native_supports(&o), "the kernels do not take these operands");
    ck_assert_int_eq(tgc_cuda_native_class(TGC_OP_RCNN_TARGETS), TGC_NATIVE_EXACT);
    uint64_t wsb = tgc_cuda_native_workspace(&o);
    ck_assert(wsb > 0);
    void *ws = malloc(wsb);
    memset(ws, 0xff, wsb);
    tgc_err err = {{0}};
    int launches = 0;
    ck_assert_msg(tgc_cuda_native_host_run(&o, 1, ws, TGC_MT_CHUNK, &launches, &err) == 0, "rcnn_targets: %s", err.msg);
    ck_assert_int_eq(launches, 1);
    free(ws);
}

static void rnd_box(float *b, double s) {
    double x = tu_unif(0, 200), y = tu_unif(0, 200), w = tu_unif(4, s), h = tu_unif(4, s);
    b[0] = (float)x, b[1] = (float)y, b[2] = (float)(x + w), b[3] = (float)(y + h);
}

typedef struct rc_case {
    int64_t b, p, g, k;
    double pos, neg, min_pos, frac;
    int low, add_gt;
} rc_case;

START_TEST(rcnn_targets_equals_cpu_bitwise) {
    static const rc_case cases[] = {
        {3, 300, 20, 64, 0.5, 0.5, 0.5, 0.25, 0, 1},  /* the RoI head; the quota binds */
        {3, 300, 20, 512, 0.5, 0.5, 0.5, 0.25, 0, 1}, /* padding rows */
        {2, 250, 9, 256, 0.7, 0.3, 0.3, 0.5, 1, 0},   /* the RPN's assigner */
        {11, 40, 5, 32, 0.5, 0.4, 0.2, 0.25, 1, 1},   /* grid-stride over images */
    };
    for (size_t s = 0; s < sizeof cases / sizeof *cases; s++) {
        const rc_case *c = &cases[s];
        const int64_t B = c->b, P = c->p, G = c->g, n = B * c->k;
        float *prop = malloc(sizeof(float) * (size_t)(B * P * 4)), *gtb = malloc(sizeof(float) * (size_t)(B * G * 4));
        int32_t *gtl = malloc(sizeof(int32_t) * (size_t)(B * G)), *cnt = malloc(sizeof(int32_t) * (size_t)B);
        int32_t *rng = malloc(sizeof(int32_t) * (size_t)(B * 4));
        for (int64_t i = 0; i < B * G; i++) {
            rnd_box(gtb + i * 4, 60);
            gtl[i] = (i % G) % 5 == 4 || i / G == 1 ? -1 : (int32_t)(tu_next() % 7); /* image 1: no gt */
        }
        for (int64_t i = 0; i < B * P; i++) {
            if (i % 4) { /* around a gt of its image */
                const float *g = gtb + (i / P * G + (int64_t)(tu_next() % (uint64_t)G)) * 4;
                for (int q = 0; q < 4; q++) prop[i * 4 + q] = g[q] + (float)tu_unif(-6, 6);
            } else {
                rnd_box(prop + i * 4, 80);
            }
            if (i % 37 == 5) memcpy(prop + i * 4, prop + (i - 1) * 4, sizeof(float) * 4); /* equal IoUs */
        }
        for (int64_t b = 0; b < B; b++) {
            cnt[b] = b % 3 == 0 ? (int32_t)P : b % 3 == 1 ? (int32_t)(P / 3) : 0;
            rng[b * 4] = (int32_t)(tu_next() & 0x7fffffff), rng[b * 4 + 1] = 1, rng[b * 4 + 2] = 3, rng[b * 4 + 3] = (int32_t)b;
        }
        tgc_attrs a = tgc_attrs_default();
        a.k = c->k, a.pos_fraction = c->frac, a.pos_iou_thr = c->pos, a.neg_iou_thr = c->neg, a.min_pos_iou = c->min_pos;
        a.match_low_quality = c->low, a.add_gt_as_proposals = c->add_gt, a.num_classes = 7;
        for (int q = 0; q < 4; q++) a.target_means[q] = q == 1 ? 0.05 : 0, a.target_stds[q] = q < 2 ? 0.1 : 0.2;
        tgc_type in[] = {tu_t(TGC_F32, tgc_shape_make(3, (int64_t[]){B, P, 4})), tu_t(TGC_I32, tgc_shape1(B)),
                         tu_t(TGC_F32, tgc_shape_make(3, (int64_t[]){B, G, 4})), tu_t(TGC_I32, tgc_shape2(B, G)),
                         tu_t(TGC_I32, tgc_shape2(B, 4))};
        tgc_type out[] = {tu_f2(n, 5), tu_t(TGC_I32, tgc_shape1(n)), tu_f2(n, 4)};
        float *rois_c = tu_zeros(n * 5), *tgt_c = tu_zeros(n * 4), *rois_g = tu_rand(n * 5, -1, 1), *tgt_g = tu_rand(n * 4, -1, 1);
        int32_t *lab_c = calloc((size_t)n, 4), *lab_g = malloc(sizeof(int32_t) * (size_t)n);
        memset(lab_g, 0x7f, sizeof(int32_t) * (size_t)n);
        void *ip[] = {prop, cnt, gtb, gtl, rng}, *oc[] = {rois_c, lab_c, tgt_c}, *og[] = {rois_g, lab_g, tgt_g};
        tu_exec(cpu, TGC_OP_RCNN_TARGETS, &a, 5, in, ip, 3, out, oc);
        gpu_exec(&a, in, ip, out, og);
        int64_t pos = 0, neg = 0, pad = 0;
        for (int64_t r = 0; r < n; r++) {
            ck_assert_msg(lab_g[r] == lab_c[r], "case %zu: labels[%lld] is %d, the CPU's %d", s, (long long)r, lab_g[r], lab_c[r]);
            ck_assert_msg(!memcmp(rois_g + r * 5, rois_c + r * 5, sizeof(float) * 5), "case %zu: rois row %lld differs", s, (long long)r);
            ck_assert_msg(!memcmp(tgt_g + r * 4, tgt_c + r * 4, sizeof(float) * 4), "case %zu: bbox_targets row %lld differs", s,
                          (long long)r);
            pos += lab_c[r] >= 0 && lab_c[r] < 7, neg += lab_c[r] == 7, pad += lab_c[r] == -1;
        }
        ck_assert_msg(pos > 0 && neg > 0, "case %zu must sample both classes", s);
        printf("cuda-kernels: rcnn_targets case %zu: %lld positive, %lld negative, %lld padding rows, bitwise\n", s, (long long)pos,
               (long long)neg, (long long)pad);
        free(prop), free(gtb), free(gtl), free(cnt), free(rng);
        free(rois_c), free(tgt_c), free(rois_g), free(tgt_g), free(lab_c), free(lab_g);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("backend_cuda_kernels_rcnn");
    TCase *tc = tcase_create("rcnn");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, rcnn_targets_equals_cpu_bitwise);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
