/* runtime/runner/loss_scale.c - float16 loss scaling (see loss_scale.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runner/loss_scale.h"

/* The update check (executor): the device unscales the gradient slab when finite (dynamic scales are powers
 * of two, so x * (1/scale) is exact, as GradScaler's unscale_), else the updates are skipped. Only the
 * answer comes back to the host. */
static int check(void *ctx, const tgc_program *p, tgc_err *err) {
    tgc_loss_scaler *s = ctx;
    (void)p;
    int found = 0;
    if (tgc_exec_grad_unscale(s->x, (float)(1.0 / s->scale), &found, err) < 0) return -1;
    s->found_inf = found;
    return found ? 1 : 0;
}

int tgc_loss_scaler_init(tgc_loss_scaler *s, const tgc_plan *p, tgc_exec *x, tgc_err *err) {
    memset(s, 0, sizeof *s);
    s->scale_input = -1;
    if (p->amp.dtype != TGC_F16) return 0;
    s->x = x;
    s->scale_input = tgc_exec_input(x, "train", "loss_scale");
    if (s->scale_input < 0)
        return tgc_fail(err, "the plan is float16 but its train program has no loss_scale input (was it compiled by "
                             "another tgc?)");
    if (!(p->amp.init_scale > 0)) return tgc_fail(err, "the plan's loss scale %g is not positive", p->amp.init_scale);
    s->enabled = 1;
    s->dynamic = p->amp.dynamic;
    s->scale = p->amp.init_scale;
    s->growth_interval = p->amp.growth_interval > 0 ? p->amp.growth_interval : 2000;
    return tgc_exec_on_update_check(x, check, s, err);
}

void tgc_loss_scaler_free(tgc_loss_scaler *s) { (void)s; }

int tgc_loss_scaler_feed(tgc_loss_scaler *s, tgc_err *err) {
    if (!s->enabled) return 0;
    const tgc_plan_tensor *t = tgc_exec_tensor(s->x, s->scale_input);
    float f = (float)s->scale;
    return tgc_exec_write_bytes(s->x, t->slab, t->offset, sizeof f, &f, err);
}

int tgc_loss_scaler_update(tgc_loss_scaler *s) {
    if (!s->enabled) return 0;
    if (s->found_inf) {
        s->skipped++;
        if (s->dynamic) {
            s->scale *= 0.5;
            s->growth_tracker = 0;
        }
        return 1;
    }
    if (s->dynamic && ++s->growth_tracker >= s->growth_interval) {
        s->scale *= 2.0;
        s->growth_tracker = 0;
    }
    return 0;
}

void tgc_loss_scaler_save(const tgc_loss_scaler *s, tgc_ckpt_writer *w) {
    if (!s->enabled) return;
    tgc_ckpt_set_float(w, "loss_scale", s->scale);
    tgc_ckpt_set_int(w, "loss_scale_growth_tracker", s->growth_tracker);
}

int tgc_loss_scaler_load(tgc_loss_scaler *s, const tgc_ckpt *c, tgc_err *err) {
    if (!s->enabled) return 0;
    double v;
    int64_t t;
    if (tgc_ckpt_get_float(c, "loss_scale", s->scale, &v, err) < 0 ||
        tgc_ckpt_get_int(c, "loss_scale_growth_tracker", 0, &t, err) < 0)
        return -1;
    if (!(v > 0 && v < 3.5e38) || t < 0) return tgc_fail(err, "the checkpoint's loss scale %g or its tracker is invalid", v);
    s->scale = v;
    s->growth_tracker = t;
    return 0;
}

void tgc_py_float(double v, char *buf, size_t n) {
    for (int prec = 1; prec <= 17; prec++) { /* the shortest text that reads back as v, as repr() */
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    if (isfinite(v) && !strpbrk(buf, ".en")) {
        size_t l = strlen(buf);
        if (l + 2 < n) memcpy(buf + l, ".0", 3);
    }
}
