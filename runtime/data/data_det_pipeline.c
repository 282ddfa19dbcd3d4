/* runtime/data/data_det_pipeline.c - MMDetection 3.x transforms on an image and its boxes, parsed from config. */
#include "runtime/data/det_data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum dt_kind { DT_LOAD_IMAGE, DT_LOAD_ANN, DT_RESIZE, DT_FLIP, DT_PAD, DT_PACK } dt_kind;

typedef struct dt {
    dt_kind kind;
    int channels;          /* LoadImageFromFile */
    int with_bbox, with_label;
    int w, h;              /* Resize scale, Pad size (0: none) */
    double fw, fh;         /* Resize scale_factor (when w == 0) */
    int keep_ratio, clip;
    tgc_interp interp;     /* Resize: mmcv.imresize's interpolation and backend */
    int backend;
    int ndir, dirs[3];     /* RandomFlip: TGC_DET_FLIP_* candidates and their probabilities */
    double probs[3];
    int divisor, square;   /* Pad */
    uint8_t pad_val;
} dt;

struct tgc_det_pipeline {
    int n;
    dt *t;
};

/* ---- parsing ------------------------------------------------------------------------------------------------ */

static int is_number(const tgc_cfg *c) { return c && (c->kind == TGC_CFG_INT || c->kind == TGC_CFG_FLOAT); }
static double number(const tgc_cfg *c) { return c->kind == TGC_CFG_INT ? (double)c->i : c->f; }
static int is_seq(const tgc_cfg *c) { return c && (c->kind == TGC_CFG_LIST || c->kind == TGC_CFG_TUPLE); }

static int parse_resize(const tgc_cfg *m, dt *t, tgc_err *err) {
    t->kind = DT_RESIZE;
    if (tgc_cfg_size(m, "scale", 0, 1, &t->w, &t->h, err) || tgc_cfg_bool(m, "keep_ratio", 0, &t->keep_ratio, err) ||
        tgc_cfg_bool(m, "clip_object_border", 1, &t->clip, err) || tgc_cfg_resample(m, &t->interp, &t->backend, err))
        return -1;
    if (t->w) return 0;
    const tgc_cfg *f = tgc_cfg_get(m, "scale_factor");
    if (is_number(f)) {
        t->fw = t->fh = number(f);
    } else if (is_seq(f) && f->n == 2 && is_number(f->items[0]) && is_number(f->items[1])) {
        t->fw = number(f->items[0]);
        t->fh = number(f->items[1]);
    } else {
        return tgc_cfg_fail(err, f ? f : m, f ? "scale_factor must be a number or [w, h]"
                                              : "Resize needs 'scale' or 'scale_factor'");
    }
    if (!(t->fw > 0 && t->fw <= 64 && t->fh > 0 && t->fh <= 64))
        return tgc_cfg_fail(err, f, "scale_factor must be in (0, 64]");
    return 0;
}

static int flip_dir(const tgc_cfg *c, int *out, tgc_err *err) {
    if (!c || c->kind != TGC_CFG_STR) return tgc_cfg_fail(err, c, "a flip direction must be a string");
    if (!strcmp(c->s, "horizontal")) *out = TGC_DET_FLIP_HORIZONTAL;
    else if (!strcmp(c->s, "vertical")) *out = TGC_DET_FLIP_VERTICAL;
    else if (!strcmp(c->s, "diagonal")) *out = TGC_DET_FLIP_DIAGONAL;
    else return tgc_cfg_fail(err, c, "unsupported flip direction '%s' (horizontal, vertical, diagonal)", c->s);
    return 0;
}

static int parse_flip(const tgc_cfg *m, dt *t, tgc_err *err) {
    t->kind = DT_FLIP;
    const tgc_cfg *d = tgc_cfg_get(m, "direction"), *p = tgc_cfg_get(m, "prob");
    if (!d || d->kind == TGC_CFG_NULL) {
        t->ndir = 1;
        t->dirs[0] = TGC_DET_FLIP_HORIZONTAL;
    } else if (is_seq(d) && d->n >= 1 && d->n <= 3) {
        t->ndir = d->n;
        for (int i = 0; i < d->n; i++)
            if (flip_dir(d->items[i], &t->dirs[i], err)) return -1;
    } else {
        t->ndir = 1;
        if (flip_dir(d, &t->dirs[0], err)) return -1;
    }
    /* mmcv: one prob for several directions is split evenly; a list gives one per direction */
    if (is_number(p)) {
        for (int i = 0; i < t->ndir; i++) t->probs[i] = number(p) / t->ndir;
    } else if (is_seq(p) && p->n == t->ndir) {
        for (int i = 0; i < p->n; i++) {
            if (!is_number(p->items[i])) return tgc_cfg_fail(err, p->items[i], "a probability must be a number");
            t->probs[i] = number(p->items[i]);
        }
    } else {
        return tgc_cfg_fail(err, p ? p : m, p ? "prob must be a number or one per direction" : "RandomFlip needs 'prob'");
    }
    double sum = 0;
    for (int i = 0; i < t->ndir; i++) {
        if (!(t->probs[i] >= 0)) return tgc_cfg_fail(err, p, "probabilities must be >= 0");
        sum += t->probs[i];
    }
    if (sum > 1 + 1e-9) return tgc_cfg_fail(err, p, "probabilities sum to %g > 1", sum);
    return 0;
}

