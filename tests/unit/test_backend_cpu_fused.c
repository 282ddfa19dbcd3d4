/* CPU fused kernels: batch_norm_train_relu / batch_norm_relu_bwd against the unfused ops, fold_conv_bn
 * against eval batch norm, elementwise groups and multi-tensor optimizer groups against one-by-one
 * execution, and the groups these loops do not implement. (Whole plans, fused against unfused, are in
 * test_exec_fusion.c: this file links only the backend; what makes a group safe on any device, one size
 * and overlaps only in place, is tgc_plan_validate's, in test_plan_validate.c.) */
#include "test_backend_cpu_util.h"

static tgc_cpu *cpu;

static void setup(void) {
    tgc_err err;
    cpu = tgc_cpu_new(2, 0, &err);
    ck_assert_msg(cpu, "%s", err.msg);
    tu_seed(42);
}

static void teardown(void) { tgc_cpu_free(cpu); }

static void same_bits(const float *a, const float *b, int64_t n, const char *what) {
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(memcmp(&a[i], &b[i], sizeof(float)) == 0, "%s: element %lld is %.9g, expected %.9g", what,
                      (long long)i, (double)a[i], (double)b[i]);
}

/* relu(bn(x)) and its backward, fused and unfused, agree: the forward bit for bit, the backward to float
 * rounding of the channel sums, and the relu mask is exactly the relu output's. */
START_TEST(bn_relu_matches_unfused) {
    const int64_t N = 4, C = 5, H = 7, W = 6, n = N * C * H * W;
    tgc_type xt = tu_f4(N, C, H, W), ct = tu_f1(C);
    float *x = tu_rand(n, -2, 2), *gamma = tu_rand(C, 0.5, 1.5), *beta = tu_rand(C, -0.5, 0.5);
    float *rm1 = tu_rand(C, -0.2, 0.2), *rv1 = tu_rand(C, 0.5, 1.5), *rm2 = tu_copy(rm1, C), *rv2 = tu_copy(rv1, C);
    float *dy = tu_rand(n, -1, 1);
    tgc_attrs a = tgc_attrs_default();
    /* unfused */
    float *t = tu_zeros(n), *y1 = tu_zeros(n), *m1 = tu_zeros(C), *s1 = tu_zeros(C), *d1 = tu_zeros(n);
    float *dx1 = tu_zeros(n), *dg1 = tu_zeros(C), *db1 = tu_zeros(C);
    tgc_type bin[5] = {xt, ct, ct, ct, ct}, bout[3] = {xt, ct, ct};
    void *i1[5] = {x, gamma, beta, rm1, rv1}, *o1[3] = {t, m1, s1};
    tu_exec(cpu, TGC_OP_BN_TRAIN, &a, 5, bin, i1, 3, bout, o1);
    void *ri[1] = {t}, *ro[1] = {y1};
    tu_exec(cpu, TGC_OP_RELU, &a, 1, &xt, ri, 1, &xt, ro);
    tgc_type two[2] = {xt, xt};
    void *rbi[2] = {dy, y1}, *rbo[1] = {d1};
    tu_exec(cpu, TGC_OP_RELU_BWD, &a, 2, two, rbi, 1, &xt, rbo);
    tgc_type bbin[5] = {xt, xt, ct, ct, ct};
    void *bbi[5] = {d1, x, gamma, m1, s1}, *bbo[3] = {dx1, dg1, db1};
    tu_exec(cpu, TGC_OP_BN_BWD, &a, 5, bbin, bbi, 3, bout, bbo);
    /* fused */
    float *y2 = tu_zeros(n), *m2 = tu_zeros(C), *s2 = tu_zeros(C), *dx2 = tu_zeros(n), *dg2 = tu_zeros(C),
          *db2 = tu_zeros(C);
    void *i2[5] = {x, gamma, beta, rm2, rv2}, *o2[3] = {y2, m2, s2};
    tu_exec(cpu, TGC_OP_BN_TRAIN_RELU, &a, 5, bin, i2, 3, bout, o2);
    same_bits(y2, y1, n, "relu(bn(x))");
    same_bits(m2, m1, C, "batch_mean");
    same_bits(s2, s1, C, "batch_invstd");
    same_bits(rm2, rm1, C, "running_mean");
    same_bits(rv2, rv1, C, "running_var");
    tgc_type fbin[6] = {xt, xt, ct, ct, ct, ct};
    void *fbi[6] = {dy, x, gamma, beta, m2, s2}, *fbo[3] = {dx2, dg2, db2};
    tu_exec(cpu, TGC_OP_BN_RELU_BWD, &a, 6, fbin, fbi, 3, bout, fbo);
    double *r = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) r[i] = dx1[i];
    tu_close(dx2, r, n, 1e-6, "dx");
    /* the channel sums reduce in the same order as the unfused pair's, so the results agree bit for bit */
    same_bits(db2, db1, C, "dbeta bits");
    same_bits(dg2, dg1, C, "dgamma bits");
    same_bits(dx2, dx1, n, "dx bits");
    for (int64_t i = 0; i < C; i++) r[i] = dg1[i];
    tu_close(dg2, r, C, 1e-6, "dgamma");
    for (int64_t i = 0; i < C; i++) r[i] = db1[i];
    tu_close(db2, r, C, 1e-6, "dbeta");
    /* the mask: where the relu output is 0, dy must not reach dbeta; zero dy there and nothing changes */
    int zeros = 0;
    for (int64_t i = 0; i < n; i++) zeros += y1[i] == 0.f;
    ck_assert_int_gt(zeros, n / 4);
    for (int64_t i = 0; i < n; i++)
        if (!(y1[i] > 0.f)) dy[i] = 1e30f; /* masked: must have no effect at all */
    tu_exec(cpu, TGC_OP_BN_RELU_BWD, &a, 6, fbin, fbi, 3, bout, fbo);
    tu_close(db2, r, C, 1e-6, "dbeta with masked dy poisoned");
    free(r);
    float *bufs[] = {x, gamma, beta, rm1, rv1, rm2, rv2, dy, t, y1, m1, s1, d1, dx1, dg1, db1, y2, m2, s2, dx2, dg2, db2};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
}
END_TEST


