/* tests/unit/test_backend_cpu_layout.c - the CPU kernels in the NHWC layout: for every op of the layout
 * rules (ir/ops.c, tgc_op_layout_io), the op run with its masked rank-4 operands and results NHWC gives the
 * ROW run's results transposed, bit for bit for tgc's own loops (the same summation order) and within a
 * stated tolerance for oneDNN's convolutions, average pooling and eval batch norm (other kernels, other
 * rounding); f32 and bf16; C not a multiple of 16, stride 2, padding, ceil_mode, depthwise groups,
 * dilation. Also: fused elementwise groups with a per-channel bias in NHWC, and the dispatcher's layout
 * guard (refusals naming op and operand). */
#include "common/half.h"
#include "tests/unit/test_backend_cpu_util.h"

#define LN 2 /* batch */
#define LC 20 /* channels: not a multiple of 16 */
#define LH 9
#define LW 7

static tgc_cpu *cpu;
static void setup(void) {
    tgc_err err;
    cpu = tgc_cpu_new(2, 1, &err);
    ck_assert_ptr_nonnull(cpu);
}
static void teardown(void) { tgc_cpu_free(cpu); }

/* One op call: types with dtype F32 as placeholders (see case_type), attributes, tolerance (0: bits). */
typedef struct lcase {
    const char *name;
    tgc_opcode code;
    tgc_attrs a;
    int n_in, n_out;
    tgc_type in[6], out[3];
    double tol, tol_bf16;
} lcase;

static tgc_type T4(int64_t n, int64_t c, int64_t h, int64_t w) { return tu_f4(n, c, h, w); }

/* The dtype a case's tensor gets in a run of dtype dt: per-channel vectors stay f32 (batch norm's
 * statistics, biases), everything else dt; cast goes to the other dtype. */
static tgc_type case_type(const lcase *c, int is_out, int i, tgc_dtype dt) {
    tgc_type t = is_out ? c->out[i] : c->in[i];
    t.dtype = t.shape.rank == 1 ? TGC_F32 : dt;
    if (c->code == TGC_OP_CAST && is_out) t.dtype = dt == TGC_F32 ? TGC_BF16 : TGC_F32;
    return t;
}

static int masked(tgc_opcode code, int is_out, int i, const tgc_type *t) {
    unsigned im, om;
    tgc_op_layout_io(code, &im, &om);
    return ((is_out ? om : im) >> i & 1u) && t->shape.rank == 4;
}

/* [N,C,H,W] <-> [N,H,W,C] copies of element size es. */
static void transpose(const void *src, void *dst, const tgc_shape *s, size_t es, int to_nhwc) {
    int64_t n = s->d[0], c = s->d[1], hw = s->d[2] * s->d[3];
    for (int64_t b = 0; b < n; b++)
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t i = 0; i < hw; i++) {
                int64_t row = (b * c + ch) * hw + i, nhwc = (b * hw + i) * c + ch;
                memcpy((char *)dst + (size_t)(to_nhwc ? nhwc : row) * es,
                       (const char *)src + (size_t)(to_nhwc ? row : nhwc) * es, es);
            }
}

static float as_f32(const void *p, tgc_dtype t, int64_t i) {
    if (t == TGC_F32) return ((const float *)p)[i];
    uint16_t h = ((const uint16_t *)p)[i];
    return t == TGC_BF16 ? tgc_bf16_to_f32(h) : tgc_f16_to_f32(h);
}

