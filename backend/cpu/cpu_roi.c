/* backend/cpu/cpu_roi.c - the detection ops of the RoI path: roi_align and its backward, topk, nms_fixed, smooth_l1 and its
 * backward, box_iou, box_encode, box_decode, gather, giou_loss and its backward, rcnn_targets; Faster R-CNN's
 * anchor_decode (the RPN's anchors at top-k indices, decoded as box_decode) and class_box_targets.
 *
 * roi_align follows mmcv's and torchvision's CPU kernels step for step in float (the same sample positions,
 * bilinear weights and summation order), so results agree with theirs to rounding. Its backward is a
 * scatter-add; here it is a loop over channels, each channel's planes receiving every RoI's contribution
 * in RoI order from one thread: the result is bit-identical for any thread count, and no atomics are needed.
 * The reductions of smooth_l1 sum fixed blocks of 4096 elements in double, then the blocks in order, so
 * the loss does not depend on the thread count either. */
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "backend/cpu/cpu_internal.h"
#include "common/philox.h"

/* ---- roi_align ------------------------------------------------------------------------------------- */
/* Beyond this many samples per bin along one axis a RoI is refused (a RoI inside any canvas up to
 * 7 x 1024 feature pixels stays below it). */
#define ROI_MAX_GRID 1024

typedef struct roi_geom {
    int64_t b;                      /* batch index; -1: not on this op's level (a zero row) */
    float start_h, start_w, bin_h, bin_w;
    int64_t grid_h, grid_w;
    float count;
} roi_geom;

/* MMDetection's SingleRoIExtractor.map_roi_levels: floor(log2(sqrt(w*h)/finest_scale + 1e-6)) clamped to
 * [0, num_levels-1], in float as it computes it; the floor of the log2 as comparisons with powers of two
 * (exact, and the same on the GPU, whose log2f may differ from glibc's in the last bit). */
static int64_t roi_level_of(const float *r, const tgc_attrs *a) {
    float v = sqrtf((r[3] - r[1]) * (r[4] - r[2])) / (float)a->finest_scale + 1e-6f;
    int64_t l = 0;
    float p = 2.f;
    while (l < a->num_levels - 1 && v >= p) l++, p *= 2.f; /* NaN (a degenerate box) stays on level 0 */
    return l;
}

static int roi_geoms(const cpu_call *k, const float *rois, int64_t n_rois, int64_t n_batch, int64_t oh, int64_t ow,
                     roi_geom *g, tgc_err *err) {
    const tgc_attrs *a = k->a;
    float scale = (float)a->spatial_scale, off = a->aligned ? 0.5f : 0.0f;
    for (int64_t i = 0; i < n_rois; i++) {
        const float *r = rois + i * 5;
        float bf = r[0];
        if (!(bf >= 0 && bf < (float)n_batch) || bf != floorf(bf))
            return tgc_fail(err, "cpu backend: %s: RoI %lld has batch index %g, not an integer in [0, %lld)", k->name,
                            (long long)i, (double)bf, (long long)n_batch);
        roi_geom *q = &g[i];
        q->b = (int64_t)bf;
        if (a->roi_level >= 0 && roi_level_of(r, a) != a->roi_level) q->b = -1;
        q->start_w = r[1] * scale - off, q->start_h = r[2] * scale - off;
        float rw = r[3] * scale - off - q->start_w, rh = r[4] * scale - off - q->start_h;
        if (!a->aligned) rw = fmaxf(rw, 1.f), rh = fmaxf(rh, 1.f);
        q->bin_h = rh / (float)oh, q->bin_w = rw / (float)ow;
        if (a->sampling_ratio > 0) {
            q->grid_h = q->grid_w = a->sampling_ratio;
        } else {
            float gh = ceilf(rh / (float)oh), gw = ceilf(rw / (float)ow);
            if (!(gh <= ROI_MAX_GRID && gw <= ROI_MAX_GRID) && q->b >= 0)
                return tgc_fail(err, "cpu backend: %s: RoI %lld [%g, %g, %g, %g] needs %g x %g samples per bin (at most %d; "
                                "spatial_scale %g)", k->name, (long long)i, (double)r[1], (double)r[2], (double)r[3],
                                (double)r[4], (double)gh, (double)gw, ROI_MAX_GRID, a->spatial_scale);
            if (!(gh <= ROI_MAX_GRID && gw <= ROI_MAX_GRID)) gh = gw = 0; /* another level's RoI: never sampled */
            q->grid_h = gh > 0 ? (int64_t)gh : 0, q->grid_w = gw > 0 ? (int64_t)gw : 0;
        }
        q->count = fmaxf((float)(q->grid_h * q->grid_w), 1.f);
    }
    return 0;
}

/* The bilinear sample at (y, x) of an h x w plane: the four indices and weights, or 0 when the point lies
 * outside [-1, h] x [-1, w] (then it contributes nothing), as mmcv/torchvision. */
static int bilinear(float y, float x, int64_t h, int64_t w, int64_t idx[4], float wt[4]) {
    if (!(y >= -1.f && y <= (float)h && x >= -1.f && x <= (float)w)) return 0;
    if (y <= 0) y = 0;
    if (x <= 0) x = 0;
    int64_t yl = (int64_t)y, xl = (int64_t)x, yh, xh;
    if (yl >= h - 1) yh = yl = h - 1, y = (float)yl;
    else yh = yl + 1;
    if (xl >= w - 1) xh = xl = w - 1, x = (float)xl;
    else xh = xl + 1;
    float ly = y - (float)yl, lx = x - (float)xl, hy = 1.f - ly, hx = 1.f - lx;
    idx[0] = yl * w + xl, idx[1] = yl * w + xh, idx[2] = yh * w + xl, idx[3] = yh * w + xh;
    wt[0] = hy * hx, wt[1] = hy * lx, wt[2] = ly * hx, wt[3] = ly * lx;
    return 1;
}

typedef struct roi_job {
    const roi_geom *g;
    int64_t n_rois, ch, h, w, oh, ow;
    const float *x, *dy; /* forward: x [N,C,H,W]; backward: dy [K,C,oh,ow] */
    float *y, *dx;
} roi_job;

/* Forward: one (RoI, channel) output plane per item. */
static void roi_fwd(void *ctx, int64_t lo, int64_t hi) {
    const roi_job *j = ctx;
    for (int64_t it = lo; it < hi; it++) {
        int64_t r = it / j->ch, c = it % j->ch;
        const roi_geom *q = &j->g[r];
        float *y = j->y + it * j->oh * j->ow;
        if (q->b < 0) {
            for (int64_t i = 0; i < j->oh * j->ow; i++) y[i] = 0;
            continue;
        }
        const float *x = j->x + (q->b * j->ch + c) * j->h * j->w;
        for (int64_t ph = 0; ph < j->oh; ph++)
            for (int64_t pw = 0; pw < j->ow; pw++) {
                float acc = 0;
                for (int64_t iy = 0; iy < q->grid_h; iy++) {
                    float yy = q->start_h + (float)ph * q->bin_h + ((float)iy + .5f) * q->bin_h / (float)q->grid_h;
                    for (int64_t ix = 0; ix < q->grid_w; ix++) {
                        float xx = q->start_w + (float)pw * q->bin_w + ((float)ix + .5f) * q->bin_w / (float)q->grid_w;
                        int64_t idx[4];
                        float wt[4];
                        if (!bilinear(yy, xx, j->h, j->w, idx, wt)) continue;
                        acc += wt[0] * x[idx[0]] + wt[1] * x[idx[1]] + wt[2] * x[idx[2]] + wt[3] * x[idx[3]];
                    }
                }
                y[ph * j->ow + pw] = acc / q->count;
            }
    }
}

