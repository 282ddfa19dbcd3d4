/* runtime/det/det_cfg.c - the detection structs from a config's dicts (anchor_generator, bbox_coder,
 * assigner, sampler, test_cfg), MMDetection's defaults for absent keys, every error naming the key path. */
#include <string.h>

#include "runtime/det/det.h"

/* "mmdet.X" and "X" name the same registry entry. */
static int check_type(const tgc_cfg *node, const char *what, const char *want, tgc_err *err) {
    if (!node || node->kind != TGC_CFG_MAP) return tgc_cfg_fail(err, node, "%s: expected a map", what);
    const char *t;
    if (tgc_cfg_str(node, "type", want, &t, err)) return -1;
    if (!strncmp(t, "mmdet.", 6)) t += 6;
    if (strcmp(t, want))
        return tgc_cfg_fail(err, tgc_cfg_get(node, "type"), "%s type '%s' is not supported (only %s)", what, t, want);
    return 0;
}

/* Every key of node must be in known (NULL-terminated). */
static int check_keys(const tgc_cfg *node, const char *what, const char *const *known, tgc_err *err) {
    for (int i = 0; i < node->n; i++) {
        int ok = 0;
        for (const char *const *k = known; *k && !ok; k++) ok = !strcmp(node->keys[i], *k);
        if (!ok) return tgc_cfg_fail(err, node->items[i], "%s: unknown or unsupported key '%s'", what, node->keys[i]);
    }
    return 0;
}

static int is_num(const tgc_cfg *v) {
    return v->kind == TGC_CFG_INT || v->kind == TGC_CFG_FLOAT;
}

static double num(const tgc_cfg *v) {
    return v->kind == TGC_CFG_INT ? (double)v->i : v->f;
}

static int is_seq(const tgc_cfg *v) {
    return v->kind == TGC_CFG_LIST || v->kind == TGC_CFG_TUPLE;
}

/* A list of numbers (exactly `exact` when > 0, else 1..max); *n gets the count. Absent: *n = 0. */
static int get_floats(const tgc_cfg *map, const char *key, float *out, int max, int exact, int *n, tgc_err *err) {
    const tgc_cfg *v = tgc_cfg_get(map, key);
    *n = 0;
    if (!v || v->kind == TGC_CFG_NULL) return 0;
    if (!is_seq(v)) return tgc_cfg_fail(err, v, "expected a list of numbers, got %s", tgc_cfg_kind_name(v->kind));
    if (exact > 0 && v->n != exact) return tgc_cfg_fail(err, v, "expected %d numbers, got %d", exact, v->n);
    if (v->n < 1 || v->n > max) return tgc_cfg_fail(err, v, "expected 1 to %d numbers, got %d", max, v->n);
    for (int i = 0; i < v->n; i++) {
        if (!is_num(v->items[i]))
            return tgc_cfg_fail(err, v->items[i], "expected a number, got %s", tgc_cfg_kind_name(v->items[i]->kind));
        out[i] = (float)num(v->items[i]);
    }
    *n = v->n;
    return 0;
}

static int get_f(const tgc_cfg *map, const char *key, float def, float *out, tgc_err *err) {
    double d;
    if (tgc_cfg_float(map, key, def, &d, err)) return -1;
    *out = (float)d;
    return 0;
}

static int get_i(const tgc_cfg *map, const char *key, int def, int *out, tgc_err *err) {
    int64_t v;
    if (tgc_cfg_int(map, key, def, &v, err)) return -1;
    if (v < -2147483647 || v > 2147483647) return tgc_cfg_fail(err, tgc_cfg_get(map, key), "%lld is out of range", (long long)v);
    *out = (int)v;
    return 0;
}

/* A boolean key that must keep its default (an option this implementation does not have). */
static int must_be(const tgc_cfg *map, const char *key, int want, tgc_err *err) {
    int b;
    if (tgc_cfg_bool(map, key, want, &b, err)) return -1;
    if (b != want)
        return tgc_cfg_fail(err, tgc_cfg_get(map, key), "%s: %s is not supported", key, want ? "false" : "true");
    return 0;
}