/* Runs c in dtype dt in both layouts and compares. */
static void run_case(const lcase *c, tgc_dtype dt) {
    int n = c->n_in + c->n_out;
    tgc_type rt[9], nt[9];
    void *rp[9], *np[9];
    size_t bytes[9];
    for (int i = 0; i < n; i++) {
        int is_out = i >= c->n_in, at = is_out ? i - c->n_in : i;
        rt[i] = nt[i] = case_type(c, is_out, at, dt);
        if (masked(c->code, is_out, at, &rt[i])) nt[i].layout = TGC_LAYOUT_NHWC;
        int64_t ne = tu_n(&rt[i]);
        bytes[i] = (size_t)(ne ? ne : 1) * tgc_dtype_size(rt[i].dtype);
        rp[i] = calloc(1, bytes[i]);
        np[i] = calloc(1, bytes[i]);
        if (is_out) continue;
        for (int64_t e = 0; e < ne; e++) { /* per-channel vectors positive: variances, invstd */
            float v = (float)(rt[i].shape.rank == 1 ? tu_unif(0.5, 1.5) : tu_unif(-1, 1));
            if (rt[i].dtype == TGC_F32) ((float *)rp[i])[e] = v;
            else ((uint16_t *)rp[i])[e] = rt[i].dtype == TGC_BF16 ? tgc_f32_to_bf16(v) : tgc_f32_to_f16(v);
        }
        if (nt[i].layout == TGC_LAYOUT_NHWC) transpose(rp[i], np[i], &rt[i].shape, tgc_dtype_size(rt[i].dtype), 1);
        else memcpy(np[i], rp[i], bytes[i]);
    }
    tgc_attrs attrs = c->a;
    if (c->code == TGC_OP_CAST) attrs.dtype = rt[1].dtype;
    tu_exec(cpu, c->code, &attrs, c->n_in, rt, rp, c->n_out, rt + c->n_in, rp + c->n_in);
    tu_exec(cpu, c->code, &attrs, c->n_in, nt, np, c->n_out, nt + c->n_in, np + c->n_in);
    double tol = dt == TGC_F32 ? c->tol : c->tol_bf16;
    for (int i = 0; i < n; i++) { /* results, and operands updated in place (running statistics) */
        void *back = malloc(bytes[i]);
        if (nt[i].layout == TGC_LAYOUT_NHWC) transpose(np[i], back, &rt[i].shape, tgc_dtype_size(rt[i].dtype), 0);
        else memcpy(back, np[i], bytes[i]);
        if (tol == 0) {
            ck_assert_msg(memcmp(back, rp[i], bytes[i]) == 0, "%s %s (%s): tensor %d differs between row and nhwc",
                          tgc_op_table[c->code].name, c->name, tgc_dtype_name(dt), i);
        } else {
            double worst = 0, scale = 1e-6;
            int64_t ne = tu_n(&rt[i]);
            for (int64_t e = 0; e < ne; e++) scale = fmax(scale, fabs(as_f32(rp[i], rt[i].dtype, e)));
            for (int64_t e = 0; e < ne; e++)
                worst = fmax(worst, fabs(as_f32(back, rt[i].dtype, e) - as_f32(rp[i], rt[i].dtype, e)) / scale);
            ck_assert_msg(worst <= tol, "%s %s (%s): tensor %d: nhwc differs from row by %g (tolerance %g)",
                          tgc_op_table[c->code].name, c->name, tgc_dtype_name(dt), i, worst, tol);
        }
        free(back);
        free(rp[i]);
        free(np[i]);
    }
}

/* ---- the cases ------------------------------------------------------------------------------------ */
#define MAXC 64
static lcase cases[MAXC];
static int n_cases;

static lcase *add(const char *name, tgc_opcode code, int n_in, int n_out, double tol, double tol_bf16) {
    ck_assert_int_lt(n_cases, MAXC);
    lcase *c = &cases[n_cases++];
    *c = (lcase){.name = name, .code = code, .a = tgc_attrs_default(), .n_in = n_in, .n_out = n_out, .tol = tol,
                 .tol_bf16 = tol_bf16};
    return c;
}

static int64_t conv_out(int64_t in, int64_t k, int64_t s, int64_t p0, int64_t p1, int64_t d) {
    return (in + p0 + p1 - ((k - 1) * d + 1)) / s + 1;
}

/* conv2d, conv2d_bwd_data, conv2d_bwd_filter of one geometry. oneDNN: its nhwc kernels against its
 * blocked ones, f32 within 1e-5 of the largest value, bf16 (rounded results) within 1e-2. */
