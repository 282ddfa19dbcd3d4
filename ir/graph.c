/* ir/graph.c - graphs and values: creation, emitting ops (with shape inference), uses, compaction. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"

tgc_graph *tgc_graph_new(const char *name) {
    tgc_graph *g = tgc_calloc(1, sizeof *g);
    g->name = tgc_strdup(name ? name : "graph");
    return g;
}

static void value_release(tgc_value *v) {
    free(v->name);
    free(v->init.desc);
    v->name = NULL;
    v->init.desc = NULL;
}

void tgc_graph_free(tgc_graph *g) {
    if (!g) return;
    for (int i = 0; i < g->n_vals; i++) value_release(&g->vals[i]);
    for (int i = 0; i < g->n_ops; i++) free(g->ops[i].scope);
    for (int i = 0; i < g->n_buckets; i++) free(g->buckets[i].vals);
    free(g->vals);
    free(g->ops);
    free(g->buckets);
    free(g->name);
    free(g);
}

/* A fresh value with every field at its neutral setting. */
static int new_value(tgc_graph *g, tgc_val_kind kind, const char *name, tgc_dtype dt, tgc_shape shape) {
    TGC_GROW(g->vals, g->cap_vals, g->n_vals + 1);
    int id = g->n_vals++;
    tgc_value *v = &g->vals[id];
    memset(v, 0, sizeof *v);
    v->id = id;
    v->type.dtype = dt;
    v->type.shape = shape;
    v->kind = kind;
    v->name = tgc_strdup(name);
    v->def_op = -1;
    v->def_result = 0;
    v->grad_of = -1;
    v->lr_mult = v->decay_mult = 1.0;
    v->slab = TGC_SLAB_NONE;
    return id;
}

int tgc_graph_input(tgc_graph *g, const char *name, tgc_dtype dt, tgc_shape shape) {
    return new_value(g, TGC_VAL_INPUT, name, dt, shape);
}

int tgc_graph_state(tgc_graph *g, tgc_val_kind kind, const char *name, tgc_dtype dt, tgc_shape shape,
                    tgc_init init) {
    int id = new_value(g, kind, name, dt, shape);
    g->vals[id].init = init;
    return id;
}

int tgc_graph_find(const tgc_graph *g, const char *name) {
    if (!name) return -1;
    for (int i = 0; i < g->n_vals; i++)
        if (g->vals[i].name && strcmp(g->vals[i].name, name) == 0) return i;
    return -1;
}

int tgc_graph_named_output(tgc_graph *g, int v, const char *name, tgc_err *err) {
    if (v < 0 || v >= g->n_vals || g->vals[v].kind != TGC_VAL_TEMP || g->vals[v].is_output || g->vals[v].name)
        return tgc_fail(err, "graph @%s: %%%d cannot become the output '%s': it is not an unnamed temp that is no "
                             "output yet", g->name, v, name ? name : "");
    if (!name || !*name || tgc_graph_find(g, name) >= 0)
        return tgc_fail(err, "graph @%s: the output name '%s' is empty or already taken", g->name, name ? name : "");
    g->vals[v].is_output = TGC_OUTPUT_NAMED + tgc_graph_named_outputs(g, NULL, 0);
    g->vals[v].name = tgc_strdup(name);
    return 0;
}

int tgc_graph_named_outputs(const tgc_graph *g, int *out, int cap) {
    int n = 0;
    for (int v = 0; v < g->n_vals; v++) n += g->vals[v].is_output >= TGC_OUTPUT_NAMED;
    if (out) /* by their keys, which are dense from TGC_OUTPUT_NAMED (passes copy them unchanged) */
        for (int k = 0, m = 0; k < n && m < cap; k++)
            for (int v = 0; v < g->n_vals; v++)
                if (g->vals[v].is_output == TGC_OUTPUT_NAMED + k && m < cap) out[m++] = v;
    return n;
}

/* Copies attributes field by field (ir/attrs.def) into zeroed storage, so that struct padding and unused
 * shape dimensions are zero and two equal attribute sets are equal bytewise too. */
