/* fuzz/fuzz_cifar.c - CIFAR python-version batches and meta files (numpy arrays through the pickle reader). */
#include <stdlib.h>

#include "fuzz/fuzz.h"
#include "runtime/data/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tgc_err err;
    uint8_t *px = NULL;
    int32_t *labels = NULL;
    int n = 0;
    (void)tgc_cifar_read_batch(data, size, "batch", "labels", 10, &px, &labels, &n, &err);
    free(px);
    free(labels);
    (void)tgc_cifar_read_meta(data, size, "meta", "label_names", &n, &err);
    return 0;
}
