/* ir/parse.c - the reader of the text form: graphs back from what ir/print.c writes (--dump-ir).
 *
 * The grammar, one construct per line (blank lines and whole-line // comments anywhere):
 *
 *   graph @NAME {
 *     %N = KIND "NAME" : TYPE [init=KIND(F, ...)] [lr_mult=F] [decay_mult=F] [frozen=1] [# DESC]
 *     [%N : TYPE {, %N : TYPE} =] OP [%N {, %N}] [{ATTR=VALUE {, ATTR=VALUE}}] [group=N]
 *                                                                    [# SCOPE[; grad of NAME {, grad of NAME}]]
 *     allreduce_bucket N @grad+OFFSET bytes=N (%N {, %N})
 *     output %N
 *   }
 *   TYPE = DTYPE[D, ...] [nhwc] [@SLAB+OFFSET]   (nhwc: the value's layout, tgc_layout; row is not printed)
 *
 * Attribute values follow their row in ir/attrs.def; an attribute the line leaves out keeps its default.
 * The `# ...` of an op is meaningful: its scope, then which parameters its results are the gradients of
 * (each matched to the next result of that parameter's type). A bucket belongs to the op line before it.
 *
 * The arena's size, which the text does not print, is taken to be where its last value ends (rounded up
 * to 64 bytes, as memplan makes it).
 *
 * Value numbers need not be dense: values are numbered in the order of their numbers (the printer's own
 * numbering, always dense, is kept as is). Every op is checked as it is read: arity, and its result types
 * against the op's shape rule; errors are "FILE:LINE:COL: message". The graph-wide invariants (SSA order,
 * state updates, one gradient per parameter) are the verifier's (tgc_graph_verify).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"

#define DIM_LIMIT ((int64_t)1 << 40)
#define NUMEL_LIMIT ((int64_t)1 << 52)
#define MAX_VALUE_NUMBER 0x3fffffff

/* ---- lines and tokens ------------------------------------------------------------------------- */
typedef struct cur {
    const char *file;
    tgc_err *err;
    int line;
    const char *bol, *p, *eol; /* the line (trailing blanks and \r dropped) and the position in it */
} cur;

static int fail_at(const cur *c, const char *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_at(const cur *c, const char *at, const char *fmt, ...) {
    char msg[TGC_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (at < c->bol) at = c->bol;
    if (at > c->eol) at = c->eol;
    return tgc_fail(c->err, "%s:%d:%d: %s", c->file, c->line, (int)(at - c->bol) + 1, msg);
}

static void skip_ws(cur *c) {
    while (c->p < c->eol && (*c->p == ' ' || *c->p == '\t')) c->p++;
}

static int peek(cur *c) {
    skip_ws(c);
    return c->p < c->eol ? (unsigned char)*c->p : -1;
}

static int accept(cur *c, char ch) {
    if (peek(c) != (unsigned char)ch) return 0;
    c->p++;
    return 1;
}

static int is_ident(int ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
}

/* "'xyz'" (the token at the position, at most 24 characters) or "the end of the line", for messages. */
static const char *found(const cur *c, char *buf, size_t n) {
    const char *p = c->p;
    while (p < c->eol && (*p == ' ' || *p == '\t')) p++;
    if (p >= c->eol) return "the end of the line";
    const char *q = p;
    if (is_ident((unsigned char)*q))
        while (q < c->eol && is_ident((unsigned char)*q) && q - p < 24) q++;
    else
        q++;
    size_t len = (size_t)(q - p);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] == 0x7f) {
            snprintf(buf, n, "byte 0x%02x", (unsigned char)p[i]);
            return buf;
        }
    snprintf(buf, n, "'%.*s'", (int)len, p);
    return buf;
}

static int expect(cur *c, char ch, const char *what) {
    if (accept(c, ch)) return 0;
    char b[64];
    return fail_at(c, c->p, "expected '%c' %s, found %s", ch, what, found(c, b, sizeof b));
}

/* An identifier at the position: its start and length (0 if none). */
static size_t word(cur *c, const char **w) {
    skip_ws(c);
    *w = c->p;
    while (c->p < c->eol && is_ident((unsigned char)*c->p)) c->p++;
    return (size_t)(c->p - *w);
}

static int word_is(const char *w, size_t n, const char *kw) { return strlen(kw) == n && !memcmp(w, kw, n); }

/* Consumes the keyword kw if it is the next word. */
static int accept_word(cur *c, const char *kw) {
    skip_ws(c);
    const char *save = c->p, *w;
    size_t n = word(c, &w);
    if (word_is(w, n, kw)) return 1;
    c->p = save;
    return 0;
}

static int parse_u64(cur *c, uint64_t *out, const char *what) {
    skip_ws(c);
    const char *at = c->p;
    uint64_t v = 0;
    if (c->p >= c->eol || *c->p < '0' || *c->p > '9') {
        char b[64];
        return fail_at(c, at, "expected %s (a number), found %s", what, found(c, b, sizeof b));
    }
    while (c->p < c->eol && *c->p >= '0' && *c->p <= '9') {
        unsigned d = (unsigned)(*c->p - '0');
        if (v > (UINT64_MAX - d) / 10) return fail_at(c, at, "%s is too large", what);
        v = v * 10 + d;
        c->p++;
    }
    *out = v;
    return 0;
}

