/* The single-source check of the generated kernels (backend/cuda/codegen.c): the text of every elementwise
 * group of every shipped config (--target cpu and cuda: tanh is fused only for cuda; and the cuda target's
 * mixed-precision plans, --amp as bf16 and --fp16, whose groups load bf16/f16 into f32) is compiled as C17 by
 * this build's C compiler through backend/cuda/codegen_host.h into one shared object, launched on the host
 * over a grid of 7 blocks of 32 threads (so every grid-stride loop takes several turns), and compared with
 * the CPU backend running the same group on the same random data: its fused loop (tgc_cpu_fuse, how the CPU
 * executor runs a group) and the instructions one by one (tgc_cpu_exec, oneDNN's relu and tanh).
 *
 * Tolerances: none against the fused loop (the arithmetic is the same operation for operation, libm's tanhf
 * included: bit for bit, -0 and +0 told apart); against the op-by-op kernels none in kernels without tanh,
 * and in kernels with tanh 1e-6 of the result tensor's largest magnitude (oneDNN's tanh is within a few ulp
 * of libm's tanhf, and tanh_bwd's 1 - y*y carries that on; measured: 2 ulp where tanh is the result; bf16/f16
 * results of such kernels within one step of their format). Casts are compared bit for bit, on every f16 and
 * bf16 pattern and on f32 bit patterns of every class (NaN, inf, subnormal). On the device only tanhf may
 * differ (CUDA's is within 2 ulp); every product is __fmul_rn, so nothing else can round differently.
 *
 * NHWC: the cuda plans of the classification configs compiled with --layout nhwc (fp32, --amp, --fp16) run
 * the same way: a group without a broadcast is the same text as its row-major twin (elementwise loops do
 * not care about the layout; equal text and size run once), a group with an NHWC bias_add indexes the bias
 * as i % C and is compared with the CPU's loops run on the row-major transposes of its NHWC buffers, the
 * results transposed back, with the same tolerances.
 *
 * A group runs at its own shapes when it has at most 2^16 elements, else at a smaller batch (its leading
 * dimension cut to the fewest rows that make 2^16 elements): the text does not depend on the batch (n is
 * an argument, the bias constants are per row), so this runs the same kernel, a prefix of the elements. Tensors the
 * plan places at one offset share one buffer, so in-place groups run in place, as they will on the device. */
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend/cpu/cpu_kernels.h"
#include "test_codegen_util.h"

#define TOL_ULP_FUSED 0       /* bit for bit */
#define TOL_REL_OPS_TANH 1e-6 /* op by op, kernels with tanh: oneDNN's tanh error, carried on; else bit for bit */
#define TOL_ULP16_OPS_TANH 1  /* the same for bf16/f16 results: one step of the 16-bit format */
#define PREFIX (1 << 16)
#define GRID 7
#define BLOCK 32

typedef void (*host_fn)(long long n, void *const *args);
typedef void (*dims_fn)(unsigned int grid, unsigned int block, unsigned int b, unsigned int t);

static tgc_cpu *cpu;
static uint64_t rng = 0x243f6a8885a308d3ull;

