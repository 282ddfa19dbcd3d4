/* backend/cpu/cpu_pooling.c - max and average 2-D pooling, forward and backward.
 *
 * Forward max pooling and average pooling (forward and backward) run on oneDNN whenever its result is
 * PyTorch's. ceil_mode is expressed to oneDNN as extra right/bottom padding; for max pooling and for
 * count_include_pad=false that changes nothing, but with count_include_pad=true PyTorch divides a window
 * that runs into that extra padding by its size clipped to the declared padding, while oneDNN divides by
 * kh*kw: those (rare) cases use the loops below, which implement PyTorch's divisor exactly.
 *
 * Average pooling whose windows all lie inside x (no padding, no ceil_mode overhang; LeNet's 2x2/2) runs
 * on the own "interior" loops instead: every divisor is kh*kw there, and oneDNN's only implementation for
 * the plain NCHW layout (simple_nchw) was 5-10x slower than a direct loop (bench/README.md). They sum each
 * window row by row, left to right, and divide once, as PyTorch's CPU kernel does.
 *
 * max_pool2d_bwd(dy, x) is an own loop: it re-scans each window of x and routes dy to the first maximum
 * in row-major order, PyTorch's tie rule. oneDNN's max-pool backward needs the forward's workspace, which
 * the IR does not carry; re-running a forward to get one would cost as much as this scan. Each thread owns
 * whole (n, c) planes, so the result does not depend on the thread count.
 *
 * NHWC (logical [N,C,H,W] stored [N,H,W,C]): oneDNN gets the nhwc descriptors of the real [N,C,H,W]
 * shape; the own loops walk the same (n, c) planes with element stride C (plane_base, pool_job.es), or,
 * for max_pool2d_bwd, one image at a time with all channels of a window position at once; each window is
 * summed or scanned in the same order and the results equal the ROW layout's bit for bit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_internal.h"

typedef struct pool_geo {
    int64_t planes, n, c, h, w, ho, wo, kh, kw, sh, sw, pt, pl, pb, pr;
    int nhwc;           /* x and y stored [N,H,W,C] */
    int64_t need_b, need_r; /* the bottom/right padding the output size actually uses */
} pool_geo;

static int64_t pool_out(int64_t in, int64_t k, int64_t s, int64_t p0, int64_t p1, int ceil_mode) {
    int64_t span = in + p0 + p1 - k;
    if (span < 0) return -1;
    int64_t out = (span + (ceil_mode ? s - 1 : 0)) / s + 1;
    if (ceil_mode && (out - 1) * s >= in + p0) out--; /* the last window must start inside x or its top pad */
    return out;
}

/* x and y are the forward's input and output shapes. */
static int pool_geometry(const cpu_call *k, const tgc_shape *x, const tgc_shape *y, pool_geo *g, tgc_err *err) {
    const tgc_attrs *a = k->a;
    char sx[96], sy[96];
    tgc_shape_str(x, sx, sizeof sx);
    tgc_shape_str(y, sy, sizeof sy);
    if (x->rank != 4 || y->rank != 4)
        return tgc_fail(err, "cpu backend: %s: x %s and y %s must be 4-D", k->name, sx, sy);
    g->kh = a->kernel[0], g->kw = a->kernel[1], g->sh = a->stride[0], g->sw = a->stride[1];
    g->pt = a->pad[0], g->pl = a->pad[1], g->pb = a->pad[2], g->pr = a->pad[3];
    if (g->kh < 1 || g->kw < 1 || g->sh < 1 || g->sw < 1 || g->pt < 0 || g->pl < 0 || g->pb < 0 || g->pr < 0 ||
        2 * g->pt > g->kh || 2 * g->pb > g->kh || 2 * g->pl > g->kw || 2 * g->pr > g->kw)
        return tgc_fail(err, "cpu backend: %s: invalid kernel/stride/pad (pad must be at most half the kernel)",
                        k->name);
    g->planes = x->d[0] * x->d[1], g->n = x->d[0], g->c = x->d[1], g->h = x->d[2], g->w = x->d[3];
    g->ho = pool_out(g->h, g->kh, g->sh, g->pt, g->pb, a->ceil_mode);
    g->wo = pool_out(g->w, g->kw, g->sw, g->pl, g->pr, a->ceil_mode);
    if (y->d[0] != x->d[0] || y->d[1] != x->d[1] || y->d[2] != g->ho || y->d[3] != g->wo || g->ho < 1 ||
        g->wo < 1)
        return tgc_fail(err, "cpu backend: %s: x %s does not pool to y %s (kernel [%lld,%lld], ceil_mode %d)",
                        k->name, sx, sy, (long long)g->kh, (long long)g->kw, a->ceil_mode);
    g->nhwc = cpu_nhwc(&k->in_t[0]); /* every activation of the op: one layout (the dispatcher checks) */
    g->need_b = (g->ho - 1) * g->sh + g->kh - g->h - g->pt;
    g->need_r = (g->wo - 1) * g->sw + g->kw - g->w - g->pl;
    return 0;
}

