/* tests/unit/test_backend_cuda_kernels_nhwc.c - the hand-written CUDA kernels on NHWC (channels_last)
 * activations, each instruction marshalled as the executor does (native_marshal.c, operand types carrying
 * TGC_LAYOUT_NHWC) and run on the host through kshim.h (tgc_cuda_native_host_run), against the CPU kernel of
 * the op on the same values in the row-major layout, its result transposed to NHWC (the reference: an NHWC
 * value is the row-major one stored [N,H,W,C]). f32, bf16 and f16 data where the op takes them.
 *
 * Expected, and asserted:
 *   relayout ROW -> NHWC -> ROW (f32, bf16, f16): bit for bit against cpu_relayout and the round trip;
 *   global_avg_pool_bwd, channel_mul, max_pool2d_bwd (random data, ties, NaN/-inf; overlapping windows,
 *     padding, ceil mode), batch_norm_eval_bwd's dx: bit for bit;
 *   global_avg_pool (f32): 0 ulp (the NHWC kernel sums each (n, c) in the CPU's order); bf16/f16: one step;
 *   channel_mul_grad_gate, bias_grad, batch_norm_eval_bwd's dgamma/dbeta: relative 1e-6 (sums in double in
 *     another order, rounded once);
 *   the batch norm host reference of the cuDNN calls (tgc_cuda_bn_host: train, train+relu, backward with the
 *     relu mask) on NHWC data equal to its row-major run transposed, bit for bit (the same sums in the same
 *     order): what the stand-in runs for cuDNN and the executor's relu kernels compute;
 *   operands whose layouts the op's rule does not allow (mixed, or NHWC on an op without NHWC kernels) are
 *     refused by tgc_cuda_native_supports.
 * Each test prints the worst difference it measured ("cuda-kernels-nhwc: ..."). */
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/native_host.h"
#include "common/half.h"

#include "tests/unit/test_backend_cpu_util.h"

static tgc_cpu *cpu;

static void setup(void) {
    tgc_err err;
    cpu = tgc_cpu_new(1, 1, &err);
    ck_assert_msg(cpu, "%s", err.msg);
    tu_seed(20261207);
}

static void teardown(void) { tgc_cpu_free(cpu); }

