/* frontend/data.c - the input spec (channels, static image size, batches, classes) from the data settings. */
#include <string.h>

#include "frontend/build.h"

typedef struct dataset_info {
    const char *type;
    int64_t c, h, w; /* native size; h = w = 0 when images vary (folders of JPEGs) */
    int64_t classes; /* fixed label set, 0 when it depends on the data */
} dataset_info;

static const dataset_info datasets[] = {
    {"MNIST", 1, 28, 28, 10},     {"FashionMNIST", 1, 28, 28, 10}, {"CIFAR10", 3, 32, 32, 10},
    {"CIFAR100", 3, 32, 32, 100}, {"ImageNet", 3, 0, 0, 0},        {"CustomDataset", 3, 0, 0, 0},
    {"ImageNet21k", 3, 0, 0, 0},  {"CUB", 3, 0, 0, 200},        {"CocoDataset", 3, 0, 0, 0},
};

static const char *const transforms[] = {"LoadImageFromFile", "Resize", "RandomResizedCrop", "ResizeEdge",
                                         "CenterCrop", "RandomCrop", "RandomFlip", "ColorJitter", "RandomErasing",
                                         "RandAugment", "AutoAugment", "PackInputs", "PackClsInputs",
                                         "LoadAnnotations", "PackDetInputs", NULL};
/* RandAugment, AutoAugment and their operations keep the image's shape (runtime/data/data_randaug.c checks
 * their arguments; the compile does too, through the driver). */
static const char *const augmentations[] = {"RandAugment", "AutoAugment", "Shear", "Translate", "Rotate",
                                            "AutoContrast", "Invert", "Equalize", "Solarize", "SolarizeAdd",
                                            "Posterize", "Contrast", "ColorTransform", "Brightness", "Sharpness",
                                            "Cutout", NULL};

static int in_names(const char *s, const char *const *names) {
    for (int i = 0; names[i]; i++)
        if (!strcmp(s, names[i])) return 1;
    return 0;
}

/* What the walk of one dataloader found. */
typedef struct loader_spec {
    const dataset_info *ds;
    int64_t c, h, w, batch;
    const tgc_cfg *loader, *pipeline;
} loader_spec;

static void join(char *buf, size_t n, const char *const *names) {
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; names[i] && len < n; i++) len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? ", " : "", names[i]);
}

static int get_map(tgc_err *err, const tgc_cfg *parent, const char *key, const tgc_cfg **out, int required) {
    const tgc_cfg *c = tgc_cfg_get(parent, key);
    *out = NULL;
    if (!c || c->kind == TGC_CFG_NULL) return required ? tgc_b_fail_key(err, parent, key, "missing") : 0;
    if (c->kind != TGC_CFG_MAP) return tgc_cfg_fail(err, c, "expected a map, got %s", tgc_cfg_kind_name(c->kind));
    *out = c;
    return 0;
}

/* padding of RandomCrop: int p (all sides), [lr, tb] or [left, top, right, bottom]; adds to h, w. */
static int add_padding(tgc_err *err, const tgc_cfg *t, int64_t *h, int64_t *w) {
    const tgc_cfg *p = tgc_cfg_get(t, "padding");
    if (!p || p->kind == TGC_CFG_NULL) return 0;
    int64_t v[4];
    int n = 0;
    if (tgc_cfg_ints(t, "padding", v, 4, &n, err) < 0) return -1;
    for (int i = 0; i < n; i++)
        if (v[i] < 0 || v[i] > 4096) return tgc_cfg_fail(err, p, "padding must be in 0..4096");
    int64_t lr, tb;
    if (n == 1) lr = tb = 2 * v[0];
    else if (n == 2) lr = 2 * v[0], tb = 2 * v[1];
    else if (n == 4) lr = v[0] + v[2], tb = v[1] + v[3];
    else return tgc_cfg_fail(err, p, "expected an integer or a list of 2 or 4 integers");
    if (*h) *h += tb;
    if (*w) *w += lr;
    return 0;
}

/* Applies one transform to (c, h, w); h = w = 0 means "varies". *unknown_by is set to the transform that
 * left the size unknown (for the message when nothing fixes it later). */
