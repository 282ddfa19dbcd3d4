/* backend/cuda/kernels/retina.cuh - RetinaNet's dense ops as backend/cpu/cpu_det.c and cpu_bn.c compute them:
 * upsample_nearest (+bwd), to_nhwc / to_nchw, concat (+bwd), sigmoid_focal_loss (+bwd), l1_loss_pos (+bwd),
 * batch_norm_eval_bwd. The copies and gathers equal the CPU bit for bit (the upsampling backward adds each
 * dx element's dy elements in the CPU's order, in double, without atomics); the losses sum each anchor row
 * in the CPU's order (one thread per row), then the rows by a fixed tree in one block, so only that last
 * order differs from the CPU's sequential sum. Deterministic: no atomics, nothing depends on the grid. */
#ifndef TGC_CUDA_KERNELS_RETINA_CUH
#define TGC_CUDA_KERNELS_RETINA_CUH

#include "backend/cuda/kernels/convert.cuh"
#include "backend/cuda/kernels/kcommon.cuh"

/* PyTorch's nearest source index, as cpu_det.c's nearest_src: d / 2 for an exact 2x, else
 * floor(d * (float)in / out) in float, clamped to in - 1. */
TGC_K_DEV int32_t tgc_k_nearest_src(int32_t d, int32_t in, int32_t out) {
    if (out == 2 * in) return d >> 1;
    if (out == in) return d;
    const float scale = __fdiv_rn((float)in, (float)out);
    const int32_t s = (int32_t)floorf(__fmul_rn((float)d, scale));
    return s < in - 1 ? s : in - 1;
}

/* The first output index whose source is >= r (out for r >= in): src is non-decreasing, so the outputs that
 * read source r are [first(r), first(r + 1)). Starts at the exact ratio's estimate and walks a few steps. */
TGC_K_DEV int32_t tgc_k_nearest_first(int32_t r, int32_t in, int32_t out) {
    if (r <= 0) return 0;
    if (r >= in) return out;
    int32_t i = (int32_t)(((int64_t)r * out) / in);
    if (i > out) i = out;
    while (i > 0 && tgc_k_nearest_src(i - 1, in, out) >= r) i--;
    while (i < out && tgc_k_nearest_src(i, in, out) < r) i++;
    return i;
}

/* geometry: tgc_k_geom_planes(planes, H * W) */
TGC_KERNEL(tgc_k_upsample_nearest, tgc_k_up_args, a, TGC_K_THREADS) {
    const int32_t hw = a.h * a.w, HW = a.H * a.W;
    for (int64_t p = blockIdx.y; p < a.planes; p += gridDim.y) {
        const float *x = a.x + p * hw;
        float *y = a.y + p * HW;
        for (int32_t q = blockIdx.x * blockDim.x + threadIdx.x; q < HW; q += gridDim.x * blockDim.x) {
            const int32_t i = q / a.W, j = q - i * a.W;
            y[q] = x[tgc_k_nearest_src(i, a.h, a.H) * a.w + tgc_k_nearest_src(j, a.w, a.W)];
        }
    }
}

/* x = dy [planes, H, W], y = dx [planes, h, w]; geometry: tgc_k_geom_planes(planes, h * w) */
TGC_KERNEL(tgc_k_upsample_nearest_bwd, tgc_k_up_args, a, TGC_K_THREADS) {
    const int32_t hw = a.h * a.w, HW = a.H * a.W;
    for (int64_t p = blockIdx.y; p < a.planes; p += gridDim.y) {
        const float *dy = a.x + p * HW;
        float *dx = a.y + p * hw;
        for (int32_t q = blockIdx.x * blockDim.x + threadIdx.x; q < hw; q += gridDim.x * blockDim.x) {
            const int32_t r = q / a.w, c = q - r * a.w;
            const int32_t i0 = tgc_k_nearest_first(r, a.h, a.H), i1 = tgc_k_nearest_first(r + 1, a.h, a.H);
            const int32_t j0 = tgc_k_nearest_first(c, a.w, a.W), j1 = tgc_k_nearest_first(c + 1, a.w, a.W);
            double acc = 0;
            for (int32_t i = i0; i < i1; i++)
                for (int32_t j = j0; j < j1; j++) acc = __dadd_rn(acc, (double)dy[i * a.W + j]);
            dx[q] = (float)acc;
        }
    }
}

/* y[n, r, i] = x[n, i, r]: each block moves 32 x 32 tiles (rows i of x, columns r) through shared memory, padded
 * to 33 columns so neither the loads nor the stores conflict; every loop bound is uniform over the block, so
 * every thread reaches each barrier. geometry: tgc_k_geom_transpose(n, a, b) */
