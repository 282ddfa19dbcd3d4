/* driver/cmd_convert.c - `tgc convert CONFIG [-o OUT.yaml] [--no-merge]`: a config (.py or YAML) written as
 * YAML, merged with its bases (what `tgc compile --print-config` shows) or as the file alone. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "driver/driver.h"
#include "frontend/cfg.h"

#define MAX_OPTIONS 256

/* The directory part of path ("." when none), as a new string. */
static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? tgc_asprintf("%.*s", (int)(slash == path ? 1 : slash - path), path) : tgc_strdup(".");
}

/* `to` relative to the directory `from` (both absolute, canonical). */
static char *relative(const char *from, const char *to) {
    size_t common = 0, i = 0;
    while (from[i] && to[i] && from[i] == to[i]) {
        if (from[i] == '/') common = i;
        i++;
    }
    if (!from[i] && (to[i] == '/' || !to[i])) common = i;
    tgc_buf b = {0};
    for (const char *p = from + common; *p; p++)
        if (*p == '/') tgc_buf_printf(&b, "../");
    tgc_buf_printf(&b, "%s", to[common] == '/' ? to + common + 1 : to + common);
    tgc_buf_put(&b, "", 1);
    char *r = tgc_strdup((const char *)b.data);
    tgc_buf_free(&b);
    return r;
}

/* The unmerged form written elsewhere: relative `_base_` paths are rewritten to stay relative to the output
 * (they were relative to the config). Paths that cannot be resolved are left as written. */
static void rebase(tgc_cfg *cfg, const char *config, const char *output) {
    tgc_cfg *bases = tgc_cfg_get(cfg, "_base_");
    if (!bases) return;
    char *cdir = dir_of(config), *odir = dir_of(output);
    char *rc = realpath(cdir, NULL), *ro = realpath(odir, NULL);
    int n = bases->kind == TGC_CFG_STR ? 1 : bases->n;
    for (int i = 0; rc && ro && strcmp(rc, ro) && i < n; i++) {
        tgc_cfg *b = bases->kind == TGC_CFG_STR ? bases : bases->items[i];
        if (b->kind != TGC_CFG_STR || b->s[0] == '/') continue;
        char *joined = tgc_asprintf("%s/%s", rc, b->s);
        char *real = realpath(joined, NULL);
        if (real) {
            free(b->s);
            b->s = relative(ro, real);
        }
        free(real);
        free(joined);
    }
    free(rc);
    free(ro);
    free(cdir);
    free(odir);
}

int tgc_cmd_convert(int argc, char **argv) {
    const char *config = NULL, *output = NULL;
    const char *options[MAX_OPTIONS];
    int n_options = 0, no_merge = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        int r;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            tgc_usage("convert", stdout);
            return TGC_EXIT_OK;
        }
        if ((r = tgc_opt_value("-o", argc, argv, &i, &val)) || (r = tgc_opt_value("--output", argc, argv, &i, &val))) {
            if (r < 0 || !*val) return tgc_usage_error("convert", "convert: %s needs a file name", a);
            output = val;
        } else if (!strcmp(a, "--no-merge")) {
            no_merge = 1;
        } else if (!strcmp(a, "--cfg-options")) {
            int n = 0;
            while (i + 1 < argc && argv[i + 1][0] != '-' && strchr(argv[i + 1], '=')) {
                if (n_options == MAX_OPTIONS) return tgc_usage_error("convert", "convert: more than %d --cfg-options", MAX_OPTIONS);
                options[n_options++] = argv[++i];
                n++;
            }
            if (!n) return tgc_usage_error("convert", "convert: --cfg-options needs KEY=VALUE items");
        } else if (a[0] == '-' && a[1]) {
            return tgc_usage_error("convert", "convert: unknown option '%s'", a);
        } else if (config) {
            return tgc_usage_error("convert", "convert: more than one config given ('%s', '%s')", config, a);
        } else {
            config = a;
        }
    }
    if (!config) return tgc_usage_error("convert", "convert: no config given");
    if (no_merge && n_options)
        return tgc_usage_error("convert", "convert: --cfg-options apply to the merged config; drop --no-merge");
    tgc_err err = {{0}};
    tgc_cfg *cfg = no_merge ? tgc_cfg_load_unmerged(config, &err) : tgc_cfg_load(config, &err);
    int ok = cfg != NULL;
    for (int i = 0; ok && i < n_options; i++)
        if (tgc_cfg_apply_option(cfg, options[i], &err) < 0) {
            tgc_err_prefix(&err, "--cfg-options %s", options[i]);
            ok = 0;
        }
    if (ok && !no_merge) ok = tgc_cfg_translate_legacy(cfg, stderr, &err) == 0;
    if (ok && no_merge && output && strcmp(output, "-")) rebase(cfg, config, output);
    if (!ok) {
        fprintf(stderr, "tgc: %s\n", err.msg);
        tgc_cfg_free(cfg);
        return TGC_EXIT_ERROR;
    }
    int rc = TGC_EXIT_OK;
    if (!output || !strcmp(output, "-")) {
        tgc_cfg_dump(cfg, stdout);
    } else {
        char *text = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&text, &len);
        if (!m) {
            fprintf(stderr, "tgc: convert: out of memory\n");
            tgc_cfg_free(cfg);
            return TGC_EXIT_ERROR;
        }
        fprintf(m, "# converted by tgc convert from %s (%s)\n", config, no_merge ? "this file only" : "merged with its bases");
        tgc_cfg_dump(cfg, m);
        fclose(m);
        if (tgc_write_file_atomic(output, text, len, &err) < 0) {
            fprintf(stderr, "tgc: %s\n", err.msg);
            rc = TGC_EXIT_ERROR;
        } else {
            fprintf(stderr, "converted %s -> %s\n", config, output);
        }
        free(text);
    }
    tgc_cfg_free(cfg);
    return rc;
}
