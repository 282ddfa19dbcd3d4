/* backend/cuda/kernels/gradnorm.cuh - the update section's gradient norm and clipping (clip_grad) and Lamb,
 * as backend/cpu/cpu_gradnorm.c computes them: the elementwise parts in float with the CPU's roundings (the
 * clips and Lamb's moments equal it bit for bit), the reductions in double over a block count fixed by the
 * tensor's size, combined in block order (only their order differs from the CPU's chunked sums).
 * Deterministic: fixed reduction trees, no atomics. */
#ifndef TGC_CUDA_KERNELS_GRADNORM_CUH
#define TGC_CUDA_KERNELS_GRADNORM_CUH

#include "backend/cuda/kernels/kcommon.cuh"

/* |g|^p in double (p = 2 and 1 without pow, as the CPU) */
TGC_K_DEV double tgc_k_norm_term(float g, double p) {
    const double a = g < 0 ? -(double)g : (double)g;
    return p == 2.0 ? __dmul_rn(a, a) : p == 1.0 ? a : pow(a, p);
}

/* The CPU's maximum with a NaN winning: m = x > m || isnan(x) ? x : m. */
TGC_K_DEV double tgc_k_max_nan(double m, double x) { return x > m || isnan(x) ? x : m; }

/* Maximum over the block with tgc_k_max_nan (a multiple of 32 threads, all calling); sh: double[32]. */
TGC_K_DEV double tgc_k_block_max_nan(double v, double *sh) {
    unsigned tid = tgc_k_tid(), nw = (blockDim.x * blockDim.y * blockDim.z) >> 5;
    for (int o = 16; o > 0; o >>= 1) v = tgc_k_max_nan(v, __shfl_xor_sync(TGC_K_FULL_MASK, v, o));
    if ((tid & 31u) == 0) sh[tid >> 5] = v;
    __syncthreads();
    double m = 0;
    for (unsigned w = 0; w < nw; w++) m = tgc_k_max_nan(m, sh[w]);
    __syncthreads();
    return m;
}

/* grad_norm_acc, part 1: part[blockIdx.x] (geometry: tgc_k_geom_blocks(a.blocks)). */
TGC_KERNEL(tgc_k_grad_norm_part, tgc_k_norm_args, a, TGC_K_THREADS) {
    TGC_SHARED(double, sh, 32);
    const int inf = isinf(a.p);
    double s = 0;
    for (int64_t i = tgc_k_gtid(); i < a.n; i += tgc_k_gstride()) {
        const double t = tgc_k_norm_term(a.g[i], inf ? 1.0 : a.p);
        s = inf ? tgc_k_max_nan(s, t) : __dadd_rn(s, t);
    }
    s = inf ? tgc_k_block_max_nan(s, sh) : tgc_k_block_sum(s, sh);
    if (threadIdx.x == 0) a.part[blockIdx.x] = s;
}

/* grad_norm_acc, part 2: *out from the parts and *acc (geometry: tgc_k_geom_one_block()). */
TGC_KERNEL(tgc_k_grad_norm_finish, tgc_k_norm_args, a, TGC_K_THREADS) {
    if (threadIdx.x != 0 || blockIdx.x != 0) return;
    const int inf = isinf(a.p);
    double s = 0;
    for (int32_t b = 0; b < a.blocks; b++) s = inf ? tgc_k_max_nan(s, a.part[b]) : __dadd_rn(s, a.part[b]);
    const double acc = (double)*a.acc;
    *a.out = (float)(inf ? (s > acc || isnan(s) ? s : acc) : __dadd_rn(acc, s));
}

/* grad_clip_norm: y = g * min(max_norm / (total + 1e-6), 1) (geometry: tgc_k_geom_elems(n)). */
TGC_KERNEL(tgc_k_grad_clip_norm, tgc_k_norm_args, a, TGC_K_THREADS) {
    const double acc = (double)*a.acc, p = a.p;
    const float total = (float)(isinf(p) ? acc : p == 2.0 ? sqrt(acc) : p == 1.0 ? acc : pow(acc, __ddiv_rn(1.0, p)));
    float coef = __fdiv_rn((float)a.max_norm, __fadd_rn(total, 1e-6f));
    if (coef > 1.f) coef = 1.f;
    for (int64_t i = tgc_k_gtid(); i < a.n; i += tgc_k_gstride()) a.y[i] = __fmul_rn(a.g[i], coef);
}

/* grad_clip_value: y = g clamped to [-max_norm, max_norm], a NaN kept (geometry: tgc_k_geom_elems(n)). */
TGC_KERNEL(tgc_k_grad_clip_value, tgc_k_norm_args, a, TGC_K_THREADS) {
    const float lo = (float)-a.max_norm, hi = (float)a.max_norm;
    for (int64_t i = tgc_k_gtid(); i < a.n; i += tgc_k_gstride()) {
        const float g = a.g[i];
        a.y[i] = g < lo ? lo : g > hi ? hi : g;
    }
}