/* fold_conv_bn + conv2d + bias_add equals conv2d + batch_norm_eval to 1e-5. */
START_TEST(fold_matches_bn_eval) {
    const int64_t N = 2, C = 3, H = 9, W = 9, O = 6;
    tgc_type xt = tu_f4(N, C, H, W), wt = tu_f4(O, C, 3, 3), yt = tu_f4(N, O, 7, 7), ot = tu_f1(O);
    int64_t ny = tu_n(&yt);
    float *x = tu_rand(tu_n(&xt), -1, 1), *w = tu_rand(tu_n(&wt), -0.5, 0.5), *gamma = tu_rand(O, 0.5, 1.5);
    float *beta = tu_rand(O, -0.5, 0.5), *rm = tu_rand(O, -0.3, 0.3), *rv = tu_rand(O, 0.2, 2.0);
    float *y = tu_zeros(ny), *z1 = tu_zeros(ny), *wf = tu_zeros(tu_n(&wt)), *bf = tu_zeros(O), *y2 = tu_zeros(ny),
          *z2 = tu_zeros(ny);
    tgc_attrs a = tgc_attrs_default();
    tgc_type cin[2] = {xt, wt};
    void *ci[2] = {x, w}, *co[1] = {y};
    tu_exec(cpu, TGC_OP_CONV2D, &a, 2, cin, ci, 1, &yt, co);
    tgc_type bin[5] = {yt, ot, ot, ot, ot};
    void *bi[5] = {y, gamma, beta, rm, rv}, *bo[1] = {z1};
    tu_exec(cpu, TGC_OP_BN_EVAL, &a, 5, bin, bi, 1, &yt, bo);
    tgc_type fin[5] = {wt, ot, ot, ot, ot}, fout[2] = {wt, ot};
    void *fi[5] = {w, gamma, beta, rm, rv}, *fo[2] = {wf, bf};
    tu_exec(cpu, TGC_OP_FOLD_CONV_BN, &a, 5, fin, fi, 2, fout, fo);
    void *ci2[2] = {x, wf}, *co2[1] = {y2};
    tu_exec(cpu, TGC_OP_CONV2D, &a, 2, cin, ci2, 1, &yt, co2);
    tgc_attrs ax = tgc_attrs_default();
    ax.axis = 1;
    tgc_type ain[2] = {yt, ot};
    void *ai[2] = {y2, bf}, *ao[1] = {z2};
    tu_exec(cpu, TGC_OP_BIAS_ADD, &ax, 2, ain, ai, 1, &yt, ao);
    double *r = malloc(sizeof(double) * (size_t)ny);
    for (int64_t i = 0; i < ny; i++) r[i] = z1[i];
    tu_close(z2, r, ny, 1e-5, "folded conv vs conv + bn_eval");
    free(r);
    /* a variance that makes var + eps non-positive is refused */
    rv[2] = -1.f;
    tu_exec_fails(cpu, TGC_OP_FOLD_CONV_BN, &a, 5, fin, fi, 2, fout, fo, "running_var[2]");
    float *bufs[] = {x, w, gamma, beta, rm, rv, y, z1, wf, bf, y2, z2};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
}
END_TEST

