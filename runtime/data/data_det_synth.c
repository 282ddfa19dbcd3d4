/* runtime/data/data_det_synth.c - a deterministic detection set: Fashion-MNIST items on canvases, COCO JSON + PNG. */
#include "runtime/data/det_data.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *const tgc_fashion_classes[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                             "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

#define MAX_ITEMS 4
#define MAX_TRIES 50

typedef struct idx_set {
    int count, rows, cols;
    uint8_t *pixels;
    int32_t *labels;
} idx_set;

static int find_file(const char *dir, const char *name, char **out, tgc_err *err) {
    struct stat st;
    char *p = tgc_asprintf("%s/%s", dir, name);
    if (stat(p, &st) == 0) return *out = p, 0;
    char *gz = tgc_asprintf("%s.gz", p);
    if (stat(gz, &st) == 0) {
        free(p);
        return *out = gz, 0;
    }
    tgc_fail(err, "neither %s nor %s exists (Debian's dataset-fashion-mnist installs them)", p, gz);
    free(p);
    free(gz);
    return -1;
}

static int read_set(const char *dir, const char *stem, idx_set *s, tgc_err *err) {
    char name[64], *ip = NULL, *lp = NULL;
    int nl = 0, rc = -1;
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", stem);
    if (find_file(dir, name, &ip, err)) return -1;
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", stem);
    if (find_file(dir, name, &lp, err)) goto out;
    if (tgc_idx_read_images(ip, &s->count, &s->rows, &s->cols, &s->pixels, err) ||
        tgc_idx_read_labels(lp, 10, &nl, &s->labels, err))
        goto out;
    if (nl != s->count || s->count == 0) {
        tgc_fail(err, "%s has %d images but %s has %d labels", ip, s->count, lp, nl);
        goto out;
    }
    rc = 0;
out:
    free(ip);
    free(lp);
    return rc;
}

static double iou(const int a[4], const int b[4]) { /* boxes [x, y, w, h] */
    double iw = TGC_MIN(a[0] + a[2], b[0] + b[2]) - TGC_MAX(a[0], b[0]);
    double ih = TGC_MIN(a[1] + a[3], b[1] + b[3]) - TGC_MAX(a[1], b[1]);
    if (iw <= 0 || ih <= 0) return 0;
    double inter = iw * ih, uni = (double)a[2] * a[3] + (double)b[2] * b[3] - inter;
    return inter / uni;
}

static int write_png(const char *path, const uint8_t *rgb, int w, int h, tgc_err *err) {
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = (png_uint_32)w;
    im.height = (png_uint_32)h;
    im.format = PNG_FORMAT_RGB;
    if (!png_image_write_to_file(&im, path, 0, rgb, 0, NULL))
        return tgc_fail(err, "cannot write %s: %s", path, im.message);
    return 0;
}

/* Whether image i is transposed: evenly spread, floor((i + 1) f) > floor(i f) for the fraction f. */
static int transposed(const tgc_det_synth_opts *o, int i) {
    return o->portrait > 0 && floor((i + 1) * o->portrait) > floor(i * o->portrait);
}

