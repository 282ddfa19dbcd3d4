/* frontend/frontend.h - from a loaded config to a module (train and eval graphs).
 *
 * The builders know models; everything they emit is IR. The registry (frontend/registry.c) is the one
 * place a model part is added: an entry maps a `type:` name to a builder.
 */
#ifndef TGC_FRONTEND_H
#define TGC_FRONTEND_H

#include "frontend/cfg.h"
#include "passes/passes.h"

/* Input description derived from the data settings (dataset type and pipeline) and dataloaders. */
typedef struct tgc_input_spec {
    int64_t channels, height, width;
    int64_t train_batch, eval_batch; /* train_dataloader.batch_size, val_dataloader.batch_size */
    int64_t num_classes;
    int portrait; /* 1: a detection plan of two orientations: train_portrait and eval_portrait on the transposed
                   * canvas width x height as well (frontend/data.c, two_orientations) */
} tgc_input_spec;

/* Derives the input spec; errors name the key at fault. */
int tgc_frontend_input_spec(const tgc_cfg *root, tgc_input_spec *spec, tgc_err *err);

/* Builds m->train (forward in training mode + loss; the passes add backward and the update) and m->eval
 * (forward in eval mode, logits as output) and fills m->optim, batches and bucket settings from the
 * config. On error m is left empty (nothing to free). */
int tgc_frontend_build(const tgc_cfg *root, tgc_module *m, tgc_err *err);

/* Mixed precision from optim_wrapper (type AmpOptimWrapper, dtype, loss_scale) or MMDetection 2.x's
 * `fp16: {loss_scale: ...}`; dtype TGC_F32 when neither asks for it. */
int tgc_frontend_amp(const tgc_cfg *root, tgc_amp_spec *a, tgc_err *err);

#endif
