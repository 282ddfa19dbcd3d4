/* backend/cuda/cudnn_plan.c - cuDNN descriptors and operation graphs of a plan's convolutions, batch norms and
 * poolings, validated without a device (see cudnn_plan.h). */
#include "backend/cuda/cudnn_plan.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef cudnnBackendDescriptor_t bdesc;

tgc_cudnn_opts tgc_cudnn_opts_default(void) {
    tgc_cudnn_opts o = {TGC_CUDNN_NCHW, TGC_F32};
    return o;
}

tgc_cudnn_kind tgc_cudnn_kind_of(tgc_opcode code) {
    switch (code) {
    case TGC_OP_CONV2D: return TGC_CUDNN_CONV_FWD;
    case TGC_OP_CONV2D_BWD_DATA: return TGC_CUDNN_CONV_BWD_DATA;
    case TGC_OP_CONV2D_BWD_FILTER: return TGC_CUDNN_CONV_BWD_FILTER;
    case TGC_OP_BN_TRAIN:
    case TGC_OP_BN_TRAIN_RELU:
    case TGC_OP_BN_EVAL: return TGC_CUDNN_BN_FWD;
    case TGC_OP_BN_BWD:
    case TGC_OP_BN_RELU_BWD: return TGC_CUDNN_BN_BWD;
    case TGC_OP_MAX_POOL2D:
    case TGC_OP_AVG_POOL2D: return TGC_CUDNN_POOL_FWD;
    case TGC_OP_MAX_POOL2D_BWD:
    case TGC_OP_AVG_POOL2D_BWD: return TGC_CUDNN_POOL_BWD;
    default: return TGC_CUDNN_NONE;
    }
}

const char *tgc_cudnn_kind_name(tgc_cudnn_kind k) {
    static const char *names[TGC_CUDNN_KIND_COUNT] = {"none",    "conv fwd", "conv bwd-data", "conv bwd-filter",
                                                      "BN fwd",  "BN bwd",   "pool fwd",      "pool bwd"};
    return (unsigned)k < TGC_CUDNN_KIND_COUNT ? names[k] : "?";
}

/* ---- the builder of one instruction: context for messages, checked calls ------------------------------ */

typedef struct bld {
    const tgc_plan *p;
    const tgc_program *pr;
    int k;
    const tgc_instr *in;
    const tgc_cudnn_opts *o;
    tgc_cudnn_op *op;
    tgc_err *err;
    int64_t next_local;    /* next virtual / by-value UID */
    cudnnDataType_t io, comp;
    tgc_dtype data;        /* the instruction's own data dtype (its first operand's): f32, bf16 or f16 */
    tgc_cudnn_layout act;  /* of its activations: NHWC when opts say so or the plan's activations are NHWC */
} bld;

