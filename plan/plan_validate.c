/* plan/plan_validate.c - structural checks of a loaded plan before anything runs it.
 *
 * Each program is rebuilt as a temporary IR graph (state and inputs as graph values, every instruction
 * re-emitted through the op table so its result types are inferred again and compared with the tensor
 * table, each tensor keeping its layout), verified with tgc_graph_verify (which also holds the layouts to
 * the op table's layout rules), and its placements checked by the same placement checker the
 * compiler runs (tgc_pass_verify_plan, with the plan's target alignment): so a plan that loads has
 * instructions the executors understand and no two live tensors sharing memory.
 *
 * Then the fusion groups (check_groups): the layout every backend that runs a group as one kernel relies
 * on, checked once here for all devices. A backend keeps only the checks of what its own kernels
 * implement (backend/cpu/cpu_fused.c: which ops and dtypes its fused loop handles).
 */
#include <stdlib.h>
#include <string.h>

#include "plan/plan.h"

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

static int check_tensors(const tgc_plan *p, tgc_err *err) {
    uint32_t align = p->target.alignment;
    if (align == 0 || (align & (align - 1)))
        return tgc_fail(err, "plan: target %s: alignment %u is not a power of two", p->target.name, align);
    for (int i = 0; i < p->n_tensors; i++) {
        const tgc_plan_tensor *t = &p->tensors[i];
        if (t->slab <= TGC_SLAB_NONE || t->slab >= TGC_SLAB_COUNT)
            return tgc_fail(err, "plan: tensor %d '%s' is not placed in a slab", i, t->name);
        if (t->offset % align)
            return tgc_fail(err, "plan: tensor %d '%s' at %s+%llu is not aligned to the target's %u bytes", i, t->name,
                            tgc_slab_name(t->slab), (unsigned long long)t->offset, align);
        if (t->grad_of < -1 || t->grad_of >= p->n_tensors)
            return tgc_fail(err, "plan: tensor %d '%s': grad_of %d is outside the %d-entry tensor table", i, t->name,
                            t->grad_of, p->n_tensors);
        if (t->offset > p->slab_bytes[t->slab] || t->bytes > p->slab_bytes[t->slab] - t->offset)
            return tgc_fail(err, "plan: tensor %d '%s' [%llu, %llu) lies outside the %llu-byte %s slab", i, t->name,
                            (unsigned long long)t->offset, (unsigned long long)(t->offset + t->bytes),
                            (unsigned long long)p->slab_bytes[t->slab], tgc_slab_name(t->slab));
        if (t->grad_of >= 0 && p->tensors[t->grad_of].kind != TGC_VAL_PARAM)
            return tgc_fail(err, "plan: tensor %d '%s' is the gradient of '%s', which is not a parameter", i, t->name,
                            p->tensors[t->grad_of].name);
    }
    return 0;
}

/* Adds the value for non-temp tensor t to g (once). */
static int state_value(tgc_graph *g, const tgc_plan_tensor *t) {
    tgc_init none = {.kind = TGC_INIT_NONE};
    int v = t->kind == TGC_VAL_INPUT ? tgc_graph_input(g, t->name, t->type.dtype, t->type.shape)
                                     : tgc_graph_state(g, t->kind, t->name, t->type.dtype, t->type.shape, none);
    g->vals[v].type.layout = t->type.layout; /* row-major, or the verifier says which */
    return v;
}

static void drop_buckets(tgc_graph *g) {
    for (int b = 0; b < g->n_buckets; b++) free(g->buckets[b].vals);
    free(g->buckets);
    g->buckets = NULL;
    g->n_buckets = 0;
}

/* Every index a program holds lies in the tensor table and every opcode in the op table: the reader
 * checks them in a file, and this makes a plan built or changed in memory as safe to validate. */
