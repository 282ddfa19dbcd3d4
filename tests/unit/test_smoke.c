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
int main(void) {
    Suite *s = suite_create("smoke");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, crc_known);
    tcase_add_test(tc, atomic_write_to_device);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
