/* ir/ops.c - the op table: for every row of ir/ops.def its shape rule (infer_*), gradient rule (grad_*)
 * and cost (cost_*). The table is built with the TGC_OP X-macro from static functions named after the
 * op, so a row added to ops.def without its three functions (or a `#define grad_<name> NULL` line saying
 * it has no gradient) does not compile.
 *
 * Shape rules fail with a short message; tgc_emit and the verifier prefix it with the op's name, scope
 * and operand types.
 */
#include <math.h>
#include <string.h>

#include "ir/ir.h"
#include "ir/ops_det.h"

/* Dimensions and attribute values larger than this are refused, so that shape arithmetic never
 * overflows int64 (2^40 elements per axis is far beyond any real tensor). */
#define DIM_LIMIT ((int64_t)1 << 40)

#define TY(v) (&g->vals[(v)].type)
#define IN(k) (op->in[(k)])

typedef int infer_fn(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err);
typedef int grad_fn(tgc_graph *g, int op_index, const int *dy, const unsigned char *need, int *dx,
                    tgc_err *err);
typedef void cost_fn(const tgc_graph *g, const tgc_op *op, tgc_cost *out);

/* ================================ shape-rule helpers ================================ */

static const char *tstr(const tgc_type *t, char *buf, size_t n) {
    char s[160];
    tgc_shape_str(&t->shape, s, sizeof s);
    snprintf(buf, n, "%s%s", tgc_dtype_name(t->dtype), s);
    return buf;
}

static int64_t floordiv(int64_t a, int64_t b) {
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}

static int64_t ceildiv(int64_t a, int64_t b) { return -floordiv(-a, b); }

static int want_rank(const tgc_type *t, int rank, const char *what, tgc_err *err) {
    if (t->shape.rank != rank) {
        char b[200];
        return tgc_fail(err, "%s must be %d-D, got %s", what, rank, tstr(t, b, sizeof b));
    }
    return 0;
}

static int want_dtype(const tgc_type *t, tgc_dtype dt, const char *what, tgc_err *err) {
    if (t->dtype != dt) {
        char b[200];
        return tgc_fail(err, "%s must be %s, got %s", what, tgc_dtype_name(dt), tstr(t, b, sizeof b));
    }
    return 0;
}

static int want_f32_scalar(const tgc_type *t, const char *what, tgc_err *err) {
    if (t->dtype != TGC_F32 || t->shape.rank != 0) {
        char b[200];
        return tgc_fail(err, "%s must be an f32 scalar (f32[]), got %s", what, tstr(t, b, sizeof b));
    }
    return 0;
}

static int want_same(const tgc_type *a, const char *an, const tgc_type *b, const char *bn, tgc_err *err) {
    if (a->dtype != b->dtype || !tgc_shape_eq(&a->shape, &b->shape)) {
        char x[200], y[200];
        return tgc_fail(err, "%s %s and %s %s must have the same type", an, tstr(a, x, sizeof x), bn,
                        tstr(b, y, sizeof y));
    }
    return 0;
}

/* A float tensor operand: f32, bf16 or f16 (the op's dtype rule allows the low-precision ones). */
static int want_float(const tgc_type *t, const char *what, tgc_err *err) {
    if (!tgc_dtype_is_float(t->dtype)) {
        char b[200];
        return tgc_fail(err, "%s must be f32, bf16 or f16, got %s", what, tstr(t, b, sizeof b));
    }
    return 0;
}

/* Two float operands of one dtype (shapes checked by the caller). */
static int want_same_float(const tgc_type *a, const char *an, const tgc_type *b, const char *bn, tgc_err *err) {
    if (want_float(a, an, err) < 0) return -1;
    if (a->dtype != b->dtype) {
        char x[200], y[200];
        return tgc_fail(err, "%s %s and %s %s must have the same dtype", an, tstr(a, x, sizeof x), bn,
                        tstr(b, y, sizeof y));
    }
    return 0;
}

/* A vector [C] (BN parameters, biases). */
static int want_vec(const tgc_type *t, int64_t c, const char *what, tgc_err *err) {
    if (t->dtype != TGC_F32 || t->shape.rank != 1 || t->shape.d[0] != c) {
        char b[200];
        return tgc_fail(err, "%s must be f32[%lld], got %s", what, (long long)c, tstr(t, b, sizeof b));
    }
    return 0;
}

/* attrs.shape as a result shape: valid rank, every dimension positive. */
static int want_attr_shape(const tgc_shape *s, int rank, tgc_err *err) {
    if (s->rank < 0 || s->rank > TGC_MAX_RANK || (rank >= 0 && s->rank != rank))
        return tgc_fail(err, "attribute shape has rank %d, expected %d", s->rank,
                        rank >= 0 ? rank : TGC_MAX_RANK);
    for (int i = 0; i < s->rank; i++)
        if (s->d[i] < 1 || s->d[i] > DIM_LIMIT) {
            char b[160];
            tgc_shape_str(s, b, sizeof b);
            return tgc_fail(err, "attribute shape %s has a non-positive or huge dimension", b);
        }
    return 0;
}

static int check_pair(const int64_t *v, int64_t lo, const char *name, tgc_err *err) {
    for (int i = 0; i < 2; i++)
        if (v[i] < lo || v[i] > DIM_LIMIT)
            return tgc_fail(err, "%s=[%lld,%lld] must be at least %lld", name, (long long)v[0],
                            (long long)v[1], (long long)lo);
    return 0;
}

static int check_pads(const int64_t *p, tgc_err *err) {
    for (int i = 0; i < 4; i++)
        if (p[i] < 0 || p[i] > DIM_LIMIT)
            return tgc_fail(err, "pad=[%lld,%lld,%lld,%lld] must be non-negative", (long long)p[0],
                            (long long)p[1], (long long)p[2], (long long)p[3]);
    return 0;
}

/* PyTorch's convolution output size: floor((H + pads - dil*(k-1) - 1) / stride) + 1. */
static int conv_shape(const tgc_attrs *a, const tgc_shape *x, const tgc_shape *w, tgc_shape *y,
                      tgc_err *err) {
    if (x->rank != 4) return tgc_fail(err, "input must be 4-D (NCHW), got rank %d", x->rank);
    if (w->rank != 4) return tgc_fail(err, "weight must be 4-D (OIHW), got rank %d", w->rank);
    if (a->groups < 1 || a->groups > DIM_LIMIT)
        return tgc_fail(err, "groups=%lld must be at least 1", (long long)a->groups);
    if (check_pair(a->stride, 1, "stride", err) < 0 || check_pair(a->dilation, 1, "dilation", err) < 0 ||
        check_pads(a->pad, err) < 0)
        return -1;
    for (int i = 0; i < 4; i++)
        if (x->d[i] < 1 || w->d[i] < 1) return tgc_fail(err, "operand dimensions must be positive");
    if (x->d[1] != w->d[1] * a->groups)
        return tgc_fail(err, "input has %lld channels but the weight expects %lld (%lld per group x groups=%lld)",
                        (long long)x->d[1], (long long)(w->d[1] * a->groups), (long long)w->d[1],
                        (long long)a->groups);
    if (w->d[0] % a->groups != 0)
        return tgc_fail(err, "output channels %lld are not divisible by groups=%lld", (long long)w->d[0],
                        (long long)a->groups);
    int64_t ho = floordiv(x->d[2] + a->pad[0] + a->pad[2] - a->dilation[0] * (w->d[2] - 1) - 1, a->stride[0]) + 1;
    int64_t wo = floordiv(x->d[3] + a->pad[1] + a->pad[3] - a->dilation[1] * (w->d[3] - 1) - 1, a->stride[1]) + 1;
    if (ho < 1 || wo < 1)
        return tgc_fail(err, "output size %lldx%lld is not positive (input %lldx%lld, kernel %lldx%lld, "
                        "dilation [%lld,%lld], pad [%lld,%lld,%lld,%lld])",
                        (long long)ho, (long long)wo, (long long)x->d[2], (long long)x->d[3],
                        (long long)w->d[2], (long long)w->d[3], (long long)a->dilation[0],
                        (long long)a->dilation[1], (long long)a->pad[0], (long long)a->pad[1],
                        (long long)a->pad[2], (long long)a->pad[3]);
    *y = tgc_shape4(x->d[0], w->d[0], ho, wo);
    return 0;
}

/* PyTorch's pooling output size; with ceil_mode the last window must start inside the input or the
 * left/top padding, otherwise it is dropped. */
static int64_t pool_len(int64_t in, int64_t k, int64_t pl, int64_t pr, int64_t s, int ceil_mode) {
    int64_t num = in + pl + pr - (k - 1) - 1;
    int64_t out = (ceil_mode ? ceildiv(num, s) : floordiv(num, s)) + 1;
    if (ceil_mode && (out - 1) * s >= in + pl) out--;
    return out;
}

static int pool_shape(const tgc_attrs *a, const tgc_shape *x, tgc_shape *y, tgc_err *err) {
    if (x->rank != 4) return tgc_fail(err, "input must be 4-D (NCHW), got rank %d", x->rank);
    if (check_pair(a->kernel, 1, "kernel", err) < 0 || check_pair(a->stride, 1, "stride", err) < 0 ||
        check_pads(a->pad, err) < 0)
        return -1;
    /* as PyTorch: a window lying wholly in the padding would have no input element */
    for (int i = 0; i < 4; i++)
        if (a->pad[i] > a->kernel[i % 2] / 2)
            return tgc_fail(err, "pad=[%lld,%lld,%lld,%lld] must be at most half the kernel [%lld,%lld]",
                            (long long)a->pad[0], (long long)a->pad[1], (long long)a->pad[2],
                            (long long)a->pad[3], (long long)a->kernel[0], (long long)a->kernel[1]);
    int64_t ho = pool_len(x->d[2], a->kernel[0], a->pad[0], a->pad[2], a->stride[0], a->ceil_mode);
    int64_t wo = pool_len(x->d[3], a->kernel[1], a->pad[1], a->pad[3], a->stride[1], a->ceil_mode);
    if (ho < 1 || wo < 1)
        return tgc_fail(err, "output size %lldx%lld is not positive (input %lldx%lld, kernel [%lld,%lld])",
                        (long long)ho, (long long)wo, (long long)x->d[2], (long long)x->d[3],
                        (long long)a->kernel[0], (long long)a->kernel[1]);
    *y = tgc_shape4(x->d[0], x->d[1], ho, wo);
    return 0;
}

