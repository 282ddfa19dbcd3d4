/* backend/cuda/kernels/frcnn.cuh - Faster R-CNN's ops: anchor_decode (the RPN's anchors at top-k indices,
 * decoded as box_decode), class_box_targets, softmax_cross_entropy_masked (forward, backward), as
 * backend/cpu/cpu_roi.c and cpu_loss.c compute them, and accuracy_masked (the R-CNN head's logged `acc`). anchor_decode and class_box_targets equal the CPU bit for
 * bit; the masked cross-entropy's rows are summed by one warp each and the mean by one block in a fixed order
 * (as loss.cuh's softmax cross-entropy), so it agrees to rounding. Deterministic: no atomics. kargs.h gives
 * each kernel's arguments and geometry. */
#ifndef TGC_CUDA_KERNELS_FRCNN_CUH
#define TGC_CUDA_KERNELS_FRCNN_CUH

#include "backend/cuda/kernels/det.cuh"
#include "backend/cuda/kernels/loss.cuh"

TGC_KERNEL(tgc_k_anchor_decode, tgc_k_anchor_args, a, TGC_K_THREADS) {
    for (int64_t i = tgc_k_gtid(); i < a.count; i += tgc_k_gstride()) {
        const int32_t ix = a.idx[i];
        float *b = a.boxes + i * 4;
        if (ix < -1 || ix >= a.n_anchors) {
            b[0] = b[1] = b[2] = b[3] = NAN;
            a.out_scores[i] = NAN;
            continue;
        }
        if (ix == -1) {
            b[0] = b[1] = b[2] = b[3] = 0.f;
            a.out_scores[i] = -INFINITY;
            continue;
        }
        const int64_t cell = ix / a.n_base, q = ix % a.n_base;
        const float sx = __fmul_rn((float)(cell % a.grid_w), a.stride_w), sy = __fmul_rn((float)(cell / a.grid_w), a.stride_h);
        const float *bs = a.base + 4 * q;
        float an[4] = {__fadd_rn(bs[0], sx), __fadd_rn(bs[1], sy), __fadd_rn(bs[2], sx), __fadd_rn(bs[3], sy)};
        tgc_k_delta_decode(an, a.deltas + i * 4, a.img_shape + (i / a.per_image) * 2, a.means, a.stds, a.max_ratio, a.clip, b);
        const float w = __fsub_rn(b[2], b[0]), h = __fsub_rn(b[3], b[1]);
        a.out_scores[i] = w > a.min_size && h > a.min_size ? a.scores[i] : -INFINITY;
    }
}

TGC_KERNEL(tgc_k_class_box_targets, tgc_k_cbt_args, a, TGC_K_THREADS) {
    const int64_t width = a.classes * a.d, total = a.n * width;
    if (tgc_k_gtid() == 0) {
        int64_t counted = 0;
        for (int64_t r = 0; r < a.n; r++) counted += a.labels[r] >= 0;
        *a.avg = (float)(counted > 0 ? counted : 1);
    }
    for (int64_t e = tgc_k_gtid(); e < total; e += tgc_k_gstride()) {
        const int64_t r = e / width, col = e % width;
        const int32_t l = a.labels[r];
        const int on = l >= 0 && l < a.classes && col / a.d == l;
        a.y[e] = on ? a.t[r * a.d + col % a.d] : 0.f;
        a.w[e] = l > a.classes ? NAN : on ? 1.f : 0.f;
    }
}

/* Forward, part 1: a.row_loss[r] (geometry: tgc_k_geom_warp_rows(n)). */
TGC_KERNEL(tgc_k_softmax_ce_masked_rows, tgc_k_ce_args, a, TGC_K_THREADS) {
    const unsigned lane = threadIdx.x & 31u;
    const int64_t warps = (int64_t)gridDim.x * (blockDim.x >> 5);
    for (int64_t r = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); r < a.n; r += warps) {
        const float *x = a.x + r * a.c;
        const int32_t y = a.y[r];
        if (y == -1) { /* a padding row: no term (every lane agrees: no warp sum below) */
            if (lane == 0) a.row_loss[r] = 0;
            continue;
        }
        const double lse = tgc_k_warp_row_lse(x, a.c, lane);
        if (lane == 0) a.row_loss[r] = y < 0 || y >= a.c ? NAN : __dsub_rn(lse, (double)x[y]);
    }
}

