/* backend/cpu/cpu_det.c - the detection ops: upsample_nearest (+bwd), to_nhwc / to_nchw, concat (+bwd),
 * sigmoid_focal_loss (+bwd), l1_loss_pos (+bwd). Own threaded loops on f32; the losses sum per anchor row
 * in double, then the rows in order, so results do not depend on the thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_internal.h"

#define DET_GRAIN 16384 /* elements per chunk worth waking a thread for */

static int64_t grain_of(int64_t row) { return TGC_MAX((int64_t)1, DET_GRAIN / TGC_MAX(row, (int64_t)1)); }

/* PyTorch's nearest source index (aten/src/ATen/native/UpSample.h, nearest_idx): d / 2 for an exact 2x,
 * else floor(d * (float)in / out) in float, clamped to in - 1. */
static int64_t nearest_src(int64_t d, int64_t in, int64_t out) {
    if (out == 2 * in) return d >> 1;
    if (out == in) return d;
    float scale = (float)in / (float)out;
    int64_t s = (int64_t)floorf((float)d * scale);
    return s < in - 1 ? s : in - 1;
}

typedef struct up_job {
    const float *x;
    float *y;
    int64_t h, w, H, W;
    const int64_t *srow, *scol; /* source row of each output row, source column of each output column */
} up_job;

static void up_planes(void *ctx, int64_t lo, int64_t hi) {
    const up_job *j = ctx;
    for (int64_t p = lo; p < hi; p++) {
        const float *x = j->x + p * j->h * j->w;
        float *y = j->y + p * j->H * j->W;
        for (int64_t i = 0; i < j->H; i++)
            for (int64_t q = 0; q < j->W; q++) y[i * j->W + q] = x[j->srow[i] * j->w + j->scol[q]];
    }
}

/* Each dx element sums its dy elements in (row, column) order, in double. */
static void up_bwd_planes(void *ctx, int64_t lo, int64_t hi) {
    const up_job *j = ctx;
    double *acc = tgc_malloc(sizeof(double) * (size_t)(j->h * j->w));
    for (int64_t p = lo; p < hi; p++) {
        const float *dy = j->x + p * j->H * j->W;
        float *dx = j->y + p * j->h * j->w;
        memset(acc, 0, sizeof(double) * (size_t)(j->h * j->w));
        for (int64_t i = 0; i < j->H; i++)
            for (int64_t q = 0; q < j->W; q++) acc[j->srow[i] * j->w + j->scol[q]] += (double)dy[i * j->W + q];
        for (int64_t e = 0; e < j->h * j->w; e++) dx[e] = (float)acc[e];
    }
    free(acc);
}

/* small: [N,C,h,w], big: [N,C,H,W]; fwd: small -> big. */
static int upsample_run(tgc_cpu *c, const cpu_call *k, const tgc_shape *small, const tgc_shape *big, int fwd,
                        tgc_err *err) {
    if (cpu_check_all_f32(k, err) || cpu_check_rank(k, 0, 0, 4, err) || cpu_check_rank(k, 1, 0, 4, err)) return -1;
    if (small->d[0] != big->d[0] || small->d[1] != big->d[1] || small->d[2] > big->d[2] || small->d[3] > big->d[3] ||
        small->d[2] < 1 || small->d[3] < 1)
        return tgc_fail(err, "cpu backend: %s: the two sizes are not an upsampling", k->name);
    up_job j = {k->in[0], k->out[0], small->d[2], small->d[3], big->d[2], big->d[3], NULL, NULL};
    int64_t *srow = tgc_malloc(sizeof(int64_t) * (size_t)(j.H + j.W)), *scol = srow + j.H;
    for (int64_t i = 0; i < j.H; i++) srow[i] = nearest_src(i, j.h, j.H);
    for (int64_t q = 0; q < j.W; q++) scol[q] = nearest_src(q, j.w, j.W);
    j.srow = srow, j.scol = scol;
    cpu_parallel(c, big->d[0] * big->d[1], grain_of(j.H * j.W), fwd ? up_planes : up_bwd_planes, &j);
    free(srow);
    return 0;
}

int cpu_upsample_nearest(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    if (!tgc_shape_eq(&k->out_t[0].shape, &k->a->shape))
        return tgc_fail(err, "cpu backend: %s: result shape differs from attrs.shape", k->name);
    return upsample_run(c, k, &k->in_t[0].shape, &k->out_t[0].shape, 1, err);
}

int cpu_upsample_nearest_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    if (!tgc_shape_eq(&k->out_t[0].shape, &k->a->shape))
        return tgc_fail(err, "cpu backend: %s: result shape differs from attrs.shape", k->name);
    return upsample_run(c, k, &k->out_t[0].shape, &k->in_t[0].shape, 0, err);
}