static uint64_t next(void) { /* splitmix64 */
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void setup(void) {
    tgc_err err;
    cpu = tgc_cpu_new(2, 0, &err);
    ck_assert_msg(cpu, "%s", err.msg);
}

static void teardown(void) { tgc_cpu_free(cpu); }

/* ---- the shared object ----------------------------------------------------------------------------- */

typedef struct host_so {
    void *h;
    dims_fn dims;
} host_so;

/* Compiles the kernels' host unit into TGC_BINARY_DIR/tests/codegen-host/<tag>.so and opens it. */
static void build_so(const tgc_codegen_kernel *const *k, int n, const char *tag, host_so *so) {
    char *dir = tgc_asprintf("%s/tests/codegen-host", TGC_BINARY_DIR);
    ck_assert_msg(mkdir(dir, 0755) == 0 || errno == EEXIST, "%s: %s", dir, strerror(errno));
    char *c = tgc_asprintf("%s/%s.c", dir, tag), *lib = tgc_asprintf("%s/%s.so", dir, tag),
         *log = tgc_asprintf("%s/%s.log", dir, tag);
    tgc_buf b = {0};
    tgc_codegen_host_unit(k, n, &b);
    tgc_err err;
    ck_assert_msg(tgc_write_file_atomic(c, b.data, b.len, &err) == 0, "%s", err.msg);
    tgc_buf_free(&b);
    /* -Werror: the generated text compiles cleanly as C; -ffp-contract=off as the CPU backend (-std=c17) */
    char *cmd = tgc_asprintf("'%s' -std=c17 -O2 -ffp-contract=off -Wall -Wextra -Werror -fPIC -shared -I'%s' -o '%s' "
                             "'%s' > '%s' 2>&1", TGC_HOST_CC, TGC_SOURCE_DIR, lib, c, log);
    double t0 = tgc_now();
    int rc = system(cmd);
    if (rc != 0) {
        uint8_t *text = NULL;
        size_t len = 0;
        tgc_read_file(log, 1 << 20, &text, &len, &err);
        ck_abort_msg("host compile of %d generated kernels failed (%d): %s\n%s", n, rc, cmd, text ? (char *)text : "");
    }
    printf("  %s: %d kernels compiled as C by %s in %.2f s\n", tag, n, TGC_HOST_CC, tgc_now() - t0);
    so->h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(so->h, "dlopen %s: %s", lib, dlerror());
    *(void **)&so->dims = dlsym(so->h, "tgc_host_dims");
    ck_assert_ptr_nonnull(so->dims);
    free(cmd);
    free(log);
    free(lib);
    free(c);
    free(dir);
}

static host_fn kernel_fn(const host_so *so, const tgc_codegen_kernel *k) {
    char sym[64];
    snprintf(sym, sizeof sym, "%s_host", k->name);
    host_fn f;
    *(void **)&f = dlsym(so->h, sym);
    ck_assert_msg(f, "%s: %s", sym, dlerror());
    return f;
}

/* ---- one group on the host and on the CPU backend -------------------------------------------------- */

typedef struct stats {
    int64_t worst_fused, worst_ops; /* ulp (f32 results) */
    int64_t worst_ops_no_tanh;      /* op by op, kernels without tanh */
    double worst_ops_rel;           /* op by op: |difference| / the result tensor's largest magnitude */
    int64_t differ_fused, differ_ops; /* elements whose bits differ */
    int64_t elements;                /* result elements compared */
    int runs;
    int xposed;                      /* runs of NHWC groups with a broadcast bias against the CPU's transposed run */
} stats;

/* Distance in units in the last place, floats in order (-0 one below +0); 0 for two NaNs. */
static int64_t ulps(float a, float b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b) ? 0 : INT64_MAX;
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    int64_t ka = ia < 0 ? (int64_t)INT32_MIN - ia - 1 : ia, kb = ib < 0 ? (int64_t)INT32_MIN - ib - 1 : ib;
    return ka > kb ? ka - kb : kb - ka;
}

/* The same for two bf16 or f16 values (16-bit patterns, ordered as their values; 0 for two NaNs). */
static int64_t ulps16(const uint8_t *a, const uint8_t *b, tgc_dtype t) {
    uint16_t ha, hb;
    memcpy(&ha, a, 2);
    memcpy(&hb, b, 2);
    uint16_t expo = t == TGC_BF16 ? 0x7f80 : 0x7c00, mant = t == TGC_BF16 ? 0x007f : 0x03ff;
    int na = (ha & expo) == expo && (ha & mant), nb = (hb & expo) == expo && (hb & mant);
    if (na || nb) return na && nb ? 0 : INT64_MAX;
    int64_t ka = ha & 0x8000 ? -(int64_t)(ha & 0x7fff) - 1 : ha, kb = hb & 0x8000 ? -(int64_t)(hb & 0x7fff) - 1 : hb;
    return ka > kb ? ka - kb : kb - ka;
}

typedef struct buf {
    tgc_slab slab;
    uint64_t offset;
    size_t bytes;
    int input; /* holds a value the group reads before writing it */
    uint8_t *copy[3]; /* 0: CPU fused loop, 1: CPU op by op, 2: generated kernel */
} buf;