/* "train instruction 12 (conv2d, backbone.layer1.0.conv1): " + the message. */
static int bfail(bld *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bfail(bld *b, const char *fmt, ...) {
    char msg[TGC_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *scope = b->in->scope;
    return tgc_fail(b->err, "cuDNN: %s instruction %d (%s%s%s): %s", b->pr->name ? b->pr->name : "?", b->k,
                    tgc_op_table[b->in->code].name, scope ? ", " : "", scope ? scope : "", msg);
}

/* cuDNN's own reason for the last failure, first line only (the string can hold a list of warnings). */
static void last_reason(char *buf, size_t n) {
    buf[0] = 0;
    cudnnGetLastErrorString(buf, n);
    buf[n - 1] = 0;
    char *nl = strchr(buf, '\n');
    if (nl) *nl = 0;
}

static int cfail(bld *b, const char *call, cudnnStatus_t s) {
    char why[512];
    last_reason(why, sizeof why);
    return bfail(b, "%s failed: %s (%d)%s%s", call, cudnnGetErrorString(s), (int)s, why[0] ? ": " : "", why);
}

#define CK(b, call, what)                                                                                          \
    do {                                                                                                           \
        cudnnStatus_t s_ = (call);                                                                                 \
        if (s_ != CUDNN_STATUS_SUCCESS) return cfail((b), (what), s_);                                             \
    } while (0)

static cudnnDataType_t data_type(tgc_dtype t) {
    switch (t) {
    case TGC_F16: return CUDNN_DATA_HALF;
    case TGC_BF16: return CUDNN_DATA_BFLOAT16;
    default: return CUDNN_DATA_FLOAT;
    }
}

static void shape_str(const tgc_shape *s, char *buf, size_t n) { tgc_shape_str(s, buf, n); }

/* ---- operands ------------------------------------------------------------------------------------------ */

static const tgc_plan_tensor *operand(bld *b, int j) { return &b->p->tensors[b->in->in[j]]; }
static const tgc_plan_tensor *result(bld *b, int j) { return &b->p->tensors[b->in->out[j]]; }

/* An activation or weight: rank 4 and the op's dtype. */
static int need4(bld *b, const tgc_plan_tensor *t, const char *role) {
    if (t->type.shape.rank != 4)
        return bfail(b, "%s '%s' has rank %d; these descriptors are 4-d (NCHW)", role, t->name, t->type.shape.rank);
    for (int i = 0; i < 4; i++)
        if (t->type.shape.d[i] <= 0 || t->type.shape.d[i] > INT_MAX)
            return bfail(b, "%s '%s' has dimension %d of %lld", role, t->name, i, (long long)t->type.shape.d[i]);
    /* the op's data dtype; an f32 instruction may also be described in a 16-bit type (what it would take) */
    if (t->type.dtype != b->o->dtype && !(t->type.dtype == TGC_F32 && b->data == TGC_F32))
        return bfail(b, "%s '%s' is %s; the op's data is %s", role, t->name, tgc_dtype_name(t->type.dtype),
                     tgc_dtype_name(b->o->dtype));
    return 0;
}

static int same_shape(bld *b, const tgc_plan_tensor *t, const tgc_shape *want, const char *role, const char *whose) {
    if (tgc_shape_eq(&t->type.shape, want)) return 0;
    char a[96], w[96];
    shape_str(&t->type.shape, a, sizeof a);
    shape_str(want, w, sizeof w);
    return bfail(b, "%s '%s' is %s, %s is %s", role, t->name, a, whose, w);
}

/* Strides of dims (4-d) in the op's layout: NCHW packed, or NHWC (dims stay N,C,H,W). */
static void strides4(tgc_cudnn_layout l, const int64_t *d, int64_t *s) {
    if (l == TGC_CUDNN_NHWC) {
        s[1] = 1;
        s[3] = d[1];
        s[2] = d[3] * d[1];
        s[0] = d[2] * s[2];
    } else {
        s[3] = 1;
        s[2] = d[3];
        s[1] = d[2] * d[3];
        s[0] = d[1] * s[1];
    }
}

/* The layout of the strides of a 4-d descriptor: a plan tensor's own (an NHWC activation; a rank-4 ROW tensor
 * such as a convolution's OIHW weight is NCHW unless opts describe everything as NHWC), else (per-channel
 * statistics, virtual and by-value tensors) the instruction's activation layout. */
static tgc_cudnn_layout layout_of(const bld *b, int tensor) {
    if (b->o->layout == TGC_CUDNN_NHWC) return TGC_CUDNN_NHWC;
    if (tensor >= 0 && b->p->tensors[tensor].type.shape.rank == 4)
        return b->p->tensors[tensor].type.layout == TGC_LAYOUT_NHWC ? TGC_CUDNN_NHWC : TGC_CUDNN_NCHW;
    return b->act;
}

/* The byte alignment cuDNN may assume of a plan tensor: the largest power of two dividing its offset (slab
 * bases are cudaMalloc'd, 256-byte aligned), at most 16 (a 128-bit access, the widest cuDNN's kernels use).
 * Capped, it is also the same for every tensor of a plan whose target aligns to 16 or more, as the norm
 * operations require of their statistics (mean and inverse variance must be "similar" descriptors). */
static int64_t alignment(const tgc_plan_tensor *t) {
    int64_t a = 16;
    while (a > 1 && t->offset % (uint64_t)a) a >>= 1;
    return a;
}

/* ---- backend descriptors, each checked ----------------------------------------------------------------- */

static int bd_new(bld *b, cudnnBackendDescriptorType_t t, const char *tname, bdesc *out) {
    *out = NULL;
    char what[128];
    snprintf(what, sizeof what, "cudnnBackendCreateDescriptor(%s)", tname);
    CK(b, cudnnBackendCreateDescriptor(t, out), what);
    return 0;
}

static int bd_set(bld *b, bdesc d, const char *dname, cudnnBackendAttributeName_t a, const char *aname,
                  cudnnBackendAttributeType_t ty, int64_t n, const void *v) {
    char what[320];
    snprintf(what, sizeof what, "cudnnBackendSetAttribute(%s, %s)", dname, aname);
    CK(b, cudnnBackendSetAttribute(d, a, ty, n, v), what);
    return 0;
}
#define SET(b, d, dname, A, T, n, v)                                                                               \
    do {                                                                                                           \
        if (bd_set((b), (d), (dname), (A), #A, (T), (n), (v)) < 0) return -1;                                     \
    } while (0)
#define SETD(b, d, dname, A, x)                                                                                    \
    do {                                                                                                           \
        bdesc x_ = (x);                                                                                            \
        if (bd_set((b), (d), (dname), (A), #A, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x_) < 0) return -1;            \
    } while (0)

static int bd_fin(bld *b, bdesc d, const char *dname) {
    char what[256];
    snprintf(what, sizeof what, "cudnnBackendFinalize(%s)", dname);
    CK(b, cudnnBackendFinalize(d), what);
    return 0;
}

/* A backend tensor of 4-d dims. tensor >= 0: plan tensor `tensor` under uid; else virtual (by_value 0) or a
 * by-value scalar holding value. Returns its index in op->tensor, or -1. */
static int tensor_desc(bld *b, const int64_t *dims, int64_t uid, int tensor, int by_value, float value) {
    tgc_cudnn_op *op = b->op;
    if (op->n_tensors == TGC_CUDNN_MAX_TENSORS) return bfail(b, "more than %d tensors", TGC_CUDNN_MAX_TENSORS);
    int i = op->n_tensors;
    bdesc d;
    if (bd_new(b, CUDNN_BACKEND_TENSOR_DESCRIPTOR, "TENSOR", &d) < 0) return -1;
    op->tensor[i] = d;
    op->bind[i].uid = uid;
    op->bind[i].tensor = tensor;
    op->bind[i].by_value = by_value;
    op->bind[i].value = value;
    op->n_tensors++;
    int64_t str[4], al = tensor >= 0 ? alignment(&b->p->tensors[tensor]) : 16;
    strides4(layout_of(b, tensor), dims, str);
    /* by-value scalars are host floats whatever the data type */
    cudnnDataType_t dt = by_value ? CUDNN_DATA_FLOAT : tensor < 0 ? b->comp : b->io;
    bool virt = tensor < 0 && !by_value, byv = by_value != 0;
    SET(b, d, "TENSOR", CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &dt);
    SET(b, d, "TENSOR", CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims);
    SET(b, d, "TENSOR", CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, str);
    SET(b, d, "TENSOR", CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
    SET(b, d, "TENSOR", CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &al);
    if (virt) SET(b, d, "TENSOR", CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &virt);
    if (byv) SET(b, d, "TENSOR", CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &byv);
    char name[160];
    if (tensor >= 0)
        snprintf(name, sizeof name, "TENSOR '%s' uid %lld", b->p->tensors[tensor].name, (long long)uid);
    else
        snprintf(name, sizeof name, "TENSOR %s uid %lld", by_value ? "by-value" : "virtual", (long long)uid);
    if (bd_fin(b, d, name) < 0) return -1;
    return i;
}

/* Plan tensor t as a backend tensor (rank 4 as it is; rank 1 [C] as [1,C,1,1]). */
static bdesc plan_tensor(bld *b, int t, int inplace) {
    const tgc_shape *s = &b->p->tensors[t].type.shape;
    int64_t d[4];
    if (s->rank == 4) {
        memcpy(d, s->d, sizeof d);
    } else if (s->rank == 1) {
        d[0] = d[2] = d[3] = 1;
        d[1] = s->d[0];
    } else {
        bfail(b, "'%s' has rank %d: not a 4-d tensor nor per-channel statistics", b->p->tensors[t].name, s->rank);
        return NULL;
    }
    int i = tensor_desc(b, d, inplace ? TGC_CUDNN_UID_INPLACE(t) : TGC_CUDNN_UID(t), t, 0, 0.0f);
    return i < 0 ? NULL : b->op->tensor[i];
}

static bdesc virtual_tensor(bld *b, const int64_t *dims) {
    int i = tensor_desc(b, dims, b->next_local++, -1, 0, 0.0f);
    return i < 0 ? NULL : b->op->tensor[i];
}

static bdesc scalar_tensor(bld *b, float v) {
    static const int64_t one[4] = {1, 1, 1, 1};
    int i = tensor_desc(b, one, b->next_local++, -1, 1, v);
    return i < 0 ? NULL : b->op->tensor[i];
}

static int add_aux(bld *b, bdesc d) {
    if (b->op->n_aux == TGC_CUDNN_MAX_OPS) return bfail(b, "more than %d descriptors", TGC_CUDNN_MAX_OPS);
    b->op->aux[b->op->n_aux++] = d;
    return 0;
}

static int add_op(bld *b, bdesc d) {
    if (b->op->n_ops == TGC_CUDNN_MAX_OPS) return bfail(b, "more than %d operations", TGC_CUDNN_MAX_OPS);
    b->op->op[b->op->n_ops++] = d;
    return 0;
}

/* y = mode(x[, x2]) as an OPERATION_POINTWISE (relu_bwd: dy = x2, x = x, dx = y). */
static int pointwise(bld *b, cudnnPointwiseMode_t mode, const char *mname, bdesc x, bdesc x2, bdesc y) {
    bdesc pw, o;
    char name[96];
    snprintf(name, sizeof name, "POINTWISE %s", mname);
    if (bd_new(b, CUDNN_BACKEND_POINTWISE_DESCRIPTOR, "POINTWISE", &pw) < 0) return -1;
    if (add_aux(b, pw) < 0) {
        cudnnBackendDestroyDescriptor(pw);
        return -1;
    }
    SET(b, pw, name, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode);
    SET(b, pw, name, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &b->comp);
    if (bd_fin(b, pw, name) < 0) return -1;
    snprintf(name, sizeof name, "OPERATION_POINTWISE %s", mname);
    if (bd_new(b, CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, "OPERATION_POINTWISE", &o) < 0) return -1;
    if (add_op(b, o) < 0) {
        cudnnBackendDestroyDescriptor(o);
        return -1;
    }
    SETD(b, o, name, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pw);
    if (mode == CUDNN_POINTWISE_RELU_BWD) {
        SETD(b, o, name, CUDNN_ATTR_OPERATION_POINTWISE_DYDESC, x2);
        SETD(b, o, name, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, x);
        SETD(b, o, name, CUDNN_ATTR_OPERATION_POINTWISE_DXDESC, y);
    } else {
        SETD(b, o, name, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, x);
        if (x2) SETD(b, o, name, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, x2);
        SETD(b, o, name, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, y);
    }
    return bd_fin(b, o, name);
}

/* The operation graph of every op built, finalized, and its engine count (> 0). */
static int graph(bld *b) {
    tgc_cudnn_op *op = b->op;
    if (bd_new(b, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, "OPERATIONGRAPH", &op->graph) < 0) return -1;
    SET(b, op->graph, "OPERATIONGRAPH", CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, op->n_ops,
        op->op);
    if (bd_fin(b, op->graph, "OPERATIONGRAPH") < 0) return -1;
    int64_t n = 0;
    CK(b,
       cudnnBackendGetAttribute(op->graph, CUDNN_ATTR_OPERATIONGRAPH_ENGINE_GLOBAL_COUNT, CUDNN_TYPE_INT64, 1, &n,
                                &op->engine_count),
       "cudnnBackendGetAttribute(OPERATIONGRAPH, CUDNN_ATTR_OPERATIONGRAPH_ENGINE_GLOBAL_COUNT)");
    if (op->engine_count <= 0) return bfail(b, "cuDNN %zu has no engine for this operation graph", cudnnGetVersion());
    return 0;
}

/* ---- legacy descriptors --------------------------------------------------------------------------------- */

/* A legacy tensor descriptor of dims in plan tensor `tensor`'s layout (layout_of). */
static int legacy_tensor(bld *b, cudnnTensorDescriptor_t *d, const int64_t *dims, int tensor, const char *role) {
    int64_t s64[4];
    int di[4], si[4];
    strides4(layout_of(b, tensor), dims, s64);
    for (int i = 0; i < 4; i++) {
        if (dims[i] > INT_MAX || s64[i] > INT_MAX)
            return bfail(b, "%s: dimension or stride %d exceeds the legacy API's int", role, i);
        di[i] = (int)dims[i];
        si[i] = (int)s64[i];
    }
    CK(b, cudnnCreateTensorDescriptor(d), "cudnnCreateTensorDescriptor");
    char what[128];
    snprintf(what, sizeof what, "cudnnSetTensorNdDescriptor(%s)", role);
    CK(b, cudnnSetTensorNdDescriptor(*d, b->io, 4, di, si), what);
    return 0;
}

/* cuDNN's output dims against the plan's shape. */
static int dims_match(bld *b, const char *query, const int *got, const tgc_plan_tensor *t, const char *role) {
    tgc_shape g = tgc_shape4(got[0], got[1], got[2], got[3]);
    if (tgc_shape_eq(&g, &t->type.shape)) return 0;
    char a[96], w[96];
    shape_str(&g, a, sizeof a);
    shape_str(&t->type.shape, w, sizeof w);
    return bfail(b, "%s gives %s, the plan's %s '%s' is %s", query, a, role, t->name, w);
}

/* ---- convolutions --------------------------------------------------------------------------------------- */

static int conv(bld *b) {
    const tgc_instr *in = b->in;
    const tgc_attrs *a = &in->attrs;
    tgc_cudnn_op *op = b->op;
    /* which plan tensor plays x, w and y (for backward ops: dx / dw / dy) */
    int xt, wt, yt;
    const char *xr, *wr, *yr;
    switch (in->code) {
    case TGC_OP_CONV2D:
        xt = in->in[0], wt = in->in[1], yt = in->out[0];
        xr = "operand x", wr = "operand w", yr = "result y";
        break;
    case TGC_OP_CONV2D_BWD_DATA:
        yt = in->in[0], wt = in->in[1], xt = in->out[0];
        yr = "operand dy", wr = "operand w", xr = "result dx";
        break;
    default: /* bwd filter */
        xt = in->in[0], yt = in->in[1], wt = in->out[0];
        xr = "operand x", yr = "operand dy", wr = "result dw";
        break;
    }
    const tgc_plan_tensor *X = &b->p->tensors[xt], *W = &b->p->tensors[wt], *Y = &b->p->tensors[yt];
    if (need4(b, X, xr) < 0 || need4(b, W, wr) < 0 || need4(b, Y, yr) < 0) return -1;
    /* attrs.shape of the backward ops is the shape of what they produce (x, w) */
    if (in->code == TGC_OP_CONV2D_BWD_DATA && same_shape(b, X, &a->shape, xr, "attribute shape (x's)") < 0) return -1;
    if (in->code == TGC_OP_CONV2D_BWD_FILTER && same_shape(b, W, &a->shape, wr, "attribute shape (w's)") < 0)
        return -1;
    for (int i = 0; i < 2; i++)
        if (a->stride[i] < 1 || a->dilation[i] < 1 || a->pad[i] < 0 || a->pad[i + 2] < 0)
            return bfail(b, "stride, dilation or padding out of range");
    if (a->groups < 1 || a->groups > INT_MAX) return bfail(b, "groups %lld", (long long)a->groups);

    /* legacy: cuDNN's output-dimension rule with the plan's x and w, compared with the plan's y */
    op->legacy = a->pad[0] == a->pad[2] && a->pad[1] == a->pad[3];
    if (op->legacy) {
        int pad[2] = {(int)a->pad[0], (int)a->pad[1]}, st[2] = {(int)a->stride[0], (int)a->stride[1]},
            dil[2] = {(int)a->dilation[0], (int)a->dilation[1]}, wd[4], out[4];
        for (int i = 0; i < 4; i++) wd[i] = (int)W->type.shape.d[i];
        if (legacy_tensor(b, &op->x, X->type.shape.d, xt, xr) < 0) return -1;
        CK(b, cudnnCreateFilterDescriptor(&op->w), "cudnnCreateFilterDescriptor");
        CK(b,
           cudnnSetFilterNdDescriptor(op->w, b->io, layout_of(b, wt) == TGC_CUDNN_NHWC ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW,
                                      4, wd),
           "cudnnSetFilterNdDescriptor");
        CK(b, cudnnCreateConvolutionDescriptor(&op->conv), "cudnnCreateConvolutionDescriptor");
        CK(b, cudnnSetConvolutionNdDescriptor(op->conv, 2, pad, st, dil, CUDNN_CROSS_CORRELATION, b->comp),
           "cudnnSetConvolutionNdDescriptor");
        CK(b, cudnnSetConvolutionGroupCount(op->conv, (int)a->groups), "cudnnSetConvolutionGroupCount");
        CK(b, cudnnSetConvolutionMathType(op->conv, b->io == CUDNN_DATA_FLOAT ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH),
           "cudnnSetConvolutionMathType");
        CK(b, cudnnGetConvolutionNdForwardOutputDim(op->conv, op->x, op->w, 4, out),
           "cudnnGetConvolutionNdForwardOutputDim");
        if (dims_match(b, "cudnnGetConvolutionNdForwardOutputDim", out, Y, yr) < 0) return -1;
        if (legacy_tensor(b, &op->y, Y->type.shape.d, yt, yr) < 0) return -1;
    }

    /* the graph */
    bdesc x = plan_tensor(b, xt, 0), w = x ? plan_tensor(b, wt, 0) : NULL, y = w ? plan_tensor(b, yt, 0) : NULL;
    if (!y) return -1;
    bdesc cd;
    if (bd_new(b, CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, "CONVOLUTION", &cd) < 0) return -1;
    if (add_aux(b, cd) < 0) {
        cudnnBackendDestroyDescriptor(cd);
        return -1;
    }
    int64_t sd = 2, pre[2] = {a->pad[0], a->pad[1]}, post[2] = {a->pad[2], a->pad[3]};
    cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
    SET(b, cd, "CONVOLUTION", CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &b->comp);
    SET(b, cd, "CONVOLUTION", CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode);
    SET(b, cd, "CONVOLUTION", CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &sd);
    SET(b, cd, "CONVOLUTION", CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, a->dilation);
    SET(b, cd, "CONVOLUTION", CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, a->stride);
    SET(b, cd, "CONVOLUTION", CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, pre);
    SET(b, cd, "CONVOLUTION", CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, post);
    if (bd_fin(b, cd, "CONVOLUTION") < 0) return -1;
    /* groups: cuDNN reads them from the shapes (C = g * w's C/g), so check that they agree with the plan's */
    if (X->type.shape.d[1] != a->groups * W->type.shape.d[1] || W->type.shape.d[0] % a->groups)
        return bfail(b, "groups=%lld does not divide %s '%s' (C=%lld) and %s '%s' (O=%lld, C/g=%lld) as cuDNN reads them",
                     (long long)a->groups, xr, X->name, (long long)X->type.shape.d[1], wr, W->name,
                     (long long)W->type.shape.d[0], (long long)W->type.shape.d[1]);
    float alpha = 1.0f, beta = 0.0f;
    bdesc o;
    const char *oname;
    cudnnBackendDescriptorType_t ot;
    cudnnBackendAttributeName_t A_ALPHA, A_BETA, A_CONV, A_X, A_W, A_Y;
    switch (in->code) {
    case TGC_OP_CONV2D:
        ot = CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, oname = "OPERATION_CONVOLUTION_FORWARD";
        A_ALPHA = CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, A_BETA = CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA;
        A_CONV = CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, A_X = CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X;
        A_W = CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, A_Y = CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y;
        break;
    case TGC_OP_CONV2D_BWD_DATA:
        ot = CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR, oname = "OPERATION_CONVOLUTION_BACKWARD_DATA";
        A_ALPHA = CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA, A_BETA = CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA;
        A_CONV = CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC, A_X = CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX;
        A_W = CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W, A_Y = CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY;
        break;
    default:
        ot = CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR,
        oname = "OPERATION_CONVOLUTION_BACKWARD_FILTER";
        A_ALPHA = CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA,
        A_BETA = CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA;
        A_CONV = CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC,
        A_X = CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X;
        A_W = CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW, A_Y = CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY;
        break;
    }
    if (bd_new(b, ot, oname, &o) < 0) return -1;
    if (add_op(b, o) < 0) {
        cudnnBackendDestroyDescriptor(o);
        return -1;
    }
    if (bd_set(b, o, oname, A_ALPHA, "ALPHA", CUDNN_TYPE_FLOAT, 1, &alpha) < 0 ||
        bd_set(b, o, oname, A_BETA, "BETA", CUDNN_TYPE_FLOAT, 1, &beta) < 0 ||
        bd_set(b, o, oname, A_CONV, "CONV_DESC", CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cd) < 0 ||
        bd_set(b, o, oname, A_X, in->code == TGC_OP_CONV2D_BWD_DATA ? "DX" : "X", CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x) < 0 ||
        bd_set(b, o, oname, A_W, in->code == TGC_OP_CONV2D_BWD_FILTER ? "DW" : "W", CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &w) < 0 ||
        bd_set(b, o, oname, A_Y, in->code == TGC_OP_CONV2D ? "Y" : "DY", CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y) < 0)
        return -1;
    if (bd_fin(b, o, oname) < 0) return -1;
    return graph(b);
}

/* ---- batch norm ----------------------------------------------------------------------------------------- */

/* Per-channel statistics tensors: [C] against the descriptor cudnnDeriveBNTensorDescriptor derived. */
static int stats_match(bld *b, const tgc_plan_tensor *t, const char *role, const int *dd, int nd) {
    int64_t numel = 1;
    for (int i = 0; i < nd; i++) numel *= dd[i];
    if (t->type.shape.rank == 1 && nd == 4 && dd[0] == 1 && dd[2] == 1 && dd[3] == 1 && t->type.shape.d[0] == dd[1] &&
        numel == t->type.shape.d[0] && t->type.dtype == TGC_F32)
        return 0;
    char a[96];
    shape_str(&t->type.shape, a, sizeof a);
    return bfail(b, "cudnnDeriveBNTensorDescriptor gives [%d,%d,%d,%d], the plan's %s '%s' is %s %s", dd[0],
                 nd > 1 ? dd[1] : 0, nd > 2 ? dd[2] : 0, nd > 3 ? dd[3] : 0, role, t->name,
                 tgc_dtype_name(t->type.dtype), a);
}

static int norm(bld *b) {
    const tgc_instr *in = b->in;
    tgc_cudnn_op *op = b->op;
    const int code = in->code;
    const int bwd = code == TGC_OP_BN_BWD || code == TGC_OP_BN_RELU_BWD;
    const int relu = code == TGC_OP_BN_TRAIN_RELU || code == TGC_OP_BN_RELU_BWD;
    /* roles: x-shaped and per-channel tensors, by operand / result position */
    int xi = bwd ? in->in[1] : in->in[0];
    const tgc_plan_tensor *X = &b->p->tensors[xi];
    if (need4(b, X, "operand x") < 0) return -1;
    struct {
        int t;
        const char *role;
        int per_channel;
    } r[9];
    int nr = 0;
#define ROLE(tt, name, pc) (r[nr].t = (tt), r[nr].role = (name), r[nr].per_channel = (pc), nr++)
    switch (code) {
    case TGC_OP_BN_TRAIN:
    case TGC_OP_BN_TRAIN_RELU:
        ROLE(in->in[1], "operand gamma", 1), ROLE(in->in[2], "operand beta", 1);
        ROLE(in->in[3], "operand running_mean", 1), ROLE(in->in[4], "operand running_var", 1);
        ROLE(in->out[0], "result y", 0), ROLE(in->out[1], "result batch_mean", 1);
        ROLE(in->out[2], "result batch_invstd", 1);
        break;
    case TGC_OP_BN_EVAL:
        ROLE(in->in[1], "operand gamma", 1), ROLE(in->in[2], "operand beta", 1);
        ROLE(in->in[3], "operand running_mean", 1), ROLE(in->in[4], "operand running_var", 1);
        ROLE(in->out[0], "result y", 0);
        break;
    case TGC_OP_BN_BWD:
        ROLE(in->in[0], "operand dy", 0), ROLE(in->in[2], "operand gamma", 1);
        ROLE(in->in[3], "operand batch_mean", 1), ROLE(in->in[4], "operand batch_invstd", 1);
        ROLE(in->out[0], "result dx", 0), ROLE(in->out[1], "result dgamma", 1), ROLE(in->out[2], "result dbeta", 1);
        break;
    default: /* relu bwd */
        ROLE(in->in[0], "operand dy", 0), ROLE(in->in[2], "operand gamma", 1), ROLE(in->in[3], "operand beta", 1);
        ROLE(in->in[4], "operand batch_mean", 1), ROLE(in->in[5], "operand batch_invstd", 1);
        ROLE(in->out[0], "result dx", 0), ROLE(in->out[1], "result dgamma", 1), ROLE(in->out[2], "result dbeta", 1);
        break;
    }
#undef ROLE
    for (int i = 0; i < nr; i++)
        if (!r[i].per_channel && same_shape(b, &b->p->tensors[r[i].t], &X->type.shape, r[i].role, "operand x") < 0)
            return -1;
    double eps = in->attrs.eps, mom = in->attrs.momentum;
    if (!(eps >= CUDNN_BN_MIN_EPSILON) || !(eps < 1.0)) return bfail(b, "eps=%g is outside cuDNN's range", eps);
    if (!bwd && code != TGC_OP_BN_EVAL && !(mom >= 0.0 && mom <= 1.0)) return bfail(b, "momentum=%g", mom);

    /* legacy: the statistics descriptor cuDNN derives from x, against every per-channel tensor */
    op->legacy = 1;
    if (legacy_tensor(b, &op->x, X->type.shape.d, xi, "x") < 0) return -1;
    CK(b, cudnnCreateTensorDescriptor(&op->stats), "cudnnCreateTensorDescriptor");
    CK(b, cudnnDeriveBNTensorDescriptor(op->stats, op->x, CUDNN_BATCHNORM_SPATIAL), "cudnnDeriveBNTensorDescriptor");
    cudnnDataType_t sdt;
    int nd = 0, dd[CUDNN_DIM_MAX], ds[CUDNN_DIM_MAX];
    CK(b, cudnnGetTensorNdDescriptor(op->stats, CUDNN_DIM_MAX, &sdt, &nd, dd, ds),
       "cudnnGetTensorNdDescriptor(derived BN descriptor)");
    for (int i = 0; i < nr; i++)
        if (r[i].per_channel && stats_match(b, &b->p->tensors[r[i].t], r[i].role, dd, nd) < 0) return -1;
    if (relu) {
        CK(b, cudnnCreateActivationDescriptor(&op->act), "cudnnCreateActivationDescriptor");
        CK(b, cudnnSetActivationDescriptor(op->act, CUDNN_ACTIVATION_RELU, CUDNN_PROPAGATE_NAN, 0.0),
           "cudnnSetActivationDescriptor(relu)");
    }

    /* the graph */
    const int64_t *xd = X->type.shape.d;
    cudnnBackendNormMode_t mode = CUDNN_BATCH_NORM;
    if (!bwd) {
        bdesc x = plan_tensor(b, in->in[0], 0), gamma = x ? plan_tensor(b, in->in[1], 0) : NULL,
              beta = gamma ? plan_tensor(b, in->in[2], 0) : NULL, epsd = beta ? scalar_tensor(b, (float)eps) : NULL;
        if (!epsd) return -1;
        if (code == TGC_OP_BN_EVAL) {
            /* y = (x - mean) * rsqrt(var + eps) * gamma + beta, as pointwise operations (cudnn-frontend's
             * batchnorm_inference does the same): a NORM_FORWARD in its inference phase wants a mean and an
             * inverse variance of "similar" descriptors, and a computed (virtual) inverse variance is not
             * similar to a stored mean (BAD_PARAM_SHAPE_MISMATCH). */
            int64_t c4[4] = {1, xd[1], 1, 1};
            bdesc mn = plan_tensor(b, in->in[3], 0), var = mn ? plan_tensor(b, in->in[4], 0) : NULL,
                  ve = var ? virtual_tensor(b, c4) : NULL, iv = ve ? virtual_tensor(b, c4) : NULL,
                  t1 = iv ? virtual_tensor(b, xd) : NULL, t2 = t1 ? virtual_tensor(b, xd) : NULL,
                  t3 = t2 ? virtual_tensor(b, xd) : NULL, ye = t3 ? plan_tensor(b, in->out[0], 0) : NULL;
            if (!ye) return -1;
            if (pointwise(b, CUDNN_POINTWISE_SUB, "SUB (x - running_mean)", x, mn, t1) < 0 ||
                pointwise(b, CUDNN_POINTWISE_ADD, "ADD (running_var + eps)", var, epsd, ve) < 0 ||
                pointwise(b, CUDNN_POINTWISE_RSQRT, "RSQRT", ve, NULL, iv) < 0 ||
                pointwise(b, CUDNN_POINTWISE_MUL, "MUL (* invstd)", t1, iv, t2) < 0 ||
                pointwise(b, CUDNN_POINTWISE_MUL, "MUL (* gamma)", t2, gamma, t3) < 0 ||
                pointwise(b, CUDNN_POINTWISE_ADD, "ADD (+ beta)", t3, beta, ye) < 0)
                return -1;
            return graph(b);
        }
        /* training: batch statistics out, running statistics updated in place (second UIDs, same tensors) */
        bdesc rm = plan_tensor(b, in->in[3], 0), rv = rm ? plan_tensor(b, in->in[4], 0) : NULL,
              rm2 = rv ? plan_tensor(b, in->in[3], 1) : NULL, rv2 = rm2 ? plan_tensor(b, in->in[4], 1) : NULL,
              momd = rv2 ? scalar_tensor(b, (float)mom) : NULL, mean = momd ? plan_tensor(b, in->out[1], 0) : NULL,
              inv = mean ? plan_tensor(b, in->out[2], 0) : NULL,
              y = inv ? (relu ? virtual_tensor(b, xd) : plan_tensor(b, in->out[0], 0)) : NULL, nf;
        if (!y) return -1;
        cudnnBackendNormFwdPhase_t phase = CUDNN_NORM_FWD_TRAINING;
        const char *nn = "OPERATION_NORM_FORWARD (training)";
        if (bd_new(b, CUDNN_BACKEND_OPERATION_NORM_FORWARD_DESCRIPTOR, nn, &nf) < 0) return -1;
        if (add_op(b, nf) < 0) {
            cudnnBackendDestroyDescriptor(nf);
            return -1;
        }
        SET(b, nf, nn, CUDNN_ATTR_OPERATION_NORM_FWD_MODE, CUDNN_TYPE_NORM_MODE, 1, &mode);
        SET(b, nf, nn, CUDNN_ATTR_OPERATION_NORM_FWD_PHASE, CUDNN_TYPE_NORM_FWD_PHASE, 1, &phase);
        SETD(b, nf, nn, CUDNN_ATTR_OPERATION_NORM_FWD_XDESC, x);
        SETD(b, nf, nn, CUDNN_ATTR_OPERATION_NORM_FWD_MEAN_DESC, mean);
        SETD(b, nf, nn, CUDNN_ATTR_OPERATION_NORM_FWD_INV_VARIANCE_DESC, inv);
        SETD(b, nf, nn, CUDNN_ATTR_OPERATION_NORM_FWD_SCALE_DESC, gamma);
        SETD(b, nf, nn, CUDNN_ATTR_OPERATION_NORM_FWD_BIAS_DESC, beta);
        SETD(b, nf, nn, CUDNN_ATTR_OPERATION_NORM_FWD_EPSILON_DESC, epsd);
        SETD(b, nf, nn, CUDNN_ATTR_OPERATION_NORM_FWD_EXP_AVG_FACTOR_DESC, momd);
        SETD(b, nf, nn, CUDNN_ATTR_OPERATION_NORM_FWD_INPUT_RUNNING_MEAN_DESC, rm);
        SETD(b, nf, nn, CUDNN_ATTR_OPERATION_NORM_FWD_INPUT_RUNNING_VAR_DESC, rv);
        SETD(b, nf, nn, CUDNN_ATTR_OPERATION_NORM_FWD_OUTPUT_RUNNING_MEAN_DESC, rm2);
        SETD(b, nf, nn, CUDNN_ATTR_OPERATION_NORM_FWD_OUTPUT_RUNNING_VAR_DESC, rv2);
        SETD(b, nf, nn, CUDNN_ATTR_OPERATION_NORM_FWD_YDESC, y);
        if (bd_fin(b, nf, nn) < 0) return -1;
        if (relu) {
            bdesc yr = plan_tensor(b, in->out[0], 0);
            if (!yr || pointwise(b, CUDNN_POINTWISE_RELU_FWD, "RELU_FWD", y, NULL, yr) < 0) return -1;
        }
        return graph(b);
    }
    /* backward: dy, x, gamma, [beta,] mean, invstd -> dx, dgamma, dbeta */
    const int o = relu; /* operand shift after gamma */
    bdesc dy = plan_tensor(b, in->in[0], 0), x = dy ? plan_tensor(b, in->in[1], 0) : NULL,
          gamma = x ? plan_tensor(b, in->in[2], 0) : NULL, mean = gamma ? plan_tensor(b, in->in[3 + o], 0) : NULL,
          inv = mean ? plan_tensor(b, in->in[4 + o], 0) : NULL, dx = inv ? plan_tensor(b, in->out[0], 0) : NULL,
          dg = dx ? plan_tensor(b, in->out[1], 0) : NULL, db = dg ? plan_tensor(b, in->out[2], 0) : NULL;
    if (!db) return -1;
    bdesc d = dy;
    if (relu) {
        /* the relu mask from x as the forward computed its pre-activation */
        bdesc beta = plan_tensor(b, in->in[3], 0), t1 = beta ? virtual_tensor(b, xd) : NULL,
              t2 = t1 ? virtual_tensor(b, xd) : NULL, t3 = t2 ? virtual_tensor(b, xd) : NULL,
              pre = t3 ? virtual_tensor(b, xd) : NULL, dpre = pre ? virtual_tensor(b, xd) : NULL;
        if (!dpre) return -1;
        if (pointwise(b, CUDNN_POINTWISE_SUB, "SUB (x - mean)", x, mean, t1) < 0 ||
            pointwise(b, CUDNN_POINTWISE_MUL, "MUL (* invstd)", t1, inv, t2) < 0 ||
            pointwise(b, CUDNN_POINTWISE_MUL, "MUL (* gamma)", t2, gamma, t3) < 0 ||
            pointwise(b, CUDNN_POINTWISE_ADD, "ADD (+ beta)", t3, beta, pre) < 0 ||
            pointwise(b, CUDNN_POINTWISE_RELU_BWD, "RELU_BWD", pre, dy, dpre) < 0)
            return -1;
        d = dpre;
    }
    const char *nn = "OPERATION_NORM_BACKWARD";
    bdesc nb;
    if (bd_new(b, CUDNN_BACKEND_OPERATION_NORM_BACKWARD_DESCRIPTOR, nn, &nb) < 0) return -1;
    if (add_op(b, nb) < 0) {
        cudnnBackendDestroyDescriptor(nb);
        return -1;
    }
    SET(b, nb, nn, CUDNN_ATTR_OPERATION_NORM_BWD_MODE, CUDNN_TYPE_NORM_MODE, 1, &mode);
    SETD(b, nb, nn, CUDNN_ATTR_OPERATION_NORM_BWD_XDESC, x);
    SETD(b, nb, nn, CUDNN_ATTR_OPERATION_NORM_BWD_MEAN_DESC, mean);
    SETD(b, nb, nn, CUDNN_ATTR_OPERATION_NORM_BWD_INV_VARIANCE_DESC, inv);
    SETD(b, nb, nn, CUDNN_ATTR_OPERATION_NORM_BWD_DYDESC, d);
    SETD(b, nb, nn, CUDNN_ATTR_OPERATION_NORM_BWD_SCALE_DESC, gamma);
    SETD(b, nb, nn, CUDNN_ATTR_OPERATION_NORM_BWD_DSCALE_DESC, dg);
    SETD(b, nb, nn, CUDNN_ATTR_OPERATION_NORM_BWD_DBIAS_DESC, db);
    SETD(b, nb, nn, CUDNN_ATTR_OPERATION_NORM_BWD_DXDESC, dx);
    if (bd_fin(b, nb, nn) < 0) return -1;
    return graph(b);
}

/* ---- pooling -------------------------------------------------------------------------------------------- */

/* PyTorch's pooled size (ceil_mode: the last window must start inside the input or its left padding). */
static int64_t pooled(int64_t in, int64_t k, int64_t s, int64_t lo, int64_t hi, int ceil_mode) {
    int64_t span = in + lo + hi - k;
    if (span < 0) return 0;
    int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (out - 1) * s >= in + lo) out--;
    return out;
}

static int resample_desc(bld *b, int maxpool, const int64_t *post, bdesc *out) {
    const tgc_attrs *a = &b->in->attrs;
    bdesc rs;
    if (bd_new(b, CUDNN_BACKEND_RESAMPLE_DESCRIPTOR, "RESAMPLE", &rs) < 0) return -1;
    if (add_aux(b, rs) < 0) {
        cudnnBackendDestroyDescriptor(rs);
        return -1;
    }
    cudnnResampleMode_t mode = maxpool ? CUDNN_RESAMPLE_MAXPOOL
                               : a->count_include_pad ? CUDNN_RESAMPLE_AVGPOOL_INCLUDE_PADDING
                                                      : CUDNN_RESAMPLE_AVGPOOL_EXCLUDE_PADDING;
    cudnnPaddingMode_t pm = maxpool ? CUDNN_NEG_INF_PAD : CUDNN_ZERO_PAD;
    cudnnNanPropagation_t nan = CUDNN_PROPAGATE_NAN;
    int64_t sd = 2;
    cudnnFraction_t win[2], st[2], pre[2], po[2];
    for (int i = 0; i < 2; i++) {
        win[i] = (cudnnFraction_t){a->kernel[i], 1};
        st[i] = (cudnnFraction_t){a->stride[i], 1};
        pre[i] = (cudnnFraction_t){a->pad[i], 1};
        po[i] = (cudnnFraction_t){post[i], 1};
    }
    SET(b, rs, "RESAMPLE", CUDNN_ATTR_RESAMPLE_MODE, CUDNN_TYPE_RESAMPLE_MODE, 1, &mode);
    SET(b, rs, "RESAMPLE", CUDNN_ATTR_RESAMPLE_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &b->comp);
    SET(b, rs, "RESAMPLE", CUDNN_ATTR_RESAMPLE_NAN_PROPAGATION, CUDNN_TYPE_NAN_PROPOGATION, 1, &nan);
    SET(b, rs, "RESAMPLE", CUDNN_ATTR_RESAMPLE_PADDING_MODE, CUDNN_TYPE_PADDING_MODE, 1, &pm);
    SET(b, rs, "RESAMPLE", CUDNN_ATTR_RESAMPLE_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &sd);
    SET(b, rs, "RESAMPLE", CUDNN_ATTR_RESAMPLE_WINDOW_DIMS, CUDNN_TYPE_FRACTION, 2, win);
    SET(b, rs, "RESAMPLE", CUDNN_ATTR_RESAMPLE_STRIDES, CUDNN_TYPE_FRACTION, 2, st);
    SET(b, rs, "RESAMPLE", CUDNN_ATTR_RESAMPLE_PRE_PADDINGS, CUDNN_TYPE_FRACTION, 2, pre);
    SET(b, rs, "RESAMPLE", CUDNN_ATTR_RESAMPLE_POST_PADDINGS, CUDNN_TYPE_FRACTION, 2, po);
    if (bd_fin(b, rs, "RESAMPLE") < 0) return -1;
    *out = rs;
    return 0;
}

static int resample_fwd(bld *b, bdesc rs, bdesc x, bdesc y) {
    const char *nn = "OPERATION_RESAMPLE_FWD";
    bdesc o;
    if (bd_new(b, CUDNN_BACKEND_OPERATION_RESAMPLE_FWD_DESCRIPTOR, nn, &o) < 0) return -1;
    if (add_op(b, o) < 0) {
        cudnnBackendDestroyDescriptor(o);
        return -1;
    }
    SETD(b, o, nn, CUDNN_ATTR_OPERATION_RESAMPLE_FWD_DESC, rs);
    SETD(b, o, nn, CUDNN_ATTR_OPERATION_RESAMPLE_FWD_XDESC, x);
    SETD(b, o, nn, CUDNN_ATTR_OPERATION_RESAMPLE_FWD_YDESC, y);
    return bd_fin(b, o, nn);
}

static int pool(bld *b) {
    const tgc_instr *in = b->in;
    const tgc_attrs *a = &in->attrs;
    tgc_cudnn_op *op = b->op;
    const int maxpool = in->code == TGC_OP_MAX_POOL2D || in->code == TGC_OP_MAX_POOL2D_BWD;
    const int bwd = in->code == TGC_OP_MAX_POOL2D_BWD || in->code == TGC_OP_AVG_POOL2D_BWD;
    /* x-shaped and y-shaped tensors */
    const tgc_plan_tensor *X, *Y, *DX = NULL;
    const char *xr, *yr;
    tgc_shape xs;
    if (!bwd) {
        X = operand(b, 0), Y = result(b, 0), xr = "operand x", yr = "result y";
    } else {
        Y = operand(b, 0), yr = "operand dy", DX = result(b, 0);
        X = maxpool ? operand(b, 1) : DX, xr = maxpool ? "operand x" : "result dx";
    }
    if (need4(b, X, xr) < 0 || need4(b, Y, yr) < 0) return -1;
    xs = X->type.shape;
    if (bwd && maxpool && same_shape(b, DX, &xs, "result dx", "operand x") < 0) return -1;
    if (in->code == TGC_OP_AVG_POOL2D_BWD && same_shape(b, DX, &a->shape, "result dx", "attribute shape (x's)") < 0)
        return -1;
    for (int i = 0; i < 2; i++)
        if (a->kernel[i] < 1 || a->stride[i] < 1 || a->pad[i] < 0 || a->pad[i + 2] < 0 || a->kernel[i] > INT_MAX ||
            a->stride[i] > INT_MAX || a->pad[i] > INT_MAX)
            return bfail(b, "kernel, stride or padding out of range");
    /* ceil mode: the overhang past the padded input becomes extra post padding */
    int64_t post[2], overhang = 0;
    for (int i = 0; i < 2; i++) {
        int64_t n = xs.d[2 + i], k = a->kernel[i], s = a->stride[i], lo = a->pad[i], hi = a->pad[i + 2];
        int64_t out = pooled(n, k, s, lo, hi, a->ceil_mode);
        int64_t extra = (out - 1) * s + k - (n + lo + hi);
        post[i] = hi + (extra > 0 ? extra : 0);
        if (extra > 0) overhang = 1;
    }
    if (!maxpool && overhang && a->count_include_pad)
        return bfail(b, "avg_pool2d with ceil_mode=1 and count_include_pad=1 whose last window runs past the padded "
                        "input: PyTorch's divisor leaves the overhang out, neither cuDNN average mode does");

    /* legacy: symmetric padding, no overhang */
    op->legacy = a->pad[0] == a->pad[2] && a->pad[1] == a->pad[3] && !overhang;
    if (op->legacy) {
        int win[2] = {(int)a->kernel[0], (int)a->kernel[1]}, pad[2] = {(int)a->pad[0], (int)a->pad[1]},
            st[2] = {(int)a->stride[0], (int)a->stride[1]}, out[4];
        cudnnPoolingMode_t mode = maxpool ? CUDNN_POOLING_MAX_DETERMINISTIC
                                  : a->count_include_pad ? CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING
                                                         : CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING;
        if (legacy_tensor(b, &op->x, xs.d, (int)(X - b->p->tensors), xr) < 0) return -1;
        CK(b, cudnnCreatePoolingDescriptor(&op->pool), "cudnnCreatePoolingDescriptor");
        CK(b, cudnnSetPoolingNdDescriptor(op->pool, mode, CUDNN_PROPAGATE_NAN, 2, win, pad, st),
           "cudnnSetPoolingNdDescriptor");
        CK(b, cudnnGetPoolingNdForwardOutputDim(op->pool, op->x, 4, out), "cudnnGetPoolingNdForwardOutputDim");
        if (dims_match(b, "cudnnGetPoolingNdForwardOutputDim", out, Y, yr) < 0) return -1;
        if (legacy_tensor(b, &op->y, Y->type.shape.d, (int)(Y - b->p->tensors), yr) < 0) return -1;
    }

    /* the graph */
    bdesc rs;
    if (resample_desc(b, maxpool, post, &rs) < 0) return -1;
    if (!bwd) {
        bdesc x = plan_tensor(b, in->in[0], 0), y = x ? plan_tensor(b, in->out[0], 0) : NULL;
        if (!y || resample_fwd(b, rs, x, y) < 0) return -1;
        return graph(b);
    }
    bdesc dy = plan_tensor(b, in->in[0], 0), dx = dy ? plan_tensor(b, in->out[0], 0) : NULL, x = NULL, y = NULL;
    if (!dx) return -1;
    if (maxpool) {
        /* max_pool2d_bwd(dy, x) has no y: recompute it (virtual) for the resample backward */
        x = plan_tensor(b, in->in[1], 0);
        y = x ? virtual_tensor(b, Y->type.shape.d) : NULL;
        if (!y || resample_fwd(b, rs, x, y) < 0) return -1;
    }
    const char *nn = "OPERATION_RESAMPLE_BWD";
    bdesc o;
    if (bd_new(b, CUDNN_BACKEND_OPERATION_RESAMPLE_BWD_DESCRIPTOR, nn, &o) < 0) return -1;
    if (add_op(b, o) < 0) {
        cudnnBackendDestroyDescriptor(o);
        return -1;
    }
    SETD(b, o, nn, CUDNN_ATTR_OPERATION_RESAMPLE_BWD_DESC, rs);
    SETD(b, o, nn, CUDNN_ATTR_OPERATION_RESAMPLE_BWD_DYDESC, dy);
    SETD(b, o, nn, CUDNN_ATTR_OPERATION_RESAMPLE_BWD_DXDESC, dx);
    if (maxpool) {
        SETD(b, o, nn, CUDNN_ATTR_OPERATION_RESAMPLE_BWD_XDESC, x);
        SETD(b, o, nn, CUDNN_ATTR_OPERATION_RESAMPLE_BWD_YDESC, y);
    }
    if (bd_fin(b, o, nn) < 0) return -1;
    return graph(b);
}

/* ---- the public entry points ---------------------------------------------------------------------------- */

void tgc_cudnn_op_free(tgc_cudnn_op *op) {
    if (!op) return;
    if (op->graph) cudnnBackendDestroyDescriptor(op->graph);
    for (int i = 0; i < op->n_ops; i++) cudnnBackendDestroyDescriptor(op->op[i]);
    for (int i = 0; i < op->n_aux; i++) cudnnBackendDestroyDescriptor(op->aux[i]);
    for (int i = 0; i < op->n_tensors; i++) cudnnBackendDestroyDescriptor(op->tensor[i]);
    if (op->x) cudnnDestroyTensorDescriptor(op->x);
    if (op->y) cudnnDestroyTensorDescriptor(op->y);
    if (op->stats) cudnnDestroyTensorDescriptor(op->stats);
    if (op->w) cudnnDestroyFilterDescriptor(op->w);
    if (op->conv) cudnnDestroyConvolutionDescriptor(op->conv);
    if (op->pool) cudnnDestroyPoolingDescriptor(op->pool);
    if (op->act) cudnnDestroyActivationDescriptor(op->act);
    memset(op, 0, sizeof *op);
}

int tgc_cudnn_op_build(const tgc_plan *p, const tgc_program *pr, int k, const tgc_cudnn_opts *o, tgc_cudnn_op *op,
                       tgc_err *err) {
    memset(op, 0, sizeof *op);
    if (k < 0 || k >= pr->n_instr) return tgc_fail(err, "cuDNN: %s has no instruction %d", pr->name, k);
    const tgc_instr *in = &pr->instr[k];
    /* the instruction's data dtype: its first operand's (x, or dy for the backwards), bf16/f16 in a
     * mixed-precision plan; o NULL describes it as it is */
    tgc_dtype data = TGC_F32;
    if (in->n_in > 0 && in->in[0] >= 0 && in->in[0] < p->n_tensors &&
        (p->tensors[in->in[0]].type.dtype == TGC_BF16 || p->tensors[in->in[0]].type.dtype == TGC_F16))
        data = p->tensors[in->in[0]].type.dtype;
    tgc_cudnn_opts def = tgc_cudnn_opts_default();
    def.dtype = data;
    if (!o) o = &def;
    bld b = {p, pr, k, in, o, op, err, TGC_CUDNN_UID_LOCAL, data_type(o->dtype), CUDNN_DATA_FLOAT, data, o->layout};
    if ((unsigned)in->code >= TGC_OP_COUNT) return tgc_fail(err, "cuDNN: %s instruction %d has opcode %d", pr->name, k, (int)in->code);
    op->kind = tgc_cudnn_kind_of(in->code);
    op->code = in->code;
    op->program = pr->name;
    op->instr = k;
    if (op->kind == TGC_CUDNN_NONE) return bfail(&b, "not a convolution, batch norm or pooling");
    if (o->dtype != TGC_F32 && o->dtype != TGC_F16 && o->dtype != TGC_BF16)
        return bfail(&b, "data type %s is not one cuDNN convolves in", tgc_dtype_name(o->dtype));
    const tgc_op_info *info = &tgc_op_table[in->code];
    if (in->n_in != info->n_in || in->n_out != info->n_out)
        return bfail(&b, "%d operands and %d results, the op has %d and %d", in->n_in, in->n_out, info->n_in,
                     info->n_out);
    for (int j = 0; j < in->n_in; j++)
        if (in->in[j] < 0 || in->in[j] >= p->n_tensors) return bfail(&b, "operand %d is tensor %d", j, in->in[j]);
    for (int j = 0; j < in->n_out; j++)
        if (in->out[j] < 0 || in->out[j] >= p->n_tensors) return bfail(&b, "result %d is tensor %d", j, in->out[j]);
    /* NHWC activations (the plan's layout pass): the op's masked rank-4 operands share one layout */
    for (int j = 0; j < in->n_in + in->n_out; j++) {
        const tgc_type *t = &p->tensors[j < in->n_in ? in->in[j] : in->out[j - in->n_in]].type;
        if (t->shape.rank == 4 && t->layout == TGC_LAYOUT_NHWC) b.act = TGC_CUDNN_NHWC;
    }
    char discard[256];
    last_reason(discard, sizeof discard); /* a stale reason must not be reported as this op's */
    int rc;
    switch (op->kind) {
    case TGC_CUDNN_CONV_FWD:
    case TGC_CUDNN_CONV_BWD_DATA:
    case TGC_CUDNN_CONV_BWD_FILTER: rc = conv(&b); break;
    case TGC_CUDNN_BN_FWD:
    case TGC_CUDNN_BN_BWD: rc = norm(&b); break;
    default: rc = pool(&b); break;
    }
    if (rc < 0) tgc_cudnn_op_free(op);
    return rc;
}

int tgc_cudnn_validate_plan(const tgc_plan *p, const tgc_cudnn_opts *o, tgc_cudnn_counts *c, tgc_err *err) {
    tgc_cudnn_counts local;
    if (!c) {
        memset(&local, 0, sizeof local);
        c = &local;
    }
    int failed = 0;
    for (int pi = 0; pi < p->n_programs; pi++) {
        const tgc_program *pr = &p->programs[pi];
        for (int k = 0; k < pr->n_instr; k++) {
            if ((unsigned)pr->instr[k].code >= TGC_OP_COUNT || tgc_cudnn_kind_of(pr->instr[k].code) == TGC_CUDNN_NONE)
                continue;
            tgc_cudnn_op op;
            tgc_err e;
            if (tgc_cudnn_op_build(p, pr, k, o, &op, &e) < 0) {
                if (!failed && err) *err = e;
                failed++;
                c->failures++;
                continue;
            }
            c->validated[op.kind]++;
            c->legacy += op.legacy;
            c->graphs++;
            c->ops += op.n_ops;
            c->tensors += op.n_tensors;
            tgc_cudnn_op_free(&op);
        }
    }
    return failed ? -1 : 0;
}

/* ---- execution plans -------------------------------------------------------------------------------------- */

int tgc_cudnn_devprop_from_json(const char *json, cudnnBackendDescriptor_t *out, tgc_err *err) {
    *out = NULL;
    char why[512];
    cudnnStatus_t s = cudnnBackendCreateDescriptor(CUDNN_BACKEND_DEVICEPROP_DESCRIPTOR, out);
    if (s == CUDNN_STATUS_SUCCESS)
        s = cudnnBackendSetAttribute(*out, CUDNN_ATTR_DEVICEPROP_JSON_REPRESENTATION, CUDNN_TYPE_CHAR,
                                     (int64_t)strlen(json) + 1, json);
    if (s == CUDNN_STATUS_SUCCESS) s = cudnnBackendFinalize(*out);
    if (s == CUDNN_STATUS_SUCCESS) return 0;
    last_reason(why, sizeof why);
    if (*out) cudnnBackendDestroyDescriptor(*out);
    *out = NULL;
    return tgc_fail(err, "cuDNN: device properties from JSON: %s (%d)%s%s", cudnnGetErrorString(s), (int)s,
                    why[0] ? ": " : "", why);
}

int tgc_cudnn_devprop_from_handle(cudnnHandle_t h, cudnnBackendDescriptor_t *out, char **json, tgc_err *err) {
    *out = NULL;
    if (json) *json = NULL;
    char why[512];
    cudnnStatus_t s = cudnnBackendCreateDescriptor(CUDNN_BACKEND_DEVICEPROP_DESCRIPTOR, out);
    if (s == CUDNN_STATUS_SUCCESS)
        s = cudnnBackendSetAttribute(*out, CUDNN_ATTR_DEVICEPROP_HANDLE, CUDNN_TYPE_HANDLE, 1, &h);
    if (s == CUDNN_STATUS_SUCCESS) s = cudnnBackendFinalize(*out);
    if (s == CUDNN_STATUS_SUCCESS && json) {
        int64_t n = 0;
        s = cudnnBackendGetAttribute(*out, CUDNN_ATTR_DEVICEPROP_JSON_REPRESENTATION, CUDNN_TYPE_CHAR, 0, &n, NULL);
        if (s == CUDNN_STATUS_SUCCESS && n > 0) {
            *json = tgc_calloc((size_t)n + 1, 1);
            s = cudnnBackendGetAttribute(*out, CUDNN_ATTR_DEVICEPROP_JSON_REPRESENTATION, CUDNN_TYPE_CHAR, n, &n,
                                         *json);
        }
    }
    if (s == CUDNN_STATUS_SUCCESS) return 0;
    last_reason(why, sizeof why);
    if (*out) cudnnBackendDestroyDescriptor(*out);
    *out = NULL;
    if (json) {
        free(*json);
        *json = NULL;
    }
    return tgc_fail(err, "cuDNN: device properties of the handle's device: %s (%d)%s%s", cudnnGetErrorString(s),
                    (int)s, why[0] ? ": " : "", why);
}

#define MAX_CONFIGS 16

int tgc_cudnn_exec_plan(const tgc_cudnn_op *op, cudnnBackendDescriptor_t devprop, cudnnBackendDescriptor_t *plan,
                        int64_t *workspace, int *configs_tried, tgc_err *err) {
    return tgc_cudnn_exec_plan_ex(op, devprop, TGC_CUDNN_TENSOR_CORES, -1, plan, workspace, configs_tried, err);
}

/* Whether an engine configuration's engine has a numerical note the flags rule out: TENSOR_CORE (on f32 data,
 * TF32 rounding) without TGC_CUDNN_TENSOR_CORES, NONDETERMINISTIC with TGC_CUDNN_DETERMINISTIC. */
static int ruled_out(bdesc cfg, int flags) {
    bdesc eng = NULL;
    int64_t cnt = 0, n = 0;
    int tc = 0;
    cudnnBackendNumericalNote_t notes[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
    if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &eng)) return 0;
    if (!cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cnt, &eng) &&
        !cudnnBackendGetAttribute(eng, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                                  CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &n, notes))
        for (int64_t i = 0; i < n; i++)
            tc |= (notes[i] == CUDNN_NUMERICAL_NOTE_TENSOR_CORE && !(flags & TGC_CUDNN_TENSOR_CORES)) ||
                  (notes[i] == CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC && (flags & TGC_CUDNN_DETERMINISTIC));
    cudnnBackendDestroyDescriptor(eng);
    return tc;
}

/* An execution plan of cfg (a finalized engine configuration) for devprop: 0, or the failing status with
 * cuDNN's reason in why. A plan over max_workspace (>= 0) is refused with that as the reason. */
static cudnnStatus_t plan_of(bdesc cfg, bdesc devprop, int64_t max_workspace, bdesc *plan, int64_t *workspace,
                             char *why, size_t why_size) {
    bdesc pl = NULL;
    *plan = NULL;
    cudnnStatus_t t = cudnnBackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &pl);
    if (!t) t = cudnnBackendSetAttribute(pl, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                         &cfg);
    if (!t && devprop)
        t = cudnnBackendSetAttribute(pl, CUDNN_ATTR_EXECUTION_PLAN_DEVICEPROP, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                     &devprop);
    if (!t) t = cudnnBackendFinalize(pl);
    int64_t cnt = 0;
    if (!t)
        t = cudnnBackendGetAttribute(pl, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &cnt,
                                     workspace);
    if (t) {
        last_reason(why, why_size);
    } else if (max_workspace >= 0 && *workspace > max_workspace) {
        t = CUDNN_STATUS_NOT_SUPPORTED;
        snprintf(why, why_size, "workspace of %lld bytes over the limit of %lld", (long long)*workspace,
                 (long long)max_workspace);
    }
    if (t) {
        if (pl) cudnnBackendDestroyDescriptor(pl);
        return t;
    }
    *plan = pl;
    return CUDNN_STATUS_SUCCESS;
}

int tgc_cudnn_choice_of(cudnnBackendDescriptor_t cfg, tgc_cudnn_choice *out) {
    memset(out, 0, sizeof *out);
    bdesc eng = NULL, kc[TGC_CUDNN_MAX_KNOBS] = {0};
    int64_t cnt = 0, n = 0;
    cudnnStatus_t s = cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &eng);
    if (!s) s = cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cnt, &eng);
    if (!s) s = cudnnBackendGetAttribute(eng, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &cnt, &out->engine);
    for (int i = 0; i < TGC_CUDNN_MAX_KNOBS && !s; i++)
        s = cudnnBackendCreateDescriptor(CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR, &kc[i]);
    if (!s)
        s = cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_KNOB_CHOICES, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                     TGC_CUDNN_MAX_KNOBS, &n, kc);
    for (int64_t i = 0; !s && i < n && i < TGC_CUDNN_MAX_KNOBS; i++) {
        cudnnBackendKnobType_t kt;
        s = cudnnBackendGetAttribute(kc[i], CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE, CUDNN_TYPE_KNOB_TYPE, 1, &cnt, &kt);
        if (!s)
            s = cudnnBackendGetAttribute(kc[i], CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE, CUDNN_TYPE_INT64, 1, &cnt,
                                         &out->knob[i][1]);
        out->knob[i][0] = (int64_t)kt;
        out->n_knobs = (int)(i + 1);
    }
    for (int i = 0; i < TGC_CUDNN_MAX_KNOBS; i++)
        if (kc[i]) cudnnBackendDestroyDescriptor(kc[i]);
    if (eng) cudnnBackendDestroyDescriptor(eng);
    return s || n > TGC_CUDNN_MAX_KNOBS ? -1 : 0;
}

