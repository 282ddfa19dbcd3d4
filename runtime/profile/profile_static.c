/* runtime/profile/profile_static.c - what the profiler knows before anything runs: instruction costs, arena occupancy. */
#include <stdlib.h>
#include <string.h>

#include "runtime/profile/profile.h"

/* Operand and result indices must name tensors of the plan (a validated plan guarantees it; a profiler
 * must not read out of bounds on any plan). */
static int check_instr(const tgc_plan *plan, const tgc_program *prog, int k, tgc_err *err) {
    const tgc_instr *in = &prog->instr[k];
    if ((unsigned)in->code >= TGC_OP_COUNT || in->n_in < 0 || in->n_in > TGC_MAX_IN || in->n_out < 0 ||
        in->n_out > TGC_MAX_OUT)
        return tgc_fail(err, "profile: program %s, instruction %d is malformed", prog->name, k);
    for (int j = 0; j < in->n_in; j++)
        if (in->in[j] < 0 || in->in[j] >= plan->n_tensors)
            return tgc_fail(err, "profile: program %s, instruction %d reads tensor %d of %d", prog->name, k, in->in[j],
                            plan->n_tensors);
    for (int j = 0; j < in->n_out; j++)
        if (in->out[j] < 0 || in->out[j] >= plan->n_tensors)
            return tgc_fail(err, "profile: program %s, instruction %d writes tensor %d of %d", prog->name, k,
                            in->out[j], plan->n_tensors);
    return 0;
}

/* The op table's cost rules read only the types of the op's values (g->vals[id].type), so a graph whose
 * value i is tensor i of the plan, with nothing else filled in, serves every instruction without
 * re-emitting the program (which plan validation already did). */
int tgc_profile_costs(const tgc_plan *plan, const tgc_program *prog, tgc_cost *out, tgc_err *err) {
    for (int k = 0; k < prog->n_instr; k++)
        if (check_instr(plan, prog, k, err) < 0) return -1;
    tgc_graph g;
    memset(&g, 0, sizeof g);
    g.n_vals = g.cap_vals = plan->n_tensors;
    g.vals = tgc_calloc((size_t)(plan->n_tensors ? plan->n_tensors : 1), sizeof(tgc_value));
    for (int t = 0; t < plan->n_tensors; t++) {
        g.vals[t].id = t;
        g.vals[t].type = plan->tensors[t].type;
        g.vals[t].kind = plan->tensors[t].kind;
    }
    for (int k = 0; k < prog->n_instr; k++) {
        const tgc_instr *in = &prog->instr[k];
        tgc_op op;
        memset(&op, 0, sizeof op);
        op.code = in->code;
        op.n_in = in->n_in;
        op.n_out = in->n_out;
        memcpy(op.in, in->in, sizeof op.in);
        memcpy(op.out, in->out, sizeof op.out);
        op.attrs = in->attrs;
        op.group = in->group;
        memset(&out[k], 0, sizeof out[k]);
        if (tgc_op_table[in->code].cost) tgc_op_table[in->code].cost(&g, &op, &out[k]);
    }
    free(g.vals);
    return 0;
}

typedef struct live_range {
    int start, end; /* instruction indices, inclusive */
    uint64_t off, bytes;
} live_range;

static int cmp_start(const void *a, const void *b) {
    const live_range *x = a, *y = b;
    return (x->start > y->start) - (x->start < y->start);
}

typedef struct span {
    uint64_t off, end;
} span;

static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    return (x->off > y->off) - (x->off < y->off);
}

/* Bytes covered by the union of the spans (sorted here). In-place pairs share their range and count once. */
static uint64_t union_bytes(span *sp, int n) {
    qsort(sp, (size_t)n, sizeof(span), cmp_span);
    uint64_t total = 0, cur_off = 0, cur_end = 0;
    for (int i = 0; i < n; i++) {
        if (i == 0 || sp[i].off > cur_end) {
            total += cur_end - cur_off;
            cur_off = sp[i].off;
            cur_end = sp[i].end;
        } else if (sp[i].end > cur_end) {
            cur_end = sp[i].end;
        }
    }
    return n ? total + (cur_end - cur_off) : 0;
}

