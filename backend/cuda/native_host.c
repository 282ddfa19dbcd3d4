/* backend/cuda/native_host.c - see native_host.h. */
#include "backend/cuda/native_host.h"

#include <pthread.h>

#include "backend/cuda/kernels/convert.cuh"
#include "backend/cuda/kernels/loss.cuh"
#include "backend/cuda/kernels/optim.cuh"
#include "backend/cuda/kernels/pool.cuh"
#include "backend/cuda/kernels/reduce.cuh"

_Static_assert((int)TGC_K_DT_F32 == (int)TGC_F32 && (int)TGC_K_DT_F16 == (int)TGC_F16 &&
                   (int)TGC_K_DT_BF16 == (int)TGC_BF16 && (int)TGC_K_DT_I32 == (int)TGC_I32 &&
                   (int)TGC_K_DT_I64 == (int)TGC_I64 && (int)TGC_K_DT_U8 == (int)TGC_U8,
               "the kernels' dtype codes follow tgc_dtype");

static pthread_mutex_t shim_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t n_launches;

/* The executor passes a few waves' worth of blocks on a GPU; on the host a small cap keeps the grid-stride
 * loops exercised (several iterations per thread) and the fiber count low. */
#define HOST_MAX_BLOCKS 8u

static int is_f32(const tgc_type *t) { return t->dtype == TGC_F32; }

static int opt_kind(tgc_opcode c) {
    return c == TGC_OP_SGD_UPDATE ? TGC_K_OPT_SGD
           : c == TGC_OP_SGD_MOMENTUM_UPDATE ? TGC_K_OPT_SGD_MOMENTUM
           : c == TGC_OP_ADAMW_UPDATE ? TGC_K_OPT_ADAMW
                                        : -1;
}

int tgc_cuda_native_host_class(tgc_opcode code) {
    switch (code) {
    case TGC_OP_SGD_UPDATE:
    case TGC_OP_SGD_MOMENTUM_UPDATE:
    case TGC_OP_ADAMW_UPDATE:
        return TGC_NATIVE_OPTIMIZER;
    case TGC_OP_MAX_POOL2D_BWD:
    case TGC_OP_GLOBAL_AVG_POOL_BWD:
    case TGC_OP_FILL:
    case TGC_OP_CAST:
        return TGC_NATIVE_EXACT;
    case TGC_OP_SOFTMAX_CE:
    case TGC_OP_SOFTMAX_CE_BWD:
    case TGC_OP_GLOBAL_AVG_POOL:
    case TGC_OP_BIAS_GRAD:
        return TGC_NATIVE_REDUCE;
    default:
        return 0;
    }
}

int tgc_cuda_native_host_supports(const tgc_cpu_op *o) {
    switch (o->code) {
    case TGC_OP_SGD_UPDATE:
    case TGC_OP_SGD_MOMENTUM_UPDATE:
    case TGC_OP_ADAMW_UPDATE: {
        int depth = tgc_k_opt_depth(opt_kind(o->code));
        if (o->n_in < depth + 1) return 0;
        for (int k = 0; k < o->n_in; k++)
            if (!is_f32(&o->in_t[k])) return 0;
        return 1;
    }
    case TGC_OP_SOFTMAX_CE:
        return o->n_in == 2 && o->n_out == 1 && is_f32(&o->in_t[0]) && o->in_t[0].shape.rank == 2 &&
               o->in_t[1].dtype == TGC_I32 && is_f32(&o->out_t[0]);
    case TGC_OP_SOFTMAX_CE_BWD:
        return o->n_in == 3 && o->n_out == 1 && is_f32(&o->in_t[0]) && is_f32(&o->in_t[1]) &&
               o->in_t[1].shape.rank == 2 && o->in_t[2].dtype == TGC_I32 && is_f32(&o->out_t[0]);
    case TGC_OP_GLOBAL_AVG_POOL:
        return o->n_in == 1 && o->n_out == 1 && is_f32(&o->in_t[0]) && o->in_t[0].shape.rank >= 2 &&
               is_f32(&o->out_t[0]);
    case TGC_OP_GLOBAL_AVG_POOL_BWD:
        return o->n_in == 1 && o->n_out == 1 && is_f32(&o->in_t[0]) && is_f32(&o->out_t[0]) &&
               o->out_t[0].shape.rank >= 2;
    case TGC_OP_BIAS_GRAD:
        return o->n_in == 1 && o->n_out == 1 && is_f32(&o->in_t[0]) && is_f32(&o->out_t[0]) && o->a->axis >= 0 &&
               o->a->axis < o->in_t[0].shape.rank;
    case TGC_OP_MAX_POOL2D_BWD:
        return o->n_in == 2 && o->n_out == 1 && is_f32(&o->in_t[0]) && is_f32(&o->in_t[1]) &&
               o->in_t[0].shape.rank == 4 && o->in_t[1].shape.rank == 4 && is_f32(&o->out_t[0]);
    case TGC_OP_FILL:
        return o->n_in == 0 && o->n_out == 1 && o->out_t[0].dtype == o->a->dtype;
    case TGC_OP_CAST: {
        if (o->n_in != 1 || o->n_out != 1) return 0;
        tgc_dtype f = o->in_t[0].dtype, t = o->out_t[0].dtype;
        return (f == TGC_F32 && (t == TGC_BF16 || t == TGC_F16)) || (t == TGC_F32 && (f == TGC_BF16 || f == TGC_F16));
    }
    default:
        return 0;
    }
}