/* The oneDNN descriptor: padding_r grown to what ceil_mode needs. */
static int pool_desc(const cpu_call *k, const pool_geo *g, dnnl_alg_kind_t alg, int backward,
                     dnnl_memory_desc_t *xmd, dnnl_memory_desc_t *ymd, dnnl_pooling_desc_t *d, tgc_err *err) {
    dnnl_dims_t xd = {g->planes, 1, g->h, g->w}, yd = {g->planes, 1, g->ho, g->wo};
    if (g->nhwc) { /* the real [N,C,H,W] in nhwc: oneDNN's channels-last kernels */
        xd[0] = yd[0] = g->n, xd[1] = yd[1] = g->c;
    }
    dnnl_format_tag_t tag = g->nhwc ? dnnl_acdb : dnnl_abcd;
    dnnl_dims_t strides = {g->sh, g->sw}, kernel = {g->kh, g->kw}, pl = {g->pt, g->pl};
    dnnl_dims_t pr = {TGC_MAX(g->pb, g->need_b), TGC_MAX(g->pr, g->need_r)};
    /* N*C planes as the batch: pooling is per plane, and [N*C,1,H,W] is the same memory as NCHW. */
    dnnl_status_t s = dnnl_memory_desc_init_by_tag(xmd, 4, xd, dnnl_f32, tag);
    if (s == dnnl_success) s = dnnl_memory_desc_init_by_tag(ymd, 4, yd, dnnl_f32, tag);
    if (s == dnnl_success)
        s = backward ? dnnl_pooling_backward_desc_init(d, alg, xmd, ymd, strides, kernel, pl, pr)
                     : dnnl_pooling_forward_desc_init(d, dnnl_forward_training, alg, xmd, ymd, strides, kernel, pl, pr);
    if (s != dnnl_success) return tgc_fail(err, "cpu backend: %s: %s", k->name, cpu_dnnl_status(s));
    return 0;
}

static void pool_key(cpu_key *key, const cpu_call *k, const pool_geo *g, int variant) {
    cpu_key_init(key, k->code, variant);
    int64_t f[] = {g->planes, g->h, g->w, g->ho, g->wo, g->kh, g->kw, g->sh, g->sw, g->pt, g->pl, g->pb, g->pr,
                   k->a->ceil_mode, k->a->count_include_pad, g->nhwc, g->c};
    for (size_t i = 0; i < TGC_ARRAY_LEN(f); i++) cpu_key_add(key, f[i]);
}

