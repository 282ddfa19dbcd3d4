/* runtime/data/data_coco.c - CocoDataset: a COCO annotation file (cJSON) read with MMDetection 3.x's rules. */
#include "runtime/data/det_data.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct tgc_det_dataset {
    int count;
    tgc_det_image *images;
    int num_classes;
    char **class_names;
    int64_t *cat_ids;
    tgc_det_pipeline *pipeline;
    char *notes;
};

/* ---- JSON access with messages naming the file and the element ------------------------------------ */

typedef struct jctx {
    const char *file;
    tgc_err *err;
    char where[96]; /* "annotations[4] (id 17)" */
} jctx;

static const char *jtype(const cJSON *j) {
    if (!j) return "nothing";
    if (cJSON_IsNumber(j)) return "a number";
    if (cJSON_IsString(j)) return "a string";
    if (cJSON_IsBool(j)) return "a boolean";
    if (cJSON_IsNull(j)) return "null";
    if (cJSON_IsArray(j)) return "an array";
    if (cJSON_IsObject(j)) return "an object";
    return "an invalid value";
}

static int jfail(jctx *c, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int jfail(jctx *c, const char *key, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (key && !c->where[0]) return tgc_fail(c->err, "%s: '%s' %s", c->file, key, msg);
    if (key) return tgc_fail(c->err, "%s: %s: '%s' %s", c->file, c->where, key, msg);
    return tgc_fail(c->err, "%s: %s: %s", c->file, c->where, msg);
}

/* An integer-valued number (ids, sizes): within +-2^53 so that a double holds it exactly. */
static int jint(jctx *c, const cJSON *obj, const char *key, int required, int64_t def, int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) {
        if (required) return jfail(c, key, "is missing");
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(v)) return jfail(c, key, "must be an integer, got %s", jtype(v));
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || fabs(d) > 9007199254740992.0)
        return jfail(c, key, "must be an integer, got %g", d);
    *out = (int64_t)d;
    return 0;
}

static int jnum(jctx *c, const cJSON *obj, const char *key, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return jfail(c, key, "is missing");
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return jfail(c, key, "must be a finite number, got %s", jtype(v));
    *out = v->valuedouble;
    return 0;
}

/* A flag: absent = false; a boolean or a number (0 = false). */
static int jflag(jctx *c, const cJSON *obj, const char *key, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = 0;
    if (!v || cJSON_IsNull(v)) return 0;
    if (cJSON_IsBool(v)) *out = cJSON_IsTrue(v);
    else if (cJSON_IsNumber(v)) *out = v->valuedouble != 0;
    else return jfail(c, key, "must be a boolean or a number, got %s", jtype(v));
    return 0;
}

/* A top-level array. */
static const cJSON *jarray(jctx *c, const cJSON *obj, const char *key, int required) {
    c->where[0] = 0;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v && !required) return NULL;
    if (!v) return jfail(c, key, "is missing"), NULL;
    if (!cJSON_IsArray(v)) return jfail(c, key, "must be an array, got %s", jtype(v)), NULL;
    return v;
}

/* ---- id lookup: sorted (id, index) pairs -------------------------------------------------------------- */

typedef struct idpair {
    int64_t id;
    int idx;
} idpair;

static int cmp_idpair(const void *a, const void *b) {
    int64_t x = ((const idpair *)a)->id, y = ((const idpair *)b)->id;
    return x < y ? -1 : x > y;
}

/* The position of id in the sorted pairs, or -1. */
static int find_pos(const idpair *p, int n, int64_t id) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (p[mid].id == id) return mid;
        if (p[mid].id < id) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

/* ---- notes: what was skipped, per reason, with the first few annotation ids -------------------------------- */

enum { SKIP_IGNORE, SKIP_OUTSIDE, SKIP_AREA, SKIP_SMALL, SKIP_N };
static const char *const skip_reason[SKIP_N] = {"'ignore' set", "no overlap with their image", "area <= 0",
                                                "w < 1 or h < 1"};
typedef struct skips {
    int n[SKIP_N];
    int64_t first[SKIP_N][5];
} skips;

