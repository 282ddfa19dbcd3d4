/* runtime/io/pickle.c - the restricted pickle reader and the protocol-2 writer (pickle.h). */
#include "runtime/io/pickle.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct tgc_pickle {
    tgc_pk **nodes; /* every value, owned here */
    int n_nodes, cap_nodes;
    tgc_pk *root;
};

typedef struct rd {
    tgc_pickle *p;
    const uint8_t *d;
    size_t len, pos;
    const char *name;
    tgc_err *err;
    tgc_pk **stack;
    int sp, stack_cap;
    int *marks;
    int n_marks, marks_cap;
    tgc_pk **memo;
    int memo_cap, memo_count; /* memo_count: slots set (MEMOIZE's implicit index) */
} rd;

static const struct {
    const char *name;
    int dtype;
} STORAGES[] = {
    {"FloatStorage", TGC_F32},   {"HalfStorage", TGC_F16},    {"BFloat16Storage", TGC_BF16},
    {"IntStorage", TGC_I32},     {"LongStorage", TGC_I64},    {"ByteStorage", TGC_U8},
    {"DoubleStorage", TGC_PK_F64}, {"ShortStorage", TGC_PK_I16}, {"CharStorage", TGC_PK_I8},
    {"BoolStorage", TGC_PK_BOOL8},
};

size_t tgc_pk_storage_elem(int dt) {
    switch (dt) {
    case TGC_PK_F64: return 8;
    case TGC_PK_I16: return 2;
    case TGC_PK_I8:
    case TGC_PK_BOOL8: return 1;
    default: return dt >= 0 && dt < TGC_DTYPE_COUNT ? tgc_dtype_size((tgc_dtype)dt) : 0;
    }
}

const char *tgc_pk_storage_name(int dt) {
    for (size_t i = 0; i < TGC_ARRAY_LEN(STORAGES); i++)
        if (STORAGES[i].dtype == dt) return STORAGES[i].name;
    return "?Storage";
}

static int fail(rd *r, const char *fmt, const char *what) {
    return tgc_fail(r->err, "%s: pickle offset %zu: %s%s", r->name, r->pos, fmt, what ? what : "");
}

static tgc_pk *node(rd *r, tgc_pk_kind kind) {
    tgc_pickle *p = r->p;
    if (p->n_nodes >= TGC_PK_MAX_NODES) {
        fail(r, "more than 4194304 values (refused: memory bound)", NULL);
        return NULL;
    }
    TGC_GROW(p->nodes, p->cap_nodes, p->n_nodes + 1);
    tgc_pk *v = tgc_calloc(1, sizeof *v);
    v->kind = kind;
    p->nodes[p->n_nodes++] = v;
    return v;
}

static int push(rd *r, tgc_pk *v) {
    if (!v) return -1;
    if (r->sp >= TGC_PK_MAX_STACK) return fail(r, "stack deeper than 65536 (refused)", NULL);
    TGC_GROW(r->stack, r->stack_cap, r->sp + 1);
    r->stack[r->sp++] = v;
    return 0;
}

static tgc_pk *pop(rd *r) {
    int floor = r->n_marks ? r->marks[r->n_marks - 1] : 0;
    if (r->sp <= floor) {
        fail(r, "stack underflow", NULL);
        return NULL;
    }
    return r->stack[--r->sp];
}

static tgc_pk *top(rd *r) {
    int floor = r->n_marks ? r->marks[r->n_marks - 1] : 0;
    if (r->sp <= floor) {
        fail(r, "stack underflow", NULL);
        return NULL;
    }
    return r->stack[r->sp - 1];
}

/* Pops the topmost mark; *first is the stack index of the first item above it. */
static int pop_mark(rd *r, int *first) {
    if (!r->n_marks) return fail(r, "no MARK on the stack", NULL);
    *first = r->marks[--r->n_marks];
    return 0;
}

static int add_item(tgc_pk *c, tgc_pk *v) {
    TGC_GROW(c->items, c->cap, c->n + 1);
    c->items[c->n++] = v;
    return 0;
}

static const uint8_t *take(rd *r, size_t n) {
    if (n > r->len - r->pos) {
        fail(r, "truncated", NULL);
        return NULL;
    }
    const uint8_t *q = r->d + r->pos;
    r->pos += n;
    return q;
}

static uint64_t le(const uint8_t *q, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | q[i];
    return v;
}

