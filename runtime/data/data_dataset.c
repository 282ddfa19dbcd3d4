/* runtime/data/data_dataset.c - datasets opened from config: MNIST/FashionMNIST and CIFAR10/100 (data_cifar.c)
 * in memory, lists of image files (CustomDataset, ImageNet, ImageNet21k, CUB: data_files.c) on disk. */
#include "runtime/data/data.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct tgc_dataset {
    char *name;       /* the IDX image file (memory datasets), for messages */
    int count, num_classes;
    int32_t *labels;
    uint8_t *pixels;  /* memory datasets: count x h x w x c pixels */
    int h, w, c;
    char **paths;     /* file datasets: one image per sample */
    int32_t *lines;   /* the line of list_file that listed each sample (NULL: none) */
    char *list_file;
    char *notes;      /* warnings found while opening ("" when none) */
    int has_names;    /* the class count comes from class names */
    tgc_pipeline *pipeline;
};

tgc_dataset *tgc_dataset_new_memory(const char *name, int count, int h, int w, uint8_t *pixels, int32_t *labels,
                                    int num_classes, tgc_pipeline *pipeline) {
    return tgc_dataset_new_memory_hwc(name, count, h, w, 1, pixels, labels, num_classes, pipeline);
}

tgc_dataset *tgc_dataset_new_memory_hwc(const char *name, int count, int h, int w, int c, uint8_t *pixels,
                                        int32_t *labels, int num_classes, tgc_pipeline *pipeline) {
    tgc_dataset *d = tgc_calloc(1, sizeof *d);
    d->name = tgc_strdup(name);
    d->count = count;
    d->h = h;
    d->w = w;
    d->c = c;
    d->pixels = pixels;
    d->labels = labels;
    d->num_classes = num_classes;
    d->pipeline = pipeline;
    return d;
}

tgc_dataset *tgc_dataset_new_files(int count, char **paths, int32_t *labels, int num_classes, tgc_pipeline *pipeline) {
    tgc_dataset *d = tgc_calloc(1, sizeof *d);
    d->count = count;
    d->paths = paths;
    d->labels = labels;
    d->num_classes = num_classes;
    d->pipeline = pipeline;
    return d;
}

tgc_dataset *tgc_dataset_from_list(tgc_sample_list *l, int num_classes, int has_names, tgc_pipeline *pipeline) {
    tgc_dataset *d = tgc_dataset_new_files(l->count, l->paths, l->labels, num_classes, pipeline);
    d->lines = l->lines;
    d->list_file = l->list_file;
    d->has_names = has_names;
    if (l->notes.len) {
        d->notes = tgc_asprintf("%.*s", (int)l->notes.len, (const char *)l->notes.data);
        tgc_buf_free(&l->notes);
    }
    memset(l, 0, sizeof *l);
    return d;
}

void tgc_dataset_free(tgc_dataset *d) {
    if (!d) return;
    free(d->lines);
    free(d->list_file);
    free(d->notes);
    if (d->paths)
        for (int i = 0; i < d->count; i++) free(d->paths[i]);
    free(d->paths);
    free(d->pixels);
    free(d->labels);
    free(d->name);
    tgc_pipeline_free(d->pipeline);
    free(d);
}

int tgc_dataset_len(const tgc_dataset *d) { return d->count; }
int tgc_dataset_num_classes(const tgc_dataset *d) { return d->num_classes; }
int tgc_dataset_has_class_names(const tgc_dataset *d) { return d->has_names; }
const char *tgc_dataset_path(const tgc_dataset *d, int i) { return d->paths ? d->paths[i] : NULL; }
const char *tgc_dataset_notes(const tgc_dataset *d) { return d->notes ? d->notes : ""; }
int tgc_dataset_label(const tgc_dataset *d, int i) { return d->labels[i]; }

void tgc_dataset_sample_name(const tgc_dataset *d, int i, char *buf, size_t size) {
    if (d->paths && d->lines) snprintf(buf, size, "%s (listed at %s:%d)", d->paths[i], d->list_file, (int)d->lines[i]);
    else if (d->paths) snprintf(buf, size, "%s", d->paths[i]);
    else snprintf(buf, size, "%s[%d]", d->name ? d->name : "memory", i);
}

