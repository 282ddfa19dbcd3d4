/* runtime/runner/hook_checkpoint.c - CheckpointHook: saving, keeping, best checkpoints, resume and load_from. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/runner/hooks.h"
#include "runtime/runner/weights.h"

static int is_state(const tgc_plan_tensor *t) {
    return t->kind == TGC_VAL_PARAM || t->kind == TGC_VAL_BUFFER || t->kind == TGC_VAL_OPTSTATE;
}

/* The logger's loss window as Python reprs joined by ',' (exact round trip through strtod). */
static char *format_window(const tgc_window *w) {
    tgc_buf b = {0};
    double *v = tgc_malloc(sizeof(double) * (size_t)(w->n ? w->n : 1));
    tgc_window_values(w, v);
    for (int64_t i = 0; i < w->n; i++) {
        char num[40];
        tgc_logfmt_pyfloat(v[i], num, sizeof num);
        if (i) tgc_buf_u8(&b, ',');
        tgc_buf_put(&b, num, strlen(num));
    }
    tgc_buf_u8(&b, 0);
    free(v);
    return (char *)b.data;
}

static int parse_window(tgc_window *w, const char *s) {
    w->n = w->head = 0;
    while (*s) {
        char *end;
        double v = strtod(s, &end);
        if (end == s) { /* Python's repr of non-finite values */
            if (!strncmp(s, "nan", 3)) v = NAN, end = (char *)s + 3;
            else if (!strncmp(s, "inf", 3)) v = INFINITY, end = (char *)s + 3;
            else if (!strncmp(s, "-inf", 4)) v = -INFINITY, end = (char *)s + 4;
            else return -1;
        }
        tgc_window_push(w, v);
        if (*end == ',') end++;
        else if (*end) return -1;
        s = end;
    }
    return 0;
}

/* Host copies of the slabs that hold state tensors (the writer reads them when it saves). */
static int download_state(tgc_runner *r, uint8_t *host[TGC_SLAB_COUNT], tgc_err *err) {
    const tgc_plan *p = r->plan;
    for (int i = 0; i < p->n_tensors; i++) {
        const tgc_plan_tensor *t = &p->tensors[i];
        if (!is_state(t) || host[t->slab]) continue;
        uint64_t n = p->slab_bytes[t->slab];
        host[t->slab] = tgc_malloc(n ? (size_t)n : 1);
        if (tgc_exec_read_bytes(r->x, t->slab, 0, n, host[t->slab], err) < 0) return -1;
    }
    return 0;
}

int tgc_runner_save(tgc_runner *r, const char *name, const tgc_keep_list *keep, int update_last, tgc_err *err) {
    const tgc_plan *p = r->plan;
    char *path = tgc_asprintf("%s/%s", r->ckpt_dir, name);
    tgc_ckpt_writer *w = tgc_ckpt_writer_new(p->checksum);
    uint8_t *host[TGC_SLAB_COUNT] = {0};
    int rc = download_state(r, host, err);
    for (int i = 0; i < p->n_tensors && rc == 0; i++) {
        const tgc_plan_tensor *t = &p->tensors[i];
        if (is_state(t)) rc = tgc_ckpt_add(w, t->name, t->type.dtype, &t->type.shape, host[t->slab] + t->offset, err);
    }
    size_t keep_n = TGC_KEEP_MAX * 21 + 1;
    char *keep_s = tgc_malloc(keep_n);
    tgc_keep_format(keep ? keep : &r->keep, keep_s, keep_n);
    char *win = format_window(&r->loss_w), *gwin = r->gnorm_w.n ? format_window(&r->gnorm_w) : NULL;
    tgc_ckpt_set_int(w, "epoch", r->epoch);
    tgc_ckpt_set_int(w, "iter", r->iter);
    tgc_ckpt_set_int(w, "batch", r->batch);
    tgc_ckpt_set_int(w, "seed", (int64_t)r->seed);
    tgc_ckpt_set_str(w, "keep_ckpts", keep_s);
    tgc_ckpt_set_str(w, "log_window", win);
    if (gwin) tgc_ckpt_set_str(w, "grad_norm_window", gwin);
    for (int k = 0; k < r->n_terms; k++) { /* the loss terms' windows: log_window.loss_cls, ... */
        char key[48], *tw = format_window(&r->term_w[k]);
        snprintf(key, sizeof key, "log_window.%s", r->term_name[k]);
        tgc_ckpt_set_str(w, key, tw);
        free(tw);
    }
    tgc_loss_scaler_save(&r->scaler, w);
    if (r->has_best) {
        tgc_ckpt_set_str(w, "best_metric", r->best_metric);
        tgc_ckpt_set_float(w, "best_value", r->best_value);
        if (r->best_ckpt) tgc_ckpt_set_str(w, "best_ckpt", r->best_ckpt);
    }
    free(win);
    free(gwin);
    free(keep_s);
    if (rc == 0 && tgc_ckpt_save(w, path, err) < 0)
        rc = tgc_err_prefix(err, "training stopped (earlier checkpoints are intact)");
    tgc_ckpt_writer_free(w);
    for (int s = 0; s < TGC_SLAB_COUNT; s++) free(host[s]);
    if (rc == 0 && update_last && tgc_ckpt_write_last(r->work_dir, path, err) < 0) rc = -1;
    if (rc == 0 && update_last) r->saved_iter = r->iter;
    free(path);
    return rc;
}