/* One split: n images from set into out_dir/<split>/ and out_dir/annotations/instances_<split>.json. */
static int write_split(const tgc_det_synth_opts *o, const char *split, uint32_t split_no, int n, const idx_set *set,
                       int *boxes, tgc_err *err) {
    int H0 = o->height ? o->height : o->size, W0 = o->width ? o->width : o->size, rc = -1, ann_id = 0;
    char *dir = tgc_asprintf("%s/%s", o->out_dir, split), *path = NULL;
    uint8_t *canvas = tgc_malloc((size_t)H0 * W0), *rgb = tgc_malloc((size_t)H0 * W0 * 3);
    tgc_image item = {0}, scaled = {0};
    tgc_buf js = {0}, anns = {0};
    if (tgc_mkdir_p(dir, err)) goto out;
    if (H0 == W0)
        tgc_buf_printf(&js, "{\"info\": {\"description\": \"tgc det-synth: Fashion-MNIST items on %dx%d canvases\", "
                            "\"version\": \"1.0\", \"seed\": %llu},\n\"licenses\": [],\n\"images\": [",
                       H0, W0, (unsigned long long)o->seed);
    else
        tgc_buf_printf(&js, "{\"info\": {\"description\": \"tgc det-synth: Fashion-MNIST items on %dx%d (HxW) canvases, "
                            "a fraction %g of them transposed\", \"version\": \"1.0\", \"seed\": %llu},\n"
                            "\"licenses\": [],\n\"images\": [",
                       H0, W0, o->portrait, (unsigned long long)o->seed);
    for (int i = 0; i < n; i++) {
        tgc_rng r;
        tgc_rng_init(&r, o->seed, split_no, (uint32_t)i, TGC_RNG_SYNTH);
        int t = H0 != W0 && transposed(o, i), H = t ? W0 : H0, W = t ? H0 : W0; /* this image's rows and columns */
        memset(canvas, 0, (size_t)H * W);
        int want = 1 + (int)tgc_rng_below(&r, MAX_ITEMS), placed = 0, box[MAX_ITEMS][4], cat[MAX_ITEMS];
        for (int k = 0; k < want; k++) {
            int src = (int)tgc_rng_below(&r, (uint32_t)set->count);
            double sc = 1.0 + 2.5 * tgc_rng_uniform(&r);
            int side_w = (int)(set->cols * sc + 0.5), side_h = (int)(set->rows * sc + 0.5);
            tgc_image_reserve(&item, set->rows, set->cols, 1);
            memcpy(item.data, set->pixels + (size_t)src * set->rows * set->cols, (size_t)set->rows * set->cols);
            tgc_image_resize_region(&item, 0, 0, set->cols, set->rows, &scaled, side_w, side_h, 0);
            int x0 = side_w, y0 = side_h, x1 = -1, y1 = -1; /* tight box of the pixels > 0 */
            for (int y = 0; y < side_h; y++)
                for (int x = 0; x < side_w; x++)
                    if (scaled.data[(size_t)y * side_w + x]) {
                        x0 = TGC_MIN(x0, x), x1 = TGC_MAX(x1, x), y0 = TGC_MIN(y0, y), y1 = TGC_MAX(y1, y);
                    }
            if (x1 < 0) continue; /* an empty item: nothing to place */
            int tight[4] = {0, 0, x1 - x0 + 1, y1 - y0 + 1}, ok = 0, px = 0, py = 0;
            for (int t = 0; t < MAX_TRIES && !ok; t++) {
                px = (int)tgc_rng_below(&r, (uint32_t)(W - side_w + 1));
                py = (int)tgc_rng_below(&r, (uint32_t)(H - side_h + 1));
                tight[0] = px + x0;
                tight[1] = py + y0;
                ok = 1;
                for (int q = 0; q < placed && ok; q++) ok = iou(tight, box[q]) <= 0.3;
            }
            if (!ok) break; /* crowded: the image keeps what it has */
            for (int y = 0; y < side_h; y++)
                for (int x = 0; x < side_w; x++) {
                    uint8_t *d = canvas + (size_t)(py + y) * W + px + x, v = scaled.data[(size_t)y * side_w + x];
                    if (v > *d) *d = v;
                }
            memcpy(box[placed], tight, sizeof tight);
            cat[placed++] = set->labels[src] + 1;
        }
        for (size_t p = 0; p < (size_t)H * W; p++) rgb[3 * p] = rgb[3 * p + 1] = rgb[3 * p + 2] = canvas[p];
        free(path);
        path = tgc_asprintf("%s/%06d.png", dir, i);
        if (write_png(path, rgb, W, H, err)) goto out;
        tgc_buf_printf(&js, "%s\n  {\"id\": %d, \"file_name\": \"%06d.png\", \"width\": %d, \"height\": %d}",
                       i ? "," : "", i + 1, i, W, H);
        for (int q = 0; q < placed; q++)
            tgc_buf_printf(&anns, "%s\n  {\"id\": %d, \"image_id\": %d, \"category_id\": %d, \"bbox\": [%d, %d, %d, %d], "
                                  "\"area\": %d, \"iscrowd\": 0}",
                           ann_id ? "," : "", ann_id + 1, i + 1, cat[q], box[q][0], box[q][1], box[q][2], box[q][3],
                           box[q][2] * box[q][3]), ann_id++;
    }
    tgc_buf_printf(&js, "\n],\n\"annotations\": [");
    tgc_buf_put(&js, anns.data, anns.len);
    tgc_buf_printf(&js, "\n],\n\"categories\": [");
    for (int c = 0; c < 10; c++)
        tgc_buf_printf(&js, "%s\n  {\"id\": %d, \"name\": \"%s\", \"supercategory\": \"fashion\"}", c ? "," : "", c + 1,
                       tgc_fashion_classes[c]);
    tgc_buf_printf(&js, "\n]}\n");
    free(path);
    path = tgc_asprintf("%s/annotations/instances_%s.json", o->out_dir, split);
    if (tgc_write_file_atomic(path, js.data, js.len, err)) goto out;
    *boxes = ann_id;
    rc = 0;
out:
    free(dir);
    free(path);
    free(canvas);
    free(rgb);
    tgc_image_free(&item);
    tgc_image_free(&scaled);
    tgc_buf_free(&js);
    tgc_buf_free(&anns);
    return rc;
}