/* ---- layout: [N, A, B] -> [N, B, A] per image (to_nhwc: A = C, B = H*W; to_nchw: A = H*W, B = C) ---- */
typedef struct tr_job {
    const float *x;
    float *y;
    int64_t a, b;
} tr_job;

static void tr_rows(void *ctx, int64_t lo, int64_t hi) { /* item = (n, output row r of b) */
    const tr_job *j = ctx;
    for (int64_t it = lo; it < hi; it++) {
        int64_t n = it / j->b, r = it % j->b;
        const float *x = j->x + n * j->a * j->b + r;
        float *y = j->y + n * j->a * j->b + r * j->a;
        for (int64_t i = 0; i < j->a; i++) y[i] = x[i * j->b];
    }
}

static int transpose_run(tgc_cpu *c, const cpu_call *k, int to_nhwc, tgc_err *err) {
    if (cpu_check_all_f32(k, err) || cpu_check_rank(k, 0, 0, 4, err) || cpu_check_rank(k, 1, 0, 4, err)) return -1;
    const tgc_shape *x = &k->in_t[0].shape, *y = &k->out_t[0].shape;
    int ok = to_nhwc ? (y->d[0] == x->d[0] && y->d[1] == x->d[2] && y->d[2] == x->d[3] && y->d[3] == x->d[1])
                     : (y->d[0] == x->d[0] && y->d[1] == x->d[3] && y->d[2] == x->d[1] && y->d[3] == x->d[2]);
    if (!ok) return tgc_fail(err, "cpu backend: %s: the result is not the permuted input", k->name);
    tr_job j = {k->in[0], k->out[0], to_nhwc ? x->d[1] : x->d[1] * x->d[2], to_nhwc ? x->d[2] * x->d[3] : x->d[3]};
    cpu_parallel(c, x->d[0] * j.b, grain_of(j.a), tr_rows, &j);
    return 0;
}

int cpu_to_nhwc(tgc_cpu *c, const cpu_call *k, tgc_err *err) { return transpose_run(c, k, 1, err); }
int cpu_to_nchw(tgc_cpu *c, const cpu_call *k, tgc_err *err) { return transpose_run(c, k, 0, err); }

/* ---- concat / concat_bwd: outer blocks of (a part, b part) ------------------------------------------ */
typedef struct cat_job {
    float *y;
    const float *a, *b; /* concat: sources; concat_bwd: y is dy (read), a and b written through wa/wb */
    float *wa, *wb;
    int64_t la, lb; /* contiguous elements of a and b per outer block */
} cat_job;

static void cat_blocks(void *ctx, int64_t lo, int64_t hi) {
    const cat_job *j = ctx;
    for (int64_t o = lo; o < hi; o++) {
        float *y = j->y + o * (j->la + j->lb);
        memcpy(y, j->a + o * j->la, sizeof(float) * (size_t)j->la);
        memcpy(y + j->la, j->b + o * j->lb, sizeof(float) * (size_t)j->lb);
    }
}

static void split_blocks(void *ctx, int64_t lo, int64_t hi) {
    const cat_job *j = ctx;
    for (int64_t o = lo; o < hi; o++) {
        const float *y = j->y + o * (j->la + j->lb);
        memcpy(j->wa + o * j->la, y, sizeof(float) * (size_t)j->la);
        memcpy(j->wb + o * j->lb, y + j->la, sizeof(float) * (size_t)j->lb);
    }
}

/* whole = a ++ b along axis: outer count and the two block lengths. */
static int cat_geometry(const cpu_call *k, const tgc_shape *a, const tgc_shape *b, const tgc_shape *whole,
                        int64_t *outer, int64_t *la, int64_t *lb, tgc_err *err) {
    int64_t ax = k->a->axis;
    if (ax < 0 || ax >= whole->rank || a->rank != whole->rank || b->rank != whole->rank)
        return tgc_fail(err, "cpu backend: %s: axis %lld does not fit the operands", k->name, (long long)ax);
    int64_t inner = 1;
    *outer = 1;
    for (int i = 0; i < whole->rank; i++) {
        if (i != ax && (a->d[i] != whole->d[i] || b->d[i] != whole->d[i]))
            return tgc_fail(err, "cpu backend: %s: the parts differ from the whole outside axis %lld", k->name, (long long)ax);
        if (i < ax) *outer *= whole->d[i];
        if (i > ax) inner *= whole->d[i];
    }
    if (a->d[ax] + b->d[ax] != whole->d[ax])
        return tgc_fail(err, "cpu backend: %s: the parts do not add up along axis %lld", k->name, (long long)ax);
    *la = a->d[ax] * inner, *lb = b->d[ax] * inner;
    return 0;
}

