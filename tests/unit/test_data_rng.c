/* tests/unit/test_data_rng.c - Philox4x32-10 known answers and the keyed draw cursor. */
#include <check.h>
#include <stdlib.h>

#include "runtime/data/data.h"

/* Known-answer vectors published with Random123 (kat_vectors, "philox4x32 10" lines): counter, key, output. */
START_TEST(philox_known_answers) {
    static const uint32_t v[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d, 0x41c83b0e, 0xa20bc7c6,
         0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb, 0x5001e420,
         0x24126ea1},
    };
    for (int i = 0; i < 3; i++) {
        uint32_t out[4];
        tgc_philox4x32_10(v[i], v[i] + 4, out);
        for (int k = 0; k < 4; k++) ck_assert_msg(out[k] == v[i][6 + k], "vector %d word %d: %08x", i, k, out[k]);
    }
}
END_TEST

START_TEST(rng_is_a_function_of_its_key) {
    tgc_rng a, b, c;
    tgc_rng_init(&a, 42, 3, 17, TGC_RNG_AUGMENT);
    tgc_rng_init(&b, 42, 3, 17, TGC_RNG_AUGMENT);
    tgc_rng_init(&c, 42, 3, 18, TGC_RNG_AUGMENT);
    int differ = 0;
    for (int i = 0; i < 10; i++) {
        uint32_t x = tgc_rng_u32(&a), y = tgc_rng_u32(&b), z = tgc_rng_u32(&c);
        ck_assert_uint_eq(x, y);
        differ += x != z;
    }
    ck_assert_int_gt(differ, 8);
    /* The first draw is word 0 of Philox(ctr = {0, position, epoch, stream}, key = seed halves). */
    uint32_t ctr[4] = {0, 5, 7, TGC_RNG_SHUFFLE}, key[2] = {0x89abcdefu, 0x01234567u}, out[4];
    tgc_philox4x32_10(ctr, key, out);
    tgc_rng_init(&a, 0x0123456789abcdefull, 7, 5, TGC_RNG_SHUFFLE);
    ck_assert_uint_eq(tgc_rng_u32(&a), out[0]);
    ck_assert_uint_eq(tgc_rng_u32(&a), out[1]);
}
END_TEST

START_TEST(rng_ranges) {
    tgc_rng r;
    tgc_rng_init(&r, 1, 0, 0, TGC_RNG_AUGMENT);
    int hist[7] = {0};
    double lo = 1, hi = 0, sum = 0;
    for (int i = 0; i < 70000; i++) {
        uint32_t k = tgc_rng_below(&r, 7);
        ck_assert_uint_lt(k, 7);
        hist[k]++;
        double u = tgc_rng_uniform(&r);
        ck_assert(u >= 0 && u < 1);
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
        sum += u;
    }
    for (int k = 0; k < 7; k++) ck_assert_msg(hist[k] > 9500 && hist[k] < 10500, "bucket %d: %d", k, hist[k]);
    ck_assert(lo < 0.001 && hi > 0.999);
    ck_assert(sum / 70000 > 0.49 && sum / 70000 < 0.51);
    ck_assert_uint_eq(tgc_rng_below(&r, 1), 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("data_rng");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, philox_known_answers);
    tcase_add_test(tc, rng_is_a_function_of_its_key);
    tcase_add_test(tc, rng_ranges);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