int tgc_det_anchor_cfg_from(const tgc_cfg *node, tgc_det_anchor_cfg *c, tgc_err *err) {
    static const char *const known[] = {"type", "strides", "ratios", "scales", "base_sizes", "scale_major",
                                        "octave_base_scale", "scales_per_octave", "centers", "center_offset",
                                        "use_box_type", NULL};
    memset(c, 0, sizeof *c);
    c->scale_major = 1;
    if (check_type(node, "anchor_generator", "AnchorGenerator", err) || check_keys(node, "anchor_generator", known, err))
        return -1;
    const tgc_cfg *s = tgc_cfg_get(node, "strides");
    if (!s || !is_seq(s) || s->n < 1) return tgc_cfg_fail(err, s ? s : node, "strides: expected a non-empty list");
    if (s->n > TGC_DET_MAX_LEVELS) return tgc_cfg_fail(err, s, "at most %d levels are supported", TGC_DET_MAX_LEVELS);
    c->num_levels = s->n;
    for (int l = 0; l < s->n; l++) {
        const tgc_cfg *e = s->items[l];
        if (e->kind == TGC_CFG_INT) {
            c->strides[l][0] = c->strides[l][1] = (int)e->i;
        } else if (is_seq(e) && e->n == 2 && e->items[0]->kind == TGC_CFG_INT && e->items[1]->kind == TGC_CFG_INT) {
            c->strides[l][0] = (int)e->items[0]->i;
            c->strides[l][1] = (int)e->items[1]->i;
        } else {
            return tgc_cfg_fail(err, e, "expected an integer stride or a (w, h) pair");
        }
        if (c->strides[l][0] < 1 || c->strides[l][1] < 1 || c->strides[l][0] > 65536 || c->strides[l][1] > 65536)
            return tgc_cfg_fail(err, e, "stride out of range 1..65536");
    }
    if (get_floats(node, "ratios", c->ratios, TGC_DET_MAX_RATIOS, 0, &c->num_ratios, err)) return -1;
    if (!c->num_ratios) return tgc_cfg_fail(err, node, "anchor_generator: ratios is required");
    for (int i = 0; i < c->num_ratios; i++)
        if (!(c->ratios[i] > 0)) return tgc_cfg_fail(err, tgc_cfg_get(node, "ratios")->items[i], "ratio is not positive");
    if (get_floats(node, "scales", c->scales, TGC_DET_MAX_SCALES, 0, &c->num_scales, err)) return -1;
    double obs;
    if (tgc_cfg_float(node, "octave_base_scale", 0, &obs, err) ||
        get_i(node, "scales_per_octave", 0, &c->scales_per_octave, err))
        return -1;
    c->octave_base_scale = obs;
    if (c->num_scales > 0 && (obs != 0 || c->scales_per_octave != 0))
        return tgc_cfg_fail(err, tgc_cfg_get(node, "scales"), "scales and octave_base_scale/scales_per_octave are exclusive");
    if (c->num_scales == 0 && !(obs > 0 && c->scales_per_octave >= 1 && c->scales_per_octave <= TGC_DET_MAX_SCALES))
        return tgc_cfg_fail(err, node, "anchor_generator: needs scales, or octave_base_scale > 0 and scales_per_octave 1..%d",
                            TGC_DET_MAX_SCALES);
    int nb;
    if (get_floats(node, "base_sizes", c->base_sizes, TGC_DET_MAX_LEVELS, c->num_levels, &nb, err)) return -1;
    c->has_base_sizes = nb > 0;
    if (tgc_cfg_bool(node, "scale_major", 1, &c->scale_major, err) ||
        get_f(node, "center_offset", 0, &c->center_offset, err) || must_be(node, "use_box_type", 0, err))
        return -1;
    const tgc_cfg *ce = tgc_cfg_get(node, "centers");
    if (ce && ce->kind != TGC_CFG_NULL) return tgc_cfg_fail(err, ce, "centers is not supported (use center_offset)");
    if (!(c->center_offset >= 0 && c->center_offset <= 1))
        return tgc_cfg_fail(err, tgc_cfg_get(node, "center_offset"), "expected 0 <= center_offset <= 1");
    return tgc_det_anchor_cfg_check(c, err);
}