static int parse_i64(cur *c, int64_t *out, const char *what) {
    skip_ws(c);
    const char *at = c->p;
    int neg = c->p < c->eol && *c->p == '-';
    if (neg) c->p++;
    if (c->p >= c->eol || *c->p < '0' || *c->p > '9') {
        c->p = at;
        char b[64];
        return fail_at(c, at, "expected %s (an integer), found %s", what, found(c, b, sizeof b));
    }
    uint64_t v;
    if (parse_u64(c, &v, what) < 0) return -1;
    if (v > (uint64_t)INT64_MAX + (uint64_t)neg) return fail_at(c, at, "%s is out of range", what);
    *out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return 0;
}

/* A number as printf's %g writes it (inf and nan included). The text is NUL-terminated and a number
 * cannot run past the end of its line, so strtod stays in the line. */
static int parse_f64(cur *c, double *out, const char *what) {
    skip_ws(c);
    const char *at = c->p;
    int ch = c->p < c->eol ? (unsigned char)*c->p : -1;
    char *end = NULL;
    if ((ch >= '0' && ch <= '9') || ch == '-' || ch == '+' || ch == '.' || ch == 'i' || ch == 'n')
        *out = strtod(at, &end);
    if (!end || end == at || end > c->eol) {
        char b[64];
        return fail_at(c, at, "expected %s (a number), found %s", what, found(c, b, sizeof b));
    }
    c->p = end;
    return 0;
}

/* %N: the number as written. */
static int parse_ref(cur *c, int64_t *id, const char **at) {
    skip_ws(c);
    *at = c->p;
    if (c->p >= c->eol || *c->p != '%') {
        char b[64];
        return fail_at(c, c->p, "expected a value (%%N), found %s", found(c, b, sizeof b));
    }
    c->p++;
    if (c->p >= c->eol || *c->p < '0' || *c->p > '9') return fail_at(c, *at, "expected a number after '%%'");
    uint64_t v;
    if (parse_u64(c, &v, "a value number") < 0) return -1;
    if (v > MAX_VALUE_NUMBER) return fail_at(c, *at, "value number %%%llu is too large", (unsigned long long)v);
    *id = (int64_t)v;
    return 0;
}

/* "[d0,d1,...]"; with `sane`, every dimension in [1, 2^40] and at most 2^52 elements (what tgc_emit
 * accepts), so that shape rules never overflow. */
static int parse_shape(cur *c, tgc_shape *s, const char *what) {
    skip_ws(c);
    const char *at = c->p;
    memset(s, 0, sizeof *s);
    if (expect(c, '[', what) < 0) return -1;
    if (accept(c, ']')) return 0;
    int64_t numel = 1;
    for (;;) {
        int64_t d;
        const char *dat = (skip_ws(c), c->p);
        if (parse_i64(c, &d, "a dimension") < 0) return -1;
        if (s->rank == TGC_MAX_RANK) return fail_at(c, at, "%s has more than %d dimensions", what, TGC_MAX_RANK);
        if (d < 1 || d > DIM_LIMIT)
            return fail_at(c, dat, "dimension %lld of %s is not in [1, 2^40]", (long long)d, what);
        numel *= d; /* both factors are at most 2^52 and 2^40 before the check below */
        if (numel > NUMEL_LIMIT) return fail_at(c, at, "%s has more than 2^52 elements", what);
        s->d[s->rank++] = d;
        if (accept(c, ']')) return 0;
        if (expect(c, ',', "or ']' in a shape") < 0) return -1;
    }
}

static int parse_dtype(cur *c, tgc_dtype *dt) {
    const char *w;
    size_t n = word(c, &w);
    for (int t = 0; t < TGC_DTYPE_COUNT; t++)
        if (word_is(w, n, tgc_dtype_name((tgc_dtype)t))) {
            *dt = (tgc_dtype)t;
            return 0;
        }
    if (!n) {
        char b[64];
        return fail_at(c, w, "expected a dtype (f32, f16, bf16, i32, i64, u8), found %s", found(c, b, sizeof b));
    }
    return fail_at(c, w, "unknown dtype '%.*s' (f32, f16, bf16, i32, i64, u8)", (int)n, w);
}

/* TYPE [LAYOUT] [@SLAB+OFFSET]; LAYOUT is nhwc (row, the default, is not printed but is read) */
static int parse_type(cur *c, tgc_type *t, tgc_slab *slab, uint64_t *off) {
    if (parse_dtype(c, &t->dtype) < 0 || parse_shape(c, &t->shape, "the type's shape") < 0) return -1;
    t->layout = TGC_LAYOUT_ROW;
    for (int l = TGC_LAYOUT_ROW; l < TGC_LAYOUT_COUNT; l++)
        if (accept_word(c, tgc_layout_name((tgc_layout)l))) {
            t->layout = (tgc_layout)l;
            break;
        }
    *slab = TGC_SLAB_NONE;
    *off = 0;
    if (!accept(c, '@')) return 0;
    const char *w;
    size_t n = word(c, &w);
    int found_slab = -1;
    for (int s = TGC_SLAB_ARENA; s < TGC_SLAB_COUNT; s++)
        if (word_is(w, n, tgc_slab_name((tgc_slab)s))) found_slab = s;
    if (found_slab < 0)
        return fail_at(c, w, "unknown slab '%.*s' (arena, input, param, buffer, grad, optstate)", (int)n, w);
    *slab = (tgc_slab)found_slab;
    if (expect(c, '+', "after the slab") < 0) return -1;
    return parse_u64(c, off, "an offset");
}

/* The rest of the line after '#' and one space. */
static char *rest_of_line(cur *c) {
    if (c->p < c->eol && *c->p == ' ') c->p++;
    char *s = tgc_malloc((size_t)(c->eol - c->p) + 1);
    memcpy(s, c->p, (size_t)(c->eol - c->p));
    s[c->eol - c->p] = 0;
    c->p = c->eol;
    return s;
}

