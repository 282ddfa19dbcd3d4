/* tests/unit/test_backend_cuda_kernels_retina.c - the hand-written CUDA kernels of RetinaNet's dense ops
 * (backend/cuda/kernels/retina.cuh) against the CPU kernels (backend/cpu/cpu_det.c, cpu_bn.c) on random data.
 * Each instruction goes the executor's way: native_marshal.c's argument structs and geometry, run on the host
 * through kshim.h (tgc_cuda_native_host_run, grids capped at 8 blocks so the grid-stride loops turn), with the
 * row-loss workspace tgc_cuda_native_workspace asks for.
 *
 * Expected, and asserted:
 *   upsample_nearest (+bwd: dy summed per dx element in the CPU's order), to_nhwc, to_nchw, concat,
 *     concat_bwd, sigmoid_focal_loss_bwd, l1_loss_pos_bwd, batch_norm_eval_bwd's dx: bit for bit;
 *   the sums (the two losses: per-row sums in the CPU's order, the rows by a tree; batch_norm_eval_bwd's
 *     dgamma and dbeta by a tree): relative error <= 1e-6 (the loss relative to itself, dgamma and dbeta
 *     relative to their largest element). Each is a double sum of at most ~1e5 terms (reordering changes it by
 *     ~1e-11 relative), rounded once to float: at most an ulp or so apart, which 1e-6 (~8 ulp) bounds;
 *   a class target outside [-1, classes], which the CPU refuses, makes the kernels' loss and dx rows NaN.
 * Each test prints the worst difference it measured ("cuda-kernels: ..."). */
#include "backend/cuda/native_host.h"

#include "tests/unit/test_backend_cpu_util.h"

static tgc_cpu *cpu;

static void setup(void) {
    tgc_err err;
    cpu = tgc_cpu_new(1, 1, &err);
    ck_assert_msg(cpu, "%s", err.msg);
    tu_seed(20261206);
}

static void teardown(void) { tgc_cpu_free(cpu); }

static void report(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(const char *what, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("cuda-kernels: %-46s ", what);
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    va_end(ap);
}

/* Runs one instruction through the kernels (marshalled as the executor does); out: the kernels' results. */
static void gpu_exec(tgc_opcode code, const tgc_attrs *at, int n_in, const tgc_type *in_t, void **in, int n_out,
                     const tgc_type *out_t, void **out) {
    tgc_cpu_op o = {code, at, n_in, n_out, in_t, out_t, (void *const *)in, (void *const *)out};
    ck_assert_msg(tgc_cuda_native_supports(&o), "%s: the kernels do not take these operands", tgc_op_table[code].name);
    ck_assert_int_ne(tgc_cuda_native_class(code), 0);
    uint64_t wsb = tgc_cuda_native_workspace(&o);
    void *ws = wsb ? malloc(wsb) : NULL;
    if (ws) memset(ws, 0xff, wsb); /* NaN: a row the kernel leaves unwritten shows */
    tgc_err err = {{0}};
    int launches = 0;
    ck_assert_msg(tgc_cuda_native_host_run(&o, 1, ws, TGC_MT_CHUNK, &launches, &err) == 0, "%s: %s",
                  tgc_op_table[code].name, err.msg);
    free(ws);
}

static void same_floats(const float *got, const float *want, int64_t n, const char *what) {
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(!memcmp(&got[i], &want[i], sizeof(float)), "%s: element %lld is %.9g, the CPU's %.9g", what,
                      (long long)i, (double)got[i], (double)want[i]);
}

/* Worst |got - want| / max|want| over n values (want finite), asserted <= tol. */
static double close_floats(const float *got, const float *want, int64_t n, double tol, const char *what) {
    double scale = 1e-30, worst = 0;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs((double)want[i]));
    for (int64_t i = 0; i < n; i++) {
        ck_assert_msg(isfinite(want[i]) && isfinite(got[i]), "%s: element %lld is %g, the CPU's %g", what, (long long)i,
                      (double)got[i], (double)want[i]);
        double e = fabs((double)got[i] - want[i]) / scale;
        ck_assert_msg(e <= tol, "%s: element %lld is %.9g, the CPU's %.9g (rel %.3g)", what, (long long)i, (double)got[i],
                      (double)want[i], e);
        worst = fmax(worst, e);
    }
    return worst;
}

