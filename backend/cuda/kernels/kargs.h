/* backend/cuda/kernels/kargs.h - what a caller of the hand-written kernels needs: each kernel's argument
 * struct (its only parameter, passed by value) and its launch geometry. Plain C that nvcc also compiles as
 * C++: the executor includes it, kernels.cu launches with it, and the host test runs the kernels through
 * the shim (kshim.h) with exactly this geometry.
 *
 * Conventions: tensors are contiguous (NCHW; NHWC where an args struct's `ch` says so), pointers are device
 * pointers, scalars a plan keeps on the device (lr, step, dloss) are passed as pointers so a launch never
 * waits for the host (and a CUDA graph can capture it). Attributes are the plan's doubles; every kernel converts them exactly as the CPU kernel
 * of its op does (backend/cpu/cpu_*.c). A geometry with gx == 0 means "nothing to do": do not launch.
 * max_blocks caps grid-stride kernels (0: no cap); the executor passes a few waves of its SM count. */
#ifndef TGC_CUDA_KERNELS_KARGS_H
#define TGC_CUDA_KERNELS_KARGS_H

#include <stdint.h>

#include "backend/cuda/kernels/multi_tensor.h"

#ifdef __cplusplus
#define TGC_K_STATIC_ASSERT(c, m) static_assert(c, m)
#else
#define TGC_K_STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif

typedef struct tgc_k_geom {
    unsigned gx, gy, gz; /* grid */
    unsigned bx, by, bz; /* block */
} tgc_k_geom;

#define TGC_K_THREADS 256 /* every kernel's block size (and its __launch_bounds__) */
#define TGC_K_WARPS (TGC_K_THREADS / 32)

/* ---- optimizer groups (optim.cuh): tgc_k_sgd, tgc_k_sgd_momentum, tgc_k_adamw, tgc_k_adam, tgc_k_rmsprop,
 * tgc_k_ema ------------------------------------------------------------------------------------------------
 * l lists the group's tensors with depth 2 (param, grad), 3 (+ momentum_buf) or 4 (+ exp_avg, exp_avg_sq;
 * rmsprop: + square_avg, momentum_buffer), the operand order of sgd_update, sgd_momentum_update,
 * adamw_update, adam_update and rmsprop_update; ema_update is depth 2 (ema, param) with no lr or step. The
 * other fields are the op's attributes and its lr/step operands. */
typedef struct tgc_k_opt_args {
    tgc_mt_list l;
    const float *lr;   /* device scalar: the lr input (multiplied by alpha, the lr multiplier) */
    const float *step; /* device scalar: the 1-based step t (sgd_momentum, adamw, adam; else unused) */
    double alpha, weight_decay, momentum, dampening, beta1, beta2, eps;
    int32_t nesterov;
} tgc_k_opt_args;
TGC_K_STATIC_ASSERT(sizeof(tgc_k_opt_args) <= 4096, "an optimizer launch must fit the 4 KiB parameter space");

enum { TGC_K_OPT_SGD, TGC_K_OPT_SGD_MOMENTUM, TGC_K_OPT_ADAMW, TGC_K_OPT_ADAM, TGC_K_OPT_RMSPROP, TGC_K_OPT_EMA };
/* Operands per tensor of each update: 2, 3, 4, 4, 4, 2; 0 for an unknown kind. */
static inline int tgc_k_opt_depth(int kind) {
    return kind == TGC_K_OPT_SGD || kind == TGC_K_OPT_EMA ? 2
           : kind == TGC_K_OPT_SGD_MOMENTUM              ? 3
           : kind == TGC_K_OPT_ADAMW || kind == TGC_K_OPT_ADAM || kind == TGC_K_OPT_RMSPROP ? 4
                                                                                          : 0;
}
/* Scalar operands after the tensors (lr, then step): sgd and rmsprop 1, ema 0, the others 2. */
static inline int tgc_k_opt_scalars(int kind) {
    return kind == TGC_K_OPT_EMA ? 0 : kind == TGC_K_OPT_SGD || kind == TGC_K_OPT_RMSPROP ? 1 : 2;
}

static inline tgc_k_geom tgc_k_geom_mt(const tgc_mt_list *l) {
    tgc_k_geom g = {(unsigned)(l->n_blocks > 0 ? l->n_blocks : 0), 1, 1, TGC_MT_THREADS, 1, 1};
    return g;
}

