/* plan/plan_lower.c - from a planned module to a plan: one tensor table, one program per graph. */
#include <stdlib.h>
#include <string.h>

#include "plan/plan.h"

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

static int is_state(tgc_val_kind k) {
    return k == TGC_VAL_PARAM || k == TGC_VAL_BUFFER || k == TGC_VAL_OPTSTATE;
}

void tgc_plan_free(tgc_plan *p) {
    if (!p) return;
    for (int i = 0; i < p->n_tensors; i++) {
        free(p->tensors[i].name);
        free(p->tensors[i].init.desc);
    }
    free(p->tensors);
    for (int i = 0; i < p->n_programs; i++) {
        tgc_program *pr = &p->programs[i];
        free(pr->name);
        for (int k = 0; k < pr->n_instr; k++) free(pr->instr[k].scope);
        free(pr->instr);
        free(pr->outputs);
        free(pr->inputs);
        for (int b = 0; b < pr->n_buckets; b++) free(pr->buckets[b].tensors);
        free(pr->buckets);
    }
    free(p->programs);
    tgc_cfg_free(p->config);
    free(p->ignored);
    free(p);
}

const tgc_program *tgc_plan_program(const tgc_plan *p, const char *name) {
    for (int i = 0; i < p->n_programs; i++)
        if (p->programs[i].name && strcmp(p->programs[i].name, name) == 0) return &p->programs[i];
    return NULL;
}

typedef struct lowering {
    tgc_plan *p;
    int cap_tensors;
} lowering;

static int add_tensor(lowering *L, const tgc_value *v, char *name /* owned */, int grad_of) {
    TGC_GROW(L->p->tensors, L->cap_tensors, L->p->n_tensors + 1);
    tgc_plan_tensor *t = &L->p->tensors[L->p->n_tensors];
    t->name = name;
    t->kind = v->kind;
    t->type = v->type;
    t->slab = v->slab;
    t->offset = v->offset;
    t->bytes = (uint64_t)tgc_shape_numel(&v->type.shape) * tgc_dtype_size(v->type.dtype);
    t->init = v->init;
    t->init.desc = tgc_strdup(v->init.desc);
    t->grad_of = grad_of;
    t->lr_mult = v->lr_mult;
    t->decay_mult = v->decay_mult;
    return L->p->n_tensors++;
}

/* Lowers one graph into program `pr` named `name` (its inputs and temps are named after it); state tensors
 * are looked up by name in the table (they were all added from the train graph first). */
