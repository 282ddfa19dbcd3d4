/* runtime/data/data_idx.c - IDX files (MNIST, Fashion-MNIST), gzipped or plain, read and validated. */
#include "runtime/data/data.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define IDX_MAX_BYTES ((uint64_t)1 << 30)

static int gz_fail(gzFile f, const char *path, const char *what, tgc_err *err) {
    int code = 0;
    const char *msg = gzerror(f, &code);
    if (code != Z_OK)
        return tgc_fail(err, "%s: %s: %s", path, what, code == Z_ERRNO ? strerror(errno) : msg);
    return tgc_fail(err, "%s: %s", path, what);
}

/* Reads exactly n bytes. gzread works on plain files too, so one path serves both. The buffer grows as data
 * actually arrives, so a corrupt header that claims a gigabyte costs no more memory than the file holds. */
static int read_exact(gzFile f, const char *path, uint8_t **out, size_t n, const char *what, tgc_err *err) {
    size_t cap = TGC_MIN(n, (size_t)16 << 20), got = 0;
    uint8_t *buf = tgc_malloc(cap);
    while (got < n) {
        if (got == cap) {
            cap = TGC_MIN(n, cap * 2);
            buf = tgc_realloc(buf, cap);
        }
        unsigned want = (unsigned)TGC_MIN(cap - got, (size_t)1 << 30);
        int r = gzread(f, buf + got, want);
        if (r <= 0) {
            free(buf);
            if (r < 0) return gz_fail(f, path, "corrupt gzip stream", err);
            return tgc_fail(err, "%s: truncated: expected %zu bytes of %s, found %zu", path, n, what, got);
        }
        got += (size_t)r;
    }
    *out = buf;
    return 0;
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Opens path, reads the 4-byte magic and the dims, checks the magic. */
static gzFile open_idx(const char *path, uint32_t magic, int ndims, uint32_t *dims, tgc_err *err) {
    gzFile f = gzopen(path, "rb");
    if (!f) {
        tgc_fail(err, "%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
        return NULL;
    }
    gzbuffer(f, 1 << 18);
    uint8_t hdr[16];
    size_t n = 4 + 4 * (size_t)ndims;
    int r = gzread(f, hdr, (unsigned)n);
    if (r < 0) {
        gz_fail(f, path, "corrupt gzip stream", err);
        gzclose(f);
        return NULL;
    }
    if ((size_t)r < n) {
        tgc_fail(err, "%s: truncated: the IDX header needs %zu bytes, the file has %d", path, n, r);
        gzclose(f);
        return NULL;
    }
    uint32_t m = be32(hdr);
    if (m != magic) {
        tgc_fail(err, "%s: wrong magic number 0x%08x (expected 0x%08x, an IDX %s file)", path, m, magic,
                 ndims == 3 ? "image" : "label");
        gzclose(f);
        return NULL;
    }
    for (int i = 0; i < ndims; i++) dims[i] = be32(hdr + 4 + 4 * i);
    return f;
}

/* Data must end exactly where the header says. */
static int expect_end(gzFile f, const char *path, tgc_err *err) {
    uint8_t extra[64];
    int r = gzread(f, extra, sizeof extra);
    if (r < 0) return gz_fail(f, path, "corrupt gzip stream", err);
    if (r > 0) return tgc_fail(err, "%s: trailing bytes after the data the IDX header describes", path);
    return 0;
}

int tgc_idx_read_images(const char *path, int *count, int *rows, int *cols, uint8_t **pixels, tgc_err *err) {
    uint32_t d[3];
    gzFile f = open_idx(path, 0x00000803u, 3, d, err);
    if (!f) return -1;
    if (d[1] < 1 || d[1] > 4096 || d[2] < 1 || d[2] > 4096 || d[0] > INT32_MAX ||
        (uint64_t)d[0] * d[1] * d[2] > IDX_MAX_BYTES) {
        gzclose(f);
        return tgc_fail(err, "%s: implausible IDX image dimensions %u x %u x %u", path, d[0], d[1], d[2]);
    }
    uint8_t *buf = NULL;
    if (read_exact(f, path, &buf, (size_t)d[0] * d[1] * d[2], "pixels", err) || expect_end(f, path, err)) {
        free(buf);
        gzclose(f);
        return -1;
    }
    gzclose(f);
    *count = (int)d[0];
    *rows = (int)d[1];
    *cols = (int)d[2];
    *pixels = buf;
    return 0;
}

int tgc_idx_read_labels(const char *path, int max_label, int *count, int32_t **labels, tgc_err *err) {
    uint32_t d[1];
    gzFile f = open_idx(path, 0x00000801u, 1, d, err);
    if (!f) return -1;
    if (d[0] > IDX_MAX_BYTES) {
        gzclose(f);
        return tgc_fail(err, "%s: implausible IDX label count %u", path, d[0]);
    }
    uint8_t *raw = NULL;
    if (read_exact(f, path, &raw, d[0], "labels", err) || expect_end(f, path, err)) {
        free(raw);
        gzclose(f);
        return -1;
    }
    gzclose(f);
    int32_t *out = tgc_malloc(sizeof(int32_t) * (d[0] ? d[0] : 1));
    for (uint32_t i = 0; i < d[0]; i++) {
        if (raw[i] >= max_label) {
            tgc_fail(err, "%s: label %u of sample %u is out of range (must be < %d)", path, raw[i], i, max_label);
            free(raw);
            free(out);
            return -1;
        }
        out[i] = raw[i];
    }
    free(raw);
    *count = (int)d[0];
    *labels = out;
    return 0;
}
