/* common/util.h - errors, checked allocation, growable byte buffers, little-endian I/O.
 *
 * Error convention used across tgc: a function that can fail takes a `tgc_err *` last, returns a
 * negative int (or NULL) on failure and leaves one complete, human-readable message in err->msg that
 * names the file, the line and, where it applies, the config key path at fault. Callers add context by
 * prefixing (tgc_err_prefix), never by printing.
 */
#ifndef TGC_COMMON_UTIL_H
#define TGC_COMMON_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TGC_ERR_MAX 2048

typedef struct tgc_err {
    char msg[TGC_ERR_MAX];
} tgc_err;

/* Formats the message into err (if err is non-NULL) and returns -1. A message longer than TGC_ERR_MAX
 * is cut and ends with " ... (message truncated)", never silently. */
int tgc_fail(tgc_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prepends "prefix: " to the message already in err (cut as tgc_fail cuts). Returns -1. */
int tgc_err_prefix(tgc_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Checked allocation: out of memory is the one error tgc does not try to recover from; these print the
 * call site and abort. Every pointer they return has exactly one owner that frees it. */
#define tgc_malloc(n) tgc_malloc_at((n), __FILE__, __LINE__)
#define tgc_calloc(n, s) tgc_calloc_at((n), (s), __FILE__, __LINE__)
#define tgc_realloc(p, n) tgc_realloc_at((p), (n), __FILE__, __LINE__)
#define tgc_strdup(s) tgc_strdup_at((s), __FILE__, __LINE__)
void *tgc_malloc_at(size_t n, const char *file, int line);
void *tgc_calloc_at(size_t n, size_t size, const char *file, int line);
void *tgc_realloc_at(void *p, size_t n, const char *file, int line);
char *tgc_strdup_at(const char *s, const char *file, int line);
/* printf into a fresh heap string owned by the caller. */
char *tgc_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *tgc_vasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Grows *arr (of element size elem) so that it holds at least need elements; *cap is its capacity. */
void tgc_grow(void **arr, int *cap, int need, size_t elem);
#define TGC_GROW(arr, cap, need) tgc_grow((void **)&(arr), &(cap), (need), sizeof(*(arr)))

/* A growable byte buffer with little-endian writers (the plan and checkpoint writers use it). */
typedef struct tgc_buf {
    uint8_t *data;
    size_t len, cap;
} tgc_buf;

void tgc_buf_free(tgc_buf *b);
void tgc_buf_put(tgc_buf *b, const void *p, size_t n);
void tgc_buf_u8(tgc_buf *b, uint8_t v);
void tgc_buf_u16(tgc_buf *b, uint16_t v);
void tgc_buf_u32(tgc_buf *b, uint32_t v);
void tgc_buf_u64(tgc_buf *b, uint64_t v);
void tgc_buf_i64(tgc_buf *b, int64_t v);
void tgc_buf_f64(tgc_buf *b, double v);
void tgc_buf_str(tgc_buf *b, const char *s); /* u32 length + bytes, no terminator; NULL writes 0xffffffff */
void tgc_buf_align(tgc_buf *b, size_t align); /* pads with zero bytes */
/* Appends formatted text (no terminator; the buffer holds text, not a C string). */
void tgc_buf_printf(tgc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A bounds-checked little-endian reader over memory that was read from a file. Every getter fails (sets
 * r->failed and returns 0 / NULL) instead of reading past the end; check r->failed once after a group. */
typedef struct tgc_reader {
    const uint8_t *data;
    size_t len, pos;
    int failed;
} tgc_reader;

uint8_t tgc_rd_u8(tgc_reader *r);
uint16_t tgc_rd_u16(tgc_reader *r);
uint32_t tgc_rd_u32(tgc_reader *r);
uint64_t tgc_rd_u64(tgc_reader *r);
int64_t tgc_rd_i64(tgc_reader *r);
double tgc_rd_f64(tgc_reader *r);
const void *tgc_rd_bytes(tgc_reader *r, size_t n);
/* Returns a fresh heap copy (caller frees) or NULL; sets *is_null when the stored string was NULL. */
char *tgc_rd_str(tgc_reader *r, int *is_null);

/* Reads a whole file into a heap buffer (caller frees). Refuses files larger than max_bytes. */
int tgc_read_file(const char *path, size_t max_bytes, uint8_t **out, size_t *out_len, tgc_err *err);
/* Writes data to path atomically: path.tmp, fsync, rename, fsync of the directory. On failure the
 * previous file at path is untouched. An existing path that is not a regular file (/dev/null, a FIFO)
 * is written directly, never replaced; a directory is an error. */
int tgc_write_file_atomic(const char *path, const void *data, size_t len, tgc_err *err);

/* Creates dir and its missing parents (as mkdir -p; mode 0777 before umask); an existing non-directory on the
 * way is an error. */
int tgc_mkdir_p(const char *dir, tgc_err *err);

/* CRC-32 (zlib's polynomial) of a byte range. */
uint32_t tgc_crc32(uint32_t crc, const void *data, size_t len);

/* Monotonic seconds, for measurements printed to people (never asserted in tests). */
double tgc_now(void);

/* Thread counts; the one place OMP_NUM_THREADS is read. tgc_env_threads: OMP_NUM_THREADS when it is a
 * count from 1 to 1024 (the first of a list: "4" of "4,2", as libgomp reads it), else 0 (unset or not a
 * count: treated as unset everywhere). tgc_online_cores: the online cores (1 to 1024). tgc_default_threads:
 * the first, else the second (what a thread count of 0 means in tgc_cpu_new and the runner). */
int tgc_env_threads(void);
int tgc_online_cores(void);
int tgc_default_threads(void);

#define TGC_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define TGC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define TGC_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
