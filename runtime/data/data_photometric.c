/* runtime/data/data_photometric.c - ColorJitter (as mmcv's Pillow backend computes it) and RandomErasing, as
 * MMPretrain 1.2 defines them (see data_photometric.h). Built with -ffp-contract=off: Pillow's float arithmetic
 * is reproduced operation by operation. */
#include "runtime/data/data_photometric.h"

#include <math.h>
#include <string.h>

enum { BRIGHTNESS, CONTRAST, SATURATION, HUE };

/* ---- Pillow's arithmetic ------------------------------------------------------------------------------ */

/* ImagingBlend(im1, im2, alpha) for one value: in1 + alpha * (in2 - in1) in float, truncated, clipped when
 * alpha is outside [0, 1] (inside, the value cannot leave 0..255). */
static inline uint8_t blend(int in1, int in2, float alpha) {
    float t = (float)in1 + alpha * (float)(in2 - in1);
    if (t <= 0.0f) return 0;
    if (t >= 255.0f) return 255;
    return (uint8_t)t;
}

/* RGB -> L: ITU-R 601-2 luma in 16-bit fixed point, rounded. */
static inline int luma(int r, int g, int b) { return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16; }

static inline int clip8(int v) { return v < 0 ? 0 : v > 255 ? 255 : v; }

static void rgb2hsv(int r, int g, int b, uint8_t hsv[3]) {
    int maxc = TGC_MAX(r, TGC_MAX(g, b)), minc = TGC_MIN(r, TGC_MIN(g, b));
    hsv[2] = (uint8_t)maxc;
    if (maxc == minc) {
        hsv[0] = hsv[1] = 0;
        return;
    }
    float cr = (float)(maxc - minc);
    float s = cr / (float)maxc;
    float rc = (float)(maxc - r) / cr, gc = (float)(maxc - g) / cr, bc = (float)(maxc - b) / cr;
    float h;
    if (r == maxc) h = (float)((double)bc - (double)gc);
    else if (g == maxc) h = (float)(2.0 + (double)rc - (double)bc);
    else h = (float)(4.0 + (double)gc - (double)rc);
    h = (float)fmod((double)h / 6.0 + 1.0, 1.0);
    hsv[0] = (uint8_t)clip8((int)((double)h * 255.0));
    hsv[1] = (uint8_t)clip8((int)((double)s * 255.0));
}

static void hsv2rgb(int h, int s, int v, int rgb[3]) {
    if (s == 0) {
        rgb[0] = rgb[1] = rgb[2] = v;
        return;
    }
    int i = (int)floor((double)h * 6.0 / 255.0);
    float f = (float)((double)h * 6.0 / 255.0 - (double)i);
    float fs = (float)((double)s / 255.0);
    int p = clip8((int)round((double)v * (1.0 - (double)fs)));
    int q = clip8((int)round((double)v * (1.0 - (double)fs * (double)f)));
    int t = clip8((int)round((double)v * (1.0 - (double)fs * (1.0 - (double)f))));
    static const int sel[6][3] = {{0, 3, 1}, {2, 0, 1}, {1, 0, 3}, {1, 2, 0}, {3, 1, 0}, {0, 1, 2}}; /* v p q t */
    int val[4] = {v, p, q, t};
    for (int k = 0; k < 3; k++) rgb[k] = val[sel[i % 6][k]];
}

/* ---- mmcv's adjust_* (pillow backend) on BGR images ---------------------------------------------------- */

void tgc_adjust_brightness(tgc_image *img, double factor) {
    float a = (float)factor;
    size_t n = (size_t)img->h * img->w * img->c;
    for (size_t i = 0; i < n; i++) img->data[i] = blend(0, img->data[i], a);
}

