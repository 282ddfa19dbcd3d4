/* backend/cpu/cpu_misc.c - the simple ops as own threaded loops: bias_add, bias_grad, add, scale,
 * global_avg_pool and its backward, channel_mul and its gate gradient, reshape. Reductions (bias_grad,
 * global_avg_pool, channel_mul_grad_gate) accumulate each
 * output element in double in a fixed order, so they are exact to float rounding and independent of the
 * thread count.
 *
 * NHWC operands (logical [N,C,H,W] stored [N,H,W,C]): bias_add and bias_grad split the storage around the
 * channel axis (cpu_axis_split: N*H*W rows of C); global_avg_pool, its backward, channel_mul and its gate
 * gradient take one image per step, all channels of a pixel at once (per-channel accumulators). Every
 * output element is summed over the same logical elements in the same order as in the ROW layout, so the
 * results are equal bit for bit. */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_internal.h"

#define EW_GRAIN 16384 /* elements per chunk worth waking a thread for */

typedef struct misc_job {
    const float *a, *b;
    float *y;
    float alpha;
    int64_t outer, ch, inner;
    int64_t es; /* global_avg_pool & co.: 1 (ROW: the plane loops), or C (NHWC: the image loops) */
} misc_job;

static int64_t rows_grain(int64_t row_len) { return TGC_MAX((int64_t)1, EW_GRAIN / TGC_MAX(row_len, (int64_t)1)); }

/* The split of a tensor's storage around `axis`: outer * ch * inner (cpu_axis_split: its layout's). */
static int axis_split(const cpu_call *k, const tgc_type *t, misc_job *j, tgc_err *err) {
    int64_t axis = k->a->axis;
    if (axis < 0 || axis >= t->shape.rank)
        return tgc_fail(err, "cpu backend: %s: axis %lld is outside a rank-%d tensor", k->name, (long long)axis,
                        t->shape.rank);
    cpu_axis_split(t, (int)axis, &j->outer, &j->ch, &j->inner);
    return 0;
}

static void bias_add_rows(void *ctx, int64_t lo, int64_t hi) {
    const misc_job *j = ctx;
    for (int64_t r = lo; r < hi; r++) {
        float b = j->b[r % j->ch];
        const float *x = j->a + r * j->inner;
        float *y = j->y + r * j->inner;
        for (int64_t i = 0; i < j->inner; i++) y[i] = x[i] + b;
    }
}

/* Channels innermost (NHWC, or [N,C] on axis 1): rows of ch elements, the bias added along each. */
static void bias_add_inner(void *ctx, int64_t lo, int64_t hi) {
    const misc_job *j = ctx;
    for (int64_t r = lo; r < hi; r++) {
        const float *x = j->a + r * j->ch;
        float *y = j->y + r * j->ch;
        for (int64_t c = 0; c < j->ch; c++) y[c] = x[c] + j->b[c];
    }
}

/* bias_add(x, b[C]) -> y */
int cpu_bias_add(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    misc_job j = {0};
    if (cpu_check_all_f32(k, err) || cpu_check_same_shape(k, 0, 0, 1, 0, err) ||
        axis_split(k, &k->in_t[0], &j, err))
        return -1;
    if (k->in_t[1].shape.rank != 1 || k->in_t[1].shape.d[0] != j.ch)
        return tgc_fail(err, "cpu backend: %s: bias must be [%lld]", k->name, (long long)j.ch);
    j.a = k->in[0], j.b = k->in[1], j.y = k->out[0];
    if (j.inner == 1)
        cpu_parallel(c, j.outer, rows_grain(j.ch), bias_add_inner, &j);
    else
        cpu_parallel(c, j.outer * j.ch, rows_grain(j.inner), bias_add_rows, &j);
    return 0;
}

static void bias_grad_ch(void *ctx, int64_t lo, int64_t hi) {
    const misc_job *j = ctx;
    if (j->inner == 1 && j->outer > 1) { /* channels innermost (NHWC): channels [lo, hi) per row, in order */
        double *s = tgc_calloc((size_t)(hi - lo), sizeof(double));
        for (int64_t o = 0; o < j->outer; o++) {
            const float *dy = j->a + o * j->ch;
            for (int64_t c = lo; c < hi; c++) s[c - lo] += dy[c];
        }
        for (int64_t c = lo; c < hi; c++) j->y[c] = (float)s[c - lo];
        free(s);
        return;
    }
    for (int64_t c = lo; c < hi; c++) {
        double s = 0;
        for (int64_t o = 0; o < j->outer; o++) {
            const float *dy = j->a + (o * j->ch + c) * j->inner;
            for (int64_t i = 0; i < j->inner; i++) s += dy[i];
        }
        j->y[c] = (float)s;
    }
}

