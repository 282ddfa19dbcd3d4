/* passes/schedule.c - reorders each graph's ops greedily to lower the peak of live arena bytes.
 *
 * memplan places temps optimally for a given op order; this pass picks the order. Among the units (an op,
 * or a whole fusion group kept contiguous) whose operands are all available, it runs the one that frees
 * the most arena bytes (operands dying there) net of the arena bytes it allocates, ties by program order.
 * Classic win: conv2d_bwd_filter(x, dy) runs before conv2d_bwd_data(dy, w), so the forward activation x
 * dies before dx is born.
 *
 * Kept as they were, because other parts of tgc rely on them: ops that update state stay in program order,
 * after every earlier reader of the state and before every later one (the verifier's rule); gradient
 * producers stay in program order, so the buckets (assigned in production order) complete in the same
 * order; everything from the first optimizer update on stays at the end, untouched (the distributed
 * runtime waits for the all-reduces before the first update).
 *
 * The pass computes memplan's lower bound (same liveness, in-place and group rules) for the program order
 * and for two greedy variants (pure, and "earliest op unless one frees memory") and keeps the order with
 * the lowest bound; on equal bounds the one with the least live bytes summed over ops (memory held for
 * less time), the program order on full ties: it never raises the bound. Units that read no arena temp
 * (a fill, the first conv) only add memory, so they run last among the ready ones (else a fill would
 * be hoisted to the program's start and live through the whole forward).
 * On the ResNets measured the peak is where backward starts (every saved activation live), which no
 * reordering of this kind lowers; the gain is in the rest of backward.
 */
#include <stdlib.h>
#include <string.h>

#include "passes/op_order.h"
#include "passes/passes.h"

static uint64_t value_bytes(const tgc_value *v) {
    return (uint64_t)tgc_shape_numel(&v->type.shape) * tgc_dtype_size(v->type.dtype);
}

/* memplan's arena temps: everything an op defines except parameter gradients (the GRAD slab). */
static int is_arena(const tgc_value *v) { return v->kind == TGC_VAL_TEMP && v->grad_of < 0; }

static int is_state(const tgc_value *v) {
    return v->kind == TGC_VAL_PARAM || v->kind == TGC_VAL_BUFFER || v->kind == TGC_VAL_OPTSTATE;
}

/* memplan's lower bound (passes/memplan.c, plan_graph) for the ops run in `order`; *area gets the sum
 * over ops of the bytes live there (the tie-break: less memory held for less time). */
static uint64_t lower_bound(const tgc_graph *g, const int *order, uint64_t *area) {
    int n = g->n_ops, nv = g->n_vals;
    int *pos = tgc_malloc(sizeof(int) * (size_t)(n ? n : 1));
    int *end = tgc_malloc(sizeof(int) * (size_t)(nv ? nv : 1));
    int *buf_of = tgc_malloc(sizeof(int) * (size_t)(nv ? nv : 1));
    int *b_start = tgc_malloc(sizeof(int) * (size_t)(nv ? nv : 1));
    int *b_end = tgc_malloc(sizeof(int) * (size_t)(nv ? nv : 1));
    uint64_t *b_size = tgc_malloc(sizeof(uint64_t) * (size_t)(nv ? nv : 1));
    for (int k = 0; k < n; k++) pos[order[k]] = k;
    for (int v = 0; v < nv; v++) {
        int d = g->vals[v].def_op;
        end[v] = d >= 0 && d < n ? pos[d] : -1;
        buf_of[v] = -1;
    }
    for (int k = 0; k < n; k++) {
        const tgc_op *op = &g->ops[order[k]];
        for (int j = 0; j < op->n_in; j++)
            if (op->in[j] >= 0 && op->in[j] < nv && k > end[op->in[j]]) end[op->in[j]] = k;
    }
    for (int v = 0; v < nv; v++)
        if (g->vals[v].is_output) end[v] = n;
    int nb = 0;
    for (int k = 0; k < n; k++) {
        const tgc_op *op = &g->ops[order[k]];
        for (int r = 0; r < op->n_out; r++) {
            int y = op->out[r];
            if (y < 0 || y >= nv || !is_arena(&g->vals[y])) continue;
            uint64_t sz = value_bytes(&g->vals[y]);
            if (r == 0 && op->n_in > 0 && (tgc_op_table[op->code].flags & TGC_OPF_ELEMENTWISE)) {
                int x = op->in[0];
                if (x >= 0 && x < nv && buf_of[x] >= 0 && end[x] == k && value_bytes(&g->vals[x]) == sz) {
                    buf_of[y] = buf_of[x];
                    if (end[y] > b_end[buf_of[y]]) b_end[buf_of[y]] = end[y];
                    continue;
                }
            }
            buf_of[y] = nb;
            b_start[nb] = k, b_end[nb] = end[y], b_size[nb] = sz;
            nb++;
        }
    }
    /* A group's buffers stay live over the whole group (memplan's extend_over_groups). */
    for (int k = 0; k < n;) {
        int gid = g->ops[order[k]].group, e = k;
        if (gid < 0) {
            k++;
            continue;
        }
        while (e + 1 < n && g->ops[order[e + 1]].group == gid) e++;
        for (int i = k; i <= e; i++) {
            const tgc_op *op = &g->ops[order[i]];
            for (int j = 0; j < op->n_in + op->n_out; j++) {
                int v = j < op->n_in ? op->in[j] : op->out[j - op->n_in];
                int b = v >= 0 && v < nv ? buf_of[v] : -1;
                if (b < 0) continue;
                if (b_start[b] > k) b_start[b] = k;
                if (b_end[b] < e) b_end[b] = e;
            }
        }
        k = e + 1;
    }
    int64_t *delta = tgc_calloc((size_t)n + 2, sizeof(int64_t));
    for (int b = 0; b < nb; b++) {
        delta[b_start[b]] += (int64_t)b_size[b];
        delta[b_end[b] + 1] -= (int64_t)b_size[b];
    }
    int64_t live = 0, peak = 0;
    *area = 0;
    for (int k = 0; k <= n; k++) {
        live += delta[k];
        *area += (uint64_t)live;
        if (live > peak) peak = live;
    }
    free(delta), free(pos), free(end), free(buf_of), free(b_start), free(b_end), free(b_size);
    return (uint64_t)peak;
}