static tgc_shape shape3(int64_t a, int64_t b, int64_t c) {
    int64_t d[3] = {a, b, c};
    return tgc_shape_make(3, d);
}

static float *nan_fill(int64_t n) {
    float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) p[i] = NAN;
    return p;
}

/* ---- upsample_nearest (+bwd) ------------------------------------------------------------------------------ */

START_TEST(upsample_nearest_equals_cpu_bitwise) {
    static const int64_t shapes[][6] = {{2, 3, 5, 7, 10, 14}, {1, 2, 4, 4, 4, 4},   {2, 2, 3, 5, 7, 11},
                                        {1, 1, 13, 9, 25, 17}, {3, 2, 1, 1, 4, 6}, {1, 4, 25, 38, 50, 76},
                                        {2, 1, 7, 3, 7, 9}};
    int64_t elems = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int64_t *d = shapes[s];
        tgc_type st = tu_f4(d[0], d[1], d[2], d[3]), bt = tu_f4(d[0], d[1], d[4], d[5]);
        int64_t ns = tu_n(&st), nb = tu_n(&bt);
        float *x = tu_rand(ns, -3, 3), *dy = tu_rand(nb, -2, 2);
        float *y_cpu = nan_fill(nb), *y_gpu = nan_fill(nb), *dx_cpu = nan_fill(ns), *dx_gpu = nan_fill(ns);
        tgc_attrs af = tgc_attrs_default(), ab = tgc_attrs_default();
        af.shape = bt.shape, ab.shape = st.shape;
        void *fi[1] = {x}, *fc[1] = {y_cpu}, *fg[1] = {y_gpu}, *bi[1] = {dy}, *bc[1] = {dx_cpu}, *bg[1] = {dx_gpu};
        tu_exec(cpu, TGC_OP_UPSAMPLE_NEAREST, &af, 1, &st, fi, 1, &bt, fc);
        gpu_exec(TGC_OP_UPSAMPLE_NEAREST, &af, 1, &st, fi, 1, &bt, fg);
        tu_exec(cpu, TGC_OP_UPSAMPLE_NEAREST_BWD, &ab, 1, &bt, bi, 1, &st, bc);
        gpu_exec(TGC_OP_UPSAMPLE_NEAREST_BWD, &ab, 1, &bt, bi, 1, &st, bg);
        same_floats(y_gpu, y_cpu, nb, "upsample_nearest");
        same_floats(dx_gpu, dx_cpu, ns, "upsample_nearest_bwd");
        elems += nb + ns;
        free(x), free(dy), free(y_cpu), free(y_gpu), free(dx_cpu), free(dx_gpu);
    }
    report("upsample_nearest (+bwd)", "%zu shapes, %lld elements: bit for bit", sizeof shapes / sizeof *shapes,
           (long long)elems);
}
END_TEST

/* ---- to_nhwc / to_nchw ------------------------------------------------------------------------------------ */

