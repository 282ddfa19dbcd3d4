/* tests/unit/test_cuda_ops.c - the CUDA decisions (backend/cuda/cuda_ops.h), checked without a GPU: every op of
 * ir/ops.def has one, every instruction of every shipped config (cpu and cuda targets, and the cuda target's
 * --amp (bf16) and --fp16 plans) has an implementation
 * that takes it (a generated kernel for each elementwise group, a hand-written kernel for its operand types,
 * a gemm for each matmul), the cuBLAS marshalling of matmul (row-major plan, column-major cuBLAS) run by its
 * host body equals the CPU executor's matmul for every transpose combination, and the marshalling of every batch
 * norm into cuDNN's legacy calls, run with their documented semantics, equals the CPU's batch norm kernels. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend/cuda/cuda_ops.h"
#include "test_codegen_util.h"

START_TEST(every_op_has_a_decision) {
    int n = 0, pending = 0;
    for (int op = 0; op < TGC_OP_COUNT; op++) {
        tgc_cuda_impl im = tgc_cuda_impl_of((tgc_opcode)op);
        /* NONE only with a stated reason (tgc_cuda_impl_pending; no op has one today) */
        ck_assert_msg((im != TGC_CUDA_IMPL_NONE || tgc_cuda_impl_pending((tgc_opcode)op)) && im < TGC_CUDA_IMPL_COUNT,
                      "%s has no CUDA decision", tgc_op_table[op].name);
        ck_assert_int_eq(im == TGC_CUDA_IMPL_NONE, tgc_cuda_impl_pending((tgc_opcode)op) != NULL);
        pending += im == TGC_CUDA_IMPL_NONE;
        if (tgc_op_table[op].flags & TGC_OPF_ELEMENTWISE) ck_assert_int_eq(im, TGC_CUDA_IMPL_GENERATED);
        n++;
    }
    ck_assert_int_eq(tgc_cuda_impl_of((tgc_opcode)TGC_OP_COUNT), TGC_CUDA_IMPL_NONE);
    printf("ops with a CUDA decision: %d of %d (%d of them not on the GPU yet)\n", n, (int)TGC_OP_COUNT, pending);
}
END_TEST