/* Backward: one channel per item; its planes of every image get the RoIs' contributions in RoI order. */
static void roi_bwd(void *ctx, int64_t lo, int64_t hi) {
    const roi_job *j = ctx;
    for (int64_t c = lo; c < hi; c++)
        for (int64_t r = 0; r < j->n_rois; r++) {
            const roi_geom *q = &j->g[r];
            if (q->b < 0) continue;
            float *dx = j->dx + (q->b * j->ch + c) * j->h * j->w;
            const float *dy = j->dy + (r * j->ch + c) * j->oh * j->ow;
            for (int64_t ph = 0; ph < j->oh; ph++)
                for (int64_t pw = 0; pw < j->ow; pw++) {
                    float gb = dy[ph * j->ow + pw];
                    for (int64_t iy = 0; iy < q->grid_h; iy++) {
                        float yy = q->start_h + (float)ph * q->bin_h + ((float)iy + .5f) * q->bin_h / (float)q->grid_h;
                        for (int64_t ix = 0; ix < q->grid_w; ix++) {
                            float xx = q->start_w + (float)pw * q->bin_w + ((float)ix + .5f) * q->bin_w / (float)q->grid_w;
                            int64_t idx[4];
                            float wt[4];
                            if (!bilinear(yy, xx, j->h, j->w, idx, wt)) continue;
                            for (int t = 0; t < 4; t++) dx[idx[t]] += gb * wt[t] / q->count;
                        }
                    }
                }
        }
}

/* Common checks: operand `data` [.., C, ..] f32 4-D, rois [K,5] f32; fills the job's sizes and geometry. */
static int roi_setup(const cpu_call *k, const tgc_shape *xs, roi_job *j, roi_geom **g, tgc_err *err) {
    if (cpu_check_all_f32(k, err) || cpu_check_rank(k, 0, 0, 4, err) || cpu_check_rank(k, 0, 1, 2, err) ||
        cpu_check_rank(k, 1, 0, 4, err))
        return -1;
    const tgc_shape *rs = &k->in_t[1].shape;
    if (rs->d[1] != 5) return tgc_fail(err, "cpu backend: %s: rois must be [K,5]", k->name);
    if (xs->rank != 4) return tgc_fail(err, "cpu backend: %s: the features must be 4-D", k->name);
    j->n_rois = rs->d[0], j->ch = xs->d[1], j->h = xs->d[2], j->w = xs->d[3];
    j->oh = k->a->output_size[0], j->ow = k->a->output_size[1];
    if (j->oh < 1 || j->ow < 1 || !(k->a->spatial_scale > 0))
        return tgc_fail(err, "cpu backend: %s: output_size must be positive and spatial_scale > 0", k->name);
    if (j->h < 1 || j->w < 1) return tgc_fail(err, "cpu backend: %s: empty feature map", k->name);
    *g = tgc_malloc(sizeof **g * (size_t)(j->n_rois ? j->n_rois : 1));
    if (roi_geoms(k, k->in[1], j->n_rois, xs->d[0], j->oh, j->ow, *g, err) < 0) {
        free(*g);
        return -1;
    }
    j->g = *g;
    return 0;
}

/* roi_align(x, rois) -> y[K,C,oh,ow] */
int cpu_roi_align(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    roi_job j = {0};
    roi_geom *g;
    if (roi_setup(k, &k->in_t[0].shape, &j, &g, err) < 0) return -1;
    tgc_shape want = tgc_shape4(j.n_rois, j.ch, j.oh, j.ow);
    if (!tgc_shape_eq(&want, &k->out_t[0].shape)) {
        free(g);
        return tgc_fail(err, "cpu backend: %s: the result is not [K,C,oh,ow]", k->name);
    }
    j.x = k->in[0], j.y = k->out[0];
    cpu_parallel(c, j.n_rois * j.ch, 1, roi_fwd, &j);
    free(g);
    return 0;
}

/* roi_align_bwd(dy, rois) -> dx of attrs.shape */
int cpu_roi_align_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    roi_job j = {0};
    roi_geom *g;
    if (roi_setup(k, &k->out_t[0].shape, &j, &g, err) < 0) return -1;
    tgc_shape want = tgc_shape4(j.n_rois, j.ch, j.oh, j.ow);
    if (!tgc_shape_eq(&want, &k->in_t[0].shape)) {
        free(g);
        return tgc_fail(err, "cpu backend: %s: dy is not [K,C,oh,ow]", k->name);
    }
    j.dy = k->in[0], j.dx = k->out[0];
    int64_t n = tgc_shape_numel(&k->out_t[0].shape);
    for (int64_t i = 0; i < n; i++) j.dx[i] = 0;
    cpu_parallel(c, j.ch, 1, roi_bwd, &j);
    free(g);
    return 0;
}

/* ---- topk ------------------------------------------------------------------------------------------ */
typedef struct ranked {
    float v;
    int32_t i;
} ranked;