static int parse_pad(const tgc_cfg *m, dt *t, tgc_err *err) {
    int64_t div;
    const char *mode;
    t->kind = DT_PAD;
    if (tgc_cfg_size(m, "size", 0, 1, &t->w, &t->h, err) || tgc_cfg_int(m, "size_divisor", 0, &div, err) ||
        tgc_cfg_bool(m, "pad_to_square", 0, &t->square, err) || tgc_cfg_str(m, "padding_mode", "constant", &mode, err))
        return -1;
    if (div < 0 || div > 4096) return tgc_cfg_fail(err, tgc_cfg_get(m, "size_divisor"), "size_divisor must be in 0..4096");
    t->divisor = (int)div;
    if (strcmp(mode, "constant"))
        return tgc_cfg_fail(err, tgc_cfg_get(m, "padding_mode"), "unsupported padding_mode '%s' (supported: constant)", mode);
    if (!t->w && !t->divisor && !t->square)
        return tgc_cfg_fail(err, m, "Pad needs 'size', 'size_divisor' or 'pad_to_square'");
    const tgc_cfg *pv = tgc_cfg_get(m, "pad_val");
    if (pv && pv->kind == TGC_CFG_MAP) pv = tgc_cfg_get(pv, "img"); /* {img: 0, seg: 255} */
    double v = 0;
    if (pv && pv->kind != TGC_CFG_NULL) {
        if (!is_number(pv)) return tgc_cfg_fail(err, pv, "pad_val must be a number (or {img: number})");
        v = number(pv);
    }
    if (!(v >= 0 && v <= 255)) return tgc_cfg_fail(err, pv, "pad_val must be in 0..255");
    t->pad_val = (uint8_t)lrint(v);
    return 0;
}

static int parse_one(const tgc_cfg *m, dt *t, tgc_err *err) {
    if (m->kind != TGC_CFG_MAP) return tgc_cfg_fail(err, m, "a transform must be a map, got a %s", tgc_cfg_kind_name(m->kind));
    const char *type;
    if (tgc_cfg_str(m, "type", NULL, &type, err)) return -1;
    if (!type) return tgc_cfg_fail(err, m, "transform has no 'type'");
    const char *dot = strrchr(type, '.');
    const char *name = dot ? dot + 1 : type;
    memset(t, 0, sizeof *t);
    if (!strcmp(name, "LoadImageFromFile")) {
        const char *ct;
        t->kind = DT_LOAD_IMAGE;
        if (tgc_cfg_str(m, "color_type", "color", &ct, err)) return -1;
        if (!strcmp(ct, "color")) t->channels = 3;
        else if (!strcmp(ct, "grayscale")) t->channels = 1;
        else return tgc_cfg_fail(err, tgc_cfg_get(m, "color_type"), "unsupported color_type '%s' (color, grayscale)", ct);
        return 0;
    }
    if (!strcmp(name, "LoadAnnotations")) {
        int mask, seg;
        t->kind = DT_LOAD_ANN;
        if (tgc_cfg_bool(m, "with_bbox", 1, &t->with_bbox, err) || tgc_cfg_bool(m, "with_label", 1, &t->with_label, err) ||
            tgc_cfg_bool(m, "with_mask", 0, &mask, err) || tgc_cfg_bool(m, "with_seg", 0, &seg, err))
            return -1;
        if (mask || seg)
            return tgc_cfg_fail(err, tgc_cfg_get(m, mask ? "with_mask" : "with_seg"),
                                "%s: masks and segmentation maps are not supported (boxes only)", mask ? "with_mask" : "with_seg");
        return 0;
    }
    if (!strcmp(name, "Resize")) return parse_resize(m, t, err);
    if (!strcmp(name, "RandomFlip")) return parse_flip(m, t, err);
    if (!strcmp(name, "Pad")) return parse_pad(m, t, err);
    if (!strcmp(name, "PackDetInputs")) return t->kind = DT_PACK, 0;
    return tgc_cfg_fail(err, tgc_cfg_get(m, "type"),
                        "unsupported detection transform '%s' (supported: LoadImageFromFile, LoadAnnotations, Resize, "
                        "RandomFlip, Pad, PackDetInputs)", type);
}

