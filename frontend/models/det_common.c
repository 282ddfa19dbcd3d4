/* frontend/models/det_common.c - see det_common.h. */
#include "frontend/models/det_common.h"

#include <math.h>

int tgc_detm_neutral(const tgc_cfg *c) { return !c || c->kind == TGC_CFG_NULL; }

int tgc_detm_want_map(tgc_err *err, const tgc_cfg *parent, const char *key, const tgc_cfg **out) {
    const tgc_cfg *c = tgc_cfg_get(parent, key);
    *out = NULL;
    if (tgc_detm_neutral(c)) return 0;
    if (c->kind != TGC_CFG_MAP) return tgc_cfg_fail(err, c, "expected a map, got %s", tgc_cfg_kind_name(c->kind));
    *out = c;
    return 0;
}

/* A list of numbers (ints or floats). */
int tgc_detm_read_numbers(tgc_err *err, const tgc_cfg *map, const char *key, double *out, int max, int *n) {
    const tgc_cfg *c = tgc_cfg_get(map, key);
    *n = 0;
    if (tgc_detm_neutral(c)) return 0;
    if (c->kind != TGC_CFG_LIST && c->kind != TGC_CFG_TUPLE)
        return tgc_cfg_fail(err, c, "expected a list of numbers, got %s", tgc_cfg_kind_name(c->kind));
    if (c->n > max) return tgc_cfg_fail(err, c, "at most %d entries", max);
    for (int i = 0; i < c->n; i++) {
        const tgc_cfg *x = c->items[i];
        if (x->kind != TGC_CFG_INT && x->kind != TGC_CFG_FLOAT)
            return tgc_cfg_fail(err, x, "expected a number, got %s", tgc_cfg_kind_name(x->kind));
        out[i] = x->kind == TGC_CFG_INT ? (double)x->i : x->f;
    }
    *n = c->n;
    return 0;
}

int tgc_detm_declare_conv(tgc_bctx *b, const char *name, int64_t cin, int64_t cout, int64_t k, tgc_init_rule wr,
                         tgc_init_rule br, tgc_detm_conv *cs) {
    size_t saved = tgc_b_enter(b, "%s", name);
    int64_t fan_in = cin * k * k, fan_out = cout * k * k;
    cs->k = k;
    cs->w = tgc_b_param(b, "weight", tgc_shape4(cout, cin, k, k), tgc_init_resolve(wr, fan_in, fan_out, 0));
    cs->bias = cs->w < 0 ? -1 : tgc_b_param(b, "bias", tgc_shape1(cout), tgc_init_resolve(br, fan_in, fan_out, 1));
    tgc_b_leave(b, saved);
    return cs->bias < 0 ? -1 : 0;
}

int tgc_detm_apply_conv(tgc_bctx *b, int x, const tgc_detm_conv *cs, int64_t stride, const char *scope) {
    tgc_attrs a = tgc_attrs_default();
    a.stride[0] = a.stride[1] = stride;
    a.pad[0] = a.pad[1] = a.pad[2] = a.pad[3] = cs->k / 2;
    int y = x < 0 ? -1 : tgc_emit1(b->g, TGC_OP_CONV2D, &a, scope, b->err, 2, x, cs->w);
    tgc_attrs ba = tgc_attrs_default();
    ba.axis = 1;
    return y < 0 ? -1 : tgc_emit1(b->g, TGC_OP_BIAS_ADD, &ba, scope, b->err, 2, y, cs->bias);
}

