/* backend/cuda/kernels/kshim.h - runs the kernels of backend/cuda/kernels (the .cuh files) on the host, one
 * CUDA thread per fiber, so a test without a GPU executes the very source nvcc compiles (kcommon.cuh includes
 * this file whenever __CUDACC__ is not defined; only tests do that).
 *
 * Execution model: blocks run one after another (x fastest); within a block every CUDA thread is a fiber
 * (ucontext) with its own stack, run in thread order until it finishes or reaches a synchronisation point:
 *   __syncthreads()        releases when every thread of the block waits there; a thread that has exited
 *                          while others wait, or a warp waiting in a shuffle meanwhile, is reported as a
 *                          divergent barrier (CUDA would hang or be undefined);
 *   __shfl_*_sync(m, v, k) releases when every lane of the warp is in a shuffle with the same mask, which
 *                          must be the warp's present lanes (0xffffffff for a full warp); every lane's
 *                          result is computed before any lane continues, as on the hardware.
 * Nothing else interleaves threads, so a kernel whose threads communicate only through these (the kernels'
 * subset: no atomics, no cross-block communication, no warp-synchronous tricks) computes what it computes
 * on a GPU, deterministically. Shared memory comes from TGC_SHARED declarations, carved out of a per-block
 * arena filled with 0xff bytes (NaN as float or double) at every block start, so a read before any write
 * shows. Violations (launch bounds, divergent barriers, bad masks, a missing lane) print the kernel, block
 * and thread and abort.
 *
 * Arithmetic: float and double operations are the host's IEEE ones; __fadd_rn & co. are plain operations
 * (compile the including file with -ffp-contract=off so none is fused); expf, exp, log, pow, ... are the
 * host libm's, whose last bit may differ from CUDA's libdevice (documented maximum errors 1-2 ulp).
 *
 * Fibers: TGC_SHIM_STACK bytes of stack each (kernels keep little on it: the argument struct, a few
 * locals); under AddressSanitizer every switch is annotated (__sanitizer_start/finish_switch_fiber), and ASan
 * still prints its one-line "doesn't fully support makecontext/swapcontext" warning once per process.
 *
 * Single-threaded: one launch at a time per process. */
#ifndef TGC_CUDA_KERNELS_KSHIM_H
#define TGC_CUDA_KERNELS_KSHIM_H

#ifdef __CUDACC__
#error "kshim.h emulates CUDA on the host; nvcc compiles the kernels natively"
#endif

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include "backend/cuda/kernels/kargs.h"

#if defined(__SANITIZE_ADDRESS__)
#define TGC_SHIM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TGC_SHIM_ASAN 1
#endif
#endif
#ifdef TGC_SHIM_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

typedef struct uint3 {
    unsigned x, y, z;
} uint3;
typedef uint3 dim3;
typedef struct float4 {
    float x, y, z, w;
} float4;

#define TGC_SHIM_MAX_THREADS 1024
#define TGC_SHIM_STACK (64u * 1024u)
#define TGC_SHIM_SHARED_BYTES (48u * 1024u)
#define TGC_SHIM_MAX_DECLS 16

enum { TGC_SHIM_RUN, TGC_SHIM_BARRIER, TGC_SHIM_SHFL, TGC_SHIM_DONE };
enum { TGC_SHFL_IDX, TGC_SHFL_XOR, TGC_SHFL_DOWN, TGC_SHFL_UP };

typedef struct tgc_shim_thread {
    ucontext_t ctx;
    char *stack;
    int state;
    uint3 idx;
    unsigned linear;
    int n_decls;    /* TGC_SHARED declarations this thread has passed */
    int op, arg;    /* the pending shuffle */
    unsigned mask;
    uint64_t val, res;
    void *fake_stack; /* ASan's, while switched out */
} tgc_shim_thread;

static struct tgc_shim_state {
    tgc_shim_thread *t; /* TGC_SHIM_MAX_THREADS, stacks allocated on first use */
    unsigned n_stacks;
    unsigned n;         /* threads in the block */
    tgc_shim_thread *cur;
    ucontext_t sched;
    uint3 block_idx;
    dim3 block_dim, grid_dim;
    void (*fn)(const void *);
    const void *args;
    const char *name;
    _Alignas(16) unsigned char shared[TGC_SHIM_SHARED_BYTES];
    size_t shared_used, decl_off[TGC_SHIM_MAX_DECLS], decl_size[TGC_SHIM_MAX_DECLS];
    int n_decls;
    const void *main_bottom;
    size_t main_size;
    uint64_t launches, blocks, fibers; /* counters, for tests */
} tgc_shim;