tgc_det_pipeline *tgc_det_pipeline_new(const tgc_cfg *list, tgc_err *err) {
    if (list && list->kind != TGC_CFG_NULL && !is_seq(list)) {
        tgc_cfg_fail(err, list, "pipeline must be a list of transforms, got a %s", tgc_cfg_kind_name(list->kind));
        return NULL;
    }
    tgc_det_pipeline *p = tgc_calloc(1, sizeof *p);
    p->n = is_seq(list) ? list->n : 0;
    p->t = tgc_calloc((size_t)p->n + 1, sizeof *p->t);
    int loaded = 0;
    for (int i = 0; i < p->n; i++) {
        if (parse_one(list->items[i], &p->t[i], err)) goto fail;
        dt_kind k = p->t[i].kind;
        if (k == DT_LOAD_IMAGE) loaded = 1;
        else if (!loaded && k != DT_PACK && k != DT_LOAD_ANN) {
            tgc_cfg_fail(err, list->items[i], "this transform needs an image: LoadImageFromFile must come first");
            goto fail;
        }
    }
    if (p->n && !loaded) {
        tgc_cfg_fail(err, list, "the pipeline has no LoadImageFromFile");
        goto fail;
    }
    return p;
fail:
    tgc_det_pipeline_free(p);
    return NULL;
}

void tgc_det_pipeline_free(tgc_det_pipeline *p) {
    if (!p) return;
    free(p->t);
    free(p);
}

/* ---- applying ---------------------------------------------------------------------------------------------- */

static void swap_images(tgc_image *a, tgc_image *b) {
    tgc_image t = *a;
    *a = *b;
    *b = t;
}

static int load_image(const tgc_det_image *im, int channels, tgc_det_sample *s, tgc_err *err) {
    if (tgc_image_load(im->path, channels, &s->img, err)) return -1;
    if (s->img.w != im->width || s->img.h != im->height)
        return tgc_fail(err, "%s decodes to %dx%d but the annotation file says %dx%d (width x height)", im->path,
                        s->img.w, s->img.h, im->width, im->height);
    s->ori_h = s->img_h = s->pad_h = s->img.h;
    s->ori_w = s->img_w = s->pad_w = s->img.w;
    return 0;
}

static void copy_boxes(float **dst, int *cap, const float *src, int n) {
    if (n == 0) return;
    TGC_GROW(*dst, *cap, 4 * n);
    memcpy(*dst, src, sizeof(float) * 4 * (size_t)n);
}

static void load_annotations(const dt *t, const tgc_det_image *im, tgc_det_sample *s) {
    s->n_gt = s->n_ignore = 0;
    if (!t->with_bbox) return;
    copy_boxes(&s->gt, &s->cap_gt, im->gt, im->n_gt);
    copy_boxes(&s->ignore, &s->cap_ignore, im->ignore, im->n_ignore);
    int cap = s->cap_gt / 4 + 1;
    s->labels = tgc_realloc(s->labels, sizeof(int32_t) * (size_t)cap);
    if (im->n_gt) memcpy(s->labels, im->labels, sizeof(int32_t) * (size_t)im->n_gt);
    s->n_gt = im->n_gt;
    s->n_ignore = im->n_ignore;
}

static void scale_boxes(float *b, int n, double sw, double sh, int clip, int w, int h) {
    for (int i = 0; i < n; i++) {
        float *q = b + 4 * i;
        for (int k = 0; k < 4; k++) {
            double v = q[k] * (k % 2 ? sh : sw);
            if (clip) v = fmin(fmax(v, 0), k % 2 ? h : w);
            q[k] = (float)v;
        }
    }
}