static int check_indices(const tgc_plan *p, const tgc_program *pr, tgc_err *err) {
    int nt = p->n_tensors;
    for (int k = 0; k < pr->n_instr; k++) {
        const tgc_instr *in = &pr->instr[k];
        if ((unsigned)in->code >= TGC_OP_COUNT) return tgc_fail(err, "instruction %d has unknown opcode %d", k, (int)in->code);
        const char *op = tgc_op_table[in->code].name;
        if (in->n_in < 0 || in->n_in > TGC_MAX_IN || in->n_out < 0 || in->n_out > TGC_MAX_OUT)
            return tgc_fail(err, "instruction %d (%s) has %d operands and %d results", k, op, in->n_in, in->n_out);
        for (int j = 0; j < in->n_in; j++)
            if (in->in[j] < 0 || in->in[j] >= nt)
                return tgc_fail(err, "instruction %d (%s): operand %d is tensor %d, outside the %d-entry tensor table",
                                k, op, j, in->in[j], nt);
        for (int j = 0; j < in->n_out; j++)
            if (in->out[j] < 0 || in->out[j] >= nt)
                return tgc_fail(err, "instruction %d (%s): result %d is tensor %d, outside the %d-entry tensor table",
                                k, op, j, in->out[j], nt);
    }
    const struct {
        const char *what;
        int n;
        const int *v;
    } lists[2] = {{"input", pr->n_inputs, pr->inputs}, {"output", pr->n_outputs, pr->outputs}};
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < lists[l].n; i++)
            if (lists[l].v[i] < 0 || lists[l].v[i] >= nt)
                return tgc_fail(err, "%s %d is tensor %d, outside the %d-entry tensor table", lists[l].what, i,
                                lists[l].v[i], nt);
    for (int b = 0; b < pr->n_buckets; b++)
        for (int j = 0; j < pr->buckets[b].n; j++)
            if (pr->buckets[b].tensors[j] < 0 || pr->buckets[b].tensors[j] >= nt)
                return tgc_fail(err, "bucket %d: entry %d is tensor %d, outside the %d-entry tensor table", b, j,
                                pr->buckets[b].tensors[j], nt);
    return 0;
}

