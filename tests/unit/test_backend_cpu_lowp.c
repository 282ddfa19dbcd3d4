/* CPU kernels in low precision (mixed precision): an elementwise group over bf16 tensors equals the same
 * ops run one by one (bit for bit: both compute in f32 and round each result once); batch norm's bf16
 * loops equal the f32 kernel on the same values with y rounded (bit for bit: the same f32 arithmetic);
 * bf16 convolution (forward, backward data, backward weights) and matmul agree with the f32 ones on the
 * same bf16 values to bf16's precision, and bit for bit where the convolution computes in f32; float16 ops (computed on f32
 * copies) equal the f32 op rounded to float16. */
#include "test_backend_cpu_util.h"

static tgc_cpu *cpu;

static void setup(void) {
    tgc_err err;
    cpu = tgc_cpu_new(2, 0, &err);
    ck_assert_msg(cpu, "%s", err.msg);
    tu_seed(7);
}

static void teardown(void) { tgc_cpu_free(cpu); }

/* f32 -> bf16 / f16 bits, round to nearest even, through the backend's own cast (tested bit for bit
 * against the CUDA kernels and PyTorch elsewhere). */
static uint16_t *to_low(const float *x, int64_t n, tgc_dtype dt) {
    uint16_t *h = calloc((size_t)n, sizeof(uint16_t));
    tgc_type ti = tu_t(TGC_F32, tgc_shape1(n)), to = tu_t(dt, tgc_shape1(n));
    tgc_attrs a = tgc_attrs_default();
    a.dtype = dt;
    void *in[1] = {(void *)x}, *out[1] = {h};
    tu_exec(cpu, TGC_OP_CAST, &a, 1, &ti, in, 1, &to, out);
    return h;
}

static float *to_f32(const uint16_t *h, int64_t n, tgc_dtype dt) {
    float *x = calloc((size_t)n, sizeof(float));
    tgc_type ti = tu_t(dt, tgc_shape1(n)), to = tu_t(TGC_F32, tgc_shape1(n));
    tgc_attrs a = tgc_attrs_default();
    a.dtype = TGC_F32;
    void *in[1] = {(void *)h}, *out[1] = {x};
    tu_exec(cpu, TGC_OP_CAST, &a, 1, &ti, in, 1, &to, out);
    return x;
}

static void same_u16(const uint16_t *a, const uint16_t *b, int64_t n, const char *what) {
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(a[i] == b[i], "%s: element %lld is 0x%04x, expected 0x%04x", what, (long long)i, a[i], b[i]);
}

/* add, relu, scale, relu_bwd over bf16 tensors: as a fused group and one by one. */
START_TEST(bf16_group_matches_unfused) {
    const int64_t n = 3 * 4096 + 123; /* several chunks and a partial one */
    tgc_type t = tu_t(TGC_BF16, tgc_shape1(n));
    float *fa = tu_rand(n, -2, 2), *fb = tu_rand(n, -2, 2);
    uint16_t *a = to_low(fa, n, TGC_BF16), *b = to_low(fb, n, TGC_BF16);
    uint16_t *out[2];
    tgc_attrs def = tgc_attrs_default(), sc = def;
    sc.alpha = 0.37;
    for (int run = 0; run < 2; run++) {
        uint16_t *s = calloc((size_t)n, 2), *r = calloc((size_t)n, 2), *q = calloc((size_t)n, 2), *d = calloc((size_t)n, 2);
        tgc_type tt[2] = {t, t};
        void *i0[2] = {a, b}, *o0[1] = {s}, *i1[1] = {s}, *o1[1] = {r}, *i2[1] = {r}, *o2[1] = {q};
        void *i3[2] = {q, r}, *o3[1] = {d};
        tgc_cpu_op ops[4] = {{TGC_OP_ADD, &def, 2, 1, tt, tt, i0, o0}, {TGC_OP_RELU, &def, 1, 1, tt, tt, i1, o1},
                             {TGC_OP_SCALE, &sc, 1, 1, tt, tt, i2, o2}, {TGC_OP_RELU_BWD, &def, 2, 1, tt, tt, i3, o3}};
        if (run == 0) {
            char why[160];
            tgc_cpu_fused *f = tgc_cpu_fuse(ops, 4, why, sizeof why);
            ck_assert_msg(f != NULL, "bf16 group declined: %s", why);
            tgc_err err;
            ck_assert_msg(tgc_cpu_exec_fused(cpu, f, &err) == 0, "%s", err.msg);
            tgc_cpu_fused_free(f);
        } else {
            for (int k = 0; k < 4; k++)
                tu_exec(cpu, ops[k].code, ops[k].a, ops[k].n_in, ops[k].in_t, (void **)ops[k].in, 1, ops[k].out_t,
                        (void **)ops[k].out);
        }
        out[run] = d;
        free(s), free(r), free(q);
    }
    same_u16(out[0], out[1], n, "add, relu, scale, relu_bwd in bf16");
    /* and the values are the f32 computation rounded per op: spot-check the first op's rounding */
    float *back = to_f32(out[1], n, TGC_BF16);
    int nonzero = 0;
    for (int64_t i = 0; i < n; i++) nonzero += back[i] != 0;
    ck_assert_int_gt(nonzero, n / 4);
    free(back), free(out[0]), free(out[1]), free(a), free(b), free(fa), free(fb);
}
END_TEST

