/* fuzz/fuzz_plan.c - plan.bin: the reader and the load-time validation.
 *
 * The header's size (offset 16) and CRC-32 (offset 24) are set to match the input before it is read, so
 * the fuzzer explores the sections behind the checksum instead of the checksum itself. */
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "plan/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *d = malloc(size ? size : 1);
    memcpy(d, data, size);
    if (size >= 32) {
        for (int k = 0; k < 8; k++) d[16 + k] = (uint8_t)((uint64_t)size >> (8 * k));
        memset(d + 24, 0, 4);
        uint32_t crc = tgc_crc32(0, d, size);
        for (int k = 0; k < 4; k++) d[24 + k] = (uint8_t)(crc >> (8 * k));
    }
    tgc_err err;
    tgc_plan *p = tgc_plan_deserialize(d, size, "fuzz.plan", &err);
    if (p) tgc_plan_validate(p, &err);
    tgc_plan_free(p);
    free(d);
    return 0;
}