int tgc_det_synth(const tgc_det_synth_opts *o, int boxes[2], tgc_err *err) {
    int h = o->height ? o->height : o->size, w = o->width ? o->width : o->size;
    if (!o->height && !o->width && (h < 128 || h > 4096 || h % 128))
        return tgc_fail(err, "det-synth: the canvas size must be a multiple of 128 in 128..4096, got %d", h);
    if (h < 128 || h > 4096 || h % 128 || w < 128 || w > 4096 || w % 128)
        return tgc_fail(err, "det-synth: the canvas sides must be multiples of 128 in 128..4096, got %dx%d", h, w);
    if (!(o->portrait >= 0 && o->portrait <= 1))
        return tgc_fail(err, "det-synth: the transposed fraction must be in 0..1, got %g", o->portrait);
    if (o->n_train < 0 || o->n_val < 0 || o->n_train > 1000000 || o->n_val > 1000000)
        return tgc_fail(err, "det-synth: image counts must be in 0..1000000");
    int b[2] = {0, 0}, rc = -1;
    idx_set tr = {0}, va = {0};
    char *ann = tgc_asprintf("%s/annotations", o->out_dir);
    if (tgc_mkdir_p(o->out_dir, err) || tgc_mkdir_p(ann, err)) goto out;
    if (read_set(o->fashion_dir, "train", &tr, err) || read_set(o->fashion_dir, "t10k", &va, err)) goto out;
    if (TGC_MAX(TGC_MAX(tr.rows, tr.cols), TGC_MAX(va.rows, va.cols)) * 3.5 + 1 > TGC_MIN(h, w)) {
        tgc_fail(err, "det-synth: %dx%d items scaled by 3.5 do not fit a %dx%d canvas", tr.rows, tr.cols, h, w);
        goto out;
    }
    if (write_split(o, "train", 0, o->n_train, &tr, &b[0], err) || write_split(o, "val", 1, o->n_val, &va, &b[1], err))
        goto out;
    if (boxes) boxes[0] = b[0], boxes[1] = b[1];
    rc = 0;
out:
    free(ann);
    free(tr.pixels);
    free(tr.labels);
    free(va.pixels);
    free(va.labels);
    return rc;
}
