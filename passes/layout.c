/* passes/layout.c - the physical layout of the activations: NHWC (channels_last) wherever the kernels take
 * it, with relayout ops at the borders. Runs after cse on every graph of the module when the module's
 * layout (`tgc compile --layout nhwc`) is NHWC; with ROW it changes nothing.
 *
 * The op table's layout rules (tgc_op_layout_io, ir/ops.c) say which rank-4 operands and results of an op
 * may be NHWC, and that those of one op share one layout. So the decision is one per class of values
 * linked through ops' masks (union-find):
 *   - An op takes part when it has layout rules and every rank-4 value in its masks is float (a cast to an
 *     integer type does not). Its masked rank-4 results are *free*: their layout is the class's.
 *   - Every other value at a masked operand is *pinned* row-major: an input, state, the result of a
 *     row-major-only op or of an unmasked result (conv2d_bwd_filter's dw). A participating op reads its
 *     NHWC copy instead: the copy, not the value, joins the op's class (one copy per value, shared by all
 *     its NHWC readers, made by one relayout right before the first of them).
 *   - A class is NHWC when it holds a free value and an op that is not elementwise (conv, batch norm,
 *     pooling, ...): maximal NHWC, except for classes of elementwise ops alone (the casts of rank-4 weights
 *     under mixed precision), for which NHWC would buy nothing and cost two relayouts.
 *   - An NHWC value read by a row-major-only op or an unmasked operand, or that is an output or a
 *     parameter's gradient, gets one relayout back right after its producer; those readers read it, and
 *     the output or gradient moves to it (the verifier wants inputs, state and outputs row-major).
 * Relayouts already in the graph (the pass run again on its own result) are dropped first and the layouts
 * decided afresh, so the pass is idempotent. Shapes stay logical (NCHW) throughout: only `layout` changes.
 */
#include <stdlib.h>

#include "passes/op_order.h"
#include "passes/passes.h"

static int uf_find(int *p, int x) {
    while (p[x] != x) {
        p[x] = p[p[x]];
        x = p[x];
    }
    return x;
}

static void uf_union(int *p, int a, int b) {
    a = uf_find(p, a);
    b = uf_find(p, b);
    if (a != b) p[a] = b;
}

/* Bit `pos` of the op's input (is_out 0) or output mask, and the value there rank 4. */
static int masked4(const tgc_graph *g, const tgc_op *op, unsigned in_mask, unsigned out_mask, int is_out, int pos) {
    int v = is_out ? op->out[pos] : op->in[pos];
    return (((is_out ? out_mask : in_mask) >> pos) & 1) && g->vals[v].type.shape.rank == 4;
}

/* The op takes part in the decision (see above); its masks in *im, *om. */
static int participates(const tgc_graph *g, const tgc_op *op, unsigned *im, unsigned *om) {
    if (tgc_op_is_dead(op) || op->code == TGC_OP_RELAYOUT || !tgc_op_layout_io(op->code, im, om)) return 0;
    int any = 0;
    for (int s = 0; s < op->n_in + op->n_out; s++) {
        int is_out = s >= op->n_in, pos = is_out ? s - op->n_in : s;
        if (!masked4(g, op, *im, *om, is_out, pos)) continue;
        if (!tgc_dtype_is_float(g->vals[is_out ? op->out[pos] : op->in[pos]].type.dtype)) return 0;
        any = 1;
    }
    return any;
}

/* Moves the output mark (with a named output's name) and the gradient link of value `from` to `to`, and
 * the module's loss/logits with them. */
static void move_roles(tgc_module *m, tgc_graph *g, int from, int to) {
    tgc_value *a = &g->vals[from], *b = &g->vals[to];
    if (a->is_output) {
        b->is_output = a->is_output;
        a->is_output = 0;
        if (b->is_output >= TGC_OUTPUT_NAMED && !b->name) {
            b->name = a->name;
            a->name = NULL;
        }
        if (g == m->train && m->train_loss == from) m->train_loss = to;
        if (g == m->eval && m->eval_logits == from) m->eval_logits = to;
    }
    if (a->grad_of >= 0 && b->grad_of < 0) {
        b->grad_of = a->grad_of;
        a->grad_of = -1;
    }
}

/* Drops the relayouts of an earlier run (each reader reads the relayout's operand) and makes every value
 * row-major again. */
