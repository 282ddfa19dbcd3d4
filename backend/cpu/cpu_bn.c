/* backend/cpu/cpu_bn.c - batch normalization: training forward (batch statistics, running-stat update),
 * eval forward (running statistics) and backward, on NCHW (or [N,C]) tensors.
 *
 * Training forward and backward are own loops, one channel per task: oneDNN's only implementation for
 * the plain layout (ncsp_bnorm) took a third of a ResNet step, about twice what streaming the data costs
 * (bench/README.md). They follow PyTorch's CPU kernels: the forward computes y = x*a + b with
 * a = gamma*invstd and b = beta - mean*a; the backward dx = (dy - mean(dy) - (x-mean)*invstd^2*
 * mean((x-mean)*dy)) * gamma*invstd. Channel sums are float within one (n, c) row (SIMD) and double
 * across rows; the variance is taken around the channel's first value, so a large mean does not cancel.
 * Each channel is computed by one thread in a fixed order, so results do not depend on the thread count.
 * Eval forward stays on oneDNN (not in the train step).
 *
 * NHWC tensors (logical [N,C,H,W] stored [N,H,W,C]): the training loops' sums transpose blocks of 16
 * channels of one image into f32 rows (bn_train_nhwc, bn_bwd_nhwc, one task per channel range) and run the
 * same out-of-line row kernels on them, so the summation order, and every result bit, equals the ROW
 * layout's; the elementwise results then run as a second parallel pass over runs of whole pixels
 * (bn_*_nhwc_out: contiguous, all channels per pixel, the same float operations); eval forward
 * gives oneDNN the nhwc descriptor; eval backward walks each channel with stride C in the ROW order.
 *
 * Fused variants (passes/fuse_bn_relu.c): batch_norm_train_relu applies the relu in the output loop;
 * batch_norm_relu_bwd masks dy with (x*a + b > 0), the pre-activation recomputed from x in the same
 * float operations as the forward (bn_pre), so the mask equals the one relu_bwd would take from the relu
 * output and the results equal the unfused pair's. fold_conv_bn folds eval BN into conv weights.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_internal.h"
#include "common/half.h"
#ifdef __SSE2__
#include <xmmintrin.h>
#endif

static int is_bwd(tgc_opcode code) {
    return code == TGC_OP_BN_BWD || code == TGC_OP_BN_RELU_BWD || code == TGC_OP_BN_EVAL_BWD;
}

/* The forward's pre-activation: one definition for the forward and the fused backward's relu mask. */
static inline float bn_pre(float x, float a, float b) { return x * a + b; }

/* relu_bwd's rule as oneDNN computes it, dy * (y > 0 ? 1 : 0) (so -0 for a masked negative dy, NaN for a
 * masked NaN): a multiply vectorises, where the select `c ? dy[i] : 0` (a conditional load) stays a
 * data-dependent branch, ten times slower on random masks. */
static inline float masked(float dy, int c) {
    uint32_t one = 0x3f800000u & (0u - (uint32_t)c); /* 1.0f or 0.0f, without a branch */
    float f;
    memcpy(&f, &one, sizeof f);
    return dy * f;
}

/* relu as oneDNN's eltwise_relu (alpha 0) computes it, so fused and unfused results agree bit for bit */
static inline float relu1(float v) { return v > 0.f ? v : 0.f; }

/* x is [N,C,...]: per-channel count N*H*W. */
static int bn_shapes(const cpu_call *k, int64_t *n_ch, int64_t *count, tgc_err *err) {
    const tgc_shape *x = &k->in_t[is_bwd(k->code) ? 1 : 0].shape;
    if (x->rank < 2 || x->rank > 5) return tgc_fail(err, "cpu backend: %s: x must be [N,C] or [N,C,H,W]", k->name);
    *n_ch = x->d[1];
    *count = tgc_shape_numel(x) / (x->d[1] ? x->d[1] : 1);
    /* Every per-channel operand/result after x must be [C]. */
    int first = is_bwd(k->code) ? 2 : 1;
    for (int i = first; i < k->n_in; i++)
        if (k->in_t[i].shape.rank != 1 || k->in_t[i].shape.d[0] != *n_ch)
            return tgc_fail(err, "cpu backend: %s: operand %d must be [%lld]", k->name, i, (long long)*n_ch);
    for (int i = 1; i < k->n_out; i++)
        if (k->out_t[i].shape.rank != 1 || k->out_t[i].shape.d[0] != *n_ch)
            return tgc_fail(err, "cpu backend: %s: result %d must be [%lld]", k->name, i, (long long)*n_ch);
    if (cpu_check_same_shape(k, 1, 0, 0, is_bwd(k->code) ? 1 : 0, err)) return -1;
    if (is_bwd(k->code) && cpu_check_same_shape(k, 0, 0, 0, 1, err)) return -1;
    if (!(k->a->eps > 0)) return tgc_fail(err, "cpu backend: %s: eps must be positive", k->name);
    return 0;
}

