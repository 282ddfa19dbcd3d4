/* tests/unit/test_verify_plan.c - the placement checker (passes/verify_plan.c), one invariant at a time.
 *
 * Each test takes a plan the pipeline produced for the two-layer MLP of test_plan_fixture.h (which the
 * checker accepts: clean_plan_passes), corrupts the one field an invariant guards, and expects the checker
 * to reject the plan with a message naming that field. The invariants, in the checker's order:
 *   placement   every value placed; offset + size does not overflow; arena temps inside arena_bytes; only
 *               temps in the arena
 *   overlap     no two values of a slab share a byte while both are live: state, inputs and gradients all
 *               program long; arena temps from their op to their last use (outputs to the end), over a
 *               whole fusion group when a group's op touches them; except an in-place pair (elementwise op,
 *               result at the same offset as its dying first operand)
 *   buckets     contiguous from 0 in order; not empty; gradients only; a gradient in one bucket; each
 *               gradient in the GRAD slab inside its bucket after its predecessor; the bucket ends in its
 *               last gradient's 64-byte slot; ready op = the op producing its last gradient; buckets ready
 *               in order; every bucket ready before the first optimizer update; no op reads a gradient
 *               after its bucket is ready and before that update; every gradient in a bucket
 * The overlap boundaries (adjacent vs one byte over) and outputs' liveness are in test_memplan_arena.c.
 */
#include <stdarg.h>
#include <stdlib.h>

#include "passes/op_order.h"
#include "test_plan_fixture.h"

#define TINY 0.0001 /* MiB: two buckets of two gradients */

static int param(const tgc_graph *g, const char *name) {
    int v = tgc_graph_find(g, name);
    ck_assert_msg(v >= 0, "no value '%s'", name);
    return v;
}

static int grad(const tgc_graph *g, const char *param_name) {
    int p = param(g, param_name);
    for (int i = 0; i < g->n_vals; i++)
        if (g->vals[i].grad_of == p) return i;
    ck_abort_msg("no gradient of '%s'", param_name);
    return -1;
}

/* The n-th op (from 0) with this code. */
static int nth_op(const tgc_graph *g, tgc_opcode code, int n) {
    for (int k = 0; k < g->n_ops; k++)
        if (g->ops[k].code == code && n-- == 0) return k;
    ck_abort_msg("no op %s #%d", tgc_op_table[code].name, n);
    return -1;
}

static int first_update(const tgc_graph *g) {
    for (int k = 0; k < g->n_ops; k++)
        if (tgc_op_table[g->ops[k].code].flags & TGC_OPF_OPTIMIZER) return k;
    return g->n_ops;
}

/* "%12 " or "%12)" : the value as the checker names it, without a trailing digit matching %120. */
static int names(const char *msg, int v) {
    char a[24], b[24];
    snprintf(a, sizeof a, "%%%d ", v);
    snprintf(b, sizeof b, "%%%d,", v);
    return strstr(msg, a) || strstr(msg, b);
}

/* The checker must reject m with a message holding every one of the NULL-terminated strings. */
static void expect_rejected(tgc_module *m, ...) {
    tgc_err err;
    ck_assert_msg(tgc_pass_verify_plan(m, &err) == -1, "the checker accepted the corrupted plan");
    va_list ap;
    va_start(ap, m);
    for (const char *s; (s = va_arg(ap, const char *));) ck_assert_msg(strstr(err.msg, s), "no '%s' in: %s", s, err.msg);
    va_end(ap);
}

static void expect_accepted(tgc_module *m) {
    tgc_err err;
    ck_assert_msg(tgc_pass_verify_plan(m, &err) == 0, "%s", err.msg);
}

/* ---- the uncorrupted plans pass, and have the shape the other tests rely on ---------------------- */

