/* runtime/runner/hook_policy.c - when MMEngine's loops and hooks act: validation, logging, checkpoints, keeping. */
#include <stdlib.h>
#include <string.h>

#include "runtime/runner/hooks.h"

/* "mmengine.IterBasedTrainLoop" -> "IterBasedTrainLoop" */
static const char *unscoped(const char *type) {
    const char *dot = strrchr(type, '.');
    return dot ? dot + 1 : type;
}

int tgc_loop_from_cfg(const tgc_cfg *tc, tgc_loop_cfg *l, tgc_err *err) {
    memset(l, 0, sizeof *l);
    if (!tc || tc->kind != TGC_CFG_MAP) {
        if (tc && tc->kind != TGC_CFG_NULL) return tgc_cfg_fail(err, tc, "train_cfg must be a map");
        return tgc_fail(err, "the config has no train_cfg (max_epochs or max_iters): nothing to train");
    }
    const char *type;
    int by_epoch;
    if (tgc_cfg_str(tc, "type", NULL, &type, err) || tgc_cfg_bool(tc, "by_epoch", 1, &by_epoch, err)) return -1;
    if (type) {
        const char *t = unscoped(type);
        if (!strcmp(t, "EpochBasedTrainLoop")) by_epoch = 1;
        else if (!strcmp(t, "IterBasedTrainLoop")) by_epoch = 0;
        else
            return tgc_cfg_fail(err, tgc_cfg_get(tc, "type"),
                                "unsupported train loop '%s' (supported: EpochBasedTrainLoop, IterBasedTrainLoop)", type);
    } else if (!tgc_cfg_get(tc, "by_epoch") && tgc_cfg_get(tc, "max_iters") && !tgc_cfg_get(tc, "max_epochs")) {
        by_epoch = 0; /* MMEngine: train_cfg = dict(by_iter=True, max_iters=...) style */
    }
    l->by_epoch = by_epoch;
    const char *key = by_epoch ? "max_epochs" : "max_iters";
    int64_t max, vb, vi;
    if (tgc_cfg_int(tc, key, -1, &max, err) || tgc_cfg_int(tc, "val_begin", 1, &vb, err) ||
        tgc_cfg_int(tc, "val_interval", by_epoch ? 1 : 1000, &vi, err))
        return -1;
    if (max < 1 || max > ((int64_t)1 << 40)) {
        const tgc_cfg *c = tgc_cfg_get(tc, key);
        return tgc_cfg_fail(err, c ? c : tc, c ? "%s must be a positive integer" : "missing %s", key);
    }
    if (vi < 1) return tgc_cfg_fail(err, tgc_cfg_get(tc, "val_interval"), "val_interval must be at least 1");
    if (by_epoch) l->max_epochs = max;
    else l->max_iters = max;
    l->val_begin = vb;
    l->val_interval = vi;
    return 0;
}

int tgc_loop_should_validate(const tgc_loop_cfg *l, int64_t done) {
    int64_t last = l->by_epoch ? l->max_epochs : l->max_iters;
    return done >= l->val_begin && (done % l->val_interval == 0 || done == last);
}

/* An optional map under root: NULL when absent or null, -1 when something else. */
static int opt_map(const tgc_cfg *root, const char *key, const tgc_cfg **out, tgc_err *err) {
    const tgc_cfg *c = tgc_cfg_get(root, key);
    *out = NULL;
    if (!c || c->kind == TGC_CFG_NULL) return 0;
    if (c->kind != TGC_CFG_MAP) return tgc_cfg_fail(err, c, "%s must be a map", key);
    *out = c;
    return 0;
}

int tgc_logger_from_cfg(const tgc_cfg *root, int loop_by_epoch, tgc_logger_cfg *c, tgc_err *err) {
    const tgc_cfg *hooks, *lg = NULL, *lp;
    if (opt_map(root, "default_hooks", &hooks, err) || (hooks && opt_map(hooks, "logger", &lg, err)) ||
        opt_map(root, "log_processor", &lp, err))
        return -1;
    c->interval = 10;
    c->ignore_last = 1;
    c->interval_exp_name = 1000;
    c->window_size = 10;
    c->by_epoch = loop_by_epoch;
    if (lg && (tgc_cfg_int(lg, "interval", 10, &c->interval, err) ||
               tgc_cfg_bool(lg, "ignore_last", 1, &c->ignore_last, err) ||
               tgc_cfg_int(lg, "interval_exp_name", 1000, &c->interval_exp_name, err)))
        return -1;
    if (lp && (tgc_cfg_int(lp, "window_size", 10, &c->window_size, err) ||
               tgc_cfg_bool(lp, "by_epoch", loop_by_epoch, &c->by_epoch, err)))
        return -1;
    if (c->interval < 1) return tgc_cfg_fail(err, tgc_cfg_get(lg, "interval"), "interval must be at least 1");
    if (c->window_size < 1 || c->window_size > 100000)
        return tgc_cfg_fail(err, tgc_cfg_get(lp, "window_size"), "window_size must be in 1..100000");
    return 0;
}

int tgc_logger_should_log(const tgc_logger_cfg *c, int64_t batch_idx, int64_t epoch_len) {
    if ((batch_idx + 1) % c->interval == 0) return 1;
    int end = epoch_len > 0 && batch_idx + 1 == epoch_len;
    return end && (!c->ignore_last || epoch_len <= c->interval);
}