/* Every launch of one optimizer group: packs t[0..n) (tgc_mt_pack) into a->l, one launch at a time, and
 * calls launch(a, ctx) for each, in order. Returns 0, or -1 if a list cannot be packed (see tgc_mt_pack) or
 * a launch returned non-zero (that value is not kept: the caller's ctx has it). */
static inline int tgc_mt_apply(tgc_k_opt_args *a, int depth, int32_t chunk, const tgc_mt_tensor *t, int n,
                               int (*launch)(const tgc_k_opt_args *a, void *ctx), void *ctx) {
    tgc_mt_cursor cur = {0, 0};
    for (;;) {
        int nb = tgc_mt_pack(&a->l, depth, chunk, t, n, &cur);
        if (nb < 0) return -1;
        if (nb == 0) return 0;
        if (launch(a, ctx)) return -1;
    }
}

/* ---- softmax cross-entropy (loss.cuh) ----------------------------------------------------------------
 * softmax_cross_entropy(x[n,c], y[n]) -> loss[]: tgc_k_softmax_ce_rows writes each row's loss (double)
 * into row_loss (workspace, n doubles), then tgc_k_softmax_ce_mean (one block) writes
 * loss = alpha * sum / n. softmax_cross_entropy_bwd(dloss[], x, y) -> dx: tgc_k_softmax_ce_bwd.
 * A label outside [0, c) (which the CPU kernel refuses with a message) makes that row's loss and dx NaN:
 * a kernel cannot fail, and must not read outside the row.
 * softmax_cross_entropy_soft(x, t) -> loss[]: tgc_k_softmax_ce_soft_rows (row_loss as above), then
 * tgc_k_softmax_ce_mean; softmax_cross_entropy_soft_bwd(dloss[], x, t) -> dx: tgc_k_softmax_ce_soft_bwd.
 * sigmoid_bce(x, y or t) -> loss[]: tgc_k_sigmoid_bce_rows (row_loss as above; t NULL: the labels y), then
 * tgc_k_sigmoid_bce_mean (alpha * sum / (n c)); sigmoid_bce_bwd(dloss[], x, y or t) -> dx: tgc_k_sigmoid_bce_bwd. */
typedef struct tgc_k_ce_args {
    const float *x;
    const int32_t *y;
    double *row_loss;   /* forward: workspace */
    float *loss;        /* forward: result */
    const float *dloss; /* backward: device scalar */
    float *dx;          /* backward: result [n,c] */
    int64_t n, c;
    double smooth, alpha; /* label_smooth, loss weight */
    const float *t;       /* soft targets [n,c] (the _soft kernels; y unused there) */
} tgc_k_ce_args;

/* Rows: one warp per row, grid-stride over rows (forward rows and backward). */
static inline tgc_k_geom tgc_k_geom_warp_rows(int64_t rows, unsigned max_blocks) {
    int64_t b = (rows + TGC_K_WARPS - 1) / TGC_K_WARPS;
    if (max_blocks && b > max_blocks) b = max_blocks;
    if (b > 0x7fffffff) b = 0x7fffffff;
    tgc_k_geom g = {(unsigned)b, 1, 1, TGC_K_THREADS, 1, 1};
    return g;
}
static inline tgc_k_geom tgc_k_geom_one_block(void) {
    tgc_k_geom g = {1, 1, 1, TGC_K_THREADS, 1, 1};
    return g;
}

/* ---- elementwise (one thread per element, grid-stride) ------------------------------------------------ */
static inline tgc_k_geom tgc_k_geom_elems(int64_t n, unsigned max_blocks) {
    int64_t b = (n + TGC_K_THREADS - 1) / TGC_K_THREADS;
    if (max_blocks && b > max_blocks) b = max_blocks;
    if (b > 0x7fffffff) b = 0x7fffffff;
    tgc_k_geom g = {(unsigned)b, 1, 1, TGC_K_THREADS, 1, 1};
    return g;
}

