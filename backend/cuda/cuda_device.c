/* backend/cuda/cuda_device.c - the 'cuda' device over the stream API (backend/cuda/cuda_device.h). */
#include "backend/cuda/cuda_device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cuda/cuda_exec.h"
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/kernels/multi_tensor.h"
#include "backend/cuda/native_host.h"

#define N_STAGE 2 /* double-buffered upload staging */

typedef struct cuda_device {
    const tgc_stream_api *api;
    void *sx; /* the stream context */
    int standin; /* bodies are the CPU reference kernels */
    int32_t mt_chunk; /* elements per multi-tensor block of the native optimizer kernels */
    int native;  /* stand-in: the classes of hand-written kernels run through kshim (TGC_NATIVE_*, native_host.h) */
    int graphs;
    tgc_stream *compute, *copy, *comm;
    tgc_event *ev_tail; /* compute's issued work, for uploads to wait on */
    void *input_slab;    /* the input slab (from prepare) */
    tgc_event *ev_inputs; /* after the last issued kernel that reads the input slab */
    void *stage[N_STAGE];
    uint64_t stage_bytes[N_STAGE];
    tgc_event *ev_stage[N_STAGE];
    int next_stage;
    void *down;
    uint64_t down_bytes;
    tgc_cpu *cpu; /* the stand-in's reference kernels */
    tgc_cuda_exec *gx; /* cuda: the per-op dispatch on the GPU (cuda_exec.c) */
    tgc_cuda_comm comm_hook;
    int have_comm;
    int comm_gen; /* changes with the comm hook: graphs captured before are stale */
    int broken;
    int32_t *found_inf; /* float16 loss scaling's flag word (device memory), allocated at first use */
    tgc_cuda_device_stats stats;
} cuda_device;

/* One kernel launch: one instruction, or a fusion group the CPU loops run as one kernel. */
typedef struct launch_rec {
    cuda_device *d;
    int first, n; /* instructions covered */
    tgc_cpu_fused *fused; /* owned */
    int native;           /* stand-in with native on: 1 one instruction's kernel(s), 2 an optimizer group's */
    int lib;              /* stand-in with TGC_NATIVE_LIBRARY: 1 a matmul, 2 a batch norm, issued as library work */
    tgc_cuda_gemm gemm;   /* its arguments, marshalled as for cuBLAS */
    tgc_cuda_bn bn;       /* or as for cuDNN's legacy batch norm calls */
    tgc_cpu_op *ops;      /* owned, n of them: the instructions as the native kernels' marshalling reads them */
    void *ws;             /* device workspace (softmax_cross_entropy's row losses), owned */
    tgc_mem_range *reads, *writes; /* owned */
    int n_reads, n_writes;
    int notify;  /* some instruction covered is marked for `done` */
    int buckets; /* buckets completed by its last instruction (comm hook) */
    int opt_first; /* holds the program's first optimizer update */
    tgc_event *ev; /* recorded after it: bucket readiness, done reports */
} launch_rec;

typedef struct cuda_instr {
    void *in[TGC_MAX_IN], *out[TGC_MAX_OUT];
    tgc_type in_t[TGC_MAX_IN], out_t[TGC_MAX_OUT];
} cuda_instr;

typedef struct cuda_program {
    const tgc_program *prog;
    cuda_instr *instr; /* owned, per instruction */
    launch_rec *launch; /* owned */
    int n_launch;
    const tgc_plan_bucket ***bk; /* per launch: buckets it completes (owned arrays) */
    void *grad_base;
    tgc_event *ev_comm; /* comm's all-reduces done, for the optimizer */
    tgc_event *ev_end;  /* after a graph launch: done reports */
    tgc_graph_exec *gexec;
    int gexec_gen; /* the device's comm_gen when captured */
    int runs;
    tgc_event **tev; /* timing events (n_launch + 1), NULL until a timed run */
    tgc_cuda_xprog *xp; /* cuda: what each launch issues on the GPU */
    double t_base;   /* tgc_now() when the timed run began */
    int first_input, last_input; /* the first and last launches reading the input slab, -1: none */
} cuda_program;

/* ---- the device ---- */

static void cuda_close(void *dev) {
    cuda_device *d = dev;
    if (!d) return;
    if (d->sx) {
        d->api->sync(d->sx, &(tgc_err){{0}});
#ifdef TGC_HAVE_CUDA
        tgc_cuda_exec_free(d->gx);
#endif
        d->api->close(d->sx); /* frees every stream, event and allocation */
    }
    tgc_cpu_free(d->cpu);
    free(d);
}

