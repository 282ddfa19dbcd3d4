/* passes/memplan.c - memory planning: a slab and an offset for every value, arena offsets by liveness.
 *
 * Every offset is a multiple of the target's alignment (passes/target.h: 64 bytes on CPU, 256 on CUDA).
 * Persistent state and step inputs are laid out one after another (value order, aligned) in their
 * slabs; parameter gradients sit in the GRAD slab where the buckets pass put them (or in production order
 * when it did not run); every other value (a TEMP) lives in the arena for its live interval
 * [defining op, last use] (program outputs: to the end). Arena offsets are chosen greedy by size, largest
 * first, best fit among the tensors whose intervals overlap (TFLite's GreedyBySize, XLA's
 * GlobalDecreasingSizeBestFitHeap), after merging in-place pairs (ggml-alloc): an elementwise op whose
 * first operand is an arena TEMP of the same size dying at that op writes its result over the operand.
 *
 * Fusion (passes/fuse_*.c): a group's arena buffers stay live over the whole group, because a backend
 * runs it chunk by chunk; when optimizer updates are grouped, parameters and optimizer state are laid out
 * in the updates' (gradient-slot) order instead of declaration order, so a group's tensors sit at the
 * same relative offsets in the param, grad and optstate slabs.
 *
 * Stats: naive = the sum of arena temp sizes; lower bound = the largest total size of buffers live at one op,
 * counting an in-place chain once (so it bounds every placement making the same in-place choices, and the
 * arena, rounded up to the alignment, is never below it).
 */
#include <stdlib.h>
#include <string.h>

#include "passes/op_order.h"
#include "passes/passes.h"

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

static uint64_t value_bytes(const tgc_value *v) {
    return (uint64_t)tgc_shape_numel(&v->type.shape) * tgc_dtype_size(v->type.dtype);
}

static const char *vname(const tgc_value *v, char *buf, size_t n) {
    if (v->name) return v->name;
    snprintf(buf, n, "%%%d", v->id);
    return buf;
}

/* One arena buffer: a TEMP, or a chain of in-place TEMPs sharing memory. */
typedef struct buffer {
    int start, end; /* op indices, inclusive */
    uint64_t size, offset;
    int placed;
} buffer;

/* Placement order: largest first; ties by earlier start, then creation order (deterministic). */
typedef struct order_key {
    uint64_t size;
    int start, idx;
} order_key;

static int cmp_order(const void *a, const void *b) {
    const order_key *x = a, *y = b;
    if (x->size != y->size) return x->size > y->size ? -1 : 1;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

typedef struct span {
    uint64_t off, end;
} span;

static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->off != y->off) return x->off < y->off ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Places the buffers at multiples of `align`; returns the arena size. */
static uint64_t place_buffers(buffer *bufs, int n, uint64_t align) {
    order_key *order = tgc_malloc(sizeof(order_key) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) order[i] = (order_key){bufs[i].size, bufs[i].start, i};
    qsort(order, (size_t)n, sizeof(order_key), cmp_order);
    span *sp = tgc_malloc(sizeof(span) * (size_t)(n ? n : 1));
    uint64_t arena = 0;
    for (int oi = 0; oi < n; oi++) {
        buffer *b = &bufs[order[oi].idx];
        if (b->size == 0) { /* nothing to hold: offset 0, never overlaps */
            b->offset = 0;
            b->placed = 1;
            continue;
        }
        int ns = 0;
        for (int j = 0; j < n; j++) {
            const buffer *o = &bufs[j];
            if (!o->placed || o->size == 0 || o->end < b->start || b->end < o->start) continue;
            sp[ns++] = (span){o->offset, o->offset + o->size};
        }
        qsort(sp, (size_t)ns, sizeof(span), cmp_span);
        /* Smallest gap between time-overlapping neighbours that fits; otherwise after the last one. */
        uint64_t cur = 0, best_off = 0, best_gap = UINT64_MAX;
        for (int k = 0; k < ns; k++) {
            if (sp[k].off >= cur && sp[k].off - cur >= b->size && sp[k].off - cur < best_gap) {
                best_gap = sp[k].off - cur;
                best_off = cur;
            }
            if (align_up(sp[k].end, align) > cur) cur = align_up(sp[k].end, align);
        }
        b->offset = best_gap != UINT64_MAX ? best_off : cur;
        b->placed = 1;
        if (b->offset + b->size > arena) arena = b->offset + b->size;
    }
    free(sp);
    free(order);
    return align_up(arena, align);
}

