/* frontend/models/image_classifier.c - MMPretrain's ImageClassifier: backbone -> neck (optional) -> head. */
#include <string.h>

#include "frontend/registry.h"

/* The batch augments the runtime implements (runtime/data/data_batch_aug.c, which reads their values). */
static const char *const augment_types[] = {"Mixup", "CutMix", NULL};

const tgc_cfg *tgc_b_batch_augments(const tgc_cfg *model) {
    const tgc_cfg *tc = model && model->kind == TGC_CFG_MAP ? tgc_cfg_get(model, "train_cfg") : NULL;
    const tgc_cfg *aug = tc && tc->kind == TGC_CFG_MAP ? tgc_cfg_get(tc, "augments") : NULL;
    if (!aug || aug->kind == TGC_CFG_NULL || ((aug->kind == TGC_CFG_LIST || aug->kind == TGC_CFG_TUPLE) && !aug->n))
        return NULL;
    return aug;
}

int tgc_b_batch_augments_implemented(const tgc_cfg *aug) {
    int list = aug->kind == TGC_CFG_LIST || aug->kind == TGC_CFG_TUPLE;
    if (!list && aug->kind != TGC_CFG_MAP) return 0;
    for (int i = 0; i < (list ? aug->n : 1); i++) {
        const tgc_cfg *a = list ? aug->items[i] : aug;
        const tgc_cfg *t = a->kind == TGC_CFG_MAP ? tgc_cfg_get(a, "type") : NULL;
        int known = 0;
        for (int k = 0; t && t->kind == TGC_CFG_STR && augment_types[k]; k++) known |= !strcmp(t->s, augment_types[k]);
        if (!known) return 0;
    }
    return 1;
}

/* Keys of train_cfg and of each augment (values are the runtime's to check). */
static int check_augments(tgc_bctx *b, const tgc_cfg *tc) {
    static const char *const tkeys[] = {"augments", "probs", NULL};
    static const char *const mixup[] = {"alpha", NULL};
    static const char *const cutmix[] = {"alpha", "cutmix_minmax", "correct_lam", NULL};
    if (tgc_b_check_keys(b->err, tc, "model.train_cfg", tkeys) < 0) return -1;
    const tgc_cfg *aug = tgc_cfg_get(tc, "augments");
    int list = aug->kind != TGC_CFG_MAP;
    for (int i = 0; i < (list ? aug->n : 1); i++) {
        const tgc_cfg *a = list ? aug->items[i] : aug;
        const char *t = tgc_cfg_get(a, "type")->s;
        if (tgc_b_check_keys(b->err, a, t, !strcmp(t, "Mixup") ? mixup : cutmix) < 0) return -1;
        if (!tgc_cfg_get(a, "alpha")) return tgc_b_fail_key(b->err, a, "alpha", "missing: %s needs alpha", t);
    }
    return 0;
}

/* ---- EMAHook (custom_hooks; the `ema` graph of passes/optimizer.c) ----------------------------------- */
static const tgc_cfg *custom_hook(const tgc_cfg *root, const char *type) {
    const tgc_cfg *ch = root && root->kind == TGC_CFG_MAP ? tgc_cfg_get(root, "custom_hooks") : NULL;
    int list = ch && (ch->kind == TGC_CFG_LIST || ch->kind == TGC_CFG_TUPLE);
    for (int i = 0; ch && i < (list ? ch->n : 1); i++) {
        const tgc_cfg *h = list ? ch->items[i] : ch;
        const tgc_cfg *t = h->kind == TGC_CFG_MAP ? tgc_cfg_get(h, "type") : NULL;
        if (t && t->kind == TGC_CFG_STR && !strcmp(t->s, type)) return h;
    }
    return NULL;
}

const tgc_cfg *tgc_b_ema_hook(const tgc_cfg *root) { return custom_hook(root, "EMAHook"); }

const tgc_cfg *tgc_b_precise_bn_hook(const tgc_cfg *root) { return custom_hook(root, "PreciseBNHook"); }

/* num_samples and interval positive integers (the runtime reads them, runtime/runner/hook_precise_bn.c). */
int tgc_b_precise_bn_hook_implemented(const tgc_cfg *h) {
    for (int i = 0; i < h->n; i++) {
        const char *k = h->keys[i];
        const tgc_cfg *v = h->items[i];
        int ok = !strcmp(k, "type") || !strcmp(k, "priority") ||
                 ((!strcmp(k, "num_samples") || !strcmp(k, "interval")) && v->kind == TGC_CFG_INT && v->i >= 1);
        if (!ok) return 0;
    }
    return 1;
}