static void *open_on(const tgc_stream_api *api, const tgc_cuda_device_opts *o, tgc_err *err) {
    cuda_device *d = tgc_calloc(1, sizeof *d);
    d->api = api;
    d->standin = !strcmp(api->name, "standin");
    d->graphs = !(o && o->no_graphs);
    d->native = d->standin && o ? o->native & (TGC_NATIVE_ALL | TGC_NATIVE_LIBRARY) : 0;
    d->mt_chunk = o && o->native_chunk > 0 && o->native_chunk % 4 == 0 ? o->native_chunk : TGC_MT_CHUNK;
    tgc_stream_opts so = {0};
    if (o) so = o->stream;
    if (!(d->sx = api->open(&so, err))) goto fail;
    if (d->standin && !(d->cpu = tgc_cpu_new(o ? o->n_threads : 0, 0, err))) goto fail;
    if (!(d->compute = api->stream_create(d->sx, "compute", err)) || !(d->copy = api->stream_create(d->sx, "copy", err)) ||
        !(d->comm = api->stream_create(d->sx, "comm", err)) ||
        !(d->ev_tail = api->event_create(d->sx, "compute tail", 0, err)) ||
        !(d->ev_inputs = api->event_create(d->sx, "inputs read", 0, err)))
        goto fail;
    for (int k = 0; k < N_STAGE; k++)
        if (!(d->ev_stage[k] = api->event_create(d->sx, k ? "staging 1 free" : "staging 0 free", 0, err))) goto fail;
#ifdef TGC_HAVE_CUDA
    if (!d->standin && !(d->gx = tgc_cuda_exec_new(api, d->sx, so.ordinal, err))) goto fail;
    if (d->gx && o) tgc_cuda_exec_set_autotune(d->gx, o->cudnn_benchmark, o->work_dir);
#endif
    return d;
fail:
    tgc_err_prefix(err, "cuda device on %s", api->name);
    cuda_close(d);
    return NULL;
}

static void *cuda_open(const tgc_device_opts *o, tgc_err *err) {
    const tgc_stream_api *api = tgc_stream_api_find("cuda", err);
    if (!api) return NULL;
    tgc_cuda_device_opts co = {.n_threads = o ? o->n_threads : 0,
                               .stream = {.ordinal = o ? o->ordinal : 0},
                               .cudnn_benchmark = o ? o->cudnn_benchmark : 0,
                               .work_dir = o ? o->work_dir : NULL};
    return open_on(api, &co, err);
}

static void cuda_describe(void *dev, char *buf, size_t size) {
    cuda_device *d = dev;
    char s[200], libs[300] = "";
    d->api->describe(d->sx, s, sizeof s);
#ifdef TGC_HAVE_CUDA
    if (d->gx) {
        libs[0] = ' ';
        libs[1] = '(';
        tgc_cuda_exec_describe(d->gx, libs + 2, sizeof libs - 3);
        strcat(libs, ")");
    }
#endif
    snprintf(buf, size, "cuda executor on %s%s%s", s,
             d->native ? " (hand-written kernels through kshim, CPU reference elsewhere)"
             : d->standin ? " (CPU reference kernels)" : "", libs);
}

/* Whether a GPU runs the op: cuda_ops.c's table (cuDNN, cuBLAS, hand-written, generated, copy, aux), in a build
 * with the GPU dispatch (cuda_exec.c). */
static int native_kernel(tgc_opcode code) {
#ifdef TGC_HAVE_CUDA
    return tgc_cuda_impl_of(code) != TGC_CUDA_IMPL_NONE;
#else
    (void)code;
    return 0;
#endif
}

static int cuda_supports_op(void *dev, tgc_opcode code) {
    cuda_device *d = dev;
    return d->standin ? tgc_cpu_supports_op(code) : native_kernel(code);
}

static int cuda_sync(void *dev, tgc_err *err) {
    cuda_device *d = dev;
    return d->api->sync(d->sx, err);
}

/* ---- memory ---- */

static void *cuda_slab_alloc(void *dev, uint64_t bytes, tgc_err *err) {
    cuda_device *d = dev;
    void *p = d->api->dev_alloc(d->sx, bytes ? bytes : 1, "slab", err);
    if (!p) return NULL;
    /* Zeroed, and the zeroes ordered before everything issued later on any stream. */
    if (d->api->memset_async(d->sx, p, 0, bytes ? bytes : 1, d->compute, err) < 0 ||
        d->api->stream_sync(d->sx, d->compute, err) < 0) {
        d->api->dev_free(d->sx, p);
        return NULL;
    }
    return p;
}

static void cuda_slab_free(void *dev, void *slab) {
    cuda_device *d = dev;
    d->api->dev_free(d->sx, slab);
}

static void *cuda_slab_addr(void *dev, void *slab, uint64_t offset) { return (uint8_t *)slab + offset; }

static void *cuda_host_alloc(void *dev, size_t bytes, tgc_err *err) {
    cuda_device *d = dev;
    return d->api->host_alloc(d->sx, bytes ? bytes : 1, "host staging", err);
}

static void cuda_host_free(void *dev, void *p) {
    cuda_device *d = dev;
    d->api->host_free(d->sx, p);
}

/* A pinned buffer of at least `bytes` at *buf (grown: freeing waits for all work). */
static int ensure_pinned(cuda_device *d, void **buf, uint64_t *have, uint64_t bytes, const char *label, tgc_err *err) {
    if (*have >= bytes) return 0;
    d->api->host_free(d->sx, *buf);
    *have = 0;
    uint64_t n = bytes < 4096 ? 4096 : bytes;
    if (!(*buf = d->api->host_alloc(d->sx, n, label, err))) return -1;
    *have = n;
    return 0;
}