int tgc_det_coder_cfg_from(const tgc_cfg *node, tgc_det_coder_cfg *c, tgc_err *err) {
    static const char *const known[] = {"type", "target_means", "target_stds", "clip_border", "add_ctr_clamp",
                                        "ctr_clamp", "use_box_type", NULL};
    tgc_det_coder_cfg_default(c);
    if (check_type(node, "bbox_coder", "DeltaXYWHBBoxCoder", err) || check_keys(node, "bbox_coder", known, err))
        return -1;
    int n;
    if (get_floats(node, "target_means", c->means, 4, 4, &n, err) || get_floats(node, "target_stds", c->stds, 4, 4, &n, err))
        return -1;
    for (int k = 0; k < 4 && n; k++)
        if (!(c->stds[k] > 0)) return tgc_cfg_fail(err, tgc_cfg_get(node, "target_stds")->items[k], "std is not positive");
    if (tgc_cfg_bool(node, "clip_border", 1, &c->clip_border, err) ||
        tgc_cfg_bool(node, "add_ctr_clamp", 0, &c->add_ctr_clamp, err) ||
        tgc_cfg_float(node, "ctr_clamp", 32, &c->ctr_clamp, err) || must_be(node, "use_box_type", 0, err))
        return -1;
    return 0;
}

int tgc_det_assigner_cfg_from(const tgc_cfg *node, tgc_det_assigner_cfg *c, tgc_err *err) {
    static const char *const known[] = {"type", "pos_iou_thr", "neg_iou_thr", "min_pos_iou", "gt_max_assign_all",
                                        "ignore_iof_thr", "ignore_wrt_candidates", "match_low_quality",
                                        "gpu_assign_thr", "iou_calculator", NULL};
    tgc_det_assigner_cfg_default(c, 0, 0);
    if (check_type(node, "assigner", "MaxIoUAssigner", err) || check_keys(node, "assigner", known, err)) return -1;
    const tgc_cfg *p = tgc_cfg_get(node, "pos_iou_thr"), *q = tgc_cfg_get(node, "neg_iou_thr");
    if (!p || !is_num(p)) return tgc_cfg_fail(err, p ? p : node, "pos_iou_thr: a number is required");
    c->pos_iou_thr = (float)num(p);
    if (q && is_num(q)) {
        c->neg_iou_hi = (float)num(q);
    } else if (q && is_seq(q) && q->n == 2 && is_num(q->items[0]) && is_num(q->items[1])) {
        c->neg_iou_lo = (float)num(q->items[0]);
        c->neg_iou_hi = (float)num(q->items[1]);
    } else {
        return tgc_cfg_fail(err, q ? q : node, "neg_iou_thr: a number or a [lo, hi] pair is required");
    }
    /* gpu_assign_thr only chooses the device MMDetection assigns on; here it always runs on the host */
    double unused;
    if (get_f(node, "min_pos_iou", 0, &c->min_pos_iou, err) ||
        tgc_cfg_bool(node, "gt_max_assign_all", 1, &c->gt_max_assign_all, err) ||
        get_f(node, "ignore_iof_thr", -1, &c->ignore_iof_thr, err) ||
        tgc_cfg_bool(node, "ignore_wrt_candidates", 1, &c->ignore_wrt_candidates, err) ||
        tgc_cfg_bool(node, "match_low_quality", 1, &c->match_low_quality, err) ||
        tgc_cfg_float(node, "gpu_assign_thr", -1, &unused, err))
        return -1;
    const tgc_cfg *ic = tgc_cfg_get(node, "iou_calculator");
    if (ic && ic->kind != TGC_CFG_NULL) {
        static const char *const ic_known[] = {"type", NULL};
        if (check_type(ic, "iou_calculator", "BboxOverlaps2D", err) || check_keys(ic, "iou_calculator", ic_known, err))
            return -1;
    }
    return 0;
}

