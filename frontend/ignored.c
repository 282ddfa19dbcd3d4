/* frontend/ignored.c - the list of accepted-but-not-implemented settings (see ignored.h).
 *
 * The scan knows, per section the runtime reads (hooks, loops, loaders, datasets, transforms, the data
 * preprocessor, the environment), which keys and types tgc implements. The model and optimizer builders
 * refuse what they do not know themselves, so the scan covers the model only where a setting is left out
 * (batch augments, drop path) or approximated (SyncBN). Keys that change nothing a run computes (worker
 * start methods, serialisation, device backends of collectives) are "harmless" and never listed.
 */
#include "frontend/ignored.h"

#include "frontend/build.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct scan {
    const tgc_cfg *root;
    tgc_ignored *ig;
    int n_drop, cap_drop;
    struct {
        tgc_cfg *parent;
        const tgc_cfg *child;
    } *drops;
} scan;

static void add(scan *s, const tgc_cfg *node, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add(scan *s, const tgc_cfg *node, const char *fmt, ...) {
    tgc_ignored *ig = s->ig;
    if (ig->n == ig->cap) {
        ig->cap = ig->cap ? 2 * ig->cap : 16;
        ig->items = tgc_realloc(ig->items, (size_t)ig->cap * sizeof *ig->items);
    }
    va_list ap;
    va_start(ap, fmt);
    tgc_ignored_item *it = &ig->items[ig->n++];
    it->what = tgc_vasprintf(fmt, ap);
    va_end(ap);
    it->where = tgc_asprintf("%s:%d", node->file && node->file[0] ? node->file : "<config>", node->line);
    it->path = tgc_strdup(node->path ? node->path : "");
}

/* Takes child out of parent once the scan is over (the walk never sees a changing tree). */
static void drop(scan *s, tgc_cfg *parent, const tgc_cfg *child) {
    if (s->n_drop == s->cap_drop) {
        s->cap_drop = s->cap_drop ? 2 * s->cap_drop : 8;
        s->drops = tgc_realloc(s->drops, (size_t)s->cap_drop * sizeof *s->drops);
    }
    s->drops[s->n_drop].parent = parent;
    s->drops[s->n_drop++].child = child;
}

/* Whether c is already to be taken out (and so listed). */
static int dropping(const scan *s, const tgc_cfg *c) {
    for (int i = 0; i < s->n_drop; i++)
        if (s->drops[i].child == c) return 1;
    return 0;
}

static int is_map(const tgc_cfg *c) { return c && c->kind == TGC_CFG_MAP; }
static int is_list(const tgc_cfg *c) { return c && (c->kind == TGC_CFG_LIST || c->kind == TGC_CFG_TUPLE); }

/* Absent, null, false, 0 or empty: "not asking for anything". */
static int neutral(const tgc_cfg *c) {
    if (!c) return 1;
    switch (c->kind) {
    case TGC_CFG_NULL: return 1;
    case TGC_CFG_BOOL: return !c->b;
    case TGC_CFG_INT: return c->i == 0;
    case TGC_CFG_FLOAT: return c->f == 0;
    case TGC_CFG_STR: return !c->s[0];
    default: return c->n == 0;
    }
}

static int in_list(const char *k, const char *const *names) {
    for (int i = 0; names && names[i]; i++)
        if (!strcmp(k, names[i])) return 1;
    return 0;
}

static const char *str_of(const tgc_cfg *map, const char *key) {
    const tgc_cfg *c = tgc_cfg_get(map, key);
    return c && c->kind == TGC_CFG_STR ? c->s : NULL;
}

/* "mmpretrain.RandomCrop" -> "RandomCrop" */
static const char *type_of(const tgc_cfg *map) {
    const char *t = str_of(map, "type");
    const char *dot = t ? strrchr(t, '.') : NULL;
    return dot ? dot + 1 : t;
}

/* Lists each key of map that is neither implemented nor harmless and asks for something. */
static void other_keys(scan *s, const tgc_cfg *map, const char *what, const char *const *implemented,
                       const char *const *harmless) {
    if (!is_map(map)) return;
    for (int i = 0; i < map->n; i++) {
        const char *k = map->keys[i];
        if (!strcmp(k, "type") || in_list(k, implemented) || in_list(k, harmless) || neutral(map->items[i])) continue;
        add(s, map->items[i], "%s's '%s' is not implemented", what, k);
    }
}

/* ---- hooks, loops and the environment ------------------------------------------------------------- */
static void scan_default_hooks(scan *s, const tgc_cfg *dh) {
    if (!is_map(dh)) return;
    static const char *const logger[] = {"interval", "ignore_last", "interval_exp_name", NULL};
    static const char *const ckpt[] = {"interval", "by_epoch", "save_begin", "max_keep_ckpts", "save_last",
                                       "rule", "out_dir", "save_best", NULL};
    static const char *const ckpt_harmless[] = {"save_optimizer", "save_param_scheduler", "file_client_args",
                                                "backend_args", NULL};
    for (int i = 0; i < dh->n; i++) {
        const tgc_cfg *h = dh->items[i];
        if (!is_map(h)) continue;
        const char *t = type_of(h);
        if (!t) continue;
        if (!strcmp(t, "LoggerHook")) other_keys(s, h, t, logger, NULL);
        else if (!strcmp(t, "CheckpointHook")) other_keys(s, h, t, ckpt, ckpt_harmless);
        else if (!strcmp(t, "VisualizationHook")) {
            /* tgc writes scalars through the visualizer's backends; drawing predictions it does not do. */
            if (!neutral(tgc_cfg_get(h, "enable"))) add(s, tgc_cfg_get(h, "enable"), "%s: drawing predictions is not implemented", t);
        } else if (!strcmp(t, "IterTimerHook") || !strcmp(t, "ParamSchedulerHook") || !strcmp(t, "DistSamplerSeedHook")) {
            /* timing in the log lines, the LR schedule, per-epoch sampler seeds: built into the loop */
        } else {
            add(s, h, "hook '%s' is not implemented", t);
        }
    }
}

/* EMAHook is implemented with its defaults' semantics (tgc_b_ema_hook_implemented); the first one only. */
static void custom_hook(scan *s, const tgc_cfg *h, const tgc_cfg *ema) {
    const char *t = is_map(h) ? type_of(h) : NULL;
    if (h == ema && tgc_b_ema_hook_implemented(h)) return;
    if (t && !strcmp(t, "PreciseBNHook") && h == tgc_b_precise_bn_hook(s->root)) {
        if (!tgc_b_precise_bn_hook_implemented(h))
            add(s, h, "PreciseBNHook: settings other than num_samples and interval are not implemented; the hook is "
                      "left out");
        return;
    }
    if (t && !strcmp(t, "EMAHook") && h == ema)
        add(s, h, "EMAHook: settings other than momentum (update_buffers false, interval 1, from the first "
                  "iteration) are not implemented; the hook is left out");
    else
        add(s, h, "hook '%s' is not implemented", t ? t : "?");
}

static void scan_custom_hooks(scan *s, const tgc_cfg *root, const tgc_cfg *ch) {
    const tgc_cfg *ema = tgc_b_ema_hook(root);
    if (is_map(ch)) custom_hook(s, ch, ema);
    for (int i = 0; is_list(ch) && i < ch->n; i++) custom_hook(s, ch->items[i], ema);
}

static void scan_runtime(scan *s, const tgc_cfg *root) {
    scan_default_hooks(s, tgc_cfg_get(root, "default_hooks"));
    scan_custom_hooks(s, root, tgc_cfg_get(root, "custom_hooks"));
    static const char *const env_harmless[] = {"mp_cfg", "dist_cfg", NULL};
    static const char *const env[] = {"cudnn_benchmark", NULL}; /* the cuda device's; no effect on cpu (a run-time warning) */
    other_keys(s, tgc_cfg_get(root, "env_cfg"), "env_cfg", env, env_harmless);
    static const char *const rnd[] = {"seed", "deterministic", NULL};
    other_keys(s, tgc_cfg_get(root, "randomness"), "randomness", rnd, NULL);
    static const char *const lp[] = {"window_size", "by_epoch", NULL};
    const tgc_cfg *lpc = tgc_cfg_get(root, "log_processor");
    other_keys(s, lpc, "log_processor", lp, (const char *const[]){"num_digits", NULL});
    static const char *const loop[] = {"by_epoch", "max_epochs", "max_iters", "val_begin", "val_interval", NULL};
    other_keys(s, tgc_cfg_get(root, "train_cfg"), "train_cfg", loop, NULL);
    const char *ll = str_of(root, "log_level");
    if (ll && strcmp(ll, "INFO")) add(s, tgc_cfg_get(root, "log_level"), "log_level '%s' is not implemented (tgc logs at INFO)", ll);
}

/* ---- data ---------------------------------------------------------------------------------------- */
/* Shape-preserving augmentations of MMPretrain that tgc does not implement: taken out of the pipeline. */
static const char *const aug_transforms[] = {"Lighting", "RandomGrayscale",
                                             "GaussianBlur", "Albumentations", NULL};

/* Resampling of the size-changing transforms: tgc's is mmcv.imresize's with the cv2 or pillow backend,
 * nearest, bilinear or bicubic (runtime/data/data_resample.c). */
static void scan_resample(scan *s, tgc_cfg *t, const char *type) {
    const char *interp = str_of(t, "interpolation");
    if (interp && strcmp(interp, "bilinear") && strcmp(interp, "nearest") && strcmp(interp, "bicubic")) {
        add(s, tgc_cfg_get(t, "interpolation"), "%s: interpolation '%s' is not implemented; left out (bilinear)",
            type, interp);
        drop(s, t, tgc_cfg_get(t, "interpolation"));
    }
    const char *be = str_of(t, "backend");
    if (be && strcmp(be, "cv2") && strcmp(be, "pillow")) {
        add(s, tgc_cfg_get(t, "backend"), "%s: backend '%s' is not implemented; left out (cv2)", type, be);
        drop(s, t, tgc_cfg_get(t, "backend"));
    }
}

static void scan_pipeline(scan *s, tgc_cfg *pl) {
    if (!is_list(pl)) return;
    static const char *const harmless[] = {"file_client_args", "backend_args", "to_float32", "ignore_empty",
                                           "meta_keys", "algorithm_keys", "clip_object_border", NULL};
    for (int i = 0; i < pl->n; i++) {
        tgc_cfg *t = pl->items[i];
        const char *type = is_map(t) ? type_of(t) : NULL;
        if (!type) continue;
        if (in_list(type, aug_transforms)) {
            add(s, t, "transform '%s' is not implemented; left out of the pipeline", type);
            drop(s, pl, t);
            continue;
        }
        /* AutoAugment: MMPretrain 1.2 builds the sub-policies from the policies before merging hparams into
         * them (the merged copy is only printed), so hparams change nothing there; tgc does the same. */
        const tgc_cfg *hp = !strcmp(type, "AutoAugment") ? tgc_cfg_get(t, "hparams") : NULL;
        if (hp && hp->kind != TGC_CFG_NULL)
            add(s, hp, "AutoAugment: hparams change nothing (MMPretrain 1.2 builds the sub-policies without them)");
        static const char *const load[] = {"color_type", "imdecode_backend", NULL};
        static const char *const resize[] = {"scale", "scale_factor", "keep_ratio", "interpolation", "backend", NULL};
        static const char *const rcrop[] = {"crop_size", "padding", "pad_if_needed", "pad_val", "padding_mode", NULL};
        static const char *const rrc[] = {"scale", "crop_ratio_range", "aspect_ratio_range", "max_attempts",
                                          "interpolation", "backend", NULL};
        static const char *const edge[] = {"scale", "edge", "interpolation", "backend", NULL};
        static const char *const center[] = {"crop_size", NULL};
        static const char *const flip[] = {"prob", "direction", NULL};
        static const char *const anns[] = {"with_bbox", "with_label", NULL};
        static const char *const jitter[] = {"brightness", "contrast", "saturation", "hue", "backend", NULL};
        static const char *const erasing[] = {"erase_prob", "min_area_ratio", "max_area_ratio", "aspect_range", "mode",
                                              "fill_color", "fill_std", NULL};
        const char *const *impl = NULL;
        if (!strcmp(type, "LoadImageFromFile")) {
            impl = load;
            const char *be = str_of(t, "imdecode_backend");
            if (be && strcmp(be, "cv2"))
                add(s, tgc_cfg_get(t, "imdecode_backend"), "%s: imdecode_backend '%s' is not implemented (tgc decodes "
                    "with libjpeg/libpng as cv2 does)", type, be);
        } else if (!strcmp(type, "Resize")) impl = resize;
        else if (!strcmp(type, "RandomCrop")) impl = rcrop;
        else if (!strcmp(type, "RandomResizedCrop")) impl = rrc;
        else if (!strcmp(type, "ResizeEdge")) impl = edge;
        else if (!strcmp(type, "CenterCrop")) impl = center;
        else if (!strcmp(type, "RandomFlip")) impl = flip;
        else if (!strcmp(type, "PackInputs") || !strcmp(type, "PackClsInputs") || !strcmp(type, "PackDetInputs"))
            impl = harmless;
        else if (!strcmp(type, "LoadAnnotations")) impl = anns;
        else if (!strcmp(type, "ColorJitter")) impl = jitter;
        else if (!strcmp(type, "RandomErasing")) impl = erasing;
        else continue; /* unknown transforms are refused by the compile */
        if (impl == resize || impl == rrc || impl == edge) scan_resample(s, t, type);
        other_keys(s, t, type, impl, harmless);
    }
}

static void scan_dataset(scan *s, tgc_cfg *ds) {
    if (!is_map(ds)) return;
    const char *type = type_of(ds);
    if (!type) return;
    static const char *const impl[] = {"data_root", "data_prefix", "ann_file", "split", "test_mode", "pipeline",
                                       "indices", NULL};
    /* the file datasets (runtime/data/data_files.c) */
    static const char *const files[] = {"data_root", "data_prefix", "ann_file", "split", "test_mode", "pipeline",
                                        "indices", "with_label", "extensions", "metainfo", "classes", "multi_label",
                                        NULL};
    static const char *const cub[] = {"data_root", "split", "test_mode", "pipeline", "indices", "metainfo", "classes",
                                      NULL};
    /* CocoDataset (the detection data path, runtime/data): its image filter and class subset */
    static const char *const coco[] = {"data_root", "data_prefix", "ann_file", "test_mode", "pipeline", "indices",
                                       "filter_cfg", "metainfo", NULL};
    static const char *const harmless[] = {"serialize_data", "lazy_init", "max_refetch", "download",
                                           "file_client_args", "backend_args", NULL};
    const char *const *keys = !strcmp(type, "CocoDataset") ? coco : !strcmp(type, "CUB") ? cub
                            : !strcmp(type, "CustomDataset") || !strcmp(type, "ImageNet") || !strcmp(type, "ImageNet21k")
                                ? files
                                : impl;
    other_keys(s, ds, type, keys, harmless);
    scan_pipeline(s, tgc_cfg_get(ds, "pipeline"));
}

static void scan_loader(scan *s, tgc_cfg *root, const char *key) {
    tgc_cfg *dl = tgc_cfg_get(root, key);
    if (!is_map(dl)) return;
    /* the collate function tgc's loader is: stacking samples into a batch */
    const tgc_cfg *cf = tgc_cfg_get(dl, "collate_fn");
    const char *ct = is_map(cf) ? type_of(cf) : NULL;
    int plain_collate = ct && !strcmp(ct, "default_collate");
    const char *const impl[] = {"batch_size", "num_workers", "prefetch_factor", "sampler", "dataset",
                                plain_collate ? "collate_fn" : NULL, NULL};
    static const char *const harmless[] = {"persistent_workers", "pin_memory", "worker_init_fn", NULL};
    tgc_cfg *bs = tgc_cfg_get(dl, "batch_sampler");
    const char *bst = is_map(bs) ? type_of(bs) : NULL;
    const tgc_cfg *ds = tgc_cfg_get(dl, "dataset");
    const char *dst = is_map(ds) ? type_of(ds) : NULL;
    int aspect = bst && !strcmp(bst, "AspectRatioBatchSampler");
    if (aspect && dst && !strcmp(dst, "CocoDataset")) {
        /* the detection path groups batches by orientation, on a canvas of each orientation (frontend/data.c,
         * two_orientations); drop_last: the leftovers of each epoch are dropped either way */
        static const char *const ark[] = {"drop_last", NULL};
        other_keys(s, bs, bst, ark, NULL);
    } else if (aspect) {
        add(s, bs, "batch sampler 'AspectRatioBatchSampler' is implemented for CocoDataset only: %s's batches are "
                   "not grouped by orientation", dst ? dst : key);
        drop(s, dl, bs);
    }
    for (int i = 0; is_map(dl) && i < dl->n; i++) { /* every other key, the batch sampler listed once */
        const char *k = dl->keys[i];
        if (!strcmp(k, "type") || in_list(k, impl) || in_list(k, harmless) || neutral(dl->items[i]) ||
            dropping(s, dl->items[i]) || (aspect && dl->items[i] == bs))
            continue;
        add(s, dl->items[i], "%s's '%s' is not implemented", key, k);
    }
    tgc_cfg *sm = tgc_cfg_get(dl, "sampler");
    const char *st = is_map(sm) ? type_of(sm) : NULL;
    if (st && !strcmp(st, "RepeatAugSampler")) {
        static const char *const rak[] = {"shuffle", "seed", "num_repeats", NULL};
        other_keys(s, sm, st, rak, NULL);
    } else if (st && !strcmp(st, "DefaultSampler")) {
        static const char *const smk[] = {"shuffle", "seed", "round_up", NULL};
        other_keys(s, sm, st, smk, NULL);
    }
    scan_dataset(s, tgc_cfg_get(dl, "dataset"));
}

/* MMDetection's DetDataPreprocessor (model.data_preprocessor): the normalisation and padding the detection
 * data path applies on the host, and tgc's own keys (the canvas, the padded ground-truth count). */
static void scan_det_preprocessor(scan *s, tgc_cfg *pre) {
    if (!is_map(pre)) return;
    static const char *const impl[] = {"mean", "std", "bgr_to_rgb", "pad_size_divisor", "tgc_canvas", "tgc_max_gts", NULL};
    static const char *const harmless[] = {"non_blocking", "boxtype2tensor", "pad_value", NULL};
    other_keys(s, pre, "DetDataPreprocessor", impl, harmless);
}

static void scan_preprocessor(scan *s, tgc_cfg *pre) {
    if (!is_map(pre)) return;
    static const char *const impl[] = {"mean", "std", "to_rgb", "bgr_to_rgb", "num_classes", "to_onehot", NULL};
    static const char *const harmless[] = {"non_blocking", NULL};
    const tgc_cfg *ba = tgc_cfg_get(pre, "batch_augments");
    if (!neutral(ba) && !dropping(s, ba)) {
        add(s, ba, "batch_augments other than {augments, probs} are not implemented; left out");
        drop(s, pre, ba);
    }
    for (int i = 0; i < pre->n; i++) {
        const char *k = pre->keys[i];
        if (!strcmp(k, "type") || !strcmp(k, "batch_augments") || in_list(k, impl) || in_list(k, harmless) ||
            neutral(pre->items[i]))
            continue;
        add(s, pre->items[i], "data_preprocessor's '%s' is not implemented", k);
    }
}

/* MMPretrain's ImageClassifier hands model.train_cfg to its data preprocessor as `batch_augments`,
 * replacing any set there; a data_preprocessor.batch_augments alone is used as it is. tgc reads batch
 * augments from model.train_cfg, so the preprocessor's moves there when the model has none. */
static void adopt_preprocessor_augments(scan *s, tgc_cfg *root) {
    tgc_cfg *pre = tgc_cfg_get(root, "data_preprocessor"), *model = tgc_cfg_get(root, "model");
    tgc_cfg *ba = is_map(pre) ? tgc_cfg_get(pre, "batch_augments") : NULL;
    if (neutral(ba) || !is_map(model)) return;
    tgc_cfg *tc = tgc_cfg_get(model, "train_cfg");
    if (tc && !neutral(tc) && !is_map(tc)) return; /* the builder refuses it */
    if (is_map(tc) && !neutral(tgc_cfg_get(tc, "augments"))) {
        add(s, ba, "overridden by model.train_cfg.augments, as MMPretrain's ImageClassifier does; left out");
        drop(s, pre, ba);
        return;
    }
    if (!is_map(ba)) return; /* listed by scan_preprocessor */
    if (!is_map(tc)) {
        tc = tgc_cfg_new(TGC_CFG_MAP, ba->file, ba->line);
        tgc_cfg_set(model, "train_cfg", tc);
    }
    static const char *const keys[] = {"augments", "probs"};
    for (int i = 0; i < 2; i++) {
        tgc_cfg *v = tgc_cfg_take(ba, keys[i]);
        if (v) tgc_cfg_set(tc, keys[i], v);
    }
    if (ba->n == 0) tgc_cfg_free(tgc_cfg_take(pre, "batch_augments")); /* else its other keys are listed */
    tgc_cfg_set_paths(root);
}

/* ---- model --------------------------------------------------------------------------------------- */
static void scan_model(scan *s, tgc_cfg *model) {
    if (!is_map(model)) return;
    tgc_cfg *tc = tgc_cfg_get(model, "train_cfg");
    tgc_cfg *aug = is_map(tc) ? tgc_cfg_get(tc, "augments") : NULL;
    if (!neutral(aug) && !tgc_b_batch_augments_implemented(aug)) {
        /* Without a batch augment the labels stay hard: a soft-target loss (use_soft) computes the same. */
        char names[256] = "";
        size_t len = 0;
        const tgc_cfg *one = aug;
        for (int i = 0; (is_map(aug) ? i < 1 : i < aug->n) && len < sizeof names; i++) {
            if (is_list(aug)) one = aug->items[i];
            const char *t = is_map(one) ? type_of(one) : NULL;
            len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "", t ? t : "?");
        }
        add(s, aug, "batch augments (%s) are not all implemented (Mixup, CutMix are); left out (hard labels)",
            names);
        drop(s, tc, aug);
    }
    tgc_cfg *bb = tgc_cfg_get(model, "backbone");
    if (!is_map(bb)) return;
    const tgc_cfg *dp = tgc_cfg_get(bb, "drop_path_rate");
    if (!neutral(dp)) {
        add(s, dp, "drop path (stochastic depth) is not implemented; left out");
        drop(s, bb, dp);
    }
    const tgc_cfg *nc = tgc_cfg_get(bb, "norm_cfg");
    const char *nt = is_map(nc) ? type_of(nc) : NULL;
    if (nt && !strcmp(nt, "SyncBN"))
        add(s, nc, "SyncBN is computed as BN: batch statistics per process (the same on one process)");
}

