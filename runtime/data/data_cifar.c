/* runtime/data/data_cifar.c - CIFAR-10 / CIFAR-100, the python-version pickles, read into memory. */
#include "runtime/data/data.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/io/pickle.h"

#define CIFAR_MAX_FILE ((size_t)1 << 30) /* a real batch is 31 MB, CIFAR-100's train 155 MB */
#define CIFAR_ROW 3072                   /* 3 x 32 x 32 */

static const tgc_pk *need(const tgc_pk *root, const char *key, tgc_pk_kind kind, const char *path, tgc_err *err) {
    const tgc_pk *v = tgc_pk_dict_get(root, key);
    if (!v) tgc_fail(err, "%s: no '%s' in the pickled dict", path, key);
    else if (v->kind != kind) tgc_fail(err, "%s: '%s' is a %s", path, key, tgc_pk_describe(v));
    return v && v->kind == kind ? v : NULL;
}

int tgc_cifar_read_batch(const uint8_t *data, size_t len, const char *path, const char *label_key, int num_classes,
                         uint8_t **pixels, int32_t **labels, int *count, tgc_err *err) {
    tgc_pickle *p = tgc_pickle_read(data, len, path, err);
    if (!p) return -1;
    int rc = -1;
    const tgc_pk *root = tgc_pickle_root(p);
    if (root->kind != TGC_PK_DICT) {
        tgc_fail(err, "%s: the pickle holds a %s, not a dict", path, tgc_pk_describe(root));
        goto out;
    }
    const tgc_pk *a = need(root, "data", TGC_PK_NDARRAY, path, err);
    const tgc_pk *l = a ? need(root, label_key, TGC_PK_LIST, path, err) : NULL;
    if (!l) goto out;
    if (!a->storage || strcmp(a->s, "u1") || a->rank != 2 || a->size[1] != CIFAR_ROW) {
        tgc_fail(err, "%s: 'data' is not a uint8 array of shape [N, 3072]", path);
        goto out;
    }
    int64_t n = a->size[0];
    if (n != l->n) {
        tgc_fail(err, "%s: 'data' has %lld rows but '%s' has %d labels", path, (long long)n, label_key, l->n);
        goto out;
    }
    if ((int64_t)*count + n > (1 << 24)) {
        tgc_fail(err, "%s: more than 16777216 images in all (refused)", path);
        goto out;
    }
    for (int i = 0; i < l->n; i++)
        if (l->items[i]->kind != TGC_PK_INT || l->items[i]->i < 0 || l->items[i]->i >= num_classes) {
            tgc_fail(err, "%s: '%s'[%d] is not an integer in 0..%d", path, label_key, i, num_classes - 1);
            goto out;
        }
    size_t old = (size_t)*count, total = old + (size_t)n;
    *pixels = tgc_realloc(*pixels, total * CIFAR_ROW + 1);
    *labels = tgc_realloc(*labels, sizeof(int32_t) * (total + 1));
    const uint8_t *src = (const uint8_t *)a->storage->s;
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *row = src + (size_t)i * CIFAR_ROW; /* R plane, G plane, B plane */
        uint8_t *dst = *pixels + (old + (size_t)i) * CIFAR_ROW;
        for (int px = 0; px < 1024; px++)
            for (int c = 0; c < 3; c++) dst[px * 3 + c] = row[c * 1024 + px];
        (*labels)[old + (size_t)i] = (int32_t)l->items[i]->i;
    }
    *count = (int)total;
    rc = 0;
out:
    tgc_pickle_free(p);
    return rc;
}

int tgc_cifar_read_meta(const uint8_t *data, size_t len, const char *path, const char *key, int *n_names, tgc_err *err) {
    *n_names = 0;
    tgc_pickle *p = tgc_pickle_read(data, len, path, err);
    if (!p) return -1;
    const tgc_pk *l = need(tgc_pickle_root(p), key, TGC_PK_LIST, path, err);
    int rc = -1;
    if (l) {
        rc = 0;
        for (int i = 0; i < l->n && !rc; i++)
            if (l->items[i]->kind != TGC_PK_STR && l->items[i]->kind != TGC_PK_BYTES)
                rc = tgc_fail(err, "%s: '%s'[%d] is not a string", path, key, i);
        if (!rc) *n_names = l->n;
    }
    tgc_pickle_free(p);
    return rc;
}

static int missing(const tgc_cfg *at, const char *path, const char *root, int cifar100, tgc_err *err) {
    return tgc_cfg_fail(err, at, "%s does not exist: extract %s from https://www.cs.toronto.edu/~kriz/cifar.html "
                        "into %s (MMPretrain downloads it there; tgc does not download)", path,
                        cifar100 ? "cifar-100-python.tar.gz" : "cifar-10-python.tar.gz", root);
}

