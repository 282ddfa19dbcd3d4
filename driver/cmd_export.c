/* driver/cmd_export.c - `tgc export CKPT -o FILE.pth|FILE.safetensors [--plan PLAN]`: weights for PyTorch.
 *
 * Writes the checkpoint's parameters and buffers under their MMPretrain/MMDetection names (the plan's
 * names are PyTorch state-dict names already), adds BN's num_batches_tracked (the checkpoint's iteration
 * count) beside every running_mean, and leaves out the optimizer state. A .pth is
 * {"meta": {"cfg": CONFIG, ...}, "state_dict": OrderedDict}, which torch.load (also with weights_only=True)
 * and MMEngine's load_checkpoint read; a .safetensors file keeps the config in __metadata__.config. The
 * config is PLAN's resolved config as YAML (tgc checkpoints do not hold it: they are compared byte for
 * byte across runs that differ only in run-time options); without --plan, a "config" string the
 * checkpoint's meta may carry, else none.
 */
#include <stdlib.h>
#include <string.h>

#include "driver/driver.h"
#include "runtime/io/checkpoint.h"
#include "runtime/io/state_dict.h"

static const char *ext(const char *path) {
    const char *dot = strrchr(path, '.');
    return dot ? dot : "";
}

static char *plan_config(const char *plan_path, tgc_err *err) {
    tgc_plan *p = tgc_plan_load(plan_path, err);
    if (!p) return NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f) {
        tgc_cfg_dump(p->config, f);
        fclose(f);
    }
    tgc_plan_free(p);
    if (!text) tgc_fail(err, "%s: cannot print its config", plan_path);
    return text;
}

static int export(const char *in, const char *out, const char *plan, tgc_err *err) {
    tgc_ckpt *c = tgc_ckpt_load(in, NULL, err);
    if (!c) return -1;
    tgc_sd *sd = tgc_sd_new();
    int64_t iter = 0;
    const char *cfg = NULL;
    char *owned_cfg = NULL;
    tgc_ckpt_get_int(c, "iter", 0, &iter, NULL);
    if (tgc_ckpt_get_str(c, "config", NULL, &cfg, NULL) != 1) cfg = NULL;
    int rc = 0;
    if (plan) {
        if (!(owned_cfg = plan_config(plan, err))) rc = -1;
        cfg = owned_cfg;
    }
    for (int i = 0; i < tgc_ckpt_n_tensors(c) && rc == 0; i++) {
        const tgc_ckpt_tensor *t = tgc_ckpt_tensor_at(c, i);
        if (!strncmp(t->name, "optimizer.", 10)) continue;
        tgc_sd_add(sd, t->name, t->dtype, &t->shape, tgc_ckpt_data(c, t));
        size_t n = strlen(t->name);
        if (n > 13 && !strcmp(t->name + n - 13, ".running_mean")) {
            char *nbt = tgc_asprintf("%.*s.num_batches_tracked", (int)(n - 13), t->name);
            tgc_shape scalar = {0};
            tgc_sd_add(sd, nbt, TGC_I64, &scalar, &iter);
            free(nbt);
        }
    }
    if (rc == 0) {
        if (!strcmp(ext(out), ".safetensors")) rc = tgc_sd_save_safetensors(sd, cfg, out, err);
        else rc = tgc_sd_save_pth(sd, cfg, out, err);
    }
    if (rc == 0)
        printf("%s: %d tensors from %s (%s)\n", out, sd->n, in, cfg ? "with its config" : "no config: pass --plan PLAN to record it");
    free(owned_cfg);
    tgc_sd_free(sd);
    tgc_ckpt_free(c);
    return rc;
}

int tgc_cmd_export(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *plan = NULL, *v;
    for (int i = 1; i < argc; i++) {
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            tgc_usage("export", stdout);
            return TGC_EXIT_OK;
        }
        if ((r = tgc_opt_value("-o", argc, argv, &i, &v)) || (r = tgc_opt_value("--output", argc, argv, &i, &v))) {
            if (r < 0) return tgc_usage_error("export", "export: -o needs a file");
            out = v;
        } else if ((r = tgc_opt_value("--plan", argc, argv, &i, &v))) {
            if (r < 0) return tgc_usage_error("export", "export: --plan needs a plan");
            plan = v;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return tgc_usage_error("export", "export: unknown option '%s'", argv[i]);
        } else if (in) {
            return tgc_usage_error("export", "export: more than one checkpoint given ('%s', '%s')", in, argv[i]);
        } else {
            in = argv[i];
        }
    }
    if (!in) return tgc_usage_error("export", "export: no checkpoint given");
    if (!out) return tgc_usage_error("export", "export: no output given (-o FILE.pth or FILE.safetensors)");
    if (strcmp(ext(out), ".pth") && strcmp(ext(out), ".safetensors"))
        return tgc_usage_error("export", "export: %s: the output must end in .pth or .safetensors", out);
    tgc_err err = {{0}};
    if (export(in, out, plan, &err) < 0) {
        fprintf(stderr, "tgc: export: %s\n", err.msg);
        return TGC_EXIT_ERROR;
    }
    return TGC_EXIT_OK;
}