static void conv_cases(const char *name, int64_t o, int64_t k, int64_t s, int64_t p, int64_t d, int64_t g) {
    int64_t ho = conv_out(LH, k, s, p, p, d), wo = conv_out(LW, k, s, p, p, d);
    tgc_type x = T4(LN, LC, LH, LW), w = T4(o, LC / g, k, k), y = T4(LN, o, ho, wo);
    tgc_attrs a = tgc_attrs_default();
    a.stride[0] = a.stride[1] = s, a.dilation[0] = a.dilation[1] = d, a.groups = g;
    a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = p;
    lcase *c = add(name, TGC_OP_CONV2D, 2, 1, 1e-5, 1e-2);
    c->a = a, c->in[0] = x, c->in[1] = w, c->out[0] = y;
    c = add(name, TGC_OP_CONV2D_BWD_DATA, 2, 1, 1e-5, 1e-2);
    c->a = a, c->a.shape = x.shape, c->in[0] = y, c->in[1] = w, c->out[0] = x;
    c = add(name, TGC_OP_CONV2D_BWD_FILTER, 2, 1, 1e-5, 1e-2);
    c->a = a, c->a.shape = w.shape, c->in[0] = x, c->in[1] = y, c->out[0] = w;
}

static int64_t pool_out(int64_t in, int64_t k, int64_t s, int64_t p, int ceil_mode) {
    int64_t out = (in + 2 * p - k + (ceil_mode ? s - 1 : 0)) / s + 1;
    if (ceil_mode && (out - 1) * s >= in + p) out--;
    return out;
}

/* Pooling: max forward through oneDNN is exact (a maximum); avg forward/backward through oneDNN's nhwc
 * kernel within 1e-6 (sum order), and bit for bit where the own loops run (interior windows, PyTorch's
 * ceil_mode divisor); max backward is an own loop. */
static void pool_cases(const char *name, int64_t k, int64_t s, int64_t p, int ceil_mode, int count_pad,
                       double avg_tol) {
    int64_t ho = pool_out(LH, k, s, p, ceil_mode), wo = pool_out(LW, k, s, p, ceil_mode);
    tgc_type x = T4(LN, LC, LH, LW), y = T4(LN, LC, ho, wo);
    tgc_attrs a = tgc_attrs_default();
    a.kernel[0] = a.kernel[1] = k, a.stride[0] = a.stride[1] = s, a.ceil_mode = ceil_mode;
    a.count_include_pad = count_pad;
    a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = p;
    lcase *c = add(name, TGC_OP_MAX_POOL2D, 1, 1, 0, 0);
    c->a = a, c->in[0] = x, c->out[0] = y;
    c = add(name, TGC_OP_MAX_POOL2D_BWD, 2, 1, 0, 0);
    c->a = a, c->in[0] = y, c->in[1] = x, c->out[0] = x;
    c = add(name, TGC_OP_AVG_POOL2D, 1, 1, avg_tol, avg_tol ? 1e-2 : 0);
    c->a = a, c->in[0] = x, c->out[0] = y;
    c = add(name, TGC_OP_AVG_POOL2D_BWD, 1, 1, avg_tol, avg_tol ? 1e-2 : 0);
    c->a = a, c->a.shape = x.shape, c->in[0] = y, c->out[0] = x;
}

