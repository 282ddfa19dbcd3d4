/* backend/cuda/kernels/optim.cuh - the optimizer updates as multi-tensor kernels, one launch per packed
 * tgc_mt_list of an optimizer group (multi_tensor.h), with backend/cpu/cpu_optim.c's arithmetic exactly:
 *
 *   sgd_update:           p -= lr * (g + wd*p)
 *   sgd_momentum_update:  d = g + wd*p; if momentum != 0: buf = (step 1 ? d : momentum*buf + (1-dampening)*d),
 *                         d = nesterov ? d + momentum*buf : buf; p -= lr*d
 *   adamw_update:         p *= 1 - lr*wd; m += (1-b1)*(g-m); v = b2*v + (1-b2)*g*g;
 *                         p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
 *   adam_update:          g = (float)(g + wd*p in double); then adamw's m, v and p update without the decay
 *   rmsprop_update:       g as adam; sq = a*sq + (1-a)*g*g (a = beta2); r = g / (sqrt(sq) + eps);
 *                         if momentum != 0: buf = momentum*buf + r, r = buf; p -= lr*r
 *   ema_update:           ema += momentum * (param - ema)   (operands ema, param; no lr)
 *
 * lr = (float)(lr_input * alpha); the per-step scalars in double, rounded once to float (1 - beta in double,
 * as PyTorch passes them); element updates in float, each operation rounded (no FMA), in the CPU's order,
 * so a GPU update equals the CPU's bit for bit where CUDA's pow (AdamW's bias corrections, <= 2 ulp in
 * double) rounds to the same float as glibc's. Every thread recomputes the scalars from the device lr/step
 * (a few double operations), so no launch waits on the host.
 *
 * A block updates one chunk of one tensor: float4 loads and stores where the tensor's operands are all
 * 16-byte aligned (always, for a plan compiled for cuda: 256-byte slots), a scalar loop otherwise and for
 * the tail. step < 1 (refused by the CPU kernel) is not checked: the runtime counts steps from 1. */
#ifndef TGC_CUDA_KERNELS_OPTIM_CUH
#define TGC_CUDA_KERNELS_OPTIM_CUH

#include "backend/cuda/kernels/kcommon.cuh"

/* ---- per-element rules (cpu_optim.c's sgd_run, sgd_momentum_run, adamw_run) ------------------------ */

TGC_K_DEV float tgc_k_sgd_elem(float p, float g, float lr, float wd) {
    return __fsub_rn(p, __fmul_rn(lr, __fadd_rn(g, __fmul_rn(wd, p))));
}

typedef struct tgc_k_sgdm_hp {
    float lr, wd, momentum, damp1; /* damp1 = 1 - dampening, in float as the CPU */
    int nesterov, first;
} tgc_k_sgdm_hp;

TGC_K_DEV void tgc_k_sgdm_elem(float *p, float g, float *buf, tgc_k_sgdm_hp h) {
    float d = __fadd_rn(g, __fmul_rn(h.wd, *p));
    if (h.momentum != 0.f) {
        float b = h.first ? d : __fadd_rn(__fmul_rn(h.momentum, *buf), __fmul_rn(h.damp1, d));
        *buf = b;
        d = h.nesterov ? __fadd_rn(d, __fmul_rn(h.momentum, b)) : b;
    }
    *p = __fsub_rn(*p, __fmul_rn(h.lr, d));
}

typedef struct tgc_k_adamw_hp {
    float decay, b2, w1, w2, eps, step_size, bc2_sqrt;
} tgc_k_adamw_hp;

TGC_K_DEV void tgc_k_adamw_elem(float *p, float g, float *m, float *v, tgc_k_adamw_hp h) {
    float pd = __fmul_rn(*p, h.decay);
    float mn = __fadd_rn(*m, __fmul_rn(h.w1, __fsub_rn(g, *m))); /* PyTorch's lerp */
    float vn = __fadd_rn(__fmul_rn(h.b2, *v), __fmul_rn(__fmul_rn(h.w2, g), g));
    *m = mn;
    *v = vn;
    *p = __fsub_rn(pd, __fdiv_rn(__fmul_rn(h.step_size, mn), __fadd_rn(__fdiv_rn(__fsqrt_rn(vn), h.bc2_sqrt), h.eps)));
}

