/* tests/unit/test_backend_cpu_dense.c - matmul (all four trans combinations), softmax cross-entropy with
 * label smoothing, relu/tanh/sigmoid, bias_add/bias_grad, global_avg_pool: forward against naive loops and
 * gradients by finite differences; add, scale, fill, cast, reshape by value; thread-count independence of
 * the own reductions; every op has a kernel; bad operands refused with a message. */
#include "tests/unit/test_backend_cpu_util.h"

static tgc_cpu *new_cpu(int threads) {
    tgc_err err;
    tgc_cpu *c = tgc_cpu_new(threads, 1, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    return c;
}

/* ---- matmul ------------------------------------------------------------------------------------- */
static void matmul_case(int ta, int tb) {
    tgc_cpu *c = new_cpu(1);
    int64_t m = 5, k = 7, n = 3;
    tgc_attrs a = tgc_attrs_default();
    a.trans_a = ta, a.trans_b = tb;
    tgc_type at = ta ? tu_f2(k, m) : tu_f2(m, k), bt = tb ? tu_f2(n, k) : tu_f2(k, n), yt = tu_f2(m, n);
    float *A = tu_rand(m * k, -1, 1), *B = tu_rand(k * n, -1, 1), *y = tu_zeros(m * n), *r = tu_rand(m * n, -1, 1);
    tu_fwd f = {c, TGC_OP_MATMUL, &a, 2, 1, {at, bt}, {yt}, {A, B}, {y}, r, 0, {0}, {0}};
    tu_loss(&f);
    double ref[15];
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t q = 0; q < k; q++)
                s += (double)(ta ? A[q * m + i] : A[i * k + q]) * (tb ? B[j * k + q] : B[q * n + j]);
            ref[i * n + j] = s;
        }
    tu_close(y, ref, m * n, 1e-6, "matmul forward");

    /* The gradients as autodiff emits them, with matmul itself:
     *   dA = ta ? op(B) @ dY^T : dY @ op(B)^T      dB = tb ? dY^T @ op(A) : op(A)^T @ dY */
    float *dA = tu_zeros(m * k), *dB = tu_zeros(k * n);
    tgc_attrs ga = tgc_attrs_default(), gb = tgc_attrs_default();
    if (ta) {
        ga.trans_a = tb, ga.trans_b = 1;
        tgc_type in[] = {bt, yt};
        void *p[] = {B, r}, *o[] = {dA};
        tu_exec(c, TGC_OP_MATMUL, &ga, 2, in, p, 1, &at, o);
    } else {
        ga.trans_a = 0, ga.trans_b = !tb;
        tgc_type in[] = {yt, bt};
        void *p[] = {r, B}, *o[] = {dA};
        tu_exec(c, TGC_OP_MATMUL, &ga, 2, in, p, 1, &at, o);
    }
    if (tb) {
        gb.trans_a = 1, gb.trans_b = ta;
        tgc_type in[] = {yt, at};
        void *p[] = {r, A}, *o[] = {dB};
        tu_exec(c, TGC_OP_MATMUL, &gb, 2, in, p, 1, &bt, o);
    } else {
        gb.trans_a = !ta, gb.trans_b = 0;
        tgc_type in[] = {at, yt};
        void *p[] = {A, r}, *o[] = {dB};
        tu_exec(c, TGC_OP_MATMUL, &gb, 2, in, p, 1, &bt, o);
    }
    tu_fd_check(&f, 0, dA, 1e-2, 1e-2, 100, "matmul dA");
    tu_fd_check(&f, 1, dB, 1e-2, 1e-2, 100, "matmul dB");
    free(A), free(B), free(y), free(r), free(dA), free(dB);
    tgc_cpu_free(c);
}

START_TEST(matmul_nn) { tu_seed(31), matmul_case(0, 0); }
END_TEST
START_TEST(matmul_tn) { tu_seed(32), matmul_case(1, 0); }
END_TEST
START_TEST(matmul_nt) { tu_seed(33), matmul_case(0, 1); }
END_TEST
START_TEST(matmul_tt) { tu_seed(34), matmul_case(1, 1); }
END_TEST

