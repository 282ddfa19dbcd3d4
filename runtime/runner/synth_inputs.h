/* runtime/runner/synth_inputs.h - seeded synthetic inputs for a plan's programs, as `tgc bench` and the GPU
 * benchmark (tests/cuda/gpu_exec_check.c bench) feed them: images uniform in [-2, 2), labels uniform over the
 * classes, RetinaNet's and Faster R-CNN's targets in the shapes and ranges the loader gives (not assigned from
 * real boxes: a throughput input, not a training one). */
#ifndef TGC_RUNTIME_RUNNER_SYNTH_INPUTS_H
#define TGC_RUNTIME_RUNNER_SYNTH_INPUTS_H

#include "common/util.h"
#include "runtime/exec/executor.h"

/* The plan's class count from its eval output: a classifier's logits [B, C]; RetinaNet's det_out [B, A, C + 4];
 * Faster R-CNN's [B, P, 4 + 1 + (C + 1) + 4C] (an eval program taking data_samples.img_shape). 0 if none. */
int tgc_synth_num_classes(tgc_exec *x);

/* Writes every input of program prog it knows: "inputs", "data_samples.gt_label", a detector's targets and
 * ground truth (RetinaNet: about 1% of the anchors positive, 10% ignored; Faster R-CNN: 256 sampled anchors per
 * image, 8 ground-truth boxes of 16..128 pixels, img_shape the canvas, the RoI sampler's key), "lr" and a
 * float16 plan's "loss_scale" (1). The same values for the same plan on any device. */
int tgc_synth_fill_inputs(tgc_exec *x, const char *prog, int num_classes, double lr, tgc_err *err);

#endif