/* bias_grad(dy) -> db[C] */
int cpu_bias_grad(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    misc_job j = {0};
    if (cpu_check_all_f32(k, err) || axis_split(k, &k->in_t[0], &j, err)) return -1;
    if (k->out_t[0].shape.rank != 1 || k->out_t[0].shape.d[0] != j.ch)
        return tgc_fail(err, "cpu backend: %s: result must be [%lld]", k->name, (long long)j.ch);
    j.a = k->in[0], j.y = k->out[0];
    cpu_parallel(c, j.ch, rows_grain(j.outer * j.inner), bias_grad_ch, &j);
    return 0;
}

static void add_run(void *ctx, int64_t lo, int64_t hi) {
    const misc_job *j = ctx;
    for (int64_t i = lo; i < hi; i++) j->y[i] = j->a[i] + j->b[i];
}

int cpu_add(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    if (cpu_check_all_f32(k, err) || cpu_check_same_shape(k, 0, 0, 0, 1, err) ||
        cpu_check_same_shape(k, 0, 0, 1, 0, err))
        return -1;
    misc_job j = {.a = k->in[0], .b = k->in[1], .y = k->out[0]};
    cpu_parallel(c, tgc_shape_numel(&k->in_t[0].shape), EW_GRAIN, add_run, &j);
    return 0;
}

static void scale_run(void *ctx, int64_t lo, int64_t hi) {
    const misc_job *j = ctx;
    for (int64_t i = lo; i < hi; i++) j->y[i] = j->alpha * j->a[i];
}

int cpu_scale(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    if (cpu_check_all_f32(k, err) || cpu_check_same_shape(k, 0, 0, 1, 0, err)) return -1;
    misc_job j = {.a = k->in[0], .y = k->out[0], .alpha = (float)k->a->alpha};
    cpu_parallel(c, tgc_shape_numel(&k->in_t[0].shape), EW_GRAIN, scale_run, &j);
    return 0;
}

static void gap_planes(void *ctx, int64_t lo, int64_t hi) {
    const misc_job *j = ctx;
    for (int64_t p = lo; p < hi; p++) {
        const float *x = j->a + p * j->inner;
        double s = 0;
        for (int64_t i = 0; i < j->inner; i++) s += x[i];
        j->y[p] = (float)(s / (double)j->inner);
    }
}

static void gap_bwd_planes(void *ctx, int64_t lo, int64_t hi) {
    const misc_job *j = ctx;
    for (int64_t p = lo; p < hi; p++) {
        float v = j->a[p] / (float)j->inner;
        float *dx = j->y + p * j->inner;
        for (int64_t i = 0; i < j->inner; i++) dx[i] = v;
    }
}

/* NHWC (j->es = C channels innermost): one image per step, its H*W pixels in order, every channel of a
 * pixel at once, so each output channel still sums its plane in the ROW order (bit for bit). */
static void gap_images(void *ctx, int64_t lo, int64_t hi) {
    const misc_job *j = ctx;
    const int64_t C = j->es;
    double *acc = tgc_malloc(sizeof(double) * (size_t)C);
    for (int64_t n = lo; n < hi; n++) {
        const float *x = j->a + n * j->inner * C;
        for (int64_t c = 0; c < C; c++) acc[c] = 0;
        for (int64_t i = 0; i < j->inner; i++)
            for (int64_t c = 0; c < C; c++) acc[c] += x[i * C + c];
        for (int64_t c = 0; c < C; c++) j->y[n * C + c] = (float)(acc[c] / (double)j->inner);
    }
    free(acc);
}

static void gap_bwd_images(void *ctx, int64_t lo, int64_t hi) {
    const misc_job *j = ctx;
    const int64_t C = j->es;
    float *v = tgc_malloc(sizeof(float) * (size_t)C);
    for (int64_t n = lo; n < hi; n++) {
        for (int64_t c = 0; c < C; c++) v[c] = j->a[n * C + c] / (float)j->inner;
        float *dx = j->y + n * j->inner * C;
        for (int64_t i = 0; i < j->inner; i++) memcpy(dx + i * C, v, sizeof(float) * (size_t)C);
    }
    free(v);
}

