/* ir/types.c - dtypes, shapes, attribute defaults and the names of kinds, slabs and ops. */
#include <stdio.h>
#include <stddef.h>
#include <string.h>

#include "ir/ir.h"

static const char *const dtype_names[TGC_DTYPE_COUNT] = {"f32", "f16", "bf16", "i32", "i64", "u8"};
static const size_t dtype_sizes[TGC_DTYPE_COUNT] = {4, 2, 2, 4, 8, 1};

const char *tgc_dtype_name(tgc_dtype t) {
    return (unsigned)t < TGC_DTYPE_COUNT ? dtype_names[t] : "?";
}

const char *tgc_layout_name(tgc_layout l) {
    static const char *const names[TGC_LAYOUT_COUNT] = {"row", "nhwc"};
    return (unsigned)l < TGC_LAYOUT_COUNT ? names[l] : "?";
}

size_t tgc_dtype_size(tgc_dtype t) { return (unsigned)t < TGC_DTYPE_COUNT ? dtype_sizes[t] : 0; }

/* Unused dimensions are kept zero so that two equal shapes are also equal bytewise. */
tgc_shape tgc_shape_make(int rank, const int64_t *dims) {
    tgc_shape s;
    memset(&s, 0, sizeof s);
    if (rank < 0) rank = 0;
    if (rank > TGC_MAX_RANK) rank = TGC_MAX_RANK;
    s.rank = rank;
    for (int i = 0; i < rank; i++) s.d[i] = dims[i];
    return s;
}

tgc_shape tgc_shape4(int64_t a, int64_t b, int64_t c, int64_t d) {
    int64_t v[4] = {a, b, c, d};
    return tgc_shape_make(4, v);
}

tgc_shape tgc_shape2(int64_t a, int64_t b) {
    int64_t v[2] = {a, b};
    return tgc_shape_make(2, v);
}

tgc_shape tgc_shape1(int64_t a) { return tgc_shape_make(1, &a); }

tgc_shape tgc_shape0(void) { return tgc_shape_make(0, NULL); }

int64_t tgc_shape_numel(const tgc_shape *s) {
    int64_t n = 1;
    for (int i = 0; i < s->rank && i < TGC_MAX_RANK; i++) n *= s->d[i];
    return n;
}

int tgc_shape_eq(const tgc_shape *a, const tgc_shape *b) {
    if (a->rank != b->rank) return 0;
    for (int i = 0; i < a->rank && i < TGC_MAX_RANK; i++)
        if (a->d[i] != b->d[i]) return 0;
    return 1;
}

void tgc_shape_str(const tgc_shape *s, char *buf, size_t n) {
    if (!buf || n == 0) return;
    size_t len = 0;
    buf[0] = 0;
    int r = snprintf(buf, n, "[");
    if (r > 0) len = (size_t)r;
    for (int i = 0; i < s->rank && i < TGC_MAX_RANK && len < n; i++) {
        r = snprintf(buf + len, n - len, "%s%lld", i ? "," : "", (long long)s->d[i]);
        if (r < 0) break;
        len += (size_t)r;
    }
    if (len < n) snprintf(buf + len, n - len, "]");
}

/* Rows' defaults, by kind (I64V: every element). */
#define ATTR_SET_BOOL(lv, n, def) (lv) = (def)
#define ATTR_SET_I64(lv, n, def) (lv) = (def)
#define ATTR_SET_I64V(lv, n, def) for (int i_ = 0; i_ < (n); i_++) (lv)[i_] = (def)
#define ATTR_SET_F64(lv, n, def) (lv) = (def)
#define ATTR_SET_F64V(lv, n, def) for (int i_ = 0; i_ < (n); i_++) (lv)[i_] = (def)
#define ATTR_SET_SHAPE(lv, n, def) (lv) = (tgc_shape)def
#define ATTR_SET_DTYPE(lv, n, def) (lv) = (def)

tgc_attrs tgc_attrs_default(void) {
    tgc_attrs a;
    memset(&a, 0, sizeof a); /* padding too: attrs are compared and hashed */
#define TGC_ATTR(name, kind, n, bit, def, fmt) ATTR_SET_##kind(a.name, n, def);
#include "ir/attrs.def"
#undef TGC_ATTR
    return a;
}

#define ATTR_EQ_BOOL(x, y, n) ((x) == (y))
#define ATTR_EQ_I64(x, y, n) ((x) == (y))
#define ATTR_EQ_I64V(x, y, n) (memcmp((x), (y), sizeof(int64_t) * (n)) == 0)
#define ATTR_EQ_F64(x, y, n) ((x) == (y))
#define ATTR_EQ_F64V(x, y, n) tgc_f64v_eq((x), (y), (n))
#define ATTR_EQ_SHAPE(x, y, n) tgc_shape_eq(&(x), &(y))
#define ATTR_EQ_DTYPE(x, y, n) ((x) == (y))

/* Element by element, as F64 compares (never bytewise: 0.0 == -0.0). */
static int tgc_f64v_eq(const double *x, const double *y, int n) {
    for (int i = 0; i < n; i++)
        if (!(x[i] == y[i])) return 0;
    return 1;
}

const char *tgc_attrs_diff(uint32_t bits, const tgc_attrs *a, const tgc_attrs *b) {
#define TGC_ATTR(name, kind, n, bit, def, fmt)                                                          \
    if ((bits & (bit)) && !ATTR_EQ_##kind(a->name, b->name, n)) return #name;
#include "ir/attrs.def"
#undef TGC_ATTR
    return NULL;
}

const tgc_attr_info tgc_attr_table[TGC_ATTR_COUNT] = {
#define TGC_ATTR(name, kind, n, bit, def, fmt) {#name, TGC_AK_##kind, n, bit, offsetof(tgc_attrs, name)},
#include "ir/attrs.def"
#undef TGC_ATTR
};

const char *tgc_val_kind_name(tgc_val_kind k) {
    static const char *const names[] = {"temp", "input", "param", "buffer", "optstate"};
    return (unsigned)k < TGC_ARRAY_LEN(names) ? names[k] : "?";
}

const char *tgc_slab_name(tgc_slab s) {
    static const char *const names[TGC_SLAB_COUNT] = {"none",   "arena", "input",   "param",
                                                      "buffer", "grad",  "optstate"};
    return (unsigned)s < TGC_SLAB_COUNT ? names[s] : "?";
}

int tgc_op_by_name(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < TGC_OP_COUNT; i++)
        if (strcmp(tgc_op_table[i].name, name) == 0) return i;
    return -1;
}
