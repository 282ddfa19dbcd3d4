/* runtime/exec/executor.h - runs a plan's programs: memory slabs, state initialisation, instruction dispatch.
 *
 * The executor knows only the plan. It allocates one block per slab (arena, inputs, params, buffers,
 * grads, optimizer state; 64-byte aligned), resolves every instruction's operand pointers once, and
 * runs a program by dispatching its instructions in order to the device's kernels (CPU: backend/cpu).
 * Collectives and profiling attach through callbacks, so the executor itself stays single-process.
 */
#ifndef TGC_RUNTIME_EXECUTOR_H
#define TGC_RUNTIME_EXECUTOR_H

#include <stdint.h>

#include "plan/plan.h"

typedef struct tgc_exec tgc_exec;

typedef struct tgc_exec_opts {
    int n_threads;     /* 0: OMP_NUM_THREADS, else the online cores */
    int deterministic; /* randomness.deterministic */
} tgc_exec_opts;

/* Builds an executor for a plan that tgc_plan_validate accepted. The plan must outlive the executor. */
tgc_exec *tgc_exec_new(const tgc_plan *plan, const tgc_exec_opts *opts, tgc_err *err);
void tgc_exec_free(tgc_exec *x);

/* Initialises every PARAM, BUFFER and OPTSTATE tensor from its init spec. Draws are Philox keyed by
 * (seed, tensor name), so a tensor's initial values do not depend on the other tensors or their order. */
int tgc_exec_init_state(tgc_exec *x, uint64_t seed, tgc_err *err);

/* The tensor's data (in its slab) and its plan entry. */
void *tgc_exec_data(const tgc_exec *x, int tensor);
const tgc_plan_tensor *tgc_exec_tensor(const tgc_exec *x, int tensor);
/* Index of a program's input by its plain name ("inputs", "data_samples.gt_label", "lr", "step"), or -1. */
int tgc_exec_input(const tgc_exec *x, const char *program, const char *name);
/* Index of a program's first output (train: the loss, eval: the logits), or -1. */
int tgc_exec_output(const tgc_exec *x, const char *program);

/* Called right after the instruction that completes a gradient bucket (multi-process all-reduce). */
typedef int (*tgc_bucket_fn)(void *ctx, const tgc_plan_bucket *b, void *data, tgc_err *err);
void tgc_exec_on_bucket(tgc_exec *x, tgc_bucket_fn fn, void *ctx);

/* Called around every instruction when set (profiling); t0/t1 from tgc_now(). */
typedef void (*tgc_instr_fn)(void *ctx, const tgc_program *p, int instr, double t0, double t1);
void tgc_exec_on_instr(tgc_exec *x, tgc_instr_fn fn, void *ctx);

/* Called once per run of a program that has gradient buckets, right before its first optimizer-update
 * instruction (TGC_OPF_OPTIMIZER), or after its last instruction when it has none: the point where every
 * bucket's collective must be complete (multi-process: wait for the all-reduces started per bucket). */
typedef int (*tgc_grads_ready_fn)(void *ctx, const tgc_program *p, tgc_err *err);
void tgc_exec_on_grads_ready(tgc_exec *x, tgc_grads_ready_fn fn, void *ctx);

/* The base of a slab's block and its size in bytes (*bytes may be NULL); NULL for an empty slab. */
void *tgc_exec_slab(const tgc_exec *x, tgc_slab s, uint64_t *bytes);

/* Runs program `name` ("train" or "eval") once over the current slab contents. */
int tgc_exec_run(tgc_exec *x, const char *name, tgc_err *err);

#endif
