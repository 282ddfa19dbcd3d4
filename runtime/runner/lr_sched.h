/* runtime/runner/lr_sched.h - the learning-rate schedule (MMEngine's `param_scheduler`) and `auto_scale_lr`.
 *
 * SEMANTICS (MMEngine 0.x, mmengine/optim/scheduler/param_scheduler.py, runner.py, ParamSchedulerHook):
 *
 * Config. `param_scheduler` is one map or a list of maps. Common keys: type, by_epoch (true), begin (0),
 * end (default: the loop's max_epochs for by-epoch schedulers, max_iters for by-iter ones, as Runner sets
 * it), convert_to_iter_based (false), verbose (ignored). Types and their keys:
 *   LinearLR           start_factor (1/3), end_factor (1.0), both in (0, 1]
 *   MultiStepLR        milestones (list of ints, required), gamma (0.1)
 *   StepLR             step_size (required, > 0), gamma (0.1)
 *   CosineAnnealingLR  T_max (default end - begin), eta_min (0) or eta_min_ratio (eta_min = base lr * ratio)
 *   ConstantLR         factor (1/3), in (0, 1]
 *   ExponentialLR      gamma (required)
 *   PolyLR             eta_min (0), power (1.0)
 * A factor of 0 is refused: MMEngine's chained form divides by it (ZeroDivisionError there).
 * convert_to_iter_based (only with by_epoch) multiplies begin, end, T_max, step_size and milestones by the
 * iterations per epoch and makes the scheduler by-iter (build_iter_from_epoch); T_max is scaled only when
 * given, and the default T_max is then end - begin in iterations.
 *
 * Stepping. Each scheduler keeps a global step g (-1 before construction) and a local step t (-1). One
 * step(): g += 1; if begin <= g < end: t += 1 and lr = value(lr, t). Construction performs one step, in
 * list order, starting from the base lr. Then, after every training iteration, each by-iter scheduler
 * steps (list order); after the last iteration of every epoch, each by-epoch scheduler steps (list order)
 * after the by-iter ones (ParamSchedulerHook: after_train_iter runs before after_train_epoch).
 *
 * value(lr, t) is MMEngine's CHAINED (recursive) form, applied to the lr left by every other scheduler,
 * which is what makes composed schedules (warm-up + cosine with eta_min != 0) come out as in MMEngine:
 *   LinearLR      t=0: lr*start; else lr*(1 + (end-start) / (T*start + (t-1)*(end-start))), T = end-begin-1
 *   MultiStepLR   lr * gamma^(number of milestones equal to t)   (milestones count from `begin`)
 *   StepLR        t>0 and t % step_size == 0: lr*gamma, else lr
 *   Cosine        t=0: lr; (t-1-T_max) mod 2T_max == 0: lr + (base-eta_min)*(1-cos(pi/T_max))/2;
 *                 else eta_min + (lr-eta_min)*(1+cos(pi t/T_max))/(1+cos(pi (t-1)/T_max))
 *   ConstantLR    t=0: lr*factor; t == end-begin-1: lr/factor; else lr
 *   ExponentialLR t=0: lr; else lr*gamma
 *   PolyLR        t=0: lr; else eta_min + (lr-eta_min)*(1 - 1/(T - t + 1))^power, T = end-begin-1
 * ("base" is the lr the optimizer had before any scheduler, after auto_scale_lr.)
 *
 * tgc_lr_sched_lr_at(s, i) is the lr the optimizer uses in training iteration i (0-based global iteration):
 * the state after construction and i rounds of stepping. It depends only on (config, facts, i). It is
 * computed by replaying the steps, with a cursor so that calls with increasing i cost O(1) each; a call
 * with a smaller i replays from 0 (a resume does that once); a jump forward costs O(jump x schedulers),
 * nothing once every scheduler is past its end. Not thread-safe (the cursor).
 *
 * auto_scale_lr (Runner.scale_lr): when `enable` is true, the optimizer's lr is multiplied by
 * real_total_batch / base_batch_size BEFORE the schedulers are built (so eta_min stays absolute, and
 * eta_min_ratio follows the scaled lr). Pass the scaled lr as base_lr to tgc_lr_sched_build.
 */
#ifndef TGC_RUNTIME_SCHED_H
#define TGC_RUNTIME_SCHED_H

#include <stdint.h>

#include "common/util.h"
#include "frontend/cfg.h"

/* The loop's facts the schedule needs. */
typedef struct tgc_lr_sched_facts {
    int64_t iters_per_epoch; /* > 0: len(train_dataloader) */
    int64_t max_epochs;      /* default `end` of by-epoch schedulers; <= 0: none (MMEngine's INF, 1e9) */
    int64_t max_iters;       /* default `end` of by-iter schedulers;  <= 0: none */
} tgc_lr_sched_facts;

typedef struct tgc_lr_sched tgc_lr_sched;

/* Builds the schedule from the `param_scheduler` node (a map, a list of maps, or NULL / null / an empty
 * list for a constant lr). Errors name the file, line and key path: an unknown type lists the known ones. */
tgc_lr_sched *tgc_lr_sched_build(const tgc_cfg *param_scheduler, double base_lr, const tgc_lr_sched_facts *facts,
                           tgc_err *err);
/* The lr used in global training iteration iter (>= 0). */
double tgc_lr_sched_lr_at(tgc_lr_sched *s, int64_t iter);
/* Number of schedulers (0 for a constant lr). */
int tgc_lr_sched_count(const tgc_lr_sched *s);
void tgc_lr_sched_free(tgc_lr_sched *s);

/* `auto_scale_lr` (the node, or NULL when absent): *ratio = real_total_batch / base_batch_size when
 * enable is true, else 1. real_total_batch is world size x per-device batch size. */
int tgc_auto_scale_lr(const tgc_cfg *auto_scale_lr, int64_t real_total_batch, double *ratio, tgc_err *err);

#endif