/* Lays the values of `kind` out sequentially in `slab` from offset 0. */
static void place_sequential(tgc_graph *g, tgc_val_kind kind, tgc_slab slab, uint64_t align) {
    uint64_t off = 0;
    for (int i = 0; i < g->n_vals; i++) {
        tgc_value *v = &g->vals[i];
        if (v->kind != kind) continue;
        v->slab = slab;
        v->offset = off;
        off = align_up(off + value_bytes(v), align);
    }
}

static int has_update_groups(const tgc_graph *g) {
    for (int k = 0; k < g->n_ops; k++)
        if (g->ops[k].group >= 0 && (tgc_op_table[g->ops[k].code].flags & TGC_OPF_OPTIMIZER)) return 1;
    return 0;
}

/* Multi-tensor updates (passes/fuse_optimizer.c): parameters, then each optimizer-state operand in turn,
 * laid out in the order of the update ops, which is the order of their gradients' slots; each slot is
 * rounded up to the alignment as in the GRAD slab, so the tensors of every group sit at equal offsets
 * from the group's first tensor in all three slabs. State no update reads follows in value order. */
static void place_in_update_order(tgc_graph *g, uint64_t align) {
    uint64_t off[TGC_SLAB_COUNT] = {0};
    for (int j = 0; j < TGC_MAX_IN; j++)
        for (int k = 0; k < g->n_ops; k++) {
            const tgc_op *op = &g->ops[k];
            if (!(tgc_op_table[op->code].flags & TGC_OPF_OPTIMIZER) || j >= op->n_in) continue;
            tgc_value *v = &g->vals[op->in[j]];
            if (v->slab != TGC_SLAB_NONE || (v->kind != TGC_VAL_PARAM && v->kind != TGC_VAL_OPTSTATE)) continue;
            v->slab = v->kind == TGC_VAL_PARAM ? TGC_SLAB_PARAM : TGC_SLAB_OPTSTATE;
            v->offset = off[v->slab];
            off[v->slab] = align_up(off[v->slab] + value_bytes(v), align);
        }
    for (int i = 0; i < g->n_vals; i++) {
        tgc_value *v = &g->vals[i];
        if (v->slab != TGC_SLAB_NONE || (v->kind != TGC_VAL_PARAM && v->kind != TGC_VAL_OPTSTATE)) continue;
        v->slab = v->kind == TGC_VAL_PARAM ? TGC_SLAB_PARAM : TGC_SLAB_OPTSTATE;
        v->offset = off[v->slab];
        off[v->slab] = align_up(off[v->slab] + value_bytes(v), align);
    }
}

/* A fusion group runs chunk by chunk (all its ops on one chunk, then the next), so every arena buffer
 * one of its ops reads or writes stays live from the group's first op to its last: otherwise a tensor
 * born inside the group could reuse memory that an earlier op of the group has not finished reading.
 * In-place pairs decided before this stay shared: they alias exactly, element for element. */
typedef struct group_ctx {
    const int *buf_of;
    buffer *bufs;
} group_ctx;

/* Widens the buffer of value v to the group [first, last]. */
static void extend_buffer(void *ctx, int v, int first, int last) {
    group_ctx *c = ctx;
    int b = c->buf_of[v];
    if (b < 0) return;
    if (c->bufs[b].start > first) c->bufs[b].start = first;
    if (c->bufs[b].end < last) c->bufs[b].end = last;
}