/* One instruction of a test group. */
typedef struct ins {
    tgc_opcode code;
    tgc_attrs a;
    int n_in;
    tgc_type in_t[2], out_t[1];
    void *in[2], *out[1];
} ins;

static tgc_cpu_op as_op(const ins *i) {
    return (tgc_cpu_op){i->code, &i->a, i->n_in, 1, i->in_t, i->out_t, (void *const *)i->in, (void *const *)i->out};
}

/* bias_add, add, relu, scale, relu_bwd, tanh, tanh_bwd and two casts over 3 x 16095 elements (several
 * chunks and a partial one), in place where the planner would do it; fused equals one by one. */
START_TEST(elementwise_group_matches) {
    const int64_t N = 3, C = 5, H = 37, W = 29, n = N * C * H * W;
    tgc_type t = tu_f4(N, C, H, W), tb = tu_t(TGC_BF16, t.shape), ct = tu_f1(C);
    float *x = tu_rand(n, -2, 2), *y = tu_rand(n, -2, 2), *b = tu_rand(C, -1, 1);
    float *res[2] = {NULL, NULL};
    for (int run = 0; run < 2; run++) {
        float *t1 = tu_zeros(n), *t5 = tu_zeros(n), *t6 = tu_zeros(n), *t7 = tu_zeros(n), *t9 = tu_zeros(n);
        uint16_t *t8 = calloc((size_t)n, 2);
        ins g[9];
        memset(g, 0, sizeof g);
        for (int i = 0; i < 9; i++) {
            g[i].a = tgc_attrs_default();
            g[i].in_t[0] = g[i].in_t[1] = g[i].out_t[0] = t;
        }
        g[0] = (ins){TGC_OP_BIAS_ADD, g[0].a, 2, {t, ct}, {t}, {x, b}, {t1}};
        g[0].a.axis = 1;
        g[1] = (ins){TGC_OP_ADD, g[1].a, 2, {t, t}, {t}, {t1, y}, {t1}}; /* in place */
        g[2] = (ins){TGC_OP_RELU, g[2].a, 1, {t}, {t}, {t1}, {t1}};
        g[3] = (ins){TGC_OP_SCALE, g[3].a, 1, {t}, {t}, {t1}, {t1}};
        g[3].a.alpha = -0.75;
        g[4] = (ins){TGC_OP_RELU_BWD, g[4].a, 2, {t, t}, {t}, {t1, x}, {t5}};
        g[5] = (ins){TGC_OP_TANH, g[5].a, 1, {t}, {t}, {t5}, {t6}};
        g[6] = (ins){TGC_OP_TANH_BWD, g[6].a, 2, {t, t}, {t}, {y, t6}, {t7}};
        g[7] = (ins){TGC_OP_CAST, g[7].a, 1, {t}, {tb}, {t7}, {t8}};
        g[7].a.dtype = TGC_BF16;
        g[8] = (ins){TGC_OP_CAST, g[8].a, 1, {tb}, {t}, {t8}, {t9}};
        g[8].a.dtype = TGC_F32;
        if (run == 0) {
            for (int i = 0; i < 9; i++) tu_exec(cpu, g[i].code, &g[i].a, g[i].n_in, g[i].in_t, g[i].in, 1, g[i].out_t, g[i].out);
        } else {
            tgc_cpu_op ops[9];
            for (int i = 0; i < 9; i++) ops[i] = as_op(&g[i]);
            char why[160];
            tgc_cpu_fused *f = tgc_cpu_fuse(ops, 9, why, sizeof why);
            ck_assert_msg(f != NULL, "refused: %s", why);
            ck_assert_int_eq(tgc_cpu_fused_size(f), 9);
            ck_assert(!tgc_cpu_fused_is_optimizer(f));
            tgc_err err = {{0}};
            ck_assert_msg(tgc_cpu_exec_fused(cpu, f, &err) == 0, "%s", err.msg);
            tgc_cpu_fused_free(f);
        }
        res[run] = t9;
        free(t1), free(t5), free(t6), free(t7), free(t8);
    }
    /* tanh is libm's in the group and oneDNN's alone: equal to an ulp or two, then through bf16 */
    double *r = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) r[i] = res[0][i];
    tu_close(res[1], r, n, 1e-2, "group result after bf16 round trip");
    free(r);
    free(res[0]), free(res[1]), free(x), free(y), free(b);
}
END_TEST

