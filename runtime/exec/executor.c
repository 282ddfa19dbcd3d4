/* runtime/exec/executor.c - slabs, state initialisation, tensor I/O and program runs for a loaded plan, on a
 * device through its interface (backend/device.h). */
#include "runtime/exec/executor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/data/data.h"

#define TWO_PI 6.283185307179586

/* One program: the device's prepared handle, and what the host does around it. */
typedef struct exec_program {
    const tgc_program *prog;
    void *dev_prog;                   /* the device's, from prepare */
    const tgc_plan_bucket ***buckets; /* per instruction: the buckets it completes (owned arrays, may be NULL) */
    int *n_buckets;                   /* per instruction */
    int first_opt;                    /* index of the first optimizer update, n_instr when there is none */
} exec_program;

struct tgc_exec {
    const tgc_plan *plan;
    tgc_device *dev;
    int own_dev;                 /* opened here (no device given) */
    void *slab[TGC_SLAB_COUNT];  /* the device's slab handles; NULL for an empty slab */
    exec_program *progs;         /* owned, plan->n_programs of them */
    tgc_bucket_fn on_bucket;
    void *bucket_ctx;
    tgc_instr_fn on_instr;
    void *instr_ctx;
    tgc_grads_ready_fn on_grads_ready;
    void *grads_ready_ctx;
    tgc_update_check_fn on_update_check;
    void *update_check_ctx;
};

tgc_device *tgc_exec_device(const tgc_exec *x) { return x->dev; }

const tgc_plan_tensor *tgc_exec_tensor(const tgc_exec *x, int tensor) { return &x->plan->tensors[tensor]; }

static int check_range(const tgc_exec *x, tgc_slab s, uint64_t offset, uint64_t bytes, tgc_err *err) {
    uint64_t size = (unsigned)s < TGC_SLAB_COUNT ? x->plan->slab_bytes[s] : 0;
    if ((unsigned)s >= TGC_SLAB_COUNT || offset > size || bytes > size - offset)
        return tgc_fail(err, "bytes %llu..%llu are outside the %s slab (%llu bytes)", (unsigned long long)offset,
                        (unsigned long long)(offset + bytes), (unsigned)s < TGC_SLAB_COUNT ? tgc_slab_name(s) : "?",
                        (unsigned long long)size);
    return 0;
}

int tgc_exec_write_bytes(tgc_exec *x, tgc_slab s, uint64_t offset, uint64_t bytes, const void *src, tgc_err *err) {
    if (check_range(x, s, offset, bytes, err) < 0) return -1;
    if (bytes == 0) return 0;
    return x->dev->ops->upload(x->dev->impl, x->slab[s], offset, src, bytes, err);
}

int tgc_exec_read_bytes(const tgc_exec *x, tgc_slab s, uint64_t offset, uint64_t bytes, void *dst, tgc_err *err) {
    if (check_range(x, s, offset, bytes, err) < 0) return -1;
    if (bytes == 0) return 0;
    return x->dev->ops->download(x->dev->impl, x->slab[s], offset, dst, bytes, err);
}

int tgc_exec_write(tgc_exec *x, int tensor, const void *src, tgc_err *err) {
    const tgc_plan_tensor *t = &x->plan->tensors[tensor];
    return tgc_exec_write_bytes(x, t->slab, t->offset, t->bytes, src, err);
}

int tgc_exec_read(const tgc_exec *x, int tensor, void *dst, tgc_err *err) {
    const tgc_plan_tensor *t = &x->plan->tensors[tensor];
    return tgc_exec_read_bytes(x, t->slab, t->offset, t->bytes, dst, err);
}

static const exec_program *find_program(const tgc_exec *x, const char *name) {
    for (int i = 0; i < x->plan->n_programs; i++)
        if (strcmp(x->progs[i].prog->name, name) == 0) return &x->progs[i];
    return NULL;
}

int tgc_exec_input(const tgc_exec *x, const char *program, const char *name) {
    const exec_program *bp = find_program(x, program);
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
    const exec_program *bp = find_program(x, program);
    return bp && bp->prog->n_outputs > 0 ? bp->prog->outputs[0] : -1;
}

int tgc_exec_output_at(const tgc_exec *x, const char *program, int k) {
    const exec_program *bp = find_program(x, program);
    return bp && k >= 0 && k < bp->prog->n_outputs ? bp->prog->outputs[k] : -1;
}

void tgc_exec_on_bucket(tgc_exec *x, tgc_bucket_fn fn, void *ctx) {
    x->on_bucket = fn;
    x->bucket_ctx = ctx;
}

