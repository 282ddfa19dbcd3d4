/* tests/unit/test_backend_cuda_kernels_det.c - the detection kernels (backend/cuda/kernels/det.cuh) run on the
 * host through kshim.h against the CPU kernels (backend/cpu/cpu_det.c) on the same random data, as
 * test_backend_cuda_kernels.c does for the others (compiled with -ffp-contract=off).
 * Expected and asserted: roi_align and its gathered backward bit for bit (aligned or not, fixed and adaptive
 * sampling, a level mask, RoIs partly outside the map, tiny and reversed ones, several grid-stride rounds);
 * topk and nms_fixed bit for bit (ties, NaN, -inf padding, class ids, max_out below the kept count);
 * smooth_l1_bwd bit for bit, smooth_l1 within relative 1e-6 (another summation order); box_iou, box_encode,
 * box_decode, gather and giou_loss_bwd bit for bit, giou_loss within relative 1e-6; a RoI the CPU refuses gives NaN rows and no gradient. */
#include "backend/cuda/kernels/det.cuh"

#include "tests/unit/test_backend_cpu_util.h"

static tgc_cpu *cpu;

static void setup(void) {
    tgc_err err;
    cpu = tgc_cpu_new(1, 1, &err);
    ck_assert_msg(cpu, "%s", err.msg);
    tu_seed(20261206);
}

static void teardown(void) { tgc_cpu_free(cpu); }

static void same_bytes(const void *got, const void *want, size_t bytes, const char *what) {
    for (size_t i = 0; i < bytes; i += 4)
        ck_assert_msg(!memcmp((const char *)got + i, (const char *)want + i, 4), "%s: element %zu differs from the CPU's", what,
                      i / 4);
}

/* RoIs over a map of h x w feature pixels at `scale`: partly outside, tiny, some reversed (x2 < x1). */
static float *det_rois(int64_t k, int64_t n, double scale, int64_t h, int64_t w) {
    float *r = malloc(sizeof(float) * (size_t)k * 5);
    for (int64_t i = 0; i < k; i++) {
        double W = (double)w / scale, H = (double)h / scale;
        double x1 = tu_unif(-0.2 * W, W), y1 = tu_unif(-0.2 * H, H), bw = tu_unif(0.05, 0.9) * W, bh = tu_unif(0.05, 0.9) * H;
        if (i % 7 == 3) bw = tu_unif(0, 0.5) / scale;  /* under a pixel */
        if (i % 11 == 5) bw = -bw * 0.1;               /* reversed */
        r[i * 5] = (float)(tu_next() % (uint64_t)n);
        r[i * 5 + 1] = (float)x1, r[i * 5 + 2] = (float)y1, r[i * 5 + 3] = (float)(x1 + bw), r[i * 5 + 4] = (float)(y1 + bh);
    }
    return r;
}

typedef struct roi_case {
    int64_t h, w, out, sr;
    int aligned;
    double scale;
    int64_t level;
} roi_case;

