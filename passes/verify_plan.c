/* passes/verify_plan.c - the placement checker: proves the memory plan is safe.
 *
 * Every value is placed, at a multiple of the target's alignment (passes/target.h); arena values lie
 * inside the arena; no two values of one slab that are live at the same time share a byte (state, inputs
 * and gradients are live for the whole program; arena temps from their defining op to their last use),
 * except an in-place pair (an elementwise op writing its result over its dying first operand); the arena
 * buffers an op of a fusion group touches stay live over the whole group (a backend runs it chunk by
 * chunk: memplan's rule); gradients lie inside their bucket; buckets tile the GRAD slab in order, each
 * ending in its last gradient's slot (alignment-rounded: the collective covers [offset, offset + bytes)
 * and must stay in the slab); each is ready right after the op producing its last gradient, in bucket
 * order, and before the first optimizer update (where the distributed runtime waits for the
 * all-reduces); no op reads a gradient between its bucket's ready op and that first update (the
 * all-reduce may be rewriting it).
 *
 * The overlap check is a sweep over program order keeping the live tensors of a slab sorted by offset:
 * those never overlap, so a new tensor only has to be compared with its two neighbours.
 */
#include <stdlib.h>
#include <string.h>

#include "passes/op_order.h"
#include "passes/passes.h"


static uint64_t value_bytes(const tgc_value *v) {
    return (uint64_t)tgc_shape_numel(&v->type.shape) * tgc_dtype_size(v->type.dtype);
}

static const char *vname(const tgc_value *v, char *buf, size_t n) {
    if (v->name)
        snprintf(buf, n, "%%%d ('%s')", v->id, v->name);
    else
        snprintf(buf, n, "%%%d", v->id);
    return buf;
}

typedef struct item {
    int v;          /* value id */
    int start, end; /* inclusive op indices; -1 .. n_ops for values live throughout */
    uint64_t off, size;
    int inplace_of; /* value id whose buffer this one takes over at `start`, or -1 */
} item;

static int cmp_start(const void *a, const void *b) {
    const item *x = a, *y = b;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    return (x->v > y->v) - (x->v < y->v);
}

static int overlap_error(const tgc_graph *g, tgc_slab s, const item *a, const item *b, tgc_err *err) {
    char n1[300], n2[300];
    int t = a->start > b->start ? a->start : b->start;
    if (t < 0) t = 0;
    char grp[48] = "";
    if (t < g->n_ops && g->ops[t].group >= 0) snprintf(grp, sizeof grp, ", fusion group %d", g->ops[t].group);
    return tgc_fail(err,
                    "graph %s: %s [%llu, %llu) and %s [%llu, %llu) overlap in the %s slab while both are live "
                    "(op %d%s)",
                    g->name, vname(&g->vals[a->v], n1, sizeof n1), (unsigned long long)a->off,
                    (unsigned long long)(a->off + a->size), vname(&g->vals[b->v], n2, sizeof n2),
                    (unsigned long long)b->off, (unsigned long long)(b->off + b->size), tgc_slab_name(s), t,
                    grp);
}

/* Sweep over the items of one slab (sorted by start). */
static int sweep(const tgc_graph *g, tgc_slab s, item *it, int n, tgc_err *err) {
    qsort(it, (size_t)n, sizeof(item), cmp_start);
    item **live = tgc_malloc(sizeof(item *) * (size_t)(n ? n : 1));
    int nl = 0, rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        item *x = &it[i];
        if (x->size == 0) continue;
        /* Retire what died before x starts, and x's in-place source, whose last read is x's op. */
        int w = 0;
        for (int k = 0; k < nl; k++)
            if (!(live[k]->end < x->start || (x->inplace_of >= 0 && live[k]->v == x->inplace_of)))
                live[w++] = live[k];
        nl = w;
        int lo = 0, hi = nl;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (live[mid]->off < x->off) lo = mid + 1;
            else hi = mid;
        }
        if (lo > 0 && live[lo - 1]->off + live[lo - 1]->size > x->off) rc = overlap_error(g, s, live[lo - 1], x, err);
        else if (lo < nl && x->off + x->size > live[lo]->off) rc = overlap_error(g, s, live[lo], x, err);
        else {
            memmove(&live[lo + 1], &live[lo], sizeof(item *) * (size_t)(nl - lo));
            live[lo] = x;
            nl++;
        }
    }
    free(live);
    return rc;
}

