/* frontend/cfg_serialize.c - the config tree's compact binary form (with a checked reader) and its YAML dump. */
#include "frontend/cfg.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Layout (little-endian):
 *   u32 magic "TGCF", u8 version,
 *   u32 nfiles, nfiles x str            file names, so each node stores an index, not a copy
 *   node: u8 kind, u32 file index, u32 line, then
 *         BOOL u8 | INT i64 | FLOAT f64 | STR str | LIST/TUPLE u32 n, n x node | MAP u32 n, n x (str key, node)
 * Paths are not stored: they are recomputed from the tree. */
#define CFG_MAGIC 0x46434754u
#define CFG_VERSION 1
enum { MAX_DEPTH = 64, NODE_MIN_BYTES = 9 };

typedef struct files {
    const char **v;
    int n, cap;
    int last; /* consecutive nodes nearly always share a file */
} files;

static uint32_t file_index(files *fs, const char *f) {
    if (fs->last >= 0 && fs->last < fs->n && !strcmp(fs->v[fs->last], f)) return (uint32_t)fs->last;
    for (int i = 0; i < fs->n; i++)
        if (!strcmp(fs->v[i], f)) return (uint32_t)(fs->last = i);
    TGC_GROW(fs->v, fs->cap, fs->n + 1);
    fs->v[fs->n] = f;
    return (uint32_t)(fs->last = fs->n++);
}

static void collect_files(const tgc_cfg *c, files *fs) {
    file_index(fs, c->file ? c->file : "");
    for (int i = 0; i < c->n; i++) collect_files(c->items[i], fs);
}

static void put_node(const tgc_cfg *c, files *fs, tgc_buf *out) {
    tgc_buf_u8(out, (uint8_t)c->kind);
    tgc_buf_u32(out, file_index(fs, c->file ? c->file : ""));
    tgc_buf_u32(out, (uint32_t)(c->line > 0 ? c->line : 0));
    switch (c->kind) {
    case TGC_CFG_NULL: break;
    case TGC_CFG_BOOL: tgc_buf_u8(out, c->b ? 1 : 0); break;
    case TGC_CFG_INT: tgc_buf_i64(out, c->i); break;
    case TGC_CFG_FLOAT: tgc_buf_f64(out, c->f); break;
    case TGC_CFG_STR: tgc_buf_str(out, c->s ? c->s : ""); break;
    case TGC_CFG_LIST:
    case TGC_CFG_TUPLE:
    case TGC_CFG_MAP:
        tgc_buf_u32(out, (uint32_t)c->n);
        for (int i = 0; i < c->n; i++) {
            if (c->kind == TGC_CFG_MAP) tgc_buf_str(out, c->keys[i]);
            put_node(c->items[i], fs, out);
        }
        break;
    }
}

void tgc_cfg_serialize(const tgc_cfg *c, tgc_buf *out) {
    files fs = {NULL, 0, 0, -1};
    if (c) collect_files(c, &fs);
    tgc_buf_u32(out, CFG_MAGIC);
    tgc_buf_u8(out, CFG_VERSION);
    tgc_buf_u32(out, (uint32_t)fs.n);
    for (int i = 0; i < fs.n; i++) tgc_buf_str(out, fs.v[i]);
    if (c) put_node(c, &fs, out);
    else tgc_buf_u8(out, 0xff); /* no tree: refused by the reader, as a NULL tree cannot be returned */
    free(fs.v);
}

typedef struct rd {
    tgc_reader r;
    char **files;
    uint32_t nfiles;
    tgc_err *err;
} rd;

static tgc_cfg *bad(rd *d, const char *what) {
    tgc_fail(d->err, "serialized config: %s at byte %zu of %zu", what, d->r.pos, d->r.len);
    return NULL;
}

