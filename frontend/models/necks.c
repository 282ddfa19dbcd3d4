/* frontend/models/necks.c - necks: GlobalAveragePooling. */
#include "frontend/registry.h"

int tgc_build_gap_neck(tgc_bctx *b, const tgc_cfg *node, const tgc_feats *in, tgc_feats *out) {
    static const char *const keys[] = {"dim", "init_cfg", NULL};
    int64_t dim;
    if (tgc_b_check_keys(b->err, node, "GlobalAveragePooling", keys) < 0 ||
        tgc_cfg_int(node, "dim", 2, &dim, b->err) < 0)
        return -1;
    if (dim != 2) return tgc_b_fail_key(b->err, node, "dim", "only dim 2 (images) is supported, got %lld", (long long)dim);
    /* As MMPretrain's neck, every feature map of the tuple is pooled. */
    for (int i = 0; i < in->n; i++) {
        const tgc_shape *s = tgc_b_shape(b, in->v[i]);
        if (s->rank != 4) {
            char buf[96];
            tgc_shape_str(s, buf, sizeof buf);
            return tgc_b_fail_key(b->err, node, "type", "GlobalAveragePooling expects [N, C, H, W] features, got %s", buf);
        }
        int y = tgc_b_op1(b, TGC_OP_GLOBAL_AVG_POOL, NULL, in->v[i]);
        if (y < 0) return -1;
        out->v[i] = y;
    }
    out->n = in->n;
    return 0;
}