static void skip(skips *s, int why, int64_t id) {
    if (s->n[why] < 5) s->first[why][s->n[why]] = id;
    s->n[why]++;
}

/* ---- the dataset ----------------------------------------------------------------------------------------- */

static void free_image(tgc_det_image *im) {
    free(im->path);
    free(im->gt);
    free(im->labels);
    free(im->ignore);
}

void tgc_det_dataset_free(tgc_det_dataset *d) {
    if (!d) return;
    for (int i = 0; i < d->count; i++) free_image(&d->images[i]);
    free(d->images);
    for (int i = 0; i < d->num_classes; i++) free(d->class_names[i]);
    free(d->class_names);
    free(d->cat_ids);
    tgc_det_pipeline_free(d->pipeline);
    free(d->notes);
    free(d);
}

int tgc_det_dataset_len(const tgc_det_dataset *d) { return d->count; }
int tgc_det_dataset_num_classes(const tgc_det_dataset *d) { return d->num_classes; }
const char *tgc_det_class_name(const tgc_det_dataset *d, int label) { return d->class_names[label]; }
int64_t tgc_det_cat_id(const tgc_det_dataset *d, int label) { return d->cat_ids[label]; }
const tgc_det_image *tgc_det_dataset_image(const tgc_det_dataset *d, int i) { return &d->images[i]; }
const char *tgc_det_dataset_notes(const tgc_det_dataset *d) { return d->notes ? d->notes : ""; }

void tgc_det_dataset_set_pipeline(tgc_det_dataset *d, tgc_det_pipeline *p) {
    tgc_det_pipeline_free(d->pipeline);
    d->pipeline = p;
}

/* Where a parse error is: line and column of byte `pos`. */
static void line_col(const char *s, size_t pos, int *line, int *col) {
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < pos; i++) {
        if (s[i] == '\n') ++*line, *col = 1;
        else ++*col;
    }
}

static char *join_path(const char *dir, const char *name) {
    if (!*dir || name[0] == '/') return tgc_strdup(name);
    size_t n = strlen(dir);
    return tgc_asprintf("%s%s%s", dir, dir[n - 1] == '/' ? "" : "/", name);
}

/* The categories: all, or those named in o->classes (each must exist). Fills d's class tables and cats
 * (sorted (category id, label or -1) pairs). */
static int read_categories(jctx *c, const cJSON *root, const tgc_coco_opts *o, tgc_det_dataset *d, idpair **cats_out,
                           int *ncat_out, tgc_buf *notes) {
    const cJSON *arr = jarray(c, root, "categories", 1);
    if (!arr) return -1;
    int n = cJSON_GetArraySize(arr), k = 0;
    idpair *cats = tgc_calloc((size_t)n + 1, sizeof *cats);
    d->class_names = tgc_calloc((size_t)n + 1, sizeof *d->class_names);
    d->cat_ids = tgc_calloc((size_t)n + 1, sizeof *d->cat_ids);
    int *used = tgc_calloc((size_t)o->n_classes + 1, sizeof *used);
    int in_order = 1, last = -1;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        snprintf(c->where, sizeof c->where, "categories[%d]", k);
        int64_t id;
        if (!cJSON_IsObject(e)) {
            jfail(c, NULL, "must be an object, got %s", jtype(e));
            goto fail;
        }
        if (jint(c, e, "id", 1, 0, &id)) goto fail;
        snprintf(c->where, sizeof c->where, "categories[%d] (id %lld)", k, (long long)id);
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");
        if (!cJSON_IsString(nm)) {
            jfail(c, "name", nm ? "must be a string, got %s" : "is missing%.0s", jtype(nm));
            goto fail;
        }
        int sel = o->classes ? -1 : 0;
        for (int i = 0; o->classes && i < o->n_classes; i++)
            if (!strcmp(o->classes[i], nm->valuestring)) {
                sel = i;
                used[i] = 1;
                break;
            }
        cats[k].id = id;
        cats[k].idx = -1;
        if (sel >= 0) {
            if (o->classes && sel < last) in_order = 0;
            last = sel;
            cats[k].idx = d->num_classes;
            d->class_names[d->num_classes] = tgc_strdup(nm->valuestring);
            d->cat_ids[d->num_classes++] = id;
        }
        k++;
    }
    for (int i = 0; o->classes && i < o->n_classes; i++)
        if (!used[i]) {
            tgc_fail(c->err, "%s: class '%s' (metainfo.classes) is not the name of a category of the file", c->file,
                     o->classes[i]);
            goto fail;
        }
    if (!in_order)
        tgc_buf_printf(notes, "%s: metainfo.classes lists the classes in another order than the file's categories; "
                       "labels follow the file's order, as MMDetection's cat2label does\n", c->file);
    qsort(cats, (size_t)n, sizeof *cats, cmp_idpair);
    for (int i = 1; i < n; i++)
        if (cats[i].id == cats[i - 1].id) {
            tgc_fail(c->err, "%s: categories: id %lld appears twice", c->file, (long long)cats[i].id);
            goto fail;
        }
    if (d->num_classes == 0) {
        tgc_fail(c->err, "%s: categories: no category selected", c->file);
        goto fail;
    }
    free(used);
    *cats_out = cats;
    *ncat_out = n;
    return 0;
