/* backend/cuda/kernels/loss.cuh - softmax cross-entropy with label smoothing, forward and backward, as
 * backend/cpu/cpu_loss.c computes it: with q = (1-s)*onehot(y) + s/C,
 *   row loss = lse - (1-s)*x_y - (s/C)*sum_c x_c,  loss = alpha * mean(row losses)
 *   dx_c = dloss*alpha/N * (exp(x_c - lse) - q_c)
 * lse max-shifted, everything in double. One warp per row (lanes stride the classes, butterfly sums), so
 * only the order of each row's sums differs from the CPU's sequential one; the mean is a second kernel, one
 * block adding the per-row losses (kept in a workspace) in a fixed order. Deterministic: no atomics.
 * Soft targets (softmax_cross_entropy_soft, its _bwd), with q_c = (1-s)*t_c + s/C:
 *   row loss = lse * sum_c q_c - sum_c q_c x_c,   dx_c = dloss*alpha/N * (exp(x_c - lse) * sum_c q_c - q_c) */
#ifndef TGC_CUDA_KERNELS_LOSS_CUH
#define TGC_CUDA_KERNELS_LOSS_CUH

#include "backend/cuda/kernels/kcommon.cuh"

/* cpu_loss.c's row_lse, by the 32 lanes of a warp (lane = this thread's); every lane gets it. */
TGC_K_DEV double tgc_k_warp_row_lse(const float *x, int64_t c, unsigned lane) {
    double m = -INFINITY;
    for (int64_t j = lane; j < c; j += 32)
        if (x[j] > m) m = x[j];
    m = tgc_k_warp_max(m);
    if (isinf(m)) return m; /* all -inf (or +inf present): the loss is not finite either way */
    double s = 0;
    for (int64_t j = lane; j < c; j += 32) s += exp((double)x[j] - m);
    s = tgc_k_warp_sum(s);
    return m + log(s);
}

/* Forward, part 1: a.row_loss[r] for every row r (geometry: tgc_k_geom_warp_rows(n)). */
TGC_KERNEL(tgc_k_softmax_ce_rows, tgc_k_ce_args, a, TGC_K_THREADS) {
    const unsigned lane = threadIdx.x & 31u;
    const int64_t warps = (int64_t)gridDim.x * (blockDim.x >> 5);
    for (int64_t r = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); r < a.n; r += warps) {
        const float *x = a.x + r * a.c;
        double lse = tgc_k_warp_row_lse(x, a.c, lane), sum = 0;
        for (int64_t j = lane; j < a.c; j += 32) sum += x[j];
        sum = tgc_k_warp_sum(sum);
        if (lane == 0) {
            int32_t y = a.y[r];
            a.row_loss[r] = y < 0 || y >= a.c
                                ? NAN
                                : __dsub_rn(__dsub_rn(lse, __dmul_rn(__dsub_rn(1.0, a.smooth), (double)x[y])),
                                            __dmul_rn(__ddiv_rn(a.smooth, (double)a.c), sum));
        }
    }
}

/* Forward, part 2: *a.loss = alpha * sum(row_loss) / n (geometry: tgc_k_geom_one_block()). */
TGC_KERNEL(tgc_k_softmax_ce_mean, tgc_k_ce_args, a, TGC_K_THREADS) {
    TGC_SHARED(double, sh, 32);
    double s = 0;
    for (int64_t r = threadIdx.x; r < a.n; r += blockDim.x) s += a.row_loss[r];
    s = tgc_k_block_sum(s, sh);
    if (threadIdx.x == 0 && blockIdx.x == 0) *a.loss = (float)__ddiv_rn(__dmul_rn(a.alpha, s), (double)a.n);
}