/* Forward, part 2: *a.loss = alpha * sum(row_loss) / max(rows with y >= 0, 1) (geometry: tgc_k_geom_one_block()). */
TGC_KERNEL(tgc_k_softmax_ce_masked_mean, tgc_k_ce_args, a, TGC_K_THREADS) {
    TGC_SHARED(double, sh, 32);
    double s = 0, cnt = 0;
    for (int64_t r = threadIdx.x; r < a.n; r += blockDim.x) s += a.row_loss[r];
    s = tgc_k_block_sum(s, sh);
    for (int64_t r = threadIdx.x; r < a.n; r += blockDim.x) cnt += a.y[r] >= 0 ? 1.0 : 0.0;
    cnt = tgc_k_block_sum(cnt, sh);
    if (threadIdx.x == 0 && blockIdx.x == 0) *a.loss = (float)__ddiv_rn(__dmul_rn(a.alpha, s), cnt > 0 ? cnt : 1.0);
}

/* Backward: a.dx (geometry: tgc_k_geom_warp_rows(n)); each warp counts the rows itself (the normaliser). */
TGC_KERNEL(tgc_k_softmax_ce_masked_bwd, tgc_k_ce_args, a, TGC_K_THREADS) {
    const unsigned lane = threadIdx.x & 31u;
    const int64_t warps = (int64_t)gridDim.x * (blockDim.x >> 5);
    double cnt = 0;
    for (int64_t r = lane; r < a.n; r += 32) cnt += a.y[r] >= 0 ? 1.0 : 0.0;
    cnt = tgc_k_warp_sum(cnt);
    const double dscale = __ddiv_rn(__dmul_rn((double)*a.dloss, a.alpha), cnt > 0 ? cnt : 1.0);
    for (int64_t r = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); r < a.n; r += warps) {
        const float *x = a.x + r * a.c;
        float *dx = a.dx + r * a.c;
        const int32_t y = a.y[r];
        if (y == -1) {
            for (int64_t j = lane; j < a.c; j += 32) dx[j] = 0.f;
            continue;
        }
        const double lse = tgc_k_warp_row_lse(x, a.c, lane);
        const int bad = y < 0 || y >= a.c;
        for (int64_t j = lane; j < a.c; j += 32)
            dx[j] = bad ? NAN : (float)__dmul_rn(dscale, __dsub_rn(exp((double)x[j] - lse), j == y ? 1.0 : 0.0));
    }
}

/* accuracy_masked: *a.loss = 100 * correct / max(rows with y >= 0, 1) (geometry: tgc_k_geom_one_block()); each
 * thread takes rows in turn, the row's first maximum as the CPU finds it; the counts are exact in double. */
TGC_KERNEL(tgc_k_accuracy_masked, tgc_k_ce_args, a, TGC_K_THREADS) {
    TGC_SHARED(double, sh, 32);
    double correct = 0, cnt = 0;
    for (int64_t r = threadIdx.x; r < a.n; r += blockDim.x) {
        const int32_t y = a.y[r];
        if (y < 0) continue;
        const float *x = a.x + r * a.c;
        int64_t best = 0;
        for (int64_t q = 1; q < a.c; q++)
            if (x[q] > x[best]) best = q;
        correct += best == y ? 1.0 : 0.0;
        cnt += 1.0;
    }
    correct = tgc_k_block_sum(correct, sh);
    cnt = tgc_k_block_sum(cnt, sh);
    if (threadIdx.x == 0 && blockIdx.x == 0) *a.loss = (float)__ddiv_rn(__dmul_rn(100.0, correct), cnt > 0 ? cnt : 1.0);
}

#endif