static void build_cases(void) {
    n_cases = 0;
    conv_cases("conv 3x3/2 pad 1", 24, 3, 2, 1, 1, 1);
    conv_cases("conv 1x1", 36, 1, 1, 0, 1, 1);
    conv_cases("conv depthwise 3x3", LC, 3, 1, 1, 1, LC);
    conv_cases("conv 3x3 dilation 2", 12, 3, 1, 2, 2, 1);
    conv_cases("conv grouped 3x3/2", 10, 3, 2, 1, 1, 5);
    pool_cases("pool 3x3/2 pad 1", 3, 2, 1, 0, 0, 1e-6);
    pool_cases("pool 3x3/2 pad 1 ceil count_pad", 3, 2, 1, 1, 1, 1e-6);
    pool_cases("pool 2x2/2 ceil count_pad", 2, 2, 0, 1, 1, 0); /* PyTorch's divisor: own loops */
    pool_cases("pool 2x2/2 interior", 2, 2, 0, 0, 0, 0);              /* own interior loops */
    pool_cases("pool 2x2/1", 2, 1, 0, 0, 1, 0);

    tgc_type x = T4(LN, LC, LH, LW), v = tu_f1(LC), nc = tu_f2(LN, LC);
    lcase *c;
    static const tgc_opcode bn_fwd[] = {TGC_OP_BN_TRAIN, TGC_OP_BN_TRAIN_RELU};
    for (int i = 0; i < 2; i++) {
        c = add("bn train", bn_fwd[i], 5, 3, 0, 0);
        c->a.eps = 1e-5, c->a.momentum = 0.1;
        c->in[0] = x, c->in[1] = c->in[2] = c->in[3] = c->in[4] = v;
        c->out[0] = x, c->out[1] = c->out[2] = v;
    }
    /* 40 channels: a task's channels span more than one 16-channel block (cpu_bn.c) */
    tgc_type xw = T4(LN, 40, 5, 3), vw = tu_f1(40);
    c = add("bn train 40 channels", TGC_OP_BN_TRAIN_RELU, 5, 3, 0, 0);
    c->in[0] = xw, c->in[1] = c->in[2] = c->in[3] = c->in[4] = vw, c->out[0] = xw, c->out[1] = c->out[2] = vw;
    c = add("bn bwd 40 channels", TGC_OP_BN_RELU_BWD, 6, 3, 0, 0);
    c->in[0] = c->in[1] = xw, c->in[2] = c->in[3] = c->in[4] = c->in[5] = vw;
    c->out[0] = xw, c->out[1] = c->out[2] = vw;
    c = add("bn eval (oneDNN)", TGC_OP_BN_EVAL, 5, 1, 1e-6, 1e-2);
    c->in[0] = x, c->in[1] = c->in[2] = c->in[3] = c->in[4] = v, c->out[0] = x;
    c = add("bn bwd", TGC_OP_BN_BWD, 5, 3, 0, 0);
    c->in[0] = c->in[1] = x, c->in[2] = c->in[3] = c->in[4] = v;
    c->out[0] = x, c->out[1] = c->out[2] = v;
    c = add("bn relu bwd", TGC_OP_BN_RELU_BWD, 6, 3, 0, 0);
    c->in[0] = c->in[1] = x, c->in[2] = c->in[3] = c->in[4] = c->in[5] = v;
    c->out[0] = x, c->out[1] = c->out[2] = v;
    c = add("bn eval bwd", TGC_OP_BN_EVAL_BWD, 5, 3, 0, 0);
    c->in[0] = c->in[1] = x, c->in[2] = c->in[3] = c->in[4] = v;
    c->out[0] = x, c->out[1] = c->out[2] = v;

    static const tgc_opcode unary[] = {TGC_OP_RELU, TGC_OP_TANH, TGC_OP_SIGMOID, TGC_OP_SCALE, TGC_OP_CAST};
    for (size_t i = 0; i < TGC_ARRAY_LEN(unary); i++) {
        c = add("pointwise", unary[i], 1, 1, 0, 0);
        c->a.alpha = 0.37, c->in[0] = x, c->out[0] = x;
    }
    static const tgc_opcode binary[] = {TGC_OP_ADD, TGC_OP_RELU_BWD, TGC_OP_TANH_BWD, TGC_OP_SIGMOID_BWD};
    for (size_t i = 0; i < TGC_ARRAY_LEN(binary); i++) {
        c = add("pointwise", binary[i], 2, 1, 0, 0);
        c->in[0] = c->in[1] = x, c->out[0] = x;
    }
    c = add("bias_add", TGC_OP_BIAS_ADD, 2, 1, 0, 0);
    c->a.axis = 1, c->in[0] = x, c->in[1] = v, c->out[0] = x;
    c = add("bias_grad", TGC_OP_BIAS_GRAD, 1, 1, 0, 0);
    c->a.axis = 1, c->in[0] = x, c->out[0] = v;
    c = add("global_avg_pool", TGC_OP_GLOBAL_AVG_POOL, 1, 1, 0, 0);
    c->in[0] = x, c->out[0] = nc;
    c = add("global_avg_pool_bwd", TGC_OP_GLOBAL_AVG_POOL_BWD, 1, 1, 0, 0);
    c->a.shape = x.shape, c->in[0] = nc, c->out[0] = x;
    c = add("channel_mul", TGC_OP_CHANNEL_MUL, 2, 1, 0, 0);
    c->in[0] = x, c->in[1] = nc, c->out[0] = x;
    c = add("channel_mul_grad_gate", TGC_OP_CHANNEL_MUL_GRAD_GATE, 2, 1, 0, 0);
    c->in[0] = c->in[1] = x, c->out[0] = nc;
}