/* The host copies src into the next staging buffer (once its previous copy finished), the copy stream DMAs it
 * into the slab after the compute work issued so far (which may still read the old bytes), and the compute
 * stream waits for the copy: the upload is ordered before later kernels, and overlaps the current ones. */
static int cuda_upload(void *dev, void *slab, uint64_t offset, const void *src, uint64_t bytes, tgc_err *err) {
    cuda_device *d = dev;
    const tgc_stream_api *A = d->api;
    int k = d->next_stage;
    d->next_stage = (k + 1) % N_STAGE;
    if (A->event_sync(d->sx, d->ev_stage[k], err) < 0 ||
        ensure_pinned(d, &d->stage[k], &d->stage_bytes[k], bytes, k ? "staging 1" : "staging 0", err) < 0)
        return -1;
    tgc_mem_range r = {d->stage[k], bytes};
    tgc_mem_access acc = {NULL, 0, &r, 1};
    if (A->host_access(d->sx, &acc, "fill the upload staging", err) < 0) return -1;
    memcpy(d->stage[k], src, (size_t)bytes);
    /* An input (the next batch, lr, step) waits only for the last kernel issued that reads the input slab, so
     * its copy overlaps the rest of the step (backward, the updates); anything else for all issued work. */
    tgc_event *after = d->ev_tail;
    if (slab == d->input_slab) after = d->ev_inputs;
    else if (A->event_record(d->sx, d->ev_tail, d->compute, err) < 0) return -1;
    if (A->stream_wait_event(d->sx, d->copy, after, err) < 0 ||
        A->memcpy_async(d->sx, (uint8_t *)slab + offset, d->stage[k], bytes, TGC_COPY_H2D, d->copy, err) < 0 ||
        A->event_record(d->sx, d->ev_stage[k], d->copy, err) < 0)
        return -1;
    if (!(d->broken & TGC_CUDA_BREAK_UPLOAD_WAIT) && A->stream_wait_event(d->sx, d->compute, d->ev_stage[k], err) < 0)
        return -1;
    d->stats.uploads++;
    return 0;
}

/* After the work issued so far (the compute stream has waited for every upload and joined the comm stream). */
static int cuda_download(void *dev, void *slab, uint64_t offset, void *dst, uint64_t bytes, tgc_err *err) {
    cuda_device *d = dev;
    const tgc_stream_api *A = d->api;
    if (ensure_pinned(d, &d->down, &d->down_bytes, bytes, "download staging", err) < 0 ||
        A->memcpy_async(d->sx, d->down, (uint8_t *)slab + offset, bytes, TGC_COPY_D2H, d->compute, err) < 0 ||
        A->stream_sync(d->sx, d->compute, err) < 0)
        return -1;
    tgc_mem_range r = {d->down, bytes};
    tgc_mem_access acc = {&r, 1, NULL, 0};
    if (A->host_access(d->sx, &acc, "read a download", err) < 0) return -1;
    memcpy(dst, d->down, (size_t)bytes);
    d->stats.downloads++;
    return 0;
}

/* ---- programs ---- */

static void *operand(const tgc_dev_program *p, int tensor) {
    const tgc_plan_tensor *t = &p->tensors[tensor];
    uint8_t *base = p->slabs[t->slab];
    return base ? base + t->offset : NULL;
}

static void add_range(tgc_mem_range **v, int *n, const tgc_dev_program *dp, int tensor) {
    const tgc_plan_tensor *t = &dp->tensors[tensor];
    void *p = operand(dp, tensor);
    if (!p || t->bytes == 0) return;
    for (int k = 0; k < *n; k++)
        if ((*v)[k].ptr == p && (*v)[k].bytes == t->bytes) return;
    *v = tgc_realloc(*v, (size_t)(*n + 1) * sizeof **v);
    (*v)[(*n)++] = (tgc_mem_range){p, t->bytes};
}

static void cuda_release(void *dev, void *prog) {
    cuda_device *d = dev;
    cuda_program *cp = prog;
    if (!cp) return;
    for (int k = 0; k < cp->n_launch; k++) {
        launch_rec *L = &cp->launch[k];
        tgc_cpu_fused_free(L->fused);
        free(L->ops);
        if (L->ws) d->api->dev_free(d->sx, L->ws);
        free(L->reads);
        free(L->writes);
        d->api->event_destroy(d->sx, L->ev);
        free(cp->bk ? cp->bk[k] : NULL);
    }
    for (int k = 0; cp->tev && k <= cp->n_launch; k++) d->api->event_destroy(d->sx, cp->tev[k]);
    free(cp->tev);
    d->api->event_destroy(d->sx, cp->ev_comm);
    d->api->event_destroy(d->sx, cp->ev_end);
    d->api->graph_exec_destroy(d->sx, cp->gexec);
#ifdef TGC_HAVE_CUDA
    tgc_cuda_exec_release(d->gx, cp->xp);
#endif
    free(cp->bk);
    free(cp->launch);
    free(cp->instr);
    free(cp);
}