static void report(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(const char *what, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("cuda-kernels-nhwc: %-40s ", what);
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    va_end(ap);
}

static const tgc_dtype DTYPES[3] = {TGC_F32, TGC_BF16, TGC_F16};

static size_t esize(tgc_dtype dt) { return dt == TGC_F32 ? 4 : 2; }

static tgc_type nhwc(tgc_type t) {
    t.layout = TGC_LAYOUT_NHWC;
    return t;
}

/* n random values in [lo, hi) stored as dt (rounded to nearest even). */
static void *rand_as(int64_t n, double lo, double hi, tgc_dtype dt) {
    float *f = tu_rand(n, lo, hi);
    if (dt == TGC_F32) return f;
    uint16_t *h = malloc(2 * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) h[i] = dt == TGC_BF16 ? tgc_f32_to_bf16(f[i]) : tgc_f32_to_f16(f[i]);
    free(f);
    return h;
}

static float load(const void *p, tgc_dtype dt, int64_t i) {
    if (dt == TGC_F32) return ((const float *)p)[i];
    uint16_t h = ((const uint16_t *)p)[i];
    return dt == TGC_BF16 ? tgc_bf16_to_f32(h) : tgc_f16_to_f32(h);
}

static void *nan_fill(int64_t n, size_t es) {
    void *p = malloc(es * (size_t)(n ? n : 1));
    memset(p, 0xff, es * (size_t)(n ? n : 1));
    return p;
}

/* [n, a, b] -> [n, b, a] of es-byte elements: NCHW -> NHWC is a = C, b = H*W; back is a = H*W, b = C. */
static void *transposed(const void *x, size_t es, int64_t n, int64_t a, int64_t b) {
    const int64_t all = n * a * b;
    char *y = malloc(es * (size_t)(all > 0 ? all : 1));
    for (int64_t k = 0; k < n; k++)
        for (int64_t i = 0; i < a; i++)
            for (int64_t j = 0; j < b; j++)
                memcpy(y + ((k * b + j) * a + i) * es, (const char *)x + ((k * a + i) * b + j) * es, es);
    return y;
}
static void *to_nhwc(const void *x, size_t es, const tgc_shape *s) { return transposed(x, es, s->d[0], s->d[1], s->d[2] * s->d[3]); }

static void gpu_exec(tgc_opcode code, const tgc_attrs *at, int n_in, const tgc_type *in_t, void **in, int n_out,
                     const tgc_type *out_t, void **out) {
    tgc_cpu_op o = {code, at, n_in, n_out, in_t, out_t, (void *const *)in, (void *const *)out};
    ck_assert_msg(tgc_cuda_native_supports(&o), "%s: the kernels do not take these NHWC operands", tgc_op_table[code].name);
    tgc_err err = {{0}};
    int launches = 0;
    ck_assert_msg(tgc_cuda_native_host_run(&o, 1, NULL, TGC_MT_CHUNK, &launches, &err) == 0, "%s: %s",
                  tgc_op_table[code].name, err.msg);
    ck_assert_msg(launches > 0, "%s: nothing launched", tgc_op_table[code].name);
}

static void same_bytes(const void *got, const void *want, size_t es, int64_t n, const char *what) {
    for (int64_t i = 0; i < n; i++)
        if (memcmp((const char *)got + i * es, (const char *)want + i * es, es)) {
            uint32_t g = 0, w = 0;
            memcpy(&g, (const char *)got + i * es, es);
            memcpy(&w, (const char *)want + i * es, es);
            ck_abort_msg("%s: element %lld is 0x%x, the reference's 0x%x", what, (long long)i, g, w);
        }
}

/* Worst |got - want| / max|want|, asserted <= tol (NaN must match NaN). */
static double close_vals(const void *got, const void *want, tgc_dtype dt, int64_t n, double tol, const char *what) {
    double scale = 1e-30, worst = 0;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs((double)load(want, dt, i)));
    for (int64_t i = 0; i < n; i++) {
        double g = load(got, dt, i), w = load(want, dt, i);
        if (isnan(w)) {
            ck_assert_msg(isnan(g), "%s: element %lld is %g, the reference's NaN", what, (long long)i, g);
            continue;
        }
        double e = fabs(g - w) / scale;
        ck_assert_msg(e <= tol, "%s: element %lld is %.9g, the reference's %.9g (rel %.3g)", what, (long long)i, g, w, e);
        worst = fmax(worst, e);
    }
    return worst;
}

/* Steps of the format between two values (f32: ulps; 16-bit: steps of the 16-bit pattern). */
static int64_t steps(const void *a, const void *b, tgc_dtype dt, int64_t i) {
    int64_t x, y;
    if (dt == TGC_F32) {
        int32_t u, v;
        memcpy(&u, (const char *)a + 4 * i, 4);
        memcpy(&v, (const char *)b + 4 * i, 4);
        x = u >= 0 ? u : -(int64_t)(u & 0x7fffffff), y = v >= 0 ? v : -(int64_t)(v & 0x7fffffff);
    } else {
        uint16_t u = ((const uint16_t *)a)[i], v = ((const uint16_t *)b)[i];
        x = u & 0x8000 ? -(int64_t)(u & 0x7fff) : u, y = v & 0x8000 ? -(int64_t)(v & 0x7fff) : v;
    }
    return x > y ? x - y : y - x;
}

static const int64_t SHAPES[][4] = {{2, 3, 7, 7}, {4, 5, 1, 1}, {3, 2, 33, 17}, {1, 1, 8, 8}, {2, 64, 4, 4}, {3, 40, 5, 3}};
#define N_SHAPES ((int)(sizeof SHAPES / sizeof *SHAPES))

/* ---- relayout ------------------------------------------------------------------------------------------- */

