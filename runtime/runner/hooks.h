/* runtime/runner/hooks.h - the training loop's hooks as MMEngine runs them: loop and hook decisions, the
 * Accuracy evaluator, the logger (smoothed values, log lines), visualisation backends and checkpoints.
 *
 * The decisions are pure functions of the counters, so they are unit-tested without a run:
 *   EpochBasedTrainLoop validates after epoch e (1-based, completed) when e >= val_begin and
 *   (e % val_interval == 0 or e == max_epochs); IterBasedTrainLoop the same over iterations.
 *   LoggerHook logs train iteration (batch_idx + 1) % interval == 0, and the last iteration of an epoch
 *   when ignore_last is false or the epoch is not longer than the interval; by iterations it uses the
 *   global iteration. "Exp name" is logged every interval_exp_name (1000) iterations and at epoch ends.
 *   CheckpointHook saves after epoch e when (e - save_begin) % interval == 0 (e >= save_begin) or
 *   save_last and e is the last epoch; by iterations the same over the global iteration. max_keep_ckpts
 *   keeps the newest N (a FIFO of saved ids: pushing one more evicts the oldest).
 */
#ifndef TGC_RUNTIME_HOOKS_H
#define TGC_RUNTIME_HOOKS_H

#include <stdint.h>
#include <stdio.h>

#include "common/util.h"
#include "frontend/cfg.h"
#include "runtime/io/checkpoint.h"
#include "runtime/data/data.h"
#include "runtime/exec/executor.h"
#include "runtime/runner/grad_accum.h"
#include "runtime/runner/loss_scale.h"
#include "runtime/io/logfmt.h"
#include "runtime/runner/lr_sched.h"
#include "runtime/io/tensorboard.h"

typedef struct tgc_ema tgc_ema;
typedef struct tgc_precise_bn tgc_precise_bn;
typedef struct tgc_det_metric tgc_det_metric;

/* ================================ loop (hook_policy.c) ================================ */

typedef struct tgc_loop_cfg {
    int by_epoch;        /* EpochBasedTrainLoop (1) or IterBasedTrainLoop (0) */
    int64_t max_epochs;  /* by_epoch */
    int64_t max_iters;   /* not by_epoch */
    int64_t val_begin, val_interval;
} tgc_loop_cfg;

/* Reads train_cfg (type, by_epoch, max_epochs, max_iters, val_begin, val_interval). */
int tgc_loop_from_cfg(const tgc_cfg *train_cfg, tgc_loop_cfg *l, tgc_err *err);
/* Whether to validate after `done` completed epochs (by_epoch) or iterations (by iter). */
int tgc_loop_should_validate(const tgc_loop_cfg *l, int64_t done);

typedef struct tgc_logger_cfg {
    int64_t interval;          /* LoggerHook.interval (10) */
    int ignore_last;           /* LoggerHook.ignore_last (true) */
    int64_t interval_exp_name; /* LoggerHook.interval_exp_name (1000) */
    int64_t window_size;       /* log_processor.window_size (10) */
    int by_epoch;              /* log_processor.by_epoch (default: the loop's) */
} tgc_logger_cfg;

int tgc_logger_from_cfg(const tgc_cfg *root, int loop_by_epoch, tgc_logger_cfg *c, tgc_err *err);
/* Train iteration: batch_idx is 0-based within the epoch (by epoch) or the global iteration (by iter);
 * epoch_len the dataloader length (by epoch; <= 0 when by iter). */
int tgc_logger_should_log(const tgc_logger_cfg *c, int64_t batch_idx, int64_t epoch_len);
/* "Exp name" line after global iteration iter (1-based) or at the end of an epoch. */
int tgc_logger_should_log_exp(const tgc_logger_cfg *c, int64_t iter, int end_of_epoch);

typedef struct tgc_ckpt_cfg {
    int enabled;         /* a CheckpointHook is configured (default_hooks.checkpoint not null) */
    int64_t interval;    /* 1; <= 0: only save_last / save_best */
    int by_epoch;        /* true */
    int64_t save_begin;  /* 0 */
    int64_t max_keep;    /* max_keep_ckpts; <= 0: keep all */
    int save_last;       /* true */
    char save_best[64];  /* "" none, "auto", or a metric name */
    int rule_less;       /* rule: 'greater' (0, the default for accuracy) or 'less' */
    char out_dir[1024];  /* out_dir ("" = the work dir) */
} tgc_ckpt_cfg;

