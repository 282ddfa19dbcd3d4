/* tests/unit/test_data_idx.c - IDX parsing (plain, gzip, corrupt) and the MNIST/FashionMNIST datasets. */
#define _GNU_SOURCE
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "runtime/data/data.h"
#include "test_dataset.h"
#include "test_util.h"

static char *tmpdir;

static void make_tmpdir(void) { tmpdir = test_tmpdir(TGC_BINARY_DIR "/tests", "data_idx"); }

static void remove_tmpdir(void) {
    test_rm_tree(tmpdir);
    free(tmpdir);
}

/* Writes bytes to dir/name, gzipped when gz. */
static char *write_file(const char *name, const uint8_t *data, size_t len, int gz) {
    char *path = tgc_asprintf("%s/%s", tmpdir, name);
    if (gz) {
        gzFile f = gzopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(gzwrite(f, data, (unsigned)len), (int)len);
        ck_assert_int_eq(gzclose(f), Z_OK);
    } else {
        tgc_err err;
        ck_assert_msg(tgc_write_file_atomic(path, data, len, &err) == 0, "%s", err.msg);
    }
    return path;
}

/* An IDX image file of n images (rows x cols) whose pixel j of image i is (i * 7 + j) & 255, and its labels
 * i % 10. Returns the byte lengths through the buffers. */
static uint8_t *idx_images(int n, int rows, int cols, size_t *len) {
    *len = 16 + (size_t)n * rows * cols;
    uint8_t *b = tgc_malloc(*len);
    test_put_be32(b, 0x803);
    test_put_be32(b + 4, (uint32_t)n);
    test_put_be32(b + 8, (uint32_t)rows);
    test_put_be32(b + 12, (uint32_t)cols);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < rows * cols; j++) b[16 + (size_t)i * rows * cols + j] = (uint8_t)((i * 7 + j) & 255);
    return b;
}

static uint8_t *idx_labels(int n, size_t *len) {
    *len = 8 + (size_t)n;
    uint8_t *b = tgc_malloc(*len);
    test_put_be32(b, 0x801);
    test_put_be32(b + 4, (uint32_t)n);
    for (int i = 0; i < n; i++) b[8 + i] = (uint8_t)(i % 10);
    return b;
}

