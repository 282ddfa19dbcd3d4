/* tests/unit/test_backend_cuda_kernels.c - the hand-written CUDA kernels (the .cuh files of backend/cuda/kernels),
 * run on the host through kshim.h, against the CPU kernel of the same op (tgc_cpu_exec) on the same random data.
 * No GPU and no CUDA toolkit needed: the .cuh files are compiled here as C17 (with -ffp-contract=off, as the
 * shim requires).
 *
 * What is expected, and asserted:
 *   global_avg_pool(_bwd), bias_grad, max_pool2d_bwd on bf16/f16 data (mixed precision): the backwards bit for
 *     bit, the mean within one step of the format, bias_grad's f32 sum 1e-6;
 *   optimizer updates (sgd, sgd_momentum, adamw, adam, rmsprop, ema_update; 3 steps, groups of many tensors
 *     packed into several launches, aligned (float4) and misaligned (scalar) layouts): bit for bit,
 *     parameters and state;
 *   cast f32<->bf16/f16, fill, global_avg_pool_bwd, channel_mul, max_pool2d_bwd (ties, NaN, overlap,
 *     padding, ceil_mode), float16 loss scaling's finite check and unscale (a planted inf, -inf or NaN
 *     anywhere, or none): bit for bit;
 *   reductions summed in another order (softmax CE loss and its dx, on labels and on soft targets,
 *     global_avg_pool, channel_mul_grad_gate, bias_grad; double
 *     accumulators rounded once to float): relative error <= 1e-6 (the loss relative to itself, tensors
 *     relative to their largest element), which is about 1 ulp.
 * Each test prints the worst error it measured ("cuda-kernels: ..."). The first tests check the shim
 * itself: barriers, shuffles, shared memory, and that divergent barriers and bad masks are caught. */
#include "backend/cuda/kernels/amp.cuh"
#include "backend/cuda/kernels/convert.cuh"
#include "backend/cuda/kernels/gradnorm.cuh"
#include "backend/cuda/kernels/loss.cuh"
#include "backend/cuda/kernels/optim.cuh"
#include "backend/cuda/kernels/pool.cuh"
#include "backend/cuda/kernels/reduce.cuh"

#include <signal.h>

#include "tests/unit/test_backend_cpu_util.h"

_Static_assert((int)TGC_K_DT_F32 == (int)TGC_F32 && (int)TGC_K_DT_F16 == (int)TGC_F16 &&
                   (int)TGC_K_DT_BF16 == (int)TGC_BF16 && (int)TGC_K_DT_I32 == (int)TGC_I32 &&
                   (int)TGC_K_DT_I64 == (int)TGC_I64 && (int)TGC_K_DT_U8 == (int)TGC_U8,
               "the kernels' dtype codes follow tgc_dtype");

static tgc_cpu *cpu;

static void setup(void) {
    tgc_err err;
    cpu = tgc_cpu_new(1, 1, &err);
    ck_assert_msg(cpu, "%s", err.msg);
    tu_seed(20240611);
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

/* Distance in units in the last place (0 for two NaNs, and for +0 and -0). */
static int64_t ulps(float a, float b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b) ? 0 : INT64_MAX;
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    int64_t oa = ia >= 0 ? ia : -(int64_t)(ia & 0x7fffffff), ob = ib >= 0 ? ib : -(int64_t)(ib & 0x7fffffff);
    return oa > ob ? oa - ob : ob - oa;
}

static void same_bytes(const void *got, const void *want, size_t elem, int64_t n, const char *what) {
    for (int64_t i = 0; i < n; i++)
        if (memcmp((const char *)got + i * elem, (const char *)want + i * elem, elem)) {
            uint64_t g = 0, w = 0;
            memcpy(&g, (const char *)got + i * elem, elem);
            memcpy(&w, (const char *)want + i * elem, elem);
            ck_abort_msg("%s: element %lld is 0x%llx, the CPU's 0x%llx", what, (long long)i, (unsigned long long)g,
                         (unsigned long long)w);
        }
}

/* Relative error of got against want: |got - want| / scale; NaN and infinities must match exactly. */
static double rel_err(float got, double want, double scale, const char *what, int64_t i) {
    if (isnan(want) || isinf(want)) {
        ck_assert_msg((isnan(want) && isnan(got)) || (double)got == want, "%s: element %lld is %g, the CPU's %g", what,
                      (long long)i, (double)got, want);
        return 0;
    }
    ck_assert_msg(isfinite(got), "%s: element %lld is %g, the CPU's %g", what, (long long)i, (double)got, want);
    return fabs((double)got - want) / scale;
}

/* ---- the shim itself ------------------------------------------------------------------------------------ */

typedef struct shim_args {
    float *out;
    int *iout;
} shim_args;

TGC_KERNEL(test_k_shuffles, shim_args, a, 256) {
    const unsigned tid = tgc_k_tid();
    const int v = (int)tid;
    a.iout[tid * 4 + 0] = __shfl_xor_sync(TGC_K_FULL_MASK, v, 5);
    a.iout[tid * 4 + 1] = __shfl_down_sync(TGC_K_FULL_MASK, v, 3);
    a.iout[tid * 4 + 2] = __shfl_up_sync(TGC_K_FULL_MASK, v, 2);
    a.iout[tid * 4 + 3] = __shfl_sync(TGC_K_FULL_MASK, v, 7);
}

TGC_KERNEL(test_k_barrier, shim_args, a, 256) {
    TGC_SHARED(float, sh, 256);
    TGC_SHARED(double, red, 32);
    const unsigned tid = tgc_k_tid(), n = blockDim.x * blockDim.y;
    float *out = a.out + (size_t)blockIdx.x * n * 3;
    out[tid] = sh[tid]; /* before any write: the shim's poison */
    sh[tid] = (float)(blockIdx.x * 1000 + tid);
    __syncthreads();
    out[n + tid] = sh[(tid + 1) % n]; /* another thread's write, visible after the barrier */
    out[2 * n + tid] = (float)tgc_k_block_sum((double)tid, red);
}

TGC_KERNEL(test_k_divergent_barrier, shim_args, a, 256) {
    if (threadIdx.x < 32) __syncthreads();
    a.out[threadIdx.x] = 1.f;
}

TGC_KERNEL(test_k_bad_mask, shim_args, a, 256) { a.iout[threadIdx.x] = __shfl_xor_sync(TGC_K_FULL_MASK, 1, 1); }

START_TEST(shim_shuffles) {
    int *out = calloc(256 * 4, sizeof(int));
    shim_args a = {NULL, out};
    tgc_k_geom g = {2, 1, 1, 128, 2, 1}; /* 2-D blocks: lanes follow the linear thread index */
    TGC_SHIM_LAUNCH(test_k_shuffles, g, a);
    for (int t = 0; t < 256; t++) {
        int lane = t & 31, base = t & ~31;
        ck_assert_int_eq(out[t * 4 + 0], base | (lane ^ 5));
        ck_assert_int_eq(out[t * 4 + 1], lane + 3 < 32 ? t + 3 : t);
        ck_assert_int_eq(out[t * 4 + 2], lane >= 2 ? t - 2 : t);
        ck_assert_int_eq(out[t * 4 + 3], base + 7);
    }
    free(out);
}
END_TEST

START_TEST(shim_barrier_shared_block_sum) {
    const unsigned n = 128, blocks = 3;
    float *out = calloc(blocks * n * 3, sizeof(float));
    shim_args a = {out, NULL};
    tgc_k_geom g = {blocks, 1, 1, 64, 2, 1};
    TGC_SHIM_LAUNCH(test_k_barrier, g, a);
    for (unsigned b = 0; b < blocks; b++)
        for (unsigned t = 0; t < n; t++) {
            const float *o = out + b * n * 3;
            ck_assert_msg(isnan(o[t]), "shared memory is not poisoned at block start");
            ck_assert_float_eq(o[n + t], (float)(b * 1000 + (t + 1) % n));
            ck_assert_float_eq(o[2 * n + t], (float)(n * (n - 1) / 2));
        }
    free(out);
}
END_TEST

START_TEST(shim_catches_divergent_barrier) {
    float out[64];
    shim_args a = {out, NULL};
    tgc_k_geom g = {1, 1, 1, 64, 1, 1};
    TGC_SHIM_LAUNCH(test_k_divergent_barrier, g, a); /* aborts */
}
END_TEST

START_TEST(shim_catches_bad_mask) {
    int out[48];
    shim_args a = {NULL, out};
    tgc_k_geom g = {1, 1, 1, 48, 1, 1}; /* the second warp has 16 lanes: a full mask is wrong there */
    TGC_SHIM_LAUNCH(test_k_bad_mask, g, a); /* aborts */
}
END_TEST

START_TEST(shim_catches_launch_bounds) {
    float out[512];
    shim_args a = {out, NULL};
    tgc_k_geom g = {1, 1, 1, 512, 1, 1};
    TGC_SHIM_LAUNCH(test_k_barrier, g, a); /* 512 threads, launch bounds 256: aborts */
}
END_TEST

/* ---- multi-tensor packing ------------------------------------------------------------------------------- */

