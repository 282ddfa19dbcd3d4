/* backend/cpu/cpu_gradnorm.c - the global gradient norm and gradient clipping of the optimizer wrapper
 * (MMEngine's clip_grad: torch.nn.utils.clip_grad_norm_ / clip_grad_value_), run after the all-reduce.
 *
 * Reductions are split into fixed chunks whose partial sums (double) are added in chunk order, so the
 * result does not depend on the number of threads. */
#include <math.h>
#include <stdlib.h>

#include "backend/cpu/cpu_internal.h"

#define NORM_CHUNK 16384

typedef struct norm_job {
    const float *g;
    float *out;
    int64_t n;
    double p, lo_clip, hi_clip;
    float coef;
    double *partial; /* one per chunk */
} norm_job;

static double chunk_norm(const norm_job *j, int64_t c) {
    int64_t lo = c * NORM_CHUNK, hi = lo + NORM_CHUNK < j->n ? lo + NORM_CHUNK : j->n;
    double s = 0;
    if (isinf(j->p)) {
        for (int64_t i = lo; i < hi; i++) {
            double a = fabs((double)j->g[i]);
            if (a > s || isnan(a)) s = a;
        }
    } else if (j->p == 2) {
        for (int64_t i = lo; i < hi; i++) s += (double)j->g[i] * (double)j->g[i];
    } else if (j->p == 1) {
        for (int64_t i = lo; i < hi; i++) s += fabs((double)j->g[i]);
    } else {
        for (int64_t i = lo; i < hi; i++) s += pow(fabs((double)j->g[i]), j->p);
    }
    return s;
}

static void norm_run(void *ctx, int64_t lo, int64_t hi) {
    norm_job *j = ctx;
    for (int64_t c = lo; c < hi; c++) j->partial[c] = chunk_norm(j, c);
}

/* sum |g|^p over g (max |g| for p = inf), in double, independent of the thread count. */
static double grad_norm_part(tgc_cpu *c, const float *g, int64_t n, double p) {
    int64_t chunks = (n + NORM_CHUNK - 1) / NORM_CHUNK;
    double stack[64], *partial = chunks <= 64 ? stack : tgc_malloc(sizeof(double) * (size_t)chunks);
    norm_job j = {.g = g, .n = n, .p = p, .partial = partial};
    cpu_parallel(c, chunks, 1, norm_run, &j);
    double s = 0;
    for (int64_t k = 0; k < chunks; k++) {
        if (isinf(p)) {
            if (partial[k] > s || isnan(partial[k])) s = partial[k];
        } else {
            s += partial[k];
        }
    }
    if (partial != stack) free(partial);
    return s;
}

/* grad_norm_acc(grad, acc[]) -> acc'[] */
int cpu_grad_norm_acc(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    if (cpu_check_all_f32(k, err)) return -1;
    double p = k->a->norm_type;
    if (!(p > 0)) return tgc_fail(err, "cpu backend: %s: norm_type %g must be positive", k->name, p);
    double acc = *(const float *)k->in[1];
    double s = grad_norm_part(c, k->in[0], tgc_shape_numel(&k->in_t[0].shape), p);
    *(float *)k->out[0] = (float)(isinf(p) ? (s > acc || isnan(s) ? s : acc) : acc + s);
    return 0;
}

static void scale_run(void *ctx, int64_t lo, int64_t hi) {
    const norm_job *j = ctx;
    for (int64_t i = lo; i < hi; i++) j->out[i] = j->g[i] * j->coef;
}

/* grad_clip_norm(grad, acc[]) -> grad * min(max_norm / (total + 1e-6), 1), in float as torch */
int cpu_grad_clip_norm(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    if (cpu_check_all_f32(k, err)) return -1;
    double p = k->a->norm_type, acc = *(const float *)k->in[1];
    if (!(p > 0)) return tgc_fail(err, "cpu backend: %s: norm_type %g must be positive", k->name, p);
    float total = (float)(isinf(p) ? acc : p == 2 ? sqrt(acc) : p == 1 ? acc : pow(acc, 1.0 / p));
    float coef = (float)k->a->max_norm / (total + 1e-6f);
    if (coef > 1.f) coef = 1.f;
    norm_job j = {.g = k->in[0], .out = k->out[0], .coef = coef};
    cpu_parallel(c, tgc_shape_numel(&k->in_t[0].shape), NORM_CHUNK, scale_run, &j);
    return 0;
}

static void clamp_run(void *ctx, int64_t lo, int64_t hi) {
    const norm_job *j = ctx;
    float lo_v = (float)j->lo_clip, hi_v = (float)j->hi_clip;
    for (int64_t i = lo; i < hi; i++) {
        float g = j->g[i]; /* NaN stays NaN, as torch.clamp */
        j->out[i] = g < lo_v ? lo_v : g > hi_v ? hi_v : g;
    }
}

/* grad_clip_value(grad) -> clamp(grad, -max_norm, max_norm) */
int cpu_grad_clip_value(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    if (cpu_check_all_f32(k, err)) return -1;
    norm_job j = {.g = k->in[0], .out = k->out[0], .lo_clip = -k->a->max_norm, .hi_clip = k->a->max_norm};
    cpu_parallel(c, tgc_shape_numel(&k->in_t[0].shape), NORM_CHUNK, clamp_run, &j);
    return 0;
}

