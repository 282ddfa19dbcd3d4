/* ir/print.c - the stable text form of a graph (what --dump-ir prints and FileCheck tests match). */
#include <string.h>

#include "ir/ir.h"

static void print_type(const tgc_value *v, FILE *f) {
    char s[160];
    tgc_shape_str(&v->type.shape, s, sizeof s);
    fprintf(f, "%s%s", tgc_dtype_name(v->type.dtype), s);
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

static void print_pair(FILE *f, const char *name, const int64_t *v, int n, int *first) {
    fprintf(f, "%s%s=[", *first ? "" : ", ", name);
    for (int i = 0; i < n; i++) fprintf(f, "%s%lld", i ? "," : "", (long long)v[i]);
    fputc(']', f);
    *first = 0;
}

#define SEP (first ? "" : ", ")

/* The attributes the row names, in the bit order of TGC_A_*. */
static void print_attrs(const tgc_op *op, FILE *f) {
    uint32_t bits = tgc_op_table[op->code].attrs;
    const tgc_attrs *a = &op->attrs;
    if (!bits) return;
    int first = 1;
    fputs(" {", f);
    if (bits & TGC_A_KERNEL) print_pair(f, "kernel", a->kernel, 2, &first);
    if (bits & TGC_A_STRIDE) print_pair(f, "stride", a->stride, 2, &first);
    if (bits & TGC_A_PAD) print_pair(f, "pad", a->pad, 4, &first);
    if (bits & TGC_A_DILATION) print_pair(f, "dilation", a->dilation, 2, &first);
    if (bits & TGC_A_GROUPS) fprintf(f, "%sgroups=%lld", SEP, (long long)a->groups), first = 0;
    if (bits & TGC_A_CEIL) fprintf(f, "%sceil_mode=%d", SEP, a->ceil_mode), first = 0;
    if (bits & TGC_A_COUNT_PAD) fprintf(f, "%scount_include_pad=%d", SEP, a->count_include_pad), first = 0;
    if (bits & TGC_A_AXIS) fprintf(f, "%saxis=%lld", SEP, (long long)a->axis), first = 0;
    if (bits & TGC_A_TRANS) fprintf(f, "%strans_a=%d, trans_b=%d", SEP, a->trans_a, a->trans_b), first = 0;
    if (bits & TGC_A_EPS) fprintf(f, "%seps=%g", SEP, a->eps), first = 0;
    if (bits & TGC_A_MOMENTUM) fprintf(f, "%smomentum=%g", SEP, a->momentum), first = 0;
    if (bits & TGC_A_ALPHA) fprintf(f, "%salpha=%g", SEP, a->alpha), first = 0;
    if (bits & TGC_A_SMOOTH) fprintf(f, "%slabel_smooth=%g", SEP, a->label_smooth), first = 0;
    if (bits & TGC_A_WD) fprintf(f, "%sweight_decay=%g", SEP, a->weight_decay), first = 0;
    if (bits & TGC_A_BETAS) fprintf(f, "%sbeta1=%g, beta2=%g", SEP, a->beta1, a->beta2), first = 0;
    if (bits & TGC_A_DAMPENING) fprintf(f, "%sdampening=%g", SEP, a->dampening), first = 0;
    if (bits & TGC_A_NESTEROV) fprintf(f, "%snesterov=%d", SEP, a->nesterov), first = 0;
    if (bits & TGC_A_SHAPE) {
        char s[160];
        tgc_shape_str(&a->shape, s, sizeof s);
        fprintf(f, "%sshape=%s", SEP, s), first = 0;
    }
    if (bits & TGC_A_DTYPE) fprintf(f, "%sdtype=%s", SEP, tgc_dtype_name(a->dtype)), first = 0;
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
        if (g->vals[i].is_output) fprintf(f, "  output %%%d\n", i);
    fputs("}\n", f);
}