START_TEST(every_instruction_of_every_shipped_config_has_an_implementation) {
    char **cfgs;
    int nc = cgu_configs(TGC_SOURCE_DIR, &cfgs);
    ck_assert_int_ge(nc, 9);
    /* fp32 for both targets; the cuda target's mixed-precision plans (--amp as bf16, --fp16) too */
    const char *targets[] = {"cuda", "cpu", "cuda", "cuda"}, *flags[] = {"", "", " --amp (bf16)", " --fp16"};
    const tgc_dtype amps[] = {TGC_F32, TGC_F32, TGC_BF16, TGC_F16};
    tgc_cuda_decisions all = {0}, nhwc = {0};
    int failed = 0, nhwc_plans = 0, relayouts = 0;
    for (int t = 0; t < 4; t++)
        for (int c = 0; c < nc; c++) {
            tgc_err err;
            tgc_plan *p = cgu_compile_amp(cfgs[c], targets[t], NULL, amps[t], &err);
            ck_assert_msg(p, "%s%s: %s", cfgs[c], flags[t], err.msg);
            if (tgc_cuda_check_plan(p, 1, &all, &err) != 0) {
                printf("FAIL %s (target %s%s): %s\n", cfgs[c], targets[t], flags[t], err.msg);
                failed++;
            }
            tgc_plan_free(p);
            /* the cuda plans compiled with --layout nhwc */
            if (strcmp(targets[t], "cuda") != 0) continue;
            p = cgu_compile_layout(cfgs[c], targets[t], NULL, amps[t], TGC_LAYOUT_NHWC, &err);
            ck_assert_msg(p, "%s%s --layout nhwc: %s", cfgs[c], flags[t], err.msg);
            nhwc_plans++;
            for (int pi = 0; pi < p->n_programs; pi++)
                for (int k = 0; k < p->programs[pi].n_instr; k++) relayouts += p->programs[pi].instr[k].code == TGC_OP_RELAYOUT;
            if (tgc_cuda_check_plan(p, 0, &nhwc, &err) != 0) {
                printf("FAIL %s (target %s%s --layout nhwc): %s\n", cfgs[c], targets[t], flags[t], err.msg);
                failed++;
            }
            tgc_plan_free(p);
        }
    ck_assert_int_eq(failed, 0);
    printf("configs x targets: %d; instructions: %d", 4 * nc, all.instructions);
    for (int i = 1; i < TGC_CUDA_IMPL_COUNT; i++) printf(", %s %d", tgc_cuda_impl_name((tgc_cuda_impl)i), all.by_impl[i]);
    printf("; generated kernels (groups and lone ops): %d; not on the GPU yet: %d\n", all.groups,
           all.pending);
    ck_assert_int_gt(all.by_impl[TGC_CUDA_IMPL_CUDNN], 0);
    ck_assert_int_gt(all.by_impl[TGC_CUDA_IMPL_CUBLAS], 0);
    ck_assert_int_gt(all.by_impl[TGC_CUDA_IMPL_KERNEL], 0);
    ck_assert_int_gt(all.by_impl[TGC_CUDA_IMPL_GENERATED], 0);
    ck_assert_int_gt(all.by_impl[TGC_CUDA_IMPL_COPY], 0);
    ck_assert_int_gt(all.by_impl[TGC_CUDA_IMPL_AUX], 0);
    ck_assert_int_eq(all.by_impl[TGC_CUDA_IMPL_NONE], 0);
    printf("cuda plans with --layout nhwc: %d; instructions: %d (relayouts %d)", nhwc_plans, nhwc.instructions, relayouts);
    for (int i = 1; i < TGC_CUDA_IMPL_COUNT; i++) printf(", %s %d", tgc_cuda_impl_name((tgc_cuda_impl)i), nhwc.by_impl[i]);
    printf("; not on the GPU yet: %d\n", nhwc.pending);
    ck_assert_int_gt(nhwc_plans, 0);
    ck_assert_int_gt(relayouts, 0);
    ck_assert_int_eq(nhwc.pending, 0);
    cgu_free_strs(cfgs, nc);
}
END_TEST

static float frand(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

START_TEST(gemm_marshalling_equals_the_cpu_matmul) {
    tgc_err err;
    tgc_cpu *cpu = tgc_cpu_new(1, 1, &err);
    ck_assert_msg(cpu, "%s", err.msg);
    const int64_t M = 7, N = 5, K = 11;
    uint32_t seed = 3;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int64_t as[2] = {ta ? K : M, ta ? M : K}, bs[2] = {tb ? N : K, tb ? K : N}, ys[2] = {M, N};
            tgc_type it[2] = {{TGC_F32, tgc_shape_make(2, as), TGC_LAYOUT_ROW}, {TGC_F32, tgc_shape_make(2, bs), TGC_LAYOUT_ROW}};
            tgc_type ot[1] = {{TGC_F32, tgc_shape_make(2, ys), TGC_LAYOUT_ROW}};
            float a[M * K], b[K * N], y_cpu[M * N], y_gemm[M * N];
            for (int i = 0; i < M * K; i++) a[i] = frand(&seed);
            for (int i = 0; i < K * N; i++) b[i] = frand(&seed);
            tgc_attrs at = tgc_attrs_default();
            at.trans_a = ta;
            at.trans_b = tb;
            void *in[2] = {a, b}, *out_cpu[1] = {y_cpu}, *out_g[1] = {y_gemm};
            ck_assert_msg(tgc_cpu_exec(cpu, TGC_OP_MATMUL, &at, 2, it, in, 1, ot, out_cpu, &err) == 0, "%s", err.msg);
            tgc_cpu_op o = {TGC_OP_MATMUL, &at, 2, 1, it, ot, in, out_g};
            tgc_cuda_gemm g;
            ck_assert_msg(tgc_cuda_gemm_of(&o, &g, &err) == 0, "%s", err.msg);
            ck_assert(g.m == N && g.n == M && g.k == K && g.ldc == N);
            tgc_cuda_gemm_host(&g);
            for (int i = 0; i < M * N; i++)
                ck_assert_msg(fabsf(y_cpu[i] - y_gemm[i]) <= 1e-5f * (1 + fabsf(y_cpu[i])),
                              "trans_a %d trans_b %d, element %d: cpu %g, gemm %g", ta, tb, i, y_cpu[i], y_gemm[i]);
        }
    /* not a 2-D matmul: refused, naming why */
    int64_t s3[3] = {2, 3, 4};
    tgc_type it3[2] = {{TGC_F32, tgc_shape_make(3, s3), TGC_LAYOUT_ROW}, {TGC_F32, tgc_shape_make(3, s3), TGC_LAYOUT_ROW}};
    tgc_attrs at = tgc_attrs_default();
    void *none[2] = {0};
    tgc_cpu_op bad = {TGC_OP_MATMUL, &at, 2, 1, it3, it3, none, none};
    tgc_cuda_gemm g;
    ck_assert_int_eq(tgc_cuda_gemm_of(&bad, &g, &err), -1);
    ck_assert_msg(strstr(err.msg, "2-D operands"), "%s", err.msg);
    tgc_cpu_free(cpu);
}
END_TEST

