/* tests/unit/test_train_indices.c - the datasets' `indices` (MMEngine BaseDataset): first N, last N, a list. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/data/data.h"
#include "test_util.h"

static char *tmpdir;

static void write_bytes(const char *name, const uint8_t *d, size_t n) {
    char *path = tgc_asprintf("%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(d, 1, n, f), n);
    fclose(f);
    free(path);
}

/* 6 images of 2x2 whose pixels all equal their index; label i % 10. */
static void make_mnist(void) {
    tmpdir = test_tmpdir(TGC_BINARY_DIR "/tests", "train_indices");
    uint8_t im[16 + 24], lb[8 + 6];
    test_put_be32(im, 0x803), test_put_be32(im + 4, 6), test_put_be32(im + 8, 2), test_put_be32(im + 12, 2);
    for (int i = 0; i < 24; i++) im[16 + i] = (uint8_t)(i / 4);
    test_put_be32(lb, 0x801), test_put_be32(lb + 4, 6);
    for (int i = 0; i < 6; i++) lb[8 + i] = (uint8_t)((i * 3) % 10);
    write_bytes("train-images-idx3-ubyte", im, sizeof im);
    write_bytes("train-labels-idx1-ubyte", lb, sizeof lb);
}

static tgc_dataset *open_with(const char *indices, tgc_err *err) {
    char *yaml = tgc_asprintf("dataset: {type: FashionMNIST, data_root: '%s', indices: %s}\n", tmpdir, indices);
    tgc_cfg *c = tgc_cfg_parse(yaml, strlen(yaml), "i.yaml", err);
    ck_assert_msg(c != NULL, "%s", err->msg);
    tgc_dataset *d = tgc_dataset_open(tgc_cfg_get(c, "dataset"), err);
    tgc_cfg_free(c);
    free(yaml);
    return d;
}

/* The pixel value (= original index) of sample i. */
static int pixel(tgc_dataset *d, int i) {
    tgc_image img = {0}, scratch = {0};
    tgc_rng rng;
    tgc_rng_init(&rng, 1, 0, (uint32_t)i, TGC_RNG_AUGMENT);
    int32_t label;
    tgc_err err;
    ck_assert_msg(tgc_dataset_get(d, i, &img, &scratch, &rng, &label, &err) == 0, "%s", err.msg);
    int v = img.data[0];
    ck_assert_int_eq(label, (v * 3) % 10);
    tgc_image_free(&img);
    tgc_image_free(&scratch);
    return v;
}

START_TEST(indices_forms) {
    make_mnist();
    tgc_err err;
    tgc_dataset *d = open_with("4", &err);
    ck_assert_msg(d != NULL, "%s", err.msg);
    ck_assert_int_eq(tgc_dataset_len(d), 4);
    ck_assert_int_eq(pixel(d, 3), 3);
    tgc_dataset_free(d);
    d = open_with("-2", &err); /* the last two */
    ck_assert_msg(d != NULL, "%s", err.msg);
    ck_assert_int_eq(tgc_dataset_len(d), 2);
    ck_assert_int_eq(pixel(d, 0), 4);
    ck_assert_int_eq(tgc_dataset_label(d, 1), 5);
    tgc_dataset_free(d);
    d = open_with("100", &err); /* more than there are: all, like a Python slice */
    ck_assert_msg(d != NULL, "%s", err.msg);
    ck_assert_int_eq(tgc_dataset_len(d), 6);
    tgc_dataset_free(d);
    d = open_with("[5, 0, 5]", &err);
    ck_assert_msg(d != NULL, "%s", err.msg);
    ck_assert_int_eq(tgc_dataset_len(d), 3);
    ck_assert_int_eq(pixel(d, 0), 5);
    ck_assert_int_eq(pixel(d, 1), 0);
    ck_assert_int_eq(pixel(d, 2), 5);
    tgc_dataset_free(d);
    ck_assert_ptr_null(open_with("[1, 6]", &err));
    ck_assert_msg(strstr(err.msg, "i.yaml:1") && strstr(err.msg, "dataset.indices[1]") && strstr(err.msg, "0..5"),
                  "%s", err.msg);
    ck_assert_ptr_null(open_with("0", &err));
    ck_assert_msg(strstr(err.msg, "selects no samples"), "%s", err.msg);
    ck_assert_ptr_null(open_with("abc", &err));
    ck_assert_msg(strstr(err.msg, "indices must be an integer or a list"), "%s", err.msg);
    test_rm_tree(tmpdir);
    free(tmpdir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("train_indices");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, indices_forms);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
