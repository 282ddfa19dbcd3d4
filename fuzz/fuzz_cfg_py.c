/* fuzz/fuzz_cfg_py.c - the `.py` config reader (tokenizer, parser, evaluator of MMEngine's pure subset) with
 * `_base_` and `read_base()` resolution across .py and YAML files, in a sandbox folder.
 *
 * The input is up to four files separated by lines "%%%": main.py, base1.py, base2.yaml and sub/base3.py,
 * written into the sandbox; main.py is loaded. Inputs that could name a file outside the sandbox (a '/'
 * starting a path, "..", '~') are skipped, as in fuzz_cfg.c. */
#include <stdio.h>
#include <string.h>

#include "frontend/cfg.h"
#include "fuzz/fuzz.h"

static const char *const files[] = {"main.py", "base1.py", "base2.yaml", "sub/base3.py"};

static int escapes(const uint8_t *d, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (d[i] == '~') return 1;
        if (d[i] == '.' && i + 1 < n && d[i + 1] == '.') return 1;
        if (d[i] == '/' && (i == 0 || strchr(" \t'\"[,:-\n{(=", d[i - 1]))) return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (escapes(data, size)) return 0;
    size_t start = 0;
    int k = 0;
    for (; k < 4; k++) {
        size_t end = start;
        while (end + 5 <= size && memcmp(data + end, "\n%%%\n", 5)) end++;
        if (end + 5 > size) end = size;
        fuzz_write(files[k], data + start, end - start);
        if (end >= size) {
            k++;
            break;
        }
        start = end + 5;
    }
    for (; k < 4; k++) fuzz_write(files[k], (const uint8_t *)"", 0);
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