static int same_choice(const tgc_cudnn_choice *a, const tgc_cudnn_choice *b) {
    if (a->engine != b->engine || a->n_knobs != b->n_knobs) return 0;
    for (int i = 0; i < a->n_knobs; i++)
        if (a->knob[i][0] != b->knob[i][0] || a->knob[i][1] != b->knob[i][1]) return 0;
    return 1;
}

void tgc_cudnn_candidates_free(tgc_cudnn_candidate *c, int n) {
    for (int i = 0; i < n; i++)
        if (c[i].plan) cudnnBackendDestroyDescriptor(c[i].plan), c[i].plan = NULL;
}

int tgc_cudnn_candidates(const tgc_cudnn_op *op, cudnnBackendDescriptor_t devprop, int flags, int64_t max_workspace,
                         int max, tgc_cudnn_candidate *out, int *n_out, int *configs_tried, tgc_err *err) {
    int got = 0, tried = 0, skipped_tc = 0;
    cudnnStatus_t last = CUDNN_STATUS_SUCCESS;
    char why[512] = "";
    static const cudnnBackendHeurMode_t modes[2] = {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK};
    for (int m = 0; m < 2 && got < max; m++) {
        bdesc heur = NULL, cfg[MAX_CONFIGS] = {0};
        int64_t n = 0;
        cudnnStatus_t s = cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, &heur);
        if (!s) s = cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                             &op->graph);
        if (!s) s = cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &modes[m]);
        if (!s && devprop)
            s = cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_DEVICEPROP, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &devprop);
        if (!s) s = cudnnBackendFinalize(heur);
        for (int i = 0; i < MAX_CONFIGS && !s; i++) s = cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &cfg[i]);
        if (!s)
            s = cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, MAX_CONFIGS,
                                         &n, cfg);
        if (s) {
            last = s;
            last_reason(why, sizeof why);
        }
        for (int i = 0; !s && i < n && i < MAX_CONFIGS && got < max; i++) {
            if (ruled_out(cfg[i], flags)) {
                skipped_tc++;
                continue;
            }
            tgc_cudnn_choice ch;
            int known = tgc_cudnn_choice_of(cfg[i], &ch) == 0, dup = 0;
            for (int j = 0; known && j < got && !dup; j++) dup = same_choice(&out[j].choice, &ch);
            if (dup) continue; /* the fallback list repeats mode A's */
            tried++;
            bdesc pl = NULL;
            int64_t ws = 0;
            cudnnStatus_t t = plan_of(cfg[i], devprop, max_workspace, &pl, &ws, why, sizeof why);
            if (t) {
                last = t;
                continue;
            }
            out[got].plan = pl;
            out[got].workspace = ws;
            out[got].choice = ch;
            out[got].known = known;
            got++;
        }
        for (int i = 0; i < MAX_CONFIGS; i++)
            if (cfg[i]) cudnnBackendDestroyDescriptor(cfg[i]);
        if (heur) cudnnBackendDestroyDescriptor(heur);
    }
    if (configs_tried) *configs_tried = tried;
    *n_out = got;
    if (got) return 0;
    if (last == CUDNN_STATUS_SUCCESS)
        return tgc_fail(err, "cuDNN: %s instruction %d (%s): engine heuristics gave no configuration%s", op->program,
                        op->instr, tgc_op_table[op->code].name,
                        skipped_tc ? " once tensor-core (TF32 for f32 data; TGC_ALLOW_TF32=1 allows them) or, with "
                                     "randomness.deterministic, nondeterministic engines were left out"
                                   : "");
    return tgc_fail(err, "cuDNN: %s instruction %d (%s): no execution plan finalized (%d configurations): %s (%d)%s%s",
                    op->program, op->instr, tgc_op_table[op->code].name, tried, cudnnGetErrorString(last), (int)last,
                    why[0] ? ": " : "", why);
}