START_TEST(mt_pack_covers_every_chunk_once) {
    enum { N = 90 };
    const uintptr_t base = 0x100000; /* addresses only, never dereferenced */
    tgc_mt_tensor t[N];
    int64_t seen[N] = {0}, chunks[N];
    const int32_t chunk = 64;
    for (int j = 0; j < N; j++) {
        t[j].numel = j % 7 == 3 ? 0 : (int64_t)(tu_next() % 3000);
        if (j == 50) t[j].numel = 64 * 700 + 5; /* 701 chunks: more than two launches' worth of blocks */
        for (int d = 0; d < TGC_MT_MAX_DEPTH; d++) t[j].ptr[d] = (float *)(base + 4096 * (uintptr_t)j + 16 * (uintptr_t)d);
        chunks[j] = (t[j].numel + chunk - 1) / chunk;
    }
    tgc_mt_list *l = malloc(sizeof *l);
    tgc_mt_cursor cur = {0, 0};
    int launches = 0, nb;
    while ((nb = tgc_mt_pack(l, 3, chunk, t, N, &cur)) > 0) {
        launches++;
        ck_assert_int_le(l->n_tensors, TGC_MT_MAX_TENSORS);
        ck_assert_int_le(l->n_blocks, TGC_MT_MAX_BLOCKS);
        for (int b = 0; b < nb; b++) {
            int s = l->block_tensor[b];
            ck_assert_int_lt(s, l->n_tensors);
            int j = (int)(((uintptr_t)l->ptr[0][s] - base) / 4096);
            ck_assert_ptr_eq(l->ptr[2][s], t[j].ptr[2]);
            ck_assert_int_eq(l->numel[s], t[j].numel);
            ck_assert_int_eq(l->block_chunk[b], seen[j]); /* chunks in order, each once */
            seen[j]++;
        }
    }
    ck_assert_int_eq(nb, 0);
    for (int j = 0; j < N; j++) ck_assert_int_eq(seen[j], chunks[j]);
    ck_assert_int_ge(launches, 4);
    ck_assert_int_eq(tgc_mt_pack(l, 3, chunk, t, N, &cur), 0); /* stays done */
    tgc_mt_cursor c0 = {0, 0};
    ck_assert_int_eq(tgc_mt_pack(l, 5, chunk, t, N, &c0), -1);
    ck_assert_int_eq(tgc_mt_pack(l, 2, 66, t, N, &c0), -1);
    free(l);
    report("multi-tensor packing", "%d tensors (%d empty), chunk %d: %d launches", N, (N + 3) / 7, chunk, launches);
}
END_TEST

/* ---- optimizer groups ----------------------------------------------------------------------------------- */

typedef struct opt_cfg {
    int kind;
    double alpha, wd, momentum, dampening, beta1, beta2, eps;
    int nesterov;
    const char *name;
} opt_cfg;

static int shim_opt_launch(const tgc_k_opt_args *a, void *ctx) {
    int *c = ctx; /* kind, launch count */
    tgc_k_geom g = tgc_k_geom_mt(&a->l);
    if (c[0] == TGC_K_OPT_SGD) TGC_SHIM_LAUNCH(tgc_k_sgd, g, *a);
    else if (c[0] == TGC_K_OPT_SGD_MOMENTUM) TGC_SHIM_LAUNCH(tgc_k_sgd_momentum, g, *a);
    else if (c[0] == TGC_K_OPT_ADAMW) TGC_SHIM_LAUNCH(tgc_k_adamw, g, *a);
    else if (c[0] == TGC_K_OPT_ADAM) TGC_SHIM_LAUNCH(tgc_k_adam, g, *a);
    else if (c[0] == TGC_K_OPT_RMSPROP) TGC_SHIM_LAUNCH(tgc_k_rmsprop, g, *a);
    else TGC_SHIM_LAUNCH(tgc_k_ema, g, *a);
    c[1]++;
    return 0;
}

static tgc_opcode opt_opcode(int kind) {
    return kind == TGC_K_OPT_SGD            ? TGC_OP_SGD_UPDATE
           : kind == TGC_K_OPT_SGD_MOMENTUM ? TGC_OP_SGD_MOMENTUM_UPDATE
           : kind == TGC_K_OPT_ADAMW        ? TGC_OP_ADAMW_UPDATE
           : kind == TGC_K_OPT_ADAM         ? TGC_OP_ADAM_UPDATE
           : kind == TGC_K_OPT_RMSPROP      ? TGC_OP_RMSPROP_UPDATE
                                            : TGC_OP_EMA_UPDATE;
}

/* A group of n tensors laid out in slabs (one per operand) in slots aligned to `align` floats, starting
 * `skew` floats into the slab (skew 1: no float4 path); padding holds a sentinel. `whole`: the group is
 * described as one tensor over the whole range, padding included (as the CPU's fused group runs it).
 * Runs 3 steps on the shim and, tensor by tensor (or over the range), on the CPU, and compares every slab
 * bit for bit. Returns the shim's launch count. */
static int opt_group(const opt_cfg *cf, const int64_t *sizes, int n, int64_t align, int64_t skew, int whole,
                     int32_t chunk) {
    const int depth = tgc_k_opt_depth(cf->kind), sq = cf->kind == TGC_K_OPT_RMSPROP ? 2 : 3;
    int64_t *off = malloc(sizeof(int64_t) * (size_t)n), total = skew;
    for (int j = 0; j < n; j++) {
        off[j] = total;
        total += (sizes[j] + align - 1) / align * align;
    }
    float *gpu[TGC_MT_MAX_DEPTH], *ref[TGC_MT_MAX_DEPTH];
    for (int d = 0; d < depth; d++) {
        gpu[d] = malloc(sizeof(float) * (size_t)total);
        for (int64_t i = 0; i < total; i++) gpu[d][i] = 12345.f; /* padding sentinel */
        for (int j = 0; j < n; j++)
            for (int64_t i = 0; i < sizes[j]; i++)
                gpu[d][off[j] + i] = d == 0 ? (float)tu_unif(-2, 2)
                                     : d == sq ? (float)tu_unif(0, 0.01) /* exp_avg_sq, square_avg: >= 0 */
                                                 : (float)tu_unif(-0.1, 0.1);
        ref[d] = tu_copy(gpu[d], total);
    }
    tgc_mt_tensor *t = calloc((size_t)n, sizeof *t);
    for (int j = 0; j < n; j++) {
        t[j].numel = sizes[j];
        for (int d = 0; d < depth; d++) t[j].ptr[d] = gpu[d] + off[j];
    }
    tgc_mt_tensor all = {{NULL}, n ? off[n - 1] + sizes[n - 1] - skew : 0}; /* first start to last end */
    for (int d = 0; d < depth; d++) all.ptr[d] = gpu[d] + skew;

    tgc_attrs at = tgc_attrs_default();
    at.alpha = cf->alpha, at.weight_decay = cf->wd, at.momentum = cf->momentum, at.dampening = cf->dampening;
    at.beta1 = cf->beta1, at.beta2 = cf->beta2, at.eps = cf->eps, at.nesterov = cf->nesterov;
    tgc_k_opt_args *a = calloc(1, sizeof *a);
    a->alpha = cf->alpha, a->weight_decay = cf->wd, a->momentum = cf->momentum, a->dampening = cf->dampening;
    a->beta1 = cf->beta1, a->beta2 = cf->beta2, a->eps = cf->eps, a->nesterov = cf->nesterov;
    int ctx[2] = {cf->kind, 0};
    const float lrs[3] = {0.1f, 0.0375f, 0.0123f};
    for (int s = 0; s < 3; s++) {
        float lr = lrs[s], step = (float)(s + 1);
        for (int j = 0; j < n; j++) /* fresh gradients, the same for both */
            for (int64_t i = 0; i < sizes[j]; i++) gpu[1][off[j] + i] = ref[1][off[j] + i] = (float)tu_unif(-1, 1);
        a->lr = &lr, a->step = &step;
        ck_assert_int_eq(tgc_mt_apply(a, depth, chunk, whole ? &all : t, whole ? 1 : n, shim_opt_launch, ctx), 0);
        for (int j = 0; j < (whole ? 1 : n); j++) {
            int64_t o = whole ? skew : off[j], m = whole ? all.numel : sizes[j];
            if (!m) continue;
            tgc_type ty[6], ft = tu_f1(m), st = tu_f0();
            void *ptr[6];
            for (int d = 0; d < depth; d++) ty[d] = ft, ptr[d] = ref[d] + o;
            ty[depth] = st, ptr[depth] = &lr;
            ty[depth + 1] = st, ptr[depth + 1] = &step;
            tu_exec(cpu, opt_opcode(cf->kind), &at, depth + tgc_k_opt_scalars(cf->kind), ty, ptr, 0, NULL, NULL);
        }
        for (int d = 0; d < depth; d++) {
            char what[160];
            snprintf(what, sizeof what, "%s, step %d, operand %d", cf->name, s + 1, d);
            same_bytes(gpu[d], ref[d], sizeof(float), total, what);
        }
    }
    for (int d = 0; d < depth; d++) free(gpu[d]), free(ref[d]);
    free(t), free(off), free(a);
    return ctx[1];
}

static const opt_cfg OPT_CFGS[] = {
    {TGC_K_OPT_SGD, 1.0, 0.0, 0, 0, 0, 0, 0, 0, "sgd"},
    {TGC_K_OPT_SGD, 2.0, 1e-4, 0, 0, 0, 0, 0, 0, "sgd, lr_mult 2, weight decay"},
    {TGC_K_OPT_SGD_MOMENTUM, 1.0, 0.0, 0.9, 0, 0, 0, 0, 0, "sgd momentum"},
    {TGC_K_OPT_SGD_MOMENTUM, 0.5, 5e-4, 0.9, 0.1, 0, 0, 0, 0, "sgd momentum, dampening, weight decay"},
    {TGC_K_OPT_SGD_MOMENTUM, 1.0, 1e-4, 0.9, 0, 0, 0, 0, 1, "sgd nesterov, weight decay"},
    {TGC_K_OPT_SGD_MOMENTUM, 1.0, 1e-2, 0.0, 0.3, 0, 0, 0, 0, "sgd_momentum_update, momentum 0"},
    {TGC_K_OPT_ADAMW, 1.0, 0.05, 0, 0, 0.9, 0.999, 1e-8, 0, "adamw"},
    {TGC_K_OPT_ADAMW, 0.5, 0.0, 0, 0, 0.8, 0.95, 1e-6, 0, "adamw, lr_mult 0.5, betas (0.8, 0.95)"},
    {TGC_K_OPT_ADAM, 1.0, 0.0, 0, 0, 0.9, 0.999, 1e-8, 0, "adam"},
    {TGC_K_OPT_ADAM, 0.5, 1e-4, 0, 0, 0.8, 0.95, 1e-6, 0, "adam, lr_mult 0.5, L2 weight decay"},
    {TGC_K_OPT_RMSPROP, 1.0, 0.0, 0, 0, 0, 0.99, 1e-8, 0, "rmsprop"},
    {TGC_K_OPT_RMSPROP, 2.0, 1e-4, 0.9, 0, 0, 0.9, 1e-6, 0, "rmsprop, momentum, weight decay"},
    {TGC_K_OPT_EMA, 1.0, 0.0, 0.0002, 0, 0, 0, 0, 0, "ema_update"},
    {TGC_K_OPT_EMA, 1.0, 0.0, 0.5, 0, 0, 0, 0, 0, "ema_update, momentum 0.5"},
};