/* The same marshalling for bf16 and f16 data (cublasGemmEx with f32 compute in mixed-precision plans): the host
 * body against the CPU's matmul (oneDNN bf16, f16 through f32 copies), each result within one step of its
 * 16-bit format (the sums run in another order before the one rounding). */
START_TEST(gemm_marshalling_low_precision) {
    tgc_err err;
    tgc_cpu *cpu = tgc_cpu_new(1, 1, &err);
    ck_assert_msg(cpu, "%s", err.msg);
    enum { M = 9, N = 6, K = 13 };
    uint32_t seed = 5;
    int worst = 0;
    for (int d = 0; d < 2; d++) {
        tgc_dtype dt = d ? TGC_F16 : TGC_BF16;
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int64_t as[2] = {ta ? K : M, ta ? M : K}, bs[2] = {tb ? N : K, tb ? K : N}, ys[2] = {M, N};
                tgc_type it[2] = {{dt, tgc_shape_make(2, as), TGC_LAYOUT_ROW}, {dt, tgc_shape_make(2, bs), TGC_LAYOUT_ROW}};
                tgc_type ot[1] = {{dt, tgc_shape_make(2, ys), TGC_LAYOUT_ROW}};
                uint16_t a[M * K], b[K * N], y_cpu[M * N], y_gemm[M * N];
                /* values exact in both formats: k/64 for k in [-64, 64) */
                for (int i = 0; i < M * K; i++) a[i] = 0;
                float fa[M * K], fb[K * N];
                for (int i = 0; i < M * K; i++) fa[i] = (float)(int)(frand(&seed) * 64) / 64.f;
                for (int i = 0; i < K * N; i++) fb[i] = (float)(int)(frand(&seed) * 64) / 64.f;
                tgc_type ft[2] = {{TGC_F32, tgc_shape1(M * K), TGC_LAYOUT_ROW}, {TGC_F32, tgc_shape1(K * N), TGC_LAYOUT_ROW}};
                tgc_type ht[2] = {{dt, tgc_shape1(M * K), TGC_LAYOUT_ROW}, {dt, tgc_shape1(K * N), TGC_LAYOUT_ROW}};
                tgc_attrs ca = tgc_attrs_default();
                ca.dtype = dt;
                void *fi0[1] = {fa}, *ho0[1] = {a}, *fi1[1] = {fb}, *ho1[1] = {b};
                ck_assert(tgc_cpu_exec(cpu, TGC_OP_CAST, &ca, 1, &ft[0], fi0, 1, &ht[0], ho0, &err) == 0);
                ck_assert(tgc_cpu_exec(cpu, TGC_OP_CAST, &ca, 1, &ft[1], fi1, 1, &ht[1], ho1, &err) == 0);
                tgc_attrs at = tgc_attrs_default();
                at.trans_a = ta;
                at.trans_b = tb;
                void *in[2] = {a, b}, *out_cpu[1] = {y_cpu}, *out_g[1] = {y_gemm};
                ck_assert_msg(tgc_cpu_exec(cpu, TGC_OP_MATMUL, &at, 2, it, in, 1, ot, out_cpu, &err) == 0, "%s", err.msg);
                tgc_cpu_op o = {TGC_OP_MATMUL, &at, 2, 1, it, ot, in, out_g};
                tgc_cuda_gemm g;
                ck_assert_msg(tgc_cuda_gemm_of(&o, &g, &err) == 0, "%s", err.msg);
                ck_assert_int_eq(g.dtype, dt);
                tgc_cuda_gemm_host(&g);
                for (int i = 0; i < M * N; i++) { /* finite, same sign: the patterns' distance is the ulp count */
                    int dist = abs((int)(y_cpu[i] & 0x7fff) - (int)(y_gemm[i] & 0x7fff));
                    if ((y_cpu[i] ^ y_gemm[i]) & 0x8000) dist = (y_cpu[i] & 0x7fff) + (y_gemm[i] & 0x7fff);
                    if (dist > worst) worst = dist;
                    ck_assert_msg(dist <= 1, "%s trans_a %d trans_b %d, element %d: cpu 0x%04x, gemm 0x%04x",
                                  tgc_dtype_name(dt), ta, tb, i, y_cpu[i], y_gemm[i]);
                }
            }
    }
    printf("gemm marshalling, bf16 and f16: worst %d step(s) of the 16-bit format from the CPU's matmul\n", worst);
    tgc_cpu_free(cpu);
}
END_TEST