static tgc_cpu_op op_of(const cuda_program *cp, int k) {
    const tgc_instr *ins = &cp->prog->instr[k];
    const cuda_instr *b = &cp->instr[k];
    return (tgc_cpu_op){ins->code, &ins->attrs, ins->n_in, ins->n_out, b->in_t, b->out_t, b->in, b->out};
}

/* With native on: makes L (instructions [i, e) of one fusion group, or one instruction) a native launch where
 * the hand-written kernels cover it: an optimizer group as multi-tensor launches (L->n = e - i), or one
 * instruction with its workspace allocated on the device. Leaves L alone otherwise. */
static int native_launch(cuda_program *cp, launch_rec *L, int i, int e, const tgc_dev_program *dp, tgc_err *err) {
    (void)dp;
    cuda_device *d = L->d;
    const tgc_program *p = cp->prog;
    int opt = tgc_op_table[p->instr[i].code].flags & TGC_OPF_OPTIMIZER;
    if (e - i >= 2 && !opt) return 0; /* an elementwise group: the CPU loops */
    for (int k = i; k < e; k++) {
        tgc_cpu_op o = op_of(cp, k);
        if (p->instr[k].code != p->instr[i].code || !(tgc_cuda_native_class(o.code) & d->native) ||
            !tgc_cuda_native_supports(&o))
            return 0;
    }
    L->ops = tgc_calloc((size_t)(e - i), sizeof *L->ops);
    for (int k = i; k < e; k++) L->ops[k - i] = op_of(cp, k);
    L->n = e - i;
    L->native = opt ? 2 : 1;
    uint64_t ws = tgc_cuda_native_workspace(&L->ops[0]);
    if (ws && !(L->ws = d->api->dev_alloc(d->sx, ws, "native kernel workspace", err))) return -1;
    return 0;
}