START_TEST(optimizer_groups_equal_cpu_bitwise) {
    const opt_cfg *cf = &OPT_CFGS[_i];
    /* 40 tensors: the sizes of a small net (a 1-element one, odd tails, several chunks) */
    int64_t sizes[40];
    for (int j = 0; j < 40; j++) sizes[j] = (int64_t)(tu_next() % 2500);
    sizes[0] = 1, sizes[1] = 3, sizes[2] = 0, sizes[3] = 4, sizes[4] = 5, sizes[5] = 4097, sizes[6] = 20000;
    int l1 = opt_group(cf, sizes, 40, 64, 0, 0, 512);  /* aligned slots: float4 path; 2 launches (36 tensors) */
    int l2 = opt_group(cf, sizes, 40, 1, 1, 0, 256);   /* packed and skewed: the scalar path */
    int l3 = opt_group(cf, sizes, 40, 64, 0, 1, 1024); /* the group as one range, padding included */
    int l4 = 0;
    if (_i == 0 || OPT_CFGS[_i - 1].kind != cf->kind) { /* once per kernel (82k fibers a step) */
        int64_t big[1] = {TGC_MT_MAX_BLOCKS * 64 + 7};  /* one tensor over more than one launch's blocks */
        l4 = opt_group(cf, big, 1, 64, 0, 0, 64);
        ck_assert_int_ge(l4, 2);
    }
    ck_assert_int_ge(l1, 2);
    report(cf->name, "bitwise equal to the CPU over 3 steps (0 ulp); launches %d/%d/%d/%d", l1, l2, l3, l4);
}
END_TEST

/* ---- softmax cross-entropy ------------------------------------------------------------------------------ */

/* Loss and dx of one case on both; returns the worst relative errors through fw/bw and the worst ulps. */
static void ce_case(int64_t n, int64_t c, double smooth, double alpha, const float *x, const int32_t *y, float dloss,
                    unsigned max_blocks, double *fw, double *bw, int64_t *bw_ulps, double *row_rel) {
    tgc_attrs at = tgc_attrs_default();
    at.label_smooth = smooth, at.alpha = alpha;
    tgc_type xt = tu_f2(n, c), yt = tu_t(TGC_I32, tgc_shape1(n)), lt = tu_f0();
    float loss_cpu = 0, loss_gpu = -1;
    float *dx_cpu = tu_zeros(n * c), *dx_gpu = tu_zeros(n * c);
    {
        tgc_type in[2] = {xt, yt};
        void *ip[2] = {(void *)x, (void *)y}, *op[1] = {&loss_cpu};
        tu_exec(cpu, TGC_OP_SOFTMAX_CE, &at, 2, in, ip, 1, &lt, op);
        tgc_type bin[3] = {lt, xt, yt};
        void *bp[3] = {&dloss, (void *)x, (void *)y}, *bo[1] = {dx_cpu};
        tu_exec(cpu, TGC_OP_SOFTMAX_CE_BWD, &at, 3, bin, bp, 1, &xt, bo);
    }
    double *ws = malloc(sizeof(double) * (size_t)n);
    tgc_k_ce_args a = {x, y, ws, &loss_gpu, &dloss, dx_gpu, n, c, smooth, alpha, NULL};
    TGC_SHIM_LAUNCH(tgc_k_softmax_ce_rows, tgc_k_geom_warp_rows(n, max_blocks), a);
    TGC_SHIM_LAUNCH(tgc_k_softmax_ce_mean, tgc_k_geom_one_block(), a);
    TGC_SHIM_LAUNCH(tgc_k_softmax_ce_bwd, tgc_k_geom_warp_rows(n, max_blocks), a);
    /* the per-row losses before rounding, against cpu_loss.c's sequential sums (replayed here in double) */
    for (int64_t r = 0; r < n; r++) {
        const float *xr = x + r * c;
        double m = -INFINITY, sum = 0, se = 0, lse;
        for (int64_t j = 0; j < c; j++) m = xr[j] > m ? xr[j] : m;
        for (int64_t j = 0; j < c; j++) se += exp((double)xr[j] - m), sum += xr[j];
        lse = isinf(m) ? m : m + log(se);
        double want = lse - (1.0 - smooth) * xr[y[r]] - smooth / (double)c * sum;
        if (isfinite(want)) *row_rel = fmax(*row_rel, fabs(ws[r] - want) / fmax(fabs(want), 1e-300));
    }
    double e = rel_err(loss_gpu, loss_cpu, fmax(fabs((double)loss_cpu), 1e-30), "softmax_ce loss", 0);
    ck_assert_msg(e <= 1e-6, "softmax_ce [%lld,%lld] smooth %g: loss %.9g, the CPU's %.9g (rel %.3g)", (long long)n,
                  (long long)c, smooth, (double)loss_gpu, (double)loss_cpu, e);
    *fw = fmax(*fw, e);
    double scale = 1e-30;
    for (int64_t i = 0; i < n * c; i++)
        if (isfinite(dx_cpu[i])) scale = fmax(scale, fabs((double)dx_cpu[i]));
    for (int64_t i = 0; i < n * c; i++) {
        double d = rel_err(dx_gpu[i], dx_cpu[i], scale, "softmax_ce_bwd dx", i);
        ck_assert_msg(d <= 1e-6, "softmax_ce_bwd [%lld,%lld] smooth %g: dx[%lld] %.9g, the CPU's %.9g", (long long)n,
                      (long long)c, smooth, (long long)i, (double)dx_gpu[i], (double)dx_cpu[i]);
        *bw = fmax(*bw, d);
        int64_t u = ulps(dx_gpu[i], dx_cpu[i]);
        if (u > *bw_ulps) *bw_ulps = u;
    }
    free(ws), free(dx_cpu), free(dx_gpu);
}

START_TEST(softmax_ce_close_to_cpu) {
    static const int64_t shapes[][2] = {{1, 1}, {3, 10}, {64, 10}, {37, 1000}, {5, 100}, {130, 33}};
    static const double smooths[] = {0.0, 0.1, 1.0}, alphas[] = {1.0, 0.5};
    double fw = 0, bw = 0, row_rel = 0;
    int64_t bw_ulps = 0;
    int cases = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int64_t n = shapes[s][0], c = shapes[s][1];
        float *x = tu_rand(n * c, -6, 6);
        int32_t *y = malloc(sizeof(int32_t) * (size_t)n);
        for (int64_t r = 0; r < n; r++) {
            y[r] = (int32_t)(tu_next() % (uint64_t)c);
            if (r % 3 == 1)
                for (int64_t j = 0; j < c; j++) x[r * c + j] += 80.f; /* needs the max shift */
        }
        for (size_t k = 0; k < 3; k++)
            for (size_t q = 0; q < 2; q++, cases++)
                ce_case(n, c, smooths[k], alphas[q], x, y, (float)tu_unif(0.2, 2), (unsigned)(1 + cases % 3), &fw, &bw,
                        &bw_ulps, &row_rel);
        free(x), free(y);
    }
    report("softmax_cross_entropy (+bwd)",
           "%d cases: loss rel err <= %.3g, dx rel err <= %.3g (%lld ulp); row losses in double <= %.3g", cases, fw, bw,
           (long long)bw_ulps, row_rel);
}
END_TEST

/* Rows with -inf, NaN, +inf and all -inf: the same non-finite results as the CPU, row by row. */
START_TEST(softmax_ce_non_finite_rows) {
    const float inf = INFINITY;
    const float rows[4][5] = {{1, -inf, 2, 0.5f, -1}, {1, NAN, 2, 0.5f, -1}, {1, inf, 2, 0.5f, -1}, {-inf, -inf, -inf, -inf, -inf}};
    double fw = 0, bw = 0, rr = 0;
    int64_t u = 0;
    for (int r = 0; r < 4; r++)
        for (int smooth = 0; smooth < 2; smooth++) {
            int32_t y = 2;
            ce_case(1, 5, smooth ? 0.1 : 0.0, 1.0, rows[r], &y, 1.f, 0, &fw, &bw, &u, &rr);
        }
    report("softmax_cross_entropy non-finite rows", "NaN/inf exactly where the CPU has them");
}
END_TEST

/* A label outside [0, C): the CPU refuses it; the kernels make the row NaN and read nothing outside it. */
START_TEST(softmax_ce_bad_label_is_nan) {
    float x[2 * 4] = {1, 2, 3, 4, 4, 3, 2, 1}, loss = 0, dloss = 1, dx[8];
    int32_t y[2] = {1, 4};
    double ws[2];
    tgc_k_ce_args a = {x, y, ws, &loss, &dloss, dx, 2, 4, 0.1, 1.0, NULL};
    TGC_SHIM_LAUNCH(tgc_k_softmax_ce_rows, tgc_k_geom_warp_rows(2, 0), a);
    TGC_SHIM_LAUNCH(tgc_k_softmax_ce_mean, tgc_k_geom_one_block(), a);
    TGC_SHIM_LAUNCH(tgc_k_softmax_ce_bwd, tgc_k_geom_warp_rows(2, 0), a);
    ck_assert(isfinite(ws[0]) && isnan(ws[1]) && isnan(loss));
    for (int j = 0; j < 4; j++) ck_assert(isfinite(dx[j]) && isnan(dx[4 + j]));
}
END_TEST