static int apply_transform(tgc_err *err, const tgc_cfg *t, loader_spec *s, const tgc_cfg **unknown_by) {
    if (t->kind != TGC_CFG_MAP) return tgc_cfg_fail(err, t, "expected a transform map, got %s", tgc_cfg_kind_name(t->kind));
    const char *type;
    if (tgc_b_type(err, t, "transform", &type) < 0) return -1;
    int64_t a, b;
    int present;
    if (!strcmp(type, "LoadImageFromFile")) {
        static const char *const colors[] = {"color", "grayscale", NULL};
        const char *ct;
        if (tgc_b_choice(err, t, "color_type", "color", colors, &ct) < 0) return -1;
        s->c = !strcmp(ct, "grayscale") ? 1 : 3;
    } else if (!strcmp(type, "Resize")) { /* mmcv: scale int or (w, h) */
        int keep;
        if (tgc_b_pair(err, t, "scale", &a, &b, &present) < 0 || tgc_cfg_bool(t, "keep_ratio", 0, &keep, err) < 0) return -1;
        if (!present) return tgc_b_fail_key(err, t, "scale", "missing: tgc needs Resize's scale (scale_factor alone is not supported)");
        if (!keep) {
            s->w = a, s->h = b;
        } else if (s->h && s->w) {
            /* mmcv.rescale_size: the largest size whose long edge <= max(scale), short edge <= min(scale). */
            double lo = (double)TGC_MIN(a, b), hi = (double)TGC_MAX(a, b);
            double f = TGC_MIN(hi / (double)TGC_MAX(s->h, s->w), lo / (double)TGC_MIN(s->h, s->w));
            s->w = (int64_t)((double)s->w * f + 0.5), s->h = (int64_t)((double)s->h * f + 0.5);
        } else {
            *unknown_by = t;
        }
    } else if (!strcmp(type, "RandomResizedCrop")) { /* MMPretrain: scale int or (h, w) */
        if (tgc_b_pair(err, t, "scale", &a, &b, &present) < 0) return -1;
        if (!present) return tgc_b_fail_key(err, t, "scale", "missing: RandomResizedCrop needs scale");
        s->h = a, s->w = b;
    } else if (!strcmp(type, "ResizeEdge")) {
        static const char *const edges[] = {"short", "long", "width", "height", NULL};
        const char *edge;
        int64_t scale;
        if (!tgc_cfg_get(t, "scale")) return tgc_b_fail_key(err, t, "scale", "missing: ResizeEdge needs scale");
        if (tgc_cfg_int(t, "scale", 0, &scale, err) < 0 || tgc_b_choice(err, t, "edge", "short", edges, &edge) < 0)
            return -1;
        if (scale < 1 || scale > 65536) return tgc_b_fail_key(err, t, "scale", "must be in 1..65536");
        if (s->h && s->w) { /* MMPretrain's ResizeEdge arithmetic */
            int64_t h = s->h, w = s->w;
            if ((!strcmp(edge, "short") && w < h) || (!strcmp(edge, "long") && w > h) || !strcmp(edge, "width"))
                s->w = scale, s->h = scale * h / w;
            else
                s->h = scale, s->w = scale * w / h;
        } else {
            *unknown_by = t; /* one edge is fixed, the other follows each image's aspect ratio */
        }
    } else if (!strcmp(type, "CenterCrop")) { /* mmcv: crop_size int or (w, h); never larger than the image */
        if (tgc_b_pair(err, t, "crop_size", &a, &b, &present) < 0) return -1;
        if (!present) return tgc_b_fail_key(err, t, "crop_size", "missing: CenterCrop needs crop_size");
        s->w = s->w ? TGC_MIN(s->w, a) : a;
        s->h = s->h ? TGC_MIN(s->h, b) : b;
    } else if (!strcmp(type, "RandomCrop")) { /* MMPretrain: crop_size int or (h, w), after padding */
        int pin;
        if (tgc_b_pair(err, t, "crop_size", &a, &b, &present) < 0 || add_padding(err, t, &s->h, &s->w) < 0 ||
            tgc_cfg_bool(t, "pad_if_needed", 0, &pin, err) < 0)
            return -1;
        if (!present) return tgc_b_fail_key(err, t, "crop_size", "missing: RandomCrop needs crop_size");
        s->h = s->h && !pin ? TGC_MIN(s->h, a) : a;
        s->w = s->w && !pin ? TGC_MIN(s->w, b) : b;
    } else if (!strcmp(type, "ColorJitter")) { /* tgc computes what its default backend, Pillow, gives */
        const char *be;
        if (tgc_cfg_str(t, "backend", "pillow", &be, err) < 0) return -1;
        if (strcmp(be, "pillow"))
            return tgc_b_fail_key(err, t, "backend", "ColorJitter's backend '%s' is not implemented (tgc computes what "
                                  "the default, 'pillow', gives)", be);
    } else if (!strcmp(type, "RandomFlip") || !strcmp(type, "RandomErasing") ||
               !strcmp(type, "PackInputs") || !strcmp(type, "PackClsInputs") ||
               !strcmp(type, "LoadAnnotations") || !strcmp(type, "PackDetInputs") || in_names(type, augmentations)) {
        /* no change of shape */
    } else {
        char known[512];
        join(known, sizeof known, transforms);
        return tgc_b_fail_key(err, t, "type", "unknown transform '%s' (known transforms: %s)", type, known);
    }
    if ((s->h && (s->h < 1 || s->h > 65536)) || (s->w && (s->w < 1 || s->w > 65536)))
        return tgc_cfg_fail(err, t, "the image size becomes %lldx%lld, outside 1..65536", (long long)s->h, (long long)s->w);
    return 0;
}

