/* runtime/data/data_files.c - the file datasets' settings, as MMPretrain 1.2 reads them: CustomDataset,
 * ImageNet, ImageNet21k, CUB (paths from data_root, data_prefix, ann_file and split; class names). */
#include "runtime/data/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { CUSTOM, IMAGENET, IMAGENET21K, CUB };

#define MAX_EXT 32

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The number of items mmengine's list_from_file gives for a file: its lines, the last one without '\n' too. */
static int count_lines(const tgc_cfg *at, const char *path, int *n, tgc_err *err) {
    uint8_t *text;
    size_t len;
    if (tgc_read_file(path, (size_t)1 << 28, &text, &len, err)) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        return tgc_cfg_fail(err, at, "the class names file: %s", why);
    }
    int k = 0;
    for (size_t i = 0; i < len; i++) k += text[i] == '\n';
    if (len && text[len - 1] != '\n') k++;
    free(text);
    *n = k;
    return 0;
}

/* Class names: metainfo.classes (which MMPretrain lets override `classes`), else classes; a list of names or a
 * file of one name per line. *n = -1 when neither is given. */
static int read_classes(const tgc_cfg *map, int *n, tgc_err *err) {
    const tgc_cfg *meta = tgc_cfg_get(map, "metainfo"), *c = NULL;
    if (meta && meta->kind != TGC_CFG_NULL) {
        if (meta->kind != TGC_CFG_MAP) return tgc_cfg_fail(err, meta, "metainfo must be a map");
        c = tgc_cfg_get(meta, "classes");
    }
    if (!c || c->kind == TGC_CFG_NULL) c = tgc_cfg_get(map, "classes");
    *n = -1;
    if (!c || c->kind == TGC_CFG_NULL) return 0;
    if (c->kind == TGC_CFG_STR) return count_lines(c, c->s, n, err);
    if (c->kind != TGC_CFG_LIST && c->kind != TGC_CFG_TUPLE)
        return tgc_cfg_fail(err, c, "classes must be a list of names or a file of names, got a %s",
                            tgc_cfg_kind_name(c->kind));
    for (int i = 0; i < c->n; i++)
        if (c->items[i]->kind != TGC_CFG_STR) return tgc_cfg_fail(err, c->items[i], "a class name must be a string");
    if (c->n == 0) return tgc_cfg_fail(err, c, "classes is empty");
    *n = c->n;
    return 0;
}

/* Keys a dataset class of MMPretrain does not take (it raises a TypeError) or takes with a value tgc refuses. */
static int refuse_key(const tgc_cfg *map, const char *key, const char *type, const char *why, tgc_err *err) {
    const tgc_cfg *v = tgc_cfg_get(map, key);
    if (v && v->kind != TGC_CFG_NULL) return tgc_cfg_fail(err, v, "%s %s", type, why);
    return 0;
}

/* The extensions setting: a list of suffixes, lower-cased (MMPretrain: tuple(set(i.lower() ...))). */
static int read_extensions(const tgc_cfg *map, char **ext, int *n, tgc_err *err) {
    const tgc_cfg *e = tgc_cfg_get(map, "extensions");
    *n = -1;
    if (!e || e->kind == TGC_CFG_NULL) return 0;
    if ((e->kind != TGC_CFG_LIST && e->kind != TGC_CFG_TUPLE) || e->n < 1 || e->n > MAX_EXT)
        return tgc_cfg_fail(err, e, "extensions must be a list of 1..%d file suffixes such as '.jpg'", MAX_EXT);
    for (int i = 0; i < e->n; i++) {
        if (e->items[i]->kind != TGC_CFG_STR || !e->items[i]->s[0])
            return tgc_cfg_fail(err, e->items[i], "an extension must be a non-empty string");
    }
    for (int i = 0; i < e->n; i++) ext[i] = tgc_strdup(e->items[i]->s);
    *n = e->n;
    return 0;
}