int tgc_cudnn_exec_plan_ex(const tgc_cudnn_op *op, cudnnBackendDescriptor_t devprop, int flags,
                           int64_t max_workspace, cudnnBackendDescriptor_t *plan, int64_t *workspace,
                           int *configs_tried, tgc_err *err) {
    tgc_cudnn_candidate c;
    int n = 0;
    *plan = NULL;
    *workspace = 0;
    if (tgc_cudnn_candidates(op, devprop, flags, max_workspace, 1, &c, &n, configs_tried, err) < 0) return -1;
    *plan = c.plan;
    *workspace = c.workspace;
    return 0;
}

int tgc_cudnn_plan_from_choice(const tgc_cudnn_op *op, cudnnBackendDescriptor_t devprop, const tgc_cudnn_choice *ch,
                               int flags, int64_t max_workspace, cudnnBackendDescriptor_t *plan, int64_t *workspace,
                               tgc_err *err) {
    *plan = NULL;
    *workspace = 0;
    bdesc eng = NULL, cfg = NULL, kc[TGC_CUDNN_MAX_KNOBS] = {0};
    const char *step = "the engine";
    char why[512] = "";
    cudnnStatus_t s = ch->n_knobs < 0 || ch->n_knobs > TGC_CUDNN_MAX_KNOBS ? CUDNN_STATUS_BAD_PARAM
                                                                           : CUDNN_STATUS_SUCCESS;
    if (!s) s = cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &eng);
    if (!s) s = cudnnBackendSetAttribute(eng, CUDNN_ATTR_ENGINE_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &op->graph);
    if (!s) s = cudnnBackendSetAttribute(eng, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &ch->engine);
    if (!s && devprop)
        s = cudnnBackendSetAttribute(eng, CUDNN_ATTR_ENGINE_DEVICEPROP, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &devprop);
    if (!s) s = cudnnBackendFinalize(eng);
    if (!s) step = "a knob choice";
    for (int i = 0; !s && i < ch->n_knobs; i++) {
        cudnnBackendKnobType_t kt = (cudnnBackendKnobType_t)ch->knob[i][0];
        s = cudnnBackendCreateDescriptor(CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR, &kc[i]);
        if (!s) s = cudnnBackendSetAttribute(kc[i], CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE, CUDNN_TYPE_KNOB_TYPE, 1, &kt);
        if (!s) s = cudnnBackendSetAttribute(kc[i], CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE, CUDNN_TYPE_INT64, 1, &ch->knob[i][1]);
        if (!s) s = cudnnBackendFinalize(kc[i]);
    }
    if (!s) step = "the engine configuration";
    if (!s) s = cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &cfg);
    if (!s) s = cudnnBackendSetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &eng);
    if (!s && ch->n_knobs)
        s = cudnnBackendSetAttribute(cfg, CUDNN_ATTR_ENGINECFG_KNOB_CHOICES, CUDNN_TYPE_BACKEND_DESCRIPTOR, ch->n_knobs, kc);
    if (!s) s = cudnnBackendFinalize(cfg);
    if (s) last_reason(why, sizeof why);
    if (!s && ruled_out(cfg, flags)) {
        s = CUDNN_STATUS_NOT_SUPPORTED;
        snprintf(why, sizeof why, "the engine's numerical notes are ruled out (TF32 or nondeterministic)");
    }
    if (!s) {
        step = "the execution plan";
        s = plan_of(cfg, devprop, max_workspace, plan, workspace, why, sizeof why);
    }
    for (int i = 0; i < TGC_CUDNN_MAX_KNOBS; i++)
        if (kc[i]) cudnnBackendDestroyDescriptor(kc[i]);
    if (cfg) cudnnBackendDestroyDescriptor(cfg);
    if (eng) cudnnBackendDestroyDescriptor(eng);
    if (!s) return 0;
    return tgc_fail(err, "cuDNN: %s instruction %d (%s): engine %lld with %d knob choices: %s: %s (%d)%s%s", op->program,
                    op->instr, tgc_op_table[op->code].name, (long long)ch->engine, ch->n_knobs, step,
                    cudnnGetErrorString(s), (int)s, why[0] ? ": " : "", why);
}