/* Results infer as ROW: a value's layout is the layout pass's decision (relayout's own rule aside). */
static void set_out(tgc_type *out, tgc_dtype dt, tgc_shape s) {
    out->dtype = dt;
    out->shape = s;
    out->layout = TGC_LAYOUT_ROW;
}

/* ================================ shape rules (forward) ================================ */

static int infer_conv2d(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    if (want_same_float(TY(IN(0)), "input", TY(IN(1)), "weight", err) < 0) return -1;
    tgc_shape y;
    if (conv_shape(&op->attrs, &TY(IN(0))->shape, &TY(IN(1))->shape, &y, err) < 0) return -1;
    set_out(out, TY(IN(0))->dtype, y);
    return 0;
}

static int infer_bias_add(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *x = TY(IN(0));
    if (want_float(x, "input", err) < 0) return -1;
    if (op->attrs.axis < 0 || op->attrs.axis >= x->shape.rank)
        return tgc_fail(err, "axis=%lld is outside the input's %d dimensions", (long long)op->attrs.axis,
                        x->shape.rank);
    if (want_vec(TY(IN(1)), x->shape.d[op->attrs.axis], "bias", err) < 0) return -1;
    *out = *x;
    return 0;
}

/* x [N,C] or [N,C,H,W]; gamma, beta, running mean and var [C]. */
static int bn_check(const tgc_graph *g, const tgc_op *op, tgc_err *err) {
    const tgc_type *x = TY(IN(0));
    if (want_float(x, "input", err) < 0) return -1;
    if (x->shape.rank != 2 && x->shape.rank != 4)
        return tgc_fail(err, "input must be 2-D or 4-D, got rank %d", x->shape.rank);
    static const char *const names[] = {"", "gamma", "beta", "running_mean", "running_var"};
    for (int k = 1; k < 5; k++)
        if (want_vec(TY(IN(k)), x->shape.d[1], names[k], err) < 0) return -1;
    if (!(op->attrs.eps > 0)) return tgc_fail(err, "eps=%g must be positive", op->attrs.eps);
    return 0;
}

static int infer_batch_norm_train(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    if (bn_check(g, op, err) < 0) return -1;
    if (!(op->attrs.momentum >= 0 && op->attrs.momentum <= 1))
        return tgc_fail(err, "momentum=%g must be in [0, 1]", op->attrs.momentum);
    const tgc_type *x = TY(IN(0));
    out[0] = *x;
    set_out(&out[1], TGC_F32, tgc_shape1(x->shape.d[1]));
    set_out(&out[2], TGC_F32, tgc_shape1(x->shape.d[1]));
    return 0;
}

static int infer_batch_norm_eval(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    if (bn_check(g, op, err) < 0) return -1;
    out[0] = *TY(IN(0));
    return 0;
}

static int infer_unary_f32(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    if (want_float(TY(IN(0)), "input", err) < 0) return -1;
    out[0] = *TY(IN(0));
    return 0;
}

static int infer_relu(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    return infer_unary_f32(g, op, out, err);
}

static int infer_tanh(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    return infer_unary_f32(g, op, out, err);
}

static int infer_sigmoid(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    return infer_unary_f32(g, op, out, err);
}

static int infer_scale(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    return infer_unary_f32(g, op, out, err);
}

static int infer_add(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    if (want_float(TY(IN(0)), "a", err) < 0 || want_same(TY(IN(0)), "a", TY(IN(1)), "b", err) < 0)
        return -1;
    out[0] = *TY(IN(0));
    return 0;
}

static int infer_max_pool2d(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    if (want_float(TY(IN(0)), "input", err) < 0) return -1;
    tgc_shape y;
    if (pool_shape(&op->attrs, &TY(IN(0))->shape, &y, err) < 0) return -1;
    set_out(out, TY(IN(0))->dtype, y);
    return 0;
}

static int infer_avg_pool2d(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    return infer_max_pool2d(g, op, out, err);
}

static int infer_global_avg_pool(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *x = TY(IN(0));
    if (want_float(x, "input", err) < 0 || want_rank(x, 4, "input", err) < 0) return -1;
    set_out(out, x->dtype, tgc_shape2(x->shape.d[0], x->shape.d[1]));
    return 0;
}

static int infer_matmul(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *a = TY(IN(0)), *b = TY(IN(1));
    if (want_same_float(a, "a", b, "b", err) < 0 || want_rank(a, 2, "a", err) < 0 ||
        want_rank(b, 2, "b", err) < 0)
        return -1;
    int ta = op->attrs.trans_a != 0, tb = op->attrs.trans_b != 0;
    int64_t m = a->shape.d[ta ? 1 : 0], k = a->shape.d[ta ? 0 : 1];
    int64_t k2 = b->shape.d[tb ? 1 : 0], n = b->shape.d[tb ? 0 : 1];
    if (k != k2)
        return tgc_fail(err, "inner dimensions differ: op(a) is [%lld,%lld], op(b) is [%lld,%lld] "
                        "(trans_a=%d, trans_b=%d)",
                        (long long)m, (long long)k, (long long)k2, (long long)n, ta, tb);
    set_out(out, a->dtype, tgc_shape2(m, n));
    return 0;
}

static int infer_reshape(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *x = TY(IN(0));
    if (want_attr_shape(&op->attrs.shape, -1, err) < 0) return -1;
    if (tgc_shape_numel(&op->attrs.shape) != tgc_shape_numel(&x->shape)) {
        char b[160], c[200];
        tgc_shape_str(&op->attrs.shape, b, sizeof b);
        return tgc_fail(err, "cannot reshape %s (%lld elements) to %s (%lld elements)", tstr(x, c, sizeof c),
                        (long long)tgc_shape_numel(&x->shape), b,
                        (long long)tgc_shape_numel(&op->attrs.shape));
    }
    set_out(out, x->dtype, op->attrs.shape);
    return 0;
}

static int infer_cast(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    if ((unsigned)op->attrs.dtype >= TGC_DTYPE_COUNT)
        return tgc_fail(err, "dtype=%d is not a dtype", (int)op->attrs.dtype);
    set_out(out, op->attrs.dtype, TY(IN(0))->shape);
    return 0;
}

/* logits f32[N,C], labels i32[N]. */
static int ce_check(const tgc_graph *g, const tgc_op *op, int logits, int labels, tgc_err *err) {
    const tgc_type *x = TY(op->in[logits]), *l = TY(op->in[labels]);
    if (want_dtype(x, TGC_F32, "logits", err) < 0 || want_rank(x, 2, "logits", err) < 0) return -1;
    if (want_dtype(l, TGC_I32, "labels", err) < 0 || want_rank(l, 1, "labels", err) < 0) return -1;
    if (l->shape.d[0] != x->shape.d[0])
        return tgc_fail(err, "labels have %lld entries but logits have %lld rows", (long long)l->shape.d[0],
                        (long long)x->shape.d[0]);
    if (!(op->attrs.label_smooth >= 0 && op->attrs.label_smooth < 1))
        return tgc_fail(err, "label_smooth=%g must be in [0, 1)", op->attrs.label_smooth);
    return 0;
}

static int infer_softmax_cross_entropy(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    if (ce_check(g, op, 0, 1, err) < 0) return -1;
    set_out(out, TGC_F32, tgc_shape0());
    return 0;
}

/* logits [N,C] f32 (operand `logits`) and soft targets [N,C] f32 (operand `target`). */
static int ce_soft_check(const tgc_graph *g, const tgc_op *op, int logits, int target, tgc_err *err) {
    const tgc_type *x = TY(op->in[logits]), *t = TY(op->in[target]);
    if (want_dtype(x, TGC_F32, "logits", err) < 0 || want_rank(x, 2, "logits", err) < 0 ||
        want_same(t, "target", x, "logits", err) < 0)
        return -1;
    if (!(op->attrs.label_smooth >= 0 && op->attrs.label_smooth < 1))
        return tgc_fail(err, "label_smooth=%g must be in [0, 1)", op->attrs.label_smooth);
    return 0;
}

static int infer_softmax_cross_entropy_soft(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    if (ce_soft_check(g, op, 0, 1, err) < 0) return -1;
    set_out(out, TGC_F32, tgc_shape0());
    return 0;
}

static int infer_softmax_cross_entropy_soft_bwd(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    if (want_f32_scalar(TY(IN(0)), "dloss", err) < 0 || ce_soft_check(g, op, 1, 2, err) < 0) return -1;
    out[0] = *TY(IN(1));
    return 0;
}

static int infer_fill(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    if (want_attr_shape(&op->attrs.shape, -1, err) < 0) return -1;
    if ((unsigned)op->attrs.dtype >= TGC_DTYPE_COUNT)
        return tgc_fail(err, "dtype=%d is not a dtype", (int)op->attrs.dtype);
    set_out(out, op->attrs.dtype, op->attrs.shape);
    return 0;
}

/* ================================ shape rules (backward) ================================ */

/* The forward shape (attrs.shape) must give dy's shape back through the forward rule; dy has the float
 * dtype `dt` (the forward's). */
