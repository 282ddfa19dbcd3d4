/* tests/unit/test_data_files.c - CUB, ImageNet21k, ImageNet and CustomDataset settings and annotation files: the
 * sample lists, and the errors for malformed files (each naming the file and the line) and refused settings.
 * (tests/datasets/fixtures.py compares whole lists with MMPretrain's.) */
#define _GNU_SOURCE
#include <check.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/data/data.h"
#include "test_util.h"

static char *tmpdir;

/* Writes text to tmpdir/rel, making its folders. */
static void put(const char *rel, const char *text) {
    char *path = tgc_asprintf("%s/%s", tmpdir, rel);
    for (char *s = strchr(path + strlen(tmpdir) + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = 0;
        mkdir(path, 0755);
        *s = '/';
    }
    tgc_err err;
    ck_assert_msg(tgc_write_file_atomic(path, text, strlen(text), &err) == 0, "%s", err.msg);
    free(path);
}

/* Opens the dataset map given as YAML flow text ("@" stands for tmpdir); NULL with err on refusal. */
static tgc_dataset *open_ds(tgc_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static tgc_dataset *open_ds(tgc_err *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *flow = tgc_vasprintf(fmt, ap);
    va_end(ap);
    tgc_buf y = {0};
    tgc_buf_printf(&y, "dataset: ");
    for (const char *c = flow; *c; c++) {
        if (*c == '@') tgc_buf_printf(&y, "%s", tmpdir);
        else tgc_buf_put(&y, c, 1);
    }
    tgc_buf_put(&y, "\n", 2);
    tgc_cfg *cfg = test_cfg_parse((const char *)y.data, "ds.yaml");
    err->msg[0] = 0;
    tgc_dataset *d = tgc_dataset_open(tgc_cfg_get(cfg, "dataset"), err);
    tgc_cfg_free(cfg);
    tgc_buf_free(&y);
    free(flow);
    return d;
}

/* The dataset is refused with a message holding every given piece. */
#define REFUSED(pieces, ...)                                                                                      \
    do {                                                                                                          \
        tgc_err e_;                                                                                               \
        tgc_dataset *d_ = open_ds(&e_, __VA_ARGS__);                                                              \
        ck_assert_msg(d_ == NULL, "accepted: %s", #__VA_ARGS__);                                                  \
        const char *const *p_ = pieces;                                                                           \
        for (int i_ = 0; p_[i_]; i_++) ck_assert_msg(strstr(e_.msg, p_[i_]), "'%s' not in: %s", p_[i_], e_.msg);   \
    } while (0)
#define P(...) ((const char *const[]){__VA_ARGS__, NULL})

static void cub_files(const char *images, const char *labels, const char *split) {
    put("cub/images.txt", images);
    put("cub/image_class_labels.txt", labels);
    put("cub/train_test_split.txt", split);
}

START_TEST(cub_lists_and_errors) {
    tmpdir = test_tmpdir(TGC_BINARY_DIR "/tests", "data_files");
    put("cub/images/001.A/a1.jpg", "x");
    put("cub/images/001.A/a2.jpg", "x");
    put("cub/images/002.B/b1.jpg", "x");
    put("cub/images/200.Z/z1.jpg", "x");
    const char *images = "1 001.A/a1.jpg\n3 002.B/b1.jpg\n2 001.A/a2.jpg\n4 200.Z/z1.jpg\n";
    cub_files(images, "4 200\n3 2\n2 1\n1 1\n", "1 1\n2 0\n3 1\n4 1\n");
    tgc_err err;
    /* train: images.txt's order, the train ids, labels matched by id and made 0-based */
    tgc_dataset *d = open_ds(&err, "{type: CUB, data_root: @/cub, split: train}");
    ck_assert_msg(d != NULL, "%s", err.msg);
    ck_assert_int_eq(tgc_dataset_len(d), 3);
    ck_assert_int_eq(tgc_dataset_num_classes(d), 200);
    ck_assert_int_eq(tgc_dataset_has_class_names(d), 1);
    const char *want[] = {"cub/images/001.A/a1.jpg", "cub/images/002.B/b1.jpg", "cub/images/200.Z/z1.jpg"};
    const int labels[] = {0, 1, 199};
    for (int i = 0; i < 3; i++) {
        ck_assert_msg(strstr(tgc_dataset_path(d, i), want[i]), "%d: %s", i, tgc_dataset_path(d, i));
        ck_assert_int_eq(tgc_dataset_label(d, i), labels[i]);
    }
    char name[512];
    tgc_dataset_sample_name(d, 1, name, sizeof name);
    ck_assert_msg(strstr(name, "(listed at ") && strstr(name, "cub/images.txt:2)"), "%s", name);
    ck_assert_str_eq(tgc_dataset_notes(d), "");
    tgc_dataset_free(d);
    /* test: the one id marked 0; test_mode with split train keeps the training set, with a note */
    d = open_ds(&err, "{type: CUB, data_root: @/cub, split: test}");
    ck_assert_msg(d != NULL, "%s", err.msg);
    ck_assert_int_eq(tgc_dataset_len(d), 1);
    ck_assert_int_eq(tgc_dataset_label(d, 0), 0);
    tgc_dataset_free(d);
    d = open_ds(&err, "{type: CUB, data_root: @/cub, test_mode: true}");
    ck_assert_msg(d != NULL, "%s", err.msg);
    ck_assert_int_eq(tgc_dataset_len(d), 3);
    ck_assert_msg(strstr(tgc_dataset_notes(d), "the training set is used"), "%s", tgc_dataset_notes(d));
    tgc_dataset_free(d);

    /* malformed files: each error names the file and the line */
    cub_files("1 001.A/a1.jpg\n2\n", "1 1\n2 1\n", "1 1\n2 1\n");
    REFUSED(P("cub/images.txt:2: expected two fields 'id value', got 1 fields"), "{type: CUB, data_root: @/cub}");
    cub_files("1 001.A/a1.jpg x\n", "1 1\n", "1 1\n");
    REFUSED(P("cub/images.txt:1: expected two fields", "3 or more"), "{type: CUB, data_root: @/cub}");
    cub_files("1 001.A/a1.jpg\nx2 001.A/a2.jpg\n", "1 1\n2 1\n", "1 1\n2 1\n");
    REFUSED(P("cub/images.txt:2: the id must be a positive integer", "'x2'"), "{type: CUB, data_root: @/cub}");
    cub_files("0 001.A/a1.jpg\n", "1 1\n", "1 1\n");
    REFUSED(P("cub/images.txt:1: the id must be a positive integer"), "{type: CUB, data_root: @/cub}");
    cub_files("1 001.A/a1.jpg\n2 001.A/a2.jpg\n", "1 1\n2 1\n1 2\n", "1 1\n2 1\n");
    REFUSED(P("cub/image_class_labels.txt:3: id 1 repeats line 1"), "{type: CUB, data_root: @/cub}");
    cub_files("1 001.A/a1.jpg\n2 001.A/a2.jpg\n3 002.B/b1.jpg\n", "1 1\n2 1\n", "1 1\n2 1\n3 0\n");
    REFUSED(P("cub/images.txt:3: id 3 is not in", "cub/image_class_labels.txt"), "{type: CUB, data_root: @/cub}");
    cub_files("1 001.A/a1.jpg\n2 001.A/a2.jpg\n", "1 1\n2 1\n", "1 1\n2 1\n9 0\n");
    REFUSED(P("cub/train_test_split.txt:3: id 9 is not in", "cub/images.txt"), "{type: CUB, data_root: @/cub}");
    cub_files("1 001.A/a1.jpg\n2 001.A/a2.jpg\n", "1 1\n2 0\n", "1 1\n2 1\n");
    REFUSED(P("cub/image_class_labels.txt:2: the label must be an integer in 1..200", "got '0'"),
            "{type: CUB, data_root: @/cub}");
    cub_files("1 001.A/a1.jpg\n2 001.A/a2.jpg\n", "1 1\n2 201\n", "1 1\n2 1\n");
    REFUSED(P("cub/image_class_labels.txt:2: the label must be an integer in 1..200"), "{type: CUB, data_root: @/cub}");
    cub_files("1 001.A/a1.jpg\n2 001.A/a2.jpg\n", "1 1\n2 3\n", "1 1\n2 1\n");
    REFUSED(P("image_class_labels.txt:2: the label must be an integer in 1..2"),
            "{type: CUB, data_root: @/cub, metainfo: {classes: [a, b]}}");
    cub_files("1 001.A/a1.jpg\n2 001.A/a2.jpg\n", "1 1\n2 1\n", "1 1\n2 2\n");
    REFUSED(P("cub/train_test_split.txt:2: expected 1 (a training image) or 0 (a test image), got '2'"),
            "{type: CUB, data_root: @/cub}");
    cub_files("1 001.A/a1.jpg\n2 001.A/gone.jpg\n", "1 1\n2 1\n", "1 1\n2 1\n");
    REFUSED(P("cub/images.txt:2: the image ", "cub/images/001.A/gone.jpg does not exist"), "{type: CUB, data_root: @/cub}");
    cub_files(images, "4 200\n3 2\n2 1\n1 1\n", "1 0\n2 0\n3 0\n4 0\n");
    REFUSED(P("no training images"), "{type: CUB, data_root: @/cub}");
    char *p = tgc_asprintf("%s/cub/train_test_split.txt", tmpdir);
    remove(p);
    free(p);
    REFUSED(P("cub/train_test_split.txt"), "{type: CUB, data_root: @/cub}");
    /* settings MMPretrain's CUB does not take */
    REFUSED(P("ds.yaml:1: dataset.ann_file: CUB takes no such setting"), "{type: CUB, data_root: @/cub, ann_file: a.txt}");
    REFUSED(P("dataset.data_prefix: CUB takes no such setting"), "{type: CUB, data_root: @/cub, data_prefix: imgs}");
    REFUSED(P("dataset.split: split must be 'train' or 'test', got 'val'"), "{type: CUB, data_root: @/cub, split: val}");
    REFUSED(P("CUB needs data_root"), "{type: CUB}");
    test_rm_tree(tmpdir);
    free(tmpdir);
}
END_TEST

START_TEST(imagenet_and_custom) {
    tmpdir = test_tmpdir(TGC_BINARY_DIR "/tests", "data_files");
    put("in21k/train/n1/a.JPEG", "x");
    put("in21k/train/n2/b.png", "x");
    put("in21k/meta/train.txt", "n1/a.JPEG 0\nn2/b.png 21841\n");
    tgc_err err;
    /* split train finds meta/train.txt; without class names the count is the largest label + 1 */
    tgc_dataset *d = open_ds(&err, "{type: ImageNet21k, data_root: @/in21k, split: train}");
    ck_assert_msg(d != NULL, "%s", err.msg);
    ck_assert_int_eq(tgc_dataset_len(d), 2);
    ck_assert_int_eq(tgc_dataset_num_classes(d), 21842);
    ck_assert_int_eq(tgc_dataset_has_class_names(d), 0);
    ck_assert_msg(strstr(tgc_dataset_path(d, 1), "in21k/train/n2/b.png"), "%s", tgc_dataset_path(d, 1));
    tgc_dataset_free(d);
    /* an image the annotation file lists but that is missing: named with its line when loaded */
    put("in21k/meta/train.txt", "n1/a.JPEG 0\nn2/gone.png 1\n");
    d = open_ds(&err, "{type: ImageNet21k, data_root: @/in21k, split: train}");
    ck_assert_msg(d != NULL, "%s", err.msg);
    tgc_image img = {0}, scratch = {0};
    tgc_rng rng;
    tgc_rng_init(&rng, 0, 0, 0, TGC_RNG_AUGMENT);
    int32_t label;
    ck_assert_int_eq(tgc_dataset_get(d, 1, &img, &scratch, &rng, &label, &err), -1);
    ck_assert_msg(strstr(err.msg, "in21k/meta/train.txt:2)") && strstr(err.msg, "n2/gone.png"), "%s", err.msg);
    tgc_image_free(&img);
    tgc_image_free(&scratch);
    tgc_dataset_free(d);
    /* malformed annotation lines */
    put("in21k/meta/train.txt", "n1/a.JPEG 0\nn2/b.png\n");
    REFUSED(P("in21k/meta/train.txt:2: expected 'relative/path label'"), "{type: ImageNet21k, data_root: @/in21k, split: train}");
    put("in21k/meta/train.txt", "n1/a.JPEG -1\n");
    REFUSED(P("in21k/meta/train.txt:1: expected 'relative/path label'"), "{type: ImageNet21k, data_root: @/in21k, split: train}");
    put("in21k/meta/train.txt", "n1/a.JPEG 0\nn1/c.bmp 0\n");
    REFUSED(P("in21k/meta/train.txt:2: 'n1/c.bmp': tgc decodes JPEG and PNG images only"),
            "{type: ImageNet21k, data_root: @/in21k, split: train}");
    REFUSED(P("dataset.multi_label: ImageNet21k's multi_label is not implemented"),
            "{type: ImageNet21k, data_root: @/in21k, multi_label: true}");
    REFUSED(P("dataset.split: split must be one of 'train', got 'val'"), "{type: ImageNet21k, data_root: @/in21k, split: val}");
    /* ImageNet: the test split has no labels; a folder scan must find its 1000 classes unless names are given */
    REFUSED(P("dataset.split: ImageNet's test split has no labels"), "{type: ImageNet, data_root: @/in21k, split: test}");
    REFUSED(P("train has 2 class subfolders but the dataset has 1000 class names", "metainfo.classes"),
            "{type: ImageNet, data_root: @/in21k, data_prefix: train}");
    d = open_ds(&err, "{type: ImageNet, data_root: @/in21k, data_prefix: train, metainfo: {classes: [x, y]}}");
    ck_assert_msg(d != NULL, "%s", err.msg);
    ck_assert_int_eq(tgc_dataset_len(d), 2);
    tgc_dataset_free(d);
    /* CustomDataset: classes from a file (one name per line), undecodable formats, refused settings */
    put("in21k/names.txt", "x\ny\nz\n");
    put("in21k/meta/train.txt", "n1/a.JPEG 0\n");
    d = open_ds(&err, "{type: CustomDataset, data_root: @/in21k, ann_file: meta/train.txt, classes: @/in21k/names.txt}");
    ck_assert_msg(d != NULL, "%s", err.msg);
    ck_assert_int_eq(tgc_dataset_num_classes(d), 3);
    tgc_dataset_free(d);
    REFUSED(P("the class names file", "nowhere.txt"), "{type: CustomDataset, data_root: @/in21k, classes: @/nowhere.txt}");
    put("in21k/train/n2/c.bmp", "x");
    REFUSED(P("in21k/train/n2/c.bmp: tgc decodes JPEG and PNG images only", "extensions"),
            "{type: CustomDataset, data_root: @/in21k, data_prefix: train}");
    d = open_ds(&err, "{type: CustomDataset, data_root: @/in21k, data_prefix: train, extensions: [.jpeg, .PNG]}");
    ck_assert_msg(d != NULL, "%s", err.msg);
    ck_assert_int_eq(tgc_dataset_len(d), 2);
    tgc_dataset_free(d);
    REFUSED(P("dataset.split: CustomDataset takes no split"), "{type: CustomDataset, data_root: @/in21k, split: train}");
    REFUSED(P("dataset.with_label: with_label false"), "{type: CustomDataset, data_root: @/in21k, with_label: false}");
    REFUSED(P("dataset.extensions: extensions must be a list"), "{type: CustomDataset, data_root: @/in21k, extensions: .png}");
    REFUSED(P("found 0 image files"), "{type: CustomDataset, data_root: @/in21k, data_prefix: meta}");
    test_rm_tree(tmpdir);
    free(tmpdir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("data_files");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, cub_lists_and_errors);
    tcase_add_test(tc, imagenet_and_custom);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
