/* runtime/data/data_randaug.c - RandAugment, AutoAugment and their operations (MMPretrain 1.2's
 * datasets/transforms/auto_augment.py): parsing, the policy machinery and its draws, the geometric operations'
 * matrices. The pixel kernels are data_augops.c. See data_randaug.h. */
#include "runtime/data/data_randaug.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/data/data_warp.h"

/* ================================ the operations ================================ */

typedef enum op_kind {
    OP_SHEAR, OP_TRANSLATE, OP_ROTATE, OP_AUTOCONTRAST, OP_INVERT, OP_EQUALIZE, OP_SOLARIZE, OP_SOLARIZE_ADD,
    OP_POSTERIZE, OP_CONTRAST, OP_COLOR, OP_BRIGHTNESS, OP_SHARPNESS, OP_CUTOUT, OP_COUNT
} op_kind;

static const char *const args_geo[] = {"magnitude", "pad_val", "prob", "direction", "random_negative_prob",
                                       "interpolation", NULL};
static const char *const args_rotate[] = {"angle", "center", "scale", "pad_val", "prob", "random_negative_prob",
                                          "interpolation", NULL};
static const char *const args_plain[] = {"prob", NULL};
static const char *const args_solarize[] = {"thr", "prob", NULL};
static const char *const args_solarize_add[] = {"magnitude", "thr", "prob", NULL};
static const char *const args_posterize[] = {"bits", "prob", NULL};
static const char *const args_colour[] = {"magnitude", "prob", "random_negative_prob", NULL};
static const char *const args_cutout[] = {"shape", "pad_val", "prob", NULL};

/* Per class: the name, the key holding a fixed magnitude, its __init__ arguments (what hparams may fill),
 * whether the magnitude is randomly negated, and whether the class fixes random_negative_prob at 0 (then it
 * is not a key). */
static const struct op_info {
    const char *name, *value_key;
    const char *const *args;
    int negates, fixed_rneg;
} ops_info[OP_COUNT] = {
    [OP_SHEAR] = {"Shear", "magnitude", args_geo, 1, 0},
    [OP_TRANSLATE] = {"Translate", "magnitude", args_geo, 1, 0},
    [OP_ROTATE] = {"Rotate", "angle", args_rotate, 1, 0},
    [OP_AUTOCONTRAST] = {"AutoContrast", NULL, args_plain, 0, 0},
    [OP_INVERT] = {"Invert", NULL, args_plain, 0, 0},
    [OP_EQUALIZE] = {"Equalize", NULL, args_plain, 0, 0},
    [OP_SOLARIZE] = {"Solarize", "thr", args_solarize, 0, 1},
    [OP_SOLARIZE_ADD] = {"SolarizeAdd", "magnitude", args_solarize_add, 0, 1},
    [OP_POSTERIZE] = {"Posterize", "bits", args_posterize, 0, 1},
    [OP_CONTRAST] = {"Contrast", "magnitude", args_colour, 1, 0},
    [OP_COLOR] = {"ColorTransform", "magnitude", args_colour, 1, 0},
    [OP_BRIGHTNESS] = {"Brightness", "magnitude", args_colour, 1, 0},
    [OP_SHARPNESS] = {"Sharpness", "magnitude", args_colour, 1, 0},
    [OP_CUTOUT] = {"Cutout", "shape", args_cutout, 0, 1},
};

typedef struct aug_op {
    op_kind kind;
    double prob, rneg;       /* prob, random_negative_prob */
    int has_value;           /* the fixed magnitude (magnitude, angle, thr, bits) was given */
    double value;
    int value_int;           /* it was an int (SolarizeAdd's uint8 arithmetic differs) */
    double v1, v2;           /* magnitude_range (used when !has_value) */
    double level, total, std;
    int std_inf;
    int vertical;            /* Shear, Translate: direction */
    tgc_interp interp;
    int npad;                /* pad_val: 1 (broadcast) .. 4 values */
    uint8_t pad[4];
    double thr;              /* SolarizeAdd */
    int has_center;
    double cx, cy, scale;    /* Rotate */
    int cut_h, cut_w;        /* Cutout: a fixed shape */
} aug_op;

enum { AUG_SINGLE, AUG_RAND, AUG_AUTO };

struct tgc_aug {
    int kind;
    int nops;
    aug_op *ops;
    int nsub;       /* AutoAugment: sub-policy i is ops[sub[i] .. sub[i + 1]) */
    int *sub;
    int num_policies;
};