static int reset(tgc_module *m, tgc_graph *g, tgc_err *err) {
    int nv = g->n_vals, dropped = 0;
    int *rep = tgc_malloc(sizeof(int) * ((size_t)nv + 1));
    for (int v = 0; v < nv; v++) rep[v] = v;
    for (int i = 0; i < g->n_ops; i++) {
        tgc_op *op = &g->ops[i];
        if (tgc_op_is_dead(op)) continue;
        for (int j = 0; j < op->n_in; j++)
            if (op->in[j] >= 0 && op->in[j] < nv) op->in[j] = rep[op->in[j]];
        if (op->code != TGC_OP_RELAYOUT) continue;
        int x = op->in[0], y = op->out[0];
        const tgc_value *xv = &g->vals[x], *yv = &g->vals[y];
        if ((yv->is_output || yv->grad_of >= 0) && (xv->kind != TGC_VAL_TEMP || xv->is_output || xv->grad_of >= 0)) {
            free(rep);
            return tgc_fail(err, "graph @%s: op #%d relayout at '%s': its result %%%d is an output or a gradient and "
                            "its operand %%%d cannot take that role over", g->name, i, op->scope ? op->scope : "",
                            y, x);
        }
        move_roles(m, g, y, x);
        rep[y] = x;
        tgc_op_kill(op);
        dropped++;
    }
    free(rep);
    for (int v = 0; v < g->n_vals; v++) g->vals[v].type.layout = TGC_LAYOUT_ROW;
    if (dropped) tgc_module_compact(m, g);
    return 0;
}

typedef struct lay {
    tgc_module *m;
    tgc_graph *g;
    int nv;         /* values before the pass adds any                                  */
    int *uf;        /* union-find over 2 nv nodes: value v, and nv + v the NHWC copy of v */
    unsigned char *is_free;
    int *to_nhwc, *to_row; /* value -> its relayout (NHWC copy / row-major copy), or -1   */
    int64_t *key;   /* op order keys (op_order.h), for the original ops and the new ones  */
    int cap_key;
} lay;

static void set_key(lay *c, int op, int64_t k) {
    if (op >= c->cap_key) {
        int cap = c->cap_key * 2;
        while (cap <= op) cap *= 2;
        c->key = tgc_realloc(c->key, sizeof(int64_t) * (size_t)cap);
        c->cap_key = cap;
    }
    c->key[op] = k;
}

/* A relayout of value v placed at key k with the scope of op `scope_op`; returns its result. */
static int emit_relayout(lay *c, int v, int scope_op, int64_t k, tgc_err *err) {
    char *scope = tgc_strdup(c->g->ops[scope_op].scope); /* the emit may move the ops array */
    int r = tgc_emit1(c->g, TGC_OP_RELAYOUT, NULL, scope, err, 1, v);
    free(scope);
    if (r < 0) return tgc_err_prefix(err, "graph @%s: relayout of %%%d", c->g->name, v);
    set_key(c, c->g->vals[r].def_op, k);
    return r;
}