static void fill(uint8_t *d, size_t bytes, tgc_dtype t, int wide) {
    size_t n = bytes / tgc_dtype_size(t);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = next();
        if (t == TGC_F32) {
            float f;
            if (wide) { /* every class: random bits, and now and then a value near a rounding boundary */
                uint32_t u = (uint32_t)r;
                memcpy(&f, &u, 4);
                if ((r >> 32) % 8 == 0) f = (float)((double)((r >> 40) % 70000) / 1.5 - 20000.0);
            } else if ((r >> 32) % 16 == 0) {
                f = (r >> 40) & 1 ? -0.f : 0.f;
            } else {
                f = (float)(((double)(r >> 11) / 9007199254740992.0) * 6.0 - 3.0);
            }
            memcpy(d + 4 * i, &f, 4);
        } else if (!wide && (t == TGC_BF16 || t == TGC_F16)) {
            /* finite values of a mixed-precision plan's magnitudes (about 2^-8 to 8, zeros of both signs): the
             * op-by-op kernels (oneDNN's on f32 copies) treat NaN payloads their own way */
            uint16_t h;
            if ((r >> 32) % 16 == 0) {
                h = (uint16_t)((r >> 40) & 1) << 15;
            } else if (t == TGC_BF16) {
                h = (uint16_t)(((r >> 40) & 1) << 15 | (uint16_t)(119 + (r >> 41) % 11) << 7 | ((r >> 48) & 0x7f));
            } else {
                h = (uint16_t)(((r >> 40) & 1) << 15 | (uint16_t)(7 + (r >> 41) % 11) << 10 | ((r >> 48) & 0x3ff));
            }
            memcpy(d + 2 * i, &h, 2);
        } else {
            memcpy(d + tgc_dtype_size(t) * i, &r, tgc_dtype_size(t));
        }
    }
}

static int slot(const int *tens, int nt, int t) {
    for (int q = 0; q < nt; q++)
        if (tens[q] == t) return q;
    ck_abort_msg("tensor %d is not the group's", t);
    return -1;
}

/* Buffer b (elements of es bytes) as [rows, a, b] -> [rows, b, a]: NHWC -> row-major is a = H*W, b = C. */
static void transpose_buf(uint8_t *d, size_t bytes, size_t es, int64_t a, int64_t b) {
    int64_t plane = a * b, rows = plane > 0 ? (int64_t)(bytes / es) / plane : 0;
    uint8_t *t = tgc_malloc(bytes ? bytes : 1);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < a; i++)
            for (int64_t j = 0; j < b; j++)
                memcpy(t + ((r * b + j) * a + i) * es, d + ((r * a + i) * b + j) * es, es);
    memcpy(d, t, (size_t)(rows * plane) * es);
    free(t);
}

/* Runs instructions [first, first + count) of pr (kernel k, host function fn) on the host and on the CPU, on
 * n elements (a prefix of whole periods when n < k->numel), and adds the comparison to st. */
