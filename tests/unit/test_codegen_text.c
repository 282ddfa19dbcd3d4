/* The generated CUDA text of fusion groups (backend/cuda/codegen.c), FileCheck-style: the lines a small group
 * must produce, in order, and what it must not contain; live-outs, aliasing (__restrict__), the broadcast
 * index forms, the 64-bit index, casts, the hash, refusals, and the groups of a compiled plan. The text is
 * compiled and run in test_codegen_host.c (host) and tests/cuda/test_codegen_nvrtc.c (NVRTC). */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>

#include "test_codegen_util.h"
#include "test_plan_fixture.h"

/* CHECK: every pattern, each after the previous one. */
static void check_lines(const char *text, const char *const *pat, int n) {
    const char *at = text;
    for (int i = 0; i < n; i++) {
        const char *hit = strstr(at, pat[i]);
        ck_assert_msg(hit, "CHECK %d: '%s' not found after the previous match in:\n%s", i, pat[i], text);
        at = hit + strlen(pat[i]);
    }
}
#define CHECK_LINES(text, ...)                                                                                 \
    do {                                                                                                       \
        const char *const pats_[] = {__VA_ARGS__};                                                             \
        check_lines(text, pats_, (int)(sizeof pats_ / sizeof pats_[0]));                                       \
    } while (0)
#define CHECK_NOT(text, pat) ck_assert_msg(!strstr(text, pat), "CHECK-NOT: '%s' found in:\n%s", pat, text)

static int count(const char *text, const char *pat) {
    int n = 0;
    for (const char *s = text; (s = strstr(s, pat)); s += strlen(pat)) n++;
    return n;
}

static void kernel_ok(const tgc_plan *p, int first, int count_, tgc_codegen_kernel *k) {
    tgc_err err;
    ck_assert_msg(tgc_codegen_group_kernel(p, &p->programs[0], first, count_, k, &err) == 0, "%s", err.msg);
}

static void kernel_fails(const tgc_plan *p, int first, int count_, const char *needle) {
    tgc_err err = {{0}};
    tgc_codegen_kernel k;
    int rc = tgc_codegen_group_kernel(p, &p->programs[0], first, count_, &k, &err);
    ck_assert_msg(rc == -1, "expected a refusal with '%s', got a kernel:\n%s", needle, k.source);
    ck_assert_msg(strstr(err.msg, needle), "message '%s' lacks '%s'", err.msg, needle);
    ck_assert_ptr_null(k.source);
}

/* x[2,3,4,5] (arena 0) -> bias_add(b[3], axis 1) -> scale 0.5 -> relu -> y, in place over x (arena 0). */
static tgc_plan *small_group(void) {
    tgc_plan *p = cgu_plan_new();
    tgc_shape s = tgc_shape4(2, 3, 4, 5);
    int x = cgu_tensor(p, "x", TGC_F32, s, TGC_SLAB_ARENA, 0);
    int b = cgu_tensor(p, "conv.bias", TGC_F32, tgc_shape1(3), TGC_SLAB_PARAM, 0);
    int t1 = cgu_tensor(p, "t1", TGC_F32, s, TGC_SLAB_ARENA, 0);
    int t2 = cgu_tensor(p, "t2", TGC_F32, s, TGC_SLAB_ARENA, 0);
    int y = cgu_tensor(p, "y", TGC_F32, s, TGC_SLAB_ARENA, 0);
    tgc_attrs ax = tgc_attrs_default(), sc = tgc_attrs_default();
    ax.axis = 1;
    sc.alpha = 0.5;
    cgu_instr(p, TGC_OP_BIAS_ADD, &ax, 0, t1, 2, x, b);
    cgu_instr(p, TGC_OP_SCALE, &sc, 0, t2, 1, t1);
    cgu_instr(p, TGC_OP_RELU, NULL, 0, y, 1, t2);
    cgu_output(p, y);
    return p;
}

