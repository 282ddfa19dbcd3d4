/* runtime/data/data_transforms.c - the dataset pipeline: MMPretrain 1.x transforms parsed from config, applied. */
#include "runtime/data/data.h"
#include "runtime/data/data_photometric.h"
#include "runtime/data/data_randaug.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum tf_kind {
    TF_NOOP, TF_RESIZE, TF_RANDOM_CROP, TF_RRC, TF_RESIZE_EDGE, TF_CENTER_CROP, TF_FLIP,
    TF_COLOR_JITTER, TF_ERASING, /* data_photometric.c */
    TF_AUG                       /* data_randaug.c */
} tf_kind;
enum { EDGE_SHORT, EDGE_LONG, EDGE_WIDTH, EDGE_HEIGHT };

typedef struct tf {
    tf_kind kind;
    tgc_interp interp;     /* Resize/RRC/ResizeEdge: interpolation and backend (mmcv.imresize's) */
    int backend;
    int w, h;              /* Resize/RRC/CenterCrop/RandomCrop target; ResizeEdge scale in w */
    int keep_ratio;        /* Resize */
    double fw, fh;         /* Resize scale_factor (used when w == 0) */
    int pad[4];            /* RandomCrop padding: left, top, right, bottom */
    int pad_if_needed, pad_mode;
    uint8_t pad_val[4];
    double crop_lo, crop_hi, log_ar_lo, log_ar_hi, ar_lo, ar_hi; /* RandomResizedCrop */
    int max_attempts;
    int edge;              /* ResizeEdge */
    int ndir;              /* RandomFlip: candidates (bit 1 horizontal, bit 2 vertical) and their probabilities */
    int dirs[3];
    double probs[3];
    tgc_color_jitter cj;   /* ColorJitter */
    tgc_erasing er;        /* RandomErasing */
    tgc_aug *aug;          /* RandAugment, AutoAugment and their operations (data_randaug.c) */
} tf;

struct tgc_pipeline {
    int n, channels;
    tf *t;
};

/* ---- parsing helpers ------------------------------------------------------------------------------ */

static int is_number(const tgc_cfg *c) { return c->kind == TGC_CFG_INT || c->kind == TGC_CFG_FLOAT; }
static double number(const tgc_cfg *c) { return c->kind == TGC_CFG_INT ? (double)c->i : c->f; }

/* A number or a list/tuple of numbers (1..max of them). Absent: *n = 0. */
static int get_numbers(const tgc_cfg *map, const char *key, double *out, int max, int *n, tgc_err *err) {
    const tgc_cfg *c = tgc_cfg_get(map, key);
    *n = 0;
    if (!c || c->kind == TGC_CFG_NULL) return 0;
    if (is_number(c)) {
        out[0] = number(c);
        *n = 1;
        return 0;
    }
    if (c->kind != TGC_CFG_LIST && c->kind != TGC_CFG_TUPLE)
        return tgc_cfg_fail(err, c, "expected a number or a list of numbers, got a %s", tgc_cfg_kind_name(c->kind));
    if (c->n < 1 || c->n > max) return tgc_cfg_fail(err, c, "expected 1 to %d numbers, got %d", max, c->n);
    for (int i = 0; i < c->n; i++) {
        if (!is_number(c->items[i]))
            return tgc_cfg_fail(err, c->items[i], "expected a number, got a %s", tgc_cfg_kind_name(c->items[i]->kind));
        out[i] = number(c->items[i]);
    }
    *n = c->n;
    return 0;
}

int tgc_cfg_size(const tgc_cfg *map, const char *key, int required, int wh_order, int *w, int *h, tgc_err *err) {
    int64_t v[2];
    int n = 0;
    const tgc_cfg *c = tgc_cfg_get(map, key);
    if (!c || c->kind == TGC_CFG_NULL) {
        if (required) return tgc_cfg_fail(err, map, "missing required key '%s'", key);
        *w = *h = 0;
        return 0;
    }
    if (tgc_cfg_ints(map, key, v, 2, &n, err)) return -1;
    if (n == 1) v[1] = v[0];
    else if (n != 2) return tgc_cfg_fail(err, c, "expected an int or a pair of ints");
    for (int i = 0; i < 2; i++)
        if (v[i] < 1 || v[i] > 16384) return tgc_cfg_fail(err, c, "size %lld is outside 1..16384", (long long)v[i]);
    *w = (int)(wh_order ? v[0] : v[1]);
    *h = (int)(wh_order ? v[1] : v[0]);
    return 0;
}

