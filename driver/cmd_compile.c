/* driver/cmd_compile.c - `tgc compile CONFIG`: config -> module -> passes -> plan.bin, with a summary. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "plan/plan.h"
#include "driver/driver.h"
#include "frontend/frontend.h"
#include "frontend/ignored.h"
#include "runtime/data/data_randaug.h"

#define MAX_OPTIONS 256
#define MAX_SEARCH_BATCH 65536

typedef struct compile_opts {
    const char *config, *output, *target, *dump;
    const char *options[MAX_OPTIONS];
    int n_options;
    const char *disabled[32];
    int n_disabled;
    int print_config;
    int strict; /* --strict: settings accepted but not implemented are an error */
    int has_limit;
    uint64_t limit;
    int amp; /* --amp (1) / --fp16 (2) */
    const char *layout; /* --layout row|nhwc; NULL: the target's default */
} compile_opts;

/* "123", "1.5GiB", "512MiB", "64KiB", "2GB" (decimal), "4G" (binary). */
static int parse_size(const char *s, uint64_t *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v >= 0)) return -1;
    static const struct {
        const char *suffix;
        double mult;
    } units[] = {{"", 1},           {"B", 1},          {"K", 1024.0},         {"KiB", 1024.0},
                 {"KB", 1e3},       {"M", 1048576.0},  {"MiB", 1048576.0},    {"MB", 1e6},
                 {"G", 1073741824.0}, {"GiB", 1073741824.0}, {"GB", 1e9},     {"T", 1099511627776.0},
                 {"TiB", 1099511627776.0}, {"TB", 1e12}};
    for (size_t i = 0; i < TGC_ARRAY_LEN(units); i++)
        if (!strcasecmp(end, units[i].suffix)) {
            double b = v * units[i].mult;
            if (b >= 1.8e19) return -1;
            *out = (uint64_t)b;
            return 0;
        }
    return -1;
}

static const char *mib(uint64_t b, char *buf, size_t n) {
    snprintf(buf, n, "%.2f MiB", (double)b / 1048576.0);
    return buf;
}

/* Bytes one device holds for the plan: the arena, every slab and the target's workspace. */
static uint64_t device_bytes(const tgc_plan *p) {
    uint64_t total = p->target.workspace_bytes;
    for (int s = TGC_SLAB_ARENA; s < TGC_SLAB_COUNT; s++) total += p->slab_bytes[s];
    return total;
}

/* Records what `tgc run` needs from the command line of the compile, in the plan's config: `filename`
 * (the config file, as MMEngine's Config.filename, for the experiment name) and, when the config sets
 * none, `work_dir` = ./work_dirs/<config name> (MMPretrain's tools/train.py default). */
static void record_run_defaults(tgc_cfg *cfg, const char *config) {
    if (!tgc_cfg_get(cfg, "filename")) {
        tgc_cfg *f = tgc_cfg_new(TGC_CFG_STR, "<tgc compile>", 0);
        f->s = tgc_strdup(config);
        tgc_cfg_set(cfg, "filename", f);
    }
    const tgc_cfg *wd = tgc_cfg_get(cfg, "work_dir");
    if (!wd || wd->kind == TGC_CFG_NULL) {
        const char *base = strrchr(config, '/');
        base = base ? base + 1 : config;
        const char *dot = strrchr(base, '.');
        size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
        tgc_cfg *w = tgc_cfg_new(TGC_CFG_STR, "<tgc compile>", 0);
        w->s = tgc_asprintf("./work_dirs/%.*s", (int)n, base);
        tgc_cfg_set(cfg, "work_dir", w);
    }
    tgc_cfg_set_paths(cfg);
}

static void print_ignored(const char *text, const char *level) {
    int n = 0;
    for (const char *c = text; *c; c++) n += *c == '\n';
    if (!strcmp(level, "error"))
        fprintf(stderr, "tgc: error: %d setting%s accepted but not implemented (--strict):\n", n, n == 1 ? " is" : "s are");
    else
        fprintf(stderr, "tgc: warning: %d setting%s accepted but not implemented, so %s ignored (--strict makes this an "
                        "error):\n", n, n == 1 ? " is" : "s are", n == 1 ? "it is" : "they are");
    for (const char *c = text; *c;) {
        size_t len = strcspn(c, "\n");
        fprintf(stderr, "  %.*s\n", (int)len, c);
        c += len + (c[len] == '\n');
    }
}

