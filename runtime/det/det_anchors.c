/* runtime/det/det_anchors.c - MMDetection's AnchorGenerator: base anchors per level, the anchors of a whole
 * canvas in the head's output order, and the valid flags of one image's pad_shape. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/det/det.h"

static void set_common(tgc_det_anchor_cfg *c, int first_stride) {
    memset(c, 0, sizeof *c);
    c->num_levels = 5;
    for (int l = 0; l < 5; l++) c->strides[l][0] = c->strides[l][1] = first_stride << l;
    c->num_ratios = 3;
    c->ratios[0] = 0.5f, c->ratios[1] = 1.0f, c->ratios[2] = 2.0f;
    c->scale_major = 1;
}

void tgc_det_anchor_cfg_retinanet(tgc_det_anchor_cfg *c) {
    set_common(c, 8);
    c->octave_base_scale = 4;
    c->scales_per_octave = 3;
}

void tgc_det_anchor_cfg_rpn(tgc_det_anchor_cfg *c) {
    set_common(c, 4);
    c->num_scales = 1;
    c->scales[0] = 8;
}

int tgc_det_anchor_cfg_check(const tgc_det_anchor_cfg *c, tgc_err *err) {
    if (c->num_levels < 1 || c->num_levels > TGC_DET_MAX_LEVELS)
        return tgc_fail(err, "anchor_generator.strides: %d levels (1..%d supported)", c->num_levels,
                        TGC_DET_MAX_LEVELS);
    for (int l = 0; l < c->num_levels; l++)
        if (c->strides[l][0] < 1 || c->strides[l][1] < 1)
            return tgc_fail(err, "anchor_generator.strides[%d]: (%d, %d) is not positive", l, c->strides[l][0],
                            c->strides[l][1]);
    if (c->num_ratios < 1 || c->num_ratios > TGC_DET_MAX_RATIOS)
        return tgc_fail(err, "anchor_generator.ratios: %d ratios (1..%d supported)", c->num_ratios,
                        TGC_DET_MAX_RATIOS);
    for (int i = 0; i < c->num_ratios; i++)
        if (!(c->ratios[i] > 0)) return tgc_fail(err, "anchor_generator.ratios[%d]: %g is not positive", i, c->ratios[i]);
    if (c->num_scales > 0) {
        if (c->num_scales > TGC_DET_MAX_SCALES)
            return tgc_fail(err, "anchor_generator.scales: %d scales (at most %d)", c->num_scales, TGC_DET_MAX_SCALES);
        for (int i = 0; i < c->num_scales; i++)
            if (!(c->scales[i] > 0))
                return tgc_fail(err, "anchor_generator.scales[%d]: %g is not positive", i, c->scales[i]);
    } else {
        if (!(c->octave_base_scale > 0) || c->scales_per_octave < 1 || c->scales_per_octave > TGC_DET_MAX_SCALES)
            return tgc_fail(err, "anchor_generator: needs scales, or octave_base_scale > 0 with scales_per_octave "
                                 "1..%d (got %g, %d)",
                            TGC_DET_MAX_SCALES, c->octave_base_scale, c->scales_per_octave);
    }
    if (c->has_base_sizes)
        for (int l = 0; l < c->num_levels; l++)
            if (!(c->base_sizes[l] > 0))
                return tgc_fail(err, "anchor_generator.base_sizes[%d]: %g is not positive", l, c->base_sizes[l]);
    return 0;
}

/* The scales as float32: MMDetection computes the octave scales in float64 and stores them as float32. */
static int get_scales(const tgc_det_anchor_cfg *c, float *scales) {
    if (c->num_scales > 0) {
        memcpy(scales, c->scales, sizeof(float) * (size_t)c->num_scales);
        return c->num_scales;
    }
    for (int i = 0; i < c->scales_per_octave; i++)
        scales[i] = (float)(pow(2.0, (double)i / c->scales_per_octave) * c->octave_base_scale);
    return c->scales_per_octave;
}

int tgc_det_num_base_anchors(const tgc_det_anchor_cfg *c) {
    return c->num_ratios * (c->num_scales > 0 ? c->num_scales : c->scales_per_octave);
}

void tgc_det_base_anchors(const tgc_det_anchor_cfg *c, int level, float *out) {
    float scales[TGC_DET_MAX_SCALES];
    int ns = get_scales(c, scales), nr = c->num_ratios;
    int sw = c->strides[level][0], sh = c->strides[level][1];
    float base = c->has_base_sizes ? c->base_sizes[level] : (float)(sw < sh ? sw : sh);
    float xc = c->center_offset * base, yc = c->center_offset * base;
    for (int i = 0; i < nr; i++) {
        float hr = sqrtf(c->ratios[i]), wr = 1.0f / hr;
        for (int j = 0; j < ns; j++) {
            int k = c->scale_major ? i * ns + j : j * nr + i;
            float ws = c->scale_major ? base * wr * scales[j] : base * scales[j] * wr;
            float hs = c->scale_major ? base * hr * scales[j] : base * scales[j] * hr;
            out[4 * k + 0] = xc - 0.5f * ws;
            out[4 * k + 1] = yc - 0.5f * hs;
            out[4 * k + 2] = xc + 0.5f * ws;
            out[4 * k + 3] = yc + 0.5f * hs;
        }
    }
}

