/* fuzz/fuzz_cfg_py.c - the `.py` config reader (tokenizer, parser, evaluator of MMEngine's pure subset) with
 * `_base_` and `read_base()` resolution across .py and YAML files, in a sandbox folder.
 *
 * The input is up to four files separated by lines "%%%": main.py, base1.py, base2.yaml and sub/base3.py,
 * written into the sandbox; main.py is loaded. Inputs that could name a file outside the sandbox (a '/'
 * starting a path, "..", '~') are skipped (fuzz_write_files). */
#include <stdio.h>
#include <string.h>

#include "frontend/cfg.h"
#include "fuzz/fuzz.h"

static const char *const files[] = {"main.py", "base1.py", "base2.yaml", "sub/base3.py"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (fuzz_write_files(data, size, files, 4) < 0) return 0;
    char main_path[600];
    snprintf(main_path, sizeof main_path, "%s/main.py", fuzz_sandbox());
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