/* ---- gradient norm, clipping and Lamb (gradnorm.cuh) ---------------------------------------------------
 * grad_norm_acc(g[n], acc[]) -> out[]: tgc_k_grad_norm_part (grid: tgc_k_norm_blocks(n) blocks, a count fixed
 * by n alone, so the sums do not depend on the device) writes each block's sum of |g|^p in double (max |g|
 * for p = inf, a NaN winning) into part[block] (workspace: tgc_k_norm_blocks(n) doubles); then
 * tgc_k_grad_norm_finish (one block) combines the parts in block order with *acc into *out.
 * grad_clip_norm(g, acc[]) -> y: tgc_k_grad_clip_norm, y = g * min(max_norm / (total + 1e-6), 1) in float;
 * grad_clip_value(g) -> y: tgc_k_grad_clip_value, g clamped to [-max_norm, max_norm] (tgc_k_geom_elems(n)). */
typedef struct tgc_k_norm_args {
    const float *g;
    float *y;         /* clip: the result [n] */
    const float *acc; /* device scalar: the chain's sum so far (grad_norm_acc, grad_clip_norm) */
    float *out;       /* grad_norm_acc: the result scalar */
    double *part;     /* grad_norm_acc: workspace */
    int64_t n;
    double p, max_norm; /* norm_type; max_norm (the clip value for grad_clip_value) */
    int32_t blocks;     /* grad_norm_acc: tgc_k_norm_blocks(n) */
} tgc_k_norm_args;

#define TGC_K_NORM_MAX_BLOCKS 64
/* Blocks of a per-tensor reduction: one per 16 x TGC_K_THREADS elements, at most TGC_K_NORM_MAX_BLOCKS. */
static inline int32_t tgc_k_norm_blocks(int64_t n) {
    int64_t b = (n + 16 * TGC_K_THREADS - 1) / (16 * TGC_K_THREADS);
    return (int32_t)(b < 1 ? 1 : b > TGC_K_NORM_MAX_BLOCKS ? TGC_K_NORM_MAX_BLOCKS : b);
}
static inline tgc_k_geom tgc_k_geom_blocks(int32_t blocks) {
    tgc_k_geom g = {(unsigned)blocks, 1, 1, TGC_K_THREADS, 1, 1};
    return g;
}

/* lamb_update(p, g, m, v, lr[], step[], gsq[]): tgc_k_lamb_moments (grid: tgc_k_norm_blocks(n)) updates m and
 * v and writes each block's sums of p^2 and u^2 (u: the update direction) into part[2 b], part[2 b + 1]
 * (workspace: 2 x tgc_k_norm_blocks(n) doubles); tgc_k_lamb_apply (tgc_k_geom_elems(n)) adds them in block
 * order, forms the trust ratio and updates p. */
typedef struct tgc_k_lamb_args {
    float *p, *m, *v;
    const float *g;
    const float *lr, *step, *gsq; /* device scalars */
    double *part;
    int64_t n;
    double alpha, weight_decay, beta1, beta2, eps, max_norm;
    int32_t always_adapt, trust_clip, blocks;
} tgc_k_lamb_args;

/* ---- global average pooling (reduce.cuh) ---------------------------------------------------------------
 * global_avg_pool(x[N,C,H,W]) -> y[N,C]: tgc_k_global_avg_pool, x = x, y = y, one warp per plane
 * (tgc_k_geom_warp_rows(planes)). global_avg_pool_bwd(dy[N,C]) -> dx[N,C,H,W]: tgc_k_global_avg_pool_bwd,
 * x = dy, y = dx, one thread per dx element (tgc_k_geom_elems(planes * inner)). */
typedef struct tgc_k_gap_args {
    const float *x;
    float *y;
    int64_t planes, inner; /* N*C, H*W */
    int32_t dtype;         /* of x and y: TGC_K_DT_F32 (0), or BF16/F16 (read as float, y rounded once) */
    int64_t ch;            /* 0: x (dx) is NCHW; C: NHWC (channels_last, layout.cuh) */
} tgc_k_gap_args;

/* ---- channel_mul (reduce.cuh) -------------------------------------------------------------------------
 * channel_mul(x[N,C,H,W], g[N,C]) -> y: tgc_k_channel_mul, a = x, b = g, y = y, one thread per element
 * (tgc_k_geom_elems(planes * inner)). channel_mul_grad_gate(dy, x) -> dg[N,C]: tgc_k_channel_mul_grad_gate,
 * a = dy, b = x, y = dg, one warp per plane (tgc_k_geom_warp_rows(planes)). */
typedef struct tgc_k_chmul_args {
    const float *a, *b;
    float *y;
    int64_t planes, inner; /* N*C, H*W */
    int64_t ch;            /* 0: the [N,C,H,W] tensors are NCHW; C: NHWC (channels_last, layout.cuh) */
} tgc_k_chmul_args;

