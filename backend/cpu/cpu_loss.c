/* backend/cpu/cpu_loss.c - softmax cross-entropy with label smoothing, forward and backward, on hard labels
 * and on soft targets (softmax_cross_entropy_soft: rows t of the target instead of onehot(y)), and the
 * sigmoid binary cross-entropy on either; the masked softmax cross-entropy of detection (label -1: a padding row,
 * no term; the mean over the other rows) and the matching top-1 accuracy.
 *
 * With q = (1-s)*onehot(y) + s/C and log p = x - lse(x):
 *   loss_row = -sum_c q_c log p_c = lse - (1-s)*x_y - (s/C)*sum_c x_c
 *   d loss_row / d x_c = p_c - q_c
 * and with q = (1-s)*t + s/C (sum_c q_c = (1-s)*sum_c t_c + s, 1 for a distribution):
 *   loss_row = lse * sum_c q_c - sum_c q_c x_c,   d loss_row / d x_c = p_c * sum_c q_c - q_c
 * The sigmoid binary cross-entropy (use_sigmoid) takes either target form: per element
 *   max(x, 0) - x*q + log(1 + exp(-|x|)) (= -q log sigmoid(x) - (1-q) log(1 - sigmoid(x))), mean over N*C,
 *   d / d x = sigmoid(x) - q.
 * lse is computed stably (max-shifted) in double. Rows are independent (threaded); the batch mean adds the
 * per-row losses in row order, so the result does not depend on the thread count. */
#include <math.h>
#include <stdlib.h>

#include "backend/cpu/cpu_internal.h"

typedef struct ce_job {
    const float *x;
    const int32_t *y;
    const float *t; /* soft targets [N,C] (y unused) */
    int64_t n, c;
    double smooth;
    double *row_loss; /* forward */
    float *dx;        /* backward */
    double dscale;    /* backward: dloss * alpha / N */
} ce_job;

/* Max and log-sum-exp of one row. */
static double row_lse(const float *x, int64_t c) {
    double m = -INFINITY;
    for (int64_t j = 0; j < c; j++)
        if (x[j] > m) m = x[j];
    if (isinf(m)) return m; /* all -inf (or +inf present): the loss is not finite either way */
    double s = 0;
    for (int64_t j = 0; j < c; j++) s += exp((double)x[j] - m);
    return m + log(s);
}

static void ce_fwd_rows(void *ctx, int64_t lo, int64_t hi) {
    const ce_job *j = ctx;
    for (int64_t r = lo; r < hi; r++) {
        const float *x = j->x + r * j->c;
        double lse = row_lse(x, j->c), sum = 0;
        for (int64_t c = 0; c < j->c; c++) sum += x[c];
        j->row_loss[r] = lse - (1.0 - j->smooth) * x[j->y[r]] - j->smooth / (double)j->c * sum;
    }
}

static void ce_bwd_rows(void *ctx, int64_t lo, int64_t hi) {
    const ce_job *j = ctx;
    double q0 = j->smooth / (double)j->c;
    for (int64_t r = lo; r < hi; r++) {
        const float *x = j->x + r * j->c;
        float *dx = j->dx + r * j->c;
        double lse = row_lse(x, j->c);
        for (int64_t c = 0; c < j->c; c++) {
            double q = q0 + (c == j->y[r] ? 1.0 - j->smooth : 0.0);
            dx[c] = (float)(j->dscale * (exp((double)x[c] - lse) - q));
        }
    }
}

