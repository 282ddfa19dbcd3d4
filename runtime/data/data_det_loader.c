/* runtime/data/data_det_loader.c - detection batches: a tgc_det_dataset as a source of the batch loader
 * (data_loader.c), one sample = tgc_det_get, normalisation onto the canvas, RetinaNet's or the RPN's targets
 * and the padded ground truth of a two-stage detector. */
#include "runtime/data/det_data.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/data/data_loader_src.h"

typedef struct det_src {
    const tgc_det_dataset *ds;
    tgc_det_dataset *owned_ds;
    tgc_det_batch_opts o;
    tgc_normalize norm;
    tgc_det_anchors anchors; /* with targets */
    tgc_det_anchors anchors_t; /* with targets and two orientations: the transposed canvas's */
    uint8_t *portrait;         /* two orientations: 1 per portrait image (annotation width < height) */
} det_src;

typedef struct det_ws {
    tgc_det_sample s;
    uint8_t *valid; /* [anchors] */
} det_ws;

static void src_free(void *ctx) {
    det_src *d = ctx;
    if (!d) return;
    tgc_det_anchors_free(&d->anchors);
    tgc_det_anchors_free(&d->anchors_t);
    free(d->portrait);
    tgc_det_dataset_free(d->owned_ds);
    free(d);
}

static void *ws_new(void *ctx) {
    det_src *d = ctx;
    det_ws *w = tgc_calloc(1, sizeof *w);
    if (d->o.targets) w->valid = tgc_malloc((size_t)d->anchors.count);
    return w;
}

static void ws_free(void *p) {
    det_ws *w = p;
    tgc_det_sample_free(&w->s);
    free(w->valid);
    free(w);
}

/* The image (u8 HWC, BGR) normalised into the top-left of a C x H x W canvas, zeros elsewhere. */
static void to_canvas(const tgc_normalize *nm, const tgc_image *img, int ch, int h, int w, float *dst) {
    int flip = nm->to_rgb && img->c == 3;
    for (int k = 0; k < ch; k++) {
        int src = flip ? 2 - k : k;
        float mean = nm->n ? nm->mean[nm->n == 1 ? 0 : k] : 0.0f;
        float sd = nm->n ? nm->std[nm->n == 1 ? 0 : k] : 1.0f;
        float *plane = dst + (size_t)k * h * w;
        for (int y = 0; y < h; y++) {
            float *row = plane + (size_t)y * w;
            if (y >= img->h) {
                memset(row, 0, sizeof(float) * (size_t)w);
                continue;
            }
            const uint8_t *s = img->data + (size_t)y * img->w * img->c + src;
            /* a division, as (inputs - mean) / std in PyTorch */
            for (int x = 0; x < img->w; x++) row[x] = ((float)s[(size_t)x * img->c] - mean) / sd;
            memset(row + img->w, 0, sizeof(float) * (size_t)(w - img->w));
        }
    }
}

static int round_up(int v, int d) { return (v + d - 1) / d * d; }

/* AnchorHead's anchor_inside_flags with allowed_border >= 0: an anchor also needs to lie within the image
 * (img_shape) widened by the border. */
static void inside_border(const tgc_det_anchors *a, int img_h, int img_w, int border, uint8_t *valid) {
    float ab = (float)border;
    for (int64_t i = 0; i < a->count; i++) {
        const float *q = a->boxes + 4 * i;
        valid[i] = valid[i] && q[0] >= -ab && q[1] >= -ab && q[2] < (float)img_w + ab && q[3] < (float)img_h + ab;
    }
}