static double rel_err(const float *a, const float *b, size_t n) {
    double scale = 0, w = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs((double)b[i]));
    for (size_t i = 0; i < n; i++) w = fmax(w, fabs((double)a[i] - b[i]));
    return scale > 0 ? w / scale : w;
}

/* Every batch norm op through the marshalling cuDNN's legacy calls get, run by their documented semantics on the
 * host, against the CPU executor's kernel of the op: same outputs, same updated running statistics. In f32
 * (relative 1e-5), and with bf16/f16 data as mixed precision has it (the x-shaped results within 2 steps of
 * the format relative to the tensor's largest element: 1.6e-2 for bf16, 2e-3 for f16). */
static const tgc_dtype bn_dt[3] = {TGC_F32, TGC_BF16, TGC_F16};

/* f32 values into dt in place (the CPU's cast; the 16-bit values packed at the start), or back. */
static void recast(tgc_cpu *cpu, float *v, int64_t n, tgc_dtype from, tgc_dtype to) {
    if (from == to) return;
    tgc_err err;
    uint8_t tmp[4 * 256];
    ck_assert_int_le(n, 256);
    tgc_attrs at = tgc_attrs_default();
    at.dtype = to;
    tgc_type ft = {from, tgc_shape1(n), TGC_LAYOUT_ROW}, tt = {to, tgc_shape1(n), TGC_LAYOUT_ROW};
    void *ip[1] = {v}, *op[1] = {tmp};
    ck_assert_msg(tgc_cpu_exec(cpu, TGC_OP_CAST, &at, 1, &ft, ip, 1, &tt, op, &err) == 0, "%s", err.msg);
    memcpy(v, tmp, (size_t)n * tgc_dtype_size(to));
}

