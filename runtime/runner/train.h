/* runtime/runner/train.h - the training loop behind `tgc run` and `tgc train` (MMEngine's Runner, on one CPU).
 *
 * tgc_train runs a validated plan with the settings in plan->config (the resolved config recorded at
 * compile time, after the runtime --cfg-options below):
 *   WORK_DIR = opts.work_dir, else the config's work_dir, else ./work_dirs/<plan file name>;
 *   WORK_DIR/<timestamp>/<timestamp>.log (the lines printed on stdout), WORK_DIR/<timestamp>/vis_data/
 *   (scalars.json, config.yaml, TensorBoard events), checkpoints and last_checkpoint in WORK_DIR
 *   (or the CheckpointHook's out_dir).
 * The loop (EpochBasedTrainLoop or IterBasedTrainLoop from train_cfg), the schedule, the logger, the
 * checkpoint and validation hooks follow MMEngine (see runtime/runner/hooks.h). Randomness is a function of
 * (seed, epoch, position), so a run resumed from any of its checkpoints continues exactly.
 *
 * Checkpoints (runtime/io/checkpoint.h) hold every PARAM, BUFFER and OPTSTATE tensor by name and the meta
 * "epoch" (completed epochs), "iter" (completed iterations), "batch" (batches done in the current epoch),
 * "seed", "best_metric", "best_value", "best_ckpt", "keep_ckpts" and "log_window" (the logger's last
 * losses, as a list of Python reprs joined by ',').
 *
 * With opts.dist (one rank of several processes, runtime/dist/dist.h): the rendezvous comes first; rank 0's
 * seed is used by every rank; each rank reads its shard of the data (DefaultSampler by rank and world);
 * state is broadcast from rank 0 after initialisation or loading; gradients are averaged per bucket
 * during backward; SIGINT/SIGTERM on any rank stops every rank after the same iteration; only rank 0
 * writes logs, scalars, TensorBoard events and checkpoints (rank 0's loss is the one logged); every
 * rank validates its shard and the counts are summed; --auto-scale-lr scales by the world batch.
 */
#ifndef TGC_RUNTIME_TRAIN_H
#define TGC_RUNTIME_TRAIN_H

#include <stdint.h>
#include <stdio.h>

#include "plan/plan.h"
#include "common/util.h"

typedef struct tgc_train_opts {
    const char *plan_name;   /* the plan file (for the default work dir and messages); may be NULL */
    const char *work_dir;    /* --work-dir, or NULL */
    int resume;              /* --resume given */
    const char *resume_from; /* --resume CKPT, or NULL: WORK_DIR/last_checkpoint */
    int amp;                 /* --amp (1) / --fp16 (2): tgc train compiles them in; tgc run checks the plan */
    int no_validate;         /* --no-validate */
    int auto_scale_lr;       /* --auto-scale-lr */
    int64_t max_iters;       /* --max-iters N: stop after N iterations in all; <= 0: no cap */
    int has_seed;            /* --seed N */
    uint64_t seed;
    int deterministic;       /* --deterministic */
    int n_threads;           /* 0: OMP_NUM_THREADS, else the online cores */
    FILE *out;               /* where log lines go besides the log file (NULL: stdout) */
    const char *command;     /* how this run was started, for the resume hint ("tgc run plan.bin") */
    const struct tgc_dist_env *dist; /* one rank of several processes (runtime/dist/dist.h), or NULL: one process */
    const char *device;      /* "cpu" (NULL) or "cuda[:N]": the device (backend/device.h's registry) and the
                                collective engine (Gloo or NCCL) */
    const char *profile_dir; /* --profile DIR: profile (runtime/profile/profile.h) and write DIR/rank<R>/ at the end,
                                R = $RANK (0 when unset); NULL: no profiler */
    int profile_steps;       /* --profile-steps N: steps recorded after 1 warm-up step; 0: the default (10) */
    const char *test_ckpt;   /* `tgc test PLAN CHECKPOINT`: no training; the checkpoint's weights through the eval
                                program over test_dataloader / test_evaluator (val_* when there is no
                                test_dataloader), logged as "Epoch(test)"; NULL: train */
} tgc_train_opts;

/* Trains. Returns 0 when the loop finished, a signal number (> 0) when a stop request stopped it after
 * a checkpoint was saved, or -1 with err. */
int tgc_train(const tgc_plan *plan, const tgc_train_opts *opts, tgc_err *err);

/* Asks tgc_train to stop after the current iteration and save a checkpoint, as SIGINT/SIGTERM do: sig
 * (SIGINT or SIGTERM) is what the stop reports and returns; 0 withdraws a request. With several ranks,
 * a request on any rank stops every rank after the same iteration. Async-signal-safe: the library
 * installs no signal handler, the driver's handler calls this (driver/cmd_run.c). A request stays until
 * withdrawn. */
void tgc_train_request_stop(int sig);
/* The request's signal, or 0 (async-signal-safe). */
int tgc_train_stop_requested(void);

/* ---- runtime --cfg-options (run_opts.c) ----
 * Keys that do not change the compiled graph may be overridden when running a plan: train_cfg, val_cfg,
 * test_cfg, param_scheduler, default_hooks, custom_hooks, work_dir, randomness, env_cfg, visualizer,
 * vis_backends, log_processor, log_level, load_from, resume, auto_scale_lr, launcher,
 * val_evaluator, test_evaluator, optim_wrapper.optimizer.lr, and under train_/val_/test_dataloader:
 * num_workers, persistent_workers, pin_memory, prefetch_factor, sampler(.*), dataset.data_root,
 * dataset.data_prefix(.*), dataset.indices. Each may be followed by deeper keys (train_cfg.max_epochs). */
int tgc_run_option_allowed(const char *key);
/* Applies "KEY=VALUE" items to cfg; a key outside the list is an error telling to recompile with
 * `tgc compile CONFIG --cfg-options KEY=VALUE`. */
int tgc_run_apply_options(tgc_cfg *cfg, const char *const *items, int n, tgc_err *err);

#endif