/* A text line (protocol 0 argument), without its '\n'; *n its length. */
static const char *line(rd *r, size_t *n) {
    const uint8_t *start = r->d + r->pos, *nl = memchr(start, '\n', r->len - r->pos);
    if (!nl) {
        fail(r, "unterminated text argument", NULL);
        return NULL;
    }
    *n = (size_t)(nl - start);
    r->pos += *n + 1;
    return (const char *)start;
}

static tgc_pk *str_node(rd *r, tgc_pk_kind kind, const uint8_t *q, size_t n) {
    tgc_pk *v = node(r, kind);
    if (!v) return NULL;
    v->s = tgc_malloc(n + 1);
    memcpy(v->s, q, n);
    v->s[n] = 0;
    v->len = n;
    return v;
}

static int push_bytes(rd *r, tgc_pk_kind kind, int lenbytes) {
    const uint8_t *q = take(r, (size_t)lenbytes);
    if (!q) return -1;
    uint64_t n = le(q, lenbytes);
    if (n > r->len - r->pos) return fail(r, "string longer than the rest of the pickle", NULL);
    const uint8_t *s = take(r, (size_t)n);
    return s ? push(r, str_node(r, kind, s, (size_t)n)) : -1;
}

static int push_int(rd *r, int64_t v, tgc_pk_kind kind) {
    tgc_pk *x = node(r, kind);
    if (!x) return -1;
    x->i = v;
    x->f = (double)v;
    return push(r, x);
}

/* LONG1 / LONG4: little-endian two's complement of n bytes, at most 8. */
static int push_long(rd *r, int lenbytes) {
    const uint8_t *q = take(r, (size_t)lenbytes);
    if (!q) return -1;
    uint64_t n = le(q, lenbytes);
    if (n > 8) return fail(r, "integer wider than 64 bits", NULL);
    const uint8_t *b = take(r, (size_t)n);
    if (!b) return -1;
    uint64_t u = le(b, (int)n);
    if (n > 0 && n < 8 && (b[n - 1] & 0x80)) u |= ~(uint64_t)0 << (8 * n);
    return push_int(r, (int64_t)u, TGC_PK_INT);
}

static int global(rd *r, const char *mod, size_t mlen, const char *name, size_t nlen) {
    if (mlen > 200 || nlen > 200) return fail(r, "GLOBAL name longer than 200 bytes", NULL);
    char full[420];
    snprintf(full, sizeof full, "%.*s.%.*s", (int)mlen, mod, (int)nlen, name);
    for (char *c = full; *c; c++)
        if (*c < 0x20 || *c > 0x7e) *c = '?';
    tgc_pk *v;
    if (!strcmp(full, "collections.OrderedDict") || !strcmp(full, "torch._utils._rebuild_tensor_v2") ||
        !strcmp(full, "torch._utils._rebuild_parameter") || !strcmp(full, "torch._utils._rebuild_parameter_with_state")) {
        v = str_node(r, TGC_PK_GLOBAL, (const uint8_t *)full, strlen(full));
    } else if (!strcmp(full, "numpy.core.multiarray._reconstruct") ||
               !strcmp(full, "numpy._core.multiarray._reconstruct") || !strcmp(full, "numpy.ndarray") ||
               !strcmp(full, "numpy.dtype")) {
        v = str_node(r, TGC_PK_GLOBAL, (const uint8_t *)full, strlen(full));
    } else if (!strncmp(full, "torch.", 6)) {
        v = NULL;
        for (size_t i = 0; i < TGC_ARRAY_LEN(STORAGES); i++)
            if (!strcmp(full + 6, STORAGES[i].name)) {
                v = str_node(r, TGC_PK_GLOBAL, (const uint8_t *)full, strlen(full));
                if (v) v->storage_dtype = STORAGES[i].dtype;
                return push(r, v);
            }
        v = str_node(r, TGC_PK_OPAQUE, (const uint8_t *)full, strlen(full));
    } else {
        v = str_node(r, TGC_PK_OPAQUE, (const uint8_t *)full, strlen(full));
    }
    return push(r, v);
}

/* ('storage', torch.XStorage, key, location, numel) -> a storage reference. */
static int persid(rd *r) {
    tgc_pk *t = pop(r);
    if (!t) return -1;
    if (t->kind != TGC_PK_TUPLE || t->n != 5 || t->items[0]->kind != TGC_PK_STR || strcmp(t->items[0]->s, "storage"))
        return fail(r, "persistent id is not ('storage', type, key, location, numel) (refused)", NULL);
    const tgc_pk *ty = t->items[1], *key = t->items[2], *numel = t->items[4];
    if (ty->kind != TGC_PK_GLOBAL || strncmp(ty->s, "torch.", 6) || !strstr(ty->s, "Storage"))
        return fail(r, "persistent id names a storage type this reader refuses: ", tgc_pk_describe(ty));
    if (key->kind != TGC_PK_STR || numel->kind != TGC_PK_INT || numel->i < 0)
        return fail(r, "persistent id with a malformed key or element count", NULL);
    tgc_pk *s = str_node(r, TGC_PK_STORAGE, (const uint8_t *)key->s, key->len);
    if (!s) return -1;
    s->storage_dtype = ty->storage_dtype;
    s->numel = numel->i;
    return push(r, s);
}