int cpu_concat(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    cat_job j = {0};
    int64_t outer;
    if (cpu_check_all_f32(k, err) ||
        cat_geometry(k, &k->in_t[0].shape, &k->in_t[1].shape, &k->out_t[0].shape, &outer, &j.la, &j.lb, err))
        return -1;
    j.y = k->out[0], j.a = k->in[0], j.b = k->in[1];
    cpu_parallel(c, outer, grain_of(j.la + j.lb), cat_blocks, &j);
    return 0;
}

int cpu_concat_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    cat_job j = {0};
    int64_t outer;
    if (cpu_check_all_f32(k, err) ||
        cat_geometry(k, &k->out_t[0].shape, &k->out_t[1].shape, &k->in_t[0].shape, &outer, &j.la, &j.lb, err))
        return -1;
    j.y = k->in[0], j.wa = k->out[0], j.wb = k->out[1];
    cpu_parallel(c, outer, grain_of(j.la + j.lb), split_blocks, &j);
    return 0;
}

/* ---- losses over anchors ------------------------------------------------------------------------------ */
typedef struct loss_job {
    const float *x, *t; /* logits / pred, bbox target (l1) */
    const int32_t *cls;
    float *dx;
    int64_t rows, k;    /* anchors (N*A) and values per anchor (C, or D) */
    int64_t classes;
    double gamma, falpha, dscale;
    double *row_loss;
} loss_job;

/* log(sigmoid(x)) = -softplus(-x), log(1 - sigmoid(x)) = -softplus(x), both without overflow. */
static double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

static void focal_rows(void *ctx, int64_t lo, int64_t hi) {
    loss_job *j = ctx;
    for (int64_t r = lo; r < hi; r++) {
        int32_t t = j->cls[r];
        double s = 0;
        if (t >= 0)
            for (int64_t c = 0; c < j->k; c++) {
                double x = j->x[r * j->k + c], p = 1.0 / (1.0 + exp(-x));
                if (c == t) s += j->falpha * pow(1 - p, j->gamma) * softplus(-x);
                else s += (1 - j->falpha) * pow(p, j->gamma) * softplus(x);
            }
        j->row_loss[r] = s;
    }
}

static void focal_bwd_rows(void *ctx, int64_t lo, int64_t hi) {
    loss_job *j = ctx;
    for (int64_t r = lo; r < hi; r++) {
        int32_t t = j->cls[r];
        float *dx = j->dx + r * j->k;
        for (int64_t c = 0; c < j->k; c++) {
            double x = j->x[r * j->k + c], p = 1.0 / (1.0 + exp(-x)), g = 0;
            if (t < 0) g = 0;
            else if (c == t) g = j->falpha * pow(1 - p, j->gamma) * (-j->gamma * p * softplus(-x) - (1 - p));
            else g = (1 - j->falpha) * pow(p, j->gamma) * (p + j->gamma * (1 - p) * softplus(x));
            dx[c] = (float)(j->dscale * g);
        }
    }
}

static void l1_rows(void *ctx, int64_t lo, int64_t hi) {
    loss_job *j = ctx;
    for (int64_t r = lo; r < hi; r++) {
        int32_t t = j->cls[r];
        double s = 0;
        if (t < j->classes && t >= 0)
            for (int64_t q = 0; q < j->k; q++) s += fabs((double)j->x[r * j->k + q] - (double)j->t[r * j->k + q]);
        j->row_loss[r] = s;
    }
}

static void l1_bwd_rows(void *ctx, int64_t lo, int64_t hi) {
    loss_job *j = ctx;
    for (int64_t r = lo; r < hi; r++) {
        int32_t t = j->cls[r];
        int pos = t >= 0 && t < j->classes;
        for (int64_t q = 0; q < j->k; q++) {
            float d = j->x[r * j->k + q] - j->t[r * j->k + q];
            j->dx[r * j->k + q] = pos && d != 0 ? (float)(d > 0 ? j->dscale : -j->dscale) : 0.0f;
        }
    }
}