static int apply_resize(const dt *t, tgc_det_sample *s, tgc_err *err) {
    int w = s->img.w, h = s->img.h, ow, oh;
    if (t->w == 0) { /* mmcv _scale_size: int(x * factor + 0.5) */
        ow = (int)(w * t->fw + 0.5);
        oh = (int)(h * t->fh + 0.5);
    } else if (t->keep_ratio) { /* mmcv rescale_size: the long and the short edge fit the scale */
        double lng = TGC_MAX(t->w, t->h), sht = TGC_MIN(t->w, t->h);
        double f = TGC_MIN(lng / TGC_MAX(w, h), sht / TGC_MIN(w, h));
        ow = (int)(w * f + 0.5);
        oh = (int)(h * f + 0.5);
    } else {
        ow = t->w;
        oh = t->h;
    }
    ow = TGC_MAX(ow, 1);
    oh = TGC_MAX(oh, 1);
    if (ow > 16384 || oh > 16384)
        return tgc_fail(err, "Resize: a %dx%d image would become %dx%d, over the 16384-pixel side limit", w, h, ow, oh);
    if (ow != w || oh != h) {
        tgc_image_resample(&s->img, 0, 0, w, h, &s->scratch, ow, oh, t->interp, t->backend);
        swap_images(&s->img, &s->scratch);
    }
    /* MMDetection's Resize: scale_factor = (new_w / w, new_h / h); boxes scaled by it and clipped */
    s->scale_w = (double)ow / w;
    s->scale_h = (double)oh / h;
    scale_boxes(s->gt, s->n_gt, s->scale_w, s->scale_h, t->clip, ow, oh);
    scale_boxes(s->ignore, s->n_ignore, s->scale_w, s->scale_h, t->clip, ow, oh);
    s->img_h = s->pad_h = oh;
    s->img_w = s->pad_w = ow;
    return 0;
}

static void flip_boxes(float *b, int n, int dir, int w, int h) {
    for (int i = 0; i < n; i++) {
        float *q = b + 4 * i, t;
        if (dir & TGC_DET_FLIP_HORIZONTAL) t = q[0], q[0] = (float)w - q[2], q[2] = (float)w - t;
        if (dir & TGC_DET_FLIP_VERTICAL) t = q[1], q[1] = (float)h - q[3], q[3] = (float)h - t;
    }
}

static void apply_flip(const dt *t, tgc_det_sample *s, tgc_rng *rng) {
    /* mmcv draws one choice among the directions and "no flip" (the remaining probability) */
    double u = tgc_rng_uniform(rng), acc = 0;
    for (int i = 0; i < t->ndir; i++) {
        acc += t->probs[i];
        if (u < acc) {
            int d = t->dirs[i];
            tgc_image_flip(&s->img, d & TGC_DET_FLIP_HORIZONTAL, d & TGC_DET_FLIP_VERTICAL);
            flip_boxes(s->gt, s->n_gt, d, s->img.w, s->img.h);
            flip_boxes(s->ignore, s->n_ignore, d, s->img.w, s->img.h);
            s->flip = d;
            return;
        }
    }
}

static int apply_pad(const dt *t, tgc_det_sample *s, tgc_err *err) {
    /* mmcv Pad: pad_to_square, else size; then rounded up to size_divisor; bottom/right, constant */
    int w = s->img.w, h = s->img.h, pw = w, ph = h;
    if (t->square) pw = ph = TGC_MAX(w, h);
    else if (t->w) pw = t->w, ph = t->h;
    if (t->divisor) {
        pw = (pw + t->divisor - 1) / t->divisor * t->divisor;
        ph = (ph + t->divisor - 1) / t->divisor * t->divisor;
    }
    if (pw < w || ph < h)
        return tgc_fail(err, "Pad: the %dx%d image is larger than the padded size %dx%d", w, h, pw, ph);
    if (pw != w || ph != h) {
        uint8_t val[4] = {t->pad_val, t->pad_val, t->pad_val, t->pad_val};
        tgc_image_crop_pad(&s->img, 0, 0, pw, ph, TGC_PAD_CONSTANT, val, &s->scratch);
        swap_images(&s->img, &s->scratch);
    }
    s->pad_h = ph;
    s->pad_w = pw;
    return 0;
}

int tgc_det_pipeline_apply(const tgc_det_pipeline *p, const tgc_det_image *im, tgc_det_sample *s, tgc_rng *rng,
                           tgc_err *err) {
    s->n_gt = s->n_ignore = 0;
    s->scale_w = s->scale_h = 1;
    s->flip = TGC_DET_FLIP_NONE;
    if (!p || p->n == 0) { /* no pipeline: the image and its annotations as they are */
        static const dt ann = {.kind = DT_LOAD_ANN, .with_bbox = 1, .with_label = 1};
        if (load_image(im, 3, s, err)) return -1;
        load_annotations(&ann, im, s);
        return 0;
    }
    for (int i = 0; i < p->n; i++) {
        const dt *t = &p->t[i];
        switch (t->kind) {
        case DT_LOAD_IMAGE:
            if (load_image(im, t->channels, s, err)) return -1;
            break;
        case DT_LOAD_ANN: load_annotations(t, im, s); break;
        case DT_RESIZE:
            if (apply_resize(t, s, err)) return -1;
            break;
        case DT_FLIP: apply_flip(t, s, rng); break;
        case DT_PAD:
            if (apply_pad(t, s, err)) return -1;
            break;
        case DT_PACK: break;
        }
    }
    return 0;
}