/* adam_update: adamw's rule on the L2-decayed gradient, no decoupled decay. The decay is added in double and
 * rounded once (the CPU's spelling of PyTorch's fused add). */
TGC_K_DEV float tgc_k_l2_grad(float g, float p, float wd) {
    return (float)__dadd_rn((double)g, __dmul_rn((double)wd, (double)p));
}

TGC_K_DEV void tgc_k_adam_elem(float *p, float g0, float *m, float *v, float wd, tgc_k_adamw_hp h) {
    const float g = tgc_k_l2_grad(g0, *p, wd);
    float mn = __fadd_rn(*m, __fmul_rn(h.w1, __fsub_rn(g, *m)));
    float vn = __fadd_rn(__fmul_rn(h.b2, *v), __fmul_rn(__fmul_rn(h.w2, g), g));
    *m = mn;
    *v = vn;
    *p = __fsub_rn(*p, __fdiv_rn(__fmul_rn(h.step_size, mn), __fadd_rn(__fdiv_rn(__fsqrt_rn(vn), h.bc2_sqrt), h.eps)));
}

typedef struct tgc_k_rmsprop_hp {
    float lr, wd, b2, w2, eps, momentum;
} tgc_k_rmsprop_hp;

TGC_K_DEV void tgc_k_rmsprop_elem(float *p, float g0, float *sq, float *buf, tgc_k_rmsprop_hp h) {
    const float g = tgc_k_l2_grad(g0, *p, h.wd);
    const float s = __fadd_rn(__fmul_rn(h.b2, *sq), __fmul_rn(__fmul_rn(h.w2, g), g));
    *sq = s;
    float r = __fdiv_rn(g, __fadd_rn(__fsqrt_rn(s), h.eps));
    if (h.momentum != 0.f) {
        r = __fadd_rn(__fmul_rn(h.momentum, *buf), r);
        *buf = r;
    }
    *p = __fsub_rn(*p, __fmul_rn(h.lr, r));
}

TGC_K_DEV float tgc_k_ema_elem(float e, float p, float momentum) {
    return __fadd_rn(e, __fmul_rn(momentum, __fsub_rn(p, e)));
}

/* ---- per-step scalars (cpu_sgd, cpu_sgd_momentum, cpu_adamw) ------------------------------------------ */

TGC_K_DEV float tgc_k_opt_lr(float lr_in, double alpha) { return (float)__dmul_rn((double)lr_in, alpha); }

TGC_K_DEV tgc_k_sgdm_hp tgc_k_sgdm_scalars(float lr_in, float step, double alpha, double wd, double momentum,
                                           double dampening, int nesterov) {
    tgc_k_sgdm_hp h;
    h.lr = tgc_k_opt_lr(lr_in, alpha);
    h.wd = (float)wd;
    h.momentum = (float)momentum;
    h.damp1 = __fsub_rn(1.f, (float)dampening);
    h.nesterov = nesterov != 0;
    h.first = step < 1.5f;
    return h;
}

TGC_K_DEV tgc_k_adamw_hp tgc_k_adamw_scalars(float lr_in, float step, double alpha, double wd, double beta1,
                                             double beta2, double eps) {
    double lr = __dmul_rn((double)lr_in, alpha), t = floor(__dadd_rn((double)step, 0.5));
    double bc1 = __dsub_rn(1.0, pow(beta1, t)), bc2 = __dsub_rn(1.0, pow(beta2, t));
    tgc_k_adamw_hp h;
    h.decay = (float)__dsub_rn(1.0, __dmul_rn(lr, wd));
    h.b2 = (float)beta2;
    h.w1 = (float)__dsub_rn(1.0, beta1);
    h.w2 = (float)__dsub_rn(1.0, beta2);
    h.eps = (float)eps;
    h.step_size = (float)__ddiv_rn(lr, bc1);
    h.bc2_sqrt = (float)__dsqrt_rn(bc2);
    return h;
}