/* batch_norm_train(_relu) on bf16 x: y equals the f32 kernel's y on the same values, rounded; the batch
 * statistics and the running statistics equal the f32 kernel's bit for bit. The same for the backward. */
START_TEST(bf16_batch_norm_matches_f32) {
    const int64_t N = 3, C = 4, H = 5, W = 7, n = N * C * H * W;
    for (int relu = 0; relu < 2; relu++) {
        float *x0 = tu_rand(n, -3, 3), *dy0 = tu_rand(n, -1, 1);
        uint16_t *xb = to_low(x0, n, TGC_BF16), *dyb = to_low(dy0, n, TGC_BF16);
        float *x = to_f32(xb, n, TGC_BF16), *dy = to_f32(dyb, n, TGC_BF16);
        float *g = tu_rand(C, 0.5, 1.5), *be = tu_rand(C, -0.5, 0.5);
        float *rm[2] = {tu_rand(C, -0.2, 0.2), NULL}, *rv[2] = {tu_rand(C, 0.5, 1.5), NULL};
        rm[1] = tu_copy(rm[0], C), rv[1] = tu_copy(rv[0], C);
        float *yf = tu_zeros(n), *m[2] = {tu_zeros(C), tu_zeros(C)}, *s[2] = {tu_zeros(C), tu_zeros(C)};
        uint16_t *yb = calloc((size_t)n, 2);
        tgc_attrs a = tgc_attrs_default();
        tgc_opcode fwd = relu ? TGC_OP_BN_TRAIN_RELU : TGC_OP_BN_TRAIN;
        tgc_type ct = tu_f1(C), xf = tu_f4(N, C, H, W), xbt = tu_t(TGC_BF16, tgc_shape4(N, C, H, W));
        tgc_type in32[5] = {xf, ct, ct, ct, ct}, out32[3] = {xf, ct, ct};
        tgc_type in16[5] = {xbt, ct, ct, ct, ct}, out16[3] = {xbt, ct, ct};
        void *i32[5] = {x, g, be, rm[0], rv[0]}, *o32[3] = {yf, m[0], s[0]};
        void *i16[5] = {xb, g, be, rm[1], rv[1]}, *o16[3] = {yb, m[1], s[1]};
        tu_exec(cpu, fwd, &a, 5, in32, i32, 3, out32, o32);
        tu_exec(cpu, fwd, &a, 5, in16, i16, 3, out16, o16);
        uint16_t *yr = to_low(yf, n, TGC_BF16);
        same_u16(yb, yr, n, relu ? "batch_norm_train_relu y" : "batch_norm_train y");
        ck_assert(memcmp(m[0], m[1], sizeof(float) * C) == 0 && memcmp(s[0], s[1], sizeof(float) * C) == 0);
        ck_assert(memcmp(rm[0], rm[1], sizeof(float) * C) == 0 && memcmp(rv[0], rv[1], sizeof(float) * C) == 0);
        /* backward */
        tgc_opcode bwd = relu ? TGC_OP_BN_RELU_BWD : TGC_OP_BN_BWD;
        int nb = relu ? 6 : 5;
        float *dxf = tu_zeros(n), *dg[2] = {tu_zeros(C), tu_zeros(C)}, *db[2] = {tu_zeros(C), tu_zeros(C)};
        uint16_t *dxb = calloc((size_t)n, 2);
        tgc_type bi32[6] = {xf, xf, ct, ct, ct, ct}, bo32[3] = {xf, ct, ct};
        tgc_type bi16[6] = {xbt, xbt, ct, ct, ct, ct}, bo16[3] = {xbt, ct, ct};
        void *j32[6], *j16[6];
        if (relu) {
            void *p32[6] = {dy, x, g, be, m[0], s[0]}, *p16[6] = {dyb, xb, g, be, m[0], s[0]};
            memcpy(j32, p32, sizeof p32), memcpy(j16, p16, sizeof p16);
        } else {
            void *p32[5] = {dy, x, g, m[0], s[0]}, *p16[5] = {dyb, xb, g, m[0], s[0]};
            memcpy(j32, p32, sizeof p32), memcpy(j16, p16, sizeof p16);
        }
        void *q32[3] = {dxf, dg[0], db[0]}, *q16[3] = {dxb, dg[1], db[1]};
        tu_exec(cpu, bwd, &a, nb, bi32, j32, 3, bo32, q32);
        tu_exec(cpu, bwd, &a, nb, bi16, j16, 3, bo16, q16);
        uint16_t *dxr = to_low(dxf, n, TGC_BF16);
        same_u16(dxb, dxr, n, relu ? "batch_norm_relu_bwd dx" : "batch_norm_bwd dx");
        ck_assert(memcmp(dg[0], dg[1], sizeof(float) * C) == 0 && memcmp(db[0], db[1], sizeof(float) * C) == 0);
        free(x0), free(dy0), free(xb), free(dyb), free(x), free(dy), free(g), free(be), free(yf), free(yb), free(yr);
        free(dxf), free(dxb), free(dxr);
        for (int k = 0; k < 2; k++) free(rm[k]), free(rv[k]), free(m[k]), free(s[k]), free(dg[k]), free(db[k]);
    }
}
END_TEST

