/* runtime/io/checkpoint.c - writing, validating and reading checkpoints; the last_checkpoint pointer. */
#include "runtime/io/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { META_INT = 1, META_FLOAT = 2, META_STR = 3 };

typedef struct meta_entry {
    char *key; /* owned */
    int kind;
    int64_t i;
    double f;
    char *s; /* owned (META_STR) */
} meta_entry;

typedef struct wr_tensor {
    char *name; /* owned */
    tgc_dtype dtype;
    tgc_shape shape;
    const void *data; /* borrowed */
    uint64_t bytes;
} wr_tensor;

struct tgc_ckpt_writer {
    uint32_t plan_checksum;
    int n, cap;
    wr_tensor *t;
    int n_meta, cap_meta;
    meta_entry *meta;
};

struct tgc_ckpt {
    uint8_t *file; /* owned: the whole file */
    size_t len;
    uint32_t plan_checksum;
    int n;
    tgc_ckpt_tensor *t; /* owned */
    int n_meta;
    meta_entry *meta; /* owned */
};

/* ---- writer -------------------------------------------------------------------------------------- */

tgc_ckpt_writer *tgc_ckpt_writer_new(uint32_t plan_checksum) {
    tgc_ckpt_writer *w = tgc_calloc(1, sizeof *w);
    w->plan_checksum = plan_checksum;
    return w;
}

static void meta_free(meta_entry *m, int n) {
    for (int i = 0; i < n; i++) {
        free(m[i].key);
        free(m[i].s);
    }
    free(m);
}

void tgc_ckpt_writer_free(tgc_ckpt_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) free(w->t[i].name);
    free(w->t);
    meta_free(w->meta, w->n_meta);
    free(w);
}

/* numel x size with overflow checks; -1 on overflow or a bad shape. */
static int tensor_bytes(tgc_dtype dt, const tgc_shape *s, uint64_t *out) {
    uint64_t n = tgc_dtype_size(dt);
    if (n == 0 || s->rank < 0 || s->rank > TGC_MAX_RANK) return -1;
    for (int i = 0; i < s->rank; i++) {
        if (s->d[i] < 0 || __builtin_mul_overflow(n, (uint64_t)s->d[i], &n)) return -1;
    }
    *out = n;
    return 0;
}

int tgc_ckpt_add(tgc_ckpt_writer *w, const char *name, tgc_dtype dtype, const tgc_shape *shape, const void *data,
                 tgc_err *err) {
    if (!name || !*name) return tgc_fail(err, "checkpoint: a tensor needs a name");
    if (strlen(name) > 65535) return tgc_fail(err, "checkpoint: tensor name longer than 65535 bytes");
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0) return tgc_fail(err, "checkpoint: tensor '%s' added twice", name);
    if ((unsigned)dtype >= TGC_DTYPE_COUNT) return tgc_fail(err, "checkpoint: tensor '%s': bad dtype %d", name, (int)dtype);
    uint64_t bytes;
    if (tensor_bytes(dtype, shape, &bytes)) return tgc_fail(err, "checkpoint: tensor '%s': bad shape", name);
    if (bytes && !data) return tgc_fail(err, "checkpoint: tensor '%s': no data", name);
    TGC_GROW(w->t, w->cap, w->n + 1);
    wr_tensor *t = &w->t[w->n++];
    t->name = tgc_strdup(name);
    t->dtype = dtype;
    t->shape = tgc_shape_make(shape->rank, shape->d);
    t->data = data;
    t->bytes = bytes;
    return 0;
}

static meta_entry *meta_slot(tgc_ckpt_writer *w, const char *key) {
    for (int i = 0; i < w->n_meta; i++)
        if (strcmp(w->meta[i].key, key) == 0) {
            free(w->meta[i].s);
            w->meta[i].s = NULL;
            return &w->meta[i];
        }
    TGC_GROW(w->meta, w->cap_meta, w->n_meta + 1);
    meta_entry *m = &w->meta[w->n_meta++];
    memset(m, 0, sizeof *m);
    m->key = tgc_strdup(key);
    return m;
}

void tgc_ckpt_set_int(tgc_ckpt_writer *w, const char *key, int64_t v) {
    meta_entry *m = meta_slot(w, key);
    m->kind = META_INT;
    m->i = v;
}