static int want_fwd_match(const tgc_shape *fwd, tgc_dtype dt, const tgc_type *dy, tgc_err *err) {
    if (!tgc_shape_eq(fwd, &dy->shape) || dy->dtype != dt || !tgc_dtype_is_float(dt)) {
        char a[160], b[200];
        tgc_shape_str(fwd, a, sizeof a);
        return tgc_fail(err, "gradient %s does not match the forward result %s%s", tstr(dy, b, sizeof b),
                        tgc_dtype_name(dt), a);
    }
    return 0;
}

static int infer_conv2d_bwd_data(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    tgc_shape y;
    if (want_attr_shape(&op->attrs.shape, 4, err) < 0 || want_float(TY(IN(1)), "weight", err) < 0 ||
        conv_shape(&op->attrs, &op->attrs.shape, &TY(IN(1))->shape, &y, err) < 0 ||
        want_fwd_match(&y, TY(IN(1))->dtype, TY(IN(0)), err) < 0)
        return -1;
    set_out(out, TY(IN(1))->dtype, op->attrs.shape);
    return 0;
}

static int infer_conv2d_bwd_filter(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    tgc_shape y;
    if (want_attr_shape(&op->attrs.shape, 4, err) < 0 || want_float(TY(IN(0)), "input", err) < 0 ||
        conv_shape(&op->attrs, &TY(IN(0))->shape, &op->attrs.shape, &y, err) < 0 ||
        want_fwd_match(&y, TY(IN(0))->dtype, TY(IN(1)), err) < 0)
        return -1;
    set_out(out, TY(IN(0))->dtype, op->attrs.shape);
    return 0;
}

static int infer_bias_grad(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *dy = TY(IN(0));
    if (want_float(dy, "dy", err) < 0) return -1;
    if (op->attrs.axis < 0 || op->attrs.axis >= dy->shape.rank)
        return tgc_fail(err, "axis=%lld is outside dy's %d dimensions", (long long)op->attrs.axis,
                        dy->shape.rank);
    set_out(out, TGC_F32, tgc_shape1(dy->shape.d[op->attrs.axis]));
    return 0;
}

static int infer_batch_norm_bwd(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *x = TY(IN(1));
    if (want_float(x, "x", err) < 0) return -1;
    if (x->shape.rank != 2 && x->shape.rank != 4)
        return tgc_fail(err, "x must be 2-D or 4-D, got rank %d", x->shape.rank);
    if (want_same(TY(IN(0)), "dy", x, "x", err) < 0) return -1;
    static const char *const names[] = {"", "", "gamma", "batch_mean", "batch_invstd"};
    for (int k = 2; k < 5; k++)
        if (want_vec(TY(IN(k)), x->shape.d[1], names[k], err) < 0) return -1;
    out[0] = *x;
    set_out(&out[1], TGC_F32, tgc_shape1(x->shape.d[1]));
    set_out(&out[2], TGC_F32, tgc_shape1(x->shape.d[1]));
    return 0;
}

static int infer_relu_bwd(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    if (want_float(TY(IN(0)), "dy", err) < 0 || want_same(TY(IN(0)), "dy", TY(IN(1)), "y", err) < 0)
        return -1;
    out[0] = *TY(IN(0));
    return 0;
}

static int infer_tanh_bwd(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    return infer_relu_bwd(g, op, out, err);
}

static int infer_channel_mul(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *x = TY(IN(0)), *s = TY(IN(1));
    if (want_dtype(x, TGC_F32, "x", err) < 0 || want_rank(x, 4, "x", err) < 0 || want_dtype(s, TGC_F32, "gate", err) < 0 ||
        want_rank(s, 2, "gate", err) < 0)
        return -1;
    if (s->shape.d[0] != x->shape.d[0] || s->shape.d[1] != x->shape.d[1])
        return tgc_fail(err, "the gate is [%lld,%lld] but x is [%lld,%lld,...]", (long long)s->shape.d[0],
                        (long long)s->shape.d[1], (long long)x->shape.d[0], (long long)x->shape.d[1]);
    out[0] = *x;
    return 0;
}

static int infer_channel_mul_grad_gate(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *dy = TY(IN(0)), *x = TY(IN(1));
    if (want_dtype(x, TGC_F32, "x", err) < 0 || want_rank(x, 4, "x", err) < 0 || want_same(dy, "dy", x, "x", err) < 0)
        return -1;
    set_out(out, TGC_F32, tgc_shape2(x->shape.d[0], x->shape.d[1]));
    return 0;
}

static int infer_sigmoid_bwd(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    return infer_relu_bwd(g, op, out, err);
}

static int infer_max_pool2d_bwd(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    tgc_shape y;
    if (want_float(TY(IN(1)), "x", err) < 0 || pool_shape(&op->attrs, &TY(IN(1))->shape, &y, err) < 0 ||
        want_fwd_match(&y, TY(IN(1))->dtype, TY(IN(0)), err) < 0)
        return -1;
    out[0] = *TY(IN(1));
    return 0;
}

static int infer_avg_pool2d_bwd(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    tgc_shape y;
    if (want_attr_shape(&op->attrs.shape, 4, err) < 0 || pool_shape(&op->attrs, &op->attrs.shape, &y, err) < 0 ||
        want_fwd_match(&y, TY(IN(0))->dtype, TY(IN(0)), err) < 0)
        return -1;
    set_out(out, TY(IN(0))->dtype, op->attrs.shape);
    return 0;
}

static int infer_global_avg_pool_bwd(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_shape *x = &op->attrs.shape;
    if (want_attr_shape(x, 4, err) < 0) return -1;
    tgc_shape y = tgc_shape2(x->d[0], x->d[1]);
    if (want_fwd_match(&y, TY(IN(0))->dtype, TY(IN(0)), err) < 0) return -1;
    set_out(out, TY(IN(0))->dtype, *x);
    return 0;
}

static int infer_softmax_cross_entropy_bwd(const tgc_graph *g, const tgc_op *op, tgc_type *out,
                                           tgc_err *err) {
    if (want_f32_scalar(TY(IN(0)), "dloss", err) < 0 || ce_check(g, op, 1, 2, err) < 0) return -1;
    out[0] = *TY(IN(1));
    return 0;
}

/* logits [N,C] f32 and labels [N] i32 or soft targets [N,C] f32 */
static int bce_check(const tgc_graph *g, const tgc_op *op, int logits, int target, tgc_err *err) {
    if (TY(op->in[target])->dtype == TGC_I32) return ce_check(g, op, logits, target, err);
    return ce_soft_check(g, op, logits, target, err);
}

static int infer_sigmoid_bce(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    if (bce_check(g, op, 0, 1, err) < 0) return -1;
    set_out(out, TGC_F32, tgc_shape0());
    return 0;
}

static int infer_sigmoid_bce_bwd(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    if (want_f32_scalar(TY(IN(0)), "dloss", err) < 0 || bce_check(g, op, 1, 2, err) < 0) return -1;
    out[0] = *TY(IN(1));
    return 0;
}

/* ================================ shape rules (optimizer updates) ================================ */

/* param and grad f32 of one type, `n_state` state tensors of that type, then lr (and step) scalars. */
static int update_check(const tgc_graph *g, const tgc_op *op, int n_state, int has_step, tgc_err *err) {
    const tgc_type *p = TY(IN(0));
    if (want_dtype(p, TGC_F32, "param", err) < 0 || want_same(p, "param", TY(IN(1)), "grad", err) < 0)
        return -1;
    for (int k = 0; k < n_state; k++)
        if (want_same(p, "param", TY(IN(2 + k)), "optimizer state", err) < 0) return -1;
    if (want_f32_scalar(TY(IN(2 + n_state)), "lr", err) < 0) return -1;
    if (has_step && want_f32_scalar(TY(IN(3 + n_state)), "step", err) < 0) return -1;
    if (!(op->attrs.weight_decay >= 0)) return tgc_fail(err, "weight_decay=%g is negative", op->attrs.weight_decay);
    return 0;
}

static int infer_sgd_update(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    return update_check(g, op, 0, 0, err);
}

static int infer_sgd_momentum_update(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    return update_check(g, op, 1, 1, err);
}

static int infer_adamw_update(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    if (update_check(g, op, 2, 1, err) < 0) return -1;
    const tgc_attrs *a = &op->attrs;
    if (!(a->beta1 >= 0 && a->beta1 < 1 && a->beta2 >= 0 && a->beta2 < 1))
        return tgc_fail(err, "betas=(%g, %g) must be in [0, 1)", a->beta1, a->beta2);
    if (!(a->eps > 0)) return tgc_fail(err, "eps=%g must be positive", a->eps);
    return 0;
}

static int infer_ema_update(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *e = TY(IN(0));
    if (want_dtype(e, TGC_F32, "ema", err) < 0 || want_same(e, "ema", TY(IN(1)), "param", err) < 0) return -1;
    if (!(op->attrs.momentum > 0 && op->attrs.momentum <= 1))
        return tgc_fail(err, "momentum=%g must be in (0, 1]", op->attrs.momentum);
    return 0;
}

static int infer_adam_update(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    return infer_adamw_update(g, op, out, err);
}

/* param, grad, square_avg, momentum_buffer, lr */
static int infer_rmsprop_update(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    if (update_check(g, op, 2, 0, err) < 0) return -1;
    const tgc_attrs *a = &op->attrs;
    if (!(a->beta2 >= 0 && a->beta2 < 1)) return tgc_fail(err, "alpha (beta2)=%g must be in [0, 1)", a->beta2);
    if (!(a->eps > 0)) return tgc_fail(err, "eps=%g must be positive", a->eps);
    if (!(a->momentum >= 0)) return tgc_fail(err, "momentum=%g is negative", a->momentum);
    return 0;
}

