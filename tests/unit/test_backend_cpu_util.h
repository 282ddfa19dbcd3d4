/* tests/unit/test_backend_cpu_util.h - helpers shared by the CPU kernel tests: a seeded generator, tensor
 * buffers, op execution that fails the test with the backend's message, and the finite-difference
 * gradient check (a random projection loss L = sum(r * y) evaluated in double from the f32 outputs). */
#ifndef TEST_BACKEND_CPU_UTIL_H
#define TEST_BACKEND_CPU_UTIL_H

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"

static uint64_t tu_state = 0x9e3779b97f4a7c15ull;
static inline void tu_seed(uint64_t s) { tu_state = s * 0x9e3779b97f4a7c15ull + 1; }
static inline uint64_t tu_next(void) { /* splitmix64 */
    uint64_t z = (tu_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static inline double tu_unif(double lo, double hi) { return lo + (hi - lo) * (double)(tu_next() >> 11) / 9007199254740992.0; }

static inline float *tu_rand(int64_t n, double lo, double hi) {
    float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) p[i] = (float)tu_unif(lo, hi);
    return p;
}
static inline float *tu_zeros(int64_t n) { return calloc((size_t)(n ? n : 1), sizeof(float)); }
static inline float *tu_copy(const float *x, int64_t n) {
    float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
    memcpy(p, x, sizeof(float) * (size_t)n);
    return p;
}
/* Distinct values (a shuffled ramp with step `gap`), so that max pooling has no ties. */
static inline float *tu_distinct(int64_t n, double gap) {
    float *p = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) p[i] = (float)((double)(i - n / 2) * gap);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(tu_next() % (uint64_t)(i + 1));
        float t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
    return p;
}

static inline tgc_type tu_t(tgc_dtype dt, tgc_shape s) {
    tgc_type t = {.dtype = dt, .shape = s};
    return t;
}
static inline tgc_type tu_f4(int64_t a, int64_t b, int64_t c, int64_t d) { return tu_t(TGC_F32, tgc_shape4(a, b, c, d)); }
static inline tgc_type tu_f2(int64_t a, int64_t b) { return tu_t(TGC_F32, tgc_shape2(a, b)); }
static inline tgc_type tu_f1(int64_t a) { return tu_t(TGC_F32, tgc_shape1(a)); }
static inline tgc_type tu_f0(void) { return tu_t(TGC_F32, tgc_shape0()); }
static inline int64_t tu_n(const tgc_type *t) { return tgc_shape_numel(&t->shape); }

/* Runs one op; fails the test with the backend's message if it fails. */
static inline void tu_exec(tgc_cpu *c, tgc_opcode code, const tgc_attrs *a, int n_in, const tgc_type *in_t, void **in,
                    int n_out, const tgc_type *out_t, void **out) {
    tgc_err err = {{0}};
    int rc = tgc_cpu_exec(c, code, a, n_in, in_t, (void *const *)in, n_out, out_t, (void *const *)out, &err);
    ck_assert_msg(rc == 0, "op %d failed: %s", (int)code, err.msg);
}

/* Expects failure with a message containing `needle`. */
static inline void tu_exec_fails(tgc_cpu *c, tgc_opcode code, const tgc_attrs *a, int n_in, const tgc_type *in_t,
                          void **in, int n_out, const tgc_type *out_t, void **out, const char *needle) {
    tgc_err err = {{0}};
    int rc = tgc_cpu_exec(c, code, a, n_in, in_t, (void *const *)in, n_out, out_t, (void *const *)out, &err);
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
}

/* Max |a-b| relative to max(1e-6, max|b|); asserted below tol. */
static inline void tu_close(const float *a, const double *ref, int64_t n, double tol, const char *what) {
    double worst = 0, scale = 1e-6;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(ref[i]));
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]) / scale;
        ck_assert_msg(!isnan(a[i]), "%s: NaN at %lld", what, (long long)i);
        if (d > worst) worst = d;
        ck_assert_msg(d <= tol, "%s: element %lld is %.8g, expected %.8g (rel err %.3g)", what, (long long)i,
                      (double)a[i], ref[i], d);
    }
}

/* ---- finite differences ---------------------------------------------------------------------------- */
/* A forward op: its operands and results. The loss is sum(r * out[0]) in double. */
typedef struct tu_fwd {
    tgc_cpu *c;
    tgc_opcode code;
    const tgc_attrs *a;
    int n_in, n_out;
    tgc_type in_t[8], out_t[4];
    void *in[8], *out[4];
    const float *r; /* projection weights, numel(out[0]) */
    /* For ops that mutate operands (BN running stats): restored before each evaluation. */
    int n_restore, restore_idx[4];
    float *restore_val[4];
} tu_fwd;

static inline double tu_loss(tu_fwd *f) {
    for (int i = 0; i < f->n_restore; i++)
        memcpy(f->in[f->restore_idx[i]], f->restore_val[i],
               sizeof(float) * (size_t)tu_n(&f->in_t[f->restore_idx[i]]));
    tu_exec(f->c, f->code, f->a, f->n_in, f->in_t, f->in, f->n_out, f->out_t, f->out);
    const float *y = f->out[0];
    double l = 0;
    for (int64_t i = 0; i < tu_n(&f->out_t[0]); i++) l += (double)f->r[i] * (double)y[i];
    return l;
}

/* Compares analytic[] (the gradient of L w.r.t. operand `wrt`) with central differences of step eps on
 * up to max_pts elements (all when fewer). Error bound: tol*|fd| + tol*0.2*max|analytic| + 1e-5. */
static inline void tu_fd_check(tu_fwd *f, int wrt, const float *analytic, double eps, double tol, int max_pts,
                        const char *what) {
    float *x = f->in[wrt];
    int64_t n = tu_n(&f->in_t[wrt]);
    double gmax = 0;
    for (int64_t i = 0; i < n; i++) gmax = fmax(gmax, fabs(analytic[i]));
    int64_t step = n <= max_pts ? 1 : n / max_pts;
    int checked = 0;
    for (int64_t i = (int64_t)(tu_next() % (uint64_t)step); i < n; i += step) {
        float x0 = x[i];
        x[i] = (float)(x0 + eps);
        double hp = (double)x[i] - x0;
        double lp = tu_loss(f);
        x[i] = (float)(x0 - eps);
        double hm = x0 - (double)x[i];
        double lm = tu_loss(f);
        x[i] = x0;
        double fd = (lp - lm) / (hp + hm); /* the steps actually taken in float */
        double bound = tol * fabs(fd) + tol * 0.2 * gmax + 1e-5;
        ck_assert_msg(fabs(fd - analytic[i]) <= bound, "%s: d/dx[%lld]: analytic %.7g, finite difference %.7g", what,
                      (long long)i, (double)analytic[i], fd);
        checked++;
    }
    ck_assert_int_gt(checked, 0);
    tu_loss(f); /* leave the outputs at the unperturbed point */
}

#endif
