/* NVRTC compilation of every generated kernel (backend/cuda/codegen.c) for sm_90, without a GPU: each
 * distinct kernel of every elementwise group of every shipped config (--target cpu and cuda, and cuda with
 * --amp as bf16 and with --fp16; the cuda plans again with --layout nhwc) and of the
 * synthetic groups (every op, the casts, the 64-bit index) is compiled to a cubin by nvrtcCompileProgram
 * with --gpu-architecture=sm_90 and --ptxas-options=-v, and ptxas's report must show no spill stores, no
 * spill loads and no stack frame. The cubins then go through the kernel cache (backend/cuda/codegen_cache.h)
 * in a fresh directory: every kernel a miss, then every kernel a hit with the same bytes. The executor's own
 * relu-mask kernels also run on the host (compiled as C through codegen_host.h), row-major and NHWC.
 *
 * Built only where the CUDA toolkit is; a CPU-only build registers this test as a visible skip. A plain
 * program (no Check): exit 0 on success, 1 with the reasons on stderr. */
#define _GNU_SOURCE /* memmem */
#include <dirent.h>
#include <dlfcn.h>
#include <stdint.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/cuda/codegen_cache.h"
#include "backend/cuda/codegen_nvrtc.h"
#include "backend/cuda/cuda_exec.h"
#include "backend/cuda/cuda_ops.h"
#include "test_codegen_util.h"
#include "test_expect.h"

#define ARCH "sm_90"

/* ptxas's report as NVRTC logs it, and a spilling one. */
static void parse_report(void) {
    const char *clean = "ptxas info    : 0 bytes gmem\n"
                        "ptxas info    : Compiling entry function 'tgc_fused_0' for 'sm_90'\n"
                        "ptxas info    : Function properties for tgc_fused_0\n"
                        "ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n"
                        "ptxas info    : Used 18 registers, used 0 barriers\n";
    const char *spills = "ptxas info    : Function properties for k\n"
                         "    24 bytes stack frame, 16 bytes spill stores, 12 bytes spill loads\n"
                         "ptxas info    : Used 255 registers, used 1 barriers, 24 bytes cumulative stack size\n";
    int r, st, ss, sl;
    tgc_nvrtc_parse_ptxas(clean, &r, &st, &ss, &sl);
    EXPECT(r == 18 && st == 0 && ss == 0 && sl == 0, "clean report read as %d %d %d %d", r, st, ss, sl);
    tgc_nvrtc_parse_ptxas(spills, &r, &st, &ss, &sl);
    EXPECT(r == 255 && st == 24 && ss == 16 && sl == 12, "spilling report read as %d %d %d %d", r, st, ss, sl);
    tgc_nvrtc_parse_ptxas("no report", &r, &st, &ss, &sl);
    EXPECT(r == -1 && st == -1 && ss == -1 && sl == -1, "an empty report read as %d %d %d %d", r, st, ss, sl);
}

typedef struct kernel_set {
    tgc_codegen_kernel *k;
    int n, cap;
} kernel_set;

static int lone_ops; /* elementwise instructions outside any group: the executor generates a kernel each */

static void add_plan(kernel_set *ks, const tgc_plan *p, const char *what) {
    tgc_err err;
    if (cgu_plan_kernels(p, &ks->k, &ks->n, &ks->cap, &err) < 0) EXPECT(0, "%s: %s", what, err.msg);
    for (int pi = 0; pi < p->n_programs; pi++) {
        const tgc_program *pr = &p->programs[pi];
        for (int i = 0; i < pr->n_instr; i++) {
            if (pr->instr[i].group >= 0 || tgc_cuda_impl_of(pr->instr[i].code) != TGC_CUDA_IMPL_GENERATED) continue;
            TGC_GROW(ks->k, ks->cap, ks->n + 1);
            if (tgc_codegen_group_kernel(p, pr, i, 1, &ks->k[ks->n], &err) < 0) {
                EXPECT(0, "%s: %s", what, err.msg);
                continue;
            }
            ks->n++;
            lone_ops++;
        }
    }
}

static void rm_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char *p = tgc_asprintf("%s/%s", dir, e->d_name);
        unlink(p);
        free(p);
    }
    closedir(d);
    rmdir(dir);
}

