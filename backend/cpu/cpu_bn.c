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
 */
#include <math.h>

#include "backend/cpu/cpu_internal.h"

/* x is [N,C,...]: per-channel count N*H*W. */
static int bn_shapes(const cpu_call *k, int64_t *n_ch, int64_t *count, tgc_err *err) {
    const tgc_shape *x = &k->in_t[k->code == TGC_OP_BN_BWD ? 1 : 0].shape;
    if (x->rank < 2 || x->rank > 5) return tgc_fail(err, "cpu backend: %s: x must be [N,C] or [N,C,H,W]", k->name);
    *n_ch = x->d[1];
    *count = tgc_shape_numel(x) / (x->d[1] ? x->d[1] : 1);
    /* Every per-channel operand/result after x must be [C]. */
    int first = k->code == TGC_OP_BN_BWD ? 2 : 1;
    for (int i = first; i < k->n_in; i++)
        if (k->in_t[i].shape.rank != 1 || k->in_t[i].shape.d[0] != *n_ch)
            return tgc_fail(err, "cpu backend: %s: operand %d must be [%lld]", k->name, i, (long long)*n_ch);
    for (int i = 1; i < k->n_out; i++)
        if (k->out_t[i].shape.rank != 1 || k->out_t[i].shape.d[0] != *n_ch)
            return tgc_fail(err, "cpu backend: %s: result %d must be [%lld]", k->name, i, (long long)*n_ch);
    if (cpu_check_same_shape(k, 1, 0, 0, k->code == TGC_OP_BN_BWD ? 1 : 0, err)) return -1;
    if (k->code == TGC_OP_BN_BWD && cpu_check_same_shape(k, 0, 0, 0, 1, err)) return -1;
    if (!(k->a->eps > 0)) return tgc_fail(err, "cpu backend: %s: eps must be positive", k->name);
    return 0;
}

static void bn_key(cpu_key *key, const cpu_call *k) {
    cpu_key_init(key, k->code, 0);
    cpu_key_type(key, &k->in_t[k->code == TGC_OP_BN_BWD ? 1 : 0]);
    cpu_key_addf(key, k->a->eps);
}

static int bn_desc(const cpu_call *k, const tgc_shape *x, dnnl_prop_kind_t prop, unsigned flags,
                   dnnl_memory_desc_t *xmd, dnnl_memory_desc_t *cmd, dnnl_batch_normalization_desc_t *d,
                   tgc_err *err) {
    tgc_shape c1 = tgc_shape1(x->d[1]);
    if (cpu_md_plain(xmd, x, dnnl_f32, err) || cpu_md_plain(cmd, &c1, dnnl_f32, err)) return -1;
    dnnl_status_t s = dnnl_batch_normalization_forward_desc_init(d, prop, xmd, (float)k->a->eps, flags);
    if (s != dnnl_success) return tgc_fail(err, "cpu backend: %s: %s", k->name, cpu_dnnl_status(s));
    return 0;
}

/* The operands of one BN call, seen as [N, C, S]. */
typedef struct bn_job {
    int64_t n, c, s;
    const float *x, *dy, *gamma, *beta, *mean_in, *invstd_in;
    float *y, *mean, *invstd, *rm, *rv, *dx, *dgamma, *dbeta;
    double eps, mom;
} bn_job;

static void bn_train_channels(void *ctx, int64_t lo, int64_t hi) {
    const bn_job *j = ctx;
    const double cnt = (double)(j->n * j->s);
    for (int64_t ch = lo; ch < hi; ch++) {
        const float k = j->x[ch * j->s]; /* the shift: any value of the channel */
        double s1 = 0, s2 = 0;
        for (int64_t b = 0; b < j->n; b++) {
            const float *x = j->x + (b * j->c + ch) * j->s;
            float r1 = 0.f, r2 = 0.f;
#ifdef _OPENMP
#pragma omp simd reduction(+ : r1, r2)
#endif
            for (int64_t i = 0; i < j->s; i++) {
                float d = x[i] - k;
                r1 += d;
                r2 += d * d;
            }
            s1 += r1;
            s2 += r2;
        }
        double m1 = s1 / cnt, var = s2 / cnt - m1 * m1;
        if (var < 0) var = 0;
        double mean = (double)k + m1, invstd = 1.0 / sqrt(var + j->eps);
        j->mean[ch] = (float)mean;
        j->invstd[ch] = (float)invstd;
        j->rm[ch] = (float)((1.0 - j->mom) * j->rm[ch] + j->mom * mean);
        j->rv[ch] = (float)((1.0 - j->mom) * j->rv[ch] + j->mom * var * cnt / (cnt - 1));
        const float a = j->gamma[ch] * (float)invstd, bb = j->beta[ch] - (float)mean * a;
        for (int64_t b = 0; b < j->n; b++) {
            const float *x = j->x + (b * j->c + ch) * j->s;
            float *y = j->y + (b * j->c + ch) * j->s;
#ifdef _OPENMP
#pragma omp simd
#endif
            for (int64_t i = 0; i < j->s; i++) y[i] = x[i] * a + bb;
        }
    }
}

