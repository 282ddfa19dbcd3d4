/* frontend/models/image_classifier.c - MMPretrain's ImageClassifier: backbone -> neck (optional) -> head. */
#include "frontend/registry.h"

int tgc_build_image_classifier(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out) {
    static const char *const keys[] = {"backbone", "neck", "head", "pretrained", "train_cfg", "data_preprocessor",
                                       "init_cfg", NULL};
    if (tgc_b_check_keys(b->err, node, "ImageClassifier", keys) < 0 ||
        tgc_b_require_null(b->err, node, "pretrained", "loading pretrained weights in the model config") < 0 ||
        tgc_b_init_cfg(b->err, node) < 0)
        return -1;
    /* train_cfg carries batch augments (Mixup, CutMix), which change the labels into soft targets. */
    const tgc_cfg *tc = tgc_cfg_get(node, "train_cfg");
    if (tc && tc->kind == TGC_CFG_MAP && tgc_b_require_null(b->err, tc, "augments", "batch augments") < 0) return -1;
    if (tc && tc->kind != TGC_CFG_MAP && tc->kind != TGC_CFG_NULL)
        return tgc_cfg_fail(b->err, tc, "expected a map, got %s", tgc_cfg_kind_name(tc->kind));

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