fail:
    free(used);
    free(cats);
    return -1;
}

static int read_images(jctx *c, const cJSON *root, const char *img_dir, tgc_det_dataset *d, idpair **ids_out) {
    const cJSON *arr = jarray(c, root, "images", 1);
    if (!arr) return -1;
    int n = cJSON_GetArraySize(arr), k = 0;
    d->images = tgc_calloc((size_t)n + 1, sizeof *d->images);
    idpair *ids = tgc_calloc((size_t)n + 1, sizeof *ids);
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        tgc_det_image *im = &d->images[k];
        int64_t w, h;
        snprintf(c->where, sizeof c->where, "images[%d]", k);
        if (!cJSON_IsObject(e)) {
            jfail(c, NULL, "must be an object, got %s", jtype(e));
            goto fail;
        }
        if (jint(c, e, "id", 1, 0, &im->id)) goto fail;
        snprintf(c->where, sizeof c->where, "images[%d] (id %lld)", k, (long long)im->id);
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(e, "file_name");
        if (!cJSON_IsString(fn) || !*fn->valuestring) {
            jfail(c, "file_name", fn ? "must be a non-empty string, got %s" : "is missing%.0s", jtype(fn));
            goto fail;
        }
        if (jint(c, e, "width", 1, 0, &w) || jint(c, e, "height", 1, 0, &h)) goto fail;
        if (w < 1 || h < 1 || w > 65536 || h > 65536) {
            jfail(c, NULL, "width x height %lld x %lld is outside 1..65536", (long long)w, (long long)h);
            goto fail;
        }
        im->width = (int)w;
        im->height = (int)h;
        im->path = join_path(img_dir, fn->valuestring);
        ids[k].id = im->id;
        ids[k].idx = k;
        d->count = ++k;
    }
    qsort(ids, (size_t)n, sizeof *ids, cmp_idpair);
    for (int i = 1; i < n; i++)
        if (ids[i].id == ids[i - 1].id) {
            tgc_fail(c->err, "%s: images: id %lld appears twice", c->file, (long long)ids[i].id);
            goto fail;
        }
    *ids_out = ids;
    return 0;
fail:
    free(ids);
    return -1;
}

static void push_box(float **arr, int *n, int *cap, const double b[4]) {
    TGC_GROW(*arr, *cap, 4 * (*n + 1));
    for (int i = 0; i < 4; i++) (*arr)[4 * *n + i] = (float)b[i];
    ++*n;
}

/* Reads the annotations into d's images; has_ann[i] = image i has an annotation of a selected category (the
 * filter_empty_gt rule, counting every such annotation as pycocotools' catToImgs does). */