/* The fill of each channel. mmcv's imshear, imtranslate and cutout repeat a single pad_val over the channels;
 * imrotate hands it to cv2.warpAffine as it is, and cv2 makes a number n the scalar (n, 0, 0, 0): with the
 * default 128 a colour image's rotation fills (128, 0, 0). */
static void pad_values(const aug_op *o, uint8_t out[4]) {
    for (int k = 0; k < 4; k++)
        out[k] = k < o->npad ? o->pad[k] : o->npad == 1 && o->kind != OP_ROTATE ? o->pad[0] : 0;
}

static void warp(tgc_image *img, tgc_image *scratch, const double M[6], const aug_op *o) {
    uint8_t border[4];
    pad_values(o, border);
    tgc_image_reserve(scratch, img->h, img->w, img->c);
    tgc_warp_affine_u8(img->data, img->w, img->h, img->c, M, o->interp, border, scratch->data);
    tgc_image t = *img;
    *img = *scratch;
    *scratch = t;
}

/* ---- one operation, with its draws ------------------------------------------------------------------ */

/* numpy.random.normal(mean, std) from two uniforms (Box-Muller). */
static double normal(tgc_rng *rng, double mean, double std) {
    double u1 = 1.0 - tgc_rng_uniform(rng), u2 = tgc_rng_uniform(rng);
    return mean + std * sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
}

/* BaseAugTransform.random_magnitude. */
static double random_magnitude(const aug_op *o, tgc_rng *rng) {
    double m = o->level;
    if (o->std_inf) {
        m = m * tgc_rng_uniform(rng);
    } else if (o->std > 0) {
        m = normal(rng, m, o->std);
        m = m < 0 ? 0 : m > o->total ? o->total : m;
    }
    return (m / o->total) * (o->v2 - o->v1) + o->v1;
}

/* Returns 1 if applied (*mag: its magnitude, NAN for the operations without one), 0 if disabled. */
static int apply_op(const aug_op *o, tgc_image *img, tgc_image *scratch, tgc_rng *rng, double *mag) {
    *mag = NAN;
    if (tgc_rng_uniform(rng) > o->prob) return 0; /* random_disable: np.random.rand() > prob */
    const struct op_info *oi = &ops_info[o->kind];
    double m = 0;
    /* magnitudes are bounded (absurd ranges must not reach float-to-int conversions) */
    if (oi->value_key) m = fmax(-1e6, fmin(1e6, o->has_value ? o->value : random_magnitude(o, rng)));
    if (oi->negates && tgc_rng_uniform(rng) < o->rneg) m = -m;
    if (oi->value_key) *mag = m;
    double M[6];
    switch (o->kind) {
    case OP_SHEAR: {
        float s = (float)m; /* mmcv builds the matrix in float32 */
        double S[6] = {1, o->vertical ? 0 : s, 0, o->vertical ? s : 0, 1, 0};
        warp(img, scratch, S, o);
        break;
    }
    case OP_TRANSLATE: {
        float t = (float)(m * (o->vertical ? img->h : img->w));
        double T[6] = {1, 0, o->vertical ? 0 : t, 0, 1, o->vertical ? t : 0};
        warp(img, scratch, T, o);
        break;
    }
    case OP_ROTATE: {
        double cx = o->has_center ? o->cx : (img->w - 1) * 0.5, cy = o->has_center ? o->cy : (img->h - 1) * 0.5;
        tgc_rotation_matrix(cx, cy, -m, o->scale, M);
        warp(img, scratch, M, o);
        break;
    }
    case OP_AUTOCONTRAST: tgc_augop_autocontrast(img); break;
    case OP_INVERT: tgc_augop_invert(img); break;
    case OP_EQUALIZE: tgc_augop_equalize(img); break;
    case OP_SOLARIZE: tgc_augop_solarize(img, m); break;
    case OP_SOLARIZE_ADD: tgc_augop_solarize_add(img, m, o->has_value && o->value_int, o->thr); break;
    case OP_POSTERIZE: tgc_augop_posterize(img, m); break;
    case OP_CONTRAST: tgc_augop_contrast(img, 1 + m); break;
    case OP_COLOR: tgc_augop_color(img, 1 + m); break;
    case OP_BRIGHTNESS: tgc_augop_brightness(img, 1 + m); break;
    case OP_SHARPNESS: tgc_augop_sharpness(img, scratch, 1 + m); break;
    case OP_CUTOUT: {
        int ch = o->cut_h, cw = o->cut_w;
        if (!o->has_value) ch = cw = (int)m; /* int(random_magnitude()) truncates */
        /* np.random.uniform(h): low = h, high = 1.0, so h + (1 - h) * u */
        double y0 = img->h + (1.0 - img->h) * tgc_rng_uniform(rng);
        double x0 = img->w + (1.0 - img->w) * tgc_rng_uniform(rng);
        uint8_t pad[4];
        pad_values(o, pad);
        if (ch > 0 && cw > 0) tgc_aug_cutout_at(img, ch, cw, y0, x0, pad);
        break;
    }
    case OP_COUNT: break;
    }
    return 1;
}