START_TEST(roi_align_equals_cpu_bitwise) {
    static const roi_case cases[] = {{9, 13, 7, 0, 1, 0.25, -1}, {9, 13, 2, 2, 1, 1.0, -1}, {9, 13, 3, 0, 0, 0.5, -1},
                                     {9, 13, 7, 0, 1, 0.125, 1}, {9, 13, 5, 1, 0, 0.25, 0}, {37, 41, 7, 0, 1, 0.25, -1},
                                     {20, 50, 3, 2, 0, 0.5, -1}};
    int64_t n = 2, c = 3, k = 23;
    for (size_t s = 0; s < sizeof cases / sizeof *cases; s++) {
        const roi_case *rc = &cases[s];
        const int64_t h = rc->h, w = rc->w; /* the larger maps: several 16 x 16 tiles of the backward */
        tgc_attrs at = tgc_attrs_default();
        at.output_size[0] = at.output_size[1] = rc->out;
        at.sampling_ratio = rc->sr, at.aligned = rc->aligned, at.spatial_scale = rc->scale;
        if (rc->level >= 0) at.roi_level = rc->level, at.num_levels = 4, at.finest_scale = 8;
        int64_t ny = k * c * rc->out * rc->out, nx = n * c * h * w;
        float *x = tu_rand(nx, -2, 2), *rois = det_rois(k, n, rc->scale, h, w), *dy = tu_rand(ny, -1, 1);
        float *y_cpu = tu_zeros(ny), *y_gpu = tu_zeros(ny), *dx_cpu = tu_zeros(nx), *dx_gpu = tu_zeros(nx);
        tgc_type xt = tu_f4(n, c, h, w), rt = tu_f2(k, 5), yt = tu_f4(k, c, rc->out, rc->out);
        tgc_type fin[] = {xt, rt}, bin[] = {yt, rt};
        void *fi[] = {x, rois}, *fo[] = {y_cpu}, *bi[] = {dy, rois}, *bo[] = {dx_cpu};
        tu_exec(cpu, TGC_OP_ROI_ALIGN, &at, 2, fin, fi, 1, &yt, fo);
        at.shape = xt.shape;
        tu_exec(cpu, TGC_OP_ROI_ALIGN_BWD, &at, 2, bin, bi, 1, &xt, bo);
        tgc_k_roi_args fa = {x, rois, NULL, y_gpu, n, c, h, w, k, rc->out, rc->out, (float)at.spatial_scale,
                             (float)at.finest_scale, (int32_t)at.sampling_ratio, at.aligned, (int32_t)at.roi_level,
                             (int32_t)at.num_levels};
        tgc_k_roi_args ba = fa;
        ba.x = NULL, ba.dy = dy, ba.y = dx_gpu;
        TGC_SHIM_LAUNCH(tgc_k_roi_align, tgc_k_geom_elems(ny, 3), fa);
        TGC_SHIM_LAUNCH(tgc_k_roi_align_bwd, tgc_k_geom_roi_bwd(n * c, h, w, 2), ba);
        same_bytes(y_gpu, y_cpu, sizeof(float) * (size_t)ny, "roi_align");
        same_bytes(dx_gpu, dx_cpu, sizeof(float) * (size_t)nx, "roi_align_bwd");
        double s1 = 0;
        for (int64_t i = 0; i < nx; i++) s1 += fabs(dx_cpu[i]);
        ck_assert(s1 > 0);
        free(x), free(rois), free(dy), free(y_cpu), free(y_gpu), free(dx_cpu), free(dx_gpu);
    }
    printf("cuda-kernels: %-46s bitwise, %d cases\n", "roi_align (+bwd, gathered)", (int)(sizeof cases / sizeof *cases));
}
END_TEST

/* What the CPU refuses (a batch index outside [0, n)), the kernel marks: NaN rows, no gradient. */
START_TEST(roi_align_bad_batch_index_is_nan) {
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, rois[] = {0, 0, 0, 1, 1, 2, 0, 0, 1, 1}, y[8], dy[8] = {1, 1, 1, 1, 1, 1, 1, 1}, dx[8];
    tgc_k_roi_args a = {x, rois, NULL, y, 2, 1, 2, 2, 2, 2, 2, 1.f, 56.f, 2, 1, -1, 1};
    TGC_SHIM_LAUNCH(tgc_k_roi_align, tgc_k_geom_elems(8, 0), a);
    ck_assert(y[0] == 1.f && isnan(y[4]) && isnan(y[7]));
    a.x = NULL, a.dy = dy, a.y = dx;
    TGC_SHIM_LAUNCH(tgc_k_roi_align_bwd, tgc_k_geom_roi_bwd(2, 2, 2, 0), a);
    ck_assert(dx[0] == 3.0625f && dx[4] == 0 && dx[7] == 0);
}
END_TEST

START_TEST(topk_equals_cpu_bitwise) {
    int64_t rows = 3, n = 300, k = 40;
    float *x = tu_rand(rows * n, -1, 1), v_cpu[120], v_gpu[120];
    int32_t i_cpu[120], i_gpu[120];
    for (int64_t i = 0; i < rows * n; i += 5) x[i] = (float)((int)(x[i] * 4)) / 4; /* ties */
    x[7] = NAN, x[n + 9] = INFINITY, x[2 * n] = -INFINITY;
    tgc_attrs at = tgc_attrs_default();
    at.k = k;
    tgc_type in = tu_f2(rows, n), out[] = {tu_f2(rows, k), tu_t(TGC_I32, tgc_shape2(rows, k))};
    void *ip[] = {x}, *op[] = {v_cpu, i_cpu};
    tu_exec(cpu, TGC_OP_TOPK, &at, 1, &in, ip, 2, out, op);
    tgc_k_topk_args a = {x, v_gpu, i_gpu, rows, n, k};
    TGC_SHIM_LAUNCH(tgc_k_topk, tgc_k_geom_row_blocks(rows, 2), a);
    same_bytes(v_gpu, v_cpu, sizeof v_cpu, "topk values");
    same_bytes(i_gpu, i_cpu, sizeof i_cpu, "topk indices");
    ck_assert_int_eq(i_cpu[0], 7);
    free(x);
    printf("cuda-kernels: %-46s bitwise\n", "topk");
}
END_TEST