TGC_K_DEV tgc_k_rmsprop_hp tgc_k_rmsprop_scalars(float lr_in, double alpha, double wd, double beta2, double eps,
                                                 double momentum) {
    tgc_k_rmsprop_hp h;
    h.lr = tgc_k_opt_lr(lr_in, alpha);
    h.wd = (float)wd;
    h.b2 = (float)beta2;
    h.w2 = (float)__dsub_rn(1.0, beta2);
    h.eps = (float)eps;
    h.momentum = (float)momentum;
    return h;
}

/* ---- the kernels --------------------------------------------------------------------------------------
 * Block b: tensor a.l.block_tensor[b], elements [lo, hi) of its chunk; [lo, vhi) as float4s when aligned. */

#define TGC_K_MT_RANGE(a, t, lo, hi)                                                                        \
    const int t = a.l.block_tensor[blockIdx.x];                                                            \
    const int64_t lo = (int64_t)a.l.block_chunk[blockIdx.x] * a.l.chunk;                                   \
    const int64_t hi = tgc_k_min64(lo + a.l.chunk, a.l.numel[t])

TGC_KERNEL(tgc_k_sgd, tgc_k_opt_args, a, TGC_MT_THREADS) {
    TGC_K_MT_RANGE(a, t, lo, hi);
    float *p = a.l.ptr[0][t];
    const float *g = a.l.ptr[1][t];
    const float lr = tgc_k_opt_lr(*a.lr, a.alpha), wd = (float)a.weight_decay;
    int64_t vhi = tgc_k_aligned16(p) && tgc_k_aligned16(g) ? lo + ((hi - lo) & ~(int64_t)3) : lo;
    for (int64_t i = lo + 4 * (int64_t)threadIdx.x; i < vhi; i += 4 * (int64_t)blockDim.x) {
        float4 P = tgc_k_ld4(p + i), G = tgc_k_ld4(g + i);
        P.x = tgc_k_sgd_elem(P.x, G.x, lr, wd);
        P.y = tgc_k_sgd_elem(P.y, G.y, lr, wd);
        P.z = tgc_k_sgd_elem(P.z, G.z, lr, wd);
        P.w = tgc_k_sgd_elem(P.w, G.w, lr, wd);
        tgc_k_st4(p + i, P);
    }
    for (int64_t i = vhi + threadIdx.x; i < hi; i += blockDim.x) p[i] = tgc_k_sgd_elem(p[i], g[i], lr, wd);
}

TGC_KERNEL(tgc_k_sgd_momentum, tgc_k_opt_args, a, TGC_MT_THREADS) {
    TGC_K_MT_RANGE(a, t, lo, hi);
    float *p = a.l.ptr[0][t], *buf = a.l.ptr[2][t];
    const float *g = a.l.ptr[1][t];
    const tgc_k_sgdm_hp h =
        tgc_k_sgdm_scalars(*a.lr, *a.step, a.alpha, a.weight_decay, a.momentum, a.dampening, a.nesterov);
    int64_t vhi = tgc_k_aligned16(p) && tgc_k_aligned16(g) && tgc_k_aligned16(buf) ? lo + ((hi - lo) & ~(int64_t)3)
                                                                                   : lo;
    for (int64_t i = lo + 4 * (int64_t)threadIdx.x; i < vhi; i += 4 * (int64_t)blockDim.x) {
        float4 P = tgc_k_ld4(p + i), G = tgc_k_ld4(g + i), B = tgc_k_ld4(buf + i);
        tgc_k_sgdm_elem(&P.x, G.x, &B.x, h);
        tgc_k_sgdm_elem(&P.y, G.y, &B.y, h);
        tgc_k_sgdm_elem(&P.z, G.z, &B.z, h);
        tgc_k_sgdm_elem(&P.w, G.w, &B.w, h);
        tgc_k_st4(p + i, P);
        if (h.momentum != 0.f) tgc_k_st4(buf + i, B);
    }
    for (int64_t i = vhi + threadIdx.x; i < hi; i += blockDim.x) {
        float P = p[i], B = buf[i];
        tgc_k_sgdm_elem(&P, g[i], &B, h);
        p[i] = P;
        if (h.momentum != 0.f) buf[i] = B;
    }
}