static void run_group(const tgc_plan *p, const tgc_program *pr, const tgc_codegen_kernel *k, const host_so *so,
                      int64_t n, int wide, stats *st, const char *what) {
    const int first = k->first, cnt = k->count;
    const int reshape = n != k->numel;
    /* the buffers: one per placed offset, or per tensor */
    int nt = 0, tens[64];
    for (int i = first; i < first + cnt; i++) {
        const tgc_instr *in = &pr->instr[i];
        for (int j = 0; j <= in->n_in; j++) {
            int t = j < in->n_in ? in->in[j] : in->out[0], seen = 0;
            for (int q = 0; q < nt; q++) seen |= tens[q] == t;
            if (!seen) {
                ck_assert_int_lt(nt, 64);
                tens[nt++] = t;
            }
        }
    }
    buf bufs[64];
    int nb = 0, of[64];                 /* of[tensor slot] = buffer */
    int64_t count[64];                  /* elements of each tensor in this run */
    for (int q = 0; q < nt; q++) {
        const tgc_plan_tensor *pt = &p->tensors[tens[q]];
        count[q] = tgc_shape_numel(&pt->type.shape) == k->numel ? n : tgc_shape_numel(&pt->type.shape);
        size_t bytes = (size_t)count[q] * tgc_dtype_size(pt->type.dtype);
        int b = -1;
        for (int c = 0; c < nb && pt->slab != TGC_SLAB_NONE; c++)
            if (bufs[c].slab == pt->slab && bufs[c].offset == pt->offset) b = c;
        if (b < 0) {
            b = nb++;
            bufs[b] = (buf){pt->slab, pt->offset, 0, 0, {NULL, NULL, NULL}};
        }
        if (bytes > bufs[b].bytes) bufs[b].bytes = bytes;
        of[q] = b;
    }
    /* inputs: read before the group writes them */
    for (int q = 0; q < nt; q++) {
        int produced_first = 0, read = 0;
        for (int i = first; i < first + cnt && !read && !produced_first; i++) {
            const tgc_instr *in = &pr->instr[i];
            for (int j = 0; j < in->n_in; j++) read |= in->in[j] == tens[q];
            produced_first = !read && in->out[0] == tens[q];
        }
        if (read) bufs[of[q]].input = 1;
    }
    for (int b = 0; b < nb; b++) {
        bufs[b].copy[0] = tgc_malloc(bufs[b].bytes ? bufs[b].bytes : 1);
        int q = 0;
        while (of[q] != b) q++;
        if (bufs[b].input) fill(bufs[b].copy[0], bufs[b].bytes, p->tensors[tens[q]].type.dtype, wide);
        else memset(bufs[b].copy[0], 0xa5, bufs[b].bytes); /* poison: an element the kernel skips shows */
        for (int c = 1; c < 3; c++) {
            bufs[b].copy[c] = tgc_malloc(bufs[b].bytes ? bufs[b].bytes : 1);
            memcpy(bufs[b].copy[c], bufs[b].copy[0], bufs[b].bytes);
        }
    }
#define SLOT(t) slot(tens, nt, (t))
    /* NHWC values with a bias broadcast per channel: the CPU's fused loop indexes the bias row-major, so it runs
     * on the row-major transposes of the NHWC buffers and its results are transposed back (the reference: an NHWC
     * value is the row-major one stored [N,H,W,C]); without a broadcast the loops do not care about the layout */
    int xpose = 0;
    int64_t xc[64] = {0}, xhw[64] = {0}; /* per buffer: C and H*W of its NHWC tensor (0: not NHWC) */
    size_t xes[64] = {0};
    int bias = 0;
    for (int i = first; i < first + cnt; i++) bias |= pr->instr[i].code == TGC_OP_BIAS_ADD;
    for (int q = 0; bias && q < nt; q++) {
        const tgc_type *ty = &p->tensors[tens[q]].type;
        if (ty->layout != TGC_LAYOUT_NHWC) continue;
        ck_assert_int_eq(ty->shape.rank, 4);
        xc[of[q]] = ty->shape.d[1], xhw[of[q]] = ty->shape.d[2] * ty->shape.d[3], xes[of[q]] = tgc_dtype_size(ty->dtype);
        xpose = 1;
    }
    for (int b = 0; b < nb; b++)
        for (int c = 0; c < 2 && xc[b]; c++) transpose_buf(bufs[b].copy[c], bufs[b].bytes, xes[b], xhw[b], xc[b]);
    /* the CPU backend: types at this run's size */
    tgc_cpu_op ops[16];
    tgc_type in_t[16][TGC_MAX_IN], out_t[16][1];
    void *in_p[2][16][TGC_MAX_IN], *out_p[2][16][1];
    tgc_attrs attrs[16];
    ck_assert_int_le(cnt, 16);
    for (int i = 0; i < cnt; i++) {
        const tgc_instr *in = &pr->instr[first + i];
        attrs[i] = in->attrs;
        for (int j = 0; j <= in->n_in; j++) {
            int t = j < in->n_in ? in->in[j] : in->out[0], s = SLOT(t);
            tgc_type ty = p->tensors[t].type;
            if (reshape && tgc_shape_numel(&ty.shape) == k->numel) ty.shape.d[0] = n / (k->numel / ty.shape.d[0]);
            if (xpose) ty.layout = TGC_LAYOUT_ROW; /* the CPU runs on the transposes */
            for (int c = 0; c < 2; c++) {
                if (j < in->n_in) in_p[c][i][j] = bufs[of[s]].copy[c];
                else out_p[c][i][0] = bufs[of[s]].copy[c];
            }
            if (j < in->n_in) in_t[i][j] = ty;
            else out_t[i][0] = ty;
        }
    }
    char why[256];
    for (int i = 0; i < cnt; i++)
        ops[i] = (tgc_cpu_op){pr->instr[first + i].code, &attrs[i], pr->instr[first + i].n_in, 1, in_t[i], out_t[i],
                              in_p[0][i], out_p[0][i]};
    tgc_cpu_fused *f = tgc_cpu_fuse(ops, cnt, why, sizeof why);
    ck_assert_msg(f, "%s: the CPU backend declines the group: %s", what, why);
    tgc_err err;
    ck_assert_msg(tgc_cpu_exec_fused(cpu, f, &err) == 0, "%s: %s", what, err.msg);
    tgc_cpu_fused_free(f);
    for (int i = 0; i < cnt; i++)
        ck_assert_msg(tgc_cpu_exec(cpu, pr->instr[first + i].code, &attrs[i], pr->instr[first + i].n_in, in_t[i],
                                   in_p[1][i], 1, out_t[i], out_p[1][i], &err) == 0,
                      "%s: %s", what, err.msg);
    for (int b = 0; b < nb; b++) /* the CPU's results back in NHWC */
        for (int c = 0; c < 2 && xc[b]; c++) transpose_buf(bufs[b].copy[c], bufs[b].bytes, xes[b], xc[b], xhw[b]);
    st->xposed += xpose;
    /* the generated kernel, launched as a grid of GRID x BLOCK host threads */
    void *args[32];
    ck_assert_int_le(k->n_args, 32);
    for (int a = 0; a < k->n_args; a++) args[a] = bufs[of[SLOT(k->args[a].tensor)]].copy[2];
    host_fn fn = kernel_fn(so, k);
    for (unsigned b = 0; b < GRID; b++)
        for (unsigned t = 0; t < BLOCK; t++) {
            so->dims(GRID, BLOCK, b, t);
            fn((long long)n, args);
        }
    /* the results the kernel stores */
    for (int a = 0; a < k->n_args; a++) {
        if (!k->args[a].output) continue;
        int s = SLOT(k->args[a].tensor);
        const uint8_t *got = bufs[of[s]].copy[2];
        tgc_dtype dt = k->args[a].dtype;
        size_t es = tgc_dtype_size(dt);
        const int with_tanh = strstr(k->source, "tanhf(") != NULL;
        for (int c = 0; c < 2; c++) {
            const uint8_t *ref = bufs[of[s]].copy[c];
            double scale = 0; /* the reference's largest magnitude: oneDNN's tanh error, propagated, is relative to it */
            for (int64_t i = 0; dt == TGC_F32 && i < count[s]; i++) {
                float y;
                memcpy(&y, ref + 4 * i, 4);
                if (isfinite(y)) scale = fmax(scale, fabs((double)y));
            }
            int64_t worst = 0, differ = 0;
            double worst_rel = 0;
            for (int64_t i = 0; i < count[s]; i++) {
                if (memcmp(got + es * i, ref + es * i, es) == 0) continue;
                differ++;
                int64_t u = INT64_MAX;
                double rel = INFINITY;
                float x = 0, y = 0;
                int lowp = dt == TGC_BF16 || dt == TGC_F16;
                if (dt == TGC_F32) {
                    memcpy(&x, got + 4 * i, 4);
                    memcpy(&y, ref + 4 * i, 4);
                    u = ulps(x, y);
                    rel = fabs((double)x - (double)y) / fmax(scale, 1e-30);
                } else if (lowp) {
                    u = ulps16(got + 2 * i, ref + 2 * i, dt);
                }
                if (u > worst) worst = u;
                if (rel > worst_rel) worst_rel = rel;
                /* bf16/f16 results of kernels with tanh, op by op: oneDNN's tanh may round to the neighbour */
                int bad = c == 0 ? u > TOL_ULP_FUSED
                        : with_tanh ? (lowp ? u > TOL_ULP16_OPS_TANH : rel > TOL_REL_OPS_TANH) : u > 0;
                if (bad)
                    ck_abort_msg("%s: %s, result '%s' element %lld: kernel %.9g, CPU %s %.9g (%lld ulp, %.3g of the "
                                 "tensor's scale, %s)\n%s", what, k->name, p->tensors[k->args[a].tensor].name,
                                 (long long)i, (double)x, c ? "op by op" : "fused", (double)y,
                                 (long long)(u == INT64_MAX ? -1 : u), rel, tgc_dtype_name(dt), k->source);
            }
            if (c == 0) {
                st->worst_fused = TGC_MAX(st->worst_fused, worst);
                st->differ_fused += differ;
            } else {
                st->worst_ops = TGC_MAX(st->worst_ops, worst);
                st->worst_ops_rel = fmax(st->worst_ops_rel, worst_rel);
                st->differ_ops += differ;
                if (!with_tanh) st->worst_ops_no_tanh = TGC_MAX(st->worst_ops_no_tanh, worst);
            }
        }
        st->elements += count[s];
    }
    st->runs++;
#undef SLOT
    for (int b = 0; b < nb; b++)
        for (int c = 0; c < 3; c++) free(bufs[b].copy[c]);
}

