/* tests/unit/test_dataset.h - the real Fashion-MNIST (Debian's dataset-fashion-mnist) in unit tests.
 *
 * A test that reads it calls FASHION_REQUIRED() first: without the data it prints 'skipped: ...' and
 * returns, except under CI (CI=true), where tools/setup.sh installs the package and its absence is a
 * failure. main() ends with fashion_status(failed), which reports a run whose other tests passed but
 * whose dataset tests could not run as skipped (77, the tests' SKIP_RETURN_CODE).
 */
#ifndef TGC_TEST_DATASET_H
#define TGC_TEST_DATASET_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

static inline int fashion_present(void) { return access(FASHION_DIR "/train-images-idx3-ubyte.gz", R_OK) == 0; }

static inline int under_ci(void) {
    const char *ci = getenv("CI");
    return ci && !strcmp(ci, "true");
}

#define FASHION_REQUIRED()                                                                                   \
    do {                                                                                                     \
        if (!fashion_present()) {                                                                            \
            if (under_ci())                                                                                  \
                ck_abort_msg("%s not present (Debian's dataset-fashion-mnist; tools/setup.sh installs it): " \
                             "under CI=true that is a failure, not a skip", FASHION_DIR);                     \
            printf("skipped: %s: %s not present (Debian's dataset-fashion-mnist)\n", __func__, FASHION_DIR);  \
            return;                                                                                          \
        }                                                                                                    \
    } while (0)

static inline int fashion_status(int failed) {
    if (failed) return EXIT_FAILURE;
    return fashion_present() || under_ci() ? EXIT_SUCCESS : 77;
}

#endif