/* Checks logits [N,C] f32 (operand li), labels [N] i32 (operand li+1) with every label in [0, C). */
static int ce_check(const cpu_call *k, int li, ce_job *j, tgc_err *err) {
    if (cpu_check_dtype(k, 0, li, TGC_F32, err) || cpu_check_dtype(k, 0, li + 1, TGC_I32, err) ||
        cpu_check_rank(k, 0, li, 2, err) || cpu_check_rank(k, 0, li + 1, 1, err) ||
        cpu_check_dtype(k, 1, 0, TGC_F32, err))
        return -1;
    j->n = k->in_t[li].shape.d[0], j->c = k->in_t[li].shape.d[1];
    if (k->in_t[li + 1].shape.d[0] != j->n)
        return tgc_fail(err, "cpu backend: %s: %lld labels for %lld rows of logits", k->name,
                        (long long)k->in_t[li + 1].shape.d[0], (long long)j->n);
    if (j->n < 1 || j->c < 1) return tgc_fail(err, "cpu backend: %s: empty logits", k->name);
    j->smooth = k->a->label_smooth;
    if (!(j->smooth >= 0 && j->smooth <= 1))
        return tgc_fail(err, "cpu backend: %s: label_smooth %g is not in [0, 1]", k->name, j->smooth);
    j->x = k->in[li];
    j->y = k->in[li + 1];
    for (int64_t r = 0; r < j->n; r++)
        if (j->y[r] < 0 || j->y[r] >= j->c)
            return tgc_fail(err, "cpu backend: %s: label %d of sample %lld is outside [0, %lld)", k->name,
                            (int)j->y[r], (long long)r, (long long)j->c);
    return 0;
}

/* softmax_cross_entropy(logits, labels) -> loss[] */
int cpu_softmax_ce(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    ce_job j = {0};
    if (ce_check(k, 0, &j, err)) return -1;
    if (tgc_shape_numel(&k->out_t[0].shape) != 1)
        return tgc_fail(err, "cpu backend: %s: the loss must be a scalar", k->name);
    j.row_loss = tgc_malloc(sizeof(double) * (size_t)j.n);
    cpu_parallel(c, j.n, TGC_MAX((int64_t)1, (int64_t)8192 / j.c), ce_fwd_rows, &j);
    double total = 0;
    for (int64_t r = 0; r < j.n; r++) total += j.row_loss[r];
    free(j.row_loss);
    *(float *)k->out[0] = (float)(k->a->alpha * total / (double)j.n);
    return 0;
}

/* softmax_cross_entropy_bwd(dloss[], logits, labels) -> dlogits */
int cpu_softmax_ce_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    ce_job j = {0};
    if (cpu_check_dtype(k, 0, 0, TGC_F32, err) || ce_check(k, 1, &j, err) || cpu_check_same_shape(k, 0, 1, 1, 0, err))
        return -1;
    if (tgc_shape_numel(&k->in_t[0].shape) != 1)
        return tgc_fail(err, "cpu backend: %s: dloss must be a scalar", k->name);
    j.dx = k->out[0];
    j.dscale = (double)*(const float *)k->in[0] * k->a->alpha / (double)j.n;
    cpu_parallel(c, j.n, TGC_MAX((int64_t)1, (int64_t)8192 / j.c), ce_bwd_rows, &j);
    return 0;
}

/* ---- soft targets ------------------------------------------------------------------------------------ */
static void ce_soft_fwd_rows(void *ctx, int64_t lo, int64_t hi) {
    const ce_job *j = ctx;
    double q0 = j->smooth / (double)j->c;
    for (int64_t r = lo; r < hi; r++) {
        const float *x = j->x + r * j->c, *t = j->t + r * j->c;
        double lse = row_lse(x, j->c), qsum = 0, qx = 0;
        for (int64_t c = 0; c < j->c; c++) {
            double q = (1.0 - j->smooth) * t[c] + q0;
            qsum += q;
            qx += q * x[c];
        }
        j->row_loss[r] = lse * qsum - qx;
    }
}

static void ce_soft_bwd_rows(void *ctx, int64_t lo, int64_t hi) {
    const ce_job *j = ctx;
    double q0 = j->smooth / (double)j->c;
    for (int64_t r = lo; r < hi; r++) {
        const float *x = j->x + r * j->c, *t = j->t + r * j->c;
        float *dx = j->dx + r * j->c;
        double lse = row_lse(x, j->c), qsum = 0;
        for (int64_t c = 0; c < j->c; c++) qsum += (1.0 - j->smooth) * t[c] + q0;
        for (int64_t c = 0; c < j->c; c++) {
            double q = (1.0 - j->smooth) * t[c] + q0;
            dx[c] = (float)(j->dscale * (exp((double)x[c] - lse) * qsum - q));
        }
    }
}