static void check_images(const char *path, int n, int rows, int cols) {
    tgc_err err;
    int cnt, r, c;
    uint8_t *px;
    ck_assert_msg(tgc_idx_read_images(path, &cnt, &r, &c, &px, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(cnt, n);
    ck_assert_int_eq(r, rows);
    ck_assert_int_eq(c, cols);
    ck_assert_uint_eq(px[0], 0);
    ck_assert_uint_eq(px[(size_t)2 * rows * cols + 5], (2 * 7 + 5) & 255);
    ck_assert_uint_eq(px[(size_t)n * rows * cols - 1], ((n - 1) * 7 + rows * cols - 1) & 255);
    free(px);
}

START_TEST(idx_plain_and_gzip) {
    make_tmpdir();
    size_t li, ll;
    uint8_t *im = idx_images(13, 5, 4, &li), *lb = idx_labels(13, &ll);
    for (int gz = 0; gz < 2; gz++) {
        char *p = write_file(gz ? "im.gz" : "im", im, li, gz);
        check_images(p, 13, 5, 4);
        free(p);
        p = write_file(gz ? "lb.gz" : "lb", lb, ll, gz);
        tgc_err err;
        int n;
        int32_t *labels;
        ck_assert_msg(tgc_idx_read_labels(p, 10, &n, &labels, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(n, 13);
        ck_assert_int_eq(labels[12], 2);
        free(labels);
        /* Labels must be below the class count. */
        ck_assert_int_eq(tgc_idx_read_labels(p, 2, &n, &labels, &err), -1);
        ck_assert_msg(strstr(err.msg, "label 2 of sample 2 is out of range"), "%s", err.msg);
        free(p);
    }
    free(im);
    free(lb);
    remove_tmpdir();
}
END_TEST

static void expect_image_error(const uint8_t *data, size_t len, int gz, const char *want) {
    char *p = write_file(gz ? "bad.gz" : "bad", data, len, gz);
    tgc_err err;
    int n, r, c;
    uint8_t *px = NULL;
    ck_assert_int_eq(tgc_idx_read_images(p, &n, &r, &c, &px, &err), -1);
    ck_assert_msg(strstr(err.msg, want) && strstr(err.msg, p), "wanted '%s' and the path in: %s", want, err.msg);
    ck_assert_ptr_null(px);
    free(p);
}

START_TEST(idx_corruption_refused) {
    make_tmpdir();
    size_t len;
    uint8_t *im = idx_images(6, 3, 3, &len);
    for (int gz = 0; gz < 2; gz++) {
        expect_image_error(im, len - 1, gz, "truncated: expected 54 bytes of pixels, found 53");
        expect_image_error(im, 10, gz, "truncated: the IDX header needs 16 bytes");
        uint8_t *longer = tgc_malloc(len + 1);
        memcpy(longer, im, len);
        longer[len] = 1;
        expect_image_error(longer, len + 1, gz, "trailing bytes");
        free(longer);
        im[3] = 0x01; /* a label file's magic where images are expected */
        expect_image_error(im, len, gz, "wrong magic number 0x00000801 (expected 0x00000803");
        im[3] = 0x03;
        test_put_be32(im + 8, 0);
        expect_image_error(im, len, gz, "implausible IDX image dimensions 6 x 0 x 3");
        test_put_be32(im + 8, 3);
        test_put_be32(im + 4, 0x7fffffff); /* claims ~580 GB: refused without allocating it */
        expect_image_error(im, len, gz, "implausible");
        test_put_be32(im + 4, 6);
    }
    /* A gzip stream cut in the middle. */
    char *p = write_file("cut.gz", im, len, 1);
    uint8_t *gzdata;
    size_t gzlen;
    tgc_err err;
    ck_assert_int_eq(tgc_read_file(p, 1 << 20, &gzdata, &gzlen, &err), 0);
    char *q = write_file("cut2.gz", gzdata, gzlen / 2, 0);
    int n, r, c;
    uint8_t *px;
    ck_assert_int_eq(tgc_idx_read_images(q, &n, &r, &c, &px, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, q));
    free(gzdata);
    free(p);
    free(q);
    ck_assert_int_eq(tgc_idx_read_images("/nonexistent/x-idx3-ubyte", &n, &r, &c, &px, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/x-idx3-ubyte: cannot open"));
    free(im);
    remove_tmpdir();
}
END_TEST

START_TEST(mnist_dataset_from_config) {
    make_tmpdir();
    size_t li, ll;
    uint8_t *im = idx_images(12, 4, 6, &li), *lb = idx_labels(12, &ll);
    free(write_file("train-images-idx3-ubyte.gz", im, li, 1));
    free(write_file("train-labels-idx1-ubyte.gz", lb, ll, 1));
    free(write_file("t10k-images-idx3-ubyte", im, li - 4 * 6, 0)); /* 11 images ... */
    uint8_t *im_count = tgc_malloc(li);
    memcpy(im_count, im, li);
    test_put_be32(im_count + 4, 11);
    free(write_file("t10k-images-idx3-ubyte", im_count, li - 4 * 6, 0));
    free(write_file("t10k-labels-idx1-ubyte", lb, ll, 0)); /* ... but 12 labels */
    char *yaml = tgc_asprintf("dataset:\n  type: mmpretrain.FashionMNIST\n  data_root: %s\n  test_mode: false\n"
                              "  pipeline: [{type: PackInputs}]\n", tmpdir);
    tgc_cfg *cfg = test_cfg_parse(yaml, "test.yaml");
    tgc_err err;
    tgc_dataset *d = tgc_dataset_open(tgc_cfg_get(cfg, "dataset"), &err);
    ck_assert_msg(d != NULL, "%s", err.msg);
    ck_assert_int_eq(tgc_dataset_len(d), 12);
    ck_assert_int_eq(tgc_dataset_num_classes(d), 10);
    tgc_image img = {0}, scratch = {0};
    tgc_rng rng;
    tgc_rng_init(&rng, 0, 0, 0, TGC_RNG_AUGMENT);
    int32_t label;
    ck_assert_msg(tgc_dataset_get(d, 3, &img, &scratch, &rng, &label, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(label, 3);
    ck_assert_int_eq(img.h, 4);
    ck_assert_int_eq(img.w, 6);
    ck_assert_int_eq(img.c, 1);
    ck_assert_uint_eq(img.data[1 * 6 + 2], (3 * 7 + 8) & 255);
    ck_assert_int_eq(tgc_dataset_get(d, 12, &img, &scratch, &rng, &label, &err), -1);
    tgc_dataset_free(d);
    tgc_cfg_free(cfg);
    free(yaml);

    /* test_mode picks the t10k pair, whose counts disagree. */
    yaml = tgc_asprintf("dataset: {type: MNIST, data_prefix: %s, test_mode: true}\n", tmpdir);
    cfg = test_cfg_parse(yaml, "test.yaml");
    ck_assert_ptr_null(tgc_dataset_open(tgc_cfg_get(cfg, "dataset"), &err));
    ck_assert_msg(strstr(err.msg, "has 11 images but") && strstr(err.msg, "has 12 labels"), "%s", err.msg);
    tgc_cfg_free(cfg);
    free(yaml);

    /* Missing files and unknown types are named. */
    yaml = tgc_asprintf("dataset: {type: MNIST, data_root: %s/nowhere}\nd2: {type: STL10, data_root: x}\n", tmpdir);
    cfg = test_cfg_parse(yaml, "test.yaml");
    ck_assert_ptr_null(tgc_dataset_open(tgc_cfg_get(cfg, "dataset"), &err));
    ck_assert_msg(strstr(err.msg, "nowhere/train-images-idx3-ubyte.gz") && strstr(err.msg, "test.yaml:1"), "%s", err.msg);
    ck_assert_ptr_null(tgc_dataset_open(tgc_cfg_get(cfg, "d2"), &err));
    ck_assert_msg(strstr(err.msg, "d2.type") && strstr(err.msg, "unsupported dataset type 'STL10'"), "%s", err.msg);
    tgc_cfg_free(cfg);
    free(yaml);
    tgc_image_free(&img);
    tgc_image_free(&scratch);
    free(im);
    free(im_count);
    free(lb);
    remove_tmpdir();
}
END_TEST

START_TEST(real_fashion_mnist) {
    FASHION_REQUIRED();
    /* Reference values computed once with /usr/bin/python3 from the same .gz files (numpy is not installed
     * there, so with the gzip module and sum() over the bytes): sum of the 784 pixels of sample 0 and of the
     * last sample, label of the last sample. train: 76247, 16684, 5; t10k: 33456, 24390, 5. */
    static const struct { int test; int n; int sum0, sum_last, label_last; } ref[2] = {
        {0, 60000, 76247, 16684, 5},
        {1, 10000, 33456, 24390, 5},
    };
    for (int k = 0; k < 2; k++) {
        char *yaml = tgc_asprintf("dataset: {type: FashionMNIST, data_root: %s, test_mode: %s}\n", FASHION_DIR,
                                  ref[k].test ? "true" : "false");
        tgc_cfg *cfg = test_cfg_parse(yaml, "test.yaml");
        tgc_err err;
        double t0 = tgc_now();
        tgc_dataset *d = tgc_dataset_open(tgc_cfg_get(cfg, "dataset"), &err);
        ck_assert_msg(d != NULL, "%s", err.msg);
        printf("FashionMNIST %s: %d samples read in %.3f s\n", ref[k].test ? "t10k" : "train", tgc_dataset_len(d),
               tgc_now() - t0);
        ck_assert_int_eq(tgc_dataset_len(d), ref[k].n);
        ck_assert_int_eq(tgc_dataset_label(d, 0), 9);
        ck_assert_int_eq(tgc_dataset_label(d, ref[k].n - 1), ref[k].label_last);
        tgc_image img = {0}, scratch = {0};
        tgc_rng rng;
        int32_t label;
        int idx[2] = {0, ref[k].n - 1}, want[2] = {ref[k].sum0, ref[k].sum_last};
        for (int j = 0; j < 2; j++) {
            tgc_rng_init(&rng, 0, 0, 0, TGC_RNG_AUGMENT);
            ck_assert_int_eq(tgc_dataset_get(d, idx[j], &img, &scratch, &rng, &label, &err), 0);
            ck_assert_int_eq(img.h * img.w * img.c, 784);
            long sum = 0;
            for (int i = 0; i < 784; i++) sum += img.data[i];
            ck_assert_int_eq(sum, want[j]);
        }
        tgc_image_free(&img);
        tgc_image_free(&scratch);
        tgc_dataset_free(d);
        tgc_cfg_free(cfg);
        free(yaml);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("data_idx");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, idx_plain_and_gzip);
    tcase_add_test(tc, idx_corruption_refused);
    tcase_add_test(tc, mnist_dataset_from_config);
    tcase_add_test(tc, real_fashion_mnist);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return fashion_status(nf);
}
