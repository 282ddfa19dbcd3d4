/* backend/device.h - the one interface between the runtime and a device that runs plans (cpu today, cuda to
 * come): a table of function pointers per kind of device, as ggml's backends and runtime/dist/comm/comm_impl.h's
 * collective engines, and a registry that resolves `--device NAME` to a table.
 *
 * What the runtime sees of a device:
 *   - memory: slabs are opaque handles (slab_alloc). Tensors and slab ranges move between device and host
 *     memory by upload/download only; outside backend/ nothing dereferences device memory. A collective gets
 *     a tgc_dev_mem (address) and hands it to an engine of the same memory (Gloo: host memory on cpu; NCCL:
 *     a device pointer on cuda) without reading it.
 *   - host staging memory (host_alloc): where the data loader builds batches before they are uploaded;
 *     pinned on a GPU (so an upload is one DMA), plain 64-byte aligned memory on cpu.
 *   - programs: prepare binds a plan program to the slabs once (operands resolved, kernels chosen, fusion
 *     groups formed); run executes it. While it runs, the device tells the host when marked instructions
 *     have completed (a gradient bucket is ready: its all-reduce may start) and, when asked, how long every
 *     instruction took (profiling spans); it asks the host to act before one instruction (the wait for the
 *     all-reduces before the optimizer). A device with streams implements these with events: an event
 *     recorded after the marked instruction, its completion reported through `done`, event timestamps
 *     mapped onto tgc_now()'s clock for the spans.
 *   - ordering: run may return before the device finished (streams); download and sync wait for the work
 *     issued before them. upload is ordered before the work issued after it. On cpu everything is
 *     synchronous.
 *
 * Every function that can fail returns 0 (or a non-NULL handle) or -1/NULL with one message in err.
 */
#ifndef TGC_BACKEND_DEVICE_H
#define TGC_BACKEND_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "plan/plan.h"

/* How to open a device. */
typedef struct tgc_device_opts {
    int n_threads; /* cpu: kernel threads; 0: OMP_NUM_THREADS when set, else the online cores */
    int ordinal;   /* the unit of a kind with several ("cuda:1"); 0 otherwise */
    int cudnn_benchmark;  /* cuda: env_cfg.cudnn_benchmark: time the convolutions' candidate algorithms at
                             prepare and keep the fastest (else cuDNN's heuristics' first); cpu: no effect */
    const char *work_dir; /* cuda: where the measured choices are kept (cudnn_algos.txt); NULL: not kept */
} tgc_device_opts;

/* A span of device memory for a collective engine working in place on it: host memory on cpu, a device
 * pointer on cuda. Outside backend/ it is passed on, never dereferenced. */
typedef struct tgc_dev_mem {
    void *ptr;
    uint64_t bytes;
} tgc_dev_mem;

/* What prepare binds: one program of a plan, its tensor table, and the slabs' memory. The program and the
 * slabs must outlive the prepared handle; the arrays are read during prepare only. */
typedef struct tgc_dev_program {
    const tgc_program *prog;
    const tgc_plan_tensor *tensors;      /* the plan's tensor table (operands index it) */
    void *const *slabs;                  /* TGC_SLAB_COUNT handles from slab_alloc; NULL for an empty slab */
    const uint8_t *notify;               /* prog->n_instr flags: nonzero = report through `done` when completed */
    int deterministic;                   /* randomness.deterministic: no kernel whose result depends on timing */
} tgc_dev_program;

/* The host's side of one run of a prepared program. */
typedef struct tgc_dev_run {
    void *ctx;
    /* Instructions [first, first + n) have completed (n > 1: one fused kernel covered them). Called for every
     * group that holds a notify-marked instruction and, with timing, for every instruction or group, in
     * program order; t0/t1 is the span on tgc_now()'s clock (0 without timing). -1 ends the run with err. */
    int (*done)(void *ctx, int first, int n, double t0, double t1, tgc_err *err);
    /* Called before instruction `before_instr` is issued when that instruction begins a kernel (-1: never);
     * the device stalls until it returns. -1 ends the run with err; 1 ends it successfully there, skipping
     * the rest of the program (a step's optimizer updates that the loss scaler rejects, or a gradient
     * accumulation step). */
    int (*before)(void *ctx, int instr, tgc_err *err);
    int before_instr;
    int timing; /* time every instruction (profiling) */
    int quiet;  /* nothing listens to `done` for marked instructions this run (no bucket or instruction hooks):
                 * a device with streams may skip the reports and return before the work completes */
} tgc_dev_run;