uint64_t tgc_cuda_native_host_workspace(const tgc_cpu_op *o) {
    if (o->code != TGC_OP_SOFTMAX_CE || !tgc_cuda_native_host_supports(o)) return 0;
    return (uint64_t)o->in_t[0].shape.d[0] * sizeof(double);
}

uint64_t tgc_cuda_native_host_launches(void) {
    pthread_mutex_lock(&shim_lock);
    uint64_t n = n_launches;
    pthread_mutex_unlock(&shim_lock);
    return n;
}

/* Under shim_lock. */
static int exec_locked(const tgc_cpu_op *o, void *ws, tgc_err *err) {
    const tgc_attrs *at = o->a;
    switch (o->code) {
    case TGC_OP_SOFTMAX_CE: {
        if (!ws) return tgc_fail(err, "native softmax_cross_entropy: no row-loss workspace");
        tgc_k_ce_args a = {o->in[0], o->in[1], ws, o->out[0], NULL, NULL, o->in_t[0].shape.d[0],
                           o->in_t[0].shape.d[1], at->label_smooth, at->alpha};
        tgc_k_geom g = tgc_k_geom_warp_rows(a.n, HOST_MAX_BLOCKS);
        TGC_SHIM_LAUNCH(tgc_k_softmax_ce_rows, g, a);
        n_launches++;
        if (g.gx) {
            TGC_SHIM_LAUNCH(tgc_k_softmax_ce_mean, tgc_k_geom_one_block(), a);
            n_launches++;
        }
        return 0;
    }
    case TGC_OP_SOFTMAX_CE_BWD: {
        tgc_k_ce_args a = {o->in[1], o->in[2], NULL, NULL, o->in[0], o->out[0], o->in_t[1].shape.d[0],
                           o->in_t[1].shape.d[1], at->label_smooth, at->alpha};
        TGC_SHIM_LAUNCH(tgc_k_softmax_ce_bwd, tgc_k_geom_warp_rows(a.n, HOST_MAX_BLOCKS), a);
        n_launches++;
        return 0;
    }
    case TGC_OP_GLOBAL_AVG_POOL:
    case TGC_OP_GLOBAL_AVG_POOL_BWD: {
        int bwd = o->code == TGC_OP_GLOBAL_AVG_POOL_BWD;
        const tgc_shape *s = bwd ? &o->out_t[0].shape : &o->in_t[0].shape;
        int64_t planes = s->d[0] * s->d[1], inner = 1;
        for (int i = 2; i < s->rank; i++) inner *= s->d[i];
        tgc_k_gap_args a = {o->in[0], o->out[0], planes, inner};
        if (bwd) TGC_SHIM_LAUNCH(tgc_k_global_avg_pool_bwd, tgc_k_geom_elems(planes * inner, HOST_MAX_BLOCKS), a);
        else TGC_SHIM_LAUNCH(tgc_k_global_avg_pool, tgc_k_geom_warp_rows(planes, HOST_MAX_BLOCKS), a);
        n_launches++;
        return 0;
    }
    case TGC_OP_BIAS_GRAD: {
        const tgc_shape *s = &o->in_t[0].shape;
        int64_t axis = at->axis, outer = 1, inner = 1, ch = s->d[axis];
        for (int i = 0; i < axis; i++) outer *= s->d[i];
        for (int i = (int)axis + 1; i < s->rank; i++) inner *= s->d[i];
        tgc_k_bias_grad_args a = {o->in[0], o->out[0], outer, ch, inner};
        int cols = tgc_k_bias_grad_cols_wanted(inner);
        tgc_k_geom g = tgc_k_geom_bias_grad(cols, ch, HOST_MAX_BLOCKS);
        if (cols) TGC_SHIM_LAUNCH(tgc_k_bias_grad_cols, g, a);
        else TGC_SHIM_LAUNCH(tgc_k_bias_grad_planes, g, a);
        n_launches++;
        return 0;
    }
    case TGC_OP_MAX_POOL2D_BWD: {
        const tgc_shape *dy = &o->in_t[0].shape, *x = &o->in_t[1].shape;
        tgc_k_maxpool_bwd_args a = {o->in[0],
                                    o->in[1],
                                    o->out[0],
                                    x->d[0] * x->d[1],
                                    (int32_t)x->d[2],
                                    (int32_t)x->d[3],
                                    (int32_t)dy->d[2],
                                    (int32_t)dy->d[3],
                                    (int32_t)at->kernel[0],
                                    (int32_t)at->kernel[1],
                                    (int32_t)at->stride[0],
                                    (int32_t)at->stride[1],
                                    (int32_t)at->pad[0],
                                    (int32_t)at->pad[1]};
        TGC_SHIM_LAUNCH(tgc_k_max_pool2d_bwd, tgc_k_geom_planes(a.planes, (int64_t)a.h * a.w, HOST_MAX_BLOCKS), a);
        n_launches++;
        return 0;
    }
    case TGC_OP_FILL: {
        tgc_k_fill_args a = {o->out[0], tgc_shape_numel(&o->out_t[0].shape), at->alpha, (int32_t)o->out_t[0].dtype};
        TGC_SHIM_LAUNCH(tgc_k_fill, tgc_k_geom_elems(a.n, HOST_MAX_BLOCKS), a);
        n_launches++;
        return 0;
    }
    case TGC_OP_CAST: {
        tgc_k_cast_args a = {o->in[0], o->out[0], tgc_shape_numel(&o->in_t[0].shape)};
        tgc_k_geom g = tgc_k_geom_elems(a.n, HOST_MAX_BLOCKS);
        tgc_dtype f = o->in_t[0].dtype, t = o->out_t[0].dtype;
        if (f == TGC_F32 && t == TGC_BF16) TGC_SHIM_LAUNCH(tgc_k_cast_f32_bf16, g, a);
        else if (f == TGC_BF16) TGC_SHIM_LAUNCH(tgc_k_cast_bf16_f32, g, a);
        else if (f == TGC_F32) TGC_SHIM_LAUNCH(tgc_k_cast_f32_f16, g, a);
        else TGC_SHIM_LAUNCH(tgc_k_cast_f16_f32, g, a);
        n_launches++;
        return 0;
    }
    default:
        return tgc_fail(err, "native host kernels: no kernel for %s", tgc_op_table[o->code].name);
    }
}