START_TEST(every_layout_op_has_a_case) {
    build_cases();
    for (int op = 0; op < TGC_OP_COUNT; op++) {
        if (op == TGC_OP_RELAYOUT || !tgc_op_layout_io((tgc_opcode)op, NULL, NULL)) continue;
        int found = 0;
        for (int i = 0; i < n_cases; i++) found |= cases[i].code == (tgc_opcode)op;
        ck_assert_msg(found, "op %s is in the layout rules but has no NHWC case here", tgc_op_table[op].name);
    }
}
END_TEST

START_TEST(nhwc_equals_row_f32) {
    build_cases();
    tu_seed(11);
    for (int i = 0; i < n_cases; i++) run_case(&cases[i], TGC_F32);
}
END_TEST

START_TEST(nhwc_equals_row_bf16) {
    build_cases();
    tu_seed(12);
    for (int i = 0; i < n_cases; i++) run_case(&cases[i], TGC_BF16);
}
END_TEST

/* Batch norm's training loops load f16 themselves too: gathered NHWC rows round the same way. */
START_TEST(nhwc_bn_f16) {
    build_cases();
    tu_seed(13);
    for (int i = 0; i < n_cases; i++) {
        tgc_opcode op = cases[i].code;
        if (op != TGC_OP_BN_TRAIN && op != TGC_OP_BN_TRAIN_RELU && op != TGC_OP_BN_BWD && op != TGC_OP_BN_RELU_BWD)
            continue;
        run_case(&cases[i], TGC_F16);
    }
}
END_TEST

/* A fused bias_add + relu + add chain with NHWC tensors equals the unfused ROW run transposed. */
START_TEST(fused_group_nhwc) {
    tu_seed(14);
    tgc_type xr = T4(LN, LC, LH, LW), xn = xr, b = tu_f1(LC);
    xn.layout = TGC_LAYOUT_NHWC;
    int64_t ne = tu_n(&xr);
    float *x = tu_rand(ne, -1, 1), *r = tu_rand(ne, -1, 1), *bias = tu_rand(LC, -1, 1);
    float *t1 = tu_zeros(ne), *t2 = tu_zeros(ne), *y = tu_zeros(ne);
    float *xn_d = tu_zeros(ne), *rn_d = tu_zeros(ne), *u1 = tu_zeros(ne), *u2 = tu_zeros(ne), *yn = tu_zeros(ne);
    transpose(x, xn_d, &xr.shape, 4, 1);
    transpose(r, rn_d, &xr.shape, 4, 1);
    tgc_attrs ab = tgc_attrs_default(), a0 = tgc_attrs_default();
    ab.axis = 1;
    tgc_type bin[] = {xr, b}, rin[] = {xr, xr};
    void *p0[] = {x, bias}, *o0[] = {t1}, *p1[] = {t1}, *o1[] = {t2}, *p2[] = {t2, r}, *o2[] = {y};
    tu_exec(cpu, TGC_OP_BIAS_ADD, &ab, 2, bin, p0, 1, &xr, o0);
    tu_exec(cpu, TGC_OP_RELU, &a0, 1, &xr, p1, 1, &xr, o1);
    tu_exec(cpu, TGC_OP_ADD, &a0, 2, rin, p2, 1, &xr, o2);
    tgc_type nbin[] = {xn, b}, nrin[] = {xn, xn};
    void *q0[] = {xn_d, bias}, *r0[] = {u1}, *q1[] = {u1}, *r1[] = {u2}, *q2[] = {u2, rn_d}, *r2[] = {yn};
    tgc_cpu_op ops[3] = {{TGC_OP_BIAS_ADD, &ab, 2, 1, nbin, &xn, q0, r0},
                         {TGC_OP_RELU, &a0, 1, 1, &xn, &xn, q1, r1},
                         {TGC_OP_ADD, &a0, 2, 1, nrin, &xn, q2, r2}};
    char why[256];
    tgc_cpu_fused *f = tgc_cpu_fuse(ops, 3, why, sizeof why);
    ck_assert_msg(f != NULL, "not fused: %s", why);
    tgc_err err = {{0}};
    ck_assert_int_eq(tgc_cpu_exec_fused(cpu, f, &err), 0);
    tgc_cpu_fused_free(f);
    float *back = tu_zeros(ne);
    transpose(yn, back, &xr.shape, 4, 0);
    ck_assert_msg(memcmp(back, y, sizeof(float) * (size_t)ne) == 0, "fused nhwc group differs from row");
    /* a group whose bias_add mixes layouts is refused */
    tgc_type mix[] = {xn, b};
    ops[0].in_t = mix, ops[0].out_t = &xr;
    ck_assert_ptr_null(tgc_cpu_fuse(ops, 3, why, sizeof why));
    ck_assert_msg(strstr(why, "different layouts") != NULL, "reason: %s", why);
    free(x), free(r), free(bias), free(t1), free(t2), free(y), free(xn_d), free(rn_d), free(u1), free(u2);
    free(yn), free(back);
}
END_TEST

