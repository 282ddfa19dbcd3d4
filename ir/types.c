/* ir/types.c - dtypes, shapes, attribute defaults and the names of kinds, slabs and ops. */
#include <stdio.h>
#include <string.h>

#include "ir/ir.h"

static const char *const dtype_names[TGC_DTYPE_COUNT] = {"f32", "f16", "bf16", "i32", "i64", "u8"};
static const size_t dtype_sizes[TGC_DTYPE_COUNT] = {4, 2, 2, 4, 8, 1};

const char *tgc_dtype_name(tgc_dtype t) {
    return (unsigned)t < TGC_DTYPE_COUNT ? dtype_names[t] : "?";
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

tgc_attrs tgc_attrs_default(void) {
    tgc_attrs a;
    memset(&a, 0, sizeof a); /* padding too: attrs are compared and hashed */
    a.kernel[0] = a.kernel[1] = 1;
    a.stride[0] = a.stride[1] = 1;
    a.dilation[0] = a.dilation[1] = 1;
    a.groups = 1;
    a.count_include_pad = 1;
    a.eps = 1e-5;
    a.momentum = 0.1;
    a.alpha = 1.0;
    a.beta1 = 0.9;
    a.beta2 = 0.999;
    a.dtype = TGC_F32;
    return a;
}

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
