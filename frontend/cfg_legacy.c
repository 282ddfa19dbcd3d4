/* frontend/cfg_legacy.c - MMDetection 2.x / MMClassification 0.x (MMCV runner) configs translated into
 * MMEngine's schema, the rules of MMDetection's config migration guide: `data` -> *_dataloader, pipelines
 * (Normalize -> data_preprocessor, Resize img_scale -> scale, RandomFlip flip_ratio -> prob, the
 * formatting steps -> PackInputs/PackDetInputs, MultiScaleFlipAug flattened), `optimizer` +
 * `optimizer_config` + `fp16` -> optim_wrapper, `lr_config` -> param_scheduler, `runner` + `evaluation`
 * -> train_cfg/val_evaluator, `checkpoint_config`/`log_config` -> default_hooks and vis_backends,
 * `dist_params` & co. -> env_cfg, `resume_from`/`auto_resume` -> resume + load_from, 0.x batch augments
 * (BatchMixup/BatchCutMix) -> Mixup/CutMix with probs. Translated keys are
 * replaced; keys that mean nothing to tgc stay in the tree and are named once in a warning. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/cfg.h"

typedef struct tr {
    tgc_cfg *root;
    tgc_err *err;
    tgc_buf done;    /* "data, optimizer, ..." translated */
    tgc_buf ignored; /* kept, no meaning for tgc */
    int det;         /* detection (MMDetection) rather than classification */
} tr;

static void note(tgc_buf *b, const char *what) { tgc_buf_printf(b, "%s%s", b->len ? ", " : "", what); }

static tgc_cfg *node_like(const tgc_cfg *at, tgc_cfg_kind k) {
    return tgc_cfg_new(k, at ? at->file : "<2.x translation>", at ? at->line : 0);
}

static tgc_cfg *str_like(const tgc_cfg *at, const char *s) {
    tgc_cfg *v = node_like(at, TGC_CFG_STR);
    v->s = tgc_strdup(s);
    return v;
}

static tgc_cfg *int_like(const tgc_cfg *at, int64_t i) {
    tgc_cfg *v = node_like(at, TGC_CFG_INT);
    v->i = i;
    return v;
}

static tgc_cfg *bool_like(const tgc_cfg *at, int b) {
    tgc_cfg *v = node_like(at, TGC_CFG_BOOL);
    v->b = b;
    return v;
}

static int is_null(const tgc_cfg *c) { return !c || c->kind == TGC_CFG_NULL; }
static int is_map(const tgc_cfg *c) { return c && c->kind == TGC_CFG_MAP; }
static int is_seq(const tgc_cfg *c) { return c && (c->kind == TGC_CFG_LIST || c->kind == TGC_CFG_TUPLE); }
static int type_is(const tgc_cfg *m, const char *t) {
    const tgc_cfg *v = is_map(m) ? tgc_cfg_get(m, "type") : NULL;
    return v && v->kind == TGC_CFG_STR && !strcmp(v->s, t);
}

/* map[key] as a map, created (with the location of `at`) when absent. NULL when present but not a map. */
static tgc_cfg *submap(tgc_cfg *map, const char *key, const tgc_cfg *at) {
    tgc_cfg *v = tgc_cfg_get(map, key);
    if (!v || v->kind == TGC_CFG_NULL) {
        v = node_like(at, TGC_CFG_MAP);
        tgc_cfg_set(map, key, v);
    }
    return v->kind == TGC_CFG_MAP ? v : NULL;
}

/* Moves src[key] to dst[key2] when present (replacing). */
static void move_key(tgc_cfg *src, const char *key, tgc_cfg *dst, const char *key2) {
    tgc_cfg *v = tgc_cfg_take(src, key);
    if (v) tgc_cfg_set(dst, key2, v);
}

/* Renames a key in place (its position kept), unless `to` is already there. */
static void rename_key(tgc_cfg *m, const char *from, const char *to) {
    if (tgc_cfg_get(m, to)) return;
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->keys[i], from)) {
            free(m->keys[i]);
            m->keys[i] = tgc_strdup(to);
            return;
        }
}

/* ---- pipelines ------------------------------------------------------------------------------------ */
static const char *const format_steps[] = {"DefaultFormatBundle", "Collect", "ImageToTensor", "ToTensor",
                                           "ToDataContainer", "Transpose", "ToNumpy", "WrapFieldsToLists"};

static int is_format_step(const tgc_cfg *t) {
    for (size_t i = 0; i < TGC_ARRAY_LEN(format_steps); i++)
        if (type_is(t, format_steps[i])) return 1;
    return 0;
}

/* Sets the data preprocessor's normalization from a Normalize step / img_norm_cfg (unless one is set). */
/* The data preprocessor the translation fills: MMDetection 3.x's in the model (DetDataPreprocessor),
 * MMPretrain's at the top level. */
static tgc_cfg *preprocessor(tr *T, const tgc_cfg *at) {
    tgc_cfg *model = tgc_cfg_get(T->root, "model");
    tgc_cfg *owner = T->det && is_map(model) ? model : T->root;
    tgc_cfg *dp = tgc_cfg_get(owner, "data_preprocessor");
    if (!is_map(dp)) {
        dp = node_like(at, TGC_CFG_MAP);
        if (T->det) tgc_cfg_append(dp, "type", str_like(at, "DetDataPreprocessor"));
        tgc_cfg_set(owner, "data_preprocessor", dp);
    }
    return dp;
}