/* Descending, NaN first, ties to the lower index: a total order, so the sort's result is unique. */
static int rank_cmp(const void *pa, const void *pb) {
    const ranked *a = pa, *b = pb;
    int na = isnan(a->v), nb = isnan(b->v);
    if (na != nb) return na ? -1 : 1;
    if (!na && a->v != b->v) return a->v > b->v ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

typedef struct topk_job {
    const float *x;
    float *vals;
    int32_t *idx;
    int64_t n, k;
} topk_job;

static void topk_rows(void *ctx, int64_t lo, int64_t hi) {
    const topk_job *j = ctx;
    ranked *buf = tgc_malloc(sizeof *buf * (size_t)j->n);
    for (int64_t r = lo; r < hi; r++) {
        const float *x = j->x + r * j->n;
        for (int64_t i = 0; i < j->n; i++) buf[i].v = x[i], buf[i].i = (int32_t)i;
        qsort(buf, (size_t)j->n, sizeof *buf, rank_cmp);
        for (int64_t i = 0; i < j->k; i++) j->vals[r * j->k + i] = buf[i].v, j->idx[r * j->k + i] = buf[i].i;
    }
    free(buf);
}

/* topk(x) -> (values, indices) */
int cpu_topk(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    if (cpu_check_dtype(k, 0, 0, TGC_F32, err) || cpu_check_dtype(k, 1, 0, TGC_F32, err) ||
        cpu_check_dtype(k, 1, 1, TGC_I32, err) || cpu_check_same_shape(k, 1, 0, 1, 1, err))
        return -1;
    const tgc_shape *xs = &k->in_t[0].shape;
    if (xs->rank < 1) return tgc_fail(err, "cpu backend: %s: the input needs a dimension", k->name);
    topk_job j = {k->in[0], k->out[0], k->out[1], xs->d[xs->rank - 1], k->a->k};
    if (j.n > INT32_MAX || j.k < 1 || j.k > j.n)
        return tgc_fail(err, "cpu backend: %s: k=%lld for rows of %lld", k->name, (long long)j.k, (long long)j.n);
    if (tgc_shape_numel(&k->out_t[0].shape) * j.n != tgc_shape_numel(xs) * j.k)
        return tgc_fail(err, "cpu backend: %s: the results are not [..., k]", k->name);
    cpu_parallel(c, j.n ? tgc_shape_numel(xs) / j.n : 0, 1, topk_rows, &j);
    return 0;
}

/* ---- nms_fixed ------------------------------------------------------------------------------------- */
typedef struct nms_job {
    const float *boxes, *scores;
    const int32_t *ids;
    int32_t *keep, *count;
    int64_t n, k;
    double thr;
} nms_job;

static void nms_images(void *ctx, int64_t lo, int64_t hi) {
    const nms_job *j = ctx;
    ranked *order = tgc_malloc(sizeof *order * (size_t)(j->n ? j->n : 1));
    float *area = tgc_malloc(sizeof *area * (size_t)(j->n ? j->n : 1));
    unsigned char *gone = tgc_malloc((size_t)(j->n ? j->n : 1));
    for (int64_t b = lo; b < hi; b++) {
        const float *bx = j->boxes + b * j->n * 4, *sc = j->scores + b * j->n;
        const int32_t *id = j->ids + b * j->n;
        int32_t *keep = j->keep + b * j->k;
        int64_t m = 0, kept = 0;
        for (int64_t i = 0; i < j->n; i++) {
            area[i] = (bx[i * 4 + 2] - bx[i * 4]) * (bx[i * 4 + 3] - bx[i * 4 + 1]);
            gone[i] = 0;
            if (!isnan(sc[i]) && sc[i] != -INFINITY) order[m].v = sc[i], order[m].i = (int32_t)i, m++;
        }
        qsort(order, (size_t)m, sizeof *order, rank_cmp);
        for (int64_t p = 0; p < m && kept < j->k; p++) {
            int64_t i = order[p].i;
            if (gone[i]) continue;
            keep[kept++] = (int32_t)i;
            const float *bi = bx + i * 4;
            for (int64_t q = p + 1; q < m; q++) {
                int64_t t = order[q].i;
                if (gone[t] || id[t] != id[i]) continue;
                const float *bt = bx + t * 4;
                float w = fmaxf(0.f, fminf(bi[2], bt[2]) - fmaxf(bi[0], bt[0]));
                float h = fmaxf(0.f, fminf(bi[3], bt[3]) - fmaxf(bi[1], bt[1]));
                float inter = w * h, ovr = inter / (area[i] + area[t] - inter);
                if ((double)ovr > j->thr) gone[t] = 1;
            }
        }
        j->count[b] = (int32_t)kept;
        for (int64_t p = kept; p < j->k; p++) keep[p] = -1;
    }
    free(order), free(area), free(gone);
}

/* nms_fixed(boxes, scores, ids) -> (keep, count) */
int cpu_nms_fixed(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    if (cpu_check_dtype(k, 0, 0, TGC_F32, err) || cpu_check_dtype(k, 0, 1, TGC_F32, err) ||
        cpu_check_dtype(k, 0, 2, TGC_I32, err) || cpu_check_dtype(k, 1, 0, TGC_I32, err) ||
        cpu_check_dtype(k, 1, 1, TGC_I32, err) || cpu_check_rank(k, 0, 0, 3, err) || cpu_check_rank(k, 0, 1, 2, err) ||
        cpu_check_same_shape(k, 0, 1, 0, 2, err) || cpu_check_rank(k, 1, 0, 2, err) || cpu_check_rank(k, 1, 1, 1, err))
        return -1;
    const tgc_shape *bs = &k->in_t[0].shape;
    nms_job j = {k->in[0], k->in[1], k->in[2], k->out[0], k->out[1], bs->d[1], k->a->k, k->a->iou_threshold};
    if (bs->d[2] != 4 || k->in_t[1].shape.d[0] != bs->d[0] || k->in_t[1].shape.d[1] != bs->d[1] ||
        k->out_t[0].shape.d[0] != bs->d[0] || k->out_t[0].shape.d[1] != j.k || k->out_t[1].shape.d[0] != bs->d[0])
        return tgc_fail(err, "cpu backend: %s: boxes [B,n,4], scores and ids [B,n], keep [B,k], count [B] disagree", k->name);
    if (j.n > INT32_MAX) return tgc_fail(err, "cpu backend: %s: %lld boxes per image (at most 2^31-1)", k->name, (long long)j.n);
    cpu_parallel(c, bs->d[0], 1, nms_images, &j);
    return 0;
}

/* ---- smooth_l1 ------------------------------------------------------------------------------------- */
#define SL1_BLOCK 4096

typedef struct sl1_job {
    const float *p, *t, *w;
    int64_t n;
    double beta, scale; /* backward: dloss * alpha / (avg_factor + eps) */
    double *part;       /* forward: one sum per block */
    float *dp;
} sl1_job;

static double sl1(double d, double beta) {
    double a = fabs(d);
    return a < beta ? 0.5 * d * d / beta : a - 0.5 * beta;
}

static void sl1_fwd_blocks(void *ctx, int64_t lo, int64_t hi) {
    const sl1_job *j = ctx;
    for (int64_t b = lo; b < hi; b++) {
        int64_t e = TGC_MIN(j->n, (b + 1) * SL1_BLOCK);
        double s = 0;
        for (int64_t i = b * SL1_BLOCK; i < e; i++)
            if (j->w[i] != 0) s += (double)j->w[i] * sl1((double)j->p[i] - (double)j->t[i], j->beta);
        j->part[b] = s;
    }
}

static void sl1_bwd_run(void *ctx, int64_t lo, int64_t hi) {
    const sl1_job *j = ctx;
    for (int64_t i = lo; i < hi; i++) {
        double d = (double)j->p[i] - (double)j->t[i];
        double g = fabs(d) < j->beta ? d / j->beta : (double)((d > 0) - (d < 0));
        j->dp[i] = j->w[i] != 0 ? (float)(j->scale * (double)j->w[i] * g) : 0.f;
    }
}

/* pred, target, weight from operand `first`; avg_factor after them. Returns avg_factor + FLT_EPSILON. */
static int sl1_setup(const cpu_call *k, int first, sl1_job *j, double *denom, tgc_err *err) {
    if (cpu_check_all_f32(k, err) || cpu_check_same_shape(k, 0, first, 0, first + 1, err) ||
        cpu_check_same_shape(k, 0, first, 0, first + 2, err))
        return -1;
    if (tgc_shape_numel(&k->in_t[first + 3].shape) != 1)
        return tgc_fail(err, "cpu backend: %s: avg_factor must have one element", k->name);
    j->p = k->in[first], j->t = k->in[first + 1], j->w = k->in[first + 2];
    j->n = tgc_shape_numel(&k->in_t[first].shape);
    j->beta = k->a->beta;
    if (!(j->beta >= 0)) return tgc_fail(err, "cpu backend: %s: beta %g is negative", k->name, j->beta);
    *denom = (double)*(const float *)k->in[first + 3] + (double)FLT_EPSILON;
    return 0;
}

/* The sum of n terms in blocks of SL1_BLOCK: fn writes block b's sum to part[b] (part: the job's field), and
 * the block sums are added in block order, so the result does not depend on the thread count. */
static double blocked_sum(tgc_cpu *c, int64_t n, cpu_task_fn fn, void *job, double **part) {
    int64_t nb = (n + SL1_BLOCK - 1) / SL1_BLOCK;
    *part = tgc_malloc(sizeof(double) * (size_t)(nb ? nb : 1));
    cpu_parallel(c, nb, 1, fn, job);
    double s = 0;
    for (int64_t b = 0; b < nb; b++) s += (*part)[b];
    free(*part);
    *part = NULL;
    return s;
}

/* smooth_l1(pred, target, weight, avg_factor) -> loss[] */
int cpu_smooth_l1(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    sl1_job j = {0};
    double denom;
    if (sl1_setup(k, 0, &j, &denom, err) < 0) return -1;
    if (tgc_shape_numel(&k->out_t[0].shape) != 1) return tgc_fail(err, "cpu backend: %s: the loss must be a scalar", k->name);
    double s = blocked_sum(c, j.n, sl1_fwd_blocks, &j, &j.part);
    *(float *)k->out[0] = (float)(k->a->alpha * s / denom);
    return 0;
}

/* smooth_l1_bwd(dloss, pred, target, weight, avg_factor) -> dpred */
int cpu_smooth_l1_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    sl1_job j = {0};
    double denom;
    if (sl1_setup(k, 1, &j, &denom, err) < 0 || cpu_check_same_shape(k, 0, 1, 1, 0, err)) return -1;
    if (tgc_shape_numel(&k->in_t[0].shape) != 1) return tgc_fail(err, "cpu backend: %s: dloss must be a scalar", k->name);
    j.scale = (double)*(const float *)k->in[0] * k->a->alpha / denom;
    j.dp = k->out[0];
    cpu_parallel(c, j.n, SL1_BLOCK, sl1_bwd_run, &j);
    return 0;
}