/* sigmoid and its backward in a group (libm's expf there, oneDNN's logistic alone), over values that
 * saturate it both ways, in place as memplan would place them: sigmoid to 1e-6 of each value (2.7e-7,
 * about 2 ulps, seen), its backward to 1e-6 of the largest gradient (1 - y for y near 1 turns y's
 * last-bit difference into a larger relative one, as tanh's 1 - y^2 does). */
START_TEST(sigmoid_group_matches) {
    const int64_t n = 4096 * 3 + 17;
    tgc_type t = tu_f1(n);
    float *x = tu_rand(n, -8, 8), *y = tu_rand(n, -1, 1), *dy = tu_rand(n, -1, 1);
    x[0] = 0.f, x[1] = 100.f, x[2] = -100.f, x[3] = 1e30f, x[4] = -1e30f;
    y[0] = y[1] = y[2] = y[3] = y[4] = 0.f;
    float *out[2][2];
    for (int run = 0; run < 2; run++) {
        float *s = tu_zeros(n), *d = tu_zeros(n);
        tgc_attrs def = tgc_attrs_default(), sc = def;
        sc.alpha = 0.5;
        ins g[4];
        g[0] = (ins){TGC_OP_ADD, def, 2, {t, t}, {t}, {x, y}, {s}};
        g[1] = (ins){TGC_OP_SIGMOID, def, 1, {t}, {t}, {s}, {s}};         /* in place */
        g[2] = (ins){TGC_OP_SIGMOID_BWD, def, 2, {t, t}, {t}, {dy, s}, {d}};
        g[3] = (ins){TGC_OP_SCALE, sc, 1, {t}, {t}, {d}, {d}};             /* in place */
        if (run == 0) {
            for (int i = 0; i < 4; i++) tu_exec(cpu, g[i].code, &g[i].a, g[i].n_in, g[i].in_t, g[i].in, 1, g[i].out_t, g[i].out);
        } else {
            tgc_cpu_op ops[4];
            for (int i = 0; i < 4; i++) ops[i] = as_op(&g[i]);
            char why[160];
            tgc_cpu_fused *f = tgc_cpu_fuse(ops, 4, why, sizeof why);
            ck_assert_msg(f != NULL, "refused: %s", why);
            ck_assert_int_eq(tgc_cpu_fused_size(f), 4);
            tgc_err err = {{0}};
            ck_assert_msg(tgc_cpu_exec_fused(cpu, f, &err) == 0, "%s", err.msg);
            tgc_cpu_fused_free(f);
        }
        out[run][0] = s, out[run][1] = d;
    }
    for (int64_t i = 0; i < n; i++) {
        float a = out[1][0][i], b = out[0][0][i];
        ck_assert_msg(fabsf(a - b) <= 1e-6f * fabsf(b) + 1e-37f, "sigmoid element %lld: fused %.9g, alone %.9g",
                      (long long)i, (double)a, (double)b);
    }
    double *r = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) r[i] = out[0][1][i];
    tu_close(out[1][1], r, n, 1e-6, "sigmoid_bwd, fused against alone");
    free(r);
    ck_assert_float_eq(out[1][0][0], 0.5f);
    ck_assert_float_eq(out[1][0][1], 1.f);
    ck_assert_float_eq(out[1][0][3], 1.f);
    ck_assert_float_le(out[1][0][4], 1e-30f);
    for (int run = 0; run < 2; run++) free(out[run][0]), free(out[run][1]);
    free(x), free(y), free(dy);
}
END_TEST

