/* driver/cmd_opt.c - `tgc opt FILE`: a module in the IR text form -> passes -> the IR text form (MLIR's
 * mlir-opt): pass tests start from small hand-written IR instead of a config. */
#include <stdlib.h>
#include <string.h>

#include "driver/driver.h"

#define MAX_PASSES 64
#define MAX_IR_BYTES ((size_t)1 << 30)

typedef struct opt_opts {
    const char *input, *output, *dump, *from, *target;
    const char *layout; /* --layout row|nhwc; NULL: NHWC when the text has an nhwc value, else ROW */
    tgc_dtype amp; /* --amp[=bf16|f16]; TGC_F32: off */
    const char *passes[MAX_PASSES];
    int n_passes;
    const char *disabled[32];
    int n_disabled;
} opt_opts;

static int parse_args(int argc, char **argv, opt_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        int r;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return 1;
        if ((r = tgc_opt_value("-o", argc, argv, &i, &val)) || (r = tgc_opt_value("--output", argc, argv, &i, &val))) {
            if (r < 0 || !*val) return tgc_usage_error("opt", "opt: %s needs a file name", a);
            o->output = val;
        } else if ((r = tgc_opt_value("--target", argc, argv, &i, &val))) {
            if (r < 0 || !tgc_target_find(val)) return tgc_usage_error("opt", "opt: --target must be cpu or cuda");
            o->target = val;
        } else if ((r = tgc_opt_value("--layout", argc, argv, &i, &val))) {
            if (r < 0 || (strcmp(val, "row") && strcmp(val, "nhwc")))
                return tgc_usage_error("opt", "opt: --layout must be row or nhwc");
            o->layout = val;
        } else if (!strcmp(a, "--amp") || !strcmp(a, "--amp=bf16")) {
            o->amp = TGC_BF16;
        } else if (!strcmp(a, "--amp=f16")) {
            o->amp = TGC_F16;
        } else if (!strncmp(a, "--amp=", 6)) {
            return tgc_usage_error("opt", "opt: --amp takes bf16 or f16, not '%s'", a + 6);
        } else if ((r = tgc_opt_value("--pass", argc, argv, &i, &val))) {
            if (r < 0) return tgc_usage_error("opt", "opt: --pass needs a pass name");
            if (!tgc_pass_find(val)) return tgc_usage_error("opt", "opt: --pass: unknown pass '%s'", val);
            if (o->n_passes == MAX_PASSES) return tgc_usage_error("opt", "opt: more than %d --pass", MAX_PASSES);
            o->passes[o->n_passes++] = val;
        } else if ((r = tgc_opt_value("--from", argc, argv, &i, &val))) {
            if (r < 0) return tgc_usage_error("opt", "opt: --from needs a pass name");
            if (!tgc_pass_find(val)) return tgc_usage_error("opt", "opt: --from: unknown pass '%s'", val);
            o->from = val;
        } else if ((r = tgc_opt_value("--disable-pass", argc, argv, &i, &val))) {
            if (r < 0) return tgc_usage_error("opt", "opt: --disable-pass needs a pass name");
            const tgc_pass *ps = tgc_pass_find(val);
            if (!ps) return tgc_usage_error("opt", "opt: --disable-pass: unknown pass '%s'", val);
            if (!ps->optional) return tgc_usage_error("opt", "opt: pass '%s' cannot be disabled", val);
            if (o->n_disabled == (int)TGC_ARRAY_LEN(o->disabled))
                return tgc_usage_error("opt", "opt: too many --disable-pass");
            o->disabled[o->n_disabled++] = val;
        } else if (!strcmp(a, "--dump-ir")) {
            o->dump = "*";
        } else if (!strncmp(a, "--dump-ir=", 10)) {
            o->dump = a + 10;
            if (strcmp(o->dump, "*") && !tgc_pass_find(o->dump))
                return tgc_usage_error("opt", "opt: --dump-ir: unknown pass '%s'", o->dump);
        } else if (a[0] == '-' && a[1]) {
            return tgc_usage_error("opt", "opt: unknown option '%s'", a);
        } else if (o->input) {
            return tgc_usage_error("opt", "opt: more than one input given ('%s', '%s')", o->input, a);
        } else {
            o->input = a;
        }
    }
    if (!o->input) return tgc_usage_error("opt", "opt: no input given (an IR file, or - for stdin)");
    if (o->n_passes && o->from) return tgc_usage_error("opt", "opt: --pass and --from do not go together");
    if (o->n_disabled && !o->from)
        return tgc_usage_error("opt", "opt: --disable-pass applies to --from's pipeline");
    if (o->dump && !o->n_passes && !o->from)
        return tgc_usage_error("opt", "opt: --dump-ir needs --pass or --from");
    if (o->dump && strcmp(o->dump, "*")) {
        /* the pass must be one that runs */
        int runs = 0;
        for (int i = 0; i < o->n_passes; i++) runs |= !strcmp(o->passes[i], o->dump);
        if (o->from) {
            int started = 0;
            for (int i = 0; i < tgc_passes_table_len; i++) {
                const char *name = tgc_passes_table[i].name;
                started |= !strcmp(name, o->from);
                int disabled = 0;
                for (int k = 0; k < o->n_disabled; k++) disabled |= !strcmp(o->disabled[k], name);
                runs |= started && !disabled && !strcmp(name, o->dump);
            }
        }
        if (!runs) return tgc_usage_error("opt", "opt: --dump-ir=%s: that pass does not run", o->dump);
    }
    return 0;
}