void tgc_exec_on_instr(tgc_exec *x, tgc_instr_fn fn, void *ctx) {
    x->on_instr = fn;
    x->instr_ctx = ctx;
}

int tgc_exec_on_update_check(tgc_exec *x, tgc_update_check_fn fn, void *ctx, tgc_err *err) {
    (void)err; /* every device honours the skip (cpu, cuda) */
    x->on_update_check = fn;
    x->update_check_ctx = ctx;
    return 0;
}

int tgc_exec_grad_unscale(tgc_exec *x, float inv, int *found_inf, tgc_err *err) {
    uint64_t bytes = x->plan->slab_bytes[TGC_SLAB_GRAD] & ~(uint64_t)(sizeof(float) - 1);
    *found_inf = 0;
    if (!x->dev->ops->grad_unscale)
        return tgc_fail(err, "the %s device has no gradient finite check (float16 loss scaling)", x->dev->ops->name);
    return x->dev->ops->grad_unscale(x->dev->impl, x->slab[TGC_SLAB_GRAD], bytes, inv, found_inf, err);
}

void tgc_exec_on_grads_ready(tgc_exec *x, tgc_grads_ready_fn fn, void *ctx) {
    x->on_grads_ready = fn;
    x->grads_ready_ctx = ctx;
}

tgc_dev_mem tgc_exec_slab(const tgc_exec *x, tgc_slab s) {
    tgc_dev_mem m = {NULL, 0};
    if ((unsigned)s < TGC_SLAB_COUNT && x->slab[s]) {
        m.ptr = x->dev->ops->slab_addr(x->dev->impl, x->slab[s], 0);
        m.bytes = x->plan->slab_bytes[s];
    }
    return m;
}

/* The device prepares the program; the host keeps which buckets each instruction completes and where the
 * optimizer starts. */
static int bind_program(tgc_exec *x, const tgc_program *p, exec_program *bp, int deterministic, tgc_err *err) {
    const tgc_device_ops *ops = x->dev->ops;
    bp->prog = p;
    bp->first_opt = p->n_instr;
    size_t n = (size_t)(p->n_instr ? p->n_instr : 1);
    bp->buckets = tgc_calloc(n, sizeof *bp->buckets);
    bp->n_buckets = tgc_calloc(n, sizeof *bp->n_buckets);
    for (int i = 0; i < p->n_instr; i++) {
        const tgc_instr *ins = &p->instr[i];
        if (bp->first_opt == p->n_instr && (tgc_op_table[ins->code].flags & TGC_OPF_OPTIMIZER)) bp->first_opt = i;
        if (!ops->supports_op(x->dev->impl, ins->code))
            return tgc_fail(err, "program %s, instruction %d: the %s device has no kernel for %s", p->name, i,
                            ops->name, tgc_op_table[ins->code].name);
    }
    for (int j = 0; j < p->n_buckets; j++) {
        const tgc_plan_bucket *bk = &p->buckets[j];
        if (bk->ready_instr < 0 || bk->ready_instr >= p->n_instr)
            return tgc_fail(err, "program %s: bucket %d is ready after instruction %d of %d", p->name, j,
                            bk->ready_instr, p->n_instr);
        int i = bk->ready_instr;
        bp->buckets[i] = tgc_realloc(bp->buckets[i], (size_t)(bp->n_buckets[i] + 1) * sizeof *bp->buckets[i]);
        bp->buckets[i][bp->n_buckets[i]++] = bk;
    }
    uint8_t *notify = tgc_calloc(n, 1);
    for (int i = 0; i < p->n_instr; i++) notify[i] = bp->n_buckets[i] > 0;
    tgc_dev_program dp = {p, x->plan->tensors, x->slab, notify, deterministic};
    bp->dev_prog = ops->prepare(x->dev->impl, &dp, err);
    free(notify);
    return bp->dev_prog ? 0 : -1;
}

tgc_exec *tgc_exec_new(const tgc_plan *plan, const tgc_exec_opts *opts, tgc_err *err) {
    tgc_exec *x = tgc_calloc(1, sizeof *x);
    x->plan = plan;
    x->dev = opts ? opts->device : NULL;
    if (!x->dev) {
        tgc_device_opts dopts = {.n_threads = opts ? opts->n_threads : 0};
        if (!(x->dev = tgc_device_open("cpu", &dopts, err))) {
            free(x);
            return NULL;
        }
        x->own_dev = 1;
    }
    const tgc_device_ops *ops = x->dev->ops;
    for (int s = 0; s < TGC_SLAB_COUNT; s++) {
        uint64_t n = plan->slab_bytes[s];
        if (n == 0) continue;
        x->slab[s] = ops->slab_alloc(x->dev->impl, n, err);
        if (!x->slab[s]) {
            tgc_fail(err, "cannot allocate the %s slab (%llu bytes)", tgc_slab_name((tgc_slab)s),
                     (unsigned long long)n);
            tgc_exec_free(x);
            return NULL;
        }
    }
    x->progs = tgc_calloc((size_t)plan->n_programs, sizeof *x->progs);
    for (int i = 0; i < plan->n_programs; i++) {
        if (bind_program(x, &plan->programs[i], &x->progs[i], opts ? opts->deterministic : 0, err) < 0) {
            tgc_exec_free(x);
            return NULL;
        }
    }
    return x;
}

