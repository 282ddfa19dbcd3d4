/* runtime/runner/hook_val.c - ValLoop: the eval program over the val loader, Accuracy, val logging and save_best. */
#include <stdlib.h>
#include <string.h>

#include "runtime/data/det_data.h"
#include "runtime/dist/dist.h"
#include "runtime/runner/hooks.h"

/* Uploads a batch into the eval program's inputs (eval_portrait's for a portrait batch); rows past b->n are
 * zeroed first (padding, ignored later; the loader leaves them undefined). */
static int fill_eval_inputs(tgc_runner *r, tgc_batch *b, int32_t *labels, tgc_err *err) {
    size_t row = r->sample_floats;
    int por = b->portrait, ev_img = por ? r->por.ev_img : r->ev_img, ev_shape = por ? r->por.ev_shape : r->ev_shape;
    if (por && !r->por.eval) return tgc_fail(err, "internal error: a portrait batch but no eval_portrait program");
    memset(b->images + row * (size_t)b->n, 0, sizeof(float) * row * (size_t)(r->ev_batch - b->n));
    memcpy(labels, b->labels, sizeof(int32_t) * (size_t)b->n);
    memset(labels + b->n, 0, sizeof(int32_t) * (size_t)(r->ev_batch - b->n));
    if (tgc_exec_write(r->x, ev_img, b->images, err) < 0) return -1;
    if (ev_shape >= 0) { /* padding rows: the whole canvas */
        float ch = (float)(por ? r->det_w : r->det_h), cw = (float)(por ? r->det_h : r->det_w);
        for (int i = b->n; i < r->ev_batch; i++) b->img_shape[2 * i] = ch, b->img_shape[2 * i + 1] = cw;
        if (tgc_exec_write(r->x, ev_shape, b->img_shape, err) < 0) return -1;
    }
    return r->ev_lbl >= 0 ? tgc_exec_write(r->x, r->ev_lbl, labels, err) : 0;
}

static int validate(tgc_runner *r, tgc_err *err);

/* The evaluation's metrics (names[k] = values[k], n of them): the Epoch(val|test) log line, the scalars with
 * data_time and time, and the best checkpoint (save_best). */
static int report_metrics(tgc_runner *r, int by_epoch, int64_t len, char names[][32], const double *values, int n,
                          double mean_data, double mean_time, tgc_err *err) {
    tgc_log_item items[TGC_ACC_MAX_TOPK + 2];
    for (int k = 0; k < n; k++) items[k] = (tgc_log_item){names[k], values[k], 0};
    char *line = tgc_logfmt_epoch(r->eval_mode, by_epoch, r->epoch, len, items, n, mean_data, mean_time);
    tgc_log_info(&r->log, "%s", line);
    free(line);
    items[n] = (tgc_log_item){"data_time", mean_data, 0};
    items[n + 1] = (tgc_log_item){"time", mean_time, 0};
    if (tgc_vis_add_scalars(&r->vis, items, n + 2, by_epoch ? r->epoch : r->iter, err) < 0) return -1;
    return tgc_runner_save_best(r, names, values, n, err);
}

/* CocoMetric's evaluation (every rank's detections collected on rank 0: the whole val set, each image once),
 * the "Epoch(val)" line, scalars and save_best. */
static int det_finish(tgc_runner *r, int by_epoch, int64_t len, double mean_data, double mean_time, tgc_err *err) {
    char names[TGC_ACC_MAX_TOPK][32];
    double values[TGC_ACC_MAX_TOPK];
    int n;
    int64_t n_images = tgc_det_dataset_len(tgc_loader_det_dataset(r->val_loader));
    if (tgc_det_metric_finish(r->dm, r->ddp, n_images, &r->log, names, values, &n, err))
        return tgc_err_prefix(err, "%s", r->ev_key);
    if (r->rank != 0) return 0;
    return report_metrics(r, by_epoch, len, names, values, n, mean_data, mean_time, err);
}

/* With EMAHook, on the averaged weights (MMEngine's before_val_epoch/after_val_epoch swaps). */
int tgc_runner_validate(tgc_runner *r, tgc_err *err) {
    if (tgc_ema_swap(r->ema, r->x, err)) return -1;
    int rc = validate(r, err);
    tgc_err e2 = {{0}};
    if (tgc_ema_swap(r->ema, r->x, rc ? &e2 : err)) return -1;
    return rc;
}