/* The scheduling problem: units [u_first[u], u_first[u+1]) of ops before `tail`, dependency edges in CSR. */
typedef struct sched {
    const tgc_graph *g;
    int tail;     /* ops [tail, n_ops) stay where they are */
    int n_units;
    int *u_first; /* n_units + 1 */
    int *unit_of; /* per op; -1 in the tail */
    int *succ_at, *succ; /* CSR successors */
    int *n_pred;
    int *uses_left0; /* per value: uses among the scheduled ops; INT_MAX/2 if used later or an output */
} sched;

typedef struct edge {
    int from, to;
} edge;

static void add_edge(edge **e, int *n, int *cap, int from, int to) {
    if (from < 0 || to < 0 || from == to) return;
    TGC_GROW(*e, *cap, *n + 1);
    (*e)[(*n)++] = (edge){from, to};
}

static void sched_free(sched *s) {
    free(s->u_first), free(s->unit_of), free(s->succ_at), free(s->succ), free(s->n_pred), free(s->uses_left0);
}

static void sched_build(const tgc_graph *g, sched *s) {
    int n = g->n_ops, nv = g->n_vals;
    memset(s, 0, sizeof *s);
    s->g = g;
    s->tail = n;
    for (int k = 0; k < n; k++)
        if (tgc_op_table[g->ops[k].code].flags & TGC_OPF_OPTIMIZER) {
            s->tail = k;
            break;
        }
    /* the first update's whole group stays in the tail */
    while (s->tail > 0 && s->tail < n && g->ops[s->tail].group >= 0 && g->ops[s->tail - 1].group == g->ops[s->tail].group)
        s->tail--;
    s->u_first = tgc_malloc(sizeof(int) * (size_t)(n + 1));
    s->unit_of = tgc_malloc(sizeof(int) * (size_t)(n ? n : 1));
    for (int k = 0; k < n; k++) {
        s->unit_of[k] = -1;
        if (k >= s->tail) continue;
        if (k > 0 && g->ops[k].group >= 0 && g->ops[k - 1].group == g->ops[k].group) {
            s->unit_of[k] = s->n_units - 1;
            continue;
        }
        s->u_first[s->n_units] = k;
        s->unit_of[k] = s->n_units++;
    }
    s->u_first[s->n_units] = s->tail;

    int ne = 0, cap = 0;
    edge *e = NULL;
    int *last_mut = tgc_malloc(sizeof(int) * (size_t)(nv ? nv : 1));
    for (int v = 0; v < nv; v++) last_mut[v] = -1;
    int last_ordered = -1;
    for (int k = 0; k < s->tail; k++) {
        const tgc_op *op = &g->ops[k];
        int u = s->unit_of[k];
        uint32_t mut = tgc_op_table[op->code].mutates;
        int ordered = mut != 0;
        for (int r = 0; r < op->n_out; r++)
            if (op->out[r] >= 0 && op->out[r] < nv && g->vals[op->out[r]].grad_of >= 0) ordered = 1;
        if (ordered) { /* state updates and gradient producers keep their program order */
            add_edge(&e, &ne, &cap, last_ordered, u);
            last_ordered = u;
        }
        for (int j = 0; j < op->n_in; j++) {
            int v = op->in[j];
            if (v < 0 || v >= nv) continue;
            int d = g->vals[v].def_op;
            if (d >= 0 && d < s->tail) add_edge(&e, &ne, &cap, s->unit_of[d], u);
            if (last_mut[v] >= 0) add_edge(&e, &ne, &cap, last_mut[v], u); /* read after an update */
        }
        for (int j = 0; j < op->n_in; j++)
            if ((mut >> j) & 1 && op->in[j] >= 0 && op->in[j] < nv) last_mut[op->in[j]] = u;
    }
    /* a reader of state comes before the next update of that state */
    for (int v = 0; v < nv; v++) last_mut[v] = -1;
    for (int k = s->tail - 1; k >= 0; k--) {
        const tgc_op *op = &g->ops[k];
        uint32_t mut = tgc_op_table[op->code].mutates;
        for (int j = 0; j < op->n_in; j++) {
            int v = op->in[j];
            if (v >= 0 && v < nv && is_state(&g->vals[v]) && last_mut[v] >= 0)
                add_edge(&e, &ne, &cap, s->unit_of[k], last_mut[v]);
        }
        for (int j = 0; j < op->n_in; j++)
            if ((mut >> j) & 1 && op->in[j] >= 0 && op->in[j] < nv) last_mut[op->in[j]] = s->unit_of[k];
    }
    free(last_mut);

    int nu = s->n_units;
    s->succ_at = tgc_calloc((size_t)nu + 1, sizeof(int));
    s->succ = tgc_malloc(sizeof(int) * (size_t)(ne ? ne : 1));
    s->n_pred = tgc_calloc((size_t)(nu ? nu : 1), sizeof(int));
    for (int i = 0; i < ne; i++) s->succ_at[e[i].from + 1]++, s->n_pred[e[i].to]++;
    for (int u = 0; u < nu; u++) s->succ_at[u + 1] += s->succ_at[u];
    int *fill = tgc_malloc(sizeof(int) * (size_t)(nu ? nu : 1));
    for (int u = 0; u < nu; u++) fill[u] = s->succ_at[u];
    for (int i = 0; i < ne; i++) s->succ[fill[e[i].from]++] = e[i].to;
    free(fill);
    free(e);

    s->uses_left0 = tgc_calloc((size_t)(nv ? nv : 1), sizeof(int));
    for (int k = 0; k < n; k++)
        for (int j = 0; j < g->ops[k].n_in; j++) {
            int v = g->ops[k].in[j];
            if (v < 0 || v >= nv) continue;
            s->uses_left0[v] = k < s->tail && s->uses_left0[v] < (1 << 29) ? s->uses_left0[v] + 1 : (1 << 29);
        }
    for (int v = 0; v < nv; v++)
        if (g->vals[v].is_output) s->uses_left0[v] = 1 << 29;
}