START_TEST(small_group_text) {
    tgc_plan *p = small_group();
    tgc_codegen_kernel k;
    kernel_ok(p, 0, 3, &k);
    const char *s = k.source;
    CHECK_LINES(s, "#ifndef TGC_EXTERN_C", "#define TGC_EXTERN_C extern \"C\"",
                "#define TGC_INLINE static __device__ __forceinline__", "#endif",
                " *   v0 = bias_add(x0, in1[c0]), axis 1\n", " *   v1 = scale(v0)\n", " *   v2 = relu(v1)\n",
                "TGC_EXTERN_C __global__ void __launch_bounds__(256) tgc_fused_", "(long long n,\n",
                "const float *in0,\n",                /* x: aliases y, so not restrict */
                "const float *__restrict__ in1,\n",   /* the bias */
                "float *out0) {\n",                   /* y */
                "for (unsigned int i = (unsigned int)blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned int)n; "
                "i += (unsigned int)gridDim.x * blockDim.x) {\n",
                "const float x0 = in0[i];\n", "const unsigned int c0 = (i / 20u) % 3u;\n",
                "const float v0 = x0 + in1[c0];\n", "const float v1 = __fmul_rn(0.5f, v0);\n",
                "const float v2 = v1 > 0.f ? v1 : 0.f;\n", "out0[i] = v2;\n", "}\n}\n");
    /* only the live-out result is stored; no cast helpers, no tanh, each operand loaded once */
    ck_assert_int_eq(count(s, "out0[i]"), 1);
    ck_assert_int_eq(count(s, "in0[i]"), 1);
    CHECK_NOT(s, "out1");
    CHECK_NOT(s, "tgc_f32_to_f16");
    CHECK_NOT(s, "tanhf");
    CHECK_NOT(s, "conv.bias"); /* names stay out of the text: equal groups give equal kernels */
    /* the name is the hash, and the hash is the source's */
    char name[32];
    snprintf(name, sizeof name, "tgc_fused_%016" PRIx64, k.hash);
    ck_assert_str_eq(k.name, name);
    ck_assert_int_eq(count(s, name), 1);
    ck_assert_uint_eq(tgc_codegen_source_hash(s, strlen(s)), k.hash);
    /* the arguments: x, bias, y */
    ck_assert_int_eq(k.n_args, 3);
    ck_assert_int_eq(k.args[0].tensor, 0);
    ck_assert_int_eq(k.args[0].output, 0);
    ck_assert_int_eq(k.args[0].restricted, 0);
    ck_assert_int_eq(k.args[1].tensor, 1);
    ck_assert_int_eq(k.args[1].broadcast, 1);
    ck_assert_int_eq(k.args[1].restricted, 1);
    ck_assert_int_eq(k.args[2].tensor, 4);
    ck_assert_int_eq(k.args[2].output, 1);
    ck_assert_int_eq(k.numel, 120);
    ck_assert_int_eq(k.index64, 0);
    ck_assert_int_eq(k.first, 0);
    ck_assert_int_eq(k.count, 3);
    tgc_codegen_kernel_free(&k);
    tgc_plan_free(p);
}
END_TEST

/* Equal groups (other names, other offsets with the same aliasing) give the same text and hash; another
 * constant gives another. */
START_TEST(hash_follows_text) {
    tgc_plan *p = small_group(), *q = small_group();
    for (int t = 0; t < q->n_tensors; t++) {
        free(q->tensors[t].name);
        q->tensors[t].name = tgc_asprintf("other.%d", t);
        q->tensors[t].offset += 4096;
    }
    tgc_codegen_kernel a, b, c;
    kernel_ok(p, 0, 3, &a);
    kernel_ok(q, 0, 3, &b);
    ck_assert_str_eq(a.source, b.source);
    ck_assert_uint_eq(a.hash, b.hash);
    q->programs[0].instr[1].attrs.alpha = 0.25;
    kernel_ok(q, 0, 3, &c);
    ck_assert_uint_ne(a.hash, c.hash);
    ck_assert_ptr_nonnull(strstr(c.source, "__fmul_rn(0.25f, v0)"));
    /* the hash reads the name's digits as zeros: changing them does not change it, changing text does */
    char *s = tgc_strdup(a.source);
    char *d = strstr(s, "tgc_fused_") + 10;
    memcpy(d, "0123456789abcdef", 16);
    ck_assert_uint_eq(tgc_codegen_source_hash(s, strlen(s)), a.hash);
    s[strlen(s) - 3] = ' ';
    ck_assert_uint_ne(tgc_codegen_source_hash(s, strlen(s)), a.hash);
    free(s);
    tgc_codegen_kernel_free(&a);
    tgc_codegen_kernel_free(&b);
    tgc_codegen_kernel_free(&c);
    tgc_plan_free(p);
    tgc_plan_free(q);
}
END_TEST