/* Forward through oneDNN (max, or avg with a matching divisor). */
static int pool_fwd_dnnl(tgc_cpu *c, const cpu_call *k, const pool_geo *g, dnnl_alg_kind_t alg, tgc_err *err) {
    cpu_key key;
    pool_key(&key, k, g, 0);
    cpu_prim *p = cpu_cache_find(c, &key);
    if (!p) {
        dnnl_memory_desc_t xmd, ymd;
        dnnl_pooling_desc_t d;
        dnnl_primitive_desc_t pd;
        if (pool_desc(k, g, alg, 0, &xmd, &ymd, &d, err)) return -1;
        /* forward_training would add a max-pool workspace nobody reads; inference has the same values. */
        d.prop_kind = dnnl_forward_inference;
        if (cpu_pd_create(c, &pd, &d, NULL, k->name, err)) return -1;
        cpu_argspec spec[] = {{DNNL_ARG_SRC, 0, 0, &xmd}, {DNNL_ARG_DST, 1, 1, &ymd}};
        if (!(p = cpu_prim_build(c, &key, pd, spec, 2, k->name, err))) return -1;
    }
    void *ptrs[] = {k->in[0], k->out[0]};
    return cpu_prim_run(c, p, ptrs, k->name, err);
}

int cpu_max_pool(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    pool_geo g;
    if (cpu_check_all_f32(k, err) || pool_geometry(k, &k->in_t[0].shape, &k->out_t[0].shape, &g, err)) return -1;
    if (g.planes == 0) return 0;
    return pool_fwd_dnnl(c, k, &g, dnnl_pooling_max, err);
}

/* ---- own loops ------------------------------------------------------------------------------------ */
typedef struct pool_job {
    const pool_geo *g;
    const float *x, *dy, *y_in;
    float *y, *dx;
    int count_pad;
    int64_t es; /* element stride within a plane: 1 (ROW) or C (NHWC) */
} pool_job;

/* Where plane p = (n, c) of a tensor with hw elements per plane starts. */
static int64_t plane_base(const pool_geo *g, int64_t p, int64_t hw) {
    return g->nhwc ? p / g->c * hw * g->c + p % g->c : p * hw;
}

/* Zeroes one plane (hw elements, stride es). */
static void plane_zero(float *x, int64_t hw, int64_t es) {
    if (es == 1) {
        memset(x, 0, sizeof(float) * (size_t)hw);
        return;
    }
    for (int64_t i = 0; i < hw; i++) x[i * es] = 0.f;
}

/* PyTorch's avg-pool window [h0,h1) x [w0,w1) (clipped to x) and its divisor. */
static float avg_window(const pool_job *j, int64_t oh, int64_t ow, int64_t *h0, int64_t *h1, int64_t *w0,
                        int64_t *w1) {
    const pool_geo *g = j->g;
    int64_t hs = oh * g->sh - g->pt, ws = ow * g->sw - g->pl;
    int64_t he = TGC_MIN(hs + g->kh, g->h + g->pb), we = TGC_MIN(ws + g->kw, g->w + g->pr);
    int64_t padded = (he - hs) * (we - ws);
    *h0 = TGC_MAX(hs, 0), *w0 = TGC_MAX(ws, 0), *h1 = TGC_MIN(he, g->h), *w1 = TGC_MIN(we, g->w);
    int64_t inside = (*h1 - *h0) * (*w1 - *w0);
    int64_t div = j->count_pad ? padded : inside;
    return div > 0 ? (float)div : 1.f;
}

static void avg_fwd_planes(void *ctx, int64_t lo, int64_t hi) {
    const pool_job *j = ctx;
    const pool_geo *g = j->g;
    for (int64_t p = lo; p < hi; p++) {
        const int64_t es = j->es;
        const float *x = j->x + plane_base(g, p, g->h * g->w);
        float *y = j->y + plane_base(g, p, g->ho * g->wo);
        for (int64_t oh = 0; oh < g->ho; oh++)
            for (int64_t ow = 0; ow < g->wo; ow++) {
                int64_t h0, h1, w0, w1;
                float div = avg_window(j, oh, ow, &h0, &h1, &w0, &w1);
                float s = 0.f;
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++) s += x[(ih * g->w + iw) * es];
                y[(oh * g->wo + ow) * es] = s / div;
            }
    }
}