/* Regular save of id (an epoch or iteration number) with max_keep_ckpts: the new list is recorded in the
 * checkpoint, and the evicted file is removed only once the new one is safely written. */
static int save_regular(tgc_runner *r, const char *fmt, int64_t id, tgc_err *err) {
    char name[64];
    snprintf(name, sizeof name, fmt, (long long)id);
    tgc_keep_list *next = tgc_malloc(sizeof *next);
    *next = r->keep;
    int64_t evicted = 0;
    int ev = (next->n > 0 && next->ids[next->n - 1] == id) ? 0 : tgc_keep_push(next, id, r->ckc.max_keep, &evicted);
    if (tgc_runner_save(r, name, next, 1, err) < 0) {
        free(next);
        return -1;
    }
    r->keep = *next;
    free(next);
    if (ev) {
        char old[64];
        snprintf(old, sizeof old, fmt, (long long)evicted);
        char *op = tgc_asprintf("%s/%s", r->ckpt_dir, old);
        if (unlink(op) < 0 && errno != ENOENT) tgc_log_warning(&r->log, "cannot remove %s: %s", op, strerror(errno));
        free(op);
    }
    return 0;
}

int tgc_runner_after_train_epoch_ckpt(tgc_runner *r, int is_last, tgc_err *err) {
    if (!tgc_ckpt_should_save_epoch(&r->ckc, r->epoch, is_last)) return 0;
    tgc_log_info(&r->log, "Saving checkpoint at %lld epochs", (long long)r->epoch);
    return save_regular(r, "epoch_%lld.ckpt", r->epoch, err);
}

int tgc_runner_after_train_iter_ckpt(tgc_runner *r, int is_last, tgc_err *err) {
    if (!tgc_ckpt_should_save_iter(&r->ckc, r->iter, is_last)) return 0;
    tgc_log_info(&r->log, "Saving checkpoint at %lld iterations", (long long)r->iter);
    return save_regular(r, "iter_%lld.ckpt", r->iter, err);
}

int tgc_runner_save_best(tgc_runner *r, char names[][32], const double *values, int n, tgc_err *err) {
    if (!r->ckc.enabled || !r->ckc.save_best[0] || n == 0) return 0;
    int k = 0;
    if (strcmp(r->ckc.save_best, "auto")) {
        for (k = 0; k < n && strcmp(names[k], r->ckc.save_best); k++) {
        }
        if (k == n) {
            tgc_log_warning(&r->log, "save_best: the metric '%s' is not among the evaluation results; no best "
                                     "checkpoint is saved", r->ckc.save_best);
            return 0;
        }
    }
    double v = values[k];
    int better = !r->has_best || (r->ckc.rule_less ? v < r->best_value : v > r->best_value);
    if (!better || isnan(v)) return 0;
    char key[64], name[160];
    snprintf(key, sizeof key, "%s", names[k]);
    for (char *c = key; *c; c++)
        if (*c == '/') *c = '_';
    int by_epoch = r->loop.by_epoch;
    snprintf(name, sizeof name, "best_%s_%s_%lld.ckpt", key, by_epoch ? "epoch" : "iter",
             (long long)(by_epoch ? r->epoch : r->iter));
    char *old = r->best_ckpt;
    r->has_best = 1;
    r->best_value = v;
    snprintf(r->best_metric, sizeof r->best_metric, "%s", names[k]);
    r->best_ckpt = tgc_asprintf("%s/%s", r->ckpt_dir, name);
    if (tgc_runner_save(r, name, NULL, 0, err) < 0) {
        free(old);
        return -1;
    }
    if (old && strcmp(old, r->best_ckpt)) {
        if (unlink(old) == 0) tgc_log_info(&r->log, "The previous best checkpoint %s is removed", old);
    }
    free(old);
    tgc_log_info(&r->log, "The best checkpoint with %.4f %s at %lld %s is saved to %s.", v, names[k],
                 (long long)(by_epoch ? r->epoch : r->iter), by_epoch ? "epoch" : "iter", name);
    return 0;
}