static void take_norm(tr *T, const tgc_cfg *norm) {
    tgc_cfg *dp = tgc_cfg_get(T->root, "data_preprocessor");
    tgc_cfg *mdp = is_map(tgc_cfg_get(T->root, "model")) ? tgc_cfg_get(tgc_cfg_get(T->root, "model"), "data_preprocessor") : NULL;
    if ((is_map(dp) && tgc_cfg_get(dp, "mean")) || (is_map(mdp) && tgc_cfg_get(mdp, "mean"))) return;
    dp = preprocessor(T, norm);
    const char *keys[] = {"mean", "std"};
    for (int k = 0; k < 2; k++) {
        const tgc_cfg *v = tgc_cfg_get(norm, keys[k]);
        if (v) tgc_cfg_set(dp, keys[k], tgc_cfg_clone(v));
    }
    const tgc_cfg *rgb = tgc_cfg_get(norm, "to_rgb");
    if (rgb) tgc_cfg_set(dp, T->det ? "bgr_to_rgb" : "to_rgb", tgc_cfg_clone(rgb));
}

/* Translates one step into out (a list); `test` for MultiScaleFlipAug's inner steps. */
static void pipeline_step(tr *T, const tgc_cfg *s, tgc_cfg *out, const tgc_cfg *img_scale) {
    if (!is_map(s)) {
        tgc_cfg_append(out, NULL, tgc_cfg_clone(s));
        return;
    }
    if (type_is(s, "Normalize")) {
        take_norm(T, s);
        return;
    }
    if (is_format_step(s)) return;
    if (type_is(s, "Pad")) { /* batch padding belongs to the detection preprocessor */
        const tgc_cfg *d = tgc_cfg_get(s, "size_divisor");
        tgc_cfg *dp = preprocessor(T, s);
        if (d && !tgc_cfg_get(dp, "pad_size_divisor")) tgc_cfg_set(dp, "pad_size_divisor", tgc_cfg_clone(d));
        return;
    }
    if (type_is(s, "MultiScaleFlipAug")) {
        const tgc_cfg *inner = tgc_cfg_get(s, "transforms");
        const tgc_cfg *sc = tgc_cfg_get(s, "img_scale");
        if (!sc) sc = tgc_cfg_get(s, "scale");
        for (int i = 0; is_seq(inner) && i < inner->n; i++) {
            if (type_is(inner->items[i], "RandomFlip")) continue; /* flip=False at test time */
            pipeline_step(T, inner->items[i], out, sc);
        }
        return;
    }
    tgc_cfg *c = tgc_cfg_clone(s);
    if (type_is(c, "Resize")) {
        rename_key(c, "img_scale", "scale");
        if (!tgc_cfg_get(c, "scale") && img_scale) tgc_cfg_set(c, "scale", tgc_cfg_clone(img_scale));
        tgc_cfg *size = tgc_cfg_take(c, "size"); /* MMClassification 0.x: size (h, w), -1 = keep ratio */
        if (size) {
            if (is_seq(size) && size->n == 2 && size->items[1]->kind == TGC_CFG_INT && size->items[1]->i == -1) {
                tgc_cfg_set(c, "type", str_like(c, "ResizeEdge"));
                tgc_cfg_set(c, "scale", tgc_cfg_clone(size->items[0]));
                tgc_cfg_set(c, "edge", str_like(c, "short"));
            } else if (is_seq(size) && size->n == 2) {
                tgc_cfg *wh = node_like(size, TGC_CFG_LIST);
                tgc_cfg_append(wh, NULL, tgc_cfg_clone(size->items[1]));
                tgc_cfg_append(wh, NULL, tgc_cfg_clone(size->items[0]));
                tgc_cfg_set(c, "scale", wh);
            } else {
                tgc_cfg_set(c, "scale", tgc_cfg_clone(size));
            }
            tgc_cfg_free(size);
        }
    } else if (type_is(c, "RandomFlip")) {
        rename_key(c, "flip_ratio", "prob");
        rename_key(c, "flip_prob", "prob");
    } else if (type_is(c, "RandomCrop") || type_is(c, "CenterCrop")) {
        rename_key(c, "size", "crop_size");
    } else if (type_is(c, "RandomResizedCrop")) {
        rename_key(c, "size", "scale");
    }
    tgc_cfg_append(out, NULL, c);
}

static tgc_cfg *pipeline(tr *T, const tgc_cfg *p) {
    tgc_cfg *out = node_like(p, TGC_CFG_LIST);
    int had_format = 0;
    for (int i = 0; i < p->n; i++) {
        const tgc_cfg *s = p->items[i];
        had_format |= is_format_step(s) || type_is(s, "MultiScaleFlipAug");
        pipeline_step(T, s, out, NULL);
    }
    if (had_format) {
        tgc_cfg *pack = node_like(p, TGC_CFG_MAP);
        tgc_cfg_append(pack, "type", str_like(p, T->det ? "PackDetInputs" : "PackInputs"));
        tgc_cfg_append(out, NULL, pack);
    }
    return out;
}

/* ---- data ------------------------------------------------------------------------------------------ */
static tgc_cfg *dataset(tr *T, const tgc_cfg *ds, int train) {
    tgc_cfg *d = tgc_cfg_clone(ds);
    tgc_cfg *p = tgc_cfg_get(d, "pipeline");
    if (is_seq(p)) tgc_cfg_set(d, "pipeline", pipeline(T, p));
    tgc_cfg *prefix = tgc_cfg_take(d, "img_prefix");
    if (prefix) {
        tgc_cfg *dp = node_like(prefix, TGC_CFG_MAP);
        tgc_cfg_append(dp, "img", prefix);
        tgc_cfg_set(d, "data_prefix", dp);
    }
    /* MMDetection 2.x filtered training images by default (CustomDataset filter_empty_gt=True, CocoDataset
     * _filter_imgs(min_size=32)) and built val/test datasets with test_mode=True (apis/train.py, test.py) */
    if (T->det && train && !tgc_cfg_get(d, "filter_cfg")) {
        tgc_cfg *fe = tgc_cfg_take(d, "filter_empty_gt");
        tgc_cfg *fc = node_like(ds, TGC_CFG_MAP);
        tgc_cfg_append(fc, "filter_empty_gt", fe ? fe : bool_like(ds, 1));
        tgc_cfg_append(fc, "min_size", int_like(ds, 32));
        tgc_cfg_set(d, "filter_cfg", fc);
    } else if (T->det && !train && !tgc_cfg_get(d, "test_mode")) {
        tgc_cfg_set(d, "test_mode", bool_like(ds, 1));
    }
    return d;
}