static int lower_graph(lowering *L, const tgc_graph *g, const char *name, tgc_program *pr, int64_t batch,
                       int n_state, tgc_err *err) {
    tgc_plan *p = L->p;
    int *tix = tgc_malloc(sizeof(int) * (size_t)(g->n_vals ? g->n_vals : 1));
    int rc = 0;
    pr->name = tgc_strdup(name);
    pr->batch = batch;
    pr->mem = g->mem;
    /* State: shared with the table entries made from the first graph. */
    for (int i = 0; i < g->n_vals && rc == 0; i++) {
        const tgc_value *v = &g->vals[i];
        tix[i] = -1;
        if (!is_state(v->kind)) continue;
        for (int t = 0; t < n_state; t++)
            if (v->name && strcmp(p->tensors[t].name, v->name) == 0) tix[i] = t;
        if (tix[i] < 0) {
            rc = tgc_fail(err, "graph %s: state '%s' is not in the train graph", g->name, v->name ? v->name : "?");
        } else {
            const tgc_plan_tensor *t = &p->tensors[tix[i]];
            if (t->kind != v->kind || t->type.dtype != v->type.dtype || !tgc_shape_eq(&t->type.shape, &v->type.shape)) {
                char s1[96], s2[96];
                tgc_shape_str(&v->type.shape, s1, sizeof s1);
                tgc_shape_str(&t->type.shape, s2, sizeof s2);
                rc = tgc_fail(err, "graph %s: state '%s' is %s %s%s here but %s %s%s in the train graph", g->name,
                              v->name, tgc_val_kind_name(v->kind), tgc_dtype_name(v->type.dtype), s1,
                              tgc_val_kind_name(t->kind), tgc_dtype_name(t->type.dtype), s2);
            } else if (t->slab != v->slab || t->offset != v->offset) {
                rc = tgc_fail(err, "graph %s: state '%s' is placed at %s+%llu here but %s+%llu in the train graph",
                              g->name, v->name, tgc_slab_name(v->slab), (unsigned long long)v->offset,
                              tgc_slab_name(t->slab), (unsigned long long)t->offset);
            }
        }
    }
    /* Inputs and temps: this program's own, named after it. */
    for (int i = 0; i < g->n_vals && rc == 0; i++) {
        const tgc_value *v = &g->vals[i];
        if (is_state(v->kind)) continue;
        /* inputs and named outputs by name ("train/inputs", "train/loss_cls"), other temps by number */
        int named = (v->kind == TGC_VAL_INPUT || v->is_output >= TGC_OUTPUT_NAMED) && v->name;
        char *tname = named ? tgc_asprintf("%s/%s", name, v->name) : tgc_asprintf("%s/%%%d", name, v->id);
        tix[i] = add_tensor(L, v, tname, -1);
    }
    /* Gradient links, now that every value has its tensor. */
    for (int i = 0; i < g->n_vals && rc == 0; i++) {
        const tgc_value *v = &g->vals[i];
        if (v->grad_of < 0 || is_state(v->kind)) continue;
        if (v->grad_of >= g->n_vals || tix[v->grad_of] < 0)
            rc = tgc_fail(err, "graph %s: %%%d is the gradient of a missing value %%%d", g->name, i, v->grad_of);
        else
            p->tensors[tix[i]].grad_of = tix[v->grad_of];
    }
    if (rc == 0) {
        pr->n_instr = g->n_ops;
        pr->instr = tgc_calloc((size_t)(g->n_ops ? g->n_ops : 1), sizeof(tgc_instr));
        for (int k = 0; k < g->n_ops; k++) {
            const tgc_op *op = &g->ops[k];
            tgc_instr *in = &pr->instr[k];
            in->code = op->code;
            in->n_in = op->n_in;
            in->n_out = op->n_out;
            for (int j = 0; j < op->n_in; j++) in->in[j] = tix[op->in[j]];
            for (int j = 0; j < op->n_out; j++) in->out[j] = tix[op->out[j]];
            in->attrs = op->attrs;
            in->scope = tgc_strdup(op->scope);
            in->group = op->group;
        }
        /* positional outputs in value order (the loss or logits first), then the named ones in their order */
        int n_named = tgc_graph_named_outputs(g, NULL, 0);
        int *named = tgc_malloc(sizeof(int) * (size_t)(n_named ? n_named : 1));
        tgc_graph_named_outputs(g, named, n_named);
        pr->outputs = tgc_malloc(sizeof(int) * (size_t)(g->n_vals ? g->n_vals : 1));
        for (int i = 0; i < g->n_vals; i++)
            if (g->vals[i].is_output == 1) pr->outputs[pr->n_outputs++] = tix[i];
        for (int k = 0; k < n_named; k++) pr->outputs[pr->n_outputs++] = tix[named[k]];
        free(named);
        for (int i = 0; i < g->n_vals; i++) {
            const tgc_value *v = &g->vals[i];
            if (v->kind == TGC_VAL_INPUT) {
                pr->inputs = tgc_realloc(pr->inputs, sizeof(int) * (size_t)(pr->n_inputs + 1));
                pr->inputs[pr->n_inputs++] = tix[i];
            }
        }
        pr->n_buckets = g->n_buckets;
        pr->buckets = tgc_calloc((size_t)(g->n_buckets ? g->n_buckets : 1), sizeof(tgc_plan_bucket));
        for (int b = 0; b < g->n_buckets; b++) {
            const tgc_bucket *gb = &g->buckets[b];
            tgc_plan_bucket *pb = &pr->buckets[b];
            pb->n = gb->n_vals;
            pb->tensors = tgc_malloc(sizeof(int) * (size_t)(gb->n_vals ? gb->n_vals : 1));
            for (int j = 0; j < gb->n_vals; j++) pb->tensors[j] = tix[gb->vals[j]];
            pb->offset = gb->offset;
            pb->bytes = gb->bytes;
            pb->ready_instr = gb->ready_op;
        }
    }
    free(tix);
    return rc;
}