/* Keys with the values tgc implements: the hook's defaults (priority and strict_load change nothing). */
int tgc_b_ema_hook_implemented(const tgc_cfg *h) {
    for (int i = 0; i < h->n; i++) {
        const char *k = h->keys[i];
        const tgc_cfg *v = h->items[i];
        int zero = (v->kind == TGC_CFG_INT && v->i == 0) || v->kind == TGC_CFG_NULL;
        int ok = !strcmp(k, "type") || !strcmp(k, "priority") || !strcmp(k, "strict_load") ||
                 (!strcmp(k, "momentum") && (v->kind == TGC_CFG_FLOAT || v->kind == TGC_CFG_INT)) ||
                 (!strcmp(k, "update_buffers") && v->kind == TGC_CFG_BOOL && !v->b) ||
                 ((!strcmp(k, "begin_iter") || !strcmp(k, "begin_epoch")) && zero) ||
                 (!strcmp(k, "interval") && v->kind == TGC_CFG_INT && v->i == 1) ||
                 (!strcmp(k, "ema_type") && v->kind == TGC_CFG_STR && !strcmp(v->s, "ExponentialMovingAverage"));
        if (!ok) return 0;
    }
    return 1;
}

int tgc_build_image_classifier(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out) {
    static const char *const keys[] = {"backbone", "neck", "head", "pretrained", "train_cfg", "data_preprocessor",
                                       "init_cfg", NULL};
    if (tgc_b_check_keys(b->err, node, "ImageClassifier", keys) < 0 ||
        tgc_b_require_null(b->err, node, "pretrained", "loading pretrained weights in the model config") < 0 ||
        tgc_b_init_cfg(b->err, node) < 0)
        return -1;
    /* train_cfg carries batch augments (Mixup, CutMix), which change the labels into soft targets (the
     * train graph's data_samples.gt_score, frontend.c); others were left out by frontend/ignored.c. */
    const tgc_cfg *tc = tgc_cfg_get(node, "train_cfg");
    if (tc && tc->kind != TGC_CFG_MAP && tc->kind != TGC_CFG_NULL)
        return tgc_cfg_fail(b->err, tc, "expected a map, got %s", tgc_cfg_kind_name(tc->kind));
    const tgc_cfg *aug = tgc_b_batch_augments(node);
    if (aug && !tgc_b_batch_augments_implemented(aug))
        return tgc_cfg_fail(b->err, aug, "batch augments other than Mixup and CutMix are not supported");
    if (aug && check_augments(b, tc) < 0) return -1;

    const tgc_cfg *bb = tgc_cfg_get(node, "backbone"), *neck = tgc_cfg_get(node, "neck"), *head = tgc_cfg_get(node, "head");
    if (!bb) return tgc_b_fail_key(b->err, node, "backbone", "missing: ImageClassifier needs a backbone");
    if (!head || head->kind == TGC_CFG_NULL)
        return tgc_b_fail_key(b->err, node, "head", "missing: ImageClassifier needs a head");

    tgc_feats f, g;
    if (tgc_registry_build(b, TGC_PART_BACKBONE, bb, "backbone", in, &f) < 0) return -1;
    if (f.n < 1) return tgc_b_fail_key(b->err, node, "backbone", "the backbone returns no feature (check out_indices)");
    if (neck && neck->kind != TGC_CFG_NULL) {
        if (tgc_registry_build(b, TGC_PART_NECK, neck, "neck", &f, &g) < 0) return -1;
        f = g;
    }
    if (tgc_registry_build(b, TGC_PART_HEAD, head, "head", &f, &g) < 0) return -1;
    if (g.n < 1) return tgc_fail(b->err, "internal error: the head returned nothing");
    /* MMEngine sums every loss the head reports into the one that is optimised. */
    int y = g.v[0];
    for (int i = 1; i < g.n && y >= 0; i++) y = tgc_b_add(b, y, g.v[i]);
    if (y < 0) return -1;
    out->n = 1;
    out->v[0] = y;
    return 0;
}