/* ---- box_iou, box_encode, box_decode, gather --------------------------------------------------------------
 * In float as MMDetection computes them (bbox_overlaps, DeltaXYWHBBoxCoder); the logarithm and exponential
 * in double, rounded to float, so that the GPU's libdevice agrees (torch's float log/exp may differ by an ulp). */
typedef struct box_job {
    const float *a, *b, *m;
    float *y;
    int64_t n, m_cols; /* box_iou: rows n of a, m_cols of b per image */
    const tgc_attrs *at;
} box_job;

static void iou_rows(void *ctx, int64_t lo, int64_t hi) {
    const box_job *j = ctx;
    float eps = (float)j->at->eps;
    for (int64_t r = lo; r < hi; r++) { /* r = image * n + i */
        int64_t img = r / j->n;
        const float *p = j->a + r * 4;
        float ap = (p[2] - p[0]) * (p[3] - p[1]);
        for (int64_t c = 0; c < j->m_cols; c++) {
            const float *q = j->b + (img * j->m_cols + c) * 4;
            float aq = (q[2] - q[0]) * (q[3] - q[1]);
            float w = fmaxf(fminf(p[2], q[2]) - fmaxf(p[0], q[0]), 0.f), h = fmaxf(fminf(p[3], q[3]) - fmaxf(p[1], q[1]), 0.f);
            float ov = w * h, un = fmaxf(ap + aq - ov, eps);
            j->y[r * j->m_cols + c] = ov / un;
        }
    }
}

/* DeltaXYWHBBoxCoder.encode of one box (box_encode, rcnn_targets). */
static void encode_one(const float *p, const float *g, const double *mn, const double *sd, float *y) {
    float px = (p[0] + p[2]) * 0.5f, py = (p[1] + p[3]) * 0.5f, pw = p[2] - p[0], ph = p[3] - p[1];
    float gx = (g[0] + g[2]) * 0.5f, gy = (g[1] + g[3]) * 0.5f, gw = g[2] - g[0], gh = g[3] - g[1];
    float d[4] = {(gx - px) / pw, (gy - py) / ph, (float)log((double)(gw / pw)), (float)log((double)(gh / ph))};
    for (int k = 0; k < 4; k++) y[k] = (d[k] - (float)mn[k]) / (float)sd[k];
}

static void encode_boxes(void *ctx, int64_t lo, int64_t hi) {
    const box_job *j = ctx;
    for (int64_t i = lo; i < hi; i++) encode_one(j->a + i * 4, j->b + i * 4, j->at->target_means, j->at->target_stds, j->y + i * 4);
}

/* DeltaXYWHBBoxCoder.decode of one box r by deltas dl, clipped to ms (h, w) where clip_border. */
static void decode_one(const float *r, const float *dl, const float *ms, const tgc_attrs *at, float maxr, float *out) {
    const double *mn = at->target_means, *sd = at->target_stds;
    float d[4];
    for (int k = 0; k < 4; k++) d[k] = dl[k] * (float)sd[k] + (float)mn[k];
    float px = (r[0] + r[2]) * 0.5f, py = (r[1] + r[3]) * 0.5f, pw = r[2] - r[0], ph = r[3] - r[1];
    float dw = fminf(fmaxf(d[2], -maxr), maxr), dh = fminf(fmaxf(d[3], -maxr), maxr);
    float gx = px + pw * d[0], gy = py + ph * d[1];
    float gw = pw * (float)exp((double)dw), gh = ph * (float)exp((double)dh);
    float b[4] = {gx - gw * 0.5f, gy - gh * 0.5f, gx + gw * 0.5f, gy + gh * 0.5f};
    if (at->clip_border)
        for (int k = 0; k < 4; k++) b[k] = fminf(fmaxf(b[k], 0.f), ms[k % 2 ? 0 : 1]);
    for (int k = 0; k < 4; k++) out[k] = b[k];
}

static void decode_boxes(void *ctx, int64_t lo, int64_t hi) {
    const box_job *j = ctx;
    float maxr = (float)fabs(log(j->at->wh_ratio_clip));
    for (int64_t i = lo; i < hi; i++)
        decode_one(j->a + i * 4, j->b + i * 4, j->m + (i / j->n) * 2, j->at, maxr, j->y + i * 4);
}