START_TEST(relayout_equals_cpu_bitwise) {
    int cases = 0;
    for (int di = 0; di < 3; di++)
        for (int s = 0; s < N_SHAPES; s++) {
            tgc_dtype dt = DTYPES[di];
            size_t es = esize(dt);
            tgc_type rt = tu_t(dt, tgc_shape4(SHAPES[s][0], SHAPES[s][1], SHAPES[s][2], SHAPES[s][3])), nt = nhwc(rt);
            int64_t n = tu_n(&rt);
            void *x = rand_as(n, -4, 4, dt), *y_cpu = nan_fill(n, es), *y_gpu = nan_fill(n, es), *back = nan_fill(n, es);
            void *want = to_nhwc(x, es, &rt.shape);
            tgc_attrs at = tgc_attrs_default();
            void *i1[1] = {x}, *o1[1] = {y_cpu}, *o2[1] = {y_gpu};
            tu_exec(cpu, TGC_OP_RELAYOUT, &at, 1, &rt, i1, 1, &nt, o1);
            gpu_exec(TGC_OP_RELAYOUT, &at, 1, &rt, i1, 1, &nt, o2);
            same_bytes(y_cpu, want, es, n, "cpu_relayout ROW -> NHWC (the reference transpose)");
            same_bytes(y_gpu, y_cpu, es, n, "relayout ROW -> NHWC");
            void *i3[1] = {y_gpu}, *o3[1] = {back};
            gpu_exec(TGC_OP_RELAYOUT, &at, 1, &nt, i3, 1, &rt, o3);
            same_bytes(back, x, es, n, "relayout NHWC -> ROW (the round trip)");
            free(x), free(y_cpu), free(y_gpu), free(back), free(want);
            cases++;
        }
    report("relayout", "%d cases (f32, bf16, f16; both directions): bit for bit", cases);
}
END_TEST

/* ---- global_avg_pool (+bwd) ------------------------------------------------------------------------------ */

START_TEST(global_avg_pool_nhwc) {
    int64_t worst_steps[3] = {0, 0, 0};
    for (int di = 0; di < 3; di++)
        for (int s = 0; s < N_SHAPES; s++) {
            tgc_dtype dt = DTYPES[di];
            size_t es = esize(dt);
            const int64_t *d = SHAPES[s], planes = d[0] * d[1], n = planes * d[2] * d[3];
            tgc_type xt = tu_t(dt, tgc_shape4(d[0], d[1], d[2], d[3])), yt = tu_t(dt, tgc_shape2(d[0], d[1])), xn = nhwc(xt);
            void *x = rand_as(n, -3, 5, dt), *xh = to_nhwc(x, es, &xt.shape);
            void *y_cpu = nan_fill(planes, es), *y_gpu = nan_fill(planes, es);
            tgc_attrs at = tgc_attrs_default();
            void *ci[1] = {x}, *co[1] = {y_cpu}, *gi[1] = {xh}, *go[1] = {y_gpu};
            tu_exec(cpu, TGC_OP_GLOBAL_AVG_POOL, &at, 1, &xt, ci, 1, &yt, co);
            gpu_exec(TGC_OP_GLOBAL_AVG_POOL, &at, 1, &xn, gi, 1, &yt, go);
            for (int64_t p = 0; p < planes; p++) {
                int64_t st = steps(y_gpu, y_cpu, dt, p);
                ck_assert_msg(st <= (dt == TGC_F32 ? 0 : 1), "global_avg_pool %s shape %d plane %lld: %lld steps apart",
                              tgc_dtype_name(dt), s, (long long)p, (long long)st);
                if (st > worst_steps[di]) worst_steps[di] = st;
            }
            /* backward: dy[N, C] -> dx NHWC, elementwise */
            void *dx_cpu = nan_fill(n, es), *dx_gpu = nan_fill(n, es);
            at.shape = xt.shape;
            void *bi[1] = {y_cpu}, *bo[1] = {dx_cpu}, *go2[1] = {dx_gpu};
            tu_exec(cpu, TGC_OP_GLOBAL_AVG_POOL_BWD, &at, 1, &yt, bi, 1, &xt, bo);
            gpu_exec(TGC_OP_GLOBAL_AVG_POOL_BWD, &at, 1, &yt, bi, 1, &xn, go2);
            void *want = to_nhwc(dx_cpu, es, &xt.shape);
            same_bytes(dx_gpu, want, es, n, "global_avg_pool_bwd NHWC");
            free(x), free(xh), free(y_cpu), free(y_gpu), free(dx_cpu), free(dx_gpu), free(want);
        }
    report("global_avg_pool (+bwd)", "f32 %lld ulp, bf16 %lld step, f16 %lld step; backward bit for bit",
           (long long)worst_steps[0], (long long)worst_steps[1], (long long)worst_steps[2]);
}
END_TEST