static int validate_program(const tgc_plan *p, const tgc_program *pr, tgc_err *err) {
    tgc_graph *g = tgc_graph_new(pr->name);
    int *vid = tgc_malloc(sizeof(int) * (size_t)(p->n_tensors ? p->n_tensors : 1));
    for (int t = 0; t < p->n_tensors; t++) vid[t] = -1;
    int rc = 0;
    /* Inputs and state first (the IR keeps them ahead of temps), in tensor order. */
    unsigned char *used = tgc_calloc((size_t)(p->n_tensors ? p->n_tensors : 1), 1);
    for (int k = 0; k < pr->n_instr; k++)
        for (int j = 0; j < pr->instr[k].n_in; j++) used[pr->instr[k].in[j]] = 1;
    for (int i = 0; i < pr->n_inputs; i++) used[pr->inputs[i]] = 1;
    for (int t = 0; t < p->n_tensors; t++)
        if (used[t] && p->tensors[t].kind != TGC_VAL_TEMP) vid[t] = state_value(g, &p->tensors[t]);
    free(used);
    for (int i = 0; i < pr->n_inputs && rc == 0; i++)
        if (p->tensors[pr->inputs[i]].kind != TGC_VAL_INPUT)
            rc = tgc_fail(err, "input '%s' is not an input tensor", p->tensors[pr->inputs[i]].name);

    for (int k = 0; k < pr->n_instr && rc == 0; k++) {
        const tgc_instr *in = &pr->instr[k];
        const tgc_op_info *info = &tgc_op_table[in->code];
        int ins[TGC_MAX_IN], outs[TGC_MAX_OUT];
        for (int j = 0; j < in->n_in && rc == 0; j++) {
            ins[j] = vid[in->in[j]];
            if (ins[j] < 0)
                rc = tgc_fail(err, "instruction %d (%s) reads '%s' before it is written", k, info->name,
                              p->tensors[in->in[j]].name);
        }
        if (rc) break;
        if (in->n_out != info->n_out) {
            rc = tgc_fail(err, "instruction %d (%s) has %d results, the op has %d", k, info->name, in->n_out,
                          info->n_out);
            break;
        }
        tgc_err e2;
        if (tgc_emit(g, in->code, ins, in->n_in, &in->attrs, in->scope, outs, &e2) < 0) {
            rc = tgc_fail(err, "instruction %d: %s", k, e2.msg);
            break;
        }
        g->ops[g->n_ops - 1].group = in->group;
        for (int j = 0; j < in->n_out && rc == 0; j++) {
            int t = in->out[j];
            const tgc_plan_tensor *pt = &p->tensors[t];
            tgc_value *v = &g->vals[outs[j]];
            if (pt->kind != TGC_VAL_TEMP || vid[t] >= 0) {
                rc = tgc_fail(err, "instruction %d (%s) writes '%s', which is %s", k, info->name, pt->name,
                              pt->kind != TGC_VAL_TEMP ? "not a temporary" : "already written");
                break;
            }
            if (v->type.dtype != pt->type.dtype || !tgc_shape_eq(&v->type.shape, &pt->type.shape)) {
                char s1[96], s2[96];
                tgc_shape_str(&v->type.shape, s1, sizeof s1);
                tgc_shape_str(&pt->type.shape, s2, sizeof s2);
                rc = tgc_fail(err, "instruction %d (%s): result '%s' is %s%s in the tensor table but the op gives %s%s",
                              k, info->name, pt->name, tgc_dtype_name(pt->type.dtype), s2,
                              tgc_dtype_name(v->type.dtype), s1);
                break;
            }
            /* the tensor's layout: tgc_graph_verify holds it to the op's layout rules (ir/verify.c) */
            v->type.layout = pt->type.layout;
            vid[t] = outs[j];
            free(v->name);
            v->name = tgc_strdup(pt->name); /* so that checker messages name the tensor */
        }
    }
    for (int i = 0; i < pr->n_outputs && rc == 0; i++) {
        int v = vid[pr->outputs[i]];
        if (v < 0) rc = tgc_fail(err, "output '%s' is never written", p->tensors[pr->outputs[i]].name);
        else g->vals[v].is_output = 1;
    }
    /* Placement, gradient links and buckets, as the compiler had them. */
    for (int t = 0; t < p->n_tensors && rc == 0; t++) {
        if (vid[t] < 0) continue;
        tgc_value *v = &g->vals[vid[t]];
        v->slab = p->tensors[t].slab;
        v->offset = p->tensors[t].offset;
        int gof = p->tensors[t].grad_of;
        if (gof >= 0) {
            if (vid[gof] < 0) rc = tgc_fail(err, "gradient '%s' of '%s', which the program does not use",
                                            p->tensors[t].name, p->tensors[gof].name);
            else v->grad_of = vid[gof];
        }
    }
    if (rc == 0) rc = tgc_graph_verify(g, err);
    if (rc == 0 && pr->n_buckets > 0) {
        g->buckets = tgc_calloc((size_t)pr->n_buckets, sizeof(tgc_bucket));
        g->n_buckets = pr->n_buckets;
        for (int b = 0; b < pr->n_buckets && rc == 0; b++) {
            const tgc_plan_bucket *pb = &pr->buckets[b];
            tgc_bucket *gb = &g->buckets[b];
            gb->vals = tgc_malloc(sizeof(int) * (size_t)(pb->n ? pb->n : 1));
            gb->n_vals = pb->n;
            gb->offset = pb->offset;
            gb->bytes = pb->bytes;
            gb->ready_op = pb->ready_instr;
            for (int j = 0; j < pb->n && rc == 0; j++) {
                gb->vals[j] = vid[pb->tensors[j]];
                if (gb->vals[j] < 0)
                    rc = tgc_fail(err, "bucket %d holds '%s', which the program never writes", b,
                                  p->tensors[pb->tensors[j]].name);
            }
        }
    }
    if (rc == 0) {
        g->mem.arena_bytes = p->slab_bytes[TGC_SLAB_ARENA];
        tgc_module m = {.train = g, .target = &p->target};
        rc = tgc_pass_verify_plan(&m, err);
    }
    if (rc < 0) tgc_err_prefix(err, "plan: program %s", pr->name);
    drop_buckets(g);
    tgc_graph_free(g);
    free(vid);
    return rc;
}

/* ---- fusion groups ------------------------------------------------------------------------------- */

static const char *tname(const tgc_plan *p, int t) { return p->tensors[t].name ? p->tensors[t].name : "?"; }

/* A run of optimizer updates [k, e) run as one update over each operand's whole range (PyTorch's
 * multi-tensor idea): one opcode, equal attributes, the same scalar (lr, step) operands, and each tensor
 * operand's tensors back to back in aligned slots of one state slab, in the same order and at the same
 * relative offsets as the parameters (passes/fuse_optimizer.c, passes/memplan.c). The rest follows from
 * the other checks: inference gives every tensor operand the parameter's type, and with every offset
 * aligned and no two state tensors overlapping (verify-plan), no other tensor lies in a group's range
 * and the ranges of two operands do not overlap. */
