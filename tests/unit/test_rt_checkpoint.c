/* tests/unit/test_rt_checkpoint.c - checkpoint round trip, refusal of damaged files, atomic saves, last_checkpoint. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/io/checkpoint.h"
#include "test_util.h"

#define PLAN 0xC0FFEE11u

static float w_conv[2 * 3];
static int64_t w_steps[4] = {1, -2, 3, 1LL << 40};
static uint8_t w_flag = 7;

static tgc_ckpt_writer *sample_writer(void) {
    for (int i = 0; i < 6; i++) w_conv[i] = 0.5f * (float)i - 1.0f;
    tgc_err err = {{0}};
    tgc_ckpt_writer *w = tgc_ckpt_writer_new(PLAN);
    tgc_shape s23 = tgc_shape2(2, 3), s4 = tgc_shape1(4), s0 = tgc_shape0(), sz = tgc_shape2(0, 5);
    ck_assert_int_eq(tgc_ckpt_add(w, "backbone.conv1.weight", TGC_F32, &s23, w_conv, &err), 0);
    ck_assert_int_eq(tgc_ckpt_add(w, "optim.step", TGC_I64, &s4, w_steps, &err), 0);
    ck_assert_int_eq(tgc_ckpt_add(w, "flag", TGC_U8, &s0, &w_flag, &err), 0);
    ck_assert_int_eq(tgc_ckpt_add(w, "empty", TGC_F32, &sz, NULL, &err), 0);
    tgc_ckpt_set_int(w, "epoch", 3);
    tgc_ckpt_set_int(w, "iter", 1407);
    tgc_ckpt_set_str(w, "best_metric", "accuracy/top1");
    tgc_ckpt_set_float(w, "best_value", 91.23);
    tgc_ckpt_set_int(w, "epoch", 4); /* replaces */
    return w;
}

static uint8_t *sample_bytes(size_t *len) {
    tgc_ckpt_writer *w = sample_writer();
    tgc_buf b = {0};
    tgc_ckpt_serialize(w, &b);
    tgc_ckpt_writer_free(w);
    *len = b.len;
    return b.data;
}

static void check_sample(const tgc_ckpt *c) {
    tgc_err err = {{0}};
    ck_assert_uint_eq(tgc_ckpt_plan_checksum(c), PLAN);
    ck_assert_int_eq(tgc_ckpt_n_tensors(c), 4);
    float conv[6] = {0};
    tgc_shape s23 = tgc_shape2(2, 3);
    ck_assert_int_eq(tgc_ckpt_copy(c, "backbone.conv1.weight", TGC_F32, &s23, conv, sizeof conv, &err), 0);
    ck_assert_int_eq(memcmp(conv, w_conv, sizeof conv), 0);
    int64_t steps[4];
    tgc_shape s4 = tgc_shape1(4);
    ck_assert_int_eq(tgc_ckpt_copy(c, "optim.step", TGC_I64, &s4, steps, sizeof steps, &err), 0);
    ck_assert(steps[3] == (1LL << 40) && steps[1] == -2);
    const tgc_ckpt_tensor *t = tgc_ckpt_find(c, "flag");
    ck_assert(t && t->shape.rank == 0 && t->bytes == 1 && *(const uint8_t *)tgc_ckpt_data(c, t) == 7);
    for (int i = 0; i < 4; i++) ck_assert_uint_eq(tgc_ckpt_tensor_at(c, i)->offset % TGC_CKPT_ALIGN, 0);
    ck_assert_ptr_null(tgc_ckpt_find(c, "nope"));
    /* lookups that must fail: absent, wrong dtype, wrong shape, too small a destination */
    ck_assert_int_eq(tgc_ckpt_copy(c, "nope", TGC_F32, &s23, conv, sizeof conv, &err), -1);
    ck_assert_msg(strstr(err.msg, "no tensor 'nope'"), "%s", err.msg);
    ck_assert_int_eq(tgc_ckpt_copy(c, "backbone.conv1.weight", TGC_F16, &s23, conv, sizeof conv, &err), -1);
    ck_assert_msg(strstr(err.msg, "f32[2,3]") && strstr(err.msg, "f16[2,3]"), "%s", err.msg);
    tgc_shape s32 = tgc_shape2(3, 2);
    ck_assert_int_eq(tgc_ckpt_copy(c, "backbone.conv1.weight", TGC_F32, &s32, conv, sizeof conv, &err), -1);
    ck_assert_int_eq(tgc_ckpt_copy(c, "backbone.conv1.weight", TGC_F32, &s23, conv, 8, &err), -1);
    int64_t iv;
    double fv;
    const char *sv;
    ck_assert_int_eq(tgc_ckpt_get_int(c, "epoch", -1, &iv, &err), 1);
    ck_assert_int_eq(iv, 4);
    ck_assert_int_eq(tgc_ckpt_get_int(c, "iter", -1, &iv, &err), 1);
    ck_assert_int_eq(iv, 1407);
    ck_assert_int_eq(tgc_ckpt_get_int(c, "absent", 9, &iv, &err), 0);
    ck_assert_int_eq(iv, 9);
    ck_assert_int_eq(tgc_ckpt_get_float(c, "best_value", 0, &fv, &err), 1);
    ck_assert(fv == 91.23);
    ck_assert_int_eq(tgc_ckpt_get_float(c, "iter", 0, &fv, &err), 1); /* ints read as floats */
    ck_assert(fv == 1407.0);
    ck_assert_int_eq(tgc_ckpt_get_str(c, "best_metric", NULL, &sv, &err), 1);
    ck_assert_str_eq(sv, "accuracy/top1");
    ck_assert_int_eq(tgc_ckpt_get_int(c, "best_metric", 0, &iv, &err), -1);
    ck_assert_msg(strstr(err.msg, "is a string, expected an int"), "%s", err.msg);
}