START_TEST(nms_equals_cpu_bitwise) {
    int64_t b = 3, n = 120;
    for (int pass = 0; pass < 2; pass++) {
        int64_t k = pass ? 9 : n; /* every kept box, then a max_out that cuts the list */
        float *boxes = malloc(sizeof(float) * (size_t)(b * n * 4)), *scores = tu_rand(b * n, 0, 1);
        int32_t *ids = malloc(sizeof(int32_t) * (size_t)(b * n)), *keep_cpu = malloc(sizeof(int32_t) * (size_t)(b * k)),
                *keep_gpu = malloc(sizeof(int32_t) * (size_t)(b * k)), cnt_cpu[3], cnt_gpu[3];
        for (int64_t i = 0; i < b * n; i++) {
            float x0 = (float)tu_unif(0, 60), y0 = (float)tu_unif(0, 60);
            boxes[i * 4] = x0, boxes[i * 4 + 1] = y0;
            boxes[i * 4 + 2] = x0 + (float)tu_unif(1, 30), boxes[i * 4 + 3] = y0 + (float)tu_unif(1, 30);
            ids[i] = (int32_t)(tu_next() % 3);
            if (i % 9 == 0) scores[i] = scores[i / 2]; /* ties */
            if (i % 13 == 4) scores[i] = -INFINITY;    /* padding */
        }
        scores[17] = NAN;
        tgc_attrs at = tgc_attrs_default();
        at.k = k, at.iou_threshold = 0.4;
        tgc_type in[] = {tu_t(TGC_F32, tgc_shape_make(3, (int64_t[]){b, n, 4})), tu_f2(b, n), tu_t(TGC_I32, tgc_shape2(b, n))};
        tgc_type out[] = {tu_t(TGC_I32, tgc_shape2(b, k)), tu_t(TGC_I32, tgc_shape1(b))};
        void *ip[] = {boxes, scores, ids}, *op[] = {keep_cpu, cnt_cpu};
        tu_exec(cpu, TGC_OP_NMS_FIXED, &at, 3, in, ip, 2, out, op);
        tgc_k_nms_args a = {boxes, scores, ids, keep_gpu, cnt_gpu, b, n, k, at.iou_threshold};
        TGC_SHIM_LAUNCH(tgc_k_nms, tgc_k_geom_row_blocks(b, 2), a);
        same_bytes(keep_gpu, keep_cpu, sizeof(int32_t) * (size_t)(b * k), "nms keep");
        same_bytes(cnt_gpu, cnt_cpu, sizeof cnt_cpu, "nms count");
        ck_assert(cnt_cpu[0] > 3 && (pass == 0 || cnt_cpu[0] == 9));
        free(boxes), free(scores), free(ids), free(keep_cpu), free(keep_gpu);
    }
    printf("cuda-kernels: %-46s bitwise\n", "nms_fixed");
}
END_TEST

START_TEST(smooth_l1_close_to_cpu) {
    int64_t n = 3000;
    double worst = 0;
    for (int b = 0; b < 2; b++) {
        float *p = tu_rand(n, -2, 2), *t = tu_rand(n, -2, 2), *w = tu_rand(n, 0, 1), avg = 77, dl = 0.5f, l_cpu, l_gpu;
        float *d_cpu = tu_zeros(n), *d_gpu = tu_zeros(n);
        for (int64_t i = 0; i < n; i += 4) w[i] = 0;
        tgc_attrs at = tgc_attrs_default();
        at.beta = b ? 0.0 : 1.0 / 9, at.alpha = 1.5;
        tgc_type ft = tu_f1(n), lt = tu_f0(), fin[] = {ft, ft, ft, tu_f1(1)}, bin[] = {lt, ft, ft, ft, tu_f1(1)};
        void *fi[] = {p, t, w, &avg}, *fo[] = {&l_cpu}, *bi[] = {&dl, p, t, w, &avg}, *bo[] = {d_cpu};
        tu_exec(cpu, TGC_OP_SMOOTH_L1, &at, 4, fin, fi, 1, &lt, fo);
        tu_exec(cpu, TGC_OP_SMOOTH_L1_BWD, &at, 5, bin, bi, 1, &ft, bo);
        tgc_k_sl1_args a = {p, t, w, &avg, &dl, &l_gpu, d_gpu, n, at.beta, at.alpha};
        TGC_SHIM_LAUNCH(tgc_k_smooth_l1, tgc_k_geom_one_block(), a);
        TGC_SHIM_LAUNCH(tgc_k_smooth_l1_bwd, tgc_k_geom_elems(n, 3), a);
        double e = fabs((double)l_gpu - l_cpu) / fabs((double)l_cpu);
        ck_assert_msg(e <= 1e-6, "smooth_l1 %.9g, the CPU's %.9g", (double)l_gpu, (double)l_cpu);
        worst = fmax(worst, e);
        same_bytes(d_gpu, d_cpu, sizeof(float) * (size_t)n, "smooth_l1_bwd");
        free(p), free(t), free(w), free(d_cpu), free(d_gpu);
    }
    printf("cuda-kernels: %-46s loss rel err <= %.3g; bwd bitwise\n", "smooth_l1 (+bwd)", worst);
}
END_TEST

