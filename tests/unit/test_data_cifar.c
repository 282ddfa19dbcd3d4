/* tests/unit/test_data_cifar.c - CIFAR python-version batches: the pickle reader's numpy arrays, the batch and
 * meta readers (every truncation and malformed layouts refused by file and offset) and CIFAR10/100 from config. */
#define _GNU_SOURCE
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/data/data.h"
#include "runtime/io/pickle.h"
#include "test_util.h"

/* Options of the batch written by batch(): what to break. */
typedef struct {
    int fortran;         /* is_fortran True */
    const char *dtype;   /* "u1" unless set */
    int short_data;      /* one byte fewer than the shape */
    int label_bad;       /* a label of 10 */
    const char *global;  /* replaces numpy.core.multiarray\n_reconstruct */
} opts;

#define LIT(b, s) tgc_buf_put((b), (s), sizeof(s) - 1) /* a literal's bytes, NULs included */

static void s_(tgc_buf *b, const char *s) { /* SHORT_BINSTRING (a Python 2 str) */
    tgc_buf_u8(b, 'U');
    tgc_buf_u8(b, (uint8_t)strlen(s));
    tgc_buf_put(b, s, strlen(s));
}

/* A python-version batch as Python 2's cPickle writes it: n images whose byte j of row i is (i * 31 + j) & 255,
 * labels (i * 3) % 10 under key. */
static uint8_t *batch(int n, const char *key, opts o, size_t *len) {
    tgc_buf b = {0};
    LIT(&b, "\x80\x02}q\x01(");
    s_(&b, "data");
    const char *g = o.global ? o.global : "numpy.core.multiarray\n_reconstruct\n";
    tgc_buf_u8(&b, 'c');
    tgc_buf_put(&b, g, strlen(g));
    LIT(&b, "cnumpy\nndarray\nK\x00\x85U\x01" "b\x87R(K\x01");
    tgc_buf_u8(&b, 'K');
    tgc_buf_u8(&b, (uint8_t)n);
    tgc_buf_u8(&b, 'M');
    tgc_buf_u16(&b, 3072);
    LIT(&b, "\x86" "cnumpy\ndtype\n");
    s_(&b, o.dtype ? o.dtype : "u1");
    LIT(&b, "K\x00K\x01\x87R(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb");
    tgc_buf_u8(&b, o.fortran ? 0x88 : 0x89);
    size_t raw = (size_t)n * 3072 - (o.short_data ? 1 : 0);
    tgc_buf_u8(&b, 'T');
    tgc_buf_u32(&b, (uint32_t)raw);
    for (size_t k = 0; k < raw; k++) tgc_buf_u8(&b, (uint8_t)(((k / 3072) * 31 + k % 3072) & 255));
    LIT(&b, "tb");
    s_(&b, key);
    LIT(&b, "](");
    for (int i = 0; i < n; i++) {
        tgc_buf_u8(&b, 'K');
        tgc_buf_u8(&b, (uint8_t)(o.label_bad && i == n - 1 ? 10 : (i * 3) % 10));
    }
    LIT(&b, "eu.");
    *len = b.len;
    return b.data;
}

static uint8_t *meta(const char *key, int n, size_t *len) {
    tgc_buf b = {0};
    LIT(&b, "\x80\x02}(");
    s_(&b, key);
    LIT(&b, "](");
    for (int i = 0; i < n; i++) s_(&b, "name");
    LIT(&b, "eu.");
    *len = b.len;
    return b.data;
}