static void *cuda_prepare(void *dev, const tgc_dev_program *dp, tgc_err *err) {
    cuda_device *d = dev;
    const tgc_program *p = dp->prog;
    for (int i = 0; i < p->n_instr; i++)
        if (!cuda_supports_op(d, p->instr[i].code)) {
            tgc_fail(err, "program %s, instruction %d: the cuda device (%s) has no kernel for %s yet", p->name, i,
                     d->api->name, tgc_op_table[p->instr[i].code].name);
            return NULL;
        }
    if (d->cpu) tgc_cpu_set_deterministic(d->cpu, dp->deterministic);
    cuda_program *cp = tgc_calloc(1, sizeof *cp);
    cp->prog = p;
    size_t n = (size_t)(p->n_instr ? p->n_instr : 1);
    cp->instr = tgc_calloc(n, sizeof *cp->instr);
    cp->launch = tgc_calloc(n, sizeof *cp->launch);
    cp->bk = tgc_calloc(n, sizeof *cp->bk);
    cp->grad_base = dp->slabs[TGC_SLAB_GRAD];
    cp->first_input = cp->last_input = -1;
    d->input_slab = dp->slabs[TGC_SLAB_INPUT];
    for (int i = 0; i < p->n_instr; i++) {
        const tgc_instr *ins = &p->instr[i];
        for (int k = 0; k < ins->n_in; k++) {
            cp->instr[i].in[k] = operand(dp, ins->in[k]);
            cp->instr[i].in_t[k] = dp->tensors[ins->in[k]].type;
        }
        for (int k = 0; k < ins->n_out; k++) {
            cp->instr[i].out[k] = operand(dp, ins->out[k]);
            cp->instr[i].out_t[k] = dp->tensors[ins->out[k]].type;
        }
    }
    int first_opt = -1;
    for (int i = 0; i < p->n_instr && first_opt < 0; i++)
        if (tgc_op_table[p->instr[i].code].flags & TGC_OPF_OPTIMIZER) first_opt = i;
    /* Launches: fusion groups the CPU loops take run as one kernel (as codegen makes one CUDA kernel). */
    for (int i = 0; i < p->n_instr;) {
        int g = p->instr[i].group, e = i + 1;
        while (g >= 0 && e < p->n_instr && p->instr[e].group == g) e++;
        launch_rec *L = &cp->launch[cp->n_launch];
        L->d = d;
        L->first = i;
        L->n = d->gx ? tgc_cuda_group_len(p, i) : 1; /* on a GPU: cuda_exec.c's launch groups */
        if (d->native && native_launch(cp, L, i, e, dp, err) < 0) {
            cp->n_launch++;
            cuda_release(d, cp);
            return NULL;
        }
        tgc_opcode c0 = p->instr[i].code;
        int bn = c0 == TGC_OP_BN_TRAIN || c0 == TGC_OP_BN_TRAIN_RELU || c0 == TGC_OP_BN_EVAL || c0 == TGC_OP_BN_BWD ||
                 c0 == TGC_OP_BN_RELU_BWD;
        if (!L->native && d->standin && (d->native & TGC_NATIVE_LIBRARY) && (c0 == TGC_OP_MATMUL || bn)) {
            tgc_cpu_op o = op_of(cp, i);
            if ((bn ? tgc_cuda_bn_of(&o, &L->bn, err) : tgc_cuda_gemm_of(&o, &L->gemm, err)) < 0) {
                cp->n_launch++;
                cuda_release(d, cp);
                return NULL;
            }
            L->lib = bn ? 2 : 1;
        }
        if (!L->native && !L->lib && e - i >= 2 && d->standin) {
            tgc_cpu_op *ops = tgc_calloc((size_t)(e - i), sizeof *ops);
            for (int k = i; k < e; k++) {
                const tgc_instr *ins = &p->instr[k];
                cuda_instr *b = &cp->instr[k];
                ops[k - i] = (tgc_cpu_op){ins->code, &ins->attrs, ins->n_in, ins->n_out, b->in_t, b->out_t, b->in, b->out};
            }
            L->fused = tgc_cpu_fuse(ops, e - i, NULL, 0);
            free(ops);
            if (L->fused) L->n = e - i;
        }
        if (L->ws) { /* the workspace is written and read by the launch */
            L->writes = tgc_realloc(L->writes, (size_t)(L->n_writes + 1) * sizeof *L->writes);
            L->writes[L->n_writes++] = (tgc_mem_range){L->ws, tgc_cuda_native_workspace(&L->ops[0])};
        }
        for (int k = i; k < i + L->n; k++) {
            const tgc_instr *ins = &p->instr[k];
            uint32_t mut = tgc_op_table[ins->code].mutates;
            for (int q = 0; q < ins->n_in; q++) {
                add_range(&L->reads, &L->n_reads, dp, ins->in[q]);
                if (dp->tensors[ins->in[q]].slab == TGC_SLAB_INPUT) {
                    cp->last_input = cp->n_launch;
                    if (cp->first_input < 0) cp->first_input = cp->n_launch;
                }
                if (mut & (1u << q)) add_range(&L->writes, &L->n_writes, dp, ins->in[q]);
            }
            for (int q = 0; q < ins->n_out; q++) add_range(&L->writes, &L->n_writes, dp, ins->out[q]);
            if (dp->notify && dp->notify[k]) L->notify = 1;
            if (k == first_opt) L->opt_first = 1;
        }
        i += L->n;
        cp->n_launch++;
    }
    for (int j = 0; j < p->n_buckets; j++) {
        const tgc_plan_bucket *bk = &p->buckets[j];
        int li = 0;
        while (li < cp->n_launch && cp->launch[li].first + cp->launch[li].n <= bk->ready_instr) li++;
        if (li >= cp->n_launch) {
            tgc_fail(err, "program %s: bucket %d is ready after instruction %d of %d", p->name, j, bk->ready_instr,
                     p->n_instr);
            cuda_release(d, cp);
            return NULL;
        }
        launch_rec *L = &cp->launch[li];
        cp->bk[li] = tgc_realloc(cp->bk[li], (size_t)(L->buckets + 1) * sizeof *cp->bk[li]);
        cp->bk[li][L->buckets++] = bk;
    }
    for (int k = 0; k < cp->n_launch; k++)
        if ((cp->launch[k].notify || cp->launch[k].buckets) &&
            !(cp->launch[k].ev = d->api->event_create(d->sx, "instruction done", 0, err))) {
            cuda_release(d, cp);
            return NULL;
        }
    if (!(cp->ev_comm = d->api->event_create(d->sx, "all-reduces done", 0, err)) ||
        !(cp->ev_end = d->api->event_create(d->sx, "program done", 0, err))) {
        cuda_release(d, cp);
        return NULL;
    }
#ifdef TGC_HAVE_CUDA
    if (d->gx && !(cp->xp = tgc_cuda_exec_prepare(d->gx, dp, err))) {
        cuda_release(d, cp);
        return NULL;
    }
#endif
    return cp;
}

/* The stand-in's body of a launch: the CPU reference kernel(s), or with native on the hand-written kernels
 * (their argument structs and multi-tensor lists marshalled from the instructions, run through kshim). */
static int launch_body(const void *params, tgc_err *err) {
    launch_rec *L = *(launch_rec *const *)params;
    const cuda_program *cp = NULL;
    memcpy(&cp, (const uint8_t *)params + sizeof L, sizeof cp);
    if (L->native) { /* stand-in bodies run one at a time, on the host thread inside the stream API's calls */
        int grids = 0, rc = tgc_cuda_native_host_run(L->ops, L->n, L->ws, L->d->mt_chunk, &grids, err);
        L->d->stats.native_bodies++;
        L->d->stats.native_grids += (uint64_t)grids;
        return rc;
    }
    if (L->fused) return tgc_cpu_exec_fused(L->d->cpu, L->fused, err);
    const tgc_instr *ins = &cp->prog->instr[L->first];
    const cuda_instr *b = &cp->instr[L->first];
    return tgc_cpu_exec(L->d->cpu, ins->code, &ins->attrs, ins->n_in, b->in_t, b->in, ins->n_out, b->out_t, b->out,
                        err);
}