static int read_annotations(jctx *c, const cJSON *root, int test_mode, tgc_det_dataset *d, const idpair *ids,
                            const idpair *cats, int ncat, char *has_ann, skips *sk) {
    const cJSON *arr = jarray(c, root, "annotations", !test_mode);
    if (!arr) return test_mode && !cJSON_GetObjectItemCaseSensitive(root, "annotations") ? 0 : -1;
    int *cap_gt = tgc_calloc((size_t)d->count + 1, sizeof(int)), *cap_lab = tgc_calloc((size_t)d->count + 1, sizeof(int));
    int *cap_ig = tgc_calloc((size_t)d->count + 1, sizeof(int));
    int k = 0, rc = -1;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        int64_t id, image_id, cat;
        snprintf(c->where, sizeof c->where, "annotations[%d]", k);
        if (!cJSON_IsObject(e)) {
            jfail(c, NULL, "must be an object, got %s", jtype(e));
            goto out;
        }
        if (jint(c, e, "id", 1, 0, &id)) goto out;
        snprintf(c->where, sizeof c->where, "annotations[%d] (id %lld)", k, (long long)id);
        if (jint(c, e, "image_id", 1, 0, &image_id) || jint(c, e, "category_id", 1, 0, &cat)) goto out;
        int ii = find_pos(ids, d->count, image_id);
        if (ii >= 0) ii = ids[ii].idx;
        if (ii < 0) {
            jfail(c, "image_id", "%lld is not the id of an image of the file", (long long)image_id);
            goto out;
        }
        int cpos = find_pos(cats, ncat, cat);
        if (cpos < 0) {
            jfail(c, "category_id", "%lld is not the id of a category of the file", (long long)cat);
            goto out;
        }
        int ci = cats[cpos].idx; /* -1: a category outside metainfo.classes */
        const cJSON *bb = cJSON_GetObjectItemCaseSensitive(e, "bbox");
        if (!cJSON_IsArray(bb) || cJSON_GetArraySize(bb) != 4) {
            jfail(c, "bbox", bb ? "must be an array of 4 numbers [x, y, w, h], got %s" : "is missing%.0s",
                  cJSON_IsArray(bb) ? "an array of another length" : jtype(bb));
            goto out;
        }
        double b[4], area = 0;
        for (int j = 0; j < 4; j++) {
            const cJSON *v = cJSON_GetArrayItem(bb, j);
            if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
                jfail(c, "bbox", "must hold 4 finite numbers; element %d is %s", j, jtype(v));
                goto out;
            }
            b[j] = v->valuedouble;
        }
        int crowd, ign;
        if (jnum(c, e, "area", &area) || jflag(c, e, "iscrowd", &crowd) || jflag(c, e, "ignore", &ign)) goto out;
        if (ci >= 0) has_ann[ii] = 1;
        k++;
        tgc_det_image *im = &d->images[ii];
        /* MMDetection's CocoDataset.parse_data_info, in its order */
        if (ign) {
            skip(sk, SKIP_IGNORE, id);
            continue;
        }
        double iw = fmax(0, fmin(b[0] + b[2], im->width) - fmax(b[0], 0));
        double ih = fmax(0, fmin(b[1] + b[3], im->height) - fmax(b[1], 0));
        if (iw * ih == 0) {
            skip(sk, SKIP_OUTSIDE, id);
            continue;
        }
        if (area <= 0) {
            skip(sk, SKIP_AREA, id);
            continue;
        }
        if (b[2] < 1 || b[3] < 1) {
            skip(sk, SKIP_SMALL, id);
            continue;
        }
        if (ci < 0) continue; /* a category outside metainfo.classes */
        double xyxy[4] = {b[0], b[1], b[0] + b[2], b[1] + b[3]};
        if (crowd) {
            push_box(&im->ignore, &im->n_ignore, &cap_ig[ii], xyxy);
        } else {
            int n = im->n_gt;
            push_box(&im->gt, &im->n_gt, &cap_gt[ii], xyxy);
            TGC_GROW(im->labels, cap_lab[ii], n + 1);
            im->labels[n] = ci;
        }
    }
    rc = 0;
out:
    free(cap_gt);
    free(cap_lab);
    free(cap_ig);
    return rc;
}