static void channel_mul_images(void *ctx, int64_t lo, int64_t hi) {
    const misc_job *j = ctx;
    const int64_t C = j->es;
    for (int64_t n = lo; n < hi; n++) {
        const float *x = j->a + n * j->inner * C, *g = j->b + n * C;
        float *y = j->y + n * j->inner * C;
        for (int64_t i = 0; i < j->inner; i++)
            for (int64_t c = 0; c < C; c++) y[i * C + c] = x[i * C + c] * g[c];
    }
}

static void channel_grad_images(void *ctx, int64_t lo, int64_t hi) {
    const misc_job *j = ctx;
    const int64_t C = j->es;
    double *acc = tgc_malloc(sizeof(double) * (size_t)C);
    for (int64_t n = lo; n < hi; n++) {
        const float *dy = j->a + n * j->inner * C, *x = j->b + n * j->inner * C;
        for (int64_t c = 0; c < C; c++) acc[c] = 0;
        for (int64_t i = 0; i < j->inner; i++)
            for (int64_t c = 0; c < C; c++) acc[c] += (double)dy[i * C + c] * (double)x[i * C + c];
        for (int64_t c = 0; c < C; c++) j->y[n * C + c] = (float)acc[c];
    }
    free(acc);
}

/* The loop over planes (ROW), or over images (NHWC). */
static void plane_loop(tgc_cpu *c, misc_job *j, cpu_task_fn planes, cpu_task_fn images) {
    if (j->es > 1 && j->outer > 0)
        cpu_parallel(c, j->outer / j->es, rows_grain(j->inner * j->es), images, j);
    else
        cpu_parallel(c, j->outer, rows_grain(j->inner), planes, j);
}

/* x [N,C,H,W] and y [N,C] of global_avg_pool (or dx and dy of its backward); xt is x's type. */
static int gap_shapes(const cpu_call *k, const tgc_type *xt, const tgc_shape *y, misc_job *j, tgc_err *err) {
    const tgc_shape *x = &xt->shape;
    if (x->rank != 4 || y->rank != 2 || y->d[0] != x->d[0] || y->d[1] != x->d[1]) {
        char sx[96], sy[96];
        tgc_shape_str(x, sx, sizeof sx);
        tgc_shape_str(y, sy, sizeof sy);
        return tgc_fail(err, "cpu backend: %s: %s does not pool to %s", k->name, sx, sy);
    }
    j->outer = x->d[0] * x->d[1];
    j->inner = x->d[2] * x->d[3];
    j->es = cpu_nhwc(xt) ? x->d[1] : 1;
    if (j->inner < 1 && j->outer > 0) return tgc_fail(err, "cpu backend: %s: empty spatial extent", k->name);
    return 0;
}

int cpu_gap(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    misc_job j = {0};
    if (cpu_check_all_f32(k, err) || gap_shapes(k, &k->in_t[0], &k->out_t[0].shape, &j, err)) return -1;
    j.a = k->in[0], j.y = k->out[0];
    plane_loop(c, &j, gap_planes, gap_images);
    return 0;
}

/* global_avg_pool_bwd(dy[N,C]) -> dx of attrs.shape */
int cpu_gap_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    misc_job j = {0};
    if (cpu_check_all_f32(k, err) || gap_shapes(k, &k->out_t[0], &k->in_t[0].shape, &j, err)) return -1;
    if (!tgc_shape_eq(&k->out_t[0].shape, &k->a->shape))
        return tgc_fail(err, "cpu backend: %s: result shape differs from attrs.shape", k->name);
    j.a = k->in[0], j.y = k->out[0];
    plane_loop(c, &j, gap_bwd_planes, gap_bwd_images);
    return 0;
}

/* channel_mul(x[N,C,H,W], g[N,C]) -> x * g[n,c]: one (n, c) plane per step. */
static void channel_mul_planes(void *ctx, int64_t lo, int64_t hi) {
    const misc_job *j = ctx;
    for (int64_t p = lo; p < hi; p++) {
        const float *x = j->a + p * j->inner;
        float *y = j->y + p * j->inner, s = j->b[p];
        for (int64_t i = 0; i < j->inner; i++) y[i] = x[i] * s;
    }
}

/* channel_mul_grad_gate(dy, x) -> dg[n,c] = sum of dy * x over the plane, in double, in order. */
static void channel_grad_planes(void *ctx, int64_t lo, int64_t hi) {
    const misc_job *j = ctx;
    for (int64_t p = lo; p < hi; p++) {
        const float *dy = j->a + p * j->inner, *x = j->b + p * j->inner;
        double s = 0;
        for (int64_t i = 0; i < j->inner; i++) s += (double)dy[i] * (double)x[i];
        j->y[p] = (float)s;
    }
}