/* A two-stage detector's training rows: the RPN's sampled targets, the padded ground truth, the RoI sampler's key. */
static int two_stage_rows(const det_src *d, const tgc_det_anchors *anchors, det_ws *w, const tgc_det_sample *s,
                          const tgc_det_image *im, uint32_t epoch, uint32_t position, uint64_t seed, tgc_batch *b,
                          int row, tgc_err *err) {
    tgc_det_meta *m = &b->meta[row];
    const int G = d->o.max_gts;
    int64_t na = anchors->count;
    if (s->n_gt > G)
        return tgc_fail(err, "%s: %d ground-truth boxes (not counting crowd boxes), more than the plan's %d; raise "
                             "model.data_preprocessor.tgc_max_gts and recompile", im->path, s->n_gt, G);
    for (int g = 0; g < s->n_gt; g++)
        if (s->labels[g] < 0 || s->labels[g] >= d->o.num_classes)
            return tgc_fail(err, "%s: box %d has label %d, outside 0..%d", im->path, g, (int)s->labels[g], d->o.num_classes - 1);
    if (d->o.allowed_border >= 0) inside_border(anchors, s->img_h, s->img_w, d->o.allowed_border, w->valid);
    tgc_det_gt gt = {s->gt, s->labels, NULL, s->n_gt, s->ignore, s->n_ignore};
    tgc_rng rng;
    tgc_rng_init(&rng, seed, epoch, position, TGC_RNG_RPN_SAMPLE);
    int64_t nneg;
    if (tgc_det_rpn_targets(&d->o.assigner, &d->o.sampler, &d->o.coder, anchors->boxes, w->valid, na, &gt, &rng,
                            b->cls_target + (size_t)row * na, b->bbox_target + (size_t)row * na * 4, &m->num_pos, &nneg,
                            err))
        return tgc_err_prefix(err, "%s", im->path);
    m->avg_part = (double)(m->num_pos + nneg);
    float *gb = b->gt_bboxes + (size_t)row * G * 4;
    int32_t *gl = b->gt_labels + (size_t)row * G, *key = b->rng + (size_t)row * 4;
    memcpy(gb, s->gt, sizeof(float) * 4 * (size_t)s->n_gt);
    memset(gb + 4 * s->n_gt, 0, sizeof(float) * 4 * (size_t)(G - s->n_gt));
    memcpy(gl, s->labels, sizeof(int32_t) * (size_t)s->n_gt);
    for (int g = s->n_gt; g < G; g++) gl[g] = -1;
    uint32_t k[4] = {(uint32_t)seed, (uint32_t)(seed >> 32), epoch, position};
    memcpy(key, k, sizeof k); /* the bits of the u32 words as i32 */
    return 0;
}

static int build(void *ctx, void *wsp, int index, uint32_t epoch, uint32_t position, uint64_t seed, tgc_batch *b,
                 int row, tgc_err *err) {
    det_src *d = ctx;
    det_ws *w = wsp;
    tgc_det_sample *s = &w->s;
    if (tgc_det_get(d->ds, index, epoch, position, seed, s, err)) return -1;
    const tgc_det_image *im = tgc_det_dataset_image(d->ds, index);
    int ch = 3, ch_img = s->img.c;
    if (ch_img != ch)
        return tgc_fail(err, "%s: the pipeline gives a %d-channel image; the detection canvas has 3 channels "
                             "(LoadImageFromFile color_type color)", im->path, ch_img);
    /* a portrait batch (orientation groups) goes onto the transposed canvas, with that canvas's anchors */
    int tr = b->portrait, cv_h = tr ? d->o.canvas_w : d->o.canvas_h, cv_w = tr ? d->o.canvas_h : d->o.canvas_w;
    const tgc_det_anchors *anchors = tr ? &d->anchors_t : &d->anchors;
    if (s->img.h > cv_h || s->img.w > cv_w)
        return tgc_fail(err, "%s: after the pipeline the image is %dx%d (HxW), larger than the plan's %scanvas %dx%d; "
                             "fix the Resize scale or set model.data_preprocessor.tgc_canvas and recompile",
                        im->path, s->img.h, s->img.w, d->o.two_orient ? (tr ? "portrait " : "landscape ") : "", cv_h,
                        cv_w);
    size_t plane = (size_t)cv_h * cv_w;
    to_canvas(&d->norm, &s->img, ch, cv_h, cv_w, b->images + (size_t)row * ch * plane);
    tgc_det_meta *m = &b->meta[row];
    m->index = index;
    m->img_id = s->img_id;
    m->ori_h = s->ori_h;
    m->ori_w = s->ori_w;
    m->img_h = s->img_h;
    m->img_w = s->img_w;
    /* DetDataPreprocessor's pad_shape: the (pipeline-padded) image rounded up to pad_size_divisor */
    m->pad_h = TGC_MIN(round_up(s->img.h, d->o.pad_size_divisor), cv_h);
    m->pad_w = TGC_MIN(round_up(s->img.w, d->o.pad_size_divisor), cv_w);
    m->scale_w = s->scale_w;
    m->scale_h = s->scale_h;
    m->flip = s->flip;
    m->position = (int)position;
    m->num_pos = 0;
    m->avg_part = 0;
    if (d->o.two_stage) b->img_shape[row * 2] = (float)s->img_h, b->img_shape[row * 2 + 1] = (float)s->img_w;
    if (!d->o.targets) return 0;
    int64_t na = anchors->count;
    tgc_det_valid_flags(anchors, m->pad_h, m->pad_w, w->valid);
    tgc_det_gt gt = {s->gt, s->labels, NULL, s->n_gt, s->ignore, s->n_ignore};
    int32_t *cls = b->cls_target + (size_t)row * na;
    float *box = b->bbox_target + (size_t)row * na * 4;
    if (!d->o.two_stage) {
        if (tgc_det_retina_targets(&d->o.assigner, &d->o.coder, d->o.num_classes, anchors->boxes, w->valid, na, &gt,
                                   cls, box, &m->num_pos, err))
            return tgc_err_prefix(err, "%s", im->path);
        m->avg_part = (double)TGC_MAX(m->num_pos, (int64_t)1);
        return 0;
    }
    return two_stage_rows(d, anchors, w, s, im, epoch, position, seed, b, row, err);
}

