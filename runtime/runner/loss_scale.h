/* runtime/runner/loss_scale.h - float16 loss scaling as MMEngine's AmpOptimWrapper (PyTorch's GradScaler).
 *
 * A float16 plan's train program takes the scalar input `loss_scale`, which seeds its backward pass, so
 * every gradient comes out multiplied by the scale. Right before the optimizer updates (after the
 * all-reduce, so every rank decides alike) the device checks the gradient slab (tgc_exec_grad_unscale): if
 * every value is finite it divides them by the scale and the updates run; otherwise the step's updates are
 * skipped (only the answer comes back to the host). Then, with
 * a dynamic scale, an overflow halves the scale (backoff 0.5) and growth_interval finite steps in a row
 * double it (growth 2); a fixed scale (loss_scale: 512.0) never changes, and overflowed steps are still
 * skipped. The scale and the count of finite steps are saved in checkpoints and restored by --resume.
 */
#ifndef TGC_RUNTIME_LOSS_SCALE_H
#define TGC_RUNTIME_LOSS_SCALE_H

#include <stdint.h>

#include "plan/plan.h"
#include "runtime/exec/executor.h"
#include "runtime/io/checkpoint.h"

typedef struct tgc_loss_scaler {
    int enabled, dynamic;
    double scale;           /* the current loss scale */
    int growth_interval;
    int64_t growth_tracker; /* finite steps since the scale last changed */
    int found_inf;          /* the last step's gradients overflowed (its updates were skipped) */
    int64_t skipped;        /* steps skipped in this process */
    tgc_exec *x;            /* borrowed */
    int scale_input;        /* the train program's loss_scale tensor */
} tgc_loss_scaler;

/* Sets s up for the plan (disabled unless it is a float16 plan) and attaches its check to x. */
int tgc_loss_scaler_init(tgc_loss_scaler *s, const tgc_plan *p, tgc_exec *x, tgc_err *err);
void tgc_loss_scaler_free(tgc_loss_scaler *s);
/* Writes the current scale into the train program's loss_scale input (before each step). */
int tgc_loss_scaler_feed(tgc_loss_scaler *s, tgc_err *err);
/* After a step: the dynamic scale's backoff or growth. Returns 1 when the step overflowed (the caller logs
 * it), else 0. */
int tgc_loss_scaler_update(tgc_loss_scaler *s);
/* Checkpoint records: "loss_scale", "loss_scale_growth_tracker". */
void tgc_loss_scaler_save(const tgc_loss_scaler *s, tgc_ckpt_writer *w);
int tgc_loss_scaler_load(tgc_loss_scaler *s, const tgc_ckpt *c, tgc_err *err);
/* Python's repr of a float ("32768.0", "0.5"), as MMEngine's log lines print the scale. */
void tgc_py_float(double v, char *buf, size_t n);

#endif