static void data_section(tr *T, tgc_cfg *data) {
    const tgc_cfg *spg = tgc_cfg_get(data, "samples_per_gpu"), *wpg = tgc_cfg_get(data, "workers_per_gpu");
    static const char *const parts[] = {"train", "val", "test"};
    for (int k = 0; k < 3; k++) {
        const tgc_cfg *ds = tgc_cfg_get(data, parts[k]);
        char name[32];
        snprintf(name, sizeof name, "%s_dataloader", parts[k]);
        if (!is_map(ds) || tgc_cfg_get(T->root, name)) continue;
        tgc_cfg *dl = node_like(ds, TGC_CFG_MAP);
        /* 2.x: per-split overrides in data.<split>_dataloader; the split's own samples_per_gpu (MMDetection's
         * test default is 1, MMClassification's the common value) */
        char over[40];
        snprintf(over, sizeof over, "%s_dataloader", parts[k]);
        const tgc_cfg *ov = tgc_cfg_get(data, over);
        const tgc_cfg *b = is_map(ov) && tgc_cfg_get(ov, "samples_per_gpu") ? tgc_cfg_get(ov, "samples_per_gpu")
                           : tgc_cfg_get(ds, "samples_per_gpu")              ? tgc_cfg_get(ds, "samples_per_gpu")
                                                                             : spg;
        if (k > 0 && T->det && !(is_map(ov) && tgc_cfg_get(ov, "samples_per_gpu")) && !tgc_cfg_get(ds, "samples_per_gpu"))
            b = NULL;
        if (b) tgc_cfg_append(dl, "batch_size", tgc_cfg_clone(b));
        else if (k > 0 && T->det) tgc_cfg_append(dl, "batch_size", int_like(ds, 1));
        const tgc_cfg *w = is_map(ov) && tgc_cfg_get(ov, "workers_per_gpu") ? tgc_cfg_get(ov, "workers_per_gpu") : wpg;
        if (w) tgc_cfg_append(dl, "num_workers", tgc_cfg_clone(w));
        tgc_cfg *d = dataset(T, ds, k == 0);
        tgc_cfg_free(tgc_cfg_take(d, "samples_per_gpu"));
        tgc_cfg_append(dl, "dataset", d);
        tgc_cfg *sampler = node_like(ds, TGC_CFG_MAP);
        tgc_cfg_append(sampler, "type", str_like(ds, "DefaultSampler"));
        tgc_cfg_append(sampler, "shuffle", bool_like(ds, k == 0));
        tgc_cfg_append(dl, "sampler", sampler);
        if (k == 0 && T->det) {
            /* 2.x's training loader (GroupSampler) made each batch one orientation, by the images' aspect
             * ratio flag, as 3.x's AspectRatioBatchSampler does (3.x puts square images with the landscape
             * ones, 2.x with the portrait ones) */
            tgc_cfg *bs = node_like(ds, TGC_CFG_MAP);
            tgc_cfg_append(bs, "type", str_like(ds, "AspectRatioBatchSampler"));
            tgc_cfg_append(dl, "batch_sampler", bs);
        }
        tgc_cfg_set(T->root, name, dl);
    }
    static const char *const known[] = {"samples_per_gpu", "workers_per_gpu", "train", "val", "test",
                                        "train_dataloader", "val_dataloader", "test_dataloader"};
    for (int i = 0; i < data->n; i++) {
        int k = 0;
        for (size_t j = 0; j < TGC_ARRAY_LEN(known); j++) k |= !strcmp(data->keys[i], known[j]);
        if (!k) {
            char *w = tgc_asprintf("data.%s", data->keys[i]);
            note(&T->ignored, w);
            free(w);
        }
    }
}

/* ---- optimizer, schedule, loops ------------------------------------------------------------------- */
static void optimizer(tr *T, tgc_cfg *opt, tgc_cfg *opt_cfg, tgc_cfg *fp16) {
    tgc_cfg *ow = tgc_cfg_get(T->root, "optim_wrapper");
    const tgc_cfg *at = opt ? opt : opt_cfg ? opt_cfg : fp16;
    if (!is_map(ow)) {
        ow = node_like(at, TGC_CFG_MAP);
        tgc_cfg_append(ow, "type", str_like(at, "OptimWrapper"));
        tgc_cfg_set(T->root, "optim_wrapper", ow);
    }
    if (is_map(opt)) {
        tgc_cfg *o = tgc_cfg_clone(opt);
        move_key(o, "paramwise_cfg", ow, "paramwise_cfg");
        tgc_cfg_set(ow, "optimizer", o);
    }
    if (is_map(opt_cfg)) {
        const tgc_cfg *gc = tgc_cfg_get(opt_cfg, "grad_clip");
        if (!is_null(gc)) tgc_cfg_set(ow, "clip_grad", tgc_cfg_clone(gc));
        const tgc_cfg *cum = tgc_cfg_get(opt_cfg, "cumulative_iters");
        if (cum) tgc_cfg_set(ow, "accumulative_counts", tgc_cfg_clone(cum));
        for (int i = 0; i < opt_cfg->n; i++)
            if (strcmp(opt_cfg->keys[i], "grad_clip") && strcmp(opt_cfg->keys[i], "cumulative_iters") &&
                strcmp(opt_cfg->keys[i], "type")) {
                char *w = tgc_asprintf("optimizer_config.%s", opt_cfg->keys[i]);
                note(&T->ignored, w);
                free(w);
            }
    }
    if (is_map(fp16)) { /* 2.x mixed precision through the config: MMEngine's AmpOptimWrapper */
        tgc_cfg_set(ow, "type", str_like(fp16, "AmpOptimWrapper"));
        const tgc_cfg *ls = tgc_cfg_get(fp16, "loss_scale");
        if (ls) tgc_cfg_set(ow, "loss_scale", tgc_cfg_clone(ls));
    }
}