/* |a - ref| <= tol * max|ref| elementwise, a in bf16. */
static void close_bf16(const uint16_t *a, const float *ref, int64_t n, double tol, const char *what) {
    float *af = to_f32(a, n, TGC_BF16);
    double scale = 1e-12, worst = 0;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(ref[i]));
    for (int64_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)af[i] - ref[i]) / scale);
    ck_assert_msg(worst <= tol, "%s: relative error %.3g over %.3g", what, worst, tol);
    free(af);
}

/* conv2d forward, backward data and backward weights in bf16 against f32 on the same bf16 values: oneDNN
 * accumulates in f32 on both paths, so the bf16 result is the f32 one up to its own rounding (2^-9
 * relative to the element) and accumulation order: 2^-7 of the tensor's scale bounds it. */
START_TEST(bf16_conv_and_matmul_match_f32) {
    const int64_t N = 4, C = 16, H = 9, W = 9, O = 32;
    tgc_attrs a = tgc_attrs_default();
    a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = 1;
    tgc_shape xs = tgc_shape4(N, C, H, W), ws = tgc_shape4(O, C, 3, 3), ys = tgc_shape4(N, O, H, W);
    int64_t nx = tgc_shape_numel(&xs), nw = tgc_shape_numel(&ws), ny = tgc_shape_numel(&ys);
    float *x0 = tu_rand(nx, -1, 1), *w0 = tu_rand(nw, -0.3, 0.3), *dy0 = tu_rand(ny, -1, 1);
    uint16_t *xb = to_low(x0, nx, TGC_BF16), *wb = to_low(w0, nw, TGC_BF16), *dyb = to_low(dy0, ny, TGC_BF16);
    float *x = to_f32(xb, nx, TGC_BF16), *w = to_f32(wb, nw, TGC_BF16), *dy = to_f32(dyb, ny, TGC_BF16);
    float *yf = tu_zeros(ny), *dxf = tu_zeros(nx), *dwf = tu_zeros(nw);
    uint16_t *yb = calloc((size_t)ny, 2), *dxb = calloc((size_t)nx, 2), *dwb = calloc((size_t)nw, 2);
    tgc_type X = tu_t(TGC_F32, xs), Wt = tu_t(TGC_F32, ws), Y = tu_t(TGC_F32, ys);
    tgc_type Xb = tu_t(TGC_BF16, xs), Wb = tu_t(TGC_BF16, ws), Yb = tu_t(TGC_BF16, ys);
    {
        tgc_type i32[2] = {X, Wt}, i16[2] = {Xb, Wb};
        void *p32[2] = {x, w}, *p16[2] = {xb, wb}, *o32[1] = {yf}, *o16[1] = {yb};
        tu_exec(cpu, TGC_OP_CONV2D, &a, 2, i32, p32, 1, &Y, o32);
        tu_exec(cpu, TGC_OP_CONV2D, &a, 2, i16, p16, 1, &Yb, o16);
        close_bf16(yb, yf, ny, 1.0 / 128, "conv2d bf16");
    }
    {
        tgc_attrs ad = a;
        ad.shape = xs;
        tgc_type i32[2] = {Y, Wt}, i16[2] = {Yb, Wb};
        void *p32[2] = {dy, w}, *p16[2] = {dyb, wb}, *o32[1] = {dxf}, *o16[1] = {dxb};
        tu_exec(cpu, TGC_OP_CONV2D_BWD_DATA, &ad, 2, i32, p32, 1, &X, o32);
        tu_exec(cpu, TGC_OP_CONV2D_BWD_DATA, &ad, 2, i16, p16, 1, &Xb, o16);
        close_bf16(dxb, dxf, nx, 1.0 / 128, "conv2d_bwd_data bf16");
    }
    {
        tgc_attrs aw = a;
        aw.shape = ws;
        tgc_type i32[2] = {X, Y}, i16[2] = {Xb, Yb};
        void *p32[2] = {x, dy}, *p16[2] = {xb, dyb}, *o32[1] = {dwf}, *o16[1] = {dwb};
        tu_exec(cpu, TGC_OP_CONV2D_BWD_FILTER, &aw, 2, i32, p32, 1, &Wt, o32);
        tu_exec(cpu, TGC_OP_CONV2D_BWD_FILTER, &aw, 2, i16, p16, 1, &Wb, o16);
        close_bf16(dwb, dwf, nw, 1.0 / 128, "conv2d_bwd_filter bf16");
    }
    {
        const int64_t M = 8, K = 64, Nn = 10;
        float *a0 = tu_rand(M * K, -1, 1), *b0 = tu_rand(Nn * K, -1, 1);
        uint16_t *ab = to_low(a0, M * K, TGC_BF16), *bb = to_low(b0, Nn * K, TGC_BF16), *cb = calloc((size_t)(M * Nn), 2);
        float *af = to_f32(ab, M * K, TGC_BF16), *bf = to_f32(bb, Nn * K, TGC_BF16), *cf = tu_zeros(M * Nn);
        tgc_attrs am = tgc_attrs_default();
        am.trans_b = 1;
        tgc_type i32[2] = {tu_f2(M, K), tu_f2(Nn, K)}, o32 = tu_f2(M, Nn);
        tgc_type i16[2] = {tu_t(TGC_BF16, tgc_shape2(M, K)), tu_t(TGC_BF16, tgc_shape2(Nn, K))};
        tgc_type o16 = tu_t(TGC_BF16, tgc_shape2(M, Nn));
        void *p32[2] = {af, bf}, *p16[2] = {ab, bb}, *q32[1] = {cf}, *q16[1] = {cb};
        tu_exec(cpu, TGC_OP_MATMUL, &am, 2, i32, p32, 1, &o32, q32);
        tu_exec(cpu, TGC_OP_MATMUL, &am, 2, i16, p16, 1, &o16, q16);
        close_bf16(cb, cf, M * Nn, 1.0 / 128, "matmul bf16");
        free(a0), free(b0), free(ab), free(bb), free(cb), free(af), free(bf), free(cf);
    }
    /* mixed dtypes are refused, naming the operand */
    {
        tgc_type mix[2] = {Xb, Wt};
        void *p[2] = {xb, w}, *o[1] = {yb};
        tu_exec_fails(cpu, TGC_OP_CONV2D, &a, 2, mix, p, 1, &Yb, o, "operand 1 is f32, expected bf16");
    }
    free(x0), free(w0), free(dy0), free(xb), free(wb), free(dyb), free(x), free(w), free(dy);
    free(yf), free(dxf), free(dwf), free(yb), free(dxb), free(dwb);
}
END_TEST