/* model.train_cfg.rpn: assigner, sampler, allowed_border; pos_weight -1 and debug false are all tgc has. */
static int rpn_train_cfg(const tgc_cfg *model, tgc_det_batch_opts *o, tgc_err *err) {
    const tgc_cfg *rpn = tgc_cfg_at(model, "train_cfg.rpn");
    if (!rpn || rpn->kind != TGC_CFG_MAP)
        return tgc_cfg_fail(err, rpn ? rpn : model, "model.train_cfg.rpn must be a map (the RPN's assigner and sampler)");
    static const char *const known[] = {"assigner", "sampler", "allowed_border", "pos_weight", "debug", NULL};
    for (int i = 0; i < rpn->n; i++) {
        int ok = 0;
        for (const char *const *k = known; *k && !ok; k++) ok = !strcmp(rpn->keys[i], *k);
        if (!ok) return tgc_cfg_fail(err, rpn->items[i], "unknown or unsupported key '%s' of train_cfg.rpn", rpn->keys[i]);
    }
    const tgc_cfg *as = tgc_cfg_get(rpn, "assigner"), *sa = tgc_cfg_get(rpn, "sampler");
    if (!as) return tgc_cfg_fail(err, rpn, "train_cfg.rpn.assigner is missing");
    if (!sa) return tgc_cfg_fail(err, rpn, "train_cfg.rpn.sampler is missing (RandomSampler)");
    if (tgc_det_assigner_cfg_from(as, &o->assigner, err) || tgc_det_sampler_cfg_from(sa, &o->sampler, err)) return -1;
    if (o->sampler.add_gt_as_proposals)
        return tgc_cfg_fail(err, tgc_cfg_get(sa, "add_gt_as_proposals") ? tgc_cfg_get(sa, "add_gt_as_proposals") : sa,
                            "add_gt_as_proposals must be False for the RPN's anchors (MMDetection's faster-rcnn "
                            "configs set it so)");
    int64_t ab;
    int dbg = 0;
    double pw;
    if (tgc_cfg_int(rpn, "allowed_border", -1, &ab, err) || tgc_cfg_float(rpn, "pos_weight", -1, &pw, err) ||
        tgc_cfg_bool(rpn, "debug", 0, &dbg, err))
        return -1;
    if (ab < -1 || ab > 1 << 20) return tgc_cfg_fail(err, tgc_cfg_get(rpn, "allowed_border"), "must be -1 or a border in pixels");
    if (pw != -1 && pw != 1)
        return tgc_cfg_fail(err, tgc_cfg_get(rpn, "pos_weight"), "only -1 (or 1: the same) is supported");
    if (dbg) return tgc_cfg_fail(err, tgc_cfg_get(rpn, "debug"), "debug is not supported");
    o->allowed_border = (int)ab;
    return 0;
}

