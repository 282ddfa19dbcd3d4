/* fuzz/fuzz_cfg.c - the YAML config loader with _base_ resolution, in a sandbox folder.
 *
 * The input is up to four files separated by lines "%%%": main.yaml, base1.yaml, base2.yaml and
 * sub/base3.yaml, written into the sandbox; main.yaml is loaded (its _base_ may name the others). Inputs
 * that could name a file outside the sandbox (a '/' starting a path, "..", '~') are skipped: the loader
 * reads whatever path a config names, which is its job, not a fuzzing target. */
#include <stdio.h>
#include <string.h>

#include "frontend/cfg.h"
#include "fuzz/fuzz.h"

static const char *const files[] = {"main.yaml", "base1.yaml", "base2.yaml", "sub/base3.yaml"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (fuzz_write_files(data, size, files, 4) < 0) return 0;
    char main_path[600];
    snprintf(main_path, sizeof main_path, "%s/main.yaml", fuzz_sandbox());
    tgc_err err;
    tgc_cfg *c = tgc_cfg_load(main_path, &err);
    if (c) {
        tgc_buf b = {0};
        tgc_cfg_serialize(c, &b);
        tgc_cfg *back = tgc_cfg_deserialize(b.data, b.len, &err);
        tgc_cfg_free(back);
        tgc_buf_free(&b);
    }
    tgc_cfg_free(c);
    return 0;
}