static tgc_type f3(int64_t a, int64_t b, int64_t c) { return tu_t(TGC_F32, tgc_shape_make(3, (int64_t[]){a, b, c})); }

static float *rand_boxes(int64_t n, double span) {
    float *b = malloc(sizeof(float) * (size_t)n * 4);
    for (int64_t i = 0; i < n; i++) {
        float x = (float)tu_unif(-10, span), y = (float)tu_unif(-10, span);
        b[i * 4] = x, b[i * 4 + 1] = y, b[i * 4 + 2] = x + (float)tu_unif(0, span / 2), b[i * 4 + 3] = y + (float)tu_unif(0, span / 2);
    }
    return b;
}

START_TEST(boxes_and_gather_equal_cpu_bitwise) {
    int64_t B = 2, n = 37, m = 11;
    float *a = rand_boxes(B * n, 80), *b = rand_boxes(B * m, 80), *g = rand_boxes(B * n, 80), *d = tu_rand(B * n * 4, -3, 3);
    float ms[] = {50, 70, 90, 40}, *y_cpu = tu_zeros(B * n * m), *y_gpu = tu_zeros(B * n * m);
    tgc_attrs at = tgc_attrs_default();
    at.eps = 1e-6, at.target_stds[0] = at.target_stds[1] = 0.1, at.target_stds[2] = at.target_stds[3] = 0.2;
    at.target_means[1] = 0.05;
    tgc_k_box_args ka;
    memset(&ka, 0, sizeof ka);
    ka.boxes = B * n, ka.per_image = n, ka.m = m, ka.eps = (float)at.eps, ka.clip = 1;
    ka.max_ratio = (float)fabs(log(at.wh_ratio_clip));
    for (int k = 0; k < 4; k++) ka.means[k] = (float)at.target_means[k], ka.stds[k] = (float)at.target_stds[k];
    /* box_iou */
    tgc_type iin[] = {f3(B, n, 4), f3(B, m, 4)}, iout = f3(B, n, m);
    void *iip[] = {a, b}, *iop[] = {y_cpu};
    tu_exec(cpu, TGC_OP_BOX_IOU, &at, 2, iin, iip, 1, &iout, iop);
    ka.a = a, ka.b = b, ka.y = y_gpu;
    TGC_SHIM_LAUNCH(tgc_k_box_iou, tgc_k_geom_elems(B * n * m, 2), ka);
    same_bytes(y_gpu, y_cpu, sizeof(float) * (size_t)(B * n * m), "box_iou");
    /* box_encode, box_decode (clipped to each image's max_shape) */
    float *e_cpu = tu_zeros(B * n * 4), *e_gpu = tu_zeros(B * n * 4);
    tgc_type bt = f3(B, n, 4), ein[] = {bt, bt}, din[] = {bt, bt, tu_f2(B, 2)};
    void *eip[] = {a, g}, *eop[] = {e_cpu}, *dip[] = {a, d, ms}, *dop[] = {e_cpu};
    tu_exec(cpu, TGC_OP_BOX_ENCODE, &at, 2, ein, eip, 1, &bt, eop);
    ka.a = a, ka.b = g, ka.y = e_gpu;
    TGC_SHIM_LAUNCH(tgc_k_box_encode, tgc_k_geom_elems(B * n, 1), ka);
    same_bytes(e_gpu, e_cpu, sizeof(float) * (size_t)(B * n * 4), "box_encode");
    tu_exec(cpu, TGC_OP_BOX_DECODE, &at, 3, din, dip, 1, &bt, dop);
    ka.a = a, ka.b = d, ka.max_shape = ms, ka.y = e_gpu;
    TGC_SHIM_LAUNCH(tgc_k_box_decode, tgc_k_geom_elems(B * n, 1), ka);
    same_bytes(e_gpu, e_cpu, sizeof(float) * (size_t)(B * n * 4), "box_decode");
    /* gather of boxes by nms-style indices (-1 padding) */
    int32_t idx[2 * 9];
    for (int i = 0; i < 18; i++) idx[i] = i % 5 == 4 ? -1 : (int32_t)(tu_next() % (uint64_t)n);
    at.alpha = -1;
    tgc_type gin[] = {bt, tu_t(TGC_I32, tgc_shape2(B, 9))}, gout = f3(B, 9, 4);
    void *gip[] = {a, idx}, *gop[] = {y_cpu};
    tu_exec(cpu, TGC_OP_GATHER, &at, 2, gin, gip, 1, &gout, gop);
    float fill = -1.f;
    tgc_k_gather_args ga = {(const uint32_t *)a, idx, (uint32_t *)y_gpu, B, n, 9, 4, 0, 0};
    memcpy(&ga.fill, &fill, 4);
    TGC_SHIM_LAUNCH(tgc_k_gather, tgc_k_geom_elems(B * 9 * 4, 2), ga);
    same_bytes(y_gpu, y_cpu, sizeof(float) * (size_t)(B * 9 * 4), "gather");
    free(a), free(b), free(g), free(d), free(y_cpu), free(y_gpu), free(e_cpu), free(e_gpu);
    printf("cuda-kernels: %-46s bitwise\n", "box_iou, box_encode, box_decode, gather");
}
END_TEST

