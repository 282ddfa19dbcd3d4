/* runtime/exec/executor.h - runs a plan's programs on a device: slabs, state initialisation, tensor I/O, callbacks.
 *
 * The executor knows only the plan and the device interface (backend/device.h). It allocates one device slab
 * per slab kind (arena, inputs, params, buffers, grads, optimizer state), has the device prepare every
 * program once, and runs a program through it. Tensors move between the host and the slabs by copies
 * (tgc_exec_read / tgc_exec_write); nothing outside backend/ holds a pointer into a slab. Collectives and
 * profiling attach through callbacks, so the executor itself stays single-process.
 */
#ifndef TGC_RUNTIME_EXECUTOR_H
#define TGC_RUNTIME_EXECUTOR_H

#include <stdint.h>

#include "backend/device.h"
#include "plan/plan.h"

typedef struct tgc_exec tgc_exec;

typedef struct tgc_exec_opts {
    int n_threads;      /* without a device: the cpu device's threads (0: OMP_NUM_THREADS, else the online cores) */
    int deterministic;  /* randomness.deterministic */
    tgc_device *device; /* borrowed, must outlive the executor; NULL: the executor opens "cpu" itself */
} tgc_exec_opts;

/* Builds an executor for a plan that tgc_plan_validate accepted. The plan must outlive the executor. Fails
 * when the device has no kernel for one of the plan's ops. */
tgc_exec *tgc_exec_new(const tgc_plan *plan, const tgc_exec_opts *opts, tgc_err *err);
void tgc_exec_free(tgc_exec *x);

/* Initialises every PARAM, BUFFER and OPTSTATE tensor from its init spec. Draws are Philox keyed by
 * (seed, tensor name), so a tensor's initial values do not depend on the other tensors or their order. */
int tgc_exec_init_state(tgc_exec *x, uint64_t seed, tgc_err *err);

/* The device the executor runs on. */
tgc_device *tgc_exec_device(const tgc_exec *x);

/* The tensor's plan entry. */
const tgc_plan_tensor *tgc_exec_tensor(const tgc_exec *x, int tensor);
/* Copies a whole tensor (tensor->bytes) from host memory into its slab / from its slab into host memory. */
int tgc_exec_write(tgc_exec *x, int tensor, const void *src, tgc_err *err);
int tgc_exec_read(const tgc_exec *x, int tensor, void *dst, tgc_err *err);
/* The same for any byte range of a slab (a part of a tensor, a whole slab); a range outside the slab is an
 * error. */
int tgc_exec_write_bytes(tgc_exec *x, tgc_slab s, uint64_t offset, uint64_t bytes, const void *src, tgc_err *err);
int tgc_exec_read_bytes(const tgc_exec *x, tgc_slab s, uint64_t offset, uint64_t bytes, void *dst, tgc_err *err);
/* Index of a program's input by its plain name ("inputs", "data_samples.gt_label", "lr", "step"), or -1. */
int tgc_exec_input(const tgc_exec *x, const char *program, const char *name);
/* Index of a program's first output (train: the loss, eval: the logits), or -1. */
int tgc_exec_output(const tgc_exec *x, const char *program);
/* Index of a program's k-th output (train with clip_grad by norm: 1 is the sum |g|^p over the gradients), or -1. */
int tgc_exec_output_at(const tgc_exec *x, const char *program, int k);

/* Called right after the instruction that completes a gradient bucket (multi-process all-reduce), with the
 * bucket's memory in the grad slab for a collective engine to work on in place. */
typedef int (*tgc_bucket_fn)(void *ctx, const tgc_plan_bucket *b, tgc_dev_mem mem, tgc_err *err);
void tgc_exec_on_bucket(tgc_exec *x, tgc_bucket_fn fn, void *ctx);

/* Called around every instruction when set (profiling); t0/t1 from tgc_now(). */
typedef void (*tgc_instr_fn)(void *ctx, const tgc_program *p, int instr, double t0, double t1);
void tgc_exec_on_instr(tgc_exec *x, tgc_instr_fn fn, void *ctx);

/* Called once per run of a program that has gradient buckets, right before its first optimizer-update
 * instruction (TGC_OPF_OPTIMIZER), or after its last instruction when it has none: the point where every
 * bucket's collective must be complete (multi-process: wait for the all-reduces started per bucket). */
typedef int (*tgc_grads_ready_fn)(void *ctx, const tgc_program *p, tgc_err *err);
void tgc_exec_on_grads_ready(tgc_exec *x, tgc_grads_ready_fn fn, void *ctx);

/* Called right after the grads-ready callback, before the first optimizer update of a program with
 * gradient buckets: 0 applies the updates, 1 skips them (the rest of the program: updates come last), -1
 * fails the run. Float16 loss scaling (runtime/runner/loss_scale.c): unscale the gradients, or skip a step
 * whose gradients overflowed; gradient accumulation. Every device honours the skip (cpu, cuda). */
typedef int (*tgc_update_check_fn)(void *ctx, const tgc_program *p, tgc_err *err);
int tgc_exec_on_update_check(tgc_exec *x, tgc_update_check_fn fn, void *ctx, tgc_err *err);
/* Float16 loss scaling, on the device (an update check's work): *found_inf = whether the gradient slab holds
 * an inf or NaN; when none, every gradient is multiplied by inv in place. */
int tgc_exec_grad_unscale(tgc_exec *x, float inv, int *found_inf, tgc_err *err);

/* A whole slab's device memory for a collective engine (ptr NULL and bytes 0 for an empty slab). */
tgc_dev_mem tgc_exec_slab(const tgc_exec *x, tgc_slab s);

/* Runs program `name` ("train" or "eval") once over the current slab contents. On a device with streams
 * it may return before the device finished; tgc_exec_read and tgc_exec_sync wait. */
int tgc_exec_run(tgc_exec *x, const char *name, tgc_err *err);
/* Waits until everything issued to the device has completed (timing a step). */
int tgc_exec_sync(tgc_exec *x, tgc_err *err);

#endif