void tgc_ckpt_set_float(tgc_ckpt_writer *w, const char *key, double v) {
    meta_entry *m = meta_slot(w, key);
    m->kind = META_FLOAT;
    m->f = v;
}

void tgc_ckpt_set_str(tgc_ckpt_writer *w, const char *key, const char *v) {
    meta_entry *m = meta_slot(w, key);
    m->kind = META_STR;
    m->s = tgc_strdup(v ? v : "");
}

/* Zero padding up to the next aligned offset counted from the file's start (base). */
static void pad_to(tgc_buf *out, size_t base) {
    static const uint8_t zeros[TGC_CKPT_ALIGN];
    size_t rem = (out->len - base) % TGC_CKPT_ALIGN;
    if (rem) tgc_buf_put(out, zeros, TGC_CKPT_ALIGN - rem);
}

void tgc_ckpt_serialize(const tgc_ckpt_writer *w, tgc_buf *out) {
    size_t base = out->len;
    /* header, with the lengths patched in below */
    tgc_buf_put(out, TGC_CKPT_MAGIC "", 8);
    tgc_buf_u32(out, TGC_CKPT_VERSION);
    tgc_buf_u32(out, w->plan_checksum);
    tgc_buf_u32(out, (uint32_t)w->n);
    tgc_buf_u32(out, 0); /* crc */
    for (int i = 0; i < 5; i++) tgc_buf_u64(out, 0);

    size_t meta_start = out->len;
    tgc_buf_u32(out, (uint32_t)w->n_meta);
    for (int i = 0; i < w->n_meta; i++) {
        const meta_entry *m = &w->meta[i];
        tgc_buf_str(out, m->key);
        tgc_buf_u8(out, (uint8_t)m->kind);
        if (m->kind == META_INT) tgc_buf_i64(out, m->i);
        else if (m->kind == META_FLOAT) tgc_buf_f64(out, m->f);
        else tgc_buf_str(out, m->s);
    }
    size_t table_start = out->len;
    /* Table entries have a fixed size given the names and ranks, so the data offsets are known first. */
    size_t table_len = 0;
    for (int i = 0; i < w->n; i++) table_len += 4 + strlen(w->t[i].name) + 4 + 4 + 8 * (size_t)w->t[i].shape.rank + 16;
    uint64_t off = table_start - base + table_len;
    off = (off + TGC_CKPT_ALIGN - 1) / TGC_CKPT_ALIGN * TGC_CKPT_ALIGN;
    uint64_t data_off = off;
    for (int i = 0; i < w->n; i++) {
        const wr_tensor *t = &w->t[i];
        tgc_buf_str(out, t->name);
        tgc_buf_u32(out, (uint32_t)t->dtype);
        tgc_buf_u32(out, (uint32_t)t->shape.rank);
        for (int k = 0; k < t->shape.rank; k++) tgc_buf_i64(out, t->shape.d[k]);
        tgc_buf_u64(out, off);
        tgc_buf_u64(out, t->bytes);
        off = (off + t->bytes + TGC_CKPT_ALIGN - 1) / TGC_CKPT_ALIGN * TGC_CKPT_ALIGN;
    }
    for (int i = 0; i < w->n; i++) {
        pad_to(out, base);
        tgc_buf_put(out, w->t[i].data, w->t[i].bytes);
    }
    if (w->n == 0) pad_to(out, base);

    uint8_t *h = out->data + base;
    uint64_t fields[4] = {out->len - base, table_start - meta_start, table_len, data_off};
    for (int f = 0; f < 4; f++)
        for (int k = 0; k < 8; k++) h[24 + 8 * f + k] = (uint8_t)(fields[f] >> (8 * k));
    uint32_t crc = tgc_crc32(0, h, out->len - base);
    for (int k = 0; k < 4; k++) h[20 + k] = (uint8_t)(crc >> (8 * k));
}

int tgc_ckpt_save(const tgc_ckpt_writer *w, const char *path, tgc_err *err) {
    tgc_buf b = {0};
    tgc_ckpt_serialize(w, &b);
    int rc = tgc_write_file_atomic(path, b.data, b.len, err);
    tgc_buf_free(&b);
    if (rc) return tgc_err_prefix(err, "saving checkpoint %s", path);
    return 0;
}