int tgc_cfg_resample(const tgc_cfg *map, tgc_interp *interp, int *backend, tgc_err *err) {
    static const char *const interps[] = {"nearest", "bilinear", "bicubic"}, *const backends[] = {"cv2", "pillow"};
    const char *s, *b;
    if (tgc_cfg_str(map, "interpolation", "bilinear", &s, err) || tgc_cfg_str(map, "backend", "cv2", &b, err))
        return -1;
    int i = 0, k = 0;
    while (i < 3 && strcmp(s, interps[i])) i++;
    if (i == 3)
        return tgc_cfg_fail(err, tgc_cfg_get(map, "interpolation"),
                            "unsupported interpolation '%s' (supported: nearest, bilinear, bicubic)", s);
    while (k < 2 && strcmp(b, backends[k])) k++;
    if (k == 2)
        return tgc_cfg_fail(err, tgc_cfg_get(map, "backend"), "unsupported backend '%s' (supported: cv2, pillow)", b);
    *interp = (tgc_interp)i;
    *backend = k ? TGC_RESIZE_PILLOW : TGC_RESIZE_CV2;
    return 0;
}

static int get_interp(const tgc_cfg *map, tf *t, tgc_err *err) {
    return tgc_cfg_resample(map, &t->interp, &t->backend, err);
}

static int parse_range(const tgc_cfg *map, const char *key, double lo, double hi, double *a, double *b,
                       tgc_err *err) {
    double v[2];
    int n;
    if (get_numbers(map, key, v, 2, &n, err)) return -1;
    if (n == 0) v[0] = lo, v[1] = hi;
    else if (n != 2) return tgc_cfg_fail(err, tgc_cfg_get(map, key), "expected a pair (min, max)");
    if (!(v[0] > 0) || !(v[0] <= v[1]) || !isfinite(v[1]))
        return tgc_cfg_fail(err, tgc_cfg_get(map, key), "expected 0 < min <= max, got (%g, %g)", v[0], v[1]);
    *a = v[0];
    *b = v[1];
    return 0;
}

/* ---- parsing one transform ------------------------------------------------------------------------ */

static int parse_resize(const tgc_cfg *m, tf *t, tgc_err *err) {
    t->kind = TF_RESIZE;
    if (tgc_cfg_size(m, "scale", 0, 1, &t->w, &t->h, err) || get_interp(m, t, err) ||
        tgc_cfg_bool(m, "keep_ratio", 0, &t->keep_ratio, err))
        return -1;
    if (t->w == 0) {
        double f[2];
        int n;
        if (get_numbers(m, "scale_factor", f, 2, &n, err)) return -1;
        if (n == 0) return tgc_cfg_fail(err, m, "Resize needs 'scale' or 'scale_factor'");
        t->fw = f[0];
        t->fh = n == 2 ? f[1] : f[0];
        if (!(t->fw > 0 && t->fw <= 64 && t->fh > 0 && t->fh <= 64))
            return tgc_cfg_fail(err, tgc_cfg_get(m, "scale_factor"), "scale_factor must be in (0, 64]");
    }
    return 0;
}

static int parse_pad_mode(const tgc_cfg *m, int *mode, tgc_err *err) {
    static const char *names[] = {"constant", "edge", "reflect", "symmetric"};
    const char *s;
    if (tgc_cfg_str(m, "padding_mode", "constant", &s, err)) return -1;
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, names[i])) return *mode = i, 0;
    return tgc_cfg_fail(err, tgc_cfg_get(m, "padding_mode"),
                        "unsupported padding_mode '%s' (supported: constant, edge, reflect, symmetric)", s);
}