/* ---- channel_mul (+grad gate) ---------------------------------------------------------------------------- */

START_TEST(channel_mul_nhwc) {
    double worst = 0;
    int64_t worst_ulps = 0;
    for (int s = 0; s < N_SHAPES; s++) {
        const int64_t *d = SHAPES[s], planes = d[0] * d[1], n = planes * d[2] * d[3];
        tgc_type xt = tu_f4(d[0], d[1], d[2], d[3]), gt = tu_f2(d[0], d[1]), xn = nhwc(xt);
        float *x = tu_rand(n, -3, 5), *g = tu_rand(planes, 0, 1), *dy = tu_rand(n, -1, 1);
        float *xh = to_nhwc(x, 4, &xt.shape), *dyh = to_nhwc(dy, 4, &xt.shape);
        float *y_cpu = nan_fill(n, 4), *y_gpu = nan_fill(n, 4), *dg_cpu = nan_fill(planes, 4), *dg_gpu = nan_fill(planes, 4);
        tgc_attrs at = tgc_attrs_default();
        tgc_type cin[2] = {xt, gt}, gin[2] = {xn, gt}, cb[2] = {xt, xt}, gb[2] = {xn, xn};
        void *ci[2] = {x, g}, *co[1] = {y_cpu}, *gi[2] = {xh, g}, *go[1] = {y_gpu};
        tu_exec(cpu, TGC_OP_CHANNEL_MUL, &at, 2, cin, ci, 1, &xt, co);
        gpu_exec(TGC_OP_CHANNEL_MUL, &at, 2, gin, gi, 1, &xn, go);
        float *want = to_nhwc(y_cpu, 4, &xt.shape);
        same_bytes(y_gpu, want, 4, n, "channel_mul NHWC");
        void *bi[2] = {dy, x}, *bo[1] = {dg_cpu}, *hi[2] = {dyh, xh}, *ho[1] = {dg_gpu};
        tu_exec(cpu, TGC_OP_CHANNEL_MUL_GRAD_GATE, &at, 2, cb, bi, 1, &gt, bo);
        gpu_exec(TGC_OP_CHANNEL_MUL_GRAD_GATE, &at, 2, gb, hi, 1, &gt, ho);
        worst = fmax(worst, close_vals(dg_gpu, dg_cpu, TGC_F32, planes, 1e-6, "channel_mul_grad_gate NHWC"));
        for (int64_t p = 0; p < planes; p++)
            if (steps(dg_gpu, dg_cpu, TGC_F32, p) > worst_ulps) worst_ulps = steps(dg_gpu, dg_cpu, TGC_F32, p);
        free(x), free(g), free(dy), free(xh), free(dyh), free(y_cpu), free(y_gpu), free(dg_cpu), free(dg_gpu), free(want);
    }
    report("channel_mul (+grad_gate)", "bit for bit; gate gradient rel err <= %.3g (%lld ulp)", worst, (long long)worst_ulps);
}
END_TEST

/* ---- bias_grad ------------------------------------------------------------------------------------------ */

START_TEST(bias_grad_nhwc) {
    double worst = 0;
    for (int di = 0; di < 3; di++)
        for (int s = 0; s < N_SHAPES; s++) {
            tgc_dtype dt = DTYPES[di];
            size_t es = esize(dt);
            const int64_t *d = SHAPES[s], c = d[1];
            tgc_type it = tu_t(dt, tgc_shape4(d[0], d[1], d[2], d[3])), in = nhwc(it), ot = tu_f1(c);
            int64_t n = tu_n(&it);
            void *dy = rand_as(n, -1, 1.5, dt), *dyh = to_nhwc(dy, es, &it.shape);
            float *db_cpu = nan_fill(c, 4), *db_gpu = nan_fill(c, 4);
            tgc_attrs at = tgc_attrs_default();
            at.axis = 1;
            void *ci[1] = {dy}, *co[1] = {db_cpu}, *gi[1] = {dyh}, *go[1] = {db_gpu};
            tu_exec(cpu, TGC_OP_BIAS_GRAD, &at, 1, &it, ci, 1, &ot, co);
            gpu_exec(TGC_OP_BIAS_GRAD, &at, 1, &in, gi, 1, &ot, go);
            worst = fmax(worst, close_vals(db_gpu, db_cpu, TGC_F32, c, 1e-6, "bias_grad NHWC"));
            free(dy), free(dyh), free(db_cpu), free(db_gpu);
        }
    report("bias_grad", "f32, bf16, f16 dy: rel err <= %.3g", worst);
}
END_TEST

