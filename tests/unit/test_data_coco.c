/* tests/unit/test_data_coco.c - CocoDataset: MMDetection's annotation rules, filters, class subsets, and the
 * message of every malformed file in tests/unit/coco_inputs/malformed.txt. */
#define _GNU_SOURCE
#include <check.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/data/det_data.h"
#include "test_util.h"

#define INPUTS TGC_SOURCE_DIR "/tests/unit/coco_inputs"

static char *tmpdir;

/* A grey w x h PNG in the image folder: pixel (x, y) = (x + 3 y) & 255. */
static void write_png(const char *name, int w, int h) {
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = (png_uint_32)w;
    im.height = (png_uint_32)h;
    im.format = PNG_FORMAT_GRAY;
    uint8_t *px = tgc_malloc((size_t)w * h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) px[(size_t)y * w + x] = (uint8_t)((x + 3 * y) & 255);
    char *p = tgc_asprintf("%s/%s", tmpdir, name);
    ck_assert_msg(png_image_write_to_file(&im, p, 0, px, 0, NULL), "%s", im.message);
    free(p);
    free(px);
}

static tgc_det_dataset *load(const char *file, int test_mode, int filter_empty, int min_size, const char *const *classes,
                             int n_classes, tgc_err *err) {
    tgc_coco_opts o = {.ann_file = file, .img_dir = tmpdir, .test_mode = test_mode, .filter_empty_gt = filter_empty,
                       .min_size = min_size, .classes = classes, .n_classes = n_classes};
    return tgc_coco_load(&o, err);
}

static void assert_box(const float *b, double x1, double y1, double x2, double y2) {
    ck_assert_msg(b[0] == (float)x1 && b[1] == (float)y1 && b[2] == (float)x2 && b[3] == (float)y2,
                  "box [%g %g %g %g], expected [%g %g %g %g]", b[0], b[1], b[2], b[3], x1, y1, x2, y2);
}

START_TEST(mmdetection_rules) {
    tgc_err err = {{0}};
    tgc_det_dataset *d = load(INPUTS "/good.json", 0, 0, 0, NULL, 0, &err);
    ck_assert_msg(d, "%s", err.msg);
    ck_assert_int_eq(tgc_det_dataset_len(d), 4);
    ck_assert_int_eq(tgc_det_dataset_num_classes(d), 3);
    /* labels follow the sorted category ids 1, 3, 7 */
    ck_assert_int_eq(tgc_det_cat_id(d, 0), 1);
    ck_assert_int_eq(tgc_det_cat_id(d, 2), 7);
    ck_assert_str_eq(tgc_det_class_name(d, 1), "b");
    const tgc_det_image *im = tgc_det_dataset_image(d, 0);
    ck_assert_int_eq(im->id, 10);
    ck_assert_int_eq(im->width, 40);
    ck_assert_int_eq(im->height, 30);
    char *want = tgc_asprintf("%s/a.png", tmpdir);
    ck_assert_str_eq(im->path, want);
    free(want);
    /* ann 1 kept (label 1), 2 ignore flag, 3 no overlap, 4 area 0, 5 w < 1: skipped; 6 kept though it leaves the
     * image (label 2, not clipped here); 7 crowd */
    ck_assert_int_eq(im->n_gt, 2);
    assert_box(im->gt, 1.5, 2, 11.5, 10);
    assert_box(im->gt + 4, 30, 20, 50, 40);
    ck_assert_int_eq(im->labels[0], 1);
    ck_assert_int_eq(im->labels[1], 2);
    ck_assert_int_eq(im->n_ignore, 1);
    assert_box(im->ignore, 2, 3, 6, 8);
    ck_assert_int_eq(tgc_det_dataset_image(d, 1)->n_gt, 0);
    ck_assert_int_eq(tgc_det_dataset_image(d, 2)->n_ignore, 1);
    const char *notes = tgc_det_dataset_notes(d);
    ck_assert_msg(strstr(notes, "1 annotation skipped ('ignore' set; as MMDetection does): ids 2\n"), "%s", notes);
    ck_assert_msg(strstr(notes, "(no overlap with their image; as MMDetection does): ids 3\n"), "%s", notes);
    ck_assert_msg(strstr(notes, "(area <= 0; as MMDetection does): ids 4\n"), "%s", notes);
    ck_assert_msg(strstr(notes, "(w < 1 or h < 1; as MMDetection does): ids 5\n"), "%s", notes);
    ck_assert_msg(strstr(notes, INPUTS "/good.json: "), "%s", notes);
    tgc_det_dataset_free(d);
}
END_TEST