/* Backward: a.dx (geometry: tgc_k_geom_warp_rows(n)). */
TGC_KERNEL(tgc_k_softmax_ce_bwd, tgc_k_ce_args, a, TGC_K_THREADS) {
    const unsigned lane = threadIdx.x & 31u;
    const int64_t warps = (int64_t)gridDim.x * (blockDim.x >> 5);
    const double dscale = __ddiv_rn(__dmul_rn((double)*a.dloss, a.alpha), (double)a.n);
    const double q0 = __ddiv_rn(a.smooth, (double)a.c), q1 = __dadd_rn(q0, __dsub_rn(1.0, a.smooth));
    for (int64_t r = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); r < a.n; r += warps) {
        const float *x = a.x + r * a.c;
        float *dx = a.dx + r * a.c;
        const double lse = tgc_k_warp_row_lse(x, a.c, lane);
        const int32_t y = a.y[r];
        const int bad = y < 0 || y >= a.c;
        for (int64_t j = lane; j < a.c; j += 32)
            dx[j] = bad ? NAN : (float)__dmul_rn(dscale, __dsub_rn(exp((double)x[j] - lse), j == y ? q1 : q0));
    }
}

/* Soft targets, forward part 1: a.row_loss[r] from a.x and a.t (then tgc_k_softmax_ce_mean). */
TGC_KERNEL(tgc_k_softmax_ce_soft_rows, tgc_k_ce_args, a, TGC_K_THREADS) {
    const unsigned lane = threadIdx.x & 31u;
    const int64_t warps = (int64_t)gridDim.x * (blockDim.x >> 5);
    const double q0 = __ddiv_rn(a.smooth, (double)a.c), s1 = __dsub_rn(1.0, a.smooth);
    for (int64_t r = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); r < a.n; r += warps) {
        const float *x = a.x + r * a.c, *t = a.t + r * a.c;
        double lse = tgc_k_warp_row_lse(x, a.c, lane), qsum = 0, qx = 0;
        for (int64_t j = lane; j < a.c; j += 32) {
            const double q = __dadd_rn(__dmul_rn(s1, (double)t[j]), q0);
            qsum += q;
            qx = __dadd_rn(qx, __dmul_rn(q, (double)x[j]));
        }
        qsum = tgc_k_warp_sum(qsum);
        qx = tgc_k_warp_sum(qx);
        if (lane == 0) a.row_loss[r] = __dsub_rn(__dmul_rn(lse, qsum), qx);
    }
}

/* Soft targets, backward: a.dx (geometry: tgc_k_geom_warp_rows(n)). */
TGC_KERNEL(tgc_k_softmax_ce_soft_bwd, tgc_k_ce_args, a, TGC_K_THREADS) {
    const unsigned lane = threadIdx.x & 31u;
    const int64_t warps = (int64_t)gridDim.x * (blockDim.x >> 5);
    const double dscale = __ddiv_rn(__dmul_rn((double)*a.dloss, a.alpha), (double)a.n);
    const double q0 = __ddiv_rn(a.smooth, (double)a.c), s1 = __dsub_rn(1.0, a.smooth);
    for (int64_t r = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); r < a.n; r += warps) {
        const float *x = a.x + r * a.c, *t = a.t + r * a.c;
        float *dx = a.dx + r * a.c;
        const double lse = tgc_k_warp_row_lse(x, a.c, lane);
        double qsum = 0;
        for (int64_t j = lane; j < a.c; j += 32) qsum += __dadd_rn(__dmul_rn(s1, (double)t[j]), q0);
        qsum = tgc_k_warp_sum(qsum);
        for (int64_t j = lane; j < a.c; j += 32) {
            const double q = __dadd_rn(__dmul_rn(s1, (double)t[j]), q0);
            dx[j] = (float)__dmul_rn(dscale, __dsub_rn(__dmul_rn(exp((double)x[j] - lse), qsum), q));
        }
    }
}

/* ---- sigmoid binary cross-entropy (use_sigmoid), as cpu_loss.c: per element, with q = (1-s)*t + s/C (t the
 * one-hot of y[r], or the soft target), max(x, 0) - x*q + log1p(exp(-|x|)); the mean over n*c;
 * dx = dloss*alpha/(n*c) * (sigmoid(x) - q). One warp per row as above. */