int tgc_cuda_native_host_exec(const tgc_cpu_op *o, void *ws, tgc_err *err) {
    if (!tgc_cuda_native_host_supports(o))
        return tgc_fail(err, "native host kernels: %s with these operands is not covered", tgc_op_table[o->code].name);
    if (opt_kind(o->code) >= 0) return tgc_cuda_native_host_opt_group(o, 1, TGC_MT_CHUNK, NULL, err);
    pthread_mutex_lock(&shim_lock);
    int rc = exec_locked(o, ws, err);
    pthread_mutex_unlock(&shim_lock);
    return rc;
}

typedef struct opt_ctx {
    int kind, launches;
} opt_ctx;

static int opt_launch(const tgc_k_opt_args *a, void *ctx) {
    opt_ctx *c = ctx;
    tgc_k_geom g = tgc_k_geom_mt(&a->l);
    if (c->kind == TGC_K_OPT_SGD) TGC_SHIM_LAUNCH(tgc_k_sgd, g, *a);
    else if (c->kind == TGC_K_OPT_SGD_MOMENTUM) TGC_SHIM_LAUNCH(tgc_k_sgd_momentum, g, *a);
    else TGC_SHIM_LAUNCH(tgc_k_adamw, g, *a);
    c->launches++;
    return 0;
}

int tgc_cuda_native_host_opt_group(const tgc_cpu_op *ops, int n, int32_t chunk, int *launches, tgc_err *err) {
    if (n < 1) return 0;
    int kind = opt_kind(ops[0].code), depth = tgc_k_opt_depth(kind);
    if (kind < 0) return tgc_fail(err, "native optimizer group: %s is no optimizer update", tgc_op_table[ops[0].code].name);
    const tgc_attrs *at = ops[0].a;
    tgc_mt_tensor *t = tgc_calloc((size_t)n, sizeof *t);
    for (int j = 0; j < n; j++) {
        if (ops[j].code != ops[0].code || !tgc_cuda_native_host_supports(&ops[j]) ||
            ops[j].in[depth] != ops[0].in[depth] || (kind != TGC_K_OPT_SGD && ops[j].in[depth + 1] != ops[0].in[depth + 1])) {
            free(t);
            return tgc_fail(err, "native optimizer group: instruction %d of %d differs in op or lr/step operands", j, n);
        }
        t[j].numel = tgc_shape_numel(&ops[j].in_t[0].shape);
        for (int d = 0; d < depth; d++) t[j].ptr[d] = ops[j].in[d];
    }
    tgc_k_opt_args *a = tgc_calloc(1, sizeof *a); /* ~3 KiB: off the fibers' and the caller's stack */
    a->lr = ops[0].in[depth];
    a->step = kind == TGC_K_OPT_SGD ? NULL : ops[0].in[depth + 1];
    a->alpha = at->alpha, a->weight_decay = at->weight_decay, a->momentum = at->momentum;
    a->dampening = at->dampening, a->beta1 = at->beta1, a->beta2 = at->beta2, a->eps = at->eps;
    a->nesterov = (int32_t)at->nesterov;
    opt_ctx c = {kind, 0};
    pthread_mutex_lock(&shim_lock);
    int rc = tgc_mt_apply(a, depth, chunk, t, n, opt_launch, &c);
    n_launches += (uint64_t)c.launches;
    pthread_mutex_unlock(&shim_lock);
    free(a);
    free(t);
    if (rc) return tgc_fail(err, "native optimizer group: a list could not be packed");
    if (launches) *launches += c.launches;
    return 0;
}