/* The run's length from runner / total_epochs: *by_epoch and *len (0 when unknown). */
static void run_length(const tgc_cfg *root, int *by_epoch, int64_t *len) {
    const tgc_cfg *runner = tgc_cfg_get(root, "runner");
    *by_epoch = 1;
    *len = 0;
    if (is_map(runner)) {
        const tgc_cfg *e = tgc_cfg_get(runner, "max_epochs"), *it = tgc_cfg_get(runner, "max_iters");
        if (type_is(runner, "IterBasedRunner") || (it && !e)) {
            *by_epoch = 0;
            if (it && it->kind == TGC_CFG_INT) *len = it->i;
        } else if (e && e->kind == TGC_CFG_INT) {
            *len = e->i;
        }
    }
    const tgc_cfg *te = tgc_cfg_get(root, "total_epochs");
    if (!*len && te && te->kind == TGC_CFG_INT) *len = te->i;
}

static tgc_cfg *sched(const tgc_cfg *at, const char *type, int by_epoch) {
    tgc_cfg *s = node_like(at, TGC_CFG_MAP);
    tgc_cfg_append(s, "type", str_like(at, type));
    tgc_cfg_append(s, "by_epoch", bool_like(at, by_epoch));
    return s;
}

static const char *policy_of(const tgc_cfg *lr) {
    const tgc_cfg *p = tgc_cfg_get(lr, "policy");
    return p && p->kind == TGC_CFG_STR ? p->s : "";
}

static int lr_config(tr *T, const tgc_cfg *lr) {
    if (tgc_cfg_get(T->root, "param_scheduler")) {
        note(&T->ignored, "lr_config (param_scheduler is set)");
        return 0;
    }
    int run_by_epoch;
    int64_t len;
    run_length(T->root, &run_by_epoch, &len);
    int by_epoch = run_by_epoch;
    const tgc_cfg *be = tgc_cfg_get(lr, "by_epoch");
    if (be && be->kind == TGC_CFG_BOOL) by_epoch = be->b;
    tgc_cfg *list = node_like(lr, TGC_CFG_LIST);
    const char *policy = policy_of(lr);
    const tgc_cfg *warm = tgc_cfg_get(lr, "warmup");
    if (!is_null(warm)) {
        const tgc_cfg *wi = tgc_cfg_get(lr, "warmup_iters"), *wr = tgc_cfg_get(lr, "warmup_ratio");
        const tgc_cfg *wbe = tgc_cfg_get(lr, "warmup_by_epoch");
        int w_by_epoch = wbe && wbe->kind == TGC_CFG_BOOL && wbe->b;
        const char *wt = warm->kind == TGC_CFG_STR ? warm->s : "";
        if (!strcmp(wt, "linear") || !strcmp(wt, "constant")) {
            int lin = wt[0] == 'l';
            tgc_cfg *s = sched(warm, lin ? "LinearLR" : "ConstantLR", w_by_epoch);
            tgc_cfg *ratio = wr ? tgc_cfg_clone(wr) : node_like(warm, TGC_CFG_FLOAT);
            if (!wr) ratio->f = 0.1; /* MMCV's default warmup_ratio */
            tgc_cfg_append(s, lin ? "start_factor" : "factor", ratio);
            tgc_cfg_append(s, "begin", int_like(warm, 0));
            tgc_cfg_append(s, "end", wi ? tgc_cfg_clone(wi) : int_like(warm, 0));
            if (w_by_epoch) tgc_cfg_append(s, "convert_to_iter_based", bool_like(warm, 1)); /* MMCV warms per iteration */
            tgc_cfg_append(list, NULL, s);
        } else {
            note(&T->ignored, "lr_config.warmup (only 'linear' and 'constant' have MMEngine counterparts)");
        }
    }
    tgc_cfg *s = NULL;
    if (!strcmp(policy, "step") || !strcmp(policy, "Step")) {
        const tgc_cfg *st = tgc_cfg_get(lr, "step");
        const tgc_cfg *g = tgc_cfg_get(lr, "gamma");
        if (st && st->kind == TGC_CFG_INT) {
            s = sched(lr, "StepLR", by_epoch);
            tgc_cfg_append(s, "step_size", tgc_cfg_clone(st));
        } else {
            s = sched(lr, "MultiStepLR", by_epoch);
            tgc_cfg *m = st ? tgc_cfg_clone(st) : node_like(lr, TGC_CFG_LIST);
            if (m->kind == TGC_CFG_TUPLE) m->kind = TGC_CFG_LIST;
            tgc_cfg_append(s, "milestones", m);
        }
        if (g) tgc_cfg_append(s, "gamma", tgc_cfg_clone(g));
        else {
            tgc_cfg *gv = node_like(lr, TGC_CFG_FLOAT);
            gv->f = 0.1;
            tgc_cfg_append(s, "gamma", gv);
        }
        if (tgc_cfg_get(lr, "min_lr")) note(&T->ignored, "lr_config.min_lr (step)");
    } else if (!strcmp(policy, "CosineAnnealing") || !strcmp(policy, "cosine")) {
        s = sched(lr, "CosineAnnealingLR", by_epoch);
        if (len > 0) tgc_cfg_append(s, "T_max", int_like(lr, len));
        const tgc_cfg *mn = tgc_cfg_get(lr, "min_lr"), *mr = tgc_cfg_get(lr, "min_lr_ratio");
        if (mn) tgc_cfg_append(s, "eta_min", tgc_cfg_clone(mn));
        if (mr) tgc_cfg_append(s, "eta_min_ratio", tgc_cfg_clone(mr));
        tgc_cfg_append(s, "begin", int_like(lr, 0));
        if (len > 0) tgc_cfg_append(s, "end", int_like(lr, len));
    } else if (!strcmp(policy, "Exp") || !strcmp(policy, "exp")) {
        s = sched(lr, "ExponentialLR", by_epoch);
        const tgc_cfg *g = tgc_cfg_get(lr, "gamma");
        if (g) tgc_cfg_append(s, "gamma", tgc_cfg_clone(g));
    } else if (!strcmp(policy, "Poly") || !strcmp(policy, "poly")) {
        s = sched(lr, "PolyLR", by_epoch);
        const tgc_cfg *pw = tgc_cfg_get(lr, "power"), *mn = tgc_cfg_get(lr, "min_lr");
        if (pw) tgc_cfg_append(s, "power", tgc_cfg_clone(pw));
        if (mn) tgc_cfg_append(s, "eta_min", tgc_cfg_clone(mn));
        tgc_cfg_append(s, "begin", int_like(lr, 0));
        if (len > 0) tgc_cfg_append(s, "end", int_like(lr, len));
    } else if (!strcmp(policy, "fixed")) {
        /* a constant lr: no scheduler */
    } else {
        tgc_cfg_free(list);
        return tgc_cfg_fail(T->err, lr, "lr_config: policy '%s' has no translation (step, CosineAnnealing, Exp, "
                                        "Poly and fixed have)",
                            policy);
    }
    if (s) tgc_cfg_append(list, NULL, s);
    if (list->n == 1) { /* one scheduler: a map, as MMEngine's configs write it */
        tgc_cfg *one = list->items[0];
        list->items[0] = NULL;
        tgc_cfg_free(list);
        tgc_cfg_set(T->root, "param_scheduler", one);
    } else if (list->n > 1) {
        tgc_cfg_set(T->root, "param_scheduler", list);
    } else {
        tgc_cfg_free(list);
    }
    return 0;
}