static void bn_key(cpu_key *key, const cpu_call *k) {
    cpu_key_init(key, k->code, 0);
    cpu_key_type(key, &k->in_t[k->code == TGC_OP_BN_BWD ? 1 : 0]);
    cpu_key_addf(key, k->a->eps);
}

static int bn_desc(const cpu_call *k, const tgc_type *x, dnnl_prop_kind_t prop, unsigned flags,
                   dnnl_memory_desc_t *xmd, dnnl_memory_desc_t *cmd, dnnl_batch_normalization_desc_t *d,
                   tgc_err *err) {
    tgc_shape c1 = tgc_shape1(x->shape.d[1]);
    if (cpu_md_of(xmd, x, dnnl_f32, err) || cpu_md_plain(cmd, &c1, dnnl_f32, err)) return -1;
    dnnl_status_t s = dnnl_batch_normalization_forward_desc_init(d, prop, xmd, (float)k->a->eps, flags);
    if (s != dnnl_success) return tgc_fail(err, "cpu backend: %s: %s", k->name, cpu_dnnl_status(s));
    return 0;
}

/* The operands of one BN call, seen as [N, C, S]. x, dy, y and dx are of dtype `dt` (f32, or bf16/f16
 * under mixed precision: each row is loaded into an f32 row and stored rounded, so every statistic and
 * the normalisation are computed in f32/double as for f32 tensors); the per-channel tensors are f32. */
typedef struct bn_job {
    int64_t n, c, s;
    const void *x, *dy;
    void *y, *dx;
    const float *gamma, *beta, *mean_in, *invstd_in;
    float *mean, *invstd, *rm, *rv, *dgamma, *dbeta;
    double eps, mom;
    int relu; /* the fused variants */
    int nhwc; /* data tensors stored [N,S,C]: rows gathered and scattered with stride C */
    tgc_dtype dt;
    float *aff; /* NHWC: the per-channel constants of the elementwise pass, [k][C] (train: a, bb; backward:
                 * a, bb, gm, proj, scale), written by the sums pass */
} bn_job;

/* Row (b, ch) of a ROW data tensor as f32: the tensor's own row, or converted into buf. */
static const float *bn_row(const bn_job *j, const void *t, int64_t b, int64_t ch, float *buf) {
    int64_t off = (b * j->c + ch) * j->s;
    if (j->dt == TGC_F32) return (const float *)t + off;
    cpu_load_f32(t, j->dt, off, j->s, buf);
    return buf;
}

/* Where row (b, ch) of a result is computed: the tensor's row, or buf (stored by bn_row_store). */
static float *bn_out_row(const bn_job *j, void *t, int64_t b, int64_t ch, float *buf) {
    return j->dt == TGC_F32 ? (float *)t + (b * j->c + ch) * j->s : buf;
}

static void bn_row_store(const bn_job *j, void *t, int64_t b, int64_t ch, const float *buf) {
    if (j->dt != TGC_F32) cpu_store_f32(buf, t, j->dt, (b * j->c + ch) * j->s, j->s);
}

/* Row buffers for the low-precision loads and stores (none for f32). */
static float *bn_rows(const bn_job *j, int k) {
    return j->dt == TGC_F32 ? NULL : tgc_malloc(sizeof(float) * (size_t)k * (size_t)(j->s ? j->s : 1));
}

/* ---- the row kernels --------------------------------------------------------------------------------
 * One out-of-line definition each, called for a tensor's own rows (ROW) and for the rows gathered from
 * NHWC tensors alike: every (n, c) row is reduced and computed by the same instructions in both layouts,
 * so the results are equal bit for bit. */
#ifdef _OPENMP
#define BN_SIMD _Pragma("omp simd")
#define BN_SIMD_SUM2(a, b) _Pragma("omp simd reduction(+ : r1, r2)")
#else
#define BN_SIMD
#define BN_SIMD_SUM2(a, b)
#endif

/* The forward's channel sums of one row around the shift k. */
__attribute__((noinline)) static void stats_row(const float *x, float k, int64_t s, double *s1, double *s2) {
    float r1 = 0.f, r2 = 0.f;
    BN_SIMD_SUM2(r1, r2)
    for (int64_t i = 0; i < s; i++) {
        float d = x[i] - k;
        r1 += d;
        r2 += d * d;
    }
    *s1 += r1;
    *s2 += r2;
}