/* NHWC (channels_last) activations (layout.cuh): an element i of a logical [N,C,H,W] tensor stored
 * [N,H,W,C] belongs to plane (n, c) = (i / (inner * ch)) * ch + i % ch. global_avg_pool and
 * channel_mul_grad_gate on NHWC data: tgc_k_global_avg_pool_nhwc, tgc_k_channel_mul_grad_gate_nhwc, one thread
 * per (n, c) walking the H*W positions in order (threads along c: coalesced; tgc_k_geom_elems(planes)).
 * The elementwise kernels (global_avg_pool_bwd, channel_mul) take the NHWC plane index when ch != 0.
 * bias_grad and batch_norm_eval_bwd on NHWC data need no kernel of their own: [N,H,W,C] is [N*H*W, C, 1].
 * (tgc_k_plane_of in kcommon.cuh) */

/* ---- bias_grad (reduce.cuh) ----------------------------------------------------------------------------
 * bias_grad(dy) -> db[ch], dy seen as [outer, ch, inner] around attrs.axis; db[c] = sum over outer and
 * inner, accumulated in double. Two kernels: tgc_k_bias_grad_planes (inner >= 32: a block per channel,
 * threads along inner rows) and tgc_k_bias_grad_cols (inner < 32, e.g. a linear layer's [N, C]: a block per
 * 32 channels, threads along channels, 8 row groups). tgc_k_bias_grad_cols_wanted picks. */
typedef struct tgc_k_bias_grad_args {
    const float *dy;
    float *db;
    int64_t outer, ch, inner;
    int32_t dtype; /* of dy: TGC_K_DT_F32 (0), or BF16/F16 (read as float); db is f32 */
} tgc_k_bias_grad_args;

static inline int tgc_k_bias_grad_cols_wanted(int64_t inner) { return inner < 32; }
/* The geometry of tgc_k_bias_grad_cols (cols != 0) or tgc_k_bias_grad_planes. */
static inline tgc_k_geom tgc_k_geom_bias_grad(int cols, int64_t ch, unsigned max_blocks) {
    int64_t b = cols ? (ch + 31) / 32 : ch;
    if (max_blocks && b > max_blocks) b = max_blocks;
    if (b > 0x7fffffff) b = 0x7fffffff;
    tgc_k_geom g = {(unsigned)b, 1, 1, 32, TGC_K_THREADS / 32, 1};
    if (!cols) g.bx = TGC_K_THREADS, g.by = 1;
    return g;
}

/* ---- max_pool2d_bwd (pool.cuh) -------------------------------------------------------------------------
 * max_pool2d_bwd(dy[N,C,ho,wo], x[N,C,h,w]) -> dx: dy goes to the first maximum (row-major) of each
 * window, NaN winning, as backend/cpu/cpu_pooling.c. One thread per dx element gathers from the windows
 * that contain it, in the order the CPU adds them, so dx equals the CPU's bit for bit and no atomics are
 * needed. Grid: x along a plane's h*w elements, y along the N*C planes (tgc_k_geom_planes(planes, h*w)),
 * so positions inside a plane are 32-bit (no 64-bit division per element). ho/wo are dy's (the plan's
 * shapes fix ceil_mode). */
typedef struct tgc_k_maxpool_bwd_args {
    const float *dy, *x;
    float *dx;
    int64_t planes;
    int32_t h, w, ho, wo;
    int32_t kh, kw, sh, sw, pt, pl; /* kernel, stride, top/left padding */
    int32_t dtype;                  /* of dy, x, dx: TGC_K_DT_F32 (0), or BF16/F16 (read as float, dx rounded) */
    int32_t ch;                     /* 0: NCHW; C: NHWC (channels_last): planes is then N, grid x along h*w*C */
} tgc_k_maxpool_bwd_args;

static inline tgc_k_geom tgc_k_geom_planes(int64_t planes, int64_t per_plane, unsigned max_blocks) {
    int64_t bx = (per_plane + TGC_K_THREADS - 1) / TGC_K_THREADS, by = planes < 65535 ? planes : 65535;
    if (max_blocks && bx > max_blocks) bx = max_blocks;
    if (bx > 0x7fffffff) bx = 0x7fffffff;
    tgc_k_geom g = {(unsigned)(by > 0 ? bx : 0), (unsigned)(by > 0 ? by : 1), 1, TGC_K_THREADS, 1, 1};
    return g;
}