/* Live-outs: a result read after the group, a program output and a gradient are stored; one only used
 * inside is not. Results not in place get __restrict__. */
START_TEST(live_outs) {
    tgc_plan *p = cgu_plan_new();
    tgc_shape s = tgc_shape2(8, 16);
    int a = cgu_tensor(p, "a", TGC_F32, s, TGC_SLAB_ARENA, 0);
    int b = cgu_tensor(p, "b", TGC_F32, s, TGC_SLAB_ARENA, 512);
    int t0 = cgu_tensor(p, "t0", TGC_F32, s, TGC_SLAB_ARENA, 1024); /* read after the group */
    int t1 = cgu_tensor(p, "t1", TGC_F32, s, TGC_SLAB_ARENA, 1536); /* only inside */
    int t2 = cgu_tensor(p, "t2", TGC_F32, s, TGC_SLAB_GRAD, 0);      /* a gradient */
    int t3 = cgu_tensor(p, "t3", TGC_F32, s, TGC_SLAB_ARENA, 2048);  /* a program output */
    int z = cgu_tensor(p, "z", TGC_F32, s, TGC_SLAB_ARENA, 2560);
    cgu_instr(p, TGC_OP_ADD, NULL, 3, t0, 2, a, b);
    cgu_instr(p, TGC_OP_RELU_BWD, NULL, 3, t1, 2, t0, a);
    cgu_instr(p, TGC_OP_TANH_BWD, NULL, 3, t2, 2, t1, b);
    cgu_instr(p, TGC_OP_TANH, NULL, 3, t3, 1, t2);
    cgu_instr(p, TGC_OP_RELU, NULL, -1, z, 1, t0);
    cgu_output(p, t3);
    tgc_codegen_kernel k;
    kernel_ok(p, 0, 4, &k);
    const char *src = k.source;
    CHECK_LINES(src, "const float *__restrict__ in0,\n", "const float *__restrict__ in1,\n",
                "float *__restrict__ out0,\n", "float *__restrict__ out1,\n", "float *__restrict__ out2) {\n",
                "const float x0 = in0[i];\n", "const float x1 = in1[i];\n", "const float v0 = x0 + x1;\n",
                "const float v1 = __fmul_rn(v0, x0 > 0.f ? 1.f : 0.f);\n",
                "const float v2 = __fmul_rn(v1, 1.f - __fmul_rn(x1, x1));\n", "const float v3 = tanhf(v2);\n",
                "out0[i] = v0;\n", "out1[i] = v2;\n", "out2[i] = v3;\n");
    CHECK_NOT(src, "= v1;");
    ck_assert_int_eq(k.n_args, 5);
    ck_assert_int_eq(k.args[2].tensor, t0);
    ck_assert_int_eq(k.args[3].tensor, t2);
    ck_assert_int_eq(k.args[4].tensor, t3);
    tgc_codegen_kernel_free(&k);
    tgc_plan_free(p);
}
END_TEST

/* The channel index of a bias: (i / inner) % ch, i % ch when inner is 1, i / inner on axis 0, 0 for one
 * channel; two bias_adds of one layout share an index. */