/* What an instruction's execution plan depends on: op, shapes, attributes, and tensor alignments. */
char *tgc_cudnn_signature(const tgc_plan *p, const tgc_instr *in, int flags, int64_t max_workspace) {
    tgc_buf b = {0};
    const tgc_attrs *a = &in->attrs;
    tgc_buf_printf(&b, "%s", tgc_op_table[in->code].name);
    for (int j = 0; j < in->n_in + in->n_out; j++) {
        const tgc_plan_tensor *t = &p->tensors[j < in->n_in ? in->in[j] : in->out[j - in->n_in]];
        char sh[96];
        tgc_shape_str(&t->type.shape, sh, sizeof sh);
        tgc_buf_printf(&b, " %s:%s@%lld", sh, tgc_dtype_name(t->type.dtype), (long long)alignment(t));
        if (t->type.layout != TGC_LAYOUT_ROW) tgc_buf_printf(&b, ":%s", tgc_layout_name(t->type.layout));
    }
    tgc_buf_printf(&b, " k%lld,%lld s%lld,%lld p%lld,%lld,%lld,%lld d%lld,%lld g%lld c%d i%d e%.17g m%.17g",
                   (long long)a->kernel[0], (long long)a->kernel[1], (long long)a->stride[0], (long long)a->stride[1],
                   (long long)a->pad[0], (long long)a->pad[1], (long long)a->pad[2], (long long)a->pad[3],
                   (long long)a->dilation[0], (long long)a->dilation[1], (long long)a->groups, a->ceil_mode,
                   a->count_include_pad, a->eps, a->momentum);
    if (flags >= 0) tgc_buf_printf(&b, " f%d w%lld", flags, (long long)max_workspace);
    tgc_buf_u8(&b, 0);
    return (char *)b.data;
}

