/* runtime/runner/grad_accum.h - gradient accumulation as MMEngine's OptimWrapper (accumulative_counts: N).
 *
 * MMEngine divides each iteration's loss by N, lets the gradients add up in p.grad over N iterations and
 * steps the optimizer (then zeroes the gradients) when its inner count is a multiple of N or equals the
 * loop's max_iters; the inner count starts at the loop's iteration (Runner.train's initialize_count_status),
 * so groups run on across epoch boundaries. When max_iters is not a multiple of N, the iterations of the
 * last, incomplete group divide the loss by the remainder (max_iters % N) instead.
 *
 * Here the train program computes each iteration's gradients as usual; right before the optimizer section
 * (after the all-reduce, so every rank holds the same values) the accumulator reads the gradient slab,
 * adds slab x (1 / factor) to its own host sum and writes the sum back into the slab: the slab then holds
 * what p.grad holds in PyTorch. On an updating iteration the section runs (clipping included) and the sum
 * restarts at zero; on the others the section is skipped (the executor's update check). Everything before
 * the section runs every iteration, as in MMEngine: BN running statistics, and the EMA hook after it.
 * The optimizer's step count t is the number of updates, ceil((iteration + 1) / N). The sum is not kept in
 * checkpoints (MMEngine keeps no gradients either): a resume inside a group loses that group's part, with
 * MMEngine's warning. */
#ifndef TGC_RUNTIME_GRAD_ACCUM_H
#define TGC_RUNTIME_GRAD_ACCUM_H

#include <stdint.h>

#include "plan/plan.h"
#include "runtime/exec/executor.h"

typedef struct tgc_grad_accum {
    int n;              /* accumulative_counts; <= 1: disabled */
    int64_t max_counts; /* the loop's max_iters (<= 0: unknown, every factor is n) */
    int update;         /* the iteration being run updates */
    float inv;          /* 1 / its loss factor */
    tgc_exec *x;        /* borrowed */
    float *acc, *buf;   /* owned: the running sum and the slab's host copy */
    uint64_t bytes;
} tgc_grad_accum;

/* Sets a up for the plan's accumulative_counts (disabled when 1) and attaches its check to x. A float16
 * plan (whose loss scaler owns the check) with accumulation is refused. */
int tgc_grad_accum_init(tgc_grad_accum *a, const tgc_plan *p, tgc_exec *x, tgc_err *err);
void tgc_grad_accum_free(tgc_grad_accum *a);
/* The loop's total iteration count, which decides the last group's factor. */
void tgc_grad_accum_set_max(tgc_grad_accum *a, int64_t max_iters);
/* Before running iteration `iter` (0-based: the count of iterations done): its factor and whether it
 * updates. */
void tgc_grad_accum_begin(tgc_grad_accum *a, int64_t iter);
/* The optimizer's step count t to feed for iteration `iter`: iter + 1 without accumulation, else the
 * number of updates including a pending one, ceil((iter + 1) / n). */
int64_t tgc_grad_accum_step(const tgc_grad_accum *a, int64_t iter);

#endif
