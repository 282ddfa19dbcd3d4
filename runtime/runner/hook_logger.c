/* runtime/runner/hook_logger.c - the logger's smoothing windows (numpy's summation order) and MMLogger output. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/runner/hooks.h"

/* numpy/core/src/umath/loops_utils.h pairwise_sum: below 8 a plain loop, up to 128 eight interleaved
 * accumulators combined as a tree, above that halves at a multiple of 8. np.sum over a float64 array
 * starts from the identity 0.0, which adds exactly, so the sum of a window is this function's result. */
double tgc_np_sum(const double *a, int64_t n) {
    if (n < 8) {
        double res = 0.0;
        for (int64_t i = 0; i < n; i++) res += a[i];
        return res;
    }
    if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; j++) r[j] = a[j];
        int64_t i;
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    int64_t n2 = n / 2;
    n2 -= n2 % 8;
    return tgc_np_sum(a, n2) + tgc_np_sum(a + n2, n - n2);
}

void tgc_window_init(tgc_window *w, int64_t cap) {
    memset(w, 0, sizeof *w);
    w->cap = cap < 1 ? 1 : cap;
    w->v = tgc_malloc(sizeof(double) * (size_t)w->cap);
}

void tgc_window_free(tgc_window *w) {
    free(w->v);
    memset(w, 0, sizeof *w);
}

void tgc_window_push(tgc_window *w, double x) {
    if (w->n < w->cap) {
        w->v[(w->head + w->n) % w->cap] = x;
        w->n++;
    } else {
        w->v[w->head] = x;
        w->head = (w->head + 1) % w->cap;
    }
}

void tgc_window_values(const tgc_window *w, double *out) {
    for (int64_t i = 0; i < w->n; i++) out[i] = w->v[(w->head + i) % w->cap];
}

double tgc_window_mean(const tgc_window *w) {
    if (w->n == 0) return 0.0;
    double small[128] = {0};
    double *tmp = w->n <= 128 ? small : tgc_malloc(sizeof(double) * (size_t)w->n);
    tgc_window_values(w, tmp);
    double m = tgc_np_sum(tmp, w->n) / (double)w->n;
    if (tmp != small) free(tmp);
    return m;
}

/* MMLogger's format: '%(asctime)s - %(name)s - %(levelname)s - %(message)s', datefmt '%m/%d %H:%M:%S'. */
static void vlog(tgc_log_sink *s, const char *level, const char *fmt, va_list ap) {
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%m/%d %H:%M:%S", &tm);
    FILE *dst[2] = {s->out, s->file};
    for (int i = 0; i < 2; i++) {
        if (!dst[i]) continue;
        va_list cp;
        va_copy(cp, ap);
        fprintf(dst[i], "%s - mmengine - %s - ", stamp, level);
        vfprintf(dst[i], fmt, cp);
        fputc('\n', dst[i]);
        fflush(dst[i]);
        va_end(cp);
    }
}

void tgc_log_info(tgc_log_sink *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(s, "INFO", fmt, ap);
    va_end(ap);
}

void tgc_log_warning(tgc_log_sink *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(s, "WARNING", fmt, ap);
    va_end(ap);
}

void tgc_log_error(tgc_log_sink *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(s, "ERROR", fmt, ap);
    va_end(ap);
}

/* LoggerHook.after_train_iter with LogProcessor.get_log_after_iter('train'): loss, time and data_time are
 * window means, lr the current value, eta from the average iteration time of this process. */
int tgc_runner_log_train_iter(tgc_runner *r, double lr, tgc_err *err) {
    int by_epoch = r->loop.by_epoch && r->logc.by_epoch;
    int end_of_epoch = r->loop.by_epoch && r->batch == r->iters_per_epoch;
    if (tgc_logger_should_log_exp(&r->logc, r->iter, end_of_epoch)) tgc_log_info(&r->log, "Exp name: %s", r->exp_name);
    int64_t batch_idx = r->loop.by_epoch ? r->batch - 1 : r->iter - 1;
    if (!tgc_logger_should_log(&r->logc, batch_idx, r->loop.by_epoch ? r->iters_per_epoch : 0)) return 0;
    double avg = r->timed_iters ? r->time_sum / (double)r->timed_iters : 0.0;
    double loss = tgc_window_mean(&r->loss_w), t = tgc_window_mean(&r->time_w), dt = tgc_window_mean(&r->data_w);
    tgc_log_item lr_item = {"lr", lr, 0};
    /* MMEngine's grad_norm (clip_grad by norm) comes before the loss, as its message hub records it first */
    int has_gnorm = r->gnorm_w.n > 0;
    double gnorm = tgc_window_mean(&r->gnorm_w);
    tgc_log_item items[2 + TGC_MAX_LOSS_TERMS] = {{"grad_norm", gnorm, 0}, {"loss", loss, 0}};
    double terms[TGC_MAX_LOSS_TERMS]; /* the model's loss terms after the loss, as MMDetection logs them */
    for (int k = 0; k < r->n_terms; k++) {
        terms[k] = tgc_window_mean(&r->term_w[k]);
        items[2 + k] = (tgc_log_item){r->term_name[k], terms[k], 0};
    }
    tgc_log_iter l = {0};
    l.mode = "train";
    l.by_epoch = by_epoch;
    l.epoch = r->epoch + 1;
    l.max_epochs = r->loop.max_epochs;
    l.iter = by_epoch ? r->batch : r->iter;
    l.len = by_epoch ? r->iters_per_epoch : r->max_iters;
    l.n_lr = 1;
    l.lr = &lr_item;
    l.has_time = 1;
    l.eta_s = avg * (double)(r->stop_iter - r->iter);
    l.time = t;
    l.data_time = dt;
    l.memory = -1;
    l.n_items = (has_gnorm ? 2 : 1) + r->n_terms;
    l.items = has_gnorm ? items : items + 1;
    char *line = tgc_logfmt_iter(&l);
    tgc_log_info(&r->log, "%s", line);
    free(line);
    tgc_log_item rec[7 + TGC_MAX_LOSS_TERMS] = {{"lr", lr, 0}, {"data_time", dt, 0}};
    int n = 2;
    if (has_gnorm) rec[n++] = (tgc_log_item){"grad_norm", gnorm, 0};
    rec[n++] = (tgc_log_item){"loss", loss, 0};
    for (int k = 0; k < r->n_terms; k++) rec[n++] = (tgc_log_item){r->term_name[k], terms[k], 0};
    rec[n++] = (tgc_log_item){"time", t, 0};
    if (by_epoch) rec[n++] = (tgc_log_item){"epoch", (double)(r->epoch + 1), 1};
    rec[n++] = (tgc_log_item){"iter", (double)r->iter, 1};
    return tgc_vis_add_scalars(&r->vis, rec, n, r->iter, err);
}