int tgc_det_test_cfg_from(const tgc_cfg *node, tgc_det_test_cfg *c, tgc_err *err) {
    static const char *const known[] = {"nms_pre", "min_bbox_size", "score_thr", "nms", "max_per_img", NULL};
    tgc_det_test_cfg_default(c);
    if (!node || node->kind != TGC_CFG_MAP) return tgc_cfg_fail(err, node, "test_cfg: expected a map");
    if (check_keys(node, "test_cfg", known, err)) return -1;
    /* MMDetection's own fallbacks when a key is absent: nms_pre -1 (all), score_thr 0, min_bbox_size -1 (off) */
    if (get_i(node, "nms_pre", -1, &c->nms_pre, err) || get_f(node, "score_thr", 0, &c->score_thr, err) ||
        get_f(node, "min_bbox_size", -1, &c->min_bbox_size, err) || get_i(node, "max_per_img", 100, &c->max_per_img, err))
        return -1;
    if (c->max_per_img < 1) return tgc_cfg_fail(err, tgc_cfg_get(node, "max_per_img"), "max_per_img must be positive");
    const tgc_cfg *nms = tgc_cfg_get(node, "nms");
    if (!nms || nms->kind != TGC_CFG_MAP) return tgc_cfg_fail(err, nms ? nms : node, "nms: a map is required");
    static const char *const nms_known[] = {"type", "iou_threshold", "iou_thr", NULL};
    if (check_keys(nms, "nms", nms_known, err)) return -1;
    const char *t;
    if (tgc_cfg_str(nms, "type", "nms", &t, err)) return -1;
    if (strcmp(t, "nms")) return tgc_cfg_fail(err, tgc_cfg_get(nms, "type"), "nms type '%s' is not supported (only nms)", t);
    const char *key = tgc_cfg_get(nms, "iou_threshold") ? "iou_threshold" : "iou_thr";
    if (get_f(nms, key, 0.5f, &c->nms_iou, err)) return -1;
    if (!(c->nms_iou >= 0 && c->nms_iou <= 1))
        return tgc_cfg_fail(err, tgc_cfg_get(nms, key), "expected an IoU threshold in [0, 1]");
    return 0;
}

int tgc_det_sampler_cfg_from(const tgc_cfg *node, tgc_det_sampler_cfg *c, tgc_err *err) {
    static const char *const known[] = {"type", "num", "pos_fraction", "neg_pos_ub", "add_gt_as_proposals", NULL};
    if (check_type(node, "sampler", "RandomSampler", err) || check_keys(node, "sampler", known, err)) return -1;
    const tgc_cfg *n = tgc_cfg_get(node, "num"), *f = tgc_cfg_get(node, "pos_fraction");
    if (!n || n->kind != TGC_CFG_INT || n->i < 1 || n->i > (1 << 24))
        return tgc_cfg_fail(err, n ? n : node, "num: a positive integer is required");
    if (!f || !is_num(f) || !(num(f) >= 0 && num(f) <= 1))
        return tgc_cfg_fail(err, f ? f : node, "pos_fraction: a number in [0, 1] is required");
    tgc_det_sampler_cfg_default(c, (int)n->i, num(f));
    if (get_i(node, "neg_pos_ub", -1, &c->neg_pos_ub, err) ||
        tgc_cfg_bool(node, "add_gt_as_proposals", 1, &c->add_gt_as_proposals, err))
        return -1;
    return 0;
}