TGC_KERNEL(tgc_k_adamw, tgc_k_opt_args, a, TGC_MT_THREADS) {
    TGC_K_MT_RANGE(a, t, lo, hi);
    float *p = a.l.ptr[0][t], *m = a.l.ptr[2][t], *v = a.l.ptr[3][t];
    const float *g = a.l.ptr[1][t];
    const tgc_k_adamw_hp h =
        tgc_k_adamw_scalars(*a.lr, *a.step, a.alpha, a.weight_decay, a.beta1, a.beta2, a.eps);
    int64_t vhi = tgc_k_aligned16(p) && tgc_k_aligned16(g) && tgc_k_aligned16(m) && tgc_k_aligned16(v)
                      ? lo + ((hi - lo) & ~(int64_t)3)
                      : lo;
    for (int64_t i = lo + 4 * (int64_t)threadIdx.x; i < vhi; i += 4 * (int64_t)blockDim.x) {
        float4 P = tgc_k_ld4(p + i), G = tgc_k_ld4(g + i), M = tgc_k_ld4(m + i), V = tgc_k_ld4(v + i);
        tgc_k_adamw_elem(&P.x, G.x, &M.x, &V.x, h);
        tgc_k_adamw_elem(&P.y, G.y, &M.y, &V.y, h);
        tgc_k_adamw_elem(&P.z, G.z, &M.z, &V.z, h);
        tgc_k_adamw_elem(&P.w, G.w, &M.w, &V.w, h);
        tgc_k_st4(p + i, P);
        tgc_k_st4(m + i, M);
        tgc_k_st4(v + i, V);
    }
    for (int64_t i = vhi + threadIdx.x; i < hi; i += blockDim.x) {
        float P = p[i], M = m[i], V = v[i];
        tgc_k_adamw_elem(&P, g[i], &M, &V, h);
        p[i] = P, m[i] = M, v[i] = V;
    }
}

TGC_KERNEL(tgc_k_adam, tgc_k_opt_args, a, TGC_MT_THREADS) {
    TGC_K_MT_RANGE(a, t, lo, hi);
    float *p = a.l.ptr[0][t], *m = a.l.ptr[2][t], *v = a.l.ptr[3][t];
    const float *g = a.l.ptr[1][t];
    const tgc_k_adamw_hp h = tgc_k_adamw_scalars(*a.lr, *a.step, a.alpha, 0.0, a.beta1, a.beta2, a.eps);
    const float wd = (float)a.weight_decay;
    int64_t vhi = tgc_k_aligned16(p) && tgc_k_aligned16(g) && tgc_k_aligned16(m) && tgc_k_aligned16(v)
                      ? lo + ((hi - lo) & ~(int64_t)3)
                      : lo;
    for (int64_t i = lo + 4 * (int64_t)threadIdx.x; i < vhi; i += 4 * (int64_t)blockDim.x) {
        float4 P = tgc_k_ld4(p + i), G = tgc_k_ld4(g + i), M = tgc_k_ld4(m + i), V = tgc_k_ld4(v + i);
        tgc_k_adam_elem(&P.x, G.x, &M.x, &V.x, wd, h);
        tgc_k_adam_elem(&P.y, G.y, &M.y, &V.y, wd, h);
        tgc_k_adam_elem(&P.z, G.z, &M.z, &V.z, wd, h);
        tgc_k_adam_elem(&P.w, G.w, &M.w, &V.w, wd, h);
        tgc_k_st4(p + i, P);
        tgc_k_st4(m + i, M);
        tgc_k_st4(v + i, V);
    }
    for (int64_t i = vhi + threadIdx.x; i < hi; i += blockDim.x) {
        float P = p[i], M = m[i], V = v[i];
        tgc_k_adam_elem(&P, g[i], &M, &V, wd, h);
        p[i] = P, m[i] = M, v[i] = V;
    }
}

