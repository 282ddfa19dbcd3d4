/* backend/cpu/cpu_device.c - the cpu device (backend/device.h): slabs in host memory, programs bound to the
 * CPU kernels (backend/cpu/cpu_kernels.h) with their fusion groups, run synchronously on the calling thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/device.h"

#define CPU_ALIGN 64

typedef struct cpu_device {
    tgc_cpu *cpu;
} cpu_device;

/* One instruction with its operand pointers and types resolved once, at prepare. */
typedef struct cpu_instr {
    const tgc_instr *ins;
    void *in[TGC_MAX_IN];
    void *out[TGC_MAX_OUT];
    tgc_type in_t[TGC_MAX_IN];
    tgc_type out_t[TGC_MAX_OUT];
    tgc_cpu_fused *fused; /* owned; set on the first instruction of a fusion group run as one kernel */
    int run;              /* the instructions that kernel covers */
    int notify;           /* report completion: this instruction (or, on a fused one, one it covers) is marked */
} cpu_instr;

typedef struct cpu_program {
    const tgc_program *prog;
    cpu_instr *instr; /* owned, prog->n_instr of them */
} cpu_program;

static void *cpu_open(const tgc_device_opts *o, tgc_err *err) {
    tgc_cpu *c = tgc_cpu_new(o ? o->n_threads : 0, 0, err);
    if (!c) return NULL;
    cpu_device *d = tgc_calloc(1, sizeof *d);
    d->cpu = c;
    return d;
}

static void cpu_close(void *dev) {
    cpu_device *d = dev;
    if (!d) return;
    tgc_cpu_free(d->cpu);
    free(d);
}

static void cpu_describe(void *dev, char *buf, size_t size) {
    snprintf(buf, size, "cpu, %d threads", tgc_cpu_threads(((cpu_device *)dev)->cpu));
}

static int cpu_supports_op(void *dev, tgc_opcode code) { return tgc_cpu_supports_op(code); }

static int cpu_sync(void *dev, tgc_err *err) { return 0; /* every call completes before it returns */ }

/* ---- memory: slabs and staging buffers are the same host memory ---- */

static void *aligned_zeroed(uint64_t bytes) {
    size_t rounded = (size_t)((bytes + CPU_ALIGN - 1) / CPU_ALIGN * CPU_ALIGN);
    void *p = aligned_alloc(CPU_ALIGN, rounded ? rounded : CPU_ALIGN);
    if (p) memset(p, 0, rounded);
    return p;
}

static void *cpu_slab_alloc(void *dev, uint64_t bytes, tgc_err *err) {
    void *p = aligned_zeroed(bytes);
    if (!p) tgc_fail(err, "cpu: cannot allocate %llu bytes", (unsigned long long)bytes);
    return p;
}

static void cpu_slab_free(void *dev, void *slab) { free(slab); }

static void *cpu_slab_addr(void *dev, void *slab, uint64_t offset) { return (uint8_t *)slab + offset; }

static void *cpu_host_alloc(void *dev, size_t bytes, tgc_err *err) { return cpu_slab_alloc(dev, bytes, err); }

static void cpu_host_free(void *dev, void *p) { free(p); }

static int cpu_upload(void *dev, void *slab, uint64_t offset, const void *src, uint64_t bytes, tgc_err *err) {
    if (bytes) memcpy((uint8_t *)slab + offset, src, (size_t)bytes);
    return 0;
}

static int cpu_download(void *dev, void *slab, uint64_t offset, void *dst, uint64_t bytes, tgc_err *err) {
    if (bytes) memcpy(dst, (const uint8_t *)slab + offset, (size_t)bytes);
    return 0;
}

/* ---- programs ---- */

static void *operand(const tgc_dev_program *p, int tensor) {
    const tgc_plan_tensor *t = &p->tensors[tensor];
    uint8_t *base = p->slabs[t->slab];
    return base ? base + t->offset : NULL;
}

/* Fusion groups (consecutive instructions with one group id >= 0) that the CPU kernels can run as one
 * kernel; a group they decline runs instruction by instruction, which is always correct. */
static void bind_groups(cpu_program *cp) {
    const tgc_program *p = cp->prog;
    for (int i = 0; i < p->n_instr;) {
        int g = p->instr[i].group, e = i + 1;
        while (g >= 0 && e < p->n_instr && p->instr[e].group == g) e++;
        if (e - i >= 2) {
            tgc_cpu_op *ops = tgc_calloc((size_t)(e - i), sizeof *ops);
            for (int k = i; k < e; k++) {
                const cpu_instr *b = &cp->instr[k];
                ops[k - i] = (tgc_cpu_op){b->ins->code, &b->ins->attrs, b->ins->n_in, b->ins->n_out,
                                          b->in_t,      b->out_t,         b->in,         b->out};
            }
            cp->instr[i].fused = tgc_cpu_fuse(ops, e - i, NULL, 0);
            cp->instr[i].run = cp->instr[i].fused ? e - i : 0;
            for (int k = i + 1; cp->instr[i].fused && k < e; k++) cp->instr[i].notify |= cp->instr[k].notify;
            free(ops);
        }
        i = e;
    }
}

