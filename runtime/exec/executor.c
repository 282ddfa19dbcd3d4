/* runtime/exec/executor.c - slabs, state initialisation and instruction dispatch for a loaded plan (CPU). */
#include "runtime/exec/executor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"
#include "runtime/data/data.h"

#define SLAB_ALIGN 64
#define TWO_PI 6.283185307179586

/* One instruction with its operand pointers and types resolved once, at load. */
typedef struct bound_instr {
    const tgc_instr *ins;
    void *in[TGC_MAX_IN];
    void *out[TGC_MAX_OUT];
    tgc_type in_t[TGC_MAX_IN];
    tgc_type out_t[TGC_MAX_OUT];
    const tgc_plan_bucket **buckets; /* buckets completed by this instruction (owned array, may be NULL) */
    int n_buckets;
    tgc_cpu_fused *fused; /* owned; set on the first instruction of a fusion group run as one kernel */
    int run;              /* the instructions that kernel covers */
} bound_instr;

typedef struct bound_program {
    const tgc_program *prog;
    bound_instr *instr; /* owned, prog->n_instr of them */
    int first_opt;      /* index of the first optimizer update, n_instr when there is none */
} bound_program;

struct tgc_exec {
    const tgc_plan *plan;
    tgc_cpu *cpu;
    uint8_t *slab[TGC_SLAB_COUNT]; /* owned, 64-byte aligned */
    bound_program *progs;         /* owned, plan->n_programs of them */
    tgc_bucket_fn on_bucket;
    void *bucket_ctx;
    tgc_instr_fn on_instr;
    void *instr_ctx;
    tgc_grads_ready_fn on_grads_ready;
    void *grads_ready_ctx;
};

void *tgc_exec_data(const tgc_exec *x, int tensor) {
    const tgc_plan_tensor *t = &x->plan->tensors[tensor];
    return x->slab[t->slab] + t->offset;
}

const tgc_plan_tensor *tgc_exec_tensor(const tgc_exec *x, int tensor) { return &x->plan->tensors[tensor]; }

static const bound_program *find_program(const tgc_exec *x, const char *name) {
    for (int i = 0; i < x->plan->n_programs; i++)
        if (strcmp(x->progs[i].prog->name, name) == 0) return &x->progs[i];
    return NULL;
}

int tgc_exec_input(const tgc_exec *x, const char *program, const char *name) {
    const bound_program *bp = find_program(x, program);
    if (!bp) return -1;
    size_t plen = strlen(program);
    for (int i = 0; i < bp->prog->n_inputs; i++) {
        const char *tn = x->plan->tensors[bp->prog->inputs[i]].name;
        /* Inputs are named "<program>/<name>" in the tensor table. */
        if (tn && strncmp(tn, program, plen) == 0 && tn[plen] == '/' && strcmp(tn + plen + 1, name) == 0)
            return bp->prog->inputs[i];
    }
    return -1;
}

int tgc_exec_output(const tgc_exec *x, const char *program) {
    const bound_program *bp = find_program(x, program);
    return bp && bp->prog->n_outputs > 0 ? bp->prog->outputs[0] : -1;
}

void tgc_exec_on_bucket(tgc_exec *x, tgc_bucket_fn fn, void *ctx) {
    x->on_bucket = fn;
    x->bucket_ctx = ctx;
}

void tgc_exec_on_instr(tgc_exec *x, tgc_instr_fn fn, void *ctx) {
    x->on_instr = fn;
    x->instr_ctx = ctx;
}

void tgc_exec_on_grads_ready(tgc_exec *x, tgc_grads_ready_fn fn, void *ctx) {
    x->on_grads_ready = fn;
    x->grads_ready_ctx = ctx;
}

void *tgc_exec_slab(const tgc_exec *x, tgc_slab s, uint64_t *bytes) {
    if (bytes) *bytes = (unsigned)s < TGC_SLAB_COUNT ? x->plan->slab_bytes[s] : 0;
    return (unsigned)s < TGC_SLAB_COUNT ? x->slab[s] : NULL;
}

/* Fusion groups (consecutive instructions with one group id >= 0) that the CPU backend can run as one
 * kernel; a group it declines runs instruction by instruction, which is always correct. */
static void bind_groups(bound_program *bp) {
    const tgc_program *p = bp->prog;
    for (int i = 0; i < p->n_instr;) {
        int g = p->instr[i].group, e = i + 1;
        while (g >= 0 && e < p->n_instr && p->instr[e].group == g) e++;
        if (e - i >= 2) {
            tgc_cpu_op *ops = tgc_calloc((size_t)(e - i), sizeof *ops);
            for (int k = i; k < e; k++) {
                const bound_instr *b = &bp->instr[k];
                ops[k - i] = (tgc_cpu_op){b->ins->code, &b->ins->attrs, b->ins->n_in, b->ins->n_out,
                                          b->in_t,      b->out_t,         b->in,         b->out};
            }
            bp->instr[i].fused = tgc_cpu_fuse(ops, e - i, NULL, 0);
            bp->instr[i].run = bp->instr[i].fused ? e - i : 0;
            free(ops);
        }
        i = e;
    }
}