/* --amp as MMPretrain's tools/train.py applies it: optim_wrapper.type AmpOptimWrapper (from OptimWrapper
 * only), loss_scale 'dynamic' unless the config sets one; --fp16 also sets dtype float16. */
int tgc_amp_options(tgc_cfg *cfg, int fp16, tgc_err *err) {
    const tgc_cfg *w = tgc_cfg_get(cfg, "optim_wrapper");
    const tgc_cfg *t = w && w->kind == TGC_CFG_MAP ? tgc_cfg_get(w, "type") : NULL;
    if (t && t->kind == TGC_CFG_STR && strcmp(t->s, "OptimWrapper") && strcmp(t->s, "AmpOptimWrapper"))
        return tgc_cfg_fail(err, t, "%s needs optim_wrapper.type OptimWrapper or AmpOptimWrapper, not %s",
                            fp16 ? "--fp16" : "--amp", t->s);
    const tgc_cfg *ls = w && w->kind == TGC_CFG_MAP ? tgc_cfg_get(w, "loss_scale") : NULL;
    if (tgc_cfg_apply_option(cfg, "optim_wrapper.type=AmpOptimWrapper", err) < 0 ||
        ((!ls || ls->kind == TGC_CFG_NULL) && tgc_cfg_apply_option(cfg, "optim_wrapper.loss_scale=dynamic", err) < 0) ||
        (fp16 && tgc_cfg_apply_option(cfg, "optim_wrapper.dtype=float16", err) < 0))
        return tgc_err_prefix(err, "%s", fp16 ? "--fp16" : "--amp");
    return 0;
}

/* The arena the config needs in fp32 (the same passes, no mixed precision): the mixed-precision plan
 * records it, so `tgc inspect` shows what mixed precision saves before anything runs. */
static int fp32_arena(const tgc_cfg *cfg, const tgc_pipeline_opts *po, const tgc_target *t, tgc_layout layout,
                      uint64_t *bytes, tgc_err *err) {
    tgc_module m;
    if (tgc_frontend_build(cfg, &m, err) < 0) return -1;
    m.target = t;
    m.layout = layout;
    m.amp.dtype = TGC_F32;
    tgc_pipeline_opts q = *po;
    q.dump_after = NULL;
    int rc = tgc_run_pipeline(&m, &q, err);
    *bytes = 0;
    if (rc == 0) *bytes = TGC_MAX(m.train ? m.train->mem.arena_bytes : 0, m.eval ? m.eval->mem.arena_bytes : 0);
    tgc_module_free(&m);
    return rc < 0 ? tgc_err_prefix(err, "compiling the fp32 twin of the mixed-precision plan") : 0;
}

/* The config on the transposed canvas (the portrait programs of a two-orientation detection plan). */
static tgc_cfg *portrait_config(const tgc_cfg *cfg, const tgc_input_spec *spec, tgc_err *err) {
    tgc_cfg *c = tgc_cfg_clone(cfg);
    char opt[96];
    snprintf(opt, sizeof opt, "model.data_preprocessor.tgc_canvas=[%lld,%lld]", (long long)spec->width,
             (long long)spec->height);
    if (tgc_cfg_apply_option(c, opt, err) < 0) {
        tgc_cfg_free(c);
        return NULL;
    }
    return c;
}

/* "train_portrait" and "eval_portrait": the same config built again on the transposed canvas, through the
 * same passes (quietly: no dumps), lowered into p as variants of train and eval (tgc_plan_add_variant). */
static int add_portrait(const tgc_cfg *pcfg, const tgc_module *m0, const tgc_pipeline_opts *po, tgc_plan *p,
                        tgc_err *err) {
    tgc_module m;
    memset(&m, 0, sizeof m);
    if (tgc_frontend_build(pcfg, &m, err) < 0) return tgc_err_prefix(err, "the portrait programs");
    m.target = m0->target;
    m.layout = m0->layout;
    char note[256];
    tgc_amp_resolve(&m.amp, m.target, note, sizeof note); /* as for train and eval, whose note was printed */
    tgc_pipeline_opts q = *po;
    q.dump_after = NULL;
    int rc = tgc_run_pipeline(&m, &q, err);
    if (rc < 0) tgc_err_prefix(err, "the portrait programs");
    else if ((rc = tgc_plan_add_variant(p, &m, TGC_PLAN_PORTRAIT, err)) < 0)
        tgc_err_prefix(err, "internal error: the portrait programs do not match train and eval");
    tgc_module_free(&m);
    return rc;
}