static void bn_bwd_channels(void *ctx, int64_t lo, int64_t hi) {
    const bn_job *j = ctx;
    const double cnt = (double)(j->n * j->s);
    for (int64_t ch = lo; ch < hi; ch++) {
        const float mean = j->mean_in[ch];
        double sdy = 0, dot = 0;
        for (int64_t b = 0; b < j->n; b++) {
            const float *x = j->x + (b * j->c + ch) * j->s, *dy = j->dy + (b * j->c + ch) * j->s;
            float r1 = 0.f, r2 = 0.f;
#ifdef _OPENMP
#pragma omp simd reduction(+ : r1, r2)
#endif
            for (int64_t i = 0; i < j->s; i++) {
                r1 += dy[i];
                r2 += (x[i] - mean) * dy[i];
            }
            sdy += r1;
            dot += r2;
        }
        const double is = j->invstd_in[ch];
        j->dgamma[ch] = (float)(dot * is);
        j->dbeta[ch] = (float)sdy;
        const float gm = (float)(sdy / cnt), proj = (float)(dot / cnt * is * is), scale = (float)(is * j->gamma[ch]);
        for (int64_t b = 0; b < j->n; b++) {
            const float *x = j->x + (b * j->c + ch) * j->s, *dy = j->dy + (b * j->c + ch) * j->s;
            float *dx = j->dx + (b * j->c + ch) * j->s;
#ifdef _OPENMP
#pragma omp simd
#endif
            for (int64_t i = 0; i < j->s; i++) dx[i] = (dy[i] - gm - (x[i] - mean) * proj) * scale;
        }
    }
}

/* Channels per task: enough elements to pay for a thread's wake-up. */
static int64_t bn_grain(int64_t count) { return TGC_MAX((int64_t)1, (int64_t)32768 / TGC_MAX(count, (int64_t)1)); }

/* batch_norm_train(x, gamma, beta, running_mean, running_var) -> (y, batch_mean, batch_invstd) */
int cpu_bn_train(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    if (cpu_check_all_f32(k, err)) return -1;
    int64_t nc, cnt;
    if (bn_shapes(k, &nc, &cnt, err)) return -1;
    if (cnt < 2)
        return tgc_fail(err, "cpu backend: %s: expected more than 1 value per channel when training", k->name);
    const tgc_shape *xs = &k->in_t[0].shape;
    bn_job j = {.n = xs->d[0], .c = nc, .s = cnt / xs->d[0], .x = k->in[0], .gamma = k->in[1], .beta = k->in[2],
                .rm = k->in[3], .rv = k->in[4], .y = k->out[0], .mean = k->out[1], .invstd = k->out[2],
                .eps = k->a->eps, .mom = k->a->momentum};
    cpu_parallel(c, nc, bn_grain(cnt), bn_train_channels, &j);
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
        if (bn_desc(k, &k->in_t[0].shape, dnnl_forward_inference,
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

/* batch_norm_bwd(dy, x, gamma, batch_mean, batch_invstd) -> (dx, dgamma, dbeta) */
int cpu_bn_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    if (cpu_check_all_f32(k, err)) return -1;
    int64_t nc, cnt;
    if (bn_shapes(k, &nc, &cnt, err)) return -1;
    const float *invstd = k->in[4];
    for (int64_t i = 0; i < nc; i++)
        if (!(invstd[i] > 0))
            return tgc_fail(err, "cpu backend: %s: batch_invstd[%lld] is not positive", k->name, (long long)i);
    const tgc_shape *xs = &k->in_t[1].shape;
    if (xs->d[0] == 0 || cnt == 0) return 0;
    bn_job j = {.n = xs->d[0], .c = nc, .s = cnt / xs->d[0], .dy = k->in[0], .x = k->in[1], .gamma = k->in[2],
                .mean_in = k->in[3], .invstd_in = invstd, .dx = k->out[0], .dgamma = k->out[1], .dbeta = k->out[2]};
    cpu_parallel(c, nc, bn_grain(cnt), bn_bwd_channels, &j);
    return 0;
}
