/* ir/print.c - the stable text form of a graph (what --dump-ir prints and FileCheck tests match). */
#include <string.h>

#include "ir/ir.h"

static void print_type(const tgc_value *v, FILE *f) {
    char s[160];
    tgc_shape_str(&v->type.shape, s, sizeof s);
    fprintf(f, "%s%s", tgc_dtype_name(v->type.dtype), s);
    if (v->type.layout != TGC_LAYOUT_ROW) fprintf(f, " %s", tgc_layout_name(v->type.layout)); /* "nhwc" */
    if (v->slab != TGC_SLAB_NONE)
        fprintf(f, " @%s+%llu", tgc_slab_name(v->slab), (unsigned long long)v->offset);
}

static void print_init(const tgc_init *in, FILE *f) {
    switch (in->kind) {
    case TGC_INIT_NONE: break;
    case TGC_INIT_CONST: fprintf(f, " init=const(%g)", in->a); break;
    case TGC_INIT_NORMAL: fprintf(f, " init=normal(%g, %g)", in->a, in->b); break;
    case TGC_INIT_UNIFORM: fprintf(f, " init=uniform(%g, %g)", in->a, in->b); break;
    case TGC_INIT_TRUNC_NORMAL:
        fprintf(f, " init=trunc_normal(%g, %g, %g, %g)", in->a, in->b, in->lo, in->hi);
        break;
    }
}

/* One attribute's value, by kind (ir/attrs.def); fmt is the row's format. */
#define ATTR_PRINT_BOOL(f, v, n, fmt) fprintf(f, fmt, (v))
#define ATTR_PRINT_I64(f, v, n, fmt) fprintf(f, fmt, (long long)(v))
#define ATTR_PRINT_I64V(f, v, n, fmt)                                                                   \
    do {                                                                                                \
        fputc('[', f);                                                                                  \
        for (int i_ = 0; i_ < (n); i_++) {                                                              \
            if (i_) fputc(',', f);                                                                      \
            fprintf(f, fmt, (long long)(v)[i_]);                                                        \
        }                                                                                               \
        fputc(']', f);                                                                                  \
    } while (0)
#define ATTR_PRINT_F64(f, v, n, fmt) fprintf(f, fmt, (v))
#define ATTR_PRINT_F64V(f, v, n, fmt)                                                                   \
    do {                                                                                                \
        fputc('[', f);                                                                                  \
        for (int i_ = 0; i_ < (n); i_++) {                                                              \
            if (i_) fputc(',', f);                                                                      \
            fprintf(f, fmt, (v)[i_]);                                                                   \
        }                                                                                               \
        fputc(']', f);                                                                                  \
    } while (0)
#define ATTR_PRINT_SHAPE(f, v, n, fmt)                                                                  \
    do {                                                                                                \
        char s_[160];                                                                                   \
        tgc_shape_str(&(v), s_, sizeof s_);                                                             \
        fprintf(f, fmt, s_);                                                                            \
    } while (0)
#define ATTR_PRINT_DTYPE(f, v, n, fmt) fprintf(f, fmt, tgc_dtype_name(v))