static void avg_bwd_planes(void *ctx, int64_t lo, int64_t hi) {
    const pool_job *j = ctx;
    const pool_geo *g = j->g;
    for (int64_t p = lo; p < hi; p++) {
        const int64_t es = j->es;
        float *dx = j->dx + plane_base(g, p, g->h * g->w);
        const float *dy = j->dy + plane_base(g, p, g->ho * g->wo);
        plane_zero(dx, g->h * g->w, es);
        for (int64_t oh = 0; oh < g->ho; oh++)
            for (int64_t ow = 0; ow < g->wo; ow++) {
                int64_t h0, h1, w0, w1;
                float v = dy[(oh * g->wo + ow) * es] / avg_window(j, oh, ow, &h0, &h1, &w0, &w1);
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++) dx[(ih * g->w + iw) * es] += v;
            }
    }
}

/* Windows entirely inside x: no clipping, one divisor kh*kw. */
static int avg_interior(const pool_geo *g) {
    return g->pt == 0 && g->pl == 0 && g->need_b <= 0 && g->need_r <= 0;
}

static void avg_fwd_interior(void *ctx, int64_t lo, int64_t hi) {
    const pool_job *j = ctx;
    const pool_geo *g = j->g;
    const float div = (float)(g->kh * g->kw);
    const int64_t es = j->es;
    for (int64_t p = lo; p < hi; p++) {
        const float *x = j->x + plane_base(g, p, g->h * g->w);
        float *y = j->y + plane_base(g, p, g->ho * g->wo);
        for (int64_t oh = 0; oh < g->ho; oh++) {
            const float *xr = x + oh * g->sh * g->w * es;
            for (int64_t ow = 0; ow < g->wo; ow++) {
                const float *xw = xr + ow * g->sw * es;
                float s = 0.f;
                for (int64_t ih = 0; ih < g->kh; ih++)
                    for (int64_t iw = 0; iw < g->kw; iw++) s += xw[(ih * g->w + iw) * es];
                y[(oh * g->wo + ow) * es] = s / div;
            }
        }
    }
}

static void avg_bwd_interior(void *ctx, int64_t lo, int64_t hi) {
    const pool_job *j = ctx;
    const pool_geo *g = j->g;
    const float div = (float)(g->kh * g->kw);
    const int tiles = g->sh == g->kh && g->sw == g->kw && g->ho * g->kh == g->h && g->wo * g->kw == g->w;
    const int64_t es = j->es;
    for (int64_t p = lo; p < hi; p++) {
        float *dx = j->dx + plane_base(g, p, g->h * g->w);
        const float *dy = j->dy + plane_base(g, p, g->ho * g->wo);
        if (tiles) { /* every element of x is in exactly one window: store, no zeroing or accumulation */
            for (int64_t oh = 0; oh < g->ho; oh++)
                for (int64_t ih = 0; ih < g->kh; ih++) {
                    float *dxr = dx + (oh * g->kh + ih) * g->w * es;
                    for (int64_t ow = 0; ow < g->wo; ow++) {
                        float v = dy[(oh * g->wo + ow) * es] / div;
                        for (int64_t iw = 0; iw < g->kw; iw++) dxr[(ow * g->kw + iw) * es] = v;
                    }
                }
            continue;
        }
        plane_zero(dx, g->h * g->w, es);
        for (int64_t oh = 0; oh < g->ho; oh++) {
            float *dxr = dx + oh * g->sh * g->w * es;
            for (int64_t ow = 0; ow < g->wo; ow++) {
                float v = dy[(oh * g->wo + ow) * es] / div, *dxw = dxr + ow * g->sw * es;
                for (int64_t ih = 0; ih < g->kh; ih++)
                    for (int64_t iw = 0; iw < g->kw; iw++) dxw[(ih * g->w + iw) * es] += v;
            }
        }
    }
}