static int int_tuple(const tgc_pk *t, int64_t *out, int *n) {
    if (t->kind != TGC_PK_TUPLE || t->n > TGC_MAX_RANK) return -1;
    for (int i = 0; i < t->n; i++) {
        if (t->items[i]->kind != TGC_PK_INT || t->items[i]->i < 0) return -1;
        out[i] = t->items[i]->i;
    }
    *n = t->n;
    return 0;
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]). */
static tgc_pk *rebuild_tensor(rd *r, const tgc_pk *args) {
    if (args->n < 4 || args->n > 7 || args->items[0]->kind != TGC_PK_STORAGE || args->items[1]->kind != TGC_PK_INT) {
        fail(r, "_rebuild_tensor_v2 with arguments other than (storage, offset, size, stride, ...)", NULL);
        return NULL;
    }
    tgc_pk *v = node(r, TGC_PK_TENSOR);
    if (!v) return NULL;
    v->storage = args->items[0];
    v->offset = args->items[1]->i;
    int ns, nt;
    if (int_tuple(args->items[2], v->size, &ns) || int_tuple(args->items[3], v->stride, &nt) || ns != nt) {
        fail(r, "tensor size/stride are not tuples of equal rank <= 6 of non-negative ints", NULL);
        return NULL;
    }
    v->rank = ns;
    /* every element must lie inside the storage */
    int empty = 0;
    for (int i = 0; i < ns; i++) empty |= v->size[i] == 0;
    if (!empty) {
        uint64_t last = (uint64_t)v->offset;
        if (v->offset < 0) last = UINT64_MAX;
        for (int i = 0; i < ns && last != UINT64_MAX; i++) {
            uint64_t span = (uint64_t)(v->size[i] - 1);
            if (span && (uint64_t)v->stride[i] > (UINT64_MAX / 4) / span) last = UINT64_MAX;
            else last += span * (uint64_t)v->stride[i];
            if (last > (UINT64_MAX / 4)) last = UINT64_MAX;
        }
        if (last >= (uint64_t)v->storage->numel) {
            fail(r, "tensor reaches past the end of its storage", NULL);
            return NULL;
        }
    }
    return v;
}

/* numpy's ndarray pickle: _reconstruct(numpy.ndarray, (0,), b'b') makes an empty array, BUILD fills it. */
static tgc_pk *np_reconstruct(rd *r, const tgc_pk *args) {
    if (args->n != 3 || args->items[0]->kind != TGC_PK_GLOBAL || strcmp(args->items[0]->s, "numpy.ndarray")) {
        fail(r, "_reconstruct of something other than numpy.ndarray", NULL);
        return NULL;
    }
    return node(r, TGC_PK_NDARRAY);
}

/* numpy.dtype(NAME, align, copy): the one-byte dtypes u1 and i1 are built, others are opaque. */
static tgc_pk *np_dtype(rd *r, const tgc_pk *args) {
    const tgc_pk *nm = args->n >= 1 ? args->items[0] : NULL;
    if (!nm || (nm->kind != TGC_PK_STR && nm->kind != TGC_PK_BYTES) || (strcmp(nm->s, "u1") && strcmp(nm->s, "i1"))) {
        /* another dtype (a numpy scalar's i8 in a checkpoint's meta): opaque, as before this reader knew numpy */
        char name[64];
        snprintf(name, sizeof name, "numpy.dtype(%.24s)", nm && nm->kind == TGC_PK_STR ? nm->s : "?");
        for (char *c = name; *c; c++)
            if (*c < 0x20 || *c > 0x7e) *c = '?';
        return str_node(r, TGC_PK_OPAQUE, (const uint8_t *)name, strlen(name));
    }
    return str_node(r, TGC_PK_NPDTYPE, (const uint8_t *)nm->s, nm->len);
}

