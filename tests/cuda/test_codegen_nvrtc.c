/* NVRTC compilation of every generated kernel (backend/cuda/codegen.c) for sm_90, without a GPU: each
 * distinct kernel of every elementwise group of every shipped config (--target cpu and cuda, and cuda with
 * --amp as bf16 and with --fp16) and of the
 * synthetic groups (every op, the casts, the 64-bit index) is compiled to a cubin by nvrtcCompileProgram
 * with --gpu-architecture=sm_90 and --ptxas-options=-v, and ptxas's report must show no spill stores, no
 * spill loads and no stack frame. The cubins then go through the kernel cache (backend/cuda/codegen_cache.h)
 * in a fresh directory: every kernel a miss, then every kernel a hit with the same bytes.
 *
 * Built only where the CUDA toolkit is; a CPU-only build registers this test as a visible skip. A plain
 * program (no Check): exit 0 on success, 1 with the reasons on stderr. */
#define _GNU_SOURCE /* memmem */
#include <dirent.h>
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

int main(void) {
    parse_report();
    /* the shipped configs */
    char **cfgs;
    int nc = cgu_configs(TGC_SOURCE_DIR, &cfgs), compiled = 0;
    kernel_set ks = {0};
    /* fp32 for both targets; the cuda target's mixed-precision plans (--amp as bf16, --fp16) too */
    static const char *targets[4] = {"cpu", "cuda", "cuda", "cuda"}, *flags[4] = {"", "", " --amp (bf16)", " --fp16"};
    static const tgc_dtype amps[4] = {TGC_F32, TGC_F32, TGC_BF16, TGC_F16};
    int lowp_plans = 0;
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
        }
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
    printf("codegen nvrtc: %d configs x 4 (cpu, cuda, cuda --amp, cuda --fp16), %d compiled; %d elementwise groups and lone elementwise ops (%d) -> %d "
           "distinct kernels, plus %d synthetic groups -> %d kernels; %d of %d compiled by %s to cubin in %.2f s (%.0f ms each); ptxas: 0 bytes "
           "spill stores/loads and 0 bytes stack in %d of %d, at most %d registers; cache: %d misses, then %d hits\n",
           nc, compiled, shipped_groups, lone_ops, shipped_uniq, ks.n - shipped_groups, nu - shipped_uniq, ok, nu, compile_id, secs,
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