static void cpu_release(void *dev, void *prog) {
    cpu_program *cp = prog;
    if (!cp) return;
    for (int k = 0; cp->instr && k < cp->prog->n_instr; k++) tgc_cpu_fused_free(cp->instr[k].fused);
    free(cp->instr);
    free(cp);
}

static void *cpu_prepare(void *dev, const tgc_dev_program *dp, tgc_err *err) {
    cpu_device *d = dev;
    const tgc_program *p = dp->prog;
    tgc_cpu_set_deterministic(d->cpu, dp->deterministic);
    cpu_program *cp = tgc_calloc(1, sizeof *cp);
    cp->prog = p;
    cp->instr = tgc_calloc((size_t)(p->n_instr ? p->n_instr : 1), sizeof *cp->instr);
    for (int i = 0; i < p->n_instr; i++) {
        cpu_instr *b = &cp->instr[i];
        const tgc_instr *ins = &p->instr[i];
        b->ins = ins;
        b->notify = dp->notify && dp->notify[i];
        for (int k = 0; k < ins->n_in; k++) {
            b->in[k] = operand(dp, ins->in[k]);
            b->in_t[k] = dp->tensors[ins->in[k]].type;
        }
        for (int k = 0; k < ins->n_out; k++) {
            b->out[k] = operand(dp, ins->out[k]);
            b->out_t[k] = dp->tensors[ins->out[k]].type;
        }
    }
    bind_groups(cp);
    (void)err;
    return cp;
}

static int cpu_run(void *dev, void *prog, const tgc_dev_run *r, tgc_err *err) {
    cpu_device *d = dev;
    const cpu_program *cp = prog;
    const tgc_program *p = cp->prog;
    for (int i = 0; i < p->n_instr; i++) {
        const cpu_instr *b = &cp->instr[i];
        const tgc_instr *ins = b->ins;
        if (i == r->before_instr) {
            int b = r->before(r->ctx, i, err);
            if (b < 0) return -1;
            if (b > 0) return 0; /* the rest of the program is skipped */
        }
        double t0 = r->timing ? tgc_now() : 0.0;
        if (b->fused) { /* a fusion group as one kernel */
            if (tgc_cpu_exec_fused(d->cpu, b->fused, err) < 0)
                return tgc_err_prefix(err, "program %s, instructions %d-%d (fusion group %d, %s%s%s)", p->name, i,
                                      i + b->run - 1, ins->group, tgc_op_table[ins->code].name,
                                      ins->scope ? " in " : "", ins->scope ? ins->scope : "");
            double t1 = r->timing ? tgc_now() : 0.0;
            if ((r->timing || b->notify) && r->done(r->ctx, i, b->run, t0, t1, err) < 0) return -1;
            i += b->run - 1;
            continue;
        }
        if (tgc_cpu_exec(d->cpu, ins->code, &ins->attrs, ins->n_in, b->in_t, b->in, ins->n_out, b->out_t, b->out,
                         err) < 0)
            return tgc_err_prefix(err, "program %s, instruction %d (%s%s%s)", p->name, i,
                                  tgc_op_table[ins->code].name, ins->scope ? " in " : "",
                                  ins->scope ? ins->scope : "");
        if ((r->timing || b->notify) && r->done(r->ctx, i, 1, t0, r->timing ? tgc_now() : 0.0, err) < 0) return -1;
    }
    return 0;
}

static int cpu_grad_unscale(void *dev, void *slab, uint64_t bytes, float inv, int *found_inf, tgc_err *err) {
    (void)dev;
    (void)err;
    *found_inf = slab ? tgc_cpu_grad_unscale(slab, (size_t)(bytes / sizeof(float)), inv) : 0;
    return 0;
}

const tgc_device_ops tgc_cpu_device_ops = {
    .name = "cpu",
    .open = cpu_open,
    .close = cpu_close,
    .describe = cpu_describe,
    .supports_op = cpu_supports_op,
    .sync = cpu_sync,
    .slab_alloc = cpu_slab_alloc,
    .slab_free = cpu_slab_free,
    .slab_addr = cpu_slab_addr,
    .host_alloc = cpu_host_alloc,
    .host_free = cpu_host_free,
    .upload = cpu_upload,
    .download = cpu_download,
    .prepare = cpu_prepare,
    .release = cpu_release,
    .run = cpu_run,
    .grad_unscale = cpu_grad_unscale,
};