/* ================================ parsing ================================ */

/* Where an operation's keys come from: its own map, then (for its __init__ arguments it does not set)
 * RandAugment's hparams; RandAugment's magnitude_level / total_level / magnitude_std replace the policy's
 * when it has a magnitude_range. */
typedef struct op_ctx {
    const tgc_cfg *hparams;
    int ra;
    double ra_level, ra_total, ra_std;
    int ra_std_inf;
} op_ctx;

static int in_list(const char *s, const char *const *list) {
    for (int i = 0; list[i]; i++)
        if (!strcmp(s, list[i])) return 1;
    return 0;
}

static const char *base_name(const char *type) {
    const char *dot = strrchr(type, '.');
    return dot ? dot + 1 : type;
}

static int op_kind_of(const char *name) {
    for (int k = 0; k < OP_COUNT; k++)
        if (!strcmp(name, ops_info[k].name)) return k;
    return -1;
}

int tgc_aug_is_type(const char *name) {
    return !strcmp(name, "RandAugment") || !strcmp(name, "AutoAugment") || op_kind_of(name) >= 0;
}

static const tgc_cfg *present(const tgc_cfg *c) { return c && c->kind != TGC_CFG_NULL ? c : NULL; }

static const tgc_cfg *op_key(const tgc_cfg *m, const struct op_info *oi, const op_ctx *cx, const char *k) {
    const tgc_cfg *v = tgc_cfg_get(m, k);
    if (v) return present(v);
    if (cx->hparams && in_list(k, oi->args)) return present(tgc_cfg_get(cx->hparams, k));
    return NULL;
}

static int is_num(const tgc_cfg *c) { return c->kind == TGC_CFG_INT || c->kind == TGC_CFG_FLOAT; }

static int read_num(const tgc_cfg *c, double *out, tgc_err *err) {
    if (!is_num(c)) return tgc_cfg_fail(err, c, "expected a number, got a %s", tgc_cfg_kind_name(c->kind));
    *out = c->kind == TGC_CFG_INT ? (double)c->i : c->f;
    if (!isfinite(*out)) return tgc_cfg_fail(err, c, "expected a finite number");
    return 0;
}

static int read_prob(const tgc_cfg *c, double def, double *out, tgc_err *err) {
    *out = def;
    if (!c) return 0;
    if (read_num(c, out, err)) return -1;
    if (*out < 0 || *out > 1) return tgc_cfg_fail(err, c, "a probability must be in [0, 1], got %g", *out);
    return 0;
}

static int is_seq(const tgc_cfg *c) { return c->kind == TGC_CFG_LIST || c->kind == TGC_CFG_TUPLE; }

static int read_pad(const tgc_cfg *c, aug_op *o, tgc_err *err) {
    o->npad = 1;
    o->pad[0] = 128;
    if (!c) return 0;
    double v[4];
    int n = 1;
    if (is_seq(c)) {
        if (c->n < 1 || c->n > 4) return tgc_cfg_fail(err, c, "pad_val must be a number or a list of 1 to 4, got %d", c->n);
        n = c->n;
        for (int i = 0; i < n; i++)
            if (read_num(c->items[i], &v[i], err)) return -1;
    } else if (read_num(c, &v[0], err)) {
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (v[i] < 0 || v[i] > 255) return tgc_cfg_fail(err, c, "pad_val values must be in 0..255, got %g", v[i]);
        o->pad[i] = (uint8_t)lrint(v[i]);
    }
    o->npad = n;
    return 0;
}

static int read_interp(const tgc_cfg *c, tgc_interp def, tgc_interp *out, tgc_err *err) {
    *out = def;
    if (!c) return 0;
    if (c->kind != TGC_CFG_STR) return tgc_cfg_fail(err, c, "interpolation must be a string");
    if (!strcmp(c->s, "nearest")) *out = TGC_INTERP_NEAREST;
    else if (!strcmp(c->s, "bilinear")) *out = TGC_INTERP_BILINEAR;
    else if (!strcmp(c->s, "bicubic")) *out = TGC_INTERP_BICUBIC;
    else return tgc_cfg_fail(err, c, "interpolation '%s' is not implemented (nearest, bilinear, bicubic)", c->s);
    return 0;
}