/* ---- cast and fill (convert.cuh) -----------------------------------------------------------------------
 * tgc_k_cast_f32_bf16, _bf16_f32, _f32_f16, _f16_f32: y[i] = x[i] converted as backend/cpu/cpu_cast.c does
 * (round to nearest even, NaN kept quiet, f16 overflow to inf, subnormals). tgc_k_fill: every element of
 * y (dtype one of TGC_K_DT_*, tgc_dtype's order) is value converted as cpu_cast.c's fill (integers
 * truncated toward zero and saturated, NaN to 0). Both tgc_k_geom_elems(n). */
enum { TGC_K_DT_F32, TGC_K_DT_F16, TGC_K_DT_BF16, TGC_K_DT_I32, TGC_K_DT_I64, TGC_K_DT_U8 };

typedef struct tgc_k_cast_args {
    const void *x;
    void *y;
    int64_t n;
} tgc_k_cast_args;

typedef struct tgc_k_fill_args {
    void *y;
    int64_t n;
    double value;
    int32_t dtype;
} tgc_k_fill_args;

/* ---- float16 loss scaling (amp.cuh) ------------------------------------------------------------------------
 * tgc_k_nonfinite: *found = 1 when x[0..n) holds an inf or NaN (zero it before); tgc_k_unscale: unless *found,
 * x[i] *= inv in place. Both tgc_k_geom_elems(n). */
typedef struct tgc_k_unscale_args {
    float *x;
    int64_t n;
    int32_t *found; /* device word */
    float inv;
} tgc_k_unscale_args;

/* ---- detection (det.cuh) ----------------------------------------------------------------------------------
 * roi_align(x[n,c,h,w], rois[k,5]) -> y[k,c,oh,ow]: tgc_k_roi_align, one thread per output element
 * (tgc_k_geom_elems(k*c*oh*ow)). roi_align_bwd(dy, rois) -> dx[n,c,h,w]: tgc_k_roi_align_bwd (x unused, dy set,
 * y = dx), one block per (plane, 16 x 16 pixel tile), each thread gathering its pixel's terms from the RoIs
 * that reach the tile in the CPU kernel's order (RoI, bin, sample, corner): no atomics, the CPU's bits
 * (tgc_k_geom_roi_bwd(n*c, h, w)). A RoI the CPU
 * kernel refuses (batch index not an integer in [0, n), more than 1024 samples per bin) gives NaN rows
 * forward and no gradient. Attributes as float, converted as the CPU kernel converts them. */
typedef struct tgc_k_roi_args {
    const float *x, *rois, *dy;
    float *y;
    int64_t n, c, h, w, k, oh, ow;
    float spatial_scale, finest_scale;
    int32_t sampling_ratio, aligned, roi_level, num_levels;
} tgc_k_roi_args;

/* topk(x[rows, n]) -> (vals, idx [rows, k]): tgc_k_topk, one block per row (grid-stride over rows), k rounds
 * of a block arg-max over the elements ranked after the last one taken (tgc_k_geom_row_blocks(rows)). */
typedef struct tgc_k_topk_args {
    const float *x;
    float *vals;
    int32_t *idx;
    int64_t rows, n, k;
} tgc_k_topk_args;

/* nms_fixed(boxes[b,n,4], scores[b,n], ids[b,n]) -> (keep[b,k], count[b]): tgc_k_nms, one block per image:
 * candidates in rank order (a block arg-max, as topk), each checked against the boxes kept so far
 * (tgc_k_geom_row_blocks(b)). */
typedef struct tgc_k_nms_args {
    const float *boxes, *scores;
    const int32_t *ids;
    int32_t *keep, *count;
    int64_t b, n, k;
    double iou_threshold;
} tgc_k_nms_args;

/* smooth_l1(p, t, w, avg) -> loss[]: tgc_k_smooth_l1, one block (tgc_k_geom_one_block()), the sum in double
 * over a fixed tree; smooth_l1_bwd(dloss, p, t, w, avg) -> dp: tgc_k_smooth_l1_bwd, one thread per element
 * (tgc_k_geom_elems(n)), the CPU's bits. */