/* ndarray.__setstate__((1, shape, dtype, is_fortran, raw bytes)): C order, raw length = prod(shape). */
static int np_setstate(rd *r, tgc_pk *a, const tgc_pk *st) {
    if (a->storage) return fail(r, "ndarray state set twice", NULL);
    if (st->kind != TGC_PK_TUPLE || st->n != 5 || st->items[0]->kind != TGC_PK_INT || st->items[0]->i != 1)
        return fail(r, "ndarray state is not (1, shape, dtype, is_fortran, data)", NULL);
    const tgc_pk *dt = st->items[2], *fo = st->items[3], *raw = st->items[4];
    char why[160];
    why[0] = 0;
    if (dt->kind == TGC_PK_OPAQUE && !strncmp(dt->s, "numpy.dtype(", 12))
        snprintf(why, sizeof why, "numpy.ndarray of %s, at pickle offset %zu", dt->s, r->pos - 1);
    else if (dt->kind != TGC_PK_NPDTYPE)
        return fail(r, "ndarray state without a numpy.dtype", NULL);
    else if ((fo->kind != TGC_PK_BOOL && fo->kind != TGC_PK_INT) || fo->i != 0)
        snprintf(why, sizeof why, "numpy.ndarray in Fortran order, at pickle offset %zu", r->pos - 1);
    if (why[0]) { /* kept, opaque: a consumer that needs the data refuses it by this name */
        a->kind = TGC_PK_OPAQUE;
        free(a->s);
        a->s = tgc_strdup(why);
        a->len = strlen(why);
        return 0;
    }
    if (raw->kind != TGC_PK_STR && raw->kind != TGC_PK_BYTES) return fail(r, "ndarray data is not a byte string", NULL);
    int rank;
    if (int_tuple(st->items[1], a->size, &rank)) return fail(r, "ndarray shape is not a tuple of rank <= 6 of non-negative ints", NULL);
    uint64_t numel = 1;
    for (int i = 0; i < rank; i++) {
        if (a->size[i] && numel > UINT64_MAX / (uint64_t)a->size[i]) return fail(r, "ndarray shape overflows", NULL);
        numel *= (uint64_t)a->size[i];
    }
    if (numel != raw->len) return fail(r, "ndarray data length does not match its shape", NULL);
    a->rank = rank;
    a->numel = (int64_t)numel;
    a->storage = raw;
    free(a->s);
    a->s = tgc_strdup(dt->s);
    a->len = strlen(a->s);
    return 0;
}

static int reduce(rd *r) {
    tgc_pk *args = pop(r), *fn = args ? pop(r) : NULL;
    if (!fn) return -1;
    if (args->kind != TGC_PK_TUPLE) return fail(r, "REDUCE arguments are not a tuple", NULL);
    if (fn->kind == TGC_PK_GLOBAL) {
        if (!strcmp(fn->s, "collections.OrderedDict")) {
            tgc_pk *d = node(r, TGC_PK_DICT);
            if (!d) return -1;
            if (args->n == 1 && args->items[0]->kind == TGC_PK_LIST) { /* OrderedDict([(k, v), ...]) */
                const tgc_pk *l = args->items[0];
                for (int i = 0; i < l->n; i++) {
                    if (l->items[i]->kind != TGC_PK_TUPLE || l->items[i]->n != 2)
                        return fail(r, "OrderedDict items are not pairs", NULL);
                    add_item(d, l->items[i]->items[0]);
                    add_item(d, l->items[i]->items[1]);
                }
            } else if (args->n) {
                return fail(r, "OrderedDict called with unexpected arguments", NULL);
            }
            return push(r, d);
        }
        if (!strcmp(fn->s, "torch._utils._rebuild_tensor_v2")) return push(r, rebuild_tensor(r, args));
        if (strstr(fn->s, "multiarray._reconstruct")) return push(r, np_reconstruct(r, args));
        if (!strcmp(fn->s, "numpy.dtype")) return push(r, np_dtype(r, args));
        if (!strcmp(fn->s, "torch._utils._rebuild_parameter") ||
            !strcmp(fn->s, "torch._utils._rebuild_parameter_with_state")) { /* (tensor, requires_grad, hooks[, state]) */
            if (args->n < 1 || args->items[0]->kind != TGC_PK_TENSOR)
                return fail(r, "_rebuild_parameter without a tensor", NULL);
            return push(r, args->items[0]);
        }
        return fail(r, "refused call of ", fn->s); /* a storage type called directly */
    }
    if (fn->kind == TGC_PK_OPAQUE) return push(r, str_node(r, TGC_PK_OPAQUE, (const uint8_t *)fn->s, fn->len));
    return fail(r, "REDUCE of a value that is not a callable: ", tgc_pk_describe(fn));
}