static int read_std(const tgc_cfg *c, double *std, int *inf, tgc_err *err) {
    *std = 0;
    *inf = 0;
    if (!c) return 0;
    if (c->kind == TGC_CFG_STR) {
        if (strcmp(c->s, "inf")) return tgc_cfg_fail(err, c, "magnitude_std must be a number or \"inf\", got \"%s\"", c->s);
        *inf = 1;
        return 0;
    }
    return read_num(c, std, err);
}

/* Parses one operation from its map m (ctx: RandAugment's hparams and magnitude settings, or none). */
static int parse_op(const tgc_cfg *m, int kind, const op_ctx *cx, int in_randaug, aug_op *o, tgc_err *err) {
    const struct op_info *oi = &ops_info[kind];
    memset(o, 0, sizeof *o);
    o->kind = (op_kind)kind;
    /* MMPretrain's constructors reject unexpected keyword arguments */
    static const char *const base[] = {"magnitude_level", "magnitude_range", "magnitude_std", "total_level", NULL};
    for (int i = 0; i < m->n; i++) {
        const char *k = m->keys[i];
        if (!strcmp(k, "type") || in_list(k, oi->args) || in_list(k, base)) continue;
        if (!oi->fixed_rneg && !strcmp(k, "random_negative_prob")) continue;
        if (in_randaug && !strcmp(k, "magnitude_key")) continue; /* popped by RandAugment */
        return tgc_cfg_fail(err, m->items[i], "%s has no argument '%s'", oi->name, k);
    }
    if (read_prob(op_key(m, oi, cx, "prob"), 0.5, &o->prob, err)) return -1;
    if (!oi->fixed_rneg && read_prob(op_key(m, oi, cx, "random_negative_prob"), 0.5, &o->rneg, err)) return -1;

    const tgc_cfg *range = present(tgc_cfg_get(m, "magnitude_range"));
    if (range) {
        if (!is_seq(range) || range->n != 2)
            return tgc_cfg_fail(err, range, "magnitude_range must be a pair of numbers (val1, val2)");
        if (read_num(range->items[0], &o->v1, err) || read_num(range->items[1], &o->v2, err)) return -1;
    }
    if (cx->ra && range) {
        o->level = cx->ra_level;
        o->total = cx->ra_total;
        o->std = cx->ra_std;
        o->std_inf = cx->ra_std_inf;
    } else {
        const tgc_cfg *c;
        o->level = o->total = 10;
        if ((c = present(tgc_cfg_get(m, "magnitude_level"))) && read_num(c, &o->level, err)) return -1;
        if ((c = present(tgc_cfg_get(m, "total_level"))) && read_num(c, &o->total, err)) return -1;
        if (read_std(present(tgc_cfg_get(m, "magnitude_std")), &o->std, &o->std_inf, err)) return -1;
        if (range && !(o->total > 0))
            return tgc_cfg_fail(err, tgc_cfg_get(m, "total_level") ? tgc_cfg_get(m, "total_level") : m,
                                "total_level must be > 0");
    }

    if (oi->value_key) {
        const tgc_cfg *v = op_key(m, oi, cx, oi->value_key);
        if (!v == !range)
            return tgc_cfg_fail(err, m, "%s: give exactly one of '%s' and 'magnitude_range'", oi->name, oi->value_key);
        if (v && kind == OP_CUTOUT) {
            int64_t s[2];
            if (v->kind == TGC_CFG_INT) {
                s[0] = s[1] = v->i;
            } else if (is_seq(v) && v->n == 2 && v->items[0]->kind == TGC_CFG_INT && v->items[1]->kind == TGC_CFG_INT) {
                s[0] = v->items[0]->i;
                s[1] = v->items[1]->i;
            } else {
                return tgc_cfg_fail(err, v, "shape must be an int or a pair of ints (h, w)");
            }
            if (s[0] < 0 || s[1] < 0 || s[0] > 16384 || s[1] > 16384)
                return tgc_cfg_fail(err, v, "shape must be in 0..16384");
            o->cut_h = (int)s[0];
            o->cut_w = (int)s[1];
            o->has_value = 1;
        } else if (v) {
            if (read_num(v, &o->value, err)) return -1;
            o->has_value = 1;
            o->value_int = v->kind == TGC_CFG_INT;
            if (kind == OP_POSTERIZE && o->value > 8) return tgc_cfg_fail(err, v, "bits must be <= 8, got %g", o->value);
        }
    }
    if (kind == OP_SHEAR || kind == OP_TRANSLATE) {
        const tgc_cfg *d = op_key(m, oi, cx, "direction");
        if (d && (d->kind != TGC_CFG_STR || (strcmp(d->s, "horizontal") && strcmp(d->s, "vertical"))))
            return tgc_cfg_fail(err, d, "direction must be \"horizontal\" or \"vertical\"");
        o->vertical = d && !strcmp(d->s, "vertical");
    }
    if (kind == OP_SHEAR || kind == OP_TRANSLATE || kind == OP_ROTATE) {
        if (read_interp(op_key(m, oi, cx, "interpolation"), kind == OP_SHEAR ? TGC_INTERP_BICUBIC : TGC_INTERP_NEAREST,
                        &o->interp, err))
            return -1;
    }
    if (kind == OP_SHEAR || kind == OP_TRANSLATE || kind == OP_ROTATE || kind == OP_CUTOUT) {
        if (read_pad(op_key(m, oi, cx, "pad_val"), o, err)) return -1;
    }
    if (kind == OP_ROTATE) {
        const tgc_cfg *c = op_key(m, oi, cx, "center");
        if (c) {
            if (!is_seq(c) || c->n != 2) return tgc_cfg_fail(err, c, "center must be a pair (x, y)");
            if (read_num(c->items[0], &o->cx, err) || read_num(c->items[1], &o->cy, err)) return -1;
            o->has_center = 1;
        }
        o->scale = 1.0;
        if ((c = op_key(m, oi, cx, "scale")) && read_num(c, &o->scale, err)) return -1;
    }
    if (kind == OP_SOLARIZE_ADD) {
        const tgc_cfg *c = op_key(m, oi, cx, "thr");
        o->thr = 128;
        if (c && read_num(c, &o->thr, err)) return -1;
    }
    return 0;
}