static void extend_over_groups(const tgc_graph *g, const int *buf_of, buffer *bufs) {
    group_ctx c = {buf_of, bufs};
    tgc_for_each_group_value(g, extend_buffer, &c);
}

/* Eval state must sit where the train graph put it: the two programs share one copy of the state. */
static int place_like(tgc_graph *g, const tgc_graph *ref, tgc_err *err) {
    char b1[32];
    for (int i = 0; i < g->n_vals; i++) {
        tgc_value *v = &g->vals[i];
        if (v->kind != TGC_VAL_PARAM && v->kind != TGC_VAL_BUFFER && v->kind != TGC_VAL_OPTSTATE) continue;
        int r = v->name ? tgc_graph_find(ref, v->name) : -1;
        if (r < 0)
            return tgc_fail(err, "graph %s: state '%s' is not in graph %s", g->name, vname(v, b1, sizeof b1),
                            ref->name);
        const tgc_value *rv = &ref->vals[r];
        if (rv->kind != v->kind || rv->type.dtype != v->type.dtype || !tgc_shape_eq(&rv->type.shape, &v->type.shape)) {
            char s1[96], s2[96];
            tgc_shape_str(&v->type.shape, s1, sizeof s1);
            tgc_shape_str(&rv->type.shape, s2, sizeof s2);
            return tgc_fail(err, "graph %s: state '%s' is %s %s%s but %s %s%s in graph %s", g->name, v->name,
                            tgc_val_kind_name(v->kind), tgc_dtype_name(v->type.dtype), s1,
                            tgc_val_kind_name(rv->kind), tgc_dtype_name(rv->type.dtype), s2, ref->name);
        }
        v->slab = rv->slab;
        v->offset = rv->offset;
    }
    return 0;
}