int tgc_ckpt_cfg_from(const tgc_cfg *default_hooks, tgc_ckpt_cfg *c, tgc_err *err);
/* After epoch `epoch` (completed, 1-based); is_last: it is the last training epoch. */
int tgc_ckpt_should_save_epoch(const tgc_ckpt_cfg *c, int64_t epoch, int is_last);
/* After global iteration `iter` (1-based); only for by_epoch == false. */
int tgc_ckpt_should_save_iter(const tgc_ckpt_cfg *c, int64_t iter, int is_last);

/* The ids (epoch or iteration numbers) of the kept checkpoints, oldest first (max_keep_ckpts). */
#define TGC_KEEP_MAX 4096
typedef struct tgc_keep_list {
    int n;
    int64_t ids[TGC_KEEP_MAX];
} tgc_keep_list;
/* Appends id; when more than max_keep (> 0) remain, removes the oldest into *evicted and returns 1. */
int tgc_keep_push(tgc_keep_list *k, int64_t id, int64_t max_keep, int64_t *evicted);
/* "1,2,3" form for the checkpoint meta, and back (bad text -> -1). buf holds at least 21 x n bytes. */
void tgc_keep_format(const tgc_keep_list *k, char *buf, size_t size);
int tgc_keep_parse(tgc_keep_list *k, const char *s);

/* ================================ Accuracy (evaluator.c) ================================ */

#define TGC_ACC_MAX_TOPK 8

/* MMPretrain's Accuracy(topk): a sample is correct at k when its label is among the k highest scores.
 * Ties are broken like a stable descending sort: an equal score at a lower class index ranks first. A
 * NaN score of the label is never correct; NaN scores of other classes rank above it. */
typedef struct tgc_accuracy {
    int n_topk;
    int topk[TGC_ACC_MAX_TOPK];
    int64_t correct[TGC_ACC_MAX_TOPK];
    int64_t total;
} tgc_accuracy;

/* From val_evaluator: a map {type: Accuracy, topk: 1 | [1, 5]} or a list holding one such map. The top-k
 * values must be in 1..num_classes. NULL -> top-1. */
int tgc_accuracy_from_cfg(const tgc_cfg *evaluator, int num_classes, tgc_accuracy *a, tgc_err *err);
void tgc_accuracy_reset(tgc_accuracy *a);
/* The 0-based rank of class `label` in row (n classes) under the tie rule above. */
int tgc_accuracy_rank(const float *row, int n, int label);
/* Adds n samples (logits row-major [n, num_classes]). Labels outside 0..num_classes-1 count as wrong. */
void tgc_accuracy_update(tgc_accuracy *a, const float *logits, const int32_t *labels, int n, int num_classes);
/* Percent correct at topk[i], in float32 as MMPretrain computes it (correct x (100 / total)). */
double tgc_accuracy_value(const tgc_accuracy *a, int i);
/* "accuracy/top1" ... */
void tgc_accuracy_name(const tgc_accuracy *a, int i, char *buf, size_t size);

/* ================================ smoothing (hook_logger.c) ================================ */

/* numpy's pairwise summation of n doubles (what np.sum / HistoryBuffer.mean compute). */
double tgc_np_sum(const double *a, int64_t n);

/* The last `cap` values of one logged scalar (MMEngine's HistoryBuffer.mean(window_size)). */
typedef struct tgc_window {
    double *v; /* owned ring, cap entries */
    int64_t cap, n, head; /* head: the index of the oldest value when full */
} tgc_window;
void tgc_window_init(tgc_window *w, int64_t cap);
void tgc_window_free(tgc_window *w);
void tgc_window_push(tgc_window *w, double x);
/* Mean of the values held (oldest first, numpy summation order); 0 when empty. */
double tgc_window_mean(const tgc_window *w);
/* The values oldest first into out (w->n entries). */
void tgc_window_values(const tgc_window *w, double *out);

/* ================================ logger output (hook_logger.c) ================================ */

/* Lines go to stdout and to the run's log file, prefixed as MMLogger does ("MM/DD HH:MM:SS - mmengine -
 * INFO - "). */