void tgc_ignored_scan(tgc_cfg *root, tgc_ignored *out) {
    memset(out, 0, sizeof *out);
    if (!is_map(root)) return;
    scan s = {.root = root, .ig = out};
    adopt_preprocessor_augments(&s, root);
    scan_model(&s, tgc_cfg_get(root, "model"));
    scan_preprocessor(&s, tgc_cfg_get(root, "data_preprocessor"));
    tgc_cfg *model = tgc_cfg_get(root, "model");
    if (is_map(model) && tgc_b_is_detector(model)) scan_det_preprocessor(&s, tgc_cfg_get(model, "data_preprocessor"));
    scan_loader(&s, root, "train_dataloader");
    scan_loader(&s, root, "val_dataloader");
    scan_runtime(&s, root);
    for (int i = 0; i < s.n_drop; i++) tgc_cfg_free(tgc_cfg_take_child(s.drops[i].parent, s.drops[i].child));
    free(s.drops);
    if (s.n_drop) tgc_cfg_set_paths(root);
}

void tgc_ignored_free(tgc_ignored *ig) {
    for (int i = 0; i < ig->n; i++) {
        free(ig->items[i].where);
        free(ig->items[i].path);
        free(ig->items[i].what);
    }
    free(ig->items);
    memset(ig, 0, sizeof *ig);
}

char *tgc_ignored_text(const tgc_ignored *ig) {
    tgc_buf b = {0};
    for (int i = 0; i < ig->n; i++)
        tgc_buf_printf(&b, "%s: %s: %s\n", ig->items[i].where, ig->items[i].path, ig->items[i].what);
    tgc_buf_put(&b, "", 1);
    return (char *)b.data;
}