void tgc_adjust_contrast(tgc_image *img, double factor) {
    size_t n = (size_t)img->h * img->w;
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = img->data + 3 * i;
        sum += (uint64_t)luma(p[2], p[1], p[0]);
    }
    int mean = (int)((double)sum / (double)n + 0.5); /* ImageStat's mean of the L image, rounded */
    float a = (float)factor;
    for (size_t i = 0; i < 3 * n; i++) img->data[i] = blend(mean, img->data[i], a);
}

void tgc_adjust_color(tgc_image *img, double factor) {
    float a = (float)factor;
    size_t n = (size_t)img->h * img->w;
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = img->data + 3 * i;
        int l = luma(p[2], p[1], p[0]);
        for (int k = 0; k < 3; k++) p[k] = blend(l, p[k], a);
    }
}

void tgc_adjust_hue(tgc_image *img, double hue_factor) {
    /* numpy's np.uint8(hue_factor * 255): truncated toward zero, then taken modulo 256 */
    int shift = (int)(hue_factor * 255.0) & 255;
    size_t n = (size_t)img->h * img->w;
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = img->data + 3 * i, hsv[3];
        int rgb[3];
        rgb2hsv(p[2], p[1], p[0], hsv);
        hsv2rgb((hsv[0] + shift) & 255, hsv[1], hsv[2], rgb);
        p[0] = (uint8_t)rgb[2];
        p[1] = (uint8_t)rgb[1];
        p[2] = (uint8_t)rgb[0];
    }
}

void tgc_color_jitter_fixed(const tgc_color_jitter *cj, tgc_image *img, const int order[4], const double factors[4]) {
    for (int k = 0; k < 4; k++) {
        int op = order[k];
        if (!cj->on[op]) continue;
        if (op == BRIGHTNESS) tgc_adjust_brightness(img, factors[op]);
        else if (op == CONTRAST) tgc_adjust_contrast(img, factors[op]);
        else if (op == SATURATION) tgc_adjust_color(img, factors[op]);
        else tgc_adjust_hue(img, factors[op]);
    }
}