START_TEST(matmul_bad_inner_dim) {
    tgc_cpu *c = new_cpu(1);
    tgc_attrs a = tgc_attrs_default();
    float buf[64] = {0};
    tgc_type in[] = {tu_f2(2, 3), tu_f2(4, 2)}, y = tu_f2(2, 2);
    void *p[] = {buf, buf}, *o[] = {buf};
    tu_exec_fails(c, TGC_OP_MATMUL, &a, 2, in, p, 1, &y, o, "matmul");
    tgc_cpu_free(c);
}
END_TEST

/* ---- softmax cross-entropy ----------------------------------------------------------------------- */
START_TEST(softmax_ce_smoothing) {
    tu_seed(41);
    tgc_cpu *c = new_cpu(1);
    int64_t n = 6, k = 5;
    tgc_attrs a = tgc_attrs_default();
    a.alpha = 1.5, a.label_smooth = 0.1;
    tgc_type lt = tu_f2(n, k), yt = tu_t(TGC_I32, tgc_shape1(n)), st = tu_f0();
    float *x = tu_rand(n * k, -3, 3), loss = 0, r = 0.7f, *dx = tu_zeros(n * k);
    x[3] = 80.f; /* a large logit: the stable log-sum-exp must not overflow */
    int32_t labels[6] = {0, 4, 2, 2, 1, 3};
    tu_fwd f = {c, TGC_OP_SOFTMAX_CE, &a, 2, 1, {lt, yt}, {st}, {x, labels}, {&loss}, &r, 0, {0}, {0}};
    tu_loss(&f);
    double ref = 0;
    for (int64_t i = 0; i < n; i++) {
        double mx = -INFINITY, s = 0;
        for (int64_t j = 0; j < k; j++) mx = fmax(mx, x[i * k + j]);
        for (int64_t j = 0; j < k; j++) s += exp(x[i * k + j] - mx);
        for (int64_t j = 0; j < k; j++) {
            double q = 0.1 / (double)k + (j == labels[i] ? 0.9 : 0.0);
            ref -= q * (x[i * k + j] - mx - log(s));
        }
    }
    ref = 1.5 * ref / (double)n;
    ck_assert_msg(fabs(loss - ref) <= 1e-5 * fabs(ref), "loss %.8g, expected %.8g", (double)loss, ref);
    tgc_type bin[] = {st, lt, yt};
    void *bp[] = {&r, x, labels}, *bo[] = {dx};
    tu_exec(c, TGC_OP_SOFTMAX_CE_BWD, &a, 3, bin, bp, 1, &lt, bo);
    tu_fd_check(&f, 0, dx, 1e-2, 1e-2, 100, "softmax_cross_entropy_bwd");
    /* a label outside [0, C) is refused, forward and backward */
    labels[2] = 5;
    void *fo[] = {&loss};
    tu_exec_fails(c, TGC_OP_SOFTMAX_CE, &a, 2, f.in_t, f.in, 1, &st, fo, "outside [0, 5)");
    tu_exec_fails(c, TGC_OP_SOFTMAX_CE_BWD, &a, 3, bin, bp, 1, &lt, bo, "outside [0, 5)");
    free(x), free(dx);
    tgc_cpu_free(c);
}
END_TEST