static int expect_end(cur *c) {
    if (peek(c) < 0) return 0;
    char b[64];
    return fail_at(c, c->p, "unexpected %s at the end of the line", found(c, b, sizeof b));
}

/* ---- what one graph's lines say, before values are numbered ------------------------------------- */
typedef struct pos {
    int line, col;
} pos;

static pos pos_of(const cur *c, const char *at) { return (pos){c->line, (int)(at - c->bol) + 1}; }

/* A value definition: a declaration line (op < 0) or result k of op. */
typedef struct pdef {
    int64_t id;
    int op, k, decl;
    pos at;
} pdef;

typedef struct pdecl {
    tgc_val_kind kind;
    char *name;
    tgc_type type;
    tgc_slab slab;
    uint64_t offset;
    tgc_init init;
    double lr_mult, decay_mult;
    int frozen;
} pdecl;

typedef struct pop {
    tgc_op op;                        /* code, n_in, n_out, attrs, scope, group */
    int64_t in[TGC_MAX_IN], out[TGC_MAX_OUT];
    pos in_at[TGC_MAX_IN], out_at[TGC_MAX_OUT], at;
    tgc_type out_t[TGC_MAX_OUT];
    tgc_slab out_slab[TGC_MAX_OUT];
    uint64_t out_off[TGC_MAX_OUT];
    char *grads;                      /* "grad of A, grad of B" from the comment, or NULL */
    pos grads_at;
} pop;

typedef struct pbucket {
    int64_t index;
    uint64_t offset, bytes;
    int n;
    int64_t *vals;
    pos *vals_at;
    int ready_op;
    pos at;
} pbucket;

typedef struct pgraph {
    char *name;
    pos at;
    pdef *defs;
    int n_defs, cap_defs;
    pdecl *decls;
    int n_decls, cap_decls;
    pop *ops;
    int n_ops, cap_ops;
    pbucket *buckets;
    int n_buckets, cap_buckets;
    int64_t *outputs;
    pos *outputs_at;
    char **output_names; /* owned: "name" of a named output, else NULL */
    int n_outputs, cap_outputs, cap_outputs_at, cap_output_names;
} pgraph;

static void pgraph_free(pgraph *pg) {
    free(pg->name);
    free(pg->defs);
    for (int i = 0; i < pg->n_decls; i++) free(pg->decls[i].name), free(pg->decls[i].init.desc);
    free(pg->decls);
    for (int i = 0; i < pg->n_ops; i++) free(pg->ops[i].op.scope), free(pg->ops[i].grads);
    free(pg->ops);
    for (int i = 0; i < pg->n_buckets; i++) free(pg->buckets[i].vals), free(pg->buckets[i].vals_at);
    free(pg->buckets);
    free(pg->outputs);
    free(pg->outputs_at);
    for (int i = 0; i < pg->n_outputs; i++) free(pg->output_names[i]);
    free(pg->output_names);
    memset(pg, 0, sizeof *pg);
}

static void add_def(pgraph *pg, int64_t id, int op, int k, int decl, pos at) {
    TGC_GROW(pg->defs, pg->cap_defs, pg->n_defs + 1);
    pg->defs[pg->n_defs++] = (pdef){id, op, k, decl, at};
}

/* ---- lines -------------------------------------------------------------------------------------- */
/* %N = KIND "NAME" : TYPE [init=...] [lr_mult=F] [decay_mult=F] [frozen=1] [# DESC]  (after "%N =") */
static int parse_decl(cur *c, pgraph *pg, int64_t id, pos at) {
    const char *w;
    size_t n = word(c, &w);
    int kind = -1;
    for (int k = TGC_VAL_INPUT; k <= TGC_VAL_OPTSTATE; k++)
        if (word_is(w, n, tgc_val_kind_name((tgc_val_kind)k))) kind = k;
    if (word_is(w, n, "temp")) return fail_at(c, w, "a temp value is defined by the op that computes it");
    if (kind < 0) {
        char b[64];
        c->p = w;
        return fail_at(c, w, "expected a value kind (input, param, buffer, optstate), found %s",
                       found(c, b, sizeof b));
    }
    if (expect(c, '"', "before the value's name") < 0) return -1;
    const char *name = c->p, *q = memchr(c->p, '"', (size_t)(c->eol - c->p));
    if (!q) return fail_at(c, name - 1, "the name has no closing '\"'");
    c->p = q + 1;
    if (expect(c, ':', "before the value's type") < 0) return -1;
    TGC_GROW(pg->decls, pg->cap_decls, pg->n_decls + 1);
    pdecl *d = &pg->decls[pg->n_decls++];
    memset(d, 0, sizeof *d);
    d->kind = (tgc_val_kind)kind;
    d->name = q > name ? tgc_asprintf("%.*s", (int)(q - name), name) : NULL;
    d->lr_mult = d->decay_mult = 1.0;
    add_def(pg, id, -1, 0, pg->n_decls - 1, at);
    if (parse_type(c, &d->type, &d->slab, &d->offset) < 0) return -1;
    int seen_init = 0, seen_lr = 0, seen_decay = 0, seen_frozen = 0;
    for (;;) {
        int ch = peek(c);
        if (ch < 0) return 0;
        if (ch == '#') {
            c->p++;
            d->init.desc = rest_of_line(c);
            return 0;
        }
        const char *kw = c->p;
        n = word(c, &w);
        int *seen = word_is(w, n, "init") ? &seen_init : word_is(w, n, "lr_mult") ? &seen_lr
                  : word_is(w, n, "decay_mult") ? &seen_decay : word_is(w, n, "frozen") ? &seen_frozen : NULL;
        if (!seen) {
            char b[64];
            c->p = kw;
            return fail_at(c, kw, "expected init=, lr_mult=, decay_mult=, frozen= or '#', found %s", found(c, b, sizeof b));
        }
        if (*seen) return fail_at(c, kw, "%.*s is given twice", (int)n, w);
        *seen = 1;
        if (expect(c, '=', "after the key") < 0) return -1;
        if (seen == &seen_lr) {
            if (parse_f64(c, &d->lr_mult, "lr_mult") < 0) return -1;
            continue;
        }
        if (seen == &seen_decay) {
            if (parse_f64(c, &d->decay_mult, "decay_mult") < 0) return -1;
            continue;
        }
        if (seen == &seen_frozen) {
            double fz;
            const char *at = c->p;
            if (parse_f64(c, &fz, "frozen") < 0) return -1;
            if (fz != 0 && fz != 1) return fail_at(c, at, "frozen must be 0 or 1");
            if (kind != TGC_VAL_PARAM) return fail_at(c, kw, "only a param can be frozen");
            d->frozen = fz != 0;
            continue;
        }
        static const struct {
            const char *name;
            tgc_init_kind kind;
            int n;
        } inits[] = {{"const", TGC_INIT_CONST, 1},
                     {"normal", TGC_INIT_NORMAL, 2},
                     {"uniform", TGC_INIT_UNIFORM, 2},
                     {"trunc_normal", TGC_INIT_TRUNC_NORMAL, 4}};
        n = word(c, &w);
        int which = -1;
        for (int i = 0; i < (int)TGC_ARRAY_LEN(inits); i++)
            if (word_is(w, n, inits[i].name)) which = i;
        if (which < 0)
            return fail_at(c, w, "unknown init '%.*s' (const, normal, uniform, trunc_normal)", (int)n, w);
        d->init.kind = inits[which].kind;
        double *args[4] = {&d->init.a, &d->init.b, &d->init.lo, &d->init.hi};
        if (expect(c, '(', "after the init's kind") < 0) return -1;
        for (int i = 0; i < inits[which].n; i++) {
            if (i && expect(c, ',', "between the init's numbers") < 0) return -1;
            if (parse_f64(c, args[i], "an init parameter") < 0) return -1;
        }
        if (peek(c) == ',') return fail_at(c, c->p, "%s takes %d numbers", inits[which].name, inits[which].n);
        if (expect(c, ')', "after the init's numbers") < 0) return -1;
    }
}

