/* tests/unit/test_data_det_synth.c - the synthetic detection set: byte-identical for one seed, read back by
 * CocoDataset, and every box tight around its item's pixels (recomputed from the PNGs). */
#define _GNU_SOURCE
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/data/det_data.h"
#include "test_dataset.h"
#include "test_util.h"

static char *tmpdir;

static void setup(void) { tmpdir = test_tmpdir(TGC_BINARY_DIR "/tests", "data_det_synth"); }

static void teardown(void) {
    test_rm_tree(tmpdir);
    free(tmpdir);
}

static char *make_hw(const char *name, int n_train, int n_val, int h, int w, double portrait, uint64_t seed,
                     int boxes[2]) {
    char *dir = tgc_asprintf("%s/%s", tmpdir, name);
    tgc_det_synth_opts o = {.out_dir = dir, .fashion_dir = FASHION_DIR, .n_train = n_train, .n_val = n_val,
                            .size = h, .height = h, .width = w, .portrait = portrait, .seed = seed};
    tgc_err err = {{0}};
    ck_assert_msg(tgc_det_synth(&o, boxes, &err) == 0, "%s", err.msg);
    return dir;
}

static char *make(const char *name, int n_train, int n_val, int size, uint64_t seed, int boxes[2]) {
    return make_hw(name, n_train, n_val, size, size, 0, seed, boxes);
}

static int same_file(const char *a, const char *b) {
    size_t la, lb;
    char *x = test_slurp(a, &la), *y = test_slurp(b, &lb);
    int same = la == lb && !memcmp(x, y, la);
    free(x);
    free(y);
    return same;
}

START_TEST(deterministic) {
    FASHION_REQUIRED();
    int b1[2], b2[2], b3[2];
    char *a = make("a", 12, 4, 128, 7, b1), *b = make("b", 12, 4, 128, 7, b2), *c = make("c", 12, 4, 128, 8, b3);
    ck_assert_int_eq(b1[0], b2[0]);
    ck_assert_int_eq(b1[1], b2[1]);
    const char *files[] = {"annotations/instances_train.json", "annotations/instances_val.json", "train/000000.png",
                           "train/000011.png", "val/000003.png"};
    int differs = 0;
    for (size_t i = 0; i < TGC_ARRAY_LEN(files); i++) {
        char *pa = tgc_asprintf("%s/%s", a, files[i]), *pb = tgc_asprintf("%s/%s", b, files[i]);
        char *pc = tgc_asprintf("%s/%s", c, files[i]);
        ck_assert_msg(same_file(pa, pb), "%s differs between two runs with one seed", files[i]);
        differs += !same_file(pa, pc);
        free(pa);
        free(pb);
        free(pc);
    }
    ck_assert_int_eq(differs, (int)TGC_ARRAY_LEN(files)); /* another seed, other files */
    free(a);
    free(b);
    free(c);
}
END_TEST

static double iou(const float *a, const float *b) {
    double iw = fmin(a[2], b[2]) - fmax(a[0], b[0]), ih = fmin(a[3], b[3]) - fmax(a[1], b[1]);
    if (iw <= 0 || ih <= 0) return 0;
    double in = iw * ih;
    return in / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - in);
}

/* Reads a split back through CocoDataset and checks every image against its boxes: h x w images, a fraction
 * `portrait` of them transposed (evenly spread); returns how many are. */