tgc_dataset *tgc_dataset_open_files(const tgc_cfg *map, const char *type, tgc_pipeline *pipe, tgc_err *err) {
    int kind = !strcmp(type, "ImageNet") ? IMAGENET : !strcmp(type, "ImageNet21k") ? IMAGENET21K
                                                    : !strcmp(type, "CUB")       ? CUB
                                                                                 : CUSTOM;
    const char *root, *ann, *split, *prefix = "";
    int with_label, multi_label, test_mode, nclasses, next = -1;
    char *ext[MAX_EXT + 1] = {0};
    char *dir = NULL, *annp = NULL;
    tgc_sample_list list = {0};
    tgc_dataset *d = NULL;
    if (tgc_cfg_str(map, "data_root", "", &root, err) || tgc_cfg_str(map, "ann_file", "", &ann, err) ||
        tgc_cfg_str(map, "split", "", &split, err) || tgc_cfg_bool(map, "with_label", 1, &with_label, err) ||
        tgc_cfg_bool(map, "multi_label", 0, &multi_label, err) || tgc_cfg_bool(map, "test_mode", 0, &test_mode, err) ||
        read_classes(map, &nclasses, err))
        goto out;
    const tgc_cfg *pc = tgc_cfg_get(map, "data_prefix"), *sn = tgc_cfg_get(map, "split");
    if (pc && pc->kind == TGC_CFG_STR) {
        prefix = pc->s;
    } else if (pc && pc->kind == TGC_CFG_MAP) { /* data_prefix: {img_path: ...} */
        if (tgc_cfg_str(pc, "img_path", "", &prefix, err)) goto out;
    } else if (pc && pc->kind != TGC_CFG_NULL) {
        tgc_cfg_fail(err, pc, "data_prefix must be a string or a map with img_path");
        goto out;
    }
    if (!with_label) {
        tgc_cfg_fail(err, tgc_cfg_get(map, "with_label"), "with_label false (samples without labels) is not "
                     "implemented: training and validation need labels");
        goto out;
    }
    if (kind == CUB) {
        /* MMPretrain's CUB sets ann_file and data_prefix itself and takes neither with_label nor extensions. */
        static const char *const fixed[] = {"ann_file", "data_prefix", "with_label", "extensions", "multi_label"};
        for (size_t i = 0; i < TGC_ARRAY_LEN(fixed); i++)
            if (refuse_key(map, fixed[i], type, "takes no such setting (its files are images.txt, "
                           "image_class_labels.txt and train_test_split.txt under data_root, its images under "
                           "data_root/images)", err))
                goto out;
        if (!*split) split = sn && sn->kind == TGC_CFG_STR ? split : "train";
        if (strcmp(split, "train") && strcmp(split, "test")) {
            tgc_cfg_fail(err, sn, "split must be 'train' or 'test', got '%s'", split);
            goto out;
        }
        if (!*root) {
            tgc_cfg_fail(err, map, "CUB needs data_root (the CUB_200_2011 folder)");
            goto out;
        }
        if (tgc_cub_list(root, !strcmp(split, "test"), nclasses > 0 ? nclasses : 200, &list, err)) goto out;
        if (!strcmp(split, "train") && test_mode)
            tgc_buf_printf(&list.notes, "%s: split 'train' with test_mode true: the training set is used (as "
                           "MMPretrain does)\n", map->path);
        d = tgc_dataset_from_list(&list, nclasses > 0 ? nclasses : 200, 1, pipe);
        pipe = NULL;
        goto out;
    }
    if (kind == CUSTOM && refuse_key(map, "split", type, "takes no split (ImageNet, ImageNet21k and CUB do)", err))
        goto out;
    if (kind != IMAGENET21K && refuse_key(map, "multi_label", type, "takes no multi_label", err)) goto out;
    if (kind == IMAGENET21K && multi_label) {
        tgc_cfg_fail(err, tgc_cfg_get(map, "multi_label"), "ImageNet21k's multi_label is not implemented (MMPretrain "
                     "raises NotImplementedError for it too)");
        goto out;
    }
    if (*split) { /* ImageNet, ImageNet21k: split names the image folder and meta/SPLIT.txt */
        int ok = kind == IMAGENET ? !strcmp(split, "train") || !strcmp(split, "val") || !strcmp(split, "test")
                                  : !strcmp(split, "train");
        if (!ok) {
            tgc_cfg_fail(err, sn, "split must be one of %s, got '%s'%s",
                         kind == IMAGENET ? "'train', 'val', 'test'" : "'train'", split,
                         kind == IMAGENET21K ? " (for a validation set give data_prefix or ann_file without split)" : "");
            goto out;
        }
        if (!strcmp(split, "test")) { /* MMPretrain sets with_label false: ImageNet's test set has no labels */
            tgc_cfg_fail(err, sn, "ImageNet's test split has no labels (MMPretrain loads it with with_label false), "
                         "which training and validation need");
            goto out;
        }
        if (!*prefix && !(pc && pc->kind == TGC_CFG_MAP)) prefix = split; /* MMPretrain: data_prefix == '' */
        if (!*ann) {
            char *meta = tgc_asprintf("meta/%s.txt", split), *full = tgc_path_join(root, meta);
            if (file_exists(full)) annp = full;
            else free(full);
            free(meta);
        }
    }
    if (!annp && *ann) annp = *root && ann[0] != '/' ? tgc_path_join(root, ann) : tgc_strdup(ann);
    /* MMEngine's BaseDataset joins a relative data_prefix to data_root. */
    dir = *root && prefix[0] != '/' ? (*prefix ? tgc_path_join(root, prefix) : tgc_strdup(root)) : tgc_strdup(prefix);
    if (!*dir && !annp) {
        tgc_cfg_fail(err, map, "%s needs data_root, data_prefix (the image folder) or ann_file", type);
        goto out;
    }
    if (read_extensions(map, ext, &next, err)) goto out;
    if (tgc_custom_list(dir, annp, next > 0 ? (const char *const *)ext : NULL, &list, err)) goto out;
    if (kind == IMAGENET && nclasses < 0) nclasses = 1000; /* its METAINFO: the 1000 ImageNet-1k categories */
    if (!annp && nclasses > 0 && nclasses != list.num_classes) {
        const tgc_cfg *at = tgc_cfg_get(map, "metainfo") ? tgc_cfg_get(map, "metainfo") : tgc_cfg_get(map, "classes");
        tgc_cfg_fail(err, at ? at : map, "%s has %d class subfolders but the dataset has %d class names%s (MMPretrain "
                     "refuses this too)", dir, list.num_classes, nclasses,
                     at ? "" : " (ImageNet's 1000; set metainfo.classes to the names of a subset, or give an ann_file)");
        goto out;
    }
    int named = nclasses > 0 || !annp; /* a folder scan names the classes after the folders */
    d = tgc_dataset_from_list(&list, nclasses > 0 ? nclasses : list.num_classes, named, pipe);
    pipe = NULL;
out:
    tgc_sample_list_free(&list);
    for (int i = 0; i < MAX_EXT; i++) free(ext[i]);
    free(dir);
    free(annp);
    tgc_pipeline_free(pipe);
    return d;
}
