/* runtime/runner/evaluator.c - MMPretrain's Accuracy metric (top-k, percent) over the eval program's logits. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "runtime/runner/hooks.h"

static int parse_topk(const tgc_cfg *m, int num_classes, tgc_accuracy *a, tgc_err *err) {
    const tgc_cfg *tk = tgc_cfg_get(m, "topk");
    if (!tk || tk->kind == TGC_CFG_NULL) {
        a->n_topk = 1;
        a->topk[0] = 1;
        return 0;
    }
    int64_t v[TGC_ACC_MAX_TOPK];
    int n;
    if (tgc_cfg_ints(m, "topk", v, TGC_ACC_MAX_TOPK, &n, err)) return -1;
    if (n < 1) return tgc_cfg_fail(err, tk, "topk needs at least one value");
    for (int i = 0; i < n; i++) {
        if (v[i] < 1 || v[i] > num_classes)
            return tgc_cfg_fail(err, tk, "topk %lld is outside 1..%d (the model's number of classes)", (long long)v[i],
                                num_classes);
        a->topk[i] = (int)v[i];
    }
    a->n_topk = n;
    return 0;
}

int tgc_accuracy_from_cfg(const tgc_cfg *ev, int num_classes, tgc_accuracy *a, tgc_err *err) {
    memset(a, 0, sizeof *a);
    if (ev && (ev->kind == TGC_CFG_LIST || ev->kind == TGC_CFG_TUPLE)) {
        if (ev->n != 1) return tgc_cfg_fail(err, ev, "only one evaluator (Accuracy) is supported, got %d", ev->n);
        ev = ev->items[0];
    }
    if (!ev || ev->kind == TGC_CFG_NULL) return parse_topk(NULL, num_classes, a, err);
    if (ev->kind != TGC_CFG_MAP) return tgc_cfg_fail(err, ev, "the evaluator must be a map such as {type: Accuracy}");
    const char *type;
    if (tgc_cfg_str(ev, "type", "Accuracy", &type, err)) return -1;
    const char *dot = strrchr(type, '.');
    if (strcmp(dot ? dot + 1 : type, "Accuracy"))
        return tgc_cfg_fail(err, tgc_cfg_get(ev, "type"), "unsupported evaluator '%s' (supported: Accuracy)", type);
    const tgc_cfg *th = tgc_cfg_get(ev, "thrs");
    if (th && th->kind != TGC_CFG_NULL && !(th->kind == TGC_CFG_FLOAT && th->f == 0.0) &&
        !(th->kind == TGC_CFG_INT && th->i == 0))
        return tgc_cfg_fail(err, th, "Accuracy thrs other than 0 is not supported");
    return parse_topk(ev, num_classes, a, err);
}

void tgc_accuracy_reset(tgc_accuracy *a) {
    memset(a->correct, 0, sizeof a->correct);
    a->total = 0;
}

int tgc_accuracy_rank(const float *row, int n, int label) {
    float s = row[label];
    if (isnan(s)) return n; /* never among the top k */
    int rank = 0;
    for (int j = 0; j < n; j++) {
        if (j == label) continue;
        float o = row[j];
        if (isnan(o) || o > s || (o == s && j < label)) rank++;
    }
    return rank;
}

void tgc_accuracy_update(tgc_accuracy *a, const float *logits, const int32_t *labels, int n, int num_classes) {
    for (int i = 0; i < n; i++) {
        int32_t y = labels[i];
        int rank = (y >= 0 && y < num_classes) ? tgc_accuracy_rank(logits + (size_t)i * num_classes, num_classes, y)
                                               : num_classes;
        for (int k = 0; k < a->n_topk; k++)
            if (rank < a->topk[k]) a->correct[k]++;
    }
    a->total += n;
}

double tgc_accuracy_value(const tgc_accuracy *a, int i) {
    if (a->total == 0) return 0.0;
    /* torch: correct_k (float32).mul_(100. / num) -> a float32 result, reported as a Python float. */
    float r = (float)a->correct[i] * (float)(100.0 / (double)a->total);
    return (double)r;
}

void tgc_accuracy_name(const tgc_accuracy *a, int i, char *buf, size_t size) {
    snprintf(buf, size, "accuracy/top%d", a->topk[i]);
}