/* The detection canvas (each image is resized, then zero-padded bottom/right onto it):
 * model.data_preprocessor.tgc_canvas [H, W] when given, else from the pipeline's last Resize: with keep_ratio
 * the landscape canvas ceil(short) x ceil(long) of its scale, without it (w, h) = scale, both rounded up to
 * data_preprocessor.pad_size_divisor. Portrait images get the transposed canvas when the plan carries the
 * portrait programs (two_orientations); a square canvas serves both orientations. */
static int det_canvas(tgc_err *err, const tgc_cfg *root, const tgc_cfg *pl, loader_spec *s) {
    const tgc_cfg *dp = tgc_cfg_at(root, "model.data_preprocessor");
    int64_t div = 1;
    if (dp && dp->kind == TGC_CFG_MAP) {
        if (tgc_cfg_int(dp, "pad_size_divisor", 1, &div, err) < 0) return -1;
        if (div < 1 || div > 4096) return tgc_b_fail_key(err, dp, "pad_size_divisor", "must be in 1..4096");
        const tgc_cfg *cv = tgc_cfg_get(dp, "tgc_canvas");
        if (cv && cv->kind != TGC_CFG_NULL) {
            int64_t v[2];
            int n = 0;
            if (tgc_cfg_ints(dp, "tgc_canvas", v, 2, &n, err) < 0) return -1;
            if (n != 2 || v[0] < 1 || v[1] < 1 || v[0] > 65536 || v[1] > 65536)
                return tgc_cfg_fail(err, cv, "expected [H, W], each in 1..65536");
            if (v[0] % div || v[1] % div)
                return tgc_cfg_fail(err, cv, "%lldx%lld is not a multiple of pad_size_divisor %lld", (long long)v[0],
                                    (long long)v[1], (long long)div);
            s->h = v[0], s->w = v[1];
            return 0;
        }
    }
    const tgc_cfg *rs = NULL;
    for (int i = 0; pl && pl->kind != TGC_CFG_NULL && i < pl->n; i++) {
        const tgc_cfg *t = pl->items[i], *ty = t->kind == TGC_CFG_MAP ? tgc_cfg_get(t, "type") : NULL;
        if (ty && ty->kind == TGC_CFG_STR && !strcmp(ty->s, "Resize")) rs = t;
    }
    if (!rs)
        return tgc_cfg_fail(err, pl ? pl : root, "a detection pipeline needs a Resize (scale) or "
                            "model.data_preprocessor.tgc_canvas [H, W] to fix the canvas");
    int64_t a, b;
    int present, keep;
    if (tgc_b_pair(err, rs, "scale", &a, &b, &present) < 0 || tgc_cfg_bool(rs, "keep_ratio", 0, &keep, err) < 0) return -1;
    if (!present) return tgc_b_fail_key(err, rs, "scale", "missing: the detection canvas comes from Resize's scale");
    int64_t h = keep ? TGC_MIN(a, b) : b, w = keep ? TGC_MAX(a, b) : a;
    s->h = (h + div - 1) / div * div, s->w = (w + div - 1) / div * div;
    return 0;
}

