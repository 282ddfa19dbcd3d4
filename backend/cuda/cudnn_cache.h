/* backend/cuda/cudnn_cache.h - the convolution algorithm choices measured on a GPU, kept in the work dir.
 *
 * With env_cfg.cudnn_benchmark the CUDA executor times the candidate engine configurations of each distinct
 * convolution graph at prepare and keeps the fastest (cuda_exec.c); this file remembers the choice so the next
 * run on the same GPU skips the timing. A choice is what rebuilds the engine configuration through cuDNN's
 * backend API (ENGINE, KNOB_CHOICE, ENGINECFG descriptors): the engine's global index and its knob choices.
 *
 * The file is text, one choice a line, written atomically (tgc_write_file_atomic):
 *
 *   # tgc cuDNN algorithm choices v1: crc key engine knobs... ms device
 *   <crc32 of the rest, 8 hex> <key, 16 hex> <engine> <n knobs> <type>:<value>... <ms> <device>
 *
 * device (the rest of the line) names the GPU, its compute capability and the cuDNN version
 * (tgc_cudnn_device_id): entries of another device are kept in the file but never used; the key is a hash
 * of the graph's signature (op, shapes, alignments, attributes, the engine filters: tgc_cudnn_signature).
 * A line whose checksum or fields do not parse is dropped. No cuDNN call here: the module is plain C. */
#ifndef TGC_CUDNN_CACHE_H
#define TGC_CUDNN_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

#define TGC_CUDNN_CACHE_FILE "cudnn_algos.txt"
#define TGC_CUDNN_MAX_KNOBS 32

typedef struct tgc_cudnn_choice {
    int64_t engine;                        /* CUDNN_ATTR_ENGINE_GLOBAL_INDEX */
    int n_knobs;
    int64_t knob[TGC_CUDNN_MAX_KNOBS][2];  /* (cudnnBackendKnobType_t, value) */
} tgc_cudnn_choice;

typedef struct tgc_cudnn_cache_entry {
    char *device;
    uint64_t key;
    tgc_cudnn_choice choice;
    double ms; /* the measured time of one run (informative) */
} tgc_cudnn_cache_entry;

typedef struct tgc_cudnn_cache {
    char *device; /* this run's device id: lookups match it */
    tgc_cudnn_cache_entry *e;
    int n, cap;
    int bad;          /* lines dropped at parse (checksum, fields) */
    int first_bad;    /* the first such line's number */
    int other_device; /* entries of another device (kept, not used) */
    int changed;      /* put/forget since the last save */
} tgc_cudnn_cache;

/* FNV-1a 64 of a signature string. */
uint64_t tgc_cudnn_cache_key(const char *signature);

/* An empty cache for device (copied). */
void tgc_cudnn_cache_init(tgc_cudnn_cache *c, const char *device);
void tgc_cudnn_cache_free(tgc_cudnn_cache *c);

/* Adds the entries of text (a file's contents). Bad lines are counted (c->bad, c->first_bad), never fatal. */
void tgc_cudnn_cache_parse(tgc_cudnn_cache *c, const char *text, size_t len);
/* Reads path: a missing file is an empty cache (0); an unreadable one is -1 with err. */
int tgc_cudnn_cache_load(tgc_cudnn_cache *c, const char *path, tgc_err *err);
/* The choice for key on this device, or NULL. */
const tgc_cudnn_choice *tgc_cudnn_cache_find(const tgc_cudnn_cache *c, uint64_t key);
/* Sets (replaces) the choice for key on this device. */
void tgc_cudnn_cache_put(tgc_cudnn_cache *c, uint64_t key, const tgc_cudnn_choice *ch, double ms);
/* Drops key's entry on this device (a choice that no longer rebuilds). */
void tgc_cudnn_cache_forget(tgc_cudnn_cache *c, uint64_t key);
/* The file's text (malloc'd, NUL-terminated; *len without the NUL). */
char *tgc_cudnn_cache_serialize(const tgc_cudnn_cache *c, size_t *len);
/* Writes the text to path atomically and clears c->changed. */
int tgc_cudnn_cache_save(tgc_cudnn_cache *c, const char *path, tgc_err *err);
/* One line for people when the parse dropped or skipped entries ("" otherwise): "N unreadable entries ignored
 * (first at line L), M of another GPU or cuDNN left unused". */
void tgc_cudnn_cache_notes(const tgc_cudnn_cache *c, char *buf, size_t size);

#endif