static tgc_cfg *get_node(rd *d, int depth) {
    uint8_t kind = tgc_rd_u8(&d->r);
    uint32_t fi = tgc_rd_u32(&d->r);
    uint32_t line = tgc_rd_u32(&d->r);
    if (d->r.failed) return bad(d, "truncated node");
    if (kind > TGC_CFG_MAP) return bad(d, "unknown node kind");
    if (fi >= d->nfiles) return bad(d, "file index out of range");
    if (line > INT_MAX) return bad(d, "line out of range");
    tgc_cfg *c = tgc_cfg_new((tgc_cfg_kind)kind, d->files[fi], (int)line);
    switch (c->kind) {
    case TGC_CFG_NULL: break;
    case TGC_CFG_BOOL: {
        uint8_t b = tgc_rd_u8(&d->r);
        if (b > 1) d->r.failed = 1;
        c->b = b;
        break;
    }
    case TGC_CFG_INT: c->i = tgc_rd_i64(&d->r); break;
    case TGC_CFG_FLOAT: c->f = tgc_rd_f64(&d->r); break;
    case TGC_CFG_STR: {
        int is_null;
        c->s = tgc_rd_str(&d->r, &is_null);
        if (!c->s) d->r.failed = 1;
        break;
    }
    case TGC_CFG_LIST:
    case TGC_CFG_TUPLE:
    case TGC_CFG_MAP: {
        if (depth >= MAX_DEPTH) {
            tgc_cfg_free(c);
            return bad(d, "nesting deeper than 64 levels");
        }
        uint32_t n = tgc_rd_u32(&d->r);
        /* Every child takes at least NODE_MIN_BYTES: a count the rest of the buffer cannot hold is a lie,
         * refused before anything is allocated for it. */
        if (d->r.failed || n > (d->r.len - d->r.pos) / NODE_MIN_BYTES) {
            tgc_cfg_free(c);
            return bad(d, "child count exceeds the buffer");
        }
        for (uint32_t i = 0; i < n; i++) {
            char *key = NULL;
            if (c->kind == TGC_CFG_MAP) {
                int is_null;
                key = tgc_rd_str(&d->r, &is_null);
                if (!key) {
                    tgc_cfg_free(c);
                    return bad(d, "truncated or null map key");
                }
            }
            tgc_cfg *v = get_node(d, depth + 1);
            if (!v) {
                free(key);
                tgc_cfg_free(c);
                return NULL;
            }
            tgc_cfg_append(c, key, v);
            free(key);
        }
        break;
    }
    }
    if (d->r.failed) {
        tgc_cfg_free(c);
        return bad(d, "truncated value");
    }
    return c;
}

tgc_cfg *tgc_cfg_deserialize(const uint8_t *data, size_t len, tgc_err *err) {
    rd d = {{data, len, 0, 0}, NULL, 0, err};
    uint32_t magic = tgc_rd_u32(&d.r);
    uint8_t version = tgc_rd_u8(&d.r);
    if (d.r.failed || magic != CFG_MAGIC) return bad(&d, "bad magic (not a serialized config)");
    if (version != CFG_VERSION) {
        tgc_fail(err, "serialized config: version %u, this build reads version %d", version, CFG_VERSION);
        return NULL;
    }
    uint32_t nf = tgc_rd_u32(&d.r);
    if (d.r.failed || nf > (len - d.r.pos) / 4) return bad(&d, "file count exceeds the buffer");
    d.files = tgc_calloc(nf ? nf : 1, sizeof *d.files);
    tgc_cfg *root = NULL;
    for (uint32_t i = 0; i < nf; i++) {
        int is_null;
        d.files[i] = tgc_rd_str(&d.r, &is_null);
        d.nfiles = i + 1;
        if (!d.files[i]) {
            bad(&d, "truncated or null file name");
            goto out;
        }
    }
    root = get_node(&d, 0);
    if (root && d.r.pos != d.r.len) {
        tgc_cfg_free(root);
        root = bad(&d, "trailing bytes");
    }
    if (root) tgc_cfg_set_paths(root);
out:
    for (uint32_t i = 0; i < d.nfiles; i++) free(d.files[i]);
    free(d.files);
    return root;
}