__attribute__((noinline)) static void out_row(const float *x, float a, float bb, int relu, int64_t s, float *y) {
    if (relu) {
        BN_SIMD for (int64_t i = 0; i < s; i++) y[i] = relu1(bn_pre(x[i], a, bb));
    } else {
        BN_SIMD for (int64_t i = 0; i < s; i++) y[i] = bn_pre(x[i], a, bb);
    }
}

/* The channel sums of one (n, c) row: sum(dy) and sum((x-mean)*dy). One function for the plain and the
 * fused backward, so that both reduce in the same order and agree bit for bit. */
__attribute__((noinline)) static void row_sums(const float *x, const float *dy, float mean, int64_t s, double *sdy,
                                               double *dot) {
    float r1 = 0.f, r2 = 0.f;
    BN_SIMD_SUM2(r1, r2)
    for (int64_t i = 0; i < s; i++) {
        r1 += dy[i];
        r2 += (x[i] - mean) * dy[i];
    }
    *sdy += r1;
    *dot += r2;
}

/* batch_norm_relu_bwd's dy: dy where the forward's pre-activation x*a + bb was positive, else 0 (relu_bwd's
 * rule), into dm. */
__attribute__((noinline)) static void mask_row(const float *dy, const float *x, float a, float bb, int64_t s,
                                               float *dm) {
    BN_SIMD for (int64_t i = 0; i < s; i++) dm[i] = masked(dy[i], bn_pre(x[i], a, bb) > 0.f);
}

__attribute__((noinline)) static void dx_row(const float *dy, const float *x, float mean, float gm, float proj,
                                             float scale, int64_t s, float *dx) {
    BN_SIMD for (int64_t i = 0; i < s; i++) dx[i] = (dy[i] - gm - (x[i] - mean) * proj) * scale;
}

/* Channel ch's statistics from its sums around k: mean, invstd, running stats; *a, *bb the affine map. */
static void train_finish(const bn_job *j, int64_t ch, float k, double s1, double s2, float *a, float *bb) {
    const double cnt = (double)(j->n * j->s);
    double m1 = s1 / cnt, var = s2 / cnt - m1 * m1;
    if (var < 0) var = 0;
    double mean = (double)k + m1, invstd = 1.0 / sqrt(var + j->eps);
    j->mean[ch] = (float)mean;
    j->invstd[ch] = (float)invstd;
    j->rm[ch] = (float)((1.0 - j->mom) * j->rm[ch] + j->mom * mean);
    j->rv[ch] = (float)((1.0 - j->mom) * j->rv[ch] + j->mom * var * cnt / (cnt - 1));
    *a = j->gamma[ch] * (float)invstd, *bb = j->beta[ch] - (float)mean * *a;
}

static void bn_train_channels(void *ctx, int64_t lo, int64_t hi) {
    const bn_job *j = ctx;
    float *rb = bn_rows(j, 2), *xb = rb, *yb = rb ? rb + j->s : NULL;
    for (int64_t ch = lo; ch < hi; ch++) {
        const float k = bn_row(j, j->x, 0, ch, xb)[0]; /* the shift: any value of the channel */
        double s1 = 0, s2 = 0;
        for (int64_t b = 0; b < j->n; b++) stats_row(bn_row(j, j->x, b, ch, xb), k, j->s, &s1, &s2);
        float a, bb;
        train_finish(j, ch, k, s1, s2, &a, &bb);
        for (int64_t b = 0; b < j->n; b++) {
            float *y = bn_out_row(j, j->y, b, ch, yb);
            out_row(bn_row(j, j->x, b, ch, xb), a, bb, j->relu, j->s, y);
            bn_row_store(j, j->y, b, ch, y);
        }
    }
    free(rb);
}

/* Per-channel (beta, mean, invstd) of the backward: the relu mask's affine map (fused variant). */
static void bwd_affine(const bn_job *j, int64_t ch, float *a, float *bb) {
    *a = *bb = 0.f;
    if (j->relu) *a = j->gamma[ch] * j->invstd_in[ch], *bb = j->beta[ch] - j->mean_in[ch] * *a;
}

/* batch_norm_bwd and batch_norm_relu_bwd (j->relu): the fused one reduces and applies the masked rows
 * with the same code as the plain one, so it equals the unfused pair bit for bit. */
static void bwd_finish(const bn_job *j, int64_t ch, double sdy, double dot, float *gm, float *proj, float *scale) {
    const double cnt = (double)(j->n * j->s), is = j->invstd_in[ch];
    j->dgamma[ch] = (float)(dot * is);
    j->dbeta[ch] = (float)sdy;
    *gm = (float)(sdy / cnt), *proj = (float)(dot / cnt * is * is), *scale = (float)(is * j->gamma[ch]);
}

