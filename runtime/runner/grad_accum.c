/* runtime/runner/grad_accum.c - gradient accumulation (see grad_accum.h). */
#include <stdlib.h>
#include <string.h>

#include "runtime/runner/grad_accum.h"

/* The update check: slab / factor joins the sum, the sum goes back into the slab; skip unless updating. */
static int check(void *ctx, const tgc_program *p, tgc_err *err) {
    tgc_grad_accum *a = ctx;
    (void)p;
    if (tgc_exec_read_bytes(a->x, TGC_SLAB_GRAD, 0, a->bytes, a->buf, err) < 0) return -1;
    size_t n = (size_t)(a->bytes / sizeof(float));
    for (size_t i = 0; i < n; i++) a->acc[i] += a->buf[i] * a->inv; /* p.grad += grad of (loss / factor) */
    if (tgc_exec_write_bytes(a->x, TGC_SLAB_GRAD, 0, a->bytes, a->acc, err) < 0) return -1;
    if (!a->update) return 1;
    memset(a->acc, 0, (size_t)a->bytes); /* zero_grad after the step */
    return 0;
}

int tgc_grad_accum_init(tgc_grad_accum *a, const tgc_plan *p, tgc_exec *x, tgc_err *err) {
    memset(a, 0, sizeof *a);
    a->n = p->optim.accumulative_counts;
    a->inv = 1.f;
    a->update = 1;
    if (a->n <= 1) return 0;
    if (p->amp.dtype == TGC_F16)
        return tgc_fail(err, "optim_wrapper.accumulative_counts with float16 loss scaling is not supported yet");
    a->x = x;
    a->bytes = p->slab_bytes[TGC_SLAB_GRAD] & ~(uint64_t)(sizeof(float) - 1);
    size_t sz = a->bytes ? (size_t)a->bytes : sizeof(float);
    a->acc = tgc_calloc(1, sz);
    a->buf = tgc_malloc(sz);
    if (tgc_exec_on_update_check(x, check, a, err) < 0)
        return tgc_err_prefix(err, "optim_wrapper.accumulative_counts %d", a->n);
    return 0;
}

void tgc_grad_accum_free(tgc_grad_accum *a) {
    free(a->acc);
    free(a->buf);
    a->acc = a->buf = NULL;
}

void tgc_grad_accum_set_max(tgc_grad_accum *a, int64_t max_iters) { a->max_counts = max_iters; }

void tgc_grad_accum_begin(tgc_grad_accum *a, int64_t iter) {
    if (a->n <= 1) return;
    /* MMEngine's scale_loss and should_update, with its inner count = iter before the backward */
    int64_t n = a->n, factor = n;
    if (a->max_counts > 0) {
        int64_t rem = a->max_counts % n;
        if (iter >= a->max_counts - rem && rem > 0) factor = rem;
    }
    a->inv = (float)(1.0 / (double)factor);
    a->update = (iter + 1) % n == 0 || (a->max_counts > 0 && iter + 1 == a->max_counts);
}

int64_t tgc_grad_accum_step(const tgc_grad_accum *a, int64_t iter) {
    if (a->n <= 1) return iter + 1;
    return (iter + a->n) / a->n;
}