static int check_update_group(const tgc_plan *p, const tgc_program *pr, int k, int e, tgc_err *err) {
    const tgc_instr *i0 = &pr->instr[k];
    const tgc_op_info *info = &tgc_op_table[i0->code];
    int gid = i0->group;
    uint64_t align = p->target.alignment, delta = 0;
    for (int i = k; i < e; i++) {
        const tgc_instr *in = &pr->instr[i];
        const char *op = tgc_op_table[in->code].name;
        if (in->code != i0->code || in->n_in != i0->n_in)
            return tgc_fail(err, "instruction %d (%s) in optimizer group %d is not a %s like instruction %d", i, op, gid,
                            info->name, k);
        const char *diff = tgc_attrs_diff(info->attrs, &in->attrs, &i0->attrs);
        if (diff)
            return tgc_fail(err, "instruction %d (%s) in optimizer group %d: attribute %s differs from instruction %d",
                            i, op, gid, diff, k);
        if (i > k) delta = align_up(delta + p->tensors[pr->instr[i - 1].in[0]].bytes, align);
        for (int j = 0; j < in->n_in; j++) {
            const tgc_plan_tensor *t = &p->tensors[in->in[j]], *t0 = &p->tensors[i0->in[j]];
            if (t->type.shape.rank == 0 || t0->type.shape.rank == 0) {
                if (in->in[j] != i0->in[j])
                    return tgc_fail(err, "instruction %d (%s) in optimizer group %d: operand %d is '%s', not the "
                                    "group's shared scalar '%s'", i, op, gid, j, t->name, t0->name);
                continue;
            }
            if (t->slab == TGC_SLAB_ARENA || t->slab != t0->slab)
                return tgc_fail(err, "instruction %d (%s) in optimizer group %d: operand %d '%s' is in the %s slab, "
                                "the group's first in the %s slab (a group's operands stay in one state slab each)", i,
                                op, gid, j, t->name, tgc_slab_name(t->slab), tgc_slab_name(t0->slab));
            if (t->offset != t0->offset + delta)
                return tgc_fail(err, "instruction %d (%s) in optimizer group %d: operand %d '%s' is at %s+%llu, expected "
                                "%s+%llu: a group's tensors sit back to back in %llu-byte slots, in the same order in "
                                "every slab", i, op, gid, j, t->name, tgc_slab_name(t->slab),
                                (unsigned long long)t->offset, tgc_slab_name(t->slab),
                                (unsigned long long)(t0->offset + delta), (unsigned long long)align);
        }
    }
    return 0;
}

typedef struct span_ref {
    int slab;
    uint64_t off, end;
    size_t esize;
    int written, instr, tensor;
} span_ref;

static int cmp_span_ref(const void *a, const void *b) {
    const span_ref *x = a, *y = b;
    if (x->slab != y->slab) return x->slab < y->slab ? -1 : 1;
    if (x->off != y->off) return x->off < y->off ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    if (x->esize != y->esize) return x->esize < y->esize ? -1 : 1;
    if (x->written != y->written) return x->written ? -1 : 1; /* of equal ranges, a written one first */
    return (x->instr > y->instr) - (x->instr < y->instr);
}

/* A run of elementwise instructions [k, e) run chunk by chunk (every instruction on one chunk, then the
 * next): each is an elementwise op with one result of the group's element count (inference gives its
 * operands that count, bias_add's bias excepted), and the tensors the group reads and writes overlap only
 * exactly, element for element (in place), unless neither is written: otherwise a chunk would read what
 * another chunk already overwrote. Liveness alone (verify-plan) does not show this: a tensor that dies
 * inside the group may share memory with one born later in it; memplan keeps every tensor a group touches
 * live over the whole group so that this never happens. */