/* Slab sizes: the end of the furthest tensor or bucket (arena: the largest program's). */
static void slab_sizes(tgc_plan *p) {
    memset(p->slab_bytes, 0, sizeof p->slab_bytes);
    for (int t = 0; t < p->n_tensors; t++) {
        const tgc_plan_tensor *pt = &p->tensors[t];
        if (pt->slab > TGC_SLAB_NONE && pt->slab < TGC_SLAB_COUNT && pt->offset + pt->bytes > p->slab_bytes[pt->slab])
            p->slab_bytes[pt->slab] = pt->offset + pt->bytes;
    }
    for (int k = 0; k < p->n_programs; k++) {
        const tgc_program *pr = &p->programs[k];
        if (pr->mem.arena_bytes > p->slab_bytes[TGC_SLAB_ARENA]) p->slab_bytes[TGC_SLAB_ARENA] = pr->mem.arena_bytes;
        for (int b = 0; b < pr->n_buckets; b++)
            if (pr->buckets[b].offset + pr->buckets[b].bytes > p->slab_bytes[TGC_SLAB_GRAD])
                p->slab_bytes[TGC_SLAB_GRAD] = pr->buckets[b].offset + pr->buckets[b].bytes;
    }
    for (int s = 0; s < TGC_SLAB_COUNT; s++) p->slab_bytes[s] = align_up(p->slab_bytes[s], p->target.alignment);
}

tgc_plan *tgc_plan_from_module(const tgc_module *m, const tgc_cfg *cfg, tgc_err *err) {
    if (!m->train && !m->eval) {
        tgc_fail(err, "plan: the module has no graphs");
        return NULL;
    }
    tgc_plan *p = tgc_calloc(1, sizeof(tgc_plan));
    lowering L = {.p = p};
    p->target = *tgc_module_target(m);
    p->optim = m->optim;
    p->amp = m->amp;
    p->amp.dtype_default = 0;
    p->layout = m->layout;
    p->config = cfg ? tgc_cfg_clone(cfg) : NULL;
    const tgc_graph *graphs[4] = {m->train, m->eval, m->ema, m->precise_bn};
    int64_t batches[4] = {m->train_batch, m->eval_batch, 0, m->train_batch};
    const tgc_graph *first = m->train ? m->train : m->eval;
    /* Every state tensor once, in the first graph's value order. */
    for (int i = 0; i < first->n_vals; i++) {
        const tgc_value *v = &first->vals[i];
        if (!is_state(v->kind)) continue;
        if (!v->name) {
            tgc_fail(err, "graph %s: state value %%%d has no name", first->name, i);
            tgc_plan_free(p);
            return NULL;
        }
        add_tensor(&L, v, tgc_strdup(v->name), -1);
        if (v->kind == TGC_VAL_PARAM) p->params += tgc_shape_numel(&v->type.shape);
    }
    int n_state = p->n_tensors;
    p->programs = tgc_calloc(4, sizeof(tgc_program));
    for (int k = 0; k < 4; k++) {
        if (!graphs[k]) continue;
        tgc_program *pr = &p->programs[p->n_programs];
        int rc = lower_graph(&L, graphs[k], graphs[k]->name, pr, batches[k], n_state, err);
        p->n_programs++; /* counted even on failure so that tgc_plan_free frees what it holds */
        if (rc < 0) {
            tgc_plan_free(p);
            return NULL;
        }
    }
    slab_sizes(p);
    if (m->eval && m->eval_batch > 0) {
        tgc_cost c = tgc_graph_cost(m->eval);
        p->macs_per_sample = c.macs / (double)m->eval_batch;
        p->flops_per_sample = c.flops / (double)m->eval_batch;
    }
    return p;
}