/* ---- max_pool2d_bwd ------------------------------------------------------------------------------------- */

static int64_t pool_out(int64_t in, int64_t k, int64_t s, int64_t p0, int64_t p1, int ceil_mode) { /* cpu_pooling.c's */
    int64_t out = (in + p0 + p1 - k + (ceil_mode ? s - 1 : 0)) / s + 1;
    if (ceil_mode && (out - 1) * s >= in + p0) out--;
    return out;
}

START_TEST(max_pool2d_bwd_nhwc) {
    typedef struct pool_case {
        int64_t n, c, h, w, kh, kw, sh, sw, pt, pl, pb, pr;
        int ceil;
    } pool_case;
    static const pool_case cases[] = {
        {2, 3, 9, 9, 3, 3, 2, 2, 1, 1, 1, 1, 0},   /* ResNet's stem pool */
        {2, 5, 11, 10, 3, 3, 2, 2, 1, 1, 1, 1, 0}, {1, 4, 8, 8, 2, 2, 2, 2, 0, 0, 0, 0, 0},
        {2, 2, 7, 9, 3, 3, 1, 1, 1, 1, 1, 1, 0},   /* overlapping windows */
        {1, 3, 8, 8, 3, 3, 2, 2, 0, 0, 0, 0, 1},   /* ceil_mode */
        {1, 2, 6, 11, 2, 4, 1, 3, 1, 2, 0, 1, 1},  /* asymmetric */
    };
    int runs = 0;
    for (int di = 0; di < 3; di++)
        for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
            for (int kind = 0; kind < 3; kind++, runs++) {
                tgc_dtype dt = DTYPES[di];
                size_t es = esize(dt);
                const pool_case *q = &cases[k];
                int64_t ho = pool_out(q->h, q->kh, q->sh, q->pt, q->pb, q->ceil);
                int64_t wo = pool_out(q->w, q->kw, q->sw, q->pl, q->pr, q->ceil);
                int64_t nx = q->n * q->c * q->h * q->w, ny = q->n * q->c * ho * wo;
                float *xf = tu_rand(nx, -2, 2);
                for (int64_t i = 0; i < nx; i++) {
                    if (kind == 1) xf[i] = (float)(tu_next() % 3); /* many ties: the first maximum wins */
                    if (kind == 2 && tu_next() % 9 == 0) xf[i] = tu_next() % 2 ? NAN : -INFINITY;
                }
                void *x = xf;
                if (dt != TGC_F32) { /* exact in bf16 and f16 (ties stay ties) after rounding */
                    uint16_t *h = malloc(2 * (size_t)nx);
                    for (int64_t i = 0; i < nx; i++) h[i] = dt == TGC_BF16 ? tgc_f32_to_bf16(xf[i]) : tgc_f32_to_f16(xf[i]);
                    free(xf);
                    x = h;
                }
                void *dy = rand_as(ny, -1, 1, dt);
                tgc_type in_t[2] = {tu_t(dt, tgc_shape4(q->n, q->c, ho, wo)), tu_t(dt, tgc_shape4(q->n, q->c, q->h, q->w))};
                tgc_type nin[2] = {nhwc(in_t[0]), nhwc(in_t[1])};
                void *xh = to_nhwc(x, es, &in_t[1].shape), *dyh = to_nhwc(dy, es, &in_t[0].shape);
                void *dx_cpu = nan_fill(nx, es), *dx_gpu = nan_fill(nx, es);
                tgc_attrs at = tgc_attrs_default();
                at.kernel[0] = q->kh, at.kernel[1] = q->kw, at.stride[0] = q->sh, at.stride[1] = q->sw;
                at.pad[0] = q->pt, at.pad[1] = q->pl, at.pad[2] = q->pb, at.pad[3] = q->pr, at.ceil_mode = q->ceil;
                void *ci[2] = {dy, x}, *co[1] = {dx_cpu}, *gi[2] = {dyh, xh}, *go[1] = {dx_gpu};
                tu_exec(cpu, TGC_OP_MAX_POOL2D_BWD, &at, 2, in_t, ci, 1, &in_t[1], co);
                gpu_exec(TGC_OP_MAX_POOL2D_BWD, &at, 2, nin, gi, 1, &nin[1], go);
                void *want = to_nhwc(dx_cpu, es, &in_t[1].shape);
                char what[96];
                snprintf(what, sizeof what, "max_pool2d_bwd NHWC %s case %zu data %d", tgc_dtype_name(dt), k, kind);
                same_bytes(dx_gpu, want, es, nx, what);
                free(x), free(dy), free(xh), free(dyh), free(dx_cpu), free(dx_gpu), free(want);
            }
    report("max_pool2d_bwd", "%d runs (f32, bf16, f16; random, ties, NaN/-inf): bit for bit", runs);
}
END_TEST