/* The map of one operation: a map with a known type. */
static int op_map_kind(const tgc_cfg *m, tgc_err *err) {
    if (m->kind != TGC_CFG_MAP) return tgc_cfg_fail(err, m, "a policy must be a map with a 'type', got a %s", tgc_cfg_kind_name(m->kind));
    const tgc_cfg *t = tgc_cfg_get(m, "type");
    if (!t || t->kind != TGC_CFG_STR) return tgc_cfg_fail(err, m, "a policy needs a 'type' string");
    int k = op_kind_of(base_name(t->s));
    if (k < 0)
        return tgc_cfg_fail(err, t, "unknown augmentation '%s' (Shear, Translate, Rotate, AutoContrast, Invert, "
                                    "Equalize, Solarize, SolarizeAdd, Posterize, Contrast, ColorTransform, "
                                    "Brightness, Sharpness, Cutout)", t->s);
    return k;
}

/* MMPretrain's RANDAUG_POLICIES and AUTOAUG_POLICIES (auto_augment.py), as config text (under a key "p"). */
static const char timm_increasing[] =
    "p: [{type: AutoContrast}, {type: Equalize}, {type: Invert}, {type: Rotate, magnitude_range: [0, 30]},"
    " {type: Posterize, magnitude_range: [4, 0]}, {type: Solarize, magnitude_range: [256, 0]},"
    " {type: SolarizeAdd, magnitude_range: [0, 110]}, {type: ColorTransform, magnitude_range: [0, 0.9]},"
    " {type: Contrast, magnitude_range: [0, 0.9]}, {type: Brightness, magnitude_range: [0, 0.9]},"
    " {type: Sharpness, magnitude_range: [0, 0.9]},"
    " {type: Shear, magnitude_range: [0, 0.3], direction: horizontal},"
    " {type: Shear, magnitude_range: [0, 0.3], direction: vertical},"
    " {type: Translate, magnitude_range: [0, 0.45], direction: horizontal},"
    " {type: Translate, magnitude_range: [0, 0.45], direction: vertical}]";
static const char simple_increasing[] =
    "p: [{type: AutoContrast}, {type: Equalize}, {type: Rotate, magnitude_range: [0, 30]},"
    " {type: Shear, magnitude_range: [0, 0.3], direction: horizontal},"
    " {type: Shear, magnitude_range: [0, 0.3], direction: vertical}]";