typedef struct tgc_k_sl1_args {
    const float *p, *t, *w, *avg, *dloss;
    float *loss, *dp;
    int64_t n;
    double beta, alpha;
} tgc_k_sl1_args;

/* box_iou(a[B,n,4], b[B,m,4]) -> y[B,n,m]: tgc_k_box_iou, one thread per pair (tgc_k_geom_elems(B*n*m)).
 * box_encode(p, g) -> deltas, box_decode(rois, deltas, max_shape) -> boxes: tgc_k_box_encode / tgc_k_box_decode,
 * one thread per box (tgc_k_geom_elems(boxes)); means, stds, |log(wh_ratio_clip)| and eps as float, converted
 * as the CPU kernel converts them. */
typedef struct tgc_k_box_args {
    const float *a, *b, *max_shape;
    float *y;
    int64_t boxes, per_image, m; /* boxes: a's boxes (all images); per_image: a's boxes per image; m: b's per image */
    float means[4], stds[4], max_ratio, eps;
    int32_t clip;
} tgc_k_box_args;

/* ---- Faster R-CNN (frcnn.cuh) ----------------------------------------------------------------------------
 * anchor_decode(idx[B,k], deltas[B,k,4], scores[B,k], img_shape[B,2]) -> (boxes, scores): tgc_k_anchor_decode,
 * one thread per box (tgc_k_geom_elems(B*k)): the anchor of idx in the level's grid (grid_w cells per row,
 * n_base per cell, base[] and the strides as float), decoded as tgc_k_box_decode; score -inf for idx -1 and
 * for a box of width or height <= min_size. An idx outside [-1, n_anchors) (which the CPU refuses) gives a
 * NaN box and score. */
typedef struct tgc_k_anchor_args {
    const int32_t *idx;
    const float *deltas, *scores, *img_shape;
    float *boxes, *out_scores;
    int64_t count, per_image, grid_w, n_base, n_anchors;
    float stride_h, stride_w, min_size, max_ratio, means[4], stds[4], base[36];
    int32_t clip;
} tgc_k_anchor_args;

/* class_box_targets(labels[n], t[n,d]) -> (y[n,classes*d], w[n,classes*d], avg[1]): tgc_k_class_box_targets, one
 * thread per element of y (tgc_k_geom_elems(n*classes*d)), the first thread also counting the rows with a label
 * >= 0 in order (avg = max(count, 1)). A label above classes (which the CPU refuses) gives NaN weights in its row.
 * softmax_cross_entropy_masked(x[n,c], y[n]) -> loss[]: tgc_k_softmax_ce_masked_rows writes each row's loss into
 * the row_loss workspace (0 for a padding row, NaN for a label outside [-1, c)), then tgc_k_softmax_ce_masked_mean
 * (one block) loss = alpha * sum / max(rows with y >= 0, 1); _bwd(dloss[], x, y) -> dx:
 * tgc_k_softmax_ce_masked_bwd (tgc_k_ce_args; geometry tgc_k_geom_warp_rows(n)). accuracy_masked(x, y) -> f32[]:
 * tgc_k_accuracy_masked (tgc_k_ce_args, the result in loss; one block). */
typedef struct tgc_k_cbt_args {
    const int32_t *labels;
    const float *t;
    float *y, *w, *avg;
    int64_t n, d, classes;
} tgc_k_cbt_args;

/* gather(x[B,n,inner], idx[B,m]) -> y[B,m,inner]: tgc_k_gather, one thread per y element
 * (tgc_k_geom_elems(B*m*inner)), 4-byte elements (f32 or i32, fill given as its bits); an index the CPU refuses
 * (outside [-1, n)) gives NaN (f32) or INT32_MIN (i32). */
typedef struct tgc_k_gather_args {
    const uint32_t *x;
    const int32_t *idx;
    uint32_t *y;
    int64_t b, n, m, inner;
    uint32_t fill, bad;
} tgc_k_gather_args;

/* giou_loss(p, t, w, avg) -> loss[]: tgc_k_giou_loss, one block (tgc_k_geom_one_block()), the sum in double over
 * a fixed tree; giou_loss_bwd(dloss, p, t, w, avg) -> dp: tgc_k_giou_loss_bwd, one thread per box
 * (tgc_k_geom_elems(boxes)), the CPU's bits. */