/* {name=value, ...} for an op whose row names `bits`. */
static int parse_attrs(cur *c, tgc_attrs *a, uint32_t bits, const char *opname) {
    int seen[TGC_ATTR_COUNT] = {0};
    if (accept(c, '}')) return 0;
    for (;;) {
        const char *w;
        size_t n = word(c, &w);
        int r = -1;
        for (int i = 0; i < TGC_ATTR_COUNT; i++)
            if (word_is(w, n, tgc_attr_table[i].name)) r = i;
        if (!n) {
            char b[64];
            return fail_at(c, w, "expected an attribute name, found %s", found(c, b, sizeof b));
        }
        if (r < 0) return fail_at(c, w, "unknown attribute '%.*s'", (int)n, w);
        const tgc_attr_info *row = &tgc_attr_table[r];
        if (!(bits & row->bit)) {
            char names[512] = "";
            size_t len = 0;
            for (int i = 0; i < TGC_ATTR_COUNT && len < sizeof names; i++)
                if (bits & tgc_attr_table[i].bit)
                    len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", len ? ", " : "",
                                            tgc_attr_table[i].name);
            return fail_at(c, w, "%s has no attribute '%s' (%s%s)", opname, row->name,
                           len ? "its attributes: " : "", len ? names : "it has none");
        }
        if (seen[r]) return fail_at(c, w, "attribute '%s' is given twice", row->name);
        seen[r] = 1;
        if (expect(c, '=', "after the attribute's name") < 0) return -1;
        char *field = (char *)a + row->offset;
        const char *vat = (skip_ws(c), c->p);
        switch (row->kind) {
        case TGC_AK_BOOL: {
            int64_t v;
            if (parse_i64(c, &v, row->name) < 0) return -1;
            if (v != 0 && v != 1) return fail_at(c, vat, "%s must be 0 or 1", row->name);
            *(int *)field = (int)v;
            break;
        }
        case TGC_AK_I64:
            if (parse_i64(c, (int64_t *)field, row->name) < 0) return -1;
            break;
        case TGC_AK_I64V:
            if (expect(c, '[', "before the attribute's values") < 0) return -1;
            for (int i = 0; i < row->n; i++) {
                if (i && expect(c, ',', "between the attribute's values") < 0) return -1;
                if (parse_i64(c, (int64_t *)field + i, row->name) < 0) return -1;
            }
            if (peek(c) == ',') return fail_at(c, vat, "%s takes %d values", row->name, row->n);
            if (expect(c, ']', "after the attribute's values") < 0) return -1;
            break;
        case TGC_AK_F64:
            if (parse_f64(c, (double *)field, row->name) < 0) return -1;
            break;
        case TGC_AK_F64V:
            if (expect(c, '[', "before the attribute's values") < 0) return -1;
            for (int i = 0; i < row->n; i++) {
                if (i && expect(c, ',', "between the attribute's values") < 0) return -1;
                if (parse_f64(c, (double *)field + i, row->name) < 0) return -1;
            }
            if (peek(c) == ',') return fail_at(c, vat, "%s takes %d values", row->name, row->n);
            if (expect(c, ']', "after the attribute's values") < 0) return -1;
            break;
        case TGC_AK_SHAPE:
            if (parse_shape(c, (tgc_shape *)field, "the shape attribute") < 0) return -1;
            break;
        case TGC_AK_DTYPE:
            if (parse_dtype(c, (tgc_dtype *)field) < 0) return -1;
            break;
        }
        if (accept(c, '}')) return 0;
        if (expect(c, ',', "or '}' after an attribute") < 0) return -1;
    }
}