/* ---- eltwise ----------------------------------------------------------------------------------------- */
static void eltwise_case(tgc_opcode fwd, tgc_opcode bwd) {
    tgc_cpu *c = new_cpu(1);
    tgc_attrs a = tgc_attrs_default();
    tgc_type t = tu_f4(2, 3, 4, 5);
    int64_t n = tu_n(&t);
    float *x = tu_rand(n, -2, 2), *y = tu_zeros(n), *r = tu_rand(n, -1, 1), *dx = tu_zeros(n);
    for (int64_t i = 0; i < n; i++) /* keep relu's kink away from the finite-difference steps */
        if (fabsf(x[i]) < 0.05f) x[i] = x[i] < 0 ? -0.05f : 0.05f;
    tu_fwd f = {c, fwd, &a, 1, 1, {t}, {t}, {x}, {y}, r, 0, {0}, {0}};
    tu_loss(&f);
    double *ref = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        ref[i] = fwd == TGC_OP_RELU ? fmax(v, 0.0) : fwd == TGC_OP_SIGMOID ? 1.0 / (1.0 + exp(-v)) : tanh(v);
    }
    tu_close(y, ref, n, 1e-6, "eltwise forward");
    tgc_type bin[] = {t, t};
    void *bp[] = {r, y}, *bo[] = {dx};
    tu_exec(c, bwd, &a, 2, bin, bp, 1, &t, bo);
    tu_fd_check(&f, 0, dx, 1e-2, 1e-2, 120, "eltwise backward");
    free(x), free(y), free(r), free(dx), free(ref);
    tgc_cpu_free(c);
}

START_TEST(relu_grad) { tu_seed(51), eltwise_case(TGC_OP_RELU, TGC_OP_RELU_BWD); }
END_TEST
START_TEST(tanh_grad) { tu_seed(52), eltwise_case(TGC_OP_TANH, TGC_OP_TANH_BWD); }
END_TEST
START_TEST(sigmoid_grad) { tu_seed(53), eltwise_case(TGC_OP_SIGMOID, TGC_OP_SIGMOID_BWD); }
END_TEST

/* sigmoid over the whole float range against 1/(1+exp(-x)) in double, each value to 1e-6 of itself (not
 * of the largest: the tiny values of large negative x count), saturating without NaN or overflow; and
 * sigmoid_bwd is dy * y * (1 - y) exactly as written, 0 where y saturated. */
START_TEST(sigmoid_values) {
    tgc_cpu *c = new_cpu(1);
    tgc_attrs a = tgc_attrs_default();
    enum { N = 13 };
    float x[N] = {0.f, 1e-6f, -1e-6f, 0.5f, -0.5f, 3.f, -3.f, 15.f, -15.f, 80.f, -80.f, 1e30f, -1e30f}, y[N];
    tgc_type t = tu_f1(N);
    void *p[] = {x}, *o[] = {y};
    tu_exec(c, TGC_OP_SIGMOID, &a, 1, &t, p, 1, &t, o);
    for (int i = 0; i < N; i++) {
        double want = 1.0 / (1.0 + exp(-(double)x[i]));
        ck_assert_msg(y[i] >= 0.f && y[i] <= 1.f, "sigmoid(%g) = %g, outside [0, 1]", (double)x[i], (double)y[i]);
        if (want > 1e-30) /* below, a flush to 0 is as good as a denormal */
            ck_assert_msg(fabs(y[i] - want) <= 1e-6 * want, "sigmoid(%g) = %.9g, expected %.9g", (double)x[i],
                          (double)y[i], want);
    }
    ck_assert_float_eq(y[0], 0.5f);
    ck_assert_float_eq(y[11], 1.f);
    ck_assert_float_le(y[12], 1e-30f);
    float dy[N], dx[N];
    for (int i = 0; i < N; i++) dy[i] = (float)(i + 1) * 0.25f;
    tgc_type bt[] = {t, t};
    void *bp[] = {dy, y}, *bo[] = {dx};
    tu_exec(c, TGC_OP_SIGMOID_BWD, &a, 2, bt, bp, 1, &t, bo);
    for (int i = 0; i < N; i++) {
        double want = (double)dy[i] * y[i] * (1.0 - y[i]);
        ck_assert_msg(fabs(dx[i] - want) <= 1e-6 * fabs(want) + 1e-37, "sigmoid_bwd(%g, %g) = %.9g, expected %.9g",
                      (double)dy[i], (double)y[i], (double)dx[i], want);
    }
    ck_assert_float_eq(dx[0], dy[0] * 0.25f);
    ck_assert_float_eq(dx[11], 0.f);
    tgc_cpu_free(c);
}
END_TEST