typedef struct tgc_log_sink {
    FILE *file; /* the WORK_DIR/<ts>/<ts>.log file, or NULL */
    FILE *out;  /* stdout */
} tgc_log_sink;
void tgc_log_info(tgc_log_sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tgc_log_warning(tgc_log_sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tgc_log_error(tgc_log_sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ================================ visualisation (hook_vis.c) ================================ */

/* LocalVisBackend (scalars.json, always) and TensorboardVisBackend (when listed in
 * visualizer.vis_backends) under WORK_DIR/<ts>/vis_data. */
typedef struct tgc_vis {
    char *dir;        /* owned: the vis_data folder */
    FILE *json;       /* scalars.json */
    tgc_tb_writer *tb; /* NULL without TensorboardVisBackend */
} tgc_vis;

/* Reads visualizer.vis_backends (types LocalVisBackend, TensorboardVisBackend; others: an error naming
 * the key), creates dir and opens the writers. */
int tgc_vis_open(tgc_vis *v, const tgc_cfg *root, const char *dir, tgc_err *err);
/* One record: items in order plus "step" to scalars.json; every item as a TensorBoard scalar at step. */
int tgc_vis_add_scalars(tgc_vis *v, const tgc_log_item *items, int n, int64_t step, tgc_err *err);
int tgc_vis_close(tgc_vis *v, tgc_err *err);


/* ================================ the runner (train.c) ================================ */

#define TGC_MAX_LOSS_TERMS 16

/* What the loop and its hooks share, as MMEngine's hooks receive the runner. Owned by tgc_train. */
/* The portrait programs of a two-orientation detection plan (train_portrait, eval_portrait: the model on the
 * transposed canvas, its inputs named as the landscape programs'): the tensors the loop feeds and reads for
 * a portrait batch, -1 where the landscape program's are -1 or the plan has no such program. */
typedef struct tgc_portrait_io {
    int train, eval;             /* 1: the plan has train_portrait / eval_portrait (and they are used) */
    int tr_img, tr_cls, tr_box, tr_avg, tr_gtb, tr_gtl, tr_shape, tr_rng, tr_lr, tr_step, tr_scale, tr_loss, tr_gnorm;
    int term_t[TGC_MAX_LOSS_TERMS];
    int ev_img, ev_shape, ev_logits;
} tgc_portrait_io;

typedef struct tgc_runner {
    const tgc_plan *plan;
    const tgc_cfg *cfg;          /* plan->config */
    tgc_device *dev;             /* owned: what runs the plan (--device); the loaders' batch memory is its */
    tgc_exec *x;
    tgc_log_sink log;
    tgc_vis vis;
    char *work_dir, *log_dir, *ckpt_dir; /* owned */
    char *exp_name;              /* owned: "<config name>_<timestamp>" */
    tgc_loop_cfg loop;
    tgc_logger_cfg logc;
    tgc_ckpt_cfg ckc;
    tgc_loader *train_loader, *val_loader; /* owned; val_loader NULL without validation */
    int64_t iters_per_epoch, max_iters;    /* max_iters: the loop's total */
    int64_t stop_iter;           /* where this process stops: min(max_iters, --max-iters) (for the eta) */
    int64_t saved_iter;          /* r->iter at the last save that updated last_checkpoint; -1: none */
    int64_t epoch, iter, batch;  /* completed epochs, completed iterations, batches done in this epoch */
    uint64_t seed;
    tgc_window loss_w, time_w, data_w;
    /* The model's named loss terms (train program outputs "train/<name>": loss_cls, loss_bbox, ...), logged
     * after the loss in their order, each with its window; none for classifiers. */
    int n_terms;
    int term_t[TGC_MAX_LOSS_TERMS];
    char term_name[TGC_MAX_LOSS_TERMS][32];
    tgc_window term_w[TGC_MAX_LOSS_TERMS];
    tgc_window gnorm_w;          /* clip_grad by norm: the total norms of the updating iterations (grad_norm) */
    int tr_gnorm;                /* the train program's norm-sum output, or -1 */
    double time_sum;             /* seconds of the iterations timed in this process (for the eta) */
    int64_t timed_iters;
    int has_best;
    double best_value;
    char best_metric[64];
    char *best_ckpt;             /* owned, may be NULL */
    tgc_keep_list keep;
    tgc_accuracy acc;
    int num_classes;
    int tr_img, tr_lbl, tr_lr, tr_step, tr_loss; /* train program tensors (lbl may be -1) */
    tgc_precise_bn *pbn;         /* owned: PreciseBNHook, when the plan has a `precise_bn` program */
    tgc_ema *ema;                /* owned: EMAHook, when the plan has an `ema` program (hook_ema.c) */
    int tr_score;                /* the soft targets input (data_samples.gt_score) with batch augments, else -1 */
    tgc_batch_aug *baug;         /* owned: model.train_cfg.augments, when the plan has tr_score */
    float *scores;               /* owned: [tr_batch, score_classes], the soft targets of one batch */
    int score_classes;
    int ev_img, ev_lbl, ev_logits;               /* eval program tensors (lbl may be -1) */
    int64_t tr_batch, ev_batch;
    size_t sample_floats;        /* C x H x W */
    /* Several processes (runtime/dist/dist.h): only rank 0 logs, writes scalars and saves checkpoints; every
     * rank validates its shard of the val set and the counts are summed (MMEngine's collect_results). */
    int rank, world;             /* 0 and 1 in one process */
    struct tgc_ddp *ddp;         /* owned by tgc_train; NULL in one process */
    tgc_loss_scaler scaler;      /* float16 plans' loss scale (disabled otherwise) */
    tgc_grad_accum accum;        /* optim_wrapper.accumulative_counts (disabled when 1) */
    /* Detection plans (train input data_samples.cls_target, or rpn_cls_target: two-stage; hook_det_metric.c): */
    int det;                     /* 1: the loaders are detection loaders */
    int det_two_stage;           /* 1: Faster R-CNN (RPN targets, padded gts, img_shape, the RoI sampler's key) */
    int tr_cls, tr_box, tr_avg;  /* cls_target, bbox_target, avg_factor inputs (two-stage: the rpn_* ones) */
    int tr_gtb, tr_gtl, tr_shape, tr_rng; /* two-stage: gt_bboxes, gt_labels, img_shape, rng (else -1) */
    int ev_shape;                /* two-stage: the eval program's img_shape input (else -1) */
    int reduce_avg_factor;       /* model.train_cfg.tgc_reduce_avg_factor: avg_factor is the ranks' mean */
    int det_h, det_w;            /* the canvas (landscape; portrait batches use det_w x det_h) */
    tgc_portrait_io por;         /* two-orientation plans: the portrait programs' tensors */
    tgc_det_metric *dm;          /* owned: post-processing and CocoMetric, with validation */
    const char *eval_mode;       /* "val", or "test" for `tgc test` (the log lines' mode) */
    const char *dl_key, *ev_key; /* the evaluation's dataloader and evaluator keys (val_* or test_*) */
} tgc_runner;

/* ================================ checkpoints (hook_checkpoint.c) ================================ */

/* Saves the run's state to CKPT_DIR/name atomically (keep: the kept-ids list to record, NULL = r->keep),
 * and with update_last WORK_DIR/last_checkpoint. On failure (-1, err) earlier files are untouched. */
int tgc_runner_save(tgc_runner *r, const char *name, const tgc_keep_list *keep, int update_last, tgc_err *err);
/* CheckpointHook after a train epoch / iteration: "Saving checkpoint at ...", epoch_N.ckpt / iter_N.ckpt
 * when due, then deletes the one max_keep_ckpts evicts. */
int tgc_runner_after_train_epoch_ckpt(tgc_runner *r, int is_last, tgc_err *err);
int tgc_runner_after_train_iter_ckpt(tgc_runner *r, int is_last, tgc_err *err);
/* save_best after validation: metrics in order (names[i], values[i]). */
int tgc_runner_save_best(tgc_runner *r, char names[][32], const double *values, int n, tgc_err *err);
/* --resume from a loaded checkpoint (already checked against the plan's checksum): every state tensor,
 * the counters, the best record, the kept ids and the logger's loss window. */
int tgc_runner_resume(tgc_runner *r, const tgc_ckpt *c, const char *path, tgc_err *err);
/* load_from: params and buffers by name from a tgc checkpoint, a PyTorch .pth or a safetensors file
 * (runtime/runner/weights.h: shape mismatches skipped, missing/unexpected names reported as MMEngine's
 * load_state_dict does); optimizer state and counters stay fresh. */
int tgc_runner_load_weights(tgc_runner *r, const char *path, tgc_err *err);
/* init_cfg {type: Pretrained, checkpoint, prefix} of model, model.backbone, model.neck, model.head, in that
 * order (MMEngine's init_weights, before load_from). */
int tgc_runner_init_pretrained(tgc_runner *r, tgc_err *err);
/* `tgc test PLAN CHECKPOINT`: params and buffers from the checkpoint as load_from reads them. */
int tgc_runner_load_test_weights(tgc_runner *r, const char *path, tgc_err *err);

/* ================================ validation (hook_val.c) ================================ */

/* ValLoop over val_loader with the eval program (the last partial batch padded, the padding ignored),
 * Accuracy, the "Epoch(val)" lines, scalars and save_best. With several ranks, each evaluates its shard;
 * samples the sampler repeated to fill the last round (round_up) are not counted, and the counts are
 * summed over ranks, so the metric is the one of the whole set exactly once (collect_results' size cut). */
/* EMAHook (hook_ema.c): NULL (err untouched) when the plan has no `ema` program. after_iter runs after
 * train iteration `iter` (1-based); swap exchanges parameters and averages (around validation). */
tgc_ema *tgc_ema_open(const tgc_plan *p, tgc_err *err);
void tgc_ema_free(tgc_ema *e);
int tgc_ema_after_iter(tgc_ema *e, tgc_exec *x, int64_t iter, tgc_err *err);
int tgc_ema_swap(tgc_ema *e, tgc_exec *x, tgc_err *err);
/* PreciseBNHook (hook_precise_bn.c): NULL (err untouched) when the plan has no `precise_bn` program.
 * after_epoch runs after epoch `epoch` (1-based) when it is a multiple of the hook's interval. */
tgc_precise_bn *tgc_precise_bn_open(const tgc_plan *p, tgc_exec *x, tgc_err *err);
void tgc_precise_bn_free(tgc_precise_bn *b);
int tgc_precise_bn_after_epoch(tgc_precise_bn *b, tgc_runner *r, int64_t epoch, tgc_err *err);
int tgc_runner_validate(tgc_runner *r, tgc_err *err);

/* ============================ detection metric (hook_det_metric.c) ============================ */

/* The eval program's det_out [B, A, C + 4] post-processed per image (model.test_cfg; a two-stage plan's
 * [B, P, 4 + 1 + (C + 1) + 4C] by tgc_det_rcnn_predict with model.test_cfg.rcnn) and fed to CocoMetric
 * (the evaluator map: type CocoMetric, ann_file, metric bbox, format_only, outfile_prefix, proposal_nums;
 * other keys are named in a warning or refused). NULL + err on a bad config or an output of another shape. */
tgc_det_metric *tgc_det_metric_open(tgc_runner *r, const tgc_cfg *evaluator, const char *key, int eval_out,
                                    tgc_err *err);
void tgc_det_metric_free(tgc_det_metric *m);
void tgc_det_metric_reset(tgc_det_metric *m);
/* One batch: out holds the eval output of the whole batch, meta its first n images, pos their positions in
 * the val sampler's order (rank + k x world for this rank's k-th sample); portrait: the batch ran on the
 * transposed canvas (eval_portrait; its anchors). The detections are kept. */
int tgc_det_metric_process(tgc_det_metric *m, const float *out, const tgc_det_meta *meta, const int64_t *pos, int n,
                           int portrait, tgc_err *err);
/* MMEngine's collect_results: with ddp, every rank's detections go to rank 0 (every rank must call this);
 * there, in position order and without positions >= n_images (the sampler's round-up repeats), they enter
 * CocoMetric: the logged evaluation (the 12 summary lines, bbox_mAP_copypaste) and the metrics coco/bbox_mAP,
 * _50, _75, _s, _m, _l into names/values (*n = 6), or *n = 0 with format_only (the result file written,
 * logged) and on the other ranks. */
struct tgc_ddp;
int tgc_det_metric_finish(tgc_det_metric *m, struct tgc_ddp *ddp, int64_t n_images, tgc_log_sink *log,
                          char names[][32], double *values, int *n, tgc_err *err);
/* Floats of one eval output (B x A x (C + 4)). */
size_t tgc_det_metric_out_floats(const tgc_det_metric *m);

/* ================================ train logging (hook_logger.c) ================================ */

/* LoggerHook.after_train_iter (after r->iter and r->batch were advanced). */
int tgc_runner_log_train_iter(tgc_runner *r, double lr, tgc_err *err);

#endif
