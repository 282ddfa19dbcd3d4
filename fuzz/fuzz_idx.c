/* fuzz/fuzz_idx.c - IDX image and label files (MNIST's format), plain or gzipped. */
#include <stdlib.h>

#include "fuzz/fuzz.h"
#include "runtime/data/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("input.idx", data, size);
    tgc_err err;
    int n, rows, cols;
    uint8_t *px = NULL;
    if (tgc_idx_read_images(path, &n, &rows, &cols, &px, &err) == 0) free(px);
    int32_t *labels = NULL;
    if (tgc_idx_read_labels(path, 10, &n, &labels, &err) == 0) free(labels);
    return 0;
}