START_TEST(layout_permutes_equal_cpu_bitwise) {
    static const int64_t shapes[][4] = {{2, 3, 5, 7}, {1, 40, 33, 35}, {3, 1, 1, 1}, {2, 90, 4, 5}, {1, 64, 1, 70}};
    int64_t elems = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int64_t *d = shapes[s];
        tgc_type xt = tu_f4(d[0], d[1], d[2], d[3]), yt = tu_f4(d[0], d[2], d[3], d[1]);
        int64_t n = tu_n(&xt);
        float *x = tu_rand(n, -5, 5), *y_cpu = nan_fill(n), *y_gpu = nan_fill(n), *z_cpu = nan_fill(n), *z_gpu = nan_fill(n);
        tgc_attrs at = tgc_attrs_default();
        void *fi[1] = {x}, *fc[1] = {y_cpu}, *fg[1] = {y_gpu}, *bi[1] = {y_cpu}, *bc[1] = {z_cpu}, *bg[1] = {z_gpu};
        tu_exec(cpu, TGC_OP_TO_NHWC, &at, 1, &xt, fi, 1, &yt, fc);
        gpu_exec(TGC_OP_TO_NHWC, &at, 1, &xt, fi, 1, &yt, fg);
        tu_exec(cpu, TGC_OP_TO_NCHW, &at, 1, &yt, bi, 1, &xt, bc);
        gpu_exec(TGC_OP_TO_NCHW, &at, 1, &yt, bi, 1, &xt, bg);
        same_floats(y_gpu, y_cpu, n, "to_nhwc");
        same_floats(z_gpu, z_cpu, n, "to_nchw");
        same_floats(z_gpu, x, n, "to_nchw(to_nhwc(x))");
        elems += 2 * n;
        free(x), free(y_cpu), free(y_gpu), free(z_cpu), free(z_gpu);
    }
    report("to_nhwc, to_nchw", "%zu shapes, %lld elements: bit for bit", sizeof shapes / sizeof *shapes, (long long)elems);
}
END_TEST

/* ---- concat / concat_bwd ---------------------------------------------------------------------------------- */

START_TEST(concat_equals_cpu_bitwise) {
    /* whole shape (rank 3), axis, the first part's extent along it */
    static const int64_t cases[][5] = {{2, 720, 9, 1, 500}, {2, 7, 4, 0, 1}, {3, 5, 6, 2, 2}, {1, 9, 80, 1, 8}, {2, 3, 4, 1, 0}};
    int64_t elems = 0;
    for (size_t s = 0; s < sizeof cases / sizeof *cases; s++) {
        const int64_t *c = cases[s], ax = c[3];
        int64_t wd[3] = {c[0], c[1], c[2]}, ad[3] = {c[0], c[1], c[2]}, bd[3] = {c[0], c[1], c[2]};
        ad[ax] = c[4], bd[ax] = wd[ax] - c[4];
        tgc_type wt = tu_t(TGC_F32, tgc_shape_make(3, wd)), at_ = tu_t(TGC_F32, tgc_shape_make(3, ad)),
                 bt = tu_t(TGC_F32, tgc_shape_make(3, bd));
        int64_t nw = tu_n(&wt), na = tu_n(&at_), nb = tu_n(&bt);
        float *a = tu_rand(na, -1, 1), *b = tu_rand(nb, -1, 1), *dy = tu_rand(nw, -1, 1);
        float *y_cpu = nan_fill(nw), *y_gpu = nan_fill(nw);
        float *da_cpu = nan_fill(na), *da_gpu = nan_fill(na), *db_cpu = nan_fill(nb), *db_gpu = nan_fill(nb);
        tgc_attrs at = tgc_attrs_default();
        at.axis = ax, at.shape = at_.shape;
        tgc_type fin[2] = {at_, bt}, bout[2] = {at_, bt};
        void *fi[2] = {a, b}, *fc[1] = {y_cpu}, *fg[1] = {y_gpu}, *bi[1] = {dy}, *bc[2] = {da_cpu, db_cpu},
             *bg[2] = {da_gpu, db_gpu};
        tu_exec(cpu, TGC_OP_CONCAT, &at, 2, fin, fi, 1, &wt, fc);
        gpu_exec(TGC_OP_CONCAT, &at, 2, fin, fi, 1, &wt, fg);
        tu_exec(cpu, TGC_OP_CONCAT_BWD, &at, 1, &wt, bi, 2, bout, bc);
        gpu_exec(TGC_OP_CONCAT_BWD, &at, 1, &wt, bi, 2, bout, bg);
        same_floats(y_gpu, y_cpu, nw, "concat");
        same_floats(da_gpu, da_cpu, na, "concat_bwd da");
        same_floats(db_gpu, db_cpu, nb, "concat_bwd db");
        elems += 2 * nw;
        free(a), free(b), free(dy), free(y_cpu), free(y_gpu), free(da_cpu), free(da_gpu), free(db_cpu), free(db_gpu);
    }
    report("concat, concat_bwd", "%zu cases, %lld elements: bit for bit", sizeof cases / sizeof *cases, (long long)elems);
}
END_TEST