#define ATTR_COPY_BOOL(to, from, n) (to) = (from)
#define ATTR_COPY_I64(to, from, n) (to) = (from)
#define ATTR_COPY_I64V(to, from, n) memcpy((to), (from), sizeof(int64_t) * (n))
#define ATTR_COPY_F64(to, from, n) (to) = (from)
#define ATTR_COPY_F64V(to, from, n) memcpy((to), (from), sizeof(double) * (n))
/* an out-of-range rank is kept as is for shape inference to reject */
#define ATTR_COPY_SHAPE(to, from, n)                                                                    \
    do {                                                                                                \
        (to).rank = (from).rank;                                                                        \
        for (int i_ = 0; i_ < TGC_MAX_RANK; i_++)                                                       \
            (to).d[i_] = ((from).rank >= 0 && i_ < (from).rank) ? (from).d[i_] : 0;                     \
    } while (0)
#define ATTR_COPY_DTYPE(to, from, n) (to) = (from)

static void attrs_copy(tgc_attrs *dst, const tgc_attrs *src) {
    memset(dst, 0, sizeof *dst);
#define TGC_ATTR(name, kind, n, bit, def, fmt) ATTR_COPY_##kind(dst->name, src->name, n);
#include "ir/attrs.def"
#undef TGC_ATTR
}

static void type_str(const tgc_type *t, char *buf, size_t n) {
    char s[160];
    tgc_shape_str(&t->shape, s, sizeof s);
    snprintf(buf, n, "%s%s", tgc_dtype_name(t->dtype), s);
}

/* "conv2d at 'backbone.conv1' (operands f32[32,3,224,224], f32[64,3,7,7])" for error messages. */
static void op_context(const tgc_graph *g, const tgc_op *op, const char *scope, char *buf, size_t n) {
    size_t len = 0;
    int r = snprintf(buf, n, "%s at '%s' (operands", tgc_op_table[op->code].name, scope ? scope : "");
    if (r > 0) len = (size_t)r;
    for (int i = 0; i < op->n_in && len < n; i++) {
        char t[200] = "?";
        if (op->in[i] >= 0 && op->in[i] < g->n_vals) type_str(&g->vals[op->in[i]].type, t, sizeof t);
        r = snprintf(buf + len, n - len, "%s %s", i ? "," : "", t);
        if (r < 0) break;
        len += (size_t)r;
    }
    if (len < n) snprintf(buf + len, n - len, "%s)", op->n_in ? "" : " none");
}

/* Every dimension in [1, 2^40] and at most 2^52 elements: beyond any real tensor, and small enough
 * that shape arithmetic and byte counts never overflow int64. */
static int shape_sane(const tgc_shape *s) {
    if (s->rank < 0 || s->rank > TGC_MAX_RANK) return 0;
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++) {
        if (s->d[i] < 1 || s->d[i] > ((int64_t)1 << 40)) return 0;
        n *= s->d[i];
        if (n > ((int64_t)1 << 52)) return 0;
    }
    return 1;
}