/* Whether the plan carries a second pair of programs on the transposed canvas W x H (train_portrait,
 * eval_portrait): a detection dataset on a canvas that is not square, batched by MMDetection's
 * AspectRatioBatchSampler, which makes every batch one orientation (width < height: portrait), so that
 * each batch runs on the canvas of its orientation. */
static int two_orientations(const loader_spec *tr) {
    if (strcmp(tr->ds->type, "CocoDataset") || tr->h == tr->w) return 0;
    const tgc_cfg *bs = tgc_cfg_get(tr->loader, "batch_sampler");
    const tgc_cfg *ty = bs && bs->kind == TGC_CFG_MAP ? tgc_cfg_get(bs, "type") : NULL;
    return ty && ty->kind == TGC_CFG_STR && !strcmp(ty->s, "AspectRatioBatchSampler");
}

/* The file datasets' settings MMPretrain refuses, or that give samples without labels, refused at compile time
 * (the runtime, runtime/data/data_files.c, reads the rest). */
static int check_dataset(tgc_err *err, const tgc_cfg *ds, const char *type) {
    const char *split;
    int with_label, multi;
    if (tgc_cfg_str(ds, "split", "", &split, err) < 0 || tgc_cfg_bool(ds, "with_label", 1, &with_label, err) < 0 ||
        tgc_cfg_bool(ds, "multi_label", 0, &multi, err) < 0)
        return -1;
    if (!with_label && (!strcmp(type, "CustomDataset") || !strcmp(type, "ImageNet") || !strcmp(type, "ImageNet21k")))
        return tgc_b_fail_key(err, ds, "with_label", "false (samples without labels) is not implemented: training "
                              "and validation need labels");
    static const char *const cub_fixed[] = {"ann_file", "data_prefix", "with_label", "extensions"};
    for (size_t i = 0; !strcmp(type, "CUB") && i < TGC_ARRAY_LEN(cub_fixed); i++) {
        const tgc_cfg *v = tgc_cfg_get(ds, cub_fixed[i]);
        if (v && v->kind != TGC_CFG_NULL)
            return tgc_cfg_fail(err, v, "CUB takes no such setting (its files are images.txt, image_class_labels.txt "
                                "and train_test_split.txt under data_root, its images under data_root/images)");
    }
    if (multi && !strcmp(type, "ImageNet21k"))
        return tgc_b_fail_key(err, ds, "multi_label", "ImageNet21k's multi_label is not implemented (MMPretrain "
                              "raises NotImplementedError for it too)");
    if (!*split) return 0;
    const char *ok = !strcmp(type, "CUB") ? "train test" : !strcmp(type, "ImageNet") ? "train val"
                   : !strcmp(type, "ImageNet21k") ? "train" : NULL;
    if (!strcmp(type, "ImageNet") && !strcmp(split, "test"))
        return tgc_b_fail_key(err, ds, "split", "ImageNet's test split has no labels (MMPretrain loads it with "
                              "with_label false), which training and validation need");
    if (ok) {
        size_t n = strlen(split);
        for (const char *w = ok; w; w = strchr(w, ' ') ? strchr(w, ' ') + 1 : NULL)
            if (!strncmp(w, split, n) && (w[n] == ' ' || !w[n])) return 0;
        return tgc_b_fail_key(err, ds, "split", "%s's split must be one of: %s; got '%s'", type, ok, split);
    }
    return 0;
}