static void max_bwd_planes(void *ctx, int64_t lo, int64_t hi) {
    const pool_job *j = ctx;
    const pool_geo *g = j->g;
    const int64_t es = j->es;
    for (int64_t p = lo; p < hi; p++) {
        const float *x = j->x + plane_base(g, p, g->h * g->w), *dy = j->dy + plane_base(g, p, g->ho * g->wo);
        float *dx = j->dx + plane_base(g, p, g->h * g->w);
        plane_zero(dx, g->h * g->w, es);
        for (int64_t oh = 0; oh < g->ho; oh++) {
            int64_t h0 = TGC_MAX(oh * g->sh - g->pt, 0), h1 = TGC_MIN(oh * g->sh - g->pt + g->kh, g->h);
            for (int64_t ow = 0; ow < g->wo; ow++) {
                int64_t w0 = TGC_MAX(ow * g->sw - g->pl, 0), w1 = TGC_MIN(ow * g->sw - g->pl + g->kw, g->w);
                int64_t best = h0 * g->w + w0;
                float m = -INFINITY;
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++) {
                        float v = x[(ih * g->w + iw) * es];
                        if (v > m || isnan(v)) { /* first maximum wins; NaN propagates, as PyTorch */
                            m = v;
                            best = ih * g->w + iw;
                        }
                    }
                dx[best * es] += dy[(oh * g->wo + ow) * es];
            }
        }
    }
}

/* NHWC: one image per step, every channel of a window position at once (per-channel running maximum), so
 * each channel scans its windows and adds into dx in the ROW loop's order. */
static void max_bwd_images(void *ctx, int64_t lo, int64_t hi) {
    const pool_job *j = ctx;
    const pool_geo *g = j->g;
    const int64_t C = g->c, hw = g->h * g->w;
    float *m = tgc_malloc(sizeof(float) * (size_t)C);
    int64_t *best = tgc_malloc(sizeof(int64_t) * (size_t)C);
    for (int64_t n = lo; n < hi; n++) {
        const float *x = j->x + n * hw * C, *dy = j->dy + n * g->ho * g->wo * C;
        float *dx = j->dx + n * hw * C;
        memset(dx, 0, sizeof(float) * (size_t)(hw * C));
        for (int64_t oh = 0; oh < g->ho; oh++) {
            int64_t h0 = TGC_MAX(oh * g->sh - g->pt, 0), h1 = TGC_MIN(oh * g->sh - g->pt + g->kh, g->h);
            for (int64_t ow = 0; ow < g->wo; ow++) {
                int64_t w0 = TGC_MAX(ow * g->sw - g->pl, 0), w1 = TGC_MIN(ow * g->sw - g->pl + g->kw, g->w);
                for (int64_t c = 0; c < C; c++) m[c] = -INFINITY, best[c] = h0 * g->w + w0;
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++) {
                        const float *xp = x + (ih * g->w + iw) * C;
                        for (int64_t c = 0; c < C; c++)
                            if (xp[c] > m[c] || isnan(xp[c])) m[c] = xp[c], best[c] = ih * g->w + iw;
                    }
                const float *dyp = dy + (oh * g->wo + ow) * C;
                for (int64_t c = 0; c < C; c++) dx[best[c] * C + c] += dyp[c];
            }
        }
    }
    free(m);
    free(best);
}

/* Planes per chunk: enough work per thread to pay for waking it. */
static int64_t plane_grain(const pool_geo *g) {
    int64_t per = g->ho * g->wo * g->kh * g->kw + g->h * g->w;
    return TGC_MAX((int64_t)1, (int64_t)16384 / TGC_MAX(per, (int64_t)1));
}