static int check_elementwise_group(const tgc_plan *p, const tgc_program *pr, int k, int e, tgc_err *err) {
    int gid = pr->instr[k].group, rc = 0;
    int64_t n = -1;
    span_ref *sp = tgc_malloc(sizeof(span_ref) * (size_t)(e - k) * (TGC_MAX_IN + TGC_MAX_OUT));
    int ns = 0;
    for (int i = k; i < e && rc == 0; i++) {
        const tgc_instr *in = &pr->instr[i];
        const char *op = tgc_op_table[in->code].name;
        if (!(tgc_op_table[in->code].flags & TGC_OPF_ELEMENTWISE) || in->n_out != 1) {
            rc = tgc_fail(err, "instruction %d (%s) in fusion group %d is not an elementwise op with one result", i, op,
                          gid);
            break;
        }
        const tgc_plan_tensor *y = &p->tensors[in->out[0]];
        if (n < 0) n = tgc_shape_numel(&y->type.shape);
        if (tgc_shape_numel(&y->type.shape) != n) {
            rc = tgc_fail(err, "instruction %d (%s) in fusion group %d: result '%s' has %lld elements, the group %lld", i,
                          op, gid, y->name, (long long)tgc_shape_numel(&y->type.shape), (long long)n);
            break;
        }
        for (int j = 0; j < in->n_in + 1; j++) {
            int t = j < in->n_in ? in->in[j] : in->out[0];
            const tgc_plan_tensor *pt = &p->tensors[t];
            sp[ns++] = (span_ref){pt->slab, pt->offset, pt->offset + pt->bytes, tgc_dtype_size(pt->type.dtype),
                                  j == in->n_in, i, t};
        }
    }
    if (rc == 0) {
        /* Sorted by slab and offset, a range overlaps an earlier one iff it starts before that one's end. */
        qsort(sp, (size_t)ns, sizeof *sp, cmp_span_ref);
        int far = -1, far_w = -1; /* the earlier range reaching furthest, of all / of the written ones */
        for (int a = 0; a < ns && rc == 0; a++) {
            const span_ref *x = &sp[a];
            if (x->end == x->off) continue;
            if (a > 0 && sp[a - 1].slab == x->slab && sp[a - 1].off == x->off && sp[a - 1].end == x->end &&
                sp[a - 1].esize == x->esize)
                continue; /* the same elements (in place, or read twice): checked as the first of them */
            if (far >= 0 && sp[far].slab != x->slab) far = far_w = -1;
            const span_ref *hit = NULL;
            if (far_w >= 0 && sp[far_w].end > x->off) hit = &sp[far_w];
            else if (x->written && far >= 0 && sp[far].end > x->off) hit = &sp[far];
            if (hit)
                rc = tgc_fail(err, "fusion group %d (instructions %d-%d): '%s' [%llu, %llu) (instruction %d) and '%s' "
                              "[%llu, %llu) (instruction %d) overlap in the %s slab other than element for element",
                              gid, k, e - 1, tname(p, hit->tensor), (unsigned long long)hit->off,
                              (unsigned long long)hit->end, hit->instr, tname(p, x->tensor),
                              (unsigned long long)x->off, (unsigned long long)x->end, x->instr,
                              tgc_slab_name((tgc_slab)x->slab));
            if (far < 0 || sp[far].end < x->end) far = a;
            if (x->written && (far_w < 0 || sp[far_w].end < x->end)) far_w = a;
        }
    }
    free(sp);
    return rc;
}

typedef struct group_run {
    int id, start;
} group_run;

static int cmp_group_run(const void *a, const void *b) {
    const group_run *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return (x->start > y->start) - (x->start < y->start);
}

/* Group ids: -1 (none) or an id whose instructions are consecutive; then each group's own rules. */
static int check_groups(const tgc_plan *p, const tgc_program *pr, tgc_err *err) {
    group_run *runs = tgc_malloc(sizeof(group_run) * (size_t)(pr->n_instr ? pr->n_instr : 1));
    int nr = 0, rc = 0;
    for (int k = 0; k < pr->n_instr && rc == 0;) {
        int g = pr->instr[k].group, e = k + 1;
        if (g < -1) {
            rc = tgc_fail(err, "instruction %d (%s) has group id %d (-1 or a group number)", k,
                          tgc_op_table[pr->instr[k].code].name, g);
            break;
        }
        if (g < 0) {
            k++;
            continue;
        }
        while (e < pr->n_instr && pr->instr[e].group == g) e++;
        runs[nr++] = (group_run){g, k};
        if (tgc_op_table[pr->instr[k].code].flags & TGC_OPF_OPTIMIZER) rc = check_update_group(p, pr, k, e, err);
        else rc = check_elementwise_group(p, pr, k, e, err);
        k = e;
    }
    if (rc == 0) {
        qsort(runs, (size_t)nr, sizeof *runs, cmp_group_run);
        for (int i = 1; i < nr && rc == 0; i++)
            if (runs[i].id == runs[i - 1].id)
                rc = tgc_fail(err, "instruction %d (%s) is in fusion group %d, whose instructions from %d end before it: "
                              "a group's instructions must be consecutive", runs[i].start,
                              tgc_op_table[pr->instr[runs[i].start].code].name, runs[i].id, runs[i - 1].start);
    }
    free(runs);
    return rc;
}