/* ---- bias, global average pooling -------------------------------------------------------------------- */
static void bias_case(tgc_shape xs, int64_t axis) {
    tgc_cpu *c = new_cpu(1);
    tgc_attrs a = tgc_attrs_default();
    a.axis = axis;
    int64_t ch = xs.d[axis];
    tgc_type xt = tu_t(TGC_F32, xs), bt = tu_f1(ch);
    int64_t n = tu_n(&xt);
    float *x = tu_rand(n, -1, 1), *b = tu_rand(ch, -1, 1), *y = tu_zeros(n), *r = tu_rand(n, -1, 1), *db = tu_zeros(ch);
    tu_fwd f = {c, TGC_OP_BIAS_ADD, &a, 2, 1, {xt, bt}, {xt}, {x, b}, {y}, r, 0, {0}, {0}};
    tu_loss(&f);
    int64_t inner = 1;
    for (int i = (int)axis + 1; i < xs.rank; i++) inner *= xs.d[i];
    double *ref = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) ref[i] = (double)x[i] + b[(i / inner) % ch];
    tu_close(y, ref, n, 1e-6, "bias_add");
    void *gp[] = {r}, *go[] = {db};
    tu_exec(c, TGC_OP_BIAS_GRAD, &a, 1, &xt, gp, 1, &bt, go);
    tu_fd_check(&f, 1, db, 1e-2, 1e-2, 100, "bias_grad");
    free(x), free(b), free(y), free(r), free(db), free(ref);
    tgc_cpu_free(c);
}

START_TEST(bias_nchw) { tu_seed(61), bias_case(tgc_shape4(2, 3, 4, 5), 1); }
END_TEST
START_TEST(bias_fc) { tu_seed(62), bias_case(tgc_shape2(4, 10), 1); }
END_TEST

START_TEST(global_avg_pool_grad) {
    tu_seed(63);
    tgc_cpu *c = new_cpu(1);
    tgc_attrs a = tgc_attrs_default(), ab = tgc_attrs_default();
    tgc_type xt = tu_f4(2, 3, 4, 5), yt = tu_f2(2, 3);
    ab.shape = xt.shape;
    float *x = tu_rand(120, -1, 1), *y = tu_zeros(6), *r = tu_rand(6, -1, 1), *dx = tu_zeros(120);
    tu_fwd f = {c, TGC_OP_GLOBAL_AVG_POOL, &a, 1, 1, {xt}, {yt}, {x}, {y}, r, 0, {0}, {0}};
    tu_loss(&f);
    double ref[6] = {0};
    for (int p = 0; p < 6; p++) {
        for (int i = 0; i < 20; i++) ref[p] += x[p * 20 + i];
        ref[p] /= 20;
    }
    tu_close(y, ref, 6, 1e-6, "global_avg_pool");
    void *bp[] = {r}, *bo[] = {dx};
    tu_exec(c, TGC_OP_GLOBAL_AVG_POOL_BWD, &ab, 1, &yt, bp, 1, &xt, bo);
    tu_fd_check(&f, 0, dx, 1e-2, 1e-2, 120, "global_avg_pool_bwd");
    free(x), free(y), free(r), free(dx);
    tgc_cpu_free(c);
}
END_TEST