/* box_iou(a[B,n,4], b[B,m,4]) -> [B,n,m] */
int cpu_box_iou(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    if (cpu_check_all_f32(k, err) || cpu_check_rank(k, 0, 0, 3, err) || cpu_check_rank(k, 0, 1, 3, err) ||
        cpu_check_rank(k, 1, 0, 3, err))
        return -1;
    const tgc_shape *a = &k->in_t[0].shape, *b = &k->in_t[1].shape, *y = &k->out_t[0].shape;
    if (a->d[2] != 4 || b->d[2] != 4 || b->d[0] != a->d[0] || y->d[0] != a->d[0] || y->d[1] != a->d[1] || y->d[2] != b->d[1])
        return tgc_fail(err, "cpu backend: %s: a [B,n,4], b [B,m,4] and the result [B,n,m] disagree", k->name);
    box_job j = {k->in[0], k->in[1], NULL, k->out[0], a->d[1], b->d[1], k->a};
    cpu_parallel(c, a->d[0] * a->d[1], TGC_MAX((int64_t)1, 4096 / TGC_MAX(b->d[1], (int64_t)1)), iou_rows, &j);
    return 0;
}

/* box_encode(proposals, gt) -> deltas */
int cpu_box_encode(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    if (cpu_check_all_f32(k, err) || cpu_check_same_shape(k, 0, 0, 0, 1, err) || cpu_check_same_shape(k, 0, 0, 1, 0, err))
        return -1;
    const tgc_shape *s = &k->in_t[0].shape;
    if (s->rank < 1 || s->d[s->rank - 1] != 4) return tgc_fail(err, "cpu backend: %s: boxes must be [..., 4]", k->name);
    box_job j = {k->in[0], k->in[1], NULL, k->out[0], 1, 0, k->a};
    cpu_parallel(c, tgc_shape_numel(s) / 4, 1024, encode_boxes, &j);
    return 0;
}

/* box_decode(rois[B,n,4], deltas, max_shape[B,2]) -> boxes */
int cpu_box_decode(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    if (cpu_check_all_f32(k, err) || cpu_check_rank(k, 0, 0, 3, err) || cpu_check_same_shape(k, 0, 0, 0, 1, err) ||
        cpu_check_same_shape(k, 0, 0, 1, 0, err) || cpu_check_rank(k, 0, 2, 2, err))
        return -1;
    const tgc_shape *s = &k->in_t[0].shape, *m = &k->in_t[2].shape;
    if (s->d[2] != 4 || m->d[0] != s->d[0] || m->d[1] != 2)
        return tgc_fail(err, "cpu backend: %s: rois [B,n,4] and max_shape [B,2] disagree", k->name);
    if (!(k->a->wh_ratio_clip > 0)) return tgc_fail(err, "cpu backend: %s: wh_ratio_clip must be positive", k->name);
    box_job j = {k->in[0], k->in[1], k->in[2], k->out[0], s->d[1], 0, k->a};
    cpu_parallel(c, s->d[0] * s->d[1], 1024, decode_boxes, &j);
    return 0;
}

/* gather(x[B,n,...], idx[B,m]) -> y[B,m,...] */
int cpu_gather(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    (void)c;
    const tgc_type *x = &k->in_t[0];
    if (x->dtype != TGC_F32 && x->dtype != TGC_I32) return tgc_fail(err, "cpu backend: %s: x must be f32 or i32", k->name);
    if (cpu_check_dtype(k, 1, 0, x->dtype, err) || cpu_check_dtype(k, 0, 1, TGC_I32, err) || cpu_check_rank(k, 0, 1, 2, err))
        return -1;
    const tgc_shape *xs = &x->shape, *is = &k->in_t[1].shape, *ys = &k->out_t[0].shape;
    if (xs->rank < 2 || is->d[0] != xs->d[0] || ys->rank != xs->rank || ys->d[0] != xs->d[0] || ys->d[1] != is->d[1])
        return tgc_fail(err, "cpu backend: %s: x [B,n,...], idx [B,m] and the result [B,m,...] disagree", k->name);
    int64_t inner = 1, n = xs->d[1], m = is->d[1];
    for (int d = 2; d < xs->rank; d++) inner *= xs->d[d];
    const int32_t *idx = k->in[1];
    for (int64_t i = 0; i < xs->d[0] * m; i++)
        if (idx[i] < -1 || idx[i] >= n)
            return tgc_fail(err, "cpu backend: %s: index %d at [%lld,%lld] is outside [-1, %lld)", k->name, (int)idx[i],
                            (long long)(i / m), (long long)(i % m), (long long)n);
    float ff = (float)k->a->alpha;
    int32_t fi = (int32_t)k->a->alpha;
    for (int64_t i = 0; i < xs->d[0] * m; i++) {
        int64_t b = i / m;
        if (x->dtype == TGC_F32) {
            float *y = (float *)k->out[0] + i * inner;
            const float *src = (const float *)k->in[0] + (b * n + idx[i]) * inner;
            for (int64_t e = 0; e < inner; e++) y[e] = idx[i] < 0 ? ff : src[e];
        } else {
            int32_t *y = (int32_t *)k->out[0] + i * inner;
            const int32_t *src = (const int32_t *)k->in[0] + (b * n + idx[i]) * inner;
            for (int64_t e = 0; e < inner; e++) y[e] = idx[i] < 0 ? fi : src[e];
        }
    }
    return 0;
}

/* ---- giou_loss --------------------------------------------------------------------------------------------
 * One box in float as MMDetection's bbox_overlaps(mode='giou', is_aligned=True) computes it; the backward in
 * double from the same float intermediates, with PyTorch's subgradients (maximum/minimum: a tie gives each
 * side half; clamp(min=0): the gradient passes at 0). Sums as smooth_l1's: blocks of 4096 boxes, in order. */
typedef struct giou_box {
    float ap, iw_raw, ih_raw, iw, ih, ov, un_raw, un, ew_raw, eh_raw, ew, eh, ea_raw, ea, loss;
} giou_box;

static giou_box giou_fwd(const float *p, const float *t, float eps) {
    giou_box b;
    b.ap = (p[2] - p[0]) * (p[3] - p[1]);
    float at = (t[2] - t[0]) * (t[3] - t[1]);
    b.iw_raw = fminf(p[2], t[2]) - fmaxf(p[0], t[0]), b.ih_raw = fminf(p[3], t[3]) - fmaxf(p[1], t[1]);
    b.iw = fmaxf(b.iw_raw, 0.f), b.ih = fmaxf(b.ih_raw, 0.f);
    b.ov = b.iw * b.ih;
    b.un_raw = b.ap + at - b.ov;
    b.ew_raw = fmaxf(p[2], t[2]) - fminf(p[0], t[0]), b.eh_raw = fmaxf(p[3], t[3]) - fminf(p[1], t[1]);
    b.un = fmaxf(b.un_raw, eps);
    float iou = b.ov / b.un;
    b.ew = fmaxf(b.ew_raw, 0.f), b.eh = fmaxf(b.eh_raw, 0.f);
    b.ea_raw = b.ew * b.eh;
    b.ea = fmaxf(b.ea_raw, eps);
    float giou = iou - (b.ea - b.un) / b.ea;
    b.loss = 1.f - giou;
    return b;
}

/* d max(a, b) / da and d min(a, b) / da, PyTorch's. */
static double dmax(float a, float b) { return a > b ? 1.0 : a == b ? 0.5 : 0.0; }
static double dmin(float a, float b) { return a < b ? 1.0 : a == b ? 0.5 : 0.0; }