typedef struct tgc_device_ops {
    const char *name; /* "cpu", "cuda" */

    /* ---- the device ---- */
    void *(*open)(const tgc_device_opts *o, tgc_err *err);
    void (*close)(void *dev);
    /* The log's device line: "cpu, 2 threads". */
    void (*describe)(void *dev, char *buf, size_t size);
    /* Whether the device has a kernel for the op. */
    int (*supports_op)(void *dev, tgc_opcode code);
    /* Waits until every piece of work issued so far has completed. */
    int (*sync)(void *dev, tgc_err *err);

    /* ---- memory ---- */
    /* A slab of device memory, zeroed, 64-byte aligned; its handle. */
    void *(*slab_alloc)(void *dev, uint64_t bytes, tgc_err *err);
    void (*slab_free)(void *dev, void *slab); /* NULL is fine */
    /* The address of slab + offset for a collective (tgc_dev_mem.ptr). */
    void *(*slab_addr)(void *dev, void *slab, uint64_t offset);
    /* Host memory to stage uploads from (pinned where the device has it), 64-byte aligned. */
    void *(*host_alloc)(void *dev, size_t bytes, tgc_err *err);
    void (*host_free)(void *dev, void *p); /* NULL is fine */
    /* bytes from host src into slab + offset / from slab + offset into host dst (waits for earlier work). */
    int (*upload)(void *dev, void *slab, uint64_t offset, const void *src, uint64_t bytes, tgc_err *err);
    int (*download)(void *dev, void *slab, uint64_t offset, void *dst, uint64_t bytes, tgc_err *err);

    /* ---- programs ---- */
    /* Binds a program to its slabs (which must stay where they are); its handle. */
    void *(*prepare)(void *dev, const tgc_dev_program *p, tgc_err *err);
    void (*release)(void *dev, void *prog); /* NULL is fine */
    /* Runs a prepared program once over the slabs' current contents. */
    int (*run)(void *dev, void *prog, const tgc_dev_run *r, tgc_err *err);

    /* ---- float16 loss scaling ---- */
    /* After the work issued so far: *found_inf = whether the first `bytes` of slab (f32) hold an inf or NaN;
     * when none, every element is multiplied by inv in place (tgc_cpu_grad_unscale's arithmetic). Waits for
     * the answer (the host decides whether the optimizer updates run). */
    int (*grad_unscale)(void *dev, void *slab, uint64_t bytes, float inv, int *found_inf, tgc_err *err);
} tgc_device_ops;

/* ---- the registry ---- */

/* The table of device NAME: "cpu"; "cuda" or "cuda:N" when this build has CUDA (the CUDA executor) and a GPU
 * is visible. NULL with a message saying why otherwise (no CUDA support in this build, no GPU visible,
 * CUDA_VISIBLE_DEVICES=-1 or empty, an unknown name). */
const tgc_device_ops *tgc_device_find(const char *name, tgc_err *err);
/* The device to use when none is named (MMPretrain's rule): "cuda" when this build has CUDA and a GPU is
 * visible, else "cpu" (CUDA_VISIBLE_DEVICES=-1 or empty hides every GPU). */
const char *tgc_device_default(void);
/* Whether NAME is a device name at all ("cpu", "cuda", "cuda:N"), whether or not it can run here. */
int tgc_device_name_valid(const char *name);
/* How many devices of KIND are visible: "cpu" 1; "cuda" the GPUs the driver reports (0 with
 * CUDA_VISIBLE_DEVICES=-1 or empty, without a driver or without CUDA support in this build). *built, when not NULL,
 * is set to whether this build has KIND's backend compiled in (CUDA: nvcc was found). */
int tgc_device_count(const char *kind, int *built);

/* ---- an open device ---- */
typedef struct tgc_device {
    const tgc_device_ops *ops;
    void *impl;
} tgc_device;

/* Resolves NAME through the registry and opens it (ordinal from "cuda:N"). */
tgc_device *tgc_device_open(const char *name, const tgc_device_opts *o, tgc_err *err);
void tgc_device_close(tgc_device *d); /* NULL is fine */
void tgc_device_describe(const tgc_device *d, char *buf, size_t size);
void *tgc_device_host_alloc(const tgc_device *d, size_t bytes, tgc_err *err);
void tgc_device_host_free(const tgc_device *d, void *p);

#endif
