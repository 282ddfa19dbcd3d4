/* frontend/frontend.c - a loaded config -> the module: train and eval graphs, optimizer, bucket settings. */
#include <string.h>

#include "frontend/registry.h"

/* The width of the soft targets batch augments make: MMPretrain's data preprocessor one-hots the labels
 * to data_preprocessor.num_classes (else the head's num_classes, else the dataset's classes). */
static int target_classes(const tgc_cfg *root, const tgc_input_spec *spec, int64_t *out, tgc_err *err) {
    const tgc_cfg *pre = tgc_cfg_get(root, "data_preprocessor"), *head = tgc_cfg_at(root, "model.head");
    *out = spec->num_classes;
    if (head && head->kind == TGC_CFG_MAP && tgc_cfg_get(head, "num_classes") &&
        tgc_cfg_int(head, "num_classes", 0, out, err) < 0)
        return -1;
    if (pre && pre->kind == TGC_CFG_MAP && tgc_cfg_get(pre, "num_classes") &&
        tgc_cfg_int(pre, "num_classes", 0, out, err) < 0)
        return -1;
    if (*out < 1 || *out > 1000000)
        return tgc_b_fail_key(err, tgc_cfg_get(root, "model"), "train_cfg", "batch augments need the number of classes "
                              "(data_preprocessor.num_classes or the head's num_classes, in 1..1000000)");
    return 0;
}

/* Builds one graph: inputs, then the model (a classifier-kind part) in training or eval mode. */
/* mode: 1 train, 0 eval, 2 precise_bn (training-mode batch norm with momentum 1, no labels, the scores as
 * output: the forward PreciseBNHook runs to recompute the running statistics). */
static tgc_graph *build_graph(const tgc_cfg *root, const tgc_input_spec *spec, const char *desc, int mode,
                              int *out_value, tgc_err *err) {
    int training = mode != 0;
    const tgc_cfg *model = tgc_cfg_get(root, "model");
    if (!model || model->kind == TGC_CFG_NULL) {
        tgc_b_fail_key(err, root, "model", "missing: the config has no model");
        return NULL;
    }
    tgc_graph *g = tgc_graph_new(mode == 2 ? "precise_bn" : training ? "train" : "eval");
    int64_t batch = training ? spec->train_batch : spec->eval_batch;
    tgc_bctx b = {.g = g, .training = training, .labels = -1, .input_desc = desc, .err = err,
                  .bn_momentum = mode == 2 ? 1.0 : 0};
    int x = tgc_graph_input(g, "inputs", TGC_F32, tgc_shape4(batch, spec->channels, spec->height, spec->width));
    int detector = tgc_b_is_detector(model);
    if (detector && mode == 2) {
        tgc_b_fail_key(err, root, "custom_hooks", "PreciseBNHook is not supported for detectors");
        goto fail;
    }
    if (detector) {
        /* a detector's head declares its per-anchor targets itself (it knows the anchor count) */
    } else if (mode == 2) {
        /* no labels: the head returns its scores */
    } else if (training && tgc_b_batch_augments(model)) {
        int64_t classes;
        if (target_classes(root, spec, &classes, err) < 0) goto fail;
        b.labels = tgc_graph_input(g, "data_samples.gt_score", TGC_F32, tgc_shape2(batch, classes));
    } else if (training) {
        b.labels = tgc_graph_input(g, "data_samples.gt_label", TGC_I32, tgc_shape1(batch));
    }
    tgc_feats in = {1, {x}}, out;
    if (x < 0 || (mode == 1 && !detector && b.labels < 0)) {
        tgc_fail(err, "internal error: cannot declare the graph inputs");
        goto fail;
    }
    if (tgc_registry_build(&b, TGC_PART_CLASSIFIER, model, NULL, &in, &out) < 0) goto fail;
    if (out.n != 1) {
        tgc_fail(err, "internal error: the model returned %d values", out.n);
        goto fail;
    }
    const tgc_shape *s = &g->vals[out.v[0]].type.shape;
    if (mode == 1 ? s->rank != 0 : s->rank != (detector ? 3 : 2)) {
        char buf[96];
        tgc_shape_str(s, buf, sizeof buf);
        tgc_fail(err, "internal error: the %s graph's output has shape %s", g->name, buf);
        goto fail;
    }
    g->vals[out.v[0]].is_output = 1;
    *out_value = out.v[0];
    return g;
fail:
    tgc_graph_free(g);
    return NULL;
}

/* The two graphs must refer to the same state (same names, shapes, kinds): the eval program reads the
 * parameters and running statistics that the train program updates. */