static int parse_random_crop(const tgc_cfg *m, tf *t, tgc_err *err) {
    t->kind = TF_RANDOM_CROP;
    if (tgc_cfg_size(m, "crop_size", 1, 0, &t->w, &t->h, err) || parse_pad_mode(m, &t->pad_mode, err) ||
        tgc_cfg_bool(m, "pad_if_needed", 0, &t->pad_if_needed, err))
        return -1;
    int64_t p[4];
    int n = 0;
    const tgc_cfg *pc = tgc_cfg_get(m, "padding");
    if (pc && pc->kind != TGC_CFG_NULL) {
        if (tgc_cfg_ints(m, "padding", p, 4, &n, err)) return -1;
        if (n == 1) p[1] = p[2] = p[3] = p[0];
        else if (n == 2) p[2] = p[0], p[3] = p[1];
        else if (n != 4) return tgc_cfg_fail(err, pc, "padding must be an int, [lr, tb] or [l, t, r, b]");
        for (int i = 0; i < 4; i++) {
            if (p[i] < 0 || p[i] > 4096) return tgc_cfg_fail(err, pc, "padding %lld is outside 0..4096", (long long)p[i]);
            t->pad[i] = (int)p[i];
        }
    }
    double v[4];
    if (get_numbers(m, "pad_val", v, 4, &n, err)) return -1;
    for (int i = 0; i < 4; i++) {
        double x = n == 0 ? 0 : v[n == 1 ? 0 : TGC_MIN(i, n - 1)];
        if (x < 0 || x > 255) return tgc_cfg_fail(err, tgc_cfg_get(m, "pad_val"), "pad_val must be in 0..255");
        t->pad_val[i] = (uint8_t)lrint(x);
    }
    return 0;
}

static int parse_rrc(const tgc_cfg *m, tf *t, tgc_err *err) {
    t->kind = TF_RRC;
    int64_t att;
    if (tgc_cfg_size(m, "scale", 1, 0, &t->w, &t->h, err) || get_interp(m, t, err) ||
        parse_range(m, "crop_ratio_range", 0.08, 1.0, &t->crop_lo, &t->crop_hi, err) ||
        parse_range(m, "aspect_ratio_range", 3.0 / 4.0, 4.0 / 3.0, &t->ar_lo, &t->ar_hi, err) ||
        tgc_cfg_int(m, "max_attempts", 10, &att, err))
        return -1;
    if (t->crop_hi > 1) return tgc_cfg_fail(err, tgc_cfg_get(m, "crop_ratio_range"), "crop ratios must be <= 1");
    if (att < 0 || att > 1000) return tgc_cfg_fail(err, tgc_cfg_get(m, "max_attempts"), "max_attempts must be in 0..1000");
    t->max_attempts = (int)att;
    t->log_ar_lo = log(t->ar_lo);
    t->log_ar_hi = log(t->ar_hi);
    return 0;
}

static int parse_resize_edge(const tgc_cfg *m, tf *t, tgc_err *err) {
    static const char *names[] = {"short", "long", "width", "height"};
    t->kind = TF_RESIZE_EDGE;
    int64_t s;
    const char *e;
    if (tgc_cfg_int(m, "scale", 0, &s, err) || tgc_cfg_str(m, "edge", "short", &e, err) || get_interp(m, t, err))
        return -1;
    if (s < 1 || s > 16384) return tgc_cfg_fail(err, tgc_cfg_get(m, "scale") ? tgc_cfg_get(m, "scale") : m,
                                                "ResizeEdge needs an int scale in 1..16384");
    t->w = (int)s;
    for (t->edge = 0; t->edge < 4 && strcmp(e, names[t->edge]); t->edge++) {}
    if (t->edge == 4)
        return tgc_cfg_fail(err, tgc_cfg_get(m, "edge"), "unsupported edge '%s' (short, long, width, height)", e);
    return 0;
}

static int flip_dir(const tgc_cfg *c, const char *s, int *out, tgc_err *err) {
    if (!strcmp(s, "horizontal")) *out = 1;
    else if (!strcmp(s, "vertical")) *out = 2;
    else if (!strcmp(s, "diagonal")) *out = 3;
    else return tgc_cfg_fail(err, c, "unsupported flip direction '%s' (horizontal, vertical, diagonal)", s);
    return 0;
}