int tgc_plan_check_target(const tgc_plan *p, const char *device, tgc_err *err) {
    size_t n = strcspn(device, ":"); /* "cuda:1" runs plans for cuda */
    if (strlen(p->target.name) == n && !strncmp(p->target.name, device, n)) return 0;
    const tgc_cfg *f = p->config ? tgc_cfg_get(p->config, "filename") : NULL;
    const char *config = f && f->kind == TGC_CFG_STR && f->s ? f->s : "CONFIG";
    return tgc_fail(err, "the plan was compiled for target %s and cannot run on the %.*s device; recompile it for %.*s: "
                    "`tgc compile %s --target %.*s`", p->target.name, (int)n, device, (int)n, device, config, (int)n,
                    device);
}

/* ---- variants (the portrait programs) ------------------------------------------------------------- */

static const char *local_name(const char *name) { /* "train_portrait/inputs" -> "inputs" */
    const char *s = name ? strchr(name, '/') : NULL;
    return s ? s + 1 : name ? name : "?";
}

/* The gradient a program writes for each parameter: grad[param] = tensor index, or -1. */
static void program_grads(const tgc_plan *p, const tgc_program *pr, int *grad) {
    for (int t = 0; t < p->n_tensors; t++) grad[t] = -1;
    for (int k = 0; k < pr->n_instr; k++)
        for (int j = 0; j < pr->instr[k].n_out; j++) {
            int t = pr->instr[k].out[j];
            if (t >= 0 && t < p->n_tensors && p->tensors[t].grad_of >= 0) grad[p->tensors[t].grad_of] = t;
        }
}

static int check_variant_tensors(const tgc_plan *p, const char *what, int n, const int *bt, const int *vt,
                                 tgc_err *err) {
    for (int i = 0; i < n; i++) {
        const tgc_plan_tensor *b = &p->tensors[bt[i]], *v = &p->tensors[vt[i]];
        if (strcmp(local_name(b->name), local_name(v->name)) || b->type.dtype != v->type.dtype ||
            b->type.shape.rank != v->type.shape.rank)
            return tgc_fail(err, "%s %d is '%s' (%s, rank %d) but '%s' (%s, rank %d) in the base program", what, i,
                            v->name, tgc_dtype_name(v->type.dtype), v->type.shape.rank, b->name,
                            tgc_dtype_name(b->type.dtype), b->type.shape.rank);
    }
    return 0;
}

/* Both orientations' train programs are steps of one model: a rank running either takes part in the same
 * gradient all-reduces, so the buckets (tensors by parameter, offsets, sizes, order) and every gradient's
 * place in the grad slab are the base program's; inputs and outputs have its names, dtypes and ranks. */