static void loops(tr *T, const tgc_cfg *evaluation) {
    int by_epoch;
    int64_t len;
    run_length(T->root, &by_epoch, &len);
    const tgc_cfg *at = tgc_cfg_get(T->root, "runner");
    if (!at) at = tgc_cfg_get(T->root, "total_epochs");
    if (tgc_cfg_get(T->root, "train_cfg") && is_map(tgc_cfg_get(T->root, "train_cfg")) &&
        (tgc_cfg_get(tgc_cfg_get(T->root, "train_cfg"), "rpn") || tgc_cfg_get(tgc_cfg_get(T->root, "train_cfg"), "rcnn") ||
         tgc_cfg_get(tgc_cfg_get(T->root, "train_cfg"), "assigner"))) {
        /* 2.0-era detection: top-level train_cfg/test_cfg are the model's */
        tgc_cfg *model = submap(T->root, "model", at);
        if (model) {
            move_key(T->root, "train_cfg", model, "train_cfg");
            if (tgc_cfg_get(T->root, "test_cfg")) move_key(T->root, "test_cfg", model, "test_cfg");
            note(&T->done, "train_cfg/test_cfg (into model)");
        }
    }
    if (at && !tgc_cfg_get(T->root, "train_cfg")) {
        tgc_cfg *tc = node_like(at, TGC_CFG_MAP);
        if (!by_epoch) tgc_cfg_append(tc, "type", str_like(at, "IterBasedTrainLoop"));
        tgc_cfg_append(tc, "by_epoch", bool_like(at, by_epoch));
        if (len > 0) tgc_cfg_append(tc, by_epoch ? "max_epochs" : "max_iters", int_like(at, len));
        const tgc_cfg *iv = is_map(evaluation) ? tgc_cfg_get(evaluation, "interval") : NULL;
        tgc_cfg_append(tc, "val_interval", iv ? tgc_cfg_clone(iv) : int_like(at, 1));
        tgc_cfg_set(T->root, "train_cfg", tc);
        if (!tgc_cfg_get(T->root, "val_cfg")) tgc_cfg_set(T->root, "val_cfg", node_like(at, TGC_CFG_MAP));
        if (!tgc_cfg_get(T->root, "test_cfg")) tgc_cfg_set(T->root, "test_cfg", node_like(at, TGC_CFG_MAP));
    }
    if (is_map(evaluation) && !tgc_cfg_get(T->root, "val_evaluator")) {
        const tgc_cfg *metric = tgc_cfg_get(evaluation, "metric");
        const char *m0 = metric && metric->kind == TGC_CFG_STR ? metric->s
                         : is_seq(metric) && metric->n && metric->items[0]->kind == TGC_CFG_STR ? metric->items[0]->s
                                                                                                  : "";
        tgc_cfg *ev = node_like(evaluation, TGC_CFG_MAP);
        if (!strcmp(m0, "accuracy")) {
            tgc_cfg_append(ev, "type", str_like(evaluation, "Accuracy"));
            const tgc_cfg *mo = tgc_cfg_get(evaluation, "metric_options");
            const tgc_cfg *topk = is_map(mo) ? tgc_cfg_get(mo, "topk") : NULL;
            if (topk) {
                tgc_cfg *t = tgc_cfg_clone(topk);
                if (t->kind == TGC_CFG_TUPLE) t->kind = TGC_CFG_LIST;
                tgc_cfg_append(ev, "topk", t);
            }
        } else if (!strcmp(m0, "bbox") || !strcmp(m0, "segm") || !strcmp(m0, "proposal")) {
            tgc_cfg_append(ev, "type", str_like(evaluation, "CocoMetric"));
            const tgc_cfg *ann = tgc_cfg_at(T->root, "val_dataloader.dataset.ann_file");
            if (ann) tgc_cfg_append(ev, "ann_file", tgc_cfg_clone(ann));
            tgc_cfg_append(ev, "metric", tgc_cfg_clone(metric));
        } else {
            tgc_cfg_append(ev, "type", str_like(evaluation, "Accuracy"));
            note(&T->ignored, "evaluation.metric (not accuracy or bbox: Accuracy used)");
        }
        tgc_cfg_set(T->root, "val_evaluator", ev);
        if (!tgc_cfg_get(T->root, "test_evaluator")) tgc_cfg_set(T->root, "test_evaluator", tgc_cfg_clone(ev));
        const tgc_cfg *sb = tgc_cfg_get(evaluation, "save_best");
        if (sb) {
            tgc_cfg *ck = submap(submap(T->root, "default_hooks", evaluation), "checkpoint", evaluation);
            if (ck) tgc_cfg_set(ck, "save_best", tgc_cfg_clone(sb));
        }
    }
}