static int parse_flip(const tgc_cfg *m, tf *t, tgc_err *err) {
    t->kind = TF_FLIP;
    const tgc_cfg *d = tgc_cfg_get(m, "direction");
    if (!d || d->kind == TGC_CFG_NULL) {
        t->ndir = 1;
        t->dirs[0] = 1;
    } else if (d->kind == TGC_CFG_STR) {
        t->ndir = 1;
        if (flip_dir(d, d->s, &t->dirs[0], err)) return -1;
    } else if ((d->kind == TGC_CFG_LIST || d->kind == TGC_CFG_TUPLE) && d->n >= 1 && d->n <= 3) {
        t->ndir = d->n;
        for (int i = 0; i < d->n; i++) {
            if (d->items[i]->kind != TGC_CFG_STR) return tgc_cfg_fail(err, d->items[i], "expected a direction string");
            if (flip_dir(d->items[i], d->items[i]->s, &t->dirs[i], err)) return -1;
        }
    } else {
        return tgc_cfg_fail(err, d, "direction must be a string or a list of 1 to 3 strings");
    }
    double p[3];
    int n;
    if (get_numbers(m, "prob", p, 3, &n, err)) return -1;
    if (n == 0) return tgc_cfg_fail(err, m, "RandomFlip needs 'prob'");
    /* mmcv: one prob for several directions is split evenly; a list gives one prob per direction. */
    if (n == 1) {
        for (int i = 0; i < t->ndir; i++) t->probs[i] = p[0] / t->ndir;
    } else if (n == t->ndir) {
        for (int i = 0; i < n; i++) t->probs[i] = p[i];
    } else {
        return tgc_cfg_fail(err, tgc_cfg_get(m, "prob"), "%d probabilities for %d directions", n, t->ndir);
    }
    double sum = 0;
    for (int i = 0; i < t->ndir; i++) {
        if (!(t->probs[i] >= 0)) return tgc_cfg_fail(err, tgc_cfg_get(m, "prob"), "probabilities must be >= 0");
        sum += t->probs[i];
    }
    if (sum > 1 + 1e-9) return tgc_cfg_fail(err, tgc_cfg_get(m, "prob"), "probabilities sum to %g > 1", sum);
    return 0;
}

static int parse_one(const tgc_cfg *m, tf *t, int *channels, tgc_err *err) {
    if (m->kind != TGC_CFG_MAP) return tgc_cfg_fail(err, m, "a transform must be a map, got a %s", tgc_cfg_kind_name(m->kind));
    const char *type;
    if (tgc_cfg_str(m, "type", NULL, &type, err)) return -1;
    if (!type) return tgc_cfg_fail(err, m, "transform has no 'type'");
    const char *dot = strrchr(type, '.'); /* "mmpretrain.RandomCrop" -> "RandomCrop" */
    const char *name = dot ? dot + 1 : type;
    memset(t, 0, sizeof *t);
    if (!strcmp(name, "LoadImageFromFile")) {
        const char *ct;
        if (tgc_cfg_str(m, "color_type", "color", &ct, err)) return -1;
        if (!strcmp(ct, "color")) *channels = 3;
        else if (!strcmp(ct, "grayscale")) *channels = 1;
        else return tgc_cfg_fail(err, tgc_cfg_get(m, "color_type"), "unsupported color_type '%s' (color, grayscale)", ct);
        t->kind = TF_NOOP;
        return 0;
    }
    if (!strcmp(name, "PackInputs") || !strcmp(name, "PackClsInputs")) return t->kind = TF_NOOP, 0;
    if (!strcmp(name, "Resize")) return parse_resize(m, t, err);
    if (!strcmp(name, "RandomCrop")) return parse_random_crop(m, t, err);
    if (!strcmp(name, "RandomResizedCrop")) return parse_rrc(m, t, err);
    if (!strcmp(name, "ResizeEdge")) return parse_resize_edge(m, t, err);
    if (!strcmp(name, "CenterCrop")) {
        t->kind = TF_CENTER_CROP;
        return tgc_cfg_size(m, "crop_size", 1, 1, &t->w, &t->h, err);
    }
    if (!strcmp(name, "RandomFlip")) return parse_flip(m, t, err);
    if (!strcmp(name, "ColorJitter")) return t->kind = TF_COLOR_JITTER, tgc_color_jitter_parse(m, &t->cj, err);
    if (!strcmp(name, "RandomErasing")) return t->kind = TF_ERASING, tgc_erasing_parse(m, &t->er, err);
    if (tgc_aug_is_type(name)) {
        t->kind = TF_AUG;
        return (t->aug = tgc_aug_new(m, name, err)) ? 0 : -1;
    }
    return tgc_cfg_fail(err, tgc_cfg_get(m, "type"),
                        "unsupported transform '%s' (supported: LoadImageFromFile, Resize, RandomCrop, "
                        "RandomResizedCrop, ResizeEdge, CenterCrop, RandomFlip, ColorJitter, RandomErasing, "
                        "RandAugment, AutoAugment, their operations (Shear, Rotate, Equalize, ...), PackInputs)",
                        type);
}