/* ---- global average pooling ----------------------------------------------------------------------------- */

START_TEST(global_avg_pool_close_to_cpu) {
    static const int64_t shapes[][4] = {{2, 3, 7, 7}, {4, 5, 1, 1}, {3, 2, 33, 17}, {1, 1, 64, 64}, {8, 64, 4, 4}};
    double worst = 0;
    int64_t worst_ulps = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int64_t *d = shapes[s], planes = d[0] * d[1], inner = d[2] * d[3];
        tgc_type xt = tu_f4(d[0], d[1], d[2], d[3]), yt = tu_f2(d[0], d[1]);
        float *x = tu_rand(planes * inner, -3, 5), *y_cpu = tu_zeros(planes), *y_gpu = tu_zeros(planes);
        tgc_attrs at = tgc_attrs_default();
        void *ip[1] = {x}, *op[1] = {y_cpu};
        tu_exec(cpu, TGC_OP_GLOBAL_AVG_POOL, &at, 1, &xt, ip, 1, &yt, op);
        tgc_k_gap_args a = {x, y_gpu, planes, inner, TGC_K_DT_F32, 0};
        TGC_SHIM_LAUNCH(tgc_k_global_avg_pool, tgc_k_geom_warp_rows(planes, (unsigned)(1 + s % 2)), a);
        double scale = 1e-30;
        for (int64_t p = 0; p < planes; p++) scale = fmax(scale, fabs((double)y_cpu[p]));
        for (int64_t p = 0; p < planes; p++) {
            double e = rel_err(y_gpu[p], y_cpu[p], scale, "global_avg_pool", p);
            ck_assert_msg(e <= 1e-6 && ulps(y_gpu[p], y_cpu[p]) <= 1, "global_avg_pool: plane %lld: %.9g, the CPU's %.9g",
                          (long long)p, (double)y_gpu[p], (double)y_cpu[p]);
            worst = fmax(worst, e);
            if (ulps(y_gpu[p], y_cpu[p]) > worst_ulps) worst_ulps = ulps(y_gpu[p], y_cpu[p]);
        }
        /* backward: elementwise, bit for bit */
        float *dx_cpu = tu_zeros(planes * inner), *dx_gpu = tu_zeros(planes * inner);
        at.shape = xt.shape;
        void *bi[1] = {y_cpu}, *bo[1] = {dx_cpu};
        tu_exec(cpu, TGC_OP_GLOBAL_AVG_POOL_BWD, &at, 1, &yt, bi, 1, &xt, bo);
        tgc_k_gap_args b = {y_cpu, dx_gpu, planes, inner, TGC_K_DT_F32, 0};
        TGC_SHIM_LAUNCH(tgc_k_global_avg_pool_bwd, tgc_k_geom_elems(planes * inner, 3), b);
        same_bytes(dx_gpu, dx_cpu, sizeof(float), planes * inner, "global_avg_pool_bwd");
        free(x), free(y_cpu), free(y_gpu), free(dx_cpu), free(dx_gpu);
    }
    report("global_avg_pool (+bwd)", "rel err <= %.3g (%lld ulp); backward bitwise", worst, (long long)worst_ulps);
}
END_TEST

/* ---- softmax cross-entropy on soft targets --------------------------------------------------------------- */

/* Loss and dx of one soft-target case on both; the worst relative errors through fw/bw and the worst ulps. */
static void ce_soft_case(int64_t n, int64_t c, double smooth, double alpha, const float *x, const float *t, float dloss,
                         unsigned max_blocks, double *fw, double *bw, int64_t *bw_ulps) {
    tgc_attrs at = tgc_attrs_default();
    at.label_smooth = smooth, at.alpha = alpha;
    tgc_type xt = tu_f2(n, c), lt = tu_f0();
    float loss_cpu = 0, loss_gpu = -1;
    float *dx_cpu = tu_zeros(n * c), *dx_gpu = tu_zeros(n * c);
    {
        tgc_type in[2] = {xt, xt};
        void *ip[2] = {(void *)x, (void *)t}, *op[1] = {&loss_cpu};
        tu_exec(cpu, TGC_OP_SOFTMAX_CE_SOFT, &at, 2, in, ip, 1, &lt, op);
        tgc_type bin[3] = {lt, xt, xt};
        void *bp[3] = {&dloss, (void *)x, (void *)t}, *bo[1] = {dx_cpu};
        tu_exec(cpu, TGC_OP_SOFTMAX_CE_SOFT_BWD, &at, 3, bin, bp, 1, &xt, bo);
    }
    double *ws = malloc(sizeof(double) * (size_t)n);
    tgc_k_ce_args a = {x, NULL, ws, &loss_gpu, &dloss, dx_gpu, n, c, smooth, alpha, t};
    TGC_SHIM_LAUNCH(tgc_k_softmax_ce_soft_rows, tgc_k_geom_warp_rows(n, max_blocks), a);
    TGC_SHIM_LAUNCH(tgc_k_softmax_ce_mean, tgc_k_geom_one_block(), a);
    TGC_SHIM_LAUNCH(tgc_k_softmax_ce_soft_bwd, tgc_k_geom_warp_rows(n, max_blocks), a);
    double e = rel_err(loss_gpu, loss_cpu, fmax(fabs((double)loss_cpu), 1e-30), "softmax_ce_soft loss", 0);
    ck_assert_msg(e <= 1e-6, "softmax_ce_soft [%lld,%lld] smooth %g: loss %.9g, the CPU's %.9g (rel %.3g)",
                  (long long)n, (long long)c, smooth, (double)loss_gpu, (double)loss_cpu, e);
    *fw = fmax(*fw, e);
    double scale = 1e-30;
    for (int64_t i = 0; i < n * c; i++)
        if (isfinite(dx_cpu[i])) scale = fmax(scale, fabs((double)dx_cpu[i]));
    for (int64_t i = 0; i < n * c; i++) {
        double d = rel_err(dx_gpu[i], dx_cpu[i], scale, "softmax_ce_soft_bwd dx", i);
        ck_assert_msg(d <= 1e-6, "softmax_ce_soft_bwd [%lld,%lld] smooth %g: dx[%lld] %.9g, the CPU's %.9g",
                      (long long)n, (long long)c, smooth, (long long)i, (double)dx_gpu[i], (double)dx_cpu[i]);
        *bw = fmax(*bw, d);
        int64_t u = ulps(dx_gpu[i], dx_cpu[i]);
        if (u > *bw_ulps) *bw_ulps = u;
    }
    free(ws), free(dx_cpu), free(dx_gpu);
}

/* Targets as Mixup and CutMix make them (two one-hots mixed by lambda), as plain distributions, and rows that do
 * not sum to 1 (the formula keeps sum(q)); logits with and without a large shift. */
START_TEST(softmax_ce_soft_close_to_cpu) {
    static const int64_t shapes[][2] = {{1, 1}, {3, 10}, {64, 10}, {37, 1000}, {5, 100}, {130, 33}};
    static const double smooths[] = {0.0, 0.1, 1.0}, alphas[] = {1.0, 0.5};
    double fw = 0, bw = 0;
    int64_t bw_ulps = 0;
    int cases = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int64_t n = shapes[s][0], c = shapes[s][1];
        float *x = tu_rand(n * c, -6, 6), *t = tu_zeros(n * c);
        for (int64_t r = 0; r < n; r++) {
            float *tr = t + r * c;
            if (r % 3 == 0) { /* mixup: lam * onehot(a) + (1 - lam) * onehot(b) */
                float lam = (float)tu_unif(0, 1);
                tr[tu_next() % (uint64_t)c] += lam;
                tr[tu_next() % (uint64_t)c] += 1.f - lam;
            } else if (r % 3 == 1) { /* a distribution; logits needing the max shift */
                double sum = 0;
                for (int64_t j = 0; j < c; j++) sum += tr[j] = (float)tu_unif(0, 1);
                for (int64_t j = 0; j < c; j++) tr[j] = (float)(tr[j] / sum), x[r * c + j] += 80.f;
            } else {
                for (int64_t j = 0; j < c; j++) tr[j] = (float)tu_unif(0, 0.5); /* not normalised */
            }
        }
        for (size_t k = 0; k < 3; k++)
            for (size_t q = 0; q < 2; q++, cases++)
                ce_soft_case(n, c, smooths[k], alphas[q], x, t, (float)tu_unif(0.2, 2), (unsigned)(1 + cases % 3), &fw,
                             &bw, &bw_ulps);
        free(x), free(t);
    }
    report("softmax_cross_entropy_soft (+bwd)", "%d cases: loss rel err <= %.3g, dx rel err <= %.3g (%lld ulp)", cases,
           fw, bw, (long long)bw_ulps);
}
END_TEST

/* ---- channel_mul and its gate gradient ------------------------------------------------------------------ */