/* The bf16 convolution's two ways (cpu_conv.c): with TGC_CPU_BF16_CONV=0 (the default on CPUs without AMX)
 * an f32 primitive runs on the bf16 values, so forward, backward data and backward weights are the f32 op on
 * the same values rounded once, bit for bit (same primitive, same order; both round to nearest even); with
 * =1 forward and backward data use oneDNN's bf16 primitives (within bf16's precision of f32) and backward
 * weights still the f32 one (bit for bit). */
START_TEST(bf16_conv_modes) {
    const int64_t N = 8, C = 64, H = 14, W = 14, O = 64; /* sums of 576 and 1568 terms */
    tgc_attrs a = tgc_attrs_default();
    a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = 1;
    tgc_shape xs = tgc_shape4(N, C, H, W), ws = tgc_shape4(O, C, 3, 3), ys = tgc_shape4(N, O, H, W);
    int64_t nx = tgc_shape_numel(&xs), nw = tgc_shape_numel(&ws), ny = tgc_shape_numel(&ys);
    float *x0 = tu_rand(nx, -1, 1), *w0 = tu_rand(nw, -0.3, 0.3), *dy0 = tu_rand(ny, -1, 1);
    uint16_t *xb = to_low(x0, nx, TGC_BF16), *wb = to_low(w0, nw, TGC_BF16), *dyb = to_low(dy0, ny, TGC_BF16);
    float *x = to_f32(xb, nx, TGC_BF16), *w = to_f32(wb, nw, TGC_BF16), *dy = to_f32(dyb, ny, TGC_BF16);
    float *ref[3] = {tu_zeros(ny), tu_zeros(nx), tu_zeros(nw)};
    uint16_t *got[3] = {calloc((size_t)ny, 2), calloc((size_t)nx, 2), calloc((size_t)nw, 2)};
    int64_t n_out[3] = {ny, nx, nw};
    const tgc_opcode ops[3] = {TGC_OP_CONV2D, TGC_OP_CONV2D_BWD_DATA, TGC_OP_CONV2D_BWD_FILTER};
    const char *names[3] = {"conv2d", "conv2d_bwd_data", "conv2d_bwd_filter"};
    tgc_shape in0[3] = {xs, ys, xs}, in1[3] = {ws, ws, ys}, out[3] = {ys, xs, ws};
    void *f32_in[3][2] = {{x, w}, {dy, w}, {x, dy}}, *bf_in[3][2] = {{xb, wb}, {dyb, wb}, {xb, dyb}};
    for (int mode = 0; mode < 2; mode++) {
        ck_assert_int_eq(setenv("TGC_CPU_BF16_CONV", mode ? "1" : "0", 1), 0);
        tgc_err err;
        tgc_cpu *c = tgc_cpu_new(2, 0, &err);
        ck_assert_msg(c, "%s", err.msg);
        for (int d = 0; d < 3; d++) {
            tgc_attrs ad = a;
            ad.shape = out[d];
            tgc_type i32[2] = {tu_t(TGC_F32, in0[d]), tu_t(TGC_F32, in1[d])}, o32 = tu_t(TGC_F32, out[d]);
            tgc_type i16[2] = {tu_t(TGC_BF16, in0[d]), tu_t(TGC_BF16, in1[d])}, o16 = tu_t(TGC_BF16, out[d]);
            void *q32[1] = {ref[d]}, *q16[1] = {got[d]};
            tu_exec(c, ops[d], &ad, 2, i32, f32_in[d], 1, &o32, q32);
            tu_exec(c, ops[d], &ad, 2, i16, bf_in[d], 1, &o16, q16);
            char what[64];
            snprintf(what, sizeof what, "%s bf16, TGC_CPU_BF16_CONV=%d", names[d], mode);
            if (mode == 0 || ops[d] == TGC_OP_CONV2D_BWD_FILTER) {
                uint16_t *r = to_low(ref[d], n_out[d], TGC_BF16);
                same_u16(got[d], r, n_out[d], what);
                free(r);
            } else {
                close_bf16(got[d], ref[d], n_out[d], 1.0 / 128, what);
            }
        }
        tgc_cpu_free(c);
    }
    unsetenv("TGC_CPU_BF16_CONV");
    free(x0), free(w0), free(dy0), free(xb), free(wb), free(dyb), free(x), free(w), free(dy);
    for (int d = 0; d < 3; d++) free(ref[d]), free(got[d]);
}
END_TEST

