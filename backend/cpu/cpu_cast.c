/* backend/cpu/cpu_cast.c - dtype conversion (cast) and fill, for every tgc dtype.
 *
 * f32 -> bf16 and f32 -> f16 round to nearest even (PyTorch's .to()); float -> integer truncates toward
 * zero and saturates (NaN gives 0) so that no input triggers undefined behaviour. */
#include <math.h>
#include <string.h>

#include "backend/cpu/cpu_internal.h"
#include "common/half.h"

#ifdef _OPENMP
#define SIMD _Pragma("omp simd")
#else
#define SIMD
#endif

/* The mixed-precision conversions run on every bf16 load and store of the low-precision loops: built twice,
 * for AVX-512 (x86-64-v4) and the baseline, and picked at load time (GCC's function multiversioning). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define WIDE_CLONES __attribute__((target_clones("arch=x86-64-v4", "default")))
#else
#define WIDE_CLONES
#endif

static int64_t sat_int(double v, double lo, double hi) {
    if (isnan(v)) return 0;
    if (v <= lo) return (int64_t)lo;
    if (v >= hi) return (int64_t)hi;
    return (int64_t)v;
}

static double load(const void *p, tgc_dtype t, int64_t i) {
    switch (t) {
    case TGC_F32: return ((const float *)p)[i];
    case TGC_F16: return tgc_f16_to_f32(((const uint16_t *)p)[i]);
    case TGC_BF16: return tgc_bf16_to_f32(((const uint16_t *)p)[i]);
    case TGC_I32: return ((const int32_t *)p)[i];
    case TGC_I64: return (double)((const int64_t *)p)[i];
    default: return ((const uint8_t *)p)[i];
    }
}

static void store(void *p, tgc_dtype t, int64_t i, double v) {
    switch (t) {
    case TGC_F32: ((float *)p)[i] = (float)v; break;
    case TGC_F16: ((uint16_t *)p)[i] = tgc_f32_to_f16((float)v); break;
    case TGC_BF16: ((uint16_t *)p)[i] = tgc_f32_to_bf16((float)v); break;
    case TGC_I32: ((int32_t *)p)[i] = (int32_t)sat_int(trunc(v), -2147483648.0, 2147483647.0); break;
    /* 2^63 is not an int64: the upper clamp is the largest double below it. */
    case TGC_I64: ((int64_t *)p)[i] = sat_int(trunc(v), -9223372036854775808.0, 9223372036854774784.0); break;
    default: ((uint8_t *)p)[i] = (uint8_t)sat_int(trunc(v), 0, 255); break;
    }
}

typedef struct cast_job {
    const void *x;
    void *y;
    tgc_dtype tx, ty;
    double value; /* fill */
} cast_job;

WIDE_CLONES static void cast_run(void *ctx, int64_t lo, int64_t hi) {
    const cast_job *j = ctx;
    if (j->tx == TGC_F32 && j->ty == TGC_BF16) { /* the mixed-precision paths, without the switch */
        const float *x = j->x;
        uint16_t *y = j->y;
        SIMD for (int64_t i = lo; i < hi; i++) y[i] = tgc_f32_to_bf16(x[i]);
    } else if (j->tx == TGC_BF16 && j->ty == TGC_F32) {
        const uint16_t *x = j->x;
        float *y = j->y;
        SIMD for (int64_t i = lo; i < hi; i++) y[i] = tgc_bf16_to_f32(x[i]);
    } else if (j->tx == TGC_F16 && j->ty == TGC_F32) {
        for (int64_t i = lo; i < hi; i++) ((float *)j->y)[i] = tgc_f16_to_f32(((const uint16_t *)j->x)[i]);
    } else if (j->tx == TGC_F32 && j->ty == TGC_F16) {
        for (int64_t i = lo; i < hi; i++) ((uint16_t *)j->y)[i] = tgc_f32_to_f16(((const float *)j->x)[i]);
    } else if (j->tx == j->ty) {
        size_t es = tgc_dtype_size(j->tx);
        memmove((char *)j->y + lo * es, (const char *)j->x + lo * es, (size_t)(hi - lo) * es);
    } else {
        for (int64_t i = lo; i < hi; i++) store(j->y, j->ty, i, load(j->x, j->tx, i));
    }
}