static int walk_loader(tgc_err *err, const tgc_cfg *root, const char *key, loader_spec *s) {
    memset(s, 0, sizeof *s);
    const tgc_cfg *loader, *dataset;
    if (get_map(err, root, key, &loader, 1) < 0 || get_map(err, loader, "dataset", &dataset, 1) < 0) return -1;
    s->loader = loader;
    if (!tgc_cfg_get(loader, "batch_size")) return tgc_b_fail_key(err, loader, "batch_size", "missing");
    if (tgc_cfg_int(loader, "batch_size", 0, &s->batch, err) < 0) return -1;
    if (s->batch < 1 || s->batch > 65536) return tgc_b_fail_key(err, loader, "batch_size", "must be in 1..65536");

    const char *type;
    if (tgc_b_type(err, dataset, "dataset", &type) < 0) return -1;
    for (size_t i = 0; i < TGC_ARRAY_LEN(datasets); i++)
        if (!strcmp(datasets[i].type, type)) s->ds = &datasets[i];
    if (!s->ds) {
        const char *names[TGC_ARRAY_LEN(datasets) + 1];
        for (size_t i = 0; i < TGC_ARRAY_LEN(datasets); i++) names[i] = datasets[i].type;
        names[TGC_ARRAY_LEN(datasets)] = NULL;
        char known[256];
        join(known, sizeof known, names);
        return tgc_b_fail_key(err, dataset, "type", "unknown dataset type '%s' (known: %s)", type, known);
    }
    if (check_dataset(err, dataset, type) < 0) return -1;
    s->c = s->ds->c, s->h = s->ds->h, s->w = s->ds->w;

    const tgc_cfg *pl = tgc_cfg_get(dataset, "pipeline"), *unknown_by = NULL;
    s->pipeline = pl;
    if (pl && pl->kind != TGC_CFG_NULL) {
        if (pl->kind != TGC_CFG_LIST && pl->kind != TGC_CFG_TUPLE)
            return tgc_cfg_fail(err, pl, "expected a list of transforms, got %s", tgc_cfg_kind_name(pl->kind));
        for (int i = 0; i < pl->n; i++) {
            if (apply_transform(err, pl->items[i], s, &unknown_by) < 0) return -1;
            if (s->h && s->w) unknown_by = NULL;
        }
    }
    if (!strcmp(s->ds->type, "CocoDataset")) return det_canvas(err, root, pl, s);
    if (!s->h || !s->w) {
        const tgc_cfg *at = pl && pl->kind != TGC_CFG_NULL ? pl : dataset;
        if (unknown_by)
            return tgc_cfg_fail(err, at, "the image size is unknown at the end of the pipeline: %s (%s) fixes only "
                                "one edge of %s images, which vary in size; add a CenterCrop (crop_size) or a Resize "
                                "(scale) after it so that the input shape is static", unknown_by->path,
                                tgc_cfg_get(unknown_by, "type")->s, type);
        return tgc_cfg_fail(err, at, "the image size is unknown at the end of the pipeline: %s images vary in size; "
                            "add RandomResizedCrop (scale), Resize (scale) or CenterCrop (crop_size) so that the input "
                            "shape is static", type);
    }
    return 0;
}

/* data_preprocessor mean/std (at the top level or in model) must give one value per channel. */
static int check_preprocessor(tgc_err *err, const tgc_cfg *dp, int64_t c, const char *desc) {
    if (!dp || dp->kind == TGC_CFG_NULL) return 0;
    if (dp->kind != TGC_CFG_MAP) return tgc_cfg_fail(err, dp, "expected a map, got %s", tgc_cfg_kind_name(dp->kind));
    static const char *const keys[] = {"mean", "std"};
    for (int i = 0; i < 2; i++) {
        const tgc_cfg *v = tgc_cfg_get(dp, keys[i]);
        if (!v || v->kind == TGC_CFG_NULL) continue;
        if (v->kind != TGC_CFG_LIST && v->kind != TGC_CFG_TUPLE)
            return tgc_cfg_fail(err, v, "expected a list with one number per channel, got %s", tgc_cfg_kind_name(v->kind));
        if (v->n != c) return tgc_cfg_fail(err, v, "%d values for the %s (one per channel)", v->n, desc);
        for (int j = 0; j < v->n; j++) {
            const tgc_cfg *x = v->items[j];
            if (x->kind != TGC_CFG_INT && x->kind != TGC_CFG_FLOAT)
                return tgc_cfg_fail(err, x, "expected a number, got %s", tgc_cfg_kind_name(x->kind));
            if (i == 1 && (x->kind == TGC_CFG_INT ? x->i == 0 : x->f == 0))
                return tgc_cfg_fail(err, x, "std must not be zero");
        }
    }
    return 0;
}