/* max_pool2d_bwd(dy, x) -> dx */
int cpu_max_pool_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    pool_geo g;
    if (cpu_check_all_f32(k, err) || cpu_check_same_shape(k, 0, 1, 1, 0, err) ||
        pool_geometry(k, &k->in_t[1].shape, &k->in_t[0].shape, &g, err))
        return -1;
    pool_job j = {&g, k->in[1], k->in[0], NULL, NULL, k->out[0], 0, g.nhwc ? g.c : 1};
    if (g.nhwc && g.c > 0)
        cpu_parallel(c, g.n, TGC_MAX((int64_t)1, plane_grain(&g) / g.c), max_bwd_images, &j);
    else
        cpu_parallel(c, g.planes, plane_grain(&g), max_bwd_planes, &j);
    return 0;
}

/* oneDNN's include-padding divisor is kh*kw; PyTorch's matches it unless a window reaches past the
 * declared bottom/right padding (ceil_mode). */
static int avg_dnnl_ok(const pool_geo *g, int count_pad) {
    return !count_pad || (g->need_b <= g->pb && g->need_r <= g->pr);
}

static dnnl_alg_kind_t avg_alg(int count_pad) {
    return count_pad ? dnnl_pooling_avg_include_padding : dnnl_pooling_avg_exclude_padding;
}

int cpu_avg_pool(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    pool_geo g;
    if (cpu_check_all_f32(k, err) || pool_geometry(k, &k->in_t[0].shape, &k->out_t[0].shape, &g, err)) return -1;
    if (g.planes == 0) return 0;
    int cp = k->a->count_include_pad != 0;
    int interior = avg_interior(&g);
    if (!interior && avg_dnnl_ok(&g, cp)) return pool_fwd_dnnl(c, k, &g, avg_alg(cp), err);
    pool_job j = {&g, k->in[0], NULL, NULL, k->out[0], NULL, cp, g.nhwc ? g.c : 1};
    cpu_parallel(c, g.planes, plane_grain(&g), interior ? avg_fwd_interior : avg_fwd_planes, &j);
    return 0;
}

/* avg_pool2d_bwd(dy) -> dx of attrs.shape */
int cpu_avg_pool_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    pool_geo g;
    if (cpu_check_all_f32(k, err)) return -1;
    if (!tgc_shape_eq(&k->out_t[0].shape, &k->a->shape))
        return tgc_fail(err, "cpu backend: %s: result shape differs from attrs.shape", k->name);
    if (pool_geometry(k, &k->out_t[0].shape, &k->in_t[0].shape, &g, err)) return -1;
    if (g.planes == 0) return 0;
    int cp = k->a->count_include_pad != 0;
    int interior = avg_interior(&g);
    if (interior || !avg_dnnl_ok(&g, cp)) {
        pool_job j = {&g, NULL, k->in[0], NULL, NULL, k->out[0], cp, g.nhwc ? g.c : 1};
        cpu_parallel(c, g.planes, plane_grain(&g), interior ? avg_bwd_interior : avg_bwd_planes, &j);
        return 0;
    }
    cpu_key key;
    pool_key(&key, k, &g, 1);
    cpu_prim *p = cpu_cache_find(c, &key);
    if (!p) {
        dnnl_memory_desc_t xmd, ymd;
        dnnl_pooling_desc_t fd, bd;
        dnnl_primitive_desc_t hint, pd;
        if (pool_desc(k, &g, avg_alg(cp), 0, &xmd, &ymd, &fd, err) ||
            pool_desc(k, &g, avg_alg(cp), 1, &xmd, &ymd, &bd, err) || cpu_pd_create(c, &hint, &fd, NULL, k->name, err))
            return -1;
        int rc = cpu_pd_create(c, &pd, &bd, hint, k->name, err);
        dnnl_primitive_desc_destroy(hint);
        if (rc) return -1;
        cpu_argspec spec[] = {{DNNL_ARG_DIFF_DST, 0, 0, &ymd}, {DNNL_ARG_DIFF_SRC, 1, 1, &xmd}};
        if (!(p = cpu_prim_build(c, &key, pd, spec, 2, k->name, err))) return -1;
    }
    void *ptrs[] = {k->in[0], k->out[0]};
    return cpu_prim_run(c, p, ptrs, k->name, err);
}