static const char imagenet[] =
    "p: [[{type: Posterize, bits: 4, prob: 0.4}, {type: Rotate, angle: 30.0, prob: 0.6}],"
    " [{type: Solarize, thr: 113.77777777777777, prob: 0.6}, {type: AutoContrast, prob: 0.6}],"
    " [{type: Equalize, prob: 0.8}, {type: Equalize, prob: 0.6}],"
    " [{type: Posterize, bits: 5, prob: 0.6}, {type: Posterize, bits: 5, prob: 0.6}],"
    " [{type: Equalize, prob: 0.4}, {type: Solarize, thr: 142.22222222222223, prob: 0.2}],"
    " [{type: Equalize, prob: 0.4}, {type: Rotate, angle: 26.666666666666668, prob: 0.8}],"
    " [{type: Solarize, thr: 170.66666666666666, prob: 0.6}, {type: Equalize, prob: 0.6}],"
    " [{type: Posterize, bits: 6, prob: 0.8}, {type: Equalize, prob: 1.0}],"
    " [{type: Rotate, angle: 10.0, prob: 0.2}, {type: Solarize, thr: 28.444444444444443, prob: 0.6}],"
    " [{type: Equalize, prob: 0.6}, {type: Posterize, bits: 5, prob: 0.4}],"
    " [{type: Rotate, angle: 26.666666666666668, prob: 0.8}, {type: ColorTransform, magnitude: 0.0, prob: 0.4}],"
    " [{type: Rotate, angle: 30.0, prob: 0.4}, {type: Equalize, prob: 0.6}],"
    " [{type: Equalize, prob: 0.0}, {type: Equalize, prob: 0.8}],"
    " [{type: Invert, prob: 0.6}, {type: Equalize, prob: 1.0}],"
    " [{type: ColorTransform, magnitude: 0.4, prob: 0.6}, {type: Contrast, magnitude: 0.8, prob: 1.0}],"
    " [{type: Rotate, angle: 26.666666666666668, prob: 0.8}, {type: ColorTransform, magnitude: 0.2, prob: 1.0}],"
    " [{type: ColorTransform, magnitude: 0.8, prob: 0.8}, {type: Solarize, thr: 56.888888888888886, prob: 0.8}],"
    " [{type: Sharpness, magnitude: 0.7, prob: 0.4}, {type: Invert, prob: 0.6}],"
    " [{type: Shear, magnitude: 0.16666666666666666, prob: 0.6, direction: horizontal}, {type: Equalize, prob: 1.0}],"
    " [{type: ColorTransform, magnitude: 0.0, prob: 0.4}, {type: Equalize, prob: 0.6}],"
    " [{type: Equalize, prob: 0.4}, {type: Solarize, thr: 142.22222222222223, prob: 0.2}],"
    " [{type: Solarize, thr: 113.77777777777777, prob: 0.6}, {type: AutoContrast, prob: 0.6}],"
    " [{type: Invert, prob: 0.6}, {type: Equalize, prob: 1.0}],"
    " [{type: ColorTransform, magnitude: 0.4, prob: 0.6}, {type: Contrast, magnitude: 0.8, prob: 1.0}],"
    " [{type: Equalize, prob: 0.8}, {type: Equalize, prob: 0.6}]]";

/* The policies key: a preset name (parsed from the text above; *owned set to free it) or the list itself. */
static const tgc_cfg *policies_of(const tgc_cfg *m, const char *const *names, const char *const *texts,
                                  tgc_cfg **owned, tgc_err *err) {
    *owned = NULL;
    const tgc_cfg *p = present(tgc_cfg_get(m, "policies"));
    if (!p) {
        tgc_cfg_fail(err, m, "missing required key 'policies'");
        return NULL;
    }
    if (p->kind == TGC_CFG_STR) {
        for (int i = 0; names[i]; i++)
            if (!strcmp(p->s, names[i])) {
                *owned = tgc_cfg_parse_yaml(texts[i], strlen(texts[i]), names[i], err);
                return *owned ? tgc_cfg_get(*owned, "p") : NULL;
            }
        tgc_cfg_fail(err, p, "unknown policies '%s' (%s%s%s)", p->s, names[0], names[1] ? ", " : "",
                     names[1] ? names[1] : "");
        return NULL;
    }
    if (!is_seq(p) || p->n < 1) {
        tgc_cfg_fail(err, p, "policies must be a preset name or a non-empty list");
        return NULL;
    }
    return p;
}

static int check_keys(const tgc_cfg *m, const char *what, const char *const *allowed, tgc_err *err) {
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->keys[i], "type") && !in_list(m->keys[i], allowed))
            return tgc_cfg_fail(err, m->items[i], "%s has no argument '%s'", what, m->keys[i]);
    return 0;
}

static int parse_hparams(const tgc_cfg *m, const tgc_cfg **hp, tgc_err *err) {
    *hp = present(tgc_cfg_get(m, "hparams"));
    if (*hp && (*hp)->kind != TGC_CFG_MAP) return tgc_cfg_fail(err, *hp, "hparams must be a map");
    return 0;
}