/* grad, acc[] -> acc'[]: the running sum of a gradient norm */
static int infer_grad_norm_acc(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    if (want_dtype(TY(IN(0)), TGC_F32, "grad", err) < 0 || want_f32_scalar(TY(IN(1)), "acc", err) < 0) return -1;
    if (!(op->attrs.norm_type > 0)) return tgc_fail(err, "norm_type=%g must be positive", op->attrs.norm_type);
    set_out(out, TGC_F32, tgc_shape0());
    return 0;
}

static int infer_grad_clip_norm(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    if (want_dtype(TY(IN(0)), TGC_F32, "grad", err) < 0 || want_f32_scalar(TY(IN(1)), "acc", err) < 0) return -1;
    if (!(op->attrs.norm_type > 0)) return tgc_fail(err, "norm_type=%g must be positive", op->attrs.norm_type);
    if (!(op->attrs.max_norm >= 0 && isfinite(op->attrs.max_norm)))
        return tgc_fail(err, "max_norm=%g must be finite and not negative", op->attrs.max_norm);
    out[0] = *TY(IN(0));
    return 0;
}

static int infer_grad_clip_value(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    if (want_dtype(TY(IN(0)), TGC_F32, "grad", err) < 0) return -1;
    if (!(op->attrs.max_norm >= 0 && isfinite(op->attrs.max_norm)))
        return tgc_fail(err, "max_norm (the clip value)=%g must be finite and not negative", op->attrs.max_norm);
    out[0] = *TY(IN(0));
    return 0;
}

/* param, grad, exp_avg, exp_avg_sq, lr, step, gsq */
static int infer_lamb_update(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    if (infer_adamw_update(g, op, out, err) < 0) return -1;
    if (want_f32_scalar(TY(IN(6)), "gsq", err) < 0) return -1;
    if (!(op->attrs.max_norm > 0 && isfinite(op->attrs.max_norm)))
        return tgc_fail(err, "max_norm (max_grad_norm)=%g must be positive and finite", op->attrs.max_norm);
    return 0;
}

/* ================================ shape rules (fused ops) ================================ */

static int infer_batch_norm_train_relu(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    return infer_batch_norm_train(g, op, out, err);
}

/* dy, x [N,C] or [N,C,H,W] of one type; gamma, beta, batch_mean, batch_invstd [C]. */
static int infer_batch_norm_relu_bwd(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *x = TY(IN(1));
    if (want_float(x, "x", err) < 0) return -1;
    if (x->shape.rank != 2 && x->shape.rank != 4)
        return tgc_fail(err, "x must be 2-D or 4-D, got rank %d", x->shape.rank);
    if (want_same(TY(IN(0)), "dy", x, "x", err) < 0) return -1;
    static const char *const names[] = {"", "", "gamma", "beta", "batch_mean", "batch_invstd"};
    for (int k = 2; k < 6; k++)
        if (want_vec(TY(IN(k)), x->shape.d[1], names[k], err) < 0) return -1;
    if (!(op->attrs.eps > 0)) return tgc_fail(err, "eps=%g must be positive", op->attrs.eps);
    out[0] = *x;
    set_out(&out[1], TGC_F32, tgc_shape1(x->shape.d[1]));
    set_out(&out[2], TGC_F32, tgc_shape1(x->shape.d[1]));
    return 0;
}

/* w [O, I/groups, kh, kw]; gamma, beta, running_mean, running_var [O]. */
static int infer_fold_conv_bn(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *w = TY(IN(0));
    if (want_dtype(w, TGC_F32, "weight", err) < 0 || want_rank(w, 4, "weight", err) < 0) return -1;
    static const char *const names[] = {"", "gamma", "beta", "running_mean", "running_var"};
    for (int k = 1; k < 5; k++)
        if (want_vec(TY(IN(k)), w->shape.d[0], names[k], err) < 0) return -1;
    if (!(op->attrs.eps > 0)) return tgc_fail(err, "eps=%g must be positive", op->attrs.eps);
    out[0] = *w;
    set_out(&out[1], TGC_F32, tgc_shape1(w->shape.d[0]));
    return 0;
}

/* ================================ shape rules (detection) ================================ */

/* dy, x [N,C] or [N,C,H,W] of one type; gamma, running_mean, running_var [C]. */
static int infer_batch_norm_eval_bwd(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *x = TY(IN(1));
    if (want_float(x, "x", err) < 0) return -1;
    if (x->shape.rank != 2 && x->shape.rank != 4) return tgc_fail(err, "x must be 2-D or 4-D, got rank %d", x->shape.rank);
    if (want_same(TY(IN(0)), "dy", x, "x", err) < 0) return -1;
    static const char *const names[] = {"", "", "gamma", "running_mean", "running_var"};
    for (int k = 2; k < 5; k++)
        if (want_vec(TY(IN(k)), x->shape.d[1], names[k], err) < 0) return -1;
    if (!(op->attrs.eps > 0)) return tgc_fail(err, "eps=%g must be positive", op->attrs.eps);
    out[0] = *x;
    set_out(&out[1], TGC_F32, tgc_shape1(x->shape.d[1]));
    set_out(&out[2], TGC_F32, tgc_shape1(x->shape.d[1]));
    return 0;
}

static int infer_upsample_nearest(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *x = TY(IN(0));
    const tgc_shape *y = &op->attrs.shape;
    if (want_float(x, "x", err) < 0 || want_rank(x, 4, "x", err) < 0 || want_attr_shape(y, 4, err) < 0) return -1;
    if (y->d[0] != x->shape.d[0] || y->d[1] != x->shape.d[1] || y->d[2] < x->shape.d[2] || y->d[3] < x->shape.d[3]) {
        char a[160], b[200];
        tgc_shape_str(y, a, sizeof a);
        return tgc_fail(err, "the size %s must keep N and C of x %s and not shrink it", a, tstr(x, b, sizeof b));
    }
    set_out(out, x->dtype, *y);
    return 0;
}

static int infer_upsample_nearest_bwd(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *dy = TY(IN(0));
    const tgc_shape *x = &op->attrs.shape;
    if (want_float(dy, "dy", err) < 0 || want_rank(dy, 4, "dy", err) < 0 || want_attr_shape(x, 4, err) < 0) return -1;
    if (dy->shape.d[0] != x->d[0] || dy->shape.d[1] != x->d[1] || dy->shape.d[2] < x->d[2] || dy->shape.d[3] < x->d[3]) {
        char a[160], b[200];
        tgc_shape_str(x, a, sizeof a);
        return tgc_fail(err, "dy %s is not an upsampling of %s", tstr(dy, b, sizeof b), a);
    }
    set_out(out, dy->dtype, *x);
    return 0;
}

static int infer_to_nhwc(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *x = TY(IN(0));
    if (want_float(x, "x", err) < 0 || want_rank(x, 4, "x", err) < 0) return -1;
    set_out(out, x->dtype, tgc_shape4(x->shape.d[0], x->shape.d[2], x->shape.d[3], x->shape.d[1]));
    return 0;
}

/* relayout: the same logical shape and dtype in the other layout. */
static int infer_relayout(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *x = TY(IN(0));
    if (want_float(x, "x", err) < 0 || want_rank(x, 4, "x", err) < 0) return -1;
    set_out(out, x->dtype, x->shape);
    out->layout = x->layout == TGC_LAYOUT_NHWC ? TGC_LAYOUT_ROW : TGC_LAYOUT_NHWC;
    return 0;
}

static int infer_to_nchw(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *x = TY(IN(0));
    if (want_float(x, "x", err) < 0 || want_rank(x, 4, "x", err) < 0) return -1;
    set_out(out, x->dtype, tgc_shape4(x->shape.d[0], x->shape.d[3], x->shape.d[1], x->shape.d[2]));
    return 0;
}

static int infer_concat(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *a = TY(IN(0)), *b = TY(IN(1));
    int64_t ax = op->attrs.axis;
    if (want_float(a, "a", err) < 0) return -1;
    if (ax < 0 || ax >= a->shape.rank)
        return tgc_fail(err, "axis=%lld is outside a's %d dimensions", (long long)ax, a->shape.rank);
    int same = a->dtype == b->dtype && a->shape.rank == b->shape.rank;
    for (int i = 0; same && i < a->shape.rank; i++) same = i == ax || a->shape.d[i] == b->shape.d[i];
    if (!same) {
        char x[200], y[200];
        return tgc_fail(err, "a %s and b %s differ outside axis %lld", tstr(a, x, sizeof x), tstr(b, y, sizeof y),
                        (long long)ax);
    }
    tgc_shape s = a->shape;
    s.d[ax] += b->shape.d[ax];
    set_out(out, a->dtype, s);
    return 0;
}

static int infer_concat_bwd(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *dy = TY(IN(0));
    const tgc_shape *a = &op->attrs.shape;
    int64_t ax = op->attrs.axis;
    if (want_float(dy, "dy", err) < 0 || want_attr_shape(a, dy->shape.rank, err) < 0) return -1;
    if (ax < 0 || ax >= dy->shape.rank)
        return tgc_fail(err, "axis=%lld is outside dy's %d dimensions", (long long)ax, dy->shape.rank);
    int ok = a->d[ax] < dy->shape.d[ax];
    for (int i = 0; ok && i < a->rank; i++) ok = i == ax || a->d[i] == dy->shape.d[i];
    if (!ok) {
        char x[160], y[200];
        tgc_shape_str(a, x, sizeof x);
        return tgc_fail(err, "the first part %s is not a part of dy %s along axis %lld", x, tstr(dy, y, sizeof y),
                        (long long)ax);
    }
    tgc_shape b = dy->shape;
    b.d[ax] -= a->d[ax];
    set_out(&out[0], dy->dtype, *a);
    set_out(&out[1], dy->dtype, b);
    return 0;
}

/* avg_factor: f32[1]. */
static int want_avg_factor(const tgc_type *t, tgc_err *err) {
    if (t->dtype != TGC_F32 || t->shape.rank != 1 || t->shape.d[0] != 1) {
        char b[200];
        return tgc_fail(err, "avg_factor must be f32[1], got %s", tstr(t, b, sizeof b));
    }
    return 0;
}

