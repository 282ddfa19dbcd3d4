#include <check.h>
#include <stdlib.h>
#include "common/util.h"
START_TEST(crc_known) { ck_assert_uint_eq(tgc_crc32(0, "123456789", 9), 0xCBF43926u); }
END_TEST
int main(void) {
    Suite *s = suite_create("smoke");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, crc_known);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