int tgc_logger_should_log_exp(const tgc_logger_cfg *c, int64_t iter, int end_of_epoch) {
    return end_of_epoch || (c->interval_exp_name > 0 && iter % c->interval_exp_name == 0);
}

int tgc_ckpt_cfg_from(const tgc_cfg *default_hooks, tgc_ckpt_cfg *c, tgc_err *err) {
    memset(c, 0, sizeof *c);
    c->interval = 1;
    c->by_epoch = 1;
    c->max_keep = -1;
    c->save_last = 1;
    const tgc_cfg *m = NULL;
    if (default_hooks && default_hooks->kind == TGC_CFG_MAP && opt_map(default_hooks, "checkpoint", &m, err)) return -1;
    if (!m) return 0;
    c->enabled = 1;
    const char *rule, *out_dir;
    if (tgc_cfg_int(m, "interval", 1, &c->interval, err) || tgc_cfg_bool(m, "by_epoch", 1, &c->by_epoch, err) ||
        tgc_cfg_int(m, "save_begin", 0, &c->save_begin, err) ||
        tgc_cfg_int(m, "max_keep_ckpts", -1, &c->max_keep, err) || tgc_cfg_bool(m, "save_last", 1, &c->save_last, err) ||
        tgc_cfg_str(m, "rule", NULL, &rule, err) || tgc_cfg_str(m, "out_dir", "", &out_dir, err))
        return -1;
    const tgc_cfg *sb = tgc_cfg_get(m, "save_best");
    if (sb && (sb->kind == TGC_CFG_LIST || sb->kind == TGC_CFG_TUPLE) && sb->n == 1) sb = sb->items[0];
    if (sb && sb->kind == TGC_CFG_STR) {
        if (strlen(sb->s) >= sizeof c->save_best) return tgc_cfg_fail(err, sb, "save_best name too long");
        strcpy(c->save_best, sb->s);
    } else if (sb && sb->kind != TGC_CFG_NULL) {
        return tgc_cfg_fail(err, sb, "save_best must be 'auto' or one metric name");
    }
    if (rule && strcmp(rule, "greater") && strcmp(rule, "less"))
        return tgc_cfg_fail(err, tgc_cfg_get(m, "rule"), "rule must be 'greater' or 'less', got '%s'", rule);
    c->rule_less = rule && !strcmp(rule, "less");
    if (strlen(out_dir) >= sizeof c->out_dir) return tgc_cfg_fail(err, tgc_cfg_get(m, "out_dir"), "out_dir too long");
    strcpy(c->out_dir, out_dir);
    if (c->max_keep > TGC_KEEP_MAX)
        return tgc_cfg_fail(err, tgc_cfg_get(m, "max_keep_ckpts"), "max_keep_ckpts must be at most %d", TGC_KEEP_MAX);
    return 0;
}

/* MMEngine's every_n_epochs / every_n_train_iters with a start. */
static int every_n(int64_t done, int64_t n, int64_t start) {
    int64_t dividend = done - start;
    return n > 0 && dividend >= 0 && dividend % n == 0;
}

int tgc_ckpt_should_save_epoch(const tgc_ckpt_cfg *c, int64_t epoch, int is_last) {
    if (!c->enabled || !c->by_epoch) return 0;
    return every_n(epoch, c->interval, c->save_begin) || (c->save_last && is_last);
}

int tgc_ckpt_should_save_iter(const tgc_ckpt_cfg *c, int64_t iter, int is_last) {
    if (!c->enabled || c->by_epoch) return 0;
    return every_n(iter, c->interval, c->save_begin) || (c->save_last && is_last);
}

int tgc_keep_push(tgc_keep_list *k, int64_t id, int64_t max_keep, int64_t *evicted) {
    if (k->n == TGC_KEEP_MAX) { /* only reachable with max_keep <= 0: forget the oldest, keep the file */
        memmove(k->ids, k->ids + 1, sizeof(int64_t) * (TGC_KEEP_MAX - 1));
        k->n--;
    }
    k->ids[k->n++] = id;
    if (max_keep > 0 && k->n > max_keep) {
        *evicted = k->ids[0];
        memmove(k->ids, k->ids + 1, sizeof(int64_t) * (size_t)(k->n - 1));
        k->n--;
        return 1;
    }
    return 0;
}

void tgc_keep_format(const tgc_keep_list *k, char *buf, size_t size) {
    size_t pos = 0;
    buf[0] = 0;
    for (int i = 0; i < k->n && pos < size; i++) {
        int w = snprintf(buf + pos, size - pos, "%s%lld", i ? "," : "", (long long)k->ids[i]);
        if (w < 0) break;
        pos += (size_t)w;
    }
}

int tgc_keep_parse(tgc_keep_list *k, const char *s) {
    k->n = 0;
    while (*s) {
        char *end;
        long long v = strtoll(s, &end, 10);
        if (end == s || k->n == TGC_KEEP_MAX) return -1;
        k->ids[k->n++] = v;
        if (*end == ',') end++;
        else if (*end) return -1;
        s = end;
    }
    return 0;
}
