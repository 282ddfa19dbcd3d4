/* runtime/runner/hook_vis.c - MMEngine's LocalVisBackend (scalars.json) and TensorboardVisBackend (event files). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runner/hooks.h"

/* Which backends visualizer.vis_backends lists (absent: LocalVisBackend only, as MMEngine's default). */
static int read_backends(const tgc_cfg *root, int *tensorboard, tgc_err *err) {
    *tensorboard = 0;
    const tgc_cfg *vis = tgc_cfg_get(root, "visualizer");
    if (!vis || vis->kind == TGC_CFG_NULL) return 0;
    if (vis->kind != TGC_CFG_MAP) return tgc_cfg_fail(err, vis, "visualizer must be a map");
    const tgc_cfg *bs = tgc_cfg_get(vis, "vis_backends");
    if (!bs || bs->kind == TGC_CFG_NULL) return 0;
    if (bs->kind == TGC_CFG_MAP) {
        const char *type;
        if (tgc_cfg_str(bs, "type", "", &type, err)) return -1;
        const char *dot = strrchr(type, '.');
        *tensorboard = !strcmp(dot ? dot + 1 : type, "TensorboardVisBackend");
        if (!*tensorboard && strcmp(dot ? dot + 1 : type, "LocalVisBackend"))
            return tgc_cfg_fail(err, bs, "unsupported vis backend '%s' (supported: LocalVisBackend, TensorboardVisBackend)",
                                type);
        return 0;
    }
    if (bs->kind != TGC_CFG_LIST && bs->kind != TGC_CFG_TUPLE) return tgc_cfg_fail(err, bs, "vis_backends must be a list");
    for (int i = 0; i < bs->n; i++) {
        const tgc_cfg *b = bs->items[i];
        if (b->kind != TGC_CFG_MAP) return tgc_cfg_fail(err, b, "a vis backend must be a map with a type");
        const char *type;
        if (tgc_cfg_str(b, "type", "", &type, err)) return -1;
        const char *dot = strrchr(type, '.');
        const char *t = dot ? dot + 1 : type;
        if (!strcmp(t, "TensorboardVisBackend")) *tensorboard = 1;
        else if (strcmp(t, "LocalVisBackend"))
            return tgc_cfg_fail(err, b, "unsupported vis backend '%s' (supported: LocalVisBackend, TensorboardVisBackend)",
                                type);
    }
    return 0;
}

int tgc_vis_open(tgc_vis *v, const tgc_cfg *root, const char *dir, tgc_err *err) {
    memset(v, 0, sizeof *v);
    int tb;
    if (read_backends(root, &tb, err) || tgc_mkdir_p(dir, err)) return -1;
    v->dir = tgc_strdup(dir);
    char *path = tgc_asprintf("%s/scalars.json", dir);
    v->json = fopen(path, "a");
    if (!v->json) {
        tgc_fail(err, "cannot open %s: %s", path, strerror(errno));
        free(path);
        tgc_vis_close(v, NULL);
        return -1;
    }
    free(path);
    if (tb && !(v->tb = tgc_tb_open(dir, err))) {
        tgc_vis_close(v, NULL);
        return -1;
    }
    return 0;
}

int tgc_vis_add_scalars(tgc_vis *v, const tgc_log_item *items, int n, int64_t step, tgc_err *err) {
    if (v->json) {
        char *line = tgc_logfmt_scalars_json(items, n, step);
        int bad = fprintf(v->json, "%s\n", line) < 0 || fflush(v->json) != 0;
        free(line);
        if (bad) return tgc_fail(err, "%s/scalars.json: write failed: %s", v->dir, strerror(errno));
    }
    for (int i = 0; v->tb && i < n; i++)
        if (tgc_tb_add_scalar(v->tb, items[i].name, items[i].value, step, -1.0, err)) return -1;
    return 0;
}

int tgc_vis_close(tgc_vis *v, tgc_err *err) {
    int rc = 0;
    if (v->json && fclose(v->json) != 0) rc = tgc_fail(err, "%s/scalars.json: close failed", v->dir);
    if (v->tb && tgc_tb_close(v->tb, err)) rc = -1;
    free(v->dir);
    memset(v, 0, sizeof *v);
    return rc;
}