static int memo_put(rd *r, uint64_t idx) {
    if (idx >= TGC_PK_MAX_MEMO) return fail(r, "memo index above 4194304 (refused)", NULL);
    tgc_pk *v = top(r);
    if (!v) return -1;
    if ((int)idx >= r->memo_cap) {
        int old = r->memo_cap;
        TGC_GROW(r->memo, r->memo_cap, (int)idx + 1);
        memset(r->memo + old, 0, (size_t)(r->memo_cap - old) * sizeof *r->memo);
    }
    if (!r->memo[idx]) r->memo_count++;
    r->memo[idx] = v;
    return 0;
}

static int memo_get(rd *r, uint64_t idx) {
    if (idx >= (uint64_t)r->memo_cap || !r->memo[idx]) return fail(r, "memo GET of an unset slot", NULL);
    return push(r, r->memo[idx]);
}

/* Items from the topmost mark to the stack top into a fresh container of kind. */
static int collect(rd *r, tgc_pk_kind kind) {
    int first = 0;
    if (pop_mark(r, &first)) return -1;
    tgc_pk *c = node(r, kind);
    if (!c) return -1;
    if (kind == TGC_PK_DICT && (r->sp - first) % 2) return fail(r, "DICT with an odd number of items", NULL);
    for (int i = first; i < r->sp; i++) add_item(c, r->stack[i]);
    r->sp = first;
    return push(r, c);
}

static int tuple_n(rd *r, int n) {
    tgc_pk *c = node(r, TGC_PK_TUPLE);
    if (!c) return -1;
    int floor = r->n_marks ? r->marks[r->n_marks - 1] : 0;
    if (r->sp - floor < n) return fail(r, "stack underflow", NULL);
    for (int i = r->sp - n; i < r->sp; i++) add_item(c, r->stack[i]);
    r->sp -= n;
    return push(r, c);
}

/* APPENDS / SETITEMS / ADDITEMS: items above the mark into the container below it. */
static int extend(rd *r, int pairs) {
    int first = 0;
    if (pop_mark(r, &first)) return -1;
    int floor = r->n_marks ? r->marks[r->n_marks - 1] : 0;
    if (first <= floor) return fail(r, "no container below the MARK", NULL);
    tgc_pk *c = r->stack[first - 1];
    if (pairs && (r->sp - first) % 2) return fail(r, "SETITEMS with an odd number of items", NULL);
    if (c->kind == TGC_PK_OPAQUE) { /* e.g. a defaultdict: its items are not read */
        r->sp = first;
        return 0;
    }
    if (c->kind != (pairs ? TGC_PK_DICT : TGC_PK_LIST))
        return fail(r, pairs ? "SETITEMS on a non-dict: " : "APPENDS on a non-list: ", tgc_pk_describe(c));
    for (int i = first; i < r->sp; i++) add_item(c, r->stack[i]);
    r->sp = first;
    return 0;
}

static int text_int(rd *r, int is_long) {
    size_t n;
    const char *s = line(r, &n);
    if (!s) return -1;
    if (!is_long && n == 2 && (!memcmp(s, "00", 2) || !memcmp(s, "01", 2))) return push_int(r, s[1] == '1', TGC_PK_BOOL);
    char buf[32];
    if (is_long && n && s[n - 1] == 'L') n--;
    if (n == 0 || n >= sizeof buf) return fail(r, "malformed text integer", NULL);
    memcpy(buf, s, n);
    buf[n] = 0;
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || *end) return fail(r, "malformed or too large text integer", NULL);
    return push_int(r, v, TGC_PK_INT);
}