START_TEST(round_trip) {
    char *dir = test_tmpdir(NULL, "tgc_ckpt");
    char path[4200];
    snprintf(path, sizeof path, "%s/epoch_4.ckpt", dir);
    tgc_ckpt_writer *w = sample_writer();
    tgc_err err = {{0}};
    ck_assert_msg(tgc_ckpt_save(w, path, &err) == 0, "%s", err.msg);
    tgc_ckpt_writer_free(w);
    uint32_t plan = PLAN;
    tgc_ckpt *c = tgc_ckpt_load(path, &plan, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    check_sample(c);
    tgc_ckpt_free(c);
    /* any plan when none is given; another plan refused */
    c = tgc_ckpt_load(path, NULL, &err);
    ck_assert_ptr_nonnull(c);
    tgc_ckpt_free(c);
    uint32_t other = PLAN ^ 1;
    ck_assert_ptr_null(tgc_ckpt_load(path, &other, &err));
    ck_assert_msg(strstr(err.msg, "checkpoint was saved from another plan") && strstr(err.msg, path), "%s", err.msg);
    ck_assert_ptr_null(tgc_ckpt_load("/nonexistent/x.ckpt", NULL, &err));
    test_rm_tree(dir);
    free(dir);
}
END_TEST

START_TEST(writer_refuses) {
    tgc_err err = {{0}};
    tgc_ckpt_writer *w = tgc_ckpt_writer_new(1);
    tgc_shape s = tgc_shape1(2), neg = tgc_shape1(-1), big = tgc_shape2(1LL << 62, 1LL << 62);
    float d[2] = {0};
    ck_assert_int_eq(tgc_ckpt_add(w, "a", TGC_F32, &s, d, &err), 0);
    ck_assert_int_eq(tgc_ckpt_add(w, "a", TGC_F32, &s, d, &err), -1);
    ck_assert_msg(strstr(err.msg, "added twice"), "%s", err.msg);
    ck_assert_int_eq(tgc_ckpt_add(w, "", TGC_F32, &s, d, &err), -1);
    ck_assert_int_eq(tgc_ckpt_add(w, "b", TGC_DTYPE_COUNT, &s, d, &err), -1);
    ck_assert_int_eq(tgc_ckpt_add(w, "b", TGC_F32, &neg, d, &err), -1);
    ck_assert_int_eq(tgc_ckpt_add(w, "b", TGC_F32, &big, d, &err), -1);
    ck_assert_int_eq(tgc_ckpt_add(w, "b", TGC_F32, &s, NULL, &err), -1);
    tgc_ckpt_writer_free(w);
}
END_TEST

START_TEST(truncation_every_length) {
    size_t len;
    uint8_t *b = sample_bytes(&len);
    tgc_err err = {{0}};
    tgc_ckpt *c = tgc_ckpt_parse(b, len, "x.ckpt", NULL, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    check_sample(c);
    tgc_ckpt_free(c);
    for (size_t n = 0; n < len; n++) {
        err.msg[0] = 0;
        ck_assert_msg(tgc_ckpt_parse(b, n, "x.ckpt", NULL, &err) == NULL, "accepted a %zu-byte prefix", n);
        ck_assert_msg(strstr(err.msg, "x.ckpt: ") == err.msg && (n < 8 || strstr(err.msg, "truncated")),
                      "length %zu: %s", n, err.msg);
    }
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, b, len);
    longer[len] = 0;
    ck_assert_ptr_null(tgc_ckpt_parse(longer, len + 1, "x.ckpt", NULL, &err));
    ck_assert_msg(strstr(err.msg, "over-long"), "%s", err.msg);
    free(longer);
    free(b);
}
END_TEST

START_TEST(bit_flips) {
    size_t len;
    uint8_t *b = sample_bytes(&len);
    tgc_err err = {{0}};
    for (size_t i = 0; i < len; i++) {
        b[i] ^= (uint8_t)(1u << (i % 8));
        tgc_ckpt *c = tgc_ckpt_parse(b, len, "x.ckpt", NULL, &err);
        ck_assert_msg(c == NULL, "accepted a flip at byte %zu", i);
        b[i] ^= (uint8_t)(1u << (i % 8));
    }
    /* past the header, a flip can only be reported as corruption */
    b[len - 1] ^= 0x80;
    ck_assert_ptr_null(tgc_ckpt_parse(b, len, "x.ckpt", NULL, &err));
    ck_assert_msg(strstr(err.msg, "checksum mismatch"), "%s", err.msg);
    free(b);
}
END_TEST

static void expect_refused(uint8_t *b, size_t len, const char *want) {
    tgc_err err = {{0}};
    ck_assert_ptr_null(tgc_ckpt_parse(b, len, "x.ckpt", NULL, &err));
    ck_assert_msg(strstr(err.msg, want), "message '%s' lacks '%s'", err.msg, want);
}

START_TEST(header_and_tables) {
    size_t len;
    uint8_t *orig = sample_bytes(&len), *b = malloc(len);
#define FRESH() memcpy(b, orig, len)
    FRESH();
    memcpy(b, "GGUF", 4);
    expect_refused(b, len, "not a tgc checkpoint");
    FRESH();
    test_put_le32(b + 8, TGC_CKPT_VERSION + 1);
    test_reseal(b, len, 20);
    expect_refused(b, len, "version 2 is newer");
    FRESH();
    test_put_le32(b + 8, TGC_CKPT_VERSION + 1); /* newer is reported even when the checksum would not match */
    expect_refused(b, len, "newer");
    /* the meta block claims more bytes than the file has */
    FRESH();
    test_put_le64(b + 32, len);
    test_reseal(b, len, 20);
    expect_refused(b, len, "tables out of bounds");
    /* data offset not aligned */
    FRESH();
    test_put_le64(b + 48, test_rd_le64(b + 48) + 1);
    test_reseal(b, len, 20);
    expect_refused(b, len, "out of bounds");
    /* too many tensors for the table */
    FRESH();
    test_put_le32(b + 16, 0xFFFFFFFFu);
    test_reseal(b, len, 20);
    expect_refused(b, len, "claims");
    /* the first tensor's offset pointing past the end: its entry is the first one after the meta block */
    FRESH();
    uint64_t table = 64 + test_rd_le64(b + 32);
    size_t name_len = strlen("backbone.conv1.weight");
    size_t off_at = table + 4 + name_len + 4 + 4 + 2 * 8;
    ck_assert_uint_eq(test_rd_le64(b + off_at) % 64, 0);
    test_put_le64(b + off_at, (len + 64) / 64 * 64);
    test_reseal(b, len, 20);
    expect_refused(b, len, "tensor 'backbone.conv1.weight': data");
    /* bytes that disagree with the shape */
    FRESH();
    test_put_le64(b + off_at + 8, 25);
    test_reseal(b, len, 20);
    expect_refused(b, len, "do not match its shape");
    /* unknown dtype code */
    FRESH();
    test_put_le32(b + table + 4 + name_len, 99);
    test_reseal(b, len, 20);
    expect_refused(b, len, "unknown dtype code 99");
    /* a meta string length running past the block */
    FRESH();
    test_put_le32(b + 64 + 4, 0x7FFFFFFF);
    test_reseal(b, len, 20);
    expect_refused(b, len, "meta entry 0: bad key");
#undef FRESH
    free(b);
    free(orig);
}
END_TEST

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* A failed save must leave the previous checkpoint loadable and no temp file behind. */
START_TEST(failed_save_keeps_previous) {
    char *dir = test_tmpdir(NULL, "tgc_ckpt");
    char mnt[4200], path[4300], cmd[9000];
    snprintf(mnt, sizeof mnt, "%s/tiny", dir);
    mkdir(mnt, 0755);
    int mounted = 0;
    if (geteuid() == 0 && !getenv("TGC_TEST_NO_MOUNT")) { /* the env var exercises the fallback below */
        snprintf(cmd, sizeof cmd, "mount -t tmpfs -o size=64k tmpfs '%s' 2>/dev/null", mnt);
        mounted = system(cmd) == 0;
    }
    snprintf(path, sizeof path, "%s/latest.ckpt", mnt);
    tgc_err err = {{0}};
    tgc_ckpt_writer *w = sample_writer();
    ck_assert_msg(tgc_ckpt_save(w, path, &err) == 0, "%s", err.msg);
    tgc_ckpt_writer_free(w);

    /* the second save: 256 KiB of data does not fit in a 64 KiB tmpfs */
    static float big[65536];
    w = sample_writer();
    tgc_shape sb = tgc_shape1(65536);
    ck_assert_int_eq(tgc_ckpt_add(w, "big", TGC_F32, &sb, big, &err), 0);
    char blocker[4400];
    snprintf(blocker, sizeof blocker, "%s.tmp.%ld", path, (long)getpid());
    if (!mounted) {
        /* No tmpfs (not root, or no mount permission): make the temp file impossible to create instead, by
         * putting a directory where tgc_write_file_atomic creates it (works as root too). */
        printf("test_rt_checkpoint: no tmpfs mount; simulating the failed save with a blocked temp path\n");
        ck_assert_int_eq(mkdir(blocker, 0755), 0);
    }
    int rc = tgc_ckpt_save(w, path, &err);
    tgc_ckpt_writer_free(w);
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(err.msg, "saving checkpoint") && strstr(err.msg, path), "%s", err.msg);
    if (mounted) {
        ck_assert_msg(strstr(err.msg, "No space left"), "%s", err.msg);
        ck_assert_msg(!file_exists(blocker), "temp file left behind");
    } else {
        rmdir(blocker);
    }
    uint32_t plan = PLAN;
    tgc_ckpt *c = tgc_ckpt_load(path, &plan, &err);
    ck_assert_msg(c != NULL, "previous checkpoint damaged: %s", err.msg);
    check_sample(c);
    ck_assert_ptr_null(tgc_ckpt_find(c, "big"));
    tgc_ckpt_free(c);
    if (mounted) {
        snprintf(cmd, sizeof cmd, "umount '%s'", mnt);
        ck_assert_int_eq(system(cmd), 0);
    }
    /* a save whose directory does not exist fails cleanly too */
    snprintf(path, sizeof path, "%s/missing/dir/x.ckpt", dir);
    w = sample_writer();
    ck_assert_int_eq(tgc_ckpt_save(w, path, &err), -1);
    tgc_ckpt_writer_free(w);
    test_rm_tree(dir);
    free(dir);
}
END_TEST