/* ---- the executor's relu-mask kernels on the host (codegen_host.h), row-major and NHWC ---------------- */

typedef void (*mask_fn)(const float *dy, const float *x, const float *gamma, const float *beta, const float *mean,
                        const float *invstd, float *d, long long n, long long inner, long long ch);
typedef void (*mask16_fn)(const unsigned short *dy, const unsigned short *x, const float *gamma, const float *beta,
                          const float *mean, const float *invstd, unsigned short *d, long long n, long long inner,
                          long long ch, long long bf);
typedef void (*dims_fn)(unsigned grid, unsigned block, unsigned b, unsigned t);

static uint32_t aux_rng = 12345u;
static float aux_rand(float lo, float hi) {
    aux_rng = aux_rng * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)(aux_rng >> 8) / 16777216.0f;
}

/* [n, a, b] -> [n, b, a] of es-byte elements */
static void *aux_transposed(const void *x, size_t es, int64_t n, int64_t a, int64_t b) {
    char *y = tgc_malloc(es * (size_t)(n * a * b));
    for (int64_t k = 0; k < n; k++)
        for (int64_t i = 0; i < a; i++)
            for (int64_t j = 0; j < b; j++)
                memcpy(y + ((k * b + j) * a + i) * es, (const char *)x + ((k * a + i) * b + j) * es, es);
    return y;
}

/* tgc_aux_bn_relu_mask(16) as the executor marshals it (cuda_exec.c: inner = H*W for row-major x, 1 for NHWC,
 * where the channel (i / inner) % ch is i % ch), compiled as C and launched over 7 blocks of 32 host threads:
 * the NHWC run equals the row-major run transposed, and the row-major run equals d = dy * (pre > 0) with
 * pre = x * a + b, a = gamma * invstd, b = beta - mean * a (the CPU's batch_norm_relu_bwd mask). */