int tgc_emit(tgc_graph *g, tgc_opcode code, const int *in, int n_in, const tgc_attrs *attrs,
             const char *scope, int *out, tgc_err *err) {
    if ((unsigned)code >= TGC_OP_COUNT) return tgc_fail(err, "emit: invalid opcode %d", (int)code);
    const tgc_op_info *row = &tgc_op_table[code];
    if (n_in != row->n_in || (n_in > 0 && !in))
        return tgc_fail(err, "%s at '%s': takes %d operands, got %d", row->name, scope ? scope : "",
                        row->n_in, n_in);
    for (int i = 0; i < n_in; i++)
        if (in[i] < 0 || in[i] >= g->n_vals)
            return tgc_fail(err, "%s at '%s': operand %d is value %%%d, which does not exist", row->name,
                            scope ? scope : "", i, in[i]);
    for (int i = 0; i < n_in; i++)
        if (!shape_sane(&g->vals[in[i]].type.shape) || (unsigned)g->vals[in[i]].type.dtype >= TGC_DTYPE_COUNT)
            return tgc_fail(err, "%s at '%s': operand %d (%%%d) has an invalid type or a non-positive or huge "
                            "dimension", row->name, scope ? scope : "", i, in[i]);

    tgc_op op;
    memset(&op, 0, sizeof op);
    op.code = code;
    op.n_in = n_in;
    for (int i = 0; i < n_in; i++) op.in[i] = in[i];
    op.n_out = row->n_out;
    tgc_attrs def = tgc_attrs_default();
    attrs_copy(&op.attrs, attrs ? attrs : &def);
    op.group = -1;

    tgc_type types[TGC_MAX_OUT];
    memset(types, 0, sizeof types);
    if (row->infer(g, &op, types, err) < 0) {
        char ctx[1024];
        op_context(g, &op, scope, ctx, sizeof ctx);
        return tgc_err_prefix(err, "%s", ctx);
    }
    for (int k = 0; k < op.n_out; k++)
        if (!shape_sane(&types[k].shape)) {
            char ctx[1024];
            op_context(g, &op, scope, ctx, sizeof ctx);
            return tgc_fail(err, "%s: result %d would be larger than any supported tensor", ctx, k);
        }

    TGC_GROW(g->ops, g->cap_ops, g->n_ops + 1);
    int idx = g->n_ops++;
    op.scope = tgc_strdup(scope);
    for (int k = 0; k < op.n_out; k++) {
        int v = new_value(g, TGC_VAL_TEMP, NULL, types[k].dtype, types[k].shape);
        /* a new result is row-major (the layout pass decides layouts), but relayout's, which is the other
         * layout than its operand's (several shape rules copy an operand's whole type: not its layout) */
        g->vals[v].type.layout = code == TGC_OP_RELAYOUT ? types[k].layout : TGC_LAYOUT_ROW;
        g->vals[v].def_op = idx;
        g->vals[v].def_result = k;
        op.out[k] = v;
        if (out) out[k] = v;
    }
    g->ops[idx] = op;
    return idx;
}

int tgc_emit1(tgc_graph *g, tgc_opcode code, const tgc_attrs *attrs, const char *scope, tgc_err *err,
              int n_in, ...) {
    int in[TGC_MAX_IN];
    if (n_in < 0 || n_in > TGC_MAX_IN) return tgc_fail(err, "emit: %d operands is out of range", n_in);
    va_list ap;
    va_start(ap, n_in);
    for (int i = 0; i < n_in; i++) in[i] = va_arg(ap, int);
    va_end(ap);
    if ((unsigned)code < TGC_OP_COUNT && tgc_op_table[code].n_out != 1)
        return tgc_fail(err, "emit1: %s has %d results, not 1", tgc_op_table[code].name,
                        tgc_op_table[code].n_out);
    int out[TGC_MAX_OUT];
    if (tgc_emit(g, code, in, n_in, attrs, scope, out, err) < 0) return -1;
    return out[0];
}

int tgc_value_uses(const tgc_graph *g, int v) {
    int n = 0;
    for (int i = 0; i < g->n_ops; i++) {
        const tgc_op *op = &g->ops[i];
        if (tgc_op_is_dead(op)) continue;
        for (int j = 0; j < op->n_in; j++) n += op->in[j] == v;
    }
    return n;
}

int tgc_op_has_side_effects(const tgc_op *op) {
    return !tgc_op_is_dead(op) && tgc_op_table[op->code].mutates != 0;
}

void tgc_graph_compact(tgc_graph *g) { tgc_graph_compact_remap(g, NULL); }