START_TEST(channel_mul_against_cpu) {
    static const int64_t shapes[][4] = {{2, 3, 7, 7}, {4, 5, 1, 1}, {3, 2, 33, 17}, {1, 1, 64, 64}, {8, 64, 4, 4}};
    double worst = 0;
    int64_t worst_ulps = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int64_t *d = shapes[s], planes = d[0] * d[1], inner = d[2] * d[3];
        tgc_type xt = tu_f4(d[0], d[1], d[2], d[3]), gt = tu_f2(d[0], d[1]);
        float *x = tu_rand(planes * inner, -3, 5), *g = tu_rand(planes, 0, 1), *dy = tu_rand(planes * inner, -1, 1);
        float *y_cpu = tu_zeros(planes * inner), *y_gpu = tu_zeros(planes * inner);
        float *dg_cpu = tu_zeros(planes), *dg_gpu = tu_zeros(planes);
        tgc_attrs at = tgc_attrs_default();
        tgc_type fin[2] = {xt, gt}, bin[2] = {xt, xt};
        void *fi[2] = {x, g}, *fo[1] = {y_cpu}, *bi[2] = {dy, x}, *bo[1] = {dg_cpu};
        tu_exec(cpu, TGC_OP_CHANNEL_MUL, &at, 2, fin, fi, 1, &xt, fo);
        tu_exec(cpu, TGC_OP_CHANNEL_MUL_GRAD_GATE, &at, 2, bin, bi, 1, &gt, bo);
        tgc_k_chmul_args fa = {x, g, y_gpu, planes, inner, 0}, ba = {dy, x, dg_gpu, planes, inner, 0};
        TGC_SHIM_LAUNCH(tgc_k_channel_mul, tgc_k_geom_elems(planes * inner, 3), fa);
        TGC_SHIM_LAUNCH(tgc_k_channel_mul_grad_gate, tgc_k_geom_warp_rows(planes, (unsigned)(1 + s % 2)), ba);
        same_bytes(y_gpu, y_cpu, sizeof(float), planes * inner, "channel_mul");
        double scale = 1e-30;
        for (int64_t p = 0; p < planes; p++) scale = fmax(scale, fabs((double)dg_cpu[p]));
        for (int64_t p = 0; p < planes; p++) {
            double e = rel_err(dg_gpu[p], dg_cpu[p], scale, "channel_mul_grad_gate", p);
            ck_assert_msg(e <= 1e-6, "channel_mul_grad_gate: plane %lld: %.9g, the CPU's %.9g", (long long)p,
                          (double)dg_gpu[p], (double)dg_cpu[p]);
            worst = fmax(worst, e);
            if (ulps(dg_gpu[p], dg_cpu[p]) > worst_ulps) worst_ulps = ulps(dg_gpu[p], dg_cpu[p]);
        }
        free(x), free(g), free(dy), free(y_cpu), free(y_gpu), free(dg_cpu), free(dg_gpu);
    }
    report("channel_mul (+grad_gate)", "bitwise; gate gradient rel err <= %.3g (%lld ulp)", worst, (long long)worst_ulps);
}
END_TEST

/* ---- bias_grad ------------------------------------------------------------------------------------------ */

START_TEST(bias_grad_close_to_cpu) {
    static const struct {
        int rank;
        int64_t d[4];
        int64_t axis;
    } cases[] = {
        {2, {64, 10}, 1},      {2, {256, 1000}, 1},  {4, {4, 8, 7, 7}, 1}, {4, {3, 5, 2, 3}, 1},
        {4, {2, 40, 16, 16}, 1}, {2, {17, 300}, 0}, {4, {2, 3, 4, 70}, 3}, {3, {5, 3, 100}, 2},
    };
    double worst[2] = {0, 0};
    int64_t worst_ulps[2] = {0, 0};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        tgc_shape sh = tgc_shape_make(cases[k].rank, cases[k].d);
        int64_t n = tgc_shape_numel(&sh), axis = cases[k].axis, outer = 1, inner = 1, ch = sh.d[axis];
        for (int i = 0; i < axis; i++) outer *= sh.d[i];
        for (int i = (int)axis + 1; i < sh.rank; i++) inner *= sh.d[i];
        float *dy = tu_rand(n, -1, 1.5), *db_cpu = tu_zeros(ch), *db_gpu = tu_zeros(ch);
        tgc_attrs at = tgc_attrs_default();
        at.axis = axis;
        tgc_type it = tu_t(TGC_F32, sh), ot = tu_f1(ch);
        void *ip[1] = {dy}, *op[1] = {db_cpu};
        tu_exec(cpu, TGC_OP_BIAS_GRAD, &at, 1, &it, ip, 1, &ot, op);
        double scale = 1e-30;
        for (int64_t c = 0; c < ch; c++) scale = fmax(scale, fabs((double)db_cpu[c]));
        for (int cols = 0; cols < 2; cols++) { /* both kernels, whichever the launcher would pick */
            memset(db_gpu, 0, sizeof(float) * (size_t)ch);
            tgc_k_bias_grad_args a = {dy, db_gpu, outer, ch, inner, TGC_K_DT_F32};
            tgc_k_geom g = tgc_k_geom_bias_grad(cols, ch, (unsigned)(2 + k % 3));
            if (cols) TGC_SHIM_LAUNCH(tgc_k_bias_grad_cols, g, a);
            else TGC_SHIM_LAUNCH(tgc_k_bias_grad_planes, g, a);
            for (int64_t c = 0; c < ch; c++) {
                double e = rel_err(db_gpu[c], db_cpu[c], scale, "bias_grad", c);
                ck_assert_msg(e <= 1e-6, "bias_grad case %zu (%s): db[%lld] %.9g, the CPU's %.9g", k,
                              cols ? "cols" : "planes", (long long)c, (double)db_gpu[c], (double)db_cpu[c]);
                worst[cols] = fmax(worst[cols], e);
                if (ulps(db_gpu[c], db_cpu[c]) > worst_ulps[cols]) worst_ulps[cols] = ulps(db_gpu[c], db_cpu[c]);
            }
        }
        free(dy), free(db_cpu), free(db_gpu);
    }
    report("bias_grad", "planes kernel rel err <= %.3g (%lld ulp), cols kernel <= %.3g (%lld ulp)", worst[0],
           (long long)worst_ulps[0], worst[1], (long long)worst_ulps[1]);
}
END_TEST

/* ---- max_pool2d_bwd ------------------------------------------------------------------------------------- */

static int64_t pool_out(int64_t in, int64_t k, int64_t s, int64_t p0, int64_t p1, int ceil_mode) { /* cpu_pooling.c's */
    int64_t out = (in + p0 + p1 - k + (ceil_mode ? s - 1 : 0)) / s + 1;
    if (ceil_mode && (out - 1) * s >= in + p0) out--;
    return out;
}

START_TEST(max_pool2d_bwd_equals_cpu_bitwise) {
    typedef struct pool_case {
        int64_t n, c, h, w, kh, kw, sh, sw, pt, pl, pb, pr;
        int ceil;
    } pool_case;
    static const pool_case cases[] = {
        {2, 3, 9, 9, 3, 3, 2, 2, 1, 1, 1, 1, 0},  /* ResNet's stem pool */
        {2, 2, 11, 10, 3, 3, 2, 2, 1, 1, 1, 1, 0}, {1, 4, 8, 8, 2, 2, 2, 2, 0, 0, 0, 0, 0},
        {2, 2, 7, 9, 3, 3, 1, 1, 1, 1, 1, 1, 0},  /* overlapping windows */
        {1, 3, 8, 8, 3, 3, 2, 2, 0, 0, 0, 0, 1},  /* ceil_mode */
        {1, 2, 6, 11, 2, 4, 1, 3, 1, 2, 0, 1, 1}, /* asymmetric */
    };
    int data_kinds = 0;
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
        for (int kind = 0; kind < 3; kind++, data_kinds++) {
            const pool_case *q = &cases[k];
            int64_t ho = pool_out(q->h, q->kh, q->sh, q->pt, q->pb, q->ceil);
            int64_t wo = pool_out(q->w, q->kw, q->sw, q->pl, q->pr, q->ceil);
            int64_t nx = q->n * q->c * q->h * q->w, ny = q->n * q->c * ho * wo;
            float *x = tu_rand(nx, -2, 2), *dy = tu_rand(ny, -1, 1);
            for (int64_t i = 0; i < nx; i++) {
                if (kind == 1) x[i] = (float)(tu_next() % 3); /* many ties: the first maximum wins */
                if (kind == 2 && tu_next() % 9 == 0) x[i] = tu_next() % 2 ? NAN : -INFINITY;
            }
            float *dx_cpu = tu_zeros(nx), *dx_gpu = tu_zeros(nx);
            tgc_attrs at = tgc_attrs_default();
            at.kernel[0] = q->kh, at.kernel[1] = q->kw, at.stride[0] = q->sh, at.stride[1] = q->sw;
            at.pad[0] = q->pt, at.pad[1] = q->pl, at.pad[2] = q->pb, at.pad[3] = q->pr, at.ceil_mode = q->ceil;
            tgc_type in[2] = {tu_f4(q->n, q->c, ho, wo), tu_f4(q->n, q->c, q->h, q->w)};
            void *ip[2] = {dy, x}, *op[1] = {dx_cpu};
            tu_exec(cpu, TGC_OP_MAX_POOL2D_BWD, &at, 2, in, ip, 1, &in[1], op);
            tgc_k_maxpool_bwd_args a = {dy, x, dx_gpu, q->n * q->c, (int32_t)q->h, (int32_t)q->w, (int32_t)ho,
                                        (int32_t)wo, (int32_t)q->kh, (int32_t)q->kw, (int32_t)q->sh, (int32_t)q->sw,
                                        (int32_t)q->pt, (int32_t)q->pl, TGC_K_DT_F32, 0};
            TGC_SHIM_LAUNCH(tgc_k_max_pool2d_bwd, tgc_k_geom_planes(q->n * q->c, q->h * q->w, 1), a);
            char what[96];
            snprintf(what, sizeof what, "max_pool2d_bwd case %zu data %d", k, kind);
            same_bytes(dx_gpu, dx_cpu, sizeof(float), nx, what);
            free(x), free(dy), free(dx_cpu), free(dx_gpu);
        }
    report("max_pool2d_bwd", "%d cases (random, ties, NaN/-inf): bitwise equal", data_kinds);
}
END_TEST

/* ---- cast and fill -------------------------------------------------------------------------------------- */

