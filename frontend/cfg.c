/* frontend/cfg.c - config tree nodes: build, free, clone, compare, look up, typed getters, key paths. */
#include "frontend/cfg.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- building ------------------------------------------------------------------------------------ */
tgc_cfg *tgc_cfg_new(tgc_cfg_kind kind, const char *file, int line) {
    tgc_cfg *c = tgc_calloc(1, sizeof *c);
    c->kind = kind;
    c->file = tgc_strdup(file ? file : "");
    c->line = line;
    c->path = tgc_strdup("");
    return c;
}

/* Children arrays grow geometrically. `cap` records the capacity; code that builds arrays of exactly n
 * elements may leave it 0, since max(cap, n) never exceeds what was allocated. */
static void reserve(tgc_cfg *c, int need) {
    int have = TGC_MAX(c->cap, c->n);
    if (need <= have) return;
    int nc = 8;
    while (nc < need) nc *= 2;
    c->items = tgc_realloc(c->items, (size_t)nc * sizeof *c->items);
    if (c->kind == TGC_CFG_MAP) c->keys = tgc_realloc(c->keys, (size_t)nc * sizeof *c->keys);
    c->cap = nc;
}

void tgc_cfg_append(tgc_cfg *c, const char *key, tgc_cfg *item) {
    reserve(c, c->n + 1);
    if (c->kind == TGC_CFG_MAP) c->keys[c->n] = tgc_strdup(key ? key : "");
    c->items[c->n++] = item;
}

static int find_key(const tgc_cfg *map, const char *key) {
    if (!map || map->kind != TGC_CFG_MAP || !key) return -1;
    for (int i = 0; i < map->n; i++)
        if (strcmp(map->keys[i], key) == 0) return i;
    return -1;
}

void tgc_cfg_set(tgc_cfg *map, const char *key, tgc_cfg *val) {
    int i = find_key(map, key);
    if (i >= 0) {
        tgc_cfg_free(map->items[i]);
        map->items[i] = val;
        return;
    }
    tgc_cfg_append(map, key, val);
}

tgc_cfg *tgc_cfg_take(tgc_cfg *map, const char *key) {
    int i = find_key(map, key);
    if (i < 0) return NULL;
    tgc_cfg *v = map->items[i];
    free(map->keys[i]);
    memmove(map->items + i, map->items + i + 1, (size_t)(map->n - i - 1) * sizeof *map->items);
    memmove(map->keys + i, map->keys + i + 1, (size_t)(map->n - i - 1) * sizeof *map->keys);
    map->n--;
    return v;
}

tgc_cfg *tgc_cfg_take_child(tgc_cfg *c, const tgc_cfg *item) {
    for (int i = 0; c && i < c->n; i++) {
        if (c->items[i] != item) continue;
        tgc_cfg *v = c->items[i];
        if (c->keys) {
            free(c->keys[i]);
            memmove(c->keys + i, c->keys + i + 1, (size_t)(c->n - i - 1) * sizeof *c->keys);
        }
        memmove(c->items + i, c->items + i + 1, (size_t)(c->n - i - 1) * sizeof *c->items);
        c->n--;
        return v;
    }
    return NULL;
}

void tgc_cfg_free(tgc_cfg *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) {
        tgc_cfg_free(c->items[i]);
        if (c->keys) free(c->keys[i]);
    }
    free(c->items);
    free(c->keys);
    free(c->file);
    free(c->path);
    free(c->s);
    free(c);
}

tgc_cfg *tgc_cfg_clone(const tgc_cfg *c) {
    if (!c) return NULL;
    tgc_cfg *d = tgc_cfg_new(c->kind, c->file, c->line);
    free(d->path);
    d->path = tgc_strdup(c->path ? c->path : "");
    d->b = c->b;
    d->i = c->i;
    d->f = c->f;
    d->s = tgc_strdup(c->s);
    if (c->n > 0) {
        reserve(d, c->n);
        for (int i = 0; i < c->n; i++) {
            if (c->kind == TGC_CFG_MAP) d->keys[i] = tgc_strdup(c->keys[i]);
            d->items[i] = tgc_cfg_clone(c->items[i]);
        }
        d->n = c->n;
    }
    return d;
}

