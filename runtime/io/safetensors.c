/* runtime/io/safetensors.c - safetensors: u64 header length, a JSON header, raw little-endian data.
 *
 * The header is read by a small JSON scanner that accepts only what the format holds: one object whose
 * values are tensor entries {"dtype": S, "shape": [N...], "data_offsets": [B, E]} or "__metadata__"
 * (an object of strings). Nesting beyond 8 levels, numbers outside int64, and anything else refuse.
 * Tensors must lie inside the data block; overlap is allowed, as the format's reference reader refuses
 * only out-of-range entries.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/io/state_dict.h"

#define ST_MAX_HEADER (100u << 20) /* the reference implementation's limit */

typedef struct js {
    const char *s;
    size_t len, pos;
    const char *name;
    tgc_err *err;
} js;

static int jfail(js *j, const char *what) {
    return tgc_fail(j->err, "%s: safetensors header byte %zu: %s", j->name, j->pos + 8, what);
}

static void ws(js *j) {
    while (j->pos < j->len && strchr(" \t\r\n", j->s[j->pos]) && j->s[j->pos]) j->pos++;
}

static int expect(js *j, char c) {
    ws(j);
    if (j->pos >= j->len || j->s[j->pos] != c) {
        char m[32];
        snprintf(m, sizeof m, "expected '%c'", c);
        return jfail(j, m);
    }
    j->pos++;
    return 0;
}

