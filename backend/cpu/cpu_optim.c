/* backend/cpu/cpu_optim.c - optimizer updates with PyTorch's semantics (torch.optim.SGD, AdamW, Adam and
 * RMSprop, the single-tensor "for-loop" implementations), updating parameters and state in place.
 *
 * lr is a scalar f32 operand multiplied by attrs.alpha (the parameter's lr multiplier); step is a scalar
 * f32 holding the 1-based step count t. Per-step scalars are computed in double, the element updates in
 * float as PyTorch does for f32 parameters. */
#include <math.h>

#include "backend/cpu/cpu_internal.h"

#define OPT_GRAIN 16384

typedef struct opt_job {
    float *p, *buf, *m, *v;
    const float *g;
    float lr, wd, momentum, dampening, b2, w1, w2, eps, decay, step_size, bc2_sqrt;
    int nesterov, first;
} opt_job;

/* Checks operands 0..n_tensors-1 are f32 of the parameter's shape and the remaining ones f32 scalars. */
static int opt_check(const cpu_call *k, int n_tensors, tgc_err *err) {
    if (cpu_check_all_f32(k, err)) return -1;
    for (int i = 1; i < n_tensors; i++)
        if (cpu_check_same_shape(k, 0, 0, 0, i, err)) return -1;
    for (int i = n_tensors; i < k->n_in; i++)
        if (tgc_shape_numel(&k->in_t[i].shape) != 1)
            return tgc_fail(err, "cpu backend: %s: operand %d (%s) must be a scalar", k->name, i,
                            i == n_tensors ? "lr" : "step");
    return 0;
}

static float scalar(const cpu_call *k, int i) { return *(const float *)k->in[i]; }

static void sgd_run(void *ctx, int64_t lo, int64_t hi) {
    const opt_job *j = ctx;
    for (int64_t i = lo; i < hi; i++) j->p[i] -= j->lr * (j->g[i] + j->wd * j->p[i]);
}

/* sgd_update(param, grad, lr[]) */
int cpu_sgd(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    if (opt_check(k, 2, err)) return -1;
    opt_job j = {.p = k->in[0], .g = k->in[1]};
    j.lr = (float)(scalar(k, 2) * k->a->alpha);
    j.wd = (float)k->a->weight_decay;
    cpu_parallel(c, tgc_shape_numel(&k->in_t[0].shape), OPT_GRAIN, sgd_run, &j);
    return 0;
}

static void sgd_momentum_run(void *ctx, int64_t lo, int64_t hi) {
    const opt_job *j = ctx;
    for (int64_t i = lo; i < hi; i++) {
        float d = j->g[i] + j->wd * j->p[i];
        if (j->momentum != 0.f) {
            float b = j->first ? d : j->momentum * j->buf[i] + (1.f - j->dampening) * d;
            j->buf[i] = b;
            d = j->nesterov ? d + j->momentum * b : b;
        }
        j->p[i] -= j->lr * d;
    }
}

/* sgd_momentum_update(param, grad, momentum_buf, lr[], step[]): d = g + wd*p; buf = d at step 1 (the
 * buffer is created from d, undampened), else momentum*buf + (1-dampening)*d; d = nesterov ?
 * d + momentum*buf : buf; p -= lr*d. */
int cpu_sgd_momentum(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    if (opt_check(k, 3, err)) return -1;
    float t = scalar(k, 4);
    if (!(t >= 1)) return tgc_fail(err, "cpu backend: %s: step %g is not >= 1", k->name, (double)t);
    opt_job j = {.p = k->in[0], .g = k->in[1], .buf = k->in[2]};
    j.lr = (float)(scalar(k, 3) * k->a->alpha);
    j.wd = (float)k->a->weight_decay;
    j.momentum = (float)k->a->momentum;
    j.dampening = (float)k->a->dampening;
    j.nesterov = k->a->nesterov != 0;
    j.first = t < 1.5f;
    cpu_parallel(c, tgc_shape_numel(&k->in_t[0].shape), OPT_GRAIN, sgd_momentum_run, &j);
    return 0;
}

static void adamw_run(void *ctx, int64_t lo, int64_t hi) {
    const opt_job *j = ctx;
    float w1 = j->w1, w2 = j->w2;
    for (int64_t i = lo; i < hi; i++) {
        float g = j->g[i];
        float p = j->p[i] * j->decay;
        float m = j->m[i] + w1 * (g - j->m[i]); /* PyTorch's lerp: m + (1-b1)*(g-m) = b1*m + (1-b1)*g */
        float v = j->b2 * j->v[i] + w2 * g * g;
        j->m[i] = m;
        j->v[i] = v;
        j->p[i] = p - j->step_size * m / (sqrtf(v) / j->bc2_sqrt + j->eps);
    }
}

/* adamw_update(param, grad, exp_avg, exp_avg_sq, lr[], step[]): p *= 1 - lr*wd; m, v updated; p -=
 * lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps). */