/* ---- reader -------------------------------------------------------------------------------------- */

void tgc_ckpt_free(tgc_ckpt *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) free(c->t[i].name);
    free(c->t);
    meta_free(c->meta, c->n_meta);
    free(c->file);
    free(c);
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

/* Reads a non-NULL string without NUL bytes inside; 0 on success. */
static int rd_name(tgc_reader *r, char **out) {
    *out = NULL;
    size_t at = r->pos;
    uint32_t n = tgc_rd_u32(r);
    if (r->failed) return -1;
    r->pos = at;
    int is_null = 0;
    *out = tgc_rd_str(r, &is_null);
    if (r->failed || is_null || !*out || strlen(*out) != n) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

static int parse_meta(tgc_ckpt *c, const char *name, uint64_t start, uint64_t len, tgc_err *err) {
    tgc_reader r = {c->file + start, (size_t)len, 0, 0};
    uint32_t n = tgc_rd_u32(&r);
    if (r.failed) return tgc_fail(err, "%s: meta block truncated", name);
    if (n > len / 9) return tgc_fail(err, "%s: meta block claims %u entries in %llu bytes", name, n, (unsigned long long)len);
    c->meta = tgc_calloc(n ? n : 1, sizeof *c->meta);
    for (uint32_t i = 0; i < n; i++) {
        meta_entry *m = &c->meta[i];
        c->n_meta = (int)i + 1;
        if (rd_name(&r, &m->key)) return tgc_fail(err, "%s: meta entry %u: bad key", name, i);
        m->kind = tgc_rd_u8(&r);
        if (m->kind == META_INT) m->i = tgc_rd_i64(&r);
        else if (m->kind == META_FLOAT) m->f = tgc_rd_f64(&r);
        else if (m->kind == META_STR) {
            if (rd_name(&r, &m->s)) return tgc_fail(err, "%s: meta '%s': bad string value", name, m->key);
        } else return tgc_fail(err, "%s: meta '%s': unknown kind %d", name, m->key, m->kind);
        if (r.failed) return tgc_fail(err, "%s: meta '%s' runs past the meta block", name, m->key);
        for (uint32_t k = 0; k < i; k++)
            if (strcmp(c->meta[k].key, m->key) == 0) return tgc_fail(err, "%s: meta key '%s' appears twice", name, m->key);
    }
    if (r.pos != r.len) return tgc_fail(err, "%s: %zu stray bytes after the meta entries", name, r.len - r.pos);
    return 0;
}

static int parse_table(tgc_ckpt *c, const char *name, uint32_t n, uint64_t start, uint64_t len, uint64_t data_off,
                       tgc_err *err) {
    tgc_reader r = {c->file + start, (size_t)len, 0, 0};
    if (n > len / 28) return tgc_fail(err, "%s: tensor table claims %u tensors in %llu bytes", name, n, (unsigned long long)len);
    c->t = tgc_calloc(n ? n : 1, sizeof *c->t);
    uint64_t prev_end = data_off;
    for (uint32_t i = 0; i < n; i++) {
        tgc_ckpt_tensor *t = &c->t[i];
        c->n = (int)i + 1;
        if (rd_name(&r, &t->name)) return tgc_fail(err, "%s: tensor table entry %u: bad name", name, i);
        uint32_t dt = tgc_rd_u32(&r), rank = tgc_rd_u32(&r);
        if (r.failed) return tgc_fail(err, "%s: tensor '%s': entry runs past the table", name, t->name);
        if (dt >= TGC_DTYPE_COUNT) return tgc_fail(err, "%s: tensor '%s': unknown dtype code %u", name, t->name, dt);
        if (rank > TGC_MAX_RANK) return tgc_fail(err, "%s: tensor '%s': rank %u > %d", name, t->name, rank, TGC_MAX_RANK);
        t->dtype = (tgc_dtype)dt;
        t->shape.rank = (int)rank;
        for (uint32_t k = 0; k < rank; k++) t->shape.d[k] = tgc_rd_i64(&r);
        t->offset = tgc_rd_u64(&r);
        t->bytes = tgc_rd_u64(&r);
        if (r.failed) return tgc_fail(err, "%s: tensor '%s': entry runs past the table", name, t->name);
        uint64_t want;
        if (tensor_bytes(t->dtype, &t->shape, &want) || want != t->bytes)
            return tgc_fail(err, "%s: tensor '%s': %llu bytes do not match its shape and dtype", name, t->name,
                            (unsigned long long)t->bytes);
        /* Data must lie after the tables, in order, without overlap, aligned, inside the file. */
        if (t->offset % TGC_CKPT_ALIGN || t->offset < prev_end || t->offset > c->len || t->bytes > c->len - t->offset)
            return tgc_fail(err, "%s: tensor '%s': data [%llu, +%llu) is out of bounds or misplaced (file is %zu bytes)",
                            name, t->name, (unsigned long long)t->offset, (unsigned long long)t->bytes, c->len);
        prev_end = t->offset + t->bytes;
        for (uint32_t k = 0; k < i; k++)
            if (strcmp(c->t[k].name, t->name) == 0) return tgc_fail(err, "%s: tensor '%s' appears twice", name, t->name);
    }
    if (r.pos != r.len) return tgc_fail(err, "%s: %zu stray bytes after the tensor table", name, r.len - r.pos);
    return 0;
}

/* Takes ownership of file. */
static tgc_ckpt *parse_owned(uint8_t *file, size_t len, const char *name, const uint32_t *expect_plan, tgc_err *err) {
    tgc_ckpt *c = tgc_calloc(1, sizeof *c);
    c->file = file;
    c->len = len;
    const uint8_t *h = file;
    if (len < 8 || memcmp(h, TGC_CKPT_MAGIC "", 8) != 0) {
        if (len < 8 && memcmp(h, TGC_CKPT_MAGIC, len) == 0)
            tgc_fail(err, "%s: truncated checkpoint (%zu bytes; the header needs %d)", name, len, TGC_CKPT_HEADER_BYTES);
        else
            tgc_fail(err, "%s: not a tgc checkpoint (wrong magic)", name);
        goto fail;
    }
    if (len < TGC_CKPT_HEADER_BYTES) {
        tgc_fail(err, "%s: truncated checkpoint (%zu bytes; the header needs %d)", name, len, TGC_CKPT_HEADER_BYTES);
        goto fail;
    }
    uint32_t version = le32(h + 8);
    if (version > TGC_CKPT_VERSION) {
        tgc_fail(err, "%s: checkpoint format version %u is newer than this tgc reads (%d); use a newer tgc", name,
                 version, TGC_CKPT_VERSION);
        goto fail;
    }
    if (version == 0) {
        tgc_fail(err, "%s: bad checkpoint format version 0", name);
        goto fail;
    }
    uint64_t file_size = le64(h + 24);
    if (file_size != len) {
        tgc_fail(err, "%s: %s checkpoint: the header says %llu bytes, the file has %zu", name,
                 len < file_size ? "truncated" : "over-long", (unsigned long long)file_size, len);
        goto fail;
    }
    uint32_t stored = le32(h + 20);
    static const uint8_t zero4[4] = {0};
    uint32_t crc = tgc_crc32(0, h, 20);
    crc = tgc_crc32(crc, zero4, 4);
    crc = tgc_crc32(crc, h + 24, len - 24);
    if (crc != stored) {
        tgc_fail(err, "%s: checkpoint checksum mismatch (stored %08x, computed %08x): the file is corrupted", name,
                 stored, crc);
        goto fail;
    }
    c->plan_checksum = le32(h + 12);
    if (expect_plan && *expect_plan != c->plan_checksum) {
        tgc_fail(err, "%s: checkpoint was saved from another plan (its plan checksum is %08x, this plan's is %08x)",
                 name, c->plan_checksum, *expect_plan);
        goto fail;
    }
    uint32_t n = le32(h + 16);
    uint64_t meta_len = le64(h + 32), table_len = le64(h + 40), data_off = le64(h + 48);
    uint64_t room = len - TGC_CKPT_HEADER_BYTES;
    if (meta_len > room || table_len > room - meta_len || data_off < TGC_CKPT_HEADER_BYTES + meta_len + table_len ||
        data_off > len || data_off % TGC_CKPT_ALIGN) {
        tgc_fail(err, "%s: checkpoint tables out of bounds (meta %llu, table %llu, data at %llu, file %zu bytes)", name,
                 (unsigned long long)meta_len, (unsigned long long)table_len, (unsigned long long)data_off, len);
        goto fail;
    }
    if (parse_meta(c, name, TGC_CKPT_HEADER_BYTES, meta_len, err) ||
        parse_table(c, name, n, TGC_CKPT_HEADER_BYTES + meta_len, table_len, data_off, err))
        goto fail;
    return c;
fail:
    tgc_ckpt_free(c);
    return NULL;
}

tgc_ckpt *tgc_ckpt_parse(const uint8_t *data, size_t len, const char *name, const uint32_t *expect_plan, tgc_err *err) {
    uint8_t *copy = tgc_malloc(len ? len : 1);
    if (len) memcpy(copy, data, len);
    return parse_owned(copy, len, name, expect_plan, err);
}

tgc_ckpt *tgc_ckpt_load(const char *path, const uint32_t *expect_plan, tgc_err *err) {
    uint8_t *buf;
    size_t len;
    if (tgc_read_file(path, (size_t)TGC_CKPT_MAX_FILE, &buf, &len, err)) return NULL;
    return parse_owned(buf, len, path, expect_plan, err);
}

uint32_t tgc_ckpt_plan_checksum(const tgc_ckpt *c) { return c->plan_checksum; }
int tgc_ckpt_n_tensors(const tgc_ckpt *c) { return c->n; }
const tgc_ckpt_tensor *tgc_ckpt_tensor_at(const tgc_ckpt *c, int i) { return i >= 0 && i < c->n ? &c->t[i] : NULL; }

const tgc_ckpt_tensor *tgc_ckpt_find(const tgc_ckpt *c, const char *name) {
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->t[i].name, name) == 0) return &c->t[i];
    return NULL;
}