static void bn_bwd_channels(void *ctx, int64_t lo, int64_t hi) {
    const bn_job *j = ctx;
    float *dm = j->relu ? tgc_malloc(sizeof(float) * (size_t)(j->s ? j->s : 1)) : NULL;
    float *rb = bn_rows(j, 3), *xb = rb, *dyb = rb ? rb + j->s : NULL, *dxb = rb ? rb + 2 * j->s : NULL;
    for (int64_t ch = lo; ch < hi; ch++) {
        const float mean = j->mean_in[ch];
        float a, bb, gm, proj, scale;
        bwd_affine(j, ch, &a, &bb);
        double sdy = 0, dot = 0;
        for (int64_t b = 0; b < j->n; b++) {
            const float *x = bn_row(j, j->x, b, ch, xb), *dy = bn_row(j, j->dy, b, ch, dyb);
            if (j->relu) mask_row(dy, x, a, bb, j->s, dm), dy = dm;
            row_sums(x, dy, mean, j->s, &sdy, &dot);
        }
        bwd_finish(j, ch, sdy, dot, &gm, &proj, &scale);
        for (int64_t b = 0; b < j->n; b++) {
            const float *x = bn_row(j, j->x, b, ch, xb), *dy = bn_row(j, j->dy, b, ch, dyb);
            if (j->relu) mask_row(dy, x, a, bb, j->s, dm), dy = dm;
            float *dx = bn_out_row(j, j->dx, b, ch, dxb);
            dx_row(dy, x, mean, gm, proj, scale, j->s, dx);
            bn_row_store(j, j->dx, b, ch, dx);
        }
    }
    free(dm);
    free(rb);
}

/* ---- NHWC: blocks of channels --------------------------------------------------------------------------
 * A task's channels are taken BN_BLOCK at a time. The sums: per image, the block's [S, nb] slab (contiguous
 * runs of nb channels) is transposed into nb f32 rows and the row kernels reduce them, per channel in the
 * ROW code's order. The results (y, dx) are elementwise given the channel's constants: a second pass over
 * runs of whole pixels computes them with the same float operations as the row kernels. */
#define BN_BLOCK 16

/* The nb channels of one pixel of a 16-bit tensor as f32; an inline loop, as a pixel holds few channels. */
static inline void px_load(tgc_dtype dt, const uint16_t *h, int64_t nb, float *out) {
    if (dt == TGC_BF16) {
        BN_SIMD for (int64_t q = 0; q < nb; q++) out[q] = tgc_bf16_to_f32(h[q]);
    } else {
        for (int64_t q = 0; q < nb; q++) out[q] = tgc_f16_to_f32(h[q]);
    }
}

/* dst[q * ld_dst + i] = src[i * ld_src + q] for i < rows, q < cols: 4x4 tiles in SSE registers where the
 * target has them (a plain copy of each element otherwise, and for the edges). */
static void transpose_f32(const float *src, int64_t ld_src, float *dst, int64_t ld_dst, int64_t rows, int64_t cols) {
    int64_t i = 0;
#ifdef __SSE2__
    for (; i + 4 <= rows; i += 4) {
        int64_t q = 0;
        for (; q + 4 <= cols; q += 4) {
            __m128 r0 = _mm_loadu_ps(src + i * ld_src + q), r1 = _mm_loadu_ps(src + (i + 1) * ld_src + q);
            __m128 r2 = _mm_loadu_ps(src + (i + 2) * ld_src + q), r3 = _mm_loadu_ps(src + (i + 3) * ld_src + q);
            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
            _mm_storeu_ps(dst + q * ld_dst + i, r0);
            _mm_storeu_ps(dst + (q + 1) * ld_dst + i, r1);
            _mm_storeu_ps(dst + (q + 2) * ld_dst + i, r2);
            _mm_storeu_ps(dst + (q + 3) * ld_dst + i, r3);
        }
        for (; q < cols; q++)
            for (int64_t ii = i; ii < i + 4; ii++) dst[q * ld_dst + ii] = src[ii * ld_src + q];
    }
#endif
    for (; i < rows; i++)
        for (int64_t q = 0; q < cols; q++) dst[q * ld_dst + i] = src[i * ld_src + q];
}

static void gather_block(const bn_job *j, const void *t, int64_t b, int64_t c0, int64_t nb, float *rows,
                         float *tmp) {
    const int64_t s = j->s, C = j->c, base = b * s * C + c0;
    if (j->dt == TGC_F32) {
        transpose_f32((const float *)t + base, C, rows, s, s, nb);
        return;
    }
    /* 16-bit: each pixel's nb channels widened into tmp [S, nb] (contiguous loops), then transposed */
    const uint16_t *h = (const uint16_t *)t + base;
    for (int64_t i = 0; i < s; i++) px_load(j->dt, h + i * C, nb, tmp + i * nb);
    transpose_f32(tmp, nb, rows, s, s, nb);
}