/* The elements a group runs on: all of them up to PREFIX, else the group at a smaller batch (leading
 * dimension) of at least PREFIX elements, when every full-size tensor has that leading dimension and no bias
 * is broadcast along it. */
static int64_t run_size(const tgc_plan *p, const tgc_program *pr, const tgc_codegen_kernel *k) {
    if (k->numel <= PREFIX) return k->numel;
    int64_t d0 = -1;
    for (int i = k->first; i < k->first + k->count; i++) {
        const tgc_instr *in = &pr->instr[i];
        if (in->code == TGC_OP_BIAS_ADD && in->attrs.axis < 1) return k->numel;
        for (int j = 0; j <= in->n_in; j++) {
            const tgc_shape *sh = &p->tensors[j < in->n_in ? in->in[j] : in->out[0]].type.shape;
            if (tgc_shape_numel(sh) != k->numel) continue;
            if (sh->rank < 1 || (d0 >= 0 && sh->d[0] != d0)) return k->numel;
            d0 = sh->d[0];
        }
    }
    int64_t row = k->numel / d0, rows = (PREFIX + row - 1) / row;
    return rows < d0 ? rows * row : k->numel;
}

/* ---- every group of every shipped config ---------------------------------------------------------- */

typedef struct instance {
    int plan, program;
    tgc_codegen_kernel k;
} instance;

