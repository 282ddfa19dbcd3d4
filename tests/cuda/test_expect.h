/* tests/cuda/test_expect.h - for the plain test programs of tests/cuda (no Check): EXPECT(cond, fmt, ...)
 * reports a failed expectation with its file and line on stderr and counts it in `failures`, which main
 * turns into the exit status. */
#ifndef TGC_TEST_EXPECT_H
#define TGC_TEST_EXPECT_H

#include <stdio.h>

static int failures;

#define EXPECT(cond, ...)                                                                                      \
    do {                                                                                                       \
        if (!(cond)) {                                                                                         \
            fprintf(stderr, "FAILED %s:%d: ", __FILE__, __LINE__);                                             \
            fprintf(stderr, __VA_ARGS__);                                                                      \
            fprintf(stderr, "\n");                                                                             \
            failures++;                                                                                        \
        }                                                                                                      \
    } while (0)

#endif