START_TEST(numpy_array_and_batch) {
    size_t len;
    uint8_t *d = batch(3, "labels", (opts){0}, &len);
    tgc_err err;
    tgc_pickle *p = tgc_pickle_read(d, len, "b.pkl", &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    const tgc_pk *a = tgc_pk_dict_get(tgc_pickle_root(p), "data");
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(a->kind, TGC_PK_NDARRAY);
    ck_assert_str_eq(a->s, "u1");
    ck_assert_int_eq(a->rank, 2);
    ck_assert_int_eq(a->size[0], 3);
    ck_assert_int_eq(a->size[1], 3072);
    ck_assert_str_eq(tgc_pk_describe(a), "numpy.ndarray");
    tgc_pickle_free(p);

    uint8_t *px = NULL;
    int32_t *lab = NULL;
    int n = 0;
    ck_assert_msg(tgc_cifar_read_batch(d, len, "b.pkl", "labels", 10, &px, &lab, &n, &err) == 0, "%s", err.msg);
    ck_assert_msg(tgc_cifar_read_batch(d, len, "b.pkl", "labels", 10, &px, &lab, &n, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(n, 6); /* appended */
    /* HWC: pixel (y, x) channel c of image i is row byte c * 1024 + y * 32 + x */
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(lab[i], ((i % 3) * 3) % 10);
        for (int y = 0; y < 32; y += 7)
            for (int x = 0; x < 32; x += 5)
                for (int c = 0; c < 3; c++)
                    ck_assert_uint_eq(px[(size_t)i * 3072 + (size_t)(y * 32 + x) * 3 + c],
                                      (uint8_t)(((i % 3) * 31 + c * 1024 + y * 32 + x) & 255));
    }
    free(px);
    free(lab);
    /* A wrong label key */
    px = NULL;
    lab = NULL;
    n = 0;
    ck_assert_int_eq(tgc_cifar_read_batch(d, len, "b.pkl", "fine_labels", 100, &px, &lab, &n, &err), -1);
    ck_assert_msg(strstr(err.msg, "b.pkl: no 'fine_labels'"), "%s", err.msg);
    free(d);
}
END_TEST

/* Every proper prefix of a valid batch is refused with a message naming the file and an offset. */
START_TEST(every_truncation_refused) {
    size_t len;
    uint8_t *d = batch(1, "labels", (opts){0}, &len);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *c = tgc_malloc(cut + 1);
        memcpy(c, d, cut);
        uint8_t *px = NULL;
        int32_t *lab = NULL;
        int n = 0;
        tgc_err err;
        ck_assert_msg(tgc_cifar_read_batch(c, cut, "t.pkl", "labels", 10, &px, &lab, &n, &err) == -1, "cut %zu", cut);
        ck_assert_msg(!strncmp(err.msg, "t.pkl: pickle offset ", 21), "cut %zu: %s", cut, err.msg);
        ck_assert_ptr_null(px);
        free(c);
    }
    free(d);
}
END_TEST

static void refused(opts o, const char *key, const char *want) {
    size_t len;
    uint8_t *d = batch(2, key, o, &len);
    uint8_t *px = NULL;
    int32_t *lab = NULL;
    int n = 0;
    tgc_err err;
    ck_assert_int_eq(tgc_cifar_read_batch(d, len, "m.pkl", "labels", 10, &px, &lab, &n, &err), -1);
    ck_assert_msg(strstr(err.msg, want) && !strncmp(err.msg, "m.pkl: ", 7), "want '%s', got: %s", want, err.msg);
    ck_assert_ptr_null(px);
    free(d);
}

START_TEST(malformed_refused) {
    refused((opts){.fortran = 1}, "labels", "'data' is a numpy.ndarray in Fortran order, at pickle offset 6277");
    refused((opts){.dtype = "<f4"}, "labels", "'data' is a numpy.ndarray of numpy.dtype(<f4), at pickle offset ");
    refused((opts){.short_data = 1}, "labels", "ndarray data length does not match its shape");
    refused((opts){.label_bad = 1}, "labels", "'labels'[1] is not an integer in 0..9");
    refused((opts){.global = "os\nsystem\n"}, "labels", "'data' is a os.system");
    refused((opts){.global = "numpy.core.multiarray\nscalar\n"}, "labels", "'data' is a numpy.core.multiarray.scalar");
    refused((opts){0}, "coarse", "no 'labels' in the pickled dict");
    /* An opcode outside the reader's list, at its offset */
    size_t len;
    uint8_t *d = batch(1, "labels", (opts){0}, &len);
    d[2] = 'i'; /* INST in place of EMPTY_DICT */
    tgc_err err;
    uint8_t *px = NULL;
    int32_t *lab = NULL;
    int n = 0;
    ck_assert_int_eq(tgc_cifar_read_batch(d, len, "o.pkl", "labels", 10, &px, &lab, &n, &err), -1);
    ck_assert_msg(strstr(err.msg, "o.pkl: pickle offset 3: opcode refused or unknown: 0x69"), "%s", err.msg);
    free(d);
}
END_TEST

START_TEST(meta_names) {
    size_t len;
    uint8_t *d = meta("label_names", 10, &len);
    int n;
    tgc_err err;
    ck_assert_msg(tgc_cifar_read_meta(d, len, "meta", "label_names", &n, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(n, 10);
    ck_assert_int_eq(tgc_cifar_read_meta(d, len, "meta", "fine_label_names", &n, &err), -1);
    ck_assert_msg(strstr(err.msg, "meta: no 'fine_label_names'"), "%s", err.msg);
    ck_assert_int_eq(tgc_cifar_read_meta(d, len - 4, "meta", "label_names", &n, &err), -1);
    free(d);
}
END_TEST

static void put(const char *dir, const char *name, const uint8_t *d, size_t len) {
    char *p = tgc_asprintf("%s/%s", dir, name);
    tgc_err err;
    ck_assert_msg(tgc_write_file_atomic(p, d, len, &err) == 0, "%s", err.msg);
    free(p);
}

START_TEST(cifar100_from_config) {
    char *root = test_tmpdir(TGC_BINARY_DIR "/tests", "data_cifar");
    char *dir = tgc_asprintf("%s/cifar-100-python", root);
    tgc_err err;
    ck_assert_int_eq(tgc_mkdir_p(dir, &err), 0);
    size_t len;
    uint8_t *d = batch(5, "fine_labels", (opts){0}, &len);
    put(dir, "train", d, len);
    free(d);
    char *yaml = tgc_asprintf("dataset: {type: CIFAR100, data_root: %s/, split: train, pipeline: [{type: PackInputs}]}\n"
                              "test: {type: mmpretrain.CIFAR100, data_root: %s, split: test, test_mode: true}\n"
                              "bad: {type: CIFAR10, data_root: %s, split: val}\n",
                              root, root, root);
    tgc_cfg *cfg = test_cfg_parse(yaml, "test.yaml");
    tgc_dataset *ds = tgc_dataset_open(tgc_cfg_get(cfg, "dataset"), &err);
    ck_assert_msg(ds != NULL, "%s", err.msg);
    ck_assert_int_eq(tgc_dataset_len(ds), 5);
    ck_assert_int_eq(tgc_dataset_num_classes(ds), 100);
    tgc_image img = {0}, scratch = {0};
    tgc_rng rng;
    tgc_rng_init(&rng, 0, 0, 0, TGC_RNG_AUGMENT);
    int32_t label;
    ck_assert_msg(tgc_dataset_get(ds, 4, &img, &scratch, &rng, &label, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(label, 2);
    ck_assert_int_eq(img.h, 32);
    ck_assert_int_eq(img.w, 32);
    ck_assert_int_eq(img.c, 3);
    ck_assert_uint_eq(img.data[(1 * 32 + 2) * 3 + 2], (uint8_t)((4 * 31 + 2048 + 32 + 2) & 255));
    tgc_image_free(&img);
    tgc_image_free(&scratch);
    tgc_dataset_free(ds);
    /* split test: its file is missing, named with the archive to extract */
    ck_assert_ptr_null(tgc_dataset_open(tgc_cfg_get(cfg, "test"), &err));
    ck_assert_msg(strstr(err.msg, "cifar-100-python/test does not exist: extract cifar-100-python.tar.gz"), "%s", err.msg);
    ck_assert_ptr_null(tgc_dataset_open(tgc_cfg_get(cfg, "bad"), &err));
    ck_assert_msg(strstr(err.msg, "split must be 'train' or 'test', got 'val'"), "%s", err.msg);
    /* a meta file naming 20 classes is refused */
    d = meta("fine_label_names", 20, &len);
    put(dir, "meta", d, len);
    free(d);
    ck_assert_ptr_null(tgc_dataset_open(tgc_cfg_get(cfg, "dataset"), &err));
    ck_assert_msg(strstr(err.msg, "cifar-100-python/meta: 20 class names, expected 100"), "%s", err.msg);
    tgc_cfg_free(cfg);
    free(yaml);
    free(dir);
    test_rm_tree(root);
    free(root);
}
END_TEST

int main(void) {
    Suite *s = suite_create("data_cifar");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, numpy_array_and_batch);
    tcase_add_test(tc, every_truncation_refused);
    tcase_add_test(tc, malformed_refused);
    tcase_add_test(tc, meta_names);
    tcase_add_test(tc, cifar100_from_config);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