/* [%N : TYPE {, %N : TYPE} =] OP [%N {, %N}] [{...}] [group=N] [# comment]; the first result, if any, is
 * already read (first_id >= 0). */
static int parse_op(cur *c, pgraph *pg, int64_t first_id, const char *first_at) {
    TGC_GROW(pg->ops, pg->cap_ops, pg->n_ops + 1);
    int oi = pg->n_ops++;
    pop *po = &pg->ops[oi];
    memset(po, 0, sizeof *po);
    po->op.group = -1;
    po->op.code = TGC_OP_COUNT;
    const char *result_at[TGC_MAX_OUT + 1];
    int n_out = 0;
    if (first_id >= 0) {
        int64_t id = first_id;
        const char *at = first_at;
        for (;;) {
            if (n_out == TGC_MAX_OUT) return fail_at(c, at, "an op has at most %d results", TGC_MAX_OUT);
            if (expect(c, ':', "after the result") < 0) return -1;
            po->out[n_out] = id;
            po->out_at[n_out] = pos_of(c, at);
            result_at[n_out] = at;
            if (parse_type(c, &po->out_t[n_out], &po->out_slab[n_out], &po->out_off[n_out]) < 0) return -1;
            add_def(pg, id, oi, n_out, -1, pos_of(c, at));
            n_out++;
            if (!accept(c, ',')) break;
            if (parse_ref(c, &id, &at) < 0) return -1;
        }
        if (expect(c, '=', "after the results") < 0) return -1;
    }
    const char *w;
    size_t n = word(c, &w);
    if (!n) {
        char b[64];
        return fail_at(c, w, "expected an op name, found %s", found(c, b, sizeof b));
    }
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)TGC_MIN(n, sizeof name - 1), w);
    int code = n < sizeof name ? tgc_op_by_name(name) : -1;
    if (code < 0) return fail_at(c, w, "unknown op '%.*s'", (int)n, w);
    const tgc_op_info *row = &tgc_op_table[code];
    po->op.code = (tgc_opcode)code;
    po->at = pos_of(c, w);
    if (n_out != row->n_out)
        return fail_at(c, n_out ? result_at[0] : w, "%s has %d result%s, the line gives %d", row->name, row->n_out,
                       row->n_out == 1 ? "" : "s", n_out);
    po->op.n_out = n_out;
    if (peek(c) == '%') {
        for (;;) {
            int64_t id;
            const char *at;
            if (parse_ref(c, &id, &at) < 0) return -1;
            if (po->op.n_in == row->n_in)
                return fail_at(c, at, "%s takes %d operand%s", row->name, row->n_in, row->n_in == 1 ? "" : "s");
            po->in[po->op.n_in] = id;
            po->in_at[po->op.n_in++] = pos_of(c, at);
            if (!accept(c, ',')) break;
        }
    }
    if (po->op.n_in != row->n_in)
        return fail_at(c, c->p, "%s takes %d operand%s, the line gives %d", row->name, row->n_in,
                       row->n_in == 1 ? "" : "s", po->op.n_in);
    po->op.attrs = tgc_attrs_default();
    if (accept(c, '{') && parse_attrs(c, &po->op.attrs, row->attrs, row->name) < 0) return -1;
    const char *gat = (skip_ws(c), c->p);
    if (accept_word(c, "group")) {
        int64_t gr;
        if (expect(c, '=', "after group") < 0 || parse_i64(c, &gr, "a group id") < 0) return -1;
        if (gr < 0 || gr > INT32_MAX) return fail_at(c, gat, "group %lld is out of range", (long long)gr);
        po->op.group = (int)gr;
    }
    const char *cat = (skip_ws(c), c->p);
    if (accept(c, '#')) {
        char *text = rest_of_line(c);
        char *grads = NULL;
        if (!strncmp(text, "grad of ", 8)) {
            grads = text;
            text = NULL;
        } else {
            char *semi = strstr(text, "; grad of ");
            if (semi) {
                grads = tgc_strdup(semi + 2);
                *semi = 0;
            }
        }
        if (text && !text[0]) free(text), text = NULL;
        po->op.scope = text;
        po->grads = grads;
        po->grads_at = pos_of(c, cat);
    }
    return expect_end(c);
}