/* One compilation to an in-memory plan. `extra` is one more --cfg-options item (the batch search);
 * `quiet` turns off dumps and --print-config for the search's compilations. */
static tgc_plan *compile_plan(const compile_opts *o, const char *extra, int quiet, tgc_err *err) {
    tgc_cfg *cfg = tgc_cfg_load(o->config, err);
    if (!cfg) return NULL;
    for (int i = 0; i < o->n_options; i++)
        if (tgc_cfg_apply_option(cfg, o->options[i], err) < 0) {
            tgc_err_prefix(err, "--cfg-options %s", o->options[i]);
            tgc_cfg_free(cfg);
            return NULL;
        }
    if (o->amp && tgc_amp_options(cfg, o->amp == 2, err) < 0) {
        tgc_cfg_free(cfg);
        return NULL;
    }
    if (extra && tgc_cfg_apply_option(cfg, extra, err) < 0) {
        tgc_cfg_free(cfg);
        return NULL;
    }
    if (tgc_cfg_translate_legacy(cfg, extra ? NULL : stderr, err) < 0) { /* the batch search repeats no message */
        tgc_cfg_free(cfg);
        return NULL;
    }
    if (o->print_config && !quiet) {
        tgc_cfg_dump(cfg, stdout);
        fflush(stdout);
    }
    /* What the config asks for that tgc does not do: listed (and, for settings the builders or the runtime
     * would refuse, taken out) before anything is built. */
    tgc_ignored ig;
    tgc_ignored_scan(cfg, &ig);
    char *ignored = tgc_ignored_text(&ig);
    int n_ignored = ig.n;
    tgc_ignored_free(&ig);
    if (n_ignored && o->strict) {
        /* the list first (not again in the batch search, extra != NULL, which follows a first compile) */
        if (!extra) print_ignored(ignored, "error");
        tgc_fail(err, "--strict: %d setting%s of %s %s accepted but not implemented (listed above)", n_ignored,
                 n_ignored == 1 ? "" : "s", o->config, n_ignored == 1 ? "is" : "are");
        free(ignored);
        tgc_cfg_free(cfg);
        return NULL;
    }
    tgc_module m;
    memset(&m, 0, sizeof m);
    if (tgc_aug_check_config(cfg, err) < 0 || tgc_frontend_build(cfg, &m, err) < 0) {
        free(ignored);
        tgc_cfg_free(cfg);
        return NULL;
    }
    m.target = tgc_target_find(o->target);
    if (!m.target) {
        tgc_fail(err, "unknown target '%s' (cpu or cuda)", o->target);
        free(ignored);
        tgc_module_free(&m);
        tgc_cfg_free(cfg);
        return NULL;
    }
    if (tgc_layout_option(o->layout, m.target, &m.layout, err) < 0) {
        free(ignored);
        tgc_module_free(&m);
        tgc_cfg_free(cfg);
        return NULL;
    }
    char note[256];
    tgc_amp_resolve(&m.amp, m.target, note, sizeof note);
    if (note[0] && !quiet) fprintf(stderr, "tgc: note: %s\n", note);
    tgc_pipeline_opts po;
    memset(&po, 0, sizeof po);
    po.dump_after = quiet ? NULL : o->dump;
    po.dump_to = stdout;
    po.n_disabled = o->n_disabled;
    for (int i = 0; i < o->n_disabled; i++) po.disabled[i] = o->disabled[i];
    tgc_plan *p = NULL;
    record_run_defaults(cfg, o->config);
    /* A detection plan of two orientations also carries the portrait programs (frontend/data.c). */
    tgc_input_spec spec;
    tgc_cfg *pcfg = NULL;
    int ok = tgc_frontend_input_spec(cfg, &spec, err) == 0 && (!spec.portrait || (pcfg = portrait_config(cfg, &spec, err)));
    if (ok && m.amp.dtype != TGC_F32) { /* the fp32 twin's arena: the largest program's, both orientations */
        uint64_t b = 0;
        ok = fp32_arena(cfg, &po, m.target, m.layout, &m.amp.fp32_arena_bytes, err) == 0 &&
             (!pcfg || fp32_arena(pcfg, &po, m.target, m.layout, &b, err) == 0);
        m.amp.fp32_arena_bytes = TGC_MAX(m.amp.fp32_arena_bytes, b);
    }
    if (ok && tgc_run_pipeline(&m, &po, err) == 0) p = tgc_plan_from_module(&m, cfg, err);
    fflush(stdout);
    if (p && pcfg && add_portrait(pcfg, &m, &po, p, err) < 0) {
        tgc_plan_free(p);
        p = NULL;
    }
    tgc_module_free(&m);
    tgc_cfg_free(pcfg);
    tgc_cfg_free(cfg);
    if (!p) {
        free(ignored);
        return NULL;
    }
    if (ignored[0]) p->ignored = ignored;
    else free(ignored);
    if (tgc_plan_validate(p, err) < 0) {
        tgc_err_prefix(err, "internal error: the compiled plan is invalid");
        tgc_plan_free(p);
        return NULL;
    }
    return p;
}