/* A per-anchor target [N,A] i32 matching the first two dimensions of x [N,A,K]. */
static int want_anchor_target(const tgc_type *x, const char *xn, const tgc_type *t, const char *tn, tgc_err *err) {
    if (want_dtype(x, TGC_F32, xn, err) < 0 || want_rank(x, 3, xn, err) < 0 || want_dtype(t, TGC_I32, tn, err) < 0 ||
        want_rank(t, 2, tn, err) < 0)
        return -1;
    if (t->shape.d[0] != x->shape.d[0] || t->shape.d[1] != x->shape.d[1]) {
        char a[200], b[200];
        return tgc_fail(err, "%s %s does not match %s %s in [N, A]", tn, tstr(t, a, sizeof a), xn, tstr(x, b, sizeof b));
    }
    return 0;
}

static int focal_check(const tgc_graph *g, const tgc_op *op, int base, tgc_err *err) {
    if (want_anchor_target(TY(op->in[base]), "logits", TY(op->in[base + 1]), "target", err) < 0 ||
        want_avg_factor(TY(op->in[base + 2]), err) < 0)
        return -1;
    if (!(op->attrs.gamma >= 0 && op->attrs.gamma <= 100)) return tgc_fail(err, "gamma=%g must be in [0, 100]", op->attrs.gamma);
    if (!(op->attrs.focal_alpha >= 0 && op->attrs.focal_alpha <= 1))
        return tgc_fail(err, "focal_alpha=%g must be in [0, 1]", op->attrs.focal_alpha);
    return 0;
}

static int infer_sigmoid_focal_loss(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    if (focal_check(g, op, 0, err) < 0) return -1;
    set_out(out, TGC_F32, tgc_shape0());
    return 0;
}

static int infer_sigmoid_focal_loss_bwd(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    if (want_f32_scalar(TY(IN(0)), "dloss", err) < 0 || focal_check(g, op, 1, err) < 0) return -1;
    out[0] = *TY(IN(1));
    return 0;
}

static int l1_check(const tgc_graph *g, const tgc_op *op, int base, tgc_err *err) {
    if (want_anchor_target(TY(op->in[base]), "pred", TY(op->in[base + 2]), "cls_target", err) < 0 ||
        want_same(TY(op->in[base + 1]), "target", TY(op->in[base]), "pred", err) < 0 ||
        want_avg_factor(TY(op->in[base + 3]), err) < 0)
        return -1;
    if (op->attrs.num_classes < 1 || op->attrs.num_classes > DIM_LIMIT)
        return tgc_fail(err, "num_classes=%lld must be positive", (long long)op->attrs.num_classes);
    return 0;
}

static int infer_l1_loss_pos(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    if (l1_check(g, op, 0, err) < 0) return -1;
    set_out(out, TGC_F32, tgc_shape0());
    return 0;
}

static int infer_l1_loss_pos_bwd(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    if (want_f32_scalar(TY(IN(0)), "dloss", err) < 0 || l1_check(g, op, 1, err) < 0) return -1;
    out[0] = *TY(IN(1));
    return 0;
}

/* ================================ gradient rules ================================ */
/* Each rule reads the forward op by value first: emitting may move g->ops. */

static int grad_conv2d(tgc_graph *g, int op_index, const int *dy, const unsigned char *need, int *dx,
                       tgc_err *err) {
    tgc_op op = g->ops[op_index];
    if (dy[0] < 0) return 0;
    tgc_attrs a = op.attrs;
    if (need[0]) {
        a.shape = g->vals[op.in[0]].type.shape;
        if ((dx[0] = tgc_emit1(g, TGC_OP_CONV2D_BWD_DATA, &a, op.scope, err, 2, dy[0], op.in[1])) < 0) return -1;
    }
    if (need[1]) {
        a.shape = g->vals[op.in[1]].type.shape;
        if ((dx[1] = tgc_emit1(g, TGC_OP_CONV2D_BWD_FILTER, &a, op.scope, err, 2, op.in[0], dy[0])) < 0)
            return -1;
    }
    return 0;
}

static int grad_bias_add(tgc_graph *g, int op_index, const int *dy, const unsigned char *need, int *dx,
                         tgc_err *err) {
    tgc_op op = g->ops[op_index];
    if (dy[0] < 0) return 0;
    if (need[0]) dx[0] = dy[0];
    if (need[1]) {
        tgc_attrs a = tgc_attrs_default();
        a.axis = op.attrs.axis;
        if ((dx[1] = tgc_emit1(g, TGC_OP_BIAS_GRAD, &a, op.scope, err, 1, dy[0])) < 0) return -1;
    }
    return 0;
}

/* The batch statistics (results 1, 2) feed only the running-stat update, so their gradients are
 * ignored; without a gradient of y there is none for the operands. */
static int grad_batch_norm_train(tgc_graph *g, int op_index, const int *dy, const unsigned char *need,
                                 int *dx, tgc_err *err) {
    tgc_op op = g->ops[op_index];
    if (dy[0] < 0 || !(need[0] || need[1] || need[2])) return 0;
    tgc_attrs a = tgc_attrs_default();
    a.eps = op.attrs.eps;
    int in[5] = {dy[0], op.in[0], op.in[1], op.out[1], op.out[2]}, out[3];
    if (tgc_emit(g, TGC_OP_BN_BWD, in, 5, &a, op.scope, out, err) < 0) return -1;
    for (int k = 0; k < 3; k++)
        if (need[k]) dx[k] = out[k];
    return 0;
}

/* relu(batch_norm_train(x)): one fused backward that recomputes the relu mask from x. */
static int grad_batch_norm_train_relu(tgc_graph *g, int op_index, const int *dy, const unsigned char *need,
                                      int *dx, tgc_err *err) {
    tgc_op op = g->ops[op_index];
    if (dy[0] < 0 || !(need[0] || need[1] || need[2])) return 0;
    tgc_attrs a = tgc_attrs_default();
    a.eps = op.attrs.eps;
    int in[6] = {dy[0], op.in[0], op.in[1], op.in[2], op.out[1], op.out[2]}, out[3];
    if (tgc_emit(g, TGC_OP_BN_RELU_BWD, in, 6, &a, op.scope, out, err) < 0) return -1;
    for (int k = 0; k < 3; k++)
        if (need[k]) dx[k] = out[k];
    return 0;
}

static int grad_relu(tgc_graph *g, int op_index, const int *dy, const unsigned char *need, int *dx,
                     tgc_err *err) {
    tgc_op op = g->ops[op_index];
    if (dy[0] < 0 || !need[0]) return 0;
    dx[0] = tgc_emit1(g, TGC_OP_RELU_BWD, NULL, op.scope, err, 2, dy[0], op.out[0]);
    return dx[0] < 0 ? -1 : 0;
}

static int grad_tanh(tgc_graph *g, int op_index, const int *dy, const unsigned char *need, int *dx,
                     tgc_err *err) {
    tgc_op op = g->ops[op_index];
    if (dy[0] < 0 || !need[0]) return 0;
    dx[0] = tgc_emit1(g, TGC_OP_TANH_BWD, NULL, op.scope, err, 2, dy[0], op.out[0]);
    return dx[0] < 0 ? -1 : 0;
}

/* dx = dy * y * (1 - y), from the forward's output (as tanh), so x need not stay live. */
/* y = x * g[n,c]: dx = dy * g[n,c] (the same op), dg[n,c] = sum over H, W of dy * x. */
static int grad_channel_mul(tgc_graph *g, int op_index, const int *dy, const unsigned char *need, int *dx,
                            tgc_err *err) {
    tgc_op op = g->ops[op_index];
    if (dy[0] < 0) return 0;
    if (need[0] && (dx[0] = tgc_emit1(g, TGC_OP_CHANNEL_MUL, NULL, op.scope, err, 2, dy[0], op.in[1])) < 0) return -1;
    if (need[1] && (dx[1] = tgc_emit1(g, TGC_OP_CHANNEL_MUL_GRAD_GATE, NULL, op.scope, err, 2, dy[0], op.in[0])) < 0)
        return -1;
    return 0;
}

static int grad_sigmoid(tgc_graph *g, int op_index, const int *dy, const unsigned char *need, int *dx,
                        tgc_err *err) {
    tgc_op op = g->ops[op_index];
    if (dy[0] < 0 || !need[0]) return 0;
    dx[0] = tgc_emit1(g, TGC_OP_SIGMOID_BWD, NULL, op.scope, err, 2, dy[0], op.out[0]);
    return dx[0] < 0 ? -1 : 0;
}

static int grad_add(tgc_graph *g, int op_index, const int *dy, const unsigned char *need, int *dx,
                    tgc_err *err) {
    for (int j = 0; j < 2; j++)
        if (need[j]) dx[j] = dy[0];
    return 0;
}

static int grad_scale(tgc_graph *g, int op_index, const int *dy, const unsigned char *need, int *dx,
                      tgc_err *err) {
    tgc_op op = g->ops[op_index];
    if (dy[0] < 0 || !need[0]) return 0;
    tgc_attrs a = tgc_attrs_default();
    a.alpha = op.attrs.alpha;
    dx[0] = tgc_emit1(g, TGC_OP_SCALE, &a, op.scope, err, 1, dy[0]);
    return dx[0] < 0 ? -1 : 0;
}

static int grad_max_pool2d(tgc_graph *g, int op_index, const int *dy, const unsigned char *need, int *dx,
                           tgc_err *err) {
    tgc_op op = g->ops[op_index];
    if (dy[0] < 0 || !need[0]) return 0;
    dx[0] = tgc_emit1(g, TGC_OP_MAX_POOL2D_BWD, &op.attrs, op.scope, err, 2, dy[0], op.in[0]);
    return dx[0] < 0 ? -1 : 0;
}