/* ---- simple ops by value -------------------------------------------------------------------------- */
START_TEST(add_scale_fill_reshape) {
    tgc_cpu *c = new_cpu(1);
    tgc_attrs a = tgc_attrs_default();
    tgc_type t = tu_f2(3, 4);
    float x[12], z[12], y[12];
    for (int i = 0; i < 12; i++) x[i] = (float)i, z[i] = (float)(2 * i + 1);
    tgc_type in2[] = {t, t};
    void *p2[] = {x, z}, *o[] = {y};
    tu_exec(c, TGC_OP_ADD, &a, 2, in2, p2, 1, &t, o);
    for (int i = 0; i < 12; i++) ck_assert_float_eq(y[i], (float)(3 * i + 1));
    a.alpha = -0.5;
    void *p1[] = {x};
    tu_exec(c, TGC_OP_SCALE, &a, 1, &t, p1, 1, &t, o);
    for (int i = 0; i < 12; i++) ck_assert_float_eq(y[i], -0.5f * (float)i);
    a.alpha = 1.0, a.shape = t.shape, a.dtype = TGC_F32;
    tu_exec(c, TGC_OP_FILL, &a, 0, NULL, NULL, 1, &t, o);
    for (int i = 0; i < 12; i++) ck_assert_float_eq(y[i], 1.f);
    tgc_type t2 = tu_f4(2, 2, 3, 1);
    a.shape = t2.shape;
    tu_exec(c, TGC_OP_RESHAPE, &a, 1, &t, p1, 1, &t2, o);
    ck_assert_int_eq(memcmp(x, y, sizeof x), 0);
    tu_exec(c, TGC_OP_RESHAPE, &a, 1, &t, p1, 1, &t2, p1); /* in place: a no-op */
    tgc_type bad = tu_f2(5, 5);
    a.shape = bad.shape;
    tu_exec_fails(c, TGC_OP_RESHAPE, &a, 1, &t, p1, 1, &bad, o, "reshape");
    /* fill into an i32 tensor */
    int32_t iv[4];
    tgc_type it = tu_t(TGC_I32, tgc_shape1(4));
    a.shape = it.shape, a.dtype = TGC_I32, a.alpha = 7;
    void *io[] = {iv};
    tu_exec(c, TGC_OP_FILL, &a, 0, NULL, NULL, 1, &it, io);
    for (int i = 0; i < 4; i++) ck_assert_int_eq(iv[i], 7);
    tgc_cpu_free(c);
}
END_TEST

START_TEST(cast_round_to_nearest_even) {
    tgc_cpu *c = new_cpu(1);
    tgc_attrs a = tgc_attrs_default();
    uint32_t bits[] = {0x3f800000u, 0x3f808000u, 0x3f818000u, 0x3f808001u, 0xbf800000u, 0x7f800000u, 0x7fc00000u};
    uint16_t want_bf[] = {0x3f80, 0x3f80, 0x3f82, 0x3f81, 0xbf80, 0x7f80, 0x7fc0};
    float x[7];
    memcpy(x, bits, sizeof x);
    uint16_t h[7];
    tgc_type ft = tu_f1(7), bt = tu_t(TGC_BF16, tgc_shape1(7)), ht = tu_t(TGC_F16, tgc_shape1(7));
    void *p[] = {x}, *o[] = {h};
    a.dtype = TGC_BF16;
    tu_exec(c, TGC_OP_CAST, &a, 1, &ft, p, 1, &bt, o);
    for (int i = 0; i < 7; i++) ck_assert_uint_eq(h[i], want_bf[i]);
    /* and back: bf16 widens exactly */
    float back[7];
    void *hp[] = {h}, *bo[] = {back};
    a.dtype = TGC_F32;
    tu_exec(c, TGC_OP_CAST, &a, 1, &bt, hp, 1, &ft, bo);
    ck_assert_float_eq(back[2], 1.015625f);
    /* f16: 1, 65504 (max), 0.1, 2^-24 (smallest subnormal), 1e-8 (to zero), 1e5 (to inf), -2 */
    float fx[7] = {1.f, 65504.f, 0.1f, 5.9604645e-8f, 1e-8f, 1e5f, -2.f};
    uint16_t want_h[] = {0x3c00, 0x7bff, 0x2e66, 0x0001, 0x0000, 0x7c00, 0xc000};
    void *fp[] = {fx};
    a.dtype = TGC_F16;
    tu_exec(c, TGC_OP_CAST, &a, 1, &ft, fp, 1, &ht, o);
    for (int i = 0; i < 7; i++) ck_assert_uint_eq(h[i], want_h[i]);
    a.dtype = TGC_F32;
    tu_exec(c, TGC_OP_CAST, &a, 1, &ht, hp, 1, &ft, bo);
    ck_assert_float_eq(back[0], 1.f);
    ck_assert_float_eq(back[1], 65504.f);
    ck_assert_float_eq(back[3], 5.9604645e-8f);
    /* float -> int truncates and saturates; NaN gives 0 */
    float fi[4] = {2.7f, -2.7f, 3e10f, NAN};
    int32_t ii[4];
    tgc_type f4t = tu_f1(4), i4t = tu_t(TGC_I32, tgc_shape1(4));
    void *fip[] = {fi}, *iio[] = {ii};
    a.dtype = TGC_I32;
    tu_exec(c, TGC_OP_CAST, &a, 1, &f4t, fip, 1, &i4t, iio);
    ck_assert_int_eq(ii[0], 2);
    ck_assert_int_eq(ii[1], -2);
    ck_assert_int_eq(ii[2], 2147483647);
    ck_assert_int_eq(ii[3], 0);
    /* the result dtype must be attrs.dtype */
    tu_exec_fails(c, TGC_OP_CAST, &a, 1, &ft, p, 1, &bt, o, "attrs.dtype");
    tgc_cpu_free(c);
}
END_TEST