/* Net arena bytes freed by running unit u now: operands whose last uses are in u, less u's results.
 * *source is set when u reads no arena temp from outside (a fill, a first conv): such a unit only adds
 * memory, so it runs as late as possible, when nothing else is ready. */
static int64_t unit_score(const sched *s, int u, const int *uses_left, int *source) {
    const tgc_graph *g = s->g;
    int64_t score = 0;
    *source = 1;
    for (int k = s->u_first[u]; k < s->u_first[u + 1]; k++) {
        const tgc_op *op = &g->ops[k];
        for (int r = 0; r < op->n_out; r++)
            if (is_arena(&g->vals[op->out[r]])) score -= (int64_t)value_bytes(&g->vals[op->out[r]]);
        for (int j = 0; j < op->n_in; j++) {
            int v = op->in[j], d = g->vals[v].def_op;
            if (!is_arena(&g->vals[v]) || (d >= 0 && s->unit_of[d] == u)) continue;
            *source = 0;
            int dup = 0, in_u = 0; /* count v once per unit: its uses inside u */
            for (int k2 = s->u_first[u]; k2 < s->u_first[u + 1]; k2++)
                for (int j2 = 0; j2 < g->ops[k2].n_in; j2++)
                    if (g->ops[k2].in[j2] == v) {
                        if (k2 < k || (k2 == k && j2 < j)) dup = 1;
                        in_u++;
                    }
            if (!dup && in_u == uses_left[v]) score += (int64_t)value_bytes(&g->vals[v]);
        }
    }
    return score;
}