static int grad_avg_pool2d(tgc_graph *g, int op_index, const int *dy, const unsigned char *need, int *dx,
                           tgc_err *err) {
    tgc_op op = g->ops[op_index];
    if (dy[0] < 0 || !need[0]) return 0;
    tgc_attrs a = op.attrs;
    a.shape = g->vals[op.in[0]].type.shape;
    dx[0] = tgc_emit1(g, TGC_OP_AVG_POOL2D_BWD, &a, op.scope, err, 1, dy[0]);
    return dx[0] < 0 ? -1 : 0;
}

static int grad_global_avg_pool(tgc_graph *g, int op_index, const int *dy, const unsigned char *need,
                                int *dx, tgc_err *err) {
    tgc_op op = g->ops[op_index];
    if (dy[0] < 0 || !need[0]) return 0;
    tgc_attrs a = tgc_attrs_default();
    a.shape = g->vals[op.in[0]].type.shape;
    dx[0] = tgc_emit1(g, TGC_OP_GLOBAL_AVG_POOL_BWD, &a, op.scope, err, 1, dy[0]);
    return dx[0] < 0 ? -1 : 0;
}

/* C = op(A) op(B). Each operand gradient is one matmul of dC with the other operand, transposes
 * folded into the flags:
 *   ta tb | dA                          | dB
 *   0  0  | dC B^T   = mm(dC, B, 0, 1)  | A^T dC    = mm(A, dC, 1, 0)
 *   1  0  | B dC^T   = mm(B, dC, 0, 1)  | A dC      = mm(A, dC, 0, 0)
 *   0  1  | dC B     = mm(dC, B, 0, 0)  | dC^T A    = mm(dC, A, 1, 0)
 *   1  1  | B^T dC^T = mm(B, dC, 1, 1)  | dC^T A^T  = mm(dC, A, 1, 1)                                */
static int grad_matmul(tgc_graph *g, int op_index, const int *dy, const unsigned char *need, int *dx,
                       tgc_err *err) {
    tgc_op op = g->ops[op_index];
    if (dy[0] < 0) return 0;
    int ta = op.attrs.trans_a != 0, tb = op.attrs.trans_b != 0;
    int A = op.in[0], B = op.in[1], dC = dy[0];
    tgc_attrs a = tgc_attrs_default();
    if (need[0]) {
        int l = ta ? B : dC, r = ta ? dC : B;
        a.trans_a = ta && tb;
        a.trans_b = !tb || ta;
        if ((dx[0] = tgc_emit1(g, TGC_OP_MATMUL, &a, op.scope, err, 2, l, r)) < 0) return -1;
    }
    if (need[1]) {
        int l = tb ? dC : A, r = tb ? A : dC;
        a.trans_a = !ta || tb;
        a.trans_b = ta && tb;
        if ((dx[1] = tgc_emit1(g, TGC_OP_MATMUL, &a, op.scope, err, 2, l, r)) < 0) return -1;
    }
    return 0;
}

static int grad_reshape(tgc_graph *g, int op_index, const int *dy, const unsigned char *need, int *dx,
                        tgc_err *err) {
    tgc_op op = g->ops[op_index];
    if (dy[0] < 0 || !need[0]) return 0;
    tgc_attrs a = tgc_attrs_default();
    a.shape = g->vals[op.in[0]].type.shape;
    dx[0] = tgc_emit1(g, TGC_OP_RESHAPE, &a, op.scope, err, 1, dy[0]);
    return dx[0] < 0 ? -1 : 0;
}

static int grad_cast(tgc_graph *g, int op_index, const int *dy, const unsigned char *need, int *dx,
                     tgc_err *err) {
    tgc_op op = g->ops[op_index];
    if (dy[0] < 0 || !need[0]) return 0;
    tgc_attrs a = tgc_attrs_default();
    a.dtype = g->vals[op.in[0]].type.dtype;
    dx[0] = tgc_emit1(g, TGC_OP_CAST, &a, op.scope, err, 1, dy[0]);
    return dx[0] < 0 ? -1 : 0;
}

/* Labels are integers: only the logits get a gradient. */
static int grad_softmax_cross_entropy(tgc_graph *g, int op_index, const int *dy, const unsigned char *need,
                                      int *dx, tgc_err *err) {
    tgc_op op = g->ops[op_index];
    if (dy[0] < 0 || !need[0]) return 0;
    tgc_attrs a = tgc_attrs_default();
    a.alpha = op.attrs.alpha;
    a.label_smooth = op.attrs.label_smooth;
    dx[0] = tgc_emit1(g, TGC_OP_SOFTMAX_CE_BWD, &a, op.scope, err, 3, dy[0], op.in[0], op.in[1]);
    return dx[0] < 0 ? -1 : 0;
}

static int grad_softmax_cross_entropy_soft(tgc_graph *g, int op_index, const int *dy, const unsigned char *need,
                                           int *dx, tgc_err *err) {
    tgc_op op = g->ops[op_index];
    if (dy[0] < 0 || !need[0]) return 0; /* the targets are data: no gradient */
    tgc_attrs a = tgc_attrs_default();
    a.label_smooth = op.attrs.label_smooth, a.alpha = op.attrs.alpha;
    dx[0] = tgc_emit1(g, TGC_OP_SOFTMAX_CE_SOFT_BWD, &a, op.scope, err, 3, dy[0], op.in[0], op.in[1]);
    return dx[0] < 0 ? -1 : 0;
}

/* A batch norm on its running statistics inside the train graph (norm_eval, frozen stages): an affine map
 * per channel; the statistics are buffers, so only x, gamma and beta get gradients. */
static int grad_batch_norm_eval(tgc_graph *g, int op_index, const int *dy, const unsigned char *need, int *dx,
                                tgc_err *err) {
    tgc_op op = g->ops[op_index];
    if (dy[0] < 0 || !(need[0] || need[1] || need[2])) return 0;
    tgc_attrs a = tgc_attrs_default();
    a.eps = op.attrs.eps;
    int in[5] = {dy[0], op.in[0], op.in[1], op.in[3], op.in[4]}, out[3];
    if (tgc_emit(g, TGC_OP_BN_EVAL_BWD, in, 5, &a, op.scope, out, err) < 0) return -1;
    for (int k = 0; k < 3; k++)
        if (need[k]) dx[k] = out[k];
    return 0;
}

/* ---- detection ---- */
static int grad_upsample_nearest(tgc_graph *g, int op_index, const int *dy, const unsigned char *need, int *dx,
                                 tgc_err *err) {
    tgc_op op = g->ops[op_index];
    if (dy[0] < 0 || !need[0]) return 0;
    tgc_attrs a = tgc_attrs_default();
    a.shape = g->vals[op.in[0]].type.shape;
    dx[0] = tgc_emit1(g, TGC_OP_UPSAMPLE_NEAREST_BWD, &a, op.scope, err, 1, dy[0]);
    return dx[0] < 0 ? -1 : 0;
}

static int grad_relayout(tgc_graph *g, int op_index, const int *dy, const unsigned char *need, int *dx, tgc_err *err) {
    tgc_op op = g->ops[op_index];
    if (dy[0] < 0 || !need[0]) return 0;
    dx[0] = tgc_emit1(g, TGC_OP_RELAYOUT, NULL, op.scope, err, 1, dy[0]);
    return dx[0] < 0 ? -1 : 0;
}

static int grad_to_nhwc(tgc_graph *g, int op_index, const int *dy, const unsigned char *need, int *dx, tgc_err *err) {
    tgc_op op = g->ops[op_index];
    if (dy[0] < 0 || !need[0]) return 0;
    dx[0] = tgc_emit1(g, TGC_OP_TO_NCHW, NULL, op.scope, err, 1, dy[0]);
    return dx[0] < 0 ? -1 : 0;
}

static int grad_to_nchw(tgc_graph *g, int op_index, const int *dy, const unsigned char *need, int *dx, tgc_err *err) {
    tgc_op op = g->ops[op_index];
    if (dy[0] < 0 || !need[0]) return 0;
    dx[0] = tgc_emit1(g, TGC_OP_TO_NHWC, NULL, op.scope, err, 1, dy[0]);
    return dx[0] < 0 ? -1 : 0;
}

static int grad_concat(tgc_graph *g, int op_index, const int *dy, const unsigned char *need, int *dx, tgc_err *err) {
    tgc_op op = g->ops[op_index];
    if (dy[0] < 0 || !(need[0] || need[1])) return 0;
    tgc_attrs a = tgc_attrs_default();
    a.axis = op.attrs.axis;
    a.shape = g->vals[op.in[0]].type.shape;
    int out[2];
    if (tgc_emit(g, TGC_OP_CONCAT_BWD, dy, 1, &a, op.scope, out, err) < 0) return -1;
    for (int k = 0; k < 2; k++)
        if (need[k]) dx[k] = out[k];
    return 0;
}

/* The targets and avg_factor are data: only the predictions get a gradient. */
static int grad_sigmoid_focal_loss(tgc_graph *g, int op_index, const int *dy, const unsigned char *need, int *dx,
                                   tgc_err *err) {
    tgc_op op = g->ops[op_index];
    if (dy[0] < 0 || !need[0]) return 0;
    tgc_attrs a = tgc_attrs_default();
    a.alpha = op.attrs.alpha, a.gamma = op.attrs.gamma, a.focal_alpha = op.attrs.focal_alpha;
    dx[0] = tgc_emit1(g, TGC_OP_SIGMOID_FOCAL_LOSS_BWD, &a, op.scope, err, 4, dy[0], op.in[0], op.in[1], op.in[2]);
    return dx[0] < 0 ? -1 : 0;
}

