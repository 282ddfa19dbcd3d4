#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "common/util.h"
START_TEST(crc_known) { ck_assert_uint_eq(tgc_crc32(0, "123456789", 9), 0xCBF43926u); }
END_TEST
/* Writing "atomically" to a device must write to it, not rename a regular file over it. */
START_TEST(atomic_write_to_device) {
    tgc_err err;
    ck_assert_msg(tgc_write_file_atomic("/dev/null", "abc", 3, &err) == 0, "%s", err.msg);
    struct stat st;
    ck_assert_int_eq(stat("/dev/null", &st), 0);
    ck_assert(S_ISCHR(st.st_mode));
    ck_assert_int_eq(tgc_write_file_atomic("/tmp", "abc", 3, &err), -1);
    ck_assert_msg(strstr(err.msg, "directory"), "%s", err.msg);
}
END_TEST
/* A message too long for tgc_err ends with a marker instead of stopping mid-word; prefixing keeps it. */
START_TEST(long_message_marked) {
    tgc_err err;
    char *long_path = tgc_malloc(3001);
    memset(long_path, 'p', 3000);
    long_path[3000] = 0;
    const char *mark = " ... (message truncated)";
    ck_assert_int_eq(tgc_fail(&err, "cannot open '%s'", long_path), -1);
    ck_assert_uint_eq(strlen(err.msg), TGC_ERR_MAX - 1);
    ck_assert_str_eq(err.msg + strlen(err.msg) - strlen(mark), mark);
    tgc_err_prefix(&err, "config.yaml:3");
    ck_assert(!strncmp(err.msg, "config.yaml:3: cannot open 'ppp", 31));
    ck_assert_str_eq(err.msg + strlen(err.msg) - strlen(mark), mark);
    tgc_fail(&err, "short");
    tgc_err_prefix(&err, "%s", long_path);
    ck_assert_str_eq(err.msg + strlen(err.msg) - strlen(mark), mark);
    tgc_fail(&err, "fits");
    tgc_err_prefix(&err, "at");
    ck_assert_str_eq(err.msg, "at: fits");
    free(long_path);
}
END_TEST
int main(void) {
    Suite *s = suite_create("smoke");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, crc_known);
    tcase_add_test(tc, atomic_write_to_device);
    tcase_add_test(tc, long_message_marked);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