const void *tgc_ckpt_data(const tgc_ckpt *c, const tgc_ckpt_tensor *t) { return c->file + t->offset; }

int tgc_ckpt_copy(const tgc_ckpt *c, const char *name, tgc_dtype dtype, const tgc_shape *shape, void *dst,
                  size_t dst_bytes, tgc_err *err) {
    const tgc_ckpt_tensor *t = tgc_ckpt_find(c, name);
    if (!t) return tgc_fail(err, "checkpoint has no tensor '%s'", name);
    char want[96], got[96];
    tgc_shape_str(shape, want, sizeof want);
    tgc_shape_str(&t->shape, got, sizeof got);
    if (t->dtype != dtype || !tgc_shape_eq(&t->shape, shape))
        return tgc_fail(err, "checkpoint tensor '%s' is %s%s, the plan wants %s%s", name, tgc_dtype_name(t->dtype), got,
                        tgc_dtype_name(dtype), want);
    if (t->bytes > dst_bytes)
        return tgc_fail(err, "checkpoint tensor '%s': %llu bytes do not fit in %zu", name, (unsigned long long)t->bytes,
                        dst_bytes);
    if (t->bytes) memcpy(dst, c->file + t->offset, (size_t)t->bytes);
    return 0;
}

static const meta_entry *meta_find(const tgc_ckpt *c, const char *key) {
    for (int i = 0; i < c->n_meta; i++)
        if (strcmp(c->meta[i].key, key) == 0) return &c->meta[i];
    return NULL;
}

