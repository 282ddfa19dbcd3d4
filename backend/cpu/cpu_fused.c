/* backend/cpu/cpu_fused.c - fusion groups: elementwise chains run chunk by chunk in one parallel loop,
 * and runs of optimizer updates as one update over their contiguous range (see cpu_kernels.h).
 *
 * What makes a group safe to run as one kernel on any device (one element count, tensors overlapping only
 * in place, optimizer tensors back to back in aligned slots with equal attributes and lr/step operands)
 * is checked when the plan is loaded (plan/plan_validate.c). What is refused here is what these loops do
 * not implement: other ops, non-float dtypes, operands without data. bf16/f16 tensors are loaded into f32
 * chunk buffers, computed in f32 and stored rounded to nearest even, once per op, as the unfused kernels
 * compute them. NHWC tensors are walked in storage order like ROW ones (elementwise ops are layout-blind);
 * bias_add's channel of an element comes from the storage's split around the channel axis, which puts
 * the channels innermost for NHWC (cpu_axis_split). */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_internal.h"

#define CHUNK 4096     /* elements per chunk: 16 KiB per f32 tensor, so a group's chunks stay in L1/L2 */
#define MIN_CHUNKS 4   /* chunks per thread worth waking it for (16384 elements, as the own loops) */

/* Vectorise the select-style loops (relu, relu_bwd): left scalar they branch on data and mispredict. */
#ifdef _OPENMP
#define SIMD _Pragma("omp simd")
#else
#define SIMD
#endif

/* One elementwise instruction, resolved. */
typedef struct ew_step {
    tgc_opcode code;
    const void *a, *b; /* first and second operand (bias_add: the bias) */
    void *y;
    float alpha;       /* scale */
    int64_t inner, ch; /* bias_add: elements per channel row and channels */
    tgc_dtype tx, ty;  /* the first operand's and the result's dtype (cast: from and to)            */
    tgc_dtype tb;      /* the second operand's (bias_add's bias: f32)                               */
} ew_step;

struct tgc_cpu_fused {
    int n, optimizer;
    int64_t numel, n_chunks;
    ew_step *steps; /* elementwise groups, n of them */
    /* optimizer groups: the first instruction, tensor operands widened to the group's whole range */
    tgc_opcode code;
    tgc_attrs attrs;
    int n_in;
    tgc_type in_t[TGC_MAX_IN];
    void *in[TGC_MAX_IN];
};

static tgc_cpu_fused *refuse(char *why, size_t n, const char *fmt, ...) {
    if (why && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, n, fmt, ap);
        va_end(ap);
    }
    return NULL;
}

static int64_t numel(const tgc_type *t) { return tgc_shape_numel(&t->shape); }

/* ---- elementwise groups ---------------------------------------------------------------------------- */

/* Operand count of each supported op, 0 if not supported. */
static int ew_arity(tgc_opcode c) {
    switch (c) {
    case TGC_OP_RELU:
    case TGC_OP_TANH:
    case TGC_OP_SIGMOID:
    case TGC_OP_SCALE:
    case TGC_OP_CAST: return 1;
    case TGC_OP_ADD:
    case TGC_OP_BIAS_ADD:
    case TGC_OP_RELU_BWD:
    case TGC_OP_TANH_BWD:
    case TGC_OP_SIGMOID_BWD: return 2;
    default: return 0;
    }
}

/* The layout rule of one instruction, as tgc_cpu_exec's guard: NHWC only on rank-4 tensors of the op's
 * layout masks, all of them one layout (their elements then pair up position by position, and bias_add
 * finds its channel through cpu_axis_split). NULL when it holds. */
static const char *ew_layouts(const tgc_cpu_op *o) {
    const tgc_type *t[TGC_MAX_IN + TGC_MAX_OUT];
    for (int s = 0; s < o->n_in + o->n_out; s++) t[s] = s < o->n_in ? &o->in_t[s] : &o->out_t[s - o->n_in];
    int at, first, nhwc;
    switch (tgc_op_layout_fault(o->code, t, o->n_in, o->n_out, &at, &first, &nhwc)) {
    case TGC_LAYOUT_FAULT_NONE: return NULL;
    case TGC_LAYOUT_FAULT_MIXED: return "operands or results of different layouts";
    default: return "an NHWC tensor where the op takes only row-major";
    }
}