START_TEST(clean_plan_passes) {
    tgc_module m;
    fixture_mlp_module(&m, TINY, TINY);
    tgc_graph *g = m.train;
    expect_accepted(&m);
    ck_assert_int_eq(g->n_buckets, 2);
    ck_assert_int_eq(g->buckets[0].n_vals, 2);
    ck_assert_int_eq(g->buckets[0].vals[0], grad(g, "fc2.bias"));
    ck_assert_int_eq(g->buckets[0].vals[1], grad(g, "fc2.weight"));
    ck_assert_int_eq(g->buckets[1].vals[0], grad(g, "fc1.bias"));
    ck_assert_int_eq(g->buckets[1].vals[1], grad(g, "fc1.weight"));
    ck_assert_int_lt(g->vals[grad(g, "fc2.bias")].def_op, g->buckets[0].ready_op);
    ck_assert_int_lt(g->buckets[1].ready_op, first_update(g));
    /* fc1's bias_add + relu are one fusion group, written in place over the matmul. */
    int ba = nth_op(g, TGC_OP_BIAS_ADD, 0);
    ck_assert_int_ge(g->ops[ba].group, 0);
    ck_assert_int_eq(g->ops[ba + 1].group, g->ops[ba].group);
    tgc_module_free(&m);
    fixture_mlp_module(&m, 1, 25); /* one bucket of four */
    ck_assert_int_eq(m.train->n_buckets, 1);
    expect_accepted(&m);
    tgc_module_free(&m);
}
END_TEST

/* ---- placement ---------------------------------------------------------------------------------- */

START_TEST(unplaced_value) {
    tgc_module m;
    fixture_mlp_module(&m, TINY, TINY);
    int v = m.train->ops[nth_op(m.train, TGC_OP_SOFTMAX_CE_BWD, 0)].out[0];
    m.train->vals[v].slab = TGC_SLAB_NONE;
    expect_rejected(&m, "not placed", NULL);
    tgc_err err;
    tgc_pass_verify_plan(&m, &err);
    ck_assert(names(err.msg, v));
    m.train->vals[v].slab = TGC_SLAB_COUNT; /* out of range is no slab either */
    expect_rejected(&m, "not placed", NULL);
    tgc_module_free(&m);
}
END_TEST

START_TEST(offset_overflow) {
    tgc_module m;
    fixture_mlp_module(&m, TINY, TINY);
    int v = m.train->ops[nth_op(m.train, TGC_OP_SOFTMAX_CE_BWD, 0)].out[0];
    m.train->vals[v].offset = UINT64_MAX - 8; /* + 48 bytes wraps around */
    expect_rejected(&m, "overflows", NULL);
    tgc_module_free(&m);
}
END_TEST

START_TEST(arena_size) {
    tgc_module m;
    fixture_mlp_module(&m, TINY, TINY);
    tgc_graph *g = m.train;
    uint64_t top = 0;
    for (int i = 0; i < g->n_vals; i++) {
        uint64_t e = g->vals[i].offset + (uint64_t)tgc_shape_numel(&g->vals[i].type.shape) * tgc_dtype_size(g->vals[i].type.dtype);
        if (g->vals[i].slab == TGC_SLAB_ARENA && e > top) top = e;
    }
    ck_assert_uint_ge(g->mem.arena_bytes, top);
    g->mem.arena_bytes = top; /* exactly big enough */
    expect_accepted(&m);
    g->mem.arena_bytes = top - 1;
    char want[64];
    snprintf(want, sizeof want, "outside the %llu-byte arena", (unsigned long long)(top - 1));
    expect_rejected(&m, want, NULL);
    tgc_module_free(&m);
}
END_TEST

START_TEST(state_in_arena) {
    tgc_module m;
    fixture_mlp_module(&m, TINY, TINY);
    int b2 = param(m.train, "fc2.bias");
    m.train->vals[b2].slab = TGC_SLAB_ARENA;
    m.train->vals[b2].offset = 0;
    expect_rejected(&m, "'fc2.bias'", "is param but placed in the arena", NULL);
    tgc_module_free(&m);
}
END_TEST

/* ---- overlap -------------------------------------------------------------------------------------- */

START_TEST(arena_temps_live_together) {
    tgc_module m;
    fixture_mlp_module(&m, TINY, TINY);
    tgc_graph *g = m.train;
    /* dlogits = softmax_cross_entropy_bwd(seed, logits, labels) onto logits, which it reads. */
    int k = nth_op(g, TGC_OP_SOFTMAX_CE_BWD, 0);
    int dl = g->ops[k].out[0], logits = g->ops[k].in[1];
    g->vals[dl].offset = g->vals[logits].offset;
    expect_rejected(&m, "overlap in the arena slab", NULL);
    tgc_err err;
    tgc_pass_verify_plan(&m, &err);
    ck_assert_msg(names(err.msg, dl) && names(err.msg, logits), "%s", err.msg);
    tgc_module_free(&m);
}
END_TEST