static int validate(tgc_runner *r, tgc_err *err) {
    int by_epoch = r->loop.by_epoch && r->logc.by_epoch;
    int64_t len = tgc_loader_num_batches(r->val_loader);
    if (r->dm) tgc_det_metric_reset(r->dm);
    else tgc_accuracy_reset(&r->acc);
    if (tgc_loader_begin_epoch(r->val_loader, 0, 0, err) < 0) return tgc_err_prefix(err, "validation");
    int32_t *labels = tgc_malloc(sizeof(int32_t) * (size_t)r->ev_batch);
    float *logits = tgc_malloc(sizeof(float) * (r->dm ? tgc_det_metric_out_floats(r->dm)
                                                       : (size_t)r->ev_batch * (size_t)r->num_classes));
    tgc_det_meta *meta = r->dm ? tgc_malloc(sizeof(tgc_det_meta) * (size_t)r->ev_batch) : NULL;
    int64_t *pos = tgc_malloc(sizeof(int64_t) * (size_t)r->ev_batch);
    tgc_window tw, dw;
    tgc_window_init(&tw, r->logc.window_size);
    tgc_window_init(&dw, r->logc.window_size);
    double t = tgc_now(), time_sum = 0, data_sum = 0;
    int64_t i = 0;
    int rc = 0;
    if (r->por.eval && r->rank == 0) {
        int nb[2], dropped;
        tgc_loader_group_stats(r->val_loader, nb, &dropped);
        tgc_log_info(&r->log, "Batches of one orientation: %d landscape / %d portrait (%s)", nb[0], nb[1],
                     r->world > 1 ? "rank 0's shard" : "eval and eval_portrait");
    }
    for (;; i++) {
        tgc_batch *b;
        int got = tgc_loader_next(r->val_loader, &b, err);
        if (got < 0) {
            rc = tgc_err_prefix(err, "validation");
            break;
        }
        if (got == 0) break;
        double data_time = tgc_now() - t;
        int n = b->n, portrait = b->portrait;
        if (meta) memcpy(meta, b->meta, sizeof(tgc_det_meta) * (size_t)n);
        for (int k = 0; k < n; k++) /* sample k of this batch in the sampler's order of the whole set */
            pos[k] = meta ? meta[k].position : r->rank + ((int64_t)b->index * r->ev_batch + k) * r->world;
        if (r->world > 1 && !r->dm) { /* sample k of this rank sits at position rank + k * world of the padded order */
            int64_t first = (int64_t)b->index * r->ev_batch;
            int64_t mine = (tgc_dataset_len(tgc_loader_dataset(r->val_loader)) - r->rank + r->world - 1) / r->world;
            n = (int)TGC_MAX(0, TGC_MIN((int64_t)n, mine - first));
        }
        int frc = fill_eval_inputs(r, b, labels, err);
        tgc_loader_release(r->val_loader, b);
        if (frc < 0 || tgc_exec_run(r->x, portrait ? "eval_portrait" : "eval", err) < 0 ||
            tgc_exec_read(r->x, portrait ? r->por.ev_logits : r->ev_logits, logits, err) < 0) {
            rc = -1;
            break;
        }
        if (r->dm) {
            if (tgc_det_metric_process(r->dm, logits, meta, pos, n, portrait, err)) {
                rc = tgc_err_prefix(err, "validation");
                break;
            }
        } else {
            tgc_accuracy_update(&r->acc, logits, labels, n, r->num_classes);
        }
        double now = tgc_now(), it = now - t;
        t = now;
        time_sum += it;
        data_sum += data_time;
        tgc_window_push(&tw, it);
        tgc_window_push(&dw, data_time);
        if ((i + 1) % r->logc.interval == 0) {
            tgc_log_iter l = {0};
            l.mode = r->eval_mode;
            l.by_epoch = by_epoch;
            l.epoch = r->epoch;
            l.max_epochs = r->loop.max_epochs;
            l.iter = i + 1;
            l.len = len;
            l.has_time = 1;
            l.eta_s = time_sum / (double)(i + 1) * (double)(len - i - 1);
            l.time = tgc_window_mean(&tw);
            l.data_time = tgc_window_mean(&dw);
            l.memory = -1;
            char *line = tgc_logfmt_iter(&l);
            tgc_log_info(&r->log, "%s", line);
            free(line);
        }
    }
    free(labels);
    free(logits);
    free(meta);
    free(pos);
    tgc_window_free(&tw);
    tgc_window_free(&dw);
    if (rc < 0) return -1;
    double mean_data = i ? data_sum / (double)i : 0, mean_time = i ? time_sum / (double)i : 0;
    if (r->dm) return det_finish(r, by_epoch, len, mean_data, mean_time, err);
    if (r->ddp) { /* every rank's counts, summed */
        int64_t counts[TGC_ACC_MAX_TOPK + 1];
        for (int k = 0; k < r->acc.n_topk; k++) counts[k] = r->acc.correct[k];
        counts[r->acc.n_topk] = r->acc.total;
        if (tgc_ddp_sum_counts(r->ddp, counts, r->acc.n_topk + 1, err) < 0) return tgc_err_prefix(err, "validation");
        for (int k = 0; k < r->acc.n_topk; k++) r->acc.correct[k] = counts[k];
        r->acc.total = counts[r->acc.n_topk];
    }
    if (r->rank != 0) return 0; /* rank 0 logs, writes scalars and keeps the best checkpoint */

    char names[TGC_ACC_MAX_TOPK][32];
    double values[TGC_ACC_MAX_TOPK];
    int n = r->acc.n_topk;
    for (int k = 0; k < n; k++) {
        tgc_accuracy_name(&r->acc, k, names[k], sizeof names[k]);
        values[k] = tgc_accuracy_value(&r->acc, k);
    }
    return report_metrics(r, by_epoch, len, names, values, n, mean_data, mean_time, err);
}