static int layout_graph(tgc_module *m, tgc_graph *g, tgc_err *err) {
    if (reset(m, g, err) < 0) return -1;
    int nv = g->n_vals, n0 = g->n_ops, rc = 0;
    lay c = {m, g, nv, NULL, NULL, NULL, NULL, NULL, 0};
    c.uf = tgc_malloc(sizeof(int) * (2 * (size_t)nv + 1));
    c.is_free = tgc_calloc((size_t)nv + 1, 1);
    c.to_nhwc = tgc_malloc(sizeof(int) * ((size_t)nv + 1));
    c.to_row = tgc_malloc(sizeof(int) * ((size_t)nv + 1));
    c.cap_key = 2 * n0 + 16;
    c.key = tgc_malloc(sizeof(int64_t) * (size_t)c.cap_key);
    unsigned char *part = tgc_calloc((size_t)n0 + 1, 1);
    unsigned char *anchor = tgc_calloc(2 * (size_t)nv + 1, 1), *has_free = tgc_calloc(2 * (size_t)nv + 1, 1);
    unsigned *ims = tgc_calloc((size_t)n0 + 1, sizeof(unsigned)), *oms = tgc_calloc((size_t)n0 + 1, sizeof(unsigned));
    for (int i = 0; i < 2 * nv; i++) c.uf[i] = i;
    for (int v = 0; v < nv; v++) c.to_nhwc[v] = c.to_row[v] = -1;
    for (int i = 0; i < n0; i++) c.key[i] = 4 * (int64_t)i + 2;

    /* which ops take part, and their free results */
    for (int i = 0; i < n0; i++) {
        const tgc_op *op = &g->ops[i];
        if (!(part[i] = (unsigned char)participates(g, op, &ims[i], &oms[i]))) continue;
        for (int k = 0; k < op->n_out; k++)
            if (masked4(g, op, ims[i], oms[i], 1, k)) c.is_free[op->out[k]] = 1;
    }
    /* the classes: an op's masked rank-4 values (a pinned operand through its NHWC copy) in one */
    for (int i = 0; i < n0; i++) {
        if (!part[i]) continue;
        const tgc_op *op = &g->ops[i];
        int first = -1;
        for (int s = 0; s < op->n_in + op->n_out; s++) {
            int is_out = s >= op->n_in, pos = is_out ? s - op->n_in : s;
            if (!masked4(g, op, ims[i], oms[i], is_out, pos)) continue;
            int v = is_out ? op->out[pos] : op->in[pos], node = c.is_free[v] ? v : nv + v;
            if (first < 0) first = node;
            else uf_union(c.uf, first, node);
        }
    }
    for (int i = 0; i < n0; i++) {
        if (!part[i]) continue;
        const tgc_op *op = &g->ops[i];
        int r = -1;
        for (int s = 0; s < op->n_in + op->n_out && r < 0; s++) {
            int is_out = s >= op->n_in, pos = is_out ? s - op->n_in : s;
            if (!masked4(g, op, ims[i], oms[i], is_out, pos)) continue;
            int v = is_out ? op->out[pos] : op->in[pos];
            r = uf_find(c.uf, c.is_free[v] ? v : nv + v);
        }
        if (!(tgc_op_table[op->code].flags & TGC_OPF_ELEMENTWISE)) anchor[r] = 1;
    }
    for (int v = 0; v < nv; v++)
        if (c.is_free[v]) has_free[uf_find(c.uf, v)] = 1;
    for (int v = 0; v < nv; v++) {
        int r = c.is_free[v] ? uf_find(c.uf, v) : -1;
        g->vals[v].type.layout = r >= 0 && anchor[r] && has_free[r] ? TGC_LAYOUT_NHWC : TGC_LAYOUT_ROW;
    }

    /* an NHWC output or gradient: its row-major copy right after its producer takes the role over */
    for (int v = 0; v < nv && rc == 0; v++) {
        if (g->vals[v].type.layout != TGC_LAYOUT_NHWC || (!g->vals[v].is_output && g->vals[v].grad_of < 0)) continue;
        int d = g->vals[v].def_op;
        if ((c.to_row[v] = emit_relayout(&c, v, d, 4 * (int64_t)d + 3, err)) < 0) rc = -1;
        else move_roles(m, g, v, c.to_row[v]);
    }
    /* every reader: an NHWC slot reads NHWC (a pinned value through its copy), every other one row-major */
    for (int i = 0; i < n0 && rc == 0; i++) {
        if (tgc_op_is_dead(&g->ops[i])) continue;
        for (int j = 0; j < g->ops[i].n_in && rc == 0; j++) {
            int v = g->ops[i].in[j];
            int slot = part[i] && masked4(g, &g->ops[i], ims[i], oms[i], 0, j);
            int want_nhwc = slot && (c.is_free[v] ? g->vals[v].type.layout == TGC_LAYOUT_NHWC
                                                  : anchor[uf_find(c.uf, nv + v)] && has_free[uf_find(c.uf, nv + v)]);
            tgc_layout have = g->vals[v].type.layout;
            if (want_nhwc && have != TGC_LAYOUT_NHWC) {
                if (c.to_nhwc[v] < 0 && (c.to_nhwc[v] = emit_relayout(&c, v, i, 4 * (int64_t)i + 1, err)) < 0) rc = -1;
                else g->ops[i].in[j] = c.to_nhwc[v];
            } else if (!want_nhwc && have == TGC_LAYOUT_NHWC) {
                int d = g->vals[v].def_op;
                if (c.to_row[v] < 0 && (c.to_row[v] = emit_relayout(&c, v, d, 4 * (int64_t)d + 3, err)) < 0) rc = -1;
                else g->ops[i].in[j] = c.to_row[v];
            }
        }
    }
    if (rc == 0 && g->n_ops > n0) {
        int *order = tgc_malloc(sizeof(int) * (size_t)g->n_ops);
        tgc_ops_order_by_key(g, c.key, order);
        tgc_ops_reorder(g, order);
        free(order);
        tgc_module_compact(m, g);
    }
    free(c.uf);
    free(c.is_free);
    free(c.to_nhwc);
    free(c.to_row);
    free(c.key);
    free(part);
    free(anchor);
    free(has_free);
    free(ims);
    free(oms);
    return rc;
}

int tgc_pass_layout(tgc_module *m, tgc_err *err) {
    if (m->layout == TGC_LAYOUT_ROW) return 0;
    if (m->layout != TGC_LAYOUT_NHWC) return tgc_fail(err, "unknown module layout %d", (int)m->layout);
    const tgc_target *t = tgc_module_target(m);
    if (!t->nhwc_ok)
        return tgc_fail(err, "--layout nhwc: target %s has no NHWC kernels for every op of the layout rules "
                             "(compile with --layout row)", t->name);
    tgc_graph *gs[4] = {m->train, m->eval, m->ema, m->precise_bn};
    for (int i = 0; i < 4; i++)
        if (gs[i] && layout_graph(m, gs[i], err) < 0) return -1;
    return 0;
}