START_TEST(shipped_configs) {
    char **cfgs;
    int nc = cgu_configs(TGC_SOURCE_DIR, &cfgs);
    ck_assert_int_gt(nc, 0);
    /* _i 0: fp32 for both targets; the cuda target's mixed-precision plans (--amp as bf16, --fp16) too. _i 1: the
     * cuda plans with NHWC activations (the three compiled again with --layout nhwc; a test of its own, so each
     * has the whole timeout) */
    enum { NV = 7, NV_COMPILED = 4 }; /* the first 4 row-major, the others --layout nhwc */
    static const char *targets[NV] = {"cpu", "cuda", "cuda", "cuda", "cuda", "cuda", "cuda"};
    static const char *flags[NV] = {"", "", " --amp (bf16)", " --fp16", " nhwc", " --amp (bf16) nhwc", " --fp16 nhwc"};
    static const tgc_dtype amps[NV] = {TGC_F32, TGC_F32, TGC_BF16, TGC_F16, TGC_F32, TGC_BF16, TGC_F16};
    tgc_plan **plans = tgc_calloc((size_t)nc * NV, sizeof *plans);
    instance *inst = NULL;
    int ni = 0, cap = 0, compiled = 0, per_target[NV] = {0};
    int nhwc_groups = 0, nhwc_bias_groups = 0;
    for (int c = 0; c < nc; c++)
        for (int t = _i ? NV_COMPILED : 0; t < (_i ? NV : NV_COMPILED); t++) {
            tgc_err err;
            tgc_plan *p = NULL;
            if (t >= NV_COMPILED && cgu_is_detection(cfgs[c])) continue; /* NHWC: the classification configs */
            p = cgu_compile_layout(cfgs[c], targets[t], NULL, amps[t], t < NV_COMPILED ? TGC_LAYOUT_ROW : TGC_LAYOUT_NHWC,
                                   &err);
            if (!p) { /* a config the compiler does not take yet (detection, say): said, not checked */
                printf("  skipped: %s --target %s%s does not compile: %s\n", cfgs[c], targets[t], flags[t], err.msg);
                continue;
            }
            plans[NV * c + t] = p;
            compiled++;
            for (int pi = 0; pi < p->n_programs; pi++) {
                tgc_codegen_group *g;
                int ng = tgc_codegen_groups(&p->programs[pi], &g);
                for (int i = 0; i < ng; i++) {
                    TGC_GROW(inst, cap, ni + 1);
                    inst[ni] = (instance){.plan = NV * c + t, .program = pi};
                    ck_assert_msg(tgc_codegen_group_kernel(p, &p->programs[pi], g[i].first, g[i].count, &inst[ni].k,
                                                           &err) == 0,
                                  "%s --target %s%s: %s", cfgs[c], targets[t], flags[t], err.msg);
                    ni++;
                    per_target[t]++;
                    if (t >= NV_COMPILED) {
                        const tgc_instr *f = &p->programs[pi].instr[g[i].first];
                        int nhwc = p->tensors[f->out[0]].type.layout == TGC_LAYOUT_NHWC, bias = 0;
                        for (int q = 0; q < g[i].count; q++)
                            bias |= p->programs[pi].instr[g[i].first + q].code == TGC_OP_BIAS_ADD &&
                                    p->tensors[p->programs[pi].instr[g[i].first + q].in[0]].type.layout == TGC_LAYOUT_NHWC;
                        nhwc_groups += nhwc;
                        nhwc_bias_groups += bias;
                    }
                }
                free(g);
            }
        }
    ck_assert_int_gt(compiled, 0);
    ck_assert_int_gt(ni, 0);
    /* distinct texts, compiled once */
    const tgc_codegen_kernel **uniq = tgc_malloc(sizeof *uniq * (size_t)ni);
    int nu = 0, tanh_kernels = 0, lowp_kernels = 0;
    for (int i = 0; i < ni; i++) {
        int seen = 0;
        for (int u = 0; u < nu && !seen; u++) {
            seen = uniq[u]->hash == inst[i].k.hash;
            if (seen) ck_assert_str_eq(uniq[u]->source, inst[i].k.source); /* one hash, one text */
        }
        if (!seen) {
            uniq[nu++] = &inst[i].k;
            tanh_kernels += strstr(inst[i].k.source, "tanhf(") != NULL;
            for (int a = 0; a < inst[i].k.n_args; a++) /* a bf16/f16 tensor outside a lone cast */
                if (inst[i].k.args[a].dtype == TGC_BF16 || inst[i].k.args[a].dtype == TGC_F16) {
                    lowp_kernels++;
                    break;
                }
        }
    }
    host_so so;
    build_so(uniq, nu, _i ? "shipped_nhwc" : "shipped", &so);
    /* each distinct (text, run size) once: equal text at equal size is the same computation */
    stats st = {0};
    int64_t *done_hash = tgc_malloc(sizeof(int64_t) * 2 * (size_t)ni);
    int nd = 0;
    for (int i = 0; i < ni; i++) {
        const tgc_plan *p = plans[inst[i].plan];
        const tgc_program *pr = &p->programs[inst[i].program];
        int64_t n = run_size(p, pr, &inst[i].k);
        int seen = 0;
        for (int d = 0; d < nd && !seen; d++) seen = (uint64_t)done_hash[2 * d] == inst[i].k.hash && done_hash[2 * d + 1] == n;
        if (seen) continue;
        done_hash[2 * nd] = (int64_t)inst[i].k.hash;
        done_hash[2 * nd + 1] = n;
        nd++;
        char what[512];
        snprintf(what, sizeof what, "%s --target %s%s, program %s, instructions %d-%d", cfgs[inst[i].plan / NV],
                 targets[inst[i].plan % NV], flags[inst[i].plan % NV], pr->name, inst[i].k.first,
                 inst[i].k.first + inst[i].k.count - 1);
        run_group(p, pr, &inst[i].k, &so, n, 0, &st, what);
    }
    printf("codegen host check: %d configs x 4 (cpu, cuda, cuda --amp, cuda --fp16), or the classification ones x 3 "
           "(cuda with --layout nhwc: f32, --amp, --fp16), %d compiled; %d elementwise groups (%d cpu, %d cuda, %d cuda bf16, %d cuda f16; NHWC: %d f32, %d "
           "bf16, %d f16, %d of them on NHWC values, %d with an NHWC bias_add, %d runs of those against the CPU's "
           "transposed run), %d distinct kernels (%d with tanhf, %d with bf16/f16 data), %d runs over %lld result "
           "elements; worst error vs the CPU fused loop "
           "%lld ulp (%lld elements differ in bits, tolerance %d), vs op-by-op kernels %lld ulp, %.2g of the tensor's "
           "scale (%lld differ, all in kernels with tanh: tolerance %g of the scale; %lld ulp in the others)\n",
           nc, compiled, ni, per_target[0], per_target[1], per_target[2], per_target[3], per_target[4], per_target[5],
           per_target[6], nhwc_groups, nhwc_bias_groups, st.xposed, nu, tanh_kernels, lowp_kernels, st.runs,
           (long long)st.elements,
           (long long)st.worst_fused, (long long)st.differ_fused, TOL_ULP_FUSED, (long long)st.worst_ops,
           st.worst_ops_rel, (long long)st.differ_ops, TOL_REL_OPS_TANH, (long long)st.worst_ops_no_tanh);
    ck_assert_int_gt(tanh_kernels, 0); /* the cuda target fuses tanh: LeNet-5's groups */
    ck_assert_int_gt(per_target[_i ? 5 : 2], 0); /* the mixed-precision plans' groups were checked */
    ck_assert_int_gt(per_target[_i ? 6 : 3], 0);
    ck_assert_int_gt(lowp_kernels, 0);
    if (_i) {
        ck_assert_int_gt(nhwc_groups, 0); /* NHWC groups were generated and checked */
        ck_assert_int_gt(nhwc_bias_groups, 0);
        ck_assert_int_gt(st.xposed, 0);
    }
    ck_assert_int_le(st.worst_fused, TOL_ULP_FUSED);
    ck_assert_int_eq(st.worst_ops_no_tanh, 0);
    dlclose(so.h);
    free(done_hash);
    free(uniq);
    for (int i = 0; i < ni; i++) tgc_codegen_kernel_free(&inst[i].k);
    free(inst);
    for (int i = 0; i < NV * nc; i++) tgc_plan_free(plans[i]);
    free(plans);
    cgu_free_strs(cfgs, nc);
}
END_TEST