static int ceil_div(int a, int b) {
    return (a + b - 1) / b;
}

void tgc_det_featmap_sizes(const tgc_det_anchor_cfg *c, int canvas_h, int canvas_w, int feat_hw[][2]) {
    for (int l = 0; l < c->num_levels; l++) {
        feat_hw[l][0] = ceil_div(canvas_h, c->strides[l][1]);
        feat_hw[l][1] = ceil_div(canvas_w, c->strides[l][0]);
    }
}

int64_t tgc_det_anchor_count(const tgc_det_anchor_cfg *c, int canvas_h, int canvas_w) {
    int hw[TGC_DET_MAX_LEVELS][2];
    tgc_det_featmap_sizes(c, canvas_h, canvas_w, hw);
    int64_t n = 0;
    for (int l = 0; l < c->num_levels; l++) n += (int64_t)hw[l][0] * hw[l][1];
    return n * tgc_det_num_base_anchors(c);
}

int tgc_det_anchors_make(const tgc_det_anchor_cfg *c, const int feat_hw[][2], tgc_det_anchors *out, tgc_err *err) {
    memset(out, 0, sizeof *out);
    if (tgc_det_anchor_cfg_check(c, err)) return -1;
    int nb = tgc_det_num_base_anchors(c);
    out->num_levels = c->num_levels;
    out->num_base = nb;
    int64_t n = 0;
    for (int l = 0; l < c->num_levels; l++) {
        if (feat_hw[l][0] < 0 || feat_hw[l][1] < 0)
            return tgc_fail(err, "anchors: level %d size %d x %d is negative", l, feat_hw[l][0], feat_hw[l][1]);
        out->strides[l][0] = c->strides[l][0];
        out->strides[l][1] = c->strides[l][1];
        out->feat_hw[l][0] = feat_hw[l][0];
        out->feat_hw[l][1] = feat_hw[l][1];
        out->level_start[l] = n;
        n += (int64_t)feat_hw[l][0] * feat_hw[l][1] * nb;
    }
    out->level_start[c->num_levels] = n;
    out->count = n;
    out->boxes = tgc_malloc(sizeof(float) * 4 * (size_t)(n > 0 ? n : 1));
    float base[4 * TGC_DET_MAX_RATIOS * TGC_DET_MAX_SCALES];
    for (int l = 0; l < c->num_levels; l++) {
        tgc_det_base_anchors(c, l, base);
        float *o = out->boxes + 4 * out->level_start[l];
        for (int y = 0; y < feat_hw[l][0]; y++) {
            float sy = (float)y * (float)c->strides[l][1];
            for (int x = 0; x < feat_hw[l][1]; x++) {
                float sx = (float)x * (float)c->strides[l][0];
                for (int k = 0; k < nb; k++, o += 4) {
                    o[0] = base[4 * k + 0] + sx;
                    o[1] = base[4 * k + 1] + sy;
                    o[2] = base[4 * k + 2] + sx;
                    o[3] = base[4 * k + 3] + sy;
                }
            }
        }
    }
    return 0;
}

int tgc_det_anchors_for_canvas(const tgc_det_anchor_cfg *c, int canvas_h, int canvas_w, tgc_det_anchors *out,
                               tgc_err *err) {
    memset(out, 0, sizeof *out);
    if (tgc_det_anchor_cfg_check(c, err)) return -1;
    if (canvas_h < 1 || canvas_w < 1) return tgc_fail(err, "anchors: canvas %d x %d is empty", canvas_h, canvas_w);
    int hw[TGC_DET_MAX_LEVELS][2];
    tgc_det_featmap_sizes(c, canvas_h, canvas_w, hw);
    return tgc_det_anchors_make(c, (const int(*)[2])hw, out, err);
}

void tgc_det_anchors_free(tgc_det_anchors *a) {
    free(a->boxes);
    a->boxes = NULL;
    a->count = 0;
}

int64_t tgc_det_valid_flags(const tgc_det_anchors *a, int pad_h, int pad_w, uint8_t *valid) {
    int64_t nvalid = 0;
    for (int l = 0; l < a->num_levels; l++) {
        int fh = a->feat_hw[l][0], fw = a->feat_hw[l][1];
        int vh = ceil_div(pad_h > 0 ? pad_h : 0, a->strides[l][1]);
        int vw = ceil_div(pad_w > 0 ? pad_w : 0, a->strides[l][0]);
        vh = vh < fh ? vh : fh;
        vw = vw < fw ? vw : fw;
        uint8_t *v = valid + a->level_start[l];
        for (int y = 0; y < fh; y++)
            for (int x = 0; x < fw; x++) {
                uint8_t f = y < vh && x < vw;
                memset(v, f, (size_t)a->num_base);
                v += a->num_base;
                nvalid += f ? a->num_base : 0;
            }
    }
    return nvalid;
}