/* The dispatcher refuses layouts the op's rule does not allow, naming op and operand. */
START_TEST(guard_refuses) {
    tgc_type xr = T4(1, 3, 4, 4), xn = xr, w = T4(2, 3, 1, 1), wn = w, y = T4(1, 2, 4, 4);
    xn.layout = TGC_LAYOUT_NHWC, wn.layout = TGC_LAYOUT_NHWC;
    float *bx = tu_zeros(48), *by = tu_zeros(48), *bw = tu_zeros(6);
    tgc_attrs a = tgc_attrs_default();
    void *in1[] = {bx}, *out1[] = {by};
    /* relu: x NHWC, y ROW */
    tu_exec_fails(cpu, TGC_OP_RELU, &a, 1, &xn, in1, 1, &xr, out1, "relu: result 0 is row but operand 0 is nhwc");
    /* conv2d: weights NHWC (outside the mask) */
    tgc_type cin[] = {xn, wn}, yn = y;
    yn.layout = TGC_LAYOUT_NHWC;
    void *in2[] = {bx, bw}, *out2[] = {by};
    tu_exec_fails(cpu, TGC_OP_CONV2D, &a, 2, cin, in2, 1, &yn, out2,
                  "conv2d: operand 1 is nhwc, but the op takes it only row-major");
    /* add: operands of two layouts */
    tgc_type ain[] = {xr, xn};
    void *in3[] = {bx, bx};
    tu_exec_fails(cpu, TGC_OP_ADD, &a, 2, ain, in3, 1, &xr, out1, "add: operand 1 is nhwc but operand 0 is row");
    /* an op without layout rules */
    tgc_attrs up = tgc_attrs_default();
    up.shape = xr.shape;
    tu_exec_fails(cpu, TGC_OP_UPSAMPLE_NEAREST, &up, 1, &xn, in1, 1, &xn, out1,
                  "upsample_nearest: operand 0 is nhwc, but the op takes it only row-major");
    /* an invalid layout value */
    tgc_type bad = xr;
    bad.layout = (tgc_layout)7;
    tu_exec_fails(cpu, TGC_OP_RELU, &a, 1, &bad, in1, 1, &xr, out1, "relu: operand 0 has an invalid layout 7");
    free(bx), free(by), free(bw);
}
END_TEST

int main(void) {
    Suite *s = suite_create("backend_cpu_layout");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, every_layout_op_has_a_case);
    tcase_add_test(tc, nhwc_equals_row_f32);
    tcase_add_test(tc, nhwc_equals_row_bf16);
    tcase_add_test(tc, nhwc_bn_f16);
    tcase_add_test(tc, fused_group_nhwc);
    tcase_add_test(tc, guard_refuses);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