/* ptr[2] is square_avg, ptr[3] momentum_buffer (not read or written when momentum is 0, as on the CPU). */
TGC_KERNEL(tgc_k_rmsprop, tgc_k_opt_args, a, TGC_MT_THREADS) {
    TGC_K_MT_RANGE(a, t, lo, hi);
    float *p = a.l.ptr[0][t], *sq = a.l.ptr[2][t], *buf = a.l.ptr[3][t];
    const float *g = a.l.ptr[1][t];
    const tgc_k_rmsprop_hp h = tgc_k_rmsprop_scalars(*a.lr, a.alpha, a.weight_decay, a.beta2, a.eps, a.momentum);
    int64_t vhi = tgc_k_aligned16(p) && tgc_k_aligned16(g) && tgc_k_aligned16(sq) && tgc_k_aligned16(buf)
                      ? lo + ((hi - lo) & ~(int64_t)3)
                      : lo;
    for (int64_t i = lo + 4 * (int64_t)threadIdx.x; i < vhi; i += 4 * (int64_t)blockDim.x) {
        float4 P = tgc_k_ld4(p + i), G = tgc_k_ld4(g + i), S = tgc_k_ld4(sq + i), B = P; /* not read when momentum is 0 */
        if (h.momentum != 0.f) B = tgc_k_ld4(buf + i);
        tgc_k_rmsprop_elem(&P.x, G.x, &S.x, &B.x, h);
        tgc_k_rmsprop_elem(&P.y, G.y, &S.y, &B.y, h);
        tgc_k_rmsprop_elem(&P.z, G.z, &S.z, &B.z, h);
        tgc_k_rmsprop_elem(&P.w, G.w, &S.w, &B.w, h);
        tgc_k_st4(p + i, P);
        tgc_k_st4(sq + i, S);
        if (h.momentum != 0.f) tgc_k_st4(buf + i, B);
    }
    for (int64_t i = vhi + threadIdx.x; i < hi; i += blockDim.x) {
        float P = p[i], S = sq[i], B = h.momentum != 0.f ? buf[i] : 0.f;
        tgc_k_rmsprop_elem(&P, g[i], &S, &B, h);
        p[i] = P, sq[i] = S;
        if (h.momentum != 0.f) buf[i] = B;
    }
}

/* ptr[0] is the average (updated), ptr[1] the parameter; a.momentum the attribute; lr and step unused. */
TGC_KERNEL(tgc_k_ema, tgc_k_opt_args, a, TGC_MT_THREADS) {
    TGC_K_MT_RANGE(a, t, lo, hi);
    float *e = a.l.ptr[0][t];
    const float *p = a.l.ptr[1][t];
    const float mom = (float)a.momentum;
    int64_t vhi = tgc_k_aligned16(e) && tgc_k_aligned16(p) ? lo + ((hi - lo) & ~(int64_t)3) : lo;
    for (int64_t i = lo + 4 * (int64_t)threadIdx.x; i < vhi; i += 4 * (int64_t)blockDim.x) {
        float4 E = tgc_k_ld4(e + i), P = tgc_k_ld4(p + i);
        E.x = tgc_k_ema_elem(E.x, P.x, mom);
        E.y = tgc_k_ema_elem(E.y, P.y, mom);
        E.z = tgc_k_ema_elem(E.z, P.z, mom);
        E.w = tgc_k_ema_elem(E.w, P.w, mom);
        tgc_k_st4(e + i, E);
    }
    for (int64_t i = vhi + threadIdx.x; i < hi; i += blockDim.x) e[i] = tgc_k_ema_elem(e[i], p[i], mom);
}

#endif