tgc_det_dataset *tgc_coco_load(const tgc_coco_opts *o, tgc_err *err) {
    uint8_t *text;
    size_t len;
    if (tgc_read_file(o->ann_file, (size_t)2 << 30, &text, &len, err)) return NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)text, len, &end, 0);
    if (!root) {
        int line, col;
        size_t pos = end && end >= (const char *)text ? (size_t)(end - (const char *)text) : 0;
        if (pos > len) pos = len;
        line_col((const char *)text, pos, &line, &col);
        size_t rest = pos; /* only white space after the error: the file ends too early */
        while (rest < len && strchr(" \t\r\n", text[rest]) && text[rest]) rest++;
        tgc_fail(err, "%s:%d:%d: malformed JSON%s", o->ann_file, line, col, rest >= len ? " (unexpected end)" : "");
        free(text);
        return NULL;
    }
    free(text);
    tgc_det_dataset *d = tgc_calloc(1, sizeof *d);
    jctx c = {.file = o->ann_file, .err = err};
    idpair *ids = NULL, *cats = NULL;
    char *has_ann = NULL;
    int ncat = 0;
    skips sk;
    memset(&sk, 0, sizeof sk);
    tgc_buf notes = {0};
    if (!cJSON_IsObject(root)) {
        tgc_fail(err, "%s: the top level must be an object, got %s", o->ann_file, jtype(root));
        goto fail;
    }
    if (read_categories(&c, root, o, d, &cats, &ncat, &notes) || read_images(&c, root, o->img_dir, d, &ids))
        goto fail;
    has_ann = tgc_calloc((size_t)d->count + 1, 1);
    if (read_annotations(&c, root, o->test_mode, d, ids, cats, ncat, has_ann, &sk)) goto fail;
    for (int r = 0; r < SKIP_N; r++) {
        if (!sk.n[r]) continue;
        tgc_buf_printf(&notes, "%s: %d annotation%s skipped (%s; as MMDetection does): ids", o->ann_file, sk.n[r],
                       sk.n[r] > 1 ? "s" : "", skip_reason[r]);
        for (int j = 0; j < TGC_MIN(sk.n[r], 5); j++) tgc_buf_printf(&notes, " %lld", (long long)sk.first[r][j]);
        tgc_buf_printf(&notes, "%s\n", sk.n[r] > 5 ? " ..." : "");
    }
    /* MMDetection's CocoDataset.filter_data (training only) */
    if (!o->test_mode && (o->filter_empty_gt || o->min_size > 0)) {
        int kept = 0;
        for (int i = 0; i < d->count; i++) {
            tgc_det_image *im = &d->images[i];
            if ((o->filter_empty_gt && !has_ann[i]) || TGC_MIN(im->width, im->height) < o->min_size) {
                free_image(im);
                continue;
            }
            d->images[kept++] = *im;
        }
        d->count = kept;
    }
    for (int i = 0; i < d->count; i++) {
        struct stat st;
        if (stat(d->images[i].path, &st) != 0 || !S_ISREG(st.st_mode)) {
            tgc_fail(err, "%s: image id %lld: the image file %s does not exist", o->ann_file,
                     (long long)d->images[i].id, d->images[i].path);
            goto fail;
        }
    }
    if (notes.len) {
        tgc_buf_u8(&notes, 0);
        d->notes = (char *)notes.data;
        notes.data = NULL;
    }
    tgc_buf_free(&notes);
    free(ids);
    free(cats);
    free(has_ann);
    cJSON_Delete(root);
    return d;
fail:
    tgc_buf_free(&notes);
    free(ids);
    free(cats);
    free(has_ann);
    cJSON_Delete(root);
    tgc_det_dataset_free(d);
    return NULL;
}

/* ---- opening from config ---------------------------------------------------------------------------------- */

static const char *const known_keys[] = {"type",     "data_root", "ann_file",  "data_prefix", "filter_cfg",     "metainfo",
                                         "classes",  "test_mode", "pipeline",  "indices",     "filter_empty_gt"};

static void *dup_bytes(const void *p, size_t n) {
    if (!n) return NULL;
    void *q = tgc_malloc(n);
    memcpy(q, p, n);
    return q;
}

/* MMEngine BaseDataset's `indices` (tgc_cfg_indices), applied after the filters as its full_init does; a list
 * may repeat an image. */