int tgc_plan_add_variant(tgc_plan *p, const tgc_module *m, const char *suffix, tgc_err *err) {
    const tgc_graph *graphs[2] = {m->train, m->eval};
    int64_t batches[2] = {m->train_batch, m->eval_batch};
    const tgc_target *t = tgc_module_target(m);
    if (strcmp(t->name, p->target.name) || t->alignment != p->target.alignment)
        return tgc_fail(err, "plan: the %s programs are compiled for target %s (alignment %u), the plan for %s (%u)",
                        suffix, t->name, t->alignment, p->target.name, p->target.alignment);
    if (m->layout != p->layout)
        return tgc_fail(err, "plan: the %s programs are compiled with layout %s, the plan with %s", suffix,
                        tgc_layout_name(m->layout), tgc_layout_name(p->layout));
    int n_state = 0; /* the state tensors, first in the table (tgc_plan_from_module) */
    while (n_state < p->n_tensors && is_state(p->tensors[n_state].kind)) n_state++;
    uint64_t before[TGC_SLAB_COUNT];
    memcpy(before, p->slab_bytes, sizeof before);
    lowering L = {.p = p, .cap_tensors = p->n_tensors};
    int first = p->n_programs;
    for (int k = 0; k < 2; k++) {
        if (!graphs[k]) continue;
        char *name = tgc_asprintf("%s%s", graphs[k]->name, suffix);
        const tgc_program *base = tgc_plan_program(p, graphs[k]->name);
        int rc = 0;
        if (!base) rc = tgc_fail(err, "plan: program %s has no %s program to be a variant of", name, graphs[k]->name);
        else if (tgc_plan_program(p, name)) rc = tgc_fail(err, "plan: program %s is there already", name);
        if (rc == 0) {
            p->programs = tgc_realloc(p->programs, sizeof(tgc_program) * (size_t)(p->n_programs + 1));
            tgc_program *pr = &p->programs[p->n_programs];
            memset(pr, 0, sizeof *pr);
            rc = lower_graph(&L, graphs[k], name, pr, batches[k], n_state, err);
            p->n_programs++; /* counted even on failure: tgc_plan_free frees what it holds */
        }
        free(name);
        if (rc < 0) return -1;
    }
    /* The shared slabs keep their sizes (the variant's state and gradients lie where the base's do); the
     * arena and the inputs grow to the largest program's. */
    slab_sizes(p);
    for (int s = TGC_SLAB_PARAM; s < TGC_SLAB_COUNT; s++)
        if (p->slab_bytes[s] != before[s]) {
            const char *who = "a bucket";
            for (int i = 0; i < p->n_tensors; i++)
                if (p->tensors[i].slab == (tgc_slab)s && p->tensors[i].offset + p->tensors[i].bytes > before[s])
                    who = p->tensors[i].name;
            return tgc_fail(err, "plan: the %s programs make the %s slab %llu bytes instead of %llu ('%s' ends past it)",
                            suffix, tgc_slab_name((tgc_slab)s), (unsigned long long)p->slab_bytes[s],
                            (unsigned long long)before[s], who);
        }
    for (int k = first; k < p->n_programs; k++) {
        const tgc_program *v = &p->programs[k];
        size_t n = strlen(v->name) - strlen(suffix);
        char *bname = tgc_asprintf("%.*s", (int)n, v->name);
        int rc = tgc_plan_check_variant(p, tgc_plan_program(p, bname), v, err);
        free(bname);
        if (rc < 0) return -1;
    }
    return 0;
}