/* The sums of the task's channels, BN_BLOCK at a time; each channel's constants into j->aff. */
static void bn_train_nhwc(void *ctx, int64_t lo, int64_t hi) {
    const bn_job *j = ctx;
    const int64_t s = j->s;
    float *rows = tgc_malloc(sizeof(float) * (size_t)(2 * BN_BLOCK * (s ? s : 1))), *tmp = rows + BN_BLOCK * s;
    float *a = j->aff, *bb = j->aff + j->c;
    for (int64_t c0 = lo; c0 < hi; c0 += BN_BLOCK) {
        const int64_t nb = TGC_MIN((int64_t)BN_BLOCK, hi - c0);
        float k[BN_BLOCK];
        double s1[BN_BLOCK] = {0}, s2[BN_BLOCK] = {0};
        for (int64_t b = 0; b < j->n; b++) {
            gather_block(j, j->x, b, c0, nb, rows, tmp);
            if (b == 0)
                for (int64_t q = 0; q < nb; q++) k[q] = rows[q * s];
            for (int64_t q = 0; q < nb; q++) stats_row(rows + q * s, k[q], s, &s1[q], &s2[q]);
        }
        for (int64_t q = 0; q < nb; q++) train_finish(j, c0 + q, k[q], s1[q], s2[q], &a[c0 + q], &bb[c0 + q]);
    }
    free(rows);
}

/* Pixels per step of the elementwise passes: their C channels are contiguous, so a run of pixels is one
 * contiguous range, widened (16-bit) and stored back with one call each. */
#define BN_PX_RUN 64

/* y of pixels [lo, hi), every channel: the same float operations per element as out_row. */
static void bn_train_nhwc_out(void *ctx, int64_t lo, int64_t hi) {
    const bn_job *j = ctx;
    const int64_t C = j->c;
    const float *a = j->aff, *bb = j->aff + C;
    float *buf = j->dt == TGC_F32 ? NULL : tgc_malloc(sizeof(float) * (size_t)(2 * BN_PX_RUN * C));
    for (int64_t p0 = lo; p0 < hi; p0 += BN_PX_RUN) {
        const int64_t np = TGC_MIN((int64_t)BN_PX_RUN, hi - p0), at = p0 * C;
        const float *x = (const float *)j->x + at;
        float *y = (float *)j->y + at;
        if (buf) {
            cpu_load_f32(j->x, j->dt, at, np * C, buf);
            x = buf, y = buf + BN_PX_RUN * C;
        }
        for (int64_t p = 0; p < np; p++) {
            const float *xp = x + p * C;
            float *yp = y + p * C;
            if (j->relu) {
                BN_SIMD for (int64_t q = 0; q < C; q++) yp[q] = relu1(bn_pre(xp[q], a[q], bb[q]));
            } else {
                BN_SIMD for (int64_t q = 0; q < C; q++) yp[q] = bn_pre(xp[q], a[q], bb[q]);
            }
        }
        if (buf) cpu_store_f32(y, j->y, j->dt, at, np * C);
    }
    free(buf);
}

/* The sums of the task's channels, BN_BLOCK at a time; each channel's constants into j->aff. */
static void bn_bwd_nhwc(void *ctx, int64_t lo, int64_t hi) {
    const bn_job *j = ctx;
    const int64_t s = j->s, C = j->c, blk = BN_BLOCK * (s ? s : 1);
    float *xr = tgc_malloc(sizeof(float) * (size_t)(4 * blk)), *dyr = xr + blk, *dm = xr + 2 * blk, *tmp = xr + 3 * blk;
    float *a = j->aff, *bb = a + C, *gm = a + 2 * C, *proj = a + 3 * C, *scale = a + 4 * C;
    for (int64_t ch = lo; ch < hi; ch++) bwd_affine(j, ch, &a[ch], &bb[ch]);
    for (int64_t c0 = lo; c0 < hi; c0 += BN_BLOCK) {
        const int64_t nb = TGC_MIN((int64_t)BN_BLOCK, hi - c0);
        double sdy[BN_BLOCK] = {0}, dot[BN_BLOCK] = {0};
        for (int64_t b = 0; b < j->n; b++) {
            gather_block(j, j->x, b, c0, nb, xr, tmp);
            gather_block(j, j->dy, b, c0, nb, dyr, tmp);
            for (int64_t q = 0; q < nb; q++) {
                const float *x = xr + q * s, *dy = dyr + q * s;
                if (j->relu) mask_row(dy, x, a[c0 + q], bb[c0 + q], s, dm), dy = dm;
                row_sums(x, dy, j->mean_in[c0 + q], s, &sdy[q], &dot[q]);
            }
        }
        for (int64_t q = 0; q < nb; q++)
            bwd_finish(j, c0 + q, sdy[q], dot[q], &gm[c0 + q], &proj[c0 + q], &scale[c0 + q]);
    }
    free(xr);
}