START_TEST(batch_norm_marshalling_equals_the_cpu_kernels) {
    tgc_err err;
    tgc_cpu *cpu = tgc_cpu_new(1, 1, &err);
    ck_assert_msg(cpu, "%s", err.msg);
    enum { N = 3, C = 4, H = 5, W = 2, X = N * C * H * W };
    const tgc_dtype dt = bn_dt[_i];
    const double tol = dt == TGC_BF16 ? 1.6e-2 : dt == TGC_F16 ? 2e-3 : 1e-5;
    int64_t xs[4] = {N, C, H, W}, cs[1] = {C};
    tgc_type tx = {dt, tgc_shape_make(4, xs), TGC_LAYOUT_ROW}, tc = {TGC_F32, tgc_shape_make(1, cs), TGC_LAYOUT_ROW};
    uint32_t seed = 11;
    static const tgc_opcode ops[] = {TGC_OP_BN_TRAIN, TGC_OP_BN_TRAIN_RELU, TGC_OP_BN_EVAL, TGC_OP_BN_BWD,
                                     TGC_OP_BN_RELU_BWD};
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        tgc_opcode code = ops[k];
        const tgc_op_info *info = &tgc_op_table[code];
        int bwd = code == TGC_OP_BN_BWD || code == TGC_OP_BN_RELU_BWD;
        float in_a[6][X], in_b[6][X], out_a[3][X], out_b[3][X];
        tgc_type it[6], ot[3];
        void *pa[6], *pb[6], *qa[3], *qb[3];
        for (int q = 0; q < info->n_in; q++) {
            int big = q == 0 || (bwd && q == 1);
            it[q] = big ? tx : tc;
            /* variances and inverse deviations positive: the last operand of each op */
            for (int i = 0; i < X; i++) in_a[q][i] = q == info->n_in - 1 ? 0.5f + 0.5f * (frand(&seed) + 1) : frand(&seed);
            if (big) recast(cpu, in_a[q], X, TGC_F32, dt);
            memcpy(in_b[q], in_a[q], sizeof in_a[q]);
            pa[q] = in_a[q];
            pb[q] = in_b[q];
        }
        for (int q = 0; q < info->n_out; q++) {
            ot[q] = q == 0 ? tx : tc;
            qa[q] = out_a[q];
            qb[q] = out_b[q];
        }
        tgc_attrs at = tgc_attrs_default();
        at.eps = 1e-5;
        at.momentum = 0.1;
        ck_assert_msg(tgc_cpu_exec(cpu, code, &at, info->n_in, it, pb, info->n_out, ot, qb, &err) == 0, "%s: %s",
                      info->name, err.msg);
        tgc_cpu_op o = {code, &at, info->n_in, info->n_out, it, ot, pa, qa};
        tgc_cuda_bn bn;
        ck_assert_msg(tgc_cuda_bn_of(&o, &bn, &err) == 0, "%s", err.msg);
        ck_assert(bn.n == N && bn.c == C && bn.inner == H * W);
        ck_assert_int_eq(tgc_cuda_bn_host(&bn), 0);
        ck_assert_int_eq(bn.dtype, dt);
        for (int q = 0; q < info->n_out; q++) {
            if (q == 0) recast(cpu, out_a[0], X, dt, TGC_F32), recast(cpu, out_b[0], X, dt, TGC_F32);
            double e = rel_err(out_a[q], out_b[q], (size_t)(q == 0 ? X : C));
            ck_assert_msg(e <= (q == 0 ? tol : 1e-5), "%s %s result %d: relative error %g", tgc_dtype_name(dt), info->name,
                          q, e);
        }
        for (int q = 0; q < info->n_in; q++) /* the running statistics updated alike */
            if (info->mutates & (1u << q))
                ck_assert_msg(rel_err(in_a[q], in_b[q], C) <= 1e-6, "%s operand %d", info->name, q);
    }
    tgc_attrs at = tgc_attrs_default();
    void *none[2] = {0};
    tgc_cpu_op bad = {TGC_OP_MATMUL, &at, 2, 1, &tx, &tx, none, none};
    tgc_cuda_bn bn;
    ck_assert_int_eq(tgc_cuda_bn_of(&bad, &bn, &err), -1);
    ck_assert_msg(strstr(err.msg, "not a batch norm"), "%s", err.msg);
    tgc_cpu_free(cpu);
}
END_TEST

int main(void) {
    Suite *s = suite_create("cuda_ops");
    TCase *tc = tcase_create("decisions");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, every_op_has_a_decision);
    tcase_add_test(tc, every_instruction_of_every_shipped_config_has_an_implementation);
    tcase_add_test(tc, gemm_marshalling_equals_the_cpu_matmul);
    tcase_add_test(tc, gemm_marshalling_low_precision);
    tcase_add_loop_test(tc, batch_norm_marshalling_equals_the_cpu_kernels, 0, 3);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