int tgc_dataset_get(const tgc_dataset *d, int i, tgc_image *img, tgc_image *scratch, tgc_rng *rng, int32_t *label,
                    tgc_err *err) {
    if (i < 0 || i >= d->count) return tgc_fail(err, "dataset: sample %d out of range (%d samples)", i, d->count);
    if (d->paths) {
        if (tgc_image_load(d->paths[i], tgc_pipeline_channels(d->pipeline), img, err)) { /* (the message names the file) */
            if (d->lines) return tgc_err_prefix(err, "sample %d of %d (listed at %s:%d)", i, d->count, d->list_file, (int)d->lines[i]);
            return tgc_err_prefix(err, "sample %d of %d", i, d->count);
        }
    } else {
        size_t n = (size_t)d->h * d->w * d->c;
        tgc_image_reserve(img, d->h, d->w, d->c);
        memcpy(img->data, d->pixels + (size_t)i * n, n);
    }
    if (tgc_pipeline_apply(d->pipeline, img, scratch, rng, err)) {
        char name[512];
        tgc_dataset_sample_name(d, i, name, sizeof name);
        return tgc_err_prefix(err, "sample %d of %d: %s", i, d->count, name);
    }
    *label = d->labels[i];
    return 0;
}

/* ---- opening from config -------------------------------------------------------------------------- */

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* "dir/name" if it exists, else "dir/name.gz" if that exists, else NULL with an error naming both. */
static char *find_idx(const tgc_cfg *map, const char *dir, const char *name, tgc_err *err) {
    char *plain = tgc_asprintf("%s%s%s", dir, *dir ? "/" : "", name);
    if (file_exists(plain)) return plain;
    char *gz = tgc_asprintf("%s.gz", plain);
    if (file_exists(gz)) {
        free(plain);
        return gz;
    }
    tgc_cfg_fail(err, map, "neither %s nor %s exists", plain, gz);
    free(plain);
    free(gz);
    return NULL;
}

static tgc_dataset *open_mnist(const tgc_cfg *map, tgc_pipeline *pipe, tgc_err *err) {
    const char *root, *prefix, *split;
    int test_mode;
    if (tgc_cfg_str(map, "data_root", "", &root, err) || tgc_cfg_bool(map, "test_mode", 0, &test_mode, err) ||
        tgc_cfg_str(map, "split", NULL, &split, err))
        goto fail;
    const tgc_cfg *pc = tgc_cfg_get(map, "data_prefix");
    prefix = pc && pc->kind == TGC_CFG_STR ? pc->s : "";
    if (!*root) root = prefix; /* data_prefix is MMPretrain's older spelling of data_root */
    if (!*root) {
        tgc_cfg_fail(err, map, "MNIST-style datasets need data_root (the folder holding the IDX files)");
        goto fail;
    }
    if (split) {
        if (strcmp(split, "train") && strcmp(split, "test")) {
            tgc_cfg_fail(err, tgc_cfg_get(map, "split"), "split must be 'train' or 'test', got '%s'", split);
            goto fail;
        }
        test_mode = !strcmp(split, "test");
    }
    const char *stem = test_mode ? "t10k" : "train";
    char img_name[64], lab_name[64];
    snprintf(img_name, sizeof img_name, "%s-images-idx3-ubyte", stem);
    snprintf(lab_name, sizeof lab_name, "%s-labels-idx1-ubyte", stem);
    /* Errors about missing files point at the key that named the folder. */
    const tgc_cfg *rn = tgc_cfg_get(map, "data_root");
    const tgc_cfg *at = (rn && rn->kind == TGC_CFG_STR && *rn->s) ? rn : tgc_cfg_get(map, "data_prefix");
    if (!at) at = map;
    char *img_path = find_idx(at, root, img_name, err);
    if (!img_path) goto fail;
    char *lab_path = find_idx(at, root, lab_name, err);
    if (!lab_path) {
        free(img_path);
        goto fail;
    }
    int n_img, rows, cols, n_lab;
    uint8_t *pixels = NULL;
    int32_t *labels = NULL;
    if (tgc_idx_read_images(img_path, &n_img, &rows, &cols, &pixels, err) ||
        tgc_idx_read_labels(lab_path, 10, &n_lab, &labels, err))
        goto fail_files;
    if (n_img != n_lab) {
        tgc_fail(err, "%s has %d images but %s has %d labels", img_path, n_img, lab_path, n_lab);
        goto fail_files;
    }
    if (n_img == 0) {
        tgc_fail(err, "%s: no images", img_path);
        goto fail_files;
    }
    tgc_dataset *d = tgc_dataset_new_memory(img_path, n_img, rows, cols, pixels, labels, 10, pipe);
    free(img_path);
    free(lab_path);
    return d;
fail_files:
    free(pixels);
    free(labels);
    free(img_path);
    free(lab_path);
fail:
    tgc_pipeline_free(pipe);
    return NULL;
}