int tgc_color_jitter_apply(const tgc_color_jitter *cj, tgc_image *img, tgc_rng *rng, tgc_err *err) {
    if (img->c != 3)
        return tgc_fail(err, "ColorJitter needs a 3-channel image, got %d channel%s (LoadImageFromFile's color_type "
                        "grayscale?)", img->c, img->c == 1 ? "" : "s");
    int order[4] = {0, 1, 2, 3};
    for (int i = 3; i > 0; i--) { /* a random permutation, as np.random.permutation(4) */
        int j = (int)tgc_rng_below(rng, (uint32_t)i + 1);
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    double f[4] = {1, 1, 1, 0};
    for (int k = 0; k < 4; k++)
        if (cj->on[k]) f[k] = cj->lo[k] + (cj->hi[k] - cj->lo[k]) * tgc_rng_uniform(rng);
    tgc_color_jitter_fixed(cj, img, order, f);
    return 0;
}

/* ---- RandomErasing ---------------------------------------------------------------------------------------- */

void tgc_erasing_size(int img_h, int img_w, double log_aspect, double area_ratio, int *h, int *w) {
    double aspect = exp(log_aspect);
    double area = (double)img_h * (double)img_w * area_ratio;
    /* int(round(np.sqrt(...))): numpy rounds halves to even, as rint does */
    *h = TGC_MIN((int)rint(sqrt(area * aspect)), img_h);
    *w = TGC_MIN((int)rint(sqrt(area / aspect)), img_w);
}

/* A standard normal draw (Box-Muller). */
static double normal(tgc_rng *rng) {
    double u = tgc_rng_uniform(rng), v = tgc_rng_uniform(rng);
    return sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
}

void tgc_erasing_apply(const tgc_erasing *e, tgc_image *img, tgc_rng *rng) {
    if (tgc_rng_uniform(rng) > e->prob) return; /* np.random.rand() > erase_prob: left as it is */
    double la = e->log_ar_lo + (e->log_ar_hi - e->log_ar_lo) * tgc_rng_uniform(rng);
    double ar = e->min_area + (e->max_area - e->min_area) * tgc_rng_uniform(rng);
    int h, w;
    tgc_erasing_size(img->h, img->w, la, ar, &h, &w);
    /* np.random.randint(0, img_h - h): the last position is never drawn */
    int top = img->h > h ? (int)tgc_rng_below(rng, (uint32_t)(img->h - h)) : 0;
    int left = img->w > w ? (int)tgc_rng_below(rng, (uint32_t)(img->w - w)) : 0;
    int c = img->c;
    for (int y = top; y < top + h; y++) {
        uint8_t *row = img->data + ((size_t)y * img->w + left) * c;
        for (int x = 0; x < w; x++)
            for (int k = 0; k < c; k++) {
                int ch = TGC_MIN(k, 2);
                double v;
                if (!e->rand_mode) v = e->fill[ch];
                else if (!e->has_std) v = floor(256.0 * tgc_rng_uniform(rng)); /* uniform(0, 256) as uint8 */
                else v = trunc(e->fill[ch] + e->std[ch] * normal(rng)); /* astype(int32), then clipped */
                row[(size_t)x * c + k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    }
}

/* ---- parsing ---------------------------------------------------------------------------------------------- */

static int is_num(const tgc_cfg *c) { return c && (c->kind == TGC_CFG_INT || c->kind == TGC_CFG_FLOAT); }
static double num(const tgc_cfg *c) { return c->kind == TGC_CFG_INT ? (double)c->i : c->f; }

/* MMPretrain's ColorJitter._set_range: a number v >= 0 gives (center - v, center + v), a pair is taken as it is;
 * both are clipped to the bound; the neutral range (center, center) turns the operation off. */
static int jitter_range(const tgc_cfg *m, const char *key, double center, double blo, double bhi, tgc_color_jitter *cj,
                        int k, tgc_err *err) {
    const tgc_cfg *c = tgc_cfg_get(m, key);
    double lo = center, hi = center;
    if (c && c->kind != TGC_CFG_NULL) {
        if (is_num(c)) {
            if (num(c) < 0) return tgc_cfg_fail(err, c, "%s must be non-negative when it is one number", key);
            lo = center - num(c), hi = center + num(c);
        } else if ((c->kind == TGC_CFG_LIST || c->kind == TGC_CFG_TUPLE) && c->n == 2 && is_num(c->items[0]) &&
                   is_num(c->items[1])) {
            lo = num(c->items[0]), hi = num(c->items[1]);
            if (lo > hi) return tgc_cfg_fail(err, c, "%s: expected [min, max] with min <= max", key);
        } else {
            return tgc_cfg_fail(err, c, "%s must be a number or a pair [min, max]", key);
        }
        if (!isfinite(lo) || !isfinite(hi)) return tgc_cfg_fail(err, c, "%s must be finite", key);
    }
    lo = lo < blo ? blo : lo > bhi ? bhi : lo;
    hi = hi < blo ? blo : hi > bhi ? bhi : hi;
    cj->on[k] = !(lo == center && hi == center);
    cj->lo[k] = lo;
    cj->hi[k] = hi;
    return 0;
}

int tgc_color_jitter_parse(const tgc_cfg *m, tgc_color_jitter *cj, tgc_err *err) {
    memset(cj, 0, sizeof *cj);
    const char *backend;
    if (tgc_cfg_str(m, "backend", "pillow", &backend, err)) return -1;
    if (strcmp(backend, "pillow"))
        return tgc_cfg_fail(err, tgc_cfg_get(m, "backend"), "ColorJitter's backend '%s' is not implemented (tgc "
                            "computes what the default, 'pillow', gives)", backend);
    static const char *const keys[3] = {"brightness", "contrast", "saturation"};
    for (int k = 0; k < 3; k++)
        if (jitter_range(m, keys[k], 1.0, 0.0, INFINITY, cj, k, err)) return -1;
    return jitter_range(m, "hue", 0.0, -0.5, 0.5, cj, HUE, err);
}

/* A number or a list of 3 numbers (fill_color, fill_std). */
static int three(const tgc_cfg *c, const char *key, double out[3], tgc_err *err) {
    if (is_num(c)) {
        out[0] = out[1] = out[2] = num(c);
        return 0;
    }
    if ((c->kind != TGC_CFG_LIST && c->kind != TGC_CFG_TUPLE) || c->n != 3)
        return tgc_cfg_fail(err, c, "%s must be a number or a list of 3 numbers", key);
    for (int i = 0; i < 3; i++) {
        if (!is_num(c->items[i])) return tgc_cfg_fail(err, c->items[i], "%s: expected a number", key);
        out[i] = num(c->items[i]);
    }
    return 0;
}

int tgc_erasing_parse(const tgc_cfg *m, tgc_erasing *e, tgc_err *err) {
    memset(e, 0, sizeof *e);
    const char *mode;
    if (tgc_cfg_float(m, "erase_prob", 0.5, &e->prob, err) || tgc_cfg_float(m, "min_area_ratio", 0.02, &e->min_area, err) ||
        tgc_cfg_float(m, "max_area_ratio", 0.4, &e->max_area, err) || tgc_cfg_str(m, "mode", "const", &mode, err))
        return -1;
    static const char *const unit[3] = {"erase_prob", "min_area_ratio", "max_area_ratio"};
    const double v[3] = {e->prob, e->min_area, e->max_area};
    for (int i = 0; i < 3; i++)
        if (!(v[i] >= 0 && v[i] <= 1))
            return tgc_cfg_fail(err, tgc_cfg_get(m, unit[i]), "%s must be in [0, 1]", unit[i]);
    if (e->min_area > e->max_area)
        return tgc_cfg_fail(err, tgc_cfg_get(m, "min_area_ratio"), "min_area_ratio must not exceed max_area_ratio");
    if (!strcmp(mode, "rand")) e->rand_mode = 1;
    else if (strcmp(mode, "const"))
        return tgc_cfg_fail(err, tgc_cfg_get(m, "mode"), "mode must be 'const' or 'rand', got '%s'", mode);
    float ar[2] = {3.0f / 10.0f, 10.0f / 3.0f}; /* the (3/10, 10/3) default, as float32 as np.log sees it */
    const tgc_cfg *a = tgc_cfg_get(m, "aspect_range");
    if (a && a->kind != TGC_CFG_NULL) {
        if (is_num(a)) {
            double x = num(a);
            if (!(x > 0)) return tgc_cfg_fail(err, a, "aspect_range must be positive");
            x = x < 1 / x ? x : 1 / x;
            ar[0] = (float)x, ar[1] = (float)(1 / x);
        } else if ((a->kind == TGC_CFG_LIST || a->kind == TGC_CFG_TUPLE) && a->n == 2 && is_num(a->items[0]) &&
                   is_num(a->items[1])) {
            ar[0] = (float)num(a->items[0]), ar[1] = (float)num(a->items[1]);
            if (!(ar[0] > 0 && ar[0] <= ar[1] && isfinite(ar[1])))
                return tgc_cfg_fail(err, a, "aspect_range must be positive with min <= max");
        } else {
            return tgc_cfg_fail(err, a, "aspect_range must be a number or a pair [min, max]");
        }
    }
    e->log_ar_lo = (double)logf(ar[0]);
    e->log_ar_hi = (double)logf(ar[1]);
    double fill[3] = {128, 128, 128};
    const tgc_cfg *fc = tgc_cfg_get(m, "fill_color"), *fs = tgc_cfg_get(m, "fill_std");
    if (fc && fc->kind != TGC_CFG_NULL && three(fc, "fill_color", fill, err)) return -1;
    memcpy(e->fill, fill, sizeof fill);
    if (fs && fs->kind != TGC_CFG_NULL) {
        if (three(fs, "fill_std", e->std, err)) return -1;
        e->has_std = 1;
    }
    return 0;
}