int tgc_cudnn_plan_all(const tgc_plan *p, const tgc_cudnn_opts *o, cudnnBackendDescriptor_t devprop,
                       tgc_cudnn_gpu_counts *c, FILE *log, tgc_err *err) {
    tgc_cudnn_gpu_counts local;
    if (!c) c = &local;
    memset(c, 0, sizeof *c);
    int rc = 0;
    /* one execution plan per distinct signature: the rest share its outcome */
    char **sigs = NULL;
    int *outcome = NULL, n_sigs = 0, cap = 0, cap2 = 0;
    for (int pi = 0; pi < p->n_programs && rc == 0; pi++) {
        const tgc_program *pr = &p->programs[pi];
        for (int k = 0; k < pr->n_instr && rc == 0; k++) {
            if ((unsigned)pr->instr[k].code >= TGC_OP_COUNT || tgc_cudnn_kind_of(pr->instr[k].code) == TGC_CUDNN_NONE)
                continue;
            tgc_cudnn_kind kd = tgc_cudnn_kind_of(pr->instr[k].code);
            char *sig = tgc_cudnn_signature(p, &pr->instr[k], -1, -1);
            int found = -1;
            for (int i = 0; i < n_sigs && found < 0; i++)
                if (!strcmp(sigs[i], sig)) found = i;
            if (found >= 0) {
                free(sig);
                if (outcome[found]) c->planned[kd]++;
                else c->no_engine[kd]++;
                continue;
            }
            TGC_GROW(sigs, cap, n_sigs + 1);
            TGC_GROW(outcome, cap2, n_sigs + 1);
            sigs[n_sigs] = sig;
            outcome[n_sigs++] = 0;
            c->distinct++;
            if (pr->instr[k].code == TGC_OP_MAX_POOL2D_BWD &&
                p->tensors[pr->instr[k].in[1]].type.layout == TGC_LAYOUT_NHWC) {
                /* the executor runs the hand-written kernel; cuDNN's engine configurations of this graph crash
                 * (see the header): not enumerated */
                c->no_engine[kd]++;
                if (log) fprintf(log, "not planned: NHWC max_pool2d_bwd (%s instruction %d), a hand-written kernel\n",
                                 pr->name, k);
                continue;
            }
            tgc_cudnn_op op;
            if (tgc_cudnn_op_build(p, pr, k, o, &op, err) < 0) {
                rc = -1;
                break;
            }
            bdesc plan = NULL;
            int64_t ws = 0;
            int tried = 0;
            tgc_err e;
            if (tgc_cudnn_exec_plan(&op, devprop, &plan, &ws, &tried, &e) == 0) {
                outcome[n_sigs - 1] = 1;
                c->planned[kd]++;
                if (ws > c->max_workspace) c->max_workspace = ws;
                cudnnBackendDestroyDescriptor(plan);
            } else if (op.legacy) {
                c->no_engine[kd]++;
                if (log) fprintf(log, "no engine, legacy fallback: %s\n", e.msg);
            } else {
                *err = e;
                rc = -1;
            }
            tgc_cudnn_op_free(&op);
        }
    }
    for (int i = 0; i < n_sigs; i++) free(sigs[i]);
    free(sigs);
    free(outcome);
    return rc;
}