static int bind_program(tgc_exec *x, const tgc_program *p, bound_program *bp, tgc_err *err) {
    bp->prog = p;
    bp->instr = tgc_calloc((size_t)p->n_instr, sizeof *bp->instr);
    bp->first_opt = p->n_instr;
    for (int i = 0; i < p->n_instr; i++) {
        bound_instr *b = &bp->instr[i];
        const tgc_instr *ins = &p->instr[i];
        b->ins = ins;
        if (bp->first_opt == p->n_instr && (tgc_op_table[ins->code].flags & TGC_OPF_OPTIMIZER)) bp->first_opt = i;
        for (int k = 0; k < ins->n_in; k++) {
            b->in[k] = tgc_exec_data(x, ins->in[k]);
            b->in_t[k] = x->plan->tensors[ins->in[k]].type;
        }
        for (int k = 0; k < ins->n_out; k++) {
            b->out[k] = tgc_exec_data(x, ins->out[k]);
            b->out_t[k] = x->plan->tensors[ins->out[k]].type;
        }
    }
    for (int j = 0; j < p->n_buckets; j++) {
        const tgc_plan_bucket *bk = &p->buckets[j];
        if (bk->ready_instr < 0 || bk->ready_instr >= p->n_instr)
            return tgc_fail(err, "program %s: bucket %d is ready after instruction %d of %d", p->name, j,
                            bk->ready_instr, p->n_instr);
        bound_instr *b = &bp->instr[bk->ready_instr];
        b->buckets = tgc_realloc(b->buckets, (size_t)(b->n_buckets + 1) * sizeof *b->buckets);
        b->buckets[b->n_buckets++] = bk;
    }
    bind_groups(bp);
    return 0;
}

tgc_exec *tgc_exec_new(const tgc_plan *plan, const tgc_exec_opts *opts, tgc_err *err) {
    tgc_exec *x = tgc_calloc(1, sizeof *x);
    x->plan = plan;
    x->cpu = tgc_cpu_new(opts ? opts->n_threads : 0, opts ? opts->deterministic : 0, err);
    if (!x->cpu) {
        free(x);
        return NULL;
    }
    for (int s = 0; s < TGC_SLAB_COUNT; s++) {
        uint64_t n = plan->slab_bytes[s];
        if (n == 0) continue;
        size_t rounded = (size_t)((n + SLAB_ALIGN - 1) / SLAB_ALIGN * SLAB_ALIGN);
        x->slab[s] = aligned_alloc(SLAB_ALIGN, rounded);
        if (!x->slab[s]) {
            tgc_fail(err, "cannot allocate the %s slab (%llu bytes)", tgc_slab_name((tgc_slab)s),
                     (unsigned long long)n);
            tgc_exec_free(x);
            return NULL;
        }
        memset(x->slab[s], 0, rounded);
    }
    x->progs = tgc_calloc((size_t)plan->n_programs, sizeof *x->progs);
    for (int i = 0; i < plan->n_programs; i++) {
        if (bind_program(x, &plan->programs[i], &x->progs[i], err) < 0) {
            tgc_exec_free(x);
            return NULL;
        }
    }
    return x;
}

void tgc_exec_free(tgc_exec *x) {
    if (!x) return;
    if (x->progs) {
        for (int i = 0; i < x->plan->n_programs; i++) {
            bound_program *bp = &x->progs[i];
            if (!bp->instr) continue;
            for (int k = 0; k < bp->prog->n_instr; k++) {
                free(bp->instr[k].buckets);
                tgc_cpu_fused_free(bp->instr[k].fused);
            }
            free(bp->instr);
        }
        free(x->progs);
    }
    for (int s = 0; s < TGC_SLAB_COUNT; s++) free(x->slab[s]);
    tgc_cpu_free(x->cpu);
    free(x);
}

/* ---- state initialisation ------------------------------------------------------------------- */

/* FNV-1a: a stable 64-bit key for a tensor name, so each tensor draws from its own Philox stream. */
static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static double normal01(tgc_rng *r) {
    /* Box-Muller; 1 - u keeps the log argument in (0, 1]. */
    double u1 = 1.0 - tgc_rng_uniform(r), u2 = tgc_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(TWO_PI * u2);
}