static int plan_graph(tgc_graph *g, const tgc_graph *state_ref, uint64_t align, tgc_err *err) {
    int n = g->n_vals;
    /* Gradients placed by the buckets pass keep their offsets; everything else is (re)planned. */
    int keep_grads = g->n_buckets > 0;
    uint64_t grad_end = 0;
    for (int i = 0; i < n; i++) {
        tgc_value *v = &g->vals[i];
        if (keep_grads && v->slab == TGC_SLAB_GRAD) {
            if (v->offset + value_bytes(v) > grad_end) grad_end = v->offset + value_bytes(v);
            continue;
        }
        v->slab = TGC_SLAB_NONE;
        v->offset = 0;
    }
    place_sequential(g, TGC_VAL_INPUT, TGC_SLAB_INPUT, align);
    if (state_ref) {
        if (place_like(g, state_ref, err) < 0) return -1;
    } else if (has_update_groups(g)) {
        place_in_update_order(g, align);
        place_sequential(g, TGC_VAL_BUFFER, TGC_SLAB_BUFFER, align);
    } else {
        place_sequential(g, TGC_VAL_PARAM, TGC_SLAB_PARAM, align);
        place_sequential(g, TGC_VAL_BUFFER, TGC_SLAB_BUFFER, align);
        place_sequential(g, TGC_VAL_OPTSTATE, TGC_SLAB_OPTSTATE, align);
    }
    /* Gradients without buckets: production order, after any already placed. */
    grad_end = align_up(grad_end, align);
    for (int k = 0; k < g->n_ops; k++)
        for (int r = 0; r < g->ops[k].n_out; r++) {
            tgc_value *v = &g->vals[g->ops[k].out[r]];
            if (v->kind != TGC_VAL_TEMP || v->grad_of < 0 || v->slab == TGC_SLAB_GRAD) continue;
            v->slab = TGC_SLAB_GRAD;
            v->offset = grad_end;
            grad_end = align_up(grad_end + value_bytes(v), align);
        }

    /* Live intervals of the arena temps. */
    int *end = tgc_malloc(sizeof(int) * (size_t)(n ? n : 1));
    int *buf_of = tgc_malloc(sizeof(int) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) {
        end[i] = g->vals[i].def_op;
        buf_of[i] = -1;
    }
    for (int k = 0; k < g->n_ops; k++)
        for (int j = 0; j < g->ops[k].n_in; j++) {
            int v = g->ops[k].in[j];
            if (v >= 0 && v < n && k > end[v]) end[v] = k;
        }
    for (int i = 0; i < n; i++)
        if (g->vals[i].is_output) end[i] = g->n_ops;

    int n_buf = 0;
    buffer *bufs = tgc_calloc((size_t)(n ? n : 1), sizeof(buffer));
    uint64_t naive = 0;
    for (int k = 0; k < g->n_ops; k++) {
        const tgc_op *op = &g->ops[k];
        for (int r = 0; r < op->n_out; r++) {
            int y = op->out[r];
            tgc_value *vy = &g->vals[y];
            if (vy->kind != TGC_VAL_TEMP || vy->slab != TGC_SLAB_NONE) continue;
            vy->slab = TGC_SLAB_ARENA;
            naive += value_bytes(vy);
            /* In place: the result takes over its dying first operand's buffer. */
            if (r == 0 && op->n_in > 0 && (tgc_op_table[op->code].flags & TGC_OPF_ELEMENTWISE)) {
                int x = op->in[0];
                const tgc_value *vx = &g->vals[x];
                if (buf_of[x] >= 0 && vx->slab == TGC_SLAB_ARENA && end[x] == k &&
                    value_bytes(vx) == value_bytes(vy)) {
                    buf_of[y] = buf_of[x];
                    if (end[y] > bufs[buf_of[y]].end) bufs[buf_of[y]].end = end[y];
                    continue;
                }
            }
            buf_of[y] = n_buf;
            bufs[n_buf++] = (buffer){.start = k, .end = end[y], .size = value_bytes(vy)};
        }
    }
    /* Any TEMP no op defines (should not happen in a verified graph) still needs a home. */
    for (int i = 0; i < n; i++) {
        tgc_value *v = &g->vals[i];
        if (v->slab != TGC_SLAB_NONE) continue;
        free(end), free(buf_of), free(bufs);
        char b1[32];
        return tgc_fail(err, "graph %s: value %s (%s) is not defined by any op and cannot be placed", g->name,
                        vname(v, b1, sizeof b1), tgc_val_kind_name(v->kind));
    }

    extend_over_groups(g, buf_of, bufs);

    /* Lower bound: the largest total of buffers live at one op (difference array over op indices). */
    int64_t *delta = tgc_calloc((size_t)g->n_ops + 2, sizeof(int64_t));
    for (int b = 0; b < n_buf; b++) {
        delta[bufs[b].start] += (int64_t)bufs[b].size;
        delta[bufs[b].end + 1] -= (int64_t)bufs[b].size;
    }
    int64_t live = 0, peak = 0;
    for (int k = 0; k <= g->n_ops; k++) {
        live += delta[k];
        if (live > peak) peak = live;
    }
    free(delta);

    g->mem.arena_bytes = place_buffers(bufs, n_buf, align);
    g->mem.lower_bound_bytes = (uint64_t)peak;
    g->mem.naive_bytes = naive;
    for (int i = 0; i < n; i++)
        if (buf_of[i] >= 0) g->vals[i].offset = bufs[buf_of[i]].offset;
    free(end), free(buf_of), free(bufs);
    return 0;
}

int tgc_pass_memplan(tgc_module *m, tgc_err *err) {
    uint64_t align = tgc_module_target(m)->alignment;
    if (m->train && plan_graph(m->train, NULL, align, err) < 0) return -1;
    if (m->eval && plan_graph(m->eval, m->train, align, err) < 0) return -1;
    if (m->ema && plan_graph(m->ema, m->train, align, err) < 0) return -1;
    if (m->precise_bn && plan_graph(m->precise_bn, m->train, align, err) < 0) return -1;
    return 0;
}