static void cast_cpu(const void *x, tgc_dtype tx, void *y, tgc_dtype ty, int64_t n) {
    tgc_attrs at = tgc_attrs_default();
    at.dtype = ty;
    tgc_type it = tu_t(tx, tgc_shape1(n)), ot = tu_t(ty, tgc_shape1(n));
    void *ip[1] = {(void *)x}, *op[1] = {y};
    tu_exec(cpu, TGC_OP_CAST, &at, 1, &it, ip, 1, &ot, op);
}

START_TEST(cast_equals_cpu_bitwise) {
    /* every 16-bit pattern, both formats, to f32 */
    uint16_t *h = malloc(sizeof(uint16_t) * 65536);
    for (int i = 0; i < 65536; i++) h[i] = (uint16_t)i;
    float *f_cpu = malloc(sizeof(float) * 65536), *f_gpu = malloc(sizeof(float) * 65536);
    for (int fmt = 0; fmt < 2; fmt++) {
        tgc_k_cast_args a = {h, f_gpu, 65536};
        if (fmt) TGC_SHIM_LAUNCH(tgc_k_cast_f16_f32, tgc_k_geom_elems(65536, 16), a);
        else TGC_SHIM_LAUNCH(tgc_k_cast_bf16_f32, tgc_k_geom_elems(65536, 16), a);
        cast_cpu(h, fmt ? TGC_F16 : TGC_BF16, f_cpu, TGC_F32, 65536);
        same_bytes(f_gpu, f_cpu, 4, 65536, fmt ? "cast f16 -> f32" : "cast bf16 -> f32");
    }
    /* f32 edge cases, then random bit patterns and random values, to both formats */
    static const uint32_t edges[] = {
        0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x477fe000, 0x477fefff, 0x477ff000, 0x47800000, 0x7f7fffff,
        0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffbfffff, 0x7fffffff, 0x00000001, 0x007fffff, 0x00800000,
        0x33000000, 0x33000001, 0x337fffff, 0x33800000, 0x38800000, 0x387fffff, 0x38000000, 0x3f808000, 0x3f818000,
        0x3f80ffff, 0x3f817fff, 0x3f801000, 0x3f803000, 0x33c00000, 0x33a00000, 0xb3c00000, 0x7f7f8000, 0x7f7f7fff};
    const int64_t n = 1 << 18;
    float *x = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)tu_next();
        if (i < (int64_t)(sizeof edges / sizeof *edges)) u = edges[i];
        else if (i % 2) u = (u & 0x80001fffu) | ((uint32_t)(100 + tu_next() % 60) << 23); /* near f16's range */
        memcpy(&x[i], &u, 4);
    }
    uint16_t *y_cpu = malloc(sizeof(uint16_t) * (size_t)n), *y_gpu = malloc(sizeof(uint16_t) * (size_t)n);
    for (int fmt = 0; fmt < 2; fmt++) {
        tgc_k_cast_args a = {x, y_gpu, n};
        if (fmt) TGC_SHIM_LAUNCH(tgc_k_cast_f32_f16, tgc_k_geom_elems(n, 64), a);
        else TGC_SHIM_LAUNCH(tgc_k_cast_f32_bf16, tgc_k_geom_elems(n, 64), a);
        cast_cpu(x, TGC_F32, y_cpu, fmt ? TGC_F16 : TGC_BF16, n);
        same_bytes(y_gpu, y_cpu, 2, n, fmt ? "cast f32 -> f16" : "cast f32 -> bf16");
    }
    free(h), free(f_cpu), free(f_gpu), free(x), free(y_cpu), free(y_gpu);
    report("cast f32<->bf16, f32<->f16", "bitwise equal: all 65536 16-bit inputs each way, %lld f32 inputs", (long long)n);
}
END_TEST

START_TEST(fill_equals_cpu_bitwise) {
    static const double values[] = {0.0,    -0.0,  1.5,    -2.7,   1e10,  -1e10,  65504, 65520, 70000, 1e-8,
                                    6e-8,   300.7, -1,     255.9,  256,   2147483647.5, 2147483648.0, -3e9,
                                    9.3e18, -9.3e18, 1e300, 0.1};
    const double specials[] = {NAN, INFINITY, -INFINITY};
    const int64_t n = 1000 + 3;
    unsigned char *y_cpu = malloc(8 * (size_t)n + 8), *y_gpu = malloc(8 * (size_t)n + 8);
    int cases = 0;
    for (int dt = 0; dt < TGC_DTYPE_COUNT; dt++)
        for (size_t v = 0; v < sizeof values / sizeof *values + 3; v++, cases++) {
            double value = v < sizeof values / sizeof *values ? values[v] : specials[v - sizeof values / sizeof *values];
            tgc_attrs at = tgc_attrs_default();
            at.alpha = value, at.shape = tgc_shape1(n), at.dtype = (tgc_dtype)dt;
            tgc_type ot = tu_t((tgc_dtype)dt, tgc_shape1(n));
            memset(y_cpu, 0xab, 8 * (size_t)n + 8), memset(y_gpu, 0xcd, 8 * (size_t)n + 8);
            void *op[1] = {y_cpu};
            tu_exec(cpu, TGC_OP_FILL, &at, 0, NULL, NULL, 1, &ot, op);
            tgc_k_fill_args a = {y_gpu, n, value, dt};
            TGC_SHIM_LAUNCH(tgc_k_fill, tgc_k_geom_elems(n, 2), a);
            char what[64];
            snprintf(what, sizeof what, "fill %s %g", tgc_dtype_name((tgc_dtype)dt), value);
            same_bytes(y_gpu, y_cpu, tgc_dtype_size((tgc_dtype)dt), n, what);
            ck_assert_int_eq(y_gpu[tgc_dtype_size((tgc_dtype)dt) * (size_t)n], 0xcd); /* nothing past the end */
        }
    free(y_cpu), free(y_gpu);
    report("fill", "%d dtype x value cases (NaN, inf, saturation, f16 overflow): bitwise equal", cases);
}
END_TEST

/* ---- bf16/f16 data (mixed-precision plans) ------------------------------------------------------------- */

/* n random values in [lo, hi) rounded into dt (the CPU's cast). */
static uint16_t *lowp_rand(int64_t n, double lo, double hi, tgc_dtype dt) {
    float *f = tu_rand(n, lo, hi);
    uint16_t *h = malloc(2 * (size_t)(n ? n : 1));
    tgc_attrs at = tgc_attrs_default();
    at.dtype = dt;
    tgc_type ft = tu_t(TGC_F32, tgc_shape1(n)), ht = tu_t(dt, tgc_shape1(n));
    void *ip[1] = {f}, *op[1] = {h};
    tu_exec(cpu, TGC_OP_CAST, &at, 1, &ft, ip, 1, &ht, op);
    free(f);
    return h;
}

/* The 16-bit patterns' distance (finite values): steps of the format. */
static int steps16(uint16_t a, uint16_t b) {
    if ((a ^ b) & 0x8000) return (a & 0x7fff) + (b & 0x7fff);
    return abs((int)(a & 0x7fff) - (int)(b & 0x7fff));
}

/* global_avg_pool(_bwd), bias_grad and max_pool2d_bwd on bf16 and f16 data against the CPU, which runs them on
 * f32 copies and rounds the result once: the elementwise ones (pool backward, max-pool backward) bit for bit,
 * the pooled mean within one step of the format (sums in another order), bias_grad (an f32 result) 1e-6. */
