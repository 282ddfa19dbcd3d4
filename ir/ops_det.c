/* ir/ops_det.c - shape rules, gradient rules and costs of the detection ops (ir/ops.def's last block):
 * roi_align and its backward, topk, nms_fixed, smooth_l1, the box ops, giou_loss, rcnn_targets, and Faster
 * R-CNN's anchor_decode, softmax_cross_entropy_masked, class_box_targets and accuracy_masked. ir/ops_det.h
 * names them as
 * ir/ops.c's table expects. */
#include <math.h>

#include "ir/ops_det.h"

#define TY(v) (&g->vals[(v)].type)
#define IN(k) (op->in[(k)])
#define DIM_LIMIT ((int64_t)1 << 40)

static const char *tstr(const tgc_type *t, char *buf, size_t n) {
    char s[160];
    tgc_shape_str(&t->shape, s, sizeof s);
    snprintf(buf, n, "%s%s", tgc_dtype_name(t->dtype), s);
    return buf;
}

/* dtype dt and, when rank >= 0, that rank. */
static int want(const tgc_type *t, tgc_dtype dt, int rank, const char *what, tgc_err *err) {
    if (t->dtype != dt || (rank >= 0 && t->shape.rank != rank)) {
        char b[200];
        if (rank >= 0) return tgc_fail(err, "%s must be %d-D %s, got %s", what, rank, tgc_dtype_name(dt), tstr(t, b, sizeof b));
        return tgc_fail(err, "%s must be %s, got %s", what, tgc_dtype_name(dt), tstr(t, b, sizeof b));
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

/* ---- roi_align ------------------------------------------------------------------------------------- */
static int roi_attrs_check(const tgc_attrs *a, tgc_err *err) {
    for (int i = 0; i < 2; i++)
        if (a->output_size[i] < 1 || a->output_size[i] > DIM_LIMIT)
            return tgc_fail(err, "output_size=[%lld,%lld] must be positive", (long long)a->output_size[0],
                            (long long)a->output_size[1]);
    if (!(a->spatial_scale > 0) || isinf(a->spatial_scale))
        return tgc_fail(err, "spatial_scale=%g must be positive and finite", a->spatial_scale);
    if (a->sampling_ratio < 0 || a->sampling_ratio > 1024)
        return tgc_fail(err, "sampling_ratio=%lld must be in [0, 1024] (0: adaptive)", (long long)a->sampling_ratio);
    if (a->num_levels < 1 || a->num_levels > 16)
        return tgc_fail(err, "num_levels=%lld must be in [1, 16]", (long long)a->num_levels);
    if (a->roi_level < -1 || a->roi_level >= a->num_levels)
        return tgc_fail(err, "roi_level=%lld must be -1 (every RoI) or in [0, num_levels=%lld)", (long long)a->roi_level,
                        (long long)a->num_levels);
    if (!(a->finest_scale > 0) || isinf(a->finest_scale))
        return tgc_fail(err, "finest_scale=%g must be positive and finite", a->finest_scale);
    return 0;
}

static int rois_check(const tgc_type *r, tgc_err *err) {
    if (want(r, TGC_F32, 2, "rois", err) < 0) return -1;
    if (r->shape.d[1] != 5) {
        char b[200];
        return tgc_fail(err, "rois must be [K,5] (batch index, x1, y1, x2, y2), got %s", tstr(r, b, sizeof b));
    }
    return 0;
}

int tgc_det_infer_roi_align(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *x = TY(IN(0));
    if (want(x, TGC_F32, 4, "input", err) < 0 || rois_check(TY(IN(1)), err) < 0 || roi_attrs_check(&op->attrs, err) < 0)
        return -1;
    out->dtype = TGC_F32;
    out->shape = tgc_shape4(TY(IN(1))->shape.d[0], x->shape.d[1], op->attrs.output_size[0], op->attrs.output_size[1]);
    return 0;
}

int tgc_det_infer_roi_align_bwd(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *dy = TY(IN(0));
    const tgc_shape *xs = &op->attrs.shape;
    if (want(dy, TGC_F32, 4, "dy", err) < 0 || rois_check(TY(IN(1)), err) < 0 || roi_attrs_check(&op->attrs, err) < 0)
        return -1;
    if (xs->rank != 4) return tgc_fail(err, "attribute shape (the input's) must be 4-D, got rank %d", xs->rank);
    for (int i = 0; i < 4; i++)
        if (xs->d[i] < 1 || xs->d[i] > DIM_LIMIT) return tgc_fail(err, "attribute shape has a non-positive dimension");
    tgc_shape want_dy = tgc_shape4(TY(IN(1))->shape.d[0], xs->d[1], op->attrs.output_size[0], op->attrs.output_size[1]);
    if (!tgc_shape_eq(&want_dy, &dy->shape)) {
        char a[160], b[200];
        tgc_shape_str(&want_dy, a, sizeof a);
        return tgc_fail(err, "dy %s does not match the forward result f32%s", tstr(dy, b, sizeof b), a);
    }
    out->dtype = TGC_F32;
    out->shape = *xs;
    return 0;
}

/* Only the features get a gradient: the RoIs come from the proposal selection (no gradient in MMDetection). */
int tgc_det_grad_roi_align(tgc_graph *g, int op_index, const int *dy, const unsigned char *need, int *dx, tgc_err *err) {
    tgc_op op = g->ops[op_index];
    if (dy[0] < 0 || !need[0]) return 0;
    tgc_attrs a = op.attrs;
    a.shape = g->vals[op.in[0]].type.shape;
    dx[0] = tgc_emit1(g, TGC_OP_ROI_ALIGN_BWD, &a, op.scope, err, 2, dy[0], op.in[1]);
    return dx[0] < 0 ? -1 : 0;
}

/* ---- topk, nms_fixed ------------------------------------------------------------------------------ */
int tgc_det_infer_topk(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *x = TY(IN(0));
    if (want(x, TGC_F32, -1, "input", err) < 0) return -1;
    if (x->shape.rank < 1) return tgc_fail(err, "input must have at least one dimension");
    int64_t n = x->shape.d[x->shape.rank - 1];
    if (op->attrs.k < 1 || op->attrs.k > n)
        return tgc_fail(err, "k=%lld must be in [1, %lld] (the last dimension)", (long long)op->attrs.k, (long long)n);
    out[0].dtype = TGC_F32;
    out[0].shape = x->shape;
    out[0].shape.d[x->shape.rank - 1] = op->attrs.k;
    out[1] = out[0];
    out[1].dtype = TGC_I32;
    return 0;
}

int tgc_det_infer_nms_fixed(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *b = TY(IN(0)), *s = TY(IN(1)), *id = TY(IN(2));
    if (want(b, TGC_F32, 3, "boxes", err) < 0 || want(s, TGC_F32, 2, "scores", err) < 0 ||
        want(id, TGC_I32, 2, "ids", err) < 0)
        return -1;
    if (b->shape.d[2] != 4 || s->shape.d[0] != b->shape.d[0] || s->shape.d[1] != b->shape.d[1] ||
        !tgc_shape_eq(&s->shape, &id->shape)) {
        char x[200], y[200], z[200];
        return tgc_fail(err, "boxes %s, scores %s and ids %s must be [B,n,4], [B,n] and [B,n]", tstr(b, x, sizeof x),
                        tstr(s, y, sizeof y), tstr(id, z, sizeof z));
    }
    if (op->attrs.k < 1 || op->attrs.k > DIM_LIMIT) return tgc_fail(err, "k=%lld (max_out) must be positive", (long long)op->attrs.k);
    if (!isfinite(op->attrs.iou_threshold)) return tgc_fail(err, "iou_threshold=%g must be finite", op->attrs.iou_threshold);
    out[0].dtype = TGC_I32;
    out[0].shape = tgc_shape2(b->shape.d[0], op->attrs.k);
    out[1].dtype = TGC_I32;
    out[1].shape = tgc_shape1(b->shape.d[0]);
    return 0;
}

/* ---- smooth_l1 ------------------------------------------------------------------------------------- */
static int sl1_check(const tgc_graph *g, const tgc_op *op, int first, tgc_err *err) {
    const tgc_type *p = TY(IN(first)), *f = TY(IN(first + 3));
    if (want(p, TGC_F32, -1, "pred", err) < 0 || want_same(p, "pred", TY(IN(first + 1)), "target", err) < 0 ||
        want_same(p, "pred", TY(IN(first + 2)), "weight", err) < 0 || want(f, TGC_F32, -1, "avg_factor", err) < 0)
        return -1;
    if (tgc_shape_numel(&f->shape) != 1 || f->shape.rank > 1) {
        char b[200];
        return tgc_fail(err, "avg_factor must be f32[1] or f32[], got %s", tstr(f, b, sizeof b));
    }
    if (!(op->attrs.beta >= 0) || isinf(op->attrs.beta)) return tgc_fail(err, "beta=%g must be finite and >= 0", op->attrs.beta);
    return 0;
}

int tgc_det_infer_smooth_l1(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    if (sl1_check(g, op, 0, err) < 0) return -1;
    out->dtype = TGC_F32;
    out->shape = tgc_shape0();
    return 0;
}

int tgc_det_infer_smooth_l1_bwd(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *d = TY(IN(0));
    if (d->dtype != TGC_F32 || d->shape.rank != 0) {
        char b[200];
        return tgc_fail(err, "dloss must be an f32 scalar (f32[]), got %s", tstr(d, b, sizeof b));
    }
    if (sl1_check(g, op, 1, err) < 0) return -1;
    *out = *TY(IN(1));
    return 0;
}

/* Only the prediction gets a gradient: targets, weights and the normaliser are data. */
int tgc_det_grad_smooth_l1(tgc_graph *g, int op_index, const int *dy, const unsigned char *need, int *dx, tgc_err *err) {
    tgc_op op = g->ops[op_index];
    if (dy[0] < 0 || !need[0]) return 0;
    tgc_attrs a = tgc_attrs_default();
    a.alpha = op.attrs.alpha, a.beta = op.attrs.beta;
    dx[0] = tgc_emit1(g, TGC_OP_SMOOTH_L1_BWD, &a, op.scope, err, 5, dy[0], op.in[0], op.in[1], op.in[2], op.in[3]);
    return dx[0] < 0 ? -1 : 0;
}

/* ---- giou_loss ------------------------------------------------------------------------------------------- */
static int giou_check(const tgc_graph *g, const tgc_op *op, int first, tgc_err *err) {
    const tgc_type *p = TY(IN(first)), *w = TY(IN(first + 2)), *f = TY(IN(first + 3));
    if (want(p, TGC_F32, -1, "pred", err) < 0 || want_same(p, "pred", TY(IN(first + 1)), "target", err) < 0 ||
        want(w, TGC_F32, p->shape.rank - 1, "weight", err) < 0 || want(f, TGC_F32, -1, "avg_factor", err) < 0)
        return -1;
    char b[200], c[200];
    if (p->shape.rank < 1 || p->shape.d[p->shape.rank - 1] != 4)
        return tgc_fail(err, "pred must be [..., 4] (x1, y1, x2, y2), got %s", tstr(p, b, sizeof b));
    for (int i = 0; i + 1 < p->shape.rank; i++)
        if (w->shape.d[i] != p->shape.d[i])
            return tgc_fail(err, "weight %s must have pred's shape %s without its last dimension", tstr(w, b, sizeof b),
                            tstr(p, c, sizeof c));
    if (tgc_shape_numel(&f->shape) != 1 || f->shape.rank > 1)
        return tgc_fail(err, "avg_factor must be f32[1] or f32[], got %s", tstr(f, b, sizeof b));
    if (!(op->attrs.eps > 0)) return tgc_fail(err, "eps=%g must be positive", op->attrs.eps);
    return 0;
}

int tgc_det_infer_giou_loss(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    if (giou_check(g, op, 0, err) < 0) return -1;
    out->dtype = TGC_F32;
    out->shape = tgc_shape0();
    return 0;
}

int tgc_det_infer_giou_loss_bwd(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *d = TY(IN(0));
    if (d->dtype != TGC_F32 || d->shape.rank != 0) {
        char b[200];
        return tgc_fail(err, "dloss must be an f32 scalar (f32[]), got %s", tstr(d, b, sizeof b));
    }
    if (giou_check(g, op, 1, err) < 0) return -1;
    *out = *TY(IN(1));
    return 0;
}

int tgc_det_grad_giou_loss(tgc_graph *g, int op_index, const int *dy, const unsigned char *need, int *dx, tgc_err *err) {
    tgc_op op = g->ops[op_index];
    if (dy[0] < 0 || !need[0]) return 0;
    tgc_attrs a = tgc_attrs_default();
    a.alpha = op.attrs.alpha, a.eps = op.attrs.eps;
    dx[0] = tgc_emit1(g, TGC_OP_GIOU_LOSS_BWD, &a, op.scope, err, 5, dy[0], op.in[0], op.in[1], op.in[2], op.in[3]);
    return dx[0] < 0 ? -1 : 0;
}

/* ---- boxes, gather ------------------------------------------------------------------------------------ */
/* f32 [..., 4] */
static int want_boxes(const tgc_type *t, const char *what, tgc_err *err) {
    if (want(t, TGC_F32, -1, what, err) < 0) return -1;
    if (t->shape.rank < 1 || t->shape.d[t->shape.rank - 1] != 4) {
        char b[200];
        return tgc_fail(err, "%s must be [..., 4] (x1, y1, x2, y2), got %s", what, tstr(t, b, sizeof b));
    }
    return 0;
}

static int coder_check(const tgc_attrs *a, tgc_err *err) {
    for (int i = 0; i < 4; i++)
        if (!(a->target_stds[i] != 0) || !isfinite(a->target_stds[i]) || !isfinite(a->target_means[i]))
            return tgc_fail(err, "target_stds must be finite and non-zero, target_means finite (element %d: %g, %g)", i,
                            a->target_stds[i], a->target_means[i]);
    return 0;
}

int tgc_det_infer_box_iou(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *a = TY(IN(0)), *b = TY(IN(1));
    if (want_boxes(a, "a", err) < 0 || want_boxes(b, "b", err) < 0) return -1;
    if (a->shape.rank != 3 || b->shape.rank != 3 || a->shape.d[0] != b->shape.d[0]) {
        char x[200], y[200];
        return tgc_fail(err, "a %s and b %s must be [B,n,4] and [B,m,4]", tstr(a, x, sizeof x), tstr(b, y, sizeof y));
    }
    if (!(op->attrs.eps > 0)) return tgc_fail(err, "eps=%g must be positive", op->attrs.eps);
    out->dtype = TGC_F32;
    out->shape = tgc_shape_make(3, (int64_t[]){a->shape.d[0], a->shape.d[1], b->shape.d[1]});
    return 0;
}

int tgc_det_infer_box_encode(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    if (want_boxes(TY(IN(0)), "proposals", err) < 0 || want_same(TY(IN(0)), "proposals", TY(IN(1)), "gt", err) < 0 ||
        coder_check(&op->attrs, err) < 0)
        return -1;
    *out = *TY(IN(0));
    return 0;
}

int tgc_det_infer_box_decode(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *r = TY(IN(0)), *m = TY(IN(2));
    if (want_boxes(r, "rois", err) < 0 || want_same(r, "rois", TY(IN(1)), "deltas", err) < 0 ||
        want(m, TGC_F32, 2, "max_shape", err) < 0 || coder_check(&op->attrs, err) < 0)
        return -1;
    if (r->shape.rank != 3 || m->shape.d[0] != r->shape.d[0] || m->shape.d[1] != 2) {
        char x[200], y[200];
        return tgc_fail(err, "rois %s and max_shape %s must be [B,n,4] and [B,2] (h, w)", tstr(r, x, sizeof x),
                        tstr(m, y, sizeof y));
    }
    if (!(op->attrs.wh_ratio_clip > 0 && op->attrs.wh_ratio_clip <= 1))
        return tgc_fail(err, "wh_ratio_clip=%g must be in (0, 1]", op->attrs.wh_ratio_clip);
    *out = *r;
    return 0;
}

int tgc_det_infer_gather(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *x = TY(IN(0)), *ix = TY(IN(1));
    char b[200], c[200];
    if (x->dtype != TGC_F32 && x->dtype != TGC_I32)
        return tgc_fail(err, "x must be f32 or i32, got %s", tstr(x, b, sizeof b));
    if (want(ix, TGC_I32, 2, "idx", err) < 0) return -1;
    if (x->shape.rank < 2 || x->shape.d[0] != ix->shape.d[0])
        return tgc_fail(err, "x %s and idx %s must be [B,n,...] and [B,m]", tstr(x, b, sizeof b), tstr(ix, c, sizeof c));
    double f = op->attrs.alpha;
    if (x->dtype == TGC_I32 && !(f == floor(f) && f >= -2147483648.0 && f <= 2147483647.0))
        return tgc_fail(err, "alpha=%g (the fill of an i32 gather) must be an integer in i32's range", f);
    *out = *x;
    out->shape.d[1] = ix->shape.d[1];
    return 0;
}

/* ---- rcnn_targets ---------------------------------------------------------------------------------------- */
static int same_b(const tgc_type *t, int64_t b, const char *what, const char *form, tgc_err *err) {
    if (t->shape.d[0] != b) {
        char x[200];
        return tgc_fail(err, "%s %s must be %s with the proposals' B=%lld", what, tstr(t, x, sizeof x), form, (long long)b);
    }
    return 0;
}

int tgc_det_infer_rcnn_targets(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *p = TY(IN(0)), *cnt = TY(IN(1)), *gb = TY(IN(2)), *gl = TY(IN(3)), *r = TY(IN(4));
    const tgc_attrs *a = &op->attrs;
    char x[200];
    if (want(p, TGC_F32, 3, "proposals", err) < 0 || want(cnt, TGC_I32, 1, "count", err) < 0 ||
        want(gb, TGC_F32, 3, "gt_bboxes", err) < 0 || want(gl, TGC_I32, 2, "gt_labels", err) < 0 ||
        want(r, TGC_I32, 2, "rng", err) < 0 || coder_check(a, err) < 0)
        return -1;
    const int64_t b = p->shape.d[0];
    if (p->shape.d[2] != 4) return tgc_fail(err, "proposals must be [B,P,4] (x1, y1, x2, y2), got %s", tstr(p, x, sizeof x));
    if (gb->shape.d[2] != 4) return tgc_fail(err, "gt_bboxes must be [B,G,4] (x1, y1, x2, y2), got %s", tstr(gb, x, sizeof x));
    if (same_b(cnt, b, "count", "[B]", err) < 0 || same_b(gb, b, "gt_bboxes", "[B,G,4]", err) < 0 ||
        same_b(gl, b, "gt_labels", "[B,G]", err) < 0 || same_b(r, b, "rng", "[B,4]", err) < 0)
        return -1;
    if (gl->shape.d[1] != gb->shape.d[1])
        return tgc_fail(err, "gt_labels %s must be [B,G] with gt_bboxes' G=%lld", tstr(gl, x, sizeof x), (long long)gb->shape.d[1]);
    if (r->shape.d[1] != 4)
        return tgc_fail(err, "rng must be [B,4] (seed low, seed high, epoch, position), got %s", tstr(r, x, sizeof x));
    if (p->shape.d[1] + gb->shape.d[1] > INT32_MAX)
        return tgc_fail(err, "%lld proposals and %lld gt slots per image: at most 2^31-1 candidates", (long long)p->shape.d[1],
                        (long long)gb->shape.d[1]);
    if (a->k < 1 || a->k > INT32_MAX) return tgc_fail(err, "k=%lld (RoIs sampled per image) must be in [1, 2^31-1]", (long long)a->k);
    if (!(a->pos_fraction >= 0 && a->pos_fraction <= 1))
        return tgc_fail(err, "pos_fraction=%g must be in [0, 1]", a->pos_fraction);
    if (!isfinite(a->pos_iou_thr) || !isfinite(a->neg_iou_thr) || !isfinite(a->min_pos_iou))
        return tgc_fail(err, "pos_iou_thr=%g, neg_iou_thr=%g and min_pos_iou=%g must be finite", a->pos_iou_thr,
                        a->neg_iou_thr, a->min_pos_iou);
    if (a->num_classes < 1 || a->num_classes > INT32_MAX - 1)
        return tgc_fail(err, "num_classes=%lld must be positive", (long long)a->num_classes);
    if (b * a->k > DIM_LIMIT) return tgc_fail(err, "B*k=%lld RoIs is too many", (long long)(b * a->k));
    out[0].dtype = TGC_F32, out[0].shape = tgc_shape2(b * a->k, 5);
    out[1].dtype = TGC_I32, out[1].shape = tgc_shape1(b * a->k);
    out[2].dtype = TGC_F32, out[2].shape = tgc_shape2(b * a->k, 4);
    return 0;
}

/* ---- costs ------------------------------------------------------------------------------------------
 * bytes: every operand and result, as ir/ops.c counts them (roi_align's input counted whole, though a
 * kernel reads only the sampled neighbourhoods). flops per element: roi_align 10 per bilinear sample of
 * each output (4 samples per bin assumed with sampling_ratio 0), the same per dy element for the
 * backward; topk log2(n) comparisons per input element (a sort); nms_fixed 15 per box pair of an image
 * (the worst case: no box suppressed); smooth_l1 6 and its backward 5 per element; box_iou 12 per pair,
 * box_encode 20 and box_decode 30 per box, gather 0; giou_loss 30 and its backward 60 per box; rcnn_targets 15
 * per (candidate, gt) pair (the IoUs) and 2 per candidate pair of an image (the sampler's ranking). */
static double numel(const tgc_graph *g, int v) { return (double)tgc_shape_numel(&g->vals[v].type.shape); }

static void io(const tgc_graph *g, const tgc_op *op, double flops, tgc_cost *c) {
    c->macs = 0;
    c->flops = flops;
    c->bytes = 0;
    for (int j = 0; j < op->n_in; j++) c->bytes += numel(g, op->in[j]) * (double)tgc_dtype_size(TY(op->in[j])->dtype);
    for (int k = 0; k < op->n_out; k++) c->bytes += numel(g, op->out[k]) * (double)tgc_dtype_size(TY(op->out[k])->dtype);
}

static double samples(const tgc_attrs *a) {
    return a->sampling_ratio > 0 ? (double)(a->sampling_ratio * a->sampling_ratio) : 4.0;
}

void tgc_det_cost_roi_align(const tgc_graph *g, const tgc_op *op, tgc_cost *c) {
    io(g, op, 10 * samples(&op->attrs) * numel(g, op->out[0]), c);
}
void tgc_det_cost_roi_align_bwd(const tgc_graph *g, const tgc_op *op, tgc_cost *c) {
    io(g, op, 10 * samples(&op->attrs) * numel(g, IN(0)), c);
}
void tgc_det_cost_topk(const tgc_graph *g, const tgc_op *op, tgc_cost *c) {
    const tgc_shape *s = &TY(IN(0))->shape;
    double n = s->rank ? (double)s->d[s->rank - 1] : 1;
    io(g, op, numel(g, IN(0)) * (n > 1 ? log2(n) : 1), c);
}
void tgc_det_cost_nms_fixed(const tgc_graph *g, const tgc_op *op, tgc_cost *c) {
    const tgc_shape *s = &TY(IN(1))->shape;
    double b = s->rank == 2 ? (double)s->d[0] : 0, n = s->rank == 2 ? (double)s->d[1] : 0;
    io(g, op, 15 * b * n * n / 2, c);
}
void tgc_det_cost_smooth_l1(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { io(g, op, 6 * numel(g, IN(0)), c); }
void tgc_det_cost_smooth_l1_bwd(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { io(g, op, 5 * numel(g, IN(1)), c); }
void tgc_det_cost_box_iou(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { io(g, op, 12 * numel(g, op->out[0]), c); }
void tgc_det_cost_box_encode(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { io(g, op, 5 * numel(g, IN(0)), c); }
void tgc_det_cost_box_decode(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { io(g, op, 7.5 * numel(g, IN(0)), c); }
void tgc_det_cost_gather(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { io(g, op, 0, c); }
void tgc_det_cost_giou_loss(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { io(g, op, 7.5 * numel(g, IN(0)), c); }
void tgc_det_cost_giou_loss_bwd(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { io(g, op, 15 * numel(g, IN(1)), c); }
void tgc_det_cost_rcnn_targets(const tgc_graph *g, const tgc_op *op, tgc_cost *c) {
    const tgc_shape *p = &TY(IN(0))->shape, *gb = &TY(IN(2))->shape;
    double b = p->rank == 3 ? (double)p->d[0] : 0, n = p->rank == 3 ? (double)p->d[1] : 0, m = gb->rank == 3 ? (double)gb->d[1] : 0;
    io(g, op, b * (15 * n * m + 2 * (n + m) * (n + m)), c);
}

/* ---- Faster R-CNN: anchor_decode, softmax_cross_entropy_masked, class_box_targets ------------------------ */
int tgc_det_infer_anchor_decode(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *ix = TY(IN(0)), *d = TY(IN(1)), *s = TY(IN(2)), *m = TY(IN(3));
    const tgc_attrs *a = &op->attrs;
    if (want(ix, TGC_I32, 2, "idx", err) < 0 || want(d, TGC_F32, 3, "deltas", err) < 0 ||
        want(s, TGC_F32, 2, "scores", err) < 0 || want(m, TGC_F32, 2, "img_shape", err) < 0 || coder_check(a, err) < 0)
        return -1;
    char x[200], y[200], z[200];
    if (!tgc_shape_eq(&ix->shape, &s->shape) || d->shape.d[0] != ix->shape.d[0] || d->shape.d[1] != ix->shape.d[1] ||
        d->shape.d[2] != 4 || m->shape.d[0] != ix->shape.d[0] || m->shape.d[1] != 2)
        return tgc_fail(err, "idx %s, deltas %s and scores must be [B,k], [B,k,4] and [B,k], img_shape %s [B,2]",
                        tstr(ix, x, sizeof x), tstr(d, y, sizeof y), tstr(m, z, sizeof z));
    const tgc_shape *gs = &a->shape;
    if (gs->rank != 3 || gs->d[0] < 1 || gs->d[1] < 1 || gs->d[2] < 1 || gs->d[0] > DIM_LIMIT || gs->d[1] > DIM_LIMIT)
        return tgc_fail(err, "attribute shape (the anchor grid [H, W, base anchors]) must be 3-D and positive");
    if (gs->d[2] > (int64_t)(sizeof a->base_anchors / sizeof a->base_anchors[0] / 4))
        return tgc_fail(err, "%lld base anchors per cell (at most %d)", (long long)gs->d[2],
                        (int)(sizeof a->base_anchors / sizeof a->base_anchors[0] / 4));
    if (a->stride[0] < 1 || a->stride[1] < 1)
        return tgc_fail(err, "stride=[%lld,%lld] must be positive", (long long)a->stride[0], (long long)a->stride[1]);
    for (int i = 0; i < 4 * gs->d[2]; i++)
        if (!isfinite(a->base_anchors[i])) return tgc_fail(err, "base_anchors[%d] is not finite", i);
    if (!isfinite(a->min_bbox_size)) return tgc_fail(err, "min_bbox_size=%g must be finite", a->min_bbox_size);
    if (!(a->wh_ratio_clip > 0 && a->wh_ratio_clip <= 1))
        return tgc_fail(err, "wh_ratio_clip=%g must be in (0, 1]", a->wh_ratio_clip);
    out[0] = *d;
    out[1] = *s;
    return 0;
}

static int ce_masked_check(const tgc_graph *g, const tgc_op *op, int first, tgc_err *err) {
    const tgc_type *x = TY(IN(first)), *l = TY(IN(first + 1));
    if (want(x, TGC_F32, 2, "logits", err) < 0 || want(l, TGC_I32, 1, "labels", err) < 0) return -1;
    if (l->shape.d[0] != x->shape.d[0]) {
        char a[200], b[200];
        return tgc_fail(err, "labels %s must have one entry per row of logits %s", tstr(l, a, sizeof a), tstr(x, b, sizeof b));
    }
    if (!isfinite(op->attrs.alpha)) return tgc_fail(err, "alpha=%g (loss_weight) must be finite", op->attrs.alpha);
    return 0;
}

int tgc_det_infer_softmax_cross_entropy_masked(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    if (ce_masked_check(g, op, 0, err) < 0) return -1;
    out->dtype = TGC_F32;
    out->shape = tgc_shape0();
    return 0;
}

int tgc_det_infer_softmax_cross_entropy_masked_bwd(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *d = TY(IN(0));
    if (d->dtype != TGC_F32 || d->shape.rank != 0) {
        char b[200];
        return tgc_fail(err, "dloss must be an f32 scalar (f32[]), got %s", tstr(d, b, sizeof b));
    }
    if (ce_masked_check(g, op, 1, err) < 0) return -1;
    *out = *TY(IN(1));
    return 0;
}

/* Only the logits get a gradient: the labels are data. */
int tgc_det_grad_softmax_cross_entropy_masked(tgc_graph *g, int op_index, const int *dy, const unsigned char *need,
                                               int *dx, tgc_err *err) {
    tgc_op op = g->ops[op_index];
    if (dy[0] < 0 || !need[0]) return 0;
    tgc_attrs a = tgc_attrs_default();
    a.alpha = op.attrs.alpha;
    dx[0] = tgc_emit1(g, TGC_OP_SOFTMAX_CE_MASKED_BWD, &a, op.scope, err, 3, dy[0], op.in[0], op.in[1]);
    return dx[0] < 0 ? -1 : 0;
}

int tgc_det_infer_class_box_targets(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    const tgc_type *l = TY(IN(0)), *t = TY(IN(1));
    if (want(l, TGC_I32, 1, "labels", err) < 0 || want(t, TGC_F32, 2, "targets", err) < 0) return -1;
    if (t->shape.d[0] != l->shape.d[0]) {
        char a[200], b[200];
        return tgc_fail(err, "targets %s must have one row per label of %s", tstr(t, a, sizeof a), tstr(l, b, sizeof b));
    }
    int64_t c = op->attrs.num_classes;
    if (c < 1 || c > DIM_LIMIT / (t->shape.d[1] > 0 ? t->shape.d[1] : 1))
        return tgc_fail(err, "num_classes=%lld must be positive", (long long)c);
    out[0].dtype = TGC_F32;
    out[0].shape = tgc_shape2(t->shape.d[0], c * t->shape.d[1]);
    out[1] = out[0];
    out[2].dtype = TGC_F32;
    out[2].shape = tgc_shape1(1);
    return 0;
}

int tgc_det_infer_accuracy_masked(const tgc_graph *g, const tgc_op *op, tgc_type *out, tgc_err *err) {
    if (ce_masked_check(g, op, 0, err) < 0) return -1;
    out->dtype = TGC_F32;
    out->shape = tgc_shape0();
    return 0;
}

/* anchor_decode 40 per box (the anchor, box_decode's 30, the size test); the masked cross-entropy 4 per
 * logit forward, 5 backward; class_box_targets 0 (copies); accuracy_masked 1 per logit (the arg-max). */
void tgc_det_cost_anchor_decode(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { io(g, op, 40 * numel(g, IN(2)), c); }
void tgc_det_cost_softmax_cross_entropy_masked(const tgc_graph *g, const tgc_op *op, tgc_cost *c) {
    io(g, op, 4 * numel(g, IN(0)), c);
}
void tgc_det_cost_softmax_cross_entropy_masked_bwd(const tgc_graph *g, const tgc_op *op, tgc_cost *c) {
    io(g, op, 5 * numel(g, IN(1)), c);
}
void tgc_det_cost_class_box_targets(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { io(g, op, 0, c); }
void tgc_det_cost_accuracy_masked(const tgc_graph *g, const tgc_op *op, tgc_cost *c) { io(g, op, numel(g, IN(0)), c); }