void tgc_exec_free(tgc_exec *x) {
    if (!x) return;
    const tgc_device_ops *ops = x->dev->ops;
    if (x->progs) {
        for (int i = 0; i < x->plan->n_programs; i++) {
            exec_program *bp = &x->progs[i];
            ops->release(x->dev->impl, bp->dev_prog);
            for (int k = 0; bp->buckets && k < bp->prog->n_instr; k++) free(bp->buckets[k]);
            free(bp->buckets);
            free(bp->n_buckets);
        }
        free(x->progs);
    }
    for (int s = 0; s < TGC_SLAB_COUNT; s++) ops->slab_free(x->dev->impl, x->slab[s]);
    if (x->own_dev) tgc_device_close(x->dev);
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
        /* Drawn on the host, then copied to the device. */
        float *d = tgc_malloc(t->bytes ? (size_t)t->bytes : 1);
        int rc = init_tensor(t, d, seed, err);
        if (rc == 0) rc = tgc_exec_write(x, i, d, err);
        free(d);
        if (rc < 0) return -1;
    }
    return 0;
}

/* ---- running ---------------------------------------------------------------------------------- */

typedef struct run_state {
    tgc_exec *x;
    const exec_program *bp;
} run_state;

/* The device finished instructions [first, first + n): their profile spans (a fused kernel's time shared
 * evenly), then the buckets they complete. */
static int on_done(void *ctx, int first, int n, double t0, double t1, tgc_err *err) {
    run_state *st = ctx;
    tgc_exec *x = st->x;
    const exec_program *bp = st->bp;
    for (int k = 0; k < n; k++) {
        int i = first + k;
        if (x->on_instr) {
            if (n == 1) x->on_instr(x->instr_ctx, bp->prog, i, t0, t1);
            else x->on_instr(x->instr_ctx, bp->prog, i, t0 + (t1 - t0) * k / n, t0 + (t1 - t0) * (k + 1) / n);
        }
        for (int q = 0; q < bp->n_buckets[i] && x->on_bucket; q++) {
            const tgc_plan_bucket *bk = bp->buckets[i][q];
            tgc_dev_mem m = {x->dev->ops->slab_addr(x->dev->impl, x->slab[TGC_SLAB_GRAD], bk->offset), bk->bytes};
            if (x->on_bucket(x->bucket_ctx, bk, m, err) < 0) return -1;
        }
    }
    return 0;
}

/* Before the first optimizer update: the collectives' wait, then the update check (1: skip the updates). */
static int on_before(void *ctx, int instr, tgc_err *err) {
    run_state *st = ctx;
    tgc_exec *x = st->x;
    if (x->on_grads_ready && x->on_grads_ready(x->grads_ready_ctx, st->bp->prog, err) < 0) return -1;
    return x->on_update_check ? x->on_update_check(x->update_check_ctx, st->bp->prog, err) : 0;
}

int tgc_exec_run(tgc_exec *x, const char *name, tgc_err *err) {
    const exec_program *bp = find_program(x, name);
    if (!bp) return tgc_fail(err, "the plan has no program '%s'", name);
    const tgc_program *p = bp->prog;
    int sync = (x->on_grads_ready || x->on_update_check) && p->n_buckets > 0;
    run_state st = {x, bp};
    tgc_dev_run r = {&st, on_done, on_before, sync && bp->first_opt < p->n_instr ? bp->first_opt : -1,
                     x->on_instr != NULL, !x->on_bucket && !x->on_instr};
    if (x->dev->ops->run(x->dev->impl, bp->dev_prog, &r, err) < 0) return -1;
    if (sync && bp->first_opt == p->n_instr && x->on_grads_ready && x->on_grads_ready(x->grads_ready_ctx, p, err) < 0)
        return -1;
    return 0;
}

int tgc_exec_sync(tgc_exec *x, tgc_err *err) { return x->dev->ops->sync(x->dev->impl, err); }