/* Every elementwise op of ir/ops.def (its rows, read here through the X-macro) runs in a CPU group: the op
 * followed by a relu is accepted as one group and gives what the two give one by one. An op added to
 * ops.def as TGC_OPF_ELEMENTWISE without its lines in cpu_fused.c fails here by name, whether the group is
 * declined (no ew_arity case, which would otherwise only cost speed) or runs without a body (no ew_apply
 * case, which would leave the result unwritten). */
static const struct {
    tgc_opcode code;
    const char *name;
    int n_in, n_out;
    unsigned flags;
} op_rows[] = {
#define TGC_OP(E, name, n_in, n_out, attrs, mutates, flags) {TGC_OP_##E, #name, n_in, n_out, flags},
#include "ir/ops.def"
#undef TGC_OP
};

START_TEST(every_elementwise_op_fuses) {
    const int64_t C = 3;
    tgc_type t = tu_f4(2, C, 43, 67), ct = tu_f1(C); /* 17286 elements: four chunks and a partial one */
    const int64_t n = tu_n(&t);
    float *x = tu_rand(n, -3, 3), *y = tu_rand(n, -1, 1), *b = tu_rand(C, -1, 1);
    int tested = 0;
    for (size_t r = 0; r < sizeof op_rows / sizeof op_rows[0]; r++) {
        if (!(op_rows[r].flags & TGC_OPF_ELEMENTWISE) || op_rows[r].n_out != 1) continue;
        ck_assert_msg(op_rows[r].n_in >= 1 && op_rows[r].n_in <= 2, "%s: the test knows 1 or 2 operands",
                      op_rows[r].name);
        tgc_attrs a = tgc_attrs_default(), def = tgc_attrs_default();
        tgc_type in_t[2] = {t, t};
        void *in[2] = {x, y};
        if (op_rows[r].code == TGC_OP_BIAS_ADD) a.axis = 1, in_t[1] = ct, in[1] = b;
        if (op_rows[r].code == TGC_OP_CAST) a.dtype = TGC_F32;
        if (op_rows[r].code == TGC_OP_SCALE) a.alpha = -0.75;
        float *res[2][2];
        for (int run = 0; run < 2; run++) {
            float *t1 = tu_zeros(n), *t2 = tu_zeros(n);
            ins g[2] = {{op_rows[r].code, a, op_rows[r].n_in, {in_t[0], in_t[1]}, {t}, {in[0], in[1]}, {t1}},
                        {TGC_OP_RELU, def, 1, {t}, {t}, {t1}, {t2}}};
            if (run == 0) {
                for (int i = 0; i < 2; i++) tu_exec(cpu, g[i].code, &g[i].a, g[i].n_in, g[i].in_t, g[i].in, 1, g[i].out_t, g[i].out);
            } else {
                tgc_cpu_op ops[2] = {as_op(&g[0]), as_op(&g[1])};
                char why[160];
                tgc_cpu_fused *f = tgc_cpu_fuse(ops, 2, why, sizeof why);
                ck_assert_msg(f != NULL, "%s: a group with it is declined: %s", op_rows[r].name, why);
                tgc_err err = {{0}};
                ck_assert_msg(tgc_cpu_exec_fused(cpu, f, &err) == 0, "%s: %s", op_rows[r].name, err.msg);
                tgc_cpu_fused_free(f);
            }
            res[run][0] = t1, res[run][1] = t2;
        }
        /* libm's transcendentals against oneDNN's, and oneDNN's own order of operations in the backward ops:
         * to 1e-6 of the tensor's scale (the arithmetic ops agree bit for bit: elementwise_group_bits) */
        double *ref = malloc(sizeof(double) * (size_t)n);
        char what[96];
        for (int k = 0; k < 2; k++) {
            for (int64_t i = 0; i < n; i++) ref[i] = res[0][k][i];
            snprintf(what, sizeof what, "%s%s, fused against alone", op_rows[r].name, k ? " then relu" : "");
            tu_close(res[1][k], ref, n, 1e-6, what);
        }
        free(ref);
        for (int run = 0; run < 2; run++) free(res[run][0]), free(res[run][1]);
        tested++;
    }
    ck_assert_int_ge(tested, 10);
    free(x), free(y), free(b);
}
END_TEST