static int apply_indices(tgc_det_dataset *d, const tgc_cfg *ix, tgc_err *err) {
    int n, *keep;
    if (tgc_cfg_indices(ix, d->count, "images", &keep, &n, err)) return -1;
    if (!keep) return 0;
    /* Deep copies, so a repeated index owns its own arrays; then the old list is freed whole. */
    tgc_det_image *im = tgc_calloc((size_t)n, sizeof *im);
    for (int i = 0; i < n; i++) {
        const tgc_det_image *s = &d->images[keep[i]];
        im[i] = *s;
        im[i].path = tgc_strdup(s->path);
        im[i].gt = dup_bytes(s->gt, sizeof(float) * 4 * (size_t)s->n_gt);
        im[i].labels = dup_bytes(s->labels, sizeof(int32_t) * (size_t)s->n_gt);
        im[i].ignore = dup_bytes(s->ignore, sizeof(float) * 4 * (size_t)s->n_ignore);
    }
    for (int i = 0; i < d->count; i++) free_image(&d->images[i]);
    free(d->images);
    free(keep);
    d->images = im;
    d->count = n;
    return 0;
}

static int read_classes(const tgc_cfg *list, const char ***out, int *n, tgc_err *err) {
    if (list->kind != TGC_CFG_LIST && list->kind != TGC_CFG_TUPLE)
        return tgc_cfg_fail(err, list, "classes must be a list of names, got a %s", tgc_cfg_kind_name(list->kind));
    *out = tgc_calloc((size_t)list->n + 1, sizeof **out);
    for (int i = 0; i < list->n; i++) {
        if (list->items[i]->kind != TGC_CFG_STR) {
            free(*out);
            *out = NULL;
            return tgc_cfg_fail(err, list->items[i], "a class name must be a string");
        }
        (*out)[i] = list->items[i]->s;
    }
    *n = list->n;
    return 0;
}

