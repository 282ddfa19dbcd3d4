/* backend/cuda/cuda_exec.c - the cuda device's per-op dispatch on a GPU (see cuda_exec.h). */
#include "backend/cuda/cuda_exec.h"

#include <cuda.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/codegen.h"
#include "backend/cuda/cublas_load.h"
#include "backend/cuda/codegen_cache.h"
#include "backend/cuda/codegen_nvrtc.h"
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cudnn_plan.h"
#include "backend/cuda/kernels/kernels.h"
#include "backend/cuda/native_marshal.h"
#include "passes/target.h"

typedef CUresult (*module_load_fn)(CUmodule *, const void *);
typedef CUresult (*module_get_fn)(CUfunction *, CUmodule, const char *);
typedef CUresult (*module_unload_fn)(CUmodule);
typedef CUresult (*error_name_fn)(CUresult, const char **);

/* A compiled module and one function of it, by the source's hash. */
typedef struct kmod {
    uint64_t hash;
    CUmodule mod;
    CUfunction fn;
} kmod;

typedef struct ksym {
    const char *name;
    CUfunction fn;
} ksym;

struct tgc_cuda_exec {
    const tgc_stream_api *A;
    void *sx;
    int ordinal, sms, allow_tf32;
    char arch[16]; /* "sm_90" */
    char *compile_id, *cache_dir;
    cudnnHandle_t cudnn;
    cublasHandle_t cublas;
    const tgc_cublas *blas; /* loaded at open (cublas_load.h) */
    cudnnBackendDescriptor_t devprop;
    void *ws; /* the library workspace (the cuda target's size) */
    uint64_t ws_bytes;
    module_load_fn load;
    module_get_fn get;
    module_unload_fn unload;
    error_name_fn error_name;
    kmod *mods;
    int n_mods, cap_mods;
    ksym syms[32];
    int n_syms;
    uint64_t compiled, cache_hits;
    /* env_cfg.cudnn_benchmark: the convolutions' algorithms measured at prepare, remembered in algos (and in
     * algo_path when there is a work dir); device_id keys the entries (GPU name, compute capability, cuDNN) */
    int benchmark, algos_read, warned_stale;
    char *algo_path;
    char device_id[200];
    tgc_cudnn_cache algos;
    int tuned, reused;
};

enum { AUX_FOLD, AUX_RELU, AUX_MASK, AUX_RELU16, AUX_MASK16, AUX_COUNT };
static const char *const aux_names[AUX_COUNT] = {"tgc_aux_fold_conv_bn", "tgc_aux_relu_inplace", "tgc_aux_bn_relu_mask",
                                                 "tgc_aux_relu_inplace16", "tgc_aux_bn_relu_mask16"};

/* The executor's own kernels: fold_conv_bn in double as the CPU (backend/cpu/cpu_bn.c), relu in place after
 * cuDNN's batch norm, and the relu mask of batch_norm_relu_bwd recomputed from x as the CPU does (a = gamma *
 * invstd, b = beta - mean * a, pre = x * a + b; products and sums rounded separately, never an FMA). The
 * ...16 variants take bf16 (bf != 0) or f16 data (mixed precision): widened as backend/cpu/cpu_cast.c does, and
 * since relu and the mask keep a value or zero it, they store bits (a kept value, or a zero of dy's sign as
 * dy * 0 gives; a NaN dy stays). */
static const char aux_source[] =
    "#define LOOP(n) for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (n); "
    "i += (long long)gridDim.x * blockDim.x)\n"
    "extern \"C\" __global__ void tgc_aux_fold_conv_bn(const float *w, const float *gamma, const float *beta,\n"
    "    const float *mean, const float *var, float *wf, float *bf, long long o, long long per, double eps) {\n"
    "  LOOP(o * per) {\n"
    "    long long c = i / per;\n"
    "    double s = __ddiv_rn((double)gamma[c], sqrt(__dadd_rn((double)var[c], eps)));\n"
    "    wf[i] = (float)__dmul_rn((double)w[i], s);\n"
    "    if (i % per == 0) bf[c] = (float)__dsub_rn((double)beta[c], __dmul_rn((double)mean[c], s));\n"
    "  }\n"
    "}\n"
    "extern \"C\" __global__ void tgc_aux_relu_inplace(float *y, long long n) {\n"
    "  LOOP(n) { float v = y[i]; y[i] = v > 0.f ? v : 0.f; }\n"
    "}\n"
    "extern \"C\" __global__ void tgc_aux_bn_relu_mask(const float *dy, const float *x, const float *gamma,\n"
    "    const float *beta, const float *mean, const float *invstd, float *d, long long n, long long inner,\n"
    "    long long ch) {\n"
    "  LOOP(n) {\n"
    "    long long c = (i / inner) % ch;\n"
    "    float a = __fmul_rn(gamma[c], invstd[c]), b = __fsub_rn(beta[c], __fmul_rn(mean[c], a));\n"
    "    float pre = __fadd_rn(__fmul_rn(x[i], a), b);\n"
    "    d[i] = __fmul_rn(dy[i], pre > 0.f ? 1.f : 0.f);\n"
    "  }\n"
    "}\n"
    "static __device__ float aux_h2f(unsigned short h, long long bf) {\n"
    "  if (bf) return __uint_as_float((unsigned int)h << 16);\n"
    "  unsigned int sign = (unsigned int)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;\n"
    "  if (e == 0x1fu) return __uint_as_float(sign | 0x7f800000u | (m ? 0x400000u : 0u) | (m << 13));\n"
    "  if (e == 0u) { float v = (float)m * 5.9604644775390625e-8f; return sign ? -v : v; }\n"
    "  return __uint_as_float(sign | ((e + 112u) << 23) | (m << 13));\n"
    "}\n"
    "extern \"C\" __global__ void tgc_aux_relu_inplace16(unsigned short *y, long long n, long long bf) {\n"
    "  LOOP(n) { unsigned short h = y[i]; y[i] = aux_h2f(h, bf) > 0.f ? h : (unsigned short)0; }\n"
    "}\n"
    "extern \"C\" __global__ void tgc_aux_bn_relu_mask16(const unsigned short *dy, const unsigned short *x,\n"
    "    const float *gamma, const float *beta, const float *mean, const float *invstd, unsigned short *d, long long n,\n"
    "    long long inner, long long ch, long long bf) {\n"
    "  LOOP(n) {\n"
    "    long long c = (i / inner) % ch;\n"
    "    float a = __fmul_rn(gamma[c], invstd[c]), b = __fsub_rn(beta[c], __fmul_rn(mean[c], a));\n"
    "    float pre = __fadd_rn(__fmul_rn(aux_h2f(x[i], bf), a), b), g = aux_h2f(dy[i], bf);\n"
    "    d[i] = pre > 0.f || g != g ? dy[i] : (unsigned short)(dy[i] & 0x8000u);\n"
    "  }\n"
    "}\n";