static tgc_cpu_fused *fuse_elementwise(const tgc_cpu_op *ops, int n, char *why, size_t wl) {
    int64_t N = numel(&ops[0].out_t[0]);
    tgc_cpu_fused *f = tgc_calloc(1, sizeof *f);
    f->n = n;
    f->numel = N;
    f->n_chunks = (N + CHUNK - 1) / CHUNK;
    f->steps = tgc_calloc((size_t)n, sizeof(ew_step));
    const char *bad = NULL;
    int at = 0;
    for (int i = 0; i < n && !bad; i++) {
        const tgc_cpu_op *o = &ops[i];
        ew_step *s = &f->steps[i];
        at = i;
        int ar = ew_arity(o->code);
        if (!ar) bad = "an op that is not fusable";
        else if (o->n_in != ar || o->n_out != 1) bad = "an operand count that does not fit the op";
        if (bad) break;
        s->code = o->code;
        s->a = o->in[0];
        s->b = ar > 1 ? o->in[1] : NULL;
        s->y = o->out[0];
        s->alpha = (float)o->a->alpha;
        s->tx = o->in_t[0].dtype;
        s->ty = o->out_t[0].dtype;
        s->tb = ar > 1 ? o->in_t[1].dtype : TGC_F32;
        int cast = o->code == TGC_OP_CAST; /* any dtype to any */
        for (int j = 0; j < ar && !bad; j++) {
            if (!cast && !tgc_dtype_is_float(o->in_t[j].dtype)) bad = "a non-float operand";
            else if (!o->in[j] && N > 0) bad = "an operand without data";
        }
        if (!bad && !cast && !tgc_dtype_is_float(s->ty)) bad = "a non-float result";
        if (!bad && o->code != TGC_OP_CAST && s->ty != s->tx) bad = "a result whose dtype is not its operand's";
        if (!bad && o->code == TGC_OP_BIAS_ADD && s->tb != TGC_F32) bad = "a bias that is not f32";
        if (!bad && ar > 1 && o->code != TGC_OP_BIAS_ADD && s->tb != s->tx) bad = "operands of two dtypes";
        if (!bad && !o->out[0] && N > 0) bad = "a result without data";
        if (!bad) bad = ew_layouts(o);
        if (!bad && o->code == TGC_OP_BIAS_ADD) {
            const tgc_shape *x = &o->in_t[0].shape;
            int64_t axis = o->a->axis;
            if (axis < 0 || axis >= x->rank) {
                bad = "a bias_add axis outside its tensor";
            } else {
                int64_t outer; /* the storage's split: NHWC puts the channels innermost */
                cpu_axis_split(&o->in_t[0], (int)axis, &outer, &s->ch, &s->inner);
                if (o->in_t[1].shape.rank != 1 || o->in_t[1].shape.d[0] != s->ch || s->ch < 1 || s->inner < 1)
                    bad = "a bias that does not match its axis";
            }
        }
    }
    if (bad) {
        tgc_cpu_fused_free(f);
        return refuse(why, wl, "instruction %d of %d: %s", at, n, bad);
    }
    return f;
}

/* bias_add on elements [lo, lo+n): x and y point at element lo, the bias is the whole [C] vector. */
static void bias_rows(const ew_step *s, const float *x, float *y, int64_t lo, int64_t n) {
    const float *bias = s->b;
    if (s->inner == 1) { /* channels innermost (NHWC): runs of whole or partial channel vectors */
        for (int64_t i = 0; i < n;) {
            int64_t c0 = (lo + i) % s->ch, end = TGC_MIN(n, i + s->ch - c0), i0 = i;
            const float *bc = bias + c0;
            SIMD for (int64_t q = i0; q < end; q++) y[q] = x[q] + bc[q - i0];
            i = end;
        }
        return;
    }
    for (int64_t i = 0; i < n;) {
        int64_t row = (lo + i) / s->inner, end = TGC_MIN(n, (row + 1) * s->inner - lo);
        float b = bias[row % s->ch];
        int64_t i0 = i;
        SIMD for (int64_t q = i0; q < end; q++) y[q] = x[q] + b;
        i = end;
    }
}