static int read_one(const tgc_cfg *at, const char *root, const char *dir, const char *name, int cifar100,
                    uint8_t **buf, size_t *len, char **path_out, tgc_err *err) {
    size_t rl = strlen(root);
    while (rl > 1 && root[rl - 1] == '/') rl--; /* data/cifar10/ as the recipes spell it */
    char *path = tgc_asprintf("%.*s/%s/%s", (int)rl, root, dir, name);
    struct stat st;
    if (stat(path, &st) != 0) {
        missing(at, path, root, cifar100, err);
        free(path);
        return -1;
    }
    if (tgc_read_file(path, CIFAR_MAX_FILE, buf, len, err)) {
        free(path);
        return -1;
    }
    *path_out = path;
    return 0;
}

tgc_dataset *tgc_dataset_open_cifar(const tgc_cfg *map, int cifar100, tgc_pipeline *pipe, tgc_err *err) {
    const char *root, *split;
    int test_mode;
    uint8_t *pixels = NULL, *buf = NULL;
    int32_t *labels = NULL;
    char *path = NULL;
    size_t len;
    int count = 0, classes = cifar100 ? 100 : 10;
    if (tgc_cfg_str(map, "data_root", "", &root, err) || tgc_cfg_bool(map, "test_mode", 0, &test_mode, err) ||
        tgc_cfg_str(map, "split", "train", &split, err))
        goto fail;
    const tgc_cfg *pc = tgc_cfg_get(map, "data_prefix");
    if (!*root && pc && pc->kind == TGC_CFG_STR) root = pc->s;
    if (!*root) {
        tgc_cfg_fail(err, map, "CIFAR datasets need data_root (the folder holding %s)",
                     cifar100 ? "cifar-100-python" : "cifar-10-batches-py");
        goto fail;
    }
    if (strcmp(split, "train") && strcmp(split, "test")) {
        tgc_cfg_fail(err, tgc_cfg_get(map, "split"), "split must be 'train' or 'test', got '%s'", split);
        goto fail;
    }
    const tgc_cfg *at = tgc_cfg_get(map, "data_root");
    if (!at || at->kind != TGC_CFG_STR || !*at->s) at = pc ? pc : map;
    int test = !strcmp(split, "test");
    const char *dir = cifar100 ? "cifar-100-python" : "cifar-10-batches-py";
    static const char *const train10[] = {"data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                                          "data_batch_5"};
    const char *one = cifar100 ? (test ? "test" : "train") : "test_batch";
    int n_files = (!cifar100 && !test) ? 5 : 1;
    for (int f = 0; f < n_files; f++) {
        const char *name = (!cifar100 && !test) ? train10[f] : one;
        if (read_one(at, root, dir, name, cifar100, &buf, &len, &path, err) ||
            tgc_cifar_read_batch(buf, len, path, cifar100 ? "fine_labels" : "labels", classes, &pixels, &labels,
                                 &count, err))
            goto fail;
        free(buf);
        free(path);
        buf = NULL;
        path = NULL;
    }
    if (!count) {
        tgc_fail(err, "%s/%s: no images", root, dir);
        goto fail;
    }
    /* The meta file, when there, must agree on the class count. */
    char *meta = tgc_asprintf("%s/%s/%s", root, dir, cifar100 ? "meta" : "batches.meta");
    struct stat st;
    int present = stat(meta, &st) == 0;
    free(meta);
    if (present) {
        int n_names;
        if (read_one(at, root, dir, cifar100 ? "meta" : "batches.meta", cifar100, &buf, &len, &path, err) ||
            tgc_cifar_read_meta(buf, len, path, cifar100 ? "fine_label_names" : "label_names", &n_names, err))
            goto fail;
        if (n_names != classes) {
            tgc_fail(err, "%s: %d class names, expected %d", path, n_names, classes);
            goto fail;
        }
        free(buf);
        free(path);
        buf = NULL;
        path = NULL;
    }
    char *name = tgc_asprintf("%s/%s/%s", root, dir, test ? one : (cifar100 ? "train" : "data_batch_*"));
    tgc_dataset *d = tgc_dataset_new_memory_hwc(name, count, 32, 32, 3, pixels, labels, classes, pipe);
    free(name);
    return d;
fail:
    free(buf);
    free(path);
    free(pixels);
    free(labels);
    tgc_pipeline_free(pipe);
    return NULL;
}