int tgc_det_batch_opts_from_cfg(const tgc_cfg *model, int train, tgc_det_batch_opts *o, tgc_err *err) {
    int ch = o->canvas_h, cw = o->canvas_w, two = o->two_stage, orient = o->two_orient;
    memset(o, 0, sizeof *o);
    o->canvas_h = ch;
    o->canvas_w = cw;
    o->two_stage = two;
    o->two_orient = orient;
    o->pad_size_divisor = 1;
    o->targets = train;
    o->allowed_border = -1;
    if (two) {
        tgc_det_anchor_cfg_rpn(&o->anchor);
        tgc_det_assigner_cfg_default(&o->assigner, 0.7f, 0.3f);
        tgc_det_sampler_cfg_default(&o->sampler, 256, 0.5);
    } else {
        tgc_det_anchor_cfg_retinanet(&o->anchor);
        tgc_det_assigner_cfg_default(&o->assigner, 0.5f, 0.4f);
    }
    tgc_det_coder_cfg_default(&o->coder);
    if (!model || model->kind != TGC_CFG_MAP) return tgc_fail(err, "the config has no model map");
    const tgc_cfg *dp = tgc_cfg_get(model, "data_preprocessor");
    int64_t div = 1, nc = 0, mg = 128;
    if (dp && dp->kind == TGC_CFG_MAP && tgc_cfg_int(dp, "pad_size_divisor", 1, &div, err)) return -1;
    if (div < 1 || div > 4096) return tgc_cfg_fail(err, tgc_cfg_get(dp, "pad_size_divisor"), "must be in 1..4096");
    o->pad_size_divisor = (int)div;
    if (two) {
        if (dp && dp->kind == TGC_CFG_MAP && tgc_cfg_int(dp, "tgc_max_gts", 128, &mg, err)) return -1;
        if (mg < 1 || mg > 100000) return tgc_cfg_fail(err, tgc_cfg_get(dp, "tgc_max_gts"), "must be in 1..100000");
        o->max_gts = (int)mg;
    }
    const tgc_cfg *head = tgc_cfg_get(model, "bbox_head"), *anchor_head = head;
    if (two) {
        head = tgc_cfg_at(model, "roi_head.bbox_head");
        anchor_head = tgc_cfg_get(model, "rpn_head");
        if (!anchor_head || anchor_head->kind != TGC_CFG_MAP) return tgc_cfg_fail(err, model, "model has no rpn_head map");
    }
    if (!head || head->kind != TGC_CFG_MAP)
        return tgc_cfg_fail(err, model, "model has no %s map", two ? "roi_head.bbox_head" : "bbox_head");
    if (tgc_cfg_int(head, "num_classes", 80, &nc, err)) return -1;
    if (nc < 1 || nc > 100000) return tgc_cfg_fail(err, tgc_cfg_get(head, "num_classes"), "must be in 1..100000");
    o->num_classes = (int)nc;
    if (!train) return 0;
    const tgc_cfg *ag = tgc_cfg_get(anchor_head, "anchor_generator"), *bc = tgc_cfg_get(anchor_head, "bbox_coder");
    if ((ag && tgc_det_anchor_cfg_from(ag, &o->anchor, err)) || (bc && tgc_det_coder_cfg_from(bc, &o->coder, err)))
        return -1;
    if (two) return rpn_train_cfg(model, o, err);
    const tgc_cfg *as = tgc_cfg_at(model, "train_cfg.assigner");
    if (as && tgc_det_assigner_cfg_from(as, &o->assigner, err)) return -1;
    if (!as) return tgc_cfg_fail(err, model, "model.train_cfg.assigner is missing (RetinaNet's targets need it)");
    return 0;
}