/* align: the target's alignment, which rounds a gradient's slot in the GRAD slab (passes/buckets.c). */
static int check_buckets(const tgc_graph *g, const uint64_t *end_of, uint64_t align, tgc_err *err) {
    int n_grads = 0;
    for (int i = 0; i < g->n_vals; i++)
        if (g->vals[i].kind == TGC_VAL_TEMP && g->vals[i].grad_of >= 0) n_grads++;
    if (g->n_buckets == 0) return 0;
    /* The distributed runtime waits for every issued all-reduce right before the first optimizer update. */
    int first_opt = g->n_ops;
    for (int k = 0; k < g->n_ops && first_opt == g->n_ops; k++)
        if ((unsigned)g->ops[k].code < TGC_OP_COUNT && (tgc_op_table[g->ops[k].code].flags & TGC_OPF_OPTIMIZER))
            first_opt = k;
    int *bucket_of = tgc_malloc(sizeof(int) * (size_t)(g->n_vals ? g->n_vals : 1));
    for (int i = 0; i < g->n_vals; i++) bucket_of[i] = -1;
    uint64_t expect = 0;
    int counted = 0, rc = 0, last_ready = -1;
    for (int b = 0; b < g->n_buckets && rc == 0; b++) {
        const tgc_bucket *bk = &g->buckets[b];
        if (bk->offset != expect) {
            rc = tgc_fail(err, "graph %s: bucket %d starts at %llu, expected %llu (buckets must be contiguous and "
                          "in order)", g->name, b, (unsigned long long)bk->offset, (unsigned long long)expect);
            break;
        }
        if (bk->n_vals <= 0) {
            rc = tgc_fail(err, "graph %s: bucket %d is empty", g->name, b);
            break;
        }
        int max_def = -1;
        uint64_t prev_end = bk->offset;
        for (int k = 0; k < bk->n_vals && rc == 0; k++) {
            int v = bk->vals[k];
            char nb[300];
            if (v < 0 || v >= g->n_vals || g->vals[v].grad_of < 0 || g->vals[v].kind != TGC_VAL_TEMP) {
                rc = tgc_fail(err, "graph %s: bucket %d holds %%%d, which is not a gradient", g->name, b, v);
                break;
            }
            const tgc_value *val = &g->vals[v];
            if (bucket_of[v] >= 0) {
                rc = tgc_fail(err, "graph %s: %s is in bucket %d and again in bucket %d (a gradient is in one "
                              "bucket)", g->name, vname(val, nb, sizeof nb), bucket_of[v], b);
                break;
            }
            bucket_of[v] = b;
            counted++;
            if (val->slab != TGC_SLAB_GRAD || val->offset < prev_end || end_of[v] > bk->offset + bk->bytes ||
                bk->offset + bk->bytes < bk->offset)
                rc = tgc_fail(err, "graph %s: gradient %s at %s+%llu is not inside bucket %d [%llu, %llu) after "
                              "its predecessor", g->name, vname(val, nb, sizeof nb), tgc_slab_name(val->slab),
                              (unsigned long long)val->offset, b, (unsigned long long)bk->offset,
                              (unsigned long long)(bk->offset + bk->bytes));
            prev_end = end_of[v];
            if (val->def_op > max_def) max_def = val->def_op;
        }
        if (rc) break;
        /* The collective reduces [offset, offset + bytes): no further than the last gradient's slot. */
        uint64_t slot_end = prev_end > UINT64_MAX - align ? UINT64_MAX : (prev_end + align - 1) / align * align;
        if (bk->bytes > slot_end - bk->offset) {
            rc = tgc_fail(err, "graph %s: bucket %d [%llu, %llu) has %llu bytes, past the end of its last gradient's "
                          "slot at %llu", g->name, b, (unsigned long long)bk->offset,
                          (unsigned long long)(bk->offset + bk->bytes), (unsigned long long)bk->bytes,
                          (unsigned long long)slot_end);
            break;
        }
        if (bk->ready_op != max_def) {
            rc = tgc_fail(err, "graph %s: bucket %d is ready after op %d, but its last gradient is produced by op %d",
                          g->name, b, bk->ready_op, max_def);
            break;
        }
        if (bk->ready_op < last_ready) {
            rc = tgc_fail(err, "graph %s: bucket %d is ready after op %d, before bucket %d (ready after op %d): "
                          "buckets must become ready in order", g->name, b, bk->ready_op, b - 1, last_ready);
            break;
        }
        if (bk->ready_op >= first_opt) {
            rc = tgc_fail(err, "graph %s: bucket %d is ready after op %d, not before the first optimizer update "
                          "(op %d), which must read reduced gradients", g->name, b, bk->ready_op, first_opt);
            break;
        }
        last_ready = bk->ready_op;
        expect = bk->offset + bk->bytes;
    }
    if (rc == 0 && counted != n_grads)
        rc = tgc_fail(err, "graph %s: %d gradients but %d of them are in buckets", g->name, n_grads, counted);
    /* Between a bucket's ready op and the first update its all-reduce may be rewriting the gradients. */
    for (int k = 0; k < first_opt && rc == 0; k++)
        for (int j = 0; j < g->ops[k].n_in && rc == 0; j++) {
            int v = g->ops[k].in[j], b = v >= 0 && v < g->n_vals ? bucket_of[v] : -1;
            char nb[300];
            if (b >= 0 && k > g->buckets[b].ready_op)
                rc = tgc_fail(err, "graph %s: op %d (%s) reads gradient %s after bucket %d is ready (op %d), while its "
                              "all-reduce may be running", g->name, k, tgc_op_table[g->ops[k].code].name,
                              vname(&g->vals[v], nb, sizeof nb), b, g->buckets[b].ready_op);
        }
    free(bucket_of);
    return rc;
}

