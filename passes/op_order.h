/* passes/op_order.h - moving ops within a graph, for the passes that rewrite or group ops (internal). */
#ifndef TGC_PASSES_OP_ORDER_H
#define TGC_PASSES_OP_ORDER_H

#include "ir/ir.h"

/* Puts g's ops in a new order: new position i holds the op that was at position order[i] (order is a
 * permutation of 0..n_ops-1). Values' def_op and buckets' ready_op follow their ops. The caller keeps
 * every value defined before its uses (the verifier, run after each pass, checks it). */
void tgc_ops_reorder(tgc_graph *g, const int *order);

/* The stable order of ops by key (ties keep program order), written to order[0..n_ops-1]. Passes give
 * existing op k the key 4k+2 and put a new op just before (4k+1) or after (4k+3) op k. */
void tgc_ops_order_by_key(const tgc_graph *g, const int64_t *key, int *order);

/* Use counts of every value over the live ops (dead ops, tgc_op_is_dead, do not count): an array of
 * g->n_vals (+1) ints the caller frees. */
int *tgc_use_counts(const tgc_graph *g);

/* Calls fn(ctx, v, first, last) for every operand and result v (in range) of every op of each fusion group,
 * with the group's first and last op. A backend runs a group chunk by chunk, so whatever its ops touch is
 * live over the whole group: memplan places by this rule and verify-plan checks it. */
void tgc_for_each_group_value(const tgc_graph *g, void (*fn)(void *ctx, int v, int first, int last), void *ctx);

#endif