tgc_det_dataset *tgc_det_dataset_open(const tgc_cfg *map, tgc_err *err) {
    if (!map || map->kind != TGC_CFG_MAP) {
        if (map) tgc_cfg_fail(err, map, "a dataset must be a map, got a %s", tgc_cfg_kind_name(map->kind));
        else tgc_fail(err, "no dataset given");
        return NULL;
    }
    const char *type, *root, *ann, *prefix = "";
    int64_t min_size = 0;
    int filter_empty = 0;
    tgc_coco_opts o = {0};
    if (tgc_cfg_str(map, "type", NULL, &type, err) || tgc_cfg_str(map, "data_root", "", &root, err) ||
        tgc_cfg_str(map, "ann_file", NULL, &ann, err) || tgc_cfg_bool(map, "test_mode", 0, &o.test_mode, err) ||
        tgc_cfg_bool(map, "filter_empty_gt", 0, &filter_empty, err))
        return NULL;
    const char *dot = type ? strrchr(type, '.') : NULL;
    if (!type || strcmp(dot ? dot + 1 : type, "CocoDataset")) {
        tgc_cfg_fail(err, type ? tgc_cfg_get(map, "type") : map, "unsupported detection dataset type '%s' (supported: "
                     "CocoDataset)", type ? type : "(none)");
        return NULL;
    }
    if (!ann) {
        tgc_cfg_fail(err, map, "CocoDataset needs ann_file");
        return NULL;
    }
    const tgc_cfg *pc = tgc_cfg_get(map, "data_prefix");
    if (pc && pc->kind == TGC_CFG_MAP) {
        if (tgc_cfg_str(pc, "img", "", &prefix, err)) return NULL;
    } else if (pc && pc->kind == TGC_CFG_STR) {
        prefix = pc->s;
    } else if (pc && pc->kind != TGC_CFG_NULL) {
        tgc_cfg_fail(err, pc, "data_prefix must be a map with img (or a string)");
        return NULL;
    }
    const tgc_cfg *fc = tgc_cfg_get(map, "filter_cfg");
    if (fc && fc->kind == TGC_CFG_MAP) {
        if (tgc_cfg_bool(fc, "filter_empty_gt", filter_empty, &filter_empty, err) ||
            tgc_cfg_int(fc, "min_size", 0, &min_size, err))
            return NULL;
        if (min_size < 0 || min_size > 65536) {
            tgc_cfg_fail(err, tgc_cfg_get(fc, "min_size"), "min_size must be in 0..65536");
            return NULL;
        }
    } else if (fc && fc->kind != TGC_CFG_NULL) {
        tgc_cfg_fail(err, fc, "filter_cfg must be a map (filter_empty_gt, min_size)");
        return NULL;
    }
    o.filter_empty_gt = filter_empty;
    o.min_size = (int)min_size;
    const tgc_cfg *meta = tgc_cfg_get(map, "metainfo");
    const tgc_cfg *cl = meta && meta->kind == TGC_CFG_MAP ? tgc_cfg_get(meta, "classes") : NULL;
    if (!cl) cl = tgc_cfg_get(map, "classes"); /* MMDetection 2.x */
    if (meta && meta->kind != TGC_CFG_MAP && meta->kind != TGC_CFG_NULL) {
        tgc_cfg_fail(err, meta, "metainfo must be a map (classes)");
        return NULL;
    }
    const char **classes = NULL;
    if (cl && cl->kind != TGC_CFG_NULL && read_classes(cl, &classes, &o.n_classes, err)) return NULL;
    o.classes = classes;
    tgc_det_pipeline *pipe = tgc_det_pipeline_new(tgc_cfg_get(map, "pipeline"), err);
    if (!pipe) {
        free(classes);
        return NULL;
    }
    char *annp = (*root && ann[0] != '/') ? join_path(root, ann) : tgc_strdup(ann);
    char *dir = (*root && prefix[0] != '/') ? join_path(root, prefix) : tgc_strdup(prefix);
    o.ann_file = annp;
    o.img_dir = dir;
    tgc_det_dataset *d = tgc_coco_load(&o, err);
    free(classes);
    free(annp);
    free(dir);
    if (!d) {
        tgc_det_pipeline_free(pipe);
        return NULL;
    }
    d->pipeline = pipe;
    if (apply_indices(d, tgc_cfg_get(map, "indices"), err)) {
        tgc_det_dataset_free(d);
        return NULL;
    }
    tgc_buf unused = {0};
    for (int i = 0; i < map->n; i++) {
        int k = 0;
        for (size_t j = 0; j < TGC_ARRAY_LEN(known_keys); j++) k |= !strcmp(map->keys[i], known_keys[j]);
        if (!k && map->items[i]->kind != TGC_CFG_NULL) /* (backend_args: None, as every 3.x config has it) */
            tgc_buf_printf(&unused, "%s%s", unused.len ? ", " : "", map->keys[i]);
    }
    if (unused.len) {
        char *n = tgc_asprintf("%s%s:%d: CocoDataset keys not used by tgc: %.*s\n", d->notes ? d->notes : "", map->file,
                               map->line, (int)unused.len, (const char *)unused.data);
        free(d->notes);
        d->notes = n;
    }
    tgc_buf_free(&unused);
    return d;
}

/* ---- one sample ------------------------------------------------------------------------------------------- */

void tgc_det_sample_free(tgc_det_sample *s) {
    tgc_image_free(&s->img);
    tgc_image_free(&s->scratch);
    free(s->gt);
    free(s->labels);
    free(s->ignore);
    memset(s, 0, sizeof *s);
}

int tgc_det_get(const tgc_det_dataset *d, int index, uint32_t epoch, uint32_t position, uint64_t seed,
                tgc_det_sample *s, tgc_err *err) {
    if (index < 0 || index >= d->count)
        return tgc_fail(err, "CocoDataset: sample %d out of range (%d images)", index, d->count);
    const tgc_det_image *im = &d->images[index];
    tgc_rng rng;
    tgc_rng_init(&rng, seed, epoch, position, TGC_RNG_AUGMENT);
    s->index = index;
    s->img_id = im->id;
    if (tgc_det_pipeline_apply(d->pipeline, im, s, &rng, err))
        return tgc_err_prefix(err, "sample %d (image id %lld, %s)", index, (long long)im->id, im->path);
    return 0;
}