tgc_pipeline *tgc_pipeline_new(const tgc_cfg *list, tgc_err *err) {
    if (list && list->kind != TGC_CFG_LIST && list->kind != TGC_CFG_TUPLE && list->kind != TGC_CFG_NULL) {
        tgc_cfg_fail(err, list, "pipeline must be a list of transforms, got a %s", tgc_cfg_kind_name(list->kind));
        return NULL;
    }
    tgc_pipeline *p = tgc_calloc(1, sizeof *p);
    p->channels = 3;
    p->n = list && list->kind != TGC_CFG_NULL ? list->n : 0;
    p->t = tgc_calloc((size_t)p->n + 1, sizeof *p->t);
    for (int i = 0; i < p->n; i++) {
        if (parse_one(list->items[i], &p->t[i], &p->channels, err)) {
            tgc_pipeline_free(p);
            return NULL;
        }
    }
    return p;
}

void tgc_pipeline_free(tgc_pipeline *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) tgc_aug_free(p->t[i].aug);
    free(p->t);
    free(p);
}

int tgc_pipeline_channels(const tgc_pipeline *p) { return p->channels; }

/* ---- applying ------------------------------------------------------------------------------------- */

static void swap_images(tgc_image *a, tgc_image *b) {
    tgc_image t = *a;
    *a = *b;
    *b = t;
}

/* Python's round() (ties to even), which MMPretrain's crop arithmetic uses; rint does the same in the
 * default rounding mode. */
static int py_round(double x) { return (int)rint(x); }

/* numpy.random.randint(lo, hi): uniform in [lo, hi). */
static int randint(tgc_rng *r, int lo, int hi) { return lo + (int)tgc_rng_below(r, (uint32_t)(hi - lo)); }

/* Output sizes derived from the input (scale factors, ResizeEdge on extreme aspect ratios) are capped so
 * that a strange image cannot ask for unbounded memory. */
static int resize_to(tgc_image *img, tgc_image *scratch, int ow, int oh, const tf *t, const char *what, tgc_err *err) {
    ow = TGC_MAX(ow, 1);
    oh = TGC_MAX(oh, 1);
    if (ow > 16384 || oh > 16384)
        return tgc_fail(err, "%s: a %dx%d image would become %dx%d, over the 16384-pixel side limit", what, img->w,
                        img->h, ow, oh);
    if (ow == img->w && oh == img->h) return 0;
    tgc_image_resample(img, 0, 0, img->w, img->h, scratch, ow, oh, t->interp, t->backend);
    swap_images(img, scratch);
    return 0;
}

static int apply_resize(const tf *t, tgc_image *img, tgc_image *scratch, tgc_err *err) {
    int w = img->w, h = img->h, ow, oh;
    if (t->w == 0) { /* mmcv _scale_size: int(x * factor + 0.5) */
        ow = (int)(w * t->fw + 0.5);
        oh = (int)(h * t->fh + 0.5);
    } else if (t->keep_ratio) { /* mmcv rescale_size: fit the long and the short edge into the scale */
        double lng = TGC_MAX(t->w, t->h), sht = TGC_MIN(t->w, t->h);
        double f = TGC_MIN(lng / TGC_MAX(w, h), sht / TGC_MIN(w, h));
        ow = (int)(w * f + 0.5);
        oh = (int)(h * f + 0.5);
    } else {
        ow = t->w;
        oh = t->h;
    }
    return resize_to(img, scratch, ow, oh, t, "Resize", err);
}

static void apply_random_crop(const tf *t, tgc_image *img, tgc_image *scratch, tgc_rng *rng) {
    /* Work in the coordinates of the padded image without building it: (left, top) is where the source
     * starts inside it. */
    int left = t->pad[0], top = t->pad[1];
    int pw = img->w + t->pad[0] + t->pad[2], ph = img->h + t->pad[1] + t->pad[3];
    if (t->pad_if_needed) {
        int hp = (TGC_MAX(0, t->h - ph) + 1) / 2, wp = (TGC_MAX(0, t->w - pw) + 1) / 2;
        left += wp;
        top += hp;
        pw += 2 * wp;
        ph += 2 * hp;
    }
    int th = t->h, tw = t->w, oy = 0, ox = 0;
    if (!(pw == tw && ph == th)) {
        th = TGC_MIN(th, ph);
        tw = TGC_MIN(tw, pw);
        oy = randint(rng, 0, ph - th + 1);
        ox = randint(rng, 0, pw - tw + 1);
    }
    if (ox - left == 0 && oy - top == 0 && tw == img->w && th == img->h) return;
    tgc_image_crop_pad(img, ox - left, oy - top, tw, th, t->pad_mode, t->pad_val, scratch);
    swap_images(img, scratch);
}