static int peek(js *j, char c) {
    ws(j);
    return j->pos < j->len && j->s[j->pos] == c;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* A JSON string into a fresh buffer (caller frees); \uXXXX outside ASCII becomes UTF-8. */
static char *jstr(js *j) {
    if (expect(j, '"')) return NULL;
    tgc_buf b = {0};
    while (j->pos < j->len && j->s[j->pos] != '"') {
        char c = j->s[j->pos++];
        if ((unsigned char)c < 0x20) break;
        if (c != '\\') {
            tgc_buf_u8(&b, (uint8_t)c);
            continue;
        }
        if (j->pos >= j->len) break;
        c = j->s[j->pos++];
        const char *esc = strchr("\"\\/bfnrt", c);
        if (esc && c) {
            tgc_buf_u8(&b, (uint8_t)"\"\\/\b\f\n\r\t"[esc - "\"\\/bfnrt"]);
        } else if (c == 'u' && j->len - j->pos >= 4) {
            int v = 0;
            for (int k = 0; k < 4; k++) {
                int h = hexval(j->s[j->pos + k]);
                if (h < 0) v = -1;
                if (v >= 0) v = v * 16 + h;
            }
            if (v <= 0) break; /* malformed, or a NUL inside a name */
            j->pos += 4;
            if (v < 0x80) tgc_buf_u8(&b, (uint8_t)v);
            else if (v < 0x800) {
                tgc_buf_u8(&b, (uint8_t)(0xc0 | v >> 6));
                tgc_buf_u8(&b, (uint8_t)(0x80 | (v & 0x3f)));
            } else {
                tgc_buf_u8(&b, (uint8_t)(0xe0 | v >> 12));
                tgc_buf_u8(&b, (uint8_t)(0x80 | ((v >> 6) & 0x3f)));
                tgc_buf_u8(&b, (uint8_t)(0x80 | (v & 0x3f)));
            }
        } else {
            break;
        }
    }
    if (j->pos >= j->len || j->s[j->pos] != '"') {
        tgc_buf_free(&b);
        jfail(j, "malformed string");
        return NULL;
    }
    j->pos++;
    if (b.len && memchr(b.data, 0, b.len)) {
        tgc_buf_free(&b);
        jfail(j, "a string holds a NUL byte");
        return NULL;
    }
    tgc_buf_u8(&b, 0);
    return (char *)b.data;
}

static int jint(js *j, int64_t *out) {
    ws(j);
    size_t start = j->pos;
    if (j->pos < j->len && j->s[j->pos] == '-') j->pos++;
    while (j->pos < j->len && j->s[j->pos] >= '0' && j->s[j->pos] <= '9') j->pos++;
    size_t n = j->pos - start;
    char buf[24];
    if (n == 0 || n >= sizeof buf) return jfail(j, "expected an integer below 2^63");
    memcpy(buf, j->s + start, n);
    buf[n] = 0;
    errno = 0;
    char *end;
    long long v = strtoll(buf, &end, 10);
    if (errno || *end) return jfail(j, "expected an integer below 2^63");
    *out = v;
    return 0;
}

/* [int, ...] with at most max entries. */
static int jints(js *j, int64_t *out, int max, int *n) {
    if (expect(j, '[')) return -1;
    *n = 0;
    if (peek(j, ']')) return j->pos++, 0;
    for (;;) {
        if (*n == max) return jfail(j, "array too long");
        if (jint(j, &out[(*n)++])) return -1;
        if (peek(j, ']')) return j->pos++, 0;
        if (expect(j, ',')) return -1;
    }
}

static const struct {
    const char *name;
    int dtype; /* tgc_dtype, or -1: F64, read as f32 */
} DTYPES[] = {{"F32", TGC_F32}, {"F16", TGC_F16}, {"BF16", TGC_BF16}, {"I32", TGC_I32},
              {"I64", TGC_I64}, {"U8", TGC_U8},   {"F64", -1}};

static int read_metadata(js *j, tgc_sd *sd) {
    if (expect(j, '{')) return -1;
    if (peek(j, '}')) return j->pos++, 0;
    for (;;) {
        char *k = jstr(j), *v = NULL;
        if (!k || expect(j, ':') || !(v = jstr(j))) {
            free(k);
            return jfail(j, "__metadata__ must map strings to strings");
        }
        if (!strcmp(k, "config") && !sd->config) sd->config = v, v = NULL;
        free(k);
        free(v);
        if (peek(j, '}')) return j->pos++, 0;
        if (expect(j, ',')) return -1;
    }
}

static int read_entry(js *j, const char *key, const uint8_t *data, uint64_t data_len, tgc_sd *sd) {
    char *dtype = NULL;
    int64_t shape[TGC_MAX_RANK], offs[2];
    int rank = -1, n_offs = -1;
    if (expect(j, '{')) return -1;
    for (;;) {
        char *f = jstr(j);
        if (!f || expect(j, ':')) {
            free(f);
            free(dtype);
            return -1;
        }
        int rc = 0;
        if (!strcmp(f, "dtype") && !dtype) rc = (dtype = jstr(j)) ? 0 : -1;
        else if (!strcmp(f, "shape") && rank < 0) rc = jints(j, shape, TGC_MAX_RANK, &rank);
        else if (!strcmp(f, "data_offsets") && n_offs < 0) rc = jints(j, offs, 2, &n_offs);
        else rc = jfail(j, "a tensor entry has an unknown or repeated field");
        free(f);
        if (rc) {
            free(dtype);
            return -1;
        }
        if (peek(j, '}')) {
            j->pos++;
            break;
        }
        if (expect(j, ',')) {
            free(dtype);
            return -1;
        }
    }
    int rc = -1, dt = -2;
    for (size_t i = 0; dtype && i < TGC_ARRAY_LEN(DTYPES); i++)
        if (!strcmp(dtype, DTYPES[i].name)) dt = DTYPES[i].dtype;
    if (!dtype || rank < 0 || n_offs != 2) {
        tgc_fail(j->err, "%s: tensor '%s' lacks dtype, shape or data_offsets", j->name, key);
    } else if (dt == -2) {
        tgc_fail(j->err, "%s: tensor '%s' has dtype %s, which tgc does not read", j->name, key, dtype);
    } else {
        tgc_shape s = {.rank = rank};
        uint64_t numel = 1;
        int ok = 1;
        for (int i = 0; i < rank; i++) {
            s.d[i] = shape[i];
            if (shape[i] < 0 || (shape[i] && numel > (UINT64_MAX >> 4) / (uint64_t)shape[i])) ok = 0;
            else numel *= (uint64_t)shape[i];
        }
        size_t esz = dt < 0 ? 8 : tgc_dtype_size((tgc_dtype)dt);
        if (!ok || offs[0] < 0 || offs[1] < offs[0] || (uint64_t)offs[1] > data_len ||
            (uint64_t)(offs[1] - offs[0]) != numel * esz) {
            tgc_fail(j->err, "%s: tensor '%s': data_offsets [%lld, %lld] do not hold its shape's %llu bytes inside "
                             "the %llu-byte data block", j->name, key, (long long)offs[0], (long long)offs[1],
                     ok ? (unsigned long long)(numel * esz) : 0ull, (unsigned long long)data_len);
        } else if (tgc_sd_find(sd, key)) {
            tgc_fail(j->err, "%s: tensor '%s' appears twice", j->name, key);
        } else if (dt >= 0) {
            tgc_sd_add(sd, key, (tgc_dtype)dt, &s, data + offs[0]);
            rc = 0;
        } else {
            float *f = tgc_malloc(numel ? (size_t)numel * 4 : 1);
            for (uint64_t i = 0; i < numel; i++) {
                double d;
                memcpy(&d, data + offs[0] + 8 * i, 8);
                f[i] = (float)d;
            }
            tgc_sd_add(sd, key, TGC_F32, &s, f);
            free(f);
            rc = 0;
        }
    }
    free(dtype);
    return rc;
}

tgc_sd *tgc_sd_parse_safetensors(const uint8_t *data, size_t len, const char *name, tgc_err *err) {
    if (len < 8) return tgc_fail(err, "%s: truncated safetensors file", name), NULL;
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | data[i];
    if (hl > ST_MAX_HEADER || hl > len - 8)
        return tgc_fail(err, "%s: safetensors header of %llu bytes does not fit the file (or exceeds 100 MiB)", name,
                        (unsigned long long)hl),
               NULL;
    js j = {(const char *)data + 8, (size_t)hl, 0, name, err};
    const uint8_t *blob = data + 8 + hl;
    uint64_t blob_len = len - 8 - hl;
    tgc_sd *sd = tgc_sd_new();
    sd->format = "safetensors";
    if (expect(&j, '{')) goto fail;
    if (peek(&j, '}')) {
        j.pos++;
    } else {
        for (;;) {
            char *k = jstr(&j);
            if (!k) goto fail;
            int rc = expect(&j, ':');
            if (!rc) rc = !strcmp(k, "__metadata__") ? read_metadata(&j, sd) : read_entry(&j, k, blob, blob_len, sd);
            free(k);
            if (rc) goto fail;
            if (peek(&j, '}')) {
                j.pos++;
                break;
            }
            if (expect(&j, ',')) goto fail;
        }
    }
    ws(&j);
    if (j.pos != j.len) {
        jfail(&j, "bytes after the header object");
        goto fail;
    }
    return sd;
fail:
    tgc_sd_free(sd);
    return NULL;
}

static void jput_str(tgc_buf *b, const char *s) {
    tgc_buf_u8(b, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') tgc_buf_printf(b, "\\%c", c);
        else if (c < 0x20) tgc_buf_printf(b, "\\u%04x", c);
        else tgc_buf_u8(b, c);
    }
    tgc_buf_u8(b, '"');
}

void tgc_sd_serialize_safetensors(const tgc_sd *sd, const char *meta_config, tgc_buf *out) {
    tgc_buf h = {0};
    tgc_buf_printf(&h, "{\"__metadata__\":{\"format\":\"pt\"");
    if (meta_config) {
        tgc_buf_printf(&h, ",\"config\":");
        jput_str(&h, meta_config);
    }
    tgc_buf_u8(&h, '}');
    uint64_t off = 0;
    for (int i = 0; i < sd->n; i++) {
        const tgc_sd_tensor *t = &sd->t[i];
        const char *dn = "F32";
        for (size_t k = 0; k < TGC_ARRAY_LEN(DTYPES); k++)
            if (DTYPES[k].dtype == (int)t->dtype) dn = DTYPES[k].name;
        tgc_buf_u8(&h, ',');
        jput_str(&h, t->name);
        tgc_buf_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[", dn);
        for (int d = 0; d < t->shape.rank; d++) tgc_buf_printf(&h, "%s%lld", d ? "," : "", (long long)t->shape.d[d]);
        tgc_buf_printf(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                       (unsigned long long)(off + t->bytes));
        off += t->bytes;
    }
    tgc_buf_u8(&h, '}');
    while (h.len % 8) tgc_buf_u8(&h, ' ');
    tgc_buf_u64(out, h.len);
    tgc_buf_put(out, h.data, h.len);
    for (int i = 0; i < sd->n; i++) tgc_buf_put(out, sd->t[i].data, sd->t[i].bytes);
    tgc_buf_free(&h);
}

int tgc_sd_save_safetensors(const tgc_sd *sd, const char *meta_config, const char *path, tgc_err *err) {
    tgc_buf b = {0};
    tgc_sd_serialize_safetensors(sd, meta_config, &b);
    int rc = tgc_write_file_atomic(path, b.data, b.len, err);
    tgc_buf_free(&b);
    return rc;
}