/* The parts without tanh agree bit for bit, in place included. */
START_TEST(elementwise_group_bits) {
    const int64_t n = 4096 * 3 + 17;
    tgc_type t = tu_f1(n);
    float *x = tu_rand(n, -2, 2), *y = tu_rand(n, -2, 2);
    float *out[2];
    for (int run = 0; run < 2; run++) {
        float *a = tu_zeros(n), *d = tu_zeros(n);
        ins g[4];
        tgc_attrs def = tgc_attrs_default(), sc = def;
        sc.alpha = 3.0;
        g[0] = (ins){TGC_OP_ADD, def, 2, {t, t}, {t}, {x, y}, {a}};
        g[1] = (ins){TGC_OP_RELU, def, 1, {t}, {t}, {a}, {a}};
        g[2] = (ins){TGC_OP_SCALE, sc, 1, {t}, {t}, {a}, {a}};
        g[3] = (ins){TGC_OP_RELU_BWD, def, 2, {t, t}, {t}, {y, a}, {d}};
        if (run == 0) {
            for (int i = 0; i < 4; i++) tu_exec(cpu, g[i].code, &g[i].a, g[i].n_in, g[i].in_t, g[i].in, 1, g[i].out_t, g[i].out);
        } else {
            tgc_cpu_op ops[4];
            for (int i = 0; i < 4; i++) ops[i] = as_op(&g[i]);
            tgc_cpu_fused *f = tgc_cpu_fuse(ops, 4, NULL, 0);
            ck_assert_ptr_nonnull(f);
            tgc_err err = {{0}};
            ck_assert_int_eq(tgc_cpu_exec_fused(cpu, f, &err), 0);
            tgc_cpu_fused_free(f);
        }
        free(a);
        out[run] = d;
    }
    same_bits(out[1], out[0], n, "add, relu, scale, relu_bwd");
    free(out[0]), free(out[1]), free(x), free(y);
}
END_TEST

/* Groups these loops do not implement are declined, saying why. */
START_TEST(elementwise_group_refused) {
    const int64_t n = 10000;
    tgc_type t = tu_f1(n), ti = {.dtype = TGC_I32, .shape = tgc_shape1(n)};
    float *buf = tu_zeros(2 * n), *x = tu_rand(n, -1, 1);
    tgc_attrs def = tgc_attrs_default();
    char why[160];
    /* an i32 add: the loops are for float tensors only */
    ins h[2] = {{TGC_OP_RELU, def, 1, {t}, {t}, {x}, {buf}}, {TGC_OP_ADD, def, 2, {ti, ti}, {ti}, {buf, buf}, {buf + n}}};
    tgc_cpu_op ops2[2] = {as_op(&h[0]), as_op(&h[1])};
    ck_assert_ptr_null(tgc_cpu_fuse(ops2, 2, why, sizeof why));
    ck_assert_msg(strstr(why, "instruction 1 of 2: a non-float operand") != NULL, "%s", why);
    /* not an elementwise op */
    ins k[2] = {{TGC_OP_RELU, def, 1, {t}, {t}, {x}, {buf}}, {TGC_OP_GLOBAL_AVG_POOL, def, 1, {t}, {t}, {buf}, {buf + n}}};
    tgc_cpu_op ops3[2] = {as_op(&k[0]), as_op(&k[1])};
    ck_assert_ptr_null(tgc_cpu_fuse(ops3, 2, why, sizeof why));
    ck_assert_msg(strstr(why, "not fusable") != NULL, "%s", why);
    ck_assert_ptr_null(tgc_cpu_fuse(ops3, 1, why, sizeof why));
    free(buf), free(x);
}
END_TEST