static int grad_l1_loss_pos(tgc_graph *g, int op_index, const int *dy, const unsigned char *need, int *dx,
                            tgc_err *err) {
    tgc_op op = g->ops[op_index];
    if (dy[0] < 0 || !need[0]) return 0;
    tgc_attrs a = tgc_attrs_default();
    a.alpha = op.attrs.alpha, a.num_classes = op.attrs.num_classes;
    dx[0] = tgc_emit1(g, TGC_OP_L1_LOSS_POS_BWD, &a, op.scope, err, 5, dy[0], op.in[0], op.in[1], op.in[2], op.in[3]);
    return dx[0] < 0 ? -1 : 0;
}

static int grad_sigmoid_bce(tgc_graph *g, int op_index, const int *dy, const unsigned char *need, int *dx,
                            tgc_err *err) {
    tgc_op op = g->ops[op_index];
    if (dy[0] < 0 || !need[0]) return 0; /* the targets are data: no gradient */
    tgc_attrs a = tgc_attrs_default();
    a.label_smooth = op.attrs.label_smooth, a.alpha = op.attrs.alpha;
    dx[0] = tgc_emit1(g, TGC_OP_SIGMOID_BCE_BWD, &a, op.scope, err, 3, dy[0], op.in[0], op.in[1]);
    return dx[0] < 0 ? -1 : 0;
}

/* ================================ costs ================================ */
/* macs: conv2d (and its two backward ops, the same count), matmul. flops: 2 x macs for those; for the
 * others a small count per element, a transcendental or comparison counting as one:
 *   bias_add, add, scale, relu, tanh, sigmoid, relu_bwd, gap, gap_bwd, bias_grad, max_pool2d_bwd,
 *   channel_mul: 1; channel_mul_grad_gate 2,
 *   tanh_bwd 3, sigmoid_bwd 3, bn_eval 2, bn_train 8, bn_bwd 10, softmax_ce (soft or not) 5 and its bwd 4
 *   (per logit),
 *   pooling k*k per output (forward) or per dy element (avg bwd), sgd 4, sgd momentum 7, adamw 15, adam 16,
 *   rmsprop 10, ema 3,
 *   reshape, cast, fill 0.
 * bytes: the sizes of every operand and result, as if nothing were fused. */

static double vbytes(const tgc_graph *g, int v) {
    if (v < 0 || v >= g->n_vals) return 0;
    const tgc_type *t = &g->vals[v].type;
    return (double)tgc_shape_numel(&t->shape) * (double)tgc_dtype_size(t->dtype);
}

static double vnumel(const tgc_graph *g, int v) {
    return (v < 0 || v >= g->n_vals) ? 0 : (double)tgc_shape_numel(&g->vals[v].type.shape);
}

static void io_bytes(const tgc_graph *g, const tgc_op *op, tgc_cost *c) {
    c->bytes = 0;
    for (int j = 0; j < op->n_in; j++) c->bytes += vbytes(g, op->in[j]);
    for (int k = 0; k < op->n_out; k++) c->bytes += vbytes(g, op->out[k]);
}

/* flops = per * elements of operand `v`. */
static void elementwise(const tgc_graph *g, const tgc_op *op, int v, double per, tgc_cost *c) {
    io_bytes(g, op, c);
    c->macs = 0;
    c->flops = per * vnumel(g, v);
}

/* N*O*Ho*Wo*(C/groups)*kh*kw, from the output y, the input x and the weight w shapes. */
static void conv_macs(const tgc_shape *x, const tgc_shape *w, const tgc_shape *y, int64_t groups, tgc_cost *c) {
    if (x->rank != 4 || w->rank != 4 || y->rank != 4 || groups < 1) return;
    c->macs = (double)y->d[0] * (double)y->d[1] * (double)y->d[2] * (double)y->d[3] *
              (double)(x->d[1] / groups) * (double)w->d[2] * (double)w->d[3];
    c->flops = 2 * c->macs;
}

static void cost_conv2d(const tgc_graph *g, const tgc_op *op, tgc_cost *c) {
    io_bytes(g, op, c);
    conv_macs(&TY(IN(0))->shape, &TY(IN(1))->shape, &TY(op->out[0])->shape, op->attrs.groups, c);
}

static void cost_conv2d_bwd_data(const tgc_graph *g, const tgc_op *op, tgc_cost *c) {
    io_bytes(g, op, c);
    conv_macs(&op->attrs.shape, &TY(IN(1))->shape, &TY(IN(0))->shape, op->attrs.groups, c);
}

static void cost_conv2d_bwd_filter(const tgc_graph *g, const tgc_op *op, tgc_cost *c) {
    io_bytes(g, op, c);
    conv_macs(&TY(IN(0))->shape, &op->attrs.shape, &TY(IN(1))->shape, op->attrs.groups, c);
}

static void cost_matmul(const tgc_graph *g, const tgc_op *op, tgc_cost *c) {
    io_bytes(g, op, c);
    const tgc_shape *a = &TY(IN(0))->shape, *y = &TY(op->out[0])->shape;
    if (a->rank != 2 || y->rank != 2) return;
    double k = (double)a->d[op->attrs.trans_a ? 0 : 1];
    c->macs = (double)y->d[0] * (double)y->d[1] * k;
    c->flops = 2 * c->macs;
}

static void cost_pool(const tgc_graph *g, const tgc_op *op, int v, tgc_cost *c) {
    elementwise(g, op, v, (double)op->attrs.kernel[0] * (double)op->attrs.kernel[1], c);
}

static void cost_bias_add(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 1, c); }
static void cost_batch_norm_train(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 8, c); }
static void cost_batch_norm_eval(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 2, c); }
static void cost_relu(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 1, c); }
static void cost_tanh(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 1, c); }
static void cost_sigmoid(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 1, c); }
static void cost_add(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 1, c); }
static void cost_scale(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 1, c); }
static void cost_max_pool2d(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { cost_pool(g, op, op->out[0], c); }
static void cost_avg_pool2d(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { cost_pool(g, op, op->out[0], c); }
static void cost_global_avg_pool(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 1, c); }
static void cost_reshape(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 0, c); }
static void cost_cast(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 0, c); }
static void cost_softmax_cross_entropy(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 5, c); }
static void cost_fill(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, op->out[0], 0, c); }
static void cost_bias_grad(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 1, c); }
static void cost_batch_norm_bwd(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 10, c); }
static void cost_relu_bwd(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 1, c); }
static void cost_tanh_bwd(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 3, c); }
static void cost_sigmoid_bwd(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 3, c); }
static void cost_softmax_cross_entropy_soft(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 5, c); }
static void cost_softmax_cross_entropy_soft_bwd(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(1), 4, c); }
static void cost_channel_mul(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 1, c); }
static void cost_channel_mul_grad_gate(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 2, c); }
static void cost_max_pool2d_bwd(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 1, c); }
static void cost_avg_pool2d_bwd(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { cost_pool(g, op, IN(0), c); }
static void cost_global_avg_pool_bwd(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, op->out[0], 1, c); }
static void cost_softmax_cross_entropy_bwd(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(1), 4, c); }
static void cost_sgd_update(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 4, c); }
static void cost_sgd_momentum_update(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 7, c); }
static void cost_adamw_update(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 15, c); }
static void cost_ema_update(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 3, c); }
static void cost_adam_update(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 16, c); }
static void cost_rmsprop_update(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 10, c); }
static void cost_sigmoid_bce(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 5, c); }
static void cost_sigmoid_bce_bwd(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(1), 4, c); }
static void cost_grad_norm_acc(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 2, c); }
static void cost_grad_clip_norm(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 1, c); }
static void cost_grad_clip_value(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 2, c); }
/* Lamb: the moments and the update (about 16), the two norms (4) and the update applied again (12) */
static void cost_lamb_update(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 32, c); }

/* Fused ops: the sum of the parts' flops; bytes are the fused op's own operands and results. */
static void cost_batch_norm_train_relu(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 9, c); }
static void cost_batch_norm_relu_bwd(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 11, c); }
/* fold_conv_bn: one multiply per weight, a few flops per channel. */
static void cost_fold_conv_bn(const tgc_graph *g, const tgc_op *op, tgc_cost *c) {
    elementwise(g, op, IN(0), 1, c);
    c->flops += 4 * vnumel(g, IN(1));
}

/* Detection: layout ops move data (0 flops); upsample_nearest(_bwd) 1 per output (per dy) element; the
 * focal loss ~12 per logit forward and ~16 backward (two transcendentals and a power each); l1 3 and 2. */