/* Greedy list schedule into order[]; `cautious`: run the earliest ready unit unless one frees memory.
 * Returns -1 if the dependencies have a cycle (cannot happen for a verified graph). */
static int greedy(const sched *s, int cautious, int *order) {
    const tgc_graph *g = s->g;
    int nu = s->n_units, no = 0, rc = 0;
    int *npred = tgc_malloc(sizeof(int) * (size_t)(nu ? nu : 1));
    int *uses_left = tgc_malloc(sizeof(int) * (size_t)(g->n_vals ? g->n_vals : 1));
    int *ready = tgc_malloc(sizeof(int) * (size_t)(nu ? nu : 1));
    memcpy(npred, s->n_pred, sizeof(int) * (size_t)nu);
    memcpy(uses_left, s->uses_left0, sizeof(int) * (size_t)g->n_vals);
    int nr = 0;
    for (int u = 0; u < nu; u++)
        if (npred[u] == 0) ready[nr++] = u;
    for (int step = 0; step < nu; step++) {
        if (nr == 0) {
            rc = -1;
            break;
        }
        int bi = -1, best_src = 1;
        int64_t best = 0;
        for (int i = 0; i < nr; i++) {
            int src;
            int64_t sc = unit_score(s, ready[i], uses_left, &src);
            src = src && sc < 0;
            /* sources rank last and among themselves by program order; others by score, then order */
            int better = bi < 0 || src < best_src ||
                         (src == best_src && (src ? ready[i] < ready[bi]
                                                  : sc > best || (sc == best && ready[i] < ready[bi])));
            if (better) bi = i, best = sc, best_src = src;
        }
        if (cautious && best <= 0)
            for (int i = 0; i < nr; i++) { /* the earliest of the best class (sources or not) */
                int src;
                int64_t sc = unit_score(s, ready[i], uses_left, &src);
                if ((src && sc < 0) == best_src && ready[i] < ready[bi]) bi = i;
            }
        int u = ready[bi];
        ready[bi] = ready[--nr];
        for (int k = s->u_first[u]; k < s->u_first[u + 1]; k++) {
            order[no++] = k;
            for (int j = 0; j < g->ops[k].n_in; j++) uses_left[g->ops[k].in[j]]--;
        }
        for (int i = s->succ_at[u]; i < s->succ_at[u + 1]; i++)
            if (--npred[s->succ[i]] == 0) ready[nr++] = s->succ[i];
    }
    for (int k = s->tail; k < g->n_ops; k++) order[no++] = k;
    free(npred), free(uses_left), free(ready);
    return rc;
}

static int schedule_graph(tgc_graph *g, tgc_err *err) {
    int n = g->n_ops;
    if (n < 2) return 0;
    sched s;
    sched_build(g, &s);
    int *orders[3];
    uint64_t bound[3], area[3];
    for (int i = 0; i < 3; i++) orders[i] = tgc_malloc(sizeof(int) * (size_t)n);
    for (int k = 0; k < n; k++) orders[0][k] = k;
    bound[0] = lower_bound(g, orders[0], &area[0]);
    int best = 0, rc = 0;
    for (int i = 1; i < 3 && rc == 0; i++) {
        if (greedy(&s, i == 2, orders[i]) < 0) {
            rc = tgc_fail(err, "graph %s: the op dependencies have a cycle", g->name);
            break;
        }
        bound[i] = lower_bound(g, orders[i], &area[i]);
        if (bound[i] < bound[best] || (bound[i] == bound[best] && area[i] < area[best])) best = i;
    }
    if (rc == 0 && best != 0) {
        tgc_ops_reorder(g, orders[best]);
        /* a bucket is ready once its last gradient is produced */
        for (int b = 0; b < g->n_buckets; b++) {
            int r = -1;
            for (int i = 0; i < g->buckets[b].n_vals; i++) {
                int v = g->buckets[b].vals[i];
                if (v >= 0 && v < g->n_vals && g->vals[v].def_op > r) r = g->vals[v].def_op;
            }
            g->buckets[b].ready_op = r;
        }
    }
    for (int i = 0; i < 3; i++) free(orders[i]);
    sched_free(&s);
    return rc;
}

int tgc_pass_schedule(tgc_module *m, tgc_err *err) {
    if (m->train && schedule_graph(m->train, err) < 0) return -1;
    if (m->eval && schedule_graph(m->eval, err) < 0) return -1;
    return 0;
}
