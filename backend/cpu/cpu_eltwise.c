/* backend/cpu/cpu_eltwise.c - relu, tanh and sigmoid, forward and backward (from the forward's output y),
 * through oneDNN's eltwise primitives on the tensor seen as one flat vector (the op is layout-blind). */
#include "backend/cpu/cpu_internal.h"

/* oneDNN's algorithm for each op these kernels run; undef for any other op, which the kernels refuse (an
 * op given cpu_eltwise in cpu_ctx.c but no line here fails on its first run, never computes another op). */
static dnnl_alg_kind_t fwd_alg(tgc_opcode code) {
    switch (code) {
    case TGC_OP_RELU: return dnnl_eltwise_relu;
    case TGC_OP_TANH: return dnnl_eltwise_tanh;
    case TGC_OP_SIGMOID: return dnnl_eltwise_logistic;
    default: return dnnl_alg_kind_undef;
    }
}

/* The backward ops get y, the forward's output: oneDNN's *_use_dst_for_bwd algorithms take it. */
static dnnl_alg_kind_t bwd_alg(tgc_opcode code) {
    switch (code) {
    case TGC_OP_RELU_BWD: return dnnl_eltwise_relu_use_dst_for_bwd;
    case TGC_OP_TANH_BWD: return dnnl_eltwise_tanh_use_dst_for_bwd;
    case TGC_OP_SIGMOID_BWD: return dnnl_eltwise_logistic_use_dst_for_bwd;
    default: return dnnl_alg_kind_undef;
    }
}

static int no_alg(const cpu_call *k, tgc_err *err) {
    return tgc_fail(err, "cpu backend: %s: no oneDNN eltwise algorithm for this op (backend/cpu/cpu_eltwise.c)",
                    k->name);
}

static int flat_md(dnnl_memory_desc_t *md, int64_t n, tgc_err *err) {
    tgc_shape s = tgc_shape1(n);
    return cpu_md_plain(md, &s, dnnl_f32, err);
}

int cpu_eltwise(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    dnnl_alg_kind_t alg = fwd_alg(k->code);
    if (alg == dnnl_alg_kind_undef) return no_alg(k, err);
    if (cpu_check_all_f32(k, err) || cpu_check_same_shape(k, 0, 0, 1, 0, err)) return -1;
    int64_t n = tgc_shape_numel(&k->in_t[0].shape);
    if (n == 0) return 0;
    cpu_key key;
    cpu_key_init(&key, k->code, 0);
    cpu_key_add(&key, n);
    cpu_prim *p = cpu_cache_find(c, &key);
    if (!p) {
        dnnl_memory_desc_t md;
        dnnl_eltwise_desc_t d;
        dnnl_primitive_desc_t pd;
        if (flat_md(&md, n, err)) return -1;
        dnnl_status_t s = dnnl_eltwise_forward_desc_init(&d, dnnl_forward_training, alg, &md, 0.f, 0.f);
        if (s != dnnl_success) return tgc_fail(err, "cpu backend: %s: %s", k->name, cpu_dnnl_status(s));
        if (cpu_pd_create(c, &pd, &d, NULL, k->name, err)) return -1;
        cpu_argspec spec[] = {{DNNL_ARG_SRC, 0, 0, &md}, {DNNL_ARG_DST, 1, 1, &md}};
        if (!(p = cpu_prim_build(c, &key, pd, spec, 2, k->name, err))) return -1;
    }
    void *ptrs[] = {k->in[0], k->out[0]};
    return cpu_prim_run(c, p, ptrs, k->name, err);
}

/* relu_bwd(dy, y) -> dy * (y > 0); tanh_bwd(dy, y) -> dy * (1 - y^2); sigmoid_bwd(dy, y) -> dy * y * (1 - y) */
int cpu_eltwise_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    dnnl_alg_kind_t alg = bwd_alg(k->code);
    if (alg == dnnl_alg_kind_undef) return no_alg(k, err);
    if (cpu_check_all_f32(k, err) || cpu_check_same_shape(k, 0, 0, 0, 1, err) ||
        cpu_check_same_shape(k, 0, 0, 1, 0, err))
        return -1;
    int64_t n = tgc_shape_numel(&k->in_t[0].shape);
    if (n == 0) return 0;
    cpu_key key;
    cpu_key_init(&key, k->code, 0);
    cpu_key_add(&key, n);
    cpu_prim *p = cpu_cache_find(c, &key);
    if (!p) {
        dnnl_memory_desc_t md;
        dnnl_eltwise_desc_t fd, bd;
        dnnl_primitive_desc_t hint, pd;
        if (flat_md(&md, n, err)) return -1;
        dnnl_status_t s = dnnl_eltwise_forward_desc_init(&fd, dnnl_forward_training, alg, &md, 0.f, 0.f);
        if (s == dnnl_success) s = dnnl_eltwise_backward_desc_init(&bd, alg, &md, &md, 0.f, 0.f);
        if (s != dnnl_success) return tgc_fail(err, "cpu backend: %s: %s", k->name, cpu_dnnl_status(s));
        if (cpu_pd_create(c, &hint, &fd, NULL, k->name, err)) return -1;
        int rc = cpu_pd_create(c, &pd, &bd, hint, k->name, err);
        dnnl_primitive_desc_destroy(hint);
        if (rc) return -1;
        cpu_argspec spec[] = {{DNNL_ARG_DIFF_DST, 0, 0, &md}, {DNNL_ARG_DST, 1, 0, &md},
                              {DNNL_ARG_DIFF_SRC, 2, 1, &md}};
        if (!(p = cpu_prim_build(c, &key, pd, spec, 3, k->name, err))) return -1;
    }
    void *ptrs[] = {k->in[0], k->in[1], k->out[0]};
    return cpu_prim_run(c, p, ptrs, k->name, err);
}