START_TEST(lowp_data_against_cpu) {
    const tgc_dtype dt = _i ? TGC_F16 : TGC_BF16;
    const int64_t n = 3, c = 5, h = 9, w = 7, hw = h * w;
    int worst_steps = 0;
    double worst_rel = 0;
    /* global_avg_pool */
    uint16_t *x = lowp_rand(n * c * hw, -3, 3, dt), *y_cpu = malloc(2 * n * c), *y_gpu = malloc(2 * n * c);
    tgc_type xt = tu_t(dt, tgc_shape4(n, c, h, w)), yt = tu_t(dt, tgc_shape2(n, c));
    tgc_attrs at = tgc_attrs_default();
    void *ip[2] = {x}, *op[1] = {y_cpu};
    tu_exec(cpu, TGC_OP_GLOBAL_AVG_POOL, &at, 1, &xt, ip, 1, &yt, op);
    tgc_k_gap_args a = {(const float *)x, (float *)y_gpu, n * c, hw, (int32_t)dt, 0};
    TGC_SHIM_LAUNCH(tgc_k_global_avg_pool, tgc_k_geom_warp_rows(n * c, 2), a);
    for (int64_t p = 0; p < n * c; p++) {
        int s = steps16(y_gpu[p], y_cpu[p]);
        ck_assert_msg(s <= 1, "%s global_avg_pool plane %lld: 0x%04x, the CPU's 0x%04x", tgc_dtype_name(dt),
                      (long long)p, y_gpu[p], y_cpu[p]);
        if (s > worst_steps) worst_steps = s;
    }
    /* global_avg_pool_bwd: bit for bit */
    uint16_t *dx_cpu = malloc(2 * n * c * hw), *dx_gpu = malloc(2 * n * c * hw);
    at.shape = xt.shape;
    void *bi[1] = {y_cpu}, *bo[1] = {dx_cpu};
    tu_exec(cpu, TGC_OP_GLOBAL_AVG_POOL_BWD, &at, 1, &yt, bi, 1, &xt, bo);
    tgc_k_gap_args b = {(const float *)y_cpu, (float *)dx_gpu, n * c, hw, (int32_t)dt, 0};
    TGC_SHIM_LAUNCH(tgc_k_global_avg_pool_bwd, tgc_k_geom_elems(n * c * hw, 3), b);
    same_bytes(dx_gpu, dx_cpu, 2, n * c * hw, "global_avg_pool_bwd, 16-bit");
    /* bias_grad: a 16-bit dy, an f32 db, both kernels */
    float *db_cpu = tu_zeros(c), *db_gpu = tu_zeros(c);
    at = tgc_attrs_default();
    at.axis = 1;
    tgc_type dbt = tu_t(TGC_F32, tgc_shape1(c));
    void *gi[1] = {x}, *go[1] = {db_cpu};
    tu_exec(cpu, TGC_OP_BIAS_GRAD, &at, 1, &xt, gi, 1, &dbt, go);
    double scale = 1e-30;
    for (int64_t k = 0; k < c; k++) scale = fmax(scale, fabs((double)db_cpu[k]));
    for (int cols = 0; cols < 2; cols++) {
        tgc_k_bias_grad_args g = {(const float *)x, db_gpu, n, c, hw, (int32_t)dt};
        if (cols) TGC_SHIM_LAUNCH(tgc_k_bias_grad_cols, tgc_k_geom_bias_grad(1, c, 2), g);
        else TGC_SHIM_LAUNCH(tgc_k_bias_grad_planes, tgc_k_geom_bias_grad(0, c, 2), g);
        for (int64_t k = 0; k < c; k++) {
            double e = fabs((double)db_gpu[k] - (double)db_cpu[k]) / scale;
            ck_assert_msg(e <= 1e-6, "%s bias_grad channel %lld: %.9g, the CPU's %.9g", tgc_dtype_name(dt), (long long)k,
                          (double)db_gpu[k], (double)db_cpu[k]);
            worst_rel = fmax(worst_rel, e);
        }
    }
    /* max_pool2d_bwd, 3x3 stride 2 pad 1 with ties (integers): bit for bit */
    const int64_t ho = 5, wo = 4;
    uint16_t *dy = lowp_rand(n * c * ho * wo, -1, 1, dt), *xi = lowp_rand(n * c * hw, 0, 3, dt);
    float *xf = tu_rand(n * c * hw, 0, 3);
    for (int64_t i = 0; i < n * c * hw; i++) xf[i] = (float)(int)xf[i]; /* ties: the first maximum wins */
    tgc_attrs ca = tgc_attrs_default();
    ca.dtype = dt;
    tgc_type ft = tu_t(TGC_F32, tgc_shape1(n * c * hw)), ht = tu_t(dt, tgc_shape1(n * c * hw));
    void *ci[1] = {xf}, *co[1] = {xi};
    tu_exec(cpu, TGC_OP_CAST, &ca, 1, &ft, ci, 1, &ht, co);
    at = tgc_attrs_default();
    at.kernel[0] = at.kernel[1] = 3, at.stride[0] = at.stride[1] = 2, at.pad[0] = at.pad[1] = at.pad[2] = at.pad[3] = 1;
    tgc_type mt[2] = {tu_t(dt, tgc_shape4(n, c, ho, wo)), xt};
    void *mi[2] = {dy, xi}, *mo[1] = {dx_cpu};
    tu_exec(cpu, TGC_OP_MAX_POOL2D_BWD, &at, 2, mt, mi, 1, &xt, mo);
    tgc_k_maxpool_bwd_args m = {(const float *)dy, (const float *)xi, (float *)dx_gpu, n * c, (int32_t)h, (int32_t)w,
                                (int32_t)ho, (int32_t)wo, 3, 3, 2, 2, 1, 1, (int32_t)dt, 0};
    TGC_SHIM_LAUNCH(tgc_k_max_pool2d_bwd, tgc_k_geom_planes(n * c, hw, 1), m);
    same_bytes(dx_gpu, dx_cpu, 2, n * c * hw, "max_pool2d_bwd, 16-bit");
    report(_i ? "f16 data: gap, gap_bwd, bias_grad, max_pool_bwd" : "bf16 data: gap, gap_bwd, bias_grad, max_pool_bwd",
           "pool backwards bitwise equal; mean within %d step(s); bias_grad %.2g", worst_steps, worst_rel);
    free(x), free(y_cpu), free(y_gpu), free(dx_cpu), free(dx_gpu), free(db_cpu), free(db_gpu), free(dy), free(xi);
    free(xf);
}
END_TEST

/* ---- float16 loss scaling ------------------------------------------------------------------------------ */

/* tgc_k_nonfinite + tgc_k_unscale against tgc_cpu_grad_unscale: sizes from 1 to several grid strides, every
 * gradient finite (unscaled bit for bit) or one inf, -inf or NaN planted at the start, middle or end (found,
 * nothing written). */
START_TEST(grad_unscale_equals_cpu_bitwise) {
    static const int64_t sizes[] = {1, 255, 1000, 100003};
    const float planted[] = {INFINITY, -INFINITY, NAN};
    const float inv = 1.0f / 32768.0f;
    int cases = 0, found_cases = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        int64_t n = sizes[si];
        float *g = malloc(sizeof(float) * (size_t)n), *g_cpu = malloc(sizeof(float) * (size_t)n),
              *g_gpu = malloc(sizeof(float) * (size_t)n);
        for (int64_t i = 0; i < n; i++) g[i] = (float)tu_unif(-1e5, 1e5); /* scaled gradients */
        for (int c = 0; c < 1 + 3 * 3; c++, cases++) {
            memcpy(g_cpu, g, sizeof(float) * (size_t)n);
            if (c > 0) g_cpu[(c - 1) % 3 == 0 ? 0 : (c - 1) % 3 == 1 ? n / 2 : n - 1] = planted[(c - 1) / 3];
            memcpy(g_gpu, g_cpu, sizeof(float) * (size_t)n);
            int found_cpu = tgc_cpu_grad_unscale(g_cpu, (size_t)n, inv);
            int32_t found = 0;
            tgc_k_unscale_args a = {g_gpu, n, &found, inv};
            TGC_SHIM_LAUNCH(tgc_k_nonfinite, tgc_k_geom_elems(n, 4), a);
            TGC_SHIM_LAUNCH(tgc_k_unscale, tgc_k_geom_elems(n, 4), a);
            ck_assert_int_eq(found != 0, found_cpu);
            ck_assert_int_eq(found_cpu, c > 0);
            found_cases += found_cpu;
            same_bytes(g_gpu, g_cpu, 4, n, "grad unscale");
        }
        free(g), free(g_cpu), free(g_gpu);
    }
    report("grad finite check + unscale", "%d cases (%d with a planted inf/NaN): flag and gradients bitwise equal",
           cases, found_cases);
}
END_TEST

/* ---- the update section: gradient norm, clipping, Lamb ------------------------------------------------- */

/* grad_norm_acc over sizes spanning one to TGC_K_NORM_MAX_BLOCKS blocks and beyond, p = 2, 1, 3, inf (NaN
 * included for inf): within 1e-6 of the CPU's chunked sum; the clips equal the CPU bit for bit. */
START_TEST(grad_norm_and_clip_against_cpu) {
    static const int64_t sizes[] = {1, 1000, 100003, 16 * 256 * 70 + 5};
    static const double ps[] = {2.0, 1.0, 3.0, INFINITY};
    double worst = 0;
    int cases = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        int64_t n = sizes[s];
        float *g = tu_rand(n, -2, 2), *y_cpu = tu_zeros(n), *y_gpu = tu_zeros(n);
        if (s == 2) g[n / 2] = -7.5f; /* the largest |g| in the middle */
        int32_t blocks = tgc_k_norm_blocks(n);
        double *part = calloc((size_t)blocks, sizeof(double));
        for (size_t q = 0; q < sizeof ps / sizeof *ps; q++, cases++) {
            tgc_attrs at = tgc_attrs_default();
            at.norm_type = ps[q], at.max_norm = 0.5;
            float acc = 0.25f, out_cpu = 0, out_gpu = 0;
            tgc_type t = tu_f1(n), sc = tu_f0(), in[2] = {t, sc};
            void *ip[2] = {g, &acc}, *op[1] = {&out_cpu};
            tu_exec(cpu, TGC_OP_GRAD_NORM_ACC, &at, 2, in, ip, 1, &sc, op);
            tgc_k_norm_args a = {g, y_gpu, &acc, &out_gpu, part, n, ps[q], at.max_norm, blocks};
            TGC_SHIM_LAUNCH(tgc_k_grad_norm_part, tgc_k_geom_blocks(blocks), a);
            TGC_SHIM_LAUNCH(tgc_k_grad_norm_finish, tgc_k_geom_one_block(), a);
            double e = fabs((double)out_gpu - (double)out_cpu) / fabs((double)out_cpu);
            ck_assert_msg(e <= 1e-6, "grad_norm_acc n %lld p %g: %.9g, the CPU's %.9g", (long long)n, ps[q],
                          (double)out_gpu, (double)out_cpu);
            worst = fmax(worst, e);
            /* the clip with the chain's sum (engaged: the norm is above max_norm) */
            void *ci[2] = {g, &out_cpu}, *co[1] = {y_cpu};
            tu_exec(cpu, TGC_OP_GRAD_CLIP_NORM, &at, 2, in, ci, 1, &t, co);
            a.acc = &out_cpu;
            TGC_SHIM_LAUNCH(tgc_k_grad_clip_norm, tgc_k_geom_elems(n, (unsigned)(1 + q)), a);
            same_bytes(y_gpu, y_cpu, sizeof(float), n, "grad_clip_norm");
        }
        /* NaN wins the inf norm, as on the CPU */
        g[0] = NAN;
        float acc = 1.f, out_gpu = 0;
        tgc_k_norm_args a = {g, NULL, &acc, &out_gpu, part, n, INFINITY, 0, blocks};
        TGC_SHIM_LAUNCH(tgc_k_grad_norm_part, tgc_k_geom_blocks(blocks), a);
        TGC_SHIM_LAUNCH(tgc_k_grad_norm_finish, tgc_k_geom_one_block(), a);
        ck_assert_msg(isnan(out_gpu), "grad_norm_acc inf with a NaN: %g", (double)out_gpu);
        if (n > 1) g[n - 1] = 5.f; /* clip by value, NaN kept */
        tgc_attrs at = tgc_attrs_default();
        at.max_norm = 0.3;
        tgc_type t = tu_f1(n);
        void *vi[1] = {g}, *vo[1] = {y_cpu};
        tu_exec(cpu, TGC_OP_GRAD_CLIP_VALUE, &at, 1, &t, vi, 1, &t, vo);
        tgc_k_norm_args v = {g, y_gpu, NULL, NULL, NULL, n, 2.0, 0.3, 0};
        TGC_SHIM_LAUNCH(tgc_k_grad_clip_value, tgc_k_geom_elems(n, 2), v);
        same_bytes(y_gpu, y_cpu, sizeof(float), n, "grad_clip_value");
        free(g), free(y_cpu), free(y_gpu), free(part);
    }
    report("grad_norm_acc, grad_clip_norm/value", "%d cases: norm rel err <= %.3g; clips bitwise", cases, worst);
}
END_TEST