TGC_KERNEL(tgc_k_transpose, tgc_k_tr_args, a, TGC_K_THREADS) TGC_K_TRANSPOSE_TILES(float)

/* geometry: tgc_k_geom_planes(outer, la + lb) */
TGC_KERNEL(tgc_k_concat, tgc_k_cat_args, a, TGC_K_THREADS) {
    const int64_t len = a.la + a.lb;
    for (int64_t o = blockIdx.y; o < a.outer; o += gridDim.y) {
        float *y = a.y + o * len;
        const float *pa = a.a + o * a.la, *pb = a.b + o * a.lb;
        for (int64_t q = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; q < len; q += (int64_t)gridDim.x * blockDim.x)
            y[q] = q < a.la ? pa[q] : pb[q - a.la];
    }
}

/* geometry: tgc_k_geom_planes(outer, la + lb) */
TGC_KERNEL(tgc_k_concat_bwd, tgc_k_cat_args, a, TGC_K_THREADS) {
    const int64_t len = a.la + a.lb;
    for (int64_t o = blockIdx.y; o < a.outer; o += gridDim.y) {
        const float *dy = a.dy + o * len;
        float *da = a.da + o * a.la, *db = a.db + o * a.lb;
        for (int64_t q = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; q < len; q += (int64_t)gridDim.x * blockDim.x) {
            if (q < a.la) da[q] = dy[q];
            else db[q - a.la] = dy[q];
        }
    }
}

/* log(1 + exp(x)) without overflow, as cpu_det.c's softplus. */
TGC_K_DEV double tgc_k_softplus(double x) { return x > 0 ? __dadd_rn(x, log1p(exp(-x))) : log1p(exp(x)); }

/* dscale = alpha / avg_factor (NaN unless avg_factor > 0, which the CPU refuses otherwise). */
TGC_K_DEV double tgc_k_anchor_dscale(double alpha, const float *avg_factor) {
    const float f = *avg_factor;
    return f > 0 ? __ddiv_rn(alpha, (double)f) : NAN;
}

/* Forward, part 1 of sigmoid_focal_loss: a.row_loss[r] (geometry: tgc_k_geom_elems(rows)). */
TGC_KERNEL(tgc_k_focal_rows, tgc_k_anchor_loss_args, a, TGC_K_THREADS) {
    const double na = __dsub_rn(1.0, a.focal_alpha);
    for (int64_t r = tgc_k_gtid(); r < a.rows; r += tgc_k_gstride()) {
        const int32_t t = a.cls[r];
        const float *x = a.x + r * a.k;
        double s = 0;
        if (t < -1 || t > a.classes) s = NAN;
        else if (t >= 0)
            for (int64_t c = 0; c < a.k; c++) {
                const double v = x[c], p = __ddiv_rn(1.0, __dadd_rn(1.0, exp(-v)));
                const double w = c == t ? __dmul_rn(a.focal_alpha, pow(__dsub_rn(1.0, p), a.gamma))
                                        : __dmul_rn(na, pow(p, a.gamma));
                s = __dadd_rn(s, __dmul_rn(w, tgc_k_softplus(c == t ? -v : v)));
            }
        a.row_loss[r] = s;
    }
}

/* Forward, part 1 of l1_loss_pos: a.row_loss[r] (geometry: tgc_k_geom_elems(rows)). */
TGC_KERNEL(tgc_k_l1_rows, tgc_k_anchor_loss_args, a, TGC_K_THREADS) {
    for (int64_t r = tgc_k_gtid(); r < a.rows; r += tgc_k_gstride()) {
        const int32_t t = a.cls[r];
        const float *x = a.x + r * a.k, *y = a.t + r * a.k;
        double s = 0;
        if (t < -1 || t > a.classes) s = NAN;
        else if (t >= 0 && t < a.classes)
            for (int64_t q = 0; q < a.k; q++) s = __dadd_rn(s, fabs(__dsub_rn((double)x[q], (double)y[q])));
        a.row_loss[r] = s;
    }
}

/* Forward, part 2 of both: *a.loss = alpha / avg_factor * the sum of row_loss (geometry: tgc_k_geom_one_block()). */
TGC_KERNEL(tgc_k_anchor_loss_sum, tgc_k_anchor_loss_args, a, TGC_K_THREADS) {
    TGC_SHARED(double, sh, 32);
    double s = 0;
    for (int64_t r = threadIdx.x; r < a.rows; r += blockDim.x) s = __dadd_rn(s, a.row_loss[r]);
    s = tgc_k_block_sum(s, sh);
    if (threadIdx.x == 0 && blockIdx.x == 0) *a.loss = (float)__dmul_rn(tgc_k_anchor_dscale(a.alpha, a.avg_factor), s);
}