/* ---- Lamb ------------------------------------------------------------------------------------------------ */

/* The per-step scalars, computed by every thread as cpu_lamb computes them. */
typedef struct tgc_k_lamb_scalars {
    float div, b1, w1, b2, w2, eps, bc1, bc2_sqrt, wd;
} tgc_k_lamb_scalars;

TGC_K_DEV tgc_k_lamb_scalars tgc_k_lamb_prepare(const float *step, const float *gsq, double beta1, double beta2,
                                                double eps, double weight_decay, double max_norm) {
    tgc_k_lamb_scalars s;
    const double t = floor((double)*step + 0.5);
    const float norm = __fsqrt_rn(*gsq), mx = (float)max_norm;
    s.div = norm > mx ? __fdiv_rn(norm, mx) : 1.f;
    s.b1 = (float)beta1, s.w1 = (float)__dsub_rn(1.0, beta1);
    s.b2 = (float)beta2, s.w2 = (float)__dsub_rn(1.0, beta2);
    s.eps = (float)eps;
    s.bc1 = (float)__dsub_rn(1.0, pow(beta1, t));
    s.bc2_sqrt = (float)sqrt(__dsub_rn(1.0, pow(beta2, t)));
    s.wd = (float)weight_decay;
    return s;
}

/* The direction from the updated moments and the parameter before its update (cpu_gradnorm.c's lamb_dir). */
TGC_K_DEV float tgc_k_lamb_dir(float m, float v, float p, tgc_k_lamb_scalars s) {
    float u = __fdiv_rn(__fdiv_rn(m, s.bc1), __fadd_rn(__fdiv_rn(__fsqrt_rn(v), s.bc2_sqrt), s.eps));
    if (s.wd != 0.f) u = (float)__dadd_rn((double)u, __dmul_rn((double)s.wd, (double)p));
    return u;
}

/* Lamb, part 1: the moments, and per block the sums of p^2 and u^2 (geometry: tgc_k_geom_blocks(a.blocks)). */
TGC_KERNEL(tgc_k_lamb_moments, tgc_k_lamb_args, a, TGC_K_THREADS) {
    TGC_SHARED(double, sh, 32);
    const tgc_k_lamb_scalars s = tgc_k_lamb_prepare(a.step, a.gsq, a.beta1, a.beta2, a.eps, a.weight_decay, a.max_norm);
    double pp = 0, uu = 0;
    for (int64_t i = tgc_k_gtid(); i < a.n; i += tgc_k_gstride()) {
        const float g = __fdiv_rn(a.g[i], s.div);
        const float m = (float)__dadd_rn((double)__fmul_rn(a.m[i], s.b1), __dmul_rn((double)s.w1, (double)g));
        const float v = (float)__dadd_rn((double)__fmul_rn(a.v[i], s.b2), __dmul_rn((double)s.w2, (double)__fmul_rn(g, g)));
        a.m[i] = m;
        a.v[i] = v;
        const float p = a.p[i], u = tgc_k_lamb_dir(m, v, p, s);
        pp = __dadd_rn(pp, __dmul_rn((double)p, (double)p));
        uu = __dadd_rn(uu, __dmul_rn((double)u, (double)u));
    }
    pp = tgc_k_block_sum(pp, sh);
    uu = tgc_k_block_sum(uu, sh);
    if (threadIdx.x == 0) a.part[2 * blockIdx.x] = pp, a.part[2 * blockIdx.x + 1] = uu;
}

/* Lamb, part 2: the trust ratio from the parts, then p -= lr * trust * u (geometry: tgc_k_geom_elems(n)). */
TGC_KERNEL(tgc_k_lamb_apply, tgc_k_lamb_args, a, TGC_K_THREADS) {
    const tgc_k_lamb_scalars s = tgc_k_lamb_prepare(a.step, a.gsq, a.beta1, a.beta2, a.eps, a.weight_decay, a.max_norm);
    float trust = 1.f;
    if (a.weight_decay != 0 || a.always_adapt) {
        double pp = 0, uu = 0;
        for (int32_t b = 0; b < a.blocks; b++) pp = __dadd_rn(pp, a.part[2 * b]), uu = __dadd_rn(uu, a.part[2 * b + 1]);
        const float wn = (float)sqrt(pp), un = (float)sqrt(uu);
        trust = wn > 0 && un > 0 ? __fdiv_rn(wn, un) : 1.f;
        if (a.trust_clip && trust > 1.f) trust = 1.f;
    }
    const float step = (float)-__dmul_rn((double)*a.lr, a.alpha);
    for (int64_t i = tgc_k_gtid(); i < a.n; i += tgc_k_gstride()) {
        const float p = a.p[i], u = __fmul_rn(tgc_k_lamb_dir(a.m[i], a.v[i], p, s), trust);
        a.p[i] = (float)__dadd_rn((double)p, __dmul_rn((double)step, (double)u));
    }
}

#endif
