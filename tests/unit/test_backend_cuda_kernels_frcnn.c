/* tests/unit/test_backend_cuda_kernels_frcnn.c - Faster R-CNN's kernels (backend/cuda/kernels/frcnn.cuh) run on
 * the host through kshim.h against the CPU kernels on the same random data, as the other kernel tests do
 * (compiled with -ffp-contract=off). Expected and asserted: anchor_decode bit for bit (two images, clipped,
 * min_bbox_size, index -1; an index the CPU refuses gives NaN), class_box_targets bit for bit (positives,
 * negatives, padding, the normaliser), softmax_cross_entropy_masked within relative 1e-6 and its backward
 * within 1e-6 of the largest gradient (the row sums in another order), padding rows 0; accuracy_masked bit for bit
 * (ties included). */
#include "backend/cuda/kernels/frcnn.cuh"

#include "tests/unit/test_backend_cpu_util.h"

static tgc_cpu *cpu;

static void setup(void) {
    tgc_err err;
    cpu = tgc_cpu_new(1, 1, &err);
    ck_assert_msg(cpu, "%s", err.msg);
    tu_seed(20261207);
}

static void teardown(void) { tgc_cpu_free(cpu); }

static void same_bytes(const void *got, const void *want, size_t bytes, const char *what) {
    for (size_t i = 0; i < bytes; i += 4)
        ck_assert_msg(!memcmp((const char *)got + i, (const char *)want + i, 4), "%s: element %zu differs from the CPU's", what,
                      i / 4);
}

START_TEST(anchor_decode_equals_cpu_bitwise) {
    int64_t B = 2, k = 300, h = 13, w = 21, nb = 3, n = h * w * nb;
    tgc_attrs at = tgc_attrs_default();
    at.stride[0] = at.stride[1] = 16;
    at.shape = tgc_shape_make(3, (int64_t[]){h, w, nb});
    const double base[] = {-45.254833984375, -22.6274166107177734375, 45.254833984375, 22.6274166107177734375, -32, -32, 32, 32,
                           -22.6274166107177734375, -45.254833984375, 22.6274166107177734375, 45.254833984375};
    for (int i = 0; i < 12; i++) at.base_anchors[i] = base[i];
    at.min_bbox_size = 1.5;
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)(B * k));
    for (int64_t i = 0; i < B * k; i++) idx[i] = i % 17 == 5 ? -1 : (int32_t)(tu_next() % (uint64_t)n);
    float *d = tu_rand(B * k * 4, -4, 4), *s = tu_rand(B * k, 0, 1), ms[] = {180, 300, 208, 120};
    float *b_cpu = tu_zeros(B * k * 4), *b_gpu = tu_zeros(B * k * 4), *s_cpu = tu_zeros(B * k), *s_gpu = tu_zeros(B * k);
    tgc_type bt = tu_t(TGC_F32, tgc_shape_make(3, (int64_t[]){B, k, 4}));
    tgc_type in[] = {tu_t(TGC_I32, tgc_shape2(B, k)), bt, tu_f2(B, k), tu_f2(B, 2)}, out[] = {bt, tu_f2(B, k)};
    void *ip[] = {idx, d, s, ms}, *op[] = {b_cpu, s_cpu};
    tu_exec(cpu, TGC_OP_ANCHOR_DECODE, &at, 4, in, ip, 2, out, op);
    tgc_k_anchor_args a;
    memset(&a, 0, sizeof a);
    a.idx = idx, a.deltas = d, a.scores = s, a.img_shape = ms, a.boxes = b_gpu, a.out_scores = s_gpu;
    a.count = B * k, a.per_image = k, a.grid_w = w, a.n_base = nb, a.n_anchors = n;
    a.stride_h = a.stride_w = 16, a.min_size = 1.5f, a.max_ratio = (float)fabs(log(at.wh_ratio_clip)), a.clip = 1;
    for (int i = 0; i < 4; i++) a.means[i] = 0, a.stds[i] = 1;
    for (int i = 0; i < 12; i++) a.base[i] = (float)base[i];
    TGC_SHIM_LAUNCH(tgc_k_anchor_decode, tgc_k_geom_elems(B * k, 2), a);
    same_bytes(b_gpu, b_cpu, sizeof(float) * (size_t)(B * k * 4), "anchor_decode boxes");
    same_bytes(s_gpu, s_cpu, sizeof(float) * (size_t)(B * k), "anchor_decode scores");
    int dropped = 0;
    for (int64_t i = 0; i < B * k; i++) dropped += isinf(s_cpu[i]) && idx[i] >= 0;
    ck_assert_int_gt(dropped, 0);
    idx[3] = (int32_t)n; /* refused by the CPU: NaN here */
    TGC_SHIM_LAUNCH(tgc_k_anchor_decode, tgc_k_geom_elems(B * k, 2), a);
    ck_assert(isnan(b_gpu[12]) && isnan(s_gpu[3]));
    free(idx), free(d), free(s), free(b_cpu), free(b_gpu), free(s_cpu), free(s_gpu);
    printf("cuda-kernels: %-46s bitwise (%d boxes dropped)\n", "anchor_decode", dropped);
}
END_TEST