int cpu_adamw(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    if (opt_check(k, 4, err)) return -1;
    double t = scalar(k, 5), lr = scalar(k, 4) * k->a->alpha;
    if (!(t >= 1)) return tgc_fail(err, "cpu backend: %s: step %g is not >= 1", k->name, t);
    const tgc_attrs *a = k->a;
    if (!(a->beta1 >= 0 && a->beta1 < 1 && a->beta2 >= 0 && a->beta2 < 1))
        return tgc_fail(err, "cpu backend: %s: betas (%g, %g) must be in [0, 1)", k->name, a->beta1, a->beta2);
    opt_job j = {.p = k->in[0], .g = k->in[1], .m = k->in[2], .v = k->in[3]};
    t = floor(t + 0.5);
    double bc1 = 1.0 - pow(a->beta1, t), bc2 = 1.0 - pow(a->beta2, t);
    j.decay = (float)(1.0 - lr * a->weight_decay);
    j.b2 = (float)a->beta2;
    /* 1 - beta in double, then rounded, as PyTorch passes them (1 - 0.999f in float would be 1.3e-5 off). */
    j.w1 = (float)(1.0 - a->beta1);
    j.w2 = (float)(1.0 - a->beta2);
    j.eps = (float)a->eps;
    j.step_size = (float)(lr / bc1);
    j.bc2_sqrt = (float)sqrt(bc2);
    cpu_parallel(c, tgc_shape_numel(&k->in_t[0].shape), OPT_GRAIN, adamw_run, &j);
    return 0;
}

static void adam_run(void *ctx, int64_t lo, int64_t hi) {
    const opt_job *j = ctx;
    float w1 = j->w1, w2 = j->w2;
    for (int64_t i = lo; i < hi; i++) {
        /* L2: the decay joins the gradient, and so the moments. PyTorch's vectorised add(alpha) is one fused
         * multiply-add; in double (wd*p exact) and rounded once it is that, without libm's slow fmaf. */
        float g = (float)((double)j->g[i] + (double)j->wd * (double)j->p[i]);
        float m = j->m[i] + w1 * (g - j->m[i]);
        float v = j->b2 * j->v[i] + w2 * g * g;
        j->m[i] = m;
        j->v[i] = v;
        j->p[i] -= j->step_size * m / (sqrtf(v) / j->bc2_sqrt + j->eps);
    }
}

/* adam_update(param, grad, exp_avg, exp_avg_sq, lr[], step[]): adamw_update's moments on g + wd*p, no
 * decoupled decay. */
int cpu_adam(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    if (opt_check(k, 4, err)) return -1;
    double t = scalar(k, 5), lr = scalar(k, 4) * k->a->alpha;
    if (!(t >= 1)) return tgc_fail(err, "cpu backend: %s: step %g is not >= 1", k->name, t);
    const tgc_attrs *a = k->a;
    if (!(a->beta1 >= 0 && a->beta1 < 1 && a->beta2 >= 0 && a->beta2 < 1))
        return tgc_fail(err, "cpu backend: %s: betas (%g, %g) must be in [0, 1)", k->name, a->beta1, a->beta2);
    opt_job j = {.p = k->in[0], .g = k->in[1], .m = k->in[2], .v = k->in[3]};
    t = floor(t + 0.5);
    double bc1 = 1.0 - pow(a->beta1, t), bc2 = 1.0 - pow(a->beta2, t);
    j.wd = (float)a->weight_decay;
    j.b2 = (float)a->beta2;
    j.w1 = (float)(1.0 - a->beta1);
    j.w2 = (float)(1.0 - a->beta2);
    j.eps = (float)a->eps;
    j.step_size = (float)(lr / bc1);
    j.bc2_sqrt = (float)sqrt(bc2);
    cpu_parallel(c, tgc_shape_numel(&k->in_t[0].shape), OPT_GRAIN, adam_run, &j);
    return 0;
}

static void rmsprop_run(void *ctx, int64_t lo, int64_t hi) {
    const opt_job *j = ctx;
    for (int64_t i = lo; i < hi; i++) {
        float g = (float)((double)j->g[i] + (double)j->wd * (double)j->p[i]); /* as adam_run */
        float sq = j->b2 * j->v[i] + j->w2 * g * g;
        j->v[i] = sq;
        float r = g / (sqrtf(sq) + j->eps);
        if (j->momentum != 0.f) {
            float b = j->momentum * j->buf[i] + r;
            j->buf[i] = b;
            r = b;
        }
        j->p[i] -= j->lr * r;
    }
}

/* rmsprop_update(param, grad, square_avg, momentum_buffer, lr[]): attrs.beta2 is RMSprop's alpha. */
int cpu_rmsprop(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    if (opt_check(k, 4, err)) return -1;
    const tgc_attrs *a = k->a;
    if (!(a->beta2 >= 0 && a->beta2 < 1))
        return tgc_fail(err, "cpu backend: %s: alpha %g must be in [0, 1)", k->name, a->beta2);
    opt_job j = {.p = k->in[0], .g = k->in[1], .v = k->in[2], .buf = k->in[3]};
    j.lr = (float)(scalar(k, 4) * a->alpha);
    j.wd = (float)a->weight_decay;
    j.b2 = (float)a->beta2;
    j.w2 = (float)(1.0 - a->beta2);
    j.eps = (float)a->eps;
    j.momentum = (float)a->momentum;
    cpu_parallel(c, tgc_shape_numel(&k->in_t[0].shape), OPT_GRAIN, rmsprop_run, &j);
    return 0;
}

static void ema_run(void *ctx, int64_t lo, int64_t hi) {
    const opt_job *j = ctx;
    for (int64_t i = lo; i < hi; i++) j->m[i] += j->momentum * (j->g[i] - j->m[i]); /* torch's lerp_ */
}

/* ema_update(ema, param): ema += momentum * (param - ema). */
int cpu_ema(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    if (opt_check(k, 2, err)) return -1;
    if (!(k->a->momentum > 0 && k->a->momentum <= 1))
        return tgc_fail(err, "cpu backend: %s: momentum %g is not in (0, 1]", k->name, k->a->momentum);
    opt_job j = {.m = k->in[0], .g = k->in[1], .momentum = (float)k->a->momentum};
    cpu_parallel(c, tgc_shape_numel(&k->in_t[0].shape), OPT_GRAIN, ema_run, &j);
    return 0;
}