const char *tgc_cuda_exec_aux_source(void) { return aux_source; }

/* ---- errors ---- */

static int cu_fail(const char *call, cudaError_t e, tgc_err *err) {
    return tgc_fail(err, "%s: %s (%s)", call, cudaGetErrorString(e), cudaGetErrorName(e));
}

static int drv_fail(const tgc_cuda_exec *x, const char *call, CUresult r, tgc_err *err) {
    const char *n = NULL;
    if (x->error_name) x->error_name(r, &n);
    return tgc_fail(err, "%s: %s (%d)", call, n ? n : "CUresult", (int)r);
}

static int dnn_fail(const char *call, cudnnStatus_t s, tgc_err *err) {
    char why[512];
    cudnnGetLastErrorString(why, sizeof why);
    return tgc_fail(err, "%s: %s (%d)%s%s", call, cudnnGetErrorString(s), (int)s, why[0] ? ": " : "", why);
}

static int blas_fail(const tgc_cublas *b, const char *call, cublasStatus_t s, tgc_err *err) {
    return tgc_fail(err, "%s: %s (%s)", call, b->status_string(s), b->status_name(s));
}

#define CK_CUDA(call)                                                                                           \
    do {                                                                                                        \
        cudaError_t e_ = (call);                                                                                \
        if (e_ != cudaSuccess) return cu_fail(#call, e_, err);                                                  \
    } while (0)
#define CK_DNN(call)                                                                                            \
    do {                                                                                                        \
        cudnnStatus_t s_ = (call);                                                                              \
        if (s_ != CUDNN_STATUS_SUCCESS) return dnn_fail(#call, s_, err);                                        \
    } while (0)
#define CK_BLAS(call)                                                                                           \
    do {                                                                                                        \
        cublasStatus_t s_ = (call);                                                                             \
        if (s_ != CUBLAS_STATUS_SUCCESS) return blas_fail(x->blas, #call, s_, err);                                      \
    } while (0)

/* ---- the context ---- */

static void *entry_point(const char *sym) {
    void *fn = NULL;
    enum cudaDriverEntryPointQueryResult q;
    if (cudaGetDriverEntryPointByVersion(sym, &fn, 12000, cudaEnableDefault, &q) != cudaSuccess ||
        q != cudaDriverEntryPointSuccess)
        return NULL;
    return fn;
}

void tgc_cuda_exec_free(tgc_cuda_exec *x) {
    if (!x) return;
    cudaSetDevice(x->ordinal);
    cudaDeviceSynchronize();
    for (int i = 0; i < x->n_mods; i++)
        if (x->unload && x->mods[i].mod) x->unload(x->mods[i].mod);
    free(x->mods);
    if (x->devprop) cudnnBackendDestroyDescriptor(x->devprop);
    if (x->cudnn) cudnnDestroy(x->cudnn);
    if (x->cublas) x->blas->destroy(x->cublas);
    if (x->ws) x->A->dev_free(x->sx, x->ws);
    free(x->compile_id);
    free(x->cache_dir);
    free(x->algo_path);
    tgc_cudnn_cache_free(&x->algos);
    cudaGetLastError();
    free(x);
}

static int symbol_fn(tgc_cuda_exec *x, const char *name, CUfunction *fn, tgc_err *err);

static int exec_init(tgc_cuda_exec *x, tgc_err *err) {
    CK_CUDA(cudaSetDevice(x->ordinal));
    int major = 0, minor = 0;
    CK_CUDA(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, x->ordinal));
    CK_CUDA(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, x->ordinal));
    CK_CUDA(cudaDeviceGetAttribute(&x->sms, cudaDevAttrMultiProcessorCount, x->ordinal));
    snprintf(x->arch, sizeof x->arch, "sm_%d%d", major, minor);
    char name[256] = "?";
    {
        struct cudaDeviceProp prop;
        if (cudaGetDeviceProperties(&prop, x->ordinal) == cudaSuccess) snprintf(name, sizeof name, "%s", prop.name);
    }
    snprintf(x->device_id, sizeof x->device_id, "%s, %s, cuDNN %zu", name, x->arch, cudnnGetVersion());
    tgc_cudnn_cache_init(&x->algos, x->device_id);
    x->compile_id = tgc_nvrtc_compile_id(x->arch);
    x->cache_dir = tgc_kcache_default_dir();
    x->load = (module_load_fn)entry_point("cuModuleLoadData");
    x->get = (module_get_fn)entry_point("cuModuleGetFunction");
    x->unload = (module_unload_fn)entry_point("cuModuleUnload");
    x->error_name = (error_name_fn)entry_point("cuGetErrorName");
    if (!x->load || !x->get || !x->unload)
        return tgc_fail(err, "cudaGetDriverEntryPointByVersion: the driver lacks cuModuleLoadData/cuModuleGetFunction");
    CK_DNN(cudnnCreate(&x->cudnn));
    if (tgc_cudnn_devprop_from_handle(x->cudnn, &x->devprop, NULL, err) < 0) return -1;
    if (!(x->blas = tgc_cublas_load(err))) return -1;
    CK_BLAS(x->blas->create(&x->cublas));
    const char *tf = getenv("TGC_ALLOW_TF32");
    x->allow_tf32 = tf && !strcmp(tf, "1");
    CK_BLAS(x->blas->set_math_mode(x->cublas, x->allow_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    const tgc_target *t = tgc_target_find("cuda");
    x->ws_bytes = t && t->workspace_bytes ? t->workspace_bytes : (32u << 20);
    if (!(x->ws = x->A->dev_alloc(x->sx, x->ws_bytes, "library workspace", err))) return -1;
    CK_BLAS(x->blas->set_workspace(x->cublas, x->ws, (size_t)x->ws_bytes));
    /* every hand-written kernel resolved now (module loading is no business of a graph capture) */
    for (int i = 0; tgc_cuda_k_names[i]; i++) {
        CUfunction f;
        if (symbol_fn(x, tgc_cuda_k_names[i], &f, err) < 0) return tgc_err_prefix(err, "kernel %s", tgc_cuda_k_names[i]);
    }
    return 0;
}

tgc_cuda_exec *tgc_cuda_exec_new(const tgc_stream_api *A, void *sx, int ordinal, tgc_err *err) {
    tgc_cuda_exec *x = tgc_calloc(1, sizeof *x);
    x->A = A;
    x->sx = sx;
    x->ordinal = ordinal;
    if (exec_init(x, err) < 0) {
        tgc_err_prefix(err, "cuda executor on GPU %d", ordinal);
        tgc_cuda_exec_free(x);
        return NULL;
    }
    return x;
}

void tgc_cuda_exec_describe(const tgc_cuda_exec *x, char *buf, size_t size) {
    snprintf(buf, size, "cuDNN %zu, cuBLAS %d, kernels for %s%s, kernel cache %s, convolution algorithms %s%s",
             cudnnGetVersion(), CUBLAS_VERSION, x->arch, x->allow_tf32 ? ", TF32 allowed" : "",
             x->cache_dir ? x->cache_dir : "none", x->benchmark ? "measured (cudnn_benchmark)" : "by heuristics",
             x->benchmark && x->algo_path ? ", kept in the work dir" : "");
}

void tgc_cuda_exec_set_autotune(tgc_cuda_exec *x, int on, const char *work_dir) {
    x->benchmark = on != 0;
    free(x->algo_path);
    x->algo_path = on && work_dir ? tgc_asprintf("%s/%s", work_dir, TGC_CUDNN_CACHE_FILE) : NULL;
    x->algos_read = 0;
}

void tgc_cuda_exec_autotune_counts(const tgc_cuda_exec *x, int *measured, int *from_cache) {
    if (measured) *measured = x->tuned;
    if (from_cache) *from_cache = x->reused;
}


/* The function `name` of `source` compiled for this GPU: from memory, the disk cache or NVRTC. */
static int kernel_fn(tgc_cuda_exec *x, const char *source, const char *name, CUfunction *fn, tgc_err *err) {
    uint64_t h = tgc_codegen_fnv(tgc_codegen_source_hash(source, strlen(source)), name, strlen(name));
    for (int i = 0; i < x->n_mods; i++)
        if (x->mods[i].hash == h) {
            *fn = x->mods[i].fn;
            return 0;
        }
    uint64_t key = tgc_kcache_key(h, x->compile_id);
    uint8_t *code = NULL;
    size_t code_len = 0;
    tgc_cubin cb = {0};
    int hit = 0;
    if (x->cache_dir) {
        tgc_err e2;
        hit = tgc_kcache_get(x->cache_dir, key, source, strlen(source), &code, &code_len, NULL, 0, &e2) == 1;
    }
    if (!hit) {
        if (tgc_nvrtc_compile(source, name, x->arch, &cb, err) < 0) return tgc_err_prefix(err, "NVRTC, kernel %s", name);
        code = cb.code;
        code_len = cb.size;
        x->compiled++;
        if (x->cache_dir) {
            tgc_err e2; /* a cache that cannot be written costs a compile next time, nothing else */
            tgc_kcache_put(x->cache_dir, key, source, strlen(source), code, code_len, &e2);
        }
    } else {
        x->cache_hits++;
    }
    CUmodule mod = NULL;
    CUresult r = x->load(&mod, code);
    if (hit) free(code);
    tgc_cubin_free(&cb);
    if (r != CUDA_SUCCESS) return drv_fail(x, "cuModuleLoadData", r, err);
    if ((r = x->get(fn, mod, name)) != CUDA_SUCCESS) {
        x->unload(mod);
        return drv_fail(x, "cuModuleGetFunction", r, err);
    }
    TGC_GROW(x->mods, x->cap_mods, x->n_mods + 1);
    x->mods[x->n_mods++] = (kmod){h, mod, *fn};
    return 0;
}

/* A hand-written kernel by symbol. */
static int symbol_fn(tgc_cuda_exec *x, const char *name, CUfunction *fn, tgc_err *err) {
    for (int i = 0; i < x->n_syms; i++)
        if (!strcmp(x->syms[i].name, name)) {
            *fn = x->syms[i].fn;
            return 0;
        }
    const void *sym = tgc_cuda_k_symbol(name);
    if (!sym) return tgc_fail(err, "no hand-written kernel named %s in kernels.cu", name);
    cudaFunction_t f = NULL;
    CK_CUDA(cudaGetFuncBySymbol(&f, sym));
    *fn = (CUfunction)f;
    if (x->n_syms < (int)TGC_ARRAY_LEN(x->syms)) x->syms[x->n_syms++] = (ksym){name, *fn} /* name: a string literal */;
    return 0;
}

/* ---- programs ---- */

/* A kernel parameter buffer: the parameters in order at their natural alignment (all 8 bytes here). */
typedef struct pbuf {
    uint8_t b[512];
    size_t n;
} pbuf;
static void pb_add(pbuf *p, const void *v, size_t size) {
    p->n = (p->n + size - 1) / size * size;
    memcpy(p->b + p->n, v, size);
    p->n += size;
}
static void pb_ptr(pbuf *p, const void *v) { pb_add(p, &v, sizeof v); }
static void pb_i64(pbuf *p, int64_t v) { pb_add(p, &v, sizeof v); }

typedef struct kl { /* one kernel launch, prepared */
    CUfunction fn;
    const char *name;
    unsigned grid, block;
    pbuf *params; /* owned */
} kl;

typedef struct xinstr {
    void *in[TGC_MAX_IN], *out[TGC_MAX_OUT];
    tgc_type in_t[TGC_MAX_IN], out_t[TGC_MAX_OUT];
} xinstr;

typedef struct xlaunch {
    tgc_cuda_exec *x;
    tgc_cuda_impl impl;
    int first, n;
    const tgc_program *prog;
    kl k[2]; /* generated / aux kernels (the relu after BN; the mask before its backward) */
    int n_k, k_after; /* k_after: k[0] runs after the library call, else before */
    tgc_cpu_op *ops;  /* hand-written: the instructions, as native_marshal.c reads them */
    void *ws;         /* hand-written: the instruction's workspace (owned) */
    tgc_cuda_gemm gemm;
    tgc_cuda_bn bn; /* batch norms on the legacy calls */
    tgc_cudnn_op cop;
    int cudnn_graph; /* 1: execution plan + variant pack; 0: legacy calls */
    cudnnBackendDescriptor_t eplan, vpack;
    size_t scratch_at; /* > 0: k[0]'s parameter at this offset is the program's scratch */
    void *scratch;     /* batch_norm_relu_bwd: the masked gradient (the program's scratch) */
    void *const *in, *const *out; /* the instruction's operand addresses (cuDNN, copy) */
    const tgc_type *in_t, *out_t;
} xlaunch;

struct tgc_cuda_xprog {
    const tgc_program *prog;
    xinstr *instr;
    xlaunch *l;
    int n_l;
    int *at; /* per instruction: its launch group's index, or -1 inside a group */
    void *scratch; /* batch_norm_relu_bwd's masked gradients, one at a time (the compute stream is in order) */
    uint64_t scratch_bytes;
};

void tgc_cuda_exec_release(tgc_cuda_exec *x, tgc_cuda_xprog *xp) {
    if (!xp) return;
    for (int i = 0; i < xp->n_l; i++) {
        xlaunch *l = &xp->l[i];
        for (int k = 0; k < l->n_k; k++) free(l->k[k].params);
        free(l->ops);
        if (l->ws) x->A->dev_free(x->sx, l->ws);
        if (l->vpack) cudnnBackendDestroyDescriptor(l->vpack);
        if (l->eplan) cudnnBackendDestroyDescriptor(l->eplan);
        tgc_cudnn_op_free(&l->cop);
    }
    if (xp->scratch) x->A->dev_free(x->sx, xp->scratch);
    free(xp->l);
    free(xp->instr);
    free(xp->at);
    free(xp);
}

static unsigned grid_for(const tgc_cuda_exec *x, int64_t n) {
    int64_t b = (n + TGC_CODEGEN_BLOCK - 1) / TGC_CODEGEN_BLOCK, cap = (int64_t)x->sms * 16;
    if (b < 1) b = 1;
    return (unsigned)(b < cap ? b : cap);
}

static int aux_kernel(tgc_cuda_exec *x, int which, int64_t n, pbuf *p, kl *k, tgc_err *err) {
    k->name = aux_names[which];
    k->params = p;
    k->grid = grid_for(x, n);
    k->block = TGC_CODEGEN_BLOCK;
    return kernel_fn(x, aux_source, aux_names[which], &k->fn, err);
}

static int prep_generated(tgc_cuda_exec *x, const tgc_plan *view, const tgc_dev_program *dp, xlaunch *l, tgc_err *err) {
    tgc_codegen_kernel k;
    if (tgc_codegen_group_kernel(view, l->prog, l->first, l->n, &k, err) < 0) return -1;
    pbuf *p = tgc_calloc(1, sizeof *p);
    pb_i64(p, k.numel);
    int rc = 0;
    for (int a = 0; a < k.n_args; a++) {
        const tgc_plan_tensor *t = &dp->tensors[k.args[a].tensor];
        pb_ptr(p, (uint8_t *)dp->slabs[t->slab] + t->offset);
        if (p->n + 8 > sizeof p->b) {
            rc = tgc_fail(err, "generated kernel %s: too many arguments (%d)", k.name, k.n_args);
            break;
        }
    }
    l->k[0].params = p;
    l->n_k = 1;
    l->k[0].grid = grid_for(x, k.numel);
    l->k[0].block = TGC_CODEGEN_BLOCK;
    if (rc == 0) rc = kernel_fn(x, k.source, k.name, &l->k[0].fn, err);
    l->k[0].name = "generated elementwise kernel";
    tgc_codegen_kernel_free(&k);
    return rc;
}

/* ---- convolution algorithms: heuristics' first, or measured (env_cfg.cudnn_benchmark) ---- */

#define TUNE_CANDIDATES 8 /* the first configurations of the heuristics that pass the filters */
#define TUNE_RUNS 3       /* timed runs of each, after one warm-up */

/* The average time of TUNE_RUNS executions of plan with every tensor of op bound to zeroed scratch memory
 * (nothing of the program's slabs is touched) and a workspace of ws bytes, on a stream of its own. */
static int time_plan(tgc_cuda_exec *x, const tgc_cudnn_op *op, cudnnBackendDescriptor_t plan, int64_t ws,
                     float *ms, tgc_err *err) {
    int64_t uids[TGC_CUDNN_MAX_TENSORS];
    void *ptrs[TGC_CUDNN_MAX_TENSORS] = {0}, *bufs[TGC_CUDNN_MAX_TENSORS] = {0}, *work = NULL;
    int64_t nb = 0;
    int nbuf = 0;
    int rc = -1;
    cudaStream_t st = NULL;
    cudaEvent_t e0 = NULL, e1 = NULL;
    cudnnBackendDescriptor_t vp = NULL;
    cudnnStatus_t s = CUDNN_STATUS_SUCCESS;
    const char *call = "";
#define TRY_CU(c)                                                                                                  \
    do {                                                                                                           \
        cudaError_t e_ = (c);                                                                                      \
        if (e_ != cudaSuccess) {                                                                                   \
            cu_fail(#c, e_, err);                                                                                  \
            goto out;                                                                                              \
        }                                                                                                          \
    } while (0)
#define TRY_DNN(c)                                                                                                 \
    do {                                                                                                           \
        call = #c;                                                                                                 \
        if ((s = (c)) != CUDNN_STATUS_SUCCESS) {                                                                   \
            dnn_fail(call, s, err);                                                                                \
            goto out;                                                                                              \
        }                                                                                                          \
    } while (0)
    TRY_CU(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    for (int i = 0; i < op->n_tensors; i++) {
        const tgc_cudnn_binding *b = &op->bind[i];
        if (b->by_value) ptrs[nb] = (void *)&b->value;
        else if (b->tensor >= 0) {
            int64_t dims[8], n = 0, bytes = 4;
            TRY_DNN(cudnnBackendGetAttribute(op->tensor[i], CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 8, &n, dims));
            for (int64_t d = 0; d < n; d++) bytes *= dims[d];
            TRY_CU(cudaMalloc(&bufs[nbuf], (size_t)bytes));
            ptrs[nb] = bufs[nbuf++];
            TRY_CU(cudaMemsetAsync(ptrs[nb], 0, (size_t)bytes, st)); /* ordered before the runs on st */
        } else continue;
        uids[nb++] = op->bind[i].uid;
    }
    if (ws > 0) TRY_CU(cudaMalloc(&work, (size_t)ws));
    TRY_CU(cudaEventCreate(&e0));
    TRY_CU(cudaEventCreate(&e1));
    TRY_DNN(cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &vp));
    TRY_DNN(cudnnBackendSetAttribute(vp, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, nb, uids));
    TRY_DNN(cudnnBackendSetAttribute(vp, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, nb, ptrs));
    TRY_DNN(cudnnBackendSetAttribute(vp, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &work));
    TRY_DNN(cudnnBackendFinalize(vp));
    TRY_DNN(cudnnSetStream(x->cudnn, st));
    TRY_DNN(cudnnBackendExecute(x->cudnn, plan, vp));
    TRY_CU(cudaEventRecord(e0, st));
    for (int r = 0; r < TUNE_RUNS; r++) TRY_DNN(cudnnBackendExecute(x->cudnn, plan, vp));
    TRY_CU(cudaEventRecord(e1, st));
    TRY_CU(cudaEventSynchronize(e1));
    float t = 0;
    TRY_CU(cudaEventElapsedTime(&t, e0, e1));
    *ms = t / TUNE_RUNS;
    rc = 0;
out:
    if (st) cudaStreamSynchronize(st);
    cudnnSetStream(x->cudnn, NULL); /* not left on the stream destroyed below (issuing sets its own) */
    if (vp) cudnnBackendDestroyDescriptor(vp);
    if (e0) cudaEventDestroy(e0);
    if (e1) cudaEventDestroy(e1);
    if (st) cudaStreamDestroy(st);
    for (int i = 0; i < nbuf; i++)
        if (bufs[i]) cudaFree(bufs[i]);
    if (work) cudaFree(work);
    cudaGetLastError();
    return rc;
#undef TRY_CU
#undef TRY_DNN
}

/* The cached choices, read once per executor (one warning for entries left out). */
static void read_algos(tgc_cuda_exec *x) {
    if (x->algos_read) return;
    x->algos_read = 1;
    tgc_err e;
    if (!x->algo_path) return;
    if (tgc_cudnn_cache_load(&x->algos, x->algo_path, &e) < 0) {
        fprintf(stderr, "tgc: warning: %s; convolution algorithms are measured again\n", e.msg);
        return;
    }
    char notes[300];
    tgc_cudnn_cache_notes(&x->algos, notes, sizeof notes);
    if (notes[0]) fprintf(stderr, "tgc: warning: %s: %s\n", x->algo_path, notes);
}

/* The execution plan of a convolution graph (or of the graph of a pooling without legacy descriptors): cuDNN's
 * heuristics' first acceptable configuration, or, with benchmark, the fastest of the first TUNE_CANDIDATES as
 * measured here (the choice remembered by the graph's signature, in memory and in the work dir). */
static int choose_plan(tgc_cuda_exec *x, const tgc_plan *view, xlaunch *l, int flags, int64_t *wsb, tgc_err *err) {
    const tgc_instr *in = &l->prog->instr[l->first];
    tgc_cudnn_kind kd = tgc_cudnn_kind_of(in->code);
    int tried = 0;
    if (!x->benchmark || (kd != TGC_CUDNN_CONV_FWD && kd != TGC_CUDNN_CONV_BWD_DATA && kd != TGC_CUDNN_CONV_BWD_FILTER))
        return tgc_cudnn_exec_plan_ex(&l->cop, x->devprop, flags, (int64_t)x->ws_bytes, &l->eplan, wsb, &tried, err);
    read_algos(x);
    char *sig = tgc_cudnn_signature(view, in, flags, (int64_t)x->ws_bytes);
    uint64_t key = tgc_cudnn_cache_key(sig);
    free(sig);
    const tgc_cudnn_choice *ch = tgc_cudnn_cache_find(&x->algos, key);
    if (ch) {
        tgc_err e;
        if (tgc_cudnn_plan_from_choice(&l->cop, x->devprop, ch, flags, (int64_t)x->ws_bytes, &l->eplan, wsb, &e) == 0) {
            x->reused++;
            return 0;
        }
        if (!x->warned_stale++)
            fprintf(stderr, "tgc: warning: %s: a cached convolution algorithm no longer builds (%s); measured again\n",
                    x->algo_path ? x->algo_path : "cuDNN algorithms", e.msg);
        tgc_cudnn_cache_forget(&x->algos, key);
    }
    tgc_cudnn_candidate c[TUNE_CANDIDATES];
    int n = 0, best = -1, k = TUNE_CANDIDATES;
    const char *kv = getenv("TGC_CUDNN_BENCHMARK_CANDIDATES"); /* fewer, for a quicker check */
    if (kv && atoi(kv) >= 1 && atoi(kv) < TUNE_CANDIDATES) k = atoi(kv);
    float best_ms = 0;
    if (tgc_cudnn_candidates(&l->cop, x->devprop, flags, (int64_t)x->ws_bytes, k, c, &n, &tried, err) < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        float ms;
        tgc_err e;
        if (time_plan(x, &l->cop, c[i].plan, c[i].workspace, &ms, &e) < 0) continue; /* an engine that does not run */
        if (best < 0 || ms < best_ms) best = i, best_ms = ms;
    }
    int measured = best >= 0;
    if (!measured) best = 0; /* none ran here: the heuristics' first, as without benchmark, and nothing kept */
    l->eplan = c[best].plan;
    *wsb = c[best].workspace;
    c[best].plan = NULL;
    if (measured && c[best].known) tgc_cudnn_cache_put(&x->algos, key, &c[best].choice, best_ms);
    tgc_cudnn_candidates_free(c, n);
    x->tuned++;
    return 0;
}

static int64_t numel_of(const tgc_type *t) { return tgc_shape_numel(&t->shape); }

static int prep_cudnn(tgc_cuda_exec *x, const tgc_plan *view, const tgc_dev_program *dp, xlaunch *l,
                      uint64_t *scratch_bytes, tgc_err *err) {
    /* NCHW, the plan's data dtype: f32, or bf16/f16 with f32 compute and statistics (mixed precision) */
    if (tgc_cudnn_op_build(view, l->prog, l->first, NULL, &l->cop, err) < 0) return -1;
    tgc_opcode code = l->prog->instr[l->first].code;
    int bn = code == TGC_OP_BN_TRAIN || code == TGC_OP_BN_TRAIN_RELU || code == TGC_OP_BN_EVAL ||
             code == TGC_OP_BN_BWD || code == TGC_OP_BN_RELU_BWD;
    int pool = code == TGC_OP_MAX_POOL2D || code == TGC_OP_AVG_POOL2D || code == TGC_OP_AVG_POOL2D_BWD;
    l->cudnn_graph = !((bn || pool) && l->cop.legacy && (bn ? l->cop.stats != NULL : l->cop.pool != NULL));
    if (l->cudnn_graph) {
        int64_t wsb = 0;
        /* tensor cores: on f32 data only with TGC_ALLOW_TF32 (they round through TF32); bf16/f16 data (mixed
         * precision) is what they are for, with f32 accumulation */
        tgc_dtype data = l->prog->instr[l->first].n_in > 0 ? l->in_t[0].dtype : TGC_F32;
        int tc = x->allow_tf32 || data == TGC_BF16 || data == TGC_F16;
        int flags = (tc ? TGC_CUDNN_TENSOR_CORES : 0) | (dp->deterministic ? TGC_CUDNN_DETERMINISTIC : 0);
        if (choose_plan(x, view, l, flags, &wsb, err) < 0) return -1;
        int64_t uids[TGC_CUDNN_MAX_TENSORS];
        void *ptrs[TGC_CUDNN_MAX_TENSORS];
        int64_t nb = 0;
        for (int i = 0; i < l->cop.n_tensors; i++) {
            tgc_cudnn_binding *b = &l->cop.bind[i];
            if (b->by_value) ptrs[nb] = &b->value;
            else if (b->tensor >= 0)
                ptrs[nb] = (uint8_t *)dp->slabs[dp->tensors[b->tensor].slab] + dp->tensors[b->tensor].offset;
            else continue;
            uids[nb++] = b->uid;
        }
        CK_DNN(cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &l->vpack));
        CK_DNN(cudnnBackendSetAttribute(l->vpack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, nb, uids));
        CK_DNN(cudnnBackendSetAttribute(l->vpack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, nb, ptrs));
        CK_DNN(cudnnBackendSetAttribute(l->vpack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &x->ws));
        CK_DNN(cudnnBackendFinalize(l->vpack));
        return 0;
    }
    if (bn) {
        tgc_cpu_op o = {code, &l->prog->instr[l->first].attrs, l->prog->instr[l->first].n_in,
                        l->prog->instr[l->first].n_out, l->in_t, l->out_t, l->in, l->out};
        if (tgc_cuda_bn_of(&o, &l->bn, err) < 0) return -1;
    }
    if (code == TGC_OP_BN_TRAIN_RELU) { /* relu in place on y after the norm */
        pbuf *p = tgc_calloc(1, sizeof *p);
        int64_t n = numel_of(&l->out_t[0]);
        tgc_dtype dt = l->out_t[0].dtype;
        pb_ptr(p, l->out[0]);
        pb_i64(p, n);
        if (dt != TGC_F32) pb_i64(p, dt == TGC_BF16);
        l->n_k = 1;
        l->k_after = 1;
        return aux_kernel(x, dt != TGC_F32 ? AUX_RELU16 : AUX_RELU, n, p, &l->k[0], err);
    }
    if (code == TGC_OP_BN_RELU_BWD) { /* the masked dy before the norm backward: in place, or in the scratch */
        int dy = l->prog->instr[l->first].in[0], readers = 0;
        const tgc_plan_tensor *t = &dp->tensors[dy];
        for (int k = 0; k < l->prog->n_instr; k++)
            for (int q = 0; q < l->prog->instr[k].n_in; q++) readers += l->prog->instr[k].in[q] == dy;
        for (int k = 0; k < l->prog->n_outputs; k++) readers += l->prog->outputs[k] == dy;
        /* an arena temporary only this instruction reads is dead once it has: mask it in place */
        int in_place = readers == 1 && t->kind == TGC_VAL_TEMP && t->slab == TGC_SLAB_ARENA && t->grad_of < 0;
        uint64_t bytes = (uint64_t)numel_of(&l->in_t[0]) * sizeof(float);
        if (!in_place && bytes > *scratch_bytes) *scratch_bytes = bytes;
        const tgc_shape *s = &l->in_t[1].shape;
        int64_t n = numel_of(&l->in_t[1]), ch = s->rank > 1 ? s->d[1] : 1, inner = 1;
        for (int d = 2; d < s->rank; d++) inner *= s->d[d];
        if (l->in_t[1].layout == TGC_LAYOUT_NHWC) inner = 1; /* channel (i / inner) % ch is i % ch */
        pbuf *p = tgc_calloc(1, sizeof *p);
        for (int i = 0; i < 6; i++) pb_ptr(p, l->in[i]);
        pb_ptr(p, in_place ? l->in[0] : NULL); /* else the scratch, set once the program's is allocated */
        pb_i64(p, n);
        pb_i64(p, inner);
        pb_i64(p, ch);
        tgc_dtype dt = l->in_t[0].dtype; /* dy's (and x's): f32, or bf16/f16 */
        if (dt != TGC_F32) pb_i64(p, dt == TGC_BF16);
        l->n_k = 1;
        l->k_after = 0;
        if (in_place) l->scratch = l->in[0];
        else l->scratch_at = 6 * sizeof(void *);
        return aux_kernel(x, dt != TGC_F32 ? AUX_MASK16 : AUX_MASK, n, p, &l->k[0], err);
    }
    return 0;
}

tgc_cuda_xprog *tgc_cuda_exec_prepare(tgc_cuda_exec *x, const tgc_dev_program *dp, tgc_err *err) {
    const tgc_program *pr = dp->prog;
    tgc_cuda_xprog *xp = tgc_calloc(1, sizeof *xp);
    xp->prog = pr;
    size_t n = (size_t)(pr->n_instr ? pr->n_instr : 1);
    xp->instr = tgc_calloc(n, sizeof *xp->instr);
    xp->l = tgc_calloc(n, sizeof *xp->l);
    xp->at = tgc_malloc(n * sizeof *xp->at);
    /* codegen and cudnn_plan read the plan's tensor table: a view of it, as long as the program needs */
    tgc_plan view;
    memset(&view, 0, sizeof view);
    view.tensors = (tgc_plan_tensor *)dp->tensors;
    for (int i = 0; i < pr->n_instr; i++) {
        const tgc_instr *in = &pr->instr[i];
        xinstr *b = &xp->instr[i];
        xp->at[i] = -1;
        for (int k = 0; k < in->n_in; k++) {
            const tgc_plan_tensor *t = &dp->tensors[in->in[k]];
            b->in[k] = dp->slabs[t->slab] ? (uint8_t *)dp->slabs[t->slab] + t->offset : NULL;
            b->in_t[k] = t->type;
            if (in->in[k] + 1 > view.n_tensors) view.n_tensors = in->in[k] + 1;
        }
        for (int k = 0; k < in->n_out; k++) {
            const tgc_plan_tensor *t = &dp->tensors[in->out[k]];
            b->out[k] = dp->slabs[t->slab] ? (uint8_t *)dp->slabs[t->slab] + t->offset : NULL;
            b->out_t[k] = t->type;
            if (in->out[k] + 1 > view.n_tensors) view.n_tensors = in->out[k] + 1;
        }
    }
    for (int i = 0; i < pr->n_instr;) {
        xlaunch *l = &xp->l[xp->n_l];
        l->x = x;
        l->prog = pr;
        l->first = i;
        l->n = tgc_cuda_group_len(pr, i);
        l->impl = tgc_cuda_impl_of(pr->instr[i].code);
        l->in = xp->instr[i].in;
        l->out = xp->instr[i].out;
        l->in_t = xp->instr[i].in_t;
        l->out_t = xp->instr[i].out_t;
        xp->at[i] = xp->n_l++;
        int rc = 0;
        switch (l->impl) {
        case TGC_CUDA_IMPL_GENERATED: rc = prep_generated(x, &view, dp, l, err); break;
        case TGC_CUDA_IMPL_CUDNN: rc = prep_cudnn(x, &view, dp, l, &xp->scratch_bytes, err); break;
        case TGC_CUDA_IMPL_CUBLAS: {
            const tgc_instr *in = &pr->instr[i];
            tgc_cpu_op o = {in->code, &in->attrs, in->n_in, in->n_out, l->in_t, l->out_t, l->in, l->out};
            rc = tgc_cuda_gemm_of(&o, &l->gemm, err);
            break;
        }
        case TGC_CUDA_IMPL_KERNEL: {
            l->ops = tgc_calloc((size_t)l->n, sizeof *l->ops);
            for (int k = 0; k < l->n; k++) {
                const tgc_instr *in = &pr->instr[i + k];
                xinstr *b = &xp->instr[i + k];
                l->ops[k] = (tgc_cpu_op){in->code, &in->attrs, in->n_in, in->n_out, b->in_t, b->out_t, b->in, b->out};
                if (!tgc_cuda_native_supports(&l->ops[k])) {
                    rc = tgc_fail(err, "the hand-written kernel does not take these operand types");
                    break;
                }
            }
            uint64_t ws = rc ? 0 : tgc_cuda_native_workspace(&l->ops[0]);
            if (ws && !(l->ws = x->A->dev_alloc(x->sx, ws, "kernel workspace", err))) rc = -1;
            break;
        }
        case TGC_CUDA_IMPL_COPY: break;
        case TGC_CUDA_IMPL_AUX: { /* fold_conv_bn(w, gamma, beta, mean, var) -> (wf, bf) */
            const tgc_instr *in = &pr->instr[i];
            int64_t o = l->in_t[0].shape.rank ? l->in_t[0].shape.d[0] : 1, all = numel_of(&l->in_t[0]);
            pbuf *p = tgc_calloc(1, sizeof *p);
            for (int k = 0; k < 5; k++) pb_ptr(p, l->in[k]);
            pb_ptr(p, l->out[0]);
            pb_ptr(p, l->out[1]);
            pb_i64(p, o);
            pb_i64(p, o ? all / o : 0);
            double eps = in->attrs.eps;
            pb_add(p, &eps, sizeof eps);
            l->n_k = 1;
            rc = aux_kernel(x, AUX_FOLD, all, p, &l->k[0], err);
            break;
        }
        default: rc = tgc_fail(err, "no CUDA implementation"); break;
        }
        if (rc < 0) {
            tgc_err_prefix(err, "program %s, instruction %d (%s, %s)", pr->name, i, tgc_op_table[pr->instr[i].code].name,
                           tgc_cuda_impl_name(l->impl));
            tgc_cuda_exec_release(x, xp);
            return NULL;
        }
        i += l->n;
    }
    if (xp->scratch_bytes && !(xp->scratch = x->A->dev_alloc(x->sx, xp->scratch_bytes, "batch_norm_relu_bwd mask", err))) {
        tgc_err_prefix(err, "program %s", pr->name);
        tgc_cuda_exec_release(x, xp);
        return NULL;
    }
    for (int i = 0; i < xp->n_l; i++)
        if (xp->l[i].scratch_at) {
            xp->l[i].scratch = xp->scratch;
            memcpy(xp->l[i].k[0].params->b + xp->l[i].scratch_at, &xp->scratch, sizeof xp->scratch);
        }
    if (x->algo_path && x->algos.changed) { /* the measured choices, for the next run on this GPU */
        tgc_err e;
        if (tgc_cudnn_cache_save(&x->algos, x->algo_path, &e) < 0)
            fprintf(stderr, "tgc: warning: %s; the measured convolution algorithms are not kept\n", e.msg);
    }
    return xp;
}

/* ---- issuing ---- */

static int launch_kl(tgc_cuda_exec *x, const kl *k, tgc_stream *s, tgc_err *err) {
    tgc_kernel kk = {.name = k->name, .cu_func = k->fn, .grid = {k->grid, 1, 1}, .block = {k->block, 1, 1},
                     .params = k->params->b, .params_bytes = k->params->n};
    return x->A->launch(x->sx, &kk, s, err);
}

typedef struct native_ctx {
    tgc_cuda_exec *x;
    tgc_stream *s;
    tgc_err *err;
} native_ctx;

static int native_one(const tgc_native_launch *nl, void *vc) {
    native_ctx *c = vc;
    if (!nl->g.gx) return 0;
    CUfunction fn = NULL;
    if (symbol_fn(c->x, nl->kernel, &fn, c->err) < 0) return -1;
    tgc_kernel k = {.name = nl->kernel, .cu_func = fn, .grid = {nl->g.gx, nl->g.gy, nl->g.gz},
                    .block = {nl->g.bx, nl->g.by, nl->g.bz}, .params = nl->args, .params_bytes = nl->args_bytes};
    return c->x->A->launch(c->x->sx, &k, c->s, c->err);
}

int tgc_cuda_exec_kernel(tgc_cuda_exec *x, const tgc_native_launch *nl, tgc_stream *s, tgc_err *err) {
    native_ctx c = {x, s, err};
    return native_one(nl, &c);
}

static const float f_one = 1.0f, f_zero = 0.0f;

/* The library calls, at issue time on the native stream (captured when the stream is). */
static int enqueue_cudnn(void *user, void *stream, tgc_err *err) {
    xlaunch *l = user;
    tgc_cuda_exec *x = l->x;
    const tgc_cudnn_op *c = &l->cop;
    CK_DNN(cudnnSetStream(x->cudnn, (cudaStream_t)stream));
    if (l->cudnn_graph) {
        CK_DNN(cudnnBackendExecute(x->cudnn, l->eplan, l->vpack));
        return 0;
    }
    const tgc_cuda_bn *bn = &l->bn;
    void *const *in = l->in, *const *out = l->out;
    switch (l->prog->instr[l->first].code) {
    /* batch norm, as tgc_cuda_bn_of marshals it: x, y, dy and dx have one shape, whose descriptor is c->x */
    case TGC_OP_BN_TRAIN:
    case TGC_OP_BN_TRAIN_RELU:
        CK_DNN(cudnnBatchNormalizationForwardTraining(x->cudnn, CUDNN_BATCHNORM_SPATIAL, &f_one, &f_zero, c->x, bn->x,
                                                      c->x, bn->y, c->stats, bn->scale, bn->bias, bn->factor,
                                                      bn->running_mean, bn->running_var, bn->eps, bn->saved_mean,
                                                      bn->saved_invstd));
        return 0;
    case TGC_OP_BN_EVAL:
        CK_DNN(cudnnBatchNormalizationForwardInference(x->cudnn, CUDNN_BATCHNORM_SPATIAL, &f_one, &f_zero, c->x, bn->x,
                                                       c->x, bn->y, c->stats, bn->scale, bn->bias, bn->running_mean,
                                                       bn->running_var, bn->eps));
        return 0;
    case TGC_OP_BN_BWD:
    case TGC_OP_BN_RELU_BWD: /* with relu: dy was masked into l->scratch (dy itself, or the program's scratch) */
        CK_DNN(cudnnBatchNormalizationBackward(x->cudnn, CUDNN_BATCHNORM_SPATIAL, &f_one, &f_zero, &f_one, &f_zero,
                                               c->x, bn->x, c->x, bn->relu ? l->scratch : bn->dy, c->x, bn->dx,
                                               c->stats, bn->scale, bn->dscale, bn->dbias, bn->eps, bn->saved_mean,
                                               bn->saved_invstd));
        return 0;
    case TGC_OP_MAX_POOL2D:
    case TGC_OP_AVG_POOL2D:
        CK_DNN(cudnnPoolingForward(x->cudnn, c->pool, &f_one, c->x, in[0], &f_zero, c->y, out[0]));
        return 0;
    case TGC_OP_AVG_POOL2D_BWD: /* average pooling's backward reads neither x nor y: dy and dx stand in */
        CK_DNN(cudnnPoolingBackward(x->cudnn, c->pool, &f_one, c->y, in[0], c->y, in[0], c->x, out[0], &f_zero, c->x,
                                    out[0]));
        return 0;
    default: return tgc_fail(err, "no legacy cuDNN call for %s", tgc_op_table[l->prog->instr[l->first].code].name);
    }
}

static int enqueue_cublas(void *user, void *stream, tgc_err *err) {
    xlaunch *l = user;
    tgc_cuda_exec *x = l->x;
    const tgc_cuda_gemm *g = &l->gemm;
    CK_BLAS(x->blas->set_stream(x->cublas, (cudaStream_t)stream));
    cublasOperation_t ta = g->trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, tb = g->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (g->dtype != TGC_F32) { /* bf16/f16 data, f32 accumulation (tensor cores) */
        cudaDataType dt = g->dtype == TGC_BF16 ? CUDA_R_16BF : CUDA_R_16F;
        CK_BLAS(x->blas->gemm_ex(x->cublas, ta, tb, (int)g->m, (int)g->n, (int)g->k, &f_one, g->a, dt, (int)g->lda,
                                 g->b, dt, (int)g->ldb, &f_zero, g->c, dt, (int)g->ldc, CUBLAS_COMPUTE_32F,
                                 CUBLAS_GEMM_DEFAULT));
        return 0;
    }
    CK_BLAS(x->blas->sgemm(x->cublas, ta, tb, (int)g->m, (int)g->n, (int)g->k, &f_one, g->a, (int)g->lda, g->b,
                           (int)g->ldb, &f_zero, g->c, (int)g->ldc));
    return 0;
}

static int issue_group(tgc_cuda_exec *x, xlaunch *l, tgc_stream *s, tgc_err *err) {
    const tgc_stream_api *A = x->A;
    switch (l->impl) {
    case TGC_CUDA_IMPL_GENERATED:
    case TGC_CUDA_IMPL_AUX: return launch_kl(x, &l->k[0], s, err);
    case TGC_CUDA_IMPL_KERNEL: {
        native_ctx c = {x, s, err};
        return tgc_cuda_native_marshal(l->ops, l->n, l->ws, (unsigned)x->sms * 8, TGC_MT_CHUNK, native_one, &c, err);
    }
    case TGC_CUDA_IMPL_COPY: {
        uint64_t bytes = (uint64_t)numel_of(&l->out_t[0]) * tgc_dtype_size(l->out_t[0].dtype);
        if (l->in[0] == l->out[0] || !bytes) return 0;
        return A->memcpy_async(x->sx, l->out[0], l->in[0], bytes, TGC_COPY_D2D, s, err);
    }
    case TGC_CUDA_IMPL_CUBLAS: {
        tgc_lib_work w = {.name = "cublasSgemm", .enqueue = enqueue_cublas, .user = l};
        return A->lib_call(x->sx, &w, s, err);
    }
    case TGC_CUDA_IMPL_CUDNN: {
        if (l->n_k && !l->k_after) { /* the relu mask into scratch */
            if (launch_kl(x, &l->k[0], s, err) < 0) return -1;
        }
        tgc_lib_work w = {.name = l->cudnn_graph ? "cudnnBackendExecute" : "cuDNN legacy call", .enqueue = enqueue_cudnn,
                          .user = l};
        if (A->lib_call(x->sx, &w, s, err) < 0) return -1;
        return l->n_k && l->k_after ? launch_kl(x, &l->k[0], s, err) : 0;
    }
    default: return tgc_fail(err, "no CUDA implementation");
    }
}

int tgc_cuda_exec_issue(tgc_cuda_exec *x, tgc_cuda_xprog *xp, int first, tgc_stream *s, tgc_err *err) {
    if (first < 0 || first >= xp->prog->n_instr || xp->at[first] < 0)
        return tgc_fail(err, "program %s: instruction %d does not begin a launch group", xp->prog->name, first);
    xlaunch *l = &xp->l[xp->at[first]];
    if (issue_group(x, l, s, err) < 0)
        return tgc_err_prefix(err, "program %s, instruction %d (%s, %s)", xp->prog->name, first,
                              tgc_op_table[xp->prog->instr[first].code].name, tgc_cuda_impl_name(l->impl));
    return 0;
}
