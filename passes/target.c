/* passes/target.c - the built-in targets (values and reasons in passes/target.h). */
#include "passes/target.h"

#include <string.h>

static const tgc_target targets[] = {
    {.name = "cpu", .alignment = 64, .workspace_bytes = 0, .fuse = 0, .nhwc_ok = 1, .layout_default = TGC_LAYOUT_ROW},
    {.name = "cuda", .alignment = 256, .workspace_bytes = (uint64_t)32 << 20, .fuse = TGC_FUSE_TRANSCENDENTALS,
     .nhwc_ok = 1, .layout_default = TGC_LAYOUT_ROW},
};

const tgc_target *tgc_target_find(const char *name) {
    for (size_t i = 0; name && i < sizeof targets / sizeof targets[0]; i++)
        if (!strcmp(targets[i].name, name)) return &targets[i];
    return NULL;
}

const tgc_target *tgc_target_default(void) { return &targets[0]; }