void tgc_graph_compact_remap(tgc_graph *g, int *remap) {
    int nv = g->n_vals, no = g->n_ops;
    int *opmap = tgc_malloc(sizeof(int) * (size_t)(no + 1));
    int *vmap = tgc_malloc(sizeof(int) * (size_t)(nv + 1));
    unsigned char *ref = tgc_calloc((size_t)nv + 1, 1);
    int n_live = 0;
    for (int i = 0; i < no; i++) {
        tgc_op *op = &g->ops[i];
        if (tgc_op_is_dead(op)) {
            opmap[i] = -1;
            continue;
        }
        opmap[i] = n_live++;
        for (int j = 0; j < op->n_in; j++)
            if (op->in[j] >= 0 && op->in[j] < nv) ref[op->in[j]] = 1;
        for (int k = 0; k < op->n_out; k++)
            if (op->out[k] >= 0 && op->out[k] < nv) ref[op->out[k]] = 1;
    }
    for (int v = 0; v < nv; v++)
        if (g->vals[v].kind != TGC_VAL_TEMP || g->vals[v].is_output) ref[v] = 1;

    /* New order: inputs and state as they were, then temps in definition order, then any referenced
     * temp whose defining op is gone (a broken graph the verifier will report; kept, not lost). */
    for (int v = 0; v < nv; v++) vmap[v] = -1;
    int n_new = 0;
    for (int v = 0; v < nv; v++)
        if (g->vals[v].kind != TGC_VAL_TEMP) vmap[v] = n_new++;
    for (int i = 0; i < no; i++) {
        if (opmap[i] < 0) continue;
        tgc_op *op = &g->ops[i];
        for (int k = 0; k < op->n_out; k++) {
            int v = op->out[k];
            if (v >= 0 && v < nv && vmap[v] < 0) vmap[v] = n_new++;
        }
    }
    for (int v = 0; v < nv; v++)
        if (ref[v] && vmap[v] < 0) vmap[v] = n_new++;

    tgc_value *nvals = tgc_calloc((size_t)n_new + 1, sizeof *nvals);
    for (int v = 0; v < nv; v++) {
        tgc_value *src = &g->vals[v];
        if (vmap[v] < 0) {
            value_release(src);
            continue;
        }
        tgc_value *d = &nvals[vmap[v]];
        *d = *src;
        d->id = vmap[v];
        d->def_op = (src->def_op >= 0 && src->def_op < no) ? opmap[src->def_op] : -1;
        d->grad_of = (src->grad_of >= 0 && src->grad_of < nv) ? vmap[src->grad_of] : -1;
    }
    free(g->vals);
    g->vals = nvals;
    g->n_vals = g->cap_vals = n_new;
    if (g->cap_vals == 0) g->cap_vals = 1; /* the calloc above holds one element */

    int w = 0;
    for (int i = 0; i < no; i++) {
        tgc_op *op = &g->ops[i];
        if (opmap[i] < 0) {
            free(op->scope);
            continue;
        }
        for (int j = 0; j < op->n_in; j++)
            op->in[j] = (op->in[j] >= 0 && op->in[j] < nv) ? vmap[op->in[j]] : -1;
        for (int k = 0; k < op->n_out; k++)
            op->out[k] = (op->out[k] >= 0 && op->out[k] < nv) ? vmap[op->out[k]] : -1;
        g->ops[w++] = *op;
    }
    g->n_ops = w;

    for (int b = 0; b < g->n_buckets; b++) {
        tgc_bucket *bk = &g->buckets[b];
        int n = 0;
        for (int i = 0; i < bk->n_vals; i++) {
            int v = bk->vals[i];
            if (v >= 0 && v < nv && vmap[v] >= 0) bk->vals[n++] = vmap[v];
        }
        bk->n_vals = n;
        /* a removed ready op hands the bucket to the last live op before it */
        int r = bk->ready_op < no ? bk->ready_op : no - 1;
        while (r >= 0 && opmap[r] < 0) r--;
        bk->ready_op = r >= 0 ? opmap[r] : -1;
    }

    if (remap)
        for (int v = 0; v < nv; v++) remap[v] = vmap[v];
    free(opmap);
    free(vmap);
    free(ref);
}

tgc_cost tgc_graph_cost(const tgc_graph *g) {
    tgc_cost total = {0, 0, 0};
    for (int i = 0; i < g->n_ops; i++) {
        const tgc_op *op = &g->ops[i];
        if (tgc_op_is_dead(op)) continue;
        tgc_cost c = {0, 0, 0};
        tgc_op_table[op->code].cost(g, op, &c);
        total.macs += c.macs;
        total.flops += c.flops;
        total.bytes += c.bytes;
    }
    return total;
}
