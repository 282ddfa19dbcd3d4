/* backend/cpu/cpu_bn.c - batch normalization: training forward (batch statistics, running-stat update),
 * eval forward (running statistics) and backward, through oneDNN on the NCHW (or [N,C]) tensors.
 *
 * The IR carries the batch's 1/sqrt(var+eps) (PyTorch's save_invstd) from the forward to the backward,
 * while oneDNN's primitives speak variance: the forward's variance stays in a cached scratch buffer and is
 * turned into invstd; the backward turns invstd back into variance (1/invstd^2 - eps), which oneDNN then
 * turns into the same invstd to within float rounding. */
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

/* batch_norm_train(x, gamma, beta, running_mean, running_var) -> (y, batch_mean, batch_invstd) */
int cpu_bn_train(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    if (cpu_check_all_f32(k, err)) return -1;
    int64_t nc, cnt;
    if (bn_shapes(k, &nc, &cnt, err)) return -1;
    if (cnt < 2)
        return tgc_fail(err, "cpu backend: %s: expected more than 1 value per channel when training", k->name);
    cpu_key key;
    bn_key(&key, k);
    cpu_prim *p = cpu_cache_find(c, &key);
    if (!p) {
        dnnl_memory_desc_t xmd, cmd;
        dnnl_batch_normalization_desc_t d;
        dnnl_primitive_desc_t pd;
        if (bn_desc(k, &k->in_t[0].shape, dnnl_forward_training, dnnl_use_scale | dnnl_use_shift, &xmd, &cmd, &d,
                    err) ||
            cpu_pd_create(c, &pd, &d, NULL, k->name, err))
            return -1;
        cpu_argspec spec[] = {{DNNL_ARG_SRC, 0, 0, &xmd},  {DNNL_ARG_SCALE, 1, 0, &cmd},
                              {DNNL_ARG_SHIFT, 2, 0, &cmd}, {DNNL_ARG_DST, 3, 1, &xmd},
                              {DNNL_ARG_MEAN, 4, 1, &cmd},  {DNNL_ARG_VARIANCE, -1, 1, NULL}};
        if (!(p = cpu_prim_build(c, &key, pd, spec, 6, k->name, err))) return -1;
    }
    void *ptrs[] = {k->in[0], k->in[1], k->in[2], k->out[0], k->out[1]};
    if (cpu_prim_run(c, p, ptrs, k->name, err)) return -1;
    /* Running statistics, PyTorch's rule: r = (1-m)*r + m*batch, the variance unbiased. */
    const float *mean = k->out[1], *var = cpu_prim_inner(p, DNNL_ARG_VARIANCE);
    float *rm = k->in[3], *rv = k->in[4], *invstd = k->out[2];
    double mom = k->a->momentum, unbias = (double)cnt / (double)(cnt - 1);
    for (int64_t i = 0; i < nc; i++) {
        rm[i] = (float)((1.0 - mom) * rm[i] + mom * mean[i]);
        rv[i] = (float)((1.0 - mom) * rv[i] + mom * var[i] * unbias);
        invstd[i] = (float)(1.0 / sqrt((double)var[i] + k->a->eps));
    }
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
    cpu_key key;
    bn_key(&key, k);
    cpu_prim *p = cpu_cache_find(c, &key);
    if (!p) {
        dnnl_memory_desc_t xmd, cmd;
        dnnl_batch_normalization_desc_t fd, bd;
        dnnl_primitive_desc_t hint, pd;
        unsigned flags = dnnl_use_scale | dnnl_use_shift;
        if (bn_desc(k, &k->in_t[1].shape, dnnl_forward_training, flags, &xmd, &cmd, &fd, err) ||
            cpu_pd_create(c, &hint, &fd, NULL, k->name, err))
            return -1;
        dnnl_status_t s = dnnl_batch_normalization_backward_desc_init(&bd, dnnl_backward, &xmd, &xmd,
                                                                      (float)k->a->eps, flags);
        int rc = s != dnnl_success ? tgc_fail(err, "cpu backend: %s: %s", k->name, cpu_dnnl_status(s))
                                   : cpu_pd_create(c, &pd, &bd, hint, k->name, err);
        dnnl_primitive_desc_destroy(hint);
        if (rc) return -1;
        cpu_argspec spec[] = {{DNNL_ARG_DIFF_DST, 0, 0, &xmd},    {DNNL_ARG_SRC, 1, 0, &xmd},
                              {DNNL_ARG_SCALE, 2, 0, &cmd},       {DNNL_ARG_MEAN, 3, 0, &cmd},
                              /* oneDNN 2.6 insists on a shift input it does not read: gamma stands in */
                              {DNNL_ARG_SHIFT, 2, 0, &cmd},
                              {DNNL_ARG_VARIANCE, -1, 0, NULL},    {DNNL_ARG_DIFF_SRC, 4, 1, &xmd},
                              {DNNL_ARG_DIFF_SCALE, 5, 1, &cmd},  {DNNL_ARG_DIFF_SHIFT, 6, 1, &cmd}};
        if (!(p = cpu_prim_build(c, &key, pd, spec, 9, k->name, err))) return -1;
    }
    float *var = cpu_prim_inner(p, DNNL_ARG_VARIANCE);
    const float *invstd = k->in[4];
    for (int64_t i = 0; i < nc; i++) {
        double is = invstd[i];
        if (!(is > 0)) return tgc_fail(err, "cpu backend: %s: batch_invstd[%lld] is not positive", k->name, (long long)i);
        var[i] = (float)(1.0 / (is * is) - k->a->eps);
    }
    void *ptrs[] = {k->in[0], k->in[1], k->in[2], k->in[3], k->out[0], k->out[1], k->out[2]};
    return cpu_prim_run(c, p, ptrs, k->name, err);
}