/* The own reductions split work per output element: 1 and 2 threads give the same bits. */
START_TEST(own_reductions_thread_independent) {
    tu_seed(71);
    tgc_cpu *c1 = new_cpu(1), *c2 = new_cpu(2);
    tgc_attrs a = tgc_attrs_default();
    a.axis = 1, a.label_smooth = 0.1;
    tgc_type xt = tu_f4(16, 64, 16, 16), bt = tu_f1(64), lt = tu_f2(256, 100), yt = tu_t(TGC_I32, tgc_shape1(256));
    float *x = tu_rand(tu_n(&xt), -1, 1), db1[64], db2[64];
    float *lg = tu_rand(256 * 100, -4, 4), l1, l2;
    int32_t lab[256];
    for (int i = 0; i < 256; i++) lab[i] = (int32_t)(tu_next() % 100);
    void *p[] = {x}, *o1[] = {db1}, *o2[] = {db2};
    tu_exec(c1, TGC_OP_BIAS_GRAD, &a, 1, &xt, p, 1, &bt, o1);
    tu_exec(c2, TGC_OP_BIAS_GRAD, &a, 1, &xt, p, 1, &bt, o2);
    ck_assert_int_eq(memcmp(db1, db2, sizeof db1), 0);
    tgc_type in[] = {lt, yt}, st = tu_f0();
    void *lp[] = {lg, lab}, *lo1[] = {&l1}, *lo2[] = {&l2};
    tu_exec(c1, TGC_OP_SOFTMAX_CE, &a, 2, in, lp, 1, &st, lo1);
    tu_exec(c2, TGC_OP_SOFTMAX_CE, &a, 2, in, lp, 1, &st, lo2);
    ck_assert_int_eq(memcmp(&l1, &l2, sizeof l1), 0);
    free(x), free(lg);
    tgc_cpu_free(c1);
    tgc_cpu_free(c2);
}
END_TEST

/* The CPU executor is the reference interpreter of every instruction (the design brief): its kernel
 * table, whose rows the build checks against ir/ops.def, marks no op unsupported. */
START_TEST(every_op_supported) {
    for (int op = 0; op < TGC_OP_COUNT; op++)
        ck_assert_msg(tgc_cpu_supports_op((tgc_opcode)op), "op %d has no CPU kernel", op);
    ck_assert_int_eq(tgc_cpu_supports_op(TGC_OP_COUNT), 0);
    ck_assert_int_eq(tgc_cpu_supports_op((tgc_opcode)-1), 0);
}
END_TEST