/* Checks logits [N,C] f32 (operand li) and targets of the same shape (operand li+1). */
static int ce_soft_check(const cpu_call *k, int li, ce_job *j, tgc_err *err) {
    if (cpu_check_dtype(k, 0, li, TGC_F32, err) || cpu_check_dtype(k, 0, li + 1, TGC_F32, err) ||
        cpu_check_rank(k, 0, li, 2, err) || cpu_check_same_shape(k, 0, li, 0, li + 1, err) ||
        cpu_check_dtype(k, 1, 0, TGC_F32, err))
        return -1;
    j->n = k->in_t[li].shape.d[0], j->c = k->in_t[li].shape.d[1];
    if (j->n < 1 || j->c < 1) return tgc_fail(err, "cpu backend: %s: empty logits", k->name);
    j->smooth = k->a->label_smooth;
    if (!(j->smooth >= 0 && j->smooth <= 1))
        return tgc_fail(err, "cpu backend: %s: label_smooth %g is not in [0, 1]", k->name, j->smooth);
    j->x = k->in[li];
    j->t = k->in[li + 1];
    return 0;
}

/* softmax_cross_entropy_soft(logits, target) -> loss[] */
int cpu_softmax_ce_soft(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    ce_job j = {0};
    if (ce_soft_check(k, 0, &j, err)) return -1;
    if (tgc_shape_numel(&k->out_t[0].shape) != 1)
        return tgc_fail(err, "cpu backend: %s: the loss must be a scalar", k->name);
    j.row_loss = tgc_malloc(sizeof(double) * (size_t)j.n);
    cpu_parallel(c, j.n, TGC_MAX((int64_t)1, (int64_t)8192 / j.c), ce_soft_fwd_rows, &j);
    double total = 0;
    for (int64_t r = 0; r < j.n; r++) total += j.row_loss[r];
    free(j.row_loss);
    *(float *)k->out[0] = (float)(k->a->alpha * total / (double)j.n);
    return 0;
}

/* softmax_cross_entropy_soft_bwd(dloss[], logits, target) -> dlogits */
int cpu_softmax_ce_soft_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    ce_job j = {0};
    if (cpu_check_dtype(k, 0, 0, TGC_F32, err) || ce_soft_check(k, 1, &j, err) ||
        cpu_check_same_shape(k, 0, 1, 1, 0, err))
        return -1;
    if (tgc_shape_numel(&k->in_t[0].shape) != 1)
        return tgc_fail(err, "cpu backend: %s: dloss must be a scalar", k->name);
    j.dx = k->out[0];
    j.dscale = (double)*(const float *)k->in[0] * k->a->alpha / (double)j.n;
    cpu_parallel(c, j.n, TGC_MAX((int64_t)1, (int64_t)8192 / j.c), ce_soft_bwd_rows, &j);
    return 0;
}

/* ---- sigmoid binary cross-entropy (use_sigmoid) ------------------------------------------------------ */
/* q of element (r, c): (1-s)*t + s/C, t the one-hot of label y[r] or the soft target. */
static double bce_q(const ce_job *j, int64_t r, int64_t c) {
    double t = j->t ? (double)j->t[r * j->c + c] : (c == j->y[r] ? 1.0 : 0.0);
    return (1.0 - j->smooth) * t + j->smooth / (double)j->c;
}

static void bce_fwd_rows(void *ctx, int64_t lo, int64_t hi) {
    const ce_job *j = ctx;
    for (int64_t r = lo; r < hi; r++) {
        const float *x = j->x + r * j->c;
        double s = 0;
        for (int64_t c = 0; c < j->c; c++) { /* max(x, 0) - x*q + log(1 + exp(-|x|)), stable for any x */
            double v = x[c];
            s += (v > 0 ? v : 0) - v * bce_q(j, r, c) + log1p(exp(-fabs(v)));
        }
        j->row_loss[r] = s;
    }
}

