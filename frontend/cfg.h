/* frontend/cfg.h - the config tree: YAML configs in MMEngine's shape.
 *
 * A config is a tree of nodes (maps keep key order). Every node remembers the file and line it came
 * from and, once loaded, its key path ("model.backbone.depth", "train_dataloader.dataset.pipeline[1].scale"),
 * so every error about a value can name all three.
 *
 * Loading follows MMEngine's Config semantics, transliterated to YAML:
 *   - `_base_`: a path or list of paths relative to the file, recursive; keys duplicated between sibling
 *     bases are an error; the child is merged into the merged bases map by map; lists replace; a map
 *     with `_delete_: true` replaces instead of merging (and the `_delete_` key is dropped); cycles and
 *     missing files are errors naming the files.
 *   - YAML anchors, aliases and `<<` merge keys.
 *   - `--cfg-options k=v` with MMEngine DictAction's value rules.
 * Limits (bounded memory, no hang): files over 16 MiB, nesting deeper than 64, more than 1,000,000 nodes
 * after alias expansion, `_base_` chains deeper than 32 are errors.
 */
#ifndef TGC_FRONTEND_CFG_H
#define TGC_FRONTEND_CFG_H

#include <stdint.h>
#include <stdio.h>

#include "common/util.h"

typedef enum tgc_cfg_kind {
    TGC_CFG_NULL,
    TGC_CFG_BOOL,
    TGC_CFG_INT,
    TGC_CFG_FLOAT,
    TGC_CFG_STR,
    TGC_CFG_LIST,
    TGC_CFG_TUPLE, /* from --cfg-options "(a,b)"; YAML has no tuples, builders accept list or tuple */
    TGC_CFG_MAP,
} tgc_cfg_kind;

typedef struct tgc_cfg tgc_cfg;
struct tgc_cfg {
    tgc_cfg_kind kind;
    char *file;  /* owned; the file (or "<cfg-options>") the node came from */
    int line;    /* 1-based; 0 if unknown */
    char *path;  /* owned; key path from the root, "" for the root */
    int b;       /* BOOL */
    int64_t i;   /* INT */
    double f;    /* FLOAT */
    char *s;     /* STR, owned */
    int n;       /* LIST/TUPLE/MAP: number of children */
    int cap;     /* capacity of items/keys when larger than n (0: exactly n); never above the allocation */
    tgc_cfg **items; /* owned children */
    char **keys;     /* MAP: owned keys, parallel to items */
};

/* Loads a config file with its `_base_` chain. Returns the root map (caller frees) or NULL + err. A file
 * whose name ends in .py is an MMEngine Python config, evaluated without Python (cfg_py.h); YAML and .py
 * bases mix freely. */
tgc_cfg *tgc_cfg_load(const char *path, tgc_err *err);
/* The file alone: `_base_` kept as written (a .py file's `_base_.x = v` edits become its own keys). A .py
 * file's bases are still read (its values may refer to them). */
tgc_cfg *tgc_cfg_load_unmerged(const char *path, tgc_err *err);
/* Parses YAML text as one file named `name` (`_base_` paths resolved relative to name's directory). */
tgc_cfg *tgc_cfg_parse(const char *text, size_t len, const char *name, tgc_err *err);
/* Applies one `--cfg-options` item "a.b.c=value" to root (DictAction rules). */
int tgc_cfg_apply_option(tgc_cfg *root, const char *kv, tgc_err *err);
void tgc_cfg_free(tgc_cfg *c);
/* MMDetection 2.x / MMClassification 0.x keys (data, optimizer, lr_config, runner, log_config, ...)
 * translated in place into MMEngine's schema (cfg_legacy.c), and 0.x batch augments (BatchMixup/BatchCutMix)
 * in any config; a config without them is left as it is. A line to `log` (may be NULL) names what was
 * translated, and one warning the keys kept but ignored. 0, or -1 with err naming the key at fault. */
int tgc_cfg_translate_legacy(tgc_cfg *root, FILE *log, tgc_err *err);
tgc_cfg *tgc_cfg_clone(const tgc_cfg *c);

/* Lookup; NULL when absent. `tgc_cfg_at` takes a dotted path with [i] list indices: "model.head.loss". */
tgc_cfg *tgc_cfg_get(const tgc_cfg *map, const char *key);
tgc_cfg *tgc_cfg_at(const tgc_cfg *root, const char *dotted);
const char *tgc_cfg_kind_name(tgc_cfg_kind k); /* "null", "bool", "int", ... */

