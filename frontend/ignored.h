/* frontend/ignored.h - settings tgc accepts but does not implement, named instead of ignored silently.
 *
 * MMPretrain's recipes carry hooks, samplers, augmentations and options that tgc does not do (yet). A config
 * that asks for one still compiles, but every such setting is listed once at compile time (`tgc compile`
 * prints the list as one warning, the plan records it for `tgc inspect` and `tgc run`'s log), and
 * `--strict` turns the list into an error. Settings that the builders or the runtime would otherwise refuse
 * but that leave the graph's shapes alone (a RandAugment in a pipeline, model.train_cfg.augments, a
 * drop_path_rate) are also taken out of the config, so the plan trains without them; the entry says so.
 * Implemented settings are never listed.
 */
#ifndef TGC_FRONTEND_IGNORED_H
#define TGC_FRONTEND_IGNORED_H

#include "frontend/cfg.h"

typedef struct tgc_ignored_item {
    char *where; /* "FILE:LINE" of the setting */
    char *path;  /* its key path, "custom_hooks[0]" */
    char *what;  /* "EMAHook: the hook is not implemented" */
} tgc_ignored_item;

typedef struct tgc_ignored {
    int n, cap;
    tgc_ignored_item *items;
} tgc_ignored;

/* Scans root (paths must be set) and fills out; takes the settings marked "left out" out of root. */
void tgc_ignored_scan(tgc_cfg *root, tgc_ignored *out);
void tgc_ignored_free(tgc_ignored *ig);
/* One line per item, "FILE:LINE: PATH: WHAT\n" (a fresh string; "" when empty). */
char *tgc_ignored_text(const tgc_ignored *ig);

#endif
