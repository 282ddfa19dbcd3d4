/* fuzz/fuzz_pth.c - PyTorch zip checkpoints (libzip + the pickle reader + tensor extraction). */
#include "fuzz/fuzz.h"
#include "runtime/io/state_dict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tgc_err err;
    tgc_sd_free(tgc_sd_parse_pth(data, size, "fuzz.pth", &err));
    return 0;
}
