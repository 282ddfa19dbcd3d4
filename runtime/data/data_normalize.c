/* runtime/data/data_normalize.c - the data_preprocessor's normalisation: u8 HWC to float CHW in the batch. */
#include "runtime/data/data.h"

#include <math.h>
#include <string.h>

static int read_stats(const tgc_cfg *map, const char *key, float *out, int *n, tgc_err *err) {
    const tgc_cfg *c = tgc_cfg_get(map, key);
    *n = 0;
    if (!c || c->kind == TGC_CFG_NULL) return 0;
    if (c->kind == TGC_CFG_INT || c->kind == TGC_CFG_FLOAT) {
        out[0] = (float)(c->kind == TGC_CFG_INT ? (double)c->i : c->f);
        *n = 1;
        return 0;
    }
    if ((c->kind != TGC_CFG_LIST && c->kind != TGC_CFG_TUPLE) || c->n < 1 || c->n > 4)
        return tgc_cfg_fail(err, c, "expected a list of 1 to 4 numbers");
    for (int i = 0; i < c->n; i++) {
        const tgc_cfg *v = c->items[i];
        if (v->kind != TGC_CFG_INT && v->kind != TGC_CFG_FLOAT)
            return tgc_cfg_fail(err, v, "expected a number, got a %s", tgc_cfg_kind_name(v->kind));
        out[i] = (float)(v->kind == TGC_CFG_INT ? (double)v->i : v->f);
    }
    *n = c->n;
    return 0;
}

int tgc_normalize_from_cfg(const tgc_cfg *map, tgc_normalize *nm, tgc_err *err) {
    memset(nm, 0, sizeof *nm);
    if (!map) return 0;
    int nmean, nstd, to_rgb, bgr_to_rgb;
    if (read_stats(map, "mean", nm->mean, &nmean, err) || read_stats(map, "std", nm->std, &nstd, err) ||
        tgc_cfg_bool(map, "to_rgb", 0, &to_rgb, err) || tgc_cfg_bool(map, "bgr_to_rgb", 0, &bgr_to_rgb, err))
        return -1;
    nm->to_rgb = to_rgb || bgr_to_rgb;
    if (nmean != nstd) {
        /* MMPretrain requires both or neither; one without the other is almost surely a typo. */
        const tgc_cfg *c = tgc_cfg_get(map, nmean ? "mean" : "std");
        if (!c || !tgc_cfg_get(map, nmean ? "std" : "mean"))
            return tgc_cfg_fail(err, map, "mean and std must be given together");
        return tgc_cfg_fail(err, c, "mean has %d values but std has %d", nmean, nstd);
    }
    for (int i = 0; i < nstd; i++)
        if (!(nm->std[i] != 0) || !isfinite(nm->std[i]))
            return tgc_cfg_fail(err, tgc_cfg_get(map, "std"), "std values must be finite and non-zero");
    nm->n = nmean;
    return 0;
}

int tgc_normalize_image(const tgc_normalize *nm, const tgc_image *img, float *dst, tgc_err *err) {
    int c = img->c;
    size_t hw = (size_t)img->h * img->w;
    if (nm->n > 1 && nm->n != c)
        return tgc_fail(err, "data_preprocessor: %d mean/std values for a %d-channel image", nm->n, c);
    int flip = nm->to_rgb && c == 3; /* MMPretrain flips only 3-channel inputs */
    for (int k = 0; k < c; k++) {
        int src = flip ? 2 - k : k;
        float mean = nm->n ? nm->mean[nm->n == 1 ? 0 : k] : 0.0f;
        float sd = nm->n ? nm->std[nm->n == 1 ? 0 : k] : 1.0f;
        float *d = dst + (size_t)k * hw;
        const uint8_t *s = img->data + src;
        /* A division, not a multiply by 1/std: bit-identical to PyTorch's (inputs - mean) / std. */
        for (size_t i = 0; i < hw; i++) d[i] = ((float)s[i * c] - mean) / sd;
    }
    return 0;
}