/* ---- the anchor losses ------------------------------------------------------------------------------------ */

/* Random class targets in [-1, classes] (ignored, positives, negatives); bad: one outside (the last row). */
static int32_t *targets(int64_t rows, int64_t classes, int bad) {
    int32_t *t = malloc(sizeof(int32_t) * (size_t)rows);
    for (int64_t r = 0; r < rows; r++) t[r] = (int32_t)(tu_next() % (uint64_t)(classes + 2)) - 1;
    if (bad) t[rows - 1] = (int32_t)classes + 1;
    return t;
}

START_TEST(focal_loss_against_cpu) {
    static const int64_t shapes[][3] = {{2, 300, 10}, {1, 1, 1}, {2, 2000, 80}, {3, 77, 9}};
    static const double gammas[] = {2.0, 0.0, 1.5}, falphas[] = {0.25, 0.5}, alphas[] = {1.0, 0.7};
    double worst = 0;
    int cases = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int64_t *d = shapes[s], rows = d[0] * d[1], n = rows * d[2];
        tgc_type xt = tu_f4(1, 1, 1, 1), ct = tu_t(TGC_I32, tgc_shape2(d[0], d[1])), ft = tu_f1(1), lt = tu_f0();
        xt.shape = shape3(d[0], d[1], d[2]);
        float *x = tu_rand(n, -8, 8);
        for (int64_t i = 0; i < n; i += 17) x[i] = (float)(i % 2 ? 40 : -40); /* saturated sigmoids */
        int32_t *t = targets(rows, d[2], 0);
        for (size_t g = 0; g < 3; g++)
            for (size_t q = 0; q < 2; q++, cases++) {
                tgc_attrs at = tgc_attrs_default();
                at.gamma = gammas[g], at.focal_alpha = falphas[q], at.alpha = alphas[(g + q) % 2];
                float avg = (float)tu_unif(0.5, 50), dl = (float)tu_unif(0.2, 2), l_cpu = NAN, l_gpu = NAN;
                float *dx_cpu = nan_fill(n), *dx_gpu = nan_fill(n);
                tgc_type fin[3] = {xt, ct, ft}, bin[4] = {lt, xt, ct, ft};
                void *fi[3] = {x, t, &avg}, *fc[1] = {&l_cpu}, *fg[1] = {&l_gpu}, *bi[4] = {&dl, x, t, &avg},
                     *bc[1] = {dx_cpu}, *bg[1] = {dx_gpu};
                tu_exec(cpu, TGC_OP_SIGMOID_FOCAL_LOSS, &at, 3, fin, fi, 1, &lt, fc);
                gpu_exec(TGC_OP_SIGMOID_FOCAL_LOSS, &at, 3, fin, fi, 1, &lt, fg);
                tu_exec(cpu, TGC_OP_SIGMOID_FOCAL_LOSS_BWD, &at, 4, bin, bi, 1, &xt, bc);
                gpu_exec(TGC_OP_SIGMOID_FOCAL_LOSS_BWD, &at, 4, bin, bi, 1, &xt, bg);
                worst = fmax(worst, close_floats(&l_gpu, &l_cpu, 1, 1e-6, "sigmoid_focal_loss"));
                same_floats(dx_gpu, dx_cpu, n, "sigmoid_focal_loss_bwd");
                free(dx_cpu), free(dx_gpu);
            }
        free(x), free(t);
    }
    report("sigmoid_focal_loss (+bwd)", "%d cases: loss rel err <= %.3g, dx bit for bit", cases, worst);
}
END_TEST