/* ---- casts, bit for bit ------------------------------------------------------------------------------ */

START_TEST(casts_bit_exact) {
    const int64_t n = 65536; /* every f16 / bf16 pattern once */
    int nch;
    tgc_plan *p = cgu_cast_plan(n, &nch);
    const tgc_program *pr = &p->programs[0];
    tgc_codegen_group *g;
    int ng = tgc_codegen_groups(pr, &g);
    ck_assert_int_eq(ng, nch);
    tgc_codegen_kernel *k = tgc_calloc((size_t)ng, sizeof *k);
    const tgc_codegen_kernel **kp = tgc_calloc((size_t)ng, sizeof *kp);
    for (int i = 0; i < ng; i++) {
        tgc_err err;
        ck_assert_msg(tgc_codegen_group_kernel(p, pr, g[i].first, g[i].count, &k[i], &err) == 0, "%s", err.msg);
        kp[i] = &k[i];
    }
    host_so so;
    build_so(kp, ng, "casts", &so);
    stats st = {0};
    for (int i = 0; i < ng; i++) {
        char what[64];
        snprintf(what, sizeof what, "cast chain %d", i);
        run_group(p, pr, &k[i], &so, n, 1, &st, what);
    }
    printf("codegen host check, casts: %d chains, %lld result elements, %lld differ in bits from the fused loop, "
           "%lld from op-by-op casts\n", ng, (long long)st.elements, (long long)st.differ_fused,
           (long long)st.differ_ops);
    ck_assert_int_eq(st.differ_fused, 0);
    ck_assert_int_eq(st.differ_ops, 0);
    dlclose(so.h);
    for (int i = 0; i < ng; i++) tgc_codegen_kernel_free(&k[i]);
    free(k);
    free(kp);
    free(g);
    tgc_plan_free(p);
}
END_TEST