/* hparams default to {pad_val: 128}: the operations' own default, so absent hparams merge nothing new. */
static int parse_randaug(const tgc_cfg *m, tgc_aug *a, tgc_err *err) {
    static const char *const keys[] = {"policies", "num_policies", "magnitude_level", "magnitude_std",
                                       "total_level", "hparams", NULL};
    static const char *const names[] = {"timm_increasing", "simple_increasing", NULL};
    static const char *const texts[] = {timm_increasing, simple_increasing};
    if (check_keys(m, "RandAugment", keys, err)) return -1;
    op_ctx cx = {0};
    cx.ra = 1;
    int64_t np;
    const tgc_cfg *c;
    if (parse_hparams(m, &cx.hparams, err)) return -1;
    if (!present(tgc_cfg_get(m, "num_policies"))) return tgc_cfg_fail(err, m, "missing required key 'num_policies'");
    if (tgc_cfg_int(m, "num_policies", 0, &np, err)) return -1;
    if (np < 1 || np > TGC_AUG_TRACE_MAX)
        return tgc_cfg_fail(err, tgc_cfg_get(m, "num_policies"), "num_policies must be in 1..%d", TGC_AUG_TRACE_MAX);
    a->num_policies = (int)np;
    if (!(c = present(tgc_cfg_get(m, "magnitude_level")))) return tgc_cfg_fail(err, m, "missing required key 'magnitude_level'");
    if (read_num(c, &cx.ra_level, err)) return -1;
    if (cx.ra_level < 0) return tgc_cfg_fail(err, c, "magnitude_level must be >= 0");
    cx.ra_total = 10;
    if ((c = present(tgc_cfg_get(m, "total_level"))) && read_num(c, &cx.ra_total, err)) return -1;
    if (!(cx.ra_total > 0)) return tgc_cfg_fail(err, c, "total_level must be > 0");
    if (read_std(present(tgc_cfg_get(m, "magnitude_std")), &cx.ra_std, &cx.ra_std_inf, err)) return -1;
    tgc_cfg *owned;
    const tgc_cfg *pl = policies_of(m, names, texts, &owned, err);
    if (!pl) return -1;
    a->nops = pl->n;
    a->ops = tgc_calloc((size_t)pl->n, sizeof *a->ops);
    int rc = 0;
    for (int i = 0; i < pl->n && !rc; i++) {
        int k = op_map_kind(pl->items[i], err);
        rc = k < 0 ? -1 : parse_op(pl->items[i], k, &cx, 1, &a->ops[i], err);
    }
    tgc_cfg_free(owned);
    return rc;
}

/* MMPretrain 1.2 builds AutoAugment's transforms from the policies before hparams are merged (the merged
 * copy is only kept for printing), so hparams change nothing; tgc does the same. */
static int parse_autoaug(const tgc_cfg *m, tgc_aug *a, tgc_err *err) {
    static const char *const keys[] = {"policies", "hparams", NULL};
    static const char *const names[] = {"imagenet", NULL};
    static const char *const texts[] = {imagenet};
    const tgc_cfg *hp;
    if (check_keys(m, "AutoAugment", keys, err) || parse_hparams(m, &hp, err)) return -1;
    tgc_cfg *owned;
    const tgc_cfg *pl = policies_of(m, names, texts, &owned, err);
    if (!pl) return -1;
    int total = 0, rc = 0;
    for (int i = 0; i < pl->n && !rc; i++) {
        const tgc_cfg *sub = pl->items[i];
        if (!is_seq(sub) || sub->n < 1 || sub->n > TGC_AUG_TRACE_MAX)
            rc = tgc_cfg_fail(err, sub, "each AutoAugment sub-policy must be a list of 1 to %d operations", TGC_AUG_TRACE_MAX);
        else
            total += sub->n;
    }
    if (!rc) {
        op_ctx cx = {0};
        a->nops = total;
        a->ops = tgc_calloc((size_t)total, sizeof *a->ops);
        a->nsub = pl->n;
        a->sub = tgc_calloc((size_t)pl->n + 1, sizeof *a->sub);
        int at = 0;
        for (int i = 0; i < pl->n && !rc; i++) {
            a->sub[i] = at;
            const tgc_cfg *sub = pl->items[i];
            for (int j = 0; j < sub->n && !rc; j++) {
                int k = op_map_kind(sub->items[j], err);
                rc = k < 0 ? -1 : parse_op(sub->items[j], k, &cx, 0, &a->ops[at++], err);
            }
        }
        a->sub[pl->n] = at;
    }
    tgc_cfg_free(owned);
    return rc;
}

