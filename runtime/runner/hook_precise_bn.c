/* runtime/runner/hook_precise_bn.c - MMEngine's PreciseBNHook on a plan with a `precise_bn` program
 * (frontend.c: the forward with training-mode batch norm at momentum 1, so each run leaves one batch's
 * statistics in the running buffers). After every `interval`-th epoch, before the checkpoint and the
 * validation, it runs num_samples // (batch x world) training batches (the epoch's order, from a loader of
 * its own) and sets each running buffer to the mean over those batches of their statistics: what PyTorch's
 * cumulative average (momentum None), which MMEngine's update_bn_stats sets, computes. Per process, as
 * MMEngine's. */
#include <stdlib.h>
#include <string.h>

#include "runtime/runner/hooks.h"

struct tgc_precise_bn {
    int64_t num_samples, interval;
    int input;        /* the program's images input */
    int n;            /* BUFFER tensors (running means and variances) */
    int *buf;
    size_t total;     /* their floats together */
    double *sum;
    float *tmp;
    tgc_loader *loader; /* opened at the first use */
};

tgc_precise_bn *tgc_precise_bn_open(const tgc_plan *p, tgc_exec *x, tgc_err *err) {
    if (!tgc_plan_program(p, "precise_bn")) return NULL;
    const tgc_cfg *ch = tgc_cfg_get(p->config, "custom_hooks"), *h = NULL;
    int list = ch && (ch->kind == TGC_CFG_LIST || ch->kind == TGC_CFG_TUPLE);
    for (int i = 0; ch && !h && i < (list ? ch->n : 1); i++) {
        const tgc_cfg *c = list ? ch->items[i] : ch;
        const tgc_cfg *t = c->kind == TGC_CFG_MAP ? tgc_cfg_get(c, "type") : NULL;
        if (t && t->kind == TGC_CFG_STR && !strcmp(t->s, "PreciseBNHook")) h = c;
    }
    if (!h) {
        tgc_fail(err, "the plan has a precise_bn program but its config no PreciseBNHook");
        return NULL;
    }
    tgc_precise_bn *b = tgc_calloc(1, sizeof *b);
    if (tgc_cfg_int(h, "num_samples", 8192, &b->num_samples, err) || tgc_cfg_int(h, "interval", 1, &b->interval, err))
        goto fail;
    if (b->num_samples < 1 || b->interval < 1) {
        tgc_cfg_fail(err, h, "PreciseBNHook: num_samples and interval must be positive");
        goto fail;
    }
    if ((b->input = tgc_exec_input(x, "precise_bn", "inputs")) < 0) {
        tgc_fail(err, "the plan's precise_bn program has no input 'inputs'");
        goto fail;
    }
    b->buf = tgc_malloc(sizeof(int) * (size_t)(p->n_tensors ? p->n_tensors : 1));
    for (int t = 0; t < p->n_tensors; t++)
        if (p->tensors[t].kind == TGC_VAL_BUFFER && p->tensors[t].type.dtype == TGC_F32) {
            b->buf[b->n++] = t;
            b->total += p->tensors[t].bytes / sizeof(float);
        }
    b->sum = tgc_malloc(sizeof(double) * (b->total ? b->total : 1));
    b->tmp = tgc_malloc(sizeof(float) * (b->total ? b->total : 1));
    return b;
fail:
    tgc_precise_bn_free(b);
    return NULL;
}

void tgc_precise_bn_free(tgc_precise_bn *b) {
    if (!b) return;
    tgc_loader_free(b->loader);
    free(b->buf);
    free(b->sum);
    free(b->tmp);
    free(b);
}

int tgc_precise_bn_after_epoch(tgc_precise_bn *b, tgc_runner *r, int64_t epoch, tgc_err *err) {
    if (!b || epoch % b->interval) return 0;
    const tgc_cfg *cfg = r->plan->config;
    if (!b->loader &&
        !(b->loader = tgc_loader_open(tgc_cfg_get(cfg, "train_dataloader"), tgc_cfg_get(cfg, "data_preprocessor"), 1,
                                      r->seed, r->rank, r->world, r->dev, err)))
        return tgc_err_prefix(err, "PreciseBNHook");
    int64_t per_iter = (int64_t)tgc_loader_batch_size(b->loader) * r->world, avail = tgc_loader_num_batches(b->loader);
    int64_t iters = b->num_samples / per_iter;
    if (iters > avail) {
        tgc_log_warning(&r->log, "PreciseBNHook: num_samples %lld is more than the %lld samples of an epoch; using "
                                 "them all", (long long)b->num_samples, (long long)(avail * per_iter));
        iters = avail;
    }
    if (iters < 1) {
        tgc_log_warning(&r->log, "PreciseBNHook: num_samples %lld is less than one batch (%lld); statistics kept",
                        (long long)b->num_samples, (long long)per_iter);
        return 0;
    }
    tgc_log_info(&r->log, "Running Precise BN for %lld iterations", (long long)iters);
    /* the epoch just trained (0-based), in its order */
    if (tgc_loader_begin_epoch(b->loader, (uint32_t)(epoch - 1), 0, err) < 0) return tgc_err_prefix(err, "PreciseBNHook");
    memset(b->sum, 0, sizeof(double) * b->total);
    for (int64_t it = 0; it < iters; it++) {
        tgc_batch *bt;
        int got = tgc_loader_next(b->loader, &bt, err);
        if (got <= 0) return got < 0 ? tgc_err_prefix(err, "PreciseBNHook") : tgc_fail(err, "PreciseBNHook: the loader ran out");
        int rc = tgc_exec_write(r->x, b->input, bt->images, err);
        tgc_loader_release(b->loader, bt);
        if (rc || tgc_exec_run(r->x, "precise_bn", err) < 0) return tgc_err_prefix(err, "PreciseBNHook");
        size_t at = 0;
        for (int i = 0; i < b->n; i++) {
            const tgc_plan_tensor *t = tgc_exec_tensor(r->x, b->buf[i]);
            size_t nf = t->bytes / sizeof(float);
            if (tgc_exec_read(r->x, b->buf[i], b->tmp + at, err)) return tgc_err_prefix(err, "PreciseBNHook");
            for (size_t k = 0; k < nf; k++) b->sum[at + k] += b->tmp[at + k];
            at += nf;
        }
    }
    size_t at = 0;
    for (int i = 0; i < b->n; i++) {
        const tgc_plan_tensor *t = tgc_exec_tensor(r->x, b->buf[i]);
        size_t nf = t->bytes / sizeof(float);
        for (size_t k = 0; k < nf; k++) b->tmp[at + k] = (float)(b->sum[at + k] / (double)iters);
        if (tgc_exec_write(r->x, b->buf[i], b->tmp + at, err)) return tgc_err_prefix(err, "PreciseBNHook");
        at += nf;
    }
    return 0;
}