static int step(rd *r, int *stop) {
    const uint8_t *q = take(r, 1);
    if (!q) return -1;
    uint8_t op = *q;
    switch (op) {
    case 0x80: return take(r, 1) ? 0 : -1; /* PROTO */
    case 0x95: return take(r, 8) ? 0 : -1; /* FRAME: framing is ignored, the bytes are read in order */
    case '.': *stop = 1; return 0;
    case '(':
        if (r->n_marks >= TGC_PK_MAX_STACK) return fail(r, "too many MARKs", NULL);
        TGC_GROW(r->marks, r->marks_cap, r->n_marks + 1);
        r->marks[r->n_marks++] = r->sp;
        return 0;
    case '0': return pop(r) ? 0 : -1;
    case '1': {
        int first = 0;
        if (pop_mark(r, &first)) return -1;
        r->sp = first;
        return 0;
    }
    case '2': {
        tgc_pk *v = top(r);
        return v ? push(r, v) : -1;
    }
    case 'N': return push(r, node(r, TGC_PK_NONE));
    case 0x88: return push_int(r, 1, TGC_PK_BOOL);
    case 0x89: return push_int(r, 0, TGC_PK_BOOL);
    case 'J': {
        const uint8_t *b = take(r, 4);
        return b ? push_int(r, (int32_t)(uint32_t)le(b, 4), TGC_PK_INT) : -1;
    }
    case 'K': {
        const uint8_t *b = take(r, 1);
        return b ? push_int(r, b[0], TGC_PK_INT) : -1;
    }
    case 'M': {
        const uint8_t *b = take(r, 2);
        return b ? push_int(r, (int64_t)le(b, 2), TGC_PK_INT) : -1;
    }
    case 0x8a: return push_long(r, 1);
    case 0x8b: return push_long(r, 4);
    case 'I': return text_int(r, 0);
    case 'L': return text_int(r, 1);
    case 'G': {
        const uint8_t *b = take(r, 8);
        if (!b) return -1;
        uint64_t u = 0;
        for (int i = 0; i < 8; i++) u = u << 8 | b[i]; /* big-endian */
        double f;
        memcpy(&f, &u, sizeof f);
        tgc_pk *v = node(r, TGC_PK_FLOAT);
        if (!v) return -1;
        v->f = f;
        return push(r, v);
    }
    case 'F': {
        size_t n;
        const char *s = line(r, &n);
        if (!s) return -1;
        char buf[64];
        if (n == 0 || n >= sizeof buf) return fail(r, "malformed text float", NULL);
        memcpy(buf, s, n);
        buf[n] = 0;
        char *end;
        double f = strtod(buf, &end);
        if (*end) return fail(r, "malformed text float", NULL);
        tgc_pk *v = node(r, TGC_PK_FLOAT);
        if (!v) return -1;
        v->f = f;
        return push(r, v);
    }
    case 'X': return push_bytes(r, TGC_PK_STR, 4);
    case 0x8c: return push_bytes(r, TGC_PK_STR, 1);
    case 0x8d: return push_bytes(r, TGC_PK_STR, 8);
    case 'T': return push_bytes(r, TGC_PK_STR, 4); /* BINSTRING (protocol 1 str) */
    case 'U': return push_bytes(r, TGC_PK_STR, 1);
    case 'B': return push_bytes(r, TGC_PK_BYTES, 4);
    case 'C': return push_bytes(r, TGC_PK_BYTES, 1);
    case 0x8e: return push_bytes(r, TGC_PK_BYTES, 8);
    case 0x96: return push_bytes(r, TGC_PK_BYTES, 8);
    case ')': return push(r, node(r, TGC_PK_TUPLE));
    case ']': return push(r, node(r, TGC_PK_LIST));
    case '}': return push(r, node(r, TGC_PK_DICT));
    case 0x8f: return push(r, node(r, TGC_PK_LIST)); /* EMPTY_SET: kept as a list */
    case 't': return collect(r, TGC_PK_TUPLE);
    case 'l': return collect(r, TGC_PK_LIST);
    case 'd': return collect(r, TGC_PK_DICT);
    case 0x91: return collect(r, TGC_PK_LIST); /* FROZENSET */
    case 0x85: return tuple_n(r, 1);
    case 0x86: return tuple_n(r, 2);
    case 0x87: return tuple_n(r, 3);
    case 'a': {
        tgc_pk *v = pop(r), *l = v ? top(r) : NULL;
        if (!l) return -1;
        if (l->kind == TGC_PK_OPAQUE) return 0;
        if (l->kind != TGC_PK_LIST) return fail(r, "APPEND on a non-list: ", tgc_pk_describe(l));
        return add_item(l, v);
    }
    case 'e': return extend(r, 0);
    case 0x90: return extend(r, 0); /* ADDITEMS */
    case 'u': return extend(r, 1);
    case 's': {
        tgc_pk *v = pop(r), *k = v ? pop(r) : NULL, *d = k ? top(r) : NULL;
        if (!d) return -1;
        if (d->kind == TGC_PK_OPAQUE) return 0;
        if (d->kind != TGC_PK_DICT) return fail(r, "SETITEM on a non-dict: ", tgc_pk_describe(d));
        add_item(d, k);
        return add_item(d, v);
    }
    case 'q': {
        const uint8_t *b = take(r, 1);
        return b ? memo_put(r, b[0]) : -1;
    }
    case 'r': {
        const uint8_t *b = take(r, 4);
        return b ? memo_put(r, le(b, 4)) : -1;
    }
    case 0x94: return memo_put(r, (uint64_t)r->memo_count); /* MEMOIZE */
    case 'h': {
        const uint8_t *b = take(r, 1);
        return b ? memo_get(r, b[0]) : -1;
    }
    case 'j': {
        const uint8_t *b = take(r, 4);
        return b ? memo_get(r, le(b, 4)) : -1;
    }
    case 'p':
    case 'g': {
        size_t n;
        const char *s = line(r, &n);
        if (!s) return -1;
        char buf[24];
        if (n == 0 || n >= sizeof buf) return fail(r, "malformed memo index", NULL);
        memcpy(buf, s, n);
        buf[n] = 0;
        char *end;
        errno = 0;
        unsigned long long idx = strtoull(buf, &end, 10);
        if (errno || *end) return fail(r, "malformed memo index", NULL);
        return op == 'p' ? memo_put(r, idx) : memo_get(r, idx);
    }
    case 'c': {
        size_t mn, nn;
        const char *m = line(r, &mn), *n = m ? line(r, &nn) : NULL;
        return n ? global(r, m, mn, n, nn) : -1;
    }
    case 0x93: {
        tgc_pk *n = pop(r), *m = n ? pop(r) : NULL;
        if (!m) return -1;
        if (m->kind != TGC_PK_STR || n->kind != TGC_PK_STR) return fail(r, "STACK_GLOBAL of non-strings", NULL);
        return global(r, m->s, m->len, n->s, n->len);
    }
    case 'Q': return persid(r);
    case 'R': return reduce(r);
    case 0x81: { /* NEWOBJ cls args: never called */
        tgc_pk *args = pop(r), *cls = args ? pop(r) : NULL;
        if (!cls) return -1;
        return push(r, str_node(r, TGC_PK_OPAQUE, (const uint8_t *)tgc_pk_describe(cls), strlen(tgc_pk_describe(cls))));
    }
    case 0x92: { /* NEWOBJ_EX cls args kwargs */
        tgc_pk *kw = pop(r), *args = kw ? pop(r) : NULL, *cls = args ? pop(r) : NULL;
        if (!cls) return -1;
        return push(r, str_node(r, TGC_PK_OPAQUE, (const uint8_t *)tgc_pk_describe(cls), strlen(tgc_pk_describe(cls))));
    }
    case 'b': { /* BUILD: the state is dropped (OrderedDict's _metadata, an opaque object's fields) */
        tgc_pk *state = pop(r), *obj = state ? top(r) : NULL;
        if (!obj) return -1;
        if (obj->kind == TGC_PK_NDARRAY) return np_setstate(r, obj, state);
        if (obj->kind == TGC_PK_NPDTYPE) { /* (3, byte order, ...): one-byte types have none ('|') */
            if (state->kind != TGC_PK_TUPLE || state->n < 2 || state->items[1]->kind != TGC_PK_STR ||
                strcmp(state->items[1]->s, "|"))
                return fail(r, "numpy.dtype state other than (3, '|', ...)", NULL);
            return 0;
        }
        if (obj->kind != TGC_PK_DICT && obj->kind != TGC_PK_OPAQUE && obj->kind != TGC_PK_TENSOR)
            return fail(r, "BUILD on ", tgc_pk_describe(obj));
        return 0;
    }
    default: {
        char what[48];
        snprintf(what, sizeof what, "0x%02x", op);
        return fail(r, "opcode refused or unknown: ", what);
    }
    }
}