void cpu_cast_range(const void *x, tgc_dtype tx, void *y, tgc_dtype ty, int64_t lo, int64_t hi) {
    cast_job j = {x, y, tx, ty, 0};
    cast_run(&j, lo, hi);
}

void cpu_cast_parallel(tgc_cpu *c, const void *x, tgc_dtype tx, void *y, tgc_dtype ty, int64_t n) {
    cast_job j = {x, y, tx, ty, 0};
    cpu_parallel(c, n, 16384, cast_run, &j);
}

WIDE_CLONES void cpu_load_f32(const void *x, tgc_dtype t, int64_t off, int64_t n, float *out) {
    if (t == TGC_BF16) {
        const uint16_t *h = (const uint16_t *)x + off;
        SIMD for (int64_t i = 0; i < n; i++) out[i] = tgc_bf16_to_f32(h[i]);
    } else if (t == TGC_F16) {
        const uint16_t *h = (const uint16_t *)x + off;
        for (int64_t i = 0; i < n; i++) out[i] = tgc_f16_to_f32(h[i]);
    } else {
        memcpy(out, (const float *)x + off, sizeof(float) * (size_t)n);
    }
}

WIDE_CLONES void cpu_store_f32(const float *v, void *y, tgc_dtype t, int64_t off, int64_t n) {
    if (t == TGC_BF16) {
        uint16_t *h = (uint16_t *)y + off;
        SIMD for (int64_t i = 0; i < n; i++) h[i] = tgc_f32_to_bf16(v[i]);
    } else if (t == TGC_F16) {
        uint16_t *h = (uint16_t *)y + off;
        for (int64_t i = 0; i < n; i++) h[i] = tgc_f32_to_f16(v[i]);
    } else {
        memmove((float *)y + off, v, sizeof(float) * (size_t)n);
    }
}

/* cast(x) -> y of attrs.dtype */
int cpu_cast(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    if (cpu_check_same_shape(k, 0, 0, 1, 0, err)) return -1;
    if (k->out_t[0].dtype != k->a->dtype)
        return tgc_fail(err, "cpu backend: %s: result is %s but attrs.dtype is %s", k->name,
                        tgc_dtype_name(k->out_t[0].dtype), tgc_dtype_name(k->a->dtype));
    cast_job j = {k->in[0], k->out[0], k->in_t[0].dtype, k->out_t[0].dtype, 0};
    if (j.tx == j.ty && j.x == j.y) return 0;
    cpu_parallel(c, tgc_shape_numel(&k->in_t[0].shape), 16384, cast_run, &j);
    return 0;
}

static void fill_run(void *ctx, int64_t lo, int64_t hi) {
    const cast_job *j = ctx;
    if (j->ty == TGC_F32) {
        float v = (float)j->value;
        for (int64_t i = lo; i < hi; i++) ((float *)j->y)[i] = v;
    } else {
        for (int64_t i = lo; i < hi; i++) store(j->y, j->ty, i, j->value);
    }
}

/* fill() -> y of attrs.shape/attrs.dtype, every element alpha */
int cpu_fill(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    if (k->out_t[0].dtype != k->a->dtype || !tgc_shape_eq(&k->out_t[0].shape, &k->a->shape))
        return tgc_fail(err, "cpu backend: %s: result type differs from attrs.shape/attrs.dtype", k->name);
    cast_job j = {NULL, k->out[0], k->out_t[0].dtype, k->out_t[0].dtype, k->a->alpha};
    cpu_parallel(c, tgc_shape_numel(&k->out_t[0].shape), 16384, fill_run, &j);
    return 0;
}