static void bce_bwd_rows(void *ctx, int64_t lo, int64_t hi) {
    const ce_job *j = ctx;
    for (int64_t r = lo; r < hi; r++) {
        const float *x = j->x + r * j->c;
        float *dx = j->dx + r * j->c;
        for (int64_t c = 0; c < j->c; c++) {
            double v = x[c], sig = v >= 0 ? 1.0 / (1.0 + exp(-v)) : exp(v) / (1.0 + exp(v));
            dx[c] = (float)(j->dscale * (sig - bce_q(j, r, c)));
        }
    }
}

/* labels (i32) or soft targets (f32) as operand li+1 */
static int bce_check(const cpu_call *k, int li, ce_job *j, tgc_err *err) {
    return k->in_t[li + 1].dtype == TGC_I32 ? ce_check(k, li, j, err) : ce_soft_check(k, li, j, err);
}

/* sigmoid_bce(logits, labels or target) -> loss[]: the mean over all N*C elements */
int cpu_sigmoid_bce(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    ce_job j = {0};
    if (bce_check(k, 0, &j, err)) return -1;
    if (tgc_shape_numel(&k->out_t[0].shape) != 1)
        return tgc_fail(err, "cpu backend: %s: the loss must be a scalar", k->name);
    j.row_loss = tgc_malloc(sizeof(double) * (size_t)j.n);
    cpu_parallel(c, j.n, TGC_MAX((int64_t)1, (int64_t)8192 / j.c), bce_fwd_rows, &j);
    double total = 0;
    for (int64_t r = 0; r < j.n; r++) total += j.row_loss[r];
    free(j.row_loss);
    *(float *)k->out[0] = (float)(k->a->alpha * total / ((double)j.n * (double)j.c));
    return 0;
}

/* sigmoid_bce_bwd(dloss[], logits, labels or target) -> dlogits */
int cpu_sigmoid_bce_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    ce_job j = {0};
    if (cpu_check_dtype(k, 0, 0, TGC_F32, err) || bce_check(k, 1, &j, err) || cpu_check_same_shape(k, 0, 1, 1, 0, err))
        return -1;
    if (tgc_shape_numel(&k->in_t[0].shape) != 1)
        return tgc_fail(err, "cpu backend: %s: dloss must be a scalar", k->name);
    j.dx = k->out[0];
    j.dscale = (double)*(const float *)k->in[0] * k->a->alpha / ((double)j.n * (double)j.c);
    cpu_parallel(c, j.n, TGC_MAX((int64_t)1, (int64_t)8192 / j.c), bce_bwd_rows, &j);
    return 0;
}

/* ---- masked: softmax_cross_entropy_masked (rows with label -1 add nothing and are not counted) --------- */
static int ce_masked_check(const cpu_call *k, int li, ce_job *j, int64_t *counted, tgc_err *err) {
    if (cpu_check_dtype(k, 0, li, TGC_F32, err) || cpu_check_dtype(k, 0, li + 1, TGC_I32, err) ||
        cpu_check_rank(k, 0, li, 2, err) || cpu_check_rank(k, 0, li + 1, 1, err) || cpu_check_dtype(k, 1, 0, TGC_F32, err))
        return -1;
    j->n = k->in_t[li].shape.d[0], j->c = k->in_t[li].shape.d[1];
    if (k->in_t[li + 1].shape.d[0] != j->n)
        return tgc_fail(err, "cpu backend: %s: %lld labels for %lld rows of logits", k->name,
                        (long long)k->in_t[li + 1].shape.d[0], (long long)j->n);
    if (j->c < 1) return tgc_fail(err, "cpu backend: %s: empty logits", k->name);
    j->x = k->in[li];
    j->y = k->in[li + 1];
    *counted = 0;
    for (int64_t r = 0; r < j->n; r++) {
        if (j->y[r] < -1 || j->y[r] >= j->c)
            return tgc_fail(err, "cpu backend: %s: label %d of row %lld is outside [-1, %lld)", k->name, (int)j->y[r],
                            (long long)r, (long long)j->c);
        *counted += j->y[r] >= 0;
    }
    return 0;
}