static void aux_mask_on_host(void) {
    char *dir = tgc_asprintf("%s/tests/codegen-host", TGC_BINARY_DIR);
    mkdir(dir, 0755);
    char *c = tgc_asprintf("%s/aux_mask.c", dir), *lib = tgc_asprintf("%s/aux_mask.so", dir);
    tgc_buf b = {0};
    tgc_buf_printf(&b, "#include \"backend/cuda/codegen_host.h\"\n"
                       "static inline float __fadd_rn(float a, float b) { return a + b; }\n"
                       "static inline float __fsub_rn(float a, float b) { return a - b; }\n"
                       "static inline double __dadd_rn(double a, double b) { return a + b; }\n"
                       "static inline double __dsub_rn(double a, double b) { return a - b; }\n"
                       "static inline double __dmul_rn(double a, double b) { return a * b; }\n"
                       "static inline double __ddiv_rn(double a, double b) { return a / b; }\n");
    const char *src = tgc_cuda_exec_aux_source(), *e;
    while ((e = strstr(src, "extern \"C\" ")) != NULL) { /* C linkage is C's own */
        tgc_buf_put(&b, src, (size_t)(e - src));
        src = e + strlen("extern \"C\" ");
    }
    tgc_buf_printf(&b, "%s", src);
    tgc_err err;
    EXPECT(tgc_write_file_atomic(c, b.data, b.len, &err) == 0, "%s", err.msg);
    tgc_buf_free(&b);
    char *cmd = tgc_asprintf("'%s' -std=c17 -O2 -ffp-contract=off -Wall -Wno-unused-function -fPIC -shared -I'%s' -o '%s' "
                             "'%s'", TGC_HOST_CC, TGC_SOURCE_DIR, lib, c);
    int rc = system(cmd);
    EXPECT(rc == 0, "the aux kernels do not compile as C: %s", cmd);
    void *h = rc == 0 ? dlopen(lib, RTLD_NOW | RTLD_LOCAL) : NULL;
    EXPECT(rc != 0 || h, "dlopen %s: %s", lib, dlerror());
    if (h) {
        mask_fn m32;
        mask16_fn m16;
        dims_fn dims;
        *(void **)&m32 = dlsym(h, "tgc_aux_bn_relu_mask");
        *(void **)&m16 = dlsym(h, "tgc_aux_bn_relu_mask16");
        *(void **)&dims = dlsym(h, "tgc_host_dims");
        EXPECT(m32 && m16 && dims, "aux_mask.so lacks a kernel");
        const int64_t N = 3, C = 5, HW = 14, n = N * C * HW;
        float g[5], be[5], mu[5], iv[5];
        for (int k = 0; k < C; k++) g[k] = aux_rand(0.5f, 1.5f), be[k] = aux_rand(-1, 1), mu[k] = aux_rand(-1, 1), iv[k] = aux_rand(0.5f, 2);
        float *dy = tgc_malloc(sizeof(float) * n), *x = tgc_malloc(sizeof(float) * n), *d = tgc_malloc(sizeof(float) * n),
              *dn = tgc_malloc(sizeof(float) * n);
        uint16_t *dy16 = tgc_malloc(2 * n), *x16 = tgc_malloc(2 * n), *d16 = tgc_malloc(2 * n), *dn16 = tgc_malloc(2 * n);
        for (int64_t i = 0; i < n; i++) {
            dy[i] = aux_rand(-1, 1), x[i] = aux_rand(-3, 3);
            uint32_t u, v;
            memcpy(&u, &dy[i], 4), memcpy(&v, &x[i], 4);
            dy16[i] = (uint16_t)(u >> 16), x16[i] = (uint16_t)(v >> 16); /* bf16 by truncation: any bf16 data */
        }
        float *dyh = aux_transposed(dy, 4, N, C, HW), *xh = aux_transposed(x, 4, N, C, HW);
        uint16_t *dyh16 = aux_transposed(dy16, 2, N, C, HW), *xh16 = aux_transposed(x16, 2, N, C, HW);
        for (int layout = 0; layout < 2 && m32 && m16 && dims; layout++)
            for (unsigned bl = 0; bl < 7; bl++)
                for (unsigned t = 0; t < 32; t++) {
                    dims(7, 32, bl, t);
                    if (!layout) m32(dy, x, g, be, mu, iv, d, n, HW, C), m16(dy16, x16, g, be, mu, iv, d16, n, HW, C, 1);
                    else m32(dyh, xh, g, be, mu, iv, dn, n, 1, C), m16(dyh16, xh16, g, be, mu, iv, dn16, n, 1, C, 1);
                }
        int64_t bad_ref = 0, bad_nhwc = 0, bad16 = 0;
        for (int64_t i = 0; i < n; i++) {
            int64_t ch = (i / HW) % C;
            float a = g[ch] * iv[ch], bb = be[ch] - mu[ch] * a, pre = x[i] * a + bb, want = dy[i] * (pre > 0.f ? 1.f : 0.f);
            bad_ref += memcmp(&d[i], &want, 4) != 0;
        }
        float *back = aux_transposed(dn, 4, N, HW, C);
        uint16_t *back16 = aux_transposed(dn16, 2, N, HW, C);
        for (int64_t i = 0; i < n; i++) bad_nhwc += memcmp(&back[i], &d[i], 4) != 0, bad16 += back16[i] != d16[i];
        EXPECT(bad_ref == 0 && bad_nhwc == 0 && bad16 == 0,
               "relu mask on the host: %lld elements off the CPU's rule, %lld NHWC f32 and %lld NHWC bf16 off the "
               "row-major run transposed", (long long)bad_ref, (long long)bad_nhwc, (long long)bad16);
        printf("codegen nvrtc: the executor's relu-mask kernels run on the host (f32, bf16; row-major and NHWC, %lld "
               "elements): the CPU's mask bit for bit, NHWC = row-major transposed\n", (long long)n);
        free(dy), free(x), free(d), free(dn), free(dy16), free(x16), free(d16), free(dn16), free(dyh), free(xh),
            free(dyh16), free(xh16), free(back), free(back16);
        dlclose(h);
    }
    free(cmd), free(c), free(lib), free(dir);
}

