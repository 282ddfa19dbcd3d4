/* backend/cuda/codegen_nvrtc.c - NVRTC compilation of generated kernels (see codegen_nvrtc.h). */
#include "backend/cuda/codegen_nvrtc.h"

#include <ctype.h>
#include <nvrtc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --ptxas-options=-v makes ptxas report registers and spills into the program log. No --use_fast_math:
 * tanhf stays the accurate one and denormals are kept, as on the CPU. */
#define N_OPTS 2

static void options(const char *arch, char *arch_opt, size_t n, const char *opts[N_OPTS]) {
    snprintf(arch_opt, n, "--gpu-architecture=%s", arch);
    opts[0] = arch_opt;
    opts[1] = "--ptxas-options=-v";
}

char *tgc_nvrtc_compile_id(const char *arch) {
    int major = 0, minor = 0;
    nvrtcVersion(&major, &minor);
    char a[64];
    const char *o[N_OPTS];
    options(arch, a, sizeof a, o);
    return tgc_asprintf("nvrtc %d.%d %s %s", major, minor, o[0], o[1]);
}

void tgc_nvrtc_parse_ptxas(const char *log, int *registers, int *stack, int *spill_stores, int *spill_loads) {
    *registers = *stack = *spill_stores = *spill_loads = -1;
    for (const char *s = log; s && (s = strstr(s, "Used ")); s++) {
        int r;
        if (sscanf(s, "Used %d registers", &r) == 1 && r > *registers) *registers = r;
    }
    for (const char *s = log; s && (s = strstr(s, "bytes stack frame")); s++) {
        const char *q = s; /* back to the start of the number before it */
        while (q > log && q[-1] == ' ') q--;
        while (q > log && isdigit((unsigned char)q[-1])) q--;
        int a, b, c;
        if (sscanf(q, "%d bytes stack frame, %d bytes spill stores, %d bytes spill loads", &a, &b, &c) == 3) {
            *stack = TGC_MAX(*stack, a);
            *spill_stores = TGC_MAX(*spill_stores, b);
            *spill_loads = TGC_MAX(*spill_loads, c);
        }
    }
}

static char *program_log(nvrtcProgram prog) {
    size_t n = 0;
    if (nvrtcGetProgramLogSize(prog, &n) != NVRTC_SUCCESS || n == 0) return tgc_strdup("");
    char *log = tgc_malloc(n + 1);
    if (nvrtcGetProgramLog(prog, log) != NVRTC_SUCCESS) log[0] = 0;
    log[n] = 0;
    return log;
}

int tgc_nvrtc_compile(const char *source, const char *name, const char *arch, tgc_cubin *out, tgc_err *err) {
    memset(out, 0, sizeof *out);
    nvrtcProgram prog;
    nvrtcResult r = nvrtcCreateProgram(&prog, source, name, 0, NULL, NULL);
    if (r != NVRTC_SUCCESS) return tgc_fail(err, "nvrtc: %s: %s", name, nvrtcGetErrorString(r));
    char a[64];
    const char *o[N_OPTS];
    options(arch, a, sizeof a, o);
    r = nvrtcCompileProgram(prog, N_OPTS, o);
    char *log = program_log(prog);
    if (r != NVRTC_SUCCESS) {
        tgc_fail(err, "nvrtc: %s for %s: %s\n%s", name, arch, nvrtcGetErrorString(r), log);
        free(log);
        nvrtcDestroyProgram(&prog);
        return -1;
    }
    size_t n = 0;
    r = nvrtcGetCUBINSize(prog, &n);
    if (r != NVRTC_SUCCESS || n == 0) {
        tgc_fail(err, "nvrtc: %s: no cubin for %s (%s); a virtual architecture (compute_*) gives PTX only", name, arch,
                 nvrtcGetErrorString(r));
        free(log);
        nvrtcDestroyProgram(&prog);
        return -1;
    }
    out->code = tgc_malloc(n);
    r = nvrtcGetCUBIN(prog, (char *)out->code);
    nvrtcDestroyProgram(&prog);
    if (r != NVRTC_SUCCESS) {
        free(out->code);
        free(log);
        out->code = NULL;
        return tgc_fail(err, "nvrtc: %s: %s", name, nvrtcGetErrorString(r));
    }
    out->size = n;
    out->log = log;
    tgc_nvrtc_parse_ptxas(log, &out->registers, &out->stack_bytes, &out->spill_store_bytes, &out->spill_load_bytes);
    return 0;
}

void tgc_cubin_free(tgc_cubin *c) {
    if (!c) return;
    free(c->code);
    free(c->log);
    memset(c, 0, sizeof *c);
}