tgc_loader *tgc_det_loader_new(const tgc_det_dataset *ds, const tgc_loader_opts *o, const tgc_det_batch_opts *bo,
                               tgc_err *err) {
    if (bo->two_stage && bo->targets && (bo->max_gts < 1 || bo->max_gts > 100000)) {
        tgc_fail(err, "detection loader: max_gts %d is outside 1..100000", bo->max_gts);
        return NULL;
    }
    if (bo->canvas_h < 1 || bo->canvas_w < 1 || bo->pad_size_divisor < 1) {
        tgc_fail(err, "detection loader: canvas %dx%d or pad_size_divisor %d is not positive", bo->canvas_h,
                 bo->canvas_w, bo->pad_size_divisor);
        return NULL;
    }
    if (o->norm.n > 1 && o->norm.n != 3) {
        tgc_fail(err, "data_preprocessor: %d mean/std values but detection images have 3 channels", o->norm.n);
        return NULL;
    }
    det_src *d = tgc_calloc(1, sizeof *d);
    d->ds = ds;
    d->o = *bo;
    d->norm = o->norm;
    if (bo->targets && (tgc_det_anchors_for_canvas(&bo->anchor, bo->canvas_h, bo->canvas_w, &d->anchors, err) ||
                        (bo->two_orient &&
                         tgc_det_anchors_for_canvas(&bo->anchor, bo->canvas_w, bo->canvas_h, &d->anchors_t, err)))) {
        src_free(d);
        return NULL;
    }
    if (bo->targets && bo->two_orient && d->anchors_t.count != d->anchors.count) {
        tgc_fail(err, "detection loader: the %dx%d canvas has %lld anchors but the transposed one %lld", bo->canvas_h,
                 bo->canvas_w, (long long)d->anchors.count, (long long)d->anchors_t.count);
        src_free(d);
        return NULL;
    }
    int n = tgc_det_dataset_len(ds), seen[2] = {0, 0};
    if (bo->two_orient) { /* MMDetection's AspectRatioBatchSampler: width < height is portrait */
        d->portrait = tgc_malloc((size_t)(n ? n : 1));
        for (int i = 0; i < n; i++) {
            const tgc_det_image *im = tgc_det_dataset_image(ds, i);
            d->portrait[i] = im->width < im->height;
            seen[d->portrait[i]] = 1;
        }
    }
    tgc_loader_src src = {.ctx = d, .ctx_free = src_free, .n = n, .c = 3, .h = bo->canvas_h,
                          .w = bo->canvas_w, .anchors = bo->targets ? d->anchors.count : 0,
                          .img_shape = bo->two_stage, .max_gts = bo->two_stage && bo->targets ? bo->max_gts : 0,
                          .portrait = d->portrait, .both_orientations = seen[0] && seen[1],
                          .worker_new = ws_new, .worker_free = ws_free, .build = build};
    return tgc_loader_new_src(&src, o, err);
}

tgc_loader *tgc_det_loader_open(const tgc_cfg *dl, const tgc_cfg *pre, const tgc_det_batch_opts *bo, int train,
                                uint64_t default_seed, int rank, int world, const struct tgc_device *device,
                                void (*warn)(void *ctx, const char *line), void *warn_ctx, tgc_err *err) {
    tgc_loader_opts o;
    if (tgc_loader_opts_from_cfg(dl, pre, train, default_seed, rank, world, device, &o, err)) return NULL;
    tgc_det_dataset *ds = tgc_det_dataset_open(tgc_cfg_get(dl, "dataset"), err);
    if (!ds) return NULL;
    const char *notes = tgc_det_dataset_notes(ds);
    for (const char *c = notes; warn && c && *c;) {
        size_t len = strcspn(c, "\n");
        char *line = tgc_asprintf("%.*s", (int)len, c);
        warn(warn_ctx, line);
        free(line);
        c += len + (c[len] == '\n');
    }
    if (tgc_det_dataset_len(ds) == 0) {
        tgc_cfg_fail(err, tgc_cfg_get(dl, "dataset"), "the CocoDataset has no images (after filter_cfg)");
        tgc_det_dataset_free(ds);
        return NULL;
    }
    tgc_loader *l = tgc_det_loader_new(ds, &o, bo, err);
    if (!l) {
        tgc_det_dataset_free(ds);
        return NULL;
    }
    ((det_src *)tgc_loader_get_src(l)->ctx)->owned_ds = ds;
    return l;
}

const tgc_det_dataset *tgc_loader_det_dataset(const tgc_loader *l) {
    const tgc_loader_src *s = tgc_loader_get_src(l);
    return s->ctx_free == src_free ? ((const det_src *)s->ctx)->ds : NULL;
}

int64_t tgc_loader_det_anchors(const tgc_loader *l) { return tgc_loader_get_src(l)->anchors; }