/* Needs of the plan at train batch b: 0 = fits, 1 = does not, -1 = the compile failed. */
static int fits_at(const compile_opts *o, int64_t b, uint64_t *need, tgc_err *err) {
    char opt[64];
    snprintf(opt, sizeof opt, "train_dataloader.batch_size=%lld", (long long)b);
    tgc_plan *p = compile_plan(o, opt, 1, err);
    if (!p) return tgc_err_prefix(err, "at train batch %lld", (long long)b);
    *need = device_bytes(p);
    tgc_plan_free(p);
    return *need <= o->limit ? 0 : 1;
}

/* Reports whether the plan fits the limit and the largest train batch that would (binary search over
 * recompilations; the plan's memory grows with the batch). */
static int report_limit(const compile_opts *o, const tgc_plan *p, tgc_err *err) {
    char b1[32], b2[32], b3[32], b4[32], b5[48] = "";
    uint64_t need = device_bytes(p), ws = p->target.workspace_bytes;
    if (ws) snprintf(b5, sizeof b5, " + %s workspace", mib(ws, b1, sizeof b1));
    fprintf(stderr, "memory limit %s: the plan needs %s per device (arena %s + slabs %s%s): %s\n",
            mib(o->limit, b1, sizeof b1), mib(need, b2, sizeof b2), mib(p->slab_bytes[TGC_SLAB_ARENA], b3, sizeof b3),
            mib(need - ws - p->slab_bytes[TGC_SLAB_ARENA], b4, sizeof b4), b5, need <= o->limit ? "fits" : "does not fit");
    const tgc_program *tr = tgc_plan_program(p, "train");
    if (!tr || tr->batch < 1) return 0;
    int64_t lo, hi; /* lo fits, hi does not */
    uint64_t n;
    int r;
    if (need <= o->limit) {
        lo = tr->batch;
        hi = lo;
        for (;;) {
            if (hi >= MAX_SEARCH_BATCH) {
                fprintf(stderr, "largest train batch that fits: at least %d\n", MAX_SEARCH_BATCH);
                return 0;
            }
            hi = TGC_MIN(hi * 2, MAX_SEARCH_BATCH);
            if ((r = fits_at(o, hi, &n, err)) < 0) return -1;
            if (r == 1) break;
            lo = hi;
        }
    } else {
        hi = tr->batch;
        if ((r = fits_at(o, 1, &n, err)) < 0) return -1;
        if (r == 1) {
            fprintf(stderr, "no train batch fits: at train batch 1 the plan still needs %s\n", mib(n, b1, sizeof b1));
            return 0;
        }
        lo = 1;
    }
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if ((r = fits_at(o, mid, &n, err)) < 0) return -1;
        if (r == 0) lo = mid;
        else hi = mid;
    }
    fits_at(o, lo, &n, err);
    fprintf(stderr, "largest train batch that fits: %lld (needs %s)\n", (long long)lo, mib(n, b1, sizeof b1));
    return 0;
}