tgc_aug *tgc_aug_new(const tgc_cfg *m, const char *name, tgc_err *err) {
    tgc_aug *a = tgc_calloc(1, sizeof *a);
    int rc;
    if (!strcmp(name, "RandAugment")) {
        a->kind = AUG_RAND;
        rc = parse_randaug(m, a, err);
    } else if (!strcmp(name, "AutoAugment")) {
        a->kind = AUG_AUTO;
        rc = parse_autoaug(m, a, err);
    } else {
        int k = op_kind_of(name);
        a->kind = AUG_SINGLE;
        a->nops = 1;
        a->ops = tgc_calloc(1, sizeof *a->ops);
        op_ctx cx = {0};
        rc = k < 0 ? tgc_cfg_fail(err, m, "unknown augmentation '%s'", name) : parse_op(m, k, &cx, 0, a->ops, err);
    }
    if (rc) {
        tgc_aug_free(a);
        return NULL;
    }
    return a;
}

void tgc_aug_free(tgc_aug *a) {
    if (!a) return;
    free(a->ops);
    free(a->sub);
    free(a);
}

int tgc_aug_num_ops(const tgc_aug *a) { return a->nops; }

int tgc_aug_check_config(const tgc_cfg *root, tgc_err *err) {
    static const char *const loaders[] = {"train_dataloader", "val_dataloader", "test_dataloader"};
    for (int l = 0; l < 3; l++) {
        const tgc_cfg *dl = tgc_cfg_get(root, loaders[l]);
        const tgc_cfg *ds = dl && dl->kind == TGC_CFG_MAP ? tgc_cfg_get(dl, "dataset") : NULL;
        const tgc_cfg *pl = ds && ds->kind == TGC_CFG_MAP ? tgc_cfg_get(ds, "pipeline") : NULL;
        for (int i = 0; pl && is_seq(pl) && i < pl->n; i++) {
            const tgc_cfg *t = pl->items[i], *type = t->kind == TGC_CFG_MAP ? tgc_cfg_get(t, "type") : NULL;
            if (!type || type->kind != TGC_CFG_STR || !tgc_aug_is_type(base_name(type->s))) continue;
            tgc_aug *a = tgc_aug_new(t, base_name(type->s), err);
            if (!a) return -1;
            tgc_aug_free(a);
        }
    }
    return 0;
}

/* ================================ applying ================================ */

static void run_op(const tgc_aug *a, int i, tgc_image *img, tgc_image *scratch, tgc_rng *rng, tgc_aug_trace *tr) {
    double mag;
    if (apply_op(&a->ops[i], img, scratch, rng, &mag) && tr && tr->napplied < TGC_AUG_TRACE_MAX) {
        tr->op[tr->napplied] = i;
        tr->magnitude[tr->napplied++] = mag;
    }
}

int tgc_aug_apply_traced(const tgc_aug *a, tgc_image *img, tgc_image *scratch, tgc_rng *rng, tgc_aug_trace *tr,
                         tgc_err *err) {
    if (img->c < 1 || img->c > 4) return tgc_fail(err, "augmentation: images of %d channels are not supported", img->c);
    if (tr) memset(tr, 0, sizeof *tr);
    if (a->kind == AUG_SINGLE) {
        run_op(a, 0, img, scratch, rng, tr);
    } else if (a->kind == AUG_RAND) {
        int chosen[TGC_AUG_TRACE_MAX];
        for (int i = 0; i < a->num_policies; i++) chosen[i] = (int)tgc_rng_below(rng, (uint32_t)a->nops);
        if (tr) {
            tr->nchosen = a->num_policies;
            memcpy(tr->chosen, chosen, (size_t)a->num_policies * sizeof *chosen);
        }
        for (int i = 0; i < a->num_policies; i++) run_op(a, chosen[i], img, scratch, rng, tr);
    } else {
        int s = (int)tgc_rng_below(rng, (uint32_t)a->nsub);
        if (tr) {
            tr->nchosen = 1;
            tr->chosen[0] = s;
        }
        for (int i = a->sub[s]; i < a->sub[s + 1]; i++) run_op(a, i, img, scratch, rng, tr);
    }
    return 0;
}

int tgc_aug_apply(const tgc_aug *a, tgc_image *img, tgc_image *scratch, tgc_rng *rng, tgc_err *err) {
    return tgc_aug_apply_traced(a, img, scratch, rng, NULL, err);
}