/* ---- the kernel-side names -------------------------------------------------------------------------- */
#define threadIdx (tgc_shim.cur->idx)
#define blockIdx (tgc_shim.block_idx)
#define blockDim (tgc_shim.block_dim)
#define gridDim (tgc_shim.grid_dim)
#define warpSize 32
#define __syncthreads() tgc_shim_yield(TGC_SHIM_BARRIER)

static inline void tgc_shim_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static inline void tgc_shim_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "kshim: kernel %s, block (%u,%u,%u): ", tgc_shim.name ? tgc_shim.name : "?",
            tgc_shim.block_idx.x, tgc_shim.block_idx.y, tgc_shim.block_idx.z);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
    abort();
}

/* A fiber gives control back to the block's scheduler, in `state`. */
static inline void tgc_shim_yield(int state) {
    tgc_shim_thread *t = tgc_shim.cur;
    t->state = state;
#ifdef TGC_SHIM_ASAN
    __sanitizer_start_switch_fiber(state == TGC_SHIM_DONE ? NULL : &t->fake_stack, tgc_shim.main_bottom,
                                   tgc_shim.main_size);
#endif
    swapcontext(&t->ctx, &tgc_shim.sched);
#ifdef TGC_SHIM_ASAN
    __sanitizer_finish_switch_fiber(t->fake_stack, NULL, NULL);
#endif
}

static inline uint64_t tgc_shim_shfl(unsigned mask, uint64_t v, int arg, int op) {
    tgc_shim_thread *t = tgc_shim.cur;
    t->op = op, t->arg = arg, t->mask = mask, t->val = v;
    tgc_shim_yield(TGC_SHIM_SHFL);
    return t->res;
}

#define TGC_SHIM_SHFL_T(suffix, T)                                                                          \
    static inline T tgc_shim_shfl_##suffix(unsigned mask, T v, int arg, int op) {                          \
        uint64_t u = 0;                                                                                    \
        memcpy(&u, &v, sizeof v);                                                                          \
        u = tgc_shim_shfl(mask, u, arg, op);                                                               \
        memcpy(&v, &u, sizeof v);                                                                          \
        return v;                                                                                          \
    }
TGC_SHIM_SHFL_T(f, float)
TGC_SHIM_SHFL_T(d, double)
TGC_SHIM_SHFL_T(i, int)
TGC_SHIM_SHFL_T(u, unsigned)
TGC_SHIM_SHFL_T(l, long)
TGC_SHIM_SHFL_T(ul, unsigned long)
TGC_SHIM_SHFL_T(ll, long long)
TGC_SHIM_SHFL_T(ull, unsigned long long)
#undef TGC_SHIM_SHFL_T

#define TGC_SHIM_SHFL(m, v, k, op)                                                                          \
    _Generic((v), float: tgc_shim_shfl_f, double: tgc_shim_shfl_d, int: tgc_shim_shfl_i,                   \
             unsigned: tgc_shim_shfl_u, long: tgc_shim_shfl_l, unsigned long: tgc_shim_shfl_ul,            \
             long long: tgc_shim_shfl_ll, unsigned long long: tgc_shim_shfl_ull)(m, v, k, op)
#define __shfl_sync(m, v, k) TGC_SHIM_SHFL(m, v, k, TGC_SHFL_IDX)
#define __shfl_xor_sync(m, v, k) TGC_SHIM_SHFL(m, v, k, TGC_SHFL_XOR)
#define __shfl_down_sync(m, v, k) TGC_SHIM_SHFL(m, v, k, TGC_SHFL_DOWN)
#define __shfl_up_sync(m, v, k) TGC_SHIM_SHFL(m, v, k, TGC_SHFL_UP)

/* The k-th TGC_SHARED declaration of every thread of a block names the same bytes. */
static inline void *tgc_shim_shared_decl(size_t bytes, size_t align) {
    tgc_shim_thread *t = tgc_shim.cur;
    int k = t->n_decls++;
    if (k >= TGC_SHIM_MAX_DECLS) tgc_shim_fail("more than %d TGC_SHARED declarations", TGC_SHIM_MAX_DECLS);
    if (k == tgc_shim.n_decls) { /* the first thread to get here places it */
        size_t off = (tgc_shim.shared_used + align - 1) / align * align;
        if (off + bytes > TGC_SHIM_SHARED_BYTES)
            tgc_shim_fail("%zu bytes of shared memory past the %u a block has", off + bytes, TGC_SHIM_SHARED_BYTES);
        tgc_shim.decl_off[k] = off, tgc_shim.decl_size[k] = bytes;
        tgc_shim.shared_used = off + bytes;
        tgc_shim.n_decls++;
    } else if (k > tgc_shim.n_decls || tgc_shim.decl_size[k] != bytes) {
        tgc_shim_fail("thread %u declares shared array %d differently from thread 0 (TGC_SHARED must be "
                      "unconditional)", t->linear, k);
    }
    return tgc_shim.shared + tgc_shim.decl_off[k];
}