static void apply_rrc(const tf *t, tgc_image *img, tgc_image *scratch, tgc_rng *rng) {
    int h = img->h, w = img->w, th = 0, tw = 0, oy = 0, ox = 0, found = 0;
    double area = (double)h * w;
    for (int i = 0; i < t->max_attempts && !found; i++) {
        double target = (t->crop_lo + (t->crop_hi - t->crop_lo) * tgc_rng_uniform(rng)) * area;
        double ar = exp(t->log_ar_lo + (t->log_ar_hi - t->log_ar_lo) * tgc_rng_uniform(rng));
        tw = py_round(sqrt(target * ar));
        th = py_round(sqrt(target / ar));
        if (tw > 0 && tw <= w && th > 0 && th <= h) {
            oy = randint(rng, 0, h - th + 1);
            ox = randint(rng, 0, w - tw + 1);
            found = 1;
        }
    }
    if (!found) { /* the central crop torchvision and MMPretrain fall back to */
        double in_ratio = (double)w / h;
        if (in_ratio < t->ar_lo) {
            tw = w;
            th = py_round(tw / t->ar_lo);
        } else if (in_ratio > t->ar_hi) {
            th = h;
            tw = py_round(th * t->ar_hi);
        } else {
            tw = w;
            th = h;
        }
        th = TGC_MIN(TGC_MAX(th, 1), h);
        tw = TGC_MIN(TGC_MAX(tw, 1), w);
        oy = (h - th) / 2;
        ox = (w - tw) / 2;
    }
    tgc_image_resample(img, ox, oy, tw, th, scratch, t->w, t->h, t->interp, t->backend);
    swap_images(img, scratch);
}

static int apply_resize_edge(const tf *t, tgc_image *img, tgc_image *scratch, tgc_err *err) {
    int h = img->h, w = img->w, ow, oh, s = t->w;
    if ((t->edge == EDGE_SHORT && w < h) || (t->edge == EDGE_LONG && w > h) || t->edge == EDGE_WIDTH) {
        ow = s;
        oh = (int)((double)s * h / w); /* int() truncates, as in MMPretrain */
    } else {
        oh = s;
        ow = (int)((double)s * w / h);
    }
    return resize_to(img, scratch, ow, oh, t, "ResizeEdge", err);
}

static void apply_center_crop(const tf *t, tgc_image *img, tgc_image *scratch) {
    int ch = TGC_MIN(t->h, img->h), cw = TGC_MIN(t->w, img->w);
    int y = TGC_MAX(0, py_round((img->h - ch) / 2.0)), x = TGC_MAX(0, py_round((img->w - cw) / 2.0));
    if (ch == img->h && cw == img->w) return;
    tgc_image_crop_pad(img, x, y, cw, ch, TGC_PAD_CONSTANT, t->pad_val, scratch);
    swap_images(img, scratch);
}

static void apply_flip(const tf *t, tgc_image *img, tgc_rng *rng) {
    /* mmcv draws one choice among the directions and "no flip" (the remaining probability). */
    double u = tgc_rng_uniform(rng), acc = 0;
    for (int i = 0; i < t->ndir; i++) {
        acc += t->probs[i];
        if (u < acc) {
            tgc_image_flip(img, t->dirs[i] & 1, t->dirs[i] & 2);
            return;
        }
    }
}

int tgc_pipeline_apply(const tgc_pipeline *p, tgc_image *img, tgc_image *scratch, tgc_rng *rng, tgc_err *err) {
    if (img->h < 1 || img->w < 1 || img->c < 1) return tgc_fail(err, "pipeline: empty input image");
    for (int i = 0; i < p->n; i++) {
        const tf *t = &p->t[i];
        switch (t->kind) {
        case TF_NOOP: break;
        case TF_RESIZE:
            if (apply_resize(t, img, scratch, err)) return -1;
            break;
        case TF_RANDOM_CROP: apply_random_crop(t, img, scratch, rng); break;
        case TF_RRC: apply_rrc(t, img, scratch, rng); break;
        case TF_RESIZE_EDGE:
            if (apply_resize_edge(t, img, scratch, err)) return -1;
            break;
        case TF_CENTER_CROP: apply_center_crop(t, img, scratch); break;
        case TF_FLIP: apply_flip(t, img, rng); break;
        case TF_COLOR_JITTER:
            if (tgc_color_jitter_apply(&t->cj, img, rng, err)) return -1;
            break;
        case TF_ERASING: tgc_erasing_apply(&t->er, img, rng); break;
        case TF_AUG:
            if (tgc_aug_apply(t->aug, img, scratch, rng, err)) return -1;
            break;
        }
    }
    return 0;
}
