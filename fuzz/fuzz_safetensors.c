/* fuzz/fuzz_safetensors.c - safetensors headers and data offsets. */
#include "fuzz/fuzz.h"
#include "runtime/io/state_dict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tgc_err err;
    tgc_sd_free(tgc_sd_parse_safetensors(data, size, "fuzz.safetensors", &err));
    return 0;
}