/* The stand-in's body of a matmul issued as library work: the gemm as cuBLAS would be called with it. */
static int gemm_body(const void *params, tgc_err *err) {
    tgc_cuda_gemm_host(params);
    return 0;
}

/* ... and of a batch norm issued as library work: cuDNN's legacy call as documented. */
static int bn_body(const void *params, tgc_err *err) {
    return tgc_cuda_bn_host(params) < 0 ? tgc_fail(err, "batch norm: out of memory") : 0;
}

static int issue_launch(cuda_device *d, cuda_program *cp, launch_rec *L, tgc_err *err) {
#ifdef TGC_HAVE_CUDA
    if (d->gx) {
        d->stats.launches++;
        return tgc_cuda_exec_issue(d->gx, cp->xp, L->first, d->compute, err);
    }
#endif
    if (L->lib) {
        tgc_lib_work w = {.name = L->lib == 2 ? "cudnnBatchNormalization" : "cublasSgemm",
                          .host_fn = L->lib == 2 ? bn_body : gemm_body,
                          .params = L->lib == 2 ? (const void *)&L->bn : (const void *)&L->gemm,
                          .params_bytes = L->lib == 2 ? sizeof L->bn : sizeof L->gemm,
                          .access = {L->reads, L->n_reads, L->writes, L->n_writes}};
        d->stats.launches++;
        d->stats.lib_calls++;
        return d->api->lib_call(d->sx, &w, d->compute, err);
    }
    struct {
        const launch_rec *L;
        const cuda_program *cp;
    } params = {L, cp};
    const tgc_instr *ins = &cp->prog->instr[L->first];
    tgc_kernel k = {.name = tgc_op_table[ins->code].name,
                    .host_fn = launch_body,
                    .grid = {1, 1, 1},
                    .block = {1, 1, 1},
                    .params = &params,
                    .params_bytes = sizeof params,
                    .access = {L->reads, L->n_reads, L->writes, L->n_writes}};
    d->stats.launches++;
    if (L->native) d->stats.native_launches++;
    return d->api->launch(d->sx, &k, d->compute, err);
}

/* Reports launches [from, to) to the host through done, in order, once each has completed: the marked ones,
 * and with timing every one, its span from timing events (the end of the previous kernel to its own end)
 * placed on tgc_now()'s clock from the host's time when the run began (t_base, before the first kernel). */
static int report(cuda_device *d, cuda_program *cp, const tgc_dev_run *r, int from, int to, tgc_err *err) {
    const tgc_stream_api *A = d->api;
    for (int q = from; q < to; q++) {
        launch_rec *M = &cp->launch[q];
        if (!M->notify && !r->timing) continue;
        double t0 = 0, t1 = 0;
        if (r->timing) {
            double a = 0, b = 0;
            if (A->event_sync(d->sx, cp->tev[q + 1], err) < 0 ||
                (q > 0 && A->event_elapsed(d->sx, cp->tev[0], cp->tev[q], &a, err) < 0) ||
                A->event_elapsed(d->sx, cp->tev[0], cp->tev[q + 1], &b, err) < 0)
                return -1;
            t0 = cp->t_base + a * 1e-3;
            t1 = cp->t_base + b * 1e-3;
        } else if (A->event_sync(d->sx, M->ev, err) < 0) {
            return -1;
        }
        if (r->done(r->ctx, M->first, M->n, t0, t1, err) < 0) return -1;
    }
    return 0;
}

/* Issues the program's launches on the compute stream (eagerly, or into a capture), with the buckets'
 * all-reduces on the comm stream. r: the host's callbacks when eager (NULL in a capture). */