/* A result may not take the memory of an operand dying at its op unless the pair is in place. */
START_TEST(result_over_dying_operand) {
    tgc_module m;
    fixture_mlp_module(&m, TINY, TINY);
    tgc_graph *g = m.train;
    /* dlogits = softmax_cross_entropy_bwd(seed, logits, labels) is the seed's last read; the op is not
     * elementwise, so dlogits may not sit over the seed (nothing else lives there). */
    int k = nth_op(g, TGC_OP_SOFTMAX_CE_BWD, 0);
    int seed = g->ops[k].in[0], dl = g->ops[k].out[0];
    ck_assert_int_eq(g->ops[nth_op(g, TGC_OP_FILL, 0)].out[0], seed);
    g->vals[dl].offset = g->vals[seed].offset;
    expect_rejected(&m, "overlap in the arena slab", NULL);
    tgc_err err;
    tgc_pass_verify_plan(&m, &err);
    ck_assert_msg(names(err.msg, seed) && names(err.msg, dl), "%s", err.msg);
    tgc_module_free(&m);
}
END_TEST

START_TEST(state_overlaps) {
    /* Values outside the arena are live for the whole program: any shared byte is an overlap. The first
     * value of each pair is the smaller; it is moved 4 bytes into the second. */
    static const struct {
        const char *a, *b, *slab;
    } cases[] = {{"fc2.bias", "fc2.weight", "param"},
                 {"labels", "inputs", "input"},
                 {"optimizer.fc2.bias.momentum_buffer", "optimizer.fc1.bias.momentum_buffer", "optstate"}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        tgc_module m;
        fixture_mlp_module(&m, TINY, TINY);
        int a = param(m.train, cases[c].a), b = param(m.train, cases[c].b);
        m.train->vals[a].offset = m.train->vals[b].offset + 4;
        char slab[48], na[64], nbuf[64];
        snprintf(slab, sizeof slab, "overlap in the %s slab", cases[c].slab);
        snprintf(na, sizeof na, "'%s'", cases[c].a);
        snprintf(nbuf, sizeof nbuf, "'%s'", cases[c].b);
        expect_rejected(&m, slab, na, nbuf, NULL);
        tgc_module_free(&m);
    }
    /* Gradients too (the sweep finds it before the bucket check). */
    tgc_module m;
    fixture_mlp_module(&m, TINY, TINY);
    int g1 = grad(m.train, "fc1.bias"), g2 = grad(m.train, "fc1.weight");
    m.train->vals[g2].offset = m.train->vals[g1].offset + 4;
    expect_rejected(&m, "overlap in the grad slab", NULL);
    tgc_module_free(&m);
}
END_TEST

START_TEST(inplace_needs_same_offset) {
    tgc_module m;
    fixture_mlp_module(&m, TINY, TINY);
    tgc_graph *g = m.train;
    /* logits = bias_add(mm2, b2) sits over mm2, which dies there. */
    int k = nth_op(g, TGC_OP_BIAS_ADD, 1);
    int x = g->ops[k].in[0], y = g->ops[k].out[0];
    ck_assert_uint_eq(g->vals[x].offset, g->vals[y].offset);
    g->vals[y].offset += 4; /* still over its operand, but shifted: not in place */
    expect_rejected(&m, "overlap in the arena slab", NULL);
    tgc_err err;
    tgc_pass_verify_plan(&m, &err);
    ck_assert_msg(names(err.msg, x) && names(err.msg, y), "%s", err.msg);
    tgc_module_free(&m);
}
END_TEST

START_TEST(inplace_only_over_first_operand) {
    tgc_module m;
    fixture_mlp_module(&m, TINY, TINY);
    tgc_graph *g = m.train;
    /* dh = relu_bwd(dx, h) sits over dx; h (its second operand) dies there too, same size. */
    int k = nth_op(g, TGC_OP_RELU_BWD, 0);
    int dx = g->ops[k].in[0], h = g->ops[k].in[1], dh = g->ops[k].out[0];
    ck_assert_uint_eq(g->vals[dh].offset, g->vals[dx].offset);
    ck_assert_uint_ne(g->vals[h].offset, g->vals[dx].offset);
    g->vals[dh].offset = g->vals[h].offset;
    expect_rejected(&m, "overlap in the arena slab", NULL);
    tgc_err err;
    tgc_pass_verify_plan(&m, &err);
    ck_assert_msg(names(err.msg, h) && names(err.msg, dh), "%s", err.msg);
    tgc_module_free(&m);
}
END_TEST