/* ---- batch_norm_eval_bwd -------------------------------------------------------------------------------- */

START_TEST(bn_eval_bwd_nhwc) {
    double worst = 0;
    for (int di = 0; di < 3; di++)
        for (int s = 0; s < N_SHAPES; s++) {
            tgc_dtype dt = DTYPES[di];
            size_t es = esize(dt);
            const int64_t *d = SHAPES[s], c = d[1];
            tgc_type xt = tu_t(dt, tgc_shape4(d[0], d[1], d[2], d[3])), xn = nhwc(xt), vt = tu_f1(c);
            int64_t n = tu_n(&xt);
            void *dy = rand_as(n, -1, 1, dt), *x = rand_as(n, -3, 4, dt);
            void *dyh = to_nhwc(dy, es, &xt.shape), *xh = to_nhwc(x, es, &xt.shape);
            float *g = tu_rand(c, 0.5, 1.5), *m = tu_rand(c, -1, 1), *v = tu_rand(c, 0.1, 3);
            void *dx_cpu = nan_fill(n, es), *dx_gpu = nan_fill(n, es);
            float *dg_cpu = nan_fill(c, 4), *dg_gpu = nan_fill(c, 4), *db_cpu = nan_fill(c, 4), *db_gpu = nan_fill(c, 4);
            tgc_attrs at = tgc_attrs_default();
            at.eps = 1e-5;
            tgc_type in_t[5] = {xt, xt, vt, vt, vt}, out_t[3] = {xt, vt, vt};
            tgc_type nin[5] = {xn, xn, vt, vt, vt}, nout[3] = {xn, vt, vt};
            void *ci[5] = {dy, x, g, m, v}, *co[3] = {dx_cpu, dg_cpu, db_cpu};
            void *gi[5] = {dyh, xh, g, m, v}, *go[3] = {dx_gpu, dg_gpu, db_gpu};
            tu_exec(cpu, TGC_OP_BN_EVAL_BWD, &at, 5, in_t, ci, 3, out_t, co);
            gpu_exec(TGC_OP_BN_EVAL_BWD, &at, 5, nin, gi, 3, nout, go);
            void *want = to_nhwc(dx_cpu, es, &xt.shape);
            same_bytes(dx_gpu, want, es, n, "batch_norm_eval_bwd dx NHWC");
            worst = fmax(worst, close_vals(dg_gpu, dg_cpu, TGC_F32, c, 1e-6, "batch_norm_eval_bwd dgamma NHWC"));
            worst = fmax(worst, close_vals(db_gpu, db_cpu, TGC_F32, c, 1e-6, "batch_norm_eval_bwd dbeta NHWC"));
            free(dy), free(x), free(dyh), free(xh), free(g), free(m), free(v), free(dx_cpu), free(dx_gpu), free(dg_cpu),
                free(dg_gpu), free(db_cpu), free(db_gpu), free(want);
        }
    report("batch_norm_eval_bwd", "f32, bf16, f16: dx bit for bit, dgamma/dbeta rel err <= %.3g", worst);
}
END_TEST