/* x [N,A,K] f32 at operand xi, cls [N,A] i32 at ci, avg_factor f32[1] at fi (> 0). */
static int loss_operands(const cpu_call *k, int xi, int ci, int fi, loss_job *j, tgc_err *err) {
    if (cpu_check_dtype(k, 0, xi, TGC_F32, err) || cpu_check_rank(k, 0, xi, 3, err) ||
        cpu_check_dtype(k, 0, ci, TGC_I32, err) || cpu_check_rank(k, 0, ci, 2, err) ||
        cpu_check_dtype(k, 0, fi, TGC_F32, err))
        return -1;
    const tgc_shape *x = &k->in_t[xi].shape, *t = &k->in_t[ci].shape;
    if (t->d[0] != x->d[0] || t->d[1] != x->d[1])
        return tgc_fail(err, "cpu backend: %s: the targets do not match [N, A] of the predictions", k->name);
    if (tgc_shape_numel(&k->in_t[fi].shape) != 1) return tgc_fail(err, "cpu backend: %s: avg_factor must be one value", k->name);
    float f = *(const float *)k->in[fi];
    if (!(f > 0) || !isfinite(f)) return tgc_fail(err, "cpu backend: %s: avg_factor %g is not positive", k->name, (double)f);
    j->x = k->in[xi], j->cls = k->in[ci];
    j->rows = x->d[0] * x->d[1], j->k = x->d[2];
    j->dscale = k->a->alpha / (double)f;
    return 0;
}

/* Every class target in [-1, classes] (checked before any loop runs). */
static int bad_target(const cpu_call *k, const loss_job *j, tgc_err *err) {
    for (int64_t r = 0; r < j->rows; r++)
        if (j->cls[r] < -1 || j->cls[r] > j->classes)
            return tgc_fail(err, "cpu backend: %s: anchor %lld has class target %d, outside [-1, %lld]", k->name,
                            (long long)r, (int)j->cls[r], (long long)j->classes);
    return 0;
}

static int loss_sum(tgc_cpu *c, const cpu_call *k, loss_job *j, cpu_task_fn fn, tgc_err *err) {
    if (tgc_shape_numel(&k->out_t[0].shape) != 1) return tgc_fail(err, "cpu backend: %s: the loss must be a scalar", k->name);
    if (bad_target(k, j, err)) return -1;
    j->row_loss = tgc_calloc((size_t)TGC_MAX(j->rows, (int64_t)1), sizeof(double));
    cpu_parallel(c, j->rows, grain_of(j->k), fn, j);
    double total = 0;
    for (int64_t r = 0; r < j->rows; r++) total += j->row_loss[r];
    free(j->row_loss);
    *(float *)k->out[0] = (float)(j->dscale * total);
    return 0;
}

static int dloss_of(const cpu_call *k, double *out, tgc_err *err) {
    if (cpu_check_dtype(k, 0, 0, TGC_F32, err)) return -1;
    if (tgc_shape_numel(&k->in_t[0].shape) != 1) return tgc_fail(err, "cpu backend: %s: dloss must be a scalar", k->name);
    *out = (double)*(const float *)k->in[0];
    return 0;
}

int cpu_sigmoid_focal_loss(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    loss_job j = {0};
    if (loss_operands(k, 0, 1, 2, &j, err)) return -1;
    j.classes = j.k, j.gamma = k->a->gamma, j.falpha = k->a->focal_alpha;
    return loss_sum(c, k, &j, focal_rows, err);
}

int cpu_sigmoid_focal_loss_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    loss_job j = {0};
    double dl;
    if (dloss_of(k, &dl, err) || loss_operands(k, 1, 2, 3, &j, err) || cpu_check_same_shape(k, 1, 0, 0, 1, err)) return -1;
    j.classes = j.k, j.gamma = k->a->gamma, j.falpha = k->a->focal_alpha, j.dscale *= dl;
    j.dx = k->out[0];
    if (bad_target(k, &j, err)) return -1;
    cpu_parallel(c, j.rows, grain_of(j.k), focal_bwd_rows, &j);
    return 0;
}

int cpu_l1_loss_pos(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    loss_job j = {0};
    if (loss_operands(k, 0, 2, 3, &j, err) || cpu_check_same_shape(k, 0, 0, 0, 1, err)) return -1;
    j.t = k->in[1], j.classes = k->a->num_classes;
    return loss_sum(c, k, &j, l1_rows, err);
}

int cpu_l1_loss_pos_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    loss_job j = {0};
    double dl;
    if (dloss_of(k, &dl, err) || loss_operands(k, 1, 3, 4, &j, err) || cpu_check_same_shape(k, 0, 1, 0, 2, err) ||
        cpu_check_same_shape(k, 1, 0, 0, 1, err))
        return -1;
    j.t = k->in[2], j.classes = k->a->num_classes, j.dscale *= dl;
    j.dx = k->out[0];
    if (bad_target(k, &j, err)) return -1;
    cpu_parallel(c, j.rows, grain_of(j.k), l1_bwd_rows, &j);
    return 0;
}