tgc_pickle *tgc_pickle_read(const uint8_t *data, size_t len, const char *name, tgc_err *err) {
    tgc_pickle *p = tgc_calloc(1, sizeof *p);
    rd r = {.p = p, .d = data, .len = len, .name = name, .err = err};
    int stop = 0, rc = 0;
    while (!stop && rc == 0) rc = step(&r, &stop);
    if (rc == 0) {
        if (r.n_marks || r.sp != 1) rc = fail(&r, "STOP with a stack other than one value", NULL);
        else p->root = r.stack[0];
    }
    free(r.stack);
    free(r.marks);
    free(r.memo);
    if (rc) {
        tgc_pickle_free(p);
        return NULL;
    }
    return p;
}

void tgc_pickle_free(tgc_pickle *p) {
    if (!p) return;
    for (int i = 0; i < p->n_nodes; i++) {
        free(p->nodes[i]->s);
        free(p->nodes[i]->items);
        free(p->nodes[i]);
    }
    free(p->nodes);
    free(p);
}

const tgc_pk *tgc_pickle_root(const tgc_pickle *p) { return p->root; }

const tgc_pk *tgc_pk_dict_get(const tgc_pk *d, const char *key) {
    if (!d || d->kind != TGC_PK_DICT) return NULL;
    for (int i = d->n / 2 - 1; i >= 0; i--) { /* the last of duplicate keys wins, as in Python */
        const tgc_pk *k = d->items[2 * i];
        if (k->kind == TGC_PK_STR && !strcmp(k->s, key)) return d->items[2 * i + 1];
    }
    return NULL;
}