static int issue_program(cuda_device *d, cuda_program *cp, const tgc_dev_run *r, int comm, int capturing,
                         tgc_err *err) {
    const tgc_stream_api *A = d->api;
    const tgc_program *p = cp->prog;
    int forked = 0, reports = r && !r->quiet, pending = 0, timing = r && r->timing;
    if (timing && !cp->tev) { /* timing events, made at the first timed run: tev[0] the start, tev[k+1] after k */
        cp->tev = tgc_calloc((size_t)cp->n_launch + 1, sizeof *cp->tev);
        for (int k = 0; k <= cp->n_launch; k++)
            if (!(cp->tev[k] = A->event_create(d->sx, "kernel timing", 1, err))) return -1;
    }
    if (timing) {
        cp->t_base = tgc_now();
        if (A->event_record(d->sx, cp->tev[0], d->compute, err) < 0) return -1;
    }
    for (int k = 0; k < cp->n_launch; k++) {
        launch_rec *L = &cp->launch[k];
        if (L->opt_first && forked) { /* the updates read the reduced gradients */
            if (A->event_record(d->sx, cp->ev_comm, d->comm, err) < 0) return -1;
            if (!(d->broken & TGC_CUDA_BREAK_OPT_WAIT) && A->stream_wait_event(d->sx, d->compute, cp->ev_comm, err) < 0)
                return -1;
            forked = 0;
        }
        if (r && r->before_instr == L->first) {
            /* The host acts before this kernel: report what completed, then ask. */
            if (reports && report(d, cp, r, pending, k, err) < 0) return -1;
            pending = k;
            int b = r->before(r->ctx, r->before_instr, err);
            if (b < 0) return -1;
            if (b > 0) { /* the rest is skipped (the optimizer tail): the next inputs wait for what was issued */
                if (!capturing && A->event_record(d->sx, d->ev_inputs, d->compute, err) < 0) return -1;
                return reports ? report(d, cp, r, pending, k, err) : 0;
            }
        }
        if (issue_launch(d, cp, L, err) < 0)
            return tgc_err_prefix(err, "program %s, instruction %d (%s)", p->name, L->first,
                                  tgc_op_table[p->instr[L->first].code].name);
        if (L->ev && (L->notify || (comm && L->buckets)) && A->event_record(d->sx, L->ev, d->compute, err) < 0) return -1;
        if (timing && A->event_record(d->sx, cp->tev[k + 1], d->compute, err) < 0) return -1;
        int inputs_read = d->broken & TGC_CUDA_BREAK_INPUTS_EARLY ? cp->first_input : cp->last_input;
        if (k == inputs_read && !capturing && A->event_record(d->sx, d->ev_inputs, d->compute, err) < 0) return -1;
        if (comm && L->buckets) {
            if (!(d->broken & TGC_CUDA_BREAK_BUCKET_WAIT) && A->stream_wait_event(d->sx, d->comm, L->ev, err) < 0)
                return -1;
            for (int b = 0; b < L->buckets; b++) {
                const tgc_plan_bucket *bk = cp->bk[k][b];
                if (d->comm_hook.allreduce(d->comm_hook.ctx, bk, (uint8_t *)cp->grad_base + bk->offset, d->comm, err) < 0)
                    return tgc_err_prefix(err, "program %s: bucket all-reduce after instruction %d", p->name,
                                          bk->ready_instr);
                d->stats.allreduces++;
            }
            forked = 1;
        }
    }
    if (forked) { /* join the comm stream back (no optimizer after the last bucket) */
        if (A->event_record(d->sx, cp->ev_comm, d->comm, err) < 0 ||
            A->stream_wait_event(d->sx, d->compute, cp->ev_comm, err) < 0)
            return -1;
    }
    return reports ? report(d, cp, r, pending, cp->n_launch, err) : 0;
}

static int cuda_run(void *dev, void *prog, const tgc_dev_run *r, tgc_err *err) {
    cuda_device *d = dev;
    cuda_program *cp = prog;
    const tgc_stream_api *A = d->api;
    int comm = d->have_comm && cp->prog->n_buckets > 0;
    int graph = d->graphs && r->before_instr < 0 && !r->timing && (!comm || d->comm_hook.capturable);
    cp->runs++;
    if (cp->gexec && cp->gexec_gen != d->comm_gen) { /* captured with another comm hook: capture again */
        A->graph_exec_destroy(d->sx, cp->gexec);
        cp->gexec = NULL;
    }
    if (!graph || (!cp->gexec && cp->runs == 1)) {
        d->stats.eager_runs++;
        return issue_program(d, cp, r, comm, 0, err);
    }
    if (!cp->gexec) { /* the second run: capture the whole step once */
        if (A->capture_begin(d->sx, d->compute, cp->prog->name, err) < 0) return -1;
        int rc = issue_program(d, cp, NULL, comm, 1, err);
        tgc_err e2;
        tgc_graph *g = A->capture_end(d->sx, d->compute, rc < 0 ? &e2 : err);
        if (rc < 0 || !g) return -1;
        cp->gexec = A->graph_instantiate(d->sx, g, err);
        A->graph_destroy(d->sx, g);
        if (!cp->gexec) return -1;
        cp->gexec_gen = d->comm_gen;
        d->stats.captures++;
    } else {
        d->stats.replays++;
    }
    /* an event recorded inside the graph cannot be waited on from outside it: inputs wait for the whole graph */
    if (A->graph_launch(d->sx, cp->gexec, d->compute, err) < 0 ||
        A->event_record(d->sx, d->ev_inputs, d->compute, err) < 0)
        return -1;
    if (!r->quiet) { /* completion of the marked instructions: the whole graph's */
        if (A->event_record(d->sx, cp->ev_end, d->compute, err) < 0 || A->event_sync(d->sx, cp->ev_end, err) < 0)
            return -1;
        for (int k = 0; k < cp->n_launch; k++)
            if (cp->launch[k].notify && r->done(r->ctx, cp->launch[k].first, cp->launch[k].n, 0, 0, err) < 0) return -1;
    }
    return 0;
}

/* ---- float16 loss scaling ---- */

/* The stand-in's body of a loss-scaling launch: the kernel of amp.cuh through kshim. */
typedef struct unscale_launch {
    const char *kernel;
    tgc_k_geom g;
    tgc_k_unscale_args a;
} unscale_launch;