START_TEST(bad_calls_refused) {
    tgc_cpu *c = new_cpu(1);
    tgc_attrs a = tgc_attrs_default();
    float buf[8] = {0};
    tgc_type t = tu_f1(4), t5 = tu_f1(5);
    tgc_type in[] = {t, t5};
    void *p[] = {buf, buf}, *o[] = {buf};
    tu_exec_fails(c, TGC_OP_ADD, &a, 2, in, p, 1, &t, o, "differ in shape");
    tu_exec_fails(c, TGC_OP_COUNT, &a, 0, NULL, NULL, 0, NULL, NULL, "unknown opcode");
    tu_exec_fails(c, TGC_OP_RELU, NULL, 1, &t, p, 1, &t, o, "no attributes");
    void *nul[] = {NULL};
    tu_exec_fails(c, TGC_OP_RELU, &a, 1, &t, nul, 1, &t, o, "no data");
    a.axis = 3;
    tgc_type b = tu_f1(4);
    tu_exec_fails(c, TGC_OP_BIAS_GRAD, &a, 1, &t, p, 1, &b, o, "axis 3");
    tgc_cpu_free(c);
}
END_TEST

/* The memory planner may place an elementwise result on a dying operand: in-place calls must work. */
START_TEST(elementwise_in_place) {
    tgc_cpu *c = new_cpu(1);
    tgc_attrs a = tgc_attrs_default();
    tgc_type t = tu_f1(6);
    float x[6] = {-1, 2, -3, 4, -5, 6}, dy[6] = {1, 1, 1, 1, 1, 1}, y[6];
    void *p[] = {x}, *o[] = {x};
    tu_exec(c, TGC_OP_RELU, &a, 1, &t, p, 1, &t, o);
    for (int i = 0; i < 6; i++) ck_assert_float_eq(x[i], i % 2 ? (float)(i + 1) : 0.f);
    memcpy(y, x, sizeof y);
    tgc_type bt[] = {t, t};
    void *bp[] = {dy, y}, *bo[] = {dy};
    tu_exec(c, TGC_OP_RELU_BWD, &a, 2, bt, bp, 1, &t, bo);
    for (int i = 0; i < 6; i++) ck_assert_float_eq(dy[i], i % 2 ? 1.f : 0.f);
    void *ap[] = {x, y}, *ao[] = {x};
    tu_exec(c, TGC_OP_ADD, &a, 2, bt, ap, 1, &t, ao);
    for (int i = 0; i < 6; i++) ck_assert_float_eq(x[i], 2.f * y[i]);
    tgc_cpu_free(c);
}
END_TEST

int main(void) {
    Suite *s = suite_create("backend_cpu_dense");
    TCase *tc = tcase_create("dense");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, matmul_nn);
    tcase_add_test(tc, matmul_tn);
    tcase_add_test(tc, matmul_nt);
    tcase_add_test(tc, matmul_tt);
    tcase_add_test(tc, matmul_bad_inner_dim);
    tcase_add_test(tc, softmax_ce_smoothing);
    tcase_add_test(tc, relu_grad);
    tcase_add_test(tc, tanh_grad);
    tcase_add_test(tc, sigmoid_grad);
    tcase_add_test(tc, sigmoid_values);
    tcase_add_test(tc, bias_nchw);
    tcase_add_test(tc, bias_fc);
    tcase_add_test(tc, global_avg_pool_grad);
    tcase_add_test(tc, add_scale_fill_reshape);
    tcase_add_test(tc, cast_round_to_nearest_even);
    tcase_add_test(tc, own_reductions_thread_independent);
    tcase_add_test(tc, every_op_supported);
    tcase_add_test(tc, bad_calls_refused);
    tcase_add_test(tc, elementwise_in_place);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