/* The attributes the row names, in the row order of ir/attrs.def: " {stride=[2,2], pad=[3,3,3,3]}". */
static void print_attrs(const tgc_op *op, FILE *f) {
    uint32_t bits = tgc_op_table[op->code].attrs;
    const tgc_attrs *a = &op->attrs;
    if (!bits) return;
    int first = 1;
    fputs(" {", f);
#define TGC_ATTR(name, kind, n, bit, def, fmt)                                                          \
    if (bits & (bit)) {                                                                                 \
        fputs(first ? #name "=" : ", " #name "=", f);                                                   \
        ATTR_PRINT_##kind(f, a->name, n, fmt);                                                          \
        first = 0;                                                                                      \
    }
#include "ir/attrs.def"
#undef TGC_ATTR
    fputc('}', f);
}

static const char *vname(const tgc_graph *g, int v) {
    return (v >= 0 && v < g->n_vals && g->vals[v].name) ? g->vals[v].name : "?";
}

static void print_op(const tgc_graph *g, const tgc_op *op, FILE *f) {
    fputs("  ", f);
    for (int k = 0; k < op->n_out; k++) {
        int v = op->out[k];
        fprintf(f, "%s%%%d : ", k ? ", " : "", v);
        if (v >= 0 && v < g->n_vals) print_type(&g->vals[v], f);
        else fputs("?", f);
    }
    fprintf(f, "%s%s", op->n_out ? " = " : "", tgc_op_table[op->code].name);
    for (int j = 0; j < op->n_in; j++) fprintf(f, "%s%%%d", j ? ", " : " ", op->in[j]);
    print_attrs(op, f);
    /* fusion group membership (passes fuse-elementwise, fuse-optimizer): ops run as one kernel */
    if (op->group >= 0) fprintf(f, " group=%d", op->group);

    /* one trailing comment: the scope, then which parameters' gradients this op produces */
    int commented = 0;
    if (op->scope && op->scope[0]) {
        fprintf(f, "  # %s", op->scope);
        commented = 1;
    }
    for (int k = 0; k < op->n_out; k++) {
        int v = op->out[k];
        if (v < 0 || v >= g->n_vals || g->vals[v].grad_of < 0) continue;
        fprintf(f, "%sgrad of %s", commented ? (commented == 1 ? "; " : ", ") : "  # ",
                vname(g, g->vals[v].grad_of));
        commented = 2;
    }
    fputc('\n', f);
}

void tgc_graph_print(const tgc_graph *g, FILE *f) {
    fprintf(f, "graph @%s {\n", g->name ? g->name : "?");
    for (int i = 0; i < g->n_vals; i++) {
        const tgc_value *v = &g->vals[i];
        if (v->kind == TGC_VAL_TEMP) continue;
        fprintf(f, "  %%%d = %s \"%s\" : ", i, tgc_val_kind_name(v->kind), v->name ? v->name : "");
        print_type(v, f);
        print_init(&v->init, f);
        if (v->lr_mult != 1.0) fprintf(f, " lr_mult=%g", v->lr_mult);
        if (v->decay_mult != 1.0) fprintf(f, " decay_mult=%g", v->decay_mult);
        if (v->frozen) fputs(" frozen=1", f);
        if (v->init.desc) fprintf(f, "  # %s", v->init.desc);
        fputc('\n', f);
    }
    for (int i = 0; i < g->n_ops; i++) {
        const tgc_op *op = &g->ops[i];
        if (tgc_op_is_dead(op)) continue; /* dead, awaiting compaction */
        print_op(g, op, f);
        /* A bucket's all-reduce is issued right after the op producing its last gradient. */
        for (int b = 0; b < g->n_buckets; b++) {
            const tgc_bucket *bk = &g->buckets[b];
            if (bk->ready_op != i) continue;
            fprintf(f, "  allreduce_bucket %d @grad+%llu bytes=%llu (", b, (unsigned long long)bk->offset,
                    (unsigned long long)bk->bytes);
            for (int k = 0; k < bk->n_vals; k++) fprintf(f, "%s%%%d", k ? ", " : "", bk->vals[k]);
            fputs(")\n", f);
        }
    }
    for (int i = 0; i < g->n_vals; i++)
        if (g->vals[i].is_output == 1) fprintf(f, "  output %%%d\n", i);
    for (int k = 0, n = tgc_graph_named_outputs(g, NULL, 0); k < n; k++) /* then the named ones, in their order */
        for (int i = 0; i < g->n_vals; i++)
            if (g->vals[i].is_output == TGC_OUTPUT_NAMED + k) fprintf(f, "  output %%%d \"%s\"\n", i, g->vals[i].name);
    fputs("}\n", f);
}