typedef struct live_span {
    const tgc_graph *g;
    int *first, *until;
} live_span;

/* A temp touched by a fusion group [first, last] is live over the whole group. */
static void widen_temp(void *ctx, int v, int first, int last) {
    live_span *s = ctx;
    if (s->g->vals[v].kind != TGC_VAL_TEMP) return;
    if (s->first[v] > first) s->first[v] = first;
    if (s->until[v] < last) s->until[v] = last;
}

static int verify_graph(const tgc_graph *g, uint64_t align, tgc_err *err) {
    int n = g->n_vals;
    char nb[300];
    uint64_t *end_of = tgc_malloc(sizeof(uint64_t) * (size_t)(n ? n : 1));
    int *last = tgc_malloc(sizeof(int) * (size_t)(n ? n : 1));
    int *inplace = tgc_malloc(sizeof(int) * (size_t)(n ? n : 1));
    item *it = tgc_malloc(sizeof(item) * (size_t)(n ? n : 1));
    int rc = 0;
    for (int i = 0; i < n; i++) {
        last[i] = g->vals[i].def_op;
        inplace[i] = -1;
        end_of[i] = g->vals[i].offset + value_bytes(&g->vals[i]);
    }
    for (int k = 0; k < g->n_ops; k++)
        for (int j = 0; j < g->ops[k].n_in; j++) {
            int v = g->ops[k].in[j];
            if (v >= 0 && v < n && k > last[v]) last[v] = k;
        }
    for (int i = 0; i < n; i++)
        if (g->vals[i].is_output) last[i] = g->n_ops;
    /* A fusion group runs chunk by chunk: every arena temp one of its ops reads or writes is live from the
     * group's first op to its last (memplan's rule), else a temp born inside the group could take memory
     * an earlier op of the group has not finished reading. */
    int *first = tgc_malloc(sizeof(int) * (size_t)(n ? n : 1));
    int *until = tgc_malloc(sizeof(int) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) first[i] = g->vals[i].def_op, until[i] = last[i];
    live_span span = {g, first, until};
    tgc_for_each_group_value(g, widen_temp, &span);
    /* In-place pairs, recognised by the rule memplan applies (and the same offset). */
    for (int k = 0; k < g->n_ops; k++) {
        const tgc_op *op = &g->ops[k];
        if (op->n_in < 1 || op->n_out < 1 || !(tgc_op_table[op->code].flags & TGC_OPF_ELEMENTWISE)) continue;
        int x = op->in[0], y = op->out[0];
        const tgc_value *vx = &g->vals[x], *vy = &g->vals[y];
        if (vx->kind == TGC_VAL_TEMP && vx->slab == TGC_SLAB_ARENA && vy->slab == TGC_SLAB_ARENA && last[x] == k &&
            vx->offset == vy->offset && value_bytes(vx) == value_bytes(vy))
            inplace[y] = x;
    }
    for (int i = 0; i < n && rc == 0; i++) {
        const tgc_value *v = &g->vals[i];
        if (v->slab <= TGC_SLAB_NONE || v->slab >= TGC_SLAB_COUNT)
            rc = tgc_fail(err, "graph %s: %s is not placed", g->name, vname(v, nb, sizeof nb));
        else if (end_of[i] < v->offset)
            rc = tgc_fail(err, "graph %s: %s: offset %llu overflows", g->name, vname(v, nb, sizeof nb),
                          (unsigned long long)v->offset);
        else if (v->slab == TGC_SLAB_ARENA && end_of[i] > g->mem.arena_bytes)
            rc = tgc_fail(err, "graph %s: %s [%llu, %llu) lies outside the %llu-byte arena", g->name,
                          vname(v, nb, sizeof nb), (unsigned long long)v->offset, (unsigned long long)end_of[i],
                          (unsigned long long)g->mem.arena_bytes);
        else if (v->slab == TGC_SLAB_ARENA && v->kind != TGC_VAL_TEMP)
            rc = tgc_fail(err, "graph %s: %s is %s but placed in the arena", g->name, vname(v, nb, sizeof nb),
                          tgc_val_kind_name(v->kind));
    }
    for (int s = TGC_SLAB_ARENA; s < TGC_SLAB_COUNT && rc == 0; s++) {
        int ni = 0;
        for (int i = 0; i < n; i++) {
            const tgc_value *v = &g->vals[i];
            if ((int)v->slab != s) continue;
            int whole = s != TGC_SLAB_ARENA; /* everything outside the arena is live throughout */
            it[ni++] = (item){.v = i,
                              .start = whole ? -1 : first[i],
                              .end = whole ? g->n_ops : until[i],
                              .off = v->offset,
                              .size = value_bytes(v),
                              .inplace_of = inplace[i]};
        }
        rc = sweep(g, (tgc_slab)s, it, ni, err);
    }
    /* Alignment after the overlap sweep, so that a corrupted offset is reported as the overlap it makes. */
    for (int i = 0; i < n && rc == 0; i++) {
        const tgc_value *v = &g->vals[i];
        if (v->offset % align)
            rc = tgc_fail(err, "graph %s: %s at %s+%llu is not aligned to the target's %llu bytes", g->name,
                          vname(v, nb, sizeof nb), tgc_slab_name(v->slab), (unsigned long long)v->offset,
                          (unsigned long long)align);
    }
    if (rc == 0) rc = check_buckets(g, end_of, align, err);
    free(end_of), free(last), free(first), free(until), free(inplace), free(it);
    return rc;
}

int tgc_pass_verify_plan(tgc_module *m, tgc_err *err) {
    uint64_t align = tgc_module_target(m)->alignment;
    if (!align || (align & (align - 1))) return tgc_fail(err, "target alignment %llu is not a power of two",
                                                         (unsigned long long)align);
    if (m->train && verify_graph(m->train, align, err) < 0) return -1;
    if (m->eval && verify_graph(m->eval, align, err) < 0) return -1;
    if (m->ema && verify_graph(m->ema, align, err) < 0) return -1;
    if (m->precise_bn && verify_graph(m->precise_bn, align, err) < 0) return -1;
    return 0;
}
