/* backend/cuda/native_marshal.c - see native_marshal.h. */
#include "backend/cuda/native_marshal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/philox.h"

_Static_assert((int)TGC_K_DT_F32 == (int)TGC_F32 && (int)TGC_K_DT_F16 == (int)TGC_F16 &&
                   (int)TGC_K_DT_BF16 == (int)TGC_BF16 && (int)TGC_K_DT_I32 == (int)TGC_I32 &&
                   (int)TGC_K_DT_I64 == (int)TGC_I64 && (int)TGC_K_DT_U8 == (int)TGC_U8,
               "the kernels' dtype codes follow tgc_dtype");
_Static_assert(TGC_K_RCNN_STREAM == TGC_PHILOX_STREAM_RCNN, "rcnn_targets draws from the same Philox stream on CPU and CUDA");

static int is_f32(const tgc_type *t) { return t->dtype == TGC_F32; }

static int opt_kind(tgc_opcode c) {
    return c == TGC_OP_SGD_UPDATE ? TGC_K_OPT_SGD
           : c == TGC_OP_SGD_MOMENTUM_UPDATE ? TGC_K_OPT_SGD_MOMENTUM
           : c == TGC_OP_ADAMW_UPDATE ? TGC_K_OPT_ADAMW
           : c == TGC_OP_ADAM_UPDATE ? TGC_K_OPT_ADAM
           : c == TGC_OP_RMSPROP_UPDATE ? TGC_K_OPT_RMSPROP
           : c == TGC_OP_EMA_UPDATE ? TGC_K_OPT_EMA
                                        : -1;
}

int tgc_cuda_native_class(tgc_opcode code) {
    switch (code) {
    case TGC_OP_SGD_UPDATE:
    case TGC_OP_SGD_MOMENTUM_UPDATE:
    case TGC_OP_ADAMW_UPDATE:
    case TGC_OP_ADAM_UPDATE:
    case TGC_OP_RMSPROP_UPDATE:
    case TGC_OP_EMA_UPDATE:
        return TGC_NATIVE_OPTIMIZER;
    case TGC_OP_CHANNEL_MUL:
    case TGC_OP_MAX_POOL2D_BWD:
    case TGC_OP_GLOBAL_AVG_POOL_BWD:
    case TGC_OP_FILL:
    case TGC_OP_CAST:
    case TGC_OP_ROI_ALIGN:
    case TGC_OP_ROI_ALIGN_BWD:
    case TGC_OP_TOPK:
    case TGC_OP_NMS_FIXED:
    case TGC_OP_SMOOTH_L1_BWD:
    case TGC_OP_BOX_IOU:
    case TGC_OP_BOX_ENCODE:
    case TGC_OP_BOX_DECODE:
    case TGC_OP_GATHER:
    case TGC_OP_GIOU_LOSS_BWD:
    case TGC_OP_RCNN_TARGETS:
        return TGC_NATIVE_EXACT;
    case TGC_OP_SOFTMAX_CE:
    case TGC_OP_SOFTMAX_CE_BWD:
    case TGC_OP_GLOBAL_AVG_POOL:
    case TGC_OP_BIAS_GRAD:
    case TGC_OP_CHANNEL_MUL_GRAD_GATE:
    case TGC_OP_SOFTMAX_CE_SOFT:
    case TGC_OP_SOFTMAX_CE_SOFT_BWD:
    case TGC_OP_SMOOTH_L1:
    case TGC_OP_GIOU_LOSS:
    case TGC_OP_SIGMOID_BCE:
    case TGC_OP_SIGMOID_BCE_BWD:
    case TGC_OP_GRAD_NORM_ACC:
    case TGC_OP_GRAD_CLIP_NORM: /* pow for a norm_type other than 1, 2, inf */
    case TGC_OP_LAMB_UPDATE:    /* its two norms are sums in another order */
        return TGC_NATIVE_REDUCE;
    case TGC_OP_GRAD_CLIP_VALUE:
        return TGC_NATIVE_EXACT;
    /* RetinaNet's dense ops: the copies, gathers and elementwise backwards equal the CPU bit for bit, the
     * summing ones within relative 1e-6 */
    case TGC_OP_UPSAMPLE_NEAREST:
    case TGC_OP_UPSAMPLE_NEAREST_BWD:
    case TGC_OP_TO_NHWC:
    case TGC_OP_TO_NCHW:
    case TGC_OP_RELAYOUT:
    case TGC_OP_CONCAT:
    case TGC_OP_CONCAT_BWD:
    case TGC_OP_SIGMOID_FOCAL_LOSS_BWD:
    case TGC_OP_L1_LOSS_POS_BWD:
        return TGC_NATIVE_EXACT;
    case TGC_OP_SIGMOID_FOCAL_LOSS:
    case TGC_OP_L1_LOSS_POS:
    case TGC_OP_BN_EVAL_BWD:
        return TGC_NATIVE_REDUCE;
    /* Faster R-CNN's ops: the anchors and the class-specific targets bit for bit; the masked cross-entropy's
     * row sums (lse) in the warp's order, its mean in the block's */
    case TGC_OP_ANCHOR_DECODE:
    case TGC_OP_CLASS_BOX_TARGETS:
    case TGC_OP_ACCURACY_MASKED:
        return TGC_NATIVE_EXACT;
    case TGC_OP_SOFTMAX_CE_MASKED:
    case TGC_OP_SOFTMAX_CE_MASKED_BWD:
        return TGC_NATIVE_REDUCE;
    default:
        return 0;
    }
}

/* ---- RetinaNet's dense ops ------------------------------------------------------------------------------ */
/* f32, bf16 or f16: what the kernels taking mixed-precision data read (tgc_k_ldf). */
static int is_float(const tgc_type *t) { return t->dtype == TGC_F32 || t->dtype == TGC_BF16 || t->dtype == TGC_F16; }

static int all_f32(const tgc_cpu_op *o) {
    for (int k = 0; k < o->n_in; k++)
        if (!is_f32(&o->in_t[k])) return 0;
    for (int k = 0; k < o->n_out; k++)
        if (!is_f32(&o->out_t[k])) return 0;
    return 1;
}

/* small [N,C,h,w] upsampled to big [N,C,H,W], sizes the kernels' 32-bit plane positions hold */
static int upsampling(const tgc_shape *small, const tgc_shape *big) {
    return small->rank == 4 && big->rank == 4 && small->d[0] == big->d[0] && small->d[1] == big->d[1] &&
           small->d[2] >= 1 && small->d[3] >= 1 && small->d[2] <= big->d[2] && small->d[3] <= big->d[3] &&
           big->d[2] * big->d[3] < INT32_MAX / 2;
}

/* whole = a ++ b along axis (every other dimension equal); its outer count and the parts' block lengths. */
static int cat_split(const tgc_shape *a, const tgc_shape *b, const tgc_shape *whole, int64_t axis, int64_t *outer,
                     int64_t *la, int64_t *lb) {
    if (axis < 0 || axis >= whole->rank || a->rank != whole->rank || b->rank != whole->rank ||
        a->d[axis] + b->d[axis] != whole->d[axis])
        return 0;
    int64_t inner = 1;
    *outer = 1;
    for (int i = 0; i < whole->rank; i++) {
        if (i != axis && (a->d[i] != whole->d[i] || b->d[i] != whole->d[i])) return 0;
        if (i < axis) *outer *= whole->d[i];
        if (i > axis) inner *= whole->d[i];
    }
    *la = a->d[axis] * inner, *lb = b->d[axis] * inner;
    return 1;
}

/* The anchor losses' operands: x [N,A,K] f32 at xi, cls [N,A] i32 at ci, avg_factor f32[1] at fi; the same
 * shape as x at ti (l1's targets, -1: none) and a scalar f32 dloss at operand 0 (the backwards). */