static const char *kind_name(int k) { return k == META_INT ? "an int" : k == META_FLOAT ? "a float" : "a string"; }

int tgc_ckpt_get_int(const tgc_ckpt *c, const char *key, int64_t def, int64_t *out, tgc_err *err) {
    const meta_entry *m = meta_find(c, key);
    *out = def;
    if (!m) return 0;
    if (m->kind != META_INT) return tgc_fail(err, "checkpoint meta '%s' is %s, expected an int", key, kind_name(m->kind));
    *out = m->i;
    return 1;
}

int tgc_ckpt_get_float(const tgc_ckpt *c, const char *key, double def, double *out, tgc_err *err) {
    const meta_entry *m = meta_find(c, key);
    *out = def;
    if (!m) return 0;
    if (m->kind == META_INT) *out = (double)m->i;
    else if (m->kind == META_FLOAT) *out = m->f;
    else return tgc_fail(err, "checkpoint meta '%s' is %s, expected a float", key, kind_name(m->kind));
    return 1;
}

int tgc_ckpt_get_str(const tgc_ckpt *c, const char *key, const char *def, const char **out, tgc_err *err) {
    const meta_entry *m = meta_find(c, key);
    *out = def;
    if (!m) return 0;
    if (m->kind != META_STR) return tgc_fail(err, "checkpoint meta '%s' is %s, expected a string", key, kind_name(m->kind));
    *out = m->s;
    return 1;
}