/* ---- the batch norm host reference (the stand-in's cuDNN body; the relu kernels' arithmetic) ------------- */

START_TEST(bn_host_reference_nhwc) {
    static const tgc_opcode codes[] = {TGC_OP_BN_TRAIN, TGC_OP_BN_TRAIN_RELU, TGC_OP_BN_BWD, TGC_OP_BN_RELU_BWD};
    int runs = 0;
    for (size_t ci = 0; ci < sizeof codes / sizeof *codes; ci++)
        for (int s = 0; s < N_SHAPES; s++) {
            const tgc_opcode code = codes[ci];
            const int bwd = code == TGC_OP_BN_BWD || code == TGC_OP_BN_RELU_BWD, relu = code == TGC_OP_BN_RELU_BWD;
            const int64_t *d = SHAPES[s], c = d[1];
            tgc_type xt = tu_f4(d[0], d[1], d[2], d[3]), xn = nhwc(xt), vt = tu_f1(c);
            int64_t n = tu_n(&xt);
            float *x = tu_rand(n, -3, 4), *dy = tu_rand(n, -1, 1), *xh = to_nhwc(x, 4, &xt.shape),
                  *dyh = to_nhwc(dy, 4, &xt.shape);
            float *vec[2][5], *res[2], *stat[2][4];
            for (int l = 0; l < 2; l++) {
                for (int k = 0; k < 5; k++) vec[l][k] = NULL;
                res[l] = nan_fill(n, 4);
                for (int k = 0; k < 4; k++) stat[l][k] = nan_fill(c, 4);
            }
            float *g = tu_rand(c, 0.5, 1.5), *b = tu_rand(c, -1, 1), *rm = tu_rand(c, -1, 1), *rv = tu_rand(c, 0.5, 2),
                  *mean = tu_rand(c, -0.5, 0.5), *inv = tu_rand(c, 0.5, 2);
            for (int l = 0; l < 2; l++) { /* l = 0: row-major, 1: NHWC */
                tgc_type tx = l ? xn : xt;
                float *rm_l = tu_copy(rm, c), *rv_l = tu_copy(rv, c);
                tgc_type in_t[6], out_t[3];
                void *in[6], *out[3];
                int n_in, n_out = bwd ? 3 : 3;
                if (!bwd) {
                    n_in = 5;
                    tgc_type t5[5] = {tx, vt, vt, vt, vt}, o3[3] = {tx, vt, vt};
                    void *i5[5] = {l ? xh : x, g, b, rm_l, rv_l}, *r3[3] = {res[l], stat[l][0], stat[l][1]};
                    memcpy(in_t, t5, sizeof t5), memcpy(out_t, o3, sizeof o3), memcpy(in, i5, sizeof i5), memcpy(out, r3, sizeof r3);
                } else {
                    n_in = relu ? 6 : 5;
                    tgc_type t6[6] = {tx, tx, vt, vt, vt, vt}, o3[3] = {tx, vt, vt};
                    void *i6[6] = {l ? dyh : dy, l ? xh : x, g, relu ? (void *)b : (void *)mean, relu ? (void *)mean : (void *)inv, inv};
                    void *r3[3] = {res[l], stat[l][0], stat[l][1]};
                    memcpy(in_t, t6, sizeof t6), memcpy(out_t, o3, sizeof o3), memcpy(in, i6, sizeof i6), memcpy(out, r3, sizeof r3);
                }
                tgc_attrs at = tgc_attrs_default();
                at.eps = 1e-5, at.momentum = 0.1;
                tgc_cpu_op o = {code, &at, n_in, n_out, in_t, out_t, (void *const *)in, (void *const *)out};
                tgc_cuda_bn bn;
                tgc_err err;
                ck_assert_msg(tgc_cuda_bn_of(&o, &bn, &err) == 0, "%s", err.msg);
                ck_assert_int_eq(bn.nhwc, l);
                ck_assert_int_eq(tgc_cuda_bn_host(&bn), 0);
                vec[l][0] = rm_l, vec[l][1] = rv_l;
            }
            float *want = to_nhwc(res[0], 4, &xt.shape);
            char what[96];
            snprintf(what, sizeof what, "%s host reference, shape %d: NHWC result", tgc_op_table[code].name, s);
            same_bytes(res[1], want, 4, n, what);
            for (int k = 0; k < 2; k++) same_bytes(stat[1][k], stat[0][k], 4, c, "per-channel results");
            for (int k = 0; k < 2; k++) same_bytes(vec[1][k], vec[0][k], 4, c, "running statistics");
            free(want);
            for (int l = 0; l < 2; l++) {
                free(res[l]);
                for (int k = 0; k < 4; k++) free(stat[l][k]);
                for (int k = 0; k < 2; k++) free(vec[l][k]);
            }
            free(x), free(dy), free(xh), free(dyh), free(g), free(b), free(rm), free(rv), free(mean), free(inv);
            runs++;
        }
    report("batch norm host reference", "%d runs (train, train+relu, bwd, relu bwd): NHWC = row-major transposed, bit for bit",
           runs);
}
END_TEST