START_TEST(l1_loss_pos_against_cpu) {
    static const int64_t shapes[][3] = {{2, 300, 4}, {1, 1, 4}, {2, 5000, 4}, {3, 77, 4}};
    static const int64_t classes[] = {10, 1, 80, 3};
    double worst = 0;
    int cases = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++, cases++) {
        const int64_t *d = shapes[s], rows = d[0] * d[1], n = rows * d[2];
        tgc_type xt = tu_f1(1), ct = tu_t(TGC_I32, tgc_shape2(d[0], d[1])), ft = tu_f1(1), lt = tu_f0();
        xt.shape = shape3(d[0], d[1], d[2]);
        float *x = tu_rand(n, -2, 2), *y = tu_rand(n, -2, 2);
        for (int64_t i = 0; i < n; i += 7) y[i] = x[i]; /* pred == target: no gradient */
        int32_t *t = targets(rows, classes[s], 0);
        tgc_attrs at = tgc_attrs_default();
        at.num_classes = classes[s], at.alpha = s % 2 ? 1.0 : 0.5;
        float avg = (float)tu_unif(1, 100), dl = (float)tu_unif(0.2, 2), l_cpu = NAN, l_gpu = NAN;
        float *dx_cpu = nan_fill(n), *dx_gpu = nan_fill(n);
        tgc_type fin[4] = {xt, xt, ct, ft}, bin[5] = {lt, xt, xt, ct, ft};
        void *fi[4] = {x, y, t, &avg}, *fc[1] = {&l_cpu}, *fg[1] = {&l_gpu}, *bi[5] = {&dl, x, y, t, &avg},
             *bc[1] = {dx_cpu}, *bg[1] = {dx_gpu};
        tu_exec(cpu, TGC_OP_L1_LOSS_POS, &at, 4, fin, fi, 1, &lt, fc);
        gpu_exec(TGC_OP_L1_LOSS_POS, &at, 4, fin, fi, 1, &lt, fg);
        tu_exec(cpu, TGC_OP_L1_LOSS_POS_BWD, &at, 5, bin, bi, 1, &xt, bc);
        gpu_exec(TGC_OP_L1_LOSS_POS_BWD, &at, 5, bin, bi, 1, &xt, bg);
        worst = fmax(worst, close_floats(&l_gpu, &l_cpu, 1, 1e-6, "l1_loss_pos"));
        same_floats(dx_gpu, dx_cpu, n, "l1_loss_pos_bwd");
        free(x), free(y), free(t), free(dx_cpu), free(dx_gpu);
    }
    report("l1_loss_pos (+bwd)", "%d cases: loss rel err <= %.3g, dx bit for bit", cases, worst);
}
END_TEST

/* A class target the CPU refuses: the kernels' loss is NaN, and so is the bad row's dx (the others' are not). */
START_TEST(anchor_loss_bad_target_is_nan) {
    const int64_t N = 1, A = 40, K = 5, n = N * A * K;
    tgc_type xt = tu_f1(1), ct = tu_t(TGC_I32, tgc_shape2(N, A)), ft = tu_f1(1), lt = tu_f0();
    xt.shape = shape3(N, A, K);
    float *x = tu_rand(n, -3, 3), *y = tu_rand(n, -3, 3), *dx = nan_fill(n), avg = 4, dl = 1, l = 0, l_cpu = 0;
    int32_t *t = targets(N * A, K, 1);
    tgc_attrs at = tgc_attrs_default();
    at.num_classes = K;
    tgc_type fin[3] = {xt, ct, ft}, bin[4] = {lt, xt, ct, ft};
    void *fi[3] = {x, t, &avg}, *fo[1] = {&l}, *fc[1] = {&l_cpu}, *bi[4] = {&dl, x, t, &avg}, *bo[1] = {dx};
    tu_exec_fails(cpu, TGC_OP_SIGMOID_FOCAL_LOSS, &at, 3, fin, fi, 1, &lt, fc, "class target");
    gpu_exec(TGC_OP_SIGMOID_FOCAL_LOSS, &at, 3, fin, fi, 1, &lt, fo);
    ck_assert(isnan(l));
    gpu_exec(TGC_OP_SIGMOID_FOCAL_LOSS_BWD, &at, 4, bin, bi, 1, &xt, bo);
    for (int64_t i = 0; i < n; i++) ck_assert_msg(isnan(dx[i]) == (i >= n - K), "focal dx[%lld] %g", (long long)i, (double)dx[i]);
    tgc_type lin[4] = {xt, xt, ct, ft}, lbin[5] = {lt, xt, xt, ct, ft};
    void *li[4] = {x, y, t, &avg}, *lbi[5] = {&dl, x, y, t, &avg};
    l = 0;
    gpu_exec(TGC_OP_L1_LOSS_POS, &at, 4, lin, li, 1, &lt, fo);
    ck_assert(isnan(l));
    gpu_exec(TGC_OP_L1_LOSS_POS_BWD, &at, 5, lbin, lbi, 1, &xt, bo);
    for (int64_t i = 0; i < n; i++) ck_assert_msg(isnan(dx[i]) == (i >= n - K), "l1 dx[%lld] %g", (long long)i, (double)dx[i]);
    free(x), free(y), free(dx), free(t);
}
END_TEST

