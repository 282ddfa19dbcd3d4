/* runtime/det/coco_json.c - the COCO evaluator's files (cJSON): the annotation file it reads the ground truth
 * from, the result files it reads and writes (PREFIX.bbox.json, as MMDetection's CocoMetric.results2json). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/det/coco_eval_internal.h"

#define COCO_JSON_MAX_BYTES ((size_t)1 << 31)

/* Parses the whole file; a syntax error names the line and column. */
static cJSON *parse_file(const char *path, tgc_err *err) {
    uint8_t *data;
    size_t len;
    if (tgc_read_file(path, COCO_JSON_MAX_BYTES, &data, &len, err)) return NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)data, len, &end, 0);
    if (root) { /* nothing but white space after the value (Python's json refuses "extra data" too) */
        while (end < (const char *)data + len && strchr(" \t\r\n", *end) && *end) end++;
        if (end < (const char *)data + len) {
            cJSON_Delete(root);
            root = NULL;
        }
    }
    if (!root) {
        size_t pos = end ? (size_t)(end - (const char *)data) : 0;
        int line = 1, col = 1;
        for (size_t i = 0; i < pos && i < len; i++) {
            if (data[i] == '\n') line++, col = 1;
            else col++;
        }
        tgc_fail(err, "%s:%d:%d: malformed JSON", path, line, col);
    }
    free(data);
    return root;
}

/* An integer field (a JSON number with an integral value within +-2^53). where: "annotations[3]". */
static int get_int(const cJSON *obj, const char *key, const char *file, const char *where, int64_t *out,
                   tgc_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return tgc_fail(err, "%s: %s.%s is missing", file, where, key);
    double d = v->valuedouble;
    if (!cJSON_IsNumber(v) || d != floor(d) || fabs(d) > 9007199254740992.0)
        return tgc_fail(err, "%s: %s.%s: expected an integer", file, where, key);
    *out = (int64_t)d;
    return 0;
}

static int get_num(const cJSON *obj, const char *key, const char *file, const char *where, double *out,
                   tgc_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return tgc_fail(err, "%s: %s.%s is missing", file, where, key);
    if (!cJSON_IsNumber(v)) return tgc_fail(err, "%s: %s.%s: expected a number", file, where, key);
    *out = v->valuedouble;
    return 0;
}

static int get_bbox(const cJSON *obj, const char *file, const char *where, double bbox[4], tgc_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "bbox");
    if (!v) return tgc_fail(err, "%s: %s.bbox is missing", file, where);
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 4)
        return tgc_fail(err, "%s: %s.bbox: expected a list of 4 numbers [x, y, w, h]", file, where);
    int i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, v) {
        if (!cJSON_IsNumber(x)) return tgc_fail(err, "%s: %s.bbox[%d]: expected a number", file, where, i);
        bbox[i++] = x->valuedouble;
    }
    return 0;
}

/* The array root[key] (missing: an empty list when optional). */
static int get_list(const cJSON *root, const char *key, int optional, const char *file, const cJSON **out, int *n,
                    tgc_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    *out = v, *n = 0;
    if (!v && optional) return 0;
    if (!v) return tgc_fail(err, "%s: the list '%s' is missing", file, key);
    if (!cJSON_IsArray(v)) return tgc_fail(err, "%s: '%s' is not a list", file, key);
    *n = cJSON_GetArraySize(v);
    return 0;
}

/* The ids of a list of objects (images, categories). */
static int read_ids(const cJSON *list, int n, const char *file, const char *name, int64_t *ids, tgc_err *err) {
    int i = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, list) {
        char where[64];
        snprintf(where, sizeof where, "%s[%d]", name, i);
        if (!cJSON_IsObject(o)) return tgc_fail(err, "%s: %s: expected an object", file, where);
        if (get_int(o, "id", file, where, &ids[i], err)) return -1;
        i++;
    }
    return 0;
}

static int read_ann(const cJSON *o, int i, const char *file, tgc_coco_ann *a, tgc_err *err) {
    char where[64];
    snprintf(where, sizeof where, "annotations[%d]", i);
    if (!cJSON_IsObject(o)) return tgc_fail(err, "%s: %s: expected an object", file, where);
    if (get_int(o, "id", file, where, &a->id, err) || get_int(o, "image_id", file, where, &a->image_id, err) ||
        get_int(o, "category_id", file, where, &a->category_id, err) || get_bbox(o, file, where, a->bbox, err) ||
        get_num(o, "area", file, where, &a->area, err))
        return -1;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "iscrowd");
    a->iscrowd = 0;
    if (c) {
        if (cJSON_IsBool(c)) a->iscrowd = cJSON_IsTrue(c);
        else if (cJSON_IsNumber(c) && c->valuedouble == floor(c->valuedouble)) a->iscrowd = c->valuedouble != 0;
        else return tgc_fail(err, "%s: %s.iscrowd: expected 0 or 1", file, where);
    }
    return 0;
}