int tgc_runner_resume(tgc_runner *r, const tgc_ckpt *c, const char *path, tgc_err *err) {
    const tgc_plan *p = r->plan;
    uint64_t most = 0;
    for (int i = 0; i < p->n_tensors; i++)
        if (is_state(&p->tensors[i])) most = TGC_MAX(most, p->tensors[i].bytes);
    void *buf = tgc_malloc(most ? (size_t)most : 1); /* each tensor is checked and copied here, then uploaded */
    for (int i = 0; i < p->n_tensors; i++) {
        const tgc_plan_tensor *t = &p->tensors[i];
        if (is_state(t) && (tgc_ckpt_copy(c, t->name, t->type.dtype, &t->type.shape, buf, t->bytes, err) < 0 ||
                            tgc_exec_write(r->x, i, buf, err) < 0)) {
            free(buf);
            return tgc_err_prefix(err, "resuming from %s", path);
        }
    }
    free(buf);
    int64_t epoch, iter, batch;
    const char *keep, *win, *gwin, *bm = NULL, *bc = NULL;
    double bv = 0;
    if (tgc_ckpt_get_int(c, "epoch", 0, &epoch, err) < 0 || tgc_ckpt_get_int(c, "iter", 0, &iter, err) < 0 ||
        tgc_ckpt_get_int(c, "batch", 0, &batch, err) < 0 || tgc_ckpt_get_str(c, "keep_ckpts", "", &keep, err) < 0 ||
        tgc_ckpt_get_str(c, "log_window", "", &win, err) < 0 || tgc_ckpt_get_str(c, "grad_norm_window", "", &gwin, err) < 0 ||
        tgc_ckpt_get_str(c, "best_metric", NULL, &bm, err) < 0 ||
        tgc_ckpt_get_float(c, "best_value", 0, &bv, err) < 0 || tgc_ckpt_get_str(c, "best_ckpt", NULL, &bc, err) < 0)
        return tgc_err_prefix(err, "resuming from %s", path);
    if (epoch < 0 || iter < 0 || batch < 0 || batch >= r->iters_per_epoch || iter != epoch * r->iters_per_epoch + batch)
        return tgc_fail(err,
                        "resuming from %s: its counters (epoch %lld, iter %lld, batch %lld) do not fit this run's %lld "
                        "iterations per epoch (was the train dataset or batch changed?)",
                        path, (long long)epoch, (long long)iter, (long long)batch, (long long)r->iters_per_epoch);
    if (tgc_keep_parse(&r->keep, keep) < 0 || parse_window(&r->loss_w, win) < 0 || parse_window(&r->gnorm_w, gwin) < 0)
        return tgc_fail(err, "resuming from %s: malformed keep_ckpts, log_window or grad_norm_window record", path);
    for (int k = 0; k < r->n_terms; k++) { /* a checkpoint without a term's window starts it empty */
        char key[48];
        const char *tw;
        snprintf(key, sizeof key, "log_window.%s", r->term_name[k]);
        if (tgc_ckpt_get_str(c, key, "", &tw, err) < 0) return tgc_err_prefix(err, "resuming from %s", path);
        if (parse_window(&r->term_w[k], tw) < 0)
            return tgc_fail(err, "resuming from %s: malformed %s record", path, key);
    }
    if (tgc_loss_scaler_load(&r->scaler, c, err) < 0) return tgc_err_prefix(err, "resuming from %s", path);
    r->epoch = epoch;
    r->iter = iter;
    r->batch = batch;
    if (bm) {
        r->has_best = 1;
        r->best_value = bv;
        snprintf(r->best_metric, sizeof r->best_metric, "%s", bm);
        free(r->best_ckpt);
        r->best_ckpt = bc ? tgc_strdup(bc) : NULL;
    }
    tgc_log_info(&r->log, "resumed epoch: %lld, iter: %lld", (long long)epoch, (long long)iter);
    return 0;
}