/* ---- hooks, environment, resume ------------------------------------------------------------------- */
static void hooks(tr *T, const tgc_cfg *ckpt, const tgc_cfg *log) {
    if (is_map(ckpt)) {
        tgc_cfg *dh = submap(T->root, "default_hooks", ckpt);
        tgc_cfg *ck = dh ? submap(dh, "checkpoint", ckpt) : NULL;
        if (ck) {
            if (!tgc_cfg_get(ck, "type")) tgc_cfg_set(ck, "type", str_like(ckpt, "CheckpointHook"));
            for (int i = 0; i < ckpt->n; i++) tgc_cfg_set(ck, ckpt->keys[i], tgc_cfg_clone(ckpt->items[i]));
        }
    }
    if (is_map(log)) {
        tgc_cfg *dh = submap(T->root, "default_hooks", log);
        tgc_cfg *lg = dh ? submap(dh, "logger", log) : NULL;
        const tgc_cfg *iv = tgc_cfg_get(log, "interval");
        if (lg) {
            if (!tgc_cfg_get(lg, "type")) tgc_cfg_set(lg, "type", str_like(log, "LoggerHook"));
            if (iv) tgc_cfg_set(lg, "interval", tgc_cfg_clone(iv));
        }
        const tgc_cfg *hs = tgc_cfg_get(log, "hooks");
        int tb = 0;
        for (int i = 0; is_seq(hs) && i < hs->n; i++) {
            const tgc_cfg *h = hs->items[i];
            if (type_is(h, "TextLoggerHook")) continue;
            if (type_is(h, "TensorboardLoggerHook")) tb = 1;
            else {
                const tgc_cfg *t = is_map(h) ? tgc_cfg_get(h, "type") : NULL;
                char *w = tgc_asprintf("log_config.hooks: %s", t && t->kind == TGC_CFG_STR ? t->s : "?");
                note(&T->ignored, w);
                free(w);
            }
        }
        if (tb) { /* MMEngine: a TensorboardVisBackend in the visualizer */
            tgc_cfg *vis = submap(T->root, "visualizer", log);
            if (vis) {
                if (!tgc_cfg_get(vis, "type")) tgc_cfg_set(vis, "type", str_like(log, T->det ? "DetLocalVisualizer" : "UniversalVisualizer"));
                tgc_cfg *vb = tgc_cfg_get(vis, "vis_backends");
                if (!is_seq(vb)) {
                    vb = node_like(log, TGC_CFG_LIST);
                    tgc_cfg *local = node_like(log, TGC_CFG_MAP);
                    tgc_cfg_append(local, "type", str_like(log, "LocalVisBackend"));
                    tgc_cfg_append(vb, NULL, local);
                    tgc_cfg_set(vis, "vis_backends", vb);
                }
                int have = 0;
                for (int i = 0; i < vb->n; i++) have |= type_is(vb->items[i], "TensorboardVisBackend");
                if (!have) {
                    tgc_cfg *t = node_like(log, TGC_CFG_MAP);
                    tgc_cfg_append(t, "type", str_like(log, "TensorboardVisBackend"));
                    tgc_cfg_append(vb, NULL, t);
                }
            }
        }
    }
}

static void env(tr *T) {
    tgc_cfg *dp = tgc_cfg_get(T->root, "dist_params");
    tgc_cfg *ob = tgc_cfg_get(T->root, "opencv_num_threads"), *mp = tgc_cfg_get(T->root, "mp_start_method");
    tgc_cfg *cb = tgc_cfg_get(T->root, "cudnn_benchmark");
    if (!dp && !ob && !mp && !cb) return;
    const tgc_cfg *at = dp ? dp : ob ? ob : mp ? mp : cb;
    tgc_cfg *e = submap(T->root, "env_cfg", at);
    if (!e) return;
    if (is_map(dp)) {
        tgc_cfg *d = tgc_cfg_take(T->root, "dist_params");
        tgc_cfg_set(e, "dist_cfg", d);
        note(&T->done, "dist_params");
    }
    if (ob || mp) {
        tgc_cfg *m = submap(e, "mp_cfg", at);
        if (m && ob) move_key(T->root, "opencv_num_threads", m, "opencv_num_threads"), note(&T->done, "opencv_num_threads");
        if (m && mp) move_key(T->root, "mp_start_method", m, "mp_start_method"), note(&T->done, "mp_start_method");
    }
    if (cb) move_key(T->root, "cudnn_benchmark", e, "cudnn_benchmark"), note(&T->done, "cudnn_benchmark");
}

static void resume(tr *T) {
    tgc_cfg *rf = tgc_cfg_get(T->root, "resume_from");
    if (rf && rf->kind == TGC_CFG_STR) {
        tgc_cfg_set(T->root, "load_from", tgc_cfg_clone(rf));
        tgc_cfg_set(T->root, "resume", bool_like(rf, 1));
        tgc_cfg_free(tgc_cfg_take(T->root, "resume_from"));
        note(&T->done, "resume_from");
    }
    tgc_cfg *ar = tgc_cfg_get(T->root, "auto_resume");
    if (ar && ar->kind == TGC_CFG_BOOL) {
        if (ar->b) tgc_cfg_set(T->root, "resume", bool_like(ar, 1));
        tgc_cfg_free(tgc_cfg_take(T->root, "auto_resume"));
        note(&T->done, "auto_resume");
    }
}

