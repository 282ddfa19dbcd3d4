/* backend/cuda/codegen_cache.c - compiled generated kernels on disk, by hash (see codegen_cache.h).
 *
 * Entry layout (little-endian): magic "TGCKCUB\0", u32 version, u32 CRC-32 of the whole file with this
 * field zeroed, u64 key, u64 source length, u64 code length, u64 reserved (0); then the source, then the
 * code. */
#include "backend/cuda/codegen_cache.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend/cuda/codegen.h"

#define MAGIC "TGCKCUB"
#define HEADER 48
#define MAX_ENTRY ((size_t)1 << 30)

uint64_t tgc_kcache_key(uint64_t source_hash, const char *compile_id) {
    uint8_t le[8];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)(source_hash >> (8 * i));
    uint64_t h = tgc_codegen_fnv(TGC_FNV_OFFSET, le, sizeof le);
    return tgc_codegen_fnv(h, compile_id ? compile_id : "", compile_id ? strlen(compile_id) : 0);
}

char *tgc_kcache_default_dir(void) {
    const char *d = getenv("TGC_KERNEL_CACHE");
    if (d && *d) return tgc_strdup(d);
    d = getenv("XDG_CACHE_HOME");
    if (d && *d) return tgc_asprintf("%s/tgc/kernels", d);
    d = getenv("HOME");
    if (d && *d) return tgc_asprintf("%s/.cache/tgc/kernels", d);
    return NULL;
}

char *tgc_kcache_path(const char *dir, uint64_t key) { return tgc_asprintf("%s/%016" PRIx64 ".cubin", dir, key); }

static uint64_t rd64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

/* The reason first, then the entry's path: a short buffer keeps the reason and marks a cut path. */
static int miss(char *why, size_t n, const char *path, const char *what) {
    if (!why || !n) return 0;
    int len = snprintf(why, n, "%s (%s)", what, path);
    static const char mark[] = "...)";
    if (len >= 0 && (size_t)len >= n && n > sizeof mark) memcpy(why + n - sizeof mark, mark, sizeof mark);
    return 0;
}

int tgc_kcache_get(const char *dir, uint64_t key, const char *source, size_t source_len, uint8_t **code,
                   size_t *code_len, char *why, size_t why_len, tgc_err *err) {
    *code = NULL;
    *code_len = 0;
    if (why && why_len) why[0] = 0;
    char *path = tgc_kcache_path(dir, key);
    struct stat st;
    if (stat(path, &st) != 0) {
        int e = errno;
        int rc = e == ENOENT || e == ENOTDIR ? miss(why, why_len, path, "no entry")
                                             : tgc_fail(err, "%s: cannot stat: %s", path, strerror(e));
        free(path);
        return rc;
    }
    uint8_t *d = NULL;
    size_t n = 0;
    if (tgc_read_file(path, MAX_ENTRY, &d, &n, err) < 0) {
        free(path);
        return -1;
    }
    int rc = 0;
    if (n < HEADER || memcmp(d, MAGIC, 8) != 0) rc = miss(why, why_len, path, "not a kernel cache entry");
    else if (rd32(d + 8) != TGC_KCACHE_VERSION) rc = miss(why, why_len, path, "another entry format version");
    else if (rd64(d + 16) != key) rc = miss(why, why_len, path, "another key");
    else if (rd64(d + 24) != source_len || rd64(d + 32) > n || HEADER + source_len + rd64(d + 32) != n)
        rc = miss(why, why_len, path, "lengths that do not match the file (truncated, or another source)");
    else {
        uint32_t stored = rd32(d + 12);
        memset(d + 12, 0, 4);
        if (tgc_crc32(0, d, n) != stored) rc = miss(why, why_len, path, "a checksum mismatch (corrupted)");
        else if (memcmp(d + HEADER, source, source_len) != 0)
            rc = miss(why, why_len, path, "another source under the same key (a hash collision)");
        else {
            *code_len = (size_t)rd64(d + 32);
            *code = tgc_malloc(*code_len ? *code_len : 1);
            memcpy(*code, d + HEADER + source_len, *code_len);
            rc = 1;
        }
    }
    free(d);
    free(path);
    return rc;
}

/* mkdir -p */
static int make_dirs(const char *dir, tgc_err *err) {
    char *p = tgc_strdup(dir);
    for (char *s = p + 1;; s++) {
        int end = *s == 0;
        if (*s == '/' || end) {
            *s = 0;
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                tgc_fail(err, "%s: cannot create the kernel cache directory: %s", p, strerror(errno));
                free(p);
                return -1;
            }
            if (end) break;
            *s = '/';
        }
    }
    struct stat st;
    int ok = stat(p, &st) == 0 && S_ISDIR(st.st_mode);
    free(p);
    return ok ? 0 : tgc_fail(err, "%s: the kernel cache path is not a directory", dir);
}

static void put64(tgc_buf *b, uint64_t v) { tgc_buf_u64(b, v); }

int tgc_kcache_put(const char *dir, uint64_t key, const char *source, size_t source_len, const void *code,
                   size_t code_len, tgc_err *err) {
    if (!dir || !*dir) return tgc_fail(err, "kernel cache: no directory");
    if (make_dirs(dir, err) < 0) return -1;
    tgc_buf b = {0};
    tgc_buf_put(&b, MAGIC, 8); /* with its terminating zero */
    tgc_buf_u32(&b, TGC_KCACHE_VERSION);
    tgc_buf_u32(&b, 0); /* crc, below */
    put64(&b, key);
    put64(&b, source_len);
    put64(&b, code_len);
    put64(&b, 0);
    tgc_buf_put(&b, source, source_len);
    tgc_buf_put(&b, code, code_len);
    uint32_t crc = tgc_crc32(0, b.data, b.len);
    for (int i = 0; i < 4; i++) b.data[12 + i] = (uint8_t)(crc >> (8 * i));
    char *path = tgc_kcache_path(dir, key);
    int rc = tgc_write_file_atomic(path, b.data, b.len, err);
    free(path);
    tgc_buf_free(&b);
    return rc;
}
