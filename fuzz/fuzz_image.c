/* fuzz/fuzz_image.c - PNG and JPEG decoding (libpng, libjpeg-turbo) into BGR and grey. */
#include "fuzz/fuzz.h"
#include "runtime/data/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tgc_err err;
    tgc_image img = {0};
    tgc_image_decode(data, size, "fuzz.img", 3, &img, &err);
    tgc_image_decode(data, size, "fuzz.img", 1, &img, &err);
    tgc_image_free(&img);
    return 0;
}