int tgc_cudnn_gpu_check(const tgc_plan *p, const tgc_cudnn_opts *o, const char *devprop_json_path,
                        tgc_cudnn_gpu_counts *c, FILE *log, tgc_err *err) {
    tgc_cudnn_gpu_counts local;
    if (!c) c = &local;
    memset(c, 0, sizeof *c);
    cudnnHandle_t h = NULL;
    cudnnStatus_t s = cudnnCreate(&h);
    if (s != CUDNN_STATUS_SUCCESS) {
        char why[512];
        last_reason(why, sizeof why);
        if (log) fprintf(log, "cudnnCreate: %s (%d)%s%s\n", cudnnGetErrorString(s), (int)s, why[0] ? ": " : "", why);
        return 1;
    }
    bdesc dp = NULL;
    char *json = NULL;
    int rc = tgc_cudnn_devprop_from_handle(h, &dp, devprop_json_path ? &json : NULL, err);
    if (rc == 0 && devprop_json_path && json) {
        FILE *f = fopen(devprop_json_path, "w");
        if (!f || fputs(json, f) < 0 || fclose(f) != 0) rc = tgc_fail(err, "cannot write %s", devprop_json_path);
        else if (log) fprintf(log, "device properties (cuDNN JSON) written to %s\n", devprop_json_path);
    }
    if (rc == 0) rc = tgc_cudnn_plan_all(p, o, dp, c, log, err);
    free(json);
    if (dp) cudnnBackendDestroyDescriptor(dp);
    cudnnDestroy(h);
    return rc;
}