/* d loss / d p (4 values) times g. */
static void giou_bwd(const float *p, const float *t, float eps, double g, double *dp) {
    giou_box b = giou_fwd(p, t, eps);
    double un = b.un, ea = b.ea, ov = b.ov;
    double g_ov = -g / un, g_un = g * (ov / (un * un) - 1.0 / ea), g_ea = g * un / (ea * ea);
    double g_unraw = g_un * dmax(b.un_raw, eps);
    double g_ap = g_unraw;
    g_ov -= g_unraw;
    double g_iw = b.iw_raw >= 0 ? g_ov * b.ih : 0, g_ih = b.ih_raw >= 0 ? g_ov * b.iw : 0;
    double g_earaw = g_ea * dmax(b.ea_raw, eps);
    double g_ew = b.ew_raw >= 0 ? g_earaw * b.eh : 0, g_eh = b.eh_raw >= 0 ? g_earaw * b.ew : 0;
    dp[0] = -g_iw * dmax(p[0], t[0]) - g_ew * dmin(p[0], t[0]) - g_ap * (double)(p[3] - p[1]);
    dp[1] = -g_ih * dmax(p[1], t[1]) - g_eh * dmin(p[1], t[1]) - g_ap * (double)(p[2] - p[0]);
    dp[2] = g_iw * dmin(p[2], t[2]) + g_ew * dmax(p[2], t[2]) + g_ap * (double)(p[3] - p[1]);
    dp[3] = g_ih * dmin(p[3], t[3]) + g_eh * dmax(p[3], t[3]) + g_ap * (double)(p[2] - p[0]);
}

typedef struct giou_job {
    const float *p, *t, *w;
    int64_t n; /* boxes */
    float eps;
    double scale, *part;
    float *dp;
} giou_job;

static void giou_fwd_blocks(void *ctx, int64_t lo, int64_t hi) {
    const giou_job *j = ctx;
    for (int64_t b = lo; b < hi; b++) {
        int64_t e = TGC_MIN(j->n, (b + 1) * SL1_BLOCK);
        double s = 0;
        for (int64_t i = b * SL1_BLOCK; i < e; i++)
            if (j->w[i] != 0) s += (double)j->w[i] * (double)giou_fwd(j->p + i * 4, j->t + i * 4, j->eps).loss;
        j->part[b] = s;
    }
}

static void giou_bwd_run(void *ctx, int64_t lo, int64_t hi) {
    const giou_job *j = ctx;
    for (int64_t i = lo; i < hi; i++) {
        double d[4] = {0, 0, 0, 0};
        if (j->w[i] != 0) giou_bwd(j->p + i * 4, j->t + i * 4, j->eps, j->scale * (double)j->w[i], d);
        for (int k = 0; k < 4; k++) j->dp[i * 4 + k] = (float)d[k];
    }
}

static int giou_setup(const cpu_call *k, int first, giou_job *j, double *denom, tgc_err *err) {
    if (cpu_check_all_f32(k, err) || cpu_check_same_shape(k, 0, first, 0, first + 1, err)) return -1;
    const tgc_shape *ps = &k->in_t[first].shape;
    if (ps->rank < 1 || ps->d[ps->rank - 1] != 4) return tgc_fail(err, "cpu backend: %s: pred must be [..., 4]", k->name);
    j->n = tgc_shape_numel(ps) / 4;
    if (tgc_shape_numel(&k->in_t[first + 2].shape) != j->n)
        return tgc_fail(err, "cpu backend: %s: weight must have one element per box", k->name);
    if (tgc_shape_numel(&k->in_t[first + 3].shape) != 1)
        return tgc_fail(err, "cpu backend: %s: avg_factor must have one element", k->name);
    j->p = k->in[first], j->t = k->in[first + 1], j->w = k->in[first + 2];
    j->eps = (float)k->a->eps;
    *denom = (double)*(const float *)k->in[first + 3] + (double)FLT_EPSILON;
    return 0;
}

/* giou_loss(pred, target, weight, avg_factor) -> loss[] */
int cpu_giou_loss(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    giou_job j = {0};
    double denom;
    if (giou_setup(k, 0, &j, &denom, err) < 0) return -1;
    if (tgc_shape_numel(&k->out_t[0].shape) != 1) return tgc_fail(err, "cpu backend: %s: the loss must be a scalar", k->name);
    double s = blocked_sum(c, j.n, giou_fwd_blocks, &j, &j.part);
    *(float *)k->out[0] = (float)(k->a->alpha * s / denom);
    return 0;
}

/* giou_loss_bwd(dloss, pred, target, weight, avg_factor) -> dpred */
int cpu_giou_loss_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    giou_job j = {0};
    double denom;
    if (giou_setup(k, 1, &j, &denom, err) < 0 || cpu_check_same_shape(k, 0, 1, 1, 0, err)) return -1;
    if (tgc_shape_numel(&k->in_t[0].shape) != 1) return tgc_fail(err, "cpu backend: %s: dloss must be a scalar", k->name);
    j.scale = (double)*(const float *)k->in[0] * k->a->alpha / denom;
    j.dp = k->out[0];
    cpu_parallel(c, j.n, 1024, giou_bwd_run, &j);
    return 0;
}

/* ---- rcnn_targets -----------------------------------------------------------------------------------------
 * One image at a time (images in parallel): the assignment as MMDetection's MaxIoUAssigner over the proposals
 * (bbox_overlaps(gt, proposals) in float), the valid gts added as positives of themselves, each candidate's
 * Philox key, then the positives and negatives ordered by key (the rank det.cuh's kernel counts), so the rows
 * do not depend on the thread count and equal the CUDA kernel's. */
typedef struct rcnn_job {
    const float *prop, *gtb;
    const int32_t *cnt, *gtl, *rng;
    float *rois, *tgt;
    int32_t *lab;
    int64_t p, g, k, quota;
    const tgc_attrs *a;
} rcnn_job;

typedef struct rcnn_cand {
    uint64_t key;
    int64_t c;  /* candidate: gt slot c < G, else proposal c - G */
    int64_t gt; /* positives: the gt slot */
} rcnn_cand;

static int rcnn_cmp(const void *pa, const void *pb) {
    const rcnn_cand *a = pa, *b = pb;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return (a->c > b->c) - (a->c < b->c);
}

/* bbox_overlaps(gt, proposal), mode iou, eps 1e-6. */
static float rcnn_iou(const float *g, const float *p) {
    float ag = (g[2] - g[0]) * (g[3] - g[1]), ap = (p[2] - p[0]) * (p[3] - p[1]);
    float w = fmaxf(fminf(g[2], p[2]) - fmaxf(g[0], p[0]), 0.f), h = fmaxf(fminf(g[3], p[3]) - fmaxf(g[1], p[1]), 0.f);
    float ov = w * h, un = fmaxf(ag + ap - ov, 1e-6f);
    return ov / un;
}