/* dx of pixels [lo, hi), every channel: the same float operations per element as mask_row and dx_row. */
static void bn_bwd_nhwc_out(void *ctx, int64_t lo, int64_t hi) {
    const bn_job *j = ctx;
    const int64_t C = j->c;
    const float *a = j->aff, *bb = a + C, *gm = a + 2 * C, *proj = a + 3 * C, *scale = a + 4 * C, *mean = j->mean_in;
    float *buf = j->dt == TGC_F32 ? NULL : tgc_malloc(sizeof(float) * (size_t)(3 * BN_PX_RUN * C));
    float *pm = tgc_malloc(sizeof(float) * (size_t)(C ? C : 1)); /* one pixel's masked dy */
    for (int64_t p0 = lo; p0 < hi; p0 += BN_PX_RUN) {
        const int64_t np = TGC_MIN((int64_t)BN_PX_RUN, hi - p0), at = p0 * C;
        const float *x = (const float *)j->x + at, *dy = (const float *)j->dy + at;
        float *dx = (float *)j->dx + at;
        if (buf) {
            cpu_load_f32(j->x, j->dt, at, np * C, buf);
            cpu_load_f32(j->dy, j->dt, at, np * C, buf + BN_PX_RUN * C);
            x = buf, dy = buf + BN_PX_RUN * C, dx = buf + 2 * BN_PX_RUN * C;
        }
        for (int64_t p = 0; p < np; p++) {
            const float *xp = x + p * C, *dyp = dy + p * C;
            float *dxp = dx + p * C;
            if (j->relu) {
                BN_SIMD for (int64_t q = 0; q < C; q++) pm[q] = masked(dyp[q], bn_pre(xp[q], a[q], bb[q]) > 0.f);
                dyp = pm;
            }
            BN_SIMD for (int64_t q = 0; q < C; q++) dxp[q] = (dyp[q] - gm[q] - (xp[q] - mean[q]) * proj[q]) * scale[q];
        }
        if (buf) cpu_store_f32(dx, j->dx, j->dt, at, np * C);
    }
    free(pm);
    free(buf);
}

/* Channels per task: enough elements to pay for a thread's wake-up. */
static int64_t bn_grain(int64_t count) { return TGC_MAX((int64_t)1, (int64_t)32768 / TGC_MAX(count, (int64_t)1)); }

/* ROW: one task per channel range (rows). NHWC: the sums per channel range, their n_aff per-channel
 * constants into j->aff, then the elementwise pass over runs of whole pixels. */
static void bn_run(tgc_cpu *c, bn_job *j, int n_aff, cpu_task_fn rows, cpu_task_fn sums, cpu_task_fn pixels) {
    const int64_t cnt = j->n * j->s;
    if (!j->nhwc) {
        cpu_parallel(c, j->c, bn_grain(cnt), rows, j);
        return;
    }
    j->aff = tgc_malloc(sizeof(float) * (size_t)(n_aff * (j->c ? j->c : 1)));
    cpu_parallel(c, j->c, bn_grain(cnt), sums, j);
    cpu_parallel(c, cnt, bn_grain(j->c), pixels, j);
    free(j->aff);
    j->aff = NULL;
}

/* batch_norm_train(x, gamma, beta, running_mean, running_var) -> (y, batch_mean, batch_invstd) */
/* x (and dy) and the data result of one float dtype, everything per-channel f32. */
static int bn_check_dtypes(const cpu_call *k, int n_data_in, tgc_dtype *dt, tgc_err *err) {
    *dt = k->in_t[0].dtype;
    if (!tgc_dtype_is_float(*dt))
        return tgc_fail(err, "cpu backend: %s: operand 0 is %s, expected a float dtype", k->name, tgc_dtype_name(*dt));
    for (int i = 0; i < k->n_in; i++)
        if (cpu_check_dtype(k, 0, i, i < n_data_in ? *dt : TGC_F32, err)) return -1;
    for (int i = 0; i < k->n_out; i++)
        if (cpu_check_dtype(k, 1, i, i == 0 ? *dt : TGC_F32, err)) return -1;
    return 0;
}

