/* backend/cuda/codegen_cache.h - compiled generated kernels on disk, by hash.
 *
 * An entry is one file DIR/<key as 16 hex digits>.cubin holding a header (magic "TGCKCUB", version, CRC-32
 * of the file, the key, the lengths), the kernel's source text and the compiled code. The key names the
 * source and how it was compiled (tgc_kcache_key: the source hash, and a string such as the compiler
 * version and options), and a lookup also compares the stored source with the caller's byte for byte, so
 * a hash collision, a truncated or corrupted file, or an entry of another format version is a miss, never
 * a wrong kernel. Entries are written atomically (temporary file, fsync, rename), so processes sharing a
 * cache (the ranks of one node) never read a partial entry; when two write the same key the last rename
 * wins with identical content.
 *
 * Plain C: built and tested without CUDA.
 */
#ifndef TGC_BACKEND_CUDA_CODEGEN_CACHE_H
#define TGC_BACKEND_CUDA_CODEGEN_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

#define TGC_KCACHE_VERSION 1

/* The key of a source (its hash, tgc_codegen_source_hash) compiled as `compile_id` describes (compiler
 * version, target architecture, options: anything that changes the code). */
uint64_t tgc_kcache_key(uint64_t source_hash, const char *compile_id);

/* The cache directory: $TGC_KERNEL_CACHE if set, else $XDG_CACHE_HOME/tgc/kernels, else
 * $HOME/.cache/tgc/kernels; NULL when none of them is set (the caller then compiles every time). Owned by
 * the caller. */
char *tgc_kcache_default_dir(void);

/* DIR/<key>.cubin (owned by the caller). */
char *tgc_kcache_path(const char *dir, uint64_t key);

/* Looks the key up. Returns 1 and the code (*code owned by the caller) on a hit; 0 on a miss: no entry,
 * or one that is not a valid entry for exactly this source (why says which, may be NULL); -1 with err only
 * when the entry exists but cannot be read. */
int tgc_kcache_get(const char *dir, uint64_t key, const char *source, size_t source_len, uint8_t **code,
                   size_t *code_len, char *why, size_t why_len, tgc_err *err);

/* Stores an entry, creating dir (and its parents) if needed. */
int tgc_kcache_put(const char *dir, uint64_t key, const char *source, size_t source_len, const void *code,
                   size_t code_len, tgc_err *err);

#endif