/* Proposal p's class (1 positive, 0 negative, -1 ignored) and, for a positive, its gt slot. */
static int rcnn_assign(const rcnn_job *j, const float *p, const float *gb, const int32_t *gl, int64_t ng,
                       const float *gtmax, int64_t *gt) {
    const tgc_attrs *a = j->a;
    if (ng == 0) return 0;
    float best = -1;
    int64_t arg = -1;
    for (int64_t g = 0; g < j->g; g++) {
        if (gl[g] < 0) continue;
        float v = rcnn_iou(gb + g * 4, p);
        if (v > best || arg < 0) best = v, arg = g;
    }
    int cls = -1;
    if (best >= 0.f && best < (float)a->neg_iou_thr) cls = 0;
    if (best >= (float)a->pos_iou_thr) cls = 1, *gt = arg;
    if (a->match_low_quality)
        for (int64_t g = j->g - 1; g >= 0; g--)
            if (gl[g] >= 0 && gtmax[g] >= (float)a->min_pos_iou && gtmax[g] > 0 && rcnn_iou(gb + g * 4, p) == gtmax[g]) {
                cls = 1, *gt = g;
                break;
            }
    return cls;
}

static void rcnn_images(void *ctx, int64_t lo, int64_t hi) {
    const rcnn_job *j = ctx;
    const tgc_attrs *a = j->a;
    const int64_t nc = j->g + j->p;
    rcnn_cand *pos = tgc_malloc(sizeof *pos * (size_t)(nc ? nc : 1)), *neg = tgc_malloc(sizeof *neg * (size_t)(nc ? nc : 1));
    float *gtmax = tgc_malloc(sizeof *gtmax * (size_t)(j->g ? j->g : 1));
    for (int64_t b = lo; b < hi; b++) {
        const float *pr = j->prop + b * j->p * 4, *gb = j->gtb + b * j->g * 4;
        const int32_t *gl = j->gtl + b * j->g, *rg = j->rng + b * 4;
        const int64_t cnt = j->cnt[b];
        int64_t ng = 0, npos = 0, nneg = 0;
        for (int64_t g = 0; g < j->g; g++) ng += gl[g] >= 0;
        for (int64_t g = 0; a->match_low_quality && g < j->g; g++) {
            float m = -1;
            for (int64_t i = 0; gl[g] >= 0 && i < cnt; i++) {
                float v = rcnn_iou(gb + g * 4, pr + i * 4);
                if (v > m) m = v;
            }
            gtmax[g] = m;
        }
        const uint32_t key[2] = {(uint32_t)rg[0], (uint32_t)rg[1]};
        for (int64_t c = 0; c < nc; c++) {
            int64_t gt = -1;
            int cls = -1;
            if (c < j->g) {
                if (a->add_gt_as_proposals && gl[c] >= 0) cls = 1, gt = c;
            } else if (c - j->g < cnt) {
                cls = rcnn_assign(j, pr + (c - j->g) * 4, gb, gl, ng, gtmax, &gt);
            }
            if (cls < 0) continue;
            uint32_t ctr[4] = {(uint32_t)c, (uint32_t)rg[3], (uint32_t)rg[2], TGC_PHILOX_STREAM_RCNN}, out[4];
            tgc_philox4x32_10(ctr, key, out);
            rcnn_cand e = {((uint64_t)out[0] << 32) | out[1], c, gt};
            if (cls) pos[npos++] = e;
            else neg[nneg++] = e;
        }
        qsort(pos, (size_t)npos, sizeof *pos, rcnn_cmp);
        qsort(neg, (size_t)nneg, sizeof *neg, rcnn_cmp);
        npos = TGC_MIN(npos, j->quota);
        nneg = TGC_MIN(nneg, j->k - npos);
        for (int64_t r = 0; r < j->k; r++) {
            float *roi = j->rois + (b * j->k + r) * 5, *t = j->tgt + (b * j->k + r) * 4;
            int32_t *lab = j->lab + b * j->k + r;
            const rcnn_cand *e = r < npos ? &pos[r] : r < npos + nneg ? &neg[r - npos] : NULL;
            roi[0] = (float)b;
            const float *box = e ? (e->c < j->g ? gb + e->c * 4 : pr + (e->c - j->g) * 4) : NULL;
            for (int q = 0; q < 4; q++) roi[1 + q] = box ? box[q] : 0.f, t[q] = 0.f;
            *lab = !e ? -1 : r < npos ? gl[e->gt] : (int32_t)a->num_classes;
            if (e && r < npos) encode_one(box, gb + e->gt * 4, a->target_means, a->target_stds, t);
        }
    }
    free(pos), free(neg), free(gtmax);
}

/* rcnn_targets(proposals, count, gt_bboxes, gt_labels, rng) -> (rois, labels, bbox_targets) */
int cpu_rcnn_targets(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    if (cpu_check_dtype(k, 0, 0, TGC_F32, err) || cpu_check_dtype(k, 0, 1, TGC_I32, err) ||
        cpu_check_dtype(k, 0, 2, TGC_F32, err) || cpu_check_dtype(k, 0, 3, TGC_I32, err) ||
        cpu_check_dtype(k, 0, 4, TGC_I32, err) || cpu_check_dtype(k, 1, 0, TGC_F32, err) ||
        cpu_check_dtype(k, 1, 1, TGC_I32, err) || cpu_check_dtype(k, 1, 2, TGC_F32, err) ||
        cpu_check_rank(k, 0, 0, 3, err) || cpu_check_rank(k, 0, 2, 3, err) || cpu_check_rank(k, 0, 3, 2, err) ||
        cpu_check_rank(k, 0, 4, 2, err))
        return -1;
    const tgc_attrs *a = k->a;
    const tgc_shape *ps = &k->in_t[0].shape, *gs = &k->in_t[2].shape;
    const int64_t B = ps->d[0];
    rcnn_job j = {k->in[0], k->in[2], k->in[1], k->in[3], k->in[4], k->out[0], k->out[2], k->out[1], ps->d[1], gs->d[1],
                  a->k, (int64_t)((double)a->k * a->pos_fraction), a};
    if (ps->d[2] != 4 || gs->d[2] != 4 || gs->d[0] != B || tgc_shape_numel(&k->in_t[1].shape) != B ||
        k->in_t[3].shape.d[0] != B || k->in_t[3].shape.d[1] != j.g || k->in_t[4].shape.d[0] != B ||
        k->in_t[4].shape.d[1] != 4 || tgc_shape_numel(&k->out_t[0].shape) != B * j.k * 5 ||
        tgc_shape_numel(&k->out_t[1].shape) != B * j.k || tgc_shape_numel(&k->out_t[2].shape) != B * j.k * 4)
        return tgc_fail(err, "cpu backend: %s: proposals [B,P,4], count [B], gt_bboxes [B,G,4], gt_labels [B,G], rng [B,4] "
                        "and the results [B*k,5], [B*k], [B*k,4] disagree", k->name);
    if (j.k < 1 || j.p + j.g > INT32_MAX || !(a->pos_fraction >= 0 && a->pos_fraction <= 1))
        return tgc_fail(err, "cpu backend: %s: k=%lld, pos_fraction=%g or %lld candidates per image out of range", k->name,
                        (long long)j.k, a->pos_fraction, (long long)(j.p + j.g));
    for (int64_t b = 0; b < B; b++) {
        if (j.cnt[b] < 0 || j.cnt[b] > j.p)
            return tgc_fail(err, "cpu backend: %s: count[%lld]=%d is outside [0, %lld] (the proposals per image)", k->name,
                            (long long)b, (int)j.cnt[b], (long long)j.p);
        for (int64_t g = 0; g < j.g; g++)
            if (j.gtl[b * j.g + g] >= a->num_classes)
                return tgc_fail(err, "cpu backend: %s: gt_labels[%lld,%lld]=%d is not a class (num_classes %lld; -1 marks padding)",
                                k->name, (long long)b, (long long)g, (int)j.gtl[b * j.g + g], (long long)a->num_classes);
    }
    cpu_parallel(c, B, 1, rcnn_images, &j);
    return 0;
}

