/* fuzz/fuzz_ckpt.c - tgc's checkpoint container (runtime/io/checkpoint.h): validation, meta, tensor copies.
 *
 * The header's file size (offset 24) and CRC-32 (offset 20) are set to match the input first, so the
 * fuzzer reaches the tables behind the checksum. */
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "runtime/io/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tgc_err err;
    uint8_t *d = malloc(size ? size : 1);
    memcpy(d, data, size);
    if (size >= 64) {
        for (int k = 0; k < 8; k++) d[24 + k] = (uint8_t)((uint64_t)size >> (8 * k));
        memset(d + 20, 0, 4);
        uint32_t crc = tgc_crc32(0, d, size);
        for (int k = 0; k < 4; k++) d[20 + k] = (uint8_t)(crc >> (8 * k));
    }
    tgc_ckpt *c = tgc_ckpt_parse(d, size, "fuzz.ckpt", NULL, &err);
    free(d);
    if (!c) return 0;
    int64_t i;
    double f;
    const char *s;
    tgc_ckpt_get_int(c, "epoch", 0, &i, &err);
    tgc_ckpt_get_float(c, "best_value", 0, &f, &err);
    tgc_ckpt_get_str(c, "log_window", NULL, &s, &err);
    for (int k = 0; k < tgc_ckpt_n_tensors(c) && k < 64; k++) {
        const tgc_ckpt_tensor *t = tgc_ckpt_tensor_at(c, k);
        if (t->bytes > (1u << 20)) continue;
        void *dst = malloc(t->bytes ? t->bytes : 1);
        tgc_ckpt_copy(c, t->name, t->dtype, &t->shape, dst, t->bytes, &err);
        free(dst);
    }
    tgc_ckpt_free(c);
    return 0;
}