/* The whole of FILE, or of stdin for "-". */
static int read_input(const char *path, uint8_t **data, size_t *len, tgc_err *err) {
    if (strcmp(path, "-")) return tgc_read_file(path, MAX_IR_BYTES, data, len, err);
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = tgc_malloc(cap);
    for (;;) {
        if (n == cap) {
            if (cap >= MAX_IR_BYTES) {
                free(buf);
                return tgc_fail(err, "<stdin>: more than %zu bytes", MAX_IR_BYTES);
            }
            cap *= 2;
            buf = tgc_realloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n, stdin);
        n += got;
        if (got == 0) break;
    }
    if (ferror(stdin)) {
        free(buf);
        return tgc_fail(err, "<stdin>: read error");
    }
    *data = buf;
    *len = n;
    return 0;
}

int tgc_cmd_opt(int argc, char **argv) {
    opt_opts o;
    memset(&o, 0, sizeof o);
    int pr = parse_args(argc, argv, &o);
    if (pr == 1) {
        tgc_usage("opt", stdout);
        return TGC_EXIT_OK;
    }
    if (pr) return pr;

    tgc_err err = {{0}};
    const char *name = strcmp(o.input, "-") ? o.input : "<stdin>";
    uint8_t *text = NULL;
    size_t len = 0;
    tgc_module m;
    memset(&m, 0, sizeof m);
    char *out = NULL;
    size_t out_len = 0;
    FILE *f = NULL;
    int rc = TGC_EXIT_ERROR;
    if (read_input(o.input, &text, &len, &err) < 0) goto done;
    if (tgc_module_parse((const char *)text, len, name, &m, &err) < 0) goto done;
    if (o.target) m.target = tgc_target_find(o.target);
    /* the module's layout: --layout, else what the text says (tgc_module_parse: nhwc when a value is) */
    if (o.layout && tgc_layout_option(o.layout, tgc_module_target(&m), &m.layout, &err) < 0) goto done;
    m.amp.dtype = o.amp;
    if (o.amp == TGC_F16) m.amp.dynamic = 1, m.amp.init_scale = 65536.0, m.amp.growth_interval = 2000;
    if (tgc_pass_verify(&m, &err) < 0) {
        tgc_err_prefix(&err, "%s", name);
        goto done;
    }
    /* to stdout as it comes (dumps before a failing pass included), or through memory to -o atomically */
    f = o.output ? open_memstream(&out, &out_len) : stdout;
    if (!f) {
        tgc_fail(&err, "out of memory");
        goto done;
    }
    if (o.n_passes || o.from) {
        tgc_pipeline_opts po;
        memset(&po, 0, sizeof po);
        po.dump_after = o.dump;
        po.dump_to = f;
        po.only = o.passes;
        po.n_only = o.n_passes;
        po.from = o.from;
        po.n_disabled = o.n_disabled;
        for (int i = 0; i < o.n_disabled; i++) po.disabled[i] = o.disabled[i];
        if (tgc_run_pipeline(&m, &po, &err) < 0) goto done;
    }
    if (!o.dump) {
        tgc_graph_print(m.train, f);
        if (m.eval) tgc_graph_print(m.eval, f);
    }
    int bad = f == stdout ? fflush(f) != 0 || ferror(f) : fclose(f) != 0;
    f = NULL;
    if (bad) {
        tgc_fail(&err, "cannot write the output");
        goto done;
    }
    if (o.output && tgc_write_file_atomic(o.output, out, out_len, &err) < 0) goto done;
    rc = TGC_EXIT_OK;
done:
    if (f == stdout) fflush(f);
    else if (f) fclose(f);
    if (rc != TGC_EXIT_OK) fprintf(stderr, "tgc: %s\n", err.msg);
    free(out);
    free(text);
    tgc_module_free(&m);
    return rc;
}