/* relu_bwd's rule as oneDNN computes it, dy * (y > 0 ? 1 : 0) (so -0 for a masked negative dy, NaN for a
 * masked NaN): a multiply vectorises, where the select `c ? dy[i] : 0` (a conditional load) stays a
 * data-dependent branch, ten times slower on random masks. */
static inline float masked(float dy, int c) {
    uint32_t one = 0x3f800000u & (0u - (uint32_t)c); /* 1.0f or 0.0f, without a branch */
    float f;
    memcpy(&f, &one, sizeof f);
    return dy * f;
}

/* One op on n elements starting at element lo (a, b, y point at that element; the bias is whole); the
 * same arithmetic as the op's own kernel. */
static void ew_apply(const ew_step *s, const float *a, const float *b, float *y, int64_t lo, int64_t n) {
    switch (s->code) {
    case TGC_OP_RELU:
        SIMD for (int64_t i = 0; i < n; i++) y[i] = a[i] > 0.f ? a[i] : 0.f; /* as oneDNN: +0 below zero */
        break;
    case TGC_OP_TANH:
        SIMD for (int64_t i = 0; i < n; i++) y[i] = tanhf(a[i]);
        break;
    case TGC_OP_SIGMOID: /* expf(-x) overflows to inf for x < -88: 1/inf = +0, as oneDNN's logistic */
        SIMD for (int64_t i = 0; i < n; i++) y[i] = 1.f / (1.f + expf(-a[i]));
        break;
    case TGC_OP_ADD:
        SIMD for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
        break;
    case TGC_OP_SCALE:
        SIMD for (int64_t i = 0; i < n; i++) y[i] = s->alpha * a[i];
        break;
    case TGC_OP_RELU_BWD: /* (dy, y): dy where the forward output is positive */
        SIMD for (int64_t i = 0; i < n; i++) y[i] = masked(a[i], b[i] > 0.f);
        break;
    case TGC_OP_TANH_BWD:
        SIMD for (int64_t i = 0; i < n; i++) y[i] = a[i] * (1.f - b[i] * b[i]);
        break;
    case TGC_OP_SIGMOID_BWD: /* (dy, y) */
        SIMD for (int64_t i = 0; i < n; i++) y[i] = a[i] * b[i] * (1.f - b[i]);
        break;
    case TGC_OP_BIAS_ADD: bias_rows(s, a, y, lo, n); break;
    default: break;
    }
}

/* An operand's elements [lo, lo+n) as f32: the tensor itself, or converted into buf (bf16/f16). */
static const float *ew_load(const void *p, tgc_dtype t, int64_t lo, int64_t n, float *buf) {
    if (t == TGC_F32) return (const float *)p + lo;
    cpu_load_f32(p, t, lo, n, buf);
    return buf;
}

static void ew_chunks(void *ctx, int64_t lo, int64_t hi) {
    const tgc_cpu_fused *f = ctx;
    /* bf16/f16 operands are computed in f32, one chunk at a time: loaded into these, stored rounded */
    float ba[CHUNK], bb[CHUNK], by[CHUNK];
    for (int64_t c = lo; c < hi; c++) {
        int64_t a = c * CHUNK, n = TGC_MIN(f->numel, a + CHUNK) - a;
        for (int i = 0; i < f->n; i++) {
            const ew_step *s = &f->steps[i];
            if (s->code == TGC_OP_CAST) {
                cpu_cast_range(s->a, s->tx, s->y, s->ty, a, a + n);
                continue;
            }
            const float *x = ew_load(s->a, s->tx, a, n, ba);
            const float *b = s->code == TGC_OP_BIAS_ADD ? s->b : s->b ? ew_load(s->b, s->tb, a, n, bb) : NULL;
            float *y = s->ty == TGC_F32 ? (float *)s->y + a : by;
            ew_apply(s, x, b, y, a, n);
            if (s->ty != TGC_F32) cpu_store_f32(by, s->y, s->ty, a, n);
        }
    }
}

/* ---- optimizer groups ------------------------------------------------------------------------------ */