/* ---- refusals ------------------------------------------------------------------------------------------- */

START_TEST(layouts_outside_the_rules_refused) {
    tgc_attrs at = tgc_attrs_default();
    tgc_type x = tu_f4(2, 3, 4, 4), xn = nhwc(x), y = tu_f4(2, 3, 2, 2), yn = nhwc(y), g = tu_f2(2, 3);
    void *p[3] = {NULL, NULL, NULL};
    /* max_pool2d_bwd: dy NHWC, x row-major */
    tgc_type mixed[2] = {yn, x};
    tgc_cpu_op o1 = {TGC_OP_MAX_POOL2D_BWD, &at, 2, 1, mixed, &x, p, p};
    ck_assert_int_eq(tgc_cuda_native_supports(&o1), 0);
    /* channel_mul with an NHWC gate operand (outside the mask) */
    tgc_type gn = g;
    gn.layout = TGC_LAYOUT_NHWC;
    tgc_type cm[2] = {xn, gn};
    tgc_cpu_op o2 = {TGC_OP_CHANNEL_MUL, &at, 2, 1, cm, &xn, p, p};
    ck_assert_int_eq(tgc_cuda_native_supports(&o2), 0);
    /* an op without NHWC kernels (to_nhwc's operand must be row-major) */
    tgc_type tn = tu_f4(2, 4, 4, 3);
    tgc_cpu_op o3 = {TGC_OP_TO_NHWC, &at, 1, 1, &xn, &tn, p, p};
    ck_assert_int_eq(tgc_cuda_native_supports(&o3), 0);
    /* relayout must change the layout */
    tgc_cpu_op o4 = {TGC_OP_RELAYOUT, &at, 1, 1, &x, &x, p, p};
    ck_assert_int_eq(tgc_cuda_native_supports(&o4), 0);
    tgc_cpu_op o5 = {TGC_OP_RELAYOUT, &at, 1, 1, &x, &xn, p, p};
    ck_assert_int_eq(tgc_cuda_native_supports(&o5), 1);
    /* bias_grad on NHWC data along another axis than the channel */
    at.axis = 3;
    tgc_type b = tu_f1(4);
    tgc_cpu_op o6 = {TGC_OP_BIAS_GRAD, &at, 1, 1, &xn, &b, p, p};
    ck_assert_int_eq(tgc_cuda_native_supports(&o6), 0);
    (void)yn;
    report("refusals", "mixed layouts, NHWC outside the masks, relayout to the same layout, bias_grad off-channel");
}
END_TEST

int main(void) {
    Suite *s = suite_create("cuda_kernels_nhwc");
    TCase *tc = tcase_create("kernels");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, relayout_equals_cpu_bitwise);
    tcase_add_test(tc, global_avg_pool_nhwc);
    tcase_add_test(tc, channel_mul_nhwc);
    tcase_add_test(tc, bias_grad_nhwc);
    tcase_add_test(tc, max_pool2d_bwd_nhwc);
    tcase_add_test(tc, bn_eval_bwd_nhwc);
    tcase_add_test(tc, bn_host_reference_nhwc);
    tcase_add_test(tc, layouts_outside_the_rules_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