/* ---- entry ---------------------------------------------------------------------------------------- */
static int detection(const tgc_cfg *root) {
    const tgc_cfg *m = tgc_cfg_get(root, "model");
    static const char *const det[] = {"RetinaNet", "FasterRCNN", "MaskRCNN", "CascadeRCNN", "FCOS", "YOLOV3",
                                      "SingleStageDetector", "TwoStageDetector", "ATSS", "FSAF"};
    for (size_t i = 0; i < TGC_ARRAY_LEN(det); i++)
        if (type_is(m, det[i])) return 1;
    const tgc_cfg *dt = tgc_cfg_get(root, "dataset_type");
    return dt && dt->kind == TGC_CFG_STR && (strstr(dt->s, "Coco") || strstr(dt->s, "VOC"));
}

/* ---- batch augments ------------------------------------------------------------------------------- */
/* "mmcls.BatchCutMix" -> "BatchCutMix" */
static const char *base_type(const tgc_cfg *m) {
    const tgc_cfg *v = is_map(m) ? tgc_cfg_get(m, "type") : NULL;
    if (!v || v->kind != TGC_CFG_STR) return NULL;
    const char *dot = strrchr(v->s, '.');
    return dot ? dot + 1 : v->s;
}

/* MMClassification 0.x's model.train_cfg.augments (one map or a list of BatchMixup, BatchCutMix and Identity,
 * each applied with its own `prob`, default 1, summing to at most 1, the batch left as it is otherwise) ->
 * MMPretrain 1.x's RandomBatchAugment: Mixup/CutMix with the same arguments less `num_classes` (1.x takes it
 * from the head) and `prob`, which goes into train_cfg.probs; Identity goes (the rest of the probability
 * leaves the batch unchanged in 1.x too). Runs on 1.x configs as well: MMPretrain 1.2 still ships one naming
 * BatchCutMix. Only lists made wholly of these names are translated. 1: translated, 0: nothing to do, -1: error. */
static int batch_augments(tgc_cfg *root, tgc_err *err) {
    tgc_cfg *tc = tgc_cfg_at(root, "model.train_cfg");
    tgc_cfg *aug = is_map(tc) ? tgc_cfg_get(tc, "augments") : NULL;
    if (!is_map(aug) && !is_seq(aug)) return 0;
    int n = is_map(aug) ? 1 : aug->n, real = 0;
    for (int i = 0; i < n; i++) {
        const char *t = base_type(is_map(aug) ? aug : aug->items[i]);
        if (!t || (strcmp(t, "BatchMixup") && strcmp(t, "BatchCutMix") && strcmp(t, "Identity"))) return 0;
        real += strcmp(t, "Identity") != 0;
    }
    if (!real) return 0;
    const tgc_cfg *old_probs = tgc_cfg_get(tc, "probs");
    if (!is_null(old_probs))
        return tgc_cfg_fail(err, old_probs, "probs next to MMClassification 0.x batch augments, which carry their own prob");
    tgc_cfg *list = node_like(aug, TGC_CFG_LIST), *probs = node_like(aug, TGC_CFG_LIST);
    double sum = 0;
    for (int i = 0; i < n; i++) {
        const tgc_cfg *a = is_map(aug) ? aug : aug->items[i];
        const char *t = base_type(a);
        double p;
        if (tgc_cfg_float(a, "prob", 1.0, &p, err)) goto fail;
        if (!(p >= 0 && p <= 1)) {
            tgc_cfg_fail(err, tgc_cfg_get(a, "prob"), "prob must be in [0, 1]");
            goto fail;
        }
        if (!strcmp(t, "Identity")) continue;
        sum += p;
        tgc_cfg *m = node_like(a, TGC_CFG_MAP);
        tgc_cfg_append(m, "type", str_like(a, strcmp(t, "BatchMixup") ? "CutMix" : "Mixup"));
        for (int k = 0; k < a->n; k++)
            if (strcmp(a->keys[k], "type") && strcmp(a->keys[k], "prob") && strcmp(a->keys[k], "num_classes"))
                tgc_cfg_append(m, a->keys[k], tgc_cfg_clone(a->items[k]));
        tgc_cfg_append(list, NULL, m);
        tgc_cfg *pv = node_like(a, TGC_CFG_FLOAT);
        pv->f = p;
        tgc_cfg_append(probs, NULL, pv);
    }
    if (sum > 1 + 1e-9) {
        tgc_cfg_fail(err, aug, "the batch augments' probs sum to %g > 1", sum);
        goto fail;
    }
    tgc_cfg_set(tc, "augments", list);
    tgc_cfg_set(tc, "probs", probs);
    return 1;
fail:
    tgc_cfg_free(list);
    tgc_cfg_free(probs);
    return -1;
}

/* The 2.x keys and the MMEngine key that replaces each: a 2.x key is translated only when its counterpart
 * is absent. MMPretrain 1.x configs keep some 2.x names as plain variables next to the new keys (`optimizer`
 * referenced by optim_wrapper, a stale `data`); those stay as they are, as MMEngine leaves them. */
static const char *const legacy_keys[][2] = {
    {"data", "train_dataloader"},       {"optimizer", "optim_wrapper"},   {"optimizer_config", "optim_wrapper"},
    {"fp16", "optim_wrapper"},          {"lr_config", "param_scheduler"}, {"runner", "train_cfg"},
    {"total_epochs", "train_cfg"},      {"evaluation", "val_evaluator"},  {"checkpoint_config", "default_hooks"},
    {"log_config", "default_hooks"},    {"dist_params", "env_cfg"},       {"resume_from", "resume"},
    {"auto_resume", "resume"},
};
enum { N_LEGACY = sizeof legacy_keys / sizeof legacy_keys[0] };