int tgc_profile_occupancy(const tgc_plan *plan, const tgc_program *prog, tgc_occupancy *out, tgc_err *err) {
    memset(out, 0, sizeof *out);
    for (int k = 0; k < prog->n_instr; k++)
        if (check_instr(plan, prog, k, err) < 0) return -1;
    size_t nt = (size_t)(plan->n_tensors ? plan->n_tensors : 1);
    int *def = tgc_malloc(sizeof(int) * nt), *last = tgc_malloc(sizeof(int) * nt);
    for (int t = 0; t < plan->n_tensors; t++) def[t] = last[t] = -1;
    /* Live from the defining instruction to the last use; never used: the defining instruction only. */
    for (int k = 0; k < prog->n_instr; k++) {
        const tgc_instr *in = &prog->instr[k];
        for (int j = 0; j < in->n_in; j++) last[in->in[j]] = k;
        for (int j = 0; j < in->n_out; j++)
            if (def[in->out[j]] < 0) def[in->out[j]] = k;
    }
    for (int i = 0; i < prog->n_outputs; i++)
        if (prog->outputs[i] >= 0 && prog->outputs[i] < plan->n_tensors) last[prog->outputs[i]] = prog->n_instr - 1;
    live_range *lr = tgc_malloc(sizeof(live_range) * nt);
    int n = 0;
    for (int t = 0; t < plan->n_tensors; t++) {
        const tgc_plan_tensor *pt = &plan->tensors[t];
        if (def[t] < 0 || pt->slab != TGC_SLAB_ARENA || pt->bytes == 0) continue;
        lr[n++] = (live_range){def[t], last[t] > def[t] ? last[t] : def[t], pt->offset, pt->bytes};
    }
    free(def);
    free(last);
    qsort(lr, (size_t)n, sizeof(live_range), cmp_start);

    out->n_instr = prog->n_instr;
    out->live_bytes = tgc_calloc((size_t)(prog->n_instr ? prog->n_instr : 1), sizeof(uint64_t));
    out->live_tensors = tgc_calloc((size_t)(prog->n_instr ? prog->n_instr : 1), sizeof(int));
    out->peak_instr = -1;
    out->arena_bytes = plan->slab_bytes[TGC_SLAB_ARENA];
    out->lower_bound_bytes = prog->mem.lower_bound_bytes;
    /* Sweep: `active` holds the ranges started so far that have not ended; O(instructions x live). */
    int *active = tgc_malloc(sizeof(int) * (size_t)(n ? n : 1));
    span *sp = tgc_malloc(sizeof(span) * (size_t)(n ? n : 1));
    int n_active = 0, next = 0;
    for (int k = 0; k < prog->n_instr; k++) {
        while (next < n && lr[next].start <= k) active[n_active++] = next++;
        int m = 0;
        for (int a = 0; a < n_active; a++)
            if (lr[active[a]].end >= k) active[m++] = active[a];
        n_active = m;
        for (int a = 0; a < n_active; a++) sp[a] = (span){lr[active[a]].off, lr[active[a]].off + lr[active[a]].bytes};
        out->live_tensors[k] = n_active;
        out->live_bytes[k] = union_bytes(sp, n_active);
        if (out->peak_instr < 0 || out->live_bytes[k] > out->peak_bytes) {
            out->peak_bytes = out->live_bytes[k];
            out->peak_instr = k;
        }
    }
    free(sp);
    free(active);
    free(lr);
    return 0;
}

void tgc_occupancy_free(tgc_occupancy *o) {
    free(o->live_bytes);
    free(o->live_tensors);
    memset(o, 0, sizeof *o);
}