/* Three parameters in consecutive slots of `slot` floats (16: the CPU target's 64 bytes, 64: the CUDA
 * target's 256) of param, grad and state blocks: one fused update equals three single ones bit for bit
 * (SGD with momentum at steps 1 and 2, AdamW); non-f32 operands are declined. */
static void optimizer_case(tgc_opcode code, int n_state, int64_t slot) {
    const int64_t sizes[3] = {5, 17, 64};
    int64_t offs[3] = {0}, slots = 0;
    for (int i = 0; i < 3; i++) {
        offs[i] = slots;
        slots += (sizes[i] + slot - 1) / slot * slot;
    }
    float *blk[2][4]; /* [run][param, grad, state0, state1] */
    float *init = tu_rand(slots * 4, -1, 1);
    for (int run = 0; run < 2; run++)
        for (int j = 0; j < 4; j++) blk[run][j] = tu_copy(init + j * slots, slots);
    float lr = 0.1f, step = 1.f;
    tgc_attrs a = tgc_attrs_default();
    a.weight_decay = 0.01;
    a.momentum = 0.9;
    a.nesterov = 1;
    a.alpha = 0.5;
    int nt = 2 + n_state, n_in = nt + (code == TGC_OP_SGD_UPDATE ? 1 : 2);
    for (int s = 1; s <= 2; s++) {
        step = (float)s;
        for (int run = 0; run < 2; run++) {
            tgc_type tt[3][6];
            void *pp[3][6];
            tgc_cpu_op ops[3];
            for (int i = 0; i < 3; i++) {
                for (int j = 0; j < nt; j++) {
                    tt[i][j] = tu_f1(sizes[i]);
                    pp[i][j] = blk[run][j] + offs[i];
                }
                tt[i][nt] = tu_f0();
                pp[i][nt] = &lr;
                if (n_in > nt + 1) tt[i][nt + 1] = tu_f0(), pp[i][nt + 1] = &step;
                ops[i] = (tgc_cpu_op){code, &a, n_in, 0, tt[i], NULL, pp[i], NULL};
            }
            if (run == 0) {
                for (int i = 0; i < 3; i++) tu_exec(cpu, code, &a, n_in, tt[i], pp[i], 0, NULL, NULL);
            } else {
                char why[160];
                tgc_cpu_fused *f = tgc_cpu_fuse(ops, 3, why, sizeof why);
                ck_assert_msg(f != NULL, "refused: %s", why);
                ck_assert(tgc_cpu_fused_is_optimizer(f));
                tgc_err err = {{0}};
                ck_assert_msg(tgc_cpu_exec_fused(cpu, f, &err) == 0, "%s", err.msg);
                tgc_cpu_fused_free(f);
                /* a non-f32 gradient is declined */
                tt[1][1].dtype = TGC_F16;
                ck_assert_ptr_null(tgc_cpu_fuse(ops, 3, why, sizeof why));
                ck_assert_msg(strstr(why, "instruction 1 of 3: operand 1 is not f32 data") != NULL, "%s", why);
                tt[1][1].dtype = TGC_F32;
            }
        }
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < nt; j++)
                same_bits(blk[1][j] + offs[i], blk[0][j] + offs[i], sizes[i], "multi-tensor update");
    }
    for (int run = 0; run < 2; run++)
        for (int j = 0; j < 4; j++) free(blk[run][j]);
    free(init);
}

START_TEST(optimizer_group_matches) {
    for (int64_t slot = 16; slot <= 64; slot *= 4) {
        optimizer_case(TGC_OP_SGD_UPDATE, 0, slot);
        optimizer_case(TGC_OP_SGD_MOMENTUM_UPDATE, 1, slot);
        optimizer_case(TGC_OP_ADAMW_UPDATE, 2, slot);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("backend_cpu_fused");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, bn_relu_matches_unfused);
    tcase_add_test(tc, fold_matches_bn_eval);
    tcase_add_test(tc, elementwise_group_matches);
    tcase_add_test(tc, elementwise_group_bits);
    tcase_add_test(tc, elementwise_group_refused);
    tcase_add_test(tc, sigmoid_group_matches);
    tcase_add_test(tc, every_elementwise_op_fuses);
    tcase_add_test(tc, optimizer_group_matches);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
