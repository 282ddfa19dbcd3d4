/* runtime/runner/weights.h - pretrained weights into a plan's parameters and buffers, as MMEngine loads them.
 *
 * `load_from: PATH` loads a whole model's state dict (MMEngine's load_checkpoint, strict=False), and
 * `model.<part>.init_cfg: {type: Pretrained, checkpoint: PATH, prefix: P}` loads into one part: the keys
 * starting with P (a '.' added when it lacks one), P stripped (MMEngine's _load_checkpoint_with_prefix), or all keys without a prefix, are
 * matched against the part's names (the plan name less "<part>."). Any file tgc_sd_load reads works: a
 * PyTorch .pth (MMPretrain/MMDetection checkpoints, plain state dicts), safetensors, a tgc checkpoint.
 *
 * Keys: a leading "module." (a DDP-wrapped model) is stripped, as MMEngine's default revise_keys does;
 * BN's num_batches_tracked, which tgc does not keep, is dropped without a report; a whole-model load of a
 * state dict with torchvision's ResNet names (conv1, bn1, layerN.M.*, downsample.0/1, fc) and none of the
 * model's is mapped to MMPretrain's (backbone.*, fc -> head.fc), with an info line saying so.
 * Values: the same dtype is copied; f32, f16 and bf16 are converted to the plan tensor's (round to nearest
 * even). Mismatched shapes
 * are skipped. The report is MMEngine's ("The model and loaded state dict do not match exactly", size
 * mismatches, unexpected keys, missing keys), returned as a warning text.
 *
 * Checkpoint names MMEngine would download (torchvision://, open-mmlab://, mmcls://, http(s)://) are
 * resolved without a network: a URL is looked up in MMEngine's download cache
 * ($TORCH_HOME/hub/checkpoints/BASENAME, TORCH_HOME defaulting to ~/.cache/torch); otherwise, and for the
 * model-zoo schemes, the error says tgc does not download and where the file is expected.
 */
#ifndef TGC_RUNTIME_WEIGHTS_H
#define TGC_RUNTIME_WEIGHTS_H

#include "common/util.h"
#include "plan/plan.h"
#include "runtime/exec/executor.h"

typedef struct tgc_weights_opts {
    const char *checkpoint; /* a path, or a name MMEngine would download */
    const char *scope;      /* "" (load_from) or "backbone." (the part's plan-name prefix) */
    const char *prefix;     /* init_cfg's prefix, or NULL */
    const char *what;       /* "load_from", "model.backbone.init_cfg": message prefix */
} tgc_weights_opts;

typedef struct tgc_weights_report {
    char *path;    /* the file read (owned) */
    char *info;    /* info lines (owned, may be NULL): key mapping, top-level keys not read */
    char *warning; /* MMEngine's mismatch report (owned), NULL when everything matched */
    int loaded;    /* tensors written */
} tgc_weights_report;

/* Resolves checkpoint to a local path (caller frees) or fails saying where to put the file. */
int tgc_weights_resolve(const char *checkpoint, char **path, tgc_err *err);
/* Loads into x's params and buffers under o->scope. */
int tgc_weights_load(const tgc_plan *p, tgc_exec *x, const tgc_weights_opts *o, tgc_weights_report *rep,
                     tgc_err *err);
void tgc_weights_report_free(tgc_weights_report *rep);

#endif