/* One load (weights.h) with its lines in the log. */
static int load_logged(tgc_runner *r, const tgc_weights_opts *o, tgc_err *err) {
    tgc_weights_report rep;
    if (tgc_weights_load(r->plan, r->x, o, &rep, err)) return -1;
    tgc_log_info(&r->log, "Load checkpoint from %s", rep.path);
    if (rep.info) {
        char *save = NULL, *info = rep.info;
        for (char *l = strtok_r(info, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) tgc_log_info(&r->log, "%s", l);
    }
    if (rep.warning) tgc_log_warning(&r->log, "%s", rep.warning);
    tgc_weights_report_free(&rep);
    return 0;
}

int tgc_runner_load_weights(tgc_runner *r, const char *path, tgc_err *err) {
    tgc_weights_opts o = {path, "", NULL, "load_from"};
    return load_logged(r, &o, err);
}

int tgc_runner_load_test_weights(tgc_runner *r, const char *path, tgc_err *err) {
    tgc_weights_opts o = {path, "", NULL, "checkpoint"};
    return load_logged(r, &o, err);
}

int tgc_runner_init_pretrained(tgc_runner *r, tgc_err *err) {
    static const char *const parts[] = {"", "backbone", "neck", "head", "bbox_head"};
    const tgc_cfg *model = tgc_cfg_get(r->cfg, "model");
    int backbone_loaded = 0;
    for (size_t i = 0; model && i < TGC_ARRAY_LEN(parts); i++) {
        const tgc_cfg *part = *parts[i] ? tgc_cfg_get(model, parts[i]) : model;
        const tgc_cfg *ic = part ? tgc_cfg_get(part, "init_cfg") : NULL;
        const char *type, *ck, *prefix;
        if (!ic || ic->kind != TGC_CFG_MAP) continue;
        if (tgc_cfg_str(ic, "type", NULL, &type, err) || !type || strcmp(type, "Pretrained")) continue;
        if (tgc_cfg_str(ic, "checkpoint", NULL, &ck, err) || tgc_cfg_str(ic, "prefix", NULL, &prefix, err)) return -1;
        if (!ck) return tgc_cfg_fail(err, ic, "init_cfg of type Pretrained needs a checkpoint");
        char scope[32], what[64];
        snprintf(scope, sizeof scope, "%s%s", parts[i], *parts[i] ? "." : "");
        snprintf(what, sizeof what, "model.%s%sinit_cfg", parts[i], *parts[i] ? "." : "");
        tgc_weights_opts o = {ck, scope, prefix, what};
        if (load_logged(r, &o, err)) return -1;
        backbone_loaded |= i <= 1; /* the whole model's or the backbone's */
    }
    /* Frozen stages that load nothing stay at their random initial values for the whole run. */
    const tgc_cfg *bb = model ? tgc_cfg_get(model, "backbone") : NULL;
    const char *load_from = NULL;
    int64_t frozen = -1;
    if (bb && bb->kind == TGC_CFG_MAP && tgc_cfg_get(bb, "frozen_stages") &&
        tgc_cfg_int(bb, "frozen_stages", -1, &frozen, err))
        return -1;
    if (tgc_cfg_str(r->cfg, "load_from", NULL, &load_from, err)) return -1;
    if (frozen >= 0 && !backbone_loaded && !load_from)
        tgc_log_warning(&r->log, "model.backbone.frozen_stages is %lld but no pretrained weights are loaded (no "
                        "backbone init_cfg Pretrained, no load_from): the frozen stem and stages keep their random "
                        "initial values; load a checkpoint, or train from scratch with frozen_stages -1",
                        (long long)frozen);
    return 0;
}