int tgc_detm_read_anchor_generator(tgc_bctx *b, const tgc_cfg *head, tgc_detm_anchor_cfg *ac) {
    const tgc_cfg *ag;
    if (tgc_detm_want_map(b->err, head, "anchor_generator", &ag) < 0) return -1;
    if (!ag) return tgc_b_fail_key(b->err, head, "anchor_generator", "missing: the head needs an anchor_generator");
    static const char *const keys[] = {"octave_base_scale", "scales_per_octave", "scales", "ratios", "strides",
                                       "base_sizes", "center_offset", "scale_major", "centers", NULL};
    static const char *const types[] = {"AnchorGenerator", NULL};
    const char *type;
    if (tgc_b_check_keys(b->err, ag, "AnchorGenerator", keys) < 0 || tgc_b_choice(b->err, ag, "type", "AnchorGenerator", types, &type) < 0 ||
        tgc_b_require_null(b->err, ag, "centers", "explicit anchor centers") < 0)
        return -1;
    double ratios[16], scales[16];
    int nr, ns;
    if (tgc_detm_read_numbers(b->err, ag, "ratios", ratios, 16, &nr) < 0 || tgc_detm_read_numbers(b->err, ag, "scales", scales, 16, &ns) < 0)
        return -1;
    if (nr < 1) return tgc_b_fail_key(b->err, ag, "ratios", "missing: the anchor generator needs ratios");
    int64_t spo = 0;
    for (int i = 0; i < nr; i++)
        if (!(ratios[i] > 0)) return tgc_b_fail_key(b->err, ag, "ratios", "entry %d is %g, not positive", i, ratios[i]);
    for (int i = 0; i < ns; i++)
        if (!(scales[i] > 0)) return tgc_b_fail_key(b->err, ag, "scales", "entry %d is %g, not positive", i, scales[i]);
    for (int i = 0; i < ns; i++) ac->scales[i] = (float)scales[i];
    if (tgc_cfg_get(ag, "octave_base_scale")) {
        if (ns) return tgc_b_fail_key(b->err, ag, "scales", "give either scales or octave_base_scale with scales_per_octave");
        double obs;
        if (tgc_cfg_int(ag, "scales_per_octave", 0, &spo, b->err) < 0 ||
            tgc_cfg_float(ag, "octave_base_scale", 0, &obs, b->err) < 0)
            return -1;
        if (spo < 1 || spo > 16) return tgc_b_fail_key(b->err, ag, "scales_per_octave", "must be in 1..16");
        if (!(obs > 0)) return tgc_b_fail_key(b->err, ag, "octave_base_scale", "must be positive");
        ns = (int)spo;
        for (int i = 0; i < ns; i++) ac->scales[i] = (float)(pow(2.0, (double)i / (double)spo) * obs); /* float64, stored float32 */
    }
    for (int i = 0; i < nr; i++) ac->ratios[i] = (float)ratios[i];
    ac->n_ratios = nr, ac->n_scales = ns;
    double bsz[TGC_DETM_MAX_LEVELS], co;
    if (tgc_detm_read_numbers(b->err, ag, "base_sizes", bsz, TGC_DETM_MAX_LEVELS, &ac->n_base_sizes) < 0 ||
        tgc_cfg_float(ag, "center_offset", 0, &co, b->err) < 0 || tgc_cfg_bool(ag, "scale_major", 1, &ac->scale_major, b->err) < 0)
        return -1;
    for (int i = 0; i < ac->n_base_sizes; i++) ac->base_sizes[i] = (float)bsz[i];
    if (!(co >= 0 && co <= 1)) return tgc_b_fail_key(b->err, ag, "center_offset", "must be in [0, 1]");
    ac->center_offset = (float)co;
    if (ns < 1) return tgc_b_fail_key(b->err, ag, "scales", "missing: give scales or octave_base_scale and scales_per_octave");
    ac->n_base = nr * ns;
    int n = 0;
    if (!tgc_cfg_get(ag, "strides")) return tgc_b_fail_key(b->err, ag, "strides", "missing: the anchor generator needs strides");
    if (tgc_cfg_ints(ag, "strides", ac->strides, TGC_DETM_MAX_LEVELS, &n, b->err) < 0) return -1;
    ac->n_strides = n;
    for (int i = 0; i < n; i++)
        if (ac->strides[i] < 1 || ac->strides[i] > 4096) return tgc_b_fail_key(b->err, ag, "strides", "entry %d must be in 1..4096", i);
    if (ac->n_base_sizes && ac->n_base_sizes != n)
        return tgc_b_fail_key(b->err, ag, "base_sizes", "%d entries for %d strides", ac->n_base_sizes, n);
    return 0;
}

int tgc_detm_level_rows(tgc_bctx *b, int y, int64_t k) {
    const tgc_shape s = *tgc_b_shape(b, y);
    int t = tgc_b_op1(b, TGC_OP_TO_NHWC, NULL, y);
    tgc_attrs a = tgc_attrs_default();
    a.shape.rank = 3;
    a.shape.d[0] = s.d[0], a.shape.d[1] = s.d[1] / k * s.d[2] * s.d[3], a.shape.d[2] = k;
    return t < 0 ? -1 : tgc_b_op1(b, TGC_OP_RESHAPE, &a, t);
}

/* Each level's rows copied once per level above it. */
int tgc_detm_concat_all(tgc_bctx *b, const int *v, int n, int64_t axis) {
    int y = v[n - 1];
    tgc_attrs a = tgc_attrs_default();
    a.axis = axis;
    for (int i = n - 2; i >= 0 && y >= 0; i--) y = tgc_emit1(b->g, TGC_OP_CONCAT, &a, b->prefix, b->err, 2, v[i], y);
    return y;
}


void tgc_detm_base_anchors_of(const tgc_detm_anchor_cfg *ac, int level, float *out) {
    int nr = ac->n_ratios, ns = ac->n_scales;
    float base = ac->n_base_sizes ? ac->base_sizes[level] : (float)ac->strides[level];
    float xc = ac->center_offset * base, yc = ac->center_offset * base;
    for (int i = 0; i < nr; i++) {
        float hr = sqrtf(ac->ratios[i]), wr = 1.0f / hr;
        for (int j = 0; j < ns; j++) {
            int k = ac->scale_major ? i * ns + j : j * nr + i;
            float ws = ac->scale_major ? base * wr * ac->scales[j] : base * ac->scales[j] * wr;
            float hs = ac->scale_major ? base * hr * ac->scales[j] : base * ac->scales[j] * hr;
            out[4 * k + 0] = xc - 0.5f * ws;
            out[4 * k + 1] = yc - 0.5f * hs;
            out[4 * k + 2] = xc + 0.5f * ws;
            out[4 * k + 3] = yc + 0.5f * hs;
        }
    }
}