static void ce_masked_fwd_rows(void *ctx, int64_t lo, int64_t hi) {
    const ce_job *j = ctx;
    for (int64_t r = lo; r < hi; r++) {
        const float *x = j->x + r * j->c;
        j->row_loss[r] = j->y[r] < 0 ? 0.0 : row_lse(x, j->c) - (double)x[j->y[r]];
    }
}

static void ce_masked_bwd_rows(void *ctx, int64_t lo, int64_t hi) {
    const ce_job *j = ctx;
    for (int64_t r = lo; r < hi; r++) {
        const float *x = j->x + r * j->c;
        float *dx = j->dx + r * j->c;
        if (j->y[r] < 0) {
            for (int64_t c = 0; c < j->c; c++) dx[c] = 0.f;
            continue;
        }
        double lse = row_lse(x, j->c);
        for (int64_t c = 0; c < j->c; c++) dx[c] = (float)(j->dscale * (exp((double)x[c] - lse) - (c == j->y[r])));
    }
}

/* softmax_cross_entropy_masked(logits, labels) -> loss[] */
int cpu_softmax_ce_masked(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    ce_job j = {0};
    int64_t counted;
    if (ce_masked_check(k, 0, &j, &counted, err)) return -1;
    if (tgc_shape_numel(&k->out_t[0].shape) != 1) return tgc_fail(err, "cpu backend: %s: the loss must be a scalar", k->name);
    j.row_loss = tgc_malloc(sizeof(double) * (size_t)TGC_MAX(j.n, (int64_t)1));
    cpu_parallel(c, j.n, TGC_MAX((int64_t)1, (int64_t)8192 / j.c), ce_masked_fwd_rows, &j);
    double total = 0;
    for (int64_t r = 0; r < j.n; r++) total += j.row_loss[r];
    free(j.row_loss);
    *(float *)k->out[0] = (float)(k->a->alpha * total / (double)TGC_MAX(counted, (int64_t)1));
    return 0;
}

/* softmax_cross_entropy_masked_bwd(dloss[], logits, labels) -> dlogits */
int cpu_softmax_ce_masked_bwd(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    ce_job j = {0};
    int64_t counted;
    if (cpu_check_dtype(k, 0, 0, TGC_F32, err) || ce_masked_check(k, 1, &j, &counted, err) ||
        cpu_check_same_shape(k, 0, 1, 1, 0, err))
        return -1;
    if (tgc_shape_numel(&k->in_t[0].shape) != 1) return tgc_fail(err, "cpu backend: %s: dloss must be a scalar", k->name);
    j.dx = k->out[0];
    j.dscale = (double)*(const float *)k->in[0] * k->a->alpha / (double)TGC_MAX(counted, (int64_t)1);
    cpu_parallel(c, j.n, TGC_MAX((int64_t)1, (int64_t)8192 / j.c), ce_masked_bwd_rows, &j);
    return 0;
}

/* accuracy_masked(logits, labels) -> f32[]: 100 * correct / max(counted, 1), the first maximum of each row */
int cpu_accuracy_masked(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    (void)c;
    ce_job j = {0};
    int64_t counted, correct = 0;
    if (ce_masked_check(k, 0, &j, &counted, err)) return -1;
    if (tgc_shape_numel(&k->out_t[0].shape) != 1) return tgc_fail(err, "cpu backend: %s: the result must be a scalar", k->name);
    for (int64_t r = 0; r < j.n; r++) {
        if (j.y[r] < 0) continue;
        const float *x = j.x + r * j.c;
        int64_t best = 0;
        for (int64_t q = 1; q < j.c; q++)
            if (x[q] > x[best]) best = q;
        correct += best == j.y[r];
    }
    *(float *)k->out[0] = (float)(100.0 * (double)correct / (double)TGC_MAX(counted, (int64_t)1));
    return 0;
}