/* num_classes from the head, else from a backbone that classifies (LeNet5), else a detector's bbox_head; 0 when
 * none says. */
static int read_num_classes(tgc_err *err, const tgc_cfg *root, const loader_spec *tr, int64_t *out) {
    *out = 0;
    const char *where[] = {"model.head", "model.backbone", "model.bbox_head"};
    for (int i = 0; i < 3 && !*out; i++) {
        const tgc_cfg *m = tgc_cfg_at(root, where[i]);
        if (!m || m->kind != TGC_CFG_MAP || !tgc_cfg_get(m, "num_classes")) continue;
        int64_t nc;
        if (tgc_cfg_int(m, "num_classes", 0, &nc, err) < 0) return -1;
        if (nc <= 0) continue;
        /* Labels of a fixed label set index the scores: fewer scores than classes cannot work. */
        if (tr->ds->classes && nc < tr->ds->classes)
            return tgc_b_fail_key(err, m, "num_classes", "%lld is fewer than the %lld classes of %s", (long long)nc,
                                  (long long)tr->ds->classes, tr->ds->type);
        *out = nc;
    }
    return 0;
}

int tgc_frontend_data(const tgc_cfg *root, tgc_input_spec *spec, char *desc, size_t desc_n, tgc_err *err) {
    memset(spec, 0, sizeof *spec);
    if (!root || root->kind != TGC_CFG_MAP) return tgc_fail(err, "the config is not a map");
    loader_spec tr, ev;
    if (walk_loader(err, root, "train_dataloader", &tr) < 0) return -1;
    /* The eval program follows val_dataloader, else test_dataloader, else the training data. */
    const char *eval_key = "train_dataloader";
    const char *cands[] = {"val_dataloader", "test_dataloader"};
    for (int i = 0; i < 2 && !strcmp(eval_key, "train_dataloader"); i++) {
        const tgc_cfg *c = tgc_cfg_get(root, cands[i]);
        if (c && c->kind != TGC_CFG_NULL) eval_key = cands[i];
    }
    if (walk_loader(err, root, eval_key, &ev) < 0) return -1;
    if (ev.c != tr.c || ev.h != tr.h || ev.w != tr.w) {
        const tgc_cfg *at = ev.pipeline ? ev.pipeline : ev.loader;
        return tgc_cfg_fail(err, at, "the %s pipeline gives %lldx%lldx%lld images but training uses %lldx%lldx%lld; "
                            "one input shape for both is required (not supported yet)", eval_key, (long long)ev.c,
                            (long long)ev.h, (long long)ev.w, (long long)tr.c, (long long)tr.h, (long long)tr.w);
    }
    /* At most 2^40 input elements per batch: with layer widths <= 2^20 every activation's element count
     * then stays inside int64. */
    const loader_spec *ls[2] = {&tr, &ev};
    for (int i = 0; i < 2; i++)
        if ((double)ls[i]->batch * (double)ls[i]->c * (double)ls[i]->h * (double)ls[i]->w > 1099511627776.0)
            return tgc_b_fail_key(err, ls[i]->loader, "batch_size", "a batch of %lld images of %lldx%lldx%lld is too large",
                                  (long long)ls[i]->batch, (long long)ls[i]->c, (long long)ls[i]->h, (long long)ls[i]->w);
    snprintf(desc, desc_n, "%lld-channel %s input", (long long)tr.c, tr.ds->type);
    if (check_preprocessor(err, tgc_cfg_get(root, "data_preprocessor"), tr.c, desc) < 0 ||
        check_preprocessor(err, tgc_cfg_at(root, "model.data_preprocessor"), tr.c, desc) < 0)
        return -1;
    int64_t nc;
    if (read_num_classes(err, root, &tr, &nc) < 0) return -1;
    spec->channels = tr.c;
    spec->height = tr.h;
    spec->width = tr.w;
    spec->train_batch = tr.batch;
    spec->eval_batch = ev.batch;
    spec->num_classes = nc;
    spec->portrait = two_orientations(&tr);
    return 0;
}

int tgc_frontend_input_spec(const tgc_cfg *root, tgc_input_spec *spec, tgc_err *err) {
    char desc[128];
    return tgc_frontend_data(root, spec, desc, sizeof desc, err);
}