/* Takes root[key] when it is a 2.x key to translate (flags from before the translation), else NULL. */
static int flagged(const int *flag, const char *key);
static tgc_cfg *take_legacy(tgc_cfg *root, const int *flag, const char *key) {
    return flagged(flag, key) ? tgc_cfg_take(root, key) : NULL;
}

static int flagged(const int *flag, const char *key) {
    for (int i = 0; i < N_LEGACY; i++)
        if (!strcmp(legacy_keys[i][0], key)) return flag[i];
    return 0;
}

int tgc_cfg_translate_legacy(tgc_cfg *root, FILE *log, tgc_err *err) {
    int flag[N_LEGACY], any = 0;
    for (int i = 0; i < N_LEGACY; i++) {
        const tgc_cfg *v = tgc_cfg_get(root, legacy_keys[i][0]);
        /* MMPretrain 1.x itself leaves `resume_from = None` in a few configs: nothing to translate */
        flag[i] = v && !tgc_cfg_get(root, legacy_keys[i][1]) && !(v->kind == TGC_CFG_NULL && !strcmp(legacy_keys[i][0], "resume_from"));
        any |= flag[i];
    }
    int aug = batch_augments(root, err);
    if (aug < 0) return -1;
    if (aug && log)
        fprintf(log, "tgc: %s: MMClassification 0.x keys translated to MMEngine's: model.train_cfg.augments "
                     "(BatchMixup/BatchCutMix -> Mixup/CutMix, their prob -> probs)\n", root->file);
    if (aug) tgc_cfg_set_paths(root);
    if (!any) return 0;
    tr T = {root, err, {0}, {0}, detection(root)};
    int rc = 0;
    tgc_cfg *evaluation = take_legacy(root, flag, "evaluation");
    tgc_cfg *data = take_legacy(root, flag, "data");
    static const char *const pipeline_vars[] = {"train_pipeline", "test_pipeline", "val_pipeline"};
    for (size_t i = 0; data && i < TGC_ARRAY_LEN(pipeline_vars); i++) { /* the variables `data` was built from */
        tgc_cfg *p = tgc_cfg_get(root, pipeline_vars[i]);
        if (is_seq(p)) tgc_cfg_set(root, pipeline_vars[i], pipeline(&T, p));
    }
    if (is_map(data)) {
        data_section(&T, data);
        note(&T.done, "data");
    }
    tgc_cfg *opt = take_legacy(root, flag, "optimizer"), *opt_cfg = take_legacy(root, flag, "optimizer_config");
    tgc_cfg *fp16 = take_legacy(root, flag, "fp16");
    if (opt || opt_cfg || fp16) {
        if (!is_null(opt) || is_map(opt_cfg) || is_map(fp16)) optimizer(&T, opt, opt_cfg, fp16);
        if (opt) note(&T.done, "optimizer");
        if (opt_cfg) note(&T.done, "optimizer_config");
        if (fp16) note(&T.done, "fp16");
    }
    tgc_cfg *lr = take_legacy(root, flag, "lr_config");
    if (is_map(lr)) {
        rc = lr_config(&T, lr);
        note(&T.done, "lr_config");
    }
    if (rc == 0) {
        int runner = flagged(flag, "runner") || flagged(flag, "total_epochs");
        if (runner || evaluation) loops(&T, evaluation);
        if (flagged(flag, "runner")) note(&T.done, "runner");
        if (flagged(flag, "total_epochs")) note(&T.done, "total_epochs");
        if (runner) {
            tgc_cfg_free(tgc_cfg_take(root, "runner"));
            tgc_cfg_free(tgc_cfg_take(root, "total_epochs"));
        }
        if (evaluation) note(&T.done, "evaluation");
        tgc_cfg *ckpt = take_legacy(root, flag, "checkpoint_config"), *logc = take_legacy(root, flag, "log_config");
        hooks(&T, ckpt, logc);
        if (ckpt) note(&T.done, "checkpoint_config");
        if (logc) note(&T.done, "log_config");
        tgc_cfg_free(ckpt);
        tgc_cfg_free(logc);
        if (flagged(flag, "dist_params") || !tgc_cfg_get(root, "env_cfg")) env(&T);
        if (flagged(flag, "resume_from") || flagged(flag, "auto_resume")) resume(&T);
        const tgc_cfg *ch = tgc_cfg_get(root, "custom_hooks");
        for (int i = 0; is_seq(ch) && i < ch->n; i++)
            if (type_is(ch->items[i], "NumClassCheckHook")) note(&T.ignored, "custom_hooks: NumClassCheckHook");
        static const char *const no_meaning[] = {"workflow", "img_norm_cfg", "custom_imports", "gpu_ids", "device"};
        for (size_t i = 0; i < TGC_ARRAY_LEN(no_meaning); i++)
            if (tgc_cfg_get(root, no_meaning[i])) note(&T.ignored, no_meaning[i]);
        if (log) {
            tgc_buf_put(&T.done, "", 1);
            tgc_buf_put(&T.ignored, "", 1);
            fprintf(log, "tgc: %s: %s keys translated to MMEngine's: %s\n", root->file,
                    T.det ? "MMDetection 2.x" : "MMClassification 0.x / MMCV runner", (const char *)T.done.data);
            if (T.ignored.len > 1)
                fprintf(log, "tgc: warning: %s: no meaning for tgc, kept in the config and ignored: %s\n", root->file,
                        (const char *)T.ignored.data);
        }
    }
    tgc_cfg_free(evaluation);
    tgc_cfg_free(data);
    tgc_cfg_free(opt);
    tgc_cfg_free(opt_cfg);
    tgc_cfg_free(fp16);
    tgc_cfg_free(lr);
    tgc_buf_free(&T.done);
    tgc_buf_free(&T.ignored);
    tgc_cfg_set_paths(root);
    return rc;
}
