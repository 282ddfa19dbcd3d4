/* tests/unit/test_codegen_util.h - the shipped configs and their generated kernels, for the codegen tests
 * (tests/unit/test_codegen_host.c on the host, tests/cuda/test_codegen_nvrtc.c with NVRTC). No Check: the
 * NVRTC test is a plain program. */
#ifndef TGC_TEST_CODEGEN_UTIL_H
#define TGC_TEST_CODEGEN_UTIL_H

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
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
        /* Mixed-precision configs (MMDetection's *_amp-1x_*): the same models as their fp32 configs, which these
         * checks also compile with --amp and --fp16 (cgu_compile_amp); plan_check_configs.test and
         * cli_compile_retinanet.test compile the AMP one itself. */
        if (strstr(e->d_name, "_amp-")) continue;
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

/* The shipped configs: the .yaml files under configs/ outside _base_ (less the AMP ones, see above), sorted
 * (paths owned by the caller). */
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

/* A detection config (configs/det_synth, faster_rcnn, retinanet), by its path: the classification ones are
 * the others. */
static inline int cgu_is_detection(const char *path) {
    return strstr(path, "/det_synth/") || strstr(path, "/faster_rcnn/") || strstr(path, "/retinanet/");
}

/* tgc compile CONFIG --target TARGET [--disable-pass PASS] [--amp (amp TGC_BF16) | --fp16 (TGC_F16)]
 * [--layout nhwc], in memory: the validated plan, or NULL with err. PASS may be NULL. */
