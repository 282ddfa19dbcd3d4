/* runtime/runner/hook_ema.c - MMEngine's EMAHook on a plan with an `ema` program (passes/optimizer.c):
 * after every train iteration the averaged weights follow the parameters (the first update copies them, as
 * MMEngine's averaged model does at its step 0; later ones run the program's ema_update ops), and
 * validation runs on the averaged weights (swapped in before, back after). The averages are state of the
 * plan ("ema.<param>"), so checkpoints hold them and a resume continues them. */
#include <stdlib.h>
#include <string.h>

#include "runtime/runner/hooks.h"

struct tgc_ema {
    int n;
    int *param, *avg; /* plan tensor indices, pairwise */
    size_t max_bytes;
    void *a, *b;      /* host copies for the swap */
};

tgc_ema *tgc_ema_open(const tgc_plan *p, tgc_err *err) {
    if (!tgc_plan_program(p, "ema")) return NULL;
    tgc_ema *e = tgc_calloc(1, sizeof *e);
    e->param = tgc_malloc(sizeof(int) * (size_t)(p->n_tensors ? p->n_tensors : 1));
    e->avg = tgc_malloc(sizeof(int) * (size_t)(p->n_tensors ? p->n_tensors : 1));
    for (int t = 0; t < p->n_tensors; t++) {
        const char *name = p->tensors[t].name;
        if (p->tensors[t].kind != TGC_VAL_OPTSTATE || strncmp(name, "ema.", 4)) continue;
        int q = -1;
        for (int u = 0; u < p->n_tensors && q < 0; u++)
            if (p->tensors[u].kind == TGC_VAL_PARAM && !strcmp(p->tensors[u].name, name + 4)) q = u;
        if (q < 0 || p->tensors[q].bytes != p->tensors[t].bytes) {
            tgc_fail(err, "the plan's averaged weight '%s' has no parameter of its size", name);
            tgc_ema_free(e);
            return NULL;
        }
        e->param[e->n] = q, e->avg[e->n] = t;
        e->n++;
        if (p->tensors[t].bytes > e->max_bytes) e->max_bytes = p->tensors[t].bytes;
    }
    e->a = tgc_malloc(e->max_bytes ? e->max_bytes : 1);
    e->b = tgc_malloc(e->max_bytes ? e->max_bytes : 1);
    return e;
}

void tgc_ema_free(tgc_ema *e) {
    if (!e) return;
    free(e->param);
    free(e->avg);
    free(e->a);
    free(e->b);
    free(e);
}

int tgc_ema_after_iter(tgc_ema *e, tgc_exec *x, int64_t iter, tgc_err *err) {
    if (!e) return 0;
    if (iter > 1) return tgc_exec_run(x, "ema", err) < 0 ? tgc_err_prefix(err, "EMAHook") : 0;
    for (int i = 0; i < e->n; i++) /* the first update: the average starts as the parameters */
        if (tgc_exec_read(x, e->param[i], e->a, err) || tgc_exec_write(x, e->avg[i], e->a, err))
            return tgc_err_prefix(err, "EMAHook");
    return 0;
}

int tgc_ema_swap(tgc_ema *e, tgc_exec *x, tgc_err *err) {
    for (int i = 0; e && i < e->n; i++)
        if (tgc_exec_read(x, e->param[i], e->a, err) || tgc_exec_read(x, e->avg[i], e->b, err) ||
            tgc_exec_write(x, e->param[i], e->b, err) || tgc_exec_write(x, e->avg[i], e->a, err))
            return tgc_err_prefix(err, "EMAHook: swapping the averaged weights");
    return 0;
}