/* ---- batch_norm_eval_bwd ---------------------------------------------------------------------------------- */

START_TEST(bn_eval_bwd_against_cpu) {
    static const int64_t shapes[][4] = {{2, 3, 5, 7}, {4, 16, 1, 1}, {2, 5, 33, 17}, {1, 3, 64, 1}, {8, 64, 2, 2}, {3, 2, 16, 32}};
    double worst = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int64_t *d = shapes[s], c = d[1];
        tgc_type xt = tu_f4(d[0], d[1], d[2], d[3]), vt = tu_f1(c);
        int64_t n = tu_n(&xt);
        float *dy = tu_rand(n, -1, 1), *x = tu_rand(n, -3, 4), *g = tu_rand(c, 0.5, 1.5), *m = tu_rand(c, -1, 1),
              *v = tu_rand(c, 0.1, 3);
        float *dx_cpu = nan_fill(n), *dx_gpu = nan_fill(n), *dg_cpu = nan_fill(c), *dg_gpu = nan_fill(c),
              *db_cpu = nan_fill(c), *db_gpu = nan_fill(c);
        tgc_attrs at = tgc_attrs_default();
        at.eps = 1e-5;
        tgc_type in_t[5] = {xt, xt, vt, vt, vt}, out_t[3] = {xt, vt, vt};
        void *in[5] = {dy, x, g, m, v}, *oc[3] = {dx_cpu, dg_cpu, db_cpu}, *og[3] = {dx_gpu, dg_gpu, db_gpu};
        tu_exec(cpu, TGC_OP_BN_EVAL_BWD, &at, 5, in_t, in, 3, out_t, oc);
        gpu_exec(TGC_OP_BN_EVAL_BWD, &at, 5, in_t, in, 3, out_t, og);
        same_floats(dx_gpu, dx_cpu, n, "batch_norm_eval_bwd dx");
        worst = fmax(worst, close_floats(dg_gpu, dg_cpu, c, 1e-6, "batch_norm_eval_bwd dgamma"));
        worst = fmax(worst, close_floats(db_gpu, db_cpu, c, 1e-6, "batch_norm_eval_bwd dbeta"));
        free(dy), free(x), free(g), free(m), free(v), free(dx_cpu), free(dx_gpu), free(dg_cpu), free(dg_gpu), free(db_cpu),
            free(db_gpu);
    }
    report("batch_norm_eval_bwd", "%zu shapes: dx bit for bit, dgamma/dbeta rel err <= %.3g", sizeof shapes / sizeof *shapes,
           worst);
}
END_TEST

int main(void) {
    Suite *s = suite_create("cuda_kernels_retina");
    TCase *tc = tcase_create("kernels");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, upsample_nearest_equals_cpu_bitwise);
    tcase_add_test(tc, layout_permutes_equal_cpu_bitwise);
    tcase_add_test(tc, concat_equals_cpu_bitwise);
    tcase_add_test(tc, focal_loss_against_cpu);
    tcase_add_test(tc, l1_loss_pos_against_cpu);
    tcase_add_test(tc, anchor_loss_bad_target_is_nan);
    tcase_add_test(tc, bn_eval_bwd_against_cpu);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
