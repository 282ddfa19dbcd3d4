/* tests/unit/test_rt_tensorboard.c - CRC-32C, TFRecord framing, and event files read back by TensorBoard. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/io/tensorboard.h"
#include "test_util.h"

START_TEST(crc32c_known_answer) {
    ck_assert_uint_eq(tgc_crc32c(0, "123456789", 9), 0xE3069283u);
    ck_assert_uint_eq(tgc_crc32c(0, "", 0), 0u);
    /* chaining equals one pass */
    ck_assert_uint_eq(tgc_crc32c(tgc_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
    /* 32 zero bytes: RFC 3720 (iSCSI) B.4 test vector */
    static const uint8_t zeros[32] = {0};
    ck_assert_uint_eq(tgc_crc32c(0, zeros, 32), 0x8A9136AAu);
}
END_TEST

static void write_sample(const char *dir, char **path_out) {
    tgc_err err = {{0}};
    tgc_tb_writer *w = tgc_tb_open(dir, &err);
    ck_assert_msg(w != NULL, "%s", err.msg);
    ck_assert_ptr_nonnull(strstr(tgc_tb_path(w), "/events.out.tfevents."));
    ck_assert_int_eq(tgc_tb_add_scalar(w, "train/loss", 2.5, 0, 1700000000.0, &err), 0);
    ck_assert_int_eq(tgc_tb_add_scalar(w, "train/loss", 1.25, 100, 1700000001.5, &err), 0);
    ck_assert_int_eq(tgc_tb_add_scalar(w, "train/lr", 0.001, 100, -1, &err), 0);
    ck_assert_int_eq(tgc_tb_add_scalar(w, "val/accuracy/top1", 91.25, 1LL << 40, -1, &err), 0);
    *path_out = strdup(tgc_tb_path(w));
    /* flushed per write: the bytes are in the file before close */
    size_t len;
    uint8_t *b = (uint8_t *)test_slurp(*path_out, &len);
    ck_assert_uint_gt(len, 100);
    free(b);
    ck_assert_int_eq(tgc_tb_close(w, &err), 0);
}

START_TEST(framing) {
    char *dir = test_tmpdir(NULL, "tgc_tb"), *path;
    write_sample(dir, &path);
    size_t len;
    uint8_t *b = (uint8_t *)test_slurp(path, &len);
    size_t pos = 0;
    int records = 0;
    while (pos < len) {
        ck_assert_uint_ge(len - pos, 12);
        uint64_t n = test_rd_le64(b + pos);
        ck_assert_uint_eq(test_rd_le32(b + pos + 8), tgc_tb_masked_crc(b + pos, 8));
        ck_assert_uint_ge(len - pos - 12, n + 4);
        ck_assert_uint_eq(test_rd_le32(b + pos + 12 + n), tgc_tb_masked_crc(b + pos + 12, n));
        if (records == 0) { /* wall_time tag, 8 bytes, then file_version field 3 */
            ck_assert_uint_eq(b[pos + 12], 0x09);
            ck_assert_uint_eq(b[pos + 12 + 9], 0x1a);
            ck_assert_uint_eq(b[pos + 12 + 10], 13);
            ck_assert_int_eq(memcmp(b + pos + 12 + 11, "brain.Event:2", 13), 0);
        }
        pos += 12 + n + 4;
        records++;
    }
    ck_assert_int_eq(records, 5);
    /* The second record (2.5 at step 0, wall time 1700000000): summary { value { tag, simple_value } } */
    static const uint8_t want[] = {0x09, 0, 0, 0, 0x40, 0xfc, 0x54, 0xd9, 0x41, /* wall_time 1.7e9 as double */
                                   0x2a, 0x13, 0x0a, 0x11, 0x0a, 0x0a, 't', 'r', 'a', 'i', 'n', '/', 'l', 'o', 's', 's',
                                   0x15, 0, 0, 0x20, 0x40 /* 2.5f */};
    size_t first = 12 + test_rd_le64(b) + 4;
    ck_assert_uint_eq(test_rd_le64(b + first), sizeof want);
    ck_assert_int_eq(memcmp(b + first + 12, want, sizeof want), 0);
    free(b);
    free(path);
    test_rm_tree(dir);
    free(dir);
}
END_TEST

START_TEST(read_back_with_tensorboard) {
    char *dir = test_tmpdir(NULL, "tgc_tb"), *path;
    write_sample(dir, &path);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "python3 '%s/tests/filecheck/Inputs/tb_read.py' '%s' 2>/dev/null", TGC_SOURCE_DIR, dir);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char out[4096] = {0};
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int st = pclose(p);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (code == 77 || code == 127) {
        printf("test_rt_tensorboard: skipped: tensorboard not installed (python3 -m pip install tensorboard)\n");
    } else {
        ck_assert_msg(code == 0, "tb_read.py exited with %d: %s", code, out);
        const char *want = "file_version 2.0\n" /* EventAccumulator parses "brain.Event:2" */
                           "train/loss 0 2.5\n"
                           "train/loss 100 1.25\n"
                           "train/lr 100 0.0010000000474974513\n" /* 0.001 as a float */
                           "val/accuracy/top1 1099511627776 91.25\n";
        ck_assert_str_eq(out, want);
    }
    free(path);
    test_rm_tree(dir);
    free(dir);
}
END_TEST

START_TEST(open_errors) {
    tgc_err err = {{0}};
    ck_assert_ptr_null(tgc_tb_open("", &err));
    /* a regular file where the directory should be */
    char *dir = test_tmpdir(NULL, "tgc_tb");
    char f[4096];
    snprintf(f, sizeof f, "%s/file", dir);
    FILE *fp = fopen(f, "w");
    fclose(fp);
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/sub", f);
    ck_assert_ptr_null(tgc_tb_open(sub, &err));
    ck_assert_msg(strstr(err.msg, "file"), "%s", err.msg);
    /* two writers in the same second get two files */
    tgc_tb_writer *a = tgc_tb_open(dir, &err), *b = tgc_tb_open(dir, &err);
    ck_assert(a && b);
    ck_assert_str_ne(tgc_tb_path(a), tgc_tb_path(b));
    tgc_tb_close(a, NULL);
    tgc_tb_close(b, NULL);
    test_rm_tree(dir);
    free(dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("rt_tensorboard");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, crc32c_known_answer);
    tcase_add_test(tc, framing);
    tcase_add_test(tc, read_back_with_tensorboard);
    tcase_add_test(tc, open_errors);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