static int unscale_body(const void *params, tgc_err *err) {
    const unscale_launch *u = params;
    tgc_native_launch nl = {u->kernel, u->g, &u->a, sizeof u->a};
    return tgc_cuda_native_host_launch(&nl, err);
}

static int issue_unscale_kernel(cuda_device *d, const char *kernel, const tgc_k_unscale_args *a, tgc_mem_range rd,
                                tgc_mem_range wr, tgc_err *err) {
    /* a few waves of blocks on a GPU; on the host a small grid keeps the grid-stride loop exercised */
    unscale_launch u = {kernel, tgc_k_geom_elems(a->n, d->standin ? 8u : 1024u), *a};
#ifdef TGC_HAVE_CUDA
    if (d->gx) {
        tgc_native_launch nl = {kernel, u.g, &u.a, sizeof u.a};
        return tgc_cuda_exec_kernel(d->gx, &nl, d->compute, err);
    }
#endif
    tgc_kernel k = {.name = kernel, .host_fn = unscale_body, .grid = {u.g.gx, u.g.gy, u.g.gz},
                    .block = {u.g.bx, u.g.by, u.g.bz}, .params = &u, .params_bytes = sizeof u,
                    .access = {&rd, 1, &wr, 1}};
    if (!u.g.gx) return 0;
    d->stats.launches++;
    return d->api->launch(d->sx, &k, d->compute, err);
}

/* The check and the unscale as two kernels on the compute stream (after the backward and the all-reduces),
 * then the 4-byte answer downloaded: the gradients never leave the device. */
static int cuda_grad_unscale(void *dev, void *slab, uint64_t bytes, float inv, int *found_inf, tgc_err *err) {
    cuda_device *d = dev;
    const tgc_stream_api *A = d->api;
    *found_inf = 0;
    if (!d->found_inf && !(d->found_inf = A->dev_alloc(d->sx, sizeof(int32_t), "loss scaling flag", err))) return -1;
    tgc_k_unscale_args a = {slab, (int64_t)(bytes / sizeof(float)), d->found_inf, inv};
    tgc_mem_range g = {slab, bytes}, f = {d->found_inf, sizeof(int32_t)};
    int32_t v = 0;
    if (A->memset_async(d->sx, d->found_inf, 0, sizeof(int32_t), d->compute, err) < 0 ||
        (slab && bytes && (issue_unscale_kernel(d, "tgc_k_nonfinite", &a, g, f, err) < 0 ||
                           issue_unscale_kernel(d, "tgc_k_unscale", &a, f, g, err) < 0)) ||
        cuda_download(d, d->found_inf, 0, &v, sizeof v, err) < 0)
        return tgc_err_prefix(err, "float16 loss scaling: the gradients' finite check");
    *found_inf = v != 0;
    return 0;
}

const tgc_device_ops tgc_cuda_device_ops = {
    .name = "cuda",
    .open = cuda_open,
    .close = cuda_close,
    .describe = cuda_describe,
    .supports_op = cuda_supports_op,
    .sync = cuda_sync,
    .slab_alloc = cuda_slab_alloc,
    .slab_free = cuda_slab_free,
    .slab_addr = cuda_slab_addr,
    .host_alloc = cuda_host_alloc,
    .host_free = cuda_host_free,
    .upload = cuda_upload,
    .download = cuda_download,
    .prepare = cuda_prepare,
    .release = cuda_release,
    .run = cuda_run,
    .grad_unscale = cuda_grad_unscale,
};

tgc_device *tgc_cuda_device_new(const tgc_stream_api *api, const tgc_cuda_device_opts *o, tgc_err *err) {
    void *impl = open_on(api, o, err);
    if (!impl) return NULL;
    tgc_device *dv = tgc_calloc(1, sizeof *dv);
    dv->ops = &tgc_cuda_device_ops;
    dv->impl = impl;
    return dv;
}

void *tgc_cuda_device_stream_ctx(const tgc_device *dv) { return ((cuda_device *)dv->impl)->sx; }

void tgc_cuda_device_set_comm(tgc_device *dv, const tgc_cuda_comm *c) {
    cuda_device *d = dv->impl;
    d->have_comm = c && c->allreduce;
    d->comm_gen++;
    if (d->have_comm) d->comm_hook = *c;
}

void tgc_cuda_device_break(tgc_device *dv, int flags) { ((cuda_device *)dv->impl)->broken = flags; }

void tgc_cuda_device_get_stats(const tgc_device *dv, tgc_cuda_device_stats *st) {
    const cuda_device *d = dv->impl;
    *st = d->stats;
#ifdef TGC_HAVE_CUDA
    if (d->gx) tgc_cuda_exec_autotune_counts(d->gx, &st->cudnn_measured, &st->cudnn_cached);
#endif
}

void tgc_cuda_device_use_native(tgc_device *dv, int on) {
    cuda_device *d = dv->impl;
    d->native = d->standin ? on & (TGC_NATIVE_ALL | TGC_NATIVE_LIBRARY) : 0;
}
