/* fuzz/fuzz_cfg_options.c - the --cfg-options parser: each input line is one K=V applied to a small config. */
#include <stdlib.h>
#include <string.h>

#include "frontend/cfg.h"
#include "fuzz/fuzz.h"

static const char base[] = "model:\n  type: ImageClassifier\n  backbone: {type: ResNet, depth: 18}\n"
                           "  head: {type: LinearClsHead, num_classes: 10, topk: [1, 5]}\n"
                           "train_dataloader:\n  batch_size: 8\n  dataset:\n    pipeline:\n"
                           "      - {type: RandomCrop, crop_size: 32}\n      - {type: PackInputs}\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    tgc_err err;
    tgc_cfg *c = tgc_cfg_parse(base, sizeof base - 1, "base.yaml", &err);
    if (!c) abort();
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if (tgc_cfg_apply_option(c, line, &err) < 0) break;
    free(text);
    tgc_cfg_free(c);
    return 0;
}