START_TEST(last_checkpoint) {
    char *dir = test_tmpdir(NULL, "tgc_ckpt");
    tgc_err err = {{0}};
    char *got = (char *)1;
    ck_assert_int_eq(tgc_ckpt_read_last(dir, &got, &err), 0);
    ck_assert_ptr_null(got);
    ck_assert_int_eq(tgc_ckpt_write_last(dir, "/work_dirs/lenet/epoch_3.ckpt", &err), 0);
    ck_assert_int_eq(tgc_ckpt_read_last(dir, &got, &err), 1);
    ck_assert_str_eq(got, "/work_dirs/lenet/epoch_3.ckpt");
    free(got);
    ck_assert_int_eq(tgc_ckpt_write_last(dir, "a\nb", &err), -1);
    ck_assert_int_eq(tgc_ckpt_write_last(dir, "", &err), -1);
    char p[4200];
    snprintf(p, sizeof p, "%s/last_checkpoint", dir);
    const char *cases[] = {"  epoch_9.ckpt\n", "", "\n \n", "a.ckpt\nb.ckpt\n"};
    const int want[] = {1, -1, -1, -1};
    for (int i = 0; i < 4; i++) {
        FILE *f = fopen(p, "w");
        fputs(cases[i], f);
        fclose(f);
        got = NULL;
        ck_assert_int_eq(tgc_ckpt_read_last(dir, &got, &err), want[i]);
        if (want[i] == 1) ck_assert_str_eq(got, "epoch_9.ckpt");
        else ck_assert_msg(strstr(err.msg, "last_checkpoint"), "%s", err.msg);
        free(got);
    }
    test_rm_tree(dir);
    free(dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("rt_checkpoint");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, writer_refuses);
    tcase_add_test(tc, truncation_every_length);
    tcase_add_test(tc, bit_flips);
    tcase_add_test(tc, header_and_tables);
    tcase_add_test(tc, failed_save_keeps_previous);
    tcase_add_test(tc, last_checkpoint);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