int tgc_cfg_equal(const tgc_cfg *a, const tgc_cfg *b) {
    if (!a || !b) return a == b;
    if (a->kind != b->kind) return 0;
    switch (a->kind) {
    case TGC_CFG_NULL: return 1;
    case TGC_CFG_BOOL: return !a->b == !b->b;
    case TGC_CFG_INT: return a->i == b->i;
    case TGC_CFG_FLOAT: return a->f == b->f || (isnan(a->f) && isnan(b->f));
    case TGC_CFG_STR: return strcmp(a->s ? a->s : "", b->s ? b->s : "") == 0;
    default: break;
    }
    if (a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++) {
        if (a->kind == TGC_CFG_MAP && strcmp(a->keys[i], b->keys[i]) != 0) return 0;
        if (!tgc_cfg_equal(a->items[i], b->items[i])) return 0;
    }
    return 1;
}

/* ---- key paths ----------------------------------------------------------------------------------- */
typedef struct pathbuf {
    char *p;
    size_t len, cap;
} pathbuf;

static void pb_put(pathbuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->len + n + 1) c *= 2;
        b->p = tgc_realloc(b->p, c);
        b->cap = c;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

enum { PATH_MAX_STORED = 512 };

static void set_paths_rec(tgc_cfg *c, pathbuf *b) {
    free(c->path);
    /* A path is for messages: a pathological one (huge keys) keeps only its tail so memory stays bounded. */
    if (b->len <= PATH_MAX_STORED) {
        c->path = tgc_strdup(b->p);
    } else {
        c->path = tgc_asprintf("...%s", b->p + b->len - (PATH_MAX_STORED - 3));
    }
    size_t mark = b->len;
    for (int i = 0; i < c->n; i++) {
        if (c->kind == TGC_CFG_MAP) {
            if (mark) pb_put(b, ".", 1);
            pb_put(b, c->keys[i], strlen(c->keys[i]));
        } else {
            char idx[32];
            int k = snprintf(idx, sizeof idx, "[%d]", i);
            pb_put(b, idx, (size_t)k);
        }
        set_paths_rec(c->items[i], b);
        b->len = mark;
        b->p[mark] = 0;
    }
}

void tgc_cfg_set_paths(tgc_cfg *root) {
    if (!root) return;
    pathbuf b = {0};
    pb_put(&b, "", 0);
    set_paths_rec(root, &b);
    free(b.p);
}

/* ---- lookup -------------------------------------------------------------------------------------- */
tgc_cfg *tgc_cfg_get(const tgc_cfg *map, const char *key) {
    int i = find_key(map, key);
    return i < 0 ? NULL : map->items[i];
}

static int is_seq(const tgc_cfg *c) { return c && (c->kind == TGC_CFG_LIST || c->kind == TGC_CFG_TUPLE); }