static int init_tensor(const tgc_plan_tensor *t, float *d, uint64_t seed, tgc_err *err) {
    int64_t n = tgc_shape_numel(&t->type.shape);
    tgc_rng r;
    uint64_t h = name_hash(t->name ? t->name : "");
    tgc_rng_init(&r, seed ^ h, 0, (uint32_t)(h >> 32), TGC_RNG_INIT);
    const tgc_init *in = &t->init;
    switch (in->kind) {
    case TGC_INIT_NONE:
    case TGC_INIT_CONST:
        for (int64_t i = 0; i < n; i++) d[i] = in->kind == TGC_INIT_CONST ? (float)in->a : 0.0f;
        return 0;
    case TGC_INIT_NORMAL:
        for (int64_t i = 0; i < n; i++) d[i] = (float)(in->a + in->b * normal01(&r));
        return 0;
    case TGC_INIT_UNIFORM:
        for (int64_t i = 0; i < n; i++) d[i] = (float)(in->a + (in->b - in->a) * tgc_rng_uniform(&r));
        return 0;
    case TGC_INIT_TRUNC_NORMAL:
        if (!(in->lo < in->hi)) return tgc_fail(err, "%s: truncated normal with empty range", t->name);
        for (int64_t i = 0; i < n; i++) {
            double v = in->a;
            for (int tries = 0; tries < 64; tries++) { /* rejection; the range holds most of the mass */
                double c = in->a + in->b * normal01(&r);
                if (c >= in->lo && c <= in->hi) {
                    v = c;
                    break;
                }
            }
            d[i] = (float)v;
        }
        return 0;
    }
    return tgc_fail(err, "%s: unknown init kind %d", t->name, (int)in->kind);
}

int tgc_exec_init_state(tgc_exec *x, uint64_t seed, tgc_err *err) {
    for (int i = 0; i < x->plan->n_tensors; i++) {
        const tgc_plan_tensor *t = &x->plan->tensors[i];
        if (t->kind != TGC_VAL_PARAM && t->kind != TGC_VAL_BUFFER && t->kind != TGC_VAL_OPTSTATE) continue;
        if (t->type.dtype != TGC_F32)
            return tgc_fail(err, "%s: only f32 state can be initialised (it is %s)", t->name,
                            tgc_dtype_name(t->type.dtype));
        if (init_tensor(t, tgc_exec_data(x, i), seed, err) < 0) return -1;
    }
    return 0;
}

/* ---- running ---------------------------------------------------------------------------------- */

int tgc_exec_run(tgc_exec *x, const char *name, tgc_err *err) {
    const bound_program *bp = find_program(x, name);
    if (!bp) return tgc_fail(err, "the plan has no program '%s'", name);
    const tgc_program *p = bp->prog;
    int sync = x->on_grads_ready && p->n_buckets > 0;
    for (int i = 0; i < p->n_instr; i++) {
        const bound_instr *b = &bp->instr[i];
        const tgc_instr *ins = b->ins;
        if (sync && i == bp->first_opt && x->on_grads_ready(x->grads_ready_ctx, p, err) < 0) return -1;
        double t0 = x->on_instr ? tgc_now() : 0.0;
        if (b->fused) { /* a fusion group as one kernel; the profile shares its time evenly */
            if (tgc_cpu_exec_fused(x->cpu, b->fused, err) < 0)
                return tgc_err_prefix(err, "program %s, instructions %d-%d (fusion group %d, %s%s%s)", p->name, i,
                                      i + b->run - 1, ins->group, tgc_op_table[ins->code].name,
                                      ins->scope ? " in " : "", ins->scope ? ins->scope : "");
            double t1 = x->on_instr ? tgc_now() : 0.0;
            for (int k = 0; k < b->run; k++) {
                if (x->on_instr)
                    x->on_instr(x->instr_ctx, p, i + k, t0 + (t1 - t0) * k / b->run, t0 + (t1 - t0) * (k + 1) / b->run);
                const bound_instr *bk_i = &bp->instr[i + k];
                for (int q = 0; q < bk_i->n_buckets && x->on_bucket; q++) {
                    const tgc_plan_bucket *bk = bk_i->buckets[q];
                    if (x->on_bucket(x->bucket_ctx, bk, x->slab[TGC_SLAB_GRAD] + bk->offset, err) < 0) return -1;
                }
            }
            i += b->run - 1;
            continue;
        }
        if (tgc_cpu_exec(x->cpu, ins->code, &ins->attrs, ins->n_in, b->in_t, b->in, ins->n_out, b->out_t, b->out,
                         err) < 0)
            return tgc_err_prefix(err, "program %s, instruction %d (%s%s%s)", p->name, i,
                                  tgc_op_table[ins->code].name, ins->scope ? " in " : "",
                                  ins->scope ? ins->scope : "");
        if (x->on_instr) x->on_instr(x->instr_ctx, p, i, t0, tgc_now());
        for (int k = 0; k < b->n_buckets && x->on_bucket; k++) {
            const tgc_plan_bucket *bk = b->buckets[k];
            if (x->on_bucket(x->bucket_ctx, bk, x->slab[TGC_SLAB_GRAD] + bk->offset, err) < 0) return -1;
        }
    }
    if (sync && bp->first_opt == p->n_instr && x->on_grads_ready(x->grads_ready_ctx, p, err) < 0) return -1;
    return 0;
}