const char *tgc_pk_describe(const tgc_pk *v) {
    static const char *const names[] = {"None", "bool",  "int",    "float",   "str",    "bytes",
                                        "tuple", "list", "dict",   "callable", "storage", "tensor",
                                        "opaque", "numpy.ndarray", "numpy.dtype"};
    if (!v) return "nothing";
    if (v->kind == TGC_PK_OPAQUE || v->kind == TGC_PK_GLOBAL) return v->s;
    return names[v->kind];
}

/* ---- writer ---- */

void tgc_pkw_begin(tgc_buf *b) {
    tgc_buf_u8(b, 0x80);
    tgc_buf_u8(b, 2);
}

void tgc_pkw_end(tgc_buf *b) { tgc_buf_u8(b, '.'); }

static void w_global(tgc_buf *b, const char *mod, const char *name) {
    tgc_buf_u8(b, 'c');
    tgc_buf_printf(b, "%s\n%s\n", mod, name);
}

void tgc_pkw_dict_begin(tgc_buf *b) {
    tgc_buf_u8(b, '}');
    tgc_buf_u8(b, '(');
}

void tgc_pkw_ordered_dict_begin(tgc_buf *b) {
    w_global(b, "collections", "OrderedDict");
    tgc_buf_u8(b, ')');
    tgc_buf_u8(b, 'R');
    tgc_buf_u8(b, '(');
}

void tgc_pkw_dict_end(tgc_buf *b) { tgc_buf_u8(b, 'u'); }

void tgc_pkw_str(tgc_buf *b, const char *s) {
    size_t n = strlen(s);
    tgc_buf_u8(b, 'X');
    tgc_buf_u32(b, (uint32_t)n);
    tgc_buf_put(b, s, n);
}

void tgc_pkw_int(tgc_buf *b, int64_t v) {
    if (v >= INT32_MIN && v <= INT32_MAX) {
        tgc_buf_u8(b, 'J');
        tgc_buf_u32(b, (uint32_t)(int32_t)v);
    } else {
        tgc_buf_u8(b, 0x8a);
        tgc_buf_u8(b, 8);
        tgc_buf_u64(b, (uint64_t)v);
    }
}

void tgc_pkw_float(tgc_buf *b, double v) {
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    tgc_buf_u8(b, 'G');
    for (int i = 7; i >= 0; i--) tgc_buf_u8(b, (uint8_t)(u >> (8 * i)));
}

void tgc_pkw_tensor(tgc_buf *b, const char *key, tgc_dtype dtype, const tgc_shape *shape) {
    int64_t numel = 1, stride[TGC_MAX_RANK];
    for (int i = shape->rank - 1; i >= 0; i--) {
        stride[i] = numel;
        numel *= shape->d[i];
    }
    w_global(b, "torch._utils", "_rebuild_tensor_v2");
    tgc_buf_u8(b, '(');
    tgc_buf_u8(b, '('); /* the persistent id */
    tgc_pkw_str(b, "storage");
    w_global(b, "torch", tgc_pk_storage_name((int)dtype));
    tgc_pkw_str(b, key);
    tgc_pkw_str(b, "cpu");
    tgc_pkw_int(b, numel);
    tgc_buf_u8(b, 't');
    tgc_buf_u8(b, 'Q');
    tgc_pkw_int(b, 0);
    tgc_buf_u8(b, '(');
    for (int i = 0; i < shape->rank; i++) tgc_pkw_int(b, shape->d[i]);
    tgc_buf_u8(b, 't');
    tgc_buf_u8(b, '(');
    for (int i = 0; i < shape->rank; i++) tgc_pkw_int(b, stride[i]);
    tgc_buf_u8(b, 't');
    tgc_buf_u8(b, 0x89); /* requires_grad False */
    w_global(b, "collections", "OrderedDict");
    tgc_buf_u8(b, ')');
    tgc_buf_u8(b, 'R');
    tgc_buf_u8(b, 't');
    tgc_buf_u8(b, 'R');
}