int main(void) {
    parse_report();
    aux_mask_on_host();
    /* the shipped configs */
    char **cfgs;
    int nc = cgu_configs(TGC_SOURCE_DIR, &cfgs), compiled = 0;
    kernel_set ks = {0};
    /* fp32 for both targets; the cuda target's mixed-precision plans (--amp as bf16, --fp16) too */
    static const char *targets[4] = {"cpu", "cuda", "cuda", "cuda"}, *flags[4] = {"", "", " --amp (bf16)", " --fp16"};
    static const tgc_dtype amps[4] = {TGC_F32, TGC_F32, TGC_BF16, TGC_F16};
    int lowp_plans = 0, nhwc_plans = 0;
    for (int c = 0; c < nc; c++)
        for (int t = 0; t < 4; t++) {
            tgc_err err;
            tgc_plan *p = cgu_compile_amp(cfgs[c], targets[t], NULL, amps[t], &err);
            if (!p) {
                printf("  skipped: %s --target %s%s does not compile: %s\n", cfgs[c], targets[t], flags[t], err.msg);
                continue;
            }
            lowp_plans += amps[t] != TGC_F32;
            compiled++;
            add_plan(&ks, p, cfgs[c]);
            tgc_plan_free(p);
            /* and with --layout nhwc (a per-channel bias indexed as i % C) */
            if (t > 0 && (p = cgu_compile_layout(cfgs[c], targets[t], NULL, amps[t], TGC_LAYOUT_NHWC, &err)) != NULL) {
                add_plan(&ks, p, cfgs[c]);
                nhwc_plans++;
                tgc_plan_free(p);
            }
        }
    EXPECT(nhwc_plans > 0, "no plan with NHWC activations");
    int shipped_groups = ks.n;
    /* the synthetic groups */
    int nch;
    tgc_plan *syn[5] = {cgu_every_op_plan(), cgu_every_op_plan_dt(TGC_BF16), cgu_every_op_plan_dt(TGC_F16),
                        cgu_cast_plan(1024, &nch), cgu_index64_plan()};
    for (int i = 0; i < 5; i++) {
        add_plan(&ks, syn[i], "synthetic");
        tgc_plan_free(syn[i]);
    }
    EXPECT(shipped_groups > 0, "no groups in the shipped configs");
    EXPECT(lowp_plans > 0, "no mixed-precision plan compiled");
    /* distinct texts */
    int *uniq = tgc_malloc(sizeof(int) * (size_t)(ks.n ? ks.n : 1)), nu = 0, shipped_uniq = 0;
    for (int i = 0; i < ks.n; i++) {
        int seen = 0;
        for (int u = 0; u < nu && !seen; u++) seen = ks.k[uniq[u]].hash == ks.k[i].hash;
        if (!seen) {
            uniq[nu++] = i;
            shipped_uniq += i < shipped_groups;
        }
    }
    /* compile each; ptxas's report */
    tgc_cubin *cub = tgc_calloc((size_t)(nu ? nu : 1), sizeof *cub);
    int ok = 0, spill_free = 0, max_regs = 0;
    double t0 = tgc_now();
    for (int u = 0; u < nu; u++) {
        const tgc_codegen_kernel *k = &ks.k[uniq[u]];
        char file[64];
        snprintf(file, sizeof file, "%s.cu", k->name);
        tgc_err err;
        if (tgc_nvrtc_compile(k->source, file, ARCH, &cub[u], &err) < 0) {
            EXPECT(0, "%s\n%s", err.msg, k->source);
            continue;
        }
        ok++;
        EXPECT(cub[u].size > 4 && memcmp(cub[u].code, "\177ELF", 4) == 0, "%s: the cubin is not an ELF file", k->name);
        EXPECT(strstr(cub[u].log, k->name) && strstr(cub[u].log, "'" ARCH "'"), "%s: ptxas did not report on it for "
               ARCH ":\n%s", k->name, cub[u].log);
        EXPECT(memmem(cub[u].code, cub[u].size, k->name, strlen(k->name) + 1) != NULL,
               "%s: no unmangled symbol of that name in the cubin (extern \"C\")", k->name);
        EXPECT(!strstr(cub[u].log, "warning"), "%s: NVRTC warns:\n%s\n%s", k->name, cub[u].log, k->source);
        EXPECT(cub[u].registers > 0, "%s: no register count in ptxas's report:\n%s", k->name, cub[u].log);
        int clean = cub[u].spill_store_bytes == 0 && cub[u].spill_load_bytes == 0 && cub[u].stack_bytes == 0;
        EXPECT(clean, "%s: %d bytes spill stores, %d bytes spill loads, %d bytes stack:\n%s", k->name,
               cub[u].spill_store_bytes, cub[u].spill_load_bytes, cub[u].stack_bytes, cub[u].log);
        spill_free += clean;
        if (cub[u].registers > max_regs) max_regs = cub[u].registers;
    }
    double secs = tgc_now() - t0;
    /* the cache: all misses in a fresh directory, then all hits with the same bytes */
    char *compile_id = tgc_nvrtc_compile_id(ARCH);
    char *dir = tgc_asprintf("%s/tests/codegen-nvrtc-cache-%ld", TGC_BINARY_DIR, (long)getpid());
    rm_dir(dir);
    int misses = 0, hits = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int u = 0; u < nu; u++) {
            if (!cub[u].code) continue;
            const tgc_codegen_kernel *k = &ks.k[uniq[u]];
            uint64_t key = tgc_kcache_key(tgc_codegen_source_hash(k->source, strlen(k->source)), compile_id);
            uint8_t *code = NULL;
            size_t len = 0;
            tgc_err err;
            int rc = tgc_kcache_get(dir, key, k->source, strlen(k->source), &code, &len, NULL, 0, &err);
            EXPECT(rc >= 0, "%s", err.msg);
            if (pass == 0) {
                misses += rc == 0;
                EXPECT(tgc_kcache_put(dir, key, k->source, strlen(k->source), cub[u].code, cub[u].size, &err) == 0, "%s",
                       err.msg);
            } else {
                hits += rc == 1 && len == cub[u].size && memcmp(code, cub[u].code, len) == 0;
            }
            free(code);
        }
    rm_dir(dir);
    /* the executor's own kernels (backend/cuda/cuda_exec.c) */
    tgc_err aerr;
    tgc_cubin aux;
    int aux_ok = tgc_nvrtc_compile(tgc_cuda_exec_aux_source(), "cuda_exec_aux.cu", "sm_90", &aux, &aerr) == 0;
    EXPECT(aux_ok, "the executor's aux kernels do not compile: %s", aerr.msg);
    if (aux_ok) {
        EXPECT(aux.spill_store_bytes == 0 && aux.spill_load_bytes == 0 && aux.stack_bytes == 0,
               "aux kernels: %d bytes spill stores, %d spill loads, %d stack:\n%s", aux.spill_store_bytes,
               aux.spill_load_bytes, aux.stack_bytes, aux.log);
        printf("codegen nvrtc: the executor's 5 aux kernels compiled for sm_90: %d bytes spill stores, %d spill loads, "
               "%d stack, at most %d registers\n",
               aux.spill_store_bytes, aux.spill_load_bytes, aux.stack_bytes, aux.registers);
        tgc_cubin_free(&aux);
    }
    EXPECT(ok == nu, "%d of %d kernels compiled", ok, nu);
    EXPECT(spill_free == ok, "%d of %d kernels spill or use a stack frame", ok - spill_free, ok);
    EXPECT(misses == ok && hits == ok, "cache: %d misses and %d hits for %d kernels", misses, hits, ok);
    printf("codegen nvrtc: %d configs x 4 (cpu, cuda, cuda --amp, cuda --fp16), %d compiled (and %d cuda plans with NHWC "
           "activations); %d elementwise groups and lone elementwise ops (%d) -> %d "
           "distinct kernels, plus %d synthetic groups -> %d kernels; %d of %d compiled by %s to cubin in %.2f s (%.0f ms each); ptxas: 0 bytes "
           "spill stores/loads and 0 bytes stack in %d of %d, at most %d registers; cache: %d misses, then %d hits\n",
           nc, compiled, nhwc_plans, shipped_groups, lone_ops, shipped_uniq, ks.n - shipped_groups, nu - shipped_uniq, ok, nu, compile_id, secs,
           nu ? 1000 * secs / nu : 0.0, spill_free, ok, max_regs, misses, hits);
    for (int u = 0; u < nu; u++) tgc_cubin_free(&cub[u]);
    free(cub);
    free(dir);
    free(compile_id);
    free(uniq);
    for (int i = 0; i < ks.n; i++) tgc_codegen_kernel_free(&ks.k[i]);
    free(ks.k);
    cgu_free_strs(cfgs, nc);
    return failures ? 1 : 0;
}