START_TEST(class_box_targets_equals_cpu_bitwise) {
    int64_t n = 600, C = 7, D = 4;
    int32_t *lab = malloc(sizeof(int32_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) lab[i] = (int32_t)(tu_next() % (uint64_t)(C + 2)) - 1; /* -1 .. C */
    float *t = tu_rand(n * D, -2, 2), *y_cpu = tu_zeros(n * C * D), *w_cpu = tu_zeros(n * C * D), avg_cpu = 0;
    float *y_gpu = tu_zeros(n * C * D), *w_gpu = tu_zeros(n * C * D), avg_gpu = 0;
    tgc_attrs at = tgc_attrs_default();
    at.num_classes = C;
    tgc_type in[] = {tu_t(TGC_I32, tgc_shape1(n)), tu_f2(n, D)}, out[] = {tu_f2(n, C * D), tu_f2(n, C * D), tu_f1(1)};
    void *ip[] = {lab, t}, *op[] = {y_cpu, w_cpu, &avg_cpu};
    tu_exec(cpu, TGC_OP_CLASS_BOX_TARGETS, &at, 2, in, ip, 3, out, op);
    tgc_k_cbt_args a = {lab, t, y_gpu, w_gpu, &avg_gpu, n, D, C};
    TGC_SHIM_LAUNCH(tgc_k_class_box_targets, tgc_k_geom_elems(n * C * D, 2), a);
    same_bytes(y_gpu, y_cpu, sizeof(float) * (size_t)(n * C * D), "class_box_targets target");
    same_bytes(w_gpu, w_cpu, sizeof(float) * (size_t)(n * C * D), "class_box_targets weight");
    same_bytes(&avg_gpu, &avg_cpu, 4, "class_box_targets avg_factor");
    free(lab), free(t), free(y_cpu), free(w_cpu), free(y_gpu), free(w_gpu);
    printf("cuda-kernels: %-46s bitwise\n", "class_box_targets");
}
END_TEST

START_TEST(softmax_ce_masked_close_to_cpu) {
    int64_t n = 1000, c = 81;
    int32_t *y = malloc(sizeof(int32_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) y[i] = i % 9 == 4 ? -1 : (int32_t)(tu_next() % (uint64_t)c);
    float *x = tu_rand(n * c, -6, 6), l_cpu, l_gpu, dl = 0.75f, *d_cpu = tu_zeros(n * c), *d_gpu = tu_zeros(n * c);
    double *ws = calloc((size_t)n, sizeof(double));
    tgc_attrs at = tgc_attrs_default();
    at.alpha = 1.25;
    tgc_type in[] = {tu_f2(n, c), tu_t(TGC_I32, tgc_shape1(n))}, lt = tu_f0(), bin[] = {lt, in[0], in[1]};
    void *ip[] = {x, y}, *op[] = {&l_cpu}, *bip[] = {&dl, x, y}, *bop[] = {d_cpu};
    tu_exec(cpu, TGC_OP_SOFTMAX_CE_MASKED, &at, 2, in, ip, 1, &lt, op);
    tu_exec(cpu, TGC_OP_SOFTMAX_CE_MASKED_BWD, &at, 3, bin, bip, 1, &in[0], bop);
    tgc_k_ce_args a = {x, y, ws, &l_gpu, &dl, d_gpu, n, c, 0, at.alpha, NULL};
    TGC_SHIM_LAUNCH(tgc_k_softmax_ce_masked_rows, tgc_k_geom_warp_rows(n, 3), a);
    TGC_SHIM_LAUNCH(tgc_k_softmax_ce_masked_mean, tgc_k_geom_one_block(), a);
    TGC_SHIM_LAUNCH(tgc_k_softmax_ce_masked_bwd, tgc_k_geom_warp_rows(n, 3), a);
    double e = fabs((double)l_gpu - l_cpu) / fabs((double)l_cpu), gmax = 0, ge = 0;
    ck_assert_msg(e <= 1e-6, "loss %.9g, the CPU's %.9g", (double)l_gpu, (double)l_cpu);
    for (int64_t i = 0; i < n * c; i++) gmax = fmax(gmax, fabs(d_cpu[i]));
    for (int64_t i = 0; i < n * c; i++) {
        ge = fmax(ge, fabs((double)d_gpu[i] - d_cpu[i]) / gmax);
        if (y[i / c] < 0) ck_assert(d_gpu[i] == 0);
    }
    ck_assert_msg(ge <= 1e-6, "gradient differs from the CPU's by %.3g of its largest element", ge);
    free(y), free(x), free(d_cpu), free(d_gpu), free(ws);
    printf("cuda-kernels: %-46s loss rel err %.3g; bwd %.3g\n", "softmax_cross_entropy_masked (+bwd)", e, ge);
}
END_TEST

START_TEST(accuracy_masked_equals_cpu_bitwise) {
    int64_t n = 700, c = 11;
    int32_t *y = malloc(sizeof(int32_t) * (size_t)n);
    float *x = tu_rand(n * c, -2, 2), a_cpu = -1, a_gpu = -2;
    for (int64_t i = 0; i < n * c; i++) x[i] = roundf(x[i]); /* many ties */
    for (int64_t i = 0; i < n; i++) y[i] = i % 7 == 2 ? -1 : (int32_t)(tu_next() % (uint64_t)c);
    tgc_attrs at = tgc_attrs_default();
    tgc_type in[] = {tu_f2(n, c), tu_t(TGC_I32, tgc_shape1(n))}, lt = tu_f0();
    void *ip[] = {x, y}, *op[] = {&a_cpu};
    tu_exec(cpu, TGC_OP_ACCURACY_MASKED, &at, 2, in, ip, 1, &lt, op);
    tgc_k_ce_args a = {x, y, NULL, &a_gpu, NULL, NULL, n, c, 0, 1, NULL};
    TGC_SHIM_LAUNCH(tgc_k_accuracy_masked, tgc_k_geom_one_block(), a);
    same_bytes(&a_gpu, &a_cpu, 4, "accuracy_masked");
    free(y), free(x);
    printf("cuda-kernels: %-46s bitwise (%.4g%%)\n", "accuracy_masked", (double)a_cpu);
}
END_TEST

int main(void) {
    Suite *s = suite_create("backend_cuda_kernels_frcnn");
    TCase *tc = tcase_create("frcnn");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, anchor_decode_equals_cpu_bitwise);
    tcase_add_test(tc, class_box_targets_equals_cpu_bitwise);
    tcase_add_test(tc, softmax_ce_masked_close_to_cpu);
    tcase_add_test(tc, accuracy_masked_equals_cpu_bitwise);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