static int check_split_hw(const char *dir, const char *split, int n, int h, int w, double portrait, int boxes) {
    char *ann = tgc_asprintf("%s/annotations/instances_%s.json", dir, split), *img = tgc_asprintf("%s/%s", dir, split);
    tgc_coco_opts o = {.ann_file = ann, .img_dir = img};
    tgc_err err = {{0}};
    tgc_det_dataset *d = tgc_coco_load(&o, &err);
    ck_assert_msg(d, "%s", err.msg);
    ck_assert_str_eq(tgc_det_dataset_notes(d), ""); /* nothing skipped */
    ck_assert_int_eq(tgc_det_dataset_len(d), n);
    ck_assert_int_eq(tgc_det_dataset_num_classes(d), 10);
    for (int c = 0; c < 10; c++) {
        ck_assert_int_eq(tgc_det_cat_id(d, c), c + 1);
        ck_assert_str_eq(tgc_det_class_name(d, c), tgc_fashion_classes[c]);
    }
    int total = 0, hist[5] = {0}, n_tr = 0;
    tgc_det_sample s = {0};
    for (int i = 0; i < n; i++) {
        ck_assert_msg(tgc_det_get(d, i, 0, (uint32_t)i, 0, &s, &err) == 0, "%s", err.msg);
        int t = portrait > 0 && floor((i + 1) * portrait) > floor(i * portrait), ih = t ? w : h, iw = t ? h : w;
        n_tr += t;
        ck_assert_int_eq(s.img.w, iw);
        ck_assert_int_eq(s.img.h, ih);
        ck_assert_int_eq(tgc_det_dataset_image(d, i)->width, iw);
        ck_assert_int_eq(tgc_det_dataset_image(d, i)->height, ih);
        ck_assert_int_eq(s.img.c, 3);
        ck_assert_int_eq(s.n_ignore, 0);
        ck_assert_msg(s.n_gt >= 1 && s.n_gt <= 4, "image %d has %d boxes", i, s.n_gt);
        hist[s.n_gt]++;
        total += s.n_gt;
        const uint8_t *px = s.img.data;
        char *inside = tgc_calloc((size_t)ih * iw, 1);
        for (int k = 0; k < s.n_gt; k++) {
            const float *b = s.gt + 4 * k;
            int x0 = (int)b[0], y0 = (int)b[1], x1 = (int)b[2] - 1, y1 = (int)b[3] - 1; /* last pixel column/row */
            ck_assert(b[0] == x0 && b[3] == y1 + 1 && x0 >= 0 && y0 >= 0 && x1 < iw && y1 < ih);
            /* items span 28..98 pixels: a tight box is at most that big */
            ck_assert_msg(x1 - x0 < 98 && y1 - y0 < 98, "image %d box %d too large", i, k);
            for (int q = 0; q < k; q++) ck_assert_msg(iou(b, s.gt + 4 * q) <= 0.3 + 1e-9, "image %d: IoU > 0.3", i);
            /* tight: each edge row and column holds a pixel > 0 (the item's own, whatever overlaps it) */
            int l = 0, r = 0, tp = 0, bo = 0;
            for (int y = y0; y <= y1; y++) {
                l |= px[((size_t)y * iw + x0) * 3] > 0;
                r |= px[((size_t)y * iw + x1) * 3] > 0;
                for (int x = x0; x <= x1; x++) inside[(size_t)y * iw + x] = 1;
            }
            for (int x = x0; x <= x1; x++) {
                tp |= px[((size_t)y0 * iw + x) * 3] > 0;
                bo |= px[((size_t)y1 * iw + x) * 3] > 0;
            }
            ck_assert_msg(l && r && tp && bo, "image %d box %d is not tight", i, k);
            ck_assert(s.labels[k] >= 0 && s.labels[k] < 10);
        }
        /* every pixel > 0 lies in a box; the three channels are equal */
        for (size_t p = 0; p < (size_t)ih * iw; p++) {
            ck_assert(px[3 * p] == px[3 * p + 1] && px[3 * p] == px[3 * p + 2]);
            ck_assert_msg(!px[3 * p] || inside[p], "image %d: pixel %zu lies in no box", i, p);
        }
        free(inside);
    }
    ck_assert_int_eq(total, boxes);
    ck_assert_msg(hist[1] && hist[4], "box counts 1..4: %d %d %d %d", hist[1], hist[2], hist[3], hist[4]);
    tgc_det_sample_free(&s);
    tgc_det_dataset_free(d);
    free(ann);
    free(img);
    return n_tr;
}