/* A fusion group runs chunk by chunk: a temp dying inside the group keeps its memory to the group's end.
 * x@w -> a, x@w -> b; group {c = add(a, b); d = relu(c)}; e = add(c, d). b dies at the add, d is born at
 * the relu (not in place: c lives on), so op by op d could take b's memory, but not in the group. */
START_TEST(fusion_group_keeps_buffers_live) {
    tgc_err err;
    tgc_graph *g = tgc_graph_new("eval");
    int x = tgc_graph_input(g, "x", TGC_F32, tgc_shape2(4, 16));
    int w = tgc_graph_state(g, TGC_VAL_PARAM, "w", TGC_F32, tgc_shape2(16, 16), (tgc_init){0});
    int a = tgc_emit1(g, TGC_OP_MATMUL, NULL, NULL, &err, 2, x, w);
    int b = tgc_emit1(g, TGC_OP_MATMUL, NULL, NULL, &err, 2, x, w);
    int c = tgc_emit1(g, TGC_OP_ADD, NULL, NULL, &err, 2, a, b);
    int d = tgc_emit1(g, TGC_OP_RELU, NULL, NULL, &err, 1, c);
    int e = tgc_emit1(g, TGC_OP_ADD, NULL, NULL, &err, 2, c, d);
    ck_assert_msg(e >= 0, "%s", err.msg);
    g->vals[e].is_output = 1;
    g->ops[2].group = g->ops[3].group = 0;
    tgc_module m;
    memset(&m, 0, sizeof m);
    m.eval = g;
    ck_assert_msg(tgc_pass_memplan(&m, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(g->vals[c].offset, g->vals[a].offset); /* in place */
    ck_assert_uint_ne(g->vals[d].offset, g->vals[b].offset);
    expect_accepted(&m);
    g->vals[d].offset = g->vals[b].offset;
    expect_rejected(&m, "overlap in the arena slab", "fusion group 0", NULL);
    tgc_pass_verify_plan(&m, &err);
    ck_assert_msg(names(err.msg, b) && names(err.msg, d), "%s", err.msg);
    /* Without the group the same placement is fine. */
    g->ops[2].group = g->ops[3].group = -1;
    expect_accepted(&m);
    tgc_module_free(&m);
}
END_TEST

/* ---- buckets ------------------------------------------------------------------------------------ */

START_TEST(bucket_offset) {
    tgc_module m;
    fixture_mlp_module(&m, TINY, TINY);
    m.train->buckets[1].offset += 64;
    expect_rejected(&m, "bucket 1 starts at 320, expected 256", NULL);
    m.train->buckets[1].offset -= 64;
    m.train->buckets[0].offset = 64;
    expect_rejected(&m, "bucket 0 starts at 64, expected 0", NULL);
    tgc_module_free(&m);
}
END_TEST

START_TEST(bucket_empty) {
    tgc_module m;
    fixture_mlp_module(&m, TINY, TINY);
    m.train->buckets[1].n_vals = 0;
    expect_rejected(&m, "bucket 1 is empty", NULL);
    m.train->buckets[1].n_vals = 2;
    tgc_module_free(&m);
}
END_TEST

START_TEST(bucket_holds_non_gradient) {
    tgc_module m;
    fixture_mlp_module(&m, TINY, TINY);
    tgc_graph *g = m.train;
    int dl = g->ops[nth_op(g, TGC_OP_SOFTMAX_CE_BWD, 0)].out[0];
    int keep = g->buckets[1].vals[0];
    const int bad[] = {dl, param(g, "fc1.bias"), -1, g->n_vals};
    for (int i = 0; i < 4; i++) {
        g->buckets[1].vals[0] = bad[i];
        char want[80];
        snprintf(want, sizeof want, "bucket 1 holds %%%d, which is not a gradient", bad[i]);
        expect_rejected(&m, want, NULL);
    }
    g->buckets[1].vals[0] = keep;
    expect_accepted(&m);
    tgc_module_free(&m);
}
END_TEST

START_TEST(gradient_in_two_buckets) {
    tgc_module m;
    fixture_mlp_module(&m, TINY, TINY);
    m.train->buckets[1].vals[0] = m.train->buckets[0].vals[0];
    expect_rejected(&m, "is in bucket 0 and again in bucket 1", NULL);
    tgc_module_free(&m);
}
END_TEST

START_TEST(gradient_outside_its_bucket) {
    tgc_module m;
    fixture_mlp_module(&m, TINY, TINY);
    tgc_graph *g = m.train;
    tgc_bucket *b1 = &g->buckets[1];
    int gw = b1->vals[1];
    /* Not in the GRAD slab (the empty buffer slab, so nothing else complains). */
    g->vals[gw].slab = TGC_SLAB_BUFFER;
    expect_rejected(&m, "is not inside bucket 1", "at buffer+", NULL);
    g->vals[gw].slab = TGC_SLAB_GRAD;
    expect_accepted(&m);
    /* Out of order within the bucket. */
    int t = b1->vals[0];
    b1->vals[0] = b1->vals[1];
    b1->vals[1] = t;
    expect_rejected(&m, "is not inside bucket 1", "after its predecessor", NULL);
    b1->vals[1] = b1->vals[0];
    b1->vals[0] = t;
    expect_accepted(&m);
    /* The bucket stops short of its last gradient. */
    b1->bytes -= 64;
    expect_rejected(&m, "is not inside bucket 1", NULL);
    tgc_module_free(&m);
}
END_TEST

START_TEST(bucket_past_its_last_slot) {
    tgc_module m;
    fixture_mlp_module(&m, TINY, TINY);
    tgc_graph *g = m.train;
    /* One more slot: the collective would reduce (or, in the last bucket, run off) memory past the bucket. */
    g->buckets[1].bytes += 64;
    expect_rejected(&m, "bucket 1 [256, 896) has 640 bytes, past the end of its last gradient's slot at 832", NULL);
    g->buckets[1].bytes -= 64;
    g->buckets[0].bytes += 1; /* bucket 1 no longer starts where bucket 0 ends either, but this comes first */
    expect_rejected(&m, "bucket 0 [0, 257) has 257 bytes, past the end", NULL);
    tgc_module_free(&m);
}
END_TEST

/* The DDP race: a bucket marked ready before its last gradient exists reduces a half-written gradient. */
START_TEST(bucket_ready_before_last_gradient) {
    tgc_module m;
    fixture_mlp_module(&m, TINY, TINY);
    tgc_graph *g = m.train;
    tgc_bucket *b0 = &g->buckets[0];
    int first = g->vals[b0->vals[0]].def_op, last = g->vals[b0->vals[1]].def_op;
    ck_assert_int_lt(first, last);
    ck_assert_int_eq(b0->ready_op, last);
    char want[96];
    for (int r = first; r < last; r++) {
        b0->ready_op = r;
        snprintf(want, sizeof want, "bucket 0 is ready after op %d, but its last gradient is produced by op %d", r, last);
        expect_rejected(&m, want, NULL);
    }
    b0->ready_op = -1;
    expect_rejected(&m, "bucket 0 is ready after op -1", NULL);
    /* Later than needed is refused too: ready_op is exactly the last gradient's op. */
    b0->ready_op = last + 1;
    expect_rejected(&m, "bucket 0 is ready after op", "but its last gradient is produced by op", NULL);
    tgc_module_free(&m);
}
END_TEST

START_TEST(buckets_ready_in_order) {
    tgc_module m;
    fixture_mlp_module(&m, TINY, TINY);
    tgc_graph *g = m.train;
    /* Lay the buckets out the other way round: fc1's gradients (produced last) first. Offsets, bytes and
     * ready ops stay consistent; only the order of readiness is wrong. */
    tgc_bucket t = g->buckets[0];
    g->buckets[0] = g->buckets[1];
    g->buckets[1] = t;
    uint64_t off = 0;
    for (int b = 0; b < 2; b++) {
        tgc_bucket *bk = &g->buckets[b];
        bk->offset = off;
        for (int k = 0; k < bk->n_vals; k++) {
            tgc_value *v = &g->vals[bk->vals[k]];
            v->offset = off;
            off = (off + (uint64_t)tgc_shape_numel(&v->type.shape) * 4 + 63) / 64 * 64;
        }
        bk->bytes = off - bk->offset;
    }
    char want[128];
    snprintf(want, sizeof want, "bucket 1 is ready after op %d, before bucket 0 (ready after op %d)",
             g->buckets[1].ready_op, g->buckets[0].ready_op);
    expect_rejected(&m, want, "in order", NULL);
    tgc_module_free(&m);
}
END_TEST

/* The distributed runtime waits for the all-reduces right before the first optimizer update: a schedule
 * that hoists an update above the end of backward makes that update read an unreduced gradient. */
START_TEST(bucket_ready_before_first_update) {
    tgc_module m;
    fixture_mlp_module(&m, TINY, TINY);
    tgc_graph *g = m.train;
    int gb2 = grad(g, "fc2.bias");
    int up = -1;
    for (int k = first_update(g); k < g->n_ops; k++)
        if (g->ops[k].in[1] == gb2) up = k;
    ck_assert_int_ge(up, 0);
    /* Move fc2.bias's update to right after its gradient (a valid order: nothing reads fc2.bias later). */
    int at = g->vals[gb2].def_op + 1;
    int *order = malloc(sizeof(int) * (size_t)g->n_ops);
    int n = 0;
    for (int k = 0; k < at; k++) order[n++] = k;
    order[n++] = up;
    for (int k = at; k < g->n_ops; k++)
        if (k != up) order[n++] = k;
    tgc_ops_reorder(g, order);
    free(order);
    tgc_err err;
    ck_assert_msg(tgc_graph_verify(g, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(first_update(g), at);
    char want[128];
    snprintf(want, sizeof want, "bucket 0 is ready after op %d, not before the first optimizer update (op %d)",
             g->buckets[0].ready_op, at);
    expect_rejected(&m, want, NULL);
    tgc_module_free(&m);
}
END_TEST

/* Between a bucket's ready op and the first update its all-reduce may be rewriting the gradients. */
START_TEST(gradient_read_after_ready) {
    tgc_module m;
    fixture_mlp_module(&m, TINY, TINY);
    tgc_graph *g = m.train;
    int w2 = param(g, "fc2.weight"), gw2 = grad(g, "fc2.weight");
    ck_assert_int_eq(g->buckets[0].ready_op, g->vals[gw2].def_op);
    /* dx = matmul(dlogits, w2^T) runs after bucket 0 is ready; make it read w2's gradient instead (same
     * shape, so the graph stays well typed). */
    int k = nth_op(g, TGC_OP_MATMUL, 3);
    ck_assert_int_eq(g->ops[k].in[1], w2);
    ck_assert_int_gt(k, g->buckets[0].ready_op);
    g->ops[k].in[1] = gw2;
    tgc_err err;
    ck_assert_msg(tgc_graph_verify(g, &err) == 0, "%s", err.msg);
    char want[160];
    snprintf(want, sizeof want, "op %d (matmul) reads gradient %%%d", k, gw2);
    expect_rejected(&m, want, "after bucket 0 is ready", NULL);
    tgc_module_free(&m);
}
END_TEST

START_TEST(every_gradient_in_a_bucket) {
    tgc_module m;
    fixture_mlp_module(&m, TINY, TINY);
    tgc_graph *g = m.train;
    /* Drop fc1.weight's gradient from bucket 1 (the bucket otherwise consistent: bytes, ready op). */
    tgc_bucket *b1 = &g->buckets[1];
    b1->n_vals = 1;
    b1->bytes = 64;
    b1->ready_op = g->vals[b1->vals[0]].def_op;
    expect_rejected(&m, "4 gradients but 3 of them are in buckets", NULL);
    b1->n_vals = 2;
    tgc_module_free(&m);
}
END_TEST

int main(void) {
    Suite *s = suite_create("verify_plan");
    TCase *tc = tcase_create("verify_plan");
    tcase_add_test(tc, clean_plan_passes);
    tcase_add_test(tc, unplaced_value);
    tcase_add_test(tc, offset_overflow);
    tcase_add_test(tc, arena_size);
    tcase_add_test(tc, state_in_arena);
    tcase_add_test(tc, arena_temps_live_together);
    tcase_add_test(tc, result_over_dying_operand);
    tcase_add_test(tc, state_overlaps);
    tcase_add_test(tc, inplace_needs_same_offset);
    tcase_add_test(tc, inplace_only_over_first_operand);
    tcase_add_test(tc, fusion_group_keeps_buffers_live);
    tcase_add_test(tc, bucket_offset);
    tcase_add_test(tc, bucket_empty);
    tcase_add_test(tc, bucket_holds_non_gradient);
    tcase_add_test(tc, gradient_in_two_buckets);
    tcase_add_test(tc, gradient_outside_its_bucket);
    tcase_add_test(tc, bucket_past_its_last_slot);
    tcase_add_test(tc, bucket_ready_before_last_gradient);
    tcase_add_test(tc, buckets_ready_in_order);
    tcase_add_test(tc, bucket_ready_before_first_update);
    tcase_add_test(tc, gradient_read_after_ready);
    tcase_add_test(tc, every_gradient_in_a_bucket);
    suite_add_tcase(s, tc);
    return fixture_run(s);
}
