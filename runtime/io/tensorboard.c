/* runtime/io/tensorboard.c - TFRecord-framed Event protobufs (scalar summaries) for TensorBoard. */
#include "runtime/io/tensorboard.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

struct tgc_tb_writer {
    int fd;
    char *path; /* owned */
};

/* ---- CRC-32C ------------------------------------------------------------------------------------- */

static uint32_t crc32c_table[256];
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;

static void crc32c_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc32c_table[i] = c;
    }
}

uint32_t tgc_crc32c(uint32_t crc, const void *data, size_t len) {
    pthread_once(&crc32c_once, crc32c_init);
    const uint8_t *p = data;
    crc = ~crc;
    for (size_t i = 0; i < len; i++) crc = crc32c_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

uint32_t tgc_tb_masked_crc(const void *data, size_t len) {
    uint32_t c = tgc_crc32c(0, data, len);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

/* ---- protobuf wire format ------------------------------------------------------------------------ */

static void pb_varint(tgc_buf *b, uint64_t v) {
    while (v >= 0x80) {
        tgc_buf_u8(b, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    tgc_buf_u8(b, (uint8_t)v);
}

static void pb_key(tgc_buf *b, int field, int wire) { pb_varint(b, ((uint64_t)field << 3) | (uint64_t)wire); }

static void pb_bytes(tgc_buf *b, int field, const void *p, size_t n) {
    pb_key(b, field, 2);
    pb_varint(b, n);
    tgc_buf_put(b, p, n);
}

static void event_head(tgc_buf *b, double wall_time, int64_t step) {
    pb_key(b, 1, 1); /* wall_time: fixed64 double */
    tgc_buf_f64(b, wall_time);
    if (step != 0) { /* proto3 omits defaults; readers take 0 when absent */
        pb_key(b, 2, 0);
        pb_varint(b, (uint64_t)step); /* int64: two's complement, 10 bytes when negative */
    }
}

/* ---- records ------------------------------------------------------------------------------------- */

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int write_record(tgc_tb_writer *w, const tgc_buf *data, tgc_err *err) {
    tgc_buf rec = {0};
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)data->len >> (8 * i));
    tgc_buf_put(&rec, len8, 8);
    tgc_buf_u32(&rec, tgc_tb_masked_crc(len8, 8));
    tgc_buf_put(&rec, data->data, data->len);
    tgc_buf_u32(&rec, tgc_tb_masked_crc(data->data, data->len));
    size_t off = 0;
    int rc = 0;
    while (off < rec.len) {
        ssize_t n = write(w->fd, rec.data + off, rec.len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            rc = tgc_fail(err, "%s: write failed: %s", w->path, n < 0 ? strerror(errno) : "no progress");
            break;
        }
        off += (size_t)n;
    }
    tgc_buf_free(&rec);
    return rc;
}

static int mkdir_p(const char *dir, tgc_err *err) {
    char *p = tgc_strdup(dir);
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0') continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            rc = tgc_fail(err, "%s: cannot create directory: %s", p, strerror(errno));
            break;
        }
        *s = c;
        if (!c) break;
    }
    free(p);
    if (rc) return rc;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return tgc_fail(err, "%s: not a directory", dir);
    return 0;
}

tgc_tb_writer *tgc_tb_open(const char *dir, tgc_err *err) {
    if (!dir || !*dir) {
        tgc_fail(err, "TensorBoard: empty log directory");
        return NULL;
    }
    if (mkdir_p(dir, err)) return NULL;
    char host[256] = "localhost";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0]) strcpy(host, "localhost");
    host[sizeof host - 1] = '\0';
    for (char *c = host; *c; c++)
        if (*c == '/') *c = '_';
    double t0 = now_seconds();
    tgc_tb_writer *w = tgc_calloc(1, sizeof *w);
    w->fd = -1;
    /* O_EXCL: two writers started in the same second in one directory get distinct files. */
    for (int k = 0; k < 100 && w->fd < 0; k++) {
        free(w->path);
        w->path = k ? tgc_asprintf("%s/events.out.tfevents.%010lld.%s.%d", dir, (long long)t0, host, k)
                    : tgc_asprintf("%s/events.out.tfevents.%010lld.%s", dir, (long long)t0, host);
        w->fd = open(w->path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
        if (w->fd < 0 && errno != EEXIST) break;
    }
    if (w->fd < 0) {
        tgc_fail(err, "%s: cannot create event file: %s", w->path, strerror(errno));
        free(w->path);
        free(w);
        return NULL;
    }
    tgc_buf ev = {0};
    event_head(&ev, t0, 0);
    static const char version[] = "brain.Event:2";
    pb_bytes(&ev, 3, version, sizeof version - 1);
    int rc = write_record(w, &ev, err);
    tgc_buf_free(&ev);
    if (rc) {
        tgc_tb_close(w, NULL);
        return NULL;
    }
    return w;
}

int tgc_tb_add_scalar(tgc_tb_writer *w, const char *tag, double value, int64_t step, double wall_time, tgc_err *err) {
    if (!tag) tag = "";
    size_t tlen = strlen(tag);
    tgc_buf val = {0}, sum = {0}, ev = {0};
    pb_bytes(&val, 1, tag, tlen);
    pb_key(&val, 2, 5); /* simple_value: fixed32 float */
    float f = (float)value;
    uint32_t bits;
    memcpy(&bits, &f, 4);
    tgc_buf_u32(&val, bits);
    pb_bytes(&sum, 1, val.data, val.len);
    event_head(&ev, wall_time < 0 ? now_seconds() : wall_time, step);
    pb_bytes(&ev, 5, sum.data, sum.len);
    int rc = write_record(w, &ev, err);
    tgc_buf_free(&val);
    tgc_buf_free(&sum);
    tgc_buf_free(&ev);
    return rc;
}

const char *tgc_tb_path(const tgc_tb_writer *w) { return w ? w->path : NULL; }

int tgc_tb_close(tgc_tb_writer *w, tgc_err *err) {
    if (!w) return 0;
    int rc = 0;
    if (w->fd >= 0 && close(w->fd) != 0) rc = tgc_fail(err, "%s: close failed: %s", w->path, strerror(errno));
    free(w->path);
    free(w);
    return rc;
}
