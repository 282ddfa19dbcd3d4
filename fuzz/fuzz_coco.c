/* fuzz/fuzz_coco.c - COCO annotation files (CocoDataset, cJSON), with and without filters and a class subset. */
#include <png.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "runtime/data/det_data.h"

/* One 4 x 3 image, a.png, in the sandbox: annotation files that name it get past the file check. */
static void write_image(void) {
    static int done;
    if (done) return;
    done = 1;
    png_image im;
    uint8_t px[12] = {0};
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = 4;
    im.height = 3;
    im.format = PNG_FORMAT_GRAY;
    png_alloc_size_t len = 0;
    if (!png_image_write_to_memory(&im, NULL, &len, 0, px, 0, NULL)) return;
    uint8_t buf[512];
    if (len > sizeof buf || !png_image_write_to_memory(&im, buf, &len, 0, px, 0, NULL)) return;
    fuzz_write("a.png", buf, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    write_image();
    const char *path = fuzz_write("ann.json", data, size);
    static const char *const classes[] = {"a", "c"};
    tgc_coco_opts opts[3] = {
        {.ann_file = path, .img_dir = fuzz_sandbox()},
        {.ann_file = path, .img_dir = fuzz_sandbox(), .filter_empty_gt = 1, .min_size = 2, .classes = classes, .n_classes = 2},
        {.ann_file = path, .img_dir = fuzz_sandbox(), .test_mode = 1},
    };
    for (int k = 0; k < 3; k++) {
        tgc_err err;
        tgc_det_dataset *d = tgc_coco_load(&opts[k], &err);
        if (!d) continue;
        tgc_det_sample s = {0};
        for (int i = 0; i < tgc_det_dataset_len(d) && i < 4; i++) tgc_det_get(d, i, 0, (uint32_t)i, 0, &s, &err);
        tgc_det_sample_free(&s);
        tgc_det_dataset_free(d);
    }
    return 0;
}