static int anchor_loss_ok(const tgc_cpu_op *o, int xi, int ti, int ci, int fi, int bwd) {
    const tgc_type *x = &o->in_t[xi], *c = &o->in_t[ci];
    if (o->n_out != 1 || !is_f32(x) || x->shape.rank != 3 || c->dtype != TGC_I32 || c->shape.rank != 2 ||
        c->shape.d[0] != x->shape.d[0] || c->shape.d[1] != x->shape.d[1] || !is_f32(&o->in_t[fi]) ||
        tgc_shape_numel(&o->in_t[fi].shape) != 1 || !is_f32(&o->out_t[0]))
        return 0;
    if (ti >= 0 && (!is_f32(&o->in_t[ti]) || !tgc_shape_eq(&o->in_t[ti].shape, &x->shape))) return 0;
    if (bwd) return is_f32(&o->in_t[0]) && tgc_shape_numel(&o->in_t[0].shape) == 1 && tgc_shape_eq(&o->out_t[0].shape, &x->shape);
    return tgc_shape_numel(&o->out_t[0].shape) == 1;
}

static int retina_supports(const tgc_cpu_op *o) {
    const tgc_shape *s0 = o->n_in ? &o->in_t[0].shape : NULL, *y0 = o->n_out ? &o->out_t[0].shape : NULL;
    int64_t outer, la, lb;
    switch (o->code) {
    case TGC_OP_UPSAMPLE_NEAREST:
        return o->n_in == 1 && o->n_out == 1 && all_f32(o) && upsampling(s0, y0);
    case TGC_OP_UPSAMPLE_NEAREST_BWD:
        return o->n_in == 1 && o->n_out == 1 && all_f32(o) && upsampling(y0, s0);
    case TGC_OP_TO_NHWC:
        return o->n_in == 1 && o->n_out == 1 && all_f32(o) && s0->rank == 4 && y0->rank == 4 && y0->d[0] == s0->d[0] &&
               y0->d[1] == s0->d[2] && y0->d[2] == s0->d[3] && y0->d[3] == s0->d[1];
    case TGC_OP_TO_NCHW:
        return o->n_in == 1 && o->n_out == 1 && all_f32(o) && s0->rank == 4 && y0->rank == 4 && y0->d[0] == s0->d[0] &&
               y0->d[1] == s0->d[3] && y0->d[2] == s0->d[1] && y0->d[3] == s0->d[2];
    case TGC_OP_CONCAT:
        return o->n_in == 2 && o->n_out == 1 && all_f32(o) &&
               cat_split(s0, &o->in_t[1].shape, y0, o->a->axis, &outer, &la, &lb);
    case TGC_OP_CONCAT_BWD:
        return o->n_in == 1 && o->n_out == 2 && all_f32(o) &&
               cat_split(y0, &o->out_t[1].shape, s0, o->a->axis, &outer, &la, &lb);
    case TGC_OP_SIGMOID_FOCAL_LOSS:
        return o->n_in == 3 && anchor_loss_ok(o, 0, -1, 1, 2, 0);
    case TGC_OP_SIGMOID_FOCAL_LOSS_BWD:
        return o->n_in == 4 && anchor_loss_ok(o, 1, -1, 2, 3, 1);
    case TGC_OP_L1_LOSS_POS:
        return o->n_in == 4 && anchor_loss_ok(o, 0, 1, 2, 3, 0);
    case TGC_OP_L1_LOSS_POS_BWD:
        return o->n_in == 5 && anchor_loss_ok(o, 1, 2, 3, 4, 1);
    case TGC_OP_BN_EVAL_BWD: {
        /* dy, x, dx f32, bf16 or f16 (one dtype); gamma, the statistics, dgamma and dbeta f32 */
        if (o->n_in != 5 || o->n_out != 3 || !is_float(&o->in_t[0]) || o->in_t[1].dtype != o->in_t[0].dtype ||
            o->out_t[0].dtype != o->in_t[0].dtype || !is_f32(&o->in_t[2]) || !is_f32(&o->in_t[3]) ||
            !is_f32(&o->in_t[4]) || !is_f32(&o->out_t[1]) || !is_f32(&o->out_t[2]))
            return 0;
        const tgc_shape *x = &o->in_t[1].shape;
        if (x->rank < 2 || !tgc_shape_eq(s0, x) || !tgc_shape_eq(y0, x)) return 0;
        for (int k = 2; k < 5; k++)
            if (tgc_shape_numel(&o->in_t[k].shape) != x->d[1]) return 0;
        return tgc_shape_numel(&o->out_t[1].shape) == x->d[1] && tgc_shape_numel(&o->out_t[2].shape) == x->d[1];
    }
    default:
        return 0;
    }
}

/* ---- NHWC (channels_last) activations ------------------------------------------------------------------ */
static int is_nhwc(const tgc_type *t) { return t->shape.rank == 4 && t->layout == TGC_LAYOUT_NHWC; }

/* The layout the kernels see: 1 when o's rank-4 activations are NHWC, 0 when every operand and result is ROW,
 * -1 when the op has no NHWC kernel or its masked operands and results do not share one layout (ir/ops.c's
 * layout rules; the verifier refuses such plans, this refuses them again rather than compute in the wrong
 * layout). relayout is checked by its own rule. */
static int nhwc_of(const tgc_cpu_op *o) {
    int any = 0;
    for (int k = 0; k < o->n_in; k++) any |= o->in_t[k].layout != TGC_LAYOUT_ROW;
    for (int k = 0; k < o->n_out; k++) any |= o->out_t[k].layout != TGC_LAYOUT_ROW;
    if (!any) return 0;
    switch (o->code) {
    case TGC_OP_GLOBAL_AVG_POOL:
    case TGC_OP_GLOBAL_AVG_POOL_BWD:
    case TGC_OP_CHANNEL_MUL:
    case TGC_OP_CHANNEL_MUL_GRAD_GATE:
    case TGC_OP_BIAS_GRAD:
    case TGC_OP_MAX_POOL2D_BWD:
    case TGC_OP_BN_EVAL_BWD: break;
    default: return -1;
    }
    const tgc_type *t[TGC_MAX_IN + TGC_MAX_OUT];
    for (int k = 0; k < o->n_in + o->n_out; k++) t[k] = k < o->n_in ? &o->in_t[k] : &o->out_t[k - o->n_in];
    int at, first, nhwc;
    if (tgc_op_layout_fault(o->code, t, o->n_in, o->n_out, &at, &first, &nhwc) != TGC_LAYOUT_FAULT_NONE || !nhwc)
        return -1;
    return 1;
}

/* relayout(x) -> y: rank 4, one dtype (f32, bf16, f16), the other layout, the same logical shape. */
static int relayout_ok(const tgc_cpu_op *o) {
    if (o->n_in != 1 || o->n_out != 1) return 0;
    const tgc_type *x = &o->in_t[0], *y = &o->out_t[0];
    return x->shape.rank == 4 && tgc_shape_eq(&x->shape, &y->shape) && is_float(x) && y->dtype == x->dtype &&
           (unsigned)x->layout <= TGC_LAYOUT_NHWC && (unsigned)y->layout <= TGC_LAYOUT_NHWC && x->layout != y->layout;
}

