/* passes/fuse_elementwise.c - groups chains of elementwise ops (bias_add, add, scale, relu, relu_bwd,
 * tanh_bwd, sigmoid_bwd, casts; tanh and sigmoid where the target allows) so that a backend runs each
 * group as one pass over memory.
 *
 * A group is a run of consecutive ops, each TGC_OPF_ELEMENTWISE (a TGC_OPF_TRANSCENDENTAL one such as tanh
 * only where the target's fusion policy allows it, see fusable) with one result of the group's element
 * count, each after the first reading a value produced inside the group; its ops get one `group` id.
 * The ops keep their meaning one by one (a backend that ignores groups is still correct); a backend that
 * honours them walks the output in cache-sized chunks and applies every op of the group to a chunk
 * before moving on, so a value produced and consumed inside the group stays in cache. The memory
 * planner keeps every arena tensor a group touches alive over the whole group (passes/memplan.c), so
 * chunked execution never reads memory that a later op of the group already reused.
 *
 * Before grouping, an elementwise op whose one reader is an elementwise op of the same size further down
 * is moved (sunk) to just before that reader, so that chains interleaved with other work (a residual
 * branch computed between a bias_add and its add) become consecutive. It is not moved past an op that
 * updates state it reads.
 */
#include <stdlib.h>

#include "passes/op_order.h"
#include "passes/passes.h"

/* A transcendental (TGC_OPF_TRANSCENDENTAL in ir/ops.def, as tanh) joins a group only where the
 * target says so (TGC_FUSE_TRANSCENDENTALS, passes/target.h): on the CPU its vectorised code lives in the
 * library kernel (oneDNN), and in a plain fused loop calling libm it costs far more than the pass over
 * memory that fusing saves (LeNet-5 trained 2.4x slower with tanh in groups, bench/README.md); a
 * generated CUDA kernel computes it in registers. */
static int fusable(const tgc_graph *g, const tgc_op *op, uint32_t policy) {
    uint32_t flags = tgc_op_is_dead(op) ? 0 : tgc_op_table[op->code].flags;
    return (flags & TGC_OPF_ELEMENTWISE) &&
           (!(flags & TGC_OPF_TRANSCENDENTAL) || (policy & TGC_FUSE_TRANSCENDENTALS)) &&
           op->n_out == 1 && op->n_in >= 1 && op->out[0] >= 0 && op->out[0] < g->n_vals;
}

static int64_t numel(const tgc_graph *g, int v) { return tgc_shape_numel(&g->vals[v].type.shape); }

/* Does op `o` update one of the values op `p` reads? */
static int mutates_input_of(const tgc_op *o, const tgc_op *p) {
    uint32_t mut = !tgc_op_is_dead(o) ? tgc_op_table[o->code].mutates : 0;
    for (int i = 0; mut && i < o->n_in; i++)
        if (mut & (1u << i))
            for (int j = 0; j < p->n_in; j++)
                if (o->in[i] == p->in[j]) return 1;
    return 0;
}

/* Sinks producers next to their consumers; returns 1 if the order changed. */
static int sink(tgc_graph *g, uint32_t policy) {
    int n = g->n_ops, moved = 0;
    int *uses = tgc_use_counts(g);
    int *ord = tgc_malloc(sizeof(int) * (size_t)(n ? n : 1)); /* ord[position] = op index */
    int *pos = tgc_malloc(sizeof(int) * (size_t)(n ? n : 1)); /* op index -> position */
    for (int i = 0; i < n; i++) ord[i] = pos[i] = i;
    /* Reverse program order: a consumer has settled before its producer is considered, so whole chains
     * move together. */
    for (int k = n - 1; k >= 0; k--) {
        const tgc_op *p = &g->ops[k];
        if (!fusable(g, p, policy)) continue;
        int r = p->out[0];
        if (uses[r] != 1 || g->vals[r].is_output) continue;
        int c = -1; /* the consumer's op index */
        for (int i = 0; i < n && c < 0; i++) {
            const tgc_op *o = &g->ops[i];
            if (tgc_op_is_dead(o)) continue;
            for (int j = 0; j < o->n_in; j++)
                if (o->in[j] == r) c = i;
        }
        if (c < 0 || !fusable(g, &g->ops[c], policy) || numel(g, g->ops[c].out[0]) != numel(g, r)) continue;
        int from = pos[k], to = pos[c] - 1;
        if (to <= from) continue;
        int blocked = 0;
        for (int q = from + 1; q <= to && !blocked; q++) blocked = mutates_input_of(&g->ops[ord[q]], p);
        if (blocked) continue;
        for (int q = from; q < to; q++) {
            ord[q] = ord[q + 1];
            pos[ord[q]] = q;
        }
        ord[to] = k;
        pos[k] = to;
        moved = 1;
    }
    if (moved) tgc_ops_reorder(g, ord);
    free(ord);
    free(pos);
    free(uses);
    return moved;
}

static int next_group_id(const tgc_graph *g) {
    int id = 0;
    for (int i = 0; i < g->n_ops; i++)
        if (g->ops[i].group >= id) id = g->ops[i].group + 1;
    return id;
}

/* Marks maximal connected runs of at least two fusable ops of one element count. */
static void group(tgc_graph *g, uint32_t policy) {
    int id = next_group_id(g);
    unsigned char *in_run = tgc_calloc((size_t)g->n_vals + 1, 1); /* produced by the current run */
    int start = -1;
    int64_t size = 0;
    for (int k = 0; k <= g->n_ops; k++) {
        tgc_op *op = k < g->n_ops ? &g->ops[k] : NULL;
        int joins = 0;
        if (op && start >= 0 && fusable(g, op, policy) && op->group < 0 && numel(g, op->out[0]) == size)
            for (int j = 0; j < op->n_in && !joins; j++) joins = in_run[op->in[j]];
        if (joins) {
            in_run[op->out[0]] = 1;
            continue;
        }
        /* close the current run */
        if (start >= 0 && k - start >= 2) {
            for (int i = start; i < k; i++) g->ops[i].group = id;
            id++;
        }
        for (int i = start >= 0 ? start : k; i < k; i++) in_run[g->ops[i].out[0]] = 0;
        start = -1;
        if (op && fusable(g, op, policy) && op->group < 0) {
            start = k;
            size = numel(g, op->out[0]);
            in_run[op->out[0]] = 1;
        }
    }
    free(in_run);
}

int tgc_pass_fuse_elementwise(tgc_module *m, tgc_err *err) {
    (void)err;
    tgc_graph *gs[2] = {m->train, m->eval};
    uint32_t policy = tgc_module_target(m)->fuse;
    for (int i = 0; i < 2; i++) {
        if (!gs[i]) continue;
        sink(gs[i], policy);
        group(gs[i], policy);
    }
    return 0;
}