/* Tensor operands of each update op (the rest are the lr/step scalars), 0 if not an update. */
static int opt_tensors(tgc_opcode c) {
    switch (c) {
    case TGC_OP_SGD_UPDATE: return 2;
    case TGC_OP_SGD_MOMENTUM_UPDATE: return 3;
    case TGC_OP_ADAMW_UPDATE: return 4;
    case TGC_OP_ADAM_UPDATE: return 4;
    case TGC_OP_RMSPROP_UPDATE: return 4;
    default: return 0;
    }
}

/* The group's layout (one op, equal attributes and lr/step operands, each tensor operand's tensors at
 * the parameters' relative offsets) was checked with the plan; the range is the first parameter's start
 * to the last one's end. */
static tgc_cpu_fused *fuse_optimizer(const tgc_cpu_op *ops, int n, char *why, size_t wl) {
    const tgc_cpu_op *o0 = &ops[0], *last = &ops[n - 1];
    int nt = opt_tensors(o0->code);
    if (o0->n_in <= nt) return refuse(why, wl, "instruction 0 of %d: no lr operand", n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < nt; j++)
            if (ops[i].code != o0->code || ops[i].in_t[j].dtype != TGC_F32 || !ops[i].in[j])
                return refuse(why, wl, "instruction %d of %d: operand %d is not f32 data of a %s", i, n, j,
                              tgc_op_table[o0->code].name);
    if ((uintptr_t)last->in[0] < (uintptr_t)o0->in[0])
        return refuse(why, wl, "the last parameter lies before the first");
    uint64_t next = (uint64_t)((uintptr_t)last->in[0] - (uintptr_t)o0->in[0]) +
                    (uint64_t)numel(&last->in_t[0]) * sizeof(float);
    tgc_cpu_fused *f = tgc_calloc(1, sizeof *f);
    f->n = n;
    f->optimizer = 1;
    f->numel = (int64_t)(next / sizeof(float));
    f->code = o0->code;
    f->attrs = *o0->a;
    f->n_in = o0->n_in;
    for (int j = 0; j < o0->n_in; j++) {
        f->in[j] = o0->in[j];
        f->in_t[j] = j < nt ? (tgc_type){.dtype = TGC_F32, .shape = tgc_shape1(f->numel)} : o0->in_t[j];
    }
    return f;
}

/* ---- entry points ---------------------------------------------------------------------------------- */

tgc_cpu_fused *tgc_cpu_fuse(const tgc_cpu_op *ops, int n, char *why, size_t why_len) {
    if (why && why_len) why[0] = 0;
    if (!ops || n < 2) return refuse(why, why_len, "a group needs at least two instructions");
    for (int i = 0; i < n; i++)
        if ((unsigned)ops[i].code >= TGC_OP_COUNT || !ops[i].a || ops[i].n_in < 0 || ops[i].n_in > TGC_MAX_IN ||
            ops[i].n_out < 0 || ops[i].n_out > TGC_MAX_OUT || (ops[i].n_in && !ops[i].in_t) ||
            (ops[i].n_out && !ops[i].out_t))
            return refuse(why, why_len, "instruction %d of %d is malformed", i, n);
    if (opt_tensors(ops[0].code)) return fuse_optimizer(ops, n, why, why_len);
    if (ops[0].n_out < 1) return refuse(why, why_len, "instruction 0 has no result");
    return fuse_elementwise(ops, n, why, why_len);
}

int tgc_cpu_exec_fused(tgc_cpu *c, const tgc_cpu_fused *f, tgc_err *err) {
    if (!c || !f) return tgc_fail(err, "cpu backend: fused group: no context or group");
    if (f->optimizer) return tgc_cpu_exec(c, f->code, &f->attrs, f->n_in, f->in_t, f->in, 0, NULL, NULL, err);
    if (c->omp_set_num_threads) c->omp_set_num_threads(c->n_threads);
    cpu_parallel(c, f->n_chunks, MIN_CHUNKS, ew_chunks, (void *)f);
    return 0;
}

void tgc_cpu_fused_free(tgc_cpu_fused *f) {
    if (!f) return;
    free(f->steps);
    free(f);
}

int tgc_cpu_fused_size(const tgc_cpu_fused *f) { return f ? f->n : 0; }
int tgc_cpu_fused_is_optimizer(const tgc_cpu_fused *f) { return f ? f->optimizer : 0; }