int tgc_cuda_native_supports(const tgc_cpu_op *o) {
    if (o->code == TGC_OP_RELAYOUT) return relayout_ok(o);
    int nhwc = nhwc_of(o);
    if (nhwc < 0) return 0;
    if (nhwc && o->code == TGC_OP_BIAS_GRAD && (o->in_t[0].shape.rank != 4 || o->a->axis != 1)) return 0;
    switch (o->code) {
    case TGC_OP_SGD_UPDATE:
    case TGC_OP_SGD_MOMENTUM_UPDATE:
    case TGC_OP_ADAMW_UPDATE:
    case TGC_OP_ADAM_UPDATE:
    case TGC_OP_RMSPROP_UPDATE:
    case TGC_OP_EMA_UPDATE: {
        int kind = opt_kind(o->code), depth = tgc_k_opt_depth(kind);
        if (o->n_in != depth + tgc_k_opt_scalars(kind)) return 0;
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
    case TGC_OP_SOFTMAX_CE_MASKED:
    case TGC_OP_ACCURACY_MASKED:
        return o->n_in == 2 && o->n_out == 1 && is_f32(&o->in_t[0]) && o->in_t[0].shape.rank == 2 &&
               o->in_t[1].dtype == TGC_I32 && is_f32(&o->out_t[0]);
    case TGC_OP_SOFTMAX_CE_MASKED_BWD:
        return o->n_in == 3 && o->n_out == 1 && is_f32(&o->in_t[0]) && is_f32(&o->in_t[1]) &&
               o->in_t[1].shape.rank == 2 && o->in_t[2].dtype == TGC_I32 && is_f32(&o->out_t[0]);
    case TGC_OP_ANCHOR_DECODE:
        return o->n_in == 4 && o->n_out == 2 && o->in_t[0].dtype == TGC_I32 && o->in_t[0].shape.rank == 2 &&
               is_f32(&o->in_t[1]) && is_f32(&o->in_t[2]) && is_f32(&o->in_t[3]) && is_f32(&o->out_t[0]) &&
               is_f32(&o->out_t[1]) && o->a->shape.rank == 3 && o->a->shape.d[2] >= 1 && o->a->shape.d[2] <= 9;
    case TGC_OP_CLASS_BOX_TARGETS:
        return o->n_in == 2 && o->n_out == 3 && o->in_t[0].dtype == TGC_I32 && is_f32(&o->in_t[1]) &&
               o->in_t[1].shape.rank == 2 && is_f32(&o->out_t[0]) && is_f32(&o->out_t[1]) && is_f32(&o->out_t[2]);
    case TGC_OP_SOFTMAX_CE_SOFT:
        return o->n_in == 2 && o->n_out == 1 && is_f32(&o->in_t[0]) && o->in_t[0].shape.rank == 2 &&
               is_f32(&o->in_t[1]) && tgc_shape_eq(&o->in_t[0].shape, &o->in_t[1].shape) && is_f32(&o->out_t[0]);
    case TGC_OP_SOFTMAX_CE_SOFT_BWD:
        return o->n_in == 3 && o->n_out == 1 && is_f32(&o->in_t[0]) && is_f32(&o->in_t[1]) &&
               o->in_t[1].shape.rank == 2 && is_f32(&o->in_t[2]) && tgc_shape_eq(&o->in_t[1].shape, &o->in_t[2].shape) &&
               is_f32(&o->out_t[0]);
    case TGC_OP_CHANNEL_MUL:
        return o->n_in == 2 && o->n_out == 1 && is_f32(&o->in_t[0]) && is_f32(&o->in_t[1]) && is_f32(&o->out_t[0]) &&
               o->in_t[0].shape.rank >= 2 && o->in_t[1].shape.rank == 2 &&
               o->in_t[1].shape.d[0] == o->in_t[0].shape.d[0] && o->in_t[1].shape.d[1] == o->in_t[0].shape.d[1];
    case TGC_OP_CHANNEL_MUL_GRAD_GATE:
        return o->n_in == 2 && o->n_out == 1 && is_f32(&o->in_t[0]) && is_f32(&o->in_t[1]) && is_f32(&o->out_t[0]) &&
               o->in_t[1].shape.rank >= 2 && tgc_shape_eq(&o->in_t[0].shape, &o->in_t[1].shape) &&
               o->out_t[0].shape.rank == 2 && o->out_t[0].shape.d[0] == o->in_t[1].shape.d[0] &&
               o->out_t[0].shape.d[1] == o->in_t[1].shape.d[1];
    case TGC_OP_SIGMOID_BCE:
        return o->n_in == 2 && o->n_out == 1 && is_f32(&o->in_t[0]) && o->in_t[0].shape.rank == 2 && is_f32(&o->out_t[0]) &&
               ((o->in_t[1].dtype == TGC_I32 && o->in_t[1].shape.rank == 1 && o->in_t[1].shape.d[0] == o->in_t[0].shape.d[0]) ||
                (is_f32(&o->in_t[1]) && tgc_shape_eq(&o->in_t[0].shape, &o->in_t[1].shape)));
    case TGC_OP_SIGMOID_BCE_BWD:
        return o->n_in == 3 && o->n_out == 1 && is_f32(&o->in_t[0]) && is_f32(&o->in_t[1]) && o->in_t[1].shape.rank == 2 &&
               is_f32(&o->out_t[0]) && tgc_shape_eq(&o->in_t[1].shape, &o->out_t[0].shape) &&
               ((o->in_t[2].dtype == TGC_I32 && o->in_t[2].shape.rank == 1 && o->in_t[2].shape.d[0] == o->in_t[1].shape.d[0]) ||
                (is_f32(&o->in_t[2]) && tgc_shape_eq(&o->in_t[1].shape, &o->in_t[2].shape)));
    case TGC_OP_GRAD_NORM_ACC:
        return o->n_in == 2 && o->n_out == 1 && is_f32(&o->in_t[0]) && is_f32(&o->in_t[1]) &&
               tgc_shape_numel(&o->in_t[1].shape) == 1 && is_f32(&o->out_t[0]) && o->a->norm_type > 0;
    case TGC_OP_GRAD_CLIP_NORM:
    case TGC_OP_GRAD_CLIP_VALUE:
        return o->n_out == 1 && (o->n_in == (o->code == TGC_OP_GRAD_CLIP_NORM ? 2 : 1)) && is_f32(&o->in_t[0]) &&
               is_f32(&o->out_t[0]) && tgc_shape_eq(&o->in_t[0].shape, &o->out_t[0].shape) &&
               (o->n_in == 1 || (is_f32(&o->in_t[1]) && tgc_shape_numel(&o->in_t[1].shape) == 1));
    case TGC_OP_LAMB_UPDATE: {
        if (o->n_in != 7 || o->n_out != 0) return 0;
        for (int k = 0; k < 7; k++)
            if (!is_f32(&o->in_t[k]) || (k < 4 ? !tgc_shape_eq(&o->in_t[k].shape, &o->in_t[0].shape)
                                               : tgc_shape_numel(&o->in_t[k].shape) != 1))
                return 0;
        return o->a->max_norm > 0;
    }
    case TGC_OP_GLOBAL_AVG_POOL: /* f32, bf16 or f16 data (x and y of one dtype) */
        return o->n_in == 1 && o->n_out == 1 && is_float(&o->in_t[0]) && o->in_t[0].shape.rank >= 2 &&
               o->out_t[0].dtype == o->in_t[0].dtype;
    case TGC_OP_GLOBAL_AVG_POOL_BWD:
        return o->n_in == 1 && o->n_out == 1 && is_float(&o->in_t[0]) && o->out_t[0].dtype == o->in_t[0].dtype &&
               o->out_t[0].shape.rank >= 2;
    case TGC_OP_BIAS_GRAD: /* dy f32, bf16 or f16; db f32 */
        return o->n_in == 1 && o->n_out == 1 && is_float(&o->in_t[0]) && is_f32(&o->out_t[0]) && o->a->axis >= 0 &&
               o->a->axis < o->in_t[0].shape.rank;
    case TGC_OP_MAX_POOL2D_BWD: /* dy, x, dx of one dtype: f32, bf16 or f16; an image's positions 32-bit */
        return o->n_in == 2 && o->n_out == 1 && is_float(&o->in_t[0]) && o->in_t[1].dtype == o->in_t[0].dtype &&
               o->in_t[0].shape.rank == 4 && o->in_t[1].shape.rank == 4 && o->out_t[0].dtype == o->in_t[0].dtype &&
               o->in_t[1].shape.d[1] * o->in_t[1].shape.d[2] * o->in_t[1].shape.d[3] < INT32_MAX;
    case TGC_OP_FILL:
        return o->n_in == 0 && o->n_out == 1 && o->out_t[0].dtype == o->a->dtype;
    case TGC_OP_CAST: {
        if (o->n_in != 1 || o->n_out != 1) return 0;
        tgc_dtype f = o->in_t[0].dtype, t = o->out_t[0].dtype;
        return (f == TGC_F32 && (t == TGC_BF16 || t == TGC_F16)) || (t == TGC_F32 && (f == TGC_BF16 || f == TGC_F16));
    }
    case TGC_OP_ROI_ALIGN:
    case TGC_OP_ROI_ALIGN_BWD: {
        if (o->n_in != 2 || o->n_out != 1 || !is_f32(&o->in_t[0]) || !is_f32(&o->in_t[1]) || !is_f32(&o->out_t[0]))
            return 0;
        const tgc_shape *x = o->code == TGC_OP_ROI_ALIGN ? &o->in_t[0].shape : &o->out_t[0].shape;
        const tgc_shape *r = &o->in_t[1].shape;
        return x->rank == 4 && r->rank == 2 && r->d[1] == 5 && o->a->roi_level < 16 && o->a->num_levels <= 16 &&
               o->a->sampling_ratio <= 1024;
    }
    case TGC_OP_TOPK:
        return o->n_in == 1 && o->n_out == 2 && is_f32(&o->in_t[0]) && o->in_t[0].shape.rank >= 1 &&
               o->out_t[1].dtype == TGC_I32 && o->a->k >= 1 && o->a->k <= o->in_t[0].shape.d[o->in_t[0].shape.rank - 1];
    case TGC_OP_NMS_FIXED:
        return o->n_in == 3 && o->n_out == 2 && is_f32(&o->in_t[0]) && o->in_t[0].shape.rank == 3 &&
               o->in_t[0].shape.d[2] == 4 && is_f32(&o->in_t[1]) && o->in_t[2].dtype == TGC_I32 &&
               o->out_t[0].dtype == TGC_I32 && o->out_t[1].dtype == TGC_I32;
    case TGC_OP_SMOOTH_L1:
    case TGC_OP_SMOOTH_L1_BWD: {
        int f = o->code == TGC_OP_SMOOTH_L1_BWD;
        if (o->n_in != 4 + f || o->n_out != 1) return 0;
        for (int k = 0; k < o->n_in; k++)
            if (!is_f32(&o->in_t[k])) return 0;
        return is_f32(&o->out_t[0]) && tgc_shape_eq(&o->in_t[f].shape, &o->in_t[f + 1].shape) &&
               tgc_shape_eq(&o->in_t[f].shape, &o->in_t[f + 2].shape) && tgc_shape_numel(&o->in_t[f + 3].shape) == 1;
    }
    case TGC_OP_BOX_IOU:
        return o->n_in == 2 && o->n_out == 1 && is_f32(&o->in_t[0]) && is_f32(&o->in_t[1]) && is_f32(&o->out_t[0]) &&
               o->in_t[0].shape.rank == 3 && o->in_t[1].shape.rank == 3 && o->in_t[0].shape.d[2] == 4 &&
               o->in_t[1].shape.d[2] == 4 && o->in_t[0].shape.d[0] == o->in_t[1].shape.d[0];
    case TGC_OP_BOX_ENCODE:
        return o->n_in == 2 && o->n_out == 1 && is_f32(&o->in_t[0]) && is_f32(&o->in_t[1]) && is_f32(&o->out_t[0]) &&
               o->in_t[0].shape.rank >= 1 && o->in_t[0].shape.d[o->in_t[0].shape.rank - 1] == 4 &&
               tgc_shape_eq(&o->in_t[0].shape, &o->in_t[1].shape);
    case TGC_OP_BOX_DECODE:
        return o->n_in == 3 && o->n_out == 1 && is_f32(&o->in_t[0]) && is_f32(&o->in_t[1]) && is_f32(&o->in_t[2]) &&
               is_f32(&o->out_t[0]) && o->in_t[0].shape.rank == 3 && o->in_t[0].shape.d[2] == 4 &&
               tgc_shape_eq(&o->in_t[0].shape, &o->in_t[1].shape) && o->in_t[2].shape.rank == 2 &&
               o->in_t[2].shape.d[0] == o->in_t[0].shape.d[0] && o->in_t[2].shape.d[1] == 2;
    case TGC_OP_GATHER:
        return o->n_in == 2 && o->n_out == 1 && (is_f32(&o->in_t[0]) || o->in_t[0].dtype == TGC_I32) &&
               o->out_t[0].dtype == o->in_t[0].dtype && o->in_t[1].dtype == TGC_I32 && o->in_t[0].shape.rank >= 2 &&
               o->in_t[1].shape.rank == 2 && o->in_t[1].shape.d[0] == o->in_t[0].shape.d[0];
    case TGC_OP_RCNN_TARGETS: {
        const tgc_type *t = o->in_t;
        return o->n_in == 5 && o->n_out == 3 && is_f32(&t[0]) && t[0].shape.rank == 3 && t[0].shape.d[2] == 4 &&
               t[1].dtype == TGC_I32 && is_f32(&t[2]) && t[2].shape.rank == 3 && t[3].dtype == TGC_I32 &&
               t[4].dtype == TGC_I32 && is_f32(&o->out_t[0]) && o->out_t[1].dtype == TGC_I32 && is_f32(&o->out_t[2]);
    }
    case TGC_OP_GIOU_LOSS:
    case TGC_OP_GIOU_LOSS_BWD: {
        int f = o->code == TGC_OP_GIOU_LOSS_BWD;
        if (o->n_in != 4 + f || o->n_out != 1 || !is_f32(&o->out_t[0])) return 0;
        for (int k = 0; k < o->n_in; k++)
            if (!is_f32(&o->in_t[k])) return 0;
        const tgc_shape *p = &o->in_t[f].shape;
        return p->rank >= 1 && p->d[p->rank - 1] == 4 && tgc_shape_eq(p, &o->in_t[f + 1].shape) &&
               tgc_shape_numel(&o->in_t[f + 2].shape) * 4 == tgc_shape_numel(p) && tgc_shape_numel(&o->in_t[f + 3].shape) == 1;
    }
    default:
        return retina_supports(o);
    }
}

uint64_t tgc_cuda_native_workspace(const tgc_cpu_op *o) {
    if (!tgc_cuda_native_supports(o)) return 0;
    if (o->code == TGC_OP_SOFTMAX_CE || o->code == TGC_OP_SOFTMAX_CE_SOFT || o->code == TGC_OP_SIGMOID_BCE ||
        o->code == TGC_OP_SOFTMAX_CE_MASKED)
        return (uint64_t)o->in_t[0].shape.d[0] * sizeof(double); /* one loss per row */
    if (o->code == TGC_OP_SIGMOID_FOCAL_LOSS || o->code == TGC_OP_L1_LOSS_POS) /* one loss per anchor row */
        return (uint64_t)(o->in_t[0].shape.d[0] * o->in_t[0].shape.d[1]) * sizeof(double);
    if (o->code == TGC_OP_RCNN_TARGETS) /* per image: each gt's best IoU, each candidate's class, gt and key */
        return (uint64_t)tgc_k_rcnn_ws_words(o->in_t[0].shape.d[0], o->in_t[0].shape.d[1], o->in_t[2].shape.d[1]) *
               sizeof(uint32_t);
    if (o->code == TGC_OP_GRAD_NORM_ACC || o->code == TGC_OP_LAMB_UPDATE) /* one or two sums per block */
        return (uint64_t)tgc_k_norm_blocks(tgc_shape_numel(&o->in_t[0].shape)) * sizeof(double) *
               (o->code == TGC_OP_LAMB_UPDATE ? 2 : 1);
    return 0;
}

#define LAUNCH(kname, geom, a)                                                                                   \
    do {                                                                                                        \
        tgc_native_launch l_ = {(kname), (geom), &(a), sizeof(a)};                                                 \
        if (fn(&l_, ctx)) return tgc_fail(err, "native %s: launching %s failed", tgc_op_table[o->code].name, l_.kernel); \
    } while (0)

/* RetinaNet's dense ops (retina.cuh; kargs.h says each kernel's geometry). */
static int marshal_retina(const tgc_cpu_op *o, void *ws, unsigned mb, tgc_native_launch_fn fn, void *ctx, tgc_err *err) {
    const tgc_attrs *at = o->a;
    switch (o->code) {
    case TGC_OP_UPSAMPLE_NEAREST:
    case TGC_OP_UPSAMPLE_NEAREST_BWD: {
        int bwd = o->code == TGC_OP_UPSAMPLE_NEAREST_BWD;
        const tgc_shape *sm = bwd ? &o->out_t[0].shape : &o->in_t[0].shape, *bg = bwd ? &o->in_t[0].shape : &o->out_t[0].shape;
        tgc_k_up_args a = {o->in[0], o->out[0], sm->d[0] * sm->d[1], (int32_t)sm->d[2], (int32_t)sm->d[3],
                           (int32_t)bg->d[2], (int32_t)bg->d[3]};
        tgc_k_geom g = tgc_k_geom_planes(a.planes, bwd ? (int64_t)a.h * a.w : (int64_t)a.H * a.W, mb);
        LAUNCH(bwd ? "tgc_k_upsample_nearest_bwd" : "tgc_k_upsample_nearest", g, a);
        return 0;
    }
    case TGC_OP_TO_NHWC:
    case TGC_OP_TO_NCHW: {
        const tgc_shape *x = &o->in_t[0].shape;
        int nhwc = o->code == TGC_OP_TO_NHWC;
        tgc_k_tr_args a = {o->in[0], o->out[0], x->d[0], nhwc ? x->d[1] : x->d[1] * x->d[2],
                           nhwc ? x->d[2] * x->d[3] : x->d[3]};
        LAUNCH("tgc_k_transpose", tgc_k_geom_transpose(a.n, a.a, a.b, mb), a);
        return 0;
    }
    case TGC_OP_CONCAT:
    case TGC_OP_CONCAT_BWD: {
        int bwd = o->code == TGC_OP_CONCAT_BWD;
        tgc_k_cat_args a = {0};
        if (bwd) {
            cat_split(&o->out_t[0].shape, &o->out_t[1].shape, &o->in_t[0].shape, at->axis, &a.outer, &a.la, &a.lb);
            a.dy = o->in[0], a.da = o->out[0], a.db = o->out[1];
        } else {
            cat_split(&o->in_t[0].shape, &o->in_t[1].shape, &o->out_t[0].shape, at->axis, &a.outer, &a.la, &a.lb);
            a.a = o->in[0], a.b = o->in[1], a.y = o->out[0];
        }
        LAUNCH(bwd ? "tgc_k_concat_bwd" : "tgc_k_concat", tgc_k_geom_planes(a.outer, a.la + a.lb, mb), a);
        return 0;
    }
    case TGC_OP_SIGMOID_FOCAL_LOSS:
    case TGC_OP_L1_LOSS_POS: {
        int l1 = o->code == TGC_OP_L1_LOSS_POS;
        if (!ws) return tgc_fail(err, "native %s: no row-loss workspace", tgc_op_table[o->code].name);
        const tgc_shape *x = &o->in_t[0].shape;
        tgc_k_anchor_loss_args a = {o->in[0], l1 ? o->in[1] : NULL, o->in[l1 ? 2 : 1], o->in[l1 ? 3 : 2], NULL, ws,
                                    o->out[0], NULL, x->d[0] * x->d[1], x->d[2], l1 ? at->num_classes : x->d[2],
                                    at->alpha, at->gamma, at->focal_alpha};
        LAUNCH(l1 ? "tgc_k_l1_rows" : "tgc_k_focal_rows", tgc_k_geom_elems(a.rows, mb), a);
        LAUNCH("tgc_k_anchor_loss_sum", tgc_k_geom_one_block(), a);
        return 0;
    }
    case TGC_OP_SIGMOID_FOCAL_LOSS_BWD:
    case TGC_OP_L1_LOSS_POS_BWD: {
        int l1 = o->code == TGC_OP_L1_LOSS_POS_BWD;
        const tgc_shape *x = &o->in_t[1].shape;
        tgc_k_anchor_loss_args a = {o->in[1], l1 ? o->in[2] : NULL, o->in[l1 ? 3 : 2], o->in[l1 ? 4 : 3], o->in[0],
                                    NULL, NULL, o->out[0], x->d[0] * x->d[1], x->d[2], l1 ? at->num_classes : x->d[2],
                                    at->alpha, at->gamma, at->focal_alpha};
        LAUNCH(l1 ? "tgc_k_l1_bwd" : "tgc_k_focal_bwd", tgc_k_geom_elems(a.rows * a.k, mb), a);
        return 0;
    }
    case TGC_OP_BN_EVAL_BWD: { /* (dy, x, gamma, running_mean, running_var) -> (dx, dgamma, dbeta) */
        const tgc_shape *x = &o->in_t[1].shape;
        int64_t s = 1;
        for (int d = 2; d < x->rank; d++) s *= x->d[d];
        int64_t n = x->d[0];
        if (is_nhwc(&o->in_t[1])) n *= s, s = 1; /* [N, H, W, C] is [N*H*W, C, 1] */
        tgc_k_bn_eval_bwd_args a = {o->in[0], o->in[1], o->in[2], o->in[3], o->in[4], o->out[0], o->out[1], o->out[2],
                                    n, x->d[1], s, at->eps, (int32_t)o->in_t[0].dtype};
        LAUNCH("tgc_k_bn_eval_bwd", tgc_k_geom_bias_grad(0, a.n * a.s > 0 ? a.c : 0, mb), a);
        return 0;
    }
    default:
        return tgc_fail(err, "native kernels: no kernel for %s", tgc_op_table[o->code].name);
    }
}

static int marshal_one(const tgc_cpu_op *o, void *ws, unsigned mb, tgc_native_launch_fn fn, void *ctx, tgc_err *err) {
    const tgc_attrs *at = o->a;
    switch (o->code) {
    case TGC_OP_SOFTMAX_CE: {
        if (!ws) return tgc_fail(err, "native softmax_cross_entropy: no row-loss workspace");
        tgc_k_ce_args a = {o->in[0], o->in[1], ws, o->out[0], NULL, NULL, o->in_t[0].shape.d[0],
                           o->in_t[0].shape.d[1], at->label_smooth, at->alpha, NULL};
        tgc_k_geom g = tgc_k_geom_warp_rows(a.n, mb);
        LAUNCH("tgc_k_softmax_ce_rows", g, a);
        if (g.gx) LAUNCH("tgc_k_softmax_ce_mean", tgc_k_geom_one_block(), a);
        return 0;
    }
    case TGC_OP_SOFTMAX_CE_BWD: {
        tgc_k_ce_args a = {o->in[1], o->in[2], NULL, NULL, o->in[0], o->out[0], o->in_t[1].shape.d[0],
                           o->in_t[1].shape.d[1], at->label_smooth, at->alpha, NULL};
        LAUNCH("tgc_k_softmax_ce_bwd", tgc_k_geom_warp_rows(a.n, mb), a);
        return 0;
    }
    case TGC_OP_SOFTMAX_CE_MASKED: {
        if (!ws) return tgc_fail(err, "native softmax_cross_entropy_masked: no row-loss workspace");
        tgc_k_ce_args a = {o->in[0], o->in[1], ws, o->out[0], NULL, NULL, o->in_t[0].shape.d[0],
                           o->in_t[0].shape.d[1], 0, at->alpha, NULL};
        tgc_k_geom g = tgc_k_geom_warp_rows(a.n, mb);
        LAUNCH("tgc_k_softmax_ce_masked_rows", g, a);
        LAUNCH("tgc_k_softmax_ce_masked_mean", tgc_k_geom_one_block(), a);
        return 0;
    }
    case TGC_OP_SOFTMAX_CE_MASKED_BWD: {
        tgc_k_ce_args a = {o->in[1], o->in[2], NULL, NULL, o->in[0], o->out[0], o->in_t[1].shape.d[0],
                           o->in_t[1].shape.d[1], 0, at->alpha, NULL};
        LAUNCH("tgc_k_softmax_ce_masked_bwd", tgc_k_geom_warp_rows(a.n, mb), a);
        return 0;
    }
    case TGC_OP_ACCURACY_MASKED: {
        tgc_k_ce_args a = {o->in[0], o->in[1], NULL, o->out[0], NULL, NULL, o->in_t[0].shape.d[0],
                           o->in_t[0].shape.d[1], 0, 1, NULL};
        LAUNCH("tgc_k_accuracy_masked", tgc_k_geom_one_block(), a);
        return 0;
    }
    case TGC_OP_ANCHOR_DECODE: {
        const tgc_shape *gs = &at->shape;
        tgc_k_anchor_args a;
        memset(&a, 0, sizeof a);
        a.idx = o->in[0], a.deltas = o->in[1], a.scores = o->in[2], a.img_shape = o->in[3];
        a.boxes = o->out[0], a.out_scores = o->out[1];
        a.count = tgc_shape_numel(&o->in_t[0].shape), a.per_image = o->in_t[0].shape.d[1];
        a.grid_w = gs->d[1], a.n_base = gs->d[2], a.n_anchors = gs->d[0] * gs->d[1] * gs->d[2];
        a.stride_h = (float)at->stride[0], a.stride_w = (float)at->stride[1], a.min_size = (float)at->min_bbox_size;
        a.max_ratio = (float)fabs(log(at->wh_ratio_clip));
        for (int k = 0; k < 4; k++) a.means[k] = (float)at->target_means[k], a.stds[k] = (float)at->target_stds[k];
        for (int k = 0; k < 4 * gs->d[2]; k++) a.base[k] = (float)at->base_anchors[k];
        a.clip = at->clip_border;
        LAUNCH("tgc_k_anchor_decode", tgc_k_geom_elems(a.count, mb), a);
        return 0;
    }
    case TGC_OP_CLASS_BOX_TARGETS: {
        tgc_k_cbt_args a = {o->in[0], o->in[1], o->out[0], o->out[1], o->out[2], o->in_t[1].shape.d[0],
                            o->in_t[1].shape.d[1], at->num_classes};
        LAUNCH("tgc_k_class_box_targets", tgc_k_geom_elems(TGC_MAX(a.n * a.classes * a.d, (int64_t)1), mb), a);
        return 0;
    }
    case TGC_OP_SOFTMAX_CE_SOFT: {
        if (!ws) return tgc_fail(err, "native softmax_cross_entropy_soft: no row-loss workspace");
        tgc_k_ce_args a = {o->in[0], NULL, ws, o->out[0], NULL, NULL, o->in_t[0].shape.d[0], o->in_t[0].shape.d[1],
                           at->label_smooth, at->alpha, o->in[1]};
        tgc_k_geom g = tgc_k_geom_warp_rows(a.n, mb);
        LAUNCH("tgc_k_softmax_ce_soft_rows", g, a);
        if (g.gx) LAUNCH("tgc_k_softmax_ce_mean", tgc_k_geom_one_block(), a);
        return 0;
    }
    case TGC_OP_SOFTMAX_CE_SOFT_BWD: {
        tgc_k_ce_args a = {o->in[1], NULL, NULL, NULL, o->in[0], o->out[0], o->in_t[1].shape.d[0],
                           o->in_t[1].shape.d[1], at->label_smooth, at->alpha, o->in[2]};
        LAUNCH("tgc_k_softmax_ce_soft_bwd", tgc_k_geom_warp_rows(a.n, mb), a);
        return 0;
    }
    case TGC_OP_SIGMOID_BCE: {
        if (!ws) return tgc_fail(err, "native sigmoid_bce: no row-loss workspace");
        int soft = o->in_t[1].dtype == TGC_F32;
        tgc_k_ce_args a = {o->in[0], soft ? NULL : o->in[1], ws, o->out[0], NULL, NULL, o->in_t[0].shape.d[0],
                           o->in_t[0].shape.d[1], at->label_smooth, at->alpha, soft ? o->in[1] : NULL};
        tgc_k_geom g = tgc_k_geom_warp_rows(a.n, mb);
        LAUNCH("tgc_k_sigmoid_bce_rows", g, a);
        if (g.gx) LAUNCH("tgc_k_sigmoid_bce_mean", tgc_k_geom_one_block(), a);
        return 0;
    }
    case TGC_OP_SIGMOID_BCE_BWD: {
        int soft = o->in_t[2].dtype == TGC_F32;
        tgc_k_ce_args a = {o->in[1], soft ? NULL : o->in[2], NULL, NULL, o->in[0], o->out[0], o->in_t[1].shape.d[0],
                           o->in_t[1].shape.d[1], at->label_smooth, at->alpha, soft ? o->in[2] : NULL};
        LAUNCH("tgc_k_sigmoid_bce_bwd", tgc_k_geom_warp_rows(a.n, mb), a);
        return 0;
    }
    case TGC_OP_GRAD_NORM_ACC: {
        if (!ws) return tgc_fail(err, "native grad_norm_acc: no workspace");
        int64_t n = tgc_shape_numel(&o->in_t[0].shape);
        tgc_k_norm_args a = {o->in[0], NULL, o->in[1], o->out[0], ws, n, at->norm_type, at->max_norm, tgc_k_norm_blocks(n)};
        LAUNCH("tgc_k_grad_norm_part", tgc_k_geom_blocks(a.blocks), a);
        LAUNCH("tgc_k_grad_norm_finish", tgc_k_geom_one_block(), a);
        return 0;
    }
    case TGC_OP_GRAD_CLIP_NORM:
    case TGC_OP_GRAD_CLIP_VALUE: {
        int64_t n = tgc_shape_numel(&o->in_t[0].shape);
        int by_value = o->code == TGC_OP_GRAD_CLIP_VALUE;
        tgc_k_norm_args a = {o->in[0], o->out[0], by_value ? NULL : o->in[1], NULL, NULL, n, at->norm_type, at->max_norm, 0};
        LAUNCH(by_value ? "tgc_k_grad_clip_value" : "tgc_k_grad_clip_norm", tgc_k_geom_elems(n, mb), a);
        return 0;
    }
    case TGC_OP_LAMB_UPDATE: {
        if (!ws) return tgc_fail(err, "native lamb_update: no workspace");
        int64_t n = tgc_shape_numel(&o->in_t[0].shape);
        tgc_k_lamb_args a = {o->in[0], o->in[2], o->in[3], o->in[1], o->in[4], o->in[5], o->in[6], ws, n,
                             at->alpha, at->weight_decay, at->beta1, at->beta2, at->eps, at->max_norm,
                             (int32_t)at->always_adapt, (int32_t)at->trust_clip, tgc_k_norm_blocks(n)};
        LAUNCH("tgc_k_lamb_moments", tgc_k_geom_blocks(a.blocks), a);
        LAUNCH("tgc_k_lamb_apply", tgc_k_geom_elems(n, mb), a);
        return 0;
    }
    case TGC_OP_CHANNEL_MUL:
    case TGC_OP_CHANNEL_MUL_GRAD_GATE: {
        int gate = o->code == TGC_OP_CHANNEL_MUL_GRAD_GATE;
        const tgc_type *t = gate ? &o->in_t[1] : &o->in_t[0];
        const tgc_shape *s = &t->shape;
        int64_t planes = s->d[0] * s->d[1], inner = 1;
        for (int i = 2; i < s->rank; i++) inner *= s->d[i];
        tgc_k_chmul_args a = {o->in[0], o->in[1], o->out[0], planes, inner, is_nhwc(t) ? s->d[1] : 0};
        if (gate && a.ch) LAUNCH("tgc_k_channel_mul_grad_gate_nhwc", tgc_k_geom_elems(planes, mb), a);
        else if (gate) LAUNCH("tgc_k_channel_mul_grad_gate", tgc_k_geom_warp_rows(planes, mb), a);
        else LAUNCH("tgc_k_channel_mul", tgc_k_geom_elems(planes * inner, mb), a);
        return 0;
    }
    case TGC_OP_GLOBAL_AVG_POOL:
    case TGC_OP_GLOBAL_AVG_POOL_BWD: {
        int bwd = o->code == TGC_OP_GLOBAL_AVG_POOL_BWD;
        const tgc_type *t = bwd ? &o->out_t[0] : &o->in_t[0];
        const tgc_shape *s = &t->shape;
        int64_t planes = s->d[0] * s->d[1], inner = 1;
        for (int i = 2; i < s->rank; i++) inner *= s->d[i];
        tgc_k_gap_args a = {o->in[0], o->out[0], planes, inner, (int32_t)o->in_t[0].dtype, is_nhwc(t) ? s->d[1] : 0};
        if (bwd) LAUNCH("tgc_k_global_avg_pool_bwd", tgc_k_geom_elems(planes * inner, mb), a);
        else if (a.ch) LAUNCH("tgc_k_global_avg_pool_nhwc", tgc_k_geom_elems(planes, mb), a);
        else LAUNCH("tgc_k_global_avg_pool", tgc_k_geom_warp_rows(planes, mb), a);
        return 0;
    }
    case TGC_OP_RELAYOUT: { /* [N, C, HW] <-> [N, HW, C] per image */
        const tgc_shape *x = &o->in_t[0].shape;
        int to_nhwc = o->out_t[0].layout == TGC_LAYOUT_NHWC;
        int64_t c = x->d[1], hw = x->d[2] * x->d[3], ta = to_nhwc ? c : hw, tb = to_nhwc ? hw : c;
        tgc_k_geom g = tgc_k_geom_transpose(x->d[0], ta, tb, mb);
        if (o->in_t[0].dtype == TGC_F32) {
            tgc_k_tr_args a = {o->in[0], o->out[0], x->d[0], ta, tb};
            LAUNCH("tgc_k_transpose", g, a);
        } else {
            tgc_k_tr16_args a = {o->in[0], o->out[0], x->d[0], ta, tb};
            LAUNCH("tgc_k_transpose16", g, a);
        }
        return 0;
    }
    case TGC_OP_BIAS_GRAD: {
        const tgc_shape *s = &o->in_t[0].shape;
        int64_t axis = at->axis, outer = 1, inner = 1, ch = s->d[axis];
        for (int i = 0; i < axis; i++) outer *= s->d[i];
        for (int i = (int)axis + 1; i < s->rank; i++) inner *= s->d[i];
        if (is_nhwc(&o->in_t[0])) outer *= inner, inner = 1; /* [N, H, W, C] is [N*H*W, C, 1] */
        tgc_k_bias_grad_args a = {o->in[0], o->out[0], outer, ch, inner, (int32_t)o->in_t[0].dtype};
        int cols = tgc_k_bias_grad_cols_wanted(inner);
        LAUNCH(cols ? "tgc_k_bias_grad_cols" : "tgc_k_bias_grad_planes", tgc_k_geom_bias_grad(cols, ch, mb), a);
        return 0;
    }
    case TGC_OP_MAX_POOL2D_BWD: {
        const tgc_shape *dy = &o->in_t[0].shape, *x = &o->in_t[1].shape;
        const int nhwc = is_nhwc(&o->in_t[1]);
        tgc_k_maxpool_bwd_args a = {o->in[0],
                                    o->in[1],
                                    o->out[0],
                                    nhwc ? x->d[0] : x->d[0] * x->d[1],
                                    (int32_t)x->d[2],
                                    (int32_t)x->d[3],
                                    (int32_t)dy->d[2],
                                    (int32_t)dy->d[3],
                                    (int32_t)at->kernel[0],
                                    (int32_t)at->kernel[1],
                                    (int32_t)at->stride[0],
                                    (int32_t)at->stride[1],
                                    (int32_t)at->pad[0],
                                    (int32_t)at->pad[1],
                                    (int32_t)o->in_t[0].dtype,
                                    nhwc ? (int32_t)x->d[1] : 0};
        LAUNCH("tgc_k_max_pool2d_bwd", tgc_k_geom_planes(a.planes, (int64_t)a.h * a.w * (nhwc ? a.ch : 1), mb), a);
        return 0;
    }
    case TGC_OP_FILL: {
        tgc_k_fill_args a = {o->out[0], tgc_shape_numel(&o->out_t[0].shape), at->alpha, (int32_t)o->out_t[0].dtype};
        LAUNCH("tgc_k_fill", tgc_k_geom_elems(a.n, mb), a);
        return 0;
    }
    case TGC_OP_CAST: {
        tgc_k_cast_args a = {o->in[0], o->out[0], tgc_shape_numel(&o->in_t[0].shape)};
        tgc_dtype f = o->in_t[0].dtype, t = o->out_t[0].dtype;
        const char *k = f == TGC_F32 && t == TGC_BF16 ? "tgc_k_cast_f32_bf16"
                        : f == TGC_BF16                ? "tgc_k_cast_bf16_f32"
                        : f == TGC_F32                 ? "tgc_k_cast_f32_f16"
                                                       : "tgc_k_cast_f16_f32";
        LAUNCH(k, tgc_k_geom_elems(a.n, mb), a);
        return 0;
    }
    case TGC_OP_ROI_ALIGN:
    case TGC_OP_ROI_ALIGN_BWD: {
        int bwd = o->code == TGC_OP_ROI_ALIGN_BWD;
        const tgc_shape *x = bwd ? &o->out_t[0].shape : &o->in_t[0].shape;
        tgc_k_roi_args a = {bwd ? NULL : o->in[0], o->in[1], bwd ? o->in[0] : NULL, o->out[0], x->d[0], x->d[1], x->d[2],
                            x->d[3], o->in_t[1].shape.d[0], at->output_size[0], at->output_size[1],
                            (float)at->spatial_scale, (float)at->finest_scale, (int32_t)at->sampling_ratio,
                            (int32_t)at->aligned, (int32_t)at->roi_level, (int32_t)at->num_levels};
        if (bwd) LAUNCH("tgc_k_roi_align_bwd", tgc_k_geom_roi_bwd(a.n * a.c, a.h, a.w, mb), a);
        else LAUNCH("tgc_k_roi_align", tgc_k_geom_elems(a.k * a.c * a.oh * a.ow, mb), a);
        return 0;
    }
    case TGC_OP_TOPK: {
        const tgc_shape *s = &o->in_t[0].shape;
        int64_t n = s->d[s->rank - 1];
        tgc_k_topk_args a = {o->in[0], o->out[0], o->out[1], tgc_shape_numel(s) / n, n, at->k};
        LAUNCH("tgc_k_topk", tgc_k_geom_row_blocks(a.rows, mb), a);
        return 0;
    }
    case TGC_OP_NMS_FIXED: {
        const tgc_shape *s = &o->in_t[0].shape;
        tgc_k_nms_args a = {o->in[0], o->in[1], o->in[2], o->out[0], o->out[1], s->d[0], s->d[1], at->k, at->iou_threshold};
        LAUNCH("tgc_k_nms", tgc_k_geom_row_blocks(a.b, mb), a);
        return 0;
    }
    case TGC_OP_SMOOTH_L1:
    case TGC_OP_SMOOTH_L1_BWD: {
        int f = o->code == TGC_OP_SMOOTH_L1_BWD;
        tgc_k_sl1_args a = {o->in[f], o->in[f + 1], o->in[f + 2], o->in[f + 3], f ? o->in[0] : NULL, f ? NULL : o->out[0],
                            f ? o->out[0] : NULL, tgc_shape_numel(&o->in_t[f].shape), at->beta, at->alpha};
        if (f) LAUNCH("tgc_k_smooth_l1_bwd", tgc_k_geom_elems(a.n, mb), a);
        else LAUNCH("tgc_k_smooth_l1", tgc_k_geom_one_block(), a);
        return 0;
    }
    case TGC_OP_BOX_IOU:
    case TGC_OP_BOX_ENCODE:
    case TGC_OP_BOX_DECODE: {
        const tgc_shape *s = &o->in_t[0].shape;
        tgc_k_box_args a;
        memset(&a, 0, sizeof a);
        a.a = o->in[0], a.b = o->in[1], a.y = o->out[0];
        a.boxes = tgc_shape_numel(s) / 4;
        a.per_image = s->rank == 3 ? s->d[1] : a.boxes;
        a.m = o->code == TGC_OP_BOX_IOU ? o->in_t[1].shape.d[1] : 0;
        for (int k = 0; k < 4; k++) a.means[k] = (float)at->target_means[k], a.stds[k] = (float)at->target_stds[k];
        a.max_ratio = (float)fabs(log(at->wh_ratio_clip));
        a.eps = (float)at->eps;
        a.clip = at->clip_border;
        if (o->code == TGC_OP_BOX_DECODE) a.max_shape = o->in[2];
        const char *k = o->code == TGC_OP_BOX_IOU ? "tgc_k_box_iou" : o->code == TGC_OP_BOX_ENCODE ? "tgc_k_box_encode" : "tgc_k_box_decode";
        LAUNCH(k, tgc_k_geom_elems(o->code == TGC_OP_BOX_IOU ? a.boxes * a.m : a.boxes, mb), a);
        return 0;
    }
    case TGC_OP_GATHER: {
        const tgc_shape *x = &o->in_t[0].shape;
        int64_t inner = 1;
        for (int d = 2; d < x->rank; d++) inner *= x->d[d];
        tgc_k_gather_args a = {o->in[0], o->in[1], o->out[0], x->d[0], x->d[1], o->in_t[1].shape.d[1], inner, 0, 0};
        if (o->in_t[0].dtype == TGC_F32) {
            float f = (float)at->alpha, nan = NAN;
            memcpy(&a.fill, &f, 4);
            memcpy(&a.bad, &nan, 4);
        } else {
            int32_t f = (int32_t)at->alpha, bad = INT32_MIN;
            memcpy(&a.fill, &f, 4);
            memcpy(&a.bad, &bad, 4);
        }
        LAUNCH("tgc_k_gather", tgc_k_geom_elems(a.b * a.m * a.inner, mb), a);
        return 0;
    }
    case TGC_OP_RCNN_TARGETS: {
        if (!ws) return tgc_fail(err, "native rcnn_targets: no workspace");
        const tgc_shape *p = &o->in_t[0].shape;
        tgc_k_rcnn_args a = {o->in[0], o->in[2], o->in[1], o->in[3], o->in[4], o->out[0], o->out[2], o->out[1], ws,
                             p->d[0], p->d[1], o->in_t[2].shape.d[1], at->k, (int64_t)((double)at->k * at->pos_fraction),
                             (float)at->pos_iou_thr, (float)at->neg_iou_thr, (float)at->min_pos_iou, {0}, {0},
                             (int32_t)at->num_classes, at->match_low_quality, at->add_gt_as_proposals};
        for (int q = 0; q < 4; q++) a.means[q] = (float)at->target_means[q], a.stds[q] = (float)at->target_stds[q];
        LAUNCH("tgc_k_rcnn_targets", tgc_k_geom_row_blocks(a.b, mb), a);
        return 0;
    }
    case TGC_OP_GIOU_LOSS:
    case TGC_OP_GIOU_LOSS_BWD: {
        int f = o->code == TGC_OP_GIOU_LOSS_BWD;
        tgc_k_giou_args a = {o->in[f], o->in[f + 1], o->in[f + 2], o->in[f + 3], f ? o->in[0] : NULL, f ? NULL : o->out[0],
                             f ? o->out[0] : NULL, tgc_shape_numel(&o->in_t[f].shape) / 4, at->alpha, (float)at->eps};
        if (f) LAUNCH("tgc_k_giou_loss_bwd", tgc_k_geom_elems(a.boxes, mb), a);
        else LAUNCH("tgc_k_giou_loss", tgc_k_geom_one_block(), a);
        return 0;
    }
    default:
        return marshal_retina(o, ws, mb, fn, ctx, err);
    }
}
#undef LAUNCH

typedef struct opt_ctx {
    const char *kernel;
    tgc_native_launch_fn fn;
    void *ctx;
} opt_ctx;

static int opt_launch(const tgc_k_opt_args *a, void *ctx) {
    opt_ctx *c = ctx;
    tgc_native_launch l = {c->kernel, tgc_k_geom_mt(&a->l), a, sizeof *a};
    return c->fn(&l, c->ctx);
}

static const char *opt_kernel(int kind) {
    static const char *const names[] = {"tgc_k_sgd", "tgc_k_sgd_momentum", "tgc_k_adamw", "tgc_k_adam", "tgc_k_rmsprop",
                                        "tgc_k_ema"};
    return names[kind];
}

static int marshal_opt(const tgc_cpu_op *ops, int n, int32_t chunk, tgc_native_launch_fn fn, void *ctx, tgc_err *err) {
    int kind = opt_kind(ops[0].code), depth = tgc_k_opt_depth(kind), ns = tgc_k_opt_scalars(kind);
    const tgc_attrs *at = ops[0].a;
    tgc_mt_tensor *t = tgc_calloc((size_t)n, sizeof *t);
    for (int j = 0; j < n; j++) {
        int same = ops[j].code == ops[0].code && tgc_cuda_native_supports(&ops[j]);
        for (int q = 0; q < ns && same; q++) same = ops[j].in[depth + q] == ops[0].in[depth + q];
        if (!same) {
            free(t);
            return tgc_fail(err, "native optimizer group: instruction %d of %d differs in op or lr/step operands", j, n);
        }
        t[j].numel = tgc_shape_numel(&ops[j].in_t[0].shape);
        for (int d = 0; d < depth; d++) t[j].ptr[d] = ops[j].in[d];
    }
    tgc_k_opt_args *a = tgc_calloc(1, sizeof *a); /* ~3 KiB: off the callers' stacks (the shim's fibers' too) */
    a->lr = ns >= 1 ? ops[0].in[depth] : NULL;
    a->step = ns >= 2 ? ops[0].in[depth + 1] : NULL;
    a->alpha = at->alpha, a->weight_decay = at->weight_decay, a->momentum = at->momentum;
    a->dampening = at->dampening, a->beta1 = at->beta1, a->beta2 = at->beta2, a->eps = at->eps;
    a->nesterov = (int32_t)at->nesterov;
    opt_ctx c = {opt_kernel(kind), fn, ctx};
    int rc = tgc_mt_apply(a, depth, chunk, t, n, opt_launch, &c);
    free(a);
    free(t);
    if (rc) return tgc_fail(err, "native %s group: a list could not be packed or a launch failed", tgc_op_table[ops[0].code].name);
    return 0;
}

int tgc_cuda_native_marshal(const tgc_cpu_op *ops, int n, void *ws, unsigned max_blocks, int32_t chunk,
                            tgc_native_launch_fn fn, void *ctx, tgc_err *err) {
    if (n < 1) return 0;
    if (opt_kind(ops[0].code) >= 0) return marshal_opt(ops, n, chunk, fn, ctx, err);
    if (n != 1) return tgc_fail(err, "native kernels: a group of %d %s instructions", n, tgc_op_table[ops[0].code].name);
    if (!tgc_cuda_native_supports(ops))
        return tgc_fail(err, "native kernels: %s with these operands is not covered", tgc_op_table[ops[0].code].name);
    return marshal_one(ops, ws, max_blocks, fn, ctx, err);
}
