/* common/util.c - errors, checked allocation, byte buffers, little-endian readers, files. */
#define _GNU_SOURCE
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* What ends a message that did not fit in tgc_err: a cut message says so instead of ending mid-path. */
static const char truncated_mark[] = " ... (message truncated)";

static void mark_truncated(tgc_err *err) {
    memcpy(err->msg + sizeof err->msg - sizeof truncated_mark, truncated_mark, sizeof truncated_mark);
}

int tgc_fail(tgc_err *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        if (n >= (int)sizeof err->msg) mark_truncated(err);
    }
    return -1;
}

int tgc_err_prefix(tgc_err *err, const char *fmt, ...) {
    if (!err) return -1;
    va_list ap;
    va_start(ap, fmt);
    char *prefix = tgc_vasprintf(fmt, ap);
    va_end(ap);
    char *old = tgc_strdup(err->msg);
    tgc_fail(err, "%s: %s", prefix, old);
    free(prefix);
    free(old);
    return -1;
}

static void oom(size_t n, const char *file, int line) {
    fprintf(stderr, "tgc: out of memory allocating %zu bytes at %s:%d\n", n, file, line);
    abort();
}

void *tgc_malloc_at(size_t n, const char *file, int line) {
    void *p = malloc(n ? n : 1);
    if (!p) oom(n, file, line);
    return p;
}

void *tgc_calloc_at(size_t n, size_t size, const char *file, int line) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom(n * size, file, line);
    return p;
}

void *tgc_realloc_at(void *p, size_t n, const char *file, int line) {
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n, file, line);
    return q;
}

char *tgc_strdup_at(const char *s, const char *file, int line) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = tgc_malloc_at(n, file, line);
    memcpy(d, s, n);
    return d;
}

char *tgc_vasprintf(const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    char *s = tgc_malloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

char *tgc_asprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = tgc_vasprintf(fmt, ap);
    va_end(ap);
    return s;
}

void tgc_grow(void **arr, int *cap, int need, size_t elem) {
    if (need <= *cap) return;
    int c = *cap ? *cap : 8;
    while (c < need) c *= 2;
    *arr = tgc_realloc(*arr, (size_t)c * elem);
    memset((char *)*arr + (size_t)*cap * elem, 0, (size_t)(c - *cap) * elem);
    *cap = c;
}

/* ---- buffers ---------------------------------------------------------------------------------- */
void tgc_buf_free(tgc_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void tgc_buf_put(tgc_buf *b, const void *p, size_t n) {
    if (b->len + n > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->len + n) c *= 2;
        b->data = tgc_realloc(b->data, c);
        b->cap = c;
    }
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_le(tgc_buf *b, uint64_t v, int n) {
    uint8_t t[8];
    for (int i = 0; i < n; i++) t[i] = (uint8_t)(v >> (8 * i));
    tgc_buf_put(b, t, (size_t)n);
}

void tgc_buf_u8(tgc_buf *b, uint8_t v) { put_le(b, v, 1); }
void tgc_buf_u16(tgc_buf *b, uint16_t v) { put_le(b, v, 2); }
void tgc_buf_u32(tgc_buf *b, uint32_t v) { put_le(b, v, 4); }
void tgc_buf_u64(tgc_buf *b, uint64_t v) { put_le(b, v, 8); }
void tgc_buf_i64(tgc_buf *b, int64_t v) { put_le(b, (uint64_t)v, 8); }
void tgc_buf_f64(tgc_buf *b, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    put_le(b, u, 8);
}
void tgc_buf_str(tgc_buf *b, const char *s) {
    if (!s) {
        tgc_buf_u32(b, 0xffffffffu);
        return;
    }
    size_t n = strlen(s);
    tgc_buf_u32(b, (uint32_t)n);
    tgc_buf_put(b, s, n);
}
void tgc_buf_align(tgc_buf *b, size_t align) {
    static const uint8_t zeros[64];
    while (b->len % align) tgc_buf_put(b, zeros, TGC_MIN(align - b->len % align, sizeof zeros));
}

void tgc_buf_printf(tgc_buf *b, const char *fmt, ...) {
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        tgc_buf_put(b, small, (size_t)n);
        return;
    }
    char *big = tgc_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    tgc_buf_put(b, big, (size_t)n);
    free(big);
}

/* ---- readers ---------------------------------------------------------------------------------- */
const void *tgc_rd_bytes(tgc_reader *r, size_t n) {
    if (r->failed || n > r->len - r->pos) {
        r->failed = 1;
        return NULL;
    }
    const void *p = r->data + r->pos;
    r->pos += n;
    return p;
}