TGC_K_DEV double tgc_k_bce_q(const float *t, int32_t y, int64_t j, double s1, double q0) {
    const double tj = t ? (double)t[j] : (j == y ? 1.0 : 0.0);
    return __dadd_rn(__dmul_rn(s1, tj), q0);
}

/* Forward, part 1: a.row_loss[r] (geometry: tgc_k_geom_warp_rows(n)). */
TGC_KERNEL(tgc_k_sigmoid_bce_rows, tgc_k_ce_args, a, TGC_K_THREADS) {
    const unsigned lane = threadIdx.x & 31u;
    const int64_t warps = (int64_t)gridDim.x * (blockDim.x >> 5);
    const double q0 = __ddiv_rn(a.smooth, (double)a.c), s1 = __dsub_rn(1.0, a.smooth);
    for (int64_t r = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); r < a.n; r += warps) {
        const float *x = a.x + r * a.c, *t = a.t ? a.t + r * a.c : NULL;
        const int32_t y = a.t ? 0 : a.y[r];
        double sum = 0;
        for (int64_t j = lane; j < a.c; j += 32) {
            const double v = x[j], av = v < 0 ? -v : v;
            sum = __dadd_rn(sum, __dadd_rn(__dsub_rn(v > 0 ? v : 0.0, __dmul_rn(v, tgc_k_bce_q(t, y, j, s1, q0))),
                                           log1p(exp(-av))));
        }
        sum = tgc_k_warp_sum(sum);
        if (lane == 0) a.row_loss[r] = !a.t && (y < 0 || y >= a.c) ? NAN : sum;
    }
}

/* Forward, part 2: *a.loss = alpha * sum(row_loss) / (n c) (geometry: tgc_k_geom_one_block()). */
TGC_KERNEL(tgc_k_sigmoid_bce_mean, tgc_k_ce_args, a, TGC_K_THREADS) {
    TGC_SHARED(double, sh, 32);
    double s = 0;
    for (int64_t r = threadIdx.x; r < a.n; r += blockDim.x) s += a.row_loss[r];
    s = tgc_k_block_sum(s, sh);
    if (threadIdx.x == 0 && blockIdx.x == 0)
        *a.loss = (float)__ddiv_rn(__dmul_rn(a.alpha, s), __dmul_rn((double)a.n, (double)a.c));
}

/* Backward: a.dx (geometry: tgc_k_geom_warp_rows(n)). */
TGC_KERNEL(tgc_k_sigmoid_bce_bwd, tgc_k_ce_args, a, TGC_K_THREADS) {
    const unsigned lane = threadIdx.x & 31u;
    const int64_t warps = (int64_t)gridDim.x * (blockDim.x >> 5);
    const double dscale = __ddiv_rn(__dmul_rn((double)*a.dloss, a.alpha), __dmul_rn((double)a.n, (double)a.c));
    const double q0 = __ddiv_rn(a.smooth, (double)a.c), s1 = __dsub_rn(1.0, a.smooth);
    for (int64_t r = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); r < a.n; r += warps) {
        const float *x = a.x + r * a.c, *t = a.t ? a.t + r * a.c : NULL;
        float *dx = a.dx + r * a.c;
        const int32_t y = a.t ? 0 : a.y[r];
        const int bad = !a.t && (y < 0 || y >= a.c);
        for (int64_t j = lane; j < a.c; j += 32) {
            const double v = x[j];
            const double sig = v >= 0 ? __ddiv_rn(1.0, __dadd_rn(1.0, exp(-v))) : __ddiv_rn(exp(v), __dadd_rn(1.0, exp(v)));
            dx[j] = bad ? NAN : (float)__dmul_rn(dscale, __dsub_rn(sig, tgc_k_bce_q(t, y, j, s1, q0)));
        }
    }
}

#endif