/* ---- YAML dump ----------------------------------------------------------------------------------- */
static int is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

/* Text that YAML reads back, unquoted, as this same string. Conservative: anything unusual is quoted. */
static int plain_ok(const char *s) {
    if (!*s || !(is_alnum(*s) || *s == '_' || *s == '/')) return 0;
    for (const char *p = s; *p; p++)
        if (!(is_alnum(*p) || strchr("_./+-", *p))) return 0;
    return tgc_cfg_plain_kind(s) == TGC_CFG_STR;
}

static void put_quoted(const char *s, FILE *f) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\t': fputs("\\t", f); break;
        case '\r': fputs("\\r", f); break;
        default:
            if (*p < 0x20 || *p == 0x7f) fprintf(f, "\\x%02x", *p);
            else fputc(*p, f);
        }
    }
    fputc('"', f);
}

static void put_str(const char *s, FILE *f) {
    if (plain_ok(s)) fputs(s, f);
    else put_quoted(s, f);
}

/* The shortest %g form that reads back to the same double, with a '.' or an exponent so YAML sees a float. */
static void put_float(double v, FILE *f) {
    if (isnan(v)) {
        fputs(".nan", f);
        return;
    }
    if (isinf(v)) {
        fputs(v < 0 ? "-.inf" : ".inf", f);
        return;
    }
    char b[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(b, sizeof b, "%.*g", prec, v);
        if (strtod(b, NULL) == v) break;
    }
    if (!strpbrk(b, ".eE")) strcat(b, ".0");
    fputs(b, f);
}

static void put_scalar(const tgc_cfg *c, FILE *f) {
    switch (c->kind) {
    case TGC_CFG_NULL: fputs("null", f); break;
    case TGC_CFG_BOOL: fputs(c->b ? "true" : "false", f); break;
    case TGC_CFG_INT: fprintf(f, "%" PRId64, c->i); break;
    case TGC_CFG_FLOAT: put_float(c->f, f); break;
    case TGC_CFG_STR: put_str(c->s ? c->s : "", f); break;
    case TGC_CFG_LIST:
    case TGC_CFG_TUPLE: fputs("[]", f); break; /* only empty ones are written inline */
    case TGC_CFG_MAP: fputs("{}", f); break;
    }
}

static int is_block(const tgc_cfg *c) {
    return c->n > 0 && (c->kind == TGC_CFG_MAP || c->kind == TGC_CFG_LIST || c->kind == TGC_CFG_TUPLE);
}

/* Writes a non-empty map or list at `indent`; when `inl`, its first line continues the current line
 * (after "- "). Tuples are written as lists: YAML has no tuples. */
static void dump_block(const tgc_cfg *c, int indent, int inl, FILE *f) {
    for (int i = 0; i < c->n; i++) {
        if (i > 0 || !inl) fprintf(f, "%*s", indent, "");
        const tgc_cfg *v = c->items[i];
        if (c->kind == TGC_CFG_MAP) {
            put_str(c->keys[i], f);
            fputc(':', f);
            if (is_block(v)) {
                fputc('\n', f);
                dump_block(v, indent + 2, 0, f);
                continue;
            }
        } else {
            fputc('-', f);
            if (is_block(v)) {
                fputc(' ', f);
                dump_block(v, indent + 2, 1, f);
                continue;
            }
        }
        fputc(' ', f);
        put_scalar(v, f);
        fputc('\n', f);
    }
}

void tgc_cfg_dump(const tgc_cfg *c, FILE *f) {
    if (!c) return;
    if (is_block(c)) {
        dump_block(c, 0, 0, f);
    } else {
        put_scalar(c, f);
        fputc('\n', f);
    }
}