/* ---- every op in one group ------------------------------------------------------------------------ */

/* A group with every elementwise op (tanh_bwd, sigmoid and a second bias layout appear in no shipped group), in
 * place where memplan would put it, at a size that is not a multiple of the grid. */
static const tgc_dtype every_op_dt[3] = {TGC_F32, TGC_BF16, TGC_F16};

START_TEST(every_op_group) {
    tgc_plan *p = cgu_every_op_plan_dt(every_op_dt[_i]);
    const tgc_program *pr = &p->programs[0];
    tgc_codegen_kernel k;
    tgc_err err;
    ck_assert_msg(tgc_codegen_group_kernel(p, pr, 0, pr->n_instr, &k, &err) == 0, "%s", err.msg);
    for (int c = 0; c < TGC_OP_COUNT; c++)
        if (tgc_op_table[c].flags & TGC_OPF_ELEMENTWISE) {
            int used = 0;
            for (int i = 0; i < pr->n_instr; i++) used |= pr->instr[i].code == (tgc_opcode)c;
            ck_assert_msg(used, "every_op_group lacks %s", tgc_op_table[c].name);
        }
    const tgc_codegen_kernel *kp[1] = {&k};
    host_so so;
    char tag[32];
    snprintf(tag, sizeof tag, "every_op_%s", tgc_dtype_name(every_op_dt[_i]));
    build_so(kp, 1, tag, &so);
    stats st = {0};
    run_group(p, pr, &k, &so, k.numel, 0, &st, tag);
    printf("codegen host check, every op in %s: %lld result elements, %lld ulp from the fused loop, %lld ulp (%.2g of the "
           "scale, %lld elements) from op by op\n", tgc_dtype_name(every_op_dt[_i]), (long long)st.elements, (long long)st.worst_fused,
           (long long)st.worst_ops, st.worst_ops_rel, (long long)st.differ_ops);
    ck_assert_int_eq(st.elements, 2 * 630);
    ck_assert_int_eq(st.differ_fused, 0);
    dlclose(so.h);
    tgc_codegen_kernel_free(&k);
    tgc_plan_free(p);
}
END_TEST

int main(void) {
    Suite *s = suite_create("codegen_host");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, shipped_configs, 0, 2); /* row-major plans, then the --layout nhwc ones */
    tcase_add_loop_test(tc, every_op_group, 0, 3);
    tcase_add_test(tc, casts_bit_exact);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? 1 : 0;
}