typedef struct tgc_k_giou_args {
    const float *p, *t, *w, *avg, *dloss;
    float *loss, *dp;
    int64_t boxes;
    double alpha;
    float eps;
} tgc_k_giou_args;

/* rcnn_targets(proposals[b,p,4], count[b], gt_bboxes[b,g,4], gt_labels[b,g], rng[b,4]) -> (rois[b*k,5],
 * labels[b*k], bbox_targets[b*k,4]): tgc_k_rcnn_targets, one block per image (tgc_k_geom_row_blocks(b)): each
 * gt's best IoU (low-quality matching), each candidate's class and Philox key into the workspace, the block's
 * counts, then each sampled candidate's row from its rank by key among its class (a count over the image's
 * candidates: no sort, no atomics), the CPU's rows bit for bit. ws: tgc_k_rcnn_ws_words(b, p, g) words;
 * thresholds, means and stds as float, converted as the CPU kernel converts them; quota = int(k * pos_fraction). */
#define TGC_K_RCNN_STREAM 7u /* the Philox stream, common/philox.h's TGC_PHILOX_STREAM_RCNN */
typedef struct tgc_k_rcnn_args {
    const float *proposals, *gt_bboxes;
    const int32_t *count, *gt_labels, *rng;
    float *rois, *bbox_targets;
    int32_t *labels;
    uint32_t *ws; /* per image: g floats (each gt's best IoU), then 4 x (g + p) words (class, gt, key high, key low) */
    int64_t b, p, g, k, quota;
    float pos_iou_thr, neg_iou_thr, min_pos_iou, means[4], stds[4];
    int32_t num_classes, match_low_quality, add_gt;
} tgc_k_rcnn_args;

static inline int64_t tgc_k_rcnn_ws_words(int64_t b, int64_t p, int64_t g) { return b * (g + 4 * (g + p)); }

/* roi_align_bwd: one block per (plane, 16 x 16 tile), grid-stride. */
static inline tgc_k_geom tgc_k_geom_roi_bwd(int64_t planes, int64_t h, int64_t w, unsigned max_blocks) {
    int64_t b = planes * ((h + 15) / 16) * ((w + 15) / 16);
    if (max_blocks && b > max_blocks) b = max_blocks;
    if (b > 0x7fffffff) b = 0x7fffffff;
    tgc_k_geom g = {(unsigned)(b > 0 ? b : 0), 1, 1, TGC_K_THREADS, 1, 1};
    return g;
}

/* One block per row, grid-stride over rows. */
static inline tgc_k_geom tgc_k_geom_row_blocks(int64_t rows, unsigned max_blocks) {
    int64_t b = rows;
    if (max_blocks && b > max_blocks) b = max_blocks;
    if (b > 0x7fffffff) b = 0x7fffffff;
    tgc_k_geom g = {(unsigned)(b > 0 ? b : 0), 1, 1, TGC_K_THREADS, 1, 1};
    return g;
}
/* ---- RetinaNet's dense ops (retina.cuh) -----------------------------------------------------------------
 * upsample_nearest(x[N,C,h,w]) -> y[N,C,H,W]: tgc_k_upsample_nearest, one thread per y element gathering
 * x[src(i), src(j)] (PyTorch's nearest index, as backend/cpu/cpu_det.c); geometry tgc_k_geom_planes(planes,
 * H*W). upsample_nearest_bwd(dy[N,C,H,W]) -> dx[N,C,h,w]: tgc_k_upsample_nearest_bwd, x = dy, y = dx, one
 * thread per dx element summing, in double and in the CPU's (row, column) order, the dy elements whose
 * source it is (the contiguous ranges of output rows and columns that map to it); tgc_k_geom_planes(planes,
 * h*w). Both equal the CPU bit for bit. */
typedef struct tgc_k_up_args {
    const float *x;
    float *y;
    int64_t planes;
    int32_t h, w, H, W; /* the small (source) and the big plane */
} tgc_k_up_args;

/* to_nhwc / to_nchw: y[n, r, i] = x[n, i, r] per image, x seen as [n, a, b] (to_nhwc: a = C, b = H*W;
 * to_nchw: a = H*W, b = C): tgc_k_transpose, 32 x 32 tiles through shared memory (reads and writes
 * coalesced), blocks of 32 x 8 threads; tgc_k_geom_transpose. A copy: equal bit for bit. */