/* ---- the scheduler ---------------------------------------------------------------------------------- */
static inline void tgc_shim_entry(void) {
#ifdef TGC_SHIM_ASAN
    __sanitizer_finish_switch_fiber(NULL, &tgc_shim.main_bottom, &tgc_shim.main_size);
#endif
    tgc_shim.fn(tgc_shim.args);
    tgc_shim_yield(TGC_SHIM_DONE); /* never resumed */
}

static inline void tgc_shim_resume(tgc_shim_thread *t) {
    tgc_shim.cur = t;
#ifdef TGC_SHIM_ASAN
    void *fake = NULL;
    __sanitizer_start_switch_fiber(&fake, t->stack, TGC_SHIM_STACK);
#endif
    swapcontext(&tgc_shim.sched, &t->ctx);
#ifdef TGC_SHIM_ASAN
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
}

/* Releases the warps whose lanes all wait in a shuffle; returns how many. */
static inline int tgc_shim_release_warps(void) {
    int released = 0;
    for (unsigned first = 0; first < tgc_shim.n; first += 32) {
        unsigned cnt = tgc_shim.n - first < 32 ? tgc_shim.n - first : 32, lane;
        tgc_shim_thread *w = tgc_shim.t + first;
        for (lane = 0; lane < cnt && w[lane].state == TGC_SHIM_SHFL; lane++) {}
        if (lane < cnt) continue;
        unsigned full = cnt == 32 ? 0xffffffffu : (1u << cnt) - 1u;
        for (lane = 0; lane < cnt; lane++) {
            if (w[lane].mask != full)
                tgc_shim_fail("lane %u of warp %u shuffles with mask 0x%08x, the warp's lanes are 0x%08x", lane,
                              first / 32, w[lane].mask, full);
            int src = w[lane].arg;
            switch (w[lane].op) {
            case TGC_SHFL_IDX: src = w[lane].arg & 31; break;
            case TGC_SHFL_XOR: src = (int)lane ^ (w[lane].arg & 31); break;
            case TGC_SHFL_DOWN: src = (int)lane + w[lane].arg >= 32 ? (int)lane : (int)lane + w[lane].arg; break;
            default: src = (int)lane - w[lane].arg < 0 ? (int)lane : (int)lane - w[lane].arg; break;
            }
            if (src < 0 || (unsigned)src >= cnt)
                tgc_shim_fail("lane %u of warp %u reads lane %d, which the warp does not have", lane, first / 32, src);
            w[lane].res = w[src].val;
        }
        for (lane = 0; lane < cnt; lane++) w[lane].state = TGC_SHIM_RUN;
        released++;
    }
    return released;
}

/* Points t's context at the start of the kernel, on its own stack (apart, so that getcontext, which returns
 * twice, does not share a frame with the scheduler's loops). */
__attribute__((noinline)) static void tgc_shim_init_fiber(tgc_shim_thread *t) {
    if (getcontext(&t->ctx)) tgc_shim_fail("getcontext failed");
    t->ctx.uc_stack.ss_sp = t->stack;
    t->ctx.uc_stack.ss_size = TGC_SHIM_STACK;
    t->ctx.uc_link = NULL;
    makecontext(&t->ctx, tgc_shim_entry, 0);
}

static inline void tgc_shim_run_block(void) {
    tgc_shim_thread *t = tgc_shim.t;
    unsigned n = tgc_shim.n;
    memset(tgc_shim.shared, 0xff, sizeof tgc_shim.shared);
    tgc_shim.shared_used = 0, tgc_shim.n_decls = 0;
    for (unsigned i = 0; i < n; i++) {
        tgc_shim_init_fiber(&t[i]);
        t[i].state = TGC_SHIM_RUN;
        t[i].n_decls = 0;
        t[i].fake_stack = NULL;
        t[i].linear = i;
        t[i].idx.x = i % tgc_shim.block_dim.x;
        t[i].idx.y = i / tgc_shim.block_dim.x % tgc_shim.block_dim.y;
        t[i].idx.z = i / (tgc_shim.block_dim.x * tgc_shim.block_dim.y);
    }
    tgc_shim.fibers += n;
    for (;;) {
        for (unsigned i = 0; i < n; i++)
            if (t[i].state == TGC_SHIM_RUN) tgc_shim_resume(&t[i]);
        unsigned done = 0, bar = 0, shfl = 0;
        for (unsigned i = 0; i < n; i++) {
            done += t[i].state == TGC_SHIM_DONE;
            bar += t[i].state == TGC_SHIM_BARRIER;
            shfl += t[i].state == TGC_SHIM_SHFL;
        }
        if (done == n) break;
        if (tgc_shim_release_warps()) continue;
        if (bar == n) {
            for (unsigned i = 0; i < n; i++) t[i].state = TGC_SHIM_RUN;
            continue;
        }
        tgc_shim_fail("threads wait at different points: %u at __syncthreads, %u in a shuffle whose warp is not "
                      "all there, %u exited (a barrier or shuffle in divergent code)", bar, shfl, done);
    }
}

