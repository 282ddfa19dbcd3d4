/* fuzz/fuzz_lists.c - the file datasets' text files: CUB's images.txt, image_class_labels.txt and
 * train_test_split.txt (the input split at "%%%" lines), and the first part again as a CustomDataset annotation
 * file. */
#include <string.h>

#include "fuzz/fuzz.h"
#include "runtime/data/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const names[] = {"images.txt", "image_class_labels.txt", "train_test_split.txt"};
    static int once;
    if (!once) { /* an image CUB's existence check finds */
        once = 1;
        fuzz_write("images/a.jpg", (const uint8_t *)"x", 1);
    }
    if (fuzz_write_files(data, size, names, 3)) return 0;
    for (int split = 0; split < 2; split++) {
        tgc_sample_list l;
        tgc_err err;
        if (tgc_cub_list(fuzz_sandbox(), split, 200, &l, &err) == 0) tgc_sample_list_free(&l);
    }
    char ann[4096];
    snprintf(ann, sizeof ann, "%s/images.txt", fuzz_sandbox());
    tgc_sample_list l;
    tgc_err err;
    if (tgc_custom_list(fuzz_sandbox(), ann, NULL, &l, &err) == 0) tgc_sample_list_free(&l);
    return 0;
}
