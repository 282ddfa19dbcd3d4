/* plan/plan_validate.c - structural checks of a loaded plan before anything runs it.
 *
 * Each program is rebuilt as a temporary IR graph (state and inputs as graph values, every instruction
 * re-emitted through the op table so its result types are inferred again and compared with the tensor
 * table), verified with tgc_graph_verify, and its placements checked by the same placement checker the
 * compiler runs (tgc_pass_verify_plan, with the plan's target alignment): so a plan that loads has
 * instructions the executors understand and no two live tensors sharing memory.
 */
#include <stdlib.h>
#include <string.h>

#include "plan/plan.h"

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
    if (t->kind == TGC_VAL_INPUT) return tgc_graph_input(g, t->name, t->type.dtype, t->type.shape);
    tgc_init none = {.kind = TGC_INIT_NONE};
    return tgc_graph_state(g, t->kind, t->name, t->type.dtype, t->type.shape, none);
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
    if (check_indices(p, pr, err) < 0) return tgc_err_prefix(err, "plan: program %s", pr->name);
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

int tgc_plan_check_target(const tgc_plan *p, const char *device, tgc_err *err) {
    size_t n = strcspn(device, ":"); /* "cuda:1" runs plans for cuda */
    if (strlen(p->target.name) == n && !strncmp(p->target.name, device, n)) return 0;
    const tgc_cfg *f = p->config ? tgc_cfg_get(p->config, "filename") : NULL;
    const char *config = f && f->kind == TGC_CFG_STR && f->s ? f->s : "CONFIG";
    return tgc_fail(err, "the plan was compiled for target %s and cannot run on the %.*s device; recompile it for %.*s: "
                    "`tgc compile %s --target %.*s`", p->target.name, (int)n, device, (int)n, device, config, (int)n,
                    device);
}

int tgc_plan_validate(const tgc_plan *p, tgc_err *err) {
    if (check_tensors(p, err) < 0) return -1;
    for (int i = 0; i < p->n_programs; i++) {
        for (int j = 0; j < i; j++)
            if (!strcmp(p->programs[i].name, p->programs[j].name))
                return tgc_fail(err, "plan: two programs named '%s'", p->programs[i].name);
        if (validate_program(p, &p->programs[i], err) < 0) return -1;
    }
    return 0;
}