/* Runs fn(args) as a grid g of blocks, all threads of a block as fibers. max_threads: the kernel's
 * __launch_bounds__. gx == 0 launches nothing (kargs.h: "nothing to do"). */
static inline void tgc_shim_launch(const char *name, void (*fn)(const void *), const void *args, tgc_k_geom g,
                                   unsigned max_threads) {
    tgc_shim.name = name;
    if (g.gx == 0) return;
    uint64_t nt = (uint64_t)g.bx * g.by * g.bz;
    if (nt < 1 || nt > max_threads || nt > TGC_SHIM_MAX_THREADS || g.by < 1 || g.bz < 1 || g.gy < 1 || g.gz < 1 ||
        g.gx > 0x7fffffffu || g.gy > 65535 || g.gz > 65535 || g.bz > 64)
        tgc_shim_fail("invalid launch: grid (%u,%u,%u), block (%u,%u,%u), launch bounds %u", g.gx, g.gy, g.gz, g.bx,
                      g.by, g.bz, max_threads);
    if (!tgc_shim.t) {
        tgc_shim.t = calloc(TGC_SHIM_MAX_THREADS, sizeof *tgc_shim.t);
        if (!tgc_shim.t) tgc_shim_fail("out of memory");
    }
    for (; tgc_shim.n_stacks < nt; tgc_shim.n_stacks++) {
        void *s = malloc(TGC_SHIM_STACK);
        if (!s) tgc_shim_fail("out of memory for a fiber stack");
        tgc_shim.t[tgc_shim.n_stacks].stack = s;
    }
    tgc_shim.fn = fn, tgc_shim.args = args, tgc_shim.n = (unsigned)nt;
    tgc_shim.grid_dim.x = g.gx, tgc_shim.grid_dim.y = g.gy, tgc_shim.grid_dim.z = g.gz;
    tgc_shim.block_dim.x = g.bx, tgc_shim.block_dim.y = g.by, tgc_shim.block_dim.z = g.bz;
    tgc_shim.launches++;
    for (unsigned z = 0; z < g.gz; z++)
        for (unsigned y = 0; y < g.gy; y++)
            for (unsigned x = 0; x < g.gx; x++) {
                tgc_shim.block_idx.x = x, tgc_shim.block_idx.y = y, tgc_shim.block_idx.z = z;
                tgc_shim_run_block();
                tgc_shim.blocks++;
            }
    tgc_shim.cur = NULL;
}

/* TGC_SHIM_LAUNCH(kernel, geometry, args): the shim's kernel<<<grid, block>>>(args). */
#define TGC_SHIM_LAUNCH(kernel, geom, args)                                                                 \
    tgc_shim_launch(#kernel, kernel##_shim, &(args), (geom), kernel##_threads)

/* ---- what kcommon.cuh maps the CUDA spellings to ------------------------------------------------------ */
#define TGC_SHIM_KERNEL(name, T, a, threads)                                                                \
    static void name(const T a);                                                                           \
    static inline void name##_shim(const void *p) { name(*(const T *)p); }                                 \
    enum { name##_threads = threads };                                                                     \
    static void name(const T a)
#define TGC_SHIM_SHARED(T, name, n) T *name = (T *)tgc_shim_shared_decl(sizeof(T) * (size_t)(n), _Alignof(T))

/* Correctly rounded operations: on the host, plain operations (with -ffp-contract=off). */
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline float __fsqrt_rn(float a) { return sqrtf(a); }
static inline double __dadd_rn(double a, double b) { return a + b; }
static inline double __dsub_rn(double a, double b) { return a - b; }
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline double __ddiv_rn(double a, double b) { return a / b; }
static inline double __dsqrt_rn(double a) { return sqrt(a); }
static inline unsigned __float_as_uint(float f) {
    unsigned u;
    memcpy(&u, &f, sizeof u);
    return u;
}
static inline float __uint_as_float(unsigned u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

#endif