START_TEST(filters) {
    tgc_err err = {{0}};
    /* filter_empty_gt drops b (no annotation) but keeps c (a crowd annotation counts, as pycocotools' catToImgs
     * does); min_size 20 drops d (16 x 16) */
    tgc_det_dataset *d = load(INPUTS "/good.json", 0, 1, 20, NULL, 0, &err);
    ck_assert_msg(d, "%s", err.msg);
    ck_assert_int_eq(tgc_det_dataset_len(d), 2);
    ck_assert_int_eq(tgc_det_dataset_image(d, 0)->id, 10);
    ck_assert_int_eq(tgc_det_dataset_image(d, 1)->id, 12);
    tgc_det_dataset_free(d);
    d = load(INPUTS "/good.json", 0, 1, 0, NULL, 0, &err);
    ck_assert_int_eq(tgc_det_dataset_len(d), 3);
    tgc_det_dataset_free(d);
    /* test_mode: no filtering */
    d = load(INPUTS "/good.json", 1, 1, 20, NULL, 0, &err);
    ck_assert_int_eq(tgc_det_dataset_len(d), 4);
    tgc_det_dataset_free(d);
}
END_TEST

START_TEST(class_subset) {
    tgc_err err = {{0}};
    static const char *const cls[] = {"c", "a"};
    tgc_det_dataset *d = load(INPUTS "/good.json", 0, 1, 0, cls, 2, &err);
    ck_assert_msg(d, "%s", err.msg);
    ck_assert_int_eq(tgc_det_dataset_num_classes(d), 2);
    /* the file's order: a (id 1) -> 0, c (id 7) -> 1 */
    ck_assert_str_eq(tgc_det_class_name(d, 0), "a");
    ck_assert_int_eq(tgc_det_cat_id(d, 1), 7);
    const tgc_det_image *im = tgc_det_dataset_image(d, 0);
    ck_assert_int_eq(im->n_gt, 1);
    assert_box(im->gt, 30, 20, 50, 40);
    ck_assert_int_eq(im->labels[0], 1);
    ck_assert_msg(strstr(tgc_det_dataset_notes(d), "labels follow the file's order"), "%s", tgc_det_dataset_notes(d));
    tgc_det_dataset_free(d);
    /* only class b: image c (crowd of a) and d (a) have no annotation of it */
    static const char *const only_b[] = {"b"};
    d = load(INPUTS "/good.json", 0, 1, 0, only_b, 1, &err);
    ck_assert_int_eq(tgc_det_dataset_len(d), 1);
    ck_assert_int_eq(tgc_det_dataset_image(d, 0)->n_gt, 1);
    ck_assert_int_eq(tgc_det_dataset_image(d, 0)->labels[0], 0);
    tgc_det_dataset_free(d);
    static const char *const bad[] = {"a", "zebra"};
    ck_assert_ptr_null(load(INPUTS "/good.json", 0, 0, 0, bad, 2, &err));
    ck_assert_str_eq(err.msg, INPUTS "/good.json: class 'zebra' (metainfo.classes) is not the name of a category of "
                              "the file");
}
END_TEST