int cpu_bn_train(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    tgc_dtype dt;
    if (bn_check_dtypes(k, 1, &dt, err)) return -1;
    int64_t nc, cnt;
    if (bn_shapes(k, &nc, &cnt, err)) return -1;
    if (cnt < 2)
        return tgc_fail(err, "cpu backend: %s: expected more than 1 value per channel when training", k->name);
    const tgc_shape *xs = &k->in_t[0].shape;
    bn_job j = {.n = xs->d[0], .c = nc, .s = cnt / xs->d[0], .x = k->in[0], .gamma = k->in[1], .beta = k->in[2],
                .rm = k->in[3], .rv = k->in[4], .y = k->out[0], .mean = k->out[1], .invstd = k->out[2],
                .eps = k->a->eps, .mom = k->a->momentum, .relu = k->code == TGC_OP_BN_TRAIN_RELU,
                .nhwc = cpu_nhwc(&k->in_t[0]), .dt = dt};
    bn_run(c, &j, 2, bn_train_channels, bn_train_nhwc, bn_train_nhwc_out);
    return 0;
}

/* batch_norm_eval(x, gamma, beta, running_mean, running_var) -> y */
int cpu_bn_eval(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    if (cpu_check_all_f32(k, err)) return -1;
    int64_t nc, cnt;
    if (bn_shapes(k, &nc, &cnt, err)) return -1;
    cpu_key key;
    bn_key(&key, k);
    cpu_prim *p = cpu_cache_find(c, &key);
    if (!p) {
        dnnl_memory_desc_t xmd, cmd;
        dnnl_batch_normalization_desc_t d;
        dnnl_primitive_desc_t pd;
        if (bn_desc(k, &k->in_t[0], dnnl_forward_inference,
                    dnnl_use_global_stats | dnnl_use_scale | dnnl_use_shift, &xmd, &cmd, &d, err) ||
            cpu_pd_create(c, &pd, &d, NULL, k->name, err))
            return -1;
        cpu_argspec spec[] = {{DNNL_ARG_SRC, 0, 0, &xmd},  {DNNL_ARG_SCALE, 1, 0, &cmd},
                              {DNNL_ARG_SHIFT, 2, 0, &cmd}, {DNNL_ARG_MEAN, 3, 0, &cmd},
                              {DNNL_ARG_VARIANCE, 4, 0, &cmd}, {DNNL_ARG_DST, 5, 1, &xmd}};
        if (!(p = cpu_prim_build(c, &key, pd, spec, 6, k->name, err))) return -1;
    }
    void *ptrs[] = {k->in[0], k->in[1], k->in[2], k->in[3], k->in[4], k->out[0]};
    return cpu_prim_run(c, p, ptrs, k->name, err);
}

/* batch_norm_bwd(dy, x, gamma, batch_mean, batch_invstd) -> (dx, dgamma, dbeta);
 * batch_norm_relu_bwd(dy, x, gamma, beta, batch_mean, batch_invstd) -> (dx, dgamma, dbeta) */
int cpu_bn_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    tgc_dtype dt;
    if (bn_check_dtypes(k, 2, &dt, err)) return -1;
    int64_t nc, cnt;
    if (bn_shapes(k, &nc, &cnt, err)) return -1;
    int relu = k->code == TGC_OP_BN_RELU_BWD, st = relu ? 4 : 3; /* where the statistics start */
    const float *invstd = k->in[st + 1];
    for (int64_t i = 0; i < nc; i++)
        if (!(invstd[i] > 0))
            return tgc_fail(err, "cpu backend: %s: batch_invstd[%lld] is not positive", k->name, (long long)i);
    const tgc_shape *xs = &k->in_t[1].shape;
    if (xs->d[0] == 0 || cnt == 0) return 0;
    bn_job j = {.n = xs->d[0], .c = nc, .s = cnt / xs->d[0], .dy = k->in[0], .x = k->in[1], .gamma = k->in[2],
                .beta = relu ? k->in[3] : NULL, .mean_in = k->in[st], .invstd_in = invstd, .dx = k->out[0],
                .dgamma = k->out[1], .dbeta = k->out[2], .relu = relu, .nhwc = cpu_nhwc(&k->in_t[1]), .dt = dt};
    bn_run(c, &j, 5, bn_bwd_channels, bn_bwd_nhwc, bn_bwd_nhwc_out);
    return 0;
}

typedef struct fold_job {
    const float *w, *gamma, *beta, *mean, *var;
    float *wf, *bf;
    int64_t per; /* weights per output channel */
    double eps;
} fold_job;