/* Lamb against the CPU over several steps: moments bit for bit, parameters within an ulp or two (the two
 * norms are sums in another order), with and without decay, always_adapt, trust_clip and the global clip. */
START_TEST(lamb_against_cpu) {
    static const int64_t sizes[] = {3, 5000, 100003};
    static const struct {
        double wd;
        int always, clip;
        float gsq;
    } cfgs[] = {{0.01, 0, 0, 4.f}, {0.0, 0, 0, 0.25f}, {0.0, 1, 0, 9.f}, {0.02, 0, 1, 0.5f}};
    int64_t worst_ulps = 0;
    int cases = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (size_t k = 0; k < sizeof cfgs / sizeof *cfgs; k++, cases++) {
            int64_t n = sizes[s];
            float *p0 = tu_rand(n, -1, 1), *pc = tu_copy(p0, n), *pg = tu_copy(p0, n);
            float *mc = tu_zeros(n), *vc = tu_zeros(n), *mg = tu_zeros(n), *vg = tu_zeros(n);
            int32_t blocks = tgc_k_norm_blocks(n);
            double *part = calloc((size_t)blocks * 2, sizeof(double));
            tgc_attrs at = tgc_attrs_default();
            at.alpha = 2.0, at.weight_decay = cfgs[k].wd, at.beta1 = 0.9, at.beta2 = 0.999, at.eps = 1e-6;
            at.max_norm = 1.0, at.always_adapt = cfgs[k].always, at.trust_clip = cfgs[k].clip;
            float lr = 0.005f, gsq = cfgs[k].gsq;
            for (int st = 1; st <= 3; st++) {
                float step = (float)st, *g = tu_rand(n, -0.1, 0.1);
                tgc_type t = tu_f1(n), sc = tu_f0(), in[7] = {t, t, t, t, sc, sc, sc};
                void *ip[7] = {pc, g, mc, vc, &lr, &step, &gsq};
                tu_exec(cpu, TGC_OP_LAMB_UPDATE, &at, 7, in, ip, 0, NULL, NULL);
                tgc_k_lamb_args a = {pg, mg, vg, g, &lr, &step, &gsq, part, n, at.alpha, at.weight_decay, at.beta1,
                                     at.beta2, at.eps, at.max_norm, at.always_adapt, at.trust_clip, blocks};
                TGC_SHIM_LAUNCH(tgc_k_lamb_moments, tgc_k_geom_blocks(blocks), a);
                TGC_SHIM_LAUNCH(tgc_k_lamb_apply, tgc_k_geom_elems(n, (unsigned)(1 + k)), a);
                same_bytes(mg, mc, sizeof(float), n, "lamb exp_avg");
                same_bytes(vg, vc, sizeof(float), n, "lamb exp_avg_sq");
                for (int64_t i = 0; i < n; i++) {
                    int64_t u = ulps(pg[i], pc[i]);
                    ck_assert_msg(u <= 2, "lamb n %lld cfg %zu step %d: p[%lld] %.9g, the CPU's %.9g", (long long)n, k, st,
                                  (long long)i, (double)pg[i], (double)pc[i]);
                    if (u > worst_ulps) worst_ulps = u;
                }
                free(g);
            }
            free(p0), free(pc), free(pg), free(mc), free(vc), free(mg), free(vg), free(part);
        }
    report("lamb_update", "%d cases x 3 steps: moments bitwise, parameters within %lld ulp", cases,
           (long long)worst_ulps);
}
END_TEST

/* The sigmoid binary cross-entropy on labels and on soft targets, smoothed or not. */
START_TEST(sigmoid_bce_against_cpu) {
    static const int64_t shapes[][2] = {{1, 1}, {3, 10}, {37, 1000}, {130, 33}};
    static const double smooths[] = {0.0, 0.1};
    double fw = 0, bw = 0;
    int cases = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int soft = 0; soft < 2; soft++)
            for (size_t k = 0; k < 2; k++, cases++) {
                int64_t n = shapes[s][0], c = shapes[s][1];
                float *x = tu_rand(n * c, -30, 30), *t = tu_rand(n * c, 0, 1);
                int32_t *y = malloc(sizeof(int32_t) * (size_t)n);
                for (int64_t r = 0; r < n; r++) y[r] = (int32_t)(tu_next() % (uint64_t)c);
                float loss_cpu = 0, loss_gpu = 0, dloss = 0.75f;
                float *dx_cpu = tu_zeros(n * c), *dx_gpu = tu_zeros(n * c);
                double *ws = calloc((size_t)n, sizeof(double));
                tgc_attrs at = tgc_attrs_default();
                at.alpha = 1.5, at.label_smooth = smooths[k];
                tgc_type xt = tu_f2(n, c), tt = soft ? xt : tu_t(TGC_I32, tgc_shape1(n)), sc = tu_f0();
                tgc_type fin[2] = {xt, tt}, bin[3] = {sc, xt, tt};
                void *tv = soft ? (void *)t : (void *)y;
                void *fi[2] = {x, tv}, *fo[1] = {&loss_cpu}, *bi[3] = {&dloss, x, tv}, *bo[1] = {dx_cpu};
                tu_exec(cpu, TGC_OP_SIGMOID_BCE, &at, 2, fin, fi, 1, &sc, fo);
                tu_exec(cpu, TGC_OP_SIGMOID_BCE_BWD, &at, 3, bin, bi, 1, &xt, bo);
                tgc_k_ce_args a = {x, soft ? NULL : y, ws, &loss_gpu, &dloss, dx_gpu, n, c, at.label_smooth, at.alpha,
                                   soft ? t : NULL};
                TGC_SHIM_LAUNCH(tgc_k_sigmoid_bce_rows, tgc_k_geom_warp_rows(n, 2), a);
                TGC_SHIM_LAUNCH(tgc_k_sigmoid_bce_mean, tgc_k_geom_one_block(), a);
                TGC_SHIM_LAUNCH(tgc_k_sigmoid_bce_bwd, tgc_k_geom_warp_rows(n, 3), a);
                double e = fabs((double)loss_gpu - (double)loss_cpu) / fabs((double)loss_cpu);
                ck_assert_msg(e <= 1e-6, "sigmoid_bce [%lld,%lld] soft %d: %.9g, the CPU's %.9g", (long long)n, (long long)c,
                              soft, (double)loss_gpu, (double)loss_cpu);
                fw = fmax(fw, e);
                double scale = 1e-30;
                for (int64_t i = 0; i < n * c; i++) scale = fmax(scale, fabs((double)dx_cpu[i]));
                for (int64_t i = 0; i < n * c; i++) {
                    double d = rel_err(dx_gpu[i], dx_cpu[i], scale, "sigmoid_bce_bwd dx", i);
                    ck_assert_msg(d <= 1e-6, "sigmoid_bce_bwd: dx[%lld] %.9g, the CPU's %.9g", (long long)i,
                                  (double)dx_gpu[i], (double)dx_cpu[i]);
                    bw = fmax(bw, d);
                }
                free(x), free(t), free(y), free(dx_cpu), free(dx_gpu), free(ws);
            }
    report("sigmoid_bce (+bwd)", "%d cases: loss rel err <= %.3g, dx rel err <= %.3g", cases, fw, bw);
}
END_TEST

int main(void) {
    Suite *s = suite_create("backend_cuda_kernels");
    TCase *shim = tcase_create("shim");
    tcase_add_test(shim, shim_shuffles);
    tcase_add_test(shim, shim_barrier_shared_block_sum);
    tcase_add_test_raise_signal(shim, shim_catches_divergent_barrier, SIGABRT);
    tcase_add_test_raise_signal(shim, shim_catches_bad_mask, SIGABRT);
    tcase_add_test_raise_signal(shim, shim_catches_launch_bounds, SIGABRT);
    tcase_add_test(shim, mt_pack_covers_every_chunk_once);
    suite_add_tcase(s, shim);
    TCase *tc = tcase_create("kernels");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, optimizer_groups_equal_cpu_bitwise, 0, (int)(sizeof OPT_CFGS / sizeof *OPT_CFGS));
    tcase_add_test(tc, softmax_ce_close_to_cpu);
    tcase_add_test(tc, softmax_ce_non_finite_rows);
    tcase_add_test(tc, softmax_ce_bad_label_is_nan);
    tcase_add_test(tc, softmax_ce_soft_close_to_cpu);
    tcase_add_test(tc, global_avg_pool_close_to_cpu);
    tcase_add_test(tc, channel_mul_against_cpu);
    tcase_add_test(tc, bias_grad_close_to_cpu);
    tcase_add_test(tc, max_pool2d_bwd_equals_cpu_bitwise);
    tcase_add_test(tc, cast_equals_cpu_bitwise);
    tcase_add_test(tc, fill_equals_cpu_bitwise);
    tcase_add_test(tc, grad_unscale_equals_cpu_bitwise);
    tcase_add_loop_test(tc, lowp_data_against_cpu, 0, 2);
    tcase_add_test(tc, grad_norm_and_clip_against_cpu);
    tcase_add_test(tc, lamb_against_cpu);
    tcase_add_test(tc, sigmoid_bce_against_cpu);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