static int parse_args(int argc, char **argv, compile_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return 1;
        int r;
        if ((r = tgc_opt_value("-o", argc, argv, &i, &val)) || (r = tgc_opt_value("--output", argc, argv, &i, &val))) {
            if (r < 0 || !*val) return tgc_usage_error("compile", "compile: %s needs a file name", a);
            o->output = val;
        } else if (!strcmp(a, "--cfg-options")) {
            int n = 0;
            while (i + 1 < argc && argv[i + 1][0] != '-' && strchr(argv[i + 1], '=')) {
                if (o->n_options == MAX_OPTIONS)
                    return tgc_usage_error("compile", "compile: more than %d --cfg-options", MAX_OPTIONS);
                o->options[o->n_options++] = argv[++i];
                n++;
            }
            if (!n) return tgc_usage_error("compile", "compile: --cfg-options needs KEY=VALUE items");
        } else if (!strcmp(a, "--dump-ir")) {
            o->dump = "*";
        } else if (!strncmp(a, "--dump-ir=", 10)) {
            o->dump = a + 10;
            if (strcmp(o->dump, "*") && strcmp(o->dump, "build") && !tgc_pass_find(o->dump))
                return tgc_usage_error("compile", "compile: --dump-ir: unknown pass '%s'", o->dump);
        } else if ((r = tgc_opt_value("--disable-pass", argc, argv, &i, &val))) {
            if (r < 0) return tgc_usage_error("compile", "compile: --disable-pass needs a pass name");
            const tgc_pass *ps = tgc_pass_find(val);
            if (!ps) return tgc_usage_error("compile", "compile: --disable-pass: unknown pass '%s'", val);
            if (!ps->optional) return tgc_usage_error("compile", "compile: pass '%s' cannot be disabled", val);
            if (o->n_disabled == (int)TGC_ARRAY_LEN(o->disabled))
                return tgc_usage_error("compile", "compile: too many --disable-pass");
            o->disabled[o->n_disabled++] = val;
        } else if (!strcmp(a, "--print-config")) {
            o->print_config = 1;
        } else if (!strcmp(a, "--strict")) {
            o->strict = 1;
        } else if (!strcmp(a, "--amp") || !strcmp(a, "--fp16")) {
            int want = !strcmp(a, "--fp16") ? 2 : 1;
            if (o->amp && o->amp != want) return tgc_usage_error("compile", "compile: --amp and --fp16 exclude each other");
            o->amp = want;
        } else if ((r = tgc_opt_value("--target", argc, argv, &i, &val))) {
            if (r < 0 || !tgc_target_find(val))
                return tgc_usage_error("compile", "compile: --target must be cpu or cuda");
            o->target = val;
        } else if ((r = tgc_opt_value("--layout", argc, argv, &i, &val))) {
            if (r < 0 || (strcmp(val, "row") && strcmp(val, "nhwc")))
                return tgc_usage_error("compile", "compile: --layout must be row or nhwc");
            o->layout = val;
        } else if ((r = tgc_opt_value("--memory-limit", argc, argv, &i, &val))) {
            if (r < 0 || parse_size(val, &o->limit) < 0)
                return tgc_usage_error("compile", "compile: --memory-limit needs a size such as 8GiB, 512MiB or "
                                                  "1073741824");
            o->has_limit = 1;
        } else if (a[0] == '-' && a[1]) {
            return tgc_usage_error("compile", "compile: unknown option '%s'", a);
        } else if (o->config) {
            return tgc_usage_error("compile", "compile: more than one config given ('%s', '%s')", o->config, a);
        } else {
            o->config = a;
        }
    }
    if (!o->config) return tgc_usage_error("compile", "compile: no config given");
    return 0;
}