int cpu_channel_mul(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    misc_job j = {0};
    if (cpu_check_all_f32(k, err) || gap_shapes(k, &k->in_t[0], &k->in_t[1].shape, &j, err)) return -1;
    if (!tgc_shape_eq(&k->out_t[0].shape, &k->in_t[0].shape))
        return tgc_fail(err, "cpu backend: %s: the result's shape differs from x's", k->name);
    j.a = k->in[0], j.b = k->in[1], j.y = k->out[0];
    plane_loop(c, &j, channel_mul_planes, channel_mul_images);
    return 0;
}

int cpu_channel_mul_grad_gate(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    misc_job j = {0};
    if (cpu_check_all_f32(k, err) || gap_shapes(k, &k->in_t[1], &k->out_t[0].shape, &j, err)) return -1;
    if (!tgc_shape_eq(&k->in_t[0].shape, &k->in_t[1].shape))
        return tgc_fail(err, "cpu backend: %s: dy and x differ in shape", k->name);
    j.a = k->in[0], j.b = k->in[1], j.y = k->out[0];
    plane_loop(c, &j, channel_grad_planes, channel_grad_images);
    return 0;
}

/* reshape(x) -> y: the same bytes; a no-op when the planner placed y on x. */
int cpu_reshape(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    (void)c;
    if (k->in_t[0].dtype != k->out_t[0].dtype ||
        tgc_shape_numel(&k->in_t[0].shape) != tgc_shape_numel(&k->out_t[0].shape) ||
        !tgc_shape_eq(&k->out_t[0].shape, &k->a->shape))
        return tgc_fail(err, "cpu backend: %s: result type does not match the operand's dtype and element count "
                        "with attrs.shape", k->name);
    size_t bytes = (size_t)tgc_shape_numel(&k->in_t[0].shape) * tgc_dtype_size(k->in_t[0].dtype);
    if (k->out[0] != k->in[0] && bytes) memmove(k->out[0], k->in[0], bytes);
    return 0;
}

/* relayout(x) -> y: [N,C,HW] <-> [N,HW,C], one image per step, elements moved by their width (f32, bf16,
 * f16 alike). from_row: x is ROW (NCHW) and y NHWC. */
typedef struct relayout_job {
    const unsigned char *x;
    unsigned char *y;
    int64_t C, HW;
    size_t es;
    int from_row;
} relayout_job;

static void relayout_images(void *ctx, int64_t lo, int64_t hi) {
    const relayout_job *j = ctx;
    const int64_t C = j->C, HW = j->HW, plane = C * HW;
    for (int64_t n = lo; n < hi; n++) {
        /* rows of the source, columns of the destination: (r, q) of x goes to (q, r) of y */
        const int64_t R = j->from_row ? C : HW, Q = j->from_row ? HW : C;
        if (j->es == 4) {
            const uint32_t *x = (const uint32_t *)j->x + n * plane;
            uint32_t *y = (uint32_t *)j->y + n * plane;
            for (int64_t r = 0; r < R; r++)
                for (int64_t q = 0; q < Q; q++) y[q * R + r] = x[r * Q + q];
        } else {
            const uint16_t *x = (const uint16_t *)j->x + n * plane;
            uint16_t *y = (uint16_t *)j->y + n * plane;
            for (int64_t r = 0; r < R; r++)
                for (int64_t q = 0; q < Q; q++) y[q * R + r] = x[r * Q + q];
        }
    }
}

int cpu_relayout(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    const tgc_type *xt = &k->in_t[0], *yt = &k->out_t[0];
    if (xt->shape.rank != 4 || !tgc_shape_eq(&xt->shape, &yt->shape) || xt->dtype != yt->dtype ||
        xt->layout == yt->layout || !tgc_dtype_is_float(xt->dtype))
        return tgc_fail(err, "cpu backend: %s: wants a rank-4 float x and y of its shape and dtype in the other "
                             "layout (x %s %s, y %s %s)", k->name, tgc_dtype_name(xt->dtype),
                        tgc_layout_name(xt->layout), tgc_dtype_name(yt->dtype), tgc_layout_name(yt->layout));
    relayout_job j = {k->in[0], k->out[0], xt->shape.d[1], xt->shape.d[2] * xt->shape.d[3],
                      tgc_dtype_size(xt->dtype), xt->layout == TGC_LAYOUT_ROW};
    cpu_parallel(c, xt->shape.d[0], 1, relayout_images, &j);
    return 0;
}