static void check_split(const char *dir, const char *split, int n, int size, int boxes) {
    check_split_hw(dir, split, n, size, size, 0, boxes);
}

START_TEST(tight_boxes) {
    FASHION_REQUIRED();
    int b[2];
    char *dir = make("t", 40, 12, 256, 3, b);
    check_split(dir, "train", 40, 256, b[0]);
    check_split(dir, "val", 12, 256, b[1]);
    /* area = w * h, iscrowd 0, in the JSON itself */
    size_t len;
    char *ann = tgc_asprintf("%s/annotations/instances_val.json", dir);
    char *js = test_slurp(ann, &len);
    int x, y, w, h, area, n = 0;
    for (char *p = strstr(js, "\"bbox\": ["); p; p = strstr(p + 1, "\"bbox\": [")) {
        ck_assert_int_eq(sscanf(p, "\"bbox\": [%d, %d, %d, %d], \"area\": %d, \"iscrowd\": 0}", &x, &y, &w, &h, &area), 5);
        ck_assert_int_eq(area, w * h);
        n++;
    }
    ck_assert_int_eq(n, b[1]);
    free(js);
    free(ann);
    free(dir);
}
END_TEST

/* --size 128x256 --portrait 0.25: landscape 256-wide images, every fourth one transposed, all else as above;
 * the same arguments give the same files. */
START_TEST(two_orientations) {
    FASHION_REQUIRED();
    int b[2], b2[2];
    char *dir = make_hw("o", 40, 8, 128, 256, 0.25, 4, b), *dir2 = make_hw("o2", 40, 8, 128, 256, 0.25, 4, b2);
    ck_assert_int_eq(check_split_hw(dir, "train", 40, 128, 256, 0.25, b[0]), 10);
    ck_assert_int_eq(check_split_hw(dir, "val", 8, 128, 256, 0.25, b[1]), 2);
    char *pa = tgc_asprintf("%s/annotations/instances_train.json", dir), *pb = tgc_asprintf("%s/annotations/instances_train.json", dir2);
    ck_assert(same_file(pa, pb));
    free(pa);
    free(pb);
    free(dir);
    free(dir2);
}
END_TEST

START_TEST(bad_arguments) {
    tgc_det_synth_opts o = {.out_dir = tmpdir, .fashion_dir = FASHION_DIR, .n_train = 1, .n_val = 1, .size = 200};
    tgc_err err;
    ck_assert_int_eq(tgc_det_synth(&o, NULL, &err), -1);
    ck_assert_str_eq(err.msg, "det-synth: the canvas size must be a multiple of 128 in 128..4096, got 200");
    o.height = 128;
    o.width = 200;
    ck_assert_int_eq(tgc_det_synth(&o, NULL, &err), -1);
    ck_assert_str_eq(err.msg, "det-synth: the canvas sides must be multiples of 128 in 128..4096, got 128x200");
    o.width = 256;
    o.portrait = 1.5;
    ck_assert_int_eq(tgc_det_synth(&o, NULL, &err), -1);
    ck_assert_str_eq(err.msg, "det-synth: the transposed fraction must be in 0..1, got 1.5");
    o.height = o.width = 0;
    o.portrait = 0;
    o.size = 128;
    char *nowhere = tgc_asprintf("%s/no-such-folder", tmpdir);
    o.fashion_dir = nowhere;
    ck_assert_int_eq(tgc_det_synth(&o, NULL, &err), -1);
    ck_assert_msg(strstr(err.msg, "no-such-folder/train-images-idx3-ubyte.gz exists"), "%s", err.msg);
    free(nowhere);
}
END_TEST

int main(void) {
    Suite *s = suite_create("data_det_synth");
    TCase *tc = tcase_create("core");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_test(tc, deterministic);
    tcase_add_test(tc, tight_boxes);
    tcase_add_test(tc, two_orientations);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return fashion_status(nf);
}