int tgc_cfg_indices(const tgc_cfg *ix, int count, const char *unit, int **keep, int *n, tgc_err *err) {
    *keep = NULL;
    *n = 0;
    if (!ix || ix->kind == TGC_CFG_NULL) return 0;
    int *k;
    int m;
    if (ix->kind == TGC_CFG_INT) {
        int64_t v = ix->i;
        if (v > count) v = count;
        if (v < -(int64_t)count) v = -(int64_t)count;
        m = (int)(v < 0 ? -v : v);
        k = tgc_malloc(sizeof(int) * (size_t)(m ? m : 1));
        for (int i = 0; i < m; i++) k[i] = v < 0 ? count - m + i : i;
    } else if (ix->kind == TGC_CFG_LIST || ix->kind == TGC_CFG_TUPLE) {
        m = ix->n;
        k = tgc_malloc(sizeof(int) * (size_t)(m ? m : 1));
        for (int i = 0; i < m; i++) {
            const tgc_cfg *e = ix->items[i];
            if (e->kind != TGC_CFG_INT || e->i < 0 || e->i >= count) {
                free(k);
                return tgc_cfg_fail(err, e, "indices must be integers in 0..%d (the dataset has %d %s)", count - 1,
                                    count, unit);
            }
            k[i] = (int)e->i;
        }
    } else {
        return tgc_cfg_fail(err, ix, "indices must be an integer or a list of integers, got a %s",
                            tgc_cfg_kind_name(ix->kind));
    }
    if (m == 0) {
        free(k);
        return tgc_cfg_fail(err, ix, "indices selects no %s", unit);
    }
    *keep = k;
    *n = m;
    return 0;
}

/* `indices`, applied after the dataset is read, before any pipeline runs. */
static int apply_indices(tgc_dataset *d, const tgc_cfg *map, tgc_err *err) {
    int n, *keep;
    if (tgc_cfg_indices(tgc_cfg_get(map, "indices"), d->count, "samples", &keep, &n, err)) return -1;
    if (!keep) return 0;
    int32_t *labels = tgc_malloc(sizeof(int32_t) * (size_t)n);
    for (int i = 0; i < n; i++) labels[i] = d->labels[keep[i]];
    if (d->lines) {
        int32_t *lines = tgc_malloc(sizeof(int32_t) * (size_t)n);
        for (int i = 0; i < n; i++) lines[i] = d->lines[keep[i]];
        free(d->lines);
        d->lines = lines;
    }
    if (d->paths) {
        char **paths = tgc_malloc(sizeof(char *) * (size_t)n);
        for (int i = 0; i < n; i++) paths[i] = tgc_strdup(d->paths[keep[i]]);
        for (int i = 0; i < d->count; i++) free(d->paths[i]);
        free(d->paths);
        d->paths = paths;
    } else {
        size_t img = (size_t)d->h * d->w * d->c;
        uint8_t *px = tgc_malloc(img * (size_t)n);
        for (int i = 0; i < n; i++) memcpy(px + img * i, d->pixels + img * (size_t)keep[i], img);
        free(d->pixels);
        d->pixels = px;
    }
    free(d->labels);
    d->labels = labels;
    d->count = n;
    free(keep);
    return 0;
}

tgc_dataset *tgc_dataset_open(const tgc_cfg *map, tgc_err *err) {
    if (!map || map->kind != TGC_CFG_MAP) {
        if (map) tgc_cfg_fail(err, map, "a dataset must be a map, got a %s", tgc_cfg_kind_name(map->kind));
        else tgc_fail(err, "no dataset given");
        return NULL;
    }
    const char *type;
    if (tgc_cfg_str(map, "type", NULL, &type, err)) return NULL;
    if (!type) {
        tgc_cfg_fail(err, map, "dataset has no 'type'");
        return NULL;
    }
    const char *dot = strrchr(type, '.');
    const char *name = dot ? dot + 1 : type;
    int mnist = !strcmp(name, "MNIST") || !strcmp(name, "FashionMNIST");
    int cifar = !strcmp(name, "CIFAR10") || !strcmp(name, "CIFAR100");
    if (!mnist && !cifar && strcmp(name, "CustomDataset") && strcmp(name, "ImageNet") && strcmp(name, "ImageNet21k") &&
        strcmp(name, "CUB")) {
        tgc_cfg_fail(err, tgc_cfg_get(map, "type"), "unsupported dataset type '%s' (supported: MNIST, FashionMNIST, "
                     "CIFAR10, CIFAR100, CustomDataset, ImageNet, ImageNet21k, CUB)", type);
        return NULL;
    }
    tgc_pipeline *pipe = tgc_pipeline_new(tgc_cfg_get(map, "pipeline"), err);
    if (!pipe) return NULL;
    tgc_dataset *d = mnist   ? open_mnist(map, pipe, err)
                     : cifar ? tgc_dataset_open_cifar(map, !strcmp(name, "CIFAR100"), pipe, err)
                             : tgc_dataset_open_files(map, name, pipe, err);
    if (d && apply_indices(d, map, err) < 0) {
        tgc_dataset_free(d);
        return NULL;
    }
    return d;
}