static inline tgc_plan *cgu_compile_layout(const char *path, const char *target, const char *pass, tgc_dtype amp,
                                           tgc_layout layout, tgc_err *err) {
    tgc_cfg *cfg = tgc_cfg_load(path, err);
    if (!cfg) return NULL;
    /* mixed precision as `tgc compile --amp` (bf16) or `--fp16` sets it: AmpOptimWrapper, dynamic loss scale */
    if (amp != TGC_F32 &&
        (tgc_cfg_apply_option(cfg, "optim_wrapper.type=AmpOptimWrapper", err) < 0 ||
         tgc_cfg_apply_option(cfg, "optim_wrapper.loss_scale=dynamic", err) < 0 ||
         tgc_cfg_apply_option(cfg, amp == TGC_F16 ? "optim_wrapper.dtype=float16" : "optim_wrapper.dtype=bfloat16",
                              err) < 0)) {
        tgc_cfg_free(cfg);
        return NULL;
    }
    tgc_module m;
    memset(&m, 0, sizeof m);
    if (tgc_frontend_build(cfg, &m, err) < 0) {
        tgc_cfg_free(cfg);
        return NULL;
    }
    m.target = tgc_target_find(target);
    m.layout = layout;
    if (m.target) {
        char note[256];
        tgc_amp_resolve(&m.amp, m.target, note, sizeof note);
    }
    tgc_pipeline_opts po;
    memset(&po, 0, sizeof po);
    if (pass) po.disabled[po.n_disabled++] = pass;
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

static inline tgc_plan *cgu_compile_amp(const char *path, const char *target, const char *pass, tgc_dtype amp,
                                        tgc_err *err) {
    return cgu_compile_layout(path, target, pass, amp, TGC_LAYOUT_ROW, err);
}

static inline tgc_plan *cgu_compile_without(const char *path, const char *target, const char *pass, tgc_err *err) {
    return cgu_compile_amp(path, target, pass, TGC_F32, err);
}

static inline tgc_plan *cgu_compile(const char *path, const char *target, tgc_err *err) {
    return cgu_compile_without(path, target, NULL, err);
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
    t->type = (tgc_type){.dtype = dt, .shape = s};
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

/* ---- synthetic groups, beyond what the shipped configs fuse ---------------------------------------- */

/* One group of 11 instructions with every elementwise op (tanh_bwd, sigmoid and a second bias layout appear
 * in no shipped group), in place where memplan would put it, 630 elements (not a multiple of a grid); data of
 * dtype dt (f32, or bf16/f16 as in a mixed-precision plan: biases f32, the last cast to f32). */
static inline tgc_plan *cgu_every_op_plan_dt(tgc_dtype dt) {
    tgc_plan *p = cgu_plan_new();
    tgc_shape s = tgc_shape4(3, 6, 7, 5);
    int x = cgu_tensor(p, "x", dt, s, TGC_SLAB_ARENA, 0);
    int y = cgu_tensor(p, "y", dt, s, TGC_SLAB_ARENA, 4096);
    int z = cgu_tensor(p, "z", dt, s, TGC_SLAB_INPUT, 0);
    int b = cgu_tensor(p, "b", TGC_F32, tgc_shape1(6), TGC_SLAB_PARAM, 0);
    int b2 = cgu_tensor(p, "b2", TGC_F32, tgc_shape1(7), TGC_SLAB_PARAM, 256);
    int t[11];
    for (int i = 0; i < 11; i++) {
        char name[8];
        snprintf(name, sizeof name, "t%d", i);
        t[i] = cgu_tensor(p, name, i == 8 ? TGC_F32 : dt, s, TGC_SLAB_ARENA,
                          i == 3 ? 8192 : i == 8 ? 12288 : i == 10 ? 16384 : 0);
    }
    tgc_attrs ax = tgc_attrs_default(), ax2 = tgc_attrs_default(), sc = tgc_attrs_default(), cf = tgc_attrs_default();
    ax.axis = 1;
    ax2.axis = 2;
    sc.alpha = -1.25;
    cf.dtype = TGC_F32;
    cgu_instr(p, TGC_OP_BIAS_ADD, &ax, 0, t[0], 2, x, b);
    cgu_instr(p, TGC_OP_SCALE, &sc, 0, t[1], 1, t[0]);
    cgu_instr(p, TGC_OP_ADD, NULL, 0, t[2], 2, t[1], y);
    cgu_instr(p, TGC_OP_RELU, NULL, 0, t[3], 1, t[2]); /* a program output, not in place */
    cgu_instr(p, TGC_OP_TANH, NULL, 0, t[4], 1, t[2]);
    cgu_instr(p, TGC_OP_TANH_BWD, NULL, 0, t[5], 2, z, t[4]);
    cgu_instr(p, TGC_OP_RELU_BWD, NULL, 0, t[6], 2, t[5], t[3]);
    cgu_instr(p, TGC_OP_SIGMOID, NULL, 0, t[9], 1, t[6]);
    cgu_instr(p, TGC_OP_SIGMOID_BWD, NULL, 0, t[10], 2, z, t[9]); /* over the second operand: not in place */
    cgu_instr(p, TGC_OP_BIAS_ADD, &ax2, 0, t[7], 2, t[10], b2);
    cgu_instr(p, TGC_OP_CAST, &cf, 0, t[8], 1, t[7]); /* f32 -> f32: a copy */
    cgu_output(p, t[3]);
    cgu_output(p, t[8]);
    return p;
}

static inline tgc_plan *cgu_every_op_plan(void) { return cgu_every_op_plan_dt(TGC_F32); }

/* Groups of casts between every pair of dtype classes, n elements each, every link a program output:
 * *n_groups chains, group c = chain c. */
static inline tgc_plan *cgu_cast_plan(int64_t n, int *n_groups) {
    tgc_shape s = tgc_shape1(n);
    tgc_plan *p = cgu_plan_new();
    uint64_t off = 0, step = ((uint64_t)n * 8 + 255) / 256 * 256;
#define CGU_T(name, dt) cgu_tensor(p, name, dt, s, TGC_SLAB_ARENA, (off += step))
    int x = CGU_T("x", TGC_F32), hin = CGU_T("hin", TGC_F16), bin = CGU_T("bin", TGC_BF16), lin = CGU_T("lin", TGC_I64);
    struct {
        int n;
        tgc_dtype dt[4]; /* the chain's dtypes after its input */
        int in;
    } chains[] = {
        {2, {TGC_F16, TGC_F32}, x},            {2, {TGC_BF16, TGC_F32}, x},
        {2, {TGC_I32, TGC_F16}, x},            {3, {TGC_U8, TGC_I64, TGC_BF16}, x},
        {2, {TGC_I64, TGC_F32}, x},            {3, {TGC_BF16, TGC_I32, TGC_U8}, hin},
        {3, {TGC_F32, TGC_F16, TGC_I64}, bin}, {3, {TGC_F32, TGC_F16, TGC_BF16}, lin},
        {2, {TGC_F32, TGC_BF16}, hin},
    };
    *n_groups = (int)(sizeof chains / sizeof chains[0]);
    for (int c = 0; c < *n_groups; c++) {
        int prev = chains[c].in;
        for (int i = 0; i < chains[c].n; i++) {
            char name[32];
            snprintf(name, sizeof name, "c%d.%d", c, i);
            int y = CGU_T(name, chains[c].dt[i]);
            tgc_attrs a = tgc_attrs_default();
            a.dtype = chains[c].dt[i];
            cgu_instr(p, TGC_OP_CAST, &a, c, y, 1, prev);
            cgu_output(p, y);
            prev = y;
        }
    }
#undef CGU_T
    return p;
}

/* bias_add + relu over 2^31 elements: the 64-bit index (never allocated). */
static inline tgc_plan *cgu_index64_plan(void) {
    tgc_plan *p = cgu_plan_new();
    tgc_shape s = tgc_shape4(1 << 16, 16, 64, 32);
    int x = cgu_tensor(p, "x", TGC_F32, s, TGC_SLAB_ARENA, 0);
    int b = cgu_tensor(p, "b", TGC_F32, tgc_shape1(16), TGC_SLAB_PARAM, 0);
    int t = cgu_tensor(p, "t", TGC_F32, s, TGC_SLAB_ARENA, 0);
    int y = cgu_tensor(p, "y", TGC_F32, s, TGC_SLAB_ARENA, 0);
    tgc_attrs ax = tgc_attrs_default();
    ax.axis = 1;
    cgu_instr(p, TGC_OP_BIAS_ADD, &ax, 0, t, 2, x, b);
    cgu_instr(p, TGC_OP_RELU, NULL, 0, y, 1, t);
    cgu_output(p, y);
    return p;
}

#endif