/* ---- Lamb ----------------------------------------------------------------------------------------- */
typedef struct lamb_job {
    float *p, *m, *v;
    const float *g;
    int64_t n;
    float div, b1, w1, b2, w2, eps, bc1, bc2_sqrt, wd, trust, step; /* step: -lr */
    double *pp, *uu; /* per chunk: sum p^2, sum u^2 */
} lamb_job;

/* The update direction of element i from the updated moments (pass 1 and pass 2 compute the same float). */
static inline float lamb_dir(const lamb_job *j, int64_t i) {
    float u = (j->m[i] / j->bc1) / (sqrtf(j->v[i]) / j->bc2_sqrt + j->eps);
    if (j->wd != 0.f) u = (float)((double)u + (double)j->wd * (double)j->p[i]); /* add(alpha): one rounding */
    return u;
}

static void lamb_moments(void *ctx, int64_t lo, int64_t hi) {
    lamb_job *j = ctx;
    for (int64_t c = lo; c < hi; c++) {
        int64_t a = c * NORM_CHUNK, b = a + NORM_CHUNK < j->n ? a + NORM_CHUNK : j->n;
        double pp = 0, uu = 0;
        for (int64_t i = a; i < b; i++) {
            float g = j->g[i] / j->div;
            j->m[i] = (float)((double)(j->m[i] * j->b1) + (double)j->w1 * (double)g); /* mul_ then add_(alpha) */
            j->v[i] = (float)((double)(j->v[i] * j->b2) + (double)j->w2 * (double)(g * g)); /* addcmul_ */
            float u = lamb_dir(j, i);
            pp += (double)j->p[i] * (double)j->p[i];
            uu += (double)u * (double)u;
        }
        j->pp[c] = pp;
        j->uu[c] = uu;
    }
}

static void lamb_apply(void *ctx, int64_t lo, int64_t hi) {
    const lamb_job *j = ctx;
    for (int64_t i = lo; i < hi; i++) {
        float u = lamb_dir(j, i) * j->trust; /* before p changes: the same direction as in pass 1 */
        j->p[i] = (float)((double)j->p[i] + (double)j->step * (double)u);
    }
}

/* lamb_update(param, grad, exp_avg, exp_avg_sq, lr[], step[], gsq[]): MMPretrain's Lamb (see ir/ops.def). */
int cpu_lamb(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    if (cpu_check_all_f32(k, err)) return -1;
    for (int i = 1; i < 4; i++)
        if (cpu_check_same_shape(k, 0, 0, 0, i, err)) return -1;
    for (int i = 4; i < 7; i++)
        if (tgc_shape_numel(&k->in_t[i].shape) != 1)
            return tgc_fail(err, "cpu backend: %s: operand %d must be a scalar", k->name, i);
    const tgc_attrs *a = k->a;
    double t = *(const float *)k->in[5], lr = *(const float *)k->in[4] * a->alpha, gsq = *(const float *)k->in[6];
    if (!(t >= 1)) return tgc_fail(err, "cpu backend: %s: step %g is not >= 1", k->name, t);
    if (!(a->beta1 >= 0 && a->beta1 < 1 && a->beta2 >= 0 && a->beta2 < 1))
        return tgc_fail(err, "cpu backend: %s: betas (%g, %g) must be in [0, 1)", k->name, a->beta1, a->beta2);
    if (!(a->max_norm > 0)) return tgc_fail(err, "cpu backend: %s: max_grad_norm %g must be positive", k->name, a->max_norm);
    t = floor(t + 0.5);
    int64_t n = tgc_shape_numel(&k->in_t[0].shape), chunks = (n + NORM_CHUNK - 1) / NORM_CHUNK;
    lamb_job j = {.p = k->in[0], .g = k->in[1], .m = k->in[2], .v = k->in[3], .n = n};
    /* the global clip: torch.where(norm > max, norm / max, 1) in float */
    float norm = sqrtf((float)gsq), mx = (float)a->max_norm;
    j.div = norm > mx ? norm / mx : 1.f;
    j.b1 = (float)a->beta1, j.w1 = (float)(1.0 - a->beta1);
    j.b2 = (float)a->beta2, j.w2 = (float)(1.0 - a->beta2);
    j.eps = (float)a->eps;
    j.bc1 = (float)(1.0 - pow(a->beta1, t));
    j.bc2_sqrt = (float)sqrt(1.0 - pow(a->beta2, t));
    j.wd = (float)a->weight_decay;
    j.pp = tgc_malloc(sizeof(double) * (size_t)(2 * chunks + 1));
    j.uu = j.pp + chunks;
    cpu_parallel(c, chunks, 1, lamb_moments, &j);
    double pp = 0, uu = 0;
    for (int64_t q = 0; q < chunks; q++) pp += j.pp[q], uu += j.uu[q];
    free(j.pp);
    j.pp = j.uu = NULL;
    float trust = 1.f;
    if (a->weight_decay != 0 || a->always_adapt) {
        float wn = (float)sqrt(pp), un = (float)sqrt(uu);
        trust = wn > 0 && un > 0 ? wn / un : 1.f;
        if (a->trust_clip && trust > 1.f) trust = 1.f;
    }
    /* update.mul_(trust) then p.add_(update, alpha=-lr): the product rounded, then one fused step */
    j.trust = trust;
    j.step = (float)-lr;
    cpu_parallel(c, n, NORM_CHUNK, lamb_apply, &j);
    return 0;
}