/* float16 has no native kernels here: an f16 op runs on f32 copies and rounds its result once, so it
 * equals the f32 op on the same values, rounded to float16 (conv2d shown; global_avg_pool too). */
START_TEST(f16_ops_are_f32_rounded) {
    const int64_t N = 2, C = 3, H = 6, W = 6, O = 4;
    tgc_attrs a = tgc_attrs_default();
    tgc_shape xs = tgc_shape4(N, C, H, W), ws = tgc_shape4(O, C, 3, 3), ys = tgc_shape4(N, O, 4, 4);
    int64_t nx = tgc_shape_numel(&xs), nw = tgc_shape_numel(&ws), ny = tgc_shape_numel(&ys);
    float *x0 = tu_rand(nx, -1, 1), *w0 = tu_rand(nw, -1, 1);
    uint16_t *xh = to_low(x0, nx, TGC_F16), *wh = to_low(w0, nw, TGC_F16), *yh = calloc((size_t)ny, 2);
    float *x = to_f32(xh, nx, TGC_F16), *w = to_f32(wh, nw, TGC_F16), *yf = tu_zeros(ny);
    tgc_type i32[2] = {tu_t(TGC_F32, xs), tu_t(TGC_F32, ws)}, o32 = tu_t(TGC_F32, ys);
    tgc_type i16[2] = {tu_t(TGC_F16, xs), tu_t(TGC_F16, ws)}, o16 = tu_t(TGC_F16, ys);
    void *p32[2] = {x, w}, *p16[2] = {xh, wh}, *q32[1] = {yf}, *q16[1] = {yh};
    tu_exec(cpu, TGC_OP_CONV2D, &a, 2, i32, p32, 1, &o32, q32);
    tu_exec(cpu, TGC_OP_CONV2D, &a, 2, i16, p16, 1, &o16, q16);
    uint16_t *yr = to_low(yf, ny, TGC_F16);
    same_u16(yh, yr, ny, "conv2d f16");
    uint16_t *gh = calloc((size_t)(N * C), 2);
    float *gf = tu_zeros(N * C);
    tgc_type gi32 = tu_t(TGC_F32, xs), go32 = tu_f2(N, C), gi16 = tu_t(TGC_F16, xs), go16 = tu_t(TGC_F16, tgc_shape2(N, C));
    void *r32[1] = {x}, *r16[1] = {xh}, *s32[1] = {gf}, *s16[1] = {gh};
    tu_exec(cpu, TGC_OP_GLOBAL_AVG_POOL, &a, 1, &gi32, r32, 1, &go32, s32);
    tu_exec(cpu, TGC_OP_GLOBAL_AVG_POOL, &a, 1, &gi16, r16, 1, &go16, s16);
    uint16_t *gr = to_low(gf, N * C, TGC_F16);
    same_u16(gh, gr, N * C, "global_avg_pool f16");
    free(x0), free(w0), free(xh), free(wh), free(yh), free(x), free(w), free(yf), free(yr), free(gh), free(gf), free(gr);
}
END_TEST

int main(void) {
    Suite *s = suite_create("backend_cpu_lowp");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, bf16_group_matches_unfused);
    tcase_add_test(tc, bf16_batch_norm_matches_f32);
    tcase_add_test(tc, bf16_conv_and_matmul_match_f32);
    tcase_add_test(tc, bf16_conv_modes);
    tcase_add_test(tc, f16_ops_are_f32_rounded);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