START_TEST(giou_loss_close_to_cpu) {
    int64_t n = 500;
    float *p = rand_boxes(n, 40), *t = rand_boxes(n, 40), *w = tu_rand(n, 0, 1), avg = 9, dl = 1.5f, l_cpu, l_gpu;
    float *d_cpu = tu_zeros(n * 4), *d_gpu = tu_zeros(n * 4);
    for (int64_t i = 0; i < n; i += 5) w[i] = 0;
    for (int64_t i = 0; i < n; i += 7) p[i * 4] = t[i * 4]; /* ties: half gradients */
    tgc_attrs at = tgc_attrs_default();
    at.eps = 1e-6, at.alpha = 2;
    tgc_type bt = tu_f2(n, 4), lt = tu_f0(), fin[] = {bt, bt, tu_f1(n), tu_f1(1)}, bin[] = {lt, bt, bt, tu_f1(n), tu_f1(1)};
    void *fi[] = {p, t, w, &avg}, *fo[] = {&l_cpu}, *bi[] = {&dl, p, t, w, &avg}, *bo[] = {d_cpu};
    tu_exec(cpu, TGC_OP_GIOU_LOSS, &at, 4, fin, fi, 1, &lt, fo);
    tu_exec(cpu, TGC_OP_GIOU_LOSS_BWD, &at, 5, bin, bi, 1, &bt, bo);
    tgc_k_giou_args a = {p, t, w, &avg, &dl, &l_gpu, d_gpu, n, at.alpha, (float)at.eps};
    TGC_SHIM_LAUNCH(tgc_k_giou_loss, tgc_k_geom_one_block(), a);
    TGC_SHIM_LAUNCH(tgc_k_giou_loss_bwd, tgc_k_geom_elems(n, 1), a);
    double e = fabs((double)l_gpu - l_cpu) / fabs((double)l_cpu);
    ck_assert_msg(e <= 1e-6, "giou_loss %.9g, the CPU's %.9g", (double)l_gpu, (double)l_cpu);
    same_bytes(d_gpu, d_cpu, sizeof(float) * (size_t)(n * 4), "giou_loss_bwd");
    free(p), free(t), free(w), free(d_cpu), free(d_gpu);
    printf("cuda-kernels: %-46s loss rel err <= %.3g; bwd bitwise\n", "giou_loss (+bwd)", e);
}
END_TEST

int main(void) {
    Suite *s = suite_create("backend_cuda_kernels_det");
    TCase *tc = tcase_create("det");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, roi_align_equals_cpu_bitwise);
    tcase_add_test(tc, roi_align_bad_batch_index_is_nan);
    tcase_add_test(tc, topk_equals_cpu_bitwise);
    tcase_add_test(tc, nms_equals_cpu_bitwise);
    tcase_add_test(tc, smooth_l1_close_to_cpu);
    tcase_add_test(tc, boxes_and_gather_equal_cpu_bitwise);
    tcase_add_test(tc, giou_loss_close_to_cpu);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