static void cost_batch_norm_eval_bwd(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 4, c); }
static void cost_upsample_nearest(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, op->out[0], 1, c); }
static void cost_upsample_nearest_bwd(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 1, c); }
static void cost_to_nhwc(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 0, c); }
static void cost_relayout(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 0, c); }
static void cost_to_nchw(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 0, c); }
static void cost_concat(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, op->out[0], 0, c); }
static void cost_concat_bwd(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 0, c); }
static void cost_sigmoid_focal_loss(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 12, c); }
static void cost_sigmoid_focal_loss_bwd(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(1), 16, c); }
static void cost_l1_loss_pos(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(0), 3, c); }
static void cost_l1_loss_pos_bwd(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { elementwise(g, op, IN(1), 2, c); }

/* ================================ the dtype rules ================================ */
/* The dtype dimension of the op table (tgc_dtype_rule in ir/ir.h): keyed by opcode, so an op added to
 * ops.def without a line here is F32, the safe default that mixed precision never lowers. */
static const unsigned char dtype_rules[TGC_OP_COUNT] = {
    [TGC_OP_CONV2D] = TGC_DTR_COMPUTE,
    [TGC_OP_MATMUL] = TGC_DTR_COMPUTE,
    [TGC_OP_CONV2D_BWD_DATA] = TGC_DTR_COMPUTE,
    [TGC_OP_CONV2D_BWD_FILTER] = TGC_DTR_COMPUTE,
    [TGC_OP_BIAS_ADD] = TGC_DTR_FOLLOW,
    [TGC_OP_RELU] = TGC_DTR_FOLLOW,
    [TGC_OP_TANH] = TGC_DTR_FOLLOW,
    [TGC_OP_SIGMOID] = TGC_DTR_FOLLOW,
    [TGC_OP_ADD] = TGC_DTR_FOLLOW,
    [TGC_OP_SCALE] = TGC_DTR_FOLLOW,
    [TGC_OP_MAX_POOL2D] = TGC_DTR_FOLLOW,
    [TGC_OP_AVG_POOL2D] = TGC_DTR_FOLLOW,
    [TGC_OP_GLOBAL_AVG_POOL] = TGC_DTR_FOLLOW,
    [TGC_OP_RELU_BWD] = TGC_DTR_FOLLOW,
    [TGC_OP_TANH_BWD] = TGC_DTR_FOLLOW,
    [TGC_OP_SIGMOID_BWD] = TGC_DTR_FOLLOW,
    [TGC_OP_MAX_POOL2D_BWD] = TGC_DTR_FOLLOW,
    [TGC_OP_AVG_POOL2D_BWD] = TGC_DTR_FOLLOW,
    [TGC_OP_GLOBAL_AVG_POOL_BWD] = TGC_DTR_FOLLOW,
    [TGC_OP_BN_TRAIN] = TGC_DTR_STATS,
    [TGC_OP_BN_EVAL] = TGC_DTR_STATS,
    [TGC_OP_BN_BWD] = TGC_DTR_STATS,
    [TGC_OP_BN_TRAIN_RELU] = TGC_DTR_STATS,
    [TGC_OP_BN_RELU_BWD] = TGC_DTR_STATS,
    [TGC_OP_BN_EVAL_BWD] = TGC_DTR_STATS,
    [TGC_OP_BIAS_GRAD] = TGC_DTR_ACC,
    [TGC_OP_CAST] = TGC_DTR_ANY,
    [TGC_OP_FILL] = TGC_DTR_ANY,
    [TGC_OP_RESHAPE] = TGC_DTR_ANY,
    /* F32: softmax_cross_entropy(_bwd) (the loss), the optimizer updates, fold_conv_bn */
};

tgc_dtype_rule tgc_op_dtype_rule(tgc_opcode code) {
    return (unsigned)code < TGC_OP_COUNT ? (tgc_dtype_rule)dtype_rules[code] : TGC_DTR_F32;
}

/* ================================ the layout rules ================================ */
/* The layout dimension of the op table (tgc_op_layout_io in ir/ir.h): the rank-4 activation operands and
 * results an op's kernels take in NHWC, keyed by opcode, so an op added without a line here is row-major
 * only, the safe default. Every backend whose target allows NHWC implements each op listed here in both
 * layouts. Operands outside the masks stay ROW: weights, per-channel vectors, rank-2 values. */
typedef struct layout_io {
    unsigned char in, out;
} layout_io;
static const layout_io layout_rules[TGC_OP_COUNT] = {
    [TGC_OP_CONV2D] = {0x1, 0x1},            /* x -> y (w ROW)                         */
    [TGC_OP_CONV2D_BWD_DATA] = {0x1, 0x1},   /* dy -> dx                               */
    [TGC_OP_CONV2D_BWD_FILTER] = {0x3, 0x0}, /* x, dy -> dw (ROW)                      */
    [TGC_OP_BIAS_ADD] = {0x1, 0x1},          /* x -> y, b per channel                  */
    [TGC_OP_BIAS_GRAD] = {0x1, 0x0},         /* dy -> db                               */
    [TGC_OP_BN_TRAIN] = {0x1, 0x1},          /* x -> y (statistics per channel)        */
    [TGC_OP_BN_TRAIN_RELU] = {0x1, 0x1},
    [TGC_OP_BN_EVAL] = {0x1, 0x1},
    [TGC_OP_BN_BWD] = {0x3, 0x1},            /* dy, x -> dx                            */
    [TGC_OP_BN_RELU_BWD] = {0x3, 0x1},
    [TGC_OP_BN_EVAL_BWD] = {0x3, 0x1},
    [TGC_OP_RELU] = {0x1, 0x1},
    [TGC_OP_TANH] = {0x1, 0x1},
    [TGC_OP_SIGMOID] = {0x1, 0x1},
    [TGC_OP_SCALE] = {0x1, 0x1},
    [TGC_OP_CAST] = {0x1, 0x1},
    [TGC_OP_ADD] = {0x3, 0x1},
    [TGC_OP_RELU_BWD] = {0x3, 0x1},
    [TGC_OP_TANH_BWD] = {0x3, 0x1},
    [TGC_OP_SIGMOID_BWD] = {0x3, 0x1},
    [TGC_OP_MAX_POOL2D] = {0x1, 0x1},
    [TGC_OP_MAX_POOL2D_BWD] = {0x3, 0x1},    /* dy, x -> dx                            */
    [TGC_OP_AVG_POOL2D] = {0x1, 0x1},
    [TGC_OP_AVG_POOL2D_BWD] = {0x1, 0x1},
    [TGC_OP_GLOBAL_AVG_POOL] = {0x1, 0x0},   /* x -> y[N,C]                            */
    [TGC_OP_GLOBAL_AVG_POOL_BWD] = {0x0, 0x1}, /* dy[N,C] -> dx                        */
    [TGC_OP_CHANNEL_MUL] = {0x1, 0x1},       /* x, g[N,C] -> y                         */
    [TGC_OP_CHANNEL_MUL_GRAD_GATE] = {0x3, 0x0}, /* dy, x -> dg[N,C]                   */
    [TGC_OP_RELAYOUT] = {0x1, 0x1},          /* its operand and result differ: the one exception */
};

int tgc_op_layout_io(tgc_opcode code, unsigned *in_mask, unsigned *out_mask) {
    layout_io r = (unsigned)code < TGC_OP_COUNT ? layout_rules[code] : (layout_io){0, 0};
    if (in_mask) *in_mask = r.in;
    if (out_mask) *out_mask = r.out;
    return r.in || r.out;
}

tgc_layout_fault tgc_op_layout_fault(tgc_opcode code, const tgc_type *const *t, int n_in, int n_out, int *at,
                                     int *first, int *nhwc) {
    unsigned mask[2];
    tgc_op_layout_io(code, &mask[0], &mask[1]);
    int f = -1;
    *at = *first = -1;
    *nhwc = 0;
    for (int s = 0; s < n_in + n_out; s++) {
        const int is_out = s >= n_in, pos = is_out ? s - n_in : s;
        const tgc_type *x = t[s];
        *at = s;
        if ((unsigned)x->layout >= TGC_LAYOUT_COUNT) return TGC_LAYOUT_FAULT_BAD;
        if (!(pos < 8 && ((mask[is_out] >> pos) & 1u) && x->shape.rank == 4)) {
            if (x->layout != TGC_LAYOUT_ROW) return TGC_LAYOUT_FAULT_UNMASKED;
            continue;
        }
        if (code == TGC_OP_RELAYOUT) continue;
        if (f < 0) {
            f = s;
            *nhwc = x->layout == TGC_LAYOUT_NHWC;
        } else if (x->layout != t[f]->layout) {
            *first = f;
            return TGC_LAYOUT_FAULT_MIXED;
        }
    }
    *at = -1;
    return TGC_LAYOUT_FAULT_NONE;
}

/* ================================ the table ================================ */

/* Ops with no gradient rule: fill (the seed), backward
 * ops (tgc does not differentiate twice) and optimizer updates. */
#define grad_fill NULL
#define grad_conv2d_bwd_data NULL
#define grad_conv2d_bwd_filter NULL
#define grad_bias_grad NULL
#define grad_batch_norm_bwd NULL
#define grad_relu_bwd NULL
#define grad_tanh_bwd NULL
#define grad_sigmoid_bwd NULL
#define grad_max_pool2d_bwd NULL
#define grad_avg_pool2d_bwd NULL
#define grad_global_avg_pool_bwd NULL
#define grad_softmax_cross_entropy_bwd NULL
#define grad_sgd_update NULL
#define grad_sgd_momentum_update NULL
#define grad_adamw_update NULL
#define grad_adam_update NULL
#define grad_ema_update NULL
#define grad_rmsprop_update NULL
#define grad_grad_norm_acc NULL
#define grad_grad_clip_norm NULL
#define grad_grad_clip_value NULL
#define grad_lamb_update NULL
#define grad_sigmoid_bce_bwd NULL
/* made after autodiff, by the fusion passes, and only in the eval graph (fold) or as the fused backward */
#define grad_batch_norm_relu_bwd NULL
#define grad_fold_conv_bn NULL
#define grad_channel_mul_grad_gate NULL
#define grad_softmax_cross_entropy_soft_bwd NULL
#define grad_upsample_nearest_bwd NULL
#define grad_batch_norm_eval_bwd NULL
#define grad_concat_bwd NULL
#define grad_sigmoid_focal_loss_bwd NULL
#define grad_l1_loss_pos_bwd NULL

const tgc_op_info tgc_op_table[TGC_OP_COUNT] = {
#define TGC_OP(E, name, n_in, n_out, attrs, mutates, flags) \
    [TGC_OP_##E] = {#name, n_in, n_out, attrs, mutates, flags, infer_##name, grad_##name, cost_##name},
#include "ir/ops.def"
#undef TGC_OP
};

/* Every row must fit the fixed operand/result arrays. */
#define TGC_OP(E, name, n_in, n_out, attrs, mutates, flags) \
    _Static_assert((n_in) <= TGC_MAX_IN && (n_out) <= TGC_MAX_OUT, #name " exceeds TGC_MAX_IN/OUT");
#include "ir/ops.def"
#undef TGC_OP