/* Parses a non-negative decimal index of exactly n characters; -1 if it is not one. */
static long parse_index(const char *s, size_t n) {
    if (n == 0 || n > 9) return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

tgc_cfg *tgc_cfg_at(const tgc_cfg *root, const char *dotted) {
    const tgc_cfg *c = root;
    const char *p = dotted ? dotted : "";
    while (*p && c) {
        size_t n = strcspn(p, ".[");
        if (n > 0) {
            if (c->kind == TGC_CFG_MAP) {
                char *key = tgc_malloc(n + 1);
                memcpy(key, p, n);
                key[n] = 0;
                c = tgc_cfg_get(c, key);
                free(key);
            } else if (is_seq(c)) { /* "pipeline.1" is accepted like "pipeline[1]" */
                long i = parse_index(p, n);
                c = (i >= 0 && i < c->n) ? c->items[i] : NULL;
            } else {
                return NULL;
            }
            p += n;
        }
        while (c && *p == '[') {
            const char *close = strchr(p, ']');
            if (!close || !is_seq(c)) return NULL;
            long i = parse_index(p + 1, (size_t)(close - p - 1));
            if (i < 0 || i >= c->n) return NULL;
            c = c->items[i];
            p = close + 1;
        }
        if (*p == '.') {
            p++;
            if (!*p || *p == '.' || *p == '[') return NULL; /* "a.", "a..b", "a.[0]" */
        } else if (*p && *p != '[') {
            return NULL;
        }
    }
    return (tgc_cfg *)c;
}

const char *tgc_cfg_kind_name(tgc_cfg_kind k) {
    static const char *names[] = {"null", "bool", "int", "float", "str", "list", "tuple", "map"};
    return (unsigned)k < TGC_ARRAY_LEN(names) ? names[k] : "?";
}

/* ---- errors and typed getters -------------------------------------------------------------------- */
int tgc_cfg_fail(tgc_err *err, const tgc_cfg *c, const char *fmt, ...) {
    if (!err) return -1;
    va_list ap;
    va_start(ap, fmt);
    char *msg = tgc_vasprintf(fmt, ap);
    va_end(ap);
    const char *file = c && c->file && *c->file ? c->file : "<config>";
    const char *path = c && c->path ? c->path : "";
    if (!c) tgc_fail(err, "%s", msg);
    else if (c->line > 0 && *path) tgc_fail(err, "%s:%d: %s: %s", file, c->line, path, msg);
    else if (c->line > 0) tgc_fail(err, "%s:%d: %s", file, c->line, msg);
    else if (*path) tgc_fail(err, "%s: %s: %s", file, path, msg);
    else tgc_fail(err, "%s: %s", file, msg);
    free(msg);
    return -1;
}

/* "a string ('abc')", "an integer (5)", "a list": what the user wrote, for type errors. */
static void describe(const tgc_cfg *c, char *out, size_t n) {
    switch (c->kind) {
    case TGC_CFG_NULL: snprintf(out, n, "null"); break;
    case TGC_CFG_BOOL: snprintf(out, n, "a boolean (%s)", c->b ? "true" : "false"); break;
    case TGC_CFG_INT: snprintf(out, n, "an integer (%" PRId64 ")", c->i); break;
    case TGC_CFG_FLOAT: snprintf(out, n, "a float (%g)", c->f); break;
    case TGC_CFG_STR: {
        const char *s = c->s ? c->s : "";
        if (strlen(s) > 60) snprintf(out, n, "a string ('%.57s...')", s);
        else snprintf(out, n, "a string ('%s')", s);
        break;
    }
    case TGC_CFG_LIST: snprintf(out, n, "a list of %d", c->n); break;
    case TGC_CFG_TUPLE: snprintf(out, n, "a tuple of %d", c->n); break;
    case TGC_CFG_MAP: snprintf(out, n, "a map"); break;
    }
}

static int type_error(tgc_err *err, const tgc_cfg *c, const char *expected) {
    char got[128];
    describe(c, got, sizeof got);
    return tgc_cfg_fail(err, c, "expected %s, got %s", expected, got);
}

/* The value for key, or NULL when the key is absent or null (then the caller uses the default). Fails on
 * a map argument that is not a map. */
static int lookup(const tgc_cfg *map, const char *key, const tgc_cfg **out, tgc_err *err) {
    *out = NULL;
    if (!map) return 0;
    if (map->kind != TGC_CFG_MAP) return type_error(err, map, "a map");
    const tgc_cfg *v = tgc_cfg_get(map, key);
    if (v && v->kind != TGC_CFG_NULL) *out = v;
    return 0;
}

int tgc_cfg_int(const tgc_cfg *map, const char *key, int64_t def, int64_t *out, tgc_err *err) {
    const tgc_cfg *v;
    *out = def;
    if (lookup(map, key, &v, err) < 0) return -1;
    if (!v) return 0;
    if (v->kind != TGC_CFG_INT) return type_error(err, v, "an integer");
    *out = v->i;
    return 0;
}

int tgc_cfg_float(const tgc_cfg *map, const char *key, double def, double *out, tgc_err *err) {
    const tgc_cfg *v;
    *out = def;
    if (lookup(map, key, &v, err) < 0) return -1;
    if (!v) return 0;
    if (v->kind == TGC_CFG_INT) *out = (double)v->i;
    else if (v->kind == TGC_CFG_FLOAT) *out = v->f;
    else return type_error(err, v, "a number");
    return 0;
}

int tgc_cfg_bool(const tgc_cfg *map, const char *key, int def, int *out, tgc_err *err) {
    const tgc_cfg *v;
    *out = def;
    if (lookup(map, key, &v, err) < 0) return -1;
    if (!v) return 0;
    if (v->kind != TGC_CFG_BOOL) return type_error(err, v, "a boolean");
    *out = v->b;
    return 0;
}

int tgc_cfg_str(const tgc_cfg *map, const char *key, const char *def, const char **out, tgc_err *err) {
    const tgc_cfg *v;
    *out = def;
    if (lookup(map, key, &v, err) < 0) return -1;
    if (!v) return 0;
    if (v->kind != TGC_CFG_STR) return type_error(err, v, "a string");
    *out = v->s;
    return 0;
}

int tgc_cfg_ints(const tgc_cfg *map, const char *key, int64_t *out, int max, int *n, tgc_err *err) {
    const tgc_cfg *v;
    *n = 0;
    if (lookup(map, key, &v, err) < 0) return -1;
    if (!v) return 0;
    if (v->kind == TGC_CFG_INT) {
        if (max < 1) return tgc_cfg_fail(err, v, "expected at most %d integers, got 1", max);
        out[0] = v->i;
        *n = 1;
        return 0;
    }
    if (!is_seq(v)) return type_error(err, v, "an integer or a list of integers");
    if (v->n > max) return tgc_cfg_fail(err, v, "expected at most %d integers, got %d", max, v->n);
    for (int i = 0; i < v->n; i++) {
        if (v->items[i]->kind != TGC_CFG_INT) return type_error(err, v->items[i], "an integer");
        out[i] = v->items[i]->i;
    }
    *n = v->n;
    return 0;
}

/* ---- key index ----------------------------------------------------------------------------------- */
static uint32_t hash_key(const char *s) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static void index_insert(tgc_cfg_index *ix, const tgc_cfg *map, int pos) {
    uint32_t m = (uint32_t)ix->cap - 1;
    for (uint32_t h = hash_key(map->keys[pos]) & m;; h = (h + 1) & m) {
        if (ix->slot[h] < 0) {
            ix->slot[h] = pos;
            ix->n++;
            return;
        }
    }
}

static void index_rehash(tgc_cfg_index *ix, const tgc_cfg *map, int cap) {
    free(ix->slot);
    ix->slot = tgc_malloc((size_t)cap * sizeof *ix->slot);
    memset(ix->slot, 0xff, (size_t)cap * sizeof *ix->slot);
    ix->cap = cap;
    ix->n = 0;
    for (int i = 0; i < map->n; i++) index_insert(ix, map, i);
}

void tgc_cfg_index_init(tgc_cfg_index *ix, const tgc_cfg *map) {
    ix->slot = NULL;
    int cap = 16;
    while (cap < 2 * map->n) cap *= 2;
    index_rehash(ix, map, cap);
}

int tgc_cfg_index_find(const tgc_cfg_index *ix, const tgc_cfg *map, const char *key) {
    uint32_t m = (uint32_t)ix->cap - 1;
    for (uint32_t h = hash_key(key) & m; ix->slot[h] >= 0; h = (h + 1) & m)
        if (strcmp(map->keys[ix->slot[h]], key) == 0) return ix->slot[h];
    return -1;
}

void tgc_cfg_index_add(tgc_cfg_index *ix, const tgc_cfg *map, int pos) {
    if (2 * (ix->n + 1) > ix->cap) index_rehash(ix, map, ix->cap * 2); /* rehash includes pos */
    else index_insert(ix, map, pos);
}

void tgc_cfg_index_free(tgc_cfg_index *ix) {
    free(ix->slot);
    ix->slot = NULL;
    ix->cap = ix->n = 0;
}