/* Every section of malformed.txt: its message, with FILE and DIR replaced. */
START_TEST(malformed_files) {
    size_t len;
    char *text = test_slurp(INPUTS "/malformed.txt", &len);
    int cases = 0;
    char *sec = strstr(text, "\n=== ");
    while (sec) {
        char *name = sec + 5, *nl = strchr(name, '\n');
        *nl = 0;
        char *expect = nl + 1;
        ck_assert_msg(!strncmp(expect, "expect: ", 8), "section %s: no expect line", name);
        expect += 8;
        char *enl = strchr(expect, '\n');
        *enl = 0;
        char *body = enl + 1, *next = !strncmp(body, "=== ", 4) ? enl : strstr(body, "\n=== ");
        size_t blen = next ? (size_t)(next + 1 - body) : strlen(body);
        char *file = tgc_asprintf("%s/%s.json", tmpdir, name);
        tgc_err err = {{0}};
        ck_assert_int_eq(tgc_write_file_atomic(file, body, blen, &err), 0);
        /* the expected text with FILE and DIR substituted */
        tgc_buf want = {0};
        for (const char *p = expect; *p;) {
            if (!strncmp(p, "FILE", 4)) tgc_buf_printf(&want, "%s", file), p += 4;
            else if (!strncmp(p, "DIR", 3)) tgc_buf_printf(&want, "%s", tmpdir), p += 3;
            else tgc_buf_u8(&want, (uint8_t)*p++);
        }
        tgc_buf_u8(&want, 0);
        tgc_det_dataset *d = load(file, 0, 0, 0, NULL, 0, &err);
        ck_assert_msg(!d, "section %s: loaded", name);
        ck_assert_msg(strstr(err.msg, (char *)want.data), "section %s:\n  message: %s\n  expected: %s", name, err.msg,
                      (char *)want.data);
        tgc_buf_free(&want);
        free(file);
        cases++;
        sec = next;
    }
    ck_assert_int_ge(cases, 25);
    free(text);
}
END_TEST

START_TEST(test_mode_without_annotations) {
    char *file = tgc_asprintf("%s/no_anns.json", tmpdir);
    const char *js = "{\"categories\": [{\"id\": 1, \"name\": \"a\"}], \"images\": [{\"id\": 7, \"file_name\": \"a.png\", "
                     "\"width\": 40, \"height\": 30}]}";
    tgc_err err = {{0}};
    ck_assert_int_eq(tgc_write_file_atomic(file, js, strlen(js), &err), 0);
    tgc_det_dataset *d = load(file, 1, 0, 0, NULL, 0, &err);
    ck_assert_msg(d, "%s", err.msg);
    ck_assert_int_eq(tgc_det_dataset_len(d), 1);
    tgc_det_dataset_free(d);
    free(file);
}
END_TEST

/* The decoded image must have the size the file states. */
START_TEST(size_mismatch) {
    char *file = tgc_asprintf("%s/mismatch.json", tmpdir);
    const char *js = "{\"categories\": [{\"id\": 1, \"name\": \"a\"}], \"images\": [{\"id\": 7, \"file_name\": \"b.png\", "
                     "\"width\": 40, \"height\": 30}], \"annotations\": []}";
    tgc_err err = {{0}};
    ck_assert_int_eq(tgc_write_file_atomic(file, js, strlen(js), &err), 0);
    tgc_det_dataset *d = load(file, 0, 0, 0, NULL, 0, &err);
    ck_assert_msg(d, "%s", err.msg);
    tgc_det_sample s = {0};
    ck_assert_int_eq(tgc_det_get(d, 0, 0, 0, 0, &s, &err), -1);
    ck_assert_msg(strstr(err.msg, "sample 0 (image id 7, ") && strstr(err.msg, "b.png decodes to 20x20 but the "
                                                                               "annotation file says 40x30"),
                  "%s", err.msg);
    tgc_det_sample_free(&s);
    tgc_det_dataset_free(d);
    free(file);
}
END_TEST

