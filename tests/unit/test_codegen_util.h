/* tests/unit/test_codegen_util.h - the shipped configs and their generated kernels, for the codegen tests
 * (tests/unit/test_codegen_host.c on the host, tests/cuda/test_codegen_nvrtc.c with NVRTC). No Check: the
 * NVRTC test is a plain program. */
#ifndef TGC_TEST_CODEGEN_UTIL_H
#define TGC_TEST_CODEGEN_UTIL_H

#include <dirent.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend/cuda/codegen.h"
#include "frontend/frontend.h"
#include "passes/target.h"
#include "plan/plan.h"

static int cgu_cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void cgu_walk(const char *dir, char ***out, int *n, int *cap) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "_base_") == 0) continue;
        char *path = tgc_asprintf("%s/%s", dir, e->d_name);
        struct stat st;
        size_t l = strlen(e->d_name);
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            cgu_walk(path, out, n, cap);
            free(path);
        } else if (l > 5 && strcmp(e->d_name + l - 5, ".yaml") == 0) {
            TGC_GROW(*out, *cap, *n + 1);
            (*out)[(*n)++] = path;
        } else {
            free(path);
        }
    }
    closedir(d);
}

/* The shipped configs: the .yaml files under configs/ outside _base_, sorted (paths owned by the caller). */
static inline int cgu_configs(const char *src_dir, char ***out) {
    *out = NULL;
    int n = 0, cap = 0;
    char *root = tgc_asprintf("%s/configs", src_dir);
    cgu_walk(root, out, &n, &cap);
    free(root);
    if (n) qsort(*out, (size_t)n, sizeof **out, cgu_cmp_str);
    return n;
}

static inline void cgu_free_strs(char **s, int n) {
    for (int i = 0; i < n; i++) free(s[i]);
    free(s);
}

/* tgc compile CONFIG --target TARGET, in memory: the validated plan, or NULL with err. */
static inline tgc_plan *cgu_compile(const char *path, const char *target, tgc_err *err) {
    tgc_cfg *cfg = tgc_cfg_load(path, err);
    if (!cfg) return NULL;
    tgc_module m;
    memset(&m, 0, sizeof m);
    if (tgc_frontend_build(cfg, &m, err) < 0) {
        tgc_cfg_free(cfg);
        return NULL;
    }
    m.target = tgc_target_find(target);
    tgc_pipeline_opts po;
    memset(&po, 0, sizeof po);
    tgc_plan *p = NULL;
    if (m.target && tgc_run_pipeline(&m, &po, err) == 0) p = tgc_plan_from_module(&m, cfg, err);
    tgc_module_free(&m);
    tgc_cfg_free(cfg);
    if (p && tgc_plan_validate(p, err) < 0) {
        tgc_plan_free(p);
        p = NULL;
    }
    return p;
}

/* Every elementwise group of a plan as a kernel: appends to *k (grown), returns how many or -1 with err. */
static inline int cgu_plan_kernels(const tgc_plan *p, tgc_codegen_kernel **k, int *n, int *cap, tgc_err *err) {
    int added = 0;
    for (int pi = 0; pi < p->n_programs; pi++) {
        tgc_codegen_group *g;
        int ng = tgc_codegen_groups(&p->programs[pi], &g);
        for (int i = 0; i < ng; i++) {
            TGC_GROW(*k, *cap, *n + 1);
            if (tgc_codegen_group_kernel(p, &p->programs[pi], g[i].first, g[i].count, &(*k)[*n], err) < 0) {
                free(g);
                return -1;
            }
            (*n)++;
            added++;
        }
        free(g);
    }
    return added;
}

/* ---- hand-built plans: one program "train" of tensors and instructions, placed where the test says ---- */

static inline tgc_plan *cgu_plan_new(void) {
    tgc_plan *p = tgc_calloc(1, sizeof *p);
    p->n_programs = 1;
    p->programs = tgc_calloc(1, sizeof(tgc_program));
    p->programs[0].name = tgc_strdup("train");
    return p;
}

/* A tensor of kind temp in the arena, param in the param slab, input in the input slab, and so on; bytes
 * from its type. Returns its index. */
static inline int cgu_tensor(tgc_plan *p, const char *name, tgc_dtype dt, tgc_shape s, tgc_slab slab, uint64_t off) {
    p->tensors = tgc_realloc(p->tensors, sizeof(tgc_plan_tensor) * (size_t)(p->n_tensors + 1));
    tgc_plan_tensor *t = &p->tensors[p->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = tgc_strdup(name);
    t->kind = slab == TGC_SLAB_PARAM ? TGC_VAL_PARAM : slab == TGC_SLAB_INPUT ? TGC_VAL_INPUT
            : slab == TGC_SLAB_BUFFER ? TGC_VAL_BUFFER : slab == TGC_SLAB_OPTSTATE ? TGC_VAL_OPTSTATE : TGC_VAL_TEMP;
    t->type = (tgc_type){dt, s};
    t->slab = slab;
    t->offset = off;
    t->bytes = (uint64_t)tgc_shape_numel(&s) * tgc_dtype_size(dt);
    t->grad_of = -1;
    t->lr_mult = t->decay_mult = 1;
    return p->n_tensors++;
}

/* Appends out = code(in...) with attributes a (NULL: defaults) in fusion group `group` (-1: none). */
static inline void cgu_instr(tgc_plan *p, tgc_opcode code, const tgc_attrs *a, int group, int out, int n_in, ...) {
    tgc_program *pr = &p->programs[0];
    pr->instr = tgc_realloc(pr->instr, sizeof(tgc_instr) * (size_t)(pr->n_instr + 1));
    tgc_instr *in = &pr->instr[pr->n_instr++];
    memset(in, 0, sizeof *in);
    in->code = code;
    in->attrs = a ? *a : tgc_attrs_default();
    in->group = group;
    in->n_in = n_in;
    va_list ap;
    va_start(ap, n_in);
    for (int j = 0; j < n_in; j++) in->in[j] = va_arg(ap, int);
    va_end(ap);
    in->n_out = out >= 0;
    in->out[0] = out;
}

static inline void cgu_output(tgc_plan *p, int t) {
    tgc_program *pr = &p->programs[0];
    pr->outputs = tgc_realloc(pr->outputs, sizeof(int) * (size_t)(pr->n_outputs + 1));
    pr->outputs[pr->n_outputs++] = t;
}

#endif
