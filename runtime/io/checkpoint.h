/* runtime/io/checkpoint.h - tgc's checkpoint container: named tensors + typed meta, checksummed, atomic.
 *
 * Layout (all integers little-endian; version 1):
 *   header, 64 bytes:
 *      0  magic "TGCCKPT\0"           8  u32 version            12 u32 plan checksum (tgc_plan.checksum)
 *     16  u32 tensor count            20 u32 CRC-32 (zlib) of the whole file with this field zeroed
 *     24  u64 file size               32 u64 meta length        40 u64 tensor-table length
 *     48  u64 data offset             56 u64 reserved (0)
 *   meta block at 64: u32 count, then per entry: str key, u8 kind (1 int64, 2 float64, 3 str), value
 *   tensor table right after the meta: per tensor: str name, u32 dtype (tgc_dtype), u32 rank,
 *     rank x i64 dims, u64 offset (from the file start, 64-byte aligned), u64 bytes
 *   data: each tensor at its offset; zero padding between.
 *   (str = u32 length + bytes, as tgc_buf_str writes them; NULL strings are refused.)
 *
 * Meta keys the runtime uses (conventions, not enforced): "epoch", "iter" (completed counts), "seed",
 * "sampler_epoch", "rng_counter", "sched_iter", "best_metric" (str, e.g. "accuracy/top1"),
 * "best_value" (float), "best_epoch"; any other string/int/float key may be added.
 *
 * Saving goes through tgc_write_file_atomic, so a failed save (full disk, no permission) leaves the
 * previous checkpoint at that path intact. Loading refuses, with a message naming the file: a short
 * or over-long file, another magic, a newer version, a checksum mismatch, a plan checksum that is not
 * the running plan's ("checkpoint was saved from another plan"), and table entries (meta or tensors)
 * that point outside the file, overlap the header/tables, or are not 64-byte aligned.
 */
#ifndef TGC_RUNTIME_CHECKPOINT_H
#define TGC_RUNTIME_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "ir/ir.h"

#define TGC_CKPT_MAGIC "TGCCKPT"
#define TGC_CKPT_VERSION 1
#define TGC_CKPT_ALIGN 64
#define TGC_CKPT_HEADER_BYTES 64
#define TGC_CKPT_MAX_FILE (((uint64_t)1) << 40) /* the reader refuses larger files */

/* ---- writing ---- */
typedef struct tgc_ckpt_writer tgc_ckpt_writer;

tgc_ckpt_writer *tgc_ckpt_writer_new(uint32_t plan_checksum);
void tgc_ckpt_writer_free(tgc_ckpt_writer *w);
/* Records a tensor; `data` (numel x dtype size bytes) is NOT copied and must stay valid until save.
 * Refuses an empty or duplicate name, a bad dtype or rank, negative dims, a NULL pointer with data. */
int tgc_ckpt_add(tgc_ckpt_writer *w, const char *name, tgc_dtype dtype, const tgc_shape *shape, const void *data,
                 tgc_err *err);
/* Meta entries (a key set twice keeps the last value, in its first position). */
void tgc_ckpt_set_int(tgc_ckpt_writer *w, const char *key, int64_t v);
void tgc_ckpt_set_float(tgc_ckpt_writer *w, const char *key, double v);
void tgc_ckpt_set_str(tgc_ckpt_writer *w, const char *key, const char *v);
/* Serializes into out (appending). */
void tgc_ckpt_serialize(const tgc_ckpt_writer *w, tgc_buf *out);
/* Writes the checkpoint atomically (temp file, fsync, rename). */
int tgc_ckpt_save(const tgc_ckpt_writer *w, const char *path, tgc_err *err);

/* ---- reading ---- */
typedef struct tgc_ckpt_tensor {
    char *name; /* owned by the checkpoint */
    tgc_dtype dtype;
    tgc_shape shape;
    uint64_t offset, bytes;
} tgc_ckpt_tensor;

typedef struct tgc_ckpt tgc_ckpt;

/* Loads and validates a checkpoint. expect_plan: the running plan's checksum, or NULL to accept any plan
 * (e.g. for inspection). */
tgc_ckpt *tgc_ckpt_load(const char *path, const uint32_t *expect_plan, tgc_err *err);
/* The same on bytes in memory (copied); name is used in messages. */
tgc_ckpt *tgc_ckpt_parse(const uint8_t *data, size_t len, const char *name, const uint32_t *expect_plan, tgc_err *err);
void tgc_ckpt_free(tgc_ckpt *c);

uint32_t tgc_ckpt_plan_checksum(const tgc_ckpt *c);
int tgc_ckpt_n_tensors(const tgc_ckpt *c);
const tgc_ckpt_tensor *tgc_ckpt_tensor_at(const tgc_ckpt *c, int i);
const tgc_ckpt_tensor *tgc_ckpt_find(const tgc_ckpt *c, const char *name); /* NULL when absent */
const void *tgc_ckpt_data(const tgc_ckpt *c, const tgc_ckpt_tensor *t);
/* Copies tensor `name` into dst (dst_bytes long) after checking it exists with exactly this dtype and shape. */
int tgc_ckpt_copy(const tgc_ckpt *c, const char *name, tgc_dtype dtype, const tgc_shape *shape, void *dst,
                  size_t dst_bytes, tgc_err *err);
/* Meta lookups: 1 and *out when present, 0 and *out = def when absent, -1 when present with another kind
 * (an int is accepted as a float). Strings point into the checkpoint. */
int tgc_ckpt_get_int(const tgc_ckpt *c, const char *key, int64_t def, int64_t *out, tgc_err *err);
int tgc_ckpt_get_float(const tgc_ckpt *c, const char *key, double def, double *out, tgc_err *err);
int tgc_ckpt_get_str(const tgc_ckpt *c, const char *key, const char *def, const char **out, tgc_err *err);

/* ---- the `last_checkpoint` pointer file (WORK_DIR/last_checkpoint, holding the checkpoint's path with no
 * newline, as MMEngine's CheckpointHook writes it) ---- */
int tgc_ckpt_write_last(const char *work_dir, const char *ckpt_path, tgc_err *err); /* atomic */
/* 1 and *ckpt_path (caller frees) when present, 0 and NULL when there is no pointer file, -1 when it is
 * unreadable, empty, longer than 4096 bytes or holds a NUL or a line break inside the path (surrounding
 * whitespace is stripped). */
int tgc_ckpt_read_last(const char *work_dir, char **ckpt_path, tgc_err *err);

/* The newest valid checkpoint (*.ckpt that loads and matches plan_checksum; newest = the highest "iter",
 * then the latest modification) in the folder of `damaged`, other than `damaged` itself: its path (caller
 * frees) and iteration, or NULL when there is none. For the message of a resume whose checkpoint fails. */
char *tgc_ckpt_newest_valid(const char *damaged, uint32_t plan_checksum, int64_t *iter);

#endif