static void fold_channels(void *ctx, int64_t lo, int64_t hi) {
    const fold_job *j = ctx;
    for (int64_t o = lo; o < hi; o++) {
        double s = (double)j->gamma[o] / sqrt((double)j->var[o] + j->eps);
        for (int64_t i = o * j->per; i < (o + 1) * j->per; i++) j->wf[i] = (float)((double)j->w[i] * s);
        j->bf[o] = (float)((double)j->beta[o] - (double)j->mean[o] * s);
    }
}

/* fold_conv_bn(w[O,...], gamma, beta, running_mean, running_var) -> (w*s, beta - running_mean*s),
 * s = gamma/sqrt(running_var + eps), in double (one rounding per result). */
int cpu_fold_conv_bn(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    if (cpu_check_all_f32(k, err) || cpu_check_same_shape(k, 0, 0, 1, 0, err)) return -1;
    const tgc_shape *w = &k->in_t[0].shape;
    if (w->rank < 1 || w->d[0] < 1) return tgc_fail(err, "cpu backend: %s: weight must be [O,...]", k->name);
    int64_t o = w->d[0];
    for (int i = 1; i < 5; i++)
        if (k->in_t[i].shape.rank != 1 || k->in_t[i].shape.d[0] != o)
            return tgc_fail(err, "cpu backend: %s: operand %d must be [%lld]", k->name, i, (long long)o);
    if (k->out_t[1].shape.rank != 1 || k->out_t[1].shape.d[0] != o)
        return tgc_fail(err, "cpu backend: %s: result 1 must be [%lld]", k->name, (long long)o);
    if (!(k->a->eps > 0)) return tgc_fail(err, "cpu backend: %s: eps must be positive", k->name);
    const float *var = k->in[4];
    for (int64_t i = 0; i < o; i++)
        if (!((double)var[i] + k->a->eps > 0))
            return tgc_fail(err, "cpu backend: %s: running_var[%lld] + eps is not positive", k->name, (long long)i);
    fold_job j = {k->in[0], k->in[1], k->in[2], k->in[3], var, k->out[0], k->out[1], tgc_shape_numel(w) / o,
                  k->a->eps};
    cpu_parallel(c, o, TGC_MAX((int64_t)1, (int64_t)16384 / TGC_MAX(j.per, (int64_t)1)), fold_channels, &j);
    return 0;
}

/* batch_norm_eval_bwd(dy, x, gamma, running_mean, running_var) -> (dx, dgamma, dbeta): one channel per
 * task; the sums in double over (n, spatial) in order. */
typedef struct bn_eval_bwd_job {
    const float *dy, *x, *gamma, *mean, *var;
    float *dx, *dgamma, *dbeta;
    int64_t n, c, s;
    double eps;
    int nhwc;
} bn_eval_bwd_job;

static void bn_eval_bwd_channels(void *ctx, int64_t lo, int64_t hi) {
    const bn_eval_bwd_job *j = ctx;
    for (int64_t ch = lo; ch < hi; ch++) {
        double inv = 1.0 / sqrt((double)j->var[ch] + j->eps), m = j->mean[ch];
        float f = (float)((double)j->gamma[ch] * inv);
        double sg = 0, sb = 0;
        /* element (i, ch, q) at base + q * step: the same order in both layouts */
        const int64_t step = j->nhwc ? j->c : 1;
        for (int64_t i = 0; i < j->n; i++) {
            int64_t base = j->nhwc ? i * j->s * j->c + ch : (i * j->c + ch) * j->s;
            for (int64_t q = 0, at = base; q < j->s; q++, at += step) {
                double d = j->dy[at];
                sb += d;
                sg += d * ((double)j->x[at] - m) * inv;
                j->dx[at] = j->dy[at] * f;
            }
        }
        j->dgamma[ch] = (float)sg;
        j->dbeta[ch] = (float)sb;
    }
}

int cpu_bn_eval_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    if (cpu_check_all_f32(k, err)) return -1;
    int64_t nc, cnt;
    if (bn_shapes(k, &nc, &cnt, err)) return -1;
    const float *var = k->in[4];
    for (int64_t i = 0; i < nc; i++)
        if (!(var[i] + k->a->eps > 0))
            return tgc_fail(err, "cpu backend: %s: running_var[%lld] + eps is not positive", k->name, (long long)i);
    const tgc_shape *xs = &k->in_t[1].shape;
    if (xs->d[0] == 0 || cnt == 0) return 0;
    bn_eval_bwd_job j = {k->in[0], k->in[1], k->in[2], k->in[3], var, k->out[0], k->out[1], k->out[2],
                         xs->d[0], nc, cnt / xs->d[0], k->a->eps, cpu_nhwc(&k->in_t[1])};
    cpu_parallel(c, nc, bn_grain(cnt), bn_eval_bwd_channels, &j);
    return 0;
}
