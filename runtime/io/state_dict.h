/* runtime/io/state_dict.h - named tensors read from, or written to, other frameworks' weight files.
 *
 * tgc_sd_load reads, by content: PyTorch's zip checkpoints (torch.save since 1.6: ARCHIVE/data.pkl, the
 * storages ARCHIVE/data/KEY, ARCHIVE/byteorder; runtime/io/torch_pth.c), safetensors (runtime/io/
 * safetensors.c) and tgc's own checkpoints (runtime/io/checkpoint.h; optimizer state left out). For a
 * PyTorch file the state dict is the root dict's "state_dict" (MMEngine/MMPretrain/MMDetection
 * checkpoints), else "model", else the root itself (torch.save(model.state_dict())); the config text of
 * MMEngine's meta.cfg (or safetensors' __metadata__.config) is kept. Every tensor is copied out contiguous
 * in its own dtype; f64 storages become f32. Other top-level keys (optimizer, message_hub, ...) are not
 * read; `skipped` names them.
 *
 * Writers: tgc_sd_save_pth (a zip of stored entries through libzip, and a pickle PyTorch's torch.load and
 * MMEngine's load_checkpoint read: {"meta": {...}, "state_dict": OrderedDict}) and
 * tgc_sd_save_safetensors. Both write atomically (tgc_write_file_atomic).
 */
#ifndef TGC_RUNTIME_STATE_DICT_H
#define TGC_RUNTIME_STATE_DICT_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "ir/ir.h"

#define TGC_SD_MAX_FILE (((uint64_t)1) << 36) /* 64 GiB: larger weight files are refused */
#define TGC_SD_MAX_PICKLE (((uint64_t)1) << 28) /* data.pkl above 256 MiB is refused */

typedef struct tgc_sd_tensor {
    char *name;
    tgc_dtype dtype;
    tgc_shape shape;
    void *data; /* contiguous, owned */
    size_t bytes;
} tgc_sd_tensor;

typedef struct tgc_sd {
    int n, cap;
    tgc_sd_tensor *t;
    const char *format; /* "pth", "safetensors", "tgc" (static) */
    char *config;       /* meta's config text, or NULL */
    char *skipped;      /* ", "-separated top-level keys not read, or NULL */
} tgc_sd;

/* Reads a weight file of any supported format; name is used in messages. */
tgc_sd *tgc_sd_load(const char *path, tgc_err *err);
tgc_sd *tgc_sd_parse(const uint8_t *data, size_t len, const char *name, tgc_err *err);
tgc_sd *tgc_sd_parse_pth(const uint8_t *data, size_t len, const char *name, tgc_err *err);
tgc_sd *tgc_sd_parse_safetensors(const uint8_t *data, size_t len, const char *name, tgc_err *err);
void tgc_sd_free(tgc_sd *sd);

tgc_sd *tgc_sd_new(void);
/* Appends a copy of data (numel x dtype bytes). */
void tgc_sd_add(tgc_sd *sd, const char *name, tgc_dtype dtype, const tgc_shape *shape, const void *data);
const tgc_sd_tensor *tgc_sd_find(const tgc_sd *sd, const char *name);
int64_t tgc_sd_numel(const tgc_shape *s);

/* Converts a tensor's elements (f32, f16, bf16) to f32 into dst (numel floats). -1 for other dtypes. */
int tgc_sd_to_f32(const tgc_sd_tensor *t, float *dst);
/* Converts among f32, f16 and bf16 (round to nearest even) into dst (numel elements of `to`); -1 otherwise. */
int tgc_sd_convert(const tgc_sd_tensor *t, tgc_dtype to, void *dst);

/* Writers; meta_config (may be NULL) is stored as meta.cfg / __metadata__.config. */
int tgc_sd_save_pth(const tgc_sd *sd, const char *meta_config, const char *path, tgc_err *err);
int tgc_sd_save_safetensors(const tgc_sd *sd, const char *meta_config, const char *path, tgc_err *err);
/* The same into a buffer (tests, fuzz seeds). */
int tgc_sd_serialize_pth(const tgc_sd *sd, const char *meta_config, tgc_buf *out, tgc_err *err);
void tgc_sd_serialize_safetensors(const tgc_sd *sd, const char *meta_config, tgc_buf *out);

#endif