/* sigmoid_focal_loss_bwd: a.dx (geometry: tgc_k_geom_elems(rows * k)). */
TGC_KERNEL(tgc_k_focal_bwd, tgc_k_anchor_loss_args, a, TGC_K_THREADS) {
    const double dscale = __dmul_rn(tgc_k_anchor_dscale(a.alpha, a.avg_factor), (double)*a.dloss);
    const double na = __dsub_rn(1.0, a.focal_alpha);
    const int64_t n = a.rows * a.k;
    for (int64_t e = tgc_k_gtid(); e < n; e += tgc_k_gstride()) {
        const int64_t r = e / a.k, c = e - r * a.k;
        const int32_t t = a.cls[r];
        const double v = a.x[e], p = __ddiv_rn(1.0, __dadd_rn(1.0, exp(-v))), q = __dsub_rn(1.0, p);
        double g = 0;
        if (t < -1 || t > a.classes) g = NAN;
        else if (t < 0) g = 0;
        else if (c == t)
            g = __dmul_rn(__dmul_rn(a.focal_alpha, pow(q, a.gamma)),
                          __dsub_rn(__dmul_rn(__dmul_rn(-a.gamma, p), tgc_k_softplus(-v)), q));
        else
            g = __dmul_rn(__dmul_rn(na, pow(p, a.gamma)),
                          __dadd_rn(p, __dmul_rn(__dmul_rn(a.gamma, q), tgc_k_softplus(v))));
        a.dx[e] = (float)__dmul_rn(dscale, g);
    }
}

/* l1_loss_pos_bwd: a.dx = +-dloss * alpha / avg_factor where pred != target on positive rows (geometry:
 * tgc_k_geom_elems(rows * k)). */
TGC_KERNEL(tgc_k_l1_bwd, tgc_k_anchor_loss_args, a, TGC_K_THREADS) {
    const double dscale = __dmul_rn(tgc_k_anchor_dscale(a.alpha, a.avg_factor), (double)*a.dloss);
    const int64_t n = a.rows * a.k;
    for (int64_t e = tgc_k_gtid(); e < n; e += tgc_k_gstride()) {
        const int32_t t = a.cls[e / a.k];
        const float d = __fsub_rn(a.x[e], a.t[e]);
        if (t < -1 || t > a.classes) a.dx[e] = NAN;
        else a.dx[e] = t >= 0 && t < a.classes && d != 0 ? (float)(d > 0 ? dscale : -dscale) : 0.0f;
    }
}

/* batch_norm_eval_bwd, one block per channel, the threads walking its n * s elements as bias_grad_planes does
 * (geometry: tgc_k_geom_bias_grad(0, c)). */
TGC_KERNEL(tgc_k_bn_eval_bwd, tgc_k_bn_eval_bwd_args, a, TGC_K_THREADS) {
    TGC_SHARED(double, sh, 32);
    const int64_t nt = blockDim.x, step_o = nt / a.s, step_i = nt % a.s;
    for (int64_t ch = blockIdx.x; ch < a.c; ch += gridDim.x) {
        const double inv = __ddiv_rn(1.0, sqrt(__dadd_rn((double)a.var[ch], a.eps))), m = a.mean[ch];
        const float f = (float)__dmul_rn((double)a.gamma[ch], inv);
        int64_t o = threadIdx.x / a.s, i = threadIdx.x % a.s;
        double sg = 0, sb = 0;
        while (o < a.n) {
            const int64_t k = (o * a.c + ch) * a.s + i;
            const float dyk = tgc_k_ldf(a.dy, a.dtype, k);
            const double d = dyk;
            sb = __dadd_rn(sb, d);
            sg = __dadd_rn(sg, __dmul_rn(__dmul_rn(d, __dsub_rn((double)tgc_k_ldf(a.x, a.dtype, k), m)), inv));
            tgc_k_stf(a.dx, a.dtype, k, __fmul_rn(dyk, f));
            o += step_o, i += step_i;
            if (i >= a.s) i -= a.s, o++;
        }
        sg = tgc_k_block_sum(sg, sh);
        sb = tgc_k_block_sum(sb, sh);
        if (threadIdx.x == 0) {
            a.dgamma[ch] = (float)sg;
            a.dbeta[ch] = (float)sb;
        }
    }
}

#endif