/* allreduce_bucket N @grad+OFFSET bytes=N (%N {, %N}) */
static int parse_bucket(cur *c, pgraph *pg, const char *kw) {
    if (!pg->n_ops) return fail_at(c, kw, "a bucket follows the op that completes it, and no op came before");
    TGC_GROW(pg->buckets, pg->cap_buckets, pg->n_buckets + 1);
    pbucket *b = &pg->buckets[pg->n_buckets++];
    memset(b, 0, sizeof *b);
    b->ready_op = pg->n_ops - 1;
    b->at = pos_of(c, kw);
    uint64_t idx;
    if (parse_u64(c, &idx, "the bucket's number") < 0) return -1;
    if (idx > MAX_VALUE_NUMBER) return fail_at(c, kw, "bucket number %llu is too large", (unsigned long long)idx);
    b->index = (int64_t)idx;
    if (expect(c, '@', "before the bucket's place") < 0) return -1;
    if (!accept_word(c, "grad")) return fail_at(c, c->p, "expected 'grad': buckets lie in the grad slab");
    if (expect(c, '+', "after @grad") < 0 || parse_u64(c, &b->offset, "an offset") < 0) return -1;
    if (!accept_word(c, "bytes")) return fail_at(c, c->p, "expected bytes=N");
    if (expect(c, '=', "after bytes") < 0 || parse_u64(c, &b->bytes, "the bucket's size") < 0) return -1;
    if (expect(c, '(', "before the bucket's gradients") < 0) return -1;
    int cap = 0, cap_at = 0;
    if (!accept(c, ')')) {
        for (;;) {
            int64_t id;
            const char *at;
            if (parse_ref(c, &id, &at) < 0) return -1;
            TGC_GROW(b->vals, cap, b->n + 1);
            TGC_GROW(b->vals_at, cap_at, b->n + 1);
            b->vals[b->n] = id;
            b->vals_at[b->n++] = pos_of(c, at);
            if (accept(c, ')')) break;
            if (expect(c, ',', "or ')' in the bucket's gradients") < 0) return -1;
        }
    }
    return expect_end(c);
}

static int parse_line(cur *c, pgraph *pg) {
    int ch = peek(c);
    if (ch == '%') {
        int64_t id;
        const char *at;
        if (parse_ref(c, &id, &at) < 0) return -1;
        if (accept(c, '=')) {
            if (parse_decl(c, pg, id, pos_of(c, at)) < 0) return -1;
            return expect_end(c);
        }
        if (peek(c) == ':' || peek(c) == ',') return parse_op(c, pg, id, at);
        char b[64];
        return fail_at(c, c->p, "expected '=' (a declaration) or ':' (an op's result), found %s",
                       found(c, b, sizeof b));
    }
    const char *save = c->p, *w;
    size_t n = word(c, &w);
    if (word_is(w, n, "output")) {
        int64_t id;
        const char *at;
        if (parse_ref(c, &id, &at) < 0) return -1;
        TGC_GROW(pg->outputs, pg->cap_outputs, pg->n_outputs + 1);
        TGC_GROW(pg->outputs_at, pg->cap_outputs_at, pg->n_outputs + 1);
        TGC_GROW(pg->output_names, pg->cap_output_names, pg->n_outputs + 1);
        pg->outputs_at[pg->n_outputs] = pos_of(c, at);
        pg->output_names[pg->n_outputs] = NULL;
        pg->outputs[pg->n_outputs++] = id;
        skip_ws(c);
        if (accept(c, '"')) { /* a named output: output %N "loss_cls" */
            const char *name = c->p, *q = memchr(c->p, '"', (size_t)(c->eol - c->p));
            if (!q) return fail_at(c, name - 1, "the output's name has no closing '\"'");
            if (q == name) return fail_at(c, name - 1, "the output's name is empty");
            c->p = q + 1;
            pg->output_names[pg->n_outputs - 1] = tgc_asprintf("%.*s", (int)(q - name), name);
        }
        return expect_end(c);
    }
    if (word_is(w, n, "allreduce_bucket")) return parse_bucket(c, pg, w);
    c->p = save;
    return parse_op(c, pg, -1, NULL);
}

/* ---- numbering and building ---------------------------------------------------------------------- */
static int cmp_def(const void *a, const void *b) {
    const pdef *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    if (x->at.line != y->at.line) return x->at.line < y->at.line ? -1 : 1;
    return x->at.col < y->at.col ? -1 : x->at.col > y->at.col;
}