/* Typed getters on a map's key. Absent (or null, when allow_null) -> *out = def and 0. Present with the
 * wrong type -> -1 and "FILE:LINE: PATH: expected an integer, got a string ('abc')". Ints are accepted
 * where a float is asked. */
int tgc_cfg_int(const tgc_cfg *map, const char *key, int64_t def, int64_t *out, tgc_err *err);
int tgc_cfg_float(const tgc_cfg *map, const char *key, double def, double *out, tgc_err *err);
int tgc_cfg_bool(const tgc_cfg *map, const char *key, int def, int *out, tgc_err *err);
/* *out points into the tree (not a copy). */
int tgc_cfg_str(const tgc_cfg *map, const char *key, const char *def, const char **out, tgc_err *err);
/* A list/tuple of ints (or a single int, which gives n=1). Up to max entries. */
int tgc_cfg_ints(const tgc_cfg *map, const char *key, int64_t *out, int max, int *n, tgc_err *err);
/* Formats an error about node c: "FILE:LINE: PATH: <message>". Returns -1. */
int tgc_cfg_fail(tgc_err *err, const tgc_cfg *c, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Compact binary form (embedded in plan.bin so `tgc run` never needs the YAML) and its inverse, which
 * checks every length against the buffer. */
void tgc_cfg_serialize(const tgc_cfg *c, tgc_buf *out);
tgc_cfg *tgc_cfg_deserialize(const uint8_t *data, size_t len, tgc_err *err);

/* Prints the tree as YAML (block style, stable, round-trips through tgc_cfg_parse). */
void tgc_cfg_dump(const tgc_cfg *c, FILE *f);

/* ---- Building trees: entry points shared by the cfg_*.c files ---- */
/* A fresh node of the given kind with a copy of file ("" if NULL) and line; path "". */
tgc_cfg *tgc_cfg_new(tgc_cfg_kind kind, const char *file, int line);
/* Appends item (taking it) to a LIST/TUPLE (key NULL) or a MAP (key copied; no duplicate check). */
void tgc_cfg_append(tgc_cfg *c, const char *key, tgc_cfg *item);
/* Sets map[key] = val (taking val): replaces and frees an existing value in place, else appends. */
void tgc_cfg_set(tgc_cfg *map, const char *key, tgc_cfg *val);
/* Detaches map[key] and returns it (caller owns), or NULL when absent; the entry is removed. */
tgc_cfg *tgc_cfg_take(tgc_cfg *map, const char *key);
/* Detaches the child `item` of a LIST/TUPLE or MAP (by identity) and returns it (caller owns), or NULL when
 * it is not a child of c. */
tgc_cfg *tgc_cfg_take_child(tgc_cfg *c, const tgc_cfg *item);
/* Re-assigns every node's `path` from the root ("" for the root). Paths over 512 bytes keep their tail. */
void tgc_cfg_set_paths(tgc_cfg *root);
/* Deep equality of kinds, values, keys and order (not file/line/path). NaN equals NaN. */
int tgc_cfg_equal(const tgc_cfg *a, const tgc_cfg *b);
/* Parses one YAML file's text without resolving `_base_` (the key stays in the tree). Same limits and
 * messages as tgc_cfg_parse; the root is a map. */
tgc_cfg *tgc_cfg_parse_yaml(const char *text, size_t len, const char *name, tgc_err *err);
/* The kind YAML gives an unquoted scalar with this text (the dumper quotes strings that are not STR). */
tgc_cfg_kind tgc_cfg_plain_kind(const char *s);
/* A key -> position index over one map, so duplicate checks and merges stay linear on maps with many keys.
 * Stays valid while the map only grows by appending (call tgc_cfg_index_add for each appended key). */
typedef struct tgc_cfg_index {
    int *slot; /* open addressing; -1 empty */
    int cap, n;
} tgc_cfg_index;
void tgc_cfg_index_init(tgc_cfg_index *ix, const tgc_cfg *map);
int tgc_cfg_index_find(const tgc_cfg_index *ix, const tgc_cfg *map, const char *key); /* position or -1 */
void tgc_cfg_index_add(tgc_cfg_index *ix, const tgc_cfg *map, int pos); /* after appending key `pos` */
void tgc_cfg_index_free(tgc_cfg_index *ix);

#endif