int tgc_cmd_compile(int argc, char **argv) {
    compile_opts o;
    memset(&o, 0, sizeof o);
    o.output = "plan.bin";
    o.target = "cpu";
    int pr = parse_args(argc, argv, &o);
    if (pr == 1) {
        tgc_usage("compile", stdout);
        return TGC_EXIT_OK;
    }
    if (pr) return pr;

    double t0 = tgc_now();
    tgc_err err = {{0}};
    tgc_plan *p = compile_plan(&o, NULL, 0, &err);
    tgc_buf buf = {0};
    if (!p || tgc_plan_serialize(p, &buf, &err) < 0 || tgc_write_file_atomic(o.output, buf.data, buf.len, &err) < 0) {
        fprintf(stderr, "tgc: %s\n", err.msg);
        tgc_buf_free(&buf);
        tgc_plan_free(p);
        return TGC_EXIT_ERROR;
    }
    tgc_buf_free(&buf);
    double secs = tgc_now() - t0;
    tgc_report_ignored(p->ignored);

    const tgc_program *tr = tgc_plan_program(p, "train"), *ev = tgc_plan_program(p, "eval");
    tgc_mem_stats m = {0};
    for (int i = 0; i < p->n_programs; i++) {
        m.arena_bytes = TGC_MAX(m.arena_bytes, p->programs[i].mem.arena_bytes);
        m.lower_bound_bytes = TGC_MAX(m.lower_bound_bytes, p->programs[i].mem.lower_bound_bytes);
        m.naive_bytes = TGC_MAX(m.naive_bytes, p->programs[i].mem.naive_bytes);
    }
    char a[32], l[32], n[32];
    const char *both = tgc_plan_program(p, "train" TGC_PLAN_PORTRAIT) ? " (and their portrait twins)" : "";
    fprintf(stderr,
            "compiled %s: %lld params, %.4g GMACs/img, train %d ops / eval %d ops%s, arena %s (lower bound %s, "
            "naive %s), %d buckets, %.1f ms -> %s\n",
            o.config, (long long)p->params, p->macs_per_sample / 1e9, tr ? tr->n_instr : 0, ev ? ev->n_instr : 0, both,
            mib(m.arena_bytes, a, sizeof a), mib(m.lower_bound_bytes, l, sizeof l), mib(m.naive_bytes, n, sizeof n),
            tr ? tr->n_buckets : 0, secs * 1e3, o.output);
    int rc = TGC_EXIT_OK;
    if (o.has_limit && report_limit(&o, p, &err) < 0) {
        fprintf(stderr, "tgc: %s\n", err.msg);
        rc = TGC_EXIT_ERROR;
    }
    tgc_plan_free(p);
    return rc;
}

void tgc_report_ignored(const char *text) {
    if (text && text[0]) print_ignored(text, "warning");
}

int tgc_layout_option(const char *value, const tgc_target *t, tgc_layout *out, tgc_err *err) {
    if (!value) {
        *out = t->layout_default;
        return 0;
    }
    if (!strcmp(value, "row")) {
        *out = TGC_LAYOUT_ROW;
        return 0;
    }
    if (strcmp(value, "nhwc")) return tgc_fail(err, "--layout %s: the layouts are row and nhwc", value);
    if (!t->nhwc_ok)
        return tgc_fail(err, "--layout nhwc: target %s does not take NHWC yet (its kernels are row-major only): "
                             "compile with --layout row, or for --target cpu", t->name);
    *out = TGC_LAYOUT_NHWC;
    return 0;
}

tgc_plan *tgc_compile_config(const char *config, const char *target, const char *const *options, int n_options,
                             int strict, int amp, const char *layout, tgc_err *err) {
    compile_opts o;
    memset(&o, 0, sizeof o);
    o.config = config;
    o.target = target;
    o.layout = layout;
    o.strict = strict;
    o.amp = amp;
    if (n_options > MAX_OPTIONS) {
        tgc_fail(err, "more than %d --cfg-options", MAX_OPTIONS);
        return NULL;
    }
    for (int i = 0; i < n_options; i++) o.options[i] = options[i];
    o.n_options = n_options;
    tgc_plan *p = compile_plan(&o, NULL, amp ? 0 : 1, err);
    if (!p) return NULL;
    /* once per job: the workers of a launch (RANK set) compile again; rank 0's run log lists it too */
    if (!getenv("RANK")) tgc_report_ignored(p->ignored);
    /* Through the serialized form, so that the plan's checksum is the one `tgc compile` would write and
     * checkpoints of `tgc train` and `tgc run` of the same config are interchangeable. */
    tgc_buf buf = {0};
    tgc_plan *q = NULL;
    if (tgc_plan_serialize(p, &buf, err) == 0) q = tgc_plan_deserialize(buf.data, buf.len, config, err);
    tgc_buf_free(&buf);
    tgc_plan_free(p);
    return q;
}