/* ---- last_checkpoint ----------------------------------------------------------------------------- */

#define LAST_MAX 4096

int tgc_ckpt_write_last(const char *work_dir, const char *ckpt_path, tgc_err *err) {
    size_t n = ckpt_path ? strlen(ckpt_path) : 0;
    if (n == 0 || n > LAST_MAX || strpbrk(ckpt_path, "\n\r"))
        return tgc_fail(err, "last_checkpoint: bad checkpoint path (empty, too long or with a line break)");
    char *p = tgc_asprintf("%s/last_checkpoint", work_dir);
    int rc = tgc_write_file_atomic(p, ckpt_path, n, err);
    free(p);
    return rc;
}

int tgc_ckpt_read_last(const char *work_dir, char **ckpt_path, tgc_err *err) {
    *ckpt_path = NULL;
    char *p = tgc_asprintf("%s/last_checkpoint", work_dir);
    struct stat st;
    if (stat(p, &st) != 0 && errno == ENOENT) {
        free(p);
        return 0;
    }
    uint8_t *buf;
    size_t len;
    if (tgc_read_file(p, LAST_MAX + 64, &buf, &len, err)) {
        free(p);
        return -1;
    }
    int rc = 1;
    size_t a = 0, b = len;
    while (a < b && (buf[a] == ' ' || buf[a] == '\t' || buf[a] == '\n' || buf[a] == '\r')) a++;
    while (b > a && (buf[b - 1] == ' ' || buf[b - 1] == '\t' || buf[b - 1] == '\n' || buf[b - 1] == '\r')) b--;
    if (a == b) rc = tgc_fail(err, "%s: empty", p);
    else if (b - a > LAST_MAX) rc = tgc_fail(err, "%s: path longer than %d bytes", p, LAST_MAX);
    else if (memchr(buf + a, '\0', b - a) || memchr(buf + a, '\n', b - a) || memchr(buf + a, '\r', b - a))
        rc = tgc_fail(err, "%s: holds more than one line (or a NUL byte)", p);
    if (rc == 1) {
        *ckpt_path = tgc_malloc(b - a + 1);
        memcpy(*ckpt_path, buf + a, b - a);
        (*ckpt_path)[b - a] = '\0';
    }
    free(buf);
    free(p);
    return rc;
}

char *tgc_ckpt_newest_valid(const char *damaged, uint32_t plan_checksum, int64_t *iter) {
    char *dup = tgc_strdup(damaged), *dir = tgc_strdup(dirname(dup)), *best = NULL;
    free(dup);
    DIR *d = opendir(dir);
    int64_t best_iter = -1;
    double best_mtime = -1;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".ckpt")) continue;
        char *path = tgc_asprintf("%s/%s", dir, e->d_name);
        struct stat st;
        tgc_ckpt *c = NULL;
        int64_t it = -1;
        if (strcmp(path, damaged) && stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
            (c = tgc_ckpt_load(path, &plan_checksum, NULL)) && tgc_ckpt_get_int(c, "iter", -1, &it, NULL) >= 0) {
            double mt = (double)st.st_mtime;
            if (it > best_iter || (it == best_iter && mt > best_mtime)) {
                free(best);
                best = path;
                path = NULL;
                best_iter = it;
                best_mtime = mt;
            }
        }
        tgc_ckpt_free(c);
        free(path);
    }
    if (d) closedir(d);
    free(dir);
    *iter = best_iter;
    return best;
}