static int check_same_state(const tgc_graph *a, const tgc_graph *b, tgc_err *err) {
    int na = 0, nb = 0;
    for (int i = 0; i < b->n_vals; i++)
        if (b->vals[i].kind == TGC_VAL_PARAM || b->vals[i].kind == TGC_VAL_BUFFER) nb++;
    for (int i = 0; i < a->n_vals; i++) {
        const tgc_value *v = &a->vals[i];
        if (v->kind != TGC_VAL_PARAM && v->kind != TGC_VAL_BUFFER) continue;
        na++;
        int j = tgc_graph_find(b, v->name);
        if (j < 0 || b->vals[j].kind != v->kind || !tgc_shape_eq(&b->vals[j].type.shape, &v->type.shape))
            return tgc_fail(err, "internal error: state '%s' of the %s graph differs in the %s graph", v->name,
                            a->name, b->name);
    }
    return na == nb ? 0 : tgc_fail(err, "internal error: the train and eval graphs declare different state");
}

static int read_buckets(const tgc_cfg *root, tgc_module *m, tgc_err *err) {
    m->bucket_cap_mb = 25;
    m->first_bucket_mb = 1;
    const tgc_cfg *w = tgc_cfg_get(root, "model_wrapper_cfg");
    if (!w || w->kind == TGC_CFG_NULL) return 0;
    if (w->kind != TGC_CFG_MAP) return tgc_cfg_fail(err, w, "expected a map, got %s", tgc_cfg_kind_name(w->kind));
    if (tgc_cfg_float(w, "bucket_cap_mb", 25, &m->bucket_cap_mb, err) < 0) return -1;
    if (m->bucket_cap_mb <= 0 || m->bucket_cap_mb > 65536)
        return tgc_b_fail_key(err, w, "bucket_cap_mb", "must be in (0, 65536]");
    return 0;
}

/* custom_hooks' EMAHook (MMEngine's, ExponentialMovingAverage of the parameters after every iteration):
 * its momentum, or 0 without one. A hook asking for what tgc does not do was listed and left alone by
 * frontend/ignored.c (tgc_b_ema_hook_implemented). */
static int read_ema(const tgc_cfg *root, double *momentum, tgc_err *err) {
    *momentum = 0;
    const tgc_cfg *h = tgc_b_ema_hook(root);
    if (!h || !tgc_b_ema_hook_implemented(h)) return 0;
    if (tgc_cfg_float(h, "momentum", 0.0002, momentum, err) < 0) return -1;
    if (!(*momentum > 0 && *momentum <= 1)) return tgc_b_fail_key(err, h, "momentum", "must be in (0, 1]");
    return 0;
}

int tgc_frontend_build(const tgc_cfg *root, tgc_module *m, tgc_err *err) {
    memset(m, 0, sizeof *m);
    if (!root || root->kind != TGC_CFG_MAP) return tgc_fail(err, "the config is not a map");
    tgc_input_spec spec;
    char desc[128];
    tgc_module tmp = {0};
    if (tgc_frontend_data(root, &spec, desc, sizeof desc, err) < 0) return -1;
    if (tgc_frontend_optim(root, &tmp.optim, err) < 0 || tgc_frontend_amp(root, &tmp.amp, err) < 0) return -1;
    if (read_buckets(root, &tmp, err) < 0 || read_ema(root, &tmp.ema_momentum, err) < 0) return -1;
    tmp.train = build_graph(root, &spec, desc, 1, &tmp.train_loss, err);
    if (!tmp.train) return -1;
    tmp.eval = build_graph(root, &spec, desc, 0, &tmp.eval_logits, err);
    if (tmp.eval && tgc_b_precise_bn_hook(root) && tgc_b_precise_bn_hook_implemented(tgc_b_precise_bn_hook(root))) {
        int logits;
        tmp.precise_bn = build_graph(root, &spec, desc, 2, &logits, err);
        if (!tmp.precise_bn || check_same_state(tmp.precise_bn, tmp.train, err) < 0) {
            tgc_module_free(&tmp);
            return -1;
        }
    }
    if (!tmp.eval || check_same_state(tmp.train, tmp.eval, err) < 0 || check_same_state(tmp.eval, tmp.train, err) < 0 ||
        tgc_frontend_paramwise(root, tmp.train, err) < 0 || tgc_frontend_paramwise(root, tmp.eval, err) < 0) {
        tgc_module_free(&tmp);
        return -1;
    }
    tmp.train_batch = spec.train_batch;
    tmp.eval_batch = spec.eval_batch;
    *m = tmp;
    return 0;
}