/* ---- anchor_decode, class_box_targets -----------------------------------------------------------------------
 * anchor_decode builds each anchor as runtime/det/det_anchors.c does (base anchor + (float)x * (float)stride)
 * and decodes it with box_decode's arithmetic (decode_one); MMDetection's min_bbox_size test in float. */
typedef struct anchor_job {
    const int32_t *idx;
    const float *d, *s, *m;
    float *y, *ys;
    int64_t k, w, nb;
    float sh, sw, base[36], minsz, maxr;
    const tgc_attrs *at;
} anchor_job;

static void anchor_rows(void *ctx, int64_t lo, int64_t hi) {
    const anchor_job *j = ctx;
    for (int64_t i = lo; i < hi; i++) {
        int32_t ix = j->idx[i];
        float *b = j->y + i * 4;
        if (ix < 0) {
            b[0] = b[1] = b[2] = b[3] = 0.f;
            j->ys[i] = -INFINITY;
            continue;
        }
        int64_t cell = ix / j->nb, q = ix % j->nb;
        float sx = (float)(cell % j->w) * j->sw, sy = (float)(cell / j->w) * j->sh;
        const float *bs = j->base + 4 * q;
        float a[4] = {bs[0] + sx, bs[1] + sy, bs[2] + sx, bs[3] + sy};
        decode_one(a, j->d + i * 4, j->m + (i / j->k) * 2, j->at, j->maxr, b);
        float w = b[2] - b[0], h = b[3] - b[1];
        j->ys[i] = w > j->minsz && h > j->minsz ? j->s[i] : -INFINITY;
    }
}

/* anchor_decode(idx[B,k], deltas[B,k,4], scores[B,k], img_shape[B,2]) -> (boxes[B,k,4], scores[B,k]) */
int cpu_anchor_decode(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    if (cpu_check_dtype(k, 0, 0, TGC_I32, err) || cpu_check_rank(k, 0, 0, 2, err) || cpu_check_dtype(k, 0, 1, TGC_F32, err) ||
        cpu_check_dtype(k, 0, 2, TGC_F32, err) || cpu_check_dtype(k, 0, 3, TGC_F32, err) || cpu_check_rank(k, 0, 3, 2, err) ||
        cpu_check_same_shape(k, 0, 0, 0, 2, err) || cpu_check_same_shape(k, 0, 1, 1, 0, err) ||
        cpu_check_same_shape(k, 0, 2, 1, 1, err))
        return -1;
    const tgc_shape *is = &k->in_t[0].shape, *ds = &k->in_t[1].shape, *ms = &k->in_t[3].shape, *gs = &k->a->shape;
    if (ds->rank != 3 || ds->d[0] != is->d[0] || ds->d[1] != is->d[1] || ds->d[2] != 4 || ms->d[0] != is->d[0] || ms->d[1] != 2)
        return tgc_fail(err, "cpu backend: %s: idx [B,k], deltas [B,k,4] and img_shape [B,2] disagree", k->name);
    if (gs->rank != 3 || gs->d[0] < 1 || gs->d[1] < 1 || gs->d[2] < 1 || gs->d[2] > 9)
        return tgc_fail(err, "cpu backend: %s: the anchor grid (attrs.shape) must be [H, W, 1..9]", k->name);
    if (!(k->a->wh_ratio_clip > 0)) return tgc_fail(err, "cpu backend: %s: wh_ratio_clip must be positive", k->name);
    anchor_job j = {k->in[0], k->in[1], k->in[2], k->in[3], k->out[0], k->out[1], is->d[1], gs->d[1], gs->d[2],
                    (float)k->a->stride[0], (float)k->a->stride[1], {0}, (float)k->a->min_bbox_size,
                    (float)fabs(log(k->a->wh_ratio_clip)), k->a};
    for (int i = 0; i < 4 * gs->d[2]; i++) j.base[i] = (float)k->a->base_anchors[i];
    int64_t n = gs->d[0] * gs->d[1] * gs->d[2];
    for (int64_t i = 0; i < is->d[0] * is->d[1]; i++)
        if (j.idx[i] < -1 || j.idx[i] >= n)
            return tgc_fail(err, "cpu backend: %s: anchor index %d at [%lld,%lld] is outside [-1, %lld)", k->name,
                            (int)j.idx[i], (long long)(i / is->d[1]), (long long)(i % is->d[1]), (long long)n);
    cpu_parallel(c, is->d[0] * is->d[1], 1024, anchor_rows, &j);
    return 0;
}

/* class_box_targets(labels[N], targets[N,D]) -> (target[N,C*D], weight[N,C*D], avg_factor[1]) */
int cpu_class_box_targets(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    (void)c;
    if (cpu_check_dtype(k, 0, 0, TGC_I32, err) || cpu_check_rank(k, 0, 0, 1, err) || cpu_check_dtype(k, 0, 1, TGC_F32, err) ||
        cpu_check_rank(k, 0, 1, 2, err) || cpu_check_same_shape(k, 1, 0, 1, 1, err))
        return -1;
    int64_t n = k->in_t[0].shape.d[0], d = k->in_t[1].shape.d[1], cls = k->a->num_classes;
    const tgc_shape *ys = &k->out_t[0].shape;
    if (k->in_t[1].shape.d[0] != n || ys->rank != 2 || ys->d[0] != n || ys->d[1] != cls * d ||
        tgc_shape_numel(&k->out_t[2].shape) != 1)
        return tgc_fail(err, "cpu backend: %s: labels [N], targets [N,D] and the results [N,C*D], [1] disagree", k->name);
    const int32_t *lab = k->in[0];
    const float *t = k->in[1];
    float *y = k->out[0], *w = k->out[1];
    int64_t counted = 0;
    for (int64_t r = 0; r < n; r++) {
        if (lab[r] > cls)
            return tgc_fail(err, "cpu backend: %s: label %d of row %lld is above num_classes %lld", k->name, (int)lab[r],
                            (long long)r, (long long)cls);
        float *yr = y + r * cls * d, *wr = w + r * cls * d;
        for (int64_t e = 0; e < cls * d; e++) yr[e] = wr[e] = 0.f;
        if (lab[r] >= 0) counted++;
        if (lab[r] < 0 || lab[r] >= cls) continue;
        for (int64_t e = 0; e < d; e++) {
            yr[lab[r] * d + e] = t[r * d + e];
            wr[lab[r] * d + e] = 1.f;
        }
    }
    *(float *)k->out[2] = (float)(counted > 0 ? counted : 1);
    return 0;
}