typedef struct tgc_k_tr_args {
    const float *x;
    float *y;
    int64_t n, a, b;
} tgc_k_tr_args;

/* relayout(x) -> y on bf16/f16 data: tgc_k_transpose16, tgc_k_transpose's tiles on 16-bit elements (f32 data
 * takes tgc_k_transpose itself); ROW -> NHWC is a = C, b = H*W, NHWC -> ROW a = H*W, b = C. */
typedef struct tgc_k_tr16_args {
    const uint16_t *x;
    uint16_t *y;
    int64_t n, a, b;
} tgc_k_tr16_args;

static inline tgc_k_geom tgc_k_geom_transpose(int64_t n, int64_t a, int64_t b, unsigned max_blocks) {
    int64_t gx = (b + 31) / 32, gy = (a + 31) / 32, gz = n;
    if (max_blocks && gx > max_blocks) gx = max_blocks;
    if (gx > 0x7fffffff) gx = 0x7fffffff;
    if (gy > 65535) gy = 65535;
    if (gz > 65535) gz = 65535;
    tgc_k_geom g = {(unsigned)(gy > 0 && gz > 0 ? gx : 0), (unsigned)(gy > 0 ? gy : 1), (unsigned)(gz > 0 ? gz : 1),
                    32, TGC_K_THREADS / 32, 1};
    return g;
}

/* concat(a, b) -> y along an axis, as outer blocks of (la elements of a, lb of b): tgc_k_concat; concat_bwd(dy)
 * -> (da, db): tgc_k_concat_bwd (y = dy read, da and db written). Grid y along the outer blocks, x along a
 * block's la + lb elements: tgc_k_geom_planes(outer, la + lb). Copies: equal bit for bit. */
typedef struct tgc_k_cat_args {
    const float *a, *b; /* concat: the parts */
    float *y;           /* concat: the whole */
    const float *dy;    /* concat_bwd: the whole */
    float *da, *db;     /* concat_bwd: the parts */
    int64_t outer, la, lb;
} tgc_k_cat_args;

/* The losses over anchors (x [rows = N*A, k], cls [rows] i32, avg_factor a device scalar):
 * sigmoid_focal_loss: tgc_k_focal_rows (one thread per anchor row: its sum over the k classes, in double and
 * in the CPU's order, into row_loss, a workspace of rows doubles; tgc_k_geom_elems(rows)), then
 * tgc_k_anchor_loss_sum (one block: loss = alpha / avg_factor * the sum of row_loss, a fixed tree;
 * tgc_k_geom_one_block()). l1_loss_pos: tgc_k_l1_rows (t = the bbox targets), then tgc_k_anchor_loss_sum.
 * The backwards are elementwise (tgc_k_geom_elems(rows * k)): tgc_k_focal_bwd, tgc_k_l1_bwd with dloss.
 * A class target outside [-1, classes] (which the CPU refuses with a message) makes its row's loss and dx
 * NaN, an avg_factor that is not positive the loss NaN: a kernel cannot fail. */
typedef struct tgc_k_anchor_loss_args {
    const float *x, *t; /* logits or pred; bbox targets (l1) */
    const int32_t *cls;
    const float *avg_factor; /* device scalar */
    const float *dloss;      /* backward: device scalar */
    double *row_loss;        /* forward: workspace of rows doubles */
    float *loss;             /* forward: result */
    float *dx;               /* backward: result [rows, k] */
    int64_t rows, k, classes;
    double alpha, gamma, focal_alpha; /* loss weight; the focal loss's gamma and alpha */
} tgc_k_anchor_loss_args;

/* batch_norm_eval_bwd(dy, x, gamma, running_mean, running_var) -> (dx, dgamma, dbeta): tgc_k_bn_eval_bwd, one
 * block per channel (tgc_k_geom_bias_grad(0, c)): dx = dy * (float)(gamma * s) elementwise (bit for bit),
 * dgamma and dbeta summed in double over (n, spatial) by a fixed tree. */
typedef struct tgc_k_bn_eval_bwd_args {
    const float *dy, *x, *gamma, *mean, *var;
    float *dx, *dgamma, *dbeta;
    int64_t n, c, s;
    double eps;
    int32_t dtype; /* of dy, x, dx: TGC_K_DT_F32 (0), or BF16/F16 (read as float, dx rounded); the rest f32 */
} tgc_k_bn_eval_bwd_args;

#endif