static uint64_t get_le(tgc_reader *r, int n) {
    const uint8_t *p = tgc_rd_bytes(r, (size_t)n);
    if (!p) return 0;
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

uint8_t tgc_rd_u8(tgc_reader *r) { return (uint8_t)get_le(r, 1); }
uint16_t tgc_rd_u16(tgc_reader *r) { return (uint16_t)get_le(r, 2); }
uint32_t tgc_rd_u32(tgc_reader *r) { return (uint32_t)get_le(r, 4); }
uint64_t tgc_rd_u64(tgc_reader *r) { return get_le(r, 8); }
int64_t tgc_rd_i64(tgc_reader *r) { return (int64_t)get_le(r, 8); }
double tgc_rd_f64(tgc_reader *r) {
    uint64_t u = get_le(r, 8);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

char *tgc_rd_str(tgc_reader *r, int *is_null) {
    uint32_t n = tgc_rd_u32(r);
    if (is_null) *is_null = 0;
    if (r->failed) return NULL;
    if (n == 0xffffffffu) {
        if (is_null) *is_null = 1;
        return NULL;
    }
    const char *p = tgc_rd_bytes(r, n);
    if (!p) return NULL;
    char *s = tgc_malloc((size_t)n + 1);
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}

/* ---- files ------------------------------------------------------------------------------------ */
int tgc_read_file(const char *path, size_t max_bytes, uint8_t **out, size_t *out_len, tgc_err *err) {
    *out = NULL;
    *out_len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return tgc_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        return tgc_fail(err, "%s: is a directory", path);
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = tgc_malloc(cap + 1);
    for (;;) {
        if (len == cap) {
            if (cap >= max_bytes) {
                free(buf);
                fclose(f);
                return tgc_fail(err, "%s: file is larger than the %zu-byte limit", path, max_bytes);
            }
            cap = TGC_MIN(cap * 2, max_bytes + 1);
            buf = tgc_realloc(buf, cap + 1);
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return tgc_fail(err, "%s: read error", path);
    }
    if (len > max_bytes) {
        free(buf);
        return tgc_fail(err, "%s: file is larger than the %zu-byte limit", path, max_bytes);
    }
    buf[len] = 0; /* convenient for text; not counted */
    *out = buf;
    *out_len = len;
    return 0;
}

/* Writes straight to an existing file that is not a regular file (/dev/null, a FIFO, a terminal):
 * renaming over it would replace the device with a regular file. */
static int write_special(const char *path, const void *data, size_t len, tgc_err *err) {
    int fd = open(path, O_WRONLY | O_TRUNC);
    if (fd < 0) return tgc_fail(err, "%s: cannot open for writing: %s", path, strerror(errno));
    const uint8_t *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            return tgc_fail(err, "%s: write failed: %s", path, strerror(e));
        }
        p += n;
        len -= (size_t)n;
    }
    close(fd);
    return 0;
}

int tgc_write_file_atomic(const char *path, const void *data, size_t len, tgc_err *err) {
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        if (S_ISDIR(st.st_mode)) return tgc_fail(err, "%s: is a directory", path);
        return write_special(path, data, len, err);
    }
    char *tmp = tgc_asprintf("%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        tgc_fail(err, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    const uint8_t *p = data;
    size_t left = len;
    while (left) {
        ssize_t n = write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            tgc_fail(err, "%s: write failed: %s (the previous %s is untouched)", tmp, strerror(errno), path);
            close(fd);
            unlink(tmp);
            free(tmp);
            return -1;
        }
        p += n;
        left -= (size_t)n;
    }
    int synced = fsync(fd) == 0;
    int sync_errno = errno;
    int closed = close(fd) == 0;
    if (!synced || !closed) {
        tgc_fail(err, "%s: %s failed: %s (the previous %s is untouched)", tmp, synced ? "close" : "fsync",
                 strerror(synced ? errno : sync_errno), path);
        unlink(tmp);
        free(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        tgc_fail(err, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    char *dup = tgc_strdup(path);
    int dfd = open(dirname(dup), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    free(dup);
    return 0;
}

uint32_t tgc_crc32(uint32_t crc, const void *data, size_t len) {
    const uint8_t *p = data;
    while (len) { /* zlib takes uInt lengths */
        uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
        crc = (uint32_t)crc32(crc, p, n);
        p += n;
        len -= n;
    }
    return crc;
}

double tgc_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int tgc_env_threads(void) {
    const char *e = getenv("OMP_NUM_THREADS");
    if (!e || !*e) return 0;
    char *end;
    long v = strtol(e, &end, 10);
    return end != e && v > 0 && v <= 1024 && (*end == 0 || *end == ',') ? (int)v : 0;
}

int tgc_online_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)TGC_MIN(n, 1024) : 1;
}

int tgc_default_threads(void) {
    int n = tgc_env_threads();
    return n > 0 ? n : tgc_online_cores();
}

int tgc_mkdir_p(const char *dir, tgc_err *err) {
    char *p = tgc_strdup(dir);
    size_t n = strlen(p);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != 0) continue;
        char c = p[i];
        p[i] = 0;
        struct stat st;
        if (mkdir(p, 0777) < 0 && errno != EEXIST) {
            int e = errno;
            tgc_fail(err, "cannot create directory %s: %s", p, strerror(e));
            free(p);
            return -1;
        }
        if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode)) {
            tgc_fail(err, "%s exists and is not a directory", p);
            free(p);
            return -1;
        }
        p[i] = c;
    }
    free(p);
    return 0;
}
