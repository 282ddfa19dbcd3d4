/* runtime/io/logfmt.h - log lines and scalars.json records formatted exactly as MMEngine's LoggerHook does.
 *
 * Follows mmengine/runner/log_processor.py (LogProcessor, num_digits = 4) and LocalVisBackend:
 *
 * After a train/val/test iteration (get_log_after_iter):
 *   by_epoch, train/val: "Epoch(MODE)" + "[E]" right-aligned to len(str(max_epochs)) + 3 characters
 *                        + "[" + iter right-aligned to len(str(len)) + "/LEN]  "
 *   by_epoch, test:      "Epoch(test) [" + iter (aligned) + "/LEN]  "
 *   by iter, train:      "Iter(train) [" + iter aligned to len(str(max_iters)) + "/MAX_ITERS]  "
 *   by iter, val/test:   "Iter(MODE) [" + iter (aligned) + "/LEN]  "
 *   then the lr entries "NAME: %.4e" joined by one space, then two spaces (even with no lr: val/test
 *   lines therefore have four spaces after the header);
 *   then, with timing, "eta: H:MM:SS  time: %.4f  data_time: %.4f  ";
 *   then, when memory >= 0 (MMEngine prints it only with CUDA), "memory: N  ";
 *   then the other items "NAME: VALUE" joined by two spaces (train: all; val: only names starting with
 *   "val/loss"; test: none). Floats print as %.4f, ints as integers. Trailing spaces are kept as MMEngine
 *   leaves them.
 * After a val/test epoch (get_log_after_epoch):
 *   "Epoch(val) [E][LEN/LEN]    " or "Epoch(test) [LEN/LEN]    " or "Iter(MODE) [LEN/LEN]    ",
 *   then the metrics, then data_time and time (moved to the end), "NAME: VALUE" joined by two spaces.
 * eta: Python's str(datetime.timedelta(seconds=int(eta))): "0:05:12", "12:00:00", "1 day, 2:03:04",
 *   "3 days, 0:00:00", and for negative values "-1 day, 23:59:55".
 * scalars.json: one json.dumps() line per call: {"k": v, ..., "step": S} with ", " and ": " separators,
 *   floats as Python's repr ("0.1", "1e-05", "1.0"), NaN/Infinity as Python writes them, ints as ints,
 *   keys escaped with ensure_ascii. A train record holds lr, data_time, loss..., time, epoch, iter,
 *   memory (the caller supplies them in that order) and step = iter; a val record holds the metrics,
 *   data_time, time and step = epoch (or iter when not by epoch).
 */
#ifndef TGC_RUNTIME_LOGFMT_H
#define TGC_RUNTIME_LOGFMT_H

#include <stddef.h>
#include <stdint.h>

typedef struct tgc_log_item {
    const char *name;
    double value;
    int is_int; /* print as an integer (value holds it exactly up to 2^53) */
} tgc_log_item;

typedef struct tgc_log_iter {
    const char *mode;   /* "train", "val" or "test" */
    int by_epoch;
    int64_t epoch;      /* 1-based; by_epoch train/val */
    int64_t max_epochs; /* for the epoch alignment */
    int64_t iter;       /* 1-based: within the epoch (by_epoch) or global (by iter, train) */
    int64_t len;        /* dataloader length (by_epoch, or val/test by iter); max_iters for by-iter train */
    int n_lr;
    const tgc_log_item *lr; /* "lr", "base_lr", ... printed %.4e */
    int has_time;       /* eta/time/data_time present */
    double eta_s, time, data_time;
    int64_t memory;     /* MiB; < 0: not printed */
    int n_items;
    const tgc_log_item *items; /* loss etc., in order */
} tgc_log_iter;

/* The line after an iteration; heap string (caller frees). */
char *tgc_logfmt_iter(const tgc_log_iter *l);
/* The line after a val/test epoch; metrics in order, then data_time and time. heap string. */
char *tgc_logfmt_epoch(const char *mode, int by_epoch, int64_t epoch, int64_t len, const tgc_log_item *metrics,
                       int n_metrics, double data_time, double time);
/* Python's str(datetime.timedelta(seconds=int(seconds))) into buf. */
void tgc_logfmt_eta(double seconds, char *buf, size_t n);
/* Python's repr(float) into buf (at least 32 bytes). */
void tgc_logfmt_pyfloat(double v, char *buf, size_t n);
/* One scalars.json record (no newline): json.dumps of items followed by "step". heap string. */
char *tgc_logfmt_scalars_json(const tgc_log_item *items, int n_items, int64_t step);

#endif