static int check_variant(const tgc_plan *p, const tgc_program *base, const tgc_program *var, tgc_err *err) {
    if (base->batch != var->batch)
        return tgc_fail(err, "batch %lld, the base program's %lld", (long long)var->batch, (long long)base->batch);
    if (base->n_inputs != var->n_inputs || base->n_outputs != var->n_outputs)
        return tgc_fail(err, "%d inputs and %d outputs, the base program %d and %d", var->n_inputs, var->n_outputs,
                        base->n_inputs, base->n_outputs);
    if (check_variant_tensors(p, "input", var->n_inputs, base->inputs, var->inputs, err) < 0 ||
        check_variant_tensors(p, "output", var->n_outputs, base->outputs, var->outputs, err) < 0)
        return -1;
    if (base->n_buckets != var->n_buckets)
        return tgc_fail(err, "%d gradient buckets, the base program %d", var->n_buckets, base->n_buckets);
    for (int b = 0; b < var->n_buckets; b++) {
        const tgc_plan_bucket *x = &base->buckets[b], *y = &var->buckets[b];
        if (x->offset != y->offset || x->bytes != y->bytes || x->n != y->n)
            return tgc_fail(err, "bucket %d is %llu bytes at grad+%llu with %d tensors, in the base program %llu bytes "
                            "at grad+%llu with %d", b, (unsigned long long)y->bytes, (unsigned long long)y->offset, y->n,
                            (unsigned long long)x->bytes, (unsigned long long)x->offset, x->n);
        for (int j = 0; j < y->n; j++) {
            const tgc_plan_tensor *tx = &p->tensors[x->tensors[j]], *ty = &p->tensors[y->tensors[j]];
            if (tx->grad_of != ty->grad_of || tx->offset != ty->offset || tx->bytes != ty->bytes || tx->slab != ty->slab)
                return tgc_fail(err, "bucket %d entry %d is '%s' at %s+%llu, in the base program '%s' at %s+%llu", b, j,
                                ty->name, tgc_slab_name(ty->slab), (unsigned long long)ty->offset, tx->name,
                                tgc_slab_name(tx->slab), (unsigned long long)tx->offset);
        }
    }
    int *gb = tgc_malloc(sizeof(int) * (size_t)(p->n_tensors ? p->n_tensors : 1));
    int *gv = tgc_malloc(sizeof(int) * (size_t)(p->n_tensors ? p->n_tensors : 1));
    program_grads(p, base, gb);
    program_grads(p, var, gv);
    int rc = 0;
    for (int t = 0; t < p->n_tensors && rc == 0; t++) {
        if (gb[t] < 0 && gv[t] < 0) continue;
        const tgc_plan_tensor *x = gb[t] >= 0 ? &p->tensors[gb[t]] : NULL, *y = gv[t] >= 0 ? &p->tensors[gv[t]] : NULL;
        if (!x || !y)
            rc = tgc_fail(err, "'%s' has a gradient in %s only", p->tensors[t].name, x ? "the base program" : "this program");
        else if (x->slab != y->slab || x->offset != y->offset || x->bytes != y->bytes)
            rc = tgc_fail(err, "gradient '%s' of '%s' is at %s+%llu (%llu bytes), in the base program '%s' at %s+%llu "
                          "(%llu bytes)", y->name, p->tensors[t].name, tgc_slab_name(y->slab),
                          (unsigned long long)y->offset, (unsigned long long)y->bytes, x->name, tgc_slab_name(x->slab),
                          (unsigned long long)x->offset, (unsigned long long)x->bytes);
    }
    free(gb);
    free(gv);
    return rc;
}

int tgc_plan_check_variant(const tgc_plan *p, const tgc_program *base, const tgc_program *var, tgc_err *err) {
    if (!base) return tgc_fail(err, "plan: program %s: no base program (the name without its orientation)", var->name);
    if (check_indices(p, base, err) < 0 || check_indices(p, var, err) < 0 || check_variant(p, base, var, err) < 0)
        return tgc_err_prefix(err, "plan: program %s, a variant of %s", var->name, base->name);
    return 0;
}

int tgc_plan_validate(const tgc_plan *p, tgc_err *err) {
    if (check_tensors(p, err) < 0) return -1;
    for (int i = 0; i < p->n_programs; i++) {
        for (int j = 0; j < i; j++)
            if (!strcmp(p->programs[i].name, p->programs[j].name))
                return tgc_fail(err, "plan: two programs named '%s'", p->programs[i].name);
        /* Indices first (everything after reads through them), then the groups' own rules, whose messages
         * say more than the overlap the placement checker would find for the same corruption. */
        const tgc_program *pr = &p->programs[i];
        if (check_indices(p, pr, err) < 0 || check_groups(p, pr, err) < 0)
            return tgc_err_prefix(err, "plan: program %s", pr->name);
        if (validate_program(p, pr, err) < 0) return -1;
    }
    /* Each portrait program against the program of the same name without the suffix. */
    size_t ns = strlen(TGC_PLAN_PORTRAIT);
    for (int i = 0; i < p->n_programs; i++) {
        const char *name = p->programs[i].name;
        size_t n = strlen(name);
        if (n <= ns || strcmp(name + n - ns, TGC_PLAN_PORTRAIT)) continue;
        const tgc_program *base = NULL;
        for (int j = 0; j < p->n_programs; j++)
            if (strlen(p->programs[j].name) == n - ns && !strncmp(p->programs[j].name, name, n - ns)) base = &p->programs[j];
        if (tgc_plan_check_variant(p, base, &p->programs[i], err) < 0) return -1;
    }
    return 0;
}