int tgc_coco_eval_open(const char *ann_file, tgc_coco_eval **out, tgc_err *err) {
    *out = NULL;
    cJSON *root = parse_file(ann_file, err);
    if (!root) return -1;
    int64_t *img_ids = NULL, *cat_ids = NULL;
    tgc_coco_ann *anns = NULL;
    int rc = -1, ni, nc, na;
    const cJSON *images, *cats, *annl;
    if (!cJSON_IsObject(root)) {
        tgc_fail(err, "%s: expected a COCO annotation object {images, annotations, categories}", ann_file);
        goto done;
    }
    if (get_list(root, "images", 0, ann_file, &images, &ni, err) ||
        get_list(root, "categories", 0, ann_file, &cats, &nc, err) ||
        get_list(root, "annotations", 1, ann_file, &annl, &na, err))
        goto done;
    img_ids = tgc_malloc((size_t)(ni > 0 ? ni : 1) * sizeof *img_ids);
    cat_ids = tgc_malloc((size_t)(nc > 0 ? nc : 1) * sizeof *cat_ids);
    anns = tgc_calloc((size_t)(na > 0 ? na : 1), sizeof *anns);
    if (read_ids(images, ni, ann_file, "images", img_ids, err) ||
        read_ids(cats, nc, ann_file, "categories", cat_ids, err))
        goto done;
    if (annl) {
        int i = 0;
        const cJSON *o;
        cJSON_ArrayForEach(o, annl) {
            if (read_ann(o, i, ann_file, &anns[i], err)) goto done;
            i++;
        }
    }
    if (tgc_coco_eval_new(img_ids, ni, cat_ids, nc, anns, na, out, err)) {
        tgc_err_prefix(err, "%s", ann_file);
        goto done;
    }
    rc = 0;
done:
    free(img_ids), free(cat_ids), free(anns);
    cJSON_Delete(root);
    return rc;
}

int tgc_coco_eval_load_results(tgc_coco_eval *ev, const char *path, tgc_err *err) {
    cJSON *root = parse_file(path, err);
    if (!root) return -1;
    int rc = -1, i = 0, n0 = ev->n_det;
    if (!cJSON_IsArray(root)) {
        tgc_fail(err, "%s: expected a list of detections [{image_id, category_id, bbox, score}, ...]", path);
        goto done;
    }
    const cJSON *o;
    cJSON_ArrayForEach(o, root) {
        char where[32];
        snprintf(where, sizeof where, "[%d]", i);
        int64_t img, cat;
        double bbox[4], score;
        if (!cJSON_IsObject(o)) {
            tgc_fail(err, "%s: %s: expected an object", path, where);
            goto done;
        }
        if (get_int(o, "image_id", path, where, &img, err) || get_int(o, "category_id", path, where, &cat, err) ||
            get_bbox(o, path, where, bbox, err) || get_num(o, "score", path, where, &score, err))
            goto done;
        if (tgc_coco_eval_add_result(ev, img, cat, bbox, score, err)) {
            tgc_err_prefix(err, "%s: %s", path, where);
            goto done;
        }
        i++;
    }
    rc = 0;
done:
    if (rc) ev->n_det = n0; /* all of the file or nothing */
    cJSON_Delete(root);
    return rc;
}

/* A number as raw JSON text that reads back as the same double: the shortest of 15, 16 or 17 significant digits
 * (cJSON's own printer accepts 15 digits within a relative DBL_EPSILON, which need not read back exactly). */
static cJSON *exact_number(double v) {
    char s[40];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(s, sizeof s, "%.*g", digits, v);
        if (strtod(s, NULL) == v) break;
    }
    return cJSON_CreateRaw(s);
}

int tgc_coco_eval_write_results(const tgc_coco_eval *ev, const char *outfile_prefix, tgc_err *err) {
    cJSON *root = cJSON_CreateArray();
    for (int i = 0; i < ev->n_det; i++) {
        const coco_det *d = &ev->det[i];
        cJSON *o = cJSON_CreateObject();
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)ev->img_ids[d->img]);
        cJSON_AddRawToObject(o, "image_id", id);
        cJSON *bbox = cJSON_AddArrayToObject(o, "bbox");
        for (int j = 0; j < 4; j++) cJSON_AddItemToArray(bbox, exact_number(d->bbox[j]));
        cJSON_AddItemToObject(o, "score", exact_number(d->score));
        snprintf(id, sizeof id, "%lld", (long long)ev->cat_ids[d->cat]);
        cJSON_AddRawToObject(o, "category_id", id);
        cJSON_AddItemToArray(root, o);
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    char *path = tgc_asprintf("%s.bbox.json", outfile_prefix);
    int rc = 0;
    if (!text) rc = tgc_fail(err, "%s: out of memory while formatting %d detections", path, ev->n_det);
    else rc = tgc_write_file_atomic(path, text, strlen(text), err);
    free(text);
    free(path);
    return rc;
}