/* The new number of value `id`, or -1 (defs sorted, unique). */
static int lookup(const pgraph *pg, int64_t id) {
    int lo = 0, hi = pg->n_defs - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (pg->defs[mid].id == id) return mid;
        if (pg->defs[mid].id < id) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

typedef struct ctx {
    const char *file;
    tgc_err *err;
} ctx;

static int fail_pos(const ctx *x, pos at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_pos(const ctx *x, pos at, const char *fmt, ...) {
    char msg[TGC_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tgc_fail(x->err, "%s:%d:%d: %s", x->file, at.line, at.col, msg);
}

static int resolve(const ctx *x, const pgraph *pg, int64_t id, pos at, int *out) {
    *out = lookup(pg, id);
    if (*out < 0) return fail_pos(x, at, "value %%%lld is not defined in graph @%s", (long long)id, pg->name);
    return 0;
}

static void type_str(const tgc_type *t, char *buf, size_t n) {
    char s[160];
    tgc_shape_str(&t->shape, s, sizeof s);
    snprintf(buf, n, "%s%s", tgc_dtype_name(t->dtype), s);
}

typedef struct named {
    const char *name;
    int v;
} named;

/* By name, then value number: the first of equal names is the lowest number (tgc_graph_find's). */
static int cmp_named(const void *a, const void *b) {
    const named *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->v > y->v) - (x->v < y->v);
}

static int cmp_name_only(const void *a, const void *b) {
    return strcmp(((const named *)a)->name, ((const named *)b)->name);
}

/* Matches the comment's "grad of A, grad of B" to the op's results: each name to the next result that
 * has its parameter's type (the printer lists them in result order). */
static int assign_grads(const ctx *x, tgc_graph *g, const pop *po, const tgc_op *op, const named *idx, int n_idx) {
    const char *s = po->grads;
    int k = 0;
    while (*s) {
        if (strncmp(s, "grad of ", 8))
            return fail_pos(x, po->grads_at, "expected 'grad of NAME' in the comment, found '%s'", s);
        s += 8;
        const char *end = strstr(s, ", grad of ");
        size_t len = end ? (size_t)(end - s) : strlen(s);
        char *name = tgc_asprintf("%.*s", (int)len, s);
        named key = {name, -1};
        const named *hit = n_idx ? bsearch(&key, idx, (size_t)n_idx, sizeof *idx, cmp_name_only) : NULL;
        while (hit && hit > idx && !strcmp(hit[-1].name, name)) hit--;
        if (!hit) {
            fail_pos(x, po->grads_at, "grad of '%s': graph @%s has no value of that name", name, g->name);
            free(name);
            return -1;
        }
        const tgc_type *pt = &g->vals[hit->v].type;
        while (k < op->n_out) {
            const tgc_type *rt = &g->vals[op->out[k]].type;
            if (rt->dtype == pt->dtype && tgc_shape_eq(&rt->shape, &pt->shape)) break;
            k++;
        }
        if (k == op->n_out) {
            fail_pos(x, po->grads_at, "grad of '%s': no result of %s left with that value's type", name,
                     tgc_op_table[op->code].name);
            free(name);
            return -1;
        }
        free(name);
        g->vals[op->out[k++]].grad_of = hit->v;
        s += len;
        if (*s) s += 2; /* ", " */
    }
    return 0;
}

static tgc_graph *build(const ctx *x, pgraph *pg) {
    if (pg->n_defs > 1) qsort(pg->defs, (size_t)pg->n_defs, sizeof *pg->defs, cmp_def);
    for (int i = 1; i < pg->n_defs; i++)
        if (pg->defs[i].id == pg->defs[i - 1].id) {
            fail_pos(x, pg->defs[i].at, "value %%%lld is defined twice (first at line %d)",
                     (long long)pg->defs[i].id, pg->defs[i - 1].at.line);
            return NULL;
        }
    tgc_graph *g = tgc_graph_new(pg->name);
    int nv = pg->n_defs;
    g->vals = tgc_calloc((size_t)(nv ? nv : 1), sizeof *g->vals);
    g->n_vals = nv;
    g->cap_vals = nv ? nv : 1;
    for (int i = 0; i < nv; i++) {
        const pdef *d = &pg->defs[i];
        tgc_value *v = &g->vals[i];
        v->id = i;
        v->def_op = -1;
        v->grad_of = -1;
        v->lr_mult = v->decay_mult = 1.0;
        if (d->op < 0) {
            pdecl *dc = &pg->decls[d->decl];
            v->kind = dc->kind;
            v->type = dc->type;
            v->name = dc->name, dc->name = NULL;
            v->init = dc->init, dc->init.desc = NULL;
            v->lr_mult = dc->lr_mult;
            v->decay_mult = dc->decay_mult;
            v->frozen = dc->frozen;
            v->slab = dc->slab;
            v->offset = dc->offset;
        } else {
            const pop *po = &pg->ops[d->op];
            v->kind = TGC_VAL_TEMP;
            v->type = po->out_t[d->k];
            v->def_op = d->op;
            v->def_result = d->k;
            v->slab = po->out_slab[d->k];
            v->offset = po->out_off[d->k];
        }
    }
    g->ops = tgc_calloc((size_t)(pg->n_ops ? pg->n_ops : 1), sizeof *g->ops);
    g->cap_ops = pg->n_ops ? pg->n_ops : 1;
    for (int i = 0; i < pg->n_ops; i++) {
        pop *po = &pg->ops[i];
        tgc_op *op = &g->ops[g->n_ops++];
        *op = po->op;
        po->op.scope = NULL;
        for (int j = 0; j < op->n_in; j++)
            if (resolve(x, pg, po->in[j], po->in_at[j], &op->in[j]) < 0) goto fail;
        for (int k = 0; k < op->n_out; k++) op->out[k] = lookup(pg, po->out[k]);
    }
    for (int i = 0; i < pg->n_outputs; i++) {
        int v;
        if (resolve(x, pg, pg->outputs[i], pg->outputs_at[i], &v) < 0) goto fail;
        if (!pg->output_names[i]) {
            if (!g->vals[v].is_output) g->vals[v].is_output = 1;
        } else if (tgc_graph_named_output(g, v, pg->output_names[i], x->err) < 0) {
            fail_pos(x, pg->outputs_at[i], "%s", x->err->msg);
            goto fail;
        }
    }
    if (pg->n_buckets) {
        g->buckets = tgc_calloc((size_t)pg->n_buckets, sizeof *g->buckets);
        g->n_buckets = pg->n_buckets;
        for (int i = 0; i < pg->n_buckets; i++) g->buckets[i].ready_op = -1;
        for (int i = 0; i < pg->n_buckets; i++) {
            pbucket *pb = &pg->buckets[i];
            if (pb->index >= pg->n_buckets) {
                fail_pos(x, pb->at, "bucket %lld: the graph's %d buckets are numbered 0 to %d",
                         (long long)pb->index, pg->n_buckets, pg->n_buckets - 1);
                goto fail;
            }
            tgc_bucket *bk = &g->buckets[pb->index];
            if (bk->vals) {
                fail_pos(x, pb->at, "bucket %lld is given twice", (long long)pb->index);
                goto fail;
            }
            bk->vals = tgc_malloc(sizeof(int) * (size_t)(pb->n ? pb->n : 1));
            bk->n_vals = pb->n;
            bk->offset = pb->offset;
            bk->bytes = pb->bytes;
            bk->ready_op = pb->ready_op;
            for (int k = 0; k < pb->n; k++)
                if (resolve(x, pg, pb->vals[k], pb->vals_at[k], &bk->vals[k]) < 0) goto fail;
        }
    }
    /* gradients, by the names of the values they are the gradients of */
    named *idx = tgc_malloc(sizeof *idx * (size_t)(nv ? nv : 1));
    int n_idx = 0;
    for (int v = 0; v < nv; v++)
        if (g->vals[v].kind != TGC_VAL_TEMP && g->vals[v].name) idx[n_idx++] = (named){g->vals[v].name, v};
    qsort(idx, (size_t)n_idx, sizeof *idx, cmp_named);
    for (int i = 0; i < pg->n_ops; i++)
        if (pg->ops[i].grads && assign_grads(x, g, &pg->ops[i], &g->ops[i], idx, n_idx) < 0) {
            free(idx);
            goto fail;
        }
    free(idx);
    /* The arena's size is not in the text: it is where its last value ends, rounded up to memplan's 64
     * bytes (the lower bound and the naive sum are memplan's measurements, left 0). Offsets beyond 2^62
     * are left for verify-plan to refuse. */
    for (int v = 0; v < nv; v++) {
        const tgc_value *val = &g->vals[v];
        uint64_t bytes = (uint64_t)tgc_shape_numel(&val->type.shape) * tgc_dtype_size(val->type.dtype);
        if (val->slab == TGC_SLAB_ARENA && val->offset < ((uint64_t)1 << 62) &&
            (val->offset + bytes + 63) / 64 * 64 > g->mem.arena_bytes)
            g->mem.arena_bytes = (val->offset + bytes + 63) / 64 * 64;
    }
    /* every op's results as its shape rule gives them */
    for (int i = 0; i < g->n_ops; i++) {
        const tgc_op *op = &g->ops[i];
        const tgc_op_info *row = &tgc_op_table[op->code];
        tgc_type t[TGC_MAX_OUT];
        tgc_err e;
        memset(t, 0, sizeof t);
        if (row->infer(g, op, t, &e) < 0) {
            fail_pos(x, pg->ops[i].at, "%s: %s", row->name, e.msg);
            goto fail;
        }
        for (int k = 0; k < op->n_out; k++) {
            const tgc_type *have = &g->vals[op->out[k]].type;
            if (have->dtype != t[k].dtype || !tgc_shape_eq(&have->shape, &t[k].shape)) {
                char a[200], b[200];
                type_str(have, a, sizeof a);
                type_str(&t[k], b, sizeof b);
                fail_pos(x, pg->ops[i].out_at[k], "%s: result %d is declared %s, but the op gives %s", row->name,
                         k, a, b);
                goto fail;
            }
        }
    }
    return g;
fail:
    tgc_graph_free(g);
    return NULL;
}

/* ---- the file ------------------------------------------------------------------------------------ */
int tgc_ir_parse(const char *text, size_t len, const char *file, const char *const *names, int n_names,
                 tgc_graph **out, tgc_err *err) {
    if (!file) file = "<input>";
    for (int i = 0; i < n_names; i++) out[i] = NULL;
    char *buf = tgc_malloc(len + 1); /* NUL-terminated, for strtod */
    if (len) memcpy(buf, text, len);
    buf[len] = 0;
    const char *end = buf + len;
    ctx x = {file, err};
    cur c = {file, err, 0, buf, buf, buf};
    pgraph pg;
    memset(&pg, 0, sizeof pg);
    int in_graph = 0, slot = -1, rc = -1;
    for (const char *p = buf; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        c.line++;
        c.bol = c.p = p;
        c.eol = eol;
        while (c.eol > c.bol && (c.eol[-1] == ' ' || c.eol[-1] == '\t' || c.eol[-1] == '\r')) c.eol--;
        p = nl ? nl + 1 : end;
        int ch = peek(&c);
        if (ch < 0 || (ch == '/' && c.p + 1 < c.eol && c.p[1] == '/')) continue; /* blank, // comment */
        if (!in_graph) {
            const char *w;
            size_t n = word(&c, &w);
            if (!word_is(w, n, "graph")) {
                char b[64];
                c.p = w;
                fail_at(&c, w, "expected 'graph @NAME {' or a // comment, found %s", found(&c, b, sizeof b));
                goto done;
            }
            if (expect(&c, '@', "before the graph's name") < 0) goto done;
            n = word(&c, &w);
            slot = -1;
            for (int i = 0; i < n_names; i++)
                if (word_is(w, n, names[i])) slot = i;
            if (slot < 0) {
                char allowed[256] = "";
                size_t al = 0;
                for (int i = 0; i < n_names && al < sizeof allowed; i++)
                    al += (size_t)snprintf(allowed + al, sizeof allowed - al, "%s@%s", i ? " or " : "", names[i]);
                fail_at(&c, w, "unexpected graph @%.*s (expected %s)", (int)n, w, allowed);
                goto done;
            }
            if (out[slot]) {
                fail_at(&c, w, "a second graph @%s", names[slot]);
                goto done;
            }
            pg.name = tgc_strdup(names[slot]);
            pg.at = pos_of(&c, w);
            if (expect(&c, '{', "after the graph's name") < 0 || expect_end(&c) < 0) goto done;
            in_graph = 1;
            continue;
        }
        if (ch == '}') {
            c.p++;
            if (expect_end(&c) < 0) goto done;
            out[slot] = build(&x, &pg);
            pgraph_free(&pg);
            if (!out[slot]) goto done;
            in_graph = 0;
            continue;
        }
        if (parse_line(&c, &pg) < 0) goto done;
    }
    if (in_graph) {
        fail_pos(&x, pg.at, "graph @%s has no closing '}'", pg.name);
        goto done;
    }
    rc = 0;
done:
    pgraph_free(&pg);
    free(buf);
    if (rc < 0)
        for (int i = 0; i < n_names; i++) tgc_graph_free(out[i]), out[i] = NULL;
    return rc;
}
