/* passes/cse.c - common subexpression elimination: identical side-effect-free ops computed once. */
#include <stdlib.h>
#include <string.h>

#include "passes/passes.h"

static int operands_equal(const tgc_op *a, const tgc_op *b) {
    if (a->n_in != b->n_in) return 0;
    int same = 1;
    for (int j = 0; j < a->n_in; j++) same &= a->in[j] == b->in[j];
    if (same) return 1;
    return (tgc_op_table[a->code].flags & TGC_OPF_COMMUTATIVE) && a->n_in == 2 && a->in[0] == b->in[1] &&
           a->in[1] == b->in[0];
}

/* Hash of the opcode and operands; commutative operands in sorted order so both orders collide. */
static uint64_t op_hash(const tgc_op *op) {
    int in[TGC_MAX_IN];
    memcpy(in, op->in, sizeof in);
    if ((tgc_op_table[op->code].flags & TGC_OPF_COMMUTATIVE) && op->n_in == 2 && in[0] > in[1]) {
        int t = in[0];
        in[0] = in[1];
        in[1] = t;
    }
    uint64_t h = 1469598103934665603ull ^ (uint64_t)op->code;
    for (int j = 0; j < op->n_in; j++) h = (h ^ (uint64_t)(uint32_t)in[j]) * 1099511628211ull;
    return h;
}

/* An op whose results are outputs or parameter gradients keeps its own values (the verifier wants one
 * distinct gradient per parameter); it may still be the one that later duplicates are merged into. */
static int may_remove(const tgc_graph *g, const tgc_op *op) {
    for (int k = 0; k < op->n_out; k++)
        if (g->vals[op->out[k]].is_output || g->vals[op->out[k]].grad_of >= 0) return 0;
    return 1;
}

static void cse_graph(tgc_module *m, tgc_graph *g) {
    int nv = g->n_vals, cap = 16;
    while (cap < 2 * g->n_ops + 2) cap *= 2;
    int *rep = tgc_malloc(sizeof(int) * ((size_t)nv + 1)); /* value -> the value it is replaced by */
    int *table = tgc_malloc(sizeof(int) * (size_t)cap);  /* open addressing: op indices, -1 empty */
    uint64_t *hashes = tgc_malloc(sizeof(uint64_t) * ((size_t)g->n_ops + 1));
    for (int v = 0; v < nv; v++) rep[v] = v;
    for (int i = 0; i < cap; i++) table[i] = -1;
    int merged = 0;
    for (int i = 0; i < g->n_ops; i++) {
        tgc_op *op = &g->ops[i];
        if (tgc_op_is_dead(op)) continue;
        for (int j = 0; j < op->n_in; j++)
            if (op->in[j] >= 0 && op->in[j] < nv) op->in[j] = rep[op->in[j]];
        if (tgc_op_has_side_effects(op) || op->n_out == 0) continue;
        uint64_t h = hashes[i] = op_hash(op);
        int slot = (int)(h & (uint64_t)(cap - 1)), found = -1;
        for (; table[slot] >= 0; slot = (slot + 1) & (cap - 1)) {
            const tgc_op *o = &g->ops[table[slot]];
            if (hashes[table[slot]] == h && o->code == op->code && operands_equal(o, op) &&
                !tgc_attrs_diff(tgc_op_table[op->code].attrs, &o->attrs, &op->attrs)) {
                found = table[slot];
                break;
            }
        }
        if (found < 0) {
            table[slot] = i;
            continue;
        }
        if (!may_remove(g, op)) continue;
        for (int k = 0; k < op->n_out; k++) rep[op->out[k]] = g->ops[found].out[k];
        tgc_op_kill(op);
        merged++;
    }
    free(rep);
    free(table);
    free(hashes);
    if (merged) tgc_module_compact(m, g);
}

int tgc_pass_cse(tgc_module *m, tgc_err *err) {
    (void)err;
    if (m->train) cse_graph(m, m->train);
    if (m->eval) cse_graph(m, m->eval);
    return 0;
}