START_TEST(bias_index_forms) {
    struct {
        tgc_shape x;
        int axis;
        int64_t ch;
        const char *line;
    } cases[] = {
        {tgc_shape2(6, 7), 1, 7, "const unsigned int c0 = i % 7u;\n"},
        {tgc_shape4(5, 3, 2, 2), 0, 5, "const unsigned int c0 = i / 12u;\n"},
        {tgc_shape4(5, 1, 2, 2), 1, 1, "const unsigned int c0 = 0;\n"},
        {tgc_shape4(5, 3, 2, 2), 2, 2, "const unsigned int c0 = (i / 2u) % 2u;\n"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        tgc_plan *p = cgu_plan_new();
        int x = cgu_tensor(p, "x", TGC_F32, cases[c].x, TGC_SLAB_ARENA, 0);
        int b = cgu_tensor(p, "b", TGC_F32, tgc_shape1(cases[c].ch), TGC_SLAB_PARAM, 0);
        int b2 = cgu_tensor(p, "b2", TGC_F32, tgc_shape1(cases[c].ch), TGC_SLAB_PARAM, 256);
        int t = cgu_tensor(p, "t", TGC_F32, cases[c].x, TGC_SLAB_ARENA, 0);
        int y = cgu_tensor(p, "y", TGC_F32, cases[c].x, TGC_SLAB_ARENA, 0);
        tgc_attrs ax = tgc_attrs_default();
        ax.axis = cases[c].axis;
        cgu_instr(p, TGC_OP_BIAS_ADD, &ax, 0, t, 2, x, b);
        cgu_instr(p, TGC_OP_BIAS_ADD, &ax, 0, y, 2, t, b2);
        cgu_output(p, y);
        tgc_codegen_kernel k;
        kernel_ok(p, 0, 2, &k);
        CHECK_LINES(k.source, cases[c].line, "const float v0 = x0 + in1[c0];\n", "const float v1 = v0 + in2[c0];\n");
        CHECK_NOT(k.source, "c1 =");
        tgc_codegen_kernel_free(&k);
        tgc_plan_free(p);
    }
}
END_TEST

/* 2^31 elements or more: a 64-bit index (the shapes are never allocated). */
START_TEST(index64) {
    tgc_plan *p = cgu_index64_plan();
    tgc_codegen_kernel k;
    kernel_ok(p, 0, 2, &k);
    ck_assert_int_eq(k.index64, 1);
    CHECK_LINES(k.source, "64-bit index",
                "for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; "
                "i < (unsigned long long)n; i += (unsigned long long)gridDim.x * blockDim.x) {\n",
                "const unsigned long long c0 = (i / 2048ull) % 16ull;\n");
    tgc_codegen_kernel_free(&k);
    tgc_plan_free(p);
}
END_TEST

/* Casts: registers and pointers of the stored type, the CPU's conversions as helpers (those it uses, each
 * guarded so that kernels can share a translation unit). */
START_TEST(casts) {
    tgc_plan *p = cgu_plan_new();
    tgc_shape s = tgc_shape1(100);
    int x = cgu_tensor(p, "x", TGC_F32, s, TGC_SLAB_ARENA, 0);
    int h = cgu_tensor(p, "h", TGC_BF16, s, TGC_SLAB_ARENA, 512);
    int f = cgu_tensor(p, "f", TGC_F32, s, TGC_SLAB_ARENA, 1024);
    int i = cgu_tensor(p, "i", TGC_I32, s, TGC_SLAB_ARENA, 1536);
    int u = cgu_tensor(p, "u", TGC_U8, s, TGC_SLAB_ARENA, 2048);
    tgc_attrs a = tgc_attrs_default();
    a.dtype = TGC_BF16;
    cgu_instr(p, TGC_OP_CAST, &a, 0, h, 1, x);
    a.dtype = TGC_F32;
    cgu_instr(p, TGC_OP_CAST, &a, 0, f, 1, h);
    a.dtype = TGC_I32;
    cgu_instr(p, TGC_OP_CAST, &a, 0, i, 1, f);
    a.dtype = TGC_U8;
    cgu_instr(p, TGC_OP_CAST, &a, 0, u, 1, i);
    cgu_output(p, h);
    cgu_output(p, u);
    tgc_codegen_kernel k;
    kernel_ok(p, 0, 4, &k);
    CHECK_LINES(k.source, "#ifndef TGC_CODEGEN_BF16_TO_F32", "TGC_INLINE float tgc_bf16_to_f32(unsigned short h)",
                "#ifndef TGC_CODEGEN_F32_TO_BF16", "TGC_INLINE unsigned short tgc_f32_to_bf16(float f)",
                "#ifndef TGC_CODEGEN_SAT", "TGC_INLINE long long tgc_sat(", "#endif", " *   v0 = cast(x0) f32 -> bf16\n",
                "unsigned short *__restrict__ out0,\n", "unsigned char *__restrict__ out1) {\n",
                "const unsigned short v0 = tgc_f32_to_bf16(x0);\n", "const float v1 = tgc_bf16_to_f32(v0);\n",
                "const int v2 = (int)tgc_sat((double)v1, -2147483648.0, 2147483647.0);\n",
                "const unsigned char v3 = (unsigned char)tgc_sat((double)v2, 0.0, 255.0);\n", "out0[i] = v0;\n",
                "out1[i] = v3;\n");
    CHECK_NOT(k.source, "tgc_f16_to_f32"); /* only the helpers it uses: NVRTC warns about the others */
    CHECK_NOT(k.source, "tgc_f32_to_f16");
    ck_assert_int_eq(count(k.source, "TGC_INLINE"), 3 + 1); /* and the prelude's #define */
    tgc_codegen_kernel_free(&k);
    /* a cast to the same type is a copy and needs no helpers */
    tgc_plan *q = cgu_plan_new();
    x = cgu_tensor(q, "x", TGC_F32, s, TGC_SLAB_ARENA, 0);
    f = cgu_tensor(q, "f", TGC_F32, s, TGC_SLAB_ARENA, 512);
    int y = cgu_tensor(q, "y", TGC_F32, s, TGC_SLAB_ARENA, 1024);
    cgu_instr(q, TGC_OP_CAST, NULL, 0, f, 1, x);
    cgu_instr(q, TGC_OP_RELU, NULL, 0, y, 1, f);
    cgu_output(q, y);
    kernel_ok(q, 0, 2, &k);
    CHECK_LINES(k.source, "const float v0 = x0;\n", "const float v1 = v0 > 0.f ? v0 : 0.f;\n");
    CHECK_NOT(k.source, "#ifndef TGC_CODEGEN_");
    tgc_codegen_kernel_free(&k);
    tgc_plan_free(p);
    tgc_plan_free(q);
}
END_TEST

/* Scale constants read back exactly; non-finite ones by their bits. */
START_TEST(float_literals) {
    const double alphas[] = {1.0, -0.0, 1e-30, 3.4028234663852886e38, 0.1, 1.0 / 3.0, INFINITY};
    const char *want[] = {"__fmul_rn(1.f, x0)", "__fmul_rn(-0.f, x0)", "__fmul_rn(1e-30f, x0)",
                          "__fmul_rn(3.40282347e+38f, x0)", "__fmul_rn(0.100000001f, x0)",
                          "__fmul_rn(0.333333343f, x0)", "__fmul_rn(__uint_as_float(0x7f800000u), x0)"};
    for (size_t c = 0; c < sizeof alphas / sizeof alphas[0]; c++) {
        tgc_plan *p = cgu_plan_new();
        int x = cgu_tensor(p, "x", TGC_F32, tgc_shape1(10), TGC_SLAB_ARENA, 0);
        int t = cgu_tensor(p, "t", TGC_F32, tgc_shape1(10), TGC_SLAB_ARENA, 0);
        int y = cgu_tensor(p, "y", TGC_F32, tgc_shape1(10), TGC_SLAB_ARENA, 0);
        tgc_attrs a = tgc_attrs_default();
        a.alpha = alphas[c];
        cgu_instr(p, TGC_OP_SCALE, &a, 0, t, 1, x);
        cgu_instr(p, TGC_OP_RELU, NULL, 0, y, 1, t);
        cgu_output(p, y);
        tgc_codegen_kernel k;
        kernel_ok(p, 0, 2, &k);
        CHECK_LINES(k.source, want[c]);
        tgc_codegen_kernel_free(&k);
        tgc_plan_free(p);
    }
}
END_TEST

/* What the generator refuses, naming the instruction and the reason. */
START_TEST(refusals) {
    tgc_plan *p = cgu_plan_new();
    tgc_shape s = tgc_shape2(4, 8);
    int x = cgu_tensor(p, "x", TGC_F32, s, TGC_SLAB_ARENA, 0);
    int w = cgu_tensor(p, "w", TGC_F32, tgc_shape2(8, 8), TGC_SLAB_PARAM, 0);
    int h = cgu_tensor(p, "h", TGC_F16, s, TGC_SLAB_ARENA, 256);
    int b = cgu_tensor(p, "b", TGC_F32, tgc_shape1(8), TGC_SLAB_PARAM, 512);
    int b5 = cgu_tensor(p, "b5", TGC_F32, tgc_shape1(5), TGC_SLAB_PARAM, 768);
    int t = cgu_tensor(p, "t", TGC_F32, s, TGC_SLAB_ARENA, 1024);
    int y = cgu_tensor(p, "y", TGC_F32, s, TGC_SLAB_ARENA, 1024);
    int yb = cgu_tensor(p, "yb", TGC_F32, s, TGC_SLAB_PARAM, 512);    /* over the bias */
    int yp = cgu_tensor(p, "yp", TGC_F32, s, TGC_SLAB_ARENA, 64);     /* partly over x */
    int big = cgu_tensor(p, "big", TGC_F32, tgc_shape2(4, 9), TGC_SLAB_ARENA, 2048);
    tgc_attrs ax = tgc_attrs_default();
    ax.axis = 1;
    cgu_instr(p, TGC_OP_MATMUL, NULL, 0, t, 2, x, w); /* 0 */
    cgu_instr(p, TGC_OP_RELU, NULL, 0, y, 1, t);
    cgu_instr(p, TGC_OP_ADD, NULL, 1, t, 2, x, h); /* 2: an f16 operand of an f32 add */
    cgu_instr(p, TGC_OP_RELU, NULL, 1, y, 1, t);
    cgu_instr(p, TGC_OP_BIAS_ADD, &ax, 2, t, 2, x, b5); /* 4: bias of 5 on 8 channels */
    cgu_instr(p, TGC_OP_RELU, NULL, 2, y, 1, t);
    cgu_instr(p, TGC_OP_BIAS_ADD, &ax, 3, t, 2, x, b); /* 6: result over the bias */
    cgu_instr(p, TGC_OP_RELU, NULL, 3, yb, 1, t);
    cgu_instr(p, TGC_OP_RELU, NULL, 4, t, 1, x); /* 8: a result partly over an operand */
    cgu_instr(p, TGC_OP_RELU, NULL, 4, yp, 1, t);
    cgu_output(p, yp); /* stored: a result nobody reads is not, and then its memory does not matter */
    cgu_instr(p, TGC_OP_RELU, NULL, 5, t, 1, x); /* 10: another element count */
    cgu_instr(p, TGC_OP_RELU, NULL, 5, big, 1, t);
    kernel_fails(p, 0, 2, "instruction 0 (matmul) of fusion group 0: not an elementwise op");
    kernel_fails(p, 2, 2, "instruction 2 (add) of fusion group 1: an operand of another dtype than the result: f16");
    kernel_fails(p, 4, 2, "instruction 4 (bias_add) of fusion group 2: a bias that does not match its axis");
    kernel_fails(p, 6, 2, "fusion group 3: broadcast operand 'b' overlaps result 'yb'");
    kernel_fails(p, 8, 2, "fusion group 4: 'x' and 'yp' overlap other than element for element");
    kernel_fails(p, 10, 2, "instruction 11 (relu) of fusion group 5: its result's element count differs");
    kernel_fails(p, 11, 2, "are not a group of the program");
    tgc_plan_free(p);
}
END_TEST

/* Every op ops.def marks elementwise has an expression: a new one fails here until codegen.c has it. */
START_TEST(every_elementwise_op) {
    int n = 0;
    for (int c = 0; c < TGC_OP_COUNT; c++)
        if (tgc_op_table[c].flags & TGC_OPF_ELEMENTWISE) {
            ck_assert_msg(tgc_codegen_supports_op((tgc_opcode)c), "%s is elementwise but backend/cuda/codegen.c has no "
                          "expression for it", tgc_op_table[c].name);
            n++;
        } else {
            ck_assert_msg(!tgc_codegen_supports_op((tgc_opcode)c), "%s", tgc_op_table[c].name);
        }
    ck_assert_int_ge(n, 8);
}
END_TEST

/* The groups of a compiled plan: the MLP's bias_add + relu in both programs; its optimizer group is not one. */
START_TEST(groups_of_a_plan) {
    tgc_module m;
    fixture_mlp_module(&m, 1, 25);
    tgc_err err;
    const char *yaml = "model:\n  type: ImageClassifier\n";
    tgc_cfg *cfg = tgc_cfg_parse(yaml, strlen(yaml), "x.yaml", &err);
    tgc_plan *q = tgc_plan_from_module(&m, cfg, &err);
    ck_assert_msg(q, "%s", err.msg);
    int optimizer_groups = 0;
    for (int pi = 0; pi < q->n_programs; pi++) {
        const tgc_program *pr = &q->programs[pi];
        for (int i = 0; i < pr->n_instr; i++)
            optimizer_groups += pr->instr[i].group >= 0 && (tgc_op_table[pr->instr[i].code].flags & TGC_OPF_OPTIMIZER);
        tgc_codegen_group *g;
        int ng = tgc_codegen_groups(pr, &g);
        ck_assert_int_eq(ng, 1);
        ck_assert_int_eq(g[0].count, 2);
        ck_assert_int_eq(pr->instr[g[0].first].code, TGC_OP_BIAS_ADD);
        ck_assert_int_eq(pr->instr[g[0].first + 1].code, TGC_OP_RELU);
        tgc_codegen_kernel k;
        ck_assert_msg(tgc_codegen_group_kernel(q, pr, g[0].first, g[0].count, &k, &err) == 0, "%s", err.msg);
        CHECK_LINES(k.source, "const unsigned int c0 = i % 16u;\n", "const float v0 = x0 + in1[c0];\n",
                    "const float v1 = v0 > 0.f ? v0 : 0.f;\n", "out0[i] = v1;\n");
        tgc_codegen_kernel_free(&k);
        free(g);
    }
    ck_assert_int_gt(optimizer_groups, 1);
    tgc_plan_free(q);
    tgc_cfg_free(cfg);
    tgc_module_free(&m);
}
END_TEST

/* The host translation unit: the header, each text, a wrapper per kernel with its arguments in order. */
START_TEST(host_unit) {
    tgc_plan *p = small_group();
    tgc_codegen_kernel k;
    kernel_ok(p, 0, 3, &k);
    const tgc_codegen_kernel *ks[1] = {&k};
    tgc_buf b = {0};
    tgc_codegen_host_unit(ks, 1, &b);
    tgc_buf_u8(&b, 0);
    char wrapper[160];
    snprintf(wrapper, sizeof wrapper, "void %s_host(long long n, void *const *args) {\n    %s(n, args[0], args[1], args[2]);",
             k.name, k.name);
    CHECK_LINES((const char *)b.data, "#include \"backend/cuda/codegen_host.h\"\n", k.source, wrapper);
    tgc_buf_free(&b);
    tgc_codegen_kernel_free(&k);
    tgc_plan_free(p);
}
END_TEST

int main(void) {
    Suite *s = suite_create("codegen_text");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, small_group_text);
    tcase_add_test(tc, hash_follows_text);
    tcase_add_test(tc, live_outs);
    tcase_add_test(tc, bias_index_forms);
    tcase_add_test(tc, index64);
    tcase_add_test(tc, casts);
    tcase_add_test(tc, float_literals);
    tcase_add_test(tc, refusals);
    tcase_add_test(tc, every_elementwise_op);
    tcase_add_test(tc, groups_of_a_plan);
    tcase_add_test(tc, host_unit);
    suite_add_tcase(s, tc);
    return fixture_run(s);
}