/* From a config: data_root joins ann_file and data_prefix.img; the pipeline runs; unused keys are named. */
START_TEST(open_from_config) {
    char *yaml = tgc_asprintf("dataset:\n"
                              "  type: mmdet.CocoDataset\n"
                              "  data_root: %s\n"
                              "  ann_file: good.json\n"
                              "  data_prefix: {img: %s/}\n"
                              "  filter_cfg: {filter_empty_gt: true, min_size: 20}\n"
                              "  metainfo: {classes: [a, b, c]}\n"
                              "  serialize_data: false\n"
                              "  backend_args: null\n"
                              "  pipeline:\n"
                              "    - {type: LoadImageFromFile}\n"
                              "    - {type: LoadAnnotations, with_bbox: true}\n"
                              "    - {type: Resize, scale: [80, 80], keep_ratio: true}\n"
                              "    - {type: PackDetInputs}\n",
                              INPUTS, tmpdir);
    tgc_cfg *root = test_cfg_parse(yaml, "det.yaml");
    tgc_err err = {{0}};
    tgc_det_dataset *d = tgc_det_dataset_open(tgc_cfg_get(root, "dataset"), &err);
    ck_assert_msg(d, "%s", err.msg);
    ck_assert_int_eq(tgc_det_dataset_len(d), 2);
    ck_assert_msg(strstr(tgc_det_dataset_notes(d), "det.yaml:2: CocoDataset keys not used by tgc: serialize_data\n"),
                  "%s", tgc_det_dataset_notes(d));
    tgc_det_sample s = {0};
    ck_assert_msg(tgc_det_get(d, 0, 0, 0, 0, &s, &err) == 0, "%s", err.msg);
    /* 40 x 30 into (80, 80): factor min(80 / 40, 80 / 30) = 2 */
    ck_assert_int_eq(s.img.w, 80);
    ck_assert_int_eq(s.img.h, 60);
    ck_assert_int_eq(s.img.c, 3);
    ck_assert_int_eq(s.n_gt, 2);
    assert_box(s.gt, 3, 4, 23, 20);
    assert_box(s.gt + 4, 60, 40, 80, 60); /* clipped to the image */
    ck_assert_int_eq(s.img_id, 10);
    tgc_det_sample_free(&s);
    tgc_det_dataset_free(d);
    tgc_cfg_free(root);
    free(yaml);
    /* a bad type and a missing ann_file name the key */
    root = test_cfg_parse("dataset: {type: CocoDetection, ann_file: x.json}\n", "bad.yaml");
    ck_assert_ptr_null(tgc_det_dataset_open(tgc_cfg_get(root, "dataset"), &err));
    ck_assert_msg(strstr(err.msg, "bad.yaml:1") && strstr(err.msg, "unsupported detection dataset type 'CocoDetection'"),
                  "%s", err.msg);
    tgc_cfg_free(root);
    root = test_cfg_parse("dataset:\n  type: CocoDataset\n  data_root: r/\n", "bad.yaml");
    ck_assert_ptr_null(tgc_det_dataset_open(tgc_cfg_get(root, "dataset"), &err));
    ck_assert_msg(strstr(err.msg, "CocoDataset needs ann_file"), "%s", err.msg);
    tgc_cfg_free(root);
    root = test_cfg_parse("dataset: {type: CocoDataset, ann_file: nowhere.json}\n", "bad.yaml");
    ck_assert_ptr_null(tgc_det_dataset_open(tgc_cfg_get(root, "dataset"), &err));
    ck_assert_msg(strstr(err.msg, "nowhere.json"), "%s", err.msg);
    tgc_cfg_free(root);
}
END_TEST

static void setup(void) {
    tmpdir = test_tmpdir(TGC_BINARY_DIR "/tests", "data_coco");
    write_png("a.png", 40, 30);
    write_png("b.png", 20, 20);
    write_png("c.png", 50, 60);
    write_png("d.png", 16, 16);
}

static void teardown(void) {
    test_rm_tree(tmpdir);
    free(tmpdir);
}

int main(void) {
    Suite *s = suite_create("data_coco");
    TCase *tc = tcase_create("core");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_test(tc, mmdetection_rules);
    tcase_add_test(tc, filters);
    tcase_add_test(tc, class_subset);
    tcase_add_test(tc, malformed_files);
    tcase_add_test(tc, test_mode_without_annotations);
    tcase_add_test(tc, size_mismatch);
    tcase_add_test(tc, open_from_config);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
